/* SPDX-License-Identifier: Apache-2.0 */
/* 1:1 comparison of two samples across fingers, face and irises, score fusion and FMR decisions. */
#ifndef PASO_MATCH_H
#define PASO_MATCH_H

#include <stdint.h>

#include "finger_match.h"
#include "sample.h"

/* Bits of match_scores.modalities. */
#define MATCH_FINGER BIO_FINGER
#define MATCH_FACE BIO_FACE
#define MATCH_IRIS BIO_IRIS

/*
 * Scores of one comparison; fields of a modality not compared are 0 (see modalities).
 * finger: best per-position finger score in [0, 1]; face: cosine in [-1, 1]; iris: 1 - mean
 * normalised Hamming distance of the eyes compared (right with right, left with left), in [0, 1].
 * *_ev: the evidence of each modality alone, -log10 of its estimated false-match rate.
 * fused: -log10 of the estimated false-match rate of all modalities together (Fisher's
 * combination of the per-modality false-match rates, docs/biometrics.md "Fusion"): a
 * comparison matches at FMR f exactly when fused >= -log10(f). n_finger, n_iris: finger
 * positions and eyes compared. ev_sum, ev_k: the summed evidence and number of comparisons
 * fused is Fisher's combination of (match_fisher(ev_sum, ev_k) == fused).
 */
struct match_scores {
	double finger, face, iris, fused;
	unsigned modalities;
	double finger_ev, face_ev, iris_ev;
	int n_finger, n_iris;
	double ev_sum;
	int ev_k;
};

/*
 * A sample prepared for many comparisons: parsed finger record, int8 face, iris codes. Opaque and
 * immutable once built (safe to share between threads). Holds biometric data; wiped on free.
 */
struct match_template;

/*
 * Builds a template from a sample (the sample is not referenced afterwards). Caller owns *out.
 * Returns 0, a template error from the finger record (PASO_E_TEMPLATE_*; d names it),
 * PASO_E_FIELD_RANGE (face not finite, iris eye not RIGHT/LEFT or repeated) or PASO_E_NOMEM.
 */
int match_template_new(
	const struct bio_sample *s, struct match_template **out, struct paso_diag *d);
void match_template_free(struct match_template *t);

/*
 * As match_template_new, building only the modalities in the MATCH_* mask (the others are left
 * out). match_template_add_finger later adds the finger part from the same sample (nothing if
 * it has one already or the sample has no finger record): staged verification builds the
 * costly finger template only when face and iris do not decide. Same returns as above.
 */
int match_template_new_ex(const struct bio_sample *s, unsigned modalities,
	struct match_template **out, struct paso_diag *d);
int match_template_add_finger(
	struct match_template *t, const struct bio_sample *s, struct paso_diag *d);

/*
 * As match_template_new_ex(s, MATCH_FACE | MATCH_IRIS), the finger part (the costly one, ~0.65
 * ms for ten fingers) deferred: built from s the first time match_template_finger asks for it,
 * once, whichever thread asks (a deduplication search that face and irises decide never
 * builds it). s is borrowed: it must outlive t, or match_template_undefer must be called
 * before it goes. match_template_view shows the finger part only once built.
 */
int match_template_new_deferred(
	const struct bio_sample *s, struct match_template **out, struct paso_diag *d);

/* 1 when t has a finger part, built or deferred. */
int match_template_has_finger(const struct match_template *t);

/* 1 when t's finger part is deferred and not built yet. */
int match_template_deferred(const struct match_template *t);

/*
 * t's finger part (borrowed from t), built now if deferred; NULL when t has none or the record
 * does not build (then never retried). Thread-safe.
 */
const struct finger_template *match_template_finger(const struct match_template *t);

/* Forgets a deferred finger part not built yet (its sample is about to go). */
void match_template_undefer(struct match_template *t);

/*
 * Compares an enrolled sample with a probe (parses both: prefer match_verify_tmpl in loops).
 * Fills *out (all zero when no modality is present in both). Returns 0 or a match_template_new
 * error. Thread-safe.
 */
int match_verify(const struct bio_sample *enrolled, const struct bio_sample *probe,
	struct match_scores *out);

/* Compares two templates; fills *out; returns 0. Pure and thread-safe. */
int match_verify_tmpl(
	const struct match_template *a, const struct match_template *b, struct match_scores *out);

/*
 * The decision: 1 when at least one modality was compared and the comparison is a match at
 * false-match rate fmr (0 < fmr <= 1, e.g. 1e-6), else 0 (also for an fmr out of range).
 */
int match_decide(const struct match_scores *s, double fmr);

/* The fused-score threshold of a false-match rate: -log10(fmr). */
double match_threshold(double fmr);

/*
 * The parts a comparison reads, so the 1:N gallery can compare from its own flat arrays.
 * Every pointer may be NULL (modality absent). iris[0] is the right eye, iris[1] the left; each
 * points to a code followed by its mask (2 * BIO_IRIS_BYTES).
 */
struct iris_probe;
struct match_view {
	const struct finger_template *finger;
	const int8_t *face_q;
	float face_inv_norm;
	const uint8_t *iris[2];
	/* Optional, for the probe's side only: iris[e] already prepared by iris_probe_init (its
	 * shifts), so a search comparing one probe with many entries prepares it once. NULL
	 * (views are zeroed first) prepares it per comparison. */
	const struct iris_probe *iris_probe[2];
};

/* Moves the finger template out of t (caller owns it; t keeps its other modalities). */
struct finger_template *match_template_take_finger(struct match_template *t);

/* The view of a template (borrowed: valid while t lives). */
void match_template_view(const struct match_template *t, struct match_view *v);

/* Compares two views (b is treated as the probe); fills *out. Pure and thread-safe. */
void match_verify_views(
	const struct match_view *a, const struct match_view *b, struct match_scores *out);

/*
 * Calibration: estimated false-match rate (as -log10) of one face cosine, one iris normalised
 * Hamming distance (best of the shifts) and one finger position score. 0 means no evidence.
 * Face and iris tables in match_calib.h, made by the command written at its top
 * (bench/biometrics/calib_tables.c); the finger table is finger_calib.h (finger_evidence).
 */
double match_face_ev(double cosine);
double match_iris_ev(double hd);
double match_finger_ev(double score);

/*
 * Evidence of the best of k finger comparisons scoring score (views of unknown position tried
 * against every view of the other side): -log10(1 - (1 - f)^k), f the single-comparison FMR.
 */
double match_finger_ev_best_of(double score, int k);

/*
 * Fisher's combination: -log10 of the probability that k independent uniform false-match rates
 * give evidence at least sum_ev (sum of -log10 FMR). k >= 1.
 */
double match_fisher(double sum_ev, int k);

#endif
