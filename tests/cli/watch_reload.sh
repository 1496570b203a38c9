# SIGHUP reloads the configuration without losing events; a configuration with errors
# is refused (the old one stays, an agent alert says why) and the change to the config
# file itself is a critical alert.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/tree; D2=$T/second; DB=$T/base.db; K=$T/key; C=$T/vigil.conf
mkdir -p "$D" "$D2"
echo a > "$D/a"; echo b > "$D2/b"
printf '[baseline]\ndatabase = %s\nkey = %s\n\n[path %s]\n' "$DB" "$K" "$D" > "$C"
run "$VIGIL" init --config "$C" --no-progress; expect_rc 0 "init"
start_watch --config "$C"
wait_alert "a['event'] == 'started' and any(w['path'] == '$D' and w['role'] == 'baseline' for w in a['watch'])" >/dev/null ||
	fail "started lists the configured root"

# A broken config: refused with FILE:LINE, the old policy keeps working.
cp "$C" "$T/good.conf"
printf '[path %s]\nattributes = type mode bogus\n' "$D2" >> "$C"
wait_alert "a['path'] == '$C' and a['severity'] == 'critical' and 'configuration' in a['reason'] and a['process']['pid'] == $$" >/dev/null ||
	fail "a change to the config file is critical"
kill -HUP "$WPID"
out=$(wait_alert "a['kind'] == 'agent' and a['event'] == 'reload_failed'") || fail "reload_failed alert"
echo "$out" | grep -q 'vigil.conf:[0-9]' || fail "reload_failed names file and line: $out"
echo "$out" | grep -q 'previous configuration stays' || fail "says the old config stays"
echo changed >> "$D/a"
wait_alert "a['path'] == '$D/a' and a['change'] == 'changed' and a['process']['pid'] == $$" >/dev/null ||
	fail "still watching with the old config after a failed reload"
kill -0 "$WPID" || fail "daemon survived the bad config"

# A good config adding a root: taken on SIGHUP; its files are watched from then on.
cp "$T/good.conf" "$C"
printf '\n[path %s]\n' "$D2" >> "$C"
kill -HUP "$WPID"
wait_alert "a['kind'] == 'agent' and a['event'] == 'reloaded' and any(w['path'] == '$D2' for w in a['watch'])" >/dev/null ||
	fail "reloaded with the new root"
echo new > "$D2/new"
wait_alert "a['path'] == '$D2/new' and a['change'] == 'added' and a['baseline'] is True and a['process']['pid'] == $$" >/dev/null ||
	fail "the new root is watched"
# Nothing was lost around the reload.
echo again >> "$D/a"
wait_alert "a['path'] == '$D/a' and a['change'] == 'changed' and a['new']['size'] == 16" >/dev/null ||
	fail "the old root is still watched"

stop_watch
check_alert_format
exit 0
