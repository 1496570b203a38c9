/* SPDX-License-Identifier: Apache-2.0 */
/* vigil canary: plant, list and remove decoy files. PLACEHOLDER: being written. */
#include <stdlib.h>

#include "cli.h"

int cmd_canary(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("canary: not built yet");
	return EXIT_ERROR;
}
