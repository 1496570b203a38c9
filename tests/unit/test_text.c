/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for text.c: encoding sniffing, streaming UTF-16 decoding and the XML text
 * extractor, each also fed in two pieces split at every position. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "text.h"

/* A growing output buffer for the sinks. */
struct buf {
	uint8_t *p;
	size_t n;
	unsigned calls;
	size_t max_chunk;
	int stop_after; /* return 9 from the call with this number (1-based), 0 = never */
};

static int sink(void *user, const uint8_t *p, size_t n)
{
	struct buf *b = user;

	assert_true(n > 0);
	b->calls++;
	if (n > b->max_chunk)
		b->max_chunk = n;
	b->p = realloc(b->p, b->n + n + 1);
	assert_non_null(b->p);
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
	return b->stop_after && (int)b->calls == b->stop_after ? 9 : 0;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void expect_bytes(const struct buf *b, const char *want, size_t want_len, const char *what)
{
	if (b->n != want_len || (want_len && memcmp(b->p, want, want_len) != 0)) {
		print_message("%s: got %zu bytes:\n", what, b->n);
		for (size_t i = 0; i < b->n; i++)
			print_message("%02x ", b->p[i]);
		print_message("\nwant %zu bytes:\n", want_len);
		for (size_t i = 0; i < want_len; i++)
			print_message("%02x ", (uint8_t)want[i]);
		print_message("\n");
		fail_msg("%s: output differs", what);
	}
}

/* ---- sniffing ---- */

struct sniff_case {
	const char *what;
	const char *bytes;
	size_t len;
	vigil_encoding want;
	size_t bom;
};

#define S(x) x, sizeof(x) - 1

static const struct sniff_case sniff_cases[] = {
    {"utf-8 BOM", S("\xef\xbb\xbfhello"), VIGIL_ENC_BYTES, 3},
    {"utf-16le BOM", S("\xff\xfeh\0i\0"), VIGIL_ENC_UTF16LE, 2},
    {"utf-16be BOM", S("\xfe\xff\0h\0i"), VIGIL_ENC_UTF16BE, 2},
    {"utf-16le BOM, CJK", S("\xff\xfe\x2d\x4e\x87\x65"), VIGIL_ENC_UTF16LE, 2},
    {"utf-32le BOM", S("\xff\xfe\0\0h\0\0\0"), VIGIL_ENC_BYTES, 0},
    {"utf-16le no BOM",
     S("c\0a\0r\0d\0 \0"
       "4\0001\0001\0001\0 \0x\0\r\0\n\0"),
     VIGIL_ENC_UTF16LE, 0},
    {"utf-16be no BOM",
     S("\0c\0a\0r\0d\0 \0"
       "4\0001\0001\0001\0 \0x\0\r\0\n"),
     VIGIL_ENC_UTF16BE, 0},
    {"utf-16le odd length", S("p\0a\0s\0s\0w\0o\0r\0d\0=\0x"), VIGIL_ENC_UTF16LE, 0},
    {"utf-16le Latin-1", S("c\0a\0f\0\xe9\0 \0n\0o\0\xeb\0l\0"), VIGIL_ENC_UTF16LE, 0},
    {"ascii", S("plain ascii text, nothing else\n"), VIGIL_ENC_BYTES, 0},
    {"latin-1", S("caf\xe9 na\xefve \xe0 la carte\n"), VIGIL_ENC_BYTES, 0},
    {"too short", S("h\0i\0"), VIGIL_ENC_BYTES, 0},
    {"empty", S(""), VIGIL_ENC_BYTES, 0},
    /* Binary with many NULs: little-endian 32-bit integers, an ELF header, zeros. */
    {"int32 array", S("\1\0\0\0\2\0\0\0\3\0\0\0\4\0\0\0\5\0\0\0\6\0\0\0\7\0\0\0\x08\0\0\0"),
     VIGIL_ENC_BYTES, 0},
    {"elf",
     S("\x7f"
       "ELF\2\1\1\0\0\0\0\0\0\0\0\0\3\0>\0\1\0\0\0\x10\x6b\0\0\0\0\0\0@\0\0\0"),
     VIGIL_ENC_BYTES, 0},
    {"zeros", S("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), VIGIL_ENC_BYTES, 0},
    /* Half UTF-16-looking, half not: not enough to decode it all as UTF-16. */
    {"mixed", S("a\0b\0c\0d\0e\0f\0g\0h\0ijklmnopqrstuvwx"), VIGIL_ENC_BYTES, 0},
    {"int16 LE control values", S("\1\0\2\0\3\0\4\0\5\0\6\0\7\0\x08\0\x0b\0\x0c\0"),
     VIGIL_ENC_BYTES, 0},
};

static void test_sniff_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sniff_cases) / sizeof(sniff_cases[0]); i++) {
		const struct sniff_case *t = &sniff_cases[i];
		size_t bom = 99;
		vigil_encoding got = vigil_text_sniff((const uint8_t *)t->bytes, t->len, &bom);

		if (got != t->want || bom != t->bom)
			fail_msg("%s: got encoding %d bom %zu, want %d bom %zu", t->what, got, bom,
				 t->want, t->bom);
	}
	assert_int_equal(vigil_text_sniff(NULL, 0, NULL), VIGIL_ENC_BYTES);
}

/* Only the first 4 KiB are looked at; a long UTF-16 text is recognised from them. */
static void test_sniff_window(void **state)
{
	size_t n = 20000, bom;
	uint8_t *p = malloc(n);

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < n; i += 2) {
		p[i] = (uint8_t) "The quick brown fox 0123456789.\n"[(i / 2) % 32];
		p[i + 1] = 0;
	}
	assert_int_equal(vigil_text_sniff(p, n, &bom), VIGIL_ENC_UTF16LE);
	assert_int_equal(bom, 0);
	/* Binary after the window does not change the answer. */
	memset(p + 4096, 0xff, n - 4096);
	assert_int_equal(vigil_text_sniff(p, n, &bom), VIGIL_ENC_UTF16LE);
	/* A binary window does. */
	for (size_t i = 0; i < 4096; i++)
		p[i] = (uint8_t)(i * 37);
	assert_int_equal(vigil_text_sniff(p, n, &bom), VIGIL_ENC_BYTES);
	free(p);
}

/* ---- UTF-16 ---- */

struct utf16_case {
	const char *what;
	bool big_endian;
	const char *in;
	size_t in_len;
	const char *out;
	size_t out_len;
};

static const struct utf16_case utf16_cases[] = {
    {"ascii LE", false, S("4\0001\0001\0001\0"), S("4111")},
    {"ascii BE", true, S("\0004\0001\0001\0001"), S("4111")},
    {"latin-1 and euro LE", false, S("\xe9\0\xac\x20"), S("\xc3\xa9\xe2\x82\xac")},
    {"CJK BE", true, S("\x4e\x2d\x65\x87"), S("\xe4\xb8\xad\xe6\x96\x87")},
    {"surrogate pair LE", false, S("\x3d\xd8\x00\xde!\0"), S("\xf0\x9f\x98\x80!")},
    {"surrogate pair BE", true, S("\xd8\x3d\xde\x00\0!"), S("\xf0\x9f\x98\x80!")},
    {"max code point", false, S("\xff\xdb\xff\xdf"), S("\xf4\x8f\xbf\xbf")},
    {"lone high then text", false,
     S("\x3d\xd8"
       "A\0"),
     S("\xef\xbf\xbd"
       "A")},
    {"two highs then low", false, S("\x3d\xd8\x3d\xd8\x00\xde"), S("\xef\xbf\xbd\xf0\x9f\x98\x80")},
    {"lone low", false,
     S("\x00\xde"
       "B\0"),
     S("\xef\xbf\xbd"
       "B")},
    {"high at end", false, S("x\0\x3d\xd8"), S("x\xef\xbf\xbd")},
    {"odd byte at end", false, S("x\0y"), S("x\xef\xbf\xbd")},
    {"NUL unit", false, S("\0\0a\0"), "\0a", 2},
    {"BOM kept mid-stream", false, S("\xff\xfe"), S("\xef\xbb\xbf")},
    {"empty", false, S(""), S("")},
};

static void decode_utf16(const struct utf16_case *t, size_t split, size_t step, struct buf *b)
{
	vigil_utf16 d;
	const uint8_t *p = (const uint8_t *)t->in;

	vigil_utf16_init(&d, t->big_endian);
	if (step) {
		for (size_t i = 0; i < t->in_len; i += step) {
			size_t k = t->in_len - i < step ? t->in_len - i : step;
			assert_int_equal(vigil_utf16_feed(&d, p + i, k, sink, b), 0);
		}
	} else {
		assert_int_equal(vigil_utf16_feed(&d, p, split, sink, b), 0);
		assert_int_equal(vigil_utf16_feed(&d, p + split, t->in_len - split, sink, b), 0);
	}
	assert_int_equal(vigil_utf16_finish(&d, sink, b), 0);
}

static void test_utf16_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf16_cases) / sizeof(utf16_cases[0]); i++) {
		const struct utf16_case *t = &utf16_cases[i];
		char what[96];

		/* Split at every byte position into two feeds, and one byte at a time. */
		for (size_t split = 0; split <= t->in_len; split++) {
			struct buf b = {0};

			decode_utf16(t, split, 0, &b);
			snprintf(what, sizeof(what), "%s split at %zu", t->what, split);
			expect_bytes(&b, t->out, t->out_len, what);
			buf_free(&b);
		}
		struct buf b = {0};
		decode_utf16(t, 0, 1, &b);
		snprintf(what, sizeof(what), "%s bytewise", t->what);
		expect_bytes(&b, t->out, t->out_len, what);
		buf_free(&b);
	}
}

/* A BOM-less file found by the sniffer decodes to the text a scanner needs. */
static void test_utf16_sniff_then_decode(void **state)
{
	static const char le[] = "\xff\xfep\0a\0s\0s\0w\0o\0r\0d\0=\0h\0u\0n\0t\0e\0r\0"
				 "2\0";
	size_t bom;
	vigil_utf16 d;
	struct buf b = {0};

	(void)state;
	assert_int_equal(vigil_text_sniff((const uint8_t *)le, sizeof(le) - 1, &bom),
			 VIGIL_ENC_UTF16LE);
	vigil_utf16_init(&d, false);
	assert_int_equal(
	    vigil_utf16_feed(&d, (const uint8_t *)le + bom, sizeof(le) - 1 - bom, sink, &b), 0);
	assert_int_equal(vigil_utf16_finish(&d, sink, &b), 0);
	expect_bytes(&b, S("password=hunter2"), "decoded");
	buf_free(&b);
}

/* Output larger than the internal buffer arrives in several chunks of bounded size, and
 * a sink's request to stop is passed back. */
static void test_utf16_chunks_and_stop(void **state)
{
	size_t units = 30000;
	uint8_t *in = malloc(units * 2);
	vigil_utf16 d;
	struct buf b = {0};

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < units; i++) {
		in[2 * i] = 0xac; /* U+20AC, three bytes of UTF-8 each */
		in[2 * i + 1] = 0x20;
	}
	vigil_utf16_init(&d, false);
	assert_int_equal(vigil_utf16_feed(&d, in, units * 2, sink, &b), 0);
	assert_int_equal(vigil_utf16_finish(&d, sink, &b), 0);
	assert_int_equal(b.n, units * 3);
	assert_true(b.calls > 1);
	assert_true(b.max_chunk <= 4096);
	for (size_t i = 0; i < b.n; i += 3)
		assert_memory_equal(b.p + i, "\xe2\x82\xac", 3);
	buf_free(&b);

	b.stop_after = 2;
	vigil_utf16_init(&d, false);
	assert_int_equal(vigil_utf16_feed(&d, in, units * 2, sink, &b), 9);
	assert_int_equal(b.calls, 2);
	buf_free(&b);
	free(in);
}

/* ---- XML text ---- */

struct xml_case {
	const char *what;
	const char *in;
	const char *out;
};

static const struct xml_case xml_cases[] = {
    {"docx runs join",
     "<w:p><w:r><w:t>4111 1111</w:t></w:r><w:r><w:t> 1111 1111</w:t></w:r>"
     "</w:p>",
     "4111 1111 1111 1111\n"},
    {"docx run split inside a number",
     "<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>41111111</w:t></w:r><w:r><w:t>11111111</w:t></w:r>"
     "</w:p>",
     "4111111111111111\n"},
    {"paragraphs",
     "<w:body><w:p><w:r><w:t>one</w:t></w:r></w:p><w:p><w:r><w:t>two</w:t>"
     "</w:r></w:p></w:body>",
     "one\ntwo\n"},
    {"breaks and tabs",
     "<w:p><w:r><w:t>a</w:t><w:br/><w:t>b</w:t><w:tab/><w:t>c</w:t>"
     "<w:cr /><w:t>d</w:t></w:r></w:p>",
     "a\nb\tc\nd\n"},
    {"docx table cells",
     "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>4111</w:t></w:r></w:p></w:tc><w:tc>"
     "<w:p><w:r><w:t>1111</w:t></w:r></w:p></w:tc></w:tr></w:tbl>",
     "4111\n\n1111\n\n\n"},
    {"xlsx sheet",
     "<sheetData><row r=\"1\"><c r=\"A1\"><v>4111111111111111</v></c>"
     "<c r=\"B1\" t=\"s\"><v>12</v></c></row></sheetData>",
     "4111111111111111\n\n12\n\n\n"},
    {"xlsx formula", "<row><c><f>SUM(A1:A2)</f><v>3</v></c></row>", "SUM(A1:A2)\n3\n\n\n"},
    {"xlsx shared strings",
     "<sst><si><t>alpha</t></si><si><r><t>be</t></r><r><t>ta</t></r>"
     "</si></sst>",
     "alpha\nbeta\n"},
    {"pptx",
     "<p:txBody><a:p><a:r><a:t>Slide</a:t></a:r><a:br/><a:r><a:t>two</a:t></a:r>"
     "</a:p></p:txBody>",
     "Slide\ntwo\n"},
    {"odt",
     "<office:text><text:h text:outline-level=\"1\">Head</text:h><text:p>Hello"
     "<text:span text:style-name=\"T1\"> world</text:span><text:s/>x<text:tab/>y"
     "<text:line-break/>z</text:p></office:text>",
     "Head\nHello world x\ty\nz\n"},
    {"ods cells",
     "<table:table-row><table:table-cell><text:p>1</text:p></table:table-cell>"
     "<table:covered-table-cell/><table:table-cell><text:p>2</text:p>"
     "</table:table-cell></table:table-row>",
     "1\n\n\n2\n\n\n"},
    {"entities", "<t>&lt;a&gt; &amp; &quot;q&quot; &apos;s&apos;</t>", "<a> & \"q\" 's'"},
    {"numeric references", "<t>&#65;&#x42;&#X43;&#x20AC;&#x1F600;&#128512;</t>",
     "ABC\xe2\x82\xac\xf0\x9f\x98\x80\xf0\x9f\x98\x80"},
    {"bad numeric references", "<t>&#0;&#xD800;&#x110000;&#99999999999;</t>",
     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"unknown and broken entities", "<t>&nbsp; AT&T &#x; &#12a; &verylongentityname;</t>",
     "&nbsp; AT&T &#x; &#12a; &verylongentityname;"},
    {"ampersand before tag", "<t>a &</t><t>&amp</t>", "a &&amp"},
    {"cdata", "<t><![CDATA[4111 <not a tag> & ]]]></t>", "4111 <not a tag> & ]"},
    {"cdata brackets", "<t><![CDATA[a]b]]c]]]]></t>", "a]b]]c]]"},
    {"comments and PIs",
     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!-- <w:p> -- x --><p>"
     "x<!---->y<?pi a > b ?>z</p>",
     "xyz\n"},
    {"doctype", "<!DOCTYPE x [ <!ENTITY a \"b>\"> ]><x>t</x>", "t"},
    {"quoted > in attributes", "<w:t a=\"x>y\" b='>' c=\"it's\">text</w:t>", "text"},
    {"slash in attribute is not empty element", "<w:p a=\"/\"><w:t>in</w:t></w:p>", "in\n"},
    {"whitespace between tags dropped",
     "<w:p>\n  <w:r>\n    <w:t>4111 1111</w:t>\n  </w:r>\n  <w:r>\n    <w:t "
     "xml:space=\"preserve\"> 1111 1111</w:t>\n  </w:r>\n</w:p>\n",
     "4111 1111 1111 1111\n"},
    {"whitespace content kept", "<w:t xml:space=\"preserve\"> </w:t><w:t>\t</w:t>", " \t"},
    {"text around whitespace", "<t>a  b </t>  <t> c</t>", "a  b  c"},
    {"unprefixed names", "<p>x</p><br/><tab/>", "x\n\n\t"},
    {"long name",
     "<w:thisnameislongerthansixtyfourcharactersthisnameislongerthansixtyfour>"
     "n</w:thisnameislongerthansixtyfourcharactersthisnameislongerthansixtyfour>",
     "n"},
    {"mismatched and stray", "a < b > c </> <> d", "a  c  d"},
    {"utf-8 passes", "<t>caf\xc3\xa9 \xe2\x82\xac</t>", "caf\xc3\xa9 \xe2\x82\xac"},
    {"empty", "", ""},
};

static void extract_xml(const char *in, size_t len, size_t split, size_t step, struct buf *b)
{
	vigil_xmltext x;
	const uint8_t *p = (const uint8_t *)in;

	vigil_xmltext_init(&x);
	if (step) {
		for (size_t i = 0; i < len; i += step) {
			size_t k = len - i < step ? len - i : step;
			assert_int_equal(vigil_xmltext_feed(&x, p + i, k, sink, b), 0);
		}
	} else {
		assert_int_equal(vigil_xmltext_feed(&x, p, split, sink, b), 0);
		assert_int_equal(vigil_xmltext_feed(&x, p + split, len - split, sink, b), 0);
	}
	assert_int_equal(vigil_xmltext_finish(&x, sink, b), 0);
}

static void test_xml_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(xml_cases) / sizeof(xml_cases[0]); i++) {
		const struct xml_case *t = &xml_cases[i];
		size_t len = strlen(t->in);
		char what[128];

		for (size_t split = 0; split <= len; split++) {
			struct buf b = {0};

			extract_xml(t->in, len, split, 0, &b);
			snprintf(what, sizeof(what), "%s split at %zu", t->what, split);
			expect_bytes(&b, t->out, strlen(t->out), what);
			buf_free(&b);
		}
		struct buf b = {0};
		extract_xml(t->in, len, 0, 1, &b);
		snprintf(what, sizeof(what), "%s bytewise", t->what);
		expect_bytes(&b, t->out, strlen(t->out), what);
		buf_free(&b);
	}
}

/* A tag over 4 KiB with an unbalanced quote ends at the next '>' past the limit, so the
 * rest of the document is not swallowed; a long but well-formed tag is just skipped. */
static void test_xml_long_tags(void **state)
{
	size_t n = 10000;
	char *in = malloc(n + 200);
	struct buf b = {0};

	(void)state;
	assert_non_null(in);
	strcpy(in, "<t>before</t><x a=\"");
	size_t len = strlen(in);
	memset(in + len, 'q', n);
	len += n;
	strcpy(in + len, "><t>after</t>");
	extract_xml(in, strlen(in), 0, 0, &b);
	expect_bytes(&b, S("beforeafter"), "unbalanced quote");
	buf_free(&b);

	strcpy(in, "<w:p><w:t>in</w:t></w:p><x a=\"");
	len = strlen(in);
	memset(in + len, '>', n);
	len += n;
	strcpy(in + len, "\"/><w:p><w:t>next</w:t></w:p>");
	/* The quoted '>' run is longer than 4 KiB: the tag ends inside it, the rest of the
	 * run is text. What matters: no crash, and the later paragraph still comes out. */
	extract_xml(in, strlen(in), 0, 0, &b);
	assert_true(b.n > 0);
	assert_memory_equal(b.p, "in\n", 3);
	assert_non_null(strstr((char *)b.p, "next\n"));
	buf_free(&b);
	free(in);
}

/* A huge text node comes out in bounded chunks, and a sink's stop is passed back. */
static void test_xml_chunks_and_stop(void **state)
{
	size_t n = 50000;
	char *in = malloc(n + 16);
	struct buf b = {0};
	vigil_xmltext x;

	(void)state;
	assert_non_null(in);
	strcpy(in, "<t>");
	memset(in + 3, 'z', n);
	strcpy(in + 3 + n, "</t>");
	extract_xml(in, strlen(in), 0, 0, &b);
	assert_int_equal(b.n, n);
	assert_true(b.calls > 1);
	assert_true(b.max_chunk <= 4096);
	buf_free(&b);

	b.stop_after = 1;
	vigil_xmltext_init(&x);
	assert_int_equal(vigil_xmltext_feed(&x, (const uint8_t *)in, strlen(in), sink, &b), 9);
	buf_free(&b);
	free(in);
}

/* Garbage of every byte value never crashes and never loops (run under ASan/UBSan). */
static void test_xml_garbage(void **state)
{
	uint8_t in[8192];
	uint32_t r = 12345;
	vigil_xmltext x;
	struct buf b = {0};

	(void)state;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(in); i++) {
			r = r * 1103515245u + 12345u;
			/* Mostly markup characters, to reach every state. */
			in[i] = (uint8_t)("<>/!?-[]&#;x\"' CDATA"[(r >> 16) % 20]);
			if ((r >> 8) % 17 == 0)
				in[i] = (uint8_t)(r >> 24);
		}
		vigil_xmltext_init(&x);
		assert_int_equal(vigil_xmltext_feed(&x, in, sizeof(in), sink, &b), 0);
		assert_int_equal(vigil_xmltext_finish(&x, sink, &b), 0);
		buf_free(&b);
	}
}

/* A real document, when pandoc is installed to write one: the docx and odt body text
 * keeps a card number whole and table cells apart. */
static int run_quiet(const char *cmd)
{
	return system(cmd);
}

static void office_text(const char *dir, const char *file, const char *part, struct buf *b)
{
	char cmd[512];
	FILE *f;
	uint8_t chunk[1000];
	size_t k;
	vigil_xmltext x;

	snprintf(cmd, sizeof(cmd), "cd '%s' && unzip -p %s %s", dir, file, part);
	f = popen(cmd, "r");
	assert_non_null(f);
	vigil_xmltext_init(&x);
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(vigil_xmltext_feed(&x, chunk, k, sink, b), 0);
	assert_int_equal(pclose(f), 0);
	assert_int_equal(vigil_xmltext_finish(&x, sink, b), 0);
	assert_non_null(b->p);
}

static void test_real_office_documents(void **state)
{
	char dir[] = "/tmp/vigil-test-text-XXXXXX";
	char cmd[1024];
	struct buf b = {0};

	(void)state;
	if (run_quiet("command -v pandoc >/dev/null 2>&1 && command -v unzip >/dev/null 2>&1")) {
		print_message("SKIP: pandoc or unzip is not installed\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && printf '%%s\\n' 'Pay with **4111 1111** 1111 1111 today.' '' "
		 "'| Card | Amount |' '|---|---|' '| 5500000000000004 | 12 |' > in.md && "
		 "pandoc -o d.docx in.md && pandoc -o d.odt in.md",
		 dir);
	assert_int_equal(run_quiet(cmd), 0);

	office_text(dir, "d.docx", "word/document.xml", &b);
	/* The bold run splits the number; it must come out whole. */
	assert_non_null(strstr((char *)b.p, "Pay with 4111 1111 1111 1111 today."));
	assert_non_null(strstr((char *)b.p, "\n5500000000000004\n"));
	assert_non_null(strstr((char *)b.p, "\n12\n"));
	assert_null(strstr((char *)b.p, "500000000000000412"));
	buf_free(&b);

	office_text(dir, "d.odt", "content.xml", &b);
	assert_non_null(strstr((char *)b.p, "Pay with 4111 1111 1111 1111 today."));
	assert_non_null(strstr((char *)b.p, "\n5500000000000004\n"));
	assert_null(strstr((char *)b.p, "500000000000000412"));
	buf_free(&b);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(run_quiet(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sniff_table),
	    cmocka_unit_test(test_sniff_window),
	    cmocka_unit_test(test_utf16_table),
	    cmocka_unit_test(test_utf16_sniff_then_decode),
	    cmocka_unit_test(test_utf16_chunks_and_stop),
	    cmocka_unit_test(test_xml_table),
	    cmocka_unit_test(test_xml_long_tags),
	    cmocka_unit_test(test_xml_chunks_and_stop),
	    cmocka_unit_test(test_xml_garbage),
	    cmocka_unit_test(test_real_office_documents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
