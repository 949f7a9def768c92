/* SPDX-License-Identifier: Apache-2.0 */
/* finger_calib: the finger score -> false-match-rate table, fitted to real impostor scores. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Reads the CSV that `paso eval --records DIR --scores FILE` writes (set,a,b,genuine,score,
 * evidence), keeps the impostor scores of the sets named with --sets (the calibration sets; the
 * others stay held out), and prints finger_calib[] for biometrics/finger_match.c:
 * - per set, the empirical impostor survival S(s) (share scoring >= s), trusted while at least
 *   MIN_TAIL impostors lie above s, and a log-linear fit log10 S = a + b s over the scores
 *   where S is between FIT_LO and FIT_HI (real impostor tails are close to exponential there);
 * - at each score the worst (largest) of those estimates over the sets, times --margin (the
 *   spread between databases that two calibration sets cannot show);
 * - the scores where that estimate falls to 10^-0.25, 10^-0.5, ... 10^-EV_MAX.
 * Beyond the range with impostors, the table is the fit's extrapolation, and says so.
 */

#define MAX_SETS 64
#define MIN_TAIL 10
#define FIT_LO 1e-3
#define FIT_HI 1e-1
#define EV_STEP 0.25
#define EV_MAX 8.0

struct set {
	double *v;
	size_t n, cap;
	double a, b;
};

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* Share of v (sorted) at or above s. */
static double
surv(const struct set *st, double s, size_t *count)
{
	size_t lo = 0, hi = st->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (st->v[mid] < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	*count = st->n - lo;
	return (double)(st->n - lo) / (double)st->n;
}

static int
fit(struct set *st)
{
	double mx = 0, my = 0, sxx = 0, sxy = 0;
	size_t i, m = 0;

	for (i = 0; i < st->n; i++) {
		double S = (double)(st->n - i) / (double)st->n;

		if (S >= FIT_LO && S <= FIT_HI) {
			mx += st->v[i];
			my += log10(S);
			m++;
		}
	}
	if (m < 10)
		return -1;
	mx /= (double)m;
	my /= (double)m;
	for (i = 0; i < st->n; i++) {
		double S = (double)(st->n - i) / (double)st->n;

		if (S >= FIT_LO && S <= FIT_HI) {
			sxx += (st->v[i] - mx) * (st->v[i] - mx);
			sxy += (st->v[i] - mx) * (log10(S) - my);
		}
	}
	if (sxx <= 0)
		return -1;
	st->b = sxy / sxx;
	st->a = my - st->b * mx;
	return st->b < 0 ? 0 : -1;
}

/* The calibrated false-match rate of score s: worst set, times the margin, at most 1. */
static double
estimate(const struct set *sets, int ns, double margin, double s)
{
	double worst = 0;
	int k;

	for (k = 0; k < ns; k++) {
		size_t c;
		double e = surv(&sets[k], s, &c), f = pow(10.0, sets[k].a + sets[k].b * s);

		if (c < MIN_TAIL)
			e = 0;
		worst = fmax(worst, fmax(e, f));
	}
	return fmin(1.0, margin * worst);
}

int
main(int argc, char **argv)
{
	struct set sets[MAX_SETS];
	int want[MAX_SETS] = {0}, id[MAX_SETS], ns = 0, i, k;
	const char *path = NULL, *set_arg = NULL;
	double margin = 1, ev, s;
	char line[2048];
	FILE *f;

	memset(sets, 0, sizeof(sets));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--margin") == 0 && i + 1 < argc) {
			char *end;

			errno = 0;
			margin = strtod(argv[++i], &end);
			if (errno != 0 || *end != '\0' || !(margin >= 1 && margin <= 100)) {
				fprintf(stderr, "finger_calib: --margin: '%s' is not in 1..100\n",
					argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--sets") == 0 && i + 1 < argc) {
			set_arg = argv[++i];
		} else if (argv[i][0] != '-' && path == NULL) {
			path = argv[i];
		} else {
			fprintf(stderr,
				"usage: finger_calib [--margin M] --sets I,J,... SCORES.csv\n"
				"  SCORES.csv from `paso eval --records DIR --scores SCORES.csv`; --sets: "
				"the calibration sets (0-based, as in its set column)\n");
			return 2;
		}
	}
	if (path == NULL || set_arg == NULL) {
		fprintf(stderr, "finger_calib: --sets and a scores file are required\n");
		return 2;
	}
	for (const char *p = set_arg; *p != '\0';) {
		char *end;
		long v;

		errno = 0;
		v = strtol(p, &end, 10);
		if (errno != 0 || end == p || v < 0 || v >= MAX_SETS ||
			(*end != ',' && *end != '\0')) {
			fprintf(stderr, "finger_calib: --sets: '%s' is not a list of 0..%d\n",
				set_arg, MAX_SETS - 1);
			return 2;
		}
		want[v] = 1;
		p = *end == ',' ? end + 1 : end;
	}
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "finger_calib: %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (k = 0; k < MAX_SETS; k++)
		id[k] = -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		int set, gen;
		double score;
		char *c[6], *p = line;

		for (k = 0; k < 6; k++) {
			c[k] = p;
			p = strchr(p, ',');
			if (p == NULL && k < 5)
				break;
			if (p != NULL)
				*p++ = '\0';
		}
		if (k < 6 || strcmp(c[0], "set") == 0)
			continue;
		set = (int)strtol(c[0], NULL, 10); /* our own file, written by paso eval */
		gen = (int)strtol(c[3], NULL, 10);
		score = strtod(c[4], NULL);
		if (set < 0 || set >= MAX_SETS || !want[set] || gen != 0)
			continue;
		if (id[set] < 0)
			id[set] = ns++;
		{
			struct set *st = &sets[id[set]];

			if (st->n == st->cap) {
				double *q = realloc(st->v,
					(st->cap = st->cap ? 2 * st->cap : 4096) * sizeof(double));

				if (q == NULL) {
					fclose(f);
					return 1;
				}
				st->v = q;
			}
			st->v[st->n++] = score;
		}
	}
	fclose(f);
	if (ns == 0) {
		fprintf(stderr, "finger_calib: no impostor scores of the sets %s in %s\n", set_arg,
			path);
		return 1;
	}
	printf("/* finger_calib --margin %g --sets %s: %d sets", margin, set_arg, ns);
	for (k = 0; k < ns; k++) {
		qsort(sets[k].v, sets[k].n, sizeof(double), cmp_double);
		if (fit(&sets[k]) != 0) {
			fprintf(stderr, "finger_calib: set %d: too few impostor scores to fit\n",
				k);
			return 1;
		}
		printf("; %zu impostors, log10 FMR = %.3f %.3f s", sets[k].n, sets[k].a, sets[k].b);
	}
	printf(" */\n");
	for (ev = EV_STEP, s = 0; ev <= EV_MAX + 1e-9; ev += EV_STEP) {
		size_t c = 0;
		int k2;

		while (s < 1 && -log10(estimate(sets, ns, margin, s)) < ev)
			s += 1e-4;
		for (k2 = 0; k2 < ns; k2++) {
			size_t ck;

			surv(&sets[k2], s, &ck);
			c += ck;
		}
		printf("\t{%.4f, %.2f}, /* %zu calibration impostors at or above */\n", s, ev, c);
	}
	for (k = 0; k < ns; k++)
		free(sets[k].v);
	return 0;
}
