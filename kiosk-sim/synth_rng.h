/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to kiosk-sim: a seeded xoshiro256** generator for deterministic synthetic data (not
 * crypto). */
#ifndef PASO_SYNTH_RNG_H
#define PASO_SYNTH_RNG_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sodium.h>

struct synth_rng {
	uint64_t s[4];
	int has_spare;
	double spare;
};

/* Seeds from BLAKE2b(key = seed, label || a || b): independent streams per purpose. */
static inline void
synth_rng_init(
	struct synth_rng *r, const uint8_t seed[32], const char *label, uint64_t a, uint64_t b)
{
	crypto_generichash_state st;
	uint8_t buf[16], out[32];
	int i;

	crypto_generichash_init(&st, seed, 32, sizeof(out));
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	for (i = 0; i < 8; i++) {
		buf[i] = (uint8_t)(a >> (8 * i));
		buf[8 + i] = (uint8_t)(b >> (8 * i));
	}
	crypto_generichash_update(&st, buf, sizeof(buf));
	crypto_generichash_final(&st, out, sizeof(out));
	memcpy(r->s, out, sizeof(r->s));
	if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
		r->s[0] = 1;
	r->has_spare = 0;
	r->spare = 0;
}

static inline uint64_t
synth_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t
synth_u64(struct synth_rng *r)
{
	uint64_t *s = r->s, res = synth_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = synth_rotl(s[3], 45);
	return res;
}

/* Uniform in [0, 1). */
static inline double
synth_uniform(struct synth_rng *r)
{
	return (double)(synth_u64(r) >> 11) * 0x1.0p-53;
}

/* Standard normal (polar Box-Muller). */
static inline double
synth_normal(struct synth_rng *r)
{
	double u, v, s, f;

	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	do {
		u = 2 * synth_uniform(r) - 1;
		v = 2 * synth_uniform(r) - 1;
		s = u * u + v * v;
	} while (s >= 1 || s == 0);
	f = sqrt(-2 * log(s) / s);
	r->spare = v * f;
	r->has_spare = 1;
	return u * f;
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply; bias below 2^-32 for our n). */
static inline uint32_t
synth_below(struct synth_rng *r, uint32_t n)
{
	return (uint32_t)(((synth_u64(r) >> 32) * (uint64_t)n) >> 32);
}

#endif
