# --help, --version, unknown commands and options, and bad option values.
. tests/cli/lib.sh
run "$VIGIL" --version; expect_rc 0 "--version"; expect_out '^vigil [0-9]+\.[0-9]+' "version line"
run "$VIGIL" --help; expect_rc 0 "--help"; expect_out 'scan' "lists scan"
run "$VIGIL" scan --help; expect_rc 0 "scan --help"; expect_out '--max-archive-bytes' "documents limits"
run "$VIGIL"; expect_rc 2 "no command"
run "$VIGIL" frobnicate; expect_rc 2 "unknown command"; expect_err "unknown command" "says why"
run "$VIGIL" scan --bogus "$T"; expect_rc 2 "unknown option"
run "$VIGIL" scan --jobs 0 "$T"; expect_rc 2 "jobs 0"; expect_err "--jobs" "names the option"
run "$VIGIL" scan --format xml "$T"; expect_rc 2 "bad format"; expect_err "unknown format" "says why"
run "$VIGIL" scan --category cards "$T"; expect_rc 2 "bad category"; expect_err "unknown category" "says why"
run "$VIGIL" scan --max-file-size 10Q "$T"; expect_rc 2 "bad size"
run "$VIGIL" scan --allowlist "$T/missing" "$T"; expect_rc 2 "missing allowlist"; expect_err "allowlist" "names it"
exit 0
