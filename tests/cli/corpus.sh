# Detection quality on the labelled corpus built at test time (tests/corpus): recall of
# at least 0.98 in every category, no false positive, no secret shown in full.
. tests/cli/lib.sh
command -v python3 >/dev/null || skip "python3 missing"
python3 tests/corpus/make_corpus.py "$T/c" --seed 1 >/dev/null || fail "corpus generation"
"$VIGIL" scan --format json --jobs 2 --fingerprint-key "$T/k" "$T/c" > "$T/f.jsonl" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] || { cat "$T/err"; fail "scan exit $rc"; }
python3 tests/corpus/evaluate.py "$T/c/labels.json" "$T/f.jsonl"
