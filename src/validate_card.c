/* SPDX-License-Identifier: Apache-2.0 */
/* Payment card validator: finds the digit run around a trigger, checks its grouping, the
 * card scheme's IIN range and length, and the Luhn checksum. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ascii.h"
#include "detect.h"

/* The card rule's max_before in rules.c. A run that reaches window position 0 is known to
 * start the stream only when the trigger is closer to 0 than this. */
#define CARD_LOOKBEHIND 40
/* How far a run is followed each way from the trigger; a group reaching past this is
 * treated as cut. The longest card token (19 digits, 18 separators) is 37 bytes. */
#define CARD_SCAN 96
/* A group and its separator take 2 bytes at least, of 2 * CARD_SCAN + 2 scanned. */
#define CARD_GROUPS (CARD_SCAN + 2)
#define CARD_MIN    12
#define CARD_MAX    19

/* What judge() made of a candidate. */
typedef enum verdict {
	NOT_CARD = 0, /* wrong grouping, length or issuer */
	LUHN_FAILED,  /* shaped like a card of some scheme, but the check digit is wrong */
	CARD,         /* emitted */
} verdict;

typedef struct group {
	size_t off; /* window offset of the first digit */
	size_t n;   /* digits */
} group;

static bool is_sep(uint8_t ch)
{
	return ch == ' ' || ch == '-';
}

/* Letters, digits and '_': a card glued to one of these is part of an identifier, a hex
 * digest or a longer number, never a card written on its own. */
bool vigil_luhn_ok(const char *digits, size_t n)
{
	unsigned sum = 0;
	bool dbl = false;

	if (n < 2)
		return false;
	for (size_t i = n; i-- > 0;) {
		unsigned d;
		if (!ascii_is_digit((uint8_t)digits[i]))
			return false;
		d = (unsigned)(digits[i] - '0');
		if (dbl) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

static unsigned prefix(const char *d, size_t k)
{
	unsigned v = 0;
	for (size_t i = 0; i < k; i++)
		v = v * 10 + (unsigned)(d[i] - '0');
	return v;
}

/* The scheme of a card number by IIN range and length, or NULL. Ranges follow the
 * schemes' published IIN tables; overlapping ranges are tested most specific first
 * (Discover's 622126-622925 sits inside UnionPay's 62). */
static const char *scheme(const char *d, size_t n)
{
	unsigned p2 = prefix(d, 2), p3 = prefix(d, 3), p4 = prefix(d, 4), p6 = prefix(d, 6);
	bool n16_19 = n >= 16 && n <= 19;

	if ((p2 == 34 || p2 == 37) && n == 15)
		return "card.amex";
	if (d[0] == '4')
		return (n == 13 || n == 16 || n == 19) ? "card.visa" : NULL;
	if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && n == 16)
		return "card.mastercard";
	if ((p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 ||
	     (p6 >= 622126 && p6 <= 622925)) &&
	    n16_19)
		return "card.discover";
	if (p4 >= 3528 && p4 <= 3589 && n16_19)
		return "card.jcb";
	/* Diners Club issues 14 digits (36) and 16 (Diners International); the 19-digit
	 * range allowed by ISO/IEC 7812 is unused, and long nonces start with 38 too. */
	if (((p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39) &&
	    (n == 14 || n == 16))
		return "card.diners";
	if (p2 == 62 && n16_19)
		return "card.unionpay";
	/* Maestro: the published ranges, plus 5612 and 6390 which issuers and common test
	 * data generators still use. */
	if ((p4 == 5018 || p4 == 5020 || p4 == 5038 || p4 == 5612 || p4 == 5893 || p4 == 6304 ||
	     p4 == 6390 || p4 == 6759 || (p4 >= 6761 && p4 <= 6763)) &&
	    n >= CARD_MIN && n <= CARD_MAX)
		return "card.maestro";
	return NULL;
}

/* Groupings printed on cards and used by payment forms: 4-4-4-4 with a shorter tail group
 * (12-19 digits), Amex 4-6-5, Diners 4-6-4. */
static bool grouping_ok(const group *g, size_t m)
{
	if (m == 3 && g[0].n == 4 && g[1].n == 6 && (g[2].n == 5 || g[2].n == 4))
		return true;
	for (size_t i = 0; i + 1 < m; i++)
		if (g[i].n != 4)
			return false;
	return g[m - 1].n >= 1 && g[m - 1].n <= 4;
}

/* Single separators of one kind, a card grouping, and a card's number of digits. */
static bool card_shaped(const group *g, const uint8_t *seps, size_t m)
{
	size_t n = 0;

	for (size_t i = 0; i < m; i++) {
		if (i + 1 < m && seps[i] != seps[0])
			return false;
		n += g[i].n;
	}
	return n >= CARD_MIN && n <= CARD_MAX && grouping_ok(g, m);
}

/* Whether the line says what the number is, shortly before it ("card", "pan", "visa",
 * "cc_number", "Kreditkarte", ...). */
static bool card_keyword_before(const uint8_t *p, size_t start)
{
	static const char *const words[] = {
	    "card",   "pan", "credit",   "visa",    "master", "amex",    "maestro", "discover",
	    "diners", "jcb", "unionpay", "payment", "karte",  "tarjeta", "carte",   "ccn",
	    "cc_",    "cc:", "cc=",      "cc ",     "cc\"",   "cvv",
	};
	char low[CARD_LOOKBEHIND + 1];
	size_t from = start > CARD_LOOKBEHIND ? start - CARD_LOOKBEHIND : 0, n = 0;

	for (size_t i = start; i > from && p[i - 1] != '\n'; i--)
		n++;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[start - n + i];
		low[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	low[n] = '\0';
	for (size_t w = 0; w < sizeof(words) / sizeof(*words); w++)
		if (strstr(low, words[w]) != NULL)
			return true;
	return false;
}

/* Whether an expiry date (MM/YY or MM/YYYY) follows within a separator or two, as in
 * "4111111111111111,05/26" or "4111 1111 1111 1111 exp 12/2027". */
static bool expiry_after(const uint8_t *p, size_t len, size_t end)
{
	size_t i = end, lim = end + 8 < len ? end + 8 : len;

	while (i < lim && !ascii_is_digit(p[i]) && p[i] != '\n')
		i++;
	if (i + 5 > len || !ascii_is_digit(p[i]) || !ascii_is_digit(p[i + 1]) || p[i + 2] != '/' ||
	    !ascii_is_digit(p[i + 3]) || !ascii_is_digit(p[i + 4]))
		return false;
	return (p[i] == '0' && p[i + 1] != '0') || (p[i] == '1' && p[i + 1] <= '2');
}

/*
 * Judges groups [a, b) of a run as one card and emits it. seps[i] is the separator
 * between groups i and i+1; a candidate that is not the whole run is cut out of it at
 * spaces only (the run's other tokens: an expiry date, a CVV, a log timestamp).
 */
static verdict judge(vigil_check *c, const group *g, const uint8_t *seps, size_t k, size_t a,
		     size_t b)
{
	size_t m = b - a, n = 0, start, end;
	char *d = (char *)c->scratch;
	const char *det;
	vigil_hit h;

	if (m > 1) {
		for (size_t i = a; i + 1 < b; i++)
			if (seps[i] != seps[a])
				return NOT_CARD;
		if (!grouping_ok(g + a, m))
			return NOT_CARD;
		/* A grouped card cut out of a longer run of groups may have at most one short
		 * group (a day, an hour) beside it on each side: in "4537 4537 4537 4392 0
		 * 4270" or "1234 5678 9012 3456 7890" the groups are a table, not a card. */
		if (a > 1 || (a == 1 && g[0].n > 2) || k - b > 1 || (k - b == 1 && g[k - 1].n > 2))
			return NOT_CARD;
	}
	for (size_t i = a; i < b; i++)
		n += g[i].n;
	if (n < CARD_MIN || n > CARD_MAX)
		return NOT_CARD;
	n = 0;
	for (size_t i = a; i < b; i++) {
		memcpy(d + n, c->buf + g[i].off, g[i].n);
		n += g[i].n;
	}
	det = scheme(d, n);
	if (det == NULL)
		return NOT_CARD;
	if (!vigil_luhn_ok(d, n))
		return LUHN_FAILED;

	start = g[a].off;
	end = g[b - 1].off + g[b - 1].n;
	memset(&h, 0, sizeof(h));
	h.start = start;
	h.end = end;
	h.category = VIGIL_CAT_PAYMENT_CARD;
	h.detector = det;
	/* Written in a card's grouping, or named on its line: beyond doubt. A bare run of
	 * digits could be any reference number that passed Luhn by chance. */
	h.confidence =
	    (m > 1 || card_keyword_before(c->buf, start) || expiry_after(c->buf, c->len, end))
		? VIGIL_CONF_HIGH
		: VIGIL_CONF_MEDIUM;
	/* PCI DSS 3.4 allows at most the first six and last four digits to be shown. */
	if (n >= 15)
		vigil_redact_keep(h.redacted, sizeof(h.redacted), (const char *)c->buf + start,
				  end - start, 6, 4);
	else
		vigil_redact_keep(h.redacted, sizeof(h.redacted), (const char *)c->buf + start,
				  end - start, 4, 2);
	h.norm = c->scratch;
	h.norm_len = n;
	c->emit(c, &h);
	return CARD;
}

/* The stream's tally lets the engine drop card hits from numeric data, where Luhn
 * passes for one card-shaped number in ten instead of for all of them. */
static void count(vigil_check *c, verdict v)
{
	if (c->tally == NULL || v == NOT_CARD)
		return;
	c->tally->card_candidates++;
	if (v == CARD)
		c->tally->card_luhn_ok++;
}

/*
 * Whether the run starting at p[i] continues a grouped IBAN: "IE86 WODQ 3697 1364 5785
 * 59" holds a digit run that is not glued to the country code. Walks back over groups
 * of four upper-case letters and digits, separated by single spaces, to a "CCdd" group
 * that starts a token.
 */
/* Four hex digits with a letter among them, standing alone: "527D" in a list of code
 * points or a hex dump, whose all-digit neighbours are no card either. */
static bool hex_group(const uint8_t *t, bool word_before, bool word_after)
{
	bool letter = false;

	if (word_before || word_after)
		return false;
	for (int k = 0; k < 4; k++) {
		bool hexletter = (t[k] >= 'A' && t[k] <= 'F') || (t[k] >= 'a' && t[k] <= 'f');
		if (!ascii_is_digit(t[k]) && !hexletter)
			return false;
		letter |= hexletter;
	}
	return letter;
}

static bool after_iban_groups(const uint8_t *p, size_t i)
{
	for (int groups = 0; groups < 8 && i >= 5 && p[i - 1] == ' '; groups++) {
		const uint8_t *t = p + i - 5;
		for (int k = 0; k < 4; k++)
			if (!ascii_is_digit(t[k]) && !(t[k] >= 'A' && t[k] <= 'Z'))
				return false;
		if (t[0] >= 'A' && t[0] <= 'Z' && t[1] >= 'A' && t[1] <= 'Z' &&
		    ascii_is_digit(t[2]) && ascii_is_digit(t[3]) &&
		    (i == 5 || !ascii_is_word(p[i - 6])))
			return true;
		i -= 5;
	}
	return false;
}

size_t vigil_validate_card(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t end = c->end, i, j, k = 0, first, lim, a;
	bool left_cut = false, right_cut = false, left_glued = false, right_glued = false;
	group g[CARD_GROUPS];
	uint8_t seps[CARD_GROUPS];

	if (end == 0 || end > c->len || !ascii_is_digit(p[end - 1]))
		return 0;

	/* The maximal run of digits joined by single separators around the trigger; i and
	 * j - 1 always index digits. */
	i = end - 1;
	while (i > 0) {
		if (end - i >= CARD_SCAN) {
			left_cut = true;
			break;
		}
		if (ascii_is_digit(p[i - 1])) {
			i--;
			continue;
		}
		if (is_sep(p[i - 1])) {
			if (i >= 2 && ascii_is_digit(p[i - 2])) {
				i -= 2;
				continue;
			}
			/* What precedes the separator is not in the window. */
			if (i == 1 && end >= CARD_LOOKBEHIND)
				left_cut = true;
		}
		break;
	}
	if (i == 0 && end >= CARD_LOOKBEHIND)
		left_cut = true; /* the window may start inside the run */
	j = end;
	while (j < c->len) {
		if (j - end >= CARD_SCAN) {
			right_cut = true;
			break;
		}
		if (ascii_is_digit(p[j])) {
			j++;
			continue;
		}
		if (is_sep(p[j])) {
			if (j + 1 < c->len && ascii_is_digit(p[j + 1])) {
				j += 2;
				continue;
			}
			if (j + 1 == c->len && !c->eof)
				right_cut = true;
		}
		break;
	}
	if (j == c->len && !c->eof)
		right_cut = true;

	/* Context on each side: "3.4111..." and "...1111.25" are decimals; a letter, digit
	 * or '_' glues the run into a longer token. */
	if (i > 0 && !left_cut) {
		uint8_t l = p[i - 1];
		if (ascii_is_word(l) || (l == '.' && i >= 2 && ascii_is_digit(p[i - 2])))
			left_glued = true;
	}
	if (j < c->len && !right_cut) {
		uint8_t r = p[j];
		if (ascii_is_word(r))
			right_glued = true;
		else if (r == '.' && j + 1 < c->len && ascii_is_digit(p[j + 1]))
			right_glued = true;
		else if (r == '.' && j + 1 == c->len && !c->eof)
			right_glued = true;
	}

	if (i >= 5 && !left_cut && p[i - 1] == ' ' &&
	    hex_group(p + i - 5, i > 5 && ascii_is_word(p[i - 6]), false))
		left_glued = true;
	if (j + 5 <= c->len && !right_cut && p[j] == ' ' &&
	    hex_group(p + j + 1, false, j + 5 < c->len && ascii_is_word(p[j + 5])))
		right_glued = true;

	/* Split the run into groups. */
	for (size_t q = i; q < j;) {
		if (k == CARD_GROUPS)
			return j; /* a long numeric table, judged as a whole: no card */
		g[k].off = q;
		while (q < j && ascii_is_digit(p[q]))
			q++;
		g[k].n = q - g[k].off;
		if (q < j) {
			seps[k] = p[q];
			q++;
		} else {
			seps[k] = 0;
		}
		k++;
	}
	if (k == 0)
		return 0;

	/* A run glued to a word is one token with it: the digits of a grouped IBAN ("DE89 3704
	 * 0044 ..."), a hex digest, an identifier. A run after '+' is a phone number in
	 * international form; one after IBAN groups is the rest of the IBAN. No part of
	 * these is a card. */
	if (left_glued || right_glued || (i > 0 && !left_cut && p[i - 1] == '+'))
		return right_cut ? 0 : j;
	if (!left_cut && after_iban_groups(p, i))
		return right_cut ? 0 : j;
	/* A group cut by the window cannot be part of a card: its other end is unseen. */
	first = left_cut ? 1 : 0;
	lim = right_cut ? k - 1 : k;

	/* A run shaped like one grouped card number is that number or nothing: when
	 * "6759 3383 4904 8581 995" fails Luhn, its Luhn-valid first 16 digits are no card. */
	if (first == 0 && lim == k && k > 1 && card_shaped(g, seps, k)) {
		count(c, judge(c, g, seps, k, 0, k));
		return j;
	}

	/* Greedy, left to right: the longest card starting at each group boundary that is a
	 * space. Candidates never overlap, so two cards on one line are both found. A card
	 * spans at most CARD_MAX digits, which bounds the work per start. */
	for (a = first; a < lim;) {
		size_t b, bmax, digits = 0;
		verdict best = NOT_CARD;
		if (a > 0 && seps[a - 1] != ' ') {
			a++;
			continue;
		}
		for (bmax = a; bmax < lim && digits + g[bmax].n <= CARD_MAX; bmax++)
			digits += g[bmax].n;
		/* Every grouping starts with four digits; otherwise only a compact number. */
		if (g[a].n != 4 && bmax > a + 1)
			bmax = a + 1;
		for (b = bmax; b > a; b--) {
			if (b < k && seps[b - 1] != ' ')
				continue;
			verdict v = judge(c, g, seps, k, a, b);
			if (v > best)
				best = v;
			if (v == CARD)
				break;
		}
		count(c, best); /* one number per start, however many lengths were tried */
		a = best == CARD ? b : a + 1;
	}

	if (!right_cut)
		return j;
	/* The run goes on past what this window shows. Triggers that end inside its last
	 * group will see more of it, unless that group is already too long to be a card. */
	return g[k - 1].n > CARD_MAX ? j : g[k - 1].off;
}
