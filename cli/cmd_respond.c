/* SPDX-License-Identifier: Apache-2.0 */
/* vigil release / vigil kill: finish the job on a process vigil watch stopped.
 * PLACEHOLDER: being written. */
#include <stdlib.h>

#include "cli.h"

int cmd_release(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("release: not built yet");
	return EXIT_ERROR;
}

int cmd_kill(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("kill: not built yet");
	return EXIT_ERROR;
}
