# The raw-disk guard of vigil watch, on loop devices this test makes: a write to the disk by
# a program not on the allowlist (dd, python) is refused (sector 0 intact) and alerted once,
# naming the program and the device; reads pass without an alert; a tool on the built-in
# list (wipefs) writes; a node made with mknod elsewhere is no way around it; a device added
# while vigil runs is guarded; a daemon stopped past its lease no longer locks the disks and
# guards again once resumed; the config's raw_device_allow lets dd write and replaces the
# built-in list; --no-raw-device-guard turns the guard off.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
command -v losetup >/dev/null || skip "losetup missing (util-linux)"
IMG=$T/disk.img; IMG2=$T/disk2.img
truncate -s 4M "$IMG" "$IMG2" || fail "image"
"$PY" - "$IMG" <<'PY' || fail "sector 0 pattern"
import sys
with open(sys.argv[1], "r+b") as f:
    f.write(b"VIGIL-SECTOR-0 " * 34 + b"\x55\xaa")
PY
LOOP=$(losetup --find --show "$IMG" 2>/dev/null) || skip "cannot attach a loop device here"
LOOP2= NEWNUM=
# Never leave a daemon or a loop device behind.
cleanup() {
	[ -n "$WPID" ] && kill -9 "$WPID" 2>/dev/null
	losetup -d "$LOOP" 2>/dev/null
	[ -n "$LOOP2" ] && losetup -d "$LOOP2" 2>/dev/null
	[ -n "$NEWNUM" ] && "$PY" -c 'import fcntl, os, sys
fd = os.open("/dev/loop-control", os.O_RDWR)
fcntl.ioctl(fd, 0x4C81, int(sys.argv[1]))' "$NEWNUM" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
DD=$(readlink -f "$(command -v dd)")
sector0() { "$PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read(512)).hexdigest())' "$1"; }
ORIG=$(sector0 "$IMG")
# write_ok DEV: a write that must pass: 0 it did; 1 this daemon refused it (it alerts every
# refusal); 2 only some other guard refused it — every vigil watch on the machine (other
# tests running at the same time) sees every open — so it could not be tested now.
write_ok() {
	local i
	for i in $(seq 20); do
		dd if=/dev/zero of="$1" bs=512 count=1 conv=notrunc,fsync 2>"$T/dd.err" && return 0
		sleep 1 # time for this daemon's alert, if it was this daemon (slow under ASan)
		[ "$(count_alerts "a['kind'] == 'raw_device' and a['path'] == '$1'")" = 0 ] ||
			{ cat "$T/dd.err" >&2; grep raw_device "$WA" >&2; return 1; }
	done
	echo "note: other vigil watch daemons kept refusing: allowed write to $1 not tested"
	return 2
}

D=$T/w; mkdir -p "$D"
start_watch "$D"
out=$(wait_alert 'a["event"] == "started"' 2) || fail "started"
status=$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["defenses"]["raw_device"])' "$out")
case $status in
on:*) ;;
*BPF*|*cgroup*) skip "the raw-disk guard cannot run here: $status" ;;
*) fail "raw_device defense not on: $status" ;;
esac

# The wiper: dd onto the disk. Refused at open; sector 0 as it was.
run dd if=/dev/zero of="$LOOP" bs=512 count=1 conv=notrunc
[ "$rc" -ne 0 ] || fail "dd onto $LOOP was not refused"
expect_err 'Operation not permitted' "dd says the open was refused"
[ "$(sector0 "$IMG")" = "$ORIG" ] || fail "sector 0 changed"
[ "$(dd if="$LOOP" bs=512 count=1 iflag=direct 2>/dev/null | head -c 15)" = "VIGIL-SECTOR-0 " ] ||
	fail "sector 0 read through the device changed"
NAME=${LOOP#/dev/}
out=$(wait_alert "a['kind'] == 'raw_device' and a['path'] == '$LOOP'") || fail "no raw_device alert"
"$PY" - "$out" "$NAME" "$DD" <<'PY' || fail "raw_device alert fields"
import json, sys
a = json.loads(sys.argv[1])
assert a["action"] == "denied" and a["severity"] == "critical", a
assert a["device"] == sys.argv[2] and a["access"] == "write" and a["comm"] == "dd", a
assert a["process"]["name"] == "dd" and a["process"]["pid"] > 0, a
assert a["process"].get("exe") in (None, sys.argv[3]), a
assert sys.argv[2] in a["reason"] and "allowlist" in a["reason"] and a["reason"].endswith("."), a
PY
sleep 0.3
[ "$(count_alerts "a['kind'] == 'raw_device' and a['path'] == '$LOOP'")" = 1 ] ||
	fail "one alert for one refused write"

# Reads pass, and are not alerted.
run dd if="$LOOP" of=/dev/null bs=512 count=8
expect_rc 0 "reading the disk"

# Another program, opening read-write (the mode a wiper would use): refused too.
run "$PY" -c 'import os, sys; os.open(sys.argv[1], os.O_RDWR)' "$LOOP"
[ "$rc" -ne 0 ] || fail "python O_RDWR open was not refused"
wait_alert "a['kind'] == 'raw_device' and a['comm'].startswith('python')" >/dev/null ||
	fail "python's refusal alerted"

# A tool on the built-in allowlist writes (wipefs -a erases the MBR signature).
run wipefs -a "$LOOP"
expect_rc 0 "wipefs, on the built-in allowlist"
sleep 0.3
[ "$(count_alerts "a['kind'] == 'raw_device' and a['comm'] == 'wipefs'")" = 0 ] ||
	fail "wipefs was alerted"

# A node of its own for the same disk, made with mknod in our directory: still the disk.
MM=$(stat -c '%t %T' "$LOOP")
mknod "$T/node" b $((0x${MM% *})) $((0x${MM#* })) || fail "mknod"
run dd if=/dev/zero of="$T/node" bs=512 count=1 conv=notrunc
[ "$rc" -ne 0 ] || fail "writing through a mknod'ed node was not refused"
[ "$(sector0 "$IMG")" = "$ORIG" ] || fail "sector 0 changed through the mknod'ed node"

# A loop device added while vigil runs (as losetup -f does when all are busy) is guarded.
NEWNUM=$("$PY" - <<'PY'
import fcntl, os
fd = os.open("/dev/loop-control", os.O_RDWR)
for n in range(240, 255):
    if os.path.exists("/sys/class/block/loop%d" % n):
        continue
    try:
        print(fcntl.ioctl(fd, 0x4C80, n))   # LOOP_CTL_ADD
        break
    except OSError:
        pass
PY
)
if [ -n "$NEWNUM" ]; then
	for i in $(seq 50); do [ -b "/dev/loop$NEWNUM" ] && break; sleep 0.05; done
	losetup "/dev/loop$NEWNUM" "$IMG2" || fail "attach the new loop device"
	LOOP2=/dev/loop$NEWNUM
	sleep 0.3 # the guard hears of the new node through inotify on /dev
	run dd if=/dev/urandom of="$LOOP2" bs=512 count=1 conv=notrunc
	[ "$rc" -ne 0 ] || fail "a loop device added at run time is not guarded"
	wait_alert "a['kind'] == 'raw_device' and a['path'] == '$LOOP2'" >/dev/null ||
		fail "the refusal on the new device alerted"
	[ "$(head -c 512 "$IMG2" | tr -d '\0' | wc -c)" = 0 ] || fail "the new device was written"
else
	echo "note: no loop number free for LOOP_CTL_ADD: run-time device not tested"
fi

# A stalled daemon fails open: stopped (SIGSTOP) for longer than its 5 s lease, it no longer
# locks the disks; resumed, it guards them again.
n0=$(count_alerts "a['kind'] == 'raw_device' and a['path'] == '$LOOP'")
kill -STOP "$WPID"
sleep 6.5
run dd if=/dev/zero of="$LOOP" bs=512 count=1 conv=notrunc
kill -CONT "$WPID"
sleep 1.5 # a refusal by this daemon's filter would be in its ring, alerted now
n1=$(count_alerts "a['kind'] == 'raw_device' and a['path'] == '$LOOP'")
[ "$n1" = "$n0" ] || fail "a stopped daemon still locks the disks"
[ "$rc" -eq 0 ] || echo "note: another guard refused the write while this daemon was stopped"
run dd if=/dev/zero of="$LOOP" bs=512 count=1 conv=notrunc
[ "$rc" -ne 0 ] || fail "the resumed daemon does not guard the disk again"
for i in $(seq 30); do
	[ "$(count_alerts "a['kind'] == 'raw_device' and a['path'] == '$LOOP'")" -gt "$n1" ] && break
	sleep 0.1
done
[ "$(count_alerts "a['kind'] == 'raw_device' and a['path'] == '$LOOP'")" -gt "$n1" ] ||
	fail "the resumed daemon refuses (and alerts) again"
stop_watch

# The config allows dd (by its real path): its write passes, and nothing is alerted.
C=$T/vigil.conf; WA=$T/alerts2.jsonl
printf '[baseline]\ndatabase = %s\nkey = %s\nboot_sectors = none\n\n[path %s]\n\n[watch]\nraw_device_allow = %s\n' \
	"$T/base.db" "$T/key" "$D" "$DD" >"$C"
run "$VIGIL" init --config "$C" --no-progress; expect_rc 0 "init"
start_watch --config "$C"
wait_alert 'a["event"] == "started" and a["defenses"]["raw_device"].startswith("on:")' 2 >/dev/null ||
	fail "guard on with the config's allowlist"
write_ok "$LOOP"; r=$?
[ "$r" != 1 ] || fail "dd allowed by raw_device_allow could not write"
[ "$r" != 0 ] || [ "$(head -c 512 "$IMG" | tr -d '\0' | wc -c)" = 0 ] ||
	fail "the allowed write did not reach the disk"
# The built-in list is replaced, not extended: wipefs is refused now; so is a copy of dd.
run wipefs -a "$LOOP"
[ "$rc" -ne 0 ] || fail "wipefs allowed though the config's list replaces the built-in one"
wait_alert "a['kind'] == 'raw_device' and a['comm'] == 'wipefs'" >/dev/null ||
	fail "wipefs's refusal alerted"
cp "$DD" "$T/mkfs.fake"
run "$T/mkfs.fake" if=/dev/zero of="$LOOP" bs=512 count=1 conv=notrunc
[ "$rc" -ne 0 ] || fail "a copy of dd under another name was allowed"
wait_alert "a['kind'] == 'raw_device' and a['comm'] == 'mkfs.fake'" >/dev/null ||
	fail "the copy's refusal alerted"
[ "$(count_alerts "a['kind'] == 'raw_device' and a['comm'] == 'dd'")" = 0 ] ||
	fail "the allowed dd was alerted"
stop_watch

# Turned off: writes pass and the started alert says so.
WA=$T/alerts3.jsonl
start_watch --no-raw-device-guard "$D"
wait_alert 'a["event"] == "started" and a["defenses"]["raw_device"].startswith("off")' 2 >/dev/null ||
	fail "started alert says the guard is off"
"$PY" - "$IMG" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.write(b"VIGIL-SECTOR-0 ")
PY
write_ok "$LOOP"; [ $? != 1 ] || fail "write with --no-raw-device-guard"
stop_watch
[ "$(count_alerts "a['kind'] == 'raw_device'")" = 0 ] || fail "raw_device alert with the guard off"
exit 0
