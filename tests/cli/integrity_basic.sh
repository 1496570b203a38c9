# vigil init / check / accept / baseline on a tree the test builds: every kind of change
# is reported with the right attributes, accept takes only what it is told, history keeps
# the old values.
. tests/cli/lib.sh
D=$T/tree; DB=$T/db/base.db; K=$T/key
V() { "$VIGIL" "$1" --db "$DB" --key "$K" --no-progress "${@:2}"; }
mkdir -p "$D/etc/sub" "$D/bin"
echo "root:x:0:0" > "$D/etc/passwd"
echo "hello" > "$D/etc/motd"
printf '#!/bin/sh\necho hi\n' > "$D/bin/tool"; chmod 755 "$D/bin/tool"
ln -s ../etc/motd "$D/bin/link"
echo a > "$D/etc/sub/a"; echo gone > "$D/etc/sub/gone"
echo b > "$D/etc/typechange"

run V init "$D"; expect_rc 0 "init"
expect_out 'entries recorded' "init summary"; expect_out 'sealed with hmac-sha256' "seal mode shown"
[ "$(stat -c %a "$K")" = 600 ] || fail "key created 0600"
run V check; expect_rc 0 "unchanged tree"; expect_out '0 added, 0 removed, 0 changed' "summary"

# Content changed with mtime put back: found without trusting mtime.
touch -r "$D/etc/passwd" "$T/stamp"
echo "evil::0:0" > "$D/etc/passwd"; touch -r "$T/stamp" "$D/etc/passwd"
chmod 4755 "$D/bin/tool"
ln -sf ../etc/passwd "$D/bin/link"
rm "$D/etc/sub/gone"; echo new > "$D/etc/sub/new"
rm "$D/etc/typechange"; mkdir "$D/etc/typechange"
run V check; expect_rc 1 "changes"
expect_out '^Added:' "grouped: added"; expect_out '^Removed:' "grouped: removed"; expect_out '^Changed:' "grouped: changed"
expect_out "^\+ $D/etc/sub/new" "added file"; expect_out "^- $D/etc/sub/gone" "removed file"
expect_out "^~ $D/etc/passwd" "changed file"; expect_out 'hash .* -> ' "hash line"
expect_out 'mode +4755|mode +0755 -> 4755' "setuid shown"
expect_out 'target +\.\./etc/motd -> \.\./etc/passwd' "symlink target"

run V check --format json; expect_rc 1 "json"
python3 - "$T/out" "$D" <<'PY' || fail "json content"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
d = sys.argv[2]
by = {r["path"]: r for r in rows}
assert by[d + "/etc/sub/new"]["change"] == "added", by
assert by[d + "/etc/sub/gone"]["change"] == "removed"
p = by[d + "/etc/passwd"]
assert p["change"] == "changed" and "hash" in p["attributes"], p
assert "mtime" not in p["attributes"], p          # mtime was put back
assert len(p["old"]["hash"]) == 64 and p["old"]["hash"] != p["new"]["hash"]
t = by[d + "/bin/tool"]; assert t["attributes"] == ["mode", "ctime"] and t["new"]["mode"] == "4755", t
l = by[d + "/bin/link"]; assert "target" in l["attributes"] and l["new"]["target"] == "../etc/passwd"
tc = by[d + "/etc/typechange"]; assert tc["change"] == "changed" and "type" in tc["attributes"]
assert tc["old"]["type"] == "file" and tc["new"]["type"] == "dir", tc
assert [r["path"] for r in rows] == sorted(r["path"] for r in rows), "path order"
PY

# Extended attributes and inode flags, end to end.
echo x > "$D/etc/attrs"; run V accept "$D/etc/attrs"; expect_rc 0 "record attrs file"
if python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.vigil", b"v1")' "$D/etc/attrs" 2>/dev/null; then
	run V check --format json; expect_rc 1 "xattr added"
	grep -q "\"path\":\"$D/etc/attrs\".*\"attributes\":\[\"ctime\",\"xattrs\"\]" "$T/out" || { grep attrs "$T/out" >&2; fail "xattrs change named"; }
	grep -q '"new":{[^}]*"xattrs":"user.vigil=7631"' "$T/out" || fail "xattr value shown as hex"
fi
if chattr +i "$D/etc/attrs" 2>/dev/null; then
	run V check --format json; chattr -i "$D/etc/attrs"
	expect_rc 1 "immutable flag"
	grep -q "\"path\":\"$D/etc/attrs\".*\"flags\"" "$T/out" || fail "flags change named"
	grep -q '"new":{[^}]*"flags":"i"' "$T/out" || fail "flags shown as lsattr letters"
fi
rm -f "$D/etc/attrs"; run V accept "$D/etc/attrs"; expect_rc 0 "forget attrs file"

# --quick still sees content changes: writing moves ctime, which it trusts.
run V check --quick --format json; expect_rc 1 "quick"
grep -q "\"path\":\"$D/etc/passwd\".*hash" "$T/out" || fail "quick finds the content change"

# Accept one path: only it is taken in, the rest still reported.
run V accept -m "reviewed passwd" "$D/etc/passwd"; expect_rc 0 "accept one"
expect_out "$D/etc/passwd" "accepted change listed"
run V check --format json; expect_rc 1 "others remain"
grep -q "\"path\":\"$D/etc/passwd\"" "$T/out" && fail "accepted path no longer reported"
grep -q "\"path\":\"$D/bin/tool\"" "$T/out" || fail "other changes still reported"
run V baseline --history "$D/etc/passwd" --format json; expect_rc 0 "history"
grep -q '"action":"accept"' "$T/out" || fail "history has the accept"
grep -q '"note":"reviewed passwd"' "$T/out" || fail "history keeps the note"
grep -q '"old":{.*"hash"' "$T/out" || fail "history keeps old values"
# A directory accepts what lies below it, including removals.
run V accept "$D/etc/sub"; expect_rc 0 "accept dir"
run V check --format json; expect_rc 1 "still some"
grep -q "etc/sub/" "$T/out" && fail "subtree accepted"
run V accept --all; expect_rc 0 "accept all"
run V check; expect_rc 0 "clean after accept --all"
run V baseline "$D/etc"; expect_rc 0 "list"; expect_out "$D/etc/passwd" "lists entries"
run V baseline --format json; expect_rc 0 "list json"; expect_out '"values":\{"type":"dir"' "json values"

# Names with a newline and invalid UTF-8.
nl="$D/etc/new
line"; echo x > "$nl"; echo y > "$D/etc/bad$(printf '\377')name"
run V check --format json; expect_rc 1 "odd names"
expect_out 'path_bytes_b64' "invalid UTF-8 kept as base64"
expect_out 'new\\nline' "newline escaped in JSON"
run V check; expect_rc 1 "odd names text"; expect_out 'new\\x0aline' "newline escaped in text"

# Usage errors.
run "$VIGIL" init --db "$DB"; expect_rc 2 "init without paths"; expect_err 'give paths or --config' "says why"
run "$VIGIL" accept --db "$DB" --key "$K"; expect_rc 2 "accept without paths"
run "$VIGIL" check --db "$T/none.db" --key "$K"; expect_rc 2 "no baseline"; expect_err 'vigil init' "says to init"
run "$VIGIL" init --attrs bogus "$D"; expect_rc 2 "bad attribute"
exit 0
