/* SPDX-License-Identifier: Apache-2.0 */
/* Inside libvigil: how other modules plug into the `vigil watch` event loop — a hook that
 * sees every file-system event before coalescing (destruction scoring, canaries), extra
 * file descriptors polled by the loop (a second fanotify group with permission events),
 * and alerts sent through the watcher's outputs. Private to libvigil. */
#ifndef VIGIL_WATCH_INT_API_H
#define VIGIL_WATCH_INT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "procinfo.h"
#include "vigil/watch.h"

/* What happened, the same bits whichever kernel interface reported it. */
#define VIGIL_WEV_CREATE      0x0001u /* a name was created (file, dir, link, node) */
#define VIGIL_WEV_DELETE      0x0002u /* a name was removed */
#define VIGIL_WEV_MODIFY      0x0004u /* content written (each write; merged by the kernel) */
#define VIGIL_WEV_CLOSE_WRITE 0x0008u /* a file open for writing was closed */
#define VIGIL_WEV_ATTRIB      0x0010u /* metadata: mode, owner, times, xattrs, link count */
#define VIGIL_WEV_MOVED_FROM  0x0020u /* renamed away from this name */
#define VIGIL_WEV_MOVED_TO    0x0040u /* renamed to this name */
#define VIGIL_WEV_ISDIR       0x0080u /* the object is a directory */
#define VIGIL_WEV_OVERFLOW    0x0100u /* the kernel's queue overflowed: events were lost */
#define VIGIL_WEV_UNMOUNT     0x0200u /* the file system under the path went away */

/* One event as read from the kernel, before coalescing. Valid during the hook call. */
typedef struct vigil_watch_event {
	uint32_t mask;    /* VIGIL_WEV_* */
	const char *path; /* absolute, as the kernel resolves it now; NULL if unresolvable */
	size_t path_len;
	const char *path2; /* rename: the new name (path is the old one), else NULL */
	size_t path2_len;
	int pid;           /* the process (thread group), 0 if the interface gives none (inotify) */
	int pidfd;         /* its pidfd (borrowed, valid during the call), or -1 */
	bool pid_exited;   /* the kernel said it had exited before the event was read */
	bool pidfd_failed; /* the kernel could not make a pidfd (FAN_EPIDFD): pid unverified */
	bool watched;      /* path (or path2) lies under a watched root */
	int64_t time_us;   /* when it was read (CLOCK_REALTIME) */
} vigil_watch_event;

/* Called on the event-loop thread for every event of every watched file system (watched
 * or not, except vigil's own). It must not block: queue slow work elsewhere. */
typedef void (*vigil_watch_hook_fn)(void *user, vigil_watch *w, const vigil_watch_event *ev);

/* Adds a hook (before vigil_watch_run). Returns 0, VIGIL_E_LIMIT (too many), VIGIL_E_INVALID
 * (already running). */
int vigil_watch_add_hook(vigil_watch *w, vigil_watch_hook_fn fn, void *user);

/* Called on the loop thread when fd is ready (epoll events). */
typedef void (*vigil_watch_source_fn)(void *user, vigil_watch *w, uint32_t events);

/* Polls fd in the event loop (e.g. a FAN_CLASS_CONTENT group with FAN_OPEN_PERM marks,
 * whose responses must be written promptly). The fd stays the caller's. Before
 * vigil_watch_run. Returns 0, VIGIL_E_LIMIT, VIGIL_E_INVALID. */
int vigil_watch_add_source(vigil_watch *w, int fd, uint32_t epoll_events, vigil_watch_source_fn fn,
			   void *user);

/* The process behind an event, through the loop's per-batch cache (one /proc read per
 * process per batch). Loop thread only. Returns a new reference (vigil_proc_unref) or
 * NULL on ENOMEM. */
vigil_proc *vigil_watch_process(vigil_watch *w, const vigil_watch_event *ev);

/* Sends an alert to every output, filling id and host. Thread-safe; never blocks.
 * Returns 0 or the first output's error (VIGIL_E_LIMIT: dropped and counted). */
int vigil_watch_emit(vigil_watch *w, const vigil_alert *a);

/* Reads the events the kernel holds now for the main (notification) group and hands
 * them to the hooks, so that a decision taken next (a permission verdict) sees the
 * evidence of everything that happened before it. Bounded; loop thread only. */
void vigil_watch_drain(vigil_watch *w);

/* The canonical path of a watched root the event lies under, for hooks that need to know
 * whether a path is protected: true if path lies under one of the PATH arguments (or the
 * config's protect list). */
bool vigil_watch_is_protected(const vigil_watch *w, const char *path, size_t len);

/* The options the watcher was made with (copied strings), with the config's [watch]
 * section merged in where the options left a value unset; paths/npaths are every
 * protected directory (the PATH arguments and protect), absolute with symlinks resolved. */
const vigil_watch_options *vigil_watch_get_options(const vigil_watch *w);

#endif
