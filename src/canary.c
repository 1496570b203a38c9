/* SPDX-License-Identifier: Apache-2.0 */
/* The canary defense of `vigil watch`: every decoy in the registry gets a fanotify inode
 * mark for FAN_OPEN_PERM, so any open of one raises a critical alert naming the process,
 * read from /proc while the process waits in open(2); deleting or renaming a decoy is
 * alerted too. The registry is read again whenever it is committed to.
 *
 * The permission group is served by a thread of its own, not by the event loop: if any
 * part of vigil watch ever opened a decoy from the loop thread, the loop would wait in
 * open(2) for an answer only the loop could give. This thread opens no file but the
 * registry, and answers every event at once. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canary_int.h"
#include "defense.h"
#include "fan_event.h"
#include "json.h"

/* Opens of one decoy by one process within this time are one alert (an editor or a
 * spreadsheet opens a file several times). */
#define REPEAT_US (10 * 1000000ll)

typedef struct decoy {
	char *path; /* as registered */
	size_t len;
	uint64_t dev, ino;
	vigil_decoy_kind kind;
	int64_t planted_us;
	bool marked;  /* the inode mark is in place */
	bool gone;    /* deletion or rename already alerted */
	int last_pid; /* the last alert's process and time, to fold repeats */
	int64_t last_us;
} decoy;

typedef struct canary {
	vigil_watch *w;
	char *db, *db_base, *db_journal; /* the registry, its name and its journal's name */
	int fan;                         /* FAN_CLASS_CONTENT group with the inode marks */
	int ino;                         /* inotify on the registry's directory */
	int stop;                        /* eventfd: tells the thread to end */
	int self;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* v and n: the thread reloads, the loop's hook reads */
	decoy *v;
	size_t n;
	size_t unmarked;  /* registered decoys not marked at the last read, of which */
	size_t failed;    /* fanotify refused (e.g. a network file system): the rest are */
	int failed_errno; /* missing or replaced. Why it refused, for the status */
} canary;

/* ---- the registry ---- */

typedef struct loading {
	decoy *v;
	size_t n, cap;
} loading;

static int collect(void *user, const vigil_decoy *d)
{
	loading *l = user;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		decoy *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return VIGIL_E_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	decoy *e = &l->v[l->n];
	memset(e, 0, sizeof(*e));
	if ((e->path = strdup(d->path)) == NULL)
		return VIGIL_E_NOMEM;
	e->len = strlen(e->path);
	e->dev = d->dev;
	e->ino = d->ino;
	e->kind = d->kind;
	e->planted_us = d->planted_us;
	l->n++;
	return 0;
}

static void free_decoys(decoy *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

static bool same_file(const struct stat *st, const decoy *d)
{
	return S_ISREG(st->st_mode) && (uint64_t)st->st_dev == d->dev &&
	       (uint64_t)st->st_ino == d->ino;
}

/* Marks the decoy's inode, by path without following a final symlink; the inode is
 * checked before and after, so a file swapped in at that name is never marked in the
 * decoy's place. (fanotify_mark takes no O_PATH descriptor, and opening the decoy to
 * mark it by descriptor would be the very open this defense reports.) */
static bool mark(canary *c, const decoy *d)
{
	struct stat a, b;

	if (lstat(d->path, &a) != 0 || !same_file(&a, d))
		return false;
	if (fanotify_mark(c->fan, FAN_MARK_ADD | FAN_MARK_DONT_FOLLOW, FAN_OPEN_PERM, AT_FDCWD,
			  d->path) != 0) {
		c->failed++;
		c->failed_errno = errno;
		return false;
	}
	if (lstat(d->path, &b) != 0 || !same_file(&b, d)) {
		fanotify_mark(c->fan, FAN_MARK_REMOVE | FAN_MARK_DONT_FOLLOW, FAN_OPEN_PERM,
			      AT_FDCWD, d->path);
		return false;
	}
	return true;
}

static void unmark(canary *c, const decoy *d)
{
	struct stat st;

	/* A deleted decoy's mark went with its inode; one renamed away keeps its mark until
	 * the group closes (harmless: its opens find no registered decoy and pass). */
	if (d->marked && lstat(d->path, &st) == 0 && same_file(&st, d))
		fanotify_mark(c->fan, FAN_MARK_REMOVE | FAN_MARK_DONT_FOLLOW, FAN_OPEN_PERM,
			      AT_FDCWD, d->path);
}

static const decoy *find_old(const canary *c, const decoy *d)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].ino == d->ino && c->v[i].dev == d->dev &&
		    strcmp(c->v[i].path, d->path) == 0)
			return &c->v[i];
	return NULL;
}

/* Reads the registry and brings the marks in line with it: new decoys marked, removed
 * ones unmarked; the fold state of those kept survives. */
static int load(canary *c, char *err, size_t cap)
{
	loading l = {0};
	int rc = canary_registry_read(c->db, collect, &l, err, cap);

	if (rc != 0) {
		free_decoys(l.v, l.n);
		return rc;
	}
	c->unmarked = c->failed = 0;
	for (size_t i = 0; i < l.n; i++) {
		const decoy *old = find_old(c, &l.v[i]);

		if (old != NULL) {
			l.v[i].last_pid = old->last_pid;
			l.v[i].last_us = old->last_us;
			l.v[i].gone = old->gone;
		}
		l.v[i].marked = mark(c, &l.v[i]);
		if (!l.v[i].marked)
			c->unmarked++;
	}
	for (size_t i = 0; i < c->n; i++) {
		bool kept = false;
		for (size_t j = 0; j < l.n && !kept; j++)
			kept = l.v[j].ino == c->v[i].ino && l.v[j].dev == c->v[i].dev;
		if (!kept)
			unmark(c, &c->v[i]);
	}
	free_decoys(c->v, c->n);
	c->v = l.v;
	c->n = l.n;
	return 0;
}

/* ---- alerts ---- */

typedef struct extra_ctx {
	const decoy *d;
	const char *other; /* rename: the new name */
	size_t other_len;
} extra_ctx;

static void write_extra(FILE *f, void *user)
{
	const extra_ctx *x = user;
	char ts[32];

	vigil_alert_time(ts, x->d->planted_us);
	fputs(",\"decoy\":{\"kind\":", f);
	vigil_json_string(f, vigil_decoy_kind_name(x->d->kind),
			  strlen(vigil_decoy_kind_name(x->d->kind)));
	fputc(',', f);
	vigil_alert_write_path(f, "registered_path", x->d->path, x->d->len);
	fprintf(f, ",\"planted\":\"%s\"}", ts);
	if (x->other != NULL) {
		fputc(',', f);
		vigil_alert_write_path(f, "renamed_to", x->other, x->other_len);
	}
}

static void emit(canary *c, const decoy *d, const char *path, size_t len, const char *change,
		 const vigil_proc *p, int pid, const char *other, size_t other_len)
{
	char reason[768], who[64];
	const char *base = strrchr(d->path, '/') + 1;
	extra_ctx x = {d, other, other_len};

	if (p != NULL && p->comm[0])
		snprintf(who, sizeof(who), "%s (pid %d)", p->comm, pid);
	else if (pid > 0)
		snprintf(who, sizeof(who), "pid %d", pid);
	else
		snprintf(who, sizeof(who), "an unknown process");
	snprintf(reason, sizeof(reason),
		 "The decoy %s (a fake %s planted by vigil canary) was %s by %s: no legitimate "
		 "work touches a decoy, so someone may be searching this host for secrets.",
		 base, vigil_decoy_kind_name(d->kind), change, who);
	vigil_alert a = {.kind = "canary",
			 .severity = VIGIL_SEV_CRITICAL,
			 .path = path,
			 .path_len = len,
			 .change_name = change,
			 .has_process = true,
			 .proc = p,
			 .action = "alerted",
			 .reason = reason,
			 .extra = write_extra,
			 .extra_user = &x};
	vigil_watch_emit(c->w, &a);
}

static decoy *find_inode(canary *c, const struct stat *st)
{
	for (size_t i = 0; i < c->n; i++)
		if (same_file(st, &c->v[i]))
			return &c->v[i];
	return NULL;
}

/* One event of the permission group, answered at once: the opener waits for the answer
 * (fanotify(7), "Monitoring filesystems for permission"), and the walker allows what this
 * leaves unanswered. The process is read while it waits, so even a `cat` that exits right
 * after is named. */
static void on_perm_event(void *user, fan_event *ev)
{
	canary *c = user;
	vigil_proc *p = NULL;
	struct stat st;
	decoy *d = NULL;
	char cur[PATH_MAX];
	ssize_t cur_len = -1;
	int64_t now = vigil_alert_now_us();

	pthread_mutex_lock(&c->lock);
	if (ev->pid > 0 && ev->pid != c->self && ev->fd >= 0 && fstat(ev->fd, &st) == 0)
		d = find_inode(c, &st);
	/* Repeats by the same process are folded, and cost no /proc read. */
	if (d != NULL && d->last_pid == ev->pid && now - d->last_us < REPEAT_US)
		d = NULL;
	if (d != NULL) {
		char link[64];

		vigil_proc_read(ev->pid, -1, false, &p);
		snprintf(link, sizeof(link), "/proc/self/fd/%d", ev->fd);
		cur_len = readlink(link, cur, sizeof(cur));
	}
	fan_event_answer(ev, FAN_ALLOW);
	if (d != NULL) {
		d->last_pid = ev->pid;
		d->last_us = now;
		if (cur_len > 0 && (size_t)cur_len < sizeof(cur))
			emit(c, d, cur, (size_t)cur_len, "opened", p, ev->pid, NULL, 0);
		else
			emit(c, d, d->path, d->len, "opened", p, ev->pid, NULL, 0);
	}
	pthread_mutex_unlock(&c->lock);
	vigil_proc_unref(p);
}

static void on_perm(canary *c)
{
	/* fanotify(7): the buffer must be aligned for struct fanotify_event_metadata. */
	union {
		struct fanotify_event_metadata md;
		char b[8192];
	} buf;

	(void)fan_events_read(c->fan, buf.b, sizeof(buf.b), 64, on_perm_event, c, NULL);
}

/* The registry's directory changed: reload when the registry was committed to (its
 * rollback journal deleted) or written and closed, or replaced by a rename. */
static void on_registry(canary *c)
{
	union {
		struct inotify_event ev;
		char b[4096];
	} buf;
	bool reload = false;

	for (;;) {
		ssize_t n = read(c->ino, buf.b, sizeof(buf.b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *e = (const void *)(buf.b + off);
			if (e->len > 0 && (strcmp(e->name, c->db_base) == 0 ||
					   strcmp(e->name, c->db_journal) == 0))
				reload = true;
			if (e->mask & IN_Q_OVERFLOW)
				reload = true;
			off += (ssize_t)sizeof(*e) + e->len;
		}
	}
	if (reload) {
		char err[256];
		/* A registry caught mid-write or gone keeps the marks it had. */
		pthread_mutex_lock(&c->lock);
		load(c, err, sizeof(err));
		pthread_mutex_unlock(&c->lock);
	}
}

static void *serve(void *arg)
{
	canary *c = arg;
	struct pollfd p[3] = {{.fd = c->stop, .events = POLLIN},
			      {.fd = c->fan, .events = POLLIN},
			      {.fd = c->ino, .events = POLLIN}}; /* -1: ignored by poll */

	(void)pthread_setname_np(pthread_self(), "vigil-canary"); /* top -H, perf */
	for (;;) {
		if (poll(p, 3, -1) < 0) {
			/* Never leave the group unserved: openers of decoys would hang. */
			if (errno != EINTR)
				usleep(1000);
			continue;
		}
		if (p[0].revents)
			break;
		if (p[1].revents)
			on_perm(c);
		if (p[2].revents)
			on_registry(c);
	}
	return NULL;
}

/* A decoy deleted or renamed is alerted too: an intruder cleaning up, or a tool sweeping
 * files away. Its own removal (`vigil canary remove`) unregisters it first. */
static void on_event(void *user, vigil_watch *w, const vigil_watch_event *ev)
{
	canary *c = user;
	char *path = NULL;

	if (!(ev->mask & (VIGIL_WEV_DELETE | VIGIL_WEV_MOVED_FROM)) || ev->path == NULL ||
	    (ev->mask & VIGIL_WEV_ISDIR))
		return;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n && path == NULL; i++) {
		const decoy *d = &c->v[i];
		if (!d->gone && d->len == ev->path_len && memcmp(d->path, ev->path, d->len) == 0)
			path = strdup(d->path);
	}
	pthread_mutex_unlock(&c->lock);
	if (path == NULL)
		return;
	/* Unregistered first by its owner (vigil canary remove): not an intrusion. Read
	 * outside the lock, so the permission thread never waits on SQLite for us. */
	bool registered = canary_registry_has(c->db, path);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++) {
		decoy *d = &c->v[i];
		if (d->gone || strcmp(d->path, path) != 0)
			continue;
		d->gone = true;
		if (!registered)
			break;
		vigil_proc *p = vigil_watch_process(w, ev);
		if (ev->mask & VIGIL_WEV_MOVED_FROM)
			emit(c, d, d->path, d->len, "renamed", p, ev->pid, ev->path2,
			     ev->path2_len);
		else
			emit(c, d, d->path, d->len, "deleted", p, ev->pid, NULL, 0);
		vigil_proc_unref(p);
		break;
	}
	pthread_mutex_unlock(&c->lock);
	free(path);
}

/* ---- attach / detach ---- */

static void detach(void *state)
{
	canary *c = state;

	if (c == NULL)
		return;
	if (c->started) {
		uint64_t one = 1;
		if (write(c->stop, &one, sizeof(one)) == sizeof(one))
			pthread_join(c->thread, NULL);
		else
			pthread_cancel(c->thread); /* cannot happen with an eventfd; never hang */
	}
	/* Closing the group answers any event still queued with "allow" (fanotify(7)). */
	if (c->fan >= 0)
		close(c->fan);
	if (c->stop >= 0)
		close(c->stop);
	pthread_mutex_destroy(&c->lock);
	if (c->ino >= 0)
		close(c->ino);
	free_decoys(c->v, c->n);
	free(c->db);
	free(c->db_base);
	free(c->db_journal);
	free(c);
}

static int attach(vigil_watch *w, void **state, char *status, size_t cap)
{
	const vigil_watch_options *o = vigil_watch_get_options(w);
	const char *db = o->canary_db ? o->canary_db : VIGIL_DEFAULT_CANARY_DB;
	canary *c = NULL;
	char err[512] = "", *dir = NULL, abs[PATH_MAX], cwd[PATH_MAX];
	int rc;

	*state = NULL;
	/* Made absolute once: the registry is re-read later, whatever the directory then. */
	if (db[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL &&
	    snprintf(abs, sizeof(abs), "%s/%s", cwd, db) < (int)sizeof(abs))
		db = abs;
	if (access(db, F_OK) != 0 && errno == ENOENT) {
		snprintf(status, cap, "off: no decoys planted (%s)", db);
		return 0;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return VIGIL_E_NOMEM;
	c->w = w;
	c->fan = c->ino = c->stop = -1;
	c->self = (int)getpid();
	pthread_mutex_init(&c->lock, NULL);
	const char *slash = strrchr(db, '/');
	if ((c->db = strdup(db)) == NULL || slash == NULL ||
	    (dir = strndup(db, slash == db ? 1 : (size_t)(slash - db))) == NULL ||
	    (c->db_base = strdup(slash + 1)) == NULL ||
	    asprintf(&c->db_journal, "%s-journal", slash + 1) < 0) {
		c->db_journal = NULL;
		rc = slash == NULL ? VIGIL_E_INVALID : VIGIL_E_NOMEM;
		snprintf(status, cap, "off: %s", slash ? "out of memory" : "bad registry path");
		goto fail;
	}
	/* A content-class group: its permission events reach us before the open returns,
	 * while the opener is alive and blocked, so /proc names it reliably. A notification
	 * group's FAN_OPEN arrives after the fact, often after a short-lived reader exited. */
	c->fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK,
			       O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (c->fan < 0) {
		snprintf(status, cap, "off: fanotify_init: %s", strerror(errno));
		rc = VIGIL_E_SYSTEM;
		goto fail;
	}
	if ((rc = load(c, err, sizeof(err))) != 0) {
		snprintf(status, cap, "off: %s", err);
		goto fail;
	}
	c->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (c->ino >= 0 &&
	    inotify_add_watch(c->ino, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE) <
		0) {
		close(c->ino);
		c->ino = -1;
	}
	if ((c->stop = eventfd(0, EFD_CLOEXEC)) < 0 ||
	    pthread_create(&c->thread, NULL, serve, c) != 0) {
		snprintf(status, cap, "off: cannot start its thread");
		rc = VIGIL_E_SYSTEM;
		goto fail;
	}
	c->started = true;
	bool hooked = vigil_watch_add_hook(w, on_event, c) == 0;
	size_t l = (size_t)snprintf(status, cap, "on: %zu decoy%s guarded (%s)", c->n - c->unmarked,
				    c->n - c->unmarked == 1 ? "" : "s", db);
	if (c->unmarked > c->failed && l < cap)
		l += (size_t)snprintf(status + l, cap - l, "; %zu missing or replaced",
				      c->unmarked - c->failed);
	if (c->failed && l < cap)
		l += (size_t)snprintf(status + l, cap - l, "; %zu cannot be marked: %s", c->failed,
				      strerror(c->failed_errno));
	if (c->ino < 0 && l < cap)
		l += (size_t)snprintf(status + l, cap - l,
				      "; registry changes need a restart (inotify failed)");
	if (!hooked && l < cap)
		snprintf(status + l, cap - l, "; deletions not alerted (no hook slot)");
	free(dir);
	*state = c;
	return 0;
fail:
	free(dir);
	detach(c);
	return rc;
}

const defense_ops defense_canary = {"canary", attach, detach};
