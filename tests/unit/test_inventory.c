/* SPDX-License-Identifier: Apache-2.0 */
/* The secrets inventory through its public API: record, replace per root, read back, refuse
 * files that are not inventories, roll back an aborted record, never store a secret. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil/inventory.h"

#define CARD "4111111111111111"

struct fixture {
	char dir[64];
	char db[128];
	char a[128], b[128]; /* two roots */
};

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char real[PATH_MAX];

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/vigil-inv.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	/* Canonical, as the inventory stores paths. */
	assert_non_null(realpath(fx->dir, real));
	assert_true(strlen(real) < sizeof(fx->dir));
	memcpy(fx->dir, real, strlen(real) + 1);
	snprintf(fx->db, sizeof(fx->db), "%s/sub/inv.db", fx->dir);
	snprintf(fx->a, sizeof(fx->a), "%s/a", fx->dir);
	snprintf(fx->b, sizeof(fx->b), "%s/b", fx->dir);
	assert_int_equal(mkdir(fx->a, 0700), 0);
	assert_int_equal(mkdir(fx->b, 0700), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* A finding as the scanner would report it (only what the inventory reads). */
static vigil_finding finding(const char *path, vigil_category c, const char *fp)
{
	vigil_finding f;

	memset(&f, 0, sizeof(f));
	f.path = path;
	f.path_len = strlen(path);
	f.category = c;
	snprintf(f.fingerprint, sizeof(f.fingerprint), "%s", fp);
	snprintf(f.redacted, sizeof(f.redacted), "411111******1111");
	return f;
}

struct rows {
	int n;
	char path[8][256];
	uint64_t cards[8], keys[8], ino[8];
};

static int collect(void *user, const vigil_inventory_file *f)
{
	struct rows *r = user;

	assert_true(r->n < 8);
	assert_int_equal(strlen(f->path), f->path_len);
	snprintf(r->path[r->n], sizeof(r->path[0]), "%s", f->path);
	r->cards[r->n] = f->counts[VIGIL_CAT_PAYMENT_CARD];
	r->keys[r->n] = f->counts[VIGIL_CAT_PRIVATE_KEY];
	r->ino[r->n] = f->ino;
	r->n++;
	return 0;
}

static void read_all(const char *db, struct rows *r)
{
	vigil_inventory *inv = NULL;
	char err[256];

	memset(r, 0, sizeof(*r));
	assert_int_equal(vigil_inventory_open(db, false, &inv, err, sizeof(err)), 0);
	assert_int_equal(vigil_inventory_foreach(inv, collect, r), 0);
	vigil_inventory_close(inv);
}

/* Records files of root (given as paths relative to it) with one card each; returns the
 * number of files the commit wrote. */
static uint64_t record(const char *db, const char *root, const char *const *names, size_t n,
		       bool commit)
{
	vigil_inventory *inv = NULL;
	const char *roots[1] = {root};
	char err[256], path[256];
	uint64_t files = 0;

	assert_int_equal(vigil_inventory_open(db, true, &inv, err, sizeof(err)), 0);
	assert_int_equal(vigil_inventory_record_begin(inv, roots, 1), 0);
	for (size_t i = 0; i < n; i++) {
		vigil_finding f;
		char fp[80];

		snprintf(path, sizeof(path), "%s/%s", root, names[i]);
		snprintf(fp, sizeof(fp), "sha256:%064zx", i + 1);
		f = finding(path, VIGIL_CAT_PAYMENT_CARD, fp);
		assert_int_equal(vigil_inventory_record_finding(inv, &f), 0);
		/* The same secret twice in one file: counted twice, fingerprint kept once. */
		assert_int_equal(vigil_inventory_record_finding(inv, &f), 0);
	}
	if (commit)
		assert_int_equal(vigil_inventory_record_commit(inv, &files), 0);
	vigil_inventory_close(inv);
	return files;
}

static void test_record_and_read(void **state)
{
	struct fixture *fx = *state;
	const char *names[] = {"one.txt", "two.txt"};
	struct rows r;
	struct stat st;
	char path[256];

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->a, names[i]);
		put(path, "card " CARD "\n");
	}
	assert_int_equal(record(fx->db, fx->a, names, 2, true), 2);
	assert_int_equal(stat(fx->db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600); /* a map of secrets: private */
	read_all(fx->db, &r);
	assert_int_equal(r.n, 2);
	snprintf(path, sizeof(path), "%s/one.txt", fx->a);
	assert_string_equal(r.path[0], path);
	assert_int_equal(r.cards[0], 2);
	assert_int_equal(r.keys[0], 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(r.ino[0], st.st_ino);

	/* The database never holds the number or its redacted form. */
	{
		FILE *f = fopen(fx->db, "rb");
		static char buf[1 << 20];
		size_t n;

		assert_non_null(f);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		assert_null(memmem(buf, n, CARD, strlen(CARD)));
		assert_null(memmem(buf, n, "411111******", 12));
	}
}

static void test_replace_per_root(void **state)
{
	struct fixture *fx = *state;
	const char *two[] = {"one.txt", "two.txt"}, *one[] = {"two.txt"}, *other[] = {"x.txt"};
	struct rows r;
	char path[256];

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->a, two[i]);
		put(path, "card\n");
	}
	snprintf(path, sizeof(path), "%s/x.txt", fx->b);
	put(path, "card\n");
	record(fx->db, fx->a, two, 2, true);
	record(fx->db, fx->b, other, 1, true);
	read_all(fx->db, &r);
	assert_int_equal(r.n, 3);
	/* a again, now with one file: its other entry goes, b's stays. */
	record(fx->db, fx->a, one, 1, true);
	read_all(fx->db, &r);
	assert_int_equal(r.n, 2);
	assert_non_null(strstr(r.path[0], "/a/two.txt"));
	assert_non_null(strstr(r.path[1], "/b/x.txt"));
	/* An aborted record changes nothing. */
	record(fx->db, fx->b, NULL, 0, false);
	read_all(fx->db, &r);
	assert_int_equal(r.n, 2);
	/* A committed empty record of b clears it. */
	record(fx->db, fx->b, NULL, 0, true);
	read_all(fx->db, &r);
	assert_int_equal(r.n, 1);
}

static void test_gone_file_left_out(void **state)
{
	struct fixture *fx = *state;
	const char *names[] = {"vanished.txt"};
	struct rows r;

	assert_int_equal(record(fx->db, fx->a, names, 1, true), 0); /* never created */
	read_all(fx->db, &r);
	assert_int_equal(r.n, 0);
}

static void test_errors(void **state)
{
	struct fixture *fx = *state;
	vigil_inventory *inv = NULL;
	char err[256], path[256];
	vigil_finding f = finding("/x", VIGIL_CAT_SSN, "");

	/* Read-only and missing. */
	assert_int_equal(vigil_inventory_open(fx->db, false, &inv, err, sizeof(err)),
			 VIGIL_E_NOT_FOUND);
	assert_null(inv);
	/* Not an inventory. */
	snprintf(path, sizeof(path), "%s/not.db", fx->dir);
	put(path, "hello, I am text and not SQLite at all, padded to look like a file\n");
	assert_int_equal(vigil_inventory_open(path, true, &inv, err, sizeof(err)), VIGIL_E_FORMAT);
	assert_non_null(strstr(err, "not a vigil inventory"));
	/* Another SQLite database (here: an empty one made by sqlite, with a table). */
	snprintf(path, sizeof(path), "sqlite3 '%s/other.db' 'create table t(x)' 2>/dev/null",
		 fx->dir);
	if (system(path) == 0) {
		snprintf(path, sizeof(path), "%s/other.db", fx->dir);
		assert_int_equal(vigil_inventory_open(path, false, &inv, err, sizeof(err)),
				 VIGIL_E_FORMAT);
	}
	/* Recording needs a writable handle and an open record. */
	assert_int_equal(vigil_inventory_open(fx->db, true, &inv, err, sizeof(err)), 0);
	assert_int_equal(vigil_inventory_record_finding(inv, &f), VIGIL_E_INVALID);
	assert_int_equal(vigil_inventory_record_commit(inv, NULL), VIGIL_E_INVALID);
	vigil_inventory_close(inv);
	assert_int_equal(vigil_inventory_open(fx->db, false, &inv, err, sizeof(err)), 0);
	assert_int_equal(vigil_inventory_record_begin(inv, NULL, 0), VIGIL_E_INVALID);
	vigil_inventory_close(inv);
	vigil_inventory_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_record_and_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_per_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gone_file_left_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
