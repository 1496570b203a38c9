/* SPDX-License-Identifier: Apache-2.0 */
/* The baseline engine through its public API: init, check and the session vigil watch
 * uses (compare one path at a time), on trees made in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "baseline_int.h"
#include "meta.h"
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

/* sub/b removed, a's mode changed, new added. */
static void make_three_changes(const struct fixture *f)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/sub/b", f->tree);
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/a", f->tree);
	assert_int_equal(chmod(p, 0600), 0);
	snprintf(p, sizeof(p), "%s/new", f->tree);
	put(p, "n");
}

static void test_check_finds_changes_in_path_order(void **state)
{
	struct fixture *f = *state;
	vigil_baseline_callbacks cb = {.on_change = collect};
	vigil_baseline_stats st;
	struct seen s = {0};
	char err[512];

	make_three_changes(f);
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

struct added {
	int n;
	uint32_t type;
	char target[64];
	uint64_t inode;
};

static int note_added(void *user, const vigil_change *c)
{
	struct added *a = user;

	assert_int_equal(c->kind, VIGIL_CHANGE_ADDED);
	assert_non_null(c->new_entry);
	a->n++;
	a->type = c->new_entry->type;
	a->inode = c->new_entry->inode;
	snprintf(a->target, sizeof(a->target), "%.*s", (int)c->new_entry->target_len,
		 c->new_entry->target ? c->new_entry->target : "");
	return 0;
}

/* The one lstat of a comparison is handed to the watcher (it need not look again), and
 * entries of each type are read by their absolute path. */
static void test_session_says_what_it_found(void **state)
{
	struct fixture *f = *state;
	vigil_baseline *b = NULL;
	struct seen s = {0};
	struct stat st, want;
	char p[256], err[512];
	int found;

	assert_int_equal(vigil_baseline_open(&f->o, &b, err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/a", f->tree);
	assert_int_equal(lstat(p, &want), 0);
	assert_int_equal(vigil_baseline_compare_path_st(b, p, strlen(p), collect, &s, &st, &found),
			 0);
	assert_int_equal(found, 1);
	assert_int_equal(s.n, 0);
	assert_int_equal(st.st_ino, want.st_ino);
	assert_int_equal(st.st_size, want.st_size);

	/* Gone without a row: nothing to report, and the caller knows it is gone. */
	snprintf(p, sizeof(p), "%s/never", f->tree);
	assert_int_equal(vigil_baseline_compare_path_st(b, p, strlen(p), collect, &s, &st, &found),
			 0);
	assert_int_equal(found, 0);
	assert_int_equal(s.n, 0);
	/* Not covered: not looked at. */
	assert_int_equal(
	    vigil_baseline_compare_path_st(b, "/nowhere/else", 13, collect, &s, &st, &found), 0);
	assert_int_equal(found, -1);
	/* Gone with rows: reported, and gone. */
	snprintf(p, sizeof(p), "rm -rf '%s/sub'", f->tree);
	assert_int_equal(system(p), 0);
	snprintf(p, sizeof(p), "%s/sub", f->tree);
	assert_int_equal(vigil_baseline_compare_path_st(b, p, strlen(p), collect, &s, &st, &found),
			 0);
	assert_int_equal(found, 0);
	assert_int_equal(s.n, 2);

	/* A symlink, a directory and a FIFO added: each read as it is. */
	{
		static const struct {
			const char *name;
			uint32_t type;
		} t[] = {{"ln", S_IFLNK}, {"dir", S_IFDIR}, {"fifo", S_IFIFO}};
		char q[256];

		snprintf(q, sizeof(q), "%s/ln", f->tree);
		assert_int_equal(symlink("../some/target", q), 0);
		snprintf(q, sizeof(q), "%s/dir", f->tree);
		assert_int_equal(mkdir(q, 0700), 0);
		snprintf(q, sizeof(q), "%s/fifo", f->tree);
		assert_int_equal(mkfifo(q, 0600), 0);
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			struct added a = {0};

			snprintf(q, sizeof(q), "%s/%s", f->tree, t[i].name);
			assert_int_equal(lstat(q, &want), 0);
			assert_int_equal(vigil_baseline_compare_path_st(b, q, strlen(q), note_added,
									&a, &st, &found),
					 0);
			assert_int_equal(found, 1);
			assert_int_equal(a.n, 1);
			assert_int_equal(a.type, t[i].type);
			assert_int_equal(a.inode, want.st_ino);
			assert_string_equal(a.target, t[i].type == S_IFLNK ? "../some/target" : "");
		}
	}
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

/* A tree of more files than one worker batch, of every size class the batch reader
 * treats apart (empty, small, exactly its read-ahead, larger, sparse), beside a symlink
 * and a FIFO; returns its path in out. */
static void make_mix(const struct fixture *f, char *out, size_t cap)
{
	static char big[200 * 1024];
	char p[256];
	FILE *fp;
	int fd;

	snprintf(out, cap, "%s/mix", f->dir);
	assert_int_equal(mkdir(out, 0755), 0);
	for (int i = 0; i < 40; i++) {
		char text[32];

		snprintf(p, sizeof(p), "%s/f%02d", out, i);
		snprintf(text, sizeof(text), "content %d\n", i);
		put(p, text);
	}
	snprintf(p, sizeof(p), "%s/empty", out);
	put(p, "");
	memset(big, 'b', sizeof(big));
	snprintf(p, sizeof(p), "%s/mid", out);
	assert_non_null(fp = fopen(p, "w"));
	assert_int_equal(fwrite(big, 1, 64 * 1024, fp), 64 * 1024);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/big", out);
	assert_non_null(fp = fopen(p, "w"));
	assert_int_equal(fwrite(big, 1, sizeof(big), fp), sizeof(big));
	fclose(fp);
	snprintf(p, sizeof(p), "%s/sparse", out);
	assert_true((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0);
	assert_int_equal(pwrite(fd, "s", 1, 4096), 1);
	assert_int_equal(ftruncate(fd, 1024 * 1024), 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/link", out);
	assert_int_equal(symlink("f00", p), 0);
	snprintf(p, sizeof(p), "%s/fifo", out);
	assert_int_equal(mkfifo(p, 0644), 0);
}

/* Overwrites one byte at off, keeping size and mtime: only the content says it. */
static void poke(const char *dir, const char *rel, off_t off, char c)
{
	char p[256];
	struct stat st;
	struct timespec t[2];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(stat(p, &st), 0);
	assert_true((fd = open(p, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	t[0] = st.st_atim;
	t[1] = st.st_mtim;
	assert_int_equal(futimens(fd, t), 0);
	close(fd);
}

/* What init recorded through batches agrees with the one-path-at-a-time reads of the
 * watch session (lstat, open, fstat, read: no batch, no read-ahead). */
static void same_as_single_reads(const struct fixture *f, const char *mix)
{
	static const char *const extra[] = {"empty", "mid", "big", "sparse", "link", "fifo"};
	vigil_baseline *b = NULL;
	struct seen s = {0};
	char p[256], err[512];

	assert_int_equal(vigil_baseline_open(&f->o, &b, err, sizeof(err)), 0);
	for (int i = 0; i < 40 + 6; i++) {
		if (i < 40)
			snprintf(p, sizeof(p), "%s/f%02d", mix, i);
		else
			snprintf(p, sizeof(p), "%s/%s", mix, extra[i - 40]);
		assert_int_equal(vigil_baseline_compare_path(b, p, collect, &s), 0);
		assert_int_equal(s.n, 0);
	}
	vigil_baseline_close(b);
}

/* check through io_uring (batched opens and reads) and through the plain system calls
 * (VIGIL_IO_URING=0: what a container without io_uring gets) finds the same: nothing on
 * an unchanged tree whichever way it was recorded, then each content edit by its digest
 * and each file swapped for a symlink or a FIFO by its type. */
/* A check through io_uring (ring) or forced to plain system calls, changes into s. */
static void check_io(struct fixture *f, bool ring, struct seen *s, vigil_baseline_stats *st)
{
	vigil_baseline_callbacks cb = {.on_change = collect, .user = s};
	char err[512];

	if (ring)
		unsetenv("VIGIL_IO_URING");
	else
		setenv("VIGIL_IO_URING", "0", 1);
	assert_int_equal(vigil_baseline_check(&f->o, &cb, st, err, sizeof(err)), 0);
}

static void test_check_same_with_and_without_io_uring(void **state)
{
	struct fixture *f = *state;
	static const char *const want[] = {"big", "f07", "f20", "f21", "mid", "sparse"};
	static const uint32_t want_attr[] = {VIGIL_ATTR_HASH, VIGIL_ATTR_HASH, VIGIL_ATTR_TYPE,
					     VIGIL_ATTR_TYPE, VIGIL_ATTR_HASH, VIGIL_ATTR_HASH};
	vigil_baseline_stats st;
	char mix[128], p[256], err[512];

	make_mix(f, mix, sizeof(mix));
	f->paths[0] = mix;
	for (int rec = 0; rec < 2; rec++) {
		/* Recorded one way, checked both ways. */
		if (rec == 1)
			setenv("VIGIL_IO_URING", "0", 1);
		assert_int_equal(vigil_baseline_init(&f->o, NULL, &st, err, sizeof(err)), 0);
		assert_int_equal(st.entries,
				 47); /* mix, 40 f*, empty, mid, big, sparse, link, fifo */
		same_as_single_reads(f, mix);
		for (int ring = 1; ring >= 0; ring--) {
			struct seen s = {0};

			check_io(f, ring, &s, &st);
			assert_int_equal(s.n, 0);
			assert_int_equal(st.entries, 47);
			assert_int_equal(st.files_hashed, 44);
		}
		unsetenv("VIGIL_IO_URING");
	}

	poke(mix, "f07", 0, 'C');
	poke(mix, "mid", 64 * 1024 - 1, 'M');  /* the last byte read ahead */
	poke(mix, "big", 150 * 1024, 'B');     /* past what is read ahead */
	poke(mix, "sparse", 900 * 1024, 'S');  /* inside a hole */
	snprintf(p, sizeof(p), "%s/f20", mix); /* a file now a symlink, another a FIFO */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("f00", p), 0);
	snprintf(p, sizeof(p), "%s/f21", mix);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	for (int ring = 1; ring >= 0; ring--) {
		struct seen s = {0};

		check_io(f, ring, &s, &st);
		assert_int_equal(s.n, 6);
		for (int i = 0; i < 6; i++) {
			snprintf(p, sizeof(p), "%s/%s", mix, want[i]);
			assert_string_equal(s.path[i], p);
			assert_int_equal(s.kind[i], VIGIL_CHANGE_CHANGED);
			assert_true(s.attrs[i] & want_attr[i]);
		}
	}
	unsetenv("VIGIL_IO_URING");
}

/* keep_change leaves a change out before it is held (counted in passed_over); unordered
 * hands the others over as they are found. */
static bool keep_all_but_new(void *user, const vigil_change *c)
{
	(void)user;
	return strstr(c->path, "/new") == NULL;
}

static bool seen_path(const struct seen *s, vigil_change_kind kind, const char *tail)
{
	for (int i = 0; i < s->n; i++)
		if (s->kind[i] == kind && strlen(s->path[i]) >= strlen(tail) &&
		    strcmp(s->path[i] + strlen(s->path[i]) - strlen(tail), tail) == 0)
			return true;
	return false;
}

static void test_check_passes_over_and_streams(void **state)
{
	struct fixture *f = *state;
	vigil_baseline_callbacks cb = {.on_change = collect, .keep_change = keep_all_but_new};
	vigil_baseline_stats st;
	struct seen s = {0};
	char p[256], err[512];

	make_three_changes(f);
	snprintf(p, sizeof(p), "%s/other", f->tree);
	put(p, "o");
	cb.user = &s;
	f->o.unordered = true;
	assert_int_equal(vigil_baseline_check(&f->o, &cb, &st, err, sizeof(err)), 0);
	assert_int_equal(st.passed_over, 1);
	assert_int_equal(st.added, 1);
	assert_int_equal(st.removed, 1);
	assert_int_equal(st.changed, 1);
	assert_int_equal(s.n, 3);
	assert_true(seen_path(&s, VIGIL_CHANGE_ADDED, "/other"));
	assert_true(seen_path(&s, VIGIL_CHANGE_REMOVED, "/sub/b"));
	assert_true(seen_path(&s, VIGIL_CHANGE_CHANGED, "/a"));
	assert_false(seen_path(&s, VIGIL_CHANGE_ADDED, "/new"));
}

/* A held snapshot serves several comparisons and is let go before a reload. */
static void test_session_holds_a_snapshot(void **state)
{
	struct fixture *f = *state;
	vigil_baseline *b = NULL;
	struct seen s = {0};
	char p[256], err[512];

	assert_int_equal(vigil_baseline_open(&f->o, &b, err, sizeof(err)), 0);
	assert_int_equal(vigil_baseline_hold(b), 0);
	snprintf(p, sizeof(p), "%s/a", f->tree);
	put(p, "changed\n");
	assert_int_equal(vigil_baseline_compare_path(b, p, collect, &s), 0);
	snprintf(p, sizeof(p), "%s/sub/b", f->tree);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(vigil_baseline_compare_path(b, p, collect, &s), 0);
	vigil_baseline_release(b);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.kind[0], VIGIL_CHANGE_CHANGED);
	assert_int_equal(s.kind[1], VIGIL_CHANGE_REMOVED);
	assert_int_equal(vigil_baseline_reload(b, err, sizeof(err)), 0);
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
	    cmocka_unit_test_setup_teardown(test_session_says_what_it_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_passes_over_and_streams, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_holds_a_snapshot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_same_with_and_without_io_uring, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
