/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the baseline database: round trips, path order, history, hostile and
 * broken files, locking between processes, and atomic transactions. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store.h"

/* ---- fixture ---- */

struct fx {
	char dir[64];
	char db[128];
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/base.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static uint8_t acl_bytes[] = {'a', 4, 0, 0, 0, 1, 2, 3, 4};
static uint8_t caps_bytes[] = {0, 0, 0, 2, 0x20, 0, 0, 0};
static uint8_t xattr_bytes[] = {4, 0, 0, 0, 'u', 's', 'e', 'r', 1, 0, 0, 0, 0xff};

/* A full entry for path; the members point to static or caller storage. */
static vigil_entry mk(const char *path, int seed)
{
	vigil_entry e = {
	    .path = (char *)path,
	    .path_len = strlen(path),
	    .attrs = VIGIL_ATTR_DEFAULT,
	    .policy = VIGIL_POLICY_NORMAL,
	    .hash_algo = VIGIL_HASH_SHA256,
	    .type = S_IFREG,
	    .mode = 0644 + (uint32_t)(seed % 8),
	    .uid = 1000 + (uint32_t)seed,
	    .gid = 4294967295u,
	    .size = 12345 + seed,
	    .mtime_ns = -5,
	    .ctime_ns = 1700000000123456789LL + seed,
	    .inode = UINT64_MAX - (uint64_t)seed, /* above INT64_MAX: stored as bit pattern */
	    .nlink = 2,
	    .rdev = 0,
	    .hash_len = 32,
	    .acl = acl_bytes,
	    .acl_len = sizeof(acl_bytes),
	    .caps = caps_bytes,
	    .caps_len = sizeof(caps_bytes),
	    .selinux = (uint8_t *)"system_u:object_r:etc_t:s0",
	    .selinux_len = 26,
	    .xattrs = xattr_bytes,
	    .xattrs_len = sizeof(xattr_bytes),
	    .flags = 0x10,
	};
	for (int i = 0; i < 32; i++)
		e.hash[i] = (uint8_t)(seed + i);
	return e;
}

static bool same_bytes(const void *a, size_t an, const void *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void assert_entry_eq(const vigil_entry *a, const vigil_entry *b)
{
	assert_true(same_bytes(a->path, a->path_len, b->path, b->path_len));
	assert_int_equal(a->attrs, b->attrs);
	assert_int_equal(a->policy, b->policy);
	assert_int_equal(a->hash_algo, b->hash_algo);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_true(a->size == b->size);
	assert_true(a->mtime_ns == b->mtime_ns);
	assert_true(a->ctime_ns == b->ctime_ns);
	assert_true(a->inode == b->inode);
	assert_true(a->nlink == b->nlink);
	assert_true(a->rdev == b->rdev);
	assert_true(same_bytes(a->target, a->target_len, b->target, b->target_len));
	assert_true(same_bytes(a->hash, a->hash_len, b->hash, b->hash_len));
	assert_true(same_bytes(a->acl, a->acl_len, b->acl, b->acl_len));
	assert_true(same_bytes(a->caps, a->caps_len, b->caps, b->caps_len));
	assert_true(same_bytes(a->selinux, a->selinux_len, b->selinux, b->selinux_len));
	assert_true(same_bytes(a->xattrs, a->xattrs_len, b->xattrs, b->xattrs_len));
	assert_int_equal(a->flags, b->flags);
}

static const uint8_t mac32[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
				  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static vigil_store *open_ok(const char *db, vigil_store_mode mode)
{
	vigil_store *s = NULL;
	int r = vigil_store_open(db, mode, false, NULL, NULL, &s);

	if (r != 0)
		fail_msg("open %s: %d %s", db, r, vigil_store_error(s));
	return s;
}

/* A committed baseline holding these paths (entries from mk). */
static void make_db(const char *db, const char *const *paths, size_t n)
{
	vigil_store *s = open_ok(db, VIGIL_STORE_CREATE);

	assert_int_equal(vigil_store_begin(s), 0);
	for (size_t i = 0; i < n; i++) {
		vigil_entry e = mk(paths[i], (int)i);
		assert_int_equal(vigil_store_put(s, &e, mac32, sizeof(mac32)), 0);
	}
	assert_int_equal(vigil_store_meta_set(s, "hash", "sha256"), 0);
	assert_int_equal(vigil_store_commit(s), 0);
	vigil_store_close(s);
}

static void sql(const char *db, const char *text)
{
	sqlite3 *h = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	if (sqlite3_exec(h, text, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", text, msg);
	sqlite3_close(h);
}

struct list {
	char *p[64];
	size_t len[64];
	size_t n;
	int stop_at; /* return 42 after this many; 0 never */
};

static int collect(void *user, const vigil_entry *e, const uint8_t *mac, size_t mac_len)
{
	struct list *l = user;

	assert_true(same_bytes(mac, mac_len, mac32, sizeof(mac32)));
	assert_true(l->n < 64);
	l->p[l->n] = malloc(e->path_len + 1);
	assert_non_null(l->p[l->n]);
	memcpy(l->p[l->n], e->path, e->path_len);
	l->p[l->n][e->path_len] = '\0';
	l->len[l->n++] = e->path_len;
	return l->stop_at && (int)l->n == l->stop_at ? 42 : 0;
}

static int collect_mac(void *user, const char *path, size_t path_len, const uint8_t *mac,
		       size_t mac_len)
{
	struct list *l = user;

	assert_true(same_bytes(mac, mac_len, mac32, sizeof(mac32)));
	assert_true(l->n < 64);
	l->p[l->n] = malloc(path_len + 1);
	assert_non_null(l->p[l->n]);
	memcpy(l->p[l->n], path, path_len);
	l->p[l->n][path_len] = '\0';
	l->len[l->n++] = path_len;
	return l->stop_at && (int)l->n == l->stop_at ? 42 : 0;
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->p[i]);
	memset(l, 0, sizeof(*l));
}

static int cmp_mem(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t n = strlen(x) < strlen(y) ? strlen(x) : strlen(y);
	int c = memcmp(x, y, n);

	return c ? c : (strlen(x) > strlen(y)) - (strlen(x) < strlen(y));
}

/* ---- creation ---- */

static void test_create_modes(void **state)
{
	struct fx *f = *state;
	char db[256], lock[300], d1[200], d2[200];
	struct stat st;
	vigil_store *s;
	char *v = NULL;
	mode_t old = umask(0);

	snprintf(d1, sizeof(d1), "%s/a", f->dir);
	snprintf(d2, sizeof(d2), "%s/a/b", f->dir);
	snprintf(db, sizeof(db), "%s/a/b/base.db", f->dir);
	snprintf(lock, sizeof(lock), "%s.lock", db);
	s = open_ok(db, VIGIL_STORE_CREATE);
	umask(old);
	assert_int_equal(stat(d1, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(d2, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(lock, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(vigil_store_meta_get(s, "schema", &v), 0);
	assert_string_equal(v, "1");
	free(v);
	vigil_store_close(s);
	/* Opening it again in every mode works; CREATE leaves the contents. */
	make_db(db, (const char *const[]){"/x"}, 1);
	s = open_ok(db, VIGIL_STORE_CREATE);
	uint64_t n = 0;
	assert_int_equal(vigil_store_count(s, &n), 0);
	assert_int_equal(n, 1);
	vigil_store_close(s);
	vigil_store_close(open_ok(db, VIGIL_STORE_WRITE));
	vigil_store_close(open_ok(db, VIGIL_STORE_READ));
}

static void test_missing(void **state)
{
	struct fx *f = *state;
	char lock[200];
	vigil_store *s = NULL;

	snprintf(lock, sizeof(lock), "%s.lock", f->db);
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_READ, false, NULL, NULL, &s),
			 VIGIL_E_NOT_FOUND);
	assert_non_null(s);
	assert_non_null(strstr(vigil_store_error(s), "does not exist"));
	vigil_store_close(s);
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_WRITE, false, NULL, NULL, &s),
			 VIGIL_E_NOT_FOUND);
	vigil_store_close(s);
	/* Nothing was left behind by looking. */
	assert_int_equal(access(lock, F_OK), -1);
	assert_int_equal(access(f->db, F_OK), -1);
}

/* A FIFO or a directory where the baseline should be: refused, and nothing blocks. */
static void test_not_regular(void **state)
{
	struct fx *f = *state;
	vigil_store *s = NULL;

	assert_int_equal(mkfifo(f->db, 0600), 0);
	for (int mode = VIGIL_STORE_READ; mode <= VIGIL_STORE_WRITE; mode++) {
		assert_int_equal(vigil_store_open(f->db, mode, false, NULL, NULL, &s),
				 VIGIL_E_FORMAT);
		assert_non_null(strstr(vigil_store_error(s), "not a regular file"));
		vigil_store_close(s);
	}
	unlink(f->db);
	assert_int_equal(mkdir(f->db, 0700), 0);
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_READ, false, NULL, NULL, &s),
			 VIGIL_E_FORMAT);
	vigil_store_close(s);
}

/* ---- entries ---- */

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	vigil_store *s = open_ok(f->db, VIGIL_STORE_CREATE);
	vigil_entry e = mk("/etc/passwd", 3), link = mk("/etc/alt", 4), got = {0};
	uint64_t n = 0;

	link.type = S_IFLNK;
	link.target = "/usr/bin/true";
	link.target_len = 13;
	link.hash_len = 0;
	link.acl = link.caps = link.xattrs = link.selinux = NULL;
	link.acl_len = link.caps_len = link.xattrs_len = link.selinux_len = 0;
	assert_int_equal(vigil_store_begin(s), 0);
	assert_int_equal(vigil_store_put(s, &e, mac32, sizeof(mac32)), 0);
	assert_int_equal(vigil_store_put(s, &link, mac32, sizeof(mac32)), 0);
	assert_int_equal(vigil_store_commit(s), 0);
	assert_int_equal(vigil_store_get(s, e.path, e.path_len, &got), 0);
	assert_entry_eq(&got, &e);
	vigil_entry_clear(&got);
	assert_int_equal(vigil_store_get(s, link.path, link.path_len, &got), 0);
	assert_entry_eq(&got, &link);
	assert_null(got.acl);
	vigil_entry_clear(&got);
	/* Replacing keeps one row. */
	e.mode = 0600;
	assert_int_equal(vigil_store_put(s, &e, mac32, sizeof(mac32)), 0);
	assert_int_equal(vigil_store_count(s, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(vigil_store_get(s, e.path, e.path_len, &got), 0);
	assert_int_equal(got.mode, 0600);
	vigil_entry_clear(&got);
	/* A path is its bytes: a prefix of one is another path. */
	assert_int_equal(vigil_store_get(s, "/etc/passw", 10, &got), VIGIL_E_NOT_FOUND);
	assert_int_equal(vigil_store_delete(s, e.path, e.path_len), 0);
	assert_int_equal(vigil_store_get(s, e.path, e.path_len, &got), VIGIL_E_NOT_FOUND);
	assert_int_equal(vigil_store_delete(s, e.path, e.path_len), VIGIL_E_NOT_FOUND);
	assert_int_equal(vigil_store_count(s, &n), 0);
	assert_int_equal(n, 1);
	vigil_store_close(s);
	/* And it all survived closing. */
	s = open_ok(f->db, VIGIL_STORE_READ);
	assert_int_equal(vigil_store_get(s, link.path, link.path_len, &got), 0);
	assert_entry_eq(&got, &link);
	vigil_entry_clear(&got);
	vigil_store_close(s);
}

static void test_put_refuses_bad_entries(void **state)
{
	struct fx *f = *state;
	vigil_store *s = open_ok(f->db, VIGIL_STORE_CREATE);
	vigil_entry e;

	e = mk("/x", 0);
	e.mode = 010000;
	assert_int_equal(vigil_store_put(s, &e, mac32, 32), VIGIL_E_INVALID);
	assert_non_null(strstr(vigil_store_error(s), "mode"));
	e = mk("/x", 0);
	e.hash_len = 65;
	assert_int_equal(vigil_store_put(s, &e, mac32, 32), VIGIL_E_INVALID);
	e = mk("", 0);
	assert_int_equal(vigil_store_put(s, &e, mac32, 32), VIGIL_E_INVALID);
	e = mk("/x", 0);
	e.type = 0123;
	assert_int_equal(vigil_store_put(s, &e, mac32, 32), VIGIL_E_INVALID);
	e = mk("/a\0b", 0);
	e.path_len = 4;
	assert_int_equal(vigil_store_put(s, &e, mac32, 32), VIGIL_E_INVALID);
	e = mk("/x", 0);
	assert_int_equal(vigil_store_put(s, &e, mac32, 65), VIGIL_E_INVALID);
	/* type 0 is fine when the type is not recorded */
	e = mk("/x", 0);
	e.type = 0;
	e.attrs = VIGIL_ATTR_MODE;
	assert_int_equal(vigil_store_put(s, &e, mac32, 32), 0);
	vigil_store_close(s);
	/* A read-only handle writes nothing. */
	s = open_ok(f->db, VIGIL_STORE_READ);
	e = mk("/y", 0);
	assert_int_equal(vigil_store_put(s, &e, mac32, 32), VIGIL_E_INVALID);
	assert_int_equal(vigil_store_begin(s), VIGIL_E_INVALID);
	assert_int_equal(vigil_store_meta_set(s, "k", "v"), VIGIL_E_INVALID);
	vigil_store_close(s);
}

/* Paths in memcmp order, whatever their bytes. */
static const char *const order_paths[] = {
    "/a",     "/a/b",          "/a.b",      "/a-b", "/a/b/c", "/a\xc3\xa9", "/a\xff", "/a/\x80",
    "/a/b.c", "/a0",           "/b",        "/",    "/a/B",   "/a//x",      "/a\x7f", "/ab",
    "/a\x01", "/\xe2\x82\xac", "/a/b/\xff", "/aa",
};
#define N_ORDER (sizeof(order_paths) / sizeof(order_paths[0]))

static void test_each_order(void **state)
{
	struct fx *f = *state;
	const char *sorted[N_ORDER];
	struct list l = {0};
	vigil_store *s;

	make_db(f->db, order_paths, N_ORDER);
	memcpy(sorted, order_paths, sizeof(sorted));
	qsort(sorted, N_ORDER, sizeof(sorted[0]), cmp_mem);
	s = open_ok(f->db, VIGIL_STORE_READ);
	assert_int_equal(vigil_store_each(s, NULL, 0, collect, &l), 0);
	assert_int_equal(l.n, N_ORDER);
	for (size_t i = 0; i < N_ORDER; i++)
		assert_string_equal(l.p[i], sorted[i]);
	/* '.' (0x2e) sorts before '/' (0x2f): "/a.b" comes before "/a/b". */
	size_t dot = 0, slash = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (strcmp(l.p[i], "/a.b") == 0)
			dot = i;
		if (strcmp(l.p[i], "/a/b") == 0)
			slash = i;
	}
	assert_true(dot < slash);
	list_free(&l);
	/* A non-zero return stops at once and comes back. */
	l.stop_at = 3;
	assert_int_equal(vigil_store_each(s, NULL, 0, collect, &l), 42);
	assert_int_equal(l.n, 3);
	list_free(&l);
	vigil_store_close(s);
}

/* Paths and row MACs alone come in the same order as whole rows, checked the same way. */
static void test_each_mac(void **state)
{
	struct fx *f = *state;
	const char *sorted[N_ORDER];
	struct list l = {0};
	vigil_entry e = {0};
	uint8_t mac[VIGIL_STORE_MAC_MAX];
	size_t mac_len = 0;
	vigil_store *s;

	make_db(f->db, order_paths, N_ORDER);
	memcpy(sorted, order_paths, sizeof(sorted));
	qsort(sorted, N_ORDER, sizeof(sorted[0]), cmp_mem);
	s = open_ok(f->db, VIGIL_STORE_READ);
	assert_int_equal(vigil_store_each_mac(s, collect_mac, &l), 0);
	assert_int_equal(l.n, N_ORDER);
	for (size_t i = 0; i < N_ORDER; i++)
		assert_string_equal(l.p[i], sorted[i]);
	list_free(&l);
	l.stop_at = 3;
	assert_int_equal(vigil_store_each_mac(s, collect_mac, &l), 42);
	assert_int_equal(l.n, 3);
	list_free(&l);
	assert_int_equal(vigil_store_get_row(s, "/a/b", 4, &e, mac, &mac_len), 0);
	assert_true(same_bytes(mac, mac_len, mac32, sizeof(mac32)));
	assert_int_equal(e.path_len, 4);
	vigil_entry_clear(&e);
	assert_int_equal(vigil_store_get_row(s, "/zz", 3, &e, mac, &mac_len), VIGIL_E_NOT_FOUND);
	vigil_store_close(s);

	static const struct {
		const char *sql, *msg;
	} bad[] = {
	    {"UPDATE entries SET row_mac = zeroblob(65) WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column row_mac holds 65 bytes"},
	    {"UPDATE entries SET row_mac = 'x' WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column row_mac holds text, not a blob"},
	    {"UPDATE entries SET path = CAST(path AS TEXT) WHERE path = CAST('/b' AS BLOB)",
	     "row /b: column path holds text, not a blob"},
	    {"UPDATE entries SET path = x'2f0061' WHERE path = CAST('/b' AS BLOB)",
	     "column path holds a NUL byte"},
	    {"UPDATE entries SET path = x'' WHERE path = CAST('/b' AS BLOB)",
	     "column path is empty"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unlink(f->db);
		make_db(f->db, order_paths, N_ORDER);
		sql(f->db, bad[i].sql);
		s = open_ok(f->db, VIGIL_STORE_READ);
		if (vigil_store_each_mac(s, collect_mac, &l) != VIGIL_E_FORMAT ||
		    strstr(vigil_store_error(s), bad[i].msg) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].sql, vigil_store_error(s),
				 bad[i].msg);
		list_free(&l);
		vigil_store_close(s);
	}
}

static void test_each_prefix(void **state)
{
	static const struct {
		const char *prefix;
		const char *want[12];
	} cases[] = {
	    {"/a", {"/a", "/a//x", "/a/B", "/a/b", "/a/b.c", "/a/b/c", "/a/b/\xff", "/a/\x80"}},
	    {"/a/", {"/a", "/a//x", "/a/B", "/a/b", "/a/b.c", "/a/b/c", "/a/b/\xff", "/a/\x80"}},
	    {"/a/b", {"/a/b", "/a/b/c", "/a/b/\xff"}},
	    {"/a/b.c", {"/a/b.c"}},
	    {"/a\xc3\xa9", {"/a\xc3\xa9"}},
	    {"/nothing", {NULL}},
	    {"/a/b/c/d", {NULL}},
	    {"/b", {"/b"}},
	};
	struct fx *f = *state;
	vigil_store *s;

	make_db(f->db, order_paths, N_ORDER);
	s = open_ok(f->db, VIGIL_STORE_READ);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct list l = {0};
		size_t n = 0;

		assert_int_equal(
		    vigil_store_each(s, cases[c].prefix, strlen(cases[c].prefix), collect, &l), 0);
		while (cases[c].want[n] != NULL)
			n++;
		if (l.n != n)
			fail_msg("prefix %s: %zu rows, want %zu", cases[c].prefix, l.n, n);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(l.p[i], cases[c].want[i]);
		list_free(&l);
	}
	/* "/" is everything; so is an empty prefix. */
	struct list l = {0};
	assert_int_equal(vigil_store_each(s, "/", 1, collect, &l), 0);
	assert_int_equal(l.n, N_ORDER);
	list_free(&l);
	assert_int_equal(vigil_store_each(s, "", 0, collect, &l), 0);
	assert_int_equal(l.n, N_ORDER);
	list_free(&l);
	vigil_store_close(s);
}

/* fn may call back into the store: a get, and an iteration of its own. */
struct nested {
	vigil_store *s;
	size_t rows, inner;
};

static int count_rows(void *user, const vigil_entry *e, const uint8_t *mac, size_t mac_len)
{
	(void)e;
	(void)mac;
	(void)mac_len;
	(*(size_t *)user)++;
	return 0;
}

static int nested_row(void *user, const vigil_entry *e, const uint8_t *mac, size_t mac_len)
{
	struct nested *n = user;
	vigil_entry got = {0};

	(void)mac;
	(void)mac_len;
	assert_int_equal(vigil_store_get(n->s, e->path, e->path_len, &got), 0);
	assert_true(same_bytes(got.path, got.path_len, e->path, e->path_len));
	vigil_entry_clear(&got);
	if (n->rows++ == 0)
		assert_int_equal(vigil_store_each(n->s, NULL, 0, count_rows, &n->inner), 0);
	return 0;
}

static void test_each_reentrant(void **state)
{
	struct fx *f = *state;
	struct nested n = {0};

	make_db(f->db, order_paths, N_ORDER);
	n.s = open_ok(f->db, VIGIL_STORE_READ);
	assert_int_equal(vigil_store_each(n.s, NULL, 0, nested_row, &n), 0);
	assert_int_equal(n.rows, N_ORDER);
	assert_int_equal(n.inner, N_ORDER);
	vigil_store_close(n.s);
}

/* ---- metadata and history ---- */

struct pairs {
	char k[8][32], v[8][32];
	size_t n;
};

static int collect_meta(void *user, const char *k, const char *v)
{
	struct pairs *p = user;

	assert_true(p->n < 8);
	snprintf(p->k[p->n], 32, "%s", k);
	snprintf(p->v[p->n++], 32, "%s", v);
	return 0;
}

static void test_meta(void **state)
{
	struct fx *f = *state;
	vigil_store *s = open_ok(f->db, VIGIL_STORE_CREATE);
	struct pairs p = {0};
	char *v = NULL;

	assert_int_equal(vigil_store_meta_get(s, "generation", &v), VIGIL_E_NOT_FOUND);
	assert_null(v);
	assert_int_equal(vigil_store_meta_set(s, "generation", "1"), 0);
	assert_int_equal(vigil_store_meta_set(s, "generation", "2"), 0);
	assert_int_equal(vigil_store_meta_set(s, "config_digest", "abc"), 0);
	assert_int_equal(vigil_store_meta_get(s, "generation", &v), 0);
	assert_string_equal(v, "2");
	free(v);
	assert_int_equal(vigil_store_meta_each(s, collect_meta, &p), 0);
	assert_int_equal(p.n, 3);
	assert_string_equal(p.k[0], "config_digest");
	assert_string_equal(p.k[1], "generation");
	assert_string_equal(p.v[1], "2");
	assert_string_equal(p.k[2], "schema");
	vigil_store_close(s);
}

struct hist {
	struct {
		int64_t event;
		char action[16], user[16], note[16];
		uint32_t uid;
		int64_t time_us;
		bool has_old, has_new;
		vigil_entry old_e, new_e;
	} r[16];
	size_t n;
};

static int collect_hist(void *user, const vigil_history_record *h)
{
	struct hist *x = user;

	assert_true(x->n < 16);
	x->r[x->n].event = h->event_id;
	snprintf(x->r[x->n].action, 16, "%s", h->action);
	snprintf(x->r[x->n].user, 16, "%s", h->user_name);
	snprintf(x->r[x->n].note, 16, "%s", h->note ? h->note : "(null)");
	x->r[x->n].uid = h->uid;
	x->r[x->n].time_us = h->time_us;
	x->r[x->n].has_old = h->old_e != NULL;
	x->r[x->n].has_new = h->new_e != NULL;
	if (h->old_e)
		assert_int_equal(vigil_entry_copy(&x->r[x->n].old_e, h->old_e), 0);
	if (h->new_e)
		assert_int_equal(vigil_entry_copy(&x->r[x->n].new_e, h->new_e), 0);
	x->n++;
	return 0;
}

static void hist_free(struct hist *x)
{
	for (size_t i = 0; i < x->n; i++) {
		vigil_entry_clear(&x->r[i].old_e);
		vigil_entry_clear(&x->r[i].new_e);
	}
	memset(x, 0, sizeof(*x));
}

static void test_history(void **state)
{
	struct fx *f = *state;
	vigil_store *s = open_ok(f->db, VIGIL_STORE_CREATE);
	vigil_entry a0 = mk("/etc/a", 1), a1 = mk("/etc/a", 2), b = mk("/etc/b", 3),
		    c = mk("/etc/c", 4);
	uint8_t d0[32], d1[32], d2[32];
	int64_t init = 0, acc = 0;
	struct hist x = {0};

	assert_int_equal(vigil_store_history_digest(s, d0), 0);
	assert_int_equal(vigil_store_begin(s), 0);
	assert_int_equal(vigil_store_event_begin(s, "init", "root", 0, NULL, &init), 0);
	assert_int_equal(vigil_store_commit(s), 0);
	assert_int_equal(vigil_store_history_digest(s, d1), 0);
	assert_memory_not_equal(d0, d1, 32);
	assert_int_equal(vigil_store_begin(s), 0);
	assert_int_equal(vigil_store_event_begin(s, "accept", "alice", 1000, "patch", &acc), 0);
	assert_true(acc > init);
	assert_int_equal(vigil_store_history_add(s, acc, &a0, &a1), 0); /* changed */
	assert_int_equal(vigil_store_history_add(s, acc, NULL, &b), 0); /* added */
	assert_int_equal(vigil_store_history_add(s, acc, &c, NULL), 0); /* removed */
	assert_int_equal(vigil_store_history_add(s, acc, NULL, NULL), VIGIL_E_INVALID);
	assert_int_equal(vigil_store_history_add(s, acc, &a0, &b), VIGIL_E_INVALID);
	assert_int_equal(vigil_store_history_add(s, 999, NULL, &b), VIGIL_E_INVALID);
	assert_int_equal(vigil_store_commit(s), 0);
	assert_int_equal(vigil_store_history_digest(s, d2), 0);
	assert_memory_not_equal(d1, d2, 32);
	vigil_store_close(s);

	s = open_ok(f->db, VIGIL_STORE_READ);
	assert_int_equal(vigil_store_history_each(s, NULL, 0, collect_hist, &x), 0);
	assert_int_equal(x.n, 4);
	assert_int_equal(x.r[0].event, init);
	assert_string_equal(x.r[0].action, "init");
	assert_string_equal(x.r[0].note, "(null)");
	assert_false(x.r[0].has_old || x.r[0].has_new);
	assert_true(x.r[0].time_us > 1600000000000000LL);
	assert_string_equal(x.r[1].action, "accept");
	assert_string_equal(x.r[1].user, "alice");
	assert_string_equal(x.r[1].note, "patch");
	assert_int_equal(x.r[1].uid, 1000);
	assert_true(x.r[1].has_old && x.r[1].has_new);
	assert_entry_eq(&x.r[1].old_e, &a0);
	assert_entry_eq(&x.r[1].new_e, &a1);
	assert_true(!x.r[2].has_old && x.r[2].has_new);
	assert_entry_eq(&x.r[2].new_e, &b);
	assert_true(x.r[3].has_old && !x.r[3].has_new);
	assert_entry_eq(&x.r[3].old_e, &c);
	hist_free(&x);
	/* One path: its own records, with the init event for context. */
	assert_int_equal(vigil_store_history_each(s, "/etc/a", 6, collect_hist, &x), 0);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.r[0].action, "init");
	assert_entry_eq(&x.r[1].old_e, &a0);
	hist_free(&x);
	assert_int_equal(vigil_store_history_each(s, "/etc/zz", 7, collect_hist, &x), 0);
	assert_int_equal(x.n, 1);
	hist_free(&x);
	/* The digest is the same read back, and moves when the history is edited. */
	assert_int_equal(vigil_store_history_digest(s, d1), 0);
	assert_memory_equal(d1, d2, 32);
	vigil_store_close(s);
	sql(f->db, "UPDATE events SET note = 'patch2' WHERE action = 'accept'");
	s = open_ok(f->db, VIGIL_STORE_READ);
	assert_int_equal(vigil_store_history_digest(s, d1), 0);
	assert_memory_not_equal(d1, d2, 32);
	vigil_store_close(s);
}

/* ---- broken and hostile files ---- */

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void copy_file(const char *from, const char *to, off_t keep)
{
	static char buf[1 << 20];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	if (keep >= 0)
		assert_int_equal(ftruncate(out, keep), 0);
	close(out);
}

/* A committed baseline big enough to span many pages. */
static void make_big_db(const char *db)
{
	vigil_store *s = open_ok(db, VIGIL_STORE_CREATE);
	char p[64];

	assert_int_equal(vigil_store_begin(s), 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(p, sizeof(p), "/usr/lib/file-%05d", i);
		vigil_entry e = mk(p, i);
		assert_int_equal(vigil_store_put(s, &e, mac32, sizeof(mac32)), 0);
	}
	assert_int_equal(vigil_store_commit(s), 0);
	vigil_store_close(s);
}

/* Open READ and read everything: the first error, with its message. */
static int open_and_read(const char *db, char *msg, size_t cap)
{
	vigil_store *s = NULL;
	size_t rows = 0;
	int r = vigil_store_open(db, VIGIL_STORE_READ, false, NULL, NULL, &s);

	if (r == 0)
		r = vigil_store_each(s, NULL, 0, count_rows, &rows);
	snprintf(msg, cap, "%s", vigil_store_error(s));
	vigil_store_close(s);
	return r;
}

enum broken {
	B_TEXT,
	B_EMPTY,
	B_SHORT_MAGIC,
	B_TRUNCATED_HALF,
	B_TRUNCATED_PAGE,
	B_GARBAGE_PAGES,
	B_FOREIGN,
	B_EMPTY_SQLITE,
	B_TABLE_MISSING,
	B_TABLE_CHANGED,
	B_NEWER,
	B_UTF16,
	B_META_SCHEMA,
};

static void make_broken(struct fx *f, enum broken kind)
{
	char big[200];
	struct stat st;

	snprintf(big, sizeof(big), "%s/big.db", f->dir);
	switch (kind) {
	case B_TEXT: {
		char text[4096];
		memset(text, 'x', sizeof(text));
		memcpy(text, "# not a database at all\n", 24);
		write_file(f->db, text, sizeof(text));
		break;
	}
	case B_EMPTY:
		write_file(f->db, "", 0);
		break;
	case B_SHORT_MAGIC:
		write_file(f->db, "SQLite format 3", 16);
		break;
	case B_TRUNCATED_HALF:
	case B_TRUNCATED_PAGE:
		make_big_db(big);
		assert_int_equal(stat(big, &st), 0);
		copy_file(big, f->db, kind == B_TRUNCATED_HALF ? st.st_size / 2 : st.st_size - 100);
		break;
	case B_GARBAGE_PAGES: {
		/* Same length, inner pages overwritten: the header is fine, the tree is not. */
		static uint8_t junk[65536];
		make_big_db(big);
		copy_file(big, f->db, -1);
		memset(junk, 0xa5, sizeof(junk));
		int fd = open(f->db, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, junk, sizeof(junk), 16384), (ssize_t)sizeof(junk));
		close(fd);
		break;
	}
	case B_FOREIGN:
		sql(f->db, "CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT)");
		break;
	case B_EMPTY_SQLITE:
		sql(f->db, "PRAGMA user_version = 0; VACUUM");
		break;
	case B_TABLE_MISSING:
		make_db(f->db, order_paths, 3);
		sql(f->db, "DROP TABLE history");
		break;
	case B_TABLE_CHANGED:
		make_db(f->db, order_paths, 3);
		sql(f->db,
		    "DROP TABLE entries; CREATE TABLE entries(path TEXT PRIMARY KEY, attrs, "
		    "policy, hash_algo, type, mode, uid, gid, size, mtime_ns, ctime_ns, inode, "
		    "nlink, rdev, target, hash, acl, caps, selinux, xattrs, flags, row_mac)");
		break;
	case B_NEWER:
		make_db(f->db, order_paths, 3);
		sql(f->db, "PRAGMA user_version = 7");
		break;
	case B_UTF16:
		sql(f->db,
		    "PRAGMA encoding = 'UTF-16le'; CREATE TABLE t(x); PRAGMA user_version = 1");
		break;
	case B_META_SCHEMA:
		make_db(f->db, order_paths, 3);
		sql(f->db, "UPDATE meta SET value = '2' WHERE key = 'schema'");
		break;
	}
}

static void test_broken_files(void **state)
{
	static const struct {
		enum broken kind;
		int want;
		const char *msg;
	} cases[] = {
	    {B_TEXT, VIGIL_E_FORMAT, "not a vigil baseline: file is not a database"},
	    {B_EMPTY, VIGIL_E_FORMAT, "not a vigil baseline: the file is empty"},
	    {B_SHORT_MAGIC, VIGIL_E_FORMAT, "not a vigil baseline: file is not a database"},
	    {B_TRUNCATED_HALF, VIGIL_E_FORMAT, "baseline is corrupt or truncated: "},
	    {B_TRUNCATED_PAGE, VIGIL_E_FORMAT, "baseline is corrupt or truncated: "},
	    {B_GARBAGE_PAGES, VIGIL_E_FORMAT, "baseline is corrupt or truncated: "},
	    {B_FOREIGN, VIGIL_E_FORMAT, "not a vigil baseline: an SQLite database without"},
	    {B_EMPTY_SQLITE, VIGIL_E_FORMAT, "not a vigil baseline: an empty SQLite database"},
	    {B_TABLE_MISSING, VIGIL_E_FORMAT, "not a vigil baseline: table history is missing"},
	    {B_TABLE_CHANGED, VIGIL_E_FORMAT,
	     "not a vigil baseline: table entries does not have the vigil layout"},
	    {B_NEWER, VIGIL_E_FORMAT,
	     "baseline schema version 7 is newer than this vigil (1): upgrade vigil"},
	    {B_UTF16, VIGIL_E_FORMAT, "not a vigil baseline: text encoding UTF-16le"},
	    {B_META_SCHEMA, VIGIL_E_FORMAT, "baseline is corrupt: its metadata gives schema"},
	};
	struct fx *f = *state;
	char msg[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unlink(f->db);
		make_broken(f, cases[i].kind);
		int r = open_and_read(f->db, msg, sizeof(msg));
		if (r != cases[i].want || strstr(msg, cases[i].msg) == NULL)
			fail_msg("case %zu: got %d \"%s\", want %d \"%s\"", i, r, msg,
				 cases[i].want, cases[i].msg);
	}
}

/* init (CREATE) refuses what is not ours too, and leaves it alone. */
static void test_create_refuses_foreign(void **state)
{
	struct fx *f = *state;
	vigil_store *s = NULL;
	sqlite3 *h;
	sqlite3_stmt *st;

	make_broken(f, B_FOREIGN);
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_CREATE, false, NULL, NULL, &s),
			 VIGIL_E_FORMAT);
	vigil_store_close(s);
	/* Still in its own journal mode, with its own table only. */
	assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "delete");
	sqlite3_finalize(st);
	sqlite3_close(h);
	unlink(f->db);
	make_broken(f, B_NEWER);
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_CREATE, false, NULL, NULL, &s),
			 VIGIL_E_FORMAT);
	assert_non_null(strstr(vigil_store_error(s), "newer"));
	vigil_store_close(s);
	unlink(f->db);
	make_broken(f, B_TEXT);
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_CREATE, false, NULL, NULL, &s),
			 VIGIL_E_FORMAT);
	vigil_store_close(s);
	/* An empty file is a new baseline to init. */
	unlink(f->db);
	make_broken(f, B_EMPTY);
	vigil_store_close(open_ok(f->db, VIGIL_STORE_CREATE));
}

/* Values of the wrong type or out of range, written behind the store's back. */
static void test_wrong_types(void **state)
{
	static const struct {
		const char *sql;
		const char *msg;
	} cases[] = {
	    {"UPDATE entries SET mode = 'abc' WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column mode holds text, not an integer"},
	    {"UPDATE entries SET uid = 1.5 WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column uid holds a real number, not an integer"},
	    {"UPDATE entries SET size = x'00' WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column size holds a blob, not an integer"},
	    {"UPDATE entries SET hash = zeroblob(65) WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column hash holds 65 bytes (at most 64)"},
	    {"UPDATE entries SET hash = 'text' WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column hash holds text, not a blob"},
	    {"UPDATE entries SET mode = 4096 WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column mode holds 4096, outside 0..4095"},
	    {"UPDATE entries SET type = 12345 WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column type holds 030071, not a file type"},
	    {"UPDATE entries SET uid = 4294967296 WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column uid holds 4294967296"},
	    {"UPDATE entries SET size = -1 WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column size holds -1"},
	    {"UPDATE entries SET attrs = 1048576 WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column attrs holds 1048576"},
	    {"UPDATE entries SET policy = 3 WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column policy holds 3"},
	    {"UPDATE entries SET hash_algo = 3 WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column hash_algo holds 3"},
	    {"UPDATE entries SET target = 'x' WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column target holds text, not a blob"},
	    {"UPDATE entries SET target = x'410042' WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column target holds a NUL byte"},
	    {"UPDATE entries SET acl = 7 WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column acl holds an integer, not a blob"},
	    {"UPDATE entries SET row_mac = zeroblob(65) WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column row_mac holds 65 bytes"},
	    {"UPDATE entries SET flags = 'f' WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column flags holds text"},
	    {"UPDATE entries SET path = '/a' WHERE path = CAST('/a' AS BLOB)",
	     "row /a: column path holds text, not a blob"},
	    {"UPDATE entries SET path = 17 WHERE path = CAST('/a' AS BLOB)",
	     "row ?: column path holds an integer, not a blob"},
	    {"UPDATE entries SET path = x'2f61006263' WHERE path = CAST('/a' AS BLOB)",
	     "row /a\\x00bc: column path holds a NUL byte"},
	    {"UPDATE entries SET path = x'' WHERE path = CAST('/a' AS BLOB)",
	     "column path is empty"},
	};
	struct fx *f = *state;
	char msg[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vigil_store *s;
		vigil_entry e = {0};
		int r;

		unlink(f->db);
		make_db(f->db, (const char *const[]){"/a", "/b"}, 2);
		sql(f->db, cases[i].sql);
		r = open_and_read(f->db, msg, sizeof(msg));
		if (r != VIGIL_E_FORMAT || strstr(msg, cases[i].msg) == NULL)
			fail_msg("case %zu (%s): got %d \"%s\"", i, cases[i].sql, r, msg);
		/* get refuses the same row the same way. */
		s = open_ok(f->db, VIGIL_STORE_READ);
		r = vigil_store_get(s, "/a", 2, &e);
		if (r == 0)
			fail_msg("case %zu: get read the bad row", i);
		if (r != VIGIL_E_NOT_FOUND && strstr(vigil_store_error(s), cases[i].msg) == NULL)
			fail_msg("case %zu: get said \"%s\"", i, vigil_store_error(s));
		vigil_store_close(s);
	}
}

static int ignore_hist(void *user, const vigil_history_record *h)
{
	(void)user;
	(void)h;
	return 0;
}

static void test_wrong_types_elsewhere(void **state)
{
	static const struct {
		const char *sql;
		int what; /* 0 meta_get "hash", 1 meta_each, 2 history_each */
		const char *msg;
	} cases[] = {
	    /* TEXT affinity turns numbers into text: only a blob stays wrong. */
	    {"UPDATE meta SET value = x'31' WHERE key = 'hash'", 0,
	     "metadata hash holds a blob, not text"},
	    {"UPDATE meta SET value = x'00' WHERE key = 'hash'", 1,
	     "metadata hash holds a blob, not text"},
	    {"INSERT INTO meta VALUES(x'6b', 'x')", 1, "metadata key holds a blob, not text"},
	    {"UPDATE events SET uid = 'root'", 2, "event 1: column uid holds text"},
	    {"UPDATE events SET action = x'01'", 2, "event action holds a blob"},
	    {"UPDATE events SET uid = -1", 2, "event 1: column uid holds -1"},
	    {"UPDATE history SET old = x'01020304'", 2, "history record 1 (old value of /a)"},
	    {"UPDATE history SET old = x'02'", 2, "value encoding has an unknown version"},
	    {"UPDATE history SET new = 'text'", 2, "column new holds text, not a blob"},
	    {"UPDATE history SET path = CAST('/b' AS BLOB)", 2,
	     "field path is not the path of its record"},
	    {"UPDATE history SET old = NULL, new = NULL", 2, "neither an old nor a new value"},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vigil_entry a0 = mk("/a", 1), a1 = mk("/a", 2);
		struct pairs p = {0};
		vigil_store *s;
		int64_t ev;
		char *v = NULL;
		int r;

		unlink(f->db);
		make_db(f->db, (const char *const[]){"/a"}, 1);
		s = open_ok(f->db, VIGIL_STORE_WRITE);
		assert_int_equal(vigil_store_event_begin(s, "accept", "root", 0, NULL, &ev), 0);
		assert_int_equal(vigil_store_history_add(s, ev, &a0, &a1), 0);
		vigil_store_close(s);
		sql(f->db, cases[i].sql);
		s = open_ok(f->db, VIGIL_STORE_READ);
		if (cases[i].what == 0)
			r = vigil_store_meta_get(s, "hash", &v);
		else if (cases[i].what == 1)
			r = vigil_store_meta_each(s, collect_meta, &p);
		else
			r = vigil_store_history_each(s, NULL, 0, ignore_hist, NULL);
		if (r != VIGIL_E_FORMAT || strstr(vigil_store_error(s), cases[i].msg) == NULL)
			fail_msg("case %zu (%s): got %d \"%s\"", i, cases[i].sql, r,
				 vigil_store_error(s));
		free(v);
		vigil_store_close(s);
	}
}

/* ---- locking ---- */

struct waited {
	int calls;
	long pid;
	int go_fd; /* written to let the holder exit */
};

static void on_wait(void *user, long pid)
{
	struct waited *w = user;

	w->calls++;
	w->pid = pid;
	assert_int_equal(write(w->go_fd, "g", 1), 1);
}

/* A child that opens the store in `mode`, says so, and exits when told. */
static pid_t holder(const char *db, vigil_store_mode mode, int *go_fd)
{
	int ready[2], go[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		vigil_store *s = NULL;
		close(ready[0]);
		close(go[1]);
		if (vigil_store_open(db, mode, false, NULL, NULL, &s) != 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		vigil_store_close(s);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*go_fd = go[1];
	return pid;
}

static void test_lock_writer_excludes(void **state)
{
	struct fx *f = *state;
	struct waited w = {0};
	vigil_store *s = NULL;
	char want[64];
	int status;
	pid_t pid;

	make_db(f->db, order_paths, 2);
	pid = holder(f->db, VIGIL_STORE_WRITE, &w.go_fd);
	/* Not waiting: refused at once, naming the holder. */
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_READ, false, on_wait, &w, &s),
			 VIGIL_E_LIMIT);
	snprintf(want, sizeof(want), "locked by process %ld", (long)pid);
	assert_non_null(strstr(vigil_store_error(s), want));
	assert_int_equal(w.calls, 0);
	vigil_store_close(s);
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_WRITE, false, NULL, NULL, &s),
			 VIGIL_E_LIMIT);
	vigil_store_close(s);
	/* Waiting: told once who holds it (on_wait lets the child go), then in. */
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_WRITE, true, on_wait, &w, &s), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.pid, pid);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	vigil_store_close(s);
	close(w.go_fd);
}

static void test_lock_readers_share(void **state)
{
	struct fx *f = *state;
	vigil_store *s = NULL;
	int go, status;
	pid_t pid;

	make_db(f->db, order_paths, 2);
	pid = holder(f->db, VIGIL_STORE_READ, &go);
	/* Two readers at once are fine; a writer is not. */
	vigil_store_close(open_ok(f->db, VIGIL_STORE_READ));
	assert_int_equal(vigil_store_open(f->db, VIGIL_STORE_WRITE, false, NULL, NULL, &s),
			 VIGIL_E_LIMIT);
	assert_non_null(strstr(vigil_store_error(s), "locked by another process"));
	vigil_store_close(s);
	assert_int_equal(write(go, "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(go);
	vigil_store_close(open_ok(f->db, VIGIL_STORE_WRITE));
}

/* ---- transactions ---- */

static size_t count_of(const char *db)
{
	vigil_store *s = open_ok(db, VIGIL_STORE_READ);
	uint64_t n = 0;

	assert_int_equal(vigil_store_count(s, &n), 0);
	vigil_store_close(s);
	return (size_t)n;
}

static void test_rollback(void **state)
{
	struct fx *f = *state;
	vigil_store *s;
	vigil_entry e = mk("/new", 9), got = {0};
	char *v = NULL;
	int status;
	pid_t pid;

	make_db(f->db, order_paths, 3);
	/* rollback */
	s = open_ok(f->db, VIGIL_STORE_WRITE);
	assert_int_equal(vigil_store_begin(s), 0);
	assert_int_equal(vigil_store_clear(s), 0);
	assert_int_equal(vigil_store_put(s, &e, mac32, 32), 0);
	assert_int_equal(vigil_store_meta_set(s, "hash", "sha512"), 0);
	vigil_store_rollback(s);
	assert_int_equal(vigil_store_get(s, "/new", 4, &got), VIGIL_E_NOT_FOUND);
	assert_int_equal(vigil_store_meta_get(s, "hash", &v), 0);
	assert_string_equal(v, "sha256");
	free(v);
	/* close with a transaction open */
	assert_int_equal(vigil_store_begin(s), 0);
	assert_int_equal(vigil_store_clear(s), 0);
	vigil_store_close(s);
	assert_int_equal(count_of(f->db), 3);
	/* a writer killed mid-transaction (power loss as far as the file can tell) */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		vigil_store *c = NULL;
		char p[32];
		if (vigil_store_open(f->db, VIGIL_STORE_WRITE, false, NULL, NULL, &c) != 0 ||
		    vigil_store_begin(c) != 0 || vigil_store_clear(c) != 0)
			_exit(1);
		for (int i = 0; i < 5000; i++) {
			snprintf(p, sizeof(p), "/crash/%d", i);
			vigil_entry x = mk(p, i);
			if (vigil_store_put(c, &x, mac32, 32) != 0)
				_exit(1);
		}
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(count_of(f->db), 3);
	/* and a commit does land */
	s = open_ok(f->db, VIGIL_STORE_WRITE);
	assert_int_equal(vigil_store_begin(s), 0);
	assert_int_equal(vigil_store_put(s, &e, mac32, 32), 0);
	assert_int_equal(vigil_store_commit(s), 0);
	vigil_store_close(s);
	assert_int_equal(count_of(f->db), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_refuses_bad_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_each_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_each_mac, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_each_prefix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_each_reentrant, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_history, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_broken_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_refuses_foreign, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_types_elsewhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_writer_excludes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_readers_share, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
