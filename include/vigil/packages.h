/* SPDX-License-Identifier: Apache-2.0 */
/* Verification of installed Debian package files against the MD5 sums dpkg recorded (what
 * debsums does), and the package that owns a path. */
#ifndef VIGIL_PACKAGES_H
#define VIGIL_PACKAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigil/vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What dpkg's database is trusted for, and what not: the MD5 sums are written by the
 * package manager and are as writable by root as the files they describe, and MD5 admits
 * chosen-prefix collisions. So this is a check a fresh machine can run without a baseline
 * (a trojaned binary dropped by a careless intruder, a corrupted disk), not a tamper-proof
 * one: a sealed vigil baseline is. Every admin file (status, diversions, info/PKG.md5sums,
 * info/PKG.list) is parsed as untrusted bytes: a malformed line is counted, reported through
 * on_warning and skipped, never trusted in part.
 */

/* What is wrong with one package file. */
typedef enum vigil_pkg_problem {
	VIGIL_PKG_CHANGED = 0, /* the content's MD5 differs from the recorded one */
	VIGIL_PKG_MISSING,     /* no such file, or a parent directory is missing (err) */
	VIGIL_PKG_UNREADABLE,  /* exists but could not be opened or read (err) */
	VIGIL_PKG_REPLACED,    /* no longer a regular file: a symlink, directory, FIFO, device */
	VIGIL_PKG_PROBLEM_COUNT
} vigil_pkg_problem;

/* One problem. Every pointer is valid only during the on_result call. */
typedef struct vigil_pkg_result {
	const char *package;     /* "bash", or "libc6:amd64" for a Multi-Arch: same package */
	const char *path;        /* as the package lists it: absolute, "/usr/bin/bash"; bytes
				  * as on disk (not necessarily UTF-8: the caller escapes) */
	const char *diverted_to; /* where dpkg-divert moved it, and what was checked; or NULL */
	vigil_pkg_problem problem;
	int err;           /* errno for MISSING, UNREADABLE and REPLACED; 0 for CHANGED */
	char expected[33]; /* the recorded MD5, lower-case hex */
	char actual[33];   /* the MD5 now (CHANGED only, else ""), lower-case hex */
	bool conffile;     /* listed in the status file's Conffiles: an administrator may edit
			    * it legitimately, callers may show it apart */
} vigil_pkg_result;

/* Writes r as one JSON object (no newline), shaped like a `vigil check --format json`
 * change: path (U+FFFD and path_bytes_b64 when not UTF-8), change, source "dpkg",
 * problem, attributes, package, conffile, diverted_to, old/new {"hash":"md5:..."}. */
VIGIL_API void vigil_pkg_result_write_json(FILE *f, const vigil_pkg_result *r);

/* Writes the member ,"package":"NAME" (valid UTF-8 whatever the bytes) explaining a
 * change by the package that owns the path. */
VIGIL_API void vigil_pkg_write_owner_json(FILE *f, const char *package);

typedef struct vigil_pkg_stats {
	uint64_t packages;  /* packages with at least one file checked */
	uint64_t files;     /* files checked, conffiles included */
	uint64_t conffiles; /* of those, conffiles */
	uint64_t bytes;     /* bytes hashed */
	uint64_t changed;   /* results per problem (conffiles included) */
	uint64_t missing;
	uint64_t unreadable;
	uint64_t replaced;
	uint64_t conffiles_changed; /* of `changed`, conffiles */
	uint64_t malformed;         /* lines rejected in status, diversions, md5sums (and .list
				     * for owners) */
	uint64_t skipped_files;     /* entries with nothing to check: conffiles without a hash
				     * ("newconffile"), obsolete ones */
	uint64_t skipped_packages;  /* md5sums or .list files of packages whose
				     * files are not all in place per status */
} vigil_pkg_stats;

typedef struct vigil_dpkg_options {
	const char *root;     /* the installed system; NULL or "/" = this one. Every package
			       * path is resolved inside it: symlinks in parent directories
			       * (merged /usr: /lib -> usr/lib) are followed as if ROOT were
			       * "/" (openat2 RESOLVE_IN_ROOT), the last component never */
	const char *admindir; /* dpkg's database as this process sees it (not resolved in
			       * root, like dpkg --admindir); NULL = ROOT/var/lib/dpkg */
	unsigned jobs;        /* hashing threads; 0 = online CPUs (at most 64) */
	bool conffiles;       /* also check the status file's Conffiles (default true) */
	/* Called for every problem, in package then path order (bytewise). A non-zero
	 * return stops the calls and is returned by vigil_dpkg_verify. May be NULL. */
	int (*on_result)(void *user, const vigil_pkg_result *r);
	/* Called for every malformed line or skipped admin file: `file` is relative to the
	 * admin directory ("status", "info/bash.md5sums"), line is 1-based (0: the whole
	 * file), `why` a static message. Never shows the line's bytes. May be NULL. */
	void (*on_warning)(void *user, const char *file, uint64_t line, const char *why);
	void *user;
} vigil_dpkg_options;

/* Defaults: root "/", admindir NULL, jobs 0, conffiles true, no callbacks. */
VIGIL_API void vigil_dpkg_options_default(vigil_dpkg_options *o);

/*
 * Checks every file of every installed package (dpkg state unpacked, half-configured,
 * triggers-awaited, triggers-pending or installed: all its files are in place; packages
 * not-installed, config-files or half-installed are counted in skipped_packages) against
 * ADMINDIR/info/PACKAGE.md5sums, and with o->conffiles every conffile against its hash in
 * ADMINDIR/status. A path listed both ways is checked once, as a conffile.
 *
 * Diversions (ADMINDIR/diversions): a file that dpkg-divert moved is checked where it
 * now lives. For a diversion of FROM to TO by package D, FROM as shipped by any package
 * other than D (every package, for a local diversion) is checked at TO and reported as
 * path FROM with diverted_to TO; D's own FROM is checked at FROM.
 *
 * Files are opened with O_NOFOLLOW|O_NOATIME (vigil_open_regular), so a package file
 * replaced by a symlink is VIGIL_PKG_REPLACED, never followed; parent directories are
 * resolved within root, following symlinks.
 *
 * Returns 0 (problems are results, not errors); VIGIL_E_INVALID for bad options;
 * VIGIL_E_SYSTEM if root, the admin directory, its status file or info directory
 * cannot be opened or read (errno kept, err names the path); VIGIL_E_LIMIT if an admin
 * file is larger than its limit (status 256 MiB; md5sums 64 MiB is a warning instead)
 * or there are more than 16 Mi entries; VIGIL_E_CRYPTO if OpenSSL has no MD5 (a FIPS-only
 * provider); VIGIL_E_NOMEM; or on_result's non-zero return. err (cap bytes, may be NULL)
 * gets a NUL-terminated message on failure. stats (may be NULL) is filled in any case
 * with what was done.
 */
VIGIL_API int vigil_dpkg_verify(const vigil_dpkg_options *o, vigil_pkg_stats *stats, char *err,
				size_t cap);

/* Which packages own which paths, from ADMINDIR/info/PACKAGE.list. */
typedef struct vigil_dpkg_owners vigil_dpkg_owners;

/*
 * Loads the .list files of installed packages (as for vigil_dpkg_verify) (o->root, o->admindir,
 * o->on_warning and o->user are used). Returns 0 and *out (free with vigil_dpkg_owners_free), or
 * the errors of vigil_dpkg_verify. stats may be NULL; only malformed and skipped_packages are set.
 */
VIGIL_API int vigil_dpkg_owners_load(const vigil_dpkg_options *o, vigil_dpkg_owners **out,
				     vigil_pkg_stats *stats, char *err, size_t cap);

/* Frees; accepts NULL. */
VIGIL_API void vigil_dpkg_owners_free(vigil_dpkg_owners *w);

/*
 * The packages owning `path` (absolute, as on the installed system): writes up to cap
 * package names (borrowed: valid until vigil_dpkg_owners_free) into pkgs, sorted and
 * without duplicates, and returns how many there are in total (0: no package).
 * Follows what dpkg cannot: with merged /usr (ROOT/bin a symlink to usr/bin, likewise
 * sbin and lib*), /usr/bin/x also finds the owner of /bin/x and the other way round; a
 * diverted-to path finds the packages whose file was moved there, and a diverted path
 * only the diverting package.
 */
VIGIL_API size_t vigil_dpkg_owner(const vigil_dpkg_owners *w, const char *path, const char **pkgs,
				  size_t cap);

#ifdef __cplusplus
}
#endif
#endif
