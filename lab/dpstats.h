/* SPDX-License-Identifier: Apache-2.0 */
/* Differentially private counts: an integer-exact discrete Laplace sampler and its randomness. */
#ifndef PASO_DPSTATS_H
#define PASO_DPSTATS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The sampler follows Canonne, Kamath and Steinke (2020), "The Discrete Gaussian for
 * Differential Privacy", Algorithms 1 and 2: only integer arithmetic and uniform integers, so
 * no floating-point rounding can leak (Mironov 2012). A release with privacy loss epsilon =
 * s/t and sensitivity 1 adds dp_laplace(s, t) to each count.
 */

/* Uniform randomness: the system's CSPRNG, or (tests only) a seeded ChaCha20 stream. */
struct dp_rng {
	int seeded;
	uint8_t key[32];
	uint64_t nonce;
	uint8_t buf[512];
	size_t pos;
};

/* The system CSPRNG (libsodium randombytes; sodium_init must have run). */
void dp_rng_system(struct dp_rng *r);

/* A reproducible stream from seed, for tests of the distribution. Never for a release. */
void dp_rng_seeded(struct dp_rng *r, uint64_t seed);

/* Uniform on [0, n), n >= 1, by rejection (no modulo bias). */
uint64_t dp_uniform(struct dp_rng *r, uint64_t n);

/* 1 with probability exp(-num/den), else 0; den >= 1, num/den rational, exactly. */
int dp_bernoulli_exp(struct dp_rng *r, uint64_t num, uint64_t den);

/*
 * A draw from the discrete Laplace distribution with scale t/s: P(x) is proportional to
 * exp(-|x| * s / t) for every integer x. s, t in 1..2^31 (so no product overflows).
 */
int64_t dp_laplace(struct dp_rng *r, uint64_t s, uint64_t t);

#endif
