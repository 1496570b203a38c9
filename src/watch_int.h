/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the watch module: the watcher's state shared by watch.c (event loop, coalescing,
 * agent alerts), watch_fan.c (fanotify), watch_ino.c (inotify) and watch_eval.c (the
 * thread comparing paths with the baseline). */
#ifndef VIGIL_WATCH_PRIV_H
#define VIGIL_WATCH_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#include "defense.h"
#include "sink.h"
#include "watch.h"

/* What a root is. A path can lie under several roots; their flags add up. */
#define ROOT_BASELINE 0x1u /* a root of the baseline's policy: compared with it */
#define ROOT_PATHARG  0x2u /* a PATH given on the command line: watched without baseline */
#define ROOT_OWN      0x4u /* one of vigil's own files (exact path): critical */

/* How a root is watched. */
enum { METHOD_NONE = 0, METHOD_FANOTIFY, METHOD_INOTIFY };

/* Which interface saw a change, for the alert's "detected_by". */
enum { DET_FANOTIFY = 0, DET_INOTIFY, DET_STARTUP_CHECK, DET_OVERFLOW_CHECK };

typedef struct wroot {
	char *path; /* as the baseline or the user names it */
	size_t len;
	char *canon; /* where the kernel reports it: the parent with symlinks resolved */
	size_t clen;
	unsigned flags;   /* ROOT_* */
	const char *role; /* ROOT_OWN: "database", "key", "configuration", "program" */
	int method;       /* METHOD_* once placed */
	char how[192];    /* for the "started" alert: "fanotify filesystem mark on ext4 /dev/vda" */
} wroot;

/* A path with events not yet reported (or only its rate-limit state). */
typedef struct prec {
	struct prec *next; /* hash chain */
	uint64_t h;
	char *path;
	size_t len;
	unsigned flags;            /* ROOT_* */
	uint32_t ev;               /* VIGIL_WEV_* since the last alert; 0 = nothing pending */
	uint32_t nev;              /* events folded in */
	uint32_t held;             /* the rate limit held this one back */
	bool writing;              /* written to, not closed yet */
	int64_t first_ns, last_ns; /* CLOCK_MONOTONIC */
	int64_t first_us;          /* CLOCK_REALTIME of the first event */
	int64_t deadline_ns;
	size_t heap_i; /* SIZE_MAX when not in the heap */
	int pid;
	vigil_proc *proc;
	char *other; /* rename: the name on the other side */
	size_t other_len;
	bool other_is_new; /* other is where it went (path is the old name) */
	uint8_t detected_by;
	const char *role; /* ROOT_OWN: which of our files */
	double tokens;    /* rate limit: alerts that may go out now */
	int64_t refill_ns;
} prec;

/* A unit of work for the evaluator thread. */
enum { JOB_PATH = 0, JOB_RELOAD, JOB_OWN_DB };

typedef struct wjob {
	struct wjob *next;
	int type;
	char *path;
	size_t len;
	unsigned flags;
	uint32_t ev, nev, held;
	int64_t time_us;
	vigil_proc *proc;
	char *other;
	size_t other_len;
	bool other_is_new;
	uint8_t detected_by;
	const char *role;
} wjob;

typedef struct wsource {
	int fd;
	void (*ready)(vigil_watch *w, struct wsource *s, uint32_t events);
	vigil_watch_source_fn ext; /* external sources */
	void *user;
} wsource;

#define WATCH_MAX_HOOKS   8
#define WATCH_MAX_SOURCES 16
#define WATCH_MAX_SINKS   2

/* Policy snapshot handed from the evaluator (which owns the baseline) to the loop. */
typedef struct wpolicy {
	char **roots;
	size_t nroots;
	char **own;
	size_t nown;
} wpolicy;

struct fan_state;
struct ino_state;

/* One defense attached to the watcher. */
typedef struct wdefense {
	const defense_ops *ops;
	void *state;
	int rc; /* what attach returned */
	char status[200];
} wdefense;

struct vigil_watch {
	vigil_watch_options o; /* strings below are copies */
	char **strs;           /* every copied string, freed at the end */
	size_t nstrs;
	const char ***lists; /* every copied list of strings (the arrays only) */
	size_t nlists;
	vigil_baseline_options bo;
	char host[256];
	char idbase[20];
	atomic_uint_fast64_t seq;
	pid_t self;
	char *self_exe;
	char *db_abs; /* the baseline's database, absolute (for messages) */

	vigil_sink *sinks[WATCH_MAX_SINKS];
	const char *sink_names[WATCH_MAX_SINKS];
	size_t nsinks;
	bool sink_failing[WATCH_MAX_SINKS];

	/* Roots: written by the loop thread only (a reload swaps the array there). */
	wroot *roots;
	size_t nroots;
	char **pathargs; /* canonical PATH arguments, then the protect-only directories */
	size_t npathargs;
	size_t nwatched_args; /* the first ones, the PATHs: integrity roots too */
	char *alerts_canon;   /* our own outputs, never reported (inotify cannot filter by pid) */
	char *spool_canon;

	/* Loop. */
	atomic_bool running; /* vigil_watch_run was called: plug-ins are closed */
	bool started;
	int epfd, sigfd, timerfd, tickfd, stopfd, wakefd, mountfd;
	wsource src_sig, src_timer, src_tick, src_stop, src_wake, src_mount;
	wsource ext[WATCH_MAX_SOURCES];
	uint32_t ext_events[WATCH_MAX_SOURCES];
	size_t next;
	bool stopping_sent;
	bool watchdog;      /* systemd's WatchdogSec: WATCHDOG=1 every tick */
	bool backlog;       /* an event source stopped reading with events left */
	bool lost_internal; /* an event could not be queued anywhere: report as overflow */
	vigil_proc *stop_sender;
	struct signalfd_siginfo *stop_si;
	struct {
		vigil_watch_hook_fn fn;
		void *user;
	} hooks[WATCH_MAX_HOOKS];
	size_t nhooks;
	atomic_bool stop_requested, reload_requested;
	int64_t armed_ns; /* when timerfd fires, 0 = disarmed */
	int64_t start_ns;
	int64_t next_heartbeat_ns;
	uint64_t batch; /* read() calls: the process cache's epoch */
	struct {
		int pid;
		uint64_t batch;
		uint64_t pidfs_id; /* vigil_pidfd_id of the process read, 0 if unknown */
		int64_t read_ns;   /* when it was read (CLOCK_MONOTONIC) */
		vigil_proc *proc;
	} pcache[64];

	struct fan_state *fan;
	struct ino_state *ino;

	/* Defenses (src/defense.h), attached by vigil_watch_run. */
	wdefense defenses[4];
	size_t ndefenses;
	bool attaching; /* hooks and sources may be added */

	/* Coalescing. */
	prec **tab;
	size_t tabcap, tabn;
	int64_t gc_ns; /* when idle records were last dropped */
	/* The rate-limit state of paths whose records were dropped while idle, direct-mapped
	 * by path hash (a slot taken over forgets the older path: its bucket starts full). */
	struct rate_slot {
		uint64_t h; /* 0: empty */
		double tokens;
		int64_t refill_ns;
	} * rates;
	prec **heap;
	size_t heapn, heapcap;
	uint64_t hkey[2];
	int64_t quiet_ns, hold_ns;
	double rate_per_ns, burst;

	/* Evaluator thread: owns the baseline handle, and the decoys it leaves out. */
	vigil_baseline *base;
	struct vigil_decoy_set *decoys;
	pthread_t eval_thread;
	bool eval_started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	wjob *qhead, *qtail;
	size_t qlen;
	bool quit;
	wpolicy *new_policy;         /* from the evaluator after a reload; loop applies it */
	bool reload_done;            /* the evaluator finished a reload (ok or not) */
	uint64_t removed_keys[4096]; /* evaluator: hashes of paths reported removed */
	int64_t removed_ns[4096];
	/* What each path was last reported as (the evaluator's and the check's alerts), so
	 * the check after an overflow repeats none of it. Under reported_mu. */
	pthread_mutex_t reported_mu;
	struct reported_slot *reported;
	size_t reported_cap, reported_n;

	/* Check thread (start-up and after an overflow). */
	pthread_t check_thread;
	bool check_running, check_again, check_done;
	int check_trigger; /* DET_STARTUP_CHECK or DET_OVERFLOW_CHECK */
	int check_rc;
	char check_err[512];
	vigil_baseline_stats check_stats;

	/* Counters. */
	/* n_unnamed: events in directories gone before their path was known. */
	atomic_uint_fast64_t n_events, n_watched, n_alerts, n_dropped, n_overflows, n_coalesced,
	    n_limited, n_unnamed;
};

/* watch.c */
int64_t watch_mono_ns(void);
uint64_t watch_hash(const vigil_watch *w, const char *s, size_t n);
/* Matches a resolved path against the roots: returns the ROOT_* flags (0: not watched)
 * and, when the root is known under another name, the path as the baseline names it
 * (*xpath malloc'd, else NULL). */
unsigned watch_match(const vigil_watch *w, const char *path, size_t len, char **xpath, size_t *xlen,
		     const char **role);
/* True if path is a proper ancestor of a root (a rename or removal there moves it). */
bool watch_is_root_ancestor(const vigil_watch *w, const char *path, size_t len);
/* Takes one event into coalescing (and the hooks). Loop thread. */
void watch_event(vigil_watch *w, const vigil_watch_event *ev, uint8_t detected_by);
/* The kernel lost events: alert and start a check. */
void watch_overflow(vigil_watch *w, const char *how);
/* Sends an agent alert (severity, event, reason; extra members through fn). */
void watch_agent_alert(vigil_watch *w, int severity, const char *event, const char *reason,
		       void (*extra)(FILE *f, void *user), void *user);
/* An integrity alert about a mount point (mounted / unmounted). */
void watch_mount_alert(vigil_watch *w, const char *mnt, bool mounted, const char *fstype,
		       const char *source, const char *how);
int watch_add_fd(vigil_watch *w, wsource *s, uint32_t events);
void watch_del_fd(vigil_watch *w, wsource *s);

/* watch_fan.c */
/* Reads what the main group holds now (as on_fan does when it is ready). */
void fan_drain(vigil_watch *w);
/* Creates the fanotify group; 0 or VIGIL_E_SYSTEM with a sentence in why. */
int fan_open(vigil_watch *w, char *why, size_t cap);
/* Marks the file system of each root not yet watched; sets root->method/how. */
void fan_mark_roots(vigil_watch *w);
/* Mount table changed: mark new file systems under roots, report mounts and unmounts. */
void fan_mounts_changed(vigil_watch *w);
void fan_close(vigil_watch *w);
bool fan_active(const vigil_watch *w);
/* Writes ,"mounts":[...]: the file systems mounted under roots and how each is watched. */
void fan_write_mounts(FILE *f, const vigil_watch *w);
/* True if fanotify covers the file system with this device number. */
bool fan_covers_dev(const vigil_watch *w, dev_t dev);

/* watch_ino.c */
int ino_open(vigil_watch *w, char *why, size_t cap);
/* Watches every root with method METHOD_NONE (or all when forced). */
void ino_watch_roots(vigil_watch *w, bool all);
/* Watches one directory tree (a mount fanotify cannot mark). */
void ino_watch_tree(vigil_watch *w, const char *path);
/* Every second: roots that were missing are tried again. */
void ino_tick(vigil_watch *w);
void ino_close(vigil_watch *w);

/* watch_eval.c */
int eval_start(vigil_watch *w);
/* Queues a job (takes ownership). Returns false if the queue is full (job kept). */
bool eval_push(vigil_watch *w, wjob *j, bool force);
void eval_stop(vigil_watch *w);
void wjob_free(wjob *j);
void wpolicy_free(wpolicy *p);
/* Builds the policy snapshot of a baseline handle (roots, own files). */
wpolicy *wpolicy_from(const vigil_baseline *b);
/* An integrity alert for one change, with the process and how it was found. */
void eval_change_alert(vigil_watch *w, const vigil_change *c, const wjob *j);
/* True if c's path was last reported in the state c finds it in: the check after an
 * overflow need not say it again. Any thread. */
bool watch_reported_same(vigil_watch *w, const vigil_change *c);
void watch_reported_free(vigil_watch *w);

#endif
