/* SPDX-License-Identifier: Apache-2.0 */
/* vigil — the file attributes an integrity baseline records, and their report names. */
#ifndef VIGIL_ATTR_H
#define VIGIL_ATTR_H

#include <stdint.h>

#include "vigil/vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One bit per attribute, in report order. The names (vigil_attr_name) are API: they
 * appear in `vigil check --format json` and in the config file. */
typedef enum vigil_attr {
	VIGIL_ATTR_TYPE = 1u << 0,         /* "type": file, dir, symlink, ... */
	VIGIL_ATTR_MODE = 1u << 1,         /* "mode": permission bits incl. setuid/setgid/sticky */
	VIGIL_ATTR_UID = 1u << 2,          /* "uid" */
	VIGIL_ATTR_GID = 1u << 3,          /* "gid" */
	VIGIL_ATTR_SIZE = 1u << 4,         /* "size" */
	VIGIL_ATTR_MTIME = 1u << 5,        /* "mtime" */
	VIGIL_ATTR_CTIME = 1u << 6,        /* "ctime" */
	VIGIL_ATTR_INODE = 1u << 7,        /* "inode" */
	VIGIL_ATTR_NLINK = 1u << 8,        /* "nlink" */
	VIGIL_ATTR_TARGET = 1u << 9,       /* "target": a symlink's target */
	VIGIL_ATTR_DEV = 1u << 10,         /* "dev": device numbers of a device node */
	VIGIL_ATTR_HASH = 1u << 11,        /* "hash": content digest of a regular file */
	VIGIL_ATTR_ACL = 1u << 12,         /* "acl": POSIX ACLs (system.posix_acl_*) */
	VIGIL_ATTR_CAPS = 1u << 13,        /* "caps": file capabilities (security.capability) */
	VIGIL_ATTR_SELINUX = 1u << 14,     /* "selinux": the SELinux label (security.selinux) */
	VIGIL_ATTR_XATTRS = 1u << 15,      /* "xattrs": every other extended attribute */
	VIGIL_ATTR_FLAGS = 1u << 16,       /* "flags": ext2/ext4 inode flags (chattr) */
	VIGIL_ATTR_BOOT_SECTOR = 1u << 17, /* "boot_sector": first 1 MiB of a whole disk */
} vigil_attr;

#define VIGIL_ATTR_COUNT 18
#define VIGIL_ATTR_ALL   ((1u << VIGIL_ATTR_COUNT) - 1)

/* Everything but boot_sector: the default set of `vigil init PATH...`. */
#define VIGIL_ATTR_DEFAULT (VIGIL_ATTR_ALL & ~VIGIL_ATTR_BOOT_SECTOR)

/* The report name of one attribute bit ("mode"), or NULL if attr is not exactly one bit. */
VIGIL_API const char *vigil_attr_name(uint32_t attr);

/* The bit named `name` ("hash"), or 0 if there is none. */
VIGIL_API uint32_t vigil_attr_from_name(const char *name);

/* Content digests a baseline can record (OpenSSL EVP, so SHA-NI is used where present). */
typedef enum vigil_hash_algo {
	VIGIL_HASH_SHA256 = 0, /* "sha256", the default */
	VIGIL_HASH_SHA512,     /* "sha512" */
	VIGIL_HASH_BLAKE2B,    /* "blake2b" (BLAKE2b-512) */
	VIGIL_HASH_COUNT
} vigil_hash_algo;

/* "sha256", "sha512", "blake2b"; NULL for an unknown value. */
VIGIL_API const char *vigil_hash_algo_name(vigil_hash_algo a);

/* Parses a name as above; returns 0 and sets *out, or VIGIL_E_INVALID. */
VIGIL_API int vigil_hash_algo_from_name(const char *name, vigil_hash_algo *out);

#ifdef __cplusplus
}
#endif
#endif
