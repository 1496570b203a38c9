/* SPDX-License-Identifier: Apache-2.0 */
/* The integrity baseline engine: walk the policy's roots, read every entry's attributes in
 * worker threads, and record (init), compare (check) or take in (accept) the results. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "baseline_int.h"
#include "bootsect.h"
#include "canary_int.h"
#include "config.h"
#include "file_batch.h"
#include "meta.h"
#include "seal.h"
#include "store.h"
#include "vigil/baseline.h"

#define QUEUE_CAP   1024
#define PUSH_BATCH  32          /* items the walker hands over at once */
#define POP_BATCH   16          /* items a worker takes at once */
#define HEAD_BYTES  (64 * 1024) /* read ahead per opened file: all of 97 % of /usr/share */
#define PENDING_CAP 2048        /* rows a worker may hold while another inserts (init) */
#define MAX_DEPTH   1024
#define DIRENT_BUF  32768
#define PROGRESS_NS 200000000ull

enum run_mode { RUN_INIT, RUN_CHECK, RUN_ACCEPT };

/* An open directory shared by the walker and the work items naming entries in it. */
struct dirref {
	int fd;
	atomic_int refs;
};

struct item {
	struct dirref *dir;
	struct stat st;      /* the lstat (or a preopened file's fstat), once has_st */
	bool has_st;         /* false: the worker takes it (stat_item) */
	unsigned char dtype; /* the directory's d_type for it (DT_UNKNOWN if not known) */
	int fd;              /* a regular file opened ahead in a batch (preopen), or -1 */
	const uint8_t *head; /* its content read ahead from offset 0 (the worker's buffer) */
	size_t head_len;
	vigil_match m;
	const char *name; /* inside path, or "." for the root "/" */
	size_t path_len;
	char path[]; /* NUL-terminated */
};

/* A difference found, kept until the end so changes come out in path order. */
struct found {
	vigil_change_kind kind;
	uint32_t attrs;
	vigil_entry old_e, new_e; /* zeroed when absent */
};

struct run {
	enum run_mode mode;
	const vigil_baseline_options *o;
	const vigil_baseline_callbacks *cb;
	vigil_baseline_stats *st;
	vigil_config *cfg;
	vigil_store *store;
	vigil_sealer *sealer;
	vigil_hash_algo algo;
	char **own; /* the database's and key's own files: never recorded */
	size_t nown;
	char *own_dir;                 /* the database's directory: its times move with every run */
	const char *const *skip_roots; /* roots walked on their own: not while walking others */
	vigil_decoy_set *decoys;       /* vigil canary's decoys: neither recorded nor opened */
	size_t nskip_roots;

	pthread_mutex_t lock;
	pthread_cond_t can_push, can_pop;
	struct item *queue[QUEUE_CAP];
	size_t qhead, qlen;
	unsigned idle_workers; /* waiting on can_pop: signalled only then (futex calls cost) */
	bool walker_waiting;   /* waiting on can_push */
	bool walk_done;
	bool cleared; /* init: the previous rows are deleted */
	int error;    /* first fatal error, under lock */
	char errmsg[512];

	struct found *found;
	size_t nfound, found_cap;
	uint64_t *seen; /* salted digests of the paths walked that have a row (check, accept) */
	size_t nseen, seen_cap;
	uint8_t salt[16];
	bool check_rows; /* check: the seal's set was verified, each row's MAC is checked
			  * where the row is read (in parallel, by the workers) */
	uint64_t nbad;   /* rows whose MAC does not match their values */
	char *first_bad; /* the first of them in path order (not NUL-terminated) */
	size_t first_bad_len;
	EVP_MD *tag_md;      /* fetched once: an implicit EVP_sha256() takes a lock per call */
	EVP_MD_CTX *tag_ctx; /* the walker's (main thread's) context for path_tag */
	uint64_t t0, last_progress;
	char *path; /* the walker's path buffer */
	size_t path_cap;
	struct item *batch[PUSH_BATCH]; /* the walker's items not yet in the queue */
	size_t nbatch;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_error(struct run *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_error(struct run *r, int code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->lock);
	if (r->error == 0) {
		r->error = code;
		va_start(ap, fmt);
		vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
		va_end(ap);
	}
	pthread_cond_broadcast(&r->can_push);
	pthread_cond_broadcast(&r->can_pop);
	pthread_mutex_unlock(&r->lock);
}

/* Called with r->lock held. */
static void warn_locked(struct run *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_locked(struct run *r, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	r->st->warnings++;
	if (r->cb == NULL || r->cb->on_warning == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->cb->on_warning(r->cb->user, path, msg);
}

static void dir_release(struct dirref *d)
{
	if (atomic_fetch_sub(&d->refs, 1) == 1) {
		close(d->fd);
		free(d);
	}
}

/* A keyed digest of a path: which paths were seen, in 8 bytes each, without a crafted
 * name being able to collide with a removed one (the salt is fresh per run). ctx is the
 * calling thread's own. */
static uint64_t path_tag(const struct run *r, EVP_MD_CTX *ctx, const char *path, size_t len)
{
	uint8_t md[32];
	unsigned mdlen = 0;
	uint64_t v;

	/* A failure gives a tag of zeros: at worst a removal is missed, never invented. */
	if (ctx == NULL || EVP_DigestInit_ex2(ctx, r->tag_md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, r->salt, sizeof(r->salt)) != 1 ||
	    EVP_DigestUpdate(ctx, path, len) != 1 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		memset(md, 0, sizeof(md));
	memcpy(&v, md, sizeof(v));
	return v;
}

static void count_change(struct run *r, vigil_change_kind kind)
{
	if (kind == VIGIL_CHANGE_ADDED)
		r->st->added++;
	else if (kind == VIGIL_CHANGE_REMOVED)
		r->st->removed++;
	else
		r->st->changed++;
}

/* A change as callers see it; either entry may be NULL, not both. */
static vigil_change change_of(vigil_change_kind kind, uint32_t attrs, const vigil_entry *old_e,
			      const vigil_entry *new_e)
{
	const vigil_entry *e = new_e ? new_e : old_e;

	return (vigil_change){.path = e->path,
			      .path_len = e->path_len,
			      .kind = kind,
			      .attrs = attrs,
			      .old_entry = old_e,
			      .new_entry = new_e};
}

static int found_add(struct run *r, vigil_change_kind kind, uint32_t attrs, vigil_entry *old_e,
		     vigil_entry *new_e)
{
	vigil_change c = change_of(kind, attrs, old_e, new_e);
	struct found *f;

	/* Left out, or reported at once: the entries stay the caller's, who frees them. */
	if (r->cb->keep_change && !r->cb->keep_change(r->cb->user, &c)) {
		r->st->passed_over++;
		return 0;
	}
	if (r->o->unordered && r->mode == RUN_CHECK) {
		count_change(r, kind);
		return r->cb->on_change ? r->cb->on_change(r->cb->user, &c) : 0;
	}
	if (r->nfound == r->found_cap) {
		size_t cap = r->found_cap ? r->found_cap * 2 : 64;
		struct found *p = realloc(r->found, cap * sizeof(*p));
		if (p == NULL)
			return VIGIL_E_NOMEM;
		r->found = p;
		r->found_cap = cap;
	}
	f = &r->found[r->nfound++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->attrs = attrs;
	/* Ownership moves into the list. */
	if (old_e) {
		f->old_e = *old_e;
		memset(old_e, 0, sizeof(*old_e));
	}
	if (new_e) {
		f->new_e = *new_e;
		memset(new_e, 0, sizeof(*new_e));
	}
	count_change(r, kind);
	return 0;
}

static int seen_add(struct run *r, uint64_t tag)
{
	if (r->nseen == r->seen_cap) {
		size_t cap = r->seen_cap ? r->seen_cap * 2 : 4096;
		uint64_t *p = realloc(r->seen, cap * sizeof(*p));
		if (p == NULL)
			return VIGIL_E_NOMEM;
		r->seen = p;
		r->seen_cap = cap;
	}
	r->seen[r->nseen++] = tag;
	return 0;
}

/* Called with r->lock held: a row whose MAC does not match, kept for the message. */
static int bad_row_locked(struct run *r, const char *path, size_t len)
{
	size_t n = len < r->first_bad_len ? len : r->first_bad_len;
	int c = r->first_bad ? memcmp(path, r->first_bad, n) : -1;
	char *p;

	r->nbad++;
	if (c > 0 || (c == 0 && len >= r->first_bad_len))
		return 0;
	if ((p = malloc(len > 0 ? len : 1)) == NULL)
		return VIGIL_E_NOMEM;
	memcpy(p, path, len);
	free(r->first_bad);
	r->first_bad = p;
	r->first_bad_len = len;
	return 0;
}

/* Checks a row read for comparison against its MAC (check only). Returns 0 if it may be
 * used; VIGIL_E_FORMAT if it was changed after sealing (counted, not to be compared);
 * VIGIL_E_CRYPTO. Called without r->lock. */
static int check_row(struct run *r, const vigil_entry *e, const uint8_t *mac, size_t mac_len)
{
	int rc;

	if (!r->check_rows)
		return 0;
	rc = vigil_seal_check_row(r->sealer, e, mac, mac_len);
	if (rc == VIGIL_E_FORMAT) {
		pthread_mutex_lock(&r->lock);
		if (bad_row_locked(r, e->path, e->path_len) != 0 && r->error == 0)
			r->error = VIGIL_E_NOMEM;
		pthread_mutex_unlock(&r->lock);
	}
	return rc;
}

static void progress_locked(struct run *r)
{
	uint64_t t = now_ns();

	if (r->cb == NULL || r->cb->on_progress == NULL || t - r->last_progress < PROGRESS_NS)
		return;
	r->last_progress = t;
	r->st->elapsed_ns = t - r->t0;
	r->cb->on_progress(r->cb->user, r->st);
}

/* ---- work: read one entry, then record or compare it ---- */

static void apply_policy(const vigil_entry *old_e, const vigil_entry *new_e,
			 const vigil_entry_read_info *info, uint32_t *diff)
{
	const uint32_t grow_bits =
	    VIGIL_ATTR_SIZE | VIGIL_ATTR_MTIME | VIGIL_ATTR_CTIME | VIGIL_ATTR_HASH;

	if (old_e->policy == VIGIL_POLICY_PRESENCE) {
		*diff &= VIGIL_ATTR_TYPE;
		return;
	}
	if (old_e->policy != VIGIL_POLICY_GROWING || (*diff & VIGIL_ATTR_TYPE))
		return;
	/* A log may grow: fine as long as the old content is still its prefix. */
	if (new_e->size >= old_e->size && old_e->hash_len > 0 &&
	    info->prefix_hash_len == old_e->hash_len &&
	    memcmp(info->prefix_hash, old_e->hash, old_e->hash_len) == 0)
		*diff &= ~grow_bits;
}

/* The attributes that count as changed between a row and what is there now. */
static uint32_t judge(const vigil_entry *old_e, const vigil_entry *new_e,
		      const vigil_entry_read_info *info, uint32_t attrs)
{
	uint32_t diff = vigil_entry_diff(old_e, new_e, attrs);

	apply_policy(old_e, new_e, info, &diff);
	/* A directory's times, size and link count move whenever an entry inside it comes
	 * or goes; that entry is reported itself (or excluded on purpose), so these alone
	 * are noise. Its type, mode, owner, ACLs and labels still count. */
	if (new_e->type == S_IFDIR && old_e->type == S_IFDIR &&
	    (diff & ~(uint32_t)(VIGIL_ATTR_MTIME | VIGIL_ATTR_CTIME | VIGIL_ATTR_SIZE |
				VIGIL_ATTR_NLINK)) == 0)
		diff = 0;
	return diff;
}

static bool same_stat(const vigil_entry *old_e, const struct stat *st)
{
	return old_e->type == (uint32_t)(st->st_mode & S_IFMT) && old_e->size == st->st_size &&
	       old_e->inode == (uint64_t)st->st_ino &&
	       old_e->mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
	       old_e->ctime_ns == (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* A row read by a worker, waiting to be inserted with the rest of its batch. */
struct pending {
	vigil_entry e;
	uint8_t mac[VIGIL_ROW_MAC_LEN];
	bool regular;
};

static bool stat_item(struct run *r, struct item *it);

/* An item opened ahead is read from its fd: its fstat is the record, so no lstat. */
static int read_item(struct item *it, uint32_t attrs, vigil_hash_algo algo, int64_t prefix,
		     vigil_entry *e, vigil_entry_read_info *info)
{
	if (it->fd >= 0)
		return vigil_entry_read_fd(it->fd, it->head, it->head_len, it->path, it->path_len,
					   &it->st, attrs, algo, prefix, e, info);
	return vigil_entry_read(it->dir->fd, it->name, it->path, it->path_len, &it->st, attrs, algo,
				prefix, e, info);
}

/* Reads one entry for init; returns true if *p holds a row to insert. */
static bool work_record(struct run *r, struct item *it, struct pending *p)
{
	vigil_entry_read_info info = {0};
	int rc;

	memset(p, 0, sizeof(*p));
	rc = read_item(it, it->m.attrs, r->algo, -1, &p->e, &info);
	if (rc == VIGIL_E_NOT_FOUND) {
		pthread_mutex_lock(&r->lock);
		warn_locked(r, it->path, "vanished while the baseline was made");
		pthread_mutex_unlock(&r->lock);
		goto fail;
	}
	if (rc != 0 && rc != VIGIL_E_SYSTEM) {
		set_error(r, rc, "%s: %s", it->path, vigil_strerror(rc));
		goto fail;
	}
	if (rc == VIGIL_E_SYSTEM) {
		pthread_mutex_lock(&r->lock);
		warn_locked(r, it->path, "%s: %s (recorded without the attributes it hides)",
			    info.what ? info.what : "read", strerror(info.err ? info.err : EIO));
		pthread_mutex_unlock(&r->lock);
	}
	p->e.policy = (uint8_t)it->m.policy;
	p->regular = S_ISREG(it->st.st_mode);
	if (vigil_seal_row(r->sealer, &p->e, p->mac) != 0) {
		set_error(r, VIGIL_E_CRYPTO, "computing a row MAC failed");
		goto fail;
	}
	return true;
fail:
	vigil_entry_clear(&p->e);
	return false;
}

/* Deletes the previous baseline's rows, inside init's transaction, before the first row
 * goes in. Called with r->lock held, by the first worker with rows to insert: reading
 * every old page takes a while, and meanwhile the walker and the other workers go on. */
static void clear_locked(struct run *r)
{
	int rc;

	if (r->cleared)
		return;
	r->cleared = true;
	if (r->error == 0 && (rc = vigil_store_clear(r->store)) != 0) {
		r->error = rc;
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", vigil_store_error(r->store));
	}
}

/* Inserts a worker's rows under one lock: with two cores, lock hand-offs per row cost
 * more than the inserts. Called with r->lock held. */
static void flush_locked(struct run *r, struct pending *p, size_t n)
{
	int rc;

	clear_locked(r);
	for (size_t i = 0; i < n; i++) {
		if (r->error == 0 &&
		    (rc = vigil_store_put(r->store, &p[i].e, p[i].mac, sizeof(p[i].mac))) != 0) {
			r->error = rc;
			snprintf(r->errmsg, sizeof(r->errmsg), "%s", vigil_store_error(r->store));
		}
		r->st->entries++;
		if (p[i].e.hash_len > 0 && p[i].regular) {
			r->st->files_hashed++;
			r->st->bytes_hashed += (uint64_t)p[i].e.size;
		}
	}
}

/* Inserts the rows a worker holds, if the store is free or they must go (full, or at the
 * end): a worker that finds another inserting keeps hashing instead of waiting.
 * Returns how many rows it still holds. */
static size_t flush_records(struct run *r, struct pending *p, size_t n, bool must)
{
	if (n == 0)
		return 0;
	if (must)
		pthread_mutex_lock(&r->lock);
	else if (pthread_mutex_trylock(&r->lock) != 0)
		return n;
	flush_locked(r, p, n);
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < n; i++)
		vigil_entry_clear(&p[i].e);
	return 0;
}

/* A worker's own read connection (check, accept): lookups need no shared lock. */
struct worker {
	struct run *r;
	vigil_store *store;
	EVP_MD_CTX *tag_ctx;
	vigil_file_batch *files; /* this thread's batch opener, or NULL */
	uint8_t *heads;          /* POP_BATCH * HEAD_BYTES: what preopen reads ahead */
	pthread_t tid;
};

static void work_compare(struct run *r, vigil_store *store, EVP_MD_CTX *tag_ctx, struct item *it)
{
	vigil_entry old_e = {0}, e = {0};
	vigil_entry_read_info info = {0};
	uint8_t mac[VIGIL_STORE_MAC_MAX];
	size_t mac_len = 0;
	uint32_t attrs = it->m.attrs, diff;
	int frc;
	uint64_t tag = 0;
	int64_t prefix = -1;
	bool have_old, quick_hit = false;
	int rc;

	if (store == NULL) { /* accept: the one connection, which holds the write lock */
		pthread_mutex_lock(&r->lock);
		rc = vigil_store_get(r->store, it->path, it->path_len, &old_e);
		pthread_mutex_unlock(&r->lock);
	} else {
		rc = vigil_store_get_row(store, it->path, it->path_len, &old_e, mac, &mac_len);
	}
	if (rc != 0 && rc != VIGIL_E_NOT_FOUND) {
		set_error(r, rc, "%s", vigil_store_error(store ? store : r->store));
		goto out;
	}
	have_old = rc == 0;
	if (have_old) {
		tag = path_tag(r, tag_ctx, it->path, it->path_len);
		if ((rc = check_row(r, &old_e, mac, mac_len)) == VIGIL_E_CRYPTO) {
			set_error(r, rc, "computing a row MAC failed");
			goto out;
		}
		if (rc != 0) {
			/* Never compared; seen, so the removed pass does not count it again. */
			pthread_mutex_lock(&r->lock);
			if (seen_add(r, tag) != 0 && r->error == 0)
				r->error = VIGIL_E_NOMEM;
			pthread_mutex_unlock(&r->lock);
			goto out;
		}
		/* The baseline says what was recorded; a policy edit since then is a warning of
		 * its own (config digest), not a flood of changes. */
		attrs &= old_e.attrs | VIGIL_ATTR_TYPE;
		if (old_e.policy == VIGIL_POLICY_GROWING && S_ISREG(it->st.st_mode))
			prefix = old_e.size;
		if (r->o->quick && (attrs & VIGIL_ATTR_HASH) && old_e.hash_len > 0 &&
		    same_stat(&old_e, &it->st)) {
			attrs &= ~VIGIL_ATTR_HASH;
			quick_hit = true;
		}
	}
	rc = read_item(it, attrs, have_old ? (vigil_hash_algo)old_e.hash_algo : r->algo, prefix, &e,
		       &info);
	if (rc == VIGIL_E_NOT_FOUND)
		goto out; /* gone: the removed pass reports it */
	if (rc != 0 && rc != VIGIL_E_SYSTEM) {
		set_error(r, rc, "%s: %s", it->path, vigil_strerror(rc));
		goto out;
	}
	e.policy = (uint8_t)it->m.policy;
	if (quick_hit) {
		memcpy(e.hash, old_e.hash, old_e.hash_len);
		e.hash_len = old_e.hash_len;
		e.hash_algo = old_e.hash_algo;
		e.attrs |= VIGIL_ATTR_HASH;
	}
	pthread_mutex_lock(&r->lock);
	if (rc == VIGIL_E_SYSTEM)
		warn_locked(r, it->path, "%s: %s (attributes it hides not compared)",
			    info.what ? info.what : "read", strerror(info.err ? info.err : EIO));
	r->st->entries++;
	if (e.hash_len > 0 && !quick_hit && S_ISREG(it->st.st_mode)) {
		r->st->files_hashed++;
		r->st->bytes_hashed += (uint64_t)e.size;
	}
	/* Only paths with a row: the removed pass looks rows up here, and counts them. */
	if (have_old && seen_add(r, tag) != 0 && r->error == 0)
		r->error = VIGIL_E_NOMEM;
	if (!have_old) {
		if ((frc = found_add(r, VIGIL_CHANGE_ADDED, e.attrs, NULL, &e)) != 0 &&
		    r->error == 0)
			r->error = frc;
	} else {
		diff = judge(&old_e, &e, &info, attrs);
		if (diff != 0 &&
		    (frc = found_add(r, VIGIL_CHANGE_CHANGED, diff, &old_e, &e)) != 0 &&
		    r->error == 0)
			r->error = frc;
	}
	pthread_mutex_unlock(&r->lock);
out:
	vigil_entry_clear(&old_e);
	vigil_entry_clear(&e);
}

/* Whether an item is opened ahead: a regular file by its d_type whose content or flags
 * are read. Not with decoys about (one must never be opened, and only an lstat tells
 * which it is) nor in --quick (most files are not opened at all). */
static bool is_preopened(const struct run *r, const struct item *it)
{
	return !it->has_st && it->dtype == DT_REG && !r->o->quick && r->mode != RUN_ACCEPT &&
	       (it->m.attrs & (VIGIL_ATTR_HASH | VIGIL_ATTR_FLAGS)) &&
	       vigil_decoy_set_count(r->decoys) == 0;
}

/*
 * Opens the regular files of a popped batch in one go (one io_uring submission where the
 * kernel allows) and takes each one's fstat as its record: a small file then costs an
 * fstat and a read, where lstat, open, fstat, read and close were five system calls.
 * What the name held at the open is what is read and recorded, so a file swapped after
 * the directory was read is recorded as what it is now, never mixed with an older lstat.
 * Anything else (an open that fails, a FIFO or device swapped in, a vanished file) is
 * left to the usual path: lstat, then vigil_entry_read.
 */
static void preopen(struct run *r, struct worker *w, struct item **batch, size_t n)
{
	vigil_file_open f[POP_BATCH];
	vigil_file_read rd[POP_BATCH];
	size_t idx[POP_BATCH], k = 0, nrd = 0;

	for (size_t i = 0; i < n; i++) {
		batch[i]->fd = -1;
		batch[i]->head = NULL;
		batch[i]->head_len = 0;
		if (w->files == NULL || !is_preopened(r, batch[i]))
			continue;
		f[k] = (vigil_file_open){.dirfd = batch[i]->dir->fd, .name = batch[i]->name};
		idx[k++] = i;
	}
	if (k == 0)
		return;
	vigil_file_batch_open(w->files, f, k);
	for (size_t j = 0; j < k; j++) {
		struct item *it = batch[idx[j]];

		if (f[j].fd < 0)
			continue;
		if (fstat(f[j].fd, &it->st) != 0 || !S_ISREG(it->st.st_mode)) {
			/* Never read from: the lstat path decides what it is. */
			close(f[j].fd);
			continue;
		}
		it->fd = f[j].fd;
		it->has_st = true;
		/* A whole small file in the same kind of submission. Only the content is read
		 * ahead: a file that needs only flags or xattrs, or a sparse one (its holes are
		 * skipped, not read), is left to vigil_entry_read_fd. */
		if ((it->m.attrs & VIGIL_ATTR_HASH) && it->st.st_size > 0 &&
		    it->st.st_size <= HEAD_BYTES &&
		    (int64_t)it->st.st_blocks * 512 >= it->st.st_size)
			rd[nrd++] = (vigil_file_read){.fd = it->fd,
						      .buf = w->heads + idx[j] * HEAD_BYTES,
						      .len = (size_t)it->st.st_size};
	}
	if (nrd == 0)
		return;
	vigil_file_batch_read(w->files, rd, nrd);
	for (size_t j = 0; j < nrd; j++) {
		/* The buffer says which item it belongs to. */
		struct item *it = batch[((uint8_t *)rd[j].buf - w->heads) / HEAD_BYTES];

		if (rd[j].got > 0) {
			it->head = rd[j].buf;
			it->head_len = (size_t)rd[j].got;
		}
	}
}

/* Closes what preopen opened, in one submission. */
static void close_preopened(struct worker *w, struct item **batch, size_t n)
{
	int fds[POP_BATCH];
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (batch[i]->fd >= 0)
			fds[k++] = batch[i]->fd;
	if (k > 0)
		vigil_file_batch_close(w->files, fds, k);
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	struct pending *rows = NULL;
	size_t nrows = 0;

	if (r->mode == RUN_INIT && (rows = malloc(PENDING_CAP * sizeof(*rows))) == NULL) {
		set_error(r, VIGIL_E_NOMEM, "out of memory");
		return NULL;
	}
	/* The ring is this thread's own (single issuer). Without one (out of memory), every
	 * item takes the usual path. */
	if (r->mode != RUN_ACCEPT && !r->o->quick &&
	    (w->heads = malloc((size_t)POP_BATCH * HEAD_BYTES)) != NULL)
		(void)vigil_file_batch_new(POP_BATCH, &w->files);
	for (;;) {
		struct item *batch[POP_BATCH];
		size_t n = 0;

		/* Several items per lock: with two cores, lock hand-offs cost more than work. */
		pthread_mutex_lock(&r->lock);
		while (r->qlen == 0 && !r->walk_done && r->error == 0) {
			r->idle_workers++;
			pthread_cond_wait(&r->can_pop, &r->lock);
			r->idle_workers--;
		}
		while (r->qlen > 0 && r->error == 0 && n < POP_BATCH) {
			batch[n++] = r->queue[r->qhead];
			r->qhead = (r->qhead + 1) % QUEUE_CAP;
			r->qlen--;
		}
		/* The walker is woken to refill half the queue, not one batch: a wake-up
		 * costs tens of microseconds, more than the items it hands over. */
		if (r->walker_waiting && (r->qlen <= QUEUE_CAP / 2 || r->error != 0))
			pthread_cond_signal(&r->can_push);
		pthread_mutex_unlock(&r->lock);
		if (n == 0)
			break;
		preopen(r, w, batch, n);
		for (size_t i = 0; i < n; i++) {
			if (!stat_item(r, batch[i]))
				; /* gone, unreadable or a decoy: as if never walked */
			else if (r->mode == RUN_INIT)
				nrows += work_record(r, batch[i], &rows[nrows]);
			else
				work_compare(r, w->store, w->tag_ctx, batch[i]);
		}
		close_preopened(w, batch, n);
		for (size_t i = 0; i < n; i++) {
			dir_release(batch[i]->dir);
			free(batch[i]);
		}
		nrows = flush_records(r, rows, nrows, nrows + POP_BATCH > PENDING_CAP);
	}
	flush_records(r, rows, nrows, true);
	free(rows);
	vigil_file_batch_free(w->files);
	w->files = NULL;
	free(w->heads);
	w->heads = NULL;
	return NULL;
}

/* ---- the walk: every entry under each root, in the walker thread ---- */

/* Hands the walker's gathered items to the workers under one lock and one wake-up: when
 * workers outpace the walker (check --quick), a wake-up per item costs more than the item. */
static int push_flush(struct run *r)
{
	size_t n = r->nbatch;
	int err;

	r->nbatch = 0;
	if (n == 0)
		return 0;
	pthread_mutex_lock(&r->lock);
	while (r->qlen + n > QUEUE_CAP && r->error == 0) {
		r->walker_waiting = true;
		pthread_cond_wait(&r->can_push, &r->lock);
		r->walker_waiting = false;
	}
	err = r->error;
	if (err == 0) {
		for (size_t i = 0; i < n; i++)
			r->queue[(r->qhead + r->qlen + i) % QUEUE_CAP] = r->batch[i];
		r->qlen += n;
		if (r->idle_workers > 0)
			pthread_cond_broadcast(&r->can_pop);
		progress_locked(r);
	}
	pthread_mutex_unlock(&r->lock);
	if (err != 0) {
		for (size_t i = 0; i < n; i++) {
			dir_release(r->batch[i]->dir);
			free(r->batch[i]);
		}
	}
	return err;
}

static int push_item(struct run *r, struct dirref *dir, const char *name, const struct stat *st,
		     unsigned char dtype, const vigil_match *m)
{
	size_t len = strlen(r->path);
	struct item *it = malloc(sizeof(*it) + len + 1);

	if (it == NULL)
		return VIGIL_E_NOMEM;
	memcpy(it->path, r->path, len + 1);
	it->path_len = len;
	it->has_st = st != NULL;
	it->dtype = dtype;
	it->fd = -1;
	if (st != NULL)
		it->st = *st;
	it->m = *m;
	/* name points into the item's own copy when it is the path's last component. */
	it->name = (name == NULL) ? "." : it->path + (len - strlen(name));
	it->dir = dir;
	atomic_fetch_add(&dir->refs, 1);
	r->batch[r->nbatch++] = it;
	return r->nbatch == PUSH_BATCH ? push_flush(r) : 0;
}

static bool is_own_file(const struct run *r, const char *path)
{
	for (size_t i = 0; i < r->nown; i++)
		if (strcmp(r->own[i], path) == 0)
			return true;
	return false;
}

/* SQLite creates and removes the -wal and -shm files beside the database on every run,
 * so the times and size of the directory holding it say nothing. */
static void mask_own_dir(const struct run *r, const char *path, vigil_match *m)
{
	if (r->own_dir != NULL && strcmp(path, r->own_dir) == 0)
		m->attrs &= ~(uint32_t)(VIGIL_ATTR_MTIME | VIGIL_ATTR_CTIME | VIGIL_ATTR_SIZE);
}

static bool is_other_root(const struct run *r, const char *path)
{
	for (size_t i = 0; i < r->nskip_roots; i++)
		if (strcmp(r->skip_roots[i], path) == 0)
			return true;
	return false;
}

static int path_set(struct run *r, size_t dir_len, const char *name)
{
	size_t nlen = strlen(name);
	size_t sep = (dir_len == 0 || r->path[dir_len - 1] == '/') ? 0 : 1;
	size_t need = dir_len + sep + nlen + 1;

	if (need > r->path_cap) {
		size_t cap = r->path_cap ? r->path_cap : 256;
		char *p;
		while (cap < need)
			cap *= 2;
		if ((p = realloc(r->path, cap)) == NULL)
			return VIGIL_E_NOMEM;
		r->path = p;
		r->path_cap = cap;
	}
	if (sep)
		r->path[dir_len] = '/';
	memcpy(r->path + dir_len + sep, name, nlen + 1);
	return 0;
}

static void warn(struct run *r, const char *path, const char *fmt, const char *what, int err)
{
	pthread_mutex_lock(&r->lock);
	warn_locked(r, path, fmt, what, strerror(err));
	pthread_mutex_unlock(&r->lock);
}

static int descend(struct run *r, struct dirref *parent, const char *name, const struct stat *st,
		   int depth);

/* The lstat of an item the walker left to the worker, with the walker's rules: a vanished
 * entry is skipped silently, another failure is a warning, a decoy is left alone.
 * Returns whether the item is to be read. */
static bool stat_item(struct run *r, struct item *it)
{
	if (it->has_st)
		return true;
	if (fstatat(it->dir->fd, it->name, &it->st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0) {
		if (errno != ENOENT)
			warn(r, it->path, "%s: %s", "lstat", errno);
		return false;
	}
	it->has_st = true;
	return !vigil_decoy_set_has(r->decoys, &it->st);
}

/* Walks the directory open as dir (path in r->path), depth levels deep. */
static int walk_dir(struct run *r, struct dirref *dir, int depth)
{
	size_t dir_len = strlen(r->path);
	/* getdents64(2) straight on the directory's fd: fdopendir would dup it and set its
	 * flags, four system calls a directory for nothing. readdir's buffer size. */
	char *buf = malloc(DIRENT_BUF);
	ssize_t n = 0, off = 0;
	int rc = 0;

	if (buf == NULL)
		return VIGIL_E_NOMEM;
	while (rc == 0) {
		const struct dirent64 *de;
		struct stat st;
		vigil_match m;
		const char *name;

		if (off >= n) {
			off = 0;
			if ((n = getdents64(dir->fd, buf, DIRENT_BUF)) < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r->path[dir_len] = '\0';
				warn(r, r->path, "%s: %s", "readdir", errno);
			}
			if (n <= 0)
				break;
		}
		de = (const struct dirent64 *)(buf + off);
		off += de->d_reclen;
		name = de->d_name;

		if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		if ((rc = path_set(r, dir_len, name)) != 0)
			break;
		if (is_own_file(r, r->path) || is_other_root(r, r->path))
			continue;
		if (!vigil_config_match(r->cfg, r->path, strlen(r->path), &m) || m.excluded)
			continue;
		mask_own_dir(r, r->path, &m);
		/* What the directory says is no directory needs no lstat here: the worker takes
		 * it, so the one walker thread does not do every entry's lstat (it is the
		 * bottleneck when little is hashed, as in check --quick). */
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) {
			if ((rc = push_item(r, dir, name, NULL, de->d_type, &m)) != 0)
				break;
			continue;
		}
		if (fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0) {
			if (errno != ENOENT)
				warn(r, r->path, "%s: %s", "lstat", errno);
			continue;
		}
		if (vigil_decoy_set_has(r->decoys, &st))
			continue;
		if ((rc = push_item(r, dir, name, &st, DT_UNKNOWN, &m)) != 0)
			break;
		if (S_ISDIR(st.st_mode) && r->cfg->rules[m.rule].recurse)
			rc = descend(r, dir, name, &st, depth + 1);
	}
	free(buf);
	r->path[dir_len] = '\0';
	return rc;
}

static int descend(struct run *r, struct dirref *parent, const char *name, const struct stat *st,
		   int depth)
{
	struct dirref *d;
	struct stat real;
	int fd, rc;

	if (depth > MAX_DEPTH) {
		warn(r, r->path, "%s: %s", "descend", ENAMETOOLONG);
		return 0;
	}
	fd = openat(parent->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(parent->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			warn(r, r->path, "%s: %s", "open directory", errno);
		return 0;
	}
	/* The directory read must be the one lstat saw, not something swapped in. */
	if (fstat(fd, &real) != 0 || real.st_ino != st->st_ino || real.st_dev != st->st_dev) {
		close(fd);
		return 0;
	}
	if ((d = malloc(sizeof(*d))) == NULL) {
		close(fd);
		return VIGIL_E_NOMEM;
	}
	d->fd = fd;
	d->refs = 1;
	rc = walk_dir(r, d, depth);
	dir_release(d);
	return rc;
}

/* One root: record the root entry itself, then what lies below it. */
static int walk_root(struct run *r, const char *root)
{
	struct dirref *parent;
	struct stat st;
	vigil_match m;
	const char *slash, *name;
	char *dir;
	int fd, rc;

	if (path_set(r, 0, root) != 0)
		return VIGIL_E_NOMEM;
	if (is_own_file(r, r->path))
		return 0;
	if (!vigil_config_match(r->cfg, r->path, strlen(r->path), &m) || m.excluded)
		return 0;
	mask_own_dir(r, r->path, &m);
	if (lstat(root, &st) != 0) {
		if (errno == ENOENT) {
			if (r->mode == RUN_INIT)
				warn(r, root, "%s: %s", "policy path", ENOENT);
			return 0;
		}
		warn(r, root, "%s: %s", "lstat", errno);
		return 0;
	}
	if (vigil_decoy_set_has(r->decoys, &st))
		return 0;
	slash = strrchr(root, '/');
	if (strcmp(root, "/") == 0) {
		dir = strdup("/");
		name = NULL;
	} else {
		dir = (slash == root) ? strdup("/") : strndup(root, (size_t)(slash - root));
		name = slash + 1;
	}
	if (dir == NULL)
		return VIGIL_E_NOMEM;
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0) {
		warn(r, root, "%s: %s", "open parent", errno);
		return 0;
	}
	if ((parent = malloc(sizeof(*parent))) == NULL) {
		close(fd);
		return VIGIL_E_NOMEM;
	}
	parent->fd = fd;
	parent->refs = 1;
	rc = push_item(r, parent, name, &st, DT_UNKNOWN, &m);
	if (rc == 0 && S_ISDIR(st.st_mode) && r->cfg->rules[m.rule].recurse)
		rc = descend(r, parent, name ? name : ".", &st, 1);
	dir_release(parent);
	return rc;
}

/* Walks `roots` with the worker pool; returns the first fatal error. */
static int walk_all(struct run *r, const char *const *roots, size_t nroots)
{
	unsigned jobs = r->o->jobs;
	struct worker w[64];
	unsigned started = 0;
	int rc = 0;

	if (jobs == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		jobs = n > 0 ? (unsigned)n : 1;
	}
	if (jobs > 64)
		jobs = 64;
	memset(w, 0, sizeof(w));
	for (; started < jobs; started++) {
		w[started].r = r;
		if ((w[started].tag_ctx = EVP_MD_CTX_new()) == NULL) {
			set_error(r, VIGIL_E_NOMEM, "out of memory");
			break;
		}
		if (r->mode == RUN_CHECK) {
			/* Readers see the same committed snapshot: nothing is written while
			 * check runs (its own shared lock keeps writers out). */
			rc = vigil_store_open(r->st->db_path, VIGIL_STORE_READ, r->o->wait, NULL,
					      NULL, &w[started].store);
			if (rc == 0)
				rc = vigil_store_begin_read(w[started].store);
			if (rc != 0) {
				set_error(r, rc, "%s: %s", r->st->db_path,
					  vigil_store_error(w[started].store));
				vigil_store_close(w[started].store);
				EVP_MD_CTX_free(w[started].tag_ctx);
				break;
			}
		}
		if (pthread_create(&w[started].tid, NULL, worker, &w[started]) != 0) {
			vigil_store_close(w[started].store);
			EVP_MD_CTX_free(w[started].tag_ctx);
			break;
		}
	}
	if (started == 0)
		return r->error ? r->error : VIGIL_E_SYSTEM;
	rc = r->error;
	for (size_t i = 0; i < nroots && rc == 0; i++)
		rc = walk_root(r, roots[i]);
	if (rc == 0)
		rc = push_flush(r);
	if (rc != 0)
		set_error(r, rc, "%s", rc == VIGIL_E_NOMEM ? "out of memory" : "walk failed");
	pthread_mutex_lock(&r->lock);
	r->walk_done = true;
	pthread_cond_broadcast(&r->can_pop);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		vigil_store_close(w[i].store);
		EVP_MD_CTX_free(w[i].tag_ctx);
	}
	/* Items left behind after an error still hold directory references. */
	while (r->qlen > 0) {
		struct item *it = r->queue[r->qhead];
		r->qhead = (r->qhead + 1) % QUEUE_CAP;
		r->qlen--;
		dir_release(it->dir);
		free(it);
	}
	for (size_t i = 0; i < r->nbatch; i++) {
		dir_release(r->batch[i]->dir);
		free(r->batch[i]);
	}
	r->nbatch = 0;
	return r->error;
}

/* ---- setup shared by every command ---- */

void vigil_baseline_options_default(vigil_baseline_options *o)
{
	memset(o, 0, sizeof(*o));
	o->hash_algo = -1;
	o->wait = true;
}

const char *vigil_change_kind_name(vigil_change_kind k)
{
	switch (k) {
	case VIGIL_CHANGE_ADDED:
		return "added";
	case VIGIL_CHANGE_REMOVED:
		return "removed";
	case VIGIL_CHANGE_CHANGED:
		return "changed";
	}
	return "?";
}

size_t vigil_change_value(const vigil_change *c, uint32_t attr, bool which_new, char *buf,
			  size_t cap)
{
	const vigil_entry *e = which_new ? c->new_entry : c->old_entry;

	if (e == NULL) {
		if (cap > 0)
			buf[0] = '\0';
		return 0;
	}
	return vigil_entry_format(e, attr, buf, cap);
}

size_t vigil_record_value(const vigil_entry *e, uint32_t attr, char *buf, size_t cap)
{
	return vigil_entry_format(e, attr, buf, cap);
}

/* An absolute form of path (relative to the working directory), malloc'd. */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX], *out;
	size_t len = strlen(path);

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (path[0] == '/')
		return strndup(path, len);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	if (asprintf(&out, "%s%s%.*s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", (int)len, path) < 0)
		return NULL;
	return out;
}

static int own_add(struct run *r, const char *path, const char *suffix)
{
	char *p, *abs = absolute(path), **own;

	if (abs == NULL)
		return VIGIL_E_NOMEM;
	if (asprintf(&p, "%s%s", abs, suffix) < 0) {
		free(abs);
		return VIGIL_E_NOMEM;
	}
	free(abs);
	if ((own = realloc(r->own, (r->nown + 1) * sizeof(*own))) == NULL) {
		free(p);
		return VIGIL_E_NOMEM;
	}
	r->own = own;
	r->own[r->nown++] = p;
	return 0;
}

static void on_lock_wait(void *user, long pid)
{
	struct run *r = user;

	if (r->cb && r->cb->on_wait)
		r->cb->on_wait(r->cb->user, pid);
}

static const char *key_path_of(const struct run *r)
{
	if (r->o->key_path)
		return r->o->key_path;
	if (r->cfg && r->cfg->key)
		return r->cfg->key;
	return VIGIL_DEFAULT_KEY;
}

/* The sealer a command needs: signing for init/accept, verifying for check/list. */
static int open_sealer(struct run *r, bool sign, bool create_key, char *err, size_t cap)
{
	const char *pub = r->o->public_key ? r->o->public_key : r->cfg->public_key;

	if (sign) {
		if (r->o->signing_key)
			return vigil_sealer_ed25519_private(r->o->signing_key, &r->sealer, err,
							    cap);
		if (pub != NULL) {
			snprintf(
			    err, cap,
			    "the policy requires an Ed25519-signed baseline (public_key = %s): "
			    "give the private key with --signing-key",
			    pub);
			return VIGIL_E_INVALID;
		}
		return vigil_sealer_hmac(key_path_of(r), create_key, &r->sealer, err, cap);
	}
	if (pub != NULL)
		return vigil_sealer_ed25519_public(pub, &r->sealer, err, cap);
	return vigil_sealer_hmac(key_path_of(r), false, &r->sealer, err, cap);
}

static int run_open(struct run *r, enum run_mode mode, const vigil_baseline_options *o,
		    const vigil_baseline_callbacks *cb, vigil_baseline_stats *st, char *err,
		    size_t cap)
{
	static const vigil_baseline_callbacks no_cb;
	int rc;

	memset(st, 0, sizeof(*st));
	memset(r, 0, sizeof(*r));
	r->mode = mode;
	r->o = o;
	r->cb = cb ? cb : &no_cb;
	r->st = st;
	r->t0 = now_ns();
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->can_push, NULL);
	pthread_cond_init(&r->can_pop, NULL);
	if (RAND_bytes(r->salt, sizeof(r->salt)) != 1) {
		snprintf(err, cap, "no random bytes for the run");
		return VIGIL_E_CRYPTO;
	}
	if ((r->tag_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (r->tag_ctx = EVP_MD_CTX_new()) == NULL) {
		snprintf(err, cap, "SHA-256 is not available");
		return VIGIL_E_CRYPTO;
	}
	if (o->config_path) {
		if ((rc = vigil_config_load(o->config_path, &r->cfg, err, cap)) != 0)
			return rc;
		if (o->npaths > 0 && mode == RUN_INIT) {
			snprintf(err, cap, "give either --config or paths, not both");
			return VIGIL_E_INVALID;
		}
	} else {
		if (o->npaths == 0 && mode == RUN_INIT) {
			snprintf(err, cap, "nothing to record: give paths or --config FILE");
			return VIGIL_E_INVALID;
		}
		if ((rc = vigil_config_from_paths(o->paths, mode == RUN_INIT ? o->npaths : 0,
						  o->attrs ? o->attrs : VIGIL_ATTR_DEFAULT,
						  &r->cfg)) != 0) {
			snprintf(err, cap, "out of memory");
			return rc;
		}
	}
	r->algo = o->hash_algo >= 0 ? (vigil_hash_algo)o->hash_algo : r->cfg->hash;
	/* Decoys are planted to be left alone: hashing one would open it (a canary alert),
	 * and planting or removing one is no integrity change. */
	if ((rc = vigil_decoy_set_load(r->cfg->watch.canaries, &r->decoys)) != 0)
		return rc;
	snprintf(st->db_path, sizeof(st->db_path), "%s",
		 o->db_path         ? o->db_path
		 : r->cfg->database ? r->cfg->database
				    : VIGIL_DEFAULT_DB);
	/* The baseline's own files change with every run: never part of it. */
	if ((rc = own_add(r, st->db_path, "")) != 0 ||
	    (rc = own_add(r, st->db_path, "-wal")) != 0 ||
	    (rc = own_add(r, st->db_path, "-shm")) != 0 ||
	    (rc = own_add(r, st->db_path, "-journal")) != 0 ||
	    (rc = own_add(r, st->db_path, ".lock")) != 0 ||
	    (rc = own_add(r, key_path_of(r), "")) != 0)
		return rc;
	/* own[0] is the database's absolute path. */
	if ((r->own_dir = strdup(r->own[0])) == NULL)
		return VIGIL_E_NOMEM;
	*strrchr(r->own_dir, '/') = '\0';
	if (r->own_dir[0] == '\0')
		strcpy(r->own_dir, "/");
	return 0;
}

static int open_store(struct run *r, vigil_store_mode mode, char *err, size_t cap)
{
	int rc = vigil_store_open(r->st->db_path, mode, r->o->wait, on_lock_wait, r, &r->store);

	if (rc == VIGIL_E_NOT_FOUND)
		snprintf(err, cap, "no baseline at %s: run vigil init first", r->st->db_path);
	else if (rc == VIGIL_E_LIMIT)
		snprintf(err, cap, "%s is in use by another vigil", r->st->db_path);
	else if (rc != 0)
		snprintf(err, cap, "%s: %s", r->st->db_path,
			 r->store               ? vigil_store_error(r->store)
			 : rc == VIGIL_E_SYSTEM ? strerror(errno)
						: vigil_strerror(rc));
	return rc;
}

static void run_close(struct run *r)
{
	vigil_store_close(r->store);
	vigil_sealer_free(r->sealer);
	vigil_config_free(r->cfg);
	vigil_decoy_set_free(r->decoys);
	for (size_t i = 0; i < r->nown; i++)
		free(r->own[i]);
	free(r->own);
	free(r->own_dir);
	for (size_t i = 0; i < r->nfound; i++) {
		vigil_entry_clear(&r->found[i].old_e);
		vigil_entry_clear(&r->found[i].new_e);
	}
	free(r->found);
	free(r->seen);
	free(r->path);
	free(r->first_bad);
	EVP_MD_CTX_free(r->tag_ctx);
	EVP_MD_free(r->tag_md);
	r->tag_ctx = NULL;
	r->tag_md = NULL;
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->can_push);
	pthread_cond_destroy(&r->can_pop);
	r->st->elapsed_ns = now_ns() - r->t0;
}

/* The roots this run walks, outermost first; nested roots are walked on their own. */
static int policy_roots(struct run *r, vigil_root **roots, size_t *n, const char ***paths)
{
	int rc = vigil_config_roots(r->cfg, roots, n);

	if (rc != 0)
		return rc;
	if ((*paths = calloc(*n + 1, sizeof(**paths))) == NULL)
		return VIGIL_E_NOMEM;
	for (size_t i = 0; i < *n; i++)
		(*paths)[i] = (*roots)[i].path;
	return 0;
}

/* Boot sectors of whole disks: the Sony wiper overwrote the MBR. */
static int record_boot_sectors(struct run *r)
{
	char **devs = NULL;
	size_t n = 0;
	int rc = 0;

	if (r->cfg->boot_auto) {
		if ((rc = vigil_boot_devices(&devs, &n)) != 0)
			return rc;
	} else {
		for (; r->cfg->boot_devices[n] != NULL; n++)
			;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *dev = r->cfg->boot_auto ? devs[i] : r->cfg->boot_devices[i];
		vigil_entry e = {0};
		vigil_entry old_e = {0};
		uint8_t mac[VIGIL_ROW_MAC_LEN];
		int64_t nread = 0;
		int drc;

		e.type = S_IFBLK;
		e.attrs = VIGIL_ATTR_TYPE | VIGIL_ATTR_BOOT_SECTOR;
		e.hash_algo = (uint8_t)r->algo;
		drc = vigil_boot_sector_digest(dev, r->algo, e.hash, &e.hash_len, &nread);
		if (drc != 0) {
			warn(r, dev, "%s: %s", "boot sector",
			     drc == VIGIL_E_SYSTEM ? errno : EINVAL);
			continue;
		}
		if ((e.path = strdup(dev)) == NULL) {
			rc = VIGIL_E_NOMEM;
			break;
		}
		e.path_len = strlen(dev);
		pthread_mutex_lock(&r->lock);
		if (r->mode == RUN_INIT) {
			if ((rc = vigil_seal_row(r->sealer, &e, mac)) == 0)
				rc = vigil_store_put(r->store, &e, mac, sizeof(mac));
			r->st->entries++;
		} else {
			uint8_t old_mac[VIGIL_STORE_MAC_MAX];
			size_t old_mac_len = 0;

			drc = vigil_store_get_row(r->store, e.path, e.path_len, &old_e, old_mac,
						  &old_mac_len);
			if (drc == 0)
				(void)seen_add(r, path_tag(r, r->tag_ctx, e.path, e.path_len));
			if (drc == 0 && r->check_rows &&
			    (drc = vigil_seal_check_row(r->sealer, &old_e, old_mac, old_mac_len)) ==
				VIGIL_E_FORMAT)
				rc = bad_row_locked(r, e.path, e.path_len);
			else if (drc == VIGIL_E_NOT_FOUND)
				rc = found_add(r, VIGIL_CHANGE_ADDED, e.attrs, NULL, &e);
			else if (drc != 0)
				rc = drc;
			else if (vigil_entry_diff(&old_e, &e, e.attrs) != 0)
				rc = found_add(r, VIGIL_CHANGE_CHANGED,
					       vigil_entry_diff(&old_e, &e, e.attrs), &old_e, &e);
		}
		pthread_mutex_unlock(&r->lock);
		vigil_entry_clear(&e);
		vigil_entry_clear(&old_e);
	}
	for (size_t i = 0; devs && i < n; i++)
		free(devs[i]);
	free(devs);
	return rc;
}

static int cmp_tag(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	const vigil_entry *ex = x->new_e.path ? &x->new_e : &x->old_e;
	const vigil_entry *ey = y->new_e.path ? &y->new_e : &y->old_e;
	size_t n = ex->path_len < ey->path_len ? ex->path_len : ey->path_len;
	int c = memcmp(ex->path, ey->path, n);

	if (c != 0)
		return c;
	return ex->path_len < ey->path_len ? -1 : ex->path_len > ey->path_len;
}

static int removed_row(void *user, const vigil_entry *e, const uint8_t *mac, size_t mac_len)
{
	struct run *r = user;
	uint64_t tag = path_tag(r, r->tag_ctx, e->path, e->path_len);
	vigil_entry copy = {0};
	int rc;

	if (r->nseen > 0 && bsearch(&tag, r->seen, r->nseen, sizeof(*r->seen), cmp_tag) != NULL)
		return 0;
	/* Not seen by the walk, so not yet checked: a row changed after sealing is no
	 * removal. */
	if ((rc = check_row(r, e, mac, mac_len)) != 0)
		return rc == VIGIL_E_FORMAT ? 0 : rc;
	if ((rc = vigil_entry_copy(&copy, e)) != 0)
		return rc;
	rc = found_add(r, VIGIL_CHANGE_REMOVED, e->attrs, &copy, NULL);
	vigil_entry_clear(&copy);
	return rc;
}

/* Distinct tags in the sorted r->seen. */
static size_t count_distinct(const struct run *r)
{
	size_t n = r->nseen > 0;

	for (size_t i = 1; i < r->nseen; i++)
		n += r->seen[i] != r->seen[i - 1];
	return n;
}

/* Rows (below prefix, or all) that the walk did not see: removed. */
static int find_removed(struct run *r, const char *prefix)
{
	uint64_t rows;
	int rc;

	if (r->nseen > 1)
		qsort(r->seen, r->nseen, sizeof(*r->seen), cmp_tag);
	/* Every tag in seen is of a row found in this snapshot, so as many distinct tags as
	 * rows means every row was seen: nothing to read. Two paths with one tag only make
	 * the count smaller, and then every row is read. */
	if (prefix == NULL && vigil_store_count(r->store, &rows) == 0 && rows == count_distinct(r))
		return 0;
	rc = vigil_store_each(r->store, prefix, prefix ? strlen(prefix) : 0, removed_row, r);
	if (rc == VIGIL_E_FORMAT)
		snprintf(r->errmsg, sizeof(r->errmsg), "%s", vigil_store_error(r->store));
	return rc;
}

static int emit_changes(struct run *r)
{
	if (r->nfound > 1)
		qsort(r->found, r->nfound, sizeof(*r->found), cmp_found);
	for (size_t i = 0; i < r->nfound; i++) {
		const struct found *f = &r->found[i];
		vigil_change c = change_of(f->kind, f->attrs, f->old_e.path ? &f->old_e : NULL,
					   f->new_e.path ? &f->new_e : NULL);
		int rc;

		if (r->cb->on_change && (rc = r->cb->on_change(r->cb->user, &c)) != 0)
			return rc;
	}
	return 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int verify_seal(struct run *r, char *err, size_t cap)
{
	char *v = NULL;
	int rc;

	/* check reads every row it compares anyway: their MACs are checked there, by the
	 * workers, and only the set of row MACs here. */
	rc = r->check_rows ? vigil_seal_verify_set(r->sealer, r->store, err, cap)
			   : vigil_seal_verify(r->sealer, r->store, err, cap);
	if (rc != 0)
		return rc;
	if (vigil_store_meta_get(r->store, "generation", &v) == 0) {
		r->st->generation = strtoull(v, NULL, 10);
		free(v);
	}
	snprintf(r->st->seal_mode, sizeof(r->st->seal_mode), "%s",
		 vigil_seal_mode_name(vigil_sealer_mode(r->sealer)));
	return 0;
}

/* Remarks that a check cannot act on but a reviewer should know. */
static void check_policy_digest(struct run *r)
{
	uint8_t d[32];
	char now[65], *then = NULL;

	if (r->o->config_path == NULL)
		return;
	vigil_config_digest(r->cfg, d);
	hex(d, sizeof(d), now);
	if (vigil_store_meta_get(r->store, "config_digest", &then) == 0 && strcmp(then, now) != 0) {
		pthread_mutex_lock(&r->lock);
		warn_locked(r, r->o->config_path,
			    "the policy changed since the baseline was recorded: run vigil init "
			    "or vigil accept --all after reviewing");
		pthread_mutex_unlock(&r->lock);
	}
	free(then);
}

static int seal_and_commit(struct run *r, char *err, size_t cap)
{
	int rc;

	rc =
	    vigil_seal_store(r->sealer, r->store, r->st->seal_digest, &r->st->generation, err, cap);
	if (rc != 0)
		return rc;
	snprintf(r->st->seal_mode, sizeof(r->st->seal_mode), "%s",
		 vigil_seal_mode_name(vigil_sealer_mode(r->sealer)));
	if ((rc = vigil_store_commit(r->store)) != 0)
		snprintf(err, cap, "%s", vigil_store_error(r->store));
	return rc;
}

/* Who is running this, for the history: the login behind sudo when there is one. */
static void who(char *buf, size_t cap, uint32_t *uid)
{
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");

	*uid = (uint32_t)getuid();
	if (pw == NULL)
		snprintf(buf, cap, "uid %u", *uid);
	else if (sudo != NULL && getuid() == 0)
		snprintf(buf, cap, "%s (sudo from %s)", pw->pw_name, sudo);
	else
		snprintf(buf, cap, "%s", pw->pw_name);
}

static int finish(struct run *r, int rc, char *err, size_t cap)
{
	if (rc != 0 && err[0] == '\0')
		snprintf(err, cap, "%s", r->errmsg[0] ? r->errmsg : vigil_strerror(rc));
	run_close(r);
	return rc;
}

/* Without a config file, the paths given to init are the policy: kept in the metadata
 * (hex, so any byte survives) for check and accept to walk again. */
static int store_roots(struct run *r)
{
	size_t len = 1;
	char *text, *p, num[32];
	int rc;

	if (r->o->config_path != NULL)
		return 0;
	for (size_t i = 0; i < r->cfg->nrules; i++)
		len += 2 * strlen(r->cfg->rules[i].root) + 1;
	if ((p = text = malloc(len)) == NULL)
		return VIGIL_E_NOMEM;
	for (size_t i = 0; i < r->cfg->nrules; i++) {
		const char *root = r->cfg->rules[i].root;
		hex((const uint8_t *)root, strlen(root), p);
		p += 2 * strlen(root);
		*p++ = i + 1 < r->cfg->nrules ? ' ' : '\0';
	}
	*p = '\0';
	rc = vigil_store_meta_set(r->store, "roots", text);
	free(text);
	snprintf(num, sizeof(num), "%u", r->cfg->nrules ? r->cfg->rules[0].attrs : 0);
	if (rc == 0)
		rc = vigil_store_meta_set(r->store, "attrs", num);
	return rc;
}

/* The policy a baseline was made under, when the command names none: its config file,
 * or the paths given to init. */
static int config_from_store(struct run *r, char *err, size_t cap)
{
	char *cfg = NULL, *roots = NULL, *attrs = NULL, **paths = NULL;
	size_t n = 0;
	int rc;

	if (vigil_store_meta_get(r->store, "config", &cfg) == 0 && strcmp(cfg, "(paths)") != 0) {
		vigil_config_free(r->cfg);
		r->cfg = NULL;
		if ((rc = vigil_config_load(cfg, &r->cfg, err, cap)) == 0) {
			if (r->o->hash_algo < 0)
				r->algo = r->cfg->hash;
			rc = own_add(r, key_path_of(r), "");
		}
		goto out;
	}
	if ((rc = vigil_store_meta_get(r->store, "roots", &roots)) != 0 ||
	    (rc = vigil_store_meta_get(r->store, "attrs", &attrs)) != 0) {
		snprintf(err, cap, "%s: the baseline does not say which paths it covers",
			 r->st->db_path);
		rc = VIGIL_E_FORMAT;
		goto out;
	}
	for (char *tok = strtok(roots, " "); tok; tok = strtok(NULL, " ")) {
		size_t len = strlen(tok) / 2;
		char *path = malloc(len + 1), **grown;
		if (path == NULL || (grown = realloc(paths, (n + 1) * sizeof(*paths))) == NULL) {
			free(path);
			rc = VIGIL_E_NOMEM;
			goto out;
		}
		paths = grown;
		for (size_t i = 0; i < len; i++) {
			unsigned v;
			sscanf(tok + 2 * i, "%2x", &v);
			path[i] = (char)v;
		}
		path[len] = '\0';
		paths[n++] = path;
	}
	vigil_config_free(r->cfg);
	r->cfg = NULL;
	/* The key and database stay what the caller gave or the defaults. */
	rc = vigil_config_from_paths((const char *const *)paths, n,
				     (uint32_t)strtoul(attrs, NULL, 10), &r->cfg);
	if (rc == 0 && r->o->hash_algo < 0) {
		char *h = NULL;
		if (vigil_store_meta_get(r->store, "hash", &h) == 0)
			(void)vigil_hash_algo_from_name(h, &r->algo);
		free(h);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(cfg);
	free(roots);
	free(attrs);
	return rc;
}

/* Opens the store, adopts the policy it was made with unless the caller named one, and
 * verifies the seal: what every command but init starts with. */
static int open_verified(struct run *r, vigil_store_mode mode, bool sign, char *err, size_t cap)
{
	int rc;

	if ((rc = open_store(r, mode, err, cap)) != 0)
		return rc;
	/* One snapshot for the seal check and the comparison (accept's write transaction
	 * begins after this one ends). */
	if (mode == VIGIL_STORE_READ && (rc = vigil_store_begin_read(r->store)) != 0) {
		snprintf(err, cap, "%s", vigil_store_error(r->store));
		return rc;
	}
	if (r->o->config_path == NULL && (rc = config_from_store(r, err, cap)) != 0)
		return rc;
	if ((rc = open_sealer(r, sign, false, err, cap)) != 0)
		return rc;
	return verify_seal(r, err, cap);
}

int vigil_baseline_init(const vigil_baseline_options *o, const vigil_baseline_callbacks *cb,
			vigil_baseline_stats *st, char *err, size_t cap)
{
	struct run r;
	vigil_root *roots = NULL;
	const char **paths = NULL;
	size_t nroots = 0;
	char user[256], text[128];
	uint8_t d[32];
	uint32_t uid;
	int64_t event;
	int rc;

	err[0] = '\0';
	if ((rc = run_open(&r, RUN_INIT, o, cb, st, err, cap)) != 0)
		goto out;
	if ((rc = open_sealer(&r, true, true, err, cap)) != 0)
		goto out;
	if ((rc = open_store(&r, VIGIL_STORE_CREATE, err, cap)) != 0)
		goto out;
	if ((rc = policy_roots(&r, &roots, &nroots, &paths)) != 0)
		goto out;
	r.skip_roots = paths;
	r.nskip_roots = nroots;
	/* One transaction: until it commits, the previous baseline stays the valid one. */
	if ((rc = vigil_store_begin(r.store)) != 0) {
		snprintf(err, cap, "%s", vigil_store_error(r.store));
		goto out;
	}
	if ((rc = walk_all(&r, paths, nroots)) != 0)
		goto out;
	clear_locked(&r); /* no worker had a row: nothing under the roots */
	if ((rc = r.error) != 0)
		goto out;
	if ((rc = record_boot_sectors(&r)) != 0)
		goto out;
	who(user, sizeof(user), &uid);
	vigil_config_digest(r.cfg, d);
	hex(d, sizeof(d), text);
	if ((rc = vigil_store_meta_set(r.store, "config_digest", text)) != 0 ||
	    (rc = vigil_store_meta_set(r.store, "hash", vigil_hash_algo_name(r.algo))) != 0 ||
	    (rc = vigil_store_meta_set(r.store, "config",
				       o->config_path ? o->config_path : "(paths)")) != 0 ||
	    (rc = store_roots(&r)) != 0 ||
	    (rc = vigil_store_event_begin(r.store, "init", user, uid, o->note, &event)) != 0) {
		snprintf(err, cap, "%s", vigil_store_error(r.store));
		goto out;
	}
	rc = seal_and_commit(&r, err, cap);
out:
	if (rc != 0 && r.store)
		vigil_store_rollback(r.store);
	vigil_roots_free(roots, nroots);
	free(paths);
	return finish(&r, rc, err, cap);
}

/* Walks, compares and collects: check's and accept's common part. */
static int compare(struct run *r, const char *const *only, size_t nonly, char *err, size_t cap)
{
	vigil_root *roots = NULL;
	const char **paths = NULL;
	size_t nroots = 0;
	int rc;

	if (only == NULL) {
		if ((rc = policy_roots(r, &roots, &nroots, &paths)) != 0)
			goto out;
		r->skip_roots = paths;
		r->nskip_roots = nroots;
		if ((rc = walk_all(r, paths, nroots)) != 0)
			goto out;
		if ((rc = record_boot_sectors(r)) != 0)
			goto out;
		rc = find_removed(r, NULL);
		/* A changed row makes the baseline untrustworthy, whatever else was found. */
		if (rc == 0 && r->nbad > 0) {
			vigil_seal_bad_rows(err, cap, r->first_bad, r->first_bad_len, r->nbad);
			rc = VIGIL_E_FORMAT;
		}
	} else {
		if ((rc = walk_all(r, only, nonly)) != 0)
			goto out;
		for (size_t i = 0; i < nonly && rc == 0; i++)
			rc = find_removed(r, only[i]);
	}
out:
	if (rc != 0 && err[0] == '\0')
		snprintf(err, cap, "%s", r->errmsg[0] ? r->errmsg : vigil_strerror(rc));
	vigil_roots_free(roots, nroots);
	free(paths);
	return rc;
}

int vigil_baseline_check(const vigil_baseline_options *o, const vigil_baseline_callbacks *cb,
			 vigil_baseline_stats *st, char *err, size_t cap)
{
	struct run r;
	int rc;

	err[0] = '\0';
	if ((rc = run_open(&r, RUN_CHECK, o, cb, st, err, cap)) != 0)
		goto out;
	r.check_rows = true;
	if ((rc = open_verified(&r, VIGIL_STORE_READ, false, err, cap)) != 0)
		goto out;
	check_policy_digest(&r);
	if ((rc = compare(&r, NULL, 0, err, cap)) != 0)
		goto out;
	rc = emit_changes(&r);
out:
	return finish(&r, rc, err, cap);
}

/* Takes one collected change into the store, keeping the old values in the history. */
static int apply_change(struct run *r, int64_t event, const struct found *f)
{
	uint8_t mac[VIGIL_ROW_MAC_LEN];
	int rc;

	if (f->kind == VIGIL_CHANGE_REMOVED)
		rc = vigil_store_delete(r->store, f->old_e.path, f->old_e.path_len);
	else if ((rc = vigil_seal_row(r->sealer, &f->new_e, mac)) == 0)
		rc = vigil_store_put(r->store, &f->new_e, mac, sizeof(mac));
	if (rc == 0)
		rc = vigil_store_history_add(r->store, event, f->old_e.path ? &f->old_e : NULL,
					     f->new_e.path ? &f->new_e : NULL);
	return rc;
}

int vigil_baseline_accept(const vigil_baseline_options *o, const char *const *paths, size_t npaths,
			  bool all, const vigil_baseline_callbacks *cb, vigil_baseline_stats *st,
			  char *err, size_t cap)
{
	struct run r;
	char **only = NULL, user[256];
	uint32_t uid;
	int64_t event;
	int rc;

	err[0] = '\0';
	if ((rc = run_open(&r, RUN_ACCEPT, o, cb, st, err, cap)) != 0)
		goto out;
	if (all == (npaths > 0)) {
		snprintf(err, cap, "name the paths to accept, or --all (not both)");
		rc = VIGIL_E_INVALID;
		goto out;
	}
	/* Accepting into a tampered baseline would launder the tampering: verified first. */
	if ((rc = open_verified(&r, VIGIL_STORE_WRITE, true, err, cap)) != 0)
		goto out;
	if ((only = calloc(npaths + 1, sizeof(*only))) == NULL) {
		rc = VIGIL_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < npaths; i++) {
		vigil_match m;
		if ((only[i] = absolute(paths[i])) == NULL) {
			rc = VIGIL_E_NOMEM;
			goto out;
		}
		if (!vigil_config_match(r.cfg, only[i], strlen(only[i]), &m) || m.excluded) {
			snprintf(err, cap, "%s is not covered by the baseline's policy", only[i]);
			rc = VIGIL_E_INVALID;
			goto out;
		}
	}
	if ((rc = vigil_store_begin(r.store)) != 0) {
		snprintf(err, cap, "%s", vigil_store_error(r.store));
		goto out;
	}
	if ((rc = compare(&r, all ? NULL : (const char *const *)only, npaths, err, cap)) != 0)
		goto out;
	who(user, sizeof(user), &uid);
	if ((rc = vigil_store_event_begin(r.store, "accept", user, uid, o->note, &event)) != 0) {
		snprintf(err, cap, "%s", vigil_store_error(r.store));
		goto out;
	}
	for (size_t i = 0; i < r.nfound && rc == 0; i++)
		rc = apply_change(&r, event, &r.found[i]);
	if (rc != 0) {
		snprintf(err, cap, "%s", vigil_store_error(r.store));
		goto out;
	}
	if ((rc = seal_and_commit(&r, err, cap)) != 0)
		goto out;
	rc = emit_changes(&r);
out:
	if (rc != 0 && r.store)
		vigil_store_rollback(r.store);
	for (size_t i = 0; only && i < npaths; i++)
		free(only[i]);
	free(only);
	return finish(&r, rc, err, cap);
}

struct list_ctx {
	int (*fn)(void *user, const vigil_record *r);
	void *user;
	uint64_t count;
};

static int list_row(void *user, const vigil_entry *e, const uint8_t *mac, size_t mac_len)
{
	struct list_ctx *l = user;
	vigil_record rec = {
	    .entry = e, .path = e->path, .path_len = e->path_len, .attrs = e->attrs};

	(void)mac;
	(void)mac_len;
	l->count++;
	return l->fn(l->user, &rec);
}

int vigil_baseline_list(const vigil_baseline_options *o, const char *prefix,
			int (*fn)(void *user, const vigil_record *r), void *user,
			vigil_baseline_stats *st, char *err, size_t cap)
{
	struct run r;
	struct list_ctx l = {.fn = fn, .user = user};
	char *abs = NULL;
	int rc;

	err[0] = '\0';
	if ((rc = run_open(&r, RUN_CHECK, o, NULL, st, err, cap)) != 0)
		goto out;
	if ((rc = open_verified(&r, VIGIL_STORE_READ, false, err, cap)) != 0)
		goto out;
	if (prefix && (abs = absolute(prefix)) == NULL) {
		rc = VIGIL_E_NOMEM;
		goto out;
	}
	rc = vigil_store_each(r.store, abs, abs ? strlen(abs) : 0, list_row, &l);
	if (rc == VIGIL_E_FORMAT)
		snprintf(err, cap, "%s", vigil_store_error(r.store));
	st->entries = l.count;
out:
	free(abs);
	return finish(&r, rc, err, cap);
}

struct history_ctx {
	int (*fn)(void *user, const vigil_record *r);
	void *user;
};

static int history_row(void *user, const vigil_history_record *h)
{
	struct history_ctx *c = user;
	const vigil_entry *e = h->new_e ? h->new_e : h->old_e;
	vigil_record rec = {
	    .entry = h->new_e,
	    .old_entry = h->old_e,
	    .path = e ? e->path : NULL,
	    .path_len = e ? e->path_len : 0,
	    .attrs = e ? e->attrs : 0,
	    .event_id = h->event_id,
	    .action = h->action,
	    .user_name = h->user_name,
	    .uid = h->uid,
	    .time_us = h->time_us,
	    .note = h->note,
	};

	return c->fn(c->user, &rec);
}

int vigil_baseline_history(const vigil_baseline_options *o, const char *path,
			   int (*fn)(void *user, const vigil_record *r), void *user, char *err,
			   size_t cap)
{
	struct run r;
	vigil_baseline_stats st;
	struct history_ctx c = {.fn = fn, .user = user};
	char *abs = NULL;
	int rc;

	err[0] = '\0';
	if ((rc = run_open(&r, RUN_CHECK, o, NULL, &st, err, cap)) != 0)
		goto out;
	if ((rc = open_verified(&r, VIGIL_STORE_READ, false, err, cap)) != 0)
		goto out;
	if (path && (abs = absolute(path)) == NULL) {
		rc = VIGIL_E_NOMEM;
		goto out;
	}
	rc = vigil_store_history_each(r.store, abs, abs ? strlen(abs) : 0, history_row, &c);
	if (rc == VIGIL_E_FORMAT)
		snprintf(err, cap, "%s", vigil_store_error(r.store));
out:
	free(abs);
	return finish(&r, rc, err, cap);
}

/* ---- a baseline kept open for vigil watch ---- */

struct vigil_baseline {
	struct run r;
	vigil_baseline_options o;
	vigil_baseline_stats st;
	vigil_root *roots;
	size_t nroots;
	const char **root_paths;
	const char **own_paths;
};

static void session_release(vigil_baseline *b)
{
	vigil_roots_free(b->roots, b->nroots);
	free(b->root_paths);
	free(b->own_paths);
	b->roots = NULL;
	b->root_paths = b->own_paths = NULL;
	b->nroots = 0;
	run_close(&b->r);
}

static int session_load(vigil_baseline *b, char *err, size_t cap)
{
	struct run *r = &b->r;
	int rc;

	err[0] = '\0';
	if ((rc = run_open(r, RUN_CHECK, &b->o, NULL, &b->st, err, cap)) != 0)
		return rc;
	if ((rc = open_verified(r, VIGIL_STORE_READ, false, err, cap)) != 0)
		return rc;
	/* A daemon must neither pin an old snapshot nor hold off init and accept. */
	vigil_store_rollback(r->store);
	vigil_store_unlock(r->store);
	if ((rc = policy_roots(r, &b->roots, &b->nroots, &b->root_paths)) != 0)
		return rc;
	if ((b->own_paths = calloc(r->nown + 2, sizeof(*b->own_paths))) == NULL)
		return VIGIL_E_NOMEM;
	for (size_t i = 0; i < r->nown; i++)
		b->own_paths[i] = r->own[i];
	if (r->cfg->source)
		b->own_paths[r->nown] = r->cfg->source;
	return 0;
}

int vigil_baseline_open(const vigil_baseline_options *o, vigil_baseline **out, char *err,
			size_t cap)
{
	vigil_baseline *b = calloc(1, sizeof(*b));
	int rc;

	*out = NULL;
	if (b == NULL)
		return VIGIL_E_NOMEM;
	b->o = *o;
	b->o.paths = NULL; /* a session follows the baseline's policy */
	b->o.npaths = 0;
	if ((rc = session_load(b, err, cap)) != 0) {
		session_release(b);
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

void vigil_baseline_close(vigil_baseline *b)
{
	if (b == NULL)
		return;
	session_release(b);
	free(b);
}

int vigil_baseline_hold(vigil_baseline *b)
{
	return b->r.store ? vigil_store_begin_read(b->r.store) : VIGIL_E_INVALID;
}

void vigil_baseline_release(vigil_baseline *b)
{
	vigil_store_rollback(b->r.store); /* a read transaction: nothing to undo */
}

int vigil_baseline_reload(vigil_baseline *b, char *err, size_t cap)
{
	session_release(b);
	return session_load(b, err, cap);
}

size_t vigil_baseline_roots(const vigil_baseline *b, const char *const **roots)
{
	*roots = b->root_paths;
	return b->nroots;
}

size_t vigil_baseline_own_files(const vigil_baseline *b, const char *const **files)
{
	size_t n = 0;

	*files = b->own_paths;
	while (b->own_paths[n] != NULL)
		n++;
	return n;
}

bool vigil_baseline_covers(const vigil_baseline *b, const char *path)
{
	vigil_match m;

	if (is_own_file(&b->r, path))
		return false;
	return vigil_config_match(b->r.cfg, path, strlen(path), &m) && !m.excluded;
}

struct removed_ctx {
	int (*fn)(void *user, const vigil_change *c);
	void *user;
};

static int report_removed(void *user, const vigil_entry *e, const uint8_t *mac, size_t mac_len)
{
	struct removed_ctx *c = user;
	vigil_change ch = {.path = NULL, .kind = VIGIL_CHANGE_REMOVED, .attrs = e->attrs};
	char *path = strndup(e->path, e->path_len); /* rows from each are not NUL-terminated */
	int rc;

	(void)mac;
	(void)mac_len;
	if (path == NULL)
		return VIGIL_E_NOMEM;
	ch.path = path;
	ch.path_len = e->path_len;
	ch.old_entry = e;
	rc = c->fn(c->user, &ch);
	free(path);
	return rc;
}

/* baseline_int.h */
int vigil_baseline_compare_path_st(vigil_baseline *b, const char *path, size_t len,
				   int (*fn)(void *user, const vigil_change *c), void *user,
				   struct stat *st_out, int *state)
{
	struct run *r = &b->r;
	vigil_entry old_e = {0}, e = {0};
	vigil_entry_read_info info = {0};
	struct removed_ctx rc_ctx = {.fn = fn, .user = user};
	vigil_match m;
	struct stat st;
	uint32_t attrs, diff;
	bool have_old;
	int rc;

	*state = -1;
	if (path[0] != '/' || is_own_file(r, path) || !vigil_config_match(r->cfg, path, len, &m) ||
	    m.excluded)
		return 0;
	mask_own_dir(r, path, &m);
	rc = vigil_store_get(r->store, path, len, &old_e);
	if (rc != 0 && rc != VIGIL_E_NOT_FOUND)
		return rc;
	have_old = rc == 0;
	if (lstat(path, &st) != 0) {
		rc = 0;
		*state = 0;
		/* Gone: the entry and everything recorded below it. */
		if (errno == ENOENT || errno == ENOTDIR)
			rc = vigil_store_each(r->store, path, len, report_removed, &rc_ctx);
		goto out;
	}
	*st_out = st;
	*state = 1;
	if (vigil_decoy_set_has(r->decoys, &st)) {
		rc = 0;
		goto out;
	}
	attrs = m.attrs;
	if (have_old)
		attrs &= old_e.attrs | VIGIL_ATTR_TYPE;
	/* By absolute path (AT_FDCWD), as the lstat above was: opening the parent first
	 * would resolve the same directories once more, and a swap after the lstat is caught
	 * by the reader's fstat comparison all the same. */
	rc = vigil_entry_read(
	    AT_FDCWD, path, path, len, &st, attrs,
	    have_old ? (vigil_hash_algo)old_e.hash_algo : r->algo,
	    have_old && old_e.policy == VIGIL_POLICY_GROWING && S_ISREG(st.st_mode) ? old_e.size
										    : -1,
	    &e, &info);
	if (rc == VIGIL_E_NOT_FOUND) {
		*state = -1; /* gone or swapped since the lstat: the caller looks again */
		rc = 0;
		goto out;
	}
	if (rc != 0 && rc != VIGIL_E_SYSTEM)
		goto out;
	e.policy = (uint8_t)m.policy;
	if (!have_old) {
		vigil_change ch = {.path = path,
				   .path_len = len,
				   .kind = VIGIL_CHANGE_ADDED,
				   .attrs = e.attrs,
				   .new_entry = &e};
		rc = fn(user, &ch);
	} else if ((diff = judge(&old_e, &e, &info, attrs)) != 0) {
		vigil_change ch = {.path = path,
				   .path_len = len,
				   .kind = VIGIL_CHANGE_CHANGED,
				   .attrs = diff,
				   .old_entry = &old_e,
				   .new_entry = &e};
		rc = fn(user, &ch);
	} else {
		rc = 0;
	}
out:
	vigil_entry_clear(&old_e);
	vigil_entry_clear(&e);
	return rc;
}

int vigil_baseline_compare_path(vigil_baseline *b, const char *path,
				int (*fn)(void *user, const vigil_change *c), void *user)
{
	struct stat st;
	int state;

	return vigil_baseline_compare_path_st(b, path, strlen(path), fn, user, &st, &state);
}
