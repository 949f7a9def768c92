/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to lab/: the results of `paso eval` and the writers of its report, CSV, SVG and JSON. */
#ifndef PASO_EVAL_H
#define PASO_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { EV_FINGER, EV_FACE, EV_IRIS, EV_FUSED, EV_NMOD };
#define EV_NFMR 5 /* FMR 1e-2 .. 1e-6 */

/* Scores of one modality; every score is "higher = more similar". */
struct ev_scores {
	double *v;
	size_t n, cap;
};

struct ev_point {
	double fmr;       /* the false-match rate asked for */
	int enough;       /* fmr * impostors >= EV_MIN_TAIL */
	double threshold; /* score at which at most fmr of the impostors score at least it */
	double fnmr;      /* genuine share below threshold */
	double fmr_obs;   /* impostor share at or above threshold */
	size_t impostors; /* impostor comparisons backing the figure */
};
#define EV_MIN_TAIL 10 /* impostor scores that must lie above a threshold to report it */

struct ev_modality {
	const char *name;  /* "finger", "face", "iris", "fused" */
	const char *score; /* what the score is, in words */
	struct ev_scores gen, imp;
	size_t gen_missing; /* genuine pairs where the modality was not compared */
	double gen_mean, gen_sd, imp_mean, imp_sd;
	struct ev_point at[EV_NFMR];
	double eer;           /* equal error rate: mean of FMR and FNMR where they cross */
	double eer_threshold; /* the threshold there */
	/* the policy's view for fused: threshold -log10(fmr) from the calibration tables */
	struct ev_point policy[EV_NFMR];
};

struct ev_result {
	uint32_t subjects, captures, gallery;
	uint64_t seed;
	const char *preset;
	double fmr_1n;
	struct ev_modality mod[EV_NMOD];
	size_t iris_eye_pairs, iris_eye_over_032; /* per-eye genuine comparisons, HD > 0.32 */
	size_t mated, rank1, tpir_hits, nonmated, fpir_hits;
	double seconds;
	int records; /* 1: real records (--records), 2: synthetic fingers (--synthetic), 0: people */
	size_t n_records;                /* records read */
	uint32_t n_sets;                 /* record sets (impostor pairs stay within one) */
	const char *csv_path, *svg_path; /* NULL when not written */
};

/* Sorts scores and fills statistics and the FMR table of every modality. */
void eval_summarise(struct ev_result *r);

/* FMR and FNMR of modality m at threshold t (scores >= t match). */
void eval_rates(const struct ev_modality *m, double t, double *fmr, double *fnmr);

/* Writes DIR/name with fn; path receives it. 0, or -1 with the error printed. */
int eval_write_file(const char *dir, const char *name, int (*fn)(FILE *, const struct ev_result *),
	const struct ev_result *res, char *path, size_t pathlen);

/* A `paso eval` option's whole number in lo..hi into *out; PASO_E_USAGE (said on stderr,
 * naming opt and the value) otherwise. */
int eval_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* `paso eval --records DIR ...` (lab/eval_records.c). */
int eval_records_main(int argc, char **argv);

/* Writers: 0 or -1 on a write error (errno set). */
int eval_write_csv(FILE *f, const struct ev_result *r);
int eval_write_svg(FILE *f, const struct ev_result *r);
int eval_write_json(FILE *f, const struct ev_result *r);
int eval_write_text(FILE *f, const struct ev_result *r);

#endif
