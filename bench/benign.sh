#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The benign heavy workloads that the destruction defense must not stop: shared by the
# defense bench (bench/defense.sh) and its test (tests/cli/defense_benign.sh).
#   bench/benign.sh list                 the workload names, one a line
#   bench/benign.sh tools NAME           exits 0 if NAME's tools are installed, else prints them
#   bench/benign.sh prep NAME DIR IN     untimed set-up: DIR is the (protected) work directory,
#                                        IN an unprotected one for inputs; both exist, empty
#   bench/benign.sh run NAME DIR IN      the workload itself, checked: exit 0 only when it did
#                                        all its work and the result is right
# Only local inputs (no network). Everything happens inside DIR and IN.
# BENIGN_SCALE=K multiplies the file counts (default 1: a few seconds per workload).
set -euo pipefail
export LC_ALL=C
SCALE=${BENIGN_SCALE:-1}
[[ $SCALE =~ ^[1-9][0-9]*$ ]] || { echo "benign.sh: BENIGN_SCALE must be a positive number" >&2; exit 2; }
WORKLOADS="untar-rm gzip-gunzip git-clone-checkout cp-a-backup editor-save sqlite-bulk 7z-password compile logrotate"

die() { echo "benign.sh: $*" >&2; exit 1; }
# The interpreter itself, once (a version manager's shim costs up to a second per start).
PY=${BENIGN_PY:-$(python3 -c 'import sys; print(sys.executable)')}

# mktree DIR N [SEED]: N files of text (mostly) and binary data in nested directories, as
# in a source tree or a home directory.
mktree() {
	"$PY" - "$1" "$2" "${3:-1}" <<'PY'
import os, random, sys
root, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
words = ("alpha beta gamma delta config value server client request response error "
         "warning info debug user account order invoice total amount date time").split()
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 23), "s%d" % (i % 3))
    os.makedirs(d, exist_ok=True)
    if i % 10 == 9:
        name, data = "blob%05d.bin" % i, r.randbytes(r.randint(512, 16384))
    else:
        lines = (" ".join(r.choice(words) for _ in range(r.randint(4, 14)))
                 for _ in range(r.randint(5, 120)))
        name, data = "file%05d.txt" % i, ("\n".join(lines) + "\n").encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
# As in real trees (packages, projects, home directories): a README in every directory,
# each its own. Copied or unpacked, the same note-like name lands in many directories.
for dp, _, _ in os.walk(root):
    if dp != root:
        with open(os.path.join(dp, "README"), "w") as f:
            f.write("About %s: %s\n" % (os.path.basename(dp), " ".join(r.choice(words) for _ in range(12))))
PY
}

# sums DIR: a sorted list of "sha256  relative path" for every file below DIR.
sums() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

tools() {
	case $1 in
	untar-rm) echo tar ;;
	gzip-gunzip) echo gzip gunzip ;;
	git-clone-checkout) echo git ;;
	cp-a-backup) echo cp diff ;;
	editor-save) echo sed ;;
	sqlite-bulk) echo sqlite3 ;;
	7z-password) echo 7z ;;
	compile) echo cc make ;;
	logrotate) echo gzip ;; # logrotate itself when installed, else the same steps by hand
	*) die "unknown workload '$1' (bench/benign.sh list)" ;;
	esac
}

# The git of the workload must not read the user's or the system's configuration.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
GIT_ID=(-c user.name=bench -c user.email=bench@localhost -c init.defaultBranch=main
	-c advice.detachedHead=false)

prep() {
	local name=$1 D=$2 IN=$3 i
	case $name in
	untar-rm)
		mktree "$IN/src" $((3000 * SCALE)) 11
		tar -cf "$IN/src.tar" -C "$IN" src
		find "$IN/src" -type f | wc -l >"$IN/count"
		rm -rf "$IN/src"
		;;
	gzip-gunzip)
		mktree "$D/logs" $((600 * SCALE)) 12
		sums "$D/logs" >"$IN/sums"
		;;
	git-clone-checkout)
		mktree "$IN/origin" $((400 * SCALE)) 13
		git -C "$IN/origin" "${GIT_ID[@]}" init -q
		git -C "$IN/origin" "${GIT_ID[@]}" add -A
		git -C "$IN/origin" "${GIT_ID[@]}" commit -qm "first"
		git -C "$IN/origin" "${GIT_ID[@]}" checkout -qb topic
		# The topic branch rewrites a third of the files and deletes a tenth.
		"$PY" - "$IN/origin" <<'PY'
import os, sys
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) if ".git" not in d for f in fs)
for i, p in enumerate(files):
    if i % 10 == 5:
        os.unlink(p)
    elif i % 3 == 0:
        with open(p, "ab") as f:
            f.write(b"changed on topic %d\n" % i)
PY
		git -C "$IN/origin" "${GIT_ID[@]}" add -A
		git -C "$IN/origin" "${GIT_ID[@]}" commit -qm "topic"
		git -C "$IN/origin" "${GIT_ID[@]}" checkout -q main
		;;
	cp-a-backup)
		mktree "$D/data" $((800 * SCALE)) 14
		;;
	editor-save)
		mktree "$D/src" $((300 * SCALE)) 15
		sums "$D/src" >"$IN/sums"
		;;
	sqlite-bulk) ;;
	7z-password)
		mktree "$D/folder" $((300 * SCALE)) 16
		;;
	compile)
		mkdir -p "$D/proj/src"
		"$PY" - "$D/proj/src" $((16 * SCALE)) <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    funcs = "\n".join(
        "static int f%d_%d(int x) { int s = 0; for (int k = 0; k < x; k++) s += (k * %d) ^ (s >> 3); return s; }"
        % (i, j, j + i) for j in range(20))
    calls = " + ".join("f%d_%d(n)" % (i, j) for j in range(20))
    with open(os.path.join(root, "m%d.c" % i), "w") as f:
        f.write("#include <stdio.h>\n%s\nint m%d(int n) { return %s; }\n" % (funcs, i, calls))
with open(os.path.join(root, "main.c"), "w") as f:
    f.write("#include <stdio.h>\n")
    f.write("".join("int m%d(int n);\n" % i for i in range(1, n + 1)))
    f.write("int main(void) { long s = 0;\n")
    f.write("".join("s += m%d(3);\n" % i for i in range(1, n + 1)))
    f.write('printf("%ld\\n", s); return 0; }\n')
PY
		cat >"$D/proj/Makefile" <<'MK'
SRC := $(wildcard src/*.c)
OBJ := $(SRC:src/%.c=obj/%.o)
app: $(OBJ)
	$(CC) -o $@ $^
obj/%.o: src/%.c
	@mkdir -p obj
	$(CC) -O1 -c -o $@ $<
clean:
	rm -rf obj app
MK
		;;
	logrotate)
		mkdir -p "$D/log"
		for i in 1 2 3 4; do
			mktree "$IN/old$i" 20 $((30 + i))
			cat "$IN"/old$i/*/*/*.txt | gzip -c >"$D/log/app.log.$i.gz"
			rm -rf "$IN/old$i"
		done
		: >"$D/log/app.log"
		cat >"$IN/logrotate.conf" <<EOF
$D/log/app.log {
    rotate 4
    compress
    missingok
    create
}
EOF
		chmod 0644 "$IN/logrotate.conf"
		;;
	*) die "unknown workload '$name'" ;;
	esac
}

# append_log FILE: a few hundred KB of log lines.
append_log() {
	"$PY" - "$1" <<'PY'
import random, sys, time
r = random.Random()
with open(sys.argv[1], "a") as f:
    for i in range(4000):
        f.write("%s host app[%d]: request %d from 10.0.%d.%d took %d ms status %d\n" % (
            time.strftime("%b %d %H:%M:%S"), r.randint(100, 999), i, r.randint(0, 255),
            r.randint(0, 255), r.randint(1, 900), r.choice((200, 200, 200, 404, 500))))
PY
}

run_workload() {
	local name=$1 D=$2 IN=$3 i n
	case $name in
	untar-rm)
		tar -xf "$IN/src.tar" -C "$D"
		n=$(find "$D/src" -type f | wc -l)
		[ "$n" = "$(cat "$IN/count")" ] || die "untar: $n files, expected $(cat "$IN/count")"
		rm -rf "$D/src"
		[ ! -e "$D/src" ] || die "rm -rf left files"
		;;
	gzip-gunzip)
		gzip -r "$D/logs"
		[ -z "$(find "$D/logs" -type f ! -name '*.gz')" ] || die "gzip -r left files"
		gunzip -r "$D/logs"
		sums "$D/logs" | cmp -s - "$IN/sums" || die "gunzip -r did not restore the files"
		;;
	git-clone-checkout)
		git "${GIT_ID[@]}" clone -q --no-local "$IN/origin" "$D/clone"
		git -C "$D/clone" "${GIT_ID[@]}" checkout -q topic
		git -C "$D/clone" "${GIT_ID[@]}" checkout -q main
		git -C "$D/clone" "${GIT_ID[@]}" checkout -q topic
		[ -z "$(git -C "$D/clone" status --porcelain)" ] || die "git: the work tree is not clean"
		diff -r -x .git -q "$IN/origin" "$D/clone" >/dev/null && die "git: topic should differ from main"
		git -C "$IN/origin" "${GIT_ID[@]}" checkout -q topic
		diff -r -x .git -q "$IN/origin" "$D/clone" >/dev/null || die "git: checkout of topic differs"
		git -C "$IN/origin" "${GIT_ID[@]}" checkout -q main
		;;
	cp-a-backup)
		cp -a "$D/data" "$D/backup"
		# The next night's backup over the last one: every file rewritten (truncated,
		# written again) with the same content.
		cp -a "$D/data/." "$D/backup/"
		diff -r -q "$D/data" "$D/backup" >/dev/null || die "cp -a: backup differs"
		;;
	editor-save)
		# sed -i saves as editors do: a temporary file in the same directory, renamed over
		# the original.
		find "$D/src" -name '*.txt' -print0 | xargs -0 sed -i 's/server/SERVER/g; $a\edited'
		# vim's way (backup by rename, write the new file, remove the backup), and an
		# IDE's (write NAME.tmp, fsync, rename over NAME).
		"$PY" - "$D/src" <<'PY'
import os, sys
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs if f.endswith(".txt"))
for i, p in enumerate(files):
    data = open(p, "rb").read() + b"saved again\n"
    if i % 2:
        os.rename(p, p + "~")
        with open(p, "wb") as f:
            f.write(data)
        os.unlink(p + "~")
    else:
        with open(p + ".tmp", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(p + ".tmp", p)
PY
		n=$(find "$D/src" -name '*.txt' -exec tail -n1 {} + | grep -c '^saved again$')
		[ "$n" = "$(grep -c '\.txt$' "$IN/sums")" ] || die "editor-save: $n files saved"
		! grep -rq server "$D/src" --include='*.txt' || die "sed -i did not save"
		;;
	sqlite-bulk)
		# Bulk inserts in rollback-journal mode (a journal made and deleted per
		# transaction), then in WAL mode, then VACUUM (rewrites the whole database).
		{
			echo "PRAGMA journal_mode=DELETE;"
			echo "CREATE TABLE events(id INTEGER PRIMARY KEY, t TEXT, payload BLOB, note TEXT);"
			for i in $(seq 1 $((20 * SCALE))); do
				echo "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 2000)"
				echo "INSERT INTO events(t, payload, note) SELECT datetime('now'), randomblob(64), 'batch $i row ' || x FROM c; COMMIT;"
			done
			echo "PRAGMA journal_mode=WAL;"
			for i in $(seq 1 $((10 * SCALE))); do
				echo "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 2000)"
				echo "INSERT INTO events(t, payload, note) SELECT datetime('now'), randomblob(64), 'wal $i row ' || x FROM c; COMMIT;"
			done
			echo "DELETE FROM events WHERE id % 3 = 0;"
			echo "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE; VACUUM;"
		} | sqlite3 "$D/app.db" >/dev/null
		n=$(sqlite3 "$D/app.db" "SELECT count(*) FROM events;")
		[ "$n" = $((60000 * SCALE - 20000 * SCALE)) ] || die "sqlite: $n rows"
		;;
	7z-password)
		(cd "$D" && 7z a -bd -pbench-secret -mhe=on folder.7z folder >/dev/null)
		7z t -bd -pbench-secret "$D/folder.7z" >/dev/null || die "7z: the archive does not test"
		;;
	compile)
		# A build, a clean (every object deleted) and a rebuild.
		make -s -C "$D/proj" -j2 >/dev/null
		make -s -C "$D/proj" clean >/dev/null
		make -s -C "$D/proj" -j2 >/dev/null
		"$D/proj/app" >/dev/null || die "compile: the program does not run"
		;;
	logrotate)
		for i in 1 2 3 4 5; do
			append_log "$D/log/app.log"
			if command -v logrotate >/dev/null; then
				logrotate -f -s "$IN/logrotate.state" "$IN/logrotate.conf"
			else
				# logrotate's steps: shift the old ones, drop the oldest, rename the
				# live log, recreate it, compress the rotated copy.
				rm -f "$D/log/app.log.4.gz"
				for n in 3 2 1; do
					if [ -e "$D/log/app.log.$n.gz" ]; then
						mv "$D/log/app.log.$n.gz" "$D/log/app.log.$((n + 1)).gz"
					fi
				done
				mv "$D/log/app.log" "$D/log/app.log.1"
				: >"$D/log/app.log"
				gzip "$D/log/app.log.1"
			fi
		done
		[ "$(ls "$D/log" | tr '\n' ' ')" = "app.log app.log.1.gz app.log.2.gz app.log.3.gz app.log.4.gz " ] ||
			die "logrotate: $(ls "$D/log" | tr '\n' ' ')"
		zcat "$D/log/app.log.1.gz" | grep -q 'request 3999 ' || die "logrotate: the rotated log is not the log"
		;;
	*) die "unknown workload '$name'" ;;
	esac
}

case ${1:-} in
list) printf '%s\n' $WORKLOADS ;;
tools)
	[ $# = 2 ] || die "usage: bench/benign.sh tools NAME"
	missing=""
	for t in $(tools "$2"); do command -v "$t" >/dev/null || missing="$missing $t"; done
	[ -z "$missing" ] || { echo "missing:$missing"; exit 1; }
	;;
prep | run)
	[ $# = 4 ] || die "usage: bench/benign.sh $1 NAME DIR IN"
	tools "$2" >/dev/null
	[ -d "$3" ] && [ -d "$4" ] || die "$3 and $4 must be existing directories"
	if [ "$1" = prep ]; then prep "$2" "$3" "$4"; else run_workload "$2" "$3" "$4"; fi
	;;
*)
	sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
