/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the destruction defense: the pure parts — the content classifier (type by magic,
 * entropy and constant fill of a file's first blocks), the judgement of one file's before
 * and after, of renames, deletions and ransom-note names, and the score's decay — kept
 * apart from the fanotify machinery of destruct.c so tests can drive them with tables. */
#ifndef VIGIL_DESTRUCT_INT_H
#define VIGIL_DESTRUCT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How many bytes from the start of a file are sampled: the first two 4 KiB blocks. Wipers
 * and ransomware that save time by damaging only the head of each file still hit these. */
#define DESTRUCT_SAMPLE 8192

typedef enum destruct_class {
	DCLASS_EMPTY = 0, /* no bytes (new or truncated file) */
	DCLASS_KNOWN,     /* a recognised format by its magic (PDF, PNG, zip, ELF, SQLite, ...) */
	DCLASS_TEXT,      /* printable ASCII / UTF-8 */
	DCLASS_BINARY,    /* anything else of moderate entropy */
	DCLASS_HIGH,      /* no known magic and near-random bytes: encrypted or random data */
	DCLASS_CONST,     /* one byte value repeated (0x00, 0xCC, 0xFF fills) */
} destruct_class;

typedef struct destruct_sample {
	uint8_t cls;      /* destruct_class */
	uint8_t magic;    /* index into the magic table + 1 when KNOWN, else 0 */
	uint16_t entropy; /* Shannon entropy of the sample, bits per byte x 1000 */
	uint64_t size;    /* the file's size when sampled */
} destruct_sample;

/* Classifies n bytes (the first DESTRUCT_SAMPLE of a file, or all of a shorter one) of a
 * file of `size` bytes. Never reads past buf[n-1]. */
void destruct_classify(const uint8_t *buf, size_t n, uint64_t size, destruct_sample *out);

/* The name of a class ("empty", "known", ...) and of a KNOWN sample's format ("pdf", ...;
 * NULL when the sample is not KNOWN). */
const char *destruct_class_name(int cls);
const char *destruct_magic_name(const destruct_sample *s);

/* Kinds of evidence, each with its weight (destruct_weight). */
typedef enum destruct_evidence {
	DEV_NONE = 0,
	DEV_ENCRYPTED,      /* content replaced by high-entropy data of no known type */
	DEV_FILLED,         /* content replaced by a constant fill */
	DEV_TRUNCATED,      /* content cut to nothing */
	DEV_DELETED,        /* a file that existed before (not made during the watch) removed */
	DEV_ENCRYPTED_COPY, /* removed after writing a high-entropy copy named after it */
	DEV_RENAMED,        /* renamed to a new extension */
	DEV_NOTE,           /* the same ransom-note-like name written in yet another directory */
	DEV_COUNT
} destruct_evidence;

/* Short names used in alerts: "encrypted", "filled", "truncated", "deleted",
 * "encrypted_copy", "renamed", "ransom_note". */
const char *destruct_evidence_name(int ev);

/* Points of one piece of evidence. A process tree is answered when its (decayed) sum reaches
 * DESTRUCT_THRESHOLD. */
#define DESTRUCT_THRESHOLD 8.0
double destruct_weight(int ev);

/* Half-life of a score, in seconds: long, so a slow wiper (a file every few seconds, or
 * minutes) still adds up, while a day of ordinary deletions does not. */
#define DESTRUCT_HALF_LIFE_S 1800.0
double destruct_decay(double score, int64_t elapsed_ns);

/* What writing a file did to it: DEV_ENCRYPTED, DEV_FILLED, DEV_TRUNCATED or DEV_NONE,
 * from its sample when it was opened and when it was closed. */
int destruct_judge_write(const destruct_sample *before, const destruct_sample *after);

/* A rename of `from` to `to` (paths or names): DEV_RENAMED when the new name adds or swaps an
 * extension that is not a usual backup/rotation/temporary one, else DEV_NONE. */
int destruct_judge_rename(const char *from, size_t flen, const char *to, size_t tlen);

/* How the name of a file just written relates to the name of a file removed:
 * STEM_LONGER: written = removed + ".ext" (gzip, an encryptor's copy);
 * STEM_SHORTER: removed = written + ".ext" (gunzip); STEM_NONE otherwise. */
enum { STEM_NONE = 0, STEM_LONGER, STEM_SHORTER };
int destruct_stem(const char *removed, size_t rlen, const char *written, size_t wlen);

/* True if a file name (no directory) looks like a ransom note: README / DECRYPT / RECOVER /
 * RESTORE / HOW_TO ... with a text-like or no extension. */
bool destruct_is_note_name(const char *name, size_t len);

/* Does an allowlist entry ("EXE", a glob on the executable path, or "EXE@sha256:HEX") take
 * the program exe whose SHA-256 is sha_hex (64 lowercase hex digits; NULL when unknown)?
 * need_digest is set when the entry names a digest and the path matched. */
bool destruct_allow_match(const char *entry, const char *exe, const char *sha_hex,
			  bool *need_digest);

#endif
