#!/bin/sh
# Installs the Debian packages a make target needs, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command and stops.
set -eu
what=${1:-build}
build="gcc make pkg-config libvectorscan-dev libarchive-dev libssl-dev libsqlite3-dev libinih-dev liburing-dev libcmocka-dev"
test="$build python3 openssl rsyslog rsyslog-openssl openssh-client putty-tools zip unzip p7zip-full cpio xorriso genisoimage zstd lz4 xz-utils bzip2 gzip time git sqlite3 logrotate"
bench="$test ripgrep yara clamav aide time hyperfine"
case $what in
  build) want=$build ;;
  test) want=$test ;;
  bench) want=$bench ;;
  *) echo "deps.sh: unknown set '$what' (build, test, bench)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "vigil needs these Debian packages:$missing" >&2
  echo "Install them with:  sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
