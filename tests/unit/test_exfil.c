/* SPDX-License-Identifier: Apache-2.0 */
/* The pure parts of the exfiltration-staging defense: which written files count as staged
 * archives (by content), path tests, and the secret-reads counter per process and tree. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exfil_int.h"

struct sniff_case {
	const char *what;
	size_t off; /* where the magic goes */
	const char *magic;
	size_t len;
	vigil_container want;
};

static void test_sniff(void **state)
{
	static const struct sniff_case cases[] = {
	    {"zip", 0, "PK\x03\x04", 4, VIGIL_CONT_ZIP},
	    {"gzip", 0, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10, VIGIL_CONT_GZIP},
	    {"xz", 0,
	     "\xfd"
	     "7zXZ\x00",
	     6, VIGIL_CONT_XZ},
	    {"zstd", 0, "\x28\xb5\x2f\xfd", 4, VIGIL_CONT_ZSTD},
	    {"7z", 0, "7z\xbc\xaf\x27\x1c", 6, VIGIL_CONT_7Z},
	    {"rar", 0, "Rar!\x1a\x07\x01\x00", 8, VIGIL_CONT_RAR},
	    {"bzip2", 0, "BZh9\x31\x41\x59\x26\x53\x59", 10, VIGIL_CONT_BZIP2},
	    {"tar", 257,
	     "ustar\x00"
	     "00",
	     8, VIGIL_CONT_TAR},
	    /* Not staging: static libraries and .deb packages, plain text named .zip. */
	    {"ar", 0, "!<arch>\n", 8, VIGIL_CONT_NONE},
	    {"text", 0, "PK is not enough", 16, VIGIL_CONT_NONE},
	    {"empty", 0, "", 0, VIGIL_CONT_NONE},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		uint8_t buf[EXFIL_SNIFF_BYTES];
		const struct sniff_case *c = &cases[i];
		size_t n = c->len ? sizeof(buf) : 0;
		vigil_container got;

		memset(buf, 'a', sizeof(buf));
		memcpy(buf + c->off, c->magic, c->len);
		if (c->want == VIGIL_CONT_TAR) {
			/* A valid header checksum: the sum of the header with the field as spaces.
			 */
			unsigned sum = 0;
			memset(buf, 0, 512);
			memcpy(buf, "file.txt", 8);
			memcpy(buf + 257, c->magic, c->len);
			memcpy(buf + 100, "0000644", 7);
			memcpy(buf + 124, "00000000000", 11);
			buf[156] = '0';
			memset(buf + 148, ' ', 8);
			for (size_t k = 0; k < 512; k++)
				sum += buf[k];
			snprintf((char *)buf + 148, 8, "%06o", sum);
		}
		got = exfil_sniff(buf, n);
		if (got != c->want)
			fail_msg("%s: got %s, want %s", c->what, vigil_container_name(got),
				 vigil_container_name(c->want));
	}
}

static void test_path_under(void **state)
{
	static const struct {
		const char *dir, *path;
		bool want;
	} cases[] = {
	    {"/tmp", "/tmp", true},           {"/tmp", "/tmp/x.zip", true},
	    {"/tmp", "/tmpfoo/x.zip", false}, {"/tmp", "/tm", false},
	    {"/", "/anything", true},         {"/var/tmp", "/var/tmp/a/b/c", true},
	    {"/var/tmp", "/var/tm", false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		if (exfil_path_under(cases[i].dir, cases[i].path, strlen(cases[i].path)) !=
		    cases[i].want)
			fail_msg("%s under %s: want %d", cases[i].path, cases[i].dir,
				 cases[i].want);
}

static void test_strip_deleted(void **state)
{
	bool d;
	const char *p = "/tmp/a.zip (deleted)";

	(void)state;
	assert_int_equal(exfil_strip_deleted(p, strlen(p), &d), strlen("/tmp/a.zip"));
	assert_true(d);
	p = "/tmp/a.zip";
	assert_int_equal(exfil_strip_deleted(p, strlen(p), &d), strlen(p));
	assert_false(d);
	p = " (deleted)"; /* the whole name: not a suffix of a path */
	assert_int_equal(exfil_strip_deleted(p, strlen(p), &d), strlen(p));
	assert_false(d);
}

#define S 1000000ll

static void test_reads_one_process(void **state)
{
	static exfil_reads r;
	exfil_tracker *t = NULL;

	(void)state;
	exfil_reads_init(&r, 10, 60 * S);
	/* The same file again and again is one file. */
	for (int i = 0; i < 30; i++)
		assert_null(exfil_reads_note(&r, 100, 50, 7, i * S / 10));
	/* Nine distinct: nothing; the tenth: the process's own tracker fires. */
	for (uint32_t f = 10; f < 18; f++)
		assert_null(exfil_reads_note(&r, 100, 50, f, 5 * S));
	t = exfil_reads_note(&r, 100, 50, 18, 6 * S);
	assert_non_null(t);
	assert_int_equal(t->pid, 100);
	assert_false(t->tree);
	assert_int_equal(t->n, 10);
	exfil_reads_fired(&r, t, 6 * S);
	/* Quiet for the window, even with more files; the parent's tree was quieted too. */
	for (uint32_t f = 20; f < 40; f++)
		assert_null(exfil_reads_note(&r, 100, 50, f, 7 * S));
	/* After the window, a new burst alerts again. */
	for (uint32_t f = 100; f < 109; f++)
		assert_null(exfil_reads_note(&r, 100, 50, f, 70 * S));
	assert_non_null(exfil_reads_note(&r, 100, 50, 109, 70 * S));
}

static void test_reads_window(void **state)
{
	static exfil_reads r;

	(void)state;
	exfil_reads_init(&r, 10, 60 * S);
	/* One file every 10 s: never ten within 60 s. */
	for (uint32_t f = 0; f < 50; f++)
		assert_null(exfil_reads_note(&r, 200, 1, f, (int64_t)f * 10 * S));
}

static void test_reads_tree(void **state)
{
	static exfil_reads r;
	exfil_tracker *t = NULL;

	(void)state;
	exfil_reads_init(&r, 10, 60 * S);
	/* A shell loop: one child per file. Each child has one file; the parent's tree ten. */
	for (uint32_t f = 0; f < 9; f++)
		assert_null(exfil_reads_note(&r, 1000 + (int)f, 999, f, S));
	t = exfil_reads_note(&r, 1009, 999, 9, S);
	assert_non_null(t);
	assert_true(t->tree);
	assert_int_equal(t->pid, 999);
	exfil_reads_fired(&r, t, S);
	assert_null(exfil_reads_note(&r, 1010, 999, 10, 2 * S));
	/* Children of init are not a tree (every daemon is one). */
	exfil_reads_init(&r, 10, 60 * S);
	for (uint32_t f = 0; f < 20; f++)
		assert_null(exfil_reads_note(&r, 2000 + (int)f, 1, f, S));
}

static void test_reads_many_processes(void **state)
{
	static exfil_reads r;

	(void)state;
	/* More processes than slots: the table recycles the idlest, nothing overflows. */
	exfil_reads_init(&r, 3, 60 * S);
	for (int p = 0; p < 10 * EXFIL_READS_SLOTS; p++)
		assert_null(exfil_reads_note(&r, 5000 + p, 0, (uint32_t)p, (int64_t)p));
	/* The threshold is clamped. */
	exfil_reads_init(&r, 0, S);
	assert_int_equal(r.threshold, 1);
	assert_non_null(exfil_reads_note(&r, 1, 0, 1, 0));
	exfil_reads_init(&r, 1000, S);
	assert_int_equal(r.threshold, EXFIL_READS_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sniff),
	    cmocka_unit_test(test_path_under),
	    cmocka_unit_test(test_strip_deleted),
	    cmocka_unit_test(test_reads_one_process),
	    cmocka_unit_test(test_reads_window),
	    cmocka_unit_test(test_reads_tree),
	    cmocka_unit_test(test_reads_many_processes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
