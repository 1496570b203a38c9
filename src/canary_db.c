/* SPDX-License-Identifier: Apache-2.0 */
/* The decoy registry (SQLite): planting decoys and recording them, listing them with what
 * lstat shows now, removing them, and the set of planted inodes that vigil scan and the
 * baseline walker skip so that they never open a decoy. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "alert.h"
#include "canary_int.h"
#include "json.h"

#define REG_APP_ID  0x5647434e /* "VGCN": PRAGMA application_id of a decoy registry */
#define REG_VERSION 1
#define BUSY_MS     5000
#define VALUE_MAX   (1 << 20) /* no row of ours is near this: a bigger one is hostile */

static const char *const kind_names[VIGIL_DECOY_KIND_COUNT] = {"passwords_xlsx", "ssh_key",
							       "payroll_csv", "aws_credentials"};

const char *vigil_decoy_kind_name(int kind)
{
	return kind >= 0 && kind < VIGIL_DECOY_KIND_COUNT ? kind_names[kind] : "unknown";
}

int vigil_decoy_kind_parse(const char *name, vigil_decoy_kind *out)
{
	for (int k = 0; k < VIGIL_DECOY_KIND_COUNT; k++)
		if (strcmp(name, kind_names[k]) == 0) {
			*out = (vigil_decoy_kind)k;
			return 0;
		}
	return VIGIL_E_INVALID;
}

const char *vigil_decoy_state_name(int state)
{
	static const char *const names[] = {"intact", "changed", "replaced", "missing"};

	return state >= 0 && state <= VIGIL_DECOY_MISSING ? names[state] : "unknown";
}

void vigil_decoy_write_json(FILE *f, const vigil_decoy *d)
{
	char planted[32], mtime[32];

	vigil_alert_time(planted, d->planted_us);
	vigil_alert_time(mtime, d->mtime * 1000000);
	fputc('{', f);
	vigil_alert_write_path(f, "path", d->path, strlen(d->path));
	fprintf(
	    f,
	    ",\"kind\":\"%s\",\"state\":\"%s\",\"size\":%llu,\"sha256\":\"%s\",\"dev\":%llu,"
	    "\"ino\":%llu,\"planted\":\"%s\",\"mtime\":\"%s\",\"planted_uid\":%u,\"planted_by\":",
	    vigil_decoy_kind_name(d->kind), vigil_decoy_state_name(d->state),
	    (unsigned long long)d->size, d->sha256, (unsigned long long)d->dev,
	    (unsigned long long)d->ino, planted, mtime, d->planted_uid);
	vigil_json_string(f, d->planted_by, strlen(d->planted_by));
	fputs("}\n", f);
}

/* ---- opening ---- */

static int db_error(sqlite3 *db, const char *db_path, const char *what, char *err, size_t cap)
{
	if (cap > 0)
		snprintf(err, cap, "%s: %s: %s", db_path, what, db ? sqlite3_errmsg(db) : "failed");
	return VIGIL_E_SYSTEM;
}

/* mkdir -p of path's parent; new directories 0700 whatever the umask. */
static int make_parents(const char *path, char *err, size_t cap)
{
	char *d = strdup(path);
	int rc = 0;

	if (d == NULL)
		return VIGIL_E_NOMEM;
	for (char *p = d + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(d, 0700) == 0) {
			if (chmod(d, 0700) != 0) {
				snprintf(err, cap, "chmod %s: %s", d, strerror(errno));
				rc = VIGIL_E_SYSTEM;
				break;
			}
		} else if (errno != EEXIST) {
			snprintf(err, cap, "cannot create directory %s: %s", d, strerror(errno));
			rc = VIGIL_E_SYSTEM;
			break;
		}
		*p = '/';
	}
	free(d);
	return rc;
}

static int exec(sqlite3 *db, const char *path, const char *sql, char *err, size_t cap)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(db, path, "query", err, cap);
	return 0;
}

static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Opens the registry; create makes it (and its directories) when missing. The file may
 * have been replaced by anything, so it is opened as SQLite advises for untrusted files
 * (sqlite.org/security.html) and must carry our application_id. The rollback journal
 * (not WAL) keeps every commit in the one file, whose close vigil watch notices.
 */
static int reg_open(const char *path, bool create, bool write, sqlite3 **out, char *err, size_t cap)
{
	sqlite3 *db = NULL;
	int64_t app = 0, ver = 0, tables = 0;
	bool fresh = false;
	int rc;

	*out = NULL;
	if (path == NULL || path[0] != '/') {
		snprintf(err, cap, "the registry must be an absolute path");
		return VIGIL_E_INVALID;
	}
	if (create) {
		int fd;

		if ((rc = make_parents(path, err, cap)) != 0)
			return rc;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			fresh = true;
			if (fchmod(fd, 0600) != 0) {
				snprintf(err, cap, "chmod %s: %s", path, strerror(errno));
				close(fd);
				return VIGIL_E_SYSTEM;
			}
			close(fd);
		} else if (errno != EEXIST) {
			snprintf(err, cap, "cannot create %s: %s", path, strerror(errno));
			return VIGIL_E_SYSTEM;
		}
	} else if (access(path, F_OK) != 0) {
		if (errno == ENOENT) {
			snprintf(err, cap, "no decoy registry at %s: nothing planted", path);
			return VIGIL_E_NOT_FOUND;
		}
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return VIGIL_E_SYSTEM;
	}
	rc = sqlite3_open_v2(path, &db, write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		rc = db_error(db, path, "open", err, cap);
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_MS);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	sqlite3_limit(db, SQLITE_LIMIT_LENGTH, VALUE_MAX);
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
	if ((rc = exec(db, path, "PRAGMA cell_size_check = ON", err, cap)) != 0)
		goto out;
	if (query_int(db, "PRAGMA application_id", &app) != 0 ||
	    query_int(db, "SELECT count(*) FROM sqlite_schema", &tables) != 0) {
		snprintf(err, cap, "%s is not a vigil decoy registry (not an SQLite database)",
			 path);
		rc = VIGIL_E_FORMAT;
		goto out;
	}
	if (app == 0 && tables == 0 && write && (fresh || create)) {
		char sql[512];
		snprintf(sql, sizeof(sql),
			 "BEGIN IMMEDIATE;"
			 "CREATE TABLE IF NOT EXISTS decoys(path TEXT PRIMARY KEY NOT NULL,"
			 " kind TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
			 " size INTEGER NOT NULL, sha256 TEXT NOT NULL, planted_us INTEGER NOT "
			 "NULL, mtime INTEGER NOT NULL, ctime_s INTEGER NOT NULL, ctime_ns INTEGER"
			 " NOT NULL, uid INTEGER NOT NULL, planted_by TEXT NOT NULL);"
			 "PRAGMA application_id = %d; PRAGMA user_version = %d; COMMIT",
			 REG_APP_ID, REG_VERSION);
		if ((rc = exec(db, path, sql, err, cap)) != 0)
			goto out;
		app = REG_APP_ID;
	}
	if (app != REG_APP_ID || query_int(db, "PRAGMA user_version", &ver) != 0 ||
	    ver != REG_VERSION) {
		snprintf(err, cap, "%s is not a vigil decoy registry (or of another version)",
			 path);
		rc = VIGIL_E_FORMAT;
		goto out;
	}
	if (write)
		rc = exec(db, path, "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL", err,
			  cap);
	else
		rc = exec(db, path, "PRAGMA query_only = ON", err, cap);
	if (rc != 0)
		goto out;
	*out = db;
	db = NULL; /* transferred */
	rc = 0;
out:
	sqlite3_close(db);
	return rc;
}

/* ---- reading rows ---- */

static const char select_cols[] = "SELECT path, kind, dev, ino, size, sha256, planted_us, mtime,"
				  " ctime_s, ctime_ns, uid, planted_by FROM decoys";

typedef struct row {
	vigil_decoy d;
	int64_t ctime_s, ctime_ns;
} row;

/* Reads the current row of st, type-checking every column (the file may be hostile).
 * Returns false for a malformed row. */
static bool row_get(sqlite3_stmt *st, row *r)
{
	for (int c = 0; c < 12; c++) {
		int want = (c == 0 || c == 1 || c == 5 || c == 11) ? SQLITE_TEXT : SQLITE_INTEGER;
		if (sqlite3_column_type(st, c) != want)
			return false;
	}
	memset(r, 0, sizeof(*r));
	r->d.path = (const char *)sqlite3_column_text(st, 0);
	if (r->d.path == NULL || r->d.path[0] != '/' ||
	    vigil_decoy_kind_parse((const char *)sqlite3_column_text(st, 1), &r->d.kind) != 0)
		return false;
	r->d.dev = (uint64_t)sqlite3_column_int64(st, 2);
	r->d.ino = (uint64_t)sqlite3_column_int64(st, 3);
	r->d.size = (uint64_t)sqlite3_column_int64(st, 4);
	r->d.sha256 = (const char *)sqlite3_column_text(st, 5);
	r->d.planted_us = sqlite3_column_int64(st, 6);
	r->d.mtime = sqlite3_column_int64(st, 7);
	r->ctime_s = sqlite3_column_int64(st, 8);
	r->ctime_ns = sqlite3_column_int64(st, 9);
	r->d.planted_uid = (uint32_t)sqlite3_column_int64(st, 10);
	r->d.planted_by = (const char *)sqlite3_column_text(st, 11);
	if (r->d.sha256 == NULL || strlen(r->d.sha256) != 64 || r->d.planted_by == NULL)
		return false;
	return strspn(r->d.sha256, "0123456789abcdef") == 64;
}

/* True if the file at path was made after the decoy was planted: removed and made again,
 * it can get the decoy's inode number back (ext4 reuses freed ones at once). Its birth
 * time tells, where the file system keeps one: the decoy's is at most the ctime recorded
 * when it was planted. */
static bool born_after(const row *r, const char *path)
{
	struct statx sx;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &sx) != 0 ||
	    !(sx.stx_mask & STATX_BTIME))
		return false;
	return sx.stx_btime.tv_sec > r->ctime_s ||
	       (sx.stx_btime.tv_sec == r->ctime_s && sx.stx_btime.tv_nsec > r->ctime_ns);
}

/* What lstat shows at the decoy's path now; never opens it. */
static vigil_decoy_state state_of(const row *r, struct stat *out)
{
	struct stat st;

	if (lstat(r->d.path, &st) != 0)
		return errno == ENOENT || errno == ENOTDIR ? VIGIL_DECOY_MISSING
							   : VIGIL_DECOY_REPLACED;
	if (out)
		*out = st;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_dev != r->d.dev ||
	    (uint64_t)st.st_ino != r->d.ino || born_after(r, r->d.path))
		return VIGIL_DECOY_REPLACED;
	if ((uint64_t)st.st_size != r->d.size || st.st_mtim.tv_sec != r->d.mtime ||
	    st.st_ctim.tv_sec != r->ctime_s || st.st_ctim.tv_nsec != r->ctime_ns)
		return VIGIL_DECOY_CHANGED;
	return VIGIL_DECOY_INTACT;
}

static int read_rows(sqlite3 *db, const char *path, bool with_state, vigil_decoy_fn fn, void *user,
		     char *err, size_t cap)
{
	sqlite3_stmt *st = NULL;
	char sql[256];
	int rc = 0, s;

	snprintf(sql, sizeof(sql), "%s ORDER BY path", select_cols);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(db, path, "query", err, cap);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		row r;
		if (!row_get(st, &r)) {
			snprintf(err, cap, "%s: a malformed row", path);
			rc = VIGIL_E_FORMAT;
			break;
		}
		r.d.state = with_state ? state_of(&r, NULL) : VIGIL_DECOY_INTACT;
		if ((rc = fn(user, &r.d)) != 0)
			break;
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = db_error(db, path, "read", err, cap);
	sqlite3_finalize(st);
	return rc;
}

int vigil_canary_list(const char *db_path, vigil_decoy_fn fn, void *user, char *err, size_t cap)
{
	sqlite3 *db = NULL;
	int rc;

	if ((rc = reg_open(db_path, false, false, &db, err, cap)) != 0)
		return rc;
	rc = read_rows(db, db_path, true, fn, user, err, cap);
	sqlite3_close(db);
	return rc;
}

int canary_registry_read(const char *db_path, vigil_decoy_fn fn, void *user, char *err, size_t cap)
{
	sqlite3 *db = NULL;
	int rc;

	if ((rc = reg_open(db_path, false, false, &db, err, cap)) != 0)
		return rc;
	rc = read_rows(db, db_path, false, fn, user, err, cap);
	sqlite3_close(db);
	return rc;
}

bool canary_registry_has(const char *db_path, const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char err[256];
	bool has = false;

	if (reg_open(db_path, false, false, &db, err, sizeof(err)) != 0)
		return false;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM decoys WHERE path = ?1", -1, &st, NULL) ==
		SQLITE_OK &&
	    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC) == SQLITE_OK)
		has = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return has;
}

/* ---- planting ---- */

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t md[32];
	unsigned len = 0;

	if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return VIGIL_E_CRYPTO;
	hex(md, 32, out);
	return 0;
}

/* A believable age: 1 to 13 months ago, during working hours. */
static int64_t backdate(void)
{
	int64_t now = (int64_t)time(NULL), day = now - now % 86400;

	return day - 86400 * (int64_t)(30 + decoy_random(365)) +
	       3600 * (int64_t)(8 + decoy_random(10)) + (int64_t)decoy_random(3600);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return VIGIL_E_SYSTEM;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void who(uint32_t uid, char *out, size_t cap)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		snprintf(out, cap, "%s", pw.pw_name);
	else
		snprintf(out, cap, "%u", uid);
}

static int insert_row(sqlite3 *db, const char *db_path, const vigil_decoy *d, const struct stat *st,
		      char *err, size_t cap)
{
	static const char sql[] =
	    "INSERT INTO decoys(path, kind, dev, ino, size, sha256, planted_us,"
	    " mtime, ctime_s, ctime_ns, uid, planted_by) VALUES"
	    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
	sqlite3_stmt *s = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(db, db_path, "insert", err, cap);
	sqlite3_bind_text(s, 1, d->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, vigil_decoy_kind_name(d->kind), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)d->dev);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)d->ino);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)d->size);
	sqlite3_bind_text(s, 6, d->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, d->planted_us);
	sqlite3_bind_int64(s, 8, d->mtime);
	sqlite3_bind_int64(s, 9, st->st_ctim.tv_sec);
	sqlite3_bind_int64(s, 10, st->st_ctim.tv_nsec);
	sqlite3_bind_int64(s, 11, d->planted_uid);
	sqlite3_bind_text(s, 12, d->planted_by, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		rc = db_error(db, db_path, "insert", err, cap);
	sqlite3_finalize(s);
	return rc;
}

/* Decoys belong to whoever owns the directory, so they look like that user's files and
 * an intruder with that user's rights can open them. */
static mode_t mode_of(vigil_decoy_kind k)
{
	return k == VIGIL_DECOY_SSH_KEY || k == VIGIL_DECOY_AWS_CREDENTIALS ? 0600 : 0644;
}

static int plant_one(sqlite3 *db, const char *db_path, int dirfd, const char *dir,
		     const struct stat *dst, vigil_decoy_kind kind, vigil_decoy_fn fn, void *user,
		     char *err, size_t cap)
{
	const char *const *names = decoy_names(kind);
	size_t n = 0, start;
	decoy_content c = {0};
	char path[PATH_MAX], digest[65], by[64];
	struct stat st;
	int fd = -1, rc;
	bool created = false;

	while (names[n] != NULL)
		n++;
	start = decoy_random((uint32_t)n);
	for (size_t i = 0; i < n && fd < 0; i++) {
		const char *name = names[(start + i) % n];

		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			continue; /* never overwrite, never write through a link */
		if ((rc = decoy_generate(kind, name, backdate(), &c)) != 0) {
			snprintf(err, cap, "cannot make a %s decoy: %s",
				 vigil_decoy_kind_name(kind), vigil_strerror(rc));
			goto out;
		}
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    mode_of(kind));
		if (fd < 0) {
			decoy_content_clear(&c);
			if (errno == EEXIST)
				continue; /* created meanwhile: try the next name */
			snprintf(err, cap, "cannot create %s/%s: %s", dir, name, strerror(errno));
			rc = VIGIL_E_SYSTEM;
			goto out;
		}
	}
	if (fd < 0) {
		snprintf(err, cap, "%s: every %s decoy name is taken; nothing overwritten", dir,
			 vigil_decoy_kind_name(kind));
		rc = VIGIL_E_LIMIT;
		goto out;
	}
	created = true;
	struct timespec times[2] = {{(time_t)(c.mtime + decoy_random(86400 * 20)), 0},
				    {(time_t)c.mtime, 0}};
	if (snprintf(path, sizeof(path), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", c.name) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		rc = VIGIL_E_SYSTEM;
	} else if ((rc = write_all(fd, c.data, c.len)) != 0) {
	} else if ((fchown(fd, dst->st_uid, dst->st_gid) != 0 && errno != EPERM) ||
		   fchmod(fd, mode_of(kind)) != 0 || fsync(fd) != 0 || futimens(fd, times) != 0 ||
		   fstat(fd, &st) != 0) {
		rc = VIGIL_E_SYSTEM;
	}
	if (rc != 0) {
		snprintf(err, cap, "cannot write %s/%s: %s", dir, c.name, strerror(errno));
		goto out;
	}
	if ((rc = sha256_hex(c.data, c.len, digest)) != 0) {
		snprintf(err, cap, "cannot hash the decoy");
		goto out;
	}
	who(getuid(), by, sizeof(by));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	vigil_decoy d = {.path = path,
			 .kind = kind,
			 .dev = (uint64_t)st.st_dev,
			 .ino = (uint64_t)st.st_ino,
			 .size = (uint64_t)st.st_size,
			 .sha256 = digest,
			 .planted_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000,
			 .mtime = c.mtime,
			 .planted_uid = getuid(),
			 .planted_by = by,
			 .state = VIGIL_DECOY_INTACT};
	if ((rc = insert_row(db, db_path, &d, &st, err, cap)) != 0)
		goto out;
	created = false; /* recorded: it stays */
	if (fn != NULL)
		rc = fn(user, &d);
out:
	if (fd >= 0)
		close(fd);
	if (created)
		unlinkat(dirfd, c.name, 0);
	decoy_content_clear(&c);
	return rc;
}

int vigil_canary_plant(const char *db_path, const char *dir, unsigned kinds,
		       vigil_decoy_fn on_planted, void *user, char *err, size_t cap)
{
	sqlite3 *db = NULL;
	char *real = NULL;
	struct stat dst;
	int dirfd = -1, rc, first = 0;

	if (cap > 0)
		err[0] = '\0';
	if (kinds == 0)
		kinds = (1u << VIGIL_DECOY_KIND_COUNT) - 1;
	if (kinds >= (1u << VIGIL_DECOY_KIND_COUNT)) {
		snprintf(err, cap, "unknown decoy kind");
		return VIGIL_E_INVALID;
	}
	if ((real = realpath(dir, NULL)) == NULL) {
		snprintf(err, cap, "%s: %s", dir, strerror(errno));
		return errno == ENOMEM ? VIGIL_E_NOMEM : VIGIL_E_INVALID;
	}
	dirfd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0 || fstat(dirfd, &dst) != 0) {
		snprintf(err, cap, "%s: %s", dir, strerror(errno));
		rc = errno == ENOTDIR ? VIGIL_E_INVALID : VIGIL_E_SYSTEM;
		goto out;
	}
	if ((rc = reg_open(db_path, true, true, &db, err, cap)) != 0)
		goto out;
	/* Each kind is planted and recorded on its own: one whose names are all taken does
	 * not undo the others. */
	for (int k = 0; k < VIGIL_DECOY_KIND_COUNT; k++) {
		if (!(kinds & (1u << k)))
			continue;
		char kerr[512] = "";
		int r = plant_one(db, db_path, dirfd, real, &dst, (vigil_decoy_kind)k, on_planted,
				  user, kerr, sizeof(kerr));
		if (r != 0 && first == 0) {
			first = r;
			snprintf(err, cap, "%s", kerr);
		}
		if (r != 0 && r != VIGIL_E_LIMIT)
			break;
	}
	rc = first;
out:
	if (dirfd >= 0)
		close(dirfd);
	sqlite3_close(db);
	free(real);
	return rc;
}

/* ---- removal ---- */

/* The absolute form of path without following its last component (a decoy path is
 * registered as planted; a symlink to it is not it). */
static char *absolute_parent(const char *path)
{
	char *copy = strdup(path), *slash, *dir, *out = NULL;
	const char *base;

	if (copy == NULL)
		return NULL;
	slash = strrchr(copy, '/');
	if (slash == NULL) {
		dir = realpath(".", NULL);
		base = copy;
	} else if (slash == copy) {
		dir = strdup("/");
		base = slash + 1;
	} else {
		*slash = '\0';
		dir = realpath(copy, NULL);
		base = slash + 1;
	}
	if (dir != NULL && *base != '\0' &&
	    asprintf(&out, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base) < 0)
		out = NULL;
	free(dir);
	free(copy);
	return out;
}

static int delete_row(sqlite3 *db, const char *db_path, const char *path, char *err, size_t cap)
{
	sqlite3_stmt *s = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(db, "DELETE FROM decoys WHERE path = ?1", -1, &s, NULL) != SQLITE_OK)
		return db_error(db, db_path, "delete", err, cap);
	sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		rc = db_error(db, db_path, "delete", err, cap);
	sqlite3_finalize(s);
	return rc;
}

/* Reads the file and compares its digest with the registered one. */
static int content_matches(const char *path, const row *r, bool *same)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[65536], md[32];
	unsigned len = 0;
	char digest[65];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME), rc = VIGIL_E_SYSTEM;

	*same = false;
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (ctx == NULL || fd < 0 || fstat(fd, &st) != 0)
		goto out;
	if ((uint64_t)st.st_ino != r->d.ino || (uint64_t)st.st_dev != r->d.dev) {
		rc = 0; /* swapped since lstat: not ours */
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rc = VIGIL_E_CRYPTO;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	if (n < 0 || EVP_DigestFinal_ex(ctx, md, &len) != 1)
		goto out;
	hex(md, 32, digest);
	*same = strcmp(digest, r->d.sha256) == 0;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int vigil_canary_remove(const char *db_path, const char *path, vigil_decoy_removal *what, char *err,
			size_t cap)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char *abs = NULL, sql[256], sha[65], by[256];
	row r;
	struct stat st;
	vigil_decoy_state state;
	bool same = false;
	int rc;
	vigil_decoy_removal done = VIGIL_DECOY_DELETED;

	if (cap > 0)
		err[0] = '\0';
	if ((abs = absolute_parent(path)) == NULL) {
		snprintf(err, cap, "%s: %s", path, strerror(errno ? errno : ENOENT));
		return VIGIL_E_NOT_FOUND;
	}
	if ((rc = reg_open(db_path, false, true, &db, err, cap)) != 0)
		goto out;
	snprintf(sql, sizeof(sql), "%s WHERE path = ?1", select_cols);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		rc = db_error(db, db_path, "query", err, cap);
		goto out;
	}
	sqlite3_bind_text(s, 1, abs, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_ROW) {
		snprintf(err, cap, "%s is not a registered decoy", abs);
		rc = VIGIL_E_NOT_FOUND;
		goto out;
	}
	if (!row_get(s, &r)) {
		snprintf(err, cap, "%s: a malformed row", db_path);
		rc = VIGIL_E_FORMAT;
		goto out;
	}
	/* Copied out and the statement ended: in autocommit mode a write commits only once
	 * no statement is active. */
	snprintf(sha, sizeof(sha), "%s", r.d.sha256);
	snprintf(by, sizeof(by), "%s", r.d.planted_by);
	r.d.sha256 = sha;
	r.d.planted_by = by;
	r.d.path = abs;
	sqlite3_finalize(s);
	s = NULL;
	state = state_of(&r, &st);
	/* Untouched since planting (same inode, size, mtime and ctime — ctime cannot be set
	 * back by a user): deleted without opening, so vigil watch sees no decoy opened. */
	if (state == VIGIL_DECOY_CHANGED && (rc = content_matches(abs, &r, &same)) != 0) {
		snprintf(err, cap, "cannot read %s to compare it: %s", abs, strerror(errno));
		goto out;
	}
	if (state == VIGIL_DECOY_MISSING || state == VIGIL_DECOY_REPLACED)
		done = VIGIL_DECOY_WAS_GONE;
	else if (state == VIGIL_DECOY_CHANGED && !same)
		done = VIGIL_DECOY_KEPT;
	/* The row goes first (committed by this autocommit statement), so a running vigil
	 * watch that sees the file deleted finds it unregistered and stays quiet. */
	if ((rc = delete_row(db, db_path, abs, err, cap)) != 0)
		goto out;
	if (done == VIGIL_DECOY_DELETED && unlink(abs) != 0 && errno != ENOENT) {
		int e = errno;
		snprintf(err, cap, "cannot delete %s: %s", abs, strerror(e));
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		if (insert_row(db, db_path, &r.d,
			       &(struct stat){.st_ctim = {r.ctime_s, r.ctime_ns}}, NULL, 0) == 0)
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		else
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		errno = e;
		rc = VIGIL_E_SYSTEM;
		goto out;
	}
	if (what)
		*what = done;
	rc = 0;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(abs);
	return rc;
}

/* ---- the set scan and baseline skip ---- */

typedef struct devino {
	uint64_t dev, ino;
} devino;

struct vigil_decoy_set {
	devino *v;
	size_t n, cap;
};

static int cmp_devino(const void *a, const void *b)
{
	const devino *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int set_add(void *user, const vigil_decoy *d)
{
	vigil_decoy_set *s = user;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		devino *v = realloc(s->v, cap * sizeof(*v));
		if (v == NULL)
			return VIGIL_E_NOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (devino){d->dev, d->ino};
	return 0;
}

int vigil_decoy_set_load(const char *db, vigil_decoy_set **out)
{
	vigil_decoy_set *s;
	char err[256];
	int rc;

	*out = NULL;
	if (db == NULL)
		db = VIGIL_DEFAULT_CANARY_DB;
	if (db[0] == '\0' || access(db, F_OK) != 0)
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VIGIL_E_NOMEM;
	rc = canary_registry_read(db, set_add, s, err, sizeof(err));
	if (rc == VIGIL_E_NOMEM || s->n == 0) {
		vigil_decoy_set_free(s);
		return rc == VIGIL_E_NOMEM ? rc : 0;
	}
	/* A registry that cannot be read fully still skips what was read. */
	qsort(s->v, s->n, sizeof(*s->v), cmp_devino);
	*out = s;
	return 0;
}

bool vigil_decoy_set_has(const vigil_decoy_set *s, const struct stat *st)
{
	devino key = {(uint64_t)st->st_dev, (uint64_t)st->st_ino};

	return s != NULL && S_ISREG(st->st_mode) &&
	       bsearch(&key, s->v, s->n, sizeof(*s->v), cmp_devino) != NULL;
}

size_t vigil_decoy_set_count(const vigil_decoy_set *s)
{
	return s ? s->n : 0;
}

void vigil_decoy_set_free(vigil_decoy_set *s)
{
	if (s == NULL)
		return;
	free(s->v);
	free(s);
}
