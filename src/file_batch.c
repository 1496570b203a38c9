/* SPDX-License-Identifier: Apache-2.0 */
/* Batched openat/close through io_uring, with the plain system calls as the fallback: a
 * null system call costs about a microsecond on a virtual machine, and a tree of small
 * files pays several per file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <liburing.h>

#include "file_batch.h"
#include "vigil/vigil.h"

/* As vigil_open_regular (input.c): O_NONBLOCK so a FIFO swapped in cannot block the open,
 * O_NOCTTY so a terminal swapped in does not become ours. */
#define OPEN_FLAGS (O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
#define MAX_BATCH  4096
/* b->res markers: queued without a report (yet), and not queued at all. */
#define NO_RESULT  INT_MIN
#define NOT_QUEUED (INT_MIN + 1)
/* Consecutive failed io_uring_enter calls (EINTR, EAGAIN, EBUSY) before the ring is
 * given up: the kernel out of request memory for that long will not recover soon. */
#define MAX_RETRIES 64

struct vigil_file_batch {
	unsigned max;
	bool has_ring;
	struct io_uring ring;
	int *res; /* max results of the batch in flight */
};

static bool ring_allowed(void)
{
	const char *v = getenv("VIGIL_IO_URING");

	return v == NULL || strcmp(v, "0") != 0;
}

static bool ring_setup(vigil_file_batch *b)
{
	struct io_uring_params p;
	/* Bounded and unbounded io-wq workers: an open that misses the dentry cache is
	 * handed to a kernel worker, and a cold tree must not spawn one per file. */
	unsigned workers[2] = {2, 2};

	/* SUBMIT_ALL: one failing open does not stop the rest of the batch.
	 * SINGLE_ISSUER | DEFER_TASKRUN: completions are processed when this thread waits,
	 * not by interrupting it (6.1+); older kernels get a plain ring. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (io_uring_queue_init_params(b->max, &b->ring, &p) != 0) {
		memset(&p, 0, sizeof(p));
		if (io_uring_queue_init_params(b->max, &b->ring, &p) != 0)
			return false;
	}
	(void)io_uring_register_iowq_max_workers(&b->ring, workers);
	return true;
}

int vigil_file_batch_new(unsigned max, vigil_file_batch **out)
{
	vigil_file_batch *b;

	if (out == NULL)
		return VIGIL_E_INVALID;
	*out = NULL;
	if (max == 0 || max > MAX_BATCH)
		return VIGIL_E_INVALID;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return VIGIL_E_NOMEM;
	b->max = max;
	if ((b->res = malloc(max * sizeof(*b->res))) == NULL) {
		free(b);
		return VIGIL_E_NOMEM;
	}
	/* A refused ring (ENOSYS, EPERM from seccomp or io_uring_disabled, ENOMEM) leaves
	 * the plain calls, which are what vigil did before. */
	b->has_ring = ring_allowed() && ring_setup(b);
	*out = b;
	return 0;
}

void vigil_file_batch_free(vigil_file_batch *b)
{
	if (b == NULL)
		return;
	if (b->has_ring)
		io_uring_queue_exit(&b->ring);
	free(b->res);
	free(b);
}

bool vigil_file_batch_uses_ring(const vigil_file_batch *b)
{
	return b != NULL && b->has_ring;
}

/*
 * Submits the k prepared entries and waits until every one has completed; b->res[i] gets
 * each result (user_data i). Returns 0, or -1 if the ring broke: it is then given up
 * (never entered again, so nothing left in it runs later) and the entries still at
 * NO_RESULT have no known outcome.
 */
static int ring_run(vigil_file_batch *b, unsigned k)
{
	unsigned seen = 0, fails = 0;

	while (seen < k) {
		struct io_uring_cqe *cqe;
		unsigned head, got = 0;
		int ret = io_uring_submit_and_wait(&b->ring, 1);

		if (ret < 0) {
			if ((ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) ||
			    ++fails > MAX_RETRIES) {
				b->has_ring = false;
				io_uring_queue_exit(&b->ring);
				return -1;
			}
		} else {
			fails = 0;
		}
		io_uring_for_each_cqe(&b->ring, head, cqe)
		{
			if (cqe->user_data < b->max && b->res[cqe->user_data] == NO_RESULT) {
				b->res[cqe->user_data] = cqe->res;
				seen++;
			}
			got++;
		}
		io_uring_cq_advance(&b->ring, got);
	}
	return 0;
}

/* Queues an open of every entry still to do (no fd, no error, or EPERM on the round
 * without O_NOATIME); returns how many were queued. */
static unsigned queue_opens(vigil_file_batch *b, vigil_file_open *f, size_t n, int flags)
{
	const int want_err = (flags & O_NOATIME) ? 0 : EPERM;
	unsigned k = 0;

	for (size_t i = 0; i < n; i++) {
		struct io_uring_sqe *sqe;

		b->res[i] = NOT_QUEUED;
		if (f[i].fd >= 0 || f[i].err != want_err)
			continue;
		if ((sqe = io_uring_get_sqe(&b->ring)) == NULL)
			break; /* cannot happen: the ring has max entries, n <= max */
		io_uring_prep_openat(sqe, f[i].dirfd, f[i].name, flags, 0);
		sqe->user_data = i;
		b->res[i] = NO_RESULT;
		k++;
	}
	return k;
}

/* One round through the ring: each entry it reports gets its fd or its errno; one it
 * does not report keeps fd -1 and is opened plainly by the caller. */
static int ring_opens(vigil_file_batch *b, vigil_file_open *f, size_t n, int flags)
{
	unsigned k = queue_opens(b, f, n, flags);
	int rc = k > 0 ? ring_run(b, k) : 0;

	for (size_t i = 0; i < n; i++) {
		int res = b->res[i];

		if (res == NOT_QUEUED || res == NO_RESULT)
			continue;
		if (res >= 0) {
			f[i].fd = res;
			f[i].err = 0;
		} else {
			f[i].err = -res;
		}
	}
	return rc;
}

static void plain_open(vigil_file_open *f)
{
	f->fd = openat(f->dirfd, f->name, OPEN_FLAGS | O_NOATIME);
	if (f->fd < 0 && errno == EPERM)
		f->fd = openat(f->dirfd, f->name, OPEN_FLAGS);
	f->err = f->fd < 0 ? errno : 0;
}

void vigil_file_batch_open(vigil_file_batch *b, vigil_file_open *f, size_t n)
{
	bool again = false;

	if (n > b->max)
		n = b->max;
	for (size_t i = 0; i < n; i++) {
		f[i].fd = -1;
		f[i].err = 0;
	}
	if (b->has_ring && ring_opens(b, f, n, OPEN_FLAGS | O_NOATIME) == 0) {
		for (size_t i = 0; i < n; i++)
			again |= f[i].err == EPERM;
		if (again)
			(void)ring_opens(b, f, n, OPEN_FLAGS);
	}
	for (size_t i = 0; i < n; i++)
		if (f[i].fd < 0 && (f[i].err == 0 || f[i].err == EPERM))
			plain_open(&f[i]);
}

void vigil_file_batch_read(vigil_file_batch *b, vigil_file_read *rd, size_t n)
{
	unsigned k = 0;

	if (n > b->max)
		n = b->max;
	for (size_t i = 0; i < n; i++) {
		rd[i].got = -1;
		rd[i].err = 0;
	}
	if (b->has_ring) {
		for (size_t i = 0; i < n; i++) {
			struct io_uring_sqe *sqe;

			b->res[i] = NOT_QUEUED;
			if (rd[i].fd < 0 || (sqe = io_uring_get_sqe(&b->ring)) == NULL)
				continue;
			/* The fds are O_NONBLOCK, so a read that would wait for the disk
			 * comes back EAGAIN instead of going to a kernel worker thread. */
			io_uring_prep_read(sqe, rd[i].fd, rd[i].buf,
					   rd[i].len > INT_MAX ? INT_MAX : (unsigned)rd[i].len, 0);
			sqe->user_data = i;
			b->res[i] = NO_RESULT;
			k++;
		}
		if (k > 0)
			(void)ring_run(b, k);
		for (size_t i = 0; i < n; i++) {
			int res = b->res[i];

			if (res == NOT_QUEUED || res == NO_RESULT)
				rd[i].err = EAGAIN; /* the caller reads it itself */
			else if (res < 0)
				rd[i].err = -res;
			else
				rd[i].got = res;
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		ssize_t got;

		if (rd[i].fd < 0) {
			rd[i].err = EBADF;
			continue;
		}
		do
			got = pread(rd[i].fd, rd[i].buf, rd[i].len, 0);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			rd[i].err = errno;
		else
			rd[i].got = got;
	}
}

void vigil_file_batch_close(vigil_file_batch *b, const int *fds, size_t n)
{
	unsigned k = 0;

	if (n > b->max)
		n = b->max;
	if (b->has_ring) {
		for (size_t i = 0; i < n; i++) {
			struct io_uring_sqe *sqe;

			b->res[i] = NOT_QUEUED;
			if (fds[i] < 0 || (sqe = io_uring_get_sqe(&b->ring)) == NULL)
				continue;
			io_uring_prep_close(sqe, fds[i]);
			sqe->user_data = i;
			b->res[i] = NO_RESULT;
			k++;
		}
		/* A close the broken ring did not report is left open: closing it again could
		 * close a descriptor another thread has just been given. */
		if (k > 0)
			(void)ring_run(b, k);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}
