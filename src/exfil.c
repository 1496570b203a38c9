/* SPDX-License-Identifier: Apache-2.0 */
/* The exfil defense of `vigil watch`: scans archives written in watched paths and temp dirs for
 * sensitive data (exfiltration staging). PLACEHOLDER: being written. */
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

const defense_ops defense_exfil = {"exfil_staging", attach, detach};
