# Boot sectors: init records a digest of the first 1 MiB of a whole disk; an overwrite of
# the MBR shows as a change with boot_sector. Only on a loop device this test creates.
. tests/cli/lib.sh
[ "$(id -u)" = 0 ] || skip "needs root for a loop device"
command -v losetup >/dev/null || skip "losetup missing"
img=$T/disk.img; truncate -s 8M "$img"
printf 'MBR-ORIGINAL' | dd of="$img" conv=notrunc 2>/dev/null
dev=$(losetup --find --show "$img" 2>/dev/null) || skip "cannot attach a loop device here"
trap 'losetup -d "$dev" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/tree"; echo a > "$T/tree/a"
printf '[baseline]\nboot_sectors = %s\n[path %s]\nattributes = default\n' "$dev" "$T/tree" > "$T/v.conf"
V() { "$VIGIL" "$1" --config "$T/v.conf" --db "$T/b.db" --key "$T/k" --no-progress "${@:2}"; }
run V init; expect_rc 0 "init with a boot sector"
run V baseline "$dev"; expect_rc 0 "listed"; expect_out "block .*$dev" "device recorded"
run V check; expect_rc 0 "unchanged"
# The wiper: overwrite sector 0 through the image that backs our own loop device.
printf 'HACKED BY #GOP' | dd of="$img" conv=notrunc 2>/dev/null
blockdev --flushbufs "$dev" 2>/dev/null; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
run V check --format json; expect_rc 1 "boot sector change found"
expect_out "\"path\":\"$dev\",\"change\":\"changed\",\"attributes\":\\[\"boot_sector\"\\]" "named as boot_sector"
exit 0
