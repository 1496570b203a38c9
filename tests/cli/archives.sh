# Archives: nested containers, compressed streams, office documents, encrypted archives,
# bombs stopped by limits, corrupt archives warned about, UTF-16 text.
. tests/cli/lib.sh
for t in zip tar gzip xz zstd bzip2 7z python3; do command -v $t >/dev/null || skip "$t missing"; done
mkdir -p "$T/src" "$T/d"
printf 'card %s\n' "$CARD" > "$T/src/card.txt"
# zip inside tar.gz inside zip
(cd "$T/src" && zip -q inner.zip card.txt && tar czf mid.tar.gz inner.zip && zip -q outer.zip mid.tar.gz && cp outer.zip "$T/d/")
for c in gzip xz zstd bzip2; do $c -c "$T/src/card.txt" > "$T/d/card.txt.$c"; done
(cd "$T/src" && 7z a -bd -y card.7z card.txt >/dev/null && cp card.7z "$T/d/")
run "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d"; expect_rc 1 "archives"
expect_out '"member":"mid.tar.gz!/inner.zip!/card.txt"' "nested member path"
[ "$(count_cat payment_card)" -eq 6 ] || fail "expected 6 cards, got $(count_cat payment_card)"
run "$VIGIL" scan --no-archives --format json --fingerprint-key "$T/k" "$T/d"; expect_rc 0 "no-archives sees only compressed bytes"
run "$VIGIL" scan --max-depth 1 --fingerprint-key "$T/k" "$T/d/outer.zip"; expect_rc 0 "depth limit"
expect_err 'max-depth' "depth limit named"

# Office documents: the number split across two runs of one paragraph.
python3 - "$T/d2/report.docx" "$CARD" <<'PY'
import os, sys, zipfile
os.makedirs(os.path.dirname(sys.argv[1]))
c = sys.argv[2]
doc = ('<?xml version="1.0"?><w:document xmlns:w="x"><w:body><w:p><w:r><w:t>Card: %s</w:t></w:r>'
       '<w:r><w:t>%s</w:t></w:r></w:p><w:p><w:r><w:t>1234</w:t></w:r></w:p></w:body></w:document>') % (c[:8], c[8:])
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml", "<Types/>")
    z.writestr("word/document.xml", doc)
PY
run "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d2"; expect_rc 1 "docx"
expect_out '"member":"word/document.xml"' "found in the document part"

# Encrypted archives are reported; a plain zip is not.
mkdir -p "$T/d3"
(cd "$T/src" && zip -q -P pw "$T/d3/locked.zip" card.txt && 7z a -bd -y -ppw -mhe=on "$T/d3/locked.7z" card.txt >/dev/null)
run "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d3"; expect_rc 1 "encrypted"
[ "$(count_cat encrypted_archive)" -eq 2 ] || fail "expected 2 encrypted archives"

# A bomb: 2 GiB of zeros gzipped, then gzipped again. Stopped by the limits, quickly.
mkdir -p "$T/d4"
head -c 2G /dev/zero | gzip -1 | gzip -1 > "$T/d4/bomb.gz.gz"
start=$(date +%s)
run timeout 120 "$VIGIL" scan --fingerprint-key "$T/k" "$T/d4"
expect_rc 0 "bomb"; expect_err 'max-ratio|max-archive-bytes' "limit named"
[ $(( $(date +%s) - start )) -lt 30 ] || fail "bomb took too long"

# --max-entries: a tar of 50 members with a limit of 10 stops with a warning naming it.
mkdir -p "$T/d8/m"
for i in $(seq 50); do echo "line $i" > "$T/d8/m/f$i.txt"; done
tar cf "$T/d8/many.tar" -C "$T/d8" m && rm -r "$T/d8/m"
run "$VIGIL" scan --max-entries 10 --fingerprint-key "$T/k" "$T/d8"
expect_rc 0 "entry limit"; expect_err 'max-entries' "entry limit named"
expect_out 'Skipped: 1 archive limits' "counted in the summary"

# Corrupt and truncated archives: a warning, and the scan goes on.
mkdir -p "$T/d5"
head -c 300 "$T/d/outer.zip" > "$T/d5/truncated.zip"
cp "$T/d/card.txt.gzip" "$T/d5/"
head -c 20 "$T/d/card.txt.xz" > "$T/d5/cut.xz"
run "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d5"; expect_rc 1 "went on"
expect_err 'warning' "corruption warned"

# Members named ../ or absolute are never written anywhere: they are only scanned.
mkdir -p "$T/d7/inner"
python3 - "$T/d7/inner/evil.tar" "$CARD" <<'PY'
import io, sys, tarfile
data = ("card %s\n" % sys.argv[2]).encode()
with tarfile.open(sys.argv[1], "w") as t:
    for name in ("../../escaped.txt", "/tmp/vigil-absolute-member.txt"):
        info = tarfile.TarInfo(name); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
run "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d7/inner/evil.tar"
expect_rc 1 "members with hostile names scanned"
expect_out '"member":"\.\./\.\./escaped.txt"' "../ member reported by name"
[ ! -e "$T/escaped.txt" ] && [ ! -e /tmp/vigil-absolute-member.txt ] || fail "a member was written to disk"

# UTF-16LE with BOM, UTF-16BE without, Latin-1 around the number.
mkdir -p "$T/d6"
printf 'Kunde: J\xfcrgen, Karte %s\n' "$CARD" > "$T/d6/latin1.txt"
printf 'card %s\n' "$CARD" | python3 -c 'import sys; sys.stdout.buffer.write(b"\xff\xfe" + sys.stdin.read().encode("utf-16-le"))' > "$T/d6/le.txt"
printf 'card number %s ok\n' "$CARD" | python3 -c 'import sys; sys.stdout.buffer.write(sys.stdin.read().encode("utf-16-be"))' > "$T/d6/be.txt"
run "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d6"; expect_rc 1 "encodings"
[ "$(count_cat payment_card)" -eq 3 ] || fail "expected 3 cards across encodings, got $(count_cat payment_card)"
exit 0
