/* SPDX-License-Identifier: Apache-2.0 */
/* The baseline engine through its public API: init, check and the session vigil watch
 * uses (compare one path at a time), on trees made in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "vigil/baseline.h"

struct fixture {
	char dir[64];
	char tree[128], db[128], key[128];
	vigil_baseline_options o;
	const char *paths[1];
};

struct seen {
	int n;
	vigil_change_kind kind[16];
	uint32_t attrs[16];
	char path[16][256];
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
	struct fixture *f = calloc(1, sizeof(*f));
	char p[256], err[512];
	vigil_baseline_stats st;

	strcpy(f->dir, "/tmp/vigil-test-baseline.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->tree, sizeof(f->tree), "%s/tree", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/b.db", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key", f->dir);
	assert_int_equal(mkdir(f->tree, 0755), 0);
	snprintf(p, sizeof(p), "%s/sub", f->tree);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/a", f->tree);
	put(p, "alpha\n");
	snprintf(p, sizeof(p), "%s/sub/b", f->tree);
	put(p, "beta\n");
	vigil_baseline_options_default(&f->o);
	f->o.db_path = f->db;
	f->o.key_path = f->key;
	f->paths[0] = f->tree;
	f->o.paths = f->paths;
	f->o.npaths = 1;
	assert_int_equal(vigil_baseline_init(&f->o, NULL, &st, err, sizeof(err)), 0);
	assert_int_equal(st.entries, 4); /* tree, a, sub, sub/b */
	assert_int_equal(st.generation, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int collect(void *user, const vigil_change *c)
{
	struct seen *s = user;

	assert_true(s->n < 16);
	s->kind[s->n] = c->kind;
	s->attrs[s->n] = c->attrs;
	snprintf(s->path[s->n], sizeof(s->path[0]), "%s", c->path);
	s->n++;
	return 0;
}

static void test_check_finds_changes_in_path_order(void **state)
{
	struct fixture *f = *state;
	vigil_baseline_callbacks cb = {.on_change = collect};
	vigil_baseline_stats st;
	struct seen s = {0};
	char p[256], err[512];

	snprintf(p, sizeof(p), "%s/sub/b", f->tree);
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/a", f->tree);
	assert_int_equal(chmod(p, 0600), 0);
	snprintf(p, sizeof(p), "%s/new", f->tree);
	put(p, "n");
	cb.user = &s;
	assert_int_equal(vigil_baseline_check(&f->o, &cb, &st, err, sizeof(err)), 0);
	assert_int_equal(st.added, 1);
	assert_int_equal(st.removed, 1);
	assert_int_equal(st.changed, 1);
	assert_int_equal(s.n, 3);
	/* Path order: a, new, sub/b. */
	assert_int_equal(s.kind[0], VIGIL_CHANGE_CHANGED);
	assert_true(s.attrs[0] & VIGIL_ATTR_MODE);
	assert_int_equal(s.kind[1], VIGIL_CHANGE_ADDED);
	assert_int_equal(s.kind[2], VIGIL_CHANGE_REMOVED);
	assert_non_null(strstr(s.path[2], "/sub/b"));
}

/* Edits a row behind vigil's back, keeping its row MAC. */
static void edit_row(const struct fixture *f, const char *rel)
{
	sqlite3 *h = NULL;
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "UPDATE entries SET uid = uid + 1 WHERE path = CAST('%s/%s' AS BLOB)", f->tree,
		 rel);
	assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(h), 1);
	sqlite3_close(h);
}

/* check verifies each row where it reads it: an edited row is refused whether the walk
 * reads it (a file still there) or only the removed pass does (a file gone), and no
 * change is reported from a baseline that does not verify. */
static void test_check_refuses_edited_rows(void **state)
{
	struct fixture *f = *state;
	vigil_baseline_callbacks cb = {.on_change = collect};
	vigil_baseline_stats st;
	struct seen s = {0};
	char p[256], err[512], want[512];

	cb.user = &s;
	edit_row(f, "a");
	assert_int_equal(vigil_baseline_check(&f->o, &cb, &st, err, sizeof(err)), VIGIL_E_FORMAT);
	snprintf(want, sizeof(want), "row %s/a was changed after the baseline was sealed", f->tree);
	assert_string_equal(err, want);
	assert_int_equal(s.n, 0);

	/* The same row edited, the file gone too: no removal of a row that does not verify. */
	snprintf(p, sizeof(p), "%s/a", f->tree);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(vigil_baseline_check(&f->o, &cb, &st, err, sizeof(err)), VIGIL_E_FORMAT);
	assert_string_equal(err, want);
	assert_int_equal(s.n, 0);

	/* Two rows: the first in path order is named. */
	edit_row(f, "sub/b");
	snprintf(want, sizeof(want),
		 "row %s/a was changed after the baseline was sealed (and 1 more)", f->tree);
	assert_int_equal(vigil_baseline_check(&f->o, &cb, &st, err, sizeof(err)), VIGIL_E_FORMAT);
	assert_string_equal(err, want);
	assert_int_equal(s.n, 0);
}

static void test_session_compares_one_path(void **state)
{
	struct fixture *f = *state;
	vigil_baseline *b = NULL;
	struct seen s = {0};
	const char *const *roots, *const *own;
	char p[256], err[512];
	size_t n;

	assert_int_equal(vigil_baseline_open(&f->o, &b, err, sizeof(err)), 0);
	n = vigil_baseline_roots(b, &roots);
	assert_int_equal(n, 1);
	assert_string_equal(roots[0], f->tree);
	n = vigil_baseline_own_files(b, &own);
	assert_true(n >= 2);
	assert_string_equal(own[0], f->db);

	snprintf(p, sizeof(p), "%s/a", f->tree);
	assert_true(vigil_baseline_covers(b, p));
	assert_false(vigil_baseline_covers(b, "/nowhere/else"));
	assert_false(vigil_baseline_covers(b, f->db));
	assert_int_equal(vigil_baseline_compare_path(b, p, collect, &s), 0);
	assert_int_equal(s.n, 0); /* unchanged */

	put(p, "ALPHA\n"); /* same size, new content */
	assert_int_equal(vigil_baseline_compare_path(b, p, collect, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.kind[0], VIGIL_CHANGE_CHANGED);
	assert_true(s.attrs[0] & VIGIL_ATTR_HASH);

	snprintf(p, sizeof(p), "%s/c", f->tree);
	put(p, "c");
	assert_int_equal(vigil_baseline_compare_path(b, p, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.kind[1], VIGIL_CHANGE_ADDED);

	/* A directory removed: it and everything recorded below it. */
	snprintf(p, sizeof(p), "rm -rf '%s/sub'", f->tree);
	assert_int_equal(system(p), 0);
	snprintf(p, sizeof(p), "%s/sub", f->tree);
	assert_int_equal(vigil_baseline_compare_path(b, p, collect, &s), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.kind[2], VIGIL_CHANGE_REMOVED);
	assert_int_equal(s.kind[3], VIGIL_CHANGE_REMOVED);
	assert_non_null(strstr(s.path[3], "/sub/b"));
	vigil_baseline_close(b);
}

static void test_session_survives_accept(void **state)
{
	struct fixture *f = *state;
	vigil_baseline *b = NULL;
	vigil_baseline_stats st;
	struct seen s = {0};
	const char *one[1];
	char p[256], err[512];

	assert_int_equal(vigil_baseline_open(&f->o, &b, err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/a", f->tree);
	put(p, "changed\n");
	/* The session holds no lock: accept proceeds while it is open. */
	one[0] = p;
	f->o.wait = false;
	assert_int_equal(vigil_baseline_accept(&f->o, one, 1, false, NULL, &st, err, sizeof(err)),
			 0);
	assert_int_equal(st.generation, 2);
	assert_int_equal(vigil_baseline_reload(b, err, sizeof(err)), 0);
	assert_int_equal(vigil_baseline_compare_path(b, p, collect, &s), 0);
	assert_int_equal(s.n, 0);
	vigil_baseline_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_check_finds_changes_in_path_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_check_refuses_edited_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_compares_one_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_survives_accept, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
