/* SPDX-License-Identifier: Apache-2.0 */
/* Scan report backends: text grouped by file, JSON Lines, and SARIF 2.1.0. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "vigil/report.h"

struct vigil_report {
	vigil_format format;
	FILE *out;
	bool color;
	unsigned long nresults;
	char *last_path; /* text: the group being written */
	char *last_member;
};

int vigil_format_parse(const char *name, vigil_format *out)
{
	if (strcmp(name, "text") == 0)
		*out = VIGIL_FORMAT_TEXT;
	else if (strcmp(name, "json") == 0)
		*out = VIGIL_FORMAT_JSON;
	else if (strcmp(name, "sarif") == 0)
		*out = VIGIL_FORMAT_SARIF;
	else
		return VIGIL_E_INVALID;
	return 0;
}

static void sarif_head(FILE *f)
{
	fprintf(f,
		"{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\","
		"\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{\"name\":\"vigil\","
		"\"version\":\"%s\",\"rules\":[",
		vigil_version());
	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		fprintf(f, "%s{\"id\":\"%s\",\"shortDescription\":{\"text\":\"%s found\"}}",
			c ? "," : "", vigil_category_name(c), vigil_category_name(c));
	fputs("]}},\"results\":[", f);
}

int vigil_report_new(vigil_format format, FILE *out, bool color, vigil_report **r)
{
	vigil_report *p = calloc(1, sizeof(*p));

	*r = NULL;
	if (p == NULL)
		return VIGIL_E_NOMEM;
	p->format = format;
	p->out = out;
	p->color = color;
	if (format == VIGIL_FORMAT_SARIF)
		sarif_head(out);
	*r = p;
	return 0;
}

void vigil_report_free(vigil_report *r)
{
	if (r == NULL)
		return;
	free(r->last_path);
	free(r->last_member);
	free(r);
}

static void json_finding(FILE *f, const vigil_finding *x)
{
	fputs("{\"path\":", f);
	vigil_json_string(f, x->path, x->path_len);
	if (!vigil_utf8_valid(x->path, x->path_len)) {
		fputs(",\"path_bytes_b64\":", f);
		vigil_json_base64(f, x->path, x->path_len);
	}
	if (x->member != NULL) {
		size_t n = strlen(x->member);
		fputs(",\"member\":", f);
		vigil_json_string(f, x->member, n);
		if (!vigil_utf8_valid(x->member, n)) {
			fputs(",\"member_bytes_b64\":", f);
			vigil_json_base64(f, x->member, n);
		}
	}
	fprintf(f, ",\"category\":\"%s\",\"detector\":", vigil_category_name(x->category));
	vigil_json_string(f, x->detector, strlen(x->detector));
	if (x->line)
		fprintf(f, ",\"line\":%llu", (unsigned long long)x->line);
	fprintf(f, ",\"offset\":%llu,\"redacted\":", (unsigned long long)x->offset);
	vigil_json_string(f, x->redacted, strlen(x->redacted));
	fprintf(f, ",\"fingerprint\":\"%s\",\"confidence\":\"%s\"}", x->fingerprint,
		vigil_confidence_name(x->confidence));
}

/* RFC 3986: a path as a URI reference, percent-encoding what is not unreserved. */
static void uri_path(FILE *f, const char *scheme, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	fprintf(f, "\"%s", scheme);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("/-._~", c) != NULL)
			putc(c, f);
		else
			fprintf(f, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
	putc('"', f);
}

static void sarif_finding(vigil_report *r, const vigil_finding *x)
{
	FILE *f = r->out;

	fprintf(f, "%s{\"ruleId\":\"%s\",\"level\":\"%s\",\"message\":{\"text\":",
		r->nresults ? "," : "", vigil_category_name(x->category),
		x->confidence == VIGIL_CONF_HIGH ? "error" : "warning");
	{
		char msg[256];
		snprintf(msg, sizeof(msg), "%s: %s", x->detector, x->redacted);
		vigil_json_string(f, msg, strlen(msg));
	}
	fputs("},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":", f);
	uri_path(f, x->path[0] == '/' ? "file://" : "", x->path, x->path_len);
	fputs("}", f);
	if (x->member == NULL && x->line)
		fprintf(f, ",\"region\":{\"startLine\":%llu,\"byteOffset\":%llu}",
			(unsigned long long)x->line, (unsigned long long)x->offset);
	fputs("}}],\"partialFingerprints\":{\"vigil/v1\":", f);
	fprintf(f, "\"%s\"},\"properties\":{\"detector\":", x->fingerprint);
	vigil_json_string(f, x->detector, strlen(x->detector));
	fprintf(f, ",\"confidence\":\"%s\"", vigil_confidence_name(x->confidence));
	if (x->member != NULL) {
		fputs(",\"member\":", f);
		vigil_json_string(f, x->member, strlen(x->member));
	}
	fputs("}}", f);
}

/* Text output shows names with control characters escaped, so a file named with a
 * newline or an escape sequence cannot forge lines or repaint the terminal. */
static void text_name(FILE *f, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			fprintf(f, c == '\\' ? "\\\\" : "\\x%02x", c);
		else
			putc(c, f);
	}
}

static bool same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void text_finding(vigil_report *r, const vigil_finding *x)
{
	FILE *f = r->out;
	const char *bold = r->color ? "\033[1m" : "", *red = r->color ? "\033[31m" : "",
		   *off = r->color ? "\033[0m" : "";

	if (r->last_path == NULL || strcmp(r->last_path, x->path) != 0 ||
	    !same(r->last_member, x->member)) {
		free(r->last_path);
		free(r->last_member);
		r->last_path = strndup(x->path, x->path_len);
		r->last_member = x->member ? strdup(x->member) : NULL;
		fprintf(f, "%s%s", r->nresults ? "\n" : "", bold);
		text_name(f, x->path, x->path_len);
		if (x->member != NULL) {
			fputs("!/", f);
			text_name(f, x->member, strlen(x->member));
		}
		fprintf(f, "%s\n", off);
	}
	fprintf(f, "  %s%-17s%s %-24s ", red, vigil_category_name(x->category), off, x->detector);
	if (x->line)
		fprintf(f, "line %-6llu ", (unsigned long long)x->line);
	else
		fprintf(f, "@%-10llu ", (unsigned long long)x->offset);
	text_name(f, x->redacted, strlen(x->redacted));
	fprintf(f, "  [%s]\n", vigil_confidence_name(x->confidence));
}

int vigil_report_finding(vigil_report *r, const vigil_finding *f)
{
	switch (r->format) {
	case VIGIL_FORMAT_JSON:
		json_finding(r->out, f);
		putc('\n', r->out);
		break;
	case VIGIL_FORMAT_SARIF:
		sarif_finding(r, f);
		break;
	default:
		text_finding(r, f);
		break;
	}
	r->nresults++;
	return ferror(r->out) ? VIGIL_E_SYSTEM : 0;
}

static void human_bytes(char *buf, size_t n, double b)
{
	const char *units[] = {"B", "KB", "MB", "GB", "TB"};
	int u = 0;

	while (b >= 1000.0 && u < 4) {
		b /= 1000.0;
		u++;
	}
	snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

void vigil_report_summary(FILE *f, const vigil_scan_stats *s, double seconds)
{
	static const char *const skip_names[VIGIL_SKIP_COUNT] = {
	    "unreadable",     "vanished",         "too large",    "special files",
	    "archive limits", "corrupt archives", "symlink loops"};
	char rd[32], ex[32], rate[32];
	uint64_t total = 0, skipped = 0;

	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		total += s->findings[c];
	human_bytes(rd, sizeof(rd), (double)s->bytes_scanned);
	human_bytes(ex, sizeof(ex), (double)s->bytes_expanded);
	human_bytes(rate, sizeof(rate),
		    seconds > 0 ? (double)(s->bytes_scanned + s->bytes_expanded) / seconds : 0);
	fprintf(f, "\nScanned %llu files (%s read", (unsigned long long)s->files_scanned, rd);
	if (s->archives_opened)
		fprintf(f, "; %s expanded from %llu archives, %llu members", ex,
			(unsigned long long)s->archives_opened,
			(unsigned long long)s->members_scanned);
	fprintf(f, ") in %.2f s, %s/s\n", seconds, rate);
	fprintf(f, "Findings: %llu", (unsigned long long)total);
	for (int c = 0, n = 0; c < VIGIL_CAT_COUNT; c++)
		if (s->findings[c])
			fprintf(f, "%s%s %llu", n++ ? ", " : " (", vigil_category_name(c),
				(unsigned long long)s->findings[c]);
	fputs(total ? ")\n" : "\n", f);
	for (int k = 0; k < VIGIL_SKIP_COUNT; k++)
		skipped += s->skipped[k];
	if (skipped) {
		bool first = true;
		fputs("Skipped:", f);
		for (int k = 0; k < VIGIL_SKIP_COUNT; k++) {
			if (!s->skipped[k])
				continue;
			fprintf(f, "%s %llu %s", first ? "" : ",",
				(unsigned long long)s->skipped[k], skip_names[k]);
			first = false;
		}
		putc('\n', f);
	}
	if (s->suppressed)
		fprintf(f, "Suppressed by the allowlist: %llu\n",
			(unsigned long long)s->suppressed);
}

int vigil_report_finish(vigil_report *r, const vigil_scan_stats *s, double seconds)
{
	switch (r->format) {
	case VIGIL_FORMAT_SARIF:
		fputs("]}]}\n", r->out);
		break;
	case VIGIL_FORMAT_TEXT:
		if (r->nresults == 0)
			fputs("No sensitive data found.\n", r->out);
		vigil_report_summary(r->out, s, seconds);
		break;
	default:
		break;
	}
	return fflush(r->out) != 0 || ferror(r->out) ? VIGIL_E_SYSTEM : 0;
}
