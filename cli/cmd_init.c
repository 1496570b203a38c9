/* SPDX-License-Identifier: Apache-2.0 */
/* vigil init: record a sealed file-integrity baseline. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "integrity.h"

static const char init_usage[] =
    "usage: vigil init [OPTIONS] [PATH...]\n"
    "\n"
    "Record a baseline of every file, directory and link under each PATH (or under the\n"
    "policy's paths with --config), then seal it so later edits to it are detected.\n"
    "An existing baseline is replaced in one transaction.\n"
    "\n" INTEGRITY_HELP "Attributes (without --config):\n"
    "      --attrs LIST         comma-separated attribute names (default: all but\n"
    "                           boot_sector): type,mode,uid,gid,size,mtime,ctime,inode,\n"
    "                           nlink,target,dev,hash,acl,caps,selinux,xattrs,flags\n"
    "      --hash ALGO          sha256 (default), sha512 or blake2b\n"
    "  -m, --note TEXT          a note kept in the history\n"
    "\n"
    "Exit status: 0 recorded, 2 error.\n";

static bool parse_attrs(const char *list, uint32_t *out)
{
	char *copy = strdup(list), *save = NULL;
	bool ok = copy != NULL;

	*out = 0;
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
	     t = strtok_r(NULL, ",", &save)) {
		uint32_t bit = vigil_attr_from_name(t);
		if (bit == 0) {
			cli_error("unknown attribute '%s' (see vigil init --help)", t);
			ok = false;
			break;
		}
		*out |= bit;
	}
	free(copy);
	return ok && *out != 0;
}

int cmd_init(int argc, char **argv)
{
	static const struct option long_opts[] = {INTEGRITY_LONG_OPTS,
						  {"attrs", required_argument, NULL, OPT_ATTRS},
						  {"hash", required_argument, NULL, OPT_HASH},
						  {"note", required_argument, NULL, 'm'},
						  {NULL, 0, NULL, 0}};
	integrity_cli c;
	vigil_baseline_callbacks cb;
	vigil_baseline_stats st;
	vigil_hash_algo algo;
	char err[1024], b[32];
	int opt, r;

	integrity_cli_init(&c);
	while ((opt = getopt_long(argc, argv, "c:d:k:j:qm:h", long_opts, NULL)) != -1) {
		if ((r = integrity_cli_option(&c, opt, optarg)) < 0)
			return EXIT_ERROR;
		if (r > 0)
			continue;
		switch (opt) {
		case OPT_ATTRS:
			if (!parse_attrs(optarg, &c.o.attrs))
				return EXIT_ERROR;
			break;
		case OPT_HASH:
			if (vigil_hash_algo_from_name(optarg, &algo) != 0) {
				cli_error("--hash wants sha256, sha512 or blake2b, not '%s'",
					  optarg);
				return EXIT_ERROR;
			}
			c.o.hash_algo = (int)algo;
			break;
		case 'm':
			c.o.note = optarg;
			break;
		case 'h':
			fputs(init_usage, stdout);
			return EXIT_CLEAN;
		default:
			fputs(init_usage, stderr);
			return EXIT_ERROR;
		}
	}
	c.o.paths = (const char *const *)argv + optind;
	c.o.npaths = (size_t)(argc - optind);
	integrity_cli_callbacks(&c, &cb);
	r = vigil_baseline_init(&c.o, &cb, &st, err, sizeof(err));
	integrity_cli_clear_progress(&c);
	if (r != 0) {
		cli_error("init: %s", err);
		return EXIT_ERROR;
	}
	integrity_cli_log_seal("init", &st);
	if (!c.quiet)
		printf("vigil init: %llu entries recorded in %s (%s hashed, %llu warnings) in %.2f "
		       "s;\n"
		       "sealed with %s, generation %llu, digest %s\n",
		       (unsigned long long)st.entries, st.db_path,
		       integrity_cli_bytes(st.bytes_hashed, b, sizeof(b)),
		       (unsigned long long)st.warnings, (double)st.elapsed_ns / 1e9, st.seal_mode,
		       (unsigned long long)st.generation, st.seal_digest);
	return EXIT_CLEAN;
}
