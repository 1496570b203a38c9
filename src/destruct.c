/* SPDX-License-Identifier: Apache-2.0 */
/* The destruction defense of `vigil watch`: scores destruction per process tree in protected paths
 * and stops the offender. PLACEHOLDER: being written. */
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

const defense_ops defense_destruction = {"destruction", attach, detach};
