# The shipped Debian policy (dist/vigil.conf) is quiet on an ordinary system: init, install
# a small package, check — only that package's files appear; after purging it and
# check is clean again. The package is built here and removed afterwards.
. tests/cli/lib.sh
[ "$(id -u)" = 0 ] || skip "needs root to install a package"
command -v dpkg-deb >/dev/null || skip "dpkg-deb missing"
dpkg -s vigil-test-pkg >/dev/null 2>&1 && skip "vigil-test-pkg already installed here"
P=$T/pkg
mkdir -p "$P/DEBIAN" "$P/usr/bin" "$P/etc" "$P/usr/share/doc/vigil-test-pkg"
printf 'Package: vigil-test-pkg\nVersion: 1.0\nArchitecture: all\nMaintainer: vigil tests <root@localhost>\nDescription: throwaway package for the vigil policy test\n' > "$P/DEBIAN/control"
echo /etc/vigil-test-pkg.conf > "$P/DEBIAN/conffiles"
printf '#!/bin/sh\necho hello\n' > "$P/usr/bin/vigil-test-hello"; chmod 755 "$P/usr/bin/vigil-test-hello"
echo "setting = 1" > "$P/etc/vigil-test-pkg.conf"
echo "test" > "$P/usr/share/doc/vigil-test-pkg/copyright"
dpkg-deb --build --root-owner-group "$P" "$T/vigil-test-pkg.deb" >/dev/null || fail "dpkg-deb"
trap 'dpkg --purge vigil-test-pkg >/dev/null 2>&1; rm -rf "$T"' EXIT

V() { "$VIGIL" "$1" --config dist/vigil.conf --db "$T/b.db" --key "$T/k" --no-progress "${@:2}"; }
run V init; expect_rc 0 "init with the default policy"
run V check; expect_rc 0 "nothing changes by itself"
dpkg -i "$T/vigil-test-pkg.deb" >/dev/null 2>&1 || fail "dpkg -i"
run V check --format json; expect_rc 1 "the package's files appear"
python3 - "$T/out" <<'PY' || { cat "$T/out" >&2; fail "only the package's files"; }
import json, sys
paths = {json.loads(l)["path"] for l in open(sys.argv[1])}
want = {"/usr/bin/vigil-test-hello", "/etc/vigil-test-pkg.conf"}
assert want <= paths, ("missing", want - paths)
assert paths == want, ("unexpected", paths - want)
PY
# --verify-packages: dpkg's own MD5 sums catch an edited package file without any
# baseline, and baseline changes name the package that owns them.
echo 'echo owned' >> /usr/bin/vigil-test-hello
run V check --verify-packages --format json; expect_rc 1 "package file edited"
python3 - "$T/out" <<'PY' || { grep vigil-test "$T/out" >&2; fail "--verify-packages output"; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
dp = [r for r in rows if r.get("source") == "dpkg" and r["path"] == "/usr/bin/vigil-test-hello"]
assert dp and dp[0]["package"] == "vigil-test-pkg" and dp[0]["attributes"] == ["hash"], dp
assert dp[0]["old"]["hash"].startswith("md5:") and dp[0]["old"]["hash"] != dp[0]["new"]["hash"]
bl = [r for r in rows if "source" not in r and r["path"] == "/usr/bin/vigil-test-hello"]
assert bl and bl[0]["change"] == "added" and bl[0]["package"] == "vigil-test-pkg", bl
PY
dpkg --purge vigil-test-pkg >/dev/null 2>&1 || fail "dpkg --purge"
# Purged: the files are gone again, and a directory's times alone are not a change.
run V check; expect_rc 0 "clean again after the purge"
exit 0
