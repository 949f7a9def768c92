/* SPDX-License-Identifier: Apache-2.0 */
/* Evaluation metrics of protected templates: equal error rate, thresholds, and the D<->sys
 * unlinkability measure of Gomez-Barrero et al. (2018). */
#ifndef PASO_PROTECT_METRICS_H
#define PASO_PROTECT_METRICS_H

#include <stddef.h>

/* Histogram bins of D<->sys in `paso eval --protect` and the tests. */
#define PROTECT_DSYS_BINS 100

/*
 * Sorts v[0..n) ascending in place (the other functions take sorted scores).
 * Every score is "higher = more similar".
 */
void protect_metrics_sort(double *v, size_t n);

/*
 * Equal error rate of sorted genuine and impostor scores: the mean of FMR and FNMR at the
 * threshold where they are closest (scores >= threshold match). 0..1; 0 if either set is empty.
 */
double protect_metrics_eer(const double *gen, size_t ng, const double *imp, size_t ni);

/*
 * Lowest threshold at which at most floor(fmr * ni) sorted impostor scores are at or above it;
 * *fnmr (may be NULL) gets the share of genuine scores below it. -INFINITY when ni is 0.
 */
double protect_metrics_threshold(
	const double *gen, size_t ng, const double *imp, size_t ni, double fmr, double *fnmr);

/*
 * D<->sys (Gomez-Barrero, Galbally, Rathgeb and Busch, IEEE TIFS 13(7), 2018): with
 * LR(s) = p(s | mated) / p(s | non-mated) estimated by histograms of `bins` equal bins over the
 * range of both sets, D<->(s) = 2 * w LR(s) / (1 + w LR(s)) - 1 where w LR(s) > 1, else 0, with
 * w = 1 (equal priors); D<->sys = sum over bins of p(bin | mated) * D<->(bin). 0 = unlinkable,
 * 1 = fully linkable. A bin with mated but no non-mated scores counts as D<-> = 1. Needs
 * unsorted or sorted scores alike; returns -1.0 when a set is empty or bins is 0.
 */
double protect_metrics_dsys(
	const double *mated, size_t nm, const double *nonmated, size_t nn, unsigned bins);

#endif
