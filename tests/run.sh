#!/bin/bash
# Runs every test: the cmocka unit binaries given as arguments (TAP output, each case
# counted), then each CLI test script in tests/cli/ (one case each; exit 77 = skipped).
# Ends with the line "N passed, N failed, N skipped".
set -u
BUILD=${BUILD:-build}
case $BUILD in /*) export VIGIL="$BUILD/vigil" ;; *) export VIGIL="$PWD/$BUILD/vigil" ;; esac
passed=0 failed=0 skipped=0
failures=()
log=$(mktemp -d /tmp/vigil-test-log.XXXXXX)

for t in "$@"; do
	name=$(basename "$t")
	out="$log/$name.tap"
	CMOCKA_MESSAGE_OUTPUT=TAP timeout 600 "$t" >"$out" 2>&1
	rc=$?
	p=$(grep -cE '^ok [0-9]+' "$out" | tr -d ' ')
	s=$(grep -cE '^ok [0-9]+.*# *SKIP' "$out" | tr -d ' ')
	f=$(grep -cE '^not ok [0-9]+' "$out" | tr -d ' ')
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed, timed out or failed outside a test case
	fi
	passed=$((passed + p)) skipped=$((skipped + s)) failed=$((failed + f))
	printf '%-28s %4d passed %3d failed %3d skipped\n' "$name" "$p" "$f" "$s"
	if [ "$f" -ne 0 ]; then
		failures+=("$name")
		grep -vE '^ok ' "$out" | tail -40 | sed 's/^/    /'
	fi
done

for t in tests/cli/*.sh; do
	[ -e "$t" ] && [ "$(basename "$t")" != lib.sh ] || continue
	name=cli/$(basename "$t" .sh)
	out="$log/$(basename "$t").log"
	timeout 900 bash "$t" >"$out" 2>&1
	rc=$?
	case $rc in
	0) passed=$((passed + 1)); printf '%-28s ok\n' "$name" ;;
	77) skipped=$((skipped + 1)); printf '%-28s SKIP: %s\n' "$name" "$(grep -m1 SKIP "$out" | sed 's/.*SKIP: *//')" ;;
	*) failed=$((failed + 1)); failures+=("$name"); printf '%-28s FAILED (exit %d)\n' "$name" "$rc"
	   tail -40 "$out" | sed 's/^/    /' ;;
	esac
done

echo
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "logs: $log"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
