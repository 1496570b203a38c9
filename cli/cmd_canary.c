/* SPDX-License-Identifier: Apache-2.0 */
/* vigil canary: plant, list and remove decoy files that vigil watch guards. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "vigil/canary.h"

static const char canary_usage[] =
    "usage: vigil canary plant [--db FILE] [--kind LIST] DIR...\n"
    "       vigil canary list [--db FILE] [--format text|json]\n"
    "       vigil canary remove [--db FILE] PATH...\n"
    "       vigil canary remove [--db FILE] --all\n"
    "\n"
    "Decoys are fake files an intruder hunts for: a spreadsheet of passwords, a private-key\n"
    "backup, a payroll export, AWS credentials. Names and contents are drawn at random and\n"
    "the files are back-dated; the data is fake (see vigil(1), DEFENSES). vigil watch\n"
    "raises a critical alert naming the process whenever a decoy is opened, deleted or\n"
    "renamed; vigil scan and the baseline never open them.\n"
    "\n"
    "  plant DIR...        write one decoy of each kind into each DIR (never overwriting a\n"
    "                      file) and record them; prints each decoy planted\n"
    "  list                the decoys, and what lstat shows of each now (intact, changed,\n"
    "                      replaced, missing); decoys are never opened to list them\n"
    "  remove PATH...      delete decoys and their records; a decoy whose content no\n"
    "                      longer matches its digest is unregistered but kept\n"
    "\n"
    "      --db FILE           the registry (default " VIGIL_DEFAULT_CANARY_DB ")\n"
    "  -k, --kind LIST         plant: comma-separated passwords_xlsx, ssh_key,\n"
    "                          payroll_csv, aws_credentials (default: all)\n"
    "  -f, --format FMT        list: text (default) or json (one object per line)\n"
    "      --all               remove: every registered decoy\n"
    "\n"
    "Exit status: plant: 0 planted, 2 error (decoys of other kinds and directories are\n"
    "still planted and printed). list: 0 every decoy intact (or none planted), 1 some\n"
    "decoy changed, replaced or missing, 2 error. remove: 0 removed, 1 a PATH is not a\n"
    "registered decoy or a changed decoy was kept, 2 error.\n";

enum { OPT_DB = 256, OPT_ALL };

static const struct option long_opts[] = {
    {"db", required_argument, NULL, OPT_DB},  {"kind", required_argument, NULL, 'k'},
    {"format", required_argument, NULL, 'f'}, {"all", no_argument, NULL, OPT_ALL},
    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
};

static void when(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static int on_planted(void *user, const vigil_decoy *d)
{
	char dated[32];

	(void)user;
	when(dated, sizeof(dated), d->mtime);
	printf("planted  %-15s  ", vigil_decoy_kind_name(d->kind));
	cli_write_name(stdout, d->path);
	printf("  (dated %s)\n", dated);
	return 0;
}

typedef struct list_ctx {
	bool json;
	unsigned not_intact;
	size_t n;
	char **paths; /* remove --all: collected */
	size_t npaths;
	int error;
} list_ctx;

static int on_listed(void *user, const vigil_decoy *d)
{
	list_ctx *l = user;
	char planted[32];

	l->n++;
	if (d->state != VIGIL_DECOY_INTACT)
		l->not_intact++;
	if (l->json) {
		vigil_decoy_write_json(stdout, d);
		return 0;
	}
	when(planted, sizeof(planted), d->planted_us / 1000000);
	printf("%-8s  %-15s  %s  %-8s  ", vigil_decoy_state_name(d->state),
	       vigil_decoy_kind_name(d->kind), planted, d->planted_by);
	cli_write_name(stdout, d->path);
	putchar('\n');
	return 0;
}

static int on_collect(void *user, const vigil_decoy *d)
{
	list_ctx *l = user;
	char **v = realloc(l->paths, (l->npaths + 1) * sizeof(*v));

	if (v == NULL)
		return VIGIL_E_NOMEM;
	l->paths = v;
	if ((v[l->npaths] = strdup(d->path)) == NULL)
		return VIGIL_E_NOMEM;
	l->npaths++;
	return 0;
}

static bool parse_kinds(const char *list, unsigned *out)
{
	char *copy = strdup(list), *save = NULL;
	bool ok = copy != NULL;

	*out = 0;
	for (char *t = ok ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		vigil_decoy_kind k;
		if (vigil_decoy_kind_parse(t, &k) != 0) {
			cli_error("unknown decoy kind '%s' (passwords_xlsx, ssh_key, payroll_csv, "
				  "aws_credentials)",
				  t);
			ok = false;
			break;
		}
		*out |= 1u << k;
	}
	free(copy);
	return ok && *out != 0;
}

static int plant(const char *db, unsigned kinds, int argc, char **argv)
{
	char err[1024];
	int rc = EXIT_CLEAN;

	if (argc == 0) {
		cli_error("canary plant: name the directories to plant decoys in");
		return EXIT_ERROR;
	}
	for (int i = 0; i < argc; i++) {
		int r = vigil_canary_plant(db, argv[i], kinds, on_planted, NULL, err, sizeof(err));
		if (r != 0) {
			cli_error("%s", *err ? err : vigil_strerror(r));
			rc = EXIT_ERROR;
			if (r == VIGIL_E_FORMAT || r == VIGIL_E_NOMEM)
				break; /* the registry itself is unusable */
		}
	}
	return rc;
}

static int list(const char *db, bool json)
{
	list_ctx l = {.json = json};
	char err[1024];
	int r = vigil_canary_list(db, on_listed, &l, err, sizeof(err));

	if (r == VIGIL_E_NOT_FOUND) {
		cli_error("%s", err);
		return EXIT_CLEAN;
	}
	if (r != 0) {
		cli_error("%s", *err ? err : vigil_strerror(r));
		return EXIT_ERROR;
	}
	if (!json && l.n == 0)
		fprintf(stderr, "vigil: no decoys registered in %s\n", db);
	return l.not_intact ? EXIT_FOUND : EXIT_CLEAN;
}

static int remove_one(const char *db, const char *path)
{
	vigil_decoy_removal what;
	char err[1024];
	int r = vigil_canary_remove(db, path, &what, err, sizeof(err));

	if (r == VIGIL_E_NOT_FOUND) {
		cli_error("%s", err);
		return EXIT_FOUND;
	}
	if (r != 0) {
		cli_error("%s", *err ? err : vigil_strerror(r));
		return EXIT_ERROR;
	}
	switch (what) {
	case VIGIL_DECOY_DELETED:
		fputs("removed  ", stdout);
		cli_write_name(stdout, path);
		putchar('\n');
		return EXIT_CLEAN;
	case VIGIL_DECOY_WAS_GONE:
		fputs("unregistered  ", stdout);
		cli_write_name(stdout, path);
		fputs("  (the decoy was already gone or replaced: nothing deleted)\n", stdout);
		return EXIT_CLEAN;
	case VIGIL_DECOY_KEPT:
	default:
		fputs("vigil: warning: ", stderr);
		cli_write_name(stderr, path);
		fputs(": its content no longer matches the decoy planted: unregistered, but the "
		      "file was kept for review\n",
		      stderr);
		return EXIT_FOUND;
	}
}

static int remove_decoys(const char *db, bool all, int argc, char **argv)
{
	list_ctx l = {0};
	char err[1024];
	int rc = EXIT_CLEAN;

	if (all == (argc > 0)) {
		cli_error("canary remove: give the decoys' paths, or --all");
		return EXIT_ERROR;
	}
	if (all) {
		int r = vigil_canary_list(db, on_collect, &l, err, sizeof(err));
		if (r == VIGIL_E_NOT_FOUND) {
			cli_error("%s", err);
			return EXIT_CLEAN;
		}
		if (r != 0) {
			cli_error("%s", *err ? err : vigil_strerror(r));
			rc = EXIT_ERROR;
		}
		for (size_t i = 0; i < l.npaths && rc != EXIT_ERROR; i++) {
			int one = remove_one(db, l.paths[i]);
			rc = one > rc ? one : rc;
		}
		for (size_t i = 0; i < l.npaths; i++)
			free(l.paths[i]);
		free(l.paths);
		return rc;
	}
	for (int i = 0; i < argc; i++) {
		int one = remove_one(db, argv[i]);
		rc = one > rc ? one : rc;
	}
	return rc;
}

int cmd_canary(int argc, char **argv)
{
	const char *db = VIGIL_DEFAULT_CANARY_DB, *verb;
	unsigned kinds = 0;
	bool json = false, all = false;
	int opt;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(canary_usage, stdout);
		return EXIT_CLEAN;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fputs(canary_usage, stderr);
		return EXIT_ERROR;
	}
	verb = argv[1];
	if (strcmp(verb, "plant") && strcmp(verb, "list") && strcmp(verb, "remove")) {
		cli_error("canary: unknown command '%s' (plant, list, remove)", verb);
		return EXIT_ERROR;
	}
	argc--;
	argv++;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "k:f:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_DB:
			if (optarg[0] != '/') {
				cli_error("--db takes an absolute path, not '%s'", optarg);
				return EXIT_ERROR;
			}
			db = optarg;
			break;
		case 'k':
			if (strcmp(verb, "plant") != 0) {
				cli_error("--kind is for canary plant");
				return EXIT_ERROR;
			}
			if (!parse_kinds(optarg, &kinds))
				return EXIT_ERROR;
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "text") != 0) {
				cli_error("unknown format '%s' (text, json)", optarg);
				return EXIT_ERROR;
			}
			break;
		case OPT_ALL:
			all = true;
			break;
		case 'h':
			fputs(canary_usage, stdout);
			return EXIT_CLEAN;
		default:
			fputs("Run 'vigil canary --help' for the options.\n", stderr);
			return EXIT_ERROR;
		}
	}
	argc -= optind;
	argv += optind;
	if (strcmp(verb, "plant") == 0)
		return plant(db, kinds, argc, argv);
	if (strcmp(verb, "list") == 0) {
		if (argc > 0) {
			cli_error("canary list takes no paths");
			return EXIT_ERROR;
		}
		return list(db, json);
	}
	return remove_decoys(db, all, argc, argv);
}
