/* SPDX-License-Identifier: Apache-2.0 */
/* Credential validators: cloud and SaaS tokens with a fixed shape (AWS, GitHub, Slack,
 * Stripe, Google) and passwords assigned in configuration files and code. */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ascii.h"
#include "detect.h"

/* How far after an AWS access key id its secret is looked for (the rule's max_after). */
#define AWS_SECRET_REACH 300
#define AWS_SECRET_LEN   40
#define SLACK_BODY_MAX   200
#define STRIPE_BODY_MIN  24
#define STRIPE_BODY_MAX  247
#define PASS_MIN         6
#define PASS_MAX         128
#define PASS_STARS       16
#define KEY_NAME_MAX     48

static bool is_b64(uint8_t ch)
{
	return ascii_is_alnum(ch) || ch == '/' || ch == '+';
}

static uint8_t lower(uint8_t ch)
{
	return ascii_is_upper(ch) ? (uint8_t)(ch - 'A' + 'a') : ch;
}

/* Case-insensitive search for a lower-case needle. */
static bool contains_ci(const uint8_t *s, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; i + m <= n; i++) {
		size_t k = 0;
		while (k < m && lower(s[i + k]) == (uint8_t)needle[k])
			k++;
		if (k == m)
			return true;
	}
	return false;
}

static bool equals_ci(const uint8_t *s, size_t n, const char *w)
{
	size_t m = strlen(w);

	if (m != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != (uint8_t)w[i])
			return false;
	return true;
}

/*
 * Placeholders in documentation, templates and test fixtures: "ghp_XXXX...", a run of
 * one character, "EXAMPLE", counting sequences. Real tokens are random, so these
 * shapes are rare in them (a run of 8 equal base62 characters: about 1 in 10^12).
 * `few_distinct` also rejects bodies of fewer than 10 distinct characters (only sound
 * for bodies of 20 or more random characters).
 */
static bool is_placeholder(const uint8_t *s, size_t n, bool few_distinct)
{
	/* Case matters, and length: a random base62 body of 36 holds "XxXX" about once in
	 * 10^5 tokens, "XXXX" once in 10^6, "XXXXX" once in 10^8. */
	static const char *const words[] = {"XXXXX",      "xxxxx",    "EXAMPLE",  "example",
					    "0000000000", "abcdefgh", "ABCDEFGH", "12345678"};
	bool seen[256] = {false};
	size_t run = 1, distinct = 0;

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			run = s[i] == s[i - 1] ? run + 1 : 1;
		if (run >= 8)
			return true;
		if (ascii_is_alnum(s[i]) && !seen[s[i]]) {
			seen[s[i]] = true;
			distinct++;
		}
	}
	if (few_distinct && distinct < 10)
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (memmem(s, n, words[i], strlen(words[i])) != NULL)
			return true;
	return false;
}

/* Copies the first `head` and last `tail` bytes of s and replaces the rest by '*',
 * truncating to fit. At least half of the token is always hidden. */
static void redact(char *dst, size_t dstsz, const uint8_t *s, size_t n, size_t head, size_t tail)
{
	size_t o = 0;

	assert(2 * (head + tail) <= n);
	for (size_t i = 0; i < n && o + 1 < dstsz; i++)
		dst[o++] = (i < head || i >= n - tail) ? (char)s[i] : '*';
	dst[o] = '\0';
}

static void emit_token(vigil_check *c, size_t s, size_t e, const char *detector, size_t head,
		       size_t tail)
{
	vigil_hit h;

	memset(&h, 0, sizeof(h));
	h.start = s;
	h.end = e;
	h.category = VIGIL_CAT_CREDENTIAL;
	h.detector = detector;
	h.confidence = VIGIL_CONF_HIGH;
	redact(h.redacted, sizeof(h.redacted), c->buf + s, e - s, head, tail);
	memcpy(c->scratch, c->buf + s, e - s);
	h.norm = c->scratch;
	h.norm_len = e - s;
	c->emit(c, &h);
}

/* ---- AWS ---- */

/*
 * A secret access key is 40 characters of base64 (30 random bytes): both cases always
 * (a key of one case: 1 in 10^10), a digit nearly always (none: 1 in 900). Only the weak
 * context, any 40-character token after a key id, asks for the digit; after the keyword
 * a key of letters only (1 in 4000) is still one.
 */
static bool aws_secret_ok(const uint8_t *s, bool near_id)
{
	/* Six letters or more: "your" turns up by chance in 1 random key of 30000. */
	static const char *const words[] = {"example", "secret", "access"};
	bool lo = false, up = false, dg = false;

	for (size_t i = 0; i < AWS_SECRET_LEN; i++) {
		lo |= ascii_is_lower(s[i]);
		up |= ascii_is_upper(s[i]);
		dg |= ascii_is_digit(s[i]);
	}
	if (!lo || !up || (near_id && !dg))
		return false;
	/* AWS documentation's example key and hand-written fillers. */
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (contains_ci(s, AWS_SECRET_LEN, words[i]))
			return false;
	return !is_placeholder(s, AWS_SECRET_LEN, true);
}

/* A path is the one common 40-character [A-Za-z0-9/+] string that is not a key. */
static bool path_like(const uint8_t *s)
{
	size_t slashes = 0;

	if (s[0] == '/')
		return true;
	for (size_t i = 0; i < AWS_SECRET_LEN; i++) {
		if (s[i] == '/')
			slashes++;
		if (s[i] == '/' && i + 1 < AWS_SECRET_LEN && s[i + 1] == '/')
			return true;
	}
	return slashes >= 4;
}

size_t vigil_validate_aws_key_id(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t e = c->end, s, lim, i;

	if (e < 20 || e > c->len)
		return 0;
	s = e - 20;
	if (memcmp(p + s, "AKIA", 4) != 0 && memcmp(p + s, "ASIA", 4) != 0 &&
	    memcmp(p + s, "ABIA", 4) != 0 && memcmp(p + s, "ACCA", 4) != 0)
		return 0;
	for (i = s + 4; i < e; i++)
		if (!ascii_is_upper(p[i]) && !ascii_is_digit(p[i]))
			return 0;
	if ((s > 0 && ascii_is_word(p[s - 1])) || (e < c->len && ascii_is_word(p[e])))
		return 0;
	/* AKIAIOSFODNN7EXAMPLE and friends; the body is too short for the distinct test. */
	if (contains_ci(p + s, 20, "example") || is_placeholder(p + s + 4, 16, false))
		return 0;
	/* The id names the key (IAM shows it); its type prefix and last four identify it. */
	emit_token(c, s, e, "aws.access_key", 4, 4);

	/* The secret usually follows on the same line (CSV from the console) or the next
	 * (credentials file, environment). Look for the first 40-character base64 token. */
	lim = e + AWS_SECRET_REACH < c->len ? e + AWS_SECRET_REACH : c->len;
	for (i = e; i < lim;) {
		size_t a = i, b;
		if (!is_b64(p[i])) {
			i++;
			continue;
		}
		for (b = a; b < c->len && is_b64(p[b]); b++)
			;
		i = b;
		if (b - a != AWS_SECRET_LEN)
			continue;
		if (b == c->len ? !c->eof : p[b] == '=')
			continue;
		if (!aws_secret_ok(p + a, true) || path_like(p + a))
			continue;
		emit_token(c, a, b, "aws.secret_key", 4, 0);
		break;
	}
	return e;
}

size_t vigil_validate_aws_secret(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t e = c->end, s;

	if (e < AWS_SECRET_LEN || e > c->len)
		return 0;
	s = e - AWS_SECRET_LEN;
	for (size_t i = s; i < e; i++)
		if (!is_b64(p[i]))
			return 0;
	/* The pattern also ends inside longer tokens; only an exact 40 is a key. */
	if (s > 0 && is_b64(p[s - 1]))
		return 0;
	if (e < c->len ? (is_b64(p[e]) || p[e] == '=') : !c->eof)
		return 0;
	if (!aws_secret_ok(p + s, false))
		return 0;
	emit_token(c, s, e, "aws.secret_key", 4, 0);
	return e;
}

/* ---- GitHub, Slack, Stripe, Google ---- */

size_t vigil_validate_github(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t e = c->end, s, body;
	const char *det;
	uint8_t *joined = c->scratch;

	if (e > c->len)
		return 0;
	if (e >= 93 && memcmp(p + e - 93, "github_pat_", 11) == 0 && p[e - 93 + 33] == '_') {
		/* github_pat_ + 22 + _ + 59: the placeholder test runs on both parts. */
		s = e - 93;
		body = s + 11;
		memcpy(joined, p + body, 22);
		memcpy(joined + 22, p + body + 23, 59);
		if (is_placeholder(joined, 81, true))
			return 0;
		det = "github.fine_grained_pat";
	} else if (e >= 40 && p[e - 40] == 'g' && p[e - 39] == 'h' &&
		   strchr("pousr", p[e - 38]) != NULL && p[e - 38] != '\0' && p[e - 37] == '_') {
		s = e - 40;
		body = s + 4;
		if (is_placeholder(p + body, 36, true))
			return 0;
		det = "github.token";
	} else {
		return 0;
	}
	for (size_t i = body; i < e; i++)
		if (!ascii_is_alnum(p[i]) && !(p[i] == '_' && i == body + 22 && body == s + 11))
			return 0;
	if ((s > 0 && ascii_is_word(p[s - 1])) || (e < c->len && ascii_is_word(p[e])))
		return 0;
	/* GitHub's checksum is deliberately not verified: test corpora and honeytokens use
	 * random bodies, and a token that only looks real is still worth a look. */
	emit_token(c, s, e, det, body - s + 4, 0);
	return e;
}

size_t vigil_validate_slack(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t e = c->end, s, body;

	if (e < 15 || e > c->len)
		return 0;
	s = e - 15;
	if (memcmp(p + s, "xox", 3) != 0 || strchr("abposr", p[s + 3]) == NULL || p[s + 3] == 0 ||
	    p[s + 4] != '-')
		return 0;
	if (s > 0 && ascii_is_word(p[s - 1]))
		return 0;
	body = s + 5;
	for (size_t i = body; i < e; i++)
		if (!ascii_is_alnum(p[i]))
			return 0;
	while (e < c->len && (ascii_is_alnum(p[e]) || p[e] == '-') && e - body <= SLACK_BODY_MAX)
		e++;
	if (e - body > SLACK_BODY_MAX || (e == c->len && !c->eof))
		return 0;
	if (e < c->len && p[e] == '_')
		return 0;
	while (p[e - 1] == '-')
		e--;
	if (e - body < 20 || is_placeholder(p + body, e - body, true))
		return 0;
	emit_token(c, s, e, "slack.token", 9, 0);
	return e;
}

size_t vigil_validate_stripe(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t e = c->end, s, body;

	if (e < 32 || e > c->len)
		return 0;
	s = e - 32;
	if ((p[s] != 's' && p[s] != 'r') || memcmp(p + s + 1, "k_live_", 7) != 0)
		return 0;
	if (s > 0 && ascii_is_word(p[s - 1]))
		return 0;
	body = s + 8;
	for (size_t i = body; i < e; i++)
		if (!ascii_is_alnum(p[i]))
			return 0;
	while (e < c->len && ascii_is_alnum(p[e]) && e - body <= STRIPE_BODY_MAX)
		e++;
	if (e - body > STRIPE_BODY_MAX || e - body < STRIPE_BODY_MIN)
		return 0;
	if (e < c->len ? p[e] == '_' : !c->eof)
		return 0;
	if (is_placeholder(p + body, e - body, true))
		return 0;
	emit_token(c, s, e, p[s] == 's' ? "stripe.secret_key" : "stripe.restricted_key", 12, 0);
	return e;
}

size_t vigil_validate_google(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t e = c->end, s;

	if (e < 39 || e > c->len)
		return 0;
	s = e - 39;
	if (memcmp(p + s, "AIza", 4) != 0)
		return 0;
	for (size_t i = s + 4; i < e; i++)
		if (!ascii_is_word(p[i]) && p[i] != '-')
			return 0;
	if (s > 0 && (ascii_is_word(p[s - 1]) || p[s - 1] == '-'))
		return 0;
	if (e < c->len ? (ascii_is_word(p[e]) || p[e] == '-') : !c->eof)
		return 0;
	if (is_placeholder(p + s + 4, 35, true))
		return 0;
	emit_token(c, s, e, "google.api_key", 8, 0);
	return e;
}

/* ---- passwords ---- */

/* Words in a key name that say the value is about a password, not the password. */
static bool key_is_meta(const uint8_t *k, size_t n)
{
	static const char *const meta[] = {
	    "file",   "path",   "hash",     "hashed",   "length", "len",     "min",
	    "max",    "policy", "reset",    "expires",  "expire", "expiry",  "prompt",
	    "field",  "label",  "regex",    "pattern",  "hint",   "forgot",  "salt",
	    "digest", "rule",   "rules",    "strength", "url",    "uri",     "encrypted",
	    "enc",    "crypt",  "required", "change",   "age",    "history",
	};
	size_t a = 0;

	/* Split on '_', '-' and lower-to-upper case changes (PasswordFile, passwordMinLength). */
	while (a < n) {
		size_t b = a + 1;
		while (b < n && k[b] != '_' && k[b] != '-' &&
		       !(ascii_is_lower(k[b - 1]) && ascii_is_upper(k[b])))
			b++;
		for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
			if (equals_ci(k + a, b - a, meta[i]))
				return true;
		a = b;
		while (a < n && (k[a] == '_' || k[a] == '-'))
			a++;
	}
	return false;
}

/*
 * One dot-separated part of a name in code: snake_case or UPPER_SNAKE, digits allowed;
 * or one word, camelCase or PascalCase, with digits only at its end. Random passwords
 * put capitals side by side and mix cases around '_'; names in code do not.
 */
static bool code_word(const uint8_t *s, size_t n)
{
	size_t i = 1;

	if (n == 0 || !(ascii_is_alpha(s[0]) || s[0] == '_'))
		return false;
	if (memchr(s, '_', n) != NULL) {
		bool lo = false, up = false;
		for (i = 0; i < n; i++) {
			if (!ascii_is_word(s[i]))
				return false;
			lo |= ascii_is_lower(s[i]);
			up |= ascii_is_upper(s[i]);
		}
		return !(lo && up);
	}
	/* [A-Za-z][a-z]+([A-Z][a-z]+)*[0-9]*, or one case throughout */
	while (i < n && ascii_is_lower(s[i]))
		i++;
	if (i > 1) {
		while (i + 1 < n && ascii_is_upper(s[i]) && ascii_is_lower(s[i + 1])) {
			i++;
			while (i < n && ascii_is_lower(s[i]))
				i++;
		}
	} else {
		while (i < n && ascii_is_upper(s[i]) == ascii_is_upper(s[0]) &&
		       ascii_is_alpha(s[i]))
			i++;
	}
	while (i < n && ascii_is_digit(s[i]))
		i++;
	return i == n;
}

/*
 * Whether a bare value is a variable in code rather than a literal: db_password,
 * this.password, settings.DB_PASS, userPassword. Config files rarely hold a real
 * password of that shape; generated ones (mixed case with digits) never are.
 */
static bool is_code_name(const uint8_t *v, size_t n)
{
	size_t a = 0;
	bool dotted = false, snake = memchr(v, '_', n) != NULL, up = false, dg = false;

	/* Digits in names end a word (db2, oauth2.token); generated passwords put them
	 * anywhere. */
	for (size_t i = 0; i + 1 < n; i++)
		if (ascii_is_digit(v[i]) && !ascii_is_digit(v[i + 1]) && v[i + 1] != '.' &&
		    v[i + 1] != '_')
			return false;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && v[i] != '.')
			continue;
		if (!code_word(v + a, i - a))
			return false;
		dotted |= i < n;
		a = i + 1;
	}
	if (dotted || snake)
		return true;
	/* lowerCamelCase of letters only */
	for (size_t i = 0; i < n; i++) {
		up |= ascii_is_upper(v[i]);
		dg |= ascii_is_digit(v[i]);
	}
	return ascii_is_lower(v[0]) && up && !dg;
}

/* A value that names where the password comes from instead of being one. */
static bool value_is_reference(const uint8_t *v, size_t n, bool quoted)
{
	static const char *const refs[] = {"${",   "{{",          "%(",         "<%",
					   "(",    ")",           "os.environ", "getenv",
					   "env[", "process.env", "://",        "vault:"};
	size_t i;

	if (strchr("$%{<[@!&*", v[0]) != NULL)
		return true;
	if (v[0] == '/' || (n >= 2 && memcmp(v, "./", 2) == 0) ||
	    (n >= 2 && memcmp(v, "~/", 2) == 0) || (n >= 3 && memcmp(v, "../", 3) == 0))
		return true;
	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
		if (contains_ci(v, n, refs[i]))
			return true;
	if (quoted)
		return false;
	/* params[:password], kwargs["pw"]: indexing, in code. */
	if (memchr(v, '[', n) != NULL)
		return true;
	if (is_code_name(v, n))
		return true;
	/* "password= user=bob": the value is empty and the next key follows. */
	for (i = 0; i < n && (ascii_is_word(v[i]) || v[i] == '.'); i++)
		;
	if (i > 0 && i < n && v[i] == '=' && i + 1 < n && v[i + 1] != '=')
		return true;
	return false;
}

static bool value_is_placeholder(const uint8_t *v, size_t n)
{
	static const char *const exact[] = {
	    "password",      "passw0rd",     "changeme",  "change_me",  "secret",      "example",
	    "sample",        "test",         "testing",   "dummy",      "placeholder", "redacted",
	    "your_password", "yourpassword", "null",      "none",       "nil",         "undefined",
	    "true",          "false",        "yes",       "no",         "required",    "optional",
	    "string",        "text",         "hidden",    "empty",      "default",     "...",
	    "<password>",    "password123",  "secret123", "mypassword", "notasecret",  "xxxxxx",
	    "todo",          "tbd",          "unset",     "masked",     "filtered",    "removed",
	    "omitted",       "invalid",      "encrypted",
	};
	static const char *const parts[] = {
	    "changeme", "change_me",  "change-me", "placeholder", "example",   "redacted",
	    "xxxx",     "****",       "your_",     "your-",       "yourpass",  "yoursecret",
	    "dummy",    "replace_me", "replaceme", "replace-me",  "<",         ">",
	    "sample",   "notreal",    "not_real",  "fakepass",    "fake_pass", "secretvalue",
	    "_here",    "-here",      "anonymous", "top secret",  "on/off",    "`",
	    "$(",
	};
	size_t i;

	uint8_t plain[PASS_MAX + 1];

	/* Leetspeak of a placeholder is still a placeholder: p4ssw0rd, s3cr3t, p@ssword. */
	for (i = 0; i < n && i < PASS_MAX; i++) {
		static const char from[] = "4@30$5!1", to[] = "aaeossil";
		const char *k = memchr(from, v[i], sizeof(from) - 1);
		plain[i] = k ? (uint8_t)to[k - from] : v[i];
	}
	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (equals_ci(v, n, exact[i]) || (n <= PASS_MAX && equals_ci(plain, n, exact[i])))
			return true;
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (contains_ci(v, n, parts[i]))
			return true;
	/* One character or a short unit repeated: "******", "abababab", "•••••" (UTF-8). */
	for (size_t unit = 1; unit <= 4 && unit < n; unit++) {
		for (i = unit; i < n && v[i] == v[i - unit]; i++)
			;
		if (i == n)
			return true;
	}
	return false;
}

/* Enough evidence that the value is a chosen secret, not a word: two of lower, upper,
 * digit and symbol, or a long passphrase; a plain word under 12 letters never is. */
static bool value_is_strong(const uint8_t *v, size_t n)
{
	bool lo = false, up = false, dg = false, sy = false;
	int classes;

	for (size_t i = 0; i < n; i++) {
		lo |= ascii_is_lower(v[i]);
		up |= ascii_is_upper(v[i]);
		dg |= ascii_is_digit(v[i]);
		sy |= !ascii_is_alnum(v[i]);
	}
	if (!dg && !sy && n < 12)
		return false;
	classes = lo + up + dg + sy;
	return classes >= 2 || n >= 16;
}

/*
 * Any value: digits and dots are a version or an OID, "user@host.tld" is an address
 * (anonymous FTP's password). A bare value in code or a config file besides: letters
 * alone are an identifier or a type (ConstCStringPtr, UTF8String), "NAME+174" is an
 * expression.
 */
static bool literal_value_ok(const uint8_t *v, size_t n)
{
	bool only_digits_dots = true;
	size_t i, at = n;

	for (i = 0; i < n; i++) {
		only_digits_dots &= ascii_is_digit(v[i]) || v[i] == '.';
		if (v[i] == '@' && at == n)
			at = i;
	}
	if (only_digits_dots && memchr(v, '.', n) != NULL)
		return false;
	if (at > 0 && at < n && memchr(v + at, '.', n - at) != NULL)
		return false;
	/* "show_password", "^NT_OWF_PASSWORD": a value about a password, not one. */
	return !contains_ci(v, n, "password") && !contains_ci(v, n, "passwd");
}

static bool unquoted_value_ok(const uint8_t *v, size_t n)
{
	bool digit = false, symbol = false;
	size_t i;

	for (i = 0; i < n; i++) {
		digit |= ascii_is_digit(v[i]);
		symbol |= !ascii_is_alnum(v[i]) && v[i] != '_';
	}
	if (!digit && !symbol) {
		/* A long lower-case passphrase, yes; a CamelCase or short word, no. */
		for (i = 0; i < n; i++)
			if (!ascii_is_lower(v[i]))
				return false;
		return n >= 16;
	}
	/* IDENTIFIER+123, NAME-1, A|B */
	for (i = 0; i < n && (ascii_is_alnum(v[i]) || v[i] == '_'); i++)
		;
	if (i >= 4 && i < n && strchr("+-*|^", v[i]) != NULL && ascii_is_upper(v[0]))
		return false;
	/* A short lower-case word with a number at its end is a name in code (pnuint8,
	 * int64, utf16le's kin), not the mixed secret a config file holds. */
	for (i = 0; i < n && ascii_is_lower(v[i]); i++)
		;
	if (i > 0 && n < 12 && n - i <= 3) {
		size_t k = i;
		while (k < n && ascii_is_digit(v[k]))
			k++;
		if (k == n)
			return false;
	}
	return literal_value_ok(v, n);
}

static bool is_blank(uint8_t ch)
{
	return ch == ' ' || ch == '\t';
}

/* A word that may introduce an assignment at the start of a line ("export PASS=..."). */
static bool is_assign_keyword(const uint8_t *w, size_t n)
{
	static const char *const words[] = {"export", "set", "declare", "local", "readonly",
					    "var",    "let", "const",   "my",    "our",
					    "setenv", "ENV", "SET",     "EXPORT"};
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (strlen(words[i]) == n && memcmp(words[i], w, n) == 0)
			return true;
	return false;
}

/*
 * Whether the key begins an assignment of its own: at the start of a line (after blanks,
 * a '$' or '@' sigil, an opening quote, a YAML "- ", or "export"/"set"/...), or after a
 * '{', ',', ';', '&' or '?' that separates entries in JSON, one-line lists and query
 * strings. Help texts ("--password=WORD"), test logs ("PASS: ..."), member accesses
 * ("conn.password = x") and prose never qualify.
 */
static bool key_stands_alone(const uint8_t *p, size_t ks)
{
	size_t j = ks;

	if (j > 0 && (p[j - 1] == '"' || p[j - 1] == '\''))
		j--;
	if (j > 0 && (p[j - 1] == '$' || p[j - 1] == '@'))
		j--;
	while (j > 0 && is_blank(p[j - 1]))
		j--;
	if (j == 0)
		return true; /* the window's start: the engine keeps 40 bytes, so a line start */
	switch (p[j - 1]) {
	case '\n':
	case '\r':
	case '{':
	case ',':
	case ';':
	case '&':
	case '?':
		return true;
	case '-':
		/* A YAML list item: "- password: x" at the start of a line. */
		j--;
		if (j > 0 && !is_blank(p[j - 1]) && p[j - 1] != '\n')
			return false;
		while (j > 0 && is_blank(p[j - 1]))
			j--;
		return j == 0 || p[j - 1] == '\n';
	default:
		break;
	}
	if (j == ks && p[j - 1] == '.') {
		/* A dotted properties key that starts its line: spring.datasource.password. */
		while (j > 0 && (ascii_is_word(p[j - 1]) || p[j - 1] == '.' || p[j - 1] == '-'))
			j--;
		while (j > 0 && is_blank(p[j - 1]))
			j--;
		return j == 0 || p[j - 1] == '\n';
	}
	if (j != ks && (p[j - 1] == '"' || p[j - 1] == '\'')) {
		/* An attribute of an XML element: <add key="x" password="..." />. */
		for (size_t t = j - 1; t > 0 && ks - t < 512 && p[t - 1] != '\n'; t--) {
			if (p[t - 1] == '>')
				return false;
			if (p[t - 1] == '<')
				return true;
		}
		return false;
	}
	if (j != ks && ascii_is_word(p[j - 1])) {
		size_t w = j;
		while (w > 0 && ascii_is_word(p[w - 1]))
			w--;
		if (!is_assign_keyword(p + w, j - w))
			return false;
		while (w > 0 && is_blank(p[w - 1]))
			w--;
		return w == 0 || p[w - 1] == '\n';
	}
	return false;
}

/* Whether the value ends its entry: then only blanks and the end of the line, a
 * separator (; , } ] ) &) or a comment. Text going on after the value means prose or an
 * expression ("PASS: gdb.base/x.exp: test name", "pwd = a ? b : c"). */
static bool value_ends_entry(const uint8_t *p, size_t len, size_t k, bool eof)
{
	while (k < len && is_blank(p[k]))
		k++;
	if (k == len)
		return eof;
	if (p[k] == '\n' || p[k] == '\r' || p[k] == '#' || strchr(";,}]&>", p[k]) != NULL)
		return true;
	if (p[k] == '/' && k + 1 < len && p[k + 1] == '>')
		return true; /* the end of an XML element */
	return p[k] == '/' && k + 1 < len && p[k + 1] == '/';
}

size_t vigil_validate_password(vigil_check *c)
{
	const uint8_t *p = c->buf;
	size_t e = c->end, op_s, op_e, ks, ke, i, vs, ve;
	bool quoted = false;
	char *r;
	size_t o = 0, stars;
	vigil_hit h;

	if (e == 0 || e > c->len)
		return 0;
	/* The pattern reports each way its operator can end ("=" then "=>", ":" then ":="):
	 * take the longest so both triggers judge the same value. */
	op_e = e;
	while (op_e < c->len && op_e - e < 2 && (p[op_e] == '=' || p[op_e] == '>') &&
	       (p[op_e - 1] == '=' || p[op_e - 1] == ':'))
		op_e++;
	op_s = e;
	while (op_s > 0 && e - op_s < 3 &&
	       (p[op_s - 1] == '=' || p[op_s - 1] == ':' || p[op_s - 1] == '>'))
		op_s--;
	if (op_s == e)
		return 0;
	/* The key name: back over blanks and a closing quote to the identifier. */
	ke = op_s;
	while (ke > 0 && op_s - ke < 16 && (p[ke - 1] == ' ' || p[ke - 1] == '\t'))
		ke--;
	if (ke > 0 && (p[ke - 1] == '"' || p[ke - 1] == '\''))
		ke--;
	ks = ke;
	while (ks > 0 && ke - ks < KEY_NAME_MAX && ascii_is_word(p[ks - 1]))
		ks--;
	if (ks == ke || (ks > 0 && ascii_is_word(p[ks - 1])))
		return 0;
	/* "${DB_PASSWORD:-x}": a shell or compose variable with its default, not a setting. */
	if (ks >= 2 && p[ks - 1] == '{' && p[ks - 2] == '$')
		return 0;
	if (key_is_meta(p + ks, ke - ks))
		return 0;
	/* "PASS: test name": the verdict label of test logs (DejaGnu, TAP, pytest). */
	if (ke - ks == 4 && memcmp(p + ks, "PASS", 4) == 0 && p[op_s] == ':' && op_e == op_s + 1)
		return 0;

	/* The value: quoted with backslash escapes, or bare up to a delimiter. A '#' glued
	 * to a bare value is part of it: shells, YAML and INI files start comments only
	 * after blanks, which end the value anyway. */
	vs = op_e;
	while (vs < c->len && (p[vs] == ' ' || p[vs] == '\t'))
		vs++;
	if (vs >= c->len)
		return 0;
	if (p[vs] == '"' || p[vs] == '\'') {
		uint8_t q = p[vs];
		quoted = true;
		vs++;
		for (ve = vs; ve < c->len && p[ve] != q; ve++) {
			if (p[ve] == '\n' || ve - vs > PASS_MAX)
				return 0;
			if (p[ve] == '\\')
				ve++;
		}
		if (ve >= c->len)
			return 0; /* unterminated, or cut by the window */
	} else {
		for (ve = vs; ve < c->len && ve - vs <= PASS_MAX; ve++)
			if (strchr(" \t\r\n;,<&}]", p[ve]) != NULL || p[ve] == '\0')
				break;
		if (ve == c->len && !c->eof)
			return 0;
	}
	if (ve - vs < PASS_MIN || ve - vs > PASS_MAX)
		return 0;
	if (!key_stands_alone(p, ks) || !value_ends_entry(p, c->len, ve + quoted, c->eof))
		return 0;
	/* "pwd := pwd + #0", ACTION_SET_PASSWORD = 'app.action.SET_PASSWORD': a value
	 * that names its own key is an expression or a constant's name. */
	if (ke - ks >= 3 && ke - ks <= 32) {
		char key[33];
		for (i = 0; i < ke - ks; i++)
			key[i] = (char)lower(p[ks + i]); /* contains_ci wants a lower-case needle */
		key[ke - ks] = '\0';
		if (contains_ci(p + vs, ve - vs, key))
			return 0;
	}
	if (quoted ? !literal_value_ok(p + vs, ve - vs) : !unquoted_value_ok(p + vs, ve - vs))
		return 0;
	/* A quoted phrase of several words is a sentence or a message, not a password
	 * (unless the key asks for a passphrase). */
	if (quoted && !contains_ci(p + ks, ke - ks, "phrase")) {
		size_t spaces = 0;
		for (i = vs; i < ve; i++)
			spaces += p[i] == ' ';
		if (spaces >= 2)
			return 0;
	}
	if (value_is_reference(p + vs, ve - vs, quoted) || value_is_placeholder(p + vs, ve - vs) ||
	    !value_is_strong(p + vs, ve - vs))
		return 0;

	memset(&h, 0, sizeof(h));
	h.start = vs;
	h.end = ve;
	h.category = VIGIL_CAT_CREDENTIAL;
	h.detector = "password.assignment";
	h.confidence = VIGIL_CONF_MEDIUM;
	/* "db_password=********": the key and operator as written, one star per character
	 * of the value up to 16 so the length of a long one stays private too. */
	r = h.redacted;
	for (i = ks; i < ke && o + 1 < sizeof(h.redacted); i++)
		r[o++] = (char)p[i];
	for (i = op_s; i < op_e && o + 1 < sizeof(h.redacted); i++)
		r[o++] = (char)p[i];
	stars = ve - vs < PASS_STARS ? ve - vs : PASS_STARS;
	for (i = 0; i < stars && o + 1 < sizeof(h.redacted); i++)
		r[o++] = '*';
	r[o] = '\0';
	memcpy(c->scratch, p + vs, ve - vs);
	h.norm = c->scratch;
	h.norm_len = ve - vs;
	c->emit(c, &h);
	return ve;
}
