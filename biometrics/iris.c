/* SPDX-License-Identifier: Apache-2.0 */
/* Iris matcher: masked fractional Hamming distance over rotation shifts, with run-time SIMD choice.
 */
#include "iris.h"

#include <math.h>
#include <string.h>
#include <immintrin.h>

#include "errors.h"

/* The kernel: disagreeing and compared bit counts of one stored record against every shift. */
typedef void (*iris_kernel_fn)(const struct iris_probe *p, const uint8_t *gc, const uint8_t *gm,
	uint32_t diff[IRIS_NSHIFT], uint32_t n[IRIS_NSHIFT]);

static uint64_t
load64(const uint8_t *b)
{
	uint64_t v;

	memcpy(&v, b, sizeof(v)); /* little-endian hosts only, like the SIMD kernels */
	return v;
}

static void
kernel_scalar(const struct iris_probe *p, const uint8_t *gc, const uint8_t *gm,
	uint32_t diff[IRIS_NSHIFT], uint32_t n[IRIS_NSHIFT])
{
	int s, i;

	for (s = 0; s < IRIS_NSHIFT; s++) {
		uint32_t d = 0, c = 0;

		for (i = 0; i < BIO_IRIS_BYTES; i += 8) {
			uint64_t m = load64(p->mask[s] + i) & load64(gm + i);

			d += (uint32_t)__builtin_popcountll(
				(load64(p->code[s] + i) ^ load64(gc + i)) & m);
			c += (uint32_t)__builtin_popcountll(m);
		}
		diff[s] = d;
		n[s] = c;
	}
}

__attribute__((target("avx2"))) static inline __m256i
popcnt_bytes_avx2(__m256i v)
{
	const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1,
		1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
	const __m256i low = _mm256_set1_epi8(0x0f);
	__m256i lo = _mm256_and_si256(v, low);
	__m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);

	return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

__attribute__((target("avx2"))) static void
kernel_avx2(const struct iris_probe *p, const uint8_t *gc, const uint8_t *gm,
	uint32_t diff[IRIS_NSHIFT], uint32_t n[IRIS_NSHIFT])
{
	__m256i c[8], m[8];
	int s, i;

	for (i = 0; i < 8; i++) {
		c[i] = _mm256_loadu_si256((const __m256i *)(gc + 32 * i));
		m[i] = _mm256_loadu_si256((const __m256i *)(gm + 32 * i));
	}
	for (s = 0; s < IRIS_NSHIFT; s++) {
		/* byte counters stay below 8 * 8 = 64: no overflow before the final sum */
		__m256i ad = _mm256_setzero_si256(), an = _mm256_setzero_si256();

		for (i = 0; i < 8; i++) {
			__m256i pc = _mm256_load_si256((const __m256i *)(p->code[s] + 32 * i));
			__m256i pm = _mm256_load_si256((const __m256i *)(p->mask[s] + 32 * i));
			__m256i mm = _mm256_and_si256(pm, m[i]);
			__m256i x = _mm256_and_si256(_mm256_xor_si256(pc, c[i]), mm);

			ad = _mm256_add_epi8(ad, popcnt_bytes_avx2(x));
			an = _mm256_add_epi8(an, popcnt_bytes_avx2(mm));
		}
		/* one horizontal sum for both: n in the low half of each 64-bit lane, diff above */
		{
			__m256i z = _mm256_setzero_si256();
			__m256i both = _mm256_add_epi64(_mm256_sad_epu8(an, z),
				_mm256_slli_epi64(_mm256_sad_epu8(ad, z), 32));
			__m128i t = _mm_add_epi64(
				_mm256_castsi256_si128(both), _mm256_extracti128_si256(both, 1));
			uint64_t v =
				(uint64_t)_mm_cvtsi128_si64(t) + (uint64_t)_mm_extract_epi64(t, 1);

			diff[s] = (uint32_t)(v >> 32);
			n[s] = (uint32_t)v;
		}
	}
}

__attribute__((target("avx512f,avx512bw,avx512vpopcntdq,avx2"))) static void
kernel_avx512(const struct iris_probe *p, const uint8_t *gc, const uint8_t *gm,
	uint32_t diff[IRIS_NSHIFT], uint32_t n[IRIS_NSHIFT])
{
	__m512i c[4], m[4];
	int s, i;

	for (i = 0; i < 4; i++) {
		c[i] = _mm512_loadu_si512((const void *)(gc + 64 * i));
		m[i] = _mm512_loadu_si512((const void *)(gm + 64 * i));
	}
	for (s = 0; s < IRIS_NSHIFT; s++) {
		__m512i ad = _mm512_setzero_si512(), an = _mm512_setzero_si512();

		for (i = 0; i < 4; i++) {
			__m512i pc = _mm512_load_si512((const void *)(p->code[s] + 64 * i));
			__m512i pm = _mm512_load_si512((const void *)(p->mask[s] + 64 * i));
			__m512i mm = _mm512_and_si512(pm, m[i]);
			/* (pc ^ c) & mm in one instruction: truth table 0x28 */
			__m512i x = _mm512_ternarylogic_epi64(pc, c[i], mm, 0x28);

			ad = _mm512_add_epi64(ad, _mm512_popcnt_epi64(x));
			an = _mm512_add_epi64(an, _mm512_popcnt_epi64(mm));
		}
		/* one horizontal sum for both: n in the low half of each 64-bit lane, diff above */
		{
			__m512i both = _mm512_add_epi64(an, _mm512_slli_epi64(ad, 32));
			__m256i h = _mm256_add_epi64(
				_mm512_castsi512_si256(both), _mm512_extracti64x4_epi64(both, 1));
			__m128i t = _mm_add_epi64(
				_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
			uint64_t v =
				(uint64_t)_mm_cvtsi128_si64(t) + (uint64_t)_mm_extract_epi64(t, 1);

			diff[s] = (uint32_t)(v >> 32);
			n[s] = (uint32_t)v;
		}
	}
}

static const struct {
	const char *name;
	iris_kernel_fn fn;
} kernels[] = {
	{"avx512", kernel_avx512},
	{"avx2", kernel_avx2},
	{"scalar", kernel_scalar},
};

/* Chosen once; a benign race (every thread computes the same choice). */
static iris_kernel_fn chosen;
static const char *chosen_name;

/* sqrt(n / IRIS_NORM_BITS) and 1 / n for every n: no sqrt or division per shift. Filled before
 * the kernel pointer is published (release/acquire orders them). */
static double norm_sqrt[BIO_IRIS_BITS + 1], norm_inv[BIO_IRIS_BITS + 1];

static void
tables_init(void)
{
	int n;

	for (n = 0; n <= BIO_IRIS_BITS; n++) {
		norm_sqrt[n] = sqrt((double)n / IRIS_NORM_BITS);
		norm_inv[n] = n > 0 ? 1.0 / n : 0;
	}
}

static int
cpu_has(const char *name)
{
	__builtin_cpu_init();
	if (strcmp(name, "avx512") == 0)
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512vpopcntdq");
	if (strcmp(name, "avx2") == 0)
		return __builtin_cpu_supports("avx2");
	return strcmp(name, "scalar") == 0;
}

static iris_kernel_fn
kernel(void)
{
	iris_kernel_fn fn = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
	size_t i;

	if (fn != NULL)
		return fn;
	tables_init();
	for (i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
		if (cpu_has(kernels[i].name))
			break;
	__atomic_store_n(&chosen_name, kernels[i].name, __ATOMIC_RELEASE);
	__atomic_store_n(&chosen, kernels[i].fn, __ATOMIC_RELEASE);
	return kernels[i].fn;
}

const char *
iris_impl_name(void)
{
	(void)kernel();
	return __atomic_load_n(&chosen_name, __ATOMIC_ACQUIRE);
}

int
iris_set_impl(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		if (strcmp(name, kernels[i].name) != 0)
			continue;
		if (!cpu_has(name))
			return PASO_E_NOT_FOUND;
		tables_init();
		__atomic_store_n(&chosen_name, kernels[i].name, __ATOMIC_RELEASE);
		__atomic_store_n(&chosen, kernels[i].fn, __ATOMIC_RELEASE);
		return 0;
	}
	return PASO_E_NOT_FOUND;
}

void
iris_rotate(const uint8_t in[BIO_IRIS_BYTES], int shift, uint8_t out[BIO_IRIS_BYTES])
{
	/* out bit j of a row = in bit (j + k) mod 256 of that row, k = 2 * shift */
	unsigned k = (unsigned)(((shift % IRIS_ANGLES) + IRIS_ANGLES) % IRIS_ANGLES) * 2;
	unsigned q = k / 64, r = k % 64;
	int row, w;

	for (row = 0; row < IRIS_RINGS; row++) {
		const uint8_t *src = in + row * IRIS_ROW_BYTES;
		uint8_t *dst = out + row * IRIS_ROW_BYTES;
		uint64_t v[4], o;

		for (w = 0; w < 4; w++)
			v[w] = load64(src + 8 * w);
		for (w = 0; w < 4; w++) {
			o = v[(w + q) % 4] >> r;
			if (r != 0)
				o |= v[(w + q + 1) % 4] << (64 - r);
			memcpy(dst + 8 * w, &o, sizeof(o));
		}
	}
}

void
iris_probe_init(struct iris_probe *p, const uint8_t code[BIO_IRIS_BYTES],
	const uint8_t mask[BIO_IRIS_BYTES])
{
	int s;

	for (s = 0; s < IRIS_NSHIFT; s++) {
		iris_rotate(code, s - IRIS_SHIFT_MAX, p->code[s]);
		iris_rotate(mask, s - IRIS_SHIFT_MAX, p->mask[s]);
	}
}

static inline double
hd_norm(uint32_t diff, uint32_t n)
{
	return 0.5 - (0.5 - diff * norm_inv[n]) * norm_sqrt[n];
}

double
iris_hd_norm(unsigned diff, unsigned n)
{
	(void)kernel(); /* the tables */
	return n > BIO_IRIS_BITS ? 0.5 : hd_norm(diff, n);
}

static double
best_of(const uint32_t diff[IRIS_NSHIFT], const uint32_t n[IRIS_NSHIFT], unsigned *bits_out,
	int *shift_out)
{
	double best = -1.0, h;
	int s, bs = 0;

	for (s = 0; s < IRIS_NSHIFT; s++) {
		if (n[s] < IRIS_MIN_BITS)
			continue;
		h = hd_norm(diff[s], n[s]);
		if (best < 0 || h < best) {
			best = h;
			bs = s;
		}
	}
	if (bits_out != NULL)
		*bits_out = best < 0 ? 0 : n[bs];
	if (shift_out != NULL)
		*shift_out = bs - IRIS_SHIFT_MAX;
	return best;
}

double
iris_compare(const struct iris_probe *p, const uint8_t code[BIO_IRIS_BYTES],
	const uint8_t mask[BIO_IRIS_BYTES], unsigned *bits_out, int *shift_out)
{
	uint32_t diff[IRIS_NSHIFT], n[IRIS_NSHIFT];

	kernel()(p, code, mask, diff, n);
	return best_of(diff, n, bits_out, shift_out);
}

double
iris_compare_noshift(const uint8_t ca[BIO_IRIS_BYTES], const uint8_t ma[BIO_IRIS_BYTES],
	const uint8_t cb[BIO_IRIS_BYTES], const uint8_t mb[BIO_IRIS_BYTES], unsigned *bits_out)
{
	uint32_t d = 0, c = 0;
	int i;

	for (i = 0; i < BIO_IRIS_BYTES; i += 8) {
		uint64_t m = load64(ma + i) & load64(mb + i);

		d += (uint32_t)__builtin_popcountll((load64(ca + i) ^ load64(cb + i)) & m);
		c += (uint32_t)__builtin_popcountll(m);
	}
	if (bits_out != NULL)
		*bits_out = c;
	(void)kernel(); /* the tables */
	return c < IRIS_MIN_BITS ? -1.0 : hd_norm(d, c);
}

void
iris_scan(const struct iris_probe *p, const uint8_t *base, size_t stride, size_t n, float *out)
{
	iris_kernel_fn fn = kernel();
	uint32_t diff[IRIS_NSHIFT], cnt[IRIS_NSHIFT];
	size_t i;

	for (i = 0; i < n; i++) {
		const uint8_t *rec = base + i * stride;

		if (i + 4 < n)
			__builtin_prefetch(base + (i + 4) * stride);
		fn(p, rec, rec + BIO_IRIS_BYTES, diff, cnt);
		out[i] = (float)best_of(diff, cnt, NULL, NULL);
	}
}

/* Where the two rings iris_quick_near looks at start: 64 bytes of a code or mask. */
#define QUICK_OFF (IRIS_QUICK_RING * IRIS_ROW_BYTES)

static int
quick_verdict(uint32_t diff, uint32_t n)
{
	return n < IRIS_QUICK_MIN_BITS || (double)diff < IRIS_QUICK_HD * n;
}

static int
quick_scalar(const struct iris_probe *p, const uint8_t *gc, const uint8_t *gm)
{
	uint32_t d, n;
	int s, i;

	for (s = 0; s < IRIS_NSHIFT; s++) {
		for (d = n = 0, i = 0; i < 2 * IRIS_ROW_BYTES; i += 8) {
			uint64_t m =
				load64(p->mask[s] + QUICK_OFF + i) & load64(gm + QUICK_OFF + i);

			d += (uint32_t)__builtin_popcountll(
				(load64(p->code[s] + QUICK_OFF + i) ^ load64(gc + QUICK_OFF + i)) &
				m);
			n += (uint32_t)__builtin_popcountll(m);
		}
		if (quick_verdict(d, n))
			return 1;
	}
	return 0;
}

__attribute__((target("avx512f,avx512vpopcntdq"))) static int
quick_avx512(const struct iris_probe *p, const uint8_t *gc, const uint8_t *gm)
{
	const __m512i c = _mm512_loadu_si512((const void *)(gc + QUICK_OFF));
	const __m512i m = _mm512_loadu_si512((const void *)(gm + QUICK_OFF));
	int s;

	for (s = 0; s < IRIS_NSHIFT; s++) {
		__m512i mm = _mm512_and_si512(
			_mm512_load_si512((const void *)(p->mask[s] + QUICK_OFF)), m);
		__m512i x = _mm512_ternarylogic_epi64(
			_mm512_load_si512((const void *)(p->code[s] + QUICK_OFF)), c, mm, 0x28);

		if (quick_verdict((uint32_t)_mm512_reduce_add_epi64(_mm512_popcnt_epi64(x)),
			    (uint32_t)_mm512_reduce_add_epi64(_mm512_popcnt_epi64(mm))))
			return 1;
	}
	return 0;
}

int
iris_quick_near(const struct iris_probe *p, const uint8_t code[BIO_IRIS_BYTES],
	const uint8_t mask[BIO_IRIS_BYTES])
{
	/* the AVX-512 look with the AVX-512 kernel (iris_set_impl picks both), else scalar */
	if (kernel() == kernel_avx512)
		return quick_avx512(p, code, mask);
	return quick_scalar(p, code, mask);
}
