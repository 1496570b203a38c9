/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the number and credential validators (cards, IBANs, SSNs, tokens,
 * passwords), driven by the trigger patterns through vectorscan like the engine. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "validate_harness.h"

/* ---- the trigger rules: rules.c's table ---- */

#define N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * What the validators need of their rules: bytes before and after the trigger end they
 * read, and the password key pattern that takes multi-part names (mysql_root_password).
 * Where rules.c asks for less, the harness uses these (test_rule_table fails until the
 * table has them).
 */
#define PASSWORD_PATTERN                                                                           \
	"\\b(?:[a-z0-9]+_)*(?:password|passwd|passwort|passphrase|pwd|pass)[\"']?\\s*"             \
	"(?:=|:|=>|:=)"

static const struct need {
	const char *rule;
	unsigned before, after;
	const char *pattern; /* NULL: the table's */
} needs[] = {
    /* the card validator takes window position 0 for the stream start only below this */
    {"card", 40, 40, NULL},
    {"iban", 10, 40, NULL},                  /* "CCdd " before the end, 32 + 7 spaces after */
    {"ssn", 12, 2, NULL},                    /* the number and the byte before; "-d" after */
    {"ssn.keyword", 0, 37, NULL},            /* 24 of filler, 11 of number, 2 of boundary */
    {"aws.key_id", 21, 300, NULL},           /* the id and a byte; the secret's reach */
    {"aws.secret", 41, 1, NULL},             /* the key and a byte */
    {"github.token", 41, 1, NULL},           /* "ghp_" + 36 and a byte */
    {"github.pat", 94, 1, NULL},             /* "github_pat_" + 82 and a byte */
    {"slack", 16, 200, NULL},                /* "xoxb-" + 10 and a byte; a 200-byte body */
    {"stripe", 33, 224, NULL},               /* "sk_live_" + 24 and a byte; 247 - 24 + 1 */
    {"google", 40, 1, NULL},                 /* "AIza" + 35 and a byte */
    {"password", 70, 150, PASSWORD_PATTERN}, /* key and blanks; blanks and value */
};

static vh_rule r_card[1], r_iban[1], r_ssn[2], r_aws[2], r_tokens[5], r_password[1];

static const vigil_rule *table_rule(const char *name)
{
	for (size_t i = 0; i < vigil_rules_count; i++)
		if (strcmp(vigil_rules[i].name, name) == 0)
			return &vigil_rules[i];
	return NULL;
}

/* Fills dst from rules.c's rules of these names, raised to what the validators need. */
static int load(vh_rule *dst, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const vigil_rule *r = table_rule(names[i]);
		if (r == NULL) {
			print_error("rules.c has no rule \"%s\"\n", names[i]);
			return -1;
		}
		memset(&dst[i], 0, sizeof(dst[i]));
		dst[i].name = r->name;
		dst[i].pattern = r->pattern;
		dst[i].flags = r->flags;
		dst[i].max_before = r->max_before;
		dst[i].max_after = r->max_after;
		dst[i].validate = r->validate;
		for (size_t k = 0; k < N(needs); k++) {
			if (strcmp(needs[k].rule, r->name) != 0)
				continue;
			if (dst[i].max_before < needs[k].before)
				dst[i].max_before = needs[k].before;
			if (dst[i].max_after < needs[k].after)
				dst[i].max_after = needs[k].after;
			if (needs[k].pattern != NULL)
				dst[i].pattern = needs[k].pattern;
		}
	}
	return 0;
}

static int setup_rules(void **state)
{
	static const char *const card[] = {"card"}, *const iban[] = {"iban"},
				 *const ssn[] = {"ssn", "ssn.keyword"},
				 *const aws[] = {"aws.key_id", "aws.secret"},
				 *const tokens[] = {"github.token", "github.pat", "slack", "stripe",
						    "google"},
				 *const password[] = {"password"};
	(void)state;
	return load(r_card, card, N(card)) || load(r_iban, iban, N(iban)) ||
		       load(r_ssn, ssn, N(ssn)) || load(r_aws, aws, N(aws)) ||
		       load(r_tokens, tokens, N(tokens)) || load(r_password, password, N(password))
		   ? -1
		   : 0;
}

/* rules.c gives every validator the context it reads, and the card validator's idea of
 * the stream start matches the card rule. */
static void test_rule_table(void **state)
{
	int bad = 0;
	(void)state;

	for (size_t k = 0; k < N(needs); k++) {
		const vigil_rule *r = table_rule(needs[k].rule);
		if (r == NULL) {
			print_error("rules.c: no rule %s\n", needs[k].rule);
			bad++;
			continue;
		}
		if (r->max_before < needs[k].before || r->max_after < needs[k].after) {
			print_error("rules.c: %s has max_before %u, max_after %u; needs %u, %u\n",
				    r->name, r->max_before, r->max_after, needs[k].before,
				    needs[k].after);
			bad++;
		}
		if (strcmp(r->name, "card") == 0 && r->max_before != needs[k].before) {
			print_error("rules.c: card max_before %u, validate_card.c assumes %u\n",
				    r->max_before, needs[k].before);
			bad++;
		}
		if (needs[k].pattern != NULL && strcmp(r->pattern, needs[k].pattern) != 0) {
			print_error("rules.c: %s pattern is\n  %s\nwanted\n  %s\n", r->name,
				    r->pattern, needs[k].pattern);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- table runner ---- */

#define C_MED  (1 + VIGIL_CONF_MEDIUM)
#define C_HIGH (1 + VIGIL_CONF_HIGH)

typedef struct vexp {
	const char *detector;
	const char *match;    /* the secret as it appears in the text (its first occurrence) */
	const char *redacted; /* NULL: not checked */
	const char *norm;     /* NULL: not checked */
	int conf;             /* C_MED; 0: the table's default */
} vexp;

typedef struct vcase {
	const char *text;
	vexp e[3];
} vcase;

static size_t n_cases; /* table rows run, over all tests */

static int cmp_hit(const void *a, const void *b)
{
	const vh_hit *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Runs one text in both window modes; returns the number of mismatches (printed). */
static int run_case(vh_rule *rules, size_t nrules, const vcase *k, vigil_category cat,
		    vigil_confidence conf, const char *where, size_t row)
{
	static const char *const mode_name[] = {"full", "min"};
	size_t len = strlen(k->text), nexp = 0;
	int bad = 0;

	while (nexp < N(k->e) && k->e[nexp].detector != NULL)
		nexp++;
	for (int mode = VH_FULL; mode <= VH_MIN; mode++) {
		vh_result res;
		if (!vh_scan(rules, nrules, k->text, len, (vh_mode)mode, &res)) {
			print_error("%s[%zu]: a pattern did not compile\n", where, row);
			return 1;
		}
		qsort(res.hit, res.n, sizeof(res.hit[0]), cmp_hit);
#define MISMATCH(...)                                                                              \
	do {                                                                                       \
		print_error("%s[%zu] (%s window) \"%s\": ", where, row, mode_name[mode], k->text); \
		print_error(__VA_ARGS__);                                                          \
		bad++;                                                                             \
	} while (0)
		if (res.error[0] != '\0')
			MISMATCH("%s\n", res.error);
		if (res.n != nexp) {
			MISMATCH("%zu hits, expected %zu%s%s\n", res.n, nexp,
				 res.n ? "; first: " : "", res.n ? res.hit[0].redacted : "");
			continue;
		}
		for (size_t i = 0; i < nexp; i++) {
			const vexp *e = &k->e[i];
			const vh_hit *h = &res.hit[i];
			const char *m = strstr(k->text, e->match);
			vigil_confidence want = e->conf ? (vigil_confidence)(e->conf - 1) : conf;
			if (m == NULL) {
				MISMATCH("bad table row: match not in text\n");
				continue;
			}
			if (strcmp(h->detector, e->detector) != 0)
				MISMATCH("detector %s, expected %s\n", h->detector, e->detector);
			if (h->start != (size_t)(m - k->text) ||
			    h->end != h->start + strlen(e->match))
				MISMATCH("extent [%zu,%zu), expected [%zu,%zu)\n", h->start, h->end,
					 (size_t)(m - k->text),
					 (size_t)(m - k->text) + strlen(e->match));
			if (e->redacted && strcmp(h->redacted, e->redacted) != 0)
				MISMATCH("redacted \"%s\", expected \"%s\"\n", h->redacted,
					 e->redacted);
			if (e->norm && (h->norm_len != strlen(e->norm) ||
					memcmp(h->norm, e->norm, h->norm_len)))
				MISMATCH("norm of %zu bytes, not \"%s\"\n", h->norm_len, e->norm);
			if (h->confidence != want)
				MISMATCH("confidence %d, expected %d\n", (int)h->confidence,
					 (int)want);
			if (h->category != cat)
				MISMATCH("category %d, expected %d\n", (int)h->category, (int)cat);
		}
#undef MISMATCH
	}
	return bad;
}

static void run_table(vh_rule *rules, size_t nrules, const vcase *cases, size_t n,
		      vigil_category cat, vigil_confidence conf, const char *where)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += run_case(rules, nrules, &cases[i], cat, conf, where, i);
	n_cases += n;
	assert_int_equal(bad, 0);
}

/* One text and its expected detector (or NULL for none), checked in both window modes;
 * the hit must be high confidence. */
static int expect_one(vh_rule *rules, size_t nrules, const char *text, const char *match,
		      const char *detector, vigil_category cat, const char *where, size_t row)
{
	vcase k;

	memset(&k, 0, sizeof(k));
	k.text = text;
	if (detector != NULL) {
		k.e[0].detector = detector;
		k.e[0].match = match;
	}
	n_cases++;
	return run_case(rules, nrules, &k, cat, VIGIL_CONF_HIGH, where, row);
}

/* ---- low-level checks ---- */

static void test_luhn(void **state)
{
	static const struct {
		const char *digits;
		bool ok;
	} t[] = {
	    {"4111111111111111", true},
	    {"4111111111111112", false},
	    {"79927398713", true},
	    {"79927398710", false},
	    {"0000000000000000", true},
	    {"378282246310005", true},
	    {"4012888888881881", true},
	    {"4012888888881882", false},
	    {"", false},
	    {"0", false},
	    {"18", true},
	    {"4111x11111111111", false},
	    {"4111 1111 1111 1111", false},
	};
	(void)state;
	for (size_t i = 0; i < N(t); i++) {
		if (vigil_luhn_ok(t[i].digits, strlen(t[i].digits)) != t[i].ok)
			fail_msg("luhn(\"%s\") != %d", t[i].digits, t[i].ok);
	}
	n_cases += N(t);
}

/* A real-format IBAN for every registered country of the trigger (all lengths; BBANs
 * made up, check digits computed), so the length table is exercised end to end. */
static const char *const ibans[] = {
    "AD51UJZD1815908301661318",
    "AE881DHO909960308246281",
    "AL49T9LG99351819093786579754",
    "AT96PLPF948757491186",
    "AZ79KVJ560189555979711471049",
    "BA022SYW075291703423",
    "BE05ZZ5F27684268",
    "BG73R0WY32122330792440",
    "BH03J08X99528907866661",
    "BR844ZDM137215901092815901396",
    "BY44JQWX71177774121547280385",
    "CH44J8B74148525388853",
    "CR64MPZO38750047439575",
    "CY32XFOG37353799075116372651",
    "CZ16Z3ZF2220297299752882",
    "DE57BAG726330434839548",
    "DK360IDW7986828288",
    "DO85B2LA22279180588871803340",
    "EE97G629017598983478",
    "EG56846P848372616751361341252",
    "ES90QI3O1672326865635515",
    "FI04BV937065894811",
    "FO68OGFQ4024264628",
    "FR8765UF4026140141931417058",
    "GB470RIC83124023448347",
    "GE756LRW04000883873716",
    "GI7358Z6433532650201462",
    "GL94DFY64934072247",
    "GR43AQXV8530435205617483380",
    "GT70FQFJ69060443198296572492",
    "HR42C6162889093100251",
    "HU13Y29D08374071881817414333",
    "IE7135YE74093192544992",
    "IL86A4D5413748477718341",
    "IQ464BS3187463319128452",
    "IS856RHX377602077642656515",
    "IT73AUVZ1304451669156404104",
    "JO13JPR18535606883106792470822",
    "KW2140VS4446347861221387837576",
    "KZ80I9MP125815354930",
    "LB910Y0736450749528831436676",
    "LC03TBIC679701687731322817180023",
    "LI58CTIQ8611148936439",
    "LT95AA8T745378383064",
    "LU44DBM5614365370565",
    "LV41ZMAS8137343373441",
    "MC675LO56092603092600267511",
    "MD07KVML8704655721014156",
    "ME17H9NY54610735873557",
    "MK67B0PZ06071043195",
    "MR82XRVC4544091031776467272",
    "MT11ATJP55759183623610788526114",
    "MU39FNG07723267938144494544373",
    "NL60LPPJ4935164388",
    "NO75OG3C1073750",
    "PK73SOHD3993158279401995",
    "PL68NCXV20340930565294130787",
    "PS47E0GZ828126464460495660536",
    "PT06ZNA126116957220082619",
    "QA11X6KJ542821167342075096192",
    "RO45OZM42930682651233080",
    "RS88UHY384649366578720",
    "SA94A53P7972761125651788",
    "SC75CCIF58108620191327423159425",
    "SE15R3JQ8739498355032624",
    "SI42UYKQ18057889148",
    "SK24ZXQY5925517329048449",
    "SM11UACO2496685027390000954",
    "ST47G7W836949235972203271",
    "SV62EJRZ40085997987320008062",
    "TL87PKDG098326389869284",
    "TN05ETD48066717231430154",
    "TR29DR91844318024332536593",
    "UA43Y844800639436991922001192",
    "VA61WJBB02010195381613",
    "VG42NNHC0147121345564054",
    "XK23SDXU987490606815",
    /* published examples */
    "DE89370400440532013000",
    "GB29NWBK60161331926819",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "NO9386011117947",
    "MT84MALT011000012345MTLCAST001S",
    "LC55HEMM000100010012001200023015",
    "BE68539007547034",
    "CH9300762011623852957",
};

static void test_iban_ok(void **state)
{
	static const struct {
		const char *iban;
		bool ok;
	} t[] = {
	    {"DE89370400440532013000", true},
	    {"DE89370400440532013001", false},
	    {"DE88370400440532013000", false},
	    {"de89370400440532013000", false},
	    {"DE89 3704 0044 0532 0130 00", false}, /* compact form only */
	    {"GB29NWBK60161331926819", true},
	    {"GB29nwbk60161331926819", false},
	    {"D", false},
	    {"", false},
	    {"DEXX370400440532013000", false},
	    {"1289370400440532013000", false},
	    /* check digits 97 are valid; 00 aliases them mod 97 but is never issued */
	    {"DE97370400440532010043", true},
	    {"DE00370400440532010043", false},
	    {"DE9837040044053201300012345678901234", false}, /* longer than 34 */
	};
	(void)state;
	for (size_t i = 0; i < N(t); i++)
		if (vigil_iban_ok(t[i].iban, strlen(t[i].iban)) != t[i].ok)
			fail_msg("iban_ok(\"%s\") != %d", t[i].iban, t[i].ok);
	for (size_t i = 0; i < N(ibans); i++)
		if (!vigil_iban_ok(ibans[i], strlen(ibans[i])))
			fail_msg("iban_ok(\"%s\") false", ibans[i]);
	n_cases += N(t) + N(ibans);
}

/* ---- cards ---- */

static const vcase card_cases[] = {
    /* Maestro ranges still used by issuers and test-data generators */
    {"maestro 561252601811 ok", {{"card.maestro", "561252601811", NULL, NULL, C_HIGH}}},
    {"maestro 6390526018159086 ok", {{"card.maestro", "6390526018159086", NULL, NULL, C_HIGH}}},
    /* each scheme, compact, at the stream's start and end */
    {"4111111111111111",
     {{"card.visa", "4111111111111111", "411111******1111", "4111111111111111", 0}}},
    {"4372958170242", {{"card.visa", "4372958170242", "4372*******42", NULL, 0}}},
    {"pan 4077623916334030176 ok",
     {{"card.visa", "4077623916334030176", "407762*********0176", NULL, C_HIGH}}},
    {"5555555555554444", {{"card.mastercard", "5555555555554444", "555555******4444", NULL, 0}}},
    {"mc 2221854540735569\n", {{"card.mastercard", "2221854540735569", NULL, NULL, 0}}},
    {"mc 2720253149418808\n", {{"card.mastercard", "2720253149418808", NULL, NULL, 0}}},
    {"mc 5146737165189698\n", {{"card.mastercard", "5146737165189698", NULL, NULL, 0}}},
    {"mc 2223000048400011\n", {{"card.mastercard", "2223000048400011", NULL, NULL, 0}}},
    {"378282246310005", {{"card.amex", "378282246310005", "378282*****0005", NULL, 0}}},
    {"amex 342971796420619.", {{"card.amex", "342971796420619", NULL, NULL, C_HIGH}}},
    {"6011111111111117", {{"card.discover", "6011111111111117", NULL, NULL, 0}}},
    {"d 6011342529701731123 d", {{"card.discover", "6011342529701731123", NULL, NULL, 0}}},
    {"d 6446883986858718 d", {{"card.discover", "6446883986858718", NULL, NULL, 0}}},
    {"d 6536654710870795 d", {{"card.discover", "6536654710870795", NULL, NULL, 0}}},
    {"d 6221269138316444 d", {{"card.discover", "6221269138316444", NULL, NULL, 0}}},
    {"d 6229258424137455903 d", {{"card.discover", "6229258424137455903", NULL, NULL, 0}}},
    {"3530111333300000", {{"card.jcb", "3530111333300000", NULL, NULL, 0}}},
    {"j 3566002020360505 j", {{"card.jcb", "3566002020360505", NULL, NULL, 0}}},
    {"j 3589908271746966141 j", {{"card.jcb", "3589908271746966141", NULL, NULL, 0}}},
    {"30569309025904", {{"card.diners", "30569309025904", "3056********04", NULL, 0}}},
    {"dc 36227206271667", {{"card.diners", "36227206271667", NULL, NULL, 0}}},
    {"dc 38520000023237", {{"card.diners", "38520000023237", NULL, NULL, 0}}},
    {"dc 30954590762078 dc", {{"card.diners", "30954590762078", NULL, NULL, 0}}},
    {"dc 3845106227447412 dc", {{"card.diners", "3845106227447412", NULL, NULL, 0}}},
    /* Diners Club issues 14 and 16 digits only: a 19-digit "38..." is a nonce. */
    {"dc 3981760161370959742 dc", {{0}}},
    {"6200000000000005", {{"card.unionpay", "6200000000000005", NULL, NULL, 0}}},
    {"up 6209021865345039 up", {{"card.unionpay", "6209021865345039", NULL, NULL, 0}}},
    {"up 6200952483564743538 up", {{"card.unionpay", "6200952483564743538", NULL, NULL, 0}}},
    {"501855776552", {{"card.maestro", "501855776552", "5018******52", NULL, 0}}},
    {"m 5020040913918 m", {{"card.maestro", "5020040913918", "5020*******18", NULL, 0}}},
    {"m 5038137609345421 m", {{"card.maestro", "5038137609345421", NULL, NULL, 0}}},
    {"m 5893271133205030269 m", {{"card.maestro", "5893271133205030269", NULL, NULL, 0}}},
    {"m 6304612918591100 m", {{"card.maestro", "6304612918591100", NULL, NULL, 0}}},
    {"m 6759131227006460 m", {{"card.maestro", "6759131227006460", NULL, NULL, 0}}},
    {"m 676179850406 m", {{"card.maestro", "676179850406", "6761******06", NULL, 0}}},
    {"m 6763167610306655947", {{"card.maestro", "6763167610306655947", NULL, NULL, 0}}},
    /* grouped forms; separators are kept in the redacted form, dropped in norm */
    {"Card: 4111 1111 1111 1111 exp 12/25",
     {{"card.visa", "4111 1111 1111 1111", "4111 11** **** 1111", "4111111111111111", C_HIGH}}},
    {"cc=4111-1111-1111-1111;",
     {{"card.visa", "4111-1111-1111-1111", "4111-11**-****-1111", NULL, C_HIGH}}},
    {"amex 3782 822463 10005",
     {{"card.amex", "3782 822463 10005", "3782 82**** *0005", "378282246310005", C_HIGH}}},
    {"amex 3782-822463-10005 x", {{"card.amex", "3782-822463-10005", NULL, NULL, C_HIGH}}},
    {"diners 3056 930902 5904",
     {{"card.diners", "3056 930902 5904", "3056 ****** **04", NULL, C_HIGH}}},
    {"visa 4222 2222 2222 2",
     {{"card.visa", "4222 2222 2222 2", "4222 **** ***2 2", NULL, C_HIGH}}},
    {"6011 1111 1111 1117",
     {{"card.discover", "6011 1111 1111 1117", "6011 11** **** 1117", NULL, C_HIGH}}},
    {"maestro 5018 5577 6552", {{"card.maestro", "5018 5577 6552", NULL, NULL, C_HIGH}}},
    /* in context */
    {"john,4111111111111111,12/25\n", {{"card.visa", "4111111111111111", NULL, NULL, C_HIGH}}},
    {"{\"pan\":\"4012888888881881\"}", {{"card.visa", "4012888888881881", NULL, NULL, C_HIGH}}},
    {"<td>5105105105105100</td>", {{"card.mastercard", "5105105105105100", NULL, NULL, 0}}},
    {"card 4111111111111111 123", {{"card.visa", "4111111111111111", NULL, NULL, C_HIGH}}},
    {"card 4111111111111111 12/25", {{"card.visa", "4111111111111111", NULL, NULL, C_HIGH}}},
    {"card 4111 1111 1111 1111 (exp 12/25)",
     {{"card.visa", "4111 1111 1111 1111", NULL, NULL, C_HIGH}}},
    {"card 6759 3383 4904 8581 995 declined", {{0}}},
    /* Seen on a Debian system's /usr/share: numeric tables and code-point lists. */
    {"insert ( 4392 '+' 11 10 b f f 4537 4537 4537 4392 0 4270 - - )", {{0}}},
    {"'<>' 11 10 b f f 3615 3615 16 3677 3676 3665 102 106 )", {{0}}},
    {"524C 525E 5261 525C 84AF 527D 5282 5281 5290 5293\n5182 7F54 4EBB", {{0}}},
    {"card 4111 1111 1111 1111 12/25", {{0}}},
    {"card 4111-1111-1111-1111-123", {{0}}},
    {"2024-01-15 4111111111111111 approved", {{"card.visa", "4111111111111111", NULL, NULL, 0}}},
    {"id4111 4012888888881881", {{0}}},
    {"IBAN AE79 6231 1888 7324 9396 259", {{0}}},
    {"IBAN LT97 4971 3123 3528 1008", {{0}}},
    {"IBAN: IE86 WODQ 3697 1364 5785 59, ok", {{0}}},
    {"IE92 EXIX 3966 2919 3263 32", {{0}}},
    {"x GB82 WEST 1234 ABCD 3697 1364 5785 59", {{0}}},
    {"VISA 4111 1111 1111 1111", {{"card.visa", "4111 1111 1111 1111", NULL, NULL, C_HIGH}}},
    {"AB12 CARD 4111 1111 1111 1111", {{0}}},
    {"4111 1111 1111 1111 12ab", {{0}}},
    {"-4111111111111111-", {{"card.visa", "4111111111111111", NULL, NULL, 0}}},
    {"/orders/4111111111111111/", {{"card.visa", "4111111111111111", NULL, NULL, 0}}},
    {"4111111111111111 5555555555554444",
     {{"card.visa", "4111111111111111", NULL, NULL, 0},
      {"card.mastercard", "5555555555554444", NULL, NULL, 0}}},
    {"a 4111 1111 1111 1111\nb 5555-5555-5555-4444\n",
     {{"card.visa", "4111 1111 1111 1111", NULL, NULL, C_HIGH},
      {"card.mastercard", "5555-5555-5555-4444", NULL, NULL, C_HIGH}}},
    {"the card was 4111111111111111.", {{"card.visa", "4111111111111111", NULL, NULL, C_HIGH}}},
    {"total 1.5 card 4111111111111111", {{"card.visa", "4111111111111111", NULL, NULL, C_HIGH}}},
    {"1234567890123456789012345678901234567890123456 4111111111111111",
     {{"card.visa", "4111111111111111", NULL, NULL, 0}}},

    /* hard negatives: Luhn, scheme and length */
    {"4111111111111112", {{0}}},
    {"4111 1111 1111 1112", {{0}}},
    {"5555555555554445", {{0}}},
    {"378282246310006", {{0}}},
    {"430763790653615", {{0}}},     /* Visa prefix, 15 digits */
    {"44678611083636", {{0}}},      /* Visa prefix, 14 digits */
    {"2720773641550297177", {{0}}}, /* Mastercard prefix, 19 digits */
    {"6787800735165937", {{0}}},    /* no scheme */
    {"0000000000000000", {{0}}},
    /* glued to letters, digits or '_': inside identifiers and digests */
    {"id4111111111111111", {{0}}},
    {"4111111111111111abc", {{0}}},
    {"deadbeef4111111111111111cafe", {{0}}},
    {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", {{0}}},
    {"sha1 4111111111111111a6e3b0c44298fc1c149afbf4c8", {{0}}},
    {"_4111111111111111", {{0}}},
    {"4111111111111111_x", {{0}}},
    {"94111111111111111", {{0}}},
    {"41111111111111110", {{0}}},
    {"x 411111111111111111111111 x", {{0}}},
    /* decimals and phone numbers */
    {"4111111111111111.25", {{0}}},
    {"amount 3.4111111111111111", {{0}}},
    {"+4372958170242", {{0}}},
    {"call +1-555-123-4567", {{0}}},
    {"call +44 20 7946 0958 now", {{0}}},
    {"tel 0049 30 12345678", {{0}}},
    {"tel +49 30 4111 1111 1111 1111", {{0}}},
    /* timestamps, UUIDs, versions, dates, IPs */
    {"ts=1700000000 ms=1700000000123 us=1700000000123456", {{0}}},
    {"41111111-1111-1111-1111-111111111111", {{0}}},
    {"550e8400-e29b-41d4-a716-446655440000", {{0}}},
    {"version 4.11.1111.1111111 build 5555555555554444.1", {{0}}},
    {"2024-01-15 12:34:56 20240115123456", {{0}}},
    {"192.168.100.200 10.41.111.111", {{0}}},
    /* separators inconsistent with card grouping, or a table of 4-digit groups */
    {"41 1111 1111 1111 11", {{0}}},
    {"411 111 111 111 1111", {{0}}},
    {"4111-1111 1111-1111", {{0}}},
    {"41111111 11111111", {{0}}},
    {"1234 4111 1111 1111 1111", {{0}}},
    {"4111 1111 1111 1111 1234", {{0}}},
    {"4111 1111 1111 1111 4111 1111 1111 1111", {{0}}},
    {"4111-1111-1111-1111-12", {{0}}},
};

/* Each scheme, compact and in every grouping, and with a broken check digit. */
static void test_card_schemes(void **state)
{
	static const struct {
		const char *digits;
		const char *detector;
	} t[] = {
	    {"4111111111111111", "card.visa"},       {"4012888888881881", "card.visa"},
	    {"4673266001225734", "card.visa"},       {"5105105105105100", "card.mastercard"},
	    {"2221854540735569", "card.mastercard"}, {"6011000990139424", "card.discover"},
	    {"6446883986858718", "card.discover"},   {"3566002020360505", "card.jcb"},
	    {"3528423576604368", "card.jcb"},        {"3845106227447412", "card.diners"},
	    {"6209021865345039", "card.unionpay"},   {"6304612918591100", "card.maestro"},
	    {"6759131227006460", "card.maestro"},    {"5038137609345421", "card.maestro"},
	};
	char text[96], group[32], spaced[32], dashed[32], broken[32];
	int bad = 0;
	(void)state;

	for (size_t i = 0; i < N(t); i++) {
		const char *d = t[i].digits;
		snprintf(group, sizeof(group), "%.4s %.4s %.4s %.4s", d, d + 4, d + 8, d + 12);
		memcpy(spaced, group, sizeof(group));
		snprintf(dashed, sizeof(dashed), "%.4s-%.4s-%.4s-%.4s", d, d + 4, d + 8, d + 12);
		snprintf(broken, sizeof(broken), "%s", d);
		broken[15] = (char)('0' + (broken[15] - '0' + 1) % 10);

		snprintf(text, sizeof(text), "card number: %s\n", d);
		bad += expect_one(r_card, 1, text, d, t[i].detector, VIGIL_CAT_PAYMENT_CARD,
				  "scheme", i);
		snprintf(text, sizeof(text), "card number: %s\n", spaced);
		bad += expect_one(r_card, 1, text, spaced, t[i].detector, VIGIL_CAT_PAYMENT_CARD,
				  "scheme", i);
		snprintf(text, sizeof(text), "card number: %s\n", dashed);
		bad += expect_one(r_card, 1, text, dashed, t[i].detector, VIGIL_CAT_PAYMENT_CARD,
				  "scheme", i);
		snprintf(text, sizeof(text), "card number: %s\n", broken);
		bad += expect_one(r_card, 1, text, NULL, NULL, VIGIL_CAT_PAYMENT_CARD, "scheme", i);
		snprintf(text, sizeof(text), "x%s\n", d);
		bad += expect_one(r_card, 1, text, NULL, NULL, VIGIL_CAT_PAYMENT_CARD, "scheme", i);
		snprintf(text, sizeof(text), "%s7\n", d);
		bad += expect_one(r_card, 1, text, NULL, NULL, VIGIL_CAT_PAYMENT_CARD, "scheme", i);
	}
	assert_int_equal(bad, 0);
}

static void test_card_table(void **state)
{
	(void)state;
	run_table(r_card, 1, card_cases, N(card_cases), VIGIL_CAT_PAYMENT_CARD, VIGIL_CONF_MEDIUM,
		  "card");
}

/* Windows the harness's two modes do not produce: a card that ends the window with more
 * stream to come, and runs that reach back past the window's start. */
static void test_card_window(void **state)
{
	vh_result res;
	const char *t1 = "4111111111111111";
	const char *t2 = "pad pad pad pad pad pad pad pad 41111111111111111111 4111111111111111 x";
	size_t r;
	(void)state;

	/* At the stream's end: found, and the run's end is returned. */
	memset(&res, 0, sizeof(res));
	r = vh_call(vigil_validate_card, t1, 0, 16, 12, true, &res);
	assert_int_equal(res.n, 1);
	assert_int_equal(r, 16);
	/* At the window's end but not the stream's: the run may go on, so nothing yet, and
	 * triggers later in the run must not be skipped. */
	memset(&res, 0, sizeof(res));
	r = vh_call(vigil_validate_card, t1, 0, 16, 12, false, &res);
	assert_int_equal(res.n, 0);
	assert_true(r <= 12);
	/* The window starts inside a digit run 40+ bytes before the trigger: the cut group
	 * is never judged, the card after it still is. */
	for (size_t lo = 32; lo <= 40; lo++) {
		size_t end = strlen(t2) - 2;
		memset(&res, 0, sizeof(res));
		vh_call(vigil_validate_card, t2, lo, strlen(t2), end, true, &res);
		assert_string_equal(res.error, "");
		assert_int_equal(res.n, 1);
		assert_int_equal(res.hit[0].start, strlen(t2) - 18);
	}
	/* A window that starts inside a run, with the trigger 40+ bytes in: the cut digits
	 * cannot start a card even when they would pass Luhn. */
	{
		const char *t3 = "x 94111111111111111 1111 1111 1111 1111 1111 1111 1";
		memset(&res, 0, sizeof(res));
		vh_call(vigil_validate_card, t3, 3, strlen(t3), strlen(t3), true, &res);
		assert_int_equal(res.n, 0);
	}
	/* A trigger end that is not a digit, or outside the window. */
	memset(&res, 0, sizeof(res));
	assert_int_equal(vh_call(vigil_validate_card, "4111111111111111 ", 0, 17, 17, true, &res),
			 0);
	assert_int_equal(vh_call(vigil_validate_card, "4111111111111111", 0, 16, 0, true, &res), 0);
	assert_int_equal(res.n, 0);
	n_cases += 16;
}

/* The engine's card tally: one candidate per number with an issuer's prefix and length,
 * one pass per card found; glued numbers and unknown issuers are not counted. */
static void test_card_tally(void **state)
{
	static const char text[] = "4111111111111111\n"        /* card */
				   "4111111111111112\n"        /* Luhn fails */
				   "pan 5555 5555 5555 4444\n" /* card */
				   "6787800735165937\n"        /* no issuer */
				   "x4012888888881881\n"       /* glued: not a number of its own */
				   "2024-01-15 378282246310006\n"; /* Luhn fails, split out */
	vh_result res;
	(void)state;

	assert_true(vh_scan(r_card, N(r_card), text, strlen(text), VH_FULL, &res));
	assert_int_equal(res.n, 2);
	assert_int_equal(res.tally.card_candidates, 4);
	assert_int_equal(res.tally.card_luhn_ok, 2);
	n_cases++;
}

/* ---- IBAN ---- */

static const vcase iban_cases[] = {
    {"DE89370400440532013000",
     {{"iban.DE", "DE89370400440532013000", "DE89**************3000", "DE89370400440532013000",
       0}}},
    {"IBAN: DE89 3704 0044 0532 0130 00.",
     {{"iban.DE", "DE89 3704 0044 0532 0130 00", "DE89 **** **** **** **30 00",
       "DE89370400440532013000", 0}}},
    {"GB29 NWBK 6016 1331 9268 19",
     {{"iban.GB", "GB29 NWBK 6016 1331 9268 19", "GB29 **** **** **** **68 19",
       "GB29NWBK60161331926819", 0}}},
    {"(FR1420041010050500013M02606)", {{"iban.FR", "FR1420041010050500013M02606", NULL, NULL, 0}}},
    {"NO93 8601 1117 947 NOK", {{"iban.NO", "NO93 8601 1117 947", "NO93 **** ***7 947", NULL, 0}}},
    {"to LC55 HEMM 0001 0001 0012 0012 0002 3015\n",
     {{"iban.LC", "LC55 HEMM 0001 0001 0012 0012 0002 3015",
       "LC55 **** **** **** **** **** **** 3015", NULL, 0}}},
    {"iban=\"NL91ABNA0417164300\"", {{"iban.NL", "NL91ABNA0417164300", NULL, NULL, 0}}},
    {"MT84MALT011000012345MTLCAST001S,x",
     {{"iban.MT", "MT84MALT011000012345MTLCAST001S", NULL, NULL, 0}}},
    {"a BE68539007547034 b CH9300762011623852957",
     {{"iban.BE", "BE68539007547034", NULL, NULL, 0},
      {"iban.CH", "CH9300762011623852957", NULL, NULL, 0}}},
    /* hard negatives */
    {"DE89370400440532013001", {{0}}}, /* checksum */
    {"DE89 3704 0044 0532 0130 01", {{0}}},
    {"DE8937040044053201300", {{0}}},   /* too short for DE */
    {"DE893704004405320130000", {{0}}}, /* too long for DE */
    {"XDE89370400440532013000", {{0}}}, /* glued */
    {"1DE89370400440532013000", {{0}}},
    {"DE89370400440532013000X", {{0}}},
    {"DE89370400440532013000x", {{0}}},
    {"DE89 3704 0044 0532 0130 00X", {{0}}},
    {"DE89 3704 0044 0532 013000", {{0}}}, /* broken grouping */
    {"DE89 37040044 0532 0130 00", {{0}}},
    {"DE89  3704 0044 0532 0130 00", {{0}}},
    {"DE89 3704 0044 0532 0130 0", {{0}}},
    {"de89370400440532013000", {{0}}}, /* lower case: not an IBAN as written */
    {"DE89370400440532O13000", {{0}}}, /* letter O for zero */
    {"US64SVBKUS6S3300958879", {{0}}}, /* no IBAN in the US */
    {"DE00370400440532010043", {{0}}}, /* check digits 00 */
    {"NO9386011117947123", {{0}}},
};

static void test_iban_table(void **state)
{
	(void)state;
	run_table(r_iban, 1, iban_cases, N(iban_cases), VIGIL_CAT_IBAN, VIGIL_CONF_HIGH, "iban");
}

static void group4(char *dst, size_t dstsz, const char *s)
{
	size_t o = 0;
	for (size_t i = 0; s[i] && o + 2 < dstsz; i++) {
		if (i > 0 && i % 4 == 0)
			dst[o++] = ' ';
		dst[o++] = s[i];
	}
	dst[o] = '\0';
}

/* Every country: compact and grouped found with the right detector; one digit off, one
 * character short or long: nothing. */
static void test_iban_countries(void **state)
{
	char text[128], grouped[64], det[16], v[48];
	int bad = 0;
	(void)state;

	for (size_t i = 0; i < N(ibans); i++) {
		size_t n = strlen(ibans[i]);
		snprintf(det, sizeof(det), "iban.%.2s", ibans[i]);
		snprintf(text, sizeof(text), "IBAN %s.", ibans[i]);
		bad += expect_one(r_iban, 1, text, ibans[i], det, VIGIL_CAT_IBAN, "country", i);
		group4(grouped, sizeof(grouped), ibans[i]);
		snprintf(text, sizeof(text), "IBAN: %s\n", grouped);
		bad += expect_one(r_iban, 1, text, grouped, det, VIGIL_CAT_IBAN, "country", i);
		snprintf(v, sizeof(v), "%s", ibans[i]);
		v[n - 2] = v[n - 2] == '9'
			       ? '0'
			       : (char)(isdigit((unsigned char)v[n - 2]) ? v[n - 2] + 1 : '5');
		snprintf(text, sizeof(text), "IBAN %s.", v);
		bad += expect_one(r_iban, 1, text, NULL, NULL, VIGIL_CAT_IBAN, "country", i);
		snprintf(text, sizeof(text), "IBAN %.*s.", (int)(n - 1), ibans[i]);
		bad += expect_one(r_iban, 1, text, NULL, NULL, VIGIL_CAT_IBAN, "country", i);
		snprintf(text, sizeof(text), "IBAN %s0.", ibans[i]);
		bad += expect_one(r_iban, 1, text, NULL, NULL, VIGIL_CAT_IBAN, "country", i);
	}
	assert_int_equal(bad, 0);
}

/* ---- SSN ---- */

static const vcase ssn_cases[] = {
    {"536-22-8726", {{"ssn.us", "536-22-8726", "***-**-8726", "536228726", 0}}},
    {"Employee 536-22-8726 hired", {{"ssn.us", "536-22-8726", "***-**-8726", "536228726", 0}}},
    {"{\"ssn\":\"536-22-8726\"}", {{"ssn.us", "536-22-8726", "***-**-8726", NULL, 0}}},
    {"SSN#536-22-8726", {{"ssn.us", "536-22-8726", NULL, NULL, 0}}},
    {"id 001-01-0001, 899-99-9999",
     {{"ssn.us", "001-01-0001", NULL, NULL, 0}, {"ssn.us", "899-99-9999", NULL, NULL, 0}}},
    {"536-22-8726-x", {{"ssn.us", "536-22-8726", NULL, NULL, 0}}},
    /* keyword forms: bare and spaced are medium, dashed high */
    {"SSN: 536228726", {{"ssn.us", "536228726", "*****8726", "536228726", C_MED}}},
    {"ssn=536228726\n", {{"ssn.us", "536228726", NULL, NULL, C_MED}}},
    {"Social Security Number: 536 22 8726",
     {{"ssn.us", "536 22 8726", "*** ** 8726", "536228726", C_MED}}},
    {"social security no. 536228726", {{"ssn.us", "536228726", NULL, NULL, C_MED}}},
    {"Soc. Sec. #: 536228726", {{"ssn.us", "536228726", NULL, NULL, C_MED}}},
    {"SOC SEC NO 536 22 8726", {{"ssn.us", "536 22 8726", NULL, NULL, C_MED}}},
    {"SSN number is 536228726.", {{"ssn.us", "536228726", NULL, NULL, C_MED}}},
    {"| SSN | 536228726 |", {{"ssn.us", "536228726", NULL, NULL, C_MED}}},
    {"Social Security Number (SSN): 536228726", {{"ssn.us", "536228726", NULL, NULL, C_MED}}},
    {"ssn:\t\"536-22-8726\"", {{"ssn.us", "536-22-8726", NULL, NULL, 0}}},
    /* SSA rules */
    {"000-12-3456", {{0}}},
    {"666-12-3456", {{0}}},
    {"900-12-3456", {{0}}},
    {"999-12-3456", {{0}}},
    {"536-00-8726", {{0}}},
    {"536-22-0000", {{0}}},
    {"078-05-1120", {{0}}},
    {"219-09-9999", {{0}}},
    {"457-55-5462", {{0}}},
    {"123-45-6789", {{0}}},
    {"SSN: 123456789", {{0}}},
    {"SSN: 666228726", {{0}}},
    {"SSN: 987 65 4320", {{0}}},
    /* boundaries */
    {"a536-22-8726", {{0}}},
    {"536-22-8726b", {{0}}},
    {"1536-22-8726", {{0}}},
    {"536-22-87261", {{0}}},
    {"-536-22-8726", {{0}}},
    {"536-22-8726-1", {{0}}},
    {"978-1-536-22-8726", {{0}}},
    {"SSN: 5362287261", {{0}}},
    {"SSN: 53622872", {{0}}},
    {"SSN: 536 22 8726 1234", {{0}}},
    {"SSN: 536-228726", {{0}}},
    {"SSN: 536 22-8726", {{0}}},
    {"SSN: x536228726", {{0}}},
    {"ssn lookup failed for 536228726", {{0}}},
    {"SSN:                            536228726", {{0}}},
    {"passn 536228726", {{0}}},
    {"phone 212-555-0199 zip 10001-2345", {{0}}},
};

static void test_ssn_table(void **state)
{
	(void)state;
	run_table(r_ssn, N(r_ssn), ssn_cases, N(ssn_cases), VIGIL_CAT_SSN, VIGIL_CONF_HIGH, "ssn");
}

/* ---- AWS ---- */

#define AWS_ID   "AKIA454ML6LG4TJFCZ4K"
#define AWS_ID2  "ASIAAEDCMPB5U4MOS7AF"
#define AWS_SEC  "6J0kGODKdinZnLXicaBAg8WY1jzIRlNQb0prFmbh"
#define AWS_SEC2 "7/wy5yq1XoY1BaIMcAxYmfsB4HbQLXjjlAFbVV6q"
#define STARS36  "************************************"

static const vcase aws_cases[] = {
    {"aws_access_key_id = " AWS_ID "\naws_secret_access_key = " AWS_SEC "\n",
     {{"aws.access_key", AWS_ID, "AKIA************CZ4K", AWS_ID, 0},
      {"aws.secret_key", AWS_SEC, "6J0k" STARS36, AWS_SEC, 0}}},
    {"Access key ID,Secret access key\n" AWS_ID "," AWS_SEC2 "\n",
     {{"aws.access_key", AWS_ID, NULL, NULL, 0},
      {"aws.secret_key", AWS_SEC2, "7/wy" STARS36, NULL, 0}}},
    {"export AWS_ACCESS_KEY_ID=" AWS_ID2 "\nexport AWS_SESSION_TOKEN=abc\n",
     {{"aws.access_key", AWS_ID2, "ASIA************S7AF", NULL, 0}}},
    {"AWS_SECRET_ACCESS_KEY=\"" AWS_SEC "\"", {{"aws.secret_key", AWS_SEC, NULL, NULL, 0}}},
    {"aws_secret_access_key = UoEsPbjVZMTafKhXccGtCOVlKcKNcgzsfCDSMDPT\n",
     {{"aws.secret_key", "UoEsPbjVZMTafKhXccGtCOVlKcKNcgzsfCDSMDPT", NULL, NULL, 0}}},
    {"AWS_SECRET_ACCESS_KEY=lCV6xvSptWXJ6Rq4jkKDwWsoL/el5FjZLQAQYouR\n",
     {{"aws.secret_key", "lCV6xvSptWXJ6Rq4jkKDwWsoL/el5FjZLQAQYouR", NULL, NULL, 0}}},
    {"aws_secret_access_key = YourSecretAccessKeyGoesHere0123456789abc\n", {{0}}},
    {"{\"aws_secret_key\": \"" AWS_SEC2 "\"}", {{"aws.secret_key", AWS_SEC2, NULL, NULL, 0}}},
    {"awsSecretAccessKey => " AWS_SEC, {{"aws.secret_key", AWS_SEC, NULL, NULL, 0}}},
    /* a git SHA and a path after the id are not its secret */
    {AWS_ID " commit 3f786850e387550fdab836ed7e6dc881de23001b",
     {{"aws.access_key", AWS_ID, NULL, NULL, 0}}},
    {AWS_ID " /home/User/Projects/MyApp/src/main/Java1 x",
     {{"aws.access_key", AWS_ID, NULL, NULL, 0}}},
    /* documentation examples and placeholders */
    {"aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
     "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
     {{0}}},
    {"AKIAXXXXXXXXXXXXXXXX", {{0}}},
    {"AKIAEXAMPLEKEY123456", {{0}}},
    {"aws_secret_access_key=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", {{0}}},
    /* boundaries */
    {"x" AWS_ID, {{0}}},
    {AWS_ID "Z", {{0}}},
    {"AWS_SECRET_ACCESS_KEY=" AWS_SEC "Q", {{0}}},
    {"AWS_SECRET_ACCESS_KEY=" AWS_SEC "=", {{0}}},
    {"AWS_SECRET_ACCESS_KEY=abcdefghijklmnopqrstuvwxyzabcdefghijklmn", {{0}}},
};

static void test_aws_table(void **state)
{
	(void)state;
	run_table(r_aws, N(r_aws), aws_cases, N(aws_cases), VIGIL_CAT_CREDENTIAL, VIGIL_CONF_HIGH,
		  "aws");
}

/* ---- GitHub, Slack, Stripe, Google ---- */

#define GHP "ghp_9LE1Ki3ylOjt6o0NpUmkVO8JmR8y4EMfAdgg"
#define GHO "gho_cG9qpVTzqA05MFsHl7UeioEJP2NNern66nVb"
#define GHU "ghu_erACpdclsxHKifxi5CvQUSHL8iLc7bE6wSt9"
#define GHS "ghs_cbMOeEeUtuieeCIxVc57VVTiY96vwfRE5e32"
#define GHR "ghr_A8Yb3FKaNQyyLaMeffOhq4AUvy7VSLDCD1If"
#define GPAT                                                                                       \
	"github_pat_HWGbtMfEbo9ShFXNQ6Fq5a_"                                                       \
	"xtjRNmHkW5vQ7CF5puzQqmOBZZW6m4nyoL6uniiFw152cTe8r0khCEr7n1A"
#define XOXB "xoxb-6875975104-9049549026730-X1rpXjYdOhCgOIPOZx9eRmm0"
#define XOXP "xoxp-7420780234-5888926316-6277306898575-63367c29a80b21ead8f062d15a4f4ef2"
#define SK24 "sk_live_WoCHJs1UJOkHG16JqtQy9235"
#define RK99                                                                                       \
	"rk_live_"                                                                                 \
	"Nnt2j9IHrKFmAIhGaMybIcH6zIZKhFfSke7IDA69Z7zrpEFivB50756EHugmANb7qiSXbcmjoaRsuUwpNFgFULh2" \
	"GNqTmSH4Bby"
#define SK99                                                                                       \
	"sk_live_"                                                                                 \
	"OA0HNkIn3OIOnHn2INL2io6VOZw5luMu57mnXm4gi4piUfqygB18AIYTimzORZbgmKRw609xhTGOWvGR1mZeEgbc" \
	"WJNG5KEjmlh"
#define GAPI "AIzaAwuKmhr7jmPY72T3AVbfzx06UVZyvmbPkZy"

static const vcase token_cases[] = {
    {GHP, {{"github.token", GHP, "ghp_9LE1********************************", GHP, 0}}},
    {"token: " GHO "\n", {{"github.token", GHO, NULL, NULL, 0}}},
    {"GH_TOKEN=\"" GHU "\"", {{"github.token", GHU, NULL, NULL, 0}}},
    {"x " GHS " y", {{"github.token", GHS, NULL, NULL, 0}}},
    {"(" GHR ")", {{"github.token", GHR, NULL, NULL, 0}}},
    {"https://bot: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@github.com",
     {{"github.token", "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", NULL, NULL, 0}}},
    {"pat=" GPAT "\n",
     {{"github.fine_grained_pat", GPAT, "github_pat_HWGb" STARS36 STARS36 "******", GPAT, 0}}},
    {"SLACK_BOT_TOKEN=" XOXB "\n",
     {{"slack.token", XOXB, "xoxb-6875" STARS36 "*********", XOXB, 0}}},
    {"'" XOXP "'", {{"slack.token", XOXP, NULL, NULL, 0}}},
    {"stripe.api_key = \"" SK24 "\"",
     {{"stripe.secret_key", SK24, "sk_live_WoCH********************", SK24, 0}}},
    {"key " RK99 "\n", {{"stripe.restricted_key", RK99, NULL, NULL, 0}}},
    {SK99, {{"stripe.secret_key", SK99, NULL, NULL, 0}}},
    {"GOOGLE_API_KEY=" GAPI "\n",
     {{"google.api_key", GAPI, "AIzaAwuK*******************************", GAPI, 0}}},
    {"<key>" GAPI "</key>", {{"google.api_key", GAPI, NULL, NULL, 0}}},
    /* placeholders */
    {"ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", {{0}}},
    {"ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", {{0}}},
    {"ghp_aaaaaaaaBcD1234efgh5678ijkl9012mnopq", {{0}}},
    {"ghp_1234567890abcdefghijklmnopqrstuvwxyz", {{0}}},
    {"ghp_ababababababababababababababababab12", {{0}}},
    {"ghp_EXAMPLE0token1for2the3docs4onlyQRST5", {{0}}},
    {"ghp_000000000000000000000000000000000000", {{0}}},
    {"github_pat_11AAAAAAA0xxxxxxxxxxxx_"
     "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
     {{0}}},
    {"xoxb-XXXXXXXXXXXX-XXXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXX", {{0}}},
    {"xoxb-0000000000-0000000000000-abcdefghijklmnopqrstuvwx", {{0}}},
    {"xoxb-1234567890", {{0}}},
    {"xoxb-your-token-here", {{0}}},
    {"sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", {{0}}},
    {"sk_live_000000000000000000000000", {{0}}},
    {"sk_test_WoCHJs1UJOkHG16JqtQy9235", {{0}}},
    {"AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", {{0}}},
    {"AIzaSyEXAMPLEKEY-abcdefghijklmnopqrstuv", {{0}}},
    /* boundaries */
    {"x" GHP, {{0}}},
    {GHP "a", {{0}}},
    {"my" XOXB, {{0}}},
    {XOXB "_x", {{0}}},
    {"xxsk_live_WoCHJs1UJOkHG16JqtQy9235", {{0}}},
    {SK24 "_x", {{0}}},
    {"sk_live_WoCHJs1UJOkHG16JqtQy923", {{0}}},
    {GAPI "Q", {{0}}},
    {"(2,'google','AIzaf39_PW0c9T-0xxxxtV4eR4gKnwRUtfkSFzH')",
     {{"google.api_key", "AIzaf39_PW0c9T-0xxxxtV4eR4gKnwRUtfkSFzH", NULL, NULL, 0}}},
    {GAPI "-", {{0}}},
    {"_" GAPI, {{0}}},
};

static void test_token_table(void **state)
{
	(void)state;
	run_table(r_tokens, N(r_tokens), token_cases, N(token_cases), VIGIL_CAT_CREDENTIAL,
		  VIGIL_CONF_HIGH, "token");
}

/* A Stripe key or Slack token running past the window without the stream ending is not
 * judged from its visible part. */
static void test_token_window(void **state)
{
	vh_result res;
	(void)state;

	memset(&res, 0, sizeof(res));
	vh_call(vigil_validate_stripe, SK99, 0, 60, 32, false, &res);
	assert_int_equal(res.n, 0);
	vh_call(vigil_validate_stripe, SK99, 0, strlen(SK99), 32, true, &res);
	assert_int_equal(res.n, 1);
	memset(&res, 0, sizeof(res));
	vh_call(vigil_validate_slack, XOXB, 0, 30, 15, false, &res);
	assert_int_equal(res.n, 0);
	vh_call(vigil_validate_slack, XOXB, 0, strlen(XOXB), 15, true, &res);
	assert_int_equal(res.n, 1);
	n_cases += 4;
}

/* The validators' own boundary checks, called at the end the pattern would report if it
 * had no \\b of its own: a token glued to a word character is never reported. */
static void test_token_glued(void **state)
{
	static const struct {
		vigil_validator v;
		const char *text;
		size_t end; /* trigger end; 0: the text's length */
		size_t hits;
	} t[] = {
	    {vigil_validate_github, GHP, 0, 1},
	    {vigil_validate_github, "x" GHP, 0, 0},
	    {vigil_validate_github, "_" GHP, 0, 0},
	    {vigil_validate_github, GHP "a", 40, 0},
	    {vigil_validate_github, GPAT, 0, 1},
	    {vigil_validate_github, "9" GPAT, 0, 0},
	    {vigil_validate_aws_key_id, AWS_ID, 0, 1},
	    {vigil_validate_aws_key_id, "x" AWS_ID, 0, 0},
	    {vigil_validate_aws_key_id, AWS_ID "_", 20, 0},
	    {vigil_validate_aws_secret, "k=" AWS_SEC, 0, 1},
	    {vigil_validate_aws_secret, "k=a" AWS_SEC, 0, 0},
	    {vigil_validate_aws_secret, "k=" AWS_SEC "/", 42, 0},
	    {vigil_validate_slack, XOXB, 15, 1},
	    {vigil_validate_slack, "my" XOXB, 17, 0},
	    {vigil_validate_stripe, SK24, 0, 1},
	    {vigil_validate_stripe, "xx" SK24, 0, 0},
	    {vigil_validate_stripe, SK24 "_x", 32, 0},
	    {vigil_validate_google, GAPI, 0, 1},
	    {vigil_validate_google, "_" GAPI, 0, 0},
	    {vigil_validate_google, "-" GAPI, 0, 0},
	    {vigil_validate_google, GAPI "Q", 39, 0},
	    {vigil_validate_ssn, "536-22-8726", 0, 1},
	    {vigil_validate_ssn, "7536-22-8726", 0, 0},
	    {vigil_validate_ssn, "a536-22-8726", 0, 0},
	    {vigil_validate_iban, "DE89370400440532013000", 8, 1},
	    {vigil_validate_iban, "XDE89370400440532013000", 9, 0},
	    {vigil_validate_iban, "DE89 3704 0044 0532 0130 00", 9, 1},
	    {vigil_validate_iban, "5DE89 3704 0044 0532 0130 00", 10, 0},
	};
	vh_result res;
	(void)state;

	for (size_t i = 0; i < N(t); i++) {
		size_t n = strlen(t[i].text), end = t[i].end ? t[i].end : n;
		memset(&res, 0, sizeof(res));
		vh_call(t[i].v, t[i].text, 0, n, end, true, &res);
		if (res.n != t[i].hits || res.error[0] != '\0')
			fail_msg("\"%s\" at %zu: %zu hits, expected %zu %s", t[i].text, end, res.n,
				 t[i].hits, res.error);
	}
	n_cases += N(t);
}

/* ---- passwords ---- */

static const vcase password_cases[] = {
    {"DB_PASSWORD=S3cr3tP@ss!\n",
     {{"password.assignment", "S3cr3tP@ss!", "DB_PASSWORD=***********", "S3cr3tP@ss!", 0}}},
    {"password: \"hunter2hunter2\"",
     {{"password.assignment", "hunter2hunter2", "password:**************", NULL, 0}}},
    {"{\"password\": \"Tr0ub4dor&3\"}",
     {{"password.assignment", "Tr0ub4dor&3", "password:***********", NULL, 0}}},
    {"spring.datasource.password=Xk9#mP2vLq",
     {{"password.assignment", "Xk9#mP2vLq", "password=**********", NULL, 0}}},
    {"$db_pass = 'Qw3rty!Zx';",
     {{"password.assignment", "Qw3rty!Zx", "db_pass=*********", NULL, 0}}},
    {"passwd := \"gH7#kL9!\"", {{"password.assignment", "gH7#kL9!", "passwd:=********", NULL, 0}}},
    {"'password' => 'Pa55w0rd!x',",
     {{"password.assignment", "Pa55w0rd!x", "password=>**********", NULL, 0}}},
    {"GET /login?user=bob&password=Summer2024!&next=1",
     {{"password.assignment", "Summer2024!", NULL, NULL, 0}}},
    {"PASSWORD=correcthorsebatterystaple",
     {{"password.assignment", "correcthorsebatterystaple", "PASSWORD=****************", NULL, 0}}},
    {"Passwort: Geheim2024", {{"password.assignment", "Geheim2024", NULL, NULL, 0}}},
    {"passphrase = \"correct horse battery staple\"",
     {{"password.assignment", "correct horse battery staple", NULL, NULL, 0}}},
    {"pwd=Xy7$kq9Lm", {{"password.assignment", "Xy7$kq9Lm", NULL, NULL, 0}}},
    {"DB_PASSWORD=J5N.ufJzjXiw", {{"password.assignment", "J5N.ufJzjXiw", NULL, NULL, 0}}},
    {"password = fnXsGpeZSl_r.t0x", {{"password.assignment", "fnXsGpeZSl_r.t0x", NULL, NULL, 0}}},
    {"PASSWORD=kD9x.Tq2mLw8_z", {{"password.assignment", "kD9x.Tq2mLw8_z", NULL, NULL, 0}}},
    {"password = Ab3_xyz9Qw12", {{"password.assignment", "Ab3_xyz9Qw12", NULL, NULL, 0}}},
    {"  password: q7G?f.Hk2^Lm", {{"password.assignment", "q7G?f.Hk2^Lm", NULL, NULL, 0}}},
    {"password=R2d2.C3po.Bb8x", {{"password.assignment", "R2d2.C3po.Bb8x", NULL, NULL, 0}}},
    {"db({password: \"S3cret!x\"})",
     {{"password.assignment", "S3cret!x", "password:********", NULL, 0}}},
    {"creds: {password: Abc12345!}", {{"password.assignment", "Abc12345!", NULL, NULL, 0}}},
    {"password=Abc123#x! # set by ops", {{"password.assignment", "Abc123#x!", NULL, NULL, 0}}},
    {"AWS_RDS_DB_PASSWORD='Zz9!yy8@Xx'",
     {{"password.assignment", "Zz9!yy8@Xx", "AWS_RDS_DB_PASSWORD=**********", NULL, 0}}},
    {"password = \"ab\\\"cd1234\"", {{"password.assignment", "ab\\\"cd1234", NULL, NULL, 0}}},
    {"password =    S3cret!!", {{"password.assignment", "S3cret!!", NULL, NULL, 0}}},
    {"mysql_root_password: 'v3ry-l0ng-passw0rd-that-is-s3cret'",
     {{"password.assignment", "v3ry-l0ng-passw0rd-that-is-s3cret",
       "mysql_root_password:****************", NULL, 0}}},
    {"smtp.pass: mZ8!rT2q", {{"password.assignment", "mZ8!rT2q", NULL, NULL, 0}}},
    {"password=aGVsbG8gd29ybGQ=", {{"password.assignment", "aGVsbG8gd29ybGQ=", NULL, NULL, 0}}},
    {"<add key=\"x\" password=\"K7#vB2!qW\" />",
     {{"password.assignment", "K7#vB2!qW", NULL, NULL, 0}}},
    /* placeholders, references, weak evidence */
    {"password = \"\"", {{0}}},
    {"password: ********", {{0}}},
    {"password = 'xxxxxxxx'", {{0}}},
    {"password=${DB_PASSWORD}", {{0}}},
    {"password: \"${DB_PASSWORD:-s3cret}\"", {{0}}},
    {"password: {{ vault_db_password }}", {{0}}},
    {"password: \"{{ vault_db_password }}\"", {{0}}},
    {"password = os.environ['DB_PASS']", {{0}}},
    {"password = os.getenv(\"DB_PASS\")", {{0}}},
    {"password: process.env.DB_PASS", {{0}}},
    {"password = ENV['DB_PASS']", {{0}}},
    {"password = '<%= ENV[\"X\"] %>'", {{0}}},
    {"password: <password>", {{0}}},
    {"password=changeme", {{0}}},
    /* Seen on a Debian system's /usr/share: test logs, help texts, code and prose. */
    {"PASS: gdb.ada/assign_1.exp: changing the language to ada", {{0}}},
    {"PASS: addr2line\nPASS: addr2line -f option", {{0}}},
    {"       --ftp-password=HAS\xc5\x81O        ustawia HAS\xc5\x81O dla ftp", {{0}}},
    {"passwd: has\xc5\x82o zosta\xc5\x82o zmienione", {{0}}},
    {"const password = 'Password used to generate key';", {{0}}},
    {"    property Password : TSQLStringType Read FPassword write FPassword;", {{0}}},
    {"  pwd:=pwd+#0;", {{0}}},
    {"\tlet pwd = a:dict.istemp ? a:dict.tmpdir : ''", {{0}}},
    {"            'Test2::Event::Pass'    => '1.302103',", {{0}}},
    {"  s:netrw_hup[host].passwd = s:netrw_passwd9", {{0}}},
    {"  LDAP_EXOP_MODIFY_PASSWD           = '1.3.6.1.4.1.4203.1.11.1';", {{0}}},
    {"  Pwd := 'nobody@nowhere.com';", {{0}}},
    {"  NWAUDIT_PASSWORD = pnuint8;", {{0}}},
    {"  PLM_OWF_PASSWORD = ^LM_OWF_PASSWORD;", {{0}}},
    {"      ACTION_SET_NEW_PASSWORD = 'android.app.action.SET_NEW_PASSWORD';", {{0}}},
    {"  password: ConstCStringPtr ): CBool; external name", {{0}}},
    {"    CURLOPT_PASSWORD:=CURLOPTTYPE_STRINGPOINT+174,", {{0}}},
    {"    pass = p4ssw0rd", {{0}}},
    {"ask_password = on/off", {{0}}},
    {"    PWD = \"'`pwd`'\"", {{0}}},
    {"password = 'password'", {{0}}},
    {"password = 'Passw0rd'", {{0}}},
    {"password: your_password_here", {{0}}},
    {"password = \"YourPassword123\"", {{0}}},
    {"password: hunter", {{0}}},
    {"password: Monkey", {{0}}},
    {"Password: incorrect", {{0}}},
    {"password: authentication failed", {{0}}},
    {"password=1234567890", {{0}}},
    {"password = None", {{0}}},
    {"password: null", {{0}}},
    {"password: true", {{0}}},
    {"password: P@ss", {{0}}},
    {"password: [FILTERED]", {{0}}},
    {"password: !vault |", {{0}}},
    {"password = input('Password: ')", {{0}}},
    {"password = self.password", {{0}}},
    {"password=user_password", {{0}}},
    {"login({password: userPassword})", {{0}}},
    {"user.update(password: params[:password])", {{0}}},
    {"connect(password=kwargs[\"pw\"])", {{0}}},
    {"password=DB_PASSWORD_VALUE", {{0}}},
    {"password: settings.DB_PASS", {{0}}},
    {"password=this._password", {{0}}},
    {"password: config.db.password2", {{0}}},
    {"password=cfg.PasswordValue", {{0}}},
    {"password: ./secrets/db.txt", {{0}}},
    {"password: ~/pw.txt", {{0}}},
    {"password: /run/secrets/db_password", {{0}}},
    {"password=https://vault.local/v1/x", {{0}}},
    {"password=${PASS:-Abc12345!}", {{0}}},
    {"environment: ${PASSWORD:=Abc12345!}", {{0}}},
    {"password= user=bob", {{0}}},
    {"password = \"unterminated S3cr3t!", {{0}}},
    {"password=Aa1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     {{0}}},
    /* keys that are about a password, not one */
    {"hashed_password = '5f4dcc3b5aa765d61d8327deb882cf99'", {{0}}},
    {"password_file = /etc/secret", {{0}}},
    {"min_password: Abc12345", {{0}}},
    {"reset_password: Abc12345!", {{0}}},
    {"passwordHash: Abc12345!x", {{0}}},
    {"bypass = Abc12345!", {{0}}},
    {"passenger: Abc12345!", {{0}}},
    {"compass=N0rth-West", {{0}}},
};

static void test_password_table(void **state)
{
	(void)state;
	run_table(r_password, 1, password_cases, N(password_cases), VIGIL_CAT_CREDENTIAL,
		  VIGIL_CONF_MEDIUM, "password");
}

/* ---- hostile input ---- */

/*
 * Every validator at every end position of random windows built from the characters
 * its patterns care about, with eof on and off: no read outside the window (ASan), no
 * hit outside it, no return past it, no redacted form holding its secret.
 */
static void test_hostile_windows(void **state)
{
	static const vigil_validator all[] = {
	    vigil_validate_card,        vigil_validate_iban,       vigil_validate_ssn,
	    vigil_validate_ssn_keyword, vigil_validate_aws_key_id, vigil_validate_aws_secret,
	    vigil_validate_github,      vigil_validate_slack,      vigil_validate_stripe,
	    vigil_validate_google,      vigil_validate_password,
	};
	static const char *const atoms[] = {
	    "0",
	    "1",
	    "4",
	    "5",
	    "9",
	    " ",
	    "-",
	    ".",
	    "+",
	    "_",
	    "=",
	    ":",
	    "\"",
	    "'",
	    "\\",
	    "\n",
	    "/",
	    "A",
	    "z",
	    "X",
	    "DE89",
	    "GB29",
	    "ssn",
	    "SSN ",
	    "AKIA",
	    "ghp_",
	    "github_pat_",
	    "xoxb-",
	    "sk_live_",
	    "rk_live_",
	    "AIza",
	    "password",
	    "pass=",
	    "=>",
	    ":=",
	    "\xe2\x80\xa2",
	    "4111111111111111",
	    "536-22-8726",
	    "${",
	    "os.environ",
	};
	uint32_t seed = 12345;
	char text[256];
	vh_result res;
	(void)state;

	for (int iter = 0; iter < 400; iter++) {
		size_t n = 0, want;
		seed = seed * 1103515245u + 12345u;
		want = (seed >> 8) % 200;
		while (n < want) {
			const char *a;
			seed = seed * 1103515245u + 12345u;
			a = atoms[(seed >> 8) % N(atoms)];
			if (n + strlen(a) >= sizeof(text))
				break;
			memcpy(text + n, a, strlen(a));
			n += strlen(a);
		}
		text[n] = '\0';
		for (size_t v = 0; v < N(all); v++) {
			for (size_t end = 0; end <= n; end++) {
				memset(&res, 0, sizeof(res));
				size_t lo = end > 24 ? end - 24 : 0;
				vh_call(all[v], text, 0, n, end, true, &res);
				vh_call(all[v], text, 0, n, end, false, &res);
				/* windows shorter than any rule promises, on both sides */
				vh_call(all[v], text, lo, n, end, true, &res);
				vh_call(all[v], text, lo, end + 2 < n ? end + 2 : n, end, false,
					&res);
				if (res.error[0] != '\0')
					fail_msg("validator %zu, end %zu of \"%s\": %s", v, end,
						 text, res.error);
			}
		}
	}
}

static int report(void **state)
{
	(void)state;
	printf("# %zu table cases\n", n_cases);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule_table),     cmocka_unit_test(test_luhn),
	    cmocka_unit_test(test_iban_ok),        cmocka_unit_test(test_card_table),
	    cmocka_unit_test(test_card_schemes),   cmocka_unit_test(test_card_window),
	    cmocka_unit_test(test_card_tally),     cmocka_unit_test(test_iban_table),
	    cmocka_unit_test(test_iban_countries), cmocka_unit_test(test_ssn_table),
	    cmocka_unit_test(test_aws_table),      cmocka_unit_test(test_token_table),
	    cmocka_unit_test(test_token_window),   cmocka_unit_test(test_token_glued),
	    cmocka_unit_test(test_password_table), cmocka_unit_test(test_hostile_windows),
	};
	int r = cmocka_run_group_tests(tests, setup_rules, report);

	vh_free_rules(r_card, N(r_card));
	vh_free_rules(r_iban, N(r_iban));
	vh_free_rules(r_ssn, N(r_ssn));
	vh_free_rules(r_aws, N(r_aws));
	vh_free_rules(r_tokens, N(r_tokens));
	vh_free_rules(r_password, N(r_password));
	return r;
}
