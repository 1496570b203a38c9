# A file system mounted under a watched directory is watched too (before or after the
# start); unmounting it is reported, is not blocked by the daemon, and watching goes on.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/w; mkdir -p "$D/a" "$D/b" "$D/ov" "$T/lower" "$T/upper" "$T/work"
mount -t tmpfs -o size=1m vigil-test-a "$D/a" 2>/dev/null || skip "cannot mount tmpfs here"
trap '[ -n "$WPID" ] && kill -9 "$WPID" 2>/dev/null; umount "$D/a" "$D/b" "$D/ov" 2>/dev/null; rm -rf "$T"' EXIT
# overlayfs: a file system fanotify often cannot mark (EOPNOTSUPP): inotify covers it.
ov=1
mount -t overlay vigil-test-ov -o "lowerdir=$T/lower,upperdir=$T/upper,workdir=$T/work" "$D/ov" 2>/dev/null || ov=
start_watch "$D"
wait_alert "a['event'] == 'started' and any(m['path'] == '$D/a' and m['fs_type'] == 'tmpfs' and m['method'] in ('fanotify', 'inotify') for m in a['mounts'])" >/dev/null ||
	fail "started lists the mount under the root and how it is watched"

# in_fs PATH: the alert for PATH names this shell (fanotify), or no process (inotify, where
# fanotify cannot mark the file system: tmpfs before Linux 6.7).
named() { echo "a['path'] == '$1' and a['change'] == 'added' and ((a['process'] or {}).get('pid') == $$ or (a['process'] is None and a['detected_by'] == 'inotify'))"; }

echo one > "$D/a/one"
wait_alert "$(named "$D/a/one")" >/dev/null || fail "file in a file system mounted before the start"

mount -t tmpfs -o size=1m vigil-test-b "$D/b" || fail "mount b"
wait_alert "a['path'] == '$D/b' and a['change'] == 'mounted' and a['fs_type'] == 'tmpfs' and a['fs_source'] == 'vigil-test-b'" >/dev/null ||
	fail "mount reported"
sleep 0.2
echo two > "$D/b/two"
wait_alert "$(named "$D/b/two")" >/dev/null || fail "file in a file system mounted after the start"

if [ -n "$ov" ]; then
	echo three > "$D/ov/three"
	wait_alert "$(named "$D/ov/three")" >/dev/null || fail "file in an overlay file system"
	umount "$D/ov" || fail "umount overlay (busy?)"
	wait_alert "a['path'] == '$D/ov' and a['change'] == 'unmounted' and a['fs_type'] == 'overlay'" >/dev/null ||
		fail "overlay unmount reported"
fi

# The daemon holds nothing open there: a plain umount works.
umount "$D/a" || fail "umount a (busy?)"
wait_alert "a['path'] == '$D/a' and a['change'] == 'unmounted' and a['fs_source'] == 'vigil-test-a'" >/dev/null ||
	fail "unmount reported"
umount "$D/b" || fail "umount b (busy?)"
wait_alert "a['path'] == '$D/b' and a['change'] == 'unmounted'" >/dev/null || fail "second unmount reported"

echo after > "$D/after"
wait_alert "a['path'] == '$D/after' and a['change'] == 'added' and a['process']['pid'] == $$" >/dev/null ||
	fail "still watching after the unmounts"
stop_watch
check_alert_format
exit 0
