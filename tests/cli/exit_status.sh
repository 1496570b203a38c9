# Exit status: 0 nothing found, 1 findings, 2 nothing could be scanned; warnings go on.
. tests/cli/lib.sh
mkdir -p "$T/clean" "$T/dirty"
echo "nothing to see here" > "$T/clean/readme.txt"
printf 'customer card: %s\n' "$CARD" > "$T/dirty/orders.csv"
run "$VIGIL" scan --fingerprint-key "$T/k" "$T/clean"; expect_rc 0 "clean tree"
expect_out 'No sensitive data found' "says nothing found"; expect_out 'Scanned 1 files' "summary counts"
run "$VIGIL" scan --fingerprint-key "$T/k" "$T/dirty"; expect_rc 1 "tree with a card"
expect_out 'payment_card' "category shown"; expect_out '411111\*+1111' "redacted card"
expect_no_out "$CARD" "full card never printed"
run "$VIGIL" scan --fingerprint-key "$T/k" "$T/nonexistent"; expect_rc 2 "missing path"
expect_err 'nonexistent' "names the path"
run "$VIGIL" scan --fingerprint-key "$T/k" "$T/nonexistent" "$T/dirty"; expect_rc 1 "one good path is enough"
expect_err 'warning' "warns about the missing one"
exit 0
