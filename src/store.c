/* SPDX-License-Identifier: Apache-2.0 */
/* The baseline database: SQLite in WAL mode behind an flock, every value read back checked
 * for type and range because whoever can write the file may be the intruder. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "store.h"
#include "vigil/vigil.h"

/* Bounds on what a row may hold. Walks go deeper than PATH_MAX, so a path may be longer,
 * but not absurdly so; a symlink target is at most PATH_MAX bytes with its NUL
 * (symlink(7)); one xattr value is at most 64 KiB (XATTR_SIZE_MAX, xattr(7)) and an ACL
 * blob holds two of them with a 5-byte header each. */
#define PATH_BYTES_MAX  (1u << 20)
#define TARGET_MAX      4096u
#define XATTR_VALUE_MAX 65536u
#define ACL_MAX         (2u * (5u + XATTR_VALUE_MAX))
#define XATTRS_MAX      (16u << 20)
#define MAC_MAX         VIGIL_STORE_MAC_MAX
#define META_MAX        (1u << 20)
/* SQLite refuses to build any value larger than this: a hostile file cannot make us
 * allocate more for one column. Larger than the largest legitimate history blob. */
#define SQL_VALUE_MAX (48 << 20)
#define BUSY_MS       10000
#define CACHE_KIB     32768 /* writers: bounded so a million-entry init stays within 100 MB RSS */
#define ERR_CAP       1024

/* Column order of the entries table; the history encoding uses the same order. */
enum col {
	C_PATH,
	C_ATTRS,
	C_POLICY,
	C_HASH_ALGO,
	C_TYPE,
	C_MODE,
	C_UID,
	C_GID,
	C_SIZE,
	C_MTIME,
	C_CTIME,
	C_INODE,
	C_NLINK,
	C_RDEV,
	C_TARGET,
	C_HASH,
	C_ACL,
	C_CAPS,
	C_SELINUX,
	C_XATTRS,
	C_FLAGS,
	C_ROW_MAC,
	C_N
};

#define ENTRY_COLS                                                                                 \
	"path, attrs, policy, hash_algo, type, mode, uid, gid, size, mtime_ns, ctime_ns, inode, "  \
	"nlink, rdev, target, hash, acl, caps, selinux, xattrs, flags, row_mac"

/* What each column may hold. Integers are stored as SQLite's int64; the u64 attributes
 * (inode, nlink, rdev) as their two's-complement bit pattern, so any value is in range. */
static const struct column {
	const char *name;
	bool is_blob;
	bool nullable;  /* blobs: NULL means "none" (length 0) */
	int64_t lo, hi; /* integers: inclusive range */
	size_t max;     /* blobs: most bytes */
} cols[C_N] = {
    [C_PATH] = {"path", true, false, 0, 0, PATH_BYTES_MAX},
    [C_ATTRS] = {"attrs", false, false, 0, VIGIL_ATTR_ALL, 0},
    [C_POLICY] = {"policy", false, false, 0, VIGIL_POLICY_PRESENCE, 0},
    [C_HASH_ALGO] = {"hash_algo", false, false, 0, VIGIL_HASH_COUNT - 1, 0},
    [C_TYPE] = {"type", false, false, 0, S_IFMT, 0},
    [C_MODE] = {"mode", false, false, 0, 07777, 0},
    [C_UID] = {"uid", false, false, 0, UINT32_MAX, 0},
    [C_GID] = {"gid", false, false, 0, UINT32_MAX, 0},
    [C_SIZE] = {"size", false, false, 0, INT64_MAX, 0},
    [C_MTIME] = {"mtime_ns", false, false, INT64_MIN, INT64_MAX, 0},
    [C_CTIME] = {"ctime_ns", false, false, INT64_MIN, INT64_MAX, 0},
    [C_INODE] = {"inode", false, false, INT64_MIN, INT64_MAX, 0},
    [C_NLINK] = {"nlink", false, false, INT64_MIN, INT64_MAX, 0},
    [C_RDEV] = {"rdev", false, false, INT64_MIN, INT64_MAX, 0},
    [C_TARGET] = {"target", true, true, 0, 0, TARGET_MAX},
    [C_HASH] = {"hash", true, true, 0, 0, VIGIL_DIGEST_MAX},
    [C_ACL] = {"acl", true, true, 0, 0, ACL_MAX},
    [C_CAPS] = {"caps", true, true, 0, 0, XATTR_VALUE_MAX},
    [C_SELINUX] = {"selinux", true, true, 0, 0, XATTR_VALUE_MAX},
    [C_XATTRS] = {"xattrs", true, true, 0, 0, XATTRS_MAX},
    [C_FLAGS] = {"flags", false, false, 0, UINT32_MAX, 0},
    [C_ROW_MAC] = {"row_mac", true, false, 0, 0, MAC_MAX},
};

/* The schema of version 1, compared text for text with sqlite_schema on open: a file
 * whose tables differ in any way (another collation, a rowid table, a virtual table) is
 * not one of ours. */
static const struct table {
	const char *name, *sql;
} tables[] = {
    {"meta", "CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)"},
    {"entries",
     "CREATE TABLE entries(path BLOB PRIMARY KEY NOT NULL, attrs INTEGER NOT NULL, "
     "policy INTEGER NOT NULL, hash_algo INTEGER NOT NULL, type INTEGER NOT NULL, "
     "mode INTEGER NOT NULL, uid INTEGER NOT NULL, gid INTEGER NOT NULL, "
     "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, "
     "inode INTEGER NOT NULL, nlink INTEGER NOT NULL, rdev INTEGER NOT NULL, target BLOB, "
     "hash BLOB, acl BLOB, caps BLOB, selinux BLOB, xattrs BLOB, flags INTEGER NOT NULL, "
     "row_mac BLOB NOT NULL) WITHOUT ROWID"},
    {"events", "CREATE TABLE events(id INTEGER PRIMARY KEY, action TEXT NOT NULL, "
	       "user_name TEXT NOT NULL, uid INTEGER NOT NULL, time_us INTEGER NOT NULL, "
	       "note TEXT)"},
    {"history", "CREATE TABLE history(id INTEGER PRIMARY KEY, "
		"event_id INTEGER NOT NULL REFERENCES events(id), path BLOB NOT NULL, "
		"old BLOB, new BLOB)"},
};

static const char *const indexes[] = {
    "CREATE INDEX history_path ON history(path, id)",
    "CREATE INDEX history_event ON history(event_id)",
};

#define HISTORY_COLS                                                                               \
	"e.id, e.action, e.user_name, e.uid, e.time_us, e.note, h.id, h.path, h.old, h.new"

enum query {
	Q_PUT,
	Q_GET,
	Q_ALL,
	Q_MACS,
	Q_RANGE,
	Q_DELETE,
	Q_CLEAR,
	Q_COUNT,
	Q_META_SET,
	Q_META_GET,
	Q_META_ALL,
	Q_EVENT_ADD,
	Q_HISTORY_ADD,
	Q_HISTORY_ALL,
	Q_HISTORY_PATH,
	Q_EVENTS_DIGEST,
	Q_HISTORY_DIGEST,
	Q_N
};

static const char *const queries[Q_N] = {
    [Q_PUT] = "INSERT OR REPLACE INTO entries(" ENTRY_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
	      "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
    [Q_GET] = "SELECT " ENTRY_COLS " FROM entries WHERE path = ?1",
    [Q_ALL] = "SELECT " ENTRY_COLS " FROM entries ORDER BY path",
    [Q_MACS] = "SELECT path, row_mac FROM entries ORDER BY path",
    [Q_RANGE] = "SELECT " ENTRY_COLS " FROM entries WHERE path >= ?1 AND path < ?2 ORDER BY path",
    [Q_DELETE] = "DELETE FROM entries WHERE path = ?1",
    [Q_CLEAR] = "DELETE FROM entries",
    [Q_COUNT] = "SELECT count(*) FROM entries",
    [Q_META_SET] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)",
    [Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [Q_META_ALL] = "SELECT key, value FROM meta ORDER BY key",
    [Q_EVENT_ADD] = "INSERT INTO events(action, user_name, uid, time_us, note) "
		    "VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_HISTORY_ADD] = "INSERT INTO history(event_id, path, old, new) VALUES(?1, ?2, ?3, ?4)",
    [Q_HISTORY_ALL] = "SELECT " HISTORY_COLS " FROM events AS e "
		      "LEFT JOIN history AS h ON h.event_id = e.id ORDER BY e.id, h.id",
    [Q_HISTORY_PATH] = "SELECT " HISTORY_COLS " FROM events AS e "
		       "LEFT JOIN history AS h ON h.event_id = e.id AND h.path = ?1 "
		       "WHERE h.id IS NOT NULL OR NOT EXISTS "
		       "(SELECT 1 FROM history AS x WHERE x.event_id = e.id) ORDER BY e.id, h.id",
    [Q_EVENTS_DIGEST] = "SELECT id, action, user_name, uid, time_us, note FROM events "
			"ORDER BY id",
    [Q_HISTORY_DIGEST] = "SELECT id, event_id, path, old, new FROM history ORDER BY id",
};

struct vigil_store {
	sqlite3 *db;
	char *path;
	int lock_fd;          /* -1: none (read-only place, see take_lock) */
	bool holds_exclusive; /* the lock file holds our pid */
	vigil_store_mode mode;
	sqlite3_stmt *q[Q_N];
	char err[ERR_CAP];
};

/* One row's values as read, before they become a vigil_entry. */
struct raw {
	int64_t v[C_N];
	const uint8_t *p[C_N];
	size_t n[C_N];
};

/* Where a value came from, for messages; rendered only when something is wrong. */
struct where {
	const char *what; /* "row", "entry" or "history record" */
	int64_t id;       /* history record id */
	const char *part; /* "old value", "new value" or NULL */
	const uint8_t *path;
	size_t path_len;
};

/* ---- messages ---- */

/* Bytes from the file for a message: printable ASCII as is, the rest as \xNN, cut short. */
static void show(char *buf, size_t cap, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t o = 0;

	assert(cap >= 8);
	for (size_t i = 0; i < n; i++) {
		if (o + 8 >= cap) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
			buf[o++] = (char)b[i];
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", b[i]);
	}
	buf[o] = '\0';
}

static int fail(vigil_store *s, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets the message and returns r; errno survives, for VIGIL_E_SYSTEM. */
static int fail(vigil_store *s, int r, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	errno = saved;
	return r;
}

static int fail_at(vigil_store *s, int r, const struct where *w, const char *noun, const char *name,
		   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* "row /etc/x: column mode holds text, not an integer" */
static int fail_at(vigil_store *s, int r, const struct where *w, const char *noun, const char *name,
		   const char *fmt, ...)
{
	char who[256], tail[256];
	va_list ap;

	if (w->path != NULL)
		show(who, sizeof(who), w->path, w->path_len);
	else
		snprintf(who, sizeof(who), "?");
	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	if (w->part != NULL)
		return fail(s, r, "%s %lld (%s of %s): %s %s %s", w->what, (long long)w->id,
			    w->part, who, noun, name, tail);
	return fail(s, r, "%s %s: %s %s %s", w->what, who, noun, name, tail);
}

static const char *type_word(int t)
{
	switch (t) {
	case SQLITE_INTEGER:
		return "an integer";
	case SQLITE_FLOAT:
		return "a real number";
	case SQLITE_TEXT:
		return "text";
	case SQLITE_BLOB:
		return "a blob";
	default:
		return "null";
	}
}

/* Maps an SQLite failure to a VIGIL_E_* code and a message saying what was being done. */
static int db_fail(vigil_store *s, int rc, const char *what)
{
	const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return fail(s, VIGIL_E_NOMEM, "%s: out of memory", what);
	case SQLITE_NOTADB:
		return fail(s, VIGIL_E_FORMAT, "not a vigil baseline: file is not a database");
	case SQLITE_CORRUPT:
	case SQLITE_TOOBIG:
		return fail(s, VIGIL_E_FORMAT, "baseline is corrupt or truncated: %s", msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return fail(s, VIGIL_E_LIMIT, "the database is busy (%s): %s", what, msg);
	case SQLITE_CONSTRAINT:
		return fail(s, VIGIL_E_INVALID, "%s: %s", what, msg);
	case SQLITE_IOERR:
		/* A page past the end of the file: SQLite saw a truncated database. */
		if (rc == SQLITE_IOERR_SHORT_READ)
			return fail(s, VIGIL_E_FORMAT, "baseline is corrupt or truncated: %s", msg);
		/* fall through */
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM: {
		int e = s->db ? sqlite3_system_errno(s->db) : 0;
		if (e == 0)
			e = (rc & 0xff) == SQLITE_FULL       ? ENOSPC
			    : (rc & 0xff) == SQLITE_READONLY ? EROFS
			    : (rc & 0xff) == SQLITE_PERM     ? EACCES
							     : EIO;
		errno = e;
		return fail(s, VIGIL_E_SYSTEM, "%s: %s", what, msg);
	}
	default:
		return fail(s, VIGIL_E_FORMAT, "%s: %s", what, msg);
	}
}

/* ---- statements ---- */

static int exec(vigil_store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : db_fail(s, rc, what);
}

/* The cached statement, or a fresh one when the cached one is in use (fn of an
 * iteration calling back into the store); *temp says which, for release(). */
static int acquire(vigil_store *s, enum query q, sqlite3_stmt **st, bool *temp)
{
	int rc;

	*temp = false;
	if (!sqlite3_stmt_busy(s->q[q])) {
		*st = s->q[q];
		return 0;
	}
	rc = sqlite3_prepare_v2(s->db, queries[q], -1, st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(s, rc, "prepare");
	*temp = true;
	return 0;
}

static void release(sqlite3_stmt *st, bool temp)
{
	/* Bindings stay: every use binds every parameter again. */
	if (temp)
		sqlite3_finalize(st);
	else
		sqlite3_reset(st);
}

/* Runs a statement that returns no rows. */
static int run(vigil_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : db_fail(s, rc, what);

	sqlite3_reset(st);
	return r;
}

/* ---- rows ---- */

static bool is_file_type(int64_t t)
{
	switch (t) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFBLK:
	case S_IFCHR:
	case S_IFIFO:
	case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

/* Range checks common to rows, history records and entries about to be written: what a
 * column's type alone does not say. */
static int raw_check(vigil_store *s, int r, const struct raw *x, const struct where *w,
		     const char *noun)
{
	for (int c = 0; c < C_N; c++) {
		if (cols[c].is_blob) {
			if (x->n[c] > cols[c].max)
				return fail_at(s, r, w, noun, cols[c].name,
					       "holds %zu bytes (at most %zu)", x->n[c],
					       cols[c].max);
		} else if (x->v[c] < cols[c].lo || x->v[c] > cols[c].hi) {
			return fail_at(s, r, w, noun, cols[c].name,
				       "holds %lld, outside %lld..%lld", (long long)x->v[c],
				       (long long)cols[c].lo, (long long)cols[c].hi);
		}
	}
	if (x->n[C_PATH] == 0)
		return fail_at(s, r, w, noun, "path", "is empty");
	if (memchr(x->p[C_PATH], '\0', x->n[C_PATH]) != NULL)
		return fail_at(s, r, w, noun, "path", "holds a NUL byte");
	if (x->n[C_TARGET] > 0 && memchr(x->p[C_TARGET], '\0', x->n[C_TARGET]) != NULL)
		return fail_at(s, r, w, noun, "target", "holds a NUL byte");
	/* A type not recorded is 0; a recorded one is one of the seven S_IFMT values. */
	if (!is_file_type(x->v[C_TYPE]) &&
	    (x->v[C_TYPE] != 0 || (x->v[C_ATTRS] & VIGIL_ATTR_TYPE) != 0))
		return fail_at(s, r, w, noun, "type", "holds %#llo, not a file type",
			       (unsigned long long)x->v[C_TYPE]);
	return 0;
}

/* Reads one entries row, checking every column's SQLite type before its value. */
static int raw_from_stmt(vigil_store *s, sqlite3_stmt *st, struct raw *x, struct where *w)
{
	for (int c = 0; c < C_N; c++) {
		int t = sqlite3_column_type(st, c);

		x->p[c] = NULL;
		x->n[c] = 0;
		x->v[c] = 0;
		if (!cols[c].is_blob) {
			if (t != SQLITE_INTEGER)
				return fail_at(s, VIGIL_E_FORMAT, w, "column", cols[c].name,
					       "holds %s, not an integer", type_word(t));
			x->v[c] = sqlite3_column_int64(st, c);
			continue;
		}
		if (t == SQLITE_NULL && cols[c].nullable)
			continue;
		if (t != SQLITE_BLOB) {
			/* Name the row by its key even when the key is what is wrong. */
			if (c == C_PATH && t == SQLITE_TEXT) {
				w->path = sqlite3_column_text(st, c);
				w->path_len = (size_t)sqlite3_column_bytes(st, c);
			}
			return fail_at(s, VIGIL_E_FORMAT, w, "column", cols[c].name,
				       "holds %s, not a blob", type_word(t));
		}
		x->p[c] = sqlite3_column_blob(st, c);
		x->n[c] = (size_t)sqlite3_column_bytes(st, c);
		if (x->n[c] > 0 && x->p[c] == NULL)
			return fail(s, VIGIL_E_NOMEM, "out of memory reading column %s",
				    cols[c].name);
		if (c == C_PATH) {
			w->path = x->p[c];
			w->path_len = x->n[c];
		}
	}
	return raw_check(s, VIGIL_E_FORMAT, x, w, "column");
}

/* The entry a checked raw row describes; pointers borrow from the row. */
static void raw_to_entry(const struct raw *x, vigil_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->path = (char *)x->p[C_PATH];
	e->path_len = x->n[C_PATH];
	e->attrs = (uint32_t)x->v[C_ATTRS];
	e->policy = (uint8_t)x->v[C_POLICY];
	e->hash_algo = (uint8_t)x->v[C_HASH_ALGO];
	e->type = (uint32_t)x->v[C_TYPE];
	e->mode = (uint32_t)x->v[C_MODE];
	e->uid = (uint32_t)x->v[C_UID];
	e->gid = (uint32_t)x->v[C_GID];
	e->size = x->v[C_SIZE];
	e->mtime_ns = x->v[C_MTIME];
	e->ctime_ns = x->v[C_CTIME];
	e->inode = (uint64_t)x->v[C_INODE];
	e->nlink = (uint64_t)x->v[C_NLINK];
	e->rdev = (uint64_t)x->v[C_RDEV];
	e->target = x->n[C_TARGET] ? (char *)x->p[C_TARGET] : NULL;
	e->target_len = x->n[C_TARGET];
	if (x->n[C_HASH] > 0)
		memcpy(e->hash, x->p[C_HASH], x->n[C_HASH]);
	e->hash_len = (uint8_t)x->n[C_HASH];
	e->acl = x->n[C_ACL] ? (uint8_t *)x->p[C_ACL] : NULL;
	e->acl_len = x->n[C_ACL];
	e->caps = x->n[C_CAPS] ? (uint8_t *)x->p[C_CAPS] : NULL;
	e->caps_len = x->n[C_CAPS];
	e->selinux = x->n[C_SELINUX] ? (uint8_t *)x->p[C_SELINUX] : NULL;
	e->selinux_len = x->n[C_SELINUX];
	e->xattrs = x->n[C_XATTRS] ? (uint8_t *)x->p[C_XATTRS] : NULL;
	e->xattrs_len = x->n[C_XATTRS];
	e->flags = x->v[C_FLAGS];
}

/* An entry as column values; a NULL pointer with a length counts as empty. */
static void raw_from_entry(const vigil_entry *e, const uint8_t *mac, size_t mac_len, struct raw *x)
{
	memset(x, 0, sizeof(*x));
	x->p[C_PATH] = (const uint8_t *)e->path;
	x->n[C_PATH] = e->path ? e->path_len : 0;
	x->v[C_ATTRS] = e->attrs;
	x->v[C_POLICY] = e->policy;
	x->v[C_HASH_ALGO] = e->hash_algo;
	x->v[C_TYPE] = e->type;
	x->v[C_MODE] = e->mode;
	x->v[C_UID] = e->uid;
	x->v[C_GID] = e->gid;
	x->v[C_SIZE] = e->size;
	x->v[C_MTIME] = e->mtime_ns;
	x->v[C_CTIME] = e->ctime_ns;
	x->v[C_INODE] = (int64_t)e->inode;
	x->v[C_NLINK] = (int64_t)e->nlink;
	x->v[C_RDEV] = (int64_t)e->rdev;
	x->p[C_TARGET] = (const uint8_t *)e->target;
	x->n[C_TARGET] = e->target ? e->target_len : 0;
	x->p[C_HASH] = e->hash;
	x->n[C_HASH] = e->hash_len;
	x->p[C_ACL] = e->acl;
	x->n[C_ACL] = e->acl ? e->acl_len : 0;
	x->p[C_CAPS] = e->caps;
	x->n[C_CAPS] = e->caps ? e->caps_len : 0;
	x->p[C_SELINUX] = e->selinux;
	x->n[C_SELINUX] = e->selinux ? e->selinux_len : 0;
	x->p[C_XATTRS] = e->xattrs;
	x->n[C_XATTRS] = e->xattrs ? e->xattrs_len : 0;
	x->v[C_FLAGS] = e->flags;
	x->p[C_ROW_MAC] = mac;
	x->n[C_ROW_MAC] = mac ? mac_len : 0;
}

/* ---- history values ----
 * An entry kept in the history is one blob: a version byte (1), then every entries
 * column but row_mac in table order, integers as 8 bytes little-endian (two's
 * complement), blobs as a 4-byte little-endian length and the bytes (0: none). */

#define HIST_VERSION 1

static size_t hist_size(const struct raw *x)
{
	size_t n = 1;

	for (int c = 0; c < C_ROW_MAC; c++)
		n += cols[c].is_blob ? 4 + x->n[c] : 8;
	return n;
}

static void hist_encode(const struct raw *x, uint8_t *out)
{
	uint8_t *o = out;

	*o++ = HIST_VERSION;
	for (int c = 0; c < C_ROW_MAC; c++) {
		uint64_t v = cols[c].is_blob ? x->n[c] : (uint64_t)x->v[c];
		int width = cols[c].is_blob ? 4 : 8;

		for (int i = 0; i < width; i++)
			*o++ = (uint8_t)(v >> (8 * i));
		if (cols[c].is_blob && x->n[c] > 0) {
			memcpy(o, x->p[c], x->n[c]);
			o += x->n[c];
		}
	}
	assert((size_t)(o - out) == hist_size(x));
}

/* Decodes a history blob from the file; every length is checked against what is left. */
static int hist_decode(vigil_store *s, const uint8_t *b, size_t len, struct raw *x, struct where *w)
{
	size_t at = 1;

	memset(x, 0, sizeof(*x));
	if (len < 1 || b[0] != HIST_VERSION)
		return fail_at(s, VIGIL_E_FORMAT, w, "value", "encoding", "has an unknown version");
	for (int c = 0; c < C_ROW_MAC; c++) {
		int width = cols[c].is_blob ? 4 : 8;
		uint64_t v = 0;

		if (len - at < (size_t)width)
			return fail_at(s, VIGIL_E_FORMAT, w, "field", cols[c].name, "is truncated");
		for (int i = 0; i < width; i++)
			v |= (uint64_t)b[at + i] << (8 * i);
		at += (size_t)width;
		if (!cols[c].is_blob) {
			x->v[c] = (int64_t)v;
			continue;
		}
		if (v > cols[c].max || v > len - at)
			return fail_at(s, VIGIL_E_FORMAT, w, "field", cols[c].name,
				       "has a bad length (%llu)", (unsigned long long)v);
		x->p[c] = v ? b + at : NULL;
		x->n[c] = (size_t)v;
		at += (size_t)v;
	}
	if (at != len)
		return fail_at(s, VIGIL_E_FORMAT, w, "value", "encoding", "has %zu bytes left over",
			       len - at);
	return raw_check(s, VIGIL_E_FORMAT, x, w, "field");
}

/* ---- opening ---- */

/* mkdir -p of path's parent, new directories 0700 whatever the umask. */
static int make_parents(vigil_store *s, const char *path)
{
	char *d = strdup(path);
	int r = 0;

	if (d == NULL)
		return fail(s, VIGIL_E_NOMEM, "out of memory");
	for (char *p = d + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(d, 0700) == 0) {
			if (chmod(d, 0700) != 0) {
				r = fail(s, VIGIL_E_SYSTEM, "chmod %s: %s", d, strerror(errno));
				break;
			}
		} else if (errno != EEXIST) {
			r = fail(s, VIGIL_E_SYSTEM, "cannot create directory %s: %s", d,
				 strerror(errno));
			break;
		}
		*p = '/';
	}
	free(d);
	return r;
}

/* The pid a writer left in the lock file, if that process still exists; else 0. */
static long holder_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || pid <= 0 || pid > INT_MAX)
		return 0;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 0; /* a writer that died without clearing it */
	return pid;
}

static int take_lock(vigil_store *s, bool wait, void (*on_wait)(void *user, long holder_pid),
		     void *user)
{
	size_t n = strlen(s->path) + sizeof(".lock");
	char *lp = malloc(n);
	int op = s->mode == VIGIL_STORE_READ ? LOCK_SH : LOCK_EX;
	int fd, r = 0;
	struct stat st;

	if (lp == NULL)
		return fail(s, VIGIL_E_NOMEM, "out of memory");
	snprintf(lp, n, "%s.lock", s->path);
	fd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && op == LOCK_SH && (errno == EACCES || errno == EROFS))
		fd = open(lp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && op == LOCK_SH && (errno == EACCES || errno == EROFS || errno == ENOENT)) {
		/* A reader on a read-only medium, or without write access to the directory:
		 * no writer can be there either, and SQLite's own locks keep reads whole. */
		goto out;
	}
	if (fd < 0) {
		r = fail(s, VIGIL_E_SYSTEM, "cannot open lock file %s: %s", lp, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = fail(s, VIGIL_E_SYSTEM, "fstat %s: %s", lp, strerror(errno));
		close(fd);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = fail(s, VIGIL_E_INVALID, "lock file %s is not a regular file", lp);
		close(fd);
		goto out;
	}
	s->lock_fd = fd;
	if (flock(fd, op | LOCK_NB) != 0) {
		long pid;

		if (errno != EWOULDBLOCK) {
			r = fail(s, VIGIL_E_SYSTEM, "flock %s: %s", lp, strerror(errno));
			goto out;
		}
		pid = holder_pid(fd);
		if (!wait) {
			if (pid > 0)
				r = fail(s, VIGIL_E_LIMIT, "the baseline is locked by process %ld",
					 pid);
			else
				r = fail(s, VIGIL_E_LIMIT,
					 "the baseline is locked by another process");
			goto out;
		}
		if (on_wait != NULL)
			on_wait(user, pid);
		while (flock(fd, op) != 0) {
			if (errno != EINTR) {
				r = fail(s, VIGIL_E_SYSTEM, "flock %s: %s", lp, strerror(errno));
				goto out;
			}
		}
	}
	if (op == LOCK_EX) {
		char pid[32];
		int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

		/* Only for the message of whoever waits: a failure here changes nothing. */
		if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) != len)
			(void)ftruncate(fd, 0);
		s->holds_exclusive = true;
	}
out:
	free(lp);
	return r;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * What can be said before SQLite looks: the file is there, not empty, begins with the
 * SQLite magic, and is as long as its header says (SQLite would read zeroes past a cut
 * and may not notice at once). The header's page count is only valid when the change
 * counter matches the version-valid-for number (fileformat2.html, "In-header database
 * size"); and a hot WAL may hold pages a crashed checkpoint had not written yet, so then
 * the WAL decides.
 */
static int check_file(vigil_store *s)
{
	uint8_t h[100];
	struct stat st, wst;
	char *wal = NULL;
	int fd = -1, r = 0;
	ssize_t n;

	fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT && s->mode == VIGIL_STORE_CREATE) {
		fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return fail(s, VIGIL_E_SYSTEM, "cannot create %s: %s", s->path,
				    strerror(errno));
		if (fd >= 0 && fchmod(fd, 0600) != 0) {
			r = fail(s, VIGIL_E_SYSTEM, "chmod %s: %s", s->path, strerror(errno));
			goto out;
		}
		if (fd >= 0)
			goto out; /* new: SQLite writes the first page */
		fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	if (fd < 0) {
		if (errno == ENOENT)
			return fail(s, VIGIL_E_NOT_FOUND, "the baseline does not exist");
		return fail(s, VIGIL_E_SYSTEM, "cannot open %s: %s", s->path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		r = fail(s, VIGIL_E_SYSTEM, "fstat %s: %s", s->path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = fail(s, VIGIL_E_FORMAT, "not a vigil baseline: not a regular file");
		goto out;
	}
	if (st.st_size == 0) {
		/* init may fill an empty file; anything else expects a baseline in it. */
		if (s->mode != VIGIL_STORE_CREATE)
			r = fail(s, VIGIL_E_FORMAT, "not a vigil baseline: the file is empty");
		goto out;
	}
	n = pread(fd, h, sizeof(h), 0);
	if (n < 0) {
		r = fail(s, VIGIL_E_SYSTEM, "read %s: %s", s->path, strerror(errno));
		goto out;
	}
	if (n < (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0) {
		r = fail(s, VIGIL_E_FORMAT, "not a vigil baseline: file is not a database");
		goto out;
	}
	uint32_t page = (uint32_t)h[16] << 8 | h[17];
	if (page == 1)
		page = 65536;
	if (page < 512 || (page & (page - 1)) != 0) {
		r = fail(s, VIGIL_E_FORMAT, "baseline is corrupt or truncated: page size %u", page);
		goto out;
	}
	if ((wal = malloc(strlen(s->path) + 5)) == NULL) {
		r = fail(s, VIGIL_E_NOMEM, "out of memory");
		goto out;
	}
	sprintf(wal, "%s-wal", s->path);
	if (stat(wal, &wst) == 0 && wst.st_size > 0)
		goto out;
	if (memcmp(h + 24, h + 92, 4) == 0 && be32(h + 28) != 0) {
		uint64_t want = (uint64_t)be32(h + 28) * page;
		if ((uint64_t)st.st_size < want) {
			r = fail(s, VIGIL_E_FORMAT,
				 "baseline is corrupt or truncated: the file has %lld bytes, its "
				 "header says %llu",
				 (long long)st.st_size, (unsigned long long)want);
			goto out;
		}
	}
out:
	free(wal);
	if (fd >= 0)
		close(fd);
	return r;
}

/* One integer from a pragma or count query. */
static int query_int(vigil_store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	int r;

	if (rc != SQLITE_OK)
		return db_fail(s, rc, "read the schema");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		*out = sqlite3_column_int64(st, 0);
		r = 0;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		r = fail(s, VIGIL_E_FORMAT, "not a vigil baseline: %s gave no number", sql);
	} else {
		r = db_fail(s, rc, "read the schema");
	}
	sqlite3_finalize(st);
	return r;
}

/* One text from a query with at most one text parameter; *out NULL if no row. */
static int query_text(vigil_store *s, const char *sql, const char *arg, char **out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	int r = 0;

	*out = NULL;
	if (rc != SQLITE_OK)
		return db_fail(s, rc, "read the schema");
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		if (t == NULL || (*out = strdup((const char *)t)) == NULL)
			r = fail(s, VIGIL_E_NOMEM, "out of memory");
	} else if (rc == SQLITE_ROW) {
		r = fail(s, VIGIL_E_FORMAT, "not a vigil baseline: %s gave %s, not text", sql,
			 type_word(sqlite3_column_type(st, 0)));
	} else if (rc != SQLITE_DONE) {
		r = db_fail(s, rc, "read the schema");
	}
	sqlite3_finalize(st);
	return r;
}

static int create_schema(vigil_store *s)
{
	char sql[64];
	int r;

	/* Before the first table: 16 KiB pages take a third less CPU than 4 KiB ones to
	 * insert a million rows in walk order (shallower tree, fewer page splits). */
	if ((r = exec(s, "PRAGMA page_size = 16384", "create the schema")) != 0 ||
	    (r = exec(s, "BEGIN IMMEDIATE", "create the schema")) != 0)
		return r;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if ((r = exec(s, tables[i].sql, "create the schema")) != 0)
			goto out;
	for (size_t i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++)
		if ((r = exec(s, indexes[i], "create the schema")) != 0)
			goto out;
	snprintf(sql, sizeof(sql), "INSERT INTO meta(key, value) VALUES('schema', '%d')",
		 VIGIL_STORE_SCHEMA);
	if ((r = exec(s, sql, "create the schema")) != 0)
		goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", VIGIL_STORE_SCHEMA);
	if ((r = exec(s, sql, "create the schema")) != 0)
		goto out;
	r = exec(s, "COMMIT", "create the schema");
out:
	if (r != 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Is this file one of ours, of a version we read? Creates the schema in a new file. */
static int check_schema(vigil_store *s)
{
	int64_t version = 0, objects = 0;
	char *text = NULL, want[16];
	int r;

	if ((r = query_int(s, "PRAGMA user_version", &version)) != 0)
		return r;
	if ((r = query_text(s, "PRAGMA encoding", NULL, &text)) != 0)
		return r;
	/* Metadata and history text is read as UTF-8; a UTF-16 database would be
	 * transcoded on the way, and the seal would cover bytes nobody wrote. */
	if (text == NULL || strcmp(text, "UTF-8") != 0) {
		r = fail(s, VIGIL_E_FORMAT, "not a vigil baseline: text encoding %s",
			 text ? text : "?");
		goto out;
	}
	if (version > VIGIL_STORE_SCHEMA) {
		r = fail(s, VIGIL_E_FORMAT,
			 "baseline schema version %lld is newer than this vigil (%d): upgrade "
			 "vigil",
			 (long long)version, VIGIL_STORE_SCHEMA);
		goto out;
	}
	if (version != VIGIL_STORE_SCHEMA) {
		if ((r = query_int(s, "SELECT count(*) FROM sqlite_schema", &objects)) != 0)
			goto out;
		if (version == 0 && objects == 0 && s->mode == VIGIL_STORE_CREATE) {
			r = create_schema(s);
			goto out;
		}
		if (version == 0)
			r = fail(s, VIGIL_E_FORMAT, "not a vigil baseline: %s",
				 objects ? "an SQLite database without the vigil schema"
					 : "an empty SQLite database");
		else
			r = fail(s, VIGIL_E_FORMAT,
				 "not a vigil baseline: unknown schema version %lld",
				 (long long)version);
		goto out;
	}
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		free(text);
		r = query_text(s,
			       "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
			       tables[i].name, &text);
		if (r != 0)
			goto out;
		if (text == NULL) {
			r = fail(s, VIGIL_E_FORMAT, "not a vigil baseline: table %s is missing",
				 tables[i].name);
			goto out;
		}
		if (strcmp(text, tables[i].sql) != 0) {
			r = fail(s, VIGIL_E_FORMAT,
				 "not a vigil baseline: table %s does not have the vigil layout",
				 tables[i].name);
			goto out;
		}
	}
	free(text);
	if ((r = query_text(s, "SELECT value FROM meta WHERE key = 'schema'", NULL, &text)) != 0)
		goto out;
	snprintf(want, sizeof(want), "%d", VIGIL_STORE_SCHEMA);
	if (text == NULL) {
		r = fail(s, VIGIL_E_FORMAT,
			 "baseline is corrupt: its metadata has no schema version");
	} else if (strcmp(text, want) != 0) {
		char shown[64];
		show(shown, sizeof(shown), text, strlen(text));
		r = fail(s, VIGIL_E_FORMAT,
			 "baseline is corrupt: its metadata gives schema version %s, the file %s",
			 shown, want);
	}
out:
	free(text);
	return r;
}

/* Settings that hold before anything is read: the file may be hostile
 * (sqlite.org/security.html, "Defense Against The Dark Arts"). */
static int harden(vigil_store *s)
{
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_MS);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, SQL_VALUE_MAX);
	sqlite3_limit(s->db, SQLITE_LIMIT_ATTACHED, 0);
	if (s->mode == VIGIL_STORE_READ)
		return exec(s, "PRAGMA cell_size_check = ON; PRAGMA query_only = ON", "configure");
	return exec(s, "PRAGMA cell_size_check = ON", "configure");
}

/* Settings of a writer, once the file is known to be ours (a foreign database is never
 * switched to WAL). WAL with synchronous FULL: a commit is on disk when COMMIT returns,
 * and a power loss before that leaves the previous baseline (sqlite.org/wal.html). */
static int configure_writer(vigil_store *s)
{
	char *mode = NULL, sql[128];
	bool wal;
	int r;

	if ((r = query_text(s, "PRAGMA journal_mode = WAL", NULL, &mode)) != 0)
		return r;
	wal = mode != NULL && strcmp(mode, "wal") == 0;
	free(mode);
	if (!wal)
		return fail(s, VIGIL_E_SYSTEM, "cannot switch the baseline to WAL mode");
	snprintf(sql, sizeof(sql),
		 "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -%d",
		 CACHE_KIB);
	return exec(s, sql, "configure");
}

int vigil_store_open(const char *path, vigil_store_mode mode, bool wait,
		     void (*on_wait)(void *user, long holder_pid), void *user, vigil_store **out)
{
	vigil_store *s;
	int flags, rc, r;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VIGIL_E_NOMEM;
	s->lock_fd = -1;
	s->mode = mode;
	*out = s; /* even on failure: the caller reads vigil_store_error */
	if (path == NULL || path[0] == '\0' || mode < VIGIL_STORE_READ || mode > VIGIL_STORE_WRITE)
		return fail(s, VIGIL_E_INVALID, "no baseline path given");
	if ((s->path = strdup(path)) == NULL)
		return fail(s, VIGIL_E_NOMEM, "out of memory");
	if (mode == VIGIL_STORE_CREATE) {
		if ((r = make_parents(s, path)) != 0)
			return r;
	} else if (access(path, F_OK) != 0 && errno == ENOENT) {
		/* Before the lock: a missing baseline leaves no lock file behind. */
		return fail(s, VIGIL_E_NOT_FOUND, "the baseline does not exist");
	}
	if ((r = take_lock(s, wait, on_wait, user)) != 0)
		return r;
	if ((r = check_file(s)) != 0)
		return r;
	/* No SQLite mutex: a handle is used by one thread at a time (baseline.c holds its
	 * lock around every call), and 26 API calls per row each taking one cost more than
	 * the insert. */
	flags = mode == VIGIL_STORE_READ ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	flags |= SQLITE_OPEN_NOMUTEX;
	rc = sqlite3_open_v2(path, &s->db, flags, NULL);
	if (rc != SQLITE_OK)
		return db_fail(s, rc, "open");
	if ((r = harden(s)) != 0 || (r = check_schema(s)) != 0)
		return r;
	if (mode != VIGIL_STORE_READ && (r = configure_writer(s)) != 0)
		return r;
	for (int q = 0; q < Q_N; q++) {
		rc = sqlite3_prepare_v3(s->db, queries[q], -1, SQLITE_PREPARE_PERSISTENT, &s->q[q],
					NULL);
		if (rc != SQLITE_OK)
			return db_fail(s, rc, "prepare");
	}
	s->err[0] = '\0';
	return 0;
}

void vigil_store_close(vigil_store *s)
{
	if (s == NULL)
		return;
	if (s->db != NULL) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		for (int q = 0; q < Q_N; q++)
			sqlite3_finalize(s->q[q]);
		/* Closing the last connection checkpoints the WAL: still under our lock. */
		sqlite3_close(s->db);
	}
	if (s->lock_fd >= 0) {
		/* Only ours to clear: an opener refused the lock must not erase the pid. */
		if (s->holds_exclusive)
			(void)ftruncate(s->lock_fd, 0);
		close(s->lock_fd);
	}
	free(s->path);
	free(s);
}

void vigil_store_unlock(vigil_store *s)
{
	if (s != NULL && s->lock_fd >= 0 && !s->holds_exclusive) {
		close(s->lock_fd);
		s->lock_fd = -1;
	}
}

const char *vigil_store_error(const vigil_store *s)
{
	return s ? s->err : "";
}

/* ---- transactions ---- */

static int writable(vigil_store *s)
{
	if (s->db == NULL)
		return fail(s, VIGIL_E_INVALID, "the baseline is not open");
	if (s->mode == VIGIL_STORE_READ)
		return fail(s, VIGIL_E_INVALID, "the baseline is open read-only");
	return 0;
}

int vigil_store_begin(vigil_store *s)
{
	int r;

	if ((r = writable(s)) != 0)
		return r;
	return exec(s, "BEGIN IMMEDIATE", "begin a transaction");
}

int vigil_store_commit(vigil_store *s)
{
	int r;

	if ((r = writable(s)) != 0)
		return r;
	return exec(s, "COMMIT", "commit");
}

int vigil_store_begin_read(vigil_store *s)
{
	/* Deferred: the shared lock is taken by the first read and kept until the end. */
	return exec(s, "BEGIN", "begin a read transaction");
}

void vigil_store_rollback(vigil_store *s)
{
	if (s != NULL && s->db != NULL && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- entries ---- */

int vigil_store_clear(vigil_store *s)
{
	int r;

	if ((r = writable(s)) != 0)
		return r;
	return run(s, s->q[Q_CLEAR], "clear the entries");
}

int vigil_store_put(vigil_store *s, const vigil_entry *e, const uint8_t *row_mac, size_t mac_len)
{
	struct where w = {.what = "entry"};
	sqlite3_stmt *st;
	struct raw x;
	int r;

	if ((r = writable(s)) != 0)
		return r;
	raw_from_entry(e, row_mac, mac_len, &x);
	w.path = x.p[C_PATH];
	w.path_len = x.n[C_PATH];
	/* Nothing goes in that the reader would refuse. */
	if ((r = raw_check(s, VIGIL_E_INVALID, &x, &w, "field")) != 0)
		return r;
	st = s->q[Q_PUT];
	for (int c = 0; c < C_N; c++) {
		if (!cols[c].is_blob)
			sqlite3_bind_int64(st, c + 1, x.v[c]);
		else if (x.n[c] > 0)
			sqlite3_bind_blob64(st, c + 1, x.p[c], x.n[c], SQLITE_STATIC);
		else if (cols[c].nullable)
			sqlite3_bind_null(st, c + 1);
		else
			sqlite3_bind_zeroblob(st, c + 1, 0);
	}
	return run(s, st, "store an entry");
}

int vigil_store_delete(vigil_store *s, const char *path, size_t path_len)
{
	sqlite3_stmt *st = s->q[Q_DELETE];
	int r;

	if ((r = writable(s)) != 0)
		return r;
	sqlite3_bind_blob64(st, 1, path, path_len, SQLITE_STATIC);
	if ((r = run(s, st, "delete an entry")) != 0)
		return r;
	if (sqlite3_changes(s->db) == 0) {
		char p[256];
		show(p, sizeof(p), path, path_len);
		return fail(s, VIGIL_E_NOT_FOUND, "no entry for %s", p);
	}
	return 0;
}

int vigil_store_get(vigil_store *s, const char *path, size_t path_len, vigil_entry *e)
{
	return vigil_store_get_row(s, path, path_len, e, NULL, NULL);
}

int vigil_store_get_row(vigil_store *s, const char *path, size_t path_len, vigil_entry *e,
			uint8_t *row_mac, size_t *mac_len)
{
	struct where w = {.what = "row", .path = (const uint8_t *)path, .path_len = path_len};
	sqlite3_stmt *st;
	vigil_entry b;
	struct raw x;
	bool temp;
	int rc, r;

	if ((r = acquire(s, Q_GET, &st, &temp)) != 0)
		return r;
	sqlite3_bind_blob64(st, 1, path, path_len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		char p[256];
		show(p, sizeof(p), path, path_len);
		r = fail(s, VIGIL_E_NOT_FOUND, "no entry for %s", p);
	} else if (rc != SQLITE_ROW) {
		r = db_fail(s, rc, "read an entry");
	} else if ((r = raw_from_stmt(s, st, &x, &w)) == 0) {
		raw_to_entry(&x, &b);
		if ((r = vigil_entry_copy(e, &b)) != 0)
			r = fail(s, r, "out of memory");
		if (r == 0 && row_mac != NULL) {
			/* raw_check bounds it by MAC_MAX; an empty blob comes back as NULL. */
			if (x.n[C_ROW_MAC] > 0)
				memcpy(row_mac, x.p[C_ROW_MAC], x.n[C_ROW_MAC]);
			*mac_len = x.n[C_ROW_MAC];
		}
	}
	release(st, temp);
	return r;
}

/* Steps through st, handing each checked row to fn. */
static int each_rows(vigil_store *s, sqlite3_stmt *st,
		     int (*fn)(void *user, const vigil_entry *e, const uint8_t *row_mac,
			       size_t mac_len),
		     void *user)
{
	int rc, r;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct where w = {.what = "row"};
		vigil_entry e;
		struct raw x;

		if ((r = raw_from_stmt(s, st, &x, &w)) != 0)
			return r;
		raw_to_entry(&x, &e);
		if ((r = fn(user, &e, x.p[C_ROW_MAC], x.n[C_ROW_MAC])) != 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : db_fail(s, rc, "read the entries");
}

int vigil_store_each(vigil_store *s, const char *prefix, size_t prefix_len,
		     int (*fn)(void *user, const vigil_entry *e, const uint8_t *row_mac,
			       size_t mac_len),
		     void *user)
{
	sqlite3_stmt *st;
	char *b = NULL;
	size_t n;
	bool temp, root;
	int r;

	/* "/etc/" means "/etc"; an empty prefix, everything. */
	while (prefix != NULL && prefix_len > 1 && prefix[prefix_len - 1] == '/')
		prefix_len--;
	if (prefix == NULL || prefix_len == 0) {
		if ((r = acquire(s, Q_ALL, &st, &temp)) != 0)
			return r;
		r = each_rows(s, st, fn, user);
		release(st, temp);
		return r;
	}
	/* The prefix itself first: it sorts before every path below it. */
	root = prefix_len == 1 && prefix[0] == '/';
	if (!root) {
		if ((r = acquire(s, Q_GET, &st, &temp)) != 0)
			return r;
		sqlite3_bind_blob64(st, 1, prefix, prefix_len, SQLITE_STATIC);
		r = each_rows(s, st, fn, user);
		release(st, temp);
		if (r != 0)
			return r;
	}
	/* Blobs compare with memcmp (sqlite.org/datatype3.html, "Comparison"), so the paths
	 * below P are the range [P "/", P "0"): '0' is the byte after '/'. Below "/" is
	 * every path that starts with "/". */
	n = root ? 0 : prefix_len;
	if ((b = malloc(2 * (n + 1))) == NULL)
		return fail(s, VIGIL_E_NOMEM, "out of memory");
	memcpy(b, prefix, n);
	b[n] = '/';
	memcpy(b + n + 1, prefix, n);
	b[2 * n + 1] = '0';
	if ((r = acquire(s, Q_RANGE, &st, &temp)) == 0) {
		sqlite3_bind_blob64(st, 1, b, n + 1, SQLITE_STATIC);
		sqlite3_bind_blob64(st, 2, b + n + 1, n + 1, SQLITE_STATIC);
		r = each_rows(s, st, fn, user);
		release(st, temp);
	}
	free(b);
	return r;
}

int vigil_store_each_mac(vigil_store *s,
			 int (*fn)(void *user, const char *path, size_t path_len,
				   const uint8_t *row_mac, size_t mac_len),
			 void *user)
{
	static const int want[2] = {C_PATH, C_ROW_MAC};
	sqlite3_stmt *st;
	bool temp;
	int rc, r = 0;

	if ((r = acquire(s, Q_MACS, &st, &temp)) != 0)
		return r;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct where w = {.what = "row"};
		const uint8_t *p[2];
		size_t n[2];

		/* The same checks as raw_from_stmt, for the two columns read. */
		for (int i = 0; i < 2 && r == 0; i++) {
			int c = want[i], t = sqlite3_column_type(st, i);

			if (t != SQLITE_BLOB) {
				if (c == C_PATH && t == SQLITE_TEXT) {
					w.path = sqlite3_column_text(st, i);
					w.path_len = (size_t)sqlite3_column_bytes(st, i);
				}
				r = fail_at(s, VIGIL_E_FORMAT, &w, "column", cols[c].name,
					    "holds %s, not a blob", type_word(t));
				break;
			}
			p[i] = sqlite3_column_blob(st, i);
			n[i] = (size_t)sqlite3_column_bytes(st, i);
			if (n[i] > 0 && p[i] == NULL)
				r = fail(s, VIGIL_E_NOMEM, "out of memory reading column %s",
					 cols[c].name);
			else if (n[i] > cols[c].max)
				r = fail_at(s, VIGIL_E_FORMAT, &w, "column", cols[c].name,
					    "holds %zu bytes (at most %zu)", n[i], cols[c].max);
			if (c == C_PATH) {
				w.path = p[i];
				w.path_len = n[i];
			}
		}
		if (r == 0 && n[0] == 0)
			r = fail_at(s, VIGIL_E_FORMAT, &w, "column", "path", "is empty");
		if (r == 0 && memchr(p[0], '\0', n[0]) != NULL)
			r = fail_at(s, VIGIL_E_FORMAT, &w, "column", "path", "holds a NUL byte");
		if (r == 0)
			r = fn(user, (const char *)p[0], n[0], p[1], n[1]);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_fail(s, rc, "read the entries");
	release(st, temp);
	return r;
}

int vigil_store_count(vigil_store *s, uint64_t *out)
{
	sqlite3_stmt *st;
	bool temp;
	int rc, r;

	if ((r = acquire(s, Q_COUNT, &st, &temp)) != 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(st, 0);
		r = 0;
	} else {
		r = db_fail(s, rc, "count the entries");
	}
	release(st, temp);
	return r;
}

/* ---- metadata ---- */

static int check_text(vigil_store *s, sqlite3_stmt *st, int c, const char *what, const char *name,
		      bool nullable, const char **out)
{
	int t = sqlite3_column_type(st, c);
	int n;

	*out = NULL;
	if (t == SQLITE_NULL && nullable)
		return 0;
	if (t != SQLITE_TEXT)
		return fail(s, VIGIL_E_FORMAT, "%s %s holds %s, not text", what, name,
			    type_word(t));
	*out = (const char *)sqlite3_column_text(st, c);
	n = sqlite3_column_bytes(st, c);
	if (*out == NULL)
		return fail(s, VIGIL_E_NOMEM, "out of memory");
	if ((size_t)n > META_MAX)
		return fail(s, VIGIL_E_FORMAT, "%s %s is too long (%d bytes)", what, name, n);
	if (strlen(*out) != (size_t)n)
		return fail(s, VIGIL_E_FORMAT, "%s %s holds a NUL byte", what, name);
	return 0;
}

int vigil_store_meta_set(vigil_store *s, const char *key, const char *value)
{
	sqlite3_stmt *st = s->q[Q_META_SET];
	int r;

	if ((r = writable(s)) != 0)
		return r;
	if (strlen(value) > META_MAX)
		return fail(s, VIGIL_E_INVALID, "metadata %s is too long", key);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	return run(s, st, "write metadata");
}

int vigil_store_meta_get(vigil_store *s, const char *key, char **out)
{
	sqlite3_stmt *st;
	const char *v;
	bool temp;
	int rc, r;

	*out = NULL;
	if ((r = acquire(s, Q_META_GET, &st, &temp)) != 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		r = fail(s, VIGIL_E_NOT_FOUND, "no metadata %s", key);
	else if (rc != SQLITE_ROW)
		r = db_fail(s, rc, "read metadata");
	else if ((r = check_text(s, st, 0, "metadata", key, false, &v)) == 0 &&
		 (*out = strdup(v)) == NULL)
		r = fail(s, VIGIL_E_NOMEM, "out of memory");
	release(st, temp);
	return r;
}

int vigil_store_meta_each(vigil_store *s, int (*fn)(void *user, const char *key, const char *value),
			  void *user)
{
	sqlite3_stmt *st;
	const char *k, *v;
	bool temp;
	int rc, r;

	if ((r = acquire(s, Q_META_ALL, &st, &temp)) != 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = check_text(s, st, 0, "metadata", "key", false, &k)) != 0 ||
		    (r = check_text(s, st, 1, "metadata", k, false, &v)) != 0 ||
		    (r = fn(user, k, v)) != 0)
			goto out;
	}
	r = rc == SQLITE_DONE ? 0 : db_fail(s, rc, "read metadata");
out:
	release(st, temp);
	return r;
}

/* ---- history ---- */

int vigil_store_event_begin(vigil_store *s, const char *action, const char *user_name, uint32_t uid,
			    const char *note, int64_t *event_id)
{
	sqlite3_stmt *st = s->q[Q_EVENT_ADD];
	struct timespec now;
	int r;

	if ((r = writable(s)) != 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &now);
	sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user_name ? user_name : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, uid);
	sqlite3_bind_int64(st, 4, (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	if (note != NULL)
		sqlite3_bind_text(st, 5, note, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	if ((r = run(s, st, "record the event")) != 0)
		return r;
	*event_id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* Encodes one side of a history record; *out NULL for a NULL entry. */
static int hist_blob(vigil_store *s, const vigil_entry *e, uint8_t **out, size_t *len)
{
	struct where w = {.what = "entry"};
	struct raw x;
	int r;

	*out = NULL;
	*len = 0;
	if (e == NULL)
		return 0;
	raw_from_entry(e, NULL, 0, &x);
	w.path = x.p[C_PATH];
	w.path_len = x.n[C_PATH];
	if ((r = raw_check(s, VIGIL_E_INVALID, &x, &w, "field")) != 0)
		return r;
	*len = hist_size(&x);
	if ((*out = malloc(*len)) == NULL)
		return fail(s, VIGIL_E_NOMEM, "out of memory");
	hist_encode(&x, *out);
	return 0;
}

int vigil_store_history_add(vigil_store *s, int64_t event_id, const vigil_entry *old_e,
			    const vigil_entry *new_e)
{
	sqlite3_stmt *st = s->q[Q_HISTORY_ADD];
	const vigil_entry *e = old_e ? old_e : new_e;
	uint8_t *ob = NULL, *nb = NULL;
	size_t ol, nl;
	int r;

	if ((r = writable(s)) != 0)
		return r;
	if (e == NULL || e->path == NULL)
		return fail(s, VIGIL_E_INVALID, "a history record needs an old or a new value");
	if (old_e && new_e &&
	    (old_e->path_len != new_e->path_len ||
	     memcmp(old_e->path, new_e->path, old_e->path_len) != 0))
		return fail(s, VIGIL_E_INVALID, "the old and new values are of different paths");
	if ((r = hist_blob(s, old_e, &ob, &ol)) != 0 || (r = hist_blob(s, new_e, &nb, &nl)) != 0)
		goto out;
	sqlite3_bind_int64(st, 1, event_id);
	sqlite3_bind_blob64(st, 2, e->path, e->path_len, SQLITE_STATIC);
	if (ob)
		sqlite3_bind_blob64(st, 3, ob, ol, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	if (nb)
		sqlite3_bind_blob64(st, 4, nb, nl, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	r = run(s, st, "record history");
out:
	free(ob);
	free(nb);
	return r;
}

/* One side of a history row: NULL, or a blob that decodes to an entry of that path. */
static int hist_side(vigil_store *s, sqlite3_stmt *st, int c, struct where *w, vigil_entry *owned,
		     bool *present)
{
	int t = sqlite3_column_type(st, c);
	vigil_entry b;
	struct raw x;
	int r;

	*present = false;
	if (t == SQLITE_NULL)
		return 0;
	if (t != SQLITE_BLOB)
		return fail_at(s, VIGIL_E_FORMAT, w, "column", c == 8 ? "old" : "new",
			       "holds %s, not a blob", type_word(t));
	const uint8_t *p = sqlite3_column_blob(st, c);
	size_t n = (size_t)sqlite3_column_bytes(st, c);
	if ((r = hist_decode(s, p, n, &x, w)) != 0)
		return r;
	if (x.n[C_PATH] != w->path_len || memcmp(x.p[C_PATH], w->path, w->path_len) != 0)
		return fail_at(s, VIGIL_E_FORMAT, w, "field", "path",
			       "is not the path of its record");
	raw_to_entry(&x, &b);
	if ((r = vigil_entry_copy(owned, &b)) != 0)
		return fail(s, r, "out of memory");
	*present = true;
	return 0;
}

int vigil_store_history_each(vigil_store *s, const char *path, size_t path_len,
			     int (*fn)(void *user, const vigil_history_record *r), void *user)
{
	enum query q = path ? Q_HISTORY_PATH : Q_HISTORY_ALL;
	sqlite3_stmt *st;
	bool temp;
	int rc, r;

	if ((r = acquire(s, q, &st, &temp)) != 0)
		return r;
	if (path != NULL)
		sqlite3_bind_blob64(st, 1, path, path_len, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		vigil_history_record h = {0};
		vigil_entry old_e = {0}, new_e = {0};
		struct where w = {.what = "history record"};
		const char *note;
		bool has_old = false, has_new = false;
		int t;

		w.id = sqlite3_column_int64(st, 0);
		h.event_id = w.id;
		if ((t = sqlite3_column_type(st, 0)) != SQLITE_INTEGER) {
			r = fail(s, VIGIL_E_FORMAT, "event: column id holds %s, not an integer",
				 type_word(t));
			goto out;
		}
		if ((r = check_text(s, st, 1, "event", "action", false, &h.action)) != 0 ||
		    (r = check_text(s, st, 2, "event", "user_name", false, &h.user_name)) != 0 ||
		    (r = check_text(s, st, 5, "event", "note", true, &note)) != 0)
			goto out;
		h.note = note;
		for (int c = 3; c <= 4; c++) {
			if ((t = sqlite3_column_type(st, c)) != SQLITE_INTEGER) {
				r = fail(s, VIGIL_E_FORMAT,
					 "event %lld: column %s holds %s, not an integer",
					 (long long)h.event_id, c == 3 ? "uid" : "time_us",
					 type_word(t));
				goto out;
			}
		}
		int64_t uid = sqlite3_column_int64(st, 3);
		if (uid < 0 || uid > UINT32_MAX) {
			r = fail(s, VIGIL_E_FORMAT, "event %lld: column uid holds %lld",
				 (long long)h.event_id, (long long)uid);
			goto out;
		}
		h.uid = (uint32_t)uid;
		h.time_us = sqlite3_column_int64(st, 4);
		if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
			if ((t = sqlite3_column_type(st, 6)) != SQLITE_INTEGER ||
			    (t = sqlite3_column_type(st, 7)) != SQLITE_BLOB) {
				r = fail(s, VIGIL_E_FORMAT,
					 "history of event %lld: a column holds %s",
					 (long long)h.event_id, type_word(t));
				goto out;
			}
			w.id = sqlite3_column_int64(st, 6);
			w.path = sqlite3_column_blob(st, 7);
			w.path_len = (size_t)sqlite3_column_bytes(st, 7);
			w.part = "old value";
			if ((r = hist_side(s, st, 8, &w, &old_e, &has_old)) == 0) {
				w.part = "new value";
				r = hist_side(s, st, 9, &w, &new_e, &has_new);
			}
			if (r == 0 && !has_old && !has_new)
				r = fail(s, VIGIL_E_FORMAT,
					 "history record %lld has neither an old nor a new value",
					 (long long)w.id);
		}
		if (r == 0) {
			h.old_e = has_old ? &old_e : NULL;
			h.new_e = has_new ? &new_e : NULL;
			r = fn(user, &h);
		}
		vigil_entry_clear(&old_e);
		vigil_entry_clear(&new_e);
		if (r != 0)
			goto out;
	}
	r = rc == SQLITE_DONE ? 0 : db_fail(s, rc, "read the history");
out:
	release(st, temp);
	return r;
}

/* ---- history digest ---- */

struct feed {
	EVP_MD_CTX *md;
	bool ok;
};

static void feed(struct feed *f, const void *p, size_t n)
{
	if (f->ok && n > 0 && EVP_DigestUpdate(f->md, p, n) != 1)
		f->ok = false;
}

static void feed_u64(struct feed *f, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	feed(f, b, sizeof(b));
}

/* A column as [type byte][8-byte length or value][bytes]: any change of type, length or
 * content changes the digest, and no two rows feed the same bytes. */
static void feed_col(struct feed *f, sqlite3_stmt *st, int c)
{
	int t = sqlite3_column_type(st, c);
	uint8_t tag = (uint8_t)t;

	feed(f, &tag, 1);
	switch (t) {
	case SQLITE_INTEGER:
		feed_u64(f, (uint64_t)sqlite3_column_int64(st, c));
		break;
	case SQLITE_TEXT:
	case SQLITE_BLOB: {
		const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, c)
						 : sqlite3_column_blob(st, c);
		size_t n = (size_t)sqlite3_column_bytes(st, c);
		feed_u64(f, n);
		feed(f, p, n);
		break;
	}
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(st, c);
		uint64_t v;
		memcpy(&v, &d, sizeof(v));
		feed_u64(f, v);
		break;
	}
	default:
		break;
	}
}

/*
 * SHA-256 over "vigil-history-v1", then every event in id order as 'E' and its six
 * columns, then every history row in id order as 'H' and its five columns, each column
 * as feed_col writes it. Types are not checked here: whatever the file holds is digested
 * exactly, so the seal covers it either way; history_each is where they are judged.
 */
int vigil_store_history_digest(vigil_store *s, uint8_t out[32])
{
	static const enum query qs[2] = {Q_EVENTS_DIGEST, Q_HISTORY_DIGEST};
	static const char tags[2] = {'E', 'H'};
	static const int ncols[2] = {6, 5};
	struct feed f = {.md = EVP_MD_CTX_new(), .ok = true};
	unsigned int len = 0;
	int rc, r = 0;

	if (f.md == NULL || EVP_DigestInit_ex(f.md, EVP_sha256(), NULL) != 1) {
		r = fail(s, VIGIL_E_CRYPTO, "SHA-256 is not available");
		goto out;
	}
	feed(&f, "vigil-history-v1", 16);
	for (int k = 0; k < 2 && r == 0; k++) {
		sqlite3_stmt *st;
		bool temp;

		if ((r = acquire(s, qs[k], &st, &temp)) != 0)
			goto out;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			feed(&f, &tags[k], 1);
			for (int c = 0; c < ncols[k]; c++)
				feed_col(&f, st, c);
		}
		if (rc != SQLITE_DONE)
			r = db_fail(s, rc, "read the history");
		release(st, temp);
	}
	if (r == 0 && (!f.ok || EVP_DigestFinal_ex(f.md, out, &len) != 1 || len != 32))
		r = fail(s, VIGIL_E_CRYPTO, "SHA-256 failed");
out:
	EVP_MD_CTX_free(f.md);
	return r;
}
