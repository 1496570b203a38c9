/* SPDX-License-Identifier: Apache-2.0 */
/* Private-key validators: PEM blocks (plain, JSON-escaped, indented, or base64-encoded as in
 * Kubernetes secrets), OpenSSH's key format and PuTTY .ppk files, confirmed by their structure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "detect.h"

/* How far before its END line a PEM block may begin: the PEM rule's max_before. A PEM
 * RSA-16384 key is ~13 KiB, ~13.5 KiB JSON-escaped. */
#define PEM_LOOK_BACK (32u * 1024u)
#define PEM_BODY_MAX  PEM_LOOK_BACK

/* ---- strict base64 ---- */

static bool is_b64(uint8_t ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '+' || ch == '/';
}

static bool is_hex(uint8_t ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/*
 * A strict base64 decoder fed one character at a time: only the standard alphabet, '='
 * only as the last one or two characters. EVP_DecodeBlock alone accepts '=' anywhere and
 * does not drop padding, so the checks are ours and OpenSSL does the arithmetic.
 * Characters are staged before decoding, so out may overlap the text being fed as long
 * as the text is read ahead of what is written (3 bytes out for every 4 characters in).
 */
typedef struct b64dec {
	uint8_t *out;
	size_t cap, len;
	uint8_t stage[1024]; /* a multiple of 4, so a quantum never straddles two flushes */
	size_t nstage;
	size_t nchars;
	unsigned pad;
	bool bad;
} b64dec;

static void b64_init(b64dec *d, uint8_t *out, size_t cap)
{
	d->out = out;
	d->cap = cap;
	d->len = 0;
	d->nstage = 0;
	d->nchars = 0;
	d->pad = 0;
	d->bad = false;
}

/* The stage holds key text: wipe it when giving up or done. */
static void b64_wipe(b64dec *d)
{
	explicit_bzero(d->stage, sizeof(d->stage));
	d->nstage = 0;
}

static void b64_flush(b64dec *d, size_t n)
{
	int r;

	if (n == 0 || d->bad)
		return;
	if (d->len + n / 4 * 3 > d->cap) {
		d->bad = true;
		return;
	}
	r = EVP_DecodeBlock(d->out + d->len, d->stage, (int)n);
	if (r < 0 || (size_t)r != n / 4 * 3) {
		d->bad = true;
		return;
	}
	d->len += (size_t)r;
	memmove(d->stage, d->stage + n, d->nstage - n);
	d->nstage -= n;
}

static void b64_put(b64dec *d, uint8_t ch)
{
	if (d->bad)
		return;
	if (ch == '=') {
		/* "x===" or "=" at the start of a quantum is never valid padding. */
		if (++d->pad > 2 || d->nchars % 4 < 2) {
			d->bad = true;
			return;
		}
	} else if (!is_b64(ch) || d->pad) {
		d->bad = true;
		return;
	}
	d->stage[d->nstage++] = ch;
	d->nchars++;
	if (d->nstage == sizeof(d->stage))
		b64_flush(d, d->nstage);
}

/* Ends the input. With allow_partial an incomplete last quantum is dropped (the run was
 * cut by the window); otherwise it is an error. Returns false if anything was invalid. */
static bool b64_finish(b64dec *d, bool allow_partial)
{
	size_t rest = d->nstage % 4;

	if (rest != 0) {
		if (!allow_partial || d->pad)
			d->bad = true;
		else
			d->nstage -= rest;
	}
	b64_flush(d, d->nstage);
	b64_wipe(d);
	if (d->bad)
		return false;
	d->len -= d->pad;
	return true;
}

/* ---- SSH wire format (RFC 4251 section 5), shared by OpenSSH and PuTTY keys ---- */

typedef struct sshrd {
	const uint8_t *p;
	size_t n, off;
} sshrd;

static bool rd_u32(sshrd *r, uint32_t *v)
{
	if (r->n - r->off < 4)
		return false;
	*v = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
	     (uint32_t)r->p[r->off + 2] << 8 | r->p[r->off + 3];
	r->off += 4;
	return true;
}

static bool rd_str(sshrd *r, const uint8_t **s, size_t *len)
{
	uint32_t l;

	if (!rd_u32(r, &l) || l > r->n - r->off)
		return false;
	*s = r->p + r->off;
	*len = l;
	r->off += l;
	return true;
}

/* An mpint: non-negative, minimal encoding, at most 16385 bits. */
static bool rd_mpint(sshrd *r, const uint8_t **s, size_t *len)
{
	if (!rd_str(r, s, len) || *len > 2049)
		return false;
	if (*len == 0)
		return true;
	if ((*s)[0] & 0x80)
		return false;
	return !((*s)[0] == 0 && (*len == 1 || !((*s)[1] & 0x80)));
}

static bool is_name(const uint8_t *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return false;
	return true;
}

static bool str_is(const uint8_t *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static bool str_starts(const uint8_t *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n >= l && memcmp(s, lit, l) == 0;
}

/*
 * Reads fields by a spec: 'm' mpint, 's' string, 'b' byte, '3' a 32-byte string, '6' a
 * 64-byte string, '9' a 57-byte string (Ed448).
 */
static bool rd_fields(sshrd *r, const char *spec)
{
	const uint8_t *s;
	size_t l;

	for (; *spec; spec++) {
		switch (*spec) {
		case 'm':
			if (!rd_mpint(r, &s, &l))
				return false;
			break;
		case 'b':
			if (r->off >= r->n)
				return false;
			r->off++;
			break;
		default:
			if (!rd_str(r, &s, &l))
				return false;
			if ((*spec == '3' && l != 32) || (*spec == '6' && l != 64) ||
			    (*spec == '9' && l != 57))
				return false;
			break;
		}
	}
	return true;
}

/* The bit length of a big-endian magnitude. */
static unsigned mag_bits(const uint8_t *s, size_t n)
{
	while (n > 0 && s[0] == 0) {
		s++;
		n--;
	}
	if (n == 0)
		return 0;
	unsigned bits = (unsigned)(n - 1) * 8;
	for (uint8_t top = s[0]; top; top >>= 1)
		bits++;
	return bits;
}

/* "ssh-rsa 2048-bit" style description from a public key blob; no secret in it. */
static void ssh_pub_desc(const uint8_t *blob, size_t n, char *desc, size_t descsz)
{
	sshrd r = {blob, n, 0};
	const uint8_t *t, *e, *m;
	size_t tl, el, ml;

	desc[0] = '\0';
	if (!rd_str(&r, &t, &tl) || !is_name(t, tl))
		return;
	if ((str_is(t, tl, "ssh-rsa") && rd_mpint(&r, &e, &el) && rd_mpint(&r, &m, &ml)) ||
	    (str_is(t, tl, "ssh-dss") && rd_mpint(&r, &m, &ml)))
		snprintf(desc, descsz, "%.*s %u-bit", (int)tl, (const char *)t, mag_bits(m, ml));
	else
		snprintf(desc, descsz, "%.*s", (int)tl, (const char *)t);
}

/* ---- OpenSSH's private key format (PROTOCOL.key in OpenSSH's sources) ---- */

static const struct {
	const char *name;
	unsigned block, tag;
} ssh_ciphers[] = {
    {"aes128-ctr", 16, 0},
    {"aes192-ctr", 16, 0},
    {"aes256-ctr", 16, 0},
    {"aes128-cbc", 16, 0},
    {"aes192-cbc", 16, 0},
    {"aes256-cbc", 16, 0},
    {"aes128-gcm@openssh.com", 16, 16},
    {"aes256-gcm@openssh.com", 16, 16},
    {"chacha20-poly1305@openssh.com", 8, 16},
    {"3des-cbc", 8, 0},
};

/* Private fields after the key type, per type (sshkey.c, sshkey_private_serialize). */
static const char *openssh_fields(const uint8_t *t, size_t tl)
{
	if (str_is(t, tl, "ssh-rsa"))
		return "mmmmmm";
	if (str_is(t, tl, "ssh-dss"))
		return "mmmmm";
	if (str_is(t, tl, "ssh-ed25519"))
		return "36";
	if (str_starts(t, tl, "ecdsa-sha2-"))
		return "ssm";
	if (str_is(t, tl, "sk-ssh-ed25519@openssh.com"))
		return "3sbss";
	if (str_is(t, tl, "sk-ecdsa-sha2-nistp256@openssh.com"))
		return "sssbss";
	return NULL;
}

static bool openssh_check(const uint8_t *p, size_t n, char *desc, size_t descsz)
{
	static const uint8_t magic[] = "openssh-key-v1"; /* with its NUL */
	sshrd r = {p, n, 0};
	const uint8_t *ciph, *kdf, *kopt, *pub = NULL, *priv, *s;
	size_t ciphl, kdfl, koptl, publ = 0, privl, l;
	uint32_t nkeys, c1, c2;
	unsigned block = 8, tag = 0;
	bool none;

	if (n < sizeof(magic) || memcmp(p, magic, sizeof(magic)) != 0)
		return false;
	r.off = sizeof(magic);
	if (!rd_str(&r, &ciph, &ciphl) || !is_name(ciph, ciphl) || !rd_str(&r, &kdf, &kdfl) ||
	    !is_name(kdf, kdfl) || !rd_str(&r, &kopt, &koptl) || !rd_u32(&r, &nkeys))
		return false;
	/* OpenSSH writes exactly one key; more than a handful is not this format. */
	if (nkeys < 1 || nkeys > 16)
		return false;
	for (uint32_t i = 0; i < nkeys; i++) {
		if (!rd_str(&r, &s, &l))
			return false;
		sshrd pr = {s, l, 0};
		const uint8_t *t;
		size_t tl;
		if (!rd_str(&pr, &t, &tl) || !is_name(t, tl))
			return false;
		if (i == 0) {
			pub = s;
			publ = l;
		}
	}
	if (!rd_str(&r, &priv, &privl) || privl == 0)
		return false;

	none = str_is(ciph, ciphl, "none");
	if (none) {
		if (!str_is(kdf, kdfl, "none") || koptl != 0)
			return false;
	} else {
		size_t i;
		for (i = 0; i < sizeof(ssh_ciphers) / sizeof(ssh_ciphers[0]); i++)
			if (str_is(ciph, ciphl, ssh_ciphers[i].name))
				break;
		if (i == sizeof(ssh_ciphers) / sizeof(ssh_ciphers[0]))
			return false;
		block = ssh_ciphers[i].block;
		tag = ssh_ciphers[i].tag;
		/* kdfoptions for bcrypt: string salt, uint32 rounds, nothing else. */
		sshrd kr = {kopt, koptl, 0};
		uint32_t rounds;
		if (!str_is(kdf, kdfl, "bcrypt") || !rd_str(&kr, &s, &l) || l == 0 || l > 64 ||
		    !rd_u32(&kr, &rounds) || rounds == 0 || kr.off != koptl)
			return false;
	}
	/* AEAD ciphers append their tag after the private section. */
	if (privl % block != 0 || r.n - r.off != tag)
		return false;

	ssh_pub_desc(pub, publ, desc, descsz);
	if (!none) {
		size_t dl = strlen(desc);
		snprintf(desc + dl, descsz - dl, "%sencrypted %.*s", dl ? ", " : "", (int)ciphl,
			 (const char *)ciph);
		return true;
	}

	/* Plain: two equal check-ints, then per key its type (same as the public key's), its
	 * fields, a comment; then padding 1, 2, 3, ... to the block size. */
	sshrd pr = {priv, privl, 0};
	if (!rd_u32(&pr, &c1) || !rd_u32(&pr, &c2) || c1 != c2)
		return false;
	const uint8_t *t, *pt;
	size_t tl, ptl;
	sshrd pubr = {pub, publ, 0};
	if (!rd_str(&pubr, &pt, &ptl) || !rd_str(&pr, &t, &tl) || tl != ptl ||
	    memcmp(t, pt, tl) != 0)
		return false;
	const char *spec = openssh_fields(t, tl);
	if (spec == NULL || nkeys != 1)
		return true; /* a type we do not know the fields of: the check-ints suffice */
	if (!rd_fields(&pr, spec) || !rd_str(&pr, &s, &l))
		return false;
	for (uint8_t i = 1; pr.off < pr.n; i++)
		if (pr.p[pr.off++] != i || i >= block)
			return false;
	return true;
}

/* ---- PEM ---- */

enum pem_kind { K_RSA, K_EC, K_DSA, K_OPENSSH, K_PKCS8_ENC, K_ANY, K_PKCS8 };

static const struct {
	const char *label;
	enum pem_kind kind;
} pem_labels[] = {
    {"RSA PRIVATE KEY", K_RSA},
    {"EC PRIVATE KEY", K_EC},
    {"DSA PRIVATE KEY", K_DSA},
    {"OPENSSH PRIVATE KEY", K_OPENSSH},
    {"ENCRYPTED PRIVATE KEY", K_PKCS8_ENC},
    {"ANY PRIVATE KEY", K_ANY},
    {"PRIVATE KEY", K_PKCS8},
};
#define PEM_LABELS (sizeof(pem_labels) / sizeof(pem_labels[0]))

/* The label index if p[0,n) starts with "<label>-----", else -1. */
static int pem_label_at(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < PEM_LABELS; i++) {
		size_t l = strlen(pem_labels[i].label);
		if (n >= l + 5 && memcmp(p, pem_labels[i].label, l) == 0 &&
		    memcmp(p + l, "-----", 5) == 0)
			return (int)i;
	}
	return -1;
}

typedef struct pem_info {
	int label;
	const char *detector;
	char desc[64]; /* "2048-bit RSA", "encrypted, AES-256-CBC": never key material */
	size_t der_len;
} pem_info;

static const uint8_t *find_last(const uint8_t *p, size_t n, const char *lit)
{
	size_t l = strlen(lit), lim;

	if (n < l)
		return NULL;
	/* Candidates start in [0, lim). */
	for (lim = n - l + 1; lim > 0;) {
		const uint8_t *q = memrchr(p, lit[0], lim);
		if (q == NULL)
			return NULL;
		if (memcmp(q, lit, l) == 0)
			return q;
		lim = (size_t)(q - p);
	}
	return NULL;
}

static bool in_set(uint8_t ch, const char *set)
{
	return ch != 0 && strchr(set, ch) != NULL;
}

/* Is p[i] the start of a JSON "\uXXXX" escape? Sets *ch to its value if it is ASCII. */
static bool json_u_escape(const uint8_t *p, size_t n, size_t i, uint8_t *ch)
{
	unsigned v = 0;

	if (n - i < 6 || p[i + 1] != 'u')
		return false;
	for (size_t k = 2; k < 6; k++) {
		uint8_t h = p[i + k];
		if (!is_hex(h))
			return false;
		v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
	}
	if (v >= 0x80)
		return false;
	*ch = (uint8_t)v;
	return true;
}

/* Length of a newline written as an XML character reference at p[i], or 0. */
static size_t xml_newline(const uint8_t *p, size_t n, size_t i)
{
	static const char *const refs[] = {"&#10;", "&#13;", "&#xA;", "&#xa;", "&#xD;", "&#xd;"};

	for (size_t k = 0; k < sizeof(refs) / sizeof(refs[0]); k++) {
		size_t l = strlen(refs[k]);
		if (n - i >= l && memcmp(p + i, refs[k], l) == 0)
			return l;
	}
	return 0;
}

static bool is_quote(uint8_t ch)
{
	return ch == '"' || ch == '\'';
}

/*
 * Normalises a PEM body into lines separated by '\n' with blanks removed. Line breaks
 * may be real (LF, CRLF), JSON escapes ("\n", "\r\n", "\\n" when escaped twice, "\u000a"),
 * or XML character references; "\/" and "\u002b"-style escapes of base64 characters are
 * decoded; string quotes joining source-code lines ("...\n" + "...") are dropped; comment
 * or quote markers at the start of a line ("# ", " * ", "> ") are dropped. Whatever else
 * is there stays and is judged by the caller: this only undoes the ways a key gets
 * embedded. Returns the output length; out needs n bytes.
 */
static size_t pem_normalise(const uint8_t *p, size_t n, uint8_t *out)
{
	size_t o = 0, i = 0;
	bool line_start = true;

	while (i < n) {
		uint8_t ch = p[i], u;
		size_t l;

		if (ch == '\n' || ch == '\r') {
			out[o++] = '\n';
			line_start = true;
			i++;
		} else if (ch == ' ' || ch == '\t') {
			i++;
		} else if (ch == '\\') {
			size_t j = i;
			while (j < n && p[j] == '\\')
				j++;
			if (j < n && (p[j] == 'n' || p[j] == 'r')) {
				out[o++] = '\n';
				line_start = true;
				i = j + 1;
			} else if (j < n && p[j] == '/') {
				out[o++] = '/';
				line_start = false;
				i = j + 1;
			} else if (json_u_escape(p, n, j - 1, &u)) {
				out[o++] = (u == '\r') ? '\n' : u;
				line_start = (u == '\n' || u == '\r');
				i = j + 5;
			} else if (j == n || p[j] == '\n' || p[j] == '\r' || p[j] == ' ') {
				i = j; /* a line continuation in a shell or C string */
			} else {
				out[o++] = ch;
				i++;
			}
		} else if (ch == '&' && (l = xml_newline(p, n, i)) != 0) {
			out[o++] = '\n';
			line_start = true;
			i += l;
		} else if (is_quote(ch)) {
			/* Skip a closing quote, any joining operator and the next opening quote. */
			size_t j = i + 1;
			while (j < n && in_set(p[j], " \t\r\n+.,&_"))
				j++;
			if (j < n && is_quote(p[j])) {
				out[o++] = '\n';
				line_start = true;
				i = j + 1;
			} else {
				i++;
			}
		} else if (line_start && in_set(ch, "#;*>")) {
			i++;
		} else {
			out[o++] = ch;
			line_start = false;
			i++;
		}
	}
	return o;
}

/* "DEK-Info:AES-256-CBC,<hex IV>" (blanks already removed): a cipher OpenSSL knows and an
 * IV of its length. Returns the cipher's block size, or 0. */
static unsigned dek_info_block(const uint8_t *v, size_t n)
{
	const uint8_t *comma = memchr(v, ',', n);
	const EVP_CIPHER *ciph;
	char name[40];
	size_t nl, ivl;

	if (comma == NULL || (nl = (size_t)(comma - v)) == 0 || nl >= sizeof(name))
		return 0;
	memcpy(name, v, nl);
	name[nl] = '\0';
	ivl = n - nl - 1;
	for (size_t i = 0; i < ivl; i++)
		if (!is_hex(comma[1 + i]))
			return 0;
	if ((ciph = EVP_get_cipherbyname(name)) == NULL || EVP_CIPHER_get_iv_length(ciph) <= 0 ||
	    ivl != 2 * (size_t)EVP_CIPHER_get_iv_length(ciph))
		return 0;
	return (unsigned)EVP_CIPHER_get_block_size(ciph);
}

static bool der_rsa_ec_dsa(int type, const uint8_t *der, size_t n, pem_info *info, const char *name)
{
	const unsigned char *q = der;
	EVP_PKEY *k = d2i_PrivateKey(type, NULL, &q, (long)n);
	bool ok = k != NULL && q == der + n;

	if (ok)
		snprintf(info->desc, sizeof(info->desc), "%d-bit %s", EVP_PKEY_get_bits(k), name);
	EVP_PKEY_free(k);
	return ok;
}

static bool der_pkcs8(const uint8_t *der, size_t n, pem_info *info)
{
	const unsigned char *q = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)n);
	EVP_PKEY *k = NULL;
	const ASN1_OBJECT *obj = NULL;
	bool ok = false;

	if (p8 == NULL || q != der + n || !PKCS8_pkey_get0(&obj, NULL, NULL, NULL, p8))
		goto out;
	k = EVP_PKCS82PKEY(p8);
	if (k != NULL) {
		int id = EVP_PKEY_get_base_id(k);
		const char *tn = EVP_PKEY_get0_type_name(k);
		if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS || id == EVP_PKEY_EC ||
		    id == EVP_PKEY_DSA || id == EVP_PKEY_DH)
			snprintf(info->desc, sizeof(info->desc), "%d-bit %s", EVP_PKEY_get_bits(k),
				 tn ? tn : "key");
		else
			snprintf(info->desc, sizeof(info->desc), "%s", tn ? tn : "key");
		ok = true;
		goto out;
	}
	/* OpenSSL could not load it. For an algorithm it knows, that means the key inside
	 * is broken; for one it does not (GOST, post-quantum, ...) the envelope must do. */
	switch (OBJ_obj2nid(obj)) {
	case NID_rsaEncryption:
	case NID_rsassaPss:
	case NID_X9_62_id_ecPublicKey:
	case NID_dsa:
	case NID_dhKeyAgreement:
	case NID_ED25519:
	case NID_ED448:
	case NID_X25519:
	case NID_X448:
		goto out;
	default:
		break;
	}
	OBJ_obj2txt(info->desc, sizeof(info->desc), obj, 0);
	ok = true;
out:
	EVP_PKEY_free(k);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return ok;
}

static bool der_pkcs8_encrypted(const uint8_t *der, size_t n, pem_info *info)
{
	const unsigned char *q = der;
	X509_SIG *sig = d2i_X509_SIG(NULL, &q, (long)n);
	const X509_ALGOR *alg = NULL;
	const ASN1_OCTET_STRING *data = NULL;
	const ASN1_OBJECT *obj = NULL;
	char name[32];
	bool ok = false;

	if (sig == NULL || q != der + n)
		goto out;
	X509_SIG_get0(sig, &alg, &data);
	/* The smallest key (Ed25519 PKCS#8, 48 bytes) encrypts to at least that much. */
	if (alg == NULL || data == NULL || ASN1_STRING_length(data) < 16)
		goto out;
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	if (obj == NULL || OBJ_obj2txt(name, sizeof(name), obj, 0) <= 0)
		snprintf(name, sizeof(name), "unknown");
	snprintf(info->desc, sizeof(info->desc), "encrypted PKCS#8, %s", name);
	ok = true;
out:
	X509_SIG_free(sig);
	return ok;
}

/* Judges a decoded body by its label. der is not consumed. */
static bool pem_classify(enum pem_kind kind, const uint8_t *der, size_t n, bool encrypted,
			 unsigned block, const char *cipher, pem_info *info)
{
	static const struct {
		int type;
		const char *name, *plain, *enc;
	} trad[] = {
	    [K_RSA] = {EVP_PKEY_RSA, "RSA", "pem.rsa", "pem.rsa_encrypted"},
	    [K_EC] = {EVP_PKEY_EC, "EC", "pem.ec", "pem.ec_encrypted"},
	    [K_DSA] = {EVP_PKEY_DSA, "DSA", "pem.dsa", "pem.dsa_encrypted"},
	};

	if (encrypted) {
		/* Legacy OpenSSL encryption (RFC 1421 headers): the body is CBC ciphertext. */
		if (kind != K_RSA && kind != K_EC && kind != K_DSA && kind != K_ANY)
			return false;
		if (block == 0 || n < 64 || n % 8 != 0 || n % block != 0)
			return false;
		info->detector = kind == K_ANY ? "pem.any" : trad[kind].enc;
		snprintf(info->desc, sizeof(info->desc), "encrypted, %s", cipher);
		return true;
	}
	switch (kind) {
	case K_RSA:
	case K_EC:
	case K_DSA:
		info->detector = trad[kind].plain;
		return der_rsa_ec_dsa(trad[kind].type, der, n, info, trad[kind].name);
	case K_PKCS8:
		info->detector = "pem.pkcs8";
		return der_pkcs8(der, n, info);
	case K_PKCS8_ENC:
		info->detector = "pem.pkcs8_encrypted";
		return der_pkcs8_encrypted(der, n, info);
	case K_OPENSSH:
		info->detector = "openssh.private_key";
		return openssh_check(der, n, info->desc, sizeof(info->desc));
	case K_ANY:
		info->detector = "pem.any";
		return der_pkcs8(der, n, info) || der_pkcs8_encrypted(der, n, info) ||
		       der_rsa_ec_dsa(EVP_PKEY_RSA, der, n, info, "RSA") ||
		       der_rsa_ec_dsa(EVP_PKEY_EC, der, n, info, "EC") ||
		       der_rsa_ec_dsa(EVP_PKEY_DSA, der, n, info, "DSA") ||
		       openssh_check(der, n, info->desc, sizeof(info->desc));
	}
	return false;
}

/*
 * Judges p[0,n): "-----BEGIN <label>-----", a body, "-----END <label>-----" (anything
 * after the END line is ignored). Writes the DER (or ciphertext) to out.
 */
static bool pem_judge(const uint8_t *p, size_t n, uint8_t *out, size_t cap, pem_info *info)
{
	const uint8_t *endl, *body;
	uint8_t *work = out;
	size_t blen, wlen = 0, ls;
	bool ok = false, data = false, encrypted = false;
	unsigned block = 0;
	char cipher[40] = "";
	b64dec d;
	int label;

	memset(info, 0, sizeof(*info));
	if (n < 11 || memcmp(p, "-----BEGIN ", 11) != 0)
		return false;
	if ((label = pem_label_at(p + 11, n - 11)) < 0)
		return false;
	info->label = label;
	body = p + 11 + strlen(pem_labels[label].label) + 5;
	endl = find_last(body, n - (size_t)(body - p), "-----END ");
	if (endl == NULL || pem_label_at(endl + 9, n - (size_t)(endl + 9 - p)) != label)
		return false;
	blen = (size_t)(endl - body);
	if (blen > PEM_BODY_MAX)
		return false;

	b64_init(&d, out, cap);
	ERR_set_mark();
	if (cap < blen && (work = malloc(blen)) == NULL)
		goto out;
	wlen = pem_normalise(body, blen, work);

	/* Decoding writes behind the normalised text it reads, so out may be work. */
	for (size_t i = 0; i < wlen; i = ls + 1) {
		const uint8_t *line = work + i, *nl = memchr(line, '\n', wlen - i);
		size_t ll = nl ? (size_t)(nl - line) : wlen - i;
		ls = i + ll;
		if (ll == 0)
			continue;
		if (memchr(line, ':', ll) != NULL) {
			/* RFC 1421 headers come before the data. */
			if (data)
				goto out;
			if (str_starts(line, ll, "Proc-Type:") &&
			    memcmp(line + ll - 10, ",ENCRYPTED", 10) == 0)
				encrypted = true;
			if (str_starts(line, ll, "DEK-Info:")) {
				block = dek_info_block(line + 9, ll - 9);
				const uint8_t *comma = memchr(line, ',', ll);
				size_t cl = comma ? (size_t)(comma - line) - 9 : 0;
				if (block != 0 && cl < sizeof(cipher)) {
					memcpy(cipher, line + 9, cl);
					cipher[cl] = '\0';
				}
			}
			continue;
		}
		data = true;
		for (size_t k = 0; k < ll; k++)
			b64_put(&d, line[k]);
	}
	if (!data || !b64_finish(&d, false))
		goto out;
	info->der_len = d.len;
	ok = pem_classify(pem_labels[label].kind, out, d.len, encrypted, block, cipher, info);
out:
	ERR_pop_to_mark();
	b64_wipe(&d);
	if (work != out) {
		if (work != NULL)
			explicit_bzero(work, blen);
		free(work);
	} else if (wlen > (ok ? info->der_len : 0)) {
		/* What is left of the normalised body text is key material too. */
		size_t keep = ok ? info->der_len : 0;
		explicit_bzero(out + keep, wlen - keep);
	}
	if (!ok) {
		explicit_bzero(out, d.len < cap ? d.len : cap);
		info->der_len = 0;
	}
	return ok;
}

bool vigil_pem_private_key(const uint8_t *p, size_t n, const char **detector, uint8_t *out,
			   size_t cap, size_t *out_len)
{
	pem_info info;

	*detector = NULL;
	*out_len = 0;
	if (!pem_judge(p, n, out, cap, &info))
		return false;
	*detector = info.detector;
	*out_len = info.der_len;
	return true;
}

static void pem_emit(vigil_check *c, size_t start, size_t end, const pem_info *info,
		     const char *how)
{
	vigil_hit h = {
	    .start = start,
	    .end = end,
	    .category = VIGIL_CAT_PRIVATE_KEY,
	    .detector = info->detector,
	    .confidence = VIGIL_CONF_HIGH,
	    .norm = c->scratch,
	    .norm_len = info->der_len,
	};

	snprintf(h.redacted, sizeof(h.redacted), "-----BEGIN %s----- (%s%.40s%sbody redacted)",
		 pem_labels[info->label].label, how, info->desc, info->desc[0] ? ", " : "");
	c->emit(c, &h);
}

size_t vigil_validate_pem(vigil_check *c)
{
	const uint8_t *b = c->buf;
	size_t e = c->end, es = 0, lo;
	const uint8_t *bs;
	pem_info info;
	int label = -1;

	if (e > c->len)
		return 0;
	/* The trigger is "-----END " [label] "-----": find which label ends at e. */
	for (size_t i = 0; i < PEM_LABELS && label < 0; i++) {
		size_t l = 9 + strlen(pem_labels[i].label) + 5;
		if (e >= l && memcmp(b + e - l, "-----END ", 9) == 0 &&
		    pem_label_at(b + e - l + 9, l - 9) == (int)i) {
			label = (int)i;
			es = e - l;
		}
	}
	if (label < 0)
		return 0;
	/* The nearest BEGIN before it must carry the same label: "BEGIN CERTIFICATE" ...
	 * "END PRIVATE KEY" is two broken blocks, not a key. */
	lo = e > PEM_LOOK_BACK ? e - PEM_LOOK_BACK : 0;
	bs = find_last(b + lo, es - lo, "-----BEGIN ");
	if (bs == NULL || pem_label_at(bs + 11, (size_t)(b + es - bs) - 11) != label)
		return 0;
	if (!pem_judge(bs, e - (size_t)(bs - b), c->scratch, VIGIL_SCRATCH_SIZE, &info))
		return 0;
	pem_emit(c, (size_t)(bs - b), e, &info, "");
	return 0;
}

/* ---- base64-encoded PEM (Kubernetes secrets, .env values, ...) ---- */

/*
 * The trigger is one of the three base64 spellings of "-----BEGIN ", depending on where
 * the first '-' falls in a 3-byte group. Each gives the position of a group boundary and
 * how many of the five dashes are before it.
 */
static const struct {
	const char *lit;
	size_t boundary; /* from the literal's start */
	const char *lost;
} b64_begin[] = {
    {"LS0tLS1CRUdJTi", 0, ""},   /* "-----BEGIN " */
    {"0tLS0tQkVHSU4g", 2, "--"}, /* x"--" | "---BEGIN " */
    {"tLS0tLUJFR0lOI", 1, "-"},  /* xx"-" | "----BEGIN " */
};
#define B64_LIT_LEN 14

/*
 * Walks a base64 run: the alphabet and '='; line breaks (real, or JSON "\n" escapes)
 * followed by indentation. Anything else ends the run. Returns the position of the next
 * base64 character, or SIZE_MAX at the end of the run.
 */
static size_t b64_next(const uint8_t *b, size_t lim, size_t *pos)
{
	size_t i = *pos;

	for (;;) {
		if (i >= lim)
			return SIZE_MAX;
		if (is_b64(b[i]) || b[i] == '=') {
			*pos = i + 1;
			return i;
		}
		size_t j = i;
		if (b[i] == '\n' || b[i] == '\r') {
			j = i + 1;
		} else if (b[i] == '\\') {
			while (j < lim && b[j] == '\\')
				j++;
			if (j >= lim || (b[j] != 'n' && b[j] != 'r'))
				return SIZE_MAX;
			j++;
		} else {
			return SIZE_MAX;
		}
		while (j < lim && (b[j] == ' ' || b[j] == '\t'))
			j++;
		i = j;
	}
}

/* The window position of the k-th base64 character (0-based) of the run at q0. */
static size_t b64_char_pos(const uint8_t *b, size_t lim, size_t q0, size_t k)
{
	size_t pos = q0, at = q0;

	for (size_t i = 0; i <= k; i++) {
		size_t x = b64_next(b, lim, &pos);
		if (x == SIZE_MAX)
			break;
		at = x;
	}
	return at;
}

/* Does the "-----BEGIN " at decoded byte k of the run at q0 carry its trigger literal
 * unbroken in the window? */
static bool b64_has_trigger(const uint8_t *b, size_t lim, size_t q0, size_t k)
{
	static const size_t skip[3] = {0, 2, 3}; /* literal start within the 4-char group */
	size_t pos = b64_char_pos(b, lim, q0, k / 3 * 4 + skip[k % 3]);

	return lim >= B64_LIT_LEN && pos <= lim - B64_LIT_LEN &&
	       memcmp(b + pos, b64_begin[k % 3].lit, B64_LIT_LEN) == 0;
}

size_t vigil_validate_pem_base64(vigil_check *c)
{
	/* scratch: DER of each key in the low half, the decoded text above it. */
	const size_t text_off = 40u * 1024u, text_cap = VIGIL_SCRATCH_SIZE - text_off;
	const uint8_t *b = c->buf;
	uint8_t *text = c->scratch + text_off;
	size_t e = c->end, q0 = 0, pos, x, lost = 0, tl;
	b64dec d;
	size_t v;

	if (e > c->len || e < B64_LIT_LEN)
		return 0;
	for (v = 0; v < sizeof(b64_begin) / sizeof(b64_begin[0]); v++)
		if (memcmp(b + e - B64_LIT_LEN, b64_begin[v].lit, B64_LIT_LEN) == 0)
			break;
	if (v == sizeof(b64_begin) / sizeof(b64_begin[0]))
		return 0;
	q0 = e - B64_LIT_LEN + b64_begin[v].boundary;
	lost = strlen(b64_begin[v].lost);
	memcpy(text, b64_begin[v].lost, lost);

	b64_init(&d, text + lost, text_cap - lost);
	pos = q0;
	while ((x = b64_next(b, c->len, &pos)) != SIZE_MAX) {
		if (d.len + d.nstage / 4 * 3 + 3 > d.cap)
			break;
		b64_put(&d, b[x]);
		if (d.bad)
			break;
		if (d.pad && d.nchars % 4 == 0)
			break;
	}
	d.bad = false; /* what came before a stray character still counts */
	if (d.pad && d.nchars % 4 != 0)
		d.pad = 0, d.nstage -= d.nstage % 4;
	if (!b64_finish(&d, true))
		goto out;
	tl = lost + d.len;

	/* Judge the block this trigger starts and the blocks after it in the same run that
	 * have no trigger of their own, their literal being split by a line break; a block
	 * with its own trigger is left to it. So each key is reported once, whether the three
	 * literals are one rule or three. Decoded byte k comes from base64 character
	 * (k - lost) * 4 / 3 of the run. */
	for (size_t i = 0; i + 11 <= tl;) {
		const uint8_t *bg = memmem(text + i, tl - i, "-----BEGIN ", 11);
		if (bg == NULL)
			break;
		size_t ds = (size_t)(bg - text);
		if (ds > 0 && b64_has_trigger(b, c->len, q0, ds - lost))
			break;
		int label = pem_label_at(bg + 11, tl - ds - 11);
		const uint8_t *en = memmem(bg + 11, tl - ds - 11, "-----END ", 9);
		if (en == NULL)
			break; /* cut off by the window */
		size_t de = (size_t)(en - text) + 9;
		int elabel = pem_label_at(en + 9, tl - de);
		if (elabel >= 0)
			de += strlen(pem_labels[elabel].label) + 5;
		i = de;
		if (label < 0 || elabel != label)
			continue;
		pem_info info;
		if (!pem_judge(bg, de - ds, c->scratch, text_off, &info))
			continue;
		size_t src_start =
		    ds == 0 ? e - B64_LIT_LEN : b64_char_pos(b, c->len, q0, (ds - lost) / 3 * 4);
		size_t src_end = b64_char_pos(b, c->len, q0, ((de - lost) * 4 + 2) / 3 - 1) + 1;
		pem_emit(c, src_start, src_end, &info, "base64, ");
		explicit_bzero(c->scratch, info.der_len);
	}
out:
	explicit_bzero(text, text_cap);
	return 0;
}

/* ---- PuTTY .ppk (PuTTY's sshpubk.c; format documented in the PuTTY manual, appendix C) */

typedef struct lines {
	const uint8_t *b;
	size_t pos, lim;
	bool escaped; /* lines end in JSON "\n" escapes rather than real newlines */
} lines;

/* The next line as [*s, *s + *n); false at the end of the window. */
static bool next_line(lines *L, const uint8_t **s, size_t *n)
{
	const uint8_t *b = L->b;
	size_t i = L->pos;

	if (i >= L->lim)
		return false;
	for (; i < L->lim; i++) {
		if (!L->escaped && (b[i] == '\n' || b[i] == '\r'))
			break;
		if (L->escaped && b[i] == '"')
			break; /* the end of the JSON string */
		if (L->escaped && b[i] == '\\' && i + 1 < L->lim &&
		    (b[i + 1] == 'n' || b[i + 1] == 'r'))
			break;
		if (i - L->pos > 4096)
			return false;
	}
	if (i >= L->lim)
		return false; /* no line end: cut by the window, or the last line of the file */
	*s = b + L->pos;
	*n = i - L->pos;
	if (!L->escaped) {
		if (b[i] == '\r' && i + 1 < L->lim && b[i + 1] == '\n')
			i++;
		i++;
	} else if (b[i] == '"') {
		/* Stay on the quote: every later line read fails. */
	} else {
		if (b[i + 1] == 'r' && i + 3 < L->lim && b[i + 2] == '\\' && b[i + 3] == 'n')
			i += 2;
		i += 2;
	}
	L->pos = i;
	return true;
}

/* "Key: value" with the exact key; value is what follows ": ". */
static bool header(const uint8_t *s, size_t n, const char *key, const uint8_t **v, size_t *vl)
{
	size_t kl = strlen(key);

	if (n < kl + 2 || memcmp(s, key, kl) != 0 || s[kl] != ':' || s[kl + 1] != ' ')
		return false;
	*v = s + kl + 2;
	*vl = n - kl - 2;
	return true;
}

static bool parse_count(const uint8_t *v, size_t n, unsigned max, unsigned *out)
{
	unsigned x = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (v[i] - '0');
	}
	if (x == 0 || x > max)
		return false;
	*out = x;
	return true;
}

static bool all_hex(const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_hex(v[i]))
			return false;
	return n > 0;
}

/* Reads "<key>: N" then N lines of base64 into d. */
static bool ppk_blob(lines *L, const uint8_t *s, size_t n, const char *key, b64dec *d)
{
	const uint8_t *v;
	size_t vl;
	unsigned count;

	if (!header(s, n, key, &v, &vl) || !parse_count(v, vl, 1024, &count))
		return false;
	for (unsigned i = 0; i < count; i++) {
		if (!next_line(L, &s, &n) || n == 0 || n > 128)
			return false;
		for (size_t k = 0; k < n; k++)
			b64_put(d, s[k]);
	}
	return b64_finish(d, false) && d->len > 0;
}

/* Private fields of an unencrypted PPK, per key type (PuTTY's *_private_blob). */
static bool ppk_private_ok(const uint8_t *t, size_t tl, const uint8_t *p, size_t n)
{
	sshrd r = {p, n, 0};
	const char *spec = "s";

	if (str_is(t, tl, "ssh-rsa"))
		spec = "mmmm";
	else if (str_is(t, tl, "ssh-dss") || str_starts(t, tl, "ecdsa-sha2-"))
		spec = "m";
	else if (str_is(t, tl, "ssh-ed25519"))
		spec = "3";
	else if (str_is(t, tl, "ssh-ed448"))
		spec = "9";
	/* PuTTY pads only encrypted blobs; allow a block's worth for other writers. */
	return rd_fields(&r, spec) && r.n - r.off < 16;
}

size_t vigil_validate_ppk(vigil_check *c)
{
	static const char tag[] = "PuTTY-User-Key-File-";
	const size_t trig = sizeof(tag) - 1 + 3; /* "PuTTY-User-Key-File-2: " */
	const uint8_t *b = c->buf, *s, *v, *type;
	size_t e = c->end, n, vl, tl, start, mac_len;
	uint8_t *priv = c->scratch, *pub = c->scratch + VIGIL_SCRATCH_SIZE / 2;
	lines L;
	b64dec dpub, dpriv;
	bool encrypted, kdf = false;
	char version;

	if (e > c->len || e < trig)
		return 0;
	start = e - trig;
	if (memcmp(b + start, tag, sizeof(tag) - 1) != 0)
		return 0;
	version = (char)b[start + sizeof(tag) - 1];
	if (version != '2' && version != '3')
		return 0;

	/* The key type line decides whether lines end in real newlines or JSON escapes. */
	L = (lines){b, e, c->len, false};
	for (size_t i = e; i < c->len && i < e + 80; i++) {
		if (b[i] == '\n' || b[i] == '\r')
			break;
		if (b[i] == '\\') {
			L.escaped = true;
			break;
		}
	}
	if (!next_line(&L, &type, &tl) || !is_name(type, tl))
		return 0;
	if (!next_line(&L, &s, &n) || !header(s, n, "Encryption", &v, &vl))
		return 0;
	if (str_is(v, vl, "none"))
		encrypted = false;
	else if (str_is(v, vl, "aes256-cbc"))
		encrypted = true;
	else
		return 0;
	if (!next_line(&L, &s, &n) || !header(s, n, "Comment", &v, &vl))
		return 0;
	if (!next_line(&L, &s, &n))
		return 0;
	b64_init(&dpub, pub, VIGIL_SCRATCH_SIZE / 2);
	b64_init(&dpriv, priv, VIGIL_SCRATCH_SIZE / 2);
	if (!ppk_blob(&L, s, n, "Public-Lines", &dpub))
		goto fail;
	/* Version 3 puts the Argon2 parameters of an encrypted key here. */
	for (;;) {
		if (!next_line(&L, &s, &n))
			goto fail;
		if (version == '3' && encrypted && header(s, n, "Key-Derivation", &v, &vl)) {
			if (!str_is(v, vl, "Argon2id") && !str_is(v, vl, "Argon2i") &&
			    !str_is(v, vl, "Argon2d"))
				goto fail;
			kdf = true;
		} else if (version == '3' && encrypted &&
			   (header(s, n, "Argon2-Memory", &v, &vl) ||
			    header(s, n, "Argon2-Passes", &v, &vl) ||
			    header(s, n, "Argon2-Parallelism", &v, &vl) ||
			    header(s, n, "Argon2-Salt", &v, &vl))) {
			if (!all_hex(v, vl))
				goto fail;
		} else {
			break;
		}
	}
	if (version == '3' && encrypted && !kdf)
		goto fail;
	if (!ppk_blob(&L, s, n, "Private-Lines", &dpriv))
		goto fail;
	/* The MAC: HMAC-SHA-1 in version 2, HMAC-SHA-256 in version 3. It may be the last
	 * line of the file, without a newline. */
	mac_len = version == '2' ? 40u : 64u;
	if (next_line(&L, &s, &n)) {
		if (!header(s, n, "Private-MAC", &v, &vl))
			goto fail;
	} else if (!c->eof || c->len - L.pos != 13 + mac_len ||
		   !header(b + L.pos, 13 + mac_len, "Private-MAC", &v, &vl)) {
		goto fail;
	}
	if (vl != mac_len || !all_hex(v, vl))
		goto fail;

	{
		sshrd pr = {pub, dpub.len, 0};
		const uint8_t *pt;
		size_t ptl;
		if (!rd_str(&pr, &pt, &ptl) || ptl != tl || memcmp(pt, type, tl) != 0)
			goto fail;
	}
	if (encrypted ? dpriv.len % 16 != 0 : !ppk_private_ok(type, tl, priv, dpriv.len))
		goto fail;

	{
		char desc[48];
		vigil_hit h = {
		    .start = start,
		    .end = (size_t)(v + vl - b),
		    .category = VIGIL_CAT_PRIVATE_KEY,
		    .detector = version == '2' ? "ppk.v2" : "ppk.v3",
		    .confidence = VIGIL_CONF_HIGH,
		    .norm = priv,
		    .norm_len = dpriv.len,
		};
		ssh_pub_desc(pub, dpub.len, desc, sizeof(desc));
		snprintf(h.redacted, sizeof(h.redacted),
			 "PuTTY-User-Key-File-%c: %.40s (%sbody redacted)", version, desc,
			 encrypted ? "encrypted, " : "");
		c->emit(c, &h);
		return h.end;
	}
fail:
	b64_wipe(&dpriv);
	explicit_bzero(priv, dpriv.len);
	return 0;
}
