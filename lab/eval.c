/* SPDX-License-Identifier: Apache-2.0 */
/* `paso eval`: a synthetic population compared with itself, per modality and fused, on both cores.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sodium.h>

#include "capture.h"
#include "errors.h"
#include "eval.h"
#include "face.h"
#include "gallery.h"
#include "iris.h"
#include "lab.h"
#include "match.h"
#include "pgallery.h"
#include "population.h"

#define MAX_THREADS 16
#define EV_ROW 256

struct opts {
	uint32_t subjects, captures, gallery;
	uint64_t seed;
	enum capture_preset preset;
	const char *out;
	int json;
	unsigned threads;
	uint64_t max_impostors, finger_impostors;
	double fmr_1n;
	int hub_protect; /* --hub-protect: references and probes protected as the hub keeps them */
};

/* Everything the workers share; each worker writes only its own struct part. */
struct ctx {
	const struct opts *o;
	struct population *pop;
	struct bio_sample *s; /* subjects x captures, subject-major */
	struct match_template **t;
	struct pref **pr;        /* --hub-protect: the protected forms, instead of t */
	struct protect_key *key; /* --hub-protect: the one key of the system */
	uint32_t ns;             /* number of samples */
	uint64_t fast_pairs;     /* impostor pairs for face and iris */
	int fast_all;            /* 1: every cross-subject pair; 0: fast_pairs random pairs */
	uint64_t full_pairs;     /* impostor pairs compared in full (fingers, fused) */
	int err;                 /* first error of any worker */
};

struct part {
	struct ctx *c;
	unsigned id, nt;
	struct ev_scores gen[EV_NMOD], imp[EV_NMOD];
	size_t gen_missing[EV_NMOD];
	size_t eye_pairs, eye_over;
	int err;
};

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

static int
append(struct ev_scores *dst, const struct ev_scores *src)
{
	size_t i;
	int r;

	for (i = 0; i < src->n; i++)
		if ((r = push(dst, src->v[i])) != 0)
			return r;
	return 0;
}

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The i-th random impostor pair (two samples of different subjects); stream tells sets apart. */
static void
random_pair(const struct ctx *c, uint64_t stream, uint64_t i, uint32_t *x, uint32_t *y)
{
	uint32_t m = c->o->captures;
	uint64_t k = 0;

	do {
		uint64_t h = mix(mix(stream ^ c->o->seed) ^ (i * 0x100000001b3ull + k++));

		*x = (uint32_t)((h & 0xffffffffu) % c->ns);
		*y = (uint32_t)((h >> 32) % c->ns);
	} while (*x / m == *y / m);
}

static int
record_full(struct part *p, const struct match_scores *sc, int genuine)
{
	struct ev_scores *dst = genuine ? p->gen : p->imp;
	int r = 0;

	if (sc->modalities & MATCH_FINGER)
		r = push(&dst[EV_FINGER], sc->finger_ev);
	else if (genuine)
		p->gen_missing[EV_FINGER]++;
	if (r == 0 && genuine) {
		if (sc->modalities & MATCH_FACE)
			r = push(&dst[EV_FACE], sc->face);
		else
			p->gen_missing[EV_FACE]++;
	}
	if (r == 0 && genuine) {
		if (sc->modalities & MATCH_IRIS)
			r = push(&dst[EV_IRIS], sc->iris);
		else
			p->gen_missing[EV_IRIS]++;
	}
	if (r == 0) {
		if (sc->modalities != 0)
			r = push(&dst[EV_FUSED], sc->fused);
		else if (genuine)
			p->gen_missing[EV_FUSED]++;
	}
	return r;
}

/* Per-eye genuine distances for the "iris FNMR at HD 0.32" figure. */
static void
eye_check(struct part *p, const struct match_template *a, const struct match_template *b,
	struct iris_probe *pr)
{
	struct match_view va, vb;
	int e;

	match_template_view(a, &va);
	match_template_view(b, &vb);
	for (e = 0; e < 2; e++) {
		double hd;

		if (va.iris[e] == NULL || vb.iris[e] == NULL)
			continue;
		iris_probe_init(pr, vb.iris[e], vb.iris[e] + BIO_IRIS_BYTES);
		hd = iris_compare(pr, va.iris[e], va.iris[e] + BIO_IRIS_BYTES, NULL, NULL);
		if (hd < 0)
			continue;
		p->eye_pairs++;
		if (hd > 0.32)
			p->eye_over++;
	}
}

/* Face and iris of one impostor pair, x's irises already prepared in pr[]. */
static int
fast_pair(struct part *p, const struct match_view *vx, struct iris_probe *const pr[2],
	const struct match_view *vy)
{
	double hd_sum = 0;
	int e, n = 0, r = 0;

	if (vx->face_q != NULL && vy->face_q != NULL)
		r = push(&p->imp[EV_FACE], face_dot(vx->face_q, vy->face_q) *
						   (double)vx->face_inv_norm * vy->face_inv_norm);
	for (e = 0; e < 2 && r == 0; e++) {
		double hd;

		if (pr[e] == NULL || vy->iris[e] == NULL)
			continue;
		hd = iris_compare(pr[e], vy->iris[e], vy->iris[e] + BIO_IRIS_BYTES, NULL, NULL);
		if (hd >= 0) {
			hd_sum += hd;
			n++;
		}
	}
	if (r == 0 && n > 0)
		r = push(&p->imp[EV_IRIS], 1 - hd_sum / n);
	return r;
}

/* --hub-protect: face and iris of one impostor pair in the protected domain. */
static int
fast_pair_prot(struct part *p, const struct pref *x, const struct pref *y)
{
	struct match_scores sc;
	struct pref a, b;
	int r = 0;

	if (x->has_face && y->has_face)
		r = push(&p->imp[EV_FACE], face_cosine_q(&x->face, &y->face));
	if (r != 0)
		return r;
	/* the irises alone: shallow copies without face and finger forms */
	a = *x;
	b = *y;
	a.finger = b.finger = NULL;
	a.has_face = b.has_face = 0;
	(void)pref_compare(&a, &b, &sc);
	sodium_memzero(&a, sizeof(a));
	sodium_memzero(&b, sizeof(b));
	if (sc.modalities & MATCH_IRIS)
		r = push(&p->imp[EV_IRIS], sc.iris);
	return r;
}

static int
prepare_probe(const struct match_view *v, struct iris_probe *buf, struct iris_probe *pr[2])
{
	int e;

	for (e = 0; e < 2; e++) {
		pr[e] = NULL;
		if (v->iris[e] != NULL) {
			iris_probe_init(&buf[e], v->iris[e], v->iris[e] + BIO_IRIS_BYTES);
			pr[e] = &buf[e];
		}
	}
	return 0;
}

static void *
compare_worker(void *arg)
{
	struct part *p = arg;
	struct ctx *c = p->c;
	uint32_t m = c->o->captures, x, y, subj, i, j;
	struct iris_probe *buf = aligned_alloc(64, 2 * sizeof(*buf)), *pr[2];
	struct match_scores sc;
	struct match_view vx, vy;
	uint64_t k;
	int r = 0;

	if (buf == NULL) {
		p->err = PASO_E_NOMEM;
		return NULL;
	}
	if (c->pr != NULL) {
		/* --hub-protect: every comparison between protected forms, as the hub makes it */
		for (subj = p->id; subj < c->o->subjects && r == 0; subj += p->nt)
			for (i = 0; i < m && r == 0; i++)
				for (j = i + 1; j < m && r == 0; j++) {
					(void)pref_compare(
						c->pr[subj * m + i], c->pr[subj * m + j], &sc);
					r = record_full(p, &sc, 1);
				}
		for (k = p->id; k < c->full_pairs && r == 0; k += p->nt) {
			random_pair(c, 1, k, &x, &y);
			(void)pref_compare(c->pr[x], c->pr[y], &sc);
			r = record_full(p, &sc, 0);
		}
		for (k = p->id; k < c->fast_pairs && r == 0; k += p->nt) {
			random_pair(c, 2, k, &x, &y);
			r = fast_pair_prot(p, c->pr[x], c->pr[y]);
		}
		free(buf);
		p->err = r;
		return NULL;
	}
	/* genuine: every pair of one subject's captures */
	for (subj = p->id; subj < c->o->subjects && r == 0; subj += p->nt)
		for (i = 0; i < m && r == 0; i++)
			for (j = i + 1; j < m && r == 0; j++) {
				match_verify_tmpl(c->t[subj * m + i], c->t[subj * m + j], &sc);
				r = record_full(p, &sc, 1);
				eye_check(p, c->t[subj * m + i], c->t[subj * m + j], buf);
			}
	/* impostors compared in full: fingers and fusion */
	for (k = p->id; k < c->full_pairs && r == 0; k += p->nt) {
		random_pair(c, 1, k, &x, &y);
		match_verify_tmpl(c->t[x], c->t[y], &sc);
		r = record_full(p, &sc, 0);
	}
	/* impostors for face and iris: all cross-subject pairs, or a random sample of them */
	if (c->fast_all) {
		for (x = p->id; x < c->ns && r == 0; x += p->nt) {
			match_template_view(c->t[x], &vx);
			prepare_probe(&vx, buf, pr);
			for (y = (x / m + 1) * m; y < c->ns && r == 0; y++) {
				match_template_view(c->t[y], &vy);
				r = fast_pair(p, &vx, pr, &vy);
			}
		}
	} else {
		/* rows of EV_ROW consecutive samples against one random sample: one probe
		 * preparation serves a whole row */
		for (k = p->id; k * EV_ROW < c->fast_pairs && r == 0; k += p->nt) {
			uint32_t n;

			random_pair(c, 2, k, &x, &y);
			match_template_view(c->t[x], &vx);
			prepare_probe(&vx, buf, pr);
			for (n = 0; n < EV_ROW && r == 0; n++, y = (y + 1) % c->ns) {
				if (y / m == x / m)
					continue;
				match_template_view(c->t[y], &vy);
				r = fast_pair(p, &vx, pr, &vy);
			}
		}
	}
	sodium_memzero(buf, 2 * sizeof(*buf));
	free(buf);
	p->err = r;
	return NULL;
}

static void *
capture_worker(void *arg)
{
	struct part *p = arg;
	struct ctx *c = p->c;
	uint32_t i, m = c->o->captures;
	int r = 0;

	for (i = p->id; i < c->ns && r == 0; i += p->nt) {
		if ((r = capture_take(c->pop, i / m, i % m, c->o->preset, &c->s[i])) != 0)
			break;
		if (c->pr != NULL)
			r = pref_new(c->key, 1, &c->s[i], BIO_FINGER | BIO_FACE | BIO_IRIS,
				&c->pr[i], NULL);
		else
			r = match_template_new(&c->s[i], &c->t[i], NULL);
	}
	p->err = r;
	return NULL;
}

static int
run_parallel(struct part *parts, unsigned nt, void *(*fn)(void *))
{
	pthread_t tid[MAX_THREADS];
	unsigned t, started = 1;
	int r = 0;

	for (t = 1; t < nt; t++) {
		if (pthread_create(&tid[t], NULL, fn, &parts[t]) != 0)
			break;
		started = t + 1;
	}
	fn(&parts[0]);
	for (t = 1; t < started; t++)
		pthread_join(tid[t], NULL);
	for (t = started; t < nt; t++)
		fn(&parts[t]);
	for (t = 0; t < nt; t++)
		if (parts[t].err != 0 && r == 0)
			r = parts[t].err;
	return r;
}

static void
subject_id(uint32_t subject, uint8_t id[16])
{
	memset(id, 0, 16);
	memcpy(id, &subject, sizeof(subject));
}

/* --hub-protect: the same 1:N over protected references (pgallery), as the hub searches. */
static int
identify_prot(struct ctx *c, struct ev_result *res)
{
	struct pgallery *g = NULL;
	struct match_scores best;
	struct pref *r0 = NULL;
	uint32_t m = c->o->captures, i, mate;
	uint8_t id[16], bid[16];
	int r, found;

	if ((r = pgallery_new(&g)) != 0)
		return r;
	for (i = 0; i < c->o->gallery; i++) {
		if (pref_modalities(c->pr[i * m]) == 0)
			continue; /* nothing captured at all: cannot be enrolled */
		subject_id(i, id);
		if ((r = pref_new(c->key, 1, &c->s[i * m], BIO_FINGER | BIO_FACE | BIO_IRIS, &r0,
			     NULL)) != 0 ||
			(r = pgallery_put(g, id, r0, 0, NULL)) != 0)
			goto out;
	}
	for (i = 0; i < c->o->subjects; i++) {
		const struct pref *probe = c->pr[i * m + 1];

		if ((r = pgallery_identify(g, &probe, 1, c->o->fmr_1n, bid, &best, &found)) != 0)
			goto out;
		memcpy(&mate, bid, sizeof(mate));
		if (i < c->o->gallery) {
			res->mated++;
			if (best.modalities != 0 && mate == i)
				res->rank1++;
			if (found && mate == i)
				res->tpir_hits++;
		} else {
			res->nonmated++;
			if (found)
				res->fpir_hits++;
		}
	}
	r = 0;
out:
	pgallery_free(g);
	return r;
}

/* 1:N: the first `gallery` subjects' capture 0 enrolled; their capture 1 and the others probe. */
static int
identify(struct ctx *c, struct ev_result *res)
{
	struct gallery *g = NULL;
	struct gallery_hit hit;
	uint32_t m = c->o->captures, i, mate;
	uint8_t id[16];
	int r, found;

	if (c->o->gallery == 0 || m < 2)
		return 0;
	if (c->pr != NULL)
		return identify_prot(c, res);
	if ((r = gallery_new(c->o->threads, &g)) != 0)
		return r;
	for (i = 0; i < c->o->gallery; i++) {
		subject_id(i, id);
		r = gallery_add(g, id, &c->s[i * m]);
		if (r == PASO_E_INVALID_ARG)
			continue; /* nothing captured at all: cannot be enrolled */
		if (r != 0)
			goto out;
	}
	for (i = 0; i < c->o->subjects; i++) {
		const struct bio_sample *probe = &c->s[i * m + 1];

		if ((r = gallery_identify(g, probe, c->o->fmr_1n, &hit, &found)) != 0)
			goto out;
		memcpy(&mate, hit.id, sizeof(mate));
		if (i < c->o->gallery) {
			res->mated++;
			if (hit.scores.modalities != 0 && mate == i)
				res->rank1++;
			if (found && mate == i)
				res->tpir_hits++;
		} else {
			res->nonmated++;
			if (found)
				res->fpir_hits++;
		}
	}
	r = 0;
out:
	gallery_free(g);
	return r;
}

static int
evaluate(const struct opts *o, struct ev_result *res)
{
	struct ctx c;
	struct part parts[MAX_THREADS];
	uint64_t total;
	uint32_t i;
	unsigned t, k;
	int r;

	memset(&c, 0, sizeof(c));
	memset(parts, 0, sizeof(parts));
	c.o = o;
	c.ns = o->subjects * o->captures;
	if ((r = population_new(o->seed, o->subjects, &c.pop)) != 0)
		return r;
	c.s = calloc(c.ns, sizeof(*c.s));
	c.t = calloc(c.ns, sizeof(*c.t));
	if (c.s == NULL || c.t == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	if (o->hub_protect) {
		uint8_t key[PROTECT_KEY_BYTES];

		/* one key for the whole system, from the seed: reproducible */
		crypto_generichash(key, sizeof(key), (const uint8_t *)&o->seed, sizeof(o->seed),
			(const uint8_t *)"paso.eval.hub-protect", 21);
		r = protect_key_new(key, &c.key);
		sodium_memzero(key, sizeof(key));
		if (r != 0)
			goto out;
		if ((c.pr = calloc(c.ns, sizeof(*c.pr))) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
	}
	total = (uint64_t)c.ns * (c.ns - 1) / 2 -
		(uint64_t)o->subjects * o->captures * (o->captures - 1) / 2;
	c.fast_all = total <= o->max_impostors;
	c.fast_pairs = c.fast_all ? total : o->max_impostors;
	c.full_pairs = o->finger_impostors < total ? o->finger_impostors : total;
	for (t = 0; t < o->threads; t++) {
		parts[t].c = &c;
		parts[t].id = t;
		parts[t].nt = o->threads;
	}
	if ((r = run_parallel(parts, o->threads, capture_worker)) != 0)
		goto out;
	if ((r = run_parallel(parts, o->threads, compare_worker)) != 0)
		goto out;
	for (t = 0; t < o->threads; t++) {
		for (k = 0; k < EV_NMOD; k++) {
			if ((r = append(&res->mod[k].gen, &parts[t].gen[k])) != 0 ||
				(r = append(&res->mod[k].imp, &parts[t].imp[k])) != 0)
				goto out;
			res->mod[k].gen_missing += parts[t].gen_missing[k];
		}
		res->iris_eye_pairs += parts[t].eye_pairs;
		res->iris_eye_over_032 += parts[t].eye_over;
	}
	r = identify(&c, res);
out:
	for (t = 0; t < MAX_THREADS; t++)
		for (k = 0; k < EV_NMOD; k++) {
			free(parts[t].gen[k].v);
			free(parts[t].imp[k].v);
		}
	for (i = 0; c.t != NULL && i < c.ns; i++)
		match_template_free(c.t[i]);
	for (i = 0; c.pr != NULL && i < c.ns; i++)
		pref_free(c.pr[i]);
	free(c.pr);
	protect_key_free(c.key);
	for (i = 0; c.s != NULL && i < c.ns; i++)
		bio_sample_clear(&c.s[i]);
	free(c.t);
	free(c.s);
	population_free(c.pop);
	return r;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paso eval --subjects N --captures M --seed S [--preset "
		"good|poor|detention]\n"
		"                 [--out DIR] [--json] [--gallery G] [--fmr F] [--threads T]\n"
		"                 [--impostors K] [--finger-impostors K]\n"
		"Generates N synthetic people with M captures each and reports, per modality and "
		"fused,\n"
		"genuine and impostor score statistics, FNMR at FMR 1e-2..1e-6 with the impostor\n"
		"comparisons behind each figure, and 1:N identification over a gallery of G "
		"people.\n"
		"  --protect             protected templates, unprotected beside them "
		"(paso eval --protect --help)\n"
		"  --hub-protect         every reference and probe protected under one key and compared\n"
		"                        as a hub under a protection policy does (policies/protected.yaml)\n"
		"  --out DIR             also write DIR/det.csv and DIR/det.svg (DET curves)\n"
		"  --json                print the results as JSON instead of text\n"
		"  --gallery G           gallery size for 1:N (default N/2; 0 = skip; needs M >= "
		"2)\n"
		"  --fmr F               per-comparison FMR of the 1:N decision (default 1e-6)\n"
		"  --threads T           worker threads (default 2)\n"
		"  --impostors K         face/iris impostor pairs, at most (default 20000000)\n"
		"  --finger-impostors K  impostor pairs compared in full, fingers included "
		"(default 20000)\n");
}

int
eval_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (s == NULL) {
		fprintf(stderr, "paso eval: %s needs a value\n", opt);
		return PASO_E_USAGE;
	}
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "paso eval: %s: '%s' is not a whole number in %llu..%llu\n", opt, s,
			(unsigned long long)lo, (unsigned long long)hi);
		return PASO_E_USAGE;
	}
	*out = v;
	return 0;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	uint64_t v;
	int i, have_n = 0, have_m = 0, have_s = 0, have_g = 0;

	memset(o, 0, sizeof(*o));
	o->preset = PRESET_GOOD;
	o->threads = 2;
	o->max_impostors = 20000000;
	o->finger_impostors = 20000;
	o->fmr_1n = 1e-6;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(a, "--json") == 0) {
			o->json = 1;
			continue;
		} else if (strcmp(a, "--hub-protect") == 0) {
			o->hub_protect = 1;
			continue;
		} else if (strcmp(a, "--subjects") == 0) {
			if (eval_parse_u64(a, val, 2, 1000000, &v) != 0)
				return PASO_E_USAGE;
			o->subjects = (uint32_t)v;
			have_n = 1;
		} else if (strcmp(a, "--captures") == 0) {
			if (eval_parse_u64(a, val, 1, 100, &v) != 0)
				return PASO_E_USAGE;
			o->captures = (uint32_t)v;
			have_m = 1;
		} else if (strcmp(a, "--seed") == 0) {
			if (eval_parse_u64(a, val, 0, UINT64_MAX, &o->seed) != 0)
				return PASO_E_USAGE;
			have_s = 1;
		} else if (strcmp(a, "--gallery") == 0) {
			if (eval_parse_u64(a, val, 0, 1000000, &v) != 0)
				return PASO_E_USAGE;
			o->gallery = (uint32_t)v;
			have_g = 1;
		} else if (strcmp(a, "--threads") == 0) {
			if (eval_parse_u64(a, val, 1, MAX_THREADS, &v) != 0)
				return PASO_E_USAGE;
			o->threads = (unsigned)v;
		} else if (strcmp(a, "--impostors") == 0) {
			if (eval_parse_u64(a, val, 1, 1000000000, &o->max_impostors) != 0)
				return PASO_E_USAGE;
		} else if (strcmp(a, "--finger-impostors") == 0) {
			if (eval_parse_u64(a, val, 0, 100000000, &o->finger_impostors) != 0)
				return PASO_E_USAGE;
		} else if (strcmp(a, "--preset") == 0) {
			if (val == NULL || capture_preset_parse(val, &o->preset) != 0) {
				fprintf(stderr,
					"paso eval: --preset: '%s' is not good, poor or "
					"detention\n",
					val == NULL ? "" : val);
				return PASO_E_USAGE;
			}
		} else if (strcmp(a, "--out") == 0) {
			if (val == NULL || val[0] == '\0') {
				fprintf(stderr, "paso eval: --out needs a directory\n");
				return PASO_E_USAGE;
			}
			o->out = val;
		} else if (strcmp(a, "--fmr") == 0) {
			char *end;

			errno = 0;
			o->fmr_1n = val == NULL ? 0 : strtod(val, &end);
			if (val == NULL || errno != 0 || end == val || *end != '\0' ||
				!(o->fmr_1n > 0 && o->fmr_1n < 1)) {
				fprintf(stderr, "paso eval: --fmr: '%s' is not a rate in (0, 1)\n",
					val == NULL ? "" : val);
				return PASO_E_USAGE;
			}
		} else {
			fprintf(stderr, "paso eval: unknown option '%s'\n", a);
			return PASO_E_USAGE;
		}
		i++;
	}
	if (!have_n || !have_m || !have_s) {
		fprintf(stderr, "paso eval: --subjects, --captures and --seed are required\n");
		return PASO_E_USAGE;
	}
	if ((uint64_t)o->subjects * o->captures > 2000000) {
		fprintf(stderr,
			"paso eval: %u subjects x %u captures is more than 2000000 captures\n",
			o->subjects, o->captures);
		return PASO_E_USAGE;
	}
	if (!have_g)
		o->gallery = o->captures >= 2 ? o->subjects / 2 : 0;
	if (o->gallery > o->subjects) {
		fprintf(stderr, "paso eval: --gallery %u is larger than --subjects %u\n",
			o->gallery, o->subjects);
		return PASO_E_USAGE;
	}
	if (o->gallery > 0 && o->captures < 2) {
		fprintf(stderr,
			"paso eval: --gallery needs --captures 2 or more (probe = capture 1)\n");
		return PASO_E_USAGE;
	}
	return 0;
}

int
eval_write_file(const char *dir, const char *name, int (*fn)(FILE *, const struct ev_result *),
	const struct ev_result *res, char *path, size_t pathlen)
{
	FILE *f;
	int n, bad;

	n = snprintf(path, pathlen, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= pathlen) {
		fprintf(stderr, "paso eval: --out: path too long: '%s'\n", dir);
		return -1;
	}
	if ((f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "paso eval: %s: %s\n", path, strerror(errno));
		return -1;
	}
	bad = fn(f, res) != 0;
	if (fclose(f) != 0 || bad) {
		fprintf(stderr, "paso eval: %s: write failed\n", path);
		return -1;
	}
	return 0;
}

int
eval_main(int argc, char **argv)
{
	static const char *names[EV_NMOD] = {"finger", "face", "iris", "fused"};
	static const char *scores[EV_NMOD] = {
		"-log10 FMR of all fingers compared (Fisher combination of per-finger calibration)",
		"cosine similarity of int8 embeddings",
		"1 - normalised Hamming distance, best of 7 shifts, mean of the eyes compared",
		"-log10 FMR of all modalities (Fisher combination)",
	};
	struct ev_result res;
	struct opts o;
	struct timespec t0, t1;
	char csv[4096], svg[4096];
	int r, k, ret = 1;

	memset(&res, 0, sizeof(res));
	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--records") == 0 || strcmp(argv[k], "--synthetic") == 0)
			return eval_records_main(argc, argv);
		if (strcmp(argv[k], "--protect") == 0)
			return eval_protect_main(argc, argv);
	}
	if ((r = parse_args(argc, argv, &o)) != 0)
		return r == 1 ? 0 : 2;
	if (sodium_init() < 0) {
		fprintf(stderr, "paso eval: libsodium failed to initialise\n");
		return 1;
	}
	if (o.out != NULL && mkdir(o.out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "paso eval: --out %s: %s\n", o.out, strerror(errno));
		return 1;
	}
	for (k = 0; k < EV_NMOD; k++) {
		res.mod[k].name = names[k];
		res.mod[k].score = scores[k];
	}
	res.subjects = o.subjects;
	res.captures = o.captures;
	res.gallery = o.gallery;
	res.seed = o.seed;
	res.preset = capture_preset_name(o.preset);
	res.fmr_1n = o.fmr_1n;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = evaluate(&o, &res)) != 0) {
		fprintf(stderr, "paso eval: %s (%s)\n", paso_strerror(r), paso_errname(r));
		goto out;
	}
	eval_summarise(&res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	if (o.out != NULL) {
		if (eval_write_file(o.out, "det.csv", eval_write_csv, &res, csv, sizeof(csv)) !=
				0 ||
			eval_write_file(o.out, "det.svg", eval_write_svg, &res, svg, sizeof(svg)) !=
				0)
			goto out;
		res.csv_path = csv;
		res.svg_path = svg;
	}
	if ((o.json ? eval_write_json(stdout, &res) : eval_write_text(stdout, &res)) != 0 ||
		fflush(stdout) != 0) {
		fprintf(stderr, "paso eval: writing the report failed\n");
		goto out;
	}
	ret = 0;
out:
	for (k = 0; k < EV_NMOD; k++) {
		free(res.mod[k].gen.v);
		free(res.mod[k].imp.v);
	}
	return ret;
}
