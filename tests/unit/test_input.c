/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for safe file input: swap and FIFO handling, O_NOATIME, hole-skipping reads. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "input.h"

#define TEST_TIMEOUT 60
#define GiB          (1024LL * 1024 * 1024)

struct fx {
	char root[64];
	int dirfd;
};

static const char *P(struct fx *f, const char *rel)
{
	static char buf[4][512];
	static unsigned next;
	char *b = buf[next++ % 4];
	snprintf(b, sizeof(buf[0]), "%s/%s", f->root, rel);
	return b;
}

static void put(struct fx *f, const char *rel, const void *data, size_t len)
{
	int fd = openat(f->dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static struct stat lst(struct fx *f, const char *rel)
{
	struct stat st;
	assert_int_equal(fstatat(f->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW), 0);
	return st;
}

/* Deterministic, non-zero-heavy content. */
static unsigned char *pattern(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len ? len : 1);
	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
	return p;
}

/* Drains a reader with reads of at most `chunk` bytes into a new buffer. */
static unsigned char *drain(vigil_reader *r, size_t chunk, size_t *total)
{
	size_t cap = 1 << 16, n = 0;
	unsigned char *out = malloc(cap);
	ssize_t got;

	assert_non_null(out);
	for (;;) {
		if (cap - n < chunk) {
			while (cap - n < chunk)
				cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		got = r->read(r, out + n, chunk);
		assert_true(got >= 0);
		if (got == 0)
			break;
		assert_true((size_t)got <= chunk);
		n += (size_t)got;
	}
	/* The end stays the end. */
	assert_int_equal(r->read(r, out, chunk), 0);
	*total = n;
	return out;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->root, "/tmp/vigil-input-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_int_equal(chmod(f->root, 0755), 0);
	f->dirfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dirfd >= 0);
	*state = f;
	alarm(TEST_TIMEOUT);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	pid_t pid;

	alarm(0);
	close(f->dirfd);
	if ((pid = fork()) == 0) {
		execlp("rm", "rm", "-rf", "--one-file-system", f->root, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
	free(f);
	return 0;
}

static void on_alarm(int sig)
{
	static const char msg[] = "test_input: timed out (an open or read blocked)\n";
	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(3);
}

/* ---- vigil_open_regular ---- */

static void test_open_regular(void **state)
{
	struct fx *f = *state;
	vigil_skip reason = VIGIL_SKIP_COUNT;
	char buf[16] = {0};
	int fd, fl;

	put(f, "f", "hello", 5);
	struct stat st = lst(f, "f");
	fd = vigil_open_regular(f->dirfd, "f", &st, &reason);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "hello");
	fl = fcntl(fd, F_GETFL);
	/* O_NONBLOCK stays (no fcntl per file); vigil_read/vigil_pread clear it on EAGAIN. */
	assert_int_equal(fl & O_NONBLOCK, O_NONBLOCK);
	assert_int_equal(fl & O_ACCMODE, O_RDONLY);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* No expectation: any regular file will do. */
	fd = vigil_open_regular(f->dirfd, "f", NULL, &reason);
	assert_true(fd >= 0);
	close(fd);
}

/* Reading must not touch atime (O_NOATIME): a later access time would betray the scan. */
static void test_open_keeps_atime(void **state)
{
	struct fx *f = *state;
	vigil_skip reason;
	char buf[8];

	put(f, "f", "data", 4);
	/* atime older than mtime: relatime would update it on any read. */
	struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_nsec = UTIME_NOW}};
	assert_int_equal(utimensat(f->dirfd, "f", ts, 0), 0);
	struct stat st = lst(f, "f");
	int fd = vigil_open_regular(f->dirfd, "f", &st, &reason);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	struct stat after = lst(f, "f");
	assert_int_equal(after.st_atim.tv_sec, 1000000000);
}

/* What the caller expects: nothing, the entry's own lstat, another regular file's, or
 * the lstat "old" had before another file was renamed over it. */
enum expect_from { EXPECT_NONE, EXPECT_SELF, EXPECT_REGULAR, EXPECT_OLD };

static void test_open_failures(void **state)
{
	struct fx *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int sk;

	put(f, "reg", "r", 1);
	put(f, "old", "old", 3);
	put(f, "new", "new", 3);
	assert_int_equal(mkfifo(P(f, "fifo"), 0644), 0);
	assert_int_equal(symlinkat("reg", f->dirfd, "link"), 0);
	assert_int_equal(mkdirat(f->dirfd, "dir", 0755), 0);
	sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sk >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", P(f, "sock"));
	assert_int_equal(bind(sk, (struct sockaddr *)&sa, sizeof(sa)), 0);

	/* The walk's lstat of "old", then another file renamed over it. */
	struct stat old = lst(f, "old");
	assert_int_equal(renameat(f->dirfd, "new", f->dirfd, "old"), 0);

	const struct {
		const char *name;
		enum expect_from from;
		vigil_skip reason;
		int err;
	} cases[] = {
	    {"missing", EXPECT_REGULAR, VIGIL_SKIP_VANISHED, ENOENT},
	    {"old", EXPECT_OLD, VIGIL_SKIP_VANISHED, ESTALE},
	    {"link", EXPECT_REGULAR, VIGIL_SKIP_VANISHED, ELOOP},
	    {"link", EXPECT_NONE, VIGIL_SKIP_SPECIAL, ELOOP},
	    /* A FIFO where a file was: fails at once, never waits for a writer. */
	    {"fifo", EXPECT_REGULAR, VIGIL_SKIP_VANISHED, ESTALE},
	    {"fifo", EXPECT_SELF, VIGIL_SKIP_SPECIAL, EINVAL},
	    {"fifo", EXPECT_NONE, VIGIL_SKIP_SPECIAL, EINVAL},
	    {"sock", EXPECT_SELF, VIGIL_SKIP_SPECIAL, ENXIO},
	    {"sock", EXPECT_REGULAR, VIGIL_SKIP_VANISHED, ENXIO},
	    {"dir", EXPECT_SELF, VIGIL_SKIP_SPECIAL, EINVAL},
	    {"dir", EXPECT_REGULAR, VIGIL_SKIP_VANISHED, ESTALE},
	};
	struct stat reg = lst(f, "reg");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stat self;
		const struct stat *exp = NULL;
		vigil_skip reason = VIGIL_SKIP_COUNT;
		vigil_skip want = cases[i].reason;
		int want_err = cases[i].err;

		if (cases[i].from == EXPECT_OLD) {
			exp = &old;
		} else if (cases[i].from == EXPECT_SELF) {
			self = lst(f, cases[i].name);
			exp = &self;
		} else if (cases[i].from == EXPECT_REGULAR) {
			exp = &reg;
		}
		errno = 0;
		int fd = vigil_open_regular(f->dirfd, cases[i].name, exp, &reason);
		if (fd >= 0 || reason != want || errno != want_err)
			fail_msg("case %zu (%s): fd %d reason %d errno %d, want reason %d errno %d",
				 i, cases[i].name, fd, reason, errno, want, want_err);
	}
	close(sk);
}

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

static int permission_child(struct fx *f)
{
	vigil_skip reason;
	struct stat st;
	char c;
	int fd;

	if (fstatat(f->dirfd, "private", &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 1;
	errno = 0;
	if (vigil_open_regular(f->dirfd, "private", &st, &reason) >= 0 ||
	    reason != VIGIL_SKIP_UNREADABLE || errno != EACCES)
		return 2;
	/* Someone else's file: O_NOATIME gives EPERM, the open must still succeed. */
	if (fstatat(f->dirfd, "theirs", &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 3;
	if (st.st_uid == geteuid())
		return 0; /* not root: nobody else's file to try (the parent says SKIP) */
	if ((fd = vigil_open_regular(f->dirfd, "theirs", &st, &reason)) < 0)
		return 4;
	if (read(fd, &c, 1) != 1 || c != 't')
		return 5;
	close(fd);
	return 0;
}

static void test_open_permissions(void **state)
{
	struct fx *f = *state;

	put(f, "private", "p", 1);
	put(f, "theirs", "t", 1);
	assert_int_equal(fchmodat(f->dirfd, "private", 0, 0), 0);
	if (geteuid() != 0)
		print_message("SKIP: O_NOATIME fallback on another user's file needs root\n");
	int rc = as_unprivileged(permission_child, f);
	if (rc == 77) {
		print_message("SKIP: cannot drop privileges to nobody\n");
		skip();
	}
	if (rc != 0)
		fail_msg("permission check %d failed", rc);
}

/* ---- vigil_file_reader ---- */

static void test_reader_chunks(void **state)
{
	struct fx *f = *state;
	const size_t len = 70 * 1024 + 17; /* the last 64 KiB chunk is partial */
	unsigned char *data = pattern(len, 7);
	static const size_t chunks[] = {1, 7, 4096, 65536, 1 << 20};

	put(f, "f", data, len);
	int fd = openat(f->dirfd, "f", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	for (int seek = 0; seek < 2; seek++) {
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			vigil_file_reader fr;
			size_t total;
			vigil_file_reader_init(&fr, fd, (int64_t)len);
			/* Both paths: SEEK_DATA, and the plain reads used where it is unsupported.
			 */
			fr.use_seek_data = seek;
			assert_int_equal(fr.r.fd, fd);
			assert_int_equal(fr.r.size, (int64_t)len);
			unsigned char *out = drain(&fr.r, chunks[c], &total);
			if (total != len || memcmp(out, data, len) != 0)
				fail_msg("seek %d chunk %zu: %zu bytes, want %zu", seek, chunks[c],
					 total, len);
			free(out);
		}
	}
	/* Size unknown: read to the end. */
	vigil_file_reader fr;
	size_t total;
	vigil_file_reader_init(&fr, fd, -1);
	unsigned char *out = drain(&fr.r, 4096, &total);
	assert_int_equal(total, len);
	assert_memory_equal(out, data, len);
	free(out);
	close(fd);
	free(data);
	/* Empty file. */
	put(f, "empty", "", 0);
	fd = openat(f->dirfd, "empty", O_RDONLY | O_CLOEXEC);
	vigil_file_reader_init(&fr, fd, 0);
	out = drain(&fr.r, 4096, &total);
	assert_int_equal(total, 0);
	free(out);
	close(fd);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_reader_sparse_50g(void **state)
{
	struct fx *f = *state;
	const off_t size = 50 * GiB;
	const struct {
		off_t off;
		const char *data;
	} marks[] = {{0, "HEAD"}, {10 * GiB, "MIDDLE"}, {50 * GiB - 4, "TAIL"}};
	size_t total;

	int fd = openat(f->dirfd, "sparse", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pwrite(fd, marks[i].data, strlen(marks[i].data), marks[i].off),
				 (ssize_t)strlen(marks[i].data));
	off_t d = lseek(fd, 4096, SEEK_DATA);
	if (d < 10 * GiB - 1024 * 1024) {
		close(fd);
		print_message("SKIP: the file system of %s does not report holes\n", f->root);
		skip();
	}

	vigil_file_reader fr;
	vigil_file_reader_init(&fr, fd, (int64_t)size);
	double t0 = now();
	unsigned char *out = drain(&fr.r, 1 << 16, &total);
	double secs = now() - t0;

	/* Only the data blocks come back (file systems allocate whole blocks, at most a
	 * few MiB with large extents), not 50 GB of zeros. */
	assert_true(total >= 4 + 6 + 4);
	assert_true(total <= 3 * 2 * 1024 * 1024);
	assert_true(secs < 1.0);
	assert_memory_equal(out, "HEAD", 4);
	assert_memory_equal(out + total - 4, "TAIL", 4);
	/* MIDDLE is there once and every other byte is a zero from the blocks' padding. */
	size_t nonzero = 0, mid = 0;
	for (size_t i = 0; i < total; i++) {
		if (out[i] != 0)
			nonzero++;
		if (i + 6 <= total && memcmp(out + i, "MIDDLE", 6) == 0)
			mid++;
	}
	assert_int_equal(mid, 1);
	assert_int_equal(nonzero, 14);
	assert_int_equal(fr.pos, size);
	print_message("sparse 50 GB: %zu bytes read in %.3f ms\n", total, secs * 1e3);
	free(out);
	close(fd);
}

/* The file changes under the reader: no crash, no error, the end comes early or on time. */
static void test_reader_file_changes(void **state)
{
	struct fx *f = *state;
	/* A chunk that does not divide the size: the last read must stop at the size. */
	enum { len = 1024 * 1024, chunk = 64 * 1024 + 3 };
	unsigned char *data = pattern(len, 3);
	unsigned char *buf = malloc(len * 2);
	static const struct {
		const char *what;
		off_t new_size; /* ftruncate to this after the first read; -1: append len */
		size_t want;
	} cases[] = {
	    {"shrunk mid-way", 100 * 1024, 100 * 1024},
	    {"shrunk to nothing", 0, chunk},
	    {"shrunk right after the chunk", chunk, chunk},
	    {"grew", -1, len},
	};

	assert_non_null(buf);
	for (int seek = 0; seek < 2; seek++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			vigil_file_reader fr;
			size_t total = 0;
			ssize_t n;

			put(f, "f", data, len);
			int fd = openat(f->dirfd, "f", O_RDWR | O_CLOEXEC);
			assert_true(fd >= 0);
			vigil_file_reader_init(&fr, fd, (int64_t)len);
			fr.use_seek_data = seek;
			assert_int_equal(fr.r.read(&fr.r, buf, chunk), (ssize_t)chunk);
			total = chunk;
			if (cases[i].new_size >= 0) {
				assert_int_equal(ftruncate(fd, cases[i].new_size), 0);
			} else {
				assert_int_equal(pwrite(fd, data, len, (off_t)len), (ssize_t)len);
			}
			while ((n = fr.r.read(&fr.r, buf + total, chunk)) > 0)
				total += (size_t)n;
			if (n != 0 || total != cases[i].want || memcmp(buf, data, total) != 0)
				fail_msg("%s (seek %d): read %zd, total %zu, want %zu",
					 cases[i].what, seek, n, total, cases[i].want);
			close(fd);
		}
	}
	/* Unlinked while open: the data is still there for the reader. */
	put(f, "f", data, len);
	int fd = openat(f->dirfd, "f", O_RDONLY | O_CLOEXEC);
	assert_int_equal(unlinkat(f->dirfd, "f", 0), 0);
	vigil_file_reader fr;
	size_t total;
	vigil_file_reader_init(&fr, fd, (int64_t)len);
	unsigned char *out = drain(&fr.r, chunk, &total);
	assert_int_equal(total, len);
	free(out);
	close(fd);
	free(buf);
	free(data);
}

/* A bad fd is an error the caller sees, with errno, not an end of file. */
static void test_reader_error(void **state)
{
	vigil_file_reader fr;
	char buf[16];

	(void)state;
	for (int seek = 0; seek < 2; seek++) {
		vigil_file_reader_init(&fr, -1, 100);
		fr.use_seek_data = seek;
		errno = 0;
		assert_int_equal(fr.r.read(&fr.r, buf, sizeof(buf)), -1);
		assert_int_equal(errno, EBADF);
	}
}

/* vigil_read on a non-blocking fd that answers EAGAIN (a pipe with nothing in it yet,
 * as a FUSE file system might): the flag is cleared and the read waits for the data. */
/* vigil_read_all through a pipe: sizes below, at and above the limit, whatever the
 * size hint says (a file may grow or shrink after fstat). */
static void test_read_all(void **state)
{
	static const struct {
		size_t n, limit, hint;
		int want;
	} cases[] = {
	    {0, 100, 0, 0},          {1, 100, 0, 0},
	    {100, 100, 0, 0},        {101, 100, 0, VIGIL_E_LIMIT},
	    {5000, 100000, 10, 0},   {70000, 65536, 70000, VIGIL_E_LIMIT},
	    {65536, 65536, 1, 0},    {4096, 4096, 4096, 0},
	    {300000, 1000000, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int p[2];
		char *data = malloc(cases[i].n + 1), *out = (char *)&p;
		size_t len = 77;
		pid_t pid;
		int r;

		assert_non_null(data);
		for (size_t k = 0; k < cases[i].n; k++)
			data[k] = (char)('a' + k % 26);
		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			_exit(write(p[1], data, cases[i].n) == (ssize_t)cases[i].n ? 0 : 1);
		}
		close(p[1]);
		r = vigil_read_all(p[0], cases[i].limit, cases[i].hint, &out, &len);
		close(p[0]);
		waitpid(pid, NULL, 0);
		if (r != cases[i].want)
			fail_msg("case %zu: got %d want %d", i, r, cases[i].want);
		if (r == 0) {
			assert_int_equal(len, cases[i].n);
			assert_memory_equal(out, data, len);
			assert_int_equal(out[len], '\0');
			free(out);
		} else {
			assert_null(out);
			assert_int_equal(len, 0);
		}
		free(data);
	}
}

static void test_read_clears_nonblock_on_eagain(void **state)
{
	int p[2];
	char buf[8] = {0};
	pid_t pid;

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		usleep(100000);
		_exit(write(p[1], "late", 4) == 4 ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(vigil_read(p[0], buf, sizeof(buf)), 4);
	assert_string_equal(buf, "late");
	assert_int_equal(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	close(p[0]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_clears_nonblock_on_eagain),
	    cmocka_unit_test(test_read_all),
	    cmocka_unit_test_setup_teardown(test_open_regular, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_open_keeps_atime, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_open_failures, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_open_permissions, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_reader_chunks, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_reader_sparse_50g, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_reader_file_changes, fx_setup, fx_teardown),
	    cmocka_unit_test(test_reader_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
