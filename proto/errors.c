/* SPDX-License-Identifier: Apache-2.0 */
/* The project-wide error table's text, and diagnostics that name the bad input. */
#include "errors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

char *
paso_escape(char *out, size_t cap, const char *in, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (cap == 0)
		return out;
	for (i = 0; in != NULL && i < max && in[i] != '\0'; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= cap)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	/* Cut short: say so, so a reader never takes a prefix for the whole. */
	if ((in != NULL && i < max && in[i] != '\0') && cap >= 4) {
		while (o + 4 > cap)
			o--;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

int
paso_errno_io(int e)
{
	return e == ENOSPC || e == EDQUOT ? PASO_E_STORE_FULL : PASO_E_IO;
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
