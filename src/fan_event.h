/* SPDX-License-Identifier: Apache-2.0 */
/* One validated walker over the events a fanotify group's read(2) returns, with their info
 * records (file handles with names, pidfd), for every group in libvigil. Private. */
#ifndef VIGIL_FAN_EVENT_H
#define VIGIL_FAN_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/fanotify.h>
#include <sys/types.h>

/* Kernel headers older than the running kernel (Debian 12 ships 6.1's) may lack these;
 * the values are ABI (include/uapi/linux/fanotify.h, include/linux/exportfs.h). */
#ifndef FAN_EVENT_INFO_TYPE_PIDFD
#define FAN_EVENT_INFO_TYPE_PIDFD 4
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif
#ifndef FAN_NOPIDFD
#define FAN_NOPIDFD (-1)
#define FAN_EPIDFD  (-2)
#endif
#ifndef FAN_PRE_ACCESS
#define FAN_PRE_ACCESS 0x00100000
#endif
#ifndef MAX_HANDLE_SZ
#define MAX_HANDLE_SZ 128
#endif

/* fan_event.pidfd when the event had no pidfd record (a group without FAN_REPORT_PIDFD);
 * distinct from the kernel's FAN_NOPIDFD (the process had exited) and FAN_EPIDFD. */
#define FANEV_NO_PIDFD_INFO (-100)

/* The events that wait for an answer (fanotify(7), "Monitoring filesystems for
 * permission"). */
#define FANEV_PERM_MASK (FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM | FAN_PRE_ACCESS)

/* One FID, DFID or DFID_NAME-style record (struct fanotify_event_info_fid), checked: the
 * handle lies within the record and is at most MAX_HANDLE_SZ bytes, the name is
 * NUL-terminated within it. Pointers are into the caller's buffer, at any alignment. */
typedef struct fan_fid {
	fsid_t fsid;
	int handle_type;
	unsigned handle_bytes;
	const unsigned char *handle;
	const char *name; /* "" for FID and DFID records */
	size_t name_len;
} fan_fid;

/* An upper bound on one event's length: metadata, two directory FID records with a name
 * each (FAN_RENAME: handles of at most MAX_HANDLE_SZ, names of at most NAME_MAX), a pidfd
 * record and room to spare. */
#define FANEV_MAX_EVENT 4096

/* One event as a callback gets it. */
typedef struct fan_event {
	uint64_t mask;
	/* FAN_NOFD or an open fd of the object. fan_events_read closes it after the callback
	 * unless the callback set it to -1 (took it). */
	int fd;
	int pid;
	/* An open pidfd (closed after the callback unless set to -1, as fd), or FAN_NOPIDFD
	 * (the process had exited), FAN_EPIDFD (the kernel could not make one), or
	 * FANEV_NO_PIDFD_INFO. */
	int pidfd;
	/* The records, NULL when absent: FAN_EVENT_INFO_TYPE_FID; DFID_NAME or DFID (one
	 * name in a directory); OLD_DFID_NAME and NEW_DFID_NAME (FAN_RENAME). */
	const fan_fid *fid, *dfid, *old_dfid, *new_dfid;
	int group;     /* the fanotify fd read, for fan_event_answer; -1 in fan_events_parse */
	bool answered; /* set by fan_event_answer */
} fan_event;

/* Called once per well-formed event; ev and what it points to are valid during the call. */
typedef void fan_event_fn(void *user, fan_event *ev);

/*
 * Calls fn for each well-formed event in buf (len bytes as read(2) of a fanotify group
 * returned them; no alignment needed). Pure: nothing is closed or answered, the fds in
 * the events are the caller's (for tests and fuzzing). An event is malformed, and fn is not
 * called for it, if its metadata_len is below FAN_EVENT_METADATA_LEN or its event_len is
 * below metadata_len or beyond the buffer, its vers is not FANOTIFY_METADATA_VERSION, or
 * one of its info records is (a header len below the header's size or beyond the event, a
 * FID-style record too short for its handle or a handle over MAX_HANDLE_SZ, a name not
 * NUL-terminated within the record, a pidfd record too short, two records of one type).
 * The walk goes on after a malformed event whose event_len is usable, else stops there.
 * Returns 0 if every byte belonged to a well-formed event, else VIGIL_E_FORMAT.
 */
int fan_events_parse(const void *buf, size_t len, fan_event_fn *fn, void *user);

/*
 * Reads group (a non-blocking fanotify fd) into buf (cap bytes, aligned for struct
 * fanotify_event_metadata) up to max_reads times, retrying EINTR, stopping early when
 * nothing is queued (EAGAIN) or the read fails (errno then says why), and walks each read
 * as fan_events_parse does. After fn returns, a permission event (FANEV_PERM_MASK) fn did
 * not answer is answered FAN_ALLOW, then ev->fd and ev->pidfd are closed unless fn set them
 * to -1. A malformed event is never given to fn, but what it holds is released as far as
 * it can be read: with its vers right, a permission event is allowed and its fd closed,
 * and its pidfd if read before the bad record. An event of another version is left
 * untouched (its layout, fd included, is unknown: fanotify(7) says to stop using the
 * group), and so is every event after one whose event_len cannot frame the next.
 * A read that leaves FANEV_MAX_EVENT bytes of buf unused found the queue empty (the kernel
 * fills the buffer while the next event fits), so no further read is tried then: on a
 * VM every empty read is a system call for nothing. *drained (may be NULL) says whether
 * the last read found the queue empty.
 * Returns the number of reads that returned events (max_reads: more may be queued).
 */
int fan_events_read(int group, void *buf, size_t cap, int max_reads, fan_event_fn *fn, void *user,
		    bool *drained);

/* Answers a permission event now (FAN_ALLOW or FAN_DENY) through ev->group, before the
 * callback's other work, so the opener stops waiting; the first answer counts. Call before
 * taking ev->fd. Does nothing for other events; without a group (fan_events_parse) it only
 * marks the event answered. */
void fan_event_answer(fan_event *ev, uint32_t response);

#endif
