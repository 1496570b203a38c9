# The inotify fallback (forced with --backend inotify, as where fanotify is unavailable):
# it says so when it starts, new directories are covered (with what was made in them
# before their watch), a directory moved away stops reporting under its old name, and a
# removed root is watched again once it is back. inotify names no process.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/w; mkdir -p "$D/sub"
start_watch --backend inotify "$D"
wait_alert "a['event'] == 'started' and any(w['path'] == '$D' and w['method'] == 'inotify' for w in a['watch']) and 'inotify' in a['reason']" >/dev/null ||
	fail "started says inotify"

echo x > "$D/sub/f"
wait_alert "a['path'] == '$D/sub/f' and a['change'] == 'added' and a['process'] is None and a['detected_by'] == 'inotify' and 'inotify' in a['reason']" >/dev/null ||
	fail "added, no process"

# A new directory and, at once, files in it.
"$PY" -c 'import os,sys; os.makedirs(sys.argv[1] + "/n1/n2"); open(sys.argv[1] + "/n1/n2/deep", "w").write("d")' "$D"
wait_alert "a['path'] == '$D/n1/n2/deep' and a['change'] == 'added'" >/dev/null || fail "file in a brand-new directory"
sleep 0.2
echo more >> "$D/n1/n2/deep"
wait_alert "a['path'] == '$D/n1/n2/deep' and a['change'] == 'changed'" >/dev/null || fail "new directory watched"

# Moved out: reported once, and no longer watched under either name.
mv "$D/n1" "$T/n1-out"
wait_alert "a['path'] == '$D/n1' and a['change'] == 'removed'" >/dev/null || fail "moved out"
echo outside >> "$T/n1-out/n2/deep"
sleep 0.5
[ "$(count_alerts "'n1' in a.get('path', '') and a.get('change') == 'changed'")" = 1 ] ||
	fail "a directory moved out is no longer watched"

# The root removed and made again: picked up within a second or two.
rm -rf "$D"
wait_alert "a['path'] == '$D' and a['change'] == 'removed'" >/dev/null || fail "root removed"
mkdir -p "$D"; echo back > "$D/back"
wait_alert "a['path'] == '$D/back' and a['change'] == 'added'" 10 >/dev/null || fail "root watched again"
sleep 0.2
echo again >> "$D/back"
wait_alert "a['path'] == '$D/back' and a['change'] == 'changed'" >/dev/null || fail "new root's files watched"
stop_watch
check_alert_format
exit 0
