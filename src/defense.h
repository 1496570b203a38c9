/* SPDX-License-Identifier: Apache-2.0 */
/* Inside libvigil: the defenses of `vigil watch` — raw-disk guard, decoys (canaries),
 * destruction scoring and exfiltration staging. Each attaches itself to a watcher before
 * its event loop runs (hooks, event sources, its own fanotify group, through src/watch.h)
 * and is detached when the watcher is freed. Private to libvigil. */
#ifndef VIGIL_DEFENSE_H
#define VIGIL_DEFENSE_H

#include <stddef.h>

#include "watch.h"

typedef struct defense_ops {
	const char *name; /* as in the "started" alert: "raw_device", "canary", ... */
	/*
	 * Called once from vigil_watch_run before the loop starts; the options, with the
	 * config's [watch] section merged in, are vigil_watch_get_options(w). Returns 0 and
	 * sets *state (NULL when the defense is off by configuration), writing one short
	 * sentence into status ("on: 4 block devices guarded", "off: raw_devices = off in
	 * the config"). Any other return leaves the defense off and status says why
	 * (the watcher runs on and its "started" alert is a warning).
	 */
	int (*attach)(vigil_watch *w, void **state, char *status, size_t cap);
	/* Frees the state (after the loop stopped); accepts NULL. */
	void (*detach)(void *state);
} defense_ops;

extern const defense_ops defense_raw_device;  /* src/rawdisk.c */
extern const defense_ops defense_canary;      /* src/canary.c */
extern const defense_ops defense_destruction; /* src/destruct.c */
extern const defense_ops defense_exfil;       /* src/exfil.c */

#endif
