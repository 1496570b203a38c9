/* SPDX-License-Identifier: Apache-2.0 */
/* vigil — decoy files (canaries): plant believable fake secrets, keep a registry of them,
 * list and remove them. `vigil watch` alerts on any open of a registered decoy. */
#ifndef VIGIL_CANARY_H
#define VIGIL_CANARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigil/vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef VIGIL_DEFAULT_CANARY_DB
#define VIGIL_DEFAULT_CANARY_DB "/var/lib/vigil/canaries.db"
#endif

/* What a decoy pretends to be. */
typedef enum vigil_decoy_kind {
	VIGIL_DECOY_PASSWORDS_XLSX = 0, /* an OOXML spreadsheet of sites, users, passwords */
	VIGIL_DECOY_SSH_KEY,            /* a private-key backup (OpenSSH Ed25519 or PEM RSA) */
	VIGIL_DECOY_PAYROLL_CSV,        /* a payroll export: names, SSNs, IBANs, salaries */
	VIGIL_DECOY_AWS_CREDENTIALS,    /* an AWS shared-credentials file */
	VIGIL_DECOY_KIND_COUNT
} vigil_decoy_kind;

/* "passwords_xlsx", "ssh_key", "payroll_csv", "aws_credentials"; "unknown" otherwise. */
VIGIL_API const char *vigil_decoy_kind_name(int kind);

/* Parses a kind name; returns 0 or VIGIL_E_INVALID. */
VIGIL_API int vigil_decoy_kind_parse(const char *name, vigil_decoy_kind *out);

/* What is on disk now at a decoy's path, judged without opening it (an open would look
 * like an intruder to vigil watch): by lstat against what was recorded at planting. */
typedef enum vigil_decoy_state {
	VIGIL_DECOY_INTACT = 0, /* same inode, size, mtime and ctime: untouched since planted */
	VIGIL_DECOY_CHANGED,    /* same inode, but written, touched or re-permissioned */
	VIGIL_DECOY_REPLACED,   /* another file (or not a regular file) holds the name */
	VIGIL_DECOY_MISSING,    /* nothing at the path */
} vigil_decoy_state;

/* "intact", "changed", "replaced", "missing". */
VIGIL_API const char *vigil_decoy_state_name(int state);

/* One registered decoy. Strings are borrowed: valid during the callback only. */
typedef struct vigil_decoy {
	const char *path; /* absolute */
	vigil_decoy_kind kind;
	uint64_t dev, ino;       /* the planted file's device and inode */
	uint64_t size;           /* bytes */
	const char *sha256;      /* hex digest of the content */
	int64_t planted_us;      /* when it was planted (microseconds since the epoch) */
	int64_t mtime;           /* the back-dated modification time given to it (seconds) */
	uint32_t planted_uid;    /* who planted it */
	const char *planted_by;  /* that user's name, or the uid as text */
	vigil_decoy_state state; /* list: what lstat shows now; plant: INTACT */
} vigil_decoy;

/* Writes d as one JSON object and a newline: "path" (with "path_bytes_b64" when the
 * bytes are not UTF-8), "kind", "state", "size", "sha256", "dev", "ino", "planted"
 * (RFC 3339), "mtime" (RFC 3339), "planted_uid", "planted_by". */
VIGIL_API void vigil_decoy_write_json(FILE *f, const vigil_decoy *d);

/* Called once per decoy; non-zero stops the run and is returned. */
typedef int (*vigil_decoy_fn)(void *user, const vigil_decoy *d);

/*
 * Plants one decoy of each kind in `kinds` (bit set of 1u << vigil_decoy_kind; 0 = all)
 * in directory dir and records them in the registry db (created with its directories,
 * 0700, and the file 0600, when missing). Names and contents are chosen at random from
 * built-in lists, so two hosts differ; the files belong to the directory's owner and are
 * back-dated by 1 to 13 months. An existing file is never overwritten: another name of
 * the kind is tried, and a kind with every name taken fails. on_planted (may be NULL) is
 * called for each decoy written. err (cap bytes) receives a sentence on failure.
 * Returns 0; VIGIL_E_INVALID (dir is not a directory, bad kinds); VIGIL_E_LIMIT (every
 * name of a kind is taken: the others were planted); VIGIL_E_FORMAT (db is not a decoy
 * registry); VIGIL_E_SYSTEM (errno kept); VIGIL_E_CRYPTO; VIGIL_E_ARCHIVE; VIGIL_E_NOMEM.
 */
VIGIL_API int vigil_canary_plant(const char *db, const char *dir, unsigned kinds,
				 vigil_decoy_fn on_planted, void *user, char *err, size_t cap);

/*
 * Calls fn for each registered decoy, in path order, with its state now (by lstat only:
 * a decoy is never opened). Returns 0; VIGIL_E_NOT_FOUND (no registry: nothing planted);
 * VIGIL_E_FORMAT; VIGIL_E_SYSTEM; VIGIL_E_NOMEM; or fn's non-zero value.
 */
VIGIL_API int vigil_canary_list(const char *db, vigil_decoy_fn fn, void *user, char *err,
				size_t cap);

/* What vigil_canary_remove did. */
typedef enum vigil_decoy_removal {
	VIGIL_DECOY_DELETED = 0, /* the file was deleted and unregistered */
	VIGIL_DECOY_WAS_GONE,    /* nothing (or another file) at the path: only unregistered */
	VIGIL_DECOY_KEPT,        /* its content no longer matches the digest: the file was kept
				  * (someone may have put data there), only unregistered */
} vigil_decoy_removal;

/*
 * Unregisters the decoy at path (absolute, or relative to the current directory) and
 * deletes its file. A decoy whose inode, size and ctime are as planted is deleted without
 * being opened; otherwise its content is read and compared with the digest first. The
 * row is deleted before the file, so a running vigil watch sees an unregistered file go.
 * *what (may be NULL) says what happened. Returns 0; VIGIL_E_NOT_FOUND (no registry, or
 * path is not a registered decoy); VIGIL_E_FORMAT; VIGIL_E_SYSTEM (errno kept; the row is
 * put back if the file could not be deleted); VIGIL_E_NOMEM.
 */
VIGIL_API int vigil_canary_remove(const char *db, const char *path, vigil_decoy_removal *what,
				  char *err, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
