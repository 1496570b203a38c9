/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as an integrity policy (vigil_config_parse), with the
 * parsed policy, its error message, its digest and path matching checked. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz-input"

/* An error is "NAME:LINE: text" with 1 <= LINE <= the lines in the input (+1 for a last
 * line without newline), always NUL-terminated within the buffer. */
static void check_error(const char *err, size_t cap, const uint8_t *data, size_t size)
{
	size_t lines = 1, line = 0;
	const char *s;

	if (memchr(err, '\0', cap) == NULL)
		abort();
	if (strncmp(err, NAME ":", sizeof(NAME)) != 0)
		abort();
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	s = err + sizeof(NAME);
	if (*s < '1' || *s > '9')
		abort();
	for (; *s >= '0' && *s <= '9'; s++)
		line = line * 10 + (size_t)(*s - '0');
	if (*s != ':' || line > lines)
		abort();
}

/* Lists are NULL-terminated, never NULL, sorted and without duplicates. */
static void check_list(char *const *v)
{
	if (v == NULL)
		abort();
	for (size_t i = 0; v[i] != NULL; i++)
		if (v[i][0] == '\0' || (i > 0 && strcmp(v[i - 1], v[i]) >= 0))
			abort();
}

static bool plain(const char *s)
{
	return strpbrk(s, "*?[]\\") == NULL;
}

static void check_match(const vigil_config *c, const char *path)
{
	vigil_match m;

	if (!vigil_config_match(c, path, strlen(path), &m))
		return;
	if (m.rule >= c->nrules || m.policy > VIGIL_POLICY_PRESENCE)
		abort();
	if (!m.excluded && m.attrs != (m.policy == VIGIL_POLICY_PRESENCE ? (uint32_t)VIGIL_ATTR_TYPE
									 : c->rules[m.rule].attrs))
		abort();
}

static void check_config(const vigil_config *c)
{
	if (c->source == NULL || strcmp(c->source, NAME) != 0 || c->hash >= VIGIL_HASH_COUNT)
		abort();
	check_list(c->excludes);
	check_list(c->boot_devices);
	if (c->boot_auto && c->boot_devices[0] != NULL)
		abort();
	for (size_t i = 0; i < c->nrules; i++) {
		const vigil_rule *r = &c->rules[i];
		size_t len = strlen(r->root);
		char path[512];
		vigil_match m;

		if (r->root[0] != '/' || strstr(r->root, "//") != NULL ||
		    (len > 1 && r->root[len - 1] == '/') || r->line == 0)
			abort();
		if (r->attrs == 0 || (r->attrs & ~(uint32_t)VIGIL_ATTR_ALL) != 0)
			abort();
		check_list(r->excludes);
		check_list(r->growing);
		check_list(r->presence);
		/* A plain root is governed by its own rule: nothing is deeper, and a plain
		 * root wins over a pattern of the same depth. */
		if (plain(r->root) && (!vigil_config_match(c, r->root, len, &m) || m.rule != i))
			abort();
		if (len < 400) {
			memcpy(path, r->root, len);
			memcpy(path + len, "/x/y.log", sizeof("/x/y.log"));
			check_match(c, path);
			path[len + 2] = '\0';
			check_match(c, path);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	vigil_config *c = NULL, *again = NULL;
	uint8_t d1[32], d2[32], d3[32];
	int r;

	memset(err, 'x', sizeof(err));
	r = vigil_config_parse(NAME, (const char *)data, size, &c, err, sizeof(err));
	if (r != 0) {
		if (c != NULL || (r != VIGIL_E_FORMAT && r != VIGIL_E_NOMEM))
			abort();
		/* Over 4 MiB the message is "NAME: larger than ...", without a line. */
		if (r == VIGIL_E_FORMAT && size <= (4u << 20))
			check_error(err, sizeof(err), data, size);
		return 0;
	}
	if (c == NULL)
		abort();
	check_config(c);
	/* The digest is a function of the policy: the same twice, and the same for the same
	 * bytes parsed again. */
	vigil_config_digest(c, d1);
	vigil_config_digest(c, d2);
	if (vigil_config_parse(NAME, (const char *)data, size, &again, NULL, 0) != 0)
		abort();
	vigil_config_digest(again, d3);
	if (memcmp(d1, d2, 32) != 0 || memcmp(d1, d3, 32) != 0)
		abort();
	check_match(c, "/");
	check_match(c, "/etc/passwd");
	vigil_config_free(again);
	vigil_config_free(c);
	return 0;
}
