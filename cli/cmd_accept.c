/* SPDX-License-Identifier: Apache-2.0 */
/* vigil accept: take reviewed changes into the baseline and re-seal it. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "integrity.h"

static const char accept_usage[] =
    "usage: vigil accept [OPTIONS] (PATH... | --all)\n"
    "\n"
    "Take the changes at each PATH (a directory: everything below it) into the baseline,\n"
    "or every change with --all, and re-seal it. Only the named paths are read again.\n"
    "The values replaced stay in the history with who accepted them and when\n"
    "(vigil baseline --history).\n"
    "\n"
    "      --all                accept every change (reads the whole policy again)\n"
    "  -m, --note TEXT          why: kept in the history\n"
    "  -f, --format FMT         text (default) or json: the changes taken in\n" INTEGRITY_HELP "\n"
    "Exit status: 0 accepted (or nothing to accept), 2 error.\n";

static int on_change(void *user, const vigil_change *ch)
{
	integrity_cli *c = user;

	if (c->json)
		vigil_change_write_json(stdout, ch);
	else if (!c->quiet)
		vigil_change_write_text(stdout, ch);
	return 0;
}

int cmd_accept(int argc, char **argv)
{
	static const struct option long_opts[] = {INTEGRITY_LONG_OPTS,
						  {"all", no_argument, NULL, OPT_ALL},
						  {"note", required_argument, NULL, 'm'},
						  {"format", required_argument, NULL, 'f'},
						  {NULL, 0, NULL, 0}};
	integrity_cli c;
	vigil_baseline_callbacks cb;
	vigil_baseline_stats st;
	bool all = false;
	char err[1024];
	int opt, r;

	integrity_cli_init(&c);
	while ((opt = getopt_long(argc, argv, "c:d:k:j:qm:f:h", long_opts, NULL)) != -1) {
		if ((r = integrity_cli_option(&c, opt, optarg)) < 0)
			return EXIT_ERROR;
		if (r > 0)
			continue;
		switch (opt) {
		case OPT_ALL:
			all = true;
			break;
		case 'm':
			c.o.note = optarg;
			break;
		case 'h':
			fputs(accept_usage, stdout);
			return EXIT_CLEAN;
		default:
			fputs(accept_usage, stderr);
			return EXIT_ERROR;
		}
	}
	if (all == (optind < argc)) {
		cli_error("accept: name the paths to accept, or --all (not both)");
		return EXIT_ERROR;
	}
	integrity_cli_callbacks(&c, &cb);
	cb.on_change = on_change;
	r = vigil_baseline_accept(&c.o, (const char *const *)argv + optind, (size_t)(argc - optind),
				  all, &cb, &st, err, sizeof(err));
	integrity_cli_clear_progress(&c);
	if (r != 0) {
		cli_error("accept: %s", err);
		return EXIT_ERROR;
	}
	integrity_cli_log_seal("accept", &st);
	if (!c.quiet)
		fprintf(
		    c.json ? stderr : stdout,
		    "vigil accept: %llu added, %llu removed, %llu changed taken in; sealed with "
		    "%s, generation %llu, digest %s\n",
		    (unsigned long long)st.added, (unsigned long long)st.removed,
		    (unsigned long long)st.changed, st.seal_mode, (unsigned long long)st.generation,
		    st.seal_digest);
	return EXIT_CLEAN;
}
