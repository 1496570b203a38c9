/* SPDX-License-Identifier: Apache-2.0 */
/* The alert spool: append-only segment files of CRC-checked records in a private directory
 * (layout in spool.h), read back in order, with torn records detected and dropped. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "spool.h"
#include "vigil/vigil.h"

#define SEG_MAGIC "VGSPOOL1"
#define SEG_HDR   8
#define REC_MAGIC "VGR1"
/* Appends count up from here and prepends down, so both have room. */
#define FIRST_SEG      0x8000000000000000ull
#define RBUF_SIZE      (64 * 1024)
#define CURSOR_SAVE_MS 1000
#define NAME_LEN       32

struct seg {
	uint64_t num;
	uint64_t size;  /* bytes of whole records (the file may hold a failed append beyond) */
	uint64_t start; /* where its pending records begin (the cursor, for one segment) */
	bool unsynced;  /* closed for writing with data not yet fdatasync'ed */
};

struct vigil_spool {
	char *dir;
	int dirfd;
	int lockfd;
	uint64_t max_bytes;
	uint64_t seg_max; /* a segment is closed for appends once this big */
	struct seg *segs; /* ascending; the write segment, if open, is the last */
	size_t nsegs, segcap;
	uint64_t next_num;
	uint64_t total; /* bytes of every segment file */
	uint64_t pending;
	uint64_t torn;
	int wfd;
	uint64_t wseg;
	bool wdirty;
	bool dirdirty;
	bool prepending;
	vigil_spool_pos commit; /* seg 0: the spool is empty */
	vigil_spool_pos send;
	int rfd;
	uint64_t rseg;
	uint8_t *rbuf;
	uint64_t rbuf_off;
	size_t rbuf_len;
	uint8_t *wbuf;
	int64_t cursor_saved_ms;
};

/* ---- CRC-32C (Castagnoli, reflected, as in iSCSI and ext4) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t vigil_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- records ---- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The payload rules both the writer and the reader enforce: a record that passes its CRC
 * but breaks them was not written by us. */
static bool payload_ok(const char *kind, size_t kind_len, const char *json, size_t len)
{
	if (kind_len > VIGIL_SPOOL_KIND_MAX || len == 0 || len > VIGIL_SPOOL_JSON_MAX)
		return false;
	for (size_t i = 0; i < kind_len; i++)
		if (kind[i] < 33 || kind[i] > 126)
			return false;
	if (memchr(json, '\n', len) || memchr(json, '\r', len) || memchr(json, '\0', len))
		return false;
	return vigil_utf8_valid(json, len);
}

size_t vigil_spool_encode(const vigil_spool_rec *r, uint8_t *out, size_t cap)
{
	size_t plen;
	uint32_t crc;

	if (r->severity < 0 || r->severity > 7 ||
	    !payload_ok(r->kind, r->kind_len, r->json, r->len))
		return 0;
	plen = r->kind_len + r->len;
	if (cap < VIGIL_SPOOL_REC_HDR + plen)
		return 0;
	memcpy(out, REC_MAGIC, 4);
	put32(out + 4, (uint32_t)plen);
	put64(out + 8, (uint64_t)r->time_us);
	out[16] = (uint8_t)r->severity;
	out[17] = (uint8_t)r->kind_len;
	out[18] = out[19] = 0;
	if (r->kind_len)
		memcpy(out + VIGIL_SPOOL_REC_HDR, r->kind, r->kind_len);
	memcpy(out + VIGIL_SPOOL_REC_HDR + r->kind_len, r->json, r->len);
	crc = vigil_crc32c(0, out + 4, 16);
	crc = vigil_crc32c(crc, out + VIGIL_SPOOL_REC_HDR, plen);
	put32(out + 20, crc);
	return VIGIL_SPOOL_REC_HDR + plen;
}

int vigil_spool_parse(const uint8_t *p, size_t n, vigil_spool_rec *r, size_t *used)
{
	size_t plen, klen, m = n < 4 ? n : 4;
	uint32_t crc;

	if (memcmp(p, REC_MAGIC, m) != 0)
		return VIGIL_E_FORMAT;
	if (n < VIGIL_SPOOL_REC_HDR)
		return VIGIL_SPOOL_SHORT;
	plen = get32(p + 4);
	klen = p[17];
	if (klen > VIGIL_SPOOL_KIND_MAX || plen <= klen || plen - klen > VIGIL_SPOOL_JSON_MAX ||
	    p[16] > 7 || p[18] || p[19])
		return VIGIL_E_FORMAT;
	if (n - VIGIL_SPOOL_REC_HDR < plen)
		return VIGIL_SPOOL_SHORT;
	crc = vigil_crc32c(0, p + 4, 16);
	crc = vigil_crc32c(crc, p + VIGIL_SPOOL_REC_HDR, plen);
	if (crc != get32(p + 20))
		return VIGIL_E_FORMAT;
	r->kind = (const char *)p + VIGIL_SPOOL_REC_HDR;
	r->kind_len = klen;
	r->json = r->kind + klen;
	r->len = plen - klen;
	if (!payload_ok(r->kind, r->kind_len, r->json, r->len))
		return VIGIL_E_FORMAT;
	r->time_us = (int64_t)get64(p + 8);
	r->severity = p[16];
	*used = VIGIL_SPOOL_REC_HDR + plen;
	return 0;
}

/* ---- segments ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void seg_name(char name[NAME_LEN], uint64_t num)
{
	snprintf(name, NAME_LEN, "%016" PRIx64 ".spool", num);
}

static bool parse_seg_name(const char *name, uint64_t *num)
{
	uint64_t v = 0;

	if (strlen(name) != 22 || strcmp(name + 16, ".spool") != 0)
		return false;
	for (int i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	if (v == 0)
		return false;
	*num = v;
	return true;
}

static long seg_find(const vigil_spool *sp, uint64_t num)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].num == num)
			return (long)i;
	return -1;
}

static int seg_insert(vigil_spool *sp, size_t at, const struct seg *s)
{
	if (sp->nsegs == sp->segcap) {
		size_t cap = sp->segcap ? sp->segcap * 2 : 16;
		struct seg *n = realloc(sp->segs, cap * sizeof(*n));

		if (n == NULL)
			return VIGIL_E_NOMEM;
		sp->segs = n;
		sp->segcap = cap;
	}
	memmove(sp->segs + at + 1, sp->segs + at, (sp->nsegs - at) * sizeof(*s));
	sp->segs[at] = *s;
	sp->nsegs++;
	return 0;
}

static void seg_remove(vigil_spool *sp, size_t i)
{
	char name[NAME_LEN];
	uint64_t num = sp->segs[i].num;

	seg_name(name, num);
	unlinkat(sp->dirfd, name, 0);
	/* A prepend may reuse this number: no descriptor or cached byte of it may survive. */
	if (sp->rseg == num) {
		if (sp->rfd >= 0)
			close(sp->rfd);
		sp->rfd = -1;
		sp->rseg = 0;
		sp->rbuf_len = 0;
	}
	if (sp->wfd >= 0 && sp->wseg == num) {
		close(sp->wfd);
		sp->wfd = -1;
		sp->wdirty = false;
	}
	sp->total -= sp->segs[i].size;
	memmove(sp->segs + i, sp->segs + i + 1, (sp->nsegs - i - 1) * sizeof(*sp->segs));
	sp->nsegs--;
	sp->dirdirty = true;
}

/* Makes rbuf hold segment i from off on: up to RBUF_SIZE bytes, never past its size.
 * Returns the bytes available at off, or -1 (errno). */
static ssize_t fill(vigil_spool *sp, size_t i, uint64_t off)
{
	const struct seg *s = &sp->segs[i];
	size_t want = s->size - off < RBUF_SIZE ? (size_t)(s->size - off) : RBUF_SIZE;
	size_t need = want < VIGIL_SPOOL_REC_MAX ? want : VIGIL_SPOOL_REC_MAX;
	size_t got = 0;

	if (sp->rseg == s->num && off >= sp->rbuf_off &&
	    sp->rbuf_off + sp->rbuf_len >= off + need) {
		uint64_t have = sp->rbuf_off + sp->rbuf_len - off;

		return (ssize_t)(have < want ? have : want);
	}
	if (sp->rseg != s->num) {
		char name[NAME_LEN];

		if (sp->rfd >= 0)
			close(sp->rfd);
		sp->rseg = 0;
		sp->rbuf_len = 0;
		seg_name(name, s->num);
		if ((sp->rfd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
			return -1;
		sp->rseg = s->num;
	}
	sp->rbuf_len = 0;
	while (got < want) {
		ssize_t n = pread(sp->rfd, sp->rbuf + got, want - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break; /* shorter than we thought: the caller sees a torn tail */
		got += (size_t)n;
	}
	sp->rbuf_off = off;
	sp->rbuf_len = got;
	return (ssize_t)got;
}

/* First place after p[0] where a record may start (the magic, or its prefix at the end). */
static size_t skip_bad(const uint8_t *p, size_t avail)
{
	for (size_t k = 1; k < avail; k++) {
		size_t m = avail - k < 4 ? avail - k : 4;

		if (memcmp(p + k, REC_MAGIC, m) == 0)
			return k;
	}
	return avail;
}

enum at { AT_REC, AT_BAD, AT_TAIL };

/* What lies at off in segment i: a record (*len its size), bad bytes (*len to skip to the
 * next place a record may start), or nothing (the file ends early). Returns that, or -1
 * (errno). */
static int read_at(vigil_spool *sp, size_t i, uint64_t off, vigil_spool_rec *r, uint64_t *len)
{
	ssize_t avail = fill(sp, i, off);
	size_t used = 0;
	int rc;

	if (avail < 0)
		return -1;
	if (avail == 0)
		return AT_TAIL;
	rc = vigil_spool_parse(sp->rbuf + (off - sp->rbuf_off), (size_t)avail, r, &used);
	if (rc == 0) {
		*len = used;
		return AT_REC;
	}
	/* fill gives a whole record's worth unless the segment ends first, so a short record
	 * can never be completed: bad bytes like any others. A torn append and a damaged
	 * length field look the same here, and in both a valid record may follow (a later
	 * append, or the rest of the segment), so resynchronise rather than give up the rest.
	 * No record can hide inside an alert's JSON to be found this way: its header needs
	 * NUL bytes, which vigil_sink_send refuses. */
	*len = skip_bad(sp->rbuf + (off - sp->rbuf_off), (size_t)avail);
	return AT_BAD;
}

/* ---- cursor ---- */

struct cursor {
	bool valid;
	uint64_t seg;
	uint64_t off;
};

static void read_cursor(vigil_spool *sp, struct cursor *c)
{
	char buf[64];
	ssize_t n;
	int fd = openat(sp->dirfd, "cursor", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint64_t seg = 0, off = 0;
	int i = 0;

	memset(c, 0, sizeof(*c));
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	/* Exactly "%016x %u\n"; anything else is ignored, which can only resend. */
	if (n < 19)
		return;
	for (; i < 16; i++) {
		char ch = buf[i];

		if (ch >= '0' && ch <= '9')
			seg = seg << 4 | (uint64_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			seg = seg << 4 | (uint64_t)(ch - 'a' + 10);
		else
			return;
	}
	if (buf[i++] != ' ')
		return;
	for (int digits = 0; i < n && buf[i] != '\n'; i++, digits++) {
		if (buf[i] < '0' || buf[i] > '9' || digits >= 12)
			return;
		off = off * 10 + (uint64_t)(buf[i] - '0');
	}
	if (i != n - 1 || buf[i] != '\n' || off < SEG_HDR)
		return;
	c->valid = true;
	c->seg = seg;
	c->off = off;
}

static int save_cursor(vigil_spool *sp)
{
	char buf[64];
	int fd, len, rc = 0;

	sp->cursor_saved_ms = now_ms();
	if (sp->commit.seg == 0) {
		if (unlinkat(sp->dirfd, "cursor", 0) != 0 && errno != ENOENT)
			return VIGIL_E_SYSTEM;
		return 0;
	}
	/* Written without fsync: a cursor lost to a power cut only makes delivered alerts be
	 * sent again, and a torn one is refused by read_cursor. */
	len = snprintf(buf, sizeof(buf), "%016" PRIx64 " %" PRIu64 "\n", sp->commit.seg,
		       sp->commit.off);
	fd = openat(sp->dirfd, "cursor.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return VIGIL_E_SYSTEM;
	if (write(fd, buf, (size_t)len) != len)
		rc = VIGIL_E_SYSTEM;
	if (close(fd) != 0 && rc == 0)
		rc = VIGIL_E_SYSTEM;
	if (rc == 0 && renameat(sp->dirfd, "cursor.tmp", sp->dirfd, "cursor") != 0)
		rc = VIGIL_E_SYSTEM;
	return rc;
}

/* ---- open ---- */

static int list_segments(vigil_spool *sp)
{
	int fd = fcntl(sp->dirfd, F_DUPFD_CLOEXEC, 0);
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return VIGIL_E_SYSTEM;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		struct seg s = {0};

		if (strcmp(e->d_name, "cursor.tmp") == 0) {
			unlinkat(sp->dirfd, e->d_name, 0);
			continue;
		}
		if (!parse_seg_name(e->d_name, &s.num))
			continue;
		if ((rc = seg_insert(sp, sp->nsegs, &s)) != 0)
			break;
	}
	closedir(d);
	if (rc != 0)
		return rc;
	/* Insertion sort: a few dozen segments. */
	for (size_t i = 1; i < sp->nsegs; i++)
		for (size_t j = i; j > 0 && sp->segs[j - 1].num > sp->segs[j].num; j--) {
			struct seg t = sp->segs[j];

			sp->segs[j] = sp->segs[j - 1];
			sp->segs[j - 1] = t;
		}
	return 0;
}

/* Reads segment i whole: counts its pending records and torn regions, truncates a torn
 * tail, applies the cursor. Sets *empty if nothing in it is pending. */
static int scan_segment(vigil_spool *sp, size_t i, const struct cursor *cur, bool *empty)
{
	struct seg *s = &sp->segs[i];
	char name[NAME_LEN], magic[SEG_HDR];
	struct stat st;
	int fd;
	bool at_cursor = cur->valid && cur->seg == s->num, boundary = false, in_bad = false;
	uint64_t off = SEG_HDR, last_end = SEG_HDR, count = 0, before = 0;

	*empty = true;
	seg_name(name, s->num);
	if ((fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return VIGIL_E_SYSTEM;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISREG(st.st_mode) ? errno : EINVAL;

		close(fd);
		errno = e;
		return VIGIL_E_SYSTEM;
	}
	s->size = (uint64_t)st.st_size;
	s->start = SEG_HDR;
	sp->total += s->size;
	/* A crash right after creating a segment leaves it shorter than its header: no
	 * record was in it. A wrong header is a file we cannot read: torn. */
	if (s->size < SEG_HDR || pread(fd, magic, SEG_HDR, 0) != SEG_HDR ||
	    memcmp(magic, SEG_MAGIC, SEG_HDR) != 0) {
		if (s->size >= SEG_HDR)
			sp->torn++;
		close(fd);
		return 0;
	}
	close(fd);
	while (off < s->size) {
		vigil_spool_rec r;
		uint64_t len = 0;
		int at;

		if (at_cursor && off == cur->off)
			boundary = true;
		if ((at = read_at(sp, i, off, &r, &len)) < 0)
			return VIGIL_E_SYSTEM;
		if (at == AT_REC) {
			if (at_cursor && off < cur->off)
				before++;
			count++;
			off += len;
			last_end = off;
			in_bad = false;
			continue;
		}
		if (!in_bad)
			sp->torn++;
		in_bad = true;
		off = at == AT_TAIL ? s->size : off + len;
	}
	if (at_cursor && off == cur->off)
		boundary = true;
	if (in_bad) {
		/* The damage runs to the end: what a crash during an append leaves. Cut it off
		 * so that it is counted once and the bytes are reclaimed. */
		int wfd = openat(sp->dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

		if (wfd >= 0 && ftruncate(wfd, (off_t)last_end) == 0) {
			sp->total -= s->size - last_end;
			s->size = last_end;
			sp->rbuf_len = 0;
		}
		if (wfd >= 0)
			close(wfd);
	}
	if (boundary) {
		count -= before;
		s->start = cur->off < s->size ? cur->off : s->size;
	}
	sp->pending += count;
	*empty = count == 0;
	return 0;
}

static int fail(char *err, size_t cap, int rc, const char *fmt, const char *dir)
{
	int e = errno;

	if (rc == VIGIL_E_NOMEM)
		fmt = "spool directory %s: out of memory%s";
	if (err != NULL && cap > 0) {
		if (rc == VIGIL_E_SYSTEM)
			snprintf(err, cap, fmt, dir, strerror(e));
		else
			snprintf(err, cap, fmt, dir, "");
	}
	errno = e;
	return rc;
}

int vigil_spool_open(const char *dir, uint64_t max_bytes, vigil_spool **out, char *err, size_t cap)
{
	vigil_spool *sp = NULL;
	struct cursor cur;
	struct stat st;
	int rc;

	*out = NULL;
	if (dir == NULL || *dir == '\0' || max_bytes < VIGIL_SPOOL_MIN_BYTES) {
		rc = fail(err, cap, VIGIL_E_INVALID,
			  "spool %s: spool_max_bytes must be at least 64 KiB%s", dir ? dir : "");
		goto out;
	}
	if ((sp = calloc(1, sizeof(*sp))) == NULL || (sp->dir = strdup(dir)) == NULL ||
	    (sp->rbuf = malloc(RBUF_SIZE)) == NULL ||
	    (sp->wbuf = malloc(VIGIL_SPOOL_REC_MAX)) == NULL) {
		rc = VIGIL_E_NOMEM;
		goto out;
	}
	sp->dirfd = sp->lockfd = sp->wfd = sp->rfd = -1;
	sp->max_bytes = max_bytes;
	sp->seg_max = max_bytes / 8;
	if (sp->seg_max < 4096)
		sp->seg_max = 4096;
	if (sp->seg_max > 4u << 20)
		sp->seg_max = 4u << 20;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = fail(err, cap, VIGIL_E_SYSTEM, "cannot create spool directory %s: %s", dir);
		goto out;
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sp->dirfd < 0 || fstat(sp->dirfd, &st) != 0) {
		rc = fail(err, cap, VIGIL_E_SYSTEM, "cannot open spool directory %s: %s", dir);
		goto out;
	}
	/* Alerts name files and processes of a compromised host: nobody else may read the
	 * spool, or plant records in it. */
	if (st.st_uid != geteuid()) {
		rc = fail(err, cap, VIGIL_E_INVALID, "spool directory %s belongs to another user%s",
			  dir);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = fail(err, cap, VIGIL_E_INVALID,
			  "spool directory %s is open to group or others (chmod 700 it)%s", dir);
		goto out;
	}
	sp->lockfd = openat(sp->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (sp->lockfd < 0) {
		rc = fail(err, cap, VIGIL_E_SYSTEM, "cannot lock spool directory %s: %s", dir);
		goto out;
	}
	if (flock(sp->lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			rc = fail(err, cap, VIGIL_E_INVALID,
				  "spool directory %s is in use by another sink%s", dir);
		else
			rc = fail(err, cap, VIGIL_E_SYSTEM, "cannot lock spool directory %s: %s",
				  dir);
		goto out;
	}
	if ((rc = list_segments(sp)) != 0) {
		fail(err, cap, rc, "cannot read spool directory %s: %s", dir);
		goto out;
	}
	read_cursor(sp, &cur);
	for (size_t i = 0; i < sp->nsegs;) {
		bool empty;

		if ((rc = scan_segment(sp, i, &cur, &empty)) != 0) {
			fail(err, cap, rc, "cannot read spool directory %s: %s", dir);
			goto out;
		}
		if (empty)
			seg_remove(sp, i);
		else
			i++;
	}
	sp->next_num = sp->nsegs ? sp->segs[sp->nsegs - 1].num + 1 : FIRST_SEG;
	if (sp->nsegs) {
		sp->commit.seg = sp->segs[0].num;
		sp->commit.off = sp->segs[0].start;
	}
	sp->send = sp->commit;
	if (sp->nsegs == 0)
		unlinkat(sp->dirfd, "cursor", 0);
	*out = sp;
	sp = NULL; /* transferred */
	rc = 0;
out:
	if (sp != NULL) {
		int e = errno;

		vigil_spool_close(sp);
		errno = e;
	}
	return rc;
}

void vigil_spool_close(vigil_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->wfd >= 0) {
		if (sp->wdirty)
			fdatasync(sp->wfd);
		close(sp->wfd);
	}
	if (sp->dirfd >= 0 && sp->lockfd >= 0 && sp->commit.seg != 0)
		save_cursor(sp);
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->lockfd >= 0)
		close(sp->lockfd); /* releases the flock */
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->segs);
	free(sp->rbuf);
	free(sp->wbuf);
	free(sp->dir);
	free(sp);
}

/* ---- writing ---- */

static int create_segment(vigil_spool *sp, uint64_t num, int *fdp)
{
	char name[NAME_LEN];
	int fd, e;

	seg_name(name, num);
	fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return VIGIL_E_SYSTEM;
	if (write(fd, SEG_MAGIC, SEG_HDR) != SEG_HDR) {
		e = errno ? errno : ENOSPC;
		close(fd);
		unlinkat(sp->dirfd, name, 0);
		errno = e;
		return VIGIL_E_SYSTEM;
	}
	sp->dirdirty = true;
	*fdp = fd;
	return 0;
}

static int roll(vigil_spool *sp)
{
	struct seg s = {0};
	int fd, rc;

	if (sp->wfd >= 0) {
		long i = seg_find(sp, sp->wseg);

		if (i >= 0 && sp->wdirty)
			sp->segs[i].unsynced = true;
		close(sp->wfd);
		sp->wfd = -1;
		sp->wdirty = false;
	}
	s.num = sp->next_num;
	if ((rc = create_segment(sp, s.num, &fd)) != 0)
		return rc;
	s.size = s.start = SEG_HDR;
	if ((rc = seg_insert(sp, sp->nsegs, &s)) != 0) {
		char name[NAME_LEN];

		close(fd);
		seg_name(name, s.num);
		unlinkat(sp->dirfd, name, 0);
		return rc;
	}
	sp->next_num++;
	sp->wfd = fd;
	sp->wseg = s.num;
	sp->total += SEG_HDR;
	return 0;
}

int vigil_spool_append(vigil_spool *sp, const vigil_spool_rec *r)
{
	size_t n = vigil_spool_encode(r, sp->wbuf, VIGIL_SPOOL_REC_MAX);
	bool need_roll;
	struct seg *s;
	uint64_t off;
	ssize_t w;
	int rc;

	if (n == 0)
		return VIGIL_E_INVALID;
	need_roll = sp->wfd < 0 || sp->nsegs == 0 || sp->segs[sp->nsegs - 1].num != sp->wseg ||
		    sp->segs[sp->nsegs - 1].size >= sp->seg_max;
	if (sp->total + n + (need_roll ? SEG_HDR : 0) > sp->max_bytes)
		return VIGIL_E_LIMIT;
	if (need_roll && (rc = roll(sp)) != 0)
		return rc;
	s = &sp->segs[sp->nsegs - 1];
	off = s->size;
	do
		w = pwrite(sp->wfd, sp->wbuf, n, (off_t)off);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)n) {
		int e = w < 0 ? errno : ENOSPC;

		/* Cut a partial record off again; if even that fails, start a new segment and
		 * let the next open count the remains as torn. */
		if (ftruncate(sp->wfd, (off_t)off) != 0) {
			close(sp->wfd);
			sp->wfd = -1;
		}
		errno = e;
		return VIGIL_E_SYSTEM;
	}
	s->size += n;
	sp->total += n;
	sp->pending++;
	sp->wdirty = true;
	if (sp->commit.seg == 0) {
		sp->commit.seg = s->num;
		sp->commit.off = s->start;
		sp->send = sp->commit;
	}
	return 0;
}

/* ---- reading ---- */

int vigil_spool_next(vigil_spool *sp, vigil_spool_rec *r, vigil_spool_pos *after)
{
	for (;;) {
		long i = sp->send.seg ? seg_find(sp, sp->send.seg) : -1;
		uint64_t len = 0;
		int at;

		if (i < 0)
			return VIGIL_E_NOT_FOUND;
		if (sp->send.off >= sp->segs[i].size) {
			if ((size_t)i + 1 >= sp->nsegs)
				return VIGIL_E_NOT_FOUND;
			sp->send.seg = sp->segs[i + 1].num;
			sp->send.off = sp->segs[i + 1].start;
			continue;
		}
		if ((at = read_at(sp, (size_t)i, sp->send.off, r, &len)) < 0)
			return VIGIL_E_SYSTEM;
		if (at == AT_REC) {
			sp->send.off += len;
			sp->send.index++;
			*after = sp->send;
			return 0;
		}
		sp->send.off = at == AT_TAIL ? sp->segs[i].size : sp->send.off + len;
	}
}

void vigil_spool_rewind(vigil_spool *sp)
{
	sp->send = sp->commit;
}

static void reset(vigil_spool *sp)
{
	while (sp->nsegs)
		seg_remove(sp, sp->nsegs - 1);
	unlinkat(sp->dirfd, "cursor", 0);
	sp->commit.seg = sp->commit.off = 0;
	sp->send = sp->commit;
	sp->total = 0;
}

int vigil_spool_commit(vigil_spool *sp, const vigil_spool_pos *pos, bool force)
{
	assert(pos->index >= sp->commit.index && pos->index <= sp->send.index);
	sp->pending -= pos->index - sp->commit.index;
	sp->commit = *pos;
	while (sp->nsegs && sp->segs[0].num < pos->seg)
		seg_remove(sp, 0);
	if (sp->pending == 0 && !sp->prepending) {
		reset(sp);
		return 0;
	}
	/* A finished segment other than the one being appended to goes now. */
	while (sp->nsegs > 1 && sp->segs[0].num == sp->commit.seg &&
	       sp->commit.off >= sp->segs[0].size) {
		bool send_here = sp->send.seg == sp->commit.seg;

		seg_remove(sp, 0);
		sp->commit.seg = sp->segs[0].num;
		sp->commit.off = sp->segs[0].start;
		if (send_here) {
			sp->send.seg = sp->commit.seg;
			sp->send.off = sp->commit.off;
		}
	}
	if (force || now_ms() - sp->cursor_saved_ms >= CURSOR_SAVE_MS)
		return save_cursor(sp);
	return 0;
}

bool vigil_spool_busy(const vigil_spool *sp)
{
	return sp->pending > 0 || sp->prepending;
}

bool vigil_spool_fits(const vigil_spool *sp, const size_t *payloads, size_t n)
{
	uint64_t total = sp->total,
		 size = sp->wfd >= 0 && sp->nsegs ? sp->segs[sp->nsegs - 1].size : sp->seg_max;

	/* The same arithmetic as vigil_spool_append, record by record. */
	for (size_t i = 0; i < n; i++) {
		uint64_t rec = VIGIL_SPOOL_REC_HDR + payloads[i];
		bool roll = size >= sp->seg_max;

		total += rec + (roll ? SEG_HDR : 0);
		size = (roll ? SEG_HDR : size) + rec;
		if (total > sp->max_bytes)
			return false;
	}
	return true;
}

void vigil_spool_get_stats(const vigil_spool *sp, vigil_spool_stats *st)
{
	st->pending = sp->pending;
	st->bytes = sp->total;
	st->torn = sp->torn;
	st->segments = sp->nsegs;
}

/* ---- prepend ---- */

int vigil_spool_prepend_begin(vigil_spool *sp, vigil_spool_prep *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->fd = p->dirfd = -1;
	if (sp->prepending || sp->send.index != sp->commit.index ||
	    (sp->nsegs && sp->segs[0].num <= 1))
		return VIGIL_E_INVALID;
	p->seg = sp->nsegs ? sp->segs[0].num - 1 : sp->next_num++;
	if ((rc = create_segment(sp, p->seg, &p->fd)) != 0)
		return rc;
	if ((p->dirfd = fcntl(sp->dirfd, F_DUPFD_CLOEXEC, 0)) < 0) {
		vigil_spool_prepend_end(sp, p, VIGIL_E_SYSTEM);
		return VIGIL_E_SYSTEM;
	}
	p->size = SEG_HDR;
	sp->prepending = true;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return VIGIL_E_SYSTEM;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int vigil_spool_prepend_run(vigil_spool_prep *p, const vigil_spool_rec *recs, size_t n)
{
	size_t cap = 64 * 1024 + VIGIL_SPOOL_REC_MAX, len = 0;
	uint8_t *buf = malloc(cap);
	int rc = 0;

	if (buf == NULL)
		return VIGIL_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t m = vigil_spool_encode(&recs[i], buf + len, cap - len);

		if (m == 0) {
			rc = VIGIL_E_INVALID;
			goto out;
		}
		len += m;
		p->count++;
		if (len >= 64 * 1024 || i + 1 == n) {
			if ((rc = write_all(p->fd, buf, len)) != 0)
				goto out;
			p->size += len;
			len = 0;
		}
	}
	if (fdatasync(p->fd) != 0 || fsync(p->dirfd) != 0)
		rc = VIGIL_E_SYSTEM;
out:
	free(buf);
	return rc;
}

int vigil_spool_prepend_end(vigil_spool *sp, vigil_spool_prep *p, int result)
{
	struct seg s = {.num = p->seg, .size = p->size, .start = SEG_HDR};
	int e = errno;

	sp->prepending = false;
	if (result == 0 && p->count > 0 && (result = seg_insert(sp, 0, &s)) == 0) {
		sp->total += s.size;
		sp->pending += p->count;
		sp->commit.seg = sp->send.seg = s.num;
		sp->commit.off = sp->send.off = s.start;
		/* The cursor names another segment or none: keep it from skipping this one's
		 * neighbour wrongly after a crash (it only ever applies to its own segment). */
	} else if (p->fd >= 0) {
		char name[NAME_LEN];

		seg_name(name, p->seg);
		unlinkat(sp->dirfd, name, 0);
		if (result == 0)
			result = VIGIL_E_INVALID;
	}
	if (p->fd >= 0)
		close(p->fd);
	if (p->dirfd >= 0)
		close(p->dirfd);
	p->fd = p->dirfd = -1;
	errno = e;
	return result;
}

/* ---- sync ---- */

int vigil_spool_sync_begin(vigil_spool *sp, vigil_spool_sync *job)
{
	size_t want = (sp->wfd >= 0 && sp->wdirty) ? 1 : 0;

	job->fds = NULL;
	job->n = 0;
	job->dirfd = -1;
	for (size_t i = 0; i < sp->nsegs; i++)
		want += sp->segs[i].unsynced;
	if (want && (job->fds = malloc(want * sizeof(int))) == NULL)
		return VIGIL_E_NOMEM;
	if (sp->wfd >= 0 && sp->wdirty) {
		int fd = fcntl(sp->wfd, F_DUPFD_CLOEXEC, 0);

		if (fd >= 0)
			job->fds[job->n++] = fd;
		sp->wdirty = false;
	}
	for (size_t i = 0; i < sp->nsegs; i++) {
		char name[NAME_LEN];
		int fd;

		if (!sp->segs[i].unsynced)
			continue;
		seg_name(name, sp->segs[i].num);
		/* fdatasync through any descriptor of the file flushes the file's data. */
		if ((fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0)
			job->fds[job->n++] = fd;
		sp->segs[i].unsynced = false;
	}
	if (sp->dirdirty) {
		job->dirfd = fcntl(sp->dirfd, F_DUPFD_CLOEXEC, 0);
		sp->dirdirty = false;
	}
	return 0;
}

int vigil_spool_sync_run(vigil_spool_sync *job)
{
	int rc = 0, e = 0;

	for (size_t i = 0; i < job->n; i++)
		if (fdatasync(job->fds[i]) != 0 && rc == 0) {
			rc = VIGIL_E_SYSTEM;
			e = errno;
		}
	if (job->dirfd >= 0 && fsync(job->dirfd) != 0 && rc == 0) {
		rc = VIGIL_E_SYSTEM;
		e = errno;
	}
	errno = e;
	return rc;
}

void vigil_spool_sync_end(vigil_spool_sync *job)
{
	for (size_t i = 0; i < job->n; i++)
		close(job->fds[i]);
	if (job->dirfd >= 0)
		close(job->dirfd);
	free(job->fds);
	job->fds = NULL;
	job->n = 0;
	job->dirfd = -1;
}
