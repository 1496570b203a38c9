/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as a file's first blocks through the destruction
 * defense's classifier, and as names through its rename / removal / ransom-note judges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "destruct_int.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	destruct_sample s, e = {0};
	size_t n = size < DESTRUCT_SAMPLE ? size : DESTRUCT_SAMPLE;
	/* An exact-size copy, so a read past the sample is caught. */
	uint8_t *b = malloc(n ? n : 1);
	const char *names = (const char *)data;
	size_t half = size / 2;
	int ev;

	if (b == NULL)
		return 0;
	memcpy(b, data, n);
	destruct_classify(b, n, size, &s);
	FUZZ_CHECK(s.cls <= DCLASS_CONST);
	FUZZ_CHECK(s.entropy <= 8000);
	FUZZ_CHECK(strcmp(destruct_class_name(s.cls), "unknown") != 0);
	FUZZ_CHECK((destruct_magic_name(&s) != NULL) == (s.cls == DCLASS_KNOWN));
	FUZZ_CHECK(n > 0 || s.cls == DCLASS_EMPTY);
	ev = destruct_judge_write(&s, &s);
	FUZZ_CHECK(ev == DEV_NONE || ev == DEV_FILLED || ev == DEV_ENCRYPTED);
	e.cls = DCLASS_EMPTY;
	FUZZ_CHECK(destruct_judge_write(&e, &s) == DEV_NONE);
	free(b);

	/* Two names from the input (any bytes; no NUL needed). */
	ev = destruct_judge_rename(names, half, names + half, size - half);
	FUZZ_CHECK(ev == DEV_NONE || ev == DEV_RENAMED);
	ev = destruct_stem(names, half, names + half, size - half);
	FUZZ_CHECK(ev == STEM_NONE || ev == STEM_LONGER || ev == STEM_SHORTER);
	(void)destruct_is_note_name(names, size);
	return 0;
}
