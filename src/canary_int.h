/* SPDX-License-Identifier: Apache-2.0 */
/* Inside libvigil: the decoy module's private parts — content generators (canary_gen.c),
 * the registry (canary.c) and the set of planted inodes that scan and baseline skip.
 * Private to libvigil. */
#ifndef VIGIL_CANARY_INT_H
#define VIGIL_CANARY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "vigil/canary.h"

/* One generated decoy: a file name (no slash) and its bytes. */
typedef struct decoy_content {
	char name[96];
	uint8_t *data; /* malloc'd; wiped and freed by decoy_content_clear */
	size_t len;
	int64_t mtime; /* back-dated modification time, seconds since the epoch */
} decoy_content;

/* The candidate file names of a kind (NULL-terminated), in the order generation tries
 * them after its random first choice. */
const char *const *decoy_names(vigil_decoy_kind kind);

/*
 * Makes fake content for kind under name (one of decoy_names(kind), chosen by the caller
 * so it can skip names that exist). mtime is the time it pretends to come from. Returns
 * 0; VIGIL_E_CRYPTO (key generation or randomness failed); VIGIL_E_ARCHIVE (the zip
 * writer failed); VIGIL_E_NOMEM.
 */
int decoy_generate(vigil_decoy_kind kind, const char *name, int64_t mtime, decoy_content *out);

/* Wipes and frees out's data. */
void decoy_content_clear(decoy_content *c);

/* A uniformly random number below n (n > 0), from OpenSSL's RAND_bytes; 0 if it fails. */
uint32_t decoy_random(uint32_t n);

/* The planted decoys' (device, inode) pairs, for walkers that must not open them. */
typedef struct vigil_decoy_set vigil_decoy_set;

/*
 * Reads the registry at db (NULL: VIGIL_DEFAULT_CANARY_DB). A registry that does not exist
 * or cannot be read gives an empty set (*out NULL) and returns 0: the walkers go on as
 * before. Returns VIGIL_E_NOMEM only.
 */
int vigil_decoy_set_load(const char *db, vigil_decoy_set **out);

/* True if st names a registered decoy (same device and inode, a regular file). Accepts a
 * NULL set. */
bool vigil_decoy_set_has(const vigil_decoy_set *s, const struct stat *st);

/* Number of decoys in the set (0 for NULL). */
size_t vigil_decoy_set_count(const vigil_decoy_set *s);

void vigil_decoy_set_free(vigil_decoy_set *s);

/* The registry, for the watch defense: every row, in path order. */
int canary_registry_read(const char *db, vigil_decoy_fn fn, void *user, char *err, size_t cap);

/* True if path is still registered in db (a point query; false if db cannot be read). */
bool canary_registry_has(const char *db, const char *path);

#endif
