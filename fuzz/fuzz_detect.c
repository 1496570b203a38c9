/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes through the detection engine and every validator
 * (archives off), twice, with the API's promises checked on each finding. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

/* Inputs that start with this prefix and two offset bytes are moved that far (in units of
 * 16 bytes, up to 1 MiB) into a stream of blank lines: the engine's window slides and
 * its scan chunks end deep in a stream, where small inputs never reach. */
#define PAD_MAGIC "@pad"
#define PAD_UNIT  16u

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vigil_scanner *scanner;

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
	free(padded);
	return 0;
}
