# The kernel's event queue overflows (the daemon is stopped while a flood of events
# arrives): an alert says so, and a quick check of the baseline runs at once and reports
# the change whose event was lost — and only what the live alerts did not already say.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
q=$(cat /proc/sys/fs/fanotify/max_queued_events 2>/dev/null) || skip "no fanotify queue limit to overflow"
[ "$q" -le 200000 ] || skip "fanotify queue limit $q too large to overflow quickly"
D=$T/tree; DB=$T/base.db; K=$T/key
mkdir -p "$D/etc" "$T/flood"
echo keep > "$D/etc/keep"
echo base > "$D/etc/edited"
run "$VIGIL" init --db "$DB" --key "$K" --no-progress "$D"; expect_rc 0 "init"
start_watch --db "$DB" --key "$K" --backend fanotify
wait_alert "a['event'] == 'check' and a['trigger'] == 'start'" >/dev/null || fail "start-up check done"

# Reported live before the overflow: the check must not say these again...
echo one > "$D/etc/live1"
echo two > "$D/etc/live2"
echo edit >> "$D/etc/edited"
for f in live1 live2 edited; do
	wait_alert "a['path'] == '$D/etc/$f' and a['detected_by'] != 'overflow check'" >/dev/null ||
		fail "live alert for $f"
done

kill -STOP "$WPID"
# Distinct files, so the kernel cannot merge their events: more than the queue holds.
"$PY" - "$T/flood" $((q + 2000)) <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    open(os.path.join(d, "f%d" % i), "w").close()
PY
echo lost > "$D/etc/keep" # its event finds the queue full
echo twice > "$D/etc/live2" # ...but this one changed again while events were lost
kill -CONT "$WPID"

wait_alert "a['kind'] == 'agent' and a['event'] == 'overflow' and 'check' in a['reason']" 30 >/dev/null ||
	fail "overflow reported"
wait_alert "a['path'] == '$D/etc/keep' and a['change'] == 'changed' and a['detected_by'] == 'overflow check' and 'hash' in a['attributes']" 30 >/dev/null ||
	fail "the change whose event was lost is found by the check"
wait_alert "a['path'] == '$D/etc/live2' and a['change'] == 'added' and a['detected_by'] == 'overflow check' and a['new']['size'] == 6" 30 >/dev/null ||
	fail "a file reported live and changed again while events were lost is reported again"
wait_alert "a['event'] == 'check' and a['trigger'] == 'overflow' and a['changed'] >= 1 and a['already_reported'] == 2" 30 >/dev/null ||
	fail "check summary after the overflow counts the two changes already reported"
for f in live1 edited; do
	[ "$(count_alerts "a.get('path') == '$D/etc/$f' and a.get('detected_by') == 'overflow check'")" = 0 ] ||
		fail "$f, reported live and unchanged since, is not repeated by the check"
done
# Still watching afterwards.
echo after > "$D/etc/after"
wait_alert "a['path'] == '$D/etc/after' and a['change'] == 'added' and a['process']['pid'] == $$" >/dev/null ||
	fail "events after the overflow"
stop_watch
check_alert_format
exit 0
