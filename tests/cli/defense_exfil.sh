# Exfiltration staging: archives holding secrets written in staging directories, protected
# paths or the baseline's roots are alerted (by content, not by name) with categories,
# counts and the writer; harmless archives are not; password-protected archives are; a
# process reading many of the inventory's secret files (vigil scan --record) is named.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
command -v openssl >/dev/null || skip "openssl missing"

# exfil_alerts EXPR: how many exfil_staging alerts match EXPR now.
exfil_count() { count_alerts "a['kind'] == 'exfil_staging' and ($1)"; }

# Fixtures: three card numbers, a private key, harmless text.
mkdir -p "$T/src" "$T/sec"
printf 'name,card\nA,%s\nB,%s\nC,%s\n' "$CARD" "$CARD" "$CARD" > "$T/src/cards.csv"
openssl genpkey -algorithm ed25519 -out "$T/src/id.pem" 2>/dev/null || fail "openssl genpkey"
printf 'just a shopping list\nmilk\n' > "$T/src/list.txt"
for i in $(seq 12); do printf 'card %s\n' "$CARD" > "$T/sec/s$i.txt"; done

# vigil scan --record: the inventory holds the 12 files, never a secret; --record=FILE.
run "$VIGIL" scan -q --fingerprint-key "$T/k" --record="$T/inv.db" "$T/sec"
expect_rc 1 "scan --record finds the cards"
[ "$(stat -c %a "$T/inv.db")" = 600 ] || fail "the inventory is private (mode 0600)"
! grep -q "$CARD" "$T/inv.db" || fail "the inventory holds a card number"
"$PY" - "$T/inv.db" "$T/sec" <<'PY' || fail "inventory contents"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("select path, payment_card from files").fetchall()
assert len(rows) == 12 and all(r[0].decode().startswith(sys.argv[2] + "/") and r[1] == 1 for r in rows), rows
assert db.execute("select count(*) from fingerprints").fetchone()[0] == 12
PY
# Recorded again after one file lost its secret: replaced for that root, not appended.
echo harmless > "$T/sec/s12.txt"
run "$VIGIL" scan -q --fingerprint-key "$T/k" --inventory "$T/inv.db" "$T/sec"; expect_rc 1 "record again"
[ "$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from files").fetchone()[0])' "$T/inv.db")" = 11 ] ||
	fail "the record replaced the root's entries"
printf 'card %s\n' "$CARD" > "$T/sec/s12.txt"
run "$VIGIL" scan -q --fingerprint-key "$T/k" --record="$T/inv.db" "$T/sec"; expect_rc 1 "record a third time"
echo "not sqlite" > "$T/bad.db"
run "$VIGIL" scan -q --record="$T/bad.db" "$T/sec"; expect_rc 2 "not an inventory"
expect_err "not a vigil inventory" "says so"

# ---- run 1: default staging dirs (/tmp covers $T), PATH, the inventory ----
W=$T/w; S=$T/stage; mkdir -p "$W" "$S"
start_watch --inventory "$T/inv.db" "$W"
wait_alert "a['event'] == 'started' and a['defenses']['exfil_staging'].startswith('on:') and 'inventory: 12 files' in a['defenses']['exfil_staging']" 2 >/dev/null ||
	fail "started alert: exfil_staging on with 12 inventory files"

# A zip of the cards written by Python into a staging dir: categories, counts, process.
act 'import zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.write(sys.argv[2], "cards.csv")
    z.write(sys.argv[3], "list.txt")' "$S/backup.zip" "$T/src/cards.csv" "$T/src/list.txt"
wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$S/backup.zip' and a['trigger'] == 'archive' and a['archive_format'] == 'zip' and a['categories'] == {'payment_card': 3} and a['encrypted'] is False and a['severity'] == 'warning' and a['process']['pid'] == $APID and a['action'] == 'alerted' and a['reason'].endswith('.')" >/dev/null ||
	fail "zip with cards alerted with counts and the writer"
! grep -q "$CARD" "$WA" || fail "an alert holds the card number"

# A tar.gz with a private key, in the protected PATH: critical.
act 'import tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    t.add(sys.argv[2], "keys/id.pem")' "$W/keys.tar.gz" "$T/src/id.pem"
wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$W/keys.tar.gz' and a['archive_format'] == 'gzip' and a['categories'] == {'private_key': 1} and a['severity'] == 'critical' and a['process']['pid'] == $APID" >/dev/null ||
	fail "tar.gz with a key alerted as critical"
grep -q "BEGIN PRIVATE" "$WA" && fail "an alert holds key material"

# Written and removed at once: the event's fd still reads it, and the alert says so.
act 'import os, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.write(sys.argv[2], "c.csv")
os.unlink(sys.argv[1])' "$S/gone.zip" "$T/src/cards.csv"
wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$S/gone.zip' and a.get('deleted') is True and a['categories'] == {'payment_card': 3}" >/dev/null ||
	fail "archive removed right after writing still scanned"

# The real tools: tar | gzip through a pipe, and an encrypted zip (zip -P) or 7z -p.
(cd "$T/src" && tar czf "$S/tools.tgz" cards.csv)
wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$S/tools.tgz' and a['categories'] == {'payment_card': 3}" >/dev/null ||
	fail "tar czf archive alerted"
if command -v zip >/dev/null; then
	(cd "$T/src" && zip -q -P secret "$S/locked.zip" list.txt)
	wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$S/locked.zip' and a['encrypted'] is True and a['categories'].get('encrypted_archive') == 1 and 'password-protected' in a['reason'] and a['process']['pid'] > 0" >/dev/null ||
		fail "password-protected zip alerted as such"
	ENC=1
elif command -v 7z >/dev/null; then
	(cd "$T/src" && 7z a -bd -y -psecret -mhe=on "$S/locked.7z" list.txt >/dev/null)
	wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$S/locked.7z' and a['encrypted'] is True" >/dev/null ||
		fail "password-protected 7z alerted as such"
	ENC=1
else
	echo "note: neither zip nor 7z: encrypted archives not tested"
fi

# /dev/shm (tmpfs, a default staging dir) in a directory of our own.
SHM=
if [ -d /dev/shm ] && SHM=$(mktemp -d /dev/shm/vigil-exfil.XXXXXX); then
	trap '[ -n "$WPID" ] && kill -9 "$WPID" 2>/dev/null; rm -rf "$T" "$SHM"' EXIT
	act 'import zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.write(sys.argv[2], "c.csv")' "$SHM/s.zip" "$T/src/cards.csv"
	wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$SHM/s.zip'" >/dev/null ||
		fail "archive in /dev/shm alerted"
fi

# No alert: harmless archives, a "zip" that is plain text, an empty file.
act 'import zipfile, tarfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.write(sys.argv[3], "list.txt")
with tarfile.open(sys.argv[2], "w:xz") as t:
    t.add(sys.argv[3], "list.txt")' "$S/harmless.zip" "$S/harmless.tar.xz" "$T/src/list.txt"
cp "$T/src/cards.csv" "$S/x.zip"
: > "$S/empty.gz"
# A marker archive written after them: once it is alerted, the others were judged.
act 'import zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.write(sys.argv[2], "c.csv")' "$S/marker.zip" "$T/src/cards.csv"
wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$S/marker.zip'" >/dev/null || fail "marker"
sleep 0.5
[ "$(exfil_count "'harmless' in a['path'] or a['path'].endswith('/x.zip') or 'empty' in a['path']")" = 0 ] ||
	fail "harmless archives, a plain-text x.zip or an empty file alerted"

# Secret reads: one cat over the inventory's files is one alert naming it. It then waits
# on stdin, so it is alive when its opens are read. (In a subshell: its parent is not
# this shell, whose children are counted next.)
(sleep 1.5 | cat "$T"/sec/s*.txt - >/dev/null)
wait_alert "a['kind'] == 'exfil_staging' and a['trigger'] == 'secret_reads' and a['process']['name'] == 'cat' and '$T/sec/s1.txt' in a['process']['cmdline'] and a['files_read'] >= 10 and a['categories']['payment_card'] >= 10 and len(a['files']) >= 10 and a['severity'] == 'warning'" >/dev/null ||
	fail "mass read of secret files alerted naming cat"
# One cat per file: the parent's tree is counted (once).
for i in $(seq 12); do cat "$T/sec/s$i.txt" >/dev/null; done
wait_alert "a['kind'] == 'exfil_staging' and a['trigger'] == 'secret_reads' and a.get('parent_pid') == $$" >/dev/null ||
	fail "many cats of one parent alerted"
sleep 0.5
[ "$(exfil_count "a['trigger'] == 'secret_reads'")" = 2 ] || fail "one alert per burst"
# A few reads do not alert.
cat "$T/sec/s1.txt" "$T/sec/s2.txt" >/dev/null
stop_watch
[ "$(exfil_count "a['trigger'] == 'secret_reads'")" = 2 ] || fail "a few reads alerted"

# zip_cards ZIP: a zip holding the card numbers, written by a process that lives on.
zip_cards() {
	act 'import zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.write(sys.argv[2], "c.csv")' "$1" "$T/src/cards.csv"
}

# ---- run 2: a baseline's root, configured staging dirs; /tmp no longer one ----
B=$T/base; S2=$T/stage2; O=$T/elsewhere; mkdir -p "$B" "$S2" "$O"
echo hello > "$B/readme"
cat > "$T/v.conf" <<EOF
[baseline]
database = $T/b.db
key = $T/b.key
[path $B]
[watch]
exfil_dirs = $S2
inventory = $T/none.db
EOF
run "$VIGIL" init --config "$T/v.conf" --no-progress; expect_rc 0 "init"
: > "$WA"
start_watch --config "$T/v.conf"
wait_alert "a['event'] == 'started' and 'no inventory' in a['defenses']['exfil_staging']" 2 >/dev/null ||
	fail "started alert says there is no inventory"
for d in "$O" "$B" "$S2"; do zip_cards "$d/out.zip"; done
wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$B/out.zip' and a['categories'] == {'payment_card': 3}" >/dev/null ||
	fail "archive in the baseline's root alerted"
wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$S2/out.zip'" >/dev/null ||
	fail "archive in a configured staging dir alerted"
sleep 0.5
[ "$(exfil_count "a['path'] == '$O/out.zip'")" = 0 ] || fail "archive outside every watched place alerted"
stop_watch

# ---- run 2b: --exfil-dir replaces the config's staging dirs ----
: > "$WA"
start_watch --config "$T/v.conf" --exfil-dir "$O"
for d in "$O" "$S2"; do zip_cards "$d/out2.zip"; done
wait_alert "a['kind'] == 'exfil_staging' and a['path'] == '$O/out2.zip'" >/dev/null ||
	fail "archive in an --exfil-dir alerted"
sleep 0.5
[ "$(exfil_count "a['path'] == '$S2/out2.zip'")" = 0 ] || fail "--exfil-dir replaces the config's exfil_dirs"
stop_watch

# ---- run 3: --no-exfil-staging ----
: > "$WA"
start_watch --no-exfil-staging "$W"
wait_alert "a['event'] == 'started' and a['defenses']['exfil_staging'].startswith('off')" 2 >/dev/null ||
	fail "off when asked"
stop_watch
echo "PASS"
