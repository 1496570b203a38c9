/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for baseline entries: every attribute read from a real file system and
 * formatted, digests against known vectors, prefix digests, diffs, swaps, hostile blobs. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "meta.h"
#include "vigil/attr.h"

#define TEST_TIMEOUT 120
#define MiB          (1024LL * 1024)
#define GiB          (1024LL * MiB)

#define FLAGS_STICKY (FS_IMMUTABLE_FL | FS_APPEND_FL)

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

/* Reads `rel` the way the baseline walker will: lstat, then vigil_entry_read. */
static int rd(struct fx *f, const char *rel, uint32_t attrs, vigil_hash_algo algo, int64_t prefix,
	      vigil_entry *e, vigil_entry_read_info *info)
{
	struct stat st = lst(f, rel);
	const char *path = P(f, rel);

	memset(e, 0, sizeof(*e));
	return vigil_entry_read(f->dirfd, rel, path, strlen(path), &st, attrs, algo, prefix, e,
				info);
}

/* The formatted value (rotating buffers, so two can be compared in one assert). */
static const char *fmt(const vigil_entry *e, uint32_t attr)
{
	static char buf[4][8192];
	static unsigned next;
	char *b = buf[next++ % 4];
	size_t n = vigil_entry_format(e, attr, b, sizeof(buf[0]));

	assert_true(n < sizeof(buf[0]));
	assert_int_equal(strlen(b), n);
	return b;
}

static char *hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
	return out;
}

/* Expected digests from OpenSSL's own constructors, not the module's fetch path. */
static const EVP_MD *md_of(vigil_hash_algo a)
{
	switch (a) {
	case VIGIL_HASH_SHA256:
		return EVP_sha256();
	case VIGIL_HASH_SHA512:
		return EVP_sha512();
	default:
		return EVP_blake2b512();
	}
}

static void digest_hex(vigil_hash_algo a, const void *p, size_t n, char *out)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	assert_true(EVP_Digest(p, n, md, &len, md_of(a), NULL));
	hex(md, len, out);
}

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

static void pause_for_ctime(void)
{
	/* Coarse timestamps: make sure a change lands on a later tick. */
	struct timespec ts = {0, 20 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

static int get_iflags(struct fx *f, const char *rel, int *fl)
{
	int fd = openat(f->dirfd, rel, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, FS_IOC_GETFLAGS, fl);
	close(fd);
	return r;
}

static int set_iflags(struct fx *f, const char *rel, int fl)
{
	int fd = openat(f->dirfd, rel, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), r, err;

	if (fd < 0)
		return -1;
	r = ioctl(fd, FS_IOC_SETFLAGS, &fl);
	err = errno;
	close(fd);
	errno = err;
	return r;
}

/* Teardown: +i and +a files cannot be removed; clear them first. */
static int clear_sticky(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	(void)type;
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) {
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), fl = 0;

		if (fd >= 0) {
			if (ioctl(fd, FS_IOC_GETFLAGS, &fl) == 0 && (fl & FLAGS_STICKY)) {
				fl &= ~FLAGS_STICKY;
				(void)ioctl(fd, FS_IOC_SETFLAGS, &fl);
			}
			close(fd);
		}
	}
	return 0;
}

static void on_alarm(int sig)
{
	static const char msg[] = "test_meta: timed out (an open or read blocked)\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(3);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->root, "/tmp/vigil-meta-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	/* Searchable by the unprivileged child of the unreadable-file test. */
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
	nftw(f->root, clear_sticky, 16, FTW_PHYS | FTW_MOUNT);
	if ((pid = fork()) == 0) {
		execlp("rm", "rm", "-rf", "--one-file-system", f->root, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
	free(f);
	return 0;
}

/* ---- names ---- */

static void test_attr_names(void **state)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} t[] = {
	    {VIGIL_ATTR_TYPE, "type"},       {VIGIL_ATTR_MODE, "mode"},
	    {VIGIL_ATTR_UID, "uid"},         {VIGIL_ATTR_GID, "gid"},
	    {VIGIL_ATTR_SIZE, "size"},       {VIGIL_ATTR_MTIME, "mtime"},
	    {VIGIL_ATTR_CTIME, "ctime"},     {VIGIL_ATTR_INODE, "inode"},
	    {VIGIL_ATTR_NLINK, "nlink"},     {VIGIL_ATTR_TARGET, "target"},
	    {VIGIL_ATTR_DEV, "dev"},         {VIGIL_ATTR_HASH, "hash"},
	    {VIGIL_ATTR_ACL, "acl"},         {VIGIL_ATTR_CAPS, "caps"},
	    {VIGIL_ATTR_SELINUX, "selinux"}, {VIGIL_ATTR_XATTRS, "xattrs"},
	    {VIGIL_ATTR_FLAGS, "flags"},     {VIGIL_ATTR_BOOT_SECTOR, "boot_sector"},
	};
	uint32_t all = 0;

	(void)state;
	assert_int_equal(sizeof(t) / sizeof(t[0]), VIGIL_ATTR_COUNT);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_string_equal(vigil_attr_name(t[i].bit), t[i].name);
		assert_int_equal(vigil_attr_from_name(t[i].name), t[i].bit);
		all |= t[i].bit;
	}
	assert_int_equal(all, VIGIL_ATTR_ALL);
	assert_int_equal(VIGIL_ATTR_DEFAULT & VIGIL_ATTR_BOOT_SECTOR, 0);
	assert_null(vigil_attr_name(0));
	assert_null(vigil_attr_name(VIGIL_ATTR_MODE | VIGIL_ATTR_UID));
	assert_null(vigil_attr_name(1u << VIGIL_ATTR_COUNT));
	assert_null(vigil_attr_name(1u << 31));
	assert_int_equal(vigil_attr_from_name("Hash"), 0);
	assert_int_equal(vigil_attr_from_name(""), 0);
	assert_int_equal(vigil_attr_from_name("hash "), 0);
	assert_int_equal(vigil_attr_from_name(NULL), 0);
}

static void test_hash_algo_names(void **state)
{
	static const struct {
		vigil_hash_algo a;
		const char *name;
	} t[] = {
	    {VIGIL_HASH_SHA256, "sha256"},
	    {VIGIL_HASH_SHA512, "sha512"},
	    {VIGIL_HASH_BLAKE2B, "blake2b"},
	};
	vigil_hash_algo a;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_string_equal(vigil_hash_algo_name(t[i].a), t[i].name);
		a = VIGIL_HASH_COUNT;
		assert_int_equal(vigil_hash_algo_from_name(t[i].name, &a), 0);
		assert_int_equal(a, t[i].a);
	}
	assert_null(vigil_hash_algo_name(VIGIL_HASH_COUNT));
	assert_null(vigil_hash_algo_name((vigil_hash_algo)-1));
	a = VIGIL_HASH_SHA512;
	assert_int_equal(vigil_hash_algo_from_name("SHA256", &a), VIGIL_E_INVALID);
	assert_int_equal(vigil_hash_algo_from_name("blake2b512", &a), VIGIL_E_INVALID);
	assert_int_equal(vigil_hash_algo_from_name("", &a), VIGIL_E_INVALID);
	assert_int_equal(vigil_hash_algo_from_name(NULL, &a), VIGIL_E_INVALID);
	assert_int_equal(a, VIGIL_HASH_SHA512); /* untouched on failure */
}

/* ---- digests ---- */

/* FIPS 180-2 appendix vectors; BLAKE2b-512 from RFC 7693 appendix A and the reference. */
static const struct {
	vigil_hash_algo a;
	const char *in;
	const char *hex;
} vectors[] = {
    {VIGIL_HASH_SHA256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {VIGIL_HASH_SHA256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {VIGIL_HASH_SHA512, "",
     "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877e"
     "ec2f63b931bd47417a81a538327af927da3e"},
    {VIGIL_HASH_SHA512, "abc",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3fe"
     "ebbd454d4423643ce80e2a9ac94fa54ca49f"},
    {VIGIL_HASH_BLAKE2B, "",
     "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934e"
     "b04b903a685b1448b755d56f701afe9be2ce"},
    {VIGIL_HASH_BLAKE2B, "abc",
     "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533"
     "cc9518d38aa8dbf1925ab92386edd4009923"},
};

static void test_digest_vectors(void **state)
{
	struct fx *f = *state;
	char h[2 * VIGIL_DIGEST_MAX + 1];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		vigil_entry e;
		vigil_entry_read_info info;
		uint8_t md[VIGIL_DIGEST_MAX], mdlen = 0;
		int fd, pfd[2];

		put(f, "v", vectors[i].in, strlen(vectors[i].in));
		assert_int_equal(rd(f, "v", VIGIL_ATTR_DEFAULT, vectors[i].a, -1, &e, &info), 0);
		assert_int_equal(e.hash_len, strlen(vectors[i].hex) / 2);
		assert_int_equal(e.hash_algo, vectors[i].a);
		assert_string_equal(hex(e.hash, e.hash_len, h), vectors[i].hex);
		assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), vectors[i].hex);
		vigil_entry_clear(&e);

		/* The same through vigil_digest_fd, on a file and on a pipe. */
		fd = openat(f->dirfd, "v", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(vigil_digest_fd(fd, vectors[i].a, -1, md, &mdlen), 0);
		assert_string_equal(hex(md, mdlen, h), vectors[i].hex);
		close(fd);
		assert_int_equal(pipe(pfd), 0);
		assert_int_equal(write(pfd[1], vectors[i].in, strlen(vectors[i].in)),
				 (ssize_t)strlen(vectors[i].in));
		close(pfd[1]);
		assert_int_equal(vigil_digest_fd(pfd[0], vectors[i].a, -1, md, &mdlen), 0);
		assert_string_equal(hex(md, mdlen, h), vectors[i].hex);
		close(pfd[0]);
	}
}

static void test_digest_fd_limit(void **state)
{
	struct fx *f = *state;
	const size_t len = 3 * 256 * 1024 + 12345;
	unsigned char *data = pattern(len, 7);
	const size_t limits[] = {0, 1, 3, 256 * 1024, 256 * 1024 + 1, len - 1, len};
	char want[2 * VIGIL_DIGEST_MAX + 1], got[2 * VIGIL_DIGEST_MAX + 1];
	uint8_t md[VIGIL_DIGEST_MAX], mdlen;

	put(f, "big", data, len);
	for (int a = 0; a < VIGIL_HASH_COUNT; a++) {
		for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
			int fd = openat(f->dirfd, "big", O_RDONLY | O_CLOEXEC);

			assert_true(fd >= 0);
			assert_int_equal(vigil_digest_fd(fd, a, (int64_t)limits[i], md, &mdlen), 0);
			close(fd);
			digest_hex(a, data, limits[i], want);
			assert_string_equal(hex(md, mdlen, got), want);
		}
		/* A limit past the end reads to the end. */
		int fd = openat(f->dirfd, "big", O_RDONLY | O_CLOEXEC);
		assert_int_equal(vigil_digest_fd(fd, a, 10 * (int64_t)len, md, &mdlen), 0);
		close(fd);
		digest_hex(a, data, len, want);
		assert_string_equal(hex(md, mdlen, got), want);
	}
	assert_int_equal(vigil_digest_fd(-1, VIGIL_HASH_SHA256, -1, md, &mdlen), VIGIL_E_SYSTEM);
	assert_int_equal(errno, EBADF);
	assert_int_equal(vigil_digest_fd(0, VIGIL_HASH_COUNT, -1, md, &mdlen), VIGIL_E_INVALID);
	free(data);
}

/* Content over several read buffers, every algorithm, against a one-shot digest. */
static void test_digest_large(void **state)
{
	struct fx *f = *state;
	const size_t len = 5 * MiB + 4321;
	unsigned char *data = pattern(len, 99);
	char want[2 * VIGIL_DIGEST_MAX + 1];

	put(f, "large", data, len);
	for (int a = 0; a < VIGIL_HASH_COUNT; a++) {
		vigil_entry e;

		assert_int_equal(rd(f, "large", VIGIL_ATTR_HASH | VIGIL_ATTR_SIZE, a, -1, &e, NULL),
				 0);
		digest_hex(a, data, len, want);
		assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), want);
		assert_int_equal(e.size, (int64_t)len);
		vigil_entry_clear(&e);
	}
	free(data);
}

/* The prefix digest of one pass equals the digest of a truncated copy. */
static void test_prefix_digest(void **state)
{
	struct fx *f = *state;
	const size_t len = 600000;
	unsigned char *data = pattern(len, 3);
	const int64_t prefixes[] = {0,      1,      262143, 262144, 262145,
				    524288, 599999, 600000, 600001, 10 * GiB};
	char full[2 * VIGIL_DIGEST_MAX + 1], h[2 * VIGIL_DIGEST_MAX + 1];

	put(f, "log", data, len);
	for (int a = 0; a < VIGIL_HASH_COUNT; a++) {
		digest_hex(a, data, len, full);
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			vigil_entry e, t;
			vigil_entry_read_info info;

			assert_int_equal(
			    rd(f, "log", VIGIL_ATTR_DEFAULT, a, prefixes[i], &e, &info), 0);
			assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), full);
			if (prefixes[i] > (int64_t)len) {
				assert_int_equal(info.prefix_hash_len, 0);
				vigil_entry_clear(&e);
				continue;
			}
			assert_int_equal(info.prefix_hash_len, e.hash_len);
			put(f, "copy", data, (size_t)prefixes[i]);
			assert_int_equal(rd(f, "copy", VIGIL_ATTR_HASH, a, -1, &t, NULL), 0);
			assert_string_equal(hex(info.prefix_hash, info.prefix_hash_len, h),
					    fmt(&t, VIGIL_ATTR_HASH));
			vigil_entry_clear(&t);
			vigil_entry_clear(&e);
		}
	}
	/* No prefix asked: none given. */
	{
		vigil_entry e;
		vigil_entry_read_info info;

		assert_int_equal(rd(f, "log", VIGIL_ATTR_HASH, 0, -1, &e, &info), 0);
		assert_int_equal(info.prefix_hash_len, 0);
		vigil_entry_clear(&e);
	}
	free(data);
}

/* The digest covers the size the walk saw: growth after the lstat is the next check's. */
static void test_digest_stops_at_lstat_size(void **state)
{
	struct fx *f = *state;
	vigil_entry e;
	struct stat st;
	char want[2 * VIGIL_DIGEST_MAX + 1];
	int fd;

	put(f, "grow", "0123456789", 10);
	st = lst(f, "grow");
	fd = openat(f->dirfd, "grow", O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_int_equal(write(fd, "abcdefghij", 10), 10);
	close(fd);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vigil_entry_read(f->dirfd, "grow", "grow", 4, &st, VIGIL_ATTR_DEFAULT,
					  VIGIL_HASH_SHA256, 20, &e, NULL),
			 0);
	digest_hex(VIGIL_HASH_SHA256, "0123456789", 10, want);
	assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), want);
	assert_int_equal(e.size, 10);
	vigil_entry_clear(&e);

	/* Shrunk after the lstat: the digest is of what was there. */
	st = lst(f, "grow");
	assert_int_equal(truncate(P(f, "grow"), 4), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vigil_entry_read(f->dirfd, "grow", "grow", 4, &st, VIGIL_ATTR_DEFAULT,
					  VIGIL_HASH_SHA256, -1, &e, NULL),
			 0);
	digest_hex(VIGIL_HASH_SHA256, "0123", 4, want);
	assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), want);
	vigil_entry_clear(&e);
}

/* Holes are digested as zeros; data after them is not lost. */
static void test_sparse_file(void **state)
{
	struct fx *f = *state;
	static const struct {
		int64_t off;
		const char *data;
	} parts[] = {{0, "head"}, {512 * MiB + 3, "middle"}, {GiB - 4, "tail"}};
	const int64_t size = GiB, prefix = 512 * MiB + 5;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *pctx = EVP_MD_CTX_new();
	uint8_t *zero = calloc(1, MiB), md[EVP_MAX_MD_SIZE];
	char want[2 * VIGIL_DIGEST_MAX + 1], pwant[2 * VIGIL_DIGEST_MAX + 1];
	char h[2 * VIGIL_DIGEST_MAX + 1];
	unsigned mdlen;
	int64_t pos = 0;
	vigil_entry e;
	vigil_entry_read_info info;
	struct stat st;
	int fd;

	assert_non_null(zero);
	fd = openat(f->dirfd, "sparse", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(pwrite(fd, parts[i].data, strlen(parts[i].data), parts[i].off),
				 (ssize_t)strlen(parts[i].data));
	close(fd);
	st = lst(f, "sparse");
	if ((int64_t)st.st_blocks * 512 >= size) {
		print_message("SKIP: %s does not keep holes\n", f->root);
		goto out;
	}

	/* Expected: zeros and the three parts, with the prefix context copied on the way. */
	assert_true(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL));
	for (size_t i = 0; i <= 3; i++) {
		int64_t until = i < 3 ? parts[i].off : size;

		while (pos < until) {
			int64_t n = until - pos < MiB ? until - pos : MiB;

			if (pos < prefix && pos + n > prefix)
				n = prefix - pos;
			assert_true(EVP_DigestUpdate(ctx, zero, (size_t)n));
			pos += n;
			if (pos == prefix)
				assert_true(EVP_MD_CTX_copy_ex(pctx, ctx));
		}
		if (i < 3) {
			size_t n = strlen(parts[i].data);

			if (pos < prefix && pos + (int64_t)n > prefix) {
				size_t k = (size_t)(prefix - pos);

				assert_true(EVP_DigestUpdate(ctx, parts[i].data, k));
				assert_true(EVP_MD_CTX_copy_ex(pctx, ctx));
				assert_true(EVP_DigestUpdate(ctx, parts[i].data + k, n - k));
			} else {
				assert_true(EVP_DigestUpdate(ctx, parts[i].data, n));
			}
			pos += (int64_t)n;
		}
	}
	assert_true(EVP_DigestFinal_ex(ctx, md, &mdlen));
	hex(md, mdlen, want);
	assert_true(EVP_DigestFinal_ex(pctx, md, &mdlen));
	hex(md, mdlen, pwant);

	assert_int_equal(rd(f, "sparse", VIGIL_ATTR_DEFAULT, VIGIL_HASH_SHA256, prefix, &e, &info),
			 0);
	assert_int_equal(e.size, size);
	assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), want);
	assert_string_equal(hex(info.prefix_hash, info.prefix_hash_len, h), pwant);
	vigil_entry_clear(&e);

	/* A file that is all hole after a little data. */
	fd = openat(f->dirfd, "tailhole", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_int_equal(write(fd, "data", 4), 4);
	assert_int_equal(ftruncate(fd, 3 * MiB), 0);
	close(fd);
	{
		uint8_t *buf = calloc(1, 3 * MiB);

		assert_non_null(buf);
		memcpy(buf, "data", 4);
		digest_hex(VIGIL_HASH_BLAKE2B, buf, 3 * MiB, want);
		free(buf);
	}
	assert_int_equal(rd(f, "tailhole", VIGIL_ATTR_HASH, VIGIL_HASH_BLAKE2B, -1, &e, NULL), 0);
	assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), want);
	vigil_entry_clear(&e);
out:
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(pctx);
	free(zero);
}

/* ---- attributes of each kind of entry ---- */

static void test_regular_file(void **state)
{
	struct fx *f = *state;
	const struct timespec times[2] = {{1600000000, 0}, {1614834367, 123456789}};
	vigil_entry e;
	vigil_entry_read_info info;
	struct stat st;
	char want[64];
	const char *path = P(f, "file");

	put(f, "file", "abc", 3);
	assert_int_equal(fchmodat(f->dirfd, "file", 0640, 0), 0);
	if (geteuid() == 0)
		assert_int_equal(fchownat(f->dirfd, "file", 1234, 5678, 0), 0);
	assert_int_equal(utimensat(f->dirfd, "file", times, 0), 0);
	assert_int_equal(linkat(f->dirfd, "file", f->dirfd, "hardlink", 0), 0);
	st = lst(f, "file");

	assert_int_equal(rd(f, "file", VIGIL_ATTR_DEFAULT, VIGIL_HASH_SHA256, -1, &e, &info), 0);
	assert_int_equal(info.err, 0);
	assert_null(info.what);
	assert_int_equal(e.path_len, strlen(path));
	assert_memory_equal(e.path, path, e.path_len);
	assert_int_equal(e.attrs, VIGIL_ATTR_DEFAULT);
	assert_string_equal(fmt(&e, VIGIL_ATTR_TYPE), "file");
	assert_string_equal(fmt(&e, VIGIL_ATTR_MODE), "0640");
	snprintf(want, sizeof(want), "%u", (unsigned)st.st_uid);
	assert_string_equal(fmt(&e, VIGIL_ATTR_UID), want);
	snprintf(want, sizeof(want), "%u", (unsigned)st.st_gid);
	assert_string_equal(fmt(&e, VIGIL_ATTR_GID), want);
	if (geteuid() == 0) {
		assert_string_equal(fmt(&e, VIGIL_ATTR_UID), "1234");
		assert_string_equal(fmt(&e, VIGIL_ATTR_GID), "5678");
	}
	assert_string_equal(fmt(&e, VIGIL_ATTR_SIZE), "3");
	assert_string_equal(fmt(&e, VIGIL_ATTR_MTIME), "2021-03-04T05:06:07.123456789Z");
	assert_int_equal(e.ctime_ns, (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec);
	snprintf(want, sizeof(want), "%llu", (unsigned long long)st.st_ino);
	assert_string_equal(fmt(&e, VIGIL_ATTR_INODE), want);
	assert_string_equal(fmt(&e, VIGIL_ATTR_NLINK), "2");
	assert_string_equal(fmt(&e, VIGIL_ATTR_TARGET), "");
	assert_string_equal(fmt(&e, VIGIL_ATTR_DEV), "0:0");
	assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), vectors[1].hex);
	assert_string_equal(fmt(&e, VIGIL_ATTR_ACL), "-");
	assert_string_equal(fmt(&e, VIGIL_ATTR_CAPS), "-");
	assert_string_equal(fmt(&e, VIGIL_ATTR_SELINUX), "-");
	assert_string_equal(fmt(&e, VIGIL_ATTR_XATTRS), "-");
	assert_null(strchr(fmt(&e, VIGIL_ATTR_FLAGS), 'i'));
	vigil_entry_clear(&e);

	/* Only what was asked is recorded. */
	assert_int_equal(rd(f, "file", VIGIL_ATTR_MODE | VIGIL_ATTR_SIZE, 0, -1, &e, NULL), 0);
	assert_int_equal(e.attrs, VIGIL_ATTR_MODE | VIGIL_ATTR_SIZE);
	assert_int_equal(e.mode, 0640);
	assert_int_equal(e.size, 3);
	assert_int_equal(e.type, 0);
	assert_int_equal(e.uid, 0);
	assert_int_equal(e.mtime_ns, 0);
	assert_int_equal(e.inode, 0);
	assert_int_equal(e.hash_len, 0);
	vigil_entry_clear(&e);
}

static void test_special_modes(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name;
		bool dir;
		mode_t mode;
		const char *want;
	} t[] = {
	    {"suid", false, 04755, "4755"}, {"sgid", false, 02711, "2711"},
	    {"none", false, 0, "0000"},     {"all", false, 07777, "7777"},
	    {"tmp", true, 01777, "1777"},   {"sgdir", true, 02750, "2750"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		vigil_entry e;

		if (t[i].dir)
			assert_int_equal(mkdirat(f->dirfd, t[i].name, 0700), 0);
		else
			put(f, t[i].name, "x", 1);
		assert_int_equal(fchmodat(f->dirfd, t[i].name, t[i].mode, 0), 0);
		assert_int_equal(rd(f, t[i].name, VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL),
				 geteuid() == 0 || t[i].mode & 0400 ? 0 : VIGIL_E_SYSTEM);
		assert_string_equal(fmt(&e, VIGIL_ATTR_MODE), t[i].want);
		assert_string_equal(fmt(&e, VIGIL_ATTR_TYPE), t[i].dir ? "dir" : "file");
		vigil_entry_clear(&e);
	}
}

static void test_directory(void **state)
{
	struct fx *f = *state;
	vigil_entry e;
	struct stat st;

	assert_int_equal(mkdirat(f->dirfd, "d", 0750), 0);
	assert_int_equal(mkdirat(f->dirfd, "d/sub", 0700), 0);
	st = lst(f, "d");
	assert_int_equal(rd(f, "d", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	assert_string_equal(fmt(&e, VIGIL_ATTR_TYPE), "dir");
	assert_string_equal(fmt(&e, VIGIL_ATTR_MODE), "0750");
	assert_string_equal(fmt(&e, VIGIL_ATTR_NLINK), "3");
	assert_int_equal(e.size, st.st_size);
	assert_int_equal(e.hash_len, 0);
	assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), "-");
	assert_null(e.target);
	vigil_entry_clear(&e);
}

static void test_symlink(void **state)
{
	struct fx *f = *state;
	const char *target = "../somewhere/\xff\xfe not utf-8";
	vigil_entry e;

	assert_int_equal(symlinkat(target, f->dirfd, "link"), 0);
	assert_int_equal(rd(f, "link", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	assert_string_equal(fmt(&e, VIGIL_ATTR_TYPE), "symlink");
	assert_int_equal(e.target_len, strlen(target));
	assert_memory_equal(e.target, target, e.target_len);
	assert_string_equal(fmt(&e, VIGIL_ATTR_TARGET), target);
	assert_int_equal(e.size, (int64_t)strlen(target));
	assert_int_equal(e.hash_len, 0);
	vigil_entry_clear(&e);

	/* Xattrs of the link itself, never of what it points to. */
	put(f, "pointee", "x", 1);
	assert_int_equal(symlinkat("pointee", f->dirfd, "link2"), 0);
	if (geteuid() != 0) {
		print_message("SKIP: trusted.* xattrs on a symlink need root\n");
		return;
	}
	if (lsetxattr(P(f, "link2"), "trusted.vigil", "L", 1, 0) != 0) {
		print_message("SKIP: lsetxattr trusted.vigil: %s\n", strerror(errno));
		return;
	}
	if (setxattr(P(f, "pointee"), "trusted.vigil", "P", 1, 0) != 0) {
		print_message("SKIP: setxattr trusted.vigil: %s\n", strerror(errno));
		return;
	}
	assert_int_equal(rd(f, "link2", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	assert_string_equal(fmt(&e, VIGIL_ATTR_XATTRS), "trusted.vigil=4c");
	assert_string_equal(fmt(&e, VIGIL_ATTR_TARGET), "pointee");
	vigil_entry_clear(&e);
}

/* One inotify event naming `name` with one of `mask`, among all pending. */
static bool saw_event(int ifd, const char *name, uint32_t mask)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool seen = false;
	ssize_t n;

	while ((n = read(ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->len > 0 && strcmp(ev->name, name) == 0 && (ev->mask & mask))
				seen = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return seen;
}

/* FIFOs, sockets and device nodes are never opened (an open can block or reach a driver). */
static void test_special_files_never_opened(void **state)
{
	struct fx *f = *state;
	const bool root = geteuid() == 0;
	struct {
		const char *name;
		const char *type;
		const char *dev;
	} t[] = {
	    {"fifo", "fifo", "0:0"},
	    {"sock", "socket", "0:0"},
	    {"null", "char", "1:3"},
	    {"blk", "block", "7:123"},
	};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int ifd, s;
	size_t n = root ? 4 : 2;

	assert_int_equal(mkfifoat(f->dirfd, "fifo", 0644), 0);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", P(f, "sock"));
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (root) {
		assert_int_equal(mknodat(f->dirfd, "null", S_IFCHR | 0666, makedev(1, 3)), 0);
		assert_int_equal(mknodat(f->dirfd, "blk", S_IFBLK | 0600, makedev(7, 123)), 0);
	} else {
		print_message("SKIP: device nodes need root (mknod)\n");
	}
	put(f, "plain", "x", 1);
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(ifd >= 0);
	assert_true(inotify_add_watch(ifd, f->root, IN_OPEN | IN_ACCESS) >= 0);

	for (size_t i = 0; i < n; i++) {
		vigil_entry e;

		/* Every attribute but boot_sector, the only one that opens a block device. */
		assert_int_equal(rd(f, t[i].name, VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
		assert_string_equal(fmt(&e, VIGIL_ATTR_TYPE), t[i].type);
		assert_string_equal(fmt(&e, VIGIL_ATTR_DEV), t[i].dev);
		assert_int_equal(e.hash_len, 0);
		assert_int_equal(e.flags, 0);
		vigil_entry_clear(&e);
		assert_false(saw_event(ifd, t[i].name, IN_OPEN | IN_ACCESS));
	}
	/* The watch works: the regular file is opened, and so is the FIFO when we do it. */
	{
		vigil_entry e;
		int fd;

		assert_int_equal(rd(f, "plain", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
		vigil_entry_clear(&e);
		assert_true(saw_event(ifd, "plain", IN_OPEN));
		fd = openat(f->dirfd, "fifo", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		assert_true(fd >= 0);
		close(fd);
		assert_true(saw_event(ifd, "fifo", IN_OPEN));
	}
	close(ifd);
	close(s);
}

/* boot_sector: the first MiB of a block device, the only device ever opened. */
static void test_boot_sector(void **state)
{
	struct fx *f = *state;
	struct stat root_st;
	vigil_entry e, e2;
	vigil_entry_read_info info;
	uint8_t *buf;
	char want[2 * VIGIL_DIGEST_MAX + 1];
	size_t got = 0;
	int r, fd;

	if (geteuid() != 0) {
		print_message("SKIP: device nodes need root (mknod)\n");
		return;
	}
	/* A major reserved for local use (devices.txt: 60-63): no driver, the open fails and
	 * only boot_sector is lost. */
	assert_int_equal(mknodat(f->dirfd, "nodrv", S_IFBLK | 0600, makedev(60, 0)), 0);
	r = rd(f, "nodrv", VIGIL_ATTR_DEFAULT | VIGIL_ATTR_BOOT_SECTOR, 0, -1, &e, &info);
	assert_int_equal(r, VIGIL_E_SYSTEM);
	assert_int_equal(errno, ENXIO);
	assert_int_equal(info.err, ENXIO);
	assert_string_equal(info.what, "open");
	assert_int_equal(e.attrs, VIGIL_ATTR_DEFAULT);
	assert_string_equal(fmt(&e, VIGIL_ATTR_TYPE), "block");
	assert_string_equal(fmt(&e, VIGIL_ATTR_DEV), "60:0");
	vigil_entry_clear(&e);

	/* The device under the test directory, through a node of our own. */
	assert_int_equal(fstat(f->dirfd, &root_st), 0);
	if (major(root_st.st_dev) == 0) {
		print_message("SKIP: %s is not on a block device\n", f->root);
		return;
	}
	assert_int_equal(mknodat(f->dirfd, "disk", S_IFBLK | 0400, root_st.st_dev), 0);
	r = rd(f, "disk", VIGIL_ATTR_TYPE | VIGIL_ATTR_BOOT_SECTOR, VIGIL_HASH_SHA256, -1, &e,
	       &info);
	if (r == VIGIL_E_SYSTEM) {
		print_message("SKIP: block device %u:%u: %s\n", major(root_st.st_dev),
			      minor(root_st.st_dev), strerror(info.err));
		vigil_entry_clear(&e);
		return;
	}
	assert_int_equal(r, 0);
	assert_int_equal(e.hash_len, 32);
	buf = malloc(MiB);
	assert_non_null(buf);
	fd = openat(f->dirfd, "disk", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	while (got < MiB) {
		ssize_t k = pread(fd, buf + got, MiB - got, (off_t)got);

		assert_true(k > 0);
		got += (size_t)k;
	}
	close(fd);
	digest_hex(VIGIL_HASH_SHA256, buf, MiB, want);
	assert_string_equal(fmt(&e, VIGIL_ATTR_BOOT_SECTOR), want);
	free(buf);
	/* Compared under boot_sector, not hash. */
	assert_int_equal(rd(f, "disk", VIGIL_ATTR_TYPE | VIGIL_ATTR_BOOT_SECTOR, 0, -1, &e2, NULL),
			 0);
	assert_int_equal(vigil_entry_diff(&e, &e2, VIGIL_ATTR_ALL), 0);
	e2.hash[0] ^= 1;
	e.attrs |= VIGIL_ATTR_HASH;
	e2.attrs |= VIGIL_ATTR_HASH;
	assert_int_equal(vigil_entry_diff(&e, &e2, VIGIL_ATTR_ALL), VIGIL_ATTR_BOOT_SECTOR);
	vigil_entry_clear(&e);
	vigil_entry_clear(&e2);
}

/* ---- extended attributes ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static size_t xattr_rec(uint8_t *p, const char *name, const void *val, size_t vl)
{
	size_t nl = strlen(name);

	put_u32(p, (uint32_t)nl);
	memcpy(p + 4, name, nl);
	put_u32(p + 4 + nl, (uint32_t)vl);
	memcpy(p + 8 + nl, val, vl);
	return 8 + nl + vl;
}

static void test_user_xattrs(void **state)
{
	struct fx *f = *state;
	char forty[40], sha[65], want[256];
	uint8_t blob[256];
	size_t bl = 0;
	vigil_entry e;

	memset(forty, 'A', sizeof(forty));
	put(f, "x", "content", 7);
	if (setxattr(P(f, "x"), "user.b", "2", 1, 0) != 0) {
		print_message("SKIP: user xattrs on %s: %s\n", f->root, strerror(errno));
		return;
	}
	assert_int_equal(setxattr(P(f, "x"), "user.a", forty, sizeof(forty), 0), 0);
	assert_int_equal(setxattr(P(f, "x"), "user.c", "", 0, 0), 0);
	assert_int_equal(setxattr(P(f, "x"), "user.\xc3\xa9", "\x00\xff", 2, 0), 0);

	assert_int_equal(rd(f, "x", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	/* Sorted bytewise, whatever order the file system lists them in. */
	bl += xattr_rec(blob + bl, "user.a", forty, sizeof(forty));
	bl += xattr_rec(blob + bl, "user.b", "2", 1);
	bl += xattr_rec(blob + bl, "user.c", "", 0);
	bl += xattr_rec(blob + bl, "user.\xc3\xa9", "\x00\xff", 2);
	assert_int_equal(e.xattrs_len, bl);
	assert_memory_equal(e.xattrs, blob, bl);
	digest_hex(VIGIL_HASH_SHA256, forty, sizeof(forty), sha);
	snprintf(want, sizeof(want), "user.a=sha256:%s,user.b=32,user.c=,user.\xc3\xa9=00ff", sha);
	assert_string_equal(fmt(&e, VIGIL_ATTR_XATTRS), want);
	assert_null(e.acl);
	assert_null(e.caps);
	assert_null(e.selinux);
	vigil_entry_clear(&e);

	/* A value of exactly 32 bytes is still shown whole. */
	assert_int_equal(setxattr(P(f, "x"), "user.a", forty, 32, 0), 0);
	assert_int_equal(rd(f, "x", VIGIL_ATTR_XATTRS, 0, -1, &e, NULL), 0);
	assert_non_null(
	    strstr(fmt(&e, VIGIL_ATTR_XATTRS),
		   "user.a=4141414141414141414141414141414141414141414141414141414141414141,"));
	vigil_entry_clear(&e);

	/* Not asked for: not read. */
	assert_int_equal(rd(f, "x", VIGIL_ATTR_DEFAULT & ~VIGIL_ATTR_XATTRS, 0, -1, &e, NULL), 0);
	assert_null(e.xattrs);
	assert_int_equal(e.xattrs_len, 0);
	vigil_entry_clear(&e);

	/* A list and a value longer than the first, small buffer asked for: read whole. */
	{
		static char big[2000];
		char name[64];
		const char *x;
		size_t nlist = 0;

		put(f, "many", "c", 1);
		memset(big, 'B', sizeof(big));
		for (int i = 0; i < 12; i++) {
			snprintf(name, sizeof(name), "user.a-rather-long-name-number-%02d", i);
			nlist += strlen(name) + 1;
			assert_int_equal(setxattr(P(f, "many"), name, i == 5 ? big : "v",
						  i == 5 ? sizeof(big) : 1, 0),
					 0);
		}
		assert_true(nlist > 256);
		assert_int_equal(rd(f, "many", VIGIL_ATTR_XATTRS, 0, -1, &e, NULL), 0);
		assert_int_equal(e.xattrs_len, 12 * (4 + 33 + 4) + 11 * 1 + sizeof(big));
		assert_non_null(memmem(e.xattrs, e.xattrs_len, big, sizeof(big)));
		x = fmt(&e, VIGIL_ATTR_XATTRS);
		assert_non_null(strstr(x, "user.a-rather-long-name-number-00=76,"));
		assert_non_null(strstr(x, "user.a-rather-long-name-number-05=sha256:"));
		assert_non_null(strstr(x, "user.a-rather-long-name-number-11=76"));
		vigil_entry_clear(&e);
	}

	/* A directory's, through its fd. */
	assert_int_equal(mkdirat(f->dirfd, "xd", 0755), 0);
	assert_int_equal(setxattr(P(f, "xd"), "user.dir", "1", 1, 0), 0);
	assert_int_equal(rd(f, "xd", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	assert_string_equal(fmt(&e, VIGIL_ATTR_XATTRS), "user.dir=31");
	vigil_entry_clear(&e);
}

/* POSIX ACL xattr values as the kernel stores them (posix_acl_xattr.h). */
struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

static size_t acl_value(uint8_t *p, const struct acl_ent *ents, size_t n)
{
	put_u32(p, 2);
	for (size_t i = 0; i < n; i++) {
		uint8_t *q = p + 4 + 8 * i;

		q[0] = (uint8_t)ents[i].tag;
		q[1] = (uint8_t)(ents[i].tag >> 8);
		q[2] = (uint8_t)ents[i].perm;
		q[3] = (uint8_t)(ents[i].perm >> 8);
		put_u32(q + 4, ents[i].id);
	}
	return 4 + 8 * n;
}

#define UNDEF 0xffffffffu

static void test_acl(void **state)
{
	struct fx *f = *state;
	const struct acl_ent access[] = {
	    {1, 6, UNDEF}, {2, 4, 1000},     {4, 4, UNDEF},
	    {8, 5, 2000},  {0x10, 5, UNDEF}, {0x20, 0, UNDEF},
	};
	const struct acl_ent dflt[] = {
	    {1, 7, UNDEF}, {2, 7, 1000}, {4, 5, UNDEF}, {0x10, 7, UNDEF}, {0x20, 0, UNDEF},
	};
	uint8_t val[128], blob[160];
	size_t vl, dl;
	vigil_entry e;

	put(f, "acl", "x", 1);
	vl = acl_value(val, access, 6);
	if (setxattr(P(f, "acl"), "system.posix_acl_access", val, vl, 0) != 0) {
		print_message("SKIP: POSIX ACLs on %s: %s\n", f->root, strerror(errno));
		return;
	}
	assert_int_equal(rd(f, "acl", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	assert_string_equal(
	    fmt(&e, VIGIL_ATTR_ACL),
	    "user::rw-,user:1000:r--,group::r--,group:2000:r-x,mask::r-x,other::---");
	/* Canonical blob: "a", length, value. */
	blob[0] = 'a';
	put_u32(blob + 1, (uint32_t)vl);
	memcpy(blob + 5, val, vl);
	assert_int_equal(e.acl_len, 5 + vl);
	assert_memory_equal(e.acl, blob, 5 + vl);
	assert_null(e.xattrs); /* ACLs are not "other" xattrs */
	vigil_entry_clear(&e);

	/* A directory with a default ACL only (a minimal access ACL is just the mode). */
	assert_int_equal(mkdirat(f->dirfd, "acld", 0755), 0);
	dl = acl_value(val, dflt, 5);
	assert_int_equal(setxattr(P(f, "acld"), "system.posix_acl_default", val, dl, 0), 0);
	assert_int_equal(rd(f, "acld", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	assert_string_equal(fmt(&e, VIGIL_ATTR_ACL),
			    "default:user::rwx,default:user:1000:rwx,default:group::r-x,"
			    "default:mask::rwx,default:other::---");
	assert_int_equal(e.acl[0], 'd');
	vigil_entry_clear(&e);

	/* Both parts, access first. */
	vl = acl_value(val, access, 6);
	assert_int_equal(setxattr(P(f, "acld"), "system.posix_acl_access", val, vl, 0), 0);
	assert_int_equal(rd(f, "acld", VIGIL_ATTR_ACL, 0, -1, &e, NULL), 0);
	assert_string_equal(
	    fmt(&e, VIGIL_ATTR_ACL),
	    "user::rw-,user:1000:r--,group::r--,group:2000:r-x,mask::r-x,other::---,"
	    "default:user::rwx,default:user:1000:rwx,default:group::r-x,"
	    "default:mask::rwx,default:other::---");
	assert_int_equal(e.acl[0], 'a');
	assert_int_equal(e.acl[5 + vl], 'd');
	assert_int_equal(e.acl_len, 5 + vl + 5 + dl);
	vigil_entry_clear(&e);
}

static void test_caps_and_selinux(void **state)
{
	struct fx *f = *state;
	/* VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, permitted = CAP_NET_RAW (13). */
	uint8_t caps[20] = {0};
	const char label[] = "system_u:object_r:etc_t:s0";
	vigil_entry e;

	if (geteuid() != 0) {
		print_message("SKIP: security.* xattrs need root\n");
		return;
	}
	put_u32(caps, 0x02000001);
	put_u32(caps + 4, 1u << 13);
	put(f, "cap", "x", 1);
	if (setxattr(P(f, "cap"), "security.capability", caps, sizeof(caps), 0) != 0) {
		print_message("SKIP: security.capability on %s: %s\n", f->root, strerror(errno));
	} else {
		assert_int_equal(rd(f, "cap", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
		assert_int_equal(e.caps_len, sizeof(caps));
		assert_memory_equal(e.caps, caps, sizeof(caps));
		assert_string_equal(fmt(&e, VIGIL_ATTR_CAPS),
				    "0100000200200000000000000000000000000000");
		assert_null(e.xattrs);
		vigil_entry_clear(&e);
	}

	put(f, "lbl", "x", 1);
	/* SELinux stores the label with its NUL. */
	if (setxattr(P(f, "lbl"), "security.selinux", label, sizeof(label), 0) != 0) {
		print_message("SKIP: security.selinux on %s: %s\n", f->root, strerror(errno));
		return;
	}
	assert_int_equal(rd(f, "lbl", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	assert_int_equal(e.selinux_len, strlen(label));
	assert_memory_equal(e.selinux, label, strlen(label));
	assert_string_equal(fmt(&e, VIGIL_ATTR_SELINUX), label);
	assert_null(e.xattrs);
	vigil_entry_clear(&e);
}

/* ---- inode flags ---- */

static void test_inode_flags(void **state)
{
	struct fx *f = *state;
	static const struct {
		int add;
		const char *want;
	} t[] = {
	    {FS_IMMUTABLE_FL, "i"},
	    {FS_APPEND_FL, "a"},
	    {FS_IMMUTABLE_FL | FS_APPEND_FL, "ia"},
	    {FS_NODUMP_FL | FS_NOATIME_FL, "dA"},
	};
	vigil_entry e;
	int base = 0, fl;

	put(f, "fl", "x", 1);
	if (get_iflags(f, "fl", &base) != 0) {
		print_message("SKIP: inode flags on %s: %s\n", f->root, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (set_iflags(f, "fl", base | t[i].add) != 0) {
			print_message("SKIP: chattr %s on %s: %s\n", t[i].want, f->root,
				      strerror(errno));
			continue;
		}
		assert_int_equal(rd(f, "fl", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
		assert_int_equal(e.flags & t[i].add, (uint32_t)t[i].add);
		/* ext4's own flags (extents) are not user-visible: only the ones set. */
		assert_string_equal(fmt(&e, VIGIL_ATTR_FLAGS), t[i].want);
		/* An immutable file is still read and hashed. */
		assert_string_equal(fmt(&e, VIGIL_ATTR_HASH), "2d711642b726b04401627ca9fbac32f5"
							      "c8530fb1903cc4db02258717921a4881");
		vigil_entry_clear(&e);
		assert_int_equal(set_iflags(f, "fl", base), 0);
	}
	assert_int_equal(rd(f, "fl", VIGIL_ATTR_FLAGS, 0, -1, &e, NULL), 0);
	assert_string_equal(fmt(&e, VIGIL_ATTR_FLAGS), "-");
	vigil_entry_clear(&e);

	/* A directory's, through an O_DIRECTORY fd. */
	assert_int_equal(mkdirat(f->dirfd, "fld", 0755), 0);
	assert_int_equal(get_iflags(f, "fld", &fl), 0);
	if (set_iflags(f, "fld", fl | FS_APPEND_FL) != 0) {
		print_message("SKIP: chattr +a on a directory: %s\n", strerror(errno));
		return;
	}
	assert_int_equal(rd(f, "fld", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	assert_string_equal(fmt(&e, VIGIL_ATTR_FLAGS), "a");
	vigil_entry_clear(&e);
	assert_int_equal(set_iflags(f, "fld", fl), 0);
}

static void test_format_flags(void **state)
{
	static const struct {
		uint32_t flags;
		const char *want;
	} t[] = {
	    {0, "-"},
	    {FS_SECRM_FL, "s"},
	    {FS_UNRM_FL, "u"},
	    {FS_SYNC_FL, "S"},
	    {FS_DIRSYNC_FL, "D"},
	    {FS_IMMUTABLE_FL, "i"},
	    {FS_APPEND_FL, "a"},
	    {FS_NODUMP_FL, "d"},
	    {FS_NOATIME_FL, "A"},
	    {FS_COMPR_FL, "c"},
	    {FS_ENCRYPT_FL, "E"},
	    {FS_JOURNAL_DATA_FL, "j"},
	    {FS_INDEX_FL, "I"},
	    {FS_NOTAIL_FL, "t"},
	    {FS_TOPDIR_FL, "T"},
	    {FS_EXTENT_FL, "e"},
	    {FS_NOCOW_FL, "C"},
	    {FS_DAX_FL, "x"},
	    {FS_CASEFOLD_FL, "F"},
	    {FS_INLINE_DATA_FL, "N"},
	    {FS_PROJINHERIT_FL, "P"},
	    {FS_VERITY_FL, "V"},
	    {FS_APPEND_FL | FS_IMMUTABLE_FL, "ia"},
	    {FS_APPEND_FL | FS_SECRM_FL | FS_EXTENT_FL, "sae"},
	    {0xffffffffu, "suSDiadAcEjItTeCxFNPV"},
	    {FS_HUGE_FILE_FL, "-"}, /* no letter */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		vigil_entry e = {.flags = t[i].flags};

		assert_string_equal(fmt(&e, VIGIL_ATTR_FLAGS), t[i].want);
	}
}

/* ---- formatting ---- */

static void test_format_values(void **state)
{
	static const struct {
		vigil_entry e;
		uint32_t attr;
		const char *want;
	} t[] = {
	    {{.type = S_IFREG}, VIGIL_ATTR_TYPE, "file"},
	    {{.type = S_IFDIR}, VIGIL_ATTR_TYPE, "dir"},
	    {{.type = S_IFLNK}, VIGIL_ATTR_TYPE, "symlink"},
	    {{.type = S_IFBLK}, VIGIL_ATTR_TYPE, "block"},
	    {{.type = S_IFCHR}, VIGIL_ATTR_TYPE, "char"},
	    {{.type = S_IFIFO}, VIGIL_ATTR_TYPE, "fifo"},
	    {{.type = S_IFSOCK}, VIGIL_ATTR_TYPE, "socket"},
	    {{.type = 0}, VIGIL_ATTR_TYPE, "unknown"},
	    {{.mode = 0}, VIGIL_ATTR_MODE, "0000"},
	    {{.mode = 0755}, VIGIL_ATTR_MODE, "0755"},
	    {{.mode = 07777}, VIGIL_ATTR_MODE, "7777"},
	    {{.uid = 4294967295u}, VIGIL_ATTR_UID, "4294967295"},
	    {{.gid = 0}, VIGIL_ATTR_GID, "0"},
	    {{.size = 9223372036854775807}, VIGIL_ATTR_SIZE, "9223372036854775807"},
	    {{.inode = 18446744073709551615u}, VIGIL_ATTR_INODE, "18446744073709551615"},
	    {{.nlink = 65000}, VIGIL_ATTR_NLINK, "65000"},
	    {{.mtime_ns = 0}, VIGIL_ATTR_MTIME, "1970-01-01T00:00:00.000000000Z"},
	    {{.mtime_ns = -1}, VIGIL_ATTR_MTIME, "1969-12-31T23:59:59.999999999Z"},
	    {{.ctime_ns = 1614834367123456789}, VIGIL_ATTR_CTIME, "2021-03-04T05:06:07.123456789Z"},
	    {{.ctime_ns = 951782400000000001}, VIGIL_ATTR_CTIME, "2000-02-29T00:00:00.000000001Z"},
	    {{.rdev = 0}, VIGIL_ATTR_DEV, "0:0"},
	    {{.rdev = 0x801}, VIGIL_ATTR_DEV, "8:1"},
	    {{.target = (char *)"/a b", .target_len = 4}, VIGIL_ATTR_TARGET, "/a b"},
	    {{.target = (char *)"abc", .target_len = 2}, VIGIL_ATTR_TARGET, "ab"},
	    {{.hash_len = 0}, VIGIL_ATTR_HASH, "-"},
	    {{.hash = {0x00, 0xab, 0xff}, .hash_len = 3}, VIGIL_ATTR_HASH, "00abff"},
	    {{.hash = {0x12}, .hash_len = 1}, VIGIL_ATTR_BOOT_SECTOR, "12"},
	    {{.caps = (uint8_t *)"\x01\x02", .caps_len = 2}, VIGIL_ATTR_CAPS, "0102"},
	    {{.selinux = (uint8_t *)"u:r:t:s0", .selinux_len = 8}, VIGIL_ATTR_SELINUX, "u:r:t:s0"},
	    {{.acl = NULL}, VIGIL_ATTR_ACL, "-"},
	    {{.xattrs = NULL}, VIGIL_ATTR_XATTRS, "-"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(fmt(&t[i].e, t[i].attr), t[i].want);
}

/* The numbers are formatted by hand: each must read exactly as printf would write it. */
static void test_format_numbers_like_printf(void **state)
{
	static const uint64_t edge[] = {0,
					1,
					7,
					8,
					9,
					10,
					99,
					100,
					07777,
					4294967295u,
					4294967296u,
					999999999,
					1000000000,
					9223372036854775807u,
					9223372036854775808u,
					18446744073709551615u};
	uint64_t x = 0x9e3779b97f4a7c15u;

	(void)state;
	for (size_t i = 0; i < 4000; i++) {
		uint64_t v;
		vigil_entry e = {0};
		char want[128];
		struct tm tm;
		time_t t;
		int64_t sec, frac;

		if (i < sizeof(edge) / sizeof(edge[0])) {
			v = edge[i];
		} else {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
			v = x >> (i % 64);                       /* all magnitudes */
		}
		e.mode = (uint32_t)v & 07777;
		e.uid = (uint32_t)v;
		e.size = (int64_t)v;
		e.inode = e.nlink = v;
		e.rdev = v;
		e.mtime_ns = (int64_t)v;
		snprintf(want, sizeof(want), "%04" PRIo32, e.mode);
		assert_string_equal(fmt(&e, VIGIL_ATTR_MODE), want);
		snprintf(want, sizeof(want), "%" PRIu32, e.uid);
		assert_string_equal(fmt(&e, VIGIL_ATTR_UID), want);
		snprintf(want, sizeof(want), "%" PRId64, e.size);
		assert_string_equal(fmt(&e, VIGIL_ATTR_SIZE), want);
		snprintf(want, sizeof(want), "%" PRIu64, e.inode);
		assert_string_equal(fmt(&e, VIGIL_ATTR_INODE), want);
		assert_string_equal(fmt(&e, VIGIL_ATTR_NLINK), want);
		snprintf(want, sizeof(want), "%u:%u", major((dev_t)e.rdev), minor((dev_t)e.rdev));
		assert_string_equal(fmt(&e, VIGIL_ATTR_DEV), want);
		sec = e.mtime_ns / 1000000000;
		frac = e.mtime_ns % 1000000000;
		if (frac < 0) {
			frac += 1000000000;
			sec--;
		}
		t = (time_t)sec;
		assert_non_null(gmtime_r(&t, &tm));
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, frac);
		assert_string_equal(fmt(&e, VIGIL_ATTR_MTIME), want);
	}
}

static void test_format_truncation(void **state)
{
	vigil_entry e = {.mtime_ns = 1614834367123456789, .mode = 0755};
	const char *full = "2021-03-04T05:06:07.123456789Z";
	char buf[8];

	(void)state;
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(vigil_entry_format(&e, VIGIL_ATTR_MTIME, buf, 5), strlen(full));
	assert_string_equal(buf, "2021");
	assert_int_equal(buf[5], 'X'); /* nothing past cap */
	assert_int_equal(vigil_entry_format(&e, VIGIL_ATTR_MTIME, buf, 1), strlen(full));
	assert_string_equal(buf, "");
	assert_int_equal(vigil_entry_format(&e, VIGIL_ATTR_MTIME, NULL, 0), strlen(full));
	assert_int_equal(vigil_entry_format(&e, VIGIL_ATTR_MODE, buf, 5), 4);
	assert_string_equal(buf, "0755");
	/* Not exactly one attribute: nothing. */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(vigil_entry_format(&e, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(vigil_entry_format(&e, VIGIL_ATTR_MODE | VIGIL_ATTR_UID, buf, sizeof(buf)),
			 0);
	assert_int_equal(vigil_entry_format(&e, 1u << 20, buf, sizeof(buf)), 0);
}

/* Well-formed parts of one entry each: user::rw- and default:other::r--. */
#define ONE_A "a\x0c\0\0\0\x02\0\0\0\x01\0\x06\0\xff\xff\xff\xff"
#define ONE_D "d\x0c\0\0\0\x02\0\0\0\x20\0\x04\0\0\0\0\0"

static void test_format_acl_hostile(void **state)
{
	/* Blobs as stored: parts [tag][u32 LE length][value]; values v2 {tag, perm, id}. */
	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
		const char *want; /* NULL: "invalid:" and the hex */
	} t[] = {
	    {"one entry", "a\x0c\0\0\0\x02\0\0\0\x01\0\x06\0\xff\xff\xff\xff", 17, "user::rw-"},
	    {"default only", "d\x0c\0\0\0\x02\0\0\0\x20\0\x04\0\0\0\0\0", 17, "default:other::r--"},
	    {"both",
	     "a\x0c\0\0\0\x02\0\0\0\x01\0\x06\0\xff\xff\xff\xff"
	     "d\x0c\0\0\0\x02\0\0\0\x02\0\x07\0\xe8\x03\0\0",
	     34, "user::rw-,default:user:1000:rwx"},
	    {"both, one each", ONE_A ONE_D, 34, "user::rw-,default:other::r--"},
	    {"no entries", "a\x04\0\0\0\x02\0\0\0", 9, NULL},
	    {"version 1", "a\x0c\0\0\0\x01\0\0\0\x01\0\x06\0\xff\xff\xff\xff", 17, NULL},
	    {"version 3", "a\x0c\0\0\0\x03\0\0\0\x01\0\x06\0\xff\xff\xff\xff", 17, NULL},
	    {"half entry", "a\x08\0\0\0\x02\0\0\0\x01\0\x06\0", 13, NULL},
	    {"short header", "a\x02\0\0\0\x02\0", 7, NULL},
	    {"length past end", "a\x0d\0\0\0\x02\0\0\0\x01\0\x06\0\xff\xff\xff\xff", 17, NULL},
	    {"length huge", "a\xff\xff\xff\xff\x02\0\0\0", 9, NULL},
	    {"bytes after part", ONE_A "z", 18, NULL},
	    {"truncated part header", ONE_A "d\x0c\0", 20, NULL},
	    {"unknown tag", "a\x0c\0\0\0\x02\0\0\0\x40\0\x06\0\xff\xff\xff\xff", 17, NULL},
	    {"tag zero", "a\x0c\0\0\0\x02\0\0\0\0\0\x06\0\xff\xff\xff\xff", 17, NULL},
	    {"perm 8", "a\x0c\0\0\0\x02\0\0\0\x01\0\x08\0\xff\xff\xff\xff", 17, NULL},
	    {"perm high byte", "a\x0c\0\0\0\x02\0\0\0\x01\0\x06\x01\xff\xff\xff\xff", 17, NULL},
	    {"default before access", ONE_D ONE_A, 34, NULL},
	    {"access twice", ONE_A ONE_A, 34, NULL},
	    {"default twice", ONE_A ONE_D ONE_D, 51, NULL},
	    {"unknown part", "x\x0c\0\0\0\x02\0\0\0\x01\0\x06\0\xff\xff\xff\xff", 17, NULL},
	    {"one byte", "a", 1, NULL},
	};
	char want[256], h[128];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		vigil_entry e = {.acl = (uint8_t *)t[i].bytes, .acl_len = t[i].len};

		if (t[i].want == NULL) {
			snprintf(want, sizeof(want), "invalid:%s",
				 hex((const uint8_t *)t[i].bytes, t[i].len, h));
		} else {
			snprintf(want, sizeof(want), "%s", t[i].want);
		}
		print_message("acl blob: %s\n", t[i].name);
		assert_string_equal(fmt(&e, VIGIL_ATTR_ACL), want);
	}
}

static void test_format_xattrs_hostile(void **state)
{
	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
		const char *want;
	} t[] = {
	    {"two", "\x01\0\0\0a\x01\0\0\0\x10\x01\0\0\0b\0\0\0\0", 19, "a=10,b="},
	    {"empty name", "\0\0\0\0\x01\0\0\0\x10", 9, NULL},
	    {"name past end", "\x09\0\0\0a\x01\0\0\0\x10", 10, NULL},
	    {"NUL in name", "\x02\0\0\0a\0\x01\0\0\0\x10", 11, NULL},
	    {"value past end", "\x01\0\0\0a\x02\0\0\0\x10", 10, NULL},
	    {"value length huge", "\x01\0\0\0a\xff\xff\xff\xff", 9, NULL},
	    {"no value length", "\x01\0\0\0a\x01\0", 7, NULL},
	    {"trailing bytes", "\x01\0\0\0a\x00\0\0\0\x01\0", 11, NULL},
	};
	char want[256], h[128];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		vigil_entry e = {.xattrs = (uint8_t *)t[i].bytes, .xattrs_len = t[i].len};

		if (t[i].want == NULL)
			snprintf(want, sizeof(want), "invalid:%s",
				 hex((const uint8_t *)t[i].bytes, t[i].len, h));
		else
			snprintf(want, sizeof(want), "%s", t[i].want);
		print_message("xattrs blob: %s\n", t[i].name);
		assert_string_equal(fmt(&e, VIGIL_ATTR_XATTRS), want);
	}
}

/* ---- diff, copy, clear ---- */

static uint8_t *dupb(const char *s)
{
	uint8_t *p = malloc(strlen(s) + 1);

	assert_non_null(p);
	memcpy(p, s, strlen(s) + 1);
	return p;
}

static void make_full_entry(vigil_entry *e, uint32_t type)
{
	*e = (vigil_entry){
	    .path = (char *)dupb("/etc/x"),
	    .path_len = 6,
	    .attrs = VIGIL_ATTR_ALL,
	    .hash_algo = VIGIL_HASH_SHA256,
	    .type = type,
	    .mode = 0644,
	    .uid = 1,
	    .gid = 2,
	    .size = 3,
	    .mtime_ns = 4,
	    .ctime_ns = 5,
	    .inode = 6,
	    .nlink = 7,
	    .rdev = 8,
	    .target = (char *)dupb("tgt"),
	    .target_len = 3,
	    .hash = {1, 2, 3},
	    .hash_len = 32,
	    .acl = dupb("acl"),
	    .acl_len = 3,
	    .caps = dupb("cap"),
	    .caps_len = 3,
	    .selinux = dupb("lbl"),
	    .selinux_len = 3,
	    .xattrs = dupb("xat"),
	    .xattrs_len = 3,
	    .flags = FS_IMMUTABLE_FL,
	};
}

static void mutate(vigil_entry *e, uint32_t bit)
{
	switch (bit) {
	case VIGIL_ATTR_TYPE:
		e->type = S_IFDIR;
		break;
	case VIGIL_ATTR_MODE:
		e->mode |= 04000;
		break;
	case VIGIL_ATTR_UID:
		e->uid = 0;
		break;
	case VIGIL_ATTR_GID:
		e->gid = 0;
		break;
	case VIGIL_ATTR_SIZE:
		e->size++;
		break;
	case VIGIL_ATTR_MTIME:
		e->mtime_ns++;
		break;
	case VIGIL_ATTR_CTIME:
		e->ctime_ns++;
		break;
	case VIGIL_ATTR_INODE:
		e->inode++;
		break;
	case VIGIL_ATTR_NLINK:
		e->nlink++;
		break;
	case VIGIL_ATTR_TARGET:
		e->target[2] = 'x';
		break;
	case VIGIL_ATTR_DEV:
		e->rdev++;
		break;
	case VIGIL_ATTR_HASH:
	case VIGIL_ATTR_BOOT_SECTOR:
		e->hash[31] ^= 1;
		break;
	case VIGIL_ATTR_ACL:
		e->acl[0] ^= 1;
		break;
	case VIGIL_ATTR_CAPS:
		e->caps_len = 2;
		break;
	case VIGIL_ATTR_SELINUX:
		e->selinux[2] = 'X';
		break;
	case VIGIL_ATTR_XATTRS:
		free(e->xattrs);
		e->xattrs = NULL;
		e->xattrs_len = 0;
		break;
	case VIGIL_ATTR_FLAGS:
		e->flags = 0;
		break;
	}
}

static void test_diff_each_attribute(void **state)
{
	(void)state;
	for (unsigned i = 0; i < VIGIL_ATTR_COUNT; i++) {
		const uint32_t bit = 1u << i;
		/* A block device's digest is its boot sector's. */
		const uint32_t type = bit == VIGIL_ATTR_BOOT_SECTOR ? S_IFBLK : S_IFREG;
		vigil_entry a, b;

		make_full_entry(&a, type);
		assert_int_equal(vigil_entry_copy(&b, &a), 0);
		assert_int_equal(vigil_entry_diff(&a, &b, VIGIL_ATTR_ALL), 0);
		mutate(&b, bit);
		print_message("diff: %s\n", vigil_attr_name(bit));
		assert_int_equal(vigil_entry_diff(&a, &b, VIGIL_ATTR_ALL), bit);
		assert_int_equal(vigil_entry_diff(&b, &a, VIGIL_ATTR_ALL), bit);
		/* Not compared when not asked, or not recorded on either side. */
		assert_int_equal(vigil_entry_diff(&a, &b, VIGIL_ATTR_ALL & ~bit), 0);
		b.attrs &= ~bit;
		assert_int_equal(vigil_entry_diff(&a, &b, VIGIL_ATTR_ALL), 0);
		vigil_entry_clear(&a);
		vigil_entry_clear(&b);
	}
}

static void test_diff_hash_algo(void **state)
{
	vigil_entry a, b;

	(void)state;
	make_full_entry(&a, S_IFREG);
	assert_int_equal(vigil_entry_copy(&b, &a), 0);
	b.hash_algo = VIGIL_HASH_BLAKE2B;
	assert_int_equal(vigil_entry_diff(&a, &b, VIGIL_ATTR_ALL), VIGIL_ATTR_HASH);
	/* A regular file's digest is never reported as boot_sector. */
	b.hash_algo = a.hash_algo;
	b.hash[0] ^= 1;
	assert_int_equal(vigil_entry_diff(&a, &b, VIGIL_ATTR_BOOT_SECTOR), 0);
	vigil_entry_clear(&a);
	vigil_entry_clear(&b);
}

/* Real changes on disk show up as exactly the attributes they touch. */
static void test_diff_real_changes(void **state)
{
	struct fx *f = *state;
	const uint32_t attrs = VIGIL_ATTR_DEFAULT;
	const struct timespec keep[2] = {{0, UTIME_OMIT}, {1600000000, 0}};
	vigil_entry a, b;
	char val[16];
	ssize_t n;
	int fl;

	put(f, "c", "hello", 5);
	assert_int_equal(utimensat(f->dirfd, "c", keep, 0), 0);
#define STEP(change, want)                                                                         \
	do {                                                                                       \
		assert_int_equal(rd(f, "c", attrs, 0, -1, &a, NULL), 0);                           \
		pause_for_ctime();                                                                 \
		change;                                                                            \
		assert_int_equal(rd(f, "c", attrs, 0, -1, &b, NULL), 0);                           \
		print_message("change: %s\n", #change);                                            \
		assert_int_equal(vigil_entry_diff(&a, &b, attrs), (want));                         \
		vigil_entry_clear(&a);                                                             \
		vigil_entry_clear(&b);                                                             \
	} while (0)

	STEP(assert_int_equal(fchmodat(f->dirfd, "c", 04644, 0), 0),
	     VIGIL_ATTR_MODE | VIGIL_ATTR_CTIME);
	/* Same size, mtime put back: only the content and ctime tell. */
	STEP(put(f, "c", "HELLO", 5); assert_int_equal(utimensat(f->dirfd, "c", keep, 0), 0),
				      VIGIL_ATTR_HASH | VIGIL_ATTR_CTIME);
	STEP(put(f, "c", "hello!", 6),
	     VIGIL_ATTR_SIZE | VIGIL_ATTR_HASH | VIGIL_ATTR_MTIME | VIGIL_ATTR_CTIME);
	STEP(assert_int_equal(linkat(f->dirfd, "c", f->dirfd, "c2", 0), 0),
	     VIGIL_ATTR_NLINK | VIGIL_ATTR_CTIME);
	if (geteuid() == 0) {
		STEP(assert_int_equal(fchownat(f->dirfd, "c", 4321, (gid_t)-1, 0), 0),
		     VIGIL_ATTR_UID | VIGIL_ATTR_CTIME | VIGIL_ATTR_MODE /* chown drops setuid */);
		STEP(assert_int_equal(fchownat(f->dirfd, "c", (uid_t)-1, 4321, 0), 0),
		     VIGIL_ATTR_GID | VIGIL_ATTR_CTIME);
	}
	if (setxattr(P(f, "c"), "user.t", "1", 1, 0) == 0) {
		STEP(assert_int_equal(setxattr(P(f, "c"), "user.t", "2", 1, 0), 0),
		     VIGIL_ATTR_XATTRS | VIGIL_ATTR_CTIME);
	}
	if (get_iflags(f, "c", &fl) == 0 && set_iflags(f, "c", fl | FS_NODUMP_FL) == 0) {
		STEP(assert_int_equal(set_iflags(f, "c", fl), 0),
		     VIGIL_ATTR_FLAGS | VIGIL_ATTR_CTIME);
	}
	/* Replaced by a copy under the same name: only the inode (and what goes with a
	 * new inode) tells. */
	put(f, "c.new", "hello!", 6);
	if ((n = getxattr(P(f, "c"), "user.t", val, sizeof(val))) >= 0)
		assert_int_equal(setxattr(P(f, "c.new"), "user.t", val, (size_t)n, 0), 0);
	assert_int_equal(rd(f, "c", attrs, 0, -1, &a, NULL), 0);
	assert_int_equal(fchmodat(f->dirfd, "c.new", a.mode, 0), 0);
	if (geteuid() == 0)
		assert_int_equal(fchownat(f->dirfd, "c.new", a.uid, a.gid, 0), 0);
	{
		const struct timespec same[2] = {
		    {0, UTIME_OMIT}, {a.mtime_ns / 1000000000, a.mtime_ns % 1000000000}};

		assert_int_equal(utimensat(f->dirfd, "c.new", same, 0), 0);
	}
	assert_int_equal(renameat(f->dirfd, "c.new", f->dirfd, "c"), 0);
	assert_int_equal(rd(f, "c", attrs, 0, -1, &b, NULL), 0);
	assert_true(vigil_entry_diff(&a, &b, attrs) & VIGIL_ATTR_INODE);
	assert_int_equal(vigil_entry_diff(&a, &b, attrs) &
			     ~(VIGIL_ATTR_INODE | VIGIL_ATTR_CTIME | VIGIL_ATTR_NLINK),
			 0);
	vigil_entry_clear(&a);
	vigil_entry_clear(&b);
#undef STEP
}

static void test_copy_and_clear(void **state)
{
	const vigil_entry zero = {0};
	vigil_entry a, b, z = {0};

	(void)state;
	make_full_entry(&a, S_IFLNK);
	assert_int_equal(vigil_entry_copy(&b, &a), 0);
	assert_ptr_not_equal(a.path, b.path);
	assert_ptr_not_equal(a.target, b.target);
	assert_ptr_not_equal(a.acl, b.acl);
	assert_ptr_not_equal(a.caps, b.caps);
	assert_ptr_not_equal(a.selinux, b.selinux);
	assert_ptr_not_equal(a.xattrs, b.xattrs);
	assert_memory_equal(b.path, "/etc/x", 7);
	assert_memory_equal(b.xattrs, "xat", 3);
	assert_int_equal(vigil_entry_diff(&a, &b, VIGIL_ATTR_ALL), 0);
	vigil_entry_clear(&a);
	assert_memory_equal(&a, &zero, sizeof(a));
	/* The copy outlives its source. */
	assert_string_equal(fmt(&b, VIGIL_ATTR_TARGET), "tgt");
	vigil_entry_clear(&b);
	vigil_entry_clear(&b); /* a cleared entry clears again */
	vigil_entry_clear(NULL);
	assert_int_equal(vigil_entry_copy(&b, &z), 0);
	assert_null(b.path);
	assert_null(b.acl);
	vigil_entry_clear(&b);
}

/* ---- races and errors ---- */

static void test_swapped_entries(void **state)
{
	struct fx *f = *state;
	vigil_entry e;
	vigil_entry_read_info info;
	struct stat st;
	int r;

#define READ_OLD(rel, attrs)                                                                       \
	(memset(&e, 0, sizeof(e)),                                                                 \
	 vigil_entry_read(f->dirfd, rel, rel, strlen(rel), &st, attrs, 0, -1, &e, &info))

	/* Another regular file renamed over it. */
	put(f, "a", "one", 3);
	put(f, "b", "two", 3);
	st = lst(f, "a");
	assert_int_equal(renameat(f->dirfd, "b", f->dirfd, "a"), 0);
	assert_int_equal(READ_OLD("a", VIGIL_ATTR_DEFAULT), VIGIL_E_NOT_FOUND);
	assert_null(e.path); /* nothing half-read is left */
	/* Metadata alone needs no open, so no swap can be seen: nothing to compare. */
	assert_int_equal(READ_OLD("a", VIGIL_ATTR_MODE | VIGIL_ATTR_SIZE), 0);
	vigil_entry_clear(&e);

	/* Replaced by a symlink, by a FIFO, removed. */
	st = lst(f, "a");
	assert_int_equal(unlinkat(f->dirfd, "a", 0), 0);
	assert_int_equal(symlinkat("b", f->dirfd, "a"), 0);
	assert_int_equal(READ_OLD("a", VIGIL_ATTR_DEFAULT), VIGIL_E_NOT_FOUND);
	assert_int_equal(unlinkat(f->dirfd, "a", 0), 0);
	assert_int_equal(mkfifoat(f->dirfd, "a", 0644), 0);
	assert_int_equal(READ_OLD("a", VIGIL_ATTR_DEFAULT), VIGIL_E_NOT_FOUND);
	assert_int_equal(unlinkat(f->dirfd, "a", 0), 0);
	assert_int_equal(READ_OLD("a", VIGIL_ATTR_DEFAULT), VIGIL_E_NOT_FOUND);

	/* A directory replaced by another one (rename keeps the old inode alive, so its
	 * number cannot be reused). */
	assert_int_equal(mkdirat(f->dirfd, "d", 0755), 0);
	assert_int_equal(mkdirat(f->dirfd, "d2", 0755), 0);
	st = lst(f, "d");
	assert_int_equal(renameat(f->dirfd, "d2", f->dirfd, "d"), 0);
	assert_int_equal(READ_OLD("d", VIGIL_ATTR_DEFAULT), VIGIL_E_NOT_FOUND);
	/* ... and by a symlink to a directory. */
	st = lst(f, "d");
	assert_int_equal(unlinkat(f->dirfd, "d", AT_REMOVEDIR), 0);
	assert_int_equal(symlinkat(".", f->dirfd, "d"), 0);
	assert_int_equal(READ_OLD("d", VIGIL_ATTR_DEFAULT), VIGIL_E_NOT_FOUND);

	/* A symlink replaced by a file, or gone. */
	assert_int_equal(symlinkat("x", f->dirfd, "l"), 0);
	st = lst(f, "l");
	assert_int_equal(unlinkat(f->dirfd, "l", 0), 0);
	put(f, "l", "x", 1);
	assert_int_equal(READ_OLD("l", VIGIL_ATTR_DEFAULT), VIGIL_E_NOT_FOUND);
	assert_int_equal(unlinkat(f->dirfd, "l", 0), 0);
	r = READ_OLD("l", VIGIL_ATTR_DEFAULT);
	assert_int_equal(r, VIGIL_E_NOT_FOUND);
#undef READ_OLD
}

/* The checks of the unreadable-file test, run where the file cannot be opened. Returns 0
 * or the number of the failed check (asserts cannot cross a fork). */
static int check_unreadable(int dirfd)
{
	vigil_entry e = {0};
	vigil_entry_read_info info;
	struct stat st;
	int r;

	if (fstatat(dirfd, "secret", &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 1;
	r = vigil_entry_read(dirfd, "secret", "secret", 6, &st, VIGIL_ATTR_DEFAULT,
			     VIGIL_HASH_SHA256, -1, &e, &info);
	if (r != VIGIL_E_SYSTEM || errno != EACCES)
		return 2;
	if (info.err != EACCES || info.what == NULL || strcmp(info.what, "open") != 0)
		return 3;
	if (e.attrs & (VIGIL_ATTR_HASH | VIGIL_ATTR_FLAGS) || e.hash_len != 0)
		return 4;
	/* Everything the lstat gave is there. */
	if ((e.attrs & (VIGIL_ATTR_TYPE | VIGIL_ATTR_MODE | VIGIL_ATTR_SIZE)) !=
	    (VIGIL_ATTR_TYPE | VIGIL_ATTR_MODE | VIGIL_ATTR_SIZE))
		return 5;
	if (e.type != S_IFREG || e.size != 3 || e.path == NULL)
		return 6;
	vigil_entry_clear(&e);

	/* A directory we may not read: its flags are lost, not the entry. */
	if (fstatat(dirfd, "closed", &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 7;
	r = vigil_entry_read(dirfd, "closed", "closed", 6, &st, VIGIL_ATTR_DEFAULT,
			     VIGIL_HASH_SHA256, -1, &e, &info);
	if (r != VIGIL_E_SYSTEM || info.err != EACCES || (e.attrs & VIGIL_ATTR_FLAGS) ||
	    !(e.attrs & VIGIL_ATTR_MODE) || e.type != S_IFDIR)
		return 8;
	/* Listing xattrs needs no permission on the directory itself. */
	if (!(e.attrs & VIGIL_ATTR_XATTRS))
		return 9;
	vigil_entry_clear(&e);
	return 0;
}

static void test_unreadable(void **state)
{
	struct fx *f = *state;
	pid_t pid;
	int status;

	put(f, "secret", "abc", 3);
	assert_int_equal(mkdirat(f->dirfd, "closed", 0700), 0);
	if (geteuid() != 0) {
		assert_int_equal(fchmodat(f->dirfd, "secret", 0, 0), 0);
		assert_int_equal(fchmodat(f->dirfd, "closed", 0, 0), 0);
		status = check_unreadable(f->dirfd);
		assert_int_equal(fchmodat(f->dirfd, "closed", 0700, 0), 0);
		assert_int_equal(status, 0);
		return;
	}
	/* Root reads everything: drop to nobody in a child. */
	assert_int_equal(fchmodat(f->dirfd, "secret", 0600, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
			_exit(100);
		_exit(check_unreadable(f->dirfd));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Reading content leaves the access time alone (O_NOATIME). */
static void test_noatime(void **state)
{
	struct fx *f = *state;
	/* atime a day before mtime: relatime would update it on any read. */
	const struct timespec times[2] = {{1600000000, 0}, {1600086400, 0}};
	char buf[4];
	vigil_entry e;
	struct stat st;
	int fd;

	put(f, "at", "abc", 3);
	assert_int_equal(utimensat(f->dirfd, "at", times, 0), 0);
	fd = openat(f->dirfd, "at", O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	st = lst(f, "at");
	if (st.st_atim.tv_sec == times[0].tv_sec) {
		print_message("SKIP: %s does not update atime (noatime mount)\n", f->root);
		return;
	}
	assert_int_equal(utimensat(f->dirfd, "at", times, 0), 0);
	assert_int_equal(rd(f, "at", VIGIL_ATTR_DEFAULT, 0, -1, &e, NULL), 0);
	assert_int_equal(e.hash_len, 32);
	vigil_entry_clear(&e);
	st = lst(f, "at");
	assert_int_equal(st.st_atim.tv_sec, times[0].tv_sec);
}

static void test_bad_arguments(void **state)
{
	struct fx *f = *state;
	vigil_entry e = {0};
	vigil_entry_read_info info;
	struct stat st;

	put(f, "arg", "x", 1);
	st = lst(f, "arg");
	assert_int_equal(vigil_entry_read(f->dirfd, "arg", "arg", 3, &st, VIGIL_ATTR_DEFAULT,
					  VIGIL_HASH_COUNT, -1, &e, &info),
			 VIGIL_E_INVALID);
	assert_int_equal(
	    vigil_entry_read(f->dirfd, "arg", NULL, 3, &st, VIGIL_ATTR_DEFAULT, 0, -1, &e, &info),
	    VIGIL_E_INVALID);
	assert_int_equal(
	    vigil_entry_read(f->dirfd, "arg", "arg", 3, NULL, VIGIL_ATTR_DEFAULT, 0, -1, &e, &info),
	    VIGIL_E_INVALID);
	assert_null(e.path);
	/* info is optional; unknown attribute bits are dropped. */
	assert_int_equal(
	    vigil_entry_read(f->dirfd, "arg", "arg", 3, &st, 0xffffffffu, 0, -1, &e, NULL), 0);
	assert_int_equal(e.attrs, VIGIL_ATTR_ALL);
	vigil_entry_clear(&e);
}

/* ---- threads ---- */

struct thread_job {
	struct fx *f;
	const char *name;
	vigil_hash_algo algo;
	const char *want;
	int64_t prefix;
	const char *pwant;
	int failures;
};

static void *thread_main(void *p)
{
	struct thread_job *j = p;
	char h[2 * VIGIL_DIGEST_MAX + 1];

	for (int i = 0; i < 300; i++) {
		vigil_entry e = {0};
		vigil_entry_read_info info;
		struct stat st;

		if (fstatat(j->f->dirfd, j->name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    vigil_entry_read(j->f->dirfd, j->name, j->name, strlen(j->name), &st,
				     VIGIL_ATTR_DEFAULT, j->algo, j->prefix, &e, &info) != 0 ||
		    strcmp(hex(e.hash, e.hash_len, h), j->want) != 0 ||
		    strcmp(hex(info.prefix_hash, info.prefix_hash_len, h), j->pwant) != 0)
			j->failures++;
		vigil_entry_clear(&e);
	}
	return NULL;
}

/* Two workers at once, different algorithms and prefixes: no shared digest state. */
static void test_two_threads(void **state)
{
	struct fx *f = *state;
	const size_t len = 700000;
	unsigned char *d1 = pattern(len, 1), *d2 = pattern(len, 2);
	char w1[129], w2[129], p1[129], p2[129];
	struct thread_job j[2] = {
	    {f, "t1", VIGIL_HASH_SHA256, w1, 300000, p1, 0},
	    {f, "t2", VIGIL_HASH_BLAKE2B, w2, 5, p2, 0},
	};
	pthread_t th[2];

	put(f, "t1", d1, len);
	put(f, "t2", d2, len);
	digest_hex(VIGIL_HASH_SHA256, d1, len, w1);
	digest_hex(VIGIL_HASH_SHA256, d1, 300000, p1);
	digest_hex(VIGIL_HASH_BLAKE2B, d2, len, w2);
	digest_hex(VIGIL_HASH_BLAKE2B, d2, 5, p2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &j[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(j[0].failures, 0);
	assert_int_equal(j[1].failures, 0);
	free(d1);
	free(d2);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_attr_names),
	    cmocka_unit_test(test_hash_algo_names),
	    cmocka_unit_test_setup_teardown(test_digest_vectors, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_digest_fd_limit, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_digest_large, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_prefix_digest, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_digest_stops_at_lstat_size, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_sparse_file, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_regular_file, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_special_modes, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_directory, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_symlink, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_special_files_never_opened, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_boot_sector, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_user_xattrs, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_acl, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_caps_and_selinux, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_inode_flags, fx_setup, fx_teardown),
	    cmocka_unit_test(test_format_flags),
	    cmocka_unit_test(test_format_values),
	    cmocka_unit_test(test_format_numbers_like_printf),
	    cmocka_unit_test(test_format_truncation),
	    cmocka_unit_test(test_format_acl_hostile),
	    cmocka_unit_test(test_format_xattrs_hostile),
	    cmocka_unit_test(test_diff_each_attribute),
	    cmocka_unit_test(test_diff_hash_algo),
	    cmocka_unit_test_setup_teardown(test_diff_real_changes, fx_setup, fx_teardown),
	    cmocka_unit_test(test_copy_and_clear),
	    cmocka_unit_test_setup_teardown(test_swapped_entries, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_noatime, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_two_threads, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
