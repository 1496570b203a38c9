/* SPDX-License-Identifier: Apache-2.0 */
/* vigil check: compare the file system with the sealed baseline. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "integrity.h"
#include "vigil/packages.h"

static const char check_usage[] =
    "usage: vigil check [OPTIONS]\n"
    "\n"
    "Verify the baseline's seal, then report every entry added, removed or changed since\n"
    "it was recorded or last accepted. Content is hashed again unless --quick.\n"
    "\n"
    "Output:\n"
    "  -f, --format FMT         text (default) or json (one JSON object per change)\n"
    "      --quick              trust size, mtime, ctime and inode: hash only files whose\n"
    "                           metadata moved (faster; an intruder can reset mtime, and a\n"
    "                           full check catches that)\n"
    "      --verify-packages    also compare installed Debian package files with the MD5\n"
    "                           sums dpkg recorded (works without a baseline), and name\n"
    "                           the package owning each changed path\n" INTEGRITY_HELP "\n"
    "Exit status: 0 no changes, 1 changes, 2 error (including a baseline that fails its\n"
    "seal, is corrupt or truncated, or has an unknown schema version).\n";

/* Text output is grouped by kind, so changes wait in memory streams until the end. */
typedef struct check_ui {
	integrity_cli c;
	FILE *group[4]; /* added, removed, changed, package files */
	char *buf[4];
	size_t len[4];
	vigil_dpkg_owners *owners; /* with --verify-packages */
	uint64_t package_problems;
} check_ui;

/* The packages owning a path, for explaining a change ("openssh-server"). */
static size_t owners_of(const check_ui *ui, const char *path, const char **pkgs, size_t cap)
{
	return ui->owners ? vigil_dpkg_owner(ui->owners, path, pkgs, cap) : 0;
}

static int on_change(void *user, const vigil_change *ch)
{
	check_ui *ui = user;
	const char *pkgs[4];
	size_t n = owners_of(ui, ch->path, pkgs, 4);

	if (ui->c.json) {
		fputc('{', stdout);
		vigil_change_write_json_members(stdout, ch);
		if (n > 0)
			vigil_pkg_write_owner_json(stdout, pkgs[0]);
		fputs("}\n", stdout);
		return 0;
	}
	vigil_change_write_text(ui->group[ch->kind], ch);
	if (n > 0)
		fprintf(ui->group[ch->kind], "    (package %s)\n", pkgs[0]);
	return 0;
}

static const char *const problem_names[] = {"changed", "missing", "unreadable", "replaced"};

static int on_package(void *user, const vigil_pkg_result *r)
{
	check_ui *ui = user;
	FILE *f = ui->group[3];

	ui->package_problems++;
	if (ui->c.json) {
		vigil_pkg_result_write_json(stdout, r);
		fputc('\n', stdout);
		return 0;
	}
	fprintf(f, "%s ", r->problem == VIGIL_PKG_MISSING ? "-" : "~");
	cli_write_name(f, r->path);
	fprintf(f, "  (%s%s): %s", r->package, r->conffile ? ", conffile" : "",
		problem_names[r->problem]);
	if (r->problem == VIGIL_PKG_CHANGED)
		fprintf(f, ", md5 %s -> %s", r->expected, r->actual);
	else if (r->err)
		fprintf(f, ": %s", strerror(r->err));
	fputc('\n', f);
	return 0;
}

static void on_package_warning(void *user, const char *file, uint64_t line, const char *why)
{
	(void)user;
	if (line > 0)
		cli_error("warning: dpkg %s:%llu: %s", file, (unsigned long long)line, why);
	else
		cli_error("warning: dpkg %s: %s", file, why);
}

/* The dpkg half of --verify-packages: debsums' job, without a baseline. */
static int verify_packages(check_ui *ui, vigil_pkg_stats *ps)
{
	vigil_dpkg_options po;
	char err[512];

	vigil_dpkg_options_default(&po);
	po.jobs = ui->c.o.jobs;
	po.on_result = on_package;
	po.on_warning = on_package_warning;
	po.user = ui;
	if (vigil_dpkg_verify(&po, ps, err, sizeof(err)) != 0) {
		cli_error("check: --verify-packages: %s", err);
		return -1;
	}
	return 0;
}

int cmd_check(int argc, char **argv)
{
	static const struct option long_opts[] = {
	    INTEGRITY_LONG_OPTS,
	    {"format", required_argument, NULL, 'f'},
	    {"quick", no_argument, NULL, OPT_QUICK},
	    {"verify-packages", no_argument, NULL, OPT_VERIFY_PACKAGES},
	    {NULL, 0, NULL, 0}};
	static const char *const titles[] = {"Added", "Removed", "Changed",
					     "Package files (dpkg md5sums)"};
	check_ui ui;
	vigil_baseline_callbacks cb;
	vigil_baseline_stats st;
	vigil_pkg_stats ps = {0};
	bool packages = false, baseline = true;
	char err[1024], b[32];
	int opt, r;

	memset(&ui, 0, sizeof(ui));
	integrity_cli_init(&ui.c);
	while ((opt = getopt_long(argc, argv, "c:d:k:j:qf:h", long_opts, NULL)) != -1) {
		if ((r = integrity_cli_option(&ui.c, opt, optarg)) < 0)
			return EXIT_ERROR;
		if (r > 0)
			continue;
		switch (opt) {
		case OPT_QUICK:
			ui.c.o.quick = true;
			break;
		case OPT_VERIFY_PACKAGES:
			packages = true;
			break;
		case 'h':
			fputs(check_usage, stdout);
			return EXIT_CLEAN;
		default:
			fputs(check_usage, stderr);
			return EXIT_ERROR;
		}
	}
	if (optind < argc) {
		cli_error("check takes no paths: the baseline says what to check");
		return EXIT_ERROR;
	}
	for (int k = 0; k < 4; k++)
		if ((ui.group[k] = open_memstream(&ui.buf[k], &ui.len[k])) == NULL) {
			cli_error("out of memory");
			return EXIT_ERROR;
		}
	memset(&st, 0, sizeof(st));
	if (packages) {
		vigil_dpkg_options po;
		vigil_dpkg_options_default(&po);
		/* A fresh machine has no baseline: the packages alone are the check. */
		if (ui.c.o.db_path == NULL && ui.c.o.config_path == NULL &&
		    access(VIGIL_DEFAULT_DB, F_OK) != 0)
			baseline = false;
		if (vigil_dpkg_owners_load(&po, &ui.owners, NULL, err, sizeof(err)) != 0)
			cli_error("warning: package owners unknown: %s", err);
	}
	r = 0;
	if (baseline) {
		integrity_cli_callbacks(&ui.c, &cb);
		cb.on_change = on_change;
		cb.user = &ui;
		r = vigil_baseline_check(&ui.c.o, &cb, &st, err, sizeof(err));
		integrity_cli_clear_progress(&ui.c);
	}
	if (r == 0 && packages && verify_packages(&ui, &ps) != 0)
		r = VIGIL_E_SYSTEM;
	vigil_dpkg_owners_free(ui.owners);
	for (int k = 0; k < 4; k++) {
		fclose(ui.group[k]);
		if (r == 0 && ui.len[k] > 0)
			printf("%s:\n%s\n", titles[k], ui.buf[k]);
		free(ui.buf[k]);
	}
	if (r != 0) {
		if (baseline && err[0])
			cli_error("check: %s", err);
		return EXIT_ERROR;
	}
	if (!ui.c.quiet && packages)
		fprintf(
		    ui.c.json ? stderr : stdout,
		    "vigil check --verify-packages: %llu package files checked in %llu packages: "
		    "%llu changed (%llu conffiles), %llu missing, %llu replaced, %llu unreadable\n",
		    (unsigned long long)ps.files, (unsigned long long)ps.packages,
		    (unsigned long long)ps.changed, (unsigned long long)ps.conffiles_changed,
		    (unsigned long long)ps.missing, (unsigned long long)ps.replaced,
		    (unsigned long long)ps.unreadable);
	if (!baseline)
		return ui.package_problems ? EXIT_FOUND : EXIT_CLEAN;
	if (!ui.c.quiet)
		fprintf(
		    ui.c.json ? stderr : stdout,
		    "vigil check: %llu added, %llu removed, %llu changed; %llu entries, %s hashed "
		    "in %.2f s (baseline generation %llu, %s seal verified)\n",
		    (unsigned long long)st.added, (unsigned long long)st.removed,
		    (unsigned long long)st.changed, (unsigned long long)st.entries,
		    integrity_cli_bytes(st.bytes_hashed, b, sizeof(b)), (double)st.elapsed_ns / 1e9,
		    (unsigned long long)st.generation, st.seal_mode);
	return (st.added + st.removed + st.changed + ui.package_problems) ? EXIT_FOUND : EXIT_CLEAN;
}
