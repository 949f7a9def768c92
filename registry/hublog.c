/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's operator log. */
#include "hublog.h"

#include <stdarg.h>

#include "instant.h"

void
hublog_printf(const struct hublog *l, const char *fmt, ...)
{
	FILE *f = l->f != NULL ? l->f : stderr;
	char ts[INSTANT_TEXT_BYTES];
	va_list ap;

	instant_format(clock_now(l->clock), ts);
	flockfile(f);
	fprintf(f, "%s paso-hub: ", ts);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fflush(f);
	funlockfile(f);
}
