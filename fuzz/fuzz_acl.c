/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as a stored acl blob (and as an xattrs blob) through
 * vigil_entry_format, with its snprintf-like promises checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_acl: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Text an ACL can format to: entries of [default:](user|group|mask|other):[digits]:[rwx-]. */
static int acl_text_ok(const char *s)
{
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789:,-", *s))
			return 0;
	return 1;
}

static void check_format(const vigil_entry *e, uint32_t attr, int (*text_ok)(const char *))
{
	char small[16];
	size_t need, again;
	char *full;

	/* A copy on the heap, exactly as long as the promise says, so ASan sees a byte
	 * written past it. */
	need = vigil_entry_format(e, attr, NULL, 0);
	CHECK(need > 0); /* "-", text or "invalid:..." */
	full = malloc(need + 1);
	CHECK(full != NULL);
	again = vigil_entry_format(e, attr, full, need + 1);
	CHECK(again == need);
	CHECK(strlen(full) == need);
	if (strncmp(full, "invalid:", 8) == 0) {
		/* The whole blob in hex, nothing else. */
		const size_t len = attr == VIGIL_ATTR_ACL ? e->acl_len : e->xattrs_len;

		CHECK(need == 8 + 2 * len);
		for (size_t i = 8; i < need; i++)
			CHECK(strchr("0123456789abcdef", full[i]) != NULL);
	} else if (text_ok != NULL) {
		CHECK(text_ok(full));
	}
	/* Truncated output is a prefix of the full one, always terminated. */
	memset(small, 'X', sizeof(small));
	again = vigil_entry_format(e, attr, small, sizeof(small));
	CHECK(again == need);
	CHECK(strlen(small) == (need < sizeof(small) ? need : sizeof(small) - 1));
	CHECK(strncmp(small, full, strlen(small)) == 0);
	free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy of exactly `size` bytes: a read past the blob is caught. */
	uint8_t *blob = malloc(size ? size : 1);
	vigil_entry e;

	CHECK(blob != NULL);
	if (size > 0)
		memcpy(blob, data, size);
	memset(&e, 0, sizeof(e));
	e.acl = size > 0 ? blob : NULL;
	e.acl_len = size;
	e.attrs = VIGIL_ATTR_ACL | VIGIL_ATTR_XATTRS;
	check_format(&e, VIGIL_ATTR_ACL, acl_text_ok);
	/* The other blob parser on the same bytes: names and values are shown as they are,
	 * so only the lengths are checked. */
	e.acl = NULL;
	e.acl_len = 0;
	e.xattrs = size > 0 ? blob : NULL;
	e.xattrs_len = size;
	check_format(&e, VIGIL_ATTR_XATTRS, NULL);
	free(blob);
	return 0;
}
