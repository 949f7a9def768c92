/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/finger_match.c: self > genuine > impostor, rotation and translation invariance. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "errors.h"
#include "finger_match.h"
#include "finger_synth.h"
#include "iso19794.h"

static void
seed_of(unsigned p, uint8_t s[32])
{
	unsigned i;

	for (i = 0; i < 32; i++)
		s[i] = (uint8_t)(p * 37u + i * 11u + (p >> 8) + 1);
}

static uint8_t *
record(unsigned p, uint32_t capture, const struct finger_noise *nz, uint32_t mask, size_t *lenp)
{
	struct finger_noise n = *nz;
	uint8_t s[32], *r = NULL;

	n.fail_rate = 0.0; /* failures to capture are tested in test_finger_synth */
	seed_of(p, s);
	assert_int_equal(finger_synth_record(s, capture, &n, mask, &r, lenp), 0);
	assert_non_null(r);
	return r;
}

static struct finger_template *
templ(const uint8_t *rec, size_t len)
{
	struct finger_template *t = NULL;
	struct paso_diag d = { 0 };

	if (finger_template_from_record(rec, len, &t, &d) != 0)
		fail_msg("template: %s", d.msg);
	return t;
}

static struct finger_template *
capture(unsigned p, uint32_t c, const struct finger_noise *nz, uint32_t mask)
{
	size_t len;
	uint8_t *r = record(p, c, nz, mask, &len);
	struct finger_template *t = templ(r, len);

	free(r);
	return t;
}

#define RIGHT_INDEX (1u << 1)

static void
test_self_is_best(void **state)
{
	struct finger_template *t[8];
	int i, j;

	(void)state;
	for (i = 0; i < 8; i++)
		t[i] = capture(100 + (unsigned)i, 1, &finger_noise_good, RIGHT_INDEX);
	for (i = 0; i < 8; i++) {
		double self = finger_match_views(t[i], 0, t[i], 0);

		assert_true(fabs(self - 1.0) < 1e-9);
		for (j = 0; j < 8; j++)
			if (j != i)
				assert_true(finger_match_views(t[i], 0, t[j], 0) < self);
	}
	/* out-of-range views score 0 */
	assert_true(finger_match_views(t[0], 1, t[0], 0) == 0.0);
	assert_true(finger_match_views(t[0], -1, t[0], 0) == 0.0);
	assert_true(finger_match_views(NULL, 0, t[0], 0) == 0.0);
	for (i = 0; i < 8; i++)
		finger_template_free(t[i]);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Across presets: genuine pairs clearly above impostor pairs. */
static void
test_genuine_beats_impostor(void **state)
{
	const struct finger_noise *presets[3] = { &finger_noise_good, &finger_noise_poor,
		&finger_noise_detention };
	static const char *const names[3] = { "good", "poor", "detention" };
	enum { N = 24 };
	int k;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct finger_template *a[N], *b[N];
		double gen[N], imp[N * (N - 1)], thr = finger_threshold_for_fmr(1e-3);
		int i, j, ni = 0, above = 0, imp_above = 0;

		for (i = 0; i < N; i++) {
			a[i] = capture(200 + (unsigned)i, 1, presets[k], RIGHT_INDEX);
			b[i] = capture(200 + (unsigned)i, 2, presets[k], RIGHT_INDEX);
		}
		for (i = 0; i < N; i++) {
			gen[i] = finger_match_views(a[i], 0, b[i], 0);
			above += gen[i] > thr;
			for (j = 0; j < N; j++) {
				if (j == i)
					continue;
				imp[ni] = finger_match_views(a[i], 0, b[j], 0);
				imp_above += imp[ni] > thr;
				ni++;
			}
		}
		qsort(gen, N, sizeof(double), cmp_double);
		qsort(imp, (size_t)ni, sizeof(double), cmp_double);
		print_message("%s: genuine median %.3f, impostor median %.3f max %.3f; %d/%d genuine "
			      "above the FMR 1e-3 threshold %.3f\n",
		    names[k], gen[N / 2], imp[ni / 2], imp[ni - 1], above, N, thr);
		/* the median genuine pair beats 99 % of the impostor pairs, the best one beats all */
		assert_true(gen[N / 2] > imp[ni * 99 / 100]);
		assert_true(gen[N - 1] > imp[ni - 1]);
		assert_true(gen[N / 4] > 2 * imp[ni / 2]);
		assert_true(imp_above <= 3);
		if (k == 0)
			assert_true(above >= N - 2);
		for (i = 0; i < N; i++) {
			finger_template_free(a[i]);
			finger_template_free(b[i]);
		}
	}
}

/* Rotates a record's minutiae by deg about (cx, cy), shifts them, into a 1000x1000 image. */
static uint8_t *
rotate(const uint8_t *rec, size_t len, double deg, double dx, double dy, size_t *olenp)
{
	struct fmr_record r;
	struct paso_diag d = { 0 };
	uint8_t *out = NULL;
	double a = deg * M_PI / 180.0, c = cos(a), s = sin(a);
	int v, i;

	assert_int_equal(iso19794_read(rec, len, &r, &d), 0);
	for (v = 0; v < r.n_views; v++) {
		for (i = 0; i < r.views[v].n_minutiae; i++) {
			struct fmr_minutia *m = &r.views[v].m[i];
			double x = m->x - r.width / 2.0, y = m->y - r.height / 2.0;
			/* image y points down: a counter-clockwise turn on screen */
			double nx = c * x + s * y + 500 + dx, ny = -s * x + c * y + 500 + dy;
			long ang = lround(m->angle + deg * 256.0 / 360.0);

			m->x = (uint16_t)lround(nx);
			m->y = (uint16_t)lround(ny);
			m->angle = (uint8_t)(((ang % 256) + 256) % 256);
		}
	}
	r.width = r.height = 1000;
	assert_int_equal(iso19794_write(&r, &out, olenp, &d), 0);
	fmr_record_free(&r);
	return out;
}

static void
test_rotation_translation(void **state)
{
	int p;

	(void)state;
	for (p = 0; p < 6; p++) {
		size_t l1, l2, lr;
		uint8_t *r1 = record(300 + (unsigned)p, 1, &finger_noise_good, RIGHT_INDEX, &l1);
		uint8_t *r2 = record(300 + (unsigned)p, 2, &finger_noise_good, RIGHT_INDEX, &l2);
		uint8_t *rr = rotate(r1, l1, 30.0, 40.0, -40.0, &lr);
		struct finger_template *t1 = templ(r1, l1), *t2 = templ(r2, l2), *tr = templ(rr, lr);
		double base = finger_match_views(t2, 0, t1, 0), turned = finger_match_views(t2, 0, tr, 0);
		double self = finger_match_views(t1, 0, tr, 0);

		print_message("person %d: genuine %.3f, with one side turned 30 deg and moved 40 px "
			      "%.3f; record vs itself turned %.3f\n",
		    p, base, turned, self);
		assert_true(fabs(turned - base) < 0.05 + 0.1 * base);
		/* pixel rounding flips a few cylinder bits, and nothing else changes */
		assert_true(self > 0.75 && self > base);
		finger_template_free(t1);
		finger_template_free(t2);
		finger_template_free(tr);
		free(r1);
		free(r2);
		free(rr);
	}
}

static void
test_finger_match_positions(void **state)
{
	struct finger_template *a, *b, *c;
	struct finger_scores sc;
	int i;

	(void)state;
	a = capture(400, 1, &finger_noise_good, FINGER_MASK_ALL);
	b = capture(400, 2, &finger_noise_good, (1u << 0) | (1u << 1) | (1u << 6));
	c = capture(401, 2, &finger_noise_good, FINGER_MASK_ALL);
	assert_int_equal(finger_template_n_views(a), 10);
	assert_int_equal(finger_template_view_pos(b, 2), 7);
	assert_int_equal(finger_match(a, b, &sc), 3);
	assert_int_equal(sc.n_compared, 3);
	for (i = 0; i < 10; i++) {
		if (i == 0 || i == 1 || i == 6)
			assert_true(sc.score[i] > finger_threshold_for_fmr(1e-4));
		else
			assert_true(sc.score[i] == -1.0);
	}
	assert_true(sc.best >= sc.score[0] && sc.best >= sc.score[1] && sc.best >= sc.score[6]);
	assert_true(fabs(sc.sum - (sc.score[0] + sc.score[1] + sc.score[6])) < 1e-9);
	/* another person: all ten compared, none near a genuine score */
	assert_int_equal(finger_match(a, c, &sc), 10);
	assert_true(sc.best < finger_threshold_for_fmr(1e-4));
	assert_int_equal(finger_match(a, NULL, &sc), 0);
	assert_true(sc.best == 0.0);
	finger_template_free(a);
	finger_template_free(b);
	finger_template_free(c);
}

static void
test_bad_records(void **state)
{
	static const uint8_t v2011[12] = { 'F', 'M', 'R', 0, '0', '3', '0', 0, 0, 0, 1, 0x8d };
	struct finger_template *t = (struct finger_template *)&t;
	struct paso_diag d = { 0 };

	(void)state;
	assert_int_equal(finger_template_from_record(v2011, sizeof(v2011), &t, &d),
	    PASO_E_TEMPLATE_VERSION);
	assert_null(t);
	assert_non_null(strstr(d.msg, "'030'"));
	assert_int_equal(finger_template_from_record(v2011, 3, &t, &d), PASO_E_TEMPLATE_TRUNCATED);
	assert_int_equal(finger_template_from_record((const uint8_t *)"FMX", 3, &t, &d),
	    PASO_E_TEMPLATE_FORMAT);
	finger_template_free(NULL);
}

static void
test_threshold_table(void **state)
{
	(void)state;
	assert_true(finger_threshold_for_fmr(1e-6) > finger_threshold_for_fmr(1e-4));
	assert_true(finger_threshold_for_fmr(1e-4) > finger_threshold_for_fmr(1e-2));
	assert_true(finger_threshold_for_fmr(1e-9) == finger_threshold_for_fmr(1e-6));
	assert_true(fabs(finger_fmr_for_score(finger_threshold_for_fmr(3e-4)) - 3e-4) < 1e-5);
	assert_true(finger_fmr_for_score(0.0) >= 1e-1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_is_best),
		cmocka_unit_test(test_genuine_beats_impostor),
		cmocka_unit_test(test_rotation_translation),
		cmocka_unit_test(test_finger_match_positions),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_threshold_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
