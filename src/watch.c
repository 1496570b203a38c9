/* SPDX-License-Identifier: Apache-2.0 */
/* The `vigil watch` daemon engine: the event loop (epoll over fanotify, inotify, signalfd,
 * timerfd), coalescing of bursts per path, the per-path rate limit, overflow handling,
 * agent alerts, the start-up check and systemd notification. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "json.h"
#include "watch_int.h"

/* Paths with something pending or rate-limit state; beyond this, events are reported
 * without coalescing (each still reported, never dropped). */
#define PREC_MAX 65536
/* A file open for writing: reported this long after its last write (or at its close). */
#define WRITE_QUIET_NS (500LL * 1000000)
#define WRITE_HOLD_NS  (2000LL * 1000000)
/* Rate-limit buckets of dropped records kept (24 bytes each, two slots a path may use),
 * and how often idle records are dropped at most while the table is over half full. */
#define RATE_SLOTS 65536
#define GC_GAP_NS  (100LL * 1000000)
/* After a read that found events, the loop waits this long before reading again. */
#define READ_PAUSE_NS (1000 * 1000)
/* Alerts may be this long: what the sink takes. */
#define ALERT_MAX VIGIL_SINK_ALERT_MAX

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0"
#endif

int64_t watch_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- options and strings ---- */

void vigil_watch_options_default(vigil_watch_options *o)
{
	memset(o, 0, sizeof(*o));
	o->heartbeat_s = 60;
	o->coalesce_ms = 5;
	o->coalesce_max_ms = 50;
	o->rate_per_min = 12;
	o->startup_check = true;
	o->handle_signals = true;
	o->sd_notify = true;
	o->raw_device_guard = -1;
	o->exfil_staging = -1;
	o->nice = -1;
}

/* Copies s into the watcher's string list; NULL stays NULL. */
static int keep(vigil_watch *w, const char **dst, const char *s)
{
	char *c, **grown;

	if (s == NULL) {
		*dst = NULL;
		return 0;
	}
	if ((c = strdup(s)) == NULL)
		return VIGIL_E_NOMEM;
	if ((grown = realloc(w->strs, (w->nstrs + 1) * sizeof(*grown))) == NULL) {
		free(c);
		return VIGIL_E_NOMEM;
	}
	w->strs = grown;
	w->strs[w->nstrs++] = c;
	*dst = c;
	return 0;
}

/* SipHash-2-4 (Aumasson and Bernstein): paths are chosen by whoever writes files, so the
 * coalescing table must not let them pick collisions. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

uint64_t watch_hash(const vigil_watch *w, const char *s, size_t n)
{
	uint64_t k0 = w->hkey[0], k1 = w->hkey[1];
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t b = (uint64_t)n << 56, m;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&m, p + i, 8);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < n; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- roots ---- */

/* Where the kernel will report path: its parent with symlinks resolved (the name itself
 * is kept: a root that is a symlink is watched as the link, as the baseline records it).
 * whole: resolve the last component too (a PATH argument names the directory it leads
 * to). Returns a malloc'd string, or NULL on ENOMEM. */
static char *canonical(const char *path, bool whole)
{
	char *res, *dir, *slash, *out = NULL;

	if (whole && (res = realpath(path, NULL)) != NULL)
		return res;
	if ((dir = strdup(path)) == NULL)
		return NULL;
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir || slash[1] == '\0') {
		free(dir);
		return strdup(path);
	}
	*slash = '\0';
	if ((res = realpath(dir, NULL)) == NULL) {
		free(dir);
		return strdup(path);
	}
	if (asprintf(&out, "%s/%s", strcmp(res, "/") == 0 ? "" : res, slash + 1) < 0)
		out = NULL;
	free(res);
	free(dir);
	return out;
}

static void roots_free(wroot *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].path);
		free(r[i].canon);
	}
	free(r);
}

static int root_add(wroot **roots, size_t *n, const char *path, bool whole, unsigned flags,
		    const char *role)
{
	wroot *grown, *r;
	char *canon;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*roots)[i].path, path) == 0 &&
		    ((*roots)[i].flags & ROOT_OWN) == (flags & ROOT_OWN)) {
			(*roots)[i].flags |= flags;
			if (role)
				(*roots)[i].role = role;
			return 0;
		}
	if ((grown = realloc(*roots, (*n + 1) * sizeof(**roots))) == NULL)
		return VIGIL_E_NOMEM;
	*roots = grown;
	r = &grown[*n];
	memset(r, 0, sizeof(*r));
	if ((canon = canonical(path, whole)) == NULL)
		return VIGIL_E_NOMEM;
	/* A PATH argument is reported under its resolved name. */
	r->path = strdup(whole ? canon : path);
	if (r->path == NULL) {
		free(canon);
		return VIGIL_E_NOMEM;
	}
	r->len = strlen(r->path);
	r->canon = canon;
	r->clen = strlen(canon);
	r->flags = flags;
	r->role = role;
	(*n)++;
	return 0;
}

static int by_canon_len_desc(const void *a, const void *b)
{
	const wroot *x = a, *y = b;

	return x->clen < y->clen ? 1 : x->clen > y->clen ? -1 : strcmp(x->canon, y->canon);
}

/* The baseline lists its files without roles: the database comes first (baseline.c);
 * the rest are the key(s) and the policy file. */
static const char *own_role(const vigil_watch *w, const wpolicy *p, size_t i)
{
	const char *s = p->own[i];
	size_t n = strlen(s);

	if (i == 0)
		return "database";
	if ((w->o.config_path && strcmp(s, w->o.config_path) == 0) ||
	    (n > 5 && strcmp(s + n - 5, ".conf") == 0))
		return "configuration";
	if (w->o.key_path && strcmp(s, w->o.key_path) == 0)
		return "key";
	return "key";
}

/* Builds the root table from a policy snapshot, the PATH arguments and our own files. */
static int roots_build(vigil_watch *w, const wpolicy *p, wroot **out, size_t *nout)
{
	wroot *roots = NULL;
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; p && i < p->nroots && rc == 0; i++)
		rc = root_add(&roots, &n, p->roots[i], false, ROOT_BASELINE, NULL);
	/* Protect-only directories are the defenses' alone: no integrity alerts there. */
	for (size_t i = 0; i < w->nwatched_args && rc == 0; i++)
		rc = root_add(&roots, &n, w->pathargs[i], true, ROOT_PATHARG, NULL);
	for (size_t i = 0; p && i < p->nown && rc == 0; i++)
		rc = root_add(&roots, &n, p->own[i], false, ROOT_OWN, own_role(w, p, i));
	if (rc == 0 && w->self_exe)
		rc = root_add(&roots, &n, w->self_exe, false, ROOT_OWN, "program");
	if (rc == 0 && w->o.config_path)
		rc = root_add(&roots, &n, w->o.config_path, false, ROOT_OWN, "configuration");
	if (rc != 0) {
		roots_free(roots, n);
		return rc;
	}
	qsort(roots, n, sizeof(*roots), by_canon_len_desc);
	*out = roots;
	*nout = n;
	return 0;
}

static bool is_under(const char *root, size_t rlen, const char *path, size_t len)
{
	if (rlen > len || memcmp(root, path, rlen) != 0)
		return false;
	return len == rlen || path[rlen] == '/' || (rlen == 1 && root[0] == '/');
}

unsigned watch_match(const vigil_watch *w, const char *path, size_t len, char **xpath, size_t *xlen,
		     const char **role)
{
	const wroot *best = NULL;
	unsigned flags = 0;

	*xpath = NULL;
	*xlen = 0;
	*role = NULL;
	for (size_t i = 0; i < w->nroots; i++) {
		const wroot *r = &w->roots[i];

		if (r->flags & ROOT_OWN) {
			if (r->clen != len || memcmp(r->canon, path, len) != 0)
				continue;
		} else if (!is_under(r->canon, r->clen, path, len)) {
			continue;
		}
		flags |= r->flags;
		if (r->role)
			*role = r->role;
		if (best == NULL)
			best = r; /* sorted longest first */
	}
	if (best && (best->clen != best->len || memcmp(best->canon, best->path, best->len) != 0)) {
		size_t rest = len - best->clen;
		char *x = malloc(best->len + rest + 1);

		if (x != NULL) {
			memcpy(x, best->path, best->len);
			memcpy(x + best->len, path + best->clen, rest);
			x[best->len + rest] = '\0';
			*xpath = x;
			*xlen = best->len + rest;
		}
	}
	return flags;
}

bool watch_is_root_ancestor(const vigil_watch *w, const char *path, size_t len)
{
	for (size_t i = 0; i < w->nroots; i++)
		if (w->roots[i].clen > len &&
		    is_under(path, len, w->roots[i].canon, w->roots[i].clen))
			return true;
	return false;
}

/* ---- alerts ---- */

int vigil_watch_emit(vigil_watch *w, const vigil_alert *a)
{
	vigil_alert copy = *a;
	char id[48], *json = NULL;
	size_t len;
	int rc, first = 0;

	snprintf(id, sizeof(id), "%s-%llu", w->idbase,
		 (unsigned long long)atomic_fetch_add(&w->seq, 1) + 1);
	copy.id = id;
	if ((rc = vigil_alert_format(&copy, w->host, ALERT_MAX, &json, &len)) != 0) {
		atomic_fetch_add(&w->n_dropped, 1);
		return rc;
	}
	for (size_t i = 0; i < w->nsinks; i++) {
		rc = vigil_sink_send(w->sinks[i], a->severity, a->kind, json, len);
		if (rc != 0 && first == 0)
			first = rc;
	}
	free(json);
	if (first != 0)
		atomic_fetch_add(&w->n_dropped, 1);
	else
		atomic_fetch_add(&w->n_alerts, 1);
	return first;
}

void watch_agent_alert(vigil_watch *w, int severity, const char *event, const char *reason,
		       void (*extra)(FILE *f, void *user), void *user)
{
	vigil_alert a = {.kind = "agent",
			 .event = event,
			 .severity = severity,
			 .reason = reason,
			 .extra = extra,
			 .extra_user = user};

	(void)vigil_watch_emit(w, &a);
}

struct mount_extra {
	const char *fstype, *source, *how;
};

static void write_mount_extra(FILE *f, void *user)
{
	const struct mount_extra *m = user;

	fputs(",\"fs_type\":", f);
	vigil_json_string(f, m->fstype ? m->fstype : "", m->fstype ? strlen(m->fstype) : 0);
	fputs(",\"fs_source\":", f);
	vigil_json_string(f, m->source ? m->source : "", m->source ? strlen(m->source) : 0);
	if (m->how) {
		fputs(",\"how\":", f);
		vigil_json_string(f, m->how, strlen(m->how));
	}
}

void watch_mount_alert(vigil_watch *w, const char *mnt, bool mounted, const char *fstype,
		       const char *source, const char *how)
{
	struct mount_extra m = {fstype, source, how};
	char reason[PATH_MAX + 512];
	vigil_alert a = {.kind = "integrity",
			 .severity = VIGIL_SEV_WARNING,
			 .path = mnt,
			 .path_len = strlen(mnt),
			 .change_name = mounted ? "mounted" : "unmounted",
			 .has_process = true,
			 .reason = reason,
			 .extra = write_mount_extra,
			 .extra_user = &m};

	if (mounted)
		snprintf(reason, sizeof(reason),
			 "A %s file system (%s) was mounted on %s, inside a watched tree: it hides "
			 "what the directory held; it is watched from now on (the kernel does not "
			 "say which process mounted it).",
			 fstype ? fstype : "?", source ? source : "?", mnt);
	else
		snprintf(reason, sizeof(reason),
			 "The %s file system (%s) mounted on %s, inside a watched tree, was "
			 "unmounted: its files are no longer visible there (the kernel does not "
			 "say which process unmounted it).",
			 fstype ? fstype : "?", source ? source : "?", mnt);
	(void)vigil_watch_emit(w, &a);
}

/* ---- systemd notification (sd_notify(3) protocol, without libsystemd) ---- */

static void notify(const vigil_watch *w, const char *state)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n;
	socklen_t salen;
	int fd;

	if (!w->o.sd_notify || e == NULL || (e[0] != '/' && e[0] != '@'))
		return;
	n = strlen(e);
	if (n >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, e, n);
	/* '@' names a socket in the abstract namespace: a leading NUL byte (unix(7)). */
	if (e[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	close(fd);
}

/* ---- the loop's file descriptors ---- */

int watch_add_fd(vigil_watch *w, wsource *s, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = s};

	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, s->fd, &ev) == 0 ? 0 : VIGIL_E_SYSTEM;
}

void watch_del_fd(vigil_watch *w, wsource *s)
{
	if (s->fd >= 0 && w->epfd >= 0)
		(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

static void arm_timer(vigil_watch *w, int64_t at_ns)
{
	struct itimerspec its = {0};

	if (at_ns == w->armed_ns)
		return;
	if (at_ns > 0) {
		its.it_value.tv_sec = at_ns / 1000000000;
		its.it_value.tv_nsec = at_ns % 1000000000;
	}
	/* 0 disarms; an absolute time in the past fires at once. */
	if (timerfd_settime(w->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		w->armed_ns = at_ns;
}

/* ---- the heap of deadlines ---- */

static void heap_swap(vigil_watch *w, size_t a, size_t b)
{
	prec *t = w->heap[a];

	w->heap[a] = w->heap[b];
	w->heap[b] = t;
	w->heap[a]->heap_i = a;
	w->heap[b]->heap_i = b;
}

static void heap_up(vigil_watch *w, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (w->heap[p]->deadline_ns <= w->heap[i]->deadline_ns)
			break;
		heap_swap(w, p, i);
		i = p;
	}
}

static void heap_down(vigil_watch *w, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < w->heapn && w->heap[l]->deadline_ns < w->heap[m]->deadline_ns)
			m = l;
		if (r < w->heapn && w->heap[r]->deadline_ns < w->heap[m]->deadline_ns)
			m = r;
		if (m == i)
			break;
		heap_swap(w, i, m);
		i = m;
	}
}

static int heap_set(vigil_watch *w, prec *p, int64_t deadline)
{
	if (p->heap_i == SIZE_MAX) {
		if (w->heapn == w->heapcap) {
			size_t cap = w->heapcap ? 2 * w->heapcap : 256;
			prec **grown = realloc(w->heap, cap * sizeof(*grown));

			if (grown == NULL)
				return VIGIL_E_NOMEM;
			w->heap = grown;
			w->heapcap = cap;
		}
		p->deadline_ns = deadline;
		p->heap_i = w->heapn;
		w->heap[w->heapn++] = p;
		heap_up(w, p->heap_i);
		return 0;
	}
	p->deadline_ns = deadline;
	heap_up(w, p->heap_i);
	heap_down(w, p->heap_i);
	return 0;
}

static void heap_remove(vigil_watch *w, prec *p)
{
	size_t i = p->heap_i;

	if (i == SIZE_MAX)
		return;
	w->heapn--;
	if (i != w->heapn) {
		w->heap[i] = w->heap[w->heapn];
		w->heap[i]->heap_i = i;
		heap_up(w, i);
		heap_down(w, w->heap[i]->heap_i);
	}
	p->heap_i = SIZE_MAX;
}

/* ---- per-path records ---- */

static void prec_free(prec *p)
{
	vigil_proc_unref(p->proc);
	free(p->other);
	free(p->path);
	free(p);
}

static prec *prec_find(vigil_watch *w, const char *path, size_t len, uint64_t h)
{
	for (prec *p = w->tab[h & (w->tabcap - 1)]; p; p = p->next)
		if (p->h == h && p->len == len && memcmp(p->path, path, len) == 0)
			return p;
	return NULL;
}

static int tab_grow(vigil_watch *w)
{
	size_t cap = w->tabcap ? 2 * w->tabcap : 1024;
	prec **t = calloc(cap, sizeof(*t));

	if (t == NULL)
		return VIGIL_E_NOMEM;
	for (size_t i = 0; i < w->tabcap; i++)
		for (prec *p = w->tab[i], *next; p; p = next) {
			next = p->next;
			p->next = t[p->h & (cap - 1)];
			t[p->h & (cap - 1)] = p;
		}
	free(w->tab);
	w->tab = t;
	w->tabcap = cap;
	return 0;
}

/* A rate-limit bucket's level now: tokens when last counted, refilled since (uncapped). */
static double bucket_level(const vigil_watch *w, double tokens, int64_t refill_ns, int64_t now)
{
	return tokens + (double)(now - refill_ns) * w->rate_per_ns;
}

static double rate_tokens(const vigil_watch *w, const struct rate_slot *r, int64_t now)
{
	return bucket_level(w, r->tokens, r->refill_ns, now);
}

/* Where a bucket of t tokens is kept: its path's slot, an empty one of the two it may
 * use, or the fuller one's if that is fuller than t (a churn of paths alerted once each
 * must not push out a path being hammered); NULL: not worth keeping. */
static struct rate_slot *rate_slot_for(vigil_watch *w, uint64_t h, double t, int64_t now)
{
	struct rate_slot *a = &w->rates[h & (RATE_SLOTS - 1)];
	struct rate_slot *b = &w->rates[(h & (RATE_SLOTS - 1)) ^ 1];
	struct rate_slot *fuller;

	if (a->h == (h | 1) || a->h == 0)
		return a;
	if (b->h == (h | 1) || b->h == 0)
		return b;
	fuller = rate_tokens(w, a, now) >= rate_tokens(w, b, now) ? a : b;
	return rate_tokens(w, fuller, now) > t ? fuller : NULL;
}

/* Drops the records with nothing pending. Such a record holds only its path's rate-limit
 * bucket: one not full again is kept in w->rates, 24 bytes instead of a record and its
 * path (a churn of distinct files otherwise holds PREC_MAX records, 14 MB). */
static void tab_gc(vigil_watch *w, int64_t now)
{
	w->gc_ns = now;
	if (w->rates == NULL && w->rate_per_ns > 0)
		w->rates = calloc(RATE_SLOTS, sizeof(*w->rates));
	for (size_t i = 0; i < w->tabcap; i++)
		for (prec **pp = &w->tab[i]; *pp;) {
			prec *p = *pp;
			double t = bucket_level(w, p->tokens, p->refill_ns, now);

			if (p->ev != 0) {
				pp = &p->next;
				continue;
			}
			if (w->rate_per_ns > 0 && t < w->burst) {
				struct rate_slot *r;

				if (w->rates == NULL) { /* no memory for it: kept whole */
					pp = &p->next;
					continue;
				}
				if ((r = rate_slot_for(w, p->h, t, now)) != NULL) {
					r->h = p->h | 1;
					r->tokens = p->tokens;
					r->refill_ns = p->refill_ns;
				}
			}
			*pp = p->next;
			w->tabn--;
			prec_free(p);
		}
}

/* A new record's bucket: as its path left it, if remembered, else full. */
static void rate_restore(vigil_watch *w, prec *p, int64_t now)
{
	p->tokens = w->burst;
	p->refill_ns = now;
	for (int k = 0; w->rates && k < 2; k++) {
		struct rate_slot *r = &w->rates[(p->h & (RATE_SLOTS - 1)) ^ (uint64_t)k];

		if (r->h == (p->h | 1)) {
			p->tokens = r->tokens;
			p->refill_ns = r->refill_ns;
			r->h = 0;
			break;
		}
	}
}

static wjob *job_from(prec *p)
{
	wjob *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->type = JOB_PATH;
	if ((j->path = malloc(p->len + 1)) == NULL) {
		free(j);
		return NULL;
	}
	memcpy(j->path, p->path, p->len + 1);
	j->len = p->len;
	j->flags = p->flags;
	j->ev = p->ev;
	j->nev = p->nev;
	j->held = p->held;
	j->time_us = p->first_us;
	j->proc = p->proc;
	p->proc = NULL;
	j->other = p->other;
	j->other_len = p->other_len;
	j->other_is_new = p->other_is_new;
	p->other = NULL;
	j->detected_by = p->detected_by;
	j->role = p->role;
	return j;
}

/* Hands a record's events to the evaluator, unless the rate limit holds it (force:
 * stopping, or the record must make room). Returns true if it went. */
static bool prec_flush(vigil_watch *w, prec *p, int64_t now, bool force)
{
	wjob *j;

	if (p->ev == 0) {
		heap_remove(w, p);
		return true;
	}
	if (w->rate_per_ns > 0 && !force) {
		p->tokens = bucket_level(w, p->tokens, p->refill_ns, now);
		if (p->tokens > w->burst)
			p->tokens = w->burst;
		p->refill_ns = now;
		if (p->tokens < 1.0) {
			/* Held: events keep folding in; it goes when a token is back. */
			if (p->held == 0)
				atomic_fetch_add(&w->n_limited, 1);
			p->held = 1;
			(void)heap_set(w, p,
				       now + (int64_t)((1.0 - p->tokens) / w->rate_per_ns) + 1);
			return false;
		}
	}
	if ((j = job_from(p)) == NULL || !eval_push(w, j, force)) {
		/* The evaluator is behind (or no memory): try again shortly; events keep
		 * folding into this record meanwhile, so nothing is lost. */
		if (j) {
			p->proc = j->proc;
			j->proc = NULL;
			p->other = j->other;
			j->other = NULL;
			wjob_free(j);
		}
		(void)heap_set(w, p, now + w->quiet_ns);
		return false;
	}
	if (w->rate_per_ns > 0 && !force)
		p->tokens -= 1.0;
	p->ev = p->nev = p->held = 0;
	p->pid = 0;
	p->writing = false;
	p->other_len = 0;
	heap_remove(w, p);
	return true;
}

static void flush_due(vigil_watch *w, int64_t now)
{
	/* Bounded per call so the loop gets back to reading events. */
	for (int n = 0; n < 4096 && w->heapn > 0 && w->heap[0]->deadline_ns <= now; n++)
		if (!prec_flush(w, w->heap[0], now, false) && w->heap[0]->deadline_ns <= now)
			break;
	/* A timer already set to fire earlier stays: it wakes the loop once for nothing,
	 * where moving it costs a system call per alert in a storm. Nor is it disarmed. */
	if (w->heapn > 0 && (w->armed_ns == 0 || w->heap[0]->deadline_ns < w->armed_ns))
		arm_timer(w, w->heap[0]->deadline_ns);
}

static void flush_all(vigil_watch *w)
{
	int64_t now = watch_mono_ns();

	while (w->heapn > 0)
		if (!prec_flush(w, w->heap[0], now, true))
			heap_remove(w, w->heap[0]); /* out of memory: give up on it, not loop */
}

/* ---- processes ---- */

/* How long a process read from /proc is taken as still true for later events of the same
 * process running the same program: a change of user ids without an exec (setuid) within
 * this time is not seen. */
#define PROC_REUSE_NS (100 * 1000000LL)

vigil_proc *vigil_watch_process(vigil_watch *w, const vigil_watch_event *ev)
{
	size_t slot;
	vigil_proc *p = NULL;

	if (ev->pid <= 0)
		return NULL;
	/* Without a pidfd the pid could name a later process by now: not guessed. */
	if (ev->pidfd_failed)
		return vigil_proc_new_bare(ev->pid, VIGIL_PROC_UNKNOWN);
	slot = (size_t)ev->pid % (sizeof(w->pcache) / sizeof(*w->pcache));
	/* Within one read of the queue a pid names one process: it was alive when an
	 * earlier event's pidfd was made, so a later event of that pid (queued before the
	 * read) came from it too. An entry saying "exited" only answers "exited" lookups. */
	if (w->pcache[slot].proc && w->pcache[slot].pid == ev->pid &&
	    w->pcache[slot].batch == w->batch &&
	    (w->pcache[slot].proc->state == VIGIL_PROC_ALIVE || ev->pid_exited))
		return vigil_proc_ref(w->pcache[slot].proc);
	/* Across reads: the same process (its pidfs identity, made while it was alive) still
	 * running the same program, read less than PROC_REUSE_NS ago. A burst of one writer
	 * then costs two system calls per read of the queue instead of a dozen. */
	if (w->pcache[slot].proc && w->pcache[slot].pid == ev->pid && !ev->pid_exited &&
	    w->pcache[slot].pidfs_id != 0 &&
	    watch_mono_ns() - w->pcache[slot].read_ns < PROC_REUSE_NS &&
	    vigil_pidfd_id(ev->pidfd) == w->pcache[slot].pidfs_id &&
	    vigil_proc_same_program(w->pcache[slot].proc)) {
		w->pcache[slot].batch = w->batch;
		return vigil_proc_ref(w->pcache[slot].proc);
	}
	if (vigil_proc_read(ev->pid, ev->pidfd, ev->pid_exited, &p) != 0)
		return NULL;
	vigil_proc_unref(w->pcache[slot].proc);
	w->pcache[slot].proc = vigil_proc_ref(p);
	w->pcache[slot].pid = ev->pid;
	w->pcache[slot].batch = w->batch;
	w->pcache[slot].read_ns = watch_mono_ns();
	w->pcache[slot].pidfs_id = p->state == VIGIL_PROC_ALIVE ? vigil_pidfd_id(ev->pidfd) : 0;
	return p;
}

/* ---- events ---- */

/* Every path record is in use (a flood of distinct paths): this event is reported on its
 * own, without coalescing; if even the evaluator's queue is full it is lost, and that
 * is reported as an overflow (with a check) at the next tick. */
static void take_direct(vigil_watch *w, const vigil_watch_event *ev, const char *path, size_t len,
			unsigned flags, const char *role, uint32_t mask, const char *other,
			size_t other_len, bool other_is_new, uint8_t detected_by)
{
	prec p = {.path = (char *)path,
		  .len = len,
		  .flags = flags,
		  .role = role,
		  .ev = mask,
		  .nev = 1,
		  .first_us = ev->time_us,
		  .pid = ev->pid,
		  .detected_by = detected_by,
		  .other_len = other_len,
		  .other_is_new = other_is_new};
	wjob *j;

	if (other != NULL && (p.other = strndup(other, other_len)) == NULL)
		p.other_len = 0;
	p.proc = vigil_watch_process(w, ev);
	if ((j = job_from(&p)) == NULL || !eval_push(w, j, false)) {
		wjob_free(j);
		w->lost_internal = true;
	}
	vigil_proc_unref(p.proc);
	free(p.other);
}

/* A name just created is a regular file (not a link or node, which no close follows). */
static bool is_regular(const vigil_watch_event *ev, const char *path)
{
	struct stat st;

	(void)ev;
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Takes one path's share of an event into its record. */
static void take(vigil_watch *w, const vigil_watch_event *ev, const char *path, size_t len,
		 unsigned flags, const char *role, uint32_t mask, const char *other,
		 size_t other_len, bool other_is_new, uint8_t detected_by)
{
	int64_t now = watch_mono_ns(), quiet, hold;
	uint64_t h = watch_hash(w, path, len);
	prec *p = w->tabcap ? prec_find(w, path, len, h) : NULL;

	if (p == NULL) {
		if (w->tabn >= PREC_MAX)
			tab_gc(w, now);
		if (w->tabn >= PREC_MAX) {
			take_direct(w, ev, path, len, flags, role, mask, other, other_len,
				    other_is_new, detected_by);
			return;
		}
		if ((w->tabn + 1) * 4 > w->tabcap * 3 && tab_grow(w) != 0)
			return;
		if ((p = calloc(1, sizeof(*p))) == NULL || (p->path = malloc(len + 1)) == NULL) {
			free(p);
			return;
		}
		memcpy(p->path, path, len);
		p->path[len] = '\0';
		p->len = len;
		p->h = h;
		p->heap_i = SIZE_MAX;
		rate_restore(w, p, now);
		p->next = w->tab[h & (w->tabcap - 1)];
		w->tab[h & (w->tabcap - 1)] = p;
		w->tabn++;
	}
	/* Another process: its change gets its own alert, so each names who did it. */
	if (p->ev != 0 && ev->pid != p->pid && !p->held)
		prec_flush(w, p, now, false);
	/* A file still open for writing (writes seen, no close yet) is one change until it
	 * is closed: one alert per close, however many writes (a writer that never closes
	 * is reported once it pauses, or after WRITE_HOLD_NS). */
	if (mask & VIGIL_WEV_CLOSE_WRITE)
		p->writing = false;
	else if (mask & VIGIL_WEV_MODIFY)
		p->writing = true;
	else if ((mask & VIGIL_WEV_CREATE) && !(mask & VIGIL_WEV_ISDIR) && is_regular(ev, path))
		p->writing = true; /* open(O_CREAT): its writes and close follow */
	quiet = p->writing ? WRITE_QUIET_NS : w->quiet_ns;
	hold = p->writing && WRITE_HOLD_NS > w->hold_ns ? WRITE_HOLD_NS : w->hold_ns;
	if (p->ev == 0) {
		p->first_ns = now;
		p->first_us = ev->time_us;
		p->pid = ev->pid;
		p->detected_by = detected_by;
		vigil_proc_unref(p->proc);
		p->proc = vigil_watch_process(w, ev);
		(void)heap_set(w, p, now + quiet);
	} else {
		atomic_fetch_add(&w->n_coalesced, 1);
		if (!p->held) {
			int64_t d = now + quiet;

			if (d > p->first_ns + hold)
				d = p->first_ns + hold;
			(void)heap_set(w, p, d);
		}
	}
	p->flags |= flags;
	if (role)
		p->role = role;
	p->ev |= mask;
	p->nev++;
	p->last_ns = now;
	if (other != NULL) {
		char *o = malloc(other_len + 1);

		if (o != NULL) {
			memcpy(o, other, other_len);
			o[other_len] = '\0';
			free(p->other);
			p->other = o;
			p->other_len = other_len;
			p->other_is_new = other_is_new;
		}
	}
	if (w->heapn > 0 && (w->armed_ns == 0 || w->heap[0]->deadline_ns < w->armed_ns))
		arm_timer(w, w->heap[0]->deadline_ns);
}

/* A rename or removal of a directory above a root moves or removes the root itself. */
static void take_ancestor(vigil_watch *w, const vigil_watch_event *ev, const char *path, size_t len,
			  uint32_t mask, uint8_t detected_by)
{
	for (size_t i = 0; i < w->nroots; i++) {
		const wroot *r = &w->roots[i];

		if (r->clen > len && is_under(path, len, r->canon, r->clen))
			take(w, ev, r->path, r->len, r->flags, r->role, mask | VIGIL_WEV_ISDIR,
			     NULL, 0, false, detected_by);
	}
}

/* Where a path lies: the roots' flags, the baseline's name for it, our file's role. */
struct side {
	unsigned flags;
	char *x;
	size_t xlen;
	const char *role;
};

static void take_side(vigil_watch *w, const vigil_watch_event *ev, const char *path, size_t len,
		      const struct side *sd, uint32_t mask, const char *other, size_t other_len,
		      bool other_is_new, uint8_t detected_by)
{
	if (sd->flags == 0) {
		if ((mask & VIGIL_WEV_ISDIR) &&
		    (mask & (VIGIL_WEV_MOVED_FROM | VIGIL_WEV_MOVED_TO | VIGIL_WEV_DELETE |
			     VIGIL_WEV_CREATE)) &&
		    watch_is_root_ancestor(w, path, len))
			take_ancestor(w, ev, path, len,
				      mask & (VIGIL_WEV_MOVED_FROM | VIGIL_WEV_MOVED_TO |
					      VIGIL_WEV_DELETE | VIGIL_WEV_CREATE),
				      detected_by);
		return;
	}
	atomic_fetch_add(&w->n_watched, 1);
	take(w, ev, sd->x ? sd->x : path, sd->x ? sd->xlen : len, sd->flags, sd->role, mask, other,
	     other_len, other_is_new, detected_by);
}

void watch_event(vigil_watch *w, const vigil_watch_event *ev, uint8_t detected_by)
{
	uint32_t m = ev->mask;
	struct side s1 = {0}, s2 = {0};
	vigil_watch_event e = *ev;

	atomic_fetch_add(&w->n_events, 1);
	if (m & VIGIL_WEV_OVERFLOW) {
		watch_overflow(w, detected_by == DET_INOTIFY ? "inotify" : "fanotify");
		return;
	}
	if (ev->path)
		s1.flags = watch_match(w, ev->path, ev->path_len, &s1.x, &s1.xlen, &s1.role);
	if (ev->path2)
		s2.flags = watch_match(w, ev->path2, ev->path2_len, &s2.x, &s2.xlen, &s2.role);
	e.watched = (s1.flags | s2.flags) != 0;
	for (size_t i = 0; i < w->nhooks; i++)
		w->hooks[i].fn(w->hooks[i].user, w, &e);
	if (ev->path == NULL)
		goto out;
	if (ev->path2 != NULL) {
		/* One rename seen whole (FAN_RENAME): each side is its own change, and each
		 * alert names the other side. */
		take_side(w, ev, ev->path, ev->path_len, &s1,
			  (m & ~VIGIL_WEV_MOVED_TO) | VIGIL_WEV_MOVED_FROM, ev->path2,
			  ev->path2_len, true, detected_by);
		take_side(w, ev, ev->path2, ev->path2_len, &s2,
			  (m & ~VIGIL_WEV_MOVED_FROM) | VIGIL_WEV_MOVED_TO, ev->path, ev->path_len,
			  false, detected_by);
		goto out;
	}
	take_side(w, ev, ev->path, ev->path_len, &s1, m, NULL, 0, false, detected_by);
out:
	free(s1.x);
	free(s2.x);
}

/* ---- checks: at start and after an overflow ---- */

struct check_ctx {
	vigil_watch *w;
	int trigger;
};

static int check_on_change(void *user, const vigil_change *c)
{
	struct check_ctx *cc = user;
	wjob j = {.detected_by = (uint8_t)cc->trigger, .time_us = vigil_alert_now_us()};

	if (atomic_load(&cc->w->stop_requested))
		return VIGIL_E_CANCELLED;
	eval_change_alert(cc->w, c, &j);
	return 0;
}

/* After an overflow, what was already reported live and has not moved since is not said
 * again (nor held in memory to sort): the check is for what the lost events hid. */
static bool check_keep(void *user, const vigil_change *c)
{
	struct check_ctx *cc = user;

	return cc->trigger != DET_OVERFLOW_CHECK || !watch_reported_same(cc->w, c);
}

static void *check_main(void *arg)
{
	vigil_watch *w = arg;
	struct check_ctx cc = {.w = w, .trigger = w->check_trigger};
	vigil_baseline_callbacks cb = {
	    .on_change = check_on_change, .keep_change = check_keep, .user = &cc};
	vigil_baseline_options o = w->bo;
	vigil_baseline_stats st;
	char err[512] = "";
	int rc;
	uint64_t one = 1;

	(void)pthread_setname_np(pthread_self(), "vigil-check"); /* top -H, perf */
	o.quick = true;
	o.unordered = true; /* alerts need no order, and 100k changes held would take 100 MB */
	rc = vigil_baseline_check(&o, &cb, &st, err, sizeof(err));
	pthread_mutex_lock(&w->mu);
	w->check_rc = rc;
	w->check_stats = st;
	snprintf(w->check_err, sizeof(w->check_err), "%s", err);
	w->check_done = true;
	pthread_mutex_unlock(&w->mu);
	(void)!write(w->wakefd, &one, sizeof(one));
	return NULL;
}

static void check_start(vigil_watch *w, int trigger)
{
	if (!w->o.use_baseline)
		return;
	if (w->check_running) {
		w->check_again = true; /* the running one may have passed the lost changes */
		return;
	}
	w->check_trigger = trigger;
	w->check_done = false;
	if (pthread_create(&w->check_thread, NULL, check_main, w) != 0) {
		watch_agent_alert(w, VIGIL_SEV_ERROR, "check",
				  "The baseline check could not start (no thread): changes made "
				  "while events were lost are not known.",
				  NULL, NULL);
		return;
	}
	w->check_running = true;
}

static void write_check_extra(FILE *f, void *user)
{
	vigil_watch *w = user;
	const vigil_baseline_stats *st = &w->check_stats;

	fprintf(f,
		",\"trigger\":\"%s\",\"entries\":%llu,\"added\":%llu,\"removed\":%llu,"
		"\"changed\":%llu,\"already_reported\":%llu,\"elapsed_ms\":%llu",
		w->check_trigger == DET_STARTUP_CHECK ? "start" : "overflow",
		(unsigned long long)st->entries, (unsigned long long)st->added,
		(unsigned long long)st->removed, (unsigned long long)st->changed,
		(unsigned long long)st->passed_over,
		(unsigned long long)(st->elapsed_ns / 1000000));
}

static void check_finished(vigil_watch *w)
{
	char reason[1024];
	const vigil_baseline_stats *st = &w->check_stats;
	const char *what =
	    w->check_trigger == DET_STARTUP_CHECK ? "start-up check" : "check after the overflow";
	uint64_t n;

	pthread_join(w->check_thread, NULL);
	w->check_running = false;
	w->check_done = false;
	n = st->added + st->removed + st->changed;
	if (w->check_rc == VIGIL_E_CANCELLED) {
		snprintf(reason, sizeof(reason), "The %s was cut short: vigil watch is stopping.",
			 what);
		watch_agent_alert(w, VIGIL_SEV_WARNING, "check", reason, write_check_extra, w);
	} else if (w->check_rc != 0) {
		snprintf(reason, sizeof(reason), "The %s failed: %s.", what,
			 w->check_err[0] ? w->check_err : vigil_strerror(w->check_rc));
		watch_agent_alert(
		    w, w->check_rc == VIGIL_E_FORMAT ? VIGIL_SEV_CRITICAL : VIGIL_SEV_ERROR,
		    "check", reason, write_check_extra, w);
	} else {
		char repeated[128] = "";

		if (st->passed_over > 0)
			snprintf(repeated, sizeof(repeated),
				 "; %llu more already reported as they happened, not repeated",
				 (unsigned long long)st->passed_over);
		snprintf(reason, sizeof(reason),
			 "The %s compared %llu entries with the baseline: %llu change%s (%llu "
			 "added, %llu removed, %llu changed)%s%s.",
			 what, (unsigned long long)st->entries, (unsigned long long)n,
			 n == 1 ? "" : "s", (unsigned long long)st->added,
			 (unsigned long long)st->removed, (unsigned long long)st->changed,
			 n == 0 ? ""
			 : w->check_trigger == DET_STARTUP_CHECK
			     ? ", each reported: made while vigil watch was not running"
			     : ", each reported",
			 repeated);
		watch_agent_alert(w, n ? VIGIL_SEV_WARNING : VIGIL_SEV_INFO, "check", reason,
				  write_check_extra, w);
	}
	if (w->check_again && !atomic_load(&w->stop_requested)) {
		w->check_again = false;
		check_start(w, DET_OVERFLOW_CHECK);
	}
}

void watch_overflow(vigil_watch *w, const char *how)
{
	char reason[512];

	atomic_fetch_add(&w->n_overflows, 1);
	snprintf(reason, sizeof(reason),
		 w->o.use_baseline
		     ? "The kernel's %s event queue overflowed: events were lost. A quick check "
		       "of the baseline runs now and reports what changed."
		     : "The kernel's %s event queue overflowed: events were lost, and without a "
		       "baseline the changes in the gap cannot be found again.",
		 how);
	watch_agent_alert(w, VIGIL_SEV_WARNING, "overflow", reason, NULL, NULL);
	check_start(w, DET_OVERFLOW_CHECK);
}

/* ---- agent alerts: started, heartbeat, stopping, reload ---- */

static void write_roots(FILE *f, const vigil_watch *w)
{
	bool first = true;

	fputs(",\"watch\":[", f);
	for (size_t i = 0; i < w->nroots; i++) {
		const wroot *r = &w->roots[i];
		const char *m = r->method == METHOD_FANOTIFY  ? "fanotify"
				: r->method == METHOD_INOTIFY ? "inotify"
							      : "none";

		fputs(first ? "{" : ",{", f);
		vigil_alert_write_path(f, "path", r->path, r->len);
		fprintf(f, ",\"role\":\"%s\",\"method\":\"%s\",\"how\":",
			r->flags & ROOT_OWN        ? "self"
			: r->flags & ROOT_BASELINE ? "baseline"
						   : "path",
			m);
		vigil_json_string(f, r->how, strlen(r->how));
		fputc('}', f);
		first = false;
	}
	fputc(']', f);
}

static void write_defenses(FILE *f, const vigil_watch *w)
{
	fputs(",\"defenses\":{", f);
	for (size_t i = 0; i < w->ndefenses; i++) {
		const char *st = w->defenses[i].status;

		fprintf(f, "%s\"%s\":", i ? "," : "", w->defenses[i].ops->name);
		vigil_json_string(f, st, strlen(st));
	}
	fputc('}', f);
}

static void write_started_extra(FILE *f, void *user)
{
	vigil_watch *w = user;

	fputs(",\"version\":\"" VIGIL_VERSION "\"", f);
	write_roots(f, w);
	fan_write_mounts(f, w);
	fputs(",\"baseline\":", f);
	if (w->db_abs)
		vigil_json_string(f, w->db_abs, strlen(w->db_abs));
	else
		fputs("null", f);
	fprintf(f, ",\"heartbeat_s\":%u", w->o.heartbeat_s);
	write_defenses(f, w);
}

static void started_alert(vigil_watch *w)
{
	size_t nf = 0, ni = 0, nn = 0, n;
	char reason[1024];
	const char *why;
	int sev = VIGIL_SEV_NOTICE;

	for (size_t i = 0; i < w->nroots; i++) {
		if (w->roots[i].flags == ROOT_OWN)
			continue;
		if (w->roots[i].method == METHOD_FANOTIFY)
			nf++;
		else if (w->roots[i].method == METHOD_INOTIFY)
			ni++;
		else
			nn++;
	}
	if (ni > 0 || nn > 0 || nf + ni + nn == 0)
		sev = VIGIL_SEV_WARNING;
	for (size_t i = 0; i < w->ndefenses; i++)
		if (w->defenses[i].rc != 0)
			sev = VIGIL_SEV_WARNING; /* the reason's defenses member says which */
	if (w->o.backend == VIGIL_WATCH_INOTIFY)
		why = "with inotify, as asked (--backend inotify): no process is named";
	else if (w->fan == NULL)
		why = "with inotify, because fanotify is unavailable (see how): no process is "
		      "named";
	else
		why = "with inotify where fanotify cannot mark the file system (see how): no "
		      "process is named there";
	n = snprintf(reason, sizeof(reason), "vigil watch %s started: ", VIGIL_VERSION);
	/* Each part is short (the reason holds 1024 bytes): no part can be cut. */
	if (nf + ni + nn == 0)
		n += snprintf(reason + n, sizeof(reason) - n,
			      w->o.use_baseline
				  ? "no path is watched (the baseline's policy names none)"
				  : "no path is watched");
	if (nf)
		n += snprintf(reason + n, sizeof(reason) - n,
			      "%zu path%s watched with fanotify filesystem marks%s", nf,
			      nf == 1 ? "" : "s", ni ? "; " : "");
	if (ni)
		n += snprintf(reason + n, sizeof(reason) - n, "%zu path%s %s", ni,
			      ni == 1 ? "" : "s", why);
	if (nn)
		n += snprintf(reason + n, sizeof(reason) - n,
			      "; %zu path%s could not be watched at all (see how)", nn,
			      nn == 1 ? "" : "s");
	assert(n < sizeof(reason));
	snprintf(reason + n, sizeof(reason) - n, "%s.",
		 w->o.use_baseline ? "; each change is compared with the baseline" : "");
	watch_agent_alert(w, sev, "started", reason, write_started_extra, w);
}

static void write_stats(FILE *f, vigil_watch *w)
{
	fprintf(f,
		",\"uptime_s\":%lld,\"events\":%llu,\"events_watched\":%llu,\"alerts\":%llu,"
		"\"overflows\":%llu,\"rate_limited\":%llu,\"unnamed\":%llu",
		(long long)((watch_mono_ns() - w->start_ns) / 1000000000),
		(unsigned long long)atomic_load(&w->n_events),
		(unsigned long long)atomic_load(&w->n_watched),
		(unsigned long long)atomic_load(&w->n_alerts),
		(unsigned long long)atomic_load(&w->n_overflows),
		(unsigned long long)atomic_load(&w->n_limited),
		(unsigned long long)atomic_load(&w->n_unnamed));
	fputs(",\"outputs\":[", f);
	for (size_t i = 0; i < w->nsinks; i++) {
		vigil_sink_stats st;

		vigil_sink_get_stats(w->sinks[i], &st);
		fputs(i ? ",{\"target\":" : "{\"target\":", f);
		vigil_json_string(f, w->sink_names[i], strlen(w->sink_names[i]));
		fprintf(f,
			",\"connected\":%s,\"queued\":%llu,\"spooled\":%llu,\"sent\":%llu,"
			"\"dropped\":%llu,\"last_error\":",
			st.connected ? "true" : "false", (unsigned long long)st.queued,
			(unsigned long long)st.spooled, (unsigned long long)st.sent,
			(unsigned long long)st.dropped);
		if (st.last_error)
			vigil_json_string(f, st.last_error_msg, strlen(st.last_error_msg));
		else
			fputs("null", f);
		fputc('}', f);
	}
	fputc(']', f);
}

static void write_stats_extra(FILE *f, void *user)
{
	write_stats(f, user);
}

struct stop_extra {
	vigil_watch *w;
	const struct signalfd_siginfo *si;
	vigil_proc *sender;
};

static void write_stopping_extra(FILE *f, void *user)
{
	struct stop_extra *x = user;

	if (x->si) {
		fprintf(f, ",\"signal\":\"%s\",\"process\":",
			x->si->ssi_signo == SIGTERM  ? "SIGTERM"
			: x->si->ssi_signo == SIGINT ? "SIGINT"
						     : "other");
		vigil_alert_write_process(f, x->sender, 0);
	}
	write_stats(f, x->w);
}

static void stopping_alert(vigil_watch *w, const struct signalfd_siginfo *si)
{
	struct stop_extra x = {.w = w, .si = si, .sender = w->stop_sender};
	char reason[512];

	if (si) {
		/* Who asked: an attacker stopping the agent first is worth a name. signalfd
		 * gives no pidfd: the sender was read by pid as the signal arrived. */
		snprintf(reason, sizeof(reason),
			 "vigil watch is stopping on %s from pid %u (%s%suid %u): changes are no "
			 "longer watched.",
			 si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", si->ssi_pid,
			 x.sender && x.sender->exe ? x.sender->exe : "",
			 x.sender && x.sender->exe ? ", " : "", si->ssi_uid);
	} else {
		snprintf(reason, sizeof(reason),
			 "vigil watch is stopping as asked: changes are no longer watched.");
	}
	watch_agent_alert(w, VIGIL_SEV_NOTICE, "stopping", reason, write_stopping_extra, &x);
}

/* Once a second: heartbeat, outputs that fail or recover, inotify roots that came back,
 * and records that only held rate-limit state. */
static void tick(vigil_watch *w)
{
	int64_t now = watch_mono_ns();
	uint64_t n;

	if (read(w->tickfd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing to read; the tick is handled all the same. */
	}
	if (w->o.heartbeat_s > 0 && now >= w->next_heartbeat_ns) {
		char reason[256];

		w->next_heartbeat_ns = now + (int64_t)w->o.heartbeat_s * 1000000000;
		snprintf(reason, sizeof(reason),
			 "vigil watch is running (heartbeat every %u s): a missing heartbeat means "
			 "the agent was stopped or killed.",
			 w->o.heartbeat_s);
		watch_agent_alert(w, VIGIL_SEV_INFO, "heartbeat", reason, write_stats_extra, w);
	}
	for (size_t i = 0; i < w->nsinks; i++) {
		vigil_sink_stats st;
		char reason[512];
		bool failing;

		vigil_sink_get_stats(w->sinks[i], &st);
		failing = !st.connected && st.last_error != 0;
		if (failing == w->sink_failing[i])
			continue;
		w->sink_failing[i] = failing;
		if (failing)
			snprintf(reason, sizeof(reason),
				 "The output %s fails: %s. Alerts for it are kept in memory (and "
				 "the spool, if any) and delivered when it works again.",
				 w->sink_names[i], st.last_error_msg);
		else
			snprintf(reason, sizeof(reason), "The output %s works again.",
				 w->sink_names[i]);
		watch_agent_alert(w, failing ? VIGIL_SEV_ERROR : VIGIL_SEV_NOTICE,
				  failing ? "output_failed" : "output_recovered", reason,
				  write_stats_extra, w);
	}
	/* sd_watchdog_enabled(3): the loop is alive as long as it ticks. */
	if (w->watchdog)
		notify(w, "WATCHDOG=1");
	if (w->lost_internal) {
		w->lost_internal = false;
		watch_overflow(w, "vigil's own");
	}
	if (w->ino)
		ino_tick(w);
	/* A walk of the whole table: at most every GC_GAP_NS, not on every event. */
	if (w->tabn > PREC_MAX / 2 && now - w->gc_ns >= GC_GAP_NS)
		tab_gc(w, now);
}

static void apply_policy(vigil_watch *w, wpolicy *p)
{
	wroot *roots, *old = w->roots;
	size_t n, oldn = w->nroots;

	if (roots_build(w, p, &roots, &n) != 0) {
		watch_agent_alert(w, VIGIL_SEV_ERROR, "reload_failed",
				  "The new configuration could not be applied (out of memory); the "
				  "previous paths stay watched.",
				  NULL, NULL);
		return;
	}
	/* Roots watched before keep their method; new ones get marks below. */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < oldn; k++)
			if (strcmp(roots[i].canon, old[k].canon) == 0) {
				roots[i].method = old[k].method;
				memcpy(roots[i].how, old[k].how, sizeof(roots[i].how));
			}
	w->roots = roots;
	w->nroots = n;
	roots_free(old, oldn);
	if (w->fan)
		fan_mark_roots(w);
	if (w->ino || w->o.backend == VIGIL_WATCH_INOTIFY) {
		bool need = false;

		for (size_t i = 0; i < w->nroots; i++)
			need |= w->roots[i].method == METHOD_NONE;
		if (need && (w->ino != NULL || ino_open(w, NULL, 0) == 0))
			ino_watch_roots(w, false);
	}
}

static void write_reloaded_extra(FILE *f, void *user)
{
	write_roots(f, user);
}

/* The evaluator finished a reload: apply the policy it read (or report why not — it
 * already sent reload_failed). */
static void wake(vigil_watch *w)
{
	uint64_t n;
	wpolicy *p;
	bool reloaded, done;

	if (read(w->wakefd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a spurious wake-up. */
	}
	pthread_mutex_lock(&w->mu);
	p = w->new_policy;
	w->new_policy = NULL;
	reloaded = w->reload_done;
	w->reload_done = false;
	done = w->check_done;
	pthread_mutex_unlock(&w->mu);
	if (p != NULL) {
		apply_policy(w, p);
		wpolicy_free(p);
		if (reloaded) {
			watch_agent_alert(w, VIGIL_SEV_NOTICE, "reloaded",
					  "The configuration was reloaded; events were kept "
					  "throughout. Watched paths are listed in watch.",
					  write_reloaded_extra, w);
			notify(w, "READY=1");
		}
	} else if (reloaded) {
		notify(w, "READY=1");
	}
	if (done && w->check_running)
		check_finished(w);
}

static void request_reload(vigil_watch *w)
{
	wjob *j;

	notify(w, "RELOADING=1");
	if (!w->o.use_baseline) {
		watch_agent_alert(w, VIGIL_SEV_NOTICE, "reloaded",
				  "Reload asked: without a baseline there is no configuration to "
				  "read again; the PATHs given stay watched.",
				  NULL, NULL);
		notify(w, "READY=1");
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->type = JOB_RELOAD;
	/* In order behind what was already flushed: those are judged by the old policy,
	 * everything after by the new one. Events keep queuing in the kernel meanwhile. */
	eval_push(w, j, true);
}

static void on_signal(vigil_watch *w, wsource *s, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)s;
	(void)events;
	while (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			request_reload(w);
		} else if (!atomic_load(&w->stop_requested)) {
			atomic_store(&w->stop_requested, true);
			/* Who asked, read now: the sender (kill(1)) may exit at once. */
			if ((w->stop_si = malloc(sizeof(si))) != NULL)
				*w->stop_si = si;
			(void)vigil_proc_read((int)si.ssi_pid, -1, false, &w->stop_sender);
		}
	}
}

static void on_timer(vigil_watch *w, wsource *s, uint32_t events)
{
	uint64_t n;

	(void)s;
	(void)events;
	if (read(w->timerfd, &n, sizeof(n)) < 0) {
		/* EAGAIN after a re-arm: the deadlines below decide. */
	}
	w->armed_ns = 0;
	/* Flushing waits for the end of the loop iteration: see vigil_watch_run. */
}

static void on_tick(vigil_watch *w, wsource *s, uint32_t events)
{
	(void)s;
	(void)events;
	tick(w);
}

static void on_stop(vigil_watch *w, wsource *s, uint32_t events)
{
	uint64_t n;

	(void)s;
	(void)events;
	if (read(w->stopfd, &n, sizeof(n)) < 0) {
		/* EAGAIN: the flags below decide. */
	}
	if (atomic_exchange(&w->reload_requested, false))
		request_reload(w);
}

static void on_wake(vigil_watch *w, wsource *s, uint32_t events)
{
	(void)s;
	(void)events;
	wake(w);
}

static void on_mounts(vigil_watch *w, wsource *s, uint32_t events)
{
	(void)s;
	(void)events;
	if (w->fan)
		fan_mounts_changed(w);
}

static void on_ext(vigil_watch *w, wsource *s, uint32_t events)
{
	s->ext(s->user, w, events);
}

/* ---- public API ---- */

int vigil_watch_add_hook(vigil_watch *w, vigil_watch_hook_fn fn, void *user)
{
	if (atomic_load(&w->running) && !w->attaching)
		return VIGIL_E_INVALID;
	if (w->nhooks == WATCH_MAX_HOOKS)
		return VIGIL_E_LIMIT;
	w->hooks[w->nhooks].fn = fn;
	w->hooks[w->nhooks].user = user;
	w->nhooks++;
	return 0;
}

int vigil_watch_add_source(vigil_watch *w, int fd, uint32_t epoll_events, vigil_watch_source_fn fn,
			   void *user)
{
	if (atomic_load(&w->running) && !w->attaching)
		return VIGIL_E_INVALID;
	if (w->next == WATCH_MAX_SOURCES)
		return VIGIL_E_LIMIT;
	w->ext[w->next] = (wsource){.fd = fd, .ready = on_ext, .ext = fn, .user = user};
	w->ext_events[w->next] = epoll_events;
	w->next++;
	return 0;
}

const vigil_watch_options *vigil_watch_get_options(const vigil_watch *w)
{
	return &w->o;
}

void vigil_watch_stop(vigil_watch *w)
{
	uint64_t one = 1;

	atomic_store(&w->stop_requested, true);
	if (w->stopfd >= 0)
		(void)!write(w->stopfd, &one, sizeof(one));
}

void vigil_watch_reload(vigil_watch *w)
{
	uint64_t one = 1;

	atomic_store(&w->reload_requested, true);
	if (w->stopfd >= 0)
		(void)!write(w->stopfd, &one, sizeof(one));
}

void vigil_watch_get_stats(vigil_watch *w, vigil_watch_stats *st)
{
	st->events = atomic_load(&w->n_events);
	st->events_watched = atomic_load(&w->n_watched);
	st->alerts = atomic_load(&w->n_alerts);
	st->alerts_dropped = atomic_load(&w->n_dropped);
	st->overflows = atomic_load(&w->n_overflows);
	st->coalesced = atomic_load(&w->n_coalesced);
	st->rate_limited = atomic_load(&w->n_limited);
}

/* Takes a malloc'd array of string pointers into the watcher (freed with it). */
static int own_list(vigil_watch *w, const char **v)
{
	const char ***grown = realloc(w->lists, (w->nlists + 1) * sizeof(*grown));

	if (grown == NULL)
		return VIGIL_E_NOMEM;
	w->lists = grown;
	w->lists[w->nlists++] = v;
	return 0;
}

/* Copies a list of strings (n of them) into the watcher's strings. */
static int keep_list(vigil_watch *w, const char *const **dst, size_t *ndst, const char *const *src,
		     size_t n)
{
	const char **v;

	*dst = NULL;
	*ndst = 0;
	if (src == NULL)
		return 0;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return VIGIL_E_NOMEM;
	if (own_list(w, v) != 0) {
		free(v);
		return VIGIL_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (keep(w, &v[i], src[i]) != 0)
			return VIGIL_E_NOMEM;
	*dst = v;
	*ndst = n;
	return 0;
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* The config's [watch] section fills what the options left unset. */
static int merge_watch_config(vigil_watch *w, char *err, size_t cap)
{
	const vigil_watch_config *wc;
	vigil_config *c = NULL;
	vigil_watch_options *o = &w->o;
	int rc = 0;

	if (o->config_path != NULL) {
		char e[1024] = "";

		if ((rc = vigil_config_load(o->config_path, &c, e, sizeof(e))) != 0) {
			snprintf(err, cap, "%s", e[0] ? e : vigil_strerror(rc));
			return rc;
		}
		wc = &c->watch;
		if (o->respond == VIGIL_RESPOND_DEFAULT && wc->respond >= 0)
			o->respond = (vigil_watch_respond)(VIGIL_RESPOND_ALERT + wc->respond);
		if (o->raw_device_guard < 0)
			o->raw_device_guard = wc->raw_devices;
		if (o->exfil_staging < 0)
			o->exfil_staging = wc->exfil_staging;
		if (o->nice < 0)
			o->nice = wc->nice;
		if (o->raw_device_allow == NULL && strv_len(wc->raw_device_allow) > 0)
			rc |= keep_list(w, &o->raw_device_allow, &o->nraw_device_allow,
					(const char *const *)wc->raw_device_allow,
					strv_len(wc->raw_device_allow));
		if (o->allow == NULL && strv_len(wc->allow) > 0)
			rc |= keep_list(w, &o->allow, &o->nallow, (const char *const *)wc->allow,
					strv_len(wc->allow));
		if (o->exfil_dirs == NULL && strv_len(wc->exfil_dirs) > 0)
			rc |= keep_list(w, &o->exfil_dirs, &o->nexfil_dirs,
					(const char *const *)wc->exfil_dirs,
					strv_len(wc->exfil_dirs));
		if (o->canary_db == NULL)
			rc |= keep(w, &o->canary_db, wc->canaries);
		if (o->inventory_db == NULL)
			rc |= keep(w, &o->inventory_db, wc->inventory);
		if (strv_len(wc->protect) > 0) {
			/* Added to the options' own protected directories. */
			size_t n = o->nprotect + strv_len(wc->protect);
			const char **v = calloc(n + 1, sizeof(*v));

			if (v == NULL || own_list(w, v) != 0) {
				free(v);
				rc = VIGIL_E_NOMEM;
			} else {
				for (size_t i = 0; i < o->nprotect; i++)
					v[i] = o->protect[i];
				for (size_t i = 0; i < strv_len(wc->protect); i++)
					rc |= keep(w, &v[o->nprotect + i], wc->protect[i]);
				o->protect = v;
				o->nprotect = n;
			}
		}
		vigil_config_free(c);
		if (rc != 0)
			return VIGIL_E_NOMEM;
	}
	if (o->respond == VIGIL_RESPOND_DEFAULT)
		o->respond = VIGIL_RESPOND_ALERT;
	if (o->raw_device_guard < 0)
		o->raw_device_guard = 1;
	if (o->exfil_staging < 0)
		o->exfil_staging = 1;
	if (o->nice < 0)
		o->nice = VIGIL_WATCH_NICE;
	if (o->canary_db == NULL)
		o->canary_db = VIGIL_DEFAULT_CANARY_DB;
	if (o->inventory_db == NULL)
		o->inventory_db = VIGIL_DEFAULT_INVENTORY_DB;
	return 0;
}

static int copy_options(vigil_watch *w, const vigil_watch_options *o)
{
	int rc = 0;

	w->o = *o;
	w->o.paths = NULL; /* set to the resolved PATHs once they are */
	w->o.npaths = 0;
	rc |= keep_list(w, &w->o.protect, &w->o.nprotect, o->protect, o->nprotect);
	rc |= keep_list(w, &w->o.raw_device_allow, &w->o.nraw_device_allow, o->raw_device_allow,
			o->nraw_device_allow);
	rc |= keep_list(w, &w->o.allow, &w->o.nallow, o->allow, o->nallow);
	rc |= keep_list(w, &w->o.exfil_dirs, &w->o.nexfil_dirs, o->exfil_dirs, o->nexfil_dirs);
	rc |= keep(w, &w->o.canary_db, o->canary_db);
	rc |= keep(w, &w->o.inventory_db, o->inventory_db);
	rc |= keep(w, &w->o.db_path, o->db_path);
	rc |= keep(w, &w->o.config_path, o->config_path);
	rc |= keep(w, &w->o.key_path, o->key_path);
	rc |= keep(w, &w->o.public_key, o->public_key);
	rc |= keep(w, &w->o.alerts, o->alerts ? o->alerts : "-");
	rc |= keep(w, &w->o.syslog, o->syslog);
	rc |= keep(w, &w->o.ca_file, o->ca_file);
	rc |= keep(w, &w->o.cert_file, o->cert_file);
	rc |= keep(w, &w->o.cert_key, o->cert_key);
	rc |= keep(w, &w->o.spool_dir, o->spool_dir);
	return rc ? VIGIL_E_NOMEM : 0;
}

static int open_sinks(vigil_watch *w, char *err, size_t cap)
{
	vigil_sink_options so;
	char e[512];
	int rc;

	/* The sink opens its file in the background and keeps trying; a path that cannot
	 * work at all (no such directory, no permission) is a mistake to report now. */
	if (strcmp(w->o.alerts, "-") != 0) {
		int fd = open(w->o.alerts,
			      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
				  O_NONBLOCK,
			      0600);

		if (fd < 0) {
			snprintf(err, cap, "--alerts %s: %s", w->o.alerts, strerror(errno));
			return VIGIL_E_SYSTEM;
		}
		close(fd);
	}
	vigil_sink_options_default(&so);
	so.hostname = w->host;
	/* A local file is cheap to retry: a disk that fills and empties again is written
	 * to within a second. */
	so.backoff_max_ms = 1000;
	if ((rc = vigil_sink_open(w->o.alerts, &so, &w->sinks[0], e, sizeof(e))) != 0) {
		snprintf(err, cap, "--alerts %s: %s", w->o.alerts, e);
		return rc;
	}
	w->sink_names[0] = strcmp(w->o.alerts, "-") == 0 ? "standard output" : w->o.alerts;
	w->nsinks = 1;
	if (w->o.syslog == NULL)
		return 0;
	vigil_sink_options_default(&so);
	so.hostname = w->host;
	so.ca_file = w->o.ca_file;
	so.cert_file = w->o.cert_file;
	so.key_file = w->o.cert_key;
	so.spool_dir = w->o.spool_dir;
	if (w->o.spool_max_bytes)
		so.spool_max_bytes = w->o.spool_max_bytes;
	if ((rc = vigil_sink_open(w->o.syslog, &so, &w->sinks[1], e, sizeof(e))) != 0) {
		snprintf(err, cap, "--syslog %s: %s", w->o.syslog, e);
		return rc;
	}
	w->sink_names[1] = w->o.syslog;
	w->nsinks = 2;
	return 0;
}

int vigil_watch_new(const vigil_watch_options *o, vigil_watch **out, char *err, size_t cap)
{
	vigil_watch *w = calloc(1, sizeof(*w));
	wpolicy *pol = NULL;
	char e[1024] = "";
	uint8_t rnd[8 + 16];
	int rc;

	*out = NULL;
	if (cap > 0)
		err[0] = '\0';
	if (w == NULL)
		return VIGIL_E_NOMEM;
	w->epfd = w->sigfd = w->timerfd = w->tickfd = w->stopfd = w->wakefd = w->mountfd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->reported_mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->self = getpid();
	if ((rc = copy_options(w, o)) != 0 || (rc = merge_watch_config(w, err, cap)) != 0)
		goto out;
	if (!o->use_baseline && o->npaths == 0 && w->o.nprotect == 0) {
		snprintf(err, cap, "nothing to watch: give --db (a baseline) or PATHs");
		rc = VIGIL_E_INVALID;
		goto out;
	}
	if (o->coalesce_ms > 10000 || o->coalesce_max_ms > 60000) {
		snprintf(err, cap, "coalescing times above 10 s (or 60 s) would hide alerts");
		rc = VIGIL_E_INVALID;
		goto out;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(err, cap, "no random bytes: %s", strerror(errno));
		rc = VIGIL_E_SYSTEM;
		goto out;
	}
	memcpy(w->hkey, rnd, 16);
	snprintf(w->idbase, sizeof(w->idbase), "%02x%02x%02x%02x%02x%02x%02x%02x", rnd[16], rnd[17],
		 rnd[18], rnd[19], rnd[20], rnd[21], rnd[22], rnd[23]);
	if (gethostname(w->host, sizeof(w->host) - 1) != 0 || w->host[0] == '\0')
		snprintf(w->host, sizeof(w->host), "localhost");
	w->quiet_ns = (int64_t)o->coalesce_ms * 1000000;
	w->hold_ns =
	    (int64_t)(o->coalesce_max_ms > o->coalesce_ms ? o->coalesce_max_ms : o->coalesce_ms) *
	    1000000;
	if (o->rate_per_min > 0) {
		w->burst = o->rate_per_min;
		w->rate_per_ns = (double)o->rate_per_min / 60e9;
	}
	w->self_exe = realpath("/proc/self/exe", NULL);

	/* PATH arguments and protected directories: resolved now, so a relative path means
	 * the caller's directory. */
	if (o->npaths + w->o.nprotect > 0 &&
	    (w->pathargs = calloc(o->npaths + w->o.nprotect, sizeof(*w->pathargs))) == NULL) {
		rc = VIGIL_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < o->npaths + w->o.nprotect; i++) {
		const char *p = i < o->npaths ? o->paths[i] : w->o.protect[i - o->npaths];
		char *abs = realpath(p, NULL);

		if (abs == NULL) {
			snprintf(err, cap, "%s: %s", p, strerror(errno));
			rc = VIGIL_E_SYSTEM;
			goto out;
		}
		w->pathargs[w->npathargs++] = abs;
	}
	w->nwatched_args = o->npaths;
	/* From here on paths are every protected directory, absolute and resolved. */
	w->o.paths = (const char *const *)w->pathargs;
	w->o.npaths = w->npathargs;
	if (strcmp(w->o.alerts, "-") != 0)
		w->alerts_canon = canonical(w->o.alerts, false);
	if (w->o.spool_dir)
		w->spool_canon = canonical(w->o.spool_dir, false);

	if (o->use_baseline) {
		vigil_baseline_options_default(&w->bo);
		w->bo.db_path = w->o.db_path;
		w->bo.config_path = w->o.config_path;
		w->bo.key_path = w->o.key_path;
		w->bo.public_key = w->o.public_key;
		w->bo.jobs = o->jobs;
		w->bo.quick = true;
		if ((rc = vigil_baseline_open(&w->bo, &w->base, e, sizeof(e))) != 0) {
			snprintf(err, cap, "%s", e[0] ? e : vigil_strerror(rc));
			goto out;
		}
		if ((pol = wpolicy_from(w->base)) == NULL ||
		    (pol->nown > 0 && (w->db_abs = strdup(pol->own[0])) == NULL)) {
			rc = VIGIL_E_NOMEM;
			goto out;
		}
	}
	if ((rc = roots_build(w, pol, &w->roots, &w->nroots)) != 0)
		goto out;
	if (o->handle_signals) {
		sigset_t set;

		/* Before the sinks start their threads, which inherit the mask: a SIGTERM
		 * must reach our signalfd, not kill the process from another thread. */
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGHUP);
		if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
		    (w->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
			snprintf(err, cap, "signalfd: %s", strerror(errno));
			rc = VIGIL_E_SYSTEM;
			goto out;
		}
	}
	if ((w->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, cap, "eventfd: %s", strerror(errno));
		rc = VIGIL_E_SYSTEM;
		goto out;
	}
	if ((rc = open_sinks(w, err, cap)) != 0)
		goto out;
	rc = 0;
out:
	wpolicy_free(pol);
	if (rc != 0) {
		vigil_watch_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int setup_loop(vigil_watch *w, char *err, size_t cap)
{
	struct itimerspec one_s = {{1, 0}, {1, 0}};

	if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    (w->tickfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    timerfd_settime(w->tickfd, 0, &one_s, NULL) != 0) {
		snprintf(err, cap, "event loop: %s", strerror(errno));
		return VIGIL_E_SYSTEM;
	}
	w->src_timer = (wsource){.fd = w->timerfd, .ready = on_timer};
	w->src_tick = (wsource){.fd = w->tickfd, .ready = on_tick};
	w->src_stop = (wsource){.fd = w->stopfd, .ready = on_stop};
	w->src_wake = (wsource){.fd = w->wakefd, .ready = on_wake};
	if (watch_add_fd(w, &w->src_timer, EPOLLIN) != 0 ||
	    watch_add_fd(w, &w->src_tick, EPOLLIN) != 0 ||
	    watch_add_fd(w, &w->src_stop, EPOLLIN) != 0 ||
	    watch_add_fd(w, &w->src_wake, EPOLLIN) != 0) {
		snprintf(err, cap, "epoll: %s", strerror(errno));
		return VIGIL_E_SYSTEM;
	}
	if (w->sigfd >= 0) {
		w->src_sig = (wsource){.fd = w->sigfd, .ready = on_signal};
		if (watch_add_fd(w, &w->src_sig, EPOLLIN) != 0) {
			snprintf(err, cap, "epoll: %s", strerror(errno));
			return VIGIL_E_SYSTEM;
		}
	}
	/* The mount table: poll(2) reports a change with POLLPRI (proc(5), /proc/PID/mounts). */
	if ((w->mountfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)) >= 0) {
		w->src_mount = (wsource){.fd = w->mountfd, .ready = on_mounts};
		(void)watch_add_fd(w, &w->src_mount, EPOLLPRI);
	}
	for (size_t i = 0; i < w->next; i++)
		if (watch_add_fd(w, &w->ext[i], w->ext_events[i]) != 0) {
			snprintf(err, cap, "epoll: extra source: %s", strerror(errno));
			return VIGIL_E_SYSTEM;
		}
	return 0;
}

static int place_marks(vigil_watch *w, char *err, size_t cap)
{
	char why[512] = "";
	bool need_ino = false;

	if (w->o.backend != VIGIL_WATCH_INOTIFY) {
		if (fan_open(w, why, sizeof(why)) == 0) {
			fan_mark_roots(w);
		} else if (w->o.backend == VIGIL_WATCH_FANOTIFY) {
			snprintf(err, cap, "%s", why);
			return VIGIL_E_SYSTEM;
		}
	}
	for (size_t i = 0; i < w->nroots; i++)
		if (w->roots[i].method == METHOD_NONE) {
			if (w->o.backend == VIGIL_WATCH_FANOTIFY &&
			    !(w->roots[i].flags == ROOT_OWN)) {
				snprintf(err, cap, "%s: %s", w->roots[i].path, w->roots[i].how);
				return VIGIL_E_SYSTEM;
			}
			need_ino = true;
			if (w->roots[i].how[0] == '\0' && why[0])
				snprintf(w->roots[i].how, sizeof(w->roots[i].how), "%.180s", why);
		}
	if (need_ino && w->o.backend != VIGIL_WATCH_FANOTIFY) {
		char iwhy[256];

		if (ino_open(w, iwhy, sizeof(iwhy)) != 0) {
			snprintf(err, cap, "%s%s%s", why, why[0] ? "; " : "", iwhy);
			return VIGIL_E_SYSTEM;
		}
		ino_watch_roots(w, w->o.backend == VIGIL_WATCH_INOTIFY);
	}
	return 0;
}

/* Each defense plugs itself in before the loop is set up; one that cannot is left off and
 * the "started" alert says why. */
static void attach_defenses(vigil_watch *w)
{
	static const defense_ops *const all[] = {&defense_raw_device, &defense_canary,
						 &defense_destruction, &defense_exfil};

	w->attaching = true;
	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
		wdefense *d = &w->defenses[w->ndefenses++];

		d->ops = all[i];
		d->status[0] = '\0';
		d->rc = all[i]->attach(w, &d->state, d->status, sizeof(d->status));
		if (d->rc != 0)
			d->state = NULL;
	}
	w->attaching = false;
}

void vigil_watch_drain(vigil_watch *w)
{
	if (w->fan)
		fan_drain(w);
}

bool vigil_watch_is_protected(const vigil_watch *w, const char *path, size_t len)
{
	for (size_t i = 0; i < w->npathargs; i++)
		if (is_under(w->pathargs[i], strlen(w->pathargs[i]), path, len))
			return true;
	return false;
}

int vigil_watch_run(vigil_watch *w, char *err, size_t cap)
{
	struct epoll_event evs[32];
	int rc;

	if (cap > 0)
		err[0] = '\0';
	if (atomic_exchange(&w->running, true))
		return VIGIL_E_INVALID;
	attach_defenses(w);
	w->start_ns = watch_mono_ns();
	w->next_heartbeat_ns = w->start_ns + (int64_t)w->o.heartbeat_s * 1000000000;
	if ((rc = setup_loop(w, err, cap)) != 0 || (rc = place_marks(w, err, cap)) != 0)
		goto out;
	if ((rc = eval_start(w)) != 0) {
		snprintf(err, cap, "cannot start the evaluator thread");
		goto out;
	}
	started_alert(w);
	w->started = true;
	notify(w, "READY=1");
	{
		const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");

		w->watchdog = us && atoll(us) >= 2000000 && (!pid || atol(pid) == (long)w->self);
	}
	if (w->o.use_baseline && w->o.startup_check)
		check_start(w, DET_STARTUP_CHECK);
	if (atomic_load(&w->reload_requested) && atomic_exchange(&w->reload_requested, false))
		request_reload(w);

	while (!atomic_load(&w->stop_requested)) {
		uint64_t events_before = atomic_load(&w->n_events);
		int n = epoll_wait(w->epfd, evs, (int)(sizeof(evs) / sizeof(*evs)), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, cap, "epoll_wait: %s", strerror(errno));
			rc = VIGIL_E_SYSTEM;
			goto out;
		}
		w->backlog = false;
		for (int i = 0; i < n; i++) {
			wsource *s = evs[i].data.ptr;

			s->ready(w, s, evs[i].events);
		}
		/* A burst ends after a quiet time in the events as written, not as read: while
		 * the kernel still holds events (we fell behind), a record's next write may be
		 * among them, so it waits — unless it is overdue by a whole hold time. */
		if (w->heapn > 0) {
			int64_t now = watch_mono_ns();

			if (!w->backlog || w->heap[0]->deadline_ns + w->hold_ns < now)
				flush_due(w, now);
			else
				arm_timer(w, w->heap[0]->deadline_ns + w->hold_ns);
		}
		/* Events came: more are likely on their way (a burst). Reading each as it comes
		 * costs a wake-up of this thread per event, paid partly by the writer; a short
		 * pause lets the kernel queue the burst so that one read takes many. */
		if (!w->backlog && atomic_load(&w->n_events) != events_before)
			nanosleep(&(struct timespec){.tv_nsec = READ_PAUSE_NS}, NULL);
	}
	rc = 0;
out:
	notify(w, "STOPPING=1");
	/* What was seen is judged and sent before "stopping", so that alert is the last. */
	flush_all(w);
	eval_stop(w);
	atomic_store(&w->stop_requested, true); /* a running check stops at its next change */
	if (w->check_running) {
		pthread_join(w->check_thread, NULL);
		w->check_running = false;
	}
	if (w->started && !w->stopping_sent) {
		stopping_alert(w, w->stop_si);
		w->stopping_sent = true;
	}
	for (size_t i = 0; i < w->nsinks; i++)
		(void)vigil_sink_flush(w->sinks[i], 5000);
	return rc;
}

void vigil_watch_free(vigil_watch *w)
{
	if (w == NULL)
		return;
	if (w->eval_started)
		eval_stop(w);
	if (w->check_running)
		pthread_join(w->check_thread, NULL);
	for (size_t i = 0; i < w->ndefenses; i++)
		if (w->defenses[i].state != NULL)
			w->defenses[i].ops->detach(w->defenses[i].state);
	if (w->fan)
		fan_close(w);
	if (w->ino)
		ino_close(w);
	for (size_t i = 0; i < w->nsinks; i++)
		(void)vigil_sink_close(w->sinks[i], NULL);
	vigil_baseline_close(w->base);
	for (size_t i = 0; i < w->tabcap; i++)
		for (prec *p = w->tab[i], *next; p; p = next) {
			next = p->next;
			prec_free(p);
		}
	free(w->tab);
	free(w->rates);
	free(w->heap);
	for (size_t i = 0; i < sizeof(w->pcache) / sizeof(*w->pcache); i++)
		vigil_proc_unref(w->pcache[i].proc);
	roots_free(w->roots, w->nroots);
	for (size_t i = 0; i < w->npathargs; i++)
		free(w->pathargs[i]);
	free(w->pathargs);
	free(w->alerts_canon);
	free(w->spool_canon);
	free(w->self_exe);
	free(w->db_abs);
	wpolicy_free(w->new_policy);
	{
		int fds[] = {w->epfd,   w->sigfd,  w->timerfd, w->tickfd,
			     w->stopfd, w->wakefd, w->mountfd};

		for (size_t i = 0; i < sizeof(fds) / sizeof(*fds); i++)
			if (fds[i] >= 0)
				close(fds[i]);
	}
	vigil_proc_unref(w->stop_sender);
	free(w->stop_si);
	for (size_t i = 0; i < w->nstrs; i++)
		free(w->strs[i]);
	free(w->strs);
	for (size_t i = 0; i < w->nlists; i++)
		free(w->lists[i]);
	free(w->lists);
	watch_reported_free(w);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->reported_mu);
	pthread_cond_destroy(&w->cond);
	free(w);
}
