/* SPDX-License-Identifier: Apache-2.0 */
/* Evaluation metrics of protected templates: EER, thresholds at an FMR, D<->sys. */
#include "protect_metrics.h"

#include <math.h>
#include <stdlib.h>

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void
protect_metrics_sort(double *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_double);
}

/* Number of sorted values < t. */
static size_t
below(const double *v, size_t n, double t)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

double
protect_metrics_eer(const double *gen, size_t ng, const double *imp, size_t ni)
{
	double best = INFINITY, eer = 0;
	size_t i = 0, j = 0;

	if (ng == 0 || ni == 0)
		return 0;
	/* walk every distinct score of both sets as a threshold */
	while (i < ng || j < ni) {
		double t, fmr, fnmr;

		if (i < ng && (j >= ni || gen[i] <= imp[j]))
			t = gen[i++];
		else if (j < ni)
			t = imp[j++];
		else
			break;
		fnmr = (double)below(gen, ng, t) / (double)ng;
		fmr = (double)(ni - below(imp, ni, t)) / (double)ni;
		if (fabs(fmr - fnmr) < best) {
			best = fabs(fmr - fnmr);
			eer = (fmr + fnmr) / 2;
		}
	}
	return eer;
}

double
protect_metrics_threshold(
	const double *gen, size_t ng, const double *imp, size_t ni, double fmr, double *fnmr)
{
	size_t kmax;
	double t;

	if (fnmr != NULL)
		*fnmr = 0;
	if (ni == 0)
		return -INFINITY;
	kmax = (size_t)floor(fmr * (double)ni);
	if (kmax >= ni)
		return -INFINITY;
	t = nextafter(imp[ni - kmax - 1], INFINITY);
	if (fnmr != NULL && ng > 0)
		*fnmr = (double)below(gen, ng, t) / (double)ng;
	return t;
}

double
protect_metrics_dsys(
	const double *mated, size_t nm, const double *nonmated, size_t nn, unsigned bins)
{
	double lo = INFINITY, hi = -INFINITY, w, d = 0;
	size_t *hm = NULL, *hn = NULL, i;
	unsigned b;

	if (nm == 0 || nn == 0 || bins == 0)
		return -1.0;
	for (i = 0; i < nm; i++) {
		lo = fmin(lo, mated[i]);
		hi = fmax(hi, mated[i]);
	}
	for (i = 0; i < nn; i++) {
		lo = fmin(lo, nonmated[i]);
		hi = fmax(hi, nonmated[i]);
	}
	hm = calloc(bins, sizeof(*hm));
	hn = calloc(bins, sizeof(*hn));
	if (hm == NULL || hn == NULL) {
		d = -1.0;
		goto out;
	}
	w = hi > lo ? (hi - lo) / bins : 1;
	for (i = 0; i < nm; i++) {
		b = (unsigned)((mated[i] - lo) / w);
		hm[b < bins ? b : bins - 1]++;
	}
	for (i = 0; i < nn; i++) {
		b = (unsigned)((nonmated[i] - lo) / w);
		hn[b < bins ? b : bins - 1]++;
	}
	for (b = 0; b < bins; b++) {
		double pm = (double)hm[b] / (double)nm, pn = (double)hn[b] / (double)nn, dl;

		if (hm[b] == 0)
			continue;
		if (hn[b] == 0)
			dl = 1;
		else {
			double lr = pm / pn;

			dl = lr > 1 ? 2 * lr / (1 + lr) - 1 : 0;
		}
		d += pm * dl;
	}
out:
	free(hm);
	free(hn);
	return d;
}
