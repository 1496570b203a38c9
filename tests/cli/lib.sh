# Helpers for CLI tests: each test is a bash script that exits 0 (pass), 77 (skip)
# or anything else (fail). $VIGIL is the binary under test.
set -u
: "${VIGIL:=$PWD/build/vigil}"
T=$(mktemp -d /tmp/vigil-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
# run CMD...: runs it, keeping stdout in $T/out, stderr in $T/err, status in $rc.
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }
expect_rc() { [ "$rc" -eq "$1" ] || { cat "$T/err" >&2; fail "exit $rc, expected $1: $2"; }; }
expect_out() { grep -qE -- "$1" "$T/out" || { head -50 "$T/out" >&2; fail "stdout lacks /$1/: $2"; }; }
expect_no_out() { ! grep -qE -- "$1" "$T/out" || { grep -E -- "$1" "$T/out" | head >&2; fail "stdout has /$1/: $2"; }; }
expect_err() { grep -qE -- "$1" "$T/err" || { head -50 "$T/err" >&2; fail "stderr lacks /$1/: $2"; }; }
# Number of JSON findings in $T/out with the given category.
count_cat() { grep -c "\"category\":\"$1\"" "$T/out" || true; }
# A valid Visa test number and a valid IBAN for fixtures.
CARD=4111111111111111
IBAN=DE89370400440532013000
