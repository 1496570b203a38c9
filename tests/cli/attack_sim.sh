# SPDX-License-Identifier: Apache-2.0
# The destruction simulator of the defense bench (bench/attack.c): it builds real files,
# really destroys them in every style, counts the losses against its manifest, and refuses
# every directory it did not build under a temporary directory.
if [ -z "${VIGIL:-}" ] && [ -n "${BUILD:-}" ]; then
	case $BUILD in /*) VIGIL=$BUILD/vigil ;; *) VIGIL=$PWD/$BUILD/vigil ;; esac
fi
. tests/cli/lib.sh
ATTACK=${VIGIL_ATTACK:-$(dirname "$VIGIL")/vigil-attack}
[ -x "$ATTACK" ] || fail "$ATTACK not built (make \$(BUILD)/vigil-attack)"
command -v python3 >/dev/null || skip "python3 missing"
PY=$(python3 -c 'import sys; print(sys.executable)')
unset TMPDIR

# ---- usage -------------------------------------------------------------------------------
run "$ATTACK"; expect_rc 2 "no command"
run "$ATTACK" --help; expect_rc 0 "help"; expect_out '^usage: vigil-attack prepare' "usage"
run "$ATTACK" run melt "$T/x"; expect_rc 2 "unknown style"; expect_err "unknown style 'melt'" "names it"
run "$ATTACK" prepare "$T/x" --files lots; expect_rc 2 "bad number"
run "$ATTACK" prepare "$T/x" --files 0; expect_rc 2 "zero files"
[ ! -e "$T/x" ] || fail "nothing made on a usage error"

# ---- prepare refuses anything but a new directory under a temporary directory ------------
mkdir "$T/outside"; echo precious > "$T/outside/keep"
ln -s / "$T/rootlink"
ln -s "$T/outside" "$T/outlink"
# Outside every temporary root whatever the checkout's place (a clone may live in /tmp).
OUT_OF_TMP=/dev/shm/vigil-attack-refused-$$
[ -d /dev/shm ] || OUT_OF_TMP=/run/vigil-attack-refused-$$
# Should a broken build make them after all, they go whatever happens (only if they are
# sandboxes it made: never anything else).
# shellcheck disable=SC2154 # d is the trap's own loop variable
trap 'for d in "$OUT_OF_TMP" "/vigil-attack-refused-$$"; do
	[ -f "$d/.vigil-attack-sandbox" ] && rm -rf "$d"; done
	rm -rf "$(dirname "$OUT_OF_TMP")/vigil-attack-target-$$" "$T"' EXIT
run "$ATTACK" prepare "$OUT_OF_TMP"; expect_rc 3 "parent outside /tmp"
expect_err 'not /tmp, /var/tmp or \$TMPDIR' "says why"
[ ! -e "$OUT_OF_TMP" ] || fail "made a directory outside /tmp"
run "$ATTACK" prepare "/vigil-attack-refused-$$"; expect_rc 3 "parent /"
[ ! -e "/vigil-attack-refused-$$" ] || fail "made a directory in /"
run "$ATTACK" prepare "$T/rootlink/vigil-attack-refused-$$"; expect_rc 3 "parent is a symlink to /"
[ ! -e "/vigil-attack-refused-$$" ] || fail "followed the symlink to /"
TMPDIR=/ run "$ATTACK" prepare "/vigil-attack-refused-$$"; expect_rc 3 "TMPDIR=/ allows nothing"
[ ! -e "/vigil-attack-refused-$$" ] || fail "TMPDIR=/ was trusted"
run "$ATTACK" prepare "/nonexistent-$$/x"; expect_rc 3 "parent missing"
run "$ATTACK" prepare "$T/outside"; expect_rc 3 "existing directory"; expect_err 'exists already' "says why"
run "$ATTACK" prepare /tmp; expect_rc 3 "/tmp itself"
run "$ATTACK" prepare /tmp/..; expect_rc 3 "a .. name"
[ "$(ls -A "$T/outside")" = keep ] || fail "an existing directory was touched"

# ---- prepare: real files of mixed types, a manifest, a marker ------------------------------
S=$T/sand
run "$ATTACK" prepare "$S" --files 60 --seed 7; expect_rc 0 "prepare"; expect_out "^prepared 60 files in $S\$" "says so"
[ -f "$S/.vigil-attack-sandbox" ] && [ -f "$S/.vigil-attack-manifest" ] || fail "marker and manifest"
[ "$(grep -vc '^#' "$S/.vigil-attack-manifest")" = 60 ] || fail "60 manifest lines"
# Every file is what its name says, checked by the format's own rules, not by name.
"$PY" - "$S" <<'PY' || fail "generated files are valid files of their types"
import collections, math, os, sqlite3, struct, sys, zipfile, zlib
root = sys.argv[1]
kinds = collections.Counter()
for line in open(os.path.join(root, ".vigil-attack-manifest")).read().splitlines()[1:]:
    sha, size, rel = line.split(" ", 2)
    p = os.path.join(root, rel)
    b = open(p, "rb").read()
    assert len(b) == int(size) and len(b) >= 2048, (rel, len(b))
    ext = rel.rsplit(".", 1)[1]
    if ext == "pdf":
        assert b.startswith(b"%PDF-1.4\n") and b.rstrip().endswith(b"%%EOF"), rel
        xref = int(b.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
        assert b[xref:xref + 4] == b"xref", rel
        for n, off in enumerate(b[xref:].split(b"\n")[3:9], 1):
            assert b[int(off[:10]):].startswith(b"%d 0 obj" % n), (rel, n)
    elif ext == "png":
        assert b[:8] == b"\x89PNG\r\n\x1a\n", rel
        pos, idat = 8, b""
        while pos < len(b):
            n, = struct.unpack(">I", b[pos:pos + 4]); t = b[pos + 4:pos + 8]
            assert zlib.crc32(b[pos + 4:pos + 8 + n]) == struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])[0], rel
            idat += b[pos + 8:pos + 8 + n] if t == b"IDAT" else b""
            pos += 12 + n
        w, h = struct.unpack(">II", b[16:24])
        assert len(zlib.decompress(idat)) == h * (3 * w + 1), rel
    elif ext == "jpg":
        assert b[:4] == b"\xff\xd8\xff\xe0" and b[6:11] == b"JFIF\0" and b.endswith(b"\xff\xd9"), rel
        pos = 2
        while b[pos + 1] != 0xda:  # walk the segments up to the scan
            assert b[pos] == 0xff, rel
            pos += 2 + struct.unpack(">H", b[pos + 2:pos + 4])[0]
    elif ext == "docx":
        z = zipfile.ZipFile(p)
        assert z.testzip() is None and b"<w:document" in z.read("word/document.xml"), rel
    elif ext == "sqlite":
        assert sqlite3.connect(p).execute("select count(*) from orders").fetchone()[0] > 0, rel
    elif ext in ("txt", "csv"):
        b.decode("ascii")
    else:
        raise AssertionError(rel)
    kinds[ext] += 1
    # Compressed media are near 8 bits/byte, text far below: realistic before/after contrast.
    c = collections.Counter(b[:4096])
    e = -sum(v / 4096 * math.log2(v / 4096) for v in c.values()) if len(b) >= 4096 else None
    if e is not None and ext in ("png", "jpg"):
        assert e > 7.0, (rel, e)
    if e is not None and ext in ("txt", "csv"):
        assert e < 5.5, (rel, e)
assert set(kinds) == {"pdf", "png", "jpg", "docx", "sqlite", "txt", "csv"}, kinds
assert len({os.path.dirname(l.split(" ", 2)[2]) for l in open(os.path.join(root, ".vigil-attack-manifest")).read().splitlines()[1:]}) >= 4
PY
# Deterministic: the same seed gives the same bytes, another seed others.
run "$ATTACK" prepare "$T/same" --files 60 --seed 7; expect_rc 0 "prepare again"
cmp -s "$S/.vigil-attack-manifest" "$T/same/.vigil-attack-manifest" || fail "same seed, same files"
run "$ATTACK" prepare "$T/other" --files 60 --seed 8; expect_rc 0 "prepare other seed"
! cmp -s "$S/.vigil-attack-manifest" "$T/other/.vigil-attack-manifest" || fail "another seed, other files"

# ---- count ----------------------------------------------------------------------------------
run "$ATTACK" count "$S"; expect_rc 0 "count"; expect_out '^lost 0 of 60$' "nothing lost yet"
f1=$S/$(sed -n 2p "$S/.vigil-attack-manifest" | cut -d' ' -f3-)
f2=$S/$(sed -n 3p "$S/.vigil-attack-manifest" | cut -d' ' -f3-)
f3=$S/$(sed -n 4p "$S/.vigil-attack-manifest" | cut -d' ' -f3-)
# One byte changed in place (same size), one file removed, one grown.
printf 'X' | dd of="$f1" bs=1 seek=100 conv=notrunc status=none
rm "$f2"
echo more >> "$f3"
run "$ATTACK" count --list "$S"; expect_rc 0 "count"; expect_out '^lost 3 of 60$' "three lost"
expect_out "^${f1#"$S"/}: content changed\$" "names the changed file"
expect_out "^${f2#"$S"/}: missing\$" "names the missing file"
expect_out "^${f3#"$S"/}: size changed\$" "names the grown file"
# A file swapped for a symlink to an identical copy outside still counts as lost.
cp "$T/same/${f1#"$S"/}" "$T/outside/copy"
rm "$f1"; ln -s "$T/outside/copy" "$f1"
run "$ATTACK" count "$S"; expect_out '^lost 3 of 60$' "a symlink is not the file"

# ---- run refuses what prepare did not build ---------------------------------------------------
mkdir -p "$T/plain/docs"; echo data > "$T/plain/docs/a.txt"
run "$ATTACK" run delete "$T/plain"; expect_rc 3 "no marker"; expect_err 'no sandbox marker' "says why"
[ -f "$T/plain/docs/a.txt" ] || fail "a directory without marker was attacked"
# The path check comes first (the marker check would also refuse these, on its own).
# A directory of our own outside every temporary root (never a real one: were the check
# broken, the attack would hit only this).
OUTDIR=$(dirname "$OUT_OF_TMP")/vigil-attack-target-$$
mkdir -p "$OUTDIR/docs" && echo data > "$OUTDIR/docs/a.txt" || fail "cannot make $OUTDIR"
for target in / /tmp /var/tmp "$T/rootlink" "$OUTDIR"; do
	run "$ATTACK" run delete "$target"; expect_rc 3 "refuses $target"
	expect_err 'not below /tmp, /var/tmp or \$TMPDIR' "$target: says why"
	run "$ATTACK" count "$target"; expect_rc 3 "count refuses $target"
done
[ -f "$OUTDIR/docs/a.txt" ] || fail "a directory outside the temporary roots was attacked"
run "$ATTACK" run delete /nonexistent-$$; expect_rc 3 "refuses a missing directory"
TMPDIR=/ run "$ATTACK" run delete /; expect_rc 3 "TMPDIR=/ allows nothing"
expect_err 'not below' "TMPDIR=/: says why"
# The marker names its own directory: a copied tree (marker included) is refused.
cp -a "$T/same" "$T/copied"
run "$ATTACK" run delete "$T/copied"; expect_rc 3 "copied marker"; expect_err 'another directory' "says why"
run "$ATTACK" count "$T/copied"; expect_rc 3 "count: copied marker"
# ... and so is a sandbox moved elsewhere, even reached through a symlink.
mv "$T/other" "$T/moved"
ln -s "$T/moved" "$T/movedlink"
run "$ATTACK" run delete "$T/movedlink"; expect_rc 3 "moved sandbox"
[ "$(find "$T/copied" "$T/moved" -type f | wc -l)" = 124 ] || fail "refused trees untouched"
# A symlink to a real sandbox resolves to it: accepted (the check is on the real path).
ln -s "$T/same" "$T/samelink"
run "$ATTACK" count "$T/samelink"; expect_rc 0 "symlink to a sandbox"; expect_out '^lost 0 of 60$' "count through the link"

# Inside a valid sandbox, nothing outside it is reachable: a manifest naming ../ is rejected...
run "$ATTACK" prepare "$T/evil" --files 5; expect_rc 0 "prepare evil"
echo "$(sha256sum "$T/outside/keep" | cut -d' ' -f1) 9 ../outside/keep" >> "$T/evil/.vigil-attack-manifest"
run "$ATTACK" run delete "$T/evil"; expect_rc 1 "manifest with ../"; expect_err 'manifest is damaged' "says why"
sed -i '$d' "$T/evil/.vigil-attack-manifest"
echo "$(sha256sum "$T/outside/keep" | cut -d' ' -f1) 9 $T/outside/keep" >> "$T/evil/.vigil-attack-manifest"
run "$ATTACK" run delete "$T/evil"; expect_rc 1 "manifest with an absolute path"
sed -i '$d' "$T/evil/.vigil-attack-manifest"
# ... a subdirectory swapped for a symlink to the outside is not followed, and a file hard
# linked to one outside is skipped (overwriting it would change the outside one).
E1=$(sed -n 2p "$T/evil/.vigil-attack-manifest" | cut -d' ' -f3-)
E2=$(grep -v "^#" "$T/evil/.vigil-attack-manifest" | cut -d' ' -f3- | grep -v "^$(dirname "$E1")/" | head -1)
[ -n "$E2" ] || fail "the 5-file sandbox has files in two directories"
mkdir -p "$T/outside/mirror"
cp -a "$T/evil/$(dirname "$E1")/." "$T/outside/mirror/"
mv "$T/evil/$(dirname "$E1")" "$T/evil-moved-away"
ln -s "$T/outside/mirror" "$T/evil/$(dirname "$E1")"
rm "$T/evil/$E2"; echo hard > "$T/outside/hard"; ln "$T/outside/hard" "$T/evil/$E2"
before=$(cd "$T/outside" && find . -type f -exec sha256sum {} + | sort)
run "$ATTACK" run overwrite-zero "$T/evil"; expect_rc 0 "run on the tampered sandbox"
after=$(cd "$T/outside" && find . -type f -exec sha256sum {} + | sort)
[ "$before" = "$after" ] || fail "the attack reached outside the sandbox"
expect_out 'failed|skipped' "the unreachable files are reported"

# ---- run: each style really destroys, and count sees it ---------------------------------------
# check STYLE DIR: the damage has the shape of the style (from the manifest).
check() {
	"$PY" - "$1" "$2" <<'PY'
import collections, math, os, sys
style, root = sys.argv[1], sys.argv[2]
def ent(b):
    c = collections.Counter(b)
    return -sum(v / len(b) * math.log2(v / len(b)) for v in c.values())
for line in open(os.path.join(root, ".vigil-attack-manifest")).read().splitlines()[1:]:
    sha, size, rel = line.split(" ", 2)
    size, p = int(size), os.path.join(root, rel)
    magic = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"PK\x03\x04", b"SQLite format 3")
    if style in ("delete", "encrypt-rename", "encrypt-copy-delete"):
        assert not os.path.lexists(p), (style, rel)
    if style == "delete":
        continue
    q = p + {"encrypt-rename": ".locked", "encrypt-copy-delete": ".enc"}.get(style, "")
    b = open(q, "rb").read()
    want = {"truncate": 0, "encrypt-inplace": size + 16, "encrypt-rename": size + 16,
            "encrypt-copy-delete": size + 28}.get(style, size)
    assert len(b) == want, (style, rel, len(b), want)
    if style == "overwrite-zero":
        assert b == bytes(size), rel
    if style in ("overwrite-random", "encrypt-inplace", "encrypt-rename", "encrypt-copy-delete"):
        assert not b.startswith(magic) and ent(b[:4096]) > 7.5, (style, rel, ent(b[:4096]))
PY
}
for style in overwrite-random overwrite-zero encrypt-inplace encrypt-rename encrypt-copy-delete truncate delete; do
	D=$T/run-$style
	"$ATTACK" prepare "$D" --files 30 >/dev/null || fail "prepare for $style"
	"$ATTACK" run "$style" "$D" >"$T/out" 2>"$T/err" &
	apid=$!
	wait $apid || { cat "$T/err" >&2; fail "$style: run failed"; }
	[ "$(head -1 "$T/out")" = "$apid" ] || fail "$style: the pid is the first line of stdout"
	expect_out '^attacked 30 of 30 files \(0 failed, 0 skipped\)$' "$style: all attacked (in-process)"
	run "$ATTACK" count "$D"; expect_out '^lost 30 of 30$' "$style: all lost"
	check "$style" "$D" || fail "$style: the damage has the style's shape"
	[ "$(find "$D" -type d | wc -l)" -ge 5 ] || fail "$style: directories stay"
done

# --fork-per-file: each file in its own child (the parent only waits); --pidfile; --delay-ms.
D=$T/fork
"$ATTACK" prepare "$D" --files 6 >/dev/null || fail "prepare fork"
"$PY" - "$ATTACK" "$D" "$T/pidfile" <<'PY' || fail "fork-per-file and pidfile"
import os, subprocess, sys, time
attack, d, pidfile = sys.argv[1:]
p = subprocess.Popen([attack, "run", "encrypt-copy-delete", d, "--fork-per-file",
                      "--delay-ms", "150", "--pidfile", pidfile], stdout=subprocess.PIPE)
t0 = time.time()
first = p.stdout.readline().decode().strip()
assert first == str(p.pid), (first, p.pid)
while p.poll() is None:
    time.sleep(0.01)
elapsed = time.time() - t0
rest = p.stdout.read().decode()
assert "attacked 6 of 6 files (0 failed, 0 skipped) in 6 child processes" in rest, rest
assert open(pidfile).read().strip() == str(p.pid)
assert elapsed >= 0.75, elapsed  # 5 pauses of 150 ms between 6 files
PY
run "$ATTACK" count "$D"; expect_out '^lost 6 of 6$' "fork-per-file destroys too"
exit 0
