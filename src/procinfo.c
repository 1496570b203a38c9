/* SPDX-License-Identifier: Apache-2.0 */
/* Reads the details of the process behind a file-system event from /proc, safely against
 * exit and pid reuse. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procinfo.h"
#include "vigil/vigil.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* A process can make its command line as long as ARG_MAX; /proc/PID/status stays small
 * (its Groups: line is the only one that grows, and it comes after what we read). */
#define STATUS_READ_MAX 4096
#define SMALL_READ_MAX  64

vigil_proc *vigil_proc_new_bare(int pid, vigil_proc_state state)
{
	vigil_proc *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	atomic_init(&p->refs, 1);
	p->state = state;
	p->pid = pid > 0 ? pid : 0;
	p->ppid = -1;
	return p;
}

vigil_proc *vigil_proc_ref(vigil_proc *p)
{
	if (p != NULL)
		atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
	return p;
}

void vigil_proc_unref(vigil_proc *p)
{
	if (p == NULL)
		return;
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(p->exe);
	free(p->cmdline);
	free(p);
}

/* Reads at most cap bytes of dfd/name into buf; returns the count or -1 (errno set). One
 * more byte than cap is asked for so the caller can tell a cut read (returns cap + 1). */
static ssize_t read_bounded(int dfd, const char *name, char *buf, size_t cap)
{
	size_t got = 0;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	while (got <= cap) {
		ssize_t n = read(fd, buf + got, cap + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

static bool parse_u32(const char *s, const char *end, uint32_t *out, const char **next)
{
	uint64_t v = 0;
	const char *p = s;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return false;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	if (next)
		*next = p;
	return true;
}

bool vigil_proc_parse_status(vigil_proc *p, const char *text, size_t len)
{
	const char *s = text, *end = text + len;
	bool uids = false;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		uint32_t v, e;

		if (le - s > 5 && memcmp(s, "Name:", 5) == 0) {
			const char *v0 = s + 5;
			size_t n;

			while (v0 < le && (*v0 == '\t' || *v0 == ' '))
				v0++;
			n = (size_t)(le - v0);
			if (n > sizeof(p->comm) - 1)
				n = sizeof(p->comm) - 1;
			memcpy(p->comm, v0, n);
			p->comm[n] = '\0';
		} else if (le - s > 5 && memcmp(s, "PPid:", 5) == 0) {
			if (parse_u32(s + 5, le, &v, NULL) && v <= INT32_MAX)
				p->ppid = (int)v;
		} else if (le - s > 4 && memcmp(s, "Uid:", 4) == 0) {
			const char *next;

			/* "Uid:\treal\teffective\tsaved\tfs" (proc(5)). */
			if (parse_u32(s + 4, le, &v, &next) && parse_u32(next, le, &e, NULL)) {
				p->uid = v;
				p->euid = e;
				p->has_uids = uids = true;
			}
		}
		s = le + 1;
	}
	return uids;
}

/* True while the process behind pidfd has not been reaped (a zombie still counts). */
static bool pidfd_alive(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 || errno != ESRCH;
}

static int read_exe(vigil_proc *p, int dfd)
{
	char buf[4096 + 1];
	ssize_t n = readlinkat(dfd, "exe", buf, sizeof(buf) - 1);
	static const char deleted[] = " (deleted)";
	const size_t dl = sizeof(deleted) - 1;

	if (n <= 0)
		return 0; /* kernel threads and zombies have none: left NULL */
	buf[n] = '\0';
	/* The kernel appends " (deleted)" to the path of an unlinked file (proc(5)); a
	 * file may also be named that way, so it is taken off only if the link count of
	 * the program is really 0. */
	if ((size_t)n > dl && memcmp(buf + n - dl, deleted, dl) == 0) {
		struct stat st;

		if (fstatat(dfd, "exe", &st, 0) == 0 && st.st_nlink == 0) {
			buf[n - (ssize_t)dl] = '\0';
			p->exe_deleted = true;
		}
	}
	if ((p->exe = strdup(buf)) == NULL)
		return VIGIL_E_NOMEM;
	return 0;
}

static int read_cmdline(vigil_proc *p, int dfd)
{
	char *buf = malloc(VIGIL_PROC_CMDLINE_MAX + 2);
	ssize_t n;
	size_t len;

	if (buf == NULL)
		return VIGIL_E_NOMEM;
	n = read_bounded(dfd, "cmdline", buf, VIGIL_PROC_CMDLINE_MAX);
	if (n < 0) {
		free(buf);
		return 0;
	}
	len = (size_t)n;
	if (len > VIGIL_PROC_CMDLINE_MAX) {
		len = VIGIL_PROC_CMDLINE_MAX;
		p->cmdline_truncated = true;
	}
	/* Arguments are NUL-separated with a NUL after the last (proc(5)). */
	while (len > 0 && buf[len - 1] == '\0' && !p->cmdline_truncated)
		len--;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[len] = '\0';
	p->cmdline = buf;
	p->cmdline_len = len;
	return 0;
}

static void read_loginuid(vigil_proc *p, int dfd)
{
	char buf[SMALL_READ_MAX + 1];
	ssize_t n = read_bounded(dfd, "loginuid", buf, SMALL_READ_MAX);
	uint32_t v;

	if (n <= 0 || n > SMALL_READ_MAX)
		return;
	if (!parse_u32(buf, buf + n, &v, NULL))
		return;
	/* (uid_t)-1 means no login uid was ever set: a daemon started at boot. */
	if (v == UINT32_MAX) {
		p->auid_unset = true;
		return;
	}
	p->auid = v;
	p->has_auid = true;
}

int vigil_proc_read(int pid, int pidfd, bool pidfd_missing, vigil_proc **out)
{
	char path[32], status[STATUS_READ_MAX + 1];
	vigil_proc *p = NULL;
	ssize_t n;
	int dfd = -1, r;

	*out = NULL;
	if (pid <= 0) {
		p = vigil_proc_new_bare(0, VIGIL_PROC_UNKNOWN);
		goto done;
	}
	if (pidfd_missing) {
		p = vigil_proc_new_bare(pid, VIGIL_PROC_EXITED);
		goto done;
	}
	if ((p = vigil_proc_new_bare(pid, VIGIL_PROC_ALIVE)) == NULL)
		return VIGIL_E_NOMEM;
	snprintf(path, sizeof(path), "/proc/%d", pid);
	/* Order matters: the /proc/PID directory stays bound to the process it was opened
	 * for (lookups in it fail once that one is reaped). Checking the pidfd AFTER the
	 * open proves the directory is the event's process, not a later one with its pid. */
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (pidfd >= 0 && !pidfd_alive(pidfd))) {
		p->state = VIGIL_PROC_EXITED;
		goto done;
	}
	n = read_bounded(dfd, "status", status, STATUS_READ_MAX);
	if (n <= 0 || !vigil_proc_parse_status(
			  p, status, (size_t)(n > STATUS_READ_MAX ? STATUS_READ_MAX : n))) {
		/* Reaped between the open and the read. */
		p->state = VIGIL_PROC_EXITED;
		goto done;
	}
	if ((r = read_exe(p, dfd)) != 0 || (r = read_cmdline(p, dfd)) != 0) {
		vigil_proc_unref(p);
		close(dfd);
		return r;
	}
	read_loginuid(p, dfd);
	/* A zombie, or a process part way through exit(2), has status but no program or
	 * arguments left: it has exited. (Kernel threads have neither either: children of
	 * kthreadd, pid 2.) */
	if (p->exe == NULL && (memmem(status, (size_t)n, "State:\tZ", 8) != NULL ||
			       (p->cmdline_len == 0 && p->ppid != 2 && pid != 2)))
		p->state = VIGIL_PROC_EXITED;
done:
	if (dfd >= 0)
		close(dfd);
	if (p == NULL)
		return VIGIL_E_NOMEM;
	*out = p;
	return 0;
}

#ifndef PID_FS_MAGIC
#define PID_FS_MAGIC 0x50494446 /* linux/magic.h, Linux 6.9 */
#endif

uint64_t vigil_pidfd_id(int pidfd)
{
	struct statfs sfs;
	struct stat st;

	/* On pidfs every process has its own inode number, never reused while the system
	 * runs; on older kernels all pidfds share one anonymous inode and say nothing. */
	if (pidfd < 0 || fstatfs(pidfd, &sfs) != 0 || sfs.f_type != PID_FS_MAGIC ||
	    fstat(pidfd, &st) != 0)
		return 0;
	return (uint64_t)st.st_ino;
}

bool vigil_proc_same_program(const vigil_proc *p)
{
	char path[32], buf[4096 + 1];
	ssize_t n;
	size_t el;

	if (p->state != VIGIL_PROC_ALIVE || p->exe == NULL || p->exe_deleted)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/exe", p->pid);
	if ((n = readlink(path, buf, sizeof(buf) - 1)) <= 0)
		return false;
	el = strlen(p->exe);
	return (size_t)n == el && memcmp(buf, p->exe, el) == 0;
}
