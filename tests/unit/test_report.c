/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of JSON escaping, UTF-8 repair and the report backends. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "vigil/report.h"

static char *capture(void (*fn)(FILE *, const char *, size_t), const char *s, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, s, n);
	fclose(f);
	return buf;
}

static void json_string_fn(FILE *f, const char *s, size_t n)
{
	vigil_json_string(f, s, n);
}

static void base64_fn(FILE *f, const char *s, size_t n)
{
	vigil_json_base64(f, s, n);
}

static void test_utf8_valid(void **state)
{
	static const struct {
		const char *s;
		bool valid;
	} cases[] = {
	    {"plain", true},
	    {"caf\xc3\xa9", true},
	    {"\xe2\x82\xac", true},     /* euro sign */
	    {"\xf0\x9f\x94\x91", true}, /* key emoji */
	    {"\xff", false},
	    {"\xc0\xaf", false},         /* overlong '/' */
	    {"\xed\xa0\x80", false},     /* surrogate */
	    {"\xe2\x82", false},         /* truncated */
	    {"\xf4\x90\x80\x80", false}, /* above U+10FFFF */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		if (vigil_utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].valid)
			fail_msg("case %zu (%s)", i, cases[i].s);
}

static void test_json_string(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} cases[] = {
	    {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
	    {"new\nline\ttab", 12, "\"new\\nline\\ttab\""},
	    {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
	    {"bad\xffname", 8, "\"bad\xef\xbf\xbdname\""},
	    {"caf\xc3\xa9", 5, "\"caf\xc3\xa9\""},
	    {"nul\0in", 6, "\"nul\\u0000in\""},
	    {"", 0, "\"\""},
	    {"\x7f\r", 2, "\"\\u007f\\r\""},
	    /* Each byte of a bad sequence is one U+FFFD; good text around it stays whole. */
	    {"\xc0\xaf/\xed\xa0\x80\xe2\x82\xac", 9,
	     "\"\xef\xbf\xbd\xef\xbf\xbd/\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xe2\x82\xac\""},
	    {"\xf0\x9f\x94\x91\"\xe2\x82", 7, "\"\xf0\x9f\x94\x91\\\"\xef\xbf\xbd\xef\xbf\xbd\""},
	    {"end\\", 4, "\"end\\\\\""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *got = capture(json_string_fn, cases[i].in, cases[i].n);
		assert_string_equal(got, cases[i].out);
		free(got);
	}
	char *b = capture(base64_fn, "bad\xffname", 8);
	assert_string_equal(b, "\"YmFk/25hbWU=\"");
	free(b);
}

static void test_json_report_line(void **state)
{
	vigil_finding f = {
	    .path = "/srv/x\xff.txt",
	    .path_len = 11,
	    .member = "a.zip!/b.txt",
	    .category = VIGIL_CAT_PAYMENT_CARD,
	    .detector = "card.visa",
	    .line = 3,
	    .offset = 42,
	    .confidence = VIGIL_CONF_HIGH,
	};
	vigil_report *r;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	(void)state;

	strcpy(f.redacted, "411111******1111");
	strcpy(f.fingerprint, "sha256:00");
	assert_int_equal(vigil_report_new(VIGIL_FORMAT_JSON, out, false, &r), 0);
	assert_int_equal(vigil_report_finding(r, &f), 0);
	vigil_report_free(r);
	fclose(out);
	assert_non_null(strstr(buf, "\"path\":\"/srv/x\xef\xbf\xbd.txt\""));
	assert_non_null(strstr(buf, "\"path_bytes_b64\":\"L3Nydi94/y50eHQ=\""));
	assert_non_null(strstr(buf, "\"member\":\"a.zip!/b.txt\""));
	assert_non_null(strstr(buf, "\"category\":\"payment_card\""));
	assert_non_null(strstr(buf, "\"line\":3,\"offset\":42"));
	assert_non_null(strstr(buf, "\"confidence\":\"high\"}\n"));
	free(buf);
}

static void test_text_escapes_names(void **state)
{
	vigil_finding f = {
	    .path = "/tmp/evil\n\033[2Jname",
	    .path_len = 19,
	    .category = VIGIL_CAT_SSN,
	    .detector = "ssn.us",
	    .line = 1,
	};
	vigil_report *r;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	(void)state;

	strcpy(f.redacted, "***-**-7788");
	assert_int_equal(vigil_report_new(VIGIL_FORMAT_TEXT, out, false, &r), 0);
	assert_int_equal(vigil_report_finding(r, &f), 0);
	vigil_report_free(r);
	fclose(out);
	/* A name cannot forge an output line or send terminal escapes. */
	assert_non_null(strstr(buf, "/tmp/evil\\x0a\\x1b[2Jname"));
	assert_null(strchr(buf, '\033'));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8_valid),
	    cmocka_unit_test(test_json_string),
	    cmocka_unit_test(test_json_report_line),
	    cmocka_unit_test(test_text_escapes_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
