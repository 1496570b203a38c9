/* SPDX-License-Identifier: Apache-2.0 */
/* vigil release / vigil kill: finish the job on a process vigil watch stopped — let it go on
 * (SIGCONT, and tell the daemon it is trusted now) or end it (SIGKILL). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char release_usage[] =
    "usage: vigil release [--process] PID\n"
    "\n"
    "Continues a process that vigil watch stopped (SIGCONT) after you reviewed it, and\n"
    "tells the daemon to trust it from now on. The whole process group is continued\n"
    "(vigil watch stops the group of the offender), unless --process is given.\n"
    "\n"
    "      --process   signal PID alone, not its process group\n"
    "  -h, --help      this help\n"
    "\n"
    "Exit status: 0 done, 2 error (no such process, PID 1 or below, not permitted).\n";

static const char kill_usage[] =
    "usage: vigil kill [--process] PID\n"
    "\n"
    "Ends a process that vigil watch stopped (SIGKILL), with its process group unless\n"
    "--process is given.\n"
    "\n"
    "      --process   signal PID alone, not its process group\n"
    "  -h, --help      this help\n"
    "\n"
    "Exit status: 0 done, 2 error (no such process, PID 1 or below, not permitted).\n";

struct pinfo {
	char state;
	int pgid;
	char comm[64];
};

static bool read_pinfo(int pid, struct pinfo *pi)
{
	char path[64], buf[1024], *open_paren, *close_paren;
	ssize_t n;
	int fd, ppid;
	size_t cl;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if ((open_paren = strchr(buf, '(')) == NULL || (close_paren = strrchr(buf, ')')) == NULL ||
	    close_paren < open_paren || close_paren[1] != ' ')
		return false;
	cl = (size_t)(close_paren - open_paren - 1);
	if (cl >= sizeof(pi->comm))
		cl = sizeof(pi->comm) - 1;
	memcpy(pi->comm, open_paren + 1, cl);
	pi->comm[cl] = '\0';
	return sscanf(close_paren + 2, "%c %d %d", &pi->state, &ppid, &pi->pgid) == 3;
}

/* The daemon's word that PID was released: RUNDIR/released/ID, written after the stop. */
static int leave_word(int id)
{
	const char *env = getenv("VIGIL_RUNTIME_DIR");
	char dir[PATH_MAX], sub[PATH_MAX + 16], file[PATH_MAX + 48];
	int fd;

	snprintf(dir, sizeof(dir), "%s", env && *env ? env : "/run/vigil");
	snprintf(sub, sizeof(sub), "%s/released", dir);
	snprintf(file, sizeof(file), "%s/%d", sub, id);
	if ((mkdir(dir, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(sub, 0700) != 0 && errno != EEXIST)) {
		cli_error("release: cannot make %s: %s", sub, strerror(errno));
		return -1;
	}
	/* Truncated and rewritten: its modification time is what the daemon compares. */
	if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		cli_error("release: cannot write %s: %s", file, strerror(errno));
		return -1;
	}
	dprintf(fd, "%d\n", id);
	close(fd);
	return 0;
}

static int respond_cmd(int argc, char **argv, bool release)
{
	static const struct option opts[] = {
	    {"process", no_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *name = release ? "release" : "kill";
	bool process_only = false;
	uint64_t v;
	int pid, c, sig = release ? SIGCONT : SIGKILL;
	struct pinfo pi;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			process_only = true;
			break;
		case 'h':
			fputs(release ? release_usage : kill_usage, stdout);
			return EXIT_CLEAN;
		default:
			fputs(release ? release_usage : kill_usage, stderr);
			return EXIT_ERROR;
		}
	}
	if (optind + 1 != argc) {
		fputs(release ? release_usage : kill_usage, stderr);
		return EXIT_ERROR;
	}
	if (!cli_parse_uint(argv[optind], 0, INT_MAX, &v)) {
		cli_error("%s: '%s' is not a process id", name, argv[optind]);
		return EXIT_ERROR;
	}
	pid = (int)v;
	if (pid <= 1) {
		cli_error("%s: refusing pid %d (init and process groups are never signalled)", name,
			  pid);
		return EXIT_ERROR;
	}
	if (!read_pinfo(pid, &pi)) {
		cli_error("%s: no process %d", name, pid);
		return EXIT_ERROR;
	}
	if (release && pi.state != 'T' && pi.state != 't')
		fprintf(stderr, "vigil: release: process %d (%s) is not stopped (state %c)\n", pid,
			pi.comm, pi.state);
	/* The group, as vigil watch stopped it, unless that is our own (we would signal
	 * ourselves and whoever runs us) or init's. */
	if (!process_only && (pi.pgid <= 1 || pi.pgid == getpgrp()))
		process_only = true;
	if (release && (leave_word(pid) != 0 || (!process_only && leave_word(pi.pgid) != 0)))
		return EXIT_ERROR;
	if (kill(process_only ? pid : -pi.pgid, sig) != 0) {
		cli_error("%s: cannot signal %s %d: %s", name,
			  process_only ? "process" : "process group", process_only ? pid : pi.pgid,
			  strerror(errno));
		return EXIT_ERROR;
	}
	printf("%s %s %d (pid %d, %s): sent %s\n", release ? "released" : "killed",
	       process_only ? "process" : "process group", process_only ? pid : pi.pgid, pid,
	       pi.comm, release ? "SIGCONT" : "SIGKILL");
	return EXIT_CLEAN;
}

int cmd_release(int argc, char **argv)
{
	return respond_cmd(argc, argv, true);
}

int cmd_kill(int argc, char **argv)
{
	return respond_cmd(argc, argv, false);
}
