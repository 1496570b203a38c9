/* SPDX-License-Identifier: Apache-2.0 */
/* The integrity policy: which paths a baseline covers and which attributes each rule
 * compares, read from an INI file with libinih (format in doc/vigil.conf.5). Private to
 * libvigil. */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "vigil/attr.h"

/* One [path ROOT] section. All strings owned by the config. */
typedef struct vigil_rule {
	char
	    *root; /* an absolute path; may hold glob characters, e.g. /home/X/.ssh with X a star */
	uint32_t attrs;  /* vigil_attr bits compared under this root */
	char **excludes; /* NULL-terminated globs (never NULL): not recorded at all */
	char **growing;  /* NULL-terminated globs: VIGIL_POLICY_GROWING */
	char **presence; /* NULL-terminated globs: VIGIL_POLICY_PRESENCE */
	bool recurse;    /* descend into subdirectories (default yes) */
	unsigned line;   /* where the section starts, for messages */
} vigil_rule;

/* The [watch] section: the defenses of `vigil watch` (doc/vigil.conf.5). Lists are never
 * NULL; an empty list means "the built-in default" where one exists. Tri-states are -1 when
 * the file does not say. */
typedef struct vigil_watch_config {
	char **protect;          /* protect = DIR...: protected from destruction */
	int respond;             /* respond = alert | stop | kill (vigil_watch_respond) */
	int raw_devices;         /* raw_devices = on | off */
	char **raw_device_allow; /* raw_device_allow = PROGRAM-GLOB... (executable paths) */
	char **allow;      /* allow = EXE[@sha256:HEX]...: trusted by the destruction defense */
	char *canaries;    /* canaries = DB: the decoy registry */
	int exfil_staging; /* exfil_staging = on | off */
	char **exfil_dirs; /* exfil_dirs = DIR...: staging places watched besides the paths */
	char *inventory;   /* inventory = DB: vigil scan --record's inventory */
	int nice;          /* nice = 0..19: the deferrable threads' nice value */
} vigil_watch_config;

typedef struct vigil_config {
	char *source;         /* the file it was read from, or NULL for built from paths */
	char *database;       /* [baseline] database, or NULL (caller's default) */
	char *key;            /* [baseline] key: HMAC key file, or NULL */
	char *public_key;     /* [baseline] public_key: Ed25519 public key PEM, or NULL */
	vigil_hash_algo hash; /* [baseline] hash (default sha256) */
	char **excludes;      /* [baseline] exclude: global globs, NULL-terminated, never NULL */
	char **boot_devices;  /* [baseline] boot_sectors = /dev/x ...: NULL-terminated, never
			       * NULL; empty with boot_auto false = none */
	bool boot_auto;       /* boot_sectors = auto: every whole-disk block device */
	vigil_watch_config watch; /* [watch]; not part of the policy digest */
	vigil_rule *rules;        /* in file order */
	size_t nrules;
} vigil_config;

/*
 * Reads and validates the config file at path. On a syntax or semantic error returns
 * VIGIL_E_FORMAT and writes "FILE:LINE: message" into err (cap bytes, NUL-terminated);
 * VIGIL_E_SYSTEM if the file cannot be opened (errno kept; err says which file);
 * VIGIL_E_NOMEM. Unknown sections and keys are errors (a typo must not silently widen
 * or narrow what is monitored). *out is set only on success; free with vigil_config_free.
 */
int vigil_config_load(const char *path, vigil_config **out, char *err, size_t cap);

/* Same, from a buffer (name is used in messages); for tests and the fuzzer. */
int vigil_config_parse(const char *name, const char *text, size_t len, vigil_config **out,
		       char *err, size_t cap);

/* A config with one recursive rule per path (copied), each comparing `attrs`. Paths are
 * made absolute against the current directory. */
int vigil_config_from_paths(const char *const *paths, size_t npaths, uint32_t attrs,
			    vigil_config **out);

/* Frees everything; accepts NULL. */
void vigil_config_free(vigil_config *c);

/* A root to walk: a rule's root with its globs expanded to existing paths. */
typedef struct vigil_root {
	char *path;  /* owned */
	size_t rule; /* index into config->rules */
} vigil_root;

/*
 * Expands every rule's root (glob(3) without GLOB_NOCHECK: a glob that matches nothing
 * gives no root; a plain path is kept even if missing, so its absence is reported),
 * sorted bytewise and with duplicates dropped. A root lying inside another root's tree
 * is kept (its rule governs its subtree); the walker must not walk it twice — see
 * vigil_config_match. Returns 0 and a malloc'd array (free with vigil_roots_free) or
 * VIGIL_E_NOMEM.
 */
int vigil_config_roots(const vigil_config *c, vigil_root **out, size_t *n);
void vigil_roots_free(vigil_root *roots, size_t n);

/* What the policy says about one path. */
typedef struct vigil_match {
	bool excluded;  /* a global or rule exclude matched: do not record, do not descend */
	size_t rule;    /* the rule that governs it: the one with the longest root that is
			 * a path prefix (component-wise; a glob root matches as fnmatch with
			 * FNM_PATHNAME on the leading components) */
	uint32_t attrs; /* that rule's attrs; only VIGIL_ATTR_TYPE for presence */
	vigil_entry_policy policy;
} vigil_match;

/*
 * Decides about `path` (path_len bytes, absolute, NUL-terminated). Globs (exclude,
 * growing, presence) match as `vigil scan --exclude` does (vigil_path_excluded: the full
 * path or the base name, '*' spanning '/'). Returns false if no rule covers the path
 * (then *m is untouched).
 */
bool vigil_config_match(const vigil_config *c, const char *path, size_t path_len, vigil_match *m);

/* A digest (SHA-256) of the policy's meaning, so a baseline can tell when it was made
 * under a different policy. out must hold 32 bytes. */
void vigil_config_digest(const vigil_config *c, uint8_t out[32]);

#endif
