/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for package verification: a fake root and dpkg admin directory with changed,
 * missing, unreadable and replaced files, conffiles, diversions, merged /usr, and hostile
 * md5sums, status and diversions lines. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

#include <openssl/evp.h>

#include "dpkg_int.h"
#include "vigil/vigil.h"

#define NOBODY 65534

struct fx {
	char root[64];
};

/* ---- fixture helpers ---- */

static const char *P(struct fx *f, const char *rel)
{
	static char buf[4][1024];
	static unsigned next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", f->root, rel);
	return b;
}

/* mkdir -p for the parents of rel (and rel itself with `self`). */
static void mkparents(struct fx *f, const char *rel, bool self)
{
	char path[512];
	size_t n = strlen(rel);

	assert_true(n < sizeof(path));
	memcpy(path, rel, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && !(self && path[i] == '\0'))
			continue;
		char c = path[i];
		path[i] = '\0';
		if (mkdir(P(f, path), 0755) != 0)
			assert_int_equal(errno, EEXIST);
		path[i] = c;
	}
}

static void put(struct fx *f, const char *rel, const char *text)
{
	int fd;

	mkparents(f, rel, false);
	fd = open(P(f, rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void md5hex(const char *text, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(text, strlen(text), md, &n, EVP_md5(), NULL), 1);
	assert_int_equal(n, 16);
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Appends "MD5  rel\n" for content `text` to buf. */
static void md5line(char *buf, size_t cap, const char *rel, const char *text)
{
	char h[33];
	size_t n = strlen(buf);

	md5hex(text, h);
	snprintf(buf + n, cap - n, "%s  %s\n", h, rel);
}

static int rm_cb(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", path, path);
	return system(cmd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->root, "/tmp/vigil-dpkg-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	/* Readable by the unprivileged child of the unreadable test. */
	assert_int_equal(chmod(f->root, 0755), 0);
	mkparents(f, "var/lib/dpkg/info", true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rm_cb(f->root);
	free(f);
	return 0;
}

/* ---- what a run produced ---- */

#define MAX_RESULTS 64

struct got {
	size_t n;
	struct {
		char package[64], path[256], diverted_to[256];
		vigil_pkg_problem problem;
		int err;
		char expected[33], actual[33];
		bool conffile;
	} r[MAX_RESULTS];
	unsigned warnings;
	int stop_after; /* >0: return 42 from that call on */
};

static int on_result(void *user, const vigil_pkg_result *r)
{
	struct got *g = user;

	assert_true(g->n < MAX_RESULTS);
	snprintf(g->r[g->n].package, sizeof(g->r[0].package), "%s", r->package);
	snprintf(g->r[g->n].path, sizeof(g->r[0].path), "%s", r->path);
	snprintf(g->r[g->n].diverted_to, sizeof(g->r[0].diverted_to), "%s",
		 r->diverted_to ? r->diverted_to : "");
	g->r[g->n].problem = r->problem;
	g->r[g->n].err = r->err;
	memcpy(g->r[g->n].expected, r->expected, 33);
	memcpy(g->r[g->n].actual, r->actual, 33);
	g->r[g->n].conffile = r->conffile;
	assert_int_equal(strlen(r->expected), 32);
	assert_int_equal(strlen(r->actual), r->problem == VIGIL_PKG_CHANGED ? 32 : 0);
	g->n++;
	if (g->stop_after > 0 && (int)g->n >= g->stop_after)
		return 42;
	return 0;
}

static void on_warning(void *user, const char *file, uint64_t line, const char *why)
{
	struct got *g = user;

	(void)line;
	assert_non_null(file);
	assert_non_null(why);
	g->warnings++;
}

static int run(struct fx *f, unsigned jobs, struct got *g, vigil_pkg_stats *s)
{
	vigil_dpkg_options o;
	char err[256];

	vigil_dpkg_options_default(&o);
	o.root = f->root;
	o.jobs = jobs;
	o.on_result = on_result;
	o.on_warning = on_warning;
	o.user = g;
	return vigil_dpkg_verify(&o, s, err, sizeof(err));
}

/* ---- the system under test ---- */

#define HELLO     "#!/bin/sh\necho hello\n"
#define TAMPERED  "original\n"
#define CONF      "greeting = hi\n"
#define LIBFOO    "\177ELF libfoo\n"
#define FOO       "foo binary\n"
#define DASH_SH   "dash shell\n"
#define OTHER_SH  "other shell\n"
#define LOCAL_TXT "shipped local\n"

/*
 * hello: usr/bin/hello (intact), usr/bin/tampered (changed), usr/share/doc/hello/gone
 *   (missing), usr/bin/linked (a symlink now), "usr/share/hello/a b.txt" (intact),
 *   etc/hello.conf (also a conffile: checked once), usr/share/local.txt (locally diverted
 *   to .orig, changed there); conffiles hello.conf (intact), "hello edited.conf"
 *   (edited), obsolete, newconffile, remove-on-upgrade ones (skipped).
 * libfoo:amd64 (Multi-Arch: same): lib/libfoo.so.1 through ROOT/lib -> /usr/lib (absolute:
 *   must resolve inside the root), bin/foo through ROOT/bin -> usr/bin.
 * dash and other both ship usr/bin/sh; dash diverts others' copy to /usr/bin/sh.distrib.
 * gone-pkg is config-files only: its md5sums must be skipped.
 */
static void build_system(struct fx *f)
{
	char md5s[4096] = "", h_conf[33], h_orig[33], status[4096];

	put(f, "usr/bin/hello", HELLO);
	put(f, "usr/bin/tampered", "trojan\n");
	put(f, "usr/share/hello/a b.txt", HELLO);
	assert_int_equal(symlink("hello", P(f, "usr/bin/linked")), 0);
	put(f, "etc/hello.conf", CONF);
	put(f, "etc/hello edited.conf", "edited by the admin\n");
	put(f, "usr/share/local.txt", "the admin's own\n");
	put(f, "usr/share/local.txt.orig", "modified shipped\n");
	md5line(md5s, sizeof(md5s), "usr/bin/hello", HELLO);
	md5line(md5s, sizeof(md5s), "usr/bin/tampered", TAMPERED);
	md5line(md5s, sizeof(md5s), "usr/share/doc/hello/gone", "x");
	md5line(md5s, sizeof(md5s), "usr/bin/linked", HELLO);
	md5line(md5s, sizeof(md5s), "usr/share/hello/a b.txt", HELLO);
	md5line(md5s, sizeof(md5s), "etc/hello.conf", "the md5sums copy differs\n");
	md5line(md5s, sizeof(md5s), "usr/share/local.txt", LOCAL_TXT);
	put(f, "var/lib/dpkg/info/hello.md5sums", md5s);

	put(f, "usr/lib/libfoo.so.1", LIBFOO);
	put(f, "usr/bin/foo", FOO);
	assert_int_equal(symlink("/usr/lib", P(f, "lib")), 0);
	assert_int_equal(symlink("usr/bin", P(f, "bin")), 0);
	md5s[0] = '\0';
	md5line(md5s, sizeof(md5s), "lib/libfoo.so.1", LIBFOO);
	md5line(md5s, sizeof(md5s), "bin/foo", FOO);
	put(f, "var/lib/dpkg/info/libfoo:amd64.md5sums", md5s);

	put(f, "usr/bin/sh", DASH_SH);
	put(f, "usr/bin/sh.distrib", OTHER_SH);
	md5s[0] = '\0';
	md5line(md5s, sizeof(md5s), "usr/bin/sh", DASH_SH);
	put(f, "var/lib/dpkg/info/dash.md5sums", md5s);
	md5s[0] = '\0';
	md5line(md5s, sizeof(md5s), "usr/bin/sh", OTHER_SH);
	put(f, "var/lib/dpkg/info/other.md5sums", md5s);
	put(f, "var/lib/dpkg/diversions",
	    "/usr/bin/sh\n/usr/bin/sh.distrib\ndash\n"
	    "/usr/share/local.txt\n/usr/share/local.txt.orig\n:\n");

	md5s[0] = '\0';
	md5line(md5s, sizeof(md5s), "usr/bin/gone-pkg", "x");
	put(f, "var/lib/dpkg/info/gone-pkg.md5sums", md5s);

	md5hex(CONF, h_conf);
	md5hex("as shipped\n", h_orig);
	snprintf(status, sizeof(status),
		 "Package: hello\n"
		 "Status: install ok installed\n"
		 "Architecture: amd64\n"
		 "Conffiles:\n"
		 " /etc/hello.conf %s\n"
		 " /etc/hello edited.conf %s\n"
		 " /etc/old.conf %s obsolete\n"
		 " /etc/new.conf newconffile\n"
		 " /etc/gone.conf %s remove-on-upgrade\n"
		 "Description: says hello\n"
		 " A longer description.\n"
		 " .\n"
		 " Second paragraph.\n"
		 "\n"
		 "Package: libfoo\n"
		 "Status: install ok installed\n"
		 "Multi-Arch: same\n"
		 "Architecture: amd64\n"
		 "\n"
		 "Package: dash\n"
		 "Status: install ok installed\n"
		 "\n"
		 "Package: other\n"
		 "Status: install ok unpacked\n"
		 "\n"
		 "Package: gone-pkg\n"
		 "Status: deinstall ok config-files\n",
		 h_conf, h_orig, h_orig, h_orig);
	put(f, "var/lib/dpkg/status", status);
}

static void test_verify_system(void **state)
{
	struct fx *f = *state;
	struct got *g = calloc(1, sizeof(*g));
	vigil_pkg_stats s;
	char h[33];

	assert_non_null(g);
	build_system(f);
	assert_int_equal(run(f, 2, g, &s), 0);

	/* Package then path order; intact files, merged /usr, diversions: no result. */
	assert_int_equal(g->n, 5);
	assert_string_equal(g->r[0].package, "hello");
	assert_string_equal(g->r[0].path, "/etc/hello edited.conf");
	assert_int_equal(g->r[0].problem, VIGIL_PKG_CHANGED);
	assert_true(g->r[0].conffile);
	md5hex("as shipped\n", h);
	assert_string_equal(g->r[0].expected, h);
	md5hex("edited by the admin\n", h);
	assert_string_equal(g->r[0].actual, h);

	assert_string_equal(g->r[1].path, "/usr/bin/linked");
	assert_int_equal(g->r[1].problem, VIGIL_PKG_REPLACED);
	assert_int_equal(g->r[1].err, ELOOP);
	assert_false(g->r[1].conffile);

	assert_string_equal(g->r[2].path, "/usr/bin/tampered");
	assert_int_equal(g->r[2].problem, VIGIL_PKG_CHANGED);
	md5hex(TAMPERED, h);
	assert_string_equal(g->r[2].expected, h);
	md5hex("trojan\n", h);
	assert_string_equal(g->r[2].actual, h);
	assert_string_equal(g->r[2].diverted_to, "");

	assert_string_equal(g->r[3].path, "/usr/share/doc/hello/gone");
	assert_int_equal(g->r[3].problem, VIGIL_PKG_MISSING);
	assert_int_equal(g->r[3].err, ENOENT);

	/* A local diversion moves every package's copy: checked at the new place. */
	assert_string_equal(g->r[4].path, "/usr/share/local.txt");
	assert_string_equal(g->r[4].diverted_to, "/usr/share/local.txt.orig");
	assert_int_equal(g->r[4].problem, VIGIL_PKG_CHANGED);
	md5hex("modified shipped\n", h);
	assert_string_equal(g->r[4].actual, h);

	/* hello 7 md5sums lines + 2 conffiles, one shared; libfoo 2; dash 1; other 1. */
	assert_int_equal(s.files, 7 + 1 + 2 + 1 + 1);
	assert_int_equal(s.conffiles, 2);
	assert_int_equal(s.packages, 4);
	assert_int_equal(s.changed, 3);
	assert_int_equal(s.conffiles_changed, 1);
	assert_int_equal(s.missing, 1);
	assert_int_equal(s.replaced, 1);
	assert_int_equal(s.unreadable, 0);
	assert_int_equal(s.malformed, 0);
	assert_int_equal(s.skipped_files, 3);    /* obsolete, newconffile, remove-on-upgrade */
	assert_int_equal(s.skipped_packages, 1); /* gone-pkg */
	assert_int_equal(s.bytes, 2 * strlen(HELLO) + strlen("trojan\n") + strlen(CONF) +
				      strlen("edited by the admin\n") +
				      strlen("modified shipped\n") + strlen(LIBFOO) + strlen(FOO) +
				      strlen(DASH_SH) + strlen(OTHER_SH));
	assert_int_equal(g->warnings, 1); /* gone-pkg skipped */
	free(g);
}

static void test_results_independent_of_jobs(void **state)
{
	struct fx *f = *state;
	struct got *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char md5s[32768] = "", name[64], text[64];
	vigil_pkg_stats sa, sb;

	assert_non_null(a);
	assert_non_null(b);
	put(f, "var/lib/dpkg/status", "Package: many\nStatus: install ok installed\n");
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "usr/share/many/d%d/f%03d", i % 7, i);
		snprintf(text, sizeof(text), "file %d\n", i);
		put(f, name, i % 37 == 0 ? "changed\n" : text);
		md5line(md5s, sizeof(md5s), name, text);
	}
	put(f, "var/lib/dpkg/info/many.md5sums", md5s);
	assert_int_equal(run(f, 1, a, &sa), 0);
	assert_int_equal(run(f, 5, b, &sb), 0);
	assert_int_equal(a->n, 9); /* i = 0, 37, ..., 296 */
	assert_int_equal(b->n, a->n);
	assert_memory_equal(a->r, b->r, sizeof(a->r[0]) * a->n);
	for (size_t i = 1; i < a->n; i++)
		assert_true(strcmp(a->r[i - 1].path, a->r[i].path) < 0);
	assert_int_equal(sa.files, 300);
	assert_int_equal(sb.files, 300);
	assert_int_equal(sa.bytes, sb.bytes);
	free(a);
	free(b);
}

static void test_stop_from_callback(void **state)
{
	struct fx *f = *state;
	struct got *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	build_system(f);
	g->stop_after = 2;
	assert_int_equal(run(f, 2, g, NULL), 42);
	assert_int_equal(g->n, 2);
	free(g);
}

/* A FIFO where a file was: reported, never opened for a blocking read. */
static void test_fifo_replaced(void **state)
{
	struct fx *f = *state;
	struct got *g = calloc(1, sizeof(*g));
	char md5s[256] = "";

	assert_non_null(g);
	mkparents(f, "usr/bin", true);
	assert_int_equal(mkfifo(P(f, "usr/bin/pipe"), 0644), 0);
	mkparents(f, "usr/bin/dir", true);
	md5line(md5s, sizeof(md5s), "usr/bin/pipe", "x");
	md5line(md5s, sizeof(md5s), "usr/bin/dir", "x");
	md5line(md5s, sizeof(md5s), "usr/nodir/x", "x");
	md5line(md5s, sizeof(md5s), "usr/bin/pipe/below", "x");
	put(f, "var/lib/dpkg/info/p.md5sums", md5s);
	put(f, "var/lib/dpkg/status", "Package: p\nStatus: install ok installed\n");
	assert_int_equal(run(f, 2, g, NULL), 0);
	assert_int_equal(g->n, 4);
	assert_string_equal(g->r[0].path, "/usr/bin/dir");
	assert_int_equal(g->r[0].problem, VIGIL_PKG_REPLACED);
	assert_string_equal(g->r[1].path, "/usr/bin/pipe");
	assert_int_equal(g->r[1].problem, VIGIL_PKG_REPLACED);
	assert_string_equal(g->r[2].path, "/usr/bin/pipe/below");
	assert_int_equal(g->r[2].problem, VIGIL_PKG_MISSING);
	assert_int_equal(g->r[2].err, ENOTDIR);
	assert_string_equal(g->r[3].path, "/usr/nodir/x");
	assert_int_equal(g->r[3].problem, VIGIL_PKG_MISSING);
	assert_int_equal(g->r[3].err, ENOENT);
	free(g);
}

/* Runs the check as an unprivileged user: exit 0 if the file and the file in the
 * closed directory were both reported unreadable with EACCES and nothing else. */
static int unreadable_child(struct fx *f)
{
	struct got *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return 10;
	if (run(f, 2, g, NULL) != 0)
		return 11;
	if (g->n != 2)
		return 12;
	if (strcmp(g->r[0].path, "/usr/bin/closed/inner") != 0 ||
	    g->r[0].problem != VIGIL_PKG_UNREADABLE || g->r[0].err != EACCES)
		return 13;
	if (strcmp(g->r[1].path, "/usr/bin/secret") != 0 ||
	    g->r[1].problem != VIGIL_PKG_UNREADABLE || g->r[1].err != EACCES)
		return 14;
	return 0;
}

static void test_unreadable(void **state)
{
	struct fx *f = *state;
	char md5s[512] = "";

	put(f, "usr/bin/secret", "s\n");
	put(f, "usr/bin/open", "o\n");
	put(f, "usr/bin/closed/inner", "i\n");
	md5line(md5s, sizeof(md5s), "usr/bin/secret", "s\n");
	md5line(md5s, sizeof(md5s), "usr/bin/open", "o\n");
	md5line(md5s, sizeof(md5s), "usr/bin/closed/inner", "i\n");
	put(f, "var/lib/dpkg/info/p.md5sums", md5s);
	put(f, "var/lib/dpkg/status", "Package: p\nStatus: install ok installed\n");
	assert_int_equal(chmod(P(f, "usr/bin/secret"), 0), 0);
	assert_int_equal(chmod(P(f, "usr/bin/closed"), 0), 0);
	if (geteuid() != 0) {
		assert_int_equal(unreadable_child(f), 0);
		return;
	}
	/* Root reads everything: drop to nobody in a child (the tree is world-readable). */
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
			_exit(20);
		_exit(unreadable_child(f));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_admin_errors(void **state)
{
	struct fx *f = *state;
	vigil_dpkg_options o;
	vigil_pkg_stats s;
	char err[256], adm[300];

	vigil_dpkg_options_default(&o);
	o.root = f->root;
	/* No status file. */
	assert_int_equal(vigil_dpkg_verify(&o, &s, err, sizeof(err)), VIGIL_E_SYSTEM);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "status"));
	/* A status file but no info directory. */
	snprintf(adm, sizeof(adm), "%s/elsewhere", f->root);
	put(f, "elsewhere/status", "Package: a\nStatus: install ok installed\n");
	o.admindir = adm;
	assert_int_equal(vigil_dpkg_verify(&o, &s, err, sizeof(err)), VIGIL_E_SYSTEM);
	assert_non_null(strstr(err, "info"));
	/* An explicit admindir is used instead of ROOT/var/lib/dpkg. */
	mkparents(f, "elsewhere/info", true);
	put(f, "elsewhere/info/a.md5sums", "00000000000000000000000000000000  etc/a\n");
	assert_int_equal(vigil_dpkg_verify(&o, &s, err, sizeof(err)), 0);
	assert_int_equal(s.files, 1);
	assert_int_equal(s.missing, 1);
	/* A status file that is a symlink is refused, not followed. */
	o.admindir = NULL;
	assert_int_equal(symlink("/etc/passwd", P(f, "var/lib/dpkg/status")), 0);
	assert_int_equal(vigil_dpkg_verify(&o, &s, err, sizeof(err)), VIGIL_E_SYSTEM);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(vigil_dpkg_verify(NULL, &s, err, sizeof(err)), VIGIL_E_INVALID);
}

/* ---- parsers on hostile lines ---- */

struct line_case {
	const char *name;
	const char *bytes;
	size_t len; /* 0: strlen */
	bool ok;
	const char *path; /* the entry's path when ok */
};

static void test_md5sums_lines(void **state)
{
	static char overlong[4200], longname[400], maxname[300];
	const char *h = "0123456789abcdef0123456789abcdef";
	(void)state;
	snprintf(overlong, sizeof(overlong), "%s  ", h);
	for (size_t i = strlen(overlong); i < 4150; i += 2)
		memcpy(overlong + i, "a/", 2);
	overlong[4150] = 'x';
	snprintf(longname, sizeof(longname), "%s  usr/", h);
	memset(longname + strlen(longname), 'n', 256);
	snprintf(maxname, sizeof(maxname), "%s  usr/", h);
	memset(maxname + strlen(maxname), 'n', 255);
	const struct line_case cases[] = {
	    {"good", "0123456789abcdef0123456789abcdef  usr/bin/x", 0, true, "/usr/bin/x"},
	    {"binary mode", "0123456789abcdef0123456789abcdef *usr/bin/x", 0, true, "/usr/bin/x"},
	    {"upper-case hex", "0123456789ABCDEF0123456789abcdef  usr/x", 0, true, "/usr/x"},
	    {"spaces in path", "0123456789abcdef0123456789abcdef  usr/a  b ", 0, true,
	     "/usr/a  b "},
	    {"255-byte component", maxname, 0, true, NULL},
	    {"31 hex digits", "0123456789abcdef0123456789abcde  usr/bin/x", 0, false, NULL},
	    {"33 hex digits", "0123456789abcdef0123456789abcdef0  usr/bin/x", 0, false, NULL},
	    {"non-hex digit", "0123456789abcdeg0123456789abcdef  usr/bin/x", 0, false, NULL},
	    {"no separator", "0123456789abcdef0123456789abcdefusr/bin/x", 0, false, NULL},
	    {"one space", "0123456789abcdef0123456789abcdef usr/bin/x", 0, false, NULL},
	    {"tab", "0123456789abcdef0123456789abcdef\t\tusr/bin/x", 0, false, NULL},
	    {"hash only", "0123456789abcdef0123456789abcdef  ", 0, false, NULL},
	    {"short", "0123", 0, false, NULL},
	    {"empty line", "", 0, false, NULL},
	    {"dot-dot", "0123456789abcdef0123456789abcdef  ../etc/shadow", 0, false, NULL},
	    {"inner dot-dot", "0123456789abcdef0123456789abcdef  usr/../../x", 0, false, NULL},
	    {"trailing dot-dot", "0123456789abcdef0123456789abcdef  usr/..", 0, false, NULL},
	    {"dot", "0123456789abcdef0123456789abcdef  ./usr/x", 0, false, NULL},
	    {"absolute", "0123456789abcdef0123456789abcdef  /etc/shadow", 0, false, NULL},
	    {"double slash", "0123456789abcdef0123456789abcdef  usr//x", 0, false, NULL},
	    {"trailing slash", "0123456789abcdef0123456789abcdef  usr/x/", 0, false, NULL},
	    {"NUL in path", "0123456789abcdef0123456789abcdef  usr/x\0y", 41, false, NULL},
	    {"overlong path", overlong, 0, false, NULL},
	    {"overlong component", longname, 0, false, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct line_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->bytes), n;
		vigil_dpkg_db *db;
		vigil_pkg_stats s;
		const vigil_dpkg_entry *e;
		char *buf = malloc(len + 200);

		assert_non_null(buf);
		/* The case between two good lines: a bad one must not spoil its neighbours. */
		memcpy(buf, "ffffffffffffffffffffffffffffffff  a\n", 36);
		memcpy(buf + 36, c->bytes, len);
		memcpy(buf + 36 + len, "\neeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee  z", 36);
		assert_int_equal(vigil_dpkg_db_new(NULL, NULL, &db), 0);
		assert_int_equal(vigil_dpkg_parse_md5sums(db, "t", "pkg", buf, len + 72), 0);
		assert_int_equal(vigil_dpkg_db_finish(db), 0);
		memset(&s, 0, sizeof(s));
		vigil_dpkg_db_counts(db, &s);
		e = vigil_dpkg_db_entries(db, &n);
		if (n != (c->ok ? 3u : 2u) || s.malformed != (c->ok ? 0u : 1u))
			fail_msg("case \"%s\": %zu entries, %llu malformed", c->name, n,
				 (unsigned long long)s.malformed);
		assert_string_equal(e[0].path, "/a");
		assert_string_equal(e[n - 1].path, "/z");
		assert_int_equal(e[n - 1].md5[0], 0xee);
		if (c->ok && c->path)
			assert_string_equal(e[1].path, c->path);
		for (size_t k = 0; k < n; k++)
			assert_string_equal(e[k].package, "pkg");
		vigil_dpkg_db_free(db);
		free(buf);
	}
}

static void test_md5sums_bad_package_name(void **state)
{
	const char *names[] = {"", "-x", "a/b", "a:", "a:AMD64", "a b", ":amd64"};
	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		vigil_dpkg_db *db;
		vigil_pkg_stats s = {0};
		size_t n;

		assert_int_equal(vigil_dpkg_db_new(NULL, NULL, &db), 0);
		assert_int_equal(
		    vigil_dpkg_parse_md5sums(db, "t", names[i],
					     "0123456789abcdef0123456789abcdef  usr/x\n", 41),
		    0);
		vigil_dpkg_db_entries(db, &n);
		vigil_dpkg_db_counts(db, &s);
		if (n != 0 || s.malformed != 1)
			fail_msg("package name \"%s\" accepted", names[i]);
		vigil_dpkg_db_free(db);
	}
}

struct status_case {
	const char *name;
	const char *text;
	unsigned malformed;
	bool installed; /* is "p" installed */
	unsigned entries;
};

#define H32 "0123456789abcdef0123456789abcdef"

static void test_status_paragraphs(void **state)
{
	const struct status_case cases[] = {
	    {"good", "Package: p\nStatus: install ok installed\nConffiles:\n /etc/a " H32 "\n", 0,
	     true, 1},
	    {"field names any case, CRLF-free spacing",
	     "package:p\nSTATUS:  install ok triggers-pending \n", 0, true, 0},
	    {"unpacked counts", "Package: p\nStatus: install ok unpacked\n", 0, true, 0},
	    {"half-installed does not", "Package: p\nStatus: install reinstreq half-installed\n", 0,
	     false, 0},
	    {"config-files does not",
	     "Package: p\nStatus: deinstall ok config-files\nConffiles:\n /etc/a " H32 "\n", 0,
	     false, 0},
	    {"no Package", "Status: install ok installed\n", 1, false, 0},
	    {"no Status", "Package: p\n", 1, false, 0},
	    {"two-word Status", "Package: p\nStatus: install installed\n", 1, false, 0},
	    {"four-word Status", "Package: p\nStatus: install ok installed x\n", 1, false, 0},
	    {"unknown state", "Package: p\nStatus: install ok rooted\n", 1, false, 0},
	    {"Package twice", "Package: p\nPackage: q\nStatus: install ok installed\n", 1, false,
	     0},
	    {"bad name", "Package: -p\nStatus: install ok installed\n", 1, false, 0},
	    {"bad arch", "Package: p\nArchitecture: AMD/64\nStatus: install ok installed\n", 1,
	     false, 0},
	    {"line without colon", "Package: p\ngarbage\nStatus: install ok installed\n", 1, false,
	     0},
	    {"continuation first", " x\nPackage: p\nStatus: install ok installed\n", 1, false, 0},
	    {"continued Package", "Package: p\n q\nStatus: install ok installed\n", 1, false, 0},
	    {"Conffiles value inline",
	     "Package: p\nStatus: install ok installed\nConffiles: /etc/a " H32 "\n", 1, false, 0},
	    {"bad conffile hash",
	     "Package: p\nStatus: install ok installed\nConffiles:\n /etc/a 1234\n /etc/b " H32
	     "\n",
	     1, true, 1},
	    {"relative conffile",
	     "Package: p\nStatus: install ok installed\nConffiles:\n etc/a " H32 "\n", 1, true, 0},
	    {"dot-dot conffile",
	     "Package: p\nStatus: install ok installed\nConffiles:\n /etc/../shadow " H32 "\n", 1,
	     true, 0},
	    {"conffile without hash",
	     "Package: p\nStatus: install ok installed\nConffiles:\n /etc/a\n", 1, true, 0},
	    {"unknown flag",
	     "Package: p\nStatus: install ok installed\nConffiles:\n /etc/a " H32 " bogus\n", 1,
	     true, 0},
	    {"flags skip",
	     "Package: p\nStatus: install ok installed\nConffiles:\n /etc/a " H32
	     " obsolete remove-on-upgrade\n /etc/b -\n /etc/c nonexistent\n",
	     0, true, 0},
	    {"second paragraph survives a bad first",
	     "Package: q\nStatus: bad\n\nPackage: p\nStatus: install ok installed\n", 1, true, 0},
	    {"blank lines only", "\n\n\n", 0, false, 0},
	    {"empty", "", 0, false, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct status_case *c = &cases[i];
		vigil_dpkg_db *db;
		vigil_pkg_stats s = {0};
		size_t n;

		assert_int_equal(vigil_dpkg_db_new(NULL, NULL, &db), 0);
		assert_int_equal(vigil_dpkg_parse_status(db, c->text, strlen(c->text), true), 0);
		vigil_dpkg_db_entries(db, &n);
		vigil_dpkg_db_counts(db, &s);
		if (s.malformed != c->malformed ||
		    vigil_dpkg_is_installed(db, "p") != c->installed || n != c->entries)
			fail_msg("case \"%s\": malformed %llu, installed %d, entries %zu", c->name,
				 (unsigned long long)s.malformed, vigil_dpkg_is_installed(db, "p"),
				 n);
		vigil_dpkg_db_free(db);
	}
}

static void test_status_multiarch_names(void **state)
{
	const char *text = "Package: libx\nStatus: install ok installed\nArchitecture: amd64\n"
			   "Multi-Arch: same\nConffiles:\n /etc/x " H32 "\n\n"
			   "Package: tool\nStatus: install ok installed\nArchitecture: amd64\n"
			   "Multi-Arch: foreign\nConffiles:\n /etc/t " H32 "\n";
	vigil_dpkg_db *db;
	const vigil_dpkg_entry *e;
	size_t n;
	(void)state;

	assert_int_equal(vigil_dpkg_db_new(NULL, NULL, &db), 0);
	assert_int_equal(vigil_dpkg_parse_status(db, text, strlen(text), true), 0);
	assert_int_equal(vigil_dpkg_db_finish(db), 0);
	e = vigil_dpkg_db_entries(db, &n);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].package, "libx:amd64");
	assert_string_equal(e[0].path, "/etc/x");
	assert_true(e[0].conffile);
	assert_string_equal(e[1].package, "tool");
	assert_true(vigil_dpkg_is_installed(db, "libx"));
	assert_true(vigil_dpkg_is_installed(db, "libx:amd64"));
	assert_true(vigil_dpkg_is_installed(db, "tool:amd64"));
	assert_false(vigil_dpkg_is_installed(db, "libx:i386"));
	vigil_dpkg_db_free(db);
}

static void test_diversions_parse(void **state)
{
	const char *md5s = H32 "  usr/bin/a\n" H32 "  usr/bin/b\n" H32 "  usr/bin/c\n";
	const char *div = "/usr/bin/a\n/usr/bin/a.real\nother\n" /* applies to pkg */
			  "/usr/bin/b\n/usr/bin/b.real\npkg\n"   /* pkg's own: not moved */
			  "/usr/bin/../c\n/tmp/c\npkg\n"         /* malformed */
			  "/usr/bin/c\n/usr/bin/c.x\nBad Name\n" /* malformed */
			  "/usr/bin/c\n/usr/bin/c.local\n:\n"    /* local: applies */
			  "/usr/bin/c\n/usr/bin/c.twice\n:\n"    /* diverted twice */
			  "/usr/bin/partial\n";                  /* incomplete */
	vigil_dpkg_db *db;
	vigil_pkg_stats s = {0};
	const vigil_dpkg_entry *e;
	size_t n;
	(void)state;

	assert_int_equal(vigil_dpkg_db_new(NULL, NULL, &db), 0);
	assert_int_equal(vigil_dpkg_parse_md5sums(db, "t", "pkg:amd64", md5s, strlen(md5s)), 0);
	assert_int_equal(vigil_dpkg_parse_diversions(db, div, strlen(div)), 0);
	assert_int_equal(vigil_dpkg_db_finish(db), 0);
	e = vigil_dpkg_db_entries(db, &n);
	vigil_dpkg_db_counts(db, &s);
	assert_int_equal(s.malformed, 4);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].diverted_to, "/usr/bin/a.real");
	assert_null(e[1].diverted_to); /* "pkg" is "pkg:amd64" without its architecture */
	assert_string_equal(e[2].diverted_to, "/usr/bin/c.local");
	vigil_dpkg_db_free(db);
}

static void test_conffile_wins_duplicate(void **state)
{
	const char *md5s = "11111111111111111111111111111111  etc/a\n"
			   "22222222222222222222222222222222  etc/a\n";
	const char *status = "Package: pkg\nStatus: install ok installed\nConffiles:\n"
			     " /etc/a 33333333333333333333333333333333\n";
	vigil_dpkg_db *db;
	const vigil_dpkg_entry *e;
	size_t n;
	(void)state;

	assert_int_equal(vigil_dpkg_db_new(NULL, NULL, &db), 0);
	assert_int_equal(vigil_dpkg_parse_md5sums(db, "t", "pkg", md5s, strlen(md5s)), 0);
	assert_int_equal(vigil_dpkg_parse_status(db, status, strlen(status), true), 0);
	assert_int_equal(vigil_dpkg_db_finish(db), 0);
	e = vigil_dpkg_db_entries(db, &n);
	assert_int_equal(n, 1);
	assert_true(e[0].conffile);
	assert_int_equal(e[0].md5[0], 0x33);
	vigil_dpkg_db_free(db);
}

/* ---- owners ---- */

static void test_owners(void **state)
{
	struct fx *f = *state;
	vigil_dpkg_options o;
	vigil_dpkg_owners *w;
	vigil_pkg_stats s;
	const char *pk[4];
	char err[256];

	assert_int_equal(symlink("usr/bin", P(f, "bin")), 0);
	put(f, "var/lib/dpkg/status",
	    "Package: bash\nStatus: install ok installed\n\n"
	    "Package: coreutils\nStatus: install ok installed\n\n"
	    "Package: dash\nStatus: install ok installed\n\n"
	    "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n"
	    "Multi-Arch: same\n\n"
	    "Package: old\nStatus: deinstall ok config-files\n");
	put(f, "var/lib/dpkg/info/bash.list", "/.\n/bin\n/bin/bash\n/usr/bin/sh\n/etc/../x\n");
	put(f, "var/lib/dpkg/info/coreutils.list", "/.\n/usr/bin\n/usr/bin/ls\n");
	put(f, "var/lib/dpkg/info/dash.list", "/.\n/usr/bin\n/usr/bin/sh\n");
	put(f, "var/lib/dpkg/info/libc6:amd64.list", "/.\n/usr/lib/libc.so.6\n");
	put(f, "var/lib/dpkg/info/old.list", "/.\n/usr/bin/old\n");
	put(f, "var/lib/dpkg/diversions", "/usr/bin/sh\n/usr/bin/sh.distrib\ndash\n");
	vigil_dpkg_options_default(&o);
	o.root = f->root;
	assert_int_equal(vigil_dpkg_owners_load(&o, &w, &s, err, sizeof(err)), 0);
	assert_int_equal(s.malformed, 1);        /* /etc/../x */
	assert_int_equal(s.skipped_packages, 1); /* old */

	/* Merged /usr: both spellings find bash. */
	assert_int_equal(vigil_dpkg_owner(w, "/usr/bin/bash", pk, 4), 1);
	assert_string_equal(pk[0], "bash");
	assert_int_equal(vigil_dpkg_owner(w, "/bin/bash", pk, 4), 1);
	assert_string_equal(pk[0], "bash");
	/* A directory several packages list, sorted, once each; cap respected. */
	assert_int_equal(vigil_dpkg_owner(w, "/usr/bin", pk, 4), 3);
	assert_string_equal(pk[0], "bash");
	assert_string_equal(pk[1], "coreutils");
	assert_string_equal(pk[2], "dash");
	pk[1] = NULL;
	assert_int_equal(vigil_dpkg_owner(w, "/usr/bin", pk, 1), 3);
	assert_null(pk[1]);
	/* Diverted: /usr/bin/sh is dash's; bash's copy lives at sh.distrib. */
	assert_int_equal(vigil_dpkg_owner(w, "/usr/bin/sh", pk, 4), 1);
	assert_string_equal(pk[0], "dash");
	assert_int_equal(vigil_dpkg_owner(w, "/usr/bin/sh.distrib", pk, 4), 1);
	assert_string_equal(pk[0], "bash");
	assert_int_equal(vigil_dpkg_owner(w, "/usr/lib/libc.so.6", pk, 4), 1);
	assert_string_equal(pk[0], "libc6:amd64");
	/* lib is not a link in this root: no alias. */
	assert_int_equal(vigil_dpkg_owner(w, "/lib/libc.so.6", pk, 4), 0);
	assert_int_equal(vigil_dpkg_owner(w, "/usr/bin/old", pk, 4), 0);
	assert_int_equal(vigil_dpkg_owner(w, "/nothing", pk, 4), 0);
	assert_int_equal(vigil_dpkg_owner(w, "/", pk, 4), 0);
	vigil_dpkg_owners_free(w);
	vigil_dpkg_owners_free(NULL);
}

/* The JSON of a verdict: the shape of a check change, whatever bytes the path holds. */
static void test_result_json(void **state)
{
	vigil_pkg_result r = {.package = "bash\"x",
			      .path = "/usr/bin/b\xffsh",
			      .problem = VIGIL_PKG_CHANGED,
			      .conffile = true,
			      .diverted_to = "/usr/bin/bash.distrib"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	memset(r.expected, 'a', 32);
	memset(r.actual, 'b', 32);
	vigil_pkg_result_write_json(f, &r);
	r.problem = VIGIL_PKG_MISSING;
	r.diverted_to = NULL;
	r.conffile = false;
	fputc('\n', f);
	vigil_pkg_result_write_json(f, &r);
	fclose(f);
	assert_string_equal(
	    buf,
	    "{\"path\":\"/usr/bin/b\xef\xbf\xbdsh\",\"path_bytes_b64\":\"L3Vzci9iaW4vYv9zaA==\","
	    "\"change\":\"changed\",\"source\":\"dpkg\",\"problem\":\"changed\","
	    "\"attributes\":[\"hash\"],\"package\":\"bash\\\"x\",\"conffile\":true,"
	    "\"diverted_to\":\"/usr/bin/bash.distrib\","
	    "\"old\":{\"hash\":\"md5:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},"
	    "\"new\":{\"hash\":\"md5:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}}\n"
	    "{\"path\":\"/usr/bin/b\xef\xbf\xbdsh\",\"path_bytes_b64\":\"L3Vzci9iaW4vYv9zaA==\","
	    "\"change\":\"removed\",\"source\":\"dpkg\",\"problem\":\"missing\","
	    "\"attributes\":[],\"package\":\"bash\\\"x\",\"conffile\":false,"
	    "\"old\":{\"hash\":\"md5:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_verify_system, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_results_independent_of_jobs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_from_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admin_errors, setup, teardown),
	    cmocka_unit_test(test_result_json),
	    cmocka_unit_test(test_md5sums_lines),
	    cmocka_unit_test(test_md5sums_bad_package_name),
	    cmocka_unit_test(test_status_paragraphs),
	    cmocka_unit_test(test_status_multiarch_names),
	    cmocka_unit_test(test_diversions_parse),
	    cmocka_unit_test(test_conffile_wins_duplicate),
	    cmocka_unit_test_setup_teardown(test_owners, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
