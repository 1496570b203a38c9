/* SPDX-License-Identifier: Apache-2.0 */
/* The baseline seal: row MACs over a canonical encoding of each entry, and an HMAC or
 * Ed25519 signature over a header binding the metadata, the history and the row set. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "seal.h"
#include "vigil/vigil.h"

#define KEY_NEW_LEN 32
#define KEY_MIN_LEN 32
#define KEY_MAX_LEN 4096
#define PEM_MAX     65536
#define SIG_MAX     64 /* Ed25519 (RFC 8032); HMAC-SHA-256 gives 32 */
#define HEADER_MAX  (64u << 20)
#define SHOW_CAP    256
#define POOL_MAX    16 /* idle row-MAC contexts kept: more than vigil has workers */

/* Domain tags: a row MAC can never be taken for a header MAC under the same key. */
#define ROW_TAG    "vigil-row-v1"
#define HEADER_TAG "vigil-seal-v1"

/* Row-MAC contexts ready for reuse (EVP_MAC_CTX in HMAC mode, EVP_MD_CTX otherwise):
 * re-initialising one costs a third of duplicating the keyed template, on every row. */
struct pool {
	pthread_mutex_t lock;
	void *ctx[POOL_MAX];
	size_t n;
};

struct vigil_sealer {
	vigil_seal_mode mode;
	bool can_sign;
	EVP_MAC *hmac;      /* fetched once */
	EVP_MAC_CTX *keyed; /* HMAC-SHA-256 with the key set: only ever duplicated, never
			     * updated, so worker threads can share it */
	EVP_MD *sha256;     /* fetched once */
	EVP_PKEY *pkey;     /* Ed25519 */
	struct pool *pool;  /* behind a pointer: the sealer is const to vigil_seal_row */
};

/* ---- small helpers ---- */

static int say(char *err, size_t cap, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes the sentence and returns r; errno survives, for VIGIL_E_SYSTEM. */
static int say(char *err, size_t cap, int r, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (err != NULL && cap > 0) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return r;
}

/* Bytes from the file for a message: printable ASCII as is, the rest as \xNN, cut short. */
static void show(char *buf, size_t cap, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (o + 8 >= cap) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
			buf[o++] = (char)b[i];
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", b[i]);
	}
	buf[o] = '\0';
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lower-case hex of exactly len bytes; false if it is anything else. */
static bool from_hex(const char *s, uint8_t *out, size_t len)
{
	if (strlen(s) != 2 * len)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* A decimal u64 with nothing else around it. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* mkdir -p of path's parent, new directories 0700 whatever the umask. */
static int make_parents(const char *path, char *err, size_t cap)
{
	char *d = strdup(path);
	int r = 0;

	if (d == NULL)
		return say(err, cap, VIGIL_E_NOMEM, "out of memory");
	for (char *p = d + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(d, 0700) == 0) {
			if (chmod(d, 0700) != 0) {
				r = say(err, cap, VIGIL_E_SYSTEM, "chmod %s: %s", d,
					strerror(errno));
				break;
			}
		} else if (errno != EEXIST) {
			r = say(err, cap, VIGIL_E_SYSTEM, "cannot create directory %s: %s", d,
				strerror(errno));
			break;
		}
		*p = '/';
	}
	free(d);
	return r;
}

/* ---- the canonical entry encoding ---- */

/* Bytes on their way into a MAC or digest, gathered so that the many small fixed-width
 * fields cost one update call. */
struct sink {
	EVP_MAC_CTX *mac; /* exactly one of mac and md */
	EVP_MD_CTX *md;
	uint8_t buf[256];
	size_t n;
	bool ok;
};

static void sink_flush(struct sink *k)
{
	if (k->n > 0 && k->ok) {
		if (k->mac != NULL)
			k->ok = EVP_MAC_update(k->mac, k->buf, k->n) == 1;
		else
			k->ok = EVP_DigestUpdate(k->md, k->buf, k->n) == 1;
	}
	k->n = 0;
}

static void put_bytes(struct sink *k, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (n > sizeof(k->buf) - k->n) {
		sink_flush(k);
		if (n > sizeof(k->buf)) {
			if (k->ok)
				k->ok = k->mac != NULL ? EVP_MAC_update(k->mac, p, n) == 1
						       : EVP_DigestUpdate(k->md, p, n) == 1;
			return;
		}
	}
	memcpy(k->buf + k->n, p, n);
	k->n += n;
}

static void put_le(struct sink *k, uint64_t v, int width)
{
	uint8_t b[8];

	for (int i = 0; i < width; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_bytes(k, b, (size_t)width);
}

static void put_u8(struct sink *k, uint8_t v)
{
	put_le(k, v, 1);
}

static void put_u32(struct sink *k, uint32_t v)
{
	put_le(k, v, 4);
}

static void put_u64(struct sink *k, uint64_t v)
{
	put_le(k, v, 8);
}

/* [u64 LE length][bytes]; a NULL pointer is length 0, as the store keeps it. */
static void put_var(struct sink *k, const void *p, size_t n)
{
	if (p == NULL)
		n = 0;
	put_u64(k, n);
	put_bytes(k, p, n);
}

/*
 * The canonical encoding of an entry, what its row MAC is computed over. Every field is
 * fixed-width little-endian or a length-prefixed byte string, in this fixed order, so
 * the encoding can be parsed back field by field and no two different entries encode
 * the same:
 *
 *   "vigil-row-v1"            12 bytes, domain tag (never the header's)
 *   attrs                     u32
 *   policy, hash_algo         u8, u8
 *   path                      u64 length, bytes
 *   type, mode, uid, gid      u32 each
 *   size, mtime_ns, ctime_ns  i64 each (two's complement)
 *   inode, nlink, rdev        u64 each
 *   target                    u64 length, bytes
 *   hash                      u8 length (<= 64), bytes
 *   acl, caps, selinux,       u64 length, bytes each
 *   xattrs
 *   flags                     u32
 *
 * Every field is encoded whatever `attrs` says (unrecorded ones are zero), so a bit
 * flipped in `attrs` changes the MAC too. A NULL blob and an empty one encode alike:
 * the store cannot tell them apart either.
 */
static void canon_entry(struct sink *k, const vigil_entry *e)
{
	put_bytes(k, ROW_TAG, sizeof(ROW_TAG) - 1);
	put_u32(k, e->attrs);
	put_u8(k, e->policy);
	put_u8(k, e->hash_algo);
	put_var(k, e->path, e->path_len);
	put_u32(k, e->type);
	put_u32(k, e->mode);
	put_u32(k, e->uid);
	put_u32(k, e->gid);
	put_u64(k, (uint64_t)e->size);
	put_u64(k, (uint64_t)e->mtime_ns);
	put_u64(k, (uint64_t)e->ctime_ns);
	put_u64(k, e->inode);
	put_u64(k, e->nlink);
	put_u64(k, e->rdev);
	put_var(k, e->target, e->target_len);
	put_u8(k, e->hash_len);
	put_bytes(k, e->hash, e->hash_len);
	put_var(k, e->acl, e->acl_len);
	put_var(k, e->caps, e->caps_len);
	put_var(k, e->selinux, e->selinux_len);
	put_var(k, e->xattrs, e->xattrs_len);
	put_u32(k, e->flags);
	sink_flush(k);
}

/* ---- sealers ---- */

static void ctx_free(vigil_seal_mode mode, void *c)
{
	if (mode == VIGIL_SEAL_HMAC)
		EVP_MAC_CTX_free(c);
	else
		EVP_MD_CTX_free(c);
}

static vigil_sealer *sealer_new(vigil_seal_mode mode)
{
	vigil_sealer *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->mode = mode;
	if ((s->pool = calloc(1, sizeof(*s->pool))) == NULL ||
	    pthread_mutex_init(&s->pool->lock, NULL) != 0) {
		free(s->pool);
		free(s);
		return NULL;
	}
	if ((s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		vigil_sealer_free(s);
		return NULL;
	}
	return s;
}

void vigil_sealer_free(vigil_sealer *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->pool->n; i++)
		ctx_free(s->mode, s->pool->ctx[i]);
	pthread_mutex_destroy(&s->pool->lock);
	free(s->pool);
	/* Freeing the contexts cleanses the HMAC key state; EVP_PKEY_free the private key. */
	EVP_MAC_CTX_free(s->keyed);
	EVP_MAC_free(s->hmac);
	EVP_MD_free(s->sha256);
	EVP_PKEY_free(s->pkey);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* Writes a new random key with O_EXCL; EEXIST (another init got there first) is fine. */
static int create_key(const char *path, char *err, size_t cap)
{
	uint8_t key[KEY_NEW_LEN];
	size_t done = 0;
	int fd, r = 0;

	if ((r = make_parents(path, err, cap)) != 0)
		return r;
	if (RAND_bytes(key, sizeof(key)) != 1)
		return say(err, cap, VIGIL_E_CRYPTO, "no random bytes for a new key");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno != EEXIST)
			r = say(err, cap, VIGIL_E_SYSTEM, "cannot create key file %s: %s", path,
				strerror(errno));
		goto out;
	}
	while (done < sizeof(key)) {
		ssize_t n = write(fd, key + done, sizeof(key) - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done != sizeof(key) || fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		int e = errno ? errno : EIO;
		close(fd);
		unlink(path); /* a partial key must not be used next time */
		errno = e;
		r = say(err, cap, VIGIL_E_SYSTEM, "cannot write key file %s: %s", path,
			strerror(errno));
		goto out;
	}
	if (close(fd) != 0)
		r = say(err, cap, VIGIL_E_SYSTEM, "cannot write key file %s: %s", path,
			strerror(errno));
out:
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

/*
 * Reads a secret file (HMAC key or private PEM) into buf: a regular file of at most cap
 * bytes, owned by us or root, not accessible by group or others (like ssh with its
 * keys). secret false skips the ownership and mode checks (public keys).
 */
static int read_file(const char *path, bool secret, const char *what, size_t min, uint8_t *buf,
		     size_t bufcap, size_t *len, char *err, size_t cap)
{
	struct stat st;
	size_t done = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return say(err, cap, VIGIL_E_SYSTEM, "cannot open %s %s: %s", what, path,
			   strerror(errno));
	if (fstat(fd, &st) != 0) {
		r = say(err, cap, VIGIL_E_SYSTEM, "fstat %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = say(err, cap, VIGIL_E_INVALID, "%s %s is not a regular file", what, path);
		goto out;
	}
	if (secret && (st.st_mode & 077) != 0) {
		r = say(err, cap, VIGIL_E_INVALID,
			"%s %s is accessible by group or others (mode %04o): chmod 600 %s", what,
			path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (secret && st.st_uid != geteuid() && st.st_uid != 0) {
		r = say(err, cap, VIGIL_E_INVALID,
			"%s %s is owned by uid %u, not by this user or root", what, path,
			(unsigned)st.st_uid);
		goto out;
	}
	if ((uint64_t)st.st_size < min || (uint64_t)st.st_size > bufcap) {
		r = say(err, cap, VIGIL_E_INVALID, "%s %s has %lld bytes (%zu to %zu)", what, path,
			(long long)st.st_size, min, bufcap);
		goto out;
	}
	while (done < bufcap) {
		ssize_t n = read(fd, buf + done, bufcap - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = say(err, cap, VIGIL_E_SYSTEM, "read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (done < min) {
		r = say(err, cap, VIGIL_E_INVALID, "%s %s is too short (%zu bytes)", what, path,
			done);
		goto out;
	}
	*len = done;
out:
	close(fd);
	return r;
}

int vigil_sealer_hmac(const char *key_path, bool create, vigil_sealer **out, char *err, size_t cap)
{
	uint8_t key[KEY_MAX_LEN];
	vigil_sealer *s = NULL;
	OSSL_PARAM params[2];
	size_t len = 0;
	int r;

	*out = NULL;
	if (create && access(key_path, F_OK) != 0 && errno == ENOENT &&
	    (r = create_key(key_path, err, cap)) != 0)
		return r;
	if ((r = read_file(key_path, true, "key file", KEY_MIN_LEN, key, sizeof(key), &len, err,
			   cap)) != 0)
		goto out;
	if ((s = sealer_new(VIGIL_SEAL_HMAC)) == NULL) {
		r = say(err, cap, VIGIL_E_CRYPTO, "SHA-256 is not available");
		goto out;
	}
	s->can_sign = true;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((s->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (s->keyed = EVP_MAC_CTX_new(s->hmac)) == NULL ||
	    EVP_MAC_init(s->keyed, key, len, params) != 1) {
		r = say(err, cap, VIGIL_E_CRYPTO, "HMAC-SHA-256 is not available");
		goto out;
	}
	*out = s;
	s = NULL; /* transferred */
out:
	OPENSSL_cleanse(key, sizeof(key));
	vigil_sealer_free(s);
	ERR_clear_error();
	return r;
}

/* Encrypted PEMs would need a passphrase: the library never prompts. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int ed25519_load(const char *pem_path, bool private_key, vigil_sealer **out, char *err,
			size_t cap)
{
	const char *what = private_key ? "private key" : "public key";
	uint8_t *pem = malloc(PEM_MAX);
	vigil_sealer *s = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (pem == NULL)
		return say(err, cap, VIGIL_E_NOMEM, "out of memory");
	if ((r = read_file(pem_path, private_key, what, 1, pem, PEM_MAX, &len, err, cap)) != 0)
		goto out;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		r = say(err, cap, VIGIL_E_NOMEM, "out of memory");
		goto out;
	}
	pkey = private_key ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
			   : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	if (pkey == NULL) {
		r = say(err, cap, VIGIL_E_INVALID, "%s holds no %s in PEM%s", pem_path, what,
			private_key ? " (or it is encrypted: that is not supported)" : "");
		goto out;
	}
	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		const char *type = EVP_PKEY_get0_type_name(pkey);
		r = say(err, cap, VIGIL_E_INVALID, "%s holds a %s key, not Ed25519", pem_path,
			type ? type : "different");
		goto out;
	}
	if ((s = sealer_new(VIGIL_SEAL_ED25519)) == NULL) {
		r = say(err, cap, VIGIL_E_CRYPTO, "SHA-256 is not available");
		goto out;
	}
	s->can_sign = private_key;
	s->pkey = pkey;
	pkey = NULL; /* transferred */
	*out = s;
	s = NULL;
out:
	OPENSSL_cleanse(pem, PEM_MAX);
	free(pem);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	vigil_sealer_free(s);
	ERR_clear_error();
	return r;
}

int vigil_sealer_ed25519_private(const char *pem_path, vigil_sealer **out, char *err, size_t cap)
{
	return ed25519_load(pem_path, true, out, err, cap);
}

int vigil_sealer_ed25519_public(const char *pem_path, vigil_sealer **out, char *err, size_t cap)
{
	return ed25519_load(pem_path, false, out, err, cap);
}

vigil_seal_mode vigil_sealer_mode(const vigil_sealer *s)
{
	return s->mode;
}

const char *vigil_seal_mode_name(vigil_seal_mode m)
{
	return m == VIGIL_SEAL_ED25519 ? "ed25519" : "hmac-sha256";
}

/* ---- row MACs ---- */

/* A context for one row: from the pool, or new (a duplicate of the keyed template). */
static void *ctx_get(const vigil_sealer *s)
{
	void *c = NULL;

	pthread_mutex_lock(&s->pool->lock);
	if (s->pool->n > 0)
		c = s->pool->ctx[--s->pool->n];
	pthread_mutex_unlock(&s->pool->lock);
	if (c != NULL)
		return c;
	if (s->mode == VIGIL_SEAL_HMAC)
		return EVP_MAC_CTX_dup(s->keyed);
	return EVP_MD_CTX_new();
}

static void ctx_put(const vigil_sealer *s, void *c)
{
	pthread_mutex_lock(&s->pool->lock);
	if (s->pool->n < POOL_MAX) {
		s->pool->ctx[s->pool->n++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->pool->lock);
	if (c != NULL)
		ctx_free(s->mode, c);
}

/* HMAC(key, canonical) or SHA-256(canonical). Each call has a context of its own, taken
 * from the pool under its lock; the keyed template is only read: safe from any number of
 * threads. An HMAC context re-initialised without a key keeps the key it has. */
int vigil_seal_row(const vigil_sealer *s, const vigil_entry *e, uint8_t *out)
{
	struct sink k = {.ok = true};
	size_t len = 0;
	unsigned int mdlen = 0;
	void *c;
	bool done = false;

	if (e->hash_len > VIGIL_DIGEST_MAX)
		return VIGIL_E_INVALID;
	if ((c = ctx_get(s)) == NULL)
		return VIGIL_E_CRYPTO;
	if (s->mode == VIGIL_SEAL_HMAC) {
		k.mac = c;
		if (EVP_MAC_init(k.mac, NULL, 0, NULL) == 1) {
			canon_entry(&k, e);
			done = k.ok && EVP_MAC_final(k.mac, out, &len, VIGIL_ROW_MAC_LEN) == 1 &&
			       len == VIGIL_ROW_MAC_LEN;
		}
	} else {
		k.md = c;
		if (EVP_DigestInit_ex2(k.md, s->sha256, NULL) == 1) {
			canon_entry(&k, e);
			done = k.ok && EVP_DigestFinal_ex(k.md, out, &mdlen) == 1 &&
			       mdlen == VIGIL_ROW_MAC_LEN;
		}
	}
	if (done) {
		ctx_put(s, c);
		return 0;
	}
	ctx_free(s->mode, c);
	ERR_clear_error();
	return VIGIL_E_CRYPTO;
}

int vigil_seal_check_row(const vigil_sealer *s, const vigil_entry *e, const uint8_t *mac,
			 size_t mac_len)
{
	uint8_t want[VIGIL_ROW_MAC_LEN];

	if (vigil_seal_row(s, e, want) != 0)
		return VIGIL_E_CRYPTO;
	if (mac_len != sizeof(want) || CRYPTO_memcmp(want, mac, sizeof(want)) != 0)
		return VIGIL_E_FORMAT;
	return 0;
}

void vigil_seal_bad_rows(char *err, size_t cap, const char *path, size_t path_len, uint64_t n)
{
	char shown[SHOW_CAP];

	show(shown, sizeof(shown), path, path_len);
	if (n <= 1)
		say(err, cap, VIGIL_E_FORMAT, "row %s was changed after the baseline was sealed",
		    shown);
	else
		say(err, cap, VIGIL_E_FORMAT,
		    "row %s was changed after the baseline was sealed (and %" PRIu64 " more)",
		    shown, n - 1);
}

/* ---- the sealed header ---- */

struct buf {
	uint8_t *p;
	size_t n, cap;
	bool nomem;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->nomem)
		return;
	if (n > HEADER_MAX - b->n) {
		b->nomem = true;
		return;
	}
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		uint8_t *q;
		while (cap < b->n + n)
			cap *= 2;
		if ((q = realloc(b->p, cap)) == NULL) {
			b->nomem = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void buf_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	buf_add(b, x, sizeof(x));
}

static int header_pair(void *user, const char *key, const char *value)
{
	struct buf *b = user;
	size_t kl = strlen(key), vl = strlen(value);

	/* The seal cannot cover itself. */
	if (strcmp(key, "seal") == 0)
		return 0;
	buf_u32(b, (uint32_t)kl);
	buf_add(b, key, kl);
	buf_u32(b, (uint32_t)vl);
	buf_add(b, value, vl);
	return 0;
}

/*
 * The header the seal signs:
 *   "vigil-seal-v1"  13 bytes, domain tag
 *   schema           u32 LE, VIGIL_STORE_SCHEMA
 *   history digest   32 bytes (vigil_store_history_digest)
 *   then every metadata pair but "seal", in key order, as [u32 LE key length][key]
 *   [u32 LE value length][value] — to the end.
 * The metadata holds the generation, hash algorithm, config digest, the roots and
 * attributes check walks, seal_mode, sealed_count and sealed_set_digest: all of it is
 * bound, so a key added later is sealed without anyone having to remember.
 */
static int build_header(vigil_store *st, struct buf *b, char *err, size_t cap)
{
	uint8_t hd[32];
	int r;

	memset(b, 0, sizeof(*b));
	if ((r = vigil_store_history_digest(st, hd)) != 0)
		return say(err, cap, r, "%s", vigil_store_error(st));
	buf_add(b, HEADER_TAG, sizeof(HEADER_TAG) - 1);
	buf_u32(b, VIGIL_STORE_SCHEMA);
	buf_add(b, hd, sizeof(hd));
	if ((r = vigil_store_meta_each(st, header_pair, b)) != 0)
		return say(err, cap, r, "%s", vigil_store_error(st));
	if (b->nomem)
		return say(err, cap, VIGIL_E_NOMEM, "the baseline's metadata is too large");
	return 0;
}

static int header_mac(const vigil_sealer *s, const struct buf *b, uint8_t out[32])
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(s->keyed);
	size_t len = 0;
	int r = VIGIL_E_CRYPTO;

	if (c != NULL && EVP_MAC_update(c, b->p, b->n) == 1 &&
	    EVP_MAC_final(c, out, &len, 32) == 1 && len == 32)
		r = 0;
	EVP_MAC_CTX_free(c);
	return r;
}

static int sign_header(const vigil_sealer *s, const struct buf *b, uint8_t *sig, size_t *len)
{
	EVP_MD_CTX *c;
	int r = VIGIL_E_CRYPTO;

	if (s->mode == VIGIL_SEAL_HMAC) {
		*len = 32;
		return header_mac(s, b, sig);
	}
	*len = SIG_MAX;
	/* Ed25519 is one-shot over the message: no digest is named (RFC 8032, PureEdDSA). */
	if ((c = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestSignInit_ex(c, NULL, NULL, NULL, NULL, s->pkey, NULL) == 1 &&
	    EVP_DigestSign(c, sig, len, b->p, b->n) == 1 && *len == SIG_MAX)
		r = 0;
	EVP_MD_CTX_free(c);
	return r;
}

/* 1: the seal verifies; 0: it does not; <0: OpenSSL failed. */
static int check_header(const vigil_sealer *s, const struct buf *b, const uint8_t *sig, size_t len)
{
	EVP_MD_CTX *c;
	int ok;

	if (s->mode == VIGIL_SEAL_HMAC) {
		uint8_t mac[32];
		if (header_mac(s, b, mac) != 0)
			return VIGIL_E_CRYPTO;
		ok = len == sizeof(mac) && CRYPTO_memcmp(mac, sig, sizeof(mac)) == 0;
		return ok;
	}
	if (len != SIG_MAX)
		return 0;
	if ((c = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(c, NULL, NULL, NULL, NULL, s->pkey, NULL) != 1) {
		EVP_MD_CTX_free(c);
		return VIGIL_E_CRYPTO;
	}
	ok = EVP_DigestVerify(c, sig, len, b->p, b->n) == 1;
	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return ok;
}

/* ---- sealing ---- */

struct rows {
	const vigil_sealer *s;
	EVP_MD_CTX *set; /* SHA-256 of the row MACs in path order */
	uint64_t count;
	bool verify;  /* recompute each row's MAC */
	uint64_t bad; /* rows whose MAC does not verify */
	char first_bad[SHOW_CAP];
	int crypto; /* an OpenSSL failure, stops the iteration */
};

/* One row MAC into the count and the set digest; a MAC of the wrong length is bad. */
static int on_mac(void *user, const char *path, size_t path_len, const uint8_t *mac, size_t mac_len)
{
	struct rows *w = user;

	w->count++;
	if (mac_len > 0 && EVP_DigestUpdate(w->set, mac, mac_len) != 1)
		return w->crypto = VIGIL_E_CRYPTO;
	if (mac_len != VIGIL_ROW_MAC_LEN && w->bad++ == 0)
		show(w->first_bad, sizeof(w->first_bad), path, path_len);
	return 0;
}

static int on_row(void *user, const vigil_entry *e, const uint8_t *mac, size_t mac_len)
{
	struct rows *w = user;
	int r;

	w->count++;
	if (mac_len > 0 && EVP_DigestUpdate(w->set, mac, mac_len) != 1)
		return w->crypto = VIGIL_E_CRYPTO;
	if ((r = vigil_seal_check_row(w->s, e, mac, mac_len)) == VIGIL_E_CRYPTO)
		return w->crypto = r;
	if (r != 0 && w->bad++ == 0)
		show(w->first_bad, sizeof(w->first_bad), e->path, e->path_len);
	return 0;
}

/* Walks every row: count, set digest and the bad ones — with verify, rows whose MAC
 * does not match their values; without, only the row MACs are read (sealing, and the
 * first look of vigil_seal_verify_set). */
static int walk_rows(const vigil_sealer *s, vigil_store *st, bool verify, struct rows *w,
		     uint8_t set[32], char *err, size_t cap)
{
	unsigned int len = 0;
	int r;

	memset(w, 0, sizeof(*w));
	w->s = s;
	w->verify = verify;
	if ((w->set = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex2(w->set, s->sha256, NULL) != 1) {
		r = say(err, cap, VIGIL_E_CRYPTO, "SHA-256 failed");
		goto out;
	}
	r = verify ? vigil_store_each(st, NULL, 0, on_row, w) : vigil_store_each_mac(st, on_mac, w);
	if (r != 0) {
		if (w->crypto != 0)
			r = say(err, cap, r, "computing a row MAC failed");
		else
			r = say(err, cap, r, "%s", vigil_store_error(st));
		goto out;
	}
	if (EVP_DigestFinal_ex(w->set, set, &len) != 1 || len != 32)
		r = say(err, cap, VIGIL_E_CRYPTO, "SHA-256 failed");
out:
	EVP_MD_CTX_free(w->set);
	w->set = NULL;
	return r;
}

int vigil_seal_store(const vigil_sealer *s, vigil_store *st, char digest_hex[65],
		     uint64_t *generation, char *err, size_t cap)
{
	uint8_t set[32], sig[SIG_MAX], hd[32];
	char num[32], set_hex[65], sig_hex[2 * SIG_MAX + 1];
	struct buf b = {0};
	struct rows w;
	uint64_t gen = 0;
	char *v = NULL;
	size_t siglen = 0;
	int r;

	if (!s->can_sign)
		return say(err, cap, VIGIL_E_INVALID,
			   "a public key can only verify: sealing needs the private key");
	if ((r = walk_rows(s, st, false, &w, set, err, cap)) != 0)
		return r;
	if (w.bad > 0)
		return say(err, cap, VIGIL_E_FORMAT, "row %s has no row MAC of %d bytes",
			   w.first_bad, VIGIL_ROW_MAC_LEN);
	r = vigil_store_meta_get(st, "generation", &v);
	if (r == 0 && !parse_u64(v, &gen))
		r = say(err, cap, VIGIL_E_FORMAT, "the baseline's generation is not a number");
	else if (r == VIGIL_E_NOT_FOUND)
		r = 0;
	else if (r != 0)
		r = say(err, cap, r, "%s", vigil_store_error(st));
	free(v);
	if (r != 0)
		return r;
	if (gen == UINT64_MAX)
		return say(err, cap, VIGIL_E_FORMAT, "the baseline's generation is exhausted");
	gen++;
	to_hex(set, sizeof(set), set_hex);
	snprintf(num, sizeof(num), "%" PRIu64, gen);
	if ((r = vigil_store_meta_set(st, "generation", num)) != 0 ||
	    (r = vigil_store_meta_set(st, "seal_mode", vigil_seal_mode_name(s->mode))) != 0)
		return say(err, cap, r, "%s", vigil_store_error(st));
	snprintf(num, sizeof(num), "%" PRIu64, w.count);
	if ((r = vigil_store_meta_set(st, "sealed_count", num)) != 0 ||
	    (r = vigil_store_meta_set(st, "sealed_set_digest", set_hex)) != 0)
		return say(err, cap, r, "%s", vigil_store_error(st));
	if ((r = build_header(st, &b, err, cap)) != 0)
		goto out;
	if ((r = sign_header(s, &b, sig, &siglen)) != 0) {
		r = say(err, cap, r, "signing the baseline failed");
		goto out;
	}
	to_hex(sig, siglen, sig_hex);
	if ((r = vigil_store_meta_set(st, "seal", sig_hex)) != 0) {
		r = say(err, cap, r, "%s", vigil_store_error(st));
		goto out;
	}
	if (EVP_Digest(b.p, b.n, hd, NULL, s->sha256, NULL) != 1) {
		r = say(err, cap, VIGIL_E_CRYPTO, "SHA-256 failed");
		goto out;
	}
	to_hex(hd, sizeof(hd), digest_hex);
	*generation = gen;
out:
	free(b.p);
	return r;
}

/* "1 row was" / "3 rows were" */
static const char *rows_were(uint64_t n)
{
	return n == 1 ? "row was" : "rows were";
}

/* The sealed header, checked against the key; on success the row count and set digest
 * it binds. */
static int verify_header(const vigil_sealer *s, vigil_store *st, uint64_t *sealed_count,
			 uint8_t sealed_set[32], char *err, size_t cap)
{
	uint8_t sig[SIG_MAX];
	char *seal = NULL, *mode = NULL, *count = NULL, *set_hex = NULL, shown[64];
	struct buf b = {0};
	size_t siglen;
	int r, ok;

	r = vigil_store_meta_get(st, "seal", &seal);
	if (r == VIGIL_E_NOT_FOUND) {
		r = say(err, cap, VIGIL_E_FORMAT, "the baseline has no seal");
		goto out;
	}
	if (r == 0)
		r = vigil_store_meta_get(st, "seal_mode", &mode);
	if (r == VIGIL_E_NOT_FOUND) {
		r = say(
		    err, cap, VIGIL_E_FORMAT,
		    "the seal does not verify: wrong key, or the metadata or history was edited");
		goto out;
	}
	if (r != 0) {
		r = say(err, cap, r, "%s", vigil_store_error(st));
		goto out;
	}
	if (strcmp(mode, vigil_seal_mode_name(s->mode)) != 0) {
		if (strcmp(mode, vigil_seal_mode_name(VIGIL_SEAL_HMAC)) == 0 ||
		    strcmp(mode, vigil_seal_mode_name(VIGIL_SEAL_ED25519)) == 0) {
			r = say(err, cap, VIGIL_E_FORMAT,
				"the baseline is sealed with %s but an %s key was given", mode,
				s->mode == VIGIL_SEAL_HMAC ? "hmac" : "ed25519");
		} else {
			show(shown, sizeof(shown), mode, strlen(mode));
			r = say(err, cap, VIGIL_E_FORMAT,
				"the baseline is sealed with an unknown method \"%s\"", shown);
		}
		goto out;
	}
	/* The header first: until it verifies, sealed_count and the set digest are only
	 * claims. A wrong key fails here too, before every row would look changed. */
	if ((r = build_header(st, &b, err, cap)) != 0)
		goto out;
	siglen = strlen(seal) / 2;
	ok = siglen <= sizeof(sig) && from_hex(seal, sig, siglen) ? check_header(s, &b, sig, siglen)
								  : 0;
	if (ok < 0) {
		r = say(err, cap, VIGIL_E_CRYPTO, "verifying the seal failed");
		goto out;
	}
	if (!ok) {
		r = say(
		    err, cap, VIGIL_E_FORMAT,
		    "the seal does not verify: wrong key, or the metadata or history was edited");
		goto out;
	}
	if ((r = vigil_store_meta_get(st, "sealed_count", &count)) != 0 ||
	    (r = vigil_store_meta_get(st, "sealed_set_digest", &set_hex)) != 0) {
		if (r == VIGIL_E_NOT_FOUND)
			r = say(err, cap, VIGIL_E_FORMAT,
				"the seal has no row count or set digest");
		else
			r = say(err, cap, r, "%s", vigil_store_error(st));
		goto out;
	}
	/* Sealed values, but of a seal made by someone holding the key: still parsed with
	 * care. */
	if (!parse_u64(count, sealed_count) || !from_hex(set_hex, sealed_set, 32)) {
		r = say(err, cap, VIGIL_E_FORMAT,
			"the sealed row count or set digest is malformed");
		goto out;
	}
	r = 0;
out:
	free(b.p);
	free(seal);
	free(mode);
	free(count);
	free(set_hex);
	return r;
}

/* Every row against the sealed count and set digest, each row's MAC recomputed: the
 * message names what was done to the rows. */
static int verify_rows(const vigil_sealer *s, vigil_store *st, uint64_t sealed_count,
		       const uint8_t sealed_set[32], char *err, size_t cap)
{
	uint8_t set[32];
	struct rows w;
	int r;

	if ((r = walk_rows(s, st, true, &w, set, err, cap)) != 0)
		return r;
	r = VIGIL_E_FORMAT;
	if (w.count > sealed_count) {
		if (w.bad > 0)
			say(err, cap, r,
			    "%" PRIu64 " %s added after the baseline was sealed (%s, "
			    "for one, has no valid row MAC)",
			    w.count - sealed_count, rows_were(w.count - sealed_count), w.first_bad);
		else
			say(err, cap, r, "%" PRIu64 " %s added after the baseline was sealed",
			    w.count - sealed_count, rows_were(w.count - sealed_count));
	} else if (w.count < sealed_count) {
		if (w.bad > 0)
			say(err, cap, r,
			    "%" PRIu64 " %s deleted after the baseline was sealed, and row %s was "
			    "changed",
			    sealed_count - w.count, rows_were(sealed_count - w.count), w.first_bad);
		else
			say(err, cap, r, "%" PRIu64 " %s deleted after the baseline was sealed",
			    sealed_count - w.count, rows_were(sealed_count - w.count));
	} else if (w.bad == 1) {
		say(err, cap, r, "row %s was changed after the baseline was sealed", w.first_bad);
	} else if (w.bad > 1) {
		say(err, cap, r,
		    "row %s was changed after the baseline was sealed (and %" PRIu64 " more)",
		    w.first_bad, w.bad - 1);
	} else if (CRYPTO_memcmp(set, sealed_set, sizeof(set)) != 0) {
		/* In Ed25519 mode a row "MAC" is a plain digest anyone can recompute, so the
		 * rows may also have been rewritten; with an HMAC key they can only be old. */
		say(err, cap, r,
		    s->mode == VIGIL_SEAL_HMAC
			? "rows were replayed from an older baseline: every row MAC verifies, but "
			  "the set of rows is not the one sealed"
			: "rows were replayed from an older baseline or rewritten: every row "
			  "digest matches, but the set of rows is not the one sealed");
	} else {
		r = 0;
	}
	return r;
}

int vigil_seal_verify(const vigil_sealer *s, vigil_store *st, char *err, size_t cap)
{
	uint8_t sealed_set[32];
	uint64_t sealed_count = 0;
	int r;

	if ((r = verify_header(s, st, &sealed_count, sealed_set, err, cap)) != 0)
		return r;
	return verify_rows(s, st, sealed_count, sealed_set, err, cap);
}

int vigil_seal_verify_set(const vigil_sealer *s, vigil_store *st, char *err, size_t cap)
{
	uint8_t sealed_set[32], set[32];
	uint64_t sealed_count = 0;
	struct rows w;
	int r;

	if ((r = verify_header(s, st, &sealed_count, sealed_set, err, cap)) != 0)
		return r;
	if ((r = walk_rows(s, st, false, &w, set, err, cap)) != 0)
		return r;
	if (w.count == sealed_count && w.bad == 0 &&
	    CRYPTO_memcmp(set, sealed_set, sizeof(set)) == 0)
		return 0;
	/* Something was done to the rows: every row is read to say what. */
	r = verify_rows(s, st, sealed_count, sealed_set, err, cap);
	return r != 0 ? r : say(err, cap, VIGIL_E_FORMAT, "the set of rows is not the one sealed");
}
