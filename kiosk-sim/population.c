/* SPDX-License-Identifier: Apache-2.0 */
/* Synthetic people from a seed: category, unique card number and stable face, iris and finger
 * traits. */
#include "population.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "errors.h"
#include "synth_rng.h"

/*
 * Calibration constants; docs/biometrics.md gives the sources and the measured results.
 * Iris: the code is the sign of a Gaussian field smoothed over rings (IRIS_SIGMA_R) and angle
 * (IRIS_SIGMA_A) so that two people's codes disagree on a binomial-like fraction of bits with about
 * 249 degrees of freedom (Daugman 2004); IRIS_COMMON is the correlation every iris shares (the
 * radial structure of all eyes), which moves the impostor mean from 0.500 to 0.499.
 * Face: eigenvalues k^-FACE_ALPHA give a participation ratio of 236, so impostor cosines spread
 * with sd 1/sqrt(236) = 0.065 around 0.
 */
#define IRIS_SIGMA_R 1.0
#define IRIS_SIGMA_A 2.6
#define IRIS_COMMON 0.00314
#define FACE_ALPHA 0.55

#define PAD_R 3
#define ROWS (8 + 2 * PAD_R)
#define ANG 128
#define KA 8 /* angular kernel radius, about 3 sigma */

struct population {
	uint64_t seed;
	uint32_t n;
	uint8_t key[32];   /* every person's seed derives from it */
	uint64_t card_mul; /* card body = index * card_mul + card_add mod 1e9: a bijection */
	uint64_t card_add;
	float *iris_common; /* the structure every iris shares: derived once, not per person */
};

static const struct {
	int category;
	unsigned permille;
	const char *name;
	const char *prefix;
} categories[] = {
	{CAT_REGIONAL_VISITOR, 550, "regional_visitor", "TVR-"},
	{CAT_BORDER_WORKER, 150, "border_worker", "TTF-"},
	{CAT_MIGRANT_IN_TRANSIT, 200, "migrant_in_transit", "MIG-"},
	{CAT_DETAINEE, 100, "detainee", "DET-"},
};

#define NCAT (sizeof(categories) / sizeof(categories[0]))

unsigned
population_category_share(int category)
{
	size_t i;

	for (i = 0; i < NCAT; i++)
		if (categories[i].category == category)
			return categories[i].permille;
	return 0;
}

const char *
population_category_name(int category)
{
	size_t i;

	for (i = 0; i < NCAT; i++)
		if (categories[i].category == category)
			return categories[i].name;
	return "unknown";
}

int
population_new(uint64_t seed, uint32_t n, struct population **out)
{
	static const uint8_t domain[32] = "paso population v1";
	static const uint8_t common_seed[32] = "paso iris common structure v1";
	struct population *p;
	struct synth_rng r;
	uint8_t buf[8];
	int i;

	*out = NULL;
	if (n == 0 || n > 100000000u)
		return PASO_E_INVALID_ARG;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return PASO_E_NOMEM;
	if ((p->iris_common = malloc(sizeof(float) * BIO_IRIS_BITS)) == NULL) {
		free(p);
		return PASO_E_NOMEM;
	}
	population_iris_field(common_seed, p->iris_common);
	p->seed = seed;
	p->n = n;
	for (i = 0; i < 8; i++)
		buf[i] = (uint8_t)(seed >> (8 * i));
	crypto_generichash(p->key, sizeof(p->key), buf, sizeof(buf), domain, sizeof(domain));
	synth_rng_init(&r, p->key, "cards", 0, 0);
	/* coprime with 10^9: odd and not a multiple of 5 */
	do {
		p->card_mul = 100000007u + synth_below(&r, 800000000u);
	} while (p->card_mul % 2 == 0 || p->card_mul % 5 == 0);
	p->card_add = synth_below(&r, 1000000000u);
	*out = p;
	return 0;
}

void
population_free(struct population *p)
{
	if (p == NULL)
		return;
	free(p->iris_common);
	sodium_memzero(p, sizeof(*p));
	free(p);
}

uint32_t
population_size(const struct population *p)
{
	return p->n;
}

uint64_t
population_seed(const struct population *p)
{
	return p->seed;
}

static int
luhn_digit(const char *digits, size_t len)
{
	int sum = 0, dbl = 1;
	size_t i;

	for (i = len; i-- > 0;) {
		int d = digits[i] - '0';

		if (dbl) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		dbl = !dbl;
	}
	return (10 - sum % 10) % 10;
}

int
population_person(const struct population *p, uint32_t i, struct person_info *out)
{
	uint8_t idx[4] = {(uint8_t)i, (uint8_t)(i >> 8), (uint8_t)(i >> 16), (uint8_t)(i >> 24)};
	struct synth_rng r;
	uint64_t body;
	unsigned u, acc = 0;
	size_t c;
	char digits[12];
	int len;

	memset(out, 0, sizeof(*out));
	if (i >= p->n)
		return PASO_E_INVALID_ARG;
	out->index = i;
	crypto_generichash(out->seed, sizeof(out->seed), idx, sizeof(idx), p->key, sizeof(p->key));
	synth_rng_init(&r, out->seed, "category", 0, 0);
	u = synth_below(&r, 1000);
	for (c = 0; c < NCAT - 1; c++) {
		acc += categories[c].permille;
		if (u < acc)
			break;
	}
	out->category = categories[c].category;
	body = ((uint64_t)i * p->card_mul + p->card_add) % 1000000000u;
	len = snprintf(digits, sizeof(digits), "%09llu", (unsigned long long)body);
	if (len != 9)
		return PASO_E_INTERNAL;
	digits[9] = (char)('0' + luhn_digit(digits, 9));
	digits[10] = '\0';
	len = snprintf(out->card, sizeof(out->card), "%s%s", categories[c].prefix, digits);
	if (len < 0 || (size_t)len >= sizeof(out->card))
		return PASO_E_INTERNAL;
	return 0;
}

/* Normalised Gaussian kernel weights; the field is divided by the kernel's L2 norm. */
static void
kernel(double sigma, int radius, double *w, double *l2)
{
	double s = 0, s2 = 0;
	int k;

	for (k = -radius; k <= radius; k++) {
		w[k + radius] = exp(-(double)(k * k) / (2 * sigma * sigma));
		s += w[k + radius];
	}
	for (k = 0; k <= 2 * radius; k++) {
		w[k] /= s;
		s2 += w[k] * w[k];
	}
	*l2 = sqrt(s2);
}

/* Four doubles: GCC and Clang turn arithmetic on it into vector operations (AVX2 where the
 * CPU has it, pairs of SSE2 operations otherwise), one IEEE operation per lane, so a lane
 * computes exactly what the scalar expression would; no fused multiply-add is enabled. */
typedef double quad_d __attribute__((vector_size(32)));

#define BLOCK 8 /* outputs a block keeps in registers: two quads */

/*
 * out[t] = sum over k in [0, nk) of w[k] * in[t + k * stride], for t in [0, n), n a multiple of
 * BLOCK: each output's terms are added in k order starting from 0, as one sum per output would
 * add them, but BLOCK outputs at a time held in registers (a row at a time, as before, read and
 * wrote every partial sum to memory nk times).
 */
__attribute__((target_clones("avx2", "default"))) static void
convolve(const double *in, size_t stride, const double *w, int nk, double *out, int n)
{
	int t, k;

	for (t = 0; t < n; t += BLOCK) {
		quad_d a0 = {0, 0, 0, 0}, a1 = {0, 0, 0, 0};

		for (k = 0; k < nk; k++) {
			const double *x = in + (size_t)k * stride + t;
			quad_d wk = {w[k], w[k], w[k], w[k]}, x0, x1;

			memcpy(&x0, x, sizeof(x0));
			memcpy(&x1, x + 4, sizeof(x1));
			a0 += wk * x0;
			a1 += wk * x1;
		}
		memcpy(out + t, &a0, sizeof(a0));
		memcpy(out + t + 4, &a1, sizeof(a1));
	}
}

static void
smooth_field(struct synth_rng *r, float field[BIO_IRIS_BITS])
{
	static double wa[2 * KA + 1], wr[2 * PAD_R + 1], la, lr;
	static int init; /* idempotent: racing threads write identical values */
	double white[ROWS][ANG + 2 * KA], tmp[ROWS][ANG], acc[ANG];
	int c, row, t, k;

	if (!__atomic_load_n(&init, __ATOMIC_ACQUIRE)) {
		kernel(IRIS_SIGMA_A, KA, wa, &la);
		kernel(IRIS_SIGMA_R, PAD_R, wr, &lr);
		__atomic_store_n(&init, 1, __ATOMIC_RELEASE);
	}
	for (c = 0; c < 2; c++) {
		/* Each row is stored with KA wrapped values on either side, so the circular
		 * convolution needs no modulo (same terms, same order: the same bits). */
		for (row = 0; row < ROWS; row++) {
			synth_normals_zig(r, &white[row][KA], ANG);
			for (k = 0; k < KA; k++) {
				white[row][k] = white[row][ANG + k];
				white[row][KA + ANG + k] = white[row][KA + k];
			}
		}
		/* Along the angle (neighbouring values of a row), then along the radius (the same
		 * angle in neighbouring rows); the same terms in the same order as one sum per
		 * output (test_population: test_iris_field_bits). */
		for (row = 0; row < ROWS; row++)
			convolve(white[row], 1, wa, 2 * KA + 1, tmp[row], ANG);
		for (row = 0; row < 8; row++) {
			convolve(tmp[row], ANG, wr, 2 * PAD_R + 1, acc, ANG);
			for (t = 0; t < ANG; t++)
				field[row * 256 + 2 * t + c] = (float)(acc[t] / (la * lr));
		}
	}
}

void
population_iris_field(const uint8_t rng_seed[32], float field[BIO_IRIS_BITS])
{
	struct synth_rng r;

	synth_rng_init(&r, rng_seed, "iris-field", 0, 0);
	smooth_field(&r, field);
}

/* In-place fast Walsh-Hadamard transform, orthonormal. */
static void
fwht(double *v, int n)
{
	int h, i, j;

	for (h = 1; h < n; h *= 2)
		for (i = 0; i < n; i += 2 * h)
			for (j = i; j < i + h; j++) {
				double a = v[j], b = v[j + h];

				v[j] = a + b;
				v[j + h] = a - b;
			}
	for (i = 0; i < n; i++)
		v[i] /= sqrt((double)n);
}

void
population_face_vector(const uint8_t rng_seed[32], float v[BIO_FACE_DIM])
{
	/* The "model's basis": fixed signs, the same for every population. */
	static const uint8_t basis_seed[32] = "paso face basis v1";
	/* Each dimension's sd and sign, the same for every vector: made once (idempotent: racing
	 * threads write identical values), not a pow and a draw per dimension per vector. */
	static double sd[BIO_FACE_DIM], sign[BIO_FACE_DIM];
	static int init;
	struct synth_rng r, b;
	double x[BIO_FACE_DIM];
	int k;

	if (!__atomic_load_n(&init, __ATOMIC_ACQUIRE)) {
		synth_rng_init(&b, basis_seed, "signs", 0, 0);
		for (k = 0; k < BIO_FACE_DIM; k++) {
			sd[k] = pow((double)(k + 1), -FACE_ALPHA / 2);
			sign[k] = (synth_u64(&b) & 1) ? 1.0 : -1.0;
		}
		__atomic_store_n(&init, 1, __ATOMIC_RELEASE);
	}
	synth_rng_init(&r, rng_seed, "face-vector", 0, 0);
	for (k = 0; k < BIO_FACE_DIM; k++)
		x[k] = sd[k] * synth_normal(&r) * sign[k];
	/* A signed Hadamard rotation spreads the energy over every dimension, as a trained model's
	 * embedding has no privileged axes; it keeps every cosine and helps int8 quantisation. */
	fwht(x, BIO_FACE_DIM);
	for (k = 0; k < BIO_FACE_DIM; k++)
		v[k] = (float)x[k];
}

int
population_bio(const struct population *p, uint32_t i, struct person_bio *out)
{
	return population_bio_some(p, i, BIO_FINGER | BIO_FACE | BIO_IRIS, out);
}

int
population_bio_some(const struct population *p, uint32_t i, unsigned want, struct person_bio *out)
{
	const float *common = p->iris_common;
	struct person_info info;
	struct synth_rng r;
	double a = sqrt(1 - IRIS_COMMON), b = sqrt(IRIS_COMMON);
	int e, k, ret;

	memset(out, 0, sizeof(*out));
	if ((ret = population_person(p, i, &info)) != 0)
		return ret;
	/* Every trait has its own stream, so leaving one out changes none of the others. */
	synth_rng_init(&r, info.seed, "traits", 0, 0);
	if (want & BIO_FACE)
		population_face_vector(info.seed, out->face_id);
	out->face_var = (float)exp(0.35 * synth_normal(&r));
	for (e = 0; e < 2; e++) {
		uint8_t es[32];

		synth_rng_init(&r, info.seed, "eye", (uint64_t)e, 0);
		for (k = 0; k < 32; k++)
			es[k] = (uint8_t)synth_u64(&r);
		if (want & BIO_IRIS) {
			population_iris_field(es, out->iris_field[e]);
			for (k = 0; k < BIO_IRIS_BITS; k++)
				out->iris_field[e][k] =
					(float)(a * out->iris_field[e][k] + b * common[k]);
		}
		out->iris_var[e] = (float)exp(0.3 * synth_normal(&r));
		/* unilateral blindness or an eye too damaged to image: about 0.3% of eyes */
		out->eye_ok[e] = synth_uniform(&r) >= 0.003;
		sodium_memzero(es, sizeof(es));
	}
	synth_rng_init(&r, info.seed, "fingers", 0, 0);
	out->finger_mask = 0;
	for (k = 0; k < 10; k++)
		if (synth_uniform(&r) >= 0.0015) /* missing or amputated finger */
			out->finger_mask |= 1u << k;
	sodium_memzero(&info, sizeof(info));
	return 0;
}

void
population_bio_wipe(struct person_bio *b)
{
	if (b != NULL)
		sodium_memzero(b, sizeof(*b));
}
