/* SPDX-License-Identifier: Apache-2.0 */
/* Safe file input: open regular files without following links or touching atime, and
 * read them in blocks, skipping holes. Private to libvigil. */
#ifndef VIGIL_INPUT_H
#define VIGIL_INPUT_H

#include <stdint.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <sys/types.h>

#include "vigil/scan.h"

/* A byte source: a file on disk or an archive member. */
typedef struct vigil_reader vigil_reader;
struct vigil_reader {
	/* Read up to cap bytes; returns the count, 0 at the end, or -1 with errno set
	 * (EFBIG: an expansion limit stopped the stream). */
	ssize_t (*read)(vigil_reader *r, void *buf, size_t cap);
	int fd;       /* a seekable file descriptor for the whole stream, or -1 */
	int64_t size; /* size in bytes if known, else -1 */
	void *ctx;    /* the implementation's state */
};

/*
 * Open `name` relative to dirfd as a regular file: O_RDONLY|O_NOFOLLOW|O_NOATIME|
 * O_CLOEXEC|O_NONBLOCK (O_NOATIME is dropped when the kernel refuses it for files we
 * do not own). `expected` is the walk's lstat of the entry: if the opened file is not
 * the same regular file (dev, ino, type), it was swapped and the open fails.
 * Returns the fd, or -1 with *reason set (VIGIL_SKIP_VANISHED for ENOENT or a swap,
 * VIGIL_SKIP_SPECIAL if not a regular file, else VIGIL_SKIP_UNREADABLE) and errno kept.
 */
int vigil_open_regular(int dirfd, const char *name, const struct stat *expected,
		       vigil_skip *reason);

/* pread/read for fds from vigil_open_regular (which keep O_NONBLOCK): EINTR is retried,
 * and EAGAIN (a FUSE file system honouring O_NONBLOCK) clears the flag and retries. */
ssize_t vigil_pread(int fd, void *buf, size_t n, off_t off);
ssize_t vigil_read(int fd, void *buf, size_t n);

/*
 * Reads fd to its end into a malloc'd buffer *out of *len bytes (NUL-terminated, the NUL
 * not counted): a policy, a dpkg admin file, anything read whole. size_hint (e.g. the
 * fstat size, 0 if unknown) sizes the first allocation; the file may grow past it up to
 * limit bytes. Returns 0, VIGIL_E_LIMIT (more than limit bytes), VIGIL_E_NOMEM or
 * VIGIL_E_SYSTEM (errno kept). The fd stays the caller's; reads as vigil_read.
 */
int vigil_read_all(int fd, size_t limit, size_t size_hint, char **out, size_t *len);

/* A reader over a regular file's fd that skips holes with SEEK_DATA/SEEK_HOLE, so a
 * sparse file costs only its data. The state lives in *state; fd stays the caller's. */
typedef struct vigil_file_reader {
	vigil_reader r;
	int fd;
	off_t pos;      /* next offset to read */
	off_t data_end; /* end of the current data segment, or -1 if unknown */
	int64_t size;
	bool use_seek_data;
} vigil_file_reader;

void vigil_file_reader_init(vigil_file_reader *fr, int fd, int64_t size);

#endif
