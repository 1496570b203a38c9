/* SPDX-License-Identifier: Apache-2.0 */
/* Options and output shared by vigil init, check, accept and baseline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"
#include "integrity.h"

void integrity_cli_init(integrity_cli *c)
{
	memset(c, 0, sizeof(*c));
	vigil_baseline_options_default(&c->o);
	c->progress = isatty(STDERR_FILENO);
	c->out = stdout;
}

int integrity_cli_option(integrity_cli *c, int opt, const char *arg)
{
	uint64_t n;

	switch (opt) {
	case 'c':
		c->o.config_path = arg;
		return 1;
	case 'd':
		c->o.db_path = arg;
		return 1;
	case 'k':
		c->o.key_path = arg;
		return 1;
	case OPT_SIGNING_KEY:
		c->o.signing_key = arg;
		return 1;
	case OPT_PUBLIC_KEY:
		c->o.public_key = arg;
		return 1;
	case 'j':
		if (!cli_parse_uint(arg, 1, 64, &n)) {
			cli_error("--jobs wants a number from 1 to 64, not '%s'", arg);
			return -1;
		}
		c->o.jobs = (unsigned)n;
		return 1;
	case OPT_NO_WAIT:
		c->o.wait = false;
		return 1;
	case 'q':
		c->quiet = true;
		c->progress = false;
		return 1;
	case OPT_NO_PROGRESS:
		c->progress = false;
		return 1;
	case 'f':
		if (strcmp(arg, "json") != 0 && strcmp(arg, "text") != 0) {
			cli_error("--format wants text or json, not '%s'", arg);
			return -1;
		}
		c->json = strcmp(arg, "json") == 0;
		return 1;
	default:
		return 0;
	}
}

void integrity_cli_clear_progress(integrity_cli *c)
{
	if (c->progress_shown) {
		fputs("\r\033[K", stderr);
		c->progress_shown = false;
	}
}

const char *integrity_cli_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1000 && u + 1 < sizeof(units) / sizeof(*units)) {
		v /= 1000;
		u++;
	}
	snprintf(buf, cap, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
	return buf;
}

static void on_warning(void *user, const char *path, const char *message)
{
	integrity_cli *c = user;

	integrity_cli_clear_progress(c);
	fputs("vigil: warning: ", stderr);
	cli_write_name(stderr, path);
	fprintf(stderr, ": %s\n", message);
}

static void on_progress(void *user, const vigil_baseline_stats *st)
{
	integrity_cli *c = user;
	char b[32];

	if (!c->progress)
		return;
	fprintf(stderr, "\r\033[K%llu entries, %s hashed, %.1f s", (unsigned long long)st->entries,
		integrity_cli_bytes(st->bytes_hashed, b, sizeof(b)), (double)st->elapsed_ns / 1e9);
	c->progress_shown = true;
}

static void on_wait(void *user, long pid)
{
	integrity_cli *c = user;

	integrity_cli_clear_progress(c);
	if (pid > 0)
		cli_error("waiting: another vigil (pid %ld) is using the baseline", pid);
	else
		cli_error("waiting: another vigil is using the baseline");
}

void integrity_cli_callbacks(integrity_cli *c, vigil_baseline_callbacks *cb)
{
	memset(cb, 0, sizeof(*cb));
	cb->on_warning = on_warning;
	cb->on_progress = on_progress;
	cb->on_wait = on_wait;
	cb->user = c;
}

void integrity_cli_log_seal(const char *what, const vigil_baseline_stats *st)
{
	openlog("vigil", LOG_PID, LOG_AUTHPRIV);
	syslog(LOG_NOTICE, "%s: baseline %s sealed (%s), generation %llu, digest %s", what,
	       st->db_path, st->seal_mode, (unsigned long long)st->generation, st->seal_digest);
	closelog();
}
