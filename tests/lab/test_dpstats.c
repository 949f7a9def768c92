/* SPDX-License-Identifier: Apache-2.0 */
/* The discrete Laplace sampler draws from the distribution it claims: chi-square goodness of
 * fit over a million draws, exact Bernoulli(exp(-gamma)) rates, and no bias in uniforms. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <sodium.h>

#include "dpstats.h"

#define DRAWS 1000000

/* Upper critical value of chi-square with df degrees of freedom at z standard deviations
 * (Wilson-Hilferty). z = 4.26 is a one-sided p of 1e-5. */
static double
chi2_crit(double df, double z)
{
	double a = 2.0 / (9.0 * df);

	return df * pow(1.0 - a + z * sqrt(a), 3);
}

/* Draws DRAWS values with P(x) proportional to exp(-|x| s/t) and tests the fit. */
static void
fit(uint64_t s, uint64_t t, uint64_t seed)
{
	const double q = exp(-(double)s / (double)t), norm = (1.0 - q) / (1.0 + q);
	struct dp_rng r;
	long long *hist;
	int K, x, bins = 0;
	double chi = 0, sum = 0, sumsq = 0, var;

	/* Bins |x| <= K where the expected count is at least 20; both tails lumped. */
	for (K = 0; DRAWS * norm * pow(q, K + 1) >= 20; K++)
		;
	hist = calloc((size_t)(2 * K + 3), sizeof(*hist));
	assert_non_null(hist);
	dp_rng_seeded(&r, seed);
	for (int i = 0; i < DRAWS; i++) {
		int64_t v = dp_laplace(&r, s, t);
		sum += (double)v;
		sumsq += (double)v * (double)v;
		if (v < -K)
			hist[0]++;
		else if (v > K)
			hist[2 * K + 2]++;
		else
			hist[v + K + 1]++;
	}
	for (x = -K - 1; x <= K + 1; x++) {
		double p = (x < -K || x > K) ? norm * q * pow(q, K) / (1.0 - q)
					     : norm * pow(q, abs(x));
		double e = DRAWS * p, o = (double)hist[x + K + 1];
		chi += (o - e) * (o - e) / e;
		bins++;
	}
	var = 2.0 * q / ((1.0 - q) * (1.0 - q));
	print_message("s/t = %llu/%llu: %d bins, chi-square %.1f (critical %.1f), mean %.4f, "
		      "variance %.3f (expected %.3f)\n",
		(unsigned long long)s, (unsigned long long)t, bins, chi, chi2_crit(bins - 1, 4.26),
		sum / DRAWS, sumsq / DRAWS - (sum / DRAWS) * (sum / DRAWS), var);
	assert_true(chi < chi2_crit(bins - 1, 4.26));
	/* The mean of a million draws is within 5 standard errors of 0. */
	assert_true(fabs(sum / DRAWS) < 5 * sqrt(var / DRAWS));
	free(hist);
}

static void
test_fit_half(void **state)
{
	(void)state;
	fit(1, 2, 1); /* epsilon 1/2 */
}

static void
test_fit_odd_rational(void **state)
{
	(void)state;
	fit(3, 7, 2); /* epsilon 3/7: u up to 6, y = x / 3 */
}

static void
test_fit_wide(void **state)
{
	(void)state;
	fit(1, 30, 3); /* epsilon 1/30, as a table with sensitivity 10 at epsilon 1 gets */
}

/* A wrong distribution must fail the same test: draws of scale 1/2 checked against 1/3. */
static void
test_fit_detects_wrong_scale(void **state)
{
	const double q = exp(-1.0 / 3.0), norm = (1.0 - q) / (1.0 + q);
	struct dp_rng r;
	long long hist[41] = {0};
	double chi = 0;
	int x;

	(void)state;
	dp_rng_seeded(&r, 4);
	for (int i = 0; i < DRAWS; i++) {
		int64_t v = dp_laplace(&r, 1, 2);
		if (v >= -20 && v <= 20)
			hist[v + 20]++;
	}
	for (x = -20; x <= 20; x++) {
		double e = DRAWS * norm * pow(q, abs(x));
		chi += (hist[x + 20] - e) * (hist[x + 20] - e) / e;
	}
	assert_true(chi > chi2_crit(40, 4.26));
}

static void
test_bernoulli_exp_rates(void **state)
{
	static const uint64_t g[][2] = {{0, 1}, {1, 3}, {1, 1}, {5, 2}, {7, 3}};
	struct dp_rng r;
	size_t i;

	(void)state;
	dp_rng_seeded(&r, 5);
	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		double p = exp(-(double)g[i][0] / (double)g[i][1]), se = sqrt(p * (1 - p) / DRAWS);
		long hits = 0;
		for (int k = 0; k < DRAWS; k++)
			hits += dp_bernoulli_exp(&r, g[i][0], g[i][1]);
		assert_true(fabs((double)hits / DRAWS - p) <= 5 * se + 1e-12);
	}
}

static void
test_uniform_unbiased(void **state)
{
	struct dp_rng r;
	long counts[3] = {0};
	uint64_t big = (UINT64_MAX / 3) * 2 + 1; /* modulo would favour the low half */
	long low = 0;

	(void)state;
	dp_rng_seeded(&r, 6);
	for (int k = 0; k < DRAWS; k++) {
		counts[dp_uniform(&r, 3)]++;
		low += dp_uniform(&r, big) < big / 2;
	}
	for (int k = 0; k < 3; k++)
		assert_true(labs(counts[k] - DRAWS / 3) < 5 * 472); /* 5 sd of a binomial */
	assert_true(labs(low - DRAWS / 2) < 5 * 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fit_half),
		cmocka_unit_test(test_fit_odd_rational),
		cmocka_unit_test(test_fit_wide),
		cmocka_unit_test(test_fit_detects_wrong_scale),
		cmocka_unit_test(test_bernoulli_exp_rates),
		cmocka_unit_test(test_uniform_unbiased),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
