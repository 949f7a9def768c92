/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/face.c: int8 quantisation with its scale, cosine on int8, kernels agree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "errors.h"
#include "face.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double
gauss(void)
{
	double u, v;

	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	u = ((rng >> 11) + 0.5) * 0x1.0p-53;
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	v = ((rng >> 11) + 0.5) * 0x1.0p-53;
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static void
random_face(float *v)
{
	double ss = 0;
	int k;

	for (k = 0; k < BIO_FACE_DIM; k++) {
		v[k] = (float)gauss();
		ss += (double)v[k] * v[k];
	}
	for (k = 0; k < BIO_FACE_DIM; k++)
		v[k] = (float)(v[k] / sqrt(ss));
}

static void
test_quantize_scale(void **state)
{
	float v[BIO_FACE_DIM];
	struct face_q q;
	double amax = 0;
	int k, hit127 = 0;

	(void)state;
	random_face(v);
	assert_int_equal(face_quantize(v, &q, NULL), 0);
	for (k = 0; k < BIO_FACE_DIM; k++)
		amax = fmax(amax, fabs(v[k]));
	assert_true(fabs(q.scale - amax / 127) < 1e-7);
	for (k = 0; k < BIO_FACE_DIM; k++) {
		assert_true(q.q[k] >= -127 && q.q[k] <= 127);
		assert_true(fabs(q.q[k] * q.scale - v[k]) <= q.scale / 2 + 1e-7);
		hit127 |= q.q[k] == 127 || q.q[k] == -127;
	}
	assert_true(hit127);
}

/* Quantized values are lrint(v / scale) (ties to even), and inv_norm their inverse norm: the
 * templates enrolled before the SIMD quantizer and after it must stay comparable. */
static void
test_quantize_rounds_as_lrint(void **state)
{
	float v[BIO_FACE_DIM];
	struct face_q q;
	double ss;
	long r;
	int k, round;

	(void)state;
	for (round = 0; round < 200; round++) {
		random_face(v);
		if (round % 2) { /* halves of the scale: ties, or as near to them as floats get */
			for (k = 1; k < BIO_FACE_DIM; k++) {
				rng = rng * 6364136223846793005ull + 1442695040888963407ull;
				v[k] = (float)((int)(rng >> 40) % 253 - 126 + 0.5 * (k % 2)) /
				       127.0f;
			}
			v[0] = 1.0f; /* the largest: the scale is 1/127 */
		}
		assert_int_equal(face_quantize(v, &q, NULL), 0);
		ss = 0;
		for (k = 0; k < BIO_FACE_DIM; k++) {
			r = lrint(v[k] / q.scale);
			r = r > 127 ? 127 : r < -127 ? -127 : r;
			assert_int_equal(q.q[k], r);
			ss += (double)(r * r);
		}
		assert_true(q.inv_norm == (float)(1.0 / sqrt(ss)));
	}
}

static void
test_cosine_int8_close_to_float(void **state)
{
	float a[BIO_FACE_DIM], b[BIO_FACE_DIM], c[BIO_FACE_DIM];
	struct face_q qa, qb, qc;
	int k, i;

	(void)state;
	for (i = 0; i < 20; i++) {
		random_face(a);
		random_face(b);
		for (k = 0; k < BIO_FACE_DIM; k++)
			c[k] = (float)(0.8 * a[k] + 0.6 * b[k]); /* cosine with a about 0.8 */
		assert_int_equal(face_quantize(a, &qa, NULL), 0);
		assert_int_equal(face_quantize(b, &qb, NULL), 0);
		assert_int_equal(face_quantize(c, &qc, NULL), 0);
		assert_true(fabs(face_cosine_q(&qa, &qb) - face_cosine_f(a, b)) < 0.005);
		assert_true(fabs(face_cosine_q(&qa, &qc) - face_cosine_f(a, c)) < 0.005);
		assert_true(face_cosine_q(&qa, &qc) > 0.7);
		assert_true(fabs(face_cosine_q(&qa, &qa) - 1) < 1e-6);
	}
	for (k = 0; k < BIO_FACE_DIM; k++)
		b[k] = -a[k];
	assert_int_equal(face_quantize(b, &qb, NULL), 0);
	assert_true(fabs(face_cosine_q(&qa, &qb) + 1) < 1e-6);
}

static void
test_rejects_bad_values(void **state)
{
	float v[BIO_FACE_DIM];
	struct face_q q;
	struct paso_diag d = {0};

	(void)state;
	random_face(v);
	v[17] = NAN;
	assert_int_equal(face_quantize(v, &q, &d), PASO_E_FIELD_RANGE);
	assert_non_null(strstr(d.msg, "face[17]"));
	v[17] = INFINITY;
	assert_int_equal(face_quantize(v, &q, &d), PASO_E_FIELD_RANGE);
	memset(v, 0, sizeof(v));
	assert_int_equal(face_quantize(v, &q, &d), PASO_E_FIELD_RANGE);
	assert_non_null(strstr(d.msg, "zeros"));
}

static void
test_kernels_and_scan_agree(void **state)
{
	static const char *impls[] = {"scalar", "avx2", "avx512vnni"};
	enum { N = 300 };
	int8_t *g = aligned_alloc(64, N * BIO_FACE_DIM);
	float inv[N], ref[N], out[N], v[BIO_FACE_DIM];
	struct face_q probe, q;
	int32_t dots[N];
	size_t k;
	int i, tried = 0;

	(void)state;
	assert_non_null(g);
	random_face(v);
	assert_int_equal(face_quantize(v, &probe, NULL), 0);
	for (i = 0; i < N; i++) {
		random_face(v);
		assert_int_equal(face_quantize(v, &q, NULL), 0);
		memcpy(g + i * BIO_FACE_DIM, q.q, BIO_FACE_DIM);
		inv[i] = i == 7 ? 0 : q.inv_norm; /* entry 7 has no face */
	}
	assert_int_equal(face_set_impl("scalar"), 0);
	for (i = 0; i < N; i++)
		dots[i] = face_dot(probe.q, g + i * BIO_FACE_DIM);
	face_scan(&probe, g, inv, N, ref);
	assert_true(ref[7] == 0);
	for (k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
		if (face_set_impl(impls[k]) != 0)
			continue;
		tried++;
		for (i = 0; i < N; i++)
			assert_int_equal(face_dot(probe.q, g + i * BIO_FACE_DIM), dots[i]);
		face_scan(&probe, g, inv, N, out);
		assert_memory_equal(out, ref, sizeof(ref));
	}
	assert_true(tried >= 1);
	free(g);
}

/*
 * The sketch selection, by the AVX-512 kernel where the CPU has it, returns exactly the faces
 * whose signs differ from the probe's in at most thr places, with those counts (also past a
 * whole group of eight), and tracks the angle: a near copy of a face is much nearer by sketch
 * than a stranger. The exact rescoring of chosen rows gives the scan's cosines.
 */
static void
test_sketch_select_counts_sign_differences(void **state)
{
	enum { N = 75 };
	static _Alignas(64) int8_t g[N * BIO_FACE_DIM];
	static _Alignas(64) uint64_t sk[(N + 7) / 8 * 8 * FACE_SKETCH_WORDS];
	uint64_t psk[FACE_SKETCH_WORDS], one[FACE_SKETCH_WORDS], back[FACE_SKETCH_WORDS];
	float v[BIO_FACE_DIM], w[BIO_FACE_DIM], inv[N], all[N], some[3];
	uint32_t idx[N];
	uint16_t ham[N];
	int dist[N];
	struct face_q p, q;
	const uint32_t pick[3] = {74, 3, 40};
	size_t n, j;
	int i, k, d, thr, expect;

	(void)state;
	random_face(v);
	assert_int_equal(face_quantize(v, &p, NULL), 0);
	face_sketch(p.q, psk);
	for (i = 0; i < N; i++) {
		random_face(w);
		if (i == 7) /* a near copy of the probe */
			for (k = 0; k < BIO_FACE_DIM; k++)
				w[k] = v[k] + 0.3f * w[k];
		assert_int_equal(face_quantize(w, &q, NULL), 0);
		memcpy(g + i * BIO_FACE_DIM, q.q, BIO_FACE_DIM);
		inv[i] = q.inv_norm;
		face_sketch(q.q, one);
		face_sketch_put(sk, (size_t)i, one);
		face_sketch_get(sk, (size_t)i, back);
		assert_memory_equal(one, back, sizeof(one));
		for (d = 0, k = 0; k < BIO_FACE_DIM; k++)
			d += (p.q[k] < 0) != (q.q[k] < 0);
		dist[i] = d;
	}
	for (i = 0; i < N; i++)
		if (i != 7)
			assert_true(dist[7] + 100 < dist[i]);
	for (thr = 0; thr <= BIO_FACE_DIM; thr += 8) {
		n = face_sketch_select(psk, sk, N, (unsigned)thr, 1000, idx, ham);
		for (expect = 0, i = 0; i < N; i++)
			expect += dist[i] <= thr;
		assert_int_equal(n, expect);
		for (j = 0; j < n; j++) {
			assert_true(idx[j] >= 1000 && idx[j] < 1000 + N);
			assert_int_equal(ham[j], dist[idx[j] - 1000]);
			assert_true(j == 0 || idx[j] > idx[j - 1]);
		}
	}
	face_scan(&p, g, inv, N, all);
	face_scan_idx(&p, g, inv, pick, 3, some);
	for (i = 0; i < 3; i++)
		assert_true(some[i] == all[pick[i]]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantize_scale),
		cmocka_unit_test(test_quantize_rounds_as_lrint),
		cmocka_unit_test(test_cosine_int8_close_to_float),
		cmocka_unit_test(test_rejects_bad_values),
		cmocka_unit_test(test_kernels_and_scan_agree),
		cmocka_unit_test(test_sketch_select_counts_sign_differences),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
