/* SPDX-License-Identifier: Apache-2.0 */
/* bench_pgallery: the hub's 1:N search over protected references (pgallery) beside the same
 * search over unprotected ones (gallery), in one run, on the same synthetic people. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "capture.h"
#include "gallery.h"
#include "match.h"
#include "pgallery.h"
#include "population.h"

#define MAX_PROBES 256

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

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static unsigned long
arg_ul(const char *opt, const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = s != NULL ? strtoul(s, &end, 10) : 0;
	if (s == NULL || errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "bench_pgallery: %s: expected %lu..%lu, not '%s'\n", opt, lo, hi,
			s != NULL ? s : "");
		exit(2);
	}
	return v;
}

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench_pgallery: %s: %s\n", what, paso_strerror(r));
	exit(1);
}

int
main(int argc, char **argv)
{
	unsigned long n = 2000, probes = 32, fingers = 1, i, k;
	struct population *pop = NULL;
	struct gallery *g = NULL, *g1 = NULL;
	struct pgallery *pg = NULL;
	struct protect_key *key = NULL;
	uint8_t kb[PROTECT_KEY_BYTES], id[16], bid[16];
	unsigned mods;
	double *t_raw, *t_raw1, *t_prot, *t_tr, t;
	unsigned long rank_raw = 0, rank_prot = 0;
	int r, argi;

	for (argi = 1; argi < argc; argi += 2) {
		const char *a = argv[argi], *v = argi + 1 < argc ? argv[argi + 1] : NULL;

		if (strcmp(a, "--gallery") == 0)
			n = arg_ul(a, v, 2, 1000000);
		else if (strcmp(a, "--probes") == 0)
			probes = arg_ul(a, v, 1, MAX_PROBES);
		else if (strcmp(a, "--fingers") == 0)
			fingers = arg_ul(a, v, 0, 1);
		else {
			fprintf(stderr, "usage: bench_pgallery [--gallery N] [--probes P] "
					"[--fingers 0|1]\n");
			return strcmp(a, "--help") == 0 ? 0 : 2;
		}
	}
	if (probes > n)
		probes = n;
	if (sodium_init() < 0)
		return 1;
	mods = BIO_FACE | BIO_IRIS | (fingers ? BIO_FINGER : 0);
	randombytes_buf(kb, sizeof(kb));
	if ((r = population_new(7, (uint32_t)n, &pop)) != 0 ||
		(r = protect_key_new(kb, &key)) != 0 || (r = gallery_new(2, &g)) != 0 ||
		(r = gallery_new(1, &g1)) != 0 || (r = pgallery_new(&pg)) != 0)
		die("setup", r);
	sodium_memzero(kb, sizeof(kb));
	t = now();
	for (i = 0; i < n; i++) {
		struct bio_sample s;
		struct pref *p = NULL;

		if ((r = capture_take(pop, (uint32_t)i, 0, PRESET_GOOD, &s)) != 0)
			die("capture", r);
		(void)bio_sample_keep(&s, mods);
		memset(id, 0, sizeof(id));
		memcpy(id, &i, sizeof(i));
		if ((r = gallery_add(g, id, &s)) != 0 || (r = gallery_add(g1, id, &s)) != 0 ||
			(r = pref_new(key, 1, &s, mods, &p, NULL)) != 0 ||
			(r = pgallery_put(pg, id, p, 0, NULL)) != 0)
			die("enrol", r);
		bio_sample_clear(&s);
	}
	fprintf(stderr, "bench_pgallery: %lu people enrolled in %.1f s\n", n, now() - t);
	t_raw = calloc(probes, sizeof(double));
	t_raw1 = calloc(probes, sizeof(double));
	t_prot = calloc(probes, sizeof(double));
	t_tr = calloc(probes, sizeof(double));
	if (t_raw == NULL || t_raw1 == NULL || t_prot == NULL || t_tr == NULL)
		die("probes", PASO_E_NOMEM);
	for (k = 0; k < probes; k++) {
		unsigned long who = k * (n / probes);
		struct match_template *mt = NULL;
		struct gallery_hit hit;
		struct match_scores best;
		struct pref *p = NULL;
		struct bio_sample s;
		const struct pref *pp;
		int found;

		if ((r = capture_take(pop, (uint32_t)who, 1, PRESET_GOOD, &s)) != 0)
			die("capture", r);
		(void)bio_sample_keep(&s, mods);
		if ((r = match_template_new(&s, &mt, NULL)) != 0)
			die("probe", r);
		t = now();
		if ((r = gallery_identify_tmpl(g, mt, 1e-6 / (double)n, &hit, &found)) != 0)
			die("identify", r);
		t_raw[k] = now() - t;
		rank_raw += memcmp(hit.id, &who, sizeof(who)) == 0;
		t = now();
		if ((r = gallery_identify_tmpl(g1, mt, 1e-6 / (double)n, &hit, &found)) != 0)
			die("identify", r);
		t_raw1[k] = now() - t;
		t = now();
		if ((r = pref_new(key, 1, &s, mods, &p, NULL)) != 0)
			die("protect", r);
		t_tr[k] = now() - t;
		pp = p;
		t = now();
		if ((r = pgallery_identify(pg, &pp, 1, 1e-6 / (double)n, bid, &best, &found)) != 0)
			die("identify", r);
		t_prot[k] = now() - t;
		rank_prot += memcmp(bid, &who, sizeof(who)) == 0;
		pref_free(p);
		match_template_free(mt);
		bio_sample_clear(&s);
	}
	{
		double mr = median(t_raw, probes), m1 = median(t_raw1, probes),
		       mp = median(t_prot, probes), mt = median(t_tr, probes);

		printf("1:N over %lu people (%s), %lu probes, median per probe:\n", n,
			fingers ? "finger, face, iris" : "face, iris", probes);
		printf("  unprotected gallery, 2 threads  %9.3f ms  (range %.3f..%.3f)  rank-1 "
		       "%lu/%lu\n",
			mr * 1e3, t_raw[0] * 1e3, t_raw[probes - 1] * 1e3, rank_raw, probes);
		printf("  unprotected gallery, 1 thread   %9.3f ms  (range %.3f..%.3f)\n", m1 * 1e3,
			t_raw1[0] * 1e3, t_raw1[probes - 1] * 1e3);
		printf("  protected gallery, 1 thread     %9.3f ms  (range %.3f..%.3f)  rank-1 "
		       "%lu/%lu\n",
			mp * 1e3, t_prot[0] * 1e3, t_prot[probes - 1] * 1e3, rank_prot, probes);
		printf("  probe transform                 %9.3f ms\n", mt * 1e3);
		printf("  protected / unprotected (1 thread): %.2f\n", mp / m1);
	}
	free(t_raw);
	free(t_raw1);
	free(t_prot);
	free(t_tr);
	pgallery_free(pg);
	gallery_free(g);
	gallery_free(g1);
	protect_key_free(key);
	population_free(pop);
	return 0;
}
