/* SPDX-License-Identifier: Apache-2.0 */
/* Decoys: every generated content is what it pretends to be (a zip Excel opens, a key
 * OpenSSL or OpenSSH reads, numbers that pass their checks), and the registry plants,
 * lists, skips and removes decoys as vigil(1) says, in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>

#include "canary_int.h"
#include "vigil/canary.h"

struct fixture {
	char dir[64], db[128], plant[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/vigil-test-canary.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/reg/canaries.db", f->dir);
	snprintf(f->plant, sizeof(f->plant), "%s/home", f->dir);
	assert_int_equal(mkdir(f->plant, 0755), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- contents ---- */

static void test_kind_names(void **state)
{
	(void)state;
	for (int k = 0; k < VIGIL_DECOY_KIND_COUNT; k++) {
		vigil_decoy_kind back;
		assert_int_equal(vigil_decoy_kind_parse(vigil_decoy_kind_name(k), &back), 0);
		assert_int_equal(back, k);
		assert_non_null(decoy_names(k));
		assert_non_null(decoy_names(k)[1]); /* several names: hosts differ */
	}
	vigil_decoy_kind k;
	assert_int_equal(vigil_decoy_kind_parse("id_rsa", &k), VIGIL_E_INVALID);
	assert_string_equal(vigil_decoy_kind_name(99), "unknown");
}

/* The spreadsheet is a zip with the OOXML parts, and its sheet holds the table. */
static void test_xlsx_is_a_workbook(void **state)
{
	decoy_content c;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	unsigned parts = 0;
	bool sheet_ok = false;

	(void)state;
	assert_int_equal(
	    decoy_generate(VIGIL_DECOY_PASSWORDS_XLSX, "passwords.xlsx", 1700000000, &c), 0);
	assert_memory_equal(c.data, "PK\3\4", 4);
	archive_read_support_format_zip(a);
	assert_int_equal(archive_read_open_memory(a, c.data, c.len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		assert_int_equal(archive_entry_mtime(e), 1700000000);
		if (strcmp(n, "[Content_Types].xml") == 0 || strcmp(n, "_rels/.rels") == 0 ||
		    strcmp(n, "xl/workbook.xml") == 0 ||
		    strcmp(n, "xl/_rels/workbook.xml.rels") == 0)
			parts++;
		if (strcmp(n, "xl/worksheets/sheet1.xml") == 0) {
			char buf[65536];
			la_ssize_t len = archive_read_data(a, buf, sizeof(buf) - 1);
			assert_true(len > 0);
			buf[len] = '\0';
			sheet_ok = strstr(buf, "<t>Password</t>") != NULL &&
				   strstr(buf, "<row r=\"9\">") != NULL &&
				   strstr(buf, "</sheetData></worksheet>") != NULL;
			parts++;
		}
	}
	assert_int_equal(parts, 5);
	assert_true(sheet_ok);
	archive_read_free(a);
	decoy_content_clear(&c);
	assert_null(c.data);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An OpenSSH key: the PROTOCOL.key layout with matching check integers, and the public
 * key inside equal to the one derived from the private seed. */
static void test_ed25519_openssh(void **state)
{
	decoy_content c;
	uint8_t bin[1024];
	char b64[2048];
	size_t n = 0;

	(void)state;
	assert_int_equal(decoy_generate(VIGIL_DECOY_SSH_KEY, "id_ed25519.bak", 0, &c), 0);
	const char *text = (const char *)c.data, *head = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
	assert_memory_equal(text, head, strlen(head));
	for (const char *p = text + strlen(head); *p != '-' && n < sizeof(b64) - 1; p++)
		if (*p != '\n')
			b64[n++] = *p;
	b64[n] = '\0';
	int len = EVP_DecodeBlock(bin, (const unsigned char *)b64, (int)n);
	assert_true(len > 100);
	assert_memory_equal(bin, "openssh-key-v1\0", 15);
	const uint8_t *p = bin + 15;
	assert_int_equal(be32(p), 4); /* cipher "none" */
	assert_memory_equal(p + 4, "none", 4);
	p += 8 + 8 + 4; /* cipher, kdf, empty kdf options */
	assert_int_equal(be32(p), 1);
	p += 4;
	uint32_t publen = be32(p);
	const uint8_t *pub = p + 4 + 4 + 11 + 4; /* the 32 key bytes */
	p += 4 + publen;
	uint32_t privlen = be32(p);
	p += 4;
	assert_int_equal(privlen % 8, 0);
	assert_int_equal(be32(p), be32(p + 4)); /* check integers */
	const uint8_t *seed = p + 8 + 4 + 11 + 4 + 32 + 4;
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	uint8_t derived[32];
	size_t dlen = 32;
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_raw_public_key(k, derived, &dlen), 1);
	assert_memory_equal(derived, pub, 32);
	EVP_PKEY_free(k);
	decoy_content_clear(&c);
}

static void test_rsa_pem(void **state)
{
	decoy_content c;
	BIO *b;
	EVP_PKEY *k;

	(void)state;
	assert_int_equal(decoy_generate(VIGIL_DECOY_SSH_KEY, "id_rsa.old", 0, &c), 0);
	assert_non_null(strstr((const char *)c.data, "-----BEGIN RSA PRIVATE KEY-----"));
	b = BIO_new_mem_buf(c.data, (int)c.len);
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	EVP_PKEY_free(k);
	BIO_free(b);
	decoy_content_clear(&c);
}

static int iban_mod97(const char *iban, size_t n)
{
	char buf[64];
	unsigned rem = 0;

	snprintf(buf, sizeof(buf), "%.*s%.4s", (int)(n - 4), iban + 4, iban);
	for (const char *c = buf; *c; c++)
		rem = *c >= 'A' ? (rem * 100 + (unsigned)(*c - 'A' + 10)) % 97
				: (rem * 10 + (unsigned)(*c - '0')) % 97;
	return (int)rem;
}

/* SSNs from area 900-999, groups 01-49 (issued to nobody); IBANs that pass mod 97. */
static void test_payroll_numbers(void **state)
{
	decoy_content c;
	unsigned ssns = 0, ibans = 0;

	(void)state;
	for (int round = 0; round < 5; round++) {
		assert_int_equal(decoy_generate(VIGIL_DECOY_PAYROLL_CSV, "payroll.csv", 0, &c), 0);
		char *text = strndup((const char *)c.data, c.len), *save = NULL;
		char *line = strtok_r(text, "\n", &save);
		assert_string_equal(line, "employee_id,first_name,last_name,country,department,"
					  "annual_salary,ssn,iban,hire_date");
		while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
			char *f[9], *s2 = NULL, *cur = line;
			int nf = 0;
			/* Empty fields are kept: strsep, not strtok. */
			while (nf < 9 && (f[nf] = strsep(&cur, ",")) != NULL)
				nf++;
			(void)s2;
			assert_int_equal(nf, 9);
			if (f[6][0]) {
				unsigned a, g, s;
				assert_int_equal(sscanf(f[6], "%3u-%2u-%4u", &a, &g, &s), 3);
				assert_true(a >= 900 && a <= 999 && g >= 1 && g <= 49 && s >= 1);
				assert_string_equal(f[3], "US");
				ssns++;
			} else {
				assert_int_equal(iban_mod97(f[7], strlen(f[7])), 1);
				assert_memory_equal(f[7], f[3], 2);
				ibans++;
			}
		}
		free(text);
		decoy_content_clear(&c);
	}
	assert_true(ssns > 0 && ibans > 0);
}

static void test_aws_shape(void **state)
{
	decoy_content c;

	(void)state;
	assert_int_equal(decoy_generate(VIGIL_DECOY_AWS_CREDENTIALS, "credentials.bak", 0, &c), 0);
	const char *t = (const char *)c.data, *id = strstr(t, "aws_access_key_id = AKIA");
	assert_memory_equal(t, "[default]\n", 10);
	assert_non_null(id);
	id += strlen("aws_access_key_id = ");
	assert_int_equal(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 20);
	const char *sec = strstr(t, "aws_secret_access_key = ") + 24;
	assert_int_equal(
	    strspn(sec, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), 40);
	decoy_content_clear(&c);
}

/* Two generations differ: nothing is a fixed string an attacker could learn. */
static void test_contents_vary(void **state)
{
	(void)state;
	for (int k = 0; k < VIGIL_DECOY_KIND_COUNT; k++) {
		decoy_content a, b;
		const char *name = decoy_names(k)[0];
		assert_int_equal(decoy_generate(k, name, 0, &a), 0);
		assert_int_equal(decoy_generate(k, name, 0, &b), 0);
		assert_false(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
		decoy_content_clear(&a);
		decoy_content_clear(&b);
	}
}

/* ---- registry ---- */

struct seen {
	int n;
	char path[16][256];
	int kind[16];
	int state[16];
	uint64_t ino[16];
};

static int on_decoy(void *user, const vigil_decoy *d)
{
	struct seen *s = user;

	if (s->n < 16) {
		snprintf(s->path[s->n], sizeof(s->path[0]), "%s", d->path);
		s->kind[s->n] = d->kind;
		s->state[s->n] = d->state;
		s->ino[s->n] = d->ino;
		s->n++;
	}
	return 0;
}

static int find(const struct seen *s, int kind)
{
	for (int i = 0; i < s->n; i++)
		if (s->kind[i] == kind)
			return i;
	fail_msg("no decoy of kind %d", kind);
	return -1;
}

static void test_plant_list_remove(void **state)
{
	struct fixture *f = *state;
	struct seen planted = {0}, listed = {0};
	char err[512];
	struct stat st;
	vigil_decoy_removal what;

	assert_int_equal(vigil_canary_list(f->db, on_decoy, &listed, err, sizeof(err)),
			 VIGIL_E_NOT_FOUND);
	assert_int_equal(
	    vigil_canary_plant(f->db, f->plant, 0, on_decoy, &planted, err, sizeof(err)), 0);
	assert_int_equal(planted.n, 4);
	assert_int_equal(stat(f->db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(lstat(planted.path[i], &st), 0);
		assert_int_equal(st.st_ino, planted.ino[i]);
		assert_true(st.st_mtime < time(NULL) - 25 * 86400);
	}
	assert_int_equal(vigil_canary_list(f->db, on_decoy, &listed, err, sizeof(err)), 0);
	assert_int_equal(listed.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(listed.state[i], VIGIL_DECOY_INTACT);

	/* The set the walkers use: every decoy, and nothing else. */
	vigil_decoy_set *set = NULL;
	assert_int_equal(vigil_decoy_set_load(f->db, &set), 0);
	assert_int_equal(vigil_decoy_set_count(set), 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(lstat(planted.path[i], &st), 0);
		assert_true(vigil_decoy_set_has(set, &st));
	}
	assert_int_equal(lstat(f->db, &st), 0);
	assert_false(vigil_decoy_set_has(set, &st));
	vigil_decoy_set_free(set);

	/* Intact: deleted. */
	int x = find(&planted, VIGIL_DECOY_PASSWORDS_XLSX);
	assert_int_equal(vigil_canary_remove(f->db, planted.path[x], &what, err, sizeof(err)), 0);
	assert_int_equal(what, VIGIL_DECOY_DELETED);
	assert_int_not_equal(access(planted.path[x], F_OK), 0);
	assert_int_equal(vigil_canary_remove(f->db, planted.path[x], &what, err, sizeof(err)),
			 VIGIL_E_NOT_FOUND);

	/* Touched but the same bytes: read, compared, deleted. Written to: kept. */
	int k = find(&planted, VIGIL_DECOY_SSH_KEY), p = find(&planted, VIGIL_DECOY_PAYROLL_CSV);
	struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
	assert_int_equal(utimensat(AT_FDCWD, planted.path[k], ts, 0), 0);
	FILE *fp = fopen(planted.path[p], "a");
	fputs("E99999,Jane,Doe,US,IT,1.00,,,2020-01-01\n", fp);
	fclose(fp);
	memset(&listed, 0, sizeof(listed));
	assert_int_equal(vigil_canary_list(f->db, on_decoy, &listed, err, sizeof(err)), 0);
	assert_int_equal(listed.n, 3);
	assert_int_equal(listed.state[find(&listed, VIGIL_DECOY_SSH_KEY)], VIGIL_DECOY_CHANGED);
	assert_int_equal(vigil_canary_remove(f->db, planted.path[k], &what, err, sizeof(err)), 0);
	assert_int_equal(what, VIGIL_DECOY_DELETED);
	assert_int_not_equal(access(planted.path[k], F_OK), 0);
	assert_int_equal(vigil_canary_remove(f->db, planted.path[p], &what, err, sizeof(err)), 0);
	assert_int_equal(what, VIGIL_DECOY_KEPT);
	assert_int_equal(access(planted.path[p], F_OK), 0);

	/* Gone, then replaced by another file: unregistered, the other file untouched. */
	int a = find(&planted, VIGIL_DECOY_AWS_CREDENTIALS);
	assert_int_equal(unlink(planted.path[a]), 0);
	fp = fopen(planted.path[a], "w");
	fputs("mine\n", fp);
	fclose(fp);
	memset(&listed, 0, sizeof(listed));
	assert_int_equal(vigil_canary_list(f->db, on_decoy, &listed, err, sizeof(err)), 0);
	assert_int_equal(listed.n, 1);
	assert_int_equal(listed.state[0], VIGIL_DECOY_REPLACED);
	assert_int_equal(vigil_canary_remove(f->db, planted.path[a], &what, err, sizeof(err)), 0);
	assert_int_equal(what, VIGIL_DECOY_WAS_GONE);
	assert_int_equal(access(planted.path[a], F_OK), 0);
	memset(&listed, 0, sizeof(listed));
	assert_int_equal(vigil_canary_list(f->db, on_decoy, &listed, err, sizeof(err)), 0);
	assert_int_equal(listed.n, 0);
}

/* Relative paths name the same decoy; a symlink to a decoy is not it. */
static void test_remove_by_relative_path(void **state)
{
	struct fixture *f = *state;
	struct seen planted = {0};
	char err[512], cwd[4096], link[256];
	vigil_decoy_removal what;

	assert_int_equal(vigil_canary_plant(f->db, f->plant, 1u << VIGIL_DECOY_AWS_CREDENTIALS,
					    on_decoy, &planted, err, sizeof(err)),
			 0);
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(symlink(planted.path[0], link), 0);
	assert_int_equal(vigil_canary_remove(f->db, link, &what, err, sizeof(err)),
			 VIGIL_E_NOT_FOUND);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->plant), 0);
	assert_int_equal(
	    vigil_canary_remove(f->db, strrchr(planted.path[0], '/') + 1, &what, err, sizeof(err)),
	    0);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(what, VIGIL_DECOY_DELETED);
}

/* Never over an existing file, nor through a symlink; a kind without a free name fails
 * and the other kinds are still planted. */
static void test_never_overwrites(void **state)
{
	struct fixture *f = *state;
	const char *const *names = decoy_names(VIGIL_DECOY_AWS_CREDENTIALS);
	struct seen planted = {0};
	char err[512], p[256], target[256];
	int n = 0;

	snprintf(target, sizeof(target), "%s/target", f->dir);
	for (; names[n] != NULL; n++) {
		snprintf(p, sizeof(p), "%s/%s", f->plant, names[n]);
		if (n == 0) {
			assert_int_equal(symlink(target, p), 0);
		} else {
			FILE *fp = fopen(p, "w");
			fputs("keep\n", fp);
			fclose(fp);
		}
	}
	assert_int_equal(
	    vigil_canary_plant(f->db, f->plant,
			       1u << VIGIL_DECOY_AWS_CREDENTIALS | 1u << VIGIL_DECOY_PAYROLL_CSV,
			       on_decoy, &planted, err, sizeof(err)),
	    VIGIL_E_LIMIT);
	assert_non_null(strstr(err, "every aws_credentials decoy name is taken"));
	assert_int_equal(planted.n, 1);
	assert_int_equal(planted.kind[0], VIGIL_DECOY_PAYROLL_CSV);
	assert_int_not_equal(access(target, F_OK), 0);
	for (int i = 1; i < n; i++) {
		char buf[16] = "";
		snprintf(p, sizeof(p), "%s/%s", f->plant, names[i]);
		FILE *fp = fopen(p, "r");
		assert_non_null(fgets(buf, sizeof(buf), fp));
		fclose(fp);
		assert_string_equal(buf, "keep\n");
	}
}

/* A file that is not a registry is refused, never changed; a missing one is no decoys. */
static void test_foreign_registry(void **state)
{
	struct fixture *f = *state;
	char err[512], cmd[512];
	vigil_decoy_set *set = (void *)1;
	struct seen s = {0};

	assert_int_equal(vigil_decoy_set_load(f->db, &set), 0);
	assert_null(set);
	assert_int_equal(mkdir(strcat(strcpy(cmd, f->dir), "/reg"), 0700), 0);
	FILE *fp = fopen(f->db, "w");
	fputs("not a database at all, just text\n", fp);
	fclose(fp);
	assert_int_equal(vigil_canary_list(f->db, on_decoy, &s, err, sizeof(err)), VIGIL_E_FORMAT);
	assert_int_equal(vigil_canary_plant(f->db, f->plant, 0, on_decoy, &s, err, sizeof(err)),
			 VIGIL_E_FORMAT);
	assert_int_equal(s.n, 0);
	assert_int_equal(vigil_decoy_set_load(f->db, &set), 0);
	assert_null(set);
	/* Another program's SQLite database: refused, left as it was. */
	unlink(f->db);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(vigil_canary_plant(f->db, f->plant, 0, on_decoy, &s, err, sizeof(err)),
			 VIGIL_E_FORMAT);
	assert_non_null(strstr(err, "not a vigil decoy registry"));
	assert_int_equal(s.n, 0);
	assert_int_equal(
	    vigil_canary_plant("relative.db", f->plant, 0, NULL, NULL, err, sizeof(err)),
	    VIGIL_E_INVALID);
	assert_int_equal(
	    vigil_canary_plant(f->db, "/nonexistent/dir", 0, NULL, NULL, err, sizeof(err)),
	    VIGIL_E_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kind_names),
	    cmocka_unit_test(test_xlsx_is_a_workbook),
	    cmocka_unit_test(test_ed25519_openssh),
	    cmocka_unit_test(test_rsa_pem),
	    cmocka_unit_test(test_payroll_numbers),
	    cmocka_unit_test(test_aws_shape),
	    cmocka_unit_test(test_contents_vary),
	    cmocka_unit_test_setup_teardown(test_plant_list_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_by_relative_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_never_overwrites, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_registry, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
