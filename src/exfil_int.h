/* SPDX-License-Identifier: Apache-2.0 */
/* The pure parts of the exfiltration-staging defense (src/exfil.c), exposed for its unit
 * tests: which formats count as staging, path tests, and the secret-reads counter.
 * Private to libvigil. */
#ifndef VIGIL_EXFIL_INT_H
#define VIGIL_EXFIL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive_int.h"

/* Bytes read from the start of a written file to recognise it (tar's magic is at 257). */
#define EXFIL_SNIFF_BYTES 4096u

/* The container or compressed stream a written file is, by content, if it is one that
 * data is staged in; VIGIL_CONT_NONE otherwise (ar: static libraries and packages;
 * ISO images: their magic lies beyond EXFIL_SNIFF_BYTES). */
vigil_container exfil_sniff(const uint8_t *p, size_t n);

/* True if path (len bytes) is dir itself or lies below it (dir canonical, no trailing
 * slash except "/"). */
bool exfil_path_under(const char *dir, const char *path, size_t len);

/* readlink(2) of /proc/self/fd/N says "PATH (deleted)" for an unlinked file: returns
 * the length without that suffix and sets *deleted. */
size_t exfil_strip_deleted(const char *path, size_t len, bool *deleted);

/* ---- secret reads: one process, or the children of one parent, opening many distinct
 * inventory files within a window ---- */

#define EXFIL_READS_SLOTS 128 /* processes and trees followed at once (LRU) */
#define EXFIL_READS_MAX   64  /* distinct files remembered per process; >= threshold */

typedef struct exfil_tracker {
	int pid;   /* 0: free */
	bool tree; /* counts the opens of pid's children */
	int64_t last_us;
	int64_t quiet_until_us; /* alerted: no other alert for it before then */
	unsigned n;
	uint32_t file[EXFIL_READS_MAX]; /* inventory indexes, distinct */
	int64_t at_us[EXFIL_READS_MAX];
} exfil_tracker;

typedef struct exfil_reads {
	unsigned threshold; /* distinct files, 1..EXFIL_READS_MAX */
	int64_t window_us;
	exfil_tracker slot[EXFIL_READS_SLOTS];
} exfil_reads;

/* Sets the threshold (clamped to 1..EXFIL_READS_MAX) and window; clears everything. */
void exfil_reads_init(exfil_reads *r, unsigned threshold, int64_t window_us);

/*
 * Notes that process pid (parent ppid; <= 1 if unknown or init) opened inventory file
 * `file` at now_us. Returns the tracker that just reached the threshold — the process's
 * own, else its parent's tree — or NULL. The caller reads its files, then calls
 * exfil_reads_fired. A process that fires quiets its parent's tree too, so one burst is
 * one alert.
 */
exfil_tracker *exfil_reads_note(exfil_reads *r, int pid, int ppid, uint32_t file, int64_t now_us);

/* After an alert for t: no further alert for it within the window; its files are cleared. */
void exfil_reads_fired(exfil_reads *r, exfil_tracker *t, int64_t now_us);

#endif
