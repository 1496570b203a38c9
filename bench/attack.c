/* SPDX-License-Identifier: Apache-2.0 */
/* vigil-attack: a wiper/ransomware simulator for the destruction-defense benchmark and tests,
 * confined to a sandbox tree it builds itself under a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

/* Exit codes (documented in usage): refusals are distinct so tests can tell them apart. */
#define EXIT_OK      0
#define EXIT_IO      1
#define EXIT_USAGE   2
#define EXIT_REFUSED 3

#define MARKER_NAME   ".vigil-attack-sandbox"
#define MANIFEST_NAME ".vigil-attack-manifest"
#define MARKER_MAGIC  "vigil-attack sandbox 1"
#define MAX_FILES     100000
/* Every generated file is far smaller; a bigger one in the manifest is not ours. */
#define MAX_FILE_SIZE (64u << 20)

static const char *prog = "vigil-attack";

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: vigil-attack prepare DIR [--files N] [--seed S]\n"
	    "       vigil-attack run STYLE DIR [--delay-ms N] [--fork-per-file] [--pidfile FILE]\n"
	    "       vigil-attack count DIR [--list]\n"
	    "\n"
	    "A destruction simulator for testing vigil watch. It only ever works on a tree that\n"
	    "'prepare' built: DIR (which must not exist) in a directory that resolves to /tmp,\n"
	    "/var/tmp or $TMPDIR or below, holding N files (default 200) of real types (text,\n"
	    "CSV, PDF, PNG, JPEG, DOCX, SQLite), a manifest of their sizes and SHA-256, and a\n"
	    "sandbox marker naming DIR. 'run' and 'count' refuse any other directory.\n"
	    "\n"
	    "STYLE: overwrite-random, overwrite-zero, encrypt-inplace (AES-256-CTR),\n"
	    "encrypt-rename (the same, then renamed to NAME.locked), encrypt-copy-delete\n"
	    "(AES-256-GCM copy NAME.enc, then the original unlinked), truncate, delete.\n"
	    "'run' prints its pid as the first line of standard output (and to --pidfile),\n"
	    "attacks every file of the manifest as fast as it can (or one per --delay-ms),\n"
	    "and ends with 'attacked K of M files'. --fork-per-file does each file in a new\n"
	    "child process (and says how many). The random encryption key is never shown.\n"
	    "'count' prints 'lost N of M': files missing or changed since 'prepare'.\n"
	    "\n"
	    "Exit status: 0 done, 1 I/O error, 2 bad usage, 3 refused target directory.\n");
}

static void msg(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		msg("out of memory");
		exit(EXIT_IO);
	}
	return q;
}

/* ---- the temporary-directory confinement ------------------------------------------ */

/* The canonical temporary roots: /tmp, /var/tmp and $TMPDIR, each resolved. A root that
 * resolves to "/" (TMPDIR=/, or a /tmp symlinked to /) would allow everything: dropped. */
static int temp_roots(char roots[3][PATH_MAX])
{
	const char *cand[3] = {"/tmp", "/var/tmp", getenv("TMPDIR")};
	int n = 0;
	for (int i = 0; i < 3; i++) {
		char r[PATH_MAX];
		struct stat st;
		if (!cand[i] || !*cand[i] || !realpath(cand[i], r))
			continue;
		if (strcmp(r, "/") == 0 || stat(r, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		memcpy(roots[n++], r, sizeof(r));
	}
	return n;
}

/* Whether the canonical path real is a temporary root (when allow_root) or strictly below
 * one. Component-wise: /tmpfoo is not below /tmp. */
static bool is_temp_path(const char *real, bool allow_root)
{
	char roots[3][PATH_MAX];
	int n = temp_roots(roots);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(roots[i]);
		if (strncmp(real, roots[i], len) != 0)
			continue;
		if (real[len] == '/' && real[len + 1] != '\0')
			return true;
		if (real[len] == '\0' && allow_root)
			return true;
	}
	return false;
}

/* A relative path of the manifest: no absolute path, no empty, "." or ".." component. */
static bool is_safe_rel(const char *rel)
{
	if (!*rel || *rel == '/')
		return false;
	for (const char *c = rel; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
		if (*c == '/')
			c++;
		if (!*c && c[-1] == '/')
			return false;
	}
	return true;
}

/* Opens the directory holding rel beneath dfd one component at a time with O_NOFOLLOW, so
 * a directory swapped for a symlink cannot lead outside the sandbox; *base points at the
 * last component inside rel. Returns the fd or -1 (errno set). */
static int open_parent(int dfd, const char *rel, const char **base)
{
	char comp[NAME_MAX + 1];
	const char *c = rel;
	int fd = dup(dfd);
	while (fd >= 0) {
		size_t n = strcspn(c, "/");
		if (c[n] == '\0') {
			*base = c;
			return fd;
		}
		if (n > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, c, n);
		comp[n] = '\0';
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int saved = errno;
		close(fd);
		errno = saved;
		fd = next;
		c += n + 1;
	}
	return -1;
}

/* Opens the sandbox DIR for run/count: its real path must be strictly below a temporary
 * root and its marker must name that very path and directory inode. Returns the directory
 * fd, or -1 after saying why (*refused tells a refusal from an I/O error). */
static int open_sandbox(const char *dir, char real[PATH_MAX], bool *refused)
{
	char want[PATH_MAX + 128], got[PATH_MAX + 128];
	struct stat st;
	int dfd = -1, mfd = -1;
	ssize_t n;

	*refused = true;
	if (!realpath(dir, real)) {
		msg("refusing %s: cannot resolve it (%s)", dir, strerror(errno));
		return -1;
	}
	if (!is_temp_path(real, false)) {
		msg("refusing %s (%s): not below /tmp, /var/tmp or $TMPDIR", dir, real);
		return -1;
	}
	dfd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) != 0) {
		msg("refusing %s: cannot open it (%s)", real, strerror(errno));
		goto fail;
	}
	mfd = openat(dfd, MARKER_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0) {
		msg("refusing %s: no sandbox marker %s (make one with 'vigil-attack prepare')",
		    real, MARKER_NAME);
		goto fail;
	}
	n = read(mfd, got, sizeof(got) - 1);
	close(mfd);
	got[n < 0 ? 0 : n] = '\0';
	snprintf(want, sizeof(want), MARKER_MAGIC "\npath %s\ndir %ju:%ju\n", real,
		 (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	if (strcmp(got, want) != 0) {
		msg("refusing %s: its sandbox marker was made for another directory", real);
		goto fail;
	}
	*refused = false;
	return dfd;
fail:
	if (dfd >= 0)
		close(dfd);
	return -1;
}

/* ---- the manifest ------------------------------------------------------------------ */

typedef struct entry {
	char *rel;
	uint64_t size;
	char sha[65];
} entry;

typedef struct manifest {
	entry *e;
	size_t n, cap;
} manifest;

static void manifest_free(manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].rel);
	free(m->e);
	m->e = NULL;
	m->n = m->cap = 0;
}

/* Lines "SHA256HEX SIZE RELPATH"; a line that is not exactly that fails the whole read. */
static int manifest_read(int dfd, manifest *m)
{
	char line[PATH_MAX + 128];
	int fd = openat(dfd, MANIFEST_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	int r = -1;

	memset(m, 0, sizeof(*m));
	if (!f) {
		if (fd >= 0)
			close(fd);
		msg("cannot read the manifest: %s", strerror(errno));
		return -1;
	}
	if (!fgets(line, sizeof(line), f) || strcmp(line, "# vigil-attack manifest 1\n") != 0)
		goto bad;
	while (fgets(line, sizeof(line), f)) {
		char sha[65], *end, *rel;
		size_t len = strlen(line);
		if (len == 0 || line[len - 1] != '\n' || m->n >= MAX_FILES)
			goto bad;
		line[len - 1] = '\0';
		if (len < 68 || line[64] != ' ' || strspn(line, "0123456789abcdef") != 64)
			goto bad;
		memcpy(sha, line, 64);
		sha[64] = '\0';
		errno = 0;
		unsigned long long size = strtoull(line + 65, &end, 10);
		if (errno || end == line + 65 || *end != ' ' || size > MAX_FILE_SIZE)
			goto bad;
		rel = end + 1;
		if (!is_safe_rel(rel) || strcmp(rel, MARKER_NAME) == 0 ||
		    strcmp(rel, MANIFEST_NAME) == 0)
			goto bad;
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 256;
			m->e = xrealloc(m->e, m->cap * sizeof(*m->e));
		}
		m->e[m->n].rel = strdup(rel);
		if (!m->e[m->n].rel)
			goto bad;
		m->e[m->n].size = size;
		memcpy(m->e[m->n].sha, sha, sizeof(sha));
		m->n++;
	}
	if (ferror(f))
		goto bad;
	r = 0;
	goto out;
bad:
	msg("the manifest is damaged (line %zu)", m->n + 2);
	errno = EINVAL;
	manifest_free(m);
out:
	fclose(f);
	return r;
}

/* The prepared tree at dir opened (real: its canonical path) and its manifest read into m.
 * Returns the directory's fd, or minus the exit status after saying why. */
static int open_tree(const char *dir, char real[PATH_MAX], manifest *m)
{
	bool refused = false;
	int dfd = open_sandbox(dir, real, &refused);

	if (dfd < 0)
		return refused ? -EXIT_REFUSED : -EXIT_IO;
	if (manifest_read(dfd, m) != 0) {
		close(dfd);
		return -EXIT_IO;
	}
	return dfd;
}

/* SHA-256 (hex) and size of rel beneath dfd without following symlinks; -1 with errno when
 * it cannot be read as a regular file. */
static int hash_file(int dfd, const char *rel, char hex[65], uint64_t *size)
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const char *base;
	struct stat st;
	int pfd = open_parent(dfd, rel, &base), fd = -1, r = -1;
	EVP_MD_CTX *ctx = NULL;
	ssize_t n;

	if (pfd < 0)
		return -1;
	fd = openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	*size = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	if (n < 0 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto out;
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	close(pfd);
	return r;
}

/* ---- content generators: small files with real formats and realistic entropy ------- */

typedef struct buf {
	unsigned char *p;
	size_t len, cap;
} buf;

static void buf_put(buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		while (b->len + n > b->cap)
			b->cap = b->cap ? 2 * b->cap : 4096;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void buf_printf(buf *b, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void put_u8(buf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	buf_put(b, &c, 1);
}

static void put_be16(buf *b, unsigned v)
{
	put_u8(b, v >> 8);
	put_u8(b, v);
}

static void put_be32(buf *b, uint32_t v)
{
	put_be16(b, v >> 16);
	put_be16(b, v & 0xffff);
}

static void put_le16(buf *b, unsigned v)
{
	put_u8(b, v);
	put_u8(b, v >> 8);
}

static void put_le32(buf *b, uint32_t v)
{
	put_le16(b, v & 0xffff);
	put_le16(b, v >> 16);
}

/* splitmix64: the same seed gives the same tree. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rnd_below(uint64_t *s, unsigned n)
{
	return (unsigned)(rnd(s) % n);
}

static void put_noise(buf *b, uint64_t *s, size_t n)
{
	while (n) {
		uint64_t v = rnd(s);
		size_t k = n < 8 ? n : 8;
		buf_put(b, &v, k);
		n -= k;
	}
}

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static const char *const words[] = {
    "the",      "quarterly", "report",   "shows",     "revenue",   "growth",   "in",
    "all",      "regions",   "customer", "contract",  "invoice",   "meeting",  "notes",
    "project",  "deadline",  "budget",   "approved",  "review",    "team",     "and",
    "of",       "a",         "for",      "with",      "pending",   "delivery", "schedule",
    "supplier", "payment",   "terms",    "agreement", "draft",     "final",    "version",
    "please",   "confirm",   "attached", "summary",   "analysis",  "market",   "risk",
    "is",       "to",        "on",       "by",        "we",        "our",      "next",
    "week",     "office",    "quarter",  "forecast",  "inventory", "shipping", "order",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static void gen_text(buf *b, uint64_t *s, size_t size)
{
	while (b->len < size) {
		unsigned n = 6 + rnd_below(s, 14);
		for (unsigned i = 0; i < n; i++) {
			const char *w = words[rnd_below(s, NWORDS)];
			if (i == 0)
				buf_printf(b, "%c%s", w[0] - 32, w + 1);
			else
				buf_printf(b, " %s", w);
		}
		buf_printf(b, rnd_below(s, 5) == 0 ? ".\n\n" : ". ");
	}
}

static void gen_csv(buf *b, uint64_t *s, size_t size)
{
	buf_printf(b, "id,date,customer,item,quantity,amount\n");
	for (unsigned id = 1; b->len < size; id++)
		buf_printf(b, "%u,2026-%02u-%02u,%s %s,%s,%u,%u.%02u\n", id, 1 + rnd_below(s, 12),
			   1 + rnd_below(s, 28), words[rnd_below(s, NWORDS)],
			   words[rnd_below(s, NWORDS)], words[rnd_below(s, NWORDS)],
			   1 + rnd_below(s, 50), rnd_below(s, 100000), rnd_below(s, 100));
}

/* A one-page PDF 1.4 with a text content stream and an uncompressed noisy grey image
 * XObject (compressed images make real PDFs high-entropy), with a correct xref table. */
static void gen_pdf(buf *b, uint64_t *s, size_t size)
{
	size_t off[8];
	buf text = {0};
	unsigned w = 64, h = (unsigned)(size / 2 / 64) + 1;

	buf_printf(&text, "BT /F1 11 Tf 72 760 Td 14 TL\n");
	for (int i = 0; i < 30 && text.len < size / 2; i++) {
		buf_printf(&text, "(");
		for (int k = 0; k < 10; k++)
			buf_printf(&text, "%s ", words[rnd_below(s, NWORDS)]);
		buf_printf(&text, ") Tj T*\n");
	}
	buf_printf(&text, "ET\nq 200 0 0 150 72 300 cm /Im1 Do Q\n");

	buf_printf(b, "%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n");
	off[1] = b->len;
	buf_printf(b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
	off[2] = b->len;
	buf_printf(b, "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
	off[3] = b->len;
	buf_printf(b, "3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
		      "/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> "
		      "/XObject << /Im1 6 0 R >> >> >>\nendobj\n");
	off[4] = b->len;
	buf_printf(b, "4 0 obj\n<< /Length %zu >>\nstream\n", text.len);
	buf_put(b, text.p, text.len);
	buf_printf(b, "\nendstream\nendobj\n");
	off[5] = b->len;
	buf_printf(b, "5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n");
	off[6] = b->len;
	buf_printf(b,
		   "6 0 obj\n<< /Type /XObject /Subtype /Image /Width %u /Height %u "
		   "/ColorSpace /DeviceGray /BitsPerComponent 8 /Length %u >>\nstream\n",
		   w, h, w * h);
	put_noise(b, s, (size_t)w * h);
	buf_printf(b, "\nendstream\nendobj\n");
	size_t xref = b->len;
	buf_printf(b, "xref\n0 7\n0000000000 65535 f \n");
	for (int i = 1; i <= 6; i++)
		buf_printf(b, "%010zu 00000 n \n", off[i]);
	buf_printf(b, "trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", xref);
	free(text.p);
}

static void png_chunk(buf *b, const char *type, const unsigned char *d, size_t n)
{
	buf c = {0};
	buf_put(&c, type, 4);
	if (n)
		buf_put(&c, d, n);
	put_be32(b, (uint32_t)n);
	buf_put(b, c.p, c.len);
	put_be32(b, crc32_of(c.p, c.len));
	free(c.p);
}

/* An RGB PNG whose IDAT is a valid zlib stream of stored (uncompressed) deflate blocks:
 * no zlib needed, decodable by any reader; noisy pixels give a photo's entropy. */
static void gen_png(buf *b, uint64_t *s, size_t size)
{
	unsigned w = 64, h = (unsigned)(size / (3 * 64 + 1)) + 1;
	buf raw = {0}, z = {0}, ihdr = {0};
	uint32_t a = 1, bb = 0;

	for (unsigned y = 0; y < h; y++) {
		put_u8(&raw, 0); /* filter type None */
		for (unsigned x = 0; x < w; x++) {
			unsigned n = rnd_below(s, 64);
			put_u8(&raw, (x * 4 + n) & 0xff);
			put_u8(&raw, (y * 2 + n) & 0xff);
			put_u8(&raw, (x + y + rnd_below(s, 256)) & 0xff);
		}
	}
	put_u8(&z, 0x78);
	put_u8(&z, 0x01);
	for (size_t pos = 0; pos < raw.len || pos == 0;) {
		size_t n = raw.len - pos > 65535 ? 65535 : raw.len - pos;
		put_u8(&z, pos + n == raw.len ? 1 : 0); /* BFINAL, BTYPE 00 */
		put_le16(&z, (unsigned)n);
		put_le16(&z, (unsigned)(~n & 0xffff));
		buf_put(&z, raw.p + pos, n);
		pos += n;
		if (n == 0)
			break;
	}
	for (size_t i = 0; i < raw.len; i++) {
		a = (a + raw.p[i]) % 65521;
		bb = (bb + a) % 65521;
	}
	put_be32(&z, (bb << 16) | a);

	buf_put(b, "\x89PNG\r\n\x1a\n", 8);
	put_be32(&ihdr, w);
	put_be32(&ihdr, h);
	buf_put(&ihdr, "\x08\x02\x00\x00\x00", 5); /* 8-bit RGB, deflate, no interlace */
	png_chunk(b, "IHDR", ihdr.p, ihdr.len);
	png_chunk(b, "IDAT", z.p, z.len);
	png_chunk(b, "IEND", NULL, 0);
	free(raw.p);
	free(z.p);
	free(ihdr.p);
}

/* A baseline JFIF JPEG: an 8x8-block grey image whose blocks are DC-only (one-code Huffman
 * tables), preceded by APP11 segments of high-entropy payload standing for the
 * entropy-coded data of a photo (decoders skip unknown APPn segments). */
static void gen_jpeg(buf *b, uint64_t *s, size_t size)
{
	unsigned blocks = 16;
	buf_put(b, "\xff\xd8", 2);
	buf_put(b, "\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 18);
	while (b->len + 200 < size) {
		size_t n = size - b->len - 200;
		if (n > 60000)
			n = 60000;
		buf_put(b, "\xff\xeb", 2);
		put_be16(b, (unsigned)n + 2);
		put_noise(b, s, n);
	}
	/* DQT: table 0, all ones. */
	buf_put(b, "\xff\xdb\x00\x43\x00", 5);
	for (int i = 0; i < 64; i++)
		put_u8(b, 1);
	/* SOF0: 8-bit, 8 x (8*blocks), one component, 1x1 sampling, table 0. */
	buf_put(b, "\xff\xc0\x00\x0b\x08\x00\x08", 7);
	put_be16(b, 8 * blocks);
	buf_put(b, "\x01\x01\x11\x00", 4);
	/* DHT DC0 and AC0: one code of length 1 each, symbol 0 (DC diff 0; AC EOB). */
	buf_put(b, "\xff\xc4\x00\x14\x00\x01", 6);
	for (int i = 0; i < 15; i++)
		put_u8(b, 0);
	put_u8(b, 0);
	buf_put(b, "\xff\xc4\x00\x14\x10\x01", 6);
	for (int i = 0; i < 15; i++)
		put_u8(b, 0);
	put_u8(b, 0);
	/* SOS, then 2 zero bits per block, padded with ones. */
	buf_put(b, "\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00", 10);
	unsigned bits = 2 * blocks;
	for (unsigned i = 0; i < bits / 8; i++)
		put_u8(b, 0x00);
	if (bits % 8)
		put_u8(b, 0xff >> (bits % 8));
	buf_put(b, "\xff\xd9", 2);
}

typedef struct zip_member {
	const char *name;
	uint32_t crc, size, off;
} zip_member;

/* A minimal Office Open XML document (stored zip members: valid for any zip reader). */
static void gen_docx(buf *b, uint64_t *s, size_t size)
{
	buf doc = {0}, img = {0};
	static const char ctypes[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
	    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
	    "<Default Extension=\"rels\" "
	    "ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
	    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
	    "<Default Extension=\"png\" ContentType=\"image/png\"/>"
	    "<Override PartName=\"/word/document.xml\" ContentType=\"application/"
	    "vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>"
	    "</Types>";
	static const char rels[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
	    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/"
	    "relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/"
	    "officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>"
	    "</Relationships>";

	buf_printf(&doc, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
			 "<w:document xmlns:w=\"http://schemas.openxmlformats.org/"
			 "wordprocessingml/2006/main\"><w:body>");
	while (doc.len < size / 2) {
		buf_printf(&doc, "<w:p><w:r><w:t>");
		gen_text(&doc, s, doc.len + 200);
		buf_printf(&doc, "</w:t></w:r></w:p>");
	}
	buf_printf(&doc, "</w:body></w:document>");
	gen_png(&img, s, size / 2);

	zip_member m[4] = {{"[Content_Types].xml", 0, 0, 0},
			   {"_rels/.rels", 0, 0, 0},
			   {"word/document.xml", 0, 0, 0},
			   {"word/media/image1.png", 0, 0, 0}};
	const unsigned char *data[4] = {(const unsigned char *)ctypes, (const unsigned char *)rels,
					doc.p, img.p};
	size_t len[4] = {sizeof(ctypes) - 1, sizeof(rels) - 1, doc.len, img.len};
	for (int i = 0; i < 4; i++) {
		m[i].crc = crc32_of(data[i], len[i]);
		m[i].size = (uint32_t)len[i];
		m[i].off = (uint32_t)b->len;
		put_le32(b, 0x04034b50);
		put_le16(b, 10); /* version needed: 1.0, stored */
		put_le16(b, 0);  /* flags */
		put_le16(b, 0);  /* method: stored */
		put_le16(b, 0x6000);
		put_le16(b, 0x5b7c); /* 2025-11-28 12:00 */
		put_le32(b, m[i].crc);
		put_le32(b, m[i].size);
		put_le32(b, m[i].size);
		put_le16(b, (unsigned)strlen(m[i].name));
		put_le16(b, 0);
		buf_put(b, m[i].name, strlen(m[i].name));
		buf_put(b, data[i], len[i]);
	}
	size_t cd = b->len;
	for (int i = 0; i < 4; i++) {
		put_le32(b, 0x02014b50);
		put_le16(b, 20);
		put_le16(b, 10);
		put_le16(b, 0);
		put_le16(b, 0);
		put_le16(b, 0x6000);
		put_le16(b, 0x5b7c);
		put_le32(b, m[i].crc);
		put_le32(b, m[i].size);
		put_le32(b, m[i].size);
		put_le16(b, (unsigned)strlen(m[i].name));
		put_le16(b, 0);
		put_le16(b, 0);
		put_le16(b, 0);
		put_le16(b, 0);
		put_le32(b, 0);
		put_le32(b, m[i].off);
		buf_put(b, m[i].name, strlen(m[i].name));
	}
	size_t cdlen = b->len - cd;
	put_le32(b, 0x06054b50);
	put_le16(b, 0);
	put_le16(b, 0);
	put_le16(b, 4);
	put_le16(b, 4);
	put_le32(b, (uint32_t)cdlen);
	put_le32(b, (uint32_t)cd);
	put_le16(b, 0);
	free(doc.p);
	free(img.p);
}

/* A SQLite database made by SQLite itself, at the real path of DIR/rel. */
static int gen_sqlite(const char *path, uint64_t *s, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int r = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
		SQLITE_OK ||
	    sqlite3_exec(db,
			 "PRAGMA journal_mode=OFF; CREATE TABLE orders(id INTEGER PRIMARY KEY, "
			 "customer TEXT, item TEXT, amount REAL, note TEXT); BEGIN;",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO orders(customer, item, amount, note) "
			       "VALUES (?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	for (size_t n = 0; n < size / 80; n++) {
		char note[64];
		snprintf(note, sizeof(note), "%s %s %s", words[rnd_below(s, NWORDS)],
			 words[rnd_below(s, NWORDS)], words[rnd_below(s, NWORDS)]);
		sqlite3_bind_text(st, 1, words[rnd_below(s, NWORDS)], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, words[rnd_below(s, NWORDS)], -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 3, rnd_below(s, 1000000) / 100.0);
		sqlite3_bind_text(st, 4, note, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_reset(st);
	}
	if (sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	r = 0;
out:
	if (r != 0)
		msg("sqlite: %s: %s", path, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

/* ---- prepare ----------------------------------------------------------------------- */

static const char *const subdirs[] = {"Documents", "Documents/Projects", "Pictures", "Data",
				      "Archive/2025"};

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmd_prepare(int argc, char **argv)
{
	const char *dir = NULL;
	unsigned long files = 200, seed = 1;
	char parent[PATH_MAX], real[PATH_MAX], path[PATH_MAX], *slash, *end;
	char tmp[PATH_MAX];
	struct stat st;
	buf mf = {0};
	int dfd = -1, r = EXIT_IO;

	for (int i = 0; i < argc; i++) {
		if ((strcmp(argv[i], "--files") == 0 || strcmp(argv[i], "--seed") == 0) &&
		    i + 1 < argc) {
			errno = 0;
			unsigned long v = strtoul(argv[i + 1], &end, 10);
			if (errno || *end || end == argv[i + 1] || argv[i + 1][0] == '-') {
				msg("%s: not a number: %s", argv[i], argv[i + 1]);
				return EXIT_USAGE;
			}
			*(argv[i][2] == 'f' ? &files : &seed) = v;
			i++;
		} else if (argv[i][0] != '-' && !dir) {
			dir = argv[i];
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!dir || files < 1 || files > MAX_FILES) {
		if (dir)
			msg("--files must be 1 to %d", MAX_FILES);
		else
			usage(stderr);
		return EXIT_USAGE;
	}
	/* DIR = realpath(dirname) + "/" + basename; the parent must be a temp root or below. */
	snprintf(tmp, sizeof(tmp), "%s", dir);
	while (strlen(tmp) > 1 && tmp[strlen(tmp) - 1] == '/')
		tmp[strlen(tmp) - 1] = '\0';
	slash = strrchr(tmp, '/');
	const char *name = slash ? slash + 1 : tmp;
	if (slash == tmp)
		snprintf(path, sizeof(path), "/");
	else if (slash)
		snprintf(path, sizeof(path), "%.*s", (int)(slash - tmp), tmp);
	else
		snprintf(path, sizeof(path), ".");
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		msg("refusing %s: name a new directory", dir);
		return EXIT_REFUSED;
	}
	if (!realpath(path, parent)) {
		msg("refusing %s: cannot resolve %s (%s)", dir, path, strerror(errno));
		return EXIT_REFUSED;
	}
	if (!is_temp_path(parent, true)) {
		msg("refusing %s: %s is not /tmp, /var/tmp or $TMPDIR or below", dir, parent);
		return EXIT_REFUSED;
	}
	if (snprintf(real, sizeof(real), "%s/%s", strcmp(parent, "/") ? parent : "", name) >=
	    (int)sizeof(real)) {
		msg("refusing %s: path too long", dir);
		return EXIT_REFUSED;
	}
	if (lstat(real, &st) == 0 || errno != ENOENT) {
		msg("refusing %s: it exists already (prepare makes a new directory)", real);
		return EXIT_REFUSED;
	}
	if (mkdir(real, 0700) != 0) {
		msg("cannot create %s: %s", real, strerror(errno));
		return EXIT_IO;
	}
	dfd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) != 0)
		goto io;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char d[64];
		snprintf(d, sizeof(d), "%s", subdirs[i]);
		for (char *c = d; (c = strchr(c, '/')); c++) {
			*c = '\0';
			if (mkdirat(dfd, d, 0755) != 0 && errno != EEXIST)
				goto io;
			*c = '/';
		}
		if (mkdirat(dfd, d, 0755) != 0 && errno != EEXIST)
			goto io;
	}

	crc_init();
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 12345;
	buf_printf(&mf, "# vigil-attack manifest 1\n");
	for (unsigned long i = 0; i < files; i++) {
		/* Types weighted roughly as in an office user's home directory. */
		static const struct {
			const char *ext, *dir, *stem;
		} kinds[] = {
		    {"txt", "Documents", "notes"},
		    {"txt", "Documents/Projects", "minutes"},
		    {"csv", "Data", "orders"},
		    {"pdf", "Documents", "report"},
		    {"pdf", "Archive/2025", "invoice"},
		    {"png", "Pictures", "screenshot"},
		    {"jpg", "Pictures", "photo"},
		    {"jpg", "Pictures", "IMG"},
		    {"docx", "Documents/Projects", "proposal"},
		    {"docx", "Archive/2025", "contract"},
		    {"sqlite", "Data", "ledger"},
		};
		unsigned k = rnd_below(&s, sizeof(kinds) / sizeof(kinds[0]));
		size_t size = 2048 + rnd_below(&s, 60 * 1024);
		char rel[256];
		buf b = {0};
		int fd;

		snprintf(rel, sizeof(rel), "%s/%s-%04lu.%s", kinds[k].dir, kinds[k].stem, i,
			 kinds[k].ext);
		if (strcmp(kinds[k].ext, "sqlite") == 0) {
			if (snprintf(path, sizeof(path), "%s/%s", real, rel) >= (int)sizeof(path)) {
				errno = ENAMETOOLONG;
				goto io;
			}
			if (gen_sqlite(path, &s, size) != 0)
				goto fail;
		} else {
			if (strcmp(kinds[k].ext, "txt") == 0)
				gen_text(&b, &s, size);
			else if (strcmp(kinds[k].ext, "csv") == 0)
				gen_csv(&b, &s, size);
			else if (strcmp(kinds[k].ext, "pdf") == 0)
				gen_pdf(&b, &s, size);
			else if (strcmp(kinds[k].ext, "png") == 0)
				gen_png(&b, &s, size);
			else if (strcmp(kinds[k].ext, "jpg") == 0)
				gen_jpeg(&b, &s, size);
			else
				gen_docx(&b, &s, size);
			fd = openat(dfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				    0644);
			if (fd < 0 || write_all(fd, b.p, b.len) != 0 || close(fd) != 0) {
				free(b.p);
				goto io;
			}
			free(b.p);
		}
		char hex[65];
		uint64_t got;
		if (hash_file(dfd, rel, hex, &got) != 0)
			goto io;
		buf_printf(&mf, "%s %" PRIu64 " %s\n", hex, got, rel);
	}
	int fd =
	    openat(dfd, MANIFEST_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, mf.p, mf.len) != 0 || close(fd) != 0)
		goto io;
	/* The marker last: a tree without it (a prepare that failed half-way) is refused. */
	char marker[PATH_MAX + 128];
	int n = snprintf(marker, sizeof(marker), MARKER_MAGIC "\npath %s\ndir %ju:%ju\n", real,
			 (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	fd = openat(dfd, MARKER_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0 || write_all(fd, (unsigned char *)marker, (size_t)n) != 0 || close(fd) != 0)
		goto io;
	printf("prepared %lu files in %s\n", files, real);
	r = EXIT_OK;
	goto out;
io:
	msg("%s: %s", real, strerror(errno));
fail:
	r = EXIT_IO;
out:
	free(mf.p);
	if (dfd >= 0)
		close(dfd);
	return r;
}

/* ---- run ---------------------------------------------------------------------------- */

typedef enum style {
	OVERWRITE_RANDOM,
	OVERWRITE_ZERO,
	ENCRYPT_INPLACE,
	ENCRYPT_RENAME,
	ENCRYPT_COPY_DELETE,
	TRUNCATE,
	DELETE,
} style;

static const char *const style_names[] = {
    "overwrite-random",    "overwrite-zero", "encrypt-inplace", "encrypt-rename",
    "encrypt-copy-delete", "truncate",       "delete"};

static int read_all(int fd, buf *b, size_t size)
{
	b->len = 0;
	if (size) {
		b->p = xrealloc(b->p, size);
		b->cap = size;
	}
	while (b->len < size) {
		ssize_t n = pread(fd, b->p + b->len, size - b->len, (off_t)b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b->len += (size_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, const unsigned char *p, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* AES-256 over in[0..n) into out: CTR (same length) or GCM (tag appended, 16 bytes more). */
static int encrypt(const unsigned char key[32], const unsigned char *iv, bool gcm,
		   const unsigned char *in, size_t n, unsigned char *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0, r = -1;

	if (!c)
		return -1;
	if (gcm) {
		if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
		    EVP_EncryptInit_ex(c, NULL, NULL, key, iv) != 1)
			goto out;
	} else if (EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, key, iv) != 1) {
		goto out;
	}
	if (n > INT_MAX || (n && EVP_EncryptUpdate(c, out, &len, in, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(c, out + len, &fin) != 1)
		goto out;
	if (gcm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + n) != 1)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return r;
}

/* Damages one file of the manifest. Returns 0 done, 1 skipped (not a lone regular file:
 * never reach through a hard link or symlink), -1 failed (errno). */
static int attack_one(style how, int dfd, const char *rel, const unsigned char key[32])
{
	const char *base;
	char newname[NAME_MAX + 1];
	unsigned char iv[16];
	buf in = {0}, out = {0};
	struct stat st;
	int pfd = open_parent(dfd, rel, &base), fd = -1, nfd = -1, r = -1;

	if (pfd < 0)
		return -1;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0)
		goto out;
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (uint64_t)st.st_size > MAX_FILE_SIZE) {
		r = 1;
		goto out;
	}
	switch (how) {
	case DELETE:
		if (unlinkat(pfd, base, 0) != 0)
			goto out;
		break;
	case TRUNCATE:
		fd = openat(pfd, base, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			goto out;
		break;
	case OVERWRITE_RANDOM:
	case OVERWRITE_ZERO:
		fd = openat(pfd, base, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0)
			goto out;
		out.len = (size_t)st.st_size;
		out.p = calloc(1, out.len ? out.len : 1);
		if (!out.p)
			goto out;
		if (how == OVERWRITE_RANDOM && out.len && RAND_bytes(out.p, (int)out.len) != 1)
			goto out;
		if (pwrite_all(fd, out.p, out.len, 0) != 0)
			goto out;
		break;
	case ENCRYPT_INPLACE:
	case ENCRYPT_RENAME:
		/* Ransomware's usual shape: read, encrypt, write back over the same bytes, then
		 * append the nonce (a footer the decryptor would need). */
		fd = openat(pfd, base, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0 || read_all(fd, &in, (size_t)st.st_size) != 0)
			goto out;
		out.p = xrealloc(NULL, in.len + 16);
		if (RAND_bytes(iv, sizeof(iv)) != 1 || encrypt(key, iv, false, in.p, in.len, out.p))
			goto out;
		memcpy(out.p + in.len, iv, sizeof(iv));
		if (pwrite_all(fd, out.p, in.len + sizeof(iv), 0) != 0)
			goto out;
		if (how == ENCRYPT_RENAME) {
			snprintf(newname, sizeof(newname), "%s.locked", base);
			if (renameat(pfd, base, pfd, newname) != 0)
				goto out;
		}
		break;
	case ENCRYPT_COPY_DELETE:
		fd = openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0 || read_all(fd, &in, (size_t)st.st_size) != 0)
			goto out;
		out.p = xrealloc(NULL, 12 + in.len + 16);
		if (RAND_bytes(out.p, 12) != 1 ||
		    encrypt(key, out.p, true, in.p, in.len, out.p + 12))
			goto out;
		snprintf(newname, sizeof(newname), "%s.enc", base);
		nfd = openat(pfd, newname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			     0600);
		if (nfd < 0 || write_all(nfd, out.p, 12 + in.len + 16) != 0)
			goto out;
		if (close(nfd) != 0) {
			nfd = -1;
			goto out;
		}
		nfd = -1;
		if (unlinkat(pfd, base, 0) != 0)
			goto out;
		break;
	}
	r = 0;
out:;
	int saved = errno;
	if (in.p) {
		explicit_bzero(in.p, in.len);
		free(in.p);
	}
	free(out.p);
	if (fd >= 0 && close(fd) != 0 && r == 0)
		r = -1;
	if (nfd >= 0)
		close(nfd);
	close(pfd);
	errno = saved;
	return r;
}

static int cmd_run(int argc, char **argv)
{
	const char *dir = NULL, *stylename = NULL, *pidfile = NULL;
	unsigned long delay_ms = 0;
	bool fork_per_file = false;
	char real[PATH_MAX], *end;
	unsigned char key[32];
	manifest m;
	int dfd, nstyle = -1;
	size_t done = 0, failed = 0, skipped = 0, children = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) {
			errno = 0;
			delay_ms = strtoul(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || argv[i][0] == '-' ||
			    delay_ms > 3600000) {
				msg("--delay-ms: not a number of milliseconds: %s", argv[i]);
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc) {
			pidfile = argv[++i];
		} else if (strcmp(argv[i], "--fork-per-file") == 0) {
			fork_per_file = true;
		} else if (argv[i][0] != '-' && !stylename) {
			stylename = argv[i];
		} else if (argv[i][0] != '-' && !dir) {
			dir = argv[i];
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!dir) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(style_names) / sizeof(style_names[0]); i++)
		if (strcmp(stylename, style_names[i]) == 0)
			nstyle = (int)i;
	if (nstyle < 0) {
		msg("unknown style '%s'", stylename);
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((dfd = open_tree(dir, real, &m)) < 0)
		return -dfd;
	/* The pid first, so a bench can find (and stop or kill) us while we work. */
	printf("%ld\n", (long)getpid());
	fflush(stdout);
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
			msg("%s: %s", pidfile, strerror(errno));
			manifest_free(&m);
			close(dfd);
			return EXIT_IO;
		}
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		msg("no random key");
		manifest_free(&m);
		close(dfd);
		return EXIT_IO;
	}
	for (size_t i = 0; i < m.n; i++) {
		int r;
		if (fork_per_file) {
			fflush(NULL);
			pid_t pid = fork();
			if (pid < 0) {
				r = -1;
			} else if (pid == 0) {
				r = attack_one((style)nstyle, dfd, m.e[i].rel, key);
				explicit_bzero(key, sizeof(key));
				_exit(r == 0 ? 0 : r == 1 ? 10 : 11);
			} else {
				int status;
				children++;
				while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
					;
				r = WIFEXITED(status) && WEXITSTATUS(status) == 0    ? 0
				    : WIFEXITED(status) && WEXITSTATUS(status) == 10 ? 1
										     : -1;
			}
		} else {
			r = attack_one((style)nstyle, dfd, m.e[i].rel, key);
		}
		if (r == 0)
			done++;
		else if (r == 1)
			skipped++;
		else {
			failed++;
			if (!fork_per_file)
				msg("%s: %s", m.e[i].rel, strerror(errno));
		}
		if (delay_ms && i + 1 < m.n) {
			struct timespec ts = {(time_t)(delay_ms / 1000),
					      (long)(delay_ms % 1000) * 1000000L};
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
	}
	explicit_bzero(key, sizeof(key));
	printf("attacked %zu of %zu files (%zu failed, %zu skipped)", done, m.n, failed, skipped);
	if (fork_per_file)
		printf(" in %zu child processes", children);
	printf("\n");
	manifest_free(&m);
	close(dfd);
	return EXIT_OK;
}

/* ---- count -------------------------------------------------------------------------- */

static int cmd_count(int argc, char **argv)
{
	const char *dir = NULL;
	bool list = false;
	char real[PATH_MAX];
	manifest m;
	size_t lost = 0;
	int dfd;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--list") == 0)
			list = true;
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!dir) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((dfd = open_tree(dir, real, &m)) < 0)
		return -dfd;
	for (size_t i = 0; i < m.n; i++) {
		char hex[65];
		uint64_t size = 0;
		const char *why = NULL;
		if (hash_file(dfd, m.e[i].rel, hex, &size) != 0)
			why = errno == ENOENT ? "missing" : "unreadable";
		else if (size != m.e[i].size)
			why = "size changed";
		else if (strcmp(hex, m.e[i].sha) != 0)
			why = "content changed";
		if (why) {
			lost++;
			if (list)
				printf("%s: %s\n", m.e[i].rel, why);
		}
	}
	printf("lost %zu of %zu\n", lost, m.n);
	manifest_free(&m);
	close(dfd);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "prepare") == 0)
		return cmd_prepare(argc - 2, argv + 2);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(argv[1], "count") == 0)
		return cmd_count(argc - 2, argv + 2);
	msg("unknown command '%s'", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
