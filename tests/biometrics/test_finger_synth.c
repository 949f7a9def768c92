/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/finger_synth.c: deterministic, valid ISO records with calibrated statistics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "errors.h"
#include "finger_synth.h"
#include "iso19794.h"

static void
seed_of(unsigned p, uint8_t s[32])
{
	unsigned i;

	for (i = 0; i < 32; i++)
		s[i] = (uint8_t)(p * 131u + i * 7u + (p >> 8));
}

static void
test_deterministic(void **state)
{
	uint8_t s[32], *r1 = NULL, *r2 = NULL, *r3 = NULL;
	size_t l1 = 0, l2 = 0, l3 = 0;

	(void)state;
	seed_of(7, s);
	assert_int_equal(
		finger_synth_record(s, 1, &finger_noise_good, FINGER_MASK_ALL, &r1, &l1), 0);
	assert_int_equal(
		finger_synth_record(s, 1, &finger_noise_good, FINGER_MASK_ALL, &r2, &l2), 0);
	assert_int_equal(
		finger_synth_record(s, 2, &finger_noise_good, FINGER_MASK_ALL, &r3, &l3), 0);
	assert_non_null(r1);
	assert_int_equal(l1, l2);
	assert_memory_equal(r1, r2, l1);
	/* another capture of the same fingers differs */
	assert_true(l1 != l3 || memcmp(r1, r3, l1) != 0);
	assert_int_equal(iso19794_validate(r1, l1, NULL), 0);
	assert_int_equal(iso19794_validate(r3, l3, NULL), 0);
	free(r1);
	free(r2);
	free(r3);
}

static void
test_masks_and_failures(void **state)
{
	struct finger_noise always_fail = finger_noise_good, never_fail = finger_noise_good;
	struct finger_noise bad = finger_noise_good;
	struct fmr_record rec;
	uint8_t s[32], *r = NULL;
	size_t l = 0;
	int i;

	(void)state;
	seed_of(3, s);
	never_fail.fail_rate = 0.0;
	assert_int_equal(finger_synth_record(s, 5, &never_fail, FINGER_MASK_ALL, &r, &l), 0);
	assert_int_equal(iso19794_read(r, l, &rec, NULL), 0);
	assert_int_equal(rec.n_views, 10);
	for (i = 0; i < 10; i++) {
		assert_int_equal(rec.views[i].finger_pos, i + 1);
		assert_int_equal(rec.views[i].impression, 0);
	}
	assert_int_equal(rec.xres, 197);
	fmr_record_free(&rec);
	free(r);
	/* only the two index fingers */
	assert_int_equal(finger_synth_record(s, 5, &never_fail, (1u << 1) | (1u << 6), &r, &l), 0);
	assert_int_equal(iso19794_read(r, l, &rec, NULL), 0);
	assert_int_equal(rec.n_views, 2);
	assert_int_equal(rec.views[0].finger_pos, 2);
	assert_int_equal(rec.views[1].finger_pos, 7);
	fmr_record_free(&rec);
	free(r);
	/* every finger fails: no record at all */
	always_fail.fail_rate = 1.0;
	assert_int_equal(finger_synth_record(s, 5, &always_fail, FINGER_MASK_ALL, &r, &l), 0);
	assert_null(r);
	assert_int_equal(l, 0);
	assert_int_equal(finger_synth_record(s, 5, &never_fail, 0, &r, &l), 0);
	assert_null(r);
	/* bad arguments */
	assert_int_equal(
		finger_synth_record(s, 5, &never_fail, 1u << 10, &r, &l), PASO_E_INVALID_ARG);
	bad.miss_rate = 1.5;
	assert_int_equal(
		finger_synth_record(s, 5, &bad, FINGER_MASK_ALL, &r, &l), PASO_E_INVALID_ARG);
	assert_int_equal(
		finger_synth_record(s, 5, NULL, FINGER_MASK_ALL, &r, &l), PASO_E_INVALID_ARG);
}

struct stats {
	double n, sum, sum2, endings, bifurcations, quality, views;
	double flow_sum, flow_n, close_pairs, pairs;
	double fails;
};

static void
gather(const struct finger_noise *nz, unsigned people, struct stats *st)
{
	unsigned p;
	int v, i, j;

	memset(st, 0, sizeof(*st));
	for (p = 0; p < people; p++) {
		struct fmr_record rec;
		uint8_t s[32], *r = NULL;
		size_t l = 0;

		seed_of(1000 + p, s);
		assert_int_equal(finger_synth_record(s, 1, nz, FINGER_MASK_ALL, &r, &l), 0);
		if (r == NULL) {
			st->fails += 10;
			continue;
		}
		assert_int_equal(iso19794_validate(r, l, NULL), 0);
		assert_int_equal(iso19794_read(r, l, &rec, NULL), 0);
		st->fails += 10 - rec.n_views;
		for (v = 0; v < rec.n_views; v++) {
			const struct fmr_view *fv = &rec.views[v];

			st->n++;
			st->sum += fv->n_minutiae;
			st->sum2 += (double)fv->n_minutiae * fv->n_minutiae;
			st->quality += fv->quality;
			for (i = 0; i < fv->n_minutiae; i++) {
				st->endings += fv->m[i].type == FMR_TYPE_ENDING;
				st->bifurcations += fv->m[i].type == FMR_TYPE_BIFURCATION;
				for (j = i + 1; j < fv->n_minutiae; j++) {
					double dx = fv->m[i].x - fv->m[j].x,
					       dy = fv->m[i].y - fv->m[j].y;
					double d = sqrt(dx * dx + dy * dy);
					double da = (fv->m[i].angle - fv->m[j].angle) *
						    (2 * M_PI / 256);

					st->pairs++;
					st->close_pairs += d < 6.0;
					/* ridge flow: nearby directions agree modulo 180 degrees */
					if (d < 30.0) {
						st->flow_sum += cos(2 * da);
						st->flow_n++;
					}
				}
			}
		}
		fmr_record_free(&rec);
		free(r);
	}
}

static void
test_statistics_good(void **state)
{
	struct stats st;
	double mean, sd, share;

	(void)state;
	gather(&finger_noise_good, 60, &st);
	mean = st.sum / st.n;
	sd = sqrt(st.sum2 / st.n - mean * mean);
	share = st.endings / (st.endings + st.bifurcations);
	print_message("good: %.0f views, minutiae %.1f +/- %.1f, endings %.3f, flow %.2f\n", st.n,
		mean, sd, share, st.flow_sum / st.flow_n);
	/* docs/biometrics.md: about 35 +/- 12 minutiae per plain impression, 60:40 */
	assert_true(mean > 31.0 && mean < 39.0);
	assert_true(sd > 8.0 && sd < 16.0);
	assert_true(share > 0.56 && share < 0.64);
	/* directions follow a ridge flow, not uniform noise (which gives about 0) */
	assert_true(st.flow_sum / st.flow_n > 0.6);
	/* minutiae keep about a ridge period apart */
	assert_true(st.close_pairs / st.pairs < 0.002);
	assert_true(st.quality / st.n > 65 && st.quality / st.n < 85);
}

static void
test_presets_ordered(void **state)
{
	struct stats good, poor, det;

	(void)state;
	gather(&finger_noise_good, 30, &good);
	gather(&finger_noise_poor, 30, &poor);
	gather(&finger_noise_detention, 30, &det);
	assert_true(good.quality / good.n > poor.quality / poor.n);
	assert_true(poor.quality / poor.n > det.quality / det.n);
	/* failures to capture happen, more at the detention station (over 300 fingers each) */
	assert_true(det.fails >= good.fails);
	assert_true(det.fails > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_masks_and_failures),
		cmocka_unit_test(test_statistics_good),
		cmocka_unit_test(test_presets_ordered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
