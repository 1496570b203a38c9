# SPDX-License-Identifier: Apache-2.0
# No false alarms from the destruction defense: ordinary heavy work inside a protected
# directory under `vigil watch --respond stop` (untar + rm -rf of thousands of files,
# gzip -r + gunzip -r, git clone + checkout, cp -a backups, editors' atomic saves, SQLite
# bulk inserts, 7z a -p, compiling, log rotation with compression; bench/benign.sh) must
# finish with exit 0, never be stopped, and raise no "destruction" alert.
if [ -z "${VIGIL:-}" ] && [ -n "${BUILD:-}" ]; then
	case $BUILD in /*) VIGIL=$BUILD/vigil ;; *) VIGIL=$PWD/$BUILD/vigil ;; esac
fi
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
BENIGN=${VIGIL_BENIGN:-$PWD/bench/benign.sh}
export BENIGN_PY=$PY
P=$T/protected
mkdir -p "$P" "$T/in"

TPID="" VPID="" PGIDS=()
# Never leave a daemon or a (stopped) workload behind: only our own, by pid.
cleanup() {
	local p
	for p in "${PGIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
	if [ -n "$TPID" ]; then
		kill -TERM "$TPID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$TPID" 2>/dev/null || break; sleep 0.1; done
		[ -n "$VPID" ] && kill -KILL "$VPID" 2>/dev/null
		kill -KILL "$TPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# The workloads whose tools are here; their inputs are made before the daemon starts.
names=()
for n in $("$BENIGN" list); do
	if ! why=$("$BENIGN" tools "$n"); then
		echo "SKIP workload $n: $why"
		continue
	fi
	mkdir "$P/$n" "$T/in/$n"
	"$BENIGN" prep "$n" "$P/$n" "$T/in/$n" >"$T/prep-$n.log" 2>&1 || { cat "$T/prep-$n.log" >&2; fail "prep $n"; }
	names+=("$n")
done
[ ${#names[@]} -gt 0 ] || skip "no workload has its tools"

# The daemon, under timeout; the registries of the other defenses are this test's own,
# and the raw-device guard (permission marks on every disk of the machine) is left to its
# own tests. On SIGTERM it delivers what it has read before it exits: under ASan on a
# loaded machine that backlog takes seconds, hence the minute before timeout kills it.
timeout -k 60 600 "$VIGIL" watch --alerts "$WA" --heartbeat 0 --respond stop --no-raw-device-guard \
	--canaries "$T/canaries.db" --inventory "$T/inventory.db" "$P" 2>>"$T/watch.err" &
TPID=$!
wait_alert 'a["kind"] == "agent" and a["event"] == "started"' 60 >"$T/started" ||
	{ cat "$T/watch.err" >&2; fail "no started alert"; }
VPID=$(pgrep -P "$TPID" | head -1)
status=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["defenses"]["destruction"])' "$T/started" 2>/dev/null) ||
	fail "the started alert has no defenses.destruction status"
case $status in
off*)
	[ "${DEFENSE_TEST_FORCE:-0}" = 1 ] || skip "the destruction defense is off ($status)"
	echo "NOTE: the destruction defense is off ($status): DEFENSE_TEST_FORCE=1 runs anyway"
	;;
esac

# Whether any process of session SID is stopped (state T): vigil stops the process group.
is_stopped() {
	ps -e -o sid=,stat= | awk -v s="$1" '$1 == s && $2 ~ /^T/ { f = 1 } END { exit !f }'
}

# run_guarded NAME: runs the workload in a session of its own (so vigil's stop reaches
# only it, and we can kill only it); sets $result to "exit N", "stopped" or "timeout".
run_guarded() {
	local n=$1 pid state end=$((SECONDS + 120))
	setsid "$BENIGN" run "$n" "$P/$n" "$T/in/$n" >"$T/run-$n.log" 2>&1 &
	pid=$!
	PGIDS+=("$pid")
	while :; do
		state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
		if [ -z "$state" ] || [ "$state" = Z ]; then
			wait "$pid"
			result="exit $?"
			return
		fi
		if is_stopped "$pid"; then
			result=stopped
			break
		fi
		if [ $SECONDS -ge $end ]; then
			result=timeout
			break
		fi
		sleep 0.05
	done
	kill -KILL -- "-$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

destruction_alerts() {
	count_alerts 'a["kind"] == "destruction"'
}

bad=()
for n in "${names[@]}"; do
	before=$(destruction_alerts)
	t0=$SECONDS
	run_guarded "$n"
	# A marker file after the workload: once its alert is out, the daemon has read every
	# event of the workload.
	echo "$n" >"$P/.done-$n"
	wait_alert "a.get('path') == '$P/.done-$n'" 20 >/dev/null || fail "the daemon fell behind after $n"
	sleep 0.2
	after=$(destruction_alerts)
	# The daemon saw the work (else "no alert" would prove nothing).
	seen=$(count_alerts "a.get('path', '').startswith('$P/$n/')")
	echo "$n: $result in $((SECONDS - t0)) s, $((after - before)) destruction alerts, $seen alerts on its files"
	[ "$seen" -gt 0 ] || fail "$n: the daemon reported nothing of the workload"
	if [ "$result" != "exit 0" ] || [ "$after" != "$before" ]; then
		bad+=("$n ($result, $((after - before)) destruction alerts)")
		tail -5 "$T/run-$n.log" | sed 's/^/    /'
	fi
done
if [ "$(destruction_alerts)" != 0 ]; then
	echo "destruction alerts:"
	"$PY" - "$WA" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a["kind"] == "destruction":
        p = a.get("process", {})
        print("   ", a.get("action"), p.get("pid"), p.get("exe"), (p.get("cmdline") or "")[:100], "-", a.get("reason", "")[:200])
PY
fi
[ ${#bad[@]} -eq 0 ] || fail "false alarms or failed workloads: ${bad[*]}"
# An overflowed event queue means the daemon did not see all the work: say so.
overflows=$(count_alerts 'a["kind"] == "agent" and a.get("event") == "overflow"')
[ "$overflows" = 0 ] || echo "NOTE: $overflows event-queue overflows: part of the work went unseen"

t0=$EPOCHREALTIME
kill -TERM "$TPID"
wait "$TPID"
rc=$?
echo "stopped in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s after SIGTERM"
TPID=""
[ "$rc" -eq 0 ] || { cat "$T/watch.err" >&2; fail "watch exited $rc after SIGTERM"; }
! grep -qE "runtime error|Sanitizer" "$T/watch.err" || { cat "$T/watch.err" >&2; fail "sanitizer report"; }
exit 0
