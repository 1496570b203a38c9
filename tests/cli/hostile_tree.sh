# Hostile trees: FIFOs and sockets are never opened, sparse files cost nothing, paths
# longer than PATH_MAX are walked, symlinks are not followed unless asked (and loops end),
# a line hundreds of MB long is scanned in bounded memory.
. tests/cli/lib.sh
command -v python3 >/dev/null || skip "python3 missing"
mkdir -p "$T/d"
mkfifo "$T/d/pipe"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/d/sock"
run timeout 20 "$VIGIL" scan --fingerprint-key "$T/k" "$T/d"
[ "$rc" -ne 124 ] || fail "scan hung on a FIFO"
expect_rc 0 "FIFO and socket skipped"; expect_out 'Skipped: 2 special files' "counted as special"

# 50 GB sparse file with a card in its only data block, far into the file.
truncate -s 50G "$T/d/sparse.img"
printf 'card %s\n' "$CARD" | dd of="$T/d/sparse.img" bs=1 seek=$((30 * 1024 * 1024 * 1024)) conv=notrunc status=none
start=$(date +%s)
run timeout 60 "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "sparse file was read byte by byte"
expect_rc 1 "card in sparse file found"; expect_out '"offset":' "has offset"
rm "$T/d/sparse.img"

# A path longer than PATH_MAX (4096): 60 levels of 80-character names.
p="$T/d/deep"; mkdir "$p"; cd "$p"
name=$(printf 'd%.0s' $(seq 80))
for i in $(seq 60); do mkdir "$name"; cd "$name"; done
printf 'card %s\n' "$CARD" > deep.txt
cd /
run "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d/deep"; expect_rc 1 "deep file found"
len=$(python3 -c 'import json,sys; print(len(json.loads(open(sys.argv[1]).readline())["path"]))' "$T/out")
[ "$len" -gt 4096 ] || fail "path length $len not beyond PATH_MAX"
rm -rf "$T/d/deep"

# Symlinks: not followed by default; followed with -L; a loop ends with a warning.
mkdir -p "$T/target" "$T/links"
printf 'card %s\n' "$CARD" > "$T/target/secret.txt"
ln -s "$T/target" "$T/links/to-target"
ln -s "$T/links" "$T/links/loop"
run "$VIGIL" scan --fingerprint-key "$T/k" "$T/links"; expect_rc 0 "symlinks not followed"
run timeout 20 "$VIGIL" scan -L --fingerprint-key "$T/k" "$T/links"; expect_rc 1 "followed with -L"
expect_err 'loop' "loop reported"

# One line of 300 MB with a card in the middle and at the end; memory stays bounded.
python3 - "$T/long/line.txt" "$CARD" <<'PY'
import os, sys
os.makedirs(os.path.dirname(sys.argv[1]))
with open(sys.argv[1], "wb") as f:
    chunk = b"abcdefghij" * 104857  # ~1 MB, no newline
    for i in range(300):
        f.write(chunk)
        if i == 150:
            f.write((" %s " % sys.argv[2]).encode())
    f.write((" %s" % sys.argv[2]).encode())
PY
if [ -x /usr/bin/time ]; then
	/usr/bin/time -f '%M' -o "$T/rss" "$VIGIL" scan --jobs 1 --format json --fingerprint-key "$T/k" "$T/long" >"$T/out" 2>"$T/err"; rc=$?
	rss=$(tail -1 "$T/rss")
	[ "$rss" -lt 131072 ] || fail "peak RSS ${rss} KiB on a 300 MB line"
else
	run "$VIGIL" scan --jobs 1 --format json --fingerprint-key "$T/k" "$T/long"
fi
expect_rc 1 "long line"; [ "$(count_cat payment_card)" -eq 2 ] || fail "expected 2 cards on the long line"
exit 0
