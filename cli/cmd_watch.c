/* SPDX-License-Identifier: Apache-2.0 */
/* vigil watch: the real-time integrity daemon, in the foreground. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vigil/baseline.h"
#include "vigil/watch.h"

static const char watch_usage[] =
    "usage: vigil watch [OPTIONS] [PATH...]\n"
    "\n"
    "Watch the file system and report each change as it happens, naming the process that\n"
    "made it. With a baseline (--db, --config, or neither and no PATH: the default\n"
    "database), its paths are watched and every change is compared with it, so an alert\n"
    "says exactly which attributes changed; PATHs add directories watched without a\n"
    "baseline. Runs in the foreground (systemd Type=notify); SIGTERM or SIGINT stop it,\n"
    "SIGHUP reloads the configuration. Alerts are JSON Lines (doc/alerts.md).\n"
    "\n"
    "Baseline:\n"
    "  -c, --config FILE        the policy (see vigil.conf(5))\n"
    "  -d, --db FILE            the baseline database (default " VIGIL_DEFAULT_DB ")\n"
    "  -k, --key FILE           HMAC key sealing the baseline (default " VIGIL_DEFAULT_KEY ")\n"
    "      --public-key FILE    verify an Ed25519-signed baseline with this public key\n"
    "      --no-startup-check   do not compare the baseline at start (changes made while\n"
    "                           vigil watch was not running go unreported)\n"
    "  -j, --jobs N             threads of the start-up check (default: number of CPUs)\n"
    "\n"
    "Outputs:\n"
    "  -a, --alerts FILE        JSON Lines alerts to FILE, or - for standard output\n"
    "                           (default -)\n"
    "      --syslog URL         also to syslog: unix, unix:PATH, udp://HOST[:PORT],\n"
    "                           tcp://HOST[:PORT], tls://HOST[:PORT]\n"
    "      --ca-file FILE       tls: CA bundle the server's certificate must chain to\n"
    "      --cert FILE          tls: client certificate (PEM), if the server wants one\n"
    "      --cert-key FILE      tls: its key, if not in --cert\n"
    "      --spool DIR          syslog: keep undelivered alerts here across outages and\n"
    "                           restarts\n"
    "      --spool-max SIZE     bound of the spool (default 64M)\n"
    "\n"
    "Defenses (PATHs are also protected from destruction; see vigil(1), DEFENSES):\n"
    "      --protect DIR        protect DIR from destruction without reporting its\n"
    "                           integrity changes (data directories); repeatable\n"
    "      --respond MODE       alert, stop or kill: what the destruction defense does\n"
    "                           to an offending process (default: the config's, else\n"
    "                           alert; stop is recommended). Integrity changes are\n"
    "                           always only reported\n"
    "      --no-raw-device-guard  allow any program to open disks for writing\n"
    "      --canaries FILE      the decoy registry (default " VIGIL_DEFAULT_CANARY_DB ")\n"
    "      --inventory FILE     where secrets lie, from vigil scan --record (default\n"
    "                           " VIGIL_DEFAULT_INVENTORY_DB ")\n"
    "      --no-exfil-staging   do not scan archives written in watched and temp dirs\n"
    "      --exfil-dir DIR      a staging directory watched for archives besides the\n"
    "                           watched paths; repeatable, replaces the config's (default\n"
    "                           /tmp /var/tmp /dev/shm)\n"
    "\n"
    "Behaviour:\n"
    "      --heartbeat SECONDS  agent heartbeat alert period, 0 for none (default 60)\n"
    "      --coalesce MS        quiet time that ends a burst of events on one path\n"
    "                           (default 5)\n"
    "      --coalesce-max MS    longest a burst is held before it is reported (default 50)\n"
    "      --rate-limit N       alerts per path per minute, more fold into the next one;\n"
    "                           0 for no limit (default 12)\n"
    "      --backend NAME       auto (default: fanotify, inotify where it cannot be used),\n"
    "                           fanotify (fail rather than fall back) or inotify\n"
    "      --nice N             nice value (0-19) of the work that can wait on a busy\n"
    "                           machine: comparing and scanning (default: the config's,\n"
    "                           else 10)\n"
    "  -h, --help               this help\n"
    "\n"
    "Exit status: 0 stopped as asked, 2 error (bad options, no baseline, a baseline that\n"
    "fails its seal, fanotify and inotify both unavailable).\n";

enum {
	OPT_PUBLIC_KEY = 2000,
	OPT_NO_STARTUP_CHECK,
	OPT_SYSLOG,
	OPT_CA_FILE,
	OPT_CERT,
	OPT_CERT_KEY,
	OPT_SPOOL,
	OPT_SPOOL_MAX,
	OPT_RESPOND,
	OPT_HEARTBEAT,
	OPT_COALESCE,
	OPT_COALESCE_MAX,
	OPT_RATE_LIMIT,
	OPT_BACKEND,
	OPT_NO_RAW_GUARD,
	OPT_CANARIES,
	OPT_INVENTORY,
	OPT_NO_EXFIL,
	OPT_PROTECT,
	OPT_NICE,
	OPT_EXFIL_DIR,
};

/* Repeatable directory options: at most this many each (the config takes more). */
#define DIR_OPTS_MAX 64

/* Appends a directory option's value; pointers into argv, which outlive the watcher. */
static bool push_dir(const char *opt, const char *key, const char **v, size_t *n, const char *dir)
{
	if (*n == DIR_OPTS_MAX) {
		cli_error("%s: at most %d directories (use the config's %s for more)", opt,
			  DIR_OPTS_MAX, key);
		return false;
	}
	v[(*n)++] = dir;
	return true;
}

static bool parse_bounded(const char *opt, const char *arg, uint64_t max, unsigned *out)
{
	uint64_t v;

	if (!cli_parse_uint(arg, 0, max, &v)) {
		cli_error("%s wants a number from 0 to %llu, not '%s'", opt,
			  (unsigned long long)max, arg);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

int cmd_watch(int argc, char **argv)
{
	static const struct option long_opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"db", required_argument, NULL, 'd'},
	    {"key", required_argument, NULL, 'k'},
	    {"public-key", required_argument, NULL, OPT_PUBLIC_KEY},
	    {"no-startup-check", no_argument, NULL, OPT_NO_STARTUP_CHECK},
	    {"jobs", required_argument, NULL, 'j'},
	    {"alerts", required_argument, NULL, 'a'},
	    {"syslog", required_argument, NULL, OPT_SYSLOG},
	    {"ca-file", required_argument, NULL, OPT_CA_FILE},
	    {"cert", required_argument, NULL, OPT_CERT},
	    {"cert-key", required_argument, NULL, OPT_CERT_KEY},
	    {"spool", required_argument, NULL, OPT_SPOOL},
	    {"spool-max", required_argument, NULL, OPT_SPOOL_MAX},
	    {"respond", required_argument, NULL, OPT_RESPOND},
	    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
	    {"coalesce", required_argument, NULL, OPT_COALESCE},
	    {"coalesce-max", required_argument, NULL, OPT_COALESCE_MAX},
	    {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
	    {"backend", required_argument, NULL, OPT_BACKEND},
	    {"no-raw-device-guard", no_argument, NULL, OPT_NO_RAW_GUARD},
	    {"canaries", required_argument, NULL, OPT_CANARIES},
	    {"inventory", required_argument, NULL, OPT_INVENTORY},
	    {"no-exfil-staging", no_argument, NULL, OPT_NO_EXFIL},
	    {"protect", required_argument, NULL, OPT_PROTECT},
	    {"nice", required_argument, NULL, OPT_NICE},
	    {"exfil-dir", required_argument, NULL, OPT_EXFIL_DIR},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	vigil_watch_options o;
	vigil_watch *w = NULL;
	bool baseline_named = false;
	const char *protect[DIR_OPTS_MAX], *exfil_dirs[DIR_OPTS_MAX];
	size_t nprotect = 0, nexfil_dirs = 0;
	char err[1024];
	uint64_t n;
	int opt, r;

	vigil_watch_options_default(&o);
	while ((opt = getopt_long(argc, argv, "c:d:k:j:a:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o.config_path = optarg;
			baseline_named = true;
			break;
		case 'd':
			o.db_path = optarg;
			baseline_named = true;
			break;
		case 'k':
			o.key_path = optarg;
			break;
		case OPT_PUBLIC_KEY:
			o.public_key = optarg;
			break;
		case OPT_NO_STARTUP_CHECK:
			o.startup_check = false;
			break;
		case 'j':
			if (!cli_parse_uint(optarg, 1, 64, &n)) {
				cli_error("--jobs wants a number from 1 to 64, not '%s'", optarg);
				return EXIT_ERROR;
			}
			o.jobs = (unsigned)n;
			break;
		case 'a':
			o.alerts = optarg;
			break;
		case OPT_SYSLOG:
			o.syslog = optarg;
			break;
		case OPT_CA_FILE:
			o.ca_file = optarg;
			break;
		case OPT_CERT:
			o.cert_file = optarg;
			break;
		case OPT_CERT_KEY:
			o.cert_key = optarg;
			break;
		case OPT_SPOOL:
			o.spool_dir = optarg;
			break;
		case OPT_SPOOL_MAX:
			if (!cli_parse_size(optarg, &o.spool_max_bytes) ||
			    o.spool_max_bytes < 65536) {
				cli_error("--spool-max wants a size of at least 64K, not '%s'",
					  optarg);
				return EXIT_ERROR;
			}
			break;
		case OPT_RESPOND:
			if (strcmp(optarg, "alert") == 0)
				o.respond = VIGIL_RESPOND_ALERT;
			else if (strcmp(optarg, "stop") == 0)
				o.respond = VIGIL_RESPOND_STOP;
			else if (strcmp(optarg, "kill") == 0)
				o.respond = VIGIL_RESPOND_KILL;
			else {
				cli_error("--respond wants alert, stop or kill, not '%s'", optarg);
				return EXIT_ERROR;
			}
			break;
		case OPT_HEARTBEAT:
			if (!parse_bounded("--heartbeat", optarg, 86400, &o.heartbeat_s))
				return EXIT_ERROR;
			break;
		case OPT_COALESCE:
			if (!parse_bounded("--coalesce", optarg, 10000, &o.coalesce_ms))
				return EXIT_ERROR;
			break;
		case OPT_COALESCE_MAX:
			if (!parse_bounded("--coalesce-max", optarg, 60000, &o.coalesce_max_ms))
				return EXIT_ERROR;
			break;
		case OPT_RATE_LIMIT:
			if (!parse_bounded("--rate-limit", optarg, 100000, &o.rate_per_min))
				return EXIT_ERROR;
			break;
		case OPT_BACKEND:
			if (strcmp(optarg, "auto") == 0)
				o.backend = VIGIL_WATCH_AUTO;
			else if (strcmp(optarg, "fanotify") == 0)
				o.backend = VIGIL_WATCH_FANOTIFY;
			else if (strcmp(optarg, "inotify") == 0)
				o.backend = VIGIL_WATCH_INOTIFY;
			else {
				cli_error("--backend wants auto, fanotify or inotify, not '%s'",
					  optarg);
				return EXIT_ERROR;
			}
			break;
		case OPT_NO_RAW_GUARD:
			o.raw_device_guard = 0;
			break;
		case OPT_CANARIES:
			o.canary_db = optarg;
			break;
		case OPT_INVENTORY:
			o.inventory_db = optarg;
			break;
		case OPT_NO_EXFIL:
			o.exfil_staging = 0;
			break;
		case OPT_NICE: {
			unsigned n;

			if (!parse_bounded("--nice", optarg, 19, &n))
				return EXIT_ERROR;
			o.nice = (int)n;
			break;
		}
		case OPT_PROTECT:
			if (!push_dir("--protect", "protect", protect, &nprotect, optarg))
				return EXIT_ERROR;
			break;
		case OPT_EXFIL_DIR:
			if (!push_dir("--exfil-dir", "exfil_dirs", exfil_dirs, &nexfil_dirs,
				      optarg))
				return EXIT_ERROR;
			break;
		case 'h':
			fputs(watch_usage, stdout);
			return EXIT_CLEAN;
		default:
			fputs(watch_usage, stderr);
			return EXIT_ERROR;
		}
	}
	o.paths = (const char *const *)(argv + optind);
	o.npaths = (size_t)(argc - optind);
	o.protect = protect;
	o.nprotect = nprotect;
	if (nexfil_dirs > 0) {
		o.exfil_dirs = exfil_dirs;
		o.nexfil_dirs = nexfil_dirs;
	}
	/* PATHs or protected directories alone go without a baseline; otherwise the named
	 * (or default) one. */
	o.use_baseline = baseline_named || (o.npaths == 0 && nprotect == 0);
	if (o.syslog && strncmp(o.syslog, "tls://", 6) == 0 && o.ca_file == NULL) {
		cli_error("--syslog tls://... needs --ca-file: the server's certificate is "
			  "always verified");
		return EXIT_ERROR;
	}
	/* A reader that goes away (alerts to a pipe) must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	if ((r = vigil_watch_new(&o, &w, err, sizeof(err))) != 0) {
		cli_error("watch: %s", err[0] ? err : vigil_strerror(r));
		return EXIT_ERROR;
	}
	r = vigil_watch_run(w, err, sizeof(err));
	vigil_watch_free(w);
	if (r != 0) {
		cli_error("watch: %s", err[0] ? err : vigil_strerror(r));
		return EXIT_ERROR;
	}
	return EXIT_CLEAN;
}
