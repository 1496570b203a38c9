/* SPDX-License-Identifier: Apache-2.0 */
/* Report and config names of the baseline's attributes and content digests. */
#include <string.h>

#include "vigil/attr.h"

/* Indexed by bit number: the names are API (JSON reports, config files). */
static const char *const attr_names[VIGIL_ATTR_COUNT] = {
    "type",   "mode", "uid",  "gid", "size", "mtime",   "ctime",  "inode", "nlink",
    "target", "dev",  "hash", "acl", "caps", "selinux", "xattrs", "flags", "boot_sector",
};

static const char *const hash_names[VIGIL_HASH_COUNT] = {
    [VIGIL_HASH_SHA256] = "sha256",
    [VIGIL_HASH_SHA512] = "sha512",
    [VIGIL_HASH_BLAKE2B] = "blake2b",
};

_Static_assert(VIGIL_ATTR_BOOT_SECTOR == 1u << (VIGIL_ATTR_COUNT - 1),
	       "attr_names must name every bit");

const char *vigil_attr_name(uint32_t attr)
{
	/* Exactly one bit, and a known one. */
	if (attr == 0 || (attr & (attr - 1)) != 0 || (attr & ~(uint32_t)VIGIL_ATTR_ALL) != 0)
		return NULL;
	return attr_names[__builtin_ctz(attr)];
}

uint32_t vigil_attr_from_name(const char *name)
{
	if (name == NULL)
		return 0;
	for (unsigned i = 0; i < VIGIL_ATTR_COUNT; i++)
		if (strcmp(name, attr_names[i]) == 0)
			return 1u << i;
	return 0;
}

const char *vigil_hash_algo_name(vigil_hash_algo a)
{
	if ((unsigned)a >= VIGIL_HASH_COUNT)
		return NULL;
	return hash_names[a];
}

int vigil_hash_algo_from_name(const char *name, vigil_hash_algo *out)
{
	if (name == NULL)
		return VIGIL_E_INVALID;
	for (unsigned i = 0; i < VIGIL_HASH_COUNT; i++) {
		if (strcmp(name, hash_names[i]) == 0) {
			*out = (vigil_hash_algo)i;
			return 0;
		}
	}
	return VIGIL_E_INVALID;
}
