# The per-path rate limit: a file changed again and again is reported --rate-limit times a
# minute, the rest folded into its next alert and counted as rate_limited; another path is
# not held back by it.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/w; mkdir -p "$D"
start_watch --rate-limit 3 --coalesce 5 --no-raw-device-guard "$D"
# 20 separate changes, each closed and followed by a quiet time longer than --coalesce.
for i in $(seq 20); do
	echo "$i" > "$D/busy"
	sleep 0.03
done
echo other > "$D/other"
wait_alert "a.get('path') == '$D/other' and a['change'] in ('added', 'changed')" >/dev/null ||
	fail "another path is reported while the busy one is limited"
sleep 0.5
n=$(count_alerts "a.get('path') == '$D/busy'")
[ "$n" = 3 ] || fail "the busy path is reported 3 times in its first minute, not $n"

# A path that used two of its three alerts keeps that through a flood of 50,000 other
# paths, which makes the watcher drop its idle per-path records (their buckets are kept
# apart): three changes later, one more alert, not three.
echo 1 > "$D/calm"; sleep 0.03; echo 2 > "$D/calm"
wait_alert "a.get('path') == '$D/calm'" >/dev/null || fail "calm reported"
sleep 0.1
[ "$(count_alerts "a.get('path') == '$D/calm'")" = 2 ] || fail "calm reported twice"
mkdir "$D/flood"
"$PY" - "$D/flood" <<'PY'
import os, sys
for i in range(50000):
    os.close(os.open(os.path.join(sys.argv[1], "f%d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
PY
for _ in $(seq 300); do
	[ "$(grep -c '/flood/f' "$WA")" -ge 40000 ] && break
	sleep 0.2
done
for i in 3 4 5; do
	echo "$i" > "$D/calm"
	sleep 0.03
done
sleep 0.5
n=$(count_alerts "a.get('path') == '$D/calm'")
[ "$n" = 3 ] || fail "calm's bucket survived the flood: 3 alerts in all, not $n"
stop_watch
wait_alert "a['event'] == 'stopping' and a['rate_limited'] >= 1" 2 >/dev/null ||
	fail "the stopping alert counts the rate-limited path"
check_alert_format
exit 0
