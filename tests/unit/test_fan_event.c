/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the fanotify event walker: crafted buffers (several events, every info record
 * kind, each way an event can be malformed), which fds are closed and which permission
 * events answered (through a socketpair standing in for the group), and a real fanotify
 * group's events (root only: skipped without it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fan_event.h"
#include "vigil/vigil.h"

/* ---- building buffers as the kernel lays them out ---- */

/* A read buffer as callers give it: aligned for the metadata. */
typedef union evbuf {
	struct fanotify_event_metadata md;
	unsigned char b[8192];
} evbuf;

typedef struct bld {
	union {
		struct fanotify_event_metadata md; /* alignment, as callers give */
		unsigned char b[4096];
	} u;
	size_t len;
	size_t ev; /* where the event being built starts */
} bld;

static void put(bld *b, const void *p, size_t n)
{
	assert_true(b->len + n <= sizeof(b->u.b));
	memcpy(b->u.b + b->len, p, n);
	b->len += n;
}

static void ev_begin(bld *b, uint64_t mask, int fd, int pid)
{
	struct fanotify_event_metadata md = {
	    .event_len = FAN_EVENT_METADATA_LEN,
	    .vers = FANOTIFY_METADATA_VERSION,
	    .metadata_len = FAN_EVENT_METADATA_LEN,
	    .mask = mask,
	    .fd = fd,
	    .pid = pid,
	};

	b->ev = b->len;
	put(b, &md, sizeof(md));
}

/* Sets event_len; returns the event's offset. */
static size_t ev_end(bld *b)
{
	uint32_t n = (uint32_t)(b->len - b->ev);

	memcpy(b->u.b + b->ev + offsetof(struct fanotify_event_metadata, event_len), &n, sizeof(n));
	return b->ev;
}

static void set_u32(bld *b, size_t off, uint32_t v)
{
	memcpy(b->u.b + off, &v, sizeof(v));
}

static void set_u16(bld *b, size_t off, uint16_t v)
{
	memcpy(b->u.b + off, &v, sizeof(v));
}

static void add_pidfd(bld *b, int pidfd)
{
	struct fanotify_event_info_pidfd r = {
	    .hdr = {.info_type = FAN_EVENT_INFO_TYPE_PIDFD, .len = sizeof(r)}, .pidfd = pidfd};

	put(b, &r, sizeof(r));
}

/* A FID-style record; name NULL for FID/DFID. Padded to 4 bytes like the kernel's.
 * Returns the record's offset. */
static size_t add_fid(bld *b, uint8_t type, const char *handle, unsigned hb, const char *name)
{
	struct fanotify_event_info_header h = {.info_type = type};
	size_t at = b->len, n = 20 + hb + (name ? strlen(name) + 1 : 0);
	int fsid[2] = {0x1234, 0x5678}, htype = 0x81;
	static const char zero[4];

	h.len = (uint16_t)((n + 3) & ~(size_t)3);
	put(b, &h, sizeof(h));
	put(b, fsid, sizeof(fsid));
	put(b, &hb, sizeof(hb));
	put(b, &htype, sizeof(htype));
	put(b, handle, hb);
	if (name)
		put(b, name, strlen(name) + 1);
	put(b, zero, h.len - n);
	return at;
}

/* ---- a callback that records what it saw ---- */

typedef struct seen {
	uint64_t mask;
	int fd, pid, pidfd;
	bool fid, dfid, old_dfid, new_dfid;
	char name[64], old_name[64], new_name[64];
	unsigned handle_bytes;
	unsigned char handle[MAX_HANDLE_SZ];
	int handle_type;
	fsid_t fsid;
} seen;

typedef struct rec {
	int calls;
	seen ev[16];
	bool take;         /* take fd and pidfd (set -1) */
	uint32_t answer;   /* answer permission events with this, 0: leave to the walker */
	int self_only_pid; /* with a real group: record only events of this pid (0: all) */
} rec;

static void copy_name(char *out, const fan_fid *f)
{
	assert_int_equal(strlen(f->name), f->name_len);
	assert_true(f->name_len < 64);
	memcpy(out, f->name, f->name_len + 1);
}

static void on_ev(void *user, fan_event *ev)
{
	rec *r = user;
	seen *s;

	if (r->self_only_pid && ev->pid != r->self_only_pid)
		return;
	assert_true(r->calls < 16);
	s = &r->ev[r->calls++];
	s->mask = ev->mask;
	s->fd = ev->fd;
	s->pid = ev->pid;
	s->pidfd = ev->pidfd;
	s->fid = ev->fid != NULL;
	s->dfid = ev->dfid != NULL;
	s->old_dfid = ev->old_dfid != NULL;
	s->new_dfid = ev->new_dfid != NULL;
	if (ev->dfid) {
		copy_name(s->name, ev->dfid);
		s->handle_bytes = ev->dfid->handle_bytes;
		s->handle_type = ev->dfid->handle_type;
		s->fsid = ev->dfid->fsid;
		memcpy(s->handle, ev->dfid->handle, ev->dfid->handle_bytes);
	}
	if (ev->old_dfid)
		copy_name(s->old_name, ev->old_dfid);
	if (ev->new_dfid)
		copy_name(s->new_name, ev->new_dfid);
	if (r->answer && (ev->mask & FANEV_PERM_MASK))
		fan_event_answer(ev, r->answer);
	if (r->take) {
		ev->fd = -1;
		ev->pidfd = -1;
	}
}

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static bool is_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* ---- the pure parser ---- */

static void test_parse_several(void **state)
{
	bld b = {0};
	rec r = {0};
	int rc;

	(void)state;
	/* A notification without records (a group without FAN_REPORT_* flags). */
	ev_begin(&b, FAN_CLOSE_WRITE, 11, 101);
	ev_end(&b);
	/* DFID_NAME with a 3-byte handle (so the name and the next event are unaligned in
	 * the kernel's 4-byte packing) and a pidfd. */
	ev_begin(&b, FAN_CREATE, FAN_NOFD, 102);
	add_fid(&b, FAN_EVENT_INFO_TYPE_DFID_NAME, "\x01\x02\x03", 3, "file.txt");
	add_pidfd(&b, 7);
	ev_end(&b);
	/* FAN_RENAME: both names; the process had exited (FAN_NOPIDFD). */
	ev_begin(&b, FAN_RENAME, FAN_NOFD, 103);
	add_fid(&b, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, "\xaa\xbb\xcc\xdd\xee", 5, "a");
	add_fid(&b, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, "\x11\x22", 2, "bee");
	add_pidfd(&b, FAN_NOPIDFD);
	ev_end(&b);
	/* DFID and FID records (no names), an unknown record kind skipped, FAN_EPIDFD. */
	ev_begin(&b, FAN_ATTRIB | FAN_ONDIR, FAN_NOFD, 104);
	add_fid(&b, FAN_EVENT_INFO_TYPE_DFID, "\x05\x06\x07\x08", 4, NULL);
	add_fid(&b, FAN_EVENT_INFO_TYPE_FID, "\x09", 1, NULL);
	{
		struct fanotify_event_info_header h = {.info_type = 99, .len = 12};
		static const char pad[8];

		put(&b, &h, sizeof(h));
		put(&b, pad, sizeof(pad));
	}
	add_pidfd(&b, FAN_EPIDFD);
	ev_end(&b);
	/* The queue overflowed. */
	ev_begin(&b, FAN_Q_OVERFLOW, FAN_NOFD, 0);
	ev_end(&b);

	rc = fan_events_parse(b.u.b, b.len, on_ev, &r);
	assert_int_equal(rc, 0);
	assert_int_equal(r.calls, 5);

	assert_int_equal(r.ev[0].mask, FAN_CLOSE_WRITE);
	assert_int_equal(r.ev[0].fd, 11);
	assert_int_equal(r.ev[0].pid, 101);
	assert_int_equal(r.ev[0].pidfd, FANEV_NO_PIDFD_INFO);
	assert_false(r.ev[0].dfid || r.ev[0].fid || r.ev[0].old_dfid || r.ev[0].new_dfid);

	assert_int_equal(r.ev[1].pid, 102);
	assert_int_equal(r.ev[1].fd, FAN_NOFD);
	assert_int_equal(r.ev[1].pidfd, 7);
	assert_true(r.ev[1].dfid);
	assert_string_equal(r.ev[1].name, "file.txt");
	assert_int_equal(r.ev[1].handle_bytes, 3);
	assert_memory_equal(r.ev[1].handle, "\x01\x02\x03", 3);
	assert_int_equal(r.ev[1].handle_type, 0x81);
	assert_int_equal(r.ev[1].fsid.__val[0], 0x1234);
	assert_int_equal(r.ev[1].fsid.__val[1], 0x5678);

	assert_int_equal(r.ev[2].mask, FAN_RENAME);
	assert_int_equal(r.ev[2].pidfd, FAN_NOPIDFD);
	assert_false(r.ev[2].dfid);
	assert_true(r.ev[2].old_dfid && r.ev[2].new_dfid);
	assert_string_equal(r.ev[2].old_name, "a");
	assert_string_equal(r.ev[2].new_name, "bee");

	assert_int_equal(r.ev[3].pidfd, FAN_EPIDFD);
	assert_true(r.ev[3].dfid && r.ev[3].fid);
	assert_string_equal(r.ev[3].name, "");
	assert_int_equal(r.ev[3].handle_bytes, 4);

	assert_int_equal(r.ev[4].mask, FAN_Q_OVERFLOW);
	assert_int_equal(fan_events_parse(b.u.b, 0, on_ev, &r), 0);
	assert_int_equal(r.calls, 5);
}

/* Each case: events of pids 1, 2 and 3, event 2 made bad by a patch of one field, by `bad`,
 * or the buffer cut or lengthened; `pids`: the pids of the events delivered, in order. */
#define MD(field)    offsetof(struct fanotify_event_metadata, field)
#define HDR_LEN      offsetof(struct fanotify_event_info_header, len)
#define HANDLE_BYTES 12 /* in a FID-style record: after the header and the fsid */

struct bad_case {
	const char *what;
	char at;        /* the patch: 'e' event 2's metadata, 'r' its DFID_NAME record, 0 none */
	size_t off;     /* ... at this offset */
	unsigned width; /* ... of 1, 2 or 4 bytes */
	uint32_t value;
	void (*bad)(bld *b, size_t ev2, size_t rec2);
	int cut; /* bytes dropped from the end of the buffer (negative: zeros added) */
	const char *pids;
};

static void bad_metadata_len_framing(bld *b, size_t ev, size_t rec)
{
	(void)rec;
	/* metadata_len 16 while fd and pid read as a well-formed record (type 99, len 8):
	 * only the metadata_len check can refuse it. */
	set_u16(b, ev + offsetof(struct fanotify_event_metadata, metadata_len), 16);
	set_u32(b, ev + offsetof(struct fanotify_event_metadata, fd), 99u | 8u << 16);
}

static void bad_last_below_metadata(bld *b, size_t ev, size_t rec)
{
	uint32_t n2, n3;

	(void)rec;
	/* Event 3's records would start past the end of the buffer (an ASan run catches a
	 * read there: the buffer is copied to its exact size). */
	memcpy(&n2, b->u.b + ev + MD(event_len), 4);
	memcpy(&n3, b->u.b + ev + n2 + MD(event_len), 4);
	set_u16(b, ev + n2 + offsetof(struct fanotify_event_metadata, metadata_len),
		(uint16_t)(n3 + 8));
}

static void bad_name_no_nul(bld *b, size_t ev, size_t rec)
{
	uint16_t len;

	(void)ev;
	/* The name, its NUL and the padding overwritten. */
	memcpy(&len, b->u.b + rec + 2, sizeof(len));
	memset(b->u.b + rec + 20 + 5, 'x', len - 20 - 5);
}

static void bad_fid_short(bld *b, size_t ev, size_t rec)
{
	(void)ev;
	/* A FID-style record shorter than its own file_handle header; the rest of the old
	 * record becomes an unknown (skipped) one, so only this record is wrong. */
	set_u16(b, rec + 2, 16);
	b->u.b[rec + 16] = 99;
	set_u16(b, rec + 18, 16);
}

static void bad_pidfd_short(bld *b, size_t ev, size_t rec)
{
	(void)ev;
	/* The pidfd record follows the 32-byte DFID_NAME record. */
	set_u16(b, rec + 32 + 2, 4);
	b->u.b[rec + 32 + 4] = 99;
	set_u16(b, rec + 32 + 6, 4);
}

static void bad_two_pidfds(bld *b, size_t ev, size_t rec)
{
	(void)ev;
	/* The DFID_NAME record becomes a pidfd record (len 8) and an unknown one. */
	b->u.b[rec] = FAN_EVENT_INFO_TYPE_PIDFD;
	set_u16(b, rec + 2, 8);
	set_u32(b, rec + 4, (uint32_t)FAN_NOPIDFD);
	b->u.b[rec + 8] = 99;
	set_u16(b, rec + 10, 24);
}

static void bad_tail(bld *b, size_t ev, size_t rec)
{
	(void)rec;
	/* 4 stray bytes past the last record: event_len grows into event 3's metadata,
	 * so event 3 is lost too (its start is no longer where event 2 says). */
	uint32_t n;

	memcpy(&n, b->u.b + ev + MD(event_len), 4);
	set_u32(b, ev + offsetof(struct fanotify_event_metadata, event_len), n + 4);
}

static void build_three(bld *b, size_t *ev2, size_t *rec2)
{
	memset(b, 0, sizeof(*b));
	ev_begin(b, FAN_CREATE, FAN_NOFD, 1);
	add_fid(b, FAN_EVENT_INFO_TYPE_DFID_NAME, "\x01\x02\x03\x04", 4, "one");
	ev_end(b);
	ev_begin(b, FAN_CREATE, FAN_NOFD, 2);
	/* 20 + 5 + "two\0" = 29, padded to 32. */
	*rec2 = add_fid(b, FAN_EVENT_INFO_TYPE_DFID_NAME, "\x01\x02\x03\x04\x05", 5, "two");
	add_pidfd(b, FAN_NOPIDFD);
	*ev2 = ev_end(b);
	ev_begin(b, FAN_DELETE, FAN_NOFD, 3);
	add_fid(b, FAN_EVENT_INFO_TYPE_DFID_NAME, "\x01", 1, "three");
	ev_end(b);
}

static void test_parse_malformed(void **state)
{
	static const struct bad_case cases[] = {
	    {"metadata_len below FAN_EVENT_METADATA_LEN", 'e', MD(metadata_len), 2, 16, NULL, 0,
	     "13"},
	    {"metadata_len 16 framing records", 0, 0, 0, 0, bad_metadata_len_framing, 0, "13"},
	    {"event_len below metadata_len", 'e', MD(metadata_len), 2, 200, NULL, 0, "13"},
	    {"event_len below metadata_len, last event", 0, 0, 0, 0, bad_last_below_metadata, 0,
	     "12"},
	    {"event_len below the metadata: walk stops", 'e', MD(event_len), 4, 8, NULL, 0, "1"},
	    {"event_len 0: walk stops", 'e', MD(event_len), 4, 0, NULL, 0, "1"},
	    {"event_len beyond the buffer: walk stops", 'e', MD(event_len), 4, 0xfffffff0u, NULL, 0,
	     "1"},
	    {"another vers: walk stops", 'e', MD(vers), 1, 2, NULL, 0, "1"},
	    {"info header len 0", 'r', HDR_LEN, 2, 0, NULL, 0, "13"},
	    {"info header len below its size", 'r', HDR_LEN, 2, 2, NULL, 0, "13"},
	    {"info header len beyond the event", 'r', HDR_LEN, 2, 400, NULL, 0, "13"},
	    {"handle_bytes beyond the record (it has 5)", 'r', HANDLE_BYTES, 4, 60, NULL, 0, "13"},
	    {"handle_bytes over MAX_HANDLE_SZ", 'r', HANDLE_BYTES, 4, MAX_HANDLE_SZ + 1, NULL, 0,
	     "13"},
	    {"name without NUL", 0, 0, 0, 0, bad_name_no_nul, 0, "13"},
	    {"FID record shorter than its handle header", 0, 0, 0, 0, bad_fid_short, 0, "13"},
	    {"pidfd record too short", 0, 0, 0, 0, bad_pidfd_short, 0, "13"},
	    {"two pidfd records", 0, 0, 0, 0, bad_two_pidfds, 0, "13"},
	    {"bytes past the last record", 0, 0, 0, 0, bad_tail, 0, "1"},
	    {"last event truncated", 0, 0, 0, 0, NULL, 4, "12"},
	    {"stray bytes after the last event", 0, 0, 0, 0, NULL, -8, "123"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const struct bad_case *c = &cases[i];
		bld b;
		rec r = {0};
		size_t ev2, rec2, len;
		unsigned char *exact;
		char got[8] = "";
		int rc;

		build_three(&b, &ev2, &rec2);
		/* Unchanged, all three arrive: the case's change is what breaks it. */
		assert_int_equal(fan_events_parse(b.u.b, b.len, on_ev, &r), 0);
		assert_int_equal(r.calls, 3);
		r.calls = 0;
		if (c->at) {
			size_t at = (c->at == 'e' ? ev2 : rec2) + c->off;

			if (c->width == 1)
				b.u.b[at] = (unsigned char)c->value;
			else if (c->width == 2)
				set_u16(&b, at, (uint16_t)c->value);
			else
				set_u32(&b, at, c->value);
		}
		if (c->bad)
			c->bad(&b, ev2, rec2);
		len = (size_t)((int)b.len - c->cut);
		assert_non_null(exact = malloc(len));
		memcpy(exact, b.u.b, len);
		rc = fan_events_parse(exact, len, on_ev, &r);
		free(exact);
		for (int k = 0; k < r.calls && k < 7; k++)
			got[k] = (char)('0' + r.ev[k].pid);
		if (rc != VIGIL_E_FORMAT || strcmp(got, c->pids) != 0)
			fail_msg("%s: rc %d, delivered pids \"%s\", want \"%s\"", c->what, rc, got,
				 c->pids);
		assert_string_equal(r.ev[0].name, "one");
	}
}

/* Records the kernel writes once per event, twice: a DFID and a DFID_NAME fill one
 * slot. */
static void test_parse_duplicates(void **state)
{
	static const uint8_t types[][2] = {
	    {FAN_EVENT_INFO_TYPE_DFID_NAME, FAN_EVENT_INFO_TYPE_DFID_NAME},
	    {FAN_EVENT_INFO_TYPE_DFID, FAN_EVENT_INFO_TYPE_DFID_NAME},
	    {FAN_EVENT_INFO_TYPE_FID, FAN_EVENT_INFO_TYPE_FID},
	    {FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME},
	    {FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
		bld b = {0};
		rec r = {0};

		ev_begin(&b, FAN_CREATE, FAN_NOFD, 1);
		add_fid(&b, types[i][0], "\x01\x02", 2,
			types[i][0] == FAN_EVENT_INFO_TYPE_DFID_NAME ||
				types[i][0] == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
				types[i][0] == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME
			    ? "x"
			    : NULL);
		ev_end(&b);
		assert_int_equal(fan_events_parse(b.u.b, b.len, on_ev, &r), 0);
		assert_int_equal(r.calls, 1);
		add_fid(&b, types[i][1], "\x03", 1,
			types[i][1] == FAN_EVENT_INFO_TYPE_FID ? NULL : "y");
		ev_end(&b);
		r.calls = 0;
		assert_int_equal(fan_events_parse(b.u.b, b.len, on_ev, &r), VIGIL_E_FORMAT);
		assert_int_equal(r.calls, 0);
	}
}

/* ---- reading a group: fds closed, permission events answered ---- */

/* A socketpair stands in for the group: each write is one read, like the kernel's whole
 * events; the walker's answers come out at the other end. */
static void group_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

/* The answers the walker wrote, each one packet. */
static int answers(int fd, struct fanotify_response *out, int cap)
{
	struct fanotify_response one;
	ssize_t got;
	int n = 0;

	while ((got = recv(fd, &one, sizeof(one), 0)) >= 0) {
		assert_int_equal(got, sizeof(one));
		assert_true(n < cap);
		out[n++] = one;
	}
	return n;
}

static int pipe_r(void)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	return p[0];
}

static int efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static void count_event(void *user, fan_event *ev)
{
	(void)ev;
	++*(int *)user;
}

/* n bytes of notification events without fds (24 bytes each) as one packet. */
static void send_events(int fd, size_t n)
{
	bld b = {0};

	while (b.len + FAN_EVENT_METADATA_LEN <= n) {
		ev_begin(&b, FAN_CREATE, FAN_NOFD, 7);
		ev_end(&b);
	}
	assert_int_equal(send(fd, b.u.b, b.len, 0), (ssize_t)b.len);
}

/* A read that leaves FANEV_MAX_EVENT bytes unused means the queue was empty: no read
 * more (the socketpair, unlike the kernel, hands over one packet per read, so what is
 * left shows it). A fuller read is followed by another. */
static void test_read_stops_at_a_short_read(void **state)
{
	evbuf buf;
	const size_t cap = FANEV_MAX_EVENT + 1000;
	int sv[2], calls = 0;
	bool drained = false;

	(void)state;
	group_pair(sv);
	send_events(sv[1], 240);
	send_events(sv[1], 240);
	assert_int_equal(fan_events_read(sv[0], buf.b, cap, 4, count_event, &calls, &drained), 1);
	assert_true(drained);
	assert_int_equal(calls, 10);
	assert_int_equal(fan_events_read(sv[0], buf.b, cap, 4, count_event, &calls, &drained), 1);
	assert_int_equal(calls, 20);
	send_events(sv[1], 2400); /* more than cap - FANEV_MAX_EVENT: read on */
	send_events(sv[1], 240);
	assert_int_equal(fan_events_read(sv[0], buf.b, cap, 4, count_event, &calls, &drained), 2);
	assert_true(drained);
	assert_int_equal(calls, 20 + 100 + 10);
	/* max_reads reached with a full read: more may be queued. */
	send_events(sv[1], 2400);
	send_events(sv[1], 2400);
	assert_int_equal(fan_events_read(sv[0], buf.b, cap, 1, count_event, &calls, &drained), 1);
	assert_false(drained);
	/* A full read, then EAGAIN: drained too. */
	assert_int_equal(fan_events_read(sv[0], buf.b, cap, 4, count_event, &calls, &drained), 1);
	assert_true(drained);
	assert_int_equal(calls, 130 + 200);
	drained = false;
	assert_int_equal(fan_events_read(sv[0], buf.b, cap, 4, count_event, &calls, &drained), 0);
	assert_true(drained);
	close(sv[0]);
	close(sv[1]);
}

static void test_read_closes_fds(void **state)
{
	evbuf buf;
	int sv[2], fa = pipe_r(), pa = efd(), fb = pipe_r(), pb = efd(), fc = pipe_r(), pc = efd(),
		   fd = pipe_r(), fe = pipe_r();
	bld b = {0};
	rec r = {0};
	size_t rec;

	(void)state;
	group_pair(sv);
	/* a: delivered, not taken -> both closed. */
	ev_begin(&b, FAN_CLOSE_WRITE, fa, 1);
	add_pidfd(&b, pa);
	ev_end(&b);
	/* c: malformed after its pidfd record -> never delivered, both closed. */
	ev_begin(&b, FAN_CLOSE_WRITE, fc, 2);
	add_pidfd(&b, pc);
	rec = add_fid(&b, FAN_EVENT_INFO_TYPE_DFID_NAME, "\x01", 1, "c");
	ev_end(&b);
	set_u16(&b, rec + 2, 0);
	/* d: metadata_len wrong but event_len frames it -> fd closed. */
	ev_begin(&b, FAN_CLOSE_WRITE, fd, 3);
	ev_end(&b);
	set_u16(&b, b.ev + offsetof(struct fanotify_event_metadata, metadata_len), 8);
	/* e: another version -> nothing read from it, fe left open. */
	ev_begin(&b, FAN_CLOSE_WRITE, fe, 4);
	ev_end(&b);
	b.u.b[b.ev + offsetof(struct fanotify_event_metadata, vers)] = 4;
	assert_int_equal(send(sv[1], b.u.b, b.len, 0), (ssize_t)b.len);
	/* b, in a second read: delivered and taken -> left open. */
	memset(&b, 0, sizeof(b));
	ev_begin(&b, FAN_CLOSE_WRITE, fb, 5);
	add_pidfd(&b, pb);
	ev_end(&b);
	assert_int_equal(send(sv[1], b.u.b, b.len, 0), (ssize_t)b.len);

	/* One read at a time: the second stays queued. */
	assert_int_equal(fan_events_read(sv[0], buf.b, sizeof(buf), 1, on_ev, &r, NULL), 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ev[0].pid, 1);
	assert_int_equal(r.ev[0].fd, fa);
	assert_int_equal(r.ev[0].pidfd, pa);
	assert_true(is_closed(fa) && is_closed(pa));
	assert_true(is_closed(fc) && is_closed(pc));
	assert_true(is_closed(fd));
	assert_true(is_open(fe));
	assert_true(is_open(fb) && is_open(pb));

	r.take = true;
	assert_int_equal(fan_events_read(sv[0], buf.b, sizeof(buf), 4, on_ev, &r, NULL), 1);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.ev[1].pid, 5);
	assert_true(is_open(fb) && is_open(pb));
	/* Nothing queued: no read counted. */
	assert_int_equal(fan_events_read(sv[0], buf.b, sizeof(buf), 4, on_ev, &r, NULL), 0);
	/* Notification events are never answered. */
	assert_int_equal(recv(sv[1], buf.b, sizeof(buf), 0), -1);
	close(fb);
	close(pb);
	close(fe);
	close(sv[0]);
	close(sv[1]);
}

/* One permission event of fd through the group: exactly one answer, `want`. */
static void one_perm(int sv[2], int fd, rec *r, uint32_t want)
{
	evbuf buf;
	struct fanotify_response resp[2];
	bld b = {0};

	ev_begin(&b, FAN_OPEN_PERM, fd, 6);
	ev_end(&b);
	assert_int_equal(send(sv[1], b.u.b, b.len, 0), (ssize_t)b.len);
	assert_int_equal(fan_events_read(sv[0], buf.b, sizeof(buf), 4, on_ev, r, NULL), 1);
	assert_int_equal(answers(sv[1], resp, 2), 1);
	assert_int_equal(resp[0].fd, fd);
	assert_int_equal(resp[0].response, want);
}

static void test_read_answers_permission(void **state)
{
	evbuf buf;
	struct fanotify_response resp[8];
	int sv[2], f1 = pipe_r(), f2 = pipe_r(), f3 = pipe_r(), f4 = pipe_r(), f5 = pipe_r(),
		   f6 = pipe_r();
	bld b = {0};
	rec r = {0};
	size_t rec;
	int n;

	(void)state;
	group_pair(sv);
	/* 1: the callback answers nothing -> FAN_ALLOW. */
	ev_begin(&b, FAN_OPEN_PERM, f1, 1);
	ev_end(&b);
	/* 2: malformed (name without NUL) -> never delivered, still FAN_ALLOW, closed. */
	ev_begin(&b, FAN_OPEN_PERM, f2, 2);
	rec = add_fid(&b, FAN_EVENT_INFO_TYPE_DFID_NAME, "\x01\x02\x03", 3, "ab");
	ev_end(&b);
	memset(b.u.b + rec + 23, 'x', 5);
	/* 3: a notification -> no answer. */
	ev_begin(&b, FAN_CLOSE_WRITE, f3, 3);
	ev_end(&b);
	/* 4: FAN_OPEN_EXEC_PERM with another permission bit; 5: FAN_ACCESS_PERM. */
	ev_begin(&b, FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM, f4, 4);
	ev_end(&b);
	ev_begin(&b, FAN_ACCESS_PERM, f5, 5);
	ev_end(&b);
	assert_int_equal(send(sv[1], b.u.b, b.len, 0), (ssize_t)b.len);
	assert_int_equal(fan_events_read(sv[0], buf.b, sizeof(buf), 4, on_ev, &r, NULL), 1);
	assert_int_equal(r.calls, 4);
	n = answers(sv[1], resp, 8);
	assert_int_equal(n, 4);
	assert_int_equal(resp[0].fd, f1);
	assert_int_equal(resp[1].fd, f2);
	assert_int_equal(resp[2].fd, f4);
	assert_int_equal(resp[3].fd, f5);
	for (int i = 0; i < n; i++)
		assert_int_equal(resp[i].response, FAN_ALLOW);
	assert_true(is_closed(f1) && is_closed(f2) && is_closed(f3) && is_closed(f4) &&
		    is_closed(f5));

	/* The callback's own verdict, given once, and a taken fd still answered. */
	f1 = pipe_r();
	r.answer = FAN_DENY;
	one_perm(sv, f1, &r, FAN_DENY);
	assert_true(is_closed(f1));
	r.answer = 0;
	r.take = true;
	one_perm(sv, f6, &r, FAN_ALLOW);
	assert_true(is_open(f6));
	close(f6);
	close(sv[0]);
	close(sv[1]);
}

/* ---- a real group: the layout as the running kernel writes it ---- */

static bool have_fanotify(void)
{
	int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC, O_RDONLY);

	if (fd < 0) {
		print_message("SKIP: fanotify unavailable (%s): needs root\n", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

static int wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 5000);
}

static void test_real_group(void **state)
{
	char dir[64], path[96];
	evbuf buf;
	struct {
		struct file_handle fh;
		unsigned char h[MAX_HANDLE_SZ];
	} want;
	int g, mnt, fd, pidfd;
	rec r = {.take = true, .self_only_pid = getpid()};

	(void)state;
	if (!have_fanotify())
		skip();
	snprintf(dir, sizeof(dir), "/tmp/vigil-test-fan.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hello.txt", dir);
	g = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME |
			      0x80 /* FAN_REPORT_PIDFD */,
			  O_RDONLY | O_CLOEXEC);
	if (g < 0) /* before Linux 5.15: no pidfd records */
		g = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
				      FAN_REPORT_DFID_NAME,
				  O_RDONLY | O_CLOEXEC);
	assert_true(g >= 0);
	assert_int_equal(
	    fanotify_mark(g, FAN_MARK_ADD, FAN_CREATE | FAN_EVENT_ON_CHILD, AT_FDCWD, dir), 0);
	assert_true((fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) >= 0);
	close(fd);
	assert_int_equal(wait_readable(g), 1);
	assert_int_equal(fan_events_read(g, buf.b, sizeof(buf), 4, on_ev, &r, NULL), 1);
	assert_int_equal(r.calls, 1);
	assert_true(r.ev[0].mask & FAN_CREATE);
	assert_true(r.ev[0].dfid);
	assert_string_equal(r.ev[0].name, "hello.txt");
	want.fh.handle_bytes = MAX_HANDLE_SZ;
	assert_int_equal(name_to_handle_at(AT_FDCWD, dir, &want.fh, &mnt, 0), 0);
	assert_int_equal(r.ev[0].handle_bytes, want.fh.handle_bytes);
	assert_int_equal(r.ev[0].handle_type, want.fh.handle_type);
	assert_memory_equal(r.ev[0].handle, want.fh.f_handle, want.fh.handle_bytes);
	pidfd = r.ev[0].pidfd;
	if (pidfd != FANEV_NO_PIDFD_INFO) { /* our own pidfd, taken */
		assert_true(pidfd >= 0);
		assert_true(is_open(pidfd));
		close(pidfd);
	}
	close(g);
	unlink(path);
	rmdir(dir);
}

/* A permission group on a file of our own directory: a child's open waits until the
 * walker answers, though the callback does not. */
static void test_real_permission(void **state)
{
	char dir[64], path[96];
	evbuf buf;
	rec r = {0};
	int g, fd, status = -1;
	pid_t child;

	(void)state;
	if (!have_fanotify())
		skip();
	snprintf(dir, sizeof(dir), "/tmp/vigil-test-fan.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/guarded", dir);
	assert_true((fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) >= 0);
	close(fd);
	g = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_CLOEXEC);
	assert_true(g >= 0);
	assert_int_equal(fanotify_mark(g, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, path), 0);
	if ((child = fork()) == 0) {
		int cfd = open(path, O_RDONLY);

		_exit(cfd >= 0 ? 0 : 1);
	}
	assert_true(child > 0);
	assert_int_equal(wait_readable(g), 1);
	assert_int_equal(fan_events_read(g, buf.b, sizeof(buf), 4, on_ev, &r, NULL), 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.ev[0].pid, child);
	assert_true(r.ev[0].mask & FAN_OPEN_PERM);
	assert_true(is_closed(r.ev[0].fd));
	/* The child was let through: it exits 0 within the second. */
	for (int i = 0; i < 100 && waitpid(child, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (status == -1) {
		kill(child, SIGKILL);
		close(g); /* the kernel allows what is pending */
		waitpid(child, &status, 0);
		fail_msg("the open was left waiting");
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(g);
	unlink(path);
	rmdir(dir);
}

/* A handle of MAX_HANDLE_SZ bytes is read; one byte more is not (callers copy handles into
 * struct file_handle buffers of that size). */
static void test_parse_handle_max(void **state)
{
	char handle[MAX_HANDLE_SZ + 1];

	(void)state;
	memset(handle, 0x5a, sizeof(handle));
	for (unsigned hb = MAX_HANDLE_SZ; hb <= MAX_HANDLE_SZ + 1; hb++) {
		bld b = {0};
		rec r = {0};
		int rc;

		ev_begin(&b, FAN_CREATE, FAN_NOFD, 1);
		add_fid(&b, FAN_EVENT_INFO_TYPE_DFID_NAME, handle, hb, "n");
		ev_end(&b);
		rc = fan_events_parse(b.u.b, b.len, on_ev, &r);
		if (hb == MAX_HANDLE_SZ) {
			assert_int_equal(rc, 0);
			assert_int_equal(r.calls, 1);
			assert_int_equal(r.ev[0].handle_bytes, MAX_HANDLE_SZ);
			assert_string_equal(r.ev[0].name, "n");
		} else {
			assert_int_equal(rc, VIGIL_E_FORMAT);
			assert_int_equal(r.calls, 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_several),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_parse_duplicates),
	    cmocka_unit_test(test_parse_handle_max),
	    cmocka_unit_test(test_read_closes_fds),
	    cmocka_unit_test(test_read_answers_permission),
	    cmocka_unit_test(test_read_stops_at_a_short_read),
	    cmocka_unit_test(test_real_group),
	    cmocka_unit_test(test_real_permission),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
