/* SPDX-License-Identifier: Apache-2.0 */
/* Fingerprint minutiae matcher: rotation/translation invariant local structures, then global pairing. */
#ifndef PASO_FINGER_MATCH_H
#define PASO_FINGER_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define FINGER_MAX_VIEWS 10

/* Parsed record with precomputed local structures for each view. Opaque; immutable once built. */
struct finger_template;

/* Scores of finger_match; every score is in [0, 1], 1 = same impression. */
struct finger_scores {
	int n_compared;                 /* finger positions present in both templates */
	double best;                    /* highest per-position score; 0 when n_compared == 0 */
	double sum;                     /* sum of the per-position scores */
	double score[FINGER_MAX_VIEWS]; /* by ISO position - 1; -1.0 when not compared */
};

/*
 * Parses an ISO/IEC 19794-2:2005 (or ANSI INCITS 378-2004) record with iso19794_read and
 * precomputes every view's local structures. Caller owns *out (finger_template_free).
 * Returns 0, PASO_E_TEMPLATE_FORMAT / _VERSION / _TRUNCATED (d names the problem) or
 * PASO_E_NOMEM. The template holds biometric data: it is wiped on free.
 */
int finger_template_from_record(const uint8_t *rec, size_t len, struct finger_template **out,
	struct paso_diag *d) __attribute__((warn_unused_result));

/* Wipes and frees a template. Accepts NULL. */
void finger_template_free(struct finger_template *t);

/* Number of views, and the ISO finger position (1..10, 0 = unknown) of view i. */
int finger_template_n_views(const struct finger_template *t);
int finger_template_view_pos(const struct finger_template *t, int i);

/*
 * Similarity in [0, 1] of view ai of a and view bi of b, whatever their finger positions.
 * Symmetric up to rounding; a view compared with itself scores 1 (0 for a view with fewer
 * than 2 minutiae). Out-of-range indices give 0. Pure and thread-safe.
 */
double finger_match_views(
	const struct finger_template *a, int ai, const struct finger_template *b, int bi);

/*
 * Compares the views of each finger position present in both templates (views of an unknown
 * position 0 are not compared; several views of one position: the best pair counts).
 * Fills *out; returns n_compared (0..10). Pure and thread-safe.
 */
int finger_match(const struct finger_template *a, const struct finger_template *b,
	struct finger_scores *out);

/*
 * Single-finger score threshold whose false-match rate is fmr (1e-1 .. 1e-6), interpolated in
 * log(fmr) in a table measured on synthetic impostors (finger_match.c says how). fmr outside the
 * table is clamped to its ends.
 */
double finger_threshold_for_fmr(double fmr);

/* The inverse: estimated single-finger false-match rate of a score (clamped to the table). */
double finger_fmr_for_score(double score);

#endif
