/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: arbitrary bytes as what read(2) of a fanotify group returned, through
 * the event walker's parser (parse only: no fd in the input is ever closed or answered). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fan_event.h"
#include "vigil/vigil.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct span {
	const unsigned char *buf;
	size_t len;
	unsigned events;
	uint64_t digest;
} span;

static bool inside(const span *s, const void *p, size_t n)
{
	const unsigned char *c = p;

	return c >= s->buf && n <= s->len && (size_t)(c - s->buf) <= s->len - n;
}

static void check_fid(span *s, const fan_fid *f)
{
	if (f == NULL)
		return;
	FUZZ_CHECK(f->handle_bytes <= MAX_HANDLE_SZ);
	FUZZ_CHECK(inside(s, f->handle, f->handle_bytes));
	/* "" for unnamed records; else NUL-terminated inside the buffer. */
	FUZZ_CHECK(f->name_len == 0 || inside(s, f->name, f->name_len + 1));
	FUZZ_CHECK(f->name[f->name_len] == '\0');
	FUZZ_CHECK(strlen(f->name) == f->name_len);
	for (unsigned i = 0; i < f->handle_bytes; i++)
		s->digest = (s->digest ^ f->handle[i]) * 1099511628211ull;
}

static void on_event(void *user, fan_event *ev)
{
	span *s = user;

	FUZZ_CHECK(ev->group == -1);
	FUZZ_CHECK(!ev->answered);
	check_fid(s, ev->fid);
	check_fid(s, ev->dfid);
	check_fid(s, ev->old_dfid);
	check_fid(s, ev->new_dfid);
	/* Answering without a group only marks the event. */
	fan_event_answer(ev, FAN_ALLOW);
	FUZZ_CHECK(ev->answered == ((ev->mask & FANEV_PERM_MASK) != 0));
	s->events++;
	s->digest = (s->digest ^ ev->mask ^ (uint64_t)(uint32_t)ev->fd ^
		     ((uint64_t)(uint32_t)ev->pidfd << 32) ^ (uint32_t)ev->pid) *
		    1099511628211ull;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so a read past the end is caught; malloc's alignment is what
	 * callers give (aligned for struct fanotify_event_metadata). */
	unsigned char *b = malloc(size ? size : 1);
	span one = {0}, two = {0};
	int r1, r2;

	if (b == NULL)
		return 0;
	memcpy(b, data, size);
	one.buf = two.buf = b;
	one.len = two.len = size;
	r1 = fan_events_parse(b, size, on_event, &one);
	FUZZ_CHECK(r1 == 0 || r1 == VIGIL_E_FORMAT);
	FUZZ_CHECK(r1 != 0 || size == 0 || one.events > 0);
	/* The walker keeps no state: the same bytes, the same events. */
	r2 = fan_events_parse(b, size, on_event, &two);
	FUZZ_CHECK(r1 == r2 && one.events == two.events && one.digest == two.digest);
	/* Every byte of a well-formed buffer was used: at most one event per 24 bytes. */
	FUZZ_CHECK(one.events <= size / FAN_EVENT_METADATA_LEN);
	free(b);
	return 0;
}
