/* SPDX-License-Identifier: Apache-2.0 */
/* `paso eval --records DIR`: the finger matcher on a directory of real ISO/ANSI minutiae records. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "capture.h"
#include "errors.h"
#include "eval.h"
#include "finger_match.h"
#include "finger_synth.h"
#include "match.h"

#define MAX_RECORD_BYTES (1024u * 1024u) /* far above 10 views x 255 minutiae */
#define MAX_RECORDS 100000
#define MAX_SETS 64
#define NAME_MAX_LEN 256

struct rec {
	char name[NAME_MAX_LEN]; /* path relative to the set's directory */
	char id[NAME_MAX_LEN];   /* identity: FVC finger number or the CSV's identity */
	int set;
	struct finger_template *t;
};

struct recs {
	struct rec *r;
	size_t n, cap;
	char *set_dir[MAX_SETS];
	int n_sets;
};

/* Reads FILE whole; 0 or a PASO_E_* code, d naming the problem. */
static int
read_file(const char *path, uint8_t **bufp, size_t *lenp, struct paso_diag *d)
{
	FILE *f = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, n;
	int r;

	*bufp = NULL;
	*lenp = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		r = paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((buf = malloc(MAX_RECORD_BYTES + 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	while ((n = fread(buf + len, 1, MAX_RECORD_BYTES + 1 - len, f)) > 0)
		len += n;
	if (ferror(f)) {
		r = paso_diag_set(d, PASO_E_IO, "%s: read error", path);
		goto out;
	}
	if (len > MAX_RECORD_BYTES) {
		r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT, "%s: larger than %u bytes", path,
			MAX_RECORD_BYTES);
		goto out;
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return r;
}

/*
 * FVC naming: FINGER_IMPRESSION.ext, FINGER and IMPRESSION decimal. Writes FINGER into id.
 * Returns 1 when name follows it.
 */
static int
fvc_name(const char *name, char *id, size_t idlen)
{
	const char *u = strchr(name, '_'), *dot, *p;

	if (u == NULL || u == name || (size_t)(u - name) >= idlen)
		return 0;
	for (p = name; p < u; p++)
		if (*p < '0' || *p > '9')
			return 0;
	dot = strchr(u + 1, '.');
	if (dot == NULL || dot == u + 1 || dot[1] == '\0')
		return 0;
	for (p = u + 1; p < dot; p++)
		if (*p < '0' || *p > '9')
			return 0;
	memcpy(id, name, (size_t)(u - name));
	id[u - name] = '\0';
	return 1;
}

static int
add_rec(struct recs *rs, int set, const char *name, const char *id, struct paso_diag *d)
{
	struct rec *x;

	if (rs->n == MAX_RECORDS)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "more than %d records", MAX_RECORDS);
	if (strlen(name) >= NAME_MAX_LEN || strlen(id) >= NAME_MAX_LEN)
		return paso_diag_set(d, PASO_E_FIELD_RANGE, "%s: name or identity too long", name);
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;

		if ((x = realloc(rs->r, cap * sizeof(*x))) == NULL)
			return PASO_E_NOMEM;
		rs->r = x;
		rs->cap = cap;
	}
	x = &rs->r[rs->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", name);
	snprintf(x->id, sizeof(x->id), "%s", id);
	x->set = set;
	return 0;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the directory's entries (regular files when files, else directories). */
static int
list_dir(const char *dir, int files, char ***out, size_t *n_out, struct paso_diag *d)
{
	DIR *dp = NULL;
	struct dirent *e;
	char **v = NULL, path[4096];
	size_t n = 0, cap = 0;
	struct stat st;
	int r;

	*out = NULL;
	*n_out = 0;
	if ((dp = opendir(dir)) == NULL) {
		r = paso_diag_set(d, PASO_E_IO, "%s: %s", dir, strerror(errno));
		goto out;
	}
	while ((e = readdir(dp)) != NULL) {
		int k = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);

		if (e->d_name[0] == '.' || k < 0 || (size_t)k >= sizeof(path) ||
			stat(path, &st) != 0)
			continue;
		if (files ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			char **p = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*v));

			if (p == NULL) {
				r = PASO_E_NOMEM;
				goto out;
			}
			v = p;
		}
		if ((v[n] = strdup(e->d_name)) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
		n++;
	}
	qsort(v, n, sizeof(*v), cmp_name);
	*out = v;
	*n_out = n;
	v = NULL;
	r = 0;
out:
	while (v != NULL && n > 0)
		free(v[--n]);
	free(v);
	if (dp != NULL)
		closedir(dp);
	return r;
}

static void
free_names(char **v, size_t n)
{
	while (v != NULL && n > 0)
		free(v[--n]);
	free(v);
}

/* One set: the FVC-named files of dir (other files are named as an error). */
static int
add_fvc_set(struct recs *rs, const char *dir, struct paso_diag *d)
{
	char **names = NULL, id[NAME_MAX_LEN];
	size_t n = 0, i;
	int r, set;

	if (rs->n_sets == MAX_SETS)
		return paso_diag_set(
			d, PASO_E_INVALID_ARG, "%s: more than %d record sets", dir, MAX_SETS);
	if ((r = list_dir(dir, 1, &names, &n, d)) != 0)
		goto out;
	if ((rs->set_dir[rs->n_sets] = strdup(dir)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	set = rs->n_sets++;
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], "README.md") == 0 || strcmp(names[i], "README") == 0)
			continue;
		if (!fvc_name(names[i], id, sizeof(id))) {
			r = paso_diag_set(d, PASO_E_INVALID_ARG,
				"%s/%s: not named FINGER_IMPRESSION.ext (use --ids FILE.csv)", dir,
				names[i]);
			goto out;
		}
		if ((r = add_rec(rs, set, names[i], id, d)) != 0)
			goto out;
	}
	r = 0;
out:
	free_names(names, n);
	return r;
}

/* DIR holding records, or holding one directory of records per set (FVC's DB1_B ...). */
static int
add_records_dir(struct recs *rs, const char *dir, struct paso_diag *d)
{
	char **subs = NULL, path[4096];
	size_t n = 0, i;
	int r;

	if ((r = list_dir(dir, 0, &subs, &n, d)) != 0)
		goto out;
	if (n == 0) {
		r = add_fvc_set(rs, dir, d);
		goto out;
	}
	for (i = 0; i < n; i++) {
		int k = snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);

		if (k < 0 || (size_t)k >= sizeof(path)) {
			r = paso_diag_set(d, PASO_E_INVALID_ARG, "%s: path too long", dir);
			goto out;
		}
		if ((r = add_fvc_set(rs, path, d)) != 0)
			goto out;
	}
out:
	free_names(subs, n);
	return r;
}

/* --ids FILE.csv: lines "file,identity" (paths relative to DIR); one set. '#' lines skipped. */
static int
add_csv_set(struct recs *rs, const char *dir, const char *csv, struct paso_diag *d)
{
	FILE *f = NULL;
	char line[2 * NAME_MAX_LEN + 8];
	int r, set, lineno = 0;

	if (rs->n_sets == MAX_SETS)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "more than %d record sets", MAX_SETS);
	if ((f = fopen(csv, "r")) == NULL) {
		r = paso_diag_set(d, PASO_E_IO, "--ids %s: %s", csv, strerror(errno));
		goto out;
	}
	if ((rs->set_dir[rs->n_sets] = strdup(dir)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	set = rs->n_sets++;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *comma, *end;

		lineno++;
		end = line + strcspn(line, "\r\n");
		if (*end == '\0' && !feof(f)) {
			r = paso_diag_set(
				d, PASO_E_INVALID_ARG, "%s:%d: line too long", csv, lineno);
			goto out;
		}
		*end = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		comma = strchr(line, ',');
		if (comma == NULL || comma == line || comma[1] == '\0' || strchr(comma + 1, ',')) {
			if (lineno == 1 && comma != NULL && strncmp(line, "file,", 5) == 0)
				continue; /* a header line */
			r = paso_diag_set(d, PASO_E_INVALID_ARG,
				"%s:%d: expected 'file,identity': '%s'", csv, lineno, line);
			goto out;
		}
		if (lineno == 1 && strcmp(line, "file,identity") == 0)
			continue;
		*comma = '\0';
		if ((r = add_rec(rs, set, line, comma + 1, d)) != 0)
			goto out;
	}
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	return r;
}

static int
load_templates(struct recs *rs, struct paso_diag *d)
{
	char path[4096];
	size_t i;
	int r = 0;

	for (i = 0; i < rs->n && r == 0; i++) {
		struct rec *x = &rs->r[i];
		uint8_t *buf = NULL;
		size_t len = 0;
		struct paso_diag d2;
		int k;

		if (x->t != NULL)
			continue;
		k = snprintf(path, sizeof(path), "%s/%s", rs->set_dir[x->set], x->name);
		if (k < 0 || (size_t)k >= sizeof(path))
			return paso_diag_set(d, PASO_E_INVALID_ARG, "%s: path too long", x->name);
		memset(&d2, 0, sizeof(d2));
		if ((r = read_file(path, &buf, &len, d)) != 0)
			break;
		if ((r = finger_template_from_record(buf, len, &x->t, &d2)) != 0)
			r = paso_diag_set(d, r, "%s: %s", path, d2.msg);
		free(buf);
	}
	return r;
}

/*
 * The same shape from the synthetic finger model: n right index fingers of different synthetic
 * people x m impressions, the preset's noise (failures to capture left out), one set.
 */
static int
add_synthetic(struct recs *rs, uint32_t n, uint32_t m, uint64_t seed, const struct finger_noise *nz,
	struct paso_diag *d)
{
	struct finger_noise noise = *nz;
	char name[64], id[32];
	uint32_t p, c;
	int r;

	noise.fail_rate = 0;
	if ((rs->set_dir[0] = strdup("(synthetic)")) == NULL)
		return PASO_E_NOMEM;
	rs->n_sets = 1;
	for (p = 0; p < n; p++) {
		uint8_t ps[32], in[12];

		memcpy(in, &seed, 8);
		memcpy(in + 8, &p, 4);
		crypto_generichash(
			ps, sizeof(ps), in, sizeof(in), (const uint8_t *)"paso eval fingers", 17);
		for (c = 1; c <= m; c++) {
			uint8_t *rec = NULL;
			size_t len = 0;
			struct paso_diag d2;

			snprintf(id, sizeof(id), "%u", p + 1);
			snprintf(name, sizeof(name), "%u_%u", p + 1, c);
			if ((r = finger_synth_record(ps, c, &noise, 1u << 1, &rec, &len)) != 0)
				return r;
			if ((r = add_rec(rs, 0, name, id, d)) != 0) {
				free(rec);
				return r;
			}
			memset(&d2, 0, sizeof(d2));
			r = finger_template_from_record(rec, len, &rs->r[rs->n - 1].t, &d2);
			sodium_memzero(rec, len);
			free(rec);
			if (r != 0)
				return paso_diag_set(d, r, "synthetic finger %s: %s", name, d2.msg);
		}
		sodium_memzero(ps, sizeof(ps));
	}
	return 0;
}

static int
push(struct ev_scores *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap < 1024 ? 1024 : s->cap * 2;
		double *p = realloc(s->v, cap * sizeof(*p));

		if (p == NULL)
			return PASO_E_NOMEM;
		s->v = p;
		s->cap = cap;
	}
	s->v[s->n++] = v;
	return 0;
}

/*
 * Genuine: every pair of one identity's records. Impostor: every pair of one set's records of
 * different identities (sets may share people, so no pair crosses sets). Raw score into
 * EV_FINGER, the policy's evidence (-log10 FMR, match_verify_views) into EV_FUSED.
 */
static int
compare_all(struct recs *rs, struct ev_result *res, FILE *scores)
{
	struct match_view va, vb;
	struct match_scores sc;
	size_t i, j;
	int r;

	memset(&va, 0, sizeof(va));
	memset(&vb, 0, sizeof(vb));
	for (i = 0; i < rs->n; i++) {
		for (j = i + 1; j < rs->n; j++) {
			const struct rec *a = &rs->r[i], *b = &rs->r[j];
			int gen;

			if (a->set != b->set)
				continue;
			gen = strcmp(a->id, b->id) == 0;
			va.finger = a->t;
			vb.finger = b->t;
			match_verify_views(&va, &vb, &sc);
			if (!(sc.modalities & MATCH_FINGER)) {
				if (gen) {
					res->mod[EV_FINGER].gen_missing++;
					res->mod[EV_FUSED].gen_missing++;
				}
				continue;
			}
			if ((r = push(gen ? &res->mod[EV_FINGER].gen : &res->mod[EV_FINGER].imp,
				     sc.finger)) != 0 ||
				(r = push(gen ? &res->mod[EV_FUSED].gen : &res->mod[EV_FUSED].imp,
					 sc.finger_ev)) != 0)
				return r;
			if (scores != NULL)
				fprintf(scores, "%d,%s,%s,%d,%.6f,%.4f\n", a->set, a->name, b->name,
					gen, sc.finger, sc.finger_ev);
		}
	}
	return 0;
}

/*
 * Rank-1 identification: in each set, each identity's first record (in name order) is enrolled
 * and every other record probes them all; a probe is a rank-1 hit when its mate scores strictly
 * highest. Probes whose identity has a single record have no mate and are left out.
 */
static void
rank_one(const struct recs *rs, struct ev_result *res)
{
	struct match_view va, vb;
	struct match_scores sc;
	size_t i, j;

	memset(&va, 0, sizeof(va));
	memset(&vb, 0, sizeof(vb));
	for (i = 0; i < rs->n; i++) {
		const struct rec *p = &rs->r[i];
		double mate = -1, other = -1;
		int enrolled_self = 1;

		/* is p the first record of its identity in its set? then it is enrolled */
		for (j = 0; j < i && enrolled_self; j++)
			enrolled_self =
				!(rs->r[j].set == p->set && strcmp(rs->r[j].id, p->id) == 0);
		if (enrolled_self)
			continue;
		for (j = 0; j < rs->n; j++) {
			const struct rec *e = &rs->r[j];
			size_t k;
			int first = 1;

			if (e->set != p->set)
				continue;
			for (k = 0; k < j && first; k++)
				first = !(
					rs->r[k].set == e->set && strcmp(rs->r[k].id, e->id) == 0);
			if (!first)
				continue;
			va.finger = e->t;
			vb.finger = p->t;
			match_verify_views(&va, &vb, &sc);
			if (strcmp(e->id, p->id) == 0)
				mate = sc.finger;
			else if (sc.finger > other)
				other = sc.finger;
		}
		res->mated++;
		res->rank1 += mate > other;
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paso eval --records DIR [--records DIR ...] [--ids FILE.csv] [--out DIR]\n"
		"                 [--json] [--scores FILE]\n"
		"Compares real finger minutiae records (ISO/IEC 19794-2:2005 or ANSI INCITS "
		"378-2004):\n"
		"genuine = every pair of one finger's records, impostor = every pair of different\n"
		"fingers within one set; rank-1 with each finger's first record enrolled. DIR holds\n"
		"FVC-named records FINGER_IMPRESSION.ext, or one\n"
		"subdirectory of them per set (impostor pairs never cross sets).\n"
		"  --ids FILE.csv  identities from 'file,identity' lines instead (paths relative to\n"
		"                  the one --records DIR)\n"
		"  --out DIR       also write DIR/det.csv and DIR/det.svg (DET curve)\n"
		"  --json          print the results as JSON instead of text\n"
		"  --scores FILE   write every comparison's scores as CSV (no template data)\n"
		"or:    paso eval --synthetic N [--impressions M] [--seed S] [--preset P] [...]\n"
		"The same report for N synthetic fingers (right index of N synthetic people) x M\n"
		"impressions (default 8, as FVC), capture noise of preset P (default good), so real\n"
		"and synthetic behaviour can be compared.\n");
}

int
eval_records_main(int argc, char **argv)
{
	const char *dirs[MAX_SETS], *ids = NULL, *out = NULL, *scores_path = NULL;
	struct ev_result res;
	struct recs rs;
	struct paso_diag d;
	struct timespec t0, t1;
	char csv[4096], svg[4096];
	FILE *scores = NULL;
	int n_dirs = 0, json = 0, i, k, r, ret = 2;
	unsigned long n_synth = 0, n_imp = 8;
	unsigned long long seed = 1;
	enum capture_preset preset = PRESET_GOOD;

	memset(&res, 0, sizeof(res));
	memset(&rs, 0, sizeof(rs));
	memset(&d, 0, sizeof(d));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			json = 1;
			continue;
		} else if (val == NULL || val[0] == '\0') {
			fprintf(stderr, "paso eval: %s needs a value\n", a);
			return 2;
		} else if (strcmp(a, "--records") == 0) {
			if (n_dirs == MAX_SETS) {
				fprintf(stderr, "paso eval: more than %d --records\n", MAX_SETS);
				return 2;
			}
			dirs[n_dirs++] = val;
		} else if (strcmp(a, "--ids") == 0) {
			ids = val;
		} else if (strcmp(a, "--synthetic") == 0 || strcmp(a, "--impressions") == 0 ||
			   strcmp(a, "--seed") == 0) {
			char *end;
			unsigned long long v;
			unsigned long long hi = strcmp(a, "--seed") == 0        ? UINT64_MAX
						: strcmp(a, "--synthetic") == 0 ? 100000
										: 100;

			errno = 0;
			v = strtoull(val, &end, 10);
			if (errno != 0 || *end != '\0' || val[0] == '-' || v > hi ||
				(v < 2 && strcmp(a, "--seed") != 0)) {
				fprintf(stderr,
					"paso eval: %s: '%s' is not a whole number in %s..%llu\n",
					a, val, strcmp(a, "--seed") == 0 ? "0" : "2", hi);
				return 2;
			}
			if (strcmp(a, "--synthetic") == 0)
				n_synth = (unsigned long)v;
			else if (strcmp(a, "--impressions") == 0)
				n_imp = (unsigned long)v;
			else
				seed = v;
		} else if (strcmp(a, "--preset") == 0) {
			if (capture_preset_parse(val, &preset) != 0) {
				fprintf(stderr,
					"paso eval: --preset: '%s' is not good, poor or detention\n",
					val);
				return 2;
			}
		} else if (strcmp(a, "--out") == 0) {
			out = val;
		} else if (strcmp(a, "--scores") == 0) {
			scores_path = val;
		} else {
			fprintf(stderr, "paso eval: unknown option '%s' with --records\n", a);
			return 2;
		}
		i++;
	}
	if ((n_dirs == 0) == (n_synth == 0)) {
		fprintf(stderr, "paso eval: give --records DIR or --synthetic N (not both)\n");
		return 2;
	}
	if (n_synth > 0 && (uint64_t)n_synth * n_imp > MAX_RECORDS) {
		fprintf(stderr,
			"paso eval: --synthetic %lu x --impressions %lu is more than %d records\n",
			n_synth, n_imp, MAX_RECORDS);
		return 2;
	}
	if (ids != NULL && n_dirs != 1) {
		fprintf(stderr, "paso eval: --ids goes with exactly one --records DIR\n");
		return 2;
	}
	ret = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (sodium_init() < 0) {
		fprintf(stderr, "paso eval: libsodium failed to initialise\n");
		goto out;
	}
	for (i = 0; i < n_dirs; i++) {
		r = ids != NULL ? add_csv_set(&rs, dirs[i], ids, &d)
				: add_records_dir(&rs, dirs[i], &d);
		if (r != 0)
			goto fail;
	}
	if (n_synth > 0 && (r = add_synthetic(&rs, (uint32_t)n_synth, (uint32_t)n_imp, seed,
				    preset == PRESET_POOR        ? &finger_noise_poor
				    : preset == PRESET_DETENTION ? &finger_noise_detention
								 : &finger_noise_good,
				    &d)) != 0)
		goto fail;
	if (rs.n < 2) {
		fprintf(stderr, "paso eval: --records: %zu records found, need at least 2\n", rs.n);
		goto out;
	}
	if ((r = load_templates(&rs, &d)) != 0)
		goto fail;
	if (out != NULL && mkdir(out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "paso eval: --out %s: %s\n", out, strerror(errno));
		goto out;
	}
	if (scores_path != NULL) {
		if ((scores = fopen(scores_path, "w")) == NULL) {
			fprintf(stderr, "paso eval: --scores %s: %s\n", scores_path,
				strerror(errno));
			goto out;
		}
		fprintf(scores, "set,a,b,genuine,score,evidence\n");
	}
	res.mod[EV_FINGER].name = "finger";
	res.mod[EV_FINGER].score = "finger_match score in [0, 1] (best finger position compared)";
	res.mod[EV_FACE].name = "face";
	res.mod[EV_FACE].score = "not in finger records";
	res.mod[EV_IRIS].name = "iris";
	res.mod[EV_IRIS].score = "not in finger records";
	res.mod[EV_FUSED].name = "evidence";
	res.mod[EV_FUSED].score =
		"-log10 FMR the policy reads (finger evidence, Fisher combination)";
	res.records = n_synth > 0 ? 2 : 1;
	res.n_records = rs.n;
	res.n_sets = (uint32_t)rs.n_sets;
	res.preset = n_synth > 0 ? capture_preset_name(preset) : "real records";
	res.seed = seed;
	if ((r = compare_all(&rs, &res, scores)) != 0)
		goto fail;
	rank_one(&rs, &res);
	if (scores != NULL) {
		if (fclose(scores) != 0) {
			scores = NULL;
			fprintf(stderr, "paso eval: --scores %s: write failed\n", scores_path);
			goto out;
		}
		scores = NULL;
	}
	eval_summarise(&res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	if (out != NULL) {
		if (eval_write_file(out, "det.csv", eval_write_csv, &res, csv, sizeof(csv)) != 0 ||
			eval_write_file(out, "det.svg", eval_write_svg, &res, svg, sizeof(svg)) !=
				0)
			goto out;
		res.csv_path = csv;
		res.svg_path = svg;
	}
	if ((json ? eval_write_json(stdout, &res) : eval_write_text(stdout, &res)) != 0 ||
		fflush(stdout) != 0) {
		fprintf(stderr, "paso eval: writing the report failed\n");
		goto out;
	}
	ret = 0;
	goto out;
fail:
	if (d.msg[0] != '\0')
		fprintf(stderr, "paso eval: %s (%s)\n", d.msg, paso_errname(r));
	else
		fprintf(stderr, "paso eval: %s (%s)\n", paso_strerror(r), paso_errname(r));
out:
	if (scores != NULL)
		fclose(scores);
	for (k = 0; k < EV_NMOD; k++) {
		free(res.mod[k].gen.v);
		free(res.mod[k].imp.v);
	}
	for (i = 0; (size_t)i < rs.n; i++)
		finger_template_free(rs.r[i].t);
	free(rs.r);
	for (i = 0; i < rs.n_sets; i++)
		free(rs.set_dir[i]);
	return ret;
}
