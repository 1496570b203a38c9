/* SPDX-License-Identifier: Apache-2.0 */
/* US Social Security number validators: the dashed form anywhere, and bare or spaced
 * nine-digit numbers right after an "SSN" / "social security number" keyword. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ascii.h"
#include "detect.h"

/* How far after the keyword the number may start ("SSN #: ", "Social Security No. is "). */
#define KEYWORD_GAP 24

static unsigned num(const uint8_t *p, size_t n)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(p[i] - '0');
	return v;
}

/* SSA rules for numbers that can be issued (Program Operations Manual RM 10201.035):
 * area 000, 666 and 900-999 are never assigned, nor group 00 or serial 0000. A few
 * numbers printed on sample cards and in advertising were used by many people and are
 * void. */
static bool ssa_ok(unsigned area, unsigned group, unsigned serial)
{
	static const unsigned voided[][3] = {
	    {78, 5, 1120},
	    {219, 9, 9999},
	    {457, 55, 5462},
	    {123, 45, 6789},
	};

	if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
		return false;
	/* Documentation numbers: 123-45-xxxx, and groups of one repeated digit each
	 * (111-22-3333, 555-55-5555) are examples, never issued numbers in data. */
	if (area == 123 && group == 45)
		return false;
	if (area % 111 == 0 && group % 11 == 0 && serial % 1111 == 0)
		return false;
	for (size_t i = 0; i < sizeof(voided) / sizeof(voided[0]); i++)
		if (area == voided[i][0] && group == voided[i][1] && serial == voided[i][2])
			return false;
	return true;
}

/* Whether the number occupying [s, e) stands on its own: not inside a word, not one part
 * of a longer dashed or spaced digit sequence. */
static bool bounded(const vigil_check *c, size_t s, size_t e, bool spaced)
{
	const uint8_t *p = c->buf;

	if (s > 0 && (ascii_is_alnum(p[s - 1]) || p[s - 1] == '-'))
		return false;
	if (e < c->len) {
		uint8_t r = p[e];
		if (ascii_is_alnum(r))
			return false;
		if (r == '-' || (spaced && r == ' ')) {
			if (e + 1 >= c->len ? !c->eof : ascii_is_digit(p[e + 1]))
				return false;
		}
	} else if (!c->eof) {
		return false;
	}
	return true;
}

static void emit_ssn(vigil_check *c, size_t s, size_t e, vigil_confidence conf)
{
	const uint8_t *p = c->buf;
	uint8_t *d = c->scratch;
	size_t n = 0;
	vigil_hit h;

	for (size_t i = s; i < e; i++)
		if (ascii_is_digit(p[i]))
			d[n++] = p[i];
	memset(&h, 0, sizeof(h));
	h.start = s;
	h.end = e;
	h.category = VIGIL_CAT_SSN;
	h.detector = "ssn.us";
	h.confidence = conf;
	/* The last four digits only, as printed on statements ("***-**-6789"). */
	vigil_redact_keep(h.redacted, sizeof(h.redacted), (const char *)p + s, e - s, 0, 4);
	h.norm = d;
	h.norm_len = n;
	c->emit(c, &h);
}

/* Reads "ddd-dd-dddd", "ddd dd dddd" or "ddddddddd" at p[s]. On success returns the end
 * and sets *sep to '-', ' ' or 0. */
static size_t read_ssn(const vigil_check *c, size_t s, uint8_t *sep)
{
	const uint8_t *p = c->buf;
	size_t len = c->len;

	if (s + 9 <= len) {
		size_t i;
		for (i = 0; i < 9 && ascii_is_digit(p[s + i]); i++)
			;
		if (i == 9) {
			*sep = 0;
			return s + 9;
		}
	}
	if (s + 11 <= len && (p[s + 3] == '-' || p[s + 3] == ' ') && p[s + 6] == p[s + 3]) {
		static const size_t digit_at[] = {0, 1, 2, 4, 5, 7, 8, 9, 10};
		for (size_t i = 0; i < 9; i++)
			if (!ascii_is_digit(p[s + digit_at[i]]))
				return 0;
		*sep = p[s + 3];
		return s + 11;
	}
	return 0;
}

static bool ssn_digits_ok(const uint8_t *p, size_t s, uint8_t sep)
{
	size_t g = sep ? 4 : 3, sr = sep ? 7 : 5;
	return ssa_ok(num(p + s, 3), num(p + s + g, 2), num(p + s + sr, 4));
}

size_t vigil_validate_ssn(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t e = c->end, s;
	uint8_t sep;

	if (e < 11 || e > c->len)
		return 0;
	s = e - 11;
	if (read_ssn(c, s, &sep) != e || sep != '-')
		return 0;
	if (!bounded(c, s, e, false) || !ssn_digits_ok(p, s, sep))
		return 0;
	emit_ssn(c, s, e, VIGIL_CONF_HIGH);
	return e;
}

/* Case-insensitive: is the word w at p[i], followed by a non-letter? */
static bool word_at(const vigil_check *c, size_t i, const char *w)
{
	size_t n = strlen(w);

	if (i + n > c->len)
		return false;
	for (size_t k = 0; k < n; k++) {
		uint8_t ch = c->buf[i + k];
		if (ch >= 'A' && ch <= 'Z')
			ch = (uint8_t)(ch - 'A' + 'a');
		if (ch != (uint8_t)w[k])
			return false;
	}
	return i + n == c->len || !ascii_is_alpha(c->buf[i + n]);
}

size_t vigil_validate_ssn_keyword(vigil_check *c)
{
	static const char *const filler[] = {"number", "num", "nbr", "nr", "no", "is", "was"};
	const uint8_t *p = c->buf;
	size_t i = c->end, lim, e;
	uint8_t sep;

	if (i > c->len)
		return 0;
	lim = i + KEYWORD_GAP < c->len ? i + KEYWORD_GAP : c->len;
	/* Skip what sits between a label and its value: punctuation, quotes, table bars,
	 * and a few filler words ("SSN number is: ..."). */
	while (i < lim && !ascii_is_digit(p[i])) {
		size_t k;
		if (strchr(" \t\r\n:=#\"'-.|()[]>*", p[i]) != NULL && p[i] != '\0') {
			i++;
			continue;
		}
		for (k = 0; k < sizeof(filler) / sizeof(filler[0]); k++) {
			if (word_at(c, i, filler[k])) {
				i += strlen(filler[k]);
				break;
			}
		}
		if (k == sizeof(filler) / sizeof(filler[0]))
			return 0;
	}
	if (i >= lim || !ascii_is_digit(p[i]))
		return 0;
	e = read_ssn(c, i, &sep);
	if (e == 0 || !bounded(c, i, e, sep != '-') || !ssn_digits_ok(p, i, sep))
		return 0;
	emit_ssn(c, i, e, sep == '-' ? VIGIL_CONF_HIGH : VIGIL_CONF_MEDIUM);
	return e;
}
