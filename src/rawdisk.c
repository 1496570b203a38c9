/* SPDX-License-Identifier: Apache-2.0 */
/* The raw_device defense of `vigil watch`: refuses writes to whole disks and partitions from
 * programs not on the allowlist (FAN_OPEN_PERM). PLACEHOLDER: being written. */
#include <stdio.h>

#include "defense.h"

static int attach(vigil_watch *w, void **state, char *status, size_t cap)
{
	(void)w;
	*state = NULL;
	snprintf(status, cap, "off: not built yet");
	return 0;
}

static void detach(void *state)
{
	(void)state;
}

const defense_ops defense_raw_device = {"raw_device", attach, detach};
