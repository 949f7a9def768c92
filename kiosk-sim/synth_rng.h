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

/*
 * Standard normal by the ziggurat method (Marsaglia and Tsang, "The ziggurat method for
 * generating random variables", J. Stat. Softw. 5(8), 2000): the density's right half covered by
 * 256 layers of equal area V, the bottom one a rectangle under the curve up to R plus the tail
 * beyond. A layer and a point in it are drawn; most points lie under the curve's rectangle part
 * and are returned at once (one 64-bit draw: 8 bits choose the layer, 1 the sign, 53 the point,
 * none shared, Doornik's caution). The wedges are tested against the density itself and the
 * tail is drawn by Marsaglia's exponential method, so the result is exactly normal up to double
 * rounding, as the polar method's is; about a fifth of synth_normal's time.
 */
#define SYNTH_ZIG_N 256
#define SYNTH_ZIG_R 3.6541528853610088
#define SYNTH_ZIG_V 0.00492867323399

struct synth_zig {
	double x[SYNTH_ZIG_N + 1]; /* layer i spans [0, x[i]); x[0] = V / f(R) for the base */
	double f[SYNTH_ZIG_N + 1]; /* exp(-x[i]^2 / 2) */
};

/* The layers (computed once; racing threads write identical values). */
static inline const struct synth_zig *
synth_zig_table(void)
{
	static struct synth_zig z;
	static int init;
	int i;

	if (__atomic_load_n(&init, __ATOMIC_ACQUIRE))
		return &z;
	z.x[0] = SYNTH_ZIG_V / exp(-0.5 * SYNTH_ZIG_R * SYNTH_ZIG_R);
	z.x[1] = SYNTH_ZIG_R;
	for (i = 1; i < SYNTH_ZIG_N - 1; i++)
		z.x[i + 1] = sqrt(-2 * log(SYNTH_ZIG_V / z.x[i] + exp(-0.5 * z.x[i] * z.x[i])));
	z.x[SYNTH_ZIG_N] = 0;
	for (i = 0; i <= SYNTH_ZIG_N; i++)
		z.f[i] = exp(-0.5 * z.x[i] * z.x[i]);
	__atomic_store_n(&init, 1, __ATOMIC_RELEASE);
	return &z;
}

/* A draw u whose point fell outside its layer's rectangle part: the wedge or tail test, and
 * whole new draws while they fail. */
static inline double
synth_zig_rest(struct synth_rng *r, const struct synth_zig *z, uint64_t u)
{
	for (;;) {
		int i = (int)(u & 0xff);
		double sign = (u & 0x100) ? -1.0 : 1.0;
		double x = (double)(u >> 11) * 0x1.0p-53 * z->x[i];

		if (x < z->x[i + 1])
			return sign * x;
		if (i == 0) {
			/* beyond R: R + a, a exponential with rate R, kept with probability
			 * exp(-a^2 / 2) (the uniforms are in (0, 1], so no log of 0) */
			double a, b;

			do {
				a = -log(1.0 - synth_uniform(r)) / SYNTH_ZIG_R;
				b = -log(1.0 - synth_uniform(r));
			} while (b + b < a * a);
			return sign * (SYNTH_ZIG_R + a);
		}
		if (z->f[i] + synth_uniform(r) * (z->f[i + 1] - z->f[i]) < exp(-0.5 * x * x))
			return sign * x;
		u = synth_u64(r);
	}
}

static inline double
synth_normal_zig(struct synth_rng *r)
{
	return synth_zig_rest(r, synth_zig_table(), synth_u64(r));
}

/*
 * n draws of synth_normal_zig, the same values in the same order, with the generator's state
 * held in locals between the rare wedge and tail draws (a call per draw kept it in memory:
 * three times slower).
 */
static inline void
synth_normals_zig(struct synth_rng *r, double *out, size_t n)
{
	const struct synth_zig *z = synth_zig_table();
	uint64_t s0 = r->s[0], s1 = r->s[1], s2 = r->s[2], s3 = r->s[3];
	size_t k;

	for (k = 0; k < n; k++) {
		uint64_t u = synth_rotl(s1 * 5, 7) * 9, t = s1 << 17;
		int i = (int)(u & 0xff);
		double x;

		s2 ^= s0;
		s3 ^= s1;
		s1 ^= s2;
		s0 ^= s3;
		s2 ^= t;
		s3 = synth_rotl(s3, 45);
		x = (double)(u >> 11) * 0x1.0p-53 * z->x[i];
		if (x < z->x[i + 1]) {
			/* -x by flipping the sign bit (x >= 0, so the same bits as -x): a
			 * branch on the sign bit would be mispredicted half the time */
			uint64_t bits;

			memcpy(&bits, &x, sizeof(bits));
			bits ^= (u & 0x100) << 55;
			memcpy(&out[k], &bits, sizeof(bits));
			continue;
		}
		r->s[0] = s0;
		r->s[1] = s1;
		r->s[2] = s2;
		r->s[3] = s3;
		out[k] = synth_zig_rest(r, z, u);
		s0 = r->s[0];
		s1 = r->s[1];
		s2 = r->s[2];
		s3 = r->s[3];
	}
	r->s[0] = s0;
	r->s[1] = s1;
	r->s[2] = s2;
	r->s[3] = s3;
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply; bias below 2^-32 for our n). */
static inline uint32_t
synth_below(struct synth_rng *r, uint32_t n)
{
	return (uint32_t)(((synth_u64(r) >> 32) * (uint64_t)n) >> 32);
}

#endif
