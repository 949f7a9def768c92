/* SPDX-License-Identifier: Apache-2.0 */
/* `paso eval` results: statistics, FMR/FNMR tables, and the text, JSON, CSV and hand-written SVG.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

static const double fmr_levels[EV_NFMR] = {1e-2, 1e-3, 1e-4, 1e-5, 1e-6};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Number of values < t in a sorted array. */
static size_t
below(const struct ev_scores *s, double t)
{
	size_t lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (s->v[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
eval_rates(const struct ev_modality *m, double t, double *fmr, double *fnmr)
{
	*fmr = m->imp.n ? (double)(m->imp.n - below(&m->imp, t)) / (double)m->imp.n : 0;
	*fnmr = m->gen.n ? (double)below(&m->gen, t) / (double)m->gen.n : 0;
}

static void
moments(const struct ev_scores *s, double *mean, double *sd)
{
	double a = 0, b = 0;
	size_t i;

	*mean = *sd = 0;
	if (s->n == 0)
		return;
	for (i = 0; i < s->n; i++)
		a += s->v[i];
	a /= (double)s->n;
	for (i = 0; i < s->n; i++)
		b += (s->v[i] - a) * (s->v[i] - a);
	*mean = a;
	*sd = s->n > 1 ? sqrt(b / (double)(s->n - 1)) : 0;
}

/* Lowest threshold at which at most floor(fmr * n) impostors score at or above it. */
static double
threshold_at(const struct ev_scores *imp, double fmr)
{
	size_t kmax = (size_t)floor(fmr * (double)imp->n);

	if (kmax >= imp->n)
		return -INFINITY;
	return nextafter(imp->v[imp->n - kmax - 1], INFINITY);
}

static void
fill_point(const struct ev_modality *m, double fmr, double t, struct ev_point *p)
{
	p->fmr = fmr;
	p->impostors = m->imp.n;
	p->enough = fmr * (double)m->imp.n >= EV_MIN_TAIL;
	p->threshold = t;
	eval_rates(m, t, &p->fmr_obs, &p->fnmr);
}

/*
 * Equal error rate: thresholds are walked upwards through every score of both sorted lists;
 * where |FMR - FNMR| is smallest, EER = their mean.
 */
static void
equal_error(struct ev_modality *m)
{
	size_t ig = 0, ii = 0, ng = m->gen.n, ni = m->imp.n;
	double best = INFINITY;

	m->eer = NAN;
	m->eer_threshold = NAN;
	if (ng == 0 || ni == 0)
		return;
	for (;;) {
		/* threshold t: the smallest score not yet passed; scores < t are below it */
		double t = ig < ng && (ii >= ni || m->gen.v[ig] <= m->imp.v[ii]) ? m->gen.v[ig]
			   : ii < ni                                             ? m->imp.v[ii]
										 : INFINITY;
		double fnmr = (double)ig / (double)ng, fmr = (double)(ni - ii) / (double)ni;

		if (fabs(fmr - fnmr) < best) {
			best = fabs(fmr - fnmr);
			m->eer = (fmr + fnmr) / 2;
			m->eer_threshold = t;
		}
		if (!isfinite(t))
			break;
		while (ig < ng && m->gen.v[ig] <= t)
			ig++;
		while (ii < ni && m->imp.v[ii] <= t)
			ii++;
	}
}

void
eval_summarise(struct ev_result *r)
{
	int k, j;

	for (k = 0; k < EV_NMOD; k++) {
		struct ev_modality *m = &r->mod[k];

		qsort(m->gen.v, m->gen.n, sizeof(double), cmp_double);
		qsort(m->imp.v, m->imp.n, sizeof(double), cmp_double);
		moments(&m->gen, &m->gen_mean, &m->gen_sd);
		moments(&m->imp, &m->imp_mean, &m->imp_sd);
		equal_error(m);
		for (j = 0; j < EV_NFMR; j++) {
			fill_point(m, fmr_levels[j],
				m->imp.n ? threshold_at(&m->imp, fmr_levels[j]) : 0, &m->at[j]);
			if (m->imp.n == 0)
				m->at[j].enough = 0;
			fill_point(m, fmr_levels[j], -log10(fmr_levels[j]), &m->policy[j]);
		}
	}
}

/* ---- CSV: one row per DET point ---- */

/* DET points of a modality: thresholds at FMR 10^(-i/10) down to EV_MIN_TAIL / n impostors. */
static size_t
det_points(const struct ev_modality *m, double *thr, size_t max)
{
	size_t n = 0;
	double last = NAN;
	int i;

	for (i = 0; i <= 120 && n < max && m->imp.n > 0; i++) {
		double f = pow(10, -i / 10.0), t;

		if (f * (double)m->imp.n < 1)
			break;
		t = threshold_at(&m->imp, f);
		if (!isfinite(t) || t == last)
			continue;
		thr[n++] = last = t;
	}
	return n;
}

int
eval_write_csv(FILE *f, const struct ev_result *r)
{
	double thr[128], fmr, fnmr;
	size_t i, n;
	int k;

	fprintf(f, "modality,threshold,fmr,fnmr,impostor_comparisons,genuine_comparisons\n");
	for (k = 0; k < EV_NMOD; k++) {
		const struct ev_modality *m = &r->mod[k];

		n = det_points(m, thr, 128);
		for (i = 0; i < n; i++) {
			eval_rates(m, thr[i], &fmr, &fnmr);
			fprintf(f, "%s,%.9g,%.9g,%.9g,%zu,%zu\n", m->name, thr[i], fmr, fnmr,
				m->imp.n, m->gen.n);
		}
	}
	return ferror(f) ? -1 : 0;
}

/* ---- SVG: DET curves on log-log axes, written by hand ---- */

#define SVG_W 760
#define SVG_H 560
#define PL 90 /* plot area: left, right, top, bottom */
#define PR 200
#define PT 50
#define PB 70

static const char *colours[EV_NMOD] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};

static double
sx(double lf, double xmin)
{
	return PL + (lf - xmin) / (0 - xmin) * (SVG_W - PL - PR);
}

static double
sy(double lf, double ymin)
{
	return PT + (0 - lf) / (0 - ymin) * (SVG_H - PT - PB);
}

int
eval_write_svg(FILE *f, const struct ev_result *r)
{
	double thr[128], fmr, fnmr, xmin = -2, ymin = -4;
	size_t i, n;
	int k, d, legend = 0;

	/* x axis reaches the smallest FMR any modality can show */
	for (k = 0; k < EV_NMOD; k++)
		if (r->mod[k].imp.n > 0) {
			double lf = floor(log10(1.0 / (double)r->mod[k].imp.n));

			if (lf < xmin)
				xmin = lf;
		}
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
		SVG_W, SVG_H, SVG_W, SVG_H);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", SVG_W, SVG_H);
	if (r->records)
		fprintf(f,
			"<text x=\"%d\" y=\"28\" font-size=\"15\">DET: %zu %s finger records "
			"in %u sets</text>\n",
			PL, r->n_records, r->records == 2 ? "synthetic" : "real", r->n_sets);
	else
		fprintf(f,
			"<text x=\"%d\" y=\"28\" font-size=\"15\">DET: %u subjects x %u "
			"captures, preset %s, seed %llu</text>\n",
			PL, r->subjects, r->captures, r->preset, (unsigned long long)r->seed);
	/* grid and decade ticks */
	for (d = (int)xmin; d <= 0; d++) {
		double x = sx(d, xmin);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n",
			x, PT, x, SVG_H - PB);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">1e%d</text>\n", x,
			SVG_H - PB + 18, d);
	}
	for (d = (int)ymin; d <= 0; d++) {
		double y = sy(d, ymin);

		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
			PL, y, SVG_W - PR, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n", PL - 8,
			y + 4, d);
	}
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
		"stroke=\"black\"/>\n",
		PL, PT, SVG_W - PL - PR, SVG_H - PT - PB);
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">false match rate (FMR, log "
		"scale)</text>\n",
		(SVG_W - PR + PL) / 2, SVG_H - 25);
	fprintf(f,
		"<text transform=\"translate(30 %d) rotate(-90)\" text-anchor=\"middle\">false "
		"non-match rate (FNMR, log scale)</text>\n",
		(SVG_H - PB + PT) / 2);
	for (k = 0; k < EV_NMOD; k++) {
		const struct ev_modality *m = &r->mod[k];
		int first = 1;

		n = det_points(m, thr, 128);
		if (n == 0)
			continue;
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
			colours[k]);
		for (i = 0; i < n; i++) {
			double lx, ly;

			eval_rates(m, thr[i], &fmr, &fnmr);
			if (fmr <= 0)
				continue;
			lx = fmax(log10(fmr), xmin);
			/* FNMR 0 cannot sit on a log axis: drawn on the bottom edge */
			ly = fnmr > 0 ? fmax(log10(fnmr), ymin) : ymin;
			fprintf(f, "%s%.1f,%.1f", first ? "" : " ", sx(lx, xmin), sy(ly, ymin));
			first = 0;
		}
		fprintf(f, "\"/>\n");
		fprintf(f,
			"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
			"stroke-width=\"3\"/>\n",
			SVG_W - PR + 15, PT + 10 + 22 * legend, SVG_W - PR + 45,
			PT + 10 + 22 * legend, colours[k]);
		fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", SVG_W - PR + 52,
			PT + 14 + 22 * legend, m->name);
		legend++;
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\">FNMR 0 is drawn</text>\n",
		SVG_W - PR + 15, PT + 30 + 22 * legend);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\">on the bottom edge</text>\n",
		SVG_W - PR + 15, PT + 43 + 22 * legend);
	fprintf(f, "</svg>\n");
	return ferror(f) ? -1 : 0;
}

/* Modalities whose score is -log10 FMR, so that the policy's thresholds apply to it. */
static int
has_policy(const struct ev_result *r, int k)
{
	return k == EV_FUSED || (k == EV_FINGER && !r->records);
}

/* ---- JSON ---- */

static void
json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.9g", v);
	else
		fprintf(f, "null");
}

static void
json_points(FILE *f, const struct ev_point *p, int policy)
{
	int j;

	fprintf(f, "[");
	for (j = 0; j < EV_NFMR; j++) {
		fprintf(f,
			"%s{\"fmr\": %g, \"impostor_comparisons\": %zu, \"enough\": %s, "
			"\"threshold\": ",
			j ? ", " : "", p[j].fmr, p[j].impostors, p[j].enough ? "true" : "false");
		if (p[j].enough || policy)
			json_num(f, p[j].threshold);
		else
			fprintf(f, "null");
		fprintf(f, ", \"fnmr\": ");
		if (p[j].enough || policy)
			json_num(f, p[j].fnmr);
		else
			fprintf(f, "null");
		fprintf(f, ", \"observed_fmr\": ");
		json_num(f, p[j].fmr_obs);
		fprintf(f, "}");
	}
	fprintf(f, "]");
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int
eval_write_json(FILE *f, const struct ev_result *r)
{
	int k;

	if (r->records)
		fprintf(f, "{\"records\": %zu, \"sets\": %u, \"synthetic\": %s, \"preset\": ",
			r->n_records, r->n_sets, r->records == 2 ? "true" : "false");
	else
		fprintf(f, "{\"subjects\": %u, \"captures\": %u, \"seed\": %llu, \"preset\": ",
			r->subjects, r->captures, (unsigned long long)r->seed);
	json_str(f, r->preset);
	fprintf(f,
		", \"seconds\": %.3f, \"min_impostors_above_threshold\": %d,\n \"modalities\": {",
		r->seconds, EV_MIN_TAIL);
	for (k = 0; k < EV_NMOD; k++) {
		const struct ev_modality *m = &r->mod[k];

		fprintf(f, "%s\n  \"%s\": {\"score\": ", k ? "," : "", m->name);
		json_str(f, m->score);
		fprintf(f, ",\n   \"genuine\": {\"count\": %zu, \"not_compared\": %zu, \"mean\": ",
			m->gen.n, m->gen_missing);
		json_num(f, m->gen_mean);
		fprintf(f, ", \"sd\": ");
		json_num(f, m->gen_sd);
		fprintf(f, "},\n   \"impostor\": {\"count\": %zu, \"mean\": ", m->imp.n);
		json_num(f, m->imp_mean);
		fprintf(f, ", \"sd\": ");
		json_num(f, m->imp_sd);
		fprintf(f, "},\n   \"eer\": ");
		json_num(f, m->eer);
		fprintf(f, ", \"eer_threshold\": ");
		json_num(f, m->eer_threshold);
		fprintf(f, ",\n   \"fnmr_at_fmr\": ");
		json_points(f, m->at, 0);
		if (has_policy(r, k)) {
			fprintf(f, ",\n   \"policy_threshold\": ");
			json_points(f, m->policy, 1);
		}
		fprintf(f, "}");
	}
	fprintf(f,
		"},\n \"iris_per_eye\": {\"comparisons\": %zu, \"hd_above_0_32\": %zu, "
		"\"fnmr_at_hd_0_32\": ",
		r->iris_eye_pairs, r->iris_eye_over_032);
	json_num(f,
		r->iris_eye_pairs ? (double)r->iris_eye_over_032 / (double)r->iris_eye_pairs : NAN);
	if (r->records) {
		/* rank-1 only: each identity's first record enrolled, the others probe (per set) */
		fprintf(f,
			"},\n \"identification\": {\"mated_probes\": %zu, \"rank1_hits\": %zu, "
			"\"rank1\": ",
			r->mated, r->rank1);
		json_num(f, r->mated ? (double)r->rank1 / (double)r->mated : NAN);
	} else {
		fprintf(f,
			"},\n \"identification\": {\"gallery\": %u, \"fmr\": %g, "
			"\"mated_probes\": %zu, \"rank1\": ",
			r->gallery, r->fmr_1n, r->mated);
		json_num(f, r->mated ? (double)r->rank1 / (double)r->mated : NAN);
		fprintf(f, ", \"tpir\": ");
		json_num(f, r->mated ? (double)r->tpir_hits / (double)r->mated : NAN);
		fprintf(f, ", \"non_mated_probes\": %zu, \"fpir\": ", r->nonmated);
		json_num(f, r->nonmated ? (double)r->fpir_hits / (double)r->nonmated : NAN);
	}
	fprintf(f, "},\n \"files\": {\"det_csv\": ");
	if (r->csv_path != NULL)
		json_str(f, r->csv_path);
	else
		fprintf(f, "null");
	fprintf(f, ", \"det_svg\": ");
	if (r->svg_path != NULL)
		json_str(f, r->svg_path);
	else
		fprintf(f, "null");
	fprintf(f, "}}\n");
	return ferror(f) ? -1 : 0;
}

/* ---- text ---- */

int
eval_write_text(FILE *f, const struct ev_result *r)
{
	int k, j;

	if (r->records == 2)
		fprintf(f,
			"paso eval: %zu synthetic finger records (right index, preset %s, seed %llu) "
			"(%.1f s)\n\n",
			r->n_records, r->preset, (unsigned long long)r->seed, r->seconds);
	else if (r->records)
		fprintf(f, "paso eval: %zu real finger records in %u sets (%.1f s)\n\n",
			r->n_records, r->n_sets, r->seconds);
	else
		fprintf(f,
			"paso eval: %u subjects x %u captures, preset %s, seed %llu (%.1f s)\n\n",
			r->subjects, r->captures, r->preset, (unsigned long long)r->seed,
			r->seconds);
	for (k = 0; k < EV_NMOD; k++) {
		const struct ev_modality *m = &r->mod[k];

		if (r->records && m->gen.n == 0 && m->imp.n == 0)
			continue;

		fprintf(f, "%s: %s\n", m->name, m->score);
		fprintf(f,
			"  genuine   %9zu comparisons  mean %8.4f  sd %7.4f  (%zu pairs not "
			"compared)\n",
			m->gen.n, m->gen_mean, m->gen_sd, m->gen_missing);
		fprintf(f, "  impostor  %9zu comparisons  mean %8.4f  sd %7.4f\n", m->imp.n,
			m->imp_mean, m->imp_sd);
		if (isfinite(m->eer))
			fprintf(f, "  EER %.5f at threshold %.4f\n", m->eer, m->eer_threshold);
		for (j = 0; j < EV_NFMR; j++) {
			const struct ev_point *p = &m->at[j];

			if (!p->enough && p->fmr * (double)p->impostors >= 1 && m->gen.n > 0)
				/* real sets are small: the figure, said to rest on few impostors */
				fprintf(f,
					"  FMR %-6g threshold %9.4f  FNMR %8.5f  (%zu of %zu genuine "
					"below; %zu impostors: only %.0f may lie above, indicative)\n",
					p->fmr, p->threshold, p->fnmr,
					(size_t)llround(p->fnmr * (double)m->gen.n), m->gen.n,
					p->impostors, floor(p->fmr * (double)p->impostors));
			else if (!p->enough)
				fprintf(f,
					"  FMR %-6g not enough impostor comparisons (%zu; need "
					"%.0f)\n",
					p->fmr, p->impostors, EV_MIN_TAIL / p->fmr);
			else
				fprintf(f,
					"  FMR %-6g threshold %9.4f  FNMR %8.5f  (%zu of %zu genuine "
					"below; %zu impostors)\n",
					p->fmr, p->threshold, p->fnmr,
					(size_t)llround(p->fnmr * (double)m->gen.n), m->gen.n,
					p->impostors);
		}
		if (has_policy(r, k))
			for (j = 0; j < EV_NFMR; j++) {
				const struct ev_point *p = &m->policy[j];

				fprintf(f,
					"  policy FMR %-6g threshold %5.2f  FNMR %8.5f  observed "
					"FMR %.3g (%zu of %zu impostors)%s\n",
					p->fmr, p->threshold, p->fnmr, p->fmr_obs,
					(size_t)llround(p->fmr_obs * (double)p->impostors),
					p->impostors, p->enough ? "" : " (too few to check)");
			}
		fprintf(f, "\n");
	}
	if (r->iris_eye_pairs > 0)
		fprintf(f,
			"iris, single eye: FNMR %.5f at HD 0.32 (%zu of %zu genuine eye "
			"comparisons above)\n",
			(double)r->iris_eye_over_032 / (double)r->iris_eye_pairs,
			r->iris_eye_over_032, r->iris_eye_pairs);
	if (r->records && r->mated > 0)
		fprintf(f,
			"rank-1 identification: %.5f (%zu of %zu probes; each identity's first record "
			"enrolled, per set)\n",
			(double)r->rank1 / (double)r->mated, r->rank1, r->mated);
	else if (r->mated > 0)
		fprintf(f,
			"1:N over %u enrolled: rank-1 %.5f, identified at FMR %g %.5f (%zu mated "
			"probes); FPIR %.5f (%zu of %zu non-mated probes)\n",
			r->gallery, (double)r->rank1 / (double)r->mated, r->fmr_1n,
			(double)r->tpir_hits / (double)r->mated, r->mated,
			r->nonmated ? (double)r->fpir_hits / (double)r->nonmated : 0, r->fpir_hits,
			r->nonmated);
	if (r->csv_path != NULL)
		fprintf(f, "DET curves: %s, %s\n", r->csv_path, r->svg_path);
	return ferror(f) ? -1 : 0;
}
