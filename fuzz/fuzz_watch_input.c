/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the bytes vigil watch reads that another user controls — a process's
 * /proc/PID/status (its name is whatever it set), the head of a written file (exfiltration
 * staging's sniffer), a fd's link text (its path) — and the secret-reads counter fed with
 * arbitrary pids and files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exfil_int.h"
#include "procinfo.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exact-size copies, so a read past the end is caught. */
	char *text = malloc(size ? size : 1);
	vigil_proc *p = vigil_proc_new_bare(1, VIGIL_PROC_ALIVE);
	size_t n, half = size / 2;
	bool deleted = false;
	static exfil_reads reads;
	static bool reads_ready;

	if (text == NULL || p == NULL)
		goto out;
	memcpy(text, data, size);

	/* /proc/PID/status: comm always terminated and bounded, ppid sane. */
	(void)vigil_proc_parse_status(p, text, size);
	FUZZ_CHECK(memchr(p->comm, '\0', sizeof(p->comm)) != NULL);
	FUZZ_CHECK(p->ppid >= -1);

	/* A file's head, as much as the sniffer reads. */
	(void)exfil_sniff(data, size < EXFIL_SNIFF_BYTES ? size : EXFIL_SNIFF_BYTES);

	/* A link's text, and a directory and a path from the two halves. */
	n = exfil_strip_deleted(text, size, &deleted);
	FUZZ_CHECK(n <= size);
	FUZZ_CHECK(!deleted || n + 10 == size);
	if (half > 0 && memchr(text, '\0', half) == NULL) {
		char *dir = strndup(text, half);

		if (dir != NULL)
			(void)exfil_path_under(dir, text + half, size - half);
		free(dir);
	}

	/* The counter: pids, parents and files from the input, time moving forward. */
	if (!reads_ready) {
		exfil_reads_init(&reads, 10, 60000000);
		reads_ready = true;
	}
	for (size_t i = 0; i + 6 <= size; i += 6) {
		static int64_t now;
		int pid = 1 + data[i] % 200, ppid = (int)(data[i + 1] % 50) - 1;
		uint32_t file = (uint32_t)data[i + 2] | (uint32_t)data[i + 3] << 8;
		exfil_tracker *t;

		now += (int64_t)data[i + 4] * data[i + 5] * 1000;
		if ((t = exfil_reads_note(&reads, pid, ppid, file, now)) != NULL) {
			FUZZ_CHECK(t->n >= 10 && t->n <= EXFIL_READS_MAX);
			exfil_reads_fired(&reads, t, now);
		}
	}
out:
	vigil_proc_unref(p);
	free(text);
	return 0;
}
