# SIGKILL of the daemon, changes while it is down, a restart: the heartbeats stop (so a
# SIEM can tell), there is no "stopping" alert, and the start-up check of the new daemon
# reports what changed meanwhile.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/tree; DB=$T/base.db; K=$T/key
mkdir -p "$D/etc"
echo one > "$D/etc/one"; echo two > "$D/etc/two"; echo three > "$D/etc/three"
run "$VIGIL" init --db "$DB" --key "$K" --no-progress "$D"; expect_rc 0 "init"

"$VIGIL" watch --alerts "$WA" --heartbeat 1 --db "$DB" --key "$K" 2>>"$T/watch.err" & WPID=$!
wait_alert "a['event'] == 'started'" >/dev/null || fail "started"
wait_alert "a['event'] == 'heartbeat' and a['uptime_s'] >= 1 and a['outputs'][0]['connected'] is True" 5 >/dev/null ||
	fail "heartbeat every second"
echo running >> "$D/etc/one"
wait_alert "a['path'] == '$D/etc/one' and a['detected_by'] == 'fanotify'" >/dev/null || fail "live change"

kill -9 "$WPID"; wait "$WPID" 2>/dev/null; WPID=
beats=$(count_alerts "a.get('event') == 'heartbeat'")
echo offline >> "$D/etc/two"
rm "$D/etc/three"
echo added > "$D/etc/four"
sleep 1.5
[ "$(count_alerts "a.get('event') == 'heartbeat'")" = "$beats" ] || fail "no heartbeat from a killed daemon"
[ "$(count_alerts "a.get('event') == 'stopping'")" = 0 ] || fail "SIGKILL leaves no stopping alert"

start_watch --db "$DB" --key "$K"
[ "$(count_alerts "a.get('event') == 'started'")" = 2 ] || fail "second start"
for expect in "two:changed" "three:removed" "four:added" "one:changed"; do
	f=${expect%%:*} c=${expect#*:}
	wait_alert "a['path'] == '$D/etc/$f' and a['change'] == '$c' and a['detected_by'] == 'start-up check' and a['process'] is None" >/dev/null ||
		fail "start-up check reports $f $c"
done
wait_alert "a['event'] == 'check' and a['trigger'] == 'start' and a['added'] == 1 and a['removed'] == 1 and a['changed'] == 2" >/dev/null ||
	fail "start-up check summary"
stop_watch
check_alert_format
exit 0
