# vigil watch on a directory without a baseline: each kind of change is one alert naming
# the process that made it, bursts are coalesced, systemd hears READY=1, SIGTERM stops it
# with a "stopping" alert naming the sender.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/w; mkdir -p "$D/sub"
echo old > "$D/keep"

# Errors before anything is watched: exit 2 with a sentence saying what to do.
run "$VIGIL" watch --help; expect_rc 0 "help"; expect_out '^usage: vigil watch' "usage"
run "$VIGIL" watch --db "$T/none.db" --key "$T/none.key" --alerts "$T/x.jsonl"
expect_rc 2 "no baseline"; expect_err 'vigil init' "says to run vigil init"
run "$VIGIL" watch --rate-limit lots "$D"; expect_rc 2 "bad number"; expect_err 'rate-limit' "names the option"
run "$VIGIL" watch --respond maybe "$D"; expect_rc 2 "bad respond"
run "$VIGIL" watch --alerts "$T/a.jsonl" "$T/missing"; expect_rc 2 "missing PATH"; expect_err 'missing' "names it"
[ ! -e "$T/x.jsonl" ] || [ ! -s "$T/x.jsonl" ] || fail "no alert written on a start-up error"

# A stand-in for systemd's notification socket: records what the daemon sends.
"$PY" - "$T/notify.sock" "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "a") as log:
    try:
        while True:
            log.write(s.recv(4096).decode() + "\n"); log.flush()
    except socket.timeout:
        pass
PY
npid=$!
for i in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$T/notify.sock start_watch "$D"
wait_alert 'a["event"] == "started" and a["watch"][0]["method"] == "fanotify"' 2 >/dev/null ||
	wait_alert 'a["event"] == "started" and any(w["method"] == "fanotify" and w["role"] == "path" for w in a["watch"])' 2 >/dev/null ||
	fail "started alert says fanotify watches the path"
for i in $(seq 50); do grep -q READY=1 "$T/notify.log" 2>/dev/null && break; sleep 0.05; done
grep -qx READY=1 "$T/notify.log" || fail "READY=1 sent to NOTIFY_SOCKET"

# Created and written by this shell (a builtin: the writer is $$).
echo hello > "$D/new"
wait_alert "a['path'] == '$D/new' and a['change'] == 'added' and a['process']['pid'] == $$ and a['process']['exe'] == '$SHELL_EXE' and a['new']['size'] == 6 and a['new']['type'] == 'file' and a['baseline'] is False" >/dev/null ||
	fail "added file names the shell"

# Written in 100 chunks over half a second through one open file: one alert, at the close.
"$PY" -c '
import sys, time
with open(sys.argv[1], "a") as f:
    for i in range(100):
        f.write("chunk %d\n" % i); f.flush(); time.sleep(0.005)
time.sleep(0.3)' "$D/keep" & wp=$!
wait_alert "a['path'] == '$D/keep' and a['change'] == 'changed' and a['process']['pid'] == $wp and 'close_write' in a['events'] and a['attributes'] == ['size', 'mtime', 'ctime', 'hash']" >/dev/null ||
	fail "a file written in 100 chunks is one alert"
wait $wp
sleep 0.3
[ "$(count_alerts "a.get('path') == '$D/keep'")" = 1 ] || fail "exactly one alert for the 100 chunks"

# Metadata, in a subdirectory made after the start (covered at once).
mkdir "$D/sub/deeper"; echo x > "$D/sub/deeper/f"
wait_alert "a['path'] == '$D/sub/deeper/f' and a['change'] == 'added' and a['process']['pid'] == $$" >/dev/null ||
	fail "new subdirectory covered at once"
sleep 0.1
chmod 600 "$D/sub/deeper/f"
wait_alert "a['path'] == '$D/sub/deeper/f' and a['change'] == 'changed' and 'mode' in a['attributes'] and a['new']['mode'] == '0600'" >/dev/null ||
	fail "chmod reported with the new mode"

# A rename inside the tree: both names, each alert naming the other.
"$PY" -c 'import os,sys,time; os.rename(sys.argv[1], sys.argv[2]); time.sleep(0.5)' "$D/new" "$D/renamed" & rp=$!
wait_alert "a['path'] == '$D/new' and a['change'] == 'removed' and a['renamed_to'] == '$D/renamed' and a['process']['pid'] == $rp" >/dev/null ||
	fail "rename: old name"
wait_alert "a['path'] == '$D/renamed' and a['change'] == 'added' and a['renamed_from'] == '$D/new' and a['process']['pid'] == $rp and 'python' in a['process']['exe']" >/dev/null ||
	fail "rename: new name"
wait $rp

# Removed by a process that is still running when the event is read.
"$PY" -c 'import os,sys,time; os.unlink(sys.argv[1]); time.sleep(0.5)' "$D/renamed" & up=$!
wait_alert "a['path'] == '$D/renamed' and a['change'] == 'removed' and a['process']['pid'] == $up and a['process']['uid'] == 0 and 'os.unlink' in a['process']['cmdline']" >/dev/null ||
	fail "removal names the process and its command line"
wait $up

# Files outside the watched directory are not reported.
echo x > "$T/outside"
sleep 0.3
[ "$(count_alerts "a.get('path') == '$T/outside'")" = 0 ] || fail "outside path reported"

stop_watch
check_alert_format
kill $npid 2>/dev/null; wait $npid 2>/dev/null
grep -qx STOPPING=1 "$T/notify.log" || fail "STOPPING=1 sent"
exit 0
