/* SPDX-License-Identifier: Apache-2.0 */
/* The baseline seal: a MAC (HMAC-SHA-256, key kept outside the database) or an Ed25519
 * signature (private key kept off the host) over every row, the history and the
 * metadata, so edited, inserted, deleted or replayed rows are refused. Private to libvigil.
 *
 * Layout: each entry row carries row_mac = HMAC(key, canonical(entry)) (HMAC mode) or
 * SHA-256(canonical(entry)) (Ed25519 mode). The sealed header binds the schema version,
 * generation, hash algorithm, config digest, row count, SHA-256 of all row MACs in path
 * order (the set digest) and the history digest; the seal is HMAC(key, header) or
 * Ed25519(header). Per-row MACs let check name an edited row; the set digest catches
 * deleted, inserted and replayed rows; the generation in the header, also sent to syslog
 * at every init and accept, lets an off-host copy expose a whole database replayed. */
#ifndef VIGIL_SEAL_H
#define VIGIL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "store.h"

#define VIGIL_ROW_MAC_LEN 32

typedef enum vigil_seal_mode {
	VIGIL_SEAL_HMAC = 0,    /* "hmac-sha256" */
	VIGIL_SEAL_ED25519 = 1, /* "ed25519" */
} vigil_seal_mode;

typedef struct vigil_sealer vigil_sealer;

/*
 * An HMAC sealer with the key in key_path (32 or more bytes of raw key). With create
 * true and the file missing, makes it: 32 bytes from RAND_bytes, mode 0600, parent
 * directories 0700, written with O_EXCL. A key file readable by group or others is
 * refused (VIGIL_E_INVALID, message says to chmod 600). Errors: VIGIL_E_SYSTEM (errno),
 * VIGIL_E_INVALID (too short, bad permissions), VIGIL_E_CRYPTO. err gets a sentence.
 */
int vigil_sealer_hmac(const char *key_path, bool create, vigil_sealer **out, char *err, size_t cap);

/* An Ed25519 sealer that can sign (private key PEM, for init/accept) or only verify
 * (public key PEM, for check). A PEM of another key type is VIGIL_E_INVALID. */
int vigil_sealer_ed25519_private(const char *pem_path, vigil_sealer **out, char *err, size_t cap);
int vigil_sealer_ed25519_public(const char *pem_path, vigil_sealer **out, char *err, size_t cap);

/* Frees the sealer and wipes key material; accepts NULL. */
void vigil_sealer_free(vigil_sealer *s);

vigil_seal_mode vigil_sealer_mode(const vigil_sealer *s);
const char *vigil_seal_mode_name(vigil_seal_mode m);

/* The row MAC of an entry (thread-safe: workers call it in parallel). out gets
 * VIGIL_ROW_MAC_LEN bytes. Returns 0 or VIGIL_E_CRYPTO. */
int vigil_seal_row(const vigil_sealer *s, const vigil_entry *e, uint8_t *out);

/*
 * Seals the store inside the caller's write transaction: reads every row MAC in path
 * order, the history digest and the metadata, increments "generation", and writes
 * "seal_mode", "sealed_count", "sealed_set_digest", "seal" (hex). A verify-only sealer
 * is VIGIL_E_INVALID. digest_hex (65 bytes) gets the SHA-256 of the sealed header, for
 * the off-host copy in syslog; generation gets the new generation.
 */
int vigil_seal_store(const vigil_sealer *s, vigil_store *st, char digest_hex[65],
		     uint64_t *generation, char *err, size_t cap);

/*
 * Verifies the whole store. Returns 0, or VIGIL_E_FORMAT with err naming the problem:
 * "row /etc/passwd was changed after the baseline was sealed", "N rows were deleted",
 * "N rows were added", "rows were replayed from an older baseline", "the seal does not
 * verify: wrong key, or the metadata or history was edited", "the baseline is sealed with
 * ed25519 but an hmac key was given" (and the reverse), "the baseline has no seal", a
 * value of the wrong type (from vigil_store_each). Other errors as usual.
 */
int vigil_seal_verify(const vigil_sealer *s, vigil_store *st, char *err, size_t cap);

/*
 * vigil_seal_verify without recomputing each row's MAC: the header, the row count and the
 * set digest, reading only paths and row MACs. On 0 the set of row MACs is the sealed
 * one, but a row's values may still have been edited: the caller checks every row it
 * uses with vigil_seal_check_row, and must not trust a row it did not check. When the
 * count or set digest does not match, every row is read as vigil_seal_verify does, for
 * the same messages. Returns as vigil_seal_verify.
 */
int vigil_seal_verify_set(const vigil_sealer *s, vigil_store *st, char *err, size_t cap);

/* Whether mac (as stored with e) is e's row MAC. Thread-safe. Returns 0 if it is,
 * VIGIL_E_FORMAT if not, VIGIL_E_CRYPTO. */
int vigil_seal_check_row(const vigil_sealer *s, const vigil_entry *e, const uint8_t *mac,
			 size_t mac_len);

/* The message vigil_seal_verify gives for n rows whose MAC does not match, path being
 * the first of them in path order: "row PATH was changed after the baseline was sealed
 * (and N more)". */
void vigil_seal_bad_rows(char *err, size_t cap, const char *path, size_t path_len, uint64_t n);

#endif
