/* SPDX-License-Identifier: Apache-2.0 */
/* JSON output helpers: escaping, UTF-8 repair and base64 for raw path bytes. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool vigil_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		uint64_t word;
		size_t k;

		/* Paths are nearly always ASCII: eight bytes at a time, no call per byte. */
		if (n - i >= sizeof(word)) {
			memcpy(&word, p + i, sizeof(word));
			if ((word & 0x8080808080808080u) == 0) {
				i += sizeof(word);
				continue;
			}
		}
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_seq(p + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

void vigil_json_string(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, plain = 0; /* p[plain, i) needs no escaping: written in one piece */

	putc('"', f);
	while (i < n) {
		unsigned char c = p[i];
		size_t k;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80 && (k = utf8_seq(p + i, n - i)) > 0) {
			i += k;
			continue;
		}
		fwrite(p + plain, 1, i - plain, f);
		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x80)
				fprintf(f, "\\u%04x", c); /* other controls and DEL */
			else
				fputs("\xef\xbf\xbd",
				      f); /* U+FFFD for each byte that is not UTF-8 */
		}
		plain = ++i;
	}
	fwrite(p + plain, 1, i - plain, f);
	putc('"', f);
}

void vigil_json_base64(FILE *f, const void *s, size_t n)
{
	unsigned char *out = malloc(4 * ((n + 2) / 3) + 1);

	putc('"', f);
	if (out != NULL) {
		int k = EVP_EncodeBlock(out, s, (int)n);
		fwrite(out, 1, (size_t)k, f);
		free(out);
	}
	putc('"', f);
}
