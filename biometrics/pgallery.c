/* SPDX-License-Identifier: Apache-2.0 */
/* Protected references: building, 1:1 comparison with calibrated evidence, and a 1:N gallery. */
#include "pgallery.h"
#include "topk.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bigmap.h"
#include "finger_match.h"
#include "protect_calib.h"

/* --- one reference ----------------------------------------------------------------------------- */

int
pref_new(const struct protect_key *k, uint32_t gen, const struct bio_sample *s, unsigned modalities,
	struct pref **out, struct paso_diag *d)
{
	struct pref *r = NULL;
	size_t size = (sizeof(*r) + 63) / 64 * 64;
	int i, e, rc;

	*out = NULL;
	if ((r = aligned_alloc(64, size)) == NULL)
		return PASO_E_NOMEM;
	memset(r, 0, size);
	r->gen = gen;
	if ((modalities & BIO_FACE) && s->has_face) {
		if ((rc = protect_face_q(k, s->face, &r->face)) != 0) {
			paso_diag_set(d, rc, "face: not finite or all zero");
			goto out;
		}
		r->has_face = 1;
	}
	for (i = 0; (modalities & BIO_IRIS) && i < s->n_iris && i < 2; i++) {
		e = s->iris[i].eye == BIO_EYE_RIGHT ? 0 : s->iris[i].eye == BIO_EYE_LEFT ? 1 : -1;
		if (e < 0 || r->iris[e].eye != 0) {
			rc = paso_diag_set(d, PASO_E_FIELD_RANGE, "iris[%d].eye: %u", i,
				(unsigned)s->iris[i].eye);
			goto out;
		}
		if ((rc = protect_iris(k, &s->iris[i], &r->iris[e])) != 0)
			goto out;
	}
	if ((modalities & BIO_FINGER) && s->finger_record != NULL && s->finger_len > 0) {
		if ((r->finger = calloc(1, sizeof(*r->finger))) == NULL) {
			rc = PASO_E_NOMEM;
			goto out;
		}
		if ((rc = protect_finger(k, s->finger_record, s->finger_len, r->finger, d)) != 0)
			goto out;
	}
	*out = r;
	r = NULL;
	rc = 0;
out:
	pref_free(r);
	return rc;
}

static void
finger_free(struct protect_finger *f)
{
	if (f == NULL)
		return;
	sodium_memzero(f, sizeof(*f));
	free(f);
}

void
pref_free(struct pref *r)
{
	if (r == NULL)
		return;
	finger_free(r->finger);
	sodium_memzero(r, sizeof(*r));
	free(r);
}

unsigned
pref_modalities(const struct pref *r)
{
	return (r->has_face ? BIO_FACE : 0) |
	       (r->iris[0].eye != 0 || r->iris[1].eye != 0 ? BIO_IRIS : 0) |
	       (r->finger != NULL ? BIO_FINGER : 0);
}

void
pref_keep(struct pref *r, unsigned keep)
{
	if (!(keep & BIO_FACE)) {
		sodium_memzero(&r->face, sizeof(r->face));
		r->has_face = 0;
	}
	if (!(keep & BIO_IRIS))
		sodium_memzero(r->iris, sizeof(r->iris));
	if (!(keep & BIO_FINGER)) {
		finger_free(r->finger);
		r->finger = NULL;
	}
}

/* Piecewise-linear lookup in an increasing table; past its end the last evidence stays: no
 * modality claims more than its table measured (about 1e-6), while a 1:N search decides at
 * per-comparison rates of 1e-9 and below, where an extrapolated tail is a guess. */
static double
table_ev(const struct protect_calib_point *tab, size_t n, double x)
{
	size_t lo = 0, hi = n - 1, mid;
	double f;

	if (n < 2 || x <= tab[0].score)
		return 0;
	if (x >= tab[n - 1].score)
		return tab[n - 1].ev;
	while (hi - lo > 1) {
		mid = (lo + hi) / 2;
		if (tab[mid].score <= x)
			lo = mid;
		else
			hi = mid;
	}
	f = (x - tab[lo].score) / (tab[hi].score - tab[lo].score);
	return tab[lo].ev + f * (tab[hi].ev - tab[lo].ev);
}

#define NPTS(t) (sizeof(t) / sizeof((t)[0]))

double
pref_face_ev(double cosine)
{
	return table_ev(protect_face_calib, NPTS(protect_face_calib), cosine);
}

double
pref_iris_ev(double dissimilarity, int eyes)
{
	/* Both eyes of a pair are not independent (one capture's occlusion, one person's
	 * texture): two eyes are scored by their mean, calibrated as such. */
	if (eyes >= 2)
		return table_ev(protect_iris2_calib, NPTS(protect_iris2_calib), 1 - dissimilarity);
	return table_ev(protect_iris_calib, NPTS(protect_iris_calib), 1 - dissimilarity);
}

double
pref_finger_ev(double lss)
{
	return table_ev(protect_finger_calib, NPTS(protect_finger_calib), lss);
}

/*
 * protect_iris_compare, word by word: the same result, but the build targets no popcount
 * instruction, so the 1:N scan takes the CPU's where it has one (one eye costs 8 blocks x 96
 * bytes of popcount; byte by byte through libgcc it dominated the search).
 */
static inline __attribute__((always_inline)) double
iris_ds_body(const struct protect_iris *a, const struct protect_iris *b)
{
	double sum = 0;
	int blk, w, n = 0;

	for (blk = 0; blk < PROTECT_IRIS_BLOCKS; blk++) {
		int x = 0, ha = 0, hb = 0;

		if (a->words[blk] < PROTECT_IRIS_MIN_WORDS ||
			b->words[blk] < PROTECT_IRIS_MIN_WORDS)
			continue;
		for (w = 0; w < 4; w++) {
			uint64_t u, v;

			memcpy(&u, a->bf[blk] + 8 * w, 8);
			memcpy(&v, b->bf[blk] + 8 * w, 8);
			x += __builtin_popcountll(u ^ v);
			ha += __builtin_popcountll(u);
			hb += __builtin_popcountll(v);
		}
		sum += (double)x / (ha + hb);
		n++;
	}
	return n > 0 ? sum / n : -1.0;
}

__attribute__((target("popcnt"))) static double
iris_ds_popcnt(const struct protect_iris *a, const struct protect_iris *b)
{
	return iris_ds_body(a, b);
}

static double
iris_ds_generic(const struct protect_iris *a, const struct protect_iris *b)
{
	return iris_ds_body(a, b);
}

static double
iris_ds(const struct protect_iris *a, const struct protect_iris *b)
{
	return __builtin_cpu_supports("popcnt") ? iris_ds_popcnt(a, b) : iris_ds_generic(a, b);
}

/* The face part alone (a and b may come from the gallery's flat arrays). */
static void
score_face(const struct face_q *a, const struct face_q *b, struct match_scores *out, double *ev,
	int *k)
{
	out->face = face_cosine_q(a, b);
	out->face_ev = pref_face_ev(out->face);
	out->modalities |= MATCH_FACE;
	*ev += out->face_ev;
	(*k)++;
}

static void
score_iris(const struct protect_iris a[2], const struct protect_iris b[2], struct match_scores *out,
	double *ev, int *k)
{
	double ds, ds_sum = 0;
	int e;

	for (e = 0; e < 2; e++) {
		if (a[e].eye == 0 || b[e].eye == 0)
			continue;
		if ((ds = iris_ds(&a[e], &b[e])) < 0)
			continue; /* no block comparable in both */
		ds_sum += ds;
		out->n_iris++;
	}
	if (out->n_iris == 0)
		return;
	out->iris = 1 - ds_sum / out->n_iris;
	out->iris_ev = pref_iris_ev(ds_sum / out->n_iris, out->n_iris);
	out->modalities |= MATCH_IRIS;
	*ev += out->iris_ev;
	(*k)++;
}

static void
score_finger(const struct protect_finger *a, const struct protect_finger *b,
	struct match_scores *out, double *ev, int *k)
{
	double sum = 0, s;
	int i, j;

	for (i = 0; i < a->n_views; i++)
		for (j = 0; j < b->n_views; j++) {
			if (a->v[i].pos == 0 || a->v[i].pos != b->v[j].pos)
				continue;
			s = protect_finger_compare(&a->v[i], &b->v[j]);
			if (s > out->finger)
				out->finger = s;
			sum += pref_finger_ev(s);
			out->n_finger++;
			break; /* one view per position on each side */
		}
	if (out->n_finger == 0)
		return;
	out->finger_ev = match_fisher(sum, out->n_finger);
	out->modalities |= MATCH_FINGER;
	*ev += sum;
	*k += out->n_finger;
}

int
pref_compare(const struct pref *a, const struct pref *b, struct match_scores *out)
{
	double ev = 0;
	int k = 0;

	memset(out, 0, sizeof(*out));
	if (a->gen != b->gen)
		return PASO_E_INVALID_ARG;
	if (a->finger != NULL && b->finger != NULL)
		score_finger(a->finger, b->finger, out, &ev, &k);
	if (a->has_face && b->has_face)
		score_face(&a->face, &b->face, out, &ev, &k);
	score_iris(a->iris, b->iris, out, &ev, &k);
	out->fused = match_fisher(ev, k);
	return 0;
}

/* --- the gallery ------------------------------------------------------------------------------- */

struct pgallery {
	pthread_rwlock_t lock;
	size_t n, cap;
	uint8_t (*id)[16];
	struct pref **ref;   /* reference i (its finger form absent with a loader) */
	uint8_t *has_finger; /* reference i has a finger form (in memory or the store) */
	int8_t *face;        /* n x BIO_FACE_DIM, 64-byte aligned, for face_scan */
	float *inv_norm;     /* 0 = no face */
	uint32_t *gen;       /* reference i's key generation (read by the scan without ref[i]) */
	size_t *slot, nslot; /* open addressing: index + 1, 0 empty */
	pgallery_finger_loader loader;
	void *loader_arg;
	unsigned threads; /* scan threads of a large gallery's search */
};

int
pgallery_new(struct pgallery **out)
{
	struct pgallery *g;

	*out = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return PASO_E_NOMEM;
	if (pthread_rwlock_init(&g->lock, NULL) != 0) {
		free(g);
		return PASO_E_NOMEM;
	}
	g->threads = 1;
	*out = g;
	return 0;
}

void
pgallery_free(struct pgallery *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++)
		pref_free(g->ref[i]);
	bigmap_free(g->face, g->cap * BIO_FACE_DIM);
	free(g->id);
	free(g->ref);
	free(g->has_finger);
	free(g->inv_norm);
	free(g->gen);
	free(g->slot);
	pthread_rwlock_destroy(&g->lock);
	free(g);
}

void
pgallery_set_finger_loader(struct pgallery *g, pgallery_finger_loader fn, void *arg)
{
	g->loader = fn;
	g->loader_arg = arg;
}

int
pgallery_set_threads(struct pgallery *g, unsigned threads)
{
	if (threads < 1 || threads > PGALLERY_MAX_THREADS)
		return PASO_E_INVALID_ARG;
	g->threads = threads;
	return 0;
}

static size_t
hash_id(const uint8_t id[16])
{
	uint64_t h;

	/* vault subject ids end in 8 random bytes (their first 8 are a run and a sequence number,
	 * the same for many ids in their low bits): those are already uniform */
	memcpy(&h, id + 8, sizeof(h));
	return (size_t)h;
}

/* Index of id, or -1. */
static long
find(const struct pgallery *g, const uint8_t id[16])
{
	size_t i, s;

	if (g->nslot == 0)
		return -1;
	for (i = hash_id(id) & (g->nslot - 1); (s = g->slot[i]) != 0; i = (i + 1) & (g->nslot - 1))
		if (memcmp(g->id[s - 1], id, 16) == 0)
			return (long)(s - 1);
	return -1;
}

static void
slot_set(struct pgallery *g, const uint8_t id[16], size_t idx)
{
	size_t i;

	for (i = hash_id(id) & (g->nslot - 1); g->slot[i] != 0; i = (i + 1) & (g->nslot - 1))
		;
	g->slot[i] = idx + 1;
}

static int
rehash(struct pgallery *g, size_t nslot)
{
	size_t *ns = calloc(nslot, sizeof(*ns)), i;

	if (ns == NULL)
		return PASO_E_NOMEM;
	free(g->slot);
	g->slot = ns;
	g->nslot = nslot;
	for (i = 0; i < g->n; i++)
		slot_set(g, g->id[i], i);
	return 0;
}

static int
grow(struct pgallery *g)
{
	size_t cap = g->cap ? g->cap * 2 : 64;
	int8_t *face;
	void *p;

	if ((p = realloc(g->id, cap * 16)) == NULL)
		return PASO_E_NOMEM;
	g->id = p;
	if ((p = realloc(g->ref, cap * sizeof(*g->ref))) == NULL)
		return PASO_E_NOMEM;
	g->ref = p;
	if ((p = realloc(g->has_finger, cap)) == NULL)
		return PASO_E_NOMEM;
	g->has_finger = p;
	if ((p = realloc(g->inv_norm, cap * sizeof(float))) == NULL)
		return PASO_E_NOMEM;
	g->inv_norm = p;
	if ((p = realloc(g->gen, cap * sizeof(uint32_t))) == NULL)
		return PASO_E_NOMEM;
	g->gen = p;
	if ((face = bigmap_grow(g->face, g->cap * BIO_FACE_DIM, cap * BIO_FACE_DIM)) == NULL)
		return PASO_E_NOMEM;
	g->face = face;
	g->cap = cap;
	return rehash(g, cap * 2);
}

/* Writes reference r into index i (its face into the flat arrays; the finger form dropped when
 * a loader holds them). */
static void
place(struct pgallery *g, size_t i, struct pref *r)
{
	g->ref[i] = r;
	g->gen[i] = r->gen;
	g->has_finger[i] = r->finger != NULL;
	if (g->loader != NULL && r->finger != NULL) {
		finger_free(r->finger);
		r->finger = NULL;
	}
	if (r->has_face) {
		memcpy(g->face + i * BIO_FACE_DIM, r->face.q, BIO_FACE_DIM);
		g->inv_norm[i] = r->face.inv_norm;
	} else {
		memset(g->face + i * BIO_FACE_DIM, 0, BIO_FACE_DIM);
		g->inv_norm[i] = 0;
	}
}

int
pgallery_put(
	struct pgallery *g, const uint8_t id[16], struct pref *r, int replace, struct pref **old)
{
	long at;
	int rc = 0;

	if (old != NULL)
		*old = NULL;
	pthread_rwlock_wrlock(&g->lock);
	if ((at = find(g, id)) >= 0) {
		if (!replace) {
			rc = PASO_E_EXISTS;
			goto out;
		}
		if (old != NULL)
			*old = g->ref[at];
		else
			pref_free(g->ref[at]);
		place(g, (size_t)at, r);
		r = NULL;
		goto out;
	}
	if (g->n == g->cap && (rc = grow(g)) != 0)
		goto out;
	memcpy(g->id[g->n], id, 16);
	place(g, g->n, r);
	r = NULL;
	slot_set(g, id, g->n);
	g->n++;
out:
	pthread_rwlock_unlock(&g->lock);
	pref_free(r);
	return rc;
}

int
pgallery_remove(struct pgallery *g, const uint8_t id[16])
{
	long at;
	size_t last;
	int rc = 0;

	pthread_rwlock_wrlock(&g->lock);
	if ((at = find(g, id)) < 0) {
		rc = PASO_E_NOT_FOUND;
		goto out;
	}
	pref_free(g->ref[at]);
	last = g->n - 1;
	if ((size_t)at != last) {
		memcpy(g->id[at], g->id[last], 16);
		g->ref[at] = g->ref[last];
		g->gen[at] = g->gen[last];
		g->has_finger[at] = g->has_finger[last];
		memcpy(g->face + (size_t)at * BIO_FACE_DIM, g->face + last * BIO_FACE_DIM,
			BIO_FACE_DIM);
		g->inv_norm[at] = g->inv_norm[last];
	}
	sodium_memzero(g->face + last * BIO_FACE_DIM, BIO_FACE_DIM);
	g->n--;
	rc = rehash(g, g->nslot); /* simpler than backward-shift deletion; removals are rare */
out:
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

size_t
pgallery_size(const struct pgallery *g)
{
	size_t n;

	pthread_rwlock_rdlock((pthread_rwlock_t *)&g->lock);
	n = g->n;
	pthread_rwlock_unlock((pthread_rwlock_t *)&g->lock);
	return n;
}

int
pgallery_gen(const struct pgallery *g, const uint8_t id[16], uint32_t *gen)
{
	long at;

	pthread_rwlock_rdlock((pthread_rwlock_t *)&g->lock);
	if ((at = find(g, id)) >= 0)
		*gen = g->ref[at]->gen;
	pthread_rwlock_unlock((pthread_rwlock_t *)&g->lock);
	return at >= 0 ? 0 : PASO_E_NOT_FOUND;
}

int
pgallery_modalities(const struct pgallery *g, const uint8_t id[16], unsigned *mods)
{
	long at;

	pthread_rwlock_rdlock((pthread_rwlock_t *)&g->lock);
	if ((at = find(g, id)) >= 0)
		*mods = (pref_modalities(g->ref[at]) & ~BIO_FINGER) |
			(g->has_finger[at] ? BIO_FINGER : 0);
	pthread_rwlock_unlock((pthread_rwlock_t *)&g->lock);
	return at >= 0 ? 0 : PASO_E_NOT_FOUND;
}

size_t
pgallery_gens(const struct pgallery *g, uint32_t *gens, size_t max)
{
	size_t i, j, n = 0;

	pthread_rwlock_rdlock((pthread_rwlock_t *)&g->lock);
	for (i = 0; i < g->n; i++) {
		for (j = 0; j < n && gens[j] != g->gen[i]; j++)
			;
		if (j == n && n < max)
			gens[n++] = g->gen[i];
	}
	pthread_rwlock_unlock((pthread_rwlock_t *)&g->lock);
	return n;
}

size_t
pgallery_count_below(const struct pgallery *g, uint32_t gen)
{
	size_t i, c = 0;

	pthread_rwlock_rdlock((pthread_rwlock_t *)&g->lock);
	for (i = 0; i < g->n; i++)
		c += g->gen[i] < gen;
	pthread_rwlock_unlock((pthread_rwlock_t *)&g->lock);
	return c;
}

/*
 * Full comparison of entry i with probe p (its generation). Fingers kept in the store are
 * opened when load is set (each opening decrypts a record); otherwise the comparison goes on
 * without them.
 */
static void
compare_entry_load(const struct pgallery *g, size_t i, const struct pref *p, int load,
	struct match_scores *out)
{
	const struct pref *r = g->ref[i];
	struct protect_finger *f = NULL;
	double ev = 0;
	int k = 0;

	memset(out, 0, sizeof(*out));
	if (p->finger != NULL && g->has_finger[i]) {
		if (r->finger != NULL)
			score_finger(r->finger, p->finger, out, &ev, &k);
		else if (load && g->loader != NULL && g->loader(g->loader_arg, g->id[i], &f) == 0) {
			score_finger(f, p->finger, out, &ev, &k);
			finger_free(f);
		}
	}
	if (r->has_face && p->has_face)
		score_face(&r->face, &p->face, out, &ev, &k);
	score_iris(r->iris, p->iris, out, &ev, &k);
	out->fused = match_fisher(ev, k);
}

static void
compare_entry(const struct pgallery *g, size_t i, const struct pref *p, struct match_scores *out)
{
	compare_entry_load(g, i, p, 1, out);
}

int
pgallery_verify(const struct pgallery *g, const uint8_t id[16], const struct pref *probe,
	struct match_scores *out)
{
	long at;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock((pthread_rwlock_t *)&g->lock);
	if ((at = find(g, id)) < 0)
		rc = PASO_E_NOT_FOUND;
	else if (g->ref[at]->gen != probe->gen)
		rc = PASO_E_INVALID_ARG;
	else
		compare_entry(g, (size_t)at, probe, out);
	pthread_rwlock_unlock((pthread_rwlock_t *)&g->lock);
	return rc;
}

/* --- 1:N --------------------------------------------------------------------------------------- */

#define BLOCK 512         /* entries scored per step of a worker */
#define MAX_CAND 256      /* candidates kept per worker, at most */
#define PARALLEL_MIN 8192 /* smaller galleries are scanned by the caller's thread */

/* One thread's share [lo, hi) of a search: its best candidates and best full comparison. */
struct pworker {
	struct pgallery *g;
	const struct pref *const *probes;
	size_t np;
	size_t lo, hi, k;
	int exhaustive;
	float gate_cos; /* > -1: irises compared only where the face cosine reaches it */
	double gate_ev; /* the face evidence of gate_cos */
	struct topk_cand cand[MAX_CAND];
	size_t ncand;
	struct match_scores best;
	uint8_t best_id[16];
	int have_best;
	struct pgallery_stats st;
	float fbuf[PGALLERY_MAX_GENS][BLOCK];
};

/* Is a a better identification than b? Higher fused, then more evidence overall. */
static int
better(const struct match_scores *a, const struct match_scores *b)
{
	if (a->fused != b->fused)
		return a->fused > b->fused;
	return a->finger_ev + a->face_ev + a->iris_ev > b->finger_ev + b->face_ev + b->iris_ev;
}

/* Full comparison of entry i (fingers opened when load), kept in w when it is w's best. */
static void
confirm(struct pworker *w, size_t i, const struct pref *p, int load)
{
	struct pgallery *g = w->g;
	struct match_scores sc;

	compare_entry_load(g, i, p, load, &sc);
	w->st.confirmed++;
	w->st.finger_loads += load && g->loader != NULL && g->ref[i]->finger == NULL &&
			      g->has_finger[i] && p->finger != NULL;
	if (sc.modalities == 0)
		return;
	if (!w->have_best || better(&sc, &w->best)) {
		w->best = sc;
		memcpy(w->best_id, g->id[i], 16);
		w->have_best = 1;
	}
}

/* Iris evidence of two protected forms' eyes (score_iris without the scores): 1 when an eye
 * was comparable. */
static int
iris_ev(const struct protect_iris a[2], const struct protect_iris b[2], double *ev)
{
	double ds, sum = 0;
	int e, n = 0;

	for (e = 0; e < 2; e++) {
		if (a[e].eye == 0 || b[e].eye == 0 || (ds = iris_ds(&a[e], &b[e])) < 0)
			continue;
		sum += ds;
		n++;
	}
	if (n == 0)
		return 0;
	*ev += pref_iris_ev(sum / n, n);
	return 1;
}

/* The probe of generation gen, as an index into w->probes, or -1. */
static inline int
probe_of(const struct pworker *w, uint32_t gen)
{
	size_t q;

	for (q = 0; q < w->np; q++)
		if (w->probes[q]->gen == gen)
			return (int)q;
	return -1;
}

/*
 * Scores entries [b, b + m): the face of each (one int8 scan of the block per probe with a
 * face), then its irises where the face reaches the gate (or either side has no face). An entry
 * below the gate keeps its face evidence alone; once w holds k candidates above the gate, such
 * an entry can no longer enter and is skipped. An entry with nothing fast in common with its
 * probe is compared in full at once (fingers decide).
 */
static void
scan_block(struct pworker *w, size_t b, size_t m)
{
	struct pgallery *g = w->g;
	size_t j, i, q;

	if (w->exhaustive) {
		for (j = 0; j < m; j++) {
			int pq = probe_of(w, g->gen[b + j]);

			if (pq >= 0)
				confirm(w, b + j, w->probes[pq], 1);
		}
		w->st.scanned += m;
		return;
	}
	for (q = 0; q < w->np; q++)
		if (w->probes[q]->has_face)
			face_scan(&w->probes[q]->face, g->face + b * BIO_FACE_DIM, g->inv_norm + b,
				m, w->fbuf[q]);
	for (j = 0; j < m; j++) {
		const struct pref *p;
		double ev = 0;
		int pq, common = 0, pass = 1;

		i = b + j;
		if ((pq = w->np == 1 && g->gen[i] == w->probes[0]->gen
				    ? 0
				    : probe_of(w, g->gen[i])) < 0)
			continue;
		p = w->probes[pq];
		if (p->has_face && g->inv_norm[i] != 0) {
			float cs = w->fbuf[pq][j];

			if (cs < w->gate_cos) {
				if (w->ncand == w->k && w->cand[w->k - 1].ev >= w->gate_ev)
					continue;
				pass = 0;
			}
			ev += pref_face_ev(cs);
			common = 1;
		}
		if (pass) {
			common |= iris_ev(g->ref[i]->iris, p->iris, &ev);
			w->st.iris++;
		}
		if (common)
			topk_keep(w->cand, &w->ncand, w->k, ev, i);
		else
			confirm(w, i, p, 1); /* nothing fast in common: fingers decide */
	}
	w->st.scanned += m;
}

static void *
scan(void *arg)
{
	struct pworker *w = arg;
	size_t b, m;

	for (b = w->lo; b < w->hi; b += m) {
		m = w->hi - b < BLOCK ? w->hi - b : BLOCK;
		scan_block(w, b, m);
	}
	return NULL;
}

static int
cand_desc(const void *a, const void *b)
{
	double x = ((const struct topk_cand *)a)->ev, y = ((const struct topk_cand *)b)->ev;

	return x < y ? 1 : x > y ? -1 : 0;
}

int
pgallery_identify_ex(struct pgallery *g, const struct pref *const *probes, size_t n, double fmr,
	const struct pgallery_opts *opts, uint8_t best_id[16], struct match_scores *best,
	int *found, struct pgallery_stats *stats)
{
	const struct pref *pp[PGALLERY_MAX_GENS];
	struct pworker *w = NULL;
	struct topk_cand *all = NULL;
	pthread_t tid[PGALLERY_MAX_THREADS];
	size_t np = 0, k, nall = 0, i, q;
	unsigned nt = 1, t, started = 0;
	double gate_ev;
	float gate_cos = -2;
	int rc = 0;

	memset(best, 0, sizeof(*best));
	memset(best_id, 0, 16);
	*found = 0;
	if (stats != NULL)
		memset(stats, 0, sizeof(*stats));
	if (n > PGALLERY_MAX_GENS)
		return PASO_E_INVALID_ARG;
	for (q = 0; q < n; q++)
		if (probes[q] != NULL)
			pp[np++] = probes[q];
	pthread_rwlock_rdlock(&g->lock);
	if (g->n == 0 || np == 0)
		goto out;
	k = opts != NULL && opts->candidates != 0 ? opts->candidates : PGALLERY_CANDIDATES;
	if (k > MAX_CAND)
		k = MAX_CAND;
	/* A large gallery is scanned face first (pgallery.h: PGALLERY_GATE_MIN). */
	gate_ev = opts != NULL && opts->gate_face_ev != 0 ? opts->gate_face_ev : PGALLERY_GATE_EV;
	if (g->n >= PGALLERY_GATE_MIN && gate_ev > 0)
		gate_cos = topk_face_gate_cos(pref_face_ev, gate_ev);
	if (g->n >= PARALLEL_MIN)
		nt = g->threads;
	/* aligned_alloc wants a size that is a multiple of the alignment */
	if ((w = aligned_alloc(64, (nt * sizeof(*w) + 63) / 64 * 64)) == NULL ||
		(all = malloc(nt * k * sizeof(*all))) == NULL) {
		rc = PASO_E_NOMEM;
		goto out;
	}
	memset(w, 0, nt * sizeof(*w));
	for (t = 0; t < nt; t++) {
		w[t].g = g;
		w[t].probes = pp;
		w[t].np = np;
		/* block-aligned split keeps SIMD rows on their 64-byte alignment */
		w[t].lo = (g->n * t / nt) / 64 * 64;
		w[t].hi = t + 1 == nt ? g->n : (g->n * (t + 1) / nt) / 64 * 64;
		w[t].k = k;
		w[t].exhaustive = opts != NULL && opts->exhaustive;
		w[t].gate_cos = gate_cos;
		w[t].gate_ev = gate_ev;
	}
	for (t = 1; t < nt; t++) {
		if (pthread_create(&tid[t], NULL, scan, &w[t]) != 0)
			break;
		started = t;
	}
	scan(&w[0]);
	for (t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	for (t = started + 1; t < nt; t++)
		scan(&w[t]); /* thread creation failed: its share here */
	/* the best candidates of all workers, each then compared in full; fingers kept in the
	 * store are opened for the PGALLERY_FINGER_LOADS best only (a mate is among the first by
	 * face and iris), the others compared by face and iris alone */
	for (t = 0; t < nt; t++)
		for (i = 0; i < w[t].ncand; i++)
			all[nall++] = w[t].cand[i];
	qsort(all, nall, sizeof(*all), cand_desc);
	for (i = 0; i < nall && i < k; i++) {
		int pq = probe_of(&w[0], g->gen[all[i].idx]);

		confirm(&w[0], all[i].idx, pp[pq], i < PGALLERY_FINGER_LOADS);
	}
	for (t = 0; t < nt; t++) {
		if (w[t].have_best && (best->modalities == 0 || better(&w[t].best, best))) {
			*best = w[t].best;
			memcpy(best_id, w[t].best_id, 16);
		}
		if (stats != NULL) {
			stats->scanned += w[t].st.scanned;
			stats->iris += w[t].st.iris;
			stats->confirmed += w[t].st.confirmed;
			stats->finger_loads += w[t].st.finger_loads;
		}
	}
	*found = match_decide(best, fmr);
out:
	pthread_rwlock_unlock(&g->lock);
	if (w != NULL) {
		sodium_memzero(w, nt * sizeof(*w));
		free(w);
	}
	free(all);
	return rc;
}

int
pgallery_identify(struct pgallery *g, const struct pref *const *probes, size_t n, double fmr,
	uint8_t best_id[16], struct match_scores *best, int *found)
{
	return pgallery_identify_ex(g, probes, n, fmr, NULL, best_id, best, found, NULL);
}
