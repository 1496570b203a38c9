/* SPDX-License-Identifier: Apache-2.0 */
/* Detection engine: one vectorscan database of trigger patterns, streamed over the data,
 * and the validators that confirm each trigger. Private to libvigil. */
#ifndef VIGIL_DETECT_H
#define VIGIL_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/finding.h"

/*
 * A validator sees the engine's window: buf[0, len) is the stream's data around the
 * trigger (at least the rule's max_before bytes before `end` where the stream has them,
 * and max_after bytes after it unless the stream ended first: then `eof` is true).
 * `end` is where the trigger pattern's match ends (exclusive), as vectorscan reports it;
 * patterns are compiled without start-of-match, so the validator finds the start itself.
 */
typedef struct vigil_hit {
	size_t start, end; /* extent of the secret in the window */
	vigil_category category;
	const char *detector; /* static string: "card.visa", "pem.rsa", ... */
	vigil_confidence confidence;
	char redacted[VIGIL_REDACTED_MAX];
	const uint8_t *norm; /* normalised secret, for the fingerprint: usually */
	size_t norm_len;     /* the check's scratch; the engine wipes it after */
} vigil_hit;

/* Per-stream counts a validator may keep (through vigil_check.tally) so the engine can
 * judge a whole stream: Luhn passes by chance for one number in ten, so a stream where
 * few of many card-shaped numbers pass is numeric data, not a card list. */
typedef struct vigil_tally {
	uint32_t card_candidates; /* numbers with a card's issuer prefix and length */
	uint32_t card_luhn_ok;    /* ... of which pass Luhn */
} vigil_tally;

typedef struct vigil_check vigil_check;
struct vigil_check {
	const uint8_t *buf;
	size_t len;
	size_t end;
	bool eof;
	uint8_t *scratch; /* VIGIL_SCRATCH_SIZE bytes for normalised secrets */
	/* Report a hit. May be called more than once per trigger. The hit (and its norm
	 * bytes) are copied or digested before it returns. */
	void (*emit)(vigil_check *c, const vigil_hit *h);
	void *engine;       /* the engine's own state; validators leave it alone */
	vigil_tally *tally; /* the stream's counts; may be NULL */
};

#define VIGIL_SCRATCH_SIZE (64u * 1024u)

/*
 * A validator confirms or rejects one trigger, calling c->emit for each secret found.
 * It returns the window position up to which later triggers of the same rule are
 * redundant (for example the end of a digit run it already judged), or 0.
 * Validators are pure functions of the window: no state, thread-safe.
 */
typedef size_t (*vigil_validator)(vigil_check *c);

/* Rules whose triggers come from the built-in finder (digit_triggers.c) instead of
 * vectorscan; the finder reports the same match ends as the rule's pattern. */
typedef enum vigil_builtin {
	VIGIL_BUILTIN_NONE = 0, /* vectorscan runs the pattern */
	VIGIL_BUILTIN_CARD,     /* \b[2-6](?:[ -]?[0-9]){11} */
	VIGIL_BUILTIN_IBAN,     /* [A-Z]{2}[0-9]{2} ?[A-Z0-9]{4} */
	VIGIL_BUILTIN_SSN,      /* [0-9]{3}-[0-9]{2}-[0-9]{4} */
	VIGIL_BUILTIN_COUNT
} vigil_builtin;

typedef struct vigil_rule {
	const char *name;        /* for messages and tests */
	const char *pattern;     /* vectorscan expression (what the built-in finder matches) */
	unsigned flags;          /* HS_FLAG_* */
	vigil_category category; /* to skip the rule when the category is not wanted */
	unsigned max_before;     /* bytes before `end` the validator may look at */
	unsigned max_after;      /* bytes after `end` the validator needs */
	vigil_validator validate;
	vigil_builtin builtin; /* NONE, or the finder that replaces the pattern */
} vigil_rule;

/* The rule table (rules.c). */
extern const vigil_rule vigil_rules[];
extern const size_t vigil_rules_count;

/* The window the engine keeps behind the newest byte; max_before must not exceed it. */
#define VIGIL_WINDOW_KEEP (96u * 1024u)
/* Upper bound for any rule's max_after. */
#define VIGIL_MAX_AFTER (24u * 1024u)

/* ---- validators (validate_*.c) ---- */
size_t vigil_validate_card(vigil_check *c);        /* trigger: 12 digits, optional [ -] */
size_t vigil_validate_iban(vigil_check *c);        /* trigger: CC dd ?XXXX */
size_t vigil_validate_ssn(vigil_check *c);         /* trigger: ddd-dd-dddd */
size_t vigil_validate_ssn_keyword(vigil_check *c); /* trigger: "ssn", "social security" */
size_t vigil_validate_aws_key_id(vigil_check *c);  /* trigger: AKIA... 20 chars */
size_t vigil_validate_aws_secret(vigil_check *c);  /* trigger: aws_secret_access_key = X{40} */
size_t vigil_validate_github(vigil_check *c);      /* trigger: gh?_ + 36, github_pat_... */
size_t vigil_validate_slack(vigil_check *c);       /* trigger: xox?- + 10 */
size_t vigil_validate_stripe(vigil_check *c);      /* trigger: sk_live_ + 24 */
size_t vigil_validate_google(vigil_check *c);      /* trigger: AIza + 35 */
size_t vigil_validate_password(vigil_check *c);    /* trigger: password = / password: */
size_t vigil_validate_pem(vigil_check *c);         /* trigger: -----END ... PRIVATE KEY----- */
size_t vigil_validate_pem_base64(vigil_check *c);  /* trigger: base64 of "-----BEGIN " */
size_t vigil_validate_ppk(vigil_check *c);         /* trigger: PuTTY-User-Key-File-N: */

/*
 * Head-of-stream detectors: binary key containers recognised by their structure at the
 * start of a file (PKCS#12/PFX by DER, JKS/JCEKS by magic). buf/len is the first block
 * of the stream (c->end is 0, c->eof tells whether that is the whole stream).
 */
void vigil_sniff_keystore(vigil_check *c);

/*
 * The built-in trigger finder: reports through fn(user, which, end) each end (exclusive)
 * in (from, to] of a match of the patterns in `wanted` (bits 1 << VIGIL_BUILTIN_x) in
 * buf[0, to), nearly in order of end. buf must hold the VIGIL_DIGITS_LOOKBACK bytes before
 * `from`, or start the stream (the card's \b holds at buf[0]). Called on consecutive
 * ranges of a stream, it reports each match in the whole stream once.
 * fn returns nonzero to stop; then this returns -1, otherwise 0.
 */
#define VIGIL_DIGITS_LOOKBACK 32u
typedef int (*vigil_builtin_fn)(void *user, vigil_builtin which, size_t end);
int vigil_digit_triggers(const uint8_t *buf, size_t from, size_t to, unsigned wanted,
			 vigil_builtin_fn fn, void *user);
/* The same ends found the slow, obvious way (each pattern tried at every start of
 * buf[0, len), the whole stream), in no particular order: for tests and fuzzing. */
int vigil_digit_triggers_reference(const uint8_t *buf, size_t len, unsigned wanted,
				   vigil_builtin_fn fn, void *user);

/* Low-level checks, exported for tests and fuzzing. */
bool vigil_luhn_ok(const char *digits, size_t n);
bool vigil_iban_ok(const char *iban, size_t n); /* compact, upper case */
/* Validates a PEM block (BEGIN line through END line, possibly with JSON-escaped
 * newlines). On success returns true, sets *detector and writes the DER body to
 * out (at most cap bytes) with its length in *out_len. */
bool vigil_pem_private_key(const uint8_t *p, size_t n, const char **detector, uint8_t *out,
			   size_t cap, size_t *out_len);

/* ---- redaction helpers (finding.c) ---- */
/* Copies s[0,n) into dst keeping the first `head` and last `tail` characters and
 * replacing the rest by '*' (separators kept), always NUL-terminated. */
void vigil_redact_keep(char *dst, size_t dstsz, const char *s, size_t n, size_t head, size_t tail);

#endif

/* ---- the engine (detect.c) ---- */
typedef struct vigil_detector vigil_detector; /* compiled rules: shared, read-only */
typedef struct vigil_dstream vigil_dstream;   /* one worker's stream state: reused */

/* A confirmed hit, as the engine hands it on: absolute offset and line in the stream,
 * and the keyed fingerprint ("sha256:<hex>") of its normalised secret. h->norm is
 * already wiped when this is called. */
typedef void (*vigil_found_fn)(void *user, const vigil_hit *h, uint64_t offset, uint64_t line,
			       const char *fingerprint);

/* Compile the rules of the categories in the bit set `categories` (0 = all). `key`
 * (32 bytes) keys the fingerprints. */
int vigil_detector_new(unsigned categories, const uint8_t key[32], vigil_detector **out, char *err,
		       size_t errlen);
void vigil_detector_free(vigil_detector *d);
/* Keyed fingerprint of bytes: "sha256:" + hex of HMAC-SHA-256(key, p). */
void vigil_detector_fingerprint(const vigil_detector *d, const void *p, size_t n,
				char out[VIGIL_FINGERPRINT_MAX]);

int vigil_dstream_new(const vigil_detector *d, vigil_dstream **out);
void vigil_dstream_free(vigil_dstream *s);
/* Start a new stream; hits go to fn(user, ...). */
int vigil_dstream_begin(vigil_dstream *s, vigil_found_fn fn, void *user);
/* Feed the next bytes of the stream (any chunk size). */
int vigil_dstream_feed(vigil_dstream *s, const uint8_t *p, size_t n);
/* Run the head-of-stream detectors over the stream's first block (call after begin,
 * before feed); `eof` says the block is the whole stream. */
void vigil_dstream_sniff(vigil_dstream *s, const uint8_t *head, size_t n, bool eof);
/* End the stream: the last triggers are judged; returns 0 or VIGIL_E_ENGINE. */
int vigil_dstream_end(vigil_dstream *s);
/* After end: true when the stream's card hits are likely chance (many card-shaped
 * numbers, few passing Luhn), so the caller should drop those not named as cards
 * (confidence below high). */
bool vigil_dstream_cards_are_noise(const vigil_dstream *s);
