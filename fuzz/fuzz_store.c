/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as a baseline database file, opened read-only; every
 * entry, metadata pair and history record is read back and the seal verified with a fixed
 * HMAC key. A hostile file must be refused with a known error, never crash. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seal.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/vigil-fuzz-store.XXXXXX";
static char db[64], key[64];
static vigil_sealer *sealer;

/* The files SQLite and the store may leave next to the database. */
static const char *const suffixes[] = {"", "-wal", "-shm", "-journal", ".lock"};

static void remove_db(void)
{
	char p[96];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", db, suffixes[i]);
		unlink(p);
	}
}

static void cleanup(void)
{
	vigil_sealer_free(sealer);
	remove_db();
	unlink(key);
	rmdir(dir);
}

static int known(int r)
{
	switch (r) {
	case 0:
	case VIGIL_E_SYSTEM:
	case VIGIL_E_NOMEM:
	case VIGIL_E_INVALID:
	case VIGIL_E_LIMIT:
	case VIGIL_E_NOT_FOUND:
	case VIGIL_E_FORMAT:
	case VIGIL_E_CRYPTO:
		return 1;
	default:
		return 0;
	}
}

/* Every byte the store hands out is read (ASan sees an overrun) and every promise of a
 * checked entry holds. */
static unsigned touch(const void *p, size_t n)
{
	const volatile uint8_t *b = p;
	unsigned sum = 0;

	if (n > 0 && p == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		sum += b[i];
	return sum;
}

static void check_entry(const vigil_entry *e)
{
	uint8_t mac[VIGIL_ROW_MAC_LEN];

	if (e->path == NULL || e->path_len == 0 || memchr(e->path, '\0', e->path_len) != NULL ||
	    e->hash_len > VIGIL_DIGEST_MAX || e->mode > 07777 ||
	    e->policy > VIGIL_POLICY_PRESENCE || e->hash_algo >= VIGIL_HASH_COUNT ||
	    (e->attrs & ~(uint32_t)VIGIL_ATTR_ALL) != 0 || (e->type & ~(uint32_t)S_IFMT) != 0 ||
	    e->size < 0)
		abort();
	touch(e->path, e->path_len);
	touch(e->target, e->target_len);
	touch(e->acl, e->acl_len);
	touch(e->caps, e->caps_len);
	touch(e->selinux, e->selinux_len);
	touch(e->xattrs, e->xattrs_len);
	if (vigil_seal_row(sealer, e, mac) != 0)
		abort();
}

struct seen {
	size_t rows;
	char first[256];
	size_t first_len;
};

static int on_entry(void *user, const vigil_entry *e, const uint8_t *mac, size_t mac_len)
{
	struct seen *w = user;

	check_entry(e);
	if (mac_len > 64)
		abort();
	touch(mac, mac_len);
	if (w->rows++ == 0 && e->path_len <= sizeof(w->first)) {
		memcpy(w->first, e->path, e->path_len);
		w->first_len = e->path_len;
	}
	return 0;
}

static int on_meta(void *user, const char *k, const char *v)
{
	(void)user;
	touch(k, strlen(k));
	touch(v, strlen(v));
	return 0;
}

static int on_history(void *user, const vigil_history_record *h)
{
	(void)user;
	if (h->action == NULL || h->user_name == NULL)
		abort();
	touch(h->action, strlen(h->action));
	touch(h->user_name, strlen(h->user_name));
	if (h->note != NULL)
		touch(h->note, strlen(h->note));
	if (h->old_e != NULL)
		check_entry(h->old_e);
	if (h->new_e != NULL)
		check_entry(h->new_e);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t k[32];
	char err[256];
	int fd;

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(db, sizeof(db), "%s/base.db", dir);
	snprintf(key, sizeof(key), "%s/hmac.key", dir);
	/* A fixed key, so seeds sealed with it (bytes 0x00..0x1f) reach every check. */
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (uint8_t)i;
	fd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, k, sizeof(k)) != (ssize_t)sizeof(k) || close(fd) != 0)
		abort();
	if (vigil_sealer_hmac(key, false, &sealer, err, sizeof(err)) != 0)
		abort();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vigil_store *s = NULL;
	struct seen w = {0};
	vigil_entry e = {0};
	uint8_t digest[32];
	uint64_t n = 0;
	char err[512], *v = NULL;
	int fd, r;

	remove_db();
	fd = open(db, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
		abort();
	r = vigil_store_open(db, VIGIL_STORE_READ, false, NULL, NULL, &s);
	if (!known(r) || s == NULL)
		abort();
	touch(vigil_store_error(s), strlen(vigil_store_error(s)));
	if (r == 0) {
		/* Each call may fail on its own bad value; none may crash or lie. */
		if (!known(vigil_store_each(s, NULL, 0, on_entry, &w)) ||
		    !known(vigil_store_each(s, "/etc", 4, on_entry, &w)) ||
		    !known(vigil_store_count(s, &n)) ||
		    !known(vigil_store_meta_each(s, on_meta, NULL)) ||
		    !known(vigil_store_history_each(s, NULL, 0, on_history, NULL)) ||
		    !known(vigil_store_history_each(s, "/etc/passwd", 11, on_history, NULL)) ||
		    !known(vigil_store_history_digest(s, digest)))
			abort();
		if (vigil_store_meta_get(s, "generation", &v) == 0)
			touch(v, strlen(v));
		free(v);
		if (w.first_len > 0) {
			r = vigil_store_get(s, w.first, w.first_len, &e);
			if (!known(r))
				abort();
			if (r == 0)
				check_entry(&e);
			vigil_entry_clear(&e);
		}
		err[0] = '\0';
		r = vigil_seal_verify(sealer, s, err, sizeof(err));
		if (!known(r) || memchr(err, '\0', sizeof(err)) == NULL ||
		    (r != 0 && err[0] == '\0'))
			abort();
	}
	vigil_store_close(s);
	remove_db();
	return 0;
}
