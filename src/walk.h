/* SPDX-License-Identifier: Apache-2.0 */
/* Directory walk with openat/fstatat on directory fds: no PATH_MAX limit, no symlink
 * following unless asked (then loops are detected), optional one-file-system. */
#ifndef VIGIL_WALK_H
#define VIGIL_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "vigil/scan.h"

typedef struct vigil_walk_entry {
	const char *path; /* full path as walked (root + names); may exceed PATH_MAX */
	size_t path_len;
	int dirfd;             /* the parent directory, open during the callback only */
	const char *name;      /* base name, for openat(dirfd, name) */
	const struct stat *st; /* lstat of the entry (stat of the target when following) */
} vigil_walk_entry;

typedef struct vigil_walk_callbacks {
	/* A regular file. Return non-zero to stop the walk (returned by vigil_walk). */
	int (*on_file)(void *user, const vigil_walk_entry *e);
	/* Something not walked or not a regular file: reason says why; err is the errno
	 * (0 if none). FIFOs, sockets and devices come here as VIGIL_SKIP_SPECIAL. */
	void (*on_skip)(void *user, const char *path, vigil_skip reason, int err);
	/* A directory was entered (for progress and counting); may be NULL. */
	void (*on_dir)(void *user, const char *path);
	void *user;
} vigil_walk_callbacks;

typedef struct vigil_walk_options {
	bool one_file_system;
	bool follow_symlinks;
	const char *const *excludes; /* NULL-terminated fnmatch globs, matched against the
				      * full path and the base name; may be NULL */
	bool skip_pseudo;            /* skip /proc, /sys, /dev and /run (set when walking /) */
} vigil_walk_options;

/*
 * Walk `root` (a directory or a single file). Returns 0, the non-zero value on_file
 * returned, or VIGIL_E_SYSTEM if root itself cannot be examined (errno kept).
 * Unreadable subdirectories are reported through on_skip and the walk goes on.
 */
int vigil_walk(const char *root, const vigil_walk_options *o, const vigil_walk_callbacks *cb);

/* True if path or its base name matches one of the globs. */
bool vigil_path_excluded(const char *path, const char *const *globs);

#endif
