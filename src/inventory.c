/* SPDX-License-Identifier: Apache-2.0 */
/* The secrets inventory (SQLite): which files held findings, with their identity (device,
 * inode, size, mtime), counts per category and the findings' keyed fingerprints. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vigil/inventory.h"

/* "VGIN": tells an inventory from any other SQLite file (a baseline, say). */
#define APP_ID  0x5647494e
#define SCHEMA  1
#define BUSY_MS 5000
#define FP_LEN  (VIGIL_FINGERPRINT_MAX - 1)

struct vigil_inventory {
	sqlite3 *db;
	bool writable;
	bool recording;
	char **roots; /* canonical roots of the open record */
	size_t nroots;
	/* The file whose findings are arriving: kept until the next file starts. */
	char *cur_path; /* as the scanner gave it */
	size_t cur_len;
	uint64_t cur_counts[VIGIL_CAT_COUNT];
	char (*cur_fps)[VIGIL_FINGERPRINT_MAX];
	unsigned char *cur_fp_cat;
	size_t cur_nfps;
	uint64_t files;
	char err[512];
};

static int fail(vigil_inventory *inv, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(vigil_inventory *inv, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(inv->err, sizeof(inv->err), fmt, ap);
	va_end(ap);
	return r;
}

static int db_fail(vigil_inventory *inv, const char *what)
{
	int code = sqlite3_errcode(inv->db);

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return fail(inv, VIGIL_E_LIMIT, "the inventory is busy (%s)", what);
	if (code == SQLITE_NOMEM)
		return fail(inv, VIGIL_E_NOMEM, "out of memory (%s)", what);
	return fail(inv, VIGIL_E_FORMAT, "inventory database error (%s): %s", what,
		    sqlite3_errmsg(inv->db));
}

static int exec(vigil_inventory *inv, const char *sql, const char *what)
{
	if (sqlite3_exec(inv->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(inv, what);
	return 0;
}

static int query_int(vigil_inventory *inv, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int r = 0;

	if (sqlite3_prepare_v2(inv->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		r = db_fail(inv, "read the header");
	else
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return r;
}

/* The column of each category in the files table: its vigil_category_name. */
static int create_schema(vigil_inventory *inv)
{
	char sql[2048];
	size_t n = 0;
	int r;

	n += (size_t)snprintf(sql + n, sizeof(sql) - n,
			      "CREATE TABLE IF NOT EXISTS files(id INTEGER PRIMARY KEY, "
			      "path BLOB NOT NULL UNIQUE, dev INTEGER NOT NULL, "
			      "ino INTEGER NOT NULL, size INTEGER NOT NULL, "
			      "mtime_ns INTEGER NOT NULL, recorded_us INTEGER NOT NULL");
	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s INTEGER NOT NULL DEFAULT 0",
				      vigil_category_name((vigil_category)c));
	snprintf(sql + n, sizeof(sql) - n,
		 ");CREATE TABLE IF NOT EXISTS fingerprints(file_id INTEGER NOT NULL "
		 "REFERENCES files(id) ON DELETE CASCADE, category INTEGER NOT NULL, "
		 "fingerprint TEXT NOT NULL, PRIMARY KEY(file_id, fingerprint)) WITHOUT ROWID;"
		 "PRAGMA application_id = %d; PRAGMA user_version = %d;",
		 APP_ID, SCHEMA);
	if ((r = exec(inv, "BEGIN IMMEDIATE", "create the schema")) != 0)
		return r;
	if ((r = exec(inv, sql, "create the schema")) != 0) {
		(void)sqlite3_exec(inv->db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	return exec(inv, "COMMIT", "create the schema");
}

static int check_schema(vigil_inventory *inv, const char *path)
{
	int64_t app = 0, version = 0;
	int r;

	if ((r = query_int(inv, "PRAGMA application_id", &app)) != 0 ||
	    (r = query_int(inv, "PRAGMA user_version", &version)) != 0) {
		if (sqlite3_errcode(inv->db) == SQLITE_NOTADB)
			return fail(inv, VIGIL_E_FORMAT, "%s is not a vigil inventory", path);
		return r;
	}
	if (app == 0 && version == 0 && inv->writable) {
		int64_t tables = 0;

		/* Only a new, empty file: never add tables to someone else's database. */
		if ((r = query_int(inv, "SELECT count(*) FROM sqlite_master", &tables)) != 0)
			return r;
		if (tables == 0)
			return create_schema(inv);
	}
	if (app != APP_ID)
		return fail(inv, VIGIL_E_FORMAT, "%s is not a vigil inventory", path);
	if (version > SCHEMA)
		return fail(inv, VIGIL_E_FORMAT,
			    "%s was written by a newer vigil (schema %lld; this one reads %d)",
			    path, (long long)version, SCHEMA);
	return 0;
}

/* The inventory maps where secrets lie: only its owner may read it. */
static int make_file(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash != NULL && slash != path && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int vigil_inventory_open(const char *path, bool writable, vigil_inventory **out, char *err,
			 size_t cap)
{
	vigil_inventory *inv = NULL;
	struct stat st;
	int r, e;

	*out = NULL;
	if (cap > 0)
		err[0] = '\0';
	if (path == NULL || *path == '\0') {
		snprintf(err, cap, "no inventory path");
		return VIGIL_E_INVALID;
	}
	if ((inv = calloc(1, sizeof(*inv))) == NULL)
		return VIGIL_E_NOMEM;
	inv->writable = writable;
	if (stat(path, &st) != 0) {
		e = errno;
		if (e != ENOENT || !writable) {
			snprintf(err, cap, "%s: %s", path, strerror(e));
			r = e == ENOENT ? VIGIL_E_NOT_FOUND : VIGIL_E_SYSTEM;
			free(inv);
			errno = e;
			return r;
		}
		if (make_file(path) != 0) {
			e = errno;
			snprintf(err, cap, "cannot create %s: %s", path, strerror(e));
			free(inv);
			errno = e;
			return VIGIL_E_SYSTEM;
		}
	}
	if (sqlite3_open_v2(path, &inv->db, writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
			    NULL) != SQLITE_OK) {
		snprintf(err, cap, "cannot open %s: %s", path,
			 inv->db ? sqlite3_errmsg(inv->db) : "out of memory");
		r = VIGIL_E_FORMAT;
		goto fail;
	}
	sqlite3_busy_timeout(inv->db, BUSY_MS);
	if ((r = exec(inv,
		      writable ? "PRAGMA foreign_keys = ON; PRAGMA cell_size_check = ON"
			       : "PRAGMA cell_size_check = ON; PRAGMA query_only = ON",
		      "configure")) != 0 ||
	    (r = check_schema(inv, path)) != 0) {
		snprintf(err, cap, "%s", inv->err);
		goto fail;
	}
	*out = inv;
	return 0;
fail:
	sqlite3_close(inv->db);
	free(inv);
	return r;
}

static void cur_reset(vigil_inventory *inv)
{
	free(inv->cur_path);
	inv->cur_path = NULL;
	inv->cur_len = 0;
	memset(inv->cur_counts, 0, sizeof(inv->cur_counts));
	inv->cur_nfps = 0;
}

static void roots_free(vigil_inventory *inv)
{
	for (size_t i = 0; i < inv->nroots; i++)
		free(inv->roots[i]);
	free(inv->roots);
	inv->roots = NULL;
	inv->nroots = 0;
}

void vigil_inventory_record_abort(vigil_inventory *inv)
{
	if (inv == NULL || !inv->recording)
		return;
	(void)sqlite3_exec(inv->db, "ROLLBACK", NULL, NULL, NULL);
	inv->recording = false;
	cur_reset(inv);
	roots_free(inv);
}

void vigil_inventory_close(vigil_inventory *inv)
{
	if (inv == NULL)
		return;
	vigil_inventory_record_abort(inv);
	free(inv->cur_fps);
	free(inv->cur_fp_cat);
	sqlite3_close(inv->db);
	free(inv);
}

const char *vigil_inventory_error(const vigil_inventory *inv)
{
	return inv ? inv->err : "";
}

/* Removes what an earlier record held under root: the root itself, or paths below it. */
static int forget_root(vigil_inventory *inv, const char *root)
{
	sqlite3_stmt *st = NULL;
	size_t n = strlen(root);
	char *prefix = malloc(n + 2);
	int r = 0;

	if (prefix == NULL)
		return fail(inv, VIGIL_E_NOMEM, "out of memory");
	memcpy(prefix, root, n);
	if (n == 0 || root[n - 1] != '/')
		prefix[n++] = '/';
	prefix[n] = '\0';
	/* Byte comparison of BLOBs: names need not be text. */
	if (sqlite3_prepare_v2(inv->db,
			       "DELETE FROM files WHERE path = CAST(?1 AS BLOB) OR "
			       "substr(path, 1, ?2) = CAST(?3 AS BLOB)",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(inv, "replace the root's entries");
		goto out;
	}
	sqlite3_bind_blob(st, 1, root, (int)strlen(root), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)n);
	sqlite3_bind_blob(st, 3, prefix, (int)n, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_fail(inv, "replace the root's entries");
out:
	sqlite3_finalize(st);
	free(prefix);
	return r;
}

int vigil_inventory_record_begin(vigil_inventory *inv, const char *const *roots, size_t nroots)
{
	int r;

	if (!inv->writable || inv->recording)
		return fail(inv, VIGIL_E_INVALID, "no record can be started on this handle");
	if (inv->cur_fps == NULL &&
	    ((inv->cur_fps = calloc(VIGIL_INVENTORY_MAX_FPS, sizeof(*inv->cur_fps))) == NULL ||
	     (inv->cur_fp_cat = calloc(VIGIL_INVENTORY_MAX_FPS, 1)) == NULL))
		return fail(inv, VIGIL_E_NOMEM, "out of memory");
	if ((inv->roots = calloc(nroots ? nroots : 1, sizeof(*inv->roots))) == NULL)
		return fail(inv, VIGIL_E_NOMEM, "out of memory");
	for (size_t i = 0; i < nroots; i++) {
		char *c = realpath(roots[i], NULL);

		if (c == NULL) {
			if (errno == ENOMEM) {
				roots_free(inv);
				return fail(inv, VIGIL_E_NOMEM, "out of memory");
			}
			continue;
		}
		inv->roots[inv->nroots++] = c;
	}
	/* IMMEDIATE: the write lock now, so a busy inventory fails before the scan runs. */
	if ((r = exec(inv, "BEGIN IMMEDIATE", "start the record")) != 0) {
		roots_free(inv);
		return r;
	}
	inv->recording = true;
	inv->files = 0;
	cur_reset(inv);
	/* What the roots held goes now, inside the transaction: the record's files are
	 * added back as their findings arrive, and nothing changes for readers until the
	 * commit. */
	for (size_t i = 0; i < inv->nroots; i++)
		if ((r = forget_root(inv, inv->roots[i])) != 0) {
			vigil_inventory_record_abort(inv);
			return r;
		}
	return 0;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Writes the file whose findings were gathered. A file gone or unreadable by now is
 * left out: there is nothing to watch there. */
static int flush_file(vigil_inventory *inv)
{
	sqlite3_stmt *st = NULL;
	char sql[1024];
	size_t n = 0;
	struct stat sb;
	char *canon = NULL;
	int64_t id;
	int r = 0;

	if (inv->cur_path == NULL)
		return 0;
	if ((canon = realpath(inv->cur_path, NULL)) == NULL || stat(canon, &sb) != 0 ||
	    !S_ISREG(sb.st_mode))
		goto out;
	n += (size_t)snprintf(sql + n, sizeof(sql) - n,
			      "INSERT INTO files(path, dev, ino, size, mtime_ns, recorded_us");
	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s",
				      vigil_category_name((vigil_category)c));
	n += (size_t)snprintf(sql + n, sizeof(sql) - n, ") VALUES(?, ?, ?, ?, ?, ?");
	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", ?");
	/* Two roots of one run may hold the same file: the last word wins. */
	n += (size_t)snprintf(sql + n, sizeof(sql) - n,
			      ") ON CONFLICT(path) DO UPDATE SET dev = excluded.dev, "
			      "ino = excluded.ino, size = excluded.size, "
			      "mtime_ns = excluded.mtime_ns, recorded_us = excluded.recorded_us");
	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s = excluded.%s",
				      vigil_category_name((vigil_category)c),
				      vigil_category_name((vigil_category)c));
	snprintf(sql + n, sizeof(sql) - n, " RETURNING id");
	if (sqlite3_prepare_v2(inv->db, sql, -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(inv, "record a file");
		goto out;
	}
	sqlite3_bind_blob(st, 1, canon, (int)strlen(canon), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)sb.st_dev);
	sqlite3_bind_int64(st, 3, (int64_t)sb.st_ino);
	sqlite3_bind_int64(st, 4, (int64_t)sb.st_size);
	sqlite3_bind_int64(st, 5, (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
	sqlite3_bind_int64(st, 6, now_us());
	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		sqlite3_bind_int64(st, 7 + c, (int64_t)inv->cur_counts[c]);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = db_fail(inv, "record a file");
		goto out;
	}
	id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	/* Its fingerprints of an earlier root of this run are replaced too. */
	if (sqlite3_prepare_v2(inv->db, "DELETE FROM fingerprints WHERE file_id = ?", -1, &st,
			       NULL) != SQLITE_OK) {
		r = db_fail(inv, "record fingerprints");
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_fail(inv, "record fingerprints");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(inv->db,
			       "INSERT OR IGNORE INTO fingerprints(file_id, category, fingerprint) "
			       "VALUES(?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(inv, "record fingerprints");
		goto out;
	}
	for (size_t i = 0; i < inv->cur_nfps; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, inv->cur_fp_cat[i]);
		sqlite3_bind_text(st, 3, inv->cur_fps[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			r = db_fail(inv, "record fingerprints");
			goto out;
		}
	}
	inv->files++;
out:
	sqlite3_finalize(st);
	free(canon);
	cur_reset(inv);
	return r;
}

int vigil_inventory_record_finding(vigil_inventory *inv, const vigil_finding *f)
{
	int r;

	if (!inv->recording)
		return fail(inv, VIGIL_E_INVALID, "no record open");
	if (f->path == NULL || (unsigned)f->category >= VIGIL_CAT_COUNT)
		return 0;
	if (inv->cur_path == NULL || inv->cur_len != f->path_len ||
	    memcmp(inv->cur_path, f->path, f->path_len) != 0) {
		if ((r = flush_file(inv)) != 0)
			return r;
		if ((inv->cur_path = strndup(f->path, f->path_len)) == NULL)
			return fail(inv, VIGIL_E_NOMEM, "out of memory");
		inv->cur_len = f->path_len;
	}
	inv->cur_counts[f->category]++;
	if (f->fingerprint[0] != '\0' && inv->cur_nfps < VIGIL_INVENTORY_MAX_FPS) {
		for (size_t i = 0; i < inv->cur_nfps; i++)
			if (strcmp(inv->cur_fps[i], f->fingerprint) == 0)
				return 0;
		snprintf(inv->cur_fps[inv->cur_nfps], VIGIL_FINGERPRINT_MAX, "%s", f->fingerprint);
		inv->cur_fp_cat[inv->cur_nfps++] = (unsigned char)f->category;
	}
	return 0;
}

int vigil_inventory_record_commit(vigil_inventory *inv, uint64_t *files)
{
	int r;

	if (!inv->recording)
		return fail(inv, VIGIL_E_INVALID, "no record open");
	if ((r = flush_file(inv)) != 0)
		goto fail;
	if ((r = exec(inv, "COMMIT", "commit the record")) != 0)
		goto fail;
	inv->recording = false;
	roots_free(inv);
	if (files)
		*files = inv->files;
	return 0;
fail:
	vigil_inventory_record_abort(inv);
	return r;
}

int vigil_inventory_foreach(vigil_inventory *inv,
			    int (*fn)(void *user, const vigil_inventory_file *f), void *user)
{
	sqlite3_stmt *st = NULL;
	char sql[512];
	size_t n = 0;
	int r = 0, s;

	n += (size_t)snprintf(sql + n, sizeof(sql) - n,
			      "SELECT path, dev, ino, size, mtime_ns, recorded_us");
	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s",
				      vigil_category_name((vigil_category)c));
	snprintf(sql + n, sizeof(sql) - n, " FROM files ORDER BY path");
	if (sqlite3_prepare_v2(inv->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(inv, "read the files");
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		vigil_inventory_file f = {0};
		const void *p = sqlite3_column_blob(st, 0);
		int len = sqlite3_column_bytes(st, 0);
		char *path;

		if (p == NULL || len <= 0 || memchr(p, '\0', (size_t)len) != NULL)
			continue; /* never written by vigil: skip rather than trust */
		if ((path = malloc((size_t)len + 1)) == NULL) {
			r = fail(inv, VIGIL_E_NOMEM, "out of memory");
			break;
		}
		memcpy(path, p, (size_t)len);
		path[len] = '\0';
		f.path = path;
		f.path_len = (size_t)len;
		f.dev = (uint64_t)sqlite3_column_int64(st, 1);
		f.ino = (uint64_t)sqlite3_column_int64(st, 2);
		f.size = (uint64_t)sqlite3_column_int64(st, 3);
		f.mtime_ns = sqlite3_column_int64(st, 4);
		f.recorded_us = sqlite3_column_int64(st, 5);
		for (int c = 0; c < VIGIL_CAT_COUNT; c++)
			f.counts[c] = (uint64_t)sqlite3_column_int64(st, 6 + c);
		r = fn(user, &f);
		free(path);
		if (r != 0)
			break;
	}
	if (r == 0 && s != SQLITE_DONE)
		r = db_fail(inv, "read the files");
	sqlite3_finalize(st);
	return r;
}
