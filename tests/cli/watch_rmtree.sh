# rm -rf of a tree of many directories: its events are read after the directories are
# gone, so each file's removal is named only through the paths the watcher remembers of
# them. Every file must end up reported removed (none left at "added"), each repeat of the
# cycle too, and the stopping alert counts no event it could not name.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/w; mkdir -p "$D/tree"
head -c 32 /dev/urandom >"$T/k"; chmod 600 "$T/k"
B=(--db "$T/b.db" --key "$T/k")
run "$VIGIL" init "${B[@]}" --no-progress "$D"
expect_rc 0 "init"
start_watch --no-raw-device-guard --no-exfil-staging "${B[@]}"
# 600 directories (the old direct-mapped cache lost about a quarter of them), one file in
# each. Made, then removed once every addition was reported, so the daemon reads the
# removals of directories that are all gone, whatever its speed.
make_tree() {
	"$PY" - "$D/tree/t" <<'PY'
import os, sys
for i in range(600):
    d = os.path.join(sys.argv[1], "d%03d" % i)
    os.makedirs(d)
    with open(os.path.join(d, "f"), "w") as f:
        f.write(str(i))
PY
}
# settle EXPR N: waits until N alerts match.
settle() {
	for _ in $(seq 300); do
		[ "$(count_alerts "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "$2 alerts matching $1 expected, $(count_alerts "$1") seen"
}
for round in 1 2; do
	make_tree
	settle "a.get('path', '').endswith('/f') and a['change'] == 'added'" $((600 * round))
	rm -rf "$D/tree/t"
	settle "a.get('path', '').endswith('/f') and a['change'] == 'removed'" $((600 * round))
done
sleep 0.5
"$PY" - "$WA" <<'PY' || fail "a file's last alert is not its removal"
import json, sys
last = {}
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a.get("kind") == "integrity" and a["path"].endswith("/f"):
        last[a["path"]] = a["change"]
bad = [p for p, c in last.items() if c != "removed"]
if len(last) != 600 or bad:
    sys.exit("%d files seen, last alert not 'removed' for %d: %s" % (len(last), len(bad), bad[:3]))
PY
stop_watch
wait_alert "a['kind'] == 'agent' and a['event'] == 'stopping' and a['unnamed'] == 0" 2 >/dev/null ||
	fail "no event went unnamed"
echo "ok"
