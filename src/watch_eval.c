/* SPDX-License-Identifier: Apache-2.0 */
/* The watcher's evaluator thread: owns the open baseline, compares each coalesced path
 * with it (or, without a baseline, reads the new values), and turns the result into
 * integrity alerts; also reloads the configuration in order with the events. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "baseline_int.h"
#include "canary_int.h"
#include "json.h"
#include "meta.h"
#include "watch_int.h"

/* Jobs waiting for the evaluator; beyond this the loop keeps coalescing instead. */
#define EVAL_QMAX 16384
/* Jobs waiting that make the evaluator stop yielding (vigil_watch_options.nice), and start
 * again. */
#define EVAL_BEHIND    (EVAL_QMAX / 16)
#define EVAL_CAUGHT_UP (EVAL_QMAX / 64)
/* One removal can name a whole tree: past this many alerts, one summary says how many
 * more entries went. */
#define JOB_ALERTS_MAX 1000
/* A path reported removed is not reported again (by its parent's removal) within this. */
#define REMOVED_TTL_NS (10LL * 1000000000)
/* Jobs compared under one snapshot of the baseline at most. */
#define HOLD_JOBS 256
/* Content is hashed for alerts without a baseline only up to this size. */
#define HASH_MAX_BYTES (64LL * 1024 * 1024)

void wjob_free(wjob *j)
{
	if (j == NULL)
		return;
	vigil_proc_unref(j->proc);
	free(j->path);
	free(j->other);
	free(j);
}

void wpolicy_free(wpolicy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nroots; i++)
		free(p->roots[i]);
	for (size_t i = 0; i < p->nown; i++)
		free(p->own[i]);
	free(p->roots);
	free(p->own);
	free(p);
}

static bool has_suffix(const char *s, const char *base, const char *suffix)
{
	size_t bl = strlen(base);

	return strncmp(s, base, bl) == 0 && strcmp(s + bl, suffix) == 0;
}

/* The database's companions (SQLite's -wal, -shm, -journal and our .lock) change with
 * every run of init, accept or check; the database itself changes when they commit. */
static bool is_db_companion(const char *path, const char *db)
{
	return has_suffix(path, db, "-wal") || has_suffix(path, db, "-shm") ||
	       has_suffix(path, db, "-journal") || has_suffix(path, db, ".lock");
}

wpolicy *wpolicy_from(const vigil_baseline *b)
{
	const char *const *roots, *const *own;
	size_t nr = vigil_baseline_roots(b, &roots), no = vigil_baseline_own_files(b, &own);
	wpolicy *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->roots = calloc(nr + 1, sizeof(char *))) == NULL ||
	    (p->own = calloc(no + 1, sizeof(char *))) == NULL)
		goto fail;
	for (size_t i = 0; i < nr; i++) {
		if ((p->roots[i] = strdup(roots[i])) == NULL)
			goto fail;
		p->nroots++;
	}
	/* own[0] is the database (baseline.c): its companions are left out. */
	for (size_t i = 0; i < no; i++) {
		if (i > 0 && no > 0 && is_db_companion(own[i], own[0]))
			continue;
		if ((p->own[p->nown] = strdup(own[i])) == NULL)
			goto fail;
		p->nown++;
	}
	return p;
fail:
	wpolicy_free(p);
	return NULL;
}

bool eval_push(vigil_watch *w, wjob *j, bool force)
{
	pthread_mutex_lock(&w->mu);
	if (!force && w->qlen >= EVAL_QMAX) {
		pthread_mutex_unlock(&w->mu);
		return false;
	}
	j->next = NULL;
	if (w->qtail)
		w->qtail->next = j;
	else
		w->qhead = j;
	w->qtail = j;
	w->qlen++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	return true;
}

/* ---- the words of an alert ---- */

static const char *const wev_names[] = {"create", "delete",     "modify",   "close_write",
					"attrib", "moved_from", "moved_to", "isdir"};

static const char *detected_name(int d)
{
	switch (d) {
	case DET_FANOTIFY:
		return "fanotify";
	case DET_INOTIFY:
		return "inotify";
	case DET_STARTUP_CHECK:
		return "start-up check";
	default:
		return "overflow check";
	}
}

/* What an alert's values rest on. */
enum { BASIS_BASELINE = 0, BASIS_NONE, BASIS_UNRECORDED, BASIS_MATCHES };

struct alert_extra {
	const wjob *j;
	int basis;
};

static void write_integrity_extra(FILE *f, void *user)
{
	const struct alert_extra *x = user;
	const wjob *j = x->j;

	/* fputs rather than fprintf: no format to parse for fixed words, in every alert. */
	fputs(",\"detected_by\":\"", f);
	fputs(detected_name(j->detected_by), f);
	fputc('"', f);
	if (j->detected_by == DET_FANOTIFY || j->detected_by == DET_INOTIFY) {
		bool first = true;

		fputs(",\"events\":[", f);
		for (size_t i = 0; i < sizeof(wev_names) / sizeof(*wev_names); i++)
			if (j->ev & (1u << i)) {
				fputs(first ? "\"" : ",\"", f);
				fputs(wev_names[i], f);
				fputc('"', f);
				first = false;
			}
		fprintf(f, "],\"event_count\":%u", j->nev);
	}
	if (j->other) {
		fputc(',', f);
		vigil_alert_write_path(f, j->other_is_new ? "renamed_to" : "renamed_from", j->other,
				       j->other_len);
	}
	if (j->held)
		fputs(",\"rate_limited\":true", f);
	fputs(x->basis == BASIS_NONE ? ",\"baseline\":false" : ",\"baseline\":true", f);
}

/* "pid 123 (/usr/bin/vim, uid 0, login uid 1000)" or why there is none. */
static void describe_proc(const vigil_proc *p, int detected_by, char *buf, size_t cap)
{
	char ids[96] = "", auid[32] = "";

	if (detected_by == DET_STARTUP_CHECK || detected_by == DET_OVERFLOW_CHECK) {
		snprintf(buf, cap, "by a process not known (found by comparing, not by an event)");
		return;
	}
	if (p == NULL) {
		snprintf(buf, cap, "by a process not known (%s does not report it)",
			 detected_by == DET_INOTIFY ? "inotify" : "the kernel");
		return;
	}
	if (p->state == VIGIL_PROC_EXITED && p->comm[0]) {
		snprintf(buf, cap, "by pid %d (%s, exited before its program could be read)",
			 p->pid, p->comm);
		return;
	}
	if (p->state == VIGIL_PROC_EXITED) {
		snprintf(buf, cap, "by pid %d, which exited before it could be identified", p->pid);
		return;
	}
	if (p->state == VIGIL_PROC_UNKNOWN) {
		snprintf(buf, cap, "by pid %d (not identified)", p->pid);
		return;
	}
	if (p->has_auid)
		snprintf(auid, sizeof(auid), ", login uid %u", p->auid);
	/* "uid 1000, euid 0": a setuid program acting for a user. */
	if (p->has_uids && p->euid != p->uid)
		snprintf(ids, sizeof(ids), ", uid %u, euid %u", p->uid, p->euid);
	else if (p->has_uids)
		snprintf(ids, sizeof(ids), ", uid %u", p->uid);
	snprintf(buf, cap, "by pid %d (%s%s%s%s)", p->pid, p->exe ? p->exe : p->comm,
		 p->exe_deleted ? " (deleted)" : "", ids, auid);
}

/* Appends s[0,len) to buf (n used of cap), cut at cap - 1 bytes. */
static size_t append(char *buf, size_t n, size_t cap, const char *s, size_t len)
{
	if (n + 1 >= cap)
		return n;
	if (len > cap - 1 - n)
		len = cap - 1 - n;
	memcpy(buf + n, s, len);
	buf[n + len] = '\0';
	return n + len;
}

/* "mode, uid" (cut to cap - 1 bytes); by hand: it runs for every alert. */
static void attr_list(uint32_t attrs, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (uint32_t bit = 1; bit <= VIGIL_ATTR_ALL && n + 1 < cap; bit <<= 1)
		if (attrs & bit) {
			const char *name = vigil_attr_name(bit);

			if (n > 0)
				n = append(buf, n, cap, ", ", 2);
			n = append(buf, n, cap, name, strlen(name));
		}
}

static int severity_of(const vigil_change *c, unsigned flags)
{
	const vigil_entry *o = c ? c->old_entry : NULL, *n = c ? c->new_entry : NULL;

	if (flags & ROOT_OWN)
		return VIGIL_SEV_CRITICAL;
	if (c == NULL || n == NULL)
		return VIGIL_SEV_WARNING;
	/* A program that gains setuid/setgid or file capabilities is how a foothold
	 * becomes root. */
	if (c->kind == VIGIL_CHANGE_CHANGED && o != NULL) {
		if ((c->attrs & VIGIL_ATTR_MODE) && (n->mode & 06000 & ~o->mode))
			return VIGIL_SEV_CRITICAL;
		if ((c->attrs & VIGIL_ATTR_CAPS) && n->caps_len > 0)
			return VIGIL_SEV_CRITICAL;
	}
	if (c->kind == VIGIL_CHANGE_ADDED && (n->attrs & VIGIL_ATTR_MODE) && S_ISREG(n->type) &&
	    (n->mode & 06000))
		return VIGIL_SEV_CRITICAL;
	return VIGIL_SEV_WARNING;
}

/* ---- what each path was last reported as ---- */

#define REPORTED_MIN 4096
#define REPORTED_MAX (1u << 20) /* slots (16 MiB); beyond, a new path may be said twice */
#define STATE_ABSENT 1          /* removed, or made and removed again */

struct reported_slot {
	uint64_t key; /* watch_hash of the path, | 1; 0 = empty */
	uint64_t state;
};

/* The values a change leaves the path with, as one number: the same whether the live
 * evaluator or the check read them. Anything that differs only makes a path be said
 * again, never kept quiet. */
static uint64_t state_of(const vigil_watch *w, const vigil_change *c)
{
	const vigil_entry *e = c ? c->new_entry : NULL;
	unsigned char b[96 + VIGIL_DIGEST_MAX];
	size_t n = 0;

	if (e == NULL || c->kind == VIGIL_CHANGE_REMOVED)
		return STATE_ABSENT;
#define PUT(v) (memcpy(b + n, &(v), sizeof(v)), n += sizeof(v))
	PUT(e->type);
	PUT(e->mode);
	PUT(e->uid);
	PUT(e->gid);
	PUT(e->size);
	PUT(e->mtime_ns);
	PUT(e->ctime_ns);
	PUT(e->inode);
	PUT(e->nlink);
	PUT(e->rdev);
	PUT(e->flags);
#undef PUT
	memcpy(b + n, e->hash, e->hash_len);
	n += e->hash_len;
	return watch_hash(w, (const char *)b, n) | 2;
}

static struct reported_slot *reported_slot(const vigil_watch *w, uint64_t key)
{
	size_t mask = w->reported_cap - 1, i = key & mask;

	while (w->reported[i].key != 0 && w->reported[i].key != key)
		i = (i + 1) & mask;
	return &w->reported[i];
}

static int reported_grow(vigil_watch *w)
{
	size_t cap = w->reported_cap ? w->reported_cap * 2 : REPORTED_MIN;
	struct reported_slot *old = w->reported;
	size_t oldcap = w->reported_cap;

	if (cap > REPORTED_MAX)
		return VIGIL_E_LIMIT;
	if ((w->reported = calloc(cap, sizeof(*w->reported))) == NULL) {
		w->reported = old;
		return VIGIL_E_NOMEM;
	}
	w->reported_cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key != 0)
			*reported_slot(w, old[i].key) = old[i];
	free(old);
	return 0;
}

static void reported_note(vigil_watch *w, const char *path, size_t len, uint64_t state)
{
	uint64_t key = watch_hash(w, path, len) | 1;
	struct reported_slot *s;

	pthread_mutex_lock(&w->reported_mu);
	/* Grown at 3/4 full, not 1/2: a churn of new paths costs half the memory (while it
	 * grows the old table and the new one are both held), for a few more probes. */
	if ((w->reported_n + 1) * 4 > w->reported_cap * 3)
		(void)reported_grow(w); /* at most REPORTED_MAX: then filled up to 3/4 */
	if (w->reported_cap > 0) {
		s = reported_slot(w, key);
		if (s->key == key)
			s->state = state;
		else if ((w->reported_n + 1) * 4 <= w->reported_cap * 3) {
			s->key = key;
			s->state = state;
			w->reported_n++;
		} /* else full: a check may say this path again */
	}
	pthread_mutex_unlock(&w->reported_mu);
}

bool watch_reported_same(vigil_watch *w, const vigil_change *c)
{
	uint64_t key = watch_hash(w, c->path, c->path_len) | 1, state = state_of(w, c);
	bool same = false;

	pthread_mutex_lock(&w->reported_mu);
	if (w->reported_cap > 0) {
		const struct reported_slot *s = reported_slot(w, key);
		same = s->key == key && s->state == state;
	}
	pthread_mutex_unlock(&w->reported_mu);
	return same;
}

void watch_reported_free(vigil_watch *w)
{
	free(w->reported);
	w->reported = NULL;
	w->reported_cap = w->reported_n = 0;
}

/* ---- paths reported removed (so a parent's removal does not repeat them) ---- */

/* The slot of path in removed_keys; *h its key there. */
static size_t removed_slot(vigil_watch *w, const char *path, size_t len, uint64_t *h)
{
	*h = watch_hash(w, path, len) | 1;
	return *h & (sizeof(w->removed_keys) / sizeof(*w->removed_keys) - 1);
}

static bool removed_seen(vigil_watch *w, const char *path, size_t len, bool mark)
{
	uint64_t h;
	size_t slot = removed_slot(w, path, len, &h);
	int64_t now = watch_mono_ns();

	if (w->removed_keys[slot] == h && now - w->removed_ns[slot] < REMOVED_TTL_NS)
		return true;
	if (mark) {
		w->removed_keys[slot] = h;
		w->removed_ns[slot] = now;
	}
	return false;
}

/* A path reported there again (added, changed) can be removed again: its next removal is
 * news, not a repeat. */
static void removed_forget(vigil_watch *w, const char *path, size_t len)
{
	uint64_t h;
	size_t slot = removed_slot(w, path, len, &h);

	if (w->removed_keys[slot] == h)
		w->removed_keys[slot] = 0;
}

static void send_alert(vigil_watch *w, const vigil_change *c, const char *path, size_t path_len,
		       const char *change_name, const wjob *j, int basis)
{
	char reason[3 * PATH_MAX], who[PATH_MAX + 128], attrs[256], other[PATH_MAX + 32] = "";
	struct alert_extra x = {.j = j, .basis = basis};
	bool has_new = c && c->new_entry;
	const char *tail = basis == BASIS_NONE && has_new
			       ? "; no baseline covers it, so only the new values are known"
			   : basis == BASIS_NONE       ? "; no baseline covers it"
			   : basis == BASIS_UNRECORDED ? "; it was not in the baseline"
						       : "";
	const char *verb;
	bool from_check =
	    j->detected_by == DET_STARTUP_CHECK || j->detected_by == DET_OVERFLOW_CHECK;
	vigil_alert a = {.time_us = j->time_us,
			 .kind = "integrity",
			 .severity = severity_of(c, j->flags),
			 .change = c,
			 .path = c ? NULL : path,
			 .path_len = path_len,
			 .change_name = change_name,
			 .has_process = true,
			 .proc = j->proc,
			 .reason = reason,
			 .extra = write_integrity_extra,
			 .extra_user = &x};
	const char *shown = c ? c->path : path;

	describe_proc(j->proc, j->detected_by, who, sizeof(who));
	attr_list(c ? c->attrs : 0, attrs, sizeof(attrs));
	if (j->other)
		snprintf(other, sizeof(other), " %s %s", j->other_is_new ? "to" : "from", j->other);
	if (c == NULL)
		verb = "was created and removed again before it could be read";
	else if (c->kind == VIGIL_CHANGE_REMOVED && j->other && j->other_is_new)
		verb = "was renamed";
	else if (c->kind == VIGIL_CHANGE_ADDED && j->other && !j->other_is_new)
		verb = basis == BASIS_NONE ? "appeared, renamed"
					   : "appeared (it is not in the baseline), renamed";
	else if (c->kind == VIGIL_CHANGE_ADDED)
		verb =
		    basis == BASIS_NONE ? "was created" : "was added (it is not in the baseline)";
	else if (c->kind == VIGIL_CHANGE_REMOVED)
		verb = "was removed";
	else if (j->other && !j->other_is_new)
		verb = "was replaced, renamed";
	else
		verb = "was changed";
	if (j->flags & ROOT_OWN)
		snprintf(
		    reason, sizeof(reason),
		    "vigil's own %s %s %s%s%s%s%s %s: the detector itself may be under attack.",
		    j->role ? j->role : "file", shown, verb, attrs[0] ? " (" : "", attrs,
		    attrs[0] ? ")" : "", other, who);
	else if (from_check)
		snprintf(reason, sizeof(reason), "%s %s%s%s%s%s %s.", shown, verb,
			 attrs[0] && c && c->kind == VIGIL_CHANGE_CHANGED ? " (" : "",
			 c && c->kind == VIGIL_CHANGE_CHANGED ? attrs : "",
			 attrs[0] && c && c->kind == VIGIL_CHANGE_CHANGED ? ")" : "", other,
			 j->detected_by == DET_STARTUP_CHECK
			     ? "while vigil watch was not running (found by the start-up check)"
			     : "while events were lost (found by the check after the overflow)");
	else
		snprintf(reason, sizeof(reason), "%s %s%s%s%s%s %s%s.", shown, verb,
			 attrs[0] && c && c->kind == VIGIL_CHANGE_CHANGED ? " (" : "",
			 c && c->kind == VIGIL_CHANGE_CHANGED ? attrs : "",
			 attrs[0] && c && c->kind == VIGIL_CHANGE_CHANGED ? ")" : "", other, who,
			 tail);
	/* Only what reached the outputs counts as said (a dropped alert is said again). */
	if (vigil_watch_emit(w, &a) == 0 && w->o.use_baseline)
		reported_note(w, shown, c ? c->path_len : path_len, state_of(w, c));
	if (c && c->kind != VIGIL_CHANGE_REMOVED)
		removed_forget(w, shown, c->path_len);
}

void eval_change_alert(vigil_watch *w, const vigil_change *c, const wjob *j)
{
	send_alert(w, c, c->path, c->path_len, NULL, j, BASIS_BASELINE);
}

struct cmp_ctx {
	vigil_watch *w;
	const wjob *j;
	size_t alerts, more, dups;
};

static int on_compare(void *user, const vigil_change *c)
{
	struct cmp_ctx *x = user;

	if (c->kind == VIGIL_CHANGE_REMOVED && removed_seen(x->w, c->path, c->path_len, true)) {
		x->dups++;
		return 0;
	}
	if (x->alerts >= JOB_ALERTS_MAX) {
		x->more++;
		return 0;
	}
	x->alerts++;
	eval_change_alert(x->w, c, x->j);
	return 0;
}

/* ---- without a baseline: what the events and the file now say ---- */

/* The attributes an event can change: without old values, these are the ones shown. */
static uint32_t implied_attrs(uint32_t ev)
{
	uint32_t a = 0;

	if (ev & (VIGIL_WEV_MODIFY | VIGIL_WEV_CLOSE_WRITE))
		a |= VIGIL_ATTR_SIZE | VIGIL_ATTR_MTIME | VIGIL_ATTR_CTIME | VIGIL_ATTR_HASH;
	if (ev & VIGIL_WEV_ATTRIB)
		a |= VIGIL_ATTR_MODE | VIGIL_ATTR_UID | VIGIL_ATTR_GID | VIGIL_ATTR_MTIME |
		     VIGIL_ATTR_CTIME | VIGIL_ATTR_NLINK | VIGIL_ATTR_ACL | VIGIL_ATTR_CAPS |
		     VIGIL_ATTR_SELINUX | VIGIL_ATTR_XATTRS | VIGIL_ATTR_FLAGS;
	/* Renamed over, or removed and made again: a different file under the name. */
	if (ev & (VIGIL_WEV_MOVED_TO | VIGIL_WEV_CREATE))
		a |= VIGIL_ATTR_DEFAULT;
	return a;
}

/* What is known of a path before it is read: its lstat in *stp (KNOWN_THERE), that
 * it is gone (KNOWN_GONE), or nothing (KNOWN_NOTHING: read_now looks). Each lstat of a
 * deep path walks all of it again, and the comparison has often just done one. */
enum { KNOWN_NOTHING = -1, KNOWN_GONE = 0, KNOWN_THERE = 1 };

/* Reads path's current values; returns 0, or VIGIL_E_NOT_FOUND if it is gone. A key
 * file is not hashed: even a digest of key material stays out of alerts. */
static int read_now(const char *path, size_t len, bool is_key, vigil_entry *e, struct stat *stp,
		    int known)
{
	struct stat st;
	vigil_entry_read_info info = {0};
	uint32_t attrs = VIGIL_ATTR_DEFAULT;
	int rc;

	if (path[0] != '/' || known == KNOWN_GONE)
		return VIGIL_E_NOT_FOUND;
	if (known == KNOWN_THERE)
		st = *stp;
	else if (lstat(path, &st) != 0)
		return VIGIL_E_NOT_FOUND;
	*stp = st;
	if (is_key || (S_ISREG(st.st_mode) && st.st_size > HASH_MAX_BYTES))
		attrs &= ~VIGIL_ATTR_HASH;
	/* By absolute path (AT_FDCWD): the kernel gave it with no symlink in it, and a
	 * swap after the lstat is caught by the reader's fstat comparison. */
	rc = vigil_entry_read(AT_FDCWD, path, path, len, &st, attrs, VIGIL_HASH_SHA256, -1, e,
			      &info);
	/* Partly unreadable (EACCES on xattrs): the lstat values are still there. */
	return rc == VIGIL_E_SYSTEM ? 0 : rc;
}

static bool parent_exists(const char *path, size_t len)
{
	char dir[PATH_MAX];
	struct stat st;

	while (len > 1 && path[len - 1] != '/')
		len--;
	if (len <= 1)
		return true; /* "/" */
	if (len - 1 >= sizeof(dir))
		return false;
	memcpy(dir, path, len - 1);
	dir[len - 1] = '\0';
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* known, *st: as for read_now. */
static void eval_events(vigil_watch *w, const wjob *j, int basis, int known, struct stat *st_in)
{
	vigil_entry e = {0};
	struct stat st = known == KNOWN_THERE ? *st_in : (struct stat){0};
	int rc = read_now(j->path, j->len, j->role && strcmp(j->role, "key") == 0, &e, &st, known);
	bool made = j->ev & (VIGIL_WEV_CREATE | VIGIL_WEV_MOVED_TO);
	bool gone = j->ev & (VIGIL_WEV_DELETE | VIGIL_WEV_MOVED_FROM);

	if (rc == VIGIL_E_NOT_FOUND) {
		vigil_change c = {
		    .path = j->path, .path_len = j->len, .kind = VIGIL_CHANGE_REMOVED};

		if (made && !gone && !parent_exists(j->path, j->len))
			return; /* made, then its parent went: reported with the parent */
		if (made) {
			/* Created and removed (or renamed away) within one burst: both events
			 * seen, or the removal still on its way (a loaded daemon), whose job
			 * then finds the name reported already. */
			send_alert(w, NULL, j->path, j->len, "transient", j, basis);
			if (!gone)
				(void)removed_seen(w, j->path, j->len, true);
			return;
		}
		if (removed_seen(w, j->path, j->len, true))
			return;
		send_alert(w, &c, NULL, 0, NULL, j, basis);
		return;
	}
	if (rc != 0)
		return;
	/* A decoy of vigil canary: the canary defense reports what is done to it, and
	 * planting one is not an integrity change. */
	if (vigil_decoy_set_has(w->decoys, &st)) {
		vigil_entry_clear(&e);
		return;
	}
	{
		bool added = (j->ev & VIGIL_WEV_CREATE) ||
			     ((j->ev & VIGIL_WEV_MOVED_TO) && !(j->ev & VIGIL_WEV_MOVED_FROM));
		vigil_change c = {.path = j->path,
				  .path_len = j->len,
				  .kind = added ? VIGIL_CHANGE_ADDED : VIGIL_CHANGE_CHANGED,
				  .attrs = added ? e.attrs : implied_attrs(j->ev) & e.attrs,
				  .new_entry = &e};

		send_alert(w, &c, NULL, 0, NULL, j, basis);
	}
	vigil_entry_clear(&e);
}

/* ---- reloads ---- */

static void post_policy(vigil_watch *w, wpolicy *p, bool reload)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->mu);
	wpolicy_free(w->new_policy);
	w->new_policy = p;
	if (reload)
		w->reload_done = true;
	pthread_mutex_unlock(&w->mu);
	(void)!write(w->wakefd, &one, sizeof(one));
}

/* Opens the baseline again (a new handle: the old one stays in use if this fails). */
static int reopen(vigil_watch *w, bool reload, char *err, size_t cap)
{
	vigil_baseline *nb = NULL;
	wpolicy *p;
	int rc = vigil_baseline_open(&w->bo, &nb, err, cap);

	if (rc != 0)
		return rc;
	if ((p = wpolicy_from(nb)) == NULL) {
		vigil_baseline_close(nb);
		snprintf(err, cap, "out of memory");
		return VIGIL_E_NOMEM;
	}
	vigil_baseline_close(w->base);
	w->base = nb;
	post_policy(w, p, reload);
	return 0;
}

static void eval_reload(vigil_watch *w)
{
	char err[1024] = "", reason[1200];
	uint64_t one = 1;
	vigil_decoy_set *d = NULL;
	int rc = reopen(w, true, err, sizeof(err));

	if (vigil_decoy_set_load(w->o.canary_db, &d) == 0) {
		vigil_decoy_set_free(w->decoys);
		w->decoys = d;
	}

	if (rc == 0)
		return; /* the loop says "reloaded" once the new paths are marked */
	pthread_mutex_lock(&w->mu);
	w->reload_done = true;
	pthread_mutex_unlock(&w->mu);
	(void)!write(w->wakefd, &one, sizeof(one));
	snprintf(reason, sizeof(reason),
		 "The configuration was not reloaded: %s. The previous configuration stays in "
		 "force and events are still watched.",
		 err[0] ? err : vigil_strerror(rc));
	watch_agent_alert(w, VIGIL_SEV_ERROR, "reload_failed", reason, NULL, NULL);
}

static void eval_path(vigil_watch *w, wjob *j)
{
	struct cmp_ctx x = {.w = w, .j = j};
	char reason[PATH_MAX + 256];
	int rc;

	if ((j->flags & ROOT_BASELINE) && w->base && !(j->flags & ROOT_OWN) &&
	    vigil_baseline_covers(w->base, j->path)) {
		struct stat st;
		int known;

		rc = vigil_baseline_compare_path_st(w->base, j->path, strlen(j->path), on_compare,
						    &x, &st, &known);
		if (rc != 0) {
			snprintf(reason, sizeof(reason),
				 "%s could not be compared with the baseline: %s.", j->path,
				 vigil_strerror(rc));
			watch_agent_alert(w, VIGIL_SEV_ERROR, "compare_failed", reason, NULL, NULL);
			return;
		}
		if (x.more > 0) {
			snprintf(reason, sizeof(reason),
				 "%zu more entries below %s were reported by one change and are "
				 "not listed one by one; vigil check lists them.",
				 x.more, j->path);
			watch_agent_alert(w, VIGIL_SEV_WARNING, "summary", reason, NULL, NULL);
		}
		if (x.alerts > 0 || x.dups > 0)
			return;
		/* Nothing differs from the baseline. A name made and gone again, or gone
		 * without a row, still happened: say so from the events. So does a name
		 * made again as recorded (a directory removed, then made anew with the same
		 * inode number): its removal was reported, so is its return. */
		if (known == KNOWN_NOTHING)
			known = lstat(j->path, &st) == 0 ? KNOWN_THERE : KNOWN_GONE;
		if (known == KNOWN_THERE) {
			if (j->ev & (VIGIL_WEV_CREATE | VIGIL_WEV_MOVED_TO))
				eval_events(w, j, BASIS_MATCHES, known, &st);
			return;
		}
		if (j->ev & (VIGIL_WEV_CREATE | VIGIL_WEV_MOVED_TO | VIGIL_WEV_DELETE |
			     VIGIL_WEV_MOVED_FROM))
			eval_events(w, j, BASIS_UNRECORDED, known, &st);
		return;
	}
	if (j->flags & (ROOT_OWN | ROOT_PATHARG))
		eval_events(w, j, BASIS_NONE, KNOWN_NOTHING, NULL);
	/* else: inside a baseline root but excluded by its policy. */
	if ((j->flags & ROOT_OWN) && w->base && j->role && strcmp(j->role, "database") == 0) {
		char err[1024] = "";

		/* init or accept ran (or someone else wrote it): the seal must still hold. */
		if ((rc = reopen(w, false, err, sizeof(err))) != 0) {
			snprintf(reason, sizeof(reason),
				 "After that change the baseline %s does not verify: %s. The "
				 "previous baseline stays in use for comparisons.",
				 j->path, err[0] ? err : vigil_strerror(rc));
			watch_agent_alert(w, VIGIL_SEV_CRITICAL, "baseline_invalid", reason, NULL,
					  NULL);
		}
	}
}

static void *eval_main(void *arg)
{
	vigil_watch *w = arg;
	unsigned held = 0; /* jobs compared under the snapshot held, 0: none held */
	/* Comparing can wait a moment: on a busy machine the work that makes the changes goes
	 * first. Not for long: once the queue holds EVAL_BEHIND jobs it catches up at the
	 * daemon's own priority (a backlog costs memory, then a check), and yields again
	 * below EVAL_CAUGHT_UP. Raising it back takes CAP_SYS_NICE, which root has. */
	int own = getpriority(PRIO_PROCESS, (id_t)gettid()),
	    nice = w->o.nice > own ? w->o.nice : own;
	bool yielding = true;

	(void)pthread_setname_np(pthread_self(), "vigil-eval"); /* top -H, perf */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
	for (;;) {
		wjob *j;
		size_t qlen;

		pthread_mutex_lock(&w->mu);
		/* A snapshot is held while jobs keep coming, never while asleep, and let go
		 * now and then so that a long burst still sees the database move. */
		if (held && (w->qhead == NULL || held >= HOLD_JOBS)) {
			pthread_mutex_unlock(&w->mu);
			vigil_baseline_release(w->base);
			held = 0;
			continue;
		}
		while (w->qhead == NULL && !w->quit)
			pthread_cond_wait(&w->cond, &w->mu);
		if (w->qhead == NULL) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		j = w->qhead;
		w->qhead = j->next;
		if (w->qhead == NULL)
			w->qtail = NULL;
		qlen = --w->qlen;
		pthread_mutex_unlock(&w->mu);
		if (nice > own && yielding != (qlen < (yielding ? EVAL_BEHIND : EVAL_CAUGHT_UP))) {
			yielding = !yielding;
			(void)setpriority(PRIO_PROCESS, (id_t)gettid(), yielding ? nice : own);
		}
		if (j->type == JOB_RELOAD) {
			if (held)
				vigil_baseline_release(w->base);
			held = 0;
			eval_reload(w);
		} else {
			if (!held && w->base && vigil_baseline_hold(w->base) == 0)
				held = 1;
			else if (held)
				held++;
			eval_path(w, j);
		}
		wjob_free(j);
	}
	if (held)
		vigil_baseline_release(w->base);
	return NULL;
}

int eval_start(vigil_watch *w)
{
	/* Without a registry the set is empty: no decoy to leave out. */
	if (vigil_decoy_set_load(w->o.canary_db, &w->decoys) != 0)
		w->decoys = NULL;
	if (pthread_create(&w->eval_thread, NULL, eval_main, w) != 0)
		return VIGIL_E_SYSTEM;
	w->eval_started = true;
	return 0;
}

void eval_stop(vigil_watch *w)
{
	if (!w->eval_started)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->eval_thread, NULL);
	w->eval_started = false;
	vigil_decoy_set_free(w->decoys);
	w->decoys = NULL;
	/* Anything pushed after the thread left (none in order, but be sure). */
	while (w->qhead) {
		wjob *j = w->qhead;

		w->qhead = j->next;
		wjob_free(j);
	}
	w->qtail = NULL;
	w->qlen = 0;
}
