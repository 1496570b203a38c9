/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the integrity policy: every key, groups and +/- lists, every error with
 * its line, glob roots, longest-root matching, glob precedence, the digest, the shipped
 * dist/vigil.conf and the example in doc/vigil.conf.5. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "walk.h"

#define PERMS                                                                                      \
	(VIGIL_ATTR_TYPE | VIGIL_ATTR_MODE | VIGIL_ATTR_UID | VIGIL_ATTR_GID | VIGIL_ATTR_ACL |    \
	 VIGIL_ATTR_CAPS | VIGIL_ATTR_SELINUX | VIGIL_ATTR_XATTRS | VIGIL_ATTR_FLAGS)
#define CONTENT                                                                                    \
	(VIGIL_ATTR_TYPE | VIGIL_ATTR_SIZE | VIGIL_ATTR_TARGET | VIGIL_ATTR_DEV | VIGIL_ATTR_HASH)

/* ---- helpers ---- */

static vigil_config *parse_ok_at(const char *text, size_t len, const char *file, int line)
{
	char err[512] = "";
	vigil_config *c = NULL;
	int r = vigil_config_parse("t.conf", text, len, &c, err, sizeof(err));

	if (r != 0)
		fail_msg("%s:%d: parse failed (%d): %s", file, line, r, err);
	assert_non_null(c);
	return c;
}
#define parse_ok(text) parse_ok_at((text), strlen(text), __FILE__, __LINE__)

static size_t count(char *const *v)
{
	size_t n = 0;

	assert_non_null(v);
	while (v[n] != NULL)
		n++;
	return n;
}

static void assert_list(char *const *v, const char *const *want, size_t n)
{
	assert_int_equal(count(v), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v[i], want[i]);
}

static size_t rule_index(const vigil_config *c, const char *root)
{
	for (size_t i = 0; i < c->nrules; i++)
		if (strcmp(c->rules[i].root, root) == 0)
			return i;
	fail_msg("no rule for %s", root);
	return SIZE_MAX;
}

static bool match(const vigil_config *c, const char *path, vigil_match *m)
{
	memset(m, 0xa5, sizeof(*m));
	return vigil_config_match(c, path, strlen(path), m);
}

static void digest_of(const char *text, uint8_t out[32])
{
	vigil_config *c = parse_ok(text);

	vigil_config_digest(c, out);
	vigil_config_free(c);
}

static void write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void make_dir(const char *base, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	assert_int_equal(mkdir(p, 0700), 0);
}

static void rm_tree(const char *dir)
{
	char cmd[PATH_MAX + 32];

	/* Only ever a directory this test made with mkdtemp. */
	assert_non_null(strstr(dir, "/vigil-config-test."));
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static char *make_tmp(void)
{
	char *d = strdup("/tmp/vigil-config-test.XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

/* ---- every key ---- */

static void test_every_key(void **state)
{
	static const char text[] = "# a policy\n"
				   "[baseline]\n"
				   "database = /var/lib/v/b.db\n"
				   "key = /etc/v/k        ; HMAC key\n"
				   "public_key = /etc/v/p.pem\n"
				   "hash = blake2b\n"
				   "exclude = /proc *.swp\n"
				   "exclude = \"/srv/a b\"\n"
				   "boot_sectors = /dev/vda /dev/sda\n"
				   "boot_sectors = /dev/nvme0n1\n"
				   "\n"
				   "[group g]\n"
				   "attributes = mode uid\n"
				   "\n"
				   "[path /etc]\n"
				   "attributes = g hash\n"
				   "exclude = /etc/mtab\n"
				   "growing = /etc/log/*.log\n"
				   "presence = /etc/ssl/certs/*\n"
				   "recurse = no\n"
				   "[path /usr]\n";
	static const char *const excl[] = {"*.swp", "/proc", "/srv/a b"};
	static const char *const boot[] = {"/dev/nvme0n1", "/dev/sda", "/dev/vda"};
	static const char *const e_ex[] = {"/etc/mtab"};
	static const char *const e_gr[] = {"/etc/log/*.log"};
	static const char *const e_pr[] = {"/etc/ssl/certs/*"};
	vigil_config *c = parse_ok(text);

	(void)state;
	assert_string_equal(c->source, "t.conf");
	assert_string_equal(c->database, "/var/lib/v/b.db");
	assert_string_equal(c->key, "/etc/v/k");
	assert_string_equal(c->public_key, "/etc/v/p.pem");
	assert_int_equal(c->hash, VIGIL_HASH_BLAKE2B);
	assert_list(c->excludes, excl, 3);
	assert_list(c->boot_devices, boot, 3);
	assert_false(c->boot_auto);
	assert_int_equal(c->nrules, 2);
	assert_string_equal(c->rules[0].root, "/etc");
	assert_int_equal(c->rules[0].attrs, VIGIL_ATTR_MODE | VIGIL_ATTR_UID | VIGIL_ATTR_HASH);
	assert_list(c->rules[0].excludes, e_ex, 1);
	assert_list(c->rules[0].growing, e_gr, 1);
	assert_list(c->rules[0].presence, e_pr, 1);
	assert_false(c->rules[0].recurse);
	assert_int_equal(c->rules[0].line, 15);
	assert_string_equal(c->rules[1].root, "/usr");
	assert_int_equal(c->rules[1].line, 21);
	vigil_config_free(c);
}

static void test_watch_section(void **state)
{
	static const char text[] =
	    "[watch]\n"
	    "protect = /srv /home\n"
	    "protect = /srv\n"
	    "respond = kill\n"
	    "raw_devices = off\n"
	    "raw_device_allow = /usr/sbin/mkfs.*\n"
	    "allow = /usr/bin/rsync /opt/b@sha256:"
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	    "canaries = /var/lib/v/c.db\n"
	    "exfil_staging = no\n"
	    "exfil_dirs = /scratch\n"
	    "inventory = /var/lib/v/i.db\n"
	    "nice = 7\n"
	    "[path /etc]\n";
	static const char *const prot[] = {"/home", "/srv"};
	static const char *const raw[] = {"/usr/sbin/mkfs.*"};
	static const char *const allow[] = {
	    "/opt/b@sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	    "/usr/bin/rsync"};
	static const char *const dirs[] = {"/scratch"};
	vigil_config *c = parse_ok(text);
	uint8_t d1[32], d2[32];

	(void)state;
	assert_list(c->watch.protect, prot, 2);
	assert_int_equal(c->watch.respond, 2); /* alert, stop, kill */
	assert_int_equal(c->watch.raw_devices, 0);
	assert_list(c->watch.raw_device_allow, raw, 1);
	assert_list(c->watch.allow, allow, 2);
	assert_string_equal(c->watch.canaries, "/var/lib/v/c.db");
	assert_int_equal(c->watch.exfil_staging, 0);
	assert_list(c->watch.exfil_dirs, dirs, 1);
	assert_string_equal(c->watch.inventory, "/var/lib/v/i.db");
	assert_int_equal(c->watch.nice, 7);
	/* [watch] is not part of the integrity policy: the digest ignores it. */
	vigil_config_digest(c, d1);
	vigil_config_free(c);
	c = parse_ok("[path /etc]\n");
	vigil_config_digest(c, d2);
	assert_memory_equal(d1, d2, 32);
	/* Unset: tri-states -1, lists empty. */
	assert_int_equal(c->watch.respond, -1);
	assert_int_equal(c->watch.raw_devices, -1);
	assert_int_equal(c->watch.exfil_staging, -1);
	assert_int_equal(c->watch.nice, -1);
	assert_int_equal(count(c->watch.protect), 0);
	assert_null(c->watch.canaries);
	vigil_config_free(c);
}

static void test_defaults(void **state)
{
	vigil_config *c = parse_ok("[path /etc]\n");

	(void)state;
	assert_string_equal(c->source, "t.conf");
	assert_null(c->database);
	assert_null(c->key);
	assert_null(c->public_key);
	assert_int_equal(c->hash, VIGIL_HASH_SHA256);
	assert_int_equal(count(c->excludes), 0);
	assert_int_equal(count(c->boot_devices), 0);
	assert_false(c->boot_auto);
	assert_int_equal(c->nrules, 1);
	assert_int_equal(c->rules[0].attrs, VIGIL_ATTR_DEFAULT);
	assert_true(c->rules[0].recurse);
	assert_int_equal(count(c->rules[0].excludes), 0);
	assert_int_equal(count(c->rules[0].growing), 0);
	assert_int_equal(count(c->rules[0].presence), 0);
	vigil_config_free(c);

	/* An empty file is a policy with no rules. */
	c = parse_ok("");
	assert_int_equal(c->nrules, 0);
	vigil_config_free(c);
}

static void test_boot_sectors_words(void **state)
{
	vigil_config *c = parse_ok("[baseline]\nboot_sectors = auto\n");

	(void)state;
	assert_true(c->boot_auto);
	assert_int_equal(count(c->boot_devices), 0);
	vigil_config_free(c);
	c = parse_ok("[baseline]\nboot_sectors = none\n");
	assert_false(c->boot_auto);
	assert_int_equal(count(c->boot_devices), 0);
	vigil_config_free(c);
}

static void test_booleans(void **state)
{
	static const struct {
		const char *word;
		bool value;
	} cases[] = {
	    {"yes", true},  {"no", false}, {"true", true}, {"false", false}, {"on", true},
	    {"off", false}, {"1", true},   {"0", false},   {"YES", true},    {"Off", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[128];
		vigil_config *c;

		snprintf(text, sizeof(text), "[path /x]\nrecurse = %s\n", cases[i].word);
		c = parse_ok(text);
		if (c->rules[0].recurse != cases[i].value)
			fail_msg("recurse = %s gave %d", cases[i].word, c->rules[0].recurse);
		vigil_config_free(c);
	}
}

/* ---- attribute lists and groups ---- */

static void test_attribute_lists(void **state)
{
	static const struct {
		const char *lines;
		uint32_t want;
	} cases[] = {
	    {"attributes = type mode", VIGIL_ATTR_TYPE | VIGIL_ATTR_MODE},
	    {"attributes = -hash", VIGIL_ATTR_DEFAULT & ~VIGIL_ATTR_HASH},
	    {"attributes = +boot_sector", VIGIL_ATTR_ALL},
	    {"attributes = all", VIGIL_ATTR_ALL},
	    {"attributes = default", VIGIL_ATTR_DEFAULT},
	    {"attributes = perms", PERMS},
	    {"attributes = content", CONTENT},
	    {"attributes = perms content",
	     VIGIL_ATTR_DEFAULT &
		 ~(VIGIL_ATTR_MTIME | VIGIL_ATTR_CTIME | VIGIL_ATTR_INODE | VIGIL_ATTR_NLINK)},
	    {"attributes = content -hash +mode", (CONTENT & ~VIGIL_ATTR_HASH) | VIGIL_ATTR_MODE},
	    {"attributes = -perms +type", (VIGIL_ATTR_DEFAULT & ~PERMS) | VIGIL_ATTR_TYPE},
	    {"attributes = -inode -nlink",
	     VIGIL_ATTR_DEFAULT & ~(VIGIL_ATTR_INODE | VIGIL_ATTR_NLINK)},
	    /* Repeated lines continue one list, left to right. */
	    {"attributes = perms\nattributes = +hash", PERMS | VIGIL_ATTR_HASH},
	    {"attributes = mode\nattributes = -mode uid", VIGIL_ATTR_UID},
	    {"attributes = -hash\nattributes = hash", VIGIL_ATTR_DEFAULT},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		vigil_config *c;

		snprintf(text, sizeof(text), "[path /x]\n%s\n", cases[i].lines);
		c = parse_ok(text);
		if (c->rules[0].attrs != cases[i].want)
			fail_msg("case %zu (%s): got %#x, want %#x", i, cases[i].lines,
				 c->rules[0].attrs, cases[i].want);
		vigil_config_free(c);
	}
}

static void test_groups(void **state)
{
	static const char text[] = "[group owner]\n"
				   "attributes = type uid gid mode\n"
				   "[group stable]\n"
				   "attributes = owner hash size   ; uses the group above\n"
				   "[group noisy]\n"
				   "attributes = -stable          ; relative to default\n"
				   "[group with-dash_2]\n"
				   "attributes = perms -flags\n"
				   "[path /a]\n"
				   "attributes = stable +mtime\n"
				   "[path /b]\n"
				   "attributes = noisy\n"
				   "[path /c]\n"
				   "attributes = with-dash_2\n"
				   "[path /d]\n"
				   "attributes = -owner\n";
	const uint32_t owner = VIGIL_ATTR_TYPE | VIGIL_ATTR_UID | VIGIL_ATTR_GID | VIGIL_ATTR_MODE;
	const uint32_t stable = owner | VIGIL_ATTR_HASH | VIGIL_ATTR_SIZE;
	vigil_config *c = parse_ok(text);

	(void)state;
	assert_int_equal(c->nrules, 4);
	assert_int_equal(c->rules[0].attrs, stable | VIGIL_ATTR_MTIME);
	assert_int_equal(c->rules[1].attrs, VIGIL_ATTR_DEFAULT & ~stable);
	assert_int_equal(c->rules[2].attrs, PERMS & ~VIGIL_ATTR_FLAGS);
	assert_int_equal(c->rules[3].attrs, VIGIL_ATTR_DEFAULT & ~owner);
	vigil_config_free(c);
}

/* ---- syntax: comments, quotes, headers ---- */

static void test_comments_and_quotes(void **state)
{
	static const char text[] = "\xef\xbb\xbf[baseline]   ; a byte-order mark, then a header\r\n"
				   "# a comment\r\n"
				   "; another comment\r\n"
				   "exclude = \"/srv/a ;b\" \"/srv/c #d\" e;f g#h ; comment\r\n"
				   "    exclude = /x\t# indented, and a '#' comment\n"
				   "exclude = \"q\\\"uote\" \"back\\\\slash\" \"glob\\[x\"\n"
				   "\t\t; an indented comment line\n"
				   "[path \"/srv/my files\"]\n"
				   "[path /dev/sd[ab]] ; a bracket in the root\n"
				   "[path //opt//app/]\n"
				   "[ path /]\n"
				   "[path \"/q\\\"x]\"]\n"
				   "[group\tg]\n"
				   "attributes:mode\n";
	static const char *const excl[] = {"/srv/a ;b", "/srv/c #d", "/x",       "back\\slash",
					   "e;f",       "g#h",       "glob\\[x", "q\"uote"};
	vigil_config *c = parse_ok(text);

	(void)state;
	assert_list(c->excludes, excl, 8);
	assert_int_equal(c->nrules, 5);
	assert_string_equal(c->rules[4].root, "/q\"x]");
	assert_string_equal(c->rules[0].root, "/srv/my files");
	assert_string_equal(c->rules[1].root, "/dev/sd[ab]");
	assert_string_equal(c->rules[2].root, "/opt/app");
	assert_string_equal(c->rules[3].root, "/");
	assert_int_equal(c->rules[3].line, 11);
	vigil_config_free(c);
}

static void test_long_lines(void **state)
{
	/* A long comment costs nothing: the limit applies to what is left of the line. */
	size_t n = 4096;
	char *text = malloc(n + 256), *o = text;
	vigil_config *c;
	char err[256];
	int r;

	(void)state;
	assert_non_null(text);
	o += sprintf(o, "[baseline]\n# ");
	memset(o, 'c', 2000);
	o += 2000;
	o += sprintf(o, "\nexclude = /a/b/c ; ");
	memset(o, 'd', 1000);
	o += 1000;
	*o++ = '\n';
	c = parse_ok_at(text, (size_t)(o - text), __FILE__, __LINE__);
	assert_string_equal(c->excludes[0], "/a/b/c");
	vigil_config_free(c);

	/* A value longer than libinih's line buffer is an error, not two lines. */
	o = text + sprintf(text, "[baseline]\n\nexclude = /");
	memset(o, 'x', 400);
	o += 400;
	*o++ = '\n';
	r = vigil_config_parse("t.conf", text, (size_t)(o - text), &c, err, sizeof(err));
	assert_int_equal(r, VIGIL_E_FORMAT);
	assert_null(c);
	if (strncmp(err, "t.conf:3: line too long (411 bytes without comments", 51) != 0)
		fail_msg("%s", err);
	free(text);
}

/* ---- every error, with its line ---- */

static const struct err_case {
	const char *text;
	const char *want; /* the whole message */
} err_cases[] = {
    {"[baseline]\nhash = md5\n", "t.conf:2: unknown hash 'md5' (sha256, sha512 or blake2b)"},
    {"\n[paths /etc]\n", "t.conf:2: unknown section [paths /etc] (expected [baseline], [watch], "
			 "[group NAME] or [path ROOT])"},
    {"[]\n",
     "t.conf:1: unknown section [] (expected [baseline], [watch], [group NAME] or [path ROOT])"},
    {"[baseline]\ndatabse = /x\n", "t.conf:2: unknown key 'databse' in [baseline]"},
    {"[path /etc]\n\nexlude = /etc/x\n", "t.conf:3: unknown key 'exlude' in [path /etc]"},
    {"[group g]\nattrs = mode\n", "t.conf:2: unknown key 'attrs' in [group g]"},
    {"[baseline]\nattributes = mode\n", "t.conf:2: unknown key 'attributes' in [baseline]"},
    {"[group g]\nexclude = /x\n", "t.conf:2: unknown key 'exclude' in [group g]"},
    {"[path /etc]\nattributes = mode md5\n", "t.conf:2: unknown attribute or group 'md5'"},
    {"[path /etc]\nattributes = +Mode\n", "t.conf:2: unknown attribute or group 'Mode'"},
    {"[path etc]\n", "t.conf:1: path 'etc' is not absolute"},
    {"[path \"\"]\n", "t.conf:1: empty quoted value \"\""},
    {"[path /etc/../usr]\n", "t.conf:1: path '/etc/../usr' has a '.' or '..' component"},
    {"[path /etc/./x]\n", "t.conf:1: path '/etc/./x' has a '.' or '..' component"},
    {"[path /etc]\n[path /usr]\n[path /etc/]\n",
     "t.conf:3: duplicate [path /etc] (first at line 1)"},
    {"[path /etc]\n[path /\\etc]\n", "t.conf:2: duplicate [path /\\etc] (first at line 1)"},
    {"[path /a*]\n[path /a*/]\n", "t.conf:2: duplicate [path /a*] (first at line 1)"},
    {"[path /etc]\nattributes = g\n[group g]\nattributes = mode\n",
     "t.conf:2: group 'g' is used before it is defined (line 3)"},
    {"[group a]\nattributes = b\n[group b]\nattributes = mode\n",
     "t.conf:2: group 'b' is used before it is defined (line 3)"},
    {"[group a]\nattributes = mode -a\n", "t.conf:2: group 'a' refers to itself"},
    {"[path /etc]\nattributes =\n", "t.conf:2: empty attribute list"},
    {"[path /etc]\nattributes = ; nothing but a comment\n", "t.conf:2: empty attribute list"},
    {"[group g]\nattributes =   \n", "t.conf:2: empty attribute list"},
    {"[path /etc]\nattributes = mode\nattributes = -mode\n",
     "t.conf:3: the attributes select nothing"},
    {"[group g]\n[path /etc]\n", "t.conf:1: [group g] has no attributes"},
    {"[path /etc]\nattributes = + mode\n", "t.conf:2: '+' needs an attribute or group name"},
    {"[path /etc]\nattributes = mode -\n", "t.conf:2: '-' needs an attribute or group name"},
    {"[path /etc]\nrecurse = maybe\n",
     "t.conf:2: recurse 'maybe' is not a boolean (yes/no, true/false, on/off, 1/0)"},
    {"[path /etc]\nrecurse = yes\nrecurse = no\n",
     "t.conf:3: 'recurse' set twice (first at line 2)"},
    {"[baseline]\nhash = sha256\n[baseline]\nhash = sha512\n",
     "t.conf:4: 'hash' set twice (first at line 2)"},
    {"[baseline]\ndatabase = /a\ndatabase = /a\n",
     "t.conf:3: 'database' set twice (first at line 2)"},
    {"[baseline]\nkey = /a\nkey = /b\n", "t.conf:3: 'key' set twice (first at line 2)"},
    {"[baseline]\npublic_key = /a\npublic_key = /b\n",
     "t.conf:3: 'public_key' set twice (first at line 2)"},
    {"[baseline]\ndatabase = /a /b\n", "t.conf:2: 'database' takes one value, not 2"},
    {"[path /x]\nrecurse = yes no\n", "t.conf:2: 'recurse' takes one value, not 2"},
    {"[baseline]\ndatabase = db.sqlite\n",
     "t.conf:2: database 'db.sqlite' is not an absolute path"},
    {"[baseline]\nkey = k\n", "t.conf:2: key 'k' is not an absolute path"},
    {"[baseline]\npublic_key = ~/p\n", "t.conf:2: public_key '~/p' is not an absolute path"},
    {"[baseline]\nexclude =\n", "t.conf:2: 'exclude' needs a value"},
    {"[path /x]\ngrowing = ; only a comment\n", "t.conf:2: 'growing' needs a value"},
    {"[baseline]\nhash =\n", "t.conf:2: 'hash' needs a value"},
    {"hash = sha256\n",
     "t.conf:1: 'hash' outside any section: start with [baseline], [group NAME] or [path ROOT]"},
    {"[baseline]\n= x\n", "t.conf:2: missing key before '='"},
    {"[baseline]\nhash sha256\n", "t.conf:2: expected 'key = value', a [section] or a comment"},
    {"[path /etc\n", "t.conf:1: section header without a closing ']' at the end of the line"},
    {"[path /etc] x\n", "t.conf:1: section header without a closing ']' at the end of the line"},
    {"[path \"/a]\n", "t.conf:1: section header without a closing ']' at the end of the line"},
    {"[path \"/a\n]\n", "t.conf:1: section header without a closing ']' at the end of the line"},
    {"[baseline x]\n", "t.conf:1: unexpected 'x' in [baseline]"},
    {"[path]\n", "t.conf:1: [path] needs a root, e.g. [path /etc]"},
    {"[path  ]\n", "t.conf:1: [path] needs a root, e.g. [path /etc]"},
    {"[group]\n", "t.conf:1: [group] needs a name, e.g. [group logs]"},
    {"[path /a b]\n", "t.conf:1: a root with blanks must be quoted: [path \"/srv/my files\"]"},
    {"[group a b]\n", "t.conf:1: a group name is one word"},
    {"[group 1x]\n", "t.conf:1: invalid group name '1x' (letters, digits, '_' and '-')"},
    {"[group a.b]\n", "t.conf:1: invalid group name 'a.b' (letters, digits, '_' and '-')"},
    {"[group mode]\n", "t.conf:1: 'mode' is an attribute name, not a group name"},
    {"[group perms]\n", "t.conf:1: group 'perms' is built in: choose another name"},
    {"[group default]\n", "t.conf:1: group 'default' is built in: choose another name"},
    {"[group g]\nattributes = mode\n[group g]\n",
     "t.conf:3: duplicate [group g] (first at line 1)"},
    {"[baseline]\nexclude = \"/a b\n", "t.conf:2: unterminated quote"},
    {"[baseline]\nexclude = \"/a\"b\n", "t.conf:2: text right after a closing quote"},
    {"[baseline]\nexclude = a\"b\"\n", "t.conf:2: '\"' inside a token: quote the whole value"},
    {"[baseline]\nexclude = \"\"\n", "t.conf:2: empty quoted value \"\""},
    {"[baseline]\nexclude = /tmp/\n", "t.conf:2: exclude '/tmp/' ends in '/' and can never match"},
    {"[baseline]\nexclude = var/log\n",
     "t.conf:2: exclude 'var/log' can never match: a glob with '/' must start with '/' or a "
     "wildcard"},
    {"[path /etc]\ngrowing = /var/log/*.log\n",
     "t.conf:2: growing '/var/log/*.log' lies outside [path /etc] and can never match"},
    {"[path /etc]\nexclude = /etcetera\n",
     "t.conf:2: exclude '/etcetera' lies outside [path /etc] and can never match"},
    {"[path /etc]\npresence = /etcx*\n",
     "t.conf:2: presence '/etcx*' lies outside [path /etc] and can never match"},
    {"[path /home/*/.ssh]\nexclude = /root/x\n",
     "t.conf:2: exclude '/root/x' lies outside [path /home/*/.ssh] and can never match"},
    {"[baseline]\nboot_sectors = auto /dev/sda\n",
     "t.conf:2: boot_sectors: 'auto' or 'none' stands alone (boot_sectors = auto | none | "
     "DEVICE...)"},
    {"[baseline]\nboot_sectors = /dev/sda\nboot_sectors = none\n",
     "t.conf:3: boot_sectors: 'auto' or 'none' stands alone (boot_sectors = auto | none | "
     "DEVICE...)"},
    {"[baseline]\nboot_sectors = auto\nboot_sectors = /dev/sda\n",
     "t.conf:3: boot_sectors: 'auto' or 'none' stands alone (boot_sectors = auto | none | "
     "DEVICE...)"},
    {"[baseline]\nboot_sectors = sda\n",
     "t.conf:2: boot_sectors 'sda' is not an absolute device path"},
    /* Found by fuzz_config: a token failing after one was taken leaked the rest. */
    {"[baseline]\nboot_sectors = /dev/sda sda /dev/sdb\n",
     "t.conf:2: boot_sectors 'sda' is not an absolute device path"},
    {"[path /etc]\nexclude = /etc/a /var/b /etc/c\n",
     "t.conf:2: exclude '/var/b' lies outside [path /etc] and can never match"},
    {"[baseline]\nhash = sha\x01\n", "t.conf:2: control character 0x01"},
    {"[baseline]\n\nhash = sha256\x7f\n", "t.conf:3: control character 0x7f"},
    {"[baseline]\nhash = sha256\rx\n", "t.conf:2: control character 0x0d"},
    /* The first problem in the file is the one reported, whichever check finds it. */
    {"[watch]\nprotect = srv\n", "t.conf:2: protect 'srv' is not an absolute path"},
    {"[watch]\nrespond = freeze\n", "t.conf:2: respond 'freeze' is not alert, stop or kill"},
    {"[watch]\nrespond = stop\nrespond = kill\n",
     "t.conf:3: 'respond' set twice (first at line 2)"},
    {"[watch]\nraw_devices = perhaps\n",
     "t.conf:2: raw_devices 'perhaps' is not a boolean (yes/no, true/false, on/off, 1/0)"},
    {"[watch]\nallow = /usr/bin/x@md5:00\n",
     "t.conf:2: allow '/usr/bin/x@md5:00': a digest is written EXE@sha256:HEX with 64 hex "
     "digits"},
    {"[watch]\ncanaries = c.db\n", "t.conf:2: canaries 'c.db' is not an absolute path"},
    {"[watch]\nnice = 20\n", "t.conf:2: nice '20' is not a number from 0 to 19"},
    {"[watch]\nnice = -1\n", "t.conf:2: nice '-1' is not a number from 0 to 19"},
    {"[watch]\nnice = 5\nnice = 6\n", "t.conf:3: 'nice' set twice (first at line 2)"},
    {"[watch]\nhash = sha256\n", "t.conf:2: unknown key 'hash' in [watch]"},
    {"[watch x]\n", "t.conf:1: unexpected 'x' in [watch]"},
    {"[baseline]\nbogus line\nhash = md5\n",
     "t.conf:2: expected 'key = value', a [section] or a comment"},
    {"[path /etc]\nattributes = g\n[group g]\nattributes = nope\n",
     "t.conf:2: group 'g' is used before it is defined (line 3)"},
    {"[group g]\nattributes = nope\n[path /etc]\nattributes = alsonope\n",
     "t.conf:2: unknown attribute or group 'nope'"},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *t = &err_cases[i];
		char err[512] = "unchanged";
		vigil_config *c = (vigil_config *)&err; /* must be reset */
		int r =
		    vigil_config_parse("t.conf", t->text, strlen(t->text), &c, err, sizeof(err));

		if (r != VIGIL_E_FORMAT || strcmp(err, t->want) != 0)
			fail_msg("case %zu: %s\n  got  %d \"%s\"\n  want \"%s\"", i, t->text, r,
				 err, t->want);
		assert_null(c);
	}
}

static void test_nul_byte(void **state)
{
	static const char text[] = "[baseline]\nhash = sha\0"
				   "256\n";
	char err[128];
	vigil_config *c;

	(void)state;
	assert_int_equal(vigil_config_parse("t.conf", text, sizeof(text) - 1, &c, err, sizeof(err)),
			 VIGIL_E_FORMAT);
	assert_null(c);
	assert_string_equal(err, "t.conf:2: NUL byte");
}

static void test_error_buffer(void **state)
{
	static const char text[] = "[baseline]\nhash = md5\n";
	char small[12];
	vigil_config *c;

	(void)state;
	memset(small, 'z', sizeof(small));
	assert_int_equal(vigil_config_parse("t.conf", text, strlen(text), &c, small, sizeof(small)),
			 VIGIL_E_FORMAT);
	assert_string_equal(small, "t.conf:2: u");
	assert_int_equal(vigil_config_parse("t.conf", text, strlen(text), &c, NULL, 0),
			 VIGIL_E_FORMAT);
	assert_null(c);
	assert_int_equal(vigil_config_parse("t.conf", NULL, 5, &c, NULL, 0), VIGIL_E_INVALID);
}

/* ---- files ---- */

static void test_load(void **state)
{
	char *dir = make_tmp(), path[PATH_MAX], err[PATH_MAX + 64];
	static const char text[] = "[path /etc]\nattributes = perms\n";
	vigil_config *c = NULL;
	char *big;
	size_t big_len = (9u << 20); /* past the reader's own cap, not only the parser's */

	(void)state;
	snprintf(path, sizeof(path), "%s/vigil.conf", dir);
	write_file(path, text, strlen(text));
	assert_int_equal(vigil_config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->source, path);
	assert_int_equal(c->rules[0].attrs, PERMS);
	vigil_config_free(c);

	/* Errors name the file as given. */
	write_file(path, "[path /etc]\nattributes = nope\n", 30);
	assert_int_equal(vigil_config_load(path, &c, err, sizeof(err)), VIGIL_E_FORMAT);
	assert_null(c);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path), ":2: unknown attribute or group 'nope'");

	/* A missing file: errno kept, the message names the file. */
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	errno = 0;
	assert_int_equal(vigil_config_load(path, &c, err, sizeof(err)), VIGIL_E_SYSTEM);
	assert_int_equal(errno, ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, path));

	/* A directory cannot be read. */
	assert_int_equal(vigil_config_load(dir, &c, err, sizeof(err)), VIGIL_E_SYSTEM);
	assert_int_equal(errno, EISDIR);

	/* Megabytes of comments are not a policy. */
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	big = malloc(big_len);
	assert_non_null(big);
	memset(big, '#', big_len);
	for (size_t i = 63; i < big_len; i += 64)
		big[i] = '\n';
	write_file(path, big, big_len);
	free(big);
	assert_int_equal(vigil_config_load(path, &c, err, sizeof(err)), VIGIL_E_FORMAT);
	assert_non_null(strstr(err, "larger than 4 MiB"));
	assert_null(c);
	rm_tree(dir);
	free(dir);
}

/* The policy installed by make install must parse and say what its comments say. */
static void test_dist_config(void **state)
{
	static const struct {
		const char *path;
		const char *root; /* NULL: not covered */
		bool excluded;
		vigil_entry_policy policy;
	} cases[] = {
	    {"/etc/shadow", "/etc", false, VIGIL_POLICY_NORMAL},
	    {"/etc/ld.so.cache", "/etc", false, VIGIL_POLICY_NORMAL},
	    {"/etc/machine-id", "/etc", false, VIGIL_POLICY_NORMAL},
	    {"/etc/mtab", "/etc", false, VIGIL_POLICY_NORMAL},
	    {"/etc/ssl/certs/ca-certificates.crt", "/etc", false, VIGIL_POLICY_NORMAL},
	    {"/etc/adjtime", "/etc", false, VIGIL_POLICY_PRESENCE},
	    {"/etc/lvm/archive/vg0_00042-1.vg", "/etc", true, VIGIL_POLICY_NORMAL},
	    {"/etc/.git/objects/ab/cdef", "/etc", true, VIGIL_POLICY_NORMAL},
	    {"/etc/.git/hooks/pre-commit", "/etc", false, VIGIL_POLICY_NORMAL},
	    {"/etc/letsencrypt/live/example.org/cert.pem", "/etc", false, VIGIL_POLICY_PRESENCE},
	    {"/etc/letsencrypt/renewal/example.org.conf", "/etc/letsencrypt/renewal/*.conf", false,
	     VIGIL_POLICY_NORMAL},
	    {"/etc/nginx/.nginx.conf.swp", "/etc", true, VIGIL_POLICY_NORMAL},
	    {"/etc/resolv.conf", "/etc/resolv.conf", false, VIGIL_POLICY_NORMAL},
	    {"/etc/cron.d/backup", "/etc/cron.*", false, VIGIL_POLICY_NORMAL},
	    {"/etc/crontab", "/etc/crontab", false, VIGIL_POLICY_NORMAL},
	    {"/etc/systemd/system/evil.service", "/etc/systemd", false, VIGIL_POLICY_NORMAL},
	    {"/usr/bin/sudo", "/usr/bin", false, VIGIL_POLICY_NORMAL},
	    {"/usr/lib/python3/dist-packages/apt/__pycache__/cache.cpython-311.pyc", "/usr/lib",
	     true, VIGIL_POLICY_NORMAL},
	    {"/usr/lib/python3/dist-packages/apt/cache.py", "/usr/lib", false, VIGIL_POLICY_NORMAL},
	    {"/usr/lib/x86_64-linux-gnu/security/pam_unix.so", "/usr/lib", false,
	     VIGIL_POLICY_NORMAL},
	    {"/usr/lib/systemd/system/ssh.service", "/usr/lib/systemd", false, VIGIL_POLICY_NORMAL},
	    {"/usr/share/doc/bash/README", NULL, false, VIGIL_POLICY_NORMAL},
	    {"/root/.ssh/authorized_keys", "/root/.ssh", false, VIGIL_POLICY_NORMAL},
	    {"/root/.ssh/known_hosts", "/root/.ssh", false, VIGIL_POLICY_GROWING},
	    {"/home/alice/.ssh/authorized_keys", "/home/*/.ssh", false, VIGIL_POLICY_NORMAL},
	    {"/home/alice/.bashrc", NULL, false, VIGIL_POLICY_NORMAL},
	    {"/var/spool/cron/crontabs/root", "/var/spool/cron", false, VIGIL_POLICY_NORMAL},
	    {"/var/spool/cron/atspool/x", "/var/spool/cron", true, VIGIL_POLICY_NORMAL},
	    {"/boot/vmlinuz-6.1.0-13-amd64", "/boot", false, VIGIL_POLICY_NORMAL},
	    {"/boot/grub/grubenv", "/boot", false, VIGIL_POLICY_PRESENCE},
	    {"/var/www/html/index.php", "/var/www", false, VIGIL_POLICY_NORMAL},
	    {"/var/lib/dpkg/status", NULL, false, VIGIL_POLICY_NORMAL},
	};
	char err[512];
	vigil_config *c = NULL;

	(void)state;
	if (vigil_config_load("dist/vigil.conf", &c, err, sizeof(err)) != 0)
		fail_msg("dist/vigil.conf: %s", err);
	assert_string_equal(c->database, "/var/lib/vigil/baseline.db");
	assert_int_equal(c->hash, VIGIL_HASH_SHA256);
	assert_false(c->boot_auto);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vigil_match m;
		bool covered = match(c, cases[i].path, &m);

		if (cases[i].root == NULL) {
			if (covered)
				fail_msg("%s: covered by %s", cases[i].path, c->rules[m.rule].root);
			continue;
		}
		if (!covered)
			fail_msg("%s: not covered", cases[i].path);
		if (strcmp(c->rules[m.rule].root, cases[i].root) != 0 ||
		    m.excluded != cases[i].excluded || (!m.excluded && m.policy != cases[i].policy))
			fail_msg("%s: rule %s excluded %d policy %d", cases[i].path,
				 c->rules[m.rule].root, m.excluded, m.policy);
	}
	/* /boot/efi is FAT: no inode numbers; rewritten files: no times or inode. */
	assert_int_equal(c->rules[rule_index(c, "/boot")].attrs,
			 VIGIL_ATTR_DEFAULT & ~VIGIL_ATTR_INODE);
	assert_int_equal(c->rules[rule_index(c, "/etc/resolv.conf")].attrs, PERMS | CONTENT);
	assert_int_equal(c->rules[rule_index(c, "/etc")].attrs, VIGIL_ATTR_DEFAULT);
	vigil_config_free(c);
}

/* The EXAMPLE section of doc/vigil.conf.5, with groff escapes undone, must parse. */
static void test_man_page_example(void **state)
{
	FILE *f = fopen("doc/vigil.conf.5", "r");
	char line[512], err[512], *text = calloc(1, 65536);
	size_t n = 0;
	int phase = 0; /* 0 before .SH EXAMPLE, 1 before .nf, 2 inside, 3 done */
	vigil_config *c = NULL;
	vigil_match m;

	(void)state;
	assert_non_null(f);
	assert_non_null(text);
	while (phase < 3 && fgets(line, sizeof(line), f) != NULL) {
		if (phase == 0 && strncmp(line, ".SH EXAMPLE", 11) == 0)
			phase = 1;
		else if (phase == 1 && strncmp(line, ".nf", 3) == 0)
			phase = 2;
		else if (phase == 2 && strncmp(line, ".fi", 3) == 0)
			phase = 3;
		else if (phase == 2)
			for (const char *s = line; *s != '\0'; s++) {
				if (s[0] == '\\' && s[1] == '-')
					text[n++] = '-', s++;
				else if (s[0] == '\\' && s[1] == 'e')
					text[n++] = '\\', s++;
				else
					text[n++] = *s;
				assert_true(n < 65000);
			}
	}
	fclose(f);
	assert_int_equal(phase, 3);
	if (vigil_config_parse("vigil.conf.5", text, n, &c, err, sizeof(err)) != 0)
		fail_msg("example: %s\n%s", err, text);
	assert_int_equal(c->nrules, 5);
	assert_true(match(c, "/var/log/syslog.log", &m));
	assert_int_equal(m.policy, VIGIL_POLICY_GROWING);
	assert_false(match(c, "/var/log/apt/history.log", &m)); /* recurse = no */
	assert_true(match(c, "/etc/ssh/.sshd_config.swp", &m));
	assert_true(m.excluded);
	assert_true(match(c, "/etc/adjtime", &m));
	assert_int_equal(m.policy, VIGIL_POLICY_PRESENCE);
	vigil_config_free(c);
	free(text);
}

/* ---- roots ---- */

static void test_roots_glob(void **state)
{
	char *dir = make_tmp(), text[4096], path[PATH_MAX];
	vigil_config *c;
	vigil_root *roots = NULL;
	size_t n = 0;
	static const struct {
		const char *rel;
		const char *rule_root_rel;
	} want[] = {
	    {"etc", "etc"},
	    {"etc/cron.d", "etc/cron.*"},
	    {"etc/cron.daily", "etc/cron.*"},
	    {"etc/crontab", "etc/crontab"}, /* a glob and a literal give it: the literal rule */
	    {"home/alice/.ssh", "home/alice/.ssh"},
	    {"home/bob/.ssh", "home/*/.ssh"},
	    {"missing", "missing"},
	};

	(void)state;
	make_dir(dir, "home");
	make_dir(dir, "home/alice");
	make_dir(dir, "home/alice/.ssh");
	make_dir(dir, "home/bob");
	make_dir(dir, "home/bob/.ssh");
	make_dir(dir, "home/.hidden");
	make_dir(dir, "home/.hidden/.ssh");
	make_dir(dir, "home/carol");
	make_dir(dir, "etc");
	make_dir(dir, "etc/cron.d");
	make_dir(dir, "etc/cron.daily");
	snprintf(path, sizeof(path), "%s/etc/crontab", dir);
	write_file(path, "", 0);
	snprintf(text, sizeof(text),
		 "[path %s/home/*/.ssh]\n"
		 "[path %s/home/alice/.ssh]\nattributes = perms\n"
		 "[path %s/missing]\n"
		 "[path %s/nothing*]\n"
		 "[path %s/etc/cron*]\n"
		 "[path %s/etc/crontab]\n"
		 "[path %s/etc]\n",
		 dir, dir, dir, dir, dir, dir, dir);
	c = parse_ok(text);
	assert_int_equal(vigil_config_roots(c, &roots, &n), 0);
	if (n != sizeof(want) / sizeof(want[0])) {
		for (size_t i = 0; i < n; i++)
			print_message("root %s\n", roots[i].path);
		fail_msg("%zu roots", n);
	}
	for (size_t i = 0; i < n; i++) {
		char p[PATH_MAX], r[PATH_MAX];
		const char *rule_root = want[i].rule_root_rel;

		snprintf(p, sizeof(p), "%s/%s", dir, want[i].rel);
		assert_string_equal(roots[i].path, p);
		/* etc/cron.d and cron.daily come from "etc/cron*" */
		if (strcmp(rule_root, "etc/cron.*") == 0)
			rule_root = "etc/cron*";
		snprintf(r, sizeof(r), "%s/%s", dir, rule_root);
		assert_true(roots[i].rule < c->nrules);
		if (strcmp(c->rules[roots[i].rule].root, r) != 0)
			fail_msg("%s: rule %s, want %s", p, c->rules[roots[i].rule].root, r);
	}
	vigil_roots_free(roots, n);
	vigil_config_free(c);
	rm_tree(dir);
	free(dir);
}

/* ---- matching ---- */

static void test_match_longest_root(void **state)
{
	static const char text[] = "[path /]\nrecurse = no\n"        /* 0 */
				   "[path /usr]\n"                   /* 1 */
				   "[path /usr/lib]\n"               /* 2 */
				   "[path /usr/lib/systemd]\n"       /* 3 */
				   "[path /home/*/.ssh]\n"           /* 4 */
				   "[path /home/bob]\n"              /* 5 */
				   "[path /srv/*]\n"                 /* 6 */
				   "[path /srv/www]\n"               /* 7 */
				   "[path /opt/app]\nrecurse = no\n" /* 8 */
				   "[path /srv/?ww]\n";              /* 9 */
	static const struct {
		const char *path;
		int rule; /* -1: not covered */
	} cases[] = {
	    {"/", 0},
	    {"/usrx", 0},
	    {"/usrx/y", -1}, /* "/" does not recurse */
	    {"/usr", 1},
	    {"/usr/bin/ls", 1},
	    {"/usr/libexec/x", 1}, /* component-wise: /usr/lib is not a prefix */
	    {"/usr/lib", 2},
	    {"/usr/lib/x86_64-linux-gnu/libc.so.6", 2},
	    {"/usr/lib/systemd", 3},
	    {"/usr/lib/systemd/system/ssh.service", 3},
	    {"/usr/lib/systemdx", 2},
	    {"/home", 0},
	    {"/home/bob", 5},
	    {"/home/bob/notes", 5},
	    {"/home/bob/.ssh", 4}, /* deeper than /home/bob */
	    {"/home/bob/.ssh/authorized_keys", 4},
	    {"/home/alice/.ssh/id_ed25519", 4},
	    {"/home/alice/.sshx/k", -1},
	    {"/home/.x/.ssh/k", -1},    /* '*' does not match a leading dot, as in glob(3) */
	    {"/srv/www/index.html", 7}, /* plain before pattern at the same depth */
	    {"/srv/data/x", 6},
	    {"/srv/aww/x", 6}, /* two patterns at one depth: the first in byte order, "/srv/(*)" */
	    {"/opt/app", 8},
	    {"/opt/app/bin", 8},
	    {"/opt/app/bin/x", -1},
	    {"relative/path", -1},
	    {"", -1},
	};
	vigil_config *c = parse_ok(text);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vigil_match m;
		bool covered = match(c, cases[i].path, &m);

		if (cases[i].rule < 0) {
			if (covered)
				fail_msg("%s: covered by %s", cases[i].path, c->rules[m.rule].root);
			continue;
		}
		if (!covered || m.rule != (size_t)cases[i].rule)
			fail_msg("%s: covered %d by %s, want %s", cases[i].path, covered,
				 covered ? c->rules[m.rule].root : "-",
				 c->rules[cases[i].rule].root);
		assert_false(m.excluded);
		assert_int_equal(m.policy, VIGIL_POLICY_NORMAL);
		assert_int_equal(m.attrs, c->rules[cases[i].rule].attrs);
	}
	vigil_config_free(c);
}

static void test_match_precedence(void **state)
{
	static const char text[] = "[baseline]\n"
				   "exclude = .*.swp /srv/skip\n"
				   "[path /srv]\n"
				   "attributes = perms hash\n"
				   "exclude = /srv/tmp\n"
				   "growing = *.log /srv/both\n"
				   "presence = /srv/certs /srv/both /srv/tmp/x /srv/*.log\n"
				   "[path /srv/skip/inner]\n";
	static const struct {
		const char *path;
		bool excluded;
		vigil_entry_policy policy;
	} cases[] = {
	    {"/srv/a.txt", false, VIGIL_POLICY_NORMAL},
	    {"/srv/tmp", true, 0},
	    {"/srv/tmp/x", true, 0},         /* exclude beats presence */
	    {"/srv/tmp/deep/file", true, 0}, /* below an excluded directory */
	    {"/srv/tmpx", false, VIGIL_POLICY_NORMAL},
	    {"/srv/app/.conf.swp", true, 0}, /* global, by base name */
	    {"/srv/.x.swp/inner", true, 0},  /* below a directory excluded by base name */
	    {"/srv/skip", true, 0},          /* global, full path */
	    {"/srv/logs/a.log", false, VIGIL_POLICY_GROWING}, /* growing beats presence */
	    {"/srv/both", false, VIGIL_POLICY_GROWING},
	    {"/srv/both/child", false, VIGIL_POLICY_GROWING},
	    {"/srv/certs", false, VIGIL_POLICY_PRESENCE},
	    {"/srv/certs/ca.pem", false, VIGIL_POLICY_PRESENCE},
	    {"/srv/certsx", false, VIGIL_POLICY_NORMAL},
	};
	vigil_config *c = parse_ok(text);
	const uint32_t attrs = PERMS | VIGIL_ATTR_HASH;
	vigil_match m;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!match(c, cases[i].path, &m))
			fail_msg("%s: not covered", cases[i].path);
		assert_int_equal(m.rule, 0);
		if (m.excluded != cases[i].excluded)
			fail_msg("%s: excluded %d", cases[i].path, m.excluded);
		if (m.excluded)
			continue;
		if (m.policy != cases[i].policy)
			fail_msg("%s: policy %d, want %d", cases[i].path, m.policy,
				 cases[i].policy);
		assert_int_equal(m.attrs,
				 m.policy == VIGIL_POLICY_PRESENCE ? VIGIL_ATTR_TYPE : attrs);
	}
	/* A root inside an excluded tree is governed by its own rule, but the global excludes
	 * still apply to it (and to its ancestors). */
	assert_true(match(c, "/srv/skip/inner/f", &m));
	assert_int_equal(m.rule, 1);
	assert_true(m.excluded);
	vigil_config_free(c);

	/* Without the global exclude the inner root is watched although the outer rule
	 * excludes it. */
	c = parse_ok("[path /srv]\nexclude = /srv/skip\n[path /srv/skip/inner]\n");
	assert_true(match(c, "/srv/skip/inner/f", &m));
	assert_int_equal(m.rule, 1);
	assert_false(m.excluded);
	assert_true(match(c, "/srv/skip/other", &m));
	assert_true(m.excluded);
	vigil_config_free(c);

	/* Paths longer than PATH_MAX, below a pattern root and with excludes to test. */
	{
		size_t len = 3 * PATH_MAX;
		char *p = malloc(len + 32);

		assert_non_null(p);
		c = parse_ok("[baseline]\nexclude = *.swp\n[path /s*]\nexclude = /srv/a/keep\n");
		memcpy(p, "/srv/", 5);
		memset(p + 5, 'a', len);
		for (size_t i = 100; i < len; i += 100)
			p[5 + i] = '/';
		strcpy(p + 5 + len, "/f");
		assert_true(match(c, p, &m));
		assert_false(m.excluded);
		strcpy(p + 5 + len, "/f.swp");
		assert_true(match(c, p, &m));
		assert_true(m.excluded);
		p[5 + 100] = '\0';
		strcat(p, ".swp/deeper/f"); /* an excluded directory far above */
		assert_true(match(c, p, &m));
		assert_true(m.excluded);
		vigil_config_free(c);
		free(p);
	}

	/* Excluding an ancestor of the root is allowed (and excludes the whole rule). */
	c = parse_ok("[path /srv/a/b]\nexclude = /srv/a\n");
	assert_true(match(c, "/srv/a/b/c", &m));
	assert_true(m.excluded);
	vigil_config_free(c);
}

/* A path is excluded exactly when `vigil scan --exclude GLOB` would not reach it: the
 * glob matches it or one of its ancestors, each as vigil_path_excluded matches. This
 * checks the byte prefilters in front of fnmatch never lose a match. */
static void test_match_same_as_scan_exclude(void **state)
{
	static const char *const globs[] = {
	    "*.log", "/srv/a*", "*/cache/*", "__pycache__", "/srv/x/y", "?",
	    "[ab]*", "*.d",     "/srv/*/z",  "a\\*b",       "*b",       "/srv/a?c/*",
	    "*",     "/srv",    "x",         "[!x]",        "*[ck]*",   "/srv/k/*.log",
	    "*/",    "m.pyc",   "*y",        "/s*v/x",      "abc",      "\\a\\bc",
	};
	static const char *const paths[] = {
	    "/srv/a",
	    "/srv/abc/d",
	    "/srv/x/y",
	    "/srv/x/y/z",
	    "/srv/cache/q",
	    "/srv/q/cache/r",
	    "/srv/__pycache__/m.pyc",
	    "/srv/m/z",
	    "/srv/b",
	    "/srv/c.d/x",
	    "/srv/a*b/c",
	    "/srv/xb",
	    "/srv/log.log/k",
	    "/srv/k/l/m/n.log",
	    "/srv/ab",
	    "/srv/x",
	    "/srv",
	    "/srv/q/r/s/t/u/v",
	};

	(void)state;
	for (size_t g = 0; g < sizeof(globs) / sizeof(globs[0]); g++) {
		char text[256], err[256];
		vigil_config *c = NULL;

		snprintf(text, sizeof(text), "[path /srv]\nexclude = %s\n", globs[g]);
		if (vigil_config_parse("t.conf", text, strlen(text), &c, err, sizeof(err)) != 0) {
			/* Only globs that can never match may be refused. */
			if (strcmp(globs[g], "*/") != 0)
				fail_msg("%s: %s", globs[g], err);
			continue;
		}
		for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
			const char *one[2] = {globs[g], NULL};
			char buf[PATH_MAX];
			bool want = false;
			vigil_match m;

			snprintf(buf, sizeof(buf), "%s", paths[p]);
			want = vigil_path_excluded(buf, one);
			for (size_t i = 1; buf[i] != '\0'; i++) {
				if (buf[i] != '/')
					continue;
				buf[i] = '\0';
				want = want || vigil_path_excluded(buf, one);
				buf[i] = '/';
			}
			assert_true(match(c, paths[p], &m));
			if (m.excluded != want)
				fail_msg("glob %s path %s: excluded %d, want %d", globs[g],
					 paths[p], m.excluded, want);
		}
		vigil_config_free(c);
	}
}

/* ---- digest ---- */

static void test_digest(void **state)
{
	static const char base[] = "[baseline]\n"
				   "exclude = /a /b\n"
				   "[path /etc]\n"
				   "attributes = perms hash\n"
				   "exclude = /etc/x /etc/y\n"
				   "[path /usr]\n";
	static const char *const same[] = {
	    /* comments and layout */
	    "# policy\n[baseline]\n  exclude = /a /b   ; two\n\n; x\n[path /etc]\n"
	    "attributes = perms hash # c\nexclude = /etc/x /etc/y\n[path /usr]\n",
	    /* list order, lines split, duplicates */
	    "[baseline]\nexclude = /b\nexclude = /a /b\n[path /etc]\nattributes = perms\n"
	    "attributes = +hash\nexclude = /etc/y /etc/x\n[path /usr]\n",
	    /* section order */
	    "[path /usr]\n[path /etc]\nexclude = /etc/x /etc/y\nattributes = perms hash\n"
	    "[baseline]\nexclude = /a /b\n",
	    /* a group instead of the names, and the same bits spelled differently */
	    "[baseline]\nexclude = /a /b\n[group g]\nattributes = perms\n[path /etc]\n"
	    "attributes = g hash\nexclude = /etc/x /etc/y\n[path /usr/]\nattributes = default\n",
	    /* where the database and keys live */
	    "[baseline]\ndatabase = /x.db\nkey = /k\npublic_key = /p\nexclude = /a /b\n"
	    "[path /etc]\nattributes = perms hash\nexclude = /etc/x /etc/y\n[path /usr]\n",
	    /* explicit defaults */
	    "[baseline]\nhash = sha256\nboot_sectors = none\nexclude = /a /b\n[path /etc]\n"
	    "attributes = perms hash\nexclude = /etc/x /etc/y\nrecurse = yes\n[path /usr]\n",
	};
	static const char *const different[] = {
	    "[baseline]\nexclude = /a /b\n[path /etc]\nattributes = perms\n"
	    "exclude = /etc/x /etc/y\n[path /usr]\n",
	    "[baseline]\nexclude = /a /b\n[path /etc]\nattributes = perms hash\n"
	    "exclude = /etc/x /etc/y /etc/z\n[path /usr]\n",
	    "[baseline]\nexclude = /a /b\n[path /etc]\nattributes = perms hash\n"
	    "exclude = /etc/x /etc/y\nrecurse = no\n[path /usr]\n",
	    "[baseline]\nhash = sha512\nexclude = /a /b\n[path /etc]\nattributes = perms hash\n"
	    "exclude = /etc/x /etc/y\n[path /usr]\n",
	    "[baseline]\nexclude = /a /b\n[path /etc]\nattributes = perms hash\n"
	    "exclude = /etc/x /etc/y\n[path /usr2]\n",
	    "[baseline]\nexclude = /a\n[path /etc]\nattributes = perms hash\n"
	    "exclude = /etc/x /etc/y\n[path /usr]\n",
	    "[baseline]\nexclude = /a /b\n[path /etc]\nattributes = perms hash\n"
	    "exclude = /etc/x\npresence = /etc/y\n[path /usr]\n",
	    "[baseline]\nexclude = /a /b\n[path /etc]\nattributes = perms hash\n"
	    "exclude = /etc/x\ngrowing = /etc/y\n[path /usr]\n",
	    "[baseline]\nexclude = /a /b\nboot_sectors = auto\n[path /etc]\n"
	    "attributes = perms hash\nexclude = /etc/x /etc/y\n[path /usr]\n",
	    "[baseline]\nexclude = /a /b\nboot_sectors = /dev/sda\n[path /etc]\n"
	    "attributes = perms hash\nexclude = /etc/x /etc/y\n[path /usr]\n",
	    "[baseline]\nexclude = /a /b\n[path /etc]\nattributes = perms hash\n"
	    "exclude = /etc/x /etc/y\n",
	    /* the same strings in another field */
	    "[baseline]\nexclude = /a /b /etc/x /etc/y\n[path /etc]\nattributes = perms hash\n"
	    "[path /usr]\n",
	};
	uint8_t want[32], got[32], zero[32] = {0};
	vigil_config *c;

	(void)state;
	digest_of(base, want);
	assert_memory_not_equal(want, zero, 32);
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		digest_of(same[i], got);
		if (memcmp(got, want, 32) != 0)
			fail_msg("same meaning %zu gave another digest:\n%s", i, same[i]);
	}
	for (size_t i = 0; i < sizeof(different) / sizeof(different[0]); i++) {
		digest_of(different[i], got);
		if (memcmp(got, want, 32) == 0)
			fail_msg("change %zu kept the digest:\n%s", i, different[i]);
		for (size_t j = 0; j < i; j++) {
			uint8_t other[32];

			digest_of(different[j], other);
			if (memcmp(got, other, 32) == 0)
				fail_msg("changes %zu and %zu give one digest", j, i);
		}
	}

	/* A policy built from paths means what the same policy written out means. */
	{
		const char *const paths[] = {"/etc", "/usr"};

		assert_int_equal(vigil_config_from_paths(paths, 2, VIGIL_ATTR_DEFAULT, &c), 0);
		vigil_config_digest(c, got);
		vigil_config_free(c);
		digest_of("[path /usr]\n[path /etc]\n", want);
		assert_memory_equal(got, want, 32);
	}
}

/* ---- policies from command-line paths ---- */

static void test_from_paths(void **state)
{
	char *dir = make_tmp(), *old = getcwd(NULL, 0), *here, want[PATH_MAX];
	const char *const paths[] = {"a[1]", "./b/../c", "/abs//x/", "c", "/"};
	vigil_config *c = NULL;
	vigil_root *roots = NULL;
	size_t n = 0;
	vigil_match m;

	(void)state;
	assert_non_null(old);
	assert_int_equal(chdir(dir), 0);
	here = getcwd(NULL, 0);
	assert_non_null(here);
	assert_int_equal(vigil_config_from_paths(paths, 5, PERMS, &c), 0);
	assert_int_equal(chdir(old), 0);
	assert_null(c->source);
	assert_int_equal(count(c->excludes), 0);
	assert_int_equal(c->nrules, 4); /* "c" twice */
	snprintf(want, sizeof(want), "%s/a\\[1\\]", here);
	assert_string_equal(c->rules[0].root, want);
	snprintf(want, sizeof(want), "%s/c", here);
	assert_string_equal(c->rules[1].root, want);
	assert_string_equal(c->rules[2].root, "/abs/x");
	assert_string_equal(c->rules[3].root, "/");
	for (size_t i = 0; i < c->nrules; i++) {
		assert_int_equal(c->rules[i].attrs, PERMS);
		assert_true(c->rules[i].recurse);
		assert_int_equal(count(c->rules[i].excludes), 0);
	}

	/* The name with brackets is literal: kept although missing, and matched as such. */
	assert_int_equal(vigil_config_roots(c, &roots, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(roots[0].path, "/");
	assert_string_equal(roots[1].path, "/abs/x");
	snprintf(want, sizeof(want), "%s/a[1]", here);
	assert_string_equal(roots[2].path, want);
	assert_int_equal(roots[2].rule, 0);
	vigil_roots_free(roots, n);
	snprintf(want, sizeof(want), "%s/a[1]/f", here);
	assert_true(match(c, want, &m));
	assert_int_equal(m.rule, 0);
	snprintf(want, sizeof(want), "%s/a1/f", here);
	assert_true(match(c, want, &m));
	assert_int_equal(m.rule, 3);
	vigil_config_free(c);

	{
		const char *const bad[] = {"/etc", ""};

		assert_int_equal(vigil_config_from_paths(bad, 1, 0, &c), VIGIL_E_INVALID);
		assert_null(c);
		assert_int_equal(vigil_config_from_paths(bad, 2, PERMS, &c), VIGIL_E_INVALID);
		assert_int_equal(vigil_config_from_paths(bad, 1, 1u << 30, &c), VIGIL_E_INVALID);
		assert_int_equal(vigil_config_from_paths(NULL, 0, PERMS, &c), 0);
		assert_int_equal(c->nrules, 0);
		assert_false(match(c, "/etc", &m));
		vigil_config_free(c);
	}
	vigil_config_free(NULL);
	free(here);
	free(old);
	rm_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_key),
	    cmocka_unit_test(test_watch_section),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_boot_sectors_words),
	    cmocka_unit_test(test_booleans),
	    cmocka_unit_test(test_attribute_lists),
	    cmocka_unit_test(test_groups),
	    cmocka_unit_test(test_comments_and_quotes),
	    cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_error_buffer),
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_dist_config),
	    cmocka_unit_test(test_man_page_example),
	    cmocka_unit_test(test_roots_glob),
	    cmocka_unit_test(test_match_longest_root),
	    cmocka_unit_test(test_match_precedence),
	    cmocka_unit_test(test_match_same_as_scan_exclude),
	    cmocka_unit_test(test_digest),
	    cmocka_unit_test(test_from_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
