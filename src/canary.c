/* SPDX-License-Identifier: Apache-2.0 */
/* The canary defense of `vigil watch`: alerts on any open of a decoy file planted by vigil canary
 * plant. PLACEHOLDER: being written. */
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

const defense_ops defense_canary = {"canary", attach, detach};
