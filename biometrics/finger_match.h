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

/*
 * Scores of finger_match; every score is in [0, 1], 1 = same impression. Views of a known
 * position (1..10) are compared with the other template's views of the same position. A view
 * of unknown position (0, common in real records) may be any finger: it is compared with every
 * view of the other template, and all such pairs form one more comparison, "unknown", whose
 * score is their best (evidence from it must allow for n_unknown_pairs tries: match.c does).
 */
struct finger_scores {
	int n_compared;                 /* known positions compared, + 1 when unknown >= 0 */
	double best;                    /* highest score; 0 when n_compared == 0 */
	double sum;                     /* sum of the per-position scores and unknown */
	double score[FINGER_MAX_VIEWS]; /* by ISO position - 1; -1.0 when not compared */
	double unknown;                 /* best pair involving a position-0 view; -1.0 if none */
	int n_unknown_pairs;            /* view pairs behind unknown */
};

/*
 * Parses an ISO/IEC 19794-2:2005 (or ANSI INCITS 378-2004) record with iso19794_read and
 * precomputes every view's local structures. Caller owns *out (finger_template_free).
 * Returns 0, PASO_E_TEMPLATE_FORMAT / _VERSION / _TRUNCATED (d names the problem) or
 * PASO_E_NOMEM. The template holds biometric data: it is wiped on free.
 */
int finger_template_from_record(const uint8_t *rec, size_t len, struct finger_template **out,
	struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * The same, building only the views a comparison with a template of `positions` can use
 * (finger_template_positions): views at those positions and views of unknown position 0.
 * finger_match against such a template gives exactly the scores of the full one. Building a
 * view is most of the cost, so an entry opened to be compared with a two-finger probe costs a
 * fifth of its ten. FINGER_POSITIONS_ALL builds every view.
 */
#define FINGER_POSITIONS_ALL 0x3ffu
int finger_template_from_record_at(const uint8_t *rec, size_t len, uint32_t positions,
	struct finger_template **out, struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * The positions of t's views another template's views can be compared with: bit p - 1 for a
 * view of ISO position p; FINGER_POSITIONS_ALL when t has a view of unknown position (compared
 * with every view). 0 for NULL.
 */
uint32_t finger_template_positions(const struct finger_template *t);

/* Wipes and frees a template. Accepts NULL. */
void finger_template_free(struct finger_template *t);

/* The memory t holds (its struct and every view's arrays), in bytes. 0 for NULL. */
size_t finger_template_bytes(const struct finger_template *t);

/* Number of views, and the ISO finger position (1..10, 0 = unknown) of view i. */
int finger_template_n_views(const struct finger_template *t);
int finger_template_view_pos(const struct finger_template *t, int i);

/*
 * Similarity in [0, 1] of view ai of a and view bi of b, whatever their finger positions.
 * Exactly symmetric (the pair is always scored in one direction, fixed by the views' content);
 * a view compared with itself scores 1 when it has at least one usable local structure (0 for
 * a view with fewer than 2 minutiae). Out-of-range indices give 0. Pure and thread-safe.
 */
double finger_match_views(
	const struct finger_template *a, int ai, const struct finger_template *b, int bi);

/*
 * Compares the views of each finger position present in both templates (several views of one
 * position: the best pair counts) and views of unknown position 0 with every view of the other
 * template (struct finger_scores says how). Fills *out; returns n_compared (0..11). Symmetric.
 * Pure and thread-safe.
 */
int finger_match(const struct finger_template *a, const struct finger_template *b,
	struct finger_scores *out);

/*
 * Calibration of one finger comparison (finger_calib.h, fitted to real impostor scores with a
 * margin; docs/biometrics.md "Finger calibration"): finger_evidence is -log10 of the estimated
 * false-match rate of a score (0 at and below the table's first score; beyond its last point
 * the fitted log-linear tail continues, so every FMR has a threshold); finger_threshold_for_fmr
 * the score at which it reaches fmr (fmr above the table's first point gives its first score);
 * finger_fmr_for_score = 10^-evidence, at most the table's first FMR. Pure.
 */
double finger_evidence(double score);
double finger_threshold_for_fmr(double fmr);
double finger_fmr_for_score(double score);

/*
 * For template protection (protect.c): the MCC cylinder of minutia m of view i as value and
 * validity bits (FINGER_CYL_WORDS words, the rest zero). Returns 1 when the cylinder is usable,
 * 0 when it is not (too few valid cells or neighbours) or an index is out of range. Pure.
 */
#define FINGER_CYL_WORDS 6
int finger_template_view_minutiae(const struct finger_template *t, int i);
int finger_template_cylinder(const struct finger_template *t, int i, int m,
	uint64_t value[FINGER_CYL_WORDS], uint64_t mask[FINGER_CYL_WORDS]);

#endif
