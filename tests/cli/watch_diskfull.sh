# The alert file's disk fills up: the daemon keeps watching (its loop never waits on
# output), keeps the alerts in memory, and writes them — with a note of the failure —
# once there is room again.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/w; F=$T/full; mkdir -p "$D" "$F"
mount -t tmpfs -o size=256k vigil-test-full "$F" 2>/dev/null || skip "cannot mount tmpfs here"
trap '[ -n "$WPID" ] && kill -9 "$WPID" 2>/dev/null; umount "$F" 2>/dev/null; rm -rf "$T"' EXIT
WA=$F/alerts.jsonl
start_watch "$D"

dd if=/dev/zero of="$F/filler" bs=4k 2>/dev/null # until ENOSPC
[ "$(df --output=avail "$F" | tail -1)" -eq 0 ] || fail "the alert disk is full"
# 20 alerts of about 1 KB: more than the slack left in the file's last page.
for i in $(seq 20); do echo "$i" > "$D/during$i"; sleep 0.02; done
sleep 2
kill -0 "$WPID" || fail "daemon alive with its alert disk full"
[ "$(count_alerts "'during' in a.get('path', '')")" -lt 20 ] || fail "not everything could be written meanwhile"
# Events are still taken while output fails.
echo 21 > "$D/during21"

rm -f "$F/filler"
for i in $(seq 21); do
	wait_alert "a['path'] == '$D/during$i' and a['change'] == 'added' and a['process']['pid'] == $$" 20 >/dev/null ||
		fail "alert $i delivered once there is room"
done
wait_alert "a['kind'] == 'agent' and a['event'] == 'output_failed' and 'No space left' in a['reason']" >/dev/null ||
	fail "the failure is reported in the alerts"
# Every line is whole: a write cut by ENOSPC left no half line.
check_alert_format
stop_watch
exit 0
