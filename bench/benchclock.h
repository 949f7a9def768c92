/* SPDX-License-Identifier: Apache-2.0 */
/* What the benchmarks share: a monotonic clock in seconds and a comparison for sorting times. */
#ifndef PASO_BENCHCLOCK_H
#define PASO_BENCHCLOCK_H

#include <time.h>

static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* qsort comparison of doubles, ascending. */
static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
