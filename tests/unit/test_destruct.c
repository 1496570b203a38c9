/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the destruction defense's pure half: the content classifier, the judgement of a
 * write, a rename, a removal after a copy, ransom-note names, the allowlist and the score's
 * weights and decay. Table-driven; each failure names its row. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "destruct_int.h"

/* Deterministic "random" bytes (xorshift), as an encryptor's output looks. */
static void fill_random(uint8_t *b, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)(x >> 24);
	}
}

enum { GEN_LITERAL, GEN_RANDOM, GEN_FILL, GEN_TEXT, GEN_MAGIC_RANDOM, GEN_TAR };

static const struct {
	const char *name;
	int gen;
	const char *bytes; /* literal, fill byte, or magic prefix */
	size_t blen;
	size_t n;
	int want;
	const char *magic;
} class_cases[] = {
    {"empty", GEN_LITERAL, "", 0, 0, DCLASS_EMPTY, NULL},
    {"pdf", GEN_LITERAL, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", 22, 22, DCLASS_KNOWN, "pdf"},
    {"png", GEN_MAGIC_RANDOM, "\x89PNG\r\n\x1a\n", 8, 4096, DCLASS_KNOWN, "png"},
    {"jpeg", GEN_MAGIC_RANDOM, "\xff\xd8\xff\xe0", 4, 4096, DCLASS_KNOWN, "jpeg"},
    {"zip (docx)", GEN_MAGIC_RANDOM, "PK\x03\x04", 4, 8192, DCLASS_KNOWN, "zip"},
    {"gzip", GEN_MAGIC_RANDOM, "\x1f\x8b\x08", 3, 8192, DCLASS_KNOWN, "gzip"},
    {"7z (encrypted archive)", GEN_MAGIC_RANDOM, "7z\xbc\xaf\x27\x1c", 6, 8192, DCLASS_KNOWN, "7z"},
    {"sqlite", GEN_MAGIC_RANDOM, "SQLite format 3\0", 16, 4096, DCLASS_KNOWN, "sqlite"},
    {"elf", GEN_MAGIC_RANDOM,
     "\x7f"
     "ELF\x02\x01",
     6, 4096, DCLASS_KNOWN, "elf"},
    {"mp4 (offset 4)", GEN_MAGIC_RANDOM,
     "\0\0\0\x18"
     "ftyp",
     8, 4096, DCLASS_KNOWN, "mp4"},
    {"zlib (git object)", GEN_MAGIC_RANDOM, "\x78\x01", 2, 4096, DCLASS_KNOWN, "zlib"},
    {"tar (offset 257)", GEN_TAR, NULL, 0, 1024, DCLASS_KNOWN, "tar"},
    {"ascii text", GEN_TEXT, NULL, 0, 4000, DCLASS_TEXT, NULL},
    {"utf-8 text", GEN_LITERAL, "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9\n", 22, 22,
     DCLASS_TEXT, NULL},
    {"utf-8 cut at the end", GEN_LITERAL, "prix: 12 \xe2\x82", 11, 11, DCLASS_TEXT, NULL},
    {"random 8 KiB", GEN_RANDOM, NULL, 0, 8192, DCLASS_HIGH, NULL},
    {"random 200 bytes", GEN_RANDOM, NULL, 0, 200, DCLASS_HIGH, NULL},
    {"random 20 bytes: too short to tell", GEN_RANDOM, NULL, 0, 20, DCLASS_BINARY, NULL},
    {"zeros", GEN_FILL, "\0", 1, 8192, DCLASS_CONST, NULL},
    {"0xCC fill", GEN_FILL, "\xcc", 1, 8192, DCLASS_CONST, NULL},
    {"short zero file", GEN_FILL, "\0", 1, 100, DCLASS_CONST, NULL},
    {"aaaa is not a fill", GEN_LITERAL, "aaaa\n", 5, 5, DCLASS_TEXT, NULL},
    {"binary structure", GEN_LITERAL,
     "\x01\x00\x00\x00\x02\x00\x00\x00\x10\x20\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x10\x20"
     "\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x10\x20\x00\x00",
     36, 36, DCLASS_BINARY, NULL},
};

static void test_classify(void **state)
{
	static uint8_t buf[DESTRUCT_SAMPLE];
	(void)state;
	for (size_t i = 0; i < sizeof(class_cases) / sizeof(*class_cases); i++) {
		destruct_sample s;
		size_t n = class_cases[i].n;
		const char *m;

		memset(buf, 0, sizeof(buf));
		switch (class_cases[i].gen) {
		case GEN_LITERAL:
			memcpy(buf, class_cases[i].bytes, class_cases[i].blen);
			break;
		case GEN_RANDOM:
			fill_random(buf, n, 42 + i);
			break;
		case GEN_FILL:
			memset(buf, class_cases[i].bytes[0], n);
			break;
		case GEN_TEXT:
			for (size_t j = 0; j < n; j++)
				buf[j] = (uint8_t) "The quick brown fox, 1234.\n"[j % 27];
			break;
		case GEN_MAGIC_RANDOM:
			fill_random(buf, n, 7 + i);
			memcpy(buf, class_cases[i].bytes, class_cases[i].blen);
			break;
		case GEN_TAR:
			memset(buf, 0, n);
			memcpy(buf, "file.txt", 8);
			memcpy(buf + 257, "ustar", 5);
			break;
		}
		destruct_classify(buf, n, n, &s);
		if (s.cls != class_cases[i].want)
			fail_msg("%s: class %s, want %s (entropy %u)", class_cases[i].name,
				 destruct_class_name(s.cls),
				 destruct_class_name(class_cases[i].want), s.entropy);
		m = destruct_magic_name(&s);
		if (class_cases[i].magic && (m == NULL || strcmp(m, class_cases[i].magic) != 0))
			fail_msg("%s: format %s, want %s", class_cases[i].name, m ? m : "(none)",
				 class_cases[i].magic);
	}
}

static void test_classify_bounds(void **state)
{
	/* A magic longer than the sample must not be read past its end (ASan catches it). */
	uint8_t *b = malloc(3);
	destruct_sample s;

	(void)state;
	assert_non_null(b);
	memcpy(b, "SQL", 3);
	destruct_classify(b, 3, 3, &s);
	assert_int_not_equal(s.cls, DCLASS_KNOWN);
	free(b);
}

static destruct_sample S(int cls, uint64_t size)
{
	destruct_sample s = {.cls = (uint8_t)cls, .size = size};

	return s;
}

static void test_judge_write(void **state)
{
	static const struct {
		const char *name;
		int before, after;
		uint64_t after_size;
		int want;
	} cases[] = {
	    {"pdf encrypted", DCLASS_KNOWN, DCLASS_HIGH, 5000, DEV_ENCRYPTED},
	    {"text encrypted", DCLASS_TEXT, DCLASS_HIGH, 5000, DEV_ENCRYPTED},
	    {"binary encrypted", DCLASS_BINARY, DCLASS_HIGH, 5000, DEV_ENCRYPTED},
	    {"zeroed", DCLASS_KNOWN, DCLASS_CONST, 5000, DEV_FILLED},
	    {"text zeroed", DCLASS_TEXT, DCLASS_CONST, 5000, DEV_FILLED},
	    {"truncated", DCLASS_TEXT, DCLASS_EMPTY, 0, DEV_TRUNCATED},
	    {"new file written", DCLASS_EMPTY, DCLASS_HIGH, 5000, DEV_NONE},
	    {"new file of zeros", DCLASS_EMPTY, DCLASS_CONST, 5000, DEV_NONE},
	    {"random rewritten randomly", DCLASS_HIGH, DCLASS_HIGH, 5000, DEV_NONE},
	    {"preallocated zeros filled", DCLASS_CONST, DCLASS_HIGH, 5000, DEV_NONE},
	    {"text edited", DCLASS_TEXT, DCLASS_TEXT, 5000, DEV_NONE},
	    {"docx saved", DCLASS_KNOWN, DCLASS_KNOWN, 5000, DEV_NONE},
	    {"sqlite page written", DCLASS_KNOWN, DCLASS_KNOWN, 5000, DEV_NONE},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		destruct_sample b = S(cases[i].before, 5000),
				a = S(cases[i].after, cases[i].after_size);
		int got = destruct_judge_write(&b, &a);

		if (got != cases[i].want)
			fail_msg("%s: %s, want %s", cases[i].name, destruct_evidence_name(got),
				 destruct_evidence_name(cases[i].want));
	}
}

static void test_judge_rename(void **state)
{
	static const struct {
		const char *from, *to;
		int want;
	} cases[] = {
	    {"/d/report.docx", "/d/report.docx.locked", DEV_RENAMED},
	    {"/d/report.docx", "/d/report.docx.[id-1234].crypt", DEV_RENAMED},
	    {"/d/report.pdf", "/d/report.enc", DEV_RENAMED},
	    {"/d/app.log", "/d/app.log.1", DEV_NONE},
	    {"/d/app.log", "/d/app.log.1.gz", DEV_NONE},
	    {"/d/notes.txt", "/d/notes.txt~", DEV_NONE},
	    {"/d/notes.txt", "/d/notes.txt.bak", DEV_NONE},
	    {"/d/notes.txt", "/d/notes.bak", DEV_NONE},
	    {"/d/a.txt", "/d/b.txt", DEV_NONE},
	    {"/d/photo.JPG", "/d/photo.jpg", DEV_NONE},
	    {"/d/.file.swp", "/d/file", DEV_NONE},
	    {"/d/x", "/d/x.tmp", DEV_NONE},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int got = destruct_judge_rename(cases[i].from, strlen(cases[i].from), cases[i].to,
						strlen(cases[i].to));

		if (got != cases[i].want)
			fail_msg("%s -> %s: %s, want %s", cases[i].from, cases[i].to,
				 destruct_evidence_name(got),
				 destruct_evidence_name(cases[i].want));
	}
}

static void test_stem(void **state)
{
	static const struct {
		const char *removed, *written;
		int want;
	} cases[] = {
	    {"/d/a.txt", "/d/a.txt.gz", STEM_LONGER},  {"/d/a.txt", "/d/a.txt.enc", STEM_LONGER},
	    {"/d/a.txt.gz", "/d/a.txt", STEM_SHORTER}, {"/d/a.txt", "/d/a.txtx", STEM_NONE},
	    {"/d/a.txt", "/e/a.txt.gz", STEM_NONE},    {"/d/a.txt", "/d/a.txt", STEM_NONE},
	    {"/d/a.txt~", "/d/a.txt", STEM_SHORTER},   {"/d/a.txt~x", "/d/a.txt", STEM_NONE},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int got = destruct_stem(cases[i].removed, strlen(cases[i].removed),
					cases[i].written, strlen(cases[i].written));

		if (got != cases[i].want)
			fail_msg("%s / %s: %d, want %d", cases[i].removed, cases[i].written, got,
				 cases[i].want);
	}
}

static void test_note_names(void **state)
{
	static const struct {
		const char *name;
		bool want;
	} cases[] = {
	    {"README_TO_DECRYPT.txt", true},
	    {"HOW_TO_RECOVER_FILES.html", true},
	    {"!!!RESTORE!!!.hta", true},
	    {"DECRYPT-INSTRUCTIONS", true},
	    {"readme.md", false},
	    {"restore.py", false},
	    {"notes.txt", false},
	    {"Makefile", false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		if (destruct_is_note_name(cases[i].name, strlen(cases[i].name)) != cases[i].want)
			fail_msg("%s: want %d", cases[i].name, cases[i].want);
}

static void test_allow(void **state)
{
	static const char *const sha = "00112233445566778899aabbccddeeff"
				       "00112233445566778899aabbccddeeff";
	static const struct {
		const char *entry, *exe, *sha;
		bool want, need;
	} cases[] = {
	    {"/usr/bin/dpkg", "/usr/bin/dpkg", NULL, true, false},
	    {"/usr/bin/dpkg", "/usr/bin/dpkg-deb", NULL, false, false},
	    {"/usr/lib/apt/methods/*", "/usr/lib/apt/methods/http", NULL, true, false},
	    {"/usr/lib/apt/methods/*", "/usr/lib/apt/methods/x/y", NULL, false, false},
	    {"/opt/b/"
	     "backup@sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	     "/opt/b/backup", NULL, false, true},
	    {"/opt/b/"
	     "backup@sha256:00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff",
	     "/opt/b/backup", "sha", true, true},
	    {"/opt/b/"
	     "backup@sha256:ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	     "/opt/b/backup", "sha", false, true},
	    {"/opt/b/"
	     "backup@sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	     "/tmp/backup", "sha", false, false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		bool need;
		bool got = destruct_allow_match(cases[i].entry, cases[i].exe,
						cases[i].sha ? sha : NULL, &need);

		if (got != cases[i].want || need != cases[i].need)
			fail_msg("row %zu (%s): match %d need %d", i, cases[i].exe, got, need);
	}
}

static void test_score(void **state)
{
	(void)state;
	/* Two files made unreadable, three removed or emptied, two encrypted copies: each
	 * reaches the threshold; one less does not. */
	assert_true(2 * destruct_weight(DEV_ENCRYPTED) >= DESTRUCT_THRESHOLD);
	assert_true(1 * destruct_weight(DEV_ENCRYPTED) < DESTRUCT_THRESHOLD);
	assert_true(2 * destruct_weight(DEV_FILLED) >= DESTRUCT_THRESHOLD);
	assert_true(3 * destruct_weight(DEV_DELETED) >= DESTRUCT_THRESHOLD);
	assert_true(2 * destruct_weight(DEV_DELETED) < DESTRUCT_THRESHOLD);
	assert_true(3 * destruct_weight(DEV_TRUNCATED) >= DESTRUCT_THRESHOLD);
	assert_true(2 * destruct_weight(DEV_ENCRYPTED_COPY) >= DESTRUCT_THRESHOLD);
	assert_true(3 * destruct_weight(DEV_RENAMED) < DESTRUCT_THRESHOLD);
	assert_true(destruct_weight(DEV_NONE) == 0);
	/* Decay: halved after the half-life; a slow wiper (a file every 10 s) still adds up. */
	assert_true(destruct_decay(8.0, 0) == 8.0);
	assert_true(destruct_decay(8.0, (int64_t)(DESTRUCT_HALF_LIFE_S * 1e9)) > 3.99 &&
		    destruct_decay(8.0, (int64_t)(DESTRUCT_HALF_LIFE_S * 1e9)) < 4.01);
	{
		double s = 0;

		for (int i = 0; i < 3; i++)
			s = destruct_decay(s, 10LL * 1000000000) + destruct_weight(DEV_DELETED);
		assert_true(s >= DESTRUCT_THRESHOLD - 0.1);
	}
	for (int e = 0; e < DEV_COUNT; e++)
		assert_string_not_equal(destruct_evidence_name(e), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify),    cmocka_unit_test(test_classify_bounds),
	    cmocka_unit_test(test_judge_write), cmocka_unit_test(test_judge_rename),
	    cmocka_unit_test(test_stem),        cmocka_unit_test(test_note_names),
	    cmocka_unit_test(test_allow),       cmocka_unit_test(test_score),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
