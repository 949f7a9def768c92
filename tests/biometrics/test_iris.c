/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/iris.c: rotation invariance, masks respected, every kernel agrees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "errors.h"
#include "iris.h"

static uint64_t rng = 0x1234567887654321ull;

static uint8_t
rnd8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 24);
}

static void
random_code(uint8_t *c)
{
	int i;

	for (i = 0; i < BIO_IRIS_BYTES; i++)
		c[i] = rnd8();
}

static int
get_bit(const uint8_t *b, int i)
{
	return (b[i / 8] >> (i % 8)) & 1;
}

static void
test_rotate_matches_bitwise_reference(void **state)
{
	uint8_t in[BIO_IRIS_BYTES], out[BIO_IRIS_BYTES], back[BIO_IRIS_BYTES];
	int shift, ring, t, c;

	(void)state;
	random_code(in);
	for (shift = -5; shift <= 5; shift++) {
		iris_rotate(in, shift, out);
		for (ring = 0; ring < IRIS_RINGS; ring++)
			for (t = 0; t < IRIS_ANGLES; t++)
				for (c = 0; c < 2; c++) {
					int src = ring * 256 +
						  2 * ((t + shift + IRIS_ANGLES) % IRIS_ANGLES) + c;

					assert_int_equal(get_bit(out, ring * 256 + 2 * t + c),
						get_bit(in, src));
				}
		iris_rotate(out, -shift, back);
		assert_memory_equal(back, in, BIO_IRIS_BYTES);
	}
	iris_rotate(in, IRIS_ANGLES, out);
	assert_memory_equal(out, in, BIO_IRIS_BYTES);
}

static void
test_rotation_invariance(void **state)
{
	uint8_t code[BIO_IRIS_BYTES], mask[BIO_IRIS_BYTES], rc[BIO_IRIS_BYTES], rm[BIO_IRIS_BYTES];
	struct iris_probe *p = aligned_alloc(64, sizeof(*p));
	unsigned bits;
	int shift, best;
	double hd;

	(void)state;
	assert_non_null(p);
	random_code(code);
	memset(mask, 0xff, sizeof(mask));
	for (shift = -IRIS_SHIFT_MAX; shift <= IRIS_SHIFT_MAX; shift++) {
		iris_rotate(code, shift, rc);
		iris_rotate(mask, shift, rm);
		iris_probe_init(p, rc, rm);
		hd = iris_compare(p, code, mask, &bits, &best);
		assert_true(hd == 0.0);
		assert_int_equal(best, -shift);
		assert_int_equal(bits, BIO_IRIS_BITS);
	}
	/* a turn far beyond the shifts tried is not found: distance of unrelated bits */
	iris_rotate(code, 20, rc);
	iris_probe_init(p, rc, mask);
	hd = iris_compare(p, code, mask, NULL, NULL);
	assert_true(hd > 0.4 && hd < 0.6);
	free(p);
}

static void
test_masks_respected(void **state)
{
	uint8_t a[BIO_IRIS_BYTES], b[BIO_IRIS_BYTES], mask[BIO_IRIS_BYTES];
	struct iris_probe *p = aligned_alloc(64, sizeof(*p));
	unsigned bits, n = 0;
	double before, after;
	int i, flipped = 0;

	(void)state;
	assert_non_null(p);
	random_code(a);
	memset(mask, 0xff, sizeof(mask));
	memset(mask + 192, 0, 64); /* outer two rings under the eyelid */
	memcpy(b, a, sizeof(b));
	for (i = 192 * 8; i < BIO_IRIS_BITS; i++)
		b[i / 8] ^= (uint8_t)(1u << (i % 8)); /* every masked bit differs */
	/* no valid bit differs: the distance of a perfect match over 1536 bits (Daugman's
	 * normalisation does not trust fewer bits as much as all 2048) */
	assert_true(iris_compare_noshift(a, mask, b, mask, &bits) == iris_hd_norm(0, 1536));
	assert_int_equal(bits, 1536);
	iris_probe_init(p, b, mask);
	before = iris_compare(p, a, mask, NULL, NULL);
	assert_true(before == iris_hd_norm(0, 1536));
	/* flip 154 valid bits: raw distance 154/1536, normalised for 1536 of 2048 bits */
	for (i = 0; i < 192 * 8 && flipped < 154; i += 10, flipped++)
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
	after = iris_compare_noshift(a, mask, b, mask, &n);
	assert_int_equal(n, 1536);
	assert_true(fabs(after - iris_hd_norm(154, 1536)) < 1e-12);
	assert_true(
		fabs(iris_hd_norm(154, 1536) - (0.5 - (0.5 - 154.0 / 1536) * sqrt(0.75))) < 1e-12);
	/* too few bits visible in both: not compared */
	memset(mask, 0, sizeof(mask));
	mask[0] = 0xff;
	assert_true(iris_compare_noshift(a, mask, b, mask, NULL) < 0);
	iris_probe_init(p, b, mask);
	assert_true(iris_compare(p, a, mask, NULL, NULL) < 0);
	free(p);
}

static void
test_hd_norm(void **state)
{
	(void)state;
	assert_true(fabs(iris_hd_norm(0, 2048)) < 1e-12);
	assert_true(fabs(iris_hd_norm(1024, 2048) - 0.5) < 1e-12);
	/* a quarter of the bits: distance pulled half-way towards 0.5 */
	assert_true(fabs(iris_hd_norm(0, 512) - 0.25) < 1e-12);
}

static void
test_kernels_agree(void **state)
{
	static const char *impls[] = {"scalar", "avx2", "avx512"};
	enum { N = 64 };
	uint8_t *g = aligned_alloc(64, N * 2 * BIO_IRIS_BYTES), pc[BIO_IRIS_BYTES],
		pm[BIO_IRIS_BYTES];
	struct iris_probe *p = aligned_alloc(64, sizeof(*p));
	float ref[N], out[N];
	size_t k;
	int i, tried = 0;

	(void)state;
	assert_non_null(g);
	assert_non_null(p);
	for (i = 0; i < N * 2 * BIO_IRIS_BYTES; i++)
		g[i] = rnd8() | ((i / BIO_IRIS_BYTES) % 2 ? rnd8() : 0); /* masks mostly valid */
	random_code(pc);
	for (i = 0; i < BIO_IRIS_BYTES; i++)
		pm[i] = rnd8() | rnd8();
	memcpy(g + 5 * 2 * BIO_IRIS_BYTES, pc, BIO_IRIS_BYTES); /* one genuine */
	iris_probe_init(p, pc, pm);
	assert_int_equal(iris_set_impl("scalar"), 0);
	iris_scan(p, g, 2 * BIO_IRIS_BYTES, N, ref);
	/* the genuine record: no valid bit differs (distance of a perfect match over the bits
	 * valid in both masks); the others are unrelated */
	assert_true(ref[5] < 0.2);
	for (i = 0; i < N; i++)
		assert_true(i == 5 || ref[i] > 0.35);
	for (k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
		if (iris_set_impl(impls[k]) != 0)
			continue;
		tried++;
		iris_scan(p, g, 2 * BIO_IRIS_BYTES, N, out);
		assert_memory_equal(out, ref, sizeof(ref));
		assert_string_equal(iris_impl_name(), impls[k]);
	}
	assert_true(tried >= 1);
	assert_int_equal(iris_set_impl("sse9"), PASO_E_NOT_FOUND);
	free(g);
	free(p);
}

/*
 * The quick look says "may be this eye" for the same eye with 15% of bits flipped and rotated by
 * two positions, "another eye" for nearly every unrelated code, and never "another eye" for a
 * code whose full comparison is close.
 */
static void
test_quick_look(void **state)
{
	enum { N = 400 };
	uint8_t pc[BIO_IRIS_BYTES], pm[BIO_IRIS_BYTES], c[BIO_IRIS_BYTES], m[BIO_IRIS_BYTES],
		rot[BIO_IRIS_BYTES];
	struct iris_probe *p = aligned_alloc(64, sizeof(*p));
	char iris_best[16];
	int i, k, near = 0, flips;
	double hd;

	(void)state;
	snprintf(iris_best, sizeof(iris_best), "%s", iris_impl_name());
	assert_non_null(p);
	random_code(pc);
	memset(pm, 0xff, sizeof(pm));
	iris_probe_init(p, pc, pm);
	for (i = 0; i < N; i++) {
		/* unrelated codes, then copies with 0..45% of bits flipped */
		if (i < N / 2)
			random_code(c);
		else {
			flips = (i - N / 2) * 45 / (N / 2);
			memcpy(c, pc, sizeof(c));
			for (k = 0; k < BIO_IRIS_BITS; k++)
				if ((int)(rnd8() % 100) < flips)
					c[k / 8] ^= (uint8_t)(1u << (k % 8));
		}
		iris_rotate(c, 2, rot);
		memset(m, 0xff, sizeof(m));
		hd = iris_compare(p, rot, m, NULL, NULL);
		if (!iris_quick_near(p, rot, m))
			assert_true(hd > 0.3);
		if (i < N / 2)
			near += iris_quick_near(p, rot, m);
		/* the scalar look agrees */
		assert_int_equal(iris_set_impl("scalar"), 0);
		k = iris_quick_near(p, rot, m);
		assert_int_equal(iris_set_impl(iris_best), 0);
		assert_int_equal(k, iris_quick_near(p, rot, m));
		if (i >= N / 2 && flips <= 15)
			assert_true(iris_quick_near(p, rot, m));
	}
	assert_true(near < N / 2 / 20);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotate_matches_bitwise_reference),
		cmocka_unit_test(test_rotation_invariance),
		cmocka_unit_test(test_masks_respected),
		cmocka_unit_test(test_hd_norm),
		cmocka_unit_test(test_kernels_agree),
		cmocka_unit_test(test_quick_look),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
