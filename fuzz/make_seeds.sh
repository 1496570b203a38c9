#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Rebuilds the fuzz seed corpora fuzz/corpus/<target>/: a few small files that reach each
# detector, encoding and container format. The secrets are made up (valid in form only).
# Needs openssl, ssh-keygen, zip, tar, gzip, bzip2, xz, zstd, 7z, python3. Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
det=$here/corpus/fuzz_detect
arc=$here/corpus/fuzz_archive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$det" "$arc"
mkdir -p "$det" "$arc"

cat >"$det/cards.txt" <<'EOF'
order 88213 paid with 4601815908301662 exp 11/27
refund to 4948 2199 3518 1902 (visa) and 2720-5797-5432-3192
not a card: 4601815908301663 1700000000000
EOF
cat >"$det/bank.csv" <<'EOF'
id,name,iban,ssn
1,Anna Rossi,IT71 K597 9711 4713 JSIO M1TM A7V,155-30-3823
2,Jan Novak,AT655749118625276018,013-63-9653
3,Lucia Fernandez,ES46 2366 7127 6842 6846 5632,
EOF
cat >"$det/ssn.txt" <<'EOF'
Applicant SSN: 155 30 3823
Social Security No. 013639653 on file
EOF
cat >"$det/creds.env" <<'EOF'
AWS_ACCESS_KEY_ID=AKIALQSAJ2XUID5ZZZZG
AWS_SECRET_ACCESS_KEY=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
GITHUB_TOKEN=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
db_password = "Vq3!rT9zLm2#"
EOF
# A private key from a fixed scalar, so the seed does not change between runs.
printf '30310201010420%s%s' \
	1f2e3d4c5b6a79880f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778 \
	a00a06082a8648ce3d030107 | xxd -r -p >"$tmp/ec.der"
openssl ec -inform DER -in "$tmp/ec.der" -out "$det/key.pem" 2>/dev/null
openssl pkey -in "$det/key.pem" -out "$tmp/pkcs8.pem"
python3 - "$tmp/pkcs8.pem" "$det" <<'EOF'
import base64, json, sys
pem = open(sys.argv[1]).read()
with open(sys.argv[2] + "/service-account.json", "w") as f:
    json.dump({"type": "service_account", "private_key": pem}, f)
with open(sys.argv[2] + "/secret.yaml", "w") as f:
    f.write("apiVersion: v1\nkind: Secret\ndata:\n  tls.key: " +
            base64.b64encode(pem.encode()).decode() + "\n")
# UTF-16LE with a BOM, as Windows tools write it.
with open(sys.argv[2] + "/utf16.txt", "wb") as f:
    f.write("\ufeffcard 4091390996030828\r\nIBAN AT655749118625276018\r\n".encode("utf-16-le"))
# fuzz_detect's padding prefix: the text starts 0x0100 * 16 bytes into the stream.
with open(sys.argv[2] + "/padded.txt", "wb") as f:
    f.write(b"@pad\x01\x00card 4601815908301662\n")
EOF
ssh-keygen -q -t ed25519 -N '' -C seed -f "$tmp/id_ed25519"
cp "$tmp/id_ed25519" "$det/id_ed25519"

# Archives: one text with a few secrets in each format, an office document, an encrypted
# zip and a nesting.
cp "$det/cards.txt" "$tmp/notes.txt"
cat "$det/creds.env" >>"$tmp/notes.txt"
(cd "$tmp" && zip -q -X notes.zip notes.txt && zip -q -X -P hunter2 locked.zip notes.txt)
cp "$tmp/notes.zip" "$tmp/locked.zip" "$arc/"
tar -C "$tmp" --owner=0 --group=0 --mtime=@0 -cf - notes.txt | gzip -n9 >"$arc/notes.tar.gz"
gzip -n9 <"$tmp/notes.txt" >"$arc/notes.txt.gz"
bzip2 -9 <"$tmp/notes.txt" >"$arc/notes.txt.bz2"
xz -9 <"$tmp/notes.txt" >"$arc/notes.txt.xz"
zstd -q -19 <"$tmp/notes.txt" >"$arc/notes.txt.zst"
(cd "$tmp" && 7z a -bd -bso0 notes.7z notes.txt) && cp "$tmp/notes.7z" "$arc/"
mkdir -p "$tmp/docx/word" "$tmp/docx/_rels"
cat >"$tmp/docx/[Content_Types].xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>
EOF
cat >"$tmp/docx/word/document.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Card </w:t></w:r><w:r><w:t>4601 8159 0830 1662</w:t></w:r></w:p><w:p><w:r><w:t>IBAN AT65&#32;5749 1186 2527 6018</w:t></w:r></w:p></w:body></w:document>
EOF
(cd "$tmp/docx" && zip -q -X -r ../letter.docx '[Content_Types].xml' word) && cp "$tmp/letter.docx" "$arc/"
(cd "$tmp" && tar --owner=0 --group=0 --mtime=@0 -cf nested.tar notes.zip notes.txt \
	&& gzip -n9 nested.tar) && cp "$tmp/nested.tar.gz" "$arc/"
ls -l "$det" "$arc"
