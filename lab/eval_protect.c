/* SPDX-License-Identifier: Apache-2.0 */
/* `paso eval --protect`: accuracy, unlinkability and irreversibility of protected templates. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "capture.h"
#include "errors.h"
#include "eval.h"
#include "face.h"
#include "finger_match.h"
#include "iris.h"
#include "lab.h"
#include "population.h"
#include "protect.h"
#include "protect_metrics.h"

/*
 * Three systems on the same captures (docs/biometrics.md "Template protection"):
 *   raw     unprotected templates, the matchers of match.c;
 *   own     each person's references under their own key; an impostor presents their own
 *           biometrics under their own key (PolyProtect's "normal" scenario);
 *   stolen  every template under one key, the attacker holds it: the "stolen key" scenario,
 *           which is also how a deployment with one key per system runs.
 * Unlinkability (Gomez-Barrero et al. 2018): every person has two keys; mated = one person's
 * two captures, one under each of their keys; non-mated = two people's captures, each under
 * that person's first and second key respectively. So the figure averages over key pairs, as
 * between two deployments whose keys were drawn independently.
 */
enum { SYS_RAW, SYS_OWN, SYS_STOLEN, SYS_N };
enum { M_FACE, M_IRIS, M_FINGER, M_N };

struct opts {
	uint32_t subjects, captures, attacks;
	uint64_t seed, impostors, finger_impostors;
	enum capture_preset preset;
	int json;
};

struct scores {
	double *v;
	size_t n, cap;
};

struct modres {
	const char *name, *scheme;
	struct scores gen[SYS_N], imp[SYS_N];
	struct scores mated_raw, nonmated_raw, mated, nonmated;
	double eer[SYS_N], fnmr[SYS_N][5], thr[SYS_N][5];
	int enough[SYS_N][5];
	double dsys_raw, dsys;
	/* the attack: reconstructions tried, mean closeness and how many matched */
	size_t att_n, att_match_raw, att_match_other;
	double att_close, att_close_chance;
	const char *att_what;
};

struct ctx {
	const struct opts *o;
	struct bio_sample *s;
	uint32_t ns;
	/* system keys A and B; each person's own first and second key */
	struct protect_key *ka, *kb, **kown, **kown2;
	/* face under A, B, own, own second */
	float (*fa)[PROTECT_FACE_DIM], (*fb)[PROTECT_FACE_DIM], (*fo)[PROTECT_FACE_DIM],
		(*fo2)[PROTECT_FACE_DIM];
	/* iris: [sample][eye slot], under A, own, own second */
	struct protect_iris (*ia)[2], (*io)[2], (*io2)[2];
	/* finger: raw, and under A, own, own second */
	struct finger_template **ft;
	struct protect_finger *pa, *po, *po2;
	struct modres m[M_N];
};

static const double levels[5] = {1e-2, 1e-3, 1e-4, 1e-5, 1e-6};

static int
push(struct scores *s, double v)
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

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void
derive_key(uint64_t seed, const char *label, uint32_t i, uint8_t key[PROTECT_KEY_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, PROTECT_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, (const uint8_t *)&seed, sizeof(seed));
	crypto_generichash_update(&st, (const uint8_t *)&i, sizeof(i));
	crypto_generichash_final(&st, key, PROTECT_KEY_BYTES);
}

/* i-th random pair of samples of two different people */
static void
random_pair(const struct ctx *c, uint64_t i, uint32_t *x, uint32_t *y)
{
	uint32_t m = c->o->captures;
	uint64_t k = 0;

	do {
		uint64_t h = mix(mix(c->o->seed ^ 0x5050u) ^ (i * 0x100000001b3ull + k++));

		*x = (uint32_t)((h & 0xffffffffu) % c->ns);
		*y = (uint32_t)((h >> 32) % c->ns);
	} while (*x / m == *y / m);
}

/* ---- per-modality scores (higher = more similar; NAN = not compared) ---- */

static double
face_raw(const struct ctx *c, uint32_t x, uint32_t y)
{
	if (!c->s[x].has_face || !c->s[y].has_face)
		return NAN;
	return face_cosine_f(c->s[x].face, c->s[y].face);
}

static double
face_prot(const struct ctx *c, float (*px)[PROTECT_FACE_DIM], uint32_t x,
	float (*py)[PROTECT_FACE_DIM], uint32_t y)
{
	if (!c->s[x].has_face || !c->s[y].has_face)
		return NAN;
	return protect_face_compare(px[x], py[y]);
}

static const struct bio_iris *
eye_of(const struct bio_sample *s, int eye)
{
	int i;

	for (i = 0; i < s->n_iris; i++)
		if (s->iris[i].eye == eye)
			return &s->iris[i];
	return NULL;
}

static double
iris_raw(const struct ctx *c, uint32_t x, uint32_t y, struct iris_probe *pr)
{
	double sum = 0;
	int e, n = 0;

	for (e = BIO_EYE_RIGHT; e <= BIO_EYE_LEFT; e++) {
		const struct bio_iris *a = eye_of(&c->s[x], e), *b = eye_of(&c->s[y], e);
		double hd;

		if (a == NULL || b == NULL)
			continue;
		iris_probe_init(pr, b->code, b->mask);
		if ((hd = iris_compare(pr, a->code, a->mask, NULL, NULL)) < 0)
			continue;
		sum += hd;
		n++;
	}
	return n > 0 ? 1 - sum / n : NAN;
}

static double
iris_prot(const struct protect_iris (*px)[2], uint32_t x, const struct protect_iris (*py)[2],
	uint32_t y)
{
	double sum = 0;
	int e, n = 0;

	for (e = 0; e < 2; e++) {
		double ds;

		if (px[x][e].eye == 0 || py[y][e].eye == 0)
			continue;
		if ((ds = protect_iris_compare(&px[x][e], &py[y][e])) < 0)
			continue;
		sum += ds;
		n++;
	}
	return n > 0 ? 1 - sum / n : NAN;
}

/* Finger scores of every position present in both samples, pushed to dst. */
static int
finger_raw_push(const struct ctx *c, uint32_t x, uint32_t y, struct scores *dst)
{
	const struct finger_template *a = c->ft[x], *b = c->ft[y];
	int i, j, r;

	if (a == NULL || b == NULL)
		return 0;
	for (i = 0; i < finger_template_n_views(a); i++)
		for (j = 0; j < finger_template_n_views(b); j++)
			if (finger_template_view_pos(a, i) != 0 &&
				finger_template_view_pos(a, i) == finger_template_view_pos(b, j) &&
				(r = push(dst, finger_match_views(a, i, b, j))) != 0)
				return r;
	return 0;
}

static int
finger_prot_push(const struct protect_finger *a, const struct protect_finger *b, struct scores *dst)
{
	int i, j, r;

	for (i = 0; i < a->n_views; i++)
		for (j = 0; j < b->n_views; j++)
			if (a->v[i].pos != 0 && a->v[i].pos == b->v[j].pos &&
				(r = push(dst, protect_finger_compare(&a->v[i], &b->v[j]))) != 0)
				return r;
	return 0;
}

/* ---- preparation ---- */

static int
prepare(struct ctx *c, struct population *pop)
{
	uint8_t key[PROTECT_KEY_BYTES];
	uint32_t i, m = c->o->captures;
	int r = 0, e;

	derive_key(c->o->seed, "paso.eval.system.A", 0, key);
	if ((r = protect_key_new(key, &c->ka)) != 0)
		goto out;
	derive_key(c->o->seed, "paso.eval.system.B", 0, key);
	if ((r = protect_key_new(key, &c->kb)) != 0)
		goto out;
	for (i = 0; i < c->o->subjects; i++) {
		derive_key(c->o->seed, "paso.eval.own", i, key);
		if ((r = protect_key_new(key, &c->kown[i])) != 0)
			goto out;
		derive_key(c->o->seed, "paso.eval.own2", i, key);
		if ((r = protect_key_new(key, &c->kown2[i])) != 0)
			goto out;
	}
	for (i = 0; i < c->ns; i++) {
		struct bio_sample *s = &c->s[i];
		const struct protect_key *ko = c->kown[i / m], *ko2 = c->kown2[i / m];

		if ((r = capture_take(pop, i / m, i % m, c->o->preset, s)) != 0)
			goto out;
		if (s->has_face && ((r = protect_face(c->ka, s->face, c->fa[i])) != 0 ||
					   (r = protect_face(c->kb, s->face, c->fb[i])) != 0 ||
					   (r = protect_face(ko, s->face, c->fo[i])) != 0 ||
					   (r = protect_face(ko2, s->face, c->fo2[i])) != 0))
			goto out;
		for (e = BIO_EYE_RIGHT; e <= BIO_EYE_LEFT; e++) {
			const struct bio_iris *ir = eye_of(s, e);

			if (ir == NULL)
				continue;
			if ((r = protect_iris(c->ka, ir, &c->ia[i][e - 1])) != 0 ||
				(r = protect_iris(ko2, ir, &c->io2[i][e - 1])) != 0 ||
				(r = protect_iris(ko, ir, &c->io[i][e - 1])) != 0)
				goto out;
		}
		if (s->finger_record != NULL) {
			if ((r = finger_template_from_record(
				     s->finger_record, s->finger_len, &c->ft[i], NULL)) != 0)
				goto out;
			protect_finger_tmpl(c->ka, c->ft[i], &c->pa[i]);
			protect_finger_tmpl(ko, c->ft[i], &c->po[i]);
			protect_finger_tmpl(ko2, c->ft[i], &c->po2[i]);
		}
	}
out:
	sodium_memzero(key, sizeof(key));
	return r;
}

/* ---- comparisons ---- */

static int
push_ok(struct scores *s, double v)
{
	return isnan(v) ? 0 : push(s, v);
}

static int
compare_all(struct ctx *c)
{
	struct iris_probe *pr = aligned_alloc(64, sizeof(*pr));
	uint32_t m = c->o->captures, subj, i, j, x, y;
	uint64_t k, total;
	int r = 0;

	if (pr == NULL)
		return PASO_E_NOMEM;
	/* genuine and mated: every pair of one person's captures */
	for (subj = 0; subj < c->o->subjects && r == 0; subj++)
		for (i = 0; i < m && r == 0; i++)
			for (j = 0; j < m && r == 0; j++) {
				struct modres *f = &c->m[M_FACE], *ir = &c->m[M_IRIS],
					      *fi = &c->m[M_FINGER];

				x = subj * m + i;
				y = subj * m + j;
				if (i == j)
					continue;
				/* mated across the person's two keys, both orders */
				r = push_ok(&f->mated, face_prot(c, c->fo, x, c->fo2, y));
				if (r == 0)
					r = push_ok(&ir->mated, iris_prot(c->io, x, c->io2, y));
				if (r == 0)
					r = finger_prot_push(&c->po[x], &c->po2[y], &fi->mated);
				if (r != 0 || j < i)
					continue;
				r = push_ok(&f->gen[SYS_RAW], face_raw(c, x, y));
				if (r == 0)
					r = push_ok(
						&f->gen[SYS_OWN], face_prot(c, c->fo, x, c->fo, y));
				if (r == 0)
					r = push_ok(&f->gen[SYS_STOLEN],
						face_prot(c, c->fa, x, c->fa, y));
				if (r == 0)
					r = push_ok(&ir->gen[SYS_RAW], iris_raw(c, x, y, pr));
				if (r == 0)
					r = push_ok(
						&ir->gen[SYS_OWN], iris_prot(c->io, x, c->io, y));
				if (r == 0)
					r = push_ok(&ir->gen[SYS_STOLEN],
						iris_prot(c->ia, x, c->ia, y));
				if (r == 0)
					r = finger_raw_push(c, x, y, &fi->gen[SYS_RAW]);
				if (r == 0)
					r = finger_prot_push(
						&c->po[x], &c->po[y], &fi->gen[SYS_OWN]);
				if (r == 0)
					r = finger_prot_push(
						&c->pa[x], &c->pa[y], &fi->gen[SYS_STOLEN]);
				/* the raw linkage baseline: the same pairs unprotected */
				if (r == 0)
					r = push_ok(&f->mated_raw, face_raw(c, x, y));
				if (r == 0)
					r = push_ok(&ir->mated_raw, iris_raw(c, x, y, pr));
			}
	/* impostors: x's reference; y presents under their own key (own) or under x's (stolen) */
	total = (uint64_t)c->ns * (c->ns - 1) / 2 - (uint64_t)c->o->subjects * m * (m - 1) / 2;
	if (total > c->o->impostors)
		total = c->o->impostors;
	for (k = 0; k < total && r == 0; k++) {
		struct modres *f = &c->m[M_FACE], *ir = &c->m[M_IRIS], *fi = &c->m[M_FINGER];

		random_pair(c, k, &x, &y);
		r = push_ok(&f->imp[SYS_RAW], face_raw(c, x, y));
		if (r == 0)
			r = push_ok(&f->imp[SYS_OWN], face_prot(c, c->fo, x, c->fo, y));
		if (r == 0)
			r = push_ok(&f->imp[SYS_STOLEN], face_prot(c, c->fa, x, c->fa, y));
		if (r == 0)
			r = push_ok(&f->nonmated, face_prot(c, c->fo, x, c->fo2, y));
		if (r == 0)
			r = push_ok(&ir->imp[SYS_OWN], iris_prot(c->io, x, c->io, y));
		if (r == 0)
			r = push_ok(&ir->imp[SYS_STOLEN], iris_prot(c->ia, x, c->ia, y));
		if (r == 0)
			r = push_ok(&ir->nonmated, iris_prot(c->io, x, c->io2, y));
		if (r == 0 &&
			k < c->o->impostors / 4) /* the raw iris matcher shifts: 7x the work */
			r = push_ok(&ir->imp[SYS_RAW], iris_raw(c, x, y, pr));
		if (r == 0 && k < 200000) {
			r = push_ok(&f->nonmated_raw, face_raw(c, x, y));
			if (r == 0)
				r = push_ok(&ir->nonmated_raw, iris_raw(c, x, y, pr));
		}
		if (r == 0 && k < c->o->finger_impostors) {
			r = finger_raw_push(c, x, y, &fi->imp[SYS_RAW]);
			if (r == 0)
				r = finger_prot_push(&c->po[x], &c->po[y], &fi->imp[SYS_OWN]);
			if (r == 0)
				r = finger_prot_push(&c->pa[x], &c->pa[y], &fi->imp[SYS_STOLEN]);
			if (r == 0)
				r = finger_prot_push(&c->po[x], &c->po2[y], &fi->nonmated);
		}
	}
	/* finger linkage baseline: raw scores of the mated pairs and of some non-mated ones */
	for (subj = 0; subj < c->o->subjects && r == 0; subj++)
		for (i = 0; i + 1 < m && r == 0; i++)
			r = finger_raw_push(
				c, subj * m + i, subj * m + i + 1, &c->m[M_FINGER].mated_raw);
	for (k = 0; k < c->o->finger_impostors / 4 && r == 0; k++) {
		random_pair(c, k, &x, &y);
		r = finger_raw_push(c, x, y, &c->m[M_FINGER].nonmated_raw);
	}
	sodium_memzero(pr, sizeof(*pr));
	free(pr);
	return r;
}

/* ---- the attacks: reconstruction by someone holding the key and a protected reference ---- */

/*
 * Face: gradient descent (Adam) on |f(x) - P|^2 over x, the embedding before the polynomial,
 * from a random start; the best of a few restarts. The reconstruction is then presented to the
 * unprotected matcher against another capture of the person, and, protected under key B,
 * against the person's reference in system B.
 */
static void
face_invert(const struct protect_key *k, const float p[PROTECT_FACE_DIM], uint64_t seed,
	float out[BIO_FACE_DIM])
{
	int c[PROTECT_FACE_M], e[PROTECT_FACE_M], it, i, j, rs;
	double x[BIO_FACE_DIM], g[BIO_FACE_DIM], m1[BIO_FACE_DIM], m2[BIO_FACE_DIM];
	double best = INFINITY;
	uint16_t perm[BIO_FACE_DIM];

	protect_face_params(k, c, e, perm);
	for (rs = 0; rs < 4; rs++) {
		double loss = 0;

		for (i = 0; i < BIO_FACE_DIM; i++) {
			uint64_t h = mix(seed ^ mix((uint64_t)rs << 32 | (uint64_t)i));

			x[i] = ((double)(h >> 11) * 0x1.0p-53 - 0.5) * 0.1;
			m1[i] = m2[i] = 0;
		}
		for (it = 1; it <= 1500; it++) {
			double lr = 0.002, b1 = 0.9, b2 = 0.999;

			memset(g, 0, sizeof(g));
			loss = 0;
			for (j = 0; j < PROTECT_FACE_DIM; j++) {
				const double *w = x + j * (PROTECT_FACE_M - PROTECT_FACE_OVERLAP);
				double f = 0, d;

				for (i = 0; i < PROTECT_FACE_M; i++)
					f += c[i] * pow(w[i], e[i]);
				d = f - p[j];
				loss += d * d;
				for (i = 0; i < PROTECT_FACE_M; i++)
					g[j * (PROTECT_FACE_M - PROTECT_FACE_OVERLAP) + i] +=
						2 * d * c[i] * e[i] * pow(w[i], e[i] - 1);
			}
			for (i = 0; i < BIO_FACE_DIM; i++) {
				m1[i] = b1 * m1[i] + (1 - b1) * g[i];
				m2[i] = b2 * m2[i] + (1 - b2) * g[i] * g[i];
				x[i] -= lr * (m1[i] / (1 - pow(b1, it))) /
					(sqrt(m2[i] / (1 - pow(b2, it))) + 1e-9);
			}
		}
		if (loss < best) {
			best = loss;
			for (i = 0; i < BIO_FACE_DIM; i++)
				out[perm[i]] = (float)x[i]; /* undo the element permutation */
		}
	}
}

/* Iris: the key undoes the permutation, giving each block's set of words; their order inside
 * the block is gone, so the words are laid out in increasing order, repeated to fill it. */
static void
iris_invert(const struct protect_key *k, const struct protect_iris *p, struct bio_iris *out)
{
	int blk, band, q, t, w, inv[256];

	memset(out, 0, sizeof(*out));
	out->eye = p->eye;
	for (blk = 0; blk < PROTECT_IRIS_BLOCKS; blk++) {
		int words[256], n = 0;

		for (w = 0; w < 256; w++)
			inv[protect_iris_index(k, blk, (unsigned)w)] = w;
		for (w = 0; w < 256; w++)
			if (p->bf[blk][w >> 3] & (1u << (w & 7)))
				words[n++] = inv[w];
		if (n == 0)
			continue;
		/* sort */
		for (w = 1; w < n; w++) {
			int v = words[w];

			for (q = w; q > 0 && words[q - 1] > v; q--)
				words[q] = words[q - 1];
			words[q] = v;
		}
		band = blk / (128 / PROTECT_IRIS_W);
		for (t = 0; t < PROTECT_IRIS_W; t++) {
			int col = (blk % (128 / PROTECT_IRIS_W)) * PROTECT_IRIS_W + t;
			int word = words[t % n];

			for (q = 0; q < 8; q++) {
				int row = band * 4 + q / 2, bit = 2 * col + (q & 1);

				if (word >> q & 1)
					out->code[row * IRIS_ROW_BYTES + bit / 8] |=
						(uint8_t)(1u << (bit % 8));
				out->mask[row * IRIS_ROW_BYTES + bit / 8] |=
					(uint8_t)(1u << (bit % 8));
			}
		}
	}
}

static double thr_at(struct scores *imp, double fmr);

static int
attacks(struct ctx *c)
{
	struct iris_probe *pr = aligned_alloc(64, sizeof(*pr));
	uint32_t m = c->o->captures, subj;
	struct modres *f = &c->m[M_FACE], *ir = &c->m[M_IRIS], *fi = &c->m[M_FINGER];
	double t_face_raw = thr_at(&f->imp[SYS_RAW], 1e-3),
	       t_face_b = thr_at(&f->imp[SYS_STOLEN], 1e-3);
	double t_iris_raw = thr_at(&ir->imp[SYS_RAW], 1e-3);
	float rec[BIO_FACE_DIM], pb[PROTECT_FACE_DIM];
	struct bio_iris irec;
	uint64_t rows[PROTECT_FINGER_BITS][6];
	int rr;

	if (pr == NULL)
		return PASO_E_NOMEM;
	for (rr = 0; rr < PROTECT_FINGER_BITS; rr++)
		protect_finger_row(c->ka, rr, rows[rr]);
	f->att_what = "cosine of the reconstruction with the embedding";
	ir->att_what = "1 - HD of the reconstruction with the same capture";
	fi->att_what = "bit agreement of back-projected cylinders with the true ones";
	for (subj = 0; subj < c->o->subjects && subj < c->o->attacks; subj++) {
		uint32_t x = subj * m, y = subj * m + 1;
		int e;

		/* face */
		if (c->s[x].has_face && c->s[y].has_face) {
			face_invert(c->ka, c->fa[x], c->o->seed ^ subj, rec);
			f->att_n++;
			f->att_close += face_cosine_f(rec, c->s[x].face);
			if (face_cosine_f(rec, c->s[y].face) >= t_face_raw)
				f->att_match_raw++;
			if (protect_face(c->kb, rec, pb) == 0 &&
				protect_face_compare(pb, c->fb[y]) >= t_face_b)
				f->att_match_other++;
		}
		/* iris: the reconstruction presented to the raw matcher, against capture y */
		{
			double sum_x = 0, sum_y = 0;
			int nx = 0, ny = 0;

			for (e = 0; e < 2; e++) {
				const struct bio_iris *a = eye_of(&c->s[x], e + 1),
						      *b = eye_of(&c->s[y], e + 1);
				double hd;

				if (a == NULL || c->ia[x][e].eye == 0)
					continue;
				iris_invert(c->ka, &c->ia[x][e], &irec);
				iris_probe_init(pr, irec.code, irec.mask);
				if ((hd = iris_compare(pr, a->code, a->mask, NULL, NULL)) >= 0) {
					sum_x += hd;
					nx++;
				}
				if (b != NULL && (hd = iris_compare(
							  pr, b->code, b->mask, NULL, NULL)) >= 0) {
					sum_y += hd;
					ny++;
				}
			}
			if (nx > 0) {
				ir->att_n++;
				ir->att_close += 1 - sum_x / nx;
				if (ny > 0 && 1 - sum_y / ny >= t_iris_raw)
					ir->att_match_raw++;
			}
		}
		/* finger: back-project each protected cylinder with the key's rows */
		if (c->ft[x] != NULL) {
			const struct finger_template *t = c->ft[x];
			uint64_t val[FINGER_CYL_WORDS], msk[FINGER_CYL_WORDS];
			int v, mi, n, bit;

			for (v = 0; v < finger_template_n_views(t) && v < c->pa[x].n_views; v++)
				for (mi = 0, n = 0; mi < finger_template_view_minutiae(t, v);
					mi++) {
					size_t agree = 0, valid = 0;
					const uint64_t *pc;

					if (finger_template_cylinder(t, v, mi, val, msk) != 1)
						continue;
					if (n >= c->pa[x].v[v].n)
						break;
					pc = c->pa[x].v[v].c[n++];
					for (bit = 0; bit < 64 * FINGER_CYL_WORDS; bit++) {
						int s = 0;

						if (!(msk[bit / 64] >> (bit % 64) & 1))
							continue;
						for (rr = 0; rr < PROTECT_FINGER_BITS; rr++) {
							int sign =
								(rows[rr][bit / 64] >> (bit % 64) &
									1)
									? 1
									: -1;

							s += (pc[rr / 64] >> (rr % 64) & 1) ? sign
											    : -sign;
						}
						valid++;
						agree += (s > 0) ==
							 ((val[bit / 64] >> (bit % 64) & 1) != 0);
					}
					if (valid > 0) {
						fi->att_n++;
						fi->att_close += (double)agree / (double)valid;
					}
				}
		}
	}
	if (f->att_n)
		f->att_close /= (double)f->att_n;
	if (ir->att_n)
		ir->att_close /= (double)ir->att_n;
	if (fi->att_n)
		fi->att_close /= (double)fi->att_n;
	sodium_memzero(rec, sizeof(rec));
	sodium_memzero(&irec, sizeof(irec));
	free(pr);
	return 0;
}

/* ---- summary and report ---- */

static double
thr_at(struct scores *imp, double fmr)
{
	protect_metrics_sort(imp->v, imp->n);
	return protect_metrics_threshold(NULL, 0, imp->v, imp->n, fmr, NULL);
}

static void
summarise(struct modres *m)
{
	int s, j;

	for (s = 0; s < SYS_N; s++) {
		protect_metrics_sort(m->gen[s].v, m->gen[s].n);
		protect_metrics_sort(m->imp[s].v, m->imp[s].n);
		m->eer[s] = protect_metrics_eer(m->gen[s].v, m->gen[s].n, m->imp[s].v, m->imp[s].n);
		for (j = 0; j < 5; j++) {
			m->thr[s][j] = protect_metrics_threshold(m->gen[s].v, m->gen[s].n,
				m->imp[s].v, m->imp[s].n, levels[j], &m->fnmr[s][j]);
			m->enough[s][j] = levels[j] * (double)m->imp[s].n >= EV_MIN_TAIL;
		}
	}
	m->dsys_raw = protect_metrics_dsys(m->mated_raw.v, m->mated_raw.n, m->nonmated_raw.v,
		m->nonmated_raw.n, PROTECT_DSYS_BINS);
	m->dsys = protect_metrics_dsys(
		m->mated.v, m->mated.n, m->nonmated.v, m->nonmated.n, PROTECT_DSYS_BINS);
}

static void
print_text(FILE *f, const struct ctx *c, double seconds)
{
	static const char *sysname[SYS_N] = {"unprotected", "own key", "stolen key"};
	int k, s, j;

	fprintf(f,
		"paso eval --protect: %u subjects x %u captures, preset %s, seed %llu (%.1f s)\n",
		c->o->subjects, c->o->captures, capture_preset_name(c->o->preset),
		(unsigned long long)c->o->seed, seconds);
	for (k = 0; k < M_N; k++) {
		const struct modres *m = &c->m[k];

		fprintf(f, "\n%s (%s)\n", m->name, m->scheme);
		fprintf(f, "  %-12s %8s %8s %9s  %-9s %-9s %-9s %-9s %-9s\n", "system", "genuine",
			"impostor", "EER", "FNMR@1e-2", "@1e-3", "@1e-4", "@1e-5", "@1e-6");
		for (s = 0; s < SYS_N; s++) {
			fprintf(f, "  %-12s %8zu %8zu %8.3f%% ", sysname[s], m->gen[s].n,
				m->imp[s].n, 100 * m->eer[s]);
			for (j = 0; j < 5; j++) {
				if (m->enough[s][j])
					fprintf(f, " %7.3f%% ", 100 * m->fnmr[s][j]);
				else
					fprintf(f, " %8s ", "-");
			}
			fprintf(f, "\n");
		}
		fprintf(f,
			"  unlinkability D<->sys: unprotected %.3f (mated %zu, non-mated %zu); "
			"protected, two keys %.3f (mated %zu, non-mated %zu)\n",
			m->dsys_raw, m->mated_raw.n, m->nonmated_raw.n, m->dsys, m->mated.n,
			m->nonmated.n);
		fprintf(f,
			"  irreversibility (attacker holds the key): %zu reconstructions, %s: %.3f",
			m->att_n, m->att_what, m->att_close);
		if (k == M_FACE)
			fprintf(f,
				"; matched another capture unprotected at FMR 1e-3: %zu; "
				"matched system B's reference at FMR 1e-3: %zu\n",
				m->att_match_raw, m->att_match_other);
		else if (k == M_IRIS)
			fprintf(f, "; matched another capture unprotected at FMR 1e-3: %zu\n",
				m->att_match_raw);
		else
			fprintf(f, " (chance 0.5)\n");
	}
	fprintf(f,
		"\n'-': fewer than %d impostor scores above the threshold; "
		"finger scores are per finger position.\n",
		EV_MIN_TAIL);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paso eval --protect --subjects N --captures M --seed S\n"
		"                 [--preset good|poor|detention] [--impostors K]\n"
		"                 [--finger-impostors K] [--attacks A]\n"
		"Compares unprotected and protected templates (face PolyProtect, iris Bloom "
		"filters,\n"
		"finger protected MCC) on the same synthetic captures: EER and FNMR at FMR "
		"1e-2..1e-6\n"
		"with each person's own key and with a stolen key, unlinkability D<->sys between "
		"two keys,\n"
		"and reconstruction attacks by someone holding the key.\n"
		"  --impostors K         face and iris impostor pairs (default 2000000)\n"
		"  --finger-impostors K  finger impostor pairs (default 20000)\n"
		"  --attacks A           people attacked (default 50)\n");
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	uint64_t v;
	int i, have_n = 0, have_m = 0, have_s = 0;

	memset(o, 0, sizeof(*o));
	o->preset = PRESET_GOOD;
	o->impostors = 2000000;
	o->finger_impostors = 20000;
	o->attacks = 50;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(a, "--protect") == 0) {
			continue;
		} else if (strcmp(a, "--subjects") == 0) {
			if (eval_parse_u64(a, val, 2, 20000, &v) != 0)
				return PASO_E_USAGE;
			o->subjects = (uint32_t)v;
			have_n = 1;
		} else if (strcmp(a, "--captures") == 0) {
			if (eval_parse_u64(a, val, 2, 20, &v) != 0)
				return PASO_E_USAGE;
			o->captures = (uint32_t)v;
			have_m = 1;
		} else if (strcmp(a, "--seed") == 0) {
			if (eval_parse_u64(a, val, 0, UINT64_MAX, &o->seed) != 0)
				return PASO_E_USAGE;
			have_s = 1;
		} else if (strcmp(a, "--impostors") == 0) {
			if (eval_parse_u64(a, val, 1, 100000000, &o->impostors) != 0)
				return PASO_E_USAGE;
		} else if (strcmp(a, "--finger-impostors") == 0) {
			if (eval_parse_u64(a, val, 0, 10000000, &o->finger_impostors) != 0)
				return PASO_E_USAGE;
		} else if (strcmp(a, "--attacks") == 0) {
			if (eval_parse_u64(a, val, 0, 20000, &v) != 0)
				return PASO_E_USAGE;
			o->attacks = (uint32_t)v;
		} else if (strcmp(a, "--preset") == 0) {
			if (val == NULL || capture_preset_parse(val, &o->preset) != 0) {
				fprintf(stderr,
					"paso eval: --preset: '%s' is not good, poor or detention\n",
					val == NULL ? "" : val);
				return PASO_E_USAGE;
			}
		} else {
			fprintf(stderr, "paso eval --protect: unknown option '%s'\n", a);
			return PASO_E_USAGE;
		}
		i++;
	}
	if (!have_n || !have_m || !have_s) {
		fprintf(stderr, "paso eval: --subjects, --captures and --seed are required\n");
		return PASO_E_USAGE;
	}
	return 0;
}

int
eval_protect_main(int argc, char **argv)
{
	static const char *names[M_N] = {"face", "iris", "finger"};
	static const char *schemes[M_N] = {"PolyProtect m=5 overlap=4, cosine",
		"Bloom filters W=32 of 8-bit column words, keyed permutation",
		"protected MCC, 256-bit keyed projection per cylinder, LSS"};
	struct population *pop = NULL;
	struct timespec t0, t1;
	struct opts o;
	struct ctx c;
	uint32_t i;
	int r, k, s, ret = 1;

	memset(&c, 0, sizeof(c));
	if ((r = parse_args(argc, argv, &o)) != 0)
		return r == 1 ? 0 : 2;
	if (sodium_init() < 0) {
		fprintf(stderr, "paso eval: libsodium failed to initialise\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c.o = &o;
	c.ns = o.subjects * o.captures;
	for (k = 0; k < M_N; k++) {
		c.m[k].name = names[k];
		c.m[k].scheme = schemes[k];
	}
	c.s = calloc(c.ns, sizeof(*c.s));
	c.kown = calloc(o.subjects, sizeof(*c.kown));
	c.kown2 = calloc(o.subjects, sizeof(*c.kown2));
	c.fo2 = calloc(c.ns, sizeof(*c.fo2));
	c.io2 = calloc(c.ns, sizeof(*c.io2));
	c.po2 = calloc(c.ns, sizeof(*c.po2));
	c.fa = calloc(c.ns, sizeof(*c.fa));
	c.fb = calloc(c.ns, sizeof(*c.fb));
	c.fo = calloc(c.ns, sizeof(*c.fo));
	c.ia = calloc(c.ns, sizeof(*c.ia));
	c.io = calloc(c.ns, sizeof(*c.io));
	c.ft = calloc(c.ns, sizeof(*c.ft));
	c.pa = calloc(c.ns, sizeof(*c.pa));
	c.po = calloc(c.ns, sizeof(*c.po));
	if (c.s == NULL || c.kown == NULL || c.kown2 == NULL || c.fa == NULL || c.fb == NULL ||
		c.fo == NULL || c.fo2 == NULL || c.ia == NULL || c.io == NULL || c.io2 == NULL ||
		c.ft == NULL || c.pa == NULL || c.po == NULL || c.po2 == NULL) {
		r = PASO_E_NOMEM;
		goto fail;
	}
	if ((r = population_new(o.seed, o.subjects, &pop)) != 0 || (r = prepare(&c, pop)) != 0 ||
		(r = compare_all(&c)) != 0)
		goto fail;
	for (k = 0; k < M_N; k++)
		summarise(&c.m[k]);
	if ((r = attacks(&c)) != 0)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_text(stdout, &c,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "paso eval: writing the report failed\n");
		goto out;
	}
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "paso eval --protect: %s (%s)\n", paso_strerror(r), paso_errname(r));
out:
	for (k = 0; k < M_N; k++) {
		for (s = 0; s < SYS_N; s++) {
			free(c.m[k].gen[s].v);
			free(c.m[k].imp[s].v);
		}
		free(c.m[k].mated.v);
		free(c.m[k].nonmated.v);
		free(c.m[k].mated_raw.v);
		free(c.m[k].nonmated_raw.v);
	}
	for (i = 0; c.s != NULL && i < c.ns; i++) {
		bio_sample_clear(&c.s[i]);
		if (c.ft != NULL)
			finger_template_free(c.ft[i]);
	}
	for (i = 0; c.kown != NULL && i < o.subjects; i++)
		protect_key_free(c.kown[i]);
	for (i = 0; c.kown2 != NULL && i < o.subjects; i++)
		protect_key_free(c.kown2[i]);
	protect_key_free(c.ka);
	protect_key_free(c.kb);
	/* protected forms are personal data too */
	if (c.fa != NULL) {
		sodium_memzero(c.fa, c.ns * sizeof(*c.fa));
		sodium_memzero(c.fb, c.ns * sizeof(*c.fb));
		sodium_memzero(c.fo, c.ns * sizeof(*c.fo));
	}
	if (c.fo2 != NULL)
		sodium_memzero(c.fo2, c.ns * sizeof(*c.fo2));
	free(c.s);
	free(c.kown);
	free(c.kown2);
	free(c.fo2);
	free(c.io2);
	free(c.po2);
	free(c.fa);
	free(c.fb);
	free(c.fo);
	free(c.ia);
	free(c.io);
	free(c.ft);
	free(c.pa);
	free(c.po);
	population_free(pop);
	return ret;
}
