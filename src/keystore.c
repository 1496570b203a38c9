/* SPDX-License-Identifier: Apache-2.0 */
/* Binary key containers at the head of a stream: PKCS#12/PFX recognised by its DER structure,
 * Java JKS/JCEKS keystores by their magic; reported when they hold a private or secret key. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "detect.h"

/* ---- PKCS#12 (RFC 7292) ---- */

enum p12_verdict { P12_NONE, P12_KEY };

/* Passwords tried on encrypted contents: none at all, the empty one (which PKCS#12's own
 * KDF encodes differently from none), and the JDK's well-known default. */
static const char *const p12_passwords[] = {NULL, "", "changeit"};

/* An attacker can ask for billions of KDF rounds; never spend more than this on a file. */
#define P12_KDF_BUDGET 300000L
#define P12_NEST_MAX   4

/*
 * The outer shape of a PFX: SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-data, ... } } with
 * a definite length within the buffer. Returns the PFX's length, or 0. Cheap, so every
 * stream starting with 0x30 can go through it before OpenSSL parses anything.
 */
static size_t p12_shape(const uint8_t *b, size_t len)
{
	static const uint8_t version[] = {0x02, 0x01, 0x03};
	static const uint8_t oid_data[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					   0xf7, 0x0d, 0x01, 0x07, 0x01};
	const unsigned char *p = b, *q;
	long l, l2;
	int tag, cls, r;
	size_t total = 0, rest;

	if (len < 16 || b[0] != 0x30 || len > (size_t)LONG_MAX)
		return 0;
	ERR_set_mark();
	r = ASN1_get_object(&p, &l, &tag, &cls, (long)len);
	/* 0x80 is an error (including a length past the buffer); 0x21 an indefinite length. */
	if (r != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL)
		goto out;
	total = (size_t)(p - b) + (size_t)l;
	rest = (size_t)l;
	if (rest < sizeof(version) + 2 + sizeof(oid_data) ||
	    memcmp(p, version, sizeof(version)) != 0) {
		total = 0;
		goto out;
	}
	q = p + sizeof(version);
	r = ASN1_get_object(&q, &l2, &tag, &cls, (long)(rest - sizeof(version)));
	if (r != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL ||
	    (size_t)l2 < sizeof(oid_data) || memcmp(q, oid_data, sizeof(oid_data)) != 0)
		total = 0;
out:
	ERR_pop_to_mark();
	return total;
}

static enum p12_verdict bags_verdict(const STACK_OF(PKCS12_SAFEBAG) * bags, int depth)
{
	for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++) {
		const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, i);
		switch (PKCS12_SAFEBAG_get_nid(bag)) {
		case NID_keyBag:
		case NID_pkcs8ShroudedKeyBag:
		case NID_secretBag:
			return P12_KEY;
		case NID_safeContentsBag:
			if (depth < P12_NEST_MAX &&
			    bags_verdict(PKCS12_SAFEBAG_get0_safes(bag), depth + 1) == P12_KEY)
				return P12_KEY;
			break;
		default:
			break;
		}
	}
	return P12_NONE;
}

/* The KDF rounds an encryptedData's password-based scheme asks for, or -1 when it is not
 * one we are willing to run (scrypt, unknown, malformed). */
static long p12_kdf_rounds(const PKCS7 *p7)
{
	const X509_ALGOR *alg;
	long iter = -1;

	if (p7->d.encrypted == NULL || p7->d.encrypted->enc_data == NULL ||
	    (alg = p7->d.encrypted->enc_data->algorithm) == NULL)
		return -1;
	if (OBJ_obj2nid(alg->algorithm) == NID_pbes2) {
		PBE2PARAM *pbe2 =
		    ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
		PBKDF2PARAM *kdf = NULL;
		if (pbe2 != NULL && pbe2->keyfunc != NULL &&
		    OBJ_obj2nid(pbe2->keyfunc->algorithm) == NID_id_pbkdf2)
			kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
							pbe2->keyfunc->parameter);
		if (kdf != NULL && kdf->iter != NULL)
			iter = ASN1_INTEGER_get(kdf->iter);
		PBKDF2PARAM_free(kdf);
		PBE2PARAM_free(pbe2);
	} else {
		PBEPARAM *pbe = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), alg->parameter);
		if (pbe != NULL && pbe->iter != NULL)
			iter = ASN1_INTEGER_get(pbe->iter);
		PBEPARAM_free(pbe);
	}
	return iter > 0 ? iter : -1;
}

static enum p12_verdict p12_verdict(const uint8_t *der, size_t n)
{
	const unsigned char *p = der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)n);
	STACK_OF(PKCS7) *safes = NULL;
	enum p12_verdict v = P12_NONE;
	long budget = P12_KDF_BUDGET;

	if (p12 == NULL || (safes = PKCS12_unpack_authsafes(p12)) == NULL)
		goto out;
	for (int i = 0; i < sk_PKCS7_num(safes) && v != P12_KEY; i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) *bags = NULL;

		if (PKCS7_type_is_data(p7)) {
			bags = PKCS12_unpack_p7data(p7);
		} else if (PKCS7_type_is_encrypted(p7)) {
			long rounds = p12_kdf_rounds(p7);
			for (size_t k = 0; k < sizeof(p12_passwords) / sizeof(p12_passwords[0]) &&
					   bags == NULL && rounds > 0 && rounds <= budget;
			     k++) {
				const char *pw = p12_passwords[k];
				budget -= rounds;
				bags = PKCS12_unpack_p7encdata(p7, pw, pw ? (int)strlen(pw) : 0);
			}
		}
		/* Contents we cannot open (another password, RC2 that OpenSSL 3 keeps in its
		 * legacy provider) are where OpenSSL, Java and Windows put certificates; they
		 * put keys in shrouded key bags inside plain data, which we see. A store whose
		 * only contents are sealed is a truststore far more often than a key. */
		if (bags == NULL)
			continue;
		v = bags_verdict(bags, 0);
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
out:
	sk_PKCS7_pop_free(safes, PKCS7_free);
	PKCS12_free(p12);
	return v;
}

static void sniff_pkcs12(vigil_check *c)
{
	size_t n = p12_shape(c->buf, c->len);
	enum p12_verdict v;

	if (n == 0)
		return;
	ERR_set_mark();
	v = p12_verdict(c->buf, n);
	ERR_pop_to_mark();
	if (v == P12_NONE)
		return;

	size_t nl = n < VIGIL_SCRATCH_SIZE ? n : VIGIL_SCRATCH_SIZE;
	memcpy(c->scratch, c->buf, nl);
	vigil_hit h = {
	    .start = 0,
	    .end = n,
	    .category = VIGIL_CAT_PRIVATE_KEY,
	    .detector = "pkcs12",
	    .confidence = VIGIL_CONF_HIGH,
	    .norm = c->scratch,
	    .norm_len = nl,
	};
	snprintf(h.redacted, sizeof(h.redacted), "PKCS#12 with private key (body redacted)");
	c->emit(c, &h);
}

/* ---- Java keystores (sun.security.provider.JavaKeyStore, com.sun.crypto.provider.JceKeyStore) */

#define JKS_MAGIC   0xfeedfeedu
#define JCEKS_MAGIC 0xcecececeu

typedef struct rd {
	const uint8_t *b;
	size_t len, off;
} rd;

static bool get_u32(rd *r, uint32_t *v)
{
	if (r->len - r->off < 4)
		return false;
	const uint8_t *p = r->b + r->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	r->off += 4;
	return true;
}

static bool skip(rd *r, size_t n)
{
	if (r->len - r->off < n)
		return false;
	r->off += n;
	return true;
}

/* A java.io.DataOutput UTF string: u16 length, bytes. */
static bool skip_utf(rd *r)
{
	if (r->len - r->off < 2)
		return false;
	size_t n = (size_t)r->b[r->off] << 8 | r->b[r->off + 1];
	r->off += 2;
	return skip(r, n);
}

/* A certificate: (version 2) its type as a UTF string, then u32 length and the DER. */
static bool skip_cert(rd *r, uint32_t version)
{
	uint32_t n;

	return (version == 1 || skip_utf(r)) && get_u32(r, &n) && skip(r, n);
}

static void sniff_java(vigil_check *c, bool jceks)
{
	rd r = {c->buf, c->len, 4};
	uint32_t version, count;
	size_t key = 0, key_len = 0;
	const char *what = NULL;

	if (!get_u32(&r, &version) || (version != 1 && version != 2) || !get_u32(&r, &count))
		return;
	/* Every entry takes at least 14 bytes, so the loop ends with the buffer. */
	for (uint32_t i = 0; i < count && what == NULL; i++) {
		uint32_t tag, n, chain;

		if (!get_u32(&r, &tag) || !skip_utf(&r) || !skip(&r, 8))
			return; /* cut by the buffer or broken: decide on what we have seen */
		if (tag == 1) {
			/* A private key: EncryptedPrivateKeyInfo DER, then its certificate chain.
			 */
			if (!get_u32(&r, &n) || n < 16 || r.len - r.off < n ||
			    c->buf[r.off] != 0x30)
				return;
			key = r.off;
			key_len = n;
			what = "private key";
			r.off += n;
			if (get_u32(&r, &chain))
				for (uint32_t k = 0; k < chain && skip_cert(&r, version); k++)
					;
		} else if (tag == 2) {
			if (!skip_cert(&r, version))
				return;
		} else if (tag == 3 && jceks) {
			/* A secret key as a serialised javax.crypto.SealedObject: its length is not
			 * written anywhere, so the walk stops here. */
			key = r.off;
			key_len = r.len - r.off < 4096 ? r.len - r.off : 4096;
			what = "secret key";
		} else {
			return;
		}
	}
	if (what == NULL || key_len == 0)
		return;

	size_t nl = key_len < VIGIL_SCRATCH_SIZE ? key_len : VIGIL_SCRATCH_SIZE;
	memcpy(c->scratch, c->buf + key, nl);
	vigil_hit h = {
	    .start = 0,
	    .end = key + key_len,
	    .category = VIGIL_CAT_PRIVATE_KEY,
	    .detector = jceks ? "jceks" : "jks",
	    .confidence = VIGIL_CONF_HIGH,
	    .norm = c->scratch,
	    .norm_len = nl,
	};
	snprintf(h.redacted, sizeof(h.redacted), "%s keystore with %s entry (body redacted)",
		 jceks ? "JCEKS" : "JKS", what);
	c->emit(c, &h);
}

void vigil_sniff_keystore(vigil_check *c)
{
	const uint8_t *b = c->buf;
	uint32_t magic;

	if (c->len < 8)
		return;
	magic = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	if (magic == JKS_MAGIC)
		sniff_java(c, false);
	else if (magic == JCEKS_MAGIC)
		sniff_java(c, true);
	else if (b[0] == 0x30)
		sniff_pkcs12(c);
}
