/* SPDX-License-Identifier: Apache-2.0 */
/* Test harness for validators: runs a rule's trigger pattern with vectorscan over a text
 * and calls the validator at each trigger end with a window the way the engine does. */
#ifndef VIGIL_VALIDATE_HARNESS_H
#define VIGIL_VALIDATE_HARNESS_H

#include <hs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"

typedef struct vh_rule {
	const char *name;
	const char *pattern;
	unsigned flags;
	unsigned max_before, max_after;
	vigil_validator validate;
	hs_database_t *db; /* compiled on first use */
	hs_scratch_t *hs_scratch;
} vh_rule;

typedef struct vh_hit {
	size_t start, end; /* offsets in the whole text */
	vigil_category category;
	const char *detector;
	vigil_confidence confidence;
	char redacted[VIGIL_REDACTED_MAX];
	char norm[512];
	size_t norm_len;
} vh_hit;

#define VH_MAX_HITS 16

typedef struct vh_result {
	size_t n;
	vh_hit hit[VH_MAX_HITS];
	size_t emits;      /* emit calls, duplicates included */
	vigil_tally tally; /* the stream's counts, as the engine keeps them */
	char error[256];   /* first contract violation seen by emit, "" if none */
} vh_result;

/* FULL: the window is the whole text and eof is true. MIN: the window holds exactly the
 * rule's max_before bytes before the trigger end and max_after after it (fewer where the
 * text has fewer), in a buffer of that exact size so a read past it trips ASan. */
typedef enum vh_mode { VH_FULL, VH_MIN } vh_mode;

typedef struct vh_ctx {
	vh_result *res;
	size_t base; /* window offset in the text */
	const uint8_t *buf;
	size_t len;
} vh_ctx;

static bool vh_memmem(const char *hay, size_t hn, const void *needle, size_t nn)
{
	return nn > 0 && hn >= nn && memmem(hay, hn, needle, nn) != NULL;
}

static void vh_fail(vh_result *r, const char *msg)
{
	if (r->error[0] == '\0')
		snprintf(r->error, sizeof(r->error), "%s", msg);
}

/* The engine's emit: checks the hit contract, copies it, drops identical extents. */
static void vh_emit(vigil_check *c, const vigil_hit *h)
{
	vh_ctx *x = c->engine;
	vh_result *r = x->res;
	size_t rl;
	vh_hit *o;

	r->emits++;
	if (h->start >= h->end || h->end > x->len) {
		vh_fail(r, "hit extent outside the window");
		return;
	}
	if (h->detector == NULL || h->norm == NULL || h->norm_len == 0 ||
	    h->norm_len > VIGIL_SCRATCH_SIZE) {
		vh_fail(r, "hit without detector or norm");
		return;
	}
	rl = strnlen(h->redacted, sizeof(h->redacted));
	if (rl == sizeof(h->redacted)) {
		vh_fail(r, "redacted not NUL-terminated");
		return;
	}
	/* The redacted form must never hold the secret, neither as written nor normalised. */
	if (vh_memmem(h->redacted, rl, h->norm, h->norm_len) ||
	    vh_memmem(h->redacted, rl, x->buf + h->start, h->end - h->start)) {
		vh_fail(r, "redacted form contains the whole secret");
		return;
	}
	for (size_t i = 0; i < r->n; i++)
		if (r->hit[i].start == h->start + x->base && r->hit[i].end == h->end + x->base &&
		    strcmp(r->hit[i].detector, h->detector) == 0)
			return;
	if (r->n == VH_MAX_HITS) {
		vh_fail(r, "too many hits");
		return;
	}
	o = &r->hit[r->n++];
	memset(o, 0, sizeof(*o));
	o->start = h->start + x->base;
	o->end = h->end + x->base;
	o->category = h->category;
	o->detector = h->detector;
	o->confidence = h->confidence;
	memcpy(o->redacted, h->redacted, rl + 1);
	o->norm_len = h->norm_len < sizeof(o->norm) - 1 ? h->norm_len : sizeof(o->norm) - 1;
	memcpy(o->norm, h->norm, o->norm_len);
}

/*
 * Calls v with a window text[lo, hi) (copied into a buffer of exactly that size) and the
 * trigger end `end` (an offset in the text). Returns the validator's answer as an offset
 * in the text, or 0.
 */
static size_t vh_call(vigil_validator v, const char *text, size_t lo, size_t hi, size_t end,
		      bool eof, vh_result *res)
{
	static uint8_t *scratch;
	uint8_t *win;
	vigil_check c;
	vh_ctx x;
	size_t ret;

	if (scratch == NULL)
		scratch = malloc(VIGIL_SCRATCH_SIZE);
	win = malloc(hi - lo ? hi - lo : 1);
	if (scratch == NULL || win == NULL)
		abort();
	memcpy(win, text + lo, hi - lo);
	x.res = res;
	x.base = lo;
	x.buf = win;
	x.len = hi - lo;
	memset(&c, 0, sizeof(c));
	c.buf = win;
	c.len = hi - lo;
	c.end = end - lo;
	c.eof = eof;
	c.scratch = scratch;
	c.emit = vh_emit;
	c.engine = &x;
	c.tally = &res->tally;
	ret = v(&c);
	if (ret > c.len)
		vh_fail(res, "validator returned a position past the window");
	free(win);
	return ret ? ret + lo : 0;
}

typedef struct vh_ends {
	size_t n, cap;
	size_t *v;
} vh_ends;

static int vh_on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
		       void *ctx)
{
	vh_ends *e = ctx;
	(void)id;
	(void)from;
	(void)flags;
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 64;
		e->v = realloc(e->v, e->cap * sizeof(*e->v));
		if (e->v == NULL)
			abort();
	}
	e->v[e->n++] = (size_t)to;
	return 0;
}

/* Compiles the rule on first use; returns false (with a message on stderr) on failure. */
static bool vh_compile(vh_rule *r)
{
	hs_compile_error_t *err = NULL;

	if (r->db != NULL)
		return true;
	if (hs_compile(r->pattern, r->flags, HS_MODE_BLOCK, NULL, &r->db, &err) != HS_SUCCESS) {
		fprintf(stderr, "rule %s: %s\n", r->name, err ? err->message : "?");
		hs_free_compile_error(err);
		return false;
	}
	return hs_alloc_scratch(r->db, &r->hs_scratch) == HS_SUCCESS;
}

/* Runs rules[0, nrules) over text the way the engine does and collects the hits in res
 * (cleared first). Returns false if a pattern does not compile. */
static bool vh_scan(vh_rule *rules, size_t nrules, const char *text, size_t n, vh_mode mode,
		    vh_result *res)
{
	memset(res, 0, sizeof(*res));
	for (size_t k = 0; k < nrules; k++) {
		vh_rule *r = &rules[k];
		vh_ends ends = {0, 0, NULL};
		size_t skip = 0;

		if (!vh_compile(r))
			return false;
		if (hs_scan(r->db, n ? text : "", (unsigned)n, 0, r->hs_scratch, vh_on_match,
			    &ends) != HS_SUCCESS) {
			free(ends.v);
			return false;
		}
		for (size_t i = 0; i < ends.n; i++) {
			size_t end = ends.v[i], lo = 0, hi = n, ret;
			if (end <= skip)
				continue;
			if (mode == VH_MIN) {
				lo = end > r->max_before ? end - r->max_before : 0;
				hi = n - end > r->max_after ? end + r->max_after : n;
			}
			ret = vh_call(r->validate, text, lo, hi, end, hi == n, res);
			if (ret > skip)
				skip = ret;
		}
		free(ends.v);
	}
	return true;
}

static void vh_free_rules(vh_rule *rules, size_t nrules)
{
	for (size_t k = 0; k < nrules; k++) {
		hs_free_scratch(rules[k].hs_scratch);
		hs_free_database(rules[k].db);
		rules[k].hs_scratch = NULL;
		rules[k].db = NULL;
	}
}

#endif
