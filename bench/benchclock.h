/* SPDX-License-Identifier: Apache-2.0 */
/* What the benchmarks share: clocks in seconds, a comparison for sorting times, a median, and
 * the parse of a whole-number option. */
#ifndef PASO_BENCHCLOCK_H
#define PASO_BENCHCLOCK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on a clock: CLOCK_MONOTONIC (wall), CLOCK_PROCESS_CPUTIME_ID (every thread's CPU),
 * CLOCK_THREAD_CPUTIME_ID (this thread's CPU: what the work cost, whatever else runs). */
static inline double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double
now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* qsort comparison of doubles, ascending. */
static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of n values (the mean of the middle two when n is even), sorting v in place; 0 if n is 0. */
static inline double
median_sort(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Parses option opt's value s as a whole number in [min, max] into *out: 0, or -1 after saying
 * on stderr, as prog, which option wanted what. */
static inline int
bench_parse_ul(const char *prog, const char *opt, const char *s, unsigned long min,
	unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "%s: %s wants a whole number in %lu..%lu: '%s'\n", prog, opt, min,
			max, s);
		return -1;
	}
	*out = v;
	return 0;
}

#endif
