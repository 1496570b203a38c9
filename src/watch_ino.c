/* SPDX-License-Identifier: Apache-2.0 */
/* The watcher's inotify fallback, for file systems fanotify cannot mark (or a kernel
 * without fanotify): one watch per directory, added for new directories as they appear
 * (their contents read at once, since files may have been made before the watch), and
 * roots that vanish tried again every second. inotify names no process. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "watch_int.h"

#define INO_MASK                                                                                   \
	(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_FROM |          \
	 IN_MOVED_TO | IN_DELETE_SELF | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define INO_BUF (64 * 1024)

typedef struct iwatch {
	struct iwatch *next;
	int wd;
	char *path;
	bool tree_root; /* the top of a watched tree: its own removal is reported */
} iwatch;

typedef struct itree {
	char *path; /* canonical */
	bool recursive;
	bool present;
} itree;

struct ino_state {
	int fd;
	wsource src;
	iwatch **tab;
	size_t tabcap, n;
	itree *trees;
	size_t ntrees;
	bool limit_reported;
	char *buf;
};

/* ---- wd -> path ---- */

static iwatch **slot_of(struct ino_state *s, int wd)
{
	return &s->tab[(unsigned)wd & (s->tabcap - 1)];
}

static iwatch *wd_find(struct ino_state *s, int wd)
{
	for (iwatch *i = *slot_of(s, wd); i; i = i->next)
		if (i->wd == wd)
			return i;
	return NULL;
}

static int wd_put(struct ino_state *s, int wd, const char *path, bool tree_root)
{
	iwatch *i = wd_find(s, wd);

	if (i != NULL) {
		/* The same directory reached again (a hard-linked name, or a rescan). */
		char *p = strdup(path);

		if (p == NULL)
			return VIGIL_E_NOMEM;
		free(i->path);
		i->path = p;
		i->tree_root |= tree_root;
		return 0;
	}
	if (s->n + 1 > s->tabcap) {
		size_t cap = s->tabcap * 2;
		iwatch **t = calloc(cap, sizeof(*t));

		if (t == NULL)
			return VIGIL_E_NOMEM;
		for (size_t k = 0; k < s->tabcap; k++)
			for (iwatch *x = s->tab[k], *next; x; x = next) {
				next = x->next;
				x->next = t[(unsigned)x->wd & (cap - 1)];
				t[(unsigned)x->wd & (cap - 1)] = x;
			}
		free(s->tab);
		s->tab = t;
		s->tabcap = cap;
	}
	if ((i = calloc(1, sizeof(*i))) == NULL || (i->path = strdup(path)) == NULL) {
		free(i);
		return VIGIL_E_NOMEM;
	}
	i->wd = wd;
	i->tree_root = tree_root;
	i->next = *slot_of(s, wd);
	*slot_of(s, wd) = i;
	s->n++;
	return 0;
}

static void wd_drop(struct ino_state *s, int wd)
{
	for (iwatch **pp = slot_of(s, wd); *pp; pp = &(*pp)->next)
		if ((*pp)->wd == wd) {
			iwatch *i = *pp;

			*pp = i->next;
			free(i->path);
			free(i);
			s->n--;
			return;
		}
}

/* Forgets (and removes) every watch at or below path: a directory renamed away would
 * otherwise keep reporting under its old name. */
static void drop_below(struct ino_state *s, const char *path)
{
	size_t pl = strlen(path);

	for (size_t k = 0; k < s->tabcap; k++)
		for (iwatch **pp = &s->tab[k]; *pp;) {
			iwatch *i = *pp;

			if (strncmp(i->path, path, pl) == 0 &&
			    (i->path[pl] == '\0' || i->path[pl] == '/')) {
				*pp = i->next;
				(void)inotify_rm_watch(s->fd, i->wd);
				free(i->path);
				free(i);
				s->n--;
				continue;
			}
			pp = &i->next;
		}
}

/* ---- adding trees ---- */

/* nftw(3) takes no user pointer; the watcher runs on one thread. */
static _Thread_local struct walk_ctx {
	vigil_watch *w;
	const char *top;
	bool report; /* entries found are new: report each as created */
	bool stopped;
	size_t added;
} * walk;

static void synth(vigil_watch *w, const char *path, uint32_t mask)
{
	vigil_watch_event ev = {.mask = mask,
				.path = path,
				.path_len = strlen(path),
				.pidfd = -1,
				.time_us = vigil_alert_now_us()};

	watch_event(w, &ev, DET_INOTIFY);
}

static void limit_alert(vigil_watch *w, const char *path)
{
	char reason[PATH_MAX + 256];

	if (w->ino->limit_reported)
		return;
	w->ino->limit_reported = true;
	snprintf(reason, sizeof(reason),
		 "The inotify watch limit was reached at %s after %zu directories: it and what "
		 "lies below are not watched. Raise fs.inotify.max_user_watches.",
		 path, w->ino->n);
	watch_agent_alert(w, VIGIL_SEV_ERROR, "watch_limit", reason, NULL, NULL);
}

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct walk_ctx *c = walk;
	struct ino_state *s = c->w->ino;
	int wd;

	if (c->stopped)
		return FTW_STOP;
	if (type != FTW_D) {
		if (c->report && ftw->level > 0)
			synth(c->w, path, VIGIL_WEV_CREATE);
		return FTW_CONTINUE;
	}
	/* A mounted file system fanotify covers is not watched twice. */
	if (ftw->level > 0 && fan_covers_dev(c->w, st->st_dev))
		return FTW_SKIP_SUBTREE;
	if (c->report && ftw->level > 0)
		synth(c->w, path, VIGIL_WEV_CREATE | VIGIL_WEV_ISDIR);
	wd = inotify_add_watch(s->fd, path, INO_MASK | IN_ONLYDIR);
	if (wd < 0) {
		if (errno == ENOSPC) {
			limit_alert(c->w, path);
			c->stopped = true;
			return FTW_STOP;
		}
		return FTW_SKIP_SUBTREE; /* vanished or unreadable */
	}
	if (wd_put(s, wd, path, ftw->level == 0 && strcmp(path, c->top) == 0) != 0)
		return FTW_STOP;
	c->added++;
	return FTW_CONTINUE;
}

static size_t add_tree(vigil_watch *w, const char *path, bool recursive, bool report,
		       bool tree_root)
{
	struct walk_ctx c = {.w = w, .top = path, .report = report};
	struct ino_state *s = w->ino;
	struct stat st;
	int wd;

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode) || !recursive) {
		/* A file root: its directory is watched (an editor replaces files by
		 * renaming over them, which an inode watch would miss). */
		char *dir = strdup(path), *slash;

		if (dir == NULL)
			return 0;
		slash = strrchr(dir, '/');
		if (S_ISDIR(st.st_mode))
			slash = NULL;
		else if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		wd = inotify_add_watch(s->fd, dir, INO_MASK | IN_ONLYDIR);
		if (wd < 0 && errno == ENOSPC)
			limit_alert(w, dir);
		if (wd >= 0)
			(void)wd_put(s, wd, dir, false);
		free(dir);
		return wd >= 0;
	}
	walk = &c;
	(void)nftw(path, walk_one, 32, FTW_PHYS | FTW_ACTIONRETVAL);
	walk = NULL;
	(void)tree_root;
	return c.added;
}

static void on_ino(vigil_watch *w, wsource *src, uint32_t events);

int ino_open(vigil_watch *w, char *why, size_t cap)
{
	struct ino_state *s;

	if (w->ino)
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->tab = calloc(1024, sizeof(*s->tab))) == NULL ||
	    (s->buf = aligned_alloc(8, INO_BUF)) == NULL) {
		if (s) {
			free(s->tab);
			free(s);
		}
		if (why)
			snprintf(why, cap, "out of memory");
		return VIGIL_E_NOMEM;
	}
	s->tabcap = 1024;
	if ((s->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		if (why)
			snprintf(why, cap, "inotify is unavailable: %s", strerror(errno));
		free(s->tab);
		free(s->buf);
		free(s);
		return VIGIL_E_SYSTEM;
	}
	s->src = (wsource){.fd = s->fd, .ready = on_ino};
	w->ino = s;
	if (watch_add_fd(w, &s->src, EPOLLIN) != 0) {
		if (why)
			snprintf(why, cap, "epoll: %s", strerror(errno));
		ino_close(w);
		return VIGIL_E_SYSTEM;
	}
	return 0;
}

static itree *tree_add(struct ino_state *s, const char *path, bool recursive)
{
	itree *g;

	for (size_t i = 0; i < s->ntrees; i++)
		if (strcmp(s->trees[i].path, path) == 0)
			return &s->trees[i];
	if ((g = realloc(s->trees, (s->ntrees + 1) * sizeof(*g))) == NULL)
		return NULL;
	s->trees = g;
	g = &s->trees[s->ntrees];
	if ((g->path = strdup(path)) == NULL)
		return NULL;
	g->recursive = recursive;
	g->present = false;
	s->ntrees++;
	return g;
}

static void watch_one_tree(vigil_watch *w, itree *t, bool report)
{
	struct stat st;

	if (lstat(t->path, &st) != 0) {
		t->present = false;
		return;
	}
	t->present = true;
	(void)add_tree(w, t->path, t->recursive, report, true);
}

void ino_watch_tree(vigil_watch *w, const char *path)
{
	itree *t;

	if (w->ino == NULL || (t = tree_add(w->ino, path, true)) == NULL)
		return;
	watch_one_tree(w, t, false);
}

void ino_watch_roots(vigil_watch *w, bool all)
{
	struct ino_state *s = w->ino;

	for (size_t i = 0; i < w->nroots; i++) {
		wroot *r = &w->roots[i];
		itree *t;
		size_t before = s->n;

		if (!all && r->method != METHOD_NONE)
			continue;
		if ((t = tree_add(s, r->canon, !(r->flags & ROOT_OWN))) == NULL)
			continue;
		watch_one_tree(w, t, false);
		r->method = METHOD_INOTIFY;
		{
			char prev[sizeof(r->how)];

			snprintf(prev, sizeof(prev), "%s", r->how);
			snprintf(r->how, sizeof(r->how), "inotify, %zu directory watch%s%s%s%.100s",
				 s->n - before, s->n - before == 1 ? "" : "es",
				 t->present ? "" : " (missing: tried again every second)",
				 prev[0] ? "; " : "", prev);
		}
	}
}

void ino_tick(vigil_watch *w)
{
	struct ino_state *s = w->ino;

	for (size_t i = 0; i < s->ntrees; i++) {
		itree *t = &s->trees[i];
		struct stat st;

		if (t->present || lstat(t->path, &st) != 0)
			continue;
		/* Back: it and what it holds are new. */
		t->present = true;
		synth(w, t->path, VIGIL_WEV_CREATE | (S_ISDIR(st.st_mode) ? VIGIL_WEV_ISDIR : 0));
		(void)add_tree(w, t->path, t->recursive, true, true);
	}
}

void ino_close(vigil_watch *w)
{
	struct ino_state *s = w->ino;

	if (s == NULL)
		return;
	watch_del_fd(w, &s->src);
	close(s->fd);
	for (size_t k = 0; k < s->tabcap; k++)
		for (iwatch *i = s->tab[k], *next; i; i = next) {
			next = i->next;
			free(i->path);
			free(i);
		}
	free(s->tab);
	for (size_t i = 0; i < s->ntrees; i++)
		free(s->trees[i].path);
	free(s->trees);
	free(s->buf);
	free(s);
	w->ino = NULL;
}

/* ---- events ---- */

static bool is_own_output(const vigil_watch *w, const char *path)
{
	size_t n;

	if (w->alerts_canon && strcmp(path, w->alerts_canon) == 0)
		return true;
	if (w->spool_canon && (n = strlen(w->spool_canon)) > 0 &&
	    strncmp(path, w->spool_canon, n) == 0 && (path[n] == '\0' || path[n] == '/'))
		return true;
	return false;
}

static uint32_t wev_of(uint32_t m)
{
	uint32_t e = 0;

	if (m & IN_CREATE)
		e |= VIGIL_WEV_CREATE;
	if (m & IN_DELETE)
		e |= VIGIL_WEV_DELETE;
	if (m & IN_MODIFY)
		e |= VIGIL_WEV_MODIFY;
	if (m & IN_CLOSE_WRITE)
		e |= VIGIL_WEV_CLOSE_WRITE;
	if (m & IN_ATTRIB)
		e |= VIGIL_WEV_ATTRIB;
	if (m & IN_MOVED_FROM)
		e |= VIGIL_WEV_MOVED_FROM;
	if (m & IN_MOVED_TO)
		e |= VIGIL_WEV_MOVED_TO;
	if (m & IN_ISDIR)
		e |= VIGIL_WEV_ISDIR;
	return e;
}

static void tree_gone(vigil_watch *w, const char *path)
{
	struct ino_state *s = w->ino;

	for (size_t i = 0; i < s->ntrees; i++)
		if (strcmp(s->trees[i].path, path) == 0)
			s->trees[i].present = false;
}

static void handle(vigil_watch *w, const struct inotify_event *ie, char *path, size_t cap)
{
	struct ino_state *s = w->ino;
	iwatch *iw;
	vigil_watch_event ev = {.pidfd = -1};
	size_t n;
	int k;

	if (ie->mask & IN_Q_OVERFLOW) {
		ev.mask = VIGIL_WEV_OVERFLOW;
		watch_event(w, &ev, DET_INOTIFY);
		return;
	}
	if ((iw = wd_find(s, ie->wd)) == NULL)
		return;
	/* The mount table watcher reports unmounts (with the file system's name). */
	if (ie->mask & IN_UNMOUNT)
		return;
	if (ie->mask & IN_IGNORED) {
		wd_drop(s, ie->wd);
		return;
	}
	if (ie->mask & IN_DELETE_SELF) {
		/* Only a tree's top needs this: below it, the parent reports the name. */
		if (iw->tree_root) {
			synth(w, iw->path, VIGIL_WEV_DELETE | VIGIL_WEV_ISDIR);
			tree_gone(w, iw->path);
		}
		return;
	}
	if (ie->len > 0 && ie->name[0] != '\0')
		k = snprintf(path, cap, "%s/%.*s", strcmp(iw->path, "/") == 0 ? "" : iw->path,
			     (int)strnlen(ie->name, ie->len), ie->name);
	else
		k = snprintf(path, cap, "%s", iw->path);
	if (k < 0 || (size_t)k >= cap)
		return;
	n = (size_t)k;
	if (is_own_output(w, path))
		return;
	ev.mask = wev_of(ie->mask);
	ev.path = path;
	ev.path_len = n;
	ev.time_us = vigil_alert_now_us();
	watch_event(w, &ev, DET_INOTIFY);
	if (ie->mask & IN_ISDIR) {
		if (ie->mask & (IN_MOVED_FROM | IN_DELETE))
			drop_below(s, path);
		if (ie->mask & (IN_CREATE | IN_MOVED_TO))
			(void)add_tree(w, path, true, true, false);
	}
}

static void on_ino(vigil_watch *w, wsource *src, uint32_t events)
{
	struct ino_state *s = w->ino;
	size_t cap = PATH_MAX + NAME_MAX + 2;
	char *path = malloc(cap);

	(void)src;
	(void)events;
	if (path == NULL)
		return;
	for (int reads = 0;; reads++) {
		ssize_t len;

		if (reads == 16) {
			w->backlog = true;
			break;
		}
		len = read(s->fd, s->buf, INO_BUF);
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		w->batch++;
		for (char *p = s->buf; p + sizeof(struct inotify_event) <= s->buf + len;) {
			const struct inotify_event *ie = (const void *)p;
			size_t sz = sizeof(*ie) + ie->len;

			if (p + sz > s->buf + len)
				break;
			handle(w, ie, path, cap);
			/* A handler may have closed the group (never today) — stop then. */
			if (w->ino == NULL)
				break;
			p += sz;
		}
	}
	free(path);
}
