/* SPDX-License-Identifier: Apache-2.0 */
/* Text decoding in a stream: UTF-16LE/BE to UTF-8, and the text of XML parts of office
 * documents (tags dropped, paragraph ends kept as newlines, entities decoded). */
#ifndef VIGIL_TEXT_H
#define VIGIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where decoded bytes go. Returns 0 to go on, non-zero to stop (passed back). */
typedef int (*vigil_sink_fn)(void *user, const uint8_t *p, size_t n);

typedef enum vigil_encoding {
	VIGIL_ENC_BYTES = 0, /* UTF-8, ASCII, Latin-1 or binary: scanned as they are */
	VIGIL_ENC_UTF16LE,
	VIGIL_ENC_UTF16BE
} vigil_encoding;

/* Guess the encoding from the first bytes of a stream: a BOM, or for UTF-16 without
 * BOM the pattern of NUL bytes in mostly-ASCII text. *bom_len gets the BOM's length
 * (0 if none) so the caller can skip it. */
vigil_encoding vigil_text_sniff(const uint8_t *p, size_t n, size_t *bom_len);

/* Streaming UTF-16 to UTF-8 decoder; odd bytes and split surrogates carry over
 * between calls. Invalid units become U+FFFD. */
typedef struct vigil_utf16 {
	bool big_endian;
	uint8_t carry; /* a leftover odd byte */
	bool has_carry;
	uint16_t high; /* a pending high surrogate, or 0 */
} vigil_utf16;

void vigil_utf16_init(vigil_utf16 *d, bool big_endian);
int vigil_utf16_feed(vigil_utf16 *d, const uint8_t *p, size_t n, vigil_sink_fn sink, void *user);
int vigil_utf16_finish(vigil_utf16 *d, vigil_sink_fn sink, void *user);

/* Streaming XML text extractor: drops tags; the end of a paragraph, table cell, row or
 * shared string (w:p, w:tc, w:tr, w:br, w:tab, a:p, text:p, text:h, si, c, row, ...)
 * becomes a newline so numbers from different cells never join; &lt; &gt; &amp; &quot;
 * &apos; and numeric references are decoded. Tags are bounded: a tag longer than
 * 4 KiB is dropped without keeping it. */
typedef struct vigil_xmltext {
	int state;    /* implementation's */
	char tag[64]; /* start of the current tag name */
	size_t tag_len;
	char ent[16]; /* an entity being read */
	size_t ent_len;
	size_t tag_bytes;
} vigil_xmltext;

void vigil_xmltext_init(vigil_xmltext *x);
int vigil_xmltext_feed(vigil_xmltext *x, const uint8_t *p, size_t n, vigil_sink_fn sink,
		       void *user);
int vigil_xmltext_finish(vigil_xmltext *x, vigil_sink_fn sink, void *user);

#endif
