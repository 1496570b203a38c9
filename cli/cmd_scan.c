/* SPDX-License-Identifier: Apache-2.0 */
/* vigil scan: find sensitive data in files and archives, print it redacted. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vigil/inventory.h"
#include "vigil/report.h"
#include "vigil/scan.h"
#include "vigil/watch.h"

static const char scan_usage[] =
    "usage: vigil scan [OPTIONS] [PATH...]\n"
    "\n"
    "Find private keys, payment card numbers, IBANs, US Social Security numbers,\n"
    "cloud credentials and password-protected archives in files, archives and office\n"
    "documents under each PATH (default: the current directory). Secrets are shown\n"
    "redacted, never in full.\n"
    "\n"
    "Output:\n"
    "  -f, --format FMT         text (default), json (JSON Lines) or sarif\n"
    "  -q, --quiet              no summary, no progress line\n"
    "      --no-progress        no progress line on a terminal\n"
    "What to look for:\n"
    "  -c, --category LIST      comma-separated: private_key, payment_card, iban, ssn,\n"
    "                           credential, encrypted_archive (default: all)\n"
    "      --allowlist FILE     suppress fingerprints (sha256:...) or path globs listed\n"
    "      --fingerprint-key F  key for fingerprints (default /etc/vigil/fingerprint.key\n"
    "                           as root, ~/.config/vigil/fingerprint.key otherwise)\n"
    "Where to look:\n"
    "  -j, --jobs N             worker threads (default: number of CPUs)\n"
    "  -e, --exclude GLOB       skip paths or names matching GLOB (repeatable)\n"
    "  -x, --one-file-system    do not cross into other file systems\n"
    "  -L, --follow-symlinks    follow symbolic links (loops are detected)\n"
    "      --max-file-size SIZE skip files larger than SIZE (default: no limit)\n"
    "      --canaries FILE      decoy registry: decoys planted by vigil canary are never\n"
    "                           opened (default " VIGIL_DEFAULT_CANARY_DB ")\n"
    "Inventory (for vigil watch, which names a process reading many of these files):\n"
    "      --record[=FILE]      record which files hold findings (paths, file ids,\n"
    "                           counts, keyed fingerprints; never a secret), replacing\n"
    "                           what FILE held under each PATH (default\n"
    "                           " VIGIL_DEFAULT_INVENTORY_DB ")\n"
    "      --inventory FILE     the same as --record=FILE\n"
    "Archives (zip, tar, gzip, bzip2, xz, zstd, lz4, 7z, rar, cpio, iso, ar):\n"
    "      --no-archives        scan archives as plain bytes, do not open them\n"
    "      --max-archive-bytes SIZE  bytes expanded from one file, all levels (1G)\n"
    "      --max-ratio N        expansion ratio of one archive level (250)\n"
    "      --max-depth N        archives nested within archives (8)\n"
    "      --max-entries N      members in one file, all levels (100000)\n"
    "\n"
    "SIZE takes K, M, G or T suffixes (powers of 1024).\n"
    "Exit status: 0 nothing found, 1 findings, 2 error (bad arguments, or nothing\n"
    "could be scanned). Unreadable files are warnings and the scan goes on.\n";

enum {
	OPT_NO_PROGRESS = 256,
	OPT_ALLOWLIST,
	OPT_FP_KEY,
	OPT_MAX_FILE_SIZE,
	OPT_NO_ARCHIVES,
	OPT_MAX_ARCHIVE_BYTES,
	OPT_MAX_RATIO,
	OPT_MAX_DEPTH,
	OPT_MAX_ENTRIES,
	OPT_CANARIES,
	OPT_RECORD,
	OPT_INVENTORY,
};

static const struct option long_opts[] = {
    {"format", required_argument, NULL, 'f'},
    {"quiet", no_argument, NULL, 'q'},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"category", required_argument, NULL, 'c'},
    {"allowlist", required_argument, NULL, OPT_ALLOWLIST},
    {"fingerprint-key", required_argument, NULL, OPT_FP_KEY},
    {"jobs", required_argument, NULL, 'j'},
    {"exclude", required_argument, NULL, 'e'},
    {"one-file-system", no_argument, NULL, 'x'},
    {"follow-symlinks", no_argument, NULL, 'L'},
    {"max-file-size", required_argument, NULL, OPT_MAX_FILE_SIZE},
    {"no-archives", no_argument, NULL, OPT_NO_ARCHIVES},
    {"max-archive-bytes", required_argument, NULL, OPT_MAX_ARCHIVE_BYTES},
    {"max-ratio", required_argument, NULL, OPT_MAX_RATIO},
    {"max-depth", required_argument, NULL, OPT_MAX_DEPTH},
    {"max-entries", required_argument, NULL, OPT_MAX_ENTRIES},
    {"canaries", required_argument, NULL, OPT_CANARIES},
    {"record", optional_argument, NULL, OPT_RECORD},
    {"inventory", required_argument, NULL, OPT_INVENTORY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct scan_ui {
	vigil_report *report;
	bool progress; /* a progress line is on stderr */
	bool progress_shown;
	unsigned long warnings;
	int write_error;
	vigil_inventory *inv; /* --record */
	int inv_error;
} scan_ui;

static void clear_progress(scan_ui *ui)
{
	if (ui->progress_shown) {
		fputs("\r\033[K", stderr);
		ui->progress_shown = false;
	}
}

static int on_finding(void *user, const vigil_finding *f)
{
	scan_ui *ui = user;

	clear_progress(ui);
	if (ui->inv != NULL && (ui->inv_error = vigil_inventory_record_finding(ui->inv, f)) != 0)
		return 1; /* the inventory cannot be written: stop, nothing is recorded */
	if (vigil_report_finding(ui->report, f) != 0) {
		ui->write_error = errno ? errno : EIO;
		return 1; /* output is gone (closed pipe, full disk): stop */
	}
	return 0;
}

static void on_warning(void *user, const char *path, const char *member, const char *msg)
{
	scan_ui *ui = user;

	clear_progress(ui);
	ui->warnings++;
	fputs("vigil: warning: ", stderr);
	cli_write_name(stderr, path);
	if (member != NULL) {
		fputs("!/", stderr);
		cli_write_name(stderr, member);
	}
	fprintf(stderr, ": %s\n", msg);
}

static void on_progress(void *user, const vigil_scan_stats *s, const char *current)
{
	scan_ui *ui = user;
	struct winsize ws;
	int width = 80, used;
	uint64_t total = 0;
	char line[512];

	if (!ui->progress)
		return;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		width = ws.ws_col < sizeof(line) ? ws.ws_col : (int)sizeof(line) - 1;
	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		total += s->findings[c];
	used = snprintf(line, sizeof(line), "scanning: %llu files, %llu MB, %llu findings",
			(unsigned long long)s->files_scanned,
			(unsigned long long)((s->bytes_scanned + s->bytes_expanded) >> 20),
			(unsigned long long)total);
	if (current != NULL && used + 8 < width) {
		size_t room = (size_t)(width - used - 4), n = strlen(current);
		const char *tail = n > room ? current + (n - room) : current;
		used += snprintf(line + used, sizeof(line) - (size_t)used, " — ");
		for (; *tail && used < width - 1; tail++)
			line[used++] = (unsigned char)*tail < 0x20 ? '?' : *tail;
		line[used] = '\0';
	}
	fprintf(stderr, "\r\033[K%s", line);
	ui->progress_shown = true;
}

static bool parse_categories(const char *list, unsigned *out)
{
	char *copy = strdup(list), *save = NULL;
	bool ok = copy != NULL;

	*out = 0;
	for (char *t = ok ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		vigil_category c;
		if (vigil_category_parse(t, &c) != 0) {
			cli_error("unknown category '%s' (private_key, payment_card, iban, ssn, "
				  "credential, encrypted_archive)",
				  t);
			ok = false;
			break;
		}
		*out |= 1u << c;
	}
	free(copy);
	return ok && *out != 0;
}

int cmd_scan(int argc, char **argv)
{
	vigil_scan_options o;
	vigil_format format = VIGIL_FORMAT_TEXT;
	vigil_scanner *scanner = NULL;
	vigil_scan_stats stats;
	scan_ui ui = {0};
	const char **excludes = NULL;
	size_t nexcludes = 0;
	const char *allowlist = NULL;
	const char *record = NULL;
	uint64_t recorded = 0;
	const char *default_paths[] = {"."};
	bool quiet = false, no_progress = false;
	struct timespec t0, t1;
	char err[512] = "";
	uint64_t v;
	int opt, r, rc = EXIT_ERROR;

	vigil_scan_options_default(&o);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:qc:j:e:xLh", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (vigil_format_parse(optarg, &format) != 0) {
				cli_error("unknown format '%s' (text, json, sarif)", optarg);
				goto out;
			}
			break;
		case 'q':
			quiet = true;
			break;
		case OPT_NO_PROGRESS:
			no_progress = true;
			break;
		case 'c':
			if (!parse_categories(optarg, &o.categories))
				goto out;
			break;
		case OPT_ALLOWLIST:
			allowlist = optarg;
			break;
		case OPT_FP_KEY:
			o.fingerprint_key = optarg;
			break;
		case 'j':
			if (!cli_parse_uint(optarg, 1, 1024, &v)) {
				cli_error("--jobs takes a number from 1 to 1024, not '%s'", optarg);
				goto out;
			}
			o.jobs = (unsigned)v;
			break;
		case 'e': {
			const char **n = realloc(excludes, (nexcludes + 2) * sizeof(*n));
			if (n == NULL)
				goto out;
			excludes = n;
			excludes[nexcludes++] = optarg;
			excludes[nexcludes] = NULL;
			break;
		}
		case 'x':
			o.one_file_system = true;
			break;
		case 'L':
			o.follow_symlinks = true;
			break;
		case OPT_MAX_FILE_SIZE:
			if (!cli_parse_size(optarg, &o.max_file_size)) {
				cli_error("--max-file-size takes a size like 100M, not '%s'",
					  optarg);
				goto out;
			}
			break;
		case OPT_NO_ARCHIVES:
			o.scan_archives = false;
			break;
		case OPT_MAX_ARCHIVE_BYTES:
			if (!cli_parse_size(optarg, &o.max_archive_bytes)) {
				cli_error("--max-archive-bytes takes a size like 1G, not '%s'",
					  optarg);
				goto out;
			}
			break;
		case OPT_MAX_RATIO: {
			char *end;
			errno = 0;
			o.max_ratio = strtod(optarg, &end);
			if (errno || *end || end == optarg || o.max_ratio < 1) {
				cli_error("--max-ratio takes a number >= 1, not '%s'", optarg);
				goto out;
			}
			break;
		}
		case OPT_MAX_DEPTH:
			if (!cli_parse_uint(optarg, 0, 30, &v)) {
				cli_error("--max-depth takes a number from 0 to 30, not '%s'",
					  optarg);
				goto out;
			}
			o.max_depth = (unsigned)v;
			break;
		case OPT_MAX_ENTRIES:
			if (!cli_parse_uint(optarg, 1, UINT64_MAX, &v)) {
				cli_error("--max-entries takes a positive number, not '%s'",
					  optarg);
				goto out;
			}
			o.max_entries = v;
			break;
		case OPT_CANARIES:
			o.canary_db = optarg;
			break;
		case OPT_RECORD:
			record = optarg ? optarg : VIGIL_DEFAULT_INVENTORY_DB;
			break;
		case OPT_INVENTORY:
			record = optarg;
			break;
		case 'h':
			fputs(scan_usage, stdout);
			rc = EXIT_CLEAN;
			goto out;
		default:
			fputs("Run 'vigil scan --help' for the options.\n", stderr);
			goto out;
		}
	}
	o.excludes = excludes;

	if ((r = vigil_scanner_new(&o, &scanner, err, sizeof(err))) != 0) {
		cli_error("cannot set up the scanner: %s%s%s", vigil_strerror(r), *err ? ": " : "",
			  err);
		goto out;
	}
	if (vigil_scanner_notice(scanner) && !quiet)
		cli_error("note: %s", vigil_scanner_notice(scanner));
	if (allowlist != NULL &&
	    (r = vigil_scanner_load_allowlist(scanner, allowlist, err, sizeof(err))) != 0) {
		if (r == VIGIL_E_SYSTEM)
			cli_error("cannot read allowlist %s: %s", allowlist, strerror(errno));
		else
			cli_error("%s", *err ? err : vigil_strerror(r));
		goto out;
	}
	if (vigil_report_new(format, stdout, format == VIGIL_FORMAT_TEXT && isatty(STDOUT_FILENO),
			     &ui.report) != 0)
		goto out;
	ui.progress = !quiet && !no_progress && isatty(STDERR_FILENO);
	/* Opened and locked before the scan: a busy or unwritable inventory fails at once. */
	if (record != NULL) {
		const char *const *roots =
		    optind < argc ? (const char *const *)argv + optind : default_paths;
		size_t nroots = optind < argc ? (size_t)(argc - optind) : 1;

		if ((r = vigil_inventory_open(record, true, &ui.inv, err, sizeof(err))) != 0) {
			cli_error("cannot open the inventory: %s", *err ? err : vigil_strerror(r));
			goto out;
		}
		if ((r = vigil_inventory_record_begin(ui.inv, roots, nroots)) != 0) {
			cli_error("cannot record in %s: %s", record, vigil_inventory_error(ui.inv));
			goto out;
		}
	}

	vigil_scan_callbacks cb = {on_finding, on_warning, on_progress, &ui};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (optind < argc)
		r = vigil_scanner_scan_paths(scanner, (const char *const *)argv + optind,
					     (size_t)(argc - optind), &cb, &stats);
	else
		r = vigil_scanner_scan_paths(scanner, default_paths, 1, &cb, &stats);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clear_progress(&ui);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	if (ui.write_error) {
		cli_error("cannot write the report: %s", strerror(ui.write_error));
		goto out;
	}
	if (ui.inv_error) {
		cli_error("cannot record in %s: %s", record, vigil_inventory_error(ui.inv));
		goto out;
	}
	if (r != 0 && r != VIGIL_E_CANCELLED) {
		if (r == VIGIL_E_SYSTEM)
			cli_error("nothing could be scanned: %s", strerror(errno));
		else
			cli_error("scan failed: %s", vigil_strerror(r));
		goto out;
	}
	/* Quiet text output is the findings alone; JSON and SARIF keep stdout for the
	 * machine and put the summary for people on stderr. */
	if (!(format == VIGIL_FORMAT_TEXT && quiet) &&
	    vigil_report_finish(ui.report, &stats, secs) != 0) {
		cli_error("cannot write the report: %s", strerror(errno));
		goto out;
	}
	if (format != VIGIL_FORMAT_TEXT && !quiet)
		vigil_report_summary(stderr, &stats, secs);
	/* A cancelled scan saw only part of the roots: the inventory keeps its old record. */
	if (ui.inv != NULL && r == 0) {
		if ((r = vigil_inventory_record_commit(ui.inv, &recorded)) != 0) {
			cli_error("cannot record in %s: %s", record, vigil_inventory_error(ui.inv));
			goto out;
		}
		if (!quiet)
			fprintf(stderr, "Recorded %llu files with findings in %s\n",
				(unsigned long long)recorded, record);
	}
	rc = EXIT_CLEAN;
	for (int c = 0; c < VIGIL_CAT_COUNT; c++)
		if (stats.findings[c])
			rc = EXIT_FOUND;
out:
	vigil_inventory_close(ui.inv); /* rolls back a record not committed */
	vigil_report_free(ui.report);
	vigil_scanner_free(scanner);
	free(excludes);
	return rc;
}
