/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's operator log: one line per event, stamped with the hub's clock. */
#ifndef PASO_HUBLOG_H
#define PASO_HUBLOG_H

#include <stdio.h>

#include "clock.h"

struct hublog {
	FILE *f;                        /* NULL = stderr */
	const struct paso_clock *clock; /* borrowed */
};

/* Writes "TIME paso-hub: MESSAGE\n" and flushes. Thread-safe (stdio's lock). */
void hublog_printf(const struct hublog *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
