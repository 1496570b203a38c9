/* SPDX-License-Identifier: Apache-2.0 */
/* The exfiltration-staging defense of `vigil watch`: archives and compressed streams written
 * in watched paths or staging directories (/tmp, /var/tmp, /dev/shm) are scanned for sensitive
 * data, and a process that opens many of the inventory's secret-holding files is named. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "defense.h"
#include "exfil_int.h"
#include "fan_event.h"
#include "json.h"
#include "vigil/inventory.h"
#include "vigil/scan.h"

/*
 * How written files are seen. A notification group of our own with FAN_CLOSE_WRITE on the
 * file systems holding the staging directories and the protected paths, without
 * FAN_REPORT_FID: each event then carries an open fd of the very file, so it is sniffed and
 * scanned even when it is renamed or removed a moment after it was written (the usual
 * "zip, upload, rm"), and tmpfs (/dev/shm), which the main group rarely covers, works the
 * same. Events outside those directories are dropped after a readlink of the fd. The
 * baseline's roots are not known here: for them the main group's hook hands over the path
 * of each watched CLOSE_WRITE, opened by path in the worker. The group is read in batches
 * (WRITTEN_BATCH_NS): on a busy file system it would otherwise wake us for every file.
 *
 * Opens of the inventory's files (files known to hold secrets) are permission events in
 * a second group (FAN_OPEN_PERM on their inodes, always allowed, answered at once): the
 * opener waits the moment it takes to name it, so a `cat` that lives a millisecond is
 * still alive, with its parent, when it is read. Few processes open those files, so the
 * wait costs next to nothing.
 *
 * Nothing is opened by path on the loop or reader thread: a permission mark (ours or
 * another defense's) would make such an open wait for a verdict that thread has to give.
 */
#define QUEUE_CAP       128              /* files waiting for the scanner */
#define MEM_SCAN_MAX    (64ull << 20)    /* read into memory up to this, else by path */
#define SCAN_MAX        (1ull << 30)     /* larger archives are not scanned (noted) */
#define READS_THRESHOLD 10               /* distinct inventory files ... */
#define READS_WINDOW_US (60ll * 1000000) /* ... opened within this time */
#define MAX_INV_MARKS   2048             /* inode marks for the inventory's files */
#define EVBUF           (64u * 1024u)
#define READ_ROUNDS     16 /* reads per wake-up; poll calls again */
/* Written files are read at most this often: one wake-up per batch, not per file, while
 * a tree is being written (an archive is scanned SETTLE_NS after its close anyway). */
#define WRITTEN_BATCH_NS (20ll * 1000000)
#define RECENT           64               /* files scanned lately, not scanned again */
#define NOTE_GAP_US      (60ll * 1000000) /* "not scanned" notes: at most one a minute */
#define MAX_LISTED       16               /* files named in a secret-reads alert */
/* A written file is scanned this long after its close: archivers write a temporary name
 * and rename it at once (zip's "ziXXXXXX"), and the alert should carry the final name. */
#define SETTLE_NS (200ll * 1000000)
#define SCAN_NICE 10 /* the scanner thread's least nice value */

typedef struct job {
	int fd;     /* the written file (owned); -1: open path in the worker */
	char *path; /* as the kernel named it when the event was read */
	size_t path_len;
	vigil_proc *proc;
	int64_t time_us;
	int64_t due_ns; /* CLOCK_MONOTONIC: not scanned before (see SETTLE_NS) */
} job;

typedef struct inv_file {
	uint64_t dev, ino;
	char *path;
	uint64_t counts[VIGIL_CAT_COUNT];
} inv_file;

typedef struct recent {
	uint64_t dev, ino, size;
	int64_t mtime_ns;
} recent;

typedef struct exfil {
	vigil_watch *w;
	int self;
	int fan;     /* written files: FAN_CLOSE_WRITE, read in batches */
	int pfan;    /* the inventory's files: FAN_OPEN_PERM; -1: FAN_OPEN in fan */
	char **dirs; /* canonical directories whose file system carries our mark */
	size_t ndirs;
	vigil_scanner *scanner;
	uint8_t *evbuf;
	/* The worker and its queue. */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job q[QUEUE_CAP];
	size_t qhead, qlen;
	bool quit;
	atomic_uint_fast64_t dropped; /* files the scanner's queue could not take */
	uint64_t busy_unnoted;        /* archives among them since the last note (loop) */
	atomic_int_fast64_t last_note_us;
	recent recent[RECENT]; /* worker only */
	size_t nrecent;
	/* The reader of our group: its own thread, because every file closed after writing
	 * on the marked file systems (all of /tmp's) comes through it, and a storm of them
	 * must not hold up the watcher's loop. */
	pthread_t reader;
	bool reader_started;
	int stopfd;
	/* The inventory: sorted by (dev, ino). Reader thread only. */
	inv_file *inv;
	size_t ninv;
	exfil_reads reads;
} exfil;

/* ---- pure parts ---- */

vigil_container exfil_sniff(const uint8_t *p, size_t n)
{
	vigil_container k = vigil_archive_sniff(p, n);

	return k == VIGIL_CONT_AR || k == VIGIL_CONT_ISO ? VIGIL_CONT_NONE : k;
}

bool exfil_path_under(const char *dir, const char *path, size_t len)
{
	size_t dl = strlen(dir);

	if (dl > len || memcmp(dir, path, dl) != 0)
		return false;
	return len == dl || path[dl] == '/' || (dl == 1 && dir[0] == '/');
}

size_t exfil_strip_deleted(const char *path, size_t len, bool *deleted)
{
	static const char suffix[] = " (deleted)";
	const size_t sl = sizeof(suffix) - 1;

	*deleted = len > sl && memcmp(path + len - sl, suffix, sl) == 0;
	return *deleted ? len - sl : len;
}

void exfil_reads_init(exfil_reads *r, unsigned threshold, int64_t window_us)
{
	memset(r, 0, sizeof(*r));
	r->threshold = threshold < 1                 ? 1
		       : threshold > EXFIL_READS_MAX ? EXFIL_READS_MAX
						     : threshold;
	r->window_us = window_us;
}

static exfil_tracker *tracker(exfil_reads *r, int pid, bool tree, int64_t now_us)
{
	exfil_tracker *lru = &r->slot[0];

	for (size_t i = 0; i < EXFIL_READS_SLOTS; i++) {
		exfil_tracker *t = &r->slot[i];

		if (t->pid == pid && t->tree == tree)
			return t;
		if (t->pid == 0 ? lru->pid != 0 || t < lru
				: lru->pid != 0 && t->last_us < lru->last_us)
			lru = t;
	}
	/* A free slot, else the one idle longest: a process gone quiet loses its count. */
	memset(lru, 0, sizeof(*lru));
	lru->pid = pid;
	lru->tree = tree;
	lru->last_us = now_us;
	return lru;
}

/* Adds file to t's distinct files of the window; true if t reaches the threshold. */
static bool tracker_add(const exfil_reads *r, exfil_tracker *t, uint32_t file, int64_t now_us)
{
	unsigned k = 0;
	bool seen = false;

	t->last_us = now_us;
	for (unsigned i = 0; i < t->n; i++) {
		if (now_us - t->at_us[i] > r->window_us)
			continue; /* fell out of the window */
		if (t->file[i] == file) {
			t->at_us[i] = now_us;
			seen = true;
		}
		t->file[k] = t->file[i];
		t->at_us[k++] = t->at_us[i];
	}
	t->n = k;
	if (!seen && t->n < EXFIL_READS_MAX) {
		t->file[t->n] = file;
		t->at_us[t->n++] = now_us;
	}
	return t->n >= r->threshold && now_us >= t->quiet_until_us;
}

exfil_tracker *exfil_reads_note(exfil_reads *r, int pid, int ppid, uint32_t file, int64_t now_us)
{
	exfil_tracker *own, *tree = NULL;

	if (pid <= 0)
		return NULL;
	own = tracker(r, pid, false, now_us);
	if (tracker_add(r, own, file, now_us)) {
		/* The parent's tree counted the same opens: one alert for one burst. */
		if (ppid > 1)
			exfil_reads_fired(r, tracker(r, ppid, true, now_us), now_us);
		return own;
	}
	if (ppid > 1) {
		tree = tracker(r, ppid, true, now_us);
		if (tracker_add(r, tree, file, now_us))
			return tree;
	}
	return NULL;
}

void exfil_reads_fired(exfil_reads *r, exfil_tracker *t, int64_t now_us)
{
	t->quiet_until_us = now_us + r->window_us;
	t->n = 0;
}

/* ---- alerts ---- */

static const char *proc_name(const vigil_proc *p)
{
	return p && p->comm[0] ? p->comm : "an unknown process";
}

static void write_categories(FILE *f, const uint64_t counts[VIGIL_CAT_COUNT])
{
	bool first = true;

	fputs(",\"categories\":{", f);
	for (int c = 0; c < VIGIL_CAT_COUNT; c++) {
		if (counts[c] == 0)
			continue;
		fprintf(f, "%s\"%s\":%llu", first ? "" : ",",
			vigil_category_name((vigil_category)c), (unsigned long long)counts[c]);
		first = false;
	}
	fputc('}', f);
}

/* A sentence naming the categories: "3 payment_card, 1 private_key". */
static void describe_counts(char *out, size_t cap, const uint64_t counts[VIGIL_CAT_COUNT])
{
	size_t n = 0;

	out[0] = '\0';
	for (int c = 0; c < VIGIL_CAT_COUNT && n < cap; c++) {
		if (counts[c] == 0 || c == VIGIL_CAT_ENCRYPTED_ARCHIVE)
			continue;
		n += (size_t)snprintf(out + n, cap - n, "%s%llu %s", n ? ", " : "",
				      (unsigned long long)counts[c],
				      vigil_category_name((vigil_category)c));
	}
}

typedef struct archive_info {
	const char *path; /* the archive, as the kernel names it now */
	size_t path_len;
	bool deleted; /* removed from its directory by the time it was scanned */
	const char *format;
	uint64_t size;
	uint64_t counts[VIGIL_CAT_COUNT];
	bool incomplete;     /* a limit or corruption stopped part of the scan */
	const char *skipped; /* not scanned: why */
} archive_info;

static void write_archive_extra(FILE *f, void *user)
{
	const archive_info *a = user;

	/* "path" here rather than through the alert's change members: there is no
	 * "change" to name. */
	fputc(',', f);
	vigil_alert_write_path(f, "path", a->path, a->path_len);
	if (a->deleted)
		fputs(",\"deleted\":true", f);
	fputs(",\"trigger\":\"archive\",\"archive_format\":", f);
	vigil_json_string(f, a->format, strlen(a->format));
	fprintf(f, ",\"size\":%llu", (unsigned long long)a->size);
	if (a->skipped) {
		fputs(",\"not_scanned\":", f);
		vigil_json_string(f, a->skipped, strlen(a->skipped));
		return;
	}
	write_categories(f, a->counts);
	fprintf(f, ",\"encrypted\":%s", a->counts[VIGIL_CAT_ENCRYPTED_ARCHIVE] ? "true" : "false");
	if (a->incomplete)
		fputs(",\"incomplete\":true", f);
}

static void emit_archive(exfil *x, const job *j, archive_info *a)
{
	char what[256], reason[768];
	bool keys = a->counts[VIGIL_CAT_PRIVATE_KEY] > 0;
	vigil_alert al = {
	    .time_us = j->time_us,
	    .kind = "exfil_staging",
	    .has_process = true,
	    .proc = j->proc,
	    .extra = write_archive_extra,
	    .extra_user = (void *)a,
	};
	int pid = j->proc ? j->proc->pid : 0;

	a->path = j->path;
	a->path_len = j->path_len;
	describe_counts(what, sizeof(what), a->counts);
	if (a->skipped) {
		/* Still "alerted": the not_scanned member says what was left undone. */
		al.severity = VIGIL_SEV_NOTICE;
		snprintf(reason, sizeof(reason),
			 "An archive (%s) written by %s (pid %d) was not scanned for sensitive "
			 "data: %s.",
			 a->format, proc_name(j->proc), pid, a->skipped);
	} else if (what[0]) {
		/* Private keys in a fresh archive are tools for the next intrusion. */
		al.severity = keys ? VIGIL_SEV_CRITICAL : VIGIL_SEV_WARNING;
		snprintf(
		    reason, sizeof(reason),
		    "A %s%s archive written by %s (pid %d) holds sensitive data (%s): it may be "
		    "staged for exfiltration.",
		    a->counts[VIGIL_CAT_ENCRYPTED_ARCHIVE] ? "partly password-protected " : "",
		    a->format, proc_name(j->proc), pid, what);
	} else {
		al.severity = VIGIL_SEV_WARNING;
		snprintf(reason, sizeof(reason),
			 "A password-protected %s archive written by %s (pid %d) cannot be checked "
			 "for sensitive data: it may be staged for exfiltration.",
			 a->format, proc_name(j->proc), pid);
	}
	al.reason = reason;
	(void)vigil_watch_emit(x->w, &al);
}

/* ---- the worker: sniff (path jobs), read, scan, alert ---- */

typedef struct scan_ctx {
	uint64_t counts[VIGIL_CAT_COUNT];
	bool incomplete;
} scan_ctx;

static int on_finding(void *user, const vigil_finding *f)
{
	scan_ctx *c = user;

	if ((unsigned)f->category < VIGIL_CAT_COUNT)
		c->counts[f->category]++;
	return 0;
}

static void on_warning(void *user, const char *path, const char *member, const char *msg)
{
	scan_ctx *c = user;

	(void)path;
	(void)member;
	(void)msg;
	c->incomplete = true;
}

/* The same content written again (an archive updated in place, two closes of one write)
 * is not scanned and alerted twice. */
static bool seen_lately(exfil *x, const struct stat *st)
{
	recent r = {(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
		    (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec};

	for (size_t i = 0; i < x->nrecent && i < RECENT; i++)
		if (memcmp(&x->recent[i], &r, sizeof(r)) == 0)
			return true;
	x->recent[x->nrecent++ % RECENT] = r;
	return false;
}

static bool note_due(exfil *x)
{
	int64_t now = vigil_alert_now_us(), last = atomic_load(&x->last_note_us);

	return now - last >= NOTE_GAP_US &&
	       atomic_compare_exchange_strong(&x->last_note_us, &last, now);
}

/* Archivers write a temporary name and rename it (zip's "ziXXXXXX"): the name the fd
 * has now is the one to report. */
static void refresh_path(job *j, bool *deleted)
{
	char link[64], path[PATH_MAX];
	ssize_t len;
	char *p;

	*deleted = false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", j->fd);
	if ((len = readlink(link, path, sizeof(path) - 1)) <= 0)
		return;
	len = (ssize_t)exfil_strip_deleted(path, (size_t)len, deleted);
	if (*deleted || (p = strndup(path, (size_t)len)) == NULL)
		return; /* the last name it had is the useful one */
	free(j->path);
	j->path = p;
	j->path_len = (size_t)len;
}

static void scan_job(exfil *x, job *j)
{
	uint8_t head[EXFIL_SNIFF_BYTES];
	struct stat st;
	archive_info a = {0};
	scan_ctx c = {0};
	vigil_scan_callbacks cb = {on_finding, on_warning, NULL, &c};
	vigil_container kind;
	uint8_t *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd = j->fd;

	if (fd < 0) {
		/* Never open a device node or FIFO that a path job names (opening some has
		 * effects); the fstat below catches a swap after this. */
		if (lstat(j->path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
			return;
		/* O_NOATIME needs ownership or CAP_FOWNER; without it, plain. */
		fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 && errno == EPERM)
			fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return;
		j->fd = fd;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return;
	if ((n = pread(fd, head, sizeof(head), 0)) <= 0 ||
	    (kind = exfil_sniff(head, (size_t)n)) == VIGIL_CONT_NONE)
		return;
	if (seen_lately(x, &st))
		return;
	refresh_path(j, &a.deleted);
	a.format = vigil_container_name(kind);
	a.size = (uint64_t)st.st_size;
	if ((uint64_t)st.st_size > SCAN_MAX) {
		a.skipped = "larger than 1 GiB";
		if (note_due(x))
			emit_archive(x, j, &a);
		return;
	}
	if ((uint64_t)st.st_size <= MEM_SCAN_MAX) {
		/* Read through the fd into memory: no SIGBUS when the file is truncated under a
		 * mapping, and the file may already be gone from its directory. */
		if ((buf = malloc((size_t)st.st_size)) == NULL)
			return;
		while (got < (size_t)st.st_size) {
			n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		(void)vigil_scanner_scan_buffer(x->scanner, j->path, buf, got, &cb, NULL);
		explicit_bzero(buf, got); /* it held whatever secrets the archive did */
		free(buf);
	} else {
		/* Too large to hold: scanned by path, if the path still names this file. */
		struct stat now;
		const char *paths[1] = {j->path};

		if (stat(j->path, &now) != 0 || now.st_dev != st.st_dev ||
		    now.st_ino != st.st_ino) {
			a.skipped = "it was renamed or removed before it could be scanned";
			if (note_due(x))
				emit_archive(x, j, &a);
			return;
		}
		(void)vigil_scanner_scan_paths(x->scanner, paths, 1, &cb, NULL);
	}
	memcpy(a.counts, c.counts, sizeof(a.counts));
	a.incomplete = c.incomplete;
	for (int k = 0; k < VIGIL_CAT_COUNT; k++)
		if (a.counts[k]) {
			emit_archive(x, j, &a);
			break;
		}
}

static void job_free(job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	vigil_proc_unref(j->proc);
	memset(j, 0, sizeof(*j));
	j->fd = -1;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits until j is due, or the defense is stopping. */
static void settle(exfil *x, const job *j)
{
	struct timespec until;
	int64_t due = j->due_ns;

	until.tv_sec = (time_t)(due / 1000000000);
	until.tv_nsec = (long)(due % 1000000000);
	pthread_mutex_lock(&x->mu);
	while (!x->quit && mono_ns() < due)
		if (pthread_cond_timedwait(&x->cv, &x->mu, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&x->mu);
}

static void *worker_main(void *arg)
{
	exfil *x = arg;

	/* Scanning is deferrable work: when the machine is busy (often with the very writes
	 * that queued these archives), it yields to that work, and to the comparisons, rather
	 * than slow them down. The queue is bounded, and what it cannot take is reported as
	 * not scanned. */
	int nice = vigil_watch_get_options(x->w)->nice + 5;

	(void)setpriority(PRIO_PROCESS, (id_t)gettid(),
			  nice < SCAN_NICE ? SCAN_NICE
			  : nice > 19      ? 19
					   : nice);
	(void)pthread_setname_np(pthread_self(), "vigil-exfil"); /* top -H, perf */
	for (;;) {
		job j;

		pthread_mutex_lock(&x->mu);
		while (x->qlen == 0 && !x->quit)
			pthread_cond_wait(&x->cv, &x->mu);
		if (x->quit) {
			pthread_mutex_unlock(&x->mu);
			break;
		}
		j = x->q[x->qhead];
		x->qhead = (x->qhead + 1) % QUEUE_CAP;
		x->qlen--;
		pthread_mutex_unlock(&x->mu);
		settle(x, &j);
		scan_job(x, &j);
		job_free(&j);
	}
	return NULL;
}

/* Takes j (fd, path, proc) whatever happens. Loop thread. */
static void enqueue(exfil *x, job *j, bool sniffed)
{
	bool full;

	j->due_ns = mono_ns() + SETTLE_NS;
	pthread_mutex_lock(&x->mu);
	full = x->qlen == QUEUE_CAP;
	if (!full) {
		x->q[(x->qhead + x->qlen) % QUEUE_CAP] = *j;
		x->qlen++;
		pthread_cond_signal(&x->cv);
	}
	pthread_mutex_unlock(&x->mu);
	if (!full)
		return;
	atomic_fetch_add(&x->dropped, 1);
	/* Only a known archive is worth a note; a path job is unsniffed (most are not). Notes
	 * are rate-limited, so each says how many went unscanned since the last one. */
	if (sniffed)
		x->busy_unnoted++;
	if (sniffed && note_due(x)) {
		char why[128];
		archive_info a = {.format = "format not read", .skipped = why};
		struct stat st;

		if (x->busy_unnoted > 1)
			snprintf(why, sizeof(why),
				 "the scanner was too busy (it and %llu more archives since the "
				 "last such notice)",
				 (unsigned long long)x->busy_unnoted - 1);
		else
			snprintf(why, sizeof(why), "the scanner was too busy");
		x->busy_unnoted = 0;
		if (fstat(j->fd, &st) == 0)
			a.size = (uint64_t)st.st_size;
		emit_archive(x, j, &a);
	}
	job_free(j);
}

/* ---- the reader thread (our fanotify group) and the loop thread (the main hook) ---- */

static bool covered(const exfil *x, const char *path, size_t len)
{
	for (size_t i = 0; i < x->ndirs; i++)
		if (exfil_path_under(x->dirs[i], path, len))
			return true;
	return false;
}

static vigil_proc *read_proc(int pid, int pidfd)
{
	vigil_proc *p = NULL;

	/* FAN_NOPIDFD: the process had exited before the event was read; FAN_EPIDFD or no
	 * pidfd record: read by pid alone. */
	if (vigil_proc_read(pid, pidfd >= 0 ? pidfd : -1, pidfd == FAN_NOPIDFD, &p) != 0)
		return NULL;
	return p;
}

/* A file was closed after writing; fd is ours to take. Returns true if taken. */
static bool on_written(exfil *x, int fd, int pid, int pidfd)
{
	char link[64], path[PATH_MAX];
	uint8_t head[EXFIL_SNIFF_BYTES];
	struct stat st;
	ssize_t len, n;
	bool deleted;
	job j = {.fd = fd};

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((len = readlink(link, path, sizeof(path) - 1)) <= 0)
		return false;
	len = (ssize_t)exfil_strip_deleted(path, (size_t)len, &deleted);
	path[len] = '\0';
	if (!covered(x, path, (size_t)len))
		return false;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return false;
	/* The fd reads without notifying anyone (FMODE_NONOTIFY), and what was just written
	 * is in the page cache: cheap enough for the loop thread, and it keeps the queue for
	 * archives. */
	if ((n = pread(fd, head, sizeof(head), 0)) <= 0 ||
	    exfil_sniff(head, (size_t)n) == VIGIL_CONT_NONE)
		return false;
	j.time_us = vigil_alert_now_us();
	j.path_len = (size_t)len;
	if ((j.path = strndup(path, (size_t)len)) == NULL)
		return false;
	j.proc = read_proc(pid, pidfd);
	enqueue(x, &j, true);
	return true;
}

static int cmp_inv(const void *a, const void *b)
{
	const inv_file *p = a, *q = b;

	if (p->dev != q->dev)
		return p->dev < q->dev ? -1 : 1;
	return p->ino < q->ino ? -1 : p->ino > q->ino;
}

typedef struct reads_info {
	const exfil *x;
	const exfil_tracker *t;
	const char *path; /* the file whose open crossed the threshold */
	uint64_t counts[VIGIL_CAT_COUNT];
} reads_info;

static void write_reads_extra(FILE *f, void *user)
{
	const reads_info *r = user;

	fputc(',', f);
	vigil_alert_write_path(f, "path", r->path, strlen(r->path));
	fprintf(f, ",\"trigger\":\"secret_reads\",\"files_read\":%u,\"window_s\":%lld", r->t->n,
		(long long)(READS_WINDOW_US / 1000000));
	if (r->t->tree)
		fprintf(f, ",\"parent_pid\":%d", r->t->pid);
	write_categories(f, r->counts);
	fputs(",\"files\":[", f);
	for (unsigned i = 0; i < r->t->n && i < MAX_LISTED; i++) {
		const char *p = r->x->inv[r->t->file[i]].path;

		if (i)
			fputc(',', f);
		vigil_json_string(f, p, strlen(p));
	}
	fputc(']', f);
}

/* An inventory file may have been opened. */
static void on_opened(exfil *x, int fd, int pid, int pidfd)
{
	struct stat st;
	inv_file key, *hit;
	exfil_tracker *t;
	vigil_proc *p;
	int64_t now = vigil_alert_now_us();
	char reason[512];

	if (x->ninv == 0 || fstat(fd, &st) != 0)
		return;
	key.dev = (uint64_t)st.st_dev;
	key.ino = (uint64_t)st.st_ino;
	if ((hit = bsearch(&key, x->inv, x->ninv, sizeof(*x->inv), cmp_inv)) == NULL)
		return;
	p = read_proc(pid, pidfd);
	t = exfil_reads_note(&x->reads, pid, p ? p->ppid : -1, (uint32_t)(hit - x->inv), now);
	if (t != NULL) {
		reads_info ri = {.x = x, .t = t, .path = hit->path};
		vigil_alert al = {
		    .time_us = now,
		    .kind = "exfil_staging",
		    .severity = VIGIL_SEV_WARNING,
		    .has_process = true,
		    .proc = p,
		    .reason = reason,
		    .extra = write_reads_extra,
		    .extra_user = &ri,
		};

		for (unsigned i = 0; i < t->n; i++)
			for (int c = 0; c < VIGIL_CAT_COUNT; c++)
				ri.counts[c] += x->inv[t->file[i]].counts[c];
		if (t->tree)
			snprintf(reason, sizeof(reason),
				 "Children of process %d opened %u files known to hold secrets "
				 "within %lld s, the last %s (pid %d): data may be gathered for "
				 "exfiltration.",
				 t->pid, t->n, (long long)(READS_WINDOW_US / 1000000), proc_name(p),
				 pid);
		else
			snprintf(reason, sizeof(reason),
				 "%s (pid %d) opened %u files known to hold secrets within %lld s: "
				 "data may be gathered for exfiltration.",
				 proc_name(p), pid, t->n, (long long)(READS_WINDOW_US / 1000000));
		(void)vigil_watch_emit(x->w, &al);
		exfil_reads_fired(&x->reads, t, now);
	}
	vigil_proc_unref(p);
}

/* Opens are always allowed, by the walker once this returns: the opener waits meanwhile,
 * so it is still there to be named. */
static void on_fan_event(void *user, fan_event *ev)
{
	exfil *x = user;

	if (ev->fd < 0 || ev->pid == x->self)
		return;
	if (ev->mask & (FAN_OPEN_PERM | FAN_OPEN))
		on_opened(x, ev->fd, ev->pid, ev->pidfd);
	if ((ev->mask & FAN_CLOSE_WRITE) && on_written(x, ev->fd, ev->pid, ev->pidfd))
		ev->fd = -1; /* the job has it */
}

static void *reader_main(void *arg)
{
	exfil *x = arg;
	int64_t next_written = 0; /* the written files' group is not polled before then */
	/* The thread waits at the daemon's own priority, so that the inventory's permission
	 * events are answered at once, and sniffs written files at the deferrable work's
	 * (vigil_watch_options.nice). Raising it back takes CAP_SYS_NICE, which the daemon
	 * has as root; without, the answers are merely as nice. */
	int own = getpriority(PRIO_PROCESS, (id_t)gettid()),
	    nice = vigil_watch_get_options(x->w)->nice;

	(void)pthread_setname_np(pthread_self(), "vigil-exfil-rd"); /* top -H, perf */

	for (;;) {
		int64_t now = mono_ns();
		bool batching = now < next_written;
		/* poll(2) ignores a negative fd: the written files wait for their batch. */
		struct pollfd p[3] = {{.fd = x->stopfd, .events = POLLIN},
				      {.fd = x->pfan, .events = POLLIN},
				      {.fd = batching ? -1 : x->fan, .events = POLLIN}};
		int timeout = batching ? (int)((next_written - now + 999999) / 1000000) : -1;

		if (poll(p, 3, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents)
			(void)fan_events_read(x->pfan, x->evbuf, EVBUF, READ_ROUNDS, on_fan_event,
					      x, NULL);
		if (p[2].revents) {
			if (nice > own)
				(void)setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
			(void)fan_events_read(x->fan, x->evbuf, EVBUF, READ_ROUNDS, on_fan_event, x,
					      NULL);
			if (nice > own)
				(void)setpriority(PRIO_PROCESS, (id_t)gettid(), own);
			next_written = mono_ns() + WRITTEN_BATCH_NS;
		}
	}
	return NULL;
}

/* Watched paths our group does not cover (the baseline's roots): by path, sniffed in the
 * worker. */
static void on_hook(void *user, vigil_watch *w, const vigil_watch_event *ev)
{
	exfil *x = user;
	job j = {.fd = -1};

	if (!(ev->mask & VIGIL_WEV_CLOSE_WRITE) || (ev->mask & VIGIL_WEV_ISDIR) || !ev->watched ||
	    ev->path == NULL || ev->pid == x->self || covered(x, ev->path, ev->path_len))
		return;
	if ((j.path = strndup(ev->path, ev->path_len)) == NULL)
		return;
	j.path_len = ev->path_len;
	j.time_us = ev->time_us;
	j.proc = vigil_watch_process(w, ev);
	enqueue(x, &j, false);
}

/* ---- set-up ---- */

static int push_dir(exfil *x, const char *dir)
{
	char **n = realloc(x->dirs, (x->ndirs + 1) * sizeof(*n));

	if (n == NULL)
		return VIGIL_E_NOMEM;
	x->dirs = n;
	if ((x->dirs[x->ndirs] = strdup(dir)) == NULL)
		return VIGIL_E_NOMEM;
	x->ndirs++;
	return 0;
}

/* Marks the file system holding dir (a mount mark where a file-system mark is refused,
 * e.g. a btrfs subvolume). Returns 0 or an errno value. */
static int mark_fs(exfil *x, const char *dir)
{
	if (fanotify_mark(x->fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, AT_FDCWD,
			  dir) == 0)
		return 0;
	if (errno != EXDEV && errno != EINVAL)
		return errno;
	if (fanotify_mark(x->fan, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, AT_FDCWD, dir) ==
	    0)
		return 0;
	return errno;
}

typedef struct inv_load {
	exfil *x;
	size_t stale, over, failed;
	int err;
} inv_load;

static int load_one(void *user, const vigil_inventory_file *f)
{
	inv_load *l = user;
	exfil *x = l->x;
	struct stat st;
	inv_file *n;

	/* A file replaced since it was recorded may hold nothing now. */
	if (stat(f->path, &st) != 0 || (uint64_t)st.st_dev != f->dev ||
	    (uint64_t)st.st_ino != f->ino || !S_ISREG(st.st_mode)) {
		l->stale++;
		return 0;
	}
	if (x->ninv == MAX_INV_MARKS) {
		l->over++;
		return 0;
	}
	if (fanotify_mark(x->pfan >= 0 ? x->pfan : x->fan, FAN_MARK_ADD | FAN_MARK_DONT_FOLLOW,
			  x->pfan >= 0 ? FAN_OPEN_PERM : FAN_OPEN, AT_FDCWD, f->path) != 0) {
		l->failed++;
		return 0;
	}
	if ((n = realloc(x->inv, (x->ninv + 1) * sizeof(*n))) == NULL)
		return VIGIL_E_NOMEM;
	x->inv = n;
	n = &x->inv[x->ninv];
	n->dev = f->dev;
	n->ino = f->ino;
	memcpy(n->counts, f->counts, sizeof(n->counts));
	if ((n->path = strdup(f->path)) == NULL)
		return VIGIL_E_NOMEM;
	x->ninv++;
	return 0;
}

static void detach(void *state);

static int attach(vigil_watch *w, void **state, char *status, size_t cap)
{
	static const char *const default_dirs[] = {"/tmp", "/var/tmp", "/dev/shm"};
	const vigil_watch_options *o = vigil_watch_get_options(w);
	exfil *x = NULL;
	vigil_scan_options so;
	const char *db = o->inventory_db ? o->inventory_db : VIGIL_DEFAULT_INVENTORY_DB;
	char inv_status[400], err[256] = "", unmarked[256] = "";
	size_t nstaging = 0, um = 0;
	int r, e, hook;

	*state = NULL;
	if (o->exfil_staging == 0) {
		snprintf(status, cap, "off: exfil_staging = off");
		return 0;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL)
		goto nomem;
	x->w = w;
	x->self = (int)getpid();
	x->fan = x->pfan = -1;
	x->stopfd = -1;
	{
		/* The worker's timed waits are on the monotonic clock (mono_ns). */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_mutex_init(&x->mu, NULL);
		pthread_cond_init(&x->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	exfil_reads_init(&x->reads, READS_THRESHOLD, READS_WINDOW_US);
	if ((x->evbuf = aligned_alloc(8, EVBUF)) == NULL)
		goto nomem;
	x->fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_PIDFD,
			       O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
	if (x->fan < 0 && errno == EINVAL)
		x->fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
				       O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
	/* The inventory's opens: permission events, in a group of their own so that they are
	 * answered at once while written files wait for their batch. */
	x->pfan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_PIDFD,
				O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
	if (x->pfan < 0 && errno == EINVAL)
		x->pfan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK,
					O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME);
	if (x->fan < 0) {
		e = errno;
		snprintf(status, cap, "off: fanotify: %s", strerror(e));
		r = VIGIL_E_SYSTEM;
		goto fail;
	}

	/* The staging directories, then the protected paths. The watcher keeps its PATH
	 * arguments to itself (options.paths is NULL here): those reach us through the hook
	 * unless they lie in a staging directory or on a protect list. */
	{
		const char *const *dirs = o->exfil_dirs ? o->exfil_dirs : default_dirs;
		size_t ndirs = o->exfil_dirs ? o->nexfil_dirs : 3;
		size_t npaths = o->paths ? o->npaths : 0;
		size_t nprotect = o->protect ? o->nprotect : 0;
		size_t total = ndirs + npaths + nprotect;

		for (size_t i = 0; i < total; i++) {
			const char *d = i < ndirs            ? dirs[i]
					: i < ndirs + npaths ? o->paths[i - ndirs]
							     : o->protect[i - ndirs - npaths];
			char *c = realpath(d, NULL);

			if (c == NULL || (e = mark_fs(x, c)) != 0) {
				/* A missing staging dir (no /dev/shm) is normal; a path the
				 * watcher could not use either is said by it. */
				if (c != NULL && um < sizeof(unmarked))
					um += (size_t)snprintf(unmarked + um, sizeof(unmarked) - um,
							       " %s (%s)", d, strerror(e));
				free(c);
				continue;
			}
			r = push_dir(x, c);
			free(c);
			if (r != 0)
				goto nomem;
			if (i < ndirs)
				nstaging++;
		}
	}

	/* The daemon only counts findings: a fresh key per run is enough, and nothing is
	 * written (the "/dev/null" key cannot be read or created, so a random one is used). */
	vigil_scan_options_default(&so);
	so.jobs = 1;
	so.max_file_size = SCAN_MAX;
	so.fingerprint_key = "/dev/null";
	if ((r = vigil_scanner_new(&so, &x->scanner, err, sizeof(err))) != 0) {
		snprintf(status, cap, "off: cannot set up the scanner: %s",
			 err[0] ? err : vigil_strerror(r));
		goto fail;
	}

	/* The inventory (optional). */
	{
		vigil_inventory *inv = NULL;
		inv_load l = {.x = x};

		r = vigil_inventory_open(db, false, &inv, err, sizeof(err));
		if (r == VIGIL_E_NOT_FOUND) {
			snprintf(inv_status, sizeof(inv_status), "no inventory (%s missing)", db);
		} else if (r != 0) {
			snprintf(inv_status, sizeof(inv_status), "inventory unusable: %.200s", err);
		} else {
			r = vigil_inventory_foreach(inv, load_one, &l);
			if (r == VIGIL_E_NOMEM) {
				vigil_inventory_close(inv);
				goto nomem;
			}
			if (r != 0)
				snprintf(inv_status, sizeof(inv_status), "inventory unusable: %s",
					 vigil_inventory_error(inv));
			else {
				int k = snprintf(inv_status, sizeof(inv_status),
						 "inventory: %zu files (%u reads in %lld s)",
						 x->ninv, READS_THRESHOLD,
						 (long long)(READS_WINDOW_US / 1000000));
				if (l.stale + l.over + l.failed && k > 0 &&
				    (size_t)k < sizeof(inv_status))
					snprintf(inv_status + k, sizeof(inv_status) - (size_t)k,
						 ", %zu left out (%zu replaced, %zu over %d, %zu "
						 "unmarkable)",
						 l.stale + l.over + l.failed, l.stale, l.over,
						 MAX_INV_MARKS, l.failed);
			}
			vigil_inventory_close(inv);
			qsort(x->inv, x->ninv, sizeof(*x->inv), cmp_inv);
		}
	}

	if (pthread_create(&x->thread, NULL, worker_main, x) != 0) {
		snprintf(status, cap, "off: cannot start the scanner thread");
		r = VIGIL_E_SYSTEM;
		goto fail;
	}
	x->thread_started = true;
	if ((x->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    pthread_create(&x->reader, NULL, reader_main, x) != 0) {
		snprintf(status, cap, "off: cannot start the reader thread: %s", strerror(errno));
		r = VIGIL_E_SYSTEM;
		goto fail;
	}
	x->reader_started = true;
	/* Running: a missing hook only narrows what is covered (the baseline's roots) and
	 * is said in the status. */
	hook = vigil_watch_add_hook(w, on_hook, x);
	snprintf(status, cap, "on: archives in %zu staging dirs, %zu protected paths%s%s%s; %s",
		 nstaging, x->ndirs - nstaging, hook == 0 ? ", baseline roots" : "",
		 um ? ", unmarked:" : "", unmarked, inv_status);
	*state = x;
	return 0;
nomem:
	snprintf(status, cap, "off: out of memory");
	r = VIGIL_E_NOMEM;
fail:
	detach(x);
	return r;
}

static void detach(void *state)
{
	exfil *x = state;

	if (x == NULL)
		return;
	/* The worker first: an open it makes may wait for the reader's verdict. Then the
	 * reader, and the group is closed at once, which allows any open still waiting. */
	if (x->thread_started) {
		pthread_mutex_lock(&x->mu);
		x->quit = true;
		pthread_cond_signal(&x->cv);
		pthread_mutex_unlock(&x->mu);
		pthread_join(x->thread, NULL);
	}
	if (x->reader_started) {
		uint64_t one = 1;

		(void)!write(x->stopfd, &one, sizeof(one));
		pthread_join(x->reader, NULL);
	}
	if (x->stopfd >= 0)
		close(x->stopfd);
	if (x->pfan >= 0)
		close(x->pfan);
	if (x->fan >= 0)
		close(x->fan);
	x->fan = x->pfan = -1;
	while (x->qlen > 0) {
		job_free(&x->q[x->qhead]);
		x->qhead = (x->qhead + 1) % QUEUE_CAP;
		x->qlen--;
	}
	vigil_scanner_free(x->scanner);
	for (size_t i = 0; i < x->ndirs; i++)
		free(x->dirs[i]);
	free(x->dirs);
	for (size_t i = 0; i < x->ninv; i++)
		free(x->inv[i].path);
	free(x->inv);
	free(x->evbuf);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	free(x);
}

const defense_ops defense_exfil = {"exfil_staging", attach, detach};
