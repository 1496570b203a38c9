# Faults: renames between watched and unwatched places, a watched directory (and the
# watched root itself) removed and made again.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/tree; O=$T/outside; DB=$T/base.db; K=$T/key
mkdir -p "$D/etc" "$D/sub/inner" "$O"
echo conf > "$D/etc/app.conf"
echo data > "$D/sub/inner/data"
run "$VIGIL" init --db "$DB" --key "$K" --no-progress "$D"; expect_rc 0 "init"
start_watch --db "$DB" --key "$K"

# Out of the watched tree: removed, with the recorded values and where it went.
act 'os.rename(sys.argv[1], sys.argv[2])' "$D/etc/app.conf" "$O/app.conf"
wait_alert "a['path'] == '$D/etc/app.conf' and a['change'] == 'removed' and a['renamed_to'] == '$O/app.conf' and a['old']['size'] == 5 and a['process']['pid'] == $APID" >/dev/null ||
	fail "moved out: removed"
[ "$(count_alerts "a.get('path') == '$O/app.conf'")" = 0 ] || fail "the unwatched side is not reported"

# Into the watched tree from outside: added, naming where it came from.
echo planted > "$O/implant"
act 'os.rename(sys.argv[1], sys.argv[2])' "$O/implant" "$D/etc/implant"
wait_alert "a['path'] == '$D/etc/implant' and a['change'] == 'added' and a['renamed_from'] == '$O/implant' and a['new']['size'] == 8 and a['process']['pid'] == $APID" >/dev/null ||
	fail "moved in: added"

# Renamed over a recorded file: changed (a different inode and content under the name).
echo replacement > "$O/data.new"
act 'os.rename(sys.argv[1], sys.argv[2])' "$O/data.new" "$D/sub/inner/data"
wait_alert "a['path'] == '$D/sub/inner/data' and a['change'] == 'changed' and 'inode' in a['attributes'] and 'hash' in a['attributes']" >/dev/null ||
	fail "renamed over: changed"

# A watched directory removed and made again: both reported, and files in the new one.
act 'import shutil; shutil.rmtree(sys.argv[1])' "$D/sub"
wait_alert "a['path'] == '$D/sub' and a['change'] == 'removed' and a['old']['type'] == 'dir'" >/dev/null ||
	fail "directory removed"
wait_alert "a['path'] == '$D/sub/inner' and a['change'] == 'removed'" >/dev/null || fail "its subdirectory removed"
[ "$(count_alerts "a.get('path') == '$D/sub/inner/data' and a.get('change') == 'removed'")" -le 1 ] ||
	fail "a removal is reported once"
mkdir "$D/sub"; echo again > "$D/sub/again"
# The baseline records sub: made again, it is a different directory under that name
# ("changed": another inode), or one that matches the record again ("added" again, when
# the file system reused the inode number).
remade="(a['change'] == 'changed' and 'inode' in a['attributes']) or (a['change'] == 'added' and a['new']['type'] == 'dir')"
wait_alert "a['path'] == '$D/sub' and a['events'] == ['create', 'isdir'] and ($remade)" >/dev/null ||
	fail "directory made again"
wait_alert "a['path'] == '$D/sub/again' and a['change'] == 'added' and a['process']['pid'] == $$" >/dev/null ||
	fail "file in the new directory"

# The watched root itself: renamed away, then made again.
mv "$D" "$T/tree.old"
wait_alert "a['path'] == '$D' and a['change'] == 'removed' and a['renamed_to'] == '$T/tree.old'" >/dev/null ||
	fail "root renamed away"
mkdir "$D"; echo back > "$D/back"
wait_alert "a['path'] == '$D' and 'create' in a['events'] and ($remade)" >/dev/null ||
	fail "root made again"
wait_alert "a['path'] == '$D/back' and a['change'] == 'added' and a['process']['pid'] == $$" >/dev/null ||
	fail "file in the new root"

stop_watch
check_alert_format
exit 0
