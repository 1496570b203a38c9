/* SPDX-License-Identifier: Apache-2.0 */
/* The destruction defense of `vigil watch`: scores destruction (content overwritten, emptied,
 * removed, renamed away; encrypted copies; ransom notes) per process and process tree in the
 * protected paths, and stops, kills or reports the offender before it gets far.
 *
 * How it keeps up with an attacker running as fast as the disk allows: two fanotify groups of
 * its own, both with inode marks on the protected directories only (never filesystem or
 * mount marks: a permission mark there would make every open on the host wait for us), read
 * by a thread of its own.
 * - The permission group (FAN_CLASS_CONTENT): FAN_OPEN_PERM and FAN_CLOSE_WRITE. Every open
 *   of a protected file waits for our verdict; before giving it we take the file's "before"
 *   sample through the event's own fd (opening the path ourselves would raise a permission
 *   event on our own group and deadlock), and read everything the name group holds, so the
 *   opener's last removals and renames are scored. The close of a written file comes in the
 *   same group, in order, with its own fd for the "after" sample. Once a process tree's score
 *   crosses the threshold its next open is refused and it is stopped: it cannot race ahead
 *   of the evidence.
 * - The name group (FAN_REPORT_DFID_NAME): creations, removals and renames in the protected
 *   directories alone — not the watcher's main group, whose filesystem marks carry the whole
 *   file system's activity and can hold a verdict up behind thousands of unrelated events.
 * Removals raise no permission event (Linux has none for unlink), so a delete-only wiper is
 *   stopped from the name group as soon as its events are read: a little after the fact. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "defense.h"
#include "destruct_int.h"
#include "fan_event.h"
#include "json.h"

#ifndef FAN_REPORT_PIDFD
#define FAN_REPORT_PIDFD 0x00000080
#endif

#define NREC          1024  /* process records (LRU beyond) */
#define NINODE        16384 /* "before" samples, direct-mapped by inode */
#define YOUNG_MIN     (1u << 14)
#define YOUNG_MAX     (1u << 21) /* names made during the watch; 16 MiB at most */
#define NFILES        16         /* damaged files named in an alert (the count is kept beyond) */
#define NWRITTEN      8          /* new files each process wrote last (encrypted copies, gzip) */
#define NDELETED      8          /* removals each process made last (re-created: not destroyed) */
#define NNOTES        4
#define MAXANC        4 /* ancestors credited with a process's evidence */
#define NSELF         64
#define PERM_BUF      16384
#define MAX_DIRS      65536               /* directories marked at most */
#define STEM_NS       (10LL * 1000000000) /* a copy and its original's removal: within 10 s */
#define REFUND_NS     (5LL * 1000000000)  /* removed and made again (git checkout): within 5 s */
#define RELEASE_NS    (300LL * 1000000)   /* a stop not yet in effect is not a release */
#define LAZY_BATCH_NS (20LL * 1000000)    /* lazy groups read on their own at most this often */
#define URGENT_NS     (10LL * 1000000000) /* real-time priority this long after evidence */

typedef struct wfile {
	char *path;
	size_t len;
	uint8_t cls;
	int64_t ns;
} wfile;

typedef struct drec {
	bool used;
	int pid, ppid, pgid, sid;
	uint64_t start; /* /proc/PID/stat starttime: tells a reused pid apart */
	bool allowed;   /* its program, or an ancestor's, is on the allowlist */
	bool trusted;   /* released by vigil release after a stop */
	bool responded;
	bool resp_group;
	int resp_pgid;
	int64_t resp_ns;
	int64_t resp_real_us; /* when, on the wall clock (compared with release files) */
	int64_t last_ns;
	char comm[17];
	char *exe;
	double score;
	int64_t score_ns;
	unsigned ev[DEV_COUNT];
	unsigned nfiles; /* damaged, in all */
	struct {
		char *path;
		size_t len;
		uint8_t ev;
	} files[NFILES];
	int anc[MAXANC];
	int nanc;
	wfile written[NWRITTEN];
	unsigned nwritten;
	struct {
		uint64_t h;
		int64_t ns;
		double pts;
	} deleted[NDELETED];
	unsigned ndeleted;
	struct {
		uint64_t h, dirh;
		unsigned ndirs;
	} notes[NNOTES];
	unsigned nnotes;
} drec;

typedef struct inode_sample {
	dev_t dev;
	ino_t ino;
	int64_t mtime_ns;
	destruct_sample s;
} inode_sample;

/* A notification group whose events need not wake us one by one: read before anything that
 * depends on them (an open, a removal), otherwise at most every LAZY_BATCH_NS. */
typedef struct lazy_group {
	int fd; /* -1: none (its events come in another group) */
	uint8_t *buf;
	bool busy;
	int64_t last_ns;     /* read last then */
	int64_t deadline_ns; /* 0, or its wake-up was put off until then */
} lazy_group;

typedef struct dstate {
	vigil_watch *w;
	int fd;  /* permission group: FAN_OPEN_PERM (and FAN_CLOSE_WRITE without closes) */
	int nfd; /* name group: removals, renames (and creations without creates); DFID_NAME */
	uint64_t nmask;
	lazy_group closes;  /* FAN_CLOSE_WRITE, with the file's fd */
	lazy_group creates; /* FAN_CREATE (DFID_NAME) */
	int epfd, stopfd;
	pthread_t thread;
	bool thread_started;
	/* Walker threads (grow_tree) share the marks' bookkeeping: ndirs and the directory
	 * map are under mu. */
	pthread_mutex_t mu;
	atomic_int walkers;
	atomic_bool closing;
	bool in_notif;
	uint8_t *nbuf;
	/* Directory file handle -> path, filled as directories are marked. */
	uint64_t *dirh;
	char **dirp;
	size_t dircap;
	char np1[PATH_MAX + NAME_MAX + 2], np2[PATH_MAX + NAME_MAX + 2];
	char nt1[PATH_MAX], nt2[PATH_MAX];
	int respond; /* VIGIL_RESPOND_* */
	const char *const *allow;
	size_t nallow;
	const char *const *default_allow;
	char rundir[PATH_MAX];
	int self, self_pgid;
	int selfs[NSELF], self_pgids[NSELF]; /* vigil and its ancestors: never stopped */
	size_t nselfs;
	bool in_perm;
	bool urgent;       /* the thread runs at real-time priority (set_urgent) */
	int64_t urgent_ns; /* evidence last seen then */
	const char *alt;   /* add_evidence: the file's other name, during a rename */
	size_t alt_len;
	drec recs[NREC];
	inode_sample inodes[NINODE];
	uint64_t *young;
	size_t young_cap, young_n;
	size_t ndirs;
	uint8_t *buf;
	uint8_t sample[DESTRUCT_SAMPLE];
	struct {
		dev_t dev;
		ino_t ino;
		int64_t mtime_ns;
		char hex[65];
	} digests[16];
	unsigned ndigest;
} dstate;

/* The built-in allowlist, used when neither the options nor the config give one. Package
 * managers rewrite and remove files that existed before by design (their own, in /usr and
 * /etc) and their maintainer scripts run as their children. Deliberately absent: rsync,
 * rclone, cp, rm, tar, shells and interpreters (python3, perl) — each would hand a wiper a
 * free pass (rsync --delete from an empty directory wipes a tree; rclone is a staple of
 * ransomware crews) — and unattended-upgrades, a python3 script that runs apt/dpkg, which
 * are covered. Backup tools only read protected paths, which is never scored; a backup
 * repository kept inside a protected path needs its tool added by the administrator. */
static const char *const builtin_allow[] = {
    "/usr/bin/dpkg",    "/usr/bin/dpkg-deb",  "/usr/bin/apt",
    "/usr/bin/apt-get", "/usr/bin/aptitude",  "/usr/lib/apt/methods/*",
    "/usr/bin/rpm",     "/usr/bin/rpmkeys",   "/usr/bin/pacman",
    "/usr/bin/zypper",  "/usr/bin/flatpak",   "/usr/lib/snapd/snapd",
    "/usr/bin/restic",  "/usr/sbin/ldconfig", NULL};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

/* ---- /proc ---- */

struct pstat {
	char state;
	int ppid, pgid, sid;
	uint64_t start;
};

/* Fields of /proc/PID/stat after the command name (which may hold spaces and parens). */
static bool read_stat(int pid, struct pstat *ps)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;
	unsigned long long start = 0;
	int field = 3;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return false;
	p += 2;
	ps->state = *p;
	if (sscanf(p + 1, " %d %d %d", &ps->ppid, &ps->pgid, &ps->sid) != 3)
		return false;
	/* starttime is field 22; p points at field 3 (state). */
	while (*p && field < 22) {
		if (*p++ == ' ')
			field++;
	}
	if (sscanf(p, "%llu", &start) != 1)
		return false;
	ps->start = start;
	return true;
}

static char *read_exe(int pid)
{
	char path[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if ((n = readlink(path, buf, sizeof(buf) - 1)) <= 0)
		return NULL;
	buf[n] = '\0';
	if (n > 10 && strcmp(buf + n - 10, " (deleted)") == 0)
		buf[n - 10] = '\0';
	return strdup(buf);
}

static void read_comm(int pid, char comm[17])
{
	char path[64];
	ssize_t n;
	int fd;

	comm[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, comm, 16);
	close(fd);
	if (n <= 0)
		n = 0;
	comm[n] = '\0';
	if (n > 0 && comm[n - 1] == '\n')
		comm[n - 1] = '\0';
}

static bool is_self(const dstate *d, int pid)
{
	for (size_t i = 0; i < d->nselfs; i++)
		if (d->selfs[i] == pid)
			return true;
	return false;
}

/* Never signalled: pid 1 and kernel threads' parent, vigil itself and the processes above
 * it (the shell or service manager that runs it). */
static bool safe_pid(const dstate *d, int pid)
{
	return pid > 2 && !is_self(d, pid);
}

/* A process group we may stop whole: not init's, not one holding vigil or an ancestor. */
static bool safe_group(const dstate *d, int pgid)
{
	if (pgid <= 2)
		return false;
	for (size_t i = 0; i < d->nselfs; i++)
		if (d->self_pgids[i] == pgid || d->selfs[i] == pgid)
			return false;
	return true;
}

/* ---- the allowlist ---- */

/* SHA-256 of the program, read through /proc/PID/exe, cached by inode and mtime. Never for a
 * program inside a protected path: our own open there would wait on our own group. */
static const char *exe_digest(dstate *d, int pid, const char *exe)
{
	char path[64];
	struct stat st;
	unsigned char md[32];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = NULL;
	const char *res = NULL;
	ssize_t n;
	int fd = -1;
	unsigned slot;

	if (exe == NULL || vigil_watch_is_protected(d->w, exe, strlen(exe)))
		return NULL;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME)) < 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0)
		goto out;
	for (unsigned i = 0; i < 16; i++)
		if (d->digests[i].hex[0] && d->digests[i].dev == st.st_dev &&
		    d->digests[i].ino == st.st_ino &&
		    d->digests[i].mtime_ns ==
			(int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec) {
			res = d->digests[i].hex;
			goto out;
		}
	if ((ctx = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while ((n = read(fd, d->sample, sizeof(d->sample))) > 0)
		if (EVP_DigestUpdate(ctx, d->sample, (size_t)n) != 1)
			goto out;
	if (n < 0 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		goto out;
	slot = d->ndigest++ % 16;
	d->digests[slot].dev = st.st_dev;
	d->digests[slot].ino = st.st_ino;
	d->digests[slot].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	for (unsigned i = 0; i < 32; i++)
		snprintf(d->digests[slot].hex + 2 * i, 3, "%02x", md[i]);
	res = d->digests[slot].hex;
out:
	EVP_MD_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return res;
}

static bool is_allowed(dstate *d, int pid, const char *exe)
{
	const char *const *list = d->allow ? d->allow : builtin_allow;
	size_t n = d->allow ? d->nallow : sizeof(builtin_allow) / sizeof(*builtin_allow) - 1;

	if (exe == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool need = false;

		if (destruct_allow_match(list[i], exe, NULL, &need))
			return true;
		if (need && destruct_allow_match(list[i], exe, exe_digest(d, pid, exe), &need))
			return true;
	}
	return false;
}

/* ---- process records ---- */

static void rec_clear(drec *r)
{
	free(r->exe);
	for (unsigned i = 0; i < NFILES; i++)
		free(r->files[i].path);
	for (unsigned i = 0; i < NWRITTEN; i++)
		free(r->written[i].path);
	memset(r, 0, sizeof(*r));
}

static drec *rec_find(dstate *d, int pid)
{
	for (size_t i = 0; i < NREC; i++)
		if (d->recs[i].used && d->recs[i].pid == pid)
			return &d->recs[i];
	return NULL;
}

/* The record of a process, made (from /proc) when first seen. A process already gone gets a
 * bare record: its evidence still counts for itself, but it cannot name its ancestors. */
static drec *rec_get(dstate *d, int pid)
{
	drec *r = rec_find(d, pid), *victim = NULL;
	struct pstat ps;
	int64_t now = mono_ns();

	if (r != NULL) {
		/* Not seen for a while: the pid may belong to another process now. */
		if (now - r->last_ns > 1000000000LL && r->start != 0 && read_stat(pid, &ps) &&
		    ps.start != r->start) {
			rec_clear(r);
			goto fresh;
		}
		r->last_ns = now;
		return r;
	}
	for (size_t i = 0; i < NREC; i++) {
		drec *c = &d->recs[i];

		if (!c->used) {
			victim = c;
			break;
		}
		/* Least recently seen goes, but a stopped offender stays as long as possible. */
		if (victim == NULL || (c->responded < victim->responded) ||
		    (c->responded == victim->responded && c->last_ns < victim->last_ns))
			victim = c;
	}
	rec_clear(victim);
	r = victim;
fresh:
	r->used = true;
	r->pid = pid;
	r->ppid = r->pgid = r->sid = -1;
	r->last_ns = r->score_ns = now;
	if (read_stat(pid, &ps)) {
		r->ppid = ps.ppid;
		r->pgid = ps.pgid;
		r->sid = ps.sid;
		r->start = ps.start;
	}
	r->exe = read_exe(pid);
	read_comm(pid, r->comm);
	r->allowed = is_allowed(d, pid, r->exe);
	/* Ancestors inside the same session are credited too: a wiper forking a child per file
	 * (or running one rm per file from a script) adds up in its parent. The session is the
	 * boundary so that a login shell's unrelated commands, a service manager, or init never
	 * collect a whole machine's deletions. */
	for (int cur = r->ppid; r->nanc < MAXANC && cur > 2 && !is_self(d, cur);) {
		struct pstat as;
		char *aexe;

		if (!read_stat(cur, &as) || as.sid != r->sid)
			break;
		r->anc[r->nanc++] = cur;
		if (!r->allowed && (aexe = read_exe(cur)) != NULL) {
			r->allowed = is_allowed(d, cur, aexe);
			free(aexe);
		}
		cur = as.ppid;
	}
	return r;
}

/* The record and its ancestors' (made as needed): at most 1 + MAXANC. */
static size_t chain_of(dstate *d, drec *r, drec **out)
{
	size_t n = 0;
	int anc[MAXANC], nanc = r->nanc;

	memcpy(anc, r->anc, sizeof(anc));
	out[n++] = r;
	for (int i = 0; i < nanc; i++) {
		drec *a = rec_get(d, anc[i]);

		/* rec_get may have recycled a slot; never list one record twice. */
		bool dup = false;
		for (size_t j = 0; j < n; j++)
			dup |= out[j] == a;
		if (!dup)
			out[n++] = a;
	}
	return n;
}

/* alt: the file's other name (a rename's new one), or NULL. */
static void add_file(drec *r, const char *path, size_t len, int ev, const char *alt, size_t alen)
{
	unsigned i = r->nfiles < NFILES ? r->nfiles : NFILES;

	for (unsigned j = 0; j < i; j++) {
		bool same = r->files[j].path && r->files[j].len == len &&
			    memcmp(r->files[j].path, path, len) == 0;
		bool other = alt && r->files[j].path && r->files[j].len == alen &&
			     memcmp(r->files[j].path, alt, alen) == 0;

		if (same || other) {
			/* The same file, damaged again (encrypted, then renamed): listed once,
			 * with the heavier evidence. */
			if (destruct_weight(ev) > destruct_weight(r->files[j].ev))
				r->files[j].ev = (uint8_t)ev;
			return;
		}
	}
	r->nfiles++;
	if (i < NFILES && (r->files[i].path = strndup(path, len)) != NULL) {
		r->files[i].len = len;
		r->files[i].ev = (uint8_t)ev;
	}
}

/* At the threshold, give or take the decay of the last milliseconds (two files worth 4
 * each, a moment apart, are 7.9999 by then). */
static bool crossed(double score)
{
	return score >= DESTRUCT_THRESHOLD - 0.01;
}

static double score_now(drec *r, int64_t now)
{
	r->score = destruct_decay(r->score, now - r->score_ns);
	r->score_ns = now;
	return r->score;
}

/* ---- responding ---- */

struct alert_ctx {
	const drec *r, *trig;
	const char *signal;
	int pgid;
	bool group;
	int also;
};

static void write_extra(FILE *f, void *user)
{
	const struct alert_ctx *c = user;
	const drec *t = c->trig;
	unsigned listed = t->nfiles < NFILES ? t->nfiles : NFILES;
	bool first = true;

	fprintf(f, ",\"score\":%.1f,\"threshold\":%.1f,\"evidence\":{", t->score,
		DESTRUCT_THRESHOLD);
	for (int e = 1; e < DEV_COUNT; e++)
		if (t->ev[e]) {
			fprintf(f, "%s\"%s\":%u", first ? "" : ",", destruct_evidence_name(e),
				t->ev[e]);
			first = false;
		}
	fputs("},\"files\":[", f);
	for (unsigned i = 0; i < listed; i++) {
		if (t->files[i].path == NULL)
			continue;
		fputs(i ? ",{" : "{", f);
		vigil_alert_write_path(f, "path", t->files[i].path, t->files[i].len);
		fprintf(f, ",\"evidence\":\"%s\"}", destruct_evidence_name(t->files[i].ev));
	}
	fprintf(f, "],\"files_total\":%u,\"tree\":{\"pid\":%d,\"exe\":", t->nfiles, t->pid);
	if (t->exe)
		vigil_json_string(f, t->exe, strlen(t->exe));
	else
		fputs("null", f);
	fprintf(f, ",\"pgid\":%d,\"sid\":%d}", t->pgid, t->sid);
	if (c->signal) {
		fprintf(f, ",\"response\":{\"signal\":\"%s\",\"pid\":%d,", c->signal, c->r->pid);
		if (c->group)
			fprintf(f, "\"pgid\":%d", c->pgid);
		else
			fputs("\"pgid\":null", f);
		if (c->also > 0)
			fprintf(f, ",\"also\":%d", c->also);
		fputc('}', f);
	}
}

/* Sends sig to the offender: its whole process group when that is safe (a wiper's children
 * and helpers stop together, and a stopped group can be resumed or killed as one), else the
 * process alone. Returns true if a signal went out; *group and *pgid say how. */
static bool signal_offender(dstate *d, const drec *r, int sig, bool *group, int *pgid)
{
	struct pstat ps;
	int g = r->pgid;

	if (read_stat(r->pid, &ps))
		g = ps.pgid; /* it may have changed groups since first seen */
	*group = false;
	*pgid = g;
	if (safe_group(d, g) && kill(-g, sig) == 0) {
		*group = true;
		return true;
	}
	return safe_pid(d, r->pid) && kill(r->pid, sig) == 0;
}

static void respond(dstate *d, drec *r, drec *trig, int pidfd, const char *why)
{
	struct alert_ctx c = {.r = r, .trig = trig};
	vigil_alert a = {0};
	vigil_proc *proc = NULL;
	char reason[1024], what[256] = "";
	const char *action = "alerted";
	int sig = d->respond == VIGIL_RESPOND_KILL ? SIGKILL : SIGSTOP;
	int64_t now = mono_ns();
	drec *chain[1 + MAXANC];
	size_t n;
	size_t wl = 0;

	/* Stop first, read /proc after: every microsecond counts against a fast wiper, and a
	 * stopped process is still there to be read. A killed one is not: read it before. */
	if (d->respond != VIGIL_RESPOND_STOP)
		(void)vigil_proc_read(r->pid, pidfd, false, &proc);
	if (d->respond != VIGIL_RESPOND_ALERT) {
		bool ok = signal_offender(d, r, sig, &c.group, &c.pgid);

		/* The tree's top, when it crossed through its children's evidence and sits in
		 * another group (a parent that gives each child its own group to dodge this). */
		if (trig != r && trig->pgid != c.pgid) {
			bool g2;
			int pg2;

			if (signal_offender(d, trig, sig, &g2, &pg2))
				c.also = trig->pid;
		}
		if (ok || c.also) {
			action = sig == SIGKILL ? "killed" : "stopped";
			c.signal = sig == SIGKILL ? "SIGKILL" : "SIGSTOP";
		} else {
			action = "alerted"; /* nothing we may signal: vigil's own tree, or gone */
		}
	}
	if (proc == NULL)
		(void)vigil_proc_read(r->pid, pidfd, false, &proc);
	n = chain_of(d, r, chain);
	for (size_t i = 0; i < n; i++) {
		chain[i]->responded = true;
		chain[i]->resp_ns = now;
		chain[i]->resp_real_us = vigil_alert_now_us();
		chain[i]->resp_group = c.group;
		chain[i]->resp_pgid = c.pgid;
	}
	trig->responded = true;
	trig->resp_ns = now;
	trig->resp_real_us = vigil_alert_now_us();
	for (int e = 1; e < DEV_COUNT; e++)
		if (trig->ev[e] && wl < sizeof(what) - 40)
			wl += (size_t)snprintf(what + wl, sizeof(what) - wl, "%s%u %s",
					       wl ? ", " : "", trig->ev[e],
					       destruct_evidence_name(e));
	if (strcmp(action, "stopped") == 0)
		snprintf(reason, sizeof(reason),
			 "Process %d (%s)%s damaged %u files in protected paths (%s)%s: %s %d "
			 "stopped; review it, then vigil release %d or vigil kill %d.",
			 r->pid, r->comm, trig != r ? " and its process tree" : "", trig->nfiles,
			 what, why ? why : "", c.group ? "process group" : "process",
			 c.group ? c.pgid : r->pid, r->pid, r->pid);
	else if (strcmp(action, "killed") == 0)
		snprintf(
		    reason, sizeof(reason),
		    "Process %d (%s)%s damaged %u files in protected paths (%s): %s %d killed.",
		    r->pid, r->comm, trig != r ? " and its process tree" : "", trig->nfiles, what,
		    c.group ? "process group" : "process", c.group ? c.pgid : r->pid);
	else
		snprintf(reason, sizeof(reason),
			 "Process %d (%s)%s damaged %u files in protected paths (%s)%s.", r->pid,
			 r->comm, trig != r ? " and its process tree" : "", trig->nfiles, what,
			 d->respond == VIGIL_RESPOND_ALERT
			     ? ""
			     : "; it could not be stopped (vigil's own "
			       "process tree, or already gone)");
	a.kind = "destruction";
	a.severity = VIGIL_SEV_CRITICAL;
	a.has_process = true;
	a.proc = proc;
	a.action = action;
	a.reason = reason;
	a.extra = write_extra;
	a.extra_user = &c;
	(void)vigil_watch_emit(d->w, &a);
	vigil_proc_unref(proc);
}

/* Has an operator released this process (vigil release writes RUNDIR/released/PID)? */
static bool was_released(const dstate *d, const drec *r)
{
	char path[PATH_MAX + 64];
	struct stat st;
	int ids[2] = {r->pid, r->resp_pgid};

	for (int i = 0; i < 2; i++) {
		if (ids[i] <= 0)
			continue;
		snprintf(path, sizeof(path), "%s/released/%d", d->rundir, ids[i]);
		/* Only a word given after this stop counts: an old file for a reused pid
		 * must not release a new offender. */
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000 >=
			r->resp_real_us - 1000000)
			return true;
	}
	return false;
}

/* A process tree we answered opens again. Stopped processes do not open files, so it was
 * continued: by vigil release (then it is trusted from now on) or by someone else — maybe
 * the attacker's own helper — and then it is stopped again. Returns true to deny. */
static bool answered_again(dstate *d, drec **chain, size_t n, int pidfd)
{
	drec *hit = NULL;
	struct pstat ps;
	int64_t now = mono_ns();

	for (size_t i = 0; i < n && hit == NULL; i++)
		if (chain[i]->responded)
			hit = chain[i];
	if (hit == NULL)
		return false;
	if (d->respond == VIGIL_RESPOND_ALERT)
		return false; /* alerted once; on_open lets it be */
	for (size_t i = 0; i < n; i++)
		if (was_released(d, chain[i]) || (chain[i] != hit && was_released(d, hit))) {
			/* Trusted: the released process and its group (the job that was
			 * stopped), not an ancestor outside it such as the login shell. */
			for (size_t j = 0; j < n; j++) {
				chain[j]->responded = false;
				if (j == 0 || chain[j]->pgid == chain[0]->pgid)
					chain[j]->trusted = true;
				else
					chain[j]->score = 0;
			}
			return false;
		}
	/* Our SIGSTOP may simply not have landed yet (other threads, queued opens). */
	if (now - hit->resp_ns < RELEASE_NS ||
	    (read_stat(chain[0]->pid, &ps) && (ps.state == 'T' || ps.state == 't')))
		return true;
	if (d->respond == VIGIL_RESPOND_STOP)
		respond(d, chain[0], hit, pidfd, ", was continued without vigil release");
	return true;
}

/* The thread's priority; called on the thread only. At ordinary priority while nothing looks
 * like destruction: at real-time priority its wake-up for each event of a file-heavy job
 * (tar -x, rm -rf, cp -a) preempted that very job on its CPU, and a burst of events was read
 * one by one instead of in batches (measured on untar-rm of 3,000 files: half the job's and
 * our context switches, a fifth fewer of our system calls and CPU time at ordinary priority).
 * From the first evidence on, and until URGENT_NS after the last, SCHED_FIFO at the lowest
 * real-time priority: a wiper on the other core removes a file every few microseconds while
 * we wait for a CPU, and removals (no permission event) are only stopped as fast as we read
 * them. The kernel's real-time throttling (sched_rt_runtime_us) keeps 5% for everyone else.
 * Best effort: without CAP_SYS_NICE, a high nice value. */
static void set_urgent(dstate *d, bool on)
{
	struct sched_param sp = {.sched_priority = on ? 1 : 0};

	d->urgent = on;
	if (pthread_setschedparam(pthread_self(), on ? SCHED_FIFO : SCHED_OTHER, &sp) != 0 || !on)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), on ? -15 : 0);
}

/* Adds evidence to a process and its tree; answers if the threshold is crossed. */
static void add_evidence(dstate *d, drec *r, int ev, const char *path, size_t len, int pidfd)
{
	drec *chain[1 + MAXANC], *trig = NULL;
	size_t n;
	double pts = destruct_weight(ev);
	int64_t now = mono_ns();

	if (r->allowed || r->trusted || ev == DEV_NONE)
		return;
	d->urgent_ns = now;
	if (!d->urgent)
		set_urgent(d, true);
	n = chain_of(d, r, chain);
	for (size_t i = 0; i < n; i++) {
		if (chain[i]->trusted || chain[i]->allowed)
			return;
	}
	for (size_t i = 0; i < n; i++) {
		drec *c = chain[i];

		c->score = score_now(c, now);
		/* The same note-like name in yet another directory is also what tar -x, cp -a,
		 * git checkout and gunzip -r do with every README: it adds to a score that
		 * damage to files started, never makes one alone. */
		if (ev != DEV_NOTE || c->score >= 1.0)
			c->score += pts;
		c->ev[ev]++;
		add_file(c, path, len, ev, d->alt, d->alt_len);
		if (trig == NULL && crossed(c->score) && !c->responded)
			trig = c;
	}
	if (trig == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		if (chain[i]->responded)
			return; /* answered already; the open path keeps refusing */
	respond(d, r, trig, pidfd, NULL);
}

/* ---- samples ---- */

static inode_sample *inode_slot(dstate *d, dev_t dev, ino_t ino)
{
	uint64_t h =
	    ((uint64_t)dev * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)ino * 0xff51afd7ed558ccdULL);

	return &d->inodes[(h >> 17) % NINODE];
}

static void take_sample(dstate *d, int fd, const struct stat *st, destruct_sample *s)
{
	ssize_t n = 0;
	size_t want = st->st_size < DESTRUCT_SAMPLE ? (size_t)st->st_size : DESTRUCT_SAMPLE;

	if (want > 0)
		while ((n = pread(fd, d->sample, want, 0)) < 0 && errno == EINTR)
			;
	destruct_classify(d->sample, n > 0 ? (size_t)n : 0, (uint64_t)st->st_size, s);
}

static size_t fd_path(int fd, char *buf, size_t cap)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, buf, cap - 1)) <= 0)
		return 0;
	buf[n] = '\0';
	return (size_t)n;
}

/* ---- names made during the watch ---- */

static bool young_grow(dstate *d)
{
	size_t cap = d->young_cap ? d->young_cap * 2 : YOUNG_MIN;
	uint64_t *t, *old = d->young;

	if (cap > YOUNG_MAX) {
		/* Full: forget them all rather than grow without bound. A removal of one of
		 * them then counts as of an older file (said in vigil(1)). */
		memset(d->young, 0, d->young_cap * sizeof(*d->young));
		d->young_n = 0;
		return true;
	}
	if ((t = calloc(cap, sizeof(*t))) == NULL)
		return false;
	for (size_t i = 0; i < d->young_cap; i++)
		if (old[i]) {
			size_t j = old[i] & (cap - 1);

			while (t[j])
				j = (j + 1) & (cap - 1);
			t[j] = old[i];
		}
	free(old);
	d->young = t;
	d->young_cap = cap;
	return true;
}

static void young_add_h(dstate *d, uint64_t h);

static void young_add(dstate *d, const char *p, size_t n)
{
	young_add_h(d, hash_bytes(p, n));
}

static bool young_has_h(const dstate *d, uint64_t h)
{

	if (d->young_cap == 0)
		return false;
	for (size_t j = h & (d->young_cap - 1); d->young[j]; j = (j + 1) & (d->young_cap - 1))
		if (d->young[j] == h)
			return true;
	return false;
}

static bool young_has(const dstate *d, const char *p, size_t n)
{
	return young_has_h(d, hash_bytes(p, n));
}

/* The same table also remembers older files moved to a new name (a salted hash): moving
 * old files into a new directory first must not make their removal look harmless. */
#define OLD_SALT 0x5bd1e9955bd1e995ULL

static void young_add_h(dstate *d, uint64_t h)
{
	size_t j;

	if ((d->young_n + 1) * 2 > d->young_cap && !young_grow(d))
		return;
	for (j = h & (d->young_cap - 1); d->young[j]; j = (j + 1) & (d->young_cap - 1))
		if (d->young[j] == h)
			return;
	d->young[j] = h;
	d->young_n++;
}

/* ---- marks ---- */

static uint64_t handle_hash(int type, const uint8_t *fh, size_t len)
{
	uint64_t h = hash_bytes((const char *)fh, len);

	return (h ^ ((uint64_t)(unsigned)type * 0x9e3779b97f4a7c15ULL)) | 1;
}

/* Remembers which path a directory's file handle stands for: events name a directory by
 * handle, and resolving one with open_by_handle_at costs system calls per event. */
static void dir_remember(dstate *d, const char *path)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[MAX_HANDLE_SZ];
	} h;
	int mnt;
	uint64_t k;
	size_t j;

	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (d->dircap == 0 || name_to_handle_at(AT_FDCWD, path, &h.fh, &mnt, 0) != 0)
		return;
	k = handle_hash(h.fh.handle_type, h.fh.f_handle, h.fh.handle_bytes);
	for (j = k & (d->dircap - 1); d->dirh[j] && d->dirh[j] != k; j = (j + 1) & (d->dircap - 1))
		;
	if (d->dirh[j] == k) {
		free(d->dirp[j]); /* the same directory, under a new name */
	} else if (d->ndirs * 2 >= d->dircap) {
		return; /* full: resolved through open_by_handle_at */
	}
	d->dirh[j] = k;
	d->dirp[j] = strdup(path);
}

static const char *dir_lookup(const dstate *d, int type, const uint8_t *fh, size_t len)
{
	uint64_t k = handle_hash(type, fh, len);

	if (d->dircap == 0)
		return NULL;
	for (size_t j = k & (d->dircap - 1); d->dirh[j]; j = (j + 1) & (d->dircap - 1))
		if (d->dirh[j] == k)
			return d->dirp[j];
	return NULL;
}

static int mark_dir(dstate *d, const char *path)
{
	int rc = 0;

	pthread_mutex_lock(&d->mu);
	if (d->ndirs >= MAX_DIRS) {
		rc = VIGIL_E_LIMIT;
		goto out;
	}
	if (fanotify_mark(d->fd, FAN_MARK_ADD | FAN_MARK_ONLYDIR | FAN_MARK_DONT_FOLLOW,
			  FAN_OPEN_PERM | (d->closes.fd < 0 ? FAN_CLOSE_WRITE : 0) | FAN_ONDIR |
			      FAN_EVENT_ON_CHILD,
			  AT_FDCWD, path) != 0) {
		rc = VIGIL_E_SYSTEM;
		goto out;
	}
	if (d->closes.fd >= 0)
		(void)fanotify_mark(d->closes.fd,
				    FAN_MARK_ADD | FAN_MARK_ONLYDIR | FAN_MARK_DONT_FOLLOW,
				    FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD, AT_FDCWD, path);
	if (d->creates.fd >= 0)
		(void)fanotify_mark(d->creates.fd,
				    FAN_MARK_ADD | FAN_MARK_ONLYDIR | FAN_MARK_DONT_FOLLOW,
				    FAN_CREATE | FAN_ONDIR | FAN_EVENT_ON_CHILD, AT_FDCWD, path);
	if (d->nfd >= 0)
		(void)fanotify_mark(d->nfd, FAN_MARK_ADD | FAN_MARK_ONLYDIR | FAN_MARK_DONT_FOLLOW,
				    d->nmask, AT_FDCWD, path);
	dir_remember(d, path);
	d->ndirs++;
out:
	pthread_mutex_unlock(&d->mu);
	return rc;
}

/* Marks root and the directories below it: first the whole list (iteratively: a hostile
 * tree's depth costs heap, never stack), then the marks. Our directory opens raise
 * permission events on our own group where a parent is marked already (FAN_ONDIR), so this
 * runs either before the thread starts (attach: nothing is marked yet) or on a walker
 * thread, whose opens the group's thread answers at once (they are vigil's own). */
static int mark_tree(dstate *d, const char *root)
{
	char **todo = NULL, **found = NULL;
	size_t nt = 0, ct = 64, nf = 0, cf = 64;
	int rc = 0;

	if ((todo = malloc(sizeof(*todo) * ct)) == NULL ||
	    (found = malloc(sizeof(*found) * cf)) == NULL || (todo[0] = strdup(root)) == NULL) {
		free(todo);
		free(found);
		return VIGIL_E_NOMEM;
	}
	nt = 1;
	while (nt > 0 && nf < MAX_DIRS) {
		char *dir = todo[--nt];
		DIR *dp;
		struct dirent *de;

		if (nf == cf) {
			char **g = realloc(found, sizeof(*found) * cf * 2);

			if (g == NULL) {
				free(dir);
				rc = VIGIL_E_NOMEM;
				break;
			}
			found = g;
			cf *= 2;
		}
		found[nf++] = dir;
		if ((dp = opendir(dir)) == NULL)
			continue;
		while ((de = readdir(dp)) != NULL) {
			struct stat st;
			char *sub;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (de->d_type != DT_DIR &&
			    (de->d_type != DT_UNKNOWN ||
			     fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
			     !S_ISDIR(st.st_mode)))
				continue;
			if (nt == ct) {
				char **g = realloc(todo, sizeof(*todo) * ct * 2);

				if (g == NULL)
					continue;
				todo = g;
				ct *= 2;
			}
			if (asprintf(&sub, "%s/%s", dir, de->d_name) >= 0)
				todo[nt++] = sub;
		}
		closedir(dp);
	}
	for (size_t i = 0; i < nf; i++) {
		int r = mark_dir(d, found[i]);

		if (r != 0 && rc == 0)
			rc = r;
		free(found[i]);
	}
	while (nt > 0)
		free(todo[--nt]);
	free(todo);
	free(found);
	return rc;
}

struct walk_job {
	dstate *d;
	char *path;
};

static void *walker_main(void *arg)
{
	struct walk_job *j = arg;

	(void)mark_tree(j->d, j->path);
	atomic_fetch_sub(&j->d->walkers, 1);
	free(j->path);
	free(j);
	return NULL;
}

/* A directory made or moved into a protected one: marked at once; what lies below it (a
 * tree moved in, or mkdir -p outrunning us) is walked on a short-lived thread, since its
 * opens wait on this one. st_nlink counts subdirectories (2 + n) on most file systems:
 * 2 means nothing to walk. */
static void grow_tree(dstate *d, const char *path)
{
	struct stat st;
	struct walk_job *j;
	pthread_t t;
	pthread_attr_t at;

	if (mark_dir(d, path) != 0 || lstat(path, &st) != 0 || st.st_nlink == 2 ||
	    atomic_load(&d->closing))
		return;
	if ((j = malloc(sizeof(*j))) == NULL || (j->path = strdup(path)) == NULL) {
		free(j);
		return;
	}
	j->d = d;
	atomic_fetch_add(&d->walkers, 1);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, walker_main, j) != 0) {
		atomic_fetch_sub(&d->walkers, 1);
		free(j->path);
		free(j);
	}
	pthread_attr_destroy(&at);
}

/* ---- the permission group ---- */

static void notif_read(dstate *d);
static void close_read(dstate *d);

/* At detach: the walker allows what is still queued and closes its fds. */
static void ignore_event(void *user, fan_event *ev)
{
	(void)user;
	(void)ev;
}

/* The file opened was removed by this process moments ago and is being made again (git
 * checkout, some editors, package unpacking): that removal destroyed nothing. */
static void refund(dstate *d, drec *r, int fd)
{
	char path[PATH_MAX];
	size_t len;
	uint64_t h;
	int64_t now = mono_ns();
	drec *chain[1 + MAXANC];
	size_t n;

	if (r->ndeleted == 0)
		return;
	if ((len = fd_path(fd, path, sizeof(path))) == 0)
		return;
	h = hash_bytes(path, len);
	for (unsigned i = 0; i < NDELETED && i < r->ndeleted; i++) {
		if (r->deleted[i].h != h || now - r->deleted[i].ns > REFUND_NS ||
		    r->deleted[i].pts <= 0)
			continue;
		n = chain_of(d, r, chain);
		for (size_t j = 0; j < n; j++) {
			drec *c = chain[j];

			c->score = score_now(c, now) - r->deleted[i].pts;
			if (c->score < 0)
				c->score = 0;
			if (c->ev[DEV_DELETED])
				c->ev[DEV_DELETED]--;
			if (c->nfiles)
				c->nfiles--;
		}
		r->deleted[i].pts = 0;
		return;
	}
}

/* A pidfd of the opener, for the rare verdict that names it. The permission group reports
 * none: making and closing one per open cost a system call and a file per verdict. While its
 * open waits for our answer the opener cannot exit, so its pid is its own. */
static int opener_pidfd(const fan_event *md)
{
	return (int)syscall(SYS_pidfd_open, md->pid, 0);
}

static uint32_t on_open(dstate *d, const fan_event *md, bool may_drain)
{
	struct stat st;
	inode_sample *is;
	drec *r, *chain[1 + MAXANC], *trig = NULL;
	size_t n;
	int64_t mt, now;
	int pidfd = -1;
	uint32_t verdict;

	if (md->pid == d->self || fstat(md->fd, &st) != 0)
		return FAN_ALLOW;
	/* What was written before this open is judged first: the offender's last file, and
	 * this very file's after sample (so the before sample below is current). */
	close_read(d);
	/* A directory opened (to list it, or to unlink by its fd): no content to sample, but a
	 * checkpoint all the same — a wiper walking a tree opens every directory on its way,
	 * and one that only removes files gives us no other point to stop it before it goes
	 * on (unlink raises no permission event). */
	if (S_ISDIR(st.st_mode)) {
		if (may_drain)
			notif_read(d);
		if ((r = rec_get(d, md->pid)) == NULL || r->allowed || r->trusted)
			return FAN_ALLOW;
		goto verdict;
	}
	if (!S_ISREG(st.st_mode))
		return FAN_ALLOW;
	/* The before sample. O_TRUNC applies only after this check (do_open: vfs_open,
	 * then handle_truncate), so the content is still intact here. */
	is = inode_slot(d, st.st_dev, st.st_ino);
	mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (is->dev != st.st_dev || is->ino != st.st_ino || is->mtime_ns != mt ||
	    is->s.size != (uint64_t)st.st_size) {
		is->dev = st.st_dev;
		is->ino = st.st_ino;
		is->mtime_ns = mt;
		take_sample(d, md->fd, &st, &is->s);
	}
	if ((r = rec_get(d, md->pid)) == NULL || r->allowed || r->trusted)
		return FAN_ALLOW;
	/* Everything the process did before this open is in the name group's queue now (an
	 * unlink or rename is queued before the call returns): score it first. */
	if (may_drain)
		notif_read(d);
	if (st.st_size == 0)
		refund(d, r, md->fd);
verdict:
	n = chain_of(d, r, chain);
	for (size_t i = 0; i < n; i++)
		if (chain[i]->trusted || chain[i]->allowed)
			return FAN_ALLOW;
	for (size_t i = 0; i < n; i++)
		if (chain[i]->responded)
			goto answered;
	now = mono_ns();
	for (size_t i = 0; i < n && trig == NULL; i++)
		if (crossed(score_now(chain[i], now)))
			trig = chain[i];
	if (trig == NULL)
		return FAN_ALLOW;
	pidfd = opener_pidfd(md);
	respond(d, r, trig, pidfd, NULL);
	verdict = d->respond == VIGIL_RESPOND_ALERT ? FAN_ALLOW : FAN_DENY;
	goto out;
answered:
	/* Not denied: released just now (trusted), or alert mode (said once already). */
	pidfd = opener_pidfd(md);
	verdict = answered_again(d, chain, n, pidfd) ? FAN_DENY : FAN_ALLOW;
out:
	if (pidfd >= 0)
		close(pidfd);
	return verdict;
}

/* Was the file just emptied copied first, under a longer name (logrotate's copytruncate:
 * log -> log.1), by the same process tree? Then nothing was lost. */
static bool copied_before(drec **chain, size_t n, const char *path, size_t len, int64_t now,
			  bool any_class)
{
	for (size_t i = 0; i < n; i++)
		for (unsigned j = 0; j < NWRITTEN; j++) {
			const wfile *wf = &chain[i]->written[j];

			if (wf->path == NULL || now - wf->ns > STEM_NS)
				continue;
			if (destruct_stem(path, len, wf->path, wf->len) != STEM_NONE &&
			    (any_class || wf->cls != DCLASS_HIGH))
				return true;
		}
	return false;
}

static void remember_written(drec *r, const char *path, size_t len, int cls)
{
	wfile *wf = &r->written[r->nwritten++ % NWRITTEN];

	free(wf->path);
	if ((wf->path = strndup(path, len)) == NULL)
		return;
	wf->len = len;
	wf->cls = (uint8_t)cls;
	wf->ns = mono_ns();
}

static void on_close_write(dstate *d, const fan_event *md, int pidfd)
{
	struct stat st;
	inode_sample *is;
	destruct_sample after;
	drec *r, *chain[1 + MAXANC];
	char path[PATH_MAX];
	size_t len, n;
	int ev;
	bool had_before;

	if (md->pid == d->self || fstat(md->fd, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	take_sample(d, md->fd, &st, &after);
	is = inode_slot(d, st.st_dev, st.st_ino);
	had_before = is->dev == st.st_dev && is->ino == st.st_ino;
	ev = had_before ? destruct_judge_write(&is->s, &after) : DEV_NONE;
	is->dev = st.st_dev;
	is->ino = st.st_ino;
	is->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	is->s = after;
	if ((r = rec_get(d, md->pid)) == NULL || r->allowed || r->trusted)
		return;
	if ((len = fd_path(md->fd, path, sizeof(path))) == 0)
		return;
	if (ev == DEV_NONE) {
		/* A new (or rewritten-alike) file: kept to recognise an encrypted copy whose
		 * original is removed next, or gzip's compressed one. */
		n = chain_of(d, r, chain);
		/* Into the ancestors' lists too: logrotate has a gzip child write the copy,
		 * then removes the original itself. */
		for (size_t i = 0; i < n; i++)
			remember_written(chain[i], path, len, after.cls);
		return;
	}
	n = chain_of(d, r, chain);
	if (ev == DEV_TRUNCATED && copied_before(chain, n, path, len, mono_ns(), false))
		return;
	add_evidence(d, r, ev, path, len, pidfd);
}

/* Reads one of our fd-bearing groups into buf: the permission group (every open answered
 * here) or the close group. busy guards against re-entry (an open drains the close group
 * first; each group has its own buffer). */
struct group_ctx {
	dstate *d;
	bool may_drain;
};

static void on_group_event(void *user, fan_event *ev)
{
	const struct group_ctx *c = user;
	int pidfd = ev->pidfd >= 0 ? ev->pidfd : -1; /* FAN_NOPIDFD etc.: by pid alone */

	if (ev->fd < 0)
		return;
	/* Answered here with on_open's verdict; the walker allows any left unanswered. */
	if (ev->mask & FAN_OPEN_PERM)
		fan_event_answer(ev, on_open(c->d, ev, c->may_drain));
	else if (ev->mask & FAN_CLOSE_WRITE)
		on_close_write(c->d, ev, pidfd);
}

static void group_read(dstate *d, int fd, uint8_t *buf, bool *busy, bool may_drain)
{
	struct group_ctx c = {.d = d, .may_drain = may_drain};

	if (fd < 0 || *busy)
		return;
	*busy = true;
	(void)fan_events_read(fd, buf, PERM_BUF, 16, on_group_event, &c, NULL);
	*busy = false;
}

static void perm_read(dstate *d, bool may_drain)
{
	group_read(d, d->fd, d->buf, &d->in_perm, may_drain);
}

/* The close-writes: judged before any open or name event that follows them (each drains
 * this group first), and otherwise read in batches, so a tree being written (tar -x,
 * cp -a) wakes us once per batch rather than once per file. */
static void close_read(dstate *d)
{
	if (d->closes.fd < 0)
		return;
	d->closes.last_ns = mono_ns();
	group_read(d, d->closes.fd, d->closes.buf, &d->closes.busy, false);
}

/* ---- the name group: creations, removals, renames ---- */

static void note_check(dstate *d, drec *r, const char *path, size_t len, int pidfd)
{
	size_t bl = len, dl;
	uint64_t h, dh;

	while (bl > 0 && path[bl - 1] != '/')
		bl--;
	dl = bl;
	if (!destruct_is_note_name(path + bl, len - bl))
		return;
	h = hash_bytes(path + bl, len - bl);
	dh = hash_bytes(path, dl);
	for (unsigned i = 0; i < NNOTES && i < r->nnotes; i++)
		if (r->notes[i].h == h) {
			if (r->notes[i].dirh != dh) {
				r->notes[i].dirh = dh;
				/* The same note in a second, third... directory. */
				if (++r->notes[i].ndirs >= 2)
					add_evidence(d, r, DEV_NOTE, path, len, pidfd);
			}
			return;
		}
	r->notes[r->nnotes % NNOTES].h = h;
	r->notes[r->nnotes % NNOTES].dirh = dh;
	r->notes[r->nnotes % NNOTES].ndirs = 1;
	r->nnotes++;
}

static void on_delete(dstate *d, const vigil_watch_event *ev)
{
	drec *r, *chain[1 + MAXANC];
	size_t n;
	int kind = DEV_DELETED;
	int64_t now = mono_ns();

	/* Made during the watch (untar then rm -rf, a build's temporaries), or in a directory
	 * made during the watch: nothing old lost. */
	if (!young_has_h(d, hash_bytes(ev->path, ev->path_len) ^ OLD_SALT))
		for (size_t l = ev->path_len; l > 1; l--)
			if ((l == ev->path_len || ev->path[l] == '/') && young_has(d, ev->path, l))
				return;
	if ((r = rec_get(d, ev->pid)) == NULL || r->allowed || r->trusted)
		return;
	n = chain_of(d, r, chain);
	for (size_t i = 0; i < n; i++)
		for (unsigned j = 0; j < NWRITTEN; j++) {
			const wfile *wf = &chain[i]->written[j];
			int rel;

			if (wf->path == NULL || now - wf->ns > STEM_NS)
				continue;
			rel = destruct_stem(ev->path, ev->path_len, wf->path, wf->len);
			if (rel == STEM_NONE)
				continue;
			/* name -> name.gz / name.7z kept readable: a conversion (gzip). name.gz ->
			 * name: decompressed (gunzip). name -> name.enc of random bytes: an
			 * encrypted copy, the original gone. */
			if (rel == STEM_LONGER && wf->cls == DCLASS_HIGH) {
				kind = DEV_ENCRYPTED_COPY;
				goto score;
			}
			return;
		}
score:
	r->deleted[r->ndeleted % NDELETED].h = hash_bytes(ev->path, ev->path_len);
	r->deleted[r->ndeleted % NDELETED].ns = now;
	r->deleted[r->ndeleted % NDELETED].pts = kind == DEV_DELETED ? destruct_weight(kind) : 0;
	r->ndeleted++;
	add_evidence(d, r, kind, ev->path, ev->path_len, ev->pidfd);
}

static void name_event(dstate *d, const vigil_watch_event *ev)
{
	uint32_t m = ev->mask;
	bool p1, p2;

	if (ev->path == NULL)
		return;
	p1 = vigil_watch_is_protected(d->w, ev->path, ev->path_len);
	p2 = ev->path2 && vigil_watch_is_protected(d->w, ev->path2, ev->path2_len);
	if (!p1 && !p2)
		return;
	if (m & VIGIL_WEV_ISDIR) {
		/* A directory made or moved in: protected from now on, with what it holds. */
		if (ev->path2 && p2 && (m & VIGIL_WEV_MOVED_TO))
			grow_tree(d, ev->path2);
		else if (!ev->path2 && p1 && (m & (VIGIL_WEV_CREATE | VIGIL_WEV_MOVED_TO))) {
			/* Everything below a directory made during the watch is new too, even
			 * what was made there before our mark landed (tar -x, git clone). A tree
			 * moved in holds older files: not young. */
			if (m & VIGIL_WEV_CREATE)
				young_add(d, ev->path, ev->path_len);
			grow_tree(d, ev->path);
		}
		return;
	}
	/* Close-writes queued before this event are judged first, so a removal meets the
	 * copy written just before it. */
	if (d->closes.fd >= 0)
		close_read(d);
	else
		perm_read(d, false);
	if (ev->pid <= 0 || ev->pid == d->self)
		return;
	if (ev->path2) { /* a rename */
		bool young = young_has(d, ev->path, ev->path_len);

		if (p2 && young)
			young_add(d, ev->path2, ev->path2_len);
		else if (p2)
			young_add_h(d, hash_bytes(ev->path2, ev->path2_len) ^ OLD_SALT);
		if (p1 && !young) {
			int k =
			    destruct_judge_rename(ev->path, ev->path_len, ev->path2, ev->path2_len);
			drec *r;

			if (k != DEV_NONE && (r = rec_get(d, ev->pid)) != NULL) {
				/* Its close may be read before or after the rename: either name
				 * is the same file. */
				d->alt = ev->path2;
				d->alt_len = ev->path2_len;
				add_evidence(d, r, k, ev->path, ev->path_len, ev->pidfd);
				d->alt = NULL;
			}
		}
		return;
	}
	if (m & (VIGIL_WEV_CREATE | VIGIL_WEV_MOVED_TO)) {
		drec *r;

		young_add(d, ev->path, ev->path_len);
		if ((r = rec_get(d, ev->pid)) != NULL && !r->allowed)
			note_check(d, r, ev->path, ev->path_len, ev->pidfd);
		return;
	}
	if (m & (VIGIL_WEV_DELETE | VIGIL_WEV_MOVED_FROM))
		on_delete(d, ev);
}

struct fidname {
	const char *dir;
	const char *name;
	size_t nlen;
};

/* One DFID_NAME record: the directory (by handle, resolved) and the name in it. */
static bool parse_fidname(dstate *d, const fan_fid *f, struct fidname *out, char *tmp, size_t cap)
{
	const char *dir;

	out->name = f->name;
	out->nlen = f->name_len;
	pthread_mutex_lock(&d->mu);
	if ((dir = dir_lookup(d, f->handle_type, f->handle, f->handle_bytes)) != NULL) {
		/* Copied out: a walker may replace the entry once we let go of the lock. */
		snprintf(tmp, cap, "%s", dir);
		dir = tmp;
	}
	pthread_mutex_unlock(&d->mu);
	if (dir == NULL) {
		struct {
			struct file_handle fh;
			unsigned char bytes[MAX_HANDLE_SZ];
		} h;
		int dfd;
		size_t n;

		h.fh.handle_bytes = f->handle_bytes;
		h.fh.handle_type = f->handle_type;
		memcpy(h.fh.f_handle, f->handle, f->handle_bytes);
		/* Any fd on the same file system serves as the mount fd: a protected root's,
		 * opened only now (held open, it would keep a removed root alive and delay
		 * the watcher's report of its removal). O_PATH: no open event on any group,
		 * ours included. */
		dfd = -1;
		for (size_t i = 0; i < vigil_watch_get_options(d->w)->npaths && dfd < 0; i++) {
			int mfd = open(vigil_watch_get_options(d->w)->paths[i], O_PATH | O_CLOEXEC);

			if (mfd < 0)
				continue;
			dfd = open_by_handle_at(mfd, &h.fh, O_PATH | O_CLOEXEC);
			close(mfd);
		}
		if (dfd < 0)
			return false;
		n = fd_path(dfd, tmp, cap);
		close(dfd);
		if (n == 0)
			return false;
		dir = tmp;
	}
	out->dir = dir;
	return true;
}

static size_t join(char *buf, size_t cap, const struct fidname *f)
{
	size_t dl = strlen(f->dir);

	if (f->nlen == 0 || (f->nlen == 1 && f->name[0] == '.')) {
		if (dl >= cap)
			return 0;
		memcpy(buf, f->dir, dl + 1);
		return dl;
	}
	if (dl + 1 + f->nlen >= cap)
		return 0;
	memcpy(buf, f->dir, dl);
	buf[dl] = '/';
	memcpy(buf + dl + 1, f->name, f->nlen);
	buf[dl + 1 + f->nlen] = '\0';
	return dl + 1 + f->nlen;
}

/* Reads the name group: everything that happened to names in the protected directories,
 * in order. Called before every verdict, so it must be cheap when there is nothing. */
static void on_name_event(void *user, fan_event *fe)
{
	dstate *d = user;
	struct fidname one, from, to;
	vigil_watch_event ev = {.pidfd = -1, .pid = fe->pid};

	if (fe->mask & FAN_ONDIR)
		ev.mask |= VIGIL_WEV_ISDIR;
	if ((fe->mask & FAN_RENAME) && fe->old_dfid && fe->new_dfid &&
	    parse_fidname(d, fe->old_dfid, &from, d->nt1, sizeof(d->nt1)) &&
	    parse_fidname(d, fe->new_dfid, &to, d->nt2, sizeof(d->nt2))) {
		ev.mask |= VIGIL_WEV_MOVED_FROM | VIGIL_WEV_MOVED_TO;
		if ((ev.path_len = join(d->np1, sizeof(d->np1), &from)) == 0 ||
		    (ev.path2_len = join(d->np2, sizeof(d->np2), &to)) == 0)
			return;
		ev.path = d->np1;
		ev.path2 = d->np2;
	} else if (fe->dfid && parse_fidname(d, fe->dfid, &one, d->nt1, sizeof(d->nt1))) {
		if (fe->mask & FAN_CREATE)
			ev.mask |= VIGIL_WEV_CREATE;
		if (fe->mask & FAN_DELETE)
			ev.mask |= VIGIL_WEV_DELETE;
		if (fe->mask & FAN_MOVED_FROM)
			ev.mask |= VIGIL_WEV_MOVED_FROM;
		if (fe->mask & FAN_MOVED_TO)
			ev.mask |= VIGIL_WEV_MOVED_TO;
		if ((ev.path_len = join(d->np1, sizeof(d->np1), &one)) == 0)
			return;
		ev.path = d->np1;
	} else {
		return;
	}
	name_event(d, &ev);
}

/* Reads the name group: everything that happened to names in the protected directories,
 * in order. Called before every verdict, so it must be cheap when there is nothing. */
static void names_read(dstate *d, int fd, uint8_t *buf)
{
	if (fd >= 0)
		(void)fan_events_read(fd, buf, PERM_BUF, 16, on_name_event, d, NULL);
}

/* The name groups: creations first, so that a removal meets the creation before it (a
 * file made during the watch is not scored when removed). */
static void notif_read(dstate *d)
{
	if (d->in_notif)
		return;
	d->in_notif = true;
	if (d->creates.fd >= 0) {
		d->creates.last_ns = mono_ns();
		names_read(d, d->creates.fd, d->creates.buf);
	}
	names_read(d, d->nfd, d->nbuf);
	d->in_notif = false;
}

/* Our own thread, not the watcher's loop: a protected open waits for our verdict, and the
 * loop may be busy for milliseconds with the main group's whole-file-system backlog (or
 * shutting down, or flushing outputs). Here both groups are read the moment they have
 * something, and every permission event is answered until detach. All of dstate is this
 * thread's alone; vigil_watch_emit is thread-safe. */
static void *thread_main(void *arg)
{
	dstate *d = arg;
	struct epoll_event evs[4];

	/* Named, so an operator (top -H, ps -L) and the tests can tell it apart. */
	(void)pthread_setname_np(pthread_self(), "vigil-destruct");

	lazy_group *lazy[2] = {&d->closes, &d->creates};

	for (;;) {
		int timeout = -1, n;
		bool stop = false;

		for (int k = 0; k < 2; k++)
			if (lazy[k]->deadline_ns != 0) {
				int64_t left = lazy[k]->deadline_ns - mono_ns();
				int ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);

				if (timeout < 0 || ms < timeout)
					timeout = ms;
			}
		n = epoll_wait(d->epfd, evs, 4, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break; /* cannot happen with valid fds; detach still answers what is left */
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 0)
				stop = true;
			else if (evs[i].data.u32 == 1)
				perm_read(d, true);
			else if (evs[i].data.u32 == 2)
				notif_read(d);
			else { /* a lazy group: due a batch after its last read */
				lazy_group *g = lazy[evs[i].data.u32 - 3];

				g->deadline_ns = g->last_ns + LAZY_BATCH_NS;
			}
		}
		if (stop)
			break;
		if (d->urgent && mono_ns() - d->urgent_ns > URGENT_NS)
			set_urgent(d, false);
		/* A lazy group's wake-up is one-shot: read it when due, then re-arm. */
		for (int k = 0; k < 2; k++)
			if (lazy[k]->deadline_ns != 0 && mono_ns() >= lazy[k]->deadline_ns) {
				struct epoll_event e = {.events = EPOLLIN | EPOLLONESHOT,
							.data.u32 = (uint32_t)(3 + k)};

				if (k == 0)
					close_read(d);
				else
					notif_read(d);
				lazy[k]->deadline_ns = 0;
				(void)epoll_ctl(d->epfd, EPOLL_CTL_MOD, lazy[k]->fd, &e);
			}
	}
	return NULL;
}

/* ---- attach / detach ---- */

static void find_selves(dstate *d)
{
	int pid = getpid();

	d->self = pid;
	d->self_pgid = getpgrp();
	while (pid > 0 && d->nselfs < NSELF) {
		struct pstat ps;

		if (!read_stat(pid, &ps))
			break;
		d->selfs[d->nselfs] = pid;
		d->self_pgids[d->nselfs++] = ps.pgid;
		if (pid == 1)
			break;
		pid = ps.ppid;
	}
}

static void free_state(dstate *d)
{
	if (d == NULL)
		return;
	/* Walkers first, while the thread still answers their opens. */
	atomic_store(&d->closing, true);
	while (atomic_load(&d->walkers) > 0)
		usleep(1000);
	if (d->thread_started) {
		uint64_t one = 1;

		(void)!write(d->stopfd, &one, sizeof(one));
		pthread_join(d->thread, NULL);
	}
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->stopfd >= 0)
		close(d->stopfd);
	if (d->fd >= 0) {
		/* Answer what is still queued, then close: the kernel allows anything left
		 * when the group goes away, but say it ourselves first. */
		(void)fan_events_read(d->fd, d->buf, PERM_BUF, 64, ignore_event, NULL, NULL);
		close(d->fd);
	}
	if (d->nfd >= 0)
		close(d->nfd);
	if (d->closes.fd >= 0)
		close(d->closes.fd);
	if (d->creates.fd >= 0)
		close(d->creates.fd);
	free(d->closes.buf);
	free(d->creates.buf);
	for (size_t i = 0; i < d->dircap; i++)
		free(d->dirp[i]);
	free(d->dirh);
	free(d->dirp);
	free(d->nbuf);
	for (size_t i = 0; i < NREC; i++)
		rec_clear(&d->recs[i]);
	free(d->young);
	free(d->buf);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

static int attach(vigil_watch *w, void **state, char *status, size_t cap)
{
	const vigil_watch_options *o = vigil_watch_get_options(w);
	dstate *d = NULL;
	const char *env;
	size_t nroots = 0, failed = 0;
	int rc;

	*state = NULL;
	if (o->npaths == 0) {
		snprintf(status, cap, "off: no protected paths");
		return 0;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL || (d->buf = malloc(PERM_BUF)) == NULL) {
		free(d);
		snprintf(status, cap, "off: out of memory");
		return VIGIL_E_NOMEM;
	}
	d->fd = d->closes.fd = d->creates.fd = d->nfd = d->epfd = d->stopfd = -1;
	pthread_mutex_init(&d->mu, NULL);
	d->w = w;
	d->respond = o->respond == VIGIL_RESPOND_DEFAULT ? VIGIL_RESPOND_ALERT : (int)o->respond;
	d->allow = o->allow;
	d->nallow = o->nallow;
	/* Where vigil release leaves its word (RUNDIR/released/PID). The environment can move
	 * it, for tests and for systems without /run. */
	env = getenv("VIGIL_RUNTIME_DIR");
	snprintf(d->rundir, sizeof(d->rundir), "%s", env && *env ? env : "/run/vigil");
	find_selves(d);
	if (!young_grow(d)) {
		rc = VIGIL_E_NOMEM;
		snprintf(status, cap, "off: out of memory");
		goto out;
	}
	/* Unlimited queue: a permission event never overflows (an overflowed one would be
	 * lost, and its opener left waiting). Unlimited marks: one per directory. */
	d->fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE |
				  FAN_UNLIMITED_MARKS,
			      O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
	if (d->fd < 0) {
		rc = VIGIL_E_SYSTEM;
		snprintf(status, cap, "off: fanotify permission group: %s", strerror(errno));
		goto out;
	}
	/* The close group; without it, close-writes come in the permission group. Its events
	 * come after the fact, when the writer may be gone: a pidfd names that very process
	 * (FAN_REPORT_PIDFD, Linux 5.15; before, by pid alone). */
	if ((d->closes.buf = malloc(PERM_BUF)) != NULL) {
		d->closes.fd =
		    fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
				      FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS | FAN_REPORT_PIDFD,
				  O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
		if (d->closes.fd < 0 && errno == EINVAL)
			d->closes.fd =
			    fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
					      FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS,
					  O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
	}
	/* o->paths: the canonical protected roots (PATH arguments and protect), as the
	 * watcher resolved them. */
	/* The name group: only the protected directories' events, so a verdict never waits
	 * behind the rest of the file system's activity (the main group marks whole file
	 * systems, and on a busy host holds thousands of unrelated events). */
	d->nmask = FAN_CREATE | FAN_DELETE | 0x10000000 /* FAN_RENAME, Linux 5.17 */ | FAN_ONDIR |
		   FAN_EVENT_ON_CHILD;
	if ((d->nbuf = malloc(PERM_BUF)) == NULL ||
	    (d->dirh = calloc(2 * MAX_DIRS, sizeof(*d->dirh))) == NULL ||
	    (d->dirp = calloc(2 * MAX_DIRS, sizeof(*d->dirp))) == NULL) {
		rc = VIGIL_E_NOMEM;
		snprintf(status, cap, "off: out of memory");
		goto out;
	}
	d->dircap = 2 * MAX_DIRS;
	/* Creations in a lazy group of their own: a tree being unpacked does not wake us for
	 * each name (removals and renames, which a wiper makes, still do). */
	if ((d->creates.buf = malloc(PERM_BUF)) != NULL)
		d->creates.fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
						  FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS |
						  FAN_REPORT_DFID_NAME,
					      O_RDONLY | O_CLOEXEC);
	if (d->creates.fd >= 0)
		d->nmask &= ~(uint64_t)FAN_CREATE;
	d->nfd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE |
				   FAN_UNLIMITED_MARKS | FAN_REPORT_DFID_NAME,
			       O_RDONLY | O_CLOEXEC);
	if (d->nfd >= 0 && o->npaths > 0 &&
	    fanotify_mark(d->nfd, FAN_MARK_ADD | FAN_MARK_ONLYDIR, d->nmask, AT_FDCWD,
			  o->paths[0]) != 0 &&
	    errno == EINVAL)
		d->nmask = (d->nmask & ~(uint64_t)0x10000000) | FAN_MOVED_FROM | FAN_MOVED_TO;
	{
		struct epoll_event e1 = {.events = EPOLLIN, .data.u32 = 1};
		struct epoll_event e2 = {.events = EPOLLIN, .data.u32 = 2};
		struct epoll_event e0 = {.events = EPOLLIN, .data.u32 = 0};
		struct epoll_event e3 = {.events = EPOLLIN | EPOLLONESHOT, .data.u32 = 3};
		struct epoll_event e4 = {.events = EPOLLIN | EPOLLONESHOT, .data.u32 = 4};

		if ((d->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    (d->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
		    epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->stopfd, &e0) != 0 ||
		    epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->fd, &e1) != 0) {
			rc = VIGIL_E_SYSTEM;
			snprintf(status, cap, "off: epoll: %s", strerror(errno));
			goto out;
		}
		/* Without the name group, removals and renames go unseen, but overwrites are
		 * still judged. */
		if (d->nfd >= 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->nfd, &e2) != 0) {
			close(d->nfd);
			d->nfd = -1;
		}
		if (d->closes.fd >= 0 &&
		    epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->closes.fd, &e3) != 0) {
			close(d->closes.fd);
			d->closes.fd = -1;
		}
		if (d->creates.fd >= 0 &&
		    epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->creates.fd, &e4) != 0) {
			close(d->creates.fd);
			d->creates.fd = -1;
			d->nmask |= FAN_CREATE; /* before any mark: the name group has them */
		}
		if (d->nfd < 0)
			failed++;
		if ((errno = pthread_create(&d->thread, NULL, thread_main, d)) != 0) {
			rc = VIGIL_E_SYSTEM;
			snprintf(status, cap, "off: thread: %s", strerror(errno));
			goto out;
		}
		d->thread_started = true;
	}
	/* The thread runs before the first mark: where roots nest, walking the inner one
	 * opens directories already marked, and those opens wait for an answer. */
	for (size_t i = 0; i < o->npaths; i++) {
		char *abs = strdup(o->paths[i]);
		struct stat st;

		if (abs == NULL || stat(abs, &st) != 0) {
			free(abs);
			failed++;
			continue;
		}
		if (S_ISDIR(st.st_mode))
			rc = mark_tree(d, abs);
		else
			rc = fanotify_mark(d->fd, FAN_MARK_ADD | FAN_MARK_DONT_FOLLOW,
					   FAN_OPEN_PERM | (d->closes.fd < 0 ? FAN_CLOSE_WRITE : 0),
					   AT_FDCWD, abs) == 0 &&
				     (d->closes.fd < 0 ||
				      fanotify_mark(d->closes.fd,
						    FAN_MARK_ADD | FAN_MARK_DONT_FOLLOW,
						    FAN_CLOSE_WRITE, AT_FDCWD, abs) == 0)
				 ? 0
				 : VIGIL_E_SYSTEM;
		free(abs);
		if (rc != 0)
			failed++;
		else
			nroots++;
	}
	if (nroots == 0) {
		rc = VIGIL_E_SYSTEM;
		snprintf(status, cap, "off: could not mark the protected paths");
		goto out;
	}
	snprintf(status, cap,
		 "on: %zu protected paths (%zu directories), respond %s, %s allowlist%s", nroots,
		 d->ndirs,
		 d->respond == VIGIL_RESPOND_STOP   ? "stop"
		 : d->respond == VIGIL_RESPOND_KILL ? "kill"
						    : "alert",
		 d->allow ? "configured" : "built-in",
		 failed ? " (some paths could not be marked)" : "");
	*state = d;
	d = NULL; /* transferred */
	rc = 0;
out:
	free_state(d);
	return rc;
}

static void detach(void *state)
{
	free_state(state);
}

const defense_ops defense_destruction = {"destruction", attach, detach};
