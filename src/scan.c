/* SPDX-License-Identifier: Apache-2.0 */
/* The scanner: walks paths, hands files to worker threads, and runs each file through
 * archive expansion, text decoding and the detection engine. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive_int.h"
#include "canary_int.h"
#include "detect.h"
#include "input.h"
#include "text.h"
#include "vigil/scan.h"
#include "walk.h"

#define BLOCK_SIZE  (256u * 1024u) /* read size; also the head used to sniff a stream */
#define QUEUE_CAP   256u           /* open files waiting for a worker */
#define QUEUE_BATCH 16u            /* files queued before idle workers are woken */
#define PROGRESS_NS 200000000ll    /* five progress reports a second */

typedef struct atomic_stats {
	_Atomic uint64_t files_scanned, bytes_scanned, bytes_expanded, archives_opened,
	    members_scanned, suppressed, dirs_walked;
	_Atomic uint64_t findings[VIGIL_CAT_COUNT];
	_Atomic uint64_t skipped[VIGIL_SKIP_COUNT];
} atomic_stats;

typedef struct job {
	char *path;
	size_t path_len;
	int fd;
	int64_t size;
	bool sparse; /* has holes: worth SEEK_DATA */
} job;

struct vigil_scanner {
	vigil_scan_options opts;
	unsigned categories;
	vigil_detector *det;
	char **allow_fp; /* sorted fingerprints */
	size_t nallow_fp;
	char **allow_glob; /* path globs */
	size_t nallow_glob;
	char notice[4400]; /* a non-fatal note about set-up, for the caller to show */

	/* One scan at a time: */
	const vigil_scan_callbacks *cb;
	pthread_mutex_t cb_lock; /* serialises callbacks */
	atomic_stats st;
	atomic_bool cancelled;
	pthread_mutex_t q_lock;
	pthread_cond_t q_not_empty, q_not_full, q_drained;
	job queue[QUEUE_CAP];
	size_t q_head, q_len;
	bool q_closed;
	unsigned busy_workers;
	struct timespec last_progress;
	struct worker *buffer_worker; /* for vigil_scanner_scan_buffer, made on first use */
	vigil_decoy_set *decoys;      /* vigil canary's decoys: skipped, never opened */
};

/* A finding held until its file is done, so a file's findings arrive together. */
typedef struct pending {
	vigil_finding f;
	char *member;
} pending;

typedef struct worker {
	vigil_scanner *s;
	pthread_t thread;
	vigil_dstream *ds;
	uint8_t *bufs[32]; /* one block per nesting level, allocated on first use */
	const char *path;  /* the file on disk being scanned */
	size_t path_len;
	char *member; /* "a.zip!/b.tar!/c.txt" for the current level */
	size_t member_len, member_cap;
	vigil_archive_budget budget;
	pending *found;
	size_t nfound, capfound;
	int error; /* first fatal error (out of memory) */
} worker;

/* State of one stream (file or member) while it is scanned. */
typedef struct stream_ctx {
	worker *w;
	unsigned depth;
	const uint8_t *head; /* its first bytes, for the encrypted-archive fingerprint */
	size_t head_len;
	vigil_encoding enc;
	vigil_utf16 u16;
	bool is_xml;
	vigil_xmltext xml;
} stream_ctx;

static const vigil_scan_callbacks no_callbacks;

void vigil_scan_options_default(vigil_scan_options *o)
{
	memset(o, 0, sizeof(*o));
	o->scan_archives = true;
	o->max_archive_bytes = 1ull << 30; /* 1 GiB expanded per file, all levels */
	o->max_ratio = 250.0;
	o->max_depth = 8;
	o->max_entries = 100000;
}

/* ---- fingerprint key ---- */

static int read_key(const char *file, uint8_t key[32])
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, key, 32);
	close(fd);
	return n == 32 ? 0 : -2;
}

static int create_key(const char *file, uint8_t key[32])
{
	char dir[4096];
	char *slash;
	int fd;

	if (snprintf(dir, sizeof(dir), "%s", file) >= (int)sizeof(dir))
		return -1;
	/* Make the parent directories, private to the owner. */
	for (slash = strchr(dir + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -1;
		*slash = '/';
	}
	if (RAND_bytes(key, 32) != 1)
		return -1;
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return errno == EEXIST ? read_key(file, key) : -1;
	if (write(fd, key, 32) != 32) {
		close(fd);
		unlink(file);
		return -1;
	}
	return close(fd);
}

/* The key that makes fingerprints stable across runs on this host without letting
 * anyone who reads them recover a card number by trying every candidate. */
static void load_fingerprint_key(vigil_scanner *s, uint8_t key[32])
{
	char path[4096];
	const char *file = s->opts.fingerprint_key;

	if (file == NULL) {
		const char *home = getenv("HOME");
		if (geteuid() == 0)
			file = "/etc/vigil/fingerprint.key";
		else if (home != NULL &&
			 snprintf(path, sizeof(path), "%s/.config/vigil/fingerprint.key", home) <
			     (int)sizeof(path))
			file = path;
	}
	if (file != NULL && (read_key(file, key) == 0 || create_key(file, key) == 0))
		return;
	RAND_bytes(key, 32);
	snprintf(s->notice, sizeof(s->notice),
		 "cannot read or create fingerprint key %s: fingerprints from this run will not "
		 "match other runs",
		 file ? file : "(no HOME)");
}

int vigil_scanner_new(const vigil_scan_options *opts, vigil_scanner **out, char *err, size_t errlen)
{
	vigil_scanner *s;
	uint8_t key[32];
	int r;

	*out = NULL;
	if (opts->max_depth > 30) {
		if (err)
			snprintf(err, errlen, "--max-depth must be at most 30");
		return VIGIL_E_INVALID;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VIGIL_E_NOMEM;
	s->opts = *opts;
	s->categories = opts->categories ? opts->categories : (1u << VIGIL_CAT_COUNT) - 1;
	load_fingerprint_key(s, key);
	r = vigil_detector_new(s->categories, key, &s->det, err, errlen);
	OPENSSL_cleanse(key, sizeof(key));
	if (r != 0) {
		free(s);
		return r;
	}
	if (vigil_decoy_set_load(opts->canary_db, &s->decoys) != 0) {
		vigil_detector_free(s->det);
		free(s);
		return VIGIL_E_NOMEM;
	}
	pthread_mutex_init(&s->cb_lock, NULL);
	pthread_mutex_init(&s->q_lock, NULL);
	pthread_cond_init(&s->q_not_empty, NULL);
	pthread_cond_init(&s->q_not_full, NULL);
	pthread_cond_init(&s->q_drained, NULL);
	*out = s;
	return 0;
}

const char *vigil_scanner_notice(const vigil_scanner *s)
{
	return s->notice[0] ? s->notice : NULL;
}

static void worker_fini(struct worker *w);

void vigil_scanner_free(vigil_scanner *s)
{
	if (s == NULL)
		return;
	if (s->buffer_worker != NULL) {
		worker_fini(s->buffer_worker);
		free(s->buffer_worker);
	}
	vigil_detector_free(s->det);
	vigil_decoy_set_free(s->decoys);
	for (size_t i = 0; i < s->nallow_fp; i++)
		free(s->allow_fp[i]);
	for (size_t i = 0; i < s->nallow_glob; i++)
		free(s->allow_glob[i]);
	free(s->allow_fp);
	free(s->allow_glob);
	pthread_mutex_destroy(&s->cb_lock);
	pthread_mutex_destroy(&s->q_lock);
	pthread_cond_destroy(&s->q_not_empty);
	pthread_cond_destroy(&s->q_not_full);
	pthread_cond_destroy(&s->q_drained);
	free(s);
}

/* ---- allowlist ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push_str(char ***v, size_t *n, const char *str, size_t len)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (nv == NULL)
		return VIGIL_E_NOMEM;
	*v = nv;
	if ((nv[*n] = strndup(str, len)) == NULL)
		return VIGIL_E_NOMEM;
	(*n)++;
	return 0;
}

int vigil_scanner_load_allowlist(vigil_scanner *s, const char *file, char *err, size_t errlen)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int r = 0;

	if (f == NULL)
		return VIGIL_E_SYSTEM;
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *p = line, *e = line + n;
		lineno++;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (p == e || *p == '#')
			continue;
		if (strncmp(p, "sha256:", 7) == 0) {
			if (e - p != 71 || strspn(p + 7, "0123456789abcdef") < 64) {
				if (err)
					snprintf(
					    err, errlen,
					    "%s:%u: a fingerprint is sha256: and 64 lower-case "
					    "hex digits",
					    file, lineno);
				r = VIGIL_E_FORMAT;
				break;
			}
			r = push_str(&s->allow_fp, &s->nallow_fp, p, (size_t)(e - p));
		} else {
			r = push_str(&s->allow_glob, &s->nallow_glob, p, (size_t)(e - p));
		}
		if (r != 0)
			break;
	}
	free(line);
	fclose(f);
	if (s->allow_fp != NULL)
		qsort(s->allow_fp, s->nallow_fp, sizeof(*s->allow_fp), cmp_str);
	return r;
}

static bool allowed(const vigil_scanner *s, const char *path, const char *member,
		    const char *fingerprint)
{
	const char *key = fingerprint;

	if (s->nallow_fp && bsearch(&key, s->allow_fp, s->nallow_fp, sizeof(char *), cmp_str))
		return true;
	for (size_t i = 0; i < s->nallow_glob; i++) {
		if (fnmatch(s->allow_glob[i], path, 0) == 0)
			return true;
		if (member != NULL) {
			char full[8192];
			if (snprintf(full, sizeof(full), "%s!/%s", path, member) <
				(int)sizeof(full) &&
			    fnmatch(s->allow_glob[i], full, 0) == 0)
				return true;
		}
	}
	return false;
}

/* ---- reporting from workers ---- */

static void warn(vigil_scanner *s, const char *path, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn(vigil_scanner *s, const char *path, const char *member, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (s->cb->on_warning == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->cb_lock);
	s->cb->on_warning(s->cb->user, path, member, msg);
	pthread_mutex_unlock(&s->cb_lock);
}

static void add_finding(worker *w, vigil_category cat, const char *detector, vigil_confidence conf,
			const char *redacted, uint64_t offset, uint64_t line,
			const char *fingerprint)
{
	vigil_scanner *s = w->s;
	const char *member = w->member_len ? w->member : NULL;
	pending *p;

	if (!(s->categories & (1u << cat)))
		return;
	if (allowed(s, w->path, member, fingerprint)) {
		atomic_fetch_add(&s->st.suppressed, 1);
		return;
	}
	if (w->nfound == w->capfound) {
		size_t cap = w->capfound ? 2 * w->capfound : 16;
		pending *np = realloc(w->found, cap * sizeof(*np));
		if (np == NULL) {
			w->error = VIGIL_E_NOMEM;
			return;
		}
		w->found = np;
		w->capfound = cap;
	}
	p = &w->found[w->nfound];
	memset(p, 0, sizeof(*p));
	if (member != NULL && (p->member = strdup(member)) == NULL) {
		w->error = VIGIL_E_NOMEM;
		return;
	}
	p->f.category = cat;
	p->f.detector = detector;
	p->f.confidence = conf;
	p->f.offset = offset;
	p->f.line = line;
	snprintf(p->f.redacted, sizeof(p->f.redacted), "%s", redacted);
	snprintf(p->f.fingerprint, sizeof(p->f.fingerprint), "%s", fingerprint);
	w->nfound++;
}

/* Hand a file's findings to the caller, together. */
static void flush_findings(worker *w)
{
	vigil_scanner *s = w->s;

	if (w->nfound == 0)
		return;
	pthread_mutex_lock(&s->cb_lock);
	for (size_t i = 0; i < w->nfound; i++) {
		pending *p = &w->found[i];
		p->f.path = w->path;
		p->f.path_len = w->path_len;
		p->f.member = p->member;
		atomic_fetch_add(&s->st.findings[p->f.category], 1);
		if (s->cb->on_finding != NULL && !atomic_load(&s->cancelled) &&
		    s->cb->on_finding(s->cb->user, &p->f) != 0)
			atomic_store(&s->cancelled, true);
	}
	pthread_mutex_unlock(&s->cb_lock);
	for (size_t i = 0; i < w->nfound; i++)
		free(w->found[i].member);
	w->nfound = 0;
}

static void on_hit(void *user, const vigil_hit *h, uint64_t offset, uint64_t line,
		   const char *fingerprint)
{
	stream_ctx *c = user;

	add_finding(c->w, h->category, h->detector, h->confidence, h->redacted, offset, line,
		    fingerprint);
}

/* ---- one stream: archive, or text through the detectors ---- */

static int scan_stream(worker *w, vigil_reader *r, const char *name, unsigned depth,
		       vigil_container parent);

static int member_push(worker *w, const char *name)
{
	size_t n = strlen(name), need = w->member_len + (w->member_len ? 2 : 0) + n + 1;

	if (need > w->member_cap) {
		size_t cap = need * 2;
		char *m = realloc(w->member, cap);
		if (m == NULL)
			return VIGIL_E_NOMEM;
		w->member = m;
		w->member_cap = cap;
	}
	if (w->member_len) {
		memcpy(w->member + w->member_len, "!/", 2);
		w->member_len += 2;
	}
	memcpy(w->member + w->member_len, name, n + 1);
	w->member_len += n;
	return 0;
}

typedef struct archive_ctx {
	stream_ctx *stream;
	vigil_container kind;
	bool encrypted_reported;
} archive_ctx;

static int on_member(void *user, const char *name, vigil_reader *r)
{
	archive_ctx *a = user;
	worker *w = a->stream->w;
	size_t saved = w->member_len;

	if (atomic_load(&w->s->cancelled))
		return 1;
	if (member_push(w, name) != 0) {
		w->error = VIGIL_E_NOMEM;
		return 1;
	}
	atomic_fetch_add(&w->s->st.members_scanned, 1);
	scan_stream(w, r, name, a->stream->depth + 1, a->kind);
	w->member_len = saved;
	if (w->member)
		w->member[saved] = '\0';
	return atomic_load(&w->s->cancelled) || w->error ? 1 : 0;
}

static void on_encrypted(void *user, const char *format)
{
	archive_ctx *a = user;
	stream_ctx *c = a->stream;
	char fp[VIGIL_FINGERPRINT_MAX], detector[32], redacted[64];
	static const char *const detectors[] = {"zip.encrypted", "7z.encrypted", "rar.encrypted"};
	const char *det = "archive.encrypted";

	if (a->encrypted_reported)
		return;
	a->encrypted_reported = true;
	snprintf(detector, sizeof(detector), "%s.encrypted", format);
	for (size_t i = 0; i < sizeof(detectors) / sizeof(*detectors); i++)
		if (strcmp(detectors[i], detector) == 0)
			det = detectors[i];
	snprintf(redacted, sizeof(redacted), "password-protected %s", format);
	/* The archive's first bytes identify it across copies and runs. */
	vigil_detector_fingerprint(c->w->s->det, c->head, c->head_len, fp);
	add_finding(c->w, VIGIL_CAT_ENCRYPTED_ARCHIVE, det, VIGIL_CONF_HIGH, redacted, 0, 0, fp);
}

static void on_problem(void *user, vigil_skip reason, const char *msg)
{
	archive_ctx *a = user;
	worker *w = a->stream->w;

	atomic_fetch_add(&w->s->st.skipped[reason], 1);
	warn(w->s, w->path, w->member_len ? w->member : NULL, "%s: %s",
	     vigil_container_name(a->kind), msg);
}

static int sink_detect(void *user, const uint8_t *p, size_t n)
{
	stream_ctx *c = user;
	return vigil_dstream_feed(c->w->ds, p, n);
}

static int sink_xml(void *user, const uint8_t *p, size_t n)
{
	stream_ctx *c = user;
	return vigil_xmltext_feed(&c->xml, p, n, sink_detect, c);
}

static int push_text(stream_ctx *c, const uint8_t *p, size_t n)
{
	vigil_sink_fn next = c->is_xml ? sink_xml : sink_detect;

	if (c->enc != VIGIL_ENC_BYTES)
		return vigil_utf16_feed(&c->u16, p, n, next, c);
	return next(c, p, n);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The XML parts of OOXML (word/, xl/, ppt/) and ODF (content.xml) packages hold the
 * document's text split into runs; other XML in a zip is data and scanned as it is. */
static bool is_office_part(const char *name)
{
	if (!ends_with(name, ".xml"))
		return false;
	return strncmp(name, "word/", 5) == 0 || strncmp(name, "xl/", 3) == 0 ||
	       strncmp(name, "ppt/", 4) == 0 || strcmp(name, "content.xml") == 0 ||
	       strcmp(name, "styles.xml") == 0;
}

/* Fill buf as far as the reader goes; returns bytes read or -1. */
static ssize_t read_full(vigil_reader *r, uint8_t *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap) {
		ssize_t k = r->read(r, buf + got, cap - got);
		if (k < 0)
			return got ? (ssize_t)got : -1;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* Forget the card findings of the stream whose findings start at `from`, except those
 * the validator saw named as cards (high confidence). */
static void drop_cards(worker *w, size_t from)
{
	size_t keep = from;

	for (size_t i = from; i < w->nfound; i++) {
		if (w->found[i].f.category == VIGIL_CAT_PAYMENT_CARD &&
		    w->found[i].f.confidence != VIGIL_CONF_HIGH) {
			free(w->found[i].member);
			continue;
		}
		w->found[keep++] = w->found[i];
	}
	w->nfound = keep;
}

static int scan_stream(worker *w, vigil_reader *r, const char *name, unsigned depth,
		       vigil_container parent)
{
	vigil_scanner *s = w->s;
	const char *member = w->member_len ? w->member : NULL;
	stream_ctx c = {.w = w, .depth = depth};
	_Atomic uint64_t *bytes = depth ? &s->st.bytes_expanded : &s->st.bytes_scanned;
	uint8_t *buf;
	ssize_t n;
	size_t bom = 0;
	vigil_container kind;
	size_t first_finding;
	int r_ = 0;

	if (w->bufs[depth] == NULL && (w->bufs[depth] = malloc(BLOCK_SIZE)) == NULL)
		return w->error = VIGIL_E_NOMEM;
	buf = w->bufs[depth];
	if ((n = read_full(r, buf, BLOCK_SIZE)) < 0)
		goto read_error;
	c.head = buf;
	c.head_len = (size_t)n;

	kind = s->opts.scan_archives ? vigil_archive_sniff(buf, (size_t)n) : VIGIL_CONT_NONE;
	if (kind != VIGIL_CONT_NONE) {
		archive_ctx a = {.stream = &c, .kind = kind};
		vigil_archive_callbacks acb = {on_member, on_encrypted, on_problem, &a};

		if (depth >= s->opts.max_depth) {
			atomic_fetch_add(&s->st.skipped[VIGIL_SKIP_ARCHIVE_LIMIT], 1);
			warn(s, w->path, member, "%s nested deeper than %u levels (--max-depth)",
			     vigil_container_name(kind), s->opts.max_depth);
			return 0;
		}
		atomic_fetch_add(&s->st.archives_opened, 1);
		if (depth == 0)
			atomic_fetch_add(bytes, r->size > 0 ? (uint64_t)r->size : (uint64_t)n);
		else
			atomic_fetch_add(bytes, (uint64_t)n);
		return vigil_archive_scan(kind, name, r, buf, (size_t)n, &w->budget, &acb);
	}

	c.enc = vigil_text_sniff(buf, (size_t)n, &bom);
	if (c.enc != VIGIL_ENC_BYTES)
		vigil_utf16_init(&c.u16, c.enc == VIGIL_ENC_UTF16BE);
	/* Office documents keep their text in XML parts of a zip. */
	c.is_xml = parent == VIGIL_CONT_ZIP && is_office_part(name);
	if (c.is_xml)
		vigil_xmltext_init(&c.xml);

	first_finding = w->nfound;
	vigil_dstream_begin(w->ds, on_hit, &c);
	if (s->categories & (1u << VIGIL_CAT_PRIVATE_KEY))
		vigil_dstream_sniff(w->ds, buf, (size_t)n, n < (ssize_t)BLOCK_SIZE);
	for (;;) {
		atomic_fetch_add(bytes, (uint64_t)n);
		if ((r_ = push_text(&c, buf + bom, (size_t)n - bom)) != 0)
			break;
		bom = 0;
		if (n == 0 || atomic_load(&s->cancelled))
			break;
		if ((n = r->read(r, buf, BLOCK_SIZE)) <= 0) {
			if (n < 0 && errno != EFBIG && errno != EBADMSG && errno != EACCES) {
				vigil_dstream_end(w->ds);
				goto read_error;
			}
			break;
		}
	}
	if (r_ == 0 && c.enc != VIGIL_ENC_BYTES)
		r_ = vigil_utf16_finish(&c.u16, c.is_xml ? sink_xml : sink_detect, &c);
	if (r_ == 0 && c.is_xml)
		r_ = vigil_xmltext_finish(&c.xml, sink_detect, &c);
	if (vigil_dstream_end(w->ds) != 0 || r_ != 0) {
		warn(s, w->path, member, "pattern engine failed on this %s",
		     depth ? "member" : "file");
		return 0;
	}
	if (vigil_dstream_cards_are_noise(w->ds))
		drop_cards(w, first_finding);
	return 0;

read_error:
	if (depth == 0) {
		int e = errno;
		atomic_fetch_add(&s->st.skipped[VIGIL_SKIP_UNREADABLE], 1);
		warn(s, w->path, NULL, "read error: %s", strerror(e));
		return -1;
	}
	/* Limits (EFBIG), corruption (EBADMSG) and encryption (EACCES) were reported by
	 * the archive module already. */
	if (errno != EFBIG && errno != EBADMSG && errno != EACCES)
		warn(s, w->path, member, "cannot read archive member: %s", strerror(errno));
	return 0;
}

static void budget_reset(worker *w)
{
	const vigil_scan_options *o = &w->s->opts;

	w->budget.bytes_left = o->max_archive_bytes ? o->max_archive_bytes : UINT64_MAX;
	w->budget.entries_left = o->max_entries ? o->max_entries : UINT64_MAX;
	w->budget.max_ratio = o->max_ratio;
	w->budget.limit_hit = false;
}

static void scan_one_file(worker *w, const char *path, size_t path_len, int fd, int64_t size,
			  bool sparse)
{
	vigil_file_reader fr;

	w->path = path;
	w->path_len = path_len;
	w->member_len = 0;
	if (w->member)
		w->member[0] = '\0';
	budget_reset(w);
	vigil_file_reader_init(&fr, fd, size);
	/* Two lseek calls per file cost more than they save unless the file has holes. */
	fr.use_seek_data = sparse;
	if (scan_stream(w, &fr.r, path, 0, VIGIL_CONT_NONE) == 0)
		atomic_fetch_add(&w->s->st.files_scanned, 1);
	flush_findings(w);
}

/* ---- the worker pool ---- */

static void *worker_main(void *arg)
{
	worker *w = arg;
	vigil_scanner *s = w->s;

	for (;;) {
		job j;

		pthread_mutex_lock(&s->q_lock);
		while (s->q_len == 0 && !s->q_closed)
			pthread_cond_wait(&s->q_not_empty, &s->q_lock);
		if (s->q_len == 0) {
			pthread_mutex_unlock(&s->q_lock);
			break;
		}
		j = s->queue[s->q_head];
		s->q_head = (s->q_head + 1) % QUEUE_CAP;
		s->q_len--;
		s->busy_workers++;
		/* Wake a walker waiting for room only once half the queue is free, so the two
		 * do not trade a wake-up per file. */
		if (s->q_len == QUEUE_CAP / 2)
			pthread_cond_signal(&s->q_not_full);
		pthread_mutex_unlock(&s->q_lock);

		if (!atomic_load(&s->cancelled))
			scan_one_file(w, j.path, j.path_len, j.fd, j.size, j.sparse);
		close(j.fd);
		free(j.path);

		pthread_mutex_lock(&s->q_lock);
		s->busy_workers--;
		if (s->q_len == 0 && s->busy_workers == 0)
			pthread_cond_broadcast(&s->q_drained);
		pthread_mutex_unlock(&s->q_lock);
	}
	return NULL;
}

static int worker_init(worker *w, vigil_scanner *s)
{
	memset(w, 0, sizeof(*w));
	w->s = s;
	return vigil_dstream_new(s->det, &w->ds);
}

static void worker_fini(struct worker *w)
{
	vigil_dstream_free(w->ds);
	for (size_t i = 0; i < sizeof(w->bufs) / sizeof(*w->bufs); i++) {
		if (w->bufs[i] != NULL)
			OPENSSL_cleanse(w->bufs[i], BLOCK_SIZE);
		free(w->bufs[i]);
	}
	for (size_t i = 0; i < w->nfound; i++)
		free(w->found[i].member);
	free(w->found);
	free(w->member);
}

static void snapshot(vigil_scanner *s, vigil_scan_stats *o)
{
	o->files_scanned = atomic_load(&s->st.files_scanned);
	o->bytes_scanned = atomic_load(&s->st.bytes_scanned);
	o->bytes_expanded = atomic_load(&s->st.bytes_expanded);
	o->archives_opened = atomic_load(&s->st.archives_opened);
	o->members_scanned = atomic_load(&s->st.members_scanned);
	o->suppressed = atomic_load(&s->st.suppressed);
	o->dirs_walked = atomic_load(&s->st.dirs_walked);
	for (int i = 0; i < VIGIL_CAT_COUNT; i++)
		o->findings[i] = atomic_load(&s->st.findings[i]);
	for (int i = 0; i < VIGIL_SKIP_COUNT; i++)
		o->skipped[i] = atomic_load(&s->st.skipped[i]);
}

static void maybe_progress(vigil_scanner *s, const char *current, bool force)
{
	struct timespec now;
	vigil_scan_stats st;

	if (s->cb->on_progress == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && (now.tv_sec - s->last_progress.tv_sec) * 1000000000ll +
			      (now.tv_nsec - s->last_progress.tv_nsec) <
			  PROGRESS_NS)
		return;
	s->last_progress = now;
	snapshot(s, &st);
	pthread_mutex_lock(&s->cb_lock);
	s->cb->on_progress(s->cb->user, &st, current);
	pthread_mutex_unlock(&s->cb_lock);
}

static int walk_on_file(void *user, const vigil_walk_entry *e)
{
	vigil_scanner *s = user;
	vigil_skip reason;
	job j;
	int fd;

	if (atomic_load(&s->cancelled))
		return VIGIL_E_CANCELLED;
	maybe_progress(s, e->path, false);
	if (s->opts.max_file_size && (uint64_t)e->st->st_size > s->opts.max_file_size) {
		atomic_fetch_add(&s->st.skipped[VIGIL_SKIP_TOO_LARGE], 1);
		return 0;
	}
	/* A decoy holds fake secrets, and opening it is what vigil watch alerts on. */
	if (vigil_decoy_set_has(s->decoys, e->st))
		return 0;
	if ((fd = vigil_open_regular(e->dirfd, e->name, e->st, &reason)) < 0) {
		int err = errno;
		atomic_fetch_add(&s->st.skipped[reason], 1);
		if (reason == VIGIL_SKIP_UNREADABLE)
			warn(s, e->path, NULL, "cannot open: %s", strerror(err));
		return 0;
	}
	j.fd = fd;
	j.size = e->st->st_size;
	j.sparse = (uint64_t)e->st->st_blocks * 512u < (uint64_t)e->st->st_size;
	j.path_len = e->path_len;
	if ((j.path = malloc(e->path_len + 1)) == NULL) {
		close(fd);
		return VIGIL_E_NOMEM;
	}
	memcpy(j.path, e->path, e->path_len + 1);

	pthread_mutex_lock(&s->q_lock);
	while (s->q_len == QUEUE_CAP)
		pthread_cond_wait(&s->q_not_full, &s->q_lock);
	s->queue[(s->q_head + s->q_len) % QUEUE_CAP] = j;
	s->q_len++;
	/* Idle workers are woken a batch at a time (and at each directory, and at the end),
	 * not once per small file: each wake-up is a futex round trip. */
	if (s->q_len % QUEUE_BATCH == 0)
		pthread_cond_broadcast(&s->q_not_empty);
	pthread_mutex_unlock(&s->q_lock);
	return 0;
}

static void walk_on_skip(void *user, const char *path, vigil_skip reason, int err)
{
	vigil_scanner *s = user;

	atomic_fetch_add(&s->st.skipped[reason], 1);
	switch (reason) {
	case VIGIL_SKIP_UNREADABLE:
		warn(s, path, NULL, "cannot read: %s", strerror(err));
		break;
	case VIGIL_SKIP_LOOP:
		warn(s, path, NULL, "symbolic link loop: not followed again");
		break;
	default:
		break; /* special files and vanished entries are counted only */
	}
}

static void walk_on_dir(void *user, const char *path)
{
	vigil_scanner *s = user;

	atomic_fetch_add(&s->st.dirs_walked, 1);
	maybe_progress(s, path, false);
	pthread_mutex_lock(&s->q_lock);
	if (s->q_len > 0)
		pthread_cond_broadcast(&s->q_not_empty);
	pthread_mutex_unlock(&s->q_lock);
}

static void reset_run(vigil_scanner *s, const vigil_scan_callbacks *cb)
{
	s->cb = cb ? cb : &no_callbacks;
	memset(&s->st, 0, sizeof(s->st));
	atomic_store(&s->cancelled, false);
	s->q_head = s->q_len = 0;
	s->q_closed = false;
	s->busy_workers = 0;
	clock_gettime(CLOCK_MONOTONIC, &s->last_progress);
}

int vigil_scanner_scan_paths(vigil_scanner *s, const char *const *paths, size_t npaths,
			     const vigil_scan_callbacks *cb, vigil_scan_stats *stats)
{
	unsigned jobs = s->opts.jobs;
	worker *workers;
	unsigned started = 0;
	int r = 0, walk_failures = 0, walk_errno = 0;

	reset_run(s, cb);
	if (jobs == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		jobs = n > 0 ? (unsigned)n : 1;
	}
	if ((workers = calloc(jobs, sizeof(*workers))) == NULL)
		return VIGIL_E_NOMEM;
	for (; started < jobs; started++) {
		if ((r = worker_init(&workers[started], s)) != 0 ||
		    pthread_create(&workers[started].thread, NULL, worker_main,
				   &workers[started]) != 0) {
			worker_fini(&workers[started]);
			r = r ? r : VIGIL_E_SYSTEM;
			break;
		}
	}
	for (size_t i = 0; r == 0 && i < npaths; i++) {
		vigil_walk_options wo = {
		    .one_file_system = s->opts.one_file_system,
		    .follow_symlinks = s->opts.follow_symlinks,
		    .excludes = s->opts.excludes,
		    .skip_pseudo = strcmp(paths[i], "/") == 0,
		};
		vigil_walk_callbacks wcb = {walk_on_file, walk_on_skip, walk_on_dir, s};
		int w = vigil_walk(paths[i], &wo, &wcb);

		if (w == VIGIL_E_SYSTEM) {
			walk_errno = errno;
			walk_failures++;
			atomic_fetch_add(
			    &s->st.skipped[walk_errno == ENOENT ? VIGIL_SKIP_VANISHED
								: VIGIL_SKIP_UNREADABLE],
			    1);
			warn(s, paths[i], NULL, "cannot scan: %s", strerror(walk_errno));
		} else if (w != 0) {
			r = w;
		}
	}

	/* Let the workers finish what is queued, reporting progress meanwhile. */
	pthread_mutex_lock(&s->q_lock);
	s->q_closed = true;
	pthread_cond_broadcast(&s->q_not_empty);
	while (s->q_len > 0 || s->busy_workers > 0) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += PROGRESS_NS;
		if (until.tv_nsec >= 1000000000l) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000l;
		}
		pthread_cond_timedwait(&s->q_drained, &s->q_lock, &until);
		pthread_mutex_unlock(&s->q_lock);
		maybe_progress(s, NULL, false);
		pthread_mutex_lock(&s->q_lock);
	}
	pthread_mutex_unlock(&s->q_lock);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(workers[i].thread, NULL);
		if (r == 0 && workers[i].error)
			r = workers[i].error;
		worker_fini(&workers[i]);
	}
	free(workers);
	maybe_progress(s, NULL, true);
	if (stats)
		snapshot(s, stats);
	if (r == 0 && atomic_load(&s->cancelled))
		r = VIGIL_E_CANCELLED;
	if (r == 0 && npaths > 0 && walk_failures == (int)npaths) {
		errno = walk_errno;
		r = VIGIL_E_SYSTEM; /* nothing could be scanned */
	}
	return r;
}

/* ---- a buffer as a file ---- */

typedef struct mem_reader {
	vigil_reader r;
	const uint8_t *p;
	size_t len, pos;
} mem_reader;

static ssize_t mem_read(vigil_reader *r, void *buf, size_t cap)
{
	mem_reader *m = r->ctx;
	size_t k = m->len - m->pos;

	if (k > cap)
		k = cap;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (ssize_t)k;
}

int vigil_scanner_scan_buffer(vigil_scanner *s, const char *name, const void *buf, size_t len,
			      const vigil_scan_callbacks *cb, vigil_scan_stats *stats)
{
	mem_reader m = {.p = buf, .len = len};
	worker *w = s->buffer_worker;
	int r;

	reset_run(s, cb);
	/* One worker kept for buffer scans: the watch daemon and the fuzzers call this for
	 * every event or input, and a worker's stream state is large to set up. */
	if (w == NULL) {
		if ((w = malloc(sizeof(*w))) == NULL)
			return VIGIL_E_NOMEM;
		if ((r = worker_init(w, s)) != 0) {
			worker_fini(w);
			free(w);
			return r;
		}
		s->buffer_worker = w;
	}
	w->error = 0;
	w->member_len = 0;
	if (w->member)
		w->member[0] = '\0';
	m.r.read = mem_read;
	m.r.fd = -1;
	m.r.size = (int64_t)len;
	m.r.ctx = &m;
	w->path = name;
	w->path_len = strlen(name);
	budget_reset(w);
	if (scan_stream(w, &m.r, name, 0, VIGIL_CONT_NONE) == 0)
		atomic_fetch_add(&s->st.files_scanned, 1);
	flush_findings(w);
	r = w->error;
	if (stats)
		snapshot(s, stats);
	return r ? r : atomic_load(&s->cancelled) ? VIGIL_E_CANCELLED : 0;
}
