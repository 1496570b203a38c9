/* SPDX-License-Identifier: Apache-2.0 */
/* The fanotify event walker: each event's framing and info records are checked before
 * anything in them is used, every fd an event carries is closed and every permission event
 * is answered, whatever the callback does. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "fan_event.h"
#include "vigil/vigil.h"

/* struct fanotify_event_info_fid: the header, the fsid, a struct file_handle (handle_bytes,
 * handle_type, f_handle[handle_bytes]), then for the *DFID_NAME types the name. Read by
 * offset with memcpy: records are only 4-byte aligned (FANOTIFY_EVENT_ALIGN), and nothing
 * at all in a hostile buffer. */
#define FID_FSID   sizeof(struct fanotify_event_info_header)
#define FID_HB     (FID_FSID + sizeof(fsid_t))
#define FID_TYPE   (FID_HB + sizeof(unsigned))
#define FID_HANDLE (FID_TYPE + sizeof(int))

_Static_assert(sizeof(struct fanotify_event_metadata) == FAN_EVENT_METADATA_LEN,
	       "metadata is read whole with memcpy");
_Static_assert(FID_HANDLE == offsetof(struct fanotify_event_info_fid, handle) + 8,
	       "file_handle's header is two 32-bit fields");

typedef struct walker {
	int group;    /* -1: parse only */
	bool dispose; /* answer and close after each event */
	fan_event_fn *fn;
	void *user;
} walker;

static bool parse_fid(const unsigned char *p, size_t len, bool named, fan_fid *f)
{
	const char *name, *nul;
	size_t left;

	if (len < FID_HANDLE)
		return false;
	memcpy(&f->fsid, p + FID_FSID, sizeof(f->fsid));
	memcpy(&f->handle_bytes, p + FID_HB, sizeof(f->handle_bytes));
	memcpy(&f->handle_type, p + FID_TYPE, sizeof(f->handle_type));
	/* Callers copy handles into struct file_handle buffers of MAX_HANDLE_SZ. */
	if (f->handle_bytes > MAX_HANDLE_SZ || f->handle_bytes > len - FID_HANDLE)
		return false;
	f->handle = p + FID_HANDLE;
	name = (const char *)f->handle + f->handle_bytes;
	left = len - FID_HANDLE - f->handle_bytes;
	if (!named) {
		f->name = "";
		f->name_len = 0;
		return true;
	}
	if ((nul = memchr(name, '\0', left)) == NULL)
		return false;
	f->name = name;
	f->name_len = (size_t)(nul - name);
	return true;
}

/* The info records of one event (n bytes after its metadata) into ev, fids their storage.
 * False if one is malformed; a pidfd read before it is in ev->pidfd all the same. */
static bool parse_info(const unsigned char *p, size_t n, fan_event *ev, fan_fid fids[4])
{
	bool have_pidfd = false;

	while (n > 0) {
		struct fanotify_event_info_header h;
		const fan_fid **slot = NULL;
		fan_fid *f = NULL;
		bool named = true;

		if (n < sizeof(h))
			return false;
		memcpy(&h, p, sizeof(h));
		if (h.len < sizeof(h) || h.len > n)
			return false;
		switch (h.info_type) {
		case FAN_EVENT_INFO_TYPE_FID:
			slot = &ev->fid, f = &fids[0], named = false;
			break;
		case FAN_EVENT_INFO_TYPE_DFID:
			named = false;
			/* fall through */
		case FAN_EVENT_INFO_TYPE_DFID_NAME:
			slot = &ev->dfid, f = &fids[1];
			break;
		case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
			slot = &ev->old_dfid, f = &fids[2];
			break;
		case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
			slot = &ev->new_dfid, f = &fids[3];
			break;
		case FAN_EVENT_INFO_TYPE_PIDFD:
			/* A second one would hide the first fd from the close. */
			if (have_pidfd || h.len < sizeof(struct fanotify_event_info_pidfd))
				return false;
			memcpy(&ev->pidfd, p + offsetof(struct fanotify_event_info_pidfd, pidfd),
			       sizeof(ev->pidfd));
			have_pidfd = true;
			break;
		default:
			break; /* a kind we do not read (error, range, mount): skipped whole */
		}
		if (slot != NULL) {
			if (*slot != NULL || !parse_fid(p, h.len, named, f))
				return false;
			*slot = f;
		}
		p += h.len;
		n -= h.len;
	}
	return true;
}

static void respond(int group, int fd, uint32_t response)
{
	struct fanotify_response r = {.fd = fd, .response = response};

	/* A failed write (already answered, the group closing) leaves nothing to do: the
	 * kernel allows what is still unanswered when the group goes away. */
	while (write(group, &r, sizeof(r)) < 0 && errno == EINTR)
		;
}

void fan_event_answer(fan_event *ev, uint32_t response)
{
	if (!(ev->mask & FANEV_PERM_MASK))
		return;
	/* After the fd was taken the event could only be answered by the walker, allowed. */
	assert(ev->group < 0 || ev->fd >= 0);
	if (ev->group >= 0 && ev->fd >= 0 && !ev->answered)
		respond(ev->group, ev->fd, response);
	ev->answered = true;
}

/* Undoes what an event holds once its callback returned (or for a malformed one, without
 * it): fd is the event's own fd, whatever the callback did with ev->fd. */
static void settle(const fan_event *ev, int fd)
{
	/* The opener waits for an answer (fanotify(7)): never left without one. */
	if ((ev->mask & FANEV_PERM_MASK) && !ev->answered && fd >= 0 && ev->group >= 0)
		respond(ev->group, fd, FAN_ALLOW);
	if (ev->fd >= 0)
		close(ev->fd);
	if (ev->pidfd >= 0)
		close(ev->pidfd);
}

static int walk(const unsigned char *buf, size_t len, const walker *w)
{
	int r = 0;

	while (len > 0) {
		struct fanotify_event_metadata md;
		fan_fid fids[4];
		fan_event ev = {.pidfd = FANEV_NO_PIDFD_INFO, .group = w->group};
		bool ok;

		if (len < sizeof(md))
			return VIGIL_E_FORMAT;
		memcpy(&md, buf, sizeof(md));
		/* fanotify(7): another version means another layout, even of fd. */
		if (md.vers != FANOTIFY_METADATA_VERSION)
			return VIGIL_E_FORMAT;
		ev.mask = md.mask;
		ev.fd = md.fd;
		ev.pid = md.pid;
		ok = md.metadata_len >= sizeof(md) && md.event_len >= md.metadata_len &&
		     md.event_len <= len &&
		     parse_info(buf + md.metadata_len, md.event_len - md.metadata_len, &ev, fids);
		if (ok)
			w->fn(w->user, &ev);
		else
			r = VIGIL_E_FORMAT;
		if (w->dispose)
			settle(&ev, md.fd);
		/* Past a malformed event only if its length still frames the next one. */
		if (md.event_len < sizeof(md) || md.event_len > len)
			return VIGIL_E_FORMAT;
		buf += md.event_len;
		len -= md.event_len;
	}
	return r;
}

int fan_events_parse(const void *buf, size_t len, fan_event_fn *fn, void *user)
{
	const walker w = {.group = -1, .dispose = false, .fn = fn, .user = user};

	return walk(buf, len, &w);
}

int fan_events_read(int group, void *buf, size_t cap, int max_reads, fan_event_fn *fn, void *user,
		    bool *drained)
{
	const walker w = {.group = group, .dispose = true, .fn = fn, .user = user};
	bool empty = false;
	int reads = 0;

	while (reads < max_reads) {
		ssize_t n = read(group, buf, cap);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			empty = true; /* EAGAIN: all read */
			break;
		}
		reads++;
		(void)walk(buf, (size_t)n, &w);
		if ((size_t)n + FANEV_MAX_EVENT <= cap) {
			empty = true;
			break;
		}
	}
	if (drained)
		*drained = empty;
	return reads;
}
