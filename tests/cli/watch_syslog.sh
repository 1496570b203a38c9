# Alerts to syslog as well as the JSON Lines file: RFC 5424 over UDP and over TCP (octet
# counting), severity in the PRI (facility authpriv), the kind as MSGID, the alert as MSG.
. tests/cli/lib.sh
. tests/cli/watch_lib.inc
D=$T/w; mkdir -p "$D"
# A receiver on 127.0.0.1: UDP datagrams or TCP octet-counted frames, one message a line.
"$PY" - "$T/port" "$T/syslog.txt" <<'PY' &
import socket, sys, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.1", 0)); t.listen(1)
open(sys.argv[1], "w").write("%d %d\n" % (u.getsockname()[1], t.getsockname()[1]))
out = open(sys.argv[2], "a", buffering=1)
def udp():
    while True:
        out.write("udp " + u.recv(65536).decode().replace("\n", " ") + "\n")
def tcp():
    c, _ = t.accept(); buf = b""
    while True:
        d = c.recv(65536)
        if not d: return
        buf += d
        while b" " in buf:
            n, rest = buf.split(b" ", 1)
            if len(rest) < int(n): break
            out.write("tcp " + rest[:int(n)].decode().replace("\n", " ") + "\n"); buf = rest[int(n):]
threading.Thread(target=udp, daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
threading.Event().wait(60)
PY
rpid=$!
for i in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.05; done
read -r UP TP < "$T/port"

start_watch --syslog "udp://127.0.0.1:$UP" "$D"
echo x > "$D/udp-file"
wait_alert "a['path'] == '$D/udp-file'" >/dev/null || fail "file alert"
for i in $(seq 100); do grep -q "udp-file" "$T/syslog.txt" 2>/dev/null && break; sleep 0.05; done
grep -qE '^udp <85>1 [0-9T:.-]+Z [^ ]+ vigil [0-9]+ agent - \{"@timestamp".*"event":"started"' "$T/syslog.txt" ||
	{ cat "$T/syslog.txt" >&2; fail "started alert over UDP (notice: PRI 85)"; }
grep -qE "^udp <84>1 .* integrity - \{.*\"path\":\"$D/udp-file\"" "$T/syslog.txt" ||
	{ cat "$T/syslog.txt" >&2; fail "integrity alert over UDP (warning: PRI 84)"; }
stop_watch

start_watch --syslog "tcp://127.0.0.1:$TP" --spool "$T/spool" "$D"
echo y > "$D/tcp-file"
for i in $(seq 100); do grep -q "tcp-file" "$T/syslog.txt" 2>/dev/null && break; sleep 0.05; done
grep -qE "^tcp <84>1 .* integrity - \{.*\"path\":\"$D/tcp-file\".*\"process\":\{\"pid\":$$," "$T/syslog.txt" ||
	{ cat "$T/syslog.txt" >&2; fail "integrity alert over TCP"; }
stop_watch
kill $rpid 2>/dev/null; wait $rpid 2>/dev/null
exit 0
