/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the private-key detectors against keys made at test time by openssl, ssh-keygen,
 * puttygen and keytool, in the forms keys take on disk (PEM, CRLF, JSON, YAML, base64). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hs.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "detect.h"

/* ---- a small engine: the trigger patterns and windows the lead puts in rules.c ---- */

typedef struct trig_rule {
	const char *pattern;
	unsigned max_before, max_after;
	vigil_validator validate;
} trig_rule;

static const trig_rule trig_rules[] = {
    {"-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |ANY )?PRIVATE KEY-----", 32768, 4,
     vigil_validate_pem},
    {"PuTTY-User-Key-File-[23]: ", 40, 16384, vigil_validate_ppk},
    /* The three base64 spellings of "-----BEGIN " as one rule... */
    {"LS0tLS1CRUdJTi|0tLS0tQkVHSU4g|tLS0tLUJFR0lOI", 16, 24576, vigil_validate_pem_base64},
    /* ... or as three, with shorter literals ending at the same place. */
    {"LS0tLS1CRUdJTi", 16, 24576, vigil_validate_pem_base64},
    {"LS0tQkVHSU4g", 16, 24576, vigil_validate_pem_base64},
    {"LS0tLUJFR0lOI", 16, 24576, vigil_validate_pem_base64},
};
#define NRULES      (sizeof(trig_rules) / sizeof(trig_rules[0]))
#define FIRST_BLOCK (256u * 1024u)
#define MAX_HITS    32

typedef struct got {
	size_t start, end;
	const char *detector;
	vigil_confidence conf;
	char redacted[VIGIL_REDACTED_MAX];
	uint8_t *norm;
	size_t norm_len;
} got;

typedef struct hits {
	size_t n;
	got v[MAX_HITS];
	size_t base, doc_len; /* where the current window starts in the document */
} hits;

/* Two rule sets: base64 literals joined in one rule, or split in three. */
static hs_database_t *dbs[2];
static hs_scratch_t *hscratch;
static int split_rules;
static uint8_t *scratch;
static char dir[64];
static bool have_openssl, have_sshkeygen, have_puttygen, have_keytool;

static void hits_free(hits *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].norm);
	h->n = 0;
}

/* A redacted text must not carry a run of base64 long enough to be key material. */
static void assert_no_key_material(const char *s)
{
	size_t run = 0;

	for (; *s; s++) {
		bool b = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
			 (*s >= '0' && *s <= '9') || *s == '+' || *s == '/';
		run = b ? run + 1 : 0;
		assert_true(run < 24);
	}
}

static void collect(vigil_check *c, const vigil_hit *h)
{
	hits *hs = c->engine;
	got *g;

	assert_true(hs->n < MAX_HITS);
	assert_true(h->start < h->end);
	assert_true(h->end <= c->len);
	assert_non_null(h->detector);
	assert_true(h->category == VIGIL_CAT_PRIVATE_KEY);
	assert_non_null(memchr(h->redacted, '\0', sizeof(h->redacted)));
	assert_no_key_material(h->redacted);
	assert_true(h->norm_len > 0 && h->norm_len <= VIGIL_SCRATCH_SIZE);
	if (getenv("VIGIL_TEST_VERBOSE"))
		fprintf(stderr, "  hit %s [%zu,%zu) %s\n", h->detector, hs->base + h->start,
			hs->base + h->end, h->redacted);
	g = &hs->v[hs->n++];
	g->start = hs->base + h->start;
	g->end = hs->base + h->end;
	g->detector = h->detector;
	g->conf = h->confidence;
	memcpy(g->redacted, h->redacted, sizeof(g->redacted));
	g->norm = malloc(h->norm_len);
	assert_non_null(g->norm);
	memcpy(g->norm, h->norm, h->norm_len);
	g->norm_len = h->norm_len;
}

/* Runs one validator on buf[0,len) as its window. The scratch is dirtied first so a
 * validator that relies on it being zero fails. */
static size_t run_window(vigil_validator v, const uint8_t *buf, size_t len, size_t end, bool eof,
			 hits *out, size_t base)
{
	vigil_check c = {
	    .buf = buf,
	    .len = len,
	    .end = end,
	    .eof = eof,
	    .scratch = scratch,
	    .emit = collect,
	    .engine = out,
	};
	memset(scratch, 0xa5, VIGIL_SCRATCH_SIZE);
	out->base = base;
	return v(&c);
}

typedef struct match {
	unsigned id;
	size_t to;
} match;

typedef struct matches {
	match *v;
	size_t n, cap;
} matches;

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
		    void *ctx)
{
	matches *m = ctx;

	(void)from;
	(void)flags;
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 64;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		assert_non_null(m->v);
	}
	m->v[m->n++] = (match){id, (size_t)to};
	return 0;
}

/*
 * Scans a whole document the way the engine does: the keystore sniffer on the first
 * block, then each trigger's validator on a window of exactly max_before bytes before and
 * max_after after the trigger (less where the document ends), honouring the "redundant up
 * to" positions validators return.
 */
static void scan(const void *doc, size_t len, hits *out)
{
	const uint8_t *d = doc;
	matches m = {0};
	size_t redundant[NRULES] = {0};
	vigil_check c = {
	    .buf = d,
	    .len = len < FIRST_BLOCK ? len : FIRST_BLOCK,
	    .end = 0,
	    .eof = len <= FIRST_BLOCK,
	    .scratch = scratch,
	    .emit = collect,
	    .engine = out,
	};

	memset(out, 0, sizeof(*out));
	out->doc_len = len;
	memset(scratch, 0xa5, VIGIL_SCRATCH_SIZE);
	vigil_sniff_keystore(&c);

	assert_int_equal(
	    hs_scan(dbs[split_rules], (const char *)d, (unsigned)len, 0, hscratch, on_match, &m),
	    HS_SUCCESS);
	for (size_t i = 0; i < m.n; i++) {
		const trig_rule *r = &trig_rules[m.v[i].id];
		size_t to = m.v[i].to, ws, we, ret;
		if (to <= redundant[m.v[i].id])
			continue;
		ws = to > r->max_before ? to - r->max_before : 0;
		we = len - to > r->max_after ? to + r->max_after : len;
		ret = run_window(r->validate, d + ws, we - ws, to - ws, we == len, out, ws);
		if (ret != 0)
			redundant[m.v[i].id] = ws + ret;
	}
	free(m.v);
}

/* ---- fixtures ---- */

typedef struct buf {
	char *p;
	size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void puts_(buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static int sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	char full[8400];
	snprintf(full, sizeof(full), "cd '%s' && ( %s ) >/dev/null 2>&1 </dev/null", dir, cmd);
	return system(full);
}

static bool have(const char *tool)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

/* Reads dir/name into a NUL-terminated buffer; NULL if it is not there. */
static char *slurp(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static char *need(const char *name, size_t *len)
{
	char *s = slurp(name, len);

	if (s == NULL) {
		fprintf(stderr, "fixture %s/%s missing\n", dir, name);
		fail();
	}
	return s;
}

/*
 * The generating commands, as chains of dependent steps; the chains of a phase run at the
 * same time (each tool start costs ~0.1 s here, and keytool starts a JVM). A fixture only
 * exists if its tools do; tests that need a missing one skip.
 */
typedef struct chain {
	bool *tool, *tool2;
	const char *cmd;
} chain;

static const chain phase1[] = {
    {&have_openssl, NULL,
     "openssl genrsa -traditional -out rsa1.pem 2048 && openssl pkey -in rsa1.pem -out rsa8.pem"
     " && sed -e 's/BEGIN PRIVATE/BEGIN ANY PRIVATE/' -e 's/END PRIVATE/END ANY PRIVATE/'"
     " rsa8.pem > any.pem"
     " && openssl pkcs8 -topk8 -v2 aes256 -in rsa1.pem -passout pass:test -out enc8.pem"
     " && openssl rsa -aes256 -traditional -in rsa1.pem -passout pass:test -out rsa_enc.pem"
     " && openssl rsa -in rsa1.pem -pubout -out rsa_pub.pem"
     " && openssl req -new -key rsa1.pem -subj /CN=vigil-test -out csr.pem"},
    {&have_openssl, NULL,
     "openssl ecparam -name prime256v1 -genkey -out ec1.pem"
     " && openssl ec -aes256 -in ec1.pem -passout pass:test -out ec_enc.pem"
     " && openssl genpkey -algorithm ed25519 -out ed8.pem"},
    {&have_openssl, NULL,
     "openssl dsaparam -genkey -noout -out dsa8.pem 2048 && openssl dsa -in dsa8.pem -out "
     "dsa1.pem && openssl dsa -des3 -in dsa1.pem -passout pass:test -out dsa_enc.pem"},
    {&have_openssl, NULL,
     "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=vigil-test -keyout ck.pem -out "
     "cert.pem -days 2"
     " && openssl pkcs12 -export -in cert.pem -inkey ck.pem -passout pass:test -out store.p12"
     " && openssl pkcs12 -export -in cert.pem -inkey ck.pem -keypbe NONE -certpbe NONE"
     " -passout pass:x -out keyplain.p12"
     " && openssl pkcs12 -export -nokeys -in cert.pem -passout pass: -out trust_nopass.p12"
     " && openssl pkcs12 -export -nokeys -certpbe NONE -in cert.pem -passout pass:x"
     " -out trust_plain.p12"
     " && openssl pkcs12 -export -nokeys -in cert.pem -passout pass:secret"
     " -out trust_sealed.p12"},
    {&have_sshkeygen, NULL, "ssh-keygen -q -t ed25519 -N '' -C test -f id_ed25519"},
    {&have_sshkeygen, NULL, "ssh-keygen -q -t rsa -b 2048 -N '' -C test -f id_rsa"},
    {&have_sshkeygen, NULL,
     "ssh-keygen -q -t ecdsa -b 256 -N '' -C test -f id_ecdsa"
     " && ssh-keygen -q -t ed25519 -N 'correct horse' -C test -f id_enc"},
    {&have_puttygen, NULL,
     ": > nopass && echo 'correct horse' > pass"
     " && puttygen -q -t rsa -b 2048 -C test -O private --ppk-param version=2"
     " --new-passphrase nopass -o rsa2.ppk"
     " && puttygen -q -t ed25519 -C test -O private --new-passphrase nopass -o ed3.ppk"
     " && puttygen -q -t ecdsa -b 256 -C test -O private --new-passphrase nopass -o ec3.ppk"
     " && puttygen -q -t ed25519 -C test -O private --ppk-param version=2 --new-passphrase "
     "pass -o ed2_enc.ppk"
     " && puttygen -q -t ed25519 -C test -O private --new-passphrase pass -o ed3_enc.ppk"},
    {&have_keytool, NULL,
     "keytool -genkeypair -keystore key.jks -storetype JKS -storepass changeit -keypass "
     "changeit -alias k -dname CN=test -keyalg EC -keysize 256"},
    {&have_keytool, NULL,
     "keytool -genseckey -keystore sec.jceks -storetype JCEKS -storepass changeit -keypass "
     "changeit -alias s -keyalg AES -keysize 128"},
    {&have_keytool, NULL,
     "keytool -genkeypair -keystore key_java.p12 -storetype PKCS12 -storepass changeit "
     "-alias k -dname CN=test -keyalg EC -keysize 256"},
};

/* These need cert.pem from phase 1. */
static const chain phase2[] = {
    {&have_keytool, &have_openssl,
     "keytool -importcert -noprompt -keystore trust.jks -storetype JKS -storepass changeit "
     "-alias c -file cert.pem"},
    {&have_keytool, &have_openssl,
     "keytool -importcert -noprompt -keystore trust_java.p12 -storetype PKCS12 -storepass "
     "changeit -alias c -file cert.pem"},
};

static void run_phase(const chain *chains, size_t n)
{
	buf b = {0};

	for (size_t i = 0; i < n; i++) {
		if (!*chains[i].tool || (chains[i].tool2 && !*chains[i].tool2))
			continue;
		puts_(&b, "( ");
		puts_(&b, chains[i].cmd);
		puts_(&b, " ) & ");
	}
	puts_(&b, "wait");
	if (sh("%s", b.p) != 0)
		fprintf(stderr, "fixture commands failed: %s\n", b.p);
	free(b.p);
}

static int group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	static const unsigned sets[2][5] = {{0, 1, 2}, {0, 1, 3, 4, 5}};
	static const unsigned set_len[2] = {3, 5};

	(void)state;
	for (int k = 0; k < 2; k++) {
		hs_compile_error_t *err = NULL;
		const char *pats[5];
		unsigned flags[5] = {0};
		for (unsigned i = 0; i < set_len[k]; i++)
			pats[i] = trig_rules[sets[k][i]].pattern;
		if (hs_compile_multi(pats, flags, sets[k], set_len[k], HS_MODE_BLOCK, NULL, &dbs[k],
				     &err) != HS_SUCCESS) {
			fprintf(stderr, "pattern: %s\n", err ? err->message : "?");
			hs_free_compile_error(err);
			return -1;
		}
		if (hs_alloc_scratch(dbs[k], &hscratch) != HS_SUCCESS)
			return -1;
	}
	if ((scratch = malloc(VIGIL_SCRATCH_SIZE)) == NULL)
		return -1;

	snprintf(dir, sizeof(dir), "%s/vigil-keys-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	have_openssl = have("openssl");
	have_sshkeygen = have("ssh-keygen");
	have_puttygen = have("puttygen");
	have_keytool = have("keytool") && have("java");
	run_phase(phase1, sizeof(phase1) / sizeof(phase1[0]));
	run_phase(phase2, sizeof(phase2) / sizeof(phase2[0]));
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	/* dir is ours, made by mkdtemp above. */
	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	hs_free_scratch(hscratch);
	hs_free_database(dbs[0]);
	hs_free_database(dbs[1]);
	free(scratch);
	return 0;
}

#define SKIP_WITHOUT(flag, tool)                                                                   \
	do {                                                                                       \
		if (!(flag)) {                                                                     \
			printf("SKIP: %s is not installed\n", tool);                               \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* ---- text transformations: the forms keys take ---- */

static char *to_crlf(const char *s)
{
	buf b = {0};

	for (; *s; s++)
		put(&b, *s == '\n' ? "\r\n" : s, *s == '\n' ? 2 : 1);
	return b.p;
}

/* A service-account style JSON file with the key as a string; nl is how a newline is
 * written ("\\n", or "\\\\n" when the JSON was escaped twice). */
static char *to_json(const char *s, const char *nl, bool escape_slash)
{
	buf b = {0};

	puts_(&b, "{\n  \"type\": \"service_account\",\n  \"private_key_id\": \"0123abcd\",\n"
		  "  \"private_key\": \"");
	for (; *s; s++) {
		if (*s == '\n')
			puts_(&b, nl);
		else if (*s == '/' && escape_slash)
			puts_(&b, "\\/");
		else
			put(&b, s, 1);
	}
	puts_(&b, "\",\n  \"client_email\": \"svc@example.iam.gserviceaccount.com\"\n}\n");
	return b.p;
}

static char *to_yaml(const char *s)
{
	buf b = {0};

	puts_(&b, "server:\n  tls:\n    key: |\n");
	while (*s) {
		const char *e = strchr(s, '\n');
		size_t l = e ? (size_t)(e - s) + 1 : strlen(s);
		puts_(&b, "      ");
		put(&b, s, l);
		s += l;
	}
	puts_(&b, "  port: 443\n");
	return b.p;
}

/* Java/JS source: "line\n" + on each line. */
static char *to_code(const char *s)
{
	buf b = {0};

	puts_(&b, "String key =\n");
	while (*s) {
		const char *e = strchr(s, '\n');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		puts_(&b, "    \"");
		put(&b, s, l);
		puts_(&b, e ? "\\n\" +\n" : "\"");
		s += l + (e ? 1 : 0);
	}
	puts_(&b, "    \"\";\n");
	return b.p;
}

static char *b64(const void *s, size_t n, size_t wrap)
{
	size_t cap = 4 * ((n + 2) / 3) + 1;
	unsigned char *raw = malloc(cap);
	buf b = {0};
	int len;

	assert_non_null(raw);
	len = EVP_EncodeBlock(raw, s, (int)n);
	for (int i = 0; i < len; i += wrap ? (int)wrap : len) {
		size_t l = wrap && (size_t)(len - i) > wrap ? wrap : (size_t)(len - i);
		put(&b, raw + i, l);
		if (wrap)
			puts_(&b, "\n");
	}
	free(raw);
	return b.p;
}

/* A Kubernetes secret with the key (and maybe a certificate) base64-encoded. */
static char *to_k8s(const char *key, const char *prefix, const char *cert)
{
	buf b = {0}, k = {0};

	puts_(&b, "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\ndata:\n");
	if (cert) {
		char *c = b64(cert, strlen(cert), 0);
		puts_(&b, "  tls.crt: ");
		puts_(&b, c);
		puts_(&b, "\n");
		free(c);
	}
	puts_(&k, prefix);
	puts_(&k, key);
	char *e = b64(k.p, k.n, 0);
	puts_(&b, "  tls.key: ");
	puts_(&b, e);
	puts_(&b, "\nmetadata:\n  name: web\n");
	free(e);
	free(k.p);
	return b.p;
}

/* The DER of the first PRIVATE KEY block of a PEM text, by OpenSSL's own PEM reader. */
static uint8_t *ref_der(const char *pem, size_t *len)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	char *name = NULL, *hdr = NULL;
	unsigned char *data = NULL;
	long n = 0;

	assert_non_null(bio);
	while (PEM_read_bio(bio, &name, &hdr, &data, &n) == 1) {
		bool key = strstr(name, "PRIVATE KEY") != NULL;
		OPENSSL_free(name);
		OPENSSL_free(hdr);
		if (key) {
			uint8_t *out = malloc((size_t)n);
			assert_non_null(out);
			memcpy(out, data, (size_t)n);
			OPENSSL_free(data);
			BIO_free(bio);
			*len = (size_t)n;
			return out;
		}
		OPENSSL_free(data);
	}
	BIO_free(bio);
	fail_msg("no private key in the reference PEM");
	return NULL;
}

/* ---- PEM in every form ---- */

typedef struct pem_case {
	const char *file, *detector;
	bool *tool;
} pem_case;

static const pem_case pem_cases[] = {
    {"rsa1.pem", "pem.rsa", &have_openssl},
    {"rsa8.pem", "pem.pkcs8", &have_openssl},
    {"ec1.pem", "pem.ec", &have_openssl},
    {"dsa1.pem", "pem.dsa", &have_openssl},
    {"dsa8.pem", "pem.pkcs8", &have_openssl},
    {"ed8.pem", "pem.pkcs8", &have_openssl},
    {"enc8.pem", "pem.pkcs8_encrypted", &have_openssl},
    {"rsa_enc.pem", "pem.rsa_encrypted", &have_openssl},
    {"ec_enc.pem", "pem.ec_encrypted", &have_openssl},
    {"dsa_enc.pem", "pem.dsa_encrypted", &have_openssl},
    {"any.pem", "pem.any", &have_openssl},
    {"id_ed25519", "openssh.private_key", &have_sshkeygen},
    {"id_rsa", "openssh.private_key", &have_sshkeygen},
    {"id_ecdsa", "openssh.private_key", &have_sshkeygen},
    {"id_enc", "openssh.private_key", &have_sshkeygen},
};

enum form {
	F_PLAIN,
	F_CRLF,
	F_JSON,
	F_JSON2,
	F_JSON_SLASH,
	F_YAML,
	F_CODE,
	F_B64,
	F_B64_WRAP,
	F_B64_SHIFT1,
	F_B64_SHIFT2,
	F_B64_BUNDLE,
	F_B64_JSON,
	F_ONELINE,
	F_DEEP,
	F_COUNT
};
static const char *const form_names[F_COUNT] = {
    "plain", "crlf", "json",     "json2",      "json-slash", "yaml",
    "code",  "b64",  "b64-wrap", "b64-shift1", "b64-shift2", "b64-bundle",
};

static char *make_form(enum form f, const char *pem)
{
	switch (f) {
	case F_PLAIN:
		return strdup(pem);
	case F_CRLF:
		return to_crlf(pem);
	case F_JSON:
		return to_json(pem, "\\n", false);
	case F_JSON2:
		return to_json(pem, "\\\\n", false);
	case F_JSON_SLASH:
		return to_json(pem, "\\r\\n", true);
	case F_YAML:
		return to_yaml(pem);
	case F_CODE:
		return to_code(pem);
	case F_B64:
		return to_k8s(pem, "", NULL);
	case F_B64_WRAP: {
		buf b = {0};
		char *e = b64(pem, strlen(pem), 76);
		puts_(&b, "# base64 key.pem\n");
		puts_(&b, e);
		free(e);
		return b.p;
	}
	case F_B64_SHIFT1:
		return to_k8s(pem, "\n", NULL);
	case F_B64_SHIFT2:
		return to_k8s(pem, "#\n", NULL);
	case F_B64_BUNDLE: {
		/* A certificate first, so the key starts at some offset into the base64. */
		size_t n;
		char *cert = need("cert.pem", &n);
		buf b = {0};
		puts_(&b, cert);
		puts_(&b, pem);
		char *e = b64(b.p, b.n, 76);
		free(cert);
		free(b.p);
		return e;
	}
	case F_B64_JSON: {
		/* GOOGLE_CREDENTIALS=<base64 of the service-account JSON>, as CI systems keep it.
		 */
		char *json = to_json(pem, "\\n", false);
		char *e = b64(json, strlen(json), 0);
		buf b = {0};
		puts_(&b, "export GOOGLE_CREDENTIALS=");
		puts_(&b, e);
		puts_(&b, "\n");
		free(json);
		free(e);
		return b.p;
	}
	case F_ONELINE: {
		/* An environment file: the newlines became spaces. */
		buf b = {0};
		puts_(&b, "TLS_KEY=\"");
		for (const char *p = pem; *p; p++)
			put(&b, *p == '\n' ? " " : p, 1);
		puts_(&b, "\"\n");
		return b.p;
	}
	case F_DEEP: {
		/* Far into a large file, so windows start well after the document does. */
		buf b = {0};
		for (int i = 0; i < 2000; i++)
			puts_(&b, "lorem ipsum dolor sit amet, consectetur adipiscing elit\n");
		puts_(&b, pem);
		for (int i = 0; i < 2000; i++)
			puts_(&b, "sed do eiusmod tempor incididunt ut labore et dolore\n");
		return b.p;
	}
	default:
		fail();
	}
	return NULL;
}

static void test_pem_forms(void **state)
{
	(void)state;
	SKIP_WITHOUT(have_openssl && have_sshkeygen, "openssl or ssh-keygen");
	for (size_t i = 0; i < sizeof(pem_cases) / sizeof(pem_cases[0]); i++) {
		const pem_case *pc = &pem_cases[i];
		size_t n, rn;
		char *pem = need(pc->file, &n);
		uint8_t *ref = ref_der(pem, &rn);

		for (int f = 0; f < F_COUNT; f++) {
			/* RFC 1421 headers need their line breaks. */
			if (f == F_ONELINE && strstr(pem, "Proc-Type:") != NULL)
				continue;
			char *doc = make_form((enum form)f, pem);
			hits h;
			/* Base64 forms under both rule layouts; the rest see one. */
			split_rules = f >= F_B64 && f <= F_B64_JSON ? (int)(i % 2) : 0;
			scan(doc, strlen(doc), &h);
			if (h.n != 1 || strcmp(h.v[0].detector, pc->detector) != 0)
				fail_msg("%s as %s: %zu hits, detector %s (want %s)", pc->file,
					 form_names[f], h.n, h.n ? h.v[0].detector : "-",
					 pc->detector);
			/* The same key gives the same normalised bytes in every form. */
			if (h.v[0].norm_len != rn || memcmp(h.v[0].norm, ref, rn) != 0)
				fail_msg("%s as %s: norm differs from the DER", pc->file,
					 form_names[f]);
			assert_int_equal(h.v[0].conf, VIGIL_CONF_HIGH);
			assert_non_null(strstr(h.v[0].redacted, "body redacted"));
			if (f < F_B64 || f == F_ONELINE || f == F_DEEP) {
				assert_memory_equal(doc + h.v[0].start, "-----BEGIN ", 11);
				assert_memory_equal(doc + h.v[0].end - 5, "-----", 5);
				assert_true(h.v[0].end - h.v[0].start > n / 2);
			}
			hits_free(&h);
			free(doc);
		}
		free(ref);
		free(pem);
	}
}

static void test_pem_redacted(void **state)
{
	size_t n;
	char *pem;
	hits h;

	(void)state;
	SKIP_WITHOUT(have_openssl, "openssl");
	pem = need("rsa1.pem", &n);
	scan(pem, n, &h);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.v[0].redacted,
			    "-----BEGIN RSA PRIVATE KEY----- (2048-bit RSA, body redacted)");
	hits_free(&h);
	free(pem);

	pem = need("rsa_enc.pem", &n);
	scan(pem, n, &h);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.v[0].redacted, "-----BEGIN RSA PRIVATE KEY----- "
					     "(encrypted, AES-256-CBC, body redacted)");
	hits_free(&h);
	free(pem);
}

/* vigil_pem_private_key on a standalone buffer, as the fuzzer and other modules call it. */
static void test_pem_standalone(void **state)
{
	size_t n, rn, dl;
	char *pem;
	uint8_t *ref, small[64];
	const char *det;

	(void)state;
	SKIP_WITHOUT(have_openssl, "openssl");
	pem = need("ec1.pem", &n);
	ref = ref_der(pem, &rn);
	const char *b = strstr(pem, "-----BEGIN EC PRIVATE KEY-----");
	assert_non_null(b);
	assert_true(vigil_pem_private_key((const uint8_t *)b, strlen(b), &det, scratch,
					  VIGIL_SCRATCH_SIZE, &dl));
	assert_string_equal(det, "pem.ec");
	assert_int_equal(dl, rn);
	assert_memory_equal(scratch, ref, rn);
	/* The EC PARAMETERS block in front is not a key, nor a place to start. */
	assert_false(
	    vigil_pem_private_key((const uint8_t *)pem, n, &det, scratch, VIGIL_SCRATCH_SIZE, &dl));
	/* Too small an output buffer is a clean refusal. */
	assert_false(
	    vigil_pem_private_key((const uint8_t *)b, strlen(b), &det, small, sizeof(small), &dl));
	assert_null(det);
	assert_int_equal(dl, 0);
	free(ref);
	free(pem);
}

/* ---- PEM negatives ---- */

static char *random_b64_body(size_t n, bool der_like)
{
	uint8_t *raw = malloc(n);
	char *e;

	assert_non_null(raw);
	assert_int_equal(RAND_bytes(raw, (int)n), 1);
	if (der_like && n > 8) {
		/* Looks like the start of an RSAPrivateKey: SEQUENCE, length, INTEGER 0. */
		memcpy(raw, "\x30\x82\x04\xa2\x02\x01\x00\x02", 8);
	}
	e = b64(raw, n, 64);
	free(raw);
	return e;
}

static char *wrap_pem(const char *label, const char *body, const char *endlabel)
{
	buf b = {0};

	puts_(&b, "-----BEGIN ");
	puts_(&b, label);
	puts_(&b, "-----\n");
	puts_(&b, body);
	puts_(&b, "-----END ");
	puts_(&b, endlabel ? endlabel : label);
	puts_(&b, "-----\n");
	return b.p;
}

static void assert_no_hits(const char *what, const void *doc, size_t len)
{
	hits h;

	scan(doc, len, &h);
	if (h.n != 0)
		fail_msg("%s: %zu unexpected hit(s), first %s at %zu", what, h.n, h.v[0].detector,
			 h.v[0].start);
}

static void test_pem_placeholders(void **state)
{
	static const char *const labels[] = {
	    "RSA PRIVATE KEY",       "EC PRIVATE KEY",      "DSA PRIVATE KEY", "PRIVATE KEY",
	    "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY", "ANY PRIVATE KEY"};
	static const char *const bodies[] = {
	    "<your key here>\n",
	    "...\n",
	    "MIIE...\n",
	    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC...\n",
	    "XXXX\n",
	    "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\n",
	    "MIIEowIBAAKCAQEA\n",
	    "\n",
	    "REDACTED\n",
	    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n",
	    "${PRIVATE_KEY}\n",
	    "{{ .Values.tls.key }}\n",
	};

	(void)state;
	for (size_t l = 0; l < sizeof(labels) / sizeof(labels[0]); l++) {
		for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
			char *doc = wrap_pem(labels[l], bodies[b], NULL);
			char *json = to_json(doc, "\\n", false);
			char *k8s = to_k8s(doc, "", NULL);
			assert_no_hits(doc, doc, strlen(doc));
			assert_no_hits(json, json, strlen(json));
			assert_no_hits(k8s, k8s, strlen(k8s));
			free(doc);
			free(json);
			free(k8s);
		}
		/* Random base64 of a real key's length, also with a DER-looking start. */
		for (int der_like = 0; der_like < 2; der_like++) {
			char *body = random_b64_body(1190, der_like);
			char *doc = wrap_pem(labels[l], body, NULL);
			assert_no_hits(doc, doc, strlen(doc));
			free(doc);
			free(body);
		}
	}
}

static void test_pem_mismatch_truncated(void **state)
{
	size_t n;
	char *pem, *cert, *body, *doc, *cut;

	(void)state;
	SKIP_WITHOUT(have_openssl, "openssl");
	pem = need("rsa1.pem", &n);
	cert = need("cert.pem", &n);

	/* A certificate's BEGIN with a private key's END. */
	body = strchr(cert, '\n') + 1;
	*strstr(body, "-----END") = '\0';
	doc = wrap_pem("CERTIFICATE", body, "PRIVATE KEY");
	assert_no_hits("cert/END PRIVATE KEY", doc, strlen(doc));
	free(doc);

	/* A PKCS#1 body under BEGIN RSA but END PRIVATE KEY. */
	body = strchr(pem, '\n') + 1;
	char *end = strstr(body, "-----END");
	*end = '\0';
	doc = wrap_pem("RSA PRIVATE KEY", body, "PRIVATE KEY");
	assert_no_hits("RSA/PRIVATE mismatch", doc, strlen(doc));
	free(doc);

	/* An END without a BEGIN. */
	doc = wrap_pem("X", body, "RSA PRIVATE KEY");
	assert_no_hits("END without BEGIN", strstr(doc, "\n") + 1, strlen(strstr(doc, "\n") + 1));
	free(doc);

	/* Truncated bodies: half the lines, and one character short. */
	cut = strdup(body);
	cut[strlen(cut) / 2] = '\0';
	*(strrchr(cut, '\n') + 1) = '\0';
	doc = wrap_pem("RSA PRIVATE KEY", cut, NULL);
	assert_no_hits("half a body", doc, strlen(doc));
	free(doc);
	strcpy(cut, body);
	cut[strlen(cut) - 2] = '\n';
	cut[strlen(cut) - 1] = '\0';
	doc = wrap_pem("RSA PRIVATE KEY", cut, NULL);
	assert_no_hits("one character short", doc, strlen(doc));
	free(doc);
	/* The outer SEQUENCE tag changed: "MIIE" is 30 82 04, "NIIE" 34 82 04. */
	strcpy(cut, body);
	cut[0] = 'N';
	doc = wrap_pem("RSA PRIVATE KEY", cut, NULL);
	assert_no_hits("not a SEQUENCE", doc, strlen(doc));
	free(doc);
	free(cut);

	/* A legacy-encrypted body without its DEK-Info, or with an unknown cipher. */
	free(pem);
	pem = need("rsa_enc.pem", &n);
	char *dek = strstr(pem, "DEK-Info: ");
	memcpy(dek, "DEK-Info: NOT-A-CIPHER,", 23);
	assert_no_hits("bad DEK-Info", pem, n);
	free(pem);
	free(cert);
}

static void test_public_material(void **state)
{
	static const char *const files[] = {"rsa_pub.pem", "cert.pem", "csr.pem", "id_ed25519.pub",
					    "id_rsa.pub"};

	(void)state;
	SKIP_WITHOUT(have_openssl && have_sshkeygen, "openssl or ssh-keygen");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t n;
		char *s = need(files[i], &n);
		char *k8s = to_k8s(s, "", NULL);
		char *json = to_json(s, "\\n", false);
		assert_no_hits(files[i], s, n);
		assert_no_hits(files[i], k8s, strlen(k8s));
		assert_no_hits(files[i], json, strlen(json));
		free(s);
		free(k8s);
		free(json);
	}
}

/* A certificate and a key in one Kubernetes secret: one finding, the key. */
static void test_k8s_secret(void **state)
{
	size_t n, cn, rn;
	char *key, *cert, *doc;
	uint8_t *ref;
	hits h;

	(void)state;
	SKIP_WITHOUT(have_openssl, "openssl");
	key = need("ck.pem", &n);
	cert = need("cert.pem", &cn);
	ref = ref_der(key, &rn);
	doc = to_k8s(key, "", cert);
	scan(doc, strlen(doc), &h);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.v[0].detector, "pem.pkcs8");
	assert_memory_equal(h.v[0].norm, ref, rn);
	/* start/end cover the base64 of the key, on the tls.key line. */
	const char *line = strstr(doc, "tls.key: ") + 9;
	assert_int_equal(h.v[0].start, (size_t)(line - doc));
	/* ... up to the character holding the END line's last dash: the "\n" after it and
	 * the padding are not part of the key. */
	size_t eol = (size_t)(strchr(line, '\n') - doc);
	assert_true(h.v[0].end <= eol && h.v[0].end + 4 >= eol);
	assert_non_null(strstr(h.v[0].redacted, "base64"));
	hits_free(&h);
	free(doc);

	/* Two keys in one base64 run are two findings, under either rule layout. */
	split_rules = 1;
	buf b = {0};
	puts_(&b, key);
	free(key);
	key = need("rsa1.pem", &n);
	puts_(&b, key);
	doc = to_k8s(b.p, "", NULL);
	scan(doc, strlen(doc), &h);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.v[0].detector, "pem.pkcs8");
	assert_string_equal(h.v[1].detector, "pem.rsa");
	assert_true(h.v[0].end <= h.v[1].start);
	hits_free(&h);
	split_rules = 0;
	free(doc);
	free(b.p);
	free(ref);
	free(key);
	free(cert);
}

/* Two keys in one wrapped base64 run, the second at every offset, so its BEGIN falls in
 * each of the three alignments and sometimes across a line break: each key is found once,
 * whether the base64 literals are one rule or three. */
static void test_b64_two_keys(void **state)
{
	size_t n1, n2, r1, r2;
	char *k1, *k2;
	uint8_t *ref1, *ref2;

	(void)state;
	SKIP_WITHOUT(have_openssl, "openssl");
	k1 = need("ed8.pem", &n1);
	k2 = need("ec1.pem", &n2);
	ref1 = ref_der(k1, &r1);
	ref2 = ref_der(k2, &r2);
	for (int pad = 0; pad < 80; pad++) {
		buf b = {0};
		puts_(&b, k1);
		for (int i = 0; i < pad; i++)
			puts_(&b, "#");
		puts_(&b, "\n");
		puts_(&b, k2);
		char *doc = b64(b.p, b.n, 76);
		for (split_rules = 0; split_rules < 2; split_rules++) {
			hits h;
			scan(doc, strlen(doc), &h);
			if (h.n != 2)
				fail_msg("pad %d, split %d: %zu hits", pad, split_rules, h.n);
			assert_string_equal(h.v[0].detector, "pem.pkcs8");
			assert_int_equal(h.v[0].norm_len, r1);
			assert_memory_equal(h.v[0].norm, ref1, r1);
			assert_string_equal(h.v[1].detector, "pem.ec");
			assert_int_equal(h.v[1].norm_len, r2);
			assert_memory_equal(h.v[1].norm, ref2, r2);
			assert_true(h.v[0].end <= h.v[1].start);
			hits_free(&h);
		}
		split_rules = 0;
		free(doc);
		free(b.p);
	}
	free(ref1);
	free(ref2);
	free(k1);
	free(k2);
}

/* ---- PuTTY ---- */

/* The private blob of a .ppk, decoded by the test itself. */
static uint8_t *ppk_private(const char *ppk, size_t *len)
{
	const char *p = strstr(ppk, "Private-Lines: ");
	int lines = atoi(p + 15);
	buf b = {0};
	uint8_t *out;
	int n;

	p = strchr(p, '\n') + 1;
	for (int i = 0; i < lines; i++) {
		const char *e = strpbrk(p, "\r\n");
		put(&b, p, (size_t)(e - p));
		p = e + (e[0] == '\r' ? 2 : 1);
	}
	out = malloc(b.n);
	assert_non_null(out);
	n = EVP_DecodeBlock(out, (unsigned char *)b.p, (int)b.n);
	assert_true(n > 0);
	while (b.n > 0 && b.p[b.n - 1] == '=') {
		b.n--;
		n--;
	}
	*len = (size_t)n;
	free(b.p);
	return out;
}

static void test_ppk(void **state)
{
	static const struct {
		const char *file, *detector, *redacted;
	} cases[] = {
	    {"rsa2.ppk", "ppk.v2", "PuTTY-User-Key-File-2: ssh-rsa 2048-bit (body redacted)"},
	    {"ed3.ppk", "ppk.v3", "PuTTY-User-Key-File-3: ssh-ed25519 (body redacted)"},
	    {"ec3.ppk", "ppk.v3", "PuTTY-User-Key-File-3: ecdsa-sha2-nistp256 (body redacted)"},
	    {"ed2_enc.ppk", "ppk.v2",
	     "PuTTY-User-Key-File-2: ssh-ed25519 (encrypted, body redacted)"},
	    {"ed3_enc.ppk", "ppk.v3",
	     "PuTTY-User-Key-File-3: ssh-ed25519 (encrypted, body redacted)"},
	};

	(void)state;
	SKIP_WITHOUT(have_puttygen, "puttygen (putty-tools)");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n, pn;
		char *ppk = need(cases[i].file, &n);
		uint8_t *priv = ppk_private(ppk, &pn);
		char *forms[4] = {strdup(ppk), to_crlf(ppk), to_json(ppk, "\\n", false), NULL};
		/* The last line without its newline, at the end of the file. */
		forms[3] = strdup(ppk);
		forms[3][strlen(forms[3]) - 1] = '\0';

		for (int f = 0; f < 4; f++) {
			hits h;
			scan(forms[f], strlen(forms[f]), &h);
			if (h.n != 1)
				fail_msg("%s form %d: %zu hits", cases[i].file, f, h.n);
			assert_string_equal(h.v[0].detector, cases[i].detector);
			assert_string_equal(h.v[0].redacted, cases[i].redacted);
			assert_int_equal(h.v[0].norm_len, pn);
			assert_memory_equal(h.v[0].norm, priv, pn);
			assert_memory_equal(forms[f] + h.v[0].start, "PuTTY-User-Key-File-", 20);
			assert_true(strncmp(forms[f] + h.v[0].end - 77, "Private-MAC: ", 13) == 0 ||
				    strncmp(forms[f] + h.v[0].end - 53, "Private-MAC: ", 13) == 0);
			hits_free(&h);
			free(forms[f]);
		}
		free(priv);
		free(ppk);
	}
}

/* Replaces the first occurrence of from in s (same length or shorter). */
static char *edit(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	buf b = {0};

	assert_non_null(at);
	put(&b, s, (size_t)(at - s));
	puts_(&b, to);
	puts_(&b, at + strlen(from));
	return b.p;
}

static void test_ppk_negative(void **state)
{
	size_t n;
	char *ppk, *doc;

	(void)state;
	SKIP_WITHOUT(have_puttygen, "puttygen (putty-tools)");
	ppk = need("rsa2.ppk", &n);

	doc = edit(ppk, "Public-Lines: 6", "Public-Lines: 7");
	assert_no_hits("public lines +1", doc, strlen(doc));
	free(doc);
	doc = edit(ppk, "Private-Lines: 14", "Private-Lines: 13");
	assert_no_hits("private lines -1", doc, strlen(doc));
	free(doc);
	doc = edit(ppk, "ssh-rsa", "ssh-dss");
	assert_no_hits("type not the public key's", doc, strlen(doc));
	free(doc);
	doc = edit(ppk, "Encryption: none", "Encryption: rot13");
	assert_no_hits("unknown encryption", doc, strlen(doc));
	free(doc);
	doc = strdup(ppk);
	*strstr(doc, "Private-MAC") = '\0';
	assert_no_hits("no MAC", doc, strlen(doc));
	free(doc);
	doc = edit(ppk, "Private-Lines: 14\n", "Private-Lines: 14\nAAAA\n");
	assert_no_hits("garbage in the private lines", doc, strlen(doc));
	free(doc);
	free(ppk);

	static const char *const fakes[] = {
	    "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: x\nPublic-Lines: 1\n"
	    "<public key>\nPrivate-Lines: 1\n<private key>\nPrivate-MAC: xxxx\n",
	    "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: x\nPublic-Lines: 1\n"
	    "AAAAC3NzaC1lZDI1NTE5AAAAIGYhEQhgtB0U/LgIvR4I4rmz5+xvXzooUlpEwtFemTKD\n"
	    "Private-Lines: 1\nAAAAIA==\nPrivate-MAC: "
	    "6235b315920b54a512bb94440d073c3c4812884629f732facfc91e47691a6aaf\n",
	    "The header is PuTTY-User-Key-File-3: followed by the key type.\n",
	};
	for (size_t i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++)
		assert_no_hits(fakes[i], fakes[i], strlen(fakes[i]));
}

/* ---- keystores ---- */

static void sniff_file(const char *name, hits *h)
{
	size_t n;
	char *s = need(name, &n);

	scan(s, n, h);
	free(s);
}

static void test_pkcs12(void **state)
{
	static const struct {
		const char *file;
		int conf; /* -1: not a finding */
	} cases[] = {
	    {"store.p12", VIGIL_CONF_HIGH},
	    {"keyplain.p12", VIGIL_CONF_HIGH},
	    {"trust_nopass.p12", -1},
	    {"trust_plain.p12", -1},
	    /* Only sealed contents (certificates under a password): a truststore. */
	    {"trust_sealed.p12", -1},
	};

	(void)state;
	SKIP_WITHOUT(have_openssl, "openssl");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hits h;
		size_t n;
		char *s = need(cases[i].file, &n);
		scan(s, n, &h);
		if (cases[i].conf < 0) {
			if (h.n != 0)
				fail_msg("%s: a truststore reported", cases[i].file);
		} else {
			if (h.n != 1)
				fail_msg("%s: %zu hits", cases[i].file, h.n);
			assert_string_equal(h.v[0].detector, "pkcs12");
			assert_int_equal(h.v[0].conf, cases[i].conf);
			assert_int_equal(h.v[0].start, 0);
			assert_int_equal(h.v[0].end, n);
			assert_int_equal(h.v[0].norm_len, n);
			assert_memory_equal(h.v[0].norm, s, n);
		}
		hits_free(&h);
		/* Cut short, it is not a PFX any more (and nothing breaks). */
		vigil_check c = {.buf = (uint8_t *)s,
				 .len = n / 2,
				 .eof = false,
				 .scratch = scratch,
				 .emit = collect,
				 .engine = &h};
		memset(&h, 0, sizeof(h));
		vigil_sniff_keystore(&c);
		assert_int_equal(h.n, 0);
		free(s);
	}
}

static void test_keytool(void **state)
{
	hits h;

	(void)state;
	SKIP_WITHOUT(have_keytool && have_openssl, "keytool (a JDK)");
	sniff_file("key.jks", &h);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.v[0].detector, "jks");
	assert_string_equal(h.v[0].redacted, "JKS keystore with private key entry (body redacted)");
	hits_free(&h);
	sniff_file("sec.jceks", &h);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.v[0].detector, "jceks");
	hits_free(&h);
	sniff_file("trust.jks", &h);
	assert_int_equal(h.n, 0);
	sniff_file("key_java.p12", &h);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.v[0].detector, "pkcs12");
	assert_int_equal(h.v[0].conf, VIGIL_CONF_HIGH);
	hits_free(&h);
	/* The JDK encrypts certificates with the store password; "changeit" opens them. */
	sniff_file("trust_java.p12", &h);
	assert_int_equal(h.n, 0);
}

typedef struct jks {
	uint8_t b[4096];
	size_t n;
} jks;

static void j32(jks *j, uint32_t v)
{
	for (int s = 24; s >= 0; s -= 8)
		j->b[j->n++] = (uint8_t)(v >> s);
}

static void jutf(jks *j, const char *s)
{
	size_t l = strlen(s);

	j->b[j->n++] = (uint8_t)(l >> 8);
	j->b[j->n++] = (uint8_t)l;
	memcpy(j->b + j->n, s, l);
	j->n += l;
}

static void jbytes(jks *j, size_t n, uint8_t first)
{
	j32(j, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		j->b[j->n++] = i == 0 ? first : (uint8_t)(i * 7);
}

/* A keystore by hand: magic, version 2, entries as JavaKeyStore.engineStore writes them. */
static void jks_build(jks *j, uint32_t magic, const char *entries)
{
	j->n = 0;
	j32(j, magic);
	j32(j, 2);
	j32(j, (uint32_t)strlen(entries));
	for (const char *e = entries; *e; e++) {
		j32(j, (uint32_t)(*e - '0'));
		jutf(j, "alias");
		j32(j, 0x00000190);
		j32(j, 0x12345678); /* timestamp */
		if (*e == '1') {
			jbytes(j, 64, 0x30); /* "encrypted" key */
			j32(j, 1);           /* chain of one */
			jutf(j, "X.509");
			jbytes(j, 100, 0x30);
		} else if (*e == '2') {
			jutf(j, "X.509");
			jbytes(j, 100, 0x30);
		} else {
			memcpy(j->b + j->n, "\xac\xed\x00\x05sr\x00\x19javax.crypto.SealedObject",
			       32);
			j->n += 32;
		}
	}
	memset(j->b + j->n, 0xee, 20); /* the keyed SHA-1 at the end */
	j->n += 20;
}

static void test_jks_handmade(void **state)
{
	jks j;
	hits h;

	(void)state;
	jks_build(&j, 0xfeedfeed, "1");
	scan(j.b, j.n, &h);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.v[0].detector, "jks");
	assert_int_equal(h.v[0].norm_len, 64);
	assert_int_equal(h.v[0].norm[0], 0x30);
	hits_free(&h);

	jks_build(&j, 0xfeedfeed, "2221");
	scan(j.b, j.n, &h);
	assert_int_equal(h.n, 1);
	hits_free(&h);

	jks_build(&j, 0xfeedfeed, "222");
	assert_no_hits("JKS truststore", j.b, j.n);

	jks_build(&j, 0xcecececeu, "23");
	scan(j.b, j.n, &h);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.v[0].detector, "jceks");
	assert_non_null(strstr(h.v[0].redacted, "secret key"));
	hits_free(&h);

	/* A secret-key tag means nothing in a JKS. */
	jks_build(&j, 0xfeedfeed, "3");
	assert_no_hits("JKS tag 3", j.b, j.n);

	/* Cut before the key entry: nothing to decide on. */
	jks_build(&j, 0xfeedfeed, "21");
	vigil_check c = {
	    .buf = j.b, .len = 60, .eof = false, .scratch = scratch, .emit = collect, .engine = &h};
	memset(&h, 0, sizeof(h));
	vigil_sniff_keystore(&c);
	assert_int_equal(h.n, 0);

	/* A huge count, a bad version, lengths past the end. */
	jks_build(&j, 0xfeedfeed, "2");
	j.b[8] = j.b[9] = j.b[10] = j.b[11] = 0xff;
	assert_no_hits("huge count", j.b, j.n);
	jks_build(&j, 0xfeedfeed, "1");
	j.b[7] = 9;
	assert_no_hits("version 9", j.b, j.n);
	jks_build(&j, 0xfeedfeed, "1");
	j.b[4 * 4 + 2 + 5 + 8] = 0x7f; /* key length */
	assert_no_hits("key past the end", j.b, j.n);
}

/* ---- hostile input ---- */

/* Random damage to every fixture: validators must stay inside their buffers (run under
 * ASan) and every hit they report must be well-formed (collect checks). */
static void test_mutations(void **state)
{
	static const char *const files[] = {
	    "rsa1.pem",    "ec_enc.pem", "enc8.pem",         "id_rsa",  "id_enc",   "rsa2.ppk",
	    "ed3_enc.ppk", "store.p12",  "trust_sealed.p12", "key.jks", "sec.jceks"};
	unsigned seed = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t n;
		char *s = slurp(files[i], &n);
		if (s == NULL)
			continue;
		for (int f = 0; f < 3; f++) {
			char *doc = f == 1   ? to_json(s, "\\n", false)
				    : f == 2 ? to_k8s(s, "", NULL)
					     : NULL;
			if (f == 0) {
				doc = malloc(n);
				assert_non_null(doc);
				memcpy(doc, s, n);
			}
			size_t dn = f == 0 ? n : strlen(doc);
			for (int round = 0; round < 150; round++) {
				char *m = malloc(dn);
				hits h;
				memcpy(m, doc, dn);
				for (int k = 0; k < 1 + round % 4; k++) {
					seed = seed * 1103515245u + 12345u;
					m[(seed >> 8) % dn] = (char)(seed >> 20);
				}
				seed = seed * 1103515245u + 12345u;
				size_t len = round % 3 == 0 ? (seed >> 8) % dn : dn;
				scan(m, len, &h);
				hits_free(&h);
				free(m);
			}
			free(doc);
		}
		free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pem_forms),
	    cmocka_unit_test(test_pem_redacted),
	    cmocka_unit_test(test_pem_standalone),
	    cmocka_unit_test(test_pem_placeholders),
	    cmocka_unit_test(test_pem_mismatch_truncated),
	    cmocka_unit_test(test_public_material),
	    cmocka_unit_test(test_k8s_secret),
	    cmocka_unit_test(test_b64_two_keys),
	    cmocka_unit_test(test_ppk),
	    cmocka_unit_test(test_ppk_negative),
	    cmocka_unit_test(test_pkcs12),
	    cmocka_unit_test(test_keytool),
	    cmocka_unit_test(test_jks_handmade),
	    cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
