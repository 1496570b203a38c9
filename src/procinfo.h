/* SPDX-License-Identifier: Apache-2.0 */
/* Who did it: the details of a process named by a file-system event (pid, parent, program,
 * command line, user ids), read from /proc at event time with bounded reads, and checked
 * against the event's pidfd so a pid reused by another process is never reported in its
 * place. Private to libvigil. */
#ifndef VIGIL_PROCINFO_H
#define VIGIL_PROCINFO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest command line kept (bytes); longer ones are cut and flagged. */
#define VIGIL_PROC_CMDLINE_MAX 4096

typedef enum vigil_proc_state {
	VIGIL_PROC_ALIVE = 0, /* read while the process ran: the fields below are its own */
	VIGIL_PROC_EXITED,    /* gone (or a zombie) before it could be read: only pid, and
			       * for a zombie what /proc/PID/status still shows */
	VIGIL_PROC_UNKNOWN,   /* the event named no process (inotify), or pidfd failed */
} vigil_proc_state;

/*
 * One process as seen at one moment. Shared between the event loop and the thread that
 * writes alerts, so it is reference-counted: vigil_proc_ref / vigil_proc_unref. Strings
 * are owned, NUL-terminated, and hold whatever bytes the process put there (the alert
 * writer makes them valid UTF-8).
 */
typedef struct vigil_proc {
	atomic_int refs;
	vigil_proc_state state;
	int pid;  /* tgid; 0 when state is UNKNOWN without a pid */
	int ppid; /* -1 if unknown */
	bool has_uids;
	uint32_t uid, euid; /* real and effective (status "Uid:") */
	bool has_auid;      /* false: unknown, or the login uid is unset (4294967295) */
	bool auid_unset;    /* loginuid read and it is unset: not from a login session */
	uint32_t auid;
	char *exe;              /* /proc/PID/exe target, without " (deleted)"; NULL if unknown */
	bool exe_deleted;       /* the program file was removed after it started */
	char *cmdline;          /* arguments joined by spaces; NULL if unknown */
	size_t cmdline_len;     /* bytes in cmdline */
	bool cmdline_truncated; /* longer than VIGIL_PROC_CMDLINE_MAX */
	char comm[17];          /* status "Name:" (the kernel's 16-byte comm), "" if unknown */
} vigil_proc;

/*
 * Reads process `pid` into a new vigil_proc (refs = 1).
 * pidfd: the event's pidfd (fanotify FAN_REPORT_PIDFD), borrowed; or -1 to read by pid
 * alone (no guard against reuse: for tests and sources that give no pidfd).
 * pidfd_missing: true if the event's source said the process had already exited
 * (FAN_NOPIDFD): the result is EXITED at once, nothing is read.
 * A process found gone, or whose pidfd says it exited, is EXITED: never the details of
 * whatever process holds the pid now. pid <= 0 gives UNKNOWN.
 * Returns 0 and sets *out, or VIGIL_E_NOMEM.
 */
int vigil_proc_read(int pid, int pidfd, bool pidfd_missing, vigil_proc **out);

/* A process record with no details (state UNKNOWN or EXITED, given pid). NULL on ENOMEM. */
vigil_proc *vigil_proc_new_bare(int pid, vigil_proc_state state);

/* Takes a reference; returns p. Accepts NULL. Thread-safe. */
vigil_proc *vigil_proc_ref(vigil_proc *p);

/* Drops a reference, freeing at zero. Accepts NULL. Thread-safe. */
void vigil_proc_unref(vigil_proc *p);

/* Parses the text of /proc/PID/status (len bytes, need not be NUL-terminated) into the
 * ppid, uid/euid and comm fields of p. Returns true if Uid was found. Exposed for tests. */
bool vigil_proc_parse_status(vigil_proc *p, const char *text, size_t len);

/* The pidfs identity of the process behind pidfd: an inode number no other process gets
 * while the system runs (Linux 6.9 and later); 0 where pidfds carry none. */
uint64_t vigil_pidfd_id(int pidfd);

/* True if p (read alive, with a program) still runs the same program: its /proc exe link
 * is unchanged, so it has not exec'd another one. Says nothing about which process holds
 * the pid: callers check that first (vigil_pidfd_id). One system call; false on doubt. */
bool vigil_proc_same_program(const vigil_proc *p);

#endif
