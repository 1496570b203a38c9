/* SPDX-License-Identifier: Apache-2.0 */
/* The detection engine: streams bytes through one vectorscan database of trigger
 * patterns and hands each trigger, with the bytes around it, to its validator. */
#include <assert.h>
#include <errno.h>
#include <hs.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"

/* Bytes given to one vectorscan call: bounds the triggers collected per call. */
#define SCAN_CHUNK (64u * 1024u)
/* Window: what the validators may look back at, plus one block of new data. */
#define WINDOW_BLOCK (256u * 1024u)
#define WINDOW_CAP   (VIGIL_WINDOW_KEEP + WINDOW_BLOCK)
#define RECENT_HITS  32

struct vigil_detector {
	hs_database_t *db;     /* NULL when no vectorscan rule is wanted */
	hs_scratch_t *scratch; /* prototype, cloned per stream */
	unsigned *rule_of;     /* pattern id -> index in vigil_rules */
	unsigned builtins;     /* bit 1 << VIGIL_BUILTIN_x per wanted built-in rule */
	unsigned builtin_rule[VIGIL_BUILTIN_COUNT]; /* VIGIL_BUILTIN_x -> index in vigil_rules */
	uint8_t key[32];
	EVP_MD *sha256; /* fetched once: an implicit fetch per HMAC takes a global lock */
};

typedef struct trigger {
	uint64_t end; /* absolute stream offset where the match ends */
	unsigned rule;
} trigger;

typedef struct recent_hit {
	uint64_t start, end;
	vigil_category category;
} recent_hit;

struct vigil_dstream {
	const vigil_detector *d;
	hs_scratch_t *scratch;
	hs_stream_t *hs;
	uint8_t *win; /* window: bytes [base, base + len) of the stream */
	size_t len;
	uint64_t base;
	trigger *trig; /* triggers waiting for their validator */
	size_t ntrig, captrig;
	trigger *merge; /* room to merge the two sources' triggers of a chunk */
	size_t capmerge;
	uint64_t *skip_until; /* per rule: triggers ending at or before are redundant */
	uint64_t line_pos;    /* newlines in [0, line_pos) are counted ... */
	uint64_t line_count;  /* ... here */
	recent_hit recent[RECENT_HITS];
	unsigned nrecent;
	uint8_t *scratchbuf; /* VIGIL_SCRATCH_SIZE, for normalised secrets */
	vigil_found_fn found;
	void *user;
	vigil_tally tally;
	bool eof;
	bool failed;
};

void vigil_detector_fingerprint(const vigil_detector *d, const void *p, size_t n,
				char out[VIGIL_FINGERPRINT_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);

	if (HMAC(d->sha256, d->key, sizeof(d->key), p, n, md, &mdlen) == NULL)
		memset(md, 0, sizeof(md));
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[7 + 64] = '\0';
}

int vigil_detector_new(unsigned categories, const uint8_t key[32], vigil_detector **out, char *err,
		       size_t errlen)
{
	vigil_detector *d = NULL;
	const char **exprs = NULL;
	unsigned *flags = NULL, *ids = NULL;
	hs_compile_error_t *cerr = NULL;
	size_t n = 0;
	int r = VIGIL_E_NOMEM;

	*out = NULL;
	if (categories == 0)
		categories = (1u << VIGIL_CAT_COUNT) - 1;
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (exprs = calloc(vigil_rules_count, sizeof(*exprs))) == NULL ||
	    (flags = calloc(vigil_rules_count, sizeof(*flags))) == NULL ||
	    (ids = calloc(vigil_rules_count, sizeof(*ids))) == NULL ||
	    (d->rule_of = calloc(vigil_rules_count, sizeof(*d->rule_of))) == NULL)
		goto out;
	memcpy(d->key, key, sizeof(d->key));
	if ((d->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		r = VIGIL_E_CRYPTO;
		goto out;
	}
	for (size_t i = 0; i < vigil_rules_count; i++) {
		const vigil_rule *rule = &vigil_rules[i];
		assert(rule->max_before <= VIGIL_WINDOW_KEEP / 2);
		assert(rule->max_after <= VIGIL_MAX_AFTER);
		if (!(categories & (1u << rule->category)))
			continue;
		if (rule->builtin != VIGIL_BUILTIN_NONE) {
			assert(rule->builtin < VIGIL_BUILTIN_COUNT);
			assert(rule->max_before + rule->max_after < VIGIL_WINDOW_KEEP);
			d->builtins |= 1u << rule->builtin;
			d->builtin_rule[rule->builtin] = (unsigned)i;
			continue;
		}
		exprs[n] = rule->pattern;
		flags[n] = rule->flags;
		ids[n] = (unsigned)n;
		d->rule_of[n] = (unsigned)i;
		n++;
	}
	if (n > 0) {
		if (hs_compile_multi(exprs, flags, ids, (unsigned)n, HS_MODE_STREAM, NULL, &d->db,
				     &cerr) != HS_SUCCESS) {
			if (err)
				snprintf(err, errlen, "pattern %d (%s): %s", cerr->expression,
					 cerr->expression >= 0 ? exprs[cerr->expression] : "?",
					 cerr->message);
			hs_free_compile_error(cerr);
			r = VIGIL_E_PATTERN;
			goto out;
		}
		if (hs_alloc_scratch(d->db, &d->scratch) != HS_SUCCESS) {
			r = VIGIL_E_NOMEM;
			goto out;
		}
	}
	*out = d;
	d = NULL; /* transferred */
	r = 0;
out:
	vigil_detector_free(d);
	free(exprs);
	free(flags);
	free(ids);
	return r;
}

void vigil_detector_free(vigil_detector *d)
{
	if (d == NULL)
		return;
	hs_free_scratch(d->scratch);
	hs_free_database(d->db);
	free(d->rule_of);
	EVP_MD_free(d->sha256);
	OPENSSL_cleanse(d->key, sizeof(d->key));
	free(d);
}

int vigil_dstream_new(const vigil_detector *d, vigil_dstream **out)
{
	vigil_dstream *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VIGIL_E_NOMEM;
	s->d = d;
	s->win = malloc(WINDOW_CAP);
	s->scratchbuf = malloc(VIGIL_SCRATCH_SIZE);
	s->skip_until = calloc(vigil_rules_count, sizeof(*s->skip_until));
	if (s->win == NULL || s->scratchbuf == NULL || s->skip_until == NULL)
		goto fail;
	if (d->db != NULL && (hs_clone_scratch(d->scratch, &s->scratch) != HS_SUCCESS ||
			      hs_open_stream(d->db, 0, &s->hs) != HS_SUCCESS))
		goto fail;
	*out = s;
	return 0;
fail:
	vigil_dstream_free(s);
	return VIGIL_E_NOMEM;
}

void vigil_dstream_free(vigil_dstream *s)
{
	if (s == NULL)
		return;
	if (s->hs != NULL)
		hs_close_stream(s->hs, s->scratch, NULL, NULL);
	hs_free_scratch(s->scratch);
	if (s->win != NULL)
		OPENSSL_cleanse(s->win, WINDOW_CAP);
	free(s->win);
	if (s->scratchbuf != NULL)
		OPENSSL_cleanse(s->scratchbuf, VIGIL_SCRATCH_SIZE);
	free(s->scratchbuf);
	free(s->skip_until);
	free(s->trig);
	free(s->merge);
	free(s);
}

int vigil_dstream_begin(vigil_dstream *s, vigil_found_fn fn, void *user)
{
	s->len = 0;
	s->base = 0;
	s->ntrig = 0;
	s->line_pos = 0;
	s->line_count = 0;
	s->nrecent = 0;
	memset(&s->tally, 0, sizeof(s->tally));
	s->eof = false;
	s->failed = false;
	s->found = fn;
	s->user = user;
	memset(s->skip_until, 0, vigil_rules_count * sizeof(*s->skip_until));
	return 0;
}

/* Newlines in p[0, n): a word at a time, since every byte of every file passes here. */
static uint64_t count_newlines(const uint8_t *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	const uint64_t nl = ones * '\n';
	uint64_t c = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		w ^= nl; /* bytes that were '\n' are now zero */
		/* Exact zero-byte test: high bit set only for zero bytes. */
		uint64_t z = ~(((w & ~highs) + ~highs) | w | ~highs);
		/* One bit per '\n' byte; the multiply sums the eight bytes into the top one
		 * (no popcount instruction is assumed). */
		c += ((z >> 7) * ones) >> 56;
	}
	for (; i < n; i++)
		c += p[i] == '\n';
	return c;
}

/* The 1-based line of absolute offset `at`, or 0 if it lies before the window. */
static uint64_t line_of(vigil_dstream *s, uint64_t at)
{
	if (at >= s->line_pos) {
		s->line_count += count_newlines(s->win + (s->line_pos - s->base), at - s->line_pos);
		s->line_pos = at;
		return s->line_count + 1;
	}
	if (at < s->base)
		return 0;
	return s->line_count - count_newlines(s->win + (at - s->base), s->line_pos - at) + 1;
}

static void emit(vigil_check *c, const vigil_hit *h)
{
	vigil_dstream *s = c->engine;
	char fp[VIGIL_FINGERPRINT_MAX];
	uint64_t start = s->base + h->start, end = s->base + h->end;

	for (unsigned i = 0; i < s->nrecent && i < RECENT_HITS; i++) {
		const recent_hit *r = &s->recent[i];
		if (r->start == start && r->end == end && r->category == h->category)
			goto wipe; /* two rules confirmed the same secret */
	}
	s->recent[s->nrecent++ % RECENT_HITS] = (recent_hit){start, end, h->category};
	vigil_detector_fingerprint(s->d, h->norm, h->norm_len, fp);
	if (h->norm != NULL)
		OPENSSL_cleanse((void *)h->norm, h->norm_len);
	s->found(s->user, h, start, h->start <= s->len ? line_of(s, start) : 0, fp);
	return;
wipe:
	if (h->norm != NULL)
		OPENSSL_cleanse((void *)h->norm, h->norm_len);
}

static void check_init(vigil_dstream *s, vigil_check *c, size_t end)
{
	c->buf = s->win;
	c->len = s->len;
	c->end = end;
	c->eof = s->eof;
	c->scratch = s->scratchbuf;
	c->emit = emit;
	c->engine = s;
	c->tally = &s->tally;
}

void vigil_dstream_sniff(vigil_dstream *s, const uint8_t *head, size_t n, bool eof)
{
	vigil_check c;

	/* The keystore detectors read the head directly: it is not in the window yet. */
	check_init(s, &c, 0);
	c.buf = head;
	c.len = n;
	c.eof = eof;
	/* Hits from the head are reported at their offset in the head, which is also
	 * the stream offset since nothing has been fed yet (base 0). */
	assert(s->base == 0 && s->len == 0);
	vigil_sniff_keystore(&c);
}

/* Judge every trigger whose lookahead is complete (all of them at the end). */
static void judge(vigil_dstream *s)
{
	uint64_t win_end = s->base + s->len;
	size_t keep = 0;

	for (size_t i = 0; i < s->ntrig; i++) {
		trigger t = s->trig[i];
		const vigil_rule *rule = &vigil_rules[t.rule];
		vigil_check c;
		size_t upto;

		if (!s->eof && t.end + rule->max_after > win_end) {
			s->trig[keep++] = t;
			continue;
		}
		if (t.end <= s->skip_until[t.rule] || t.end < s->base)
			continue;
		check_init(s, &c, (size_t)(t.end - s->base));
		upto = rule->validate(&c);
		if (upto != 0 && s->base + upto > s->skip_until[t.rule])
			s->skip_until[t.rule] = s->base + upto;
	}
	s->ntrig = keep;
}

/* Queues a trigger ending at absolute offset `end`; -1 when out of memory. */
static int add_trigger(vigil_dstream *s, uint64_t end, unsigned rule)
{
	if (end <= s->skip_until[rule])
		return 0;
	if (s->ntrig == s->captrig) {
		size_t cap = s->captrig ? s->captrig * 2 : 256;
		trigger *t = realloc(s->trig, cap * sizeof(*t));
		if (t == NULL) {
			s->failed = true;
			return -1;
		}
		s->trig = t;
		s->captrig = cap;
	}
	s->trig[s->ntrig++] = (trigger){end, rule};
	return 0;
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
		    void *ctx)
{
	vigil_dstream *s = ctx;

	(void)from;
	(void)flags;
	return add_trigger(s, to, s->d->rule_of[id]) != 0; /* nonzero stops the scan */
}

static int on_builtin(void *user, vigil_builtin which, size_t end)
{
	vigil_dstream *s = user;

	/* `end` is a window position: the finder scans the window. */
	return add_trigger(s, s->base + end, s->d->builtin_rule[which]);
}

static bool before(const trigger *a, const trigger *b)
{
	return a->end < b->end || (a->end == b->end && a->rule < b->rule);
}

/*
 * The triggers of one chunk come from vectorscan (trig[first, mid), in order of end) and
 * from the built-in finder (trig[mid, ntrig), nearly in order). Sorts them into one list
 * by end, and by rule among equal ends, as one vectorscan database would report them,
 * so that findings keep their order in the stream.
 */
static int order_triggers(vigil_dstream *s, size_t first, size_t mid)
{
	trigger *t = s->trig;
	size_t na = mid - first, i, j, w;

	/* Insertion sort: the finder's ends are out of order only within a few bytes. */
	for (i = mid + 1; i < s->ntrig; i++) {
		trigger x = t[i];
		for (j = i; j > mid && before(&x, &t[j - 1]); j--)
			t[j] = t[j - 1];
		t[j] = x;
	}
	if (na == 0 || mid == s->ntrig || !before(&t[mid], &t[mid - 1]))
		return 0;
	if (na > s->capmerge) {
		trigger *m = realloc(s->merge, na * sizeof(*m));
		if (m == NULL)
			return -1;
		s->merge = m;
		s->capmerge = na;
	}
	/* Merge forwards: the write position never passes the read position in trig. */
	memcpy(s->merge, t + first, na * sizeof(*t));
	for (i = 0, j = mid, w = first; i < na; w++)
		t[w] = (j < s->ntrig && before(&t[j], &s->merge[i])) ? t[j++] : s->merge[i++];
	return 0;
}

/* Drop the oldest bytes so a new block fits, keeping what validators may look back at. */
static void slide(vigil_dstream *s)
{
	size_t drop = s->len - VIGIL_WINDOW_KEEP;
	uint64_t new_base = s->base + drop;

	if (s->line_pos < new_base) {
		s->line_count +=
		    count_newlines(s->win + (s->line_pos - s->base), new_base - s->line_pos);
		s->line_pos = new_base;
	}
	memmove(s->win, s->win + drop, VIGIL_WINDOW_KEEP);
	s->base = new_base;
	s->len = VIGIL_WINDOW_KEEP;
}

int vigil_dstream_feed(vigil_dstream *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t k, first, mid;

		if (s->len == WINDOW_CAP)
			slide(s);
		k = WINDOW_CAP - s->len;
		if (k > SCAN_CHUNK)
			k = SCAN_CHUNK;
		if (k > n)
			k = n;
		memcpy(s->win + s->len, p, k);
		first = s->ntrig;
		if (s->hs != NULL &&
		    hs_scan_stream(s->hs, (const char *)s->win + s->len, (unsigned)k, 0, s->scratch,
				   on_match, s) != HS_SUCCESS)
			s->failed = true;
		mid = s->ntrig;
		/* The window holds the finder's look-back, or starts the stream. */
		assert(s->base == 0 || s->len >= VIGIL_DIGITS_LOOKBACK);
		if (!s->failed && s->d->builtins != 0 &&
		    (vigil_digit_triggers(s->win, s->len, s->len + k, s->d->builtins, on_builtin,
					  s) != 0 ||
		     order_triggers(s, first, mid) != 0))
			s->failed = true;
		s->len += k;
		p += k;
		n -= k;
		if (s->failed)
			return VIGIL_E_ENGINE;
		judge(s);
	}
	return 0;
}

/* Chance passes Luhn one time in ten: with at least this many candidates, a pass rate
 * under a quarter means numeric data (stroke tables, catalog dumps, reference numbers),
 * not card numbers, whose pass rate is one; there only cards named as such count. */
#define NOISE_MIN_CANDIDATES   100
#define NOISE_MAX_PASS_PERCENT 25

bool vigil_dstream_cards_are_noise(const vigil_dstream *s)
{
	const vigil_tally *t = &s->tally;

	return t->card_candidates >= NOISE_MIN_CANDIDATES &&
	       (uint64_t)t->card_luhn_ok * 100 <
		   (uint64_t)t->card_candidates * NOISE_MAX_PASS_PERCENT;
}

int vigil_dstream_end(vigil_dstream *s)
{
	/* Resetting reports matches anchored at the end of the data (`\b`, `$`). */
	if (s->hs != NULL && hs_reset_stream(s->hs, 0, s->scratch, on_match, s) != HS_SUCCESS)
		s->failed = true;
	s->eof = true;
	judge(s);
	/* The window holds file contents, as the page cache does; secrets pass through the
	 * scratch buffer, which emit() wipes, and the window is wiped when freed. */
	s->len = 0;
	return s->failed ? VIGIL_E_ENGINE : 0;
}
