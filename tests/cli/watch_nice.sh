# The work that can wait runs nicer than the daemon (--nice, the config's nice, default 10):
# the comparisons at N, the archive scanner at N+5 (at least 10); the loop and the threads
# that answer permission events keep the daemon's own, and the archive reader goes back to
# it after each batch of written files.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/w; mkdir -p "$D"
# nice_of NAME: the nice value of the daemon's thread NAME (field 19 of its stat).
nice_of() {
	local t
	for t in /proc/"$WPID"/task/*; do
		[ "$(cat "$t/comm")" = "$1" ] || continue
		sed 's/.*) //' "$t/stat" | cut -d' ' -f17
		return 0
	done
	fail "no thread named $1: $(cat /proc/"$WPID"/task/*/comm | tr '\n' ' ')"
}
# expect_nice NAME VALUE: the thread takes a moment to set it after it starts.
expect_nice() {
	local n
	for _ in $(seq 50); do
		n=$(nice_of "$1")
		[ "$n" = "$2" ] && return 0
		sleep 0.05
	done
	fail "$1 runs at nice $n, not $2"
}
own=$(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f17)
[ "$own" = 0 ] || skip "the test runs at nice $own"

start_watch --no-raw-device-guard "$D"
expect_nice vigil 0
expect_nice vigil-eval 10
expect_nice vigil-exfil 15
expect_nice vigil-destruct 0
# A written file passes through the archive reader (a tar stream is sniffed and scanned).
tar -cf "$D/a.tar" -C /etc hostname
wait_alert "a.get('path') == '$D/a.tar'" >/dev/null || fail "the archive is reported"
sleep 0.1
expect_nice vigil-exfil-rd 0
stop_watch

start_watch --no-raw-device-guard --nice 2 "$D"
expect_nice vigil-eval 2
expect_nice vigil-exfil 10
stop_watch

# The config's (with a baseline: --config names one).
printf '[path %s]\n[watch]\nnice = 19\n' "$D" >"$T/v.conf"
head -c 32 /dev/urandom >"$T/k"; chmod 600 "$T/k"
B=(--config "$T/v.conf" --db "$T/b.db" --key "$T/k")
run "$VIGIL" init "${B[@]}" --no-progress
expect_rc 0 "init"
start_watch --no-raw-device-guard "${B[@]}"
expect_nice vigil-eval 19
expect_nice vigil-exfil 19
expect_nice vigil 0
stop_watch
# The command line wins over the config.
start_watch --no-raw-device-guard "${B[@]}" --nice 0
expect_nice vigil-eval 0
expect_nice vigil-exfil 10
stop_watch

run "$VIGIL" watch --nice 20 "$D"
expect_rc 2 "--nice 20"
expect_err "nice wants a number from 0 to 19" "--nice 20 refused"
echo "ok"
