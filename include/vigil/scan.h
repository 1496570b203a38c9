/* SPDX-License-Identifier: Apache-2.0 */
/* vigil — the scanner: finds sensitive data in files, archives and byte buffers. */
#ifndef VIGIL_SCAN_H
#define VIGIL_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/finding.h"
#include "vigil/vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vigil_scanner vigil_scanner;

/* Why a file or archive was not (fully) scanned; counted in vigil_scan_stats. */
typedef enum vigil_skip {
	VIGIL_SKIP_UNREADABLE = 0, /* open or read failed (permission, I/O error) */
	VIGIL_SKIP_VANISHED,       /* removed or replaced while being scanned */
	VIGIL_SKIP_TOO_LARGE,      /* larger than max_file_size */
	VIGIL_SKIP_SPECIAL,        /* FIFO, socket or device node: never opened */
	VIGIL_SKIP_ARCHIVE_LIMIT,  /* an archive limit stopped expansion */
	VIGIL_SKIP_ARCHIVE_ERROR,  /* a corrupt or truncated archive */
	VIGIL_SKIP_LOOP,           /* a symlink loop (with follow_symlinks) */
	VIGIL_SKIP_COUNT
} vigil_skip;

typedef struct vigil_scan_options {
	unsigned jobs;               /* worker threads; 0 = number of online CPUs */
	unsigned categories;         /* bit set of (1u << vigil_category); 0 = all */
	uint64_t max_file_size;      /* bytes; 0 = no limit */
	bool scan_archives;          /* open archives and compressed streams */
	bool one_file_system;        /* do not cross mount points */
	bool follow_symlinks;        /* follow symbolic links (loops are detected) */
	uint64_t max_archive_bytes;  /* bytes expanded from one file, all levels; 0 = no limit */
	double max_ratio;            /* expanded/compressed per archive level; 0 = no limit */
	unsigned max_depth;          /* nesting depth of archives */
	uint64_t max_entries;        /* members in one file, all levels; 0 = no limit */
	const char *const *excludes; /* NULL-terminated globs matched against the path and
				      * its base name; borrowed for the scanner's life */
	const char *fingerprint_key; /* file holding the fingerprint key; NULL = default */
	const char *canary_db;       /* decoy registry (vigil canary): its decoys are skipped
				      * unopened. NULL = VIGIL_DEFAULT_CANARY_DB if it exists,
				      * "" = none */
} vigil_scan_options;

/* Fills *o with the defaults documented in vigil(1). */
VIGIL_API void vigil_scan_options_default(vigil_scan_options *o);

typedef struct vigil_scan_stats {
	uint64_t files_scanned;   /* regular files opened and read to the end */
	uint64_t bytes_scanned;   /* bytes read from disk */
	uint64_t bytes_expanded;  /* bytes produced by decompression and archive members */
	uint64_t archives_opened; /* containers and compressed streams opened, all levels */
	uint64_t members_scanned; /* archive members scanned */
	uint64_t findings[VIGIL_CAT_COUNT];
	uint64_t suppressed; /* findings dropped by the allowlist */
	uint64_t skipped[VIGIL_SKIP_COUNT];
	uint64_t dirs_walked;
} vigil_scan_stats;

/* Callbacks. They are never called concurrently: the scanner serialises them, and
 * the findings of one file arrive together, in stream order. */
typedef struct vigil_scan_callbacks {
	/* One finding; return non-zero to cancel the scan. */
	int (*on_finding)(void *user, const vigil_finding *f);
	/* A warning about one path (unreadable file, archive limit hit, ...).
	 * `path` may be invalid UTF-8; `member` NULL outside archives. */
	void (*on_warning)(void *user, const char *path, const char *member, const char *msg);
	/* Progress, from the thread that called vigil_scanner_scan_paths, about five
	 * times a second; `current` is a path being scanned (may be NULL). */
	void (*on_progress)(void *user, const vigil_scan_stats *s, const char *current);
	void *user;
} vigil_scan_callbacks;

/*
 * Compile the detectors and prepare a scanner. `opts` is copied (its excludes array is
 * borrowed). Returns 0 and sets *out, or a VIGIL_E_* code; `err` (if not NULL) receives a
 * readable reason of at most errlen bytes. Free with vigil_scanner_free().
 */
VIGIL_API int vigil_scanner_new(const vigil_scan_options *opts, vigil_scanner **out, char *err,
				size_t errlen);
VIGIL_API void vigil_scanner_free(vigil_scanner *s);

/* A non-fatal note from set-up the caller should show (for example: the fingerprint
 * key could not be kept, so fingerprints will differ between runs), or NULL. */
VIGIL_API const char *vigil_scanner_notice(const vigil_scanner *s);

/*
 * Add allowlist entries from a file: one per line, `sha256:<hex>` fingerprints or path
 * globs; `#` starts a comment. Returns 0, VIGIL_E_SYSTEM or VIGIL_E_FORMAT (err says
 * which line).
 */
VIGIL_API int vigil_scanner_load_allowlist(vigil_scanner *s, const char *file, char *err,
					   size_t errlen);

/*
 * Walk each path (file or directory) and scan every regular file with `jobs` workers.
 * Returns 0 when the walk completed (findings and warnings arrive through the
 * callbacks), VIGIL_E_CANCELLED if a callback asked to stop, or another VIGIL_E_* code for
 * a fatal error. *stats (if not NULL) receives the totals.
 */
VIGIL_API int vigil_scanner_scan_paths(vigil_scanner *s, const char *const *paths, size_t npaths,
				       const vigil_scan_callbacks *cb, vigil_scan_stats *stats);

/*
 * Scan one byte buffer as if it were the content of a file named `name` (archives are
 * opened when the scanner's options say so). Single-threaded; for tests, fuzzing and
 * the watch daemon.
 */
VIGIL_API int vigil_scanner_scan_buffer(vigil_scanner *s, const char *name, const void *buf,
					size_t len, const vigil_scan_callbacks *cb,
					vigil_scan_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
