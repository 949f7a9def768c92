/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/gallery.c: finds the right person, says not found for a stranger. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <cmocka.h>

#include "capture.h"
#include "errors.h"
#include "fcache.h"
#include "gallery.h"
#include "match.h"
#include "population.h"

#define NE 24 /* people enrolled */
#define NS 6  /* people never enrolled */

static struct population *pop;
static struct bio_sample enrol[NE], probe[NE + NS];

static void
make_id(uint32_t i, uint8_t id[16])
{
	memset(id, 0xa5, 16);
	memcpy(id, &i, sizeof(i));
}

static int
setup(void **state)
{
	uint32_t i;

	(void)state;
	if (population_new(31, NE + NS, &pop) != 0)
		return -1;
	for (i = 0; i < NE; i++)
		if (capture_take(pop, i, 0, PRESET_GOOD, &enrol[i]) != 0)
			return -1;
	for (i = 0; i < NE + NS; i++)
		if (capture_take(pop, i, 1, PRESET_DETENTION, &probe[i]) != 0)
			return -1;
	return 0;
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < NE; i++)
		bio_sample_clear(&enrol[i]);
	for (i = 0; i < NE + NS; i++)
		bio_sample_clear(&probe[i]);
	population_free(pop);
	return 0;
}

static struct gallery *
enrolled_gallery(unsigned threads)
{
	struct gallery *g = NULL;
	uint8_t id[16];
	uint32_t i;

	assert_int_equal(gallery_new(threads, &g), 0);
	for (i = 0; i < NE; i++) {
		make_id(i, id);
		assert_int_equal(gallery_add(g, id, &enrol[i]), 0);
	}
	assert_int_equal(gallery_size(g), NE);
	return g;
}

static void
test_finds_right_person_and_not_strangers(void **state)
{
	struct gallery *g = enrolled_gallery(1);
	struct gallery_hit hit;
	uint8_t id[16];
	uint32_t i;
	int found;

	(void)state;
	for (i = 0; i < NE; i++) {
		assert_int_equal(gallery_identify(g, &probe[i], 1e-6, &hit, &found), 0);
		make_id(i, id);
		assert_int_equal(found, 1);
		assert_memory_equal(hit.id, id, 16);
		assert_true(hit.scores.fused >= 6);
	}
	for (i = NE; i < NE + NS; i++) {
		assert_int_equal(gallery_identify(g, &probe[i], 1e-6, &hit, &found), 0);
		assert_int_equal(found, 0);
		assert_true(hit.scores.fused < 6);
	}
	gallery_free(g);
}

/* Templates built once (as the hub does) give the same answers as samples. */
static void
test_template_entry_points(void **state)
{
	struct gallery *gs = enrolled_gallery(1), *gt = NULL;
	struct match_template *t = NULL;
	struct match_scores sc, ref;
	struct gallery_hit hs, ht;
	uint8_t id[16], other[16];
	uint32_t i;
	int fs, ft;

	(void)state;
	assert_int_equal(gallery_new(1, &gt), 0);
	for (i = 0; i < NE; i++) {
		make_id(i, id);
		assert_int_equal(match_template_new(&enrol[i], &t, NULL), 0);
		assert_int_equal(gallery_add_tmpl(gt, id, t), 0); /* takes t */
	}
	assert_int_equal(gallery_size(gt), NE);
	make_id(0, id);
	assert_int_equal(match_template_new(&enrol[0], &t, NULL), 0);
	assert_int_equal(gallery_add_tmpl(gt, id, t), PASO_E_EXISTS);
	for (i = 0; i < NE + NS; i++) {
		assert_int_equal(match_template_new(&probe[i], &t, NULL), 0);
		assert_int_equal(gallery_identify(gs, &probe[i], 1e-6, &hs, &fs), 0);
		assert_int_equal(gallery_identify_tmpl(gt, t, 1e-6, &ht, &ft), 0);
		assert_int_equal(fs, ft);
		assert_memory_equal(hs.id, ht.id, 16);
		assert_true(hs.scores.fused == ht.scores.fused);
		if (i < NE) {
			/* 1:1 against the right entry matches, against another one does not. */
			make_id(i, id);
			make_id((i + 1) % NE, other);
			assert_int_equal(gallery_verify(gt, id, t, &sc), 0);
			assert_int_equal(match_verify(&enrol[i], &probe[i], &ref), 0);
			assert_true(sc.fused == ref.fused);
			assert_true(match_decide(&sc, 1e-4));
			assert_int_equal(gallery_verify(gt, other, t, &sc), 0);
			assert_false(match_decide(&sc, 1e-4));
		}
		match_template_free(t);
	}
	make_id(NE + 1, id);
	assert_int_equal(match_template_new(&probe[0], &t, NULL), 0);
	assert_int_equal(gallery_verify(gt, id, t, &sc), PASO_E_NOT_FOUND);
	match_template_free(t);
	gallery_free(gs);
	gallery_free(gt);
}

static void
test_partial_probes(void **state)
{
	struct gallery *g = enrolled_gallery(1);
	struct gallery_hit hit;
	struct bio_sample p;
	struct gallery_opts ex = {0, 1, 0, 0, 0};
	uint8_t id[16];
	int found;

	(void)state;
	make_id(5, id);
	/* fingers only: compared with everyone by fingers */
	assert_int_equal(capture_take(pop, 5, 2, PRESET_GOOD, &p), 0);
	p.has_face = 0;
	p.n_iris = 0;
	assert_int_equal(gallery_identify(g, &p, 1e-6, &hit, &found), 0);
	assert_int_equal(found, 1);
	assert_memory_equal(hit.id, id, 16);
	assert_true(hit.scores.modalities == MATCH_FINGER);
	bio_sample_clear(&p);
	/* face only: found by the fast search */
	assert_int_equal(capture_take(pop, 5, 3, PRESET_GOOD, &p), 0);
	free(p.finger_record);
	p.finger_record = NULL;
	p.finger_len = 0;
	p.n_iris = 0;
	if (p.has_face) {
		assert_int_equal(gallery_identify(g, &p, 1e-4, &hit, &found), 0);
		assert_int_equal(found, 1);
		assert_memory_equal(hit.id, id, 16);
	}
	bio_sample_clear(&p);
	/* the exhaustive reference agrees with the candidate search */
	assert_int_equal(gallery_identify_ex(g, &probe[9], 1e-6, &ex, &hit, &found, NULL), 0);
	make_id(9, id);
	assert_int_equal(found, 1);
	assert_memory_equal(hit.id, id, 16);
	gallery_free(g);
}

static void
test_add_remove(void **state)
{
	struct gallery *g = enrolled_gallery(1);
	struct gallery_hit hit;
	struct bio_sample empty;
	uint8_t id[16];
	int found;

	(void)state;
	make_id(3, id);
	assert_int_equal(gallery_add(g, id, &enrol[4]), PASO_E_EXISTS);
	memset(&empty, 0, sizeof(empty));
	make_id(999, id);
	assert_int_equal(gallery_add(g, id, &empty), PASO_E_INVALID_ARG);
	make_id(3, id);
	assert_int_equal(gallery_remove(g, id), 0);
	assert_int_equal(gallery_remove(g, id), PASO_E_NOT_FOUND);
	assert_int_equal(gallery_size(g), NE - 1);
	assert_int_equal(gallery_identify(g, &probe[3], 1e-6, &hit, &found), 0);
	assert_int_equal(found, 0);
	/* the entry moved into the hole is still found under its own id */
	assert_int_equal(gallery_identify(g, &probe[NE - 1], 1e-6, &hit, &found), 0);
	make_id(NE - 1, id);
	assert_int_equal(found, 1);
	assert_memory_equal(hit.id, id, 16);
	gallery_free(g);
	/* an empty gallery finds nobody */
	assert_int_equal(gallery_new(0, &g), 0);
	assert_int_equal(gallery_identify(g, &probe[0], 1e-6, &hit, &found), 0);
	assert_int_equal(found, 0);
	gallery_free(g);
}

/*
 * The commit loop's cycle: enrolments land in a small gallery (recent), move into the main one,
 * and the small one is cleared and reused. After it once held many (its capacity stays), a
 * clear must still leave it finding nobody it held, and finding whom it holds next.
 */
static void
test_move_clear_reuse(void **state)
{
	struct gallery *g = NULL, *r = NULL;
	struct gallery_hit hit;
	uint8_t id[16];
	uint32_t i;
	int found;

	(void)state;
	assert_int_equal(gallery_new(1, &g), 0);
	assert_int_equal(gallery_new(1, &r), 0);
	for (i = 0; i < NE; i++) { /* capacity grows past what later rounds hold */
		make_id(1000 + i, id);
		assert_int_equal(gallery_add(r, id, &enrol[i]), 0);
	}
	gallery_clear(r);
	assert_int_equal(gallery_size(r), 0);
	assert_int_equal(gallery_identify(r, &probe[0], 1e-6, &hit, &found), 0);
	assert_int_equal(found, 0);
	for (i = 0; i < NE; i += 4) { /* rounds of 4: one removed (rolled back), 3 moved */
		uint32_t j;

		for (j = i; j < i + 4; j++) {
			make_id(j, id);
			assert_int_equal(gallery_add(r, id, &enrol[j]), 0);
		}
		make_id(i + 1, id);
		assert_int_equal(gallery_remove(r, id), 0);
		assert_int_equal(gallery_identify(r, &probe[i + 3], 1e-6, &hit, &found), 0);
		assert_int_equal(found, 1);
		assert_int_equal(gallery_move_all_try(g, r), 1);
		assert_int_equal(gallery_size(r), 0);
		assert_int_equal(gallery_identify(r, &probe[i], 1e-6, &hit, &found), 0);
		assert_int_equal(found, 0);
	}
	assert_int_equal(gallery_size(g), NE / 4 * 3);
	for (i = 0; i < NE; i++) {
		assert_int_equal(gallery_identify(g, &probe[i], 1e-6, &hit, &found), 0);
		assert_int_equal(found, i % 4 != 1);
		make_id(i, id);
		if (found)
			assert_memory_equal(hit.id, id, 16);
	}
	gallery_free(r);
	gallery_free(g);
}

/* Filler i's unit face vector: population seed (i, tag), tag telling fillers of one test apart. */
static void
stranger_face(uint32_t i, uint8_t tag, float face[BIO_FACE_DIM])
{
	uint8_t seed[32] = {0};
	double ss = 0;
	int k;

	memcpy(seed, &i, sizeof(i));
	seed[31] = tag;
	population_face_vector(seed, face);
	for (k = 0; k < BIO_FACE_DIM; k++)
		ss += (double)face[k] * face[k];
	for (k = 0; k < BIO_FACE_DIM; k++)
		face[k] = (float)(face[k] / sqrt(ss));
}

static void
test_parallel_scan_over_many(void **state)
{
	struct gallery *g = NULL;
	struct gallery_hit hit;
	struct gallery_stats st;
	struct bio_sample f;
	uint8_t id[16];
	uint32_t i;
	int found;

	(void)state;
	assert_int_equal(gallery_new(2, &g), 0);
	/* 9000 face-only strangers push the gallery over the threshold for worker threads */
	memset(&f, 0, sizeof(f));
	f.has_face = 1;
	for (i = 0; i < 9000; i++) {
		stranger_face(i, 0, f.face);
		make_id(100000 + i, id);
		assert_int_equal(gallery_add(g, id, &f), 0);
	}
	for (i = 0; i < NE; i++) {
		make_id(i, id);
		assert_int_equal(gallery_add(g, id, &enrol[i]), 0);
	}
	for (i = 0; i < NE; i += 5) {
		assert_int_equal(
			gallery_identify_ex(g, &probe[i], 1e-6, NULL, &hit, &found, &st), 0);
		make_id(i, id);
		assert_int_equal(found, 1);
		assert_memory_equal(hit.id, id, 16);
		assert_int_equal(st.scanned, 9000 + NE);
		assert_true(st.confirmed <= GALLERY_CANDIDATES);
	}
	assert_int_equal(gallery_identify(g, &probe[NE], 1e-6, &hit, &found), 0);
	assert_int_equal(found, 0);
	gallery_free(g);
}

struct searcher {
	struct gallery *g;
	struct match_template **t;
	struct gallery_hit hit[NE + NS];
	int found[NE + NS], start;
};

static void *
search_every_third(void *arg)
{
	struct searcher *s = arg;
	int i;

	for (i = s->start; i < NE + NS; i += 3)
		if (gallery_identify_batched(s->g, s->t[i], 1e-6, &s->hit[i], &s->found[i]) != 0)
			s->found[i] = -1;
	return NULL;
}

/*
 * Searches from many threads at once go together in passes over the gallery: each gets the
 * answer it would get alone. And the face gate of a large gallery decides as the full scan of
 * every iris does on these probes (detention-preset captures, the hardest preset).
 */
static void
test_batched_and_gated_searches_agree(void **state)
{
	struct gallery *g = NULL;
	struct gallery_hit hit;
	struct gallery_opts nogate = {0, 0, -1, 0, 0};
	struct match_template *t[NE + NS];
	static struct searcher sr[3];
	pthread_t th[3];
	struct bio_sample f;
	uint8_t id[16];
	uint32_t i;
	int found, k;

	(void)state;
	assert_int_equal(gallery_new(2, &g), 0);
	memset(&f, 0, sizeof(f));
	f.has_face = 1;
	for (i = 0; i < GALLERY_GATE_MIN; i++) {
		stranger_face(i, 0, f.face);
		make_id(100000 + i, id);
		assert_int_equal(gallery_add(g, id, &f), 0);
	}
	for (i = 0; i < NE; i++) {
		make_id(i, id);
		assert_int_equal(gallery_add(g, id, &enrol[i]), 0);
	}
	for (i = 0; i < NE + NS; i++)
		assert_int_equal(match_template_new(&probe[i], &t[i], NULL), 0);
	for (k = 0; k < 3; k++) {
		memset(&sr[k], 0, sizeof(sr[k]));
		sr[k].g = g;
		sr[k].t = t;
		sr[k].start = k;
		assert_int_equal(pthread_create(&th[k], NULL, search_every_third, &sr[k]), 0);
	}
	for (k = 0; k < 3; k++)
		pthread_join(th[k], NULL);
	for (i = 0; i < NE + NS; i++) {
		const struct searcher *s = &sr[i % 3];

		assert_int_equal(gallery_identify_tmpl(g, t[i], 1e-6, &hit, &found), 0);
		assert_int_equal(s->found[i], found);
		assert_memory_equal(s->hit[i].id, hit.id, 16);
		assert_true(s->hit[i].scores.fused == hit.scores.fused);
		assert_int_equal(
			gallery_identify_ex(g, &probe[i], 1e-6, &nogate, &hit, &k, NULL), 0);
		assert_int_equal(k, found);
		if (found) {
			make_id(i, id);
			assert_memory_equal(hit.id, id, 16);
		}
		match_template_free(t[i]);
	}
	gallery_free(g);
}

static void copy_keep(const struct bio_sample *s, unsigned keep, struct bio_sample *out);

/*
 * A gallery past GALLERY_SKETCH_MIN is searched by face sketch first: on detention-preset probes
 * it finds whom the int8 scan of every face finds (and no one else), a person enrolled without
 * a face included, and an entry moved by a removal keeps its own sketch (the moved person is
 * still found).
 */
static void
test_sketch_search_finds_whom_the_full_scan_finds(void **state)
{
	struct gallery *g = NULL;
	struct gallery_hit hit, full;
	struct gallery_opts noskt = {0, 0, 0, 0, -1};
	struct bio_sample f, nf;
	uint8_t id[16];
	uint32_t i, nfound = 0;
	int found, found_full;

	(void)state;
	assert_int_equal(gallery_new(2, &g), 0);
	assert_int_equal(gallery_reserve(g, GALLERY_SKETCH_MIN + NE), 0);
	memset(&f, 0, sizeof(f));
	f.has_face = 1;
	for (i = 0; i < GALLERY_SKETCH_MIN; i++) {
		stranger_face(i, 7, f.face);
		make_id(100000 + i, id);
		assert_int_equal(gallery_add(g, id, &f), 0);
	}
	for (i = 0; i < NE; i++) {
		make_id(i, id);
		if (i == 0) { /* enrolled without a face: found by the scan of faceless entries */
			copy_keep(&enrol[0], BIO_IRIS | BIO_FINGER, &nf);
			assert_int_equal(gallery_add(g, id, &nf), 0);
			bio_sample_clear(&nf);
		} else
			assert_int_equal(gallery_add(g, id, &enrol[i]), 0);
	}
	for (i = 0; i < NE + NS; i++) {
		assert_int_equal(gallery_identify(g, &probe[i], 1e-6, &hit, &found), 0);
		assert_int_equal(
			gallery_identify_ex(g, &probe[i], 1e-6, &noskt, &full, &found_full, NULL),
			0);
		assert_int_equal(found, found_full);
		if (found) {
			make_id(i, id);
			assert_memory_equal(hit.id, id, 16);
			nfound++;
		}
		assert_int_equal(found, i < NE);
	}
	assert_int_equal(nfound, NE);
	/* the last entry (person NE - 1) moves into the removed filler's place */
	make_id(100000, id);
	assert_int_equal(gallery_remove(g, id), 0);
	assert_int_equal(gallery_identify(g, &probe[NE - 1], 1e-6, &hit, &found), 0);
	assert_int_equal(found, 1);
	make_id(NE - 1, id);
	assert_memory_equal(hit.id, id, 16);
	gallery_free(g);
}

/*
 * A search since a sequence number sees exactly the entries added after it: found by id among
 * the latest additions (also one moved by a removal), and by every entry's number once more
 * were added since than the gallery remembers.
 */
static void
test_identify_since_sees_only_later_additions(void **state)
{
	struct gallery *g = NULL;
	struct gallery_hit hit;
	struct bio_sample f;
	struct match_template *t;
	uint8_t id[16];
	uint64_t after;
	uint32_t i;
	int found, round;

	(void)state;
	assert_int_equal(gallery_new(1, &g), 0);
	for (i = 0; i < NE / 2; i++) {
		make_id(i, id);
		assert_int_equal(gallery_add(g, id, &enrol[i]), 0);
	}
	after = gallery_seq(g);
	for (i = NE / 2; i < NE; i++) {
		make_id(i, id);
		assert_int_equal(gallery_add(g, id, &enrol[i]), 0);
	}
	make_id(0, id);
	assert_int_equal(gallery_remove(g, id), 0); /* person NE - 1 moves into its place */
	memset(&f, 0, sizeof(f));
	f.has_face = 1;
	for (round = 0; round < 2; round++) {
		for (i = 0; i < NE; i++) {
			assert_int_equal(match_template_new(&probe[i], &t, NULL), 0);
			assert_int_equal(
				gallery_identify_since_tmpl(g, t, 1e-6, after, &hit, &found), 0);
			match_template_free(t);
			assert_int_equal(found, i >= NE / 2);
			if (found) {
				make_id(i, id);
				assert_memory_equal(hit.id, id, 16);
			}
		}
		/* more additions since than the ring holds: the second round scans numbers */
		for (i = 0; round == 0 && i < 16384; i++) {
			stranger_face(i, 9, f.face);
			make_id(200000 + i, id);
			assert_int_equal(gallery_add(g, id, &f), 0);
		}
	}
	gallery_free(g);
}

/* A copy of s holding only the modalities in keep (caller clears it). */
static void
copy_keep(const struct bio_sample *s, unsigned keep, struct bio_sample *out)
{
	*out = *s;
	out->finger_record = NULL;
	if (s->finger_record != NULL) {
		assert_non_null(out->finger_record = malloc(s->finger_len));
		memcpy(out->finger_record, s->finger_record, s->finger_len);
	}
	(void)bio_sample_keep(out, keep);
}

struct loads {
	unsigned n;
};

/* A loader as the hub's store would be: person i's enrolment fingers, counted. */
static int
enrol_fingers(void *arg, const uint8_t id[16], uint32_t positions, struct finger_template **out)
{
	struct loads *l = arg;
	uint32_t i;

	memcpy(&i, id, sizeof(i));
	l->n++;
	return finger_template_from_record_at(
		enrol[i].finger_record, enrol[i].finger_len, positions, out, NULL);
}

/* As enrol_fingers, also noting which positions were asked for. */
struct asked {
	unsigned n;
	uint32_t positions;
};

static int
enrol_fingers_asked(
	void *arg, const uint8_t id[16], uint32_t positions, struct finger_template **out)
{
	struct asked *a = arg;
	uint32_t i;

	memcpy(&i, id, sizeof(i));
	a->n++;
	a->positions |= positions;
	return finger_template_from_record_at(
		enrol[i].finger_record, enrol[i].finger_len, positions, out, NULL);
}

/*
 * An entry opened from the store for a two-finger probe (ISO 2 and 7, as a detention station
 * sends) is built at those positions only, and every comparison scores exactly as against the
 * whole template kept in memory.
 */
static void
test_loader_builds_probe_positions(void **state)
{
	const uint32_t two = (1u << 1) | (1u << 6);
	struct gallery *mem = enrolled_gallery(1), *st = NULL;
	struct finger_template *whole = NULL, *part = NULL;
	struct match_template *def = NULL, *pt = NULL;
	struct match_scores a, b;
	struct asked asked = {0};
	struct bio_sample p;
	uint8_t id[16];
	uint32_t i, j;

	(void)state;
	assert_int_equal(gallery_new(1, &st), 0);
	gallery_set_finger_loader(st, enrol_fingers_asked, &asked);
	for (i = 0; i < NE; i++) {
		make_id(i, id);
		assert_int_equal(match_template_new_deferred(&enrol[i], &def, NULL), 0);
		assert_int_equal(gallery_add_tmpl(st, id, def), 0);
	}
	for (i = 0; i < NE + NS; i++) {
		assert_int_equal(
			capture_take_some(pop, i, 9, PRESET_POOR, BIO_FINGER | BIO_FACE, two, &p),
			0);
		if (p.finger_record == NULL) {
			bio_sample_clear(&p);
			continue;
		}
		assert_int_equal(match_template_new(&p, &pt, NULL), 0);
		for (j = 0; j < NE; j++) {
			make_id(j, id);
			assert_int_equal(gallery_verify(mem, id, pt, &a), 0);
			assert_int_equal(gallery_verify(st, id, pt, &b), 0);
			assert_true(a.finger_ev == b.finger_ev);
			assert_true(a.fused == b.fused);
		}
		match_template_free(pt);
		bio_sample_clear(&p);
	}
	assert_true(asked.n > 0);
	assert_int_equal(asked.positions, two);

	/* directly: the part holds the two views only and scores as the whole */
	assert_int_equal(finger_template_from_record(
				 enrol[0].finger_record, enrol[0].finger_len, &whole, NULL),
		0);
	assert_int_equal(finger_template_from_record_at(
				 enrol[0].finger_record, enrol[0].finger_len, two, &part, NULL),
		0);
	assert_true(finger_template_n_views(whole) > 2);
	assert_int_equal(finger_template_n_views(part), 2);
	assert_int_equal(finger_template_positions(part), two);
	assert_int_equal(finger_template_positions(NULL), 0);
	finger_template_free(whole);
	finger_template_free(part);
	gallery_free(mem);
	gallery_free(st);
}

/*
 * A probe whose finger template is deferred gets the decisions of one built in full; its fingers
 * are built only when a comparison needs them (an entry with nothing but fingers); a deferred
 * template added to a gallery keeps its fingers: built at once without a loader, opened through
 * the loader with one.
 */
static void
test_deferred_finger_templates(void **state)
{
	struct gallery *g = enrolled_gallery(2), *g2 = NULL, *g3 = NULL;
	struct match_template *full = NULL, *def = NULL;
	struct gallery_hit h1, h2;
	struct bio_sample only_finger, no_finger;
	struct loads loads = {0};
	uint8_t id[16];
	uint32_t i;
	int f1, f2;

	(void)state;
	for (i = 0; i < NE + NS; i++) {
		assert_int_equal(match_template_new(&probe[i], &full, NULL), 0);
		assert_int_equal(match_template_new_deferred(&probe[i], &def, NULL), 0);
		assert_true(match_template_has_finger(def));
		assert_int_equal(gallery_identify_tmpl(g, full, 1e-6, &h1, &f1), 0);
		assert_int_equal(gallery_identify_tmpl(g, def, 1e-6, &h2, &f2), 0);
		assert_int_equal(f1, f2);
		if (f1)
			assert_memory_equal(h1.id, h2.id, 16);
		assert_int_equal(f1, i < NE);
		match_template_free(full);
		match_template_free(def);
	}
	gallery_free(g);

	/* person 3 enrolled with fingers only: the deferred probe's fingers are built to find it */
	assert_int_equal(gallery_new(1, &g2), 0);
	copy_keep(&enrol[3], BIO_FINGER, &only_finger);
	make_id(3, id);
	assert_int_equal(gallery_add(g2, id, &only_finger), 0);
	bio_sample_clear(&only_finger);
	assert_int_equal(match_template_new_deferred(&probe[3], &def, NULL), 0);
	assert_true(match_template_deferred(def));
	assert_int_equal(gallery_identify_tmpl(g2, def, 1e-6, &h2, &f2), 0);
	assert_int_equal(f2, 1);
	assert_memory_equal(h2.id, id, 16);
	assert_false(match_template_deferred(def));
	match_template_free(def);

	/* a deferred template added without a loader: its fingers are built and kept */
	assert_int_equal(match_template_new_deferred(&enrol[4], &def, NULL), 0);
	make_id(4, id);
	assert_int_equal(gallery_add_tmpl(g2, id, def), 0);
	copy_keep(&probe[4], BIO_FINGER, &only_finger);
	assert_int_equal(gallery_identify(g2, &only_finger, 1e-6, &h2, &f2), 0);
	assert_int_equal(f2, 1);
	assert_memory_equal(h2.id, id, 16);
	gallery_free(g2);

	/* with a loader: only that the entry has fingers is kept, and they are opened from it */
	assert_int_equal(gallery_new(1, &g3), 0);
	gallery_set_finger_loader(g3, enrol_fingers, &loads);
	assert_int_equal(match_template_new_deferred(&enrol[4], &def, NULL), 0);
	assert_int_equal(gallery_add_tmpl(g3, id, def), 0);
	assert_int_equal(gallery_identify(g3, &only_finger, 1e-6, &h2, &f2), 0);
	assert_int_equal(f2, 1);
	assert_memory_equal(h2.id, id, 16);
	assert_true(loads.n >= 1);
	/* a probe face and irises decide opens no fingers (a stranger's two irises) */
	loads.n = 0;
	copy_keep(&probe[NE], BIO_FINGER | BIO_FACE | BIO_IRIS, &no_finger);
	assert_int_equal(gallery_identify(g3, &no_finger, 1e-6, &h2, &f2), 0);
	assert_int_equal(f2, 0);
	assert_int_equal(loads.n, 0);
	bio_sample_clear(&no_finger);
	bio_sample_clear(&only_finger);
	gallery_free(g3);
}

/*
 * With fingers in the store (a loader), a search opens a candidate's fingers only where face
 * and irises leave the decision open: a person never enrolled, probed with both irises or with
 * one (the other eye not captured), opens few, while every enrolled person probed the same way
 * is still found.
 */
static void
test_strangers_open_few_fingers(void **state)
{
	struct gallery *g = NULL;
	struct match_template *t = NULL;
	struct bio_sample s;
	struct gallery_hit h;
	struct loads loads = {0};
	unsigned opened[2] = {0, 0}, probed[2] = {0, 0};
	uint8_t id[16];
	uint32_t i;
	int f, eyes;

	(void)state;
	assert_int_equal(gallery_new(2, &g), 0);
	gallery_set_finger_loader(g, enrol_fingers, &loads);
	for (i = 0; i < NE; i++) {
		assert_int_equal(match_template_new_deferred(&enrol[i], &t, NULL), 0);
		make_id(i, id);
		assert_int_equal(gallery_add_tmpl(g, id, t), 0); /* takes t */
	}
	for (eyes = 2; eyes >= 1; eyes--)
		for (i = 0; i < NE + NS; i++) {
			if (probe[i].n_iris < eyes)
				continue;
			copy_keep(&probe[i], BIO_FINGER | BIO_FACE | BIO_IRIS, &s);
			s.n_iris = eyes; /* one eye: the second is not sent */
			loads.n = 0;
			assert_int_equal(match_template_new_deferred(&s, &t, NULL), 0);
			assert_int_equal(gallery_identify_tmpl(g, t, 1e-6, &h, &f), 0);
			assert_int_equal(f, i < NE);
			if (f) {
				make_id(i, id);
				assert_memory_equal(h.id, id, 16);
			} else {
				opened[eyes - 1] += loads.n;
				probed[eyes - 1]++;
			}
			match_template_free(t);
			bio_sample_clear(&s);
		}
	/* Before, a stranger probed with one eye opened GALLERY_FINGER_LOADS (4) candidates'
	 * fingers, every candidate being open; now at most half that, and fewer with both eyes
	 * (here 5 openings for 6 one-eyed strangers, 0 for 5 with both eyes). */
	assert_true(probed[0] >= 3 && probed[1] >= 3);
	assert_true(opened[0] <= probed[0] * GALLERY_FINGER_LOADS / 2);
	assert_true(opened[1] <= probed[1] / 2);
	gallery_free(g);
}

/* A store-kept gallery (deferred enrolments, loader l) with a finger cache of max_bytes. */
static struct gallery *
cached_gallery(struct asked *l, size_t max_bytes)
{
	struct match_template *def = NULL;
	struct gallery *g = NULL;
	uint8_t id[16];
	uint32_t i;

	assert_int_equal(gallery_new(2, &g), 0);
	gallery_set_finger_loader(g, enrol_fingers_asked, l);
	assert_int_equal(gallery_set_finger_cache(g, max_bytes), 0);
	for (i = 0; i < NE; i++) {
		make_id(i, id);
		assert_int_equal(match_template_new_deferred(&enrol[i], &def, NULL), 0);
		assert_int_equal(gallery_add_tmpl(g, id, def), 0);
	}
	return g;
}

/*
 * Fingers opened from the store are kept (gallery_set_finger_cache): a traveller verified again
 * is not opened again and scores exactly as when opened; a template built for a two-finger probe
 * does not serve a ten-finger one (opened again, for every position), while one built for every
 * position serves both; an erased entry's fingers are not used again (its re-enrolment is opened
 * afresh); the cache never holds more than its bound, least recently used out; searches find
 * whom they found without it.
 */
static void
test_finger_cache(void **state)
{
	const uint32_t two = (1u << 1) | (1u << 6);
	struct gallery *mem = enrolled_gallery(1), *g, *small;
	struct match_template *pt2 = NULL, *pt10 = NULL, *def = NULL;
	struct match_scores a, b, c;
	struct finger_template *ft = NULL;
	struct fcache *fc = NULL;
	struct fcache_entry *e1, *e2;
	struct asked l = {0}, ls = {0};
	struct gallery_hit h1, h2;
	struct bio_sample p2;
	uint64_t hits, misses;
	size_t bytes, one;
	uint8_t id[16];
	uint32_t i;
	int f1, f2;

	(void)state;
	g = cached_gallery(&l, 64u << 20);
	make_id(5, id);
	assert_int_equal(
		capture_take_some(pop, 5, 9, PRESET_GOOD, BIO_FINGER | BIO_FACE, two, &p2), 0);
	assert_non_null(p2.finger_record);
	assert_int_equal(match_template_new(&p2, &pt2, NULL), 0);
	assert_int_equal(match_template_new(&probe[5], &pt10, NULL), 0);

	/* two fingers: opened once, then from the cache, the same scores as in memory */
	assert_int_equal(gallery_verify(mem, id, pt2, &a), 0);
	assert_int_equal(gallery_verify(g, id, pt2, &b), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(gallery_verify(g, id, pt2, &c), 0);
	assert_int_equal(l.n, 1);
	assert_true(a.fused == b.fused && b.fused == c.fused && a.finger_ev == c.finger_ev);
	/* ten fingers: the two-finger template does not serve; opened for every position */
	l.positions = 0;
	assert_int_equal(gallery_verify(mem, id, pt10, &a), 0);
	assert_int_equal(gallery_verify(g, id, pt10, &b), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.positions, finger_template_positions(match_template_finger(pt10)));
	assert_true(a.fused == b.fused && a.finger_ev == b.finger_ev);
	/* ... and that one serves both kinds of probe */
	assert_int_equal(gallery_verify(g, id, pt10, &c), 0);
	assert_int_equal(gallery_verify(mem, id, pt2, &a), 0);
	assert_int_equal(gallery_verify(g, id, pt2, &b), 0);
	assert_int_equal(l.n, 2);
	assert_true(a.fused == b.fused && a.finger_ev == b.finger_ev);
	gallery_finger_cache_stats(g, &hits, &misses, &bytes);
	assert_int_equal(hits, 3);
	assert_int_equal(misses, 2);
	assert_true(bytes > 0);

	/* erasure: the entry's cached fingers go with it; re-enrolled, it is opened afresh */
	assert_int_equal(gallery_remove(g, id), 0);
	gallery_finger_cache_stats(g, &hits, &misses, &bytes);
	assert_int_equal(bytes, 0);
	assert_int_equal(match_template_new_deferred(&enrol[5], &def, NULL), 0);
	assert_int_equal(gallery_add_tmpl(g, id, def), 0);
	assert_int_equal(gallery_verify(g, id, pt2, &b), 0);
	assert_int_equal(l.n, 3);

	/* searches: the same answers as the gallery in memory, twice (the second from the cache) */
	for (i = 0; i < NE + NS; i++) {
		match_template_free(pt10);
		assert_int_equal(match_template_new(&probe[i], &pt10, NULL), 0);
		assert_int_equal(gallery_identify_tmpl(mem, pt10, 1e-6, &h1, &f1), 0);
		assert_int_equal(gallery_identify_tmpl(g, pt10, 1e-6, &h2, &f2), 0);
		assert_int_equal(f1, f2);
		assert_true(h1.scores.fused == h2.scores.fused);
		assert_int_equal(gallery_identify_batched(g, pt10, 1e-6, &h2, &f2), 0);
		assert_int_equal(f1, f2);
		assert_true(h1.scores.fused == h2.scores.fused);
	}

	/* bounded: room for about two ten-finger templates; the least recently used goes */
	assert_int_equal(
		finger_template_from_record(enrol[0].finger_record, enrol[0].finger_len, &ft, NULL),
		0);
	one = finger_template_bytes(ft);
	finger_template_free(ft);
	small = cached_gallery(&ls, 2 * one + one / 2);
	for (i = 0; i < 3; i++) {
		match_template_free(pt10);
		assert_int_equal(match_template_new(&probe[i], &pt10, NULL), 0);
		make_id(i, id);
		assert_int_equal(gallery_verify(small, id, pt10, &b), 0);
		gallery_finger_cache_stats(small, &hits, &misses, &bytes);
		assert_true(bytes <= 2 * one + one / 2);
	}
	assert_int_equal(ls.n, 3);
	match_template_free(pt10);
	assert_int_equal(match_template_new(&probe[2], &pt10, NULL), 0);
	make_id(2, id);
	assert_int_equal(gallery_verify(small, id, pt10, &b), 0); /* kept */
	assert_int_equal(ls.n, 3);
	match_template_free(pt10);
	assert_int_equal(match_template_new(&probe[0], &pt10, NULL), 0);
	make_id(0, id);
	assert_int_equal(gallery_verify(small, id, pt10, &b), 0); /* evicted: opened again */
	assert_int_equal(ls.n, 4);

	/* an entry in use when evicted stays whole until released */
	assert_int_equal(fcache_new(1u << 20, &fc), 0);
	assert_int_equal(
		finger_template_from_record(enrol[1].finger_record, enrol[1].finger_len, &ft, NULL),
		0);
	make_id(1, id);
	assert_non_null(e1 = fcache_put(fc, id, FINGER_POSITIONS_ALL, ft));
	assert_non_null(e2 = fcache_get(fc, id, two));
	assert_ptr_equal(fcache_template(e1), fcache_template(e2));
	fcache_evict(fc, id);
	assert_null(fcache_get(fc, id, two));
	assert_int_equal(finger_template_n_views(fcache_template(e2)),
		finger_template_n_views(fcache_template(e1)));
	fcache_release(fc, e1);
	assert_true(finger_template_n_views(fcache_template(e2)) > 2);
	fcache_release(fc, e2);
	fcache_free(fc);

	match_template_free(pt2);
	match_template_free(pt10);
	bio_sample_clear(&p2);
	gallery_free(mem);
	gallery_free(g);
	gallery_free(small);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_right_person_and_not_strangers),
		cmocka_unit_test(test_template_entry_points),
		cmocka_unit_test(test_partial_probes),
		cmocka_unit_test(test_add_remove),
		cmocka_unit_test(test_parallel_scan_over_many),
		cmocka_unit_test(test_batched_and_gated_searches_agree),
		cmocka_unit_test(test_deferred_finger_templates),
		cmocka_unit_test(test_strangers_open_few_fingers),
		cmocka_unit_test(test_sketch_search_finds_whom_the_full_scan_finds),
		cmocka_unit_test(test_identify_since_sees_only_later_additions),
		cmocka_unit_test(test_move_clear_reuse),
		cmocka_unit_test(test_loader_builds_probe_positions),
		cmocka_unit_test(test_finger_cache),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
