/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as a spool segment file (and optionally a cursor file),
 * read back as vigil_sink does after a restart, with the spool's promises checked. */
#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "vigil/vigil.h"

/*
 * Input layout:
 *   [@crc] [@cur N CURSOR] SEGMENT
 * "@crc": before writing, every "VGR1" whose length field fits gets its CRC-32C made
 * right, so the checks behind the CRC (field ranges, UTF-8, CR/LF) are reached.
 * "@cur" and one byte N: the next N bytes are written as the cursor file.
 * SEGMENT is written as the spool's one segment file, after the "VGSPOOL1" header unless
 * it begins with "@raw" (then as is, to reach the header check).
 *
 * Promises checked (abort on a broken one):
 *   - open succeeds on any segment content, and the records it counts as pending are
 *     exactly those vigil_spool_next returns, every one within the documented ranges;
 *   - reading again after a rewind returns the same records;
 *   - after everything is committed, the spool is empty, also for the next open.
 */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void clean(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[sizeof(dir) + 300];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

static void remove_dir(void)
{
	clean();
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	strcpy(dir, "/tmp/vigil-fuzz-spool.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(remove_dir);
	return 0;
}

static void write_file(const char *name, const void *p, size_t n, const void *head, size_t hn)
{
	char path[sizeof(dir) + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		abort();
	if ((hn && write(fd, head, hn) != (ssize_t)hn) || (n && write(fd, p, n) != (ssize_t)n))
		abort();
	close(fd);
}

static void fix_crcs(uint8_t *p, size_t n)
{
	for (size_t i = 0; i + VIGIL_SPOOL_REC_HDR <= n; i++) {
		size_t plen;
		uint32_t crc;

		if (memcmp(p + i, "VGR1", 4) != 0)
			continue;
		plen = (size_t)p[i + 4] | (size_t)p[i + 5] << 8 | (size_t)p[i + 6] << 16 |
		       (size_t)p[i + 7] << 24;
		if (plen > n - i - VIGIL_SPOOL_REC_HDR)
			continue;
		crc = vigil_crc32c(0, p + i + 4, 16);
		crc = vigil_crc32c(crc, p + i + VIGIL_SPOOL_REC_HDR, plen);
		for (int k = 0; k < 4; k++)
			p[i + 20 + k] = (uint8_t)(crc >> (8 * k));
	}
}

static uint64_t digest_rec(uint64_t h, const vigil_spool_rec *r)
{
	const uint8_t *parts[2] = {(const uint8_t *)r->kind, (const uint8_t *)r->json};
	size_t lens[2] = {r->kind_len, r->len};

	h = (h ^ (uint64_t)r->time_us) * 0x100000001b3ull;
	h = (h ^ (uint64_t)r->severity) * 0x100000001b3ull;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < lens[k]; i++)
			h = (h ^ parts[k][i]) * 0x100000001b3ull;
	return h;
}

/* Reads every record; checks each; returns the count and a digest of them. */
static uint64_t read_all(vigil_spool *sp, uint64_t *digest, vigil_spool_pos *last, size_t cap)
{
	vigil_spool_rec r;
	vigil_spool_pos pos;
	uint64_t n = 0, h = 0xcbf29ce484222325ull;
	int rc;

	while ((rc = vigil_spool_next(sp, &r, &pos)) == 0) {
		if (r.severity < 0 || r.severity > 7 || r.kind_len > VIGIL_SPOOL_KIND_MAX ||
		    r.len == 0 || r.len > VIGIL_SPOOL_JSON_MAX || memchr(r.json, '\n', r.len) ||
		    memchr(r.json, '\r', r.len) || memchr(r.json, '\0', r.len))
			abort();
		for (size_t i = 0; i < r.kind_len; i++)
			if (r.kind[i] < 33 || r.kind[i] > 126)
				abort();
		h = digest_rec(h, &r);
		*last = pos;
		/* A record takes at least 25 bytes: more records than that is a loop. */
		if (++n > cap / 25 + 1)
			abort();
	}
	if (rc != VIGIL_E_NOT_FOUND)
		abort();
	*digest = h;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *cursor = NULL;
	size_t cursor_len = 0;
	bool crc = false, raw = false;
	uint8_t *seg;
	vigil_spool *sp = NULL;
	vigil_spool_stats st;
	vigil_spool_pos last;
	uint64_t n1, n2, d1, d2;
	char err[256];

	if (size >= 4 && memcmp(data, "@crc", 4) == 0) {
		crc = true;
		data += 4;
		size -= 4;
	}
	if (size >= 5 && memcmp(data, "@cur", 4) == 0) {
		cursor_len = data[4];
		if (cursor_len > size - 5)
			cursor_len = size - 5;
		cursor = data + 5;
		data += 5 + cursor_len;
		size -= 5 + cursor_len;
	}
	if (size >= 4 && memcmp(data, "@raw", 4) == 0) {
		raw = true;
		data += 4;
		size -= 4;
	}
	if ((seg = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(seg, data, size);
	if (crc)
		fix_crcs(seg, size);
	clean();
	write_file("8000000000000000.spool", seg, size, raw ? NULL : "VGSPOOL1", raw ? 0 : 8);
	if (cursor != NULL)
		write_file("cursor", cursor, cursor_len, NULL, 0);
	free(seg);

	if (vigil_spool_open(dir, 1 << 30, &sp, err, sizeof(err)) != 0)
		abort(); /* any content is readable: damage is skipped, not fatal */
	vigil_spool_get_stats(sp, &st);
	n1 = read_all(sp, &d1, &last, size + 8);
	if (n1 != st.pending)
		abort();
	vigil_spool_rewind(sp);
	n2 = read_all(sp, &d2, &last, size + 8);
	if (n2 != n1 || d2 != d1)
		abort();
	if (n1 > 0 && vigil_spool_commit(sp, &last, true) != 0)
		abort();
	vigil_spool_get_stats(sp, &st);
	if (st.pending != 0 || st.segments != 0)
		abort();
	vigil_spool_close(sp);
	if (vigil_spool_open(dir, 1 << 30, &sp, err, sizeof(err)) != 0)
		abort();
	vigil_spool_get_stats(sp, &st);
	if (st.pending != 0 || st.torn != 0)
		abort();
	vigil_spool_close(sp);
	return 0;
}
