# --allowlist suppresses by fingerprint and by path glob, and counts what it suppressed.
. tests/cli/lib.sh
mkdir -p "$T/d/fixtures"
printf 'card %s\n' "$CARD" > "$T/d/a.txt"
printf 'iban %s\n' "$IBAN" > "$T/d/fixtures/test.txt"
run "$VIGIL" scan --format json --fingerprint-key "$T/k" "$T/d"; expect_rc 1 "two findings"
fp=$(grep payment_card "$T/out" | grep -o 'sha256:[0-9a-f]*')
printf '# known test data\n%s\n*/fixtures/*\n' "$fp" > "$T/allow"
run "$VIGIL" scan --allowlist "$T/allow" --fingerprint-key "$T/k" "$T/d"; expect_rc 0 "all suppressed"
expect_out 'Suppressed by the allowlist: 2' "counted"
printf 'sha256:xyz\n' > "$T/bad"
run "$VIGIL" scan --allowlist "$T/bad" "$T/d"; expect_rc 2 "malformed allowlist"; expect_err 'bad:1' "file:line"
exit 0
