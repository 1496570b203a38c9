/* SPDX-License-Identifier: Apache-2.0 */
/* Finding vocabulary (category and confidence names) and redaction helpers. */
#include <string.h>

#include "detect.h"
#include "vigil/finding.h"

static const char *const category_names[VIGIL_CAT_COUNT] = {
    "private_key", "payment_card", "iban", "ssn", "credential", "encrypted_archive",
};

const char *vigil_category_name(vigil_category c)
{
	return (unsigned)c < VIGIL_CAT_COUNT ? category_names[c] : NULL;
}

int vigil_category_parse(const char *name, vigil_category *out)
{
	for (unsigned i = 0; i < VIGIL_CAT_COUNT; i++) {
		if (strcmp(name, category_names[i]) == 0) {
			*out = (vigil_category)i;
			return 0;
		}
	}
	return VIGIL_E_INVALID;
}

const char *vigil_confidence_name(vigil_confidence c)
{
	switch (c) {
	case VIGIL_CONF_HIGH:
		return "high";
	case VIGIL_CONF_MEDIUM:
		return "medium";
	default:
		return "low";
	}
}

void vigil_redact_keep(char *dst, size_t dstsz, const char *s, size_t n, size_t head, size_t tail)
{
	size_t shown = 0, total = 0, o = 0;

	if (dstsz == 0)
		return;
	/* Count the characters that carry information; separators are kept as they are
	 * so the shape of the value stays readable ("4111 11** **** 1111"). */
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '-')
			total++;
	if (head + tail > total)
		head = tail = 0;
	for (size_t i = 0; i < n && o + 1 < dstsz; i++) {
		char ch = s[i];
		if (ch == ' ' || ch == '-') {
			dst[o++] = ch;
			continue;
		}
		dst[o++] = (shown < head || shown >= total - tail) ? ch : '*';
		shown++;
	}
	dst[o] = '\0';
}
