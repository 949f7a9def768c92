/* SPDX-License-Identifier: Apache-2.0 */
/* The project-wide error table's text, and diagnostics that name the bad input. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

const char *
paso_strerror(int code)
{
	switch (code) {
#define PASO_ERR_STR(name, value, msg)                                                             \
	case (value):                                                                              \
		return msg;
		PASO_ERRORS(PASO_ERR_STR)
#undef PASO_ERR_STR
	}
	return "unknown error";
}

const char *
paso_errname(int code)
{
	switch (code) {
#define PASO_ERR_NAME(name, value, msg)                                                            \
	case (value):                                                                              \
		return #name;
		PASO_ERRORS(PASO_ERR_NAME)
#undef PASO_ERR_NAME
	}
	return "UNKNOWN";
}

int
paso_diag_set(struct paso_diag *d, int code, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return code;
	d->code = code;
	va_start(ap, fmt);
	/* Truncation is acceptable for a message; vsnprintf always terminates. */
	(void)vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	return code;
}
