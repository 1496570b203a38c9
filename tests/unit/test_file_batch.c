/* SPDX-License-Identifier: Apache-2.0 */
/* The batch opener through io_uring and through its plain fallback (VIGIL_IO_URING=0):
 * opens, reads and closes give the same results both ways, refused opens keep their
 * errno, and an entry read from an fd with content read ahead digests like a plain read. */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "file_batch.h"
#include "meta.h"
#include "vigil/vigil.h"

struct fx {
	char root[64];
	int dirfd;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->root, "/tmp/vigil-test-file-batch.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->dirfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dirfd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	unsetenv("VIGIL_IO_URING");
	close(f->dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void put(struct fx *f, const char *rel, const void *data, size_t len)
{
	int fd = openat(f->dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Whether this kernel gives this process a ring at all (seccomp, io_uring_disabled). */
static bool kernel_has_ring(void)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return false;
	close((int)fd);
	return true;
}

/* A batch opener with the ring (true) or forced to the plain calls (false). */
static vigil_file_batch *opener(bool ring, unsigned max)
{
	vigil_file_batch *b = NULL;

	if (ring)
		unsetenv("VIGIL_IO_URING");
	else
		setenv("VIGIL_IO_URING", "0", 1);
	assert_int_equal(vigil_file_batch_new(max, &b), 0);
	assert_non_null(b);
	assert_int_equal(vigil_file_batch_uses_ring(b), ring && kernel_has_ring());
	return b;
}

static void test_new_refuses_bad_sizes(void **state)
{
	vigil_file_batch *b = (vigil_file_batch *)1;

	(void)state;
	assert_int_equal(vigil_file_batch_new(0, &b), VIGIL_E_INVALID);
	assert_null(b);
	assert_int_equal(vigil_file_batch_new(100000, &b), VIGIL_E_INVALID);
	assert_int_equal(vigil_file_batch_new(4, NULL), VIGIL_E_INVALID);
	vigil_file_batch_free(NULL);
}

/* Regular files open and read; a symlink is refused (O_NOFOLLOW), a missing name too; a
 * FIFO opens without blocking (O_NONBLOCK) and is for the caller's fstat to refuse. Both
 * ways give the same. */
static void test_open_read_close(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {"one", "missing", "link", "fifo", "two", "empty"};
	enum { N = sizeof(names) / sizeof(names[0]) };

	put(f, "one", "hello", 5);
	put(f, "two", "world, longer", 13);
	put(f, "empty", "", 0);
	assert_int_equal(symlinkat("one", f->dirfd, "link"), 0);
	assert_int_equal(mkfifoat(f->dirfd, "fifo", 0644), 0);
	for (int ring = 1; ring >= 0; ring--) {
		vigil_file_batch *b = opener(ring, N);
		vigil_file_open o[N];
		vigil_file_read r[3];
		char buf[3][64];
		int fds[N];
		struct stat st;

		for (size_t i = 0; i < N; i++)
			o[i] = (vigil_file_open){.dirfd = f->dirfd, .name = names[i]};
		vigil_file_batch_open(b, o, N);
		assert_true(o[0].fd >= 0);
		assert_int_equal(o[0].err, 0);
		assert_int_equal(o[1].fd, -1);
		assert_int_equal(o[1].err, ENOENT);
		assert_int_equal(o[2].fd, -1);
		assert_int_equal(o[2].err, ELOOP);
		assert_true(o[3].fd >= 0);
		assert_int_equal(fstat(o[3].fd, &st), 0);
		assert_true(S_ISFIFO(st.st_mode));
		assert_true(fcntl(o[3].fd, F_GETFL) & O_NONBLOCK);
		assert_true(o[4].fd >= 0 && o[5].fd >= 0);

		/* Reads from offset 0, short at the end of the file. */
		r[0] = (vigil_file_read){.fd = o[0].fd, .buf = buf[0], .len = sizeof(buf[0])};
		r[1] = (vigil_file_read){.fd = o[4].fd, .buf = buf[1], .len = 5};
		r[2] = (vigil_file_read){.fd = o[5].fd, .buf = buf[2], .len = sizeof(buf[2])};
		vigil_file_batch_read(b, r, 3);
		assert_int_equal(r[0].got, 5);
		assert_memory_equal(buf[0], "hello", 5);
		assert_int_equal(r[1].got, 5);
		assert_memory_equal(buf[1], "world", 5);
		assert_int_equal(r[2].got, 0);
		assert_int_equal(r[0].err + r[1].err + r[2].err, 0);

		for (size_t i = 0; i < N; i++)
			fds[i] = o[i].fd;
		vigil_file_batch_close(b, fds, N);
		for (size_t i = 0; i < N; i++) {
			if (fds[i] < 0)
				continue;
			errno = 0;
			assert_int_equal(fcntl(fds[i], F_GETFD), -1);
			assert_int_equal(errno, EBADF);
		}
		vigil_file_batch_free(b);
	}
}

/* More entries than the opener's size: only the first max are touched. */
static void test_batch_is_capped(void **state)
{
	struct fx *f = *state;
	vigil_file_batch *b = opener(true, 2);
	vigil_file_open o[3];

	put(f, "x", "x", 1);
	for (size_t i = 0; i < 3; i++)
		o[i] = (vigil_file_open){.dirfd = f->dirfd, .name = "x", .fd = -7};
	vigil_file_batch_open(b, o, 3);
	assert_true(o[0].fd >= 0 && o[1].fd >= 0);
	assert_int_equal(o[2].fd, -7);
	{
		int fds[2] = {o[0].fd, o[1].fd};

		vigil_file_batch_close(b, fds, 2);
	}
	vigil_file_batch_free(b);
}

/* O_NOATIME needs ownership or CAP_FOWNER (open(2)): a file of someone else's opens all
 * the same, without it. Runs as an unprivileged user in a child. */
static void test_noatime_refused_still_opens(void **state)
{
	struct fx *f = *state;
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		print_message("SKIP: needs root to switch to an unprivileged user\n");
		skip();
	}
	put(f, "rootfile", "abc", 3);
	assert_int_equal(chmod(f->root, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int bad = 0;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(10);
		/* The premise: this user's O_NOATIME open is refused. */
		if (openat(f->dirfd, "rootfile", O_RDONLY | O_NOATIME) >= 0 || errno != EPERM)
			_exit(11);
		for (int ring = 1; ring >= 0; ring--) {
			vigil_file_batch *b = NULL;
			vigil_file_open o[2] = {{.dirfd = f->dirfd, .name = "rootfile"},
						{.dirfd = f->dirfd, .name = "rootfile"}};

			if (ring)
				unsetenv("VIGIL_IO_URING");
			else
				setenv("VIGIL_IO_URING", "0", 1);
			if (vigil_file_batch_new(2, &b) != 0)
				_exit(12);
			vigil_file_batch_open(b, o, 2);
			bad |= o[0].fd < 0 || o[1].fd < 0 || o[0].err != 0;
			bad |= (fcntl(o[0].fd, F_GETFL) & O_NOATIME) != 0;
			close(o[0].fd);
			close(o[1].fd);
			vigil_file_batch_free(b);
		}
		_exit(bad ? 13 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Digest of `rel` the plain way (lstat, vigil_entry_read). */
static void plain_digest(struct fx *f, const char *rel, int64_t prefix, vigil_entry *e,
			 vigil_entry_read_info *info)
{
	struct stat st;

	assert_int_equal(fstatat(f->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW), 0);
	memset(e, 0, sizeof(*e));
	assert_int_equal(vigil_entry_read(f->dirfd, rel, rel, strlen(rel), &st, VIGIL_ATTR_DEFAULT,
					  VIGIL_HASH_SHA256, prefix, e, info),
			 0);
	assert_true(e->hash_len > 0);
}

/* What was read ahead (all, part, nothing) and what the fd gives after it digest as one:
 * small, large, sparse files and a growing log's prefix digest. */
static void test_read_fd_continues_after_head(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {"small", "large", "sparse"};
	static uint8_t data[200 * 1024];
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	put(f, "small", data, 1000);
	put(f, "large", data, sizeof(data));
	fd = openat(f->dirfd, "sparse", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, 5000, 0), 5000);
	assert_int_equal(pwrite(fd, data, 5000, 3 * 1024 * 1024), 5000);
	close(fd);

	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		static uint8_t head[64 * 1024];
		vigil_entry want, got;
		vigil_entry_read_info wi, gi;
		struct stat st;
		const size_t heads[] = {0, 1, 999, 1000, sizeof(head)};

		plain_digest(f, names[n], 77, &want, &wi);
		assert_int_equal(wi.prefix_hash_len, want.hash_len);
		fd = openat(f->dirfd, names[n], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
			ssize_t len = pread(fd, head, heads[h], 0);

			assert_true(len >= 0);
			memset(&got, 0, sizeof(got));
			assert_int_equal(vigil_entry_read_fd(
					     fd, head, (size_t)len, names[n], strlen(names[n]), &st,
					     VIGIL_ATTR_DEFAULT, VIGIL_HASH_SHA256, 77, &got, &gi),
					 0);
			assert_int_equal(got.hash_len, want.hash_len);
			assert_memory_equal(got.hash, want.hash, want.hash_len);
			assert_int_equal(gi.prefix_hash_len, wi.prefix_hash_len);
			assert_memory_equal(gi.prefix_hash, wi.prefix_hash, wi.prefix_hash_len);
			assert_int_equal(vigil_entry_diff(&want, &got, VIGIL_ATTR_ALL), 0);
			vigil_entry_clear(&got);
		}
		/* What only an fd to a regular file can be read from. */
		memset(&got, 0, sizeof(got));
		assert_int_equal(vigil_entry_read_fd(-1, NULL, 0, "x", 1, &st, VIGIL_ATTR_DEFAULT,
						     VIGIL_HASH_SHA256, -1, &got, &gi),
				 VIGIL_E_INVALID);
		assert_int_equal(vigil_entry_read_fd(fd, NULL, 5, "x", 1, &st, VIGIL_ATTR_DEFAULT,
						     VIGIL_HASH_SHA256, -1, &got, &gi),
				 VIGIL_E_INVALID);
		close(fd);
		vigil_entry_clear(&want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_refuses_bad_sizes),
	    cmocka_unit_test_setup_teardown(test_open_read_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_is_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_noatime_refused_still_opens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_fd_continues_after_head, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
