# JSON Lines: required fields, valid UTF-8 for any path, members of archives, redaction.
. tests/cli/lib.sh
command -v python3 >/dev/null || skip "python3 missing"
mkdir -p "$T/d/sub"
printf 'line one\niban %s here\n' "$IBAN" > "$T/d/sub/bank.txt"
printf 'card %s\n' "$CARD" > "$T/d/$(printf 'bad\377name')"
printf 'card %s\n' "$CARD" > "$T/d/$(printf 'new\nline')"
(cd "$T/d/sub" && printf 'x %s\n' "$CARD" > inner.txt && zip -q ../arch.zip inner.txt && rm inner.txt)
run "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d"; expect_rc 1 "findings"
python3 - "$T/out" "$CARD" <<'PY' || fail "JSON checks"
import json, sys, base64
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
card = sys.argv[2]
assert len(rows) == 4, rows
for r in rows:
    for k in ("path", "category", "detector", "offset", "redacted", "fingerprint", "confidence"):
        assert k in r, (k, r)
    assert r["fingerprint"].startswith("sha256:") and len(r["fingerprint"]) == 71, r
    assert card not in json.dumps(r), r
iban = [r for r in rows if r["category"] == "iban"][0]
assert iban["line"] == 2 and iban["detector"] == "iban.DE", iban
bad = [r for r in rows if "path_bytes_b64" in r]
assert len(bad) == 1 and base64.b64decode(bad[0]["path_bytes_b64"]).endswith(b"bad\xffname"), bad
assert "\ufffd" in bad[0]["path"]
nl = [r for r in rows if r["path"].endswith("new\nline")]
assert len(nl) == 1, rows
z = [r for r in rows if r.get("member")]
assert len(z) == 1 and z[0]["member"] == "inner.txt" and z[0]["path"].endswith("arch.zip"), z
# one secret, one fingerprint: the same card in three files
fps = {r["fingerprint"] for r in rows if r["category"] == "payment_card"}
assert len(fps) == 1, fps
PY
# Fingerprints are stable across runs with the same key.
cp "$T/out" "$T/first"
run "$VIGIL" scan --format json --jobs 1 --fingerprint-key "$T/k" "$T/d"
[ "$(grep -o 'sha256:[0-9a-f]*' "$T/first" | sort)" = "$(grep -o 'sha256:[0-9a-f]*' "$T/out" | sort)" ] || fail "fingerprints changed between runs"
exit 0
