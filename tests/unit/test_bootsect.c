/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for boot sector digests: which /sys/block names count as whole disks, refusal
 * of anything but a block device, and (as root) a loop device over an image this test
 * makes, whose sector 0 is overwritten through the image file. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "bootsect.h"
#include "meta.h"

#define MiB (1024 * 1024)

struct loopdev {
	char dev[64];
	int holder; /* an fd on the device: with LO_FLAGS_AUTOCLEAR its close detaches it */
};

struct fx {
	char dir[64];
	struct loopdev loops[2];
	size_t nloops;
};

static const char *P(struct fx *f, const char *rel)
{
	static char buf[4][512];
	static unsigned next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", f->dir, rel);
	return b;
}

static void put(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vigil-boot-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

/* Detaches every loop device the test made (also after a failed assertion: cmocka
 * runs the teardown), then removes the directory. */
static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	for (size_t i = 0; i < f->nloops; i++) {
		/* LOOP_CLR_FD on a device still open (ours) only marks it for autoclear:
		 * the close below detaches it. */
		(void)ioctl(f->loops[i].holder, LOOP_CLR_FD, 0);
		close(f->loops[i].holder);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- names and a fake /sys/block ---- */

static void test_names(void **state)
{
	static const struct {
		const char *name;
		bool disk;
	} cases[] = {
	    {"sda", true},        {"sdaa", true},          {"vda", true},
	    {"xvdb", true},       {"hdc", true},           {"nvme0n1", true},
	    {"nvme12n3", true},   {"mmcblk0", true},       {"loop0", true},
	    {"loop17", true},     {"md0", true},           {"md127", true},
	    {"sda1", false},      {"sd", false},           {"sdA", false},
	    {"nvme0c0n1", false}, {"nvme0", false},        {"nvme0n1p1", false},
	    {"nvmen1", false},    {"mmcblk0boot0", false}, {"mmcblk0rpmb", false},
	    {"mmcblk0p1", false}, {"mmcblk", false},       {"loop", false},
	    {"loopx", false},     {"dm-0", false},         {"ram0", false},
	    {"zram0", false},     {"sr0", false},          {"fd0", false},
	    {"nbd0", false},      {"md_d0", false},        {"", false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (vigil_boot_name_is_disk(cases[i].name) != cases[i].disk)
			fail_msg("\"%s\": expected %s", cases[i].name,
				 cases[i].disk ? "a disk" : "not a disk");
	assert_false(vigil_boot_name_is_disk(NULL));
}

/* A /sys/block/NAME directory with the given size (NULL: no size file), hidden flag
 * (NULL: none) and optional partition subdirectory. */
static void fake_dev(struct fx *f, const char *name, const char *size, const char *hidden,
		     const char *partition)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "block/%s", name);
	assert_int_equal(mkdir(P(f, rel), 0755), 0);
	if (size) {
		snprintf(rel, sizeof(rel), "block/%s/size", name);
		put(P(f, rel), size, strlen(size));
	}
	if (hidden) {
		snprintf(rel, sizeof(rel), "block/%s/hidden", name);
		put(P(f, rel), hidden, strlen(hidden));
	}
	if (partition) {
		snprintf(rel, sizeof(rel), "block/%s/%s", name, partition);
		assert_int_equal(mkdir(P(f, rel), 0755), 0);
		snprintf(rel, sizeof(rel), "block/%s/%s/partition", name, partition);
		put(P(f, rel), "1\n", 2);
	}
}

static void test_fake_sys_block(void **state)
{
	struct fx *f = *state;
	const char *want[] = {"/dev/hda",     "/dev/loop1", "/dev/md1", "/dev/mmcblk0",
			      "/dev/nvme0n1", "/dev/sda",   "/dev/xvda"};
	char **devs;
	size_t n;

	assert_int_equal(mkdir(P(f, "block"), 0755), 0);
	fake_dev(f, "sda", "209715200\n", NULL, "sda1");
	fake_dev(f, "sdb", "12x\n", NULL, NULL); /* not a number */
	fake_dev(f, "sdc", NULL, NULL, NULL);    /* no size */
	fake_dev(f, "vdb", "0\n", NULL, NULL);   /* no medium */
	fake_dev(f, "xvda", "8", NULL, NULL);    /* no newline */
	fake_dev(f, "hda", "100\n", "0\n", NULL);
	fake_dev(f, "nvme0n1", "2048\n", "0\n", "nvme0n1p1");
	fake_dev(f, "nvme1n1", "2048\n", "1\n", NULL);   /* hidden */
	fake_dev(f, "nvme0c0n1", "2048\n", "1\n", NULL); /* multipath leg */
	fake_dev(f, "mmcblk0", "4096\n", NULL, NULL);
	fake_dev(f, "mmcblk0boot0", "4096\n", NULL, NULL);
	fake_dev(f, "mmcblk0rpmb", "4096\n", NULL, NULL);
	fake_dev(f, "loop0", "0\n", NULL, NULL); /* detached */
	fake_dev(f, "loop1", "8192\n", NULL, NULL);
	fake_dev(f, "md0", "4096\n", NULL, NULL);    /* file system on the array */
	fake_dev(f, "md1", "4096\n", NULL, "md1p1"); /* partitioned array */
	fake_dev(f, "dm-0", "4096\n", NULL, NULL);
	fake_dev(f, "ram0", "4096\n", NULL, NULL);
	fake_dev(f, "zram0", "4096\n", NULL, NULL);
	fake_dev(f, "sr0", "4096\n", NULL, NULL);
	fake_dev(f, "fd0", "4096\n", NULL, NULL);

	assert_int_equal(vigil_boot_devices_at(P(f, "block"), &devs, &n), 0);
	if (n != sizeof(want) / sizeof(want[0])) {
		for (size_t i = 0; i < n; i++)
			print_message("got %s\n", devs[i]);
		fail_msg("%zu devices, want %zu", n, sizeof(want) / sizeof(want[0]));
	}
	for (size_t i = 0; i < n; i++)
		assert_string_equal(devs[i], want[i]);
	assert_null(devs[n]);
	vigil_boot_devices_free(devs, n);

	assert_int_equal(vigil_boot_devices_at(P(f, "nothing"), &devs, &n), VIGIL_E_SYSTEM);
	assert_int_equal(errno, ENOENT);
	assert_null(devs);
	assert_int_equal(n, 0);

	/* An empty /sys/block: an empty, NULL-terminated list. */
	assert_int_equal(mkdir(P(f, "empty"), 0755), 0);
	assert_int_equal(vigil_boot_devices_at(P(f, "empty"), &devs, &n), 0);
	assert_int_equal(n, 0);
	assert_null(devs[0]);
	vigil_boot_devices_free(devs, n);
	vigil_boot_devices_free(NULL, 0);
}

static void test_real_sys_block(void **state)
{
	char **devs;
	size_t n;
	(void)state;

	/* Whatever this machine has: well-formed, sorted, never a partition or a RAM disk. */
	assert_int_equal(vigil_boot_devices(&devs, &n), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(strncmp(devs[i], "/dev/", 5), 0);
		assert_true(vigil_boot_name_is_disk(devs[i] + 5));
		if (i > 0)
			assert_true(strcmp(devs[i - 1], devs[i]) < 0);
	}
	vigil_boot_devices_free(devs, n);
}

/* ---- refusals ---- */

static void on_alarm(int sig)
{
	(void)sig;
	fail_msg("the digest blocked");
}

static void test_refuse_non_block(void **state)
{
	struct fx *f = *state;
	uint8_t out[VIGIL_DIGEST_MAX];
	uint8_t len = 99;
	int64_t nread = 99;

	put(P(f, "disk.img"), "MBR", 3);
	assert_int_equal(
	    vigil_boot_sector_digest(P(f, "disk.img"), VIGIL_HASH_SHA256, out, &len, &nread),
	    VIGIL_E_INVALID);
	assert_int_equal(len, 0);
	assert_int_equal(nread, 0);

	/* A FIFO: refused, and neither the open nor a read may wait for a writer. */
	assert_int_equal(mkfifo(P(f, "fifo"), 0600), 0);
	signal(SIGALRM, on_alarm);
	alarm(10);
	assert_int_equal(
	    vigil_boot_sector_digest(P(f, "fifo"), VIGIL_HASH_SHA256, out, &len, &nread),
	    VIGIL_E_INVALID);
	alarm(0);

	assert_int_equal(mkdir(P(f, "dir"), 0755), 0);
	assert_int_equal(
	    vigil_boot_sector_digest(P(f, "dir"), VIGIL_HASH_SHA256, out, &len, &nread),
	    VIGIL_E_INVALID);

	/* A symlink is not followed, whatever it points to. */
	assert_int_equal(symlink("disk.img", P(f, "link")), 0);
	assert_int_equal(
	    vigil_boot_sector_digest(P(f, "link"), VIGIL_HASH_SHA256, out, &len, &nread),
	    VIGIL_E_SYSTEM);
	assert_int_equal(errno, ELOOP);

	assert_int_equal(
	    vigil_boot_sector_digest(P(f, "missing"), VIGIL_HASH_SHA256, out, &len, NULL),
	    VIGIL_E_SYSTEM);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(
	    vigil_boot_sector_digest(P(f, "disk.img"), VIGIL_HASH_COUNT, out, &len, NULL),
	    VIGIL_E_INVALID);
}

/* ---- a real loop device ---- */

/*
 * Attaches img read-only with LO_FLAGS_AUTOCLEAR and keeps an fd on the device, so that
 * it is detached when that fd closes — even if this process dies. Returns 0, or an errno
 * and a reason to skip.
 */
static int attach(struct fx *f, const char *img, const char **why)
{
	struct loopdev *l = &f->loops[f->nloops];
	struct loop_config cfg;
	int ctl, imgfd, err = 0;

	if (geteuid() != 0) {
		*why = "needs root for a loop device";
		return EPERM;
	}
	if ((ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC)) < 0) {
		*why = "no /dev/loop-control";
		return errno;
	}
	imgfd = open(img, O_RDONLY | O_CLOEXEC);
	assert_true(imgfd >= 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)imgfd;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	/* Another process may take the free device first (EBUSY): ask again. */
	for (int tries = 0; tries < 16; tries++) {
		int num = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (num < 0) {
			*why = "LOOP_CTL_GET_FREE failed";
			err = errno;
			break;
		}
		snprintf(l->dev, sizeof(l->dev), "/dev/loop%d", num);
		if ((l->holder = open(l->dev, O_RDONLY | O_CLOEXEC)) < 0) {
			*why = "the free loop device has no /dev node";
			err = errno;
			break;
		}
		if (ioctl(l->holder, LOOP_CONFIGURE, &cfg) == 0) {
			f->nloops++;
			err = 0;
			break;
		}
		err = errno;
		*why = "LOOP_CONFIGURE failed";
		close(l->holder);
		if (err != EBUSY)
			break;
	}
	close(imgfd);
	close(ctl);
	return err;
}

/* The expected digest of the first `len` bytes of a file, independently of libvigil. */
static void file_digest(const char *path, size_t len, const EVP_MD *md, uint8_t *out,
			unsigned *out_len)
{
	unsigned char *buf = malloc(len);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, 0), (ssize_t)len);
	close(fd);
	assert_int_equal(EVP_Digest(buf, len, out, out_len, md, NULL), 1);
	free(buf);
}

static void make_image(const char *path, size_t len, unsigned seed)
{
	unsigned char *p = malloc(len);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
	memcpy(p + 510, "\x55\xaa", 2); /* an MBR boot signature, for the look of it */
	put(path, p, len);
	free(p);
}

static bool listed(const char *dev)
{
	char **devs;
	size_t n;
	bool found = false;

	assert_int_equal(vigil_boot_devices(&devs, &n), 0);
	for (size_t i = 0; i < n; i++)
		found |= strcmp(devs[i], dev) == 0;
	vigil_boot_devices_free(devs, n);
	return found;
}

static void test_loop_device(void **state)
{
	struct fx *f = *state;
	uint8_t before[VIGIL_DIGEST_MAX], after[VIGIL_DIGEST_MAX], want[EVP_MAX_MD_SIZE];
	uint8_t blen = 0, alen = 0;
	unsigned wlen = 0;
	int64_t nread = 0;
	char sector[512];
	const char *why = NULL, *img = P(f, "disk.img");
	const char *dev;
	int err, fd;

	make_image(img, 4 * MiB, 1);
	if ((err = attach(f, img, &why)) != 0) {
		print_message("SKIP: %s (%s)\n", why, strerror(err));
		skip();
	}
	dev = f->loops[0].dev;
	assert_true(listed(dev));

	assert_int_equal(vigil_boot_sector_digest(dev, VIGIL_HASH_SHA256, before, &blen, &nread),
			 0);
	assert_int_equal(nread, MiB);
	file_digest(img, MiB, EVP_sha256(), want, &wlen);
	assert_int_equal(blen, 32);
	assert_memory_equal(before, want, 32);

	/* The wiper, through the image file that backs our own device only. */
	memset(sector, 0, sizeof(sector));
	memcpy(sector, "HACKED BY #GOP", 14);
	fd = open(img, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, sector, sizeof(sector), 0), (ssize_t)sizeof(sector));
	assert_int_equal(fsync(fd), 0);
	close(fd);

	/* The device's page cache still holds the old sector 0 from the first read: the
	 * digest must see the new one all the same. */
	assert_int_equal(vigil_boot_sector_digest(dev, VIGIL_HASH_SHA256, after, &alen, &nread), 0);
	assert_int_equal(alen, 32);
	assert_memory_not_equal(before, after, 32);
	file_digest(img, MiB, EVP_sha256(), want, &wlen);
	assert_memory_equal(after, want, 32);

	/* The other algorithms, at their lengths. */
	assert_int_equal(vigil_boot_sector_digest(dev, VIGIL_HASH_SHA512, after, &alen, NULL), 0);
	assert_int_equal(alen, 64);
	file_digest(img, MiB, EVP_sha512(), want, &wlen);
	assert_memory_equal(after, want, 64);
	assert_int_equal(vigil_boot_sector_digest(dev, VIGIL_HASH_BLAKE2B, after, &alen, NULL), 0);
	assert_int_equal(alen, 64);
	file_digest(img, MiB, EVP_blake2b512(), want, &wlen);
	assert_memory_equal(after, want, 64);
}

static void test_small_loop_device(void **state)
{
	struct fx *f = *state;
	uint8_t got[VIGIL_DIGEST_MAX], want[EVP_MAX_MD_SIZE];
	uint8_t len = 0;
	unsigned wlen = 0;
	int64_t nread = 0;
	const char *why = NULL, *img = P(f, "small.img");
	int err;

	make_image(img, 64 * 1024, 2);
	if ((err = attach(f, img, &why)) != 0) {
		print_message("SKIP: %s (%s)\n", why, strerror(err));
		skip();
	}
	/* Smaller than 1 MiB: the whole device. */
	assert_int_equal(
	    vigil_boot_sector_digest(f->loops[0].dev, VIGIL_HASH_SHA256, got, &len, &nread), 0);
	assert_int_equal(nread, 64 * 1024);
	file_digest(img, 64 * 1024, EVP_sha256(), want, &wlen);
	assert_memory_equal(got, want, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test_setup_teardown(test_fake_sys_block, setup, teardown),
	    cmocka_unit_test(test_real_sys_block),
	    cmocka_unit_test_setup_teardown(test_refuse_non_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loop_device, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_loop_device, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
