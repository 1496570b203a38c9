/* SPDX-License-Identifier: Apache-2.0 */
/* Opening and closing many regular files with few system calls: one io_uring submission
 * per batch where the kernel allows it, plain openat/close where it does not. Private to
 * libvigil. */
#ifndef VIGIL_FILE_BATCH_H
#define VIGIL_FILE_BATCH_H

#include <stdbool.h>
#include <stddef.h>

/* A per-thread opener. Not shareable between threads (the ring is single-issuer). */
typedef struct vigil_file_batch vigil_file_batch;

/* One file to open: dirfd and name are the caller's (borrowed); fd and err are set. */
typedef struct vigil_file_open {
	int dirfd;
	const char *name;
	int fd;  /* the open file (caller closes it), or -1 */
	int err; /* errno of the failed open, else 0 */
} vigil_file_open;

/*
 * Creates an opener for batches of up to `max` files (1..4096) in *out (set to NULL on
 * entry). It uses io_uring unless the kernel refuses a ring (ENOSYS; EPERM under a
 * seccomp filter or kernel.io_uring_disabled; ENOMEM) or the environment holds
 * VIGIL_IO_URING=0, which forces the plain system calls (for tests). A refused ring is
 * not an error. Returns 0, VIGIL_E_INVALID or VIGIL_E_NOMEM. Free with
 * vigil_file_batch_free, in the thread that created it.
 */
int vigil_file_batch_new(unsigned max, vigil_file_batch **out);

/* Accepts NULL. */
void vigil_file_batch_free(vigil_file_batch *b);

/* True if batches go through io_uring. */
bool vigil_file_batch_uses_ring(const vigil_file_batch *b);

/*
 * Opens the n files of f (n <= max) read-only with O_NOFOLLOW|O_NOATIME|O_NONBLOCK|
 * O_NOCTTY|O_CLOEXEC — O_NOATIME is dropped for a file that refuses it with EPERM (it
 * needs ownership or CAP_FOWNER, open(2)), as vigil_open_regular does. What was opened is
 * whatever the name held at that moment: the caller fstats each fd before trusting it.
 * Never fails as a whole: each entry gets its fd or its errno. If the ring breaks in the
 * middle it is given up for good, and files it did not report are opened plainly.
 */
void vigil_file_batch_open(vigil_file_batch *b, vigil_file_open *f, size_t n);

/* One read from the start of an open file: fd, buf and len are the caller's; got is set. */
typedef struct vigil_file_read {
	int fd;
	void *buf;
	size_t len;
	long got; /* bytes read (fewer at the end of the file), or -1 */
	int err;  /* errno of a failed read, else 0; EAGAIN when the data is not in the page
		   * cache yet (the fds are O_NONBLOCK: the caller reads it the blocking way) */
} vigil_file_read;

/* Reads up to len bytes at offset 0 of each of the n files (n <= max) in one submission
 * (pread(2) each without a ring). */
void vigil_file_batch_read(vigil_file_batch *b, vigil_file_read *rd, size_t n);

/* Closes the n file descriptors in fds (n <= max; negative ones are skipped). */
void vigil_file_batch_close(vigil_file_batch *b, const int *fds, size_t n);

#endif
