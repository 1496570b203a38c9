# vigil canary: decoys are planted believable and never over an existing file, listed,
# left unopened by vigil scan and the baseline, alerted by vigil watch on any open
# (naming the process), rename or deletion, and removed again.
. tests/cli/lib.sh
command -v python3 >/dev/null || skip "python3 missing"
D=$T/d; REG=$T/reg/sub/canaries.db
mkdir -p "$D"
echo "card on file: $CARD" > "$D/notes.txt" # an ordinary secret beside the decoys

run "$VIGIL" canary --help; expect_rc 0 "help"; expect_out '^usage: vigil canary plant' "usage"
expect_out 'Exit status' "exit statuses documented"
run "$VIGIL" canary; expect_rc 2 "no command"
run "$VIGIL" canary plant --db "$REG" --kind nonsense "$D"; expect_rc 2 "bad kind"
expect_err "unknown decoy kind 'nonsense'" "names the bad kind"
run "$VIGIL" canary plant --db relative.db "$D"; expect_rc 2 "relative --db"
run "$VIGIL" canary plant --db "$REG" "$T/missing"; expect_rc 2 "missing DIR"
run "$VIGIL" canary list --db "$REG"; expect_rc 0 "list without a registry"
expect_err 'nothing planted' "says nothing is planted"

# Planting: one decoy of each kind, printed; the registry private.
run "$VIGIL" canary plant --db "$REG" "$D"; expect_rc 0 "plant"
[ "$(grep -c '^planted' "$T/out")" = 4 ] || { cat "$T/out"; fail "4 decoys planted"; }
for k in passwords_xlsx ssh_key payroll_csv aws_credentials; do expect_out "^planted +$k +$D/" "$k planted"; done
[ "$(stat -c %a "$REG")" = 600 ] || fail "registry mode 0600"
[ "$(stat -c %a "$T/reg/sub")" = 700 ] || fail "registry directory mode 0700"
# The paths a plant printed ("planted  KIND  PATH  (dated ...)"; names may hold spaces).
planted() { sed -nE "s/^planted +${2:-[a-z_]+} +(.*)  \(dated .*\)\$/\1/p" "$1"; }
decoy() { planted "$T/plant1" "$1"; }
cp "$T/out" "$T/plant1"
XLSX=$(decoy passwords_xlsx); KEY=$(decoy ssh_key); CSV=$(decoy payroll_csv); AWS=$(decoy aws_credentials)
for f in "$XLSX" "$KEY" "$CSV" "$AWS"; do [ -f "$f" ] || fail "decoy $f exists"; done

# Believable: a real OOXML zip, a private key that parses, a payroll CSV with valid-looking
# numbers from never-issued SSN ranges and mod-97-valid IBANs, AWS-shaped keys, old mtimes.
python3 - "$XLSX" "$KEY" "$CSV" "$AWS" <<'PY' || fail "decoy contents"
import csv, os, re, sys, time, zipfile
xlsx, key, pay, aws = sys.argv[1:]
z = zipfile.ZipFile(xlsx)
assert z.testzip() is None
names = set(z.namelist())
for part in ("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml",
             "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"):
    assert part in names, (part, names)
sheet = z.read("xl/worksheets/sheet1.xml").decode()
assert "<t>Password</t>" in sheet and sheet.count("<row ") >= 9, sheet[:300]
k = open(key).read()
assert re.match(r"-----BEGIN (OPENSSH|RSA) PRIVATE KEY-----\n", k), k[:60]
assert k.rstrip().endswith("PRIVATE KEY-----")
rows = list(csv.DictReader(open(pay)))
assert len(rows) >= 15 and "ssn" in rows[0] and "iban" in rows[0]
for r in rows:
    if r["ssn"]:
        a, g, s = map(int, r["ssn"].split("-"))
        assert 900 <= a <= 999 and 1 <= g <= 49 and s >= 1, r   # issued to nobody
    else:
        i = r["iban"]; n = int("".join(str(int(c, 36)) for c in i[4:] + i[:4]))
        assert n % 97 == 1, i
a = open(aws).read()
assert re.search(r"^\[default\]\naws_access_key_id = AKIA[A-Z2-7]{16}\naws_secret_access_key = [A-Za-z0-9/+]{40}$", a, re.M), a
for f in sys.argv[1:]:
    age = time.time() - os.stat(f).st_mtime
    assert 25 * 86400 < age < 400 * 86400, (f, age)
PY
if command -v ssh-keygen >/dev/null; then
	ssh-keygen -y -f "$KEY" >/dev/null 2>&1 || fail "ssh-keygen reads the key decoy"
fi
[ "$(stat -c %a "$KEY")" = 600 ] || fail "key decoy mode 0600, as ssh keeps keys"

# A second plant chooses other names; a kind whose every name is taken fails without
# touching the files (nor writing through a symlink).
sums() { sha256sum "$XLSX" "$KEY" "$CSV" "$AWS"; }
sums > "$T/sums"
run "$VIGIL" canary plant --db "$REG" "$D"; expect_rc 0 "second plant"
sums | cmp -s - "$T/sums" || fail "second plant overwrote a decoy"
cp "$T/out" "$T/plant2"
[ "$( (planted "$T/plant1"; planted "$T/plant2") | sort -u | wc -l)" = 8 ] || fail "8 distinct decoys"
F=$T/full; mkdir "$F"
i=0
for n in aws_credentials credentials.bak aws-credentials.txt aws_keys_backup.txt credentials.aws.old aws_access_keys.txt; do
	if [ $((i % 2)) = 0 ]; then echo "mine $n" > "$F/$n"; else ln -s "$T/target$i" "$F/$n"; fi
	i=$((i + 1))
done
(cd "$F" && ls -l) > "$T/full.before"; sha256sum "$F"/*[a-z] 2>/dev/null > "$T/full.sums"
run "$VIGIL" canary plant --db "$REG" --kind aws_credentials "$F"; expect_rc 2 "every name taken"
expect_err 'every aws_credentials decoy name is taken' "says why"
(cd "$F" && ls -l) | cmp -s - "$T/full.before" || fail "existing files untouched"
! ls "$T"/target* >/dev/null 2>&1 || fail "wrote through a symlink"

# Listing: every decoy intact, never opened; JSON carries the record.
run "$VIGIL" canary list --db "$REG"; expect_rc 0 "list"
[ "$(grep -c '^intact ' "$T/out")" = 8 ] || { cat "$T/out"; fail "8 intact decoys listed"; }
run "$VIGIL" canary list --db "$REG" --format json; expect_rc 0 "list json"
python3 - "$T/out" "$XLSX" <<'PY' || fail "list json"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 8
x = [r for r in rows if r["path"] == sys.argv[2]][0]
assert x["kind"] == "passwords_xlsx" and x["state"] == "intact" and len(x["sha256"]) == 64
assert x["planted_by"] and x["planted"].endswith("Z") and x["ino"] > 0
PY

# vigil scan: the decoys hold detectable fake secrets (found when no registry is given),
# but with the registry they are skipped; the ordinary secret is still found.
run "$VIGIL" scan -f json --canaries "" "$D"; expect_rc 1 "scan without the registry"
grep -q "\"path\":\"$KEY\"" "$T/out" || fail "the key decoy is a detectable secret"
grep -q "\"path\":\"$AWS\"" "$T/out" || fail "the AWS decoy is a detectable secret"
run "$VIGIL" scan -f json --canaries "$REG" "$D"; expect_rc 1 "scan with the registry"
expect_out "\"path\":\"$D/notes.txt\"" "the ordinary secret is still found"
(planted "$T/plant1"; planted "$T/plant2") > "$T/decoys"
[ "$(wc -l < "$T/decoys")" = 8 ] || fail "8 decoy paths parsed"
while IFS= read -r f; do
	! grep -q "\"path\":\"$f\"" "$T/out" || fail "scan reported the decoy $f"
done < "$T/decoys"

# The baseline neither records nor opens decoys; a decoy planted later is no change.
cat > "$T/v.conf" <<EOF
[baseline]
database = $T/b.db
key = $T/b.key
[path $D]
[watch]
canaries = $REG
EOF
run "$VIGIL" init --config "$T/v.conf" --no-progress; expect_rc 0 "init"
run "$VIGIL" baseline --config "$T/v.conf" -f json; expect_rc 0 "baseline list"
expect_out "\"path\":\"$D/notes.txt\"" "ordinary file recorded"
! grep -q "\"path\":\"$XLSX\"" "$T/out" || fail "a decoy is in the baseline"
[ "$(grep -c '"path"' "$T/out")" = 2 ] || { cat "$T/out"; fail "only the directory and notes.txt recorded"; }
run "$VIGIL" canary plant --db "$REG" --kind payroll_csv "$D"; expect_rc 0 "plant after init"
P3=$(planted "$T/out")
run "$VIGIL" check --config "$T/v.conf" --no-progress; expect_rc 0 "check after planting: no change"
! grep -q "$P3" "$T/out" || fail "check reports the new decoy"
echo x > "$D/other.txt"
run "$VIGIL" check --config "$T/v.conf" --no-progress; expect_rc 1 "check"
expect_out "$D/other.txt" "an ordinary new file is reported"
rm "$D/other.txt"

# lstat alone says a decoy changed (its times, without opening it).
python3 -c 'import os, sys; st = os.stat(sys.argv[1]); os.utime(sys.argv[1], (st.st_atime, st.st_mtime - 60))' "$CSV"
run "$VIGIL" canary list --db "$REG"; expect_rc 1 "list with a changed decoy"
expect_out "^changed +payroll_csv .* $CSV\$" "the touched decoy is changed"

# ---- vigil watch ----
. tests/cli/watch_lib.inc
start_watch --canaries "$REG" "$D"
wait_alert "a['event'] == 'started' and a['defenses']['canary'].startswith('on: 9 decoys guarded')" 2 >/dev/null ||
	fail "started alert: canary defense on with 9 decoys"
ncanary() { count_alerts "a['kind'] == 'canary'"; }

# An open names the process, even one as short-lived as cat.
cat "$XLSX" > /dev/null & cp=$!
wait $cp
wait_alert "a['kind'] == 'canary' and a['severity'] == 'critical' and a['change'] == 'opened' and a['path'] == '$XLSX' and a['process']['pid'] == $cp and a['process']['name'] == 'cat' and a['process']['exe'].endswith('/cat') and a['action'] == 'alerted' and a['decoy']['kind'] == 'passwords_xlsx' and a['reason'].endswith('.')" >/dev/null ||
	fail "cat of a decoy alerted, naming cat"
sleep 0.3

# Listing the directory, stat, and a registry-aware scan open no decoy: no alert.
n0=$(ncanary)
ls -l "$D" > /dev/null; stat "$KEY" > /dev/null
"$VIGIL" canary list --db "$REG" > /dev/null
run "$VIGIL" scan -q --canaries "$REG" "$D"; expect_rc 1 "scan while watched"
sleep 1
[ "$(ncanary)" = "$n0" ] || { cat "$WA" >&2; fail "ls, stat, list or scan raised a canary alert"; }
# A scan that does not know the registry opens the decoys: alerted, naming it.
"$VIGIL" scan -q --canaries "" "$D" > /dev/null & sp=$!
wait $sp
wait_alert "a['kind'] == 'canary' and a['process']['pid'] == $sp and a['process']['name'] == 'vigil'" >/dev/null ||
	fail "a scan opening decoys is alerted"

# A decoy planted while watching is guarded at once (the registry is followed).
run "$VIGIL" canary plant --db "$REG" --kind ssh_key "$D"; expect_rc 0 "plant while watching"
K2=$(planted "$T/out")
sleep 0.5
head -c 16 "$K2" > /dev/null & hp=$!
wait $hp
wait_alert "a['kind'] == 'canary' and a['path'] == '$K2' and a['process']['pid'] == $hp" >/dev/null ||
	fail "a decoy planted after the start is guarded"

# Renaming or deleting a decoy is alerted; removing one with vigil canary remove is not.
"$PY" -c 'import os, sys, time; os.rename(sys.argv[1], sys.argv[2]); time.sleep(0.5)' "$AWS" "$D/moved" & mp=$!
wait_alert "a['kind'] == 'canary' and a['change'] == 'renamed' and a['path'] == '$AWS' and a['renamed_to'] == '$D/moved' and a['process']['pid'] == $mp" >/dev/null ||
	fail "rename of a decoy alerted"
wait $mp
# ... by the canary defense alone: the decoy under its new name is no integrity change.
sleep 0.3
[ "$(count_alerts "a['kind'] == 'integrity' and a['path'] == '$D/moved'")" = 0 ] ||
	{ cat "$WA" >&2; fail "a renamed decoy raised an integrity alert"; }
"$PY" -c 'import os, sys, time; os.unlink(sys.argv[1]); time.sleep(0.5)' "$CSV" & up=$!
wait_alert "a['kind'] == 'canary' and a['change'] == 'deleted' and a['path'] == '$CSV' and a['process']['pid'] == $up" >/dev/null ||
	fail "deletion of a decoy alerted"
wait $up
run "$VIGIL" canary remove --db "$REG" "$XLSX"; expect_rc 0 "remove while watching"
[ ! -e "$XLSX" ] || fail "removed decoy deleted"
sleep 1
[ "$(count_alerts "a['kind'] == 'canary' and a['path'] == '$XLSX' and a['change'] != 'opened'")" = 0 ] ||
	{ cat "$WA" >&2; fail "vigil canary remove raised an alert"; }
stop_watch

# Removal: a decoy whose content changed is unregistered but kept; the rest deleted.
python3 -c 'import sys; open(sys.argv[1], "a").write("# note\n")' "$KEY"
run "$VIGIL" canary remove --db "$REG" "$T/nothing-here"; expect_rc 1 "remove an unregistered path"
expect_err 'not a registered decoy' "says so"
run "$VIGIL" canary remove --db "$REG" --all; expect_rc 1 "remove --all with a changed decoy"
expect_err "$KEY: its content no longer matches" "warns about the changed decoy"
[ -f "$KEY" ] || fail "the changed decoy is kept"
(cat "$T/decoys"; echo "$P3"; echo "$K2") | while IFS= read -r f; do
	[ "$f" = "$KEY" ] || [ ! -e "$f" ] || fail "$f left behind"
done || exit 1
[ -f "$D/notes.txt" ] && [ -e "$D/moved" ] || fail "files that are not decoys are left alone"
run "$VIGIL" canary list --db "$REG"; expect_rc 0 "list after remove"
[ ! -s "$T/out" ] || { cat "$T/out"; fail "list empty after remove --all"; }
exit 0
