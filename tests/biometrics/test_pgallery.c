/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/pgallery.c's 1:N over a large gallery: the face-gated search on two threads
 * finds whom the exhaustive search finds, a stranger is nobody, probes are matched by key
 * generation, and fingers kept in a store are opened only for the best candidates. */
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
#include "pgallery.h"
#include "population.h"

#define FILLERS 10000 /* past PGALLERY_GATE_MIN: gated, two threads */
#define PEOPLE 12
#define STRANGERS 4
#define IRIS_POOL 16

struct fix {
	struct population *pop;
	struct protect_key *k1, *k2;
	struct pgallery *g, *gs; /* fingers in memory / in a "store" */
	struct bio_sample probe[PEOPLE + STRANGERS];
	struct protect_finger *stored[PEOPLE];
	unsigned long loads;
};

static struct fix *F;

static void
id_of(uint32_t i, int filler, uint8_t id[16])
{
	memset(id, 0, 16);
	memcpy(id, &i, 4);
	id[15] = (uint8_t)filler;
}

static int
load(void *arg, const uint8_t id[16], struct protect_finger **out)
{
	struct fix *f = arg;
	uint32_t i;

	*out = NULL;
	memcpy(&i, id, 4);
	if (id[15] != 0 || i >= PEOPLE || f->stored[i] == NULL)
		return PASO_E_NOT_FOUND;
	if ((*out = malloc(sizeof(**out))) == NULL)
		return PASO_E_NOMEM;
	memcpy(*out, f->stored[i], sizeof(**out));
	__atomic_fetch_add(&f->loads, 1, __ATOMIC_RELAXED);
	return 0;
}

/* A filler: a population face and a pool person's irises (nobody probed). */
static void
filler(struct bio_sample *pool, uint32_t i, struct bio_sample *s)
{
	uint8_t seed[32] = {0};

	memset(s, 0, sizeof(*s));
	memcpy(seed, &i, sizeof(i));
	seed[31] = 0xf1;
	population_face_vector(seed, s->face);
	s->has_face = 1;
	s->n_iris = pool[i % IRIS_POOL].n_iris;
	memcpy(s->iris, pool[i % IRIS_POOL].iris, sizeof(s->iris));
}

static int
setup(void **state)
{
	struct bio_sample pool[IRIS_POOL], s;
	uint8_t kb[PROTECT_KEY_BYTES], id[16];
	uint32_t i;

	(void)state;
	assert_true(sodium_init() >= 0);
	F = calloc(1, sizeof(*F));
	assert_non_null(F);
	assert_int_equal(population_new(5, PEOPLE + STRANGERS + IRIS_POOL, &F->pop), 0);
	memset(kb, 1, sizeof(kb));
	assert_int_equal(protect_key_new(kb, &F->k1), 0);
	memset(kb, 2, sizeof(kb));
	assert_int_equal(protect_key_new(kb, &F->k2), 0);
	assert_int_equal(pgallery_new(&F->g), 0);
	assert_int_equal(pgallery_new(&F->gs), 0);
	assert_int_equal(pgallery_set_threads(F->g, 2), 0);
	assert_int_equal(pgallery_set_threads(F->gs, 2), 0);
	assert_int_equal(pgallery_set_threads(F->g, 0), PASO_E_INVALID_ARG);
	pgallery_set_finger_loader(F->gs, load, F);
	for (i = 0; i < IRIS_POOL; i++)
		assert_int_equal(capture_take_some(F->pop, PEOPLE + STRANGERS + i, 0, PRESET_GOOD,
					 BIO_IRIS, 0, &pool[i]),
			0);
	for (i = 0; i < FILLERS; i++) {
		struct pref *p = NULL, *q = NULL;

		filler(pool, i, &s);
		id_of(i, 1, id);
		/* the second half of the gallery under key generation 2 */
		assert_int_equal(pref_new(i < FILLERS / 2 ? F->k1 : F->k2, i < FILLERS / 2 ? 1 : 2,
					 &s, BIO_FACE | BIO_IRIS, &p, NULL),
			0);
		assert_int_equal(pref_new(F->k1, 1, &s, BIO_FACE | BIO_IRIS, &q, NULL), 0);
		assert_int_equal(pgallery_put(F->g, id, p, 0, NULL), 0);
		assert_int_equal(pgallery_put(F->gs, id, q, 0, NULL), 0);
	}
	for (i = 0; i < PEOPLE; i++) {
		struct pref *p = NULL, *q = NULL;

		assert_int_equal(capture_take(F->pop, i, 0, PRESET_GOOD, &s), 0);
		id_of(i, 0, id);
		/* people 0..5 under generation 1, 6.. under 2 */
		assert_int_equal(pref_new(i < PEOPLE / 2 ? F->k1 : F->k2, i < PEOPLE / 2 ? 1 : 2,
					 &s, BIO_FACE | BIO_IRIS | BIO_FINGER, &p, NULL),
			0);
		assert_int_equal(
			pref_new(F->k1, 1, &s, BIO_FACE | BIO_IRIS | BIO_FINGER, &q, NULL), 0);
		assert_non_null(q->finger);
		F->stored[i] = malloc(sizeof(*F->stored[i]));
		assert_non_null(F->stored[i]);
		memcpy(F->stored[i], q->finger, sizeof(*q->finger));
		assert_int_equal(pgallery_put(F->g, id, p, 0, NULL), 0);
		assert_int_equal(pgallery_put(F->gs, id, q, 0, NULL), 0);
		bio_sample_clear(&s);
	}
	for (i = 0; i < PEOPLE + STRANGERS; i++)
		assert_int_equal(capture_take_some(F->pop, i, 1, PRESET_GOOD,
					 BIO_FACE | BIO_IRIS | BIO_FINGER, (1u << 1) | (1u << 6),
					 &F->probe[i]),
			0);
	for (i = 0; i < IRIS_POOL; i++)
		bio_sample_clear(&pool[i]);
	return 0;
}

static int
teardown(void **state)
{
	uint32_t i;

	(void)state;
	pgallery_free(F->g);
	pgallery_free(F->gs);
	protect_key_free(F->k1);
	protect_key_free(F->k2);
	for (i = 0; i < PEOPLE + STRANGERS; i++)
		bio_sample_clear(&F->probe[i]);
	for (i = 0; i < PEOPLE; i++) {
		sodium_memzero(F->stored[i], sizeof(*F->stored[i]));
		free(F->stored[i]);
	}
	population_free(F->pop);
	free(F);
	return 0;
}

/* Who a search named: the person, -1 for a filler, -2 for nobody. */
static int
who(const uint8_t id[16], int found)
{
	uint32_t i;

	if (!found)
		return -2;
	if (id[15] != 0)
		return -1;
	memcpy(&i, id, 4);
	return (int)i;
}

#define FMR (1e-6 / (FILLERS + PEOPLE))

/* Both generations' probes: everyone found, by the gated search as by the exhaustive one. */
static void
test_gated_finds_what_exhaustive_finds(void **state)
{
	struct pgallery_opts ex = {0, 1, 0};
	struct pgallery_stats st;
	uint32_t i;

	(void)state;
	for (i = 0; i < PEOPLE + STRANGERS; i++) {
		struct pref *p1 = NULL, *p2 = NULL;
		const struct pref *pp[2];
		struct match_scores b1, b2;
		uint8_t id1[16], id2[16];
		int f1, f2;

		assert_int_equal(pref_new(F->k1, 1, &F->probe[i], BIO_FACE | BIO_IRIS | BIO_FINGER,
					 &p1, NULL),
			0);
		assert_int_equal(pref_new(F->k2, 2, &F->probe[i], BIO_FACE | BIO_IRIS | BIO_FINGER,
					 &p2, NULL),
			0);
		pp[0] = p1;
		pp[1] = p2;
		assert_int_equal(
			pgallery_identify_ex(F->g, pp, 2, FMR, NULL, id1, &b1, &f1, &st), 0);
		assert_int_equal(st.scanned, FILLERS + PEOPLE);
		/* the gate spared most irises: strangers' faces are far below face FMR 1e-2 */
		assert_true(st.iris < (FILLERS + PEOPLE) / 10);
		assert_int_equal(
			pgallery_identify_ex(F->g, pp, 2, FMR, &ex, id2, &b2, &f2, NULL), 0);
		assert_int_equal(who(id1, f1), i < PEOPLE ? (int)i : -2);
		assert_int_equal(who(id2, f2), who(id1, f1));
		if (i < PEOPLE)
			assert_true(fabs(b1.fused - b2.fused) < 1e-9);
		pref_free(p1);
		pref_free(p2);
	}
}

/* A probe under one generation only never matches a reference of another. */
static void
test_generation_of_the_probe(void **state)
{
	uint32_t i;

	(void)state;
	for (i = 0; i < PEOPLE; i++) {
		struct pref *p = NULL;
		const struct pref *pp;
		struct match_scores b;
		uint8_t id[16];
		int f;

		assert_int_equal(pref_new(F->k2, 2, &F->probe[i], BIO_FACE | BIO_IRIS | BIO_FINGER,
					 &p, NULL),
			0);
		pp = p;
		assert_int_equal(pgallery_identify(F->g, &pp, 1, FMR, id, &b, &f), 0);
		assert_int_equal(who(id, f), i < PEOPLE / 2 ? -2 : (int)i);
		pref_free(p);
	}
	{
		const struct pref *pp[PGALLERY_MAX_GENS + 1] = {0};
		struct match_scores b;
		uint8_t id[16];
		int f;

		assert_int_equal(
			pgallery_identify(F->g, pp, PGALLERY_MAX_GENS + 1, FMR, id, &b, &f),
			PASO_E_INVALID_ARG);
	}
}

/* Fingers kept outside the gallery are opened for the best few candidates only. */
static void
test_stored_fingers_opened_for_the_best(void **state)
{
	struct pgallery_stats st;
	uint32_t i;

	(void)state;
	for (i = 0; i < PEOPLE + STRANGERS; i++) {
		struct pref *p = NULL;
		const struct pref *pp;
		struct match_scores b;
		uint8_t id[16];
		int f;
		unsigned long before = F->loads;

		assert_int_equal(pref_new(F->k1, 1, &F->probe[i], BIO_FACE | BIO_IRIS | BIO_FINGER,
					 &p, NULL),
			0);
		pp = p;
		assert_int_equal(
			pgallery_identify_ex(F->gs, &pp, 1, FMR, NULL, id, &b, &f, &st), 0);
		assert_int_equal(who(id, f), i < PEOPLE ? (int)i : -2);
		assert_true(st.finger_loads <= PGALLERY_FINGER_LOADS);
		assert_true(F->loads - before <= PGALLERY_FINGER_LOADS);
		if (i < PEOPLE) /* a mate is among the first: its fingers were compared */
			assert_true(b.modalities & MATCH_FINGER);
		pref_free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gated_finds_what_exhaustive_finds),
		cmocka_unit_test(test_generation_of_the_probe),
		cmocka_unit_test(test_stored_fingers_opened_for_the_best),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
