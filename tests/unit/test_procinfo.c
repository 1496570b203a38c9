/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of procinfo: the process behind an event, read from /proc, never mistaken for a
 * later process with the same pid. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procinfo.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void test_self(void **state)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	vigil_proc *p = NULL;
	int pfd = pidfd_open(getpid());

	(void)state;
	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(vigil_proc_read(getpid(), pfd, false, &p), 0);
	assert_non_null(p);
	assert_int_equal(p->state, VIGIL_PROC_ALIVE);
	assert_int_equal(p->pid, getpid());
	assert_int_equal(p->ppid, getppid());
	assert_true(p->has_uids);
	assert_int_equal(p->uid, getuid());
	assert_int_equal(p->euid, geteuid());
	assert_string_equal(p->exe, exe);
	assert_false(p->exe_deleted);
	assert_non_null(p->cmdline);
	/* argv[0] of this test binary is its path: it contains "test_procinfo". */
	assert_non_null(strstr(p->cmdline, "test_procinfo"));
	assert_string_equal(p->comm, "test_procinfo");
	vigil_proc_unref(p);
	if (pfd >= 0)
		close(pfd);
}

static void test_loginuid(void **state)
{
	FILE *f = fopen("/proc/self/loginuid", "r");
	unsigned long v;
	vigil_proc *p = NULL;

	(void)state;
	if (f == NULL)
		skip();
	assert_int_equal(fscanf(f, "%lu", &v), 1);
	fclose(f);
	assert_int_equal(vigil_proc_read(getpid(), -1, false, &p), 0);
	if (v == 4294967295UL) {
		assert_false(p->has_auid);
		assert_true(p->auid_unset);
	} else {
		assert_true(p->has_auid);
		assert_int_equal(p->auid, v);
	}
	vigil_proc_unref(p);
}

/* A child that exited and was reaped: its pidfd says so, and nothing is read by pid (it
 * could name a new process by now). */
static void test_reaped(void **state)
{
	pid_t pid = fork();
	int pfd, st;
	vigil_proc *p = NULL;

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	pfd = pidfd_open(pid);
	if (pfd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		skip(); /* no pidfd_open (Linux < 5.3) */
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(vigil_proc_read(pid, pfd, false, &p), 0);
	assert_int_equal(p->state, VIGIL_PROC_EXITED);
	assert_int_equal(p->pid, pid);
	assert_null(p->exe);
	assert_null(p->cmdline);
	assert_false(p->has_uids);
	vigil_proc_unref(p);
	close(pfd);
}

/* The identity a cached read is reused under: one per process (pidfs), and the program
 * check sees an exec. */
static void test_identity_and_exec(void **state)
{
	int go[2], st;
	pid_t a, b;
	int fa, fb;
	vigil_proc *pa = NULL, *pb = NULL;
	uint64_t ia, ib;
	char c = 'x';

	(void)state;
	assert_int_equal(pipe(go), 0);
	a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		/* Waits for the word, then becomes another program. */
		close(go[1]);
		if (read(go[0], &c, 1) == 1)
			execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(1);
	}
	close(go[0]);
	b = fork();
	assert_true(b >= 0);
	if (b == 0) {
		pause();
		_exit(0);
	}
	fa = pidfd_open(a);
	fb = pidfd_open(b);
	assert_true(fa >= 0 && fb >= 0);
	ia = vigil_pidfd_id(fa);
	ib = vigil_pidfd_id(fb);
	if (ia == 0) {
		kill(a, SIGKILL);
		kill(b, SIGKILL);
		waitpid(a, &st, 0);
		waitpid(b, &st, 0);
		skip(); /* pidfds without pidfs (Linux < 6.9) */
	}
	assert_true(ib != 0 && ia != ib);
	assert_true(vigil_pidfd_id(fa) == ia); /* stable */
	assert_int_equal(vigil_proc_read(a, fa, false, &pa), 0);
	assert_int_equal(vigil_proc_read(b, fb, false, &pb), 0);
	assert_true(vigil_proc_same_program(pa));
	assert_true(vigil_proc_same_program(pb));
	/* a execs /bin/sleep: the same process, another program. */
	assert_int_equal(write(go[1], &c, 1), 1);
	for (int i = 0; i < 200 && vigil_proc_same_program(pa); i++)
		sleep_ms(5);
	assert_false(vigil_proc_same_program(pa));
	assert_true(vigil_pidfd_id(fa) == ia);
	/* Gone: no longer the same program either. */
	kill(b, SIGKILL);
	assert_int_equal(waitpid(b, &st, 0), b);
	assert_false(vigil_proc_same_program(pb));
	kill(a, SIGKILL);
	waitpid(a, &st, 0);
	vigil_proc_unref(pa);
	vigil_proc_unref(pb);
	close(fa);
	close(fb);
	close(go[1]);
}

/* A zombie still shows its status (name, parent, uids) but has exited. */
static void test_zombie(void **state)
{
	pid_t pid = fork();
	int st;
	vigil_proc *p = NULL;
	char path[64];
	FILE *f;
	char line[256];
	bool zombie = false;

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(3);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	for (int i = 0; i < 200 && !zombie; i++) {
		if ((f = fopen(path, "r")) != NULL) {
			while (fgets(line, sizeof(line), f))
				if (strncmp(line, "State:\tZ", 8) == 0)
					zombie = true;
			fclose(f);
		}
		if (!zombie)
			sleep_ms(5);
	}
	assert_true(zombie);
	assert_int_equal(vigil_proc_read(pid, -1, false, &p), 0);
	assert_int_equal(p->state, VIGIL_PROC_EXITED);
	assert_int_equal(p->ppid, getpid());
	assert_true(p->has_uids);
	assert_string_equal(p->comm, "test_procinfo");
	assert_null(p->exe);
	vigil_proc_unref(p);
	waitpid(pid, &st, 0);
}

static void test_nopidfd(void **state)
{
	vigil_proc *p = NULL;

	(void)state;
	/* The kernel said the process was gone (FAN_NOPIDFD): even our own pid, alive,
	 * must not be read. */
	assert_int_equal(vigil_proc_read(getpid(), -1, true, &p), 0);
	assert_int_equal(p->state, VIGIL_PROC_EXITED);
	assert_int_equal(p->pid, getpid());
	assert_null(p->exe);
	vigil_proc_unref(p);
	assert_int_equal(vigil_proc_read(0, -1, false, &p), 0);
	assert_int_equal(p->state, VIGIL_PROC_UNKNOWN);
	assert_int_equal(p->pid, 0);
	vigil_proc_unref(p);
	assert_int_equal(vigil_proc_read(-5, -1, false, &p), 0);
	assert_int_equal(p->state, VIGIL_PROC_UNKNOWN);
	vigil_proc_unref(p);
}

/* Arguments joined by spaces, cut at VIGIL_PROC_CMDLINE_MAX and flagged. */
static void test_cmdline(void **state)
{
	size_t big = 10000;
	char *arg = malloc(big + 1);
	pid_t pid;
	vigil_proc *p = NULL;
	int st;

	(void)state;
	assert_non_null(arg);
	memset(arg, 'A', big);
	arg[big] = '\0';
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "sleep 5", "zero", arg, (char *)NULL);
		_exit(127);
	}
	/* Until the exec has happened the child still shows our command line. */
	for (int i = 0; i < 400; i++) {
		assert_int_equal(vigil_proc_read(pid, -1, false, &p), 0);
		if (p->cmdline && strncmp(p->cmdline, "sh -c", 5) == 0)
			break;
		vigil_proc_unref(p);
		p = NULL;
		sleep_ms(5);
	}
	assert_non_null(p);
	assert_int_equal(p->state, VIGIL_PROC_ALIVE);
	assert_int_equal(p->cmdline_len, VIGIL_PROC_CMDLINE_MAX);
	assert_int_equal(strlen(p->cmdline), VIGIL_PROC_CMDLINE_MAX);
	assert_true(p->cmdline_truncated);
	assert_memory_equal(p->cmdline, "sh -c sleep 5 zero AAAA", 23);
	assert_int_equal(p->cmdline[VIGIL_PROC_CMDLINE_MAX - 1], 'A');
	assert_int_equal(p->ppid, getpid());
	vigil_proc_unref(p);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	free(arg);
}

/* A short command line: no trailing space, not flagged. */
static void test_cmdline_short(void **state)
{
	pid_t pid = fork();
	vigil_proc *p = NULL;
	int st;

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		assert_int_equal(vigil_proc_read(pid, -1, false, &p), 0);
		/* exec(2) switches the exe link before the name: wait for both. */
		if (p->exe && strstr(p->exe, "sleep") && strcmp(p->comm, "sleep") == 0)
			break;
		vigil_proc_unref(p);
		p = NULL;
		sleep_ms(5);
	}
	assert_non_null(p);
	assert_string_equal(p->cmdline, "sleep 5");
	assert_int_equal(p->cmdline_len, 7);
	assert_false(p->cmdline_truncated);
	assert_string_equal(p->comm, "sleep");
	vigil_proc_unref(p);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static void test_parse_status(void **state)
{
	static const struct {
		const char *text;
		bool ok;
		int ppid;
		uint32_t uid, euid;
		const char *comm;
	} cases[] = {
	    {"Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t42\nPPid:\t7\n"
	     "Uid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n",
	     true, 7, 1000, 0, "bash"},
	    /* No Uid line: not parsed. */
	    {"Name:\tx\nPPid:\t1\n", false, 1, 0, 0, "x"},
	    /* A uid beyond 32 bits is refused, not wrapped. */
	    {"Name:\tx\nUid:\t99999999999\t0\t0\t0\n", false, -1, 0, 0, "x"},
	    /* Only one number on the Uid line. */
	    {"Uid:\t5\n", false, -1, 0, 0, ""},
	    /* The name is cut to the kernel's 16 bytes; no final newline. */
	    {"Name:\tabcdefghijklmnopqrstuvwxyz\nUid:\t1\t2\t3\t4", true, -1, 1, 2,
	     "abcdefghijklmnop"},
	    /* Garbage. */
	    {"\n\n\nUid:\nPPid:\nName:", false, -1, 0, 0, ""},
	    {"", false, -1, 0, 0, ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		vigil_proc *p = vigil_proc_new_bare(1, VIGIL_PROC_ALIVE);
		bool ok;

		assert_non_null(p);
		ok = vigil_proc_parse_status(p, cases[i].text, strlen(cases[i].text));
		if (ok != cases[i].ok || p->ppid != cases[i].ppid ||
		    strcmp(p->comm, cases[i].comm) != 0 ||
		    (ok && (p->uid != cases[i].uid || p->euid != cases[i].euid)))
			fail_msg("case %zu: ok %d ppid %d uid %u euid %u comm '%s'", i, ok, p->ppid,
				 p->uid, p->euid, p->comm);
		vigil_proc_unref(p);
	}
}

static void test_refs(void **state)
{
	vigil_proc *p = vigil_proc_new_bare(9, VIGIL_PROC_EXITED);

	(void)state;
	assert_non_null(p);
	assert_ptr_equal(vigil_proc_ref(p), p);
	assert_int_equal(atomic_load(&p->refs), 2);
	vigil_proc_unref(p);
	assert_int_equal(atomic_load(&p->refs), 1);
	vigil_proc_unref(p); /* freed: ASan would see a leak otherwise */
	vigil_proc_unref(NULL);
	assert_null(vigil_proc_ref(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_self),          cmocka_unit_test(test_loginuid),
	    cmocka_unit_test(test_reaped),        cmocka_unit_test(test_zombie),
	    cmocka_unit_test(test_nopidfd),       cmocka_unit_test(test_cmdline),
	    cmocka_unit_test(test_cmdline_short), cmocka_unit_test(test_parse_status),
	    cmocka_unit_test(test_refs),          cmocka_unit_test(test_identity_and_exec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
