/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the raw-disk guard's parts: which block device names are guarded, the
 * allowlist globs, the reader of the BPF ring buffer of refusals, and (as root) that the
 * kernel's verifier accepts the device filter. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rawdisk.h"

static void test_names(void **state)
{
	static const struct {
		const char *name;
		bool guarded;
	} cases[] = {
	    {"sda", true},
	    {"sda1", true},
	    {"sdaa", true},
	    {"sdz15", true},
	    {"vda", true},
	    {"vdb2", true},
	    {"xvda", true},
	    {"xvdf1", true},
	    {"hdc", true},
	    {"nvme0n1", true},
	    {"nvme0n1p2", true},
	    {"nvme12n3p45", true},
	    {"mmcblk0", true},
	    {"mmcblk0p1", true},
	    {"mmcblk1boot0", true},
	    {"loop0", true},
	    {"loop12", true},
	    {"loop0p1", true},
	    {"dm-0", true},
	    {"dm-13", true},
	    {"md0", true},
	    {"md127", true},
	    {"md0p1", true},
	    /* not disks, or not ours to guard */
	    {"zram0", false},
	    {"ram0", false},
	    {"nbd0", false},
	    {"sr0", false},
	    {"fd0", false},
	    {"nvme0c0n1", false},
	    {"nvme0", false},
	    {"nvme0n", false},
	    {"nvme0n1p", false},
	    {"mmcblk", false},
	    {"mmcblk0rpmb", false},
	    {"mmcblk0p", false},
	    {"loop", false},
	    {"loopx", false},
	    {"loop0p", false},
	    {"dm-", false},
	    {"dm-0p1", false},
	    {"dm0", false},
	    {"md", false},
	    {"md_d0", false},
	    {"sd", false},
	    {"sdA", false},
	    {"sda1x", false},
	    {"sda-1", false},
	    {"vd1", false},
	    {"", false},
	    {"sda/../zram0", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		bool got = vigil_rawdisk_name_is_guarded(cases[i].name);

		if (got != cases[i].guarded)
			fail_msg("%s: guarded %d, expected %d", cases[i].name, got,
				 cases[i].guarded);
	}
	assert_false(vigil_rawdisk_name_is_guarded(NULL));
}

static void test_allow_globs(void **state)
{
	static const char *const globs[] = {"/usr/sbin/mkfs.*", "/usr/bin/dd", "mkfs.*",
					    "/opt/*/bin/tool", "relative/x"};
	static const struct {
		const char *exe;
		bool allowed;
	} cases[] = {
	    {"/usr/sbin/mkfs.ext4", true},
	    {"/usr/sbin/mkfs.", true},
	    {"/usr/bin/dd", true},
	    {"/opt/acme/bin/tool", true},
	    {"/usr/sbin/mkfs", false},          /* the glob wants the dot */
	    {"/usr/sbin/sub/mkfs.ext4", false}, /* `*` never crosses a slash */
	    {"/tmp/mkfs.ext4", false},          /* a name alone never matches */
	    {"/usr/bin/ddx", false},
	    {"/opt/a/b/bin/tool", false},
	    {"/usr/sbin/.mkfs.x", false},
	    {"mkfs.ext4", false}, /* not absolute */
	    {"relative/x", false},
	    {"", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		bool got =
		    vigil_rawdisk_is_allowed(globs, sizeof(globs) / sizeof(*globs), cases[i].exe);

		if (got != cases[i].allowed)
			fail_msg("%s: allowed %d, expected %d", cases[i].exe, got,
				 cases[i].allowed);
	}
	assert_false(vigil_rawdisk_is_allowed(globs, 5, NULL));
	assert_false(vigil_rawdisk_is_allowed(NULL, 0, "/usr/bin/dd"));
	assert_true(vigil_rawdisk_glob_is_valid("/usr/sbin/*"));
	assert_false(vigil_rawdisk_glob_is_valid("mkfs.*"));
	assert_false(vigil_rawdisk_glob_is_valid(""));
	assert_false(vigil_rawdisk_glob_is_valid(NULL));
}

/* The built-in list allows the tools a Debian server formats and partitions with, and
 * never a general-purpose program. */
static void test_builtin_list(void **state)
{
	static const char *const yes[] = {
	    "/usr/sbin/mkfs.ext4",
	    "/usr/sbin/mke2fs",
	    "/usr/sbin/fdisk",
	    "/usr/sbin/sfdisk",
	    "/usr/sbin/parted",
	    "/usr/sbin/lvm",
	    "/usr/sbin/cryptsetup",
	    "/usr/sbin/mdadm",
	    "/usr/sbin/grub-install",
	    "/usr/sbin/losetup",
	    "/usr/sbin/wipefs",
	    "/usr/sbin/e2fsck",
	    "/usr/sbin/fsck.xfs",
	    "/usr/sbin/mkswap",
	    "/usr/bin/mount",
	    "/sbin/sgdisk",
	    "/usr/lib/systemd/systemd-udevd",
	    "/usr/sbin/dmsetup",
	    "/usr/sbin/blkdiscard",
	};
	static const char *const no[] = {
	    "/usr/bin/dd",           "/usr/bin/python3",
	    "/usr/bin/bash",         "/usr/bin/cp",
	    "/usr/bin/shred",        "/usr/bin/cat",
	    "/tmp/mkfs.ext4",        "/usr/local/sbin/mkfs.x",
	    "/usr/sbin/mkfs.ext4/x", "/usr/lib/systemd/systemd",
	};
	size_t n = 0;

	(void)state;
	while (vigil_rawdisk_builtin_allow[n] != NULL) {
		assert_true(vigil_rawdisk_glob_is_valid(vigil_rawdisk_builtin_allow[n]));
		n++;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		if (!vigil_rawdisk_is_allowed(vigil_rawdisk_builtin_allow, n, yes[i]))
			fail_msg("%s is not allowed by the built-in list", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
		if (vigil_rawdisk_is_allowed(vigil_rawdisk_builtin_allow, n, no[i]))
			fail_msg("%s is allowed by the built-in list", no[i]);
}

/* ---- the ring buffer reader ---- */

#define RING 64 /* bytes: small, so records wrap */

struct got {
	size_t n;
	uint32_t first[8];
	size_t len[8];
};

static void collect(void *user, const void *rec, size_t len)
{
	struct got *g = user;
	uint32_t v = 0;

	if (g->n < 8) {
		memcpy(&v, rec, len < 4 ? len : 4);
		g->first[g->n] = v;
		g->len[g->n] = len;
	}
	g->n++;
}

/* Writes a record (header then payload word) at pos, into the area and its second copy. */
static void put(uint8_t *area, uint64_t pos, uint32_t hdr, uint32_t word, size_t payload)
{
	uint8_t rec[RING] = {0};

	memcpy(rec, &hdr, 4);
	memcpy(rec + 8, &word, 4);
	for (size_t i = 0; i < 8 + payload; i++) {
		area[(pos + i) % RING] = rec[i];
		area[RING + (pos + i) % RING] = rec[i];
	}
}

static void test_ring_walk(void **state)
{
	uint8_t area[2 * RING];
	struct got g;
	uint64_t c;

	(void)state;
	/* Two records, the second discarded, a third: 16 bytes each (8 + 8). */
	memset(area, 0, sizeof(area));
	put(area, 0, 8, 111, 8);
	put(area, 16, 8 | BPF_RINGBUF_DISCARD_BIT, 222, 8);
	put(area, 32, 5, 333, 5); /* 5 bytes, padded to 8 */
	memset(&g, 0, sizeof(g));
	c = vigil_rawdisk_ring_walk(area, RING - 1, 0, 48, collect, &g);
	assert_int_equal(c, 48);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.first[0], 111);
	assert_int_equal(g.len[0], 8);
	assert_int_equal(g.first[1], 333);
	assert_int_equal(g.len[1], 5);

	/* A record still being written stops the walk there, and is read once committed. */
	put(area, 48, 8 | BPF_RINGBUF_BUSY_BIT, 444, 8);
	memset(&g, 0, sizeof(g));
	c = vigil_rawdisk_ring_walk(area, RING - 1, 48, 64, collect, &g);
	assert_int_equal(c, 48);
	assert_int_equal(g.n, 0);
	put(area, 48, 8, 444, 8);
	c = vigil_rawdisk_ring_walk(area, RING - 1, 48, 64, collect, &g);
	assert_int_equal(c, 64);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.first[0], 444);

	/* Positions past the area's size wrap: a record at 120 spans the end (120..135). */
	put(area, 120, 8, 555, 8);
	memset(&g, 0, sizeof(g));
	c = vigil_rawdisk_ring_walk(area, RING - 1, 120, 136, collect, &g);
	assert_int_equal(c, 136);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.first[0], 555);

	/* A length beyond what was produced, or beyond the area, is not trusted. */
	put(area, 0, 40, 666, 8);
	memset(&g, 0, sizeof(g));
	c = vigil_rawdisk_ring_walk(area, RING - 1, 0, 16, collect, &g);
	assert_int_equal(c, 0);
	assert_int_equal(g.n, 0);
	put(area, 0, 0x3fffffff, 777, 8);
	c = vigil_rawdisk_ring_walk(area, RING - 1, 0, 1u << 31, collect, &g);
	assert_int_equal(c, 0);
	assert_int_equal(g.n, 0);

	/* Nothing produced: nothing read. */
	c = vigil_rawdisk_ring_walk(area, RING - 1, 64, 64, collect, &g);
	assert_int_equal(c, 64);
	assert_int_equal(g.n, 0);
}

/* ---- the filter, as the kernel sees it ---- */

static int map(enum bpf_map_type t, uint32_t k, uint32_t v, uint32_t max)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = t;
	a.key_size = k;
	a.value_size = v;
	a.max_entries = max;
	return (int)syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a));
}

static void test_filter_loads(void **state)
{
	char log[8192] = "";
	int guarded, allowed, statem, events, prog;

	(void)state;
	if (geteuid() != 0)
		skip();
	guarded = map(BPF_MAP_TYPE_HASH, 4, 1, 16);
	allowed = map(BPF_MAP_TYPE_HASH, 4, 4, 16);
	statem = map(BPF_MAP_TYPE_ARRAY, 4, 8, 1);
	events = map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
	if (guarded < 0 && (errno == EPERM || errno == ENOSYS))
		skip(); /* no BPF here (a container without CAP_BPF) */
	assert_true(guarded >= 0 && allowed >= 0 && statem >= 0 && events >= 0);
	prog = vigil_rawdisk_load_filter(guarded, allowed, statem, events, log, sizeof(log));
	if (prog < 0)
		fail_msg("the verifier refused the filter: %s\n%s", strerror(errno), log);
	close(prog);
	/* A map of the wrong kind where the ring buffer goes is refused, not crashed on. */
	prog = vigil_rawdisk_load_filter(guarded, allowed, statem, allowed, log, sizeof(log));
	assert_true(prog < 0);
	assert_true(log[0] != '\0');
	close(guarded);
	close(allowed);
	close(statem);
	close(events);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),        cmocka_unit_test(test_allow_globs),
	    cmocka_unit_test(test_builtin_list), cmocka_unit_test(test_ring_walk),
	    cmocka_unit_test(test_filter_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
