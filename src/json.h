/* SPDX-License-Identifier: Apache-2.0 */
/* JSON output helpers: strings that are always valid UTF-8, whatever the input bytes. */
#ifndef VIGIL_JSON_H
#define VIGIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* True if s[0,n) is valid UTF-8 (no overlongs, no surrogates). */
bool vigil_utf8_valid(const char *s, size_t n);
/* Writes s[0,n) as a JSON string with quotes; invalid UTF-8 becomes U+FFFD. */
void vigil_json_string(FILE *f, const char *s, size_t n);
/* Writes s[0,n) base64-encoded as a JSON string. */
void vigil_json_base64(FILE *f, const void *s, size_t n);

#endif
