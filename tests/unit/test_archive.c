/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for archive.c: sniffing, every container built at test time with the real tools,
 * nesting, bomb limits, encryption and damaged archives. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "archive_int.h"
#include "text.h"
/* libarchive itself, for writing a .Z, which no installed tool makes. */
#include <archive.h>
#include <archive_entry.h>

/* ---- helpers ---- */

static char tmpdir[64];
/* What the current loop iteration is testing, for failure messages. */
static char ctx[128];

static bool have_tool(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* Run a shell command inside the test's directory; fails the test if it fails. */
static void run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int n;

	n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", tmpdir);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static char *path_of(const char *name)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

static void write_file(const char *name, const void *p, size_t n)
{
	FILE *f = fopen(path_of(name), "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static uint8_t *slurp_file(const char *name, size_t *len)
{
	FILE *f = fopen(path_of(name), "rb");
	uint8_t *p = NULL;
	size_t cap = 0, n = 0, k;

	assert_non_null(f);
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			p = realloc(p, cap);
			assert_non_null(p);
		}
		k = fread(p + n, 1, cap - n, f);
		n += k;
	} while (k > 0);
	fclose(f);
	*len = n;
	return p;
}

static int setup_dir(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/vigil-test-archive-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	run("mkdir -p in/sub && printf 'alpha 4111 1111 1111 1111\\n' > in/a.txt && "
	    "printf 'bravo line one\\nbravo line two\\n' > in/sub/b.txt");
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A reader over a memory buffer, handing out at most `chunk` bytes per call. */
struct mem_src {
	vigil_reader r;
	const uint8_t *p;
	size_t n, pos, chunk;
	size_t fail_at; /* fail with fail_errno once pos reaches this (0 = never) */
	int fail_errno;
	size_t zeros; /* then this many zero bytes (for the 7z memory limit) */
	size_t zeros_given;
	unsigned calls;
};

static ssize_t mem_read(vigil_reader *r, void *buf, size_t cap)
{
	struct mem_src *m = r->ctx;
	size_t k;

	m->calls++;
	if (m->fail_at && m->pos >= m->fail_at) {
		errno = m->fail_errno;
		return -1;
	}
	if (m->pos == m->n && m->zeros_given < m->zeros) {
		k = m->zeros - m->zeros_given;
		k = k < cap ? k : cap;
		memset(buf, 0, k);
		m->zeros_given += k;
		return (ssize_t)k;
	}
	k = m->n - m->pos;
	if (k > cap)
		k = cap;
	if (m->chunk && k > m->chunk)
		k = m->chunk;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (ssize_t)k;
}

static void mem_src_init(struct mem_src *m, const uint8_t *p, size_t n, size_t chunk)
{
	memset(m, 0, sizeof(*m));
	m->p = p;
	m->n = n;
	m->chunk = chunk;
	m->r.read = mem_read;
	m->r.fd = -1;
	m->r.size = -1;
	m->r.ctx = m;
}

static ssize_t fd_read(vigil_reader *r, void *buf, size_t cap)
{
	return read(r->fd, buf, cap);
}

/* What a scan produced. Nested archives are opened the way scan.c does: sniff the
 * member's first bytes and, for a container, scan again with the member as source. */
#define MAX_ITEMS 64
struct item {
	char name[640];
	uint8_t *data;
	size_t len;
	int err; /* errno of a failed read, 0 if the member was read to its end */
};

struct coll {
	struct item items[MAX_ITEMS];
	size_t n_items;
	char problems[8][160];
	vigil_skip problem_kind[8];
	size_t n_problems, n_limits, n_errors;
	char encrypted[8][8];
	size_t n_encrypted;
	bool nested; /* open nested containers */
	unsigned depth;
	char path[512]; /* names of the enclosing members, "a!/b!/" */
	vigil_archive_budget *budget;
	size_t read_limit; /* read at most this much of each member (0 = all) */
	int stop_with;     /* on_member returns this after the first member */
	const vigil_archive_callbacks *cb;
	vigil_archive_callbacks cbs;
};

static void coll_free(struct coll *c)
{
	for (size_t i = 0; i < c->n_items; i++)
		free(c->items[i].data);
	memset(c, 0, sizeof(*c));
}

static int on_member(void *user, const char *name, vigil_reader *r);

static void on_encrypted(void *user, const char *format)
{
	struct coll *c = user;

	assert_true(c->n_encrypted < 8);
	snprintf(c->encrypted[c->n_encrypted++], 8, "%s", format);
}

static void on_problem(void *user, vigil_skip reason, const char *msg)
{
	struct coll *c = user;

	assert_non_null(msg);
	if (c->n_problems < 8) {
		snprintf(c->problems[c->n_problems], sizeof(c->problems[0]), "%s", msg);
		c->problem_kind[c->n_problems] = reason;
	}
	c->n_problems++;
	if (reason == VIGIL_SKIP_ARCHIVE_LIMIT)
		c->n_limits++;
	else if (reason == VIGIL_SKIP_ARCHIVE_ERROR)
		c->n_errors++;
	else
		fail_msg("unexpected reason %d", reason);
}

static const vigil_archive_callbacks callbacks = {
    .on_member = on_member,
    .on_encrypted = on_encrypted,
    .on_problem = on_problem,
};

/* Read the rest of r into it (growing), keeping the first `have` bytes already there. */
static void read_rest(struct coll *c, vigil_reader *r, struct item *it, size_t cap)
{
	for (;;) {
		ssize_t k;

		if (c->read_limit && it->len >= c->read_limit)
			return;
		if (it->len == cap) {
			cap *= 2;
			it->data = realloc(it->data, cap);
			assert_non_null(it->data);
		}
		k = r->read(r, it->data + it->len, cap - it->len);
		if (k < 0) {
			it->err = errno;
			assert_int_not_equal(it->err, 0);
			return;
		}
		if (k == 0)
			return;
		it->len += (size_t)k;
	}
}

static int on_member(void *user, const char *name, vigil_reader *r)
{
	struct coll *c = user;
	size_t cap = VIGIL_SNIFF_BYTES;
	uint8_t *head = malloc(cap);
	size_t have = 0;
	vigil_container k = VIGIL_CONT_NONE;

	assert_non_null(head);
	assert_int_equal(r->fd, -1);
	/* The first bytes, for sniffing, as scan.c would read them. */
	while (c->nested && have < cap) {
		ssize_t n = r->read(r, head + have, cap - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (c->nested)
		k = vigil_archive_sniff(head, have);
	if (k != VIGIL_CONT_NONE && c->depth < 8) {
		size_t plen = strlen(c->path);
		int rv;

		snprintf(c->path + plen, sizeof(c->path) - plen, "%s!/", name);
		c->depth++;
		rv = vigil_archive_scan(k, name, r, head, have, c->budget, c->cb);
		c->depth--;
		c->path[plen] = '\0';
		free(head);
		assert_true(rv >= 0);
		return rv;
	}
	assert_true(c->n_items < MAX_ITEMS);
	struct item *it = &c->items[c->n_items++];
	snprintf(it->name, sizeof(it->name), "%s%s", c->path, name);
	it->data = head;
	it->len = have;
	read_rest(c, r, it, cap);
	if (c->stop_with)
		return c->stop_with;
	return 0;
}

/* Callbacks that collect into c, with budget b for the nested levels. */
static const vigil_archive_callbacks *cbs_of(struct coll *c, vigil_archive_budget *b)
{
	c->cbs = callbacks;
	c->cbs.user = c;
	c->cb = &c->cbs;
	c->budget = b;
	return c->cb;
}

static vigil_archive_budget unlimited(void)
{
	return (vigil_archive_budget){.bytes_left = UINT64_MAX, .entries_left = UINT64_MAX};
}

/* Scan a file in the test directory, either through its fd (seekable) or as a stream
 * whose first bytes were sniffed, as a nested member is. */
static int scan_file(struct coll *c, const char *name, bool use_fd, size_t chunk,
		     vigil_archive_budget *b)
{
	size_t len;
	uint8_t *data = slurp_file(name, &len);
	size_t pl = len < VIGIL_SNIFF_BYTES ? len : VIGIL_SNIFF_BYTES;
	vigil_container k = vigil_archive_sniff(data, pl);
	const vigil_archive_callbacks *cb = cbs_of(c, b);
	int rv;

	if (use_fd) {
		int fd = open(path_of(name), O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		/* The reader's offset is past the sniffed bytes, as after a real sniff. */
		assert_int_equal(lseek(fd, (off_t)pl, SEEK_SET), (off_t)pl);
		vigil_reader r = {.read = fd_read, .fd = fd, .size = (int64_t)len, .ctx = NULL};
		rv = vigil_archive_scan(k, name, &r, data, pl, b, cb);
		close(fd);
	} else {
		struct mem_src m;
		mem_src_init(&m, data + pl, len - pl, chunk);
		rv = vigil_archive_scan(k, name, &m.r, data, pl, b, cb);
	}
	free(data);
	return rv;
}

static const struct item *find_item(const struct coll *c, const char *name)
{
	for (size_t i = 0; i < c->n_items; i++)
		if (strcmp(c->items[i].name, name) == 0)
			return &c->items[i];
	return NULL;
}

static void expect_item(const struct coll *c, const char *name, const char *content)
{
	const struct item *it = find_item(c, name);

	if (it == NULL) {
		for (size_t i = 0; i < c->n_items; i++)
			print_message("  have: %s\n", c->items[i].name);
		fail_msg("%s: no member %s", ctx, name);
	}
	assert_int_equal(it->err, 0);
	assert_int_equal(it->len, strlen(content));
	assert_memory_equal(it->data, content, it->len);
}

static const char A_TXT[] = "alpha 4111 1111 1111 1111\n";
static const char B_TXT[] = "bravo line one\nbravo line two\n";

static vigil_container sniff_file(const char *name)
{
	size_t len;
	uint8_t *p = slurp_file(name, &len);
	vigil_container k =
	    vigil_archive_sniff(p, len < VIGIL_SNIFF_BYTES ? len : VIGIL_SNIFF_BYTES);

	free(p);
	return k;
}

/* ---- sniffing ---- */

struct sniff_case {
	const char *what;
	const char *bytes; /* placed at `off` in a buffer of `total` bytes of filler */
	size_t len;
	size_t off;
	size_t total;
	vigil_container want;
};

#define S(x) x, sizeof(x) - 1

static const struct sniff_case sniff_cases[] = {
    {"zip local header", S("PK\3\4\x14\0\0\0"), 0, 64, VIGIL_CONT_ZIP},
    {"empty zip", S("PK\5\6\0\0\0\0"), 0, 22, VIGIL_CONT_ZIP},
    {"spanned zip", S("PK\7\x08PK\3\4"), 0, 64, VIGIL_CONT_ZIP},
    {"PK\\7\\8 then junk", S("PK\7\x08junk"), 0, 64, VIGIL_CONT_NONE},
    {"gzip", S("\x1f\x8b\x08\0\0\0\0\0"), 0, 32, VIGIL_CONT_GZIP},
    {"gzip reserved flags", S("\x1f\x8b\x08\xe0"), 0, 32, VIGIL_CONT_NONE},
    {"bzip2", S("BZh91AY&SY"), 0, 32, VIGIL_CONT_BZIP2},
    {"bzip2 empty stream", S("BZh9\x17\x72\x45\x38\x50\x90"), 0, 14, VIGIL_CONT_BZIP2},
    {"BZh9 text", S("BZh9 is how bzip2 files start"), 0, 40, VIGIL_CONT_NONE},
    {"xz",
     S("\xfd"
       "7zXZ\0\0\x04"),
     0, 32, VIGIL_CONT_XZ},
    {"zstd", S("\x28\xb5\x2f\xfd\x24"), 0, 32, VIGIL_CONT_ZSTD},
    {"lz4", S("\x04\x22\x4d\x18\x64"), 0, 32, VIGIL_CONT_LZ4},
    {"lz4 legacy", S("\x02\x21\x4c\x18"), 0, 32, VIGIL_CONT_LZ4},
    {".Z", S("\x1f\x9d\x90"), 0, 32, VIGIL_CONT_COMPRESS},
    {".Z bad flags", S("\x1f\x9d\x60"), 0, 32, VIGIL_CONT_NONE},
    {"7z", S("7z\xbc\xaf\x27\x1c\0\x04"), 0, 32, VIGIL_CONT_7Z},
    {"rar4", S("Rar!\x1a\x07\x00\xcf"), 0, 32, VIGIL_CONT_RAR},
    {"rar5", S("Rar!\x1a\x07\x01\x00"), 0, 32, VIGIL_CONT_RAR},
    {"rar other", S("Rar!\x1a\x07\x02"), 0, 32, VIGIL_CONT_NONE},
    {"cpio newc",
     S("070701000000010000816400000000000000000000000100000000000000040000000000000000000"
       "000000000000000000000000000000200000000"),
     0, 200, VIGIL_CONT_CPIO},
    {"cpio odc",
     S("0707070000000000010100644000000000000000010000000000000000000000000200000000004"), 0, 200,
     VIGIL_CONT_CPIO},
    {"cpio binary LE", S("\xc7\x71\0\0\0\0\xa4\x81\0\0\0\0\1\0\0\0\0\0\0\0\2\0\0\0\0\0x\0"), 0, 64,
     VIGIL_CONT_CPIO},
    {"cpio binary BE", S("\x71\xc7\0\0\0\0\x81\xa4\0\0\0\0\0\1\0\0\0\0\0\0\0\2\0\0\0\0x\0"), 0, 64,
     VIGIL_CONT_CPIO},
    {"cpio binary bad namesize", S("\xc7\x71\0\0\0\0\xa4\x81\0\0\0\0\1\0\0\0\0\0\0\0\0\x40"), 0, 64,
     VIGIL_CONT_NONE},
    {"070707 in text", S("070707 was the date, 0707070707 the number"), 0, 200, VIGIL_CONT_NONE},
    {"070701 in text",
     S("070701 and then some words that are not hex digits at all......"
       "....................................................."),
     0, 200, VIGIL_CONT_NONE},
    {"ar", S("!<arch>\n"), 0, 8, VIGIL_CONT_AR},
    {"ar text", S("!<arch>\nthis is a text about ar archives, nothing more than that.\n"), 0, 120,
     VIGIL_CONT_NONE},
    {"iso9660", S("\1CD001\1"), 32768, 34816, VIGIL_CONT_ISO},
    {"CD001 in text", S("xCD001y"), 32768, 34816, VIGIL_CONT_NONE},
    {"ustar without NUL", S("ustar is a word"), 257, 1024, VIGIL_CONT_NONE},
    {"plain text", S("Hello, world. PK is not a zip without its bytes.\n"), 0, 100,
     VIGIL_CONT_NONE},
    {"short", S("P"), 0, 1, VIGIL_CONT_NONE},
    {"empty", "", 0, 0, 0, VIGIL_CONT_NONE},
};

static void test_sniff_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sniff_cases) / sizeof(sniff_cases[0]); i++) {
		const struct sniff_case *t = &sniff_cases[i];
		size_t total = t->total;
		uint8_t *buf = malloc(total + 1);

		assert_non_null(buf);
		/* Filler that is ordinary text, so only the magic can make it an archive. */
		for (size_t j = 0; j < total; j++)
			buf[j] = (uint8_t) "lorem ipsum dolor\n"[j % 18];
		if (t->len)
			memcpy(buf + t->off, t->bytes, t->len);
		vigil_container got = vigil_archive_sniff(buf, total);
		if (got != t->want)
			fail_msg("%s: got %s, want %s", t->what, vigil_container_name(got),
				 vigil_container_name(t->want));
		free(buf);
	}
	assert_int_equal(vigil_archive_sniff(NULL, 0), VIGIL_CONT_NONE);
}

/* A tar header with a valid checksum is a tar; the same with a bad checksum is not. */
static void test_sniff_tar_checksum(void **state)
{
	uint8_t h[512];
	unsigned sum = 0;

	(void)state;
	memset(h, 0, sizeof(h));
	strcpy((char *)h, "file.txt");
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 124, "00000000012", 11);
	h[156] = '0';
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	assert_int_equal(vigil_archive_sniff(h, sizeof(h)), VIGIL_CONT_TAR);
	/* Old GNU magic. */
	memcpy(h + 257, "ustar  \0", 8);
	memset(h + 148, ' ', 8);
	sum = 0;
	for (size_t i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	assert_int_equal(vigil_archive_sniff(h, sizeof(h)), VIGIL_CONT_TAR);
	h[0] = 'g'; /* checksum no longer matches */
	assert_int_equal(vigil_archive_sniff(h, sizeof(h)), VIGIL_CONT_NONE);
}

static void test_container_names(void **state)
{
	(void)state;
	assert_string_equal(vigil_container_name(VIGIL_CONT_NONE), "none");
	assert_string_equal(vigil_container_name(VIGIL_CONT_ZIP), "zip");
	assert_string_equal(vigil_container_name(VIGIL_CONT_COMPRESS), "compress");
	assert_string_equal(vigil_container_name(VIGIL_CONT_ISO), "iso9660");
	assert_string_equal(vigil_container_name(VIGIL_CONT_AR), "ar");
	assert_string_equal(vigil_container_name((vigil_container)99), "none");
	for (int k = 0; k < VIGIL_CONT_COUNT; k++)
		assert_non_null(vigil_container_name((vigil_container)k));
}

/* ---- every format, built by its own tool ---- */

/* Write `src` as a .Z with libarchive's compress filter (no compress(1) is installed). */
static void make_dot_z(const char *src, const char *dst)
{
	size_t len;
	uint8_t *data = slurp_file(src, &len);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	assert_non_null(a);
	assert_int_equal(archive_write_add_filter_compress(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path_of(dst)), ARCHIVE_OK);
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(e);
	free(data);
}

struct format_case {
	const char *file;
	const char *tool; /* skip when missing */
	const char *cmd;  /* run in the test directory */
	vigil_container kind;
	const char *a_name, *b_name; /* expected members (b may be NULL) */
};

static const struct format_case format_cases[] = {
    {"t.zip", "zip", "cd in && zip -qr ../t.zip a.txt sub", VIGIL_CONT_ZIP, "a.txt", "sub/b.txt"},
    {"t.tar", "tar", "tar -cf t.tar -C in a.txt sub", VIGIL_CONT_TAR, "a.txt", "sub/b.txt"},
    {"t.tar.gz", "gzip", "tar -czf t.tar.gz -C in a.txt sub", VIGIL_CONT_GZIP, "a.txt",
     "sub/b.txt"},
    {"t.tbz2", "bzip2", "tar -cjf t.tbz2 -C in a.txt sub", VIGIL_CONT_BZIP2, "a.txt", "sub/b.txt"},
    {"t.tar.xz", "xz", "tar -cJf t.tar.xz -C in a.txt sub", VIGIL_CONT_XZ, "a.txt", "sub/b.txt"},
    {"t.tar.zst", "zstd", "tar --zstd -cf t.tar.zst -C in a.txt sub", VIGIL_CONT_ZSTD, "a.txt",
     "sub/b.txt"},
    {"t.tar.lz4", "lz4", "tar -cf - -C in a.txt sub | lz4 -q -c > t.tar.lz4", VIGIL_CONT_LZ4,
     "a.txt", "sub/b.txt"},
    {"a.txt.gz", "gzip", "gzip -c in/a.txt > a.txt.gz", VIGIL_CONT_GZIP, "a.txt", NULL},
    {"a.txt.bz2", "bzip2", "bzip2 -c in/a.txt > a.txt.bz2", VIGIL_CONT_BZIP2, "a.txt", NULL},
    {"a.txt.xz", "xz", "xz -c in/a.txt > a.txt.xz", VIGIL_CONT_XZ, "a.txt", NULL},
    {"a.txt.zst", "zstd", "zstd -q -c in/a.txt > a.txt.zst", VIGIL_CONT_ZSTD, "a.txt", NULL},
    {"a.txt.lz4", "lz4", "lz4 -q -c in/a.txt > a.txt.lz4", VIGIL_CONT_LZ4, "a.txt", NULL},
    {"a.txt.Z", NULL, NULL, VIGIL_CONT_COMPRESS, "a.txt", NULL},
    {"t.7z", "7z", "cd in && 7z a -bso0 -bsp0 ../t.7z a.txt sub", VIGIL_CONT_7Z, "a.txt",
     "sub/b.txt"},
    {"t.newc", "cpio", "cd in && find a.txt sub | cpio -o -H newc --quiet > ../t.newc",
     VIGIL_CONT_CPIO, "a.txt", "sub/b.txt"},
    {"t.odc", "cpio", "cd in && find a.txt sub | cpio -o -H odc --quiet > ../t.odc",
     VIGIL_CONT_CPIO, "a.txt", "sub/b.txt"},
    {"t.bincpio", "cpio", "cd in && find a.txt sub | cpio -o -H bin --quiet > ../t.bincpio",
     VIGIL_CONT_CPIO, "a.txt", "sub/b.txt"},
    {"t.iso", "xorriso", "xorriso -as mkisofs -quiet -R -J -o t.iso in 2>/dev/null", VIGIL_CONT_ISO,
     "a.txt", "sub/b.txt"},
    {"g.iso", "genisoimage", "genisoimage -quiet -R -o g.iso in 2>/dev/null", VIGIL_CONT_ISO,
     "a.txt", "sub/b.txt"},
    {"t.a", "ar", "cd in && ar rc ../t.a a.txt sub/b.txt", VIGIL_CONT_AR, "a.txt", "b.txt"},
};

static void test_formats(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
		const struct format_case *t = &format_cases[i];

		if (t->tool && !have_tool(t->tool)) {
			print_message("SKIP: %s: %s is not installed\n", t->file, t->tool);
			continue;
		}
		if (t->cmd)
			run("%s", t->cmd);
		else
			make_dot_z("in/a.txt", t->file);
		if (sniff_file(t->file) != t->kind)
			fail_msg("%s sniffed as %s", t->file,
				 vigil_container_name(sniff_file(t->file)));
		/* Seekable fd; stream in odd-sized chunks; stream in one-byte reads. */
		static const size_t chunks[] = {0, 0, 777, 1};
		for (size_t j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++) {
			struct coll c = {0};
			vigil_archive_budget b = unlimited();
			int rv;

			snprintf(ctx, sizeof(ctx), "%s, mode %zu", t->file, j);
			rv = scan_file(&c, t->file, j == 0, chunks[j], &b);

			assert_int_equal(rv, 0);
			if (c.n_problems)
				fail_msg("%s: problem %s", t->file, c.problems[0]);
			assert_int_equal(c.n_encrypted, 0);
			expect_item(&c, t->a_name, A_TXT);
			if (t->b_name)
				expect_item(&c, t->b_name, B_TXT);
			assert_int_equal(c.n_items, t->b_name ? 2 : 1);
			assert_false(b.limit_hit);
			coll_free(&c);
		}
	}
}

/* Single-file compressors name their one member after the outer file. */
static void test_raw_member_names(void **state)
{
	static const struct {
		const char *outer, *want;
	} cases[] = {
	    {"notes.txt.gz", "notes.txt"},
	    {"dir/x.tgz", "x.tar"},
	    {"LOG.TXT.GZ", "LOG.TXT"},
	    {"a.zip!/inner/c.csv.gz", "c.csv"},
	    {"weird", "data"},
	    {".gz", "data"},
	    {NULL, "data"},
	};
	size_t len;
	uint8_t *gz;

	(void)state;
	run("printf 'just text, not a tar\\n' > plain.txt && gzip -c plain.txt > plain.gz");
	gz = slurp_file("plain.gz", &len);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct coll c = {0};
		vigil_archive_budget b = unlimited();
		struct mem_src m;

		mem_src_init(&m, gz + 10, len - 10, 0);
		assert_int_equal(vigil_archive_scan(VIGIL_CONT_GZIP, cases[i].outer, &m.r, gz, 10,
						    &b, cbs_of(&c, &b)),
				 0);
		assert_int_equal(c.n_problems, 0);
		expect_item(&c, cases[i].want, "just text, not a tar\n");
		coll_free(&c);
	}
	free(gz);
}

/* A .tar.gz opens as the tar's members in one level, not as one raw "t.tar". */
static void test_tar_gz_members_not_raw(void **state)
{
	struct coll c = {0};
	vigil_archive_budget b = unlimited();

	(void)state;
	run("tar -czf members.tgz -C in a.txt sub");
	assert_int_equal(scan_file(&c, "members.tgz", true, 0, &b), 0);
	assert_null(find_item(&c, "members.tar"));
	expect_item(&c, "a.txt", A_TXT);
	expect_item(&c, "sub/b.txt", B_TXT);
	coll_free(&c);
}

/* Content that starts with zero blocks is not an (empty) tar: it is one member. Also a
 * cpio inside gzip opens in the same level, and a zip inside gzip comes out whole. */
static void test_compressed_content(void **state)
{
	(void)state;
	run("mkdir -p cc && cd cc && head -c 4096 /dev/zero > z.bin && "
	    "printf 'key 4111 1111 1111 1111\\n' >> z.bin && gzip -c z.bin > z.bin.gz && "
	    "printf 'x\\n' > x.txt && echo x.txt | cpio -o -H newc --quiet | gzip -c > x.cpio.gz "
	    "&& zip -q x.zip x.txt && gzip -c x.zip > x.zip.gz");
	for (int use_fd = 0; use_fd < 2; use_fd++) {
		struct coll c = {0};
		vigil_archive_budget b = unlimited();
		const struct item *it;

		assert_int_equal(scan_file(&c, "cc/z.bin.gz", use_fd, 0, &b), 0);
		assert_int_equal(c.n_problems, 0);
		it = find_item(&c, "z.bin");
		assert_non_null(it);
		assert_int_equal(it->len, 4096 + 24);
		assert_memory_equal(it->data + 4096, "key 4111 1111 1111 1111\n", 24);
		coll_free(&c);

		assert_int_equal(scan_file(&c, "cc/x.cpio.gz", use_fd, 0, &b), 0);
		assert_int_equal(c.n_problems, 0);
		expect_item(&c, "x.txt", "x\n");
		assert_int_equal(c.n_items, 1);
		coll_free(&c);

		c.nested = true;
		assert_int_equal(scan_file(&c, "cc/x.zip.gz", use_fd, 0, &b), 0);
		assert_int_equal(c.n_problems, 0);
		expect_item(&c, "x.zip!/x.txt", "x\n");
		coll_free(&c);
	}
}

/* Zips written to a pipe carry their sizes after the data (data descriptors), stored or
 * deflated; names may be UTF-8. Both must stream. */
static void test_zip_streamed_and_names(void **state)
{
	(void)state;
	run("mkdir -p zs && cd zs && (printf 'streamed\\n' | zip -q - - > s.zip) && "
	    "(printf 'stored\\n' | zip -q -0 - - > s0.zip) && printf 'hi\\n' > \"$(printf "
	    "'caf\\303\\251.txt')\" "
	    "&& zip -q u.zip caf*.txt");
	for (int use_fd = 0; use_fd < 2; use_fd++) {
		struct coll c = {0};
		vigil_archive_budget b = unlimited();

		snprintf(ctx, sizeof(ctx), "streamed zips, fd %d", use_fd);
		assert_int_equal(scan_file(&c, "zs/s.zip", use_fd, 0, &b), 0);
		expect_item(&c, "-", "streamed\n");
		coll_free(&c);
		assert_int_equal(scan_file(&c, "zs/s0.zip", use_fd, 0, &b), 0);
		expect_item(&c, "-", "stored\n");
		coll_free(&c);
		assert_int_equal(scan_file(&c, "zs/u.zip", use_fd, 0, &b), 0);
		expect_item(&c, "caf\xc3\xa9.txt", "hi\n");
		assert_int_equal(c.n_problems, 0);
		coll_free(&c);
	}
}

/* ---- nesting ---- */

static void test_nested(void **state)
{
	(void)state;
	run("mkdir -p nest && cd nest && printf 'secret 5500 0000 0000 0004\\n' > secret.txt && "
	    "printf 'note\\n' > note.txt && printf 'top\\n' > top.txt && "
	    "zip -q inner.zip secret.txt && tar -czf mid.tar.gz inner.zip note.txt && "
	    "zip -q outer.zip mid.tar.gz top.txt && 7z a -bso0 -bsp0 seven.7z secret.txt && "
	    "zip -q -0 with7z.zip seven.7z note.txt");
	for (int mode = 0; mode < 3; mode++) {
		struct coll c = {.nested = true};
		vigil_archive_budget b = unlimited();

		assert_int_equal(
		    scan_file(&c, "nest/outer.zip", mode == 0, mode == 2 ? 1000 : 0, &b), 0);
		assert_int_equal(c.n_problems, 0);
		expect_item(&c, "top.txt", "top\n");
		expect_item(&c, "mid.tar.gz!/note.txt", "note\n");
		expect_item(&c, "mid.tar.gz!/inner.zip!/secret.txt",
			    "secret 5500 0000 0000 0004\n");
		assert_int_equal(c.n_items, 3);
		coll_free(&c);
	}
	/* A 7z member is not seekable: it is read from memory. */
	struct coll c = {.nested = true};
	vigil_archive_budget b = unlimited();
	assert_int_equal(scan_file(&c, "nest/with7z.zip", true, 0, &b), 0);
	assert_int_equal(c.n_problems, 0);
	expect_item(&c, "seven.7z!/secret.txt", "secret 5500 0000 0000 0004\n");
	expect_item(&c, "note.txt", "note\n");
	coll_free(&c);
}

/* ---- limits ---- */

static void make_bomb(void)
{
	static bool made;

	if (made)
		return;
	/* 200 MB of zeros is about 200 KB of gzip; its gzip again is a few KB. */
	run("head -c 200000000 /dev/zero | gzip -c > bomb.gz && gzip -c bomb.gz > bomb.gz.gz && "
	    "zip -q -0 bomb.zip bomb.gz && printf 'after\\n' > after.txt && "
	    "zip -q bomb.zip after.txt");
	made = true;
}

static void test_limit_bytes(void **state)
{
	struct coll c = {0};
	vigil_archive_budget b = unlimited();

	(void)state;
	make_bomb();
	b.bytes_left = 8u << 20;
	assert_int_equal(scan_file(&c, "bomb.gz", true, 0, &b), 0);
	assert_int_equal(c.n_items, 1);
	assert_string_equal(c.items[0].name, "bomb");
	assert_int_equal(c.items[0].err, EFBIG);
	assert_int_equal(c.items[0].len, 8u << 20);
	assert_int_equal(c.n_limits, 1);
	assert_int_equal(c.n_problems, 1);
	assert_non_null(strstr(c.problems[0], "--max-archive-bytes"));
	assert_non_null(strstr(c.problems[0], "8388608"));
	assert_true(b.limit_hit);
	assert_int_equal(b.bytes_left, 0);
	coll_free(&c);
}

static void test_limit_ratio(void **state)
{
	static const char *const files[] = {"bomb.gz", "bomb.gz.gz"};

	(void)state;
	make_bomb();
	for (size_t i = 0; i < 2; i++) {
		for (int use_fd = 0; use_fd < 2; use_fd++) {
			struct coll c = {0};
			vigil_archive_budget b = unlimited();

			b.max_ratio = 100;
			assert_int_equal(scan_file(&c, files[i], use_fd, 0, &b), 0);
			assert_int_equal(c.n_items, 1);
			assert_int_equal(c.items[0].err, EFBIG);
			/* Stopped soon after the 1 MiB floor: ~200 KB in at most 100:1. */
			assert_true(c.items[0].len >= (1u << 20));
			assert_true(c.items[0].len < (32u << 20));
			assert_int_equal(c.n_limits, 1);
			assert_int_equal(c.n_problems, 1);
			assert_non_null(strstr(c.problems[0], "--max-ratio"));
			assert_true(b.limit_hit);
			coll_free(&c);
		}
	}
}

/* The byte budget is shared across levels; the limit is reported once for the file. */
static void test_limit_nested_once(void **state)
{
	struct coll c = {.nested = true};
	vigil_archive_budget b = unlimited();

	(void)state;
	make_bomb();
	b.bytes_left = 4u << 20;
	assert_int_equal(scan_file(&c, "bomb.zip", true, 0, &b), 0);
	assert_int_equal(c.n_limits, 1);
	assert_int_equal(c.n_problems, 1);
	assert_non_null(strstr(c.problems[0], "4194304"));
	assert_true(b.limit_hit);
	/* Nothing after the limit: after.txt is not read. */
	assert_null(find_item(&c, "after.txt"));
	const struct item *it = find_item(&c, "bomb.gz!/bomb");
	assert_non_null(it);
	assert_int_equal(it->err, EFBIG);
	coll_free(&c);

	/* A budget smaller than the compressed member: the outer level runs out first. */
	struct coll d = {.nested = true};
	b = unlimited();
	b.bytes_left = 1000;
	assert_int_equal(scan_file(&d, "bomb.zip", true, 0, &b), 0);
	assert_int_equal(d.n_limits, 1);
	assert_int_equal(d.n_problems, 1);
	assert_non_null(strstr(d.problems[0], "expanded more than 1000 bytes"));
	coll_free(&d);
}

/* A tar.gz bomb: the ratio is judged on the compressed input, once. */
static void test_limit_tgz_ratio(void **state)
{
	(void)state;
	run("mkdir -p tb && head -c 100000000 /dev/zero > tb/zeros && "
	    "printf 'x\\n' > tb/x && tar -czf tb.tgz -C tb zeros x && rm tb/zeros");
	for (int use_fd = 0; use_fd < 2; use_fd++) {
		struct coll c = {0};
		vigil_archive_budget b = unlimited();

		b.max_ratio = 50;
		assert_int_equal(scan_file(&c, "tb.tgz", use_fd, 0, &b), 0);
		assert_int_equal(c.n_limits, 1);
		assert_int_equal(c.n_problems, 1);
		assert_non_null(strstr(c.problems[0], "compression ratio above 50 (--max-ratio)"));
		assert_int_equal(c.n_items, 1);
		assert_string_equal(c.items[0].name, "zeros");
		assert_int_equal(c.items[0].err, EFBIG);
		assert_true(c.items[0].len < (8u << 20));
		coll_free(&c);
	}
}

static void test_limit_entries(void **state)
{
	struct coll c = {0};
	vigil_archive_budget b = unlimited();

	(void)state;
	run("mkdir -p many && cd many && for i in 0 1 2 3 4 5 6 7 8 9; do echo $i > f$i; done && "
	    "zip -q ../many.zip f0 f1 f2 f3 f4 f5 f6 f7 f8 f9");
	b.entries_left = 3;
	assert_int_equal(scan_file(&c, "many.zip", true, 0, &b), 0);
	assert_int_equal(c.n_items, 3);
	assert_int_equal(c.n_limits, 1);
	assert_int_equal(c.n_problems, 1);
	assert_non_null(strstr(c.problems[0], "more than 3 members (--max-entries)"));
	assert_true(b.limit_hit);
	assert_int_equal(b.entries_left, 0);
	coll_free(&c);

	/* Exactly as many members as allowed is not a limit. */
	struct coll d = {0};
	b = unlimited();
	b.entries_left = 10;
	assert_int_equal(scan_file(&d, "many.zip", false, 0, &b), 0);
	assert_int_equal(d.n_items, 10);
	assert_int_equal(d.n_problems, 0);
	assert_false(b.limit_hit);
	coll_free(&d);
}

/* A streamed 7z larger than 64 MiB cannot be held in memory: a limit, not a crash. */
static void test_limit_7z_memory(void **state)
{
	static const uint8_t head[] = {'7', 'z', 0xbc, 0xaf, 0x27, 0x1c, 0, 4};
	struct coll c = {0};
	vigil_archive_budget b = unlimited();
	struct mem_src m;

	(void)state;
	mem_src_init(&m, NULL, 0, 0);
	m.zeros = (65u << 20);
	assert_int_equal(vigil_archive_scan(VIGIL_CONT_7Z, "big.7z", &m.r, head, sizeof(head), &b,
					    cbs_of(&c, &b)),
			 0);
	assert_int_equal(c.n_limits, 1);
	assert_non_null(strstr(c.problems[0], "64 MiB"));
	assert_int_equal(c.n_items, 0);
	coll_free(&c);

	/* A known size over the limit is refused before reading. */
	struct coll d = {0};
	b = unlimited();
	mem_src_init(&m, NULL, 0, 0);
	m.r.size = 100 << 20;
	assert_int_equal(vigil_archive_scan(VIGIL_CONT_7Z, "big.7z", &m.r, head, sizeof(head), &b,
					    cbs_of(&d, &b)),
			 0);
	assert_int_equal(m.calls, 0);
	assert_int_equal(d.n_limits, 1);
	assert_int_equal(d.n_items, 0);
	coll_free(&d);
}

/* ---- encryption ---- */

/* libarchive's test archive test_read_format_rar.rar (BSD-2-Clause, libarchive/test):
 * test.txt, testlink -> test.txt, testdir/test.txt, two directories. No tool here can
 * write RAR, so the encrypted variants below are this file with the RAR 4 password flags
 * set and the header CRCs recomputed. */
static const uint8_t rar4_fixture[] = {
    0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x00, 0xcf, 0x90, 0x73, 0x00, 0x00, 0x0d, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x84, 0x52, 0x74, 0x20, 0x90, 0x32, 0x00, 0x14, 0x00, 0x00, 0x00, 0x14,
    0x00, 0x00, 0x00, 0x03, 0x42, 0xa2, 0xc8, 0xbe, 0xb7, 0x76, 0xda, 0x3e, 0x14, 0x30, 0x08, 0x00,
    0xa4, 0x81, 0x00, 0x00, 0x74, 0x65, 0x73, 0x74, 0x2e, 0x74, 0x78, 0x74, 0x80, 0x08, 0xb7, 0x76,
    0xda, 0x3e, 0xb7, 0x76, 0xda, 0x3e, 0x74, 0x65, 0x73, 0x74, 0x20, 0x74, 0x65, 0x78, 0x74, 0x20,
    0x64, 0x6f, 0x63, 0x75, 0x6d, 0x65, 0x6e, 0x74, 0x0d, 0x0a, 0x9d, 0x2f, 0x74, 0x20, 0x90, 0x32,
    0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x03, 0x7b, 0x44, 0xc9, 0xb6, 0xd1, 0x4c,
    0xd8, 0x3e, 0x14, 0x30, 0x08, 0x00, 0xff, 0xa1, 0x00, 0x00, 0x74, 0x65, 0x73, 0x74, 0x6c, 0x69,
    0x6e, 0x6b, 0xc0, 0x08, 0xd1, 0x4c, 0xd8, 0x3e, 0x50, 0x5f, 0xda, 0x3e, 0x74, 0x65, 0x73, 0x74,
    0x2e, 0x74, 0x78, 0x74, 0xcd, 0xe0, 0x74, 0x20, 0x90, 0x3a, 0x00, 0x14, 0x00, 0x00, 0x00, 0x14,
    0x00, 0x00, 0x00, 0x03, 0x42, 0xa2, 0xc8, 0xbe, 0x63, 0x77, 0xda, 0x3e, 0x14, 0x30, 0x10, 0x00,
    0xa4, 0x81, 0x00, 0x00, 0x74, 0x65, 0x73, 0x74, 0x64, 0x69, 0x72, 0x5c, 0x74, 0x65, 0x73, 0x74,
    0x2e, 0x74, 0x78, 0x74, 0xc0, 0xcc, 0x63, 0x77, 0xda, 0x3e, 0x63, 0x77, 0xda, 0x3e, 0x74, 0x65,
    0x73, 0x74, 0x20, 0x74, 0x65, 0x78, 0x74, 0x20, 0x64, 0x6f, 0x63, 0x75, 0x6d, 0x65, 0x6e, 0x74,
    0x0d, 0x0a, 0xa1, 0xc8, 0x74, 0xe0, 0x90, 0x31, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x63, 0x77, 0xda, 0x3e, 0x14, 0x30, 0x07, 0x00, 0xed, 0x41,
    0x00, 0x00, 0x74, 0x65, 0x73, 0x74, 0x64, 0x69, 0x72, 0xc0, 0xcc, 0x63, 0x77, 0xda, 0x3e, 0x64,
    0x77, 0xda, 0x3e, 0xe6, 0xe7, 0x74, 0xe0, 0x90, 0x36, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x9d, 0xab, 0xd5, 0x3e, 0x14, 0x30, 0x0c, 0x00, 0xed,
    0x41, 0x00, 0x00, 0x74, 0x65, 0x73, 0x74, 0x65, 0x6d, 0x70, 0x74, 0x79, 0x64, 0x69, 0x72, 0x80,
    0xcc, 0x9d, 0xab, 0xd5, 0x3e, 0xc5, 0x5d, 0xda, 0x3e, 0xc4, 0x3d, 0x7b, 0x00, 0x40, 0x07, 0x00,
};

/* libarchive's test_read_format_rar5_stored.rar (BSD-2-Clause): helloworld.txt. */
static const uint8_t rar5_fixture[] = {
    0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00, 0x33, 0x92, 0xb5, 0xe5, 0x0a, 0x01, 0x05, 0x06,
    0x00, 0x05, 0x01, 0x01, 0x80, 0x80, 0x00, 0x38, 0x30, 0x06, 0x63, 0x2c, 0x02, 0x03, 0x0b, 0x9d,
    0x00, 0x04, 0x9d, 0x00, 0xa4, 0x83, 0x02, 0xb4, 0x43, 0xa0, 0x95, 0x80, 0x00, 0x01, 0x0e, 0x68,
    0x65, 0x6c, 0x6c, 0x6f, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x2e, 0x74, 0x78, 0x74, 0x0a, 0x03, 0x13,
    0x7e, 0x0e, 0xab, 0x5b, 0x56, 0xe9, 0x0e, 0x1a, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x6c, 0x69,
    0x62, 0x61, 0x72, 0x63, 0x68, 0x69, 0x76, 0x65, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x73, 0x75,
    0x69, 0x74, 0x65, 0x21, 0x0a, 0x1d, 0x77, 0x56, 0x51, 0x03, 0x05, 0x04, 0x00,
};

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* Set flag bits in the RAR 4 block header at `pos` and fix its CRC16 (low half of the
 * CRC32 of the header after the CRC field). */
static void rar4_set_flag(uint8_t *d, size_t pos, unsigned flag)
{
	unsigned flags = (unsigned)(d[pos + 3] | d[pos + 4] << 8) | flag;
	size_t size = (size_t)(d[pos + 5] | d[pos + 6] << 8);
	uint32_t crc;

	d[pos + 3] = (uint8_t)flags;
	d[pos + 4] = (uint8_t)(flags >> 8);
	crc = crc32_of(d + pos + 2, size - 2);
	d[pos] = (uint8_t)crc;
	d[pos + 1] = (uint8_t)(crc >> 8);
}

static void scan_bytes(struct coll *c, const uint8_t *p, size_t n, const char *name)
{
	vigil_archive_budget b = unlimited();
	size_t pl = n < 16 ? n : 16;

	write_file(name, p, n);
	assert_int_equal(scan_file(c, name, true, 0, &b), 0);
	/* The same as a stream (a RAR inside a zip, say). */
	struct coll s = {0};
	struct mem_src m;
	mem_src_init(&m, p + pl, n - pl, 5);
	assert_int_equal(
	    vigil_archive_scan(vigil_archive_sniff(p, n), name, &m.r, p, pl, &b, cbs_of(&s, &b)),
	    0);
	assert_int_equal(s.n_items, c->n_items);
	assert_int_equal(s.n_encrypted, c->n_encrypted);
	assert_int_equal(s.n_problems, c->n_problems);
	coll_free(&s);
}

static void test_rar(void **state)
{
	uint8_t d[sizeof(rar4_fixture)];
	struct coll c = {0};

	(void)state;
	assert_int_equal(vigil_archive_sniff(rar4_fixture, sizeof(rar4_fixture)), VIGIL_CONT_RAR);
	scan_bytes(&c, rar4_fixture, sizeof(rar4_fixture), "plain.rar");
	if (c.n_problems)
		fail_msg("plain.rar: %s", c.problems[0]);
	assert_int_equal(c.n_encrypted, 0);
	expect_item(&c, "test.txt", "test text document\r\n");
	expect_item(&c, "testdir/test.txt", "test text document\r\n");
	assert_int_equal(c.n_items, 2);
	coll_free(&c);

	scan_bytes(&c, rar5_fixture, sizeof(rar5_fixture), "plain5.rar");
	assert_int_equal(c.n_problems, 0);
	expect_item(&c, "helloworld.txt", "hello libarchive test suite!\n");
	coll_free(&c);

	/* Encrypted data (FHD_PASSWORD on both files): names visible, content not. */
	memcpy(d, rar4_fixture, sizeof(d));
	rar4_set_flag(d, 0x14, 0x04);
	rar4_set_flag(d, 0x94, 0x04);
	scan_bytes(&c, d, sizeof(d), "data-enc.rar");
	assert_int_equal(c.n_items, 0);
	assert_int_equal(c.n_encrypted, 1);
	assert_string_equal(c.encrypted[0], "rar");
	assert_int_equal(c.n_problems, 0);
	coll_free(&c);

	/* Only the first file encrypted: the other one is still read. */
	memcpy(d, rar4_fixture, sizeof(d));
	rar4_set_flag(d, 0x14, 0x04);
	scan_bytes(&c, d, sizeof(d), "part-enc.rar");
	assert_int_equal(c.n_encrypted, 1);
	expect_item(&c, "testdir/test.txt", "test text document\r\n");
	assert_int_equal(c.n_items, 1);
	coll_free(&c);

	/* Encrypted headers (MHD_PASSWORD in the archive header). */
	memcpy(d, rar4_fixture, sizeof(d));
	rar4_set_flag(d, 0x07, 0x80);
	scan_bytes(&c, d, sizeof(d), "head-enc.rar");
	assert_int_equal(c.n_encrypted, 1);
	assert_string_equal(c.encrypted[0], "rar");
	assert_int_equal(c.n_problems, 0);
	coll_free(&c);

	/* RAR 5 with an archive encryption header (rar -hp): type 4, version 0, flags 0,
	 * KDF count 15, 16 bytes of salt. */
	uint8_t h5[8 + 4 + 1 + 21 + sizeof(rar5_fixture) - 8];
	uint8_t body[22] = {21, 4, 0, 0, 0, 15};
	uint32_t crc;
	for (int i = 0; i < 16; i++)
		body[6 + i] = (uint8_t)i;
	memcpy(h5, rar5_fixture, 8);
	crc = crc32_of(body, sizeof(body));
	for (int i = 0; i < 4; i++)
		h5[8 + i] = (uint8_t)(crc >> (8 * i));
	memcpy(h5 + 12, body, sizeof(body));
	memcpy(h5 + 34, rar5_fixture + 8, sizeof(rar5_fixture) - 8);
	scan_bytes(&c, h5, sizeof(h5), "head-enc5.rar");
	assert_int_equal(c.n_encrypted, 1);
	assert_string_equal(c.encrypted[0], "rar");
	assert_int_equal(c.n_problems, 0);
	assert_int_equal(c.n_items, 0);
	coll_free(&c);
}

static void test_encrypted_zip_7z(void **state)
{
	static const struct {
		const char *file, *format;
		size_t items;
	} cases[] = {
	    {"enc/z.zip", "zip", 0}, {"enc/m.zip", "zip", 1}, {"enc/p.7z", "7z", 0},
	    {"enc/pm.7z", "7z", 0},  {"enc/h.7z", "7z", 0},
	};

	(void)state;
	run("mkdir -p enc && cd enc && printf 'hello secret\\n' > a.txt && printf 'bee\\n' > b.txt "
	    "&& zip -q -P secret z.zip a.txt b.txt && zip -q m.zip a.txt && "
	    "zip -q -P secret m.zip b.txt && 7z a -bso0 -bsp0 -psecret p.7z a.txt b.txt && "
	    "7z a -bso0 -bsp0 -psecret -mhe=off pm.7z a.txt && "
	    "7z a -bso0 -bsp0 -psecret -mhe=on h.7z a.txt b.txt && "
	    "zip -q -0 nested.zip z.zip h.7z b.txt");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int use_fd = 0; use_fd < 2; use_fd++) {
			struct coll c = {0};
			vigil_archive_budget b = unlimited();

			assert_int_equal(scan_file(&c, cases[i].file, use_fd, 0, &b), 0);
			if (c.n_problems)
				fail_msg("%s: %s", cases[i].file, c.problems[0]);
			assert_int_equal(c.n_encrypted, 1);
			assert_string_equal(c.encrypted[0], cases[i].format);
			assert_int_equal(c.n_items, cases[i].items);
			if (cases[i].items)
				expect_item(&c, "a.txt", "hello secret\n");
			coll_free(&c);
		}
	}
	/* Encrypted archives inside a zip: each reported once, the plain member read. */
	struct coll c = {.nested = true};
	vigil_archive_budget b = unlimited();
	assert_int_equal(scan_file(&c, "enc/nested.zip", true, 0, &b), 0);
	assert_int_equal(c.n_problems, 0);
	assert_int_equal(c.n_encrypted, 2);
	assert_string_equal(c.encrypted[0], "zip");
	assert_string_equal(c.encrypted[1], "7z");
	expect_item(&c, "b.txt", "bee\n");
	assert_int_equal(c.n_items, 1);
	coll_free(&c);
}

/* ---- damaged archives ---- */

static void test_truncated(void **state)
{
	static const char *const files[] = {"dmg/t.zip",    "dmg/t.tar.gz",  "dmg/t.7z",
					    "dmg/t.tar.xz", "dmg/t.tar.bz2", "dmg/t.tar"};

	(void)state;
	/* Incompressible members, so a cut lands inside data. */
	run("mkdir -p dmg/src && head -c 300000 /dev/urandom > dmg/src/r1 && "
	    "head -c 300000 /dev/urandom > dmg/src/r2 && cd dmg && "
	    "(cd src && zip -q ../t.zip r1 r2) && tar -czf t.tar.gz -C src r1 r2 && "
	    "tar -cJf t.tar.xz -C src r1 r2 && tar -cjf t.tar.bz2 -C src r1 r2 && "
	    "tar -cf t.tar -C src r1 r2 && (cd src && 7z a -bso0 -bsp0 ../t.7z r1 r2)");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		uint8_t *p = slurp_file(files[i], &len);

		write_file("dmg/cut", p, len / 2);
		for (int use_fd = 0; use_fd < 2; use_fd++) {
			struct coll c = {0};
			vigil_archive_budget b = unlimited();

			assert_int_equal(scan_file(&c, "dmg/cut", use_fd, 0, &b), 0);
			if (c.n_errors != 1)
				fail_msg("%s cut in half (fd %d): %zu errors", files[i], use_fd,
					 c.n_errors);
			assert_int_equal(c.n_limits, 0);
			assert_int_equal(c.n_encrypted, 0);
			coll_free(&c);
		}
		free(p);
	}
}

static void test_corrupted(void **state)
{
	size_t len;
	uint8_t *p;
	struct coll c = {0};
	vigil_archive_budget b = unlimited();

	(void)state;
	/* A flipped byte in deflated data: inflate or the CRC check must notice. */
	run("mkdir -p bad && cd bad && seq 1 20000 > nums.txt && zip -q z.zip nums.txt");
	p = slurp_file("bad/z.zip", &len);
	p[len / 2] ^= 0x55;
	write_file("bad/flipped.zip", p, len);
	free(p);
	for (int use_fd = 0; use_fd < 2; use_fd++) {
		assert_int_equal(scan_file(&c, "bad/flipped.zip", use_fd, 0, &b), 0);
		assert_int_equal(c.n_errors, 1);
		assert_int_equal(c.problem_kind[0], VIGIL_SKIP_ARCHIVE_ERROR);
		coll_free(&c);
	}

	/* Garbage that claims to be each kind. */
	uint8_t junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	for (int k = VIGIL_CONT_ZIP; k < VIGIL_CONT_COUNT; k++) {
		struct mem_src m;

		mem_src_init(&m, junk, sizeof(junk), 0);
		assert_int_equal(vigil_archive_scan((vigil_container)k, "junk", &m.r, NULL, 0, &b,
						    cbs_of(&c, &b)),
				 0);
		if (c.n_errors != 1)
			fail_msg("junk as %s: %zu errors", vigil_container_name(k), c.n_errors);
		assert_int_equal(c.n_items, 0);
		coll_free(&c);
	}
	assert_int_equal(vigil_archive_scan(VIGIL_CONT_NONE, "x", NULL, NULL, 0, &b, &callbacks),
			 VIGIL_E_INVALID);
}

/* Flip each byte of small archives in turn: every scan ends, nothing crashes (the point
 * of running this under ASan/UBSan), problems are reported as errors. */
static void test_flip_every_byte(void **state)
{
	static const char *const files[] = {"flip/t.zip",  "flip/t.tar.gz", "flip/t.7z",
					    "flip/t.cpio", "flip/t.a",      "flip/t.tar.xz"};

	(void)state;
	run("mkdir -p flip && cd flip && printf 'one 4111111111111111\\n' > x && "
	    "printf 'two\\n' > y && zip -q t.zip x y && tar -czf t.tar.gz x y && "
	    "7z a -bso0 -bsp0 t.7z x y && printf 'x\\ny\\n' | cpio -o -H newc --quiet > t.cpio && "
	    "ar rc t.a x y && tar -cJf t.tar.xz x y");
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len;
		uint8_t *orig = slurp_file(files[f], &len);
		uint8_t *p = malloc(len);
		size_t step = len > 600 ? len / 300 : 1;

		assert_non_null(p);
		for (size_t i = 0; i < len; i += step) {
			struct coll c = {.nested = true};
			vigil_archive_budget b = unlimited();
			struct mem_src m;
			vigil_container k;

			memcpy(p, orig, len);
			p[i] ^= (uint8_t)(0x5a + i);
			k = vigil_archive_sniff(p, len);
			if (k == VIGIL_CONT_NONE)
				continue;
			b.bytes_left = 1u << 20;
			b.entries_left = 100;
			mem_src_init(&m, p + 8, len - 8, 100);
			assert_int_equal(
			    vigil_archive_scan(k, files[f], &m.r, p, 8, &b, cbs_of(&c, &b)), 0);
			assert_true(c.n_items <= 2);
			coll_free(&c);
		}
		free(p);
		free(orig);
	}
}

/* A source that fails with EFBIG (an outer level's limit) stops quietly. */
static void test_source_limit_quiet(void **state)
{
	size_t len;
	uint8_t *p;
	struct coll c = {0};
	vigil_archive_budget b = unlimited();
	struct mem_src m;

	(void)state;
	run("mkdir -p quiet && head -c 400000 /dev/urandom > quiet/r && "
	    "tar -czf quiet/r.tgz -C quiet r");
	p = slurp_file("quiet/r.tgz", &len);
	mem_src_init(&m, p + 16, len - 16, 0);
	m.fail_at = len / 2;
	m.fail_errno = EFBIG;
	assert_int_equal(
	    vigil_archive_scan(VIGIL_CONT_GZIP, "r.tgz", &m.r, p, 16, &b, cbs_of(&c, &b)), 0);
	assert_int_equal(c.n_problems, 0);
	assert_int_equal(c.n_items, 1);
	assert_int_equal(c.items[0].err, EFBIG);
	coll_free(&c);

	/* Any other read error is this archive's problem. */
	mem_src_init(&m, p + 16, len - 16, 0);
	m.fail_at = len / 2;
	m.fail_errno = EIO;
	assert_int_equal(
	    vigil_archive_scan(VIGIL_CONT_GZIP, "r.tgz", &m.r, p, 16, &b, cbs_of(&c, &b)), 0);
	assert_int_equal(c.n_errors, 1);
	coll_free(&c);
	free(p);
}

/* on_member may read part of a member (the rest is skipped) or stop the archive. */
static void test_partial_read_and_stop(void **state)
{
	(void)state;
	run("mkdir -p part && cd part && seq 1 300000 > big.txt && printf 'small\\n' > small.txt "
	    "&& tar -czf p.tgz big.txt small.txt && zip -q p.zip big.txt small.txt && "
	    "7z a -bso0 -bsp0 p.7z big.txt small.txt");
	static const char *const files[] = {"part/p.tgz", "part/p.zip", "part/p.7z"};
	for (size_t i = 0; i < 3; i++) {
		for (int use_fd = 0; use_fd < 2; use_fd++) {
			struct coll c = {.read_limit = 10};
			vigil_archive_budget b = unlimited();

			assert_int_equal(scan_file(&c, files[i], use_fd, 0, &b), 0);
			assert_int_equal(c.n_problems, 0);
			expect_item(&c, "small.txt", "small\n");
			assert_int_equal(c.n_items, 2);

			struct coll d = {.stop_with = 7};
			assert_int_equal(scan_file(&d, files[i], use_fd, 0, &b), 7);
			assert_int_equal(d.n_items, 1);
			coll_free(&c);
			coll_free(&d);
		}
	}
}

/* A docx is a zip; its document.xml through the XML text extractor keeps a card number
 * that Word split into runs. */
static int sink_append(void *user, const uint8_t *p, size_t n)
{
	struct item *out = user;

	out->data = realloc(out->data, out->len + n + 1);
	assert_non_null(out->data);
	memcpy(out->data + out->len, p, n);
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

static void test_docx_like(void **state)
{
	struct coll c = {0};
	vigil_archive_budget b = unlimited();
	struct item text = {0};
	vigil_xmltext x;

	(void)state;
	run("mkdir -p docx/word/_rels docx/_rels && cd docx && "
	    "printf '<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\\n<Types "
	    "xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default "
	    "Extension=\"xml\" ContentType=\"application/xml\"/></Types>' > '[Content_Types].xml' "
	    "&& printf '<Relationships/>' > _rels/.rels && "
	    "printf '<?xml version=\"1.0\"?><w:document xmlns:w=\"urn:w\"><w:body><w:p><w:r>"
	    "<w:t>Card: 4111 1111</w:t></w:r><w:r><w:t xml:space=\"preserve\"> 1111 1111</w:t>"
	    "</w:r></w:p><w:p><w:r><w:t>Tom &amp; Jerry</w:t></w:r></w:p></w:body></w:document>' "
	    "> word/document.xml && zip -q -X -r ../doc.docx '[Content_Types].xml' _rels word");
	assert_int_equal(sniff_file("doc.docx"), VIGIL_CONT_ZIP);
	assert_int_equal(scan_file(&c, "doc.docx", true, 0, &b), 0);
	assert_int_equal(c.n_problems, 0);
	assert_non_null(find_item(&c, "[Content_Types].xml"));
	assert_non_null(find_item(&c, "_rels/.rels"));
	const struct item *doc = find_item(&c, "word/document.xml");
	assert_non_null(doc);
	vigil_xmltext_init(&x);
	assert_int_equal(vigil_xmltext_feed(&x, doc->data, doc->len, sink_append, &text), 0);
	assert_int_equal(vigil_xmltext_finish(&x, sink_append, &text), 0);
	assert_non_null(text.data);
	assert_string_equal((char *)text.data, "Card: 4111 1111 1111 1111\nTom & Jerry\n");
	free(text.data);
	coll_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sniff_table),
	    cmocka_unit_test(test_sniff_tar_checksum),
	    cmocka_unit_test(test_container_names),
	    cmocka_unit_test(test_formats),
	    cmocka_unit_test(test_raw_member_names),
	    cmocka_unit_test(test_tar_gz_members_not_raw),
	    cmocka_unit_test(test_compressed_content),
	    cmocka_unit_test(test_zip_streamed_and_names),
	    cmocka_unit_test(test_nested),
	    cmocka_unit_test(test_limit_bytes),
	    cmocka_unit_test(test_limit_ratio),
	    cmocka_unit_test(test_limit_nested_once),
	    cmocka_unit_test(test_limit_tgz_ratio),
	    cmocka_unit_test(test_limit_entries),
	    cmocka_unit_test(test_limit_7z_memory),
	    cmocka_unit_test(test_rar),
	    cmocka_unit_test(test_encrypted_zip_7z),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_corrupted),
	    cmocka_unit_test(test_flip_every_byte),
	    cmocka_unit_test(test_source_limit_quiet),
	    cmocka_unit_test(test_partial_read_and_stop),
	    cmocka_unit_test(test_docx_like),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
