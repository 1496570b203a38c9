/* SPDX-License-Identifier: Apache-2.0 */
/* What src/baseline.c offers the watcher beyond the public API (include/vigil/baseline.h).
 * Private to libvigil; exposed for its unit tests. */
#ifndef VIGIL_BASELINE_INT_H
#define VIGIL_BASELINE_INT_H

#include <stddef.h>
#include <sys/stat.h>

#include "vigil/baseline.h"

/*
 * As vigil_baseline_compare_path, and also says what its one lstat of path (len bytes)
 * found, so that the watcher need not look again: *state is 1 (it exists, *st_out is its
 * lstat), 0 (the lstat failed: gone) or -1 (not looked at, or it vanished while being read).
 */
int vigil_baseline_compare_path_st(vigil_baseline *b, const char *path, size_t len,
				   int (*fn)(void *user, const vigil_change *c), void *user,
				   struct stat *st_out, int *state);

#endif
