/* SPDX-License-Identifier: Apache-2.0 */
/* IBAN validator: reads the IBAN after a trigger, compact or in groups of four, at its
 * country's registered length, and checks the ISO 13616 mod-97 check digits. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ascii.h"
#include "detect.h"

typedef struct country {
	char cc[3];
	unsigned char len; /* total IBAN length, SWIFT IBAN Registry */
	const char *detector;
} country;

/* Every country of the trigger pattern with its IBAN length from the SWIFT IBAN
 * Registry. Sorted by code for the binary search. */
static const country countries[] = {
    {"AD", 24, "iban.AD"}, {"AE", 23, "iban.AE"}, {"AL", 28, "iban.AL"}, {"AT", 20, "iban.AT"},
    {"AZ", 28, "iban.AZ"}, {"BA", 20, "iban.BA"}, {"BE", 16, "iban.BE"}, {"BG", 22, "iban.BG"},
    {"BH", 22, "iban.BH"}, {"BR", 29, "iban.BR"}, {"BY", 28, "iban.BY"}, {"CH", 21, "iban.CH"},
    {"CR", 22, "iban.CR"}, {"CY", 28, "iban.CY"}, {"CZ", 24, "iban.CZ"}, {"DE", 22, "iban.DE"},
    {"DK", 18, "iban.DK"}, {"DO", 28, "iban.DO"}, {"EE", 20, "iban.EE"}, {"EG", 29, "iban.EG"},
    {"ES", 24, "iban.ES"}, {"FI", 18, "iban.FI"}, {"FO", 18, "iban.FO"}, {"FR", 27, "iban.FR"},
    {"GB", 22, "iban.GB"}, {"GE", 22, "iban.GE"}, {"GI", 23, "iban.GI"}, {"GL", 18, "iban.GL"},
    {"GR", 27, "iban.GR"}, {"GT", 28, "iban.GT"}, {"HR", 21, "iban.HR"}, {"HU", 28, "iban.HU"},
    {"IE", 22, "iban.IE"}, {"IL", 23, "iban.IL"}, {"IQ", 23, "iban.IQ"}, {"IS", 26, "iban.IS"},
    {"IT", 27, "iban.IT"}, {"JO", 30, "iban.JO"}, {"KW", 30, "iban.KW"}, {"KZ", 20, "iban.KZ"},
    {"LB", 28, "iban.LB"}, {"LC", 32, "iban.LC"}, {"LI", 21, "iban.LI"}, {"LT", 20, "iban.LT"},
    {"LU", 20, "iban.LU"}, {"LV", 21, "iban.LV"}, {"MC", 27, "iban.MC"}, {"MD", 24, "iban.MD"},
    {"ME", 22, "iban.ME"}, {"MK", 19, "iban.MK"}, {"MR", 27, "iban.MR"}, {"MT", 31, "iban.MT"},
    {"MU", 30, "iban.MU"}, {"NL", 18, "iban.NL"}, {"NO", 15, "iban.NO"}, {"PK", 24, "iban.PK"},
    {"PL", 28, "iban.PL"}, {"PS", 29, "iban.PS"}, {"PT", 25, "iban.PT"}, {"QA", 29, "iban.QA"},
    {"RO", 24, "iban.RO"}, {"RS", 22, "iban.RS"}, {"SA", 24, "iban.SA"}, {"SC", 31, "iban.SC"},
    {"SE", 24, "iban.SE"}, {"SI", 19, "iban.SI"}, {"SK", 24, "iban.SK"}, {"SM", 27, "iban.SM"},
    {"ST", 25, "iban.ST"}, {"SV", 28, "iban.SV"}, {"TL", 23, "iban.TL"}, {"TN", 24, "iban.TN"},
    {"TR", 26, "iban.TR"}, {"UA", 29, "iban.UA"}, {"VA", 22, "iban.VA"}, {"VG", 24, "iban.VG"},
    {"XK", 20, "iban.XK"},
};

#define IBAN_MAX 34 /* ISO 13616 upper bound */

static const country *find_country(const uint8_t *cc)
{
	size_t lo = 0, hi = sizeof(countries) / sizeof(countries[0]);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = memcmp(cc, countries[mid].cc, 2);
		if (r == 0)
			return &countries[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool vigil_iban_ok(const char *iban, size_t n)
{
	unsigned rem = 0, cd;

	if (n < 5 || n > IBAN_MAX)
		return false;
	if (!ascii_is_upper((uint8_t)iban[0]) || !ascii_is_upper((uint8_t)iban[1]) ||
	    !ascii_is_digit((uint8_t)iban[2]) || !ascii_is_digit((uint8_t)iban[3]))
		return false;
	/* Check digits are 98 - (x mod 97): always 02..98. "00", "01" and "99" pass the
	 * remainder test only by aliasing, never in a real IBAN. */
	cd = (unsigned)(iban[2] - '0') * 10 + (unsigned)(iban[3] - '0');
	if (cd < 2 || cd > 98)
		return false;
	/* ISO 13616-1: move the first four characters to the end, letters count as 10..35,
	 * and the whole number mod 97 is 1. The remainder is carried digit by digit. */
	for (size_t k = 0; k < n; k++) {
		uint8_t ch = (uint8_t)iban[(k + 4) % n];
		if (ascii_is_digit(ch))
			rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
		else if (ascii_is_upper(ch))
			rem = (rem * 100 + (unsigned)(ch - 'A' + 10)) % 97;
		else
			return false;
	}
	return rem == 1;
}

size_t vigil_validate_iban(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t end = c->end, start, pos, n;
	const country *ct;
	char *iban = (char *)c->scratch;
	bool grouped;
	vigil_hit h;

	if (end < 8 || end > c->len)
		return 0;
	/* The trigger is "CCdd XXXX" (9 bytes) or "CCddXXXX" (8): in the compact form the
	 * byte five before the end is a check digit, never a space. */
	start = (end >= 9 && p[end - 5] == ' ') ? end - 9 : end - 8;
	if (!ascii_is_upper(p[start]) || !ascii_is_upper(p[start + 1]) ||
	    !ascii_is_digit(p[start + 2]) || !ascii_is_digit(p[start + 3]))
		return 0;
	ct = find_country(p + start);
	if (ct == NULL)
		return 0;
	if (start > 0 && ascii_is_alnum(p[start - 1]))
		return 0;

	grouped = p[start + 4] == ' ';
	pos = start;
	for (n = 0; n < ct->len; n++) {
		if (grouped && n > 0 && n % 4 == 0) {
			if (pos >= c->len || p[pos] != ' ')
				return 0;
			pos++;
		}
		if (pos >= c->len || !(ascii_is_upper(p[pos]) || ascii_is_digit(p[pos])))
			return 0;
		iban[n] = (char)p[pos++];
	}
	/* Exactly the registered length: what follows must end the token. */
	if (pos < c->len ? ascii_is_alnum(p[pos]) : !c->eof)
		return 0;
	if (!vigil_iban_ok(iban, n))
		return 0;

	memset(&h, 0, sizeof(h));
	h.start = start;
	h.end = pos;
	h.category = VIGIL_CAT_IBAN;
	h.detector = ct->detector;
	h.confidence = VIGIL_CONF_HIGH;
	vigil_redact_keep(h.redacted, sizeof(h.redacted), (const char *)p + start, pos - start, 4,
			  4);
	h.norm = c->scratch;
	h.norm_len = n;
	c->emit(c, &h);
	return pos;
}
