/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of alert: one `vigil watch` alert as one line of valid JSON, whatever bytes the
 * path, the command line and the reason hold. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alert.h"
#include "json.h"
#include "meta.h"

/* ---- a strict JSON checker (RFC 8259), for asserting the output is valid ---- */

static const char *ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

static const char *value(const char *s, int depth);

static const char *string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	while (*s != '"') {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20)
			return NULL; /* raw control characters are not allowed */
		if (c == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", s[i]) || s[i] == '\0')
						return NULL;
				s += 5;
				continue;
			}
			if (!strchr("\"\\/bfnrt", *s) || *s == '\0')
				return NULL;
		}
		s++;
	}
	return s + 1;
}

static const char *number(const char *s)
{
	const char *b = s;

	if (*s == '-')
		s++;
	while (*s >= '0' && *s <= '9')
		s++;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	return s == b ? NULL : s;
}

static const char *value(const char *s, int depth)
{
	if (depth > 32)
		return NULL;
	s = ws(s);
	if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';
		bool obj = *s == '{';

		s = ws(s + 1);
		if (*s == close)
			return s + 1;
		for (;;) {
			if (obj) {
				if ((s = string(ws(s))) == NULL)
					return NULL;
				s = ws(s);
				if (*s++ != ':')
					return NULL;
			}
			if ((s = value(s, depth + 1)) == NULL)
				return NULL;
			s = ws(s);
			if (*s == ',') {
				s++;
				continue;
			}
			return *s == close ? s + 1 : NULL;
		}
	}
	if (*s == '"')
		return string(s);
	if (strncmp(s, "true", 4) == 0)
		return s + 4;
	if (strncmp(s, "false", 5) == 0)
		return s + 5;
	if (strncmp(s, "null", 4) == 0)
		return s + 4;
	return number(s);
}

static bool json_valid(const char *s, size_t len)
{
	const char *end;

	if (strlen(s) != len || memchr(s, '\n', len) || memchr(s, '\r', len))
		return false;
	end = value(s, 0);
	return end != NULL && *ws(end) == '\0';
}

/* Builds an alert and checks it is one valid JSON line; returns it (free it). */
static char *build(const vigil_alert *a, size_t max)
{
	char *json = NULL;
	size_t len = 0;

	assert_int_equal(vigil_alert_format(a, "host-1", max, &json, &len), 0);
	assert_non_null(json);
	if (!json_valid(json, len))
		fail_msg("not one line of valid JSON: %s", json);
	return json;
}

static void test_severity(void **state)
{
	static const struct {
		int sev;
		const char *name;
	} cases[] = {{VIGIL_SEV_CRITICAL, "critical"},
		     {VIGIL_SEV_ERROR, "error"},
		     {VIGIL_SEV_WARNING, "warning"},
		     {VIGIL_SEV_NOTICE, "notice"},
		     {VIGIL_SEV_INFO, "info"},
		     {0, "unknown"},
		     {7, "unknown"},
		     {-1, "unknown"}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		assert_string_equal(vigil_severity_name(cases[i].sev), cases[i].name);
}

static void test_time(void **state)
{
	static const struct {
		int64_t us;
		const char *text;
	} cases[] = {
	    {0, "1970-01-01T00:00:00.000000Z"},
	    {1700000000123456LL, "2023-11-14T22:13:20.123456Z"},
	    {-1, "1969-12-31T23:59:59.999999Z"},
	    {951782400000001LL, "2000-02-29T00:00:00.000001Z"},
	};
	char out[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		vigil_alert_time(out, cases[i].us);
		assert_string_equal(out, cases[i].text);
	}
}

static void test_agent(void **state)
{
	vigil_alert a = {.time_us = 1700000000123456LL,
			 .id = "abc-1",
			 .kind = "agent",
			 .event = "started",
			 .severity = VIGIL_SEV_NOTICE,
			 .reason = "vigil watch started."};
	char *j;

	(void)state;
	j = build(&a, 4096);
	assert_string_equal(j, "{\"@timestamp\":\"2023-11-14T22:13:20.123456Z\",\"id\":\"abc-1\","
			       "\"host\":\"host-1\",\"kind\":\"agent\",\"event\":\"started\","
			       "\"severity\":\"notice\",\"action\":\"alerted\","
			       "\"reason\":\"vigil watch started.\"}");
	free(j);
}

static void write_extra(FILE *f, void *user)
{
	fprintf(f, ",\"extra\":%d", *(int *)user);
}

/* Hostile bytes everywhere: newlines, quotes, control characters, invalid UTF-8. */
static void test_hostile_strings(void **state)
{
	char exe[] = "/tmp/e\"vil\n\xff\xfe";
	char cmd[] = "sh -c 'x\ny' \x01\x1b[31m \xc3\x28";
	char comm[] = "a\nb";
	vigil_proc *p = vigil_proc_new_bare(42, VIGIL_PROC_ALIVE);
	const char path[] = "/srv/new\nline\xff";
	int extra = 7;
	vigil_alert a = {.time_us = 1,
			 .kind = "integrity",
			 .severity = VIGIL_SEV_WARNING,
			 .path = path,
			 .path_len = sizeof(path) - 1,
			 .change_name = "transient",
			 .has_process = true,
			 .reason = "bad \xff reason \"quoted\"\n.",
			 .extra = write_extra,
			 .extra_user = &extra};
	char *j;

	(void)state;
	assert_non_null(p);
	p->ppid = 1;
	p->has_uids = true;
	p->uid = 1000;
	p->euid = 0;
	p->exe = strdup(exe);
	p->cmdline = strdup(cmd);
	p->cmdline_len = strlen(cmd);
	memcpy(p->comm, comm, sizeof(comm));
	a.proc = p;
	j = build(&a, 65536);
	assert_non_null(strstr(j, "\"path\":\"/srv/new\\nline\xef\xbf\xbd\""));
	assert_non_null(strstr(j, "\"path_bytes_b64\":\""));
	assert_non_null(strstr(j, "\"change\":\"transient\",\"attributes\":[]"));
	assert_non_null(strstr(j, "\"exe\":\"/tmp/e\\\"vil\\n\xef\xbf\xbd\xef\xbf\xbd\""));
	assert_non_null(strstr(j, "\"uid\":1000,\"euid\":0,\"auid\":null"));
	assert_non_null(strstr(j, "\\u001b[31m"));
	assert_non_null(strstr(j, ",\"extra\":7}"));
	assert_null(strstr(j, "\"exited\""));
	free(j);
	vigil_proc_unref(p);
}

static void test_process_states(void **state)
{
	vigil_proc *gone = vigil_proc_new_bare(77, VIGIL_PROC_EXITED);
	vigil_alert a = {.kind = "integrity",
			 .severity = VIGIL_SEV_WARNING,
			 .path = "/x",
			 .path_len = 2,
			 .change_name = "removed",
			 .has_process = true,
			 .reason = "r."};
	char *j;

	(void)state;
	/* No process known (inotify, or found by a check): null. */
	j = build(&a, 4096);
	assert_non_null(strstr(j, "\"process\":null"));
	free(j);
	/* Gone before it could be read: pid only, flagged, nothing guessed. */
	a.proc = gone;
	j = build(&a, 4096);
	assert_non_null(
	    strstr(j, "\"process\":{\"pid\":77,\"ppid\":null,\"exe\":null,\"cmdline\":null,"
		      "\"uid\":null,\"euid\":null,\"auid\":null,\"name\":null,"
		      "\"exited\":true}"));
	free(j);
	/* Agent alerts carry no process unless asked. */
	a.has_process = false;
	j = build(&a, 4096);
	assert_null(strstr(j, "\"process\""));
	free(j);
	vigil_proc_unref(gone);
}

static void test_change_members(void **state)
{
	vigil_entry e = {0};
	vigil_change c = {.path = "/etc/passwd",
			  .path_len = 11,
			  .kind = VIGIL_CHANGE_ADDED,
			  .attrs = VIGIL_ATTR_TYPE | VIGIL_ATTR_SIZE,
			  .new_entry = &e};
	vigil_alert a = {.kind = "integrity",
			 .severity = VIGIL_SEV_WARNING,
			 .change = &c,
			 .has_process = true,
			 .reason = "added."};
	char *j;

	(void)state;
	e.attrs = VIGIL_ATTR_TYPE | VIGIL_ATTR_SIZE;
	e.type = S_IFREG;
	e.size = 5;
	j = build(&a, 4096);
	assert_non_null(strstr(j, "\"path\":\"/etc/passwd\",\"change\":\"added\","
				  "\"attributes\":[\"type\",\"size\"],"
				  "\"new\":{\"type\":\"file\",\"size\":5},\"process\":null"));
	free(j);
}

/* Too long for the sink: built again with the command line cut and without old/new
 * values, and marked; if even that is too long, refused. */
static void test_truncation(void **state)
{
	vigil_proc *p = vigil_proc_new_bare(5, VIGIL_PROC_ALIVE);
	vigil_entry e = {0};
	vigil_change c = {.path = "/a",
			  .path_len = 2,
			  .kind = VIGIL_CHANGE_ADDED,
			  .attrs = VIGIL_ATTR_SIZE,
			  .new_entry = &e};
	vigil_alert a = {.kind = "integrity",
			 .severity = VIGIL_SEV_WARNING,
			 .change = &c,
			 .has_process = true,
			 .reason = "r."};
	char *j = NULL;
	size_t len;

	(void)state;
	e.attrs = VIGIL_ATTR_SIZE;
	p->cmdline_len = 4000;
	p->cmdline = malloc(p->cmdline_len + 1);
	memset(p->cmdline, 'c', p->cmdline_len);
	p->cmdline[p->cmdline_len] = '\0';
	a.proc = p;
	j = build(&a, 1024);
	assert_true(strlen(j) <= 1024);
	assert_non_null(strstr(j, "\"truncated\":true"));
	assert_non_null(strstr(j, "\"cmdline_truncated\":true"));
	assert_null(strstr(j, "\"new\":"));
	free(j);
	assert_int_equal(vigil_alert_format(&a, "host-1", 100, &j, &len), VIGIL_E_LIMIT);
	assert_null(j);
	/* Roomy enough: whole, not marked. */
	j = build(&a, 65536);
	assert_null(strstr(j, "truncated"));
	assert_non_null(strstr(j, "\"new\":{\"size\":0}"));
	free(j);
	vigil_proc_unref(p);
}

/* Longer than the formatting stream's own buffer: the alert arrives whole, in order. */
static void test_long_alert(void **state)
{
	vigil_proc *p = vigil_proc_new_bare(9, VIGIL_PROC_ALIVE);
	vigil_alert a = {.kind = "integrity",
			 .severity = VIGIL_SEV_WARNING,
			 .path = "/l",
			 .path_len = 2,
			 .change_name = "removed",
			 .has_process = true,
			 .reason = "r."};
	char *j, *c;
	size_t n = 20000;

	(void)state;
	assert_non_null(p);
	p->cmdline_len = n;
	assert_non_null(p->cmdline = malloc(n + 1));
	for (size_t i = 0; i < n; i++)
		p->cmdline[i] = (char)('a' + i % 26);
	p->cmdline[n] = '\0';
	a.proc = p;
	j = build(&a, 32768);
	assert_non_null(c = strstr(j, "\"cmdline\":\""));
	assert_memory_equal(c + 11, p->cmdline, n);
	assert_int_equal(c[11 + n], '"');
	assert_non_null(strstr(j, ",\"action\":\"alerted\",\"reason\":\"r.\"}"));
	assert_null(strstr(j, "truncated"));
	free(j);
	vigil_proc_unref(p);
}

/* Paths that are ASCII, UTF-8 or neither, past the ASCII fast path of the check: only
 * the last gets its bytes in base64. */
static void test_path_utf8(void **state)
{
	static const struct {
		const char *path;
		bool b64;
	} t[] = {
	    {"/srv/plain/ascii/name.txt", false},
	    {"/srv/caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80", false},
	    {"/srv/a-long-ascii-prefix-before-the-bad-byte/\xff", true},
	    {"/srv/overlong/\xc0\xaf", true},
	    {"/srv/surrogate/\xed\xa0\x80", true},
	    {"/srv/cut/\xe2\x82", true},
	    {"/x\xff/then/a/long/ascii/tail", true},
	    {"/\xc3\xa9/then/a/long/ascii/tail", false},
	    {"/a/b/c/d/e/f/g/h/\xc3", true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		vigil_alert a = {.kind = "integrity",
				 .severity = VIGIL_SEV_WARNING,
				 .path = t[i].path,
				 .path_len = strlen(t[i].path),
				 .change_name = "removed",
				 .reason = "r."};
		char *j = build(&a, 4096);

		assert_int_equal(strstr(j, "\"path_bytes_b64\":\"") != NULL, t[i].b64);
		assert_int_equal(vigil_utf8_valid(t[i].path, strlen(t[i].path)), !t[i].b64);
		free(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_severity),       cmocka_unit_test(test_time),
	    cmocka_unit_test(test_agent),          cmocka_unit_test(test_hostile_strings),
	    cmocka_unit_test(test_process_states), cmocka_unit_test(test_change_members),
	    cmocka_unit_test(test_truncation),     cmocka_unit_test(test_long_alert),
	    cmocka_unit_test(test_path_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
