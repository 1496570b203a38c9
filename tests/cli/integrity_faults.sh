# Faults: the baseline's own files inside the tree, two runs at once, unreadable and
# vanishing files, config errors with file:line, and a crash during init.
. tests/cli/lib.sh
D=$T/tree; K=$T/tree/var/key   # the key inside the monitored tree too
mkdir -p "$D/data" "$D/var"
for i in $(seq 1 200); do echo "$i" > "$D/data/f$i"; done
DB=$D/var/base.db   # inside the monitored tree: excluded automatically
V() { "$VIGIL" "$1" --db "$DB" --key "$K" --no-progress "${@:2}"; }
run V init "$D"; expect_rc 0 "init with db inside the tree"
run V check; expect_rc 0 "own database, WAL and lock never reported"
run V baseline "$D/var"; expect_rc 0 "list"; expect_no_out 'base\.db' "database not recorded"

# Two at once: the second waits, or with --no-wait says why and stops.
mkdir -p "$D/big"; head -c 300000000 /dev/zero > "$D/big/blob"
run V accept --all; expect_rc 0 "accept big"
V check --jobs 1 >/dev/null 2>&1 & bg=$!
sleep 0.3
run V accept --no-wait "$D/data/f1"
wait $bg
if [ "$rc" -ne 0 ]; then expect_rc 2 "locked"; expect_err 'in use by another vigil' "says why"; fi
rm -rf "$D/big"; run V accept --all; expect_rc 0 "cleanup"

# Unreadable: reported as a warning, entry still recorded from lstat; no crash.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	U=$T/unr; mkdir -p "$U/d"; echo s > "$U/secret"; chmod 600 "$U/secret"; chmod 700 "$U/d"
	chmod 777 "$T"; chown nobody "$U"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$VIGIL" init --db "$T/u.db" --key "$T/ukey" --no-progress "$U"
	expect_rc 0 "init as nobody"; expect_err 'warning: .*secret' "unreadable file warned"
fi

# Files vanishing while init and check run.
mkdir -p "$D/churn"
( for i in $(seq 1 3000); do echo x > "$D/churn/c$((i % 50))"; rm -f "$D/churn/c$(((i + 25) % 50))"; done ) & ch=$!
for i in 1 2 3; do run V accept --all; [ "$rc" -le 1 ] || fail "accept under churn: $(cat "$T/err")"; done
wait $ch
run V accept --all; expect_rc 0 "settled"; run V check; expect_rc 0 "clean after churn"

# Config errors name file and line.
printf '[baseline]\nhash = sha256\n[path %s]\nattributes = type mode bogus\n' "$D" > "$T/bad.conf"
run "$VIGIL" init --config "$T/bad.conf" --db "$T/c.db" --key "$K"; expect_rc 2 "bad config"
expect_err "bad.conf:4:" "file:line"

# A crash (SIGKILL) during init leaves the previous baseline valid: one transaction.
mkdir -p "$D/many"; for i in $(seq 1 3000); do echo "$i" > "$D/many/m$i"; done
truncate -s 4G "$D/many/zz-big"   # hashed as 4 GB of zeros: seconds of work
run V accept --all; expect_rc 0 "baseline before the crash"
echo after > "$D/data/f2"
# vigil itself in the background (not the V function, whose subshell would be killed).
"$VIGIL" init --db "$DB" --key "$K" --no-progress --jobs 1 "$D" >/dev/null 2>&1 & pid=$!
sleep 0.7; kill -9 $pid 2>/dev/null || fail "init finished before the kill: make the tree bigger"
wait $pid 2>/dev/null
run V check --format json; expect_rc 1 "old baseline still valid after the crash"
grep -q "\"path\":\"$D/data/f2\"" "$T/out" || fail "old baseline's values used"
# The same for accept: killed mid-way, nothing of it is taken in.
"$VIGIL" accept --db "$DB" --key "$K" --no-progress --jobs 1 --all >/dev/null 2>&1 & pid=$!
sleep 0.7; kill -9 $pid 2>/dev/null || fail "accept finished before the kill"
wait $pid 2>/dev/null
run V check --format json; expect_rc 1 "accept killed: previous baseline still valid"
grep -q "\"path\":\"$D/data/f2\"" "$T/out" || fail "change still pending after the killed accept"
exit 0
