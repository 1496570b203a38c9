/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON Lines backend of the sink: one alert per line, appended to a file (synced
 * before an alert counts as delivered, cut back on a failed write, reopened after
 * rotation) or written to standard output. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sink_int.h"

static const char *file_name(const vigil_sink *s)
{
	return s->target.kind == SINK_STDOUT ? "standard output" : s->target.path;
}

static int file_connect(vigil_sink *s)
{
	struct stat st;
	int fd;

	if (s->target.kind == SINK_STDOUT)
		fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	else
		/* O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of hanging; it
		 * changes nothing for a regular file. */
		fd = open(s->target.path,
			  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
			      O_NONBLOCK,
			  0600);
	if (fd < 0)
		return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "cannot open %s: %s", file_name(s),
					    strerror(errno));
	if (fstat(fd, &st) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "cannot stat %s: %s", file_name(s),
					    strerror(e));
	}
	s->fd = fd;
	s->is_regular = S_ISREG(st.st_mode);
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->wbytes = 0;
	return 0;
}

static void file_disconnect(vigil_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static size_t file_frame(const vigil_sink *s, const vigil_spool_rec *r, uint8_t *out, size_t cap)
{
	(void)s;
	if (cap < r->len + 1)
		return 0;
	memcpy(out, r->json, r->len);
	out[r->len] = '\n';
	return r->len + 1;
}

/* A pipe or terminal: in pieces of at most PIPE_BUF after poll says there is room, so the
 * write cannot block (pipe(7)) and the close deadline is kept. */
static int write_stream(vigil_sink *s, const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		size_t chunk = n - off < PIPE_BUF ? n - off : PIPE_BUF;
		ssize_t w;
		int r = vigil_sink_wait_fd(s, s->fd, POLLOUT, (int)s->opt.io_timeout_ms);

		if (r == 0)
			return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "%s: no progress for %u ms",
						    file_name(s), s->opt.io_timeout_ms);
		if (r < 0 || (w = write(s->fd, p + off, chunk)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "cannot write %s: %s",
						    file_name(s), strerror(errno));
		}
		off += (size_t)w;
		s->wbytes += (uint64_t)w;
	}
	return 0;
}

static int write_regular(vigil_sink *s, const uint8_t *p, size_t n)
{
	off_t before = lseek(s->fd, 0, SEEK_END);
	size_t off = 0;
	int e;

	if (before < 0)
		return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "cannot seek %s: %s", file_name(s),
					    strerror(errno));
	while (off < n) {
		ssize_t w = write(s->fd, p + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto failed;
		off += (size_t)w;
	}
	/* Counted as delivered only after file_sync: a JSON Lines file is the record of
	 * last resort. */
	s->wbytes += n;
	return 0;
failed:
	e = off < n && errno == 0 ? ENOSPC : errno;
	/* Disk full (or an I/O error) part way: cut the batch off again so no half line is
	 * left for a reader, and write it whole later. We are the file's only writer. */
	if (ftruncate(s->fd, before) != 0) {
		/* The half line stays; the next attempt starts on a new line after it. */
	}
	errno = e;
	return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "cannot write %s: %s", file_name(s),
				    strerror(e));
}

static int file_write(vigil_sink *s, const sink_batch *b, size_t *done)
{
	int rc;

	*done = 0;
	if (s->target.kind == SINK_FILE && s->is_regular) {
		struct stat st;

		/* Renamed or removed (logrotate): continue in a new file under the name. */
		if (stat(s->target.path, &st) != 0 || st.st_dev != s->dev || st.st_ino != s->ino) {
			file_disconnect(s);
			if ((rc = file_connect(s)) != 0)
				return rc;
		}
	}
	errno = 0;
	rc = s->is_regular ? write_regular(s, b->buf, b->len) : write_stream(s, b->buf, b->len);
	if (rc == 0)
		*done = b->n;
	return rc;
}

/* One fdatasync for every batch written since the last: the sink calls it at most
 * FILE_SYNC_GROUP_MS after a write. Pipes and terminals have nothing to sync. */
static int file_sync(vigil_sink *s)
{
	if (!s->is_regular || fdatasync(s->fd) == 0)
		return 0;
	return vigil_sink_conn_fail(s, VIGIL_E_SYSTEM, "cannot sync %s: %s", file_name(s),
				    strerror(errno));
}

static bool file_finish(vigil_sink *s, int timeout_ms)
{
	(void)timeout_ms;
	return file_sync(s) == 0;
}

const sink_backend vigil_sink_file_backend = {
    .name = "file",
    .connect = file_connect,
    .frame = file_frame,
    .write = file_write,
    .sync = file_sync,
    .finish = file_finish,
    .disconnect = file_disconnect,
};
