/* SPDX-License-Identifier: Apache-2.0 */
/* Builds the JSON line of one `vigil watch` alert. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert.h"
#include "json.h"
#include "vigil/vigil.h"

/* A command line cut this short still names the program and its first arguments. */
#define CMDLINE_SHORT 256

const char *vigil_severity_name(int severity)
{
	switch (severity) {
	case VIGIL_SEV_CRITICAL:
		return "critical";
	case VIGIL_SEV_ERROR:
		return "error";
	case VIGIL_SEV_WARNING:
		return "warning";
	case VIGIL_SEV_NOTICE:
		return "notice";
	case VIGIL_SEV_INFO:
		return "info";
	default:
		return "unknown";
	}
}

int64_t vigil_alert_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void vigil_alert_time(char out[32], int64_t time_us)
{
	time_t s = (time_t)(time_us / 1000000);
	long us = (long)(time_us % 1000000);
	struct tm tm;
	char buf[96];

	if (us < 0) {
		us += 1000000;
		s--;
	}
	gmtime_r(&s, &tm);
	/* gmtime_r keeps every field in range; the larger buffer only quiets the
	 * compiler, which cannot know that. */
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
	snprintf(out, 32, "%.31s", buf);
}

void vigil_alert_write_path(FILE *f, const char *name, const char *path, size_t len)
{
	fprintf(f, "\"%s\":", name);
	vigil_json_string(f, path, len);
	/* As vigil check does: a name that is not UTF-8 shows U+FFFD and is kept exactly. */
	if (!vigil_utf8_valid(path, len)) {
		fprintf(f, ",\"%s_bytes_b64\":", name);
		vigil_json_base64(f, path, len);
	}
}

/* ,"name": without a format to parse (several of these go into every alert). */
static void write_key(FILE *f, const char *name)
{
	fputs(",\"", f);
	fputs(name, f);
	fputs("\":", f);
}

static void write_opt_string(FILE *f, const char *name, const char *s, size_t len)
{
	write_key(f, name);
	if (s == NULL)
		fputs("null", f);
	else
		vigil_json_string(f, s, len);
}

void vigil_alert_write_process(FILE *f, const vigil_proc *p, size_t cmdline_max)
{
	size_t clen;

	if (p == NULL || (p->state == VIGIL_PROC_UNKNOWN && p->pid == 0)) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"pid\":%d", p->pid);
	if (p->ppid >= 0)
		fprintf(f, ",\"ppid\":%d", p->ppid);
	else
		fputs(",\"ppid\":null", f);
	write_opt_string(f, "exe", p->exe, p->exe ? strlen(p->exe) : 0);
	clen = p->cmdline_len;
	if (cmdline_max > 0 && clen > cmdline_max)
		clen = cmdline_max;
	write_opt_string(f, "cmdline", p->cmdline, clen);
	if (p->has_uids)
		fprintf(f, ",\"uid\":%u,\"euid\":%u", p->uid, p->euid);
	else
		fputs(",\"uid\":null,\"euid\":null", f);
	if (p->has_auid)
		fprintf(f, ",\"auid\":%u", p->auid);
	else
		fputs(",\"auid\":null", f);
	write_opt_string(f, "name", p->comm[0] ? p->comm : NULL, strlen(p->comm));
	if (p->exe_deleted)
		fputs(",\"exe_deleted\":true", f);
	if (p->cmdline_truncated || clen < p->cmdline_len)
		fputs(",\"cmdline_truncated\":true", f);
	if (p->state == VIGIL_PROC_EXITED)
		fputs(",\"exited\":true", f);
	fputc('}', f);
}

static void write_alert(FILE *f, const vigil_alert *a, const char *host, bool shorten)
{
	char ts[32];

	vigil_alert_time(ts, a->time_us ? a->time_us : vigil_alert_now_us());
	fputs("{\"@timestamp\":\"", f);
	fputs(ts, f);
	fputc('"', f);
	if (a->id)
		write_opt_string(f, "id", a->id, strlen(a->id));
	write_opt_string(f, "host", host, strlen(host));
	write_opt_string(f, "kind", a->kind, strlen(a->kind));
	if (a->event)
		write_opt_string(f, "event", a->event, strlen(a->event));
	fputs(",\"severity\":\"", f);
	fputs(vigil_severity_name(a->severity), f);
	fputc('"', f);
	if (a->change) {
		vigil_change c = *a->change;

		if (shorten)
			c.old_entry = c.new_entry = NULL;
		fputc(',', f);
		vigil_change_write_json_members(f, &c);
	} else if (a->path) {
		fputc(',', f);
		vigil_alert_write_path(f, "path", a->path, a->path_len);
		write_opt_string(f, "change", a->change_name,
				 a->change_name ? strlen(a->change_name) : 0);
		fputs(",\"attributes\":[]", f);
	}
	if (a->has_process) {
		fputs(",\"process\":", f);
		vigil_alert_write_process(f, a->proc, shorten ? CMDLINE_SHORT : 0);
	}
	fputs(",\"action\":\"", f);
	fputs(a->action ? a->action : "alerted", f);
	fputc('"', f);
	if (a->reason)
		write_opt_string(f, "reason", a->reason, strlen(a->reason));
	if (a->extra)
		a->extra(f, a->extra_user);
	if (shorten)
		fputs(",\"truncated\":true", f);
	fputc('}', f);
}

/* Where build()'s stream puts the alert: one allocation of the exact size when the whole
 * alert fits the stream's buffer, as nearly all do (open_memstream would calloc 8 KiB per
 * alert and shrink it again on fclose). */
struct out {
	char *p;
	size_t len, cap;
};

static ssize_t out_write(void *cookie, const char *buf, size_t n)
{
	struct out *o = cookie;

	if (n >= o->cap - o->len || o->p == NULL) {
		size_t cap = o->p == NULL ? n + 1 : o->cap;
		char *q;

		while (cap - o->len <= n) {
			if (cap > SIZE_MAX / 2)
				return 0; /* fopencookie(3): 0 is an error */
			cap *= 2;
		}
		if ((q = realloc(o->p, cap)) == NULL)
			return 0;
		o->p = q;
		o->cap = cap;
	}
	memcpy(o->p + o->len, buf, n);
	o->len += n;
	o->p[o->len] = '\0';
	return (ssize_t)n;
}

static int build(const vigil_alert *a, const char *host, bool shorten, char **json, size_t *len)
{
	char sbuf[8192];
	struct out o = {0};
	cookie_io_functions_t io = {.write = out_write};
	FILE *f = fopencookie(&o, "w", io);
	bool bad;

	if (f == NULL)
		return VIGIL_E_NOMEM;
	/* Before any output (setvbuf(3)); the buffer outlives the stream, closed below. */
	(void)setvbuf(f, sbuf, _IOFBF, sizeof(sbuf));
	write_alert(f, a, host, shorten);
	bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad || o.p == NULL) {
		free(o.p);
		return VIGIL_E_NOMEM;
	}
	*json = o.p;
	*len = o.len;
	return 0;
}

int vigil_alert_format(const vigil_alert *a, const char *host, size_t max_len, char **json,
		       size_t *len)
{
	int r;

	*json = NULL;
	*len = 0;
	if ((r = build(a, host, false, json, len)) != 0)
		return r;
	if (*len <= max_len)
		return 0;
	free(*json);
	*json = NULL;
	if ((r = build(a, host, true, json, len)) != 0)
		return r;
	if (*len <= max_len)
		return 0;
	free(*json);
	*json = NULL;
	*len = 0;
	return VIGIL_E_LIMIT;
}
