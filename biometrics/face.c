/* SPDX-License-Identifier: Apache-2.0 */
/* Face matcher: int8 templates with a recorded scale, cosine by SIMD dot products chosen at run
 * time. */
#include "face.h"

#include <math.h>
#include <string.h>
#include <immintrin.h>

/* Dot products of the probe with n gallery rows. probe_sum = sum of the probe's values. */
typedef void (*face_kernel_fn)(
	const int8_t *probe, int32_t probe_sum, const int8_t *gallery, size_t n, int32_t *dots);

static void
kernel_scalar(
	const int8_t *probe, int32_t probe_sum, const int8_t *gallery, size_t n, int32_t *dots)
{
	size_t i;
	int k;

	(void)probe_sum;
	for (i = 0; i < n; i++) {
		const int8_t *g = gallery + i * BIO_FACE_DIM;
		int32_t s = 0;

		for (k = 0; k < BIO_FACE_DIM; k++)
			s += (int32_t)probe[k] * (int32_t)g[k];
		dots[i] = s;
	}
}

/*
 * maddubs multiplies unsigned by signed bytes: |g| times sign(p, g) equals g * p, and with values
 * in -127..127 the pairwise i16 sums (at most 2 * 127 * 127) never saturate.
 */
__attribute__((target("avx2"))) static void
kernel_avx2(const int8_t *probe, int32_t probe_sum, const int8_t *gallery, size_t n, int32_t *dots)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i p[BIO_FACE_DIM / 32];
	size_t i;
	int k;

	(void)probe_sum;
	for (k = 0; k < BIO_FACE_DIM / 32; k++)
		p[k] = _mm256_loadu_si256((const __m256i *)(probe + 32 * k));
	for (i = 0; i < n; i++) {
		const int8_t *g = gallery + i * BIO_FACE_DIM;
		__m256i acc = _mm256_setzero_si256();
		__m128i t;

		for (k = 0; k < BIO_FACE_DIM / 32; k++) {
			__m256i gv = _mm256_load_si256((const __m256i *)(g + 32 * k));
			__m256i prod = _mm256_maddubs_epi16(
				_mm256_abs_epi8(gv), _mm256_sign_epi8(p[k], gv));

			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(prod, ones));
		}
		t = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
		t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
		t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
		dots[i] = _mm_cvtsi128_si32(t);
	}
}

/*
 * vpdpbusd multiplies unsigned by signed bytes: (g ^ 0x80) = g + 128 as unsigned, so the sum is
 * g . p + 128 * sum(p), corrected once per probe.
 */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
kernel_avx512vnni(
	const int8_t *probe, int32_t probe_sum, const int8_t *gallery, size_t n, int32_t *dots)
{
	const __m512i bias = _mm512_set1_epi8((char)0x80);
	__m512i p[BIO_FACE_DIM / 64];
	size_t i;
	int k;

	for (k = 0; k < BIO_FACE_DIM / 64; k++)
		p[k] = _mm512_loadu_si512((const void *)(probe + 64 * k));
	/* two rows per step: more loads in flight, which is what bounds a scan of 0.5 GB */
	for (i = 0; i + 1 < n; i += 2) {
		const int8_t *g = gallery + i * BIO_FACE_DIM, *h = g + BIO_FACE_DIM;
		__m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
		__m512i b0 = _mm512_setzero_si512(), b1 = _mm512_setzero_si512();

		for (k = 0; k < 8; k++)
			_mm_prefetch(
				(const char *)(g + 8 * BIO_FACE_DIM + 64 * k * 2), _MM_HINT_T0);
		for (k = 0; k < BIO_FACE_DIM / 64; k += 2) {
			__m512i g0 = _mm512_xor_si512(
				_mm512_load_si512((const void *)(g + 64 * k)), bias);
			__m512i g1 = _mm512_xor_si512(
				_mm512_load_si512((const void *)(g + 64 * (k + 1))), bias);
			__m512i h0 = _mm512_xor_si512(
				_mm512_load_si512((const void *)(h + 64 * k)), bias);
			__m512i h1 = _mm512_xor_si512(
				_mm512_load_si512((const void *)(h + 64 * (k + 1))), bias);

			a0 = _mm512_dpbusd_epi32(a0, g0, p[k]);
			a1 = _mm512_dpbusd_epi32(a1, g1, p[k + 1]);
			b0 = _mm512_dpbusd_epi32(b0, h0, p[k]);
			b1 = _mm512_dpbusd_epi32(b1, h1, p[k + 1]);
		}
		dots[i] = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1)) - 128 * probe_sum;
		dots[i + 1] = _mm512_reduce_add_epi32(_mm512_add_epi32(b0, b1)) - 128 * probe_sum;
	}
	for (; i < n; i++) {
		const int8_t *g = gallery + i * BIO_FACE_DIM;
		__m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();

		for (k = 0; k < BIO_FACE_DIM / 64; k += 2) {
			__m512i g0 = _mm512_xor_si512(
				_mm512_load_si512((const void *)(g + 64 * k)), bias);
			__m512i g1 = _mm512_xor_si512(
				_mm512_load_si512((const void *)(g + 64 * (k + 1))), bias);

			a0 = _mm512_dpbusd_epi32(a0, g0, p[k]);
			a1 = _mm512_dpbusd_epi32(a1, g1, p[k + 1]);
		}
		dots[i] = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1)) - 128 * probe_sum;
	}
}

static const struct {
	const char *name;
	face_kernel_fn fn;
} kernels[] = {
	{"avx512vnni", kernel_avx512vnni},
	{"avx2", kernel_avx2},
	{"scalar", kernel_scalar},
};

static face_kernel_fn chosen;
static const char *chosen_name;

static int
cpu_has(const char *name)
{
	__builtin_cpu_init();
	if (strcmp(name, "avx512vnni") == 0)
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512vnni");
	if (strcmp(name, "avx2") == 0)
		return __builtin_cpu_supports("avx2");
	return strcmp(name, "scalar") == 0;
}

static face_kernel_fn
kernel(void)
{
	face_kernel_fn fn = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
	size_t i;

	if (fn != NULL)
		return fn;
	for (i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
		if (cpu_has(kernels[i].name))
			break;
	__atomic_store_n(&chosen_name, kernels[i].name, __ATOMIC_RELEASE);
	__atomic_store_n(&chosen, kernels[i].fn, __ATOMIC_RELEASE);
	return kernels[i].fn;
}

const char *
face_impl_name(void)
{
	(void)kernel();
	return __atomic_load_n(&chosen_name, __ATOMIC_ACQUIRE);
}

int
face_set_impl(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		if (strcmp(name, kernels[i].name) != 0)
			continue;
		if (!cpu_has(name))
			return PASO_E_NOT_FOUND;
		__atomic_store_n(&chosen_name, kernels[i].name, __ATOMIC_RELEASE);
		__atomic_store_n(&chosen, kernels[i].fn, __ATOMIC_RELEASE);
		return 0;
	}
	return PASO_E_NOT_FOUND;
}

/*
 * Four values at a time with SSE2 (every crossing quantizes its probe: with a libm lrint call a
 * value this was ~7% of the hub's user time). The values are those of lrint(v[k] / scale):
 * |v[k] / scale| <= 127.00002, and adding then subtracting 1.5 * 2^23 rounds a float that small
 * to the nearest integer, ties to even, as lrint does in the default rounding mode.
 */
int
face_quantize(const float v[BIO_FACE_DIM], struct face_q *out, struct paso_diag *d)
{
	const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
	const __m128 fmax = _mm_set1_ps(0x1.fffffep127f), magic = _mm_set1_ps(0x1.8p23f);
	const __m128 hi = _mm_set1_ps(127.0f), lo = _mm_set1_ps(-127.0f);
	__m128 amax = _mm_setzero_ps(), a, s;
	__m128i acc = _mm_setzero_si128(), q[4], w0, w1;
	float m[4], scale;
	int32_t ss[4];
	int k, j, bad = 0;

	memset(out, 0, sizeof(*out));
	for (k = 0; k < BIO_FACE_DIM; k += 4) {
		a = _mm_and_ps(_mm_loadu_ps(v + k), absmask);
		bad |= _mm_movemask_ps(_mm_cmple_ps(a, fmax)) ^ 0xf; /* NaN or infinite */
		amax = _mm_max_ps(amax, a);
	}
	if (bad) {
		for (k = 0; isfinite(v[k]); k++)
			;
		return paso_diag_set(d, PASO_E_FIELD_RANGE, "face[%d] is not a finite number", k);
	}
	_mm_storeu_ps(m, amax);
	m[0] = m[0] > m[1] ? m[0] : m[1];
	m[2] = m[2] > m[3] ? m[2] : m[3];
	m[0] = m[0] > m[2] ? m[0] : m[2];
	if (m[0] == 0)
		return paso_diag_set(d, PASO_E_FIELD_RANGE, "face embedding is all zeros");
	scale = (float)((double)m[0] / 127.0);
	s = _mm_set1_ps(scale);
	for (k = 0; k < BIO_FACE_DIM; k += 16) {
		for (j = 0; j < 4; j++) {
			a = _mm_div_ps(_mm_loadu_ps(v + k + 4 * j), s);
			a = _mm_sub_ps(_mm_add_ps(a, magic), magic);
			q[j] = _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(a, lo), hi));
		}
		w0 = _mm_packs_epi32(q[0], q[1]);
		w1 = _mm_packs_epi32(q[2], q[3]);
		acc = _mm_add_epi32(acc, _mm_madd_epi16(w0, w0));
		acc = _mm_add_epi32(acc, _mm_madd_epi16(w1, w1));
		_mm_storeu_si128((__m128i *)(void *)(out->q + k), _mm_packs_epi16(w0, w1));
	}
	_mm_storeu_si128((__m128i *)(void *)ss, acc);
	out->scale = scale;
	out->inv_norm = (float)(1.0 / sqrt((double)ss[0] + ss[1] + ss[2] + ss[3]));
	return 0;
}

double
face_cosine_f(const float a[BIO_FACE_DIM], const float b[BIO_FACE_DIM])
{
	double ab = 0, aa = 0, bb = 0;
	int k;

	for (k = 0; k < BIO_FACE_DIM; k++) {
		ab += (double)a[k] * b[k];
		aa += (double)a[k] * a[k];
		bb += (double)b[k] * b[k];
	}
	if (aa == 0 || bb == 0)
		return 0;
	return ab / sqrt(aa * bb);
}

static int32_t
sum_q(const int8_t *q)
{
	int32_t s = 0;
	int k;

	for (k = 0; k < BIO_FACE_DIM; k++)
		s += q[k];
	return s;
}

int32_t
face_dot(const int8_t a[BIO_FACE_DIM], const int8_t b[BIO_FACE_DIM])
{
	_Alignas(64) int8_t g[BIO_FACE_DIM];
	int32_t dot;

	/* kernels read the gallery side aligned */
	memcpy(g, b, sizeof(g));
	kernel()(a, sum_q(a), g, 1, &dot);
	return dot;
}

double
face_cosine_q(const struct face_q *a, const struct face_q *b)
{
	int32_t dot;

	kernel()(a->q, sum_q(a->q), b->q, 1, &dot);
	return (double)dot * a->inv_norm * b->inv_norm;
}

void
face_scan(const struct face_q *probe, const int8_t *gallery, const float *inv_norm, size_t n,
	float *out)
{
	enum { BLOCK = 256 };
	face_kernel_fn fn = kernel();
	int32_t ps = sum_q(probe->q), dots[BLOCK];
	size_t i, j, m;

	for (i = 0; i < n; i += m) {
		m = n - i < BLOCK ? n - i : BLOCK;
		fn(probe->q, ps, gallery + i * BIO_FACE_DIM, m, dots);
		for (j = 0; j < m; j++)
			out[i + j] = (float)dots[j] * probe->inv_norm * inv_norm[i + j];
	}
}

void
face_scan_idx(const struct face_q *probe, const int8_t *gallery, const float *inv_norm,
	const uint32_t *idx, size_t n, float *out)
{
	face_kernel_fn fn = kernel();
	int32_t ps = sum_q(probe->q), dot;
	size_t j;
	int k;

	for (j = 0; j < n; j++) {
		/* rows are scattered: ask for the row after next while this one is scored */
		if (j + 2 < n)
			for (k = 0; k < BIO_FACE_DIM / 64; k++)
				_mm_prefetch(
					(const char *)(gallery + (size_t)idx[j + 2] * BIO_FACE_DIM +
						       64 * k),
					_MM_HINT_T0);
		fn(probe->q, ps, gallery + (size_t)idx[j] * BIO_FACE_DIM, 1, &dot);
		out[j] = (float)dot * probe->inv_norm * inv_norm[idx[j]];
	}
}

/* A restart sketches every face it loads: the sign bits of 64 bytes in one instruction. */
__attribute__((target("avx512f,avx512bw"))) static void
sketch_avx512(const int8_t *q, uint64_t *out)
{
	int k;

	for (k = 0; k < FACE_SKETCH_WORDS; k++)
		out[k] = (uint64_t)_mm512_movepi8_mask(
			_mm512_loadu_si512((const void *)(q + 64 * k)));
}

void
face_sketch(const int8_t q[BIO_FACE_DIM], uint64_t out[FACE_SKETCH_WORDS])
{
	int k;

	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
		sketch_avx512(q, out);
		return;
	}
	memset(out, 0, FACE_SKETCH_WORDS * sizeof(*out));
	for (k = 0; k < BIO_FACE_DIM; k++)
		if (q[k] < 0)
			out[k / 64] |= 1ull << (k % 64);
}

void
face_sketch_put(uint64_t *groups, size_t i, const uint64_t sk[FACE_SKETCH_WORDS])
{
	uint64_t *g = groups + (i / FACE_SKETCH_GROUP) * FACE_SKETCH_GROUP * FACE_SKETCH_WORDS +
		      i % FACE_SKETCH_GROUP;
	int k;

	for (k = 0; k < FACE_SKETCH_WORDS; k++)
		g[k * FACE_SKETCH_GROUP] = sk[k];
}

void
face_sketch_get(const uint64_t *groups, size_t i, uint64_t sk[FACE_SKETCH_WORDS])
{
	const uint64_t *g = groups +
			    (i / FACE_SKETCH_GROUP) * FACE_SKETCH_GROUP * FACE_SKETCH_WORDS +
			    i % FACE_SKETCH_GROUP;
	int k;

	for (k = 0; k < FACE_SKETCH_WORDS; k++)
		sk[k] = g[k * FACE_SKETCH_GROUP];
}

static size_t
select_scalar(const uint64_t *p, const uint64_t *groups, size_t n, unsigned thr, uint32_t first,
	uint32_t *idx, uint16_t *ham)
{
	uint64_t sk[FACE_SKETCH_WORDS];
	size_t i, out = 0;
	unsigned d;
	int k;

	for (i = 0; i < n; i++) {
		face_sketch_get(groups, i, sk);
		for (d = 0, k = 0; k < FACE_SKETCH_WORDS; k++)
			d += (unsigned)__builtin_popcountll(p[k] ^ sk[k]);
		if (d <= thr) {
			idx[out] = first + (uint32_t)i;
			ham[out++] = (uint16_t)d;
		}
	}
	return out;
}

/*
 * A group of eight faces per step: word k of the eight is one register, xored with the probe's
 * word k broadcast, counted and added: eight distances with no reduction, then one compare.
 */
__attribute__((target("avx512f,avx512vpopcntdq"))) static size_t
select_avx512(const uint64_t *p, const uint64_t *groups, size_t n, unsigned thr, uint32_t first,
	uint32_t *idx, uint16_t *ham)
{
	const __m512i t = _mm512_set1_epi64((long long)thr);
	__m512i pw[FACE_SKETCH_WORDS];
	_Alignas(64) uint64_t d[FACE_SKETCH_GROUP];
	size_t i, out = 0;
	int k;

	for (k = 0; k < FACE_SKETCH_WORDS; k++)
		pw[k] = _mm512_set1_epi64((long long)p[k]);
	for (i = 0; i + FACE_SKETCH_GROUP <= n; i += FACE_SKETCH_GROUP) {
		const __m512i *g = (const __m512i *)(groups + i * FACE_SKETCH_WORDS);
		__m512i s = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_load_si512(g), pw[0]));
		__mmask8 m;

		for (k = 1; k < FACE_SKETCH_WORDS; k++)
			s = _mm512_add_epi64(s, _mm512_popcnt_epi64(_mm512_xor_si512(
							_mm512_load_si512(g + k), pw[k])));
		if ((m = _mm512_cmple_epu64_mask(s, t)) == 0)
			continue;
		_mm512_store_si512((void *)d, s);
		while (m != 0) {
			k = __builtin_ctz(m);
			m &= (__mmask8)(m - 1);
			idx[out] = first + (uint32_t)(i + (size_t)k);
			ham[out++] = (uint16_t)d[k];
		}
	}
	if (i < n)
		out += select_scalar(p, groups + i * FACE_SKETCH_WORDS, n - i, thr,
			first + (uint32_t)i, idx + out, ham + out);
	return out;
}

size_t
face_sketch_select(const uint64_t probe[FACE_SKETCH_WORDS], const uint64_t *groups, size_t n,
	unsigned thr, uint32_t first, uint32_t *idx, uint16_t *ham)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq"))
		return select_avx512(probe, groups, n, thr, first, idx, ham);
	return select_scalar(probe, groups, n, thr, first, idx, ham);
}
