/* SPDX-License-Identifier: Apache-2.0 */
/* Depth-first directory walk over directory fds, in sorted order, with an explicit stack. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "walk.h"

/* One open directory fd per level: deeper trees are reported, not walked. */
#define MAX_DEPTH 4096
/* Symlink hops when resolving a followed link to a file; the kernel's MAXSYMLINKS. */
#define MAX_LINK_HOPS 40

/* Not in every <linux/magic.h>. */
#ifndef CONFIGFS_MAGIC
#define CONFIGFS_MAGIC 0x62656570
#endif
#ifndef FUSECTL_SUPER_MAGIC
#define FUSECTL_SUPER_MAGIC 0x65735543
#endif

struct frame {
	int fd;    /* the directory, open while the level is being walked */
	dev_t dev; /* (dev, ino) of the directory, for loop detection */
	ino_t ino;
	size_t path_len; /* length of the directory's path in walk.path */
	char *names;     /* entry names, NUL-separated */
	char **list;     /* pointers into names, sorted */
	size_t n, next;
};

struct walk {
	const vigil_walk_options *o;
	const vigil_walk_callbacks *cb;
	dev_t root_dev;
	char *path; /* the current entry's full path; grows, never handed to a syscall */
	size_t path_len, path_cap;
	struct frame *stack;
	size_t depth, stack_cap;
};

static pthread_once_t nofile_once = PTHREAD_ONCE_INIT;

/* One fd per directory level: make the hard limit available. Failure only means an
 * earlier EMFILE, which the walk reports. */
static void raise_nofile(void)
{
	struct rlimit rl;
	int saved = errno;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rlim_t max = rl.rlim_max;
		rl.rlim_cur = max;
		/* RLIM_INFINITY is refused above fs.nr_open (setrlimit(2)); its default is 2^20. */
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && max == RLIM_INFINITY) {
			rl.rlim_cur = (rlim_t)1 << 20;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	errno = saved;
}

bool vigil_path_excluded(const char *path, const char *const *globs)
{
	const char *slash, *base;

	if (globs == NULL)
		return false;
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	/* No FNM_PATHNAME: as in find -path, a '*' also matches '/' and so spans any depth;
	 * the base-name match makes "*.log" work anywhere in the tree. */
	for (size_t i = 0; globs[i] != NULL; i++) {
		if (fnmatch(globs[i], path, 0) == 0)
			return true;
		if (*base != '\0' && base != path && fnmatch(globs[i], base, 0) == 0)
			return true;
	}
	return false;
}

static void report(struct walk *w, vigil_skip reason, int err)
{
	if (w->cb->on_skip)
		w->cb->on_skip(w->cb->user, w->path, reason, err);
}

/* A failed lstat/open of an entry readdir listed: gone is not the same as unreadable. */
static void report_errno(struct walk *w, int err)
{
	report(w, err == ENOENT ? VIGIL_SKIP_VANISHED : VIGIL_SKIP_UNREADABLE, err);
}

static int path_reserve(struct walk *w, size_t need)
{
	char *p;
	size_t cap;

	if (need <= w->path_cap)
		return 0;
	cap = w->path_cap ? w->path_cap : 256;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(w->path, cap)) == NULL)
		return VIGIL_E_NOMEM;
	w->path = p;
	w->path_cap = cap;
	return 0;
}

/* path = the directory's path (its first dir_len bytes) + "/" + name. */
static int path_child(struct walk *w, size_t dir_len, const char *name)
{
	size_t nlen = strlen(name);
	/* Only the root "/" ends in a slash: "/etc", not "//etc". */
	size_t sep = (dir_len > 0 && w->path[dir_len - 1] == '/') ? 0 : 1;
	int r;

	if ((r = path_reserve(w, dir_len + sep + nlen + 1)) != 0)
		return r;
	if (sep)
		w->path[dir_len] = '/';
	memcpy(w->path + dir_len + sep, name, nlen + 1);
	w->path_len = dir_len + sep + nlen;
	return 0;
}

/* The root as given, minus trailing slashes ("/" stays "/"). */
static int path_init(struct walk *w, const char *root)
{
	size_t len = strlen(root);
	int r;

	while (len > 1 && root[len - 1] == '/')
		len--;
	if ((r = path_reserve(w, len + 1)) != 0)
		return r;
	memcpy(w->path, root, len);
	w->path[len] = '\0';
	w->path_len = len;
	return 0;
}

static int open_dir(int dirfd, const char *name, int extra)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | extra;
	int fd = openat(dirfd, name, flags | O_NOATIME);

	/* O_NOATIME needs ownership or CAP_FOWNER (open(2)): retry without it. */
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags);
	return fd;
}

/* Pseudo file systems: their files are generated on read, some block or have side
 * effects (/proc/kmsg, tracefs trace_pipe), and none holds data at rest. devtmpfs is not
 * here: it reports TMPFS_MAGIC, and its device nodes are never opened anyway. */
static bool is_pseudo_fs(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) != 0)
		return false;
	switch ((unsigned long)sf.f_type) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case PSTOREFS_MAGIC:
	case BPF_FS_MAGIC:
	case CONFIGFS_MAGIC:
	case SELINUX_MAGIC:
	case SMACK_MAGIC:
	case BINFMTFS_MAGIC:
	case EFIVARFS_MAGIC:
	case FUSECTL_SUPER_MAGIC:
		return true;
	default:
		return false;
	}
}

static bool is_pseudo_path(const char *path)
{
	static const char *const paths[] = {"/proc", "/sys", "/dev", "/run"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strcmp(path, paths[i]) == 0)
			return true;
	return false;
}

static bool on_current_path(const struct walk *w, const struct stat *st)
{
	for (size_t i = 0; i < w->depth; i++)
		if (w->stack[i].dev == st->st_dev && w->stack[i].ino == st->st_ino)
			return true;
	return false;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Read all names of the directory fd (not . and ..) into f, sorted. The listing goes
 * through a dup so that closedir releases readdir's buffer while fd stays open for the
 * *at calls: one buffer per level would cost 32 KiB x depth.
 * Returns 0, VIGIL_E_NOMEM, or VIGIL_E_SYSTEM with errno (names read so far are kept).
 */
static int read_names(int fd, struct frame *f)
{
	size_t used = 0, cap = 0, n = 0, ncap = 0;
	char *names = NULL;
	size_t *offs = NULL;
	DIR *d = NULL;
	struct dirent *de;
	int r, dfd, err = 0;

	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return VIGIL_E_SYSTEM;
	if ((d = fdopendir(dfd)) == NULL) {
		err = errno;
		close(dfd);
		errno = err;
		return VIGIL_E_SYSTEM;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			err = errno;
			break;
		}
		const char *nm = de->d_name;
		if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
			continue;
		size_t len = strlen(nm) + 1;
		if (used + len > cap) {
			size_t ncap2 = cap ? cap : 1024;
			while (ncap2 < used + len)
				ncap2 *= 2;
			char *p = realloc(names, ncap2);
			if (p == NULL) {
				r = VIGIL_E_NOMEM;
				goto out;
			}
			names = p;
			cap = ncap2;
		}
		if (n == ncap) {
			size_t ncap2 = ncap ? ncap * 2 : 32;
			size_t *p = realloc(offs, ncap2 * sizeof(*offs));
			if (p == NULL) {
				r = VIGIL_E_NOMEM;
				goto out;
			}
			offs = p;
			ncap = ncap2;
		}
		memcpy(names + used, nm, len);
		offs[n++] = used;
		used += len;
	}
	/* Offsets until the arena stops moving, then pointers. */
	if (n > 0) {
		if ((f->list = malloc(n * sizeof(*f->list))) == NULL) {
			r = VIGIL_E_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			f->list[i] = names + offs[i];
		qsort(f->list, n, sizeof(*f->list), cmp_names);
	}
	f->names = names;
	names = NULL; /* transferred */
	f->n = n;
	r = err ? VIGIL_E_SYSTEM : 0;
out:
	closedir(d);
	free(names);
	free(offs);
	errno = err;
	return r;
}

/* Push the directory fd (its path is w->path) and announce it. Takes fd. */
static int push_dir(struct walk *w, int fd, const struct stat *st)
{
	struct frame *f;
	int r, err;

	if (w->depth == w->stack_cap) {
		size_t cap = w->stack_cap ? w->stack_cap * 2 : 16;
		struct frame *s = realloc(w->stack, cap * sizeof(*s));
		if (s == NULL) {
			close(fd);
			return VIGIL_E_NOMEM;
		}
		w->stack = s;
		w->stack_cap = cap;
	}
	f = &w->stack[w->depth];
	*f =
	    (struct frame){.fd = fd, .dev = st->st_dev, .ino = st->st_ino, .path_len = w->path_len};
	r = read_names(fd, f);
	err = errno;
	if (r == VIGIL_E_NOMEM) {
		free(f->names);
		free(f->list);
		close(fd);
		return r;
	}
	w->depth++;
	/* Called once the names are read and before any is examined, so a caller (and the
	 * tests) can count on entries removed now being reported as vanished. */
	if (w->cb->on_dir)
		w->cb->on_dir(w->cb->user, w->path);
	/* A listing that failed part-way is still walked as far as it got. */
	if (r == VIGIL_E_SYSTEM)
		report(w, VIGIL_SKIP_UNREADABLE, err);
	return 0;
}

static void pop_dir(struct walk *w)
{
	struct frame *f = &w->stack[--w->depth];

	close(f->fd);
	free(f->names);
	free(f->list);
}

/*
 * A followed link to a regular file: find the directory and name of the file itself, so
 * the consumer can openat(dirfd, name) with O_NOFOLLOW and compare with the target's stat.
 * On success *out_fd is a new O_PATH fd (or -1: use dirfd) and *out_name is allocated.
 * Returns 0 or an errno value.
 */
static int resolve_file_link(int dirfd, const char *name, int *out_fd, char **out_name)
{
	int owned = -1, cur = dirfd, err = 0;
	char *nm = strdup(name);

	*out_fd = -1;
	*out_name = NULL;
	if (nm == NULL)
		return ENOMEM;
	for (int hop = 0;; hop++) {
		struct stat st;
		char text[PATH_MAX], *slash, *base;
		int nfd;

		if (fstatat(cur, nm, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			err = errno;
			goto fail;
		}
		if (!S_ISLNK(st.st_mode))
			break;
		if (hop == MAX_LINK_HOPS) {
			err = ELOOP;
			goto fail;
		}
		/* The kernel keeps link text below PATH_MAX (symlink(2), ENAMETOOLONG). */
		ssize_t len = readlinkat(cur, nm, text, sizeof(text));
		if (len < 0 || len == (ssize_t)sizeof(text)) {
			err = len < 0 ? errno : ENAMETOOLONG;
			goto fail;
		}
		text[len] = '\0';
		while (len > 1 && text[len - 1] == '/')
			text[--len] = '\0';
		slash = strrchr(text, '/');
		base = slash ? slash + 1 : text;
		/* "", ".", ".." or "/" is a directory: the target changed after its stat. */
		if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
			err = ENOENT;
			goto fail;
		}
		if (slash) {
			*slash = '\0';
			/* Intermediate directories may be links too: the kernel follows them. */
			nfd = openat(cur, slash == text ? "/" : text,
				     O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (nfd < 0) {
				err = errno;
				goto fail;
			}
			if (owned >= 0)
				close(owned);
			owned = cur = nfd;
		}
		free(nm);
		if ((nm = strdup(base)) == NULL) {
			err = ENOMEM;
			goto fail;
		}
	}
	*out_fd = owned;
	*out_name = nm;
	return 0;
fail:
	if (owned >= 0)
		close(owned);
	free(nm);
	return err;
}

static int report_file(struct walk *w, int dirfd, const char *name, const struct stat *st,
		       bool via_link)
{
	vigil_walk_entry e = {
	    .path = w->path, .path_len = w->path_len, .dirfd = dirfd, .name = name, .st = st};
	char *target = NULL;
	int tfd = -1, r, err;

	if (w->cb->on_file == NULL)
		return 0;
	if (via_link) {
		if ((err = resolve_file_link(dirfd, name, &tfd, &target)) != 0) {
			if (err == ENOMEM)
				return VIGIL_E_NOMEM;
			report(w,
			       err == ELOOP    ? VIGIL_SKIP_LOOP
			       : err == ENOENT ? VIGIL_SKIP_VANISHED
					       : VIGIL_SKIP_UNREADABLE,
			       err);
			return 0;
		}
		e.dirfd = tfd >= 0 ? tfd : dirfd;
		e.name = target;
	}
	r = w->cb->on_file(w->cb->user, &e);
	if (tfd >= 0)
		close(tfd);
	free(target);
	return r;
}

static int enter_dir(struct walk *w, int dirfd, dev_t parent_dev, const char *name,
		     const struct stat *st, bool via_link)
{
	struct stat real;
	int fd;

	if (w->o->skip_pseudo && is_pseudo_path(w->path))
		return 0;
	/* Like find -xdev: the mount point's own contents are not ours to walk. */
	if (w->o->one_file_system && st->st_dev != w->root_dev)
		return 0;
	/* Only links can make a directory its own ancestor (hard links to directories do
	 * not exist), but checking every directory costs little and also covers them. */
	if (on_current_path(w, st)) {
		report(w, VIGIL_SKIP_LOOP, 0);
		return 0;
	}
	if (w->depth >= MAX_DEPTH) {
		report(w, VIGIL_SKIP_UNREADABLE, ENAMETOOLONG);
		return 0;
	}
	if ((fd = open_dir(dirfd, name, via_link ? 0 : O_NOFOLLOW)) < 0) {
		/* ELOOP or ENOTDIR: a link or a file took the directory's place after fstatat. */
		int err = errno;
		report(w,
		       (err == ENOENT || err == ELOOP || err == ENOTDIR) ? VIGIL_SKIP_VANISHED
									 : VIGIL_SKIP_UNREADABLE,
		       err);
		return 0;
	}
	if (fstat(fd, &real) != 0) {
		report(w, VIGIL_SKIP_UNREADABLE, errno);
		close(fd);
		return 0;
	}
	if (real.st_dev != st->st_dev || real.st_ino != st->st_ino) {
		report(w, VIGIL_SKIP_VANISHED, 0);
		close(fd);
		return 0;
	}
	/* Only a mount point can change the file system: fstatfs once per crossing. */
	if (real.st_dev != parent_dev && is_pseudo_fs(fd)) {
		close(fd);
		return 0;
	}
	return push_dir(w, fd, &real);
}

/* The entry `name` of the top directory; its path is in w->path. */
static int visit(struct walk *w, const char *name)
{
	assert(w->depth > 0);
	/* Copied: the stack may move when enter_dir grows it. */
	const int dirfd = w->stack[w->depth - 1].fd;
	const dev_t parent_dev = w->stack[w->depth - 1].dev;
	bool via_link = false;
	struct stat st;

	if (vigil_path_excluded(w->path, w->o->excludes))
		return 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0) {
		report_errno(w, errno);
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		if (!w->o->follow_symlinks)
			return 0;
		if (fstatat(dirfd, name, &st, AT_NO_AUTOMOUNT) != 0) {
			int err = errno;
			/* A dangling link holds nothing to scan. */
			if (err == ENOENT)
				return 0;
			if (err == ELOOP)
				report(w, VIGIL_SKIP_LOOP, err);
			else
				report(w, VIGIL_SKIP_UNREADABLE, err);
			return 0;
		}
		via_link = true;
	}
	if (S_ISREG(st.st_mode))
		return report_file(w, dirfd, name, &st, via_link);
	if (S_ISDIR(st.st_mode))
		return enter_dir(w, dirfd, parent_dev, name, &st, via_link);
	report(w, VIGIL_SKIP_SPECIAL, 0);
	return 0;
}

/* A root that is a file: the entry needs its directory open and, for a link, the target. */
static int walk_root_file(struct walk *w, const struct stat *st)
{
	char *copy = strdup(w->path), *slash, *base;
	int dirfd = -1, r;

	if (copy == NULL)
		return VIGIL_E_NOMEM;
	slash = strrchr(copy, '/');
	if (slash) {
		*slash = '\0';
		base = slash + 1;
		dirfd = open(slash == copy ? "/" : copy, O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else {
		base = copy;
		dirfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (dirfd < 0) {
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	/* A link named on the command line is followed: the user wants its target. */
	r = report_file(w, dirfd, base, st, true);
out:
	if (dirfd >= 0) {
		int err = errno;
		close(dirfd);
		errno = err;
	}
	free(copy);
	return r;
}

int vigil_walk(const char *root, const vigil_walk_options *o, const vigil_walk_callbacks *cb)
{
	static const vigil_walk_options no_options;
	struct walk w = {.o = o ? o : &no_options, .cb = cb};
	struct stat st;
	int r, fd, err;

	if (root == NULL || cb == NULL)
		return VIGIL_E_INVALID;
	pthread_once(&nofile_once, raise_nofile);
	/* stat, not lstat: a root that is a link is followed. The string as given, so
	 * "file/" fails with ENOTDIR as it should. */
	if (stat(root, &st) != 0)
		return VIGIL_E_SYSTEM;
	if ((r = path_init(&w, root)) != 0)
		goto out;
	if (vigil_path_excluded(w.path, w.o->excludes)) {
		r = 0;
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		r = walk_root_file(&w, &st);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		report(&w, VIGIL_SKIP_SPECIAL, 0);
		r = 0;
		goto out;
	}
	if ((fd = open_dir(AT_FDCWD, w.path, 0)) < 0) {
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		err = errno;
		close(fd);
		errno = err;
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	w.root_dev = st.st_dev;
	if ((r = push_dir(&w, fd, &st)) != 0)
		goto out;
	while (w.depth > 0) {
		struct frame *f = &w.stack[w.depth - 1];
		if (f->next == f->n) {
			pop_dir(&w);
			continue;
		}
		/* The name lives in f->names, which stays put when the stack grows. */
		const char *name = f->list[f->next++];
		if ((r = path_child(&w, f->path_len, name)) != 0)
			goto out;
		if ((r = visit(&w, name)) != 0)
			goto out;
	}
	r = 0;
out:
	err = errno;
	while (w.depth > 0)
		pop_dir(&w);
	free(w.stack);
	free(w.path);
	errno = err;
	return r;
}
