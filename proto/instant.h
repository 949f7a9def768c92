/* SPDX-License-Identifier: Apache-2.0 */
/* Instants and durations as people type them: "2027-01-01T00:00:00Z", "2d", "36h", "400d". */
#ifndef PASO_INSTANT_H
#define PASO_INSTANT_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* "YYYY-MM-DDTHH:MM:SSZ" plus NUL. */
#define INSTANT_TEXT_BYTES 21

/* Latest instant accepted anywhere: 9999-12-31T23:59:59Z (keeps every sum far from 2^64). */
#define INSTANT_MAX 253402300799ull

/*
 * Parses an RFC 3339 UTC instant "YYYY-MM-DDTHH:MM:SSZ" (also "YYYY-MM-DD", meaning midnight)
 * into seconds since the Unix epoch. Years 1970..9999; every field is range-checked (no
 * 31 February). Pure. Returns 0 or PASO_E_INVALID_ARG, d quoting the text.
 */
int instant_parse(const char *s, uint64_t *out, struct paso_diag *d);

/*
 * Parses a duration: a whole number followed by s, m, h or d ("90s", "15m", "36h", "400d"), at
 * most 100 years. Pure. Returns 0 or PASO_E_INVALID_ARG, d quoting the text.
 */
int duration_parse(const char *s, uint64_t *out, struct paso_diag *d);

/* Writes t as "YYYY-MM-DDTHH:MM:SSZ" into buf (INSTANT_TEXT_BYTES); returns buf. */
char *instant_format(uint64_t t, char buf[INSTANT_TEXT_BYTES]);

/* a + b, or -1 when the sum would pass INSTANT_MAX (checked arithmetic for expiries). */
int instant_add(uint64_t a, uint64_t b, uint64_t *out);

#endif
