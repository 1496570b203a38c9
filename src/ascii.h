/* SPDX-License-Identifier: Apache-2.0 */
/* ASCII character classes for parsers of untrusted bytes: unlike <ctype.h> they do not
 * depend on the locale and take any byte value (a negative char is not undefined). */
#ifndef VIGIL_ASCII_H
#define VIGIL_ASCII_H

#include <stdbool.h>

static inline bool ascii_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool ascii_is_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

static inline bool ascii_is_lower(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}

static inline bool ascii_is_alpha(unsigned char c)
{
	return ascii_is_upper(c) || ascii_is_lower(c);
}

static inline bool ascii_is_alnum(unsigned char c)
{
	return ascii_is_digit(c) || ascii_is_alpha(c);
}

/* \w of the detection patterns (vectorscan without HS_FLAG_UCP): letters, digits, '_'. */
static inline bool ascii_is_word(unsigned char c)
{
	return ascii_is_alnum(c) || c == '_';
}

#endif
