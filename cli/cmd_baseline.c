/* SPDX-License-Identifier: Apache-2.0 */
/* vigil baseline: list what a baseline records, and its history, for audits. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "integrity.h"

static const char baseline_usage[] =
    "usage: vigil baseline [OPTIONS] [PATH]\n"
    "       vigil baseline --history [OPTIONS] [PATH]\n"
    "\n"
    "After verifying the seal, list the entries recorded (below PATH if given), or with\n"
    "--history every init and accept: who, when, the note, and the values replaced.\n"
    "\n"
    "      --history            show the history instead of the entries\n"
    "  -f, --format FMT         text (default) or json (one object per line)\n" INTEGRITY_HELP "\n"
    "Exit status: 0 listed, 2 error (including a baseline that fails its seal).\n";

static int on_record(void *user, const vigil_record *r)
{
	integrity_cli *c = user;

	if (c->json)
		vigil_record_write_json(stdout, r);
	else
		vigil_record_write_text(stdout, r);
	return 0;
}

static int on_history(void *user, const vigil_record *r)
{
	integrity_cli *c = user;
	time_t t = (time_t)(r->time_us / 1000000);
	struct tm tm;
	char when[64];

	if (c->json) {
		vigil_record_write_json(stdout, r);
		return 0;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	printf("#%lld %s %s by %s", (long long)r->event_id, when, r->action,
	       r->user_name ? r->user_name : "?");
	if (r->note)
		printf(": %s", r->note);
	putchar('\n');
	if (r->path) {
		vigil_change ch = {
		    .path = r->path,
		    .path_len = r->path_len,
		    .kind = r->old_entry == NULL ? VIGIL_CHANGE_ADDED
			    : r->entry == NULL   ? VIGIL_CHANGE_REMOVED
						 : VIGIL_CHANGE_CHANGED,
		    .attrs = r->attrs,
		    .old_entry = r->old_entry,
		    .new_entry = r->entry,
		};
		fputs("  ", stdout);
		vigil_change_write_text(stdout, &ch);
	}
	return 0;
}

int cmd_baseline(int argc, char **argv)
{
	static const struct option long_opts[] = {INTEGRITY_LONG_OPTS,
						  {"history", no_argument, NULL, OPT_HISTORY},
						  {"format", required_argument, NULL, 'f'},
						  {NULL, 0, NULL, 0}};
	integrity_cli c;
	vigil_baseline_stats st;
	bool history = false;
	char err[1024];
	int opt, r;

	integrity_cli_init(&c);
	while ((opt = getopt_long(argc, argv, "c:d:k:j:qf:h", long_opts, NULL)) != -1) {
		if ((r = integrity_cli_option(&c, opt, optarg)) < 0)
			return EXIT_ERROR;
		if (r > 0)
			continue;
		switch (opt) {
		case OPT_HISTORY:
			history = true;
			break;
		case 'h':
			fputs(baseline_usage, stdout);
			return EXIT_CLEAN;
		default:
			fputs(baseline_usage, stderr);
			return EXIT_ERROR;
		}
	}
	if (argc - optind > 1) {
		cli_error("baseline: at most one PATH");
		return EXIT_ERROR;
	}
	if (history)
		r = vigil_baseline_history(&c.o, optind < argc ? argv[optind] : NULL, on_history,
					   &c, err, sizeof(err));
	else
		r = vigil_baseline_list(&c.o, optind < argc ? argv[optind] : NULL, on_record, &c,
					&st, err, sizeof(err));
	if (r != 0) {
		cli_error("baseline: %s", err);
		return EXIT_ERROR;
	}
	if (!history && !c.quiet && !c.json)
		fprintf(stderr, "%llu entries; baseline generation %llu, %s seal verified\n",
			(unsigned long long)st.entries, (unsigned long long)st.generation,
			st.seal_mode);
	return EXIT_CLEAN;
}
