/* SPDX-License-Identifier: Apache-2.0 */
/* Integer-exact discrete Laplace noise (Canonne, Kamath, Steinke 2020, Algorithms 1 and 2). */
#include "dpstats.h"

#include <string.h>

#include <sodium.h>

void
dp_rng_system(struct dp_rng *r)
{
	memset(r, 0, sizeof(*r));
	r->pos = sizeof(r->buf);
}

void
dp_rng_seeded(struct dp_rng *r, uint64_t seed)
{
	int i;

	memset(r, 0, sizeof(*r));
	r->seeded = 1;
	for (i = 0; i < 8; i++)
		r->key[i] = (uint8_t)(seed >> (8 * i));
	r->pos = sizeof(r->buf);
}

static uint64_t
next64(struct dp_rng *r)
{
	uint64_t v;

	if (r->pos + 8 > sizeof(r->buf)) {
		if (r->seeded) {
			uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
			int i;

			for (i = 0; i < 8; i++)
				nonce[i] = (uint8_t)(r->nonce >> (8 * i));
			r->nonce++;
			crypto_stream_chacha20(r->buf, sizeof(r->buf), nonce, r->key);
		} else
			randombytes_buf(r->buf, sizeof(r->buf));
		r->pos = 0;
	}
	memcpy(&v, r->buf + r->pos, 8);
	sodium_memzero(r->buf + r->pos, 8);
	r->pos += 8;
	return v;
}

uint64_t
dp_uniform(struct dp_rng *r, uint64_t n)
{
	/* Reject the top partial block of 2^64 so every residue is equally likely. */
	uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n, v;

	do
		v = next64(r);
	while (v > limit);
	return v % n;
}

/* 1 with probability num/den exactly. */
static int
bernoulli(struct dp_rng *r, uint64_t num, uint64_t den)
{
	return dp_uniform(r, den) < num;
}

int
dp_bernoulli_exp(struct dp_rng *r, uint64_t num, uint64_t den)
{
	uint64_t k, i;

	if (num <= den) {
		/* Algorithm 1, gamma in [0, 1]: count successes of Bernoulli(gamma / k). */
		for (k = 1;; k++) {
			if (den > UINT64_MAX / (k + 1))
				return (k % 2) == 1; /* probability of reaching here < 1/k! */
			if (!bernoulli(r, num, den * k))
				break;
		}
		return (k % 2) == 1;
	}
	/* gamma > 1: exp(-gamma) = exp(-1)^floor(gamma) * exp(-(gamma - floor(gamma))). */
	for (i = 0; i < num / den; i++)
		if (!dp_bernoulli_exp(r, 1, 1))
			return 0;
	return dp_bernoulli_exp(r, num % den, den);
}

int64_t
dp_laplace(struct dp_rng *r, uint64_t s, uint64_t t)
{
	for (;;) {
		uint64_t u = dp_uniform(r, t), v = 0, x, y;
		int neg;

		if (!dp_bernoulli_exp(r, u, t))
			continue;
		while (dp_bernoulli_exp(r, 1, 1))
			v++;
		x = u + t * v;
		y = x / s;
		neg = (int)dp_uniform(r, 2);
		if (neg && y == 0)
			continue;
		return neg ? -(int64_t)y : (int64_t)y;
	}
}
