/* SPDX-License-Identifier: Apache-2.0 */
/* vigil — a finding: one piece of sensitive data found by `vigil scan`, already redacted. */
#ifndef VIGIL_FINDING_H
#define VIGIL_FINDING_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Categories; vigil_category_name() gives the exact strings used in output. */
typedef enum vigil_category {
	VIGIL_CAT_PRIVATE_KEY = 0,   /* "private_key" */
	VIGIL_CAT_PAYMENT_CARD,      /* "payment_card" */
	VIGIL_CAT_IBAN,              /* "iban" */
	VIGIL_CAT_SSN,               /* "ssn" */
	VIGIL_CAT_CREDENTIAL,        /* "credential" */
	VIGIL_CAT_ENCRYPTED_ARCHIVE, /* "encrypted_archive" */
	VIGIL_CAT_COUNT
} vigil_category;

typedef enum vigil_confidence {
	VIGIL_CONF_LOW = 0,
	VIGIL_CONF_MEDIUM,
	VIGIL_CONF_HIGH
} vigil_confidence;

#define VIGIL_REDACTED_MAX    96
#define VIGIL_FINGERPRINT_MAX 72 /* "sha256:" + 64 hex + NUL */

/*
 * One finding. All pointers are borrowed and valid only during the callback that
 * receives the finding; copy what you keep. Nothing here holds the secret itself:
 * `redacted` keeps at most what PCI DSS allows to be shown, and `fingerprint` is a
 * keyed digest of the normalised secret.
 */
typedef struct vigil_finding {
	const char *path;   /* the file on disk, bytes as found (may be invalid UTF-8) */
	size_t path_len;    /* length of path: names may contain any byte but NUL */
	const char *member; /* path inside archives, levels joined by "!/"; NULL if none */
	vigil_category category;
	const char *detector; /* e.g. "pem.rsa", "card.visa", "iban.DE", "aws.access_key" */
	uint64_t line;        /* 1-based line of the start in the scanned text; 0 if unknown */
	uint64_t offset;      /* byte offset of the start in the scanned (decoded) stream */
	vigil_confidence confidence;
	char redacted[VIGIL_REDACTED_MAX];
	char fingerprint[VIGIL_FINGERPRINT_MAX];
} vigil_finding;

/* "private_key", "payment_card", ...; NULL for an out-of-range value. */
VIGIL_API const char *vigil_category_name(vigil_category c);
/* Parse a category name; returns 0 and sets *out, or VIGIL_E_INVALID. */
VIGIL_API int vigil_category_parse(const char *name, vigil_category *out);
/* "high", "medium" or "low". */
VIGIL_API const char *vigil_confidence_name(vigil_confidence c);

#ifdef __cplusplus
}
#endif
#endif
