/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the watch engine through its library API: option checks, a run on a temporary
 * directory stopped from another thread, the per-event hook and an extra polled fd (the
 * plug-in points of the destruction defenses), and the counters. fanotify needs root:
 * the run is skipped without it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "watch.h"

static char dir[64], alerts[96], target[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vigil-test-watch.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(alerts, sizeof(alerts), "%s/alerts.jsonl", dir);
	snprintf(target, sizeof(target), "%s/w", dir);
	return mkdir(target, 0755);
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void sleep_ms_child(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Writes a file from a child process: the watcher ignores its own process's events. */
static pid_t write_from_child(const char *path)
{
	pid_t pid = fork();

	if (pid == 0) {
		FILE *f = fopen(path, "w");

		if (f == NULL)
			_exit(1);
		fputs("hello\n", f);
		fclose(f);
		sleep_ms_child(300);
		_exit(0);
	}
	return pid;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* True once the alert file holds a line containing needle. */
static bool alert_has(const char *needle)
{
	FILE *f = fopen(alerts, "r");
	char line[65536];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

static bool wait_for(const char *needle, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (alert_has(needle))
			return true;
		sleep_ms(10);
	}
	return alert_has(needle);
}

static void test_options(void **state)
{
	vigil_watch_options o;
	vigil_watch *w = NULL;
	char err[256];
	const char *paths[] = {"/nonexistent/vigil-test"};

	(void)state;
	vigil_watch_options_default(&o);
	assert_int_equal(o.heartbeat_s, 60);
	assert_int_equal(o.coalesce_ms, 5);
	assert_int_equal(o.rate_per_min, 12);
	assert_true(o.startup_check && o.handle_signals && o.sd_notify);
	/* Nothing to watch. */
	assert_int_equal(vigil_watch_new(&o, &w, err, sizeof(err)), VIGIL_E_INVALID);
	assert_null(w);
	assert_non_null(strstr(err, "nothing to watch"));
	/* A PATH that does not exist. */
	o.paths = paths;
	o.npaths = 1;
	o.alerts = alerts;
	assert_int_equal(vigil_watch_new(&o, &w, err, sizeof(err)), VIGIL_E_SYSTEM);
	assert_non_null(strstr(err, "/nonexistent/vigil-test"));
	/* Coalescing so long it would hide alerts. */
	paths[0] = target;
	o.coalesce_ms = 20000;
	assert_int_equal(vigil_watch_new(&o, &w, err, sizeof(err)), VIGIL_E_INVALID);
	vigil_watch_free(NULL);
}

struct seen {
	atomic_int events, watched, outside, source_calls, file_seen;
	char file[160];
	int efd;
};

static void hook(void *user, vigil_watch *w, const vigil_watch_event *ev)
{
	struct seen *s = user;

	(void)w;
	atomic_fetch_add(&s->events, 1);
	if (ev->path == NULL)
		return;
	if (ev->watched) {
		atomic_fetch_add(&s->watched, 1);
		if (ev->path_len == strlen(s->file) && memcmp(ev->path, s->file, ev->path_len) == 0)
			atomic_fetch_add(&s->file_seen, 1);
	} else if (strncmp(ev->path, dir, strlen(dir)) == 0) {
		atomic_fetch_add(&s->outside, 1);
	}
}

static void source(void *user, vigil_watch *w, uint32_t events)
{
	struct seen *s = user;
	uint64_t n;

	(void)w;
	(void)events;
	if (read(s->efd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		atomic_fetch_add(&s->source_calls, 1);
}

struct runner {
	vigil_watch *w;
	int rc;
	char err[256];
};

static void *run(void *arg)
{
	struct runner *r = arg;

	r->rc = vigil_watch_run(r->w, r->err, sizeof(r->err));
	return NULL;
}

static void test_run(void **state)
{
	vigil_watch_options o;
	const char *paths[] = {target};
	struct seen s = {0};
	struct runner r = {0};
	vigil_watch_stats st;
	pthread_t t;
	char file[160], outside[160], own[160], err[256], needle[256];
	pid_t p1, p2;
	int wst;
	uint64_t one = 1;
	FILE *f;

	(void)state;
	if (geteuid() != 0)
		skip(); /* fanotify needs CAP_SYS_ADMIN (the CLI tests run the inotify path) */
	vigil_watch_options_default(&o);
	o.paths = paths;
	o.npaths = 1;
	o.alerts = alerts;
	o.heartbeat_s = 0;
	o.handle_signals = false;
	o.sd_notify = false;
	o.backend = VIGIL_WATCH_FANOTIFY;
	assert_int_equal(vigil_watch_new(&o, &r.w, err, sizeof(err)), 0);
	snprintf(file, sizeof(file), "%s/new", target);
	snprintf(s.file, sizeof(s.file), "%s", file);
	assert_int_equal(vigil_watch_add_hook(r.w, hook, &s), 0);
	s.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(s.efd >= 0);
	assert_int_equal(vigil_watch_add_source(r.w, s.efd, EPOLLIN, source, &s), 0);
	assert_int_equal(pthread_create(&t, NULL, run, &r), 0);
	assert_true(wait_for("\"event\":\"started\"", 10000));
	/* Too late for plug-ins once running. */
	assert_int_equal(vigil_watch_add_hook(r.w, hook, &s), VIGIL_E_INVALID);

	snprintf(outside, sizeof(outside), "%s/outside", dir);
	snprintf(own, sizeof(own), "%s/own", target);
	assert_true((p1 = write_from_child(file)) > 0);
	assert_true((p2 = write_from_child(outside)) > 0);
	/* Our own writes (this process) are never reported: no loop through the alert
	 * file, whatever lies where. */
	assert_non_null(f = fopen(own, "w"));
	fclose(f);
	assert_int_equal(write(s.efd, &one, sizeof(one)), sizeof(one));
	snprintf(needle, sizeof(needle), "\"path\":\"%s\",\"change\":\"added\"", file);
	assert_true(wait_for(needle, 10000));
	snprintf(needle, sizeof(needle), "\"process\":{\"pid\":%d,", (int)p1);
	assert_true(alert_has(needle));
	waitpid(p1, &wst, 0);
	waitpid(p2, &wst, 0);
	sleep_ms(200);
	assert_false(alert_has(outside));
	assert_false(alert_has(own));
	for (int i = 0; i < 200 && atomic_load(&s.source_calls) == 0; i++)
		sleep_ms(10);

	vigil_watch_stop(r.w);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(r.rc, 0);
	assert_true(alert_has("\"event\":\"stopping\""));
	/* The hook saw the watched file and, marked as such, the file outside. */
	assert_true(atomic_load(&s.watched) >= 1);
	assert_true(atomic_load(&s.outside) >= 1);
	assert_true(atomic_load(&s.file_seen) >= 1);
	assert_int_equal(atomic_load(&s.source_calls), 1);
	vigil_watch_get_stats(r.w, &st);
	assert_true(st.events >= 2);
	assert_true(st.events_watched >= 1);
	assert_true(st.alerts >= 3); /* started, added, stopping */
	assert_int_equal(st.overflows, 0);
	vigil_watch_free(r.w);
	close(s.efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_run),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
