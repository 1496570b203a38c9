/* SPDX-License-Identifier: Apache-2.0 */
/* dpkg's database (status, diversions, info/PKG.md5sums and PKG.list) parsed as untrusted bytes,
 * and every package file hashed against it by worker threads. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dpkg_int.h"
#include "input.h"
#include "vigil/vigil.h"

#define MAX_STATUS     (256u << 20)
#define MAX_MD5SUMS    (64u << 20)
#define MAX_DIVERSIONS (16u << 20)
#define MAX_LIST       (64u << 20)
#define MAX_PATH_LEN   (PATH_MAX - 1) /* bytes of an absolute path, without the NUL */
#define MAX_NAME_LEN   255            /* NAME_MAX */
#define MAX_PKG_LEN    256
#define MAX_ARCH_LEN   64
#define MAX_JOBS       64
#define HASH_BUF       (256u << 10)
#define CHUNK_SIZE     (1u << 20)
#define BATCH          16 /* entries a worker claims at once: few atomics, fair split */

/* ---- small storage helpers ---- */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
};

/* Bump allocator for the many small strings: one free for all. */
typedef struct arena {
	struct chunk *head;
} arena;

static char *arena_alloc(arena *a, size_t n)
{
	struct chunk *c = a->head;

	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;

		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

/* A NUL-terminated copy of prefix (may be NULL) followed by len bytes of s. */
static char *arena_str(arena *a, const char *prefix, const char *s, size_t len)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	char *p = arena_alloc(a, plen + len + 1);

	if (p == NULL)
		return NULL;
	if (plen)
		memcpy(p, prefix, plen);
	memcpy(p + plen, s, len);
	p[plen + len] = '\0';
	return p;
}

static void arena_free(arena *a)
{
	while (a->head) {
		struct chunk *c = a->head;

		a->head = c->next;
		free(c);
	}
}

/* Makes room for one more element in a growable array. */
static int reserve(void **p, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *q;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	if (ncap > SIZE_MAX / size)
		return VIGIL_E_NOMEM;
	if ((q = realloc(*p, ncap * size)) == NULL)
		return VIGIL_E_NOMEM;
	*p = q;
	*cap = ncap;
	return 0;
}

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* ---- the db ---- */

struct diversion {
	const char *from, *to, *pkg; /* pkg ":" for a local diversion */
};

struct owned {
	const char *path, *pkg;
};

/* One Conffiles line of the paragraph being read, pointing into the input. */
struct pending_conf {
	const char *path;
	size_t len;
	uint8_t md5[VIGIL_DPKG_MD5_LEN];
	bool skip; /* no hash, obsolete or remove-on-upgrade */
};

struct vigil_dpkg_db {
	arena a;
	vigil_dpkg_entry *e;
	size_t ne, cap_e;
	struct diversion *div;
	size_t ndiv, cap_div;
	const char **installed; /* "name" and "name:arch" of each installed package */
	size_t ninst, cap_inst;
	bool inst_sorted;
	struct owned *own;
	size_t nown, cap_own;
	struct pending_conf *conf;
	size_t nconf, cap_conf;
	uint64_t malformed, skipped_files;
	void (*on_warning)(void *user, const char *file, uint64_t line, const char *why);
	void *user;
};

int vigil_dpkg_db_new(void (*on_warning)(void *user, const char *file, uint64_t line,
					 const char *why),
		      void *user, vigil_dpkg_db **out)
{
	vigil_dpkg_db *db;

	*out = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return VIGIL_E_NOMEM;
	db->on_warning = on_warning;
	db->user = user;
	*out = db;
	return 0;
}

void vigil_dpkg_db_free(vigil_dpkg_db *db)
{
	if (db == NULL)
		return;
	arena_free(&db->a);
	free(db->e);
	free(db->div);
	free(db->installed);
	free(db->own);
	free(db->conf);
	free(db);
}

const vigil_dpkg_entry *vigil_dpkg_db_entries(const vigil_dpkg_db *db, size_t *n)
{
	*n = db->ne;
	return db->e;
}

void vigil_dpkg_db_counts(const vigil_dpkg_db *db, vigil_pkg_stats *s)
{
	s->malformed += db->malformed;
	s->skipped_files += db->skipped_files;
}

static void warn(vigil_dpkg_db *db, const char *file, uint64_t line, const char *why)
{
	if (db->on_warning)
		db->on_warning(db->user, file, line, why);
}

static void malformed(vigil_dpkg_db *db, const char *file, uint64_t line, const char *why)
{
	db->malformed++;
	warn(db, file, line, why);
}

/* ---- validation of untrusted fields ---- */

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 32 hex digits (either case) into 16 bytes. */
static bool parse_md5(const char *s, size_t len, uint8_t out[VIGIL_DPKG_MD5_LEN])
{
	if (len != 2 * VIGIL_DPKG_MD5_LEN)
		return false;
	for (size_t i = 0; i < VIGIL_DPKG_MD5_LEN; i++) {
		int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/*
 * Checks a path from an admin file. absolute: it must start with '/' (status, diversions,
 * .list), else it must not (md5sums). Components are joined under the root, so an empty,
 * "." or ".." one (a way out of the root, or an alias of another entry) is refused, as is
 * a NUL (the path is used as a C string). Returns NULL or why it is malformed.
 */
static const char *check_path(const char *p, size_t len, bool absolute)
{
	size_t i = 0;

	if (len == 0)
		return "empty path";
	if (absolute && p[0] != '/')
		return "relative path where an absolute one is required";
	if (!absolute && p[0] == '/')
		return "absolute path in md5sums";
	if (memchr(p, '\0', len))
		return "NUL byte in path";
	if (len + !absolute > MAX_PATH_LEN)
		return "path too long";
	if (absolute)
		i = 1;
	if (i == len)
		return "path is the root directory";
	while (i <= len) {
		const char *end = memchr(p + i, '/', len - i);
		size_t n = (end ? (size_t)(end - p) : len) - i;

		if (n == 0)
			return "empty path component";
		if ((n == 1 && p[i] == '.') || (n == 2 && p[i] == '.' && p[i + 1] == '.'))
			return "'.' or '..' path component";
		if (n > MAX_NAME_LEN)
			return "path component too long";
		i += n + 1;
	}
	return NULL;
}

/* dpkg's rule for package names (pkg_name_is_illegal): an alphanumeric first, then
 * alphanumerics and "-+._". */
static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len > MAX_PKG_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || strchr("-+._", c) == NULL || c == '\0'))
			return false;
	}
	return true;
}

/* dpkg architecture names: lower-case alphanumerics and '-'. */
static bool valid_arch(const char *s, size_t len)
{
	if (len == 0 || len > MAX_ARCH_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* "name" or "name:arch". */
static bool valid_package(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);

	if (colon == NULL)
		return valid_name(s, len);
	return valid_name(s, (size_t)(colon - s)) &&
	       valid_arch(colon + 1, len - (size_t)(colon - s) - 1);
}

/* Iterates over the lines of buf: sets *line and *n to the next one (without '\n') and
 * returns true, or false at the end. A final line without '\n' counts; nothing after a
 * final '\n' does. */
static bool next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *n)
{
	const char *nl;

	if (*pos >= len)
		return false;
	*line = buf + *pos;
	nl = memchr(*line, '\n', len - *pos);
	*n = nl ? (size_t)(nl - *line) : len - *pos;
	*pos += *n + (nl != NULL);
	return true;
}

static int add_entry(vigil_dpkg_db *db, const char *package, const char *path, size_t len,
		     const char *prefix, const uint8_t md5[VIGIL_DPKG_MD5_LEN], bool conffile)
{
	vigil_dpkg_entry *e;
	int r;

	if (db->ne >= VIGIL_DPKG_MAX_ENTRIES)
		return VIGIL_E_LIMIT;
	if ((r = reserve((void **)&db->e, &db->cap_e, db->ne, sizeof(*db->e))) != 0)
		return r;
	e = &db->e[db->ne];
	memset(e, 0, sizeof(*e));
	e->package = package;
	if ((e->path = arena_str(&db->a, prefix, path, len)) == NULL)
		return VIGIL_E_NOMEM;
	memcpy(e->md5, md5, VIGIL_DPKG_MD5_LEN);
	e->conffile = conffile;
	db->ne++;
	return 0;
}

/* ---- md5sums ---- */

static const char *check_md5_line(const char *s, size_t n, uint8_t md5[VIGIL_DPKG_MD5_LEN])
{
	const size_t hex = 2 * VIGIL_DPKG_MD5_LEN;

	if (n == 0)
		return "empty line";
	if (n < hex + 3)
		return "line too short for a digest, a separator and a path";
	if (!parse_md5(s, hex, md5))
		return "digest is not 32 hex digits";
	/* md5sum(1) writes "  " (text mode) or " *" (binary mode) after the digest. */
	if (s[hex] != ' ' || (s[hex + 1] != ' ' && s[hex + 1] != '*'))
		return "no separator after the digest";
	return check_path(s + hex + 2, n - hex - 2, false);
}

int vigil_dpkg_parse_md5sums(vigil_dpkg_db *db, const char *file, const char *package,
			     const char *buf, size_t len)
{
	const char *pkg = NULL, *line;
	size_t pos = 0, n;
	uint64_t lineno = 0;
	int r;

	if (!valid_package(package, strlen(package))) {
		malformed(db, file, 0, "file name is not a package name");
		return 0;
	}
	while (next_line(buf, len, &pos, &line, &n)) {
		uint8_t md5[VIGIL_DPKG_MD5_LEN];
		const char *why;
		const size_t skip = 2 * VIGIL_DPKG_MD5_LEN + 2;

		lineno++;
		if ((why = check_md5_line(line, n, md5)) != NULL) {
			malformed(db, file, lineno, why);
			continue;
		}
		if (pkg == NULL &&
		    (pkg = arena_str(&db->a, NULL, package, strlen(package))) == NULL)
			return VIGIL_E_NOMEM;
		if ((r = add_entry(db, pkg, line + skip, n - skip, "/", md5, false)) != 0)
			return r;
	}
	return 0;
}

/* ---- status ---- */

enum field { F_NONE, F_PACKAGE, F_STATUS, F_ARCH, F_MULTIARCH, F_CONFFILES, F_OTHER };

/* The paragraph being read. */
struct para {
	uint64_t line;   /* where it starts */
	const char *why; /* set: the paragraph is malformed */
	const char *name, *arch;
	size_t name_len, arch_len;
	bool has_status, has_multiarch, has_conffiles, ma_same, installed;
	bool seen; /* any field at all */
	enum field cur;
};

static bool field_is(const char *s, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(s, name, n) == 0;
}

/* deb822 field names: printable US-ASCII but ':' and space, not starting with '#' or '-'. */
static bool valid_field_name(const char *s, size_t n)
{
	if (n == 0 || s[0] == '#' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~' || s[i] == ':')
			return false;
	return true;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Strips " word" from the end of s, if there. */
static bool strip_word(const char *s, size_t *n, const char *word)
{
	size_t w = strlen(word);

	if (*n < w + 1 || s[*n - w - 1] != ' ' || memcmp(s + *n - w, word, w) != 0)
		return false;
	*n -= w + 1;
	return true;
}

/* The state (third word) of "Status: want flag state"; see dpkg(1) "package states". */
static const char *parse_state(const char *s, size_t n, bool *installed)
{
	static const char *const states[] = {
	    "not-installed",   "config-files",     "half-installed",   "unpacked",
	    "half-configured", "triggers-awaited", "triggers-pending", "installed",
	};
	const char *w[3];
	size_t wl[3], i = 0;

	for (int k = 0; k < 3; k++) {
		while (i < n && s[i] == ' ')
			i++;
		w[k] = s + i;
		while (i < n && s[i] != ' ')
			i++;
		wl[k] = (size_t)(s + i - w[k]);
		if (wl[k] == 0)
			return "Status has fewer than three words";
	}
	while (i < n && s[i] == ' ')
		i++;
	if (i != n)
		return "Status has more than three words";
	for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
		if (wl[2] == strlen(states[k]) && memcmp(w[2], states[k], wl[2]) == 0) {
			/* From "unpacked" on every file is in place (dpkg(1): the
			 * package is unpacked, configuring it does not move files);
			 * "half-installed" may have only some. */
			*installed = k >= 3;
			return NULL;
		}
	}
	return "unknown package state";
}

/* One Conffiles line: " /path <md5|newconffile|nonexistent|->[ obsolete][ remove-on-upgrade]".
 * The path may hold spaces (dpkg splits at the last one), so it is read from the right.
 * Returns 0 with *why set if the line is malformed, or VIGIL_E_NOMEM. */
static int parse_conffile(vigil_dpkg_db *db, const char *s, size_t n, const char **why)
{
	struct pending_conf *c;
	bool obsolete = false, remove = false, hashed;
	uint8_t md5[VIGIL_DPKG_MD5_LEN];
	const char *sp;
	size_t hlen;
	int r;

	*why = NULL;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	for (int k = 0; k < 2; k++) {
		if (!remove && strip_word(s, &n, "remove-on-upgrade"))
			remove = true;
		else if (!obsolete && strip_word(s, &n, "obsolete"))
			obsolete = true;
	}
	if ((sp = memrchr(s, ' ', n)) == NULL) {
		*why = "conffile line without a hash";
		return 0;
	}
	hlen = n - (size_t)(sp + 1 - s);
	hashed = parse_md5(sp + 1, hlen, md5);
	/* dpkg's placeholders for "no hash recorded yet" (NEWCONFFILEFLAG, NONEXISTENTFLAG,
	 * EMPTYHASHFLAG): nothing to compare with. */
	if (!hashed && !(hlen == 11 && memcmp(sp + 1, "newconffile", 11) == 0) &&
	    !(hlen == 11 && memcmp(sp + 1, "nonexistent", 11) == 0) &&
	    !(hlen == 1 && sp[1] == '-')) {
		*why = "conffile hash is not 32 hex digits";
		return 0;
	}
	n = (size_t)(sp - s);
	if ((*why = check_path(s, n, true)) != NULL)
		return 0;
	if ((r = reserve((void **)&db->conf, &db->cap_conf, db->nconf, sizeof(*db->conf))) != 0)
		return r;
	c = &db->conf[db->nconf++];
	c->path = s;
	c->len = n;
	c->skip = !hashed || obsolete || remove;
	memcpy(c->md5, md5, sizeof(md5));
	return 0;
}

static int add_installed(vigil_dpkg_db *db, const char *s)
{
	int r;

	if ((r = reserve((void **)&db->installed, &db->cap_inst, db->ninst,
			 sizeof(*db->installed))) != 0)
		return r;
	db->installed[db->ninst++] = s;
	db->inst_sorted = false;
	return 0;
}

static int end_para(vigil_dpkg_db *db, struct para *p, bool conffiles)
{
	const char *name = NULL, *full = NULL, *pkg;
	int r = 0;

	if (!p->seen)
		goto out;
	if (p->why == NULL && p->name == NULL)
		p->why = "paragraph without Package";
	if (p->why == NULL && !p->has_status)
		p->why = "paragraph without Status";
	if (p->why) {
		malformed(db, "status", p->line, p->why);
		goto out;
	}
	if (!p->installed)
		goto out;
	if ((name = arena_str(&db->a, NULL, p->name, p->name_len)) == NULL)
		goto nomem;
	if ((r = add_installed(db, name)) != 0)
		goto out;
	if (p->arch) {
		char *f = arena_alloc(&db->a, p->name_len + 1 + p->arch_len + 1);

		if ((full = f) == NULL)
			goto nomem;
		memcpy(f, p->name, p->name_len);
		f[p->name_len] = ':';
		memcpy(f + p->name_len + 1, p->arch, p->arch_len);
		f[p->name_len + 1 + p->arch_len] = '\0';
		if ((r = add_installed(db, full)) != 0)
			goto out;
	}
	if (!conffiles)
		goto out;
	/* dpkg names the files of a Multi-Arch: same package "name:arch" (its instances
	 * can be co-installed); the same name keeps a package's results together. */
	pkg = (p->ma_same && full) ? full : name;
	for (size_t i = 0; i < db->nconf; i++) {
		const struct pending_conf *c = &db->conf[i];

		if (c->skip) {
			db->skipped_files++;
			continue;
		}
		if ((r = add_entry(db, pkg, c->path, c->len, NULL, c->md5, true)) != 0)
			goto out;
	}
	goto out;
nomem:
	r = VIGIL_E_NOMEM;
out:
	memset(p, 0, sizeof(*p));
	db->nconf = 0;
	return r;
}

/* A "Field: value" line of the paragraph p. */
static void status_field(struct para *p, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n), *v;
	size_t fn, vn;

	if (colon == NULL || !valid_field_name(s, (size_t)(colon - s))) {
		p->why = p->why ? p->why : "line is not a field";
		p->cur = F_OTHER;
		return;
	}
	fn = (size_t)(colon - s);
	v = colon + 1;
	vn = n - fn - 1;
	trim(&v, &vn);
	if (field_is(s, fn, "Package")) {
		if (p->name)
			p->why = p->why ? p->why : "Package given twice";
		else if (!valid_name(v, vn))
			p->why = p->why ? p->why : "invalid package name";
		p->name = v;
		p->name_len = vn;
		p->cur = F_PACKAGE;
	} else if (field_is(s, fn, "Status")) {
		const char *why =
		    p->has_status ? "Status given twice" : parse_state(v, vn, &p->installed);

		if (why && !p->why)
			p->why = why;
		p->has_status = true;
		p->cur = F_STATUS;
	} else if (field_is(s, fn, "Architecture")) {
		if (p->arch)
			p->why = p->why ? p->why : "Architecture given twice";
		else if (!valid_arch(v, vn))
			p->why = p->why ? p->why : "invalid architecture";
		p->arch = v;
		p->arch_len = vn;
		p->cur = F_ARCH;
	} else if (field_is(s, fn, "Multi-Arch")) {
		if (p->has_multiarch)
			p->why = p->why ? p->why : "Multi-Arch given twice";
		p->has_multiarch = true;
		p->ma_same = vn == 4 && memcmp(v, "same", 4) == 0;
		p->cur = F_MULTIARCH;
	} else if (field_is(s, fn, "Conffiles")) {
		/* dpkg writes the entries on continuation lines only. */
		if (vn != 0 || p->has_conffiles)
			p->why = p->why ? p->why : "malformed Conffiles field";
		p->has_conffiles = true;
		p->cur = F_CONFFILES;
	} else {
		p->cur = F_OTHER;
	}
}

int vigil_dpkg_parse_status(vigil_dpkg_db *db, const char *buf, size_t len, bool conffiles)
{
	struct para p;
	const char *line;
	size_t pos = 0, n;
	uint64_t lineno = 0;
	int r;

	memset(&p, 0, sizeof(p));
	db->nconf = 0;
	while (next_line(buf, len, &pos, &line, &n)) {
		lineno++;
		if (n == 0) {
			if ((r = end_para(db, &p, conffiles)) != 0)
				return r;
			continue;
		}
		if (!p.seen) {
			p.seen = true;
			p.line = lineno;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			switch (p.cur) {
			case F_CONFFILES: {
				const char *why;

				if ((r = parse_conffile(db, line, n, &why)) != 0) {
					end_para(db, &p, false);
					return r;
				}
				if (why)
					malformed(db, "status", lineno, why);
				break;
			}
			case F_OTHER:
				break;
			case F_NONE:
				p.why = p.why ? p.why : "continuation line without a field";
				break;
			default:
				p.why = p.why ? p.why : "continuation of a single-line field";
				break;
			}
			continue;
		}
		status_field(&p, line, n);
	}
	return end_para(db, &p, conffiles);
}

/* ---- diversions ---- */

int vigil_dpkg_parse_diversions(vigil_dpkg_db *db, const char *buf, size_t len)
{
	const char *l[3];
	size_t ln[3], pos = 0;
	uint64_t lineno = 0;
	int k = 0, r;

	while (next_line(buf, len, &pos, &l[k], &ln[k])) {
		struct diversion *d;
		const char *why;

		lineno++;
		if (++k < 3)
			continue;
		k = 0;
		if ((why = check_path(l[0], ln[0], true)) != NULL ||
		    (why = check_path(l[1], ln[1], true)) != NULL) {
			malformed(db, "diversions", lineno - 2, why);
			continue;
		}
		if (!(ln[2] == 1 && l[2][0] == ':') && !valid_name(l[2], ln[2])) {
			malformed(db, "diversions", lineno, "invalid diverting package");
			continue;
		}
		if ((r = reserve((void **)&db->div, &db->cap_div, db->ndiv, sizeof(*db->div))) != 0)
			return r;
		d = &db->div[db->ndiv];
		if ((d->from = arena_str(&db->a, NULL, l[0], ln[0])) == NULL ||
		    (d->to = arena_str(&db->a, NULL, l[1], ln[1])) == NULL ||
		    (d->pkg = arena_str(&db->a, NULL, l[2], ln[2])) == NULL)
			return VIGIL_E_NOMEM;
		db->ndiv++;
	}
	if (k != 0)
		malformed(db, "diversions", lineno, "incomplete diversion at the end");
	return 0;
}

/* ---- .list ---- */

int vigil_dpkg_parse_list(vigil_dpkg_db *db, const char *file, const char *package, const char *buf,
			  size_t len)
{
	const char *pkg = NULL, *line, *why;
	size_t pos = 0, n;
	uint64_t lineno = 0;
	int r;

	if (!valid_package(package, strlen(package))) {
		malformed(db, file, 0, "file name is not a package name");
		return 0;
	}
	while (next_line(buf, len, &pos, &line, &n)) {
		struct owned *o;

		lineno++;
		/* dpkg lists the root directory as "/." in every package. */
		if (n == 2 && line[0] == '/' && line[1] == '.')
			continue;
		if ((why = check_path(line, n, true)) != NULL) {
			malformed(db, file, lineno, why);
			continue;
		}
		if (db->nown >= VIGIL_DPKG_MAX_OWNED)
			return VIGIL_E_LIMIT;
		if (pkg == NULL &&
		    (pkg = arena_str(&db->a, NULL, package, strlen(package))) == NULL)
			return VIGIL_E_NOMEM;
		if ((r = reserve((void **)&db->own, &db->cap_own, db->nown, sizeof(*db->own))) != 0)
			return r;
		o = &db->own[db->nown];
		o->pkg = pkg;
		if ((o->path = arena_str(&db->a, NULL, line, n)) == NULL)
			return VIGIL_E_NOMEM;
		db->nown++;
	}
	return 0;
}

/* ---- finishing ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool vigil_dpkg_is_installed(vigil_dpkg_db *db, const char *package)
{
	if (!db->inst_sorted) {
		if (db->ninst)
			qsort(db->installed, db->ninst, sizeof(*db->installed), cmp_str);
		db->inst_sorted = true;
	}
	return db->ninst &&
	       bsearch(&package, db->installed, db->ninst, sizeof(*db->installed), cmp_str);
}

static int cmp_div_from(const void *a, const void *b)
{
	const struct diversion *x = a, *y = b;
	int c = strcmp(x->from, y->from);

	return c ? c : strcmp(x->to, y->to);
}

static int cmp_entry(const void *a, const void *b)
{
	const vigil_dpkg_entry *x = a, *y = b;
	int c = strcmp(x->package, y->package);

	if (c == 0)
		c = strcmp(x->path, y->path);
	if (c == 0)
		c = (int)y->conffile - (int)x->conffile; /* the conffile first: it is kept */
	if (c == 0)
		c = memcmp(x->md5, y->md5, sizeof(x->md5));
	return c;
}

/* Whether package `entry_pkg` ("libc6:amd64") is `div_pkg` ("libc6"): dpkg-divert names
 * the diverting package without an architecture. */
static bool same_package(const char *entry_pkg, const char *div_pkg)
{
	size_t n = strcspn(entry_pkg, ":");

	return strlen(div_pkg) == n && memcmp(entry_pkg, div_pkg, n) == 0;
}

static const struct diversion *find_diversion(const vigil_dpkg_db *db, const char *from)
{
	size_t lo = 0, hi = db->ndiv;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(db->div[mid].from, from) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < db->ndiv && strcmp(db->div[lo].from, from) == 0 ? &db->div[lo] : NULL;
}

/* Sorts the diversions; of several for one path (dpkg forbids that) the first is kept. */
static void sort_diversions(vigil_dpkg_db *db)
{
	size_t w = 0;

	if (db->ndiv == 0)
		return;
	qsort(db->div, db->ndiv, sizeof(*db->div), cmp_div_from);
	for (size_t i = 0; i < db->ndiv; i++) {
		if (w > 0 && strcmp(db->div[w - 1].from, db->div[i].from) == 0) {
			malformed(db, "diversions", 0, "path diverted twice");
			continue;
		}
		db->div[w++] = db->div[i];
	}
	db->ndiv = w;
}

int vigil_dpkg_db_finish(vigil_dpkg_db *db)
{
	size_t w = 0;

	sort_diversions(db);
	for (size_t i = 0; i < db->ne; i++) {
		vigil_dpkg_entry *e = &db->e[i];
		const struct diversion *d = find_diversion(db, e->path);

		e->diverted_to = NULL;
		if (d && (strcmp(d->pkg, ":") == 0 || !same_package(e->package, d->pkg)))
			e->diverted_to = d->to;
	}
	if (db->ne == 0)
		return 0;
	qsort(db->e, db->ne, sizeof(*db->e), cmp_entry);
	for (size_t i = 0; i < db->ne; i++) {
		if (w > 0 && strcmp(db->e[w - 1].package, db->e[i].package) == 0 &&
		    strcmp(db->e[w - 1].path, db->e[i].path) == 0)
			continue;
		db->e[w++] = db->e[i];
	}
	db->ne = w;
	return 0;
}

/* ---- reading the admin directory ---- */

/*
 * Reads a whole admin file (a regular file, not followed if a symlink) of at most limit
 * bytes into a malloc'd buffer. Returns 0, VIGIL_E_SYSTEM (errno; EINVAL for a file that
 * is not regular), VIGIL_E_LIMIT or VIGIL_E_NOMEM.
 */
static int read_admin(int dirfd, const char *name, size_t limit, char **out, size_t *len)
{
	struct stat st;
	int fd, r, err;

	*out = NULL;
	*len = 0;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return VIGIL_E_SYSTEM;
	if (fstat(fd, &st) != 0) {
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	if ((uint64_t)st.st_size > limit) {
		r = VIGIL_E_LIMIT;
		goto out;
	}
	r = vigil_read_all(fd, limit, (size_t)st.st_size, out, len);
out:
	err = errno;
	close(fd);
	errno = err;
	return r;
}

/* An opened system: root, admin directory, parsed status and diversions. */
struct sys {
	int rootfd, admfd;
	char root[PATH_MAX], adm[PATH_MAX];
	vigil_dpkg_db *db;
};

static void sys_close(struct sys *s)
{
	if (s->rootfd >= 0)
		close(s->rootfd);
	if (s->admfd >= 0)
		close(s->admfd);
	vigil_dpkg_db_free(s->db);
	s->rootfd = s->admfd = -1;
	s->db = NULL;
}

static int sys_open(const vigil_dpkg_options *o, bool conffiles, struct sys *s, char *err,
		    size_t cap)
{
	const char *root = o->root && o->root[0] ? o->root : "/";
	char *buf = NULL;
	size_t len;
	int r, e;

	s->rootfd = s->admfd = -1;
	s->db = NULL;
	if (strlen(root) >= sizeof(s->root)) {
		set_err(err, cap, "root path too long");
		return VIGIL_E_INVALID;
	}
	strcpy(s->root, root);
	if (o->admindir) {
		r = snprintf(s->adm, sizeof(s->adm), "%s", o->admindir);
	} else {
		const char *sep = root[strlen(root) - 1] == '/' ? "" : "/";

		r = snprintf(s->adm, sizeof(s->adm), "%s%svar/lib/dpkg", root, sep);
	}
	if (r < 0 || (size_t)r >= sizeof(s->adm)) {
		set_err(err, cap, "admin directory path too long");
		return VIGIL_E_INVALID;
	}
	if ((r = vigil_dpkg_db_new(o->on_warning, o->user, &s->db)) != 0)
		goto fail;
	if ((s->rootfd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		set_err(err, cap, "cannot open root %s", s->root);
		r = VIGIL_E_SYSTEM;
		goto fail;
	}
	if ((s->admfd = open(s->adm, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		set_err(err, cap, "cannot open dpkg admin directory %s", s->adm);
		r = VIGIL_E_SYSTEM;
		goto fail;
	}
	if ((r = read_admin(s->admfd, "status", MAX_STATUS, &buf, &len)) != 0) {
		set_err(err, cap,
			r == VIGIL_E_LIMIT ? "%s/status is larger than 256 MiB"
					   : "cannot read %s/status",
			s->adm);
		goto fail;
	}
	r = vigil_dpkg_parse_status(s->db, buf, len, conffiles);
	free(buf);
	buf = NULL;
	if (r != 0)
		goto fail;
	r = read_admin(s->admfd, "diversions", MAX_DIVERSIONS, &buf, &len);
	if (r == 0) {
		r = vigil_dpkg_parse_diversions(s->db, buf, len);
		free(buf);
		buf = NULL;
		if (r != 0)
			goto fail;
	} else if (r == VIGIL_E_SYSTEM && errno == ENOENT) {
		r = 0; /* no diversions on this system */
	} else {
		set_err(err, cap,
			r == VIGIL_E_LIMIT ? "%s/diversions is larger than 16 MiB"
					   : "cannot read %s/diversions",
			s->adm);
		goto fail;
	}
	return 0;
fail:
	e = errno;
	if (r == VIGIL_E_NOMEM)
		set_err(err, cap, "out of memory");
	free(buf);
	sys_close(s);
	errno = e;
	return r;
}

/*
 * Reads every ADMINDIR/info/<package><suffix> of an installed package, in name order
 * (deterministic warnings), through parse (md5sums or list).
 */
static int read_info(struct sys *s, const char *suffix, size_t limit,
		     int (*parse)(vigil_dpkg_db *, const char *, const char *, const char *,
				  size_t),
		     vigil_pkg_stats *stats, char *err, size_t cap)
{
	const size_t slen = strlen(suffix);
	char **names = NULL, *buf = NULL;
	size_t nnames = 0, capn = 0;
	struct dirent *d;
	DIR *dir = NULL;
	int fd, r, e;

	if ((fd = openat(s->admfd, "info", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (dir = fdopendir(fd)) == NULL) {
		e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		set_err(err, cap, "cannot open %s/info", s->adm);
		return VIGIL_E_SYSTEM;
	}
	errno = 0;
	while ((d = readdir(dir)) != NULL) {
		size_t n = strlen(d->d_name);

		if (n <= slen || strcmp(d->d_name + n - slen, suffix) != 0)
			continue;
		if ((r = reserve((void **)&names, &capn, nnames, sizeof(*names))) != 0)
			goto out;
		if ((names[nnames] = strdup(d->d_name)) == NULL) {
			r = VIGIL_E_NOMEM;
			goto out;
		}
		nnames++;
		errno = 0;
	}
	if (errno != 0) {
		set_err(err, cap, "cannot read %s/info", s->adm);
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	if (nnames)
		qsort(names, nnames, sizeof(*names), cmp_str);
	for (size_t i = 0; i < nnames; i++) {
		char file[NAME_MAX + 8];
		size_t len;

		snprintf(file, sizeof(file), "info/%s", names[i]);
		names[i][strlen(names[i]) - slen] = '\0'; /* the package name */
		if (!vigil_dpkg_is_installed(s->db, names[i])) {
			if (stats)
				stats->skipped_packages++;
			warn(s->db, file, 0,
			     "package files are not all in place per status: skipped");
			continue;
		}
		r = read_admin(dirfd(dir), file + 5, limit, &buf, &len);
		if (r == VIGIL_E_NOMEM)
			goto out;
		if (r != 0) {
			/* One bad file must not hide every other package. */
			if (stats)
				stats->skipped_packages++;
			malformed(s->db, file, 0,
				  r == VIGIL_E_LIMIT
				      ? "file too large: skipped"
				      : "cannot read the file (or not a regular file): "
					"skipped");
			continue;
		}
		r = parse(s->db, file, names[i], buf, len);
		free(buf);
		buf = NULL;
		if (r != 0) {
			set_err(err, cap,
				r == VIGIL_E_LIMIT ? "too many entries in %s/info"
						   : "out of memory",
				s->adm);
			goto out;
		}
	}
	r = 0;
out:
	e = errno;
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(buf);
	closedir(dir);
	errno = e;
	return r;
}

/* ---- hashing ---- */

struct check {
	uint8_t actual[VIGIL_DPKG_MD5_LEN];
	int8_t problem; /* -1: fine, else a vigil_pkg_problem */
	int err;
	uint64_t bytes;
};

struct job {
	const vigil_dpkg_entry *e;
	struct check *c;
	size_t n;
	int rootfd;
	EVP_MD *md;
	atomic_size_t next;
	atomic_int failed; /* a VIGIL_E_* that stops every worker, or 0 */
};

struct worker {
	struct job *job;
	pthread_t tid;
	bool started;
	EVP_MD_CTX *ctx;
	unsigned char *buf;
	char parent[PATH_MAX];
	size_t parent_len;
	int parent_fd; /* for parent: an fd, or -1 with parent_err */
	int parent_err;
};

/* Cleared when the kernel (before 5.6) or a seccomp filter has no openat2. */
static atomic_bool have_openat2 = true;

/*
 * Opens a directory below rootfd, following symlinks as if rootfd were "/"
 * (RESOLVE_IN_ROOT, openat2(2)): merged /usr's /lib -> usr/lib, or an absolute
 * /lib -> /usr/lib in a test root, resolve inside the root and never out of it.
 * Without openat2 a plain openat follows absolute links from the real root, which is
 * the same thing when root is "/".
 */
static int open_parent(int rootfd, const char *rel)
{
	struct open_how how;
	int fd = -1;

	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	if (atomic_load_explicit(&have_openat2, memory_order_relaxed)) {
		/* EAGAIN: a concurrent rename made the ".." check unsure; retry a bit. */
		for (int tries = 0; tries < 8; tries++) {
			fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
			if (fd >= 0 || errno != EAGAIN)
				break;
		}
		if (fd >= 0 || errno != ENOSYS)
			return fd;
		atomic_store(&have_openat2, false);
	}
	return openat(rootfd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void check_one(struct worker *w, size_t i)
{
	struct job *j = w->job;
	const vigil_dpkg_entry *e = &j->e[i];
	struct check *c = &j->c[i];
	const char *p = (e->diverted_to ? e->diverted_to : e->path) + 1; /* below the root */
	const char *slash = strrchr(p, '/');
	const char *name = slash ? slash + 1 : p;
	size_t plen = slash ? (size_t)(slash - p) : 0;
	unsigned int mdlen = 0;
	uint8_t md[EVP_MAX_MD_SIZE];
	vigil_skip why;
	int dirfd = j->rootfd, fd;

	c->problem = -1;
	if (slash) {
		/* Entries are sorted by package then path: neighbours share a parent. */
		if (plen != w->parent_len || memcmp(w->parent, p, plen) != 0) {
			if (w->parent_fd >= 0)
				close(w->parent_fd);
			assert(plen < sizeof(w->parent));
			memcpy(w->parent, p, plen);
			w->parent[plen] = '\0';
			w->parent_len = plen;
			w->parent_fd = open_parent(j->rootfd, w->parent);
			w->parent_err = w->parent_fd < 0 ? errno : 0;
		}
		if ((dirfd = w->parent_fd) < 0) {
			c->err = w->parent_err;
			c->problem = (c->err == ENOENT || c->err == ENOTDIR) ? VIGIL_PKG_MISSING
									     : VIGIL_PKG_UNREADABLE;
			return;
		}
	}
	if ((fd = vigil_open_regular(dirfd, name, NULL, &why)) < 0) {
		c->err = errno;
		c->problem = why == VIGIL_SKIP_VANISHED  ? VIGIL_PKG_MISSING
			     : why == VIGIL_SKIP_SPECIAL ? VIGIL_PKG_REPLACED
							 : VIGIL_PKG_UNREADABLE;
		return;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (EVP_DigestInit_ex(w->ctx, j->md, NULL) != 1)
		goto crypto;
	for (;;) {
		ssize_t got = vigil_read(fd, w->buf, HASH_BUF);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			c->err = errno;
			c->problem = VIGIL_PKG_UNREADABLE;
			close(fd);
			return;
		}
		if (got == 0)
			break;
		c->bytes += (uint64_t)got;
		if (EVP_DigestUpdate(w->ctx, w->buf, (size_t)got) != 1)
			goto crypto;
	}
	close(fd);
	if (EVP_DigestFinal_ex(w->ctx, md, &mdlen) != 1 || mdlen != VIGIL_DPKG_MD5_LEN)
		goto crypto_closed;
	memcpy(c->actual, md, VIGIL_DPKG_MD5_LEN);
	if (memcmp(md, e->md5, VIGIL_DPKG_MD5_LEN) != 0)
		c->problem = VIGIL_PKG_CHANGED;
	return;
crypto:
	close(fd);
crypto_closed:
	atomic_store(&j->failed, VIGIL_E_CRYPTO);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;

	for (;;) {
		size_t i = atomic_fetch_add(&j->next, BATCH);

		if (i >= j->n || atomic_load_explicit(&j->failed, memory_order_relaxed))
			break;
		for (size_t k = i; k < j->n && k < i + BATCH; k++)
			check_one(w, k);
	}
	return NULL;
}

static int hash_all(struct job *j, unsigned jobs)
{
	struct worker *w;
	int r = 0;

	if ((w = calloc(jobs, sizeof(*w))) == NULL)
		return VIGIL_E_NOMEM;
	for (unsigned i = 0; i < jobs; i++) {
		w[i].job = j;
		w[i].parent_fd = -1;
		w[i].parent_len = SIZE_MAX;
		if ((w[i].ctx = EVP_MD_CTX_new()) == NULL) {
			r = VIGIL_E_CRYPTO;
			goto out;
		}
		if ((w[i].buf = malloc(HASH_BUF)) == NULL) {
			r = VIGIL_E_NOMEM;
			goto out;
		}
	}
	/* Worker 0 is this thread; a thread that cannot start leaves its share to the rest. */
	for (unsigned i = 1; i < jobs; i++)
		w[i].started = pthread_create(&w[i].tid, NULL, work, &w[i]) == 0;
	work(&w[0]);
	for (unsigned i = 1; i < jobs; i++)
		if (w[i].started)
			pthread_join(w[i].tid, NULL);
	r = atomic_load(&j->failed);
out:
	for (unsigned i = 0; i < jobs; i++) {
		if (w[i].parent_fd >= 0)
			close(w[i].parent_fd);
		EVP_MD_CTX_free(w[i].ctx);
		free(w[i].buf);
	}
	free(w);
	return r;
}

static void to_hex(const uint8_t *b, char out[33])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < VIGIL_DPKG_MD5_LEN; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[32] = '\0';
}

void vigil_dpkg_options_default(vigil_dpkg_options *o)
{
	memset(o, 0, sizeof(*o));
	o->root = "/";
	o->conffiles = true;
}

static unsigned pick_jobs(unsigned jobs, size_t n)
{
	if (jobs == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		jobs = cpus > 0 ? (unsigned)(cpus > MAX_JOBS ? MAX_JOBS : cpus) : 1;
	}
	if (jobs > MAX_JOBS)
		jobs = MAX_JOBS;
	if ((size_t)jobs > n / BATCH + 1)
		jobs = (unsigned)(n / BATCH + 1);
	return jobs;
}

int vigil_dpkg_verify(const vigil_dpkg_options *o, vigil_pkg_stats *stats, char *err, size_t cap)
{
	vigil_pkg_stats local;
	struct sys s = {.rootfd = -1, .admfd = -1};
	struct job j;
	const vigil_dpkg_entry *e;
	const char *last_pkg = NULL;
	size_t n = 0;
	int r, saved;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	memset(&j, 0, sizeof(j));
	if (err && cap)
		err[0] = '\0';
	if (o == NULL) {
		set_err(err, cap, "no options");
		return VIGIL_E_INVALID;
	}
	if ((r = sys_open(o, o->conffiles, &s, err, cap)) != 0)
		return r;
	if ((r = read_info(&s, ".md5sums", MAX_MD5SUMS, vigil_dpkg_parse_md5sums, stats, err,
			   cap)) != 0)
		goto out;
	if ((r = vigil_dpkg_db_finish(s.db)) != 0)
		goto out;
	e = vigil_dpkg_db_entries(s.db, &n);
	/* EVP_MD_fetch once: EVP_md5() would look the algorithm up again on every file. */
	if ((j.md = EVP_MD_fetch(NULL, "MD5", NULL)) == NULL) {
		set_err(err, cap, "OpenSSL offers no MD5 (FIPS-only provider?)");
		r = VIGIL_E_CRYPTO;
		goto out;
	}
	if (n && (j.c = calloc(n, sizeof(*j.c))) == NULL) {
		r = VIGIL_E_NOMEM;
		goto out;
	}
	j.e = e;
	j.n = n;
	j.rootfd = s.rootfd;
	atomic_init(&j.next, 0);
	atomic_init(&j.failed, 0);
	if ((r = hash_all(&j, pick_jobs(o->jobs, n))) != 0) {
		set_err(err, cap, r == VIGIL_E_CRYPTO ? "MD5 failed in OpenSSL" : "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct check *c = &j.c[i];
		vigil_pkg_result res;

		stats->files++;
		stats->conffiles += e[i].conffile;
		stats->bytes += c->bytes;
		if (last_pkg == NULL || strcmp(last_pkg, e[i].package) != 0)
			stats->packages++;
		last_pkg = e[i].package;
		if (c->problem < 0)
			continue;
		switch (c->problem) {
		case VIGIL_PKG_CHANGED:
			stats->changed++;
			stats->conffiles_changed += e[i].conffile;
			break;
		case VIGIL_PKG_MISSING:
			stats->missing++;
			break;
		case VIGIL_PKG_UNREADABLE:
			stats->unreadable++;
			break;
		default:
			stats->replaced++;
			break;
		}
		if (o->on_result == NULL)
			continue;
		memset(&res, 0, sizeof(res));
		res.package = e[i].package;
		res.path = e[i].path;
		res.diverted_to = e[i].diverted_to;
		res.problem = (vigil_pkg_problem)c->problem;
		res.err = c->problem == VIGIL_PKG_CHANGED ? 0 : c->err;
		res.conffile = e[i].conffile;
		to_hex(e[i].md5, res.expected);
		if (c->problem == VIGIL_PKG_CHANGED)
			to_hex(c->actual, res.actual);
		if ((r = o->on_result(o->user, &res)) != 0)
			goto out;
	}
	r = 0;
out:
	saved = errno;
	if (r == VIGIL_E_NOMEM)
		set_err(err, cap, "out of memory");
	if (s.db)
		vigil_dpkg_db_counts(s.db, stats);
	EVP_MD_free(j.md);
	free(j.c);
	sys_close(&s);
	errno = saved;
	return r;
}

/* ---- owners ---- */

/* Top-level directories that merged /usr turns into symlinks to usr/NAME. */
static const char *const usr_merged[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
#define NMERGED (sizeof(usr_merged) / sizeof(usr_merged[0]))

struct vigil_dpkg_owners {
	vigil_dpkg_db *db;
	const struct diversion **by_to; /* diversions sorted by `to` */
	unsigned merged;                /* bit i: usr_merged[i] is a link to usr/NAME */
};

static int cmp_owned(const void *a, const void *b)
{
	const struct owned *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : strcmp(x->pkg, y->pkg);
}

static int cmp_div_to(const void *a, const void *b)
{
	const struct diversion *x = *(const struct diversion *const *)a;
	const struct diversion *y = *(const struct diversion *const *)b;

	return strcmp(x->to, y->to);
}

int vigil_dpkg_owners_load(const vigil_dpkg_options *o, vigil_dpkg_owners **out,
			   vigil_pkg_stats *stats, char *err, size_t cap)
{
	vigil_pkg_stats local;
	vigil_dpkg_owners *w = NULL;
	struct sys s = {.rootfd = -1, .admfd = -1};
	vigil_dpkg_db *db;
	size_t wr = 0;
	int r, saved;

	*out = NULL;
	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (err && cap)
		err[0] = '\0';
	if (o == NULL)
		return VIGIL_E_INVALID;
	if ((r = sys_open(o, false, &s, err, cap)) != 0)
		return r;
	if ((r = read_info(&s, ".list", MAX_LIST, vigil_dpkg_parse_list, stats, err, cap)) != 0)
		goto out;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		r = VIGIL_E_NOMEM;
		goto out;
	}
	db = s.db;
	sort_diversions(db);
	if (db->nown)
		qsort(db->own, db->nown, sizeof(*db->own), cmp_owned);
	for (size_t i = 0; i < db->nown; i++) {
		if (wr > 0 && cmp_owned(&db->own[wr - 1], &db->own[i]) == 0)
			continue;
		db->own[wr++] = db->own[i];
	}
	db->nown = wr;
	if (db->ndiv) {
		if ((w->by_to = malloc(db->ndiv * sizeof(*w->by_to))) == NULL) {
			r = VIGIL_E_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < db->ndiv; i++)
			w->by_to[i] = &db->div[i];
		qsort(w->by_to, db->ndiv, sizeof(*w->by_to), cmp_div_to);
	}
	for (size_t i = 0; i < NMERGED; i++) {
		char target[32], rel[16], abs[16];
		ssize_t n = readlinkat(s.rootfd, usr_merged[i], target, sizeof(target) - 1);

		if (n <= 0)
			continue;
		target[n] = '\0';
		snprintf(rel, sizeof(rel), "usr/%s", usr_merged[i]);
		snprintf(abs, sizeof(abs), "/usr/%s", usr_merged[i]);
		if (strcmp(target, rel) == 0 || strcmp(target, abs) == 0)
			w->merged |= 1u << i;
	}
	w->db = s.db;
	s.db = NULL; /* transferred */
	*out = w;
	w = NULL;
	r = 0;
out:
	saved = errno;
	if (r == VIGIL_E_NOMEM)
		set_err(err, cap, "out of memory");
	if (s.db)
		vigil_dpkg_db_counts(s.db, stats);
	else if (*out)
		vigil_dpkg_db_counts((*out)->db, stats);
	vigil_dpkg_owners_free(w);
	sys_close(&s);
	errno = saved;
	return r;
}

void vigil_dpkg_owners_free(vigil_dpkg_owners *w)
{
	if (w == NULL)
		return;
	vigil_dpkg_db_free(w->db);
	free(w->by_to);
	free(w);
}

/* The run of .list entries for path: [*lo, *hi). */
static void owned_range(const vigil_dpkg_db *db, const char *path, size_t *lo, size_t *hi)
{
	size_t a = 0, b = db->nown;

	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (strcmp(db->own[mid].path, path) < 0)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	for (b = a; b < db->nown && strcmp(db->own[b].path, path) == 0; b++)
		;
	*hi = b;
}

/* One sorted stream of candidate owners: the .list run of a path, filtered. */
struct source {
	size_t at, end;
	const char *div_pkg; /* with only/except: the diverting package */
	enum { ALL, ONLY, EXCEPT } filter;
};

static bool source_skip(const vigil_dpkg_db *db, const struct source *s)
{
	const char *pkg = db->own[s->at].pkg;
	bool local = strcmp(s->div_pkg ? s->div_pkg : "", ":") == 0;

	switch (s->filter) {
	case ONLY: /* a local diversion moves everyone's copy */
		return local || !same_package(pkg, s->div_pkg);
	case EXCEPT:
		return !local && same_package(pkg, s->div_pkg);
	default:
		return false;
	}
}

static const struct diversion *find_by_to(const vigil_dpkg_owners *w, const char *to)
{
	size_t lo = 0, hi = w->db->ndiv;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(w->by_to[mid]->to, to) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->db->ndiv && strcmp(w->by_to[lo]->to, to) == 0 ? w->by_to[lo] : NULL;
}

/* The sources for one spelling of a path: its own .list run (only the diverting package,
 * if the path is diverted away) and the run of the path diverted to it. */
static size_t add_sources(const vigil_dpkg_owners *w, const char *path, struct source *src)
{
	const struct diversion *d = find_diversion(w->db, path);
	size_t n = 0;

	owned_range(w->db, path, &src[n].at, &src[n].end);
	src[n].div_pkg = d ? d->pkg : NULL;
	src[n].filter = d ? ONLY : ALL;
	n++;
	if (w->db->ndiv && (d = find_by_to(w, path)) != NULL) {
		owned_range(w->db, d->from, &src[n].at, &src[n].end);
		src[n].div_pkg = d->pkg;
		src[n].filter = EXCEPT;
		n++;
	}
	return n;
}

/* The other spelling of path under merged /usr ("/usr/bin/x" <-> "/bin/x"), or false. */
static bool usr_alias(const vigil_dpkg_owners *w, const char *path, char *out, size_t cap)
{
	for (size_t i = 0; i < NMERGED; i++) {
		size_t n = strlen(usr_merged[i]);
		const char *rest;

		if (!(w->merged & (1u << i)))
			continue;
		if (strncmp(path, "/usr/", 5) == 0 && strncmp(path + 5, usr_merged[i], n) == 0 &&
		    (path[5 + n] == '/' || path[5 + n] == '\0')) {
			rest = path + 5 + n;
			return (size_t)snprintf(out, cap, "/%s%s", usr_merged[i], rest) < cap;
		}
		if (path[0] == '/' && strncmp(path + 1, usr_merged[i], n) == 0 &&
		    (path[1 + n] == '/' || path[1 + n] == '\0')) {
			rest = path + 1 + n;
			return (size_t)snprintf(out, cap, "/usr/%s%s", usr_merged[i], rest) < cap;
		}
	}
	return false;
}

size_t vigil_dpkg_owner(const vigil_dpkg_owners *w, const char *path, const char **pkgs, size_t cap)
{
	struct source src[4];
	char alias[PATH_MAX + 8];
	const char *last = NULL;
	size_t nsrc, total = 0;

	if (w == NULL || path == NULL)
		return 0;
	nsrc = add_sources(w, path, src);
	if (usr_alias(w, path, alias, sizeof(alias)))
		nsrc += add_sources(w, alias, src + nsrc);
	/* Merge the sorted runs: names come out sorted and each once. */
	for (;;) {
		const char *best = NULL;

		for (size_t i = 0; i < nsrc; i++) {
			while (src[i].at < src[i].end && source_skip(w->db, &src[i]))
				src[i].at++;
			if (src[i].at < src[i].end &&
			    (best == NULL || strcmp(w->db->own[src[i].at].pkg, best) < 0))
				best = w->db->own[src[i].at].pkg;
		}
		if (best == NULL)
			break;
		for (size_t i = 0; i < nsrc; i++)
			if (src[i].at < src[i].end && strcmp(w->db->own[src[i].at].pkg, best) == 0)
				src[i].at++;
		if (last && strcmp(last, best) == 0)
			continue;
		if (total < cap)
			pkgs[total] = best;
		total++;
		last = best;
	}
	return total;
}
