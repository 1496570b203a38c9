/* SPDX-License-Identifier: Apache-2.0 */
/* The alert spool: an on-disk FIFO of alerts a sink has not delivered yet, kept in a
 * directory across restarts, bounded in bytes, each record whole or detectably torn.
 * Private to libvigil; used by the sink module (sink.h explains the policy around it).
 *
 * Layout: DIR/lock (flock'ed while open), DIR/cursor ("%016llx %llu\n": in that segment,
 * the records before that offset were delivered), and segment files DIR/<16 hex>.spool,
 * read in ascending order. A segment starts with the 8 bytes "VGSPOOL1", then records:
 *   0  "VGR1"                 4 bytes
 *   4  payload length         u32 LE  (kind bytes + JSON bytes)
 *   8  time, microseconds     i64 LE  (Unix epoch, UTC)
 *   16 severity 0..7          u8
 *   17 kind length 0..32      u8
 *   18 reserved, zero         u16
 *   20 CRC-32C of bytes 4..20 and the payload, u32 LE
 *   24 payload: kind (printable ASCII), then the JSON (UTF-8, no CR/LF/NUL)
 * A record is appended with one write(2); a failed write is cut off again with ftruncate.
 * What a crash leaves (a record cut short, a bad CRC) is skipped to the next valid record,
 * counted as torn, and a torn tail is truncated away when the spool is opened.
 *
 * Not thread-safe: the caller serialises every call, except the _run steps of prepend and
 * sync, which touch only their job and may run without the caller's lock.
 */
#ifndef VIGIL_SPOOL_H
#define VIGIL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIGIL_SPOOL_KIND_MAX  32
#define VIGIL_SPOOL_JSON_MAX  32768
#define VIGIL_SPOOL_REC_HDR   24
#define VIGIL_SPOOL_REC_MAX   (VIGIL_SPOOL_REC_HDR + VIGIL_SPOOL_KIND_MAX + VIGIL_SPOOL_JSON_MAX)
#define VIGIL_SPOOL_MIN_BYTES (64 * 1024)

/* vigil_spool_parse: the bytes end inside a record that may yet be whole. */
#define VIGIL_SPOOL_SHORT 1

typedef struct vigil_spool vigil_spool;

/* One alert. The pointers are borrowed: from the caller (append) or, from
 * vigil_spool_next, into the spool's buffer until the next call on the spool. */
typedef struct vigil_spool_rec {
	int64_t time_us;  /* when the alert was accepted, microseconds since the epoch */
	int severity;     /* syslog severity 0..7 */
	const char *kind; /* kind_len bytes of printable ASCII (33..126), not NUL-terminated */
	size_t kind_len;  /* 0..VIGIL_SPOOL_KIND_MAX */
	const char *json; /* len bytes, 1..VIGIL_SPOOL_JSON_MAX */
	size_t len;
} vigil_spool_rec;

/* A place in the FIFO: just after some record. index counts records from the open. */
typedef struct vigil_spool_pos {
	uint64_t seg;
	uint64_t off;
	uint64_t index;
} vigil_spool_pos;

typedef struct vigil_spool_stats {
	uint64_t pending;  /* records not yet committed */
	uint64_t bytes;    /* size of all segment files */
	uint64_t torn;     /* damaged regions skipped when the spool was opened */
	uint64_t segments; /* segment files */
} vigil_spool_stats;

/*
 * Opens (creating it 0700 if missing) and locks the spool directory, checks it belongs to
 * us and is closed to group and others, and reads every segment: counts the pending
 * records, skips and counts torn ones, truncates torn tails, removes segments with nothing
 * pending. max_bytes (>= VIGIL_SPOOL_MIN_BYTES) bounds vigil_spool_append.
 * Returns 0 and *out; VIGIL_E_INVALID (bad permissions or owner, in use: err says),
 * VIGIL_E_SYSTEM (errno), VIGIL_E_NOMEM. Reading starts at the first pending record.
 */
int vigil_spool_open(const char *dir, uint64_t max_bytes, vigil_spool **out, char *err, size_t cap);

/* Saves the cursor, syncs, unlocks and frees; accepts NULL. Pending records stay. */
void vigil_spool_close(vigil_spool *sp);

/*
 * Appends one record at the tail. Returns 0; VIGIL_E_INVALID (a field out of range);
 * VIGIL_E_LIMIT (the files would pass max_bytes; nothing written); VIGIL_E_SYSTEM (the
 * write failed, e.g. ENOSPC; errno kept, nothing of the record remains).
 */
int vigil_spool_append(vigil_spool *sp, const vigil_spool_rec *r);

/*
 * Reads the record at the read cursor and moves past it; *after is the place just after
 * it. Returns 0, VIGIL_E_NOT_FOUND at the end, VIGIL_E_SYSTEM (a read failed; errno).
 * Records are returned in FIFO order; bad bytes are skipped.
 */
int vigil_spool_next(vigil_spool *sp, vigil_spool_rec *r, vigil_spool_pos *after);

/* Moves the read cursor back to the commit cursor: what was read is read again. */
void vigil_spool_rewind(vigil_spool *sp);

/*
 * Everything before pos (a place vigil_spool_next returned, not before the last commit)
 * was delivered: forgets it, deletes finished segments (and every file when nothing is
 * left), saves the cursor at most once a second (force: now). Returns 0 or VIGIL_E_SYSTEM
 * (the cursor could not be saved: delivered records may be sent again after a restart).
 */
int vigil_spool_commit(vigil_spool *sp, const vigil_spool_pos *pos, bool force);

/* Records not yet committed, and true while a prepend is running: either way a new alert
 * must be appended here, behind them, not kept in memory. */
bool vigil_spool_busy(const vigil_spool *sp);

void vigil_spool_get_stats(const vigil_spool *sp, vigil_spool_stats *st);

/* Whether records of these payload sizes (kind + JSON bytes each) would all be taken by
 * vigil_spool_append now, as far as the bound goes. */
bool vigil_spool_fits(const vigil_spool *sp, const size_t *payloads, size_t n);

/*
 * Moving records in FRONT of everything in the spool (the sink's memory queue, which is
 * older than the spool's content), in three steps so the slow middle one runs without the
 * caller's lock: _begin reserves a segment name below every present one and creates the
 * file; _run writes the records, fdatasyncs the file and the directory; _end adds the
 * segment (ok) or removes the file. The read and commit cursors must be equal (rewound)
 * and stay so until _end; appends meanwhile go behind. The bound is not applied: the
 * records were accepted already, and refusing them would lose them.
 */
typedef struct vigil_spool_prep {
	uint64_t seg;
	int fd;
	int dirfd;
	uint64_t size;
	uint64_t count;
} vigil_spool_prep;

int vigil_spool_prepend_begin(vigil_spool *sp, vigil_spool_prep *p);
int vigil_spool_prepend_run(vigil_spool_prep *p, const vigil_spool_rec *recs, size_t n);
int vigil_spool_prepend_end(vigil_spool *sp, vigil_spool_prep *p, int result);

/* Syncing appended records to disk, in the same three steps. A job made by _begin with
 * nothing to do has n == 0. _run fdatasyncs every file in the job and the directory. */
typedef struct vigil_spool_sync {
	int *fds;
	size_t n;
	int dirfd; /* -1 if the directory needs no sync */
} vigil_spool_sync;

int vigil_spool_sync_begin(vigil_spool *sp, vigil_spool_sync *job);
int vigil_spool_sync_run(vigil_spool_sync *job);
void vigil_spool_sync_end(vigil_spool_sync *job);

/*
 * Checks and decodes one record at p (n bytes available). Returns 0 and sets *r (pointing
 * into p) and *used; VIGIL_SPOOL_SHORT if the bytes end before the record does and what is
 * there is valid so far; VIGIL_E_FORMAT if this is not a valid record. Safe on any bytes.
 */
int vigil_spool_parse(const uint8_t *p, size_t n, vigil_spool_rec *r, size_t *used);

/* Encodes r into out (VIGIL_SPOOL_REC_MAX bytes suffice); returns the length, or 0 if a
 * field is out of range. */
size_t vigil_spool_encode(const vigil_spool_rec *r, uint8_t *out, size_t cap);

/* CRC-32C (Castagnoli), as the records use it; crc starts at 0. */
uint32_t vigil_crc32c(uint32_t crc, const void *p, size_t n);

#endif
