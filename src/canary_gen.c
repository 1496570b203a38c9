/* SPDX-License-Identifier: Apache-2.0 */
/* Decoy contents: fake but valid-looking spreadsheets of passwords (a real OOXML zip written
 * with libarchive), private-key backups (fresh throwaway keys from OpenSSL), payroll
 * exports and AWS credentials files, with names and values drawn at random so that no two
 * hosts carry the same decoys. Nothing here protects anything: the keys are generated,
 * written and forgotten. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "canary_int.h"

#define N(a) (sizeof(a) / sizeof(*(a)))

static const char *const xlsx_names[] = {
    "passwords.xlsx",     "Passwords.xlsx",        "passwords_2024.xlsx",
    "IT passwords.xlsx",  "admin_logins.xlsx",     "accounts-passwords.xlsx",
    "logins_backup.xlsx", "server_passwords.xlsx", NULL};
static const char *const key_names[] = {"id_rsa.bak",         "id_ed25519.bak",
					"id_rsa.old",         "id_ed25519.old",
					"id_rsa_backup",      "backup_id_ed25519",
					"deploy_key_rsa.bak", "root_id_ed25519.bak",
					"id_rsa.backup",      NULL};
static const char *const csv_names[] = {"payroll_export.csv",    "payroll_2024_Q4.csv",
					"payroll-2025-01.csv",   "employees_salaries.csv",
					"HR_payroll_export.csv", "salary_export_final.csv",
					"payroll_backup.csv",    NULL};
static const char *const aws_names[] = {"aws_credentials",
					"credentials.bak",
					"aws-credentials.txt",
					"aws_keys_backup.txt",
					"credentials.aws.old",
					"aws_access_keys.txt",
					NULL};

const char *const *decoy_names(vigil_decoy_kind kind)
{
	switch (kind) {
	case VIGIL_DECOY_PASSWORDS_XLSX:
		return xlsx_names;
	case VIGIL_DECOY_SSH_KEY:
		return key_names;
	case VIGIL_DECOY_PAYROLL_CSV:
		return csv_names;
	case VIGIL_DECOY_AWS_CREDENTIALS:
		return aws_names;
	default:
		return NULL;
	}
}

uint32_t decoy_random(uint32_t n)
{
	uint32_t v, limit;

	if (n <= 1)
		return 0;
	/* Rejection sampling: no bias toward small values. */
	limit = UINT32_MAX - UINT32_MAX % n;
	do {
		if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
			return 0;
	} while (v >= limit);
	return v % n;
}

static const char *pick(const char *const *list, size_t n)
{
	return list[decoy_random((uint32_t)n)];
}

static const char *const first_names[] = {
    "James", "Mary",   "Robert", "Patricia", "John",    "Jennifer", "Michael", "Linda",
    "David", "Sarah",  "Daniel", "Karen",    "Matthew", "Nancy",    "Anthony", "Lisa",
    "Mark",  "Emily",  "Steven", "Michelle", "Andrew",  "Laura",    "Kevin",   "Rachel",
    "Brian", "Amanda", "Thomas", "Melissa",  "Eric",    "Rebecca",  "Jonas",   "Anna",
    "Lukas", "Sophie", "Pieter", "Emma",     "Oliver",  "Charlotte"};
static const char *const last_names[] = {
    "Smith",  "Johnson",  "Williams", "Brown",  "Jones",  "Garcia",  "Miller",    "Davis",
    "Wilson", "Anderson", "Taylor",   "Thomas", "Moore",  "Jackson", "Martin",    "Lee",
    "Harris", "Clark",    "Lewis",    "Walker", "Young",  "Allen",   "King",      "Wright",
    "Scott",  "Hill",     "Green",    "Adams",  "Baker",  "Nelson",  "Schneider", "Fischer",
    "Weber",  "de Vries", "Jansen",   "Evans",  "Hughes", "Murphy"};
static const char *const departments[] = {"Finance",    "Engineering",     "Sales", "Marketing",
					  "Operations", "Human Resources", "Legal", "Support",
					  "IT",         "Procurement"};
static const char *const words[] = {"Summer",  "Winter", "Welcome", "Dragon", "Monkey",  "Falcon",
				    "Company", "Secure", "Spring",  "Autumn", "Letmein", "Tiger",
				    "Orange",  "Rocket", "Phoenix", "Shadow"};
static const char *const systems[][2] = {
    {"Domain admin", "corp.local"},
    {"VPN", "vpn.corp.local"},
    {"Office 365 admin", "admin.microsoft.com"},
    {"AWS root", "console.aws.amazon.com"},
    {"Firewall", "10.0.0.1"},
    {"vCenter", "vcenter.corp.local"},
    {"Backup NAS", "nas01.corp.local"},
    {"Payroll (ADP)", "workforcenow.adp.com"},
    {"Bank portal", "business.bank.example"},
    {"Wi-Fi guest", "GUEST-WIFI"},
    {"Jira", "jira.corp.local"},
    {"GitLab root", "git.corp.local"},
    {"Database sa", "sql01.corp.local:1433"},
    {"iDRAC", "10.0.10.21"},
    {"Router", "192.168.1.1"},
    {"Google Workspace", "admin.google.com"},
};
static const char *const users[] = {"admin", "administrator", "root", "svc_backup", "it.admin",
				    "sa",    "helpdesk",      "ops"};
static const char *const regions[] = {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1",
				      "ap-southeast-2"};
static const char *const profiles[] = {"prod",    "prod-admin", "deploy", "backup",
				       "billing", "terraform",  "ci",     "legacy"};

/* A password people really choose: word, year and a symbol, or a random string. */
static void fake_password(char *out, size_t cap)
{
	static const char sym[] = "!#$%*@?";
	static const char alnum[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

	if (decoy_random(3) != 0) {
		snprintf(out, cap, "%s%u%c", pick(words, N(words)), 2015 + decoy_random(11),
			 sym[decoy_random(sizeof(sym) - 1)]);
		return;
	}
	size_t n = 12 + decoy_random(5), i = 0;
	for (; i < n && i + 1 < cap; i++)
		out[i] = i == n / 2 ? sym[decoy_random(sizeof(sym) - 1)]
				    : alnum[decoy_random(sizeof(alnum) - 1)];
	out[i] = '\0';
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
}

static void cell(FILE *f, char col, unsigned row, const char *text)
{
	fprintf(f, "<c r=\"%c%u\" t=\"inlineStr\"><is><t>", col, row);
	xml_text(f, text);
	fputs("</t></is></c>", f);
}

static void w3cdtf(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- a growing memory buffer for libarchive's writer ---- */

typedef struct membuf {
	uint8_t *p;
	size_t len, cap;
} membuf;

static la_ssize_t mem_write(struct archive *a, void *user, const void *buf, size_t n)
{
	membuf *m = user;

	(void)a;
	if (m->len + n > m->cap) {
		size_t cap = m->cap ? m->cap : 16384;
		while (cap < m->len + n)
			cap *= 2;
		uint8_t *p = realloc(m->p, cap);
		if (p == NULL)
			return -1;
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, buf, n);
	m->len += n;
	return (la_ssize_t)n;
}

static int zip_add(struct archive *a, const char *name, const char *data, size_t len, int64_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	int rc = VIGIL_E_ARCHIVE;

	if (e == NULL)
		return VIGIL_E_NOMEM;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, (time_t)mtime, 0);
	if (archive_write_header(a, e) == ARCHIVE_OK &&
	    archive_write_data(a, data, len) == (la_ssize_t)len)
		rc = 0;
	archive_entry_free(e);
	return rc;
}

/* The smallest package Excel and LibreOffice open (ECMA-376 part 2: content types and
 * relationships; part 1: one workbook, one worksheet of inline strings) plus the core
 * properties a real file carries (author, dates). */
static int gen_xlsx(int64_t mtime, decoy_content *out)
{
	static const char types[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
	    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
	    "<Default Extension=\"rels\" "
	    "ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
	    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
	    "<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/"
	    "vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
	    "<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/"
	    "vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
	    "<Override PartName=\"/docProps/core.xml\" "
	    "ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>"
	    "</Types>";
	static const char rels[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
	    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/"
	    "2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>"
	    "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/"
	    "relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>"
	    "</Relationships>";
	static const char workbook[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
	    "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
	    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
	    "<sheets><sheet name=\"Passwords\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
	static const char wb_rels[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
	    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/"
	    "2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
	    "</Relationships>";
	char *sheet = NULL, *core = NULL, created[32], modified[32], pw[32], who[64];
	size_t sheet_len = 0, core_len = 0;
	FILE *f = NULL;
	struct archive *a = NULL;
	membuf m = {0};
	unsigned rows = 8 + decoy_random(9);
	bool used[N(systems)] = {false};
	int rc = VIGIL_E_NOMEM;

	if ((f = open_memstream(&sheet, &sheet_len)) == NULL)
		goto out;
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
	      "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
	      "<sheetData><row r=\"1\">",
	      f);
	cell(f, 'A', 1, "System");
	cell(f, 'B', 1, "Host / URL");
	cell(f, 'C', 1, "Username");
	cell(f, 'D', 1, "Password");
	cell(f, 'E', 1, "Notes");
	fputs("</row>", f);
	for (unsigned r = 2; r < rows + 2; r++) {
		size_t s = decoy_random(N(systems));
		while (used[s])
			s = (s + 1) % N(systems);
		used[s] = true;
		fake_password(pw, sizeof(pw));
		fprintf(f, "<row r=\"%u\">", r);
		cell(f, 'A', r, systems[s][0]);
		cell(f, 'B', r, systems[s][1]);
		cell(f, 'C', r, pick(users, N(users)));
		cell(f, 'D', r, pw);
		cell(f, 'E', r, decoy_random(4) == 0 ? "changed after audit" : "");
		fputs("</row>", f);
	}
	fputs("</sheetData></worksheet>", f);
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	snprintf(who, sizeof(who), "%s %s", pick(first_names, N(first_names)),
		 pick(last_names, N(last_names)));
	w3cdtf(created, mtime - 86400 * (int64_t)(30 + decoy_random(300)));
	w3cdtf(modified, mtime);
	if ((f = open_memstream(&core, &core_len)) == NULL)
		goto out;
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
		"<cp:coreProperties "
		"xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/"
		"core-properties\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
		"xmlns:dcterms=\"http://purl.org/dc/terms/\" "
		"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
		"<dc:creator>%s</dc:creator><cp:lastModifiedBy>%s</cp:lastModifiedBy>"
		"<dcterms:created xsi:type=\"dcterms:W3CDTF\">%s</dcterms:created>"
		"<dcterms:modified xsi:type=\"dcterms:W3CDTF\">%s</dcterms:modified>"
		"</cp:coreProperties>",
		who, who, created, modified);
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;

	rc = VIGIL_E_ARCHIVE;
	if ((a = archive_write_new()) == NULL || archive_write_set_format_zip(a) != ARCHIVE_OK ||
	    archive_write_set_options(a, "zip:compression=deflate") != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, &m, NULL, mem_write, NULL) != ARCHIVE_OK)
		goto out;
	if ((rc = zip_add(a, "[Content_Types].xml", types, sizeof(types) - 1, mtime)) != 0 ||
	    (rc = zip_add(a, "_rels/.rels", rels, sizeof(rels) - 1, mtime)) != 0 ||
	    (rc = zip_add(a, "docProps/core.xml", core, core_len, mtime)) != 0 ||
	    (rc = zip_add(a, "xl/workbook.xml", workbook, sizeof(workbook) - 1, mtime)) != 0 ||
	    (rc = zip_add(a, "xl/_rels/workbook.xml.rels", wb_rels, sizeof(wb_rels) - 1, mtime)) !=
		0 ||
	    (rc = zip_add(a, "xl/worksheets/sheet1.xml", sheet, sheet_len, mtime)) != 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = VIGIL_E_ARCHIVE;
		goto out;
	}
	out->data = m.p;
	out->len = m.len;
	m.p = NULL; /* transferred */
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	if (a != NULL)
		archive_write_free(a);
	if (sheet != NULL)
		OPENSSL_cleanse(sheet, sheet_len);
	free(sheet);
	free(core);
	free(m.p);
	return rc;
}

/* ---- private keys ---- */

static void put_u32(FILE *f, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	fwrite(b, 1, 4, f);
}

/* An RFC 4251 section 5 "string": length and bytes. */
static void put_str(FILE *f, const void *p, size_t n)
{
	put_u32(f, (uint32_t)n);
	fwrite(p, 1, n, f);
}

static void fake_comment(char *out, size_t cap)
{
	static const char *const hosts[] = {"laptop",   "build01",   "bastion", "web-prod-2",
					    "jumphost", "db-backup", "deploy",  "workstation"};
	char first[32];

	snprintf(first, sizeof(first), "%s", pick(first_names, N(first_names)));
	for (char *p = first; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	snprintf(out, cap, "%s@%s", decoy_random(3) == 0 ? "root" : first, pick(hosts, N(hosts)));
}

/* The unencrypted "openssh-key-v1" format of OpenSSH's PROTOCOL.key around a fresh
 * Ed25519 key, as ssh-keygen writes it (base64 in 70-column lines). */
static int gen_ed25519(decoy_content *out)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t pub[32], sk[64];
	size_t pub_len = sizeof(pub), priv_len = 32;
	char *blob = NULL, *priv = NULL, comment[64];
	size_t blob_len = 0, priv_blen = 0;
	uint32_t check;
	FILE *f = NULL;
	uint8_t *b64 = NULL, *text = NULL;
	int rc = VIGIL_E_CRYPTO;

	if (k == NULL || EVP_PKEY_get_raw_public_key(k, pub, &pub_len) != 1 ||
	    EVP_PKEY_get_raw_private_key(k, sk, &priv_len) != 1 || pub_len != 32 ||
	    priv_len != 32 || RAND_bytes((unsigned char *)&check, sizeof(check)) != 1)
		goto out;
	memcpy(sk + 32, pub, 32); /* OpenSSH keeps seed || public key */
	fake_comment(comment, sizeof(comment));
	rc = VIGIL_E_NOMEM;
	if ((f = open_memstream(&priv, &priv_blen)) == NULL)
		goto out;
	put_u32(f, check);
	put_u32(f, check);
	put_str(f, "ssh-ed25519", 11);
	put_str(f, pub, 32);
	put_str(f, sk, 64);
	put_str(f, comment, strlen(comment));
	for (uint8_t pad = 1; (ftell(f) % 8) != 0; pad++)
		fputc(pad, f);
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	if ((f = open_memstream(&blob, &blob_len)) == NULL)
		goto out;
	fwrite("openssh-key-v1", 1, 15, f); /* with its NUL */
	put_str(f, "none", 4);
	put_str(f, "none", 4);
	put_str(f, "", 0);
	put_u32(f, 1);
	put_u32(f, 4 + 11 + 4 + 32);
	put_str(f, "ssh-ed25519", 11);
	put_str(f, pub, 32);
	put_str(f, priv, priv_blen);
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	size_t b64_cap = 4 * ((blob_len + 2) / 3) + 1;
	if ((b64 = malloc(b64_cap)) == NULL)
		goto out;
	int n = EVP_EncodeBlock(b64, (const unsigned char *)blob, (int)blob_len);
	static const char head[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
	static const char tail[] = "-----END OPENSSH PRIVATE KEY-----\n";
	size_t cap = sizeof(head) + sizeof(tail) + (size_t)n + (size_t)n / 70 + 2, len = 0;
	if ((text = malloc(cap)) == NULL)
		goto out;
	memcpy(text, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	for (int i = 0; i < n; i += 70) {
		int l = n - i < 70 ? n - i : 70;
		memcpy(text + len, b64 + i, (size_t)l);
		len += (size_t)l;
		text[len++] = '\n';
	}
	memcpy(text + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;
	out->data = text;
	out->len = len;
	text = NULL; /* transferred */
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	OPENSSL_cleanse(sk, sizeof(sk));
	if (priv != NULL)
		OPENSSL_cleanse(priv, priv_blen);
	if (blob != NULL)
		OPENSSL_cleanse(blob, blob_len);
	if (b64 != NULL)
		OPENSSL_cleanse(b64, strlen((char *)b64));
	free(priv);
	free(blob);
	free(b64);
	free(text);
	EVP_PKEY_free(k);
	return rc;
}

/* A fresh RSA-2048 key in the traditional PEM form ("BEGIN RSA PRIVATE KEY") older
 * ssh-keygen versions wrote to id_rsa. */
static int gen_rsa(decoy_content *out)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int rc = VIGIL_E_CRYPTO;

	if (k == NULL || b == NULL ||
	    PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(b, &p)) <= 0)
		goto out;
	rc = VIGIL_E_NOMEM;
	if ((out->data = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(out->data, p, (size_t)n);
	out->len = (size_t)n;
	OPENSSL_cleanse(p, (size_t)n);
	rc = 0;
out:
	BIO_free(b);
	EVP_PKEY_free(k);
	return rc;
}

/* ---- payroll ---- */

/* ISO 13616 check digits: the remainder mod 97 of the BBAN, country and "00", letters
 * as 10..35, computed digit by digit. */
static void iban_make(char *out, size_t cap, const char *country, const char *bban)
{
	char buf[64];
	unsigned rem = 0;

	snprintf(buf, sizeof(buf), "%s%s00", bban, country);
	for (const char *c = buf; *c; c++) {
		if (*c >= '0' && *c <= '9')
			rem = (rem * 10 + (unsigned)(*c - '0')) % 97;
		else
			rem = (rem * 100 + (unsigned)(*c - 'A' + 10)) % 97;
	}
	snprintf(out, cap, "%s%02u%s", country, 98 - rem, bban);
}

static void digits(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('0' + decoy_random(10));
	out[n] = '\0';
}

static void fake_iban(char *out, size_t cap, const char **country)
{
	char bban[40], d[24];

	switch (decoy_random(3)) {
	case 0: /* Germany: 8-digit bank code, 10-digit account */
		digits(d, 18);
		snprintf(bban, sizeof(bban), "%s", d);
		*country = "DE";
		break;
	case 1: /* the Netherlands: 4-letter bank, 10-digit account */
		digits(d, 10);
		snprintf(bban, sizeof(bban), "%s%s",
			 pick((const char *const[]){"ABNA", "INGB", "RABO", "SNSB"}, 4), d);
		*country = "NL";
		break;
	default: /* United Kingdom: 4-letter bank, 6-digit sort code, 8-digit account */
		digits(d, 14);
		snprintf(bban, sizeof(bban), "%s%s",
			 pick((const char *const[]){"NWBK", "BARC", "LOYD", "HBUK"}, 4), d);
		*country = "GB";
		break;
	}
	iban_make(out, cap, *country, bban);
}

/* US rows carry an SSN from area 900-999 with group 01-49: no SSN is ever issued above
 * area 899, and ITINs (also 9xx) use groups 50-65, 70-88, 90-92 and 94-99, so these
 * numbers belong to nobody. European rows carry a mod-97-valid IBAN over a random
 * account number beside a generated name. */
static int gen_csv(decoy_content *out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	unsigned rows = 15 + decoy_random(20), id0 = 1000 + decoy_random(8000);

	if (f == NULL)
		return VIGIL_E_NOMEM;
	fputs("employee_id,first_name,last_name,country,department,annual_salary,ssn,iban,"
	      "hire_date\n",
	      f);
	for (unsigned r = 0; r < rows; r++) {
		char iban[48] = "", ssn[16] = "";
		const char *country = "US";

		if (decoy_random(2) == 0)
			snprintf(ssn, sizeof(ssn), "%03u-%02u-%04u", 900 + decoy_random(100),
				 1 + decoy_random(49), 1 + decoy_random(9999));
		else
			fake_iban(iban, sizeof(iban), &country);
		fprintf(f, "E%05u,%s,%s,%s,%s,%u.00,%s,%s,20%02u-%02u-%02u\n", id0 + r * 7,
			pick(first_names, N(first_names)), pick(last_names, N(last_names)), country,
			pick(departments, N(departments)), 42000 + 500 * decoy_random(180), ssn,
			iban, 10 + decoy_random(15), 1 + decoy_random(12), 1 + decoy_random(28));
	}
	if (fclose(f) != 0) {
		free(text);
		return VIGIL_E_NOMEM;
	}
	out->data = (uint8_t *)text;
	out->len = len;
	return 0;
}

/* ---- AWS ---- */

/* Access key ids are AKIA and 16 base32 characters; secrets 40 base64 characters. */
static int gen_aws(decoy_content *out)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	unsigned n = 1 + decoy_random(3);
	bool used[N(profiles)] = {false};

	if (f == NULL)
		return VIGIL_E_NOMEM;
	for (unsigned i = 0; i < n; i++) {
		char id[21] = "AKIA", secret[41];
		size_t p = decoy_random(N(profiles));

		while (used[p])
			p = (p + 1) % N(profiles);
		used[p] = true;
		for (int j = 4; j < 20; j++)
			id[j] = b32[decoy_random(32)];
		id[20] = '\0';
		for (int j = 0; j < 40; j++)
			secret[j] = b64[decoy_random(64)];
		secret[40] = '\0';
		fprintf(f, "%s[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
			i ? "\n" : "", i ? profiles[p] : "default", id, secret);
		if (decoy_random(2))
			fprintf(f, "region = %s\n", pick(regions, N(regions)));
		OPENSSL_cleanse(secret, sizeof(secret));
	}
	if (fclose(f) != 0) {
		free(text);
		return VIGIL_E_NOMEM;
	}
	out->data = (uint8_t *)text;
	out->len = len;
	return 0;
}

int decoy_generate(vigil_decoy_kind kind, const char *name, int64_t mtime, decoy_content *out)
{
	memset(out, 0, sizeof(*out));
	if (strlen(name) >= sizeof(out->name))
		return VIGIL_E_INVALID;
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->mtime = mtime;
	switch (kind) {
	case VIGIL_DECOY_PASSWORDS_XLSX:
		return gen_xlsx(mtime, out);
	case VIGIL_DECOY_SSH_KEY:
		return strstr(name, "rsa") ? gen_rsa(out) : gen_ed25519(out);
	case VIGIL_DECOY_PAYROLL_CSV:
		return gen_csv(out);
	case VIGIL_DECOY_AWS_CREDENTIALS:
		return gen_aws(out);
	default:
		return VIGIL_E_INVALID;
	}
}

void decoy_content_clear(decoy_content *c)
{
	if (c->data != NULL)
		OPENSSL_cleanse(c->data, c->len);
	free(c->data);
	c->data = NULL;
	c->len = 0;
}
