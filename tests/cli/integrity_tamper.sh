# A baseline that was edited, truncated, replaced or replayed is refused (exit 2) with a
# message naming the problem; Ed25519 mode verifies with the public key only.
. tests/cli/lib.sh
python3 -c 'import sqlite3' 2>/dev/null || skip "python3 sqlite3 module missing"
D=$T/tree; DB=$T/base.db; K=$T/key
V() { "$VIGIL" "$1" --db "$DB" --key "$K" --no-progress "${@:2}"; }
sql() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()' "$1" "$2"; }
mkdir -p "$D"; for i in 1 2 3 4 5; do echo "file $i" > "$D/f$i"; done
run V init "$D"; expect_rc 0 "init"
cp "$DB" "$T/gen1.db"
echo changed > "$D/f1"; run V accept "$D/f1"; expect_rc 0 "accept makes generation 2"
cp "$DB" "$T/good.db"
fresh() { cp "$T/good.db" "$DB"; rm -f "$DB-wal" "$DB-shm"; }
refused() { # refused WHAT REGEX
	run V check; expect_rc 2 "$1"; expect_err "$2" "$1: message"
}

fresh; run V check; expect_rc 0 "intact"
fresh; sql "$DB" "UPDATE entries SET mode = 511 WHERE path = CAST('$D/f2' AS BLOB)"
refused "edited row" "$D/f2.*(changed|edited)"
fresh; sql "$DB" "DELETE FROM entries WHERE path = CAST('$D/f3' AS BLOB)"
refused "deleted row" "deleted"
fresh; sql "$DB" "INSERT INTO entries SELECT CAST('$D/zz' AS BLOB), attrs, policy, hash_algo, type, mode, uid, gid, size, mtime_ns, ctime_ns, inode, nlink, rdev, target, hash, acl, caps, selinux, xattrs, flags, row_mac FROM entries WHERE path = CAST('$D/f2' AS BLOB)"
refused "inserted row" "added|inserted"
# Replay: the old row for f1 (validly MAC'd once) put back in place of the accepted one.
fresh; sql "$DB" "ATTACH '$T/gen1.db' AS old; DELETE FROM entries WHERE path = CAST('$D/f1' AS BLOB); INSERT INTO entries SELECT * FROM old.entries WHERE path = CAST('$D/f1' AS BLOB)"
refused "replayed row" "replayed"
fresh; sql "$DB" "UPDATE entries SET mode = 'rwxr-xr-x' WHERE path = CAST('$D/f2' AS BLOB)"
refused "value of the wrong type" "type|text"
fresh; sql "$DB" "UPDATE meta SET value = 'sha512' WHERE key = 'hash'"
refused "edited metadata" "seal does not verify|metadata"
fresh; sql "$DB" "UPDATE events SET user_name = 'someone else'"
refused "edited history" "seal does not verify|history"
fresh; sql "$DB" "PRAGMA user_version = 99"
refused "newer schema" "schema version 99"
fresh; head -c 4096 "$T/good.db" > "$DB"; refused "truncated" "corrupt|truncated"
: > "$DB"; rm -f "$DB-wal" "$DB-shm"; refused "empty file" "not a vigil baseline|empty"
head -c 8192 /dev/urandom > "$DB"; refused "garbage" "not a (vigil baseline|database)|corrupt"
fresh; run "$VIGIL" check --db "$DB" --key "$T/otherkey" --no-progress; expect_rc 2 "missing key"
head -c 32 /dev/urandom > "$T/otherkey"; chmod 600 "$T/otherkey"
fresh; run "$VIGIL" check --db "$DB" --key "$T/otherkey" --no-progress; expect_rc 2 "wrong key"
expect_err "seal does not verify|changed after" "wrong key named"
chmod 644 "$T/otherkey"
fresh; run "$VIGIL" check --db "$DB" --key "$T/otherkey" --no-progress; expect_rc 2 "key readable by others"
expect_err "chmod|permission" "says to fix permissions"
# A whole older baseline replayed verifies by itself: the generation tells (and syslog
# holds the off-host copy of every generation's digest).
cp "$T/gen1.db" "$DB"; rm -f "$DB-wal" "$DB-shm"; run V check; expect_rc 1 "old baseline still sealed"
expect_out 'generation 1' "reports its generation so an operator can compare"

# Ed25519: signed with a private key kept off the host, verified with the public key.
openssl genpkey -algorithm ed25519 -out "$T/sign.pem" 2>/dev/null || skip "no openssl"
openssl pkey -in "$T/sign.pem" -pubout -out "$T/sign.pub" 2>/dev/null
rm -f "$DB" "$DB-wal" "$DB-shm"
run "$VIGIL" init --db "$DB" --signing-key "$T/sign.pem" --no-progress "$D"; expect_rc 0 "ed25519 init"
expect_out 'sealed with ed25519' "mode shown"
run "$VIGIL" check --db "$DB" --public-key "$T/sign.pub" --no-progress; expect_rc 0 "ed25519 check"
run "$VIGIL" check --db "$DB" --key "$K" --no-progress; expect_rc 2 "hmac key on an ed25519 baseline"
expect_err "ed25519" "names the mode"
# An intruder re-seals with an on-host HMAC key: a policy that wants a signature refuses.
run "$VIGIL" init --db "$DB" --key "$K" --no-progress "$D"; expect_rc 0 "downgraded"
run "$VIGIL" check --db "$DB" --public-key "$T/sign.pub" --no-progress; expect_rc 2 "downgrade refused"
expect_err "hmac|ed25519" "names the mode"
sql "$DB" "SELECT 1"
# Accept refuses to launder a tampered baseline.
fresh; sql "$DB" "UPDATE entries SET mode = 511 WHERE path = CAST('$D/f2' AS BLOB)"
run V accept --all; expect_rc 2 "accept on a tampered baseline"
exit 0
