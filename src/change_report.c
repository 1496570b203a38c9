/* SPDX-License-Identifier: Apache-2.0 */
/* Integrity changes and baseline records as JSON Lines and readable text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "json.h"
#include "meta.h"
#include "vigil/baseline.h"
#include "vigil/packages.h"

/* Attributes whose values are plain numbers in JSON. */
#define NUMERIC_ATTRS                                                                              \
	(VIGIL_ATTR_UID | VIGIL_ATTR_GID | VIGIL_ATTR_SIZE | VIGIL_ATTR_INODE | VIGIL_ATTR_NLINK)

/* Formats into a growing buffer: values such as xattrs lists can be long. */
static char *value_of(const vigil_entry *e, uint32_t attr, char *small, size_t cap, size_t *len)
{
	size_t need = vigil_entry_format(e, attr, small, cap);
	char *big;

	*len = need;
	if (need < cap)
		return small;
	if ((big = malloc(need + 1)) == NULL) {
		*len = strlen(small);
		return small;
	}
	vigil_entry_format(e, attr, big, need + 1);
	return big;
}

static void write_values(FILE *f, const vigil_entry *e, uint32_t attrs)
{
	bool first = true;

	fputc('{', f);
	for (uint32_t bit = 1; bit != 0 && bit <= VIGIL_ATTR_ALL; bit <<= 1) {
		char small[256], *v;
		size_t len;

		if (!(attrs & bit))
			continue;
		v = value_of(e, bit, small, sizeof(small), &len);
		fprintf(f, "%s\"%s\":", first ? "" : ",", vigil_attr_name(bit));
		if ((bit & NUMERIC_ATTRS) && len > 0)
			fwrite(v, 1, len, f);
		else
			vigil_json_string(f, v, len);
		if (v != small)
			free(v);
		first = false;
	}
	fputc('}', f);
}

static void write_attr_names(FILE *f, uint32_t attrs)
{
	bool first = true;

	fputc('[', f);
	for (uint32_t bit = 1; bit <= VIGIL_ATTR_ALL; bit <<= 1)
		if (attrs & bit) {
			fprintf(f, "%s\"%s\"", first ? "" : ",", vigil_attr_name(bit));
			first = false;
		}
	fputc(']', f);
}

static void write_path(FILE *f, const char *path, size_t len)
{
	fputs("\"path\":", f);
	vigil_json_string(f, path, len);
	/* As in vigil scan: a name that is not UTF-8 is shown with U+FFFD and kept exactly. */
	if (!vigil_utf8_valid(path, len)) {
		fputs(",\"path_bytes_b64\":", f);
		vigil_json_base64(f, path, len);
	}
}

void vigil_change_write_json_members(FILE *f, const vigil_change *c)
{
	write_path(f, c->path, c->path_len);
	fprintf(f, ",\"change\":\"%s\",\"attributes\":", vigil_change_kind_name(c->kind));
	write_attr_names(f, c->attrs);
	if (c->old_entry) {
		fputs(",\"old\":", f);
		write_values(f, c->old_entry, c->attrs);
	}
	if (c->new_entry) {
		fputs(",\"new\":", f);
		write_values(f, c->new_entry, c->attrs);
	}
}

void vigil_change_write_json(FILE *f, const vigil_change *c)
{
	fputc('{', f);
	vigil_change_write_json_members(f, c);
	fputs("}\n", f);
}

/* Control characters in names are shown escaped: a name must not forge output lines. */
static void write_name(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
}

void vigil_change_write_text(FILE *f, const vigil_change *c)
{
	static const char *const mark[] = {"+", "-", "~"};

	fprintf(f, "%s ", mark[c->kind]);
	write_name(f, c->path, c->path_len);
	fputc('\n', f);
	if (c->kind != VIGIL_CHANGE_CHANGED)
		return;
	for (uint32_t bit = 1; bit <= VIGIL_ATTR_ALL; bit <<= 1) {
		char so[256], sn[256], *o, *n;
		size_t lo, ln;

		if (!(c->attrs & bit))
			continue;
		o = value_of(c->old_entry, bit, so, sizeof(so), &lo);
		n = value_of(c->new_entry, bit, sn, sizeof(sn), &ln);
		fprintf(f, "    %-11s ", vigil_attr_name(bit));
		write_name(f, o, lo);
		fputs(" -> ", f);
		write_name(f, n, ln);
		fputc('\n', f);
		if (o != so)
			free(o);
		if (n != sn)
			free(n);
	}
}

static void write_time_us(FILE *f, int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	char buf[64];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "\"%s.%06lldZ\"", buf, (long long)(us % 1000000));
}

void vigil_record_write_json(FILE *f, const vigil_record *r)
{
	fputc('{', f);
	if (r->path) {
		write_path(f, r->path, r->path_len);
		fputc(',', f);
	}
	if (r->action) {
		fprintf(f, "\"event\":%lld,\"action\":", (long long)r->event_id);
		vigil_json_string(f, r->action, strlen(r->action));
		fputs(",\"user\":", f);
		vigil_json_string(f, r->user_name ? r->user_name : "",
				  r->user_name ? strlen(r->user_name) : 0);
		fprintf(f, ",\"uid\":%u,\"time\":", r->uid);
		write_time_us(f, r->time_us);
		if (r->note) {
			fputs(",\"note\":", f);
			vigil_json_string(f, r->note, strlen(r->note));
		}
		if (r->old_entry) {
			fputs(",\"old\":", f);
			write_values(f, r->old_entry, r->old_entry->attrs);
		}
		if (r->entry) {
			fputs(",\"new\":", f);
			write_values(f, r->entry, r->entry->attrs);
		}
	} else {
		fputs("\"attributes\":", f);
		write_attr_names(f, r->attrs);
		fputs(",\"values\":", f);
		write_values(f, r->entry, r->entry->attrs);
	}
	fputs("}\n", f);
}

void vigil_record_write_text(FILE *f, const vigil_record *r)
{
	const vigil_entry *e = r->entry;
	char mode[16], digest[160];

	vigil_entry_format(e, VIGIL_ATTR_MODE, mode, sizeof(mode));
	digest[0] = '\0';
	if (e->hash_len > 0)
		vigil_entry_format(e,
				   (e->attrs & VIGIL_ATTR_BOOT_SECTOR) ? VIGIL_ATTR_BOOT_SECTOR
								       : VIGIL_ATTR_HASH,
				   digest, sizeof(digest));
	fprintf(f, "%-7s %s %5u:%-5u %12lld %.16s%s ", vigil_type_name(e->type), mode, e->uid,
		e->gid, (long long)e->size, digest[0] ? digest : "-", digest[0] ? "…" : "");
	write_name(f, e->path, e->path_len);
	fputc('\n', f);
}

/* ---- dpkg's verdicts, in the same JSON shape ---- */

static const char *const pkg_problem_names[] = {"changed", "missing", "unreadable", "replaced"};

void vigil_pkg_write_owner_json(FILE *f, const char *package)
{
	fputs(",\"package\":", f);
	vigil_json_string(f, package, strlen(package));
}

void vigil_pkg_result_write_json(FILE *f, const vigil_pkg_result *r)
{
	unsigned p = (unsigned)r->problem < 4 ? (unsigned)r->problem : 0;

	fputc('{', f);
	write_path(f, r->path, strlen(r->path));
	fprintf(f, ",\"change\":\"%s\",\"source\":\"dpkg\",\"problem\":\"%s\",\"attributes\":%s",
		r->problem == VIGIL_PKG_MISSING ? "removed" : "changed", pkg_problem_names[p],
		r->problem == VIGIL_PKG_CHANGED ? "[\"hash\"]" : "[]");
	vigil_pkg_write_owner_json(f, r->package);
	fprintf(f, ",\"conffile\":%s", r->conffile ? "true" : "false");
	if (r->diverted_to) {
		fputs(",\"diverted_to\":", f);
		vigil_json_string(f, r->diverted_to, strlen(r->diverted_to));
	}
	/* The digests are lower-case hex written by the verifier itself. */
	fprintf(f, ",\"old\":{\"hash\":\"md5:%.32s\"}", r->expected);
	if (r->problem == VIGIL_PKG_CHANGED)
		fprintf(f, ",\"new\":{\"hash\":\"md5:%.32s\"}", r->actual);
	fputc('}', f);
}
