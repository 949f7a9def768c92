/* SPDX-License-Identifier: Apache-2.0 */
/* Measures impostor score distributions on synthetic people and prints biometrics/match_calib.h. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "capture.h"
#include "face.h"
#include "finger_match.h"
#include "iris.h"
#include "population.h"

#define FACE_BINS 20000  /* cosine -1..1 */
#define IRIS_BINS 100000 /* 1 - HD, 0..1 */
#define FING_BINS 100000 /* score 0..1 */

struct job {
	int t, nt;
	uint32_t n, nf;
	struct bio_sample *s;
	struct face_q *fq;
	struct finger_template **ft;
	uint64_t *face_h, *iris_h, *fing_h;
	uint64_t face_n, iris_n, fing_n;
	double ism, iss, inm, ins; /* iris no-shift masked; unmasked */
	uint64_t ic, uc;
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
	struct iris_probe *pr = aligned_alloc(64, sizeof(*pr));
	static const uint8_t ones[BIO_IRIS_BYTES] = {[0 ... BIO_IRIS_BYTES - 1] = 0xff};
	uint32_t a, b;
	int e;

	if (pr == NULL)
		return NULL;
	for (a = (uint32_t)j->t; a < j->n; a += (uint32_t)j->nt) {
		struct bio_sample *sa = &j->s[a];

		for (e = 0; e < sa->n_iris; e++) {
			iris_probe_init(pr, sa->iris[e].code, sa->iris[e].mask);
			for (b = a + 1; b < j->n; b++) {
				const struct bio_sample *sb = &j->s[b];
				int f;

				for (f = 0; f < sb->n_iris; f++) {
					double h;

					if (sb->iris[f].eye != sa->iris[e].eye)
						continue;
					h = iris_compare(
						pr, sb->iris[f].code, sb->iris[f].mask, NULL, NULL);
					if (h >= 0) {
						bump(j->iris_h, IRIS_BINS, 0, 1, 1 - h);
						j->iris_n++;
					}
					if (b < a + 50) {
						h = iris_compare_noshift(sa->iris[e].code,
							sa->iris[e].mask, sb->iris[f].code,
							sb->iris[f].mask, NULL);
						j->ism += h;
						j->iss += h * h;
						j->ic++;
						h = iris_compare_noshift(sa->iris[e].code, ones,
							sb->iris[f].code, ones, NULL);
						j->inm += h;
						j->ins += h * h;
						j->uc++;
					}
				}
			}
		}
		if (j->s[a].has_face) {
			for (b = a + 1; b < j->n; b++)
				if (j->s[b].has_face) {
					bump(j->face_h, FACE_BINS, -1, 1,
						face_cosine_q(&j->fq[a], &j->fq[b]));
					j->face_n++;
				}
		}
		if (a < j->nf && j->ft[a] != NULL)
			for (b = a + 1; b < j->nf; b++) {
				struct finger_scores fs;
				int k;

				if (j->ft[b] == NULL)
					continue;
				finger_match(j->ft[a], j->ft[b], &fs);
				for (k = 0; k < FINGER_MAX_VIEWS; k++)
					if (fs.score[k] >= 0) {
						bump(j->fing_h, FING_BINS, 0, 1, fs.score[k]);
						j->fing_n++;
					}
			}
	}
	free(pr);
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
	uint64_t above = 0;
	int b = bins - 1;

	printf("static const struct calib_point %s[] = {\n", name);
	/* walk bins from the top; above = impostors at or above bin b */
	for (ev = 0.25; n > 0 && pow(10, -ev) * (double)n >= 10; ev += 0.25) {
		double target = pow(10, -ev) * (double)n, score;

		/* smallest score (lowest bin) whose tail is still <= target */
		above = 0;
		for (b = bins - 1; b >= 0 && (double)(above + h[b]) <= target; b--)
			above += h[b];
		score = lo + (hi - lo) * (b + 1) / bins;
		if (above == 0 || score <= last_score)
			continue;
		printf("\t{ %.5f, %.3f },\n", score, -log10((double)above / (double)n));
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
	if (errno != 0 || *end != '\0' || end == s) {
		fprintf(stderr, "calib_tables: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct population *pop = NULL;
	struct job job[2];
	pthread_t th;
	uint32_t n = 15000, nf = 200, i;
	uint64_t *fh, *ih, *gh;
	double ism = 0, iss = 0, inm = 0, ins = 0, m, sd;
	uint64_t ic = 0, uc = 0, fn = 0, in = 0, gn = 0;
	int t, k;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || argc != 3)) {
		fprintf(stderr,
			"usage: calib_tables [FACE_IRIS_PEOPLE FINGER_PEOPLE] > match_calib.h\n");
		return argc == 2 ? 0 : 2;
	}
	if (argc == 3) {
		n = (uint32_t)arg_ul(argv[1]);
		nf = (uint32_t)arg_ul(argv[2]);
	}
	if (nf > n)
		nf = n;
	if (population_new(20240601, n, &pop) != 0)
		return 1;
	struct bio_sample *s = calloc(n, sizeof(*s));
	struct face_q *fq = aligned_alloc(64, sizeof(*fq) * n);
	struct finger_template **ft = calloc(n, sizeof(*ft));
	fh = calloc(FACE_BINS, 8);
	ih = calloc(IRIS_BINS, 8);
	gh = calloc(FING_BINS, 8);
	if (s == NULL || fq == NULL || ft == NULL || fh == NULL || ih == NULL || gh == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		/* capture 1000 is nobody's enrolment or crossing in tests: an independent draw */
		if (capture_take(pop, i, 1000, PRESET_GOOD, &s[i]) != 0)
			return 1;
		if (s[i].has_face && face_quantize(s[i].face, &fq[i], NULL) != 0)
			return 1;
		if (i < nf && s[i].finger_len > 0 &&
			finger_template_from_record(
				s[i].finger_record, s[i].finger_len, &ft[i], NULL) != 0)
			return 1;
		free(s[i].finger_record);
		s[i].finger_record = NULL;
		s[i].finger_len = 0;
	}
	for (t = 0; t < 2; t++) {
		memset(&job[t], 0, sizeof(job[t]));
		job[t].t = t;
		job[t].nt = 2;
		job[t].n = n;
		job[t].nf = nf;
		job[t].s = s;
		job[t].fq = fq;
		job[t].ft = ft;
		job[t].face_h = calloc(FACE_BINS, 8);
		job[t].iris_h = calloc(IRIS_BINS, 8);
		job[t].fing_h = calloc(FING_BINS, 8);
		if (!job[t].face_h || !job[t].iris_h || !job[t].fing_h)
			return 1;
	}
	if (pthread_create(&th, NULL, work, &job[1]) != 0)
		return 1;
	work(&job[0]);
	pthread_join(th, NULL);
	for (t = 0; t < 2; t++) {
		for (k = 0; k < FACE_BINS; k++)
			fh[k] += job[t].face_h[k];
		for (k = 0; k < IRIS_BINS; k++)
			ih[k] += job[t].iris_h[k];
		for (k = 0; k < FING_BINS; k++)
			gh[k] += job[t].fing_h[k];
		fn += job[t].face_n;
		in += job[t].iris_n;
		gn += job[t].fing_n;
		ism += job[t].ism;
		iss += job[t].iss;
		ic += job[t].ic;
		inm += job[t].inm;
		ins += job[t].ins;
		uc += job[t].uc;
	}
	printf("/* SPDX-License-Identifier: Apache-2.0 */\n"
	       "/* Impostor calibration of the matchers: score -> -log10 false-match rate. "
	       "Generated: */\n"
	       "/*   build/bin/calib_tables %u %u > biometrics/match_calib.h */\n"
	       "#ifndef PASO_MATCH_CALIB_H\n#define PASO_MATCH_CALIB_H\n\n",
		n, nf);
	printf("/*\n * Population seed 20240601, one good-preset capture per person, kernels: iris "
	       "%s,"
	       " face %s.\n",
		iris_impl_name(), face_impl_name());
	m = ism / (double)ic;
	sd = sqrt(iss / (double)ic - m * m);
	printf(" * Iris masked, no shift, HDnorm: mean %.4f sd %.4f over %llu.\n", m, sd,
		(unsigned long long)ic);
	{
		double s1 = 0, s2 = 0, x;

		for (k = 0; k < IRIS_BINS; k++) {
			x = 1 - (double)k / IRIS_BINS;
			s1 += (double)ih[k] * x;
			s2 += (double)ih[k] * x * x;
		}
		m = s1 / (double)in;
		printf(" * Iris best of %d shifts, HDnorm: mean %.4f sd %.4f over %llu "
		       "comparisons.\n",
			IRIS_NSHIFT, m, sqrt(s2 / (double)in - m * m), (unsigned long long)in);
		s1 = s2 = 0;
		for (k = 0; k < FACE_BINS; k++) {
			x = -1 + 2.0 * k / FACE_BINS;
			s1 += (double)fh[k] * x;
			s2 += (double)fh[k] * x * x;
		}
		m = s1 / (double)fn;
		printf(" * Face int8 cosine: mean %.4f sd %.4f over %llu comparisons.\n", m,
			sqrt(s2 / (double)fn - m * m), (unsigned long long)fn);
		printf(" * Finger positions compared: %llu (synthetic; the finger table is "
		       "biometrics/finger_calib.h).\n",
			(unsigned long long)gn);
	}
	printf(" */\n\nstruct calib_point {\n\tdouble score; /* increasing */\n"
	       "\tdouble ev;    /* -log10 of the impostor share scoring at least score */\n};\n\n");
	table("face_calib", fh, FACE_BINS, -1, 1, fn);
	printf("\n/* iris score: 1 - normalised Hamming distance (best shift) */\n");
	table("iris_calib", ih, IRIS_BINS, 0, 1, in);
	/* finger scores are calibrated on real impostors: biometrics/finger_calib.h */
	printf("\n#endif\n");
	return 0;
}
