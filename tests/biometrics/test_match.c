/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/match.c: genuine above impostor in every preset, fusion and FMR decisions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "capture.h"
#include "errors.h"
#include "finger_synth.h"
#include "match.h"
#include "match_calib.h"
#include "population.h"

#define NP 8

static void
test_genuine_above_impostor_every_preset(void **state)
{
	enum capture_preset presets[] = {PRESET_GOOD, PRESET_POOR, PRESET_DETENTION};
	struct population *pop = NULL;
	struct bio_sample a[NP], b[NP];
	struct match_template *ta[NP], *tb[NP];
	struct match_scores sc;
	size_t k;
	int i, j;

	(void)state;
	assert_int_equal(population_new(11, 1000, &pop), 0);
	for (k = 0; k < sizeof(presets) / sizeof(presets[0]); k++) {
		double min_gen = INFINITY, max_imp = -INFINITY, min_gen_face = 2, max_imp_face = -2;

		for (i = 0; i < NP; i++) {
			assert_int_equal(capture_take(pop, (uint32_t)i, 0, presets[k], &a[i]), 0);
			assert_int_equal(capture_take(pop, (uint32_t)i, 1, presets[k], &b[i]), 0);
			assert_int_equal(match_template_new(&a[i], &ta[i], NULL), 0);
			assert_int_equal(match_template_new(&b[i], &tb[i], NULL), 0);
		}
		for (i = 0; i < NP; i++)
			for (j = 0; j < NP; j++) {
				assert_int_equal(match_verify_tmpl(ta[i], tb[j], &sc), 0);
				if (sc.modalities == 0)
					continue;
				if (i == j) {
					min_gen = fmin(min_gen, sc.fused);
					if (sc.modalities & MATCH_FACE)
						min_gen_face = fmin(min_gen_face, sc.face);
				} else {
					max_imp = fmax(max_imp, sc.fused);
					if (sc.modalities & MATCH_FACE)
						max_imp_face = fmax(max_imp_face, sc.face);
				}
			}
		assert_true(min_gen > max_imp);
		assert_true(min_gen > match_threshold(1e-6));
		assert_true(max_imp < match_threshold(1e-4));
		assert_true(min_gen_face > max_imp_face);
		/* the one-shot API agrees with the template API */
		assert_int_equal(match_verify(&a[0], &b[0], &sc), 0);
		assert_int_equal(match_decide(&sc, 1e-6), 1);
		assert_int_equal(match_verify(&a[0], &b[1], &sc), 0);
		assert_int_equal(match_decide(&sc, 1e-6), 0);
		for (i = 0; i < NP; i++) {
			match_template_free(ta[i]);
			match_template_free(tb[i]);
			bio_sample_clear(&a[i]);
			bio_sample_clear(&b[i]);
		}
	}
	population_free(pop);
}

/* A template built without fingers and completed later compares exactly like a full one. */
static void
test_staged_template(void **state)
{
	struct population *pop = NULL;
	struct bio_sample a, b;
	struct match_template *ta = NULL, *tb = NULL, *full = NULL;
	struct match_scores s1, s2, s3;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(population_new(12, 2, &pop), 0);
	assert_int_equal(capture_take(pop, 1, 0, PRESET_GOOD, &a), 0);
	assert_int_equal(capture_take(pop, 1, 1, PRESET_POOR, &b), 0);
	assert_non_null(b.finger_record);
	assert_int_equal(match_template_new(&a, &ta, NULL), 0);
	assert_int_equal(match_template_new(&b, &full, NULL), 0);
	assert_int_equal(match_template_new_ex(&b, MATCH_FACE | MATCH_IRIS, &tb, NULL), 0);
	assert_int_equal(match_verify_tmpl(ta, tb, &s1), 0);
	assert_false(s1.modalities & MATCH_FINGER);
	assert_int_equal(s1.n_finger, 0);
	assert_int_equal(match_template_add_finger(tb, &b, NULL), 0);
	assert_int_equal(match_template_add_finger(tb, &b, NULL), 0); /* idempotent */
	assert_int_equal(match_verify_tmpl(ta, tb, &s2), 0);
	assert_int_equal(match_verify_tmpl(ta, full, &s3), 0);
	assert_true(s2.modalities & MATCH_FINGER);
	assert_true(s2.fused == s3.fused);
	assert_true(s2.finger == s3.finger);
	assert_true(s2.fused > s1.fused); /* fingers add evidence for a genuine pair */
	match_template_free(ta);
	match_template_free(tb);
	match_template_free(full);
	bio_sample_clear(&a);
	bio_sample_clear(&b);
	population_free(pop);
}

static void
test_missing_modalities(void **state)
{
	struct population *pop = NULL;
	struct bio_sample a, b;
	struct match_scores sc;

	(void)state;
	assert_int_equal(population_new(12, 10, &pop), 0);
	assert_int_equal(capture_take(pop, 3, 0, PRESET_GOOD, &a), 0);
	assert_int_equal(capture_take(pop, 3, 1, PRESET_GOOD, &b), 0);
	/* face only on one side, irises only on the other: nothing in common but fingers */
	a.n_iris = 0;
	b.has_face = 0;
	free(b.finger_record);
	b.finger_record = NULL;
	b.finger_len = 0;
	assert_int_equal(match_verify(&a, &b, &sc), 0);
	assert_int_equal(sc.modalities, 0);
	assert_true(sc.fused == 0);
	assert_int_equal(match_decide(&sc, 1), 0); /* nothing compared never matches */
	bio_sample_clear(&a);
	bio_sample_clear(&b);
	/* a repeated eye is refused by name */
	assert_int_equal(capture_take(pop, 4, 0, PRESET_GOOD, &a), 0);
	if (a.n_iris == 2) {
		struct match_template *t = NULL;
		struct paso_diag d = {0};

		a.iris[1].eye = a.iris[0].eye;
		assert_int_equal(match_template_new(&a, &t, &d), PASO_E_FIELD_RANGE);
		assert_null(t);
		assert_non_null(strstr(d.msg, "iris[1].eye"));
	}
	bio_sample_clear(&a);
	population_free(pop);
}

static void
test_decisions_in_fmr_terms(void **state)
{
	struct match_scores s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.modalities = MATCH_FACE;
	s.fused = 6.0;
	assert_int_equal(match_decide(&s, 1e-6), 1);
	assert_int_equal(match_decide(&s, 1e-7), 0);
	assert_int_equal(match_decide(&s, 0), 0);
	assert_int_equal(match_decide(&s, 1.5), 0);
	assert_true(fabs(match_threshold(1e-6) - 6) < 1e-12);
}

static void
test_fisher_combination(void **state)
{
	(void)state;
	/* one p-value: unchanged */
	assert_true(fabs(match_fisher(5, 1) - 5) < 1e-9);
	/* two p-values of 1e-3 each: P = x e^-x (1 + ... ) -> about 1e-6 * (1 + ln 1e6) */
	assert_true(fabs(match_fisher(6, 2) - (6 - log10(1 + 6 * M_LN10))) < 1e-9);
	assert_true(match_fisher(6, 3) < match_fisher(6, 2));
	assert_true(match_fisher(7, 3) > match_fisher(6, 3));
	assert_true(match_fisher(0, 4) == 0);
	/* strong evidence: no overflow; -log10 of e^-x x^12 / 12! with x = 300 ln 10 */
	assert_true(fabs(match_fisher(300, 13) -
			    (300 - (12 * log(300 * M_LN10) - lgamma(13)) / M_LN10)) < 0.01);
}

static void
test_calibration_tables(void **state)
{
	(void)state;
	/* a modern face model: cosine about 0.24 at FMR 1e-4 and 0.31 at 1e-6 */
	assert_true(fabs(match_face_ev(0.24) - 4) < 0.3);
	assert_true(fabs(match_face_ev(0.31) - 6) < 0.5);
	assert_true(match_face_ev(-0.5) == 0);
	/* iris: normalised HD 0.32 is far into the impostor tail; 0.5 says nothing */
	assert_true(match_iris_ev(0.32) > 8);
	assert_true(match_iris_ev(0.5) < 0.5);
	assert_true(match_iris_ev(0.40) > match_iris_ev(0.45));
	assert_true(match_finger_ev(0) == 0);
	assert_true(match_finger_ev(1) > 3);
}

/*
 * One finger alone can meet any FMR a policy may set (1e-9 .. 1e-1): its evidence used to stop
 * at 5.008, so a finger-only policy at 1e-6 silently refused every genuine traveller.
 */
static void
test_finger_only_strict_policy(void **state)
{
	uint8_t seed[32];
	struct bio_sample a, b;
	struct match_scores sc;
	int i, passed = 0;

	(void)state;
	for (i = 0; i < 12; i++) {
		memset(seed, 0, sizeof(seed));
		seed[0] = (uint8_t)(i + 1);
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		assert_int_equal(finger_synth_record(seed, 1, &finger_noise_good, 1u << 1,
					 &a.finger_record, &a.finger_len),
			0);
		assert_int_equal(finger_synth_record(seed, 2, &finger_noise_good, 1u << 1,
					 &b.finger_record, &b.finger_len),
			0);
		if (a.finger_record == NULL || b.finger_record == NULL) {
			bio_sample_clear(&a);
			bio_sample_clear(&b);
			continue; /* failed to capture */
		}
		/* the same capture twice: as strong as finger evidence gets */
		assert_int_equal(match_verify(&a, &a, &sc), 0);
		assert_true(sc.modalities == MATCH_FINGER && sc.n_finger == 1);
		assert_true(match_decide(&sc, 1e-6));
		assert_true(match_decide(&sc, 1e-9));
		/* two captures of one finger: most clear 1e-6 */
		assert_int_equal(match_verify(&a, &b, &sc), 0);
		passed += match_decide(&sc, 1e-6);
		bio_sample_clear(&a);
		bio_sample_clear(&b);
	}
	assert_true(passed >= 6);
}

/* The lookup as a binary search over the table's segments, as the matcher first did it. */
static double
ref_ev(const struct calib_point *tab, size_t n, double x)
{
	size_t lo = 0, hi = n - 1, mid;
	double f;

	if (x <= tab[0].score)
		return 0;
	if (x >= tab[n - 1].score) {
		f = (tab[n - 1].ev - tab[n - 2].ev) / (tab[n - 1].score - tab[n - 2].score);
		return tab[n - 1].ev + f * (x - tab[n - 1].score);
	}
	while (hi - lo > 1) {
		mid = (lo + hi) / 2;
		if (tab[mid].score <= x)
			lo = mid;
		else
			hi = mid;
	}
	f = (x - tab[lo].score) / (tab[hi].score - tab[lo].score);
	return tab[lo].ev + f * (tab[hi].ev - tab[lo].ev);
}

/*
 * Face and iris evidence are the calibration tables' piecewise-linear curves to the bit: at
 * every table point, just either side of it, and on a fine sweep across the whole range.
 */
static void
test_evidence_lookup_exact(void **state)
{
	const size_t nf = sizeof(face_calib) / sizeof(face_calib[0]);
	const size_t ni = sizeof(iris_calib) / sizeof(iris_calib[0]);
	double x;
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < nf; i++)
		for (k = -1; k <= 1; k++) {
			x = nextafter(face_calib[i].score, k < 0 ? -2.0 : 2.0);
			if (k == 0)
				x = face_calib[i].score;
			assert_true(match_face_ev(x) == ref_ev(face_calib, nf, x));
		}
	for (i = 0; i < ni; i++)
		for (k = -1; k <= 1; k++) {
			x = nextafter(iris_calib[i].score, k < 0 ? -2.0 : 2.0);
			if (k == 0)
				x = iris_calib[i].score;
			assert_true(match_iris_ev(1 - x) == ref_ev(iris_calib, ni, 1 - (1 - x)));
		}
	for (i = 0; i <= 200000; i++) {
		x = -1 + 2.0 * (double)i / 200000;
		assert_true(match_face_ev(x) == ref_ev(face_calib, nf, x));
		assert_true(match_iris_ev(x) == ref_ev(iris_calib, ni, 1 - x));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_genuine_above_impostor_every_preset),
		cmocka_unit_test(test_staged_template),
		cmocka_unit_test(test_missing_modalities),
		cmocka_unit_test(test_decisions_in_fmr_terms),
		cmocka_unit_test(test_fisher_combination),
		cmocka_unit_test(test_calibration_tables),
		cmocka_unit_test(test_evidence_lookup_exact),
		cmocka_unit_test(test_finger_only_strict_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
