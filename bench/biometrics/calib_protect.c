/* SPDX-License-Identifier: Apache-2.0 */
/* Measures impostor score distributions of protected templates and prints protect_calib.h. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "face.h"
#include "finger_match.h"
#include "population.h"
#include "protect.h"

#include <sodium.h>

/*
 * The hub keeps every reference under one key (the deployment's), so impostor comparisons are
 * made under one key too: the "stolen key" system of `paso eval --protect`. Scores: face int8
 * cosine of protect_face_q forms (the kernel the hub searches with); iris 1 - Bloom-filter
 * dissimilarity per eye; finger protected-MCC LSS per finger position.
 */
#define FACE_BINS 20000 /* cosine -1..1 */
#define IRIS_BINS 20000 /* 1 - dissimilarity, 0..1 */
#define FING_BINS 20000 /* LSS 0..1 */
/*
 * Faces are compared under FACE_KEYS keys, their scores pooled: a PolyProtect form's impostor
 * cosines depend a little on the key, and a deployment draws its own (the iris filters'
 * dissimilarity does not depend on the key: a permutation of each block's bits).
 */
#define FACE_KEYS 8

struct job {
	int t, nt;
	uint32_t n, nf;
	struct face_q *fq;
	int *has_face;
	struct protect_iris (*ir)[2];
	struct protect_finger **pf;
	uint64_t *face_h, *iris_h, *iris2_h, *fing_h;
	uint64_t face_n, iris_n, iris2_n, fing_n;
};

static void
bump(uint64_t *h, int bins, double lo, double hi, double x)
{
	long b = lround((x - lo) / (hi - lo) * bins);

	if (b < 0)
		b = 0;
	if (b >= bins)
		b = bins - 1;
	h[b]++;
}

static void *
work(void *arg)
{
	struct job *j = arg;
	uint32_t a, b;
	int e, va, vb;

	for (a = (uint32_t)j->t; a < j->n; a += (uint32_t)j->nt) {
		for (b = a + 1; b < j->n; b++) {
			if (j->has_face[a] && j->has_face[b])
				for (e = 0; e < FACE_KEYS; e++) {
					bump(j->face_h, FACE_BINS, -1, 1,
						face_cosine_q(&j->fq[(size_t)e * j->n + a],
							&j->fq[(size_t)e * j->n + b]));
					j->face_n++;
				}
			double sum = 0;
			int ne = 0;

			for (e = 0; e < 2; e++) {
				double ds;

				if (j->ir[a][e].eye == 0 || j->ir[b][e].eye == 0)
					continue;
				if ((ds = protect_iris_compare(&j->ir[a][e], &j->ir[b][e])) < 0)
					continue;
				bump(j->iris_h, IRIS_BINS, 0, 1, 1 - ds);
				j->iris_n++;
				sum += ds;
				ne++;
			}
			if (ne ==
				2) { /* the two eyes of a pair: their mean, as the hub scores it */
				bump(j->iris2_h, IRIS_BINS, 0, 1, 1 - sum / 2);
				j->iris2_n++;
			}
		}
		if (a >= j->nf || j->pf[a] == NULL)
			continue;
		for (b = a + 1; b < j->nf; b++) {
			if (j->pf[b] == NULL)
				continue;
			for (va = 0; va < j->pf[a]->n_views; va++)
				for (vb = 0; vb < j->pf[b]->n_views; vb++)
					if (j->pf[a]->v[va].pos != 0 &&
						j->pf[a]->v[va].pos == j->pf[b]->v[vb].pos) {
						bump(j->fing_h, FING_BINS, 0, 1,
							protect_finger_compare(&j->pf[a]->v[va],
								&j->pf[b]->v[vb]));
						j->fing_n++;
					}
		}
	}
	return NULL;
}

/*
 * Prints (score, ev) points: the score at which the impostor tail P(S >= score) first falls to
 * 10^-ev, for ev = 0.25, 0.5, ... while at least 10 impostor scores remain above.
 */
static void
table(const char *name, const uint64_t *h, int bins, double lo, double hi, uint64_t n)
{
	double last_score = -1e9, ev;
	uint64_t above;
	int b;

	printf("static const struct protect_calib_point %s[] = {\n", name);
	for (ev = 0.25; n > 0 && pow(10, -ev) * (double)n >= 10; ev += 0.25) {
		double target = pow(10, -ev) * (double)n, score;

		above = 0;
		for (b = bins - 1; b >= 0 && (double)(above + h[b]) <= target; b--)
			above += h[b];
		score = lo + (hi - lo) * (b + 1) / bins;
		if (above == 0 || score <= last_score)
			continue;
		printf("\t{%.5f, %.3f},\n", score, -log10((double)above / (double)n));
		last_score = score;
	}
	printf("};\n");
}

static unsigned long
arg_ul(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < 2 || v > 100000) {
		fprintf(stderr, "calib_protect: bad number '%s' (2..100000)\n", s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct population *pop = NULL;
	struct protect_key *k = NULL, *fk[FACE_KEYS];
	uint8_t key[PROTECT_KEY_BYTES];
	struct job job[2];
	pthread_t th;
	uint32_t n = 6000, nf = 400, i;
	uint64_t fn = 0, in = 0, gn = 0, i2n = 0;
	int t, e;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || argc != 3)) {
		fprintf(stderr, "usage: calib_protect [FACE_IRIS_PEOPLE FINGER_PEOPLE] > "
				"biometrics/protect_calib.h\n");
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	if (argc == 3) {
		n = (uint32_t)arg_ul(argv[1]);
		nf = (uint32_t)arg_ul(argv[2]);
	}
	if (nf > n)
		nf = n;
	if (sodium_init() < 0)
		return 1;
	/* fixed keys: the tables describe the schemes, not one deployment's key */
	for (t = 0; t < FACE_KEYS; t++) {
		for (i = 0; i < PROTECT_KEY_BYTES; i++)
			key[i] = (uint8_t)(0x5a ^ (i * 29) ^ (t * 101));
		if (protect_key_new(key, &fk[t]) != 0)
			return 1;
	}
	k = fk[0];
	if (population_new(20240601, n, &pop) != 0)
		return 1;
	struct face_q *fq = aligned_alloc(64, sizeof(*fq) * n * FACE_KEYS);
	int *hf = calloc(n, sizeof(*hf));
	struct protect_iris(*ir)[2] = calloc(n, sizeof(*ir));
	struct protect_finger **pf = calloc(n, sizeof(*pf));
	uint64_t *fh = calloc(FACE_BINS, 8), *ih = calloc(IRIS_BINS, 8), *gh = calloc(FING_BINS, 8),
		 *i2h = calloc(IRIS_BINS, 8);
	if (fq == NULL || hf == NULL || ir == NULL || pf == NULL || fh == NULL || ih == NULL ||
		gh == NULL || i2h == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		struct bio_sample s;

		/* capture 1000 is nobody's enrolment or crossing in tests: an independent draw */
		if (capture_take(pop, i, 1000, PRESET_GOOD, &s) != 0)
			return 1;
		if (s.has_face) {
			for (t = 0; t < FACE_KEYS; t++)
				if (protect_face_q(fk[t], s.face, &fq[(size_t)t * n + i]) != 0)
					return 1;
			hf[i] = 1;
		}
		for (e = 0; e < s.n_iris; e++) {
			int slot = s.iris[e].eye == BIO_EYE_RIGHT ? 0 : 1;

			if (protect_iris(k, &s.iris[e], &ir[i][slot]) != 0)
				return 1;
		}
		if (i < nf && s.finger_record != NULL) {
			if ((pf[i] = calloc(1, sizeof(*pf[i]))) == NULL ||
				protect_finger(k, s.finger_record, s.finger_len, pf[i], NULL) != 0)
				return 1;
		}
		bio_sample_clear(&s);
	}
	for (t = 0; t < 2; t++) {
		memset(&job[t], 0, sizeof(job[t]));
		job[t].t = t;
		job[t].nt = 2;
		job[t].n = n;
		job[t].nf = nf;
		job[t].fq = fq;
		job[t].has_face = hf;
		job[t].ir = ir;
		job[t].pf = pf;
		job[t].face_h = calloc(FACE_BINS, 8);
		job[t].iris_h = calloc(IRIS_BINS, 8);
		job[t].iris2_h = calloc(IRIS_BINS, 8);
		job[t].fing_h = calloc(FING_BINS, 8);
		if (job[t].face_h == NULL || job[t].iris_h == NULL || job[t].iris2_h == NULL ||
			job[t].fing_h == NULL)
			return 1;
	}
	if (pthread_create(&th, NULL, work, &job[1]) != 0)
		return 1;
	work(&job[0]);
	pthread_join(th, NULL);
	for (t = 0; t < 2; t++) {
		for (i = 0; i < FACE_BINS; i++)
			fh[i] += job[t].face_h[i];
		for (i = 0; i < IRIS_BINS; i++) {
			ih[i] += job[t].iris_h[i];
			i2h[i] += job[t].iris2_h[i];
		}
		i2n += job[t].iris2_n;
		for (i = 0; i < FING_BINS; i++)
			gh[i] += job[t].fing_h[i];
		fn += job[t].face_n;
		in += job[t].iris_n;
		gn += job[t].fing_n;
	}
	printf("/* SPDX-License-Identifier: Apache-2.0 */\n"
	       "/* Impostor calibration of protected scores: score -> -log10 false-match rate. "
	       "Generated: */\n"
	       "/*   build/bin/calib_protect %u %u > biometrics/protect_calib.h */\n"
	       "#ifndef PASO_PROTECT_CALIB_H\n#define PASO_PROTECT_CALIB_H\n\n"
	       "/*\n * Population seed 20240601, one good-preset capture per person, one key "
	       "for all (the hub's mode;\n * faces: the same under each of several keys).\n"
	       " * Face PolyProtect int8 cosine (%s kernel): %llu comparisons (pairs x %d keys).\n"
	       " * Iris 1 - Bloom-filter dissimilarity per eye: %llu comparisons; mean of both eyes: "
	       "%llu.\n"
	       " * Finger protected-MCC LSS per position: %llu comparisons (%u people).\n */\n\n"
	       "struct protect_calib_point {\n\tdouble score; /* increasing */\n"
	       "\tdouble ev;    /* -log10 of the impostor share scoring at least score */\n};\n\n",
		n, nf, face_impl_name(), (unsigned long long)fn, FACE_KEYS, (unsigned long long)in,
		(unsigned long long)i2n, (unsigned long long)gn, nf);
	table("protect_face_calib", fh, FACE_BINS, -1, 1, fn);
	printf("\n");
	table("protect_iris_calib", ih, IRIS_BINS, 0, 1, in);
	printf("\n");
	table("protect_iris2_calib", i2h, IRIS_BINS, 0, 1, i2n);
	printf("\n");
	table("protect_finger_calib", gh, FING_BINS, 0, 1, gn);
	printf("\n#endif\n");
	for (t = 0; t < FACE_KEYS; t++)
		protect_key_free(fk[t]);
	population_free(pop);
	return 0;
}
