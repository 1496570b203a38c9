/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as a file that may be an archive or compressed stream,
 * opened through libarchive with small limits, every member scanned and checked. */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vigil_scanner *scanner;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vigil_scan_options o;

	(void)argc;
	(void)argv;
	vigil_scan_options_default(&o);
	o.scan_archives = true;
	o.jobs = 1;
	/* Small enough that a bomb costs well under libFuzzer's per-input timeout and RSS
	 * limit, large enough for nesting and multi-member archives. */
	o.max_archive_bytes = 64ull << 20;
	o.max_depth = 4;
	o.max_entries = 10000;
	scanner = fuzz_scanner_new(&o);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_result r;

	fuzz_scan(scanner, "fuzz-input", data, size, 1, &r);
	return 0;
}
