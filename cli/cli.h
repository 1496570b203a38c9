/* SPDX-License-Identifier: Apache-2.0 */
/* The vigil command line: subcommands and shared helpers. */
#ifndef VIGIL_CLI_H
#define VIGIL_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses (documented in vigil(1)). */
#define EXIT_CLEAN 0 /* nothing found / no changes */
#define EXIT_FOUND 1 /* findings / changes */
#define EXIT_ERROR 2 /* bad arguments or a fatal error */

int cmd_scan(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_accept(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_canary(int argc, char **argv);  /* cmd_canary.c */
int cmd_release(int argc, char **argv); /* cmd_respond.c */
int cmd_kill(int argc, char **argv);    /* cmd_respond.c */

/* Parse "123", "64K", "10M", "2G", "1T" (powers of 1024); false if malformed. */
bool cli_parse_size(const char *s, uint64_t *out);
/* Parse a non-negative integer within [min, max]. */
bool cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Print "vigil: " + message to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write bytes with control characters escaped (names may hold anything). */
void cli_write_name(FILE *f, const char *s);

#endif
