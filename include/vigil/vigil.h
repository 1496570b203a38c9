/* SPDX-License-Identifier: Apache-2.0 */
/* vigil — common definitions of the public API: version, visibility, error codes. */
#ifndef VIGIL_VIGIL_H
#define VIGIL_VIGIL_H

#ifdef __cplusplus
extern "C" {
#endif

#define VIGIL_API __attribute__((visibility("default")))

/* Error codes: library calls return 0 or one of these (negative). */
#define VIGIL_OK          0
#define VIGIL_E_SYSTEM    (-1)  /* a system call failed: errno holds the cause */
#define VIGIL_E_NOMEM     (-2)  /* out of memory */
#define VIGIL_E_INVALID   (-3)  /* bad argument or option value */
#define VIGIL_E_PATTERN   (-4)  /* the pattern database failed to compile */
#define VIGIL_E_ENGINE    (-5)  /* the pattern engine failed while scanning */
#define VIGIL_E_ARCHIVE   (-6)  /* an archive could not be read */
#define VIGIL_E_LIMIT     (-7)  /* a configured limit was hit */
#define VIGIL_E_NOT_FOUND (-8)  /* the named thing does not exist */
#define VIGIL_E_FORMAT    (-9)  /* malformed input file (config, allowlist) */
#define VIGIL_E_CRYPTO    (-10) /* an OpenSSL call failed */
#define VIGIL_E_CANCELLED (-11) /* the caller asked to stop */

/* The text for an error code; never NULL, static storage. */
VIGIL_API const char *vigil_strerror(int r);

/* The library's version string, e.g. "0.1.0". */
VIGIL_API const char *vigil_version(void);

#ifdef __cplusplus
}
#endif
#endif
