/* SPDX-License-Identifier: Apache-2.0 */
/* One baseline entry: read from the file system (lstat, content digest, xattrs, inode
 * flags) with as few system calls as possible, compared with another, and shown. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "input.h"
#include "meta.h"

/* One read per file for nearly every file in /usr, few enough calls for large ones. */
#define READ_BUF (256 * 1024)

/* The VFS caps a name list and a value at 64 KiB (XATTR_LIST_MAX, XATTR_SIZE_MAX), so a
 * buffer that size never sees ERANGE. The read buffer holds the list, one value and the
 * /proc path while xattrs are read; content is hashed only after that. */
#define XATTR_CAP  65536
#define XLIST_OFF  0
#define XVALUE_OFF XATTR_CAP
#define XPATH_OFF  (2 * XATTR_CAP)
#define XPATH_CAP  (PATH_MAX + 64)
_Static_assert(XPATH_OFF + XPATH_CAP <= READ_BUF, "read buffer too small for xattrs");

/* What boot_sector covers: the MBR or protective MBR, the GPT, and the gap before the
 * first partition at 1 MiB where boot loaders (GRUB core.img) live. */
#define BOOT_SECTOR_BYTES (1024 * 1024)

/* What chattr can set and an intruder would: the user-visible flags plus nocow, dax,
 * casefold, project inherit and verity; not "indexed directory", which ext4 sets by itself
 * when a directory outgrows one block. */
#define FLAGS_MASK                                                                                 \
	((FS_FL_USER_VISIBLE | FS_NOCOW_FL | FS_DAX_FL | FS_CASEFOLD_FL | FS_PROJINHERIT_FL |      \
	  FS_VERITY_FL) &                                                                          \
	 ~(uint32_t)FS_INDEX_FL)

/* POSIX ACL xattr layout (include/uapi/linux/posix_acl_xattr.h). */
#define ACL_XATTR_VERSION 2
#define ACL_USER_OBJ      0x01
#define ACL_USER          0x02
#define ACL_GROUP_OBJ     0x04
#define ACL_GROUP         0x08
#define ACL_MASK          0x10
#define ACL_OTHER         0x20

#define XATTR_ACL_ACCESS  "system.posix_acl_access"
#define XATTR_ACL_DEFAULT "system.posix_acl_default"
#define XATTR_CAPS        "security.capability"
#define XATTR_SELINUX     "security.selinux"

#define XATTR_BITS (VIGIL_ATTR_ACL | VIGIL_ATTR_CAPS | VIGIL_ATTR_SELINUX | VIGIL_ATTR_XATTRS)

/* A digest context and read buffer per thread: two workers never share them, and no
 * file costs a malloc. Freed by the key's destructor when the thread exits. */
struct tls {
	EVP_MD_CTX *ctx;
	EVP_MD_CTX *pctx; /* the prefix digest, copied from ctx at prefix_len */
	uint8_t *buf;     /* READ_BUF bytes */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static bool tls_key_ok;
static bool have_proc_fd;
/* Fetched once: OpenSSL 3 resolves an implicit EVP_sha256() on every init, under a lock. */
static EVP_MD *mds[VIGIL_HASH_COUNT];
static _Thread_local struct tls *tls;
/* Fed to the digest for a sparse file's holes instead of reading them. Never written. */
static uint8_t zeros[64 * 1024];

static void tls_free(void *p)
{
	struct tls *t = p;

	if (t == NULL)
		return;
	EVP_MD_CTX_free(t->ctx);
	EVP_MD_CTX_free(t->pctx);
	free(t->buf);
	free(t);
	if (tls == t)
		tls = NULL;
}

static void init_globals(void)
{
	static const char *const names[VIGIL_HASH_COUNT] = {
	    [VIGIL_HASH_SHA256] = "SHA256",
	    [VIGIL_HASH_SHA512] = "SHA512",
	    [VIGIL_HASH_BLAKE2B] = "BLAKE2B-512",
	};
	struct stat st;

	for (unsigned i = 0; i < VIGIL_HASH_COUNT; i++)
		mds[i] = EVP_MD_fetch(NULL, names[i], NULL);
	tls_key_ok = pthread_key_create(&tls_key, tls_free) == 0;
	/* Symlinks and special files have no fd to read xattrs from: their name is reached
	 * through the directory fd's /proc link, so a renamed parent cannot redirect it. */
	have_proc_fd = stat("/proc/self/fd", &st) == 0 && S_ISDIR(st.st_mode);
}

static struct tls *get_tls(void)
{
	struct tls *t = tls;

	if (t != NULL)
		return t;
	pthread_once(&init_once, init_globals);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ctx = EVP_MD_CTX_new();
	t->pctx = EVP_MD_CTX_new();
	t->buf = malloc(READ_BUF);
	if (t->ctx == NULL || t->pctx == NULL || t->buf == NULL) {
		tls_free(t);
		return NULL;
	}
	if (tls_key_ok)
		(void)pthread_setspecific(tls_key, t);
	tls = t;
	return t;
}

/* ---- digests ---- */

struct hasher {
	EVP_MD_CTX *ctx, *pctx;
	int64_t pos;    /* bytes fed so far */
	int64_t prefix; /* where to copy the context, or -1 */
	bool prefix_done;
};

static int hasher_start(struct hasher *h, struct tls *t, vigil_hash_algo algo, int64_t prefix)
{
	*h = (struct hasher){.ctx = t->ctx, .pctx = t->pctx, .prefix = prefix < 0 ? -1 : prefix};
	if (mds[algo] == NULL || !EVP_DigestInit_ex2(h->ctx, mds[algo], NULL))
		return VIGIL_E_CRYPTO;
	return 0;
}

/* The prefix digest is a copy of the running context taken at exactly `prefix` bytes, so
 * a growing log costs one pass, not two. */
static int hasher_feed(struct hasher *h, const uint8_t *p, size_t n)
{
	if (!h->prefix_done && h->prefix >= 0 && (uint64_t)(h->prefix - h->pos) <= n) {
		size_t k = (size_t)(h->prefix - h->pos);

		if (k > 0 && !EVP_DigestUpdate(h->ctx, p, k))
			return VIGIL_E_CRYPTO;
		if (!EVP_MD_CTX_copy_ex(h->pctx, h->ctx))
			return VIGIL_E_CRYPTO;
		h->prefix_done = true;
		p += k;
		n -= k;
		h->pos += (int64_t)k;
	}
	if (n > 0 && !EVP_DigestUpdate(h->ctx, p, n))
		return VIGIL_E_CRYPTO;
	h->pos += (int64_t)n;
	return 0;
}

static int hasher_finish(struct hasher *h, uint8_t *out, uint8_t *out_len, uint8_t *pout,
			 uint8_t *pout_len)
{
	unsigned n = 0;

	/* A prefix equal to the length read (an empty prefix of an empty file included). */
	if (!h->prefix_done && h->prefix >= 0 && h->prefix == h->pos) {
		if (!EVP_MD_CTX_copy_ex(h->pctx, h->ctx))
			return VIGIL_E_CRYPTO;
		h->prefix_done = true;
	}
	if (!EVP_DigestFinal_ex(h->ctx, out, &n) || n > VIGIL_DIGEST_MAX)
		return VIGIL_E_CRYPTO;
	*out_len = (uint8_t)n;
	if (h->prefix_done && pout != NULL) {
		if (!EVP_DigestFinal_ex(h->pctx, pout, &n) || n > VIGIL_DIGEST_MAX)
			return VIGIL_E_CRYPTO;
		*pout_len = (uint8_t)n;
	}
	return 0;
}

static int feed_zeros(struct hasher *h, int64_t n)
{
	int r;

	while (n > 0) {
		size_t k = n < (int64_t)sizeof(zeros) ? (size_t)n : sizeof(zeros);

		if ((r = hasher_feed(h, zeros, k)) != 0)
			return r;
		n -= (int64_t)k;
	}
	return 0;
}

/*
 * The next data segment at or after pos of a file with holes (lseek(2) SEEK_DATA,
 * SEEK_HOLE): [*data, *end). *data == *end == the file's end means only a hole is left.
 * Returns 0, or -1 with errno.
 */
static int next_segment(int fd, int64_t pos, int64_t size, int64_t *data, int64_t *end)
{
	off_t d, h;
	struct stat now;

	d = lseek(fd, (off_t)pos, SEEK_DATA);
	if (d < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
		/* No hole tracking here: read everything. */
		*data = pos;
		*end = size;
		return 0;
	}
	if (d < 0 && errno == ENXIO) {
		/* Nothing but a hole up to the end, or the file shrank below pos: which one
		 * decides whether the zeros are content. */
		if (fstat(fd, &now) != 0)
			return -1;
		*data = *end = now.st_size < size ? (now.st_size > pos ? now.st_size : pos) : size;
		return 0;
	}
	if (d < 0)
		return -1;
	if (d >= size) {
		*data = *end = size;
		return 0;
	}
	h = lseek(fd, d, SEEK_HOLE);
	if (h < 0 && errno != ENXIO)
		return -1;
	/* ENXIO, or a hole where data just was: truncated in between. */
	if (h <= d) {
		*data = *end = d;
		return 0;
	}
	*data = d;
	*end = h < size ? h : size;
	return 0;
}

/*
 * Digests the first `size` bytes (the walk's lstat size) of a regular file. Reading stops
 * there, so a log that keeps growing cannot hold a worker; a file that shrinks ends early.
 * A file with fewer blocks than its size may have holes: they are found with SEEK_DATA
 * and digested as the zeros they read as, without reading them. Returns 0,
 * VIGIL_E_SYSTEM (errno) or VIGIL_E_CRYPTO.
 */
static int hash_regular(struct tls *t, struct hasher *h, int fd, const struct stat *st,
			const uint8_t *head, size_t head_len)
{
	const int64_t size = st->st_size;
	int64_t pos = 0, data = 0, end = size;
	bool sparse = (int64_t)st->st_blocks * 512 < size;
	int r;

	/* What the caller already read from offset 0 (vigil_entry_read_fd). */
	if (head_len > 0) {
		if ((int64_t)head_len > size)
			head_len = (size_t)size;
		if ((r = hasher_feed(h, head, head_len)) != 0)
			return r;
		pos = (int64_t)head_len;
	}
	/* Readahead only matters past the first read; small files skip the call. */
	if (size - pos > READ_BUF)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (sparse)
		end = pos; /* find the next segment */
	while (pos < size) {
		size_t want;
		ssize_t got;

		if (pos >= end) {
			if (next_segment(fd, pos, size, &data, &end) != 0)
				return VIGIL_E_SYSTEM;
			if ((r = feed_zeros(h, data - pos)) != 0)
				return r;
			pos = data;
			if (pos >= end)
				break; /* a trailing hole, or truncated */
		}
		want = end - pos < READ_BUF ? (size_t)(end - pos) : READ_BUF;
		got = vigil_pread(fd, t->buf, want, (off_t)pos);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return VIGIL_E_SYSTEM;
		}
		if (got == 0)
			break; /* truncated while being read */
		if ((r = hasher_feed(h, t->buf, (size_t)got)) != 0)
			return r;
		pos += got;
	}
	return 0;
}

int vigil_digest_fd(int fd, vigil_hash_algo algo, int64_t limit, uint8_t *out, uint8_t *out_len)
{
	struct hasher h;
	struct tls *t;
	int64_t left = limit;
	int r;

	if ((unsigned)algo >= VIGIL_HASH_COUNT || out == NULL || out_len == NULL)
		return VIGIL_E_INVALID;
	*out_len = 0;
	if ((t = get_tls()) == NULL)
		return VIGIL_E_NOMEM;
	if ((r = hasher_start(&h, t, algo, -1)) != 0)
		return r;
	for (;;) {
		size_t want = READ_BUF;
		ssize_t got;

		if (limit >= 0 && left < (int64_t)want)
			want = (size_t)left;
		if (want == 0)
			break;
		got = vigil_read(fd, t->buf, want);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return VIGIL_E_SYSTEM;
		}
		if (got == 0)
			break;
		if ((r = hasher_feed(&h, t->buf, (size_t)got)) != 0)
			return r;
		left -= got;
	}
	return hasher_finish(&h, out, out_len, NULL, NULL);
}

/* ---- growing byte strings for blobs ---- */

struct blob {
	uint8_t *p;
	size_t len, cap;
};

static int blob_put(struct blob *b, const void *p, size_t n)
{
	if (n > SIZE_MAX - b->len)
		return VIGIL_E_NOMEM;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *q;

		while (cap < b->len + n)
			cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
		if ((q = realloc(b->p, cap)) == NULL)
			return VIGIL_E_NOMEM;
		b->p = q;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int blob_put_u32(struct blob *b, uint32_t v)
{
	const uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			       (uint8_t)(v >> 24)};

	return blob_put(b, le, sizeof(le));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- reading ---- */

/* Where an entry's xattrs are read from: its open fd, or a path that does not follow a
 * final symlink (l*xattr). */
struct xsrc {
	int fd;
	const char *path;
};

/* The kernel allocates a buffer of the size asked for on every list or get (kvmalloc, and
 * kvzalloc for values: fs/xattr.c), 64 KiB each time with XATTR_CAP. Most files have no
 * xattrs or short ones, so a small size is asked first and the full one only on ERANGE. */
#define XATTR_FIRST 256

static ssize_t x_list_sized(const struct xsrc *s, char *buf, size_t cap)
{
	return s->fd >= 0 ? flistxattr(s->fd, buf, cap) : llistxattr(s->path, buf, cap);
}

static ssize_t x_list(const struct xsrc *s, char *buf, size_t cap)
{
	ssize_t n = x_list_sized(s, buf, cap < XATTR_FIRST ? cap : XATTR_FIRST);

	if (n < 0 && errno == ERANGE && cap > XATTR_FIRST)
		n = x_list_sized(s, buf, cap);
	return n;
}

static ssize_t x_get_sized(const struct xsrc *s, const char *name, void *buf, size_t cap)
{
	return s->fd >= 0 ? fgetxattr(s->fd, name, buf, cap) : lgetxattr(s->path, name, buf, cap);
}

static ssize_t x_get(const struct xsrc *s, const char *name, void *buf, size_t cap)
{
	ssize_t n = x_get_sized(s, name, buf, cap < XATTR_FIRST ? cap : XATTR_FIRST);

	if (n < 0 && errno == ERANGE && cap > XATTR_FIRST)
		n = x_get_sized(s, name, buf, cap);
	return n;
}

static bool is_unsupported(int err)
{
	/* ENOTSUP and EOPNOTSUPP are one value on Linux; both named for other libcs. */
	return err == ENOTSUP || err == EOPNOTSUPP || err == ENOTTY;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct reading {
	vigil_entry *e;
	vigil_entry_read_info *info;
	struct tls *t;
	const char *step;    /* what failed, for info->what */
	const uint8_t *head; /* content from offset 0 the caller read already */
	size_t head_len;
};

/* One value into the value area. Returns its length, -2 if it is gone (removed since
 * the list was read), -1 with errno on error. */
static ssize_t get_value(struct reading *rd, const struct xsrc *s, const char *name)
{
	ssize_t n = x_get(s, name, rd->t->buf + XVALUE_OFF, XATTR_CAP);

	if (n < 0 && errno == ENODATA)
		return -2;
	if (n < 0)
		rd->step = "getxattr";
	return n;
}

/* The value of `name` alone into *out (NULL when absent); `strip_nul` drops one trailing
 * NUL (SELinux stores the label as a C string). */
static int get_single(struct reading *rd, const struct xsrc *s, const char *name, bool strip_nul,
		      uint8_t **out, size_t *out_len)
{
	const uint8_t *v = rd->t->buf + XVALUE_OFF;
	ssize_t n = get_value(rd, s, name);

	if (n == -2)
		return 0;
	if (n < 0)
		return VIGIL_E_SYSTEM;
	if (strip_nul && n > 0 && v[n - 1] == '\0')
		n--;
	if (n == 0)
		return 0;
	if ((*out = malloc((size_t)n)) == NULL)
		return VIGIL_E_NOMEM;
	memcpy(*out, v, (size_t)n);
	*out_len = (size_t)n;
	return 0;
}

/* The acl blob: "a" and "d" parts, each [tag][u32 LE length][value]. */
static int get_acl(struct reading *rd, const struct xsrc *s, bool access, bool dflt)
{
	static const struct {
		char tag;
		const char *name;
	} parts[] = {{'a', XATTR_ACL_ACCESS}, {'d', XATTR_ACL_DEFAULT}};
	struct blob b = {0};
	int r = 0;

	for (size_t i = 0; i < 2; i++) {
		ssize_t n;

		if (!(i == 0 ? access : dflt))
			continue;
		if ((n = get_value(rd, s, parts[i].name)) == -2)
			continue;
		if (n < 0) {
			r = VIGIL_E_SYSTEM;
			goto out;
		}
		if ((r = blob_put(&b, &parts[i].tag, 1)) != 0 ||
		    (r = blob_put_u32(&b, (uint32_t)n)) != 0 ||
		    (r = blob_put(&b, rd->t->buf + XVALUE_OFF, (size_t)n)) != 0)
			goto out;
	}
	if (b.len > 0) {
		rd->e->acl = b.p;
		rd->e->acl_len = b.len;
		b.p = NULL; /* transferred */
	}
out:
	free(b.p);
	return r;
}

/* Every other name, sorted bytewise, as [u32 name length][name][u32 value length][value]. */
static int get_others(struct reading *rd, const struct xsrc *s, const char **names, size_t n)
{
	struct blob b = {0};
	int r = 0;

	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);
		ssize_t vl = get_value(rd, s, names[i]);

		if (vl == -2)
			continue;
		if (vl < 0) {
			r = VIGIL_E_SYSTEM;
			goto out;
		}
		if ((r = blob_put_u32(&b, (uint32_t)nl)) != 0 ||
		    (r = blob_put(&b, names[i], nl)) != 0 ||
		    (r = blob_put_u32(&b, (uint32_t)vl)) != 0 ||
		    (r = blob_put(&b, rd->t->buf + XVALUE_OFF, (size_t)vl)) != 0)
			goto out;
	}
	if (b.len > 0) {
		rd->e->xattrs = b.p;
		rd->e->xattrs_len = b.len;
		b.p = NULL; /* transferred */
	}
out:
	free(b.p);
	return r;
}

static void free_xattr_blobs(vigil_entry *e)
{
	free(e->acl);
	free(e->caps);
	free(e->selinux);
	free(e->xattrs);
	e->acl = e->caps = e->selinux = e->xattrs = NULL;
	e->acl_len = e->caps_len = e->selinux_len = e->xattrs_len = 0;
}

/*
 * Reads the xattr classes in `want` (XATTR_BITS). A file system without xattrs has none.
 * Returns 0; VIGIL_E_NOT_FOUND if a path source vanished; VIGIL_E_SYSTEM with errno and
 * rd->step; VIGIL_E_NOMEM. On error no blob is left half-read.
 */
static int read_xattrs(struct reading *rd, const struct xsrc *s, uint32_t want)
{
	char *list = (char *)rd->t->buf + XLIST_OFF;
	const char *small[16], **others = small;
	size_t nothers = 0, cap = sizeof(small) / sizeof(small[0]);
	bool acl_a = false, acl_d = false, caps = false, label = false;
	ssize_t n;
	int r = 0, err;

	n = x_list(s, list, XATTR_CAP);
	if (n < 0) {
		if (is_unsupported(errno))
			return 0;
		if (errno == ENOENT && s->fd < 0)
			return VIGIL_E_NOT_FOUND;
		rd->step = "listxattr";
		return VIGIL_E_SYSTEM;
	}
	/* The kernel ends every name with a NUL; a list that does not end in one is cut at
	 * the last full name rather than trusted. */
	while (n > 0 && list[n - 1] != '\0')
		n--;
	for (size_t off = 0; off < (size_t)n;) {
		const char *name = list + off;
		size_t len = strlen(name);

		off += len + 1;
		if (len == 0)
			continue;
		if (strcmp(name, XATTR_ACL_ACCESS) == 0) {
			acl_a = true;
		} else if (strcmp(name, XATTR_ACL_DEFAULT) == 0) {
			acl_d = true;
		} else if (strcmp(name, XATTR_CAPS) == 0) {
			caps = true;
		} else if (strcmp(name, XATTR_SELINUX) == 0) {
			label = true;
		} else if (want & VIGIL_ATTR_XATTRS) {
			if (nothers == cap) {
				/* At most XATTR_CAP / 2 names: bounded. */
				const char **q = malloc(2 * cap * sizeof(*q));

				if (q == NULL) {
					r = VIGIL_E_NOMEM;
					goto out;
				}
				memcpy(q, others, nothers * sizeof(*q));
				if (others != small)
					free(others);
				others = q;
				cap *= 2;
			}
			others[nothers++] = name;
		}
	}
	if ((want & VIGIL_ATTR_ACL) && (acl_a || acl_d) && (r = get_acl(rd, s, acl_a, acl_d)) != 0)
		goto out;
	if ((want & VIGIL_ATTR_CAPS) && caps &&
	    (r = get_single(rd, s, XATTR_CAPS, false, &rd->e->caps, &rd->e->caps_len)) != 0)
		goto out;
	if ((want & VIGIL_ATTR_SELINUX) && label &&
	    (r = get_single(rd, s, XATTR_SELINUX, true, &rd->e->selinux, &rd->e->selinux_len)) != 0)
		goto out;
	if (nothers > 0 && (r = get_others(rd, s, others, nothers)) != 0)
		goto out;
out:
	err = errno;
	if (r != 0)
		free_xattr_blobs(rd->e);
	if (others != small)
		free(others);
	errno = err;
	return r;
}

/* Returns 0, or -1 with errno. A file system without inode flags has none. */
static int read_flags(int fd, uint32_t *out)
{
	/* The kernel reads and writes an int, whatever the _IOR says (ioctl_iflags(2)). */
	int fl = 0;

	if (ioctl(fd, FS_IOC_GETFLAGS, &fl) != 0) {
		/* EINVAL too: some FUSE servers answer an ioctl they do not know with it, and
		 * failing every file there would hide the attributes that were read. */
		if (is_unsupported(errno) || errno == EINVAL) {
			*out = 0;
			return 0;
		}
		return -1;
	}
	*out = (uint32_t)fl & FLAGS_MASK;
	return 0;
}

/* Records the first partial failure; the entry stays, without the bits it cost. */
static void fail_step(struct reading *rd, const char *what, int err, uint32_t bits)
{
	if (rd->info->err == 0) {
		rd->info->err = err != 0 ? err : EIO;
		rd->info->what = what;
	}
	rd->e->attrs &= ~bits;
}

/* The path that reaches `name` in dirfd without an fd of its own (symlinks, special
 * files, a file we may not open): /proc/self/fd/DIRFD/NAME resolves the directory
 * through its fd, and the l*xattr calls do not follow NAME if it is a link. */
static const char *path_of(struct reading *rd, int dirfd, const char *name)
{
	char *p = (char *)rd->t->buf + XPATH_OFF;
	int n;

	if (dirfd == AT_FDCWD || name[0] == '/')
		return name;
	if (!have_proc_fd)
		return rd->e->path;
	n = snprintf(p, XPATH_CAP, "/proc/self/fd/%d/%s", dirfd, name);
	if (n < 0 || n >= XPATH_CAP)
		return rd->e->path;
	return p;
}

/* Xattrs by path; a vanished entry is VIGIL_E_NOT_FOUND, other failures partial. */
static int xattrs_by_path(struct reading *rd, int dirfd, const char *name, uint32_t want)
{
	struct xsrc s = {.fd = -1, .path = path_of(rd, dirfd, name)};
	int r = read_xattrs(rd, &s, want);

	if (r == VIGIL_E_SYSTEM) {
		fail_step(rd, rd->step, errno, want);
		r = 0;
	}
	return r;
}

/* Xattrs from an open fd. */
static int xattrs_by_fd(struct reading *rd, int fd, uint32_t want)
{
	struct xsrc s = {.fd = fd, .path = NULL};
	int r = read_xattrs(rd, &s, want);

	if (r == VIGIL_E_SYSTEM) {
		fail_step(rd, rd->step, errno, want);
		r = 0;
	}
	return r;
}

/* given_fd: the file already open by the caller (kept open), or -1 to open it here. */
static int read_regular(struct reading *rd, int given_fd, int dirfd, const char *name,
			const struct stat *st, vigil_hash_algo algo, int64_t prefix_len)
{
	vigil_entry *e = rd->e;
	const uint32_t want_x = e->attrs & XATTR_BITS;
	struct hasher h;
	vigil_skip reason;
	int fd = given_fd, r = 0;

	if (!(e->attrs & (VIGIL_ATTR_HASH | VIGIL_ATTR_FLAGS)) && want_x == 0)
		return 0;
	if (fd < 0)
		fd = vigil_open_regular(dirfd, name, st, &reason);
	if (fd < 0) {
		if (reason == VIGIL_SKIP_VANISHED || reason == VIGIL_SKIP_SPECIAL)
			return VIGIL_E_NOT_FOUND;
		/* Not readable (EACCES): content and flags are lost, but xattrs need no
		 * read permission on the file, only on the way to it. */
		fail_step(rd, "open", errno, VIGIL_ATTR_HASH | VIGIL_ATTR_FLAGS);
		return want_x ? xattrs_by_path(rd, dirfd, name, want_x) : 0;
	}
	if ((e->attrs & VIGIL_ATTR_FLAGS) && read_flags(fd, &e->flags) != 0)
		fail_step(rd, "ioctl", errno, VIGIL_ATTR_FLAGS);
	if (want_x && (r = xattrs_by_fd(rd, fd, want_x)) != 0)
		goto out;
	if (e->attrs & VIGIL_ATTR_HASH) {
		if ((r = hasher_start(&h, rd->t, algo, prefix_len)) != 0)
			goto out;
		r = hash_regular(rd->t, &h, fd, st, rd->head, rd->head_len);
		if (r == VIGIL_E_SYSTEM) {
			fail_step(rd, "read", errno, VIGIL_ATTR_HASH);
			r = 0;
			goto out;
		}
		if (r != 0)
			goto out;
		if ((r = hasher_finish(&h, e->hash, &e->hash_len, rd->info->prefix_hash,
				       &rd->info->prefix_hash_len)) != 0)
			goto out;
	}
out:
	if (given_fd < 0)
		close(fd);
	return r;
}

static int read_dir(struct reading *rd, int dirfd, const char *name, const struct stat *st)
{
	vigil_entry *e = rd->e;
	const uint32_t want_x = e->attrs & XATTR_BITS;
	struct stat now;
	int fd, r = 0;

	if (!(e->attrs & VIGIL_ATTR_FLAGS) && want_x == 0)
		return 0;
	/* Opening a directory reads nothing and changes no atime; the ioctl needs an fd. */
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return VIGIL_E_NOT_FOUND;
		fail_step(rd, "open", errno, VIGIL_ATTR_FLAGS);
		return want_x ? xattrs_by_path(rd, dirfd, name, want_x) : 0;
	}
	if (fstat(fd, &now) != 0) {
		fail_step(rd, "fstat", errno, VIGIL_ATTR_FLAGS | want_x);
		goto out;
	}
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		errno = ESTALE;
		r = VIGIL_E_NOT_FOUND;
		goto out;
	}
	if ((e->attrs & VIGIL_ATTR_FLAGS) && read_flags(fd, &e->flags) != 0)
		fail_step(rd, "ioctl", errno, VIGIL_ATTR_FLAGS);
	if (want_x)
		r = xattrs_by_fd(rd, fd, want_x);
out:
	close(fd);
	return r;
}

static int read_link(struct reading *rd, int dirfd, const char *name)
{
	vigil_entry *e = rd->e;
	ssize_t n;

	if (!(e->attrs & VIGIL_ATTR_TARGET))
		return 0;
	n = readlinkat(dirfd, name, (char *)rd->t->buf, READ_BUF);
	if (n < 0) {
		/* EINVAL: no longer a symlink. */
		if (errno == ENOENT || errno == EINVAL || errno == ENOTDIR)
			return VIGIL_E_NOT_FOUND;
		fail_step(rd, "readlink", errno, VIGIL_ATTR_TARGET);
		return 0;
	}
	if (n == READ_BUF) {
		/* Longer than any path the kernel resolves (PATH_MAX). */
		fail_step(rd, "readlink", ENAMETOOLONG, VIGIL_ATTR_TARGET);
		return 0;
	}
	if ((e->target = malloc((size_t)n + 1)) == NULL)
		return VIGIL_E_NOMEM;
	memcpy(e->target, rd->t->buf, (size_t)n);
	e->target[n] = '\0';
	e->target_len = (size_t)n;
	return 0;
}

/* The first MiB of a block device, into e->hash. Opened only when boot_sector is asked. */
static int read_boot_sector(struct reading *rd, int dirfd, const char *name, const struct stat *st,
			    vigil_hash_algo algo)
{
	vigil_entry *e = rd->e;
	struct stat now;
	int fd, r = 0;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return VIGIL_E_NOT_FOUND;
		fail_step(rd, "open", errno, VIGIL_ATTR_BOOT_SECTOR);
		return 0;
	}
	if (fstat(fd, &now) != 0) {
		fail_step(rd, "fstat", errno, VIGIL_ATTR_BOOT_SECTOR);
		goto out;
	}
	if (!S_ISBLK(now.st_mode) || now.st_rdev != st->st_rdev || now.st_ino != st->st_ino) {
		errno = ESTALE;
		r = VIGIL_E_NOT_FOUND;
		goto out;
	}
	r = vigil_digest_fd(fd, algo, BOOT_SECTOR_BYTES, e->hash, &e->hash_len);
	if (r == VIGIL_E_SYSTEM) {
		fail_step(rd, "read", errno, VIGIL_ATTR_BOOT_SECTOR);
		r = 0;
	}
out:
	close(fd);
	return r;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int entry_read(int fd, const uint8_t *head, size_t head_len, int dirfd, const char *name,
		      const char *path, size_t path_len, const struct stat *st, uint32_t attrs,
		      vigil_hash_algo algo, int64_t prefix_len, vigil_entry *e,
		      vigil_entry_read_info *info)
{
	vigil_entry_read_info dummy;
	struct reading rd = {.e = e, .head = head, .head_len = head_len};
	const uint32_t type = st ? (uint32_t)(st->st_mode & S_IFMT) : 0;
	int r, err;

	if (info == NULL)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	rd.info = info;
	if (name == NULL || st == NULL || e == NULL || (path == NULL && path_len > 0) ||
	    (unsigned)algo >= VIGIL_HASH_COUNT)
		return VIGIL_E_INVALID;
	if ((rd.t = get_tls()) == NULL)
		return VIGIL_E_NOMEM;
	if ((e->path = malloc(path_len + 1)) == NULL)
		return VIGIL_E_NOMEM;
	if (path_len > 0)
		memcpy(e->path, path, path_len);
	e->path[path_len] = '\0';
	e->path_len = path_len;
	e->attrs = attrs & VIGIL_ATTR_ALL;
	e->hash_algo = (uint8_t)algo;

	/* The walk's lstat gives the rest at no cost. */
	if (e->attrs & VIGIL_ATTR_TYPE)
		e->type = type;
	if (e->attrs & VIGIL_ATTR_MODE)
		e->mode = st->st_mode & 07777;
	if (e->attrs & VIGIL_ATTR_UID)
		e->uid = st->st_uid;
	if (e->attrs & VIGIL_ATTR_GID)
		e->gid = st->st_gid;
	if (e->attrs & VIGIL_ATTR_SIZE)
		e->size = st->st_size;
	if (e->attrs & VIGIL_ATTR_MTIME)
		e->mtime_ns = ts_ns(&st->st_mtim);
	if (e->attrs & VIGIL_ATTR_CTIME)
		e->ctime_ns = ts_ns(&st->st_ctim);
	if (e->attrs & VIGIL_ATTR_INODE)
		e->inode = st->st_ino;
	if (e->attrs & VIGIL_ATTR_NLINK)
		e->nlink = st->st_nlink;
	if ((e->attrs & VIGIL_ATTR_DEV) && (S_ISBLK(st->st_mode) || S_ISCHR(st->st_mode)))
		e->rdev = st->st_rdev;

	switch (type) {
	case S_IFREG:
		r = read_regular(&rd, fd, dirfd, name, st, algo, prefix_len);
		break;
	case S_IFDIR:
		r = read_dir(&rd, dirfd, name, st);
		break;
	case S_IFLNK:
		r = read_link(&rd, dirfd, name);
		if (r == 0 && (e->attrs & XATTR_BITS))
			r = xattrs_by_path(&rd, dirfd, name, e->attrs & XATTR_BITS);
		break;
	default:
		/* FIFOs, sockets and device nodes are never opened: an open can block,
		 * rewind a tape or talk to a driver. The one exception is boot_sector. */
		r = 0;
		if (type == S_IFBLK && (e->attrs & VIGIL_ATTR_BOOT_SECTOR))
			r = read_boot_sector(&rd, dirfd, name, st, algo);
		if (r == 0 && (e->attrs & XATTR_BITS))
			r = xattrs_by_path(&rd, dirfd, name, e->attrs & XATTR_BITS);
		break;
	}
	if (r != 0)
		goto fail;
	if (info->err != 0) {
		errno = info->err;
		return VIGIL_E_SYSTEM;
	}
	return 0;
fail:
	err = errno;
	memset(info->prefix_hash, 0, sizeof(info->prefix_hash));
	info->prefix_hash_len = 0;
	vigil_entry_clear(e);
	errno = err;
	return r;
}

int vigil_entry_read(int dirfd, const char *name, const char *path, size_t path_len,
		     const struct stat *st, uint32_t attrs, vigil_hash_algo algo,
		     int64_t prefix_len, vigil_entry *e, vigil_entry_read_info *info)
{
	return entry_read(-1, NULL, 0, dirfd, name, path, path_len, st, attrs, algo, prefix_len, e,
			  info);
}

int vigil_entry_read_fd(int fd, const uint8_t *head, size_t head_len, const char *path,
			size_t path_len, const struct stat *st, uint32_t attrs,
			vigil_hash_algo algo, int64_t prefix_len, vigil_entry *e,
			vigil_entry_read_info *info)
{
	if (fd < 0 || st == NULL || !S_ISREG(st->st_mode) || (head == NULL && head_len > 0)) {
		if (info != NULL)
			memset(info, 0, sizeof(*info));
		return VIGIL_E_INVALID;
	}
	/* No name: a regular file with its fd never needs the by-path xattr route. */
	return entry_read(fd, head, head_len, AT_FDCWD, "", path, path_len, st, attrs, algo,
			  prefix_len, e, info);
}

/* ---- entries ---- */

void vigil_entry_clear(vigil_entry *e)
{
	if (e == NULL)
		return;
	free(e->path);
	free(e->target);
	free(e->acl);
	free(e->caps);
	free(e->selinux);
	free(e->xattrs);
	memset(e, 0, sizeof(*e));
}

static int dup_bytes(uint8_t **dst, const uint8_t *src, size_t len, bool terminate)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	if ((*dst = malloc(len + (terminate ? 1 : 0) + (len == 0))) == NULL)
		return VIGIL_E_NOMEM;
	if (len > 0)
		memcpy(*dst, src, len);
	if (terminate)
		(*dst)[len] = '\0';
	return 0;
}

int vigil_entry_copy(vigil_entry *dst, const vigil_entry *src)
{
	int r;

	*dst = *src;
	dst->path = dst->target = NULL;
	dst->acl = dst->caps = dst->selinux = dst->xattrs = NULL;
	if ((r = dup_bytes((uint8_t **)&dst->path, (const uint8_t *)src->path, src->path_len,
			   true)) != 0 ||
	    (r = dup_bytes((uint8_t **)&dst->target, (const uint8_t *)src->target, src->target_len,
			   true)) != 0 ||
	    (r = dup_bytes(&dst->acl, src->acl, src->acl_len, false)) != 0 ||
	    (r = dup_bytes(&dst->caps, src->caps, src->caps_len, false)) != 0 ||
	    (r = dup_bytes(&dst->selinux, src->selinux, src->selinux_len, false)) != 0 ||
	    (r = dup_bytes(&dst->xattrs, src->xattrs, src->xattrs_len, false)) != 0) {
		vigil_entry_clear(dst);
		return r;
	}
	return 0;
}

static bool same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool same_hash(const vigil_entry *a, const vigil_entry *b)
{
	return a->hash_algo == b->hash_algo &&
	       same_bytes(a->hash, a->hash_len, b->hash, b->hash_len);
}

uint32_t vigil_entry_diff(const vigil_entry *a, const vigil_entry *b, uint32_t attrs)
{
	const uint32_t want = attrs & a->attrs & b->attrs;
	/* A block device's hash is its boot sector's: reported once, under boot_sector. */
	const bool both_blk = a->type == S_IFBLK && b->type == S_IFBLK;
	uint32_t d = 0;

	if (a->type != b->type)
		d |= VIGIL_ATTR_TYPE;
	if (a->mode != b->mode)
		d |= VIGIL_ATTR_MODE;
	if (a->uid != b->uid)
		d |= VIGIL_ATTR_UID;
	if (a->gid != b->gid)
		d |= VIGIL_ATTR_GID;
	if (a->size != b->size)
		d |= VIGIL_ATTR_SIZE;
	if (a->mtime_ns != b->mtime_ns)
		d |= VIGIL_ATTR_MTIME;
	if (a->ctime_ns != b->ctime_ns)
		d |= VIGIL_ATTR_CTIME;
	if (a->inode != b->inode)
		d |= VIGIL_ATTR_INODE;
	if (a->nlink != b->nlink)
		d |= VIGIL_ATTR_NLINK;
	if (!same_bytes(a->target, a->target_len, b->target, b->target_len))
		d |= VIGIL_ATTR_TARGET;
	if (a->rdev != b->rdev)
		d |= VIGIL_ATTR_DEV;
	if (!both_blk && !same_hash(a, b))
		d |= VIGIL_ATTR_HASH;
	if (both_blk && !same_hash(a, b))
		d |= VIGIL_ATTR_BOOT_SECTOR;
	if (!same_bytes(a->acl, a->acl_len, b->acl, b->acl_len))
		d |= VIGIL_ATTR_ACL;
	if (!same_bytes(a->caps, a->caps_len, b->caps, b->caps_len))
		d |= VIGIL_ATTR_CAPS;
	if (!same_bytes(a->selinux, a->selinux_len, b->selinux, b->selinux_len))
		d |= VIGIL_ATTR_SELINUX;
	if (!same_bytes(a->xattrs, a->xattrs_len, b->xattrs, b->xattrs_len))
		d |= VIGIL_ATTR_XATTRS;
	if (a->flags != b->flags)
		d |= VIGIL_ATTR_FLAGS;
	return d & want;
}

/* ---- formatting ---- */

/* snprintf-like output: counts everything, stores what fits, always terminates. */
struct out {
	char *buf;
	size_t cap, len;
};

static void put(struct out *o, const void *s, size_t n)
{
	if (o->cap > 0 && o->len < o->cap - 1) {
		size_t room = o->cap - 1 - o->len;

		memcpy(o->buf + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[96];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* Only numbers go through here: they always fit. */
	assert(n >= 0 && (size_t)n < sizeof(tmp));
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* v in `base` (8 or 10), zero-padded to `width` digits: what printf's %0*u and %0*o give,
 * without parsing a format for each of the numbers in every alert. */
static void put_num(struct out *o, uint64_t v, unsigned base, size_t width)
{
	char tmp[24]; /* 2^64 - 1 has 20 decimal digits */
	size_t i = sizeof(tmp);

	assert(width <= sizeof(tmp) && (base == 8 || base == 10));
	do {
		tmp[--i] = (char)('0' + v % base);
		v /= base;
	} while (v != 0);
	while (sizeof(tmp) - i < width)
		tmp[--i] = '0';
	put(o, tmp + i, sizeof(tmp) - i);
}

static void put_i64(struct out *o, int64_t v)
{
	if (v < 0)
		put(o, "-", 1);
	put_num(o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, 1);
}

static void puthex(struct out *o, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		const char h[2] = {digits[p[i] >> 4], digits[p[i] & 15]};

		put(o, h, 2);
	}
}

static void put_time(struct out *o, int64_t ns)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	time_t t;
	struct tm tm;

	if (frac < 0) {
		frac += 1000000000;
		sec -= 1;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL) {
		putf(o, "%" PRId64 "ns", ns);
		return;
	}
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		/* %04d's sign and width: rare enough for printf. */
		putf(o, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
		return;
	}
	put_num(o, (uint64_t)(tm.tm_year + 1900), 10, 4);
	put(o, "-", 1);
	put_num(o, (uint64_t)(tm.tm_mon + 1), 10, 2);
	put(o, "-", 1);
	put_num(o, (uint64_t)tm.tm_mday, 10, 2);
	put(o, "T", 1);
	put_num(o, (uint64_t)tm.tm_hour, 10, 2);
	put(o, ":", 1);
	put_num(o, (uint64_t)tm.tm_min, 10, 2);
	put(o, ":", 1);
	put_num(o, (uint64_t)tm.tm_sec, 10, 2);
	put(o, ".", 1);
	put_num(o, (uint64_t)frac, 10, 9);
	put(o, "Z", 1);
}

/* Checks one POSIX ACL xattr value: version, whole entries, known tags and permissions.
 * An ACL without entries is no ACL: the kernel removes the xattr instead of storing one. */
static bool acl_value_ok(const uint8_t *p, size_t n)
{
	if (n < 12 || (n - 4) % 8 != 0 || get_u32(p) != ACL_XATTR_VERSION)
		return false;
	for (size_t off = 4; off < n; off += 8) {
		uint16_t tag = get_u16(p + off), perm = get_u16(p + off + 2);

		switch (tag) {
		case ACL_USER_OBJ:
		case ACL_USER:
		case ACL_GROUP_OBJ:
		case ACL_GROUP:
		case ACL_MASK:
		case ACL_OTHER:
			break;
		default:
			return false;
		}
		if (perm & ~7u)
			return false;
	}
	return true;
}

/* Walks the acl blob's parts ('a' then optionally 'd', each at most once); with o NULL
 * it only validates. */
static bool acl_walk(const uint8_t *p, size_t n, struct out *o)
{
	size_t off = 0;
	int last = 0; /* 0, then 'a' or 'd': parts in order, no repeats */
	bool first = true;

	while (off < n) {
		uint8_t tag;
		uint32_t len;

		if (n - off < 5)
			return false;
		tag = p[off];
		len = get_u32(p + off + 1);
		off += 5;
		if ((tag != 'a' && tag != 'd') || (last == 'd') || (last == 'a' && tag == 'a'))
			return false;
		last = tag;
		if (len > n - off || !acl_value_ok(p + off, len))
			return false;
		for (size_t i = 4; o != NULL && i < len; i += 8) {
			const uint8_t *ent = p + off + i;
			uint16_t etag = get_u16(ent), perm = get_u16(ent + 2);
			uint32_t id = get_u32(ent + 4);
			const char rwx[3] = {perm & 4 ? 'r' : '-', perm & 2 ? 'w' : '-',
					     perm & 1 ? 'x' : '-'};

			if (!first)
				put(o, ",", 1);
			first = false;
			if (tag == 'd')
				puts_(o, "default:");
			switch (etag) {
			case ACL_USER_OBJ:
				puts_(o, "user::");
				break;
			case ACL_USER:
				putf(o, "user:%" PRIu32 ":", id);
				break;
			case ACL_GROUP_OBJ:
				puts_(o, "group::");
				break;
			case ACL_GROUP:
				putf(o, "group:%" PRIu32 ":", id);
				break;
			case ACL_MASK:
				puts_(o, "mask::");
				break;
			default:
				puts_(o, "other::");
				break;
			}
			put(o, rwx, 3);
		}
		off += len;
	}
	return last != 0;
}

/* Walks the xattrs blob ([u32 name length][name][u32 value length][value]...); with o
 * NULL it only validates. */
static bool xattrs_walk(const uint8_t *p, size_t n, struct out *o)
{
	size_t off = 0;

	while (off < n) {
		uint32_t nl, vl;
		const uint8_t *name, *val;

		if (n - off < 4)
			return false;
		nl = get_u32(p + off);
		off += 4;
		if (nl == 0 || nl > n - off || memchr(p + off, '\0', nl) != NULL)
			return false;
		name = p + off;
		off += nl;
		if (n - off < 4)
			return false;
		vl = get_u32(p + off);
		off += 4;
		if (vl > n - off)
			return false;
		val = p + off;
		off += vl;
		if (o == NULL)
			continue;
		if (name != p + 4)
			put(o, ",", 1);
		put(o, name, nl);
		put(o, "=", 1);
		if (vl <= 32) {
			puthex(o, val, vl);
		} else {
			uint8_t md[EVP_MAX_MD_SIZE];
			unsigned mdlen = 0;

			pthread_once(&init_once, init_globals);
			puts_(o, "sha256:");
			if (mds[VIGIL_HASH_SHA256] != NULL &&
			    EVP_Digest(val, vl, md, &mdlen, mds[VIGIL_HASH_SHA256], NULL))
				puthex(o, md, mdlen);
			else
				puts_(o, "unavailable");
		}
	}
	return true;
}

static const struct {
	uint32_t flag;
	char letter;
} flag_letters[] = {
    /* lsattr's order (e2fsprogs lib/e2p/pf.c). */
    {FS_SECRM_FL, 's'},       {FS_UNRM_FL, 'u'},         {FS_SYNC_FL, 'S'},
    {FS_DIRSYNC_FL, 'D'},     {FS_IMMUTABLE_FL, 'i'},    {FS_APPEND_FL, 'a'},
    {FS_NODUMP_FL, 'd'},      {FS_NOATIME_FL, 'A'},      {FS_COMPR_FL, 'c'},
    {FS_ENCRYPT_FL, 'E'},     {FS_JOURNAL_DATA_FL, 'j'}, {FS_INDEX_FL, 'I'},
    {FS_NOTAIL_FL, 't'},      {FS_TOPDIR_FL, 'T'},       {FS_EXTENT_FL, 'e'},
    {FS_NOCOW_FL, 'C'},       {FS_DAX_FL, 'x'},          {FS_CASEFOLD_FL, 'F'},
    {FS_INLINE_DATA_FL, 'N'}, {FS_PROJINHERIT_FL, 'P'},  {FS_VERITY_FL, 'V'},
};

static void put_flags(struct out *o, uint32_t flags)
{
	size_t start = o->len;

	for (size_t i = 0; i < sizeof(flag_letters) / sizeof(flag_letters[0]); i++)
		if (flags & flag_letters[i].flag)
			put(o, &flag_letters[i].letter, 1);
	if (o->len == start)
		put(o, "-", 1);
}

/* A blob no one has: "-"; one that does not parse: "invalid:" and its bytes. */
static void put_blob(struct out *o, const uint8_t *p, size_t n,
		     bool (*walk)(const uint8_t *, size_t, struct out *))
{
	if (p == NULL || n == 0) {
		put(o, "-", 1);
		return;
	}
	/* Validate first, so that a bad blob never shows as half text, half hex. */
	if (!walk(p, n, NULL)) {
		puts_(o, "invalid:");
		puthex(o, p, n);
		return;
	}
	(void)walk(p, n, o);
}

const char *vigil_type_name(uint32_t type)
{
	switch (type & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFBLK:
		return "block";
	case S_IFCHR:
		return "char";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	default:
		return "unknown";
	}
}

size_t vigil_entry_format(const vigil_entry *e, uint32_t attr, char *buf, size_t cap)
{
	struct out o = {.buf = buf, .cap = buf != NULL ? cap : 0, .len = 0};

	switch (attr) {
	case VIGIL_ATTR_TYPE:
		puts_(&o, vigil_type_name(e->type));
		break;
	case VIGIL_ATTR_MODE:
		put_num(&o, e->mode & 07777, 8, 4);
		break;
	case VIGIL_ATTR_UID:
		put_num(&o, e->uid, 10, 1);
		break;
	case VIGIL_ATTR_GID:
		put_num(&o, e->gid, 10, 1);
		break;
	case VIGIL_ATTR_SIZE:
		put_i64(&o, e->size);
		break;
	case VIGIL_ATTR_MTIME:
		put_time(&o, e->mtime_ns);
		break;
	case VIGIL_ATTR_CTIME:
		put_time(&o, e->ctime_ns);
		break;
	case VIGIL_ATTR_INODE:
		put_num(&o, e->inode, 10, 1);
		break;
	case VIGIL_ATTR_NLINK:
		put_num(&o, e->nlink, 10, 1);
		break;
	case VIGIL_ATTR_TARGET:
		if (e->target != NULL)
			put(&o, e->target, e->target_len);
		break;
	case VIGIL_ATTR_DEV:
		put_num(&o, major((dev_t)e->rdev), 10, 1);
		put(&o, ":", 1);
		put_num(&o, minor((dev_t)e->rdev), 10, 1);
		break;
	case VIGIL_ATTR_HASH:
	case VIGIL_ATTR_BOOT_SECTOR:
		if (e->hash_len == 0 || e->hash_len > VIGIL_DIGEST_MAX)
			put(&o, "-", 1);
		else
			puthex(&o, e->hash, e->hash_len);
		break;
	case VIGIL_ATTR_ACL:
		put_blob(&o, e->acl, e->acl_len, acl_walk);
		break;
	case VIGIL_ATTR_CAPS:
		if (e->caps == NULL || e->caps_len == 0)
			put(&o, "-", 1);
		else
			puthex(&o, e->caps, e->caps_len);
		break;
	case VIGIL_ATTR_SELINUX:
		if (e->selinux == NULL || e->selinux_len == 0)
			put(&o, "-", 1);
		else
			put(&o, e->selinux, e->selinux_len);
		break;
	case VIGIL_ATTR_XATTRS:
		put_blob(&o, e->xattrs, e->xattrs_len, xattrs_walk);
		break;
	case VIGIL_ATTR_FLAGS:
		put_flags(&o, e->flags);
		break;
	default:
		break;
	}
	if (o.cap > 0)
		o.buf[o.len < o.cap ? o.len : o.cap - 1] = '\0';
	return o.len;
}
