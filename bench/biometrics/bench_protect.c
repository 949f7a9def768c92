/* SPDX-License-Identifier: Apache-2.0 */
/* bench_protect: 1:N face search over PolyProtect references beside the same search over the
 * unprotected int8 references, in one run, on two threads. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "capture.h"
#include "face.h"
#include "population.h"
#include "protect.h"

#define FACE_POOL 16384
#define MAX_PROBES 64

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void *
xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64);

	if (p == NULL) {
		fprintf(stderr, "bench_protect: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

/* One gallery of n int8 references (raw or protected: the same kernel serves both). */
struct gal {
	int8_t *q;
	float *inv;
	size_t n;
};

struct job {
	const struct face_q *probe;
	const struct gal *g;
	size_t lo, hi;
	float *out;
	float best;
	size_t arg;
};

static void *
scan_job(void *arg)
{
	struct job *j = arg;
	size_t i;

	face_scan(j->probe, j->g->q + j->lo * BIO_FACE_DIM, j->g->inv + j->lo, j->hi - j->lo,
		j->out + j->lo);
	j->best = -2;
	for (i = j->lo; i < j->hi; i++)
		if (j->out[i] > j->best) {
			j->best = j->out[i];
			j->arg = i;
		}
	return NULL;
}

/* The 1:N search on two threads; returns the index of the best reference. */
static size_t
search(const struct face_q *probe, const struct gal *g, float *out)
{
	struct job j[2];
	pthread_t t;
	size_t half = g->n / 2 / 64 * 64;

	j[0] = (struct job){probe, g, 0, half, out, 0, 0};
	j[1] = (struct job){probe, g, half, g->n, out, 0, 0};
	if (pthread_create(&t, NULL, scan_job, &j[1]) != 0)
		exit(1);
	scan_job(&j[0]);
	pthread_join(t, NULL);
	return j[1].best > j[0].best ? j[1].arg : j[0].arg;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_protect [--gallery N] [--probes P] [--runs R]\n"
		   "1:N face search over N references (default 1000000), unprotected and under "
		   "PolyProtect,\n"
		   "P probes (default 16, at most 64) each searched R times (default 3) on 2 "
		   "threads.\n");
}

static int
parse(const char *opt, const char *v, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;

	errno = 0;
	if (v == NULL) {
		fprintf(stderr, "bench_protect: %s needs a value\n", opt);
		return -1;
	}
	*out = strtoul(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || *out < lo || *out > hi) {
		fprintf(stderr, "bench_protect: %s: '%s' is not a whole number in %lu..%lu\n", opt,
			v, lo, hi);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long n = 1000000, np = 16, runs = 3;
	float(*pool)[BIO_FACE_DIM];
	struct population *pop = NULL;
	struct protect_key *key = NULL;
	uint8_t kbytes[PROTECT_KEY_BYTES];
	struct gal raw, prot;
	struct face_q q, pr_raw[MAX_PROBES], pr_prot[MAX_PROBES];
	size_t pos[MAX_PROBES];
	double *traw, *tprot, *ttr, t0, tenrol;
	float *out;
	size_t i, k, hits_raw = 0, hits_prot = 0, nt;
	int a;

	for (a = 1; a < argc; a++) {
		const char *v = a + 1 < argc ? argv[a + 1] : NULL;

		if (strcmp(argv[a], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[a], "--gallery") == 0) {
			if (parse(argv[a], v, 1024, 20000000, &n) != 0)
				return 2;
		} else if (strcmp(argv[a], "--probes") == 0) {
			if (parse(argv[a], v, 1, MAX_PROBES, &np) != 0)
				return 2;
		} else if (strcmp(argv[a], "--runs") == 0) {
			if (parse(argv[a], v, 1, 100, &runs) != 0)
				return 2;
		} else {
			fprintf(stderr, "bench_protect: unknown option '%s'\n", argv[a]);
			usage(stderr);
			return 2;
		}
		a++;
	}
	if (sodium_init() < 0 || population_new(7, 1000, &pop) != 0)
		return 1;
	randombytes_buf(kbytes, sizeof(kbytes));
	if (protect_key_new(kbytes, &key) != 0)
		return 1;
	sodium_memzero(kbytes, sizeof(kbytes));
	/* fillers: (a + b) / |a + b| of two vectors with the population's covariance */
	pool = xalloc(FACE_POOL * sizeof(*pool));
	for (i = 0; i < FACE_POOL; i++) {
		uint8_t seed[32] = {0};

		memcpy(seed, &i, sizeof(i));
		seed[31] = 0x5a;
		population_face_vector(seed, pool[i]);
	}
	raw.n = prot.n = n;
	raw.q = xalloc(n * BIO_FACE_DIM);
	prot.q = xalloc(n * BIO_FACE_DIM);
	raw.inv = xalloc(n * sizeof(float));
	prot.inv = xalloc(n * sizeof(float));
	out = xalloc(n * sizeof(float));
	/* the probes' mates (capture 0 of people 0..np-1) are enrolled at spread positions */
	for (k = 0; k < np; k++)
		pos[k] = (k * 2654435761u + 17) % n;
	tenrol = 0;
	for (i = 0; i < n; i++) {
		float v[BIO_FACE_DIM];
		const float *x = pool[i % FACE_POOL],
			    *y = pool[(i / FACE_POOL * 7919 + i * 31 + 1) % FACE_POOL];
		double ss = 0, t;
		int d;

		for (d = 0; d < BIO_FACE_DIM; d++) {
			v[d] = x[d] + y[d];
			ss += (double)v[d] * v[d];
		}
		for (d = 0; d < BIO_FACE_DIM; d++)
			v[d] = (float)(v[d] / sqrt(ss));
		for (k = 0; k < np; k++)
			if (pos[k] == i) {
				struct bio_sample s;
				uint32_t p = (uint32_t)k;

				do {
					if (capture_take(pop, p, 0, PRESET_GOOD, &s) != 0)
						return 1;
					if (!s.has_face)
						bio_sample_clear(&s);
				} while (!s.has_face && (p += 64) < 1000);
				memcpy(v, s.face, sizeof(v));
				bio_sample_clear(&s);
			}
		if (face_quantize(v, &q, NULL) != 0)
			return 1;
		memcpy(raw.q + i * BIO_FACE_DIM, q.q, BIO_FACE_DIM);
		raw.inv[i] = q.inv_norm;
		t = now();
		if (protect_face_q(key, v, &q) != 0)
			return 1;
		tenrol += now() - t;
		memcpy(prot.q + i * BIO_FACE_DIM, q.q, BIO_FACE_DIM);
		prot.inv[i] = q.inv_norm;
	}
	/* probes: capture 1 of the same people */
	for (k = 0; k < np; k++) {
		struct bio_sample s;
		uint32_t p = (uint32_t)k;

		do {
			if (capture_take(pop, p, 1, PRESET_GOOD, &s) != 0)
				return 1;
			if (!s.has_face)
				bio_sample_clear(&s);
		} while (!s.has_face && (p += 64) < 1000);
		if (face_quantize(s.face, &pr_raw[k], NULL) != 0)
			return 1;
		/* kept raw so that the protected search times the probe's transform too */
		memcpy(pool[k], s.face, sizeof(s.face));
		bio_sample_clear(&s);
	}
	nt = np * runs;
	traw = xalloc(nt * sizeof(double));
	tprot = xalloc(nt * sizeof(double));
	ttr = xalloc(nt * sizeof(double));
	for (a = 0; a < (int)runs; a++)
		for (k = 0; k < np; k++) {
			size_t idx = (size_t)a * np + k, best;

			/* alternate the order so neither search always runs on a warm cache */
			if ((a + k) % 2 == 0) {
				t0 = now();
				best = search(&pr_raw[k], &raw, out);
				traw[idx] = now() - t0;
				hits_raw += a == 0 && best == pos[k];
			}
			t0 = now();
			if (protect_face_q(key, pool[k], &pr_prot[k]) != 0)
				return 1;
			ttr[idx] = now() - t0;
			best = search(&pr_prot[k], &prot, out);
			tprot[idx] = now() - t0;
			hits_prot += a == 0 && best == pos[k];
			if ((a + k) % 2 != 0) {
				t0 = now();
				best = search(&pr_raw[k], &raw, out);
				traw[idx] = now() - t0;
				hits_raw += a == 0 && best == pos[k];
			}
		}
	qsort(traw, nt, sizeof(double), cmp_double);
	qsort(tprot, nt, sizeof(double), cmp_double);
	qsort(ttr, nt, sizeof(double), cmp_double);
	printf("face 1:N over %lu references, 2 threads, kernel %s, %lu probes x %lu runs\n", n,
		face_impl_name(), np, runs);
	printf("  unprotected int8 cosine:  median %6.2f ms per probe (range %.2f..%.2f)\n",
		traw[nt / 2] * 1e3, traw[0] * 1e3, traw[nt - 1] * 1e3);
	printf("  PolyProtect (transform + search): median %6.2f ms per probe (range %.2f..%.2f); "
	       "%.2f x unprotected\n",
		tprot[nt / 2] * 1e3, tprot[0] * 1e3, tprot[nt - 1] * 1e3,
		tprot[nt / 2] / traw[nt / 2]);
	printf("  of which the probe's transform: median %.3f ms\n", ttr[nt / 2] * 1e3);
	printf("  enrolment transform: %.2f us per reference\n", tenrol / (double)n * 1e6);
	printf("  mate found at rank 1: unprotected %zu/%lu, protected %zu/%lu\n", hits_raw, np,
		hits_prot, np);
	sodium_memzero(pr_raw, sizeof(pr_raw));
	sodium_memzero(pr_prot, sizeof(pr_prot));
	protect_key_free(key);
	population_free(pop);
	free(raw.q);
	free(prot.q);
	free(raw.inv);
	free(prot.inv);
	free(out);
	free(pool);
	free(traw);
	free(tprot);
	free(ttr);
	return 0;
}
