/* SPDX-License-Identifier: Apache-2.0 */
/* Safe opening of regular files (no links, no FIFOs, swap detection), a hole-skipping reader,
 * and reading a file whole under a size limit. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       (a->st_mode & S_IFMT) == (b->st_mode & S_IFMT);
}

static vigil_skip open_failure(int err, const struct stat *expected)
{
	switch (err) {
	case ENOENT:
		return VIGIL_SKIP_VANISHED;
	case ELOOP:  /* O_NOFOLLOW met a symlink */
	case ENXIO:  /* a UNIX socket, or a device without its driver */
	case ENODEV: /* a device node */
		/* The walk saw a regular file here: something else took its place. */
		return (expected && S_ISREG(expected->st_mode)) ? VIGIL_SKIP_VANISHED
								: VIGIL_SKIP_SPECIAL;
	default:
		return VIGIL_SKIP_UNREADABLE;
	}
}

int vigil_open_regular(int dirfd, const char *name, const struct stat *expected, vigil_skip *reason)
{
	/* O_NONBLOCK: a FIFO swapped in after the walk's lstat must not block the open (a
	 * reader open of a FIFO waits for a writer, fifo(7)); it also turns a lease break
	 * wait into EWOULDBLOCK. O_NOCTTY: a terminal swapped in must not become ours. */
	const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	struct stat st;
	int fd, err;

	fd = openat(dirfd, name, flags | O_NOATIME);
	/* O_NOATIME needs ownership or CAP_FOWNER, else EPERM (open(2)). */
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags);
	if (fd < 0) {
		*reason = open_failure(errno, expected);
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		*reason = VIGIL_SKIP_UNREADABLE;
		goto fail;
	}
	if (expected && !same_file(&st, expected)) {
		*reason = VIGIL_SKIP_VANISHED;
		errno = ESTALE;
		goto fail;
	}
	/* Before any read: a FIFO or device is never read from. */
	if (!S_ISREG(st.st_mode)) {
		*reason = VIGIL_SKIP_SPECIAL;
		errno = EINVAL;
		goto fail;
	}
	/* O_NONBLOCK stays: regular files ignore it on local file systems, and a FUSE file
	 * system that answers EAGAIN gets it cleared by vigil_pread/vigil_read, so the common
	 * case costs no fcntl per file. */
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/*
 * Find the data segment at or after fr->pos (lseek(2) SEEK_DATA/SEEK_HOLE; file systems
 * without hole tracking report the whole file as one segment). Returns 1 when there is
 * data to read (or SEEK_DATA is unsupported and plain reads take over), 0 at the end,
 * -1 with errno on error.
 */
static int next_segment(vigil_file_reader *fr)
{
	off_t data, hole = -1;

	data = lseek(fr->fd, fr->pos, SEEK_DATA);
	if (data >= 0)
		hole = lseek(fr->fd, data, SEEK_HOLE);
	if (data < 0 || hole < 0) {
		/* ENXIO: no data at or after the offset (only a hole is left, or the file
		 * shrank below it). */
		if (errno == ENXIO) {
			fr->size = fr->pos;
			return 0;
		}
		if (errno == EINVAL || errno == EOPNOTSUPP) {
			fr->use_seek_data = false;
			fr->data_end = -1;
			return 1;
		}
		return -1;
	}
	/* A hole right at data means it was truncated in between: the end. */
	if (hole <= data) {
		fr->size = fr->pos;
		return 0;
	}
	fr->pos = data;
	fr->data_end = hole;
	return 1;
}

/*
 * Reads with pread at the reader's own offset: lseek(SEEK_DATA) moves the fd's offset but
 * nothing relies on it. Reading stops at the size given to init (the fstat size), so a
 * file that keeps growing — a busy log — cannot keep a worker forever; a file that
 * shrinks ends early, which is not an error.
 */
static ssize_t file_read(vigil_reader *r, void *buf, size_t cap)
{
	vigil_file_reader *fr = r->ctx;

	if (cap > SSIZE_MAX)
		cap = SSIZE_MAX;
	for (;;) {
		size_t n = cap;
		ssize_t got;
		int s;

		if (cap == 0 || (fr->size >= 0 && fr->pos >= fr->size))
			return 0;
		if (fr->use_seek_data && (fr->data_end < 0 || fr->pos >= fr->data_end)) {
			if ((s = next_segment(fr)) <= 0)
				return s;
			continue; /* pos moved: check it against size again */
		}
		if (fr->use_seek_data && (uint64_t)(fr->data_end - fr->pos) < n)
			n = (size_t)(fr->data_end - fr->pos);
		if (fr->size >= 0 && (uint64_t)(fr->size - fr->pos) < n)
			n = (size_t)(fr->size - fr->pos);
		got = vigil_pread(fr->fd, buf, n, fr->pos);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (got == 0) {
			/* Truncated under us: the end is here. */
			fr->size = fr->pos;
			return 0;
		}
		fr->pos += got;
		return got;
	}
}

void vigil_file_reader_init(vigil_file_reader *fr, int fd, int64_t size)
{
	*fr = (vigil_file_reader){
	    .r = {.read = file_read, .fd = fd, .size = size, .ctx = fr},
	    .fd = fd,
	    .pos = 0,
	    .data_end = -1,
	    .size = size,
	    .use_seek_data = true,
	};
}

/* The fd asked for blocking reads after all (a FUSE file system answered EAGAIN to
 * O_NONBLOCK): clear the flag once. */
static int make_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || !(fl & O_NONBLOCK))
		return -1;
	return fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ? -1 : 0;
}

ssize_t vigil_pread(int fd, void *buf, size_t n, off_t off)
{
	for (;;) {
		ssize_t got = pread(fd, buf, n, off);

		if (got >= 0 || (errno != EINTR && (errno != EAGAIN || make_blocking(fd) != 0)))
			return got;
	}
}

ssize_t vigil_read(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t got = read(fd, buf, n);

		if (got >= 0 || (errno != EINTR && (errno != EAGAIN || make_blocking(fd) != 0)))
			return got;
	}
}

int vigil_read_all(int fd, size_t limit, size_t size_hint, char **out, size_t *len)
{
	/* +1: the end of the file is seen, and the NUL fits, without growing. */
	size_t cap = (size_hint < limit ? size_hint : limit) + 1, n = 0;
	char *buf;
	int r, saved;

	*out = NULL;
	*len = 0;
	if (cap < 4096)
		cap = limit < 4096 ? limit + 1 : 4096;
	if ((buf = malloc(cap)) == NULL)
		return VIGIL_E_NOMEM;
	for (;;) {
		ssize_t got;

		if (n == cap) {
			size_t ncap = cap > limit / 2 ? limit + 1 : cap * 2;
			char *q;

			if (n > limit) {
				r = VIGIL_E_LIMIT;
				goto fail;
			}
			if ((q = realloc(buf, ncap)) == NULL) {
				r = VIGIL_E_NOMEM;
				goto fail;
			}
			buf = q;
			cap = ncap;
		}
		got = vigil_read(fd, buf + n, cap - n);
		if (got < 0) {
			r = VIGIL_E_SYSTEM;
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > limit) {
		r = VIGIL_E_LIMIT;
		goto fail;
	}
	if (n == cap) {
		char *q = realloc(buf, n + 1);

		if (q == NULL) {
			r = VIGIL_E_NOMEM;
			goto fail;
		}
		buf = q;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	saved = errno;
	free(buf);
	errno = saved;
	return r;
}
