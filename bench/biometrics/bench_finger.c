/* SPDX-License-Identifier: Apache-2.0 */
/* Fingerprint benchmark: matcher speed, accuracy per preset, and the score <-> FMR calibration table. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "finger_match.h"
#include "finger_synth.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: bench_finger [--speed] [--accuracy] [--calibrate] [--subjects N] [--seed S]\n"
		"                    [--preset good|poor|detention]\n"
		"  --speed      template builds and single-view comparisons per second on one core\n"
		"               (default)\n"
		"  --accuracy   genuine (capture 1 vs 2, same finger) and impostor (different people,\n"
		"               same finger position) scores; FNMR at FMR 1e-2..1e-5\n"
		"  --calibrate  impostor score quantiles as a C table for finger_match.c\n"
		"  --subjects N people (default 200); impostor comparisons = 10 N (N - 1) / 2\n");
}

/* Decimal in [lo, hi], or -1 (callers reject it). */
static long long
number(const char *s, unsigned long lo, unsigned long hi)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
		return -1;
	return (long long)v;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: on a shared, loaded machine the per-core rate that wall time hides. */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
person_seed(uint32_t seed, uint32_t p, uint8_t out[32])
{
	uint8_t in[8];

	in[0] = (uint8_t)(seed >> 24);
	in[1] = (uint8_t)(seed >> 16);
	in[2] = (uint8_t)(seed >> 8);
	in[3] = (uint8_t)seed;
	in[4] = (uint8_t)(p >> 24);
	in[5] = (uint8_t)(p >> 16);
	in[6] = (uint8_t)(p >> 8);
	in[7] = (uint8_t)p;
	crypto_generichash(out, 32, in, sizeof(in), (const uint8_t *)"bench_finger", 12);
}

/* Synthetic record of person p, capture 1 or 2 (NULL: failed to capture); caller frees. */
static uint8_t *
synth(uint32_t seed, uint32_t p, uint32_t capture, const struct finger_noise *nz, size_t *lenp)
{
	uint8_t s[32], *rec = NULL;

	person_seed(seed, p, s);
	*lenp = 0;
	if (finger_synth_record(s, capture, nz, FINGER_MASK_ALL, &rec, lenp) != 0)
		abort();
	return rec;
}

static struct finger_template *
make(const uint8_t *rec, size_t len)
{
	struct finger_template *t = NULL;
	struct paso_diag d;

	if (rec != NULL && finger_template_from_record(rec, len, &t, &d) != 0) {
		fprintf(stderr, "bench_finger: %s\n", d.msg);
		abort();
	}
	return t;
}

/* view index of ISO position pos in t, or -1 */
static int
view_of(const struct finger_template *t, int pos)
{
	int i;

	for (i = 0; t != NULL && i < finger_template_n_views(t); i++)
		if (finger_template_view_pos(t, i) == pos)
			return i;
	return -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const struct finger_noise *nz = &finger_noise_good;
	const char *preset = "good";
	int mode = 0, i, j, n = 200;
	uint32_t seed = 1;
	struct finger_template **a, **b;
	uint8_t **rec;
	size_t *len;
	long n_views = 0;
	double t0, t1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--speed") == 0)
			mode = 0;
		else if (strcmp(argv[i], "--accuracy") == 0)
			mode = 1;
		else if (strcmp(argv[i], "--calibrate") == 0)
			mode = 2;
		else if (strcmp(argv[i], "--subjects") == 0 && i + 1 < argc)
			n = (int)number(argv[++i], 2, 100000);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = (uint32_t)number(argv[++i], 0, UINT32_MAX - 1);
		else if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) {
			preset = argv[++i];
			if (strcmp(preset, "good") == 0)
				nz = &finger_noise_good;
			else if (strcmp(preset, "poor") == 0)
				nz = &finger_noise_poor;
			else if (strcmp(preset, "detention") == 0)
				nz = &finger_noise_detention;
			else {
				fprintf(stderr, "bench_finger: unknown preset '%s'\n", preset);
				return 2;
			}
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "bench_finger: bad argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (n < 0 || seed == UINT32_MAX || sodium_init() < 0) {
		fprintf(stderr, "bench_finger: --subjects must be 2..100000, --seed 0..%u\n",
			UINT32_MAX - 1);
		return 2;
	}
	a = calloc((size_t)n, sizeof(*a));
	b = calloc((size_t)n, sizeof(*b));
	rec = calloc(2 * (size_t)n, sizeof(*rec));
	len = calloc(2 * (size_t)n, sizeof(*len));
	if (a == NULL || b == NULL || rec == NULL || len == NULL)
		return 1;
	t0 = now();
	for (i = 0; i < 2 * n; i++)
		rec[i] = synth(seed, (uint32_t)(i / 2), 1 + (uint32_t)(i % 2), nz, &len[i]);
	t1 = now();
	printf("preset %s, %d subjects x 10 fingers x 2 captures: records synthesised in %.2f s\n",
		preset, n, t1 - t0);
	t0 = now();
	for (i = 0; i < n; i++) {
		a[i] = make(rec[2 * i], len[2 * i]);
		b[i] = make(rec[2 * i + 1], len[2 * i + 1]);
		n_views += finger_template_n_views(a[i]) + finger_template_n_views(b[i]);
	}
	t1 = now();
	printf("templates built in %.2f s (%ld views, %.0f views/s)\n", t1 - t0, n_views,
		n_views / (t1 - t0));

	if (mode == 0) {
		/* impostor pairs (the bulk of any 1:N search) and genuine pairs, 2 s each */
		static const char *const kind[2] = {"impostor", "genuine"};
		volatile double sink = 0;
		long built = 0;
		int g;

		/* template build alone (parse, local structures, free), again for 2 s */
		t0 = now();
		do {
			for (i = 0; i < 2 * n; i++) {
				struct finger_template *t = make(rec[i], len[i]);

				built += finger_template_n_views(t);
				finger_template_free(t);
			}
			t1 = now();
		} while (t1 - t0 < 2.0);
		printf("template build: %ld views in %.2f s = %.0f views per second on one core\n",
			built, t1 - t0, built / (t1 - t0));

		for (g = 0; g < 2; g++) {
			long cmp = 0;
			double c0 = cpu_now(), c1;

			t0 = now();
			do {
				for (i = 0; i < n; i++) {
					int v = (int)(cmp % 10),
					    va = v < finger_template_n_views(a[i]) ? v : 0;
					int pos = finger_template_view_pos(a[i], va);

					j = g ? i : (i + 1 + (int)(cmp % (n - 1))) % n;
					if (!g && j == i)
						j = (i + 1) % n;
					sink += finger_match_views(
						a[i], va, b[j], view_of(b[j], pos));
					cmp++;
				}
				t1 = now();
			} while (t1 - t0 < 2.0);
			c1 = cpu_now();
			printf("single-view %s comparisons: %ld in %.2f s = %.0f per second on one core"
			       " (%.0f per CPU-second of this thread)\n",
				kind[g], cmp, t1 - t0, cmp / (t1 - t0), cmp / (c1 - c0));
		}
		(void)sink;
	} else {
		size_t ng = 0, ni = 0, cap_i = (size_t)n * (n - 1) / 2 * 10;
		double *gen = malloc(sizeof(double) * 10 * n),
		       *imp = malloc(sizeof(double) * cap_i);
		double gs = 0, is = 0, is2 = 0;
		static const double fmrs[] = {1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6};
		int pos, nfail = 0;

		if (gen == NULL || imp == NULL)
			return 1;
		t0 = now();
		for (i = 0; i < n; i++) {
			for (pos = 1; pos <= 10; pos++) {
				int va = view_of(a[i], pos), vb = view_of(b[i], pos);

				if (va < 0 || vb < 0) {
					nfail++;
					continue;
				}
				gen[ng] = finger_match_views(a[i], va, b[i], vb);
				gs += gen[ng++];
			}
			for (j = i + 1; j < n; j++) {
				for (pos = 1; pos <= 10; pos++) {
					int va = view_of(a[i], pos), vb = view_of(b[j], pos);

					if (va < 0 || vb < 0)
						continue;
					imp[ni] = finger_match_views(a[i], va, b[j], vb);
					is += imp[ni];
					is2 += imp[ni] * imp[ni];
					ni++;
				}
			}
		}
		t1 = now();
		qsort(gen, ng, sizeof(double), cmp_double);
		qsort(imp, ni, sizeof(double), cmp_double);
		printf("%zu genuine, %zu impostor comparisons in %.1f s (%zu finger pairs missing: "
		       "failure to capture)\n",
			ng, ni, t1 - t0, (size_t)nfail);
		printf("genuine mean %.4f median %.4f; impostor mean %.4f sd %.4f max %.4f\n",
			gs / ng, gen[ng / 2], is / ni, sqrt(is2 / ni - (is / ni) * (is / ni)),
			imp[ni - 1]);
		if (mode == 2)
			printf("/* bench_finger --calibrate --subjects %d --seed %u --preset %s: %zu "
			       "impostor comparisons */\n",
				n, seed, preset, ni);
		for (i = 0; i < (int)(sizeof(fmrs) / sizeof(fmrs[0])); i++) {
			double k = fmrs[i] * ni, thr, fnmr;
			size_t idx, below = 0;

			if (k < 1.0) {
				printf("FMR %.0e: needs more than %zu impostor comparisons\n",
					fmrs[i], ni);
				continue;
			}
			/* threshold: the score exceeded by a share fmr of the impostors */
			idx = ni - (size_t)k;
			thr = imp[idx];
			while (below < ng && gen[below] <= thr)
				below++;
			fnmr = (double)below / ng;
			if (mode == 2)
				printf("\t{ %.0e, %.4f }, /* %zu impostors above; FNMR %.4f */\n",
					fmrs[i], thr, (size_t)k, fnmr);
			else
				printf("FMR %.0e (%zu impostors above): threshold %.4f FNMR %.4f\n",
					fmrs[i], (size_t)k, thr, fnmr);
		}
		free(gen);
		free(imp);
	}
	for (i = 0; i < n; i++) {
		finger_template_free(a[i]);
		finger_template_free(b[i]);
	}
	for (i = 0; i < 2 * n; i++) {
		/* synthetic, but biometric-shaped: wiped like real records */
		if (rec[i] != NULL)
			sodium_memzero(rec[i], len[i]);
		free(rec[i]);
	}
	free(a);
	free(b);
	free(rec);
	free(len);
	return 0;
}
