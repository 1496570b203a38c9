/* SPDX-License-Identifier: Apache-2.0 */
/* vigil — the tamper-evident file-integrity baseline: init, check, accept, list, history. */
#ifndef VIGIL_BASELINE_H
#define VIGIL_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigil/attr.h"
#include "vigil/vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIGIL_DEFAULT_DB  "/var/lib/vigil/baseline.db"
#define VIGIL_DEFAULT_KEY "/etc/vigil/baseline.key"

typedef struct vigil_baseline_options {
	const char *db_path;     /* NULL: the config's database, else VIGIL_DEFAULT_DB */
	const char *config_path; /* NULL: one rule per path in `paths` with `attrs` */
	const char *const *paths;
	size_t npaths;
	uint32_t attrs;          /* attribute set without a config; 0 = VIGIL_ATTR_DEFAULT */
	int hash_algo;           /* -1: the config's (sha256 by default); else vigil_hash_algo */
	const char *key_path;    /* HMAC key; NULL: the config's key, else VIGIL_DEFAULT_KEY */
	const char *signing_key; /* Ed25519 private key PEM: seal by signature (init, accept) */
	const char *public_key;  /* Ed25519 public key PEM: verify a signature (check) */
	bool quick;              /* check: trust (size, mtime, ctime, inode), hash what moved */
	/* check: each change goes to on_change as it is found (from the worker threads, one
	 * call at a time) instead of being held to report in path order: memory stays flat
	 * however many changes there are. */
	bool unordered;
	bool wait;        /* wait for a lock another vigil holds (else fail at once) */
	unsigned jobs;    /* worker threads; 0 = online CPUs */
	const char *note; /* accept: a reviewer's note kept in the history */
} vigil_baseline_options;

/* Fills *o with the defaults (everything NULL/0, hash_algo -1, wait true). */
VIGIL_API void vigil_baseline_options_default(vigil_baseline_options *o);

typedef enum vigil_change_kind {
	VIGIL_CHANGE_ADDED = 0,
	VIGIL_CHANGE_REMOVED,
	VIGIL_CHANGE_CHANGED,
} vigil_change_kind;

/* "added", "removed", "changed". */
VIGIL_API const char *vigil_change_kind_name(vigil_change_kind k);

typedef struct vigil_entry vigil_entry; /* opaque here */

/* One difference between the baseline and the file system. Valid during the callback. */
typedef struct vigil_change {
	const char *path; /* path bytes, NUL-terminated (may be invalid UTF-8) */
	size_t path_len;
	vigil_change_kind kind;
	uint32_t attrs; /* changed: the attributes that differ; added/removed: recorded ones */
	const vigil_entry *old_entry; /* NULL when added */
	const vigil_entry *new_entry; /* NULL when removed */
} vigil_change;

/* The old (which_new false) or new value of one attribute of a change as text, as
 * documented in vigil(1) (hashes in hex). Returns the length the value needs; buf is
 * always NUL-terminated. A missing side gives "". */
VIGIL_API size_t vigil_change_value(const vigil_change *c, uint32_t attr, bool which_new, char *buf,
				    size_t cap);

typedef struct vigil_baseline_stats {
	uint64_t entries;      /* entries recorded (init) or examined (check) */
	uint64_t files_hashed; /* regular files whose content was read */
	uint64_t bytes_hashed;
	uint64_t added, removed, changed;
	uint64_t passed_over; /* check: changes keep_change left out (not in added..changed) */
	uint64_t warnings;    /* entries that vanished or could not be read */
	uint64_t elapsed_ns;
	uint64_t generation;  /* the seal's generation after init/accept, or checked */
	char seal_digest[65]; /* hex digest of the sealed header after init/accept */
	char seal_mode[16];   /* "hmac-sha256" or "ed25519" */
	char db_path[4096];   /* the database actually used */
} vigil_baseline_stats;

typedef struct vigil_baseline_callbacks {
	/* check and accept: one call per change, in path order. Non-zero stops the run. */
	int (*on_change)(void *user, const vigil_change *c);
	/* A path that vanished or could not be read while walking, or a policy remark. */
	void (*on_warning)(void *user, const char *path, const char *message);
	/* Every ~200 ms while walking; may be NULL. */
	void (*on_progress)(void *user, const vigil_baseline_stats *st);
	/* Another vigil holds the database; called once before waiting. */
	void (*on_wait)(void *user, long holder_pid);
	/* check: asked about each change as it is found (from the worker threads, one call at
	 * a time), before it is held for the path-ordered report; false leaves it out of
	 * memory and of the report. vigil watch skips what it has already reported live.
	 * May be NULL: every change is kept. */
	bool (*keep_change)(void *user, const vigil_change *c);
	void *user;
} vigil_baseline_callbacks;

/*
 * Records a new baseline (replacing any previous one in one transaction: a crash leaves
 * the old one valid), seals it and fills st. err gets a sentence on failure.
 * Returns 0; VIGIL_E_FORMAT (bad config, or an existing file that is not a baseline);
 * VIGIL_E_LIMIT (locked, wait false); VIGIL_E_SYSTEM; VIGIL_E_CRYPTO; VIGIL_E_NOMEM.
 */
VIGIL_API int vigil_baseline_init(const vigil_baseline_options *o,
				  const vigil_baseline_callbacks *cb, vigil_baseline_stats *st,
				  char *err, size_t cap);

/*
 * Verifies the seal, then compares the file system with the baseline, reporting each
 * change through on_change in path order. Returns 0 whether or not anything changed
 * (see st->added/removed/changed); VIGIL_E_FORMAT with err naming the problem if the
 * baseline fails its seal, is corrupt, truncated or of an unknown schema version;
 * VIGIL_E_NOT_FOUND if there is no baseline; other errors as for init.
 */
VIGIL_API int vigil_baseline_check(const vigil_baseline_options *o,
				   const vigil_baseline_callbacks *cb, vigil_baseline_stats *st,
				   char *err, size_t cap);

/*
 * Takes changes into the baseline: the named paths (a directory with everything below
 * it), or with all true every change. Only those paths are read again, never the whole
 * tree (unless all). The old values stay in the history with who accepted them, when
 * and the note. Verifies the seal first and re-seals after. Changes taken are reported
 * through on_change. Errors as for check.
 */
VIGIL_API int vigil_baseline_accept(const vigil_baseline_options *o, const char *const *paths,
				    size_t npaths, bool all, const vigil_baseline_callbacks *cb,
				    vigil_baseline_stats *st, char *err, size_t cap);

/* One recorded entry, or one history record, for listing. Valid during the callback. */
typedef struct vigil_record {
	const vigil_entry *entry; /* the recorded values (for history: new, or old if removed) */
	const vigil_entry *old_entry; /* history only: the value before, NULL if added */
	const char *path;
	size_t path_len;
	uint32_t attrs;
	/* history only: */
	int64_t event_id;
	const char *action; /* "init", "accept" */
	const char *user_name;
	uint32_t uid;
	int64_t time_us;
	const char *note;
} vigil_record;

/* The value of one attribute of a recorded entry as text (as vigil_change_value). */
VIGIL_API size_t vigil_record_value(const vigil_entry *e, uint32_t attr, char *buf, size_t cap);

/* Lists recorded entries (below prefix if not NULL) in path order, after verifying the
 * seal. Also fills st->generation, seal_mode and entries. */
VIGIL_API int vigil_baseline_list(const vigil_baseline_options *o, const char *prefix,
				  int (*fn)(void *user, const vigil_record *r), void *user,
				  vigil_baseline_stats *st, char *err, size_t cap);

/* Lists the history (of one path, or all if path is NULL), oldest first. */
VIGIL_API int vigil_baseline_history(const vigil_baseline_options *o, const char *path,
				     int (*fn)(void *user, const vigil_record *r), void *user,
				     char *err, size_t cap);

/*
 * A baseline kept open for event-by-event comparison (vigil watch). Open verifies the
 * seal once; the database then stays open read-only without holding its lock, so init
 * and accept can run meanwhile (call vigil_baseline_reload after they did: it verifies
 * the new seal). Not thread-safe: one thread uses a handle.
 */
typedef struct vigil_baseline vigil_baseline;

/* Errors as for vigil_baseline_check. */
VIGIL_API int vigil_baseline_open(const vigil_baseline_options *o, vigil_baseline **out, char *err,
				  size_t cap);
VIGIL_API void vigil_baseline_close(vigil_baseline *b);
VIGIL_API int vigil_baseline_reload(vigil_baseline *b, char *err, size_t cap);

/* Keeps one snapshot of the database for the comparisons that follow, until
 * vigil_baseline_release (which must come before reload or close): a burst of events
 * then takes the database's lock once instead of once per path. Returns 0 or an error. */
VIGIL_API int vigil_baseline_hold(vigil_baseline *b);
VIGIL_API void vigil_baseline_release(vigil_baseline *b);

/* The roots of the policy (absolute, globs expanded), to place watches. Borrowed until
 * close or reload. */
VIGIL_API size_t vigil_baseline_roots(const vigil_baseline *b, const char *const **roots);

/* The database, key and config files the baseline depends on (absolute), for
 * self-protection. Borrowed until close or reload. */
VIGIL_API size_t vigil_baseline_own_files(const vigil_baseline *b, const char *const **files);

/* True if the policy covers path (absolute) and does not exclude it. */
VIGIL_API bool vigil_baseline_covers(const vigil_baseline *b, const char *path);

/*
 * Reads path (absolute) now and compares it with the baseline. fn is called for each
 * difference: the path itself (added: no row; changed: the attributes that differ, as in
 * check; removed: it has a row but is gone — and then also every recorded entry below
 * it); not at all if it matches or the policy does not cover it. Returns 0, the non-zero
 * value fn returned, or an error (VIGIL_E_FORMAT for a bad row).
 */
VIGIL_API int vigil_baseline_compare_path(vigil_baseline *b, const char *path,
					  int (*fn)(void *user, const vigil_change *c), void *user);

/* Output of changes and records (JSON members are documented in vigil(1)). */

/* Writes the JSON members of a change without the surrounding braces:
 * "path", ["path_bytes_b64",] "change", "attributes", "old", "new" — so an alert can
 * embed them. Added entries carry "new", removed ones "old", with every recorded
 * attribute; changed ones the attributes that differ on both sides. */
VIGIL_API void vigil_change_write_json_members(FILE *f, const vigil_change *c);

/* One JSON object per line: the members above. */
VIGIL_API void vigil_change_write_json(FILE *f, const vigil_change *c);

/* A readable block: the path, then for a change "  attr: old -> new" per attribute. */
VIGIL_API void vigil_change_write_text(FILE *f, const vigil_change *c);

/* A recorded entry (or history record) as one JSON object per line. */
VIGIL_API void vigil_record_write_json(FILE *f, const vigil_record *r);

/* A recorded entry as one text line: type, mode, uid:gid, size, digest, path. */
VIGIL_API void vigil_record_write_text(FILE *f, const vigil_record *r);

#ifdef __cplusplus
}
#endif
#endif
