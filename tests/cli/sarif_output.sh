# SARIF 2.1.0: one valid document with a result per finding.
. tests/cli/lib.sh
command -v python3 >/dev/null || skip "python3 missing"
mkdir -p "$T/d"
printf 'card %s\nssn 219-45-7788\n' "$CARD" > "$T/d/a.txt"
run "$VIGIL" scan --format sarif --fingerprint-key "$T/k" "$T/d"; expect_rc 1 "findings"
python3 - "$T/out" <<'PY' || fail "SARIF checks"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["version"] == "2.1.0"
res = doc["runs"][0]["results"]
assert sorted(r["ruleId"] for r in res) == ["payment_card", "ssn"], res
for r in res:
    loc = r["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].startswith("file:///"), loc
    assert loc["region"]["startLine"] >= 1
    assert r["partialFingerprints"]["vigil/v1"].startswith("sha256:")
PY
run "$VIGIL" scan --format sarif --fingerprint-key "$T/k" "$T/empty-does-not-exist" "$T/d"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" || fail "SARIF invalid with warnings"
exit 0
