/* SPDX-License-Identifier: Apache-2.0 */
/* Containers and compressed streams through libarchive: recognise them by content,
 * stream their members (never to disk), enforce bomb limits, report encryption. */
#ifndef VIGIL_ARCHIVE_INT_H
#define VIGIL_ARCHIVE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "input.h"

typedef enum vigil_container {
	VIGIL_CONT_NONE = 0,
	VIGIL_CONT_ZIP, /* also docx/xlsx/pptx/odt/jar */
	VIGIL_CONT_TAR,
	VIGIL_CONT_GZIP,
	VIGIL_CONT_BZIP2,
	VIGIL_CONT_XZ,
	VIGIL_CONT_ZSTD,
	VIGIL_CONT_LZ4,
	VIGIL_CONT_COMPRESS, /* .Z */
	VIGIL_CONT_7Z,
	VIGIL_CONT_RAR,
	VIGIL_CONT_CPIO,
	VIGIL_CONT_ISO,
	VIGIL_CONT_AR,
	VIGIL_CONT_COUNT
} vigil_container;

/* Bytes a caller should have at the start of a stream for vigil_archive_sniff to see
 * every format (ISO 9660 has its magic at 32769). */
#define VIGIL_SNIFF_BYTES (32u * 1024u + 8u)

/* Recognise a container or compressed stream by its magic bytes (not its name).
 * Works on fewer bytes than VIGIL_SNIFF_BYTES, just misses the formats whose magic
 * lies further in. */
vigil_container vigil_archive_sniff(const uint8_t *p, size_t n);
/* "zip", "tar", "gzip", ...; "none" for VIGIL_CONT_NONE. */
const char *vigil_container_name(vigil_container k);

/* Limits shared by every level of one file on disk. */
typedef struct vigil_archive_budget {
	uint64_t bytes_left;   /* expanded bytes still allowed; UINT64_MAX = no limit */
	uint64_t entries_left; /* members still allowed; UINT64_MAX = no limit */
	double max_ratio;      /* per level, expanded/compressed; 0 = no limit */
	bool limit_hit;        /* set once any limit stopped expansion */
} vigil_archive_budget;

typedef struct vigil_archive_callbacks {
	/* One member with data (directories, links and empty files are not passed). Read
	 * it through r (r->fd is -1; r->size from the header, or -1). name is the member's
	 * path inside this level. Return non-zero to stop this archive (passed back). */
	int (*on_member)(void *user, const char *name, vigil_reader *r);
	/* The archive or one of its members is password-protected and cannot be read;
	 * called at most once per archive. `format` is "zip", "7z" or "rar". */
	void (*on_encrypted)(void *user, const char *format);
	/* A problem with this archive: corrupt or truncated (VIGIL_SKIP_ARCHIVE_ERROR) or a
	 * limit hit (VIGIL_SKIP_ARCHIVE_LIMIT: msg names the limit). The walk of this
	 * archive stops after a limit; after corruption it goes on as far as it can. */
	void (*on_problem)(void *user, vigil_skip reason, const char *msg);
	void *user;
} vigil_archive_callbacks;

/*
 * Open the stream as container `kind` and pass each member to cb->on_member.
 * The first prefix_len bytes of the stream were already read from src (to sniff it);
 * they are replayed before src's remaining bytes. When src->fd >= 0 the archive is read
 * from that fd directly with seeking (the prefix is then ignored). A 7z that is not
 * seekable is held in memory up to 64 MiB, else reported as a limit.
 * Single-file compressors (gzip, bzip2, xz, zstd, lz4, .Z) yield one member named after
 * `outer_name` without its compression suffix (or "data").
 * Returns 0, or the non-zero value on_member returned.
 */
int vigil_archive_scan(vigil_container kind, const char *outer_name, vigil_reader *src,
		       const uint8_t *prefix, size_t prefix_len, vigil_archive_budget *budget,
		       const vigil_archive_callbacks *cb);

#endif
