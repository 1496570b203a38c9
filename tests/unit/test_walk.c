/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the directory walk: order, file types, links, long and odd paths, limits. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "input.h"
#include "walk.h"

/* Every test runs under this alarm: a walk that opens a FIFO blocks, and must fail loudly. */
#define TEST_TIMEOUT 60

/* ---- the recorded walk ---- */

struct ev {
	char kind; /* 'F' file, 'D' directory, 'S' skip */
	char *path;
	size_t len;
	vigil_skip reason;
	int err;
	char *content; /* first bytes of a file, read through dirfd/name; NULL if open failed */
	vigil_skip open_reason;
};

struct rec {
	struct ev *v;
	size_t n, cap;
	int stop_after; /* on_file returns 42 after this many files; 0 = never */
	size_t files;
	const char *unlink_path; /* removed from on_dir when that directory is entered */
	const char *unlink_dir;
};

static void rec_add(struct rec *r, char kind, const char *path, size_t len)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		assert_non_null(r->v);
	}
	struct ev *e = &r->v[r->n++];
	*e = (struct ev){.kind = kind, .len = len};
	e->path = malloc(len + 1);
	assert_non_null(e->path);
	memcpy(e->path, path, len + 1);
}

static void rec_free(struct rec *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].path);
		free(r->v[i].content);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int on_file(void *user, const vigil_walk_entry *e)
{
	struct rec *r = user;
	vigil_skip reason;
	int fd;

	/* path_len is what a consumer uses; it must agree with the string. */
	if (strlen(e->path) != e->path_len || !S_ISREG(e->st->st_mode))
		fail_msg("bad entry for %s", e->path);
	rec_add(r, 'F', e->path, e->path_len);
	/* Read the file the way the scanner will: this proves dirfd/name and st fit. */
	fd = vigil_open_regular(e->dirfd, e->name, e->st, &reason);
	if (fd >= 0) {
		vigil_file_reader fr;
		char buf[256];
		size_t got = 0;
		ssize_t n;
		vigil_file_reader_init(&fr, fd, e->st->st_size);
		while (got < sizeof(buf) - 1 &&
		       (n = fr.r.read(&fr.r, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		r->v[r->n - 1].content = strdup(buf);
		close(fd);
	} else {
		r->v[r->n - 1].open_reason = reason;
	}
	r->files++;
	return (r->stop_after && r->files >= (size_t)r->stop_after) ? 42 : 0;
}

static void on_skip(void *user, const char *path, vigil_skip reason, int err)
{
	struct rec *r = user;

	rec_add(r, 'S', path, strlen(path));
	r->v[r->n - 1].reason = reason;
	r->v[r->n - 1].err = err;
}

static void on_dir(void *user, const char *path)
{
	struct rec *r = user;

	rec_add(r, 'D', path, strlen(path));
	if (r->unlink_dir && strcmp(path, r->unlink_dir) == 0)
		assert_int_equal(unlink(r->unlink_path), 0);
}

static int walk(const char *root, const vigil_walk_options *o, struct rec *r)
{
	vigil_walk_callbacks cb = {
	    .on_file = on_file, .on_skip = on_skip, .on_dir = on_dir, .user = r};
	return vigil_walk(root, o, &cb);
}

/* Index of the event of that kind for path, or -1. */
static long find_ev(const struct rec *r, char kind, const char *path)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].kind == kind && strcmp(r->v[i].path, path) == 0)
			return (long)i;
	return -1;
}

static bool any_under(const struct rec *r, const char *prefix)
{
	size_t n = strlen(prefix);

	for (size_t i = 0; i < r->n; i++)
		if (strncmp(r->v[i].path, prefix, n) == 0)
			return true;
	return false;
}

/* ---- the temporary tree ---- */

struct fx {
	char root[64];
	char mounts[4][600];
	int nmounts;
	bool chmodded; /* some directory was made unreadable: undo before rm */
	struct rec rec;
};

/* root + "/" + rel, in a rotating buffer (valid for the next few calls). */
static const char *P(struct fx *f, const char *rel)
{
	static char buf[8][512];
	static unsigned next;
	char *b = buf[next++ % 8];
	snprintf(b, sizeof(buf[0]), "%s/%s", f->root, rel);
	return b;
}

static void put(struct fx *f, const char *rel, const char *content)
{
	int fd = open(P(f, rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void dir(struct fx *f, const char *rel)
{
	assert_int_equal(mkdir(P(f, rel), 0755), 0);
}

static void link_to(struct fx *f, const char *target, const char *rel)
{
	assert_int_equal(symlink(target, P(f, rel)), 0);
}

static void run(const char *const argv[])
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->root, "/tmp/vigil-walk-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	/* Readable by the unprivileged child of the permission tests. */
	assert_int_equal(chmod(f->root, 0755), 0);
	*state = f;
	alarm(TEST_TIMEOUT);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	alarm(0);
	for (int i = f->nmounts - 1; i >= 0; i--)
		umount2(f->mounts[i], MNT_DETACH);
	/* Directories made unreadable for a test must not stop rm (when not root). */
	const char *chmod_argv[] = {"chmod", "-R", "u+rwx", f->root, NULL};
	const char *rm_argv[] = {"rm", "-rf", "--one-file-system", f->root, NULL};
	if (f->chmodded)
		run(chmod_argv);
	run(rm_argv);
	rec_free(&f->rec);
	free(f);
	return 0;
}

static void on_alarm(int sig)
{
	static const char msg[] =
	    "test_walk: timed out (a FIFO opened or a walk that never ends?)\n";
	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(3);
}

/* ---- tests ---- */

static void test_excluded_table(void **state)
{
	static const char *const globs[] = {"*.log", "/srv/cache", "*/tmp/*", "core.[0-9]*", NULL};
	static const struct {
		const char *path;
		bool excluded;
	} cases[] = {
	    {"/var/log/syslog.log", true}, /* base name */
	    {"app.log", true},             /* no slash at all */
	    {"/var/log/syslog", false},
	    {"/srv/cache", true}, /* full path */
	    {"/srv/cache2", false},
	    {"/x/srv/cache", false}, /* full path glob does not match a suffix... */
	    {"/a/b/tmp/c/d", true},  /* ...but '*' crosses '/', as in find -path */
	    {"/a/b/tmp", false},
	    {"/home/u/core.123", true},
	    {"/home/u/core.x", false},
	    {"/", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (vigil_path_excluded(cases[i].path, globs) != cases[i].excluded)
			fail_msg("%s: expected %s", cases[i].path,
				 cases[i].excluded ? "excluded" : "kept");
	}
	assert_false(vigil_path_excluded("/a.log", NULL));
	static const char *const none[] = {NULL};
	assert_false(vigil_path_excluded("/a.log", none));
}

static void test_tree_order(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;

	put(f, "b", "B");
	put(f, "a2", "A2");
	dir(f, "c");
	dir(f, "c/d");
	put(f, "c/x", "X");
	put(f, "c/d/y", "Y");
	put(f, "a", "A");
	dir(f, "empty");

	assert_int_equal(walk(f->root, NULL, r), 0);
	/* Sorted with strcmp, depth first: the exact sequence. */
	const struct {
		char kind;
		const char *rel, *content;
	} want[] = {
	    {'D', "", NULL},     {'F', "a", "A"},   {'F', "a2", "A2"},
	    {'F', "b", "B"},     {'D', "c", NULL},  {'D', "c/d", NULL},
	    {'F', "c/d/y", "Y"}, {'F', "c/x", "X"}, {'D', "empty", NULL},
	};
	assert_int_equal(r->n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < r->n; i++) {
		const char *p = want[i].rel[0] ? P(f, want[i].rel) : f->root;
		if (r->v[i].kind != want[i].kind || strcmp(r->v[i].path, p) != 0)
			fail_msg("event %zu: got %c %s, want %c %s", i, r->v[i].kind, r->v[i].path,
				 want[i].kind, p);
		if (want[i].content)
			assert_string_equal(r->v[i].content, want[i].content);
	}
}

static void test_special_files(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	bool have_dev;
	int sk, in;

	put(f, "a", "A");
	assert_int_equal(mkfifo(P(f, "fifo"), 0644), 0);
	sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sk >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", P(f, "sock"));
	assert_int_equal(bind(sk, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* A copy of /dev/null: only root may make device nodes. */
	have_dev = mknod(P(f, "null"), S_IFCHR | 0666, makedev(1, 3)) == 0;
	if (!have_dev)
		print_message("SKIP: device node part needs root (mknod: %s)\n", strerror(errno));

	/* Any open of the FIFO or the device would show as IN_OPEN. */
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(in >= 0);
	assert_true(inotify_add_watch(in, P(f, "fifo"), IN_OPEN | IN_ACCESS) >= 0);
	if (have_dev)
		assert_true(inotify_add_watch(in, P(f, "null"), IN_OPEN | IN_ACCESS) >= 0);

	assert_int_equal(walk(f->root, NULL, r), 0);

	char evbuf[4096];
	assert_int_equal(read(in, evbuf, sizeof(evbuf)), -1);
	assert_int_equal(errno, EAGAIN);
	close(in);
	close(sk);

	const char *special[] = {"fifo", "sock", have_dev ? "null" : NULL};
	for (size_t i = 0; i < 3 && special[i]; i++) {
		long k = find_ev(r, 'S', P(f, special[i]));
		if (k < 0)
			fail_msg("%s not reported", special[i]);
		assert_int_equal(r->v[k].reason, VIGIL_SKIP_SPECIAL);
		assert_int_equal(r->v[k].err, 0);
		assert_true(find_ev(r, 'F', P(f, special[i])) < 0);
	}
	assert_true(find_ev(r, 'F', P(f, "a")) >= 0);
}

/* Links are not followed by default: silently left out, whatever they point to. */
static void test_symlinks_not_followed(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;

	put(f, "a", "A");
	dir(f, "d");
	put(f, "d/x", "X");
	link_to(f, "a", "lf");
	link_to(f, "d", "ld");
	link_to(f, "nowhere", "dangling");
	link_to(f, ".", "self");

	assert_int_equal(walk(f->root, NULL, r), 0);
	assert_true(find_ev(r, 'F', P(f, "a")) >= 0);
	assert_true(find_ev(r, 'F', P(f, "d/x")) >= 0);
	assert_false(any_under(r, P(f, "lf")));
	assert_false(any_under(r, P(f, "ld")));
	assert_false(any_under(r, P(f, "dangling")));
	assert_false(any_under(r, P(f, "self")));
	assert_int_equal(r->n, 4); /* D root, F a, D d, F d/x */
}

static void test_symlinks_followed(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	vigil_walk_options o = {.follow_symlinks = true};

	put(f, "a", "A");
	dir(f, "d");
	put(f, "d/x", "X");
	dir(f, "other");
	put(f, "other/t", "T");
	link_to(f, "a", "lf");
	link_to(f, "lf", "llf");             /* link to a link */
	link_to(f, P(f, "other/t"), "labs"); /* absolute target in another directory */
	link_to(f, "../other/t", "d/lrel");  /* relative target with a directory part */
	link_to(f, "d", "ld");
	link_to(f, "..", "d/up"); /* back to the root: a loop */
	link_to(f, "l2", "l1");   /* a chain loop: ELOOP from the kernel */
	link_to(f, "l1", "l2");
	link_to(f, "nowhere", "dangling");

	assert_int_equal(walk(f->root, &o, r), 0);

	/* Files through links: reported under the link's path, with the target's content. */
	const struct {
		const char *rel, *content;
	} files[] = {{"lf", "A"},     {"llf", "A"},     {"labs", "T"},
		     {"d/lrel", "T"}, {"ld/lrel", "T"}, {"ld/x", "X"}};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		long k = find_ev(r, 'F', P(f, files[i].rel));
		if (k < 0)
			fail_msg("%s not reported", files[i].rel);
		if (r->v[k].content == NULL)
			fail_msg("%s: open through dirfd/name failed (reason %d)", files[i].rel,
				 r->v[k].open_reason);
		assert_string_equal(r->v[k].content, files[i].content);
	}
	assert_true(find_ev(r, 'D', P(f, "ld")) >= 0);
	/* The loops are reported and cut. */
	const char *loops[] = {"d/up", "ld/up", "l1", "l2"};
	for (size_t i = 0; i < 4; i++) {
		long k = find_ev(r, 'S', P(f, loops[i]));
		if (k < 0)
			fail_msg("loop %s not reported", loops[i]);
		assert_int_equal(r->v[k].reason, VIGIL_SKIP_LOOP);
	}
	assert_false(any_under(r, P(f, "d/up/")));
	assert_false(any_under(r, P(f, "dangling")));
}

/* Builds levels of `name` under root with mkdirat/openat (no path string is ever longer
 * than one name) and writes `content` into a file "f" at the bottom. */
static void make_deep(const char *root, const char *name, int levels, const char *content)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	for (int i = 0; i < levels; i++) {
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(nfd >= 0);
		close(fd);
		fd = nfd;
	}
	int ffd = openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(ffd >= 0);
	assert_int_equal(write(ffd, content, strlen(content)), (ssize_t)strlen(content));
	close(ffd);
	close(fd);
}

static void test_path_longer_than_path_max(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	char name[251];
	const int levels = 24; /* 24 * 251 > 6000 > PATH_MAX */

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	make_deep(f->root, name, levels, "deep content");

	assert_int_equal(walk(f->root, NULL, r), 0);
	long k = -1;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].kind == 'F')
			k = (long)i;
	assert_true(k >= 0);
	/* The reported path is the real one, byte for byte. */
	size_t want_len = strlen(f->root) + (size_t)levels * 251 + 2;
	assert_true(want_len > PATH_MAX);
	assert_int_equal(r->v[k].len, want_len);
	char *want = malloc(want_len + 1), *p = want;
	assert_non_null(want);
	p += sprintf(p, "%s", f->root);
	for (int i = 0; i < levels; i++)
		p += sprintf(p, "/%s", name);
	strcpy(p, "/f");
	assert_memory_equal(r->v[k].path, want, want_len + 1);
	free(want);
	assert_string_equal(r->v[k].content, "deep content");
	for (size_t i = 0; i < r->n; i++)
		assert_int_not_equal(r->v[i].kind, 'S');
}

static void test_deep_tree(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	size_t dirs = 0, files = 0, skips = 0;

	make_deep(f->root, "d", 2000, "bottom");
	assert_int_equal(walk(f->root, NULL, r), 0);
	for (size_t i = 0; i < r->n; i++) {
		dirs += r->v[i].kind == 'D';
		files += r->v[i].kind == 'F';
		skips += r->v[i].kind == 'S';
	}
	assert_int_equal(dirs, 2001);
	assert_int_equal(files, 1);
	assert_int_equal(skips, 0);
	assert_string_equal(r->v[r->n - 1].content, "bottom");
	assert_int_equal(r->v[r->n - 1].len, strlen(f->root) + 2000 * 2 + 2);
}

/* Deeper than the walk's cap: reported once, the rest of the walk goes on. */
static void test_depth_cap(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	struct rlimit rl;
	size_t skips = 0;
	long k = -1;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 4300) {
		print_message("SKIP: fd hard limit %lu is below the walk's depth cap\n",
			      (unsigned long)rl.rlim_max);
		skip();
	}
	make_deep(f->root, "d", 4100, "too deep");
	put(f, "z", "Z"); /* after the deep branch in walk order */
	assert_int_equal(walk(f->root, NULL, r), 0);
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].kind == 'S') {
			skips++;
			k = (long)i;
		}
	}
	assert_int_equal(skips, 1);
	assert_int_equal(r->v[k].reason, VIGIL_SKIP_UNREADABLE);
	assert_int_equal(r->v[k].err, ENAMETOOLONG);
	/* The cut is at depth 4096 below the root: root + 4096 x "/d". */
	assert_int_equal(r->v[k].len, strlen(f->root) + 4096 * 2);
	assert_true(find_ev(r, 'F', P(f, "z")) >= 0);
	/* The walk raised the soft limit to make room. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_true(rl.rlim_cur == rl.rlim_max || rl.rlim_cur >= 4300);
}

static void test_odd_names(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;

	put(f, "new\nline", "NL");
	put(f, "bad\xff\xfe", "FF");
	dir(f, "dir\nwith\xffnl");
	put(f, "dir\nwith\xffnl/in", "IN");

	assert_int_equal(walk(f->root, NULL, r), 0);
	const struct {
		const char *rel, *content;
	} want[] = {{"bad\xff\xfe", "FF"}, {"dir\nwith\xffnl/in", "IN"}, {"new\nline", "NL"}};
	for (size_t i = 0; i < 3; i++) {
		const char *p = P(f, want[i].rel);
		long k = find_ev(r, 'F', p);
		if (k < 0)
			fail_msg("odd name %zu not reported exactly", i);
		assert_int_equal(r->v[k].len, strlen(p));
		assert_string_equal(r->v[k].content, want[i].content);
	}
	assert_true(find_ev(r, 'D', P(f, "dir\nwith\xffnl")) >= 0);
}

/* Run fn in a child that has dropped root (when we are root): permission bits only bind
 * the unprivileged. The child's exit status is fn's result. */
static int as_unprivileged(int (*fn)(struct fx *), struct fx *f)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
			_exit(77);
		_exit(fn(f));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int unreadable_child(struct fx *f)
{
	struct rec r = {0};
	long k;

	if (walk(f->root, NULL, &r) != 0)
		return 1;
	k = find_ev(&r, 'S', P(f, "locked"));
	if (k < 0 || r.v[k].reason != VIGIL_SKIP_UNREADABLE || r.v[k].err != EACCES)
		return 2;
	if (any_under(&r, P(f, "locked/")))
		return 3;
	/* r-- without x: listed, but nothing in it can be examined. */
	k = find_ev(&r, 'S', P(f, "nox/f"));
	if (k < 0 || r.v[k].reason != VIGIL_SKIP_UNREADABLE || r.v[k].err != EACCES)
		return 4;
	/* The walk went on past them. */
	if (find_ev(&r, 'F', P(f, "open")) < 0 || find_ev(&r, 'F', P(f, "z/after")) < 0)
		return 5;
	return 0;
}

static void test_unreadable_dir(void **state)
{
	struct fx *f = *state;

	dir(f, "locked");
	put(f, "locked/secret", "S");
	dir(f, "nox");
	put(f, "nox/f", "F");
	put(f, "open", "O");
	dir(f, "z");
	put(f, "z/after", "A");
	f->chmodded = true;
	assert_int_equal(chmod(P(f, "locked"), 0), 0);
	assert_int_equal(chmod(P(f, "nox"), 0444), 0);
	int rc = as_unprivileged(unreadable_child, f);
	if (rc == 77) {
		print_message("SKIP: cannot drop privileges to nobody\n");
		skip();
	}
	if (rc != 0)
		fail_msg("unreadable-dir check %d failed", rc);
}

static void test_excludes(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	char full[600];

	put(f, "keep.txt", "K");
	put(f, "drop.log", "L");
	dir(f, "logs.log"); /* a directory matched by base name is not descended */
	put(f, "logs.log/inner.txt", "I");
	dir(f, "skipdir");
	put(f, "skipdir/x", "X");
	dir(f, "sub");
	put(f, "sub/deep.log", "D");
	put(f, "sub/ok", "OK");
	snprintf(full, sizeof(full), "%s", P(f, "skipdir"));
	const char *globs[] = {"*.log", full, NULL};
	vigil_walk_options o = {.excludes = globs};

	assert_int_equal(walk(f->root, &o, r), 0);
	assert_true(find_ev(r, 'F', P(f, "keep.txt")) >= 0);
	assert_true(find_ev(r, 'F', P(f, "sub/ok")) >= 0);
	assert_false(any_under(r, P(f, "drop.log")));
	assert_false(any_under(r, P(f, "logs.log")));
	assert_false(any_under(r, P(f, "skipdir")));
	assert_false(any_under(r, P(f, "sub/deep.log")));
	/* Excluded is silent: no skip events. */
	for (size_t i = 0; i < r->n; i++)
		assert_int_not_equal(r->v[i].kind, 'S');
}

static bool try_mount(struct fx *f, const char *rel, const char *type)
{
	const char *p = P(f, rel);

	dir(f, rel);
	if (mount(type, p, type, 0, NULL) != 0) {
		print_message("SKIP: cannot mount %s (%s)\n", type, strerror(errno));
		return false;
	}
	snprintf(f->mounts[f->nmounts++], sizeof(f->mounts[0]), "%s", p);
	return true;
}

static void test_one_file_system(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	vigil_walk_options o = {.one_file_system = true};

	put(f, "a", "A");
	if (!try_mount(f, "mnt", "tmpfs"))
		skip(); /* try_mount said why */
	put(f, "mnt/inside", "IN");

	assert_int_equal(walk(f->root, NULL, r), 0);
	assert_true(find_ev(r, 'F', P(f, "mnt/inside")) >= 0);
	rec_free(r);
	assert_int_equal(walk(f->root, &o, r), 0);
	assert_true(find_ev(r, 'F', P(f, "a")) >= 0);
	assert_false(any_under(r, P(f, "mnt")));
}

/* A proc or sysfs mount met anywhere is not walked, options or not. */
static void test_pseudo_fs_mount(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;

	put(f, "a", "A");
	if (!try_mount(f, "proc", "proc") || !try_mount(f, "sys", "sysfs"))
		skip(); /* try_mount said why */
	assert_int_equal(walk(f->root, NULL, r), 0);
	assert_true(find_ev(r, 'F', P(f, "a")) >= 0);
	assert_false(any_under(r, P(f, "proc")));
	assert_false(any_under(r, P(f, "sys")));
	/* Named as the root, a pseudo file system is walked: the user asked for it. */
	rec_free(r);
	assert_int_equal(walk(P(f, "proc/sys/kernel/random"), NULL, r), 0);
	assert_true(find_ev(r, 'F', P(f, "proc/sys/kernel/random/boot_id")) >= 0);
}

static void test_root_variants(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	char p[600];

	put(f, "file", "FILE");
	dir(f, "d");
	put(f, "d/x", "X");
	link_to(f, "file", "lfile");
	link_to(f, "d", "ldir");
	assert_int_equal(mkfifo(P(f, "fifo"), 0644), 0);

	/* A regular file. */
	assert_int_equal(walk(P(f, "file"), NULL, r), 0);
	assert_int_equal(r->n, 1);
	assert_string_equal(r->v[0].path, P(f, "file"));
	assert_string_equal(r->v[0].content, "FILE");
	rec_free(r);

	/* A link to a file, named explicitly: followed, reported under the name given. */
	assert_int_equal(walk(P(f, "lfile"), NULL, r), 0);
	assert_int_equal(r->n, 1);
	assert_string_equal(r->v[0].path, P(f, "lfile"));
	assert_string_equal(r->v[0].content, "FILE");
	rec_free(r);

	/* A link to a directory, with trailing slashes. */
	snprintf(p, sizeof(p), "%s///", P(f, "ldir"));
	assert_int_equal(walk(p, NULL, r), 0);
	assert_int_equal(r->n, 2);
	assert_string_equal(r->v[0].path, P(f, "ldir"));
	assert_string_equal(r->v[1].path, P(f, "ldir/x"));
	assert_string_equal(r->v[1].content, "X");
	rec_free(r);

	/* A FIFO: special, never opened (the alarm catches a hang). */
	assert_int_equal(walk(P(f, "fifo"), NULL, r), 0);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->v[0].kind, 'S');
	assert_int_equal(r->v[0].reason, VIGIL_SKIP_SPECIAL);
	rec_free(r);

	/* Cannot be examined: VIGIL_E_SYSTEM with errno. */
	errno = 0;
	assert_int_equal(walk(P(f, "missing"), NULL, r), VIGIL_E_SYSTEM);
	assert_int_equal(errno, ENOENT);
	snprintf(p, sizeof(p), "%s/", P(f, "file"));
	assert_int_equal(walk(p, NULL, r), VIGIL_E_SYSTEM);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(r->n, 0);

	/* A relative root keeps its form. */
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(P(f, "d")), 0);
	assert_int_equal(walk(".", NULL, r), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(r->n, 2);
	assert_string_equal(r->v[0].path, ".");
	assert_string_equal(r->v[1].path, "./x");
	assert_string_equal(r->v[1].content, "X");
}

static int slash_child(struct fx *f)
{
	struct rec r = {0};
	vigil_walk_options pseudo = {.skip_pseudo = true};

	if (chroot(f->root) != 0 || chdir("/") != 0)
		return 77;
	/* "/" yields "/a", not "//a"; "//" is "/" too. */
	if (walk("//", NULL, &r) != 0)
		return 1;
	if (strcmp(r.v[0].path, "/") != 0 || find_ev(&r, 'F', "/a") < 0 ||
	    find_ev(&r, 'F', "/sub/b") < 0 || find_ev(&r, 'F', "/proc/p") < 0 ||
	    find_ev(&r, 'F', "/run/r") < 0)
		return 2;
	rec_free(&r);
	/* skip_pseudo: /proc, /sys, /dev and /run are left out, by full path only. */
	if (walk("/", &pseudo, &r) != 0)
		return 3;
	if (find_ev(&r, 'F', "/a") < 0 || find_ev(&r, 'F', "/sub/b") < 0 ||
	    find_ev(&r, 'F', "/sub/proc/q") < 0)
		return 4;
	if (any_under(&r, "/proc") || any_under(&r, "/sys") || any_under(&r, "/dev") ||
	    any_under(&r, "/run"))
		return 5;
	return 0;
}

static void test_root_slash(void **state)
{
	struct fx *f = *state;

	if (geteuid() != 0) {
		print_message("SKIP: walking / in a chroot of the temporary tree needs root\n");
		skip();
	}
	put(f, "a", "A");
	dir(f, "sub");
	put(f, "sub/b", "B");
	dir(f, "sub/proc");
	put(f, "sub/proc/q", "Q");
	const char *pseudo[] = {"proc", "sys", "dev", "run"};
	for (int i = 0; i < 4; i++) {
		char rel[16];
		dir(f, pseudo[i]);
		snprintf(rel, sizeof(rel), "%s/%c", pseudo[i], pseudo[i][0]);
		put(f, rel, "P");
	}
	pid_t pid = fork();
	int st;
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(slash_child(f));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("walk of / in chroot: check %d failed", WEXITSTATUS(st));
}

static void test_vanished(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	char gone[600];

	put(f, "a", "A");
	put(f, "gone", "G");
	snprintf(gone, sizeof(gone), "%s", P(f, "gone"));
	/* Removed after the listing, before its lstat. */
	r->unlink_dir = f->root;
	r->unlink_path = gone;
	assert_int_equal(walk(f->root, NULL, r), 0);
	long k = find_ev(r, 'S', gone);
	assert_true(k >= 0);
	assert_int_equal(r->v[k].reason, VIGIL_SKIP_VANISHED);
	assert_int_equal(r->v[k].err, ENOENT);
	assert_true(find_ev(r, 'F', P(f, "a")) >= 0);
}

static void test_stop(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;

	put(f, "a", "A");
	dir(f, "b");
	put(f, "b/c", "C");
	put(f, "d", "D");
	r->stop_after = 2;
	assert_int_equal(walk(f->root, NULL, r), 42);
	/* Nothing after the stop: D root, F a, D b, F b/c. */
	assert_int_equal(r->n, 4);
	assert_string_equal(r->v[3].path, P(f, "b/c"));
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_excluded_table),
	    cmocka_unit_test_setup_teardown(test_tree_order, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_special_files, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks_not_followed, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks_followed, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_path_longer_than_path_max, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_deep_tree, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_depth_cap, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_odd_names, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_dir, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_excludes, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_one_file_system, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_pseudo_fs_mount, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_root_variants, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_root_slash, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_vanished, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_stop, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
