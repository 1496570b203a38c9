/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the detection engine: streaming across window and chunk boundaries, line
 * numbers, de-duplication, fingerprints, category selection, and the built-in trigger
 * finder against its reference. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect.h"
#include "vigil/scan.h"

#define MAX_HITS 64

typedef struct seen {
	unsigned n;
	struct {
		uint64_t offset, line;
		vigil_category cat;
		char detector[32];
		char fp[VIGIL_FINGERPRINT_MAX];
	} h[MAX_HITS];
} seen;

static void collect(void *user, const vigil_hit *h, uint64_t offset, uint64_t line, const char *fp)
{
	seen *s = user;

	assert_true(s->n < MAX_HITS);
	s->h[s->n].offset = offset;
	s->h[s->n].line = line;
	s->h[s->n].cat = h->category;
	snprintf(s->h[s->n].detector, sizeof(s->h[s->n].detector), "%s", h->detector);
	snprintf(s->h[s->n].fp, sizeof(s->h[s->n].fp), "%s", fp);
	s->n++;
}

static const uint8_t key_a[32] = {1}, key_b[32] = {2};

/* Feed buf to a fresh stream in chunks of `chunk` bytes. */
static void run(const vigil_detector *d, const char *buf, size_t len, size_t chunk, seen *out)
{
	vigil_dstream *s;

	memset(out, 0, sizeof(*out));
	assert_int_equal(vigil_dstream_new(d, &s), 0);
	vigil_dstream_begin(s, collect, out);
	for (size_t off = 0; off < len; off += chunk) {
		size_t k = len - off < chunk ? len - off : chunk;
		assert_int_equal(vigil_dstream_feed(s, (const uint8_t *)buf + off, k), 0);
	}
	assert_int_equal(vigil_dstream_end(s), 0);
	vigil_dstream_free(s);
}

/* A buffer of filler lines with `secret` placed so that it starts at `at`. */
static char *filler_with(size_t len, size_t at, const char *secret, unsigned *line_of_secret)
{
	char *b = malloc(len + 1);
	unsigned lines = 1;

	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (i % 50 == 49) ? '\n' : 'x';
	b[len] = '\0';
	b[at - 1] = ' ';
	memcpy(b + at, secret, strlen(secret));
	b[at + strlen(secret)] = ' ';
	for (size_t i = 0; i < at; i++)
		lines += b[i] == '\n';
	*line_of_secret = lines;
	return b;
}

static void test_straddles_boundaries(void **state)
{
	vigil_detector *d;
	/* Window block 256 KiB, keep 96 KiB, scan chunk 64 KiB: put the card across each. */
	const size_t spots[] = {65536 - 5, 262144 - 8, 262144 + 98304 - 3, 360448 + 262144 - 10,
				1000000};
	const size_t chunks[] = {1, 7, 4096, 65539, 1 << 20};
	(void)state;

	assert_int_equal(vigil_detector_new(0, key_a, &d, NULL, 0), 0);
	for (size_t i = 0; i < sizeof(spots) / sizeof(*spots); i++) {
		unsigned line;
		char *b = filler_with(1200000, spots[i], "4111 1111 1111 1111", &line);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(*chunks); c++) {
			seen s;
			if (chunks[c] == 1 && i > 1)
				continue; /* byte-at-a-time is slow; two spots suffice */
			run(d, b, 1200000, chunks[c], &s);
			assert_int_equal(s.n, 1);
			assert_int_equal(s.h[0].offset, spots[i]);
			assert_int_equal(s.h[0].line, line);
			assert_string_equal(s.h[0].detector, "card.visa");
		}
		free(b);
	}
	vigil_detector_free(d);
}

static void test_number_rules_straddle_boundaries(void **state)
{
	/* The built-in finder's rules, across the chunk and window edges, in every form. */
	static const struct {
		const char *text, *detector;
	} cases[] = {
	    {"4111-1111-1111-1111", "card.visa"},
	    {"378282246310005", "card.amex"},
	    {"DE89 3704 0044 0532 0130 00", "iban.DE"},
	    {"GB82WEST12345698765432", "iban.GB"},
	    {"219-45-7788", "ssn.us"},
	};
	const size_t spots[] = {65536 - 20, 65536 - 9, 65536 - 1, 262144 + 98304 - 4};
	const size_t chunks[] = {13, 65536, 65539};
	vigil_detector *d;
	(void)state;

	assert_int_equal(vigil_detector_new(0, key_a, &d, NULL, 0), 0);
	for (size_t t = 0; t < sizeof(cases) / sizeof(*cases); t++) {
		for (size_t i = 0; i < sizeof(spots) / sizeof(*spots); i++) {
			unsigned line;
			char *b = filler_with(400000, spots[i], cases[t].text, &line);
			for (size_t c = 0; c < sizeof(chunks) / sizeof(*chunks); c++) {
				seen s;
				run(d, b, 400000, chunks[c], &s);
				assert_int_equal(s.n, 1);
				assert_int_equal(s.h[0].offset, spots[i]);
				assert_int_equal(s.h[0].line, line);
				assert_string_equal(s.h[0].detector, cases[t].detector);
			}
			free(b);
		}
	}
	vigil_detector_free(d);
}

/* ---- the built-in finder against its plain reference ---- */

#define MAX_ENDS 20000

typedef struct end_at {
	uint64_t end;
	unsigned which;
} end_at;

typedef struct ends {
	size_t n;
	end_at e[MAX_ENDS];
} ends;

static void add_end(ends *e, uint64_t end, unsigned which)
{
	assert_true(e->n < MAX_ENDS);
	e->e[e->n++] = (end_at){end, which};
}

typedef struct finder_ctx {
	ends *out;
	uint64_t base; /* stream offset of the finder's buf[0] */
} finder_ctx;

static int on_finder_end(void *user, vigil_builtin which, size_t end)
{
	finder_ctx *f = user;

	add_end(f->out, f->base + end, which);
	return 0;
}

static int cmp_end(const void *a, const void *b)
{
	const end_at *x = a, *y = b;

	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return (x->which > y->which) - (x->which < y->which);
}

/*
 * The finder sees buf in chunks cut at cuts[], each with only the look-back it is promised
 * before it, in a buffer of its own (so that ASan catches a read before or after), and
 * must report exactly the ends the reference finds in the whole of buf.
 */
static void compare_finder(const uint8_t *buf, size_t len, const size_t *cuts, size_t ncuts)
{
	static ends want, got;
	const unsigned all = (1u << VIGIL_BUILTIN_COUNT) - 2;
	finder_ctx r = {&want, 0};
	size_t from = 0;

	want.n = got.n = 0;
	assert_int_equal(vigil_digit_triggers_reference(buf, len, all, on_finder_end, &r), 0);
	for (size_t c = 0; c <= ncuts; c++) {
		size_t to = c < ncuts ? cuts[c] : len, lo;
		finder_ctx f = {&got, 0};
		uint8_t *copy;

		if (to < from || to > len)
			continue;
		lo = from > VIGIL_DIGITS_LOOKBACK ? from - VIGIL_DIGITS_LOOKBACK : 0;
		copy = malloc(to > lo ? to - lo : 1);
		assert_non_null(copy);
		memcpy(copy, buf + lo, to - lo);
		f.base = lo;
		assert_int_equal(
		    vigil_digit_triggers(copy, from - lo, to - lo, all, on_finder_end, &f), 0);
		free(copy);
		from = to;
	}
	qsort(want.e, want.n, sizeof(want.e[0]), cmp_end);
	qsort(got.e, got.n, sizeof(got.e[0]), cmp_end);
	for (size_t i = 0; i < want.n && i < got.n; i++)
		if (want.e[i].end != got.e[i].end || want.e[i].which != got.e[i].which)
			fail_msg(
			    "at %zu: the reference's rule %u ends at %llu, the finder's %u at %llu",
			    i, want.e[i].which, (unsigned long long)want.e[i].end, got.e[i].which,
			    (unsigned long long)got.e[i].end);
	assert_int_equal(got.n, want.n);
}

static void test_finder_matches_reference(void **state)
{
	/* Hand-picked edges, then random text over the bytes that matter. */
	static const char *const edges[] = {
	    "4111111111111111",
	    "x4111111111111111 _4111 1111 1111 1111 -4111-1111-1111-1111",
	    "1234 5678 9012 3456 7890 4567 8901 2345 6789",
	    "2-3-4-5-6-7-8-9-0-1-2-3-4-5 6 7 8",
	    "41111111111  11111 4111--1111-1111-1111 4111 -1111 1111 1111 1111",
	    "\x80"
	    "5555555555554444\xff"
	    "6011111111111117",
	    "123-45-6789 1234-56-78901 123-45-67890-12-3456 123 45 6789",
	    "DE89 3704 0044 0532 0130 00 GB82WEST12345698765432 AB12 CD3 XY99  ABCD",
	    "aDE89370400440532013000 DE893 7040 DE12-3456 ZZ00 0000 ZZ000000",
	    /* Missed by vectorscan 5.4.9 with the SSN pattern alone (the finder's reference
	     * is plain code for that reason). */
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx155-30-3823   ",
	};
	static const char alphabet[] = "0123456789012345678923456  --AZDExa_.\n";
	uint8_t buf[4096];
	size_t cuts[8];
	unsigned seed = 7;
	(void)state;

	for (size_t i = 0; i < sizeof(edges) / sizeof(*edges); i++) {
		size_t n = strlen(edges[i]);
		compare_finder((const uint8_t *)edges[i], n, cuts, 0);
		/* Cut at every place. */
		for (size_t c = 1; c < n; c++) {
			cuts[0] = c;
			compare_finder((const uint8_t *)edges[i], n, cuts, 1);
		}
	}
	for (int round = 0; round < 400; round++) {
		size_t n = 64 + (size_t)round * 9;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (uint8_t)alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		for (size_t c = 0; c < 8; c++) {
			seed = seed * 1103515245u + 12345u;
			cuts[c] = (c ? cuts[c - 1] : 0) + (seed >> 16) % (n / 4 + 1);
		}
		compare_finder(buf, n, cuts, round % 2 ? 8 : 0);
	}
}

static void test_pem_straddles_window(void **state)
{
	/* A PEM block whose BEGIN line lies in data the window has already slid past
	 * once: the validator must still see all of it. */
	static const char pem[] =
	    "-----BEGIN PRIVATE KEY-----\n"
	    "MC4CAQAwBQYDK2VwBCIEIHbdo6pCyCTC3sQ/pPbxvUjxJh4C0MmTtCDOLUHbHNWI\n"
	    "-----END PRIVATE KEY-----\n";
	vigil_detector *d;
	unsigned line;
	char *b = filler_with(700000, 360448 - 40, pem, &line);
	seen s;
	(void)state;

	assert_int_equal(vigil_detector_new(0, key_a, &d, NULL, 0), 0);
	run(d, b, 700000, 65536, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.h[0].cat, VIGIL_CAT_PRIVATE_KEY);
	assert_int_equal(s.h[0].offset, 360448 - 40);
	assert_int_equal(s.h[0].line, line);
	free(b);
	vigil_detector_free(d);
}

static void test_same_secret_reported_once(void **state)
{
	/* The dashed SSN is confirmed by two rules (plain and keyword): one finding. */
	static const char text[] = "name: J. Doe\nSSN: 219-45-7788\n";
	vigil_detector *d;
	seen s;
	(void)state;

	assert_int_equal(vigil_detector_new(0, key_a, &d, NULL, 0), 0);
	run(d, text, sizeof(text) - 1, 4096, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.h[0].cat, VIGIL_CAT_SSN);
	assert_int_equal(s.h[0].line, 2);
	vigil_detector_free(d);
}

static void test_fingerprints(void **state)
{
	static const char one[] = "a 4111-1111-1111-1111 b\n", two[] = "4111111111111111\n";
	vigil_detector *a, *b;
	seen s1, s2, s3;
	(void)state;

	assert_int_equal(vigil_detector_new(0, key_a, &a, NULL, 0), 0);
	assert_int_equal(vigil_detector_new(0, key_b, &b, NULL, 0), 0);
	run(a, one, sizeof(one) - 1, 4096, &s1);
	run(a, two, sizeof(two) - 1, 4096, &s2);
	run(b, two, sizeof(two) - 1, 4096, &s3);
	assert_int_equal(s1.n, 1);
	assert_int_equal(s2.n, 1);
	assert_int_equal(s3.n, 1);
	/* Same digits, different formatting: one secret. */
	assert_string_equal(s1.h[0].fp, s2.h[0].fp);
	/* Another key gives another fingerprint: nobody can precompute card digests. */
	assert_string_not_equal(s2.h[0].fp, s3.h[0].fp);
	assert_int_equal(strlen(s1.h[0].fp), 71);
	vigil_detector_free(a);
	vigil_detector_free(b);
}

static void test_categories_select_rules(void **state)
{
	static const char text[] = "card 4111111111111111 iban DE89370400440532013000\n";
	vigil_detector *d;
	seen s;
	(void)state;

	assert_int_equal(vigil_detector_new(1u << VIGIL_CAT_IBAN, key_a, &d, NULL, 0), 0);
	run(d, text, sizeof(text) - 1, 4096, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.h[0].cat, VIGIL_CAT_IBAN);
	vigil_detector_free(d);
	/* Only a category without patterns: no database, and nothing found. */
	assert_int_equal(vigil_detector_new(1u << VIGIL_CAT_ENCRYPTED_ARCHIVE, key_a, &d, NULL, 0),
			 0);
	run(d, text, sizeof(text) - 1, 4096, &s);
	assert_int_equal(s.n, 0);
	vigil_detector_free(d);
}

static void test_all_rules_compile(void **state)
{
	/* Each pattern on its own, so a broken one is named. */
	(void)state;
	for (size_t i = 0; i < vigil_rules_count; i++) {
		assert_non_null(vigil_rules[i].validate);
		assert_true(vigil_rules[i].max_before <= VIGIL_WINDOW_KEEP / 2);
		assert_true(vigil_rules[i].max_after <= VIGIL_MAX_AFTER);
	}
	vigil_detector *d;
	char err[256] = "";
	int r = vigil_detector_new(0, key_a, &d, err, sizeof(err));
	if (r != 0)
		fail_msg("rules do not compile: %s", err);
	vigil_detector_free(d);
}

static void test_long_digit_run_is_cheap(void **state)
{
	/* 8 MB of digits: no finding (part of a longer run), and it must not be quadratic. */
	size_t n = 8u << 20;
	char *b = malloc(n);
	vigil_detector *d;
	seen s;
	(void)state;

	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (char)('0' + (i * 7 + i / 13) % 10);
	assert_int_equal(vigil_detector_new(0, key_a, &d, NULL, 0), 0);
	run(d, b, n, 1 << 20, &s);
	assert_int_equal(s.n, 0);
	vigil_detector_free(d);
	free(b);
}

static int count_card(void *user, const vigil_finding *f)
{
	unsigned *n = user;

	if (f->category == VIGIL_CAT_PAYMENT_CARD)
		(*n)++;
	return 0;
}

/* Scan text with the public scanner; returns the card findings reported. */
static unsigned cards_in(const char *text, const char *keyfile)
{
	vigil_scan_options o;
	vigil_scanner *sc;
	unsigned n = 0;
	vigil_scan_callbacks cb = {.on_finding = count_card, .user = &n};

	vigil_scan_options_default(&o);
	o.fingerprint_key = keyfile;
	assert_int_equal(vigil_scanner_new(&o, &sc, NULL, 0), 0);
	assert_int_equal(vigil_scanner_scan_buffer(sc, "t.json", text, strlen(text), &cb, NULL), 0);
	vigil_scanner_free(sc);
	return n;
}

static void test_numeric_data_drops_chance_cards(void **state)
{
	/* 300 random 16-digit references (a tenth pass Luhn by chance) and one real card:
	 * unnamed, it cannot be told from the chance passes; named ("pan"), it stays. */
	char keyfile[] = "/tmp/vigil-test-key.XXXXXX";
	size_t cap = 300 * 64 + 256, len = 0;
	char *text = malloc(cap);
	unsigned seed = 42, plain, named;
	int fd = mkstemp(keyfile);
	(void)state;

	assert_true(fd >= 0);
	close(fd);
	unlink(keyfile); /* the scanner creates it */
	for (int i = 0; i < 300; i++) {
		char ref[17];
		ref[0] = (char)('4' + i % 3);
		for (int k = 1; k < 16; k++) {
			seed = seed * 1103515245u + 12345u;
			ref[k] = (char)('0' + (seed >> 16) % 10);
		}
		ref[16] = '\0';
		len += (size_t)snprintf(text + len, cap - len, "{\"ref\": \"%s\"}\n", ref);
	}
	snprintf(text + len, cap - len, "{\"ref\": \"4111111111111111\"}\n");
	plain = cards_in(text, keyfile);
	snprintf(text + len, cap - len, "{\"pan\": \"4111111111111111\"}\n");
	named = cards_in(text, keyfile);
	assert_int_equal(plain, 0);
	assert_int_equal(named, 1);
	/* The same card alone in a file is reported, named or not. */
	assert_int_equal(cards_in("{\"ref\": \"4111111111111111\"}\n", keyfile), 1);
	unlink(keyfile);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_rules_compile),
	    cmocka_unit_test(test_straddles_boundaries),
	    cmocka_unit_test(test_number_rules_straddle_boundaries),
	    cmocka_unit_test(test_finder_matches_reference),
	    cmocka_unit_test(test_pem_straddles_window),
	    cmocka_unit_test(test_same_secret_reported_once),
	    cmocka_unit_test(test_fingerprints),
	    cmocka_unit_test(test_categories_select_rules),
	    cmocka_unit_test(test_long_digit_run_is_cheap),
	    cmocka_unit_test(test_numeric_data_drops_chance_cards),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
