/* SPDX-License-Identifier: Apache-2.0 */
/* vigil — the secrets inventory: where `vigil scan --record` found sensitive data (paths,
 * file identities, counts per category and keyed fingerprints, never a secret), read by
 * `vigil watch` to notice a process that reads many of those files in a short time. */
#ifndef VIGIL_INVENTORY_H
#define VIGIL_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/finding.h"
#include "vigil/vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Keyed fingerprints kept per file at most (one per distinct secret); counts go on. */
#define VIGIL_INVENTORY_MAX_FPS 256

typedef struct vigil_inventory vigil_inventory;

/* One file that held findings when it was recorded. Valid during the callback. */
typedef struct vigil_inventory_file {
	const char *path; /* absolute and canonical (symlinks resolved); any bytes but NUL */
	size_t path_len;
	uint64_t dev, ino, size; /* as stat(2) gave them when recorded */
	int64_t mtime_ns;
	int64_t recorded_us;              /* when (µs since the epoch) */
	uint64_t counts[VIGIL_CAT_COUNT]; /* findings per vigil_category */
} vigil_inventory_file;

/*
 * Opens the inventory at path. writable: created when missing (mode 0600; its directory
 * is made 0700 when missing, one level only), for recording. Read-only otherwise.
 * err (cap bytes) receives a sentence on failure. Returns 0 and sets *out (free with
 * vigil_inventory_close); VIGIL_E_NOT_FOUND (read-only and no such file), VIGIL_E_FORMAT
 * (not an inventory, or one written by a newer vigil), VIGIL_E_SYSTEM (errno kept),
 * VIGIL_E_NOMEM.
 */
VIGIL_API int vigil_inventory_open(const char *path, bool writable, vigil_inventory **out,
				   char *err, size_t cap);

/* Closes it; a record begun and not committed is rolled back. Accepts NULL. */
VIGIL_API void vigil_inventory_close(vigil_inventory *inv);

/*
 * Starts recording one scan of roots (the scan's PATH arguments, borrowed during the
 * call). What the inventory held under each root is replaced by what this record adds,
 * at commit, in one transaction. Roots that do not exist are skipped (the scan warns).
 * Returns 0, VIGIL_E_INVALID (read-only, or a record is already open), VIGIL_E_LIMIT
 * (another process holds the database), VIGIL_E_FORMAT, VIGIL_E_NOMEM.
 */
VIGIL_API int vigil_inventory_record_begin(vigil_inventory *inv, const char *const *roots,
					   size_t nroots);

/*
 * Adds one finding of the record (called from vigil_scan_callbacks.on_finding; the
 * findings of one file arrive together). Only the file's identity, the category and the
 * finding's keyed fingerprint are kept. Returns 0, VIGIL_E_INVALID (no record open),
 * VIGIL_E_FORMAT (database error), VIGIL_E_NOMEM.
 */
VIGIL_API int vigil_inventory_record_finding(vigil_inventory *inv, const vigil_finding *f);

/* Writes the record: the roots' old entries are replaced. *files (may be NULL) receives
 * the number of files recorded. Returns 0, VIGIL_E_INVALID, VIGIL_E_LIMIT (busy),
 * VIGIL_E_FORMAT. */
VIGIL_API int vigil_inventory_record_commit(vigil_inventory *inv, uint64_t *files);

/* Drops a record begun: the inventory stays as it was. Accepts a handle with none open. */
VIGIL_API void vigil_inventory_record_abort(vigil_inventory *inv);

/*
 * Calls fn for every file recorded, in path order, until fn returns non-zero (that value
 * is returned). Returns 0, fn's value, VIGIL_E_FORMAT (database error), VIGIL_E_NOMEM.
 */
VIGIL_API int vigil_inventory_foreach(vigil_inventory *inv,
				      int (*fn)(void *user, const vigil_inventory_file *f),
				      void *user);

/* The last error's sentence ("" if none). Valid until the next call on inv. */
VIGIL_API const char *vigil_inventory_error(const vigil_inventory *inv);

#ifdef __cplusplus
}
#endif
#endif
