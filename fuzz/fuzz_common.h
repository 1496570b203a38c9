/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the libFuzzer targets: a scanner with a throw-away fingerprint key, and a scan
 * of one buffer whose every callback is checked against the API's promises. */
#ifndef VIGIL_FUZZ_COMMON_H
#define VIGIL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "vigil/scan.h"

/* Aborts, so that libFuzzer keeps the input, when a promise of the code under test breaks. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* What one scan produced, to compare two scans of the same bytes. */
typedef struct fuzz_result {
	uint64_t findings; /* on_finding calls */
	uint64_t digest;   /* FNV-1a over every finding's fields, in order */
	vigil_scan_stats stats;
} fuzz_result;

/*
 * A scanner for `o` whose fingerprint key lives in a private temporary directory that is
 * removed at exit. Aborts on failure: a target without a scanner cannot run.
 */
vigil_scanner *fuzz_scanner_new(vigil_scan_options *o);

/*
 * Scan buf as a file named `name` and check every finding and warning: strings are
 * NUL-terminated where the API says, enums in range, the path is `name`, redacted text
 * shows no more of a card or SSN than allowed, the totals match the callbacks.
 * `in_archive` allows members and expanded offsets. Aborts on a broken promise.
 */
void fuzz_scan(vigil_scanner *s, const char *name, const uint8_t *buf, size_t len, int in_archive,
	       fuzz_result *out);

#endif
