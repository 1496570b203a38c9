/* SPDX-License-Identifier: Apache-2.0 */
/* File attributes for the integrity baseline: what one entry looks like, how it is read
 * from the file system (lstat, content digest, xattrs, inode flags), compared and shown.
 * Private to libvigil. */
#ifndef VIGIL_META_H
#define VIGIL_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "vigil/attr.h"

#define VIGIL_DIGEST_MAX 64 /* SHA-512 and BLAKE2b-512 */

/* How a rule treats an entry (config: growing = ..., presence = ...). */
typedef enum vigil_entry_policy {
	VIGIL_POLICY_NORMAL = 0,   /* every attribute in `attrs` is compared */
	VIGIL_POLICY_GROWING = 1,  /* a log: size may only grow and the old content stays a
				    * prefix; mtime/ctime/size/hash changes that obey that are not
				    * changes */
	VIGIL_POLICY_PRESENCE = 2, /* only that it exists (and its type) matters */
} vigil_entry_policy;

/*
 * One recorded file-system entry. Every pointer member is owned by the entry and freed
 * by vigil_entry_clear. A member whose attribute bit is not in `attrs` is zero/NULL and
 * never compared. Blob members (acl, caps, selinux, xattrs) hold the canonical encoding
 * described at vigil_entry_read; a NULL blob with the bit set means "none present".
 */
typedef struct vigil_entry {
	char *path; /* full path bytes, not NUL-terminated-safe: use path_len */
	size_t path_len;
	uint32_t attrs;    /* vigil_attr bits recorded for this entry */
	uint8_t policy;    /* vigil_entry_policy */
	uint8_t hash_algo; /* vigil_hash_algo of `hash` */
	uint32_t type;     /* st_mode & S_IFMT */
	uint32_t mode;     /* st_mode & 07777 */
	uint32_t uid, gid;
	int64_t size;
	int64_t mtime_ns, ctime_ns; /* nanoseconds since the epoch */
	uint64_t inode;
	uint64_t nlink;
	uint64_t rdev; /* st_rdev of a device node, else 0 */
	char *target;  /* symlink target bytes (not NUL-terminated-safe: use target_len) */
	size_t target_len;
	uint8_t hash[VIGIL_DIGEST_MAX]; /* content digest of a regular file (or, with
					 * boot_sector, of a block device's first 1 MiB) */
	uint8_t hash_len;               /* 0 = not hashed */
	uint8_t *acl, *caps, *selinux, *xattrs;
	size_t acl_len, caps_len, selinux_len, xattrs_len;
	uint32_t flags; /* FS_IOC_GETFLAGS value, masked to what chattr sets (meta.c) */
} vigil_entry;

/* Frees every owned member and zeroes *e. Accepts a zeroed entry. */
void vigil_entry_clear(vigil_entry *e);

/* Deep copy; returns 0 or VIGIL_E_NOMEM (dst left zeroed). */
int vigil_entry_copy(vigil_entry *dst, const vigil_entry *src);

/* What vigil_entry_read produced besides the entry. */
typedef struct vigil_entry_read_info {
	/* With prefix_len >= 0 on input: the digest of the file's first prefix_len bytes,
	 * computed in the same pass (for growing logs: the old content must stay a prefix).
	 * prefix_hash_len is 0 when the file is now shorter than prefix_len. */
	uint8_t prefix_hash[VIGIL_DIGEST_MAX];
	uint8_t prefix_hash_len;
	int err;          /* errno of a partial failure (e.g. xattrs unreadable), 0 if none */
	const char *what; /* which step failed ("open", "read", "listxattr", ...) or NULL */
} vigil_entry_read_info;

/*
 * Reads the attributes in `attrs` of the entry `name` in directory dirfd whose walk
 * lstat is *st, into *e (which must be zeroed; path is copied in). Regular files are
 * opened with vigil_open_regular (O_NOFOLLOW|O_NOATIME, fstat compared with *st: a
 * swap is VIGIL_SKIP_VANISHED) and hashed with `algo` through OpenSSL EVP in large
 * reads. The digest is of the content as read; if the file changed size while being
 * read the entry is still returned (the next check sees it).
 *
 * Canonical blob encodings (so equal attributes compare equal byte for byte):
 *  - acl: "a" + value of system.posix_acl_access, then "d" + value of
 *    system.posix_acl_default, each present part as [tag byte][u32 LE length][bytes].
 *  - caps: the raw security.capability value.
 *  - selinux: the label text without a trailing NUL.
 *  - xattrs: all other names sorted bytewise, each as [u32 LE name length][name]
 *    [u32 LE value length][value].
 * No xattr of a class present: NULL, length 0.
 * flags: read with FS_IOC_GETFLAGS on regular files and directories only (never
 * opening device nodes, FIFOs or sockets); a file system without inode flags gives 0.
 *
 * prefix_len: -1, or a byte count for vigil_entry_read_info.prefix_hash.
 * Returns 0; VIGIL_E_NOT_FOUND if the entry vanished or was swapped; VIGIL_E_SYSTEM
 * (errno kept, info->what set) if it could not be read — e.g. EACCES — in which case
 * the lstat attributes are still filled and `attrs` has the unreadable bits cleared;
 * VIGIL_E_NOMEM.
 */
int vigil_entry_read(int dirfd, const char *name, const char *path, size_t path_len,
		     const struct stat *st, uint32_t attrs, vigil_hash_algo algo,
		     int64_t prefix_len, vigil_entry *e, vigil_entry_read_info *info);

/*
 * As vigil_entry_read, for a regular file the caller has already opened (O_NOFOLLOW,
 * O_NONBLOCK, read-only) and fstat'ed into *st: what the fd holds is what is recorded, so
 * there is no lstat to compare with. fd stays open (the caller closes it). head/head_len:
 * content the caller has already read from offset 0 (NULL/0 if none); the digest goes on
 * from there. Returns as vigil_entry_read; VIGIL_E_INVALID if fd < 0 or *st is not a
 * regular file.
 */
int vigil_entry_read_fd(int fd, const uint8_t *head, size_t head_len, const char *path,
			size_t path_len, const struct stat *st, uint32_t attrs,
			vigil_hash_algo algo, int64_t prefix_len, vigil_entry *e,
			vigil_entry_read_info *info);

/* Digests the first `limit` bytes (or all, if limit < 0) readable from fd with algo.
 * Returns 0 and fills out/out_len, VIGIL_E_SYSTEM on a read error, VIGIL_E_CRYPTO. */
int vigil_digest_fd(int fd, vigil_hash_algo algo, int64_t limit, uint8_t *out, uint8_t *out_len);

/* Bits of `attrs` (intersected with both entries' recorded attrs) whose values differ
 * between a and b. TYPE differing implies the caller should treat it as a type change. */
uint32_t vigil_entry_diff(const vigil_entry *a, const vigil_entry *b, uint32_t attrs);

/*
 * Writes the value of one attribute (a single bit) as a human-readable string into buf
 * (always NUL-terminated, truncated to cap): type "file"/"dir"/"symlink"/"block"/
 * "char"/"fifo"/"socket"; mode "0755" (octal, 4 digits); uid/gid/size/inode/nlink
 * decimal; mtime/ctime RFC 3339 UTC with nanoseconds; target the bytes (invalid UTF-8
 * as is: the caller escapes); dev "major:minor"; hash and boot_sector lower-case hex;
 * acl as text ("user::rw-,group::r--,other::r--", default entries prefixed
 * "default:"); caps as hex; selinux the label; xattrs "name=<hex>" joined by "," with
 * values over 32 bytes shown as "sha256:<hex>"; flags as lsattr letters ("i", "a",
 * "ia", ...) or "-" if none. Returns the length the full string needs (like snprintf).
 */
size_t vigil_entry_format(const vigil_entry *e, uint32_t attr, char *buf, size_t cap);

/* The type name used by vigil_entry_format for an S_IFMT value. */
const char *vigil_type_name(uint32_t type);

#endif
