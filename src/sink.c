/* SPDX-License-Identifier: Apache-2.0 */
/* The sink core: the memory queue and its spill into the spool, the worker thread that
 * connects with backoff, writes batches and confirms them (sink.h: the guarantee), flush,
 * the counters and the notice of dropped alerts. Backends: sink_file.c, sink_syslog.c. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>

#include "json.h"
#include "sink_int.h"

/* Appended spool records reach the disk at least this often (sink.h promises 200 ms). */
#define SYNC_INTERVAL_MS 200
/* How often the kernel is asked what the peer acknowledged while some is outstanding. */
#define ACK_POLL_MS 20
/* A file sink syncs at most this long after a write: one fdatasync then covers every batch
 * written meanwhile (a storm of alerts costs tens of syncs a second, not thousands). */
#define FILE_SYNC_GROUP_MS 20
/* After a write, the worker waits this long for more alerts before it goes idle. */
#define BATCH_PAUSE_NS (1000 * 1000)
/* Room for a framed message around the largest alert: RFC 5424 header fields at their
 * maximum lengths (section 6) plus the octet count. */
#define SINK_FRAME_MAX (VIGIL_SINK_ALERT_MAX + 512)
#define NOTICE_MAX     1024

int64_t vigil_sink_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void vigil_sink_options_default(vigil_sink_options *o)
{
	memset(o, 0, sizeof(*o));
	o->spool_max_bytes = 64u << 20;
	o->facility = 10;
	o->queue_max = 4096;
	o->settle_ms = 2000;
	o->backoff_min_ms = 250;
	o->backoff_max_ms = 30000;
	o->connect_timeout_ms = 5000;
	o->io_timeout_ms = 30000;
	o->close_timeout_ms = 5000;
}

/* ---- targets ---- */

static int bad(char *err, size_t cap, const char *fmt, const char *arg)
{
	if (err != NULL && cap > 0)
		snprintf(err, cap, fmt, arg);
	return VIGIL_E_INVALID;
}

static bool host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static int parse_hostport(const char *target, const char *hp, const char *defport, sink_target *t,
			  char *err, size_t cap)
{
	const char *host = hp, *host_end, *rest;
	size_t hlen;

	if (*hp == '[') {
		unsigned char a6[16];

		host = hp + 1;
		if ((host_end = strchr(host, ']')) == NULL)
			return bad(err, cap, "target %s: missing ']' after an IPv6 address",
				   target);
		rest = host_end + 1;
		hlen = (size_t)(host_end - host);
		if (hlen == 0 || hlen >= 64)
			return bad(err, cap, "target %s: bad IPv6 address", target);
		memcpy(t->host, host, hlen);
		t->host[hlen] = '\0';
		if (inet_pton(AF_INET6, t->host, a6) != 1)
			return bad(err, cap, "target %s: bad IPv6 address", target);
	} else {
		const char *colon = strchr(hp, ':');

		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return bad(err, cap,
				   "target %s: write IPv6 addresses in brackets: [::1]:514",
				   target);
		host_end = colon ? colon : hp + strlen(hp);
		rest = host_end;
		hlen = (size_t)(host_end - host);
		if (hlen == 0 || hlen >= sizeof(t->host))
			return bad(err, cap, "target %s: missing or overlong host name", target);
		for (size_t i = 0; i < hlen; i++)
			if (!host_char_ok(host[i]))
				return bad(err, cap, "target %s: bad character in the host name",
					   target);
		memcpy(t->host, host, hlen);
		t->host[hlen] = '\0';
	}
	if (*rest == '\0') {
		strcpy(t->port, defport);
		return 0;
	}
	if (*rest != ':' || rest[1] == '\0' || strlen(rest + 1) > 5)
		return bad(err, cap, "target %s: expected :PORT after the host", target);
	{
		unsigned long port = 0;

		for (const char *p = rest + 1; *p; p++) {
			if (*p < '0' || *p > '9')
				return bad(err, cap, "target %s: the port must be a number",
					   target);
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return bad(err, cap, "target %s: the port must be 1 to 65535", target);
		snprintf(t->port, sizeof(t->port), "%lu", port);
	}
	return 0;
}

int vigil_sink_parse_target(const char *target, sink_target *t, char *err, size_t cap)
{
	static const struct {
		const char *prefix;
		sink_kind kind;
		const char *port;
	} schemes[] = {
	    {"udp://", SINK_UDP, "514"},  /* RFC 5426 */
	    {"tcp://", SINK_TCP, "514"},  /* no IANA port for RFC 6587; 514 is what is used */
	    {"tls://", SINK_TLS, "6514"}, /* RFC 5425 */
	};

	memset(t, 0, sizeof(*t));
	if (target == NULL || *target == '\0')
		return bad(err, cap, "empty sink target%s", "");
	if (strcmp(target, "-") == 0) {
		t->kind = SINK_STDOUT;
		return 0;
	}
	if (strcmp(target, "unix") == 0 || strncmp(target, "unix:", 5) == 0) {
		const char *path = target[4] ? target + 5 : "/dev/log";

		t->kind = SINK_UNIX;
		if (*path != '/')
			return bad(err, cap, "target %s: the socket path must be absolute", target);
		if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return bad(err, cap, "target %s: the socket path is too long", target);
		strcpy(t->path, path);
		return 0;
	}
	for (size_t i = 0; i < sizeof(schemes) / sizeof(*schemes); i++)
		if (strncmp(target, schemes[i].prefix, 6) == 0) {
			t->kind = schemes[i].kind;
			return parse_hostport(target, target + 6, schemes[i].port, t, err, cap);
		}
	if (strstr(target, "://") != NULL)
		return bad(err, cap,
			   "target %s: unknown scheme (use a file path, -, unix, unix:PATH, "
			   "udp://, tcp:// or tls://)",
			   target);
	if (strlen(target) >= sizeof(t->path))
		return bad(err, cap, "target %s: path too long", target);
	t->kind = SINK_FILE;
	strcpy(t->path, target);
	return 0;
}

/* ---- errors ---- */

int vigil_sink_conn_fail(vigil_sink *s, int rc, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vsnprintf(s->conn_err, sizeof(s->conn_err), fmt, ap);
	va_end(ap);
	errno = e;
	return rc;
}

static void set_error_locked(vigil_sink *s, int rc, const char *msg)
{
	s->st.last_error = rc;
	snprintf(s->st.last_error_msg, sizeof(s->st.last_error_msg), "%s: %s", s->name, msg);
}

int vigil_sink_wait_fd(vigil_sink *s, int fd, short events, int timeout_ms)
{
	int64_t end = vigil_sink_now_ms() + timeout_ms;

	for (;;) {
		int64_t now = vigil_sink_now_ms(), stop = atomic_load(&s->stop_deadline_ms);
		int64_t left = end - now;
		struct pollfd p = {.fd = fd, .events = events};
		int r;

		if ((stop && now >= stop) || left <= 0) {
			errno = ETIMEDOUT;
			return 0;
		}
		/* Slices, so that a close deadline is seen while a peer stalls. */
		r = poll(&p, 1, left < 100 ? (int)left : 100);
		if (r > 0)
			return r;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* ---- the queue (callers hold s->mu) ---- */

static void wake_locked(vigil_sink *s)
{
	uint64_t one = 1;

	if (s->idle) {
		s->idle = false;
		if (write(s->wakefd, &one, sizeof(one)) < 0) {
			/* eventfd write fails only on counter overflow: the worker is awake. */
		}
	}
}

static void rec_view(const sink_rec *r, vigil_spool_rec *v)
{
	v->time_us = r->time_us;
	v->severity = r->severity;
	v->kind = r->kind;
	v->kind_len = r->kind_len;
	v->json = r->json;
	v->len = r->len;
}

static void reason_copy(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	/* It goes into a JSON string: keep it to plain printable ASCII. */
	for (; src[i] && i + 1 < cap; i++)
		dst[i] = (src[i] >= 32 && src[i] < 127 && src[i] != '"' && src[i] != '\\') ? src[i]
											   : ' ';
	dst[i] = '\0';
}

/* Puts one alert behind everything queued: in memory while the spool is idle and there is
 * room, else in the spool. Returns 0, VIGIL_E_LIMIT or VIGIL_E_NOMEM; *reason says why. */
static int enqueue_locked(vigil_sink *s, int64_t t_us, int severity, const char *kind, size_t klen,
			  const char *json, size_t len, const char **reason)
{
	vigil_spool_rec v = {t_us, severity, kind, klen, json, len};
	int rc;

	if ((s->spool == NULL || !vigil_spool_busy(s->spool)) && s->q_count < s->opt.queue_max) {
		sink_rec *r = malloc(sizeof(*r) + len);

		if (r == NULL) {
			*reason = "out of memory";
			return VIGIL_E_NOMEM;
		}
		r->next = NULL;
		r->seq = ++s->q_next_seq;
		r->time_us = t_us;
		r->severity = severity;
		r->kind_len = klen;
		if (klen)
			memcpy(r->kind, kind, klen);
		r->len = len;
		memcpy(r->json, json, len);
		if (s->q_tail)
			s->q_tail->next = r;
		else
			s->q_head = r;
		s->q_tail = r;
		if (s->q_unsent == NULL)
			s->q_unsent = r;
		s->q_count++;
		return 0;
	}
	if (s->spool == NULL) {
		*reason = "memory queue full";
		return VIGIL_E_LIMIT;
	}
	rc = vigil_spool_append(s->spool, &v);
	if (rc == 0) {
		s->spool_appended++;
		if (s->spool_dirty_ms == 0)
			s->spool_dirty_ms = vigil_sink_now_ms();
		return 0;
	}
	if (rc == VIGIL_E_LIMIT) {
		*reason = "spool full";
	} else {
		snprintf(s->why, sizeof(s->why), "spool write failed: %s", strerror(errno));
		*reason = s->why;
		set_error_locked(s, VIGIL_E_SYSTEM, s->why);
	}
	return rc == VIGIL_E_NOMEM ? rc : VIGIL_E_LIMIT;
}

static void drop_locked(vigil_sink *s, int64_t t_us, const char *reason)
{
	s->st.dropped++;
	if (s->drop_count++ == 0) {
		s->drop_first_us = t_us;
		reason_copy(s->drop_reason, sizeof(s->drop_reason), reason);
	}
	s->drop_last_us = t_us;
}

/* Whether a record of payload a, and then one of b (if b > 0), would be queued now. */
static bool fits_locked(vigil_sink *s, size_t a, size_t b)
{
	size_t sizes[2] = {a, b};

	if ((s->spool == NULL || !vigil_spool_busy(s->spool)) &&
	    s->q_count + (b ? 2 : 1) <= s->opt.queue_max)
		return true;
	return s->spool != NULL && vigil_spool_fits(s->spool, sizes, b ? 2 : 1);
}

/* Queues the notice of the alerts dropped since the last one, if there is room now for it
 * and for an alert of `next` payload bytes behind it: a notice squeezed into room that the
 * next alert does not find would only open a new gap, and notices would pile up one per
 * dropped alert. */
static void notice_locked(vigil_sink *s, size_t next)
{
	char json[NOTICE_MAX], now[32], first[32], last[32], host[2 * sizeof(s->id.hostname)];
	const char *reason;
	size_t h = 0;
	int n;

	if (s->drop_count == 0)
		return;
	vigil_sink_rfc3339(now, wall_us());
	vigil_sink_rfc3339(first, s->drop_first_us);
	vigil_sink_rfc3339(last, s->drop_last_us);
	/* The host name is printable ASCII (checked at open): only " and \ need escaping. */
	for (const char *c = s->id.hostname; *c && h + 2 < sizeof(host); c++) {
		if (*c == '"' || *c == '\\')
			host[h++] = '\\';
		host[h++] = *c;
	}
	host[h] = '\0';
	/* Shaped like the watcher's agent alerts, so a SIEM files it with them. */
	n = snprintf(json, sizeof(json),
		     "{\"@timestamp\":\"%s\",\"host\":\"%s\",\"kind\":\"agent\","
		     "\"event\":\"alerts_dropped\",\"severity\":\"error\",\"action\":\"alerted\","
		     "\"reason\":\"%" PRIu64 " alert%s dropped by the output to %s (%s) between %s "
		     "and %s\",\"count\":%" PRIu64 ",\"first\":\"%s\",\"last\":\"%s\","
		     "\"cause\":\"%s\"}",
		     now, host, s->drop_count, s->drop_count == 1 ? " was" : "s were", s->be->name,
		     s->drop_reason, first, last, s->drop_count, first, last, s->drop_reason);
	if (n <= 0 || (size_t)n >= sizeof(json) || !fits_locked(s, 14 + (size_t)n, next))
		return;
	if (enqueue_locked(s, wall_us(), 2, "alerts_dropped", 14, json, (size_t)n, &reason) == 0)
		s->drop_count = 0;
}

static bool kind_ok(const char *kind, size_t klen)
{
	if (klen > VIGIL_SINK_KIND_MAX)
		return false;
	for (size_t i = 0; i < klen; i++)
		if (kind[i] < 33 || kind[i] > 126)
			return false;
	return true;
}

int vigil_sink_send(vigil_sink *s, int severity, const char *kind, const char *json, size_t len)
{
	size_t klen = kind ? strlen(kind) : 0;
	const char *reason = NULL;
	int64_t t = wall_us();
	int rc;

	if (s == NULL || severity < 0 || severity > 7 || !kind_ok(kind, klen) || json == NULL ||
	    len == 0 || len > VIGIL_SINK_ALERT_MAX || memchr(json, '\n', len) ||
	    memchr(json, '\r', len) || memchr(json, '\0', len) || !vigil_utf8_valid(json, len))
		return VIGIL_E_INVALID;
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		return VIGIL_E_INVALID;
	}
	notice_locked(s, klen + len);
	if (s->drop_count > 0) {
		/* The notice must come before anything newer: while it has no room, neither
		 * has this alert. */
		drop_locked(s, t, s->drop_reason);
		rc = VIGIL_E_LIMIT;
	} else if ((rc = enqueue_locked(s, t, severity, kind, klen, json, len, &reason)) != 0) {
		drop_locked(s, t, reason);
	} else {
		s->st.accepted++;
	}
	wake_locked(s);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---- the worker (holds s->mu except where it says) ---- */

static void free_queue_head(vigil_sink *s, uint64_t upto)
{
	while (s->q_head && s->q_head->seq <= upto) {
		sink_rec *r = s->q_head;

		assert(r != s->q_unsent);
		s->q_head = r->next;
		if (s->q_head == NULL)
			s->q_tail = NULL;
		s->q_count--;
		free(r);
	}
}

static uint64_t next_random(vigil_sink *s)
{
	/* xorshift64: jitter only, nothing secret. */
	static _Thread_local uint64_t x;

	if (x == 0)
		x = (uint64_t)wall_us() ^ (uint64_t)(uintptr_t)s ^ (uint64_t)getpid() << 32 ^ 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

static void schedule_retry_locked(vigil_sink *s)
{
	unsigned d = s->backoff_ms;

	/* Up to a quarter more, so that many hosts cut off by one SIEM outage do not all
	 * come back in the same second. */
	s->next_attempt_ms = vigil_sink_now_ms() + d + (int64_t)(next_random(s) % (d / 4 + 1));
	s->backoff_ms = d > s->opt.backoff_max_ms / 2 ? s->opt.backoff_max_ms : d * 2;
}

/* Forgets the marks: everything unconfirmed will be written again, oldest first. */
static void rewind_locked(vigil_sink *s, bool count_resent)
{
	for (size_t i = 0; i < s->nmarks; i++)
		if (count_resent)
			s->st.resent += s->marks[(s->mark_head + i) % SINK_MARKS].nrec;
	s->nmarks = 0;
	s->q_unsent = s->q_head;
	if (s->spool)
		vigil_spool_rewind(s->spool);
}

static void fail_locked(vigil_sink *s, int rc)
{
	s->be->disconnect(s);
	s->connected = false;
	s->st.failures++;
	set_error_locked(s, rc, s->conn_err);
	rewind_locked(s, true);
	s->spill_failed = false;
	schedule_retry_locked(s);
}

static void confirm_locked(vigil_sink *s, int64_t now, bool all)
{
	bool progress = false;

	if (s->be->tcp_acked && s->nmarks && !all) {
		uint64_t acked;

		if (s->be->acked(s, &acked) == 0)
			for (size_t i = 0; i < s->nmarks; i++) {
				sink_mark *m = &s->marks[(s->mark_head + i) % SINK_MARKS];

				if (m->acked_ms)
					continue;
				if (m->end_bytes > acked)
					break;
				m->acked_ms = now;
				if (!m->from_spool && m->qseq > s->q_safe_seq)
					s->q_safe_seq = m->qseq;
				progress = true;
			}
	}
	while (s->nmarks) {
		sink_mark *m = &s->marks[s->mark_head];

		if (!all && (m->acked_ms == 0 ||
			     (s->be->tcp_acked && now - m->acked_ms < (int64_t)s->opt.settle_ms)))
			break;
		if (m->from_spool) {
			if (vigil_spool_commit(s->spool, &m->spos, false) != 0)
				set_error_locked(s, VIGIL_E_SYSTEM,
						 "cannot save the spool cursor (alerts may be sent "
						 "again after a restart)");
		} else {
			free_queue_head(s, m->qseq);
			if (m->qseq > s->q_safe_seq)
				s->q_safe_seq = m->qseq;
		}
		s->st.sent += m->nrec;
		s->mark_head = (s->mark_head + 1) % SINK_MARKS;
		s->nmarks--;
		s->backoff_ms = s->opt.backoff_min_ms;
		progress = true;
	}
	if (progress) {
		pthread_cond_broadcast(&s->progress);
		if (!s->stopping)
			notice_locked(s, 0);
	}
}

/* Fills s->batch with the oldest records not yet written: the memory queue's first, as
 * it is older than the spool's content (see spill_locked). Returns the count. */
static size_t gather_locked(vigil_sink *s)
{
	sink_batch *b = &s->batch;
	vigil_spool_rec v;

	b->len = b->n = 0;
	b->from_spool = s->q_unsent == NULL;
	if (!b->from_spool) {
		sink_rec *r = s->q_unsent;

		for (; r && b->n < SINK_BATCH_RECS && b->len < SINK_BATCH_BYTES; r = r->next) {
			size_t m;

			rec_view(r, &v);
			/* b->cap leaves SINK_FRAME_MAX past SINK_BATCH_BYTES: a record fits. */
			m = s->be->frame(s, &v, b->buf + b->len, b->cap - b->len);
			assert(m > 0);
			b->len += m;
			b->end[b->n] = b->len;
			b->qseq[b->n++] = r->seq;
		}
		s->q_unsent = r;
		return b->n;
	}
	if (s->spool == NULL)
		return 0;
	while (b->n < SINK_BATCH_RECS && b->len < SINK_BATCH_BYTES) {
		vigil_spool_pos pos;
		size_t m;
		int rc = vigil_spool_next(s->spool, &v, &pos);

		if (rc == VIGIL_E_NOT_FOUND)
			break;
		if (rc != 0) {
			char msg[128];

			snprintf(msg, sizeof(msg), "cannot read the spool: %s", strerror(errno));
			set_error_locked(s, rc, msg);
			break;
		}
		m = s->be->frame(s, &v, b->buf + b->len, b->cap - b->len);
		assert(m > 0);
		b->len += m;
		b->end[b->n] = b->len;
		b->spos[b->n++] = pos;
	}
	return b->n;
}

static void add_mark_locked(vigil_sink *s, size_t k)
{
	const sink_batch *b = &s->batch;
	sink_mark *m = &s->marks[(s->mark_head + s->nmarks) % SINK_MARKS];

	assert(k > 0 && k <= b->n && s->nmarks < SINK_MARKS);
	memset(m, 0, sizeof(*m));
	m->from_spool = b->from_spool;
	if (b->from_spool)
		m->spos = b->spos[k - 1];
	else
		m->qseq = b->qseq[k - 1];
	m->nrec = k;
	m->end_bytes = s->wbytes;
	if (s->be->sync) {
		m->written_ms = vigil_sink_now_ms(); /* confirmed by the next sync */
	} else if (!s->be->tcp_acked) {
		/* Written, or a datagram the kernel took: nothing more to learn. */
		m->acked_ms = vigil_sink_now_ms();
		if (!m->from_spool && m->qseq > s->q_safe_seq)
			s->q_safe_seq = m->qseq;
	}
	s->nmarks++;
}

static void send_batch_locked(vigil_sink *s)
{
	size_t done = 0;
	int rc;

	pthread_mutex_unlock(&s->mu);
	rc = s->be->write(s, &s->batch, &done);
	pthread_mutex_lock(&s->mu);
	if (done > 0)
		add_mark_locked(s, done);
	if (rc != 0) {
		/* A file keeps the batches written before this one: synced now, they are
		 * confirmed and only this batch (cut off again) is written later. */
		if (s->be->sync && s->nmarks > 0) {
			char msg[sizeof(s->conn_err)];

			memcpy(msg, s->conn_err, sizeof(msg));
			pthread_mutex_unlock(&s->mu);
			if (s->be->sync(s) == 0) {
				pthread_mutex_lock(&s->mu);
				for (size_t i = 0; i < s->nmarks; i++)
					s->marks[(s->mark_head + i) % SINK_MARKS].acked_ms =
					    vigil_sink_now_ms();
				confirm_locked(s, vigil_sink_now_ms(), false);
			} else {
				pthread_mutex_lock(&s->mu);
			}
			memcpy(s->conn_err, msg, sizeof(msg)); /* the write's error is the news */
		}
		/* Part of a stream write may have arrived: it will come again. */
		if (!s->be->datagram)
			s->st.resent += s->batch.n;
		fail_locked(s, rc);
		return;
	}
	confirm_locked(s, vigil_sink_now_ms(), false);
}

static void connect_locked(vigil_sink *s)
{
	int rc;

	s->conn_err[0] = '\0';
	pthread_mutex_unlock(&s->mu);
	rc = s->be->connect(s);
	pthread_mutex_lock(&s->mu);
	if (rc != 0) {
		s->be->disconnect(s);
		s->st.failures++;
		set_error_locked(s, rc, s->conn_err);
		s->spill_failed = false;
		schedule_retry_locked(s);
		return;
	}
	if (s->ever_connected)
		s->st.reconnects++;
	s->ever_connected = true;
	s->connected = true;
}

/*
 * While the peer is unreachable, moves the memory queue to the spool so that it survives
 * a crash. The queue is older than everything in the spool (new alerts go to the spool as
 * long as it holds anything), so it goes in front. The writing and fsync run unlocked:
 * vigil_spool_busy is true meanwhile, so vigil_sink_send appends behind and leaves the
 * queue alone.
 */
static void spill_locked(vigil_sink *s, bool force)
{
	vigil_spool_rec *recs;
	vigil_spool_prep p;
	uint64_t n = s->q_count, last;
	size_t i = 0;
	int rc;

	if (s->spool == NULL || s->q_head == NULL || (s->spill_failed && !force))
		return;
	assert(s->nmarks == 0 && s->q_unsent == s->q_head);
	if ((recs = malloc(n * sizeof(*recs))) == NULL) {
		s->spill_failed = true;
		return;
	}
	for (sink_rec *r = s->q_head; r; r = r->next)
		rec_view(r, &recs[i++]);
	assert(i == n);
	last = s->q_tail->seq;
	if ((rc = vigil_spool_prepend_begin(s->spool, &p)) == 0) {
		pthread_mutex_unlock(&s->mu);
		rc = vigil_spool_prepend_run(&p, recs, n);
		pthread_mutex_lock(&s->mu);
		rc = vigil_spool_prepend_end(s->spool, &p, rc);
	}
	free(recs);
	if (rc != 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "cannot move the memory queue to the spool: %s",
			 rc == VIGIL_E_SYSTEM ? strerror(errno) : vigil_strerror(rc));
		set_error_locked(s, rc, msg);
		s->spill_failed = true;
		return;
	}
	assert(s->q_count == n && s->q_tail->seq == last);
	s->q_unsent = NULL;
	free_queue_head(s, last);
	if (last > s->q_safe_seq)
		s->q_safe_seq = last;
	pthread_cond_broadcast(&s->progress);
}

static void sync_spool_locked(vigil_sink *s, int64_t now, bool force)
{
	vigil_spool_sync job;
	uint64_t target = s->spool_appended;
	int rc;

	if (s->spool == NULL)
		return;
	if (!force && !s->spool_sync_wanted &&
	    (s->spool_dirty_ms == 0 || now - s->spool_dirty_ms < SYNC_INTERVAL_MS))
		return;
	if (vigil_spool_sync_begin(s->spool, &job) != 0)
		return;
	s->spool_dirty_ms = 0;
	s->spool_sync_wanted = false;
	pthread_mutex_unlock(&s->mu);
	rc = vigil_spool_sync_run(&job);
	vigil_spool_sync_end(&job);
	pthread_mutex_lock(&s->mu);
	if (rc != 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "cannot sync the spool: %s", strerror(errno));
		set_error_locked(s, rc, msg);
		s->spool_dirty_ms = vigil_sink_now_ms();
		return;
	}
	if (target > s->spool_synced)
		s->spool_synced = target;
	pthread_cond_broadcast(&s->progress);
}

/* A file: syncs what was written once the oldest unsynced batch has waited its group time
 * (or at once when forced or the marks run out), then confirms it all. */
static void sync_marks_locked(vigil_sink *s, int64_t now, bool force)
{
	size_t n = s->nmarks, first = 0;
	int rc;

	if (s->be->sync == NULL || n == 0)
		return;
	while (first < n && s->marks[(s->mark_head + first) % SINK_MARKS].acked_ms != 0)
		first++;
	if (first == n)
		return;
	if (!force && n < SINK_MARKS / 2 &&
	    now - s->marks[(s->mark_head + first) % SINK_MARKS].written_ms < FILE_SYNC_GROUP_MS)
		return;
	pthread_mutex_unlock(&s->mu);
	rc = s->be->sync(s);
	pthread_mutex_lock(&s->mu);
	if (rc != 0) {
		fail_locked(s, rc); /* written again after the reconnect */
		return;
	}
	/* Marks added while unlocked came from this thread only: there are none. */
	now = vigil_sink_now_ms();
	for (size_t i = first; i < n; i++) {
		sink_mark *m = &s->marks[(s->mark_head + i) % SINK_MARKS];

		m->acked_ms = now;
		if (!m->from_spool && m->qseq > s->q_safe_seq)
			s->q_safe_seq = m->qseq;
	}
}

static int64_t min_wait(int64_t a, int64_t b)
{
	return b < a ? b : a;
}

/* Sleeps until woken, the connection's fd is readable, or the next timed duty. */
static void idle_locked(vigil_sink *s, int64_t now)
{
	struct pollfd p[2] = {{.fd = s->wakefd, .events = POLLIN}};
	int64_t t = INT64_MAX, stop = atomic_load(&s->stop_deadline_ms);
	int fd = s->connected && s->be->idle_fd ? s->be->idle_fd(s) : -1;
	nfds_t n = 1;

	if (!s->connected)
		t = min_wait(t, s->next_attempt_ms - now);
	if (s->nmarks) {
		const sink_mark *m = &s->marks[s->mark_head];

		if (m->acked_ms == 0 && s->be->sync)
			t = min_wait(t, m->written_ms + FILE_SYNC_GROUP_MS - now);
		else if (m->acked_ms == 0)
			t = min_wait(t, ACK_POLL_MS);
		else
			t = min_wait(t, m->acked_ms + (int64_t)s->opt.settle_ms - now);
	}
	if (s->spool_dirty_ms)
		t = min_wait(t, s->spool_dirty_ms + SYNC_INTERVAL_MS - now);
	if (stop)
		t = min_wait(t, stop - now);
	if (t == INT64_MAX)
		t = -1; /* until woken */
	else if (t < 1)
		t = 1;
	else if (t > INT_MAX)
		t = INT_MAX;
	if (fd >= 0) {
		p[1].fd = fd;
		p[1].events = POLLIN | POLLRDHUP;
		n = 2;
	}
	s->idle = true;
	pthread_mutex_unlock(&s->mu);
	if (poll(p, n, (int)t) > 0 && (p[0].revents & POLLIN)) {
		uint64_t v;

		if (read(s->wakefd, &v, sizeof(v)) < 0) {
			/* EAGAIN: another wake-up was read already. */
		}
	}
	pthread_mutex_lock(&s->mu);
	s->idle = false;
	/* A syslog server never sends: input is the end of the stream, a reset, or TLS
	 * housekeeping. Seeing the end while idle lets us resend what it may have lost
	 * before the next alert, not after. */
	if (n == 2 && p[1].revents && s->connected) {
		int rc = s->be->check(s);

		if (rc != 0)
			fail_locked(s, rc);
	}
}

static void *worker(void *arg)
{
	vigil_sink *s = arg;
	bool napped = true; /* paused since the last write (or nothing written yet) */

	(void)pthread_setname_np(pthread_self(), "vigil-sink"); /* top -H, perf */
	pthread_mutex_lock(&s->mu);
	for (;;) {
		int64_t now = vigil_sink_now_ms(), stop = atomic_load(&s->stop_deadline_ms);

		/* Closing ends when all is confirmed or the time is up, and does not wait out
		 * a backoff; a connection attempt that is due is still made. */
		if (s->stopping && (now >= stop || (!s->connected && now < s->next_attempt_ms) ||
				    (s->q_count == 0 && s->nmarks == 0 &&
				     !(s->spool && vigil_spool_busy(s->spool)))))
			break;
		sync_spool_locked(s, now, false);
		if (!s->connected) {
			if (!s->stopping)
				spill_locked(s, false);
			if (vigil_sink_now_ms() >= s->next_attempt_ms)
				connect_locked(s);
			else
				idle_locked(s, vigil_sink_now_ms());
			continue;
		}
		sync_marks_locked(s, now, false);
		if (!s->connected)
			continue;
		confirm_locked(s, now, false);
		if (s->nmarks >= SINK_MARKS) {
			/* The peer is slow to acknowledge: let it catch up. */
			idle_locked(s, now);
			continue;
		}
		if (gather_locked(s) > 0) {
			send_batch_locked(s);
			napped = false;
			continue;
		}
		if (s->stopping && s->nmarks > 0) {
			/* Everything is written: close in order. The peer reading to our end of
			 * stream and closing its side means it read every byte. */
			bool all;

			pthread_mutex_unlock(&s->mu);
			all = s->be->finish ? s->be->finish(s, (int)(stop - now)) : false;
			pthread_mutex_lock(&s->mu);
			if (all)
				confirm_locked(s, vigil_sink_now_ms(), true);
			s->be->disconnect(s);
			s->connected = false;
			rewind_locked(s, false);
			continue;
		}
		if (!napped && !s->stopping) {
			/* Alerts come in bursts: a moment's pause after a write lets the next ones
			 * join one batch instead of each waking this thread (on a VM the wake-up
			 * costs more than the write). An alert after a quiet time is still written
			 * at once. */
			napped = true;
			pthread_mutex_unlock(&s->mu);
			nanosleep(&(struct timespec){.tv_nsec = BATCH_PAUSE_NS}, NULL);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		idle_locked(s, now);
	}
	/* Closing: whatever was not confirmed goes to the spool for the next start. */
	if (s->connected) {
		s->be->disconnect(s);
		s->connected = false;
	}
	rewind_locked(s, false);
	notice_locked(s, 0);
	spill_locked(s, true);
	if (s->q_count) {
		s->st.dropped += s->q_count;
		s->q_unsent = NULL;
		free_queue_head(s, UINT64_MAX);
	}
	sync_spool_locked(s, vigil_sink_now_ms(), true);
	pthread_cond_broadcast(&s->progress);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- open, flush, stats, close ---- */

static int tls_error(char *err, size_t cap, const char *what, const char *file)
{
	char buf[160];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	if (err != NULL && cap > 0)
		snprintf(err, cap, "%s %s: %s", what, file, e ? buf : "unknown error");
	ERR_clear_error();
	return VIGIL_E_CRYPTO;
}

static int tls_setup(vigil_sink *s, char *err, size_t cap)
{
	const char *key = s->key_file ? s->key_file : s->cert_file;
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return tls_error(err, cap, "cannot set up TLS for", s->name);
	s->tls = ctx;
	/* RFC 5425 as updated by RFC 9662: TLS 1.2 at least. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		return tls_error(err, cap, "cannot set up TLS for", s->name);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* A peer that closes without close_notify: an end of stream like TCP's. We only send,
	 * so there is no truncated input to be fooled by. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_load_verify_locations(ctx, s->ca_file, NULL) != 1)
		return tls_error(err, cap, "cannot load the CA file", s->ca_file);
	if (s->cert_file != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx, s->cert_file) != 1)
			return tls_error(err, cap, "cannot load the client certificate",
					 s->cert_file);
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
			return tls_error(err, cap, "cannot load the client key", key);
		if (SSL_CTX_check_private_key(ctx) != 1)
			return tls_error(err, cap, "the client key does not match", s->cert_file);
	}
	return 0;
}

static bool app_name_ok(const char *a)
{
	size_t n = strlen(a);

	if (n == 0 || n > 48)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!host_char_ok(a[i]))
			return false;
	return true;
}

static int set_ident(vigil_sink *s, const vigil_sink_options *o, char *err, size_t cap)
{
	char host[256] = "";

	s->id.facility = o->facility;
	snprintf(s->id.procid, sizeof(s->id.procid), "%ld", (long)getpid());
	if (o->app_name != NULL && !app_name_ok(o->app_name))
		return bad(err, cap, "app_name %s: 1 to 48 of A-Z a-z 0-9 . _ -", o->app_name);
	snprintf(s->id.app_name, sizeof(s->id.app_name), "%s", o->app_name ? o->app_name : "vigil");
	if (o->hostname != NULL) {
		size_t n = strlen(o->hostname);

		if (n == 0 || n > 255 || !kind_ok(o->hostname, n) || strspn(o->hostname, "-") == n)
			return bad(err, cap, "hostname %s: 1 to 255 printable ASCII characters",
				   o->hostname);
		snprintf(s->id.hostname, sizeof(s->id.hostname), "%s", o->hostname);
		return 0;
	}
	/* RFC 5424 section 6.2.4: printable US-ASCII; anything else in a local name is
	 * replaced rather than sent. */
	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		strcpy(host, "-");
	for (char *c = host; *c; c++)
		if (*c < 33 || *c > 126)
			*c = '_';
	snprintf(s->id.hostname, sizeof(s->id.hostname), "%s", host);
	return 0;
}

static int copy_opt(const char *src, char **dst)
{
	*dst = NULL;
	if (src != NULL && (*dst = strdup(src)) == NULL)
		return VIGIL_E_NOMEM;
	return 0;
}

static int check_options(const vigil_sink_options *o, const sink_target *t, char *err, size_t cap)
{
	if (o->facility < 1 || o->facility > 23)
		return bad(err, cap, "facility must be 1 to 23 (authpriv is 10)%s", "");
	if (o->queue_max == 0 && o->spool_dir == NULL)
		return bad(err, cap, "queue_max 0 needs a spool_dir%s", "");
	if (o->spool_dir != NULL && o->spool_max_bytes < VIGIL_SPOOL_MIN_BYTES)
		return bad(err, cap, "spool_max_bytes must be at least 64 KiB%s", "");
	if (o->backoff_min_ms == 0 || o->backoff_max_ms < o->backoff_min_ms ||
	    o->backoff_max_ms > 24u * 3600 * 1000)
		return bad(err, cap,
			   "backoff_min_ms must be at least 1 and at most backoff_max_ms%s", "");
	if (o->connect_timeout_ms == 0 || o->io_timeout_ms == 0 ||
	    o->connect_timeout_ms > INT_MAX || o->io_timeout_ms > INT_MAX ||
	    o->close_timeout_ms > INT_MAX || o->settle_ms > 3600u * 1000)
		return bad(err, cap, "timeouts must be positive and below 24 days%s", "");
	if (t->kind == SINK_TLS && o->ca_file == NULL)
		return bad(err, cap,
			   "tls:// needs ca_file: the CA that signed the server's certificate%s",
			   "");
	if (t->kind == SINK_TLS && o->key_file != NULL && o->cert_file == NULL)
		return bad(err, cap, "key_file without cert_file%s", "");
	return 0;
}

int vigil_sink_open(const char *target, const vigil_sink_options *o, vigil_sink **out, char *err,
		    size_t cap)
{
	static const sink_backend *const backends[] = {
	    [SINK_FILE] = &vigil_sink_file_backend, [SINK_STDOUT] = &vigil_sink_file_backend,
	    [SINK_UNIX] = &vigil_sink_unix_backend, [SINK_UDP] = &vigil_sink_udp_backend,
	    [SINK_TCP] = &vigil_sink_tcp_backend,   [SINK_TLS] = &vigil_sink_tls_backend,
	};
	vigil_sink_options def;
	pthread_condattr_t ca;
	sigset_t all, old;
	vigil_sink *s = NULL;
	int rc;

	*out = NULL;
	if (err != NULL && cap > 0)
		err[0] = '\0';
	if (o == NULL) {
		vigil_sink_options_default(&def);
		o = &def;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VIGIL_E_NOMEM;
	s->fd = -1;
	s->wakefd = -1;
	if ((rc = vigil_sink_parse_target(target, &s->target, err, cap)) != 0 ||
	    (rc = check_options(o, &s->target, err, cap)) != 0)
		goto out;
	s->opt = *o;
	if ((s->name = strdup(target)) == NULL || copy_opt(o->ca_file, &s->ca_file) ||
	    copy_opt(o->cert_file, &s->cert_file) || copy_opt(o->key_file, &s->key_file) ||
	    copy_opt(o->spool_dir, &s->spool_dir)) {
		rc = VIGIL_E_NOMEM;
		goto out;
	}
	/* The copies own the strings; the options keep no borrowed pointer. */
	s->opt.ca_file = s->ca_file;
	s->opt.cert_file = s->cert_file;
	s->opt.key_file = s->key_file;
	s->opt.spool_dir = s->spool_dir;
	s->opt.hostname = s->opt.app_name = NULL; /* copied into s->id */
	if ((rc = set_ident(s, o, err, cap)) != 0)
		goto out;
	s->be = backends[s->target.kind];
	s->backoff_ms = s->opt.backoff_min_ms;
	s->batch.cap = SINK_BATCH_BYTES + SINK_FRAME_MAX;
	if ((s->batch.buf = malloc(s->batch.cap)) == NULL) {
		rc = VIGIL_E_NOMEM;
		goto out;
	}
	if (s->target.kind == SINK_TLS && (rc = tls_setup(s, err, cap)) != 0)
		goto out;
	if (s->spool_dir != NULL &&
	    (rc = vigil_spool_open(s->spool_dir, s->opt.spool_max_bytes, &s->spool, err, cap)) != 0)
		goto out;
	if (s->target.kind == SINK_UNIX)
		tzset(); /* the local format carries local time; localtime_r may not read TZ */
	if ((s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = VIGIL_E_SYSTEM;
		if (err != NULL && cap > 0)
			snprintf(err, cap, "eventfd: %s", strerror(errno));
		goto out;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->progress, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&s->stop_deadline_ms, 0);
	/* The worker takes no signal: the daemon handles them in its loop, and SIGPIPE from a
	 * write to a closed socket (OpenSSL writes with write(2)) stays pending on the
	 * worker, harmless, instead of killing the process. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->thread, NULL, worker, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		rc = VIGIL_E_SYSTEM;
		if (err != NULL && cap > 0)
			snprintf(err, cap, "cannot start the sink thread: %s", strerror(errno));
		pthread_cond_destroy(&s->progress);
		pthread_mutex_destroy(&s->mu);
		goto out;
	}
	s->thread_started = true;
	*out = s;
	s = NULL; /* transferred */
	rc = 0;
out:
	if (s != NULL) {
		int e = errno;

		vigil_spool_close(s->spool);
		SSL_CTX_free(s->tls);
		if (s->wakefd >= 0)
			close(s->wakefd);
		free(s->batch.buf);
		free(s->name);
		free(s->ca_file);
		free(s->cert_file);
		free(s->key_file);
		free(s->spool_dir);
		free(s);
		errno = e;
	}
	return rc;
}

int vigil_sink_flush(vigil_sink *s, int timeout_ms)
{
	struct timespec dl;
	uint64_t tq, tsp;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ms > 0) {
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&s->mu);
	tq = s->q_next_seq;
	tsp = s->spool_appended;
	while (s->q_safe_seq < tq || (s->spool && s->spool_synced < tsp)) {
		if (s->spool && s->spool_synced < tsp && !s->spool_sync_wanted) {
			s->spool_sync_wanted = true;
			wake_locked(s);
		}
		if (timeout_ms < 0) {
			pthread_cond_wait(&s->progress, &s->mu);
		} else if (pthread_cond_timedwait(&s->progress, &s->mu, &dl) == ETIMEDOUT) {
			rc = (s->q_safe_seq < tq || (s->spool && s->spool_synced < tsp))
				 ? VIGIL_E_LIMIT
				 : 0;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void stats_locked(vigil_sink *s, vigil_sink_stats *st)
{
	*st = s->st;
	st->queued = s->q_count;
	st->connected = s->connected;
	if (s->spool) {
		vigil_spool_stats ss;

		vigil_spool_get_stats(s->spool, &ss);
		st->spooled = ss.pending;
		st->spool_bytes = ss.bytes;
		st->torn = ss.torn;
	}
}

void vigil_sink_get_stats(vigil_sink *s, vigil_sink_stats *st)
{
	pthread_mutex_lock(&s->mu);
	stats_locked(s, st);
	pthread_mutex_unlock(&s->mu);
}

int vigil_sink_close(vigil_sink *s, vigil_sink_stats *st)
{
	vigil_sink_stats fin;
	uint64_t dropped_before;

	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->mu);
	dropped_before = s->st.dropped;
	s->stopping = true;
	atomic_store(&s->stop_deadline_ms, vigil_sink_now_ms() + s->opt.close_timeout_ms);
	s->idle = true; /* make wake_locked write even if the worker is busy */
	wake_locked(s);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	stats_locked(s, &fin);
	if (st != NULL)
		*st = fin;
	vigil_spool_close(s->spool);
	SSL_CTX_free(s->tls);
	close(s->wakefd);
	pthread_cond_destroy(&s->progress);
	pthread_mutex_destroy(&s->mu);
	free(s->batch.buf);
	free(s->name);
	free(s->ca_file);
	free(s->cert_file);
	free(s->key_file);
	free(s->spool_dir);
	free(s);
	/* Drops counted before close were reported by vigil_sink_send already. */
	return fin.dropped > dropped_before ? VIGIL_E_LIMIT : 0;
}
