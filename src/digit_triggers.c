/* SPDX-License-Identifier: Apache-2.0 */
/* Built-in trigger finder for the rules about numbers (card, IBAN, SSN): reports exactly
 * the match ends of their patterns in rules.c, from bit masks of byte classes. */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ascii.h"
#include "detect.h"

/*
 * Why not vectorscan: on digit-dense data (logs, CSV and JSON full of reference numbers)
 * these three patterns have no literal to search for, and their bounded repeats run as
 * NFAs over every byte: they took over 90 % of vectorscan's scan time there and two thirds
 * of its compile time at start-up. Here, 64 bytes at a time become three masks (digits,
 * separators, upper-case letters), and a few shifts find the only places where a match
 * can end: 11 bytes in a row that are digits or a separator after a digit (the shortest
 * card or SSN match spans 11 bytes), and "letter letter digit digit" (an IBAN's head).
 * Those few places are confirmed byte by byte. This is a tokenizer for three fixed
 * shapes, not a regex engine; tests/unit/test_detect.c and fuzz/fuzz_detect.c check it,
 * cut into chunks anywhere, against vigil_digit_triggers_reference() below, which tries
 * each pattern at every start the obvious way.
 */

/* A match ends at most 23 bytes after it starts (a card: 12 digits and 11 separators),
 * and the card's \b looks at one byte more. */
#define SPAN_MAX 23
/* A card or SSN match spans 11 bytes at least (ddd-dd-dddd). */
#define SPAN_MIN 11

typedef struct classes {
	uint64_t digit; /* 0-9 */
	uint64_t sep;   /* ' ' or '-': the separators of grouped cards and SSNs */
	uint64_t upper; /* A-Z */
} classes;

static bool is_alnum_upper(uint8_t ch)
{
	return ascii_is_digit(ch) || ascii_is_upper(ch);
}

/* Masks of p[0, n), n <= 64; the bits from n up are zero. */
static void classify_tail(const uint8_t *p, size_t n, classes *c)
{
	assert(n <= 64);
	c->digit = c->sep = c->upper = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t bit = 1ull << i;
		if (ascii_is_digit(p[i]))
			c->digit |= bit;
		else if (p[i] == ' ' || p[i] == '-')
			c->sep |= bit;
		else if (ascii_is_upper(p[i]))
			c->upper |= bit;
	}
}

#if defined(__SSE2__)
/* The same for 64 bytes with SSE2 (every x86-64 has it): x - lo <= hi - lo, unsigned,
 * tests a range in two instructions. */
static void classify64(const uint8_t *p, classes *c)
{
	const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
	const __m128i a = _mm_set1_epi8('A'), z = _mm_set1_epi8('Z' - 'A');
	const __m128i space = _mm_set1_epi8(' '), dash = _mm_set1_epi8('-');
	uint64_t d = 0, s = 0, u = 0;

	for (unsigned k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
		__m128i x = _mm_sub_epi8(v, zero), y = _mm_sub_epi8(v, a);
		__m128i isd = _mm_cmpeq_epi8(_mm_min_epu8(x, nine), x);
		__m128i isu = _mm_cmpeq_epi8(_mm_min_epu8(y, z), y);
		__m128i iss = _mm_or_si128(_mm_cmpeq_epi8(v, space), _mm_cmpeq_epi8(v, dash));
		d |= (uint64_t)(uint16_t)_mm_movemask_epi8(isd) << (16 * k);
		s |= (uint64_t)(uint16_t)_mm_movemask_epi8(iss) << (16 * k);
		u |= (uint64_t)(uint16_t)_mm_movemask_epi8(isu) << (16 * k);
	}
	c->digit = d;
	c->sep = s;
	c->upper = u;
}
#else
static void classify64(const uint8_t *p, classes *c)
{
	classify_tail(p, 64, c);
}
#endif

/* x shifted towards higher positions by k (1 <= k < 64): bit i tells about byte i - k,
 * taking the top bits from the previous word. */
static uint64_t back(uint64_t x, uint64_t prev, unsigned k)
{
	return x << k | prev >> (64 - k);
}

/* The bits of mask (byte pos + i at bit i) for bytes at or after `at`. */
static uint64_t from_on(uint64_t mask, size_t pos, size_t at)
{
	if (at <= pos)
		return mask;
	return at - pos >= 64 ? 0 : mask & (~0ull << (at - pos));
}

typedef struct finder {
	const uint8_t *buf;
	size_t from, to, low; /* report ends in (from, to]; bytes before low are not looked at */
	unsigned wanted;      /* bit (1 << VIGIL_BUILTIN_x) per rule to find */
	vigil_builtin_fn fn;
	void *user;
	bool stopped;
} finder;

static void report(finder *f, vigil_builtin which, size_t end)
{
	if (end > f->from && !f->stopped && f->fn(f->user, which, end) != 0)
		f->stopped = true;
}

/* ddd-dd-dddd at p[0, 11). */
static bool ssn_shape(const uint8_t *p)
{
	return p[3] == '-' && p[6] == '-' && ascii_is_digit(p[0]) && ascii_is_digit(p[1]) &&
	       ascii_is_digit(p[2]) && ascii_is_digit(p[4]) && ascii_is_digit(p[5]) &&
	       ascii_is_digit(p[7]) && ascii_is_digit(p[8]) && ascii_is_digit(p[9]) &&
	       ascii_is_digit(p[10]);
}

/*
 * Walks the run of digits joined by single separators that holds position q, from
 * `start` (no trigger ending at or after q can begin before it), and reports the card
 * and SSN matches ending in it. The card pattern's path through a run is forced, so a
 * match ends at every digit that is the 12th counted from a digit 2-6 at a word
 * boundary. Returns the position after the run.
 */
static size_t walk(finder *f, size_t start, size_t q)
{
	const uint8_t *p = f->buf;
	size_t ring[12]; /* positions of the last 12 digits of the run */
	size_t x, nd = 0;

	for (x = start; x < f->to; x++) {
		uint8_t ch = p[x];
		if (ascii_is_digit(ch)) {
			ring[nd % 12] = x;
			nd++;
			if (nd >= 12 && (f->wanted & (1u << VIGIL_BUILTIN_CARD))) {
				size_t s = ring[nd % 12]; /* the digit 11 digits back */
				if (p[s] >= '2' && p[s] <= '6' &&
				    (s == 0 || !ascii_is_word(p[s - 1])))
					report(f, VIGIL_BUILTIN_CARD, x + 1);
			}
			if ((f->wanted & (1u << VIGIL_BUILTIN_SSN)) && x >= f->low + 10 &&
			    ssn_shape(p + x - 10))
				report(f, VIGIL_BUILTIN_SSN, x + 1);
			continue;
		}
		/* A single separator between two digits continues the run; a separator at
		 * `to` - 1 does not yet, and no match ending by `to` needs it. */
		if ((ch == ' ' || ch == '-') && nd > 0 && ascii_is_digit(p[x - 1]) &&
		    x + 1 < f->to && ascii_is_digit(p[x + 1]))
			continue;
		if (x > q)
			break;
		nd = 0; /* a run before q's: q's run starts later */
	}
	return x;
}

/* The IBAN pattern's ends after "letter letter digit digit" with its last digit at t:
 * four letters or digits follow, right away or after one space. */
static void iban_at(finder *f, size_t t)
{
	const uint8_t *p = f->buf;
	size_t i = t + 1;

	if (i < f->to && p[i] == ' ')
		i++;
	if (i + 4 > f->to)
		return;
	for (size_t k = i; k < i + 4; k++)
		if (!is_alnum_upper(p[k]))
			return;
	report(f, VIGIL_BUILTIN_IBAN, i + 4);
}

int vigil_digit_triggers(const uint8_t *buf, size_t from, size_t to, unsigned wanted,
			 vigil_builtin_fn fn, void *user)
{
	finder f = {.buf = buf,
		    .from = from,
		    .to = to,
		    .low = from > VIGIL_DIGITS_LOOKBACK ? from - VIGIL_DIGITS_LOOKBACK : 0,
		    .wanted = wanted,
		    .fn = fn,
		    .user = user};
	const bool runs = wanted & (1u << VIGIL_BUILTIN_CARD | 1u << VIGIL_BUILTIN_SSN);
	const bool ibans = wanted & (1u << VIGIL_BUILTIN_IBAN);
	/* The previous word's masks, for the shifts (zero before `low`: a match reported
	 * starts after it). */
	uint64_t pd = 0, pu = 0, pr = 0, pr2 = 0, pr4 = 0;
	size_t resume = f.low; /* runs before this were walked */

	static_assert(VIGIL_DIGITS_LOOKBACK > SPAN_MAX, "the look-back must hold a match");
	assert(from <= to);
	for (size_t pos = f.low; pos < to && !f.stopped; pos += 64) {
		classes c;
		uint64_t r, r2, r4, r8, r11, heads;

		if (to - pos >= 64)
			classify64(buf + pos, &c);
		else
			classify_tail(buf + pos, to - pos, &c);
		/* Bytes that may lie inside a card or SSN match: digits, and separators that
		 * follow a digit. Bit i of r11: bytes i-10..i all are. A match starting at s
		 * sets bit s + 10 (it spans 11 bytes at least) and ends on a set bit. */
		r = c.digit | (c.sep & back(c.digit, pd, 1));
		r2 = r & back(r, pr, 1);
		r4 = r2 & back(r2, pr2, 2);
		r8 = r4 & back(r4, pr4, 4);
		r11 = r8 & back(r4, pr4, 7);
		/* Bit i: upper, upper, digit, digit at i-3..i. */
		heads =
		    c.digit & back(c.digit, pd, 1) & back(c.upper, pu, 2) & back(c.upper, pu, 3);
		pd = c.digit;
		pu = c.upper;
		pr = r;
		pr2 = r2;
		pr4 = r4;

		if (!runs)
			r11 = 0;
		if (!ibans)
			heads = 0;
		r11 = from_on(r11, pos, resume);
		/* In order of position, so that triggers come out nearly sorted by end. */
		while ((r11 | heads) != 0 && !f.stopped) {
			unsigned qr = r11 ? (unsigned)__builtin_ctzll(r11) : 64;
			unsigned qh = heads ? (unsigned)__builtin_ctzll(heads) : 64;
			size_t q = pos + qr, start;
			assert(qr == 64 || q >= resume);
			if (qh <= qr) {
				iban_at(&f, pos + qh);
				heads &= heads - 1;
				continue;
			}
			/* Every match not yet reported starts at or after resume (the runs
			 * before are done) and, if q is the first place where 11 bytes of a
			 * run end, at most 10 bytes before q. */
			start = q >= resume + (SPAN_MIN - 1) ? q - (SPAN_MIN - 1) : resume;
			resume = walk(&f, start, q);
			r11 = from_on(r11, pos, resume); /* past the run just walked */
		}
	}
	return f.stopped ? -1 : 0;
}

/* ---- the reference: each pattern tried at every start, as written in rules.c ---- */

/* \b[2-6](?:[ -]?[0-9]){11} at p[s]: its end, or 0. */
static size_t card_from(const uint8_t *p, size_t len, size_t s)
{
	size_t i = s + 1;

	if (p[s] < '2' || p[s] > '6' || (s > 0 && ascii_is_word(p[s - 1])))
		return 0;
	for (unsigned nd = 1; nd < 12; nd++) {
		if (i < len && (p[i] == ' ' || p[i] == '-') && i + 1 < len &&
		    ascii_is_digit(p[i + 1]))
			i++;
		if (i >= len || !ascii_is_digit(p[i]))
			return 0;
		i++;
	}
	return i;
}

/* [A-Z]{2}[0-9]{2} ?[A-Z0-9]{4} at p[s]: its end, or 0. */
static size_t iban_from(const uint8_t *p, size_t len, size_t s)
{
	size_t i = s + 4;

	if (s + 8 > len || !ascii_is_upper(p[s]) || !ascii_is_upper(p[s + 1]) ||
	    !ascii_is_digit(p[s + 2]) || !ascii_is_digit(p[s + 3]))
		return 0;
	if (p[i] == ' ')
		i++;
	if (i + 4 > len)
		return 0;
	for (size_t k = i; k < i + 4; k++)
		if (!is_alnum_upper(p[k]))
			return 0;
	return i + 4;
}

int vigil_digit_triggers_reference(const uint8_t *buf, size_t len, unsigned wanted,
				   vigil_builtin_fn fn, void *user)
{
	for (size_t s = 0; s < len; s++) {
		size_t e;
		if ((wanted & (1u << VIGIL_BUILTIN_CARD)) && (e = card_from(buf, len, s)) != 0 &&
		    fn(user, VIGIL_BUILTIN_CARD, e) != 0)
			return -1;
		if ((wanted & (1u << VIGIL_BUILTIN_IBAN)) && (e = iban_from(buf, len, s)) != 0 &&
		    fn(user, VIGIL_BUILTIN_IBAN, e) != 0)
			return -1;
		if ((wanted & (1u << VIGIL_BUILTIN_SSN)) && s + 11 <= len && ssn_shape(buf + s) &&
		    fn(user, VIGIL_BUILTIN_SSN, s + 11) != 0)
			return -1;
	}
	return 0;
}
