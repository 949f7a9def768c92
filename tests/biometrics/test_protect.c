/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/protect.c and protect_metrics.c: protected references hold no raw template,
 * two keys are unlinkable, renewal retires the old reference, accuracy stays within measured
 * bounds, and the metrics give known answers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>
#include <sodium.h>

#include "capture.h"
#include "errors.h"
#include "face.h"
#include "finger_match.h"
#include "iris.h"
#include "pgallery.h"
#include "population.h"
#include "protect.h"
#include "protect_metrics.h"

#define NSUBJ 120
#define NCAP 3
#define NS (NSUBJ * NCAP)

enum { KA, KB, KC, NKEYS };

/* Everything protected once for the whole file: samples x keys. */
struct fix {
	struct bio_sample s[NS];
	struct protect_key *k[NKEYS];
	float face[NKEYS][NS][PROTECT_FACE_DIM];
	struct protect_iris iris[NKEYS][NS][2];
	struct protect_finger finger[NKEYS][NS];
};

static struct fix *F;

struct sc {
	double *v;
	size_t n;
};

static void
add(struct sc *s, double v)
{
	if (isnan(v))
		return;
	s->v = realloc(s->v, (s->n + 1) * sizeof(double));
	assert_non_null(s->v);
	s->v[s->n++] = v;
}

static const struct bio_iris *
eye_of(const struct bio_sample *s, int eye)
{
	int i;

	for (i = 0; i < s->n_iris; i++)
		if (s->iris[i].eye == eye)
			return &s->iris[i];
	return NULL;
}

static int
setup(void **state)
{
	struct population *pop = NULL;
	uint8_t key[PROTECT_KEY_BYTES];
	int i, k, e;

	(void)state;
	if (sodium_init() < 0 || (F = calloc(1, sizeof(*F))) == NULL)
		return -1;
	for (k = 0; k < NKEYS; k++) {
		memset(key, 0x30 + k, sizeof(key));
		if (protect_key_new(key, &F->k[k]) != 0)
			return -1;
	}
	if (population_new(21, NSUBJ, &pop) != 0)
		return -1;
	for (i = 0; i < NS; i++) {
		if (capture_take(pop, (uint32_t)(i / NCAP), (uint32_t)(i % NCAP), PRESET_GOOD,
			    &F->s[i]) != 0)
			return -1;
		for (k = 0; k < NKEYS; k++) {
			if (F->s[i].has_face &&
				protect_face(F->k[k], F->s[i].face, F->face[k][i]) != 0)
				return -1;
			for (e = 0; e < 2; e++) {
				const struct bio_iris *ir = eye_of(&F->s[i], e + 1);

				if (ir != NULL && protect_iris(F->k[k], ir, &F->iris[k][i][e]) != 0)
					return -1;
			}
		}
		if (F->s[i].finger_record != NULL) {
			struct finger_template *t = NULL;

			if (finger_template_from_record(
				    F->s[i].finger_record, F->s[i].finger_len, &t, NULL) != 0)
				return -1;
			for (k = 0; k < NKEYS; k++)
				protect_finger_tmpl(F->k[k], t, &F->finger[k][i]);
			finger_template_free(t);
		}
	}
	population_free(pop);
	return 0;
}

static int
teardown(void **state)
{
	int i, k;

	(void)state;
	for (i = 0; i < NS; i++)
		bio_sample_clear(&F->s[i]);
	for (k = 0; k < NKEYS; k++)
		protect_key_free(F->k[k]);
	sodium_memzero(F, sizeof(*F));
	free(F);
	return 0;
}

/* ---- scores of sample x under key kx against sample y under key ky (NAN: not compared) ---- */

static double
face_score(int kx, int x, int ky, int y)
{
	if (!F->s[x].has_face || !F->s[y].has_face)
		return NAN;
	return protect_face_compare(F->face[kx][x], F->face[ky][y]);
}

static double
iris_score(int kx, int x, int ky, int y)
{
	double sum = 0, ds;
	int e, n = 0;

	for (e = 0; e < 2; e++) {
		if (F->iris[kx][x][e].eye == 0 || F->iris[ky][y][e].eye == 0)
			continue;
		if ((ds = protect_iris_compare(&F->iris[kx][x][e], &F->iris[ky][y][e])) < 0)
			continue;
		sum += ds;
		n++;
	}
	return n ? 1 - sum / n : NAN;
}

/* Right thumb (position 1) only: one score per pair. */
static double
finger_score(int kx, int x, int ky, int y)
{
	const struct protect_finger *a = &F->finger[kx][x], *b = &F->finger[ky][y];
	int i, j;

	for (i = 0; i < a->n_views; i++)
		for (j = 0; j < b->n_views; j++)
			if (a->v[i].pos == 1 && b->v[j].pos == 1)
				return protect_finger_compare(&a->v[i], &b->v[j]);
	return NAN;
}

typedef double (*score_fn)(int kx, int x, int ky, int y);
static const score_fn fns[3] = {face_score, iris_score, finger_score};
static const char *const names[3] = {"face", "iris", "finger"};

/* Mated (one person's two different captures) and non-mated scores, x under kx, y under ky. */
static void
collect(score_fn f, int kx, int ky, struct sc *mated, struct sc *non)
{
	int x, y;

	for (x = 0; x < NS; x++)
		for (y = 0; y < NS; y++) {
			if (x == y)
				continue;
			if (x / NCAP == y / NCAP)
				add(mated, f(kx, x, ky, y));
			else if ((x + 7 * y) % 4 == 0) /* a quarter of the non-mated pairs */
				add(non, f(kx, x, ky, y));
		}
}

static void
test_no_raw_template_inside(void **state)
{
	int i, k, e, v, off;

	(void)state;
	for (k = 0; k < NKEYS; k++)
		for (i = 0; i < NS; i++) {
			const struct bio_sample *s = &F->s[i];

			if (s->has_face) {
				const uint8_t *raw = (const uint8_t *)s->face;
				struct face_q q;

				/* no two consecutive raw floats anywhere in the protected bytes */
				for (off = 0; off + 8 <= (int)sizeof(s->face); off += 4)
					assert_null(memmem(F->face[k][i], sizeof(F->face[k][i]),
						raw + off, 8));
				assert_int_equal(protect_face_q(F->k[k], s->face, &q), 0);
				assert_true(memcmp(q.q, raw, sizeof(q.q)) != 0);
			}
			for (e = 0; e < 2; e++) {
				const struct bio_iris *ir = eye_of(s, e + 1);

				if (ir == NULL)
					continue;
				/* no 8-byte run of the iris code in the protected eye (runs of
				 * mostly zero bytes say nothing: sparse filters are full of them) */
				for (off = 0; off + 8 <= BIO_IRIS_BYTES; off += 8) {
					int j, nz = 0;

					for (j = 0; j < 8; j++)
						nz += ir->code[off + j] != 0;
					if (nz >= 6)
						assert_null(memmem(&F->iris[k][i][e],
							sizeof(F->iris[k][i][e]), ir->code + off,
							8));
				}
			}
			if (s->finger_record == NULL)
				continue;
			/* no 6-byte window of the minutiae record (one ISO minutia is 6 bytes) */
			for (v = 0; v < F->finger[k][i].n_views; v++) {
				const struct protect_finger_view *pv = &F->finger[k][i].v[v];
				size_t used = pv->n * sizeof(pv->c[0]);

				for (off = 0; off + 6 <= (int)s->finger_len; off++) {
					const uint8_t *w = s->finger_record + off;
					int nz = (w[0] != 0) + (w[1] != 0) + (w[2] != 0) +
						 (w[3] != 0) + (w[4] != 0) + (w[5] != 0);

					if (nz >= 5)
						assert_null(memmem(pv->c, used, w, 6));
				}
			}
		}
}

static void
test_two_keys_unlinkable(void **state)
{
	/* bounds: measured D<->sys between keys on this population, with headroom for the
	 * histogram estimate's bias at this sample size (docs/biometrics.md) */
	static const double bound[3] = {0.15, 0.15, 0.15};
	int m;

	(void)state;
	for (m = 0; m < 3; m++) {
		struct sc mated = {0}, non = {0}, mraw = {0}, nraw = {0};
		double d, dsame;

		collect(fns[m], KA, KB, &mated, &non);
		collect(fns[m], KA, KA, &mraw, &nraw);
		assert_true(mated.n > 300 && non.n > 10000);
		d = protect_metrics_dsys(mated.v, mated.n, non.v, non.n, 20);
		dsame = protect_metrics_dsys(mraw.v, mraw.n, nraw.v, nraw.n, 20);
		print_message("%s: D<->sys keys A/B %.3f, same key %.3f\n", names[m], d, dsame);
		/* under one key the references link (the metric sees it), across keys they do not */
		assert_true(dsame > 0.8);
		assert_true(d >= 0 && d < bound[m]);
		free(mated.v);
		free(non.v);
		free(mraw.v);
		free(nraw.v);
	}
}

/* Threshold at FMR 1e-3 under key k, from this population's impostors. */
static double
threshold(score_fn f, int k)
{
	struct sc mated = {0}, non = {0};
	double t;

	collect(f, k, k, &mated, &non);
	protect_metrics_sort(non.v, non.n);
	t = protect_metrics_threshold(NULL, 0, non.v, non.n, 1e-3, NULL);
	free(mated.v);
	free(non.v);
	return t;
}

static void
test_renewal_retires_old_reference(void **state)
{
	int m, subj;

	(void)state;
	for (m = 0; m < 3; m++) {
		double ta = threshold(fns[m], KA), tc = threshold(fns[m], KC);
		int n = 0, new_ok = 0, old_ok = 0, before_ok = 0;

		for (subj = 0; subj < NSUBJ; subj++) {
			int c0 = subj * NCAP, c1 = c0 + 1, c2 = c0 + 2;
			double before = fns[m](KA, c0, KA, c1), after = fns[m](KC, c1, KC, c2),
			       old = fns[m](KA, c0, KC, c2);

			if (isnan(before) || isnan(after) || isnan(old))
				continue;
			n++;
			before_ok += before >= ta; /* enrolled under A, crossing under A */
			new_ok += after >= tc;     /* renewed: re-enrolled under C at a crossing */
			old_ok += old >= tc;       /* the old reference against a probe under C */
		}
		print_message(
			"%s: %d people, match before %d, after renewal %d, old reference %d\n",
			names[m], n, before_ok, new_ok, old_ok);
		assert_true(n > NSUBJ / 2);
		/* fingers alone lose more at FMR 1e-3 under protection (docs/biometrics.md) */
		assert_true(before_ok >= n * (m == 2 ? 85 : 95) / 100);
		assert_true(new_ok >= n * (m == 2 ? 85 : 95) / 100);
		assert_true(old_ok <= n / 50);
	}
}

static void
test_accuracy_within_measured_bounds(void **state)
{
	/* EER with one system key (the deployment's mode, and the stolen-key case) on this
	 * fixture: measured 0, 0 and 2.2 % (thumbs only); bounds with headroom for a small set */
	static const double bound[3] = {0.005, 0.005, 0.035};
	int m;

	(void)state;
	for (m = 0; m < 3; m++) {
		struct sc gen = {0}, imp = {0};
		double eer;

		collect(fns[m], KA, KA, &gen, &imp);
		protect_metrics_sort(gen.v, gen.n);
		protect_metrics_sort(imp.v, imp.n);
		eer = protect_metrics_eer(gen.v, gen.n, imp.v, imp.n);
		print_message("%s: protected EER %.4f (%zu genuine, %zu impostor)\n", names[m], eer,
			gen.n, imp.n);
		assert_true(eer <= bound[m]);
		free(gen.v);
		free(imp.v);
	}
}

static void
test_keys_deterministic_and_distinct(void **state)
{
	uint8_t key[PROTECT_KEY_BYTES];
	struct protect_key *k1 = NULL, *k2 = NULL;
	float a[PROTECT_FACE_DIM], b[PROTECT_FACE_DIM];
	const struct bio_sample *s = &F->s[0];
	int i = 0;

	(void)state;
	while (!F->s[i].has_face)
		i++;
	s = &F->s[i];
	memset(key, 0x30, sizeof(key)); /* the bytes of KA */
	assert_int_equal(protect_key_new(key, &k1), 0);
	key[31] ^= 1;
	assert_int_equal(protect_key_new(key, &k2), 0);
	assert_int_equal(protect_face(k1, s->face, a), 0);
	assert_memory_equal(a, F->face[KA][i], sizeof(a));
	assert_int_equal(protect_face(k2, s->face, b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	/* the record path agrees with the template path of the fixture */
	{
		struct protect_finger *pf = calloc(1, sizeof(*pf));

		assert_non_null(pf);
		for (i = 0; F->s[i].finger_record == NULL; i++)
			;
		assert_int_equal(
			protect_finger(k1, F->s[i].finger_record, F->s[i].finger_len, pf, NULL), 0);
		assert_memory_equal(pf, &F->finger[KA][i], sizeof(*pf));
		free(pf);
	}
	protect_key_free(k1);
	protect_key_free(k2);
}

static void
test_bad_input(void **state)
{
	float v[BIO_FACE_DIM], out[PROTECT_FACE_DIM];
	struct bio_iris ir;
	struct protect_iris pi, empty;
	struct protect_finger *pf = calloc(1, sizeof(*pf));
	struct paso_diag d;
	static const uint8_t junk[40] = "FMR\0 20\0 not a record at all";

	(void)state;
	assert_non_null(pf);
	memset(v, 0, sizeof(v));
	assert_int_equal(protect_face(F->k[KA], v, out), PASO_E_FIELD_RANGE);
	v[3] = NAN;
	assert_int_equal(protect_face(F->k[KA], v, out), PASO_E_FIELD_RANGE);
	memset(&ir, 0, sizeof(ir));
	ir.eye = 3;
	assert_int_equal(protect_iris(F->k[KA], &ir, &pi), PASO_E_FIELD_RANGE);
	/* an eye with every bit masked: nothing to compare */
	ir.eye = BIO_EYE_RIGHT;
	assert_int_equal(protect_iris(F->k[KA], &ir, &empty), 0);
	assert_true(protect_iris_compare(&empty, &empty) < 0);
	memset(&d, 0, sizeof(d));
	assert_true(protect_finger(F->k[KA], junk, sizeof(junk), pf, &d) < 0);
	assert_true(d.msg[0] != '\0');
	assert_int_equal(pf->n_views, 0);
	free(pf);
}

static void
test_dsys_known_answers(void **state)
{
	enum { N = 20000 };
	double *m = malloc(N * sizeof(double)), *n = malloc(N * sizeof(double));
	int i;

	(void)state;
	assert_non_null(m);
	assert_non_null(n);
	/* disjoint: fully linkable */
	for (i = 0; i < N; i++) {
		m[i] = 2 + (double)i / N;
		n[i] = (double)i / N;
	}
	assert_true(fabs(protect_metrics_dsys(m, N, n, N, 100) - 1.0) < 1e-12);
	/* the same distribution: unlinkable */
	for (i = 0; i < N; i++)
		m[i] = n[i];
	assert_true(protect_metrics_dsys(m, N, n, N, 100) < 1e-9);
	/* mated uniform on [0, 2), non-mated on [0, 1): LR = 1/2 below 1 (D = 0), no non-mated
	 * above (D = 1), half the mated mass there */
	for (i = 0; i < N; i++)
		m[i] = 2.0 * i / N;
	assert_true(fabs(protect_metrics_dsys(m, N, n, N, 100) - 0.5) < 0.01);
	/* a quarter of the mated mass below 0.5 and three quarters above, non-mated even:
	 * LR = 1.5 above, D = (1.5 - 1) / (1.5 + 1) = 0.2 on mated mass 3/4 */
	for (i = 0; i < N; i++) {
		m[i] = i < N / 4 ? (double)i / (N / 2) : 0.5 + (double)(i - N / 4) / (1.5 * N);
		n[i] = (double)i / N;
	}
	assert_true(fabs(protect_metrics_dsys(m, N, n, N, 10) - 0.15) < 0.01);
	assert_true(protect_metrics_dsys(m, 0, n, N, 10) < 0);
	free(m);
	free(n);
}

static void
test_eer_known_answer(void **state)
{
	/* genuine 0.5..1.49, impostor 0..0.99: overlap on [0.5, 1) gives EER 0.25 */
	double g[100], im[100];
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		g[i] = 0.5 + i / 100.0;
		im[i] = i / 100.0;
	}
	assert_true(fabs(protect_metrics_eer(g, 100, im, 100) - 0.25) < 0.011);
}

/*
 * Each deployment draws its own key, and one calibration table (protect_calib.h) must hold for
 * all of them: under every one of 24 keys the share of impostor face pairs the table puts at
 * FMR 1e-2 or rarer stays near 1e-2. Before PolyProtect forms were centred, a key whose
 * even-power coefficients outweighed its linear one made most strangers' faces alike
 * (threat-model.md O20): up to a third of impostor pairs passed FMR 1e-2 under such keys.
 */
static void
test_face_calibration_holds_for_every_key(void **state)
{
	struct face_q *q = aligned_alloc(64, NS * sizeof(*q));
	uint8_t kb[PROTECT_KEY_BYTES];
	int key, i, j;

	(void)state;
	assert_non_null(q);
	for (key = 0; key < 24; key++) {
		struct protect_key *k = NULL;
		size_t pairs = 0, over = 0;

		memset(kb, 0, sizeof(kb));
		kb[0] = (uint8_t)key;
		kb[1] = 0xca;
		assert_int_equal(protect_key_new(kb, &k), 0);
		for (i = 0; i < NS; i++)
			if (F->s[i].has_face)
				assert_int_equal(protect_face_q(k, F->s[i].face, &q[i]), 0);
		for (i = 0; i < NS; i++)
			for (j = i + 1; j < NS; j++) {
				if (i / NCAP == j / NCAP || !F->s[i].has_face || !F->s[j].has_face)
					continue;
				pairs++;
				over += pref_face_ev(face_cosine_q(&q[i], &q[j])) >= 2;
			}
		protect_key_free(k);
		print_message("key %d: %zu of %zu impostor face pairs at FMR 1e-2 or rarer\n", key,
			over, pairs);
		assert_true(pairs > 50000);
		assert_true(over * 250 >= pairs && over * 40 <= pairs); /* 0.4 % .. 2.5 % */
	}
	sodium_memzero(q, NS * sizeof(*q));
	free(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_raw_template_inside),
		cmocka_unit_test(test_two_keys_unlinkable),
		cmocka_unit_test(test_renewal_retires_old_reference),
		cmocka_unit_test(test_accuracy_within_measured_bounds),
		cmocka_unit_test(test_keys_deterministic_and_distinct),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_dsys_known_answers),
		cmocka_unit_test(test_eer_known_answer),
		cmocka_unit_test(test_face_calibration_holds_for_every_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
