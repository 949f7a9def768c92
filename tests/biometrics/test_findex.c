/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/findex.c through the gallery: a finger-only search in two stages finds whom
 * the exhaustive search finds, rejects strangers, and follows removals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "capture.h"
#include "findex.h"
#include "gallery.h"
#include "match.h"
#include "population.h"

#define NE 400 /* people enrolled with ten fingers */
#define NP 24  /* of them probed */
#define NS 24  /* strangers probed */
#define TWO ((1u << 1) | (1u << 6))

static struct population *pop;
static struct gallery *g;
static double fmr;

static void
make_id(uint32_t i, uint8_t id[16])
{
	memset(id, 0x5a, 16);
	memcpy(id, &i, sizeof(i));
}

static int
setup(void **state)
{
	struct match_template *t;
	struct bio_sample s;
	uint8_t id[16];
	uint32_t i;

	(void)state;
	if (population_new(47, NE + NS, &pop) != 0 || gallery_new(2, &g) != 0)
		return -1;
	for (i = 0; i < NE; i++) {
		if (capture_take_some(pop, i, 0, PRESET_GOOD, BIO_FINGER, 0x3ff, &s) != 0)
			return -1;
		if (s.finger_record != NULL && match_template_new(&s, &t, NULL) == 0) {
			make_id(i, id);
			if (gallery_add_tmpl(g, id, t) != 0)
				return -1;
		}
		bio_sample_clear(&s);
	}
	fmr = 1e-6 / (double)gallery_size(g); /* as the hub asks: FPIR 1e-6 over the gallery */
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	gallery_free(g);
	population_free(pop);
	return 0;
}

/* A two-finger probe (ISO 2 and 7, as a detention station sends); 1 when nothing captured. */
static int
two_fingers(uint32_t person, uint32_t capture_no, enum capture_preset preset, struct bio_sample *s)
{
	assert_int_equal(capture_take_some(pop, person, capture_no, preset, BIO_FINGER, TWO, s), 0);
	if (s->finger_record == NULL) {
		bio_sample_clear(s);
		return 1;
	}
	return 0;
}

static void
test_staged_finds_whom_exhaustive_finds(void **state)
{
	struct gallery_opts ex = {0, 1, 0, 0, 0};
	struct gallery_stats est, sst;
	struct gallery_hit eh, sh;
	struct bio_sample s;
	uint8_t id[16];
	uint32_t q, person, both = 0, tried = 0;
	int ef, sf;

	(void)state;
	for (q = 0; q < NP; q++) {
		person = (q * 37 + 11) % NE;
		if (two_fingers(person, 1, q % 2 ? PRESET_POOR : PRESET_GOOD, &s) != 0)
			continue;
		tried++;
		assert_int_equal(gallery_identify_ex(g, &s, fmr, &ex, &eh, &ef, &est), 0);
		assert_int_equal(gallery_identify_ex(g, &s, fmr, NULL, &sh, &sf, &sst), 0);
		/* the staged search compares its candidates in full, not the whole gallery */
		assert_true(est.confirmed == gallery_size(g));
		assert_true(sst.confirmed <= GALLERY_FINGER_CANDIDATES);
		assert_true(sst.scanned == gallery_size(g));
		make_id(person, id);
		if (ef) {
			assert_memory_equal(eh.id, id, 16);
			/* whom the exhaustive search identifies, the staged one does, equally sure */
			assert_int_equal(sf, 1);
			assert_memory_equal(sh.id, id, 16);
			assert_true(sh.scores.fused == eh.scores.fused);
			both++;
		}
		bio_sample_clear(&s);
	}
	/* the population is one where the finger-only search works at all */
	assert_true(tried >= NP - 2);
	assert_true(both >= NP / 3);
}

static void
test_strangers_are_not_identified(void **state)
{
	struct gallery_hit h;
	struct bio_sample s;
	uint32_t q;
	int f;

	(void)state;
	for (q = 0; q < NS; q++) {
		if (two_fingers(NE + q, 1, PRESET_DETENTION, &s) != 0)
			continue;
		assert_int_equal(gallery_identify(g, &s, fmr, &h, &f), 0);
		assert_int_equal(f, 0);
		bio_sample_clear(&s);
	}
}

/* A probe of person that both searches identify (the first of a few captures that is). */
static int
identifiable(uint32_t person, struct bio_sample *s)
{
	struct gallery_opts ex = {0, 1, 0, 0, 0};
	struct gallery_hit h;
	uint32_t c;
	int f;

	for (c = 2; c < 12; c++) {
		if (two_fingers(person, c, PRESET_GOOD, s) != 0)
			continue;
		assert_int_equal(gallery_identify_ex(g, s, fmr, &ex, &h, &f, NULL), 0);
		if (f)
			return 0;
		bio_sample_clear(s);
	}
	return 1;
}

static void
test_removed_person_is_not_found(void **state)
{
	struct gallery_hit h;
	struct bio_sample s, p, e;
	struct match_template *t;
	uint8_t id[16], last[16];
	uint32_t person = 7, moved = NE - 1;
	int f;

	(void)state;
	make_id(person, id);
	make_id(moved, last);
	assert_int_equal(identifiable(person, &s), 0);
	assert_int_equal(identifiable(moved, &p), 0);
	assert_int_equal(gallery_identify(g, &s, fmr, &h, &f), 0);
	assert_int_equal(f, 1);
	assert_memory_equal(h.id, id, 16);
	/* erased: the descriptors go with the entry (the last entry moves into its place) */
	assert_int_equal(gallery_remove(g, id), 0);
	assert_int_equal(gallery_identify(g, &s, fmr, &h, &f), 0);
	assert_int_equal(f, 0);
	/* the entry that moved is still found through its own descriptors */
	assert_int_equal(gallery_identify(g, &p, fmr, &h, &f), 0);
	assert_int_equal(f, 1);
	assert_memory_equal(h.id, last, 16);
	/* enrolled again: found again */
	assert_int_equal(capture_take_some(pop, person, 0, PRESET_GOOD, BIO_FINGER, 0x3ff, &e), 0);
	assert_int_equal(match_template_new(&e, &t, NULL), 0);
	assert_int_equal(gallery_add_tmpl(g, id, t), 0);
	assert_int_equal(gallery_identify(g, &s, fmr, &h, &f), 0);
	assert_int_equal(f, 1);
	assert_memory_equal(h.id, id, 16);
	bio_sample_clear(&e);
	bio_sample_clear(&p);
	bio_sample_clear(&s);
}

/* findex_describe as findex.h states it, one cylinder and one table at a time. */
static void
describe_reference(const struct finger_template *t, struct findex_finger out[FINDEX_POSITIONS])
{
	uint16_t place[FINDEX_TABLES][FINDEX_HASH_BITS];
	uint64_t value[FINGER_CYL_WORDS], mask[FINGER_CYL_WORDS];
	int v, pos, m, l, k, ok;
	unsigned h;

	memset(out, 0, FINDEX_POSITIONS * sizeof(*out));
	findex_places(place);
	for (v = 0; v < finger_template_n_views(t); v++) {
		pos = finger_template_view_pos(t, v);
		if (pos < 1 || pos > FINDEX_POSITIONS)
			continue;
		for (m = 0; m < finger_template_view_minutiae(t, v); m++) {
			if (!finger_template_cylinder(t, v, m, value, mask))
				continue;
			for (l = 0; l < FINDEX_TABLES; l++) {
				for (h = 0, ok = 1, k = 0; k < FINDEX_HASH_BITS; k++) {
					unsigned p = place[l][k];

					ok &= (int)(mask[p / 64] >> (p % 64)) & 1;
					h = h << 1 | (unsigned)((value[p / 64] >> (p % 64)) & 1);
				}
				if (ok && h != 0) {
					h += (unsigned)l << FINDEX_HASH_BITS;
					out[pos - 1].w[h / 64] |= 1ull << (h % 64);
				}
			}
		}
	}
}

/*
 * The descriptor is computed many minutiae at a time (bit-sliced); it must be the one the
 * definition gives, bit for bit, for every preset, views of more than 64 minutiae included
 * (a rolled impression of a poor capture has that many).
 */
static void
test_describe_matches_definition(void **state)
{
	struct findex_finger got[FINDEX_POSITIONS], want[FINDEX_POSITIONS];
	struct finger_template *ft;
	struct bio_sample s;
	uint16_t n[FINDEX_POSITIONS];
	int k, v, views = 0, over64 = 0, nonempty = 0;
	uint32_t i;
	unsigned c, w;

	(void)state;
	for (i = 0; i < 60; i++) {
		enum capture_preset pr = (enum capture_preset)(i % 3);

		assert_int_equal(capture_take_some(pop, i, 7, pr, BIO_FINGER, 0x3ff, &s), 0);
		if (s.finger_record == NULL)
			continue;
		assert_int_equal(
			finger_template_from_record(s.finger_record, s.finger_len, &ft, NULL), 0);
		findex_describe(ft, got, n);
		describe_reference(ft, want);
		for (k = 0; k < FINDEX_POSITIONS; k++) {
			assert_memory_equal(&got[k], &want[k], sizeof(got[k]));
			for (c = 0, w = 0; w < FINDEX_WORDS; w++)
				c += (unsigned)__builtin_popcountll(want[k].w[w]);
			assert_int_equal(n[k], c);
			nonempty += c > 0;
		}
		for (v = 0; v < finger_template_n_views(ft); v++, views++)
			over64 += finger_template_view_minutiae(ft, v) > 64;
		finger_template_free(ft);
		bio_sample_clear(&s);
	}
	assert_true(nonempty > 300);
	print_message("%d views, %d with more than 64 minutiae\n", views, over64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_staged_finds_whom_exhaustive_finds),
		cmocka_unit_test(test_strangers_are_not_identified),
		cmocka_unit_test(test_removed_person_is_not_found),
		cmocka_unit_test(test_describe_matches_definition),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
