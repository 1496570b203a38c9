/* SPDX-License-Identifier: Apache-2.0 */
/* Containers and compressed streams through libarchive: sniffing by magic bytes, streaming
 * of members (never to disk) under the shared bomb budget, and encryption reporting. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "archive_int.h"
#include "vigil/vigil.h"
#include <archive.h>
#include <archive_entry.h>

/* Read-callback buffer: large enough that libarchive rarely has to stitch blocks. */
#define SRC_BUF_SIZE (64u * 1024u)
/* A 7z needs seeking; one that comes as a stream (a member) is held in memory up to this. */
#define MEM_7Z_MAX (64u * 1024u * 1024u)
/* Below this much output the ratio is not judged: small files compress too well. */
#define RATIO_FLOOR (1024u * 1024u)
/* Consecutive header errors (RETRY, FAILED) after which an archive is given up. */
#define MAX_BAD_HEADERS 32
/* Consecutive empty data blocks after which a member is considered stuck. */
#define MAX_EMPTY_BLOCKS 1024

/* ---- sniffing ---- */

static const char *const container_names[VIGIL_CONT_COUNT] = {
    [VIGIL_CONT_NONE] = "none",   [VIGIL_CONT_ZIP] = "zip",     [VIGIL_CONT_TAR] = "tar",
    [VIGIL_CONT_GZIP] = "gzip",   [VIGIL_CONT_BZIP2] = "bzip2", [VIGIL_CONT_XZ] = "xz",
    [VIGIL_CONT_ZSTD] = "zstd",   [VIGIL_CONT_LZ4] = "lz4",     [VIGIL_CONT_COMPRESS] = "compress",
    [VIGIL_CONT_7Z] = "7z",       [VIGIL_CONT_RAR] = "rar",     [VIGIL_CONT_CPIO] = "cpio",
    [VIGIL_CONT_ISO] = "iso9660", [VIGIL_CONT_AR] = "ar",
};

const char *vigil_container_name(vigil_container k)
{
	return (unsigned)k < VIGIL_CONT_COUNT ? container_names[k] : "none";
}

static bool has(const uint8_t *p, size_t n, size_t off, const void *magic, size_t len)
{
	return n >= off + len && memcmp(p + off, magic, len) == 0;
}

static bool all_digits(const uint8_t *p, size_t len, int base)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		bool ok = base == 8 ? (c >= '0' && c <= '7')
				    : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
				       (c >= 'A' && c <= 'F'));
		if (!ok)
			return false;
	}
	return true;
}

/* An octal tar number: optional leading spaces, digits, then space or NUL (or field end). */
static bool tar_octal(const uint8_t *f, size_t len, uint64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;
	bool any = false;

	while (i < len && f[i] == ' ')
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		v = v * 8 + (uint64_t)(f[i] - '0');
		any = true;
	}
	if (!any || (i < len && f[i] != ' ' && f[i] != '\0'))
		return false;
	*out = v;
	return true;
}

/* POSIX ustar or old GNU magic at 257, and (when the whole header is there) a checksum
 * that libarchive's tar reader would accept: it takes both signed and unsigned sums. */
static bool is_tar(const uint8_t *p, size_t n)
{
	uint64_t want, usum = 0;
	int64_t ssum = 0;

	if (!has(p, n, 257, "ustar", 5) || n < 263)
		return false;
	if (p[262] != '\0' && !has(p, n, 262, "  \0", 3))
		return false;
	if (n < 512)
		return true;
	if (!tar_octal(p + 148, 8, &want))
		return false;
	for (size_t i = 0; i < 512; i++) {
		uint8_t c = (i >= 148 && i < 156) ? ' ' : p[i];
		usum += c;
		ssum += (int8_t)c;
	}
	return usum == want || (uint64_t)ssum == want;
}

/* cpio: every header field must be digits of the right base, so a text that happens to
 * start with "070707" is not taken for an archive. */
static bool is_cpio(const uint8_t *p, size_t n)
{
	if (has(p, n, 0, "070701", 6) || has(p, n, 0, "070702", 6))
		return n >= 110 && all_digits(p + 6, 104, 16);
	if (has(p, n, 0, "070707", 6))
		return n >= 76 && all_digits(p + 6, 70, 8);
	if (n >= 26 && ((p[0] == 0xc7 && p[1] == 0x71) || (p[0] == 0x71 && p[1] == 0xc7))) {
		bool le = p[0] == 0xc7;
		unsigned mode = le ? (unsigned)(p[6] | p[7] << 8) : (unsigned)(p[6] << 8 | p[7]);
		unsigned namesize =
		    le ? (unsigned)(p[20] | p[21] << 8) : (unsigned)(p[20] << 8 | p[21]);
		unsigned type = mode & 0170000;

		if (namesize < 2 || namesize > 4096)
			return false;
		if (type != 0100000 && type != 0040000 && type != 0120000 && type != 0060000 &&
		    type != 0020000 && type != 0010000 && type != 0140000 && mode != 0)
			return false;
		/* The name is NUL-terminated; check it when the sample reaches that far. */
		return n < 26 + (size_t)namesize || p[26 + namesize - 1] == '\0';
	}
	return false;
}

vigil_container vigil_archive_sniff(const uint8_t *p, size_t n)
{
	static const uint8_t bz_block[6] = {0x31, 0x41, 0x59, 0x26, 0x53, 0x59};
	static const uint8_t bz_end[6] = {0x17, 0x72, 0x45, 0x38, 0x50, 0x90};

	if (p == NULL || n < 2)
		return VIGIL_CONT_NONE;
	if (has(p, n, 0, "PK\3\4", 4) || has(p, n, 0, "PK\5\6", 4))
		return VIGIL_CONT_ZIP;
	/* The spanning marker of a split archive that fits in one part. */
	if (has(p, n, 0, "PK\7\x08", 4) && (n < 8 || has(p, n, 4, "PK\3\4", 4)))
		return VIGIL_CONT_ZIP;
	if (has(p, n, 0, "\x1f\x8b\x08", 3) && (n < 4 || (p[3] & 0xe0) == 0))
		return VIGIL_CONT_GZIP;
	/* "BZh9" alone is printable text; the block (or end-of-stream) magic is not. */
	if (n >= 10 && has(p, n, 0, "BZh", 3) && p[3] >= '1' && p[3] <= '9' &&
	    (memcmp(p + 4, bz_block, 6) == 0 || memcmp(p + 4, bz_end, 6) == 0))
		return VIGIL_CONT_BZIP2;
	if (has(p, n, 0,
		"\xfd"
		"7zXZ\0",
		6))
		return VIGIL_CONT_XZ;
	if (has(p, n, 0, "\x28\xb5\x2f\xfd", 4))
		return VIGIL_CONT_ZSTD;
	if (has(p, n, 0, "\x04\x22\x4d\x18", 4) || has(p, n, 0, "\x02\x21\x4c\x18", 4))
		return VIGIL_CONT_LZ4;
	/* .Z: the flags byte has reserved bits 5-6 clear and 9..16 maximum code bits. */
	if (n >= 3 && p[0] == 0x1f && p[1] == 0x9d && (p[2] & 0x60) == 0 && (p[2] & 0x1f) >= 9 &&
	    (p[2] & 0x1f) <= 16)
		return VIGIL_CONT_COMPRESS;
	if (has(p, n, 0, "7z\xbc\xaf\x27\x1c", 6))
		return VIGIL_CONT_7Z;
	if (has(p, n, 0, "Rar!\x1a\x07\x00", 7) || has(p, n, 0, "Rar!\x1a\x07\x01\x00", 8))
		return VIGIL_CONT_RAR;
	if (is_cpio(p, n))
		return VIGIL_CONT_CPIO;
	/* "!<arch>\n" is printable: also want the first member header's "`\n" terminator. */
	if (has(p, n, 0, "!<arch>\n", 8) && (n == 8 || has(p, n, 66, "`\n", 2)))
		return VIGIL_CONT_AR;
	if (is_tar(p, n))
		return VIGIL_CONT_TAR;
	/* ISO 9660 volume descriptor at sector 16: type, "CD001", version 1. */
	if (has(p, n, 32769, "CD001", 5) && n > 32774 && p[32774] == 1 &&
	    (p[32768] <= 3 || p[32768] == 0xff))
		return VIGIL_CONT_ISO;
	return VIGIL_CONT_NONE;
}

/* ---- scanning ---- */

/* The member being handed to on_member: a window on libarchive's current data block. */
struct member {
	const uint8_t *replay; /* bytes already read (and charged) to hand out first */
	size_t replay_len, replay_pos;
	const uint8_t *blk;
	size_t blk_left;
	int64_t blk_off; /* member offset of blk[0] */
	int64_t out_off; /* member offset of the next byte handed out */
	unsigned empty_blocks;
	bool eof;
	int err; /* sticky errno once a read failed */
};

/* One archive level: one libarchive reader over one source stream. */
struct level {
	struct archive *a;
	vigil_container kind;
	vigil_reader *src;
	const uint8_t *prefix;
	size_t prefix_len, prefix_pos;
	bool fd_mode; /* reading src->fd with seeks */
	bool src_eof;
	int src_errno; /* errno of a failed source read, 0 if none */
	uint8_t *buf;  /* SRC_BUF_SIZE bytes for the read callback */
	uint8_t *mem;  /* a streamed 7z held in memory */
	size_t mem_len;
	char *raw_name;    /* the member name for single-file compressors */
	uint64_t consumed; /* bytes taken from the source */
	uint64_t expanded; /* bytes handed out from this level's members */
	vigil_archive_budget *budget;
	const vigil_archive_callbacks *cb;
	/* The budget's values when the outermost level started, for the messages. */
	uint64_t max_bytes, max_entries;
	struct level *outer;
	bool uncharged; /* the tar or cpio inside a compressor: its level charges */
	bool stop;      /* a limit or a fatal error ends this archive */
	bool limit_reported, error_reported, encrypted_reported;
	struct member m;
};

/* The innermost level running on this thread. Nested levels are opened from inside
 * on_member, so the levels of one file form a stack; the outermost one saw the budget
 * before anything was spent and knows the configured limits for the messages. */
static _Thread_local struct level *innermost;

static void report_problem(struct level *L, vigil_skip why, const char *msg)
{
	if (L->cb->on_problem)
		L->cb->on_problem(L->cb->user, why, msg);
}

static void report_error(struct level *L, const char *msg)
{
	/* One corruption report per archive: a damaged archive tends to repeat itself. */
	if (L->error_reported)
		return;
	L->error_reported = true;
	report_problem(L, VIGIL_SKIP_ARCHIVE_ERROR,
		       msg && *msg ? msg : "corrupt or truncated archive");
}

static const char *encrypted_format(struct level *L)
{
	switch (L->kind) {
	case VIGIL_CONT_ZIP:
		return "zip";
	case VIGIL_CONT_7Z:
		return "7z";
	case VIGIL_CONT_RAR:
		return "rar";
	default:
		break;
	}
	switch (archive_format(L->a) & ARCHIVE_FORMAT_BASE_MASK) {
	case ARCHIVE_FORMAT_ZIP:
		return "zip";
	case ARCHIVE_FORMAT_7ZIP:
		return "7z";
	case ARCHIVE_FORMAT_RAR:
	case ARCHIVE_FORMAT_RAR_V5:
		return "rar";
	default:
		return vigil_container_name(L->kind);
	}
}

static void report_encrypted(struct level *L)
{
	if (L->encrypted_reported)
		return;
	L->encrypted_reported = true;
	if (L->cb->on_encrypted)
		L->cb->on_encrypted(L->cb->user, encrypted_format(L));
}

/* libarchive has no error code for "needs a password"; its messages all say so. */
static bool is_encryption_error(const char *msg)
{
	return msg && (strcasestr(msg, "crypt") || strcasestr(msg, "passphrase"));
}

/*
 * Stop this archive for a limit. Running out of the shared bytes or entries is seen by
 * every level that tries to go on; only the first one to see it reports it.
 */
static void hit_limit(struct level *L, bool shared, const char *msg)
{
	bool already = L->budget->limit_hit;

	L->stop = true;
	L->budget->limit_hit = true;
	if (L->limit_reported || (shared && already))
		return;
	L->limit_reported = true;
	report_problem(L, VIGIL_SKIP_ARCHIVE_LIMIT, msg);
}

static void limit_bytes(struct level *L)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "expanded more than %" PRIu64 " bytes (--max-archive-bytes)",
		 L->max_bytes);
	hit_limit(L, true, msg);
}

static void limit_ratio(struct level *L)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "compression ratio above %g (--max-ratio)",
		 L->budget->max_ratio);
	hit_limit(L, false, msg);
}

static void limit_entries(struct level *L)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "more than %" PRIu64 " members (--max-entries)", L->max_entries);
	hit_limit(L, true, msg);
}

/* A source that failed for a reason an outer level already reported (its limit, or its
 * own corruption) makes this level stop quietly. */
static bool src_failed_quietly(const struct level *L)
{
	return L->src_errno == EFBIG || L->src_errno == EBADMSG;
}

/* libarchive failed on this archive (rc < ARCHIVE_WARN): report it as what it is and
 * return the errno for a member reader. */
static int archive_failed(struct level *L, int rc)
{
	const char *msg = archive_error_string(L->a);

	if (rc <= ARCHIVE_FATAL)
		L->stop = true;
	if (src_failed_quietly(L)) {
		L->stop = true;
		return L->src_errno;
	}
	if (is_encryption_error(msg)) {
		report_encrypted(L);
		return EACCES;
	}
	report_error(L, msg);
	return EBADMSG;
}

static la_ssize_t read_cb(struct archive *a, void *ud, const void **out)
{
	struct level *L = ud;
	ssize_t n;

	if (L->fd_mode) {
		do
			n = vigil_read(L->src->fd, L->buf, SRC_BUF_SIZE);
		while (n < 0 && errno == EINTR);
	} else {
		if (L->prefix_pos < L->prefix_len) {
			size_t k = L->prefix_len - L->prefix_pos;

			*out = L->prefix + L->prefix_pos;
			L->prefix_pos = L->prefix_len;
			L->consumed += k;
			return (la_ssize_t)k;
		}
		if (L->src_eof)
			return 0;
		do
			n = L->src->read(L->src, L->buf, SRC_BUF_SIZE);
		while (n < 0 && errno == EINTR);
		if (n == 0)
			L->src_eof = true;
	}
	if (n < 0) {
		L->src_errno = errno;
		archive_set_error(a, errno, "reading the archive failed (errno %d)", errno);
		return -1;
	}
	L->consumed += (uint64_t)n;
	*out = L->buf;
	return n;
}

static la_int64_t seek_cb(struct archive *a, void *ud, la_int64_t off, int whence)
{
	struct level *L = ud;
	off_t r = lseek(L->src->fd, (off_t)off, whence);

	if (r < 0) {
		L->src_errno = errno;
		archive_set_error(a, errno, "seeking in the archive failed (errno %d)", errno);
		return ARCHIVE_FATAL;
	}
	return (la_int64_t)r;
}

static ssize_t member_fail(struct member *m, int err)
{
	m->err = err;
	errno = err;
	return -1;
}

/* Make sure m has bytes (or a hole) to hand out; false at the member's end or on error
 * (then m->eof or m->err is set). */
static bool member_fill(struct level *L, struct member *m)
{
	while (m->blk_left == 0 && m->blk_off <= m->out_off) {
		const void *b = NULL;
		size_t sz = 0;
		la_int64_t off = 0;
		int rc = archive_read_data_block(L->a, &b, &sz, &off);

		if (rc == ARCHIVE_EOF) {
			m->eof = true;
			return false;
		}
		if (rc < ARCHIVE_WARN) {
			member_fail(m, archive_failed(L, rc));
			return false;
		}
		if (rc == ARCHIVE_WARN) {
			/* Typically a checksum mismatch found at the end of the data. */
			report_error(L, archive_error_string(L->a));
			if (sz == 0) {
				m->eof = true;
				return false;
			}
		}
		if (off < m->out_off) {
			report_error(L, "archive data blocks out of order");
			member_fail(m, EBADMSG);
			return false;
		}
		if (sz == 0 && off <= m->out_off && ++m->empty_blocks > MAX_EMPTY_BLOCKS) {
			report_error(L, "archive member data makes no progress");
			L->stop = true;
			member_fail(m, EBADMSG);
			return false;
		}
		if (sz > 0)
			m->empty_blocks = 0;
		m->blk = b;
		m->blk_left = sz;
		m->blk_off = off;
	}
	return true;
}

/* Charge n bytes of output to the budget; false (and the archive stopped) on a limit. */
static bool charge(struct level *L, size_t *n)
{
	vigil_archive_budget *b = L->budget;

	if (L->uncharged)
		return true;
	if (b->bytes_left != UINT64_MAX) {
		if (b->bytes_left == 0) {
			limit_bytes(L);
			return false;
		}
		if (*n > b->bytes_left)
			*n = (size_t)b->bytes_left;
	}
	if (b->max_ratio > 0 && L->expanded + *n > RATIO_FLOOR &&
	    (double)(L->expanded + *n) > b->max_ratio * (double)L->consumed) {
		limit_ratio(L);
		return false;
	}
	if (b->bytes_left != UINT64_MAX)
		b->bytes_left -= *n;
	L->expanded += *n;
	return true;
}

static ssize_t member_read(vigil_reader *r, void *buf, size_t cap)
{
	struct level *L = r->ctx;
	struct member *m = &L->m;
	size_t n;

	if (m->err)
		return member_fail(m, m->err);
	if (m->replay_pos < m->replay_len) {
		n = m->replay_len - m->replay_pos;
		n = n < cap ? n : cap;
		memcpy(buf, m->replay + m->replay_pos, n);
		m->replay_pos += n;
		return (ssize_t)n;
	}
	if (m->eof || cap == 0)
		return 0;
	if (L->stop)
		return member_fail(m, L->budget->limit_hit ? EFBIG : EBADMSG);
	if (!member_fill(L, m))
		return m->err ? -1 : 0;
	if (m->blk_off > m->out_off) {
		/* A hole of a sparse member reads as zeros, like archive_read_data(). */
		uint64_t gap = (uint64_t)(m->blk_off - m->out_off);

		n = gap < cap ? (size_t)gap : cap;
		if (!charge(L, &n))
			return member_fail(m, EFBIG);
		memset(buf, 0, n);
	} else {
		n = m->blk_left < cap ? m->blk_left : cap;
		if (!charge(L, &n))
			return member_fail(m, EFBIG);
		memcpy(buf, m->blk, n);
		m->blk += n;
		m->blk_left -= n;
		m->blk_off += (int64_t)n;
	}
	m->out_off += (int64_t)n;
	return (ssize_t)n;
}

/* The caller did not read the whole member: skip the rest (a seek where the source
 * allows it). */
static void skip_rest(struct level *L)
{
	int rc = archive_read_data_skip(L->a);

	if (rc < ARCHIVE_WARN)
		L->m.err = archive_failed(L, rc);
}

static const struct {
	const char *suffix, *replace;
} compress_suffixes[] = {
    {".tgz", ".tar"}, {".taz", ".tar"},  {".tbz2", ".tar"}, {".tbz", ".tar"},
    {".txz", ".tar"}, {".tzst", ".tar"}, {".tlz4", ".tar"}, {".gz", ""},
    {".gzip", ""},    {".bz2", ""},      {".bz", ""},       {".xz", ""},
    {".zst", ""},     {".zstd", ""},     {".lz4", ""},      {".z", ""},
};

/* The name of a single-file compressor's content: the outer base name without its
 * compression suffix, or "data". */
static char *raw_member_name(const char *outer_name)
{
	const char *base = outer_name ? strrchr(outer_name, '/') : NULL;
	size_t len;

	base = base ? base + 1 : outer_name;
	len = base ? strlen(base) : 0;
	for (size_t i = 0; base && i < sizeof(compress_suffixes) / sizeof(compress_suffixes[0]);
	     i++) {
		size_t sl = strlen(compress_suffixes[i].suffix);
		size_t rl = strlen(compress_suffixes[i].replace);
		char *name;

		if (len <= sl || strcasecmp(base + len - sl, compress_suffixes[i].suffix) != 0)
			continue;
		if ((name = malloc(len - sl + rl + 1)) == NULL)
			return NULL;
		memcpy(name, base, len - sl);
		memcpy(name + len - sl, compress_suffixes[i].replace, rl + 1);
		return name;
	}
	return strdup("data");
}

/* Only decoders built into libarchive: a missing library would make it run an external
 * program on hostile data instead. */
static int add_filters(struct archive *a)
{
	int r = ARCHIVE_OK;

	if (archive_zlib_version())
		r = r ? r : archive_read_support_filter_gzip(a);
	if (archive_bzlib_version())
		r = r ? r : archive_read_support_filter_bzip2(a);
	if (archive_liblzma_version())
		r = r ? r : archive_read_support_filter_xz(a);
	if (archive_libzstd_version())
		r = r ? r : archive_read_support_filter_zstd(a);
	if (archive_liblz4_version())
		r = r ? r : archive_read_support_filter_lz4(a);
	r = r ? r : archive_read_support_filter_compress(a);
	return r;
}

static bool is_compressor(vigil_container kind)
{
	return kind >= VIGIL_CONT_GZIP && kind <= VIGIL_CONT_COMPRESS;
}

static bool filter_is_builtin(vigil_container kind)
{
	switch (kind) {
	case VIGIL_CONT_GZIP:
		return archive_zlib_version() != NULL;
	case VIGIL_CONT_BZIP2:
		return archive_bzlib_version() != NULL;
	case VIGIL_CONT_XZ:
		return archive_liblzma_version() != NULL;
	case VIGIL_CONT_ZSTD:
		return archive_libzstd_version() != NULL;
	case VIGIL_CONT_LZ4:
		return archive_liblz4_version() != NULL;
	default:
		return true;
	}
}

/* Register what `kind` needs and nothing else, so no other format's bidder can claim
 * the stream. Returns an ARCHIVE_* code. */
static int setup_formats(struct archive *a, vigil_container kind)
{
	int r;

	switch (kind) {
	case VIGIL_CONT_ZIP:
		return archive_read_support_format_zip(a);
	case VIGIL_CONT_TAR:
		return archive_read_support_format_tar(a);
	case VIGIL_CONT_7Z:
		return archive_read_support_format_7zip(a);
	case VIGIL_CONT_RAR:
		r = archive_read_support_format_rar(a);
		return r ? r : archive_read_support_format_rar5(a);
	case VIGIL_CONT_CPIO:
		return archive_read_support_format_cpio(a);
	case VIGIL_CONT_ISO:
		return archive_read_support_format_iso9660(a);
	case VIGIL_CONT_AR:
		return archive_read_support_format_ar(a);
	case VIGIL_CONT_GZIP:
	case VIGIL_CONT_BZIP2:
	case VIGIL_CONT_XZ:
	case VIGIL_CONT_ZSTD:
	case VIGIL_CONT_LZ4:
	case VIGIL_CONT_COMPRESS:
		/* The content comes out raw and is sniffed in raw_entry(). libarchive's tar
		 * bidder would also claim content that starts with a zero block (its
		 * end-of-archive mark) and then show nothing of it. */
		r = add_filters(a);
		r = r ? r : archive_read_support_format_empty(a);
		return r ? r : archive_read_support_format_raw(a);
	default:
		return ARCHIVE_FATAL;
	}
}

/* Hold a streamed 7z in memory (it needs seeking). Returns 0, 1 if the archive was
 * stopped (and reported), or VIGIL_E_NOMEM. */
static int slurp(struct level *L)
{
	size_t cap = 0, len = 0;
	uint8_t *p = NULL;
	int r = 0;

	if (L->src->size > (int64_t)MEM_7Z_MAX)
		goto too_large;
	cap = L->src->size > 0 ? (size_t)L->src->size : 1024u * 1024u;
	if (cap < L->prefix_len)
		cap = L->prefix_len;
	if ((p = malloc(cap + 1)) == NULL)
		return VIGIL_E_NOMEM;
	if (L->prefix_len > 0)
		memcpy(p, L->prefix, L->prefix_len);
	len = L->prefix_len;
	for (;;) {
		ssize_t n;

		if (len == cap + 1) {
			size_t ncap = cap * 2 > MEM_7Z_MAX ? MEM_7Z_MAX : cap * 2;
			uint8_t *np;

			if (len > MEM_7Z_MAX)
				goto too_large;
			if ((np = realloc(p, ncap + 1)) == NULL) {
				r = VIGIL_E_NOMEM;
				goto out;
			}
			p = np;
			cap = ncap;
		}
		/* Reading one byte past cap tells whether there is more than the limit. */
		do
			n = L->src->read(L->src, p + len, cap + 1 - len);
		while (n < 0 && errno == EINTR);
		if (n == 0)
			break;
		if (n < 0) {
			L->src_errno = errno;
			if (!src_failed_quietly(L))
				report_error(L, "reading the 7z member failed");
			r = 1;
			goto out;
		}
		len += (size_t)n;
	}
	if (len > MEM_7Z_MAX)
		goto too_large;
	L->mem = p;
	L->mem_len = len;
	L->consumed = len;
	return 0;
too_large:
	hit_limit(L, false, "7z member larger than 64 MiB cannot be opened without seeking");
	r = 1;
out:
	free(p);
	return r;
}

static int open_archive(struct level *L)
{
	int rc;

	if (L->kind == VIGIL_CONT_7Z && !L->fd_mode) {
		if ((rc = slurp(L)) != 0)
			return rc;
		rc = archive_read_open_memory(L->a, L->mem, L->mem_len);
	} else {
		archive_read_set_callback_data(L->a, L);
		archive_read_set_read_callback(L->a, read_cb);
		if (L->fd_mode)
			archive_read_set_seek_callback(L->a, seek_cb);
		rc = archive_read_open1(L->a);
	}
	if (rc < ARCHIVE_WARN) {
		archive_failed(L, ARCHIVE_FATAL);
		return 1;
	}
	return 0;
}

static int scan_level(vigil_container kind, const char *outer_name, vigil_reader *src,
		      const uint8_t *prefix, size_t prefix_len, vigil_archive_budget *budget,
		      const vigil_archive_callbacks *cb, bool uncharged);

/* Count a member against the shared budget; false (and stopped) past the limit. */
static bool take_entry(struct level *L)
{
	vigil_archive_budget *b = L->budget;

	if (b->entries_left == UINT64_MAX)
		return true;
	if (b->entries_left == 0) {
		limit_entries(L);
		return false;
	}
	b->entries_left--;
	return true;
}

/*
 * The content of a single-file compressor. A tar or cpio inside is opened here, in the
 * same level as far as the caller can tell, with this level's reader as its source: the
 * bytes are charged once, here, and the ratio is judged on the compressed input. Anything
 * else is one member named after the outer file.
 */
static int raw_entry(struct level *L)
{
	uint8_t head[512];
	size_t have = 0;
	vigil_reader r = {.read = member_read, .fd = -1, .size = -1, .ctx = L};
	vigil_container k;

	memset(&L->m, 0, sizeof(L->m));
	while (have < sizeof(head)) {
		ssize_t n = member_read(&r, head + have, sizeof(head) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (L->m.err || have == 0)
		return 0;
	k = vigil_archive_sniff(head, have);
	if (k == VIGIL_CONT_TAR || k == VIGIL_CONT_CPIO)
		return scan_level(k, L->raw_name, &r, head, have, L->budget, L->cb, true);
	if (!take_entry(L))
		return 0;
	L->m.replay = head;
	L->m.replay_len = have;
	return L->cb->on_member(L->cb->user, L->raw_name, &r);
}

/* Pass one header's entry on if it is a regular file with data. Returns on_member's
 * value (non-zero stops), 0 to go on. */
static int one_entry(struct level *L, struct archive_entry *e)
{
	vigil_archive_budget *b = L->budget;
	const char *name;
	int64_t size = -1;
	int rv;

	/* ar keeps no file type in its mode field (deterministic archives write 644). */
	if (archive_entry_filetype(e) != AE_IFREG && archive_entry_filetype(e) != 0)
		return 0;
	if (b->bytes_left == 0 && b->limit_hit) {
		/* Spent by another level, which reported it. */
		L->stop = true;
		return 0;
	}
	if ((archive_format(L->a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_RAW) {
		/* One entry only, and nothing to skip to after it. */
		int rv = raw_entry(L);
		L->stop = true;
		return rv;
	}
	if (!take_entry(L))
		return 0;
	if (archive_entry_is_encrypted(e)) {
		/* libarchive skips the data at the next header. */
		report_encrypted(L);
		return 0;
	}
	if (archive_entry_size_is_set(e)) {
		size = archive_entry_size(e);
		if (size <= 0)
			return 0;
	}
	name = archive_entry_pathname(e);
	if (name == NULL)
		name = archive_entry_pathname_utf8(e);
	if (name == NULL || *name == '\0')
		name = "?";

	memset(&L->m, 0, sizeof(L->m));
	vigil_reader r = {.read = member_read, .fd = -1, .size = size, .ctx = L};
	rv = L->cb->on_member(L->cb->user, name, &r);
	if (rv != 0 || L->stop)
		return rv;
	if (!L->m.eof && !L->m.err)
		skip_rest(L);
	return 0;
}

int vigil_archive_scan(vigil_container kind, const char *outer_name, vigil_reader *src,
		       const uint8_t *prefix, size_t prefix_len, vigil_archive_budget *budget,
		       const vigil_archive_callbacks *cb)
{
	return scan_level(kind, outer_name, src, prefix, prefix_len, budget, cb, false);
}

static int scan_level(vigil_container kind, const char *outer_name, vigil_reader *src,
		      const uint8_t *prefix, size_t prefix_len, vigil_archive_budget *budget,
		      const vigil_archive_callbacks *cb, bool uncharged)
{
	struct level *L = NULL, *saved = innermost;
	struct archive_entry *e;
	unsigned bad = 0;
	int r = 0, rc;

	if (src == NULL || budget == NULL || cb == NULL || cb->on_member == NULL ||
	    kind <= VIGIL_CONT_NONE || kind >= VIGIL_CONT_COUNT || (prefix_len && !prefix))
		return VIGIL_E_INVALID;
	if (budget->limit_hit && (budget->bytes_left == 0 || budget->entries_left == 0))
		return 0;
	if ((L = calloc(1, sizeof(*L))) == NULL)
		return VIGIL_E_NOMEM;
	L->kind = kind;
	L->src = src;
	L->prefix = prefix;
	L->prefix_len = prefix_len;
	L->budget = budget;
	L->cb = cb;
	L->uncharged = uncharged;
	L->outer = innermost && innermost->budget == budget ? innermost : NULL;
	L->max_bytes = L->outer ? L->outer->max_bytes : budget->bytes_left;
	L->max_entries = L->outer ? L->outer->max_entries : budget->entries_left;
	innermost = L;

	if ((L->buf = malloc(SRC_BUF_SIZE)) == NULL || (L->a = archive_read_new()) == NULL ||
	    (L->raw_name = raw_member_name(outer_name)) == NULL) {
		r = VIGIL_E_NOMEM;
		goto out;
	}
	if (!filter_is_builtin(kind)) {
		report_error(L, "libarchive was built without this decompressor");
		goto out;
	}
	if (setup_formats(L->a, kind) != ARCHIVE_OK) {
		report_error(L, archive_error_string(L->a));
		goto out;
	}
	/* The whole file is at hand: read it from its start, with seeks (the seekable zip
	 * reader uses the central directory; 7z needs it). */
	if (src->fd >= 0 && lseek(src->fd, 0, SEEK_SET) == 0)
		L->fd_mode = true;
	if ((rc = open_archive(L)) != 0) {
		r = rc < 0 ? rc : 0;
		goto out;
	}
	/* No decompressor took a stream sniffed as compressed: the raw format would hand
	 * it out unchanged, and the caller would sniff and open it again. */
	if (is_compressor(kind) && archive_filter_count(L->a) < 2) {
		report_error(L, "not a valid compressed stream");
		goto out;
	}

	while (!L->stop) {
		rc = archive_read_next_header(L->a, &e);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc == ARCHIVE_RETRY || rc == ARCHIVE_FAILED) {
			/* A damaged header that the format can step over. */
			archive_failed(L, rc);
			if (++bad > MAX_BAD_HEADERS) {
				report_error(L, "too many damaged headers");
				break;
			}
			continue;
		}
		if (rc < ARCHIVE_FAILED) {
			archive_failed(L, rc);
			break;
		}
		bad = 0;
		if ((r = one_entry(L, e)) != 0)
			break;
	}
	/* Some formats only know at the end that an entry was encrypted. */
	if (!L->stop && archive_read_has_encrypted_entries(L->a) > 0)
		report_encrypted(L);
out:
	innermost = saved;
	if (L->a)
		archive_read_free(L->a);
	free(L->buf);
	free(L->mem);
	free(L->raw_name);
	free(L);
	return r;
}
