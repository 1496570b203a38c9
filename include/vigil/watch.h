/* SPDX-License-Identifier: Apache-2.0 */
/* vigil — the real-time integrity daemon (`vigil watch`): fanotify events compared with the
 * baseline as they happen, naming the process, with alerts as JSON Lines and syslog. */
#ifndef VIGIL_WATCH_H
#define VIGIL_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/vigil.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIGIL_DEFAULT_CANARY_DB    "/var/lib/vigil/canaries.db"
#define VIGIL_DEFAULT_INVENTORY_DB "/var/lib/vigil/inventory.db"
/* The nice value of the watcher's deferrable work (vigil_watch_options.nice). */
#define VIGIL_WATCH_NICE 10

/* What to do about an offending process (used by the destruction defenses; integrity
 * alerts are after the fact and always "alerted"). */
typedef enum vigil_watch_respond {
	VIGIL_RESPOND_DEFAULT = 0, /* the config's respond, else ALERT */
	VIGIL_RESPOND_ALERT,
	VIGIL_RESPOND_STOP,
	VIGIL_RESPOND_KILL,
} vigil_watch_respond;

/* How events are received. AUTO: fanotify filesystem marks, and inotify only for file
 * systems where fanotify cannot be used (said so in the "started" alert). */
typedef enum vigil_watch_backend {
	VIGIL_WATCH_AUTO = 0,
	VIGIL_WATCH_FANOTIFY, /* fail rather than fall back */
	VIGIL_WATCH_INOTIFY,  /* inotify everywhere (no process names): diagnostics, tests */
} vigil_watch_backend;

typedef struct vigil_watch_options {
	/* The baseline (see vigil_baseline_options): watched when use_baseline is true. */
	bool use_baseline;
	const char *db_path;     /* NULL: the config's, else VIGIL_DEFAULT_DB */
	const char *config_path; /* NULL: none (the baseline's own policy is not re-read) */
	const char *key_path;    /* HMAC key; NULL: the config's, else VIGIL_DEFAULT_KEY */
	const char *public_key;  /* Ed25519 public key of a signed baseline */
	/* Directories (or files) watched without a baseline: every change is reported
	 * with the new values only. Made absolute; symlinks in them resolved. */
	const char *const *paths;
	size_t npaths;
	/* Outputs: alerts is a file path or "-" for standard output (NULL = "-");
	 * syslog is NULL or "unix", "unix:PATH", "udp://H:P", "tcp://H:P", "tls://H:P". */
	const char *alerts;
	const char *syslog;
	const char *ca_file;      /* tls: CA bundle (required for tls://) */
	const char *cert_file;    /* tls: client certificate, optional */
	const char *cert_key;     /* tls: its key, optional */
	const char *spool_dir;    /* syslog spool directory, or NULL for none */
	uint64_t spool_max_bytes; /* 0 = the sink's default (64 MiB) */
	vigil_watch_backend backend;

	/* Defenses (vigil(1), DEFENSES; the config's [watch] section fills what is left
	 * unset here). The PATHs and protect are the directories protected from destruction;
	 * integrity changes are reported under the PATHs only. */
	vigil_watch_respond respond; /* what the destruction defense does. Default DEFAULT */
	const char *const *protect;
	size_t nprotect;
	int raw_device_guard;                /* refuse writes to block devices: 1 on, 0 off, -1 the
					      * config's, else on. Default -1 */
	const char *const *raw_device_allow; /* programs allowed to (globs on the executable
					      * path); NULL: the config's, else built-in */
	size_t nraw_device_allow;
	const char *const *allow; /* trusted by the destruction defense: "EXE" or
				   * "EXE@sha256:HEX"; NULL: the config's, else built-in */
	size_t nallow;
	const char *canary_db; /* decoy registry; NULL: the config's, else
				* VIGIL_DEFAULT_CANARY_DB (no decoys when it does not exist) */
	int exfil_staging;     /* scan archives written in watched paths and exfil_dirs: 1, 0,
				* -1 the config's, else on. Default -1 */
	const char *const *exfil_dirs; /* NULL: the config's, else /tmp /var/tmp /dev/shm */
	size_t nexfil_dirs;
	const char *inventory_db; /* vigil scan --record's inventory; NULL: the config's, else
				   * VIGIL_DEFAULT_INVENTORY_DB (when it exists) */
	/* Nice value (0-19) of the work that can wait a moment on a busy machine: comparing
	 * changes with the baseline, and (5 nicer still, at least 10) scanning archives. The
	 * loop that reads the kernel's queue and the threads that answer permission events
	 * keep the daemon's own. -1: the config's, else VIGIL_WATCH_NICE. Default -1 */
	int nice;
	unsigned heartbeat_s;     /* agent heartbeat period; 0 = none. Default 60 */
	unsigned coalesce_ms;     /* quiet time that ends a burst on one path. Default 5 */
	unsigned coalesce_max_ms; /* longest a burst is held before it is reported. Default 50 */
	unsigned rate_per_min;    /* alerts per path per minute after a burst of as many;
				   * more are folded into the next one. 0 = no limit. Default 12 */
	bool startup_check;       /* quick check of the baseline once watching. Default true */
	unsigned jobs;            /* threads of the start-up and overflow checks; 0 = CPUs */
	/* Block SIGTERM, SIGINT and SIGHUP and take them through a signalfd: TERM/INT stop,
	 * HUP reloads. Default true; vigil_watch_new blocks them in the calling thread, so
	 * call it before starting other threads. */
	bool handle_signals;
	/* Tell systemd READY=1 / RELOADING=1 / STOPPING=1 when $NOTIFY_SOCKET is set.
	 * Default true. */
	bool sd_notify;
} vigil_watch_options;

/* Fills *o with the defaults documented above (everything else NULL/0/false). */
VIGIL_API void vigil_watch_options_default(vigil_watch_options *o);

typedef struct vigil_watch vigil_watch;

/*
 * Prepares a watcher: reads and verifies the baseline (use_baseline), opens the outputs.
 * Nothing is watched yet. o is copied (strings too). err (cap bytes) receives a sentence
 * on failure. Returns 0 and sets *out; VIGIL_E_INVALID (bad option, nothing to watch),
 * VIGIL_E_NOT_FOUND (no baseline), VIGIL_E_FORMAT (baseline fails its seal, bad config),
 * VIGIL_E_CRYPTO (TLS files), VIGIL_E_SYSTEM (errno kept), VIGIL_E_NOMEM.
 */
VIGIL_API int vigil_watch_new(const vigil_watch_options *o, vigil_watch **out, char *err,
			      size_t cap);

/*
 * Places the marks, sends the "started" alert (and READY=1), runs the start-up check and
 * then handles events until vigil_watch_stop or SIGTERM/SIGINT; sends "stopping" and
 * delivers what is queued before returning. Call once, from one thread.
 * Returns 0 after a requested stop; VIGIL_E_SYSTEM (fanotify/inotify/epoll setup failed:
 * err says which, errno kept), VIGIL_E_INVALID (run twice), VIGIL_E_NOMEM.
 */
VIGIL_API int vigil_watch_run(vigil_watch *w, char *err, size_t cap);

/* Asks a running (or about to run) vigil_watch_run to stop. Async-signal-safe and
 * thread-safe. */
VIGIL_API void vigil_watch_stop(vigil_watch *w);

/* Asks for a reload of the configuration, as SIGHUP does. Async-signal-safe. */
VIGIL_API void vigil_watch_reload(vigil_watch *w);

typedef struct vigil_watch_stats {
	uint64_t events;         /* file-system events read */
	uint64_t events_watched; /* of those, on watched paths */
	uint64_t alerts;         /* alerts handed to the outputs */
	uint64_t alerts_dropped; /* alerts an output could not take */
	uint64_t overflows;      /* event queue overflows */
	uint64_t coalesced;      /* events folded into another alert */
	uint64_t rate_limited;   /* alerts held back by the per-path rate limit */
} vigil_watch_stats;

/* A snapshot of the counters. Thread-safe. */
VIGIL_API void vigil_watch_get_stats(vigil_watch *w, vigil_watch_stats *st);

/* Frees everything, closing the outputs (alerts still queued are delivered within their
 * close timeout or spooled). Accepts NULL. */
VIGIL_API void vigil_watch_free(vigil_watch *w);

#ifdef __cplusplus
}
#endif
#endif
