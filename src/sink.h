/* SPDX-License-Identifier: Apache-2.0 */
/* Alert sinks of `vigil watch`: deliver JSON alerts to a JSON Lines file, stdout or syslog
 * (local socket, UDP, TCP, TLS) from a thread of their own, with a bounded memory queue that
 * spills to an on-disk spool, so the daemon's event loop never waits on output and an alert
 * is lost only when a configured bound is hit, and then it is counted and reported.
 * Private to libvigil.
 *
 * Delivery guarantee: AT-LEAST-ONCE, in order. An alert is forgotten ("confirmed") only when
 *   - file, stdout: it was written whole and fdatasync(2) returned (regular files; for pipes
 *     and terminals, when write(2) returned);
 *   - unix, udp: the datagram was accepted by the kernel (udp gives no more: see below);
 *   - tcp, tls: the peer's TCP acknowledged every byte of it (SIOCOUTQ, tcp(7)) AND
 *     settle_ms have passed since, with the connection still up; or the connection was
 *     closed in order (we half-close, the peer reads to end of stream and closes).
 * Syslog over TCP (RFC 6587) and TLS (RFC 5425) has no application acknowledgement: a peer
 * that dies keeps bytes its TCP acknowledged but its process never wrote out (its socket
 * buffer, its memory queue). This is the problem RELP was made for; rsyslog's own omfwd
 * loses those messages. We do not speak RELP (the issue asks for RFC 5424 over TCP/TLS,
 * which every SIEM takes); instead every alert not yet confirmed is kept and, when the
 * connection breaks (write error, end of stream or reset seen while idle, TCP_USER_TIMEOUT,
 * io_timeout), sent again on the next connection, before anything newer. The receiver may
 * therefore see an alert twice, never zero times: alerts should carry their own unique id
 * so the SIEM can drop duplicates. A peer that acknowledges, stays connected for settle_ms,
 * and then loses what it had acknowledged is outside what this protocol can detect.
 * udp is fire-and-forget (RFC 5426): datagrams lost on the way are not known. unix
 * datagram sockets do not lose data (the sender waits while the receiver is full).
 *
 * Order: alerts are delivered in the order vigil_sink_send accepted them, across spilling,
 * reconnecting and restarts. Resent alerts repeat a contiguous run: the receiver sees
 * 1 2 3 4 | 3 4 5 6 ..., so the first occurrences are always in order.
 *
 * The spool: a directory (0700, files 0600) of append-only segment files of CRC-checked
 * records. Alerts go there when the memory queue is full, and the whole memory queue is
 * moved there when the peer is unreachable and at close, so they survive a restart of the
 * process; while the spool holds anything, new alerts are appended behind it (order). A
 * record is whole in the spool or not at all: a torn record (crash or power loss during a
 * write) is found at the next start, dropped and counted (stats.torn). Records survive a
 * crash of the process as soon as vigil_sink_send returns, and a power loss once the
 * worker's next fdatasync has run (within 200 ms, or at vigil_sink_flush).
 *
 * When a bound is hit: the NEWEST alert is dropped (the memory queue is full and there is
 * no spool, or the spool is at spool_max_bytes, or it cannot be written: disk full). For a
 * breach detector the first alerts of an attack are the evidence; dropping the oldest would
 * let an attacker flush them out by raising noise. Each drop is counted (stats.dropped),
 * and as soon as there is room again one alert of kind "alerts_dropped" is queued in the
 * place of the gap (severity 2, critical), so the SIEM sees the loss where it happened:
 *   {"type":"alerts_dropped","count":N,"first":"<RFC 3339>","last":"<RFC 3339>",
 *    "reason":"spool full"}
 * ("reason" is "spool full", "memory queue full" or "spool write failed: <strerror>").
 */
#ifndef VIGIL_SINK_H
#define VIGIL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/vigil.h"

/* The largest alert (JSON bytes) vigil_sink_send takes. rsyslog's default maxMessageSize is
 * 8 KiB: a receiver must be configured for at least this plus 400 bytes of header. */
#define VIGIL_SINK_ALERT_MAX 32768
/* The longest kind (RFC 5424 MSGID: 1-32 printable US-ASCII characters). */
#define VIGIL_SINK_KIND_MAX 32

typedef struct vigil_sink vigil_sink;

typedef struct vigil_sink_options {
	/* tls: the CA bundle (PEM) the server's certificate must chain to; required for
	 * tls://, not read otherwise. The server's name (or address) must match the
	 * certificate (RFC 6125); there is no option to skip either check. */
	const char *ca_file;
	/* tls: an optional client certificate chain (PEM) and its key (PEM; NULL = the key
	 * is in cert_file), for servers that require client authentication. */
	const char *cert_file;
	const char *key_file;
	/* The spool directory, or NULL for none (then alerts beyond queue_max are dropped
	 * and an outage loses what is in memory at exit). Created 0700 if missing; must be
	 * owned by us and not accessible to group or others; one sink per directory (locked). */
	const char *spool_dir;
	uint64_t spool_max_bytes; /* bound of the spool's files; at least 64 KiB */
	/* RFC 5424 HOSTNAME (1-255 printable ASCII) and APP-NAME (1-48 of [A-Za-z0-9._-]);
	 * NULL = gethostname(2) and "vigil". */
	const char *hostname;
	const char *app_name;
	/* Syslog facility 1-23. Default authpriv (10): security messages that syslog daemons
	 * keep in a file only privileged users read (Debian: /var/log/auth.log); kern (0) is
	 * refused, syslog daemons rewrite it for messages that are not from the kernel. */
	int facility;
	/* Alerts kept in memory (accepted, not yet confirmed) before new ones go to the
	 * spool. 0 is allowed with a spool: every alert is written to the spool first. */
	unsigned queue_max;
	/* tcp, tls: how long an alert the peer's TCP acknowledged is still kept for sending
	 * again (see the guarantee above). 0 = trust the TCP acknowledgement alone. */
	unsigned settle_ms;
	unsigned backoff_min_ms;     /* first wait before reconnecting; doubled, with jitter */
	unsigned backoff_max_ms;     /* cap of the wait (30 s by default) */
	unsigned connect_timeout_ms; /* TCP connect and TLS handshake */
	unsigned io_timeout_ms;    /* a write that makes no progress this long breaks the connection
				    * (also TCP_USER_TIMEOUT: unacknowledged data this old) */
	unsigned close_timeout_ms; /* vigil_sink_close: time to deliver what is queued */
} vigil_sink_options;

/* Fills *o with the defaults: no TLS files, no spool, spool_max_bytes 64 MiB, facility 10,
 * queue_max 4096, settle_ms 2000, backoff 250 ms doubling to 30 s, connect_timeout_ms
 * 5000, io_timeout_ms 30000, close_timeout_ms 5000. Start from these, then set fields. */
void vigil_sink_options_default(vigil_sink_options *o);

typedef struct vigil_sink_stats {
	uint64_t accepted;    /* alerts vigil_sink_send took (dropped ones excluded) */
	uint64_t sent;        /* alerts confirmed delivered (see the guarantee above) */
	uint64_t resent;      /* sends repeated after a broken connection: duplicates possible */
	uint64_t queued;      /* now in memory, not yet confirmed */
	uint64_t spooled;     /* now in the spool, not yet confirmed */
	uint64_t spool_bytes; /* size of the spool's files now */
	uint64_t dropped;     /* lost: a bound was hit (see above), or at close with no spool */
	uint64_t torn;        /* damaged spool records dropped when the spool was opened */
	uint64_t reconnects;  /* connections made after the first */
	uint64_t failures;    /* failed connects, writes and broken connections */
	bool connected;       /* a connection (file: an open file) is up now */
	int last_error;       /* VIGIL_E_* of the last failure, 0 if none yet */
	char last_error_msg[256]; /* the sentence for it: "tls://siem:6514: certificate ..." */
} vigil_sink_stats;

/*
 * Opens a sink and starts its thread; it connects in the background (see stats).
 * target:
 *   "-"                      JSON Lines on standard output (the fd is dup'ed)
 *   PATH                     JSON Lines appended to PATH (created 0600; reopened when it is
 *                            renamed or removed, so logrotate works without copytruncate)
 *   "unix", "unix:PATH"      the local syslog socket (/dev/log), datagrams in the format of
 *                            syslog(3) ("<PRI>Mmm dd hh:mm:ss APP[PID]: MSG"): journald and
 *                            rsyslog's imuxsock parse only that there (RFC 5424 is
 *                            mis-parsed: the version "1" becomes the program name)
 *   "udp://HOST[:PORT]"      RFC 5424 in RFC 5426 datagrams (port 514)
 *   "tcp://HOST[:PORT]"      RFC 5424, RFC 6587 octet counting "LEN SP MSG" (port 514)
 *   "tls://HOST[:PORT]"      the same in TLS 1.2 or later, RFC 5425 (port 6514)
 *   HOST is a name or an address; IPv6 in brackets: "tcp://[::1]:514".
 * o may be NULL for the defaults; it is copied (strings too), and files named in it are
 * read now: a bad CA file, certificate or key fails here, not later.
 * Every message is RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG, where
 * TIMESTAMP is the time of vigil_sink_send in UTC with microseconds, MSGID the alert's
 * kind ("-" if none), no structured data, and MSG the JSON as UTF-8 without a BOM (RFC
 * 8259 section 8.1: JSON senders must not add one, and SIEM JSON parsers reject it).
 * Returns 0 and sets *out; VIGIL_E_INVALID (bad target or option: err says which),
 * VIGIL_E_CRYPTO (TLS files), VIGIL_E_SYSTEM (spool directory, thread; errno kept),
 * VIGIL_E_NOMEM. err (cap bytes) receives a sentence on failure. Close with
 * vigil_sink_close.
 */
int vigil_sink_open(const char *target, const vigil_sink_options *o, vigil_sink **out, char *err,
		    size_t cap);

/*
 * Queues one alert and returns: never waits on the network or the peer, and never calls
 * fsync (with a spool in use it may append to a spool file: a write to the page cache).
 * severity: syslog 0 (emerg) to 7 (debug). kind: the RFC 5424 MSGID, e.g. "file_changed",
 * 1-32 printable ASCII characters, or NULL. json: one JSON value, len bytes of UTF-8 without
 * CR or LF (it becomes one line of a JSON Lines file), at most VIGIL_SINK_ALERT_MAX; copied.
 * Returns 0 (queued: memory or spool), VIGIL_E_INVALID (bad argument; the sink is closing),
 * VIGIL_E_LIMIT (dropped: a bound was hit; counted and reported as described above),
 * VIGIL_E_NOMEM (dropped, counted). Thread-safe.
 */
int vigil_sink_send(vigil_sink *s, int severity, const char *kind, const char *json, size_t len);

/*
 * Waits until every alert accepted before the call is delivered (file: written and synced;
 * tcp/tls: acknowledged by the peer's TCP) or is in the spool and synced to disk, or until
 * timeout_ms pass (-1: no limit). While the peer is unreachable the worker moves the memory
 * queue to the spool, so with a spool this returns soon. Returns 0, or VIGIL_E_LIMIT if
 * the time ran out (alerts are still only in memory; nothing is lost yet).
 */
int vigil_sink_flush(vigil_sink *s, int timeout_ms);

/* A snapshot of the counters. Thread-safe. */
void vigil_sink_get_stats(vigil_sink *s, vigil_sink_stats *st);

/*
 * Stops the sink: delivers what it can within close_timeout_ms (a stream is closed in order,
 * which confirms everything the peer read), then moves every alert not yet confirmed to
 * the spool, where the next vigil_sink_open of the same directory finds it and sends it
 * first. Frees s; accepts NULL. st (if not NULL) receives the final counters. Returns 0, or
 * VIGIL_E_LIMIT if alerts were lost (no spool, or it could not be written: st->dropped).
 */
int vigil_sink_close(vigil_sink *s, vigil_sink_stats *st);

#endif
