/* SPDX-License-Identifier: Apache-2.0 */
/* What gallery.c and pgallery.c's 1:N searches share: the k best candidates by evidence, kept
 * in a small sorted array, and the face gate's cosine. Pure; the caller owns the arrays. */
#ifndef PASO_TOPK_H
#define PASO_TOPK_H

#include <stddef.h>

struct topk_cand {
	double ev;  /* evidence so far, higher is better */
	size_t idx; /* the entry's index in its gallery */
};

/*
 * Offers (ev, idx) to the k best in c[0..*n), sorted by ev descending; *n grows up to k.
 * Most entries fail the first test, so k stays small and insertion is a short shift.
 */
static inline void
topk_keep(struct topk_cand *c, size_t *n, size_t k, double ev, size_t idx)
{
	size_t j;

	if (*n == k && ev <= c[*n - 1].ev)
		return;
	j = *n < k ? (*n)++ : *n - 1;
	while (j > 0 && c[j - 1].ev < ev) {
		c[j] = c[j - 1];
		j--;
	}
	c[j].ev = ev;
	c[j].idx = idx;
}

/*
 * The face cosine whose evidence is ev under a monotone calibration (ev_of: match_face_ev, or
 * the protected forms' pref_face_ev), by bisection: the gate a large gallery's scan uses.
 */
static inline float
topk_face_gate_cos(double (*ev_of)(double), double ev)
{
	double lo = -1, hi = 1, mid;
	int i;

	for (i = 0; i < 40; i++) {
		mid = (lo + hi) / 2;
		if (ev_of(mid) < ev)
			lo = mid;
		else
			hi = mid;
	}
	return (float)lo;
}

#endif
