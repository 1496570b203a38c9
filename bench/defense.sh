#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The destruction defense of `vigil watch --respond stop`, measured in one run on this
# machine: files lost per attack style (bench/attack.c, real destruction of a generated
# tree), false alarms on the benign heavy workloads (bench/benign.sh) and the slow-down
# protection adds to each of them. Prints a table and writes it to
# bench/results-defense-<date>.txt. Needs root (fanotify). Everything happens in a
# temporary directory under /tmp (or BENCH_WORK), removed at the end.
# Run through `make bench-defense`, or directly: BUILD=build bench/defense.sh
# Environment (optional):
#   BENCH_WORK=DIR          where the work directory is made (default /tmp; must be under
#                           /tmp or /var/tmp)
#   BENCH_RUNS=N            runs per attack style on a fresh tree (5)
#   BENCH_FILES=N           files in each attacked tree (300)
#   BENCH_SLOW_RUNS=N       runs of the slow attack (3)
#   BENCH_SLOW_FILES=N      files in the slow attack's tree, one every 2 s (12)
#   BENCH_BENIGN_RUNS=N     runs per benign workload and condition; median reported (3)
#   BENCH_ONLY=attack|benign  one half only
#   BENCH_MODE=protect|path how the tree is given to vigil watch: --protect DIR (the
#                           defenses alone, default) or as a PATH (integrity alerts for
#                           every change too: what plain `vigil watch DIR` costs)
#   BENCH_RESULTS=FILE      where the table goes (bench/results-defense-<date>.txt)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
. bench/fresh_fs.sh
BUILD=${BUILD:-build}
case $BUILD in
/*) VIGIL=${VIGIL:-$BUILD/vigil} ;;
*) VIGIL=${VIGIL:-$PWD/$BUILD/vigil} ;;
esac
ATTACK=${VIGIL_ATTACK:-$(dirname "$VIGIL")/vigil-attack}
BENIGN=$PWD/bench/benign.sh
RUNS=${BENCH_RUNS:-5}
FILES=${BENCH_FILES:-300}
SLOW_RUNS=${BENCH_SLOW_RUNS:-3}
SLOW_FILES=${BENCH_SLOW_FILES:-12}
SLOW_DELAY_MS=2000
BRUNS=${BENCH_BENIGN_RUNS:-3}
ONLY=${BENCH_ONLY:-}
MODE=${BENCH_MODE:-protect}
RESULTS=${BENCH_RESULTS:-bench/results-defense-$(date -u +%F).txt}
COMMAND="$(env | grep -E '^BENCH_[A-Z_]+=' | sort | tr '\n' ' ')BUILD=$BUILD bench/defense.sh"
export LC_ALL=C
die() { echo "bench: $*" >&2; exit 2; }
note() { echo "bench: $*" >&2; }

[ -x "$VIGIL" ] || die "$VIGIL not found: run make first"
[ -x "$ATTACK" ] || die "$ATTACK not found: make \$(BUILD)/vigil-attack"
VIGIL=$(realpath "$VIGIL") ATTACK=$(realpath "$ATTACK")
[ "$(id -u)" = 0 ] || die "fanotify needs root (CAP_SYS_ADMIN): run as root"
for t in python3 setsid timeout pgrep ps; do
	command -v "$t" >/dev/null || die "$t is missing"
done
for v in RUNS FILES SLOW_RUNS SLOW_FILES BRUNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number, not '${!v}'"
done
case $ONLY in "" | attack | benign) ;; *) die "BENCH_ONLY is attack or benign" ;; esac
case $MODE in protect) PROTECT_ARG=--protect ;; path) PROTECT_ARG=-- ;; *) die "BENCH_MODE is protect or path" ;; esac
export BENIGN_PY
BENIGN_PY=$(python3 -c 'import sys; print(sys.executable)')
PY=$BENIGN_PY
# Attacks and workloads run only in a work directory of ours under a temporary directory.
PARENT=$(realpath -m "${BENCH_WORK:-/tmp}")
case $PARENT/ in
/tmp/* | /var/tmp/*) ;;
*) die "BENCH_WORK=$PARENT is outside /tmp and /var/tmp: refusing to run" ;;
esac
mkdir -p "$PARENT" || die "cannot create $PARENT"
WORK=$(mktemp -d "$PARENT/vigil-bench-defense.XXXXXX") || die "mktemp"

# ---- our daemons and attackers: started here, stopped by pid on every exit path -------

TPID="" VPID="" GROUPS_STARTED=()
stop_daemon() {
	[ -n "$TPID" ] || return 0
	kill -TERM "$TPID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$TPID" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$TPID" 2>/dev/null; then
		[ -n "$VPID" ] && kill -KILL "$VPID" 2>/dev/null
		kill -KILL "$TPID" 2>/dev/null
	fi
	wait "$TPID" 2>/dev/null
	TPID="" VPID=""
}
# The permission floor (FPID): the least a FAN_OPEN_PERM defense costs the work, a reader
# on the fresh file system's mount that answers every open at once without looking.
FPID=""
stop_floor() {
	[ -n "$FPID" ] || return 0
	kill -TERM "$FPID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$FPID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$FPID" 2>/dev/null
	wait "$FPID" 2>/dev/null
	FPID=""
}
start_floor() {
	rm -f "$WORK/floor.out"
	timeout -k 5 900 "$WORK/permfloor" "$1" >"$WORK/floor.out" 2>>"$WORK/floor.err" &
	FPID=$!
	for _ in $(seq 200); do grep -q ready "$WORK/floor.out" 2>/dev/null && return 0; sleep 0.025; done
	die "the permission floor reader did not start: $(cat "$WORK/floor.err")"
}
cleanup() {
	local g
	for g in "${GROUPS_STARTED[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
	stop_daemon
	stop_floor
	fresh_fs_done "$WORK/fs"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STATUS=""
# start_daemon DIR ALERTS: vigil watch --respond stop protecting DIR (BENCH_MODE: with
# --protect, or as a PATH also watched for integrity), under timeout; waits
# for its started alert. Without the raw-device guard (permission marks on every disk of
# the machine, which nothing here touches: on a shared machine it would refuse other
# people's tests their loop devices); the other defenses run as by default, with empty
# registries of our own.
start_daemon() {
	timeout -k 5 900 "$VIGIL" watch --respond stop --no-raw-device-guard --heartbeat 0 --alerts "$2" \
		--canaries "$WORK/canaries.db" --inventory "$WORK/inventory.db" "$PROTECT_ARG" "$1" \
		2>>"$WORK/watch.err" &
	TPID=$!
	for _ in $(seq 400); do
		grep -q '"event":"started"' "$2" 2>/dev/null && break
		kill -0 "$TPID" 2>/dev/null || { tail -5 "$WORK/watch.err" >&2; die "vigil watch did not start"; }
		sleep 0.025
	done
	grep -q '"event":"started"' "$2" 2>/dev/null || die "vigil watch did not start in 10 s"
	VPID=$(pgrep -P "$TPID" | head -1)
	STATUS=$("$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a.get("event") == "started":
        print(a.get("defenses", {}).get("destruction", "?")); break' "$2")
}

# Other `vigil watch` processes (not ours): each one reads every event of the file system.
others() {
	pgrep -f 'vigil watch' | while read -r p; do
		[ "$p" = "$VPID" ] || [ "$p" = "$TPID" ] && continue
		ps -o args= -p "$p" 2>/dev/null | grep -q "^pgrep\|^grep" && continue
		echo "$p"
	done | wc -l
}
OTHERS_MAX=0
sample_others() {
	local n
	n=$(others)
	[ "$n" -gt "$OTHERS_MAX" ] && OTHERS_MAX=$n
}

# state PID: the process state letter, empty when it is gone (or a zombie).
state() {
	local s
	s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ "$s" = Z ] && s=""
	echo "$s"
}

destruction_alerts() {
	grep -c '"kind":"destruction"' "$1" 2>/dev/null || true
}
# Event-queue overflows of our daemons: work they did not see.
OVERFLOWS=0
count_overflows() {
	OVERFLOWS=$((OVERFLOWS + $(grep -c '"event":"overflow"' "$1" 2>/dev/null || true)))
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
fmt2() { if [ "$1" = - ]; then echo -; else printf '%.2f' "$1"; fi; }
maxof() { tr ' ' '\n' | grep . | sort -g | tail -1; }

# ---- attacks ---------------------------------------------------------------------------

# attack_once LABEL STYLE NFILES SEED PROTECT [RUN OPTIONS...]: a fresh tree, the attacker
# under setsid (and vigil when PROTECT=1); waits until it is stopped or done. Sets LOST,
# TOTAL, STOPPED (1/0), ALERTS, SECS (attack start to stop or end).
attack_once() {
	local label=$1 style=$2 n=$3 seed=$4 protect=$5 D A apid t0 t1 limit s out
	shift 5
	D=$WORK/tree-$label-$seed-$protect A=$WORK/alerts-$label-$seed.jsonl
	"$ATTACK" prepare "$D" --files "$n" --seed "$seed" >/dev/null || die "prepare $D"
	[ "$protect" = 1 ] && start_daemon "$D" "$A"
	sample_others
	limit=$((30 + n * ${SLOW_MS:-0} / 1000))
	t0=$EPOCHREALTIME
	setsid "$ATTACK" run "$style" "$D" "$@" >"$WORK/attack.out" 2>"$WORK/attack.err" &
	apid=$!
	GROUPS_STARTED+=("$apid")
	STOPPED=0
	while :; do
		s=$(state "$apid")
		if [ -z "$s" ]; then
			break
		elif [ "$s" = T ]; then
			STOPPED=1
			break
		fi
		if [ "${t0%.*}" -lt $((EPOCHSECONDS - limit)) ]; then
			note "$label: attacker neither stopped nor done after $limit s"
			break
		fi
		sleep 0.01
	done
	t1=$EPOCHREALTIME
	out=$("$ATTACK" count "$D") || die "count $D"
	kill -KILL -- "-$apid" 2>/dev/null
	wait "$apid" 2>/dev/null
	[ "$(head -1 "$WORK/attack.out")" = "$apid" ] || die "$label: the attacker's first line is not its pid"
	LOST=$(echo "$out" | awk '/^lost/ { print $2 }') TOTAL=$(echo "$out" | awk '/^lost/ { print $4 }')
	SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	ALERTS=0
	if [ "$protect" = 1 ]; then
		sleep 0.3 # alerts written after the stop
		stop_daemon
		ALERTS=$(destruction_alerts "$A")
		count_overflows "$A"
	fi
	rm -rf "$D"
}

STYLES="overwrite-random overwrite-zero encrypt-inplace encrypt-rename encrypt-copy-delete truncate delete fork-per-file slow"
ATTACK_ROWS=()
run_attacks() {
	local label style n runs opts r lost stopped alerts secs base
	for label in $STYLES; do
		style=$label n=$FILES runs=$RUNS opts=() SLOW_MS=0
		case $label in
		fork-per-file) style=encrypt-inplace opts=(--fork-per-file) ;;
		slow) style=overwrite-random n=$SLOW_FILES runs=$SLOW_RUNS opts=(--delay-ms "$SLOW_DELAY_MS") SLOW_MS=$SLOW_DELAY_MS ;;
		esac
		# Without vigil, once: shows the simulator really destroys everything.
		if [ "$label" = slow ]; then
			base="-"
		else
			attack_once "$label" "$style" "$n" 999 0 "${opts[@]}"
			base="$LOST/$TOTAL"
		fi
		lost="" stopped=0 alerts=0 secs=""
		for r in $(seq 1 "$runs"); do
			attack_once "$label" "$style" "$n" "$r" 1 "${opts[@]}"
			lost="$lost $LOST" stopped=$((stopped + STOPPED)) alerts=$((alerts + ALERTS)) secs="$secs $SECS"
			note "$label run $r: lost $LOST of $TOTAL, $([ $STOPPED = 1 ] && echo stopped || echo "not stopped") after ${SECS} s, $ALERTS destruction alerts"
		done
		ATTACK_ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s/%s | %s | %s | %s |' "$label" \
			"$( [ "$label" = slow ] && echo "$n, 1 per ${SLOW_DELAY_MS} ms" || echo "$n${opts[*]:+, ${opts[*]}}")" \
			"$(echo "$lost" | median)" "$(echo "$lost" | maxof)" "${lost# }" "$stopped" "$runs" "$alerts" \
			"$(fmt2 "$(echo "$secs" | median)")" "$base")")
	done
}

# ---- benign workloads --------------------------------------------------------------------

# benign_once NAME PROTECT RUN: a fresh prepared workload, timed; with PROTECT=1 under
# vigil, with PROTECT=2 under the permission floor. Sets RESULT ("exit N", "stopped",
# "timeout"), SECS, ALERTS.
benign_once() {
	local name=$1 protect=$2 r=$3 D IN A pid s t0
	D=$FS/b-$name-$protect-$r/p IN=$FS/b-$name-$protect-$r/in A=$WORK/balerts-$name-$r.jsonl
	mkdir -p "$D" "$IN"
	"$BENIGN" prep "$name" "$D" "$IN" >"$WORK/prep.log" 2>&1 || { cat "$WORK/prep.log" >&2; die "prep $name"; }
	sync
	[ "$protect" = 1 ] && start_daemon "$D" "$A"
	[ "$protect" = 2 ] && start_floor "$FS"
	sample_others
	t0=$EPOCHSECONDS
	rm -f "$WORK/time"
	# The workload times itself, so that the polling below adds nothing.
	setsid bash -c 's=$EPOCHREALTIME; "$0" run "$1" "$2" "$3"; rc=$?; echo "$s $EPOCHREALTIME" >"$4"; exit $rc' \
		"$BENIGN" "$name" "$D" "$IN" "$WORK/time" >"$WORK/benign.log" 2>&1 &
	pid=$!
	GROUPS_STARTED+=("$pid")
	RESULT=""
	while :; do
		s=$(state "$pid")
		if [ -z "$s" ]; then
			wait "$pid"
			RESULT="exit $?"
			break
		elif ps -e -o sid=,stat= | awk -v s="$pid" '$1 == s && $2 ~ /^T/ { f = 1 } END { exit !f }'; then
			RESULT=stopped
			break
		elif [ "$EPOCHSECONDS" -gt $((t0 + 300)) ]; then
			RESULT=timeout
			break
		fi
		sleep 0.05
	done
	if [ "$RESULT" != "exit 0" ]; then
		kill -KILL -- "-$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		note "$name: $RESULT"
		tail -3 "$WORK/benign.log" >&2
		SECS=""
	else
		SECS=$(awk '{ printf "%.3f", $2 - $1 }' "$WORK/time")
	fi
	ALERTS=0
	stop_floor
	if [ "$protect" = 1 ]; then
		sleep 0.5
		stop_daemon
		ALERTS=$(destruction_alerts "$A")
		count_overflows "$A"
	fi
	rm -rf "$FS/b-$name-$protect-$r"
}

BENIGN_ROWS=()
SLOWDOWNS=()
run_benign() {
	local name r c t_off t_on t_fl fa stops med_off med_on min_off min_on conds
	for name in $("$BENIGN" list); do
		if ! why=$("$BENIGN" tools "$name"); then
			BENIGN_ROWS+=("| $name | skipped: $why | | | | | | |")
			continue
		fi
		t_off="" t_on="" t_fl="" fa=0 stops=0
		for r in $(seq 1 "$BRUNS"); do
			# Rotate which condition goes first, so drift in the machine's load falls
			# on each. The floor only on a file system of our own: its mount mark
			# would hold every open of the machine's root file system.
			if [ "$FLOOR" = 1 ]; then
				conds=$(echo "0 1 2 0 1" | cut -d' ' -f$((r % 3 + 1))-$((r % 3 + 3)))
			else
				conds=$([ $((r % 2)) = 1 ] && echo "0 1" || echo "1 0")
			fi
			for c in $conds; do
				benign_once "$name" "$c" "$r"
				if [ "$c" = 2 ]; then
					t_fl="$t_fl $SECS"
					[ "$RESULT" = "exit 0" ] || die "$name fails under the permission floor: $RESULT"
				elif [ "$c" = 1 ]; then
					t_on="$t_on $SECS" fa=$((fa + ALERTS))
					[ "$RESULT" = "exit 0" ] || stops=$((stops + 1))
				else
					t_off="$t_off $SECS"
					[ "$RESULT" = "exit 0" ] || die "$name fails without vigil: $RESULT"
				fi
				note "$name run $r $(case $c in 1) echo "under vigil" ;; 2) echo "under the permission floor" ;; *) echo alone ;; esac): $RESULT ${SECS:+in $SECS s} $([ "$c" = 1 ] && echo "($ALERTS destruction alerts)")"
			done
		done
		med_off=$(echo "$t_off" | median) med_on=$(echo "$t_on" | median)
		min_off=$(echo "$t_off" | tr ' ' '\n' | grep . | sort -g | head -1)
		min_on=$(echo "$t_on" | tr ' ' '\n' | grep . | sort -g | head -1)
		local slow="-" slowmin="-" floor="-"
		if [ -n "$t_fl" ]; then
			floor=$(awk -v a="$med_off" -v b="$(echo "$t_fl" | median)" 'BEGIN { printf "%+.1f %%", (b / a - 1) * 100 }')
		fi
		if [ "$med_on" != "-" ]; then
			slow=$(awk -v a="$med_off" -v b="$med_on" 'BEGIN { printf "%+.1f %%", (b / a - 1) * 100 }')
			slowmin=$(awk -v a="$min_off" -v b="$min_on" 'BEGIN { printf "%+.1f %%", (b / a - 1) * 100 }')
			SLOWDOWNS+=("$(awk -v a="$med_off" -v b="$med_on" 'BEGIN { print (b / a - 1) * 100 }')")
		fi
		BENIGN_ROWS+=("$(printf '| %s | %s | %s of %s | %s | %s | %s | %s | %s |' "$name" "$fa" "$stops" "$BRUNS" \
			"$(fmt2 "$med_off")" "$(fmt2 "$med_on")" "$slow" "$slowmin" "$floor")")
	done
}

# ---- the run --------------------------------------------------------------------------------

START=$(date -u '+%F %H:%M')
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$SECONDS
note "work directory $WORK; vigil $("$VIGIL" --version 2>/dev/null | head -1)"
[ "$ONLY" != benign ] && run_attacks
# The benign workloads run on a fresh ext4 of their own (bench/fresh_fs.sh says why).
FS=$WORK/fs FS_HOW="" FLOOR=0
if [ "$ONLY" != attack ]; then
	if fresh_fs "$FS" "$WORK/fs.img"; then
		FLOOR=1
		cat >"$WORK/permfloor.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/fanotify.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void term(int sig) { (void)sig; stop = 1; }

/* permfloor MOUNT: answers every open on MOUNT with FAN_ALLOW at once, until SIGTERM. */
int main(int argc, char **argv)
{
	static char buf[65536] __attribute__((aligned(8)));
	struct sigaction sa = {.sa_handler = term}; /* no SA_RESTART: read() returns */
	int fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE | O_CLOEXEC);

	sigaction(SIGTERM, &sa, NULL);
	if (argc != 2 || fd < 0 ||
	    fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_PERM, AT_FDCWD, argv[1]) != 0) {
		perror("permfloor");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		ssize_t n = read(fd, buf, sizeof(buf));

		for (char *q = buf; n > 0 && q + sizeof(struct fanotify_event_metadata) <= buf + n;) {
			struct fanotify_event_metadata *m = (void *)q;
			struct fanotify_response r = {.fd = m->fd, .response = FAN_ALLOW};

			if (m->event_len < sizeof(*m))
				break;
			(void)!write(fd, &r, sizeof(r));
			if (m->fd >= 0)
				close(m->fd);
			q += m->event_len;
		}
	}
	return 0;
}
EOF
		cc -std=c11 -O2 -Wall -o "$WORK/permfloor" "$WORK/permfloor.c" || die "cannot compile the permission floor"
	else
		note "WARNING: benign workloads run on $FS_HOW"
	fi
	run_benign
fi

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T0))
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain 2>/dev/null | grep -qv '^??' && echo " + uncommitted changes" || true)

{
	echo "# vigil destruction defense: $START UTC, $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
	echo
	echo "Command: \`$COMMAND\`"
	echo "vigil: $("$VIGIL" --version 2>/dev/null | head -1), commit $COMMIT$DIRTY; tree given as: $([ "$MODE" = protect ] && echo "--protect DIR" || echo "a PATH (integrity alerts too)"); destruction defense: \"$STATUS\""
	echo "Machine: $(nproc) CPUs, kernel $(uname -r); load average at start $LOAD0, at end $LOAD1;"
	echo "other vigil watch processes seen at once (max): $OTHERS_MAX; event-queue overflows of ours: $OVERFLOWS"
	if [ "$ONLY" != benign ]; then
		echo
		echo "## Files lost per attack style (vigil watch --respond stop, fresh tree per run)"
		echo
		echo "| style | files | lost: median | worst | each run | stopped | destruction alerts | s to stop/end (median) | lost without vigil |"
		echo "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | --- |"
		printf '%s\n' "${ATTACK_ROWS[@]}"
		echo
		echo "Goal: median <= 3, worst <= 10 files lost in every style."
	fi
	if [ "$ONLY" != attack ]; then
		echo
		echo "## Benign workloads: false alarms and slow-down ($BRUNS runs each, alone and under vigil, alternated)"
		echo
		echo "Each in a directory of its own on $FS_HOW."
		echo
		echo "| workload | destruction alerts | runs stopped or failed | s alone (median) | s under vigil (median) | slow-down (medians) | slow-down (fastest runs) | permission floor (medians) |"
		echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
		printf '%s\n' "${BENIGN_ROWS[@]}"
		echo
		echo "Goal: no false alarm; slow-down <= 10 %."
		echo "Permission floor: a reader with a FAN_OPEN_PERM mount mark on that file system that answers"
		echo "every open at once without looking at it, the least any permission-event defense costs the"
		echo "work ('-': not measured, the workloads did not run on a file system of their own)."
	fi
} | tee "$RESULTS"
note "written to $RESULTS"
