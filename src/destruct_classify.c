/* SPDX-License-Identifier: Apache-2.0 */
/* The pure half of the destruction defense: what a file's first blocks are (known format,
 * text, binary, near-random, constant fill), what a write, rename or removal did, and how a
 * score fades. No I/O: every input is a bounded buffer. */
#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "destruct_int.h"
#include "json.h"

/* Magic numbers of formats people keep and attackers destroy. Compressed and encrypted
 * containers are here too: their bytes look random, and only their magic tells a 7z or
 * gzip file apart from an encrypted one. */
struct magic {
	const char *name;
	uint16_t off;
	uint8_t len;
	const char *bytes;
};

static const struct magic magics[] = {
    {"pdf", 0, 4, "%PDF"},
    {"png", 0, 8, "\x89PNG\r\n\x1a\n"},
    {"jpeg", 0, 3, "\xff\xd8\xff"},
    {"gif", 0, 4, "GIF8"},
    {"zip", 0, 4, "PK\x03\x04"},
    {"zip", 0, 4, "PK\x05\x06"},
    {"gzip", 0, 2, "\x1f\x8b"},
    {"bzip2", 0, 3, "BZh"},
    {"xz", 0, 6,
     "\xfd"
     "7zXZ\x00"},
    {"zstd", 0, 4, "\x28\xb5\x2f\xfd"},
    {"lz4", 0, 4, "\x04\x22\x4d\x18"},
    {"7z", 0, 6, "7z\xbc\xaf\x27\x1c"},
    {"rar", 0, 6, "Rar!\x1a\x07"},
    {"elf", 0, 4,
     "\x7f"
     "ELF"},
    {"sqlite", 0, 16, "SQLite format 3\0"},
    {"ole2", 0, 8, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"},
    {"mp3", 0, 3, "ID3"},
    {"mp4", 4, 4, "ftyp"},
    {"riff", 0, 4, "RIFF"},
    {"ogg", 0, 4, "OggS"},
    {"flac", 0, 4, "fLaC"},
    {"matroska", 0, 4, "\x1a\x45\xdf\xa3"},
    {"tar", 257, 5, "ustar"},
    {"pe", 0, 2, "MZ"},
    {"java", 0, 4, "\xca\xfe\xba\xbe"},
    {"rtf", 0, 5, "{\\rtf"},
    {"tiff", 0, 4, "II*\0"},
    {"tiff", 0, 4, "MM\0*"},
    {"luks", 0, 6, "LUKS\xba\xbe"},
    {"gitpack", 0, 4, "PACK"},
    {"gitindex", 0, 4, "DIRC"},
    {"postscript", 0, 4, "%!PS"},
    {"woff", 0, 4, "wOFF"},
    {"woff2", 0, 4, "wOF2"},
    {"pgp", 0, 2, "\x85\x01"}, /* old-format public-key encrypted session key packet */
    /* Symmetric session key packets (gpg -c), old and new format, version 4: three bytes,
     * so random data rarely passes for them. */
    {"pgp", 0, 3, "\x8c\x0d\x04"},
    {"pgp", 0, 3, "\xc3\x0d\x04"},
    {"age", 0, 21, "age-encryption.org/v1"},
};

#define NMAGIC (sizeof(magics) / sizeof(*magics))

static int find_magic(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < NMAGIC; i++) {
		const struct magic *m = &magics[i];

		if ((size_t)m->off + m->len <= n && memcmp(b + m->off, m->bytes, m->len) == 0)
			return (int)i + 1;
	}
	/* zlib (RFC 1950 section 2.2): deflate with a 32 KiB window, FCHECK making the first
	 * two bytes a multiple of 31 — git's loose objects, PNG chunks written alone. */
	if (n >= 2 && b[0] == 0x78 && ((b[0] << 8) | b[1]) % 31 == 0)
		return (int)NMAGIC + 1;
	return 0;
}

/* Bits per byte of the sample, x 1000. */
static unsigned entropy_milli(const uint8_t *b, size_t n)
{
	unsigned cnt[256] = {0};
	double h = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		cnt[b[i]]++;
	for (int i = 0; i < 256; i++)
		if (cnt[i]) {
			double p = (double)cnt[i] / (double)n;

			h -= p * log2(p);
		}
	return (unsigned)(h * 1000.0 + 0.5);
}

/* Text: printable ASCII and whitespace, with bytes >= 0x80 counted as text only when the
 * sample is valid UTF-8 (its last, possibly cut, character aside). */
static bool is_text(const uint8_t *b, size_t n)
{
	size_t bad = 0, high = 0, u8n = n;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = b[i];

		if (c >= 0x80)
			high++;
		else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b)
			bad++;
		else if (c == 0x7f)
			bad++;
	}
	if (high > 0) {
		/* Up to 3 trailing bytes may be a character cut by the sample's end. */
		while (u8n > 0 && n - u8n < 3 && (b[u8n - 1] & 0xc0) == 0x80)
			u8n--;
		if (u8n > 0 && n - u8n < 4 && b[u8n - 1] >= 0xc0)
			u8n--;
		if (!vigil_utf8_valid((const char *)b, u8n))
			bad += high;
	}
	return bad * 100 <= n * 2; /* 2% slack: a stray control byte in a log */
}

void destruct_classify(const uint8_t *buf, size_t n, uint64_t size, destruct_sample *out)
{
	size_t same = 0;
	unsigned hmin;

	memset(out, 0, sizeof(*out));
	out->size = size;
	if (n == 0 || size == 0) {
		out->cls = DCLASS_EMPTY;
		return;
	}
	out->entropy = (uint16_t)entropy_milli(buf, n);
	for (same = 1; same < n && buf[same] == buf[0]; same++)
		;
	/* A constant first block (or a whole short file of one byte) is a fill; 16 bytes at
	 * least, so a one-line file "aaaa" is not. */
	if (n >= 16 && (same == n || same >= 4096)) {
		out->cls = DCLASS_CONST;
		return;
	}
	if ((out->magic = (uint8_t)find_magic(buf, n)) != 0) {
		out->cls = DCLASS_KNOWN;
		return;
	}
	if (is_text(buf, n)) {
		out->cls = DCLASS_TEXT;
		return;
	}
	/* Random bytes give 8 bits/byte only over large samples: n bytes can show at most
	 * log2(n) bits. 7.2 over >= 1 KiB; below that, 85% of what n bytes can show. */
	hmin = n >= 1024 ? 7200 : (unsigned)(850.0 * log2((double)n));
	out->cls = n >= 32 && out->entropy >= hmin ? DCLASS_HIGH : DCLASS_BINARY;
}

const char *destruct_class_name(int cls)
{
	static const char *const names[] = {"empty", "known", "text", "binary", "random", "fill"};

	return cls >= 0 && cls < (int)(sizeof(names) / sizeof(*names)) ? names[cls] : "unknown";
}

const char *destruct_magic_name(const destruct_sample *s)
{
	if (s->cls != DCLASS_KNOWN || s->magic == 0)
		return NULL;
	return s->magic <= NMAGIC ? magics[s->magic - 1].name : "zlib";
}

const char *destruct_evidence_name(int ev)
{
	static const char *const names[] = {"none",    "encrypted",      "filled",  "truncated",
					    "deleted", "encrypted_copy", "renamed", "ransom_note"};

	return ev >= 0 && ev < DEV_COUNT ? names[ev] : "unknown";
}

/* Weights, against a threshold of 8: two files made unreadable (4 + 4), three removed or
 * emptied (3 + 3 + 3), two removed after an encrypted copy (5 + 5). A rename to a new
 * extension alone is weak (editors, rotation); with the content destroyed it tips the
 * balance. Benign programs rarely do any of these to files that existed before. */
double destruct_weight(int ev)
{
	switch (ev) {
	case DEV_ENCRYPTED:
	case DEV_FILLED:
		return 4;
	case DEV_TRUNCATED:
	case DEV_DELETED:
	case DEV_NOTE:
		return 3;
	case DEV_ENCRYPTED_COPY:
		return 5;
	case DEV_RENAMED:
		return 2;
	default:
		return 0;
	}
}

double destruct_decay(double score, int64_t elapsed_ns)
{
	if (elapsed_ns <= 0)
		return score;
	return score * exp2(-(double)elapsed_ns / (DESTRUCT_HALF_LIFE_S * 1e9));
}

/* Content worth protecting: a known format, text, or structured binary. A file that was
 * already near-random (an encrypted container, random test data) or a constant fill (a
 * preallocated download, a sparse image) cannot be told apart from its own destruction. */
static bool is_valuable(const destruct_sample *s)
{
	return s->cls == DCLASS_KNOWN || s->cls == DCLASS_TEXT || s->cls == DCLASS_BINARY;
}

int destruct_judge_write(const destruct_sample *before, const destruct_sample *after)
{
	if (!is_valuable(before))
		return DEV_NONE;
	if (after->cls == DCLASS_EMPTY)
		return DEV_TRUNCATED;
	if (after->cls == DCLASS_HIGH)
		return DEV_ENCRYPTED;
	if (after->cls == DCLASS_CONST)
		return DEV_FILLED;
	return DEV_NONE;
}

static const char *base_of(const char *p, size_t len, size_t *blen)
{
	size_t i = len;

	while (i > 0 && p[i - 1] != '/')
		i--;
	*blen = len - i;
	return p + i;
}

/* Extensions that backups, rotation, downloads and editors add: not an attacker's mark. */
static bool is_usual_suffix(const char *s, size_t n)
{
	static const char *const usual[] = {
	    "old", "bak",  "orig",   "tmp",  "temp",     "save",     "swp",       "part",
	    "new", "prev", "backup", "lock", "dpkg-old", "dpkg-new", "dpkg-dist", "rej",
	    "gz",  "xz",   "bz2",    "zst",  "lz4",      "z"};
	size_t digits = 0;

	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		digits += isdigit((unsigned char)s[i]) != 0;
	if (digits == n || (n > 0 && s[n - 1] == '~'))
		return true; /* log.1, file~ */
	for (size_t i = 0; i < sizeof(usual) / sizeof(*usual); i++)
		if (strlen(usual[i]) == n && strncasecmp(s, usual[i], n) == 0)
			return true;
	return false;
}

int destruct_judge_rename(const char *from, size_t flen, const char *to, size_t tlen)
{
	size_t fb, tb;
	const char *f = base_of(from, flen, &fb), *t = base_of(to, tlen, &tb);
	const char *fd, *td;

	if (tb == 0 || fb == 0)
		return DEV_NONE;
	if (tb > fb && memcmp(f, t, fb) == 0) {
		/* An extension added: name.docx -> name.docx.locked; a backup suffix is fine. */
		const char *add = t + fb;
		size_t alen = tb - fb;

		if (add[0] == '~')
			return DEV_NONE;
		if (add[0] == '.' || add[0] == '_' || add[0] == '-' || add[0] == '[' ||
		    add[0] == '(') {
			/* Every part usual: log.1.gz is rotation, x.docx.id-42.locked is not. */
			for (size_t i = 1, start = 1; i <= alen; i++)
				if (i == alen || add[i] == '.') {
					if (!is_usual_suffix(add + start, i - start))
						return DEV_RENAMED;
					start = i + 1;
				}
		}
		return DEV_NONE;
	}
	/* An extension swapped: report.pdf -> report.crypt (same stem, different ending). */
	fd = memrchr(f, '.', fb);
	td = memrchr(t, '.', tb);
	if (fd && td && fd > f && td > t && fd - f == td - t &&
	    memcmp(f, t, (size_t)(fd - f)) == 0) {
		size_t fe = fb - (size_t)(fd - f) - 1, te = tb - (size_t)(td - t) - 1;

		if ((fe != te || strncasecmp(fd + 1, td + 1, fe) != 0) &&
		    !is_usual_suffix(td + 1, te))
			return DEV_RENAMED;
	}
	return DEV_NONE;
}

int destruct_stem(const char *removed, size_t rlen, const char *written, size_t wlen)
{
	/* Compared whole, directories included: an encryptor's copy sits beside its original
	 * (gzip, gpg and 7z do the same, which is why the copy's content decides). */
	if (wlen > rlen + 1 && memcmp(removed, written, rlen) == 0 && written[rlen] == '.')
		return STEM_LONGER;
	if (rlen > wlen + 1 && memcmp(removed, written, wlen) == 0 && removed[wlen] == '.')
		return STEM_SHORTER;
	/* vim: name renamed to name~, the new name written, the backup removed. */
	if (rlen == wlen + 1 && memcmp(removed, written, wlen) == 0 && removed[wlen] == '~')
		return STEM_SHORTER;
	return STEM_NONE;
}

bool destruct_is_note_name(const char *name, size_t len)
{
	static const char *const words[] = {
	    "readme", "decrypt", "recover",     "restore",    "ransom",          "how_to", "how-to",
	    "howto",  "unlock",  "instruction", "your_files", "files_encrypted", "help_",  "!!!"};
	char low[256];
	const char *dot;

	if (len == 0 || len >= sizeof(low))
		return false;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[len] = '\0';
	dot = strrchr(low, '.');
	if (dot && strcmp(dot, ".txt") && strcmp(dot, ".html") && strcmp(dot, ".htm") &&
	    strcmp(dot, ".hta") && strcmp(dot, ".url") && strcmp(dot, ".rtf"))
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (strstr(low, words[i]))
			return true;
	return false;
}

bool destruct_allow_match(const char *entry, const char *exe, const char *sha_hex,
			  bool *need_digest)
{
	const char *at = strstr(entry, "@sha256:");
	char pat[4096];
	size_t plen = at ? (size_t)(at - entry) : strlen(entry);

	*need_digest = false;
	if (exe == NULL || plen == 0 || plen >= sizeof(pat))
		return false;
	memcpy(pat, entry, plen);
	pat[plen] = '\0';
	/* A glob on the whole path (FNM_PATHNAME: '*' stays within one directory). */
	if (fnmatch(pat, exe, FNM_PATHNAME) != 0)
		return false;
	if (at == NULL)
		return true;
	*need_digest = true;
	return sha_hex != NULL && strlen(at + 8) == 64 && strncasecmp(at + 8, sha_hex, 64) == 0;
}
