/* SPDX-License-Identifier: Apache-2.0 */
/* Error codes to text, and the library's version. */
#include "vigil/vigil.h"

const char *vigil_strerror(int r)
{
	switch (r) {
	case VIGIL_OK:
		return "success";
	case VIGIL_E_SYSTEM:
		return "system error";
	case VIGIL_E_NOMEM:
		return "out of memory";
	case VIGIL_E_INVALID:
		return "invalid argument";
	case VIGIL_E_PATTERN:
		return "pattern database failed to compile";
	case VIGIL_E_ENGINE:
		return "pattern engine failed";
	case VIGIL_E_ARCHIVE:
		return "archive could not be read";
	case VIGIL_E_LIMIT:
		return "limit reached";
	case VIGIL_E_NOT_FOUND:
		return "not found";
	case VIGIL_E_FORMAT:
		return "malformed input";
	case VIGIL_E_CRYPTO:
		return "cryptographic library error";
	case VIGIL_E_CANCELLED:
		return "cancelled";
	default:
		return "unknown error";
	}
}

const char *vigil_version(void)
{
	return VIGIL_VERSION;
}
