/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the libFuzzer targets: scanner set-up and the checks every callback must pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

/* A broken promise is a bug like a crash: abort so that libFuzzer keeps the input. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			broken(#cond, __FILE__, __LINE__);                                         \
	} while (0)

static void broken(const char *what, const char *file, int line)
{
	fprintf(stderr, "fuzz: %s:%d: check failed: %s\n", file, line, what);
	abort();
}

typedef struct scan_ctx {
	const char *name;
	size_t len;
	int in_archive;
	int verbose; /* VIGIL_FUZZ_VERBOSE set: list findings (redacted) and warnings */
	fuzz_result *res;
} scan_ctx;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* A C string of at most max bytes including its NUL; touching every byte lets ASan see an
 * overrun. */
static size_t bounded_strlen(const char *s, size_t max)
{
	const char *nul = memchr(s, '\0', max);

	CHECK(nul != NULL);
	return (size_t)(nul - s);
}

static size_t count_digits(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s >= '0' && *s <= '9';
	return n;
}

static int on_finding(void *user, const vigil_finding *f)
{
	scan_ctx *c = user;
	size_t fp_len;
	uint64_t h = c->res->digest;

	CHECK(f != NULL);
	CHECK(f->path != NULL && f->path_len == strlen(f->path) && strcmp(f->path, c->name) == 0);
	if (!c->in_archive)
		CHECK(f->member == NULL);
	else if (f->member != NULL)
		h = fnv(h, f->member, strlen(f->member));
	CHECK((unsigned)f->category < VIGIL_CAT_COUNT && vigil_category_name(f->category));
	CHECK(f->confidence == VIGIL_CONF_LOW || f->confidence == VIGIL_CONF_MEDIUM ||
	      f->confidence == VIGIL_CONF_HIGH);
	CHECK(f->detector != NULL && f->detector[0] != '\0' && bounded_strlen(f->detector, 64) > 0);
	bounded_strlen(f->redacted, VIGIL_REDACTED_MAX);
	fp_len = bounded_strlen(f->fingerprint, VIGIL_FINGERPRINT_MAX);
	CHECK(fp_len == VIGIL_FINGERPRINT_MAX - 1 && memcmp(f->fingerprint, "sha256:", 7) == 0);
	CHECK(strspn(f->fingerprint + 7, "0123456789abcdef") == fp_len - 7);
	/* Offsets are in the decoded stream: UTF-16 becomes at most 1.5 times longer. */
	if (!c->in_archive)
		CHECK(f->offset <= 2 * (uint64_t)c->len + 4);
	/* There cannot be more newlines before a byte than bytes. */
	if (f->line != 0)
		CHECK(f->line - 1 <= f->offset);
	/* The redaction contract (vigil/finding.h): PCI DSS shows at most six plus four digits
	 * of a card, an SSN keeps its last four, and a credential is never shown whole. */
	switch (f->category) {
	case VIGIL_CAT_PAYMENT_CARD:
		CHECK(count_digits(f->redacted) <= 10 && strchr(f->redacted, '*') != NULL);
		break;
	case VIGIL_CAT_SSN:
		CHECK(count_digits(f->redacted) <= 4);
		break;
	case VIGIL_CAT_CREDENTIAL:
		CHECK(strchr(f->redacted, '*') != NULL);
		break;
	default:
		break;
	}
	if (c->verbose)
		fprintf(stderr, "fuzz: finding %s %s line %llu: %s%s%s\n",
			vigil_category_name(f->category), f->detector, (unsigned long long)f->line,
			f->redacted, f->member ? " in " : "", f->member ? f->member : "");
	h = fnv(h, &f->category, sizeof(f->category));
	h = fnv(h, &f->offset, sizeof(f->offset));
	h = fnv(h, &f->line, sizeof(f->line));
	h = fnv(h, f->detector, strlen(f->detector));
	h = fnv(h, f->redacted, strlen(f->redacted));
	h = fnv(h, f->fingerprint, fp_len);
	c->res->digest = h;
	c->res->findings++;
	return 0;
}

static void on_warning(void *user, const char *path, const char *member, const char *msg)
{
	scan_ctx *c = user;

	CHECK(path != NULL && strcmp(path, c->name) == 0);
	if (member != NULL)
		(void)strlen(member);
	CHECK(msg != NULL && strlen(msg) > 0);
	if (c->verbose)
		fprintf(stderr, "fuzz: warning %s%s: %s\n", member ? "in " : "",
			member ? member : "", msg);
}

vigil_scanner *fuzz_scanner_new(vigil_scan_options *o)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], key[600], err[256] = "";
	vigil_scanner *s = NULL;
	int r;

	snprintf(dir, sizeof(dir), "%s/vigil-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz: mkdtemp");
		abort();
	}
	snprintf(key, sizeof(key), "%s/fingerprint.key", dir);
	o->fingerprint_key = key;
	r = vigil_scanner_new(o, &s, err, sizeof(err));
	/* The scanner holds the key in memory from here on: nothing is left behind, even when
	 * a crash ends the process. */
	unlink(key);
	rmdir(dir);
	o->fingerprint_key = NULL;
	if (r != 0) {
		fprintf(stderr, "fuzz: vigil_scanner_new: %s: %s\n", vigil_strerror(r), err);
		abort();
	}
	return s;
}

void fuzz_scan(vigil_scanner *s, const char *name, const uint8_t *buf, size_t len, int in_archive,
	       fuzz_result *out)
{
	scan_ctx c = {.name = name, .len = len, .in_archive = in_archive, .res = out};
	const char *v = getenv("VIGIL_FUZZ_VERBOSE");
	vigil_scan_callbacks cb = {.on_finding = on_finding, .on_warning = on_warning, .user = &c};
	uint64_t total = 0;
	int r;

	c.verbose = v != NULL && *v != '\0' && *v != '0';
	memset(out, 0, sizeof(*out));
	out->digest = 0xcbf29ce484222325ull;
	r = vigil_scanner_scan_buffer(s, name, buf, len, &cb, &out->stats);
	if (r != 0) {
		fprintf(stderr, "fuzz: vigil_scanner_scan_buffer: %s\n", vigil_strerror(r));
		abort();
	}
	for (int i = 0; i < VIGIL_CAT_COUNT; i++)
		total += out->stats.findings[i];
	CHECK(total == out->findings);
	CHECK(out->stats.suppressed == 0);
	if (!in_archive) {
		CHECK(out->stats.files_scanned == 1);
		CHECK(out->stats.bytes_scanned == len);
		CHECK(out->stats.bytes_expanded == 0 && out->stats.archives_opened == 0);
	}
}
