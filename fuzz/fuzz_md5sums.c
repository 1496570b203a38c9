/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as dpkg admin files (md5sums, status, diversions,
 * .list) through their parsers, with every entry that survives checked for safety. */
#include <stdlib.h>
#include <string.h>

#include "dpkg_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first byte picks the parser; MODE_ALL splits the rest at NUL bytes into an
 * md5sums, a status and a diversions file for one db, so diversions meet entries. */
enum { MODE_MD5SUMS, MODE_STATUS, MODE_DIVERSIONS, MODE_LIST, MODE_ALL, MODE_COUNT };

static void check_path(const char *p)
{
	size_t n = strlen(p);

	/* Absolute, within PATH_MAX, and no component that could leave the root or alias
	 * another entry: the promise of the parsers. */
	if (n < 2 || n > 4095 || p[0] != '/' || p[n - 1] == '/')
		abort();
	if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../"))
		abort();
	if ((n >= 2 && strcmp(p + n - 2, "/.") == 0) || (n >= 3 && strcmp(p + n - 3, "/..") == 0))
		abort();
}

static void check_entries(const vigil_dpkg_db *db, size_t lines)
{
	const vigil_dpkg_entry *e;
	size_t n;

	e = vigil_dpkg_db_entries(db, &n);
	if (n > lines)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (e[i].package == NULL || e[i].package[0] == '\0')
			abort();
		check_path(e[i].path);
		if (e[i].diverted_to)
			check_path(e[i].diverted_to);
		/* Sorted by package then path, duplicates dropped. */
		if (i > 0) {
			int c = strcmp(e[i - 1].package, e[i].package);

			if (c > 0 || (c == 0 && strcmp(e[i - 1].path, e[i].path) >= 0))
				abort();
		}
	}
}

static size_t count_lines(const char *buf, size_t len)
{
	size_t n = 1;

	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n' || buf[i] == '\0'; /* MODE_ALL splits at NUL too */
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data + 1;
	size_t len = size ? size - 1 : 0, lines = count_lines(buf, len);
	vigil_dpkg_db *db;
	vigil_pkg_stats s;
	int r = 0;

	if (size == 0)
		return 0;
	if (vigil_dpkg_db_new(NULL, NULL, &db) != 0)
		abort();
	switch (data[0] % MODE_COUNT) {
	case MODE_MD5SUMS:
		r = vigil_dpkg_parse_md5sums(db, "info/fuzz.md5sums", "fuzz:amd64", buf, len);
		break;
	case MODE_STATUS:
		r = vigil_dpkg_parse_status(db, buf, len, true);
		(void)vigil_dpkg_is_installed(db, "fuzz");
		break;
	case MODE_DIVERSIONS:
		r = vigil_dpkg_parse_diversions(db, buf, len);
		break;
	case MODE_LIST:
		r = vigil_dpkg_parse_list(db, "info/fuzz.list", "fuzz", buf, len);
		break;
	default: {
		const char *part[3] = {buf, "", ""};
		size_t plen[3] = {len, 0, 0};

		for (int k = 0; k < 2; k++) {
			const char *nul = memchr(part[k], '\0', plen[k]);

			if (nul == NULL)
				break;
			part[k + 1] = nul + 1;
			plen[k + 1] = plen[k] - (size_t)(nul + 1 - part[k]);
			plen[k] = (size_t)(nul - part[k]);
		}
		r = vigil_dpkg_parse_md5sums(db, "info/fuzz.md5sums", "fuzz", part[0], plen[0]);
		if (r == 0)
			r = vigil_dpkg_parse_status(db, part[1], plen[1], true);
		if (r == 0)
			r = vigil_dpkg_parse_diversions(db, part[2], plen[2]);
		break;
	}
	}
	if (r != 0 && r != VIGIL_E_NOMEM && r != VIGIL_E_LIMIT)
		abort();
	if (vigil_dpkg_db_finish(db) != 0)
		abort();
	check_entries(db, lines);
	memset(&s, 0, sizeof(s));
	vigil_dpkg_db_counts(db, &s);
	if (s.malformed > lines + 1)
		abort();
	vigil_dpkg_db_free(db);
	return 0;
}
