/* SPDX-License-Identifier: Apache-2.0 */
/* Options and output shared by vigil init, check, accept and baseline. */
#ifndef VIGIL_CLI_INTEGRITY_H
#define VIGIL_CLI_INTEGRITY_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "vigil/baseline.h"

/* The options every integrity command takes (long only, values after '='or a space). */
#define INTEGRITY_LONG_OPTS                                                                        \
	{"config", required_argument, NULL, 'c'}, {"db", required_argument, NULL, 'd'},            \
	    {"key", required_argument, NULL, 'k'},                                                 \
	    {"signing-key", required_argument, NULL, OPT_SIGNING_KEY},                             \
	    {"public-key", required_argument, NULL, OPT_PUBLIC_KEY},                               \
	    {"jobs", required_argument, NULL, 'j'}, {"no-wait", no_argument, NULL, OPT_NO_WAIT},   \
	    {"quiet", no_argument, NULL, 'q'},                                                     \
	    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},                                   \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}

enum {
	OPT_SIGNING_KEY = 1000,
	OPT_PUBLIC_KEY,
	OPT_NO_WAIT,
	OPT_NO_PROGRESS,
	OPT_HASH,
	OPT_ATTRS,
	OPT_QUICK,
	OPT_ALL,
	OPT_NOTE,
	OPT_HISTORY,
	OPT_VERIFY_PACKAGES,
	OPT_FORMAT,
};

#define INTEGRITY_HELP                                                                             \
	"Baseline:\n"                                                                              \
	"  -c, --config FILE        the policy (see vigil.conf(5))\n"                              \
	"  -d, --db FILE            the baseline database (default " VIGIL_DEFAULT_DB ")\n"        \
	"  -k, --key FILE           HMAC key sealing the baseline (default " VIGIL_DEFAULT_KEY     \
	")\n"                                                                                      \
	"      --signing-key FILE   seal with this Ed25519 private key instead (kept off-host)\n"  \
	"      --public-key FILE    verify an Ed25519-signed baseline with this public key\n"      \
	"  -j, --jobs N             worker threads (default: number of CPUs)\n"                    \
	"      --no-wait            fail at once if another vigil holds the baseline\n"            \
	"  -q, --quiet              no summary, no progress line\n"                                \
	"      --no-progress        no progress line on a terminal\n"                              \
	"  -h, --help               this help\n"

typedef struct integrity_cli {
	vigil_baseline_options o;
	bool quiet, progress, progress_shown, json;
	FILE *out;
} integrity_cli;

void integrity_cli_init(integrity_cli *c);

/* Handles one of the shared options; returns 1 if it was one, 0 if not, -1 on error. */
int integrity_cli_option(integrity_cli *c, int opt, const char *arg);

/* Callbacks printing warnings and progress to stderr. */
void integrity_cli_callbacks(integrity_cli *c, vigil_baseline_callbacks *cb);
void integrity_cli_clear_progress(integrity_cli *c);

/* Sends the seal's digest to syslog (authpriv), so a copy lives off the host. */
void integrity_cli_log_seal(const char *what, const vigil_baseline_stats *st);

/* Formats a byte count as "1.2 GB". */
const char *integrity_cli_bytes(uint64_t n, char *buf, size_t cap);

#endif
