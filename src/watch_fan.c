/* SPDX-License-Identifier: Apache-2.0 */
/* The watcher's fanotify side: one notification group reporting directory file handles
 * with names (FAN_REPORT_DFID_NAME) and the acting process's pidfd, filesystem marks on
 * every file system holding a root (one mark covers a whole file system: no per-directory
 * watches, new subdirectories covered at once), event parsing, handle-to-path resolution
 * and the mount table (mounts appearing or vanishing under a root). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fan_event.h"
#include "json.h"
#include "watch_int.h"

/* Kernel headers older than the running kernel (Debian 12 ships 6.1's) may lack these;
 * the values are ABI (include/uapi/linux/fanotify.h). */
#ifndef FAN_REPORT_PIDFD
#define FAN_REPORT_PIDFD 0x00000080
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif

/* The read buffer: the kernel hands over as many whole events as fit. */
#define FAN_BUF 65536
/* Reads per wake-up before the loop looks at its other sources. */
#define FAN_READS_PER_WAKE 16
/* Directory handle -> path cache: DCACHE_SETS sets of DCACHE_WAYS, the least recently used
 * way replaced. An event is read after the fact: a directory removed meanwhile (rm -rf
 * reads its events after the whole subtree is gone) is named only if it is still here, so
 * a directory must not lose its slot to another one it happens to hash with. Handles up to
 * DCACHE_HANDLE bytes are kept (ext4 8-12, xfs and btrfs up to 40); longer ones are
 * resolved each time. */
#define DCACHE_SETS   4096
#define DCACHE_WAYS   4
#define DCACHE_SLOTS  (DCACHE_SETS * DCACHE_WAYS)
#define DCACHE_HANDLE 40
/* The mount table is read whole up to this size. */
#define MOUNTINFO_MAX (16u * 1024 * 1024)

typedef struct wfs {
	fsid_t fsid;
	dev_t dev;
	char *mnt;    /* a mount point of it, to open for open_by_handle_at */
	char *fstype; /* for messages */
	char *source;
	int mfd;        /* open during one batch of events, else -1 */
	uint64_t batch; /* the batch mfd was opened in */
	bool unusable;  /* mnt no longer leads to this file system */
	bool fs_marked; /* a filesystem mark (else only directory marks for our own files) */
} wfs;

typedef struct minfo {
	int id;
	dev_t dev;
	char *mnt, *fstype, *source;
	int method; /* a mount under a root: how it is watched */
	char how[192];
} minfo;

typedef struct dslot {
	uint64_t h;
	uint64_t used; /* the batch of events it was last used in */
	fsid_t fsid;
	int type;
	unsigned len;
	unsigned char handle[DCACHE_HANDLE];
	char *path; /* NULL with h set: the directory is gone (ESTALE), not asked again */
} dslot;

struct fan_state {
	int fd;
	wsource src;
	uint64_t mask;
	bool rename; /* FAN_RENAME: both names of a rename in one event */
	bool pidfd;  /* FAN_REPORT_PIDFD */
	wfs *fs;
	size_t nfs;
	minfo *subs; /* mounts under roots, as last seen */
	size_t nsubs;
	dslot *dcache;
	char *buf;
	char *dirbuf;
};

bool fan_active(const vigil_watch *w)
{
	return w->fan != NULL;
}

/* ---- the mount table ---- */

static void minfo_clear(minfo *m)
{
	free(m->mnt);
	free(m->fstype);
	free(m->source);
}

static void minfo_free(minfo *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		minfo_clear(&m[i]);
	free(m);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo (proc(5)). */
static char *unescape(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			*o++ =
			    (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* Splits the next space-separated field of [*p, end). */
static bool field(const char **p, const char *end, const char **f, size_t *n)
{
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	if (s >= end)
		return false;
	*f = s;
	while (s < end && *s != ' ')
		s++;
	*n = (size_t)(s - *f);
	*p = s;
	return true;
}

/* "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw" (proc(5)). */
static int parse_line(const char *s, const char *end, minfo *m)
{
	const char *f;
	size_t n;
	unsigned maj, min;
	char num[32];

	memset(m, 0, sizeof(*m));
	if (!field(&s, end, &f, &n) || n >= sizeof(num))
		return -1;
	memcpy(num, f, n);
	num[n] = '\0';
	m->id = atoi(num);
	if (!field(&s, end, &f, &n)) /* parent */
		return -1;
	if (!field(&s, end, &f, &n) || n >= sizeof(num))
		return -1;
	memcpy(num, f, n);
	num[n] = '\0';
	if (sscanf(num, "%u:%u", &maj, &min) != 2)
		return -1;
	m->dev = makedev(maj, min);
	if (!field(&s, end, &f, &n)) /* root within the file system */
		return -1;
	if (!field(&s, end, &f, &n))
		return -1;
	if ((m->mnt = unescape(f, n)) == NULL)
		return VIGIL_E_NOMEM;
	/* Optional fields end at a lone "-". */
	while (field(&s, end, &f, &n))
		if (n == 1 && f[0] == '-')
			break;
	if (field(&s, end, &f, &n))
		m->fstype = unescape(f, n);
	if (field(&s, end, &f, &n))
		m->source = unescape(f, n);
	return 0;
}

static int read_mounts(minfo **out, size_t *nout)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	minfo *m = NULL;
	size_t n = 0;
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);

	*out = NULL;
	*nout = 0;
	if (fd < 0)
		return VIGIL_E_SYSTEM;
	for (;;) {
		ssize_t r;

		if (len + 4096 > cap) {
			char *g;

			if (cap >= MOUNTINFO_MAX)
				break;
			cap = cap ? 2 * cap : 65536;
			if ((g = realloc(buf, cap)) == NULL) {
				free(buf);
				close(fd);
				return VIGIL_E_NOMEM;
			}
			buf = g;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	for (const char *s = buf, *end = buf + len; s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		minfo one, *g;

		if (parse_line(s, le, &one) == 0 && one.mnt != NULL) {
			if ((g = realloc(m, (n + 1) * sizeof(*m))) == NULL) {
				minfo_clear(&one);
				break;
			}
			m = g;
			m[n++] = one;
		} else {
			minfo_clear(&one);
		}
		s = le + 1;
	}
	free(buf);
	*out = m;
	*nout = n;
	return 0;
}

static bool under(const char *root, const char *path)
{
	size_t rl = strlen(root);

	return strncmp(root, path, rl) == 0 &&
	       (path[rl] == '\0' || path[rl] == '/' || (rl == 1 && root[0] == '/'));
}

/* The mount a path lies on: the last listed (the top of a stack) with the longest mount
 * point that is a prefix of path and the same device. */
static const minfo *mount_of(const minfo *m, size_t n, const char *path, dev_t dev)
{
	const minfo *best = NULL;
	size_t bl = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = m[i].mnt ? strlen(m[i].mnt) : 0;

		if (m[i].mnt && m[i].dev == dev && under(m[i].mnt, path) && l >= bl) {
			best = &m[i];
			bl = l;
		}
	}
	return best;
}

/* A mount lies under a root if its mount point is inside the root's tree. */
static bool mount_under_roots(const vigil_watch *w, const minfo *mi)
{
	for (size_t i = 0; i < w->nroots; i++)
		if (!(w->roots[i].flags & ROOT_OWN) && under(w->roots[i].canon, mi->mnt))
			return true;
	return false;
}

/* ---- marks ---- */

static bool same_fsid(const fsid_t *a, const fsid_t *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static wfs *fs_find(struct fan_state *f, const fsid_t *fsid)
{
	for (size_t i = 0; i < f->nfs; i++)
		if (same_fsid(&f->fs[i].fsid, fsid))
			return &f->fs[i];
	return NULL;
}

static void dcache_clear(struct fan_state *f)
{
	for (size_t i = 0; i < DCACHE_SLOTS; i++) {
		free(f->dcache[i].path);
		f->dcache[i].path = NULL;
		f->dcache[i].h = 0;
	}
}

/* Marks the file system holding path. Returns 0 (how says on what), or an errno value
 * with how saying why not. */
static int mark_fs(vigil_watch *w, const char *path, const minfo *mounts, size_t nmounts, char *how,
		   size_t cap, bool dir_only)
{
	struct fan_state *f = w->fan;
	struct statfs sfs;
	struct stat st;
	const minfo *mi;
	wfs *e, *grown;
	unsigned flags = FAN_MARK_ADD | (dir_only ? FAN_MARK_INODE : FAN_MARK_FILESYSTEM);
	int err;

	if (statfs(path, &sfs) != 0 || stat(path, &st) != 0) {
		err = errno;
		snprintf(how, cap, "cannot stat %s: %s", path, strerror(err));
		return err;
	}
	mi = mount_of(mounts, nmounts, path, st.st_dev);
	if ((e = fs_find(f, &sfs.f_fsid)) != NULL && !e->unusable && e->fs_marked) {
		snprintf(how, cap, "fanotify filesystem mark on %s %s (%s)",
			 e->fstype ? e->fstype : "?", e->source ? e->source : "?", e->mnt);
		return 0;
	}
	/* Our own files alone: a mark on their directory (with its children's events)
	 * rather than the whole file system, whose every event would cost us. */
	while (fanotify_mark(f->fd, flags, dir_only ? f->mask | FAN_EVENT_ON_CHILD : f->mask,
			     AT_FDCWD, path) != 0) {
		err = errno;
		/* FAN_RENAME (Linux 5.17) gives both names of a rename in one event; older
		 * kernels refuse the mask and get MOVED_FROM / MOVED_TO instead. */
		if (err == EINVAL && f->rename) {
			f->mask = (f->mask & ~(uint64_t)FAN_RENAME) | FAN_MOVED_FROM | FAN_MOVED_TO;
			f->rename = false;
			continue;
		}
		/* EXDEV: a btrfs subvolume or overlayfs whose fsid differs from its super
		 * block's; ENODEV: no fsid or no file handles (FUSE, some network file
		 * systems, tmpfs before Linux 6.7); EOPNOTSUPP: overlayfs; EPERM: no
		 * CAP_SYS_ADMIN in the initial user namespace (fanotify_mark(2)). */
		snprintf(how, cap, "fanotify cannot mark the %s file system of %s (%s)",
			 mi && mi->fstype ? mi->fstype : "?", path, strerror(err));
		return err;
	}
	if (e == NULL) {
		if ((grown = realloc(f->fs, (f->nfs + 1) * sizeof(*grown))) == NULL)
			return ENOMEM;
		f->fs = grown;
		e = &f->fs[f->nfs];
		memset(e, 0, sizeof(*e));
		e->fsid = sfs.f_fsid;
		e->dev = st.st_dev;
		e->mfd = -1;
		e->mnt = strdup(mi ? mi->mnt : path);
		e->fstype = mi && mi->fstype ? strdup(mi->fstype) : NULL;
		e->source = mi && mi->source ? strdup(mi->source) : NULL;
		if (e->mnt == NULL)
			return ENOMEM;
		f->nfs++;
	}
	e->unusable = false;
	e->fs_marked |= !dir_only;
	if (dir_only)
		snprintf(how, cap, "fanotify mark on the directory %s", path);
	else
		snprintf(how, cap, "fanotify filesystem mark on %s %s (%s)",
			 e->fstype ? e->fstype : "?", e->source ? e->source : "?", e->mnt);
	return 0;
}

/* A missing root is watched through its nearest existing ancestor's file system, so its
 * creation is seen. */
static char *existing_ancestor(const char *path)
{
	char *p = strdup(path);
	struct stat st;

	while (p != NULL && lstat(p, &st) != 0) {
		char *slash = strrchr(p, '/');

		if (slash == NULL || slash == p) {
			strcpy(p, "/");
			break;
		}
		*slash = '\0';
	}
	return p;
}

/* A sub-mount fanotify cannot mark is watched with inotify (bounded by that mount). */
static void watch_sub(vigil_watch *w, minfo *mi, const minfo *mounts, size_t n)
{
	char why[192];

	mi->method = METHOD_NONE;
	if (mark_fs(w, mi->mnt, mounts, n, mi->how, sizeof(mi->how), false) == 0) {
		mi->method = METHOD_FANOTIFY;
		return;
	}
	if (w->o.backend == VIGIL_WATCH_FANOTIFY)
		return;
	snprintf(why, sizeof(why), "%s", mi->how);
	if (w->ino != NULL || ino_open(w, NULL, 0) == 0) {
		ino_watch_tree(w, mi->mnt);
		mi->method = METHOD_INOTIFY;
		snprintf(mi->how, sizeof(mi->how), "inotify; %.170s", why);
	}
}

/* Moves the mounts under roots out of mounts (their strings become NULL there). */
static void keep_subs(const vigil_watch *w, minfo *mounts, size_t n, minfo **subs, size_t *nsubs)
{
	for (size_t i = 0; i < n; i++) {
		minfo *g;

		if (mounts[i].mnt == NULL || !mount_under_roots(w, &mounts[i]))
			continue;
		if ((g = realloc(*subs, (*nsubs + 1) * sizeof(**subs))) == NULL)
			return;
		*subs = g;
		g[*nsubs] = mounts[i];
		mounts[i].mnt = mounts[i].fstype = mounts[i].source = NULL;
		(*nsubs)++;
	}
}

void fan_mark_roots(vigil_watch *w)
{
	struct fan_state *f = w->fan;
	minfo *mounts = NULL, *subs = NULL;
	size_t nmounts = 0, nsubs = 0;

	(void)read_mounts(&mounts, &nmounts);
	/* Trees first: an own file on a file system marked for them needs nothing more. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < w->nroots; i++) {
			wroot *r = &w->roots[i];
			bool own = r->flags == ROOT_OWN;
			char *at;

			if (r->method != METHOD_NONE || own != (pass == 1))
				continue;
			if ((at = existing_ancestor(r->canon)) == NULL)
				continue;
			if (own && strcmp(at, r->canon) == 0) {
				char *slash = strrchr(at, '/');

				if (slash == at)
					slash[1] = '\0';
				else if (slash)
					*slash = '\0';
			}
			if (mark_fs(w, at, mounts, nmounts, r->how, sizeof(r->how), own) == 0)
				r->method = METHOD_FANOTIFY;
			free(at);
		}
	/* File systems mounted inside a root are part of its tree. */
	for (size_t i = 0; i < nmounts; i++)
		if (mount_under_roots(w, &mounts[i]))
			watch_sub(w, &mounts[i], mounts, nmounts);
	keep_subs(w, mounts, nmounts, &subs, &nsubs);
	minfo_free(f->subs, f->nsubs);
	f->subs = subs;
	f->nsubs = nsubs;
	minfo_free(mounts, nmounts);
}

static bool has_mount(const minfo *m, size_t n, const minfo *x)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].id == x->id && m[i].dev == x->dev && strcmp(m[i].mnt, x->mnt) == 0)
			return true;
	return false;
}

void fan_mounts_changed(vigil_watch *w)
{
	struct fan_state *f = w->fan;
	minfo *mounts = NULL, *subs = NULL;
	size_t nmounts = 0, nsubs = 0;

	if (read_mounts(&mounts, &nmounts) != 0)
		return;
	/* Paths through a changed mount table may have changed too. */
	dcache_clear(f);
	for (size_t i = 0; i < f->nfs; i++)
		f->fs[i].unusable = false;
	for (size_t i = 0; i < nmounts; i++)
		if (mount_under_roots(w, &mounts[i]) && !has_mount(f->subs, f->nsubs, &mounts[i])) {
			watch_sub(w, &mounts[i], mounts, nmounts);
			watch_mount_alert(w, mounts[i].mnt, true, mounts[i].fstype,
					  mounts[i].source, mounts[i].how);
		}
	for (size_t i = 0; i < f->nsubs; i++) {
		bool still = false;

		for (size_t k = 0; k < nmounts && !still; k++)
			still = mounts[k].id == f->subs[i].id && mounts[k].dev == f->subs[i].dev &&
				strcmp(mounts[k].mnt, f->subs[i].mnt) == 0;
		if (!still)
			watch_mount_alert(w, f->subs[i].mnt, false, f->subs[i].fstype,
					  f->subs[i].source, NULL);
	}
	/* A file system no longer mounted where we knew it: find it again, or forget it
	 * (its mark went with its super block when it was unmounted for good). */
	for (size_t i = 0; i < f->nfs;) {
		wfs *e = &f->fs[i];
		const minfo *mi = NULL;

		for (size_t k = 0; k < nmounts && mi == NULL; k++)
			if (mounts[k].dev == e->dev && strcmp(mounts[k].mnt, e->mnt) == 0)
				mi = &mounts[k];
		for (size_t k = 0; k < nmounts && mi == NULL; k++)
			if (mounts[k].dev == e->dev)
				mi = &mounts[k];
		if (mi == NULL) {
			free(e->mnt);
			free(e->fstype);
			free(e->source);
			if (e->mfd >= 0)
				close(e->mfd);
			f->fs[i] = f->fs[--f->nfs];
			continue;
		}
		if (strcmp(mi->mnt, e->mnt) != 0) {
			char *m = strdup(mi->mnt);

			if (m != NULL) {
				free(e->mnt);
				e->mnt = m;
			}
		}
		i++;
	}
	keep_subs(w, mounts, nmounts, &subs, &nsubs);
	minfo_free(f->subs, f->nsubs);
	f->subs = subs;
	f->nsubs = nsubs;
	minfo_free(mounts, nmounts);
}

/* ---- the group ---- */

static void on_fan(vigil_watch *w, wsource *s, uint32_t events);

int fan_open(vigil_watch *w, char *why, size_t cap)
{
	struct fan_state *f = calloc(1, sizeof(*f));
	unsigned base = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME;
	int e;

	if (f != NULL)
		f->fd = -1;
	if (f == NULL || (f->dcache = calloc(DCACHE_SLOTS, sizeof(*f->dcache))) == NULL ||
	    (f->buf = aligned_alloc(8, FAN_BUF)) == NULL ||
	    (f->dirbuf = malloc(PATH_MAX + 1)) == NULL) {
		snprintf(why, cap, "out of memory");
		goto fail;
	}
	/* The pidfd lets the process be read without mistaking a later one for it
	 * (Linux 5.15); without it the pid alone is used. */
	f->pidfd = true;
	f->fd = fanotify_init(base | FAN_REPORT_PIDFD, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (f->fd < 0 && errno == EINVAL) {
		f->pidfd = false;
		f->fd = fanotify_init(base, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	}
	if (f->fd < 0) {
		e = errno;
		snprintf(why, cap, "fanotify is unavailable: %s%s", strerror(e),
			 e == EPERM ? " (it needs CAP_SYS_ADMIN)"
			 : e == EINVAL || e == ENOSYS
			     ? " (directory events with names need Linux 5.9 or later)"
			     : "");
		errno = e;
		goto fail;
	}
	f->mask = FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_MODIFY | FAN_ONDIR |
		  FAN_RENAME;
	f->rename = true;
	w->fan = f;
	f->src = (wsource){.fd = f->fd, .ready = on_fan};
	if (watch_add_fd(w, &f->src, EPOLLIN) != 0) {
		snprintf(why, cap, "epoll: %s", strerror(errno));
		w->fan = NULL;
		goto fail;
	}
	return 0;
fail:
	if (f) {
		if (f->fd >= 0)
			close(f->fd);
		free(f->dcache);
		free(f->buf);
		free(f->dirbuf);
		free(f);
	}
	return VIGIL_E_SYSTEM;
}

void fan_close(vigil_watch *w)
{
	struct fan_state *f = w->fan;

	if (f == NULL)
		return;
	watch_del_fd(w, &f->src);
	close(f->fd);
	for (size_t i = 0; i < f->nfs; i++) {
		free(f->fs[i].mnt);
		free(f->fs[i].fstype);
		free(f->fs[i].source);
		if (f->fs[i].mfd >= 0)
			close(f->fs[i].mfd);
	}
	free(f->fs);
	minfo_free(f->subs, f->nsubs);
	dcache_clear(f);
	free(f->dcache);
	free(f->buf);
	free(f->dirbuf);
	free(f);
	w->fan = NULL;
}

/* ---- events ---- */

/* An fd on the file system, for open_by_handle_at. Opened once per batch and closed at
 * its end: an fd held open would make the file system busy, and `umount` would fail. */
static int mount_fd(vigil_watch *w, wfs *e)
{
	struct statfs sfs;

	if (e->unusable)
		return -1;
	if (e->mfd >= 0 && e->batch == w->batch)
		return e->mfd;
	if (e->mfd >= 0)
		close(e->mfd);
	/* O_PATH would not do: open_by_handle_at wants a real open file (EBADF). */
	e->mfd = open(e->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	e->batch = w->batch;
	if (e->mfd < 0)
		return -1;
	/* Something mounted over the mount point: handles of the wrong file system could
	 * decode to an unrelated file. */
	if (fstatfs(e->mfd, &sfs) != 0 || !same_fsid(&sfs.f_fsid, &e->fsid)) {
		close(e->mfd);
		e->mfd = -1;
		e->unusable = true;
		return -1;
	}
	return e->mfd;
}

static void close_mount_fds(struct fan_state *f)
{
	for (size_t i = 0; i < f->nfs; i++)
		if (f->fs[i].mfd >= 0) {
			close(f->fs[i].mfd);
			f->fs[i].mfd = -1;
		}
}

/* The first slot of the set for hash h: its high bits (the low bit of h is always set). */
static size_t dcache_set(uint64_t h)
{
	return (size_t)(h >> 40) % DCACHE_SETS * DCACHE_WAYS;
}

/* The slot of set h holding this handle, or NULL. */
static dslot *dcache_find(struct fan_state *f, uint64_t h, const fsid_t *fsid, int type,
			  const unsigned char *handle, unsigned hb)
{
	dslot *set = &f->dcache[dcache_set(h)];

	for (int i = 0; i < DCACHE_WAYS; i++) {
		dslot *d = &set[i];

		if (d->h == h && d->type == type && d->len == hb && same_fsid(&d->fsid, fsid) &&
		    memcmp(d->handle, handle, hb) == 0)
			return d;
	}
	return NULL;
}

/* The slot of set h to fill: an empty one, else the least recently used (a directory
 * known gone counts as older than any in use). */
static dslot *dcache_victim(struct fan_state *f, uint64_t h)
{
	dslot *set = &f->dcache[dcache_set(h)], *v = &set[0];

	for (int i = 0; i < DCACHE_WAYS; i++) {
		dslot *d = &set[i];

		if (d->h == 0)
			return d;
		if ((d->path == NULL) != (v->path == NULL) ? d->path == NULL : d->used < v->used)
			v = d;
	}
	return v;
}

static void dslot_set(dslot *d, uint64_t h, const fsid_t *fsid, int type,
		      const unsigned char *handle, unsigned hb, const char *path)
{
	free(d->path);
	d->path = path ? strdup(path) : NULL;
	/* Out of memory: the slot is left empty, not marked gone. */
	d->h = path && d->path == NULL ? 0 : h;
	d->fsid = *fsid;
	d->type = type;
	d->len = hb;
	memcpy(d->handle, handle, hb);
}

/* The directory a handle names, as a path now; NULL if it is gone or not resolvable. */
static const char *resolve_dir(vigil_watch *w, const fan_fid *fid)
{
	struct fan_state *f = w->fan;
	union {
		struct file_handle fh;
		unsigned char raw[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	unsigned char key[sizeof(fsid_t) + sizeof(int) + MAX_HANDLE_SZ];
	const fsid_t *fsid = &fid->fsid;
	unsigned hb = fid->handle_bytes; /* at most MAX_HANDLE_SZ (fan_event.h) */
	int type = fid->handle_type;
	char link[64];
	uint64_t h;
	dslot *d;
	wfs *e;
	int fd;
	ssize_t n;

	memcpy(key, fsid, sizeof(*fsid));
	memcpy(key + sizeof(*fsid), &type, sizeof(type));
	memcpy(key + sizeof(*fsid) + sizeof(type), fid->handle, hb);
	h = watch_hash(w, (const char *)key, sizeof(*fsid) + sizeof(type) + hb) | 1;
	if (hb <= DCACHE_HANDLE && (d = dcache_find(f, h, fsid, type, fid->handle, hb)) != NULL) {
		d->used = w->batch;
		return d->path;
	}
	d = hb <= DCACHE_HANDLE ? dcache_victim(f, h) : NULL;
	if ((e = fs_find(f, fsid)) == NULL)
		return NULL;
	u.fh.handle_bytes = hb;
	u.fh.handle_type = type;
	memcpy(u.fh.f_handle, fid->handle, hb);
	if (mount_fd(w, e) < 0)
		return NULL;
	if ((fd = open_by_handle_at(e->mfd, &u.fh, O_PATH | O_CLOEXEC)) < 0) {
		/* Removed since: a handle never decodes again (rm -rf leaves a burst of
		 * events in directories already gone), so that answer is kept too. */
		if (errno == ESTALE && d != NULL) {
			dslot_set(d, h, fsid, type, fid->handle, hb, NULL);
			d->used = w->batch;
		}
		return NULL;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, f->dirbuf, PATH_MAX);
	/* A directory removed since reads "... (deleted)" and has no links left. */
	if (n > 10 && memcmp(f->dirbuf + n - 10, " (deleted)", 10) == 0) {
		struct stat st;

		if (fstat(fd, &st) != 0 || st.st_nlink == 0)
			n = -1;
	}
	close(fd);
	if (n <= 0 || n >= PATH_MAX || f->dirbuf[0] != '/')
		return NULL;
	f->dirbuf[n] = '\0';
	if (d == NULL)
		return f->dirbuf;
	dslot_set(d, h, fsid, type, fid->handle, hb, f->dirbuf);
	d->used = w->batch;
	return d->path;
}

/* dir + "/" + name into out (PATH_MAX + NAME_MAX + 2); "." names the directory itself. */
static size_t join(char *out, size_t cap, const char *dir, const char *name)
{
	int n;

	if (name[0] == '\0' || strcmp(name, ".") == 0)
		n = snprintf(out, cap, "%s", dir);
	else if (strcmp(dir, "/") == 0)
		n = snprintf(out, cap, "/%s", name);
	else
		n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static uint32_t wev_of(uint64_t m)
{
	uint32_t e = 0;

	if (m & FAN_CREATE)
		e |= VIGIL_WEV_CREATE;
	if (m & FAN_DELETE)
		e |= VIGIL_WEV_DELETE;
	if (m & FAN_MODIFY)
		e |= VIGIL_WEV_MODIFY;
	if (m & FAN_CLOSE_WRITE)
		e |= VIGIL_WEV_CLOSE_WRITE;
	if (m & FAN_ATTRIB)
		e |= VIGIL_WEV_ATTRIB;
	if (m & FAN_MOVED_FROM)
		e |= VIGIL_WEV_MOVED_FROM;
	if (m & FAN_MOVED_TO)
		e |= VIGIL_WEV_MOVED_TO;
	if (m & FAN_RENAME)
		e |= VIGIL_WEV_MOVED_FROM | VIGIL_WEV_MOVED_TO;
	if (m & FAN_ONDIR)
		e |= VIGIL_WEV_ISDIR;
	return e;
}

/* Path buffers for one wake-up's events. */
struct fan_ctx {
	vigil_watch *w;
	char *path, *path2;
	size_t cap;
};

static void on_event(void *user, fan_event *fe)
{
	struct fan_ctx *c = user;
	vigil_watch *w = c->w;
	vigil_watch_event ev = {.pidfd = -1};

	if (fe->mask & FAN_Q_OVERFLOW) {
		ev.mask = VIGIL_WEV_OVERFLOW;
		watch_event(w, &ev, DET_FANOTIFY);
		return;
	}
	/* Our own writes (alert file, spool, the database we read) never loop back. */
	if (fe->pid == w->self)
		return;
	ev.mask = wev_of(fe->mask);
	ev.pid = fe->pid;
	ev.pidfd = fe->pidfd >= 0 ? fe->pidfd : -1; /* borrowed: the walker closes it */
	/* FAN_NOPIDFD: the process had exited by the time the event was read. */
	ev.pid_exited = fe->pidfd == FAN_NOPIDFD;
	ev.pidfd_failed =
	    fe->pidfd < 0 && fe->pidfd != FAN_NOPIDFD && fe->pidfd != FANEV_NO_PIDFD_INFO;
	ev.time_us = vigil_alert_now_us();
	if ((fe->mask & FAN_RENAME) && fe->old_dfid && fe->new_dfid) {
		const char *d1 = resolve_dir(w, fe->old_dfid);
		size_t n1 = d1 ? join(c->path, c->cap, d1, fe->old_dfid->name) : 0;
		const char *d2 = resolve_dir(w, fe->new_dfid);
		size_t n2 = d2 ? join(c->path2, c->cap, d2, fe->new_dfid->name) : 0;

		if (n1 && n2) {
			ev.path = c->path;
			ev.path_len = n1;
			ev.path2 = c->path2;
			ev.path2_len = n2;
		} else if (n2) { /* the old directory is gone already */
			ev.mask &= ~VIGIL_WEV_MOVED_FROM;
			ev.path = c->path2;
			ev.path_len = n2;
		} else if (n1) {
			ev.mask &= ~VIGIL_WEV_MOVED_TO;
			ev.path = c->path;
			ev.path_len = n1;
		}
	} else if (fe->dfid) {
		const char *d = resolve_dir(w, fe->dfid);
		size_t n = d ? join(c->path, c->cap, d, fe->dfid->name) : 0;

		if (n) {
			ev.path = c->path;
			ev.path_len = n;
		} else {
			/* Its directory went before the event was read, and is not in the
			 * cache: where it happened (in a watched tree or not) is unknown.
			 * Counted in the heartbeat and stopping alerts, not guessed. */
			atomic_fetch_add(&w->n_unnamed, 1);
		}
	}
	watch_event(w, &ev, DET_FANOTIFY);
	/* A directory renamed: cached paths below it are stale now. (One removed had nothing
	 * below it left, and its own handle no longer decodes: its entry can stay.) */
	if ((fe->mask & FAN_ONDIR) && (fe->mask & (FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO)))
		dcache_clear(w->fan);
}

static void on_fan(vigil_watch *w, wsource *s, uint32_t events)
{
	struct fan_state *f = w->fan;
	struct fan_ctx c = {.w = w, .cap = PATH_MAX + NAME_MAX + 2};
	bool more = true;
	int reads;

	(void)s;
	(void)events;
	c.path = malloc(c.cap);
	c.path2 = malloc(c.cap);
	if (c.path == NULL || c.path2 == NULL)
		goto out;
	/* One read at a time: the mount fds opened for a batch are closed after it. */
	for (reads = 0; more && reads < FAN_READS_PER_WAKE; reads++) {
		bool drained;

		w->batch++;
		if (fan_events_read(f->fd, f->buf, FAN_BUF, 1, on_event, &c, &drained) == 0)
			break;
		close_mount_fds(f);
		more = !drained;
	}
	if (more && reads == FAN_READS_PER_WAKE)
		w->backlog = true;
out:
	free(c.path);
	free(c.path2);
}

void fan_drain(vigil_watch *w)
{
	on_fan(w, &w->fan->src, EPOLLIN);
}

bool fan_covers_dev(const vigil_watch *w, dev_t dev)
{
	if (w->fan == NULL)
		return false;
	for (size_t i = 0; i < w->fan->nfs; i++)
		if (w->fan->fs[i].dev == dev)
			return true;
	return false;
}

void fan_write_mounts(FILE *f, const vigil_watch *w)
{
	fputs(",\"mounts\":[", f);
	for (size_t i = 0; w->fan && i < w->fan->nsubs; i++) {
		const minfo *m = &w->fan->subs[i];

		fputs(i ? ",{" : "{", f);
		vigil_alert_write_path(f, "path", m->mnt, strlen(m->mnt));
		fputs(",\"fs_type\":", f);
		vigil_json_string(f, m->fstype ? m->fstype : "", m->fstype ? strlen(m->fstype) : 0);
		fprintf(f, ",\"method\":\"%s\",\"how\":",
			m->method == METHOD_FANOTIFY  ? "fanotify"
			: m->method == METHOD_INOTIFY ? "inotify"
						      : "none");
		vigil_json_string(f, m->how, strlen(m->how));
		fputc('}', f);
	}
	fputc(']', f);
}
