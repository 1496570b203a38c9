#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# vigil init/check against AIDE on the same tree, side by side in one run, warm cache,
# equivalent attributes (AIDE p+i+n+u+g+s+m+c+sha256, num_workers = 2; vigil the same
# attribute list with --jobs 2), plus the hashing floor and peak RSS on a generated tree of
# one million entries. Prints a table and writes it to bench/results-integrity-<date>.txt.
# Run through `make bench-integrity`, or directly: BUILD=build bench/integrity.sh
# Environment (optional):
#   BENCH_TREE=DIR     the tree (default /usr/share)
#   BENCH_RUNS=N       timed runs after a warm-up; the median is reported (default 3)
#   BENCH_MILLION=0    skip the one-million-entry memory run
#   BENCH_RESULTS=FILE where the table goes (bench/results-integrity-<date>.txt)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
VIGIL=${VIGIL:-$PWD/$BUILD/vigil}
TREE=${BENCH_TREE:-/usr/share}
RUNS=${BENCH_RUNS:-3}
MILLION=${BENCH_MILLION:-1}
JOBS=2
RESULTS=${BENCH_RESULTS:-bench/results-integrity-$(date -u +%F).txt}
export LC_ALL=C
die() { echo "bench: $*" >&2; exit 2; }
note() { echo "bench: $*" >&2; }
[ -x "$VIGIL" ] || die "$VIGIL not found: run make first"
for t in aide /usr/bin/time openssl python3; do
	command -v "$t" >/dev/null || die "$t is missing: run 'scripts/deps.sh bench' as root"
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench-integrity.XXXXXX") || die "mktemp"
trap 'rm -rf "$WORK"' EXIT
ATTRS=type,mode,inode,nlink,uid,gid,size,mtime,ctime,hash

cat >"$WORK/aide.conf" <<CONF
database_in=file:$WORK/aide.db
database_out=file:$WORK/aide.db.new
gzip_dbout=no
num_workers=$JOBS
report_url=file:$WORK/aide.report
Bench = p+i+n+u+g+s+m+c+sha256
$TREE Bench
CONF

# timed LABEL CMD...: runs CMD, appends "LABEL seconds maxrss_kb exit" to $WORK/times.
timed() {
	local label=$1; shift
	/usr/bin/time -f "%e %M" -o "$WORK/t" "$@" >"$WORK/last.out" 2>"$WORK/last.err"
	local rc=$?
	echo "$label $(cat "$WORK/t" | tail -1) $rc" >>"$WORK/times"
}
median() { grep "^$1 " "$WORK/times" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rss() { grep "^$1 " "$WORK/times" | awk '{print $3}' | sort -n | tail -1; }
: >"$WORK/times"

# The floor of any content check, as a program: walk the tree (nftw, no symlinks
# followed), then JOBS threads open, read and SHA-256 every regular file and close it.
# No metadata beyond the walk's, no database: what vigil check cannot go below.
cat >"$WORK/hashfloor.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

static char **paths;
static size_t npaths, cap;
static atomic_size_t next;
static atomic_ullong hashed;
static EVP_MD *sha256; /* fetched once: EVP_sha256() per file takes a lock */

static int add(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	if (npaths == cap && (paths = realloc(paths, (cap = cap ? 2 * cap : 65536) * sizeof(*paths))) == NULL)
		abort();
	if ((paths[npaths++] = strdup(p)) == NULL)
		abort();
	return 0;
}

static void *worker(void *arg)
{
	static _Thread_local unsigned char buf[65536];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	size_t i;

	(void)arg;
	while ((i = atomic_fetch_add(&next, 1)) < npaths) {
		int fd = open(paths[i], O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
		ssize_t n;

		if (fd < 0)
			continue;
		EVP_DigestInit_ex(ctx, sha256, NULL);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			EVP_DigestUpdate(ctx, buf, (size_t)n);
		EVP_DigestFinal_ex(ctx, md, NULL);
		close(fd);
		atomic_fetch_add(&hashed, 1);
	}
	EVP_MD_CTX_free(ctx);
	return NULL;
}

int main(int argc, char **argv)
{
	int jobs = argc == 3 ? atoi(argv[2]) : 0;
	pthread_t t[64];

	if ((sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		return 2;
	if (jobs < 1 || jobs > 64 || nftw(argv[1], add, 64, FTW_PHYS) != 0)
		return 2;
	for (int k = 0; k < jobs; k++)
		pthread_create(&t[k], NULL, worker, NULL);
	for (int k = 0; k < jobs; k++)
		pthread_join(t[k], NULL);
	printf("%llu files hashed\n", (unsigned long long)hashed);
	return 0;
}
EOF
cc -std=c11 -O2 -Wall -pthread -o "$WORK/hashfloor" "$WORK/hashfloor.c" -lcrypto ||
	die "cannot compile the read-and-hash floor"

V="$VIGIL"
# Arrays, not functions: /usr/bin/time runs programs.
VI=("$V" init --db "$WORK/v.db" --key "$WORK/k" --attrs $ATTRS --jobs $JOBS --no-progress -q)
VC=("$V" check --db "$WORK/v.db" --key "$WORK/k" --jobs $JOBS --no-progress -q)
note "warm-up (reads $TREE into the page cache)"
"${VI[@]}" "$TREE" || die "vigil init failed"
aide --init -c "$WORK/aide.conf" >/dev/null 2>&1; mv "$WORK/aide.db.new" "$WORK/aide.db"
for i in $(seq 1 "$RUNS"); do
	note "run $i/$RUNS"
	timed aide_init aide --init -c "$WORK/aide.conf"
	mv "$WORK/aide.db.new" "$WORK/aide.db"
	timed aide_check aide --check -c "$WORK/aide.conf"
	timed vigil_init "${VI[@]}" "$TREE"
	timed vigil_check "${VC[@]}"
	timed vigil_quick "${VC[@]}" --quick
	timed hash_floor "$WORK/hashfloor" "$TREE" "$JOBS"
done
# Every timed run must have done its job: init 0; check 0 (nothing changed in between).
bad=$(awk '$1 !~ /^aide/ && $4 != 0' "$WORK/times")
[ -z "$bad" ] || die "a vigil run failed: $bad"
# AIDE's check exits 0 when nothing changed.
bad=$(awk '$1 == "aide_check" && $4 != 0 || $1 == "aide_init" && $4 != 0' "$WORK/times")
[ -z "$bad" ] || note "warning: an AIDE run exited non-zero: $bad"

# What the tree holds, as vigil counted it.
"$V" init --db "$WORK/v.db" --key "$WORK/k" --attrs $ATTRS --jobs $JOBS --no-progress "$TREE" >"$WORK/summary" 2>/dev/null
entries=$(awk '/entries recorded/ {print $3}' "$WORK/summary")
bytes=$(python3 - "$TREE" <<'PY'
import os, sys, stat
t = 0
for root, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        try:
            st = os.lstat(os.path.join(root, f))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            t += st.st_size
print(t)
PY
)
# The hashing floor: SHA-256 throughput of one core (OpenSSL EVP, 64 KiB blocks) x cores.
sha_kbs=$(openssl speed -evp sha256 -bytes 65536 -seconds 2 2>/dev/null | awk '/^sha256/ {v=$NF} END {sub("k","",v); print v}')
floor=$(python3 -c "print(f'{$bytes / ($sha_kbs * 1000 * $JOBS):.2f}')")

if [ "$MILLION" = 1 ]; then
	note "generating a tree of one million entries"
	python3 - "$WORK/million" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(1000):
    p = os.path.join(root, f"d{d:03d}")
    os.makedirs(p)
    for f in range(999):
        with open(os.path.join(p, f"f{f:03d}"), "w") as fh:
            fh.write(str(f))
PY
	timed million_init "$V" init --db "$WORK/m.db" --key "$WORK/k" --jobs $JOBS --no-progress -q "$WORK/million"
	timed million_check "$V" check --db "$WORK/m.db" --key "$WORK/k" --jobs $JOBS --no-progress -q
fi

row() { # label aide vigil target
	python3 - "$@" <<'PY'
import sys
label, a, v, target = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
if v <= 0:
    sys.exit(f"bench: {label}: vigil took {v} s: the run did not happen")
ratio = a / v
print(f"{label:<24} {a:>8.2f} s {v:>8.2f} s {ratio:>7.1f}x  (target >= {target:.0f}x: {'met' if ratio >= target else 'MISSED'})")
PY
}
{
	echo "vigil $($V --version | awk '{print $2}') vs $(aide --version 2>&1 | head -1) on $TREE, $(nproc) cores, $(date -u +%FT%TZ)"
	echo "tree: $entries entries, $bytes bytes in regular files; median of $RUNS runs, warm cache, $JOBS jobs"
	echo "attributes: AIDE p+i+n+u+g+s+m+c+sha256; vigil --attrs $ATTRS"
	echo
	echo "                             AIDE      vigil   speed-up"
	row "init" "$(median aide_init)" "$(median vigil_init)" 10
	row "check" "$(median aide_check)" "$(median vigil_check)" 20
	row "check --quick (vigil)" "$(median aide_check)" "$(median vigil_quick)" 20
	echo
	for k in vigil_init vigil_check; do
		python3 -c "t=$(median $k); print(f'$k: {$entries/t:,.0f} files/s, {$bytes/t/1e9:.2f} GB/s')"
	done
	echo "hashing floor: openssl speed -evp sha256 = $sha_kbs kB/s per core; $bytes bytes / ($JOBS cores) = $floor s"
	python3 -c "h=$(median hash_floor); c=$(median vigil_check); i=$(median vigil_init); f=$floor; print(f'read-and-hash floor (walk, then $JOBS threads open, read, SHA-256, close each file; no metadata, no database): {h:.2f} s = {h/f:.1f}x the hashing floor; vigil check {c/h:.2f}x it, init {i/h:.2f}x it, check {c/f:.1f}x the hashing floor')"
	echo "peak RSS: aide init $(rss aide_init) kB, aide check $(rss aide_check) kB, vigil init $(rss vigil_init) kB, vigil check $(rss vigil_check) kB"
	if [ "$MILLION" = 1 ]; then
		echo "one million entries (1,000 dirs x 999 files): init $(median million_init) s, $(rss million_init) kB peak RSS; check $(median million_check) s, $(rss million_check) kB peak RSS (target <= 102400 kB)"
	fi
	echo
	echo "command: BENCH_RUNS=$RUNS BENCH_TREE=$TREE make bench-integrity"
} | tee "$RESULTS"
