# SPDX-License-Identifier: Apache-2.0
# The destruction defense end to end: vigil watch --respond stop on a tree of real files
# stops each attack style of vigil-attack (overwrite with random data or zeros, encrypt in
# place, encrypt and rename, encrypted copy then delete, truncate, delete; one forking a
# child per file) after a few files, with a destruction alert naming it; vigil release
# continues it, vigil kill ends it; --respond alert only alerts; a program on the
# allowlist (pinned by digest) is left alone.
if [ -z "${VIGIL:-}" ] && [ -n "${BUILD:-}" ]; then
	case $BUILD in /*) VIGIL=$BUILD/vigil ;; *) VIGIL=$PWD/$BUILD/vigil ;; esac
fi
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
ATTACK=$(dirname "$VIGIL")/vigil-attack
[ -x "$ATTACK" ] || skip "no vigil-attack next to $VIGIL (make \$BUILD/vigil-attack)"
# vigil release leaves its word for the daemon here, not in /run/vigil.
export VIGIL_RUNTIME_DIR=$T/run
P=$T/protected
mkdir -p "$P" "$T/bin"
MAX_LOST=10

PGIDS=() DPIDS=()
cleanup() {
	local p
	for p in "${PGIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
	for p in "${DPIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# CLI errors first: nothing to signal.
run "$VIGIL" release 1; expect_rc 2 "release 1"; expect_err 'refusing pid 1' "says why"
run "$VIGIL" kill 0; expect_rc 2 "kill 0"
run "$VIGIL" kill -- -5; expect_rc 2 "negative pid"
run "$VIGIL" release lots; expect_rc 2 "not a pid"; expect_err 'not a process id' "says why"
run "$VIGIL" release 2147483646; expect_rc 2 "no such process"; expect_err 'no process' "says why"
run "$VIGIL" kill; expect_rc 2 "no pid"; expect_err '^usage: vigil kill' "usage"
run "$VIGIL" release --help; expect_rc 0 "help"; expect_out '^usage: vigil release' "usage"

STYLES="overwrite-random overwrite-zero encrypt-inplace encrypt-rename encrypt-copy-delete truncate delete"
for s in $STYLES delete-fork alert-mode kill-mode allowed; do
	"$ATTACK" prepare "$P/$s" --files 120 --seed 7 >/dev/null || fail "prepare $s"
done
# A copy of the attacker, trusted by digest in a config (the allowlist replaces the
# built-in one), and the baseline a config needs.
cp "$ATTACK" "$T/bin/trusted-attack"
mkdir -p "$T/tiny" && echo x >"$T/tiny/f"
cat >"$T/vigil.conf" <<EOF
[path $T/tiny]
[watch]
allow = $T/bin/trusted-attack@sha256:$(sha256sum "$T/bin/trusted-attack" | cut -d' ' -f1)
EOF
run "$VIGIL" init --config "$T/vigil.conf" --db "$T/base.db" --key "$T/key" --no-progress
expect_rc 0 "init of the config's baseline"

# state PID: the process state letter (T stopped), empty when gone.
state() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }

# attack STYLE DIR [ARGS]: starts vigil-attack in a session of its own; sets $APID.
attack() {
	local style=$1 dir=$2
	shift 2
	rm -f "$T/apid"
	setsid "$ATTACK" run "$style" "$dir" --pidfile "$T/apid" "$@" >"$T/attack.out" 2>&1 &
	AJOB=$!
	disown "$AJOB" # killed on purpose: no "Killed" notice from the shell
	for _ in $(seq 200); do [ -s "$T/apid" ] && break; sleep 0.02; done
	APID=$(cat "$T/apid" 2>/dev/null) || fail "$style: no pid from vigil-attack"
	PGIDS+=("$APID")
}

# wait_stopped PID: up to 15 s for state T; fails if it ends first.
wait_stopped() {
	local st
	for _ in $(seq 300); do
		st=$(state "$1")
		[ "$st" = T ] && return 0
		[ -z "$st" ] || [ "$st" = Z ] && return 1
		sleep 0.05
	done
	return 1
}

lost() { "$ATTACK" count "$1" | awk '{print $2}'; }

# destruct_policy: the scheduling policy of the daemon's destruction thread (field 41 of its
# stat: 0 ordinary, 1 SCHED_FIFO), empty if there is no such thread.
destruct_policy() {
	local t
	for t in /proc/"$WPID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = vigil-destruct ] || continue
		sed 's/.*) //' "$t/stat" | cut -d' ' -f39
		return
	done
}
# Real-time priority is only for when something looks like destruction (at that priority its
# wake-ups preempted file-heavy benign work); where we may not use it, it is not checked.
CAN_FIFO=0
chrt -f 1 true 2>/dev/null && CAN_FIFO=1

start_watch --respond stop "$P"
DPIDS+=("$WPID")
wait_alert "a['kind'] == 'agent' and a['defenses']['destruction'].startswith('on:')" 2 >/dev/null ||
	fail "the destruction defense is on"
[ "$(destruct_policy)" = 0 ] || fail "the destruction thread starts at ordinary priority (policy '$(destruct_policy)')"

for s in $STYLES delete-fork; do
	style=$s extra=()
	[ "$s" = delete-fork ] && style=delete extra=(--fork-per-file)
	attack "$style" "$P/$s" "${extra[@]}"
	wait_stopped "$APID" || { cat "$T/attack.out"; fail "$s: not stopped (state '$(state "$APID")')"; }
	n=$(lost "$P/$s")
	echo "$s: stopped after $n files lost"
	[ "$n" -le $MAX_LOST ] || fail "$s: $n files lost before the stop (at most $MAX_LOST)"
	[ "$n" -ge 1 ] || fail "$s: stopped before it did anything?"
	[ $CAN_FIFO = 0 ] || [ "$(destruct_policy)" = 1 ] ||
		fail "$s: after evidence, the destruction thread runs SCHED_FIFO (policy '$(destruct_policy)')"
	out=$(wait_alert "a['kind'] == 'destruction' and a['action'] == 'stopped' and a['severity'] == 'critical' and a['response']['signal'] == 'SIGSTOP' and a['files_total'] >= 1 and all(f['path'].startswith('$P/$s/') for f in a['files']) and (a['process']['pid'] == $APID or a['tree']['pid'] == $APID or a['response'].get('pgid') == $APID)" 10) ||
		fail "$s: a destruction alert, action stopped, naming the attacker"
	# The files named are the ones lost (the list is bounded, the count is not).
	"$PY" - "$out" "$P/$s" <<'PY' || fail "$s: alert fields"
import json, sys
a = json.loads(sys.argv[1])
assert a["reason"].endswith("."), a
assert a["threshold"] > 0 and a["score"] >= a["threshold"], a
assert len(a["files"]) <= 16 and a["files_total"] >= len(a["files"]), a
assert sum(a["evidence"].values()) >= 1, a
PY
	# Stopped, it stays stopped: nothing more is lost while a person looks.
	sleep 0.3
	[ "$(state "$APID")" = T ] || fail "$s: no longer stopped"
	[ "$(lost "$P/$s")" = "$n" ] || fail "$s: files lost while stopped"
	if [ "$s" = overwrite-random ]; then
		# Reviewed and let go: vigil release continues it (and the daemon trusts it).
		run "$VIGIL" release "$APID"; expect_rc 0 "release"; expect_out "released process group $APID" "says what it did"
		for _ in $(seq 200); do [ -z "$(state "$APID")" ] && break; sleep 0.05; done
		[ -z "$(state "$APID")" ] || fail "released attacker did not finish (state $(state "$APID"))"
		# All but the file whose open was refused at the stop (or all, when the stop
		# landed before its next open).
		grep -qE 'attacked (119 of 120 files \(1 failed|120 of 120)' "$T/attack.out" ||
			{ cat "$T/attack.out"; fail "released attacker finished its work"; }
		[ "$(count_alerts "a['kind'] == 'destruction' and a['process']['pid'] == $APID")" = 1 ] ||
			fail "a released process is not stopped again"
	else
		run "$VIGIL" kill "$APID"; expect_rc 0 "kill"; expect_out "killed process group $APID" "says what it did"
		for _ in $(seq 100); do [ -z "$(state "$APID")" ] && break; sleep 0.05; done
		[ -z "$(state "$APID")" ] || fail "$s: vigil kill left it (state $(state "$APID"))"
	fi
done
# Ten seconds after the last evidence, back to ordinary priority (checked at the next event).
if [ $CAN_FIFO = 1 ]; then
	sleep 10.5
	echo wake >"$P/wake"
	for _ in $(seq 50); do [ "$(destruct_policy)" = 0 ] && break; sleep 0.1; done
	[ "$(destruct_policy)" = 0 ] || fail "back to ordinary priority after the evidence (policy '$(destruct_policy)')"
fi
stop_watch

# --respond alert: reported, never stopped.
: >"$WA"
start_watch --respond alert "$P/alert-mode"
DPIDS+=("$WPID")
attack overwrite-zero "$P/alert-mode"
for _ in $(seq 300); do st=$(state "$APID"); [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = T ] && break; sleep 0.05; done
[ "$(state "$APID")" != T ] || fail "--respond alert stopped the process"
wait_alert "a['kind'] == 'destruction' and a['action'] == 'alerted' and 'response' not in a" >/dev/null ||
	fail "--respond alert: an alert, action alerted"
for _ in $(seq 200); do [ -z "$(state "$APID")" ] && break; sleep 0.05; done
[ "$(lost "$P/alert-mode")" = 120 ] || fail "--respond alert: the attacker ran to the end"
[ "$(count_alerts "a['kind'] == 'destruction'")" = 1 ] || fail "--respond alert: one alert per offender"
stop_watch

# --respond kill: the offender dies (SIGKILL) after as few files. The directory is
# protect-only (--protect): defended the same, without integrity alerts.
: >"$WA"
start_watch --respond kill --protect "$P/kill-mode"
wait_alert "a['kind'] == 'agent' and a['defenses']['destruction'].startswith('on: 1 protected')" 2 >/dev/null ||
	fail "--protect alone: the directory is protected"
DPIDS+=("$WPID")
attack encrypt-inplace "$P/kill-mode"
for _ in $(seq 300); do [ -z "$(state "$APID")" ] || [ "$(state "$APID")" = Z ] && break; sleep 0.05; done
[ -z "$(state "$APID")" ] || [ "$(state "$APID")" = Z ] || fail "--respond kill: still alive (state $(state "$APID"))"
n=$(lost "$P/kill-mode")
echo "kill-mode: killed after $n files lost"
[ "$n" -le $MAX_LOST ] || fail "--respond kill: $n files lost"
wait_alert "a['kind'] == 'destruction' and a['action'] == 'killed' and a['response']['signal'] == 'SIGKILL' and a['process']['pid'] == $APID" >/dev/null ||
	fail "--respond kill: an alert, action killed, naming the process"
sleep 0.3
[ "$(count_alerts "a['kind'] == 'integrity' and a['path'].startswith('$P/')")" = 0 ] ||
	fail "--protect: no integrity alerts for the attacked files"
stop_watch

# The allowlist: the digest-pinned copy is trusted; the same program under another name
# (the original) is not.
: >"$WA"
start_watch --config "$T/vigil.conf" --db "$T/base.db" --key "$T/key" --respond stop "$P/allowed"
DPIDS+=("$WPID")
wait_alert "a['kind'] == 'agent' and 'configured allowlist' in a['defenses']['destruction']" 2 >/dev/null ||
	fail "the started alert says the allowlist is the configured one"
rm -f "$T/apid"
setsid "$T/bin/trusted-attack" run delete "$P/allowed" --pidfile "$T/apid" >"$T/attack.out" 2>&1 &
tpid=$!
PGIDS+=("$tpid")
wait "$tpid" || fail "the trusted program failed"
[ "$(lost "$P/allowed")" = 120 ] || fail "the trusted program was hindered"
sleep 0.3
[ "$(count_alerts "a['kind'] == 'destruction'")" = 0 ] || fail "no alert for a trusted program"
stop_watch

# Ransom notes: the same note-like name written across directories adds to a score that
# damage started (one file encrypted, then notes: stopped), and never makes one alone
# (README_TO_DECRYPT.txt in every directory and nothing damaged: tar -x, cp -a and git
# write READMEs everywhere).
"$ATTACK" prepare "$P/notes" --files 40 --seed 9 >/dev/null || fail "prepare notes"
: >"$WA"
start_watch --respond stop --protect "$P/notes"
DPIDS+=("$WPID")
# note_writer ENCRYPT: in a session of its own; sets $APID.
note_writer() {
	setsid "$PY" - "$P/notes" "$1" >"$T/notes.out" 2>&1 <<'PY' &
import os, sys, time
root, encrypt = sys.argv[1], sys.argv[2] == "1"
note = "HOW_TO_RECOVER_FILES.txt" if encrypt else "README_TO_DECRYPT.txt"
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".docx"))
if encrypt:
    with open(files[0], "r+b") as f:
        n = len(f.read())
        f.seek(0)
        f.write(os.urandom(n))
dirs = sorted(d for d, _, _ in os.walk(root))
made = 0
for d in dirs:
    with open(os.path.join(d, note), "w") as f:
        f.write("Your files are encrypted.\n")
    made += 1
    time.sleep(0.05)
print("notes", made, "of", len(dirs), "all" if made == len(dirs) else "", flush=True)
time.sleep(3)
PY
	APID=$!
	PGIDS+=("$APID")
}
note_writer 0
for _ in $(seq 200); do [ -z "$(state "$APID")" ] || [ "$(state "$APID")" = T ] && break; sleep 0.05; done
[ -z "$(state "$APID")" ] || fail "notes alone: the writer was stopped (state $(state "$APID"))"
grep -q ' all' "$T/notes.out" || fail "notes alone: one in each directory ($(cat "$T/notes.out"))"
sleep 0.3
[ "$(count_alerts "a['kind'] == 'destruction'")" = 0 ] || fail "notes alone: no destruction alert"
note_writer 1
wait_stopped "$APID" || { cat "$T/notes.out"; fail "one file encrypted, then notes: not stopped"; }
wait_alert "a['kind'] == 'destruction' and a['action'] == 'stopped' and a['evidence'].get('ransom_note', 0) >= 1 and a['evidence'].get('encrypted', 0) == 1" 10 >/dev/null ||
	fail "the alert counts the encrypted file and the notes"
grep -q ' all' "$T/notes.out" && fail "stopped only after every note"
stop_watch
exit 0
