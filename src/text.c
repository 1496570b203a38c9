/* SPDX-License-Identifier: Apache-2.0 */
/* Text decoding in a stream: encoding sniffing, UTF-16 to UTF-8, and the running text of
 * the XML parts of office documents. */
#include <string.h>

#include "text.h"

/* Decoded bytes are collected here and handed to the sink in chunks of this size. */
#define OUT_SIZE 4096
/* A tag longer than this is not interpreted (quotes stop counting, no separator). */
#define TAG_MAX 4096
/* Bytes of the sample that vigil_text_sniff looks at, and the share of UTF-16 code
 * units that must be ASCII/Latin-1 text with a NUL high byte (in tenths). */
#define SNIFF_MAX       4096
#define SNIFF_MIN_UNITS 8
#define SNIFF_TENTHS    9

struct out {
	uint8_t buf[OUT_SIZE];
	size_t n;
	vigil_sink_fn sink;
	void *user;
	int rv; /* the sink's non-zero answer, once it asked to stop */
};

static void out_init(struct out *o, vigil_sink_fn sink, void *user)
{
	o->n = 0;
	o->sink = sink;
	o->user = user;
	o->rv = 0;
}

static int out_flush(struct out *o)
{
	if (o->n > 0 && o->rv == 0)
		o->rv = o->sink(o->user, o->buf, o->n);
	o->n = 0;
	return o->rv;
}

static int out_byte(struct out *o, uint8_t c)
{
	if (o->n == OUT_SIZE && out_flush(o) != 0)
		return o->rv;
	o->buf[o->n++] = c;
	return 0;
}

static int out_bytes(struct out *o, const void *p, size_t n)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < n; i++)
		if (out_byte(o, s[i]) != 0)
			return o->rv;
	return 0;
}

/* UTF-8 of a code point the callers already checked (no surrogates, <= U+10FFFF). */
static int out_cp(struct out *o, uint32_t cp)
{
	uint8_t u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return out_bytes(o, u, n);
}

/* ---- encoding sniffing ---- */

/* A byte that is ordinary text when it is the low byte of a UTF-16 unit below U+0100. */
static bool is_text_byte(uint8_t c)
{
	return c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c < 0x7f) || c >= 0xa0;
}

vigil_encoding vigil_text_sniff(const uint8_t *p, size_t n, size_t *bom_len)
{
	size_t units, le = 0, be = 0;

	if (bom_len)
		*bom_len = 0;
	if (p == NULL)
		return VIGIL_ENC_BYTES;
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
		if (bom_len)
			*bom_len = 3;
		return VIGIL_ENC_BYTES;
	}
	if (n >= 2 && p[0] == 0xff && p[1] == 0xfe) {
		/* FF FE 00 00 is UTF-32LE, which is not decoded: scan it as bytes. */
		if (n >= 4 && p[2] == 0 && p[3] == 0)
			return VIGIL_ENC_BYTES;
		if (bom_len)
			*bom_len = 2;
		return VIGIL_ENC_UTF16LE;
	}
	if (n >= 2 && p[0] == 0xfe && p[1] == 0xff) {
		if (bom_len)
			*bom_len = 2;
		return VIGIL_ENC_UTF16BE;
	}
	/*
	 * No BOM: UTF-16 of mostly Western text has a NUL in every other byte and a text
	 * byte beside it. Binary data with many NULs rarely keeps that up for 90% of a
	 * 4 KiB sample, and decoding real bytes as UTF-16 would hide what they contain,
	 * so the bar is high.
	 */
	units = (n < SNIFF_MAX ? n : SNIFF_MAX) / 2;
	if (units < SNIFF_MIN_UNITS)
		return VIGIL_ENC_BYTES;
	/* Most files hold no NUL at all: memchr settles them at memory speed. */
	if (memchr(p, 0, 2 * units) == NULL)
		return VIGIL_ENC_BYTES;
	for (size_t i = 0; i < units; i++) {
		uint8_t a = p[2 * i], b = p[2 * i + 1];

		if (b == 0 && is_text_byte(a))
			le++;
		else if (a == 0 && is_text_byte(b))
			be++;
	}
	if (le * 10 >= units * SNIFF_TENTHS)
		return VIGIL_ENC_UTF16LE;
	if (be * 10 >= units * SNIFF_TENTHS)
		return VIGIL_ENC_UTF16BE;
	return VIGIL_ENC_BYTES;
}

/* ---- UTF-16 ---- */

#define REPLACEMENT 0xfffdu

void vigil_utf16_init(vigil_utf16 *d, bool big_endian)
{
	memset(d, 0, sizeof(*d));
	d->big_endian = big_endian;
}

static int put_unit(vigil_utf16 *d, struct out *o, uint16_t u)
{
	if (d->high != 0) {
		if (u >= 0xdc00 && u <= 0xdfff) {
			uint32_t cp = 0x10000u + ((uint32_t)(d->high - 0xd800) << 10) +
				      (uint32_t)(u - 0xdc00);
			d->high = 0;
			return out_cp(o, cp);
		}
		/* A high surrogate without its low half. */
		d->high = 0;
		if (out_cp(o, REPLACEMENT) != 0)
			return o->rv;
	}
	if (u >= 0xd800 && u <= 0xdbff) {
		d->high = u;
		return 0;
	}
	if (u >= 0xdc00 && u <= 0xdfff)
		return out_cp(o, REPLACEMENT);
	return out_cp(o, u);
}

int vigil_utf16_feed(vigil_utf16 *d, const uint8_t *p, size_t n, vigil_sink_fn sink, void *user)
{
	struct out o;
	size_t i = 0;

	if (n == 0)
		return 0;
	out_init(&o, sink, user);
	if (d->has_carry) {
		uint8_t a = d->carry, b = p[0];

		d->has_carry = false;
		i = 1;
		if (put_unit(d, &o,
			     d->big_endian ? (uint16_t)(a << 8 | b) : (uint16_t)(b << 8 | a)))
			return o.rv;
	}
	for (; i + 1 < n; i += 2) {
		uint16_t u = d->big_endian ? (uint16_t)(p[i] << 8 | p[i + 1])
					   : (uint16_t)(p[i + 1] << 8 | p[i]);
		if (put_unit(d, &o, u) != 0)
			return o.rv;
	}
	if (i < n) {
		d->carry = p[i];
		d->has_carry = true;
	}
	return out_flush(&o);
}

int vigil_utf16_finish(vigil_utf16 *d, vigil_sink_fn sink, void *user)
{
	struct out o;

	out_init(&o, sink, user);
	/* A lone high surrogate, then the odd byte of a cut unit. */
	if (d->high != 0) {
		d->high = 0;
		if (out_cp(&o, REPLACEMENT) != 0)
			return o.rv;
	}
	if (d->has_carry) {
		d->has_carry = false;
		if (out_cp(&o, REPLACEMENT) != 0)
			return o.rv;
	}
	return out_flush(&o);
}

/* ---- XML text ---- */

/* Parser states (low byte of x->state) and flags (above it). Counters reuse the struct's
 * fields: ent/ent_len hold an entity, or the whitespace waiting at the start of a text
 * node; ent_len alone counts dashes of "-->", brackets of "]]>", progress through
 * "[CDATA[" or the bracket depth of a <!DOCTYPE>. */
enum {
	X_TEXT = 0,
	X_ENT,        /* after '&' */
	X_LT,         /* after '<' */
	X_NAME,       /* element name */
	X_ATTR,       /* rest of a tag */
	X_PI,         /* <? ... ?> */
	X_BANG,       /* after "<!" */
	X_BANG_DASH,  /* after "<!-" */
	X_BANG_CDATA, /* inside "<![CDATA[" */
	X_COMMENT,
	X_CDATA,
	X_DECL, /* <!DOCTYPE ...> and other declarations */
};

#define XF_CLOSE      0x0100u /* the tag is an end tag */
#define XF_SLASH      0x0200u /* last significant character in the tag was '/' */
#define XF_DQ         0x0400u /* inside "..." in a tag */
#define XF_SQ         0x0800u /* inside '...' in a tag */
#define XF_PREV_START 0x1000u /* the last tag was a start tag */
#define XF_CONTENT    0x2000u /* this text node has more than whitespace */
#define XF_LONG_NAME  0x4000u /* the name did not fit in tag[] */
#define XF_PI_Q       0x8000u /* the last character of a PI was '?' */
#define XS_MASK       0x00ffu

void vigil_xmltext_init(vigil_xmltext *x)
{
	memset(x, 0, sizeof(*x));
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void set_state(vigil_xmltext *x, int s)
{
	x->state = (int)(((unsigned)x->state & ~XS_MASK) | (unsigned)s);
}

static bool has_flag(const vigil_xmltext *x, unsigned f)
{
	return ((unsigned)x->state & f) != 0;
}

static void set_flag(vigil_xmltext *x, unsigned f, bool on)
{
	x->state = (int)(on ? ((unsigned)x->state | f) : ((unsigned)x->state & ~f));
}

/*
 * What the end of an element means in the running text. Elements are matched by local
 * name so one table serves WordprocessingML (w:), DrawingML (a:), SpreadsheetML (no
 * prefix) and OpenDocument (text:, table:). Runs (w:r, w:t, a:t, text:span) are not here:
 * Word cuts a paragraph into runs anywhere, even inside a number.
 */
static int separator(const char *name, size_t len)
{
	static const char *const lines[] = {
	    "p",  "tr", "tc",         "br",        "cr",
	    "si", "c",  "row",        "h",         "line-break",
	    "v",  "f",  "table-cell", "table-row", "covered-table-cell",
	};
	const char *colon = memchr(name, ':', len);
	const char *local = name;
	size_t llen = len;

	for (const char *q = colon; q; q = memchr(local, ':', llen)) {
		llen -= (size_t)(q + 1 - local);
		local = q + 1;
	}
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (strlen(lines[i]) == llen && memcmp(lines[i], local, llen) == 0)
			return '\n';
	if (llen == 3 && memcmp(local, "tab", 3) == 0)
		return '\t';
	/* OpenDocument's <text:s/> is a space (runs of spaces are written this way). */
	if (len == 6 && memcmp(name, "text:s", 6) == 0)
		return ' ';
	return 0;
}

/* The whitespace waiting at the start of a text node is kept when it is the content of
 * an element (<w:t> </w:t>), and dropped between tags, where a pretty-printer put it. */
static int settle_space(vigil_xmltext *x, struct out *o, bool keep)
{
	size_t n = x->ent_len;

	x->ent_len = 0;
	if (keep && n > 0 && !has_flag(x, XF_CONTENT))
		return out_bytes(o, x->ent, n);
	return 0;
}

static int end_tag(vigil_xmltext *x, struct out *o)
{
	bool close = has_flag(x, XF_CLOSE);
	bool empty = !close && has_flag(x, XF_SLASH);
	int sep = 0;

	if ((close || empty) && !has_flag(x, XF_LONG_NAME) && x->tag_bytes <= TAG_MAX)
		sep = separator(x->tag, x->tag_len);
	x->state = X_TEXT;
	if (!close && !empty && x->tag_bytes <= TAG_MAX)
		set_flag(x, XF_PREV_START, true);
	x->tag_len = 0;
	x->tag_bytes = 0;
	x->ent_len = 0;
	return sep ? out_byte(o, (uint8_t)sep) : 0;
}

static int hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the entity in x->ent (without '&' and ';'); unknown ones are kept as written. */
static int end_entity(vigil_xmltext *x, struct out *o)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
	const char *e = x->ent;
	size_t n = x->ent_len;

	x->ent_len = 0;
	if (n >= 2 && e[0] == '#') {
		bool hex = e[1] == 'x' || e[1] == 'X';
		size_t i = hex ? 2 : 1;
		uint32_t cp = 0;
		bool ok = i < n;

		for (; ok && i < n; i++) {
			int d = hex ? hex_value((uint8_t)e[i])
				    : (e[i] >= '0' && e[i] <= '9' ? e[i] - '0' : -1);
			if (d < 0)
				ok = false;
			else if (cp <= 0x10ffff)
				cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (ok) {
			if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				cp = REPLACEMENT;
			return out_cp(o, cp);
		}
	}
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strlen(named[i].name) == n && memcmp(named[i].name, e, n) == 0)
			return out_byte(o, (uint8_t)named[i].c);
	if (out_byte(o, '&') != 0 || out_bytes(o, e, n) != 0)
		return o->rv;
	return out_byte(o, ';');
}

static bool is_entity_char(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '#';
}

/* Emit pending ']' of a CDATA end that did not come. */
static int cdata_brackets(vigil_xmltext *x, struct out *o)
{
	size_t n = x->ent_len;

	x->ent_len = 0;
	for (size_t i = 0; i < n; i++)
		if (out_byte(o, ']') != 0)
			return o->rv;
	return 0;
}

/* One input byte. Returns the sink's non-zero answer, else 0; *again is set when the
 * byte must be looked at once more in the new state. */
static int xml_byte(vigil_xmltext *x, struct out *o, uint8_t c, bool *again)
{
	static const char cdata[] = "[CDATA[";

	switch ((unsigned)x->state & XS_MASK) {
	case X_TEXT:
		if (c == '<') {
			set_state(x, X_LT);
			return 0;
		}
		if (!has_flag(x, XF_CONTENT)) {
			if (is_space(c)) {
				if (x->ent_len < sizeof(x->ent))
					x->ent[x->ent_len++] = (char)c;
				return 0;
			}
			if (settle_space(x, o, true) != 0)
				return o->rv;
			set_flag(x, XF_CONTENT, true);
		}
		if (c == '&') {
			set_state(x, X_ENT);
			x->ent_len = 0;
			return 0;
		}
		return out_byte(o, c);
	case X_ENT:
		if (c == ';') {
			set_state(x, X_TEXT);
			return end_entity(x, o);
		}
		if (is_entity_char(c) && x->ent_len < sizeof(x->ent)) {
			x->ent[x->ent_len++] = (char)c;
			return 0;
		}
		/* Not an entity after all ("AT&T"): the bytes are text. */
		set_state(x, X_TEXT);
		*again = true;
		if (out_byte(o, '&') != 0 || out_bytes(o, x->ent, x->ent_len) != 0)
			return o->rv;
		x->ent_len = 0;
		return 0;
	case X_LT:
		x->tag_len = 0;
		x->tag_bytes = 2;
		set_flag(x, XF_CLOSE | XF_SLASH | XF_DQ | XF_SQ | XF_LONG_NAME | XF_PI_Q, false);
		if (c == '/') {
			if (settle_space(x, o, has_flag(x, XF_PREV_START)) != 0)
				return o->rv;
			set_flag(x, XF_CLOSE, true);
			set_state(x, X_NAME);
			return 0;
		}
		if (c == '?' || c == '!') {
			/* Comments and PIs are transparent; CDATA is text. */
			if (settle_space(x, o, has_flag(x, XF_PREV_START)) != 0)
				return o->rv;
			set_state(x, c == '?' ? X_PI : X_BANG);
			return 0;
		}
		x->ent_len = 0; /* whitespace between tags */
		set_state(x, X_NAME);
		*again = true;
		return 0;
	case X_NAME:
		if (c == '>')
			return end_tag(x, o);
		x->tag_bytes++;
		if (is_space(c)) {
			set_state(x, X_ATTR);
		} else if (c == '/') {
			set_flag(x, XF_SLASH, true);
			set_state(x, X_ATTR);
		} else if (x->tag_len < sizeof(x->tag) - 1) {
			x->tag[x->tag_len++] = (char)c;
		} else {
			set_flag(x, XF_LONG_NAME, true);
		}
		return 0;
	case X_ATTR:
		if (x->tag_bytes <= TAG_MAX)
			x->tag_bytes++;
		/* Past TAG_MAX, quotes no longer hide '>': an unbalanced quote must not
		 * swallow the rest of the document. */
		if (has_flag(x, XF_DQ | XF_SQ) && x->tag_bytes <= TAG_MAX) {
			if (c == (has_flag(x, XF_DQ) ? '"' : '\''))
				set_flag(x, XF_DQ | XF_SQ, false);
			return 0;
		}
		if (c == '>')
			return end_tag(x, o);
		if (c == '"' || c == '\'')
			set_flag(x, c == '"' ? XF_DQ : XF_SQ, true);
		if (c == '/')
			set_flag(x, XF_SLASH, true);
		else if (!is_space(c))
			set_flag(x, XF_SLASH, false);
		return 0;
	case X_PI:
		if (c == '>' && has_flag(x, XF_PI_Q))
			set_state(x, X_TEXT);
		set_flag(x, XF_PI_Q, c == '?');
		return 0;
	case X_BANG:
		if (c == '-') {
			set_state(x, X_BANG_DASH);
		} else if (c == '[') {
			x->ent_len = 1;
			set_state(x, X_BANG_CDATA);
		} else {
			x->ent_len = 0;
			set_state(x, X_DECL);
			*again = true;
		}
		return 0;
	case X_BANG_DASH:
		x->ent_len = 0;
		set_state(x, c == '-' ? X_COMMENT : X_DECL);
		*again = c != '-';
		return 0;
	case X_BANG_CDATA:
		if (c == (uint8_t)cdata[x->ent_len]) {
			if (++x->ent_len == sizeof(cdata) - 1) {
				x->ent_len = 0;
				set_flag(x, XF_CONTENT, true);
				set_state(x, X_CDATA);
			}
			return 0;
		}
		x->ent_len = 0;
		set_state(x, X_DECL);
		*again = true;
		return 0;
	case X_COMMENT:
		if (c == '>' && x->ent_len >= 2)
			set_state(x, X_TEXT);
		x->ent_len = c == '-' ? (x->ent_len < 2 ? x->ent_len + 1 : 2) : 0;
		if (((unsigned)x->state & XS_MASK) == X_TEXT)
			x->ent_len = 0;
		return 0;
	case X_CDATA:
		if (c == ']') {
			if (x->ent_len < 2) {
				x->ent_len++;
				return 0;
			}
			return out_byte(o, ']'); /* "]]]": the first one is text */
		}
		if (c == '>' && x->ent_len == 2) {
			x->ent_len = 0;
			set_state(x, X_TEXT);
			return 0;
		}
		if (cdata_brackets(x, o) != 0)
			return o->rv;
		return out_byte(o, c);
	case X_DECL:
	default:
		if (c == '[' && x->ent_len < 255)
			x->ent_len++;
		else if (c == ']' && x->ent_len > 0)
			x->ent_len--;
		else if (c == '>' && x->ent_len == 0)
			set_state(x, X_TEXT);
		return 0;
	}
}

int vigil_xmltext_feed(vigil_xmltext *x, const uint8_t *p, size_t n, vigil_sink_fn sink, void *user)
{
	struct out o;

	out_init(&o, sink, user);
	for (size_t i = 0; i < n;) {
		bool again = false;

		if (xml_byte(x, &o, p[i], &again) != 0)
			return o.rv;
		if (!again)
			i++;
	}
	return out_flush(&o);
}

int vigil_xmltext_finish(vigil_xmltext *x, vigil_sink_fn sink, void *user)
{
	struct out o;
	int rv = 0;

	out_init(&o, sink, user);
	switch ((unsigned)x->state & XS_MASK) {
	case X_ENT:
		/* An '&' that never ended is text. */
		if (out_byte(&o, '&') == 0)
			out_bytes(&o, x->ent, x->ent_len);
		break;
	case X_CDATA:
		cdata_brackets(x, &o);
		break;
	default:
		break;
	}
	rv = out_flush(&o);
	vigil_xmltext_init(x);
	return rv;
}
