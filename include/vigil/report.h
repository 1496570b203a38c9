/* SPDX-License-Identifier: Apache-2.0 */
/* vigil — writing scan findings and the summary: text for people, JSON Lines and SARIF
 * for machines. Backends behind one interface. */
#ifndef VIGIL_REPORT_H
#define VIGIL_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "vigil/finding.h"
#include "vigil/scan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vigil_format {
	VIGIL_FORMAT_TEXT = 0, /* findings grouped by file, then a summary */
	VIGIL_FORMAT_JSON,     /* JSON Lines: one finding per line */
	VIGIL_FORMAT_SARIF     /* SARIF 2.1.0, one document */
} vigil_format;

typedef struct vigil_report vigil_report;

/* Parse "text", "json" or "sarif"; 0 or VIGIL_E_INVALID. */
VIGIL_API int vigil_format_parse(const char *name, vigil_format *out);

/* A report writing to `out` (borrowed; not closed). `color` adds ANSI colour to text. */
VIGIL_API int vigil_report_new(vigil_format format, FILE *out, bool color, vigil_report **r);
/* Write one finding. */
VIGIL_API int vigil_report_finding(vigil_report *r, const vigil_finding *f);
/* Close the document (SARIF) and, for text, write the summary to the same stream. */
VIGIL_API int vigil_report_finish(vigil_report *r, const vigil_scan_stats *s, double seconds);
VIGIL_API void vigil_report_free(vigil_report *r);

/* Write the human summary of a scan (used for text output, and on stderr otherwise). */
VIGIL_API void vigil_report_summary(FILE *out, const vigil_scan_stats *s, double seconds);

#ifdef __cplusplus
}
#endif
#endif
