/* SPDX-License-Identifier: Apache-2.0 */
/* The parsers of dpkg's admin files behind dpkg.h, exposed for unit tests and the fuzzer.
 * Private to libvigil. */
#ifndef VIGIL_DPKG_INT_H
#define VIGIL_DPKG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/packages.h"

#define VIGIL_DPKG_MD5_LEN     16
#define VIGIL_DPKG_MAX_ENTRIES (16u << 20) /* md5sums and conffile entries, all packages */
#define VIGIL_DPKG_MAX_OWNED   (64u << 20) /* .list lines, all packages */

/* One file to check. Strings live in the db's arena. */
typedef struct vigil_dpkg_entry {
	const char *package;     /* "bash", "libc6:amd64" */
	const char *path;        /* absolute, validated: no empty, "." or ".." component */
	const char *diverted_to; /* set by vigil_dpkg_db_finish, else NULL */
	uint8_t md5[VIGIL_DPKG_MD5_LEN];
	bool conffile;
} vigil_dpkg_entry;

/* What the parsers collected: entries, installed packages, diversions, owned paths. */
typedef struct vigil_dpkg_db vigil_dpkg_db;

/* A db reporting malformed lines through on_warning(user, ...) (both may be NULL).
 * Returns 0 or VIGIL_E_NOMEM; free with vigil_dpkg_db_free (accepts NULL). */
int vigil_dpkg_db_new(void (*on_warning)(void *user, const char *file, uint64_t line,
					 const char *why),
		      void *user, vigil_dpkg_db **out);
void vigil_dpkg_db_free(vigil_dpkg_db *db);

/*
 * Adds the lines of an md5sums file ("<32 hex>  <path without leading slash>", or " *"
 * between them as md5sum -b writes) for `package` (validated: a dpkg package name,
 * optionally ":arch"; an invalid one rejects the whole file as malformed). Malformed
 * lines — a digest that is not 32 hex digits, no separator, an empty line, an absolute
 * path, an empty, "." or ".." component, a NUL byte, a path over 4095 bytes or a
 * component over 255 — are counted and skipped. `file` names it in warnings.
 * Returns 0, VIGIL_E_LIMIT (more than VIGIL_DPKG_MAX_ENTRIES in the db) or VIGIL_E_NOMEM.
 */
int vigil_dpkg_parse_md5sums(vigil_dpkg_db *db, const char *file, const char *package,
			     const char *buf, size_t len);

/*
 * Adds the status file: which packages have all their files in place (state unpacked,
 * half-configured, triggers-awaited, triggers-pending, installed) and, with `conffiles`, their
 * Conffiles entries
 * (" /path <md5>[ obsolete][ remove-on-upgrade]"; obsolete, remove-on-upgrade and those
 * without a hash, "newconffile", count as skipped files). deb822 strictly: a line that is
 * neither "Field: value", a continuation nor blank, a paragraph without Package or
 * Status, a duplicated or continued single-line field, an invalid package name,
 * architecture or state make the paragraph malformed (counted once, dropped); a bad
 * conffile line drops only that entry. Multi-Arch: same packages are named "name:arch".
 * Returns 0, VIGIL_E_LIMIT or VIGIL_E_NOMEM.
 */
int vigil_dpkg_parse_status(vigil_dpkg_db *db, const char *buf, size_t len, bool conffiles);

/* Adds the diversions file: groups of three lines FROM, TO, PACKAGE (":" for a local
 * diversion); both paths absolute and valid as above. A bad group or a trailing partial
 * one is malformed. Returns 0 or VIGIL_E_NOMEM. */
int vigil_dpkg_parse_diversions(vigil_dpkg_db *db, const char *buf, size_t len);

/* Adds a .list file of `package`: one absolute path per line ("/." is skipped). Returns
 * 0, VIGIL_E_LIMIT (more than VIGIL_DPKG_MAX_OWNED) or VIGIL_E_NOMEM. */
int vigil_dpkg_parse_list(vigil_dpkg_db *db, const char *file, const char *package, const char *buf,
			  size_t len);

/* Whether the status file says `package` ("bash", "libc6" or "libc6:amd64") has all its
 * files in place. Valid after vigil_dpkg_parse_status. */
bool vigil_dpkg_is_installed(vigil_dpkg_db *db, const char *package);

/* Applies the diversions to the entries, sorts them by package then path (bytewise)
 * and drops duplicates (a path both in md5sums and Conffiles stays as a conffile).
 * Returns 0 or VIGIL_E_NOMEM. */
int vigil_dpkg_db_finish(vigil_dpkg_db *db);

/* The entries (sorted after vigil_dpkg_db_finish); valid until the next call on db. */
const vigil_dpkg_entry *vigil_dpkg_db_entries(const vigil_dpkg_db *db, size_t *n);

/* Adds the db's malformed and skipped_files counts into *s. */
void vigil_dpkg_db_counts(const vigil_dpkg_db *db, vigil_pkg_stats *s);

#endif
