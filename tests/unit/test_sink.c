/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the alert sinks: targets, RFC 5424 / RFC 6587 framing, the spool (order, bound,
 * torn records, restarts), disk full, reconnecting without loss, and delivery into a real
 * rsyslogd over TCP, TLS, UDP and a unix socket, with the daemon killed mid-stream. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "sink_int.h"
#include "spool.h"

#define TEST_TIMEOUT 600
#define RSYSLOG_APP  "vigiltest"
#define TEST_HOST    "vigil-test-host"

/* ---- helpers ---- */

static char tmp_root[64];
static pid_t children[8];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(p);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	strcpy(tmp_root, "/tmp/vigil-sink.XXXXXX");
	assert_non_null(mkdtemp(tmp_root));
	alarm(TEST_TIMEOUT);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(children) / sizeof(*children); i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void track_child(pid_t p)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(*children); i++)
		if (children[i] == 0) {
			children[i] = p;
			return;
		}
	fail_msg("too many children");
}

static void untrack_child(pid_t p)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(*children); i++)
		if (children[i] == p)
			children[i] = 0;
}

static char *tpath(const char *name)
{
	static char buf[4][PATH_MAX];
	static int k;
	char *b = buf[k++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", tmp_root, name);
	return b;
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int64_t now_ms(void)
{
	return vigil_sink_now_ms();
}

/* The alert of sequence number i: varied lengths, and UTF-8 that must arrive intact. */
static size_t make_alert(char *buf, size_t cap, int i)
{
	static char pad[512];
	int n;

	if (pad[0] == '\0')
		memset(pad, 'x', sizeof(pad) - 1);
	n = snprintf(buf, cap,
		     "{\"seq\":%d,\"kind\":\"test\",\"note\":\"caf\xc3\xa9 "
		     "\xf0\x9f\x94\x91\",\"pad\":\"%.*s\"}",
		     i, (i * 37) % 300, pad);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

/* The seq of an alert found in text, or -1. */
static int seq_of(const char *s, size_t n)
{
	const char *p = memmem(s, n, "{\"seq\":", 7);

	if (p == NULL)
		return -1;
	return atoi(p + 7);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	*len = 0;
	if (f == NULL)
		return NULL;
	buf = malloc(1 << 24);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 24) - 1, f);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static vigil_sink_options test_options(void)
{
	vigil_sink_options o;

	vigil_sink_options_default(&o);
	o.hostname = TEST_HOST;
	o.app_name = RSYSLOG_APP;
	o.backoff_min_ms = 20;
	o.backoff_max_ms = 200;
	o.connect_timeout_ms = 2000;
	o.io_timeout_ms = 5000;
	return o;
}

static vigil_sink *open_sink(const char *target, const vigil_sink_options *o)
{
	char err[256] = "";
	vigil_sink *s = NULL;
	int rc = vigil_sink_open(target, o, &s, err, sizeof(err));

	if (rc != 0)
		fail_msg("vigil_sink_open(%s): %d %s", target, rc, err);
	return s;
}

static void send_alert(vigil_sink *s, int i)
{
	char buf[1024];
	size_t n = make_alert(buf, sizeof(buf), i);
	int rc = vigil_sink_send(s, i % 8, i % 3 ? "file_changed" : NULL, buf, n);

	if (rc != 0)
		fail_msg("send %d: %d", i, rc);
}

static vigil_sink_stats stats_of(vigil_sink *s)
{
	vigil_sink_stats st;

	vigil_sink_get_stats(s, &st);
	return st;
}

/* Waits for the sink's counters to satisfy f, up to ms; returns the last stats. */
static bool wait_stats(vigil_sink *s, bool (*f)(const vigil_sink_stats *, uint64_t), uint64_t arg,
		       int ms, vigil_sink_stats *out)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		*out = stats_of(s);
		if (f(out, arg))
			return true;
		if (now_ms() > end)
			return false;
		msleep(10);
	}
}

static bool sent_at_least(const vigil_sink_stats *st, uint64_t n)
{
	return st->sent >= n;
}

static bool failed_once(const vigil_sink_stats *st, uint64_t n)
{
	(void)n;
	return st->failures > 0;
}

/* A port on 127.0.0.1 that nothing listens on (for now). */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* ---- a strict RFC 5424 header reader, to check what we send ---- */

typedef struct hdr5424 {
	int pri;
	char ts[40], host[256], app[49], procid[129], msgid[33];
	const char *msg;
	size_t msg_len;
} hdr5424;

static bool printusascii(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 33 || s[i] > 126)
			return false;
	return true;
}

static bool take_field(const char **p, const char *end, char *out, size_t max)
{
	const char *sp = memchr(*p, ' ', (size_t)(end - *p));
	size_t n;

	if (sp == NULL)
		return false;
	n = (size_t)(sp - *p);
	if (!printusascii(*p, n, max))
		return false;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p = sp + 1;
	return true;
}

/* RFC 5424 section 6 with the choices of sink.h: a full-date timestamp in UTC with six
 * fraction digits, SD "-", and a MSG that does not start with a BOM. */
static bool parse_5424(const char *m, size_t n, hdr5424 *h)
{
	const char *p = m, *end = m + n;
	char sd[8];
	int pri = 0, d = 0;

	memset(h, 0, sizeof(*h));
	if (p == end || *p++ != '<')
		return false;
	while (p < end && *p >= '0' && *p <= '9' && d < 3) {
		pri = pri * 10 + (*p++ - '0');
		d++;
	}
	if (d == 0 || pri > 191 || (d > 1 && m[1] == '0') || end - p < 3 || memcmp(p, ">1 ", 3))
		return false;
	p += 3;
	h->pri = pri;
	if (!take_field(&p, end, h->ts, sizeof(h->ts) - 1) || strlen(h->ts) != 27)
		return false;
	for (int i = 0; i < 27; i++) {
		static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";

		if (shape[i] == 'd' ? (h->ts[i] < '0' || h->ts[i] > '9') : h->ts[i] != shape[i])
			return false;
	}
	if (!take_field(&p, end, h->host, 255) || !take_field(&p, end, h->app, 48) ||
	    !take_field(&p, end, h->procid, 128) || !take_field(&p, end, h->msgid, 32) ||
	    !take_field(&p, end, sd, 1) || strcmp(sd, "-") != 0)
		return false;
	if (end - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		return false;
	h->msg = p;
	h->msg_len = (size_t)(end - p);
	return true;
}

/* ---- targets ---- */

static void test_parse_target(void **state)
{
	static const struct {
		const char *in;
		int rc;
		sink_kind kind;
		const char *host, *port, *path;
	} cases[] = {
	    {"-", 0, SINK_STDOUT, "", "", ""},
	    {"/var/log/vigil/alerts.jsonl", 0, SINK_FILE, "", "", "/var/log/vigil/alerts.jsonl"},
	    {"alerts.jsonl", 0, SINK_FILE, "", "", "alerts.jsonl"},
	    {"unix", 0, SINK_UNIX, "", "", "/dev/log"},
	    {"unix:/run/x.sock", 0, SINK_UNIX, "", "", "/run/x.sock"},
	    {"udp://siem.example", 0, SINK_UDP, "siem.example", "514", ""},
	    {"tcp://10.0.0.1:1514", 0, SINK_TCP, "10.0.0.1", "1514", ""},
	    {"tls://siem.example", 0, SINK_TLS, "siem.example", "6514", ""},
	    {"tls://[::1]:6514", 0, SINK_TLS, "::1", "6514", ""},
	    {"tcp://[::1]", 0, SINK_TCP, "::1", "514", ""},
	    {"tcp://host:0001", 0, SINK_TCP, "host", "1", ""},
	    {"", VIGIL_E_INVALID, 0, "", "", ""},
	    {"unix:relative", VIGIL_E_INVALID, 0, "", "", ""},
	    {"unix:", VIGIL_E_INVALID, 0, "", "", ""},
	    {"http://x", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://:514", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://host:", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://host:0", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://host:65536", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://host:12a", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://host:514/", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://::1:514", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://[::1", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://[nothex]:1", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://[::1]x", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://a b:1", VIGIL_E_INVALID, 0, "", "", ""},
	    {"tcp://user@host:1", VIGIL_E_INVALID, 0, "", "", ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		sink_target t;
		char err[256] = "";
		int rc = vigil_sink_parse_target(cases[i].in, &t, err, sizeof(err));

		if (rc != cases[i].rc)
			fail_msg("case %zu (%s): rc %d, want %d (%s)", i, cases[i].in, rc,
				 cases[i].rc, err);
		if (rc != 0) {
			if (err[0] == '\0')
				fail_msg("case %zu (%s): no message", i, cases[i].in);
			continue;
		}
		if (t.kind != cases[i].kind || strcmp(t.host, cases[i].host) ||
		    strcmp(t.port, cases[i].port) || strcmp(t.path, cases[i].path))
			fail_msg("case %zu (%s): kind %d host '%s' port '%s' path '%s'", i,
				 cases[i].in, t.kind, t.host, t.port, t.path);
	}
}

/* ---- formats ---- */

static void test_rfc3339(void **state)
{
	static const struct {
		int64_t us;
		const char *want;
	} cases[] = {
	    {0, "1970-01-01T00:00:00.000000Z"},
	    {1714564800123456LL, "2024-05-01T12:00:00.123456Z"},
	    {951782400000001LL, "2000-02-29T00:00:00.000001Z"},
	    {-1, "1969-12-31T23:59:59.999999Z"},
	    {253402300799999999LL, "9999-12-31T23:59:59.999999Z"},
	    {253402300800000000LL, "-"}, /* year 10000: no four-digit form */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char out[32];

		vigil_sink_rfc3339(out, cases[i].us);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: %s, want %s", i, out, cases[i].want);
	}
}

static void test_format_5424(void **state)
{
	static const struct {
		int facility, severity;
		const char *kind, *json, *want;
	} cases[] = {
	    {10, 4, "file_changed", "{\"a\":1}",
	     "<84>1 2024-05-01T12:00:00.123456Z " TEST_HOST " vigil 4242 file_changed - {\"a\":1}"},
	    {10, 0, NULL, "{}",
	     "<80>1 2024-05-01T12:00:00.123456Z " TEST_HOST " vigil 4242 - - {}"},
	    {23, 7, "x", "[1]",
	     "<191>1 2024-05-01T12:00:00.123456Z " TEST_HOST " vigil 4242 x - [1]"},
	    {1, 0, "abcdefghijklmnopqrstuvwxyz012345", "\"caf\xc3\xa9\"",
	     "<8>1 2024-05-01T12:00:00.123456Z " TEST_HOST
	     " vigil 4242 abcdefghijklmnopqrstuvwxyz012345 - \"caf\xc3\xa9\""},
	};
	sink_ident id = {.hostname = TEST_HOST, .app_name = "vigil", .procid = "4242"};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char out[512];
		vigil_spool_rec r = {1714564800123456LL, cases[i].severity,
				     cases[i].kind,      cases[i].kind ? strlen(cases[i].kind) : 0,
				     cases[i].json,      strlen(cases[i].json)};
		hdr5424 h;
		size_t n;

		id.facility = cases[i].facility;
		n = vigil_syslog_format_5424(out, sizeof(out), &id, &r);
		if (n != strlen(cases[i].want) || memcmp(out, cases[i].want, n) != 0)
			fail_msg("case %zu: '%.*s'", i, (int)n, out);
		/* And it reads back field by field under the grammar. */
		if (!parse_5424(out, n, &h))
			fail_msg("case %zu: not RFC 5424: %.*s", i, (int)n, out);
		assert_int_equal(h.pri, cases[i].facility * 8 + cases[i].severity);
		assert_string_equal(h.host, TEST_HOST);
		assert_string_equal(h.app, "vigil");
		assert_string_equal(h.procid, "4242");
		assert_string_equal(h.msgid, cases[i].kind ? cases[i].kind : "-");
		assert_int_equal(h.msg_len, strlen(cases[i].json));
		assert_memory_equal(h.msg, cases[i].json, h.msg_len);
		/* Too small a buffer is refused, never cut. */
		assert_int_equal(vigil_syslog_format_5424(out, n - 1, &id, &r), 0);
		assert_int_equal(vigil_syslog_format_5424(out, n, &id, &r), n);
	}
}

static void test_format_local(void **state)
{
	sink_ident id = {.facility = 10, .hostname = "h", .app_name = "vigil", .procid = "77"};
	vigil_spool_rec r = {1714564800123456LL, 2, "k", 1, "{\"a\":1}", 7};
	vigil_spool_rec r2 = {1704413045000000LL, 6, NULL, 0, "{}", 2}; /* 2024-01-05 00:04:05 */
	char out[256], *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
	size_t n;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	n = vigil_syslog_format_local(out, sizeof(out), &id, &r);
	assert_int_equal(n, strlen("<82>May  1 12:00:00 vigil[77]: {\"a\":1}"));
	assert_memory_equal(out, "<82>May  1 12:00:00 vigil[77]: {\"a\":1}", n);
	n = vigil_syslog_format_local(out, sizeof(out), &id, &r2);
	assert_memory_equal(out, "<86>Jan  5 00:04:05 vigil[77]: {}", n);
	if (old) {
		setenv("TZ", old, 1);
		free(old);
	} else {
		unsetenv("TZ");
	}
	tzset();
}

/* RFC 6587 section 3.4.1: frames "LEN SP MSG" back to back, read back by their counts. */
static void test_octet_counting(void **state)
{
	vigil_sink s;
	uint8_t buf[8192];
	size_t len = 0;
	const char *msgs[] = {"{}", "{\"a\":\"x y\"}", "{\"n\":\"123 456\"}"};

	(void)state;
	memset(&s, 0, sizeof(s));
	s.id = (sink_ident){.facility = 10, .hostname = "h", .app_name = "a", .procid = "1"};
	for (int i = 0; i < 60; i++) {
		vigil_spool_rec r = {1714564800000000LL + i, 5, "k", 1, msgs[i % 3],
				     strlen(msgs[i % 3])};
		size_t m = vigil_sink_tcp_backend.frame(&s, &r, buf + len, sizeof(buf) - len);

		assert_true(m > 0);
		len += m;
	}
	/* TLS frames the same way (RFC 5425 section 4.3). */
	{
		vigil_spool_rec r = {0, 5, "k", 1, "{}", 2};
		uint8_t a[256], b[256];
		size_t na = vigil_sink_tcp_backend.frame(&s, &r, a, sizeof(a));
		size_t nb = vigil_sink_tls_backend.frame(&s, &r, b, sizeof(b));

		assert_int_equal(na, nb);
		assert_memory_equal(a, b, na);
	}
	for (size_t off = 0, i = 0; off < len; i++) {
		size_t mlen = 0;
		hdr5424 h;

		assert_true(buf[off] >= '1' &&
			    buf[off] <= '9'); /* no leading zero (NONZERO-DIGIT) */
		while (buf[off] >= '0' && buf[off] <= '9')
			mlen = mlen * 10 + (size_t)(buf[off++] - '0');
		assert_int_equal(buf[off++], ' ');
		assert_true(off + mlen <= len);
		if (!parse_5424((const char *)buf + off, mlen, &h))
			fail_msg("frame %zu is not RFC 5424", i);
		assert_int_equal(h.msg_len, strlen(msgs[i % 3]));
		assert_memory_equal(h.msg, msgs[i % 3], h.msg_len);
		off += mlen;
		if (off == len)
			assert_int_equal(i, 59);
	}
}

/* ---- the spool ---- */

static vigil_spool *spool_open_ok(const char *dir, uint64_t max)
{
	char err[256] = "";
	vigil_spool *sp = NULL;
	int rc = vigil_spool_open(dir, max, &sp, err, sizeof(err));

	if (rc != 0)
		fail_msg("vigil_spool_open: %d %s", rc, err);
	return sp;
}

static void spool_put(vigil_spool *sp, int i)
{
	char buf[1024];
	size_t n = make_alert(buf, sizeof(buf), i);
	vigil_spool_rec r = {1000000LL * i, i % 8, "k", (size_t)(i % 2), buf, n};

	assert_int_equal(vigil_spool_append(sp, &r), 0);
}

/* Reads up to max records and checks each is alert `first + k`; returns how many. */
static int spool_expect(vigil_spool *sp, int first, int max, vigil_spool_pos *last)
{
	int k = 0;
	vigil_spool_rec r;
	vigil_spool_pos pos;

	while (k < max && vigil_spool_next(sp, &r, &pos) == 0) {
		char want[1024];
		size_t n = make_alert(want, sizeof(want), first + k);

		if (r.len != n || memcmp(r.json, want, n) != 0)
			fail_msg("record %d: got %.*s", first + k, (int)r.len, r.json);
		assert_int_equal(r.severity, ((first + k) % 8 + 8) % 8);
		assert_int_equal(r.time_us, 1000000LL * (first + k));
		assert_int_equal(r.kind_len, (size_t)(((first + k) % 2 + 2) % 2));
		if (last)
			*last = pos;
		k++;
	}
	return k;
}

static void test_crc32c(void **state)
{
	(void)state;
	/* The check value of CRC-32C (RFC 3720 appendix B.4 test vectors agree). */
	assert_int_equal(vigil_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(vigil_crc32c(vigil_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	assert_int_equal(vigil_crc32c(0, "", 0), 0);
}

static void test_spool_order(void **state)
{
	const char *dir = tpath("spool");
	vigil_spool *sp;
	vigil_spool_stats st;
	vigil_spool_pos pos;
	struct stat sb;

	(void)state;
	sp = spool_open_ok(dir, 1 << 20);
	for (int i = 0; i < 2000; i++)
		spool_put(sp, i);
	vigil_spool_get_stats(sp, &st);
	assert_int_equal(st.pending, 2000);
	assert_true(st.segments > 1); /* 128 KiB segments: several */
	assert_int_equal(spool_expect(sp, 0, 700, &pos), 700);
	/* Rewinding rereads from the last commit, in the same order. */
	vigil_spool_rewind(sp);
	assert_int_equal(spool_expect(sp, 0, 10, &pos), 10);
	assert_int_equal(vigil_spool_commit(sp, &pos, true), 0);
	assert_int_equal(spool_expect(sp, 10, 5000, NULL), 1990);
	vigil_spool_get_stats(sp, &st);
	assert_int_equal(st.pending, 1990);
	vigil_spool_close(sp);

	/* Private: the directory 0700, every file 0600. */
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	{
		char cmd[PATH_MAX + 64];

		snprintf(cmd, sizeof(cmd), "find %s -type f ! -perm 0600 | grep -q .", dir);
		assert_int_not_equal(system(cmd), 0);
	}

	/* A restart resumes after what was committed (the cursor), in order. */
	sp = spool_open_ok(dir, 1 << 20);
	vigil_spool_get_stats(sp, &st);
	assert_int_equal(st.pending, 1990);
	assert_int_equal(st.torn, 0);
	assert_int_equal(spool_expect(sp, 10, 1000, &pos), 1000);
	assert_int_equal(vigil_spool_commit(sp, &pos, false), 0);
	assert_int_equal(spool_expect(sp, 1010, 5000, &pos), 990);
	assert_int_equal(vigil_spool_commit(sp, &pos, false), 0);
	/* Everything delivered: no file is left but the lock. */
	vigil_spool_get_stats(sp, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.segments, 0);
	vigil_spool_close(sp);
	{
		char cmd[PATH_MAX + 64];

		snprintf(cmd, sizeof(cmd), "test \"$(ls %s)\" = lock", dir);
		assert_int_equal(system(cmd), 0);
	}
}

static void test_spool_prepend(void **state)
{
	const char *dir = tpath("spool");
	vigil_spool *sp = spool_open_ok(dir, 1 << 20);
	vigil_spool_prep p;
	vigil_spool_rec recs[3];
	char bufs[3][1024];
	vigil_spool_stats st;

	(void)state;
	/* Into an empty spool, while appends happen meanwhile: they go behind. */
	for (int i = 0; i < 3; i++)
		recs[i] = (vigil_spool_rec){1000000LL * i, i % 8,
					    "k",           (size_t)(i % 2),
					    bufs[i],       make_alert(bufs[i], sizeof(bufs[i]), i)};
	assert_int_equal(vigil_spool_prepend_begin(sp, &p), 0);
	assert_true(vigil_spool_busy(sp));
	spool_put(sp, 3);
	spool_put(sp, 4);
	assert_int_equal(vigil_spool_prepend_run(&p, recs, 3), 0);
	assert_int_equal(vigil_spool_prepend_end(sp, &p, 0), 0);
	assert_int_equal(spool_expect(sp, 0, 100, NULL), 5);
	vigil_spool_close(sp);

	/* A restart keeps that order; and a second prepend goes in front of everything. */
	sp = spool_open_ok(dir, 1 << 20);
	for (int i = 0; i < 3; i++)
		recs[i] = (vigil_spool_rec){-1000000LL * (3 - i),
					    (i + 5) % 8,
					    "k",
					    (size_t)((i + 1) % 2),
					    bufs[i],
					    make_alert(bufs[i], sizeof(bufs[i]), i - 3)};
	assert_int_equal(vigil_spool_prepend_begin(sp, &p), 0);
	assert_int_equal(vigil_spool_prepend_run(&p, recs, 3), 0);
	assert_int_equal(vigil_spool_prepend_end(sp, &p, 0), 0);
	vigil_spool_close(sp);
	sp = spool_open_ok(dir, 1 << 20);
	vigil_spool_get_stats(sp, &st);
	assert_int_equal(st.pending, 8);
	assert_int_equal(spool_expect(sp, -3, 100, NULL), 8);
	/* A failed prepend leaves nothing behind. */
	vigil_spool_rewind(sp);
	assert_int_equal(vigil_spool_prepend_begin(sp, &p), 0);
	assert_int_equal(vigil_spool_prepend_end(sp, &p, VIGIL_E_SYSTEM), VIGIL_E_SYSTEM);
	vigil_spool_get_stats(sp, &st);
	assert_int_equal(st.pending, 8);
	assert_int_equal(spool_expect(sp, -3, 100, NULL), 8);
	vigil_spool_close(sp);
}

static void test_spool_bound(void **state)
{
	const char *dir = tpath("spool");
	vigil_spool *sp = spool_open_ok(dir, 64 * 1024);
	vigil_spool_stats st;
	vigil_spool_pos pos;
	char buf[1024];
	int n = 0, rc;

	(void)state;
	memset(buf, 'y', sizeof(buf));
	for (;;) {
		vigil_spool_rec r = {0, 3, "", 0, buf, 1000};

		if ((rc = vigil_spool_append(sp, &r)) != 0)
			break;
		n++;
	}
	assert_int_equal(rc, VIGIL_E_LIMIT);
	vigil_spool_get_stats(sp, &st);
	/* Full to within one record (and one segment header) of the bound, never over it. */
	assert_true(st.bytes <= 64 * 1024);
	assert_true(st.bytes + 1024 + 8 > 64 * 1024);
	assert_int_equal(st.pending, n);
	assert_true(n >= 60);
	/* Delivering frees whole segments, and appends work again. */
	for (int i = 0; i < n / 2; i++) {
		vigil_spool_rec r;

		assert_int_equal(vigil_spool_next(sp, &r, &pos), 0);
	}
	assert_int_equal(vigil_spool_commit(sp, &pos, false), 0);
	{
		vigil_spool_rec r = {0, 3, "", 0, buf, 1000};

		assert_int_equal(vigil_spool_append(sp, &r), 0);
	}
	vigil_spool_close(sp);
}

/* Damage of the kinds a crash or a bad disk leaves, at the end of a segment (a torn
 * append) or inside it: the intact records come back, the damage is counted once. */
enum damage { CUT, FLIP, GARBAGE, ZEROS };

static void damage_file(const char *path, enum damage d, off_t at, off_t arg)
{
	int fd = open(path, O_RDWR);
	struct stat sb;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	if (d == CUT) {
		assert_int_equal(ftruncate(fd, sb.st_size - arg), 0);
	} else if (d == FLIP) {
		unsigned char c;

		assert_int_equal(pread(fd, &c, 1, at), 1);
		c ^= 0x5a;
		assert_int_equal(pwrite(fd, &c, 1, at), 1);
	} else {
		char junk[300];

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = d == ZEROS ? 0 : (char)(i * 7 + 1);
		assert_int_equal(pwrite(fd, junk, (size_t)arg, sb.st_size), arg);
	}
	close(fd);
}

static char *only_segment(const char *dir)
{
	static char path[PATH_MAX];
	char cmd[PATH_MAX + 64];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s/*.spool", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(path, sizeof(path), p));
	path[strcspn(path, "\n")] = '\0';
	assert_null(fgets(cmd, sizeof(cmd), p)); /* exactly one */
	pclose(p);
	return path;
}

static void test_spool_torn(void **state)
{
	static const struct {
		enum damage d;
		int at_record; /* FLIP: which record (0-9); -1: relative to the end */
		off_t
		    arg; /* CUT: bytes cut off the end; FLIP: offset in the record; else: length */
		int intact; /* records that must come back */
		bool tail;  /* the damage reaches the end: truncated away at open */
	} cases[] = {
	    {CUT, -1, 1, 9, true},   /* last record one byte short */
	    {CUT, -1, 30, 9, true},  /* in the payload */
	    {CUT, -1, 140, 9, true}, /* just the header left... */
	    {FLIP, 9, 21, 9, true},  /* last record's CRC */
	    {FLIP, 9, 40, 9, true},  /* last record's payload */
	    {GARBAGE, -1, 5, 10, true},
	    {GARBAGE, -1, 300, 10, true},
	    {ZEROS, -1, 300, 10, true}, /* preallocated blocks after a power cut */
	    {FLIP, 4, 0, 9, false},     /* record 4's magic: the rest is found again */
	    {FLIP, 4, 6, 9, false},     /* record 4's length: resynchronised */
	    {FLIP, 0, 30, 9, false},
	    /* Record 8's length made to run past the end of the file: not a torn tail, record
	     * 9 is whole behind it (found by fuzz_spool). */
	    {FLIP, 8, 5, 9, false},
	};
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		char dir[PATH_MAX], *seg;
		vigil_spool *sp;
		vigil_spool_stats st;
		off_t offs[11];
		int got = 0, want_seq[10], k = 0;
		vigil_spool_rec r;
		vigil_spool_pos pos;

		snprintf(dir, sizeof(dir), "%s/torn%zu", tmp_root, c);
		sp = spool_open_ok(dir, 1 << 20);
		offs[0] = 8;
		for (int i = 0; i < 10; i++) {
			vigil_spool_get_stats(sp, &st);
			offs[i] = (off_t)st.bytes ? (off_t)st.bytes : 8;
			spool_put(sp, i);
		}
		vigil_spool_get_stats(sp, &st);
		offs[10] = (off_t)st.bytes;
		vigil_spool_close(sp);
		seg = only_segment(dir);
		if (cases[c].d == CUT && cases[c].arg == 140)
			damage_file(seg, CUT, 0,
				    offs[10] - offs[9] - 10); /* 10 bytes of record 9 */
		else if (cases[c].d == FLIP)
			damage_file(seg, FLIP, offs[cases[c].at_record] + cases[c].arg, 0);
		else
			damage_file(seg, cases[c].d, 0, cases[c].arg);
		for (int i = 0; i < 10; i++)
			if (!(cases[c].d == FLIP && i == cases[c].at_record) &&
			    !(cases[c].d == CUT && i == 9))
				want_seq[k++] = i;
		assert_int_equal(k, cases[c].intact);

		sp = spool_open_ok(dir, 1 << 20);
		vigil_spool_get_stats(sp, &st);
		if (st.torn != 1 || st.pending != (uint64_t)k)
			fail_msg("case %zu: torn %llu pending %llu, want 1 and %d", c,
				 (unsigned long long)st.torn, (unsigned long long)st.pending, k);
		while (vigil_spool_next(sp, &r, &pos) == 0) {
			char want[1024];
			size_t n = make_alert(want, sizeof(want), want_seq[got]);

			if (got >= k || r.len != n || memcmp(r.json, want, n) != 0)
				fail_msg("case %zu: record %d wrong", c, got);
			got++;
		}
		assert_int_equal(got, k);
		vigil_spool_close(sp);
		/* A torn tail was cut off: the next start counts nothing. */
		sp = spool_open_ok(dir, 1 << 20);
		vigil_spool_get_stats(sp, &st);
		assert_int_equal(st.pending, k);
		assert_int_equal(st.torn, cases[c].tail ? 0 : 1);
		vigil_spool_close(sp);
	}
}

static void test_spool_parse_hostile(void **state)
{
	uint8_t rec[VIGIL_SPOOL_REC_MAX], bad[VIGIL_SPOOL_REC_MAX];
	vigil_spool_rec r = {42, 3, "kind", 4, "{\"a\":1}", 7}, out;
	size_t n = vigil_spool_encode(&r, rec, sizeof(rec)), used;

	(void)state;
	assert_true(n > 0);
	assert_int_equal(vigil_spool_parse(rec, n, &out, &used), 0);
	assert_int_equal(used, n);
	assert_int_equal(out.time_us, 42);
	/* Every prefix is "short" (possibly whole later), never a record, never a crash. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(vigil_spool_parse(rec, k, &out, &used), VIGIL_SPOOL_SHORT);
	/* Each field out of range, with the CRC made right again so only the check stops it. */
	for (int f = 0; f < 7; f++) {
		uint32_t crc;

		memcpy(bad, rec, n);
		switch (f) {
		case 0:
			bad[4] = 0xff, bad[5] = 0xff, bad[6] = 0xff, bad[7] = 0x7f;
			break; /* length */
		case 1:
			bad[17] = 33;
			break; /* kind length */
		case 2:
			bad[16] = 8;
			break; /* severity */
		case 3:
			bad[18] = 1;
			break; /* reserved */
		case 4:
			bad[24] = ' ';
			break; /* kind char */
		case 5:
			bad[n - 2] = '\n';
			break; /* JSON newline */
		case 6:
			bad[n - 2] = (uint8_t)0xc3;
			break; /* bad UTF-8 */
		}
		crc = vigil_crc32c(0, bad + 4, 16);
		if (f != 0)
			crc = vigil_crc32c(crc, bad + 24, n - 24);
		bad[20] = (uint8_t)crc, bad[21] = (uint8_t)(crc >> 8),
		bad[22] = (uint8_t)(crc >> 16), bad[23] = (uint8_t)(crc >> 24);
		if (vigil_spool_parse(bad, n, &out, &used) != VIGIL_E_FORMAT)
			fail_msg("field %d accepted", f);
	}
	/* Random bytes. */
	srand(7);
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)rand() % 200;

		for (size_t k = 0; k < len; k++)
			bad[k] = (uint8_t)rand();
		if (i % 2)
			memcpy(bad, "VGR1", len < 4 ? len : 4);
		(void)vigil_spool_parse(bad, len, &out, &used);
	}
}

static void test_spool_dir_checks(void **state)
{
	char err[256];
	vigil_spool *a = NULL, *b = NULL;
	const char *open_dir = tpath("open"), *mine = tpath("mine");

	(void)state;
	assert_int_equal(mkdir(open_dir, 0755), 0);
	assert_int_equal(vigil_spool_open(open_dir, 1 << 20, &a, err, sizeof(err)),
			 VIGIL_E_INVALID);
	assert_null(a);
	assert_non_null(strstr(err, "chmod 700"));
	/* One owner at a time, even within one process. */
	a = spool_open_ok(mine, 1 << 20);
	assert_int_equal(vigil_spool_open(mine, 1 << 20, &b, err, sizeof(err)), VIGIL_E_INVALID);
	assert_non_null(strstr(err, "in use"));
	vigil_spool_close(a);
	b = spool_open_ok(mine, 1 << 20);
	vigil_spool_close(b);
	assert_int_equal(vigil_spool_open(mine, 1000, &b, err, sizeof(err)), VIGIL_E_INVALID);
}

/* ---- sinks writing files ---- */

/* Checks that path holds exactly the alerts first..first+n-1, one per line, in order. */
static void expect_file(const char *path, int first, int n)
{
	size_t len;
	char *b = slurp(path, &len), *p;
	int k = 0;

	assert_non_null(b);
	p = b;
	while (p < b + len) {
		char *nl = memchr(p, '\n', (size_t)(b + len - p)), want[1024];
		size_t wn = make_alert(want, sizeof(want), first + k);

		if (nl == NULL)
			fail_msg("%s: unterminated last line", path);
		if ((size_t)(nl - p) != wn || memcmp(p, want, wn) != 0)
			fail_msg("%s: line %d is '%.*s', want alert %d", path, k + 1, (int)(nl - p),
				 p, first + k);
		k++;
		p = nl + 1;
	}
	free(b);
	if (k != n)
		fail_msg("%s: %d lines, want %d", path, k, n);
}

static void test_file_sink(void **state)
{
	vigil_sink_options o = test_options();
	const char *path = tpath("alerts.jsonl");
	vigil_sink *s;
	vigil_sink_stats st;
	struct stat sb;

	(void)state;
	s = open_sink(path, &o);
	for (int i = 0; i < 3000; i++)
		send_alert(s, i);
	assert_int_equal(vigil_sink_flush(s, 10000), 0);
	/* flush returns once the lines are written and synced: they are in the file now. */
	expect_file(path, 0, 3000);
	assert_true(wait_stats(s, sent_at_least, 3000, 5000, &st));
	assert_int_equal(st.accepted, 3000);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.resent, 0);
	assert_int_equal(vigil_sink_close(s, &st), 0);
	assert_int_equal(st.sent, 3000);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	/* Appends to what is there; and logrotate's rename makes a new file. */
	s = open_sink(path, &o);
	send_alert(s, 3000);
	assert_int_equal(vigil_sink_flush(s, 10000), 0);
	assert_int_equal(rename(path, tpath("alerts.jsonl.1")), 0);
	for (int i = 3001; i < 3011; i++)
		send_alert(s, i);
	assert_int_equal(vigil_sink_close(s, NULL), 0);
	expect_file(tpath("alerts.jsonl.1"), 0, 3001);
	expect_file(path, 3001, 10);
}

/* "-": standard output, here a pipe (written in pieces of at most PIPE_BUF, never synced).
 * The sink keeps its own copy of fd 1, so the test's stdout can be restored at once. */
static void test_stdout_sink(void **state)
{
	vigil_sink_options o = test_options();
	int pfd[2], saved = dup(1);
	char *buf = malloc(1 << 20);
	size_t len = 0;
	ssize_t r;
	vigil_sink *s;
	vigil_sink_stats st;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	fflush(stdout);
	assert_int_equal(dup2(pfd[1], 1), 1);
	s = open_sink("-", &o);
	for (int i = 0; i < 10; i++)
		send_alert(s, i);
	assert_int_equal(vigil_sink_flush(s, 10000), 0);
	assert_int_equal(dup2(saved, 1), 1);
	close(saved);
	close(pfd[1]);
	for (int i = 10; i < 200; i++)
		send_alert(s, i);
	assert_int_equal(vigil_sink_close(s, &st), 0); /* closes the last write end */
	assert_int_equal(st.sent, 200);
	while ((r = read(pfd[0], buf + len, (1 << 20) - len)) > 0)
		len += (size_t)r;
	close(pfd[0]);
	{
		FILE *f = fopen(tpath("stdout.jsonl"), "w");

		assert_int_equal(fwrite(buf, 1, len, f), len);
		fclose(f);
	}
	free(buf);
	expect_file(tpath("stdout.jsonl"), 0, 200);
}

static void test_send_rejects(void **state)
{
	static const struct {
		int severity;
		const char *kind, *json;
		size_t len;
	} cases[] = {
	    {-1, NULL, "{}", 2},
	    {8, NULL, "{}", 2},
	    {3, NULL, "", 0},
	    {3, NULL, NULL, 2},
	    {3, NULL, "{\"a\":\n1}", 8},
	    {3, NULL, "{\"a\":\r1}", 8},
	    {3, NULL, "{\"a\"\0:1}", 8},
	    {3, NULL, "{\"a\":\"\xff\"}", 10},
	    {3, "two words", "{}", 2},
	    {3, "abcdefghijklmnopqrstuvwxyz0123456", "{}", 2}, /* 33 characters */
	    {3, "caf\xc3\xa9", "{}", 2},
	};
	vigil_sink_options o = test_options();
	vigil_sink *s = open_sink(tpath("a.jsonl"), &o);
	vigil_sink_stats st;
	char *big = malloc(VIGIL_SINK_ALERT_MAX + 2);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		if (vigil_sink_send(s, cases[i].severity, cases[i].kind, cases[i].json,
				    cases[i].len) != VIGIL_E_INVALID)
			fail_msg("case %zu accepted", i);
	big[0] = '"';
	memset(big + 1, 'a', VIGIL_SINK_ALERT_MAX);
	big[VIGIL_SINK_ALERT_MAX - 1] = '"';
	assert_int_equal(vigil_sink_send(s, 3, NULL, big, VIGIL_SINK_ALERT_MAX), 0);
	big[VIGIL_SINK_ALERT_MAX] = '"';
	assert_int_equal(vigil_sink_send(s, 3, NULL, big, VIGIL_SINK_ALERT_MAX + 1),
			 VIGIL_E_INVALID);
	assert_int_equal(vigil_sink_close(s, &st), 0);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.dropped, 0);
	free(big);
}

static void test_open_rejects(void **state)
{
	static const struct {
		const char *target;
		int what; /* which option to spoil */
		int rc;
		const char *msg;
	} cases[] = {
	    {"-", 1, VIGIL_E_INVALID, "facility"},
	    {"-", 2, VIGIL_E_INVALID, "facility"},
	    {"tls://localhost", 0, VIGIL_E_INVALID, "ca_file"},
	    {"tls://localhost", 3, VIGIL_E_CRYPTO, "CA file"},
	    {"-", 4, VIGIL_E_INVALID, "app_name"},
	    {"-", 5, VIGIL_E_INVALID, "queue_max"},
	    {"-", 6, VIGIL_E_INVALID, "spool_max_bytes"},
	    {"-", 7, VIGIL_E_INVALID, "hostname"},
	    {"-", 8, VIGIL_E_INVALID, "backoff"},
	    {"ftp://x", 9, VIGIL_E_INVALID, "unknown scheme"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		vigil_sink_options o = test_options();
		char err[256] = "";
		vigil_sink *s = (vigil_sink *)1;
		int rc;

		switch (cases[i].what) {
		case 1:
			o.facility = 0;
			break;
		case 2:
			o.facility = 24;
			break;
		case 3:
			o.ca_file = tpath("missing.pem");
			break;
		case 4:
			o.app_name = "vigil watch";
			break;
		case 5:
			o.queue_max = 0;
			break;
		case 6:
			o.spool_dir = tpath("sp"), o.spool_max_bytes = 1000;
			break;
		case 7:
			o.hostname = "a b";
			break;
		case 8:
			o.backoff_max_ms = 1;
			break;
		}
		rc = vigil_sink_open(cases[i].target, &o, &s, err, sizeof(err));
		if (rc != cases[i].rc || s != NULL || strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: rc %d, err '%s'", i, rc, err);
	}
}

/* No spool: the memory queue is the bound. A FIFO without a reader cannot be opened, so
 * the alerts wait; the newest are dropped, counted, and a notice takes their place. */
static void test_queue_bound_notice(void **state)
{
	vigil_sink_options o = test_options();
	const char *path = tpath("fifo");
	vigil_sink *s;
	vigil_sink_stats st;
	size_t len;
	char *b, *line;
	int rcs[15];

	(void)state;
	assert_int_equal(mkfifo(path, 0600), 0);
	o.queue_max = 10;
	s = open_sink(path, &o);
	assert_true(wait_stats(s, failed_once, 0, 5000, &st));
	assert_non_null(strstr(st.last_error_msg, "No such device or address"));
	for (int i = 0; i < 15; i++)
		rcs[i] = vigil_sink_send(s, 4, NULL, "{\"n\":1}", 7);
	for (int i = 0; i < 15; i++)
		assert_int_equal(rcs[i], i < 10 ? 0 : VIGIL_E_LIMIT);
	st = stats_of(s);
	assert_int_equal(st.dropped, 5);
	assert_int_equal(st.queued, 10);
	assert_int_equal(vigil_sink_flush(s, 100), VIGIL_E_LIMIT);
	/* The reader appears: a regular file where the FIFO was. */
	assert_int_equal(unlink(path), 0);
	assert_true(wait_stats(s, sent_at_least, 10, 5000, &st));
	assert_int_equal(vigil_sink_send(s, 4, NULL, "{\"n\":2}", 7), 0);
	assert_int_equal(vigil_sink_close(s, &st), 0);
	assert_int_equal(st.sent, 12);
	b = slurp(path, &len);
	assert_non_null(b);
	line = b;
	for (int i = 0; i < 10; i++, line = strchr(line, '\n') + 1)
		assert_memory_equal(line, "{\"n\":1}\n", 8);
	if (strncmp(line, "{\"@timestamp\":\"", 15) != 0 ||
	    strstr(line,
		   "\"kind\":\"agent\",\"event\":\"alerts_dropped\",\"severity\":\"error\"") ==
		NULL ||
	    strstr(line, "\"reason\":\"5 alerts were dropped by the output to file (memory queue "
			 "full) between ") == NULL ||
	    strstr(line, "\"count\":5,\"first\":\"") == NULL ||
	    strstr(line, "\"cause\":\"memory queue full\"}\n{\"n\":2}\n") == NULL)
		fail_msg("no notice in the gap: %s", line);
	free(b);
}

/* A full disk under the alert file: nothing is lost, nothing half written. /dev/full fails
 * every write with ENOSPC; the alerts go to the spool, survive a restart of the sink, and
 * arrive in order once the target works. */
static void test_dev_full_then_restart(void **state)
{
	vigil_sink_options o = test_options();
	vigil_sink *s;
	vigil_sink_stats st;

	(void)state;
	if (access("/dev/full", W_OK) != 0) {
		print_message("SKIP: /dev/full is missing\n");
		skip();
	}
	o.spool_dir = tpath("spool");
	s = open_sink("/dev/full", &o);
	for (int i = 0; i < 500; i++)
		send_alert(s, i);
	assert_true(wait_stats(s, failed_once, 0, 5000, &st));
	assert_non_null(strstr(st.last_error_msg, "No space left on device"));
	/* Moved to the spool and synced: flush counts that as done. */
	assert_int_equal(vigil_sink_flush(s, 10000), 0);
	assert_int_equal(vigil_sink_close(s, &st), 0);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.spooled, 500);

	s = open_sink(tpath("out.jsonl"), &o);
	st = stats_of(s);
	assert_int_equal(st.spooled + st.sent, 500);
	send_alert(s, 500); /* behind the spooled ones */
	assert_true(wait_stats(s, sent_at_least, 501, 10000, &st));
	assert_int_equal(vigil_sink_close(s, &st), 0);
	assert_int_equal(st.spooled, 0);
	expect_file(tpath("out.jsonl"), 0, 501);
}

/* The process dies (SIGKILL) with alerts in the spool, one of them half written: after the
 * restart every whole alert arrives, in order, and the torn one is counted. */
static void test_crash_recovery(void **state)
{
	vigil_sink_options o = test_options();
	const char *spool = tpath("spool");
	int status, port = free_port();
	char target[64];
	pid_t pid;
	vigil_sink *s;
	vigil_sink_stats st;

	(void)state;
	snprintf(target, sizeof(target), "tcp://127.0.0.1:%d", port); /* nobody listens */
	o.spool_dir = spool;
	o.queue_max = 0; /* every alert straight to the spool */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];

		if (vigil_sink_open(target, &o, &s, err, sizeof(err)) != 0)
			_exit(2);
		for (int i = 0; i < 300; i++) {
			char buf[1024];
			size_t n = make_alert(buf, sizeof(buf), i);

			if (vigil_sink_send(s, i % 8, i % 3 ? "file_changed" : NULL, buf, n) != 0)
				_exit(3);
		}
		if (vigil_sink_flush(s, 10000) != 0)
			_exit(4);
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* What a crash in the middle of the next append leaves: half a record. */
	{
		char cmd[PATH_MAX * 2];

		snprintf(cmd, sizeof(cmd),
			 "f=$(ls %s/*.spool | tail -1); printf 'VGR1\\x40\\x00\\x00' >> $f", spool);
		assert_int_equal(system(cmd), 0);
	}
	s = open_sink(tpath("out.jsonl"), &o);
	st = stats_of(s);
	assert_int_equal(st.torn, 1);
	assert_true(wait_stats(s, sent_at_least, 300, 10000, &st));
	assert_int_equal(vigil_sink_close(s, &st), 0);
	assert_int_equal(st.dropped, 0);
	expect_file(tpath("out.jsonl"), 0, 300);
}

/* The spool bound: the newest alerts are dropped and counted, and the notice comes where
 * they would have been. */
static void test_spool_full_notice(void **state)
{
	vigil_sink_options o = test_options();
	vigil_sink *s;
	vigil_sink_stats st;
	char big[8000];
	int accepted = 0, dropped = 0;
	size_t len;
	char *b, *p;

	(void)state;
	assert_int_equal(mkfifo(tpath("fifo"), 0600), 0);
	o.spool_dir = tpath("spool");
	o.spool_max_bytes = 64 * 1024;
	o.queue_max = 4;
	s = open_sink(tpath("fifo"), &o);
	for (int i = 0; i < 40; i++) {
		int n = snprintf(big, sizeof(big), "{\"seq\":%d,\"p\":\"", i);

		memset(big + n, 'z', sizeof(big) - 2 - (size_t)n);
		memcpy(big + sizeof(big) - 2, "\"}", 2);
		if (vigil_sink_send(s, 4, NULL, big, sizeof(big)) == 0)
			accepted++;
		else
			dropped++;
	}
	assert_true(dropped > 0 && accepted > 4);
	st = stats_of(s);
	assert_int_equal(st.dropped, (uint64_t)dropped);
	assert_true(st.spool_bytes <= 64 * 1024 + 4 * 8100); /* the bound, plus the spilled queue */
	assert_int_equal(unlink(tpath("fifo")), 0);
	assert_true(wait_stats(s, sent_at_least, (uint64_t)accepted + 1, 10000, &st));
	assert_int_equal(vigil_sink_send(s, 4, NULL, "{\"after\":1}", 11), 0);
	assert_int_equal(vigil_sink_close(s, &st), 0);
	b = slurp(tpath("fifo"), &len);
	p = b;
	for (int i = 0; i < accepted; i++) {
		assert_int_equal(seq_of(p, len - (size_t)(p - b)), i);
		p = strchr(p, '\n') + 1;
	}
	{
		char want[128];

		snprintf(want, sizeof(want), "\"event\":\"alerts_dropped\",");
		assert_non_null(strstr(p, want));
		snprintf(want, sizeof(want), "\"count\":%d,", dropped);
		assert_non_null(strstr(p, want));
		assert_true(strstr(p, want) < strchr(p, '\n'));
		assert_non_null(strstr(p, "\"cause\":\"spool full\"}\n{\"after\":1}\n"));
	}
	free(b);
}

/* A real ENOSPC on a file system that fills up (a 256 KiB tmpfs in a private mount
 * namespace: needs root). A batch that half fits is cut back, so the file never holds a
 * torn line; once there is room, every alert is there exactly once, in order. */
static int enospc_child(void)
{
	vigil_sink_options o = test_options();
	const char *small = tpath("small"), *filler = tpath("small/filler");
	char path[PATH_MAX], err[256], chunk[4096];
	vigil_sink *s;
	vigil_sink_stats st;
	int fd;

	snprintf(path, sizeof(path), "%s/alerts.jsonl", small);
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return 77;
	if (mkdir(small, 0700) != 0 || mount("tmpfs", small, "tmpfs", 0, "size=256k") != 0)
		return 77;
	/* Fill it, then free one page: the first alerts fit, a later batch only in part. */
	memset(chunk, 'f', sizeof(chunk));
	if ((fd = open(filler, O_WRONLY | O_CREAT, 0600)) < 0)
		return 10;
	while (write(fd, chunk, sizeof(chunk)) > 0)
		;
	if (errno != ENOSPC || ftruncate(fd, lseek(fd, 0, SEEK_END) - 4096) != 0)
		return 11;
	close(fd);
	o.spool_dir = tpath("spool"); /* on the real disk */
	if (vigil_sink_open(path, &o, &s, err, sizeof(err)) != 0)
		return 12;
	for (int i = 0; i < 200; i++) {
		char buf[1024];
		size_t n = make_alert(buf, sizeof(buf), i);

		if (vigil_sink_send(s, 3, NULL, buf, n) != 0)
			return 13;
		if (i % 20 == 0)
			msleep(5);
	}
	for (int i = 0; i < 500; i++) {
		vigil_sink_get_stats(s, &st);
		if (st.failures > 0)
			break;
		msleep(10);
	}
	if (st.failures == 0 || strstr(st.last_error_msg, "No space left on device") == NULL)
		return 14;
	if (st.dropped != 0 || st.queued + st.spooled + st.sent != 200 || st.sent >= 200)
		return 15;
	{
		/* Only whole lines, even while the disk is full. */
		size_t len;
		char *b = slurp(path, &len);

		if (b && len > 0 && b[len - 1] != '\n')
			return 16;
		free(b);
	}
	unlink(filler);
	if (vigil_sink_flush(s, 20000) != 0)
		return 17;
	for (int i = 0; i < 1000; i++) {
		vigil_sink_get_stats(s, &st);
		if (st.sent >= 200)
			break;
		msleep(10);
	}
	if (vigil_sink_close(s, &st) != 0 || st.sent != 200 || st.dropped != 0)
		return 18;
	{
		size_t len;
		char *b = slurp(path, &len), *p = b;

		for (int i = 0; i < 200; i++) {
			char want[1024];
			size_t n = make_alert(want, sizeof(want), i);

			if (p == NULL || (size_t)(b + len - p) <= n || memcmp(p, want, n) ||
			    p[n] != '\n')
				return 19;
			p += n + 1;
		}
		if (p != b + len)
			return 20;
		free(b);
	}
	return 0;
}

static void test_enospc(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		print_message("SKIP: needs root to mount a small tmpfs\n");
		skip();
	}
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(enospc_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		print_message("SKIP: cannot mount a tmpfs in a private namespace\n");
		skip();
	}
	if (WEXITSTATUS(status) != 0)
		fail_msg("disk-full scenario failed at step %d", WEXITSTATUS(status));
}

/* ---- a syslog TCP server in the test: RFC 6587 octet counting, and crashes on demand ---- */

typedef struct tsrv {
	int lfd, port;
	pthread_t th;
	pthread_mutex_t mu;
	char **msgs;
	size_t n, cap;
	size_t crash_at;    /* the first connection dies (RST) once this many messages came */
	size_t forget;      /* and loses that many of them: its memory queue */
	int crash_delay_ms; /* after holding them this long (acknowledged by TCP meanwhile) */
	bool crashed;
	unsigned conns;
	size_t bad;
	atomic_bool stop;
} tsrv;

static void tsrv_add(tsrv *t, const char *m, size_t len)
{
	pthread_mutex_lock(&t->mu);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 1024;
		t->msgs = realloc(t->msgs, t->cap * sizeof(*t->msgs));
	}
	t->msgs[t->n] = strndup(m, len);
	t->n++;
	pthread_mutex_unlock(&t->mu);
}

static void tsrv_conn(tsrv *t, int fd)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);

	while (!atomic_load(&t->stop)) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;
		size_t off = 0;

		if (poll(&p, 1, 50) <= 0)
			continue;
		if ((r = read(fd, buf + len, cap - len)) <= 0)
			break;
		len += (size_t)r;
		for (;;) {
			size_t mlen = 0, i = off;

			while (i < len && buf[i] >= '0' && buf[i] <= '9')
				mlen = mlen * 10 + (size_t)(buf[i++] - '0');
			if (i >= len || i + 1 + mlen > len)
				break;
			if (buf[i] != ' ' || i == off) {
				t->bad++;
				goto out;
			}
			tsrv_add(t, buf + i + 1, mlen);
			off = i + 1 + mlen;
			if (t->crash_at && !t->crashed && t->n >= t->crash_at) {
				struct linger l = {1, 0};

				msleep(t->crash_delay_ms);
				pthread_mutex_lock(&t->mu);
				for (size_t k = 0; k < t->forget && t->n; k++)
					free(t->msgs[--t->n]);
				t->crashed = true;
				pthread_mutex_unlock(&t->mu);
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
				goto out;
			}
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
out:
	close(fd);
	free(buf);
}

static void *tsrv_main(void *arg)
{
	tsrv *t = arg;

	while (!atomic_load(&t->stop)) {
		struct pollfd p = {t->lfd, POLLIN, 0};
		int fd;

		if (poll(&p, 1, 50) <= 0 || (fd = accept(t->lfd, NULL, NULL)) < 0)
			continue;
		t->conns++;
		tsrv_conn(t, fd);
	}
	return NULL;
}

static void tsrv_start(tsrv *t, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)port)};
	socklen_t al = sizeof(a);
	int one = 1;

	t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(t->lfd >= 0);
	setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(t->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(t->lfd, 8), 0);
	assert_int_equal(getsockname(t->lfd, (struct sockaddr *)&a, &al), 0);
	t->port = ntohs(a.sin_port);
	pthread_mutex_init(&t->mu, NULL);
	atomic_store(&t->stop, false);
	assert_int_equal(pthread_create(&t->th, NULL, tsrv_main, t), 0);
}

static void tsrv_stop(tsrv *t)
{
	atomic_store(&t->stop, true);
	pthread_join(t->th, NULL);
	close(t->lfd);
	for (size_t i = 0; i < t->n; i++)
		free(t->msgs[i]);
	free(t->msgs);
	pthread_mutex_destroy(&t->mu);
}

/* What a receiver got, judged against alerts 0..n-1. */
typedef struct verdict {
	int missing;      /* alerts never received */
	int dups;         /* receptions beyond the first */
	int out_of_order; /* first receptions that came after a later alert's first */
	int broken;       /* messages that are not an intact alert of ours */
} verdict;

static verdict judge(char **msgs, size_t nmsgs, int n, bool is_5424)
{
	int *seen = calloc((size_t)n, sizeof(int)), last_first = -1;
	verdict v = {0};

	for (size_t i = 0; i < nmsgs; i++) {
		const char *m = msgs[i];
		size_t len = strlen(m);
		char want[1024];
		hdr5424 h;
		int seq;

		if (is_5424) {
			if (!parse_5424(m, len, &h)) {
				v.broken++;
				continue;
			}
			m = h.msg;
			len = h.msg_len;
		}
		seq = seq_of(m, len);
		if (seq < 0 || seq >= n || len != make_alert(want, sizeof(want), seq) ||
		    memcmp(m, want, len) != 0 ||
		    (is_5424 && (h.pri != 10 * 8 + seq % 8 || strcmp(h.host, TEST_HOST) ||
				 strcmp(h.app, RSYSLOG_APP) ||
				 strcmp(h.msgid, seq % 3 ? "file_changed" : "-")))) {
			v.broken++;
			continue;
		}
		if (seen[seq]++ == 0) {
			if (seq < last_first)
				v.out_of_order++;
			last_first = seq;
		} else {
			v.dups++;
		}
	}
	for (int i = 0; i < n; i++)
		v.missing += seen[i] == 0;
	free(seen);
	return v;
}

/*
 * The receiver crashes: it read 400 alerts, held the last 50 in memory (acknowledged by its
 * TCP) for 300 ms, and died with a reset, losing them. With settle_ms (1 s) longer than
 * that, they are sent again: nothing is lost, duplicates are possible and counted. With
 * settle_ms 0 (trusting TCP's acknowledgement, as plain syslog senders do) they are lost:
 * this is the case the settle window exists for, and it shows the test can fail.
 */
static void run_crashing_peer(unsigned settle_ms, verdict *out, vigil_sink_stats *st_out)
{
	vigil_sink_options o = test_options();
	tsrv t = {.crash_at = 400, .forget = 50, .crash_delay_ms = 300};
	char target[64];
	vigil_sink *s;
	vigil_sink_stats st;
	const int n = 1000;

	tsrv_start(&t, 0);
	snprintf(target, sizeof(target), "tcp://127.0.0.1:%d", t.port);
	o.settle_ms = settle_ms;
	o.spool_dir = tpath(settle_ms ? "spool-a" : "spool-b");
	o.queue_max = 128;
	s = open_sink(target, &o);
	for (int i = 0; i < n; i++) {
		send_alert(s, i);
		if (i % 50 == 49)
			msleep(20); /* a stream, not one burst */
	}
	assert_int_equal(vigil_sink_flush(s, 20000), 0);
	assert_true(wait_stats(s, sent_at_least, (uint64_t)n, 20000, &st));
	msleep(100); /* the server thread reads what its kernel acknowledged */
	assert_int_equal(vigil_sink_close(s, &st), 0);
	pthread_mutex_lock(&t.mu);
	*out = judge(t.msgs, t.n, n, true);
	pthread_mutex_unlock(&t.mu);
	assert_true(t.crashed);
	assert_true(t.conns >= 2);
	assert_int_equal(t.bad, 0);
	*st_out = st;
	tsrv_stop(&t);
}

static void test_tcp_peer_crash(void **state)
{
	verdict v;
	vigil_sink_stats st;

	(void)state;
	run_crashing_peer(1000, &v, &st);
	print_message("# settle 1000 ms: missing %d, duplicates %d, resent %llu, reconnects %llu\n",
		      v.missing, v.dups, (unsigned long long)st.resent,
		      (unsigned long long)st.reconnects);
	assert_int_equal(v.broken, 0);
	assert_int_equal(v.missing, 0);
	assert_int_equal(v.out_of_order, 0);
	assert_true(v.dups <= (int)st.resent); /* every duplicate was a deliberate resend */
	assert_true(st.reconnects >= 1);
	assert_int_equal(st.dropped, 0);

	run_crashing_peer(0, &v, &st);
	print_message("# settle 0 ms: missing %d (the receiver's lost memory queue)\n", v.missing);
	assert_int_equal(v.broken, 0);
	assert_int_equal(v.out_of_order, 0);
	assert_true(v.missing > 0);
}

/* An unreachable receiver at start, alerts queued, the sink closed: the next sink over the
 * same spool delivers them first, in order, when the receiver is finally there. */
static void test_tcp_outage_and_restart(void **state)
{
	vigil_sink_options o = test_options();
	int port = free_port();
	char target[64];
	vigil_sink *s;
	vigil_sink_stats st;
	tsrv t = {0};
	verdict v;

	(void)state;
	snprintf(target, sizeof(target), "tcp://127.0.0.1:%d", port);
	o.spool_dir = tpath("spool");
	o.queue_max = 50;
	s = open_sink(target, &o);
	for (int i = 0; i < 400; i++)
		send_alert(s, i);
	assert_true(wait_stats(s, failed_once, 0, 5000, &st));
	assert_non_null(strstr(st.last_error_msg, "Connection refused"));
	assert_int_equal(vigil_sink_flush(s, 10000), 0); /* all on disk */
	assert_int_equal(vigil_sink_close(s, &st), 0);
	assert_int_equal(st.spooled, 400);
	assert_int_equal(st.dropped, 0);

	tsrv_start(&t, port);
	s = open_sink(target, &o);
	for (int i = 400; i < 500; i++)
		send_alert(s, i);
	assert_true(wait_stats(s, sent_at_least, 500, 20000, &st));
	assert_int_equal(vigil_sink_close(s, &st), 0);
	pthread_mutex_lock(&t.mu);
	v = judge(t.msgs, t.n, 500, true);
	pthread_mutex_unlock(&t.mu);
	assert_int_equal(v.broken, 0);
	assert_int_equal(v.missing, 0);
	assert_int_equal(v.out_of_order, 0);
	assert_int_equal(v.dups, 0); /* the receiver never failed: exactly once */
	tsrv_stop(&t);
}

/* ---- a real rsyslogd ---- */

typedef enum rs_mode { RS_TCP, RS_TLS, RS_UDP, RS_UNIX } rs_mode;

typedef struct rsys {
	rs_mode mode;
	char dir[PATH_MAX];
	const char *driver; /* TLS netstream driver: "ossl" or "gtls" */
	int port;
	int gen; /* instances started; instance g writes out<g>.log */
	pid_t pid;
} rsys;

static const char *rsyslogd_path(void)
{
	static const char *const paths[] = {"/usr/sbin/rsyslogd", "/sbin/rsyslogd",
					    "/usr/bin/rsyslogd"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

static bool have_rsyslogd(void)
{
	if (rsyslogd_path() != NULL)
		return true;
	print_message("SKIP: rsyslogd not installed (Debian: rsyslog)\n");
	return false;
}

/* The netstream driver for TLS: rsyslog-openssl (ossl) or rsyslog-gnutls (gtls). */
static const char *tls_driver(void)
{
	static const char *const dirs[] = {"/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/rsyslog",
					   "/usr/lib64/rsyslog",
					   "/usr/lib/aarch64-linux-gnu/rsyslog"};
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
		snprintf(p, sizeof(p), "%s/lmnsd_ossl.so", dirs[i]);
		if (access(p, R_OK) == 0)
			return "ossl";
		snprintf(p, sizeof(p), "%s/lmnsd_gtls.so", dirs[i]);
		if (access(p, R_OK) == 0)
			return "gtls";
	}
	return NULL;
}

static void rs_conf(rsys *r)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/rsyslog.conf", r->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "global(workDirectory=\"%s\" maxMessageSize=\"64k\"", r->dir);
	if (r->mode == RS_TLS)
		fprintf(f,
			" defaultNetstreamDriver=\"%s\" defaultNetstreamDriverCAFile=\"%s/ca.pem\""
			" defaultNetstreamDriverCertFile=\"%s/server.pem\""
			" defaultNetstreamDriverKeyFile=\"%s/server.key\"",
			r->driver, r->dir, r->dir, r->dir);
	fprintf(f, ")\n");
	switch (r->mode) {
	case RS_TCP:
		fprintf(f,
			"module(load=\"imtcp\")\n"
			"input(type=\"imtcp\" port=\"%d\" address=\"127.0.0.1\")\n",
			r->port);
		break;
	case RS_TLS:
		fprintf(f,
			"module(load=\"imtcp\" streamDriver.name=\"%s\" streamDriver.mode=\"1\" "
			"streamDriver.authMode=\"anon\")\n"
			"input(type=\"imtcp\" port=\"%d\" address=\"127.0.0.1\")\n",
			r->driver, r->port);
		break;
	case RS_UDP:
		fprintf(f,
			"module(load=\"imudp\")\n"
			"input(type=\"imudp\" port=\"%d\" address=\"127.0.0.1\")\n",
			r->port);
		break;
	case RS_UNIX:
		fprintf(
		    f,
		    "module(load=\"imuxsock\" SysSock.Use=\"off\")\n"
		    "input(type=\"imuxsock\" Socket=\"%s/log.sock\" RateLimit.Interval=\"0\")\n",
		    r->dir);
		break;
	}
	/* Every field as rsyslog parsed it, so the test sees what a SIEM would. */
	fprintf(
	    f,
	    "template(name=\"t\" type=\"string\" string=\"%%pri%%|%%timereported:::date-rfc3339%%|"
	    "%%hostname%%|%%app-name%%|%%procid%%|%%msgid%%|%%structured-data%%|%%msg%%\\n\")\n"
	    "if $app-name == \"" RSYSLOG_APP "\" then {\n"
	    "  action(type=\"omfile\" file=\"%s/out%d.log\" template=\"t\")\n"
	    "  stop\n}\n"
	    "action(type=\"omfile\" file=\"%s/other.log\")\n",
	    r->dir, r->gen, r->dir);
	fclose(f);
}

static bool udp_bound(int port)
{
	char line[512], want[32];
	FILE *f = fopen("/proc/net/udp", "r");
	bool found = false;

	if (f == NULL)
		return false;
	snprintf(want, sizeof(want), "0100007F:%04X", port);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, want) != NULL;
	fclose(f);
	return found;
}

static bool rs_ready(rsys *r)
{
	if (r->mode == RS_UNIX) {
		char p[PATH_MAX + 16];

		snprintf(p, sizeof(p), "%s/log.sock", r->dir);
		return access(p, F_OK) == 0;
	}
	if (r->mode == RS_UDP)
		return udp_bound(r->port);
	{
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
					.sin_port = htons((uint16_t)r->port)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

		close(fd);
		return ok;
	}
}

static void rs_start(rsys *r)
{
	char conf[PATH_MAX + 16], pidf[PATH_MAX + 16], logf[PATH_MAX + 16];
	pid_t pid;

	r->gen++;
	rs_conf(r);
	snprintf(conf, sizeof(conf), "%s/rsyslog.conf", r->dir);
	snprintf(pidf, sizeof(pidf), "%s/rsyslogd.pid", r->dir);
	snprintf(logf, sizeof(logf), "%s/rsyslogd.log", r->dir);
	unlink(pidf); /* left by a killed instance */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(rsyslogd_path(), "rsyslogd", "-n", "-f", conf, "-i", pidf, (char *)NULL);
		_exit(127);
	}
	track_child(pid);
	r->pid = pid;
	for (int64_t end = now_ms() + 15000;;) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			size_t len;
			char *log = slurp(logf, &len);

			untrack_child(pid);
			fail_msg("rsyslogd exited at start: %s", log ? log : "");
		}
		if (rs_ready(r))
			break;
		if (now_ms() > end)
			fail_msg("rsyslogd did not come up on port %d", r->port);
		msleep(20);
	}
}

static void rs_stop(rsys *r, int sig)
{
	if (r->pid <= 0)
		return;
	kill(r->pid, sig);
	waitpid(r->pid, NULL, 0);
	untrack_child(r->pid);
	r->pid = 0;
}

static void rs_init(rsys *r, rs_mode mode)
{
	memset(r, 0, sizeof(*r));
	r->mode = mode;
	snprintf(r->dir, sizeof(r->dir), "%s/rs%d", tmp_root, (int)mode);
	assert_int_equal(mkdir(r->dir, 0700), 0);
	r->port = free_port();
}

/* A CA, a second unrelated CA, and a server certificate for DNS:localhost only. */
static void make_certs(const char *dir)
{
	char cmd[PATH_MAX * 2 + 2048];

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && exec >certs.log 2>&1 && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout ca.key -out ca.pem -days 2 -subj /CN=vigil-test-ca && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout other.key -out other.pem -days 2 -subj /CN=vigil-other-ca && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout server.key -out server.csr -subj /CN=localhost && "
		 "printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n"
		 "extendedKeyUsage=serverAuth\\n' >ext.cnf && "
		 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out server.pem -days 2 -extfile ext.cnf",
		 dir);
	if (system(cmd) != 0)
		fail_msg("openssl failed: see %s/certs.log", dir);
}

/* Everything the rsyslog instances wrote, judged; torn counts lines a killed rsyslogd
 * left unterminated (its own output buffer, not ours). */
static verdict rs_judge(rsys *r, int n, int *torn)
{
	char **msgs = NULL, procid[24];
	size_t nmsgs = 0, cap = 0;
	verdict v;

	snprintf(procid, sizeof(procid), "%d", (int)getpid());
	*torn = 0;
	for (int g = 1; g <= r->gen; g++) {
		char path[PATH_MAX + 32], *b, *p;
		size_t len;

		snprintf(path, sizeof(path), "%s/out%d.log", r->dir, g);
		if ((b = slurp(path, &len)) == NULL)
			continue;
		for (p = b; p < b + len;) {
			char *nl = memchr(p, '\n', (size_t)(b + len - p)), *f[8];
			int k = 0;

			if (nl == NULL) {
				(*torn)++;
				break;
			}
			*nl = '\0';
			f[k++] = p;
			for (char *c = p; *c && k < 8; c++)
				if (*c == '|') {
					*c = '\0';
					f[k++] = c + 1;
				}
			p = nl + 1;
			if (k < 8) {
				if (nmsgs == cap)
					msgs = realloc(msgs, (cap = cap * 2 + 64) * sizeof(*msgs));
				msgs[nmsgs++] = strdup("unparsed");
				continue;
			}
			{
				int seq = seq_of(f[7], strlen(f[7]));
				char *m = f[7];
				bool ok;

				while (*m ==
				       ' ') /* the RFC 3164 parser keeps the space before MSG */
					m++;
				ok = seq >= 0 && atoi(f[0]) == 10 * 8 + seq % 8 &&
				     !strcmp(f[3], RSYSLOG_APP) && !strcmp(f[4], procid) &&
				     !strcmp(f[6], "-");
				if (ok && r->mode != RS_UNIX)
					ok = !strcmp(f[2], TEST_HOST) &&
					     !strcmp(f[5], seq % 3 ? "file_changed" : "-");
				if (nmsgs == cap)
					msgs = realloc(msgs, (cap = cap * 2 + 64) * sizeof(*msgs));
				msgs[nmsgs++] = strdup(ok ? m : "bad header");
			}
		}
		free(b);
	}
	v = judge(msgs, nmsgs, n, false);
	for (size_t i = 0; i < nmsgs; i++)
		free(msgs[i]);
	free(msgs);
	return v;
}

static verdict rs_wait_all(rsys *r, int n, int ms, int *torn)
{
	int64_t end = now_ms() + ms;
	verdict v;

	do {
		v = rs_judge(r, n, torn);
		if (v.missing == 0)
			break;
		msleep(100);
	} while (now_ms() < end);
	return v;
}

static void rs_target(const rsys *r, char *out, size_t cap)
{
	switch (r->mode) {
	case RS_TCP:
		snprintf(out, cap, "tcp://127.0.0.1:%d", r->port);
		break;
	case RS_TLS:
		snprintf(out, cap, "tls://localhost:%d", r->port);
		break;
	case RS_UDP:
		snprintf(out, cap, "udp://127.0.0.1:%d", r->port);
		break;
	case RS_UNIX:
		snprintf(out, cap, "unix:%s/log.sock", r->dir);
		break;
	}
}

/*
 * 2000 alerts into rsyslogd, which is killed (SIGKILL) after the 1000th while alerts are
 * in flight, stays down while 300 more are queued, and is started again on the same port.
 * Guarantee checked: AT LEAST ONCE, IN ORDER - every alert arrives intact (header fields
 * as rsyslog parsed them, the JSON byte for byte), the first arrivals are in order, and
 * every duplicate is one the sink counted as resent.
 */
static void rsyslog_kill_restart(rs_mode mode)
{
	vigil_sink_options o = test_options();
	char target[PATH_MAX + 32], ca[PATH_MAX + 16];
	const int n = 2000;
	vigil_sink *s;
	vigil_sink_stats st;
	verdict v;
	rsys r;
	int torn;

	rs_init(&r, mode);
	if (mode == RS_TLS) {
		if ((r.driver = tls_driver()) == NULL) {
			print_message("SKIP: rsyslog TLS driver not installed "
				      "(Debian: rsyslog-openssl or rsyslog-gnutls)\n");
			skip();
		}
		make_certs(r.dir);
		snprintf(ca, sizeof(ca), "%s/ca.pem", r.dir);
		o.ca_file = ca;
	}
	rs_start(&r);
	rs_target(&r, target, sizeof(target));
	o.spool_dir = tpath("spool");
	o.queue_max = 256;
	s = open_sink(target, &o);
	for (int i = 0; i < n; i++) {
		send_alert(s, i);
		if (i % 100 == 99)
			msleep(10);
		if (i == 1000) {
			rs_stop(&r, SIGKILL);
			msleep(300);
		}
		if (i == 1300)
			rs_start(&r);
	}
	assert_int_equal(vigil_sink_flush(s, 30000), 0);
	v = rs_wait_all(&r, n, 60000, &torn);
	assert_int_equal(vigil_sink_close(s, &st), 0);
	rs_stop(&r, SIGTERM);
	print_message("# %s: %d alerts, rsyslogd killed once: missing %d, duplicates %d, "
		      "resent %llu, reconnects %llu, lines rsyslogd left torn %d\n",
		      mode == RS_TLS ? "tls" : "tcp", n, v.missing, v.dups,
		      (unsigned long long)st.resent, (unsigned long long)st.reconnects, torn);
	assert_int_equal(v.missing, 0);
	assert_int_equal(v.broken, 0);
	assert_int_equal(v.out_of_order, 0);
	assert_true(v.dups <= (int)st.resent);
	assert_true(st.reconnects >= 1);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.spooled, 0);
}

static void test_rsyslog_tcp(void **state)
{
	(void)state;
	if (!have_rsyslogd())
		skip();
	rsyslog_kill_restart(RS_TCP);
}

static void test_rsyslog_tls(void **state)
{
	(void)state;
	if (!have_rsyslogd())
		skip();
	rsyslog_kill_restart(RS_TLS);
}

/* A server whose certificate does not chain to our CA, or does not name the host we
 * asked for, is refused with a clear error, and nothing is sent to it. */
static void test_rsyslog_tls_refused(void **state)
{
	static const struct {
		const char *ca, *host, *msg;
	} cases[] = {
	    /* The wording depends on whether the server sends its CA along ("self-signed
	     * certificate in certificate chain") or not ("unable to get local issuer
	     * certificate"). */
	    {"other.pem", "localhost", "does not verify against"},
	    {"ca.pem", "127.0.0.1", "IP address mismatch"},
	};
	rsys r;

	(void)state;
	if (!have_rsyslogd())
		skip();
	rs_init(&r, RS_TLS);
	if ((r.driver = tls_driver()) == NULL) {
		print_message("SKIP: rsyslog TLS driver not installed "
			      "(Debian: rsyslog-openssl or rsyslog-gnutls)\n");
		skip();
	}
	make_certs(r.dir);
	rs_start(&r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		vigil_sink_options o = test_options();
		char target[64], ca[PATH_MAX + 16];
		vigil_sink *s;
		vigil_sink_stats st;
		int torn;

		snprintf(ca, sizeof(ca), "%s/%s", r.dir, cases[i].ca);
		snprintf(target, sizeof(target), "tls://%s:%d", cases[i].host, r.port);
		o.ca_file = ca;
		o.spool_dir = tpath(i ? "spool1" : "spool0");
		s = open_sink(target, &o);
		send_alert(s, 0);
		assert_true(wait_stats(s, failed_once, 0, 10000, &st));
		if (st.last_error != VIGIL_E_CRYPTO || !strstr(st.last_error_msg, cases[i].msg) ||
		    !strstr(st.last_error_msg, "refusing the server"))
			fail_msg("case %zu: %d %s", i, st.last_error, st.last_error_msg);
		print_message("# refused: %s\n", st.last_error_msg);
		msleep(300);
		st = stats_of(s);
		assert_false(st.connected);
		assert_int_equal(st.sent, 0);
		assert_int_equal(vigil_sink_close(s, &st), 0);
		assert_int_equal(st.spooled, 1); /* kept for a server we trust */
		assert_int_equal(rs_judge(&r, 1, &torn).missing, 1);
	}
	rs_stop(&r, SIGTERM);
}

/* Datagrams: into imudp (RFC 5424) and imuxsock (the syslog(3) format), paced so that the
 * receiver's buffer does not overflow: UDP would lose silently, which is its nature. */
static void rsyslog_datagrams(rs_mode mode)
{
	vigil_sink_options o = test_options();
	char target[PATH_MAX + 32];
	const int n = 500;
	vigil_sink *s;
	vigil_sink_stats st;
	verdict v;
	rsys r;
	int torn;

	rs_init(&r, mode);
	rs_start(&r);
	rs_target(&r, target, sizeof(target));
	s = open_sink(target, &o);
	for (int i = 0; i < n; i++) {
		send_alert(s, i);
		if (i % 10 == 9) {
			assert_int_equal(vigil_sink_flush(s, 10000), 0);
			msleep(2);
		}
	}
	assert_int_equal(vigil_sink_flush(s, 10000), 0);
	v = rs_wait_all(&r, n, 20000, &torn);
	assert_int_equal(vigil_sink_close(s, &st), 0);
	rs_stop(&r, SIGTERM);
	assert_int_equal(v.missing, 0);
	assert_int_equal(v.broken, 0);
	assert_int_equal(v.dups, 0);
	assert_int_equal(v.out_of_order, 0);
	assert_int_equal(st.sent, (uint64_t)n);
}

static void test_rsyslog_udp(void **state)
{
	(void)state;
	if (!have_rsyslogd())
		skip();
	rsyslog_datagrams(RS_UDP);
}

static void test_rsyslog_unix(void **state)
{
	(void)state;
	if (!have_rsyslogd())
		skip();
	rsyslog_datagrams(RS_UNIX);
}

/* Figures: a burst of 20000 alerts into rsyslogd over TCP and TLS. */
static void rsyslog_burst(rs_mode mode)
{
	vigil_sink_options o = test_options();
	char target[PATH_MAX + 32], ca[PATH_MAX + 16];
	const int n = 20000;
	int64_t t0, t1, t2, t3;
	size_t bytes = 0;
	vigil_sink *s;
	vigil_sink_stats st;
	verdict v;
	rsys r;
	int torn;

	rs_init(&r, mode);
	if (mode == RS_TLS) {
		if ((r.driver = tls_driver()) == NULL) {
			print_message("SKIP: rsyslog TLS driver not installed\n");
			return;
		}
		make_certs(r.dir);
		snprintf(ca, sizeof(ca), "%s/ca.pem", r.dir);
		o.ca_file = ca;
	}
	rs_start(&r);
	rs_target(&r, target, sizeof(target));
	o.spool_dir = tpath(mode == RS_TLS ? "spool-tls" : "spool-tcp");
	s = open_sink(target, &o);
	msleep(200); /* connected */
	for (int i = 0; i < n; i++) {
		char buf[1024];

		bytes += make_alert(buf, sizeof(buf), i);
	}
	t0 = now_ms();
	for (int i = 0; i < n; i++)
		send_alert(s, i);
	t1 = now_ms();
	assert_int_equal(vigil_sink_flush(s, 60000), 0);
	t2 = now_ms();
	v = rs_wait_all(&r, n, 60000, &torn);
	t3 = now_ms();
	assert_int_equal(vigil_sink_close(s, &st), 0);
	rs_stop(&r, SIGTERM);
	print_message("# %s burst of %d alerts (%zu bytes of JSON each on average): accepted in "
		      "%lld ms (%.0f/s), "
		      "acknowledged by rsyslogd's TCP in %lld ms (%.0f/s), in its file after %lld "
		      "ms (%.0f/s); spooled on the way %s\n",
		      mode == RS_TLS ? "tls" : "tcp", n, bytes / (size_t)n, (long long)(t1 - t0),
		      n * 1000.0 / (double)(t1 - t0 + 1), (long long)(t2 - t0),
		      n * 1000.0 / (double)(t2 - t0 + 1), (long long)(t3 - t0),
		      n * 1000.0 / (double)(t3 - t0 + 1), n > (int)o.queue_max ? "yes" : "no");
	assert_int_equal(v.missing, 0);
	assert_int_equal(v.broken, 0);
	assert_int_equal(v.dups, 0);
	assert_int_equal(v.out_of_order, 0);
}

static void test_rsyslog_throughput(void **state)
{
	(void)state;
	if (!have_rsyslogd())
		skip();
	rsyslog_burst(RS_TCP);
	rsyslog_burst(RS_TLS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_parse_target, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rfc3339, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_format_5424, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_format_local, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_octet_counting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crc32c, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_prepend, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_torn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_parse_hostile, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_dir_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_sink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stdout_sink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_rejects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_rejects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_bound_notice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dev_full_then_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_recovery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_full_notice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_peer_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_outage_and_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rsyslog_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rsyslog_tls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rsyslog_tls_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rsyslog_udp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rsyslog_unix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rsyslog_throughput, setup, teardown),
	};

	/* SIGPIPE is left at its default, which kills: the sinks' writes into a peer that was
	 * killed must come back as errors (their thread blocks the signal), never end the
	 * process. */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
