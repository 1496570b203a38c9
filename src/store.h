/* SPDX-License-Identifier: Apache-2.0 */
/* The baseline database (SQLite, WAL): entries keyed by path, accept history, metadata,
 * schema versions, and the lock that keeps two writers apart. Private to libvigil. */
#ifndef VIGIL_STORE_H
#define VIGIL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"

#define VIGIL_STORE_SCHEMA  1  /* the schema version this code writes and reads */
#define VIGIL_STORE_MAC_MAX 64 /* the longest row MAC a row may hold */

typedef struct vigil_store vigil_store;

typedef enum vigil_store_mode {
	VIGIL_STORE_READ = 0,   /* check, baseline listing: shared lock, read-only handle */
	VIGIL_STORE_CREATE = 1, /* init: create the file (0600, parent dirs 0700) if missing */
	VIGIL_STORE_WRITE = 2,  /* accept: must exist */
} vigil_store_mode;

/*
 * Opens the database at path. Takes an advisory lock on "PATH.lock" (flock: shared for
 * READ, exclusive otherwise); if another process holds it and `wait` is true, calls
 * on_wait(user, holder_pid) once (holder_pid from the lock file, 0 if unknown) and then
 * blocks until it is free; with `wait` false returns VIGIL_E_LIMIT at once.
 * Then checks the schema: a file that is not SQLite, is corrupt or truncated, has no
 * vigil schema (READ/WRITE), or has a schema version other than VIGIL_STORE_SCHEMA is
 * refused with VIGIL_E_FORMAT and a message naming the problem in vigil_store_error
 * ("not a vigil baseline: ...", "baseline is corrupt: ...", "baseline schema version 7
 * is newer than this vigil (1)"). VIGIL_E_NOT_FOUND if READ/WRITE and the file is
 * missing; VIGIL_E_SYSTEM with errno; VIGIL_E_NOMEM.
 * On failure *out is still set when non-NULL store memory exists so the caller can read
 * vigil_store_error, and must be freed with vigil_store_close.
 */
int vigil_store_open(const char *path, vigil_store_mode mode, bool wait,
		     void (*on_wait)(void *user, long holder_pid), void *user, vigil_store **out);

/* Closes and frees; accepts NULL. Rolls back an open transaction. */
void vigil_store_close(vigil_store *s);

/* Gives up a READ handle's shared lock while keeping the database open, so a
 * long-lived reader (vigil watch) does not hold off init and accept. */
void vigil_store_unlock(vigil_store *s);

/* The last error's message (never NULL; "" if none). */
const char *vigil_store_error(const vigil_store *s);

/* A write transaction (BEGIN IMMEDIATE). Everything init or accept does between begin
 * and commit is atomic: a power loss leaves the previous baseline valid. */
int vigil_store_begin(vigil_store *s);
int vigil_store_commit(vigil_store *s);
void vigil_store_rollback(vigil_store *s);

/* A read transaction: every read until vigil_store_rollback sees one snapshot, and
 * SQLite locks the file once instead of once per statement. */
int vigil_store_begin_read(vigil_store *s);

/* Deletes every entry (init replacing a baseline, inside its transaction). */
int vigil_store_clear(vigil_store *s);

/* Inserts or replaces the row for e->path, with its row MAC (see seal.h). */
int vigil_store_put(vigil_store *s, const vigil_entry *e, const uint8_t *row_mac, size_t mac_len);

/* Deletes the row for path; VIGIL_E_NOT_FOUND if there is none. */
int vigil_store_delete(vigil_store *s, const char *path, size_t path_len);

/* Reads the row for path into *e (zeroed by the caller; free with vigil_entry_clear).
 * Returns 0, VIGIL_E_NOT_FOUND, or VIGIL_E_FORMAT if a column has the wrong SQLite type
 * (message names the path and column). */
int vigil_store_get(vigil_store *s, const char *path, size_t path_len, vigil_entry *e);

/* vigil_store_get that also copies the row MAC into row_mac (VIGIL_STORE_MAC_MAX bytes)
 * and its length into *mac_len, for a caller that verifies the row itself. */
int vigil_store_get_row(vigil_store *s, const char *path, size_t path_len, vigil_entry *e,
			uint8_t *row_mac, size_t *mac_len);

/*
 * Calls fn for every entry in path order (bytewise memcmp of the path bytes), with the
 * stored row MAC. Every column's SQLite type is checked: a value of the wrong type
 * stops the iteration with VIGIL_E_FORMAT ("row PATH: column mode holds text, not an
 * integer"). The entry is only valid during the call. A non-zero return from fn stops
 * the iteration and is returned. `prefix` (may be NULL) restricts to paths equal to it
 * or below it (prefix + "/...").
 */
int vigil_store_each(vigil_store *s, const char *prefix, size_t prefix_len,
		     int (*fn)(void *user, const vigil_entry *e, const uint8_t *row_mac,
			       size_t mac_len),
		     void *user);

/*
 * Calls fn for every entry's path and row MAC in path order, reading no other column:
 * what the seal's set digest needs. Both columns are type-checked as vigil_store_each
 * does (VIGIL_E_FORMAT); a non-zero return from fn stops the iteration and is returned.
 * The bytes are valid during the call; path is not NUL-terminated.
 */
int vigil_store_each_mac(vigil_store *s,
			 int (*fn)(void *user, const char *path, size_t path_len,
				   const uint8_t *row_mac, size_t mac_len),
			 void *user);

/* Number of entries. */
int vigil_store_count(vigil_store *s, uint64_t *out);

/* Metadata (key/value text): "created", "generation", "hash", "config_digest", "seal_mode",
 * "seal", "sealed_count", "sealed_set_digest", "host", ... get returns VIGIL_E_NOT_FOUND if
 * unset; *out is malloc'd. */
int vigil_store_meta_set(vigil_store *s, const char *key, const char *value);
int vigil_store_meta_get(vigil_store *s, const char *key, char **out);

/* Calls fn for every metadata pair in key order (bytewise), for the seal, which binds all
 * of them. A key or value that is not text is VIGIL_E_FORMAT; a non-zero return from fn
 * stops the iteration and is returned. Strings are valid during the call. */
int vigil_store_meta_each(vigil_store *s, int (*fn)(void *user, const char *key, const char *value),
			  void *user);

/*
 * History: every init and accept is one event (who, when, what), and each entry it
 * changed keeps its old and new values, so earlier values stay queryable.
 * event_begin records the event and returns its id; history_add records one path's
 * old (NULL if it was added) and new (NULL if it was removed) values.
 */
int vigil_store_event_begin(vigil_store *s, const char *action, const char *user_name, uint32_t uid,
			    const char *note, int64_t *event_id);
int vigil_store_history_add(vigil_store *s, int64_t event_id, const vigil_entry *old_e,
			    const vigil_entry *new_e);

/* One history record, for `vigil baseline --history`. Entries valid during the call. */
typedef struct vigil_history_record {
	int64_t event_id;
	const char *action;    /* "init" or "accept" */
	const char *user_name; /* who ran it */
	uint32_t uid;
	int64_t time_us; /* microseconds since the epoch */
	const char *note;
	const vigil_entry *old_e; /* NULL: added */
	const vigil_entry *new_e; /* NULL: removed */
} vigil_history_record;

/* Calls fn for every history record of path (or of every path if path is NULL), oldest
 * first. Events with no per-path records (init) are reported once with both NULL. */
int vigil_store_history_each(vigil_store *s, const char *path, size_t path_len,
			     int (*fn)(void *user, const vigil_history_record *r), void *user);

/* The canonical bytes of all history rows in id order, fed to fn in pieces (for the
 * seal: history is tamper-evident too). */
int vigil_store_history_digest(vigil_store *s, uint8_t out[32]);

#endif
