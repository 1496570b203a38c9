/* SPDX-License-Identifier: Apache-2.0 */
/* The integrity policy (vigil.conf, doc/vigil.conf.5): read with libinih, checked
 * strictly, and matched against every path a baseline walk or the watcher meets. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Debian's libinih (55-1) is built with INI_HANDLER_LINENO=1: its ini_parse_stream loads
 * the line number into the fifth argument register before every handler call (checked
 * with objdump), while the installed ini.h defaults the macro to 0 and so cannot say.
 * The handler is declared to match that build. The line numbers in messages come from
 * our own reader instead, which counts the same lines whichever way the library was
 * built, and also sees section headers and empty sections, which the handler never does.
 */
#define INI_HANDLER_LINENO 1
#include <ini.h>
#include <openssl/evp.h>

#include "config.h"
#include "input.h"
#include "walk.h"

/* A policy is a few KiB; anything this large is not one. */
#define MAX_FILE (4u << 20)

#define PERMS_ATTRS                                                                                \
	(VIGIL_ATTR_TYPE | VIGIL_ATTR_MODE | VIGIL_ATTR_UID | VIGIL_ATTR_GID | VIGIL_ATTR_ACL |    \
	 VIGIL_ATTR_CAPS | VIGIL_ATTR_SELINUX | VIGIL_ATTR_XATTRS | VIGIL_ATTR_FLAGS)
#define CONTENT_ATTRS                                                                              \
	(VIGIL_ATTR_TYPE | VIGIL_ATTR_SIZE | VIGIL_ATTR_TARGET | VIGIL_ATTR_DEV | VIGIL_ATTR_HASH)

/* Documented in vigil.conf(5); changing one changes what existing policies mean. */
static const struct {
	const char *name;
	uint32_t attrs;
} builtin_groups[] = {
    {"default", VIGIL_ATTR_DEFAULT},
    {"all", VIGIL_ATTR_ALL},
    {"perms", PERMS_ATTRS},
    {"content", CONTENT_ATTRS},
};

/* Input bytes that can never reach the handler (control characters are refused), used
 * to carry ';' and '#' in values past libinih's own inline-comment handling. */
#define HIDE_SEMICOLON '\x1e'
#define HIDE_HASH      '\x1f'

static char hide(char c)
{
	return c == ';' ? HIDE_SEMICOLON : c == '#' ? HIDE_HASH : c;
}

static char unhide(char c)
{
	return c == HIDE_SEMICOLON ? ';' : c == HIDE_HASH ? '#' : c;
}

/* What matching needs about one root, computed once per config. */
struct root_info {
	char *literal; /* the root without glob escapes, if it has no wildcard; else NULL */
	size_t len;    /* strlen(literal), or the length of a glob root's literal prefix */
	size_t depth;  /* path components: "/" 0, "/etc" 1, "/home/x/.ssh" 3 */
	bool is_glob;
};

/* Every vigil_config comes from this file, inside one of these. The tables below are
 * derived from the public fields when the config is built: a config is read-only after. */
struct config_priv {
	vigil_config pub; /* first: a vigil_config * points at its config_priv */
	struct root_info *ri;
	size_t *order;   /* rule indices in the order matching tries them: deepest root
			  * first, plain before glob, then by root bytes */
	size_t *by_root; /* rule indices in root byte order, for the digest */
};

/* pub is the first member, so the conversions are exact. */
static struct config_priv *priv_of(vigil_config *c)
{
	return (struct config_priv *)(void *)c;
}

static const struct config_priv *cpriv_of(const vigil_config *c)
{
	return (const struct config_priv *)(const void *)c;
}

/* ---- small helpers ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A growable NULL-terminated string array. */
struct vec {
	char **v;
	size_t n, cap;
};

static int vec_push(struct vec *v, char *s)
{
	if (v->n + 2 > v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		char **nv = realloc(v->v, cap * sizeof(*nv));

		if (nv == NULL)
			return VIGIL_E_NOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
	return 0;
}

static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* By count, not up to the first NULL: slots whose string was handed on are NULL. */
static void vec_free(struct vec *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	memset(v, 0, sizeof(*v));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted and without duplicates: lists are sets, and a canonical order makes the digest
 * independent of how the file lists them. The array becomes *out (never NULL). */
static int vec_finish(struct vec *v, char ***out)
{
	size_t k = 0;

	if (v->v == NULL && (v->v = calloc(1, sizeof(char *))) == NULL)
		return VIGIL_E_NOMEM;
	qsort(v->v, v->n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < v->n; i++) {
		if (k > 0 && strcmp(v->v[k - 1], v->v[i]) == 0)
			free(v->v[i]);
		else
			v->v[k++] = v->v[i];
	}
	v->v[k] = NULL;
	*out = v->v;
	memset(v, 0, sizeof(*v)); /* transferred */
	return 0;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* True if a glob has an unescaped wildcard (fnmatch(3) and glob(3) escapes). */
static bool has_wildcard(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '*' || *s == '?' || *s == '[')
			return true;
	}
	return false;
}

static char *unescape(const char *s)
{
	char *d = malloc(strlen(s) + 1), *o = d;

	if (d == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		*o++ = *s;
	}
	*o = '\0';
	return d;
}

/* A literal path as a glob that matches only itself. */
static char *escape_glob(const char *s)
{
	char *d = malloc(2 * strlen(s) + 1), *o = d;

	if (d == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		if (strchr("*?[]\\", *s) != NULL)
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return d;
}

static size_t count_components(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (*s == '/' && s[1] != '\0' && s[1] != '/')
			n++;
	return n;
}

/* ---- the parser ---- */

enum sect_kind { SECT_BASELINE, SECT_GROUP, SECT_PATH, SECT_WATCH };

struct section {
	enum sect_kind kind;
	size_t index; /* into groups or rules */
	unsigned line;
};

struct attr_tok {
	char *name; /* "mode", "+hash", "-perms" */
	unsigned line;
};

struct attr_list {
	struct attr_tok *v;
	size_t n, cap;
};

struct group_def {
	char *name;
	unsigned line;
	struct attr_list toks;
	uint32_t attrs;
};

struct rule_def {
	struct attr_list toks;
	unsigned recurse_line;
	struct vec excludes, growing, presence;
};

struct parser {
	const char *name;
	const char *pos, *end;
	unsigned lineno; /* of the line the reader handed out last */
	int rc;          /* 0, VIGIL_E_FORMAT or VIGIL_E_NOMEM */
	unsigned err_line;
	char *err;
	size_t cap;

	struct section *sects;
	size_t nsects, sects_cap;
	struct group_def *groups;
	size_t ngroups, groups_cap;
	struct rule_def *rdefs; /* parallel to c->rules */
	size_t rules_cap;

	vigil_config *c;
	struct vec excludes, boot;
	unsigned database_line, key_line, public_key_line, hash_line, boot_word_line;
	struct vec protect, raw_allow, allow, exfil_dirs;
	unsigned respond_line, raw_line, canaries_line, exfil_line, inventory_line, nice_line;
};

/* Records a format error; the one on the earliest line wins, so a message always points
 * at the first problem in the file whatever order the checks ran in. */
static int fail(struct parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->rc == VIGIL_E_NOMEM || (p->rc == VIGIL_E_FORMAT && p->err_line <= line))
		return p->rc;
	p->rc = VIGIL_E_FORMAT;
	p->err_line = line;
	if (p->err == NULL || p->cap == 0)
		return p->rc;
	n = snprintf(p->err, p->cap, "%s:%u: ", p->name, line);
	if (n >= 0 && (size_t)n < p->cap) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->cap - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return p->rc;
}

static int oom(struct parser *p)
{
	p->rc = VIGIL_E_NOMEM;
	if (p->err != NULL && p->cap > 0)
		snprintf(p->err, p->cap, "%s: out of memory", p->name);
	return p->rc;
}

/* "[path /etc]" for messages. */
static const char *sect_name(const struct parser *p, const struct section *s, char *buf, size_t cap)
{
	switch (s->kind) {
	case SECT_GROUP:
		snprintf(buf, cap, "[group %s]", p->groups[s->index].name);
		break;
	case SECT_PATH:
		snprintf(buf, cap, "[path %s]", p->c->rules[s->index].root);
		break;
	case SECT_WATCH:
		snprintf(buf, cap, "[watch]");
		break;
	default:
		snprintf(buf, cap, "[baseline]");
	}
	return buf;
}

/*
 * Splits a value into tokens: separated by blanks; a token may be double-quoted to hold
 * blanks, with \" and \\ as escapes inside the quotes (any other backslash is kept, so
 * glob escapes such as \[ pass through). Fills *out (tokens owned by it).
 */
static int tokenize(struct parser *p, const char *s, struct vec *out)
{
	size_t len = strlen(s);
	char *buf = malloc(len + 1);
	int r = 0;

	if (buf == NULL)
		return oom(p);
	for (size_t i = 0; i < len;) {
		size_t o = 0;
		char *t;

		while (i < len && is_blank(s[i]))
			i++;
		if (i == len)
			break;
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				char ch = s[i];

				if (ch == '\\' && i + 1 < len &&
				    (s[i + 1] == '"' || s[i + 1] == '\\'))
					ch = s[++i];
				buf[o++] = unhide(ch);
			}
			if (i == len) {
				r = fail(p, p->lineno, "unterminated quote");
				goto out;
			}
			i++;
			if (i < len && !is_blank(s[i])) {
				r = fail(p, p->lineno, "text right after a closing quote");
				goto out;
			}
			if (o == 0) {
				r = fail(p, p->lineno, "empty quoted value \"\"");
				goto out;
			}
		} else {
			for (; i < len && !is_blank(s[i]); i++) {
				char ch = s[i];

				if (ch == '"') {
					r = fail(p, p->lineno,
						 "'\"' inside a token: quote the whole value");
					goto out;
				}
				buf[o++] = unhide(ch);
			}
		}
		if ((t = dup_n(buf, o)) == NULL || vec_push(out, t) != 0) {
			free(t);
			r = oom(p);
			goto out;
		}
	}
out:
	free(buf);
	return r;
}

/*
 * A root as written in [path ...]: absolute, '/'-separated, without '.' or '..'
 * components (prefix matching must not be fooled by them). Repeated and trailing
 * slashes are dropped, so "/etc/" and "/etc" are the same root. Returns a new string, or
 * NULL with the error recorded.
 */
static char *normalize_root(struct parser *p, const char *s, unsigned line)
{
	size_t n = strlen(s), o = 0;
	char *d;

	if (s[0] != '/') {
		fail(p, line, "path '%s' is not absolute", s);
		return NULL;
	}
	if ((d = malloc(n + 1)) == NULL) {
		oom(p);
		return NULL;
	}
	for (size_t i = 0; i < n;) {
		size_t j;

		while (i < n && s[i] == '/')
			i++;
		if (i == n)
			break;
		for (j = i; j < n && s[j] != '/'; j++)
			;
		if ((j - i == 1 && s[i] == '.') || (j - i == 2 && s[i] == '.' && s[i + 1] == '.')) {
			fail(p, line, "path '%s' has a '.' or '..' component", s);
			free(d);
			return NULL;
		}
		d[o++] = '/';
		memcpy(d + o, s + i, j - i);
		o += j - i;
		i = j;
	}
	if (o == 0)
		d[o++] = '/';
	d[o] = '\0';
	return d;
}

static int push_section(struct parser *p, enum sect_kind kind, size_t index, unsigned line)
{
	if (p->nsects == p->sects_cap) {
		size_t cap = p->sects_cap ? p->sects_cap * 2 : 16;
		struct section *v = realloc(p->sects, cap * sizeof(*v));

		if (v == NULL)
			return oom(p);
		p->sects = v;
		p->sects_cap = cap;
	}
	p->sects[p->nsects++] = (struct section){.kind = kind, .index = index, .line = line};
	return 0;
}

static bool valid_group_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static int add_group(struct parser *p, const char *name, unsigned line)
{
	char *copy;

	if (!valid_group_name(name))
		return fail(p, line, "invalid group name '%s' (letters, digits, '_' and '-')",
			    name);
	if (vigil_attr_from_name(name) != 0)
		return fail(p, line, "'%s' is an attribute name, not a group name", name);
	for (size_t i = 0; i < sizeof(builtin_groups) / sizeof(builtin_groups[0]); i++)
		if (strcmp(name, builtin_groups[i].name) == 0)
			return fail(p, line, "group '%s' is built in: choose another name", name);
	for (size_t i = 0; i < p->ngroups; i++)
		if (strcmp(name, p->groups[i].name) == 0)
			return fail(p, line, "duplicate [group %s] (first at line %u)", name,
				    p->groups[i].line);
	if (p->ngroups == p->groups_cap) {
		size_t cap = p->groups_cap ? p->groups_cap * 2 : 8;
		struct group_def *v = realloc(p->groups, cap * sizeof(*v));

		if (v == NULL)
			return oom(p);
		p->groups = v;
		p->groups_cap = cap;
	}
	if ((copy = strdup(name)) == NULL)
		return oom(p);
	p->groups[p->ngroups] = (struct group_def){.name = copy, .line = line};
	p->ngroups++;
	return push_section(p, SECT_GROUP, p->ngroups - 1, line);
}

/* Two roots name the same tree: equal patterns, or plain paths that differ only in
 * redundant escapes ("/a\b" is "/ab"). */
static bool same_root(const char *a, const char *b)
{
	bool same;
	char *ua, *ub;

	if (strcmp(a, b) == 0)
		return true;
	if (has_wildcard(a) || has_wildcard(b))
		return false;
	ua = unescape(a);
	ub = unescape(b);
	/* Out of memory: call them different; the rule is still valid, only redundant. */
	same = ua != NULL && ub != NULL && strcmp(ua, ub) == 0;
	free(ua);
	free(ub);
	return same;
}

static int add_rule(struct parser *p, const char *root_text, unsigned line)
{
	vigil_config *c = p->c;
	char *root = normalize_root(p, root_text, line);

	if (root == NULL)
		return p->rc;
	for (size_t i = 0; i < c->nrules; i++) {
		if (same_root(root, c->rules[i].root)) {
			fail(p, line, "duplicate [path %s] (first at line %u)", root,
			     c->rules[i].line);
			free(root);
			return p->rc;
		}
	}
	if (c->nrules == p->rules_cap) {
		size_t cap = p->rules_cap ? p->rules_cap * 2 : 16;
		vigil_rule *v = realloc(c->rules, cap * sizeof(*v));
		struct rule_def *d;

		if (v == NULL) {
			free(root);
			return oom(p);
		}
		c->rules = v;
		if ((d = realloc(p->rdefs, cap * sizeof(*d))) == NULL) {
			free(root);
			return oom(p);
		}
		p->rdefs = d;
		p->rules_cap = cap;
	}
	c->rules[c->nrules] = (vigil_rule){.root = root, .recurse = true, .line = line};
	p->rdefs[c->nrules] = (struct rule_def){0};
	c->nrules++;
	return push_section(p, SECT_PATH, c->nrules - 1, line);
}

/* Where a section header ends: the first ']' outside quotes after which only blanks or a
 * comment follow (so "[path /dev/sd[ab]]" keeps its bracket). n if there is none. */
static size_t header_end(const char *s, size_t n)
{
	bool quoted = false;

	for (size_t i = 0; i < n; i++) {
		if (quoted) {
			if (s[i] == '\\' && i + 1 < n)
				i++;
			else if (s[i] == '"')
				quoted = false;
			continue;
		}
		if (s[i] == '"') {
			quoted = true;
		} else if (s[i] == ']') {
			size_t j = i + 1;

			while (j < n && is_blank(s[j]))
				j++;
			if (j == n || s[j] == ';' || s[j] == '#')
				return i;
		}
	}
	return n;
}

/* A "[...]" line (s is what follows the '['): records the section it opens. */
static int section_header(struct parser *p, const char *s, size_t n)
{
	unsigned line = p->lineno;
	size_t end = header_end(s, n), w, we, a, e;
	char *arg = NULL;
	struct vec toks = {0};
	int r = 0;

	if (end == n)
		return fail(p, line, "section header without a closing ']' at the end of the line");
	/* s[w..we) is the kind, s[a..e) its argument. */
	for (w = 0; w < end && is_blank(s[w]); w++)
		;
	for (we = w; we < end && !is_blank(s[we]); we++)
		;
	for (e = end; e > we && is_blank(s[e - 1]); e--)
		;
	for (a = we; a < e && is_blank(s[a]); a++)
		;
	if (we - w == 8 && memcmp(s + w, "baseline", 8) == 0) {
		if (a != e)
			return fail(p, line, "unexpected '%.*s' in [baseline]", (int)(e - a),
				    s + a);
		return push_section(p, SECT_BASELINE, 0, line);
	} else if (we - w == 5 && memcmp(s + w, "watch", 5) == 0) {
		if (a != e)
			return fail(p, line, "unexpected '%.*s' in [watch]", (int)(e - a), s + a);
		return push_section(p, SECT_WATCH, 0, line);
	} else if ((we - w == 5 && memcmp(s + w, "group", 5) == 0) ||
		   (we - w == 4 && memcmp(s + w, "path", 4) == 0)) {
		bool is_path = we - w == 4;

		if (a == e)
			return fail(p, line, "%s",
				    is_path ? "[path] needs a root, e.g. [path /etc]"
					    : "[group] needs a name, e.g. [group logs]");
		if ((arg = dup_n(s + a, e - a)) == NULL)
			return oom(p);
		if ((r = tokenize(p, arg, &toks)) != 0)
			goto out;
		if (toks.n != 1) {
			r = fail(p, line, "%s",
				 is_path
				     ? "a root with blanks must be quoted: [path \"/srv/my files\"]"
				     : "a group name is one word");
			goto out;
		}
		r = is_path ? add_rule(p, toks.v[0], line) : add_group(p, toks.v[0], line);
	} else {
		return fail(p, line,
			    "unknown section [%.*s] (expected [baseline], [watch], [group NAME] "
			    "or [path ROOT])",
			    (int)(end), s);
	}
out:
	free(arg);
	vec_free(&toks);
	return r;
}

/* Where a comment starts in a key line: ';' or '#' after a blank, outside quotes. */
static size_t comment_start(const char *s, size_t n)
{
	bool quoted = false;

	for (size_t i = 0; i < n; i++) {
		if (quoted) {
			if (s[i] == '\\' && i + 1 < n)
				i++;
			else if (s[i] == '"')
				quoted = false;
		} else if (s[i] == '"') {
			quoted = true;
		} else if ((s[i] == ';' || s[i] == '#') && i > 0 && is_blank(s[i - 1])) {
			return i;
		}
	}
	return n;
}

/*
 * libinih's reader: hands over one line at a time, so the line number is ours, and
 * cleans it up so that libinih has nothing left to guess: comments are removed here
 * (';' and ' #', quote-aware), indentation is dropped (no Python-style continuation
 * lines: every line stands alone), a section header becomes "[@N]" after we recorded
 * it (libinih truncates section names at 50 bytes and never reports empty sections),
 * and a line too long for libinih's buffer is an error rather than being split in two.
 */
static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	const char *line, *nl;
	size_t n, k, sep;

	if (p->rc != 0 || p->pos >= p->end)
		return NULL;
	line = p->pos;
	nl = memchr(line, '\n', (size_t)(p->end - line));
	n = nl ? (size_t)(nl - line) : (size_t)(p->end - line);
	p->pos = nl ? nl + 1 : p->end;
	p->lineno++;
	if (num < 32) {
		fail(p, p->lineno, "libinih line buffer too small (%d bytes)", num);
		return NULL;
	}
	if (p->lineno == 1 && n >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		n -= 3;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch == 0) {
			fail(p, p->lineno, "NUL byte");
			return NULL;
		}
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			fail(p, p->lineno, "control character 0x%02x", ch);
			return NULL;
		}
	}
	while (n > 0 && is_blank(*line)) {
		line++;
		n--;
	}
	if (n == 0 || *line == ';' || *line == '#') {
		str[0] = '\0';
		return str;
	}
	if (*line == '[') {
		if (section_header(p, line + 1, n - 1) != 0)
			return NULL;
		snprintf(str, (size_t)num, "[@%zu]", p->nsects - 1);
		return str;
	}
	n = comment_start(line, n);
	while (n > 0 && is_blank(line[n - 1]))
		n--;
	if (n + 3 > (size_t)num) {
		fail(p, p->lineno,
		     "line too long (%zu bytes without comments, at most %d): repeat the key "
		     "on another line instead",
		     n, num - 3);
		return NULL;
	}
	/* libinih cuts values at " ;" itself; what is left of either character is data. */
	for (sep = 0; sep < n && line[sep] != '=' && line[sep] != ':'; sep++)
		;
	for (k = 0; k < n; k++)
		str[k] = k <= sep ? line[k] : hide(line[k]);
	str[n] = '\0';
	return str;
}

/* A glob that can never match is a typo that silently narrows a rule: refuse it. With
 * `rule` set, the glob must also be able to match something under (or above) its root. */
static int check_glob(struct parser *p, const char *key, const char *g, const vigil_rule *rule,
		      const struct root_info *ri)
{
	size_t len = strlen(g), lit;
	bool whole;

	if (len > 1 && g[len - 1] == '/')
		return fail(p, p->lineno, "%s '%s' ends in '/' and can never match", key, g);
	if (strchr(g, '/') != NULL && strchr("/*?[", g[0]) == NULL)
		return fail(p, p->lineno,
			    "%s '%s' can never match: a glob with '/' must start with '/' or a "
			    "wildcard",
			    key, g);
	if (rule == NULL || g[0] != '/')
		return 0;
	lit = strcspn(g, "*?[\\");
	whole = g[lit] == '\0';
	if (!ri->is_glob && whole) {
		/* The root itself, something below it, or an ancestor (excluding a directory
		 * excludes what is below it). */
		const char *r = ri->literal;
		size_t rl = ri->len;

		if (rl == 1 || strcmp(g, r) == 0 ||
		    (len > rl && memcmp(g, r, rl) == 0 && g[rl] == '/') ||
		    (rl > len && memcmp(r, g, len) == 0 && r[len] == '/'))
			return 0;
	} else {
		/* Compare the literal prefixes as far as both go. */
		const char *r = ri->is_glob ? rule->root : ri->literal;
		size_t rl = ri->len, m;
		bool slash = !ri->is_glob && rl > 1;

		m = lit < rl ? lit : rl;
		if (memcmp(g, r, m) == 0 && (!slash || lit <= rl || g[rl] == '/'))
			return 0;
	}
	return fail(p, p->lineno, "%s '%s' lies outside [path %s] and can never match", key, g,
		    rule->root);
}

static int push_attr_tokens(struct parser *p, struct attr_list *l, struct vec *toks)
{
	for (size_t i = 0; i < toks->n; i++) {
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 8;
			struct attr_tok *v = realloc(l->v, cap * sizeof(*v));

			if (v == NULL)
				return oom(p);
			l->v = v;
			l->cap = cap;
		}
		l->v[l->n++] = (struct attr_tok){.name = toks->v[i], .line = p->lineno};
		toks->v[i] = NULL; /* transferred */
	}
	return 0;
}

static int push_globs(struct parser *p, const char *key, struct vec *dst, struct vec *toks,
		      const vigil_rule *rule)
{
	struct root_info ri = {0};
	int r = 0;

	if (rule != NULL) {
		ri.is_glob = has_wildcard(rule->root);
		if (ri.is_glob) {
			ri.len = strcspn(rule->root, "*?[\\");
		} else {
			if ((ri.literal = unescape(rule->root)) == NULL)
				return oom(p);
			ri.len = strlen(ri.literal);
		}
	}
	for (size_t i = 0; i < toks->n; i++) {
		if ((r = check_glob(p, key, toks->v[i], rule, &ri)) != 0)
			goto out;
		if ((r = vec_push(dst, toks->v[i])) != 0) {
			r = oom(p);
			goto out;
		}
		toks->v[i] = NULL; /* transferred */
	}
out:
	free(ri.literal);
	return r;
}

/* A key whose value is one word and which may be given only once. */
static int scalar(struct parser *p, const char *key, struct vec *toks, unsigned *seen)
{
	if (*seen != 0)
		return fail(p, p->lineno, "'%s' set twice (first at line %u)", key, *seen);
	if (toks->n != 1)
		return fail(p, p->lineno, "'%s' takes one value, not %zu", key, toks->n);
	*seen = p->lineno;
	return 0;
}

static int set_path(struct parser *p, const char *key, struct vec *toks, unsigned *seen, char **dst)
{
	int r;

	if ((r = scalar(p, key, toks, seen)) != 0)
		return r;
	if (toks->v[0][0] != '/')
		return fail(p, p->lineno, "%s '%s' is not an absolute path", key, toks->v[0]);
	*dst = toks->v[0];
	toks->v[0] = NULL; /* transferred */
	return 0;
}

static int parse_bool(struct parser *p, const char *key, const char *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return fail(p, p->lineno, "%s '%s' is not a boolean (yes/no, true/false, on/off, 1/0)", key,
		    v);
}

static int baseline_key(struct parser *p, const char *key, struct vec *toks)
{
	vigil_config *c = p->c;
	int r;

	if (strcmp(key, "database") == 0)
		return set_path(p, key, toks, &p->database_line, &c->database);
	if (strcmp(key, "key") == 0)
		return set_path(p, key, toks, &p->key_line, &c->key);
	if (strcmp(key, "public_key") == 0)
		return set_path(p, key, toks, &p->public_key_line, &c->public_key);
	if (strcmp(key, "hash") == 0) {
		if ((r = scalar(p, key, toks, &p->hash_line)) != 0)
			return r;
		if (vigil_hash_algo_from_name(toks->v[0], &c->hash) != 0)
			return fail(p, p->lineno, "unknown hash '%s' (sha256, sha512 or blake2b)",
				    toks->v[0]);
		return 0;
	}
	if (strcmp(key, "exclude") == 0)
		return push_globs(p, key, &p->excludes, toks, NULL);
	/* boot_sectors = auto | none | DEVICE...; the words stand alone. */
	for (size_t i = 0; i < toks->n; i++) {
		const char *t = toks->v[i];
		bool word = strcmp(t, "auto") == 0 || strcmp(t, "none") == 0;

		if ((word && (toks->n != 1 || p->boot.n > 0)) || p->boot_word_line != 0)
			return fail(p, p->lineno,
				    "boot_sectors: 'auto' or 'none' stands alone (boot_sectors = "
				    "auto | none | DEVICE...)");
		if (word) {
			c->boot_auto = t[0] == 'a';
			p->boot_word_line = p->lineno;
			return 0;
		}
		if (t[0] != '/')
			return fail(p, p->lineno,
				    "boot_sectors '%s' is not an absolute device path", t);
		if (vec_push(&p->boot, toks->v[i]) != 0)
			return oom(p);
		toks->v[i] = NULL; /* transferred */
	}
	return 0;
}

/* Absolute paths (or globs of them), each one word. */
static int push_paths(struct parser *p, const char *key, struct vec *dst, struct vec *toks)
{
	for (size_t i = 0; i < toks->n; i++) {
		if (toks->v[i][0] != '/')
			return fail(p, p->lineno, "%s '%s' is not an absolute path", key,
				    toks->v[i]);
		if (vec_push(dst, toks->v[i]) != 0)
			return oom(p);
		toks->v[i] = NULL; /* transferred */
	}
	return 0;
}

/* allow = EXE[@sha256:HEX]: the digest, when given, is 64 hex digits. */
static int check_allow(struct parser *p, const char *t)
{
	const char *at = strchr(t, '@');

	if (at == NULL)
		return 0;
	if (strncmp(at + 1, "sha256:", 7) != 0 || strlen(at + 8) != 64 ||
	    strspn(at + 8, "0123456789abcdefABCDEF") != 64)
		return fail(p, p->lineno,
			    "allow '%s': a digest is written EXE@sha256:HEX with 64 hex digits", t);
	return 0;
}

static int watch_key(struct parser *p, const char *key, struct vec *toks)
{
	vigil_watch_config *wc = &p->c->watch;
	bool on;
	int r;

	if (strcmp(key, "protect") == 0)
		return push_paths(p, key, &p->protect, toks);
	if (strcmp(key, "raw_device_allow") == 0)
		return push_paths(p, key, &p->raw_allow, toks);
	if (strcmp(key, "exfil_dirs") == 0)
		return push_paths(p, key, &p->exfil_dirs, toks);
	if (strcmp(key, "allow") == 0) {
		for (size_t i = 0; i < toks->n; i++)
			if ((r = check_allow(p, toks->v[i])) != 0)
				return r;
		return push_paths(p, key, &p->allow, toks);
	}
	if (strcmp(key, "canaries") == 0)
		return set_path(p, key, toks, &p->canaries_line, &wc->canaries);
	if (strcmp(key, "inventory") == 0)
		return set_path(p, key, toks, &p->inventory_line, &wc->inventory);
	if (strcmp(key, "respond") == 0) {
		static const char *const modes[] = {"alert", "stop", "kill"};

		if ((r = scalar(p, key, toks, &p->respond_line)) != 0)
			return r;
		for (int i = 0; i < 3; i++)
			if (strcmp(toks->v[0], modes[i]) == 0) {
				wc->respond = i;
				return 0;
			}
		return fail(p, p->lineno, "respond '%s' is not alert, stop or kill", toks->v[0]);
	}
	if (strcmp(key, "nice") == 0) {
		const char *v = toks->v[0];

		if ((r = scalar(p, key, toks, &p->nice_line)) != 0)
			return r;
		if (v[0] == '\0' || strspn(v, "0123456789") != strlen(v) || strlen(v) > 2 ||
		    atoi(v) > 19)
			return fail(p, p->lineno, "nice '%s' is not a number from 0 to 19", v);
		wc->nice = atoi(v);
		return 0;
	}
	/* raw_devices, exfil_staging: booleans */
	if ((r = scalar(p, key, toks,
			strcmp(key, "raw_devices") == 0 ? &p->raw_line : &p->exfil_line)) != 0 ||
	    (r = parse_bool(p, key, toks->v[0], &on)) != 0)
		return r;
	if (strcmp(key, "raw_devices") == 0)
		wc->raw_devices = on;
	else
		wc->exfil_staging = on;
	return 0;
}

static int handler(void *user, const char *section, const char *key, const char *value, int lineno)
{
	struct parser *p = user;
	const struct section *s;
	struct vec toks = {0};
	char desc[256];
	size_t idx;
	int r = 0;

	(void)lineno; /* p->lineno is the same line, and does not depend on the build */
	if (p->rc != 0)
		return 0;
	if (section[0] != '@') {
		fail(p, p->lineno,
		     "'%s' outside any section: start with [baseline], [group NAME] or [path ROOT]",
		     key);
		return 0;
	}
	idx = strtoul(section + 1, NULL, 10);
	if (idx >= p->nsects)
		return 0; /* cannot happen: the reader wrote the name */
	s = &p->sects[idx];
	if (key[0] == '\0') {
		fail(p, p->lineno, "missing key before '='");
		return 0;
	}
	switch (s->kind) {
	case SECT_BASELINE:
		if (strcmp(key, "database") && strcmp(key, "key") && strcmp(key, "public_key") &&
		    strcmp(key, "hash") && strcmp(key, "exclude") && strcmp(key, "boot_sectors"))
			goto unknown;
		break;
	case SECT_GROUP:
		if (strcmp(key, "attributes"))
			goto unknown;
		break;
	case SECT_WATCH:
		if (strcmp(key, "protect") && strcmp(key, "respond") &&
		    strcmp(key, "raw_devices") && strcmp(key, "raw_device_allow") &&
		    strcmp(key, "allow") && strcmp(key, "canaries") &&
		    strcmp(key, "exfil_staging") && strcmp(key, "exfil_dirs") &&
		    strcmp(key, "inventory") && strcmp(key, "nice"))
			goto unknown;
		break;
	case SECT_PATH:
		if (strcmp(key, "attributes") && strcmp(key, "exclude") && strcmp(key, "growing") &&
		    strcmp(key, "presence") && strcmp(key, "recurse"))
			goto unknown;
		break;
	}
	if ((r = tokenize(p, value, &toks)) != 0)
		goto out;
	if (toks.n == 0) {
		if (strcmp(key, "attributes") == 0)
			fail(p, p->lineno, "empty attribute list");
		else
			fail(p, p->lineno, "'%s' needs a value", key);
		goto out;
	}
	if (s->kind == SECT_BASELINE) {
		r = baseline_key(p, key, &toks);
	} else if (s->kind == SECT_WATCH) {
		r = watch_key(p, key, &toks);
	} else if (s->kind == SECT_GROUP) {
		r = push_attr_tokens(p, &p->groups[s->index].toks, &toks);
	} else {
		vigil_rule *rule = &p->c->rules[s->index];
		struct rule_def *d = &p->rdefs[s->index];

		if (strcmp(key, "attributes") == 0)
			r = push_attr_tokens(p, &d->toks, &toks);
		else if (strcmp(key, "exclude") == 0)
			r = push_globs(p, key, &d->excludes, &toks, rule);
		else if (strcmp(key, "growing") == 0)
			r = push_globs(p, key, &d->growing, &toks, rule);
		else if (strcmp(key, "presence") == 0)
			r = push_globs(p, key, &d->presence, &toks, rule);
		else if ((r = scalar(p, key, &toks, &d->recurse_line)) == 0)
			r = parse_bool(p, key, toks.v[0], &rule->recurse);
	}
	goto out;
unknown:
	fail(p, p->lineno, "unknown key '%s' in %s", key, sect_name(p, s, desc, sizeof(desc)));
out:
	vec_free(&toks);
	return p->rc == 0;
}

/* The bits one name stands for. `self` is the group being defined (SIZE_MAX in a rule). */
static int lookup(struct parser *p, const char *name, unsigned line, size_t self, uint32_t *bits)
{
	if ((*bits = vigil_attr_from_name(name)) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(builtin_groups) / sizeof(builtin_groups[0]); i++) {
		if (strcmp(name, builtin_groups[i].name) == 0) {
			*bits = builtin_groups[i].attrs;
			return 0;
		}
	}
	for (size_t i = 0; i < p->ngroups; i++) {
		const struct group_def *g = &p->groups[i];

		if (strcmp(name, g->name) != 0)
			continue;
		if (i == self)
			return fail(p, line, "group '%s' refers to itself", name);
		/* Groups are resolved in file order, so an earlier one has its bits. */
		if (g->line > line)
			return fail(p, line, "group '%s' is used before it is defined (line %u)",
				    name, g->line);
		*bits = g->attrs;
		return 0;
	}
	return fail(p, line, "unknown attribute or group '%s'", name);
}

/*
 * Evaluates an attribute list left to right: a name adds its bits, +name adds, -name
 * removes. A list whose first token has a sign starts from the default set, else from
 * nothing.
 */
static int eval_attrs(struct parser *p, const struct attr_list *l, size_t self, uint32_t *out)
{
	uint32_t set;

	assert(l->n > 0);
	set = (l->v[0].name[0] == '+' || l->v[0].name[0] == '-') ? VIGIL_ATTR_DEFAULT : 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *t = l->v[i].name;
		char sign = (t[0] == '+' || t[0] == '-') ? t[0] : 0;
		uint32_t bits;

		if (sign && t[1] == '\0')
			return fail(p, l->v[i].line, "'%c' needs an attribute or group name", sign);
		if (lookup(p, sign ? t + 1 : t, l->v[i].line, self, &bits) != 0)
			return p->rc;
		set = sign == '-' ? set & ~bits : set | bits;
	}
	if (set == 0)
		return fail(p, l->v[l->n - 1].line, "the attributes select nothing");
	*out = set;
	return 0;
}

/* After the whole file is read: groups may be used only after their definition, which is
 * known only now. Every list is checked; fail() keeps the earliest line. */
static void resolve(struct parser *p)
{
	for (size_t i = 0; i < p->ngroups; i++) {
		struct group_def *g = &p->groups[i];

		if (g->toks.n == 0)
			fail(p, g->line, "[group %s] has no attributes", g->name);
		else
			eval_attrs(p, &g->toks, i, &g->attrs);
		if (p->rc == VIGIL_E_NOMEM)
			return;
	}
	for (size_t i = 0; i < p->c->nrules; i++) {
		vigil_rule *rule = &p->c->rules[i];

		if (p->rdefs[i].toks.n == 0)
			rule->attrs = VIGIL_ATTR_DEFAULT;
		else
			eval_attrs(p, &p->rdefs[i].toks, SIZE_MAX, &rule->attrs);
	}
}

static void attr_list_free(struct attr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void parser_free(struct parser *p)
{
	for (size_t i = 0; i < p->ngroups; i++) {
		free(p->groups[i].name);
		attr_list_free(&p->groups[i].toks);
	}
	free(p->groups);
	if (p->rdefs != NULL) {
		for (size_t i = 0; i < p->c->nrules; i++) {
			attr_list_free(&p->rdefs[i].toks);
			vec_free(&p->rdefs[i].excludes);
			vec_free(&p->rdefs[i].growing);
			vec_free(&p->rdefs[i].presence);
		}
	}
	free(p->rdefs);
	free(p->sects);
	vec_free(&p->excludes);
	vec_free(&p->boot);
	vec_free(&p->protect);
	vec_free(&p->raw_allow);
	vec_free(&p->allow);
	vec_free(&p->exfil_dirs);
}

/* ---- building the matching tables ---- */

static int cmp_order(const void *a, const void *b, void *user)
{
	const struct config_priv *cp = user;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct root_info *x = &cp->ri[i], *y = &cp->ri[j];

	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	if (x->is_glob != y->is_glob)
		return x->is_glob ? 1 : -1;
	return strcmp(cp->pub.rules[i].root, cp->pub.rules[j].root);
}

static int cmp_root(const void *a, const void *b, void *user)
{
	const struct config_priv *cp = user;

	return strcmp(cp->pub.rules[*(const size_t *)a].root,
		      cp->pub.rules[*(const size_t *)b].root);
}

/* Every rule's lists are in place (possibly empty): computes what matching needs. */
static int finalize(struct config_priv *cp)
{
	const vigil_config *c = &cp->pub;
	size_t n = c->nrules ? c->nrules : 1;

	if ((cp->ri = calloc(n, sizeof(*cp->ri))) == NULL ||
	    (cp->order = calloc(n, sizeof(size_t))) == NULL ||
	    (cp->by_root = calloc(n, sizeof(size_t))) == NULL)
		return VIGIL_E_NOMEM;
	for (size_t i = 0; i < c->nrules; i++) {
		const char *root = c->rules[i].root;
		struct root_info *ri = &cp->ri[i];

		ri->is_glob = has_wildcard(root);
		ri->depth = count_components(root);
		if (ri->is_glob) {
			ri->len = strcspn(root, "*?[\\");
		} else {
			if ((ri->literal = unescape(root)) == NULL)
				return VIGIL_E_NOMEM;
			ri->len = strlen(ri->literal);
		}
		cp->order[i] = cp->by_root[i] = i;
	}
	qsort_r(cp->order, c->nrules, sizeof(size_t), cmp_order, cp);
	qsort_r(cp->by_root, c->nrules, sizeof(size_t), cmp_root, cp);
	return 0;
}

/* Moves the parser's lists into the config, sorted. */
static int take_lists(struct parser *p)
{
	vigil_config *c = p->c;
	int r;

	if ((r = vec_finish(&p->excludes, &c->excludes)) != 0 ||
	    (r = vec_finish(&p->boot, &c->boot_devices)) != 0 ||
	    (r = vec_finish(&p->protect, &c->watch.protect)) != 0 ||
	    (r = vec_finish(&p->raw_allow, &c->watch.raw_device_allow)) != 0 ||
	    (r = vec_finish(&p->allow, &c->watch.allow)) != 0 ||
	    (r = vec_finish(&p->exfil_dirs, &c->watch.exfil_dirs)) != 0)
		return r;
	for (size_t i = 0; i < c->nrules; i++) {
		struct rule_def *d = &p->rdefs[i];

		if ((r = vec_finish(&d->excludes, &c->rules[i].excludes)) != 0 ||
		    (r = vec_finish(&d->growing, &c->rules[i].growing)) != 0 ||
		    (r = vec_finish(&d->presence, &c->rules[i].presence)) != 0)
			return r;
	}
	return 0;
}

void vigil_config_free(vigil_config *c)
{
	struct config_priv *cp = priv_of(c);

	if (c == NULL)
		return;
	free(c->source);
	free(c->database);
	free(c->key);
	free(c->public_key);
	strv_free(c->excludes);
	strv_free(c->boot_devices);
	strv_free(c->watch.protect);
	strv_free(c->watch.raw_device_allow);
	strv_free(c->watch.allow);
	strv_free(c->watch.exfil_dirs);
	free(c->watch.canaries);
	free(c->watch.inventory);
	for (size_t i = 0; i < c->nrules; i++) {
		free(c->rules[i].root);
		strv_free(c->rules[i].excludes);
		strv_free(c->rules[i].growing);
		strv_free(c->rules[i].presence);
		if (cp->ri != NULL)
			free(cp->ri[i].literal);
	}
	free(c->rules);
	free(cp->ri);
	free(cp->order);
	free(cp->by_root);
	free(cp);
}

int vigil_config_parse(const char *name, const char *text, size_t len, vigil_config **out,
		       char *err, size_t cap)
{
	struct parser p = {0};
	struct config_priv *cp = NULL;
	int ir, r;

	if (out != NULL)
		*out = NULL;
	if (err != NULL && cap > 0)
		err[0] = '\0';
	if (out == NULL || (text == NULL && len > 0))
		return VIGIL_E_INVALID;
	p.name = name != NULL ? name : "<config>";
	p.err = err;
	p.cap = cap;
	if (len > MAX_FILE) {
		if (err != NULL && cap > 0)
			snprintf(err, cap, "%s: larger than %u MiB: not a policy", p.name,
				 MAX_FILE >> 20);
		return VIGIL_E_FORMAT;
	}
	if ((cp = calloc(1, sizeof(*cp))) == NULL || (cp->pub.source = strdup(p.name)) == NULL) {
		r = oom(&p);
		goto out;
	}
	cp->pub.hash = VIGIL_HASH_SHA256;
	cp->pub.watch.respond = cp->pub.watch.raw_devices = cp->pub.watch.exfil_staging =
	    cp->pub.watch.nice = -1;
	p.c = &cp->pub;
	/* NULL + 0 is undefined behaviour even when nothing is read. */
	p.pos = text != NULL ? text : "";
	p.end = p.pos + len;

	ir = ini_parse_stream(reader, &p, handler, &p);
	if (ir == -2)
		oom(&p);
	else if (ir > 0 && p.rc != VIGIL_E_NOMEM)
		/* A line libinih refused itself (fail() keeps ours if it came first). */
		fail(&p, (unsigned)ir, "expected 'key = value', a [section] or a comment");
	if (p.rc == 0)
		resolve(&p);
	if (p.rc == 0 && (take_lists(&p) != 0 || finalize(cp) != 0))
		oom(&p);
	if ((r = p.rc) != 0)
		goto out;
	*out = &cp->pub;
	cp = NULL; /* transferred */
out:
	parser_free(&p);
	vigil_config_free(cp ? &cp->pub : NULL);
	return r;
}

int vigil_config_load(const char *path, vigil_config **out, char *err, size_t cap)
{
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, r, saved;

	if (out != NULL)
		*out = NULL;
	if (err != NULL && cap > 0)
		err[0] = '\0';
	if (path == NULL || out == NULL)
		return VIGIL_E_INVALID;
	/* Not O_NONBLOCK: a FIFO (--config <(...)) is a fine place to read a policy from. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		r = VIGIL_E_SYSTEM;
		goto out;
	}
	if ((r = vigil_read_all(fd, MAX_FILE, 0, &buf, &len)) == VIGIL_E_LIMIT) {
		if (err != NULL && cap > 0)
			snprintf(err, cap, "%s: larger than %u MiB: not a policy", path,
				 MAX_FILE >> 20);
		r = VIGIL_E_FORMAT;
	}
	if (r != 0)
		goto out;
	r = vigil_config_parse(path, buf, len, out, err, cap);
out:
	saved = errno;
	if (r == VIGIL_E_SYSTEM && err != NULL && cap > 0)
		snprintf(err, cap, "%s: %s", path, strerror(saved));
	if (fd >= 0)
		close(fd);
	free(buf);
	errno = saved;
	return r;
}

/* ---- configs built from command-line paths ---- */

/* An absolute path with '.', '..' and repeated slashes resolved as text (symbolic links
 * are not followed: the user named this path, not its target). */
static char *absolute_path(const char *path, const char *cwd)
{
	size_t plen = strlen(path), clen = cwd ? strlen(cwd) : 0;
	char *joined = malloc(clen + plen + 2), *out;
	size_t o = 0, n;

	if (joined == NULL)
		return NULL;
	n = (size_t)snprintf(joined, clen + plen + 2, "%s/%s", path[0] == '/' ? "" : cwd, path);
	if ((out = malloc(n + 2)) == NULL) {
		free(joined);
		return NULL;
	}
	for (size_t i = 0; i < n;) {
		size_t j;

		while (i < n && joined[i] == '/')
			i++;
		for (j = i; j < n && joined[j] != '/'; j++)
			;
		if (j == i)
			break;
		if (j - i == 1 && joined[i] == '.') {
			/* nothing */
		} else if (j - i == 2 && joined[i] == '.' && joined[i + 1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, joined + i, j - i);
			o += j - i;
		}
		i = j;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(joined);
	return out;
}

int vigil_config_from_paths(const char *const *paths, size_t npaths, uint32_t attrs,
			    vigil_config **out)
{
	struct config_priv *cp = NULL;
	char *cwd = NULL, *abs = NULL;
	int r;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || (paths == NULL && npaths > 0) || attrs == 0 ||
	    (attrs & ~(uint32_t)VIGIL_ATTR_ALL) != 0)
		return VIGIL_E_INVALID;
	for (size_t i = 0; i < npaths; i++)
		if (paths[i] == NULL || paths[i][0] == '\0')
			return VIGIL_E_INVALID;
	if ((cp = calloc(1, sizeof(*cp))) == NULL ||
	    (cp->pub.rules = calloc(npaths ? npaths : 1, sizeof(vigil_rule))) == NULL ||
	    (cp->pub.excludes = calloc(1, sizeof(char *))) == NULL ||
	    (cp->pub.boot_devices = calloc(1, sizeof(char *))) == NULL ||
	    (cp->pub.watch.protect = calloc(1, sizeof(char *))) == NULL ||
	    (cp->pub.watch.raw_device_allow = calloc(1, sizeof(char *))) == NULL ||
	    (cp->pub.watch.allow = calloc(1, sizeof(char *))) == NULL ||
	    (cp->pub.watch.exfil_dirs = calloc(1, sizeof(char *))) == NULL) {
		r = VIGIL_E_NOMEM;
		goto out;
	}
	cp->pub.hash = VIGIL_HASH_SHA256;
	cp->pub.watch.respond = cp->pub.watch.raw_devices = cp->pub.watch.exfil_staging =
	    cp->pub.watch.nice = -1;
	for (size_t i = 0; i < npaths; i++) {
		vigil_rule *rule = &cp->pub.rules[cp->pub.nrules];
		bool dup = false;

		if (paths[i][0] != '/' && cwd == NULL && (cwd = getcwd(NULL, 0)) == NULL) {
			r = errno == ENOMEM ? VIGIL_E_NOMEM : VIGIL_E_SYSTEM;
			goto out;
		}
		if ((abs = absolute_path(paths[i], cwd)) == NULL) {
			r = VIGIL_E_NOMEM;
			goto out;
		}
		/* Roots are globs: a literal name with '*' or '[' in it must stay literal. */
		if ((rule->root = escape_glob(abs)) == NULL) {
			r = VIGIL_E_NOMEM;
			goto out;
		}
		free(abs);
		abs = NULL;
		for (size_t j = 0; j < cp->pub.nrules; j++)
			dup = dup || strcmp(cp->pub.rules[j].root, rule->root) == 0;
		if (dup) {
			free(rule->root);
			rule->root = NULL;
			continue;
		}
		rule->attrs = attrs;
		rule->recurse = true;
		cp->pub.nrules++;
		if ((rule->excludes = calloc(1, sizeof(char *))) == NULL ||
		    (rule->growing = calloc(1, sizeof(char *))) == NULL ||
		    (rule->presence = calloc(1, sizeof(char *))) == NULL) {
			r = VIGIL_E_NOMEM;
			goto out;
		}
	}
	if ((r = finalize(cp)) != 0)
		goto out;
	*out = &cp->pub;
	cp = NULL; /* transferred */
	r = 0;
out:
	free(abs);
	free(cwd);
	vigil_config_free(cp ? &cp->pub : NULL);
	return r;
}

/* ---- matching ---- */

/* A writable copy of the path, made once per match call and only when needed, so that
 * prefixes can be NUL-terminated for fnmatch(3). */
struct scratch {
	const char *path;
	size_t len;
	char *buf;
	char stack[PATH_MAX];
};

static char *scratch_get(struct scratch *s)
{
	if (s->buf != NULL)
		return s->buf;
	if (s->len < sizeof(s->stack))
		s->buf = s->stack;
	else if ((s->buf = malloc(s->len + 1)) == NULL)
		return NULL;
	memcpy(s->buf, s->path, s->len + 1);
	return s->buf;
}

static void scratch_free(struct scratch *s)
{
	if (s->buf != NULL && s->buf != s->stack)
		free(s->buf);
}

/* The end of the path's first `depth` components, or SIZE_MAX if it has fewer. */
static size_t component_end(const char *path, size_t len, size_t depth)
{
	size_t i = 0;

	for (size_t k = 0; k < depth; k++) {
		size_t start;

		if (i >= len || path[i] != '/')
			return SIZE_MAX;
		start = ++i;
		while (i < len && path[i] != '/')
			i++;
		if (i == start)
			return SIZE_MAX;
	}
	return i;
}

/* The rule whose root is the deepest path prefix of `path` (SIZE_MAX if none); *pend is
 * where that prefix ends in the path. */
static size_t find_rule(const struct config_priv *cp, struct scratch *s, size_t *pend)
{
	const char *path = s->path;
	size_t len = s->len;

	for (size_t k = 0; k < cp->pub.nrules; k++) {
		size_t i = cp->order[k], e;
		const struct root_info *ri = &cp->ri[i];
		const char *root = cp->pub.rules[i].root;
		char *b, saved;
		bool hit;

		if (!ri->is_glob) {
			if (ri->len == 1) { /* "/" */
				if (len > 0 && path[0] == '/') {
					*pend = 0;
					return i;
				}
				continue;
			}
			if (len >= ri->len && memcmp(path, ri->literal, ri->len) == 0 &&
			    (len == ri->len || path[ri->len] == '/')) {
				*pend = ri->len;
				return i;
			}
			continue;
		}
		if (len < ri->len || memcmp(path, root, ri->len) != 0)
			continue;
		if ((e = component_end(path, len, ri->depth)) == SIZE_MAX)
			continue;
		if ((b = scratch_get(s)) == NULL)
			continue;
		/* FNM_PERIOD as glob(3) does when it expands the root: /home/.x/.ssh is not a
		 * root of /home/(*)/.ssh, so it is not governed by that rule either. */
		saved = b[e];
		b[e] = '\0';
		hit = fnmatch(root, b, FNM_PATHNAME | FNM_PERIOD) == 0;
		b[e] = saved;
		if (hit) {
			*pend = e;
			return i;
		}
	}
	return SIZE_MAX;
}

/* Byte checks every string a glob matches must pass: its literal prefix and suffix. They
 * only skip fnmatch calls that would fail; the match itself is vigil_path_excluded's. */
struct prefilter {
	const char *g;
	size_t lit;      /* bytes before the first special character */
	const char *suf; /* the literal tail after the last special character */
	size_t suf_len;
	bool whole;     /* no special character at all: an exact name */
	bool has_slash; /* cannot match a base name */
};

static void prefilter_init(struct prefilter *f, const char *g)
{
	const char *last = NULL;

	f->g = g;
	f->lit = strcspn(g, "*?[\\");
	f->whole = g[f->lit] == '\0';
	for (const char *s = g; *s != '\0'; s++)
		if (strchr("*?[]\\", *s) != NULL)
			last = s;
	f->suf = last ? last + 1 : g;
	f->suf_len = strlen(f->suf);
	f->has_slash = strchr(g, '/') != NULL;
}

static bool prefilter_str(const struct prefilter *f, const char *s, size_t n)
{
	if (f->whole)
		return n == f->lit && memcmp(s, f->g, n) == 0;
	return n >= f->lit && memcmp(s, f->g, f->lit) == 0 && n >= f->suf_len &&
	       memcmp(s + n - f->suf_len, f->suf, f->suf_len) == 0;
}

/* Could g match the full path s[0..n) or its base name? */
static bool prefilter_ok(const struct prefilter *f, const char *s, size_t n)
{
	const char *slash;

	if (prefilter_str(f, s, n))
		return true;
	if (f->has_slash || (slash = memrchr(s, '/', n)) == NULL || slash + 1 == s + n)
		return false;
	return prefilter_str(f, slash + 1, (size_t)(s + n - slash - 1));
}

/*
 * True if one of the globs matches the path or one of its ancestors, each the way
 * `vigil scan --exclude` matches (vigil_path_excluded). The ancestors count because the
 * walk never enters an excluded directory, so nothing below one is covered either; the
 * watcher, which sees paths without walking to them, must come to the same answer.
 */
static bool globs_hit(char *const *globs, struct scratch *s)
{
	if (globs == NULL)
		return false;
	for (char *const *g = globs; *g != NULL; g++) {
		const char *one[2] = {*g, NULL};
		struct prefilter f;

		prefilter_init(&f, *g);
		if (prefilter_ok(&f, s->path, s->len) && vigil_path_excluded(s->path, one))
			return true;
		for (size_t i = 1; i < s->len; i++) {
			char *b;
			bool hit;

			if (s->path[i] != '/' || !prefilter_ok(&f, s->path, i))
				continue;
			if ((b = scratch_get(s)) == NULL)
				return false;
			b[i] = '\0';
			hit = vigil_path_excluded(b, one);
			b[i] = '/';
			if (hit)
				return true;
		}
	}
	return false;
}

bool vigil_config_match(const vigil_config *c, const char *path, size_t path_len, vigil_match *m)
{
	const struct config_priv *cp = cpriv_of(c);
	struct scratch s;
	size_t idx, pend = 0;
	const vigil_rule *rule;
	vigil_match r;
	bool covered = false;

	s.path = path;
	s.len = path_len;
	s.buf = NULL;
	if ((idx = find_rule(cp, &s, &pend)) == SIZE_MAX)
		goto out;
	rule = &c->rules[idx];
	if (!rule->recurse && path_len > 1) {
		/* Only the root and its entries: a path deeper down is covered by no rule (an
		 * outer rule's walk stops at this root, so it does not cover it either). */
		size_t depth = 0;

		for (size_t i = pend; i < path_len; i++)
			depth += path[i] == '/';
		if (depth > 1)
			goto out;
	}
	r = (vigil_match){.rule = idx, .attrs = rule->attrs, .policy = VIGIL_POLICY_NORMAL};
	if (globs_hit(c->excludes, &s) || globs_hit(rule->excludes, &s)) {
		r.excluded = true;
	} else if (globs_hit(rule->growing, &s)) {
		r.policy = VIGIL_POLICY_GROWING;
	} else if (globs_hit(rule->presence, &s)) {
		r.policy = VIGIL_POLICY_PRESENCE;
		r.attrs = VIGIL_ATTR_TYPE;
	}
	*m = r;
	covered = true;
out:
	scratch_free(&s);
	return covered;
}

/* ---- roots ---- */

static int cmp_root_path(const void *a, const void *b)
{
	return strcmp(((const vigil_root *)a)->path, ((const vigil_root *)b)->path);
}

static int push_root(vigil_root **v, size_t *n, size_t *cap, const char *path, size_t rule)
{
	char *copy;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		vigil_root *nv = realloc(*v, ncap * sizeof(*nv));

		if (nv == NULL)
			return VIGIL_E_NOMEM;
		*v = nv;
		*cap = ncap;
	}
	if ((copy = strdup(path)) == NULL)
		return VIGIL_E_NOMEM;
	(*v)[(*n)++] = (vigil_root){.path = copy, .rule = rule};
	return 0;
}

int vigil_config_roots(const vigil_config *c, vigil_root **out, size_t *nout)
{
	const struct config_priv *cp = cpriv_of(c);
	vigil_root *v = NULL;
	size_t n = 0, cap = 0, k = 0;
	int r = 0;

	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < c->nrules; i++) {
		glob_t g;
		int gr;

		if (!cp->ri[i].is_glob) {
			if ((r = push_root(&v, &n, &cap, cp->ri[i].literal, i)) != 0)
				goto out;
			continue;
		}
		memset(&g, 0, sizeof(g));
		gr = glob(c->rules[i].root, GLOB_NOSORT, NULL, &g);
		if (gr == GLOB_NOSPACE) {
			globfree(&g);
			r = VIGIL_E_NOMEM;
			goto out;
		}
		for (size_t j = 0; gr == 0 && j < g.gl_pathc; j++) {
			if ((r = push_root(&v, &n, &cap, g.gl_pathv[j], i)) != 0) {
				globfree(&g);
				goto out;
			}
		}
		globfree(&g);
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_root_path);
	for (size_t i = 0; i < n; i++) {
		struct scratch s;
		size_t pend, rule;

		if (k > 0 && strcmp(v[k - 1].path, v[i].path) == 0) {
			free(v[i].path);
			continue;
		}
		v[k] = v[i];
		/* The rule vigil_config_match picks for the root itself: with two rules giving
		 * the same root (a glob and a literal), the walk and the match must agree. */
		s.path = v[k].path;
		s.len = strlen(v[k].path);
		s.buf = NULL;
		if ((rule = find_rule(cp, &s, &pend)) != SIZE_MAX)
			v[k].rule = rule;
		scratch_free(&s);
		k++;
	}
	*out = v;
	*nout = k;
	v = NULL; /* transferred */
	n = 0;
out:
	vigil_roots_free(v, n);
	return r;
}

void vigil_roots_free(vigil_root *roots, size_t n)
{
	if (roots == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(roots[i].path);
	free(roots);
}

/* ---- digest ---- */

static void put_u32(EVP_MD_CTX *ctx, uint32_t v, int *ok)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	*ok &= EVP_DigestUpdate(ctx, b, sizeof(b));
}

static void put_str(EVP_MD_CTX *ctx, const char *s, int *ok)
{
	size_t n = strlen(s);

	put_u32(ctx, (uint32_t)n, ok);
	*ok &= EVP_DigestUpdate(ctx, s, n);
}

static void put_list(EVP_MD_CTX *ctx, char *const *v, int *ok)
{
	uint32_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	put_u32(ctx, n, ok);
	for (uint32_t i = 0; i < n; i++)
		put_str(ctx, v[i], ok);
}

/*
 * The canonical form: every setting that changes what is recorded or how it is compared,
 * each string length-prefixed, lists in sorted order (the parser stores them so), rules
 * in root order. Not hashed: comments, layout, group names (only the bits they resolve
 * to), and where the database and keys live, which do not change what a baseline means.
 */
void vigil_config_digest(const vigil_config *c, uint8_t out[32])
{
	const struct config_priv *cp = cpriv_of(c);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *algo = vigil_hash_algo_name(c->hash);
	unsigned len = 0;
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

	if (ok) {
		put_str(ctx, "vigil policy 1", &ok);
		put_str(ctx, algo ? algo : "?", &ok);
		put_u32(ctx, c->boot_auto, &ok);
		put_list(ctx, c->boot_devices, &ok);
		put_list(ctx, c->excludes, &ok);
		put_u32(ctx, (uint32_t)c->nrules, &ok);
		for (size_t k = 0; k < c->nrules; k++) {
			const vigil_rule *rule = &c->rules[cp->by_root[k]];

			put_str(ctx, rule->root, &ok);
			put_u32(ctx, rule->attrs, &ok);
			put_u32(ctx, rule->recurse, &ok);
			put_list(ctx, rule->excludes, &ok);
			put_list(ctx, rule->growing, &ok);
			put_list(ctx, rule->presence, &ok);
		}
		ok = ok && EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == 32;
	}
	/* The signature has no way to report failure (only OpenSSL running out of memory
	 * gets here): zeros never equal a stored digest, so the policy reads as changed
	 * rather than silently as the same. */
	if (!ok)
		memset(out, 0, 32);
	EVP_MD_CTX_free(ctx);
}
