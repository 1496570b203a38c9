#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# vigil's benchmark: vigil against ripgrep, ClamAV and YARA on the same bytes, side by side
# in one run (warm cache, 2 jobs). Prints a table and writes it to bench/results-<date>.txt.
# Run through `make bench` (which builds vigil and installs the tools), or directly:
#   BUILD=build bench/run.sh
# Environment (all optional):
#   BENCH_WORK=DIR      keep the planted corpus and outputs in DIR between runs (default: a
#                       temporary directory removed at the end)
#   BENCH_SHARE=DIR     the system data set (default /usr/share)
#   BENCH_RUNS=N        timed runs after the warm-up; the median is reported (default 3)
#   BENCH_FULL_MAX=S    ClamAV and YARA run on the whole data set only if one run is
#                       estimated to take at most S seconds, else on a fixed ~100 MB slice
#                       (default 75, so that `make bench` stays within ~30 minutes)
#   BENCH_SUBSET_MB=N   size of that slice (default 100)
#   BENCH_PLANTED_MB=N  size of the planted corpus (default 500)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
case $BUILD in
/*) VIGIL=${VIGIL:-$BUILD/vigil} ;;
*) VIGIL=${VIGIL:-$PWD/$BUILD/vigil} ;;
esac
RUNS=${BENCH_RUNS:-3}
JOBS=2
SHARE=${BENCH_SHARE:-/usr/share}
FULL_MAX=${BENCH_FULL_MAX:-75}
SUBSET_MB=${BENCH_SUBSET_MB:-100}
PLANTED_MB=${BENCH_PLANTED_MB:-500}
RESULTS=bench/results-$(date +%F).txt
export LC_ALL=C

die() { echo "bench: $*" >&2; exit 2; }
note() { echo "bench: $*" >&2; }

[ -x "$VIGIL" ] || die "$VIGIL not found: run 'make' (or 'make bench') first"
for t in rg yara clamscan /usr/bin/time python3 zcat; do
	command -v "$t" >/dev/null || die "$t is missing: run 'scripts/deps.sh bench' as root"
done

if [ -n "${BENCH_WORK:-}" ]; then
	WORK=$BENCH_WORK
	mkdir -p "$WORK" || die "cannot create $WORK"
else
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench.XXXXXX") || die "mktemp failed"
	trap 'rm -rf "$WORK"' EXIT
fi
OUT=$WORK/out
rm -rf "$OUT"
mkdir -p "$OUT" "$WORK/clamdb"
# ripgrep and YARA get vigil's trigger patterns of this very tree, translated mechanically.
bench/rules/sync.py --out "$OUT/rules" || die "cannot translate src/rules.c (bench/rules/sync.py)"
RG_RULES=$OUT/rules/vigil.rg
YAR_RULES=$OUT/rules/vigil.yar
bench/rules/sync.py 2>/dev/null ||
	note "note: bench/rules/vigil.{rg,yar} are stale (run bench/rules/sync.py --write); using fresh ones"
ROWS=$OUT/rows
: >"$ROWS"
# ClamAV needs a database to start; one signature that matches nothing keeps its own
# signature scanning out of the way and leaves the structured-data (DLP) detection, which
# is what we compare. freshclam is never run: there is no network, and we want no other
# signatures.
printf 'VigilBench.Harmless:0:*:766967696c2d62656e63682d6e657665722d6d617463686573\n' \
	>"$WORK/clamdb/bench.ndb"
KEY=$WORK/fingerprint.key # so that a root run does not create /etc/vigil/fingerprint.key
EXTRA_YAR=$OUT/count-files.yar
echo 'rule vigil_bench_file { condition: true }' >"$EXTRA_YAR"

# ---- data sets ---------------------------------------------------------------------

# dataset_size DIR: "<bytes> <files>" of the regular files under DIR (links not followed,
# as every tool here runs).
dataset_size() {
	find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d %d\n", s, NR }'
}

# make_subset DIR DEST: every k-th regular file of DIR (sorted by path) copied to DEST with
# its relative path, k chosen to give about SUBSET_MB; the same slice on every run.
make_subset() {
	local src=$1 dest=$2 bytes k
	read -r bytes _ <<<"$(dataset_size "$src")"
	k=$(( (bytes + SUBSET_MB * 1000000 - 1) / (SUBSET_MB * 1000000) ))
	[ "$k" -ge 1 ] || k=1
	rm -rf "$dest"
	mkdir -p "$dest"
	(cd "$src" && find . -type f -print0 | sort -z |
		awk -v RS='\0' -v ORS='\0' -v k="$k" '(NR - 1) % k == 0' |
		cpio -0 -pdm --quiet "$dest") || die "cannot copy the slice of $src"
	echo "every ${k}th file"
}

# ---- measuring ---------------------------------------------------------------------

declare -A DS_DIR DS_BYTES DS_FILES DS_NOTE
add_dataset() { # ID DIR NOTE
	local b f
	read -r b f <<<"$(dataset_size "$2")"
	DS_DIR[$1]=$2 DS_BYTES[$1]=$b DS_FILES[$1]=$f DS_NOTE[$1]=$3
	note "data set $1: $2: $f files, $((b / 1000000)) MB ($3)"
}

# run_tool KIND DIR OUTFILE [timefile]: runs one tool configuration; KIND picks the
# command line, exactly as reported in README.md.
run_tool() {
	local kind=$1 dir=$2 out=$3 tf=${4:-} pre=()
	[ -n "$tf" ] && pre=(/usr/bin/time -f '%e %M' -o "$tf")
	# shellcheck disable=SC2016 # zcat's $1 is expanded by the sh it runs in
	case $kind in
	vigil-noarc) "${pre[@]}" "$VIGIL" scan --no-archives --jobs $JOBS --fingerprint-key "$KEY" "$dir" ;;
	vigil) "${pre[@]}" "$VIGIL" scan --jobs $JOBS --fingerprint-key "$KEY" "$dir" ;;
	vigil-noarc-json) "$VIGIL" scan --no-archives --jobs $JOBS --fingerprint-key "$KEY" --format json "$dir" ;;
	vigil-json) "$VIGIL" scan --jobs $JOBS --fingerprint-key "$KEY" --format json "$dir" ;;
	rg) "${pre[@]}" rg -j $JOBS --no-ignore --hidden -a -c -f "$RG_RULES" "$dir" ;;
	rg-z) "${pre[@]}" rg -j $JOBS --no-ignore --hidden -a -c -z -f "$RG_RULES" "$dir" ;;
	rg-stats) rg -j $JOBS --no-ignore --hidden -a -c --stats -f "$RG_RULES" "$dir" ;;
	rg-z-stats) rg -j $JOBS --no-ignore --hidden -a -c -z --stats -f "$RG_RULES" "$dir" ;;
	zcat) "${pre[@]}" sh -c 'find "$1" -type f -name "*.gz" -print0 | xargs -0 -r -P2 zcat -f >/dev/null' sh "$dir" ;;
	clam) "${pre[@]}" clamscan -d "$WORK/clamdb" --detect-structured=yes --structured-ssn-format=2 -r --no-summary "$dir" ;;
	clam-summary) clamscan -d "$WORK/clamdb" --detect-structured=yes --structured-ssn-format=2 -r "$dir" ;;
	yara) "${pre[@]}" yara -p $JOBS -r -N "$YAR_RULES" "$dir" ;;
	yara-count) yara -p $JOBS -r -N "$YAR_RULES" "$EXTRA_YAR" "$dir" ;;
	*) die "unknown tool $kind" ;;
	esac >"$out" 2>"$out.err"
}

# The warm-up run of each tool is also its check run: a variant that reports what the tool
# read (files, bytes) at no noticeable cost.
warm_kind() {
	case $1 in
	vigil-noarc) echo vigil-noarc-json ;;
	vigil) echo vigil-json ;;
	rg) echo rg-stats ;;
	rg-z) echo rg-z-stats ;;
	clam) echo clam-summary ;;
	yara) echo yara-count ;;
	*) echo "$1" ;;
	esac
}

# Acceptable exit statuses: vigil 0/1 (1 = findings), rg 0/1 (1 = no match), clamscan 0/1
# (1 = detections), yara 0. Anything else: the run is reported and marked.
status_ok() {
	case $1 in
	yara*) [ "$2" -eq 0 ] ;;
	zcat) [ "$2" -eq 0 ] ;;
	*) [ "$2" -le 1 ] ;;
	esac
}

# findings KIND OUTFILE: what the tool reported, with its unit.
findings() {
	case $1 in
	vigil*) sed -n 's/^Findings: \([0-9]*\).*/\1 findings/p' "$2" | tail -1 ;;
	rg*) awk -F: '{ n += $NF } END { printf "%d lines\n", n }' "$2" ;;
	clam*) echo "$(grep -c ' FOUND$' "$2") files" ;;
	yara*) echo "$(grep -vc '^vigil_bench_file ' "$2") rule hits" ;;
	zcat) echo "-" ;;
	esac
}

# seen KIND WARMFILE: files (and bytes) the tool says it read, from its warm-up run.
seen() {
	case $1 in
	vigil*) sed -n 's/^Scanned \([0-9]*\) files (\([^;)]*\).*/\1 files, \2/p' "$2.err" "$2" | tail -1 ;;
	rg*) printf '%s files, %s MB\n' "$(sed -n 's/^\([0-9]*\) files searched$/\1/p' "$2")" \
		"$(sed -n 's/^\([0-9]*\) bytes searched$/\1/p' "$2" | awk '{ printf "%.1f", $1 / 1e6 }')" ;;
	clam*) printf '%s files, %s\n' "$(sed -n 's/^Scanned files: //p' "$2")" \
		"$(sed -n 's/^Data scanned: //p' "$2") scanned" ;;
	yara*) echo "$(grep -c '^vigil_bench_file ' "$2") files" ;;
	*) echo "-" ;;
	esac
}

# measure ID KIND DATASET LABEL: a warm-up (check) run, then RUNS timed runs; appends one
# row "ID|label|dataset|median s|max RSS KB|findings|seen|status" to ROWS.
measure() {
	local id=$1 kind=$2 ds=$3 label=$4 dir=${DS_DIR[$3]} o=$OUT/$1 rc i times=() rss=0 bad=""
	note "$label on $ds ..."
	run_tool "$(warm_kind "$kind")" "$dir" "$o.warm"
	rc=$?
	status_ok "$kind" $rc || bad="warm-up exit $rc"
	for ((i = 1; i <= RUNS; i++)); do
		run_tool "$kind" "$dir" "$o.$i" "$o.time.$i"
		rc=$?
		status_ok "$kind" $rc || bad="${bad:+$bad, }run $i exit $rc"
		# /usr/bin/time puts "Command exited with non-zero status N" on a line before.
		read -r t m < <(tail -1 "$o.time.$i" 2>/dev/null)
		t=${t:-0} m=${m:-0}
		times+=("$t")
		[ "${m:-0}" -gt "$rss" ] && rss=$m
	done
	local med
	med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	echo "$id|$label|$ds|$med|$rss|$(findings "$kind" "$o.1")|$(seen "$kind" "$o.warm")|${bad:-ok}|${times[*]}" >>"$ROWS"
	[ -z "$bad" ] || { note "$label on $ds: $bad (stderr: $o.*.err)"; head -5 "$o.1.err" >&2; }
}

# The seconds of a measured row.
secs() { awk -F'|' -v id="$1" '$1 == id { print $4 }' "$ROWS"; }

# measure_slow ID KIND DS LABEL: ClamAV, YARA and rg -z (which starts a gzip process per
# .gz file). One run on the slice estimates a run on the whole data set; over FULL_MAX
# seconds the slice is what gets measured (vigil is then measured on the same slice), and
# the output says so.
declare -A SLOW_ON
measure_slow() {
	local id=$1 kind=$2 ds=$3 label=$4 sub=${3}-slice t est
	note "$label: probing on $sub"
	run_tool "$kind" "${DS_DIR[$sub]}" "$OUT/$id.probe" "$OUT/$id.probe.time"
	t=$(tail -1 "$OUT/$id.probe.time" | awk '{ print $1 }')
	est=$(awk -v t="$t" -v a="${DS_BYTES[$ds]}" -v b="${DS_BYTES[$sub]}" 'BEGIN { printf "%.0f", t * a / b }')
	if [ "$est" -le "$FULL_MAX" ]; then
		SLOW_ON[$id]=$ds
		note "$label: one run on $ds estimated at ${est} s: measuring the whole data set"
		measure "$id" "$kind" "$ds" "$label"
	else
		SLOW_ON[$id]=$sub
		note "$label: one run on $ds estimated at ${est} s (> ${FULL_MAX} s): measuring the slice $sub"
		echo "$id|estimate|$ds|$est" >>"$OUT/estimates"
		measure "$id" "$kind" "$sub" "$label"
	fi
}

# ---- the run -------------------------------------------------------------------------

START=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
note "start $(date -Is), load average $LOAD0"
if awk -v l="${LOAD0%% *}" 'BEGIN { exit !(l > 0.5) }'; then
	note "WARNING: the machine is busy (load $LOAD0): other work skews every figure"
fi

note "generating the planted corpus (bench/make_planted.py, ${PLANTED_MB} MB; cached in BENCH_WORK)"
python3 bench/make_planted.py "$WORK/planted" --size-mb "$PLANTED_MB" || die "make_planted.py failed"

add_dataset share "$SHARE" "this machine's $SHARE"
add_dataset planted "$WORK/planted" "generated, secrets planted"
for ds in share planted; do
	how=$(make_subset "${DS_DIR[$ds]}" "$WORK/$ds-slice")
	add_dataset "$ds-slice" "$WORK/$ds-slice" "$how of $ds"
done

for ds in share planted; do
	measure "vigil-noarc-$ds" vigil-noarc "$ds" "vigil --no-archives"
	measure "rg-$ds" rg "$ds" "rg (no -z)"
	measure "vigil-$ds" vigil "$ds" "vigil (archives)"
	measure "zcat-$ds" zcat "$ds" "zcat *.gz (decompression only)"
	measure_slow "rg-z-$ds" rg-z "$ds" "rg -z"
	measure_slow "clam-$ds" clam "$ds" "clamscan --detect-structured"
	measure_slow "yara-$ds" yara "$ds" "yara"
	for tool in rg-z clam yara; do
		if [ "${SLOW_ON[$tool-$ds]}" != "$ds" ]; then
			sub=${SLOW_ON[$tool-$ds]}
			[ -n "$(secs "vigil-noarc-$sub")" ] || measure "vigil-noarc-$sub" vigil-noarc "$sub" "vigil --no-archives"
			[ -n "$(secs "vigil-$sub")" ] || measure "vigil-$sub" vigil "$sub" "vigil (archives)"
		fi
	done
done

# ---- checks: do the tools read the same bytes, does vigil find what was planted ------

check_file=$OUT/checks
{
	echo "Files each tool read (from its warm-up run; find counts regular files, links not followed):"
	for ds in share planted share-slice planted-slice; do
		printf '  %-14s find: %s files, %s MB\n' "$ds" "${DS_FILES[$ds]}" "$((DS_BYTES[$ds] / 1000000))"
		awk -F'|' -v ds="$ds" '$3 == ds && $7 != "-" { printf "  %-14s %-32s %s\n", "", $2 ":", $7 }' "$ROWS"
	done
	echo
	echo "What vigil reported (on $SHARE a finding is a false positive unless it is a real key"
	echo "shipped as an example; with BENCH_WORK set, \$BENCH_WORK/out/<id>.warm lists them):"
	for id in vigil-noarc-share vigil-share vigil-noarc-planted vigil-planted; do
		printf '  %-22s %s\n' "$id:" "$(sed -n 's/^Findings: //p' "$OUT/$id.1")"
	done
	echo
	echo "Planted secrets found by vigil --no-archives (secrets inside archives not counted):"
	python3 bench/recall.py "$WORK/planted" "$OUT/vigil-noarc-planted.warm" --show 10 | sed 's/^/  /'
	echo
	echo "Planted secrets found by vigil with archives (all secrets):"
	python3 bench/recall.py "$WORK/planted" "$OUT/vigil-planted.warm" --archives --show 10 | sed 's/^/  /'
	echo
	echo "ClamAV structured detection (it must report card numbers on the planted corpus):"
	for ds in planted share; do
		f=$OUT/clam-$ds.warm
		printf '  %-14s %s\n' "${SLOW_ON[clam-$ds]}:" \
			"$(grep -o 'Heuristics\.Structured\.[A-Za-z]*' "$f" | sort | uniq -c | awk '{ printf "%s %s; ", $2, $1 }')"
	done
	grep -q 'Heuristics.Structured.CreditCardNumber' "$OUT/clam-planted.warm" ||
		echo "  WARNING: no Heuristics.Structured.CreditCardNumber on the planted corpus: structured detection did not run"
	echo
	echo "Rule equivalence, ripgrep vs YARA, per rule on the planted slice (files matched):"
	mapfile -t pats <"$RG_RULES"
	mapfile -t names < <(sed -n 's/^rule \([A-Za-z0-9_]*\) .*/\1/p' "$YAR_RULES")
	yara -r -N -p $JOBS "$YAR_RULES" "$WORK/planted-slice" 2>/dev/null >"$OUT/yara-rules"
	for i in "${!pats[@]}"; do
		r=$(rg -j $JOBS --no-ignore --hidden -a -l -e "${pats[$i]}" "$WORK/planted-slice" | sort)
		y=$(awk -v n="${names[$i]}" '$1 == n { sub(/^[^ ]* /, ""); print }' "$OUT/yara-rules" | sort)
		nr=$(printf '%s' "$r" | grep -c .) ny=$(printf '%s' "$y" | grep -c .)
		d=$(comm -3 <(printf '%s\n' "$r") <(printf '%s\n' "$y") | grep -c .)
		printf '  %-14s rg %5d  yara %5d  %s\n' "${names[$i]}" "$nr" "$ny" \
			"$([ "$d" -eq 0 ] && echo same || echo "DIFFER in $d files")"
	done
} >"$check_file" 2>&1

# ---- report --------------------------------------------------------------------------

END=$(date +%s)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
slice_note() { # TOOL DS: why a slice was measured instead of DS
	[ "${SLOW_ON[$1-$2]}" = "$2" ] ||
		echo " [slice: one run on all of $2 estimated at $(awk -F'|' -v id="$1-$2" '$1 == id { print $4 }' "$OUT/estimates") s]"
}
verdict() { # VALUE OP TARGET
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		if (v == "n/a") { print "n/a"; exit }
		ok = (op == "<=") ? v <= t : v >= t; print ok ? "met" : "MISSED" }'
}

{
	echo "vigil benchmark, $(date -Is)"
	echo
	echo "Machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)"
	lscpu | sed -n 's/^\(Model name\|Architecture\|CPU(s)\|Thread(s) per core\|L3 cache\):[[:space:]]*/  \1: /p'
	echo "Load average: $LOAD0 at start, $LOAD1 at end (1/5/15 min)"
	echo "Versions: $("$VIGIL" --version 2>&1 | sed -n 1p); $(rg --version | sed -n 1p);" \
		"yara $(yara -v); $(clamscan -V | cut -d/ -f1)"
	echo "rg and yara search for the $(grep -c . "$RG_RULES") trigger patterns of src/rules.c (bench/rules/sync.py translates them)."
	echo "Each figure: one warm-up run, then the median of $RUNS timed runs (all runs listed below)."
	echo "MB/s and files/s are the data set's on-disk bytes and regular files over the seconds."
	echo
	for ds in share planted share-slice planted-slice; do
		printf '  %-14s %s: %s files, %s MB (%s)\n' "$ds" "${DS_DIR[$ds]}" "${DS_FILES[$ds]}" \
			"$((DS_BYTES[$ds] / 1000000))" "${DS_NOTE[$ds]}"
	done
	echo
	printf '%-32s %-14s %8s %8s %9s %9s  %s\n' tool "data set" seconds "MB/s" "files/s" "RSS MB" findings
	while IFS="|" read -r _ label ds med rss fnd _ st _; do
		printf '%-32s %-14s %8.2f %8.0f %9.0f %9.1f  %s%s\n' "$label" "$ds" "$med" \
			"$(awk -v b="${DS_BYTES[$ds]}" -v s="$med" 'BEGIN { print (s > 0 ? b / 1e6 / s : 0) }')" \
			"$(awk -v f="${DS_FILES[$ds]}" -v s="$med" 'BEGIN { print (s > 0 ? f / s : 0) }')" \
			"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$fnd" "$([ "$st" = ok ] || echo "  [$st]")"
	done <"$ROWS"
	echo
	echo "Targets:"
	for ds in share planted; do
		r=$(ratio "$(secs vigil-noarc-$ds)" "$(secs rg-$ds)")
		printf '  %-58s %6s  (target <= 1.0: %s)\n' "engine: vigil --no-archives / rg, $ds" "$r" "$(verdict "$r" '<=' 1.0)"
	done
	for ds in share planted; do
		on=${SLOW_ON[rg-z-$ds]}
		r=$(ratio "$(secs "vigil-$on")" "$(secs "rg-z-$ds")")
		printf '  %-58s %6s  (no target; rg -z opens compressed files, not zip/tar members)%s\n' \
			"archives: vigil / rg -z, $on" "$r" "$(slice_note rg-z "$ds")"
		a=$(secs vigil-$ds) n=$(secs vigil-noarc-$ds) z=$(secs zcat-$ds)
		printf '  %-58s %6s  (+%s s; zcat of the .gz files alone: %s s)\n' \
			"archives: vigil / vigil --no-archives, $ds" "$(ratio "$a" "$n")" \
			"$(awk -v a="$a" -v n="$n" 'BEGIN { printf "%.2f", a - n }')" "$z"
	done
	for ds in share planted; do
		on=${SLOW_ON[clam-$ds]}
		r=$(ratio "$(secs clam-$ds)" "$(secs "vigil-$on")")
		printf '  %-58s %6s  (target >= 20: %s)%s\n' "clamscan / vigil (both open archives), $on" "$r" \
			"$(verdict "$r" '>=' 20)" "$(slice_note clam "$ds")"
		on=${SLOW_ON[yara-$ds]}
		r=$(ratio "$(secs yara-$ds)" "$(secs "vigil-noarc-$on")")
		printf '  %-58s %6s  (target >= 20: %s)%s\n' "yara / vigil --no-archives, $on" "$r" \
			"$(verdict "$r" '>=' 20)" "$(slice_note yara "$ds")"
	done
	maxrss=$(awk -F'|' '$2 ~ /^vigil/ && $5 > m { m = $5 } END { printf "%.1f", m / 1024 }' "$ROWS")
	printf '  %-58s %6s  (target <= 256 MB: %s)\n' "peak RSS of vigil, any run (MB)" "$maxrss" "$(verdict "$maxrss" '<=' 256)"
	echo
	cat "$check_file"
	echo
	echo "All timed runs (seconds):"
	awk -F'|' '{ printf "  %-32s %-14s %s\n", $2, $3, $9 }' "$ROWS"
	echo
	echo "Total time of this benchmark: $(( (END - START) / 60 )) min $(( (END - START) % 60 )) s"
} | tee "$RESULTS"
note "results written to $RESULTS"
