/* SPDX-License-Identifier: Apache-2.0 */
/* One alert of `vigil watch` as a single JSON line: timestamp, id, host, kind, severity,
 * what changed, the process that did it, the action taken and a readable reason (fields
 * documented in doc/alerts.md). Private to libvigil. */
#ifndef VIGIL_ALERT_H
#define VIGIL_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "procinfo.h"
#include "vigil/baseline.h"

/* Severities are syslog's (RFC 5424 section 6.2.1), so the JSON word and the syslog
 * PRI always agree. */
typedef enum vigil_severity {
	VIGIL_SEV_CRITICAL = 2,
	VIGIL_SEV_ERROR = 3,
	VIGIL_SEV_WARNING = 4,
	VIGIL_SEV_NOTICE = 5,
	VIGIL_SEV_INFO = 6,
} vigil_severity;

/* "critical", "error", "warning", "notice", "info"; "unknown" otherwise. */
const char *vigil_severity_name(int severity);

/* Writes "2024-05-01T12:00:00.123456Z" (RFC 3339, UTC, microseconds) into out. */
void vigil_alert_time(char out[32], int64_t time_us);

/* The current time in microseconds since the epoch (CLOCK_REALTIME). */
int64_t vigil_alert_now_us(void);

typedef struct vigil_alert {
	int64_t time_us;   /* "@timestamp": when it happened; 0 = now */
	const char *id;    /* "id": unique per alert (the SIEM drops duplicates by it) */
	const char *kind;  /* "integrity" or "agent" */
	const char *event; /* agent: "started", "stopping", ...; written only if not NULL */
	int severity;      /* vigil_severity */
	/* integrity, one of: */
	const vigil_change *change; /* "path", "change", "attributes", "old", "new" */
	const char *path;           /* or: "path" (path_len bytes), "change": change_name, */
	size_t path_len;            /*     "attributes": [] */
	const char *change_name;
	/* "process": written if has_process (null when proc is NULL). */
	bool has_process;
	const vigil_proc *proc;
	const char *action; /* "action"; NULL = "alerted" */
	const char *reason; /* "reason": one readable sentence (any bytes; made UTF-8) */
	/* More members after the fixed ones: writes each as ,"name":value. May be NULL. */
	void (*extra)(FILE *f, void *user);
	void *extra_user;
} vigil_alert;

/*
 * Builds the alert as one line of JSON (no newline) into a malloc'd buffer: *json (free
 * it) and *len. host is the "host" member. Members in order: "@timestamp", "id", "host",
 * "kind", ["event"], "severity", [change members], ["process"], "action", "reason",
 * [extra]. Every string is valid UTF-8 and the output holds no CR or LF, whatever bytes
 * paths and command lines contain. If the result would exceed max_len bytes it is built
 * again with the command line cut to 256 bytes and without "old"/"new", and marked
 * "truncated":true. Returns 0, VIGIL_E_NOMEM, or VIGIL_E_LIMIT if even that is too long.
 */
int vigil_alert_format(const vigil_alert *a, const char *host, size_t max_len, char **json,
		       size_t *len);

/* Writes the "process" value: null, or {"pid":..,"ppid":..,"exe":..,"cmdline":..,
 * "uid":..,"euid":..,"auid":..,"name":..} with unknown members null, plus
 * "exe_deleted":true, "cmdline_truncated":true, "exited":true when they apply.
 * cmdline_max cuts the command line (0 = no cut beyond the record's). */
void vigil_alert_write_process(FILE *f, const vigil_proc *p, size_t cmdline_max);

/* Writes "path":"..." (with "path_bytes_b64" when the bytes are not UTF-8), as
 * vigil_change_write_json_members does, for alerts without a change record. */
void vigil_alert_write_path(FILE *f, const char *name, const char *path, size_t len);

#endif
