/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes through the detection engine and every validator
 * (archives off), twice, with the API's promises checked on each finding; and the
 * built-in trigger finder against its plain reference. */
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "fuzz_common.h"

/* Inputs that start with this prefix and two offset bytes are moved that far (in units of
 * 16 bytes, up to 1 MiB) into a stream of blank lines: the engine's window slides and
 * its scan chunks end deep in a stream, where small inputs never reach. */
#define PAD_MAGIC "@pad"
#define PAD_UNIT  16u

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vigil_scanner *scanner;

/* ---- the built-in finder against its reference ---- */

/* Match ends as (end << 2 | which), which < 4. */
typedef struct ends {
	uint64_t *e;
	size_t n, cap;
} ends;

static void add_end(ends *e, uint64_t end, unsigned which)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 64;
		if ((e->e = realloc(e->e, e->cap * sizeof(*e->e))) == NULL)
			abort();
	}
	e->e[e->n++] = end << 2 | which;
}

typedef struct finder_out {
	ends *e;
	uint64_t base;
} finder_out;

static int on_finder(void *user, vigil_builtin which, size_t end)
{
	finder_out *o = user;

	add_end(o->e, o->base + end, which);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The finder sees buf in chunks of `chunk` bytes, each in a buffer of its own holding only
 * the look-back it is promised, so that ASan catches a read outside; the reference sees
 * all of buf. The ends must be the same.
 */
static void finder_check(const uint8_t *buf, size_t len, size_t chunk)
{
	const unsigned all = (1u << VIGIL_BUILTIN_COUNT) - 2;
	ends want = {0}, got = {0};
	finder_out r = {&want, 0};

	vigil_digit_triggers_reference(buf, len, all, on_finder, &r);
	for (size_t from = 0; from < len; from += chunk) {
		size_t to = len - from < chunk ? len : from + chunk;
		size_t lo = from > VIGIL_DIGITS_LOOKBACK ? from - VIGIL_DIGITS_LOOKBACK : 0;
		finder_out o = {&got, lo};
		uint8_t *copy = malloc(to - lo);

		if (copy == NULL)
			abort();
		memcpy(copy, buf + lo, to - lo);
		vigil_digit_triggers(copy, from - lo, to - lo, all, on_finder, &o);
		free(copy);
	}
	if (want.n != got.n)
		abort();
	if (want.n > 0) {
		qsort(want.e, want.n, sizeof(*want.e), cmp_u64);
		qsort(got.e, got.n, sizeof(*got.e), cmp_u64);
		if (memcmp(want.e, got.e, want.n * sizeof(*want.e)) != 0)
			abort();
	}
	free(want.e);
	free(got.e);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vigil_scan_options o;

	(void)argc;
	(void)argv;
	vigil_scan_options_default(&o);
	o.scan_archives = false;
	o.jobs = 1;
	scanner = fuzz_scanner_new(&o);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t magic = sizeof(PAD_MAGIC) - 1;
	uint8_t *padded = NULL;
	const uint8_t *buf = data;
	size_t len = size;
	fuzz_result a, b;

	if (size >= magic + 2 && memcmp(data, PAD_MAGIC, magic) == 0) {
		size_t at = ((size_t)data[magic] << 8 | data[magic + 1]) * PAD_UNIT;

		len = at + size - magic - 2;
		if ((padded = malloc(len ? len : 1)) == NULL)
			abort();
		/* Blank lines: no trigger matches them, and nothing is glued to the input. */
		for (size_t i = 0; i < at; i++)
			padded[i] = (i % 64 == 63) ? '\n' : ' ';
		memcpy(padded + at, data + magic + 2, size - magic - 2);
		buf = padded;
	}
	fuzz_scan(scanner, "fuzz-input", buf, len, 0, &a);
	/* The same bytes again on the same scanner: no state may leak from one stream into
	 * the next (window, trigger queue, skip marks, line count). */
	fuzz_scan(scanner, "fuzz-input", buf, len, 0, &b);
	if (a.findings != b.findings || a.digest != b.digest)
		abort();
	/* Chunks of a size the last byte picks, so that matches straddle them. */
	if (size > 0)
		finder_check(data, size, 1 + data[size - 1] % 97);
	free(padded);
	return 0;
}
