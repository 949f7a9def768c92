/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for kiosk-sim/population.c and capture.c: determinism, cards, calibrated statistics. */
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
#include "face.h"
#include "finger_synth.h"
#include "iris.h"
#include "iso19794.h"
#include "population.h"
#include "synth_rng.h"

static void
test_deterministic_and_never_identical(void **state)
{
	struct population *p1 = NULL, *p2 = NULL;
	struct person_info a, b;
	struct bio_sample s1, s2, s3;

	(void)state;
	assert_int_equal(population_new(77, 1000, &p1), 0);
	assert_int_equal(population_new(77, 1000, &p2), 0);
	assert_int_equal(population_person(p1, 123, &a), 0);
	assert_int_equal(population_person(p2, 123, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(population_person(p1, 1000, &a), PASO_E_INVALID_ARG);
	assert_int_equal(capture_take(p1, 5, 2, PRESET_POOR, &s1), 0);
	assert_int_equal(capture_take(p2, 5, 2, PRESET_POOR, &s2), 0);
	assert_int_equal(s1.finger_len, s2.finger_len);
	assert_memory_equal(s1.finger_record, s2.finger_record, s1.finger_len);
	assert_memory_equal(s1.face, s2.face, sizeof(s1.face));
	assert_memory_equal(s1.iris, s2.iris, sizeof(s1.iris));
	/* the next capture of the same person differs in every modality */
	assert_int_equal(capture_take(p1, 5, 3, PRESET_POOR, &s3), 0);
	assert_true(s3.finger_len != s1.finger_len ||
		    memcmp(s3.finger_record, s1.finger_record, s1.finger_len) != 0);
	assert_true(memcmp(s3.face, s1.face, sizeof(s1.face)) != 0);
	assert_true(
		s3.n_iris == 0 || memcmp(s3.iris[0].code, s1.iris[0].code, BIO_IRIS_BYTES) != 0);
	bio_sample_clear(&s1);
	bio_sample_clear(&s2);
	bio_sample_clear(&s3);
	population_free(p1);
	population_free(p2);
	assert_int_equal(population_new(1, 0, &p1), PASO_E_INVALID_ARG);
	assert_null(p1);
}

static int
luhn_ok(const char *digits)
{
	size_t n = strlen(digits), i;
	int sum = 0, dbl = 0;

	for (i = n; i-- > 0;) {
		int d = digits[i] - '0';

		if (dbl && (d *= 2) > 9)
			d -= 9;
		sum += d;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

static int
cmp_card(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void
test_cards_and_categories(void **state)
{
	enum { N = 20000 };
	static const char *prefix[5] = {"", "TVR-", "TTF-", "MIG-", "DET-"};
	struct population *p = NULL;
	struct person_info info;
	char(*cards)[32] = calloc(N, 32);
	unsigned count[5] = {0};
	uint32_t i;
	int c;

	(void)state;
	assert_non_null(cards);
	assert_int_equal(population_new(2024, N, &p), 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(population_person(p, i, &info), 0);
		assert_true(info.category >= CAT_REGIONAL_VISITOR && info.category <= CAT_DETAINEE);
		count[info.category]++;
		assert_int_equal(strncmp(info.card, prefix[info.category], 4), 0);
		assert_int_equal(strlen(info.card), 14);
		assert_true(luhn_ok(info.card + 4));
		memcpy(cards[i], info.card, 32);
	}
	qsort(cards, N, 32, cmp_card);
	for (i = 1; i < N; i++)
		assert_true(strcmp(cards[i - 1], cards[i]) != 0);
	for (c = CAT_REGIONAL_VISITOR; c <= CAT_DETAINEE; c++) {
		double share = count[c] / (double)N, want = population_category_share(c) / 1000.0;

		assert_true(fabs(share - want) < 0.015);
	}
	population_free(p);
	free(cards);
}

static void
test_iris_generator_statistics(void **state)
{
	enum { N = 260 };
	static const uint8_t ones[BIO_IRIS_BYTES] = {[0 ... BIO_IRIS_BYTES - 1] = 0xff};
	struct population *p = NULL;
	struct person_bio *bio = malloc(sizeof(*bio));
	uint8_t(*codes)[BIO_IRIS_BYTES] = calloc(N, BIO_IRIS_BYTES);
	double s1 = 0, s2 = 0, m, sd;
	long n = 0;
	int i, j, k;

	(void)state;
	assert_non_null(bio);
	assert_non_null(codes);
	assert_int_equal(population_new(99, N, &p), 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(population_bio(p, (uint32_t)i, bio), 0);
		for (k = 0; k < BIO_IRIS_BITS; k++)
			if (bio->iris_field[0][k] > 0)
				codes[i][k / 8] |= (uint8_t)(1u << (k % 8));
	}
	/* Daugman 2004: impostor HD mean 0.499, sd 0.0317 (249 degrees of freedom) */
	for (i = 0; i < N; i++)
		for (j = i + 1; j < N; j++) {
			double h = iris_compare_noshift(codes[i], ones, codes[j], ones, NULL);

			s1 += h;
			s2 += h * h;
			n++;
		}
	m = s1 / n;
	sd = sqrt(s2 / n - m * m);
	print_message("iris impostor HD mean %.4f sd %.4f dof %.0f over %ld\n", m, sd,
		m * (1 - m) / (sd * sd), n);
	assert_true(fabs(m - 0.499) <= 0.003);
	assert_true(fabs(sd - 0.032) <= 0.002);
	population_bio_wipe(bio);
	free(bio);
	free(codes);
	population_free(p);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The ziggurat draws the iris fields are made of are standard normal: over 10^6 draws the
 * largest gap between their distribution and the normal's (Kolmogorov-Smirnov) is within the
 * 0.1 % critical value, the moments are 0, 1, 0, 3, and the tail beyond the base layer (drawn
 * apart) holds its share. A wrong layer table or tail shows in one of these.
 */
static void
test_ziggurat_is_normal(void **state)
{
	enum { N = 1000000 };
	static const uint8_t seed[32] = "ziggurat test";
	double *v = malloc(sizeof(double) * N), m1 = 0, m2 = 0, m3 = 0, m4 = 0, dmax = 0;
	struct synth_rng r;
	long tail = 0, far = 0;
	int i;

	(void)state;
	assert_non_null(v);
	synth_rng_init(&r, seed, "normal", 0, 0);
	for (i = 0; i < N; i++) {
		double x = synth_normal_zig(&r);

		v[i] = x;
		m1 += x;
		m2 += x * x;
		m3 += x * x * x;
		m4 += x * x * x * x;
		tail += fabs(x) > SYNTH_ZIG_R;
		far += fabs(x) > 4.5;
	}
	qsort(v, N, sizeof(double), cmp_double);
	for (i = 0; i < N; i++) {
		double cdf = 0.5 * erfc(-v[i] / sqrt(2.0));

		dmax = fmax(dmax, fmax(fabs(cdf - (double)i / N), fabs(cdf - (double)(i + 1) / N)));
	}
	print_message("ziggurat: KS D %.5f, mean %.4f, var %.4f, skew %.4f, kurtosis %.4f, "
		      "beyond R %ld (expect 258), beyond 4.5 %ld (expect 6.8)\n",
		dmax, m1 / N, m2 / N, m3 / N, m4 / N, tail, far);
	assert_true(dmax < 1.95 / sqrt((double)N));
	assert_true(fabs(m1 / N) < 5 / sqrt((double)N));
	assert_true(fabs(m2 / N - 1) < 5 * sqrt(2.0 / N));
	assert_true(fabs(m3 / N) < 5 * sqrt(15.0 / N));
	assert_true(fabs(m4 / N - 3) < 5 * sqrt(96.0 / N));
	/* 2 (1 - Phi(R)) = 2.58e-4: 258 expected, sd 16 */
	assert_true(tail > 258 - 80 && tail < 258 + 80);
	assert_true(far < 30);
	free(v);
}

/* Mean best-shift genuine HD and mean genuine face cosine of n people under a preset. */
static void
genuine_stats(struct population *p, enum capture_preset preset, int n, double *hd, double *cos,
	int *face_fail)
{
	struct iris_probe *pr = aligned_alloc(64, sizeof(*pr));
	double sh = 0, sc = 0;
	int i, e, nh = 0, nc = 0;

	*face_fail = 0;
	for (i = 0; i < n; i++) {
		struct bio_sample a, b;

		assert_int_equal(capture_take(p, (uint32_t)i, 0, preset, &a), 0);
		assert_int_equal(capture_take(p, (uint32_t)i, 1, preset, &b), 0);
		*face_fail += !a.has_face + !b.has_face;
		if (a.has_face && b.has_face) {
			sc += face_cosine_f(a.face, b.face);
			nc++;
		}
		for (e = 0; e < a.n_iris && e < b.n_iris; e++)
			if (a.iris[e].eye == b.iris[e].eye) {
				double h;

				iris_probe_init(pr, b.iris[e].code, b.iris[e].mask);
				h = iris_compare(pr, a.iris[e].code, a.iris[e].mask, NULL, NULL);
				if (h >= 0) {
					sh += h;
					nh++;
				}
			}
		bio_sample_clear(&a);
		bio_sample_clear(&b);
	}
	*hd = sh / nh;
	*cos = sc / nc;
	free(pr);
}

static void
test_capture_presets(void **state)
{
	struct population *p = NULL;
	enum capture_preset pr;
	double hd_good, cos_good, hd_poor, cos_poor;
	int ff_good, ff_poor;

	(void)state;
	assert_int_equal(capture_preset_parse("detention", &pr), 0);
	assert_int_equal(pr, PRESET_DETENTION);
	assert_string_equal(capture_preset_name(PRESET_POOR), "poor");
	assert_int_equal(capture_preset_parse("great", &pr), PASO_E_INVALID_ARG);
	assert_int_equal(population_new(5, 400, &p), 0);
	genuine_stats(p, PRESET_GOOD, 200, &hd_good, &cos_good, &ff_good);
	genuine_stats(p, PRESET_POOR, 200, &hd_poor, &cos_poor, &ff_poor);
	print_message("good: iris HDnorm %.3f face %.3f fails %d; poor: %.3f %.3f fails %d\n",
		hd_good, cos_good, ff_good, hd_poor, cos_poor, ff_poor);
	/* good kiosk: about 10% bit errors (HDnorm ~0.15 over the bits left by eyelids), a
	 * modern face model's genuine cosine about 0.7; a poor kiosk is worse in both */
	assert_true(hd_good > 0.10 && hd_good < 0.20);
	assert_true(cos_good > 0.65 && cos_good < 0.78);
	assert_true(hd_poor > hd_good + 0.05);
	assert_true(cos_poor < cos_good - 0.1);
	/* failures to capture happen, more often at a poor kiosk (3% vs 0.5% of faces) */
	assert_true(ff_poor > ff_good);
	assert_true(ff_poor > 0);
	population_free(p);
}

static void
test_face_generator_statistics(void **state)
{
	enum { N = 400 };
	struct population *p = NULL;
	struct face_q *q = aligned_alloc(64, N * sizeof(*q));
	double s1 = 0, s2 = 0, m, sd;
	long n = 0;
	int i, j, k = 0;

	(void)state;
	assert_non_null(q);
	assert_int_equal(population_new(8, 2 * N, &p), 0);
	for (i = 0; k < N; i++) {
		struct bio_sample s;

		assert_int_equal(capture_take(p, (uint32_t)i, 0, PRESET_GOOD, &s), 0);
		if (s.has_face)
			assert_int_equal(face_quantize(s.face, &q[k++], NULL), 0);
		bio_sample_clear(&s);
	}
	for (i = 0; i < N; i++)
		for (j = i + 1; j < N; j++) {
			double c = face_cosine_q(&q[i], &q[j]);

			s1 += c;
			s2 += c * c;
			n++;
		}
	m = s1 / n;
	sd = sqrt(s2 / n - m * m);
	print_message("face impostor cosine mean %.4f sd %.4f over %ld\n", m, sd, n);
	assert_true(fabs(m) < 0.005);
	assert_true(fabs(sd - 0.065) < 0.004);
	free(q);
	population_free(p);
}

/* The view of finger pos in a record, or NULL. */
static const struct fmr_view *
view_of(const struct fmr_record *rec, unsigned pos)
{
	int i;

	for (i = 0; i < rec->n_views; i++)
		if (rec->views[i].finger_pos == pos)
			return &rec->views[i];
	return NULL;
}

/*
 * The kiosk simulator synthesises only what a kiosk sends (capture_take_some): what it produces
 * must be what a full capture holds, bit for bit, or a policy that captures less would be
 * measured on other captures than one that captures more.
 */
static void
test_partial_capture_is_the_same_capture(void **state)
{
	static const unsigned wants[] = {BIO_FINGER, BIO_FINGER | BIO_FACE, BIO_FACE | BIO_IRIS,
		BIO_IRIS, BIO_FINGER | BIO_FACE | BIO_IRIS};
	const uint32_t two = (1u << 1) | (1u << 6);
	struct population *p = NULL;
	struct bio_sample full, part;
	struct fmr_record rf, rp;
	size_t w;
	uint32_t i;
	int k, checked_views = 0;

	(void)state;
	assert_int_equal(population_new(2013, 5000, &p), 0);
	for (i = 0; i < 40; i++)
		for (w = 0; w < sizeof(wants) / sizeof(wants[0]); w++) {
			enum capture_preset preset = (enum capture_preset)(i % 3);
			uint32_t capno = 1 + i * 7;

			assert_int_equal(capture_take(p, i * 111, capno, preset, &full), 0);
			(void)bio_sample_keep(&full, wants[w]);
			assert_int_equal(capture_take_some(p, i * 111, capno, preset, wants[w],
						 FINGER_MASK_ALL, &part),
				0);
			assert_int_equal(part.finger_len, full.finger_len);
			if (full.finger_len > 0)
				assert_memory_equal(
					part.finger_record, full.finger_record, full.finger_len);
			assert_int_equal(part.has_face, full.has_face);
			assert_memory_equal(part.face, full.face, sizeof(full.face));
			assert_int_equal(part.n_iris, full.n_iris);
			assert_memory_equal(part.iris, full.iris, sizeof(full.iris));
			bio_sample_clear(&part);
			/* Two fingers only: the same impressions of those two fingers. */
			assert_int_equal(
				capture_take_some(p, i * 111, capno, preset, wants[w], two, &part),
				0);
			if (full.finger_record != NULL && part.finger_record != NULL) {
				memset(&rf, 0, sizeof(rf));
				memset(&rp, 0, sizeof(rp));
				assert_int_equal(iso19794_read(full.finger_record, full.finger_len,
							 &rf, NULL),
					0);
				assert_int_equal(iso19794_read(part.finger_record, part.finger_len,
							 &rp, NULL),
					0);
				assert_true(rp.n_views <= 2);
				for (k = 0; k < rp.n_views; k++) {
					const struct fmr_view *a = &rp.views[k];
					const struct fmr_view *b = view_of(&rf, a->finger_pos);

					assert_true(a->finger_pos == 2 || a->finger_pos == 7);
					assert_non_null(b);
					assert_int_equal(a->n_minutiae, b->n_minutiae);
					assert_int_equal(a->quality, b->quality);
					assert_memory_equal(
						a->m, b->m, sizeof(*a->m) * a->n_minutiae);
					checked_views++;
				}
				fmr_record_free(&rf);
				fmr_record_free(&rp);
			}
			bio_sample_clear(&part);
			bio_sample_clear(&full);
		}
	assert_true(checked_views > 100);
	assert_int_equal(capture_take_some(p, 1, 1, PRESET_GOOD, BIO_FINGER, 1u << 10, &part),
		PASO_E_INVALID_ARG);
	population_free(p);
}

/*
 * The iris field as first written: one sum per output value (angular kernel, then radial),
 * white noise (ziggurat draws) row by row from the seed's "iris-field" stream, each row wrapped by the
 * kernel's radius. population_iris_field computes it a row at a time; the bits must not move
 * (every capture of every workload derives from them).
 */
static void
iris_field_reference(const uint8_t seed[32], float field[BIO_IRIS_BITS])
{
	enum { KA = 8, PR = 3, ROWS = 8 + 2 * PR, ANG = 128 };
	static double white[ROWS][ANG + 2 * KA], tmp[ROWS][ANG];
	double wa[2 * KA + 1], wr[2 * PR + 1], la = 0, lr = 0, sum;
	struct synth_rng r;
	int c, row, t, k;

	for (k = -KA, sum = 0; k <= KA; k++)
		sum += wa[k + KA] = exp(-(double)(k * k) / (2 * 2.6 * 2.6));
	for (k = 0; k <= 2 * KA; k++) {
		wa[k] /= sum;
		la += wa[k] * wa[k];
	}
	for (k = -PR, sum = 0; k <= PR; k++)
		sum += wr[k + PR] = exp(-(double)(k * k) / (2 * 1.0 * 1.0));
	for (k = 0; k <= 2 * PR; k++) {
		wr[k] /= sum;
		lr += wr[k] * wr[k];
	}
	la = sqrt(la);
	lr = sqrt(lr);
	synth_rng_init(&r, seed, "iris-field", 0, 0);
	for (c = 0; c < 2; c++) {
		for (row = 0; row < ROWS; row++) {
			for (t = 0; t < ANG; t++)
				white[row][KA + t] = synth_normal_zig(&r);
			for (k = 0; k < KA; k++) {
				white[row][k] = white[row][ANG + k];
				white[row][KA + ANG + k] = white[row][KA + k];
			}
		}
		for (row = 0; row < ROWS; row++)
			for (t = 0; t < ANG; t++) {
				for (sum = 0, k = 0; k <= 2 * KA; k++)
					sum += wa[k] * white[row][t + k];
				tmp[row][t] = sum;
			}
		for (row = 0; row < 8; row++)
			for (t = 0; t < ANG; t++) {
				for (sum = 0, k = -PR; k <= PR; k++)
					sum += wr[k + PR] * tmp[row + PR + k][t];
				field[row * 256 + 2 * t + c] = (float)(sum / (la * lr));
			}
	}
}

static void
test_iris_field_bits(void **state)
{
	static float got[BIO_IRIS_BITS], want[BIO_IRIS_BITS];
	uint8_t seed[32];
	uint32_t i;

	(void)state;
	for (i = 0; i < 200; i++) {
		memset(seed, 0x3c, sizeof(seed));
		memcpy(seed, &i, sizeof(i));
		population_iris_field(seed, got);
		iris_field_reference(seed, want);
		assert_memory_equal(got, want, sizeof(got));
	}
}

/*
 * Every capture of every workload derives from the generator, so its bytes must not move
 * unnoticed: the BLAKE2b digest of 90 captures (three presets, every finger or two, with and
 * without fingers) as the generator gave them at c771d3c (Debian 12, x86-64, glibc's libm). A
 * change of the generator on purpose changes this digest, and the fixtures built from it must
 * be rebuilt (bench_fixture).
 */
static void
test_captures_are_the_recorded_bits(void **state)
{
	static const char want[] =
		"d5ae05dc719e2624dc16899c0d1826f9a301ca87b520380a95ec054764071844";
	crypto_generichash_state st;
	struct population *p = NULL;
	uint8_t d[32];
	char hex[65];
	uint32_t i;
	int e;

	(void)state;
	assert_int_equal(population_new(77, 5000, &p), 0);
	crypto_generichash_init(&st, NULL, 0, sizeof(d));
	for (i = 0; i < 90; i++) {
		struct bio_sample s;
		unsigned want_mod =
			i % 5 == 4 ? (BIO_FACE | BIO_IRIS) : (BIO_FINGER | BIO_FACE | BIO_IRIS);
		uint32_t fingers = i % 2 ? ((1u << 1) | (1u << 6)) : FINGER_MASK_ALL;
		uint8_t n;

		assert_int_equal(capture_take_some(p, i * 53, i, (enum capture_preset)(i % 3),
					 want_mod, fingers, &s),
			0);
		crypto_generichash_update(&st, s.finger_record, s.finger_len);
		crypto_generichash_update(&st, (const uint8_t *)s.face, sizeof(s.face));
		n = (uint8_t)s.n_iris;
		crypto_generichash_update(&st, &n, 1);
		for (e = 0; e < s.n_iris; e++) {
			crypto_generichash_update(&st, s.iris[e].code, BIO_IRIS_BYTES);
			crypto_generichash_update(&st, s.iris[e].mask, BIO_IRIS_BYTES);
		}
		bio_sample_clear(&s);
	}
	crypto_generichash_final(&st, d, sizeof(d));
	sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
	assert_string_equal(hex, want);
	population_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic_and_never_identical),
		cmocka_unit_test(test_cards_and_categories),
		cmocka_unit_test(test_iris_generator_statistics),
		cmocka_unit_test(test_capture_presets),
		cmocka_unit_test(test_face_generator_statistics),
		cmocka_unit_test(test_partial_capture_is_the_same_capture),
		cmocka_unit_test(test_iris_field_bits),
		cmocka_unit_test(test_captures_are_the_recorded_bits),
		cmocka_unit_test(test_ziggurat_is_normal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
