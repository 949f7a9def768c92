/* SPDX-License-Identifier: Apache-2.0 */
/* The 1:N gallery: flat int8 face and iris arrays scanned by SIMD, the best candidates fused in
 * full. */
#include "gallery.h"
#include "topk.h"

#include <math.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "bigmap.h"
#include "errors.h"
#include "face.h"
#include "fcache.h"
#include "findex.h"
#include "iris.h"

#define IRIS_REC (2 * BIO_IRIS_BYTES)     /* code then mask */
#define ENTRY_IRIS (2 * IRIS_REC)         /* right eye then left eye */
#define BLOCK 512                         /* entries scored per step of a worker */
#define MAX_CAND 256                      /* candidates kept per worker, at most */
#define PARALLEL_MIN 8192                 /* smaller galleries are scanned by the caller's thread */
#define PASS_HOLD_MS 50                   /* longest a pass waits for a pending move */
#define FSK_BYTES (FACE_SKETCH_WORDS * 8) /* one entry's face sketch */
#define NOFACE_BATCH (4 * BLOCK)          /* entries without a face gathered before their irises */
#define ADDED_RING 16384 /* latest additions remembered for gallery_identify_since_tmpl */
/* bytes of the sketches of n entries: whole groups (face.h: FACE_SKETCH_GROUP) */
#define FSK_SIZE(n)                                                                                \
	(((n) + FACE_SKETCH_GROUP - 1) / FACE_SKETCH_GROUP * FACE_SKETCH_GROUP * FSK_BYTES)

struct gallery {
	unsigned threads;
	/* Readers (identify, verify) share it; add and remove take it alone. Writers are
	 * preferred so a stream of searches cannot starve the commit loop's additions. */
	pthread_rwlock_t lock;
	uint64_t next_seq; /* sequence of the latest addition */
	uint64_t *seq;     /* cap: when each entry was added */
	size_t n, cap;
	uint8_t (*ids)[16];
	struct finger_template **finger;
	uint8_t *finger_ext; /* cap: 1 = the entry has fingers, kept outside (the loader's) */
	gallery_finger_loader loader; /* NULL: finger templates stay in memory */
	void *loader_arg;
	struct fcache *fcache; /* fingers the loader opened, kept (finger cache); or NULL */
	int8_t *face;          /* cap x BIO_FACE_DIM, 64-byte aligned */
	float *face_inv;       /* 0: no face */
	uint64_t *noface;      /* (cap + 63) / 64 words: bit i set when entry i has no face */
	uint64_t *fsk;    /* face sketches in groups (face.h: face_sketch_put), FSK_SIZE(cap) bytes,
			     64-byte aligned; zeros: no face */
	uint8_t *iris;    /* cap x ENTRY_IRIS, 64-byte aligned; absent eyes are all zeros */
	uint8_t *iris_ok; /* cap x 2 */
	/* Finger descriptors (findex.h), the first stage of a finger-only search: */
	/* FINDEX_POSITIONS x cap, by position (FD): a scan reads one position's descriptors of
	 * consecutive entries as one stream. 64-byte aligned. */
	struct findex_finger *fdesc;
	uint16_t *fbits; /* cap x FINDEX_POSITIONS: set bits, 0 = none */
	uint8_t *fx;     /* cap: 1 = has fingers the descriptors do not cover (kept outside, or of
			unknown position): a finger-only search compares it in full */
	struct findex_stats *fstats; /* bit frequencies of the descriptors held */
	uint32_t *slots;             /* open addressing: entry index + 1, 0 = empty */
	size_t nslots;               /* power of two, > 2 * cap */
	/* Searches asked while a pass runs wait here and go together in the next one. */
	pthread_mutex_t pass_mu;
	pthread_cond_t pass_cv;
	struct pending *queue; /* waiting searches, newest first */
	int pass_busy;
	int pass_nice;     /* gallery_set_pass_nice */
	int move_wanted;   /* gallery_move_all_try found the gallery busy: hold new passes back */
	long sketch_share; /* gallery_set_sketch_share */
	/* The ids of the latest ADDED_RING additions, by sequence number (seq % ADDED_RING): what
	 * a search since a recent sequence number looks at instead of every entry's number. */
	uint8_t (*added)[16];
};

struct probe;
/* A search waiting for a pass (gallery_identify_tmpl). */
struct pending {
	const struct probe *p;
	double fmr;
	struct gallery_hit *best;
	int *found;
	int r, done;
	struct pending *next;
};

static void entry_view(const struct gallery *g, size_t i, struct match_view *v);
static void clear_locked(struct gallery *g);
static void compare_entry(const struct gallery *g, size_t i, struct match_view *a,
	const struct match_view *b, struct match_scores *sc);

int
gallery_new(unsigned threads, struct gallery **out)
{
	struct gallery *g;

	*out = NULL;
	if (threads > 64)
		return PASO_E_INVALID_ARG;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return PASO_E_NOMEM;
	if ((g->fstats = calloc(1, sizeof(*g->fstats))) == NULL ||
		(g->added = calloc(ADDED_RING, sizeof(*g->added))) == NULL) {
		free(g->fstats);
		free(g);
		return PASO_E_NOMEM;
	}
	g->threads = threads == 0 ? 1 : threads;
	{
		pthread_rwlockattr_t a;

		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		if (pthread_rwlock_init(&g->lock, &a) != 0) {
			pthread_rwlockattr_destroy(&a);
			free(g->added);
			free(g->fstats);
			free(g);
			return PASO_E_NOMEM;
		}
		pthread_rwlockattr_destroy(&a);
	}
	if (pthread_mutex_init(&g->pass_mu, NULL) != 0) {
		pthread_rwlock_destroy(&g->lock);
		free(g->added);
		free(g->fstats);
		free(g);
		return PASO_E_NOMEM;
	}
	if (pthread_cond_init(&g->pass_cv, NULL) != 0) {
		pthread_mutex_destroy(&g->pass_mu);
		pthread_rwlock_destroy(&g->lock);
		free(g->added);
		free(g->fstats);
		free(g);
		return PASO_E_NOMEM;
	}
	*out = g;
	return 0;
}

void
gallery_free(struct gallery *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++)
		finger_template_free(g->finger[i]);
	if (g->fdesc != NULL)
		sodium_memzero(g->fdesc, g->cap * FINDEX_POSITIONS * sizeof(*g->fdesc));
	free(g->fdesc);
	free(g->fbits);
	if (g->fstats != NULL)
		sodium_memzero(g->fstats, sizeof(*g->fstats));
	free(g->fstats);
	free(g->fx);
	free(g->ids);
	free(g->seq);
	free(g->finger);
	free(g->finger_ext);
	bigmap_free(g->face, g->cap * BIO_FACE_DIM);
	free(g->face_inv);
	bigmap_free(g->noface, (g->cap + 63) / 64 * 8);
	bigmap_free(g->fsk, FSK_SIZE(g->cap));
	bigmap_free(g->iris, g->cap * ENTRY_IRIS);
	free(g->iris_ok);
	free(g->slots);
	if (g->added != NULL)
		sodium_memzero(g->added, ADDED_RING * sizeof(*g->added));
	free(g->added);
	fcache_free(g->fcache);
	pthread_rwlock_destroy(&g->lock);
	pthread_cond_destroy(&g->pass_cv);
	pthread_mutex_destroy(&g->pass_mu);
	sodium_memzero(g, sizeof(*g));
	free(g);
}

size_t
gallery_size(const struct gallery *g)
{
	return __atomic_load_n(&g->n, __ATOMIC_ACQUIRE);
}

void
gallery_set_finger_loader(struct gallery *g, gallery_finger_loader fn, void *arg)
{
	pthread_rwlock_wrlock(&g->lock);
	g->loader = fn;
	g->loader_arg = arg;
	pthread_rwlock_unlock(&g->lock);
}

/* Records whether entry i has a face (from face_inv[i]) in the bitmap the sketch scan reads. */
static void
noface_mark(struct gallery *g, size_t i)
{
	uint64_t bit = 1ull << (i % 64);

	if (g->face_inv[i] == 0)
		g->noface[i / 64] |= bit;
	else
		g->noface[i / 64] &= ~bit;
}

/* Stores entry i's finger template, or only that it has one when a loader keeps them. */
static void
set_finger(struct gallery *g, size_t i, struct finger_template *ft)
{
	g->finger_ext[i] = 0;
	if (ft != NULL && g->loader != NULL) {
		finger_template_free(ft);
		ft = NULL;
		g->finger_ext[i] = 1;
	}
	g->finger[i] = ft;
}

int
gallery_set_finger_cache(struct gallery *g, size_t max_bytes)
{
	struct fcache *c = NULL;
	int r;

	if (max_bytes > 0 && (r = fcache_new(max_bytes, &c)) != 0)
		return r;
	pthread_rwlock_wrlock(&g->lock);
	fcache_free(g->fcache); /* no comparison holds one of its entries: we hold the lock */
	g->fcache = c;
	pthread_rwlock_unlock(&g->lock);
	return 0;
}

void
gallery_finger_cache_stats(struct gallery *g, uint64_t *hits, uint64_t *misses, size_t *bytes)
{
	struct fcache_stats st;

	fcache_stats(g->fcache, &st);
	*hits = st.hits;
	*misses = st.misses;
	*bytes = st.bytes;
}

int
gallery_fingers_outside(const struct gallery *g)
{
	return g->loader != NULL;
}

void
gallery_set_pass_nice(struct gallery *g, int nice)
{
	pthread_mutex_lock(&g->pass_mu);
	g->pass_nice = nice < 0 ? 0 : nice > 19 ? 19 : nice;
	pthread_mutex_unlock(&g->pass_mu);
}

void
gallery_set_sketch_share(struct gallery *g, long share)
{
	pthread_rwlock_wrlock(&g->lock);
	g->sketch_share = share;
	pthread_rwlock_unlock(&g->lock);
}

/* The descriptor of entry i at position k (0-based). */
#define FD(g, k, i) ((g)->fdesc + (size_t)(k) * (g)->cap + (i))

/*
 * A gallery that keeps fingers outside (a loader set before it first grew) has no descriptors
 * at all: every one would be empty, and at 5 KB an entry they were most of its memory. Reads
 * then see an empty descriptor.
 */
static const struct findex_finger fd_none;

static const struct findex_finger *
fd_at(const struct gallery *g, int k, size_t i)
{
	return g->fdesc != NULL ? FD(g, k, i) : &fd_none;
}

/* An entry's finger descriptors, made before the write lock is taken (describing takes ~0.1 ms). */
struct fentry {
	struct findex_finger d[FINDEX_POSITIONS];
	uint16_t n[FINDEX_POSITIONS];
	uint8_t x;
};

/*
 * Describes ft for the finger index when the gallery keeps fingers in memory; with a loader
 * (fingers kept outside, for memory) nothing is described and a finger-only search compares
 * the entry in full, as it did before the index. has_fingers: the entry has fingers at all.
 */
static void
fentry_make(const struct gallery *g, const struct finger_template *ft, int has_fingers,
	struct fentry *fe)
{
	int v;

	memset(fe, 0, sizeof(*fe));
	if (ft == NULL || g->loader != NULL) {
		fe->x = has_fingers != 0;
		return;
	}
	findex_describe(ft, fe->d, fe->n);
	for (v = 0; v < finger_template_n_views(ft); v++)
		if (finger_template_view_pos(ft, v) < 1 ||
			finger_template_view_pos(ft, v) > FINDEX_POSITIONS)
			fe->x = 1;
}

/* Stores fe as entry i's descriptors; call with the write lock held. */
static void
fentry_store(struct gallery *g, size_t i, const struct fentry *fe)
{
	int k;

	for (k = 0; k < FINDEX_POSITIONS; k++) {
		if (g->fdesc != NULL)
			*FD(g, k, i) = fe->d[k];
		findex_stats_add(g->fstats, k, &fe->d[k], fe->n[k], +1);
	}
	memcpy(g->fbits + i * FINDEX_POSITIONS, fe->n, sizeof(fe->n));
	g->fx[i] = fe->x;
}

/* Copies entry k of src into entry i of dst (its statistics are the caller's). */
static void
fentry_copy(struct gallery *dst, size_t i, const struct gallery *src, size_t k)
{
	int p;

	for (p = 0; p < FINDEX_POSITIONS && dst->fdesc != NULL; p++)
		*FD(dst, p, i) = *fd_at(src, p, k);
	memcpy(dst->fbits + i * FINDEX_POSITIONS, src->fbits + k * FINDEX_POSITIONS,
		FINDEX_POSITIONS * sizeof(*dst->fbits));
	dst->fx[i] = src->fx[k];
}

uint64_t
gallery_seq(const struct gallery *g)
{
	return __atomic_load_n(&g->next_seq, __ATOMIC_ACQUIRE);
}

static void
rdlock(const struct gallery *g)
{
	pthread_rwlock_rdlock((pthread_rwlock_t *)&g->lock);
}

static void
unlock(const struct gallery *g)
{
	pthread_rwlock_unlock((pthread_rwlock_t *)&g->lock);
}

static size_t
id_hash(const uint8_t id[16])
{
	uint64_t a, b;

	memcpy(&a, id, 8);
	memcpy(&b, id + 8, 8);
	a ^= b * 0x9e3779b97f4a7c15ull;
	a ^= a >> 31;
	a *= 0xbf58476d1ce4e5b9ull;
	a ^= a >> 29;
	return (size_t)a;
}

/* Slot holding id, or the empty slot where it would go. */
static size_t
slot_find(const struct gallery *g, const uint8_t id[16])
{
	size_t mask = g->nslots - 1, s = id_hash(id) & mask;

	while (g->slots[s] != 0 && memcmp(g->ids[g->slots[s] - 1], id, 16) != 0)
		s = (s + 1) & mask;
	return s;
}

static void
rehash(struct gallery *g)
{
	size_t i;

	memset(g->slots, 0, g->nslots * sizeof(*g->slots));
	for (i = 0; i < g->n; i++)
		g->slots[slot_find(g, g->ids[i])] = (uint32_t)(i + 1);
}

/* The descriptors laid out for n entries a position (g->cap before); the old ones wiped. */
static struct findex_finger *
grow_fdesc(struct gallery *g, size_t n)
{
	struct findex_finger *p = aligned_alloc(64, n * FINDEX_POSITIONS * sizeof(*p));
	int k;

	if (p == NULL)
		return NULL;
	memset(p, 0, n * FINDEX_POSITIONS * sizeof(*p));
	if (g->fdesc != NULL) {
		for (k = 0; k < FINDEX_POSITIONS; k++)
			memcpy(p + (size_t)k * n, FD(g, k, 0), g->n * sizeof(*p));
		sodium_memzero(g->fdesc, g->cap * FINDEX_POSITIONS * sizeof(*p));
		free(g->fdesc);
	}
	return p;
}

/* Grows the arrays to n entries; call with the write lock held. */
static int
reserve_locked(struct gallery *g, size_t n)
{
	void *p;
	size_t ns;

	if (n <= g->cap)
		return 0;
	if (n > UINT32_MAX - 1)
		return PASO_E_NOMEM;
	if ((p = realloc(g->ids, n * 16)) == NULL)
		return PASO_E_NOMEM;
	g->ids = p;
	if ((p = realloc(g->seq, n * sizeof(*g->seq))) == NULL)
		return PASO_E_NOMEM;
	g->seq = p;
	if ((p = realloc(g->finger, n * sizeof(*g->finger))) == NULL)
		return PASO_E_NOMEM;
	g->finger = p;
	if ((p = realloc(g->finger_ext, n)) == NULL)
		return PASO_E_NOMEM;
	g->finger_ext = p;
	if ((p = realloc(g->face_inv, n * sizeof(float))) == NULL)
		return PASO_E_NOMEM;
	g->face_inv = p;
	if ((p = bigmap_grow(g->noface, (g->cap + 63) / 64 * 8, (n + 63) / 64 * 8)) == NULL)
		return PASO_E_NOMEM;
	g->noface = p;
	if ((p = realloc(g->iris_ok, n * 2)) == NULL)
		return PASO_E_NOMEM;
	g->iris_ok = p;
	if ((p = bigmap_grow(g->face, g->cap * BIO_FACE_DIM, n * BIO_FACE_DIM)) == NULL)
		return PASO_E_NOMEM;
	g->face = p;
	if ((p = bigmap_grow(g->fsk, FSK_SIZE(g->cap), FSK_SIZE(n))) == NULL)
		return PASO_E_NOMEM;
	g->fsk = p;
	if ((p = bigmap_grow(g->iris, g->cap * ENTRY_IRIS, n * ENTRY_IRIS)) == NULL)
		return PASO_E_NOMEM;
	g->iris = p;
	if (g->loader == NULL || g->fdesc != NULL) {
		if ((p = grow_fdesc(g, n)) == NULL)
			return PASO_E_NOMEM;
		g->fdesc = p;
	}
	if ((p = realloc(g->fbits, n * FINDEX_POSITIONS * sizeof(*g->fbits))) == NULL)
		return PASO_E_NOMEM;
	g->fbits = p;
	if ((p = realloc(g->fx, n)) == NULL)
		return PASO_E_NOMEM;
	g->fx = p;
	for (ns = 16; ns <= 2 * n; ns *= 2)
		;
	if (ns != g->nslots) {
		if ((p = calloc(ns, sizeof(*g->slots))) == NULL)
			return PASO_E_NOMEM;
		free(g->slots);
		g->slots = p;
		g->nslots = ns;
	}
	g->cap = n;
	rehash(g);
	return 0;
}

int
gallery_reserve(struct gallery *g, size_t n)
{
	int r;

	pthread_rwlock_wrlock(&g->lock);
	r = reserve_locked(g, n);
	pthread_rwlock_unlock(&g->lock);
	return r;
}

int
gallery_add_diag(
	struct gallery *g, const uint8_t id[16], const struct bio_sample *s, struct paso_diag *d)
{
	struct finger_template *ft = NULL;
	struct fentry *fe = NULL;
	struct face_q fq;
	uint64_t sk[FACE_SKETCH_WORDS];
	size_t i;
	int r, k, e, has_iris[2] = {0, 0};

	memset(&fq, 0, sizeof(fq));
	if (s->finger_len == 0 && !s->has_face && s->n_iris == 0) {
		r = paso_diag_set(d, PASO_E_INVALID_ARG, "sample has no modality");
		goto out;
	}
	if (s->n_iris < 0 || s->n_iris > 2) {
		r = paso_diag_set(d, PASO_E_FIELD_RANGE, "sample: %d irises, at most 2", s->n_iris);
		goto out;
	}
	for (k = 0; k < s->n_iris; k++) {
		e = s->iris[k].eye == BIO_EYE_RIGHT ? 0 : s->iris[k].eye == BIO_EYE_LEFT ? 1 : -1;
		if (e < 0 || has_iris[e]) {
			r = paso_diag_set(d, PASO_E_FIELD_RANGE, "iris[%d].eye: %s %u", k,
				e < 0 ? "not RIGHT or LEFT:" : "repeated eye",
				(unsigned)s->iris[k].eye);
			goto out;
		}
		has_iris[e] = 1;
	}
	if (s->has_face && (r = face_quantize(s->face, &fq, d)) != 0)
		goto out;
	/* With fingers kept outside, none is built here: only that the entry has them. */
	if (s->finger_record != NULL && s->finger_len > 0 && g->loader == NULL &&
		(r = finger_template_from_record(s->finger_record, s->finger_len, &ft, d)) != 0)
		goto out;
	if ((fe = malloc(sizeof(*fe))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	fentry_make(g, ft, s->finger_record != NULL && s->finger_len > 0, fe);
	pthread_rwlock_wrlock(&g->lock);
	if (g->nslots > 0 && g->slots[slot_find(g, id)] != 0) {
		r = PASO_E_EXISTS;
		goto unlock;
	}
	if (g->n == g->cap && (r = reserve_locked(g, g->cap < 64 ? 64 : g->cap * 2)) != 0)
		goto unlock;
	i = g->n;
	memcpy(g->ids[i], id, 16);
	g->seq[i] = ++g->next_seq;
	memcpy(g->added[g->next_seq % ADDED_RING], id, 16);
	set_finger(g, i, ft);
	ft = NULL;
	if (g->loader != NULL && s->finger_record != NULL && s->finger_len > 0)
		g->finger_ext[i] = 1;
	fentry_store(g, i, fe);
	memcpy(g->face + i * BIO_FACE_DIM, fq.q, BIO_FACE_DIM);
	g->face_inv[i] = s->has_face ? fq.inv_norm : 0;
	face_sketch(fq.q, sk);
	face_sketch_put(g->fsk, i, sk);
	noface_mark(g, i);
	memset(g->iris + i * ENTRY_IRIS, 0, ENTRY_IRIS);
	g->iris_ok[2 * i] = g->iris_ok[2 * i + 1] = 0;
	for (k = 0; k < s->n_iris; k++) {
		uint8_t *dst;

		e = s->iris[k].eye == BIO_EYE_RIGHT ? 0 : 1;
		dst = g->iris + i * ENTRY_IRIS + e * IRIS_REC;
		memcpy(dst, s->iris[k].code, BIO_IRIS_BYTES);
		memcpy(dst + BIO_IRIS_BYTES, s->iris[k].mask, BIO_IRIS_BYTES);
		g->iris_ok[2 * i + e] = 1;
	}
	__atomic_store_n(&g->n, i + 1, __ATOMIC_RELEASE);
	g->slots[slot_find(g, id)] = (uint32_t)(i + 1);
	r = 0;
unlock:
	pthread_rwlock_unlock(&g->lock);
out:
	sodium_memzero(&fq, sizeof(fq));
	if (fe != NULL) {
		sodium_memzero(fe, sizeof(*fe));
		free(fe);
	}
	finger_template_free(ft);
	return r;
}

int
gallery_add(struct gallery *g, const uint8_t id[16], const struct bio_sample *s)
{
	return gallery_add_diag(g, id, s, NULL);
}

int
gallery_add_tmpl(struct gallery *g, const uint8_t id[16], struct match_template *t)
{
	struct fentry *fe = NULL;
	struct match_view v;
	uint64_t sk[FACE_SKETCH_WORDS];
	size_t i;
	int r, e, ext = 0;

	/* A deferred finger part: the store holds the fingers (a loader) or they are built now. */
	if (match_template_deferred(t)) {
		if (g->loader != NULL) {
			match_template_undefer(t);
			ext = 1;
		} else
			(void)match_template_finger(t);
	}
	match_template_view(t, &v);
	if (v.finger == NULL && !ext && v.face_q == NULL && v.iris[0] == NULL &&
		v.iris[1] == NULL) {
		r = PASO_E_INVALID_ARG;
		goto out;
	}
	if ((fe = malloc(sizeof(*fe))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	fentry_make(g, v.finger, v.finger != NULL || ext, fe);
	pthread_rwlock_wrlock(&g->lock);
	if (g->nslots > 0 && g->slots[slot_find(g, id)] != 0) {
		r = PASO_E_EXISTS;
		goto unlock;
	}
	if (g->n == g->cap && (r = reserve_locked(g, g->cap < 64 ? 64 : g->cap * 2)) != 0)
		goto unlock;
	i = g->n;
	memcpy(g->ids[i], id, 16);
	g->seq[i] = ++g->next_seq;
	memcpy(g->added[g->next_seq % ADDED_RING], id, 16);
	memset(g->face + i * BIO_FACE_DIM, 0, BIO_FACE_DIM);
	g->face_inv[i] = 0;
	if (v.face_q != NULL) {
		memcpy(g->face + i * BIO_FACE_DIM, v.face_q, BIO_FACE_DIM);
		g->face_inv[i] = v.face_inv_norm;
	}
	face_sketch(g->face + i * BIO_FACE_DIM, sk);
	face_sketch_put(g->fsk, i, sk);
	noface_mark(g, i);
	memset(g->iris + i * ENTRY_IRIS, 0, ENTRY_IRIS);
	for (e = 0; e < 2; e++) {
		g->iris_ok[2 * i + e] = v.iris[e] != NULL;
		if (v.iris[e] != NULL)
			memcpy(g->iris + i * ENTRY_IRIS + e * IRIS_REC, v.iris[e], IRIS_REC);
	}
	set_finger(g, i, match_template_take_finger(t));
	if (ext)
		g->finger_ext[i] = 1;
	fentry_store(g, i, fe);
	__atomic_store_n(&g->n, i + 1, __ATOMIC_RELEASE);
	g->slots[slot_find(g, id)] = (uint32_t)(i + 1);
	r = 0;
unlock:
	pthread_rwlock_unlock(&g->lock);
out:
	if (fe != NULL) {
		sodium_memzero(fe, sizeof(*fe));
		free(fe);
	}
	match_template_free(t);
	return r;
}

int
gallery_verify(const struct gallery *g, const uint8_t id[16], const struct match_template *probe,
	struct match_scores *out)
{
	struct match_view a, b;
	size_t s;

	memset(out, 0, sizeof(*out));
	rdlock(g);
	if (g->nslots == 0 || g->slots[s = slot_find(g, id)] == 0) {
		unlock(g);
		return PASO_E_NOT_FOUND;
	}
	entry_view(g, g->slots[s] - 1, &a);
	match_template_view(probe, &b);
	compare_entry(g, g->slots[s] - 1, &a, &b, out);
	unlock(g);
	return 0;
}

/* Moves src's entries into dst; call with dst's write lock held. 0 or PASO_E_NOMEM. */
static int
move_locked(struct gallery *dst, struct gallery *src)
{
	uint64_t sk[FACE_SKETCH_WORDS];
	size_t i, k;
	int r, k2;

	if (dst->n + src->n > dst->cap &&
		(r = reserve_locked(dst,
			 dst->n + src->n > 2 * dst->cap ? dst->n + src->n : 2 * dst->cap)) != 0)
		return r;
	for (k = 0; k < src->n; k++) {
		if (dst->nslots > 0 && dst->slots[slot_find(dst, src->ids[k])] != 0)
			continue; /* already there: keep dst's */
		i = dst->n;
		memcpy(dst->ids[i], src->ids[k], 16);
		dst->seq[i] = ++dst->next_seq;
		memcpy(dst->added[dst->next_seq % ADDED_RING], src->ids[k], 16);
		if (src->finger[k] != NULL) {
			set_finger(dst, i, src->finger[k]);
			src->finger[k] = NULL;
		} else {
			dst->finger[i] = NULL;
			dst->finger_ext[i] = src->finger_ext[k];
		}
		memcpy(dst->face + i * BIO_FACE_DIM, src->face + k * BIO_FACE_DIM, BIO_FACE_DIM);
		dst->face_inv[i] = src->face_inv[k];
		face_sketch_get(src->fsk, k, sk);
		face_sketch_put(dst->fsk, i, sk);
		noface_mark(dst, i);
		memcpy(dst->iris + i * ENTRY_IRIS, src->iris + k * ENTRY_IRIS, ENTRY_IRIS);
		dst->iris_ok[2 * i] = src->iris_ok[2 * k];
		dst->iris_ok[2 * i + 1] = src->iris_ok[2 * k + 1];
		fentry_copy(dst, i, src, k);
		if (dst->loader != NULL && dst->finger[i] == NULL && dst->finger_ext[i] &&
			!src->finger_ext[k]) {
			/* set_finger moved src's fingers outside: dst cannot describe them */
			for (k2 = 0; k2 < FINDEX_POSITIONS && dst->fdesc != NULL; k2++)
				sodium_memzero(FD(dst, k2, i), sizeof(*dst->fdesc));
			memset(dst->fbits + i * FINDEX_POSITIONS, 0,
				FINDEX_POSITIONS * sizeof(*dst->fbits));
			dst->fx[i] = 1;
		}
		for (k2 = 0; k2 < FINDEX_POSITIONS; k2++)
			findex_stats_add(dst->fstats, k2, fd_at(dst, k2, i),
				dst->fbits[i * FINDEX_POSITIONS + k2], +1);
		__atomic_store_n(&dst->n, i + 1, __ATOMIC_RELEASE);
		dst->slots[slot_find(dst, src->ids[k])] = (uint32_t)(i + 1);
	}
	return 0;
}

int
gallery_move_all(struct gallery *dst, struct gallery *src)
{
	int r;

	if (src->n == 0)
		return 0;
	pthread_rwlock_wrlock(&dst->lock);
	r = move_locked(dst, src);
	pthread_rwlock_unlock(&dst->lock);
	if (r == 0)
		gallery_clear(src);
	return r;
}

int
gallery_move_all_try(struct gallery *dst, struct gallery *src)
{
	int r;

	if (src->n == 0)
		return 1;
	/* Other threads read src too (a crossing's 1:1 check looks there first). Waiting for
	 * its write lock held the commit loop 0.7-1.7 ms (a sleep and a wake-up on a busy
	 * machine) after ~5% of its enrolment groups, crossings queued behind. Busy: the next
	 * try moves it. */
	if (pthread_rwlock_trywrlock(&src->lock) != 0)
		return 0;
	if (pthread_rwlock_trywrlock(&dst->lock) != 0) {
		pthread_rwlock_unlock(&src->lock);
		/* A search is running: ask the next pass to wait so the next try gets in. */
		pthread_mutex_lock(&dst->pass_mu);
		dst->move_wanted = 1;
		pthread_mutex_unlock(&dst->pass_mu);
		return 0;
	}
	r = move_locked(dst, src);
	pthread_rwlock_unlock(&dst->lock);
	pthread_mutex_lock(&dst->pass_mu);
	dst->move_wanted = 0;
	pthread_cond_broadcast(&dst->pass_cv);
	pthread_mutex_unlock(&dst->pass_mu);
	if (r == 0)
		clear_locked(src);
	pthread_rwlock_unlock(&src->lock);
	return r != 0 ? r : 1;
}

/* Removes and wipes every entry; call with the write lock held. */
static void
clear_locked(struct gallery *g)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		finger_template_free(g->finger[i]);
		g->finger[i] = NULL;
	}
	if (g->n > 0) {
		sodium_memzero(g->face, g->n * BIO_FACE_DIM);
		sodium_memzero(g->fsk, FSK_SIZE(g->n));
		memset(g->noface, 0, (g->n + 63) / 64 * 8);
		sodium_memzero(g->iris, g->n * ENTRY_IRIS);
		if (g->fdesc != NULL)
			sodium_memzero(g->fdesc, g->cap * FINDEX_POSITIONS * sizeof(*g->fdesc));
		memset(g->fbits, 0, g->n * FINDEX_POSITIONS * sizeof(*g->fbits));
		sodium_memzero(g->fstats, sizeof(*g->fstats));
		sodium_memzero(g->ids, g->n * 16);
	}
	if (g->nslots > 0)
		memset(g->slots, 0, g->nslots * sizeof(*g->slots));
	fcache_clear(g->fcache);
	__atomic_store_n(&g->n, 0, __ATOMIC_RELEASE);
}

void
gallery_clear(struct gallery *g)
{
	pthread_rwlock_wrlock(&g->lock);
	clear_locked(g);
	pthread_rwlock_unlock(&g->lock);
}

/*
 * Empties slot s of the linear-probing table by shifting later members of its cluster back
 * (no tombstones), so lookups stay correct and removal stays O(1) on average.
 */
static void
slot_delete(struct gallery *g, size_t s)
{
	size_t mask = g->nslots - 1, j = s, home;

	g->slots[s] = 0;
	for (;;) {
		j = (j + 1) & mask;
		if (g->slots[j] == 0)
			return;
		home = id_hash(g->ids[g->slots[j] - 1]) & mask;
		/* move j back into the hole unless its home lies cyclically in (s, j] */
		if ((j > s && (home <= s || home > j)) || (j < s && home <= s && home > j)) {
			g->slots[s] = g->slots[j];
			g->slots[j] = 0;
			s = j;
		}
	}
}

int
gallery_remove(struct gallery *g, const uint8_t id[16])
{
	uint64_t sk[FACE_SKETCH_WORDS];
	size_t s, last, i;
	int k;

	pthread_rwlock_wrlock(&g->lock);
	if (g->nslots == 0 || g->slots[s = slot_find(g, id)] == 0) {
		pthread_rwlock_unlock(&g->lock);
		return PASO_E_NOT_FOUND;
	}
	i = g->slots[s] - 1;
	last = g->n - 1;
	slot_delete(g, s);
	fcache_evict(g->fcache, id); /* erasure: the fingers opened for comparisons go too */
	for (k = 0; k < FINDEX_POSITIONS; k++)
		findex_stats_add(
			g->fstats, k, fd_at(g, k, i), g->fbits[i * FINDEX_POSITIONS + k], -1);
	finger_template_free(g->finger[i]);
	if (i != last) {
		/* the last entry moves into i: its slot now points there */
		g->slots[slot_find(g, g->ids[last])] = (uint32_t)(i + 1);
		memcpy(g->ids[i], g->ids[last], 16);
		g->seq[i] = g->seq[last];
		g->finger[i] = g->finger[last];
		g->finger_ext[i] = g->finger_ext[last];
		memcpy(g->face + i * BIO_FACE_DIM, g->face + last * BIO_FACE_DIM, BIO_FACE_DIM);
		g->face_inv[i] = g->face_inv[last];
		face_sketch_get(g->fsk, last, sk);
		face_sketch_put(g->fsk, i, sk);
		noface_mark(g, i);
		memcpy(g->iris + i * ENTRY_IRIS, g->iris + last * ENTRY_IRIS, ENTRY_IRIS);
		g->iris_ok[2 * i] = g->iris_ok[2 * last];
		g->iris_ok[2 * i + 1] = g->iris_ok[2 * last + 1];
		fentry_copy(g, i, g, last);
	}
	g->finger[last] = NULL;
	for (k = 0; k < FINDEX_POSITIONS && g->fdesc != NULL; k++)
		sodium_memzero(FD(g, k, last), sizeof(*g->fdesc));
	memset(g->fbits + last * FINDEX_POSITIONS, 0, FINDEX_POSITIONS * sizeof(*g->fbits));
	sodium_memzero(g->face + last * BIO_FACE_DIM, BIO_FACE_DIM);
	memset(sk, 0, sizeof(sk));
	face_sketch_put(g->fsk, last, sk);
	g->noface[last / 64] &= ~(1ull << (last % 64));
	sodium_memzero(g->iris + last * ENTRY_IRIS, ENTRY_IRIS);
	sodium_memzero(g->ids[last], 16);
	__atomic_store_n(&g->n, last, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&g->lock);
	return 0;
}

/* The probe, prepared once for the whole scan. */
struct probe {
	struct match_template *tmpl;
	const struct match_template *src; /* the template the probe was made of (borrowed) */
	struct match_view view;
	struct face_q face;
	_Alignas(64) uint64_t fsk[FACE_SKETCH_WORDS]; /* the face's sketch */
	int has_face;
	struct iris_probe *iris[2]; /* NULL when the probe lacks that eye */
	/* A finger-only probe whose views all have a known position is searched through the
	 * finger descriptors first (fd, fn: findex_describe's). */
	int findex;
	struct findex_finger fd[FINDEX_POSITIONS];
	uint16_t fn[FINDEX_POSITIONS];
};

struct worker {
	struct gallery *g;
	const struct probe *p;
	size_t lo, hi;
	size_t k; /* candidates kept */
	int exhaustive;
	int fingers_always;            /* gallery_opts.fingers_always */
	double thr;                    /* the fused evidence of a match at the search's fmr */
	const struct findex_query *fq; /* a finger-only probe's first stage, else NULL */
	float gate_cos;   /* > -1: irises compared only where the face cosine reaches it */
	double gate_ev;   /* the face evidence of gate_cos */
	float reject_cos; /* below the gate, cosines at most this cannot enter the full cand */
	/* Face sketch first (GALLERY_SKETCH_MIN): entries of Hamming distance <= hthr are kept
	 * (kidx, kham; nkeep of keepcap), shrunk to keep_n nearest whenever the buffer fills. */
	int sketch;
	size_t keep_n, nkeep, keepcap;
	unsigned hthr;
	uint32_t *kidx;
	uint16_t *kham;
	float *kcos;
	uint32_t nfidx[NOFACE_BATCH]; /* entries without a face waiting (noface_flush) */
	size_t nf;
	struct topk_cand cand[MAX_CAND];
	size_t ncand;
	struct gallery_hit best; /* best full comparison made by this worker */
	int have_best;
	size_t scanned, confirmed;
	float fbuf[BLOCK], ibuf[2][BLOCK];
	uint8_t cbuf[BLOCK];
};

static void
entry_view(const struct gallery *g, size_t i, struct match_view *v)
{
	int e;

	memset(v, 0, sizeof(*v));
	v->finger = g->finger[i];
	if (g->face_inv[i] != 0) {
		v->face_q = g->face + i * BIO_FACE_DIM;
		v->face_inv_norm = g->face_inv[i];
	}
	for (e = 0; e < 2; e++)
		if (g->iris_ok[2 * i + e])
			v->iris[e] = g->iris + i * ENTRY_IRIS + e * IRIS_REC;
}

/* Is hit a better identification than cur? Higher fused, then more evidence overall. */
static int
better(const struct match_scores *hit, const struct match_scores *cur)
{
	if (hit->fused != cur->fused)
		return hit->fused > cur->fused;
	return hit->finger_ev + hit->face_ev + hit->iris_ev >
	       cur->finger_ev + cur->face_ev + cur->iris_ev;
}

/*
 * Compares views a (an entry's) and b in full. An entry whose fingers are kept outside has them
 * loaded for this comparison only (when the probe has fingers to compare), then wiped.
 */
static void
compare_entry_load(const struct gallery *g, size_t i, struct match_view *a,
	const struct match_view *b, struct match_scores *sc, int load)
{
	struct finger_template *ft = NULL;
	struct fcache_entry *ce = NULL;
	uint32_t pos;

	if (load && a->finger == NULL && g->finger_ext[i] && g->loader != NULL &&
		b->finger != NULL) {
		pos = finger_template_positions(b->finger);
		/* kept from an earlier opening (gallery_set_finger_cache), else opened now */
		if (g->fcache != NULL && (ce = fcache_get(g->fcache, g->ids[i], pos)) != NULL)
			a->finger = fcache_template(ce);
		else if (g->loader(g->loader_arg, g->ids[i], pos, &ft) == 0) {
			if (g->fcache != NULL &&
				(ce = fcache_put(g->fcache, g->ids[i], pos, ft)) != NULL)
				ft = NULL;
			a->finger = ce != NULL ? fcache_template(ce) : ft;
		}
	}
	match_verify_views(a, b, sc);
	finger_template_free(ft);
	fcache_release(g->fcache, ce);
}

static void
compare_entry(const struct gallery *g, size_t i, struct match_view *a, const struct match_view *b,
	struct match_scores *sc)
{
	compare_entry_load(g, i, a, b, sc, 1);
}

/* Keeps sc as w's best if it is (a comparison of entry i). */
static void
take(struct worker *w, size_t i, const struct match_scores *sc)
{
	w->confirmed++;
	if (sc->modalities == 0)
		return;
	if (!w->have_best || better(sc, &w->best.scores)) {
		memcpy(w->best.id, w->g->ids[i], 16);
		w->best.scores = *sc;
		w->have_best = 1;
	}
}

/*
 * Full comparison of entry i; rank is its place among the candidates left to compare by
 * fingers (0 = most face and iris evidence). Fingers kept in the store are opened for the
 * GALLERY_FINGER_LOADS best of them only: each opening decrypts a record and builds a
 * template (~1 ms), and a mate is among the first by face and iris; the others are compared
 * by face and iris alone.
 */
static void
confirm_ranked(struct worker *w, size_t i, size_t rank)
{
	struct match_view v, pv = w->p->view;
	struct match_scores sc;
	int load = rank < GALLERY_FINGER_LOADS;

	entry_view(w->g, i, &v);
	/* a probe's deferred finger part is built by the first comparison that uses it */
	if (pv.finger == NULL && w->p->src != NULL && match_template_deferred(w->p->src) &&
		(v.finger != NULL || (load && w->g->finger_ext[i])))
		pv.finger = match_template_finger(w->p->src);
	compare_entry_load(w->g, i, &v, &pv, &sc, load);
	take(w, i, &sc);
}

static void
confirm(struct worker *w, size_t i)
{
	confirm_ranked(w, i, 0);
}

/*
 * Do face and irises decide the comparison of entry i without fingers (gallery.h:
 * GALLERY_CLEAR_IRIS_EV)? 1 with *fast the face and iris comparison when they do, else 0 (the
 * entry is compared in full). A comparison of fingers costs ~0.5 ms, one of face and irises a
 * few microseconds.
 */
static int
decided_without_fingers(struct worker *w, size_t i, struct match_scores *fast)
{
	const struct gallery *g = w->g;
	struct match_view v;

	entry_view(g, i, &v);
	if ((w->p->view.finger == NULL &&
		    (w->p->src == NULL || !match_template_has_finger(w->p->src))) ||
		(v.finger == NULL && !g->finger_ext[i]))
		return 0; /* no fingers to compare: the full comparison is this one */
	v.finger = NULL;
	match_verify_views(&v, &w->p->view, fast);
	/* A match whatever the fingers say: Fisher's combination only falls as comparisons of
	 * no evidence are added, and fingers add at most FINGER_MAX_VIEWS + 1 of them. */
	if (fast->modalities != 0 &&
		match_fisher(fast->ev_sum, fast->ev_k + FINGER_MAX_VIEWS + 1) >= w->thr)
		return 1;
	/* Irises as far apart as strangers' and no strong face: not this person. */
	return fast->face_ev < GALLERY_CLEAR_FACE_EV &&
	       ((fast->n_iris == 2 && fast->iris_ev < GALLERY_CLEAR_IRIS_EV) ||
		       (fast->n_iris == 1 && fast->iris_ev < GALLERY_CLEAR_IRIS1_EV));
}

struct confirm_job {
	struct worker *w;
	const struct topk_cand *c;
	size_t n, start;
};

static void *
confirm_every_other(void *arg)
{
	struct confirm_job *j = arg;
	size_t i;

	for (i = j->start; i < j->n; i += 2)
		confirm_ranked(j->w, j->c[i].idx, i);
	return NULL;
}

/*
 * Comparisons of the n best candidates, into w: by face and irises where they decide
 * (decided_without_fingers), in full (fingers included) for the rest. Full comparisons are
 * the costly part of a search over a small gallery, so with two or more threads and four or
 * more of them they are split in two: even positions here, odd positions on a second thread,
 * merged into w afterwards.
 */
static void
confirm_all(struct gallery *g, struct worker *w, const struct topk_cand *c, size_t n)
{
	struct worker *other = NULL;
	struct confirm_job even, odd;
	struct match_scores sc;
	struct topk_cand *full = NULL;
	pthread_t th;
	size_t i, nf = 0;

	if (!w->exhaustive && !w->fingers_always &&
		(full = malloc(n * sizeof(*full) + 1)) != NULL) {
		for (i = 0; i < n; i++)
			if (decided_without_fingers(w, c[i].idx, &sc))
				take(w, c[i].idx, &sc);
			else
				full[nf++] = c[i];
		c = full;
		n = nf;
	}
	even = (struct confirm_job){w, c, n, 0};
	if (g->threads < 2 || n < 4 || (other = calloc(1, sizeof(*other))) == NULL) {
		for (i = 0; i < n; i++)
			confirm_ranked(w, c[i].idx, i);
		goto out;
	}
	other->g = w->g;
	other->p = w->p;
	odd = (struct confirm_job){other, c, n, 1};
	if (pthread_create(&th, NULL, confirm_every_other, &odd) != 0) {
		confirm_every_other(&odd); /* no thread: both halves here */
		confirm_every_other(&even);
	} else {
		confirm_every_other(&even);
		pthread_join(th, NULL);
	}
	w->confirmed += other->confirmed;
	if (other->have_best && (!w->have_best || better(&other->best.scores, &w->best.scores))) {
		w->best = other->best;
		w->have_best = 1;
	}
out:
	sodium_memzero(&sc, sizeof(sc));
	if (other != NULL) {
		sodium_memzero(other, sizeof(*other));
		free(other);
	}
	free(full);
}

/*
 * Face first, irises where the face allows: entry i of face cosine fs (has_fs 0: the entry has
 * no face) has its irises (the costly part: 7 shifts of 2048 bits per eye) compared only if
 * its face reaches the gate or it has no face. An entry below the gate keeps its face evidence
 * alone; once w holds k candidates above the gate, such an entry can no longer enter and is
 * skipped.
 */
static void
gated_entry(struct worker *w, size_t i, int has_fs, float fs)
{
	const struct probe *p = w->p;
	struct gallery *g = w->g;
	double ev = 0;
	int common = 0, pass = 1, e;
	float is;

	if (has_fs) {
		if (fs < w->gate_cos) {
			if (w->ncand == w->k &&
				(w->cand[w->k - 1].ev >= w->gate_ev || fs <= w->reject_cos))
				return;
			pass = 0;
		}
		ev += match_face_ev(fs);
		common = 1;
		/* Below the gate the face is all the evidence: once the candidates are full, one
		 * it leaves out leaves out every lower cosine too (evidence rises with the
		 * cosine, the k-th candidate's only rises), so those are passed over without
		 * their evidence looked up (exact). */
		if (!pass && w->ncand == w->k && ev <= w->cand[w->k - 1].ev) {
			if (fs > w->reject_cos)
				w->reject_cos = fs;
			return;
		}
	}
	for (e = 0; pass && e < 2; e++)
		if (p->iris[e] != NULL && g->iris_ok[2 * i + e]) {
			const uint8_t *rec = g->iris + i * ENTRY_IRIS + e * IRIS_REC;

			/* clearly another eye (iris.h: iris_quick_near): a stranger's evidence,
			 * about none, without the full comparison */
			if (!iris_quick_near(p->iris[e], rec, rec + BIO_IRIS_BYTES)) {
				common = 1;
				continue;
			}
			iris_scan(p->iris[e], rec, ENTRY_IRIS, 1, &is);
			if (is >= 0) {
				ev += match_iris_ev(is);
				common = 1;
			}
		}
	if (common)
		topk_keep(w->cand, &w->ncand, w->k, ev, i);
	else
		confirm(w, i); /* nothing fast in common: fingers decide */
}

/* The face cosine of every entry of the block, then gated_entry for each. */
static void
scan_block_gated(struct worker *w, size_t b, size_t m)
{
	struct gallery *g = w->g;
	size_t j;

	face_scan(&w->p->face, g->face + b * BIO_FACE_DIM, g->face_inv + b, m, w->fbuf);
	for (j = 0; j < m; j++)
		gated_entry(w, b + j, g->face_inv[b + j] != 0, w->fbuf[j]);
	w->scanned += m;
}

/*
 * Keeps the want nearest of w's kept entries by sketch (ties at the cut kept while they fit):
 * a histogram of the distances gives the cut, which later blocks are then held to.
 */
static void
sketch_shrink(struct worker *w, size_t want)
{
	uint32_t hist[BIO_FACE_DIM + 1];
	size_t j, n = 0, sum = 0;
	unsigned t;

	if (w->nkeep <= want)
		return;
	memset(hist, 0, sizeof(hist));
	for (j = 0; j < w->nkeep; j++)
		hist[w->kham[j]]++;
	for (t = 0; t < BIO_FACE_DIM && sum + hist[t] < want; t++)
		sum += hist[t];
	/* entries tied at the cut that would fill the buffer are dropped */
	if (t > 0 && sum + hist[t] + BLOCK > w->keepcap)
		t--;
	/* (and never more than a block's room: many faces of one sketch tie at any cut) */
	for (j = 0; j < w->nkeep && n + BLOCK < w->keepcap; j++)
		if (w->kham[j] <= t) {
			w->kidx[n] = w->kidx[j];
			w->kham[n++] = w->kham[j];
		}
	w->nkeep = n;
	w->hthr = t;
}

/*
 * Asks for what iris_quick_near reads of entry i's irises (they are far apart in memory): the
 * quick rings of each code and mask the probe will look at.
 */
static void
prefetch_iris(const struct worker *w, size_t i)
{
	const uint8_t *r = w->g->iris + i * ENTRY_IRIS + IRIS_QUICK_RING * IRIS_ROW_BYTES;
	int e;

	for (e = 0; e < 2; e++)
		if (w->p->iris[e] != NULL) {
			__builtin_prefetch(r + e * IRIS_REC);
			__builtin_prefetch(r + e * IRIS_REC + BIO_IRIS_BYTES);
		}
}

/*
 * Entries without a face waiting for their irises (w->nf of them), compared a few at a time
 * with the next ones' irises asked for ahead: entry by entry, each would wait for memory.
 */
static void
noface_flush(struct worker *w)
{
	size_t j;

	for (j = 0; j < w->nf && j < 4; j++)
		prefetch_iris(w, w->nfidx[j]);
	for (j = 0; j < w->nf; j++) {
		if (j + 4 < w->nf)
			prefetch_iris(w, w->nfidx[j + 4]);
		gated_entry(w, w->nfidx[j], 0, 0);
	}
	w->nf = 0;
}

/*
 * The sketch stage of a block: the entries within the cut kept for sketch_finish; entries
 * without a face go through the gate as before (irises), gathered a few blocks at a time.
 */
static void
scan_block_sketch(struct worker *w, size_t b, size_t m)
{
	struct gallery *g = w->g;
	size_t j;

	/* b is a multiple of 64 (scan_pass), so the block starts a group */
	w->nkeep += face_sketch_select(w->p->fsk, g->fsk + b * FACE_SKETCH_WORDS, m, w->hthr,
		(uint32_t)b, w->kidx + w->nkeep, w->kham + w->nkeep);
	/* b and m are multiples of 64 but at the gallery's end; bits past it are clear */
	for (j = 0; j < m; j += 64) {
		uint64_t bits = g->noface[(b + j) / 64];

		while (bits != 0) {
			w->nfidx[w->nf++] = (uint32_t)(b + j + (size_t)__builtin_ctzll(bits));
			bits &= bits - 1;
		}
	}
	if (w->nf + BLOCK > NOFACE_BATCH)
		noface_flush(w);
	if (w->nkeep + BLOCK > w->keepcap)
		sketch_shrink(w, w->keep_n);
	w->scanned += m;
}

/* The kept entries rescored by int8 cosine, then through the gate as a full scan's are. */
static void
sketch_finish(struct worker *w)
{
	struct gallery *g = w->g;
	size_t j, ahead = 0;

	noface_flush(w);
	sketch_shrink(w, w->keep_n);
	face_scan_idx(&w->p->face, g->face, g->face_inv, w->kidx, w->nkeep, w->kcos);
	for (j = 0; j < w->nkeep; j++) {
		/* the irises of the next few past the gate, asked for ahead */
		for (; ahead < w->nkeep && ahead < j + 4; ahead++)
			if (w->kcos[ahead] >= w->gate_cos)
				prefetch_iris(w, w->kidx[ahead]);
		if (g->face_inv[w->kidx[j]] != 0) /* no face: scanned with its block */
			gated_entry(w, w->kidx[j], 1, w->kcos[j]);
	}
}

/*
 * A finger-only probe: the descriptors of the probe's finger positions against every entry's
 * (findex_scan); the best w->k go on to the full comparison. An entry with fingers the
 * descriptors do not cover is compared in full at once; one with no finger at the probe's
 * positions has nothing a full comparison could use and is passed over.
 */
static void
scan_block_findex(struct worker *w, size_t b, size_t m)
{
	const struct findex_finger *d[FINDEX_POSITIONS];
	struct gallery *g = w->g;
	size_t j;
	int k;

	if (g->fdesc == NULL) { /* fingers kept outside: no descriptors to rank by */
		for (j = 0; j < m; j++)
			if (g->fx[b + j])
				confirm(w, b + j);
		w->scanned += m;
		return;
	}
	for (k = 0; k < FINDEX_POSITIONS; k++)
		d[k] = FD(g, k, b);
	findex_scan(w->fq, d, g->fbits + b * FINDEX_POSITIONS, m, w->fbuf, w->cbuf);
	for (j = 0; j < m; j++) {
		if (g->fx[b + j])
			confirm(w, b + j);
		else if (w->cbuf[j])
			topk_keep(w->cand, &w->ncand, w->k, w->fbuf[j], b + j);
	}
	w->scanned += m;
}

static void scan_block(struct worker *w, size_t b, size_t m);

/*
 * One pass over entries [w[0].lo, w[0].hi) for np probes at once (w[q] is probe q's worker):
 * each block of entries is scored for every probe while it is in cache, so the gallery's
 * memory is read once for all of them.
 */
struct pass {
	struct worker *w;
	size_t np;
};

static void *
scan_pass(void *arg)
{
	struct pass *ps = arg;
	size_t b, m, q, lo = ps->w[0].lo, hi = ps->w[0].hi;

	for (b = lo; b < hi; b += m) {
		m = hi - b < BLOCK ? hi - b : BLOCK;
		for (q = 0; q < ps->np; q++)
			scan_block(&ps->w[q], b, m);
	}
	for (q = 0; q < ps->np; q++)
		if (ps->w[q].sketch)
			sketch_finish(&ps->w[q]);
	return NULL;
}

static void
scan_block(struct worker *w, size_t b, size_t m)
{
	const struct probe *p = w->p;
	struct gallery *g = w->g;
	int fast = p->has_face || p->iris[0] != NULL || p->iris[1] != NULL;
	size_t j;
	int e;

	{
		if (w->sketch) {
			scan_block_sketch(w, b, m);
			return;
		}
		if (!w->exhaustive && p->has_face && w->gate_cos > -1) {
			scan_block_gated(w, b, m);
			return;
		}
		if (!w->exhaustive && fast && w->gate_cos > -1) {
			/* no face to gate by: every entry through gated_entry, which looks at
			 * the irises quickly before comparing them in full */
			for (j = 0; j < m; j++)
				gated_entry(w, b + j, 0, 0);
			w->scanned += m;
			return;
		}
		if (!w->exhaustive && !fast && w->fq != NULL) {
			scan_block_findex(w, b, m);
			return;
		}
		if (w->exhaustive || !fast) {
			for (j = 0; j < m; j++)
				confirm(w, b + j);
			return;
		}
		if (p->has_face)
			face_scan(
				&p->face, g->face + b * BIO_FACE_DIM, g->face_inv + b, m, w->fbuf);
		for (e = 0; e < 2; e++)
			if (p->iris[e] != NULL)
				iris_scan(p->iris[e], g->iris + b * ENTRY_IRIS + e * IRIS_REC,
					ENTRY_IRIS, m, w->ibuf[e]);
		for (j = 0; j < m; j++) {
			double ev = 0;
			int common = 0;

			if (p->has_face && g->face_inv[b + j] != 0) {
				ev += match_face_ev(w->fbuf[j]);
				common = 1;
			}
			for (e = 0; e < 2; e++)
				if (p->iris[e] != NULL && w->ibuf[e][j] >= 0) {
					ev += match_iris_ev(w->ibuf[e][j]);
					common = 1;
				}
			if (common)
				topk_keep(w->cand, &w->ncand, w->k, ev, b + j);
			else
				confirm(w, b + j); /* nothing fast in common: fingers decide */
		}
		w->scanned += m;
	}
}

static void
probe_free(struct probe *p)
{
	int e;

	match_template_free(p->tmpl);
	for (e = 0; e < 2; e++)
		if (p->iris[e] != NULL) {
			sodium_memzero(p->iris[e], sizeof(*p->iris[e]));
			free(p->iris[e]);
		}
	sodium_memzero(p, sizeof(*p));
}

/* The finger descriptors of a finger-only probe; p->findex stays 0 when one cannot be used. */
static void
probe_findex(struct probe *p)
{
	int v, k, pos;

	for (v = 0; v < finger_template_n_views(p->view.finger); v++) {
		pos = finger_template_view_pos(p->view.finger, v);
		if (pos < 1 || pos > FINDEX_POSITIONS)
			return; /* may be any finger: every entry is compared in full */
	}
	findex_describe(p->view.finger, p->fd, p->fn);
	for (k = 0; k < FINDEX_POSITIONS; k++)
		p->findex |= p->fn[k] > 0;
}

/* Prepares the scan for a probe template t (borrowed: it must outlive the probe). */
static int
probe_init_tmpl(struct probe *p, const struct match_template *t)
{
	int e;

	p->src = t;
	match_template_view(t, &p->view);
	if (p->view.face_q != NULL) {
		memcpy(p->face.q, p->view.face_q, BIO_FACE_DIM);
		p->face.inv_norm = p->view.face_inv_norm;
		p->has_face = 1;
		face_sketch(p->face.q, p->fsk);
	}
	for (e = 0; e < 2; e++) {
		if (p->view.iris[e] == NULL)
			continue;
		if ((p->iris[e] = aligned_alloc(64, sizeof(struct iris_probe))) == NULL)
			return PASO_E_NOMEM;
		iris_probe_init(p->iris[e], p->view.iris[e], p->view.iris[e] + BIO_IRIS_BYTES);
		p->view.iris_probe[e] = p->iris[e]; /* every comparison of this search uses it */
	}
	if (p->view.finger != NULL && !p->has_face && p->iris[0] == NULL && p->iris[1] == NULL)
		probe_findex(p);
	return 0;
}

static int
probe_init(struct probe *p, const struct bio_sample *s)
{
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = match_template_new(s, &p->tmpl, NULL)) != 0)
		return r;
	return probe_init_tmpl(p, p->tmpl);
}

/* Candidates compared in full for probe p: the caller's choice, else by the probe's kind. */
static size_t
probe_k(const struct probe *p, const struct gallery_opts *opts, size_t k)
{
	if ((opts != NULL && opts->candidates != 0) || !p->findex ||
		(opts != NULL && opts->exhaustive))
		return k;
	return GALLERY_FINGER_CANDIDATES;
}

/*
 * The confirmation stage of a pass: for each probe, its workers' candidates merged, the best
 * compared in full (confirm_all), its result. Probes are independent of each other, so the
 * gallery's threads take them in turn: a probe's result is the same whichever thread confirms it
 * (a full comparison opens fingers from the store at about 1 ms each; one thread confirming
 * every probe of a pass in a row left the other cores idle).
 */
struct confirm_stage {
	struct gallery *g;
	struct worker *w; /* w[t * np + q]: probe q's worker on scan part t */
	unsigned nt;      /* scan parts */
	size_t np;
	const double *fmr;
	struct gallery_hit *best;
	int *found;
	size_t next; /* the next probe to take (atomic) */
};

struct confirm_thread {
	struct confirm_stage *cs;
	struct topk_cand *all; /* nt * MAX_CAND, this thread's */
};

static void
confirm_probe(struct confirm_stage *cs, size_t q, struct topk_cand *all)
{
	struct worker *w = cs->w;
	size_t nall = 0, i, j, np = cs->np;
	unsigned t;

	/* the best candidates of all workers, then each compared in full */
	for (t = 0; t < cs->nt; t++)
		for (i = 0; i < w[t * np + q].ncand; i++)
			all[nall++] = w[t * np + q].cand[i];
	for (i = 1; i < nall; i++)
		for (j = i; j > 0 && all[j - 1].ev < all[j].ev; j--) {
			struct topk_cand c = all[j];

			all[j] = all[j - 1];
			all[j - 1] = c;
		}
	confirm_all(cs->g, &w[q], all, nall < w[q].k ? nall : w[q].k);
	for (t = 0; t < cs->nt; t++) {
		const struct worker *x = &w[t * np + q];

		if (x->have_best && (!cs->best[q].scores.modalities ||
					    better(&x->best.scores, &cs->best[q].scores)))
			cs->best[q] = x->best;
	}
	cs->found[q] = match_decide(&cs->best[q].scores, cs->fmr[q]);
}

static void *
confirm_probes(void *arg)
{
	struct confirm_thread *ct = arg;
	size_t q;

	while ((q = __atomic_fetch_add(&ct->cs->next, 1, __ATOMIC_RELAXED)) < ct->cs->np)
		confirm_probe(ct->cs, q, ct->all);
	return NULL;
}

/*
 * The scan and confirmation for np prepared probes pp[q] (owned by the caller) in one pass over
 * the gallery: best[q], found[q], and stats (summed over the probes; may be NULL).
 */
static int
identify_many(struct gallery *g, const struct probe *const *pp, const double *fmr, size_t np,
	const struct gallery_opts *opts, struct gallery_hit *best, int *found,
	struct gallery_stats *stats)
{
	struct worker *w = NULL;
	struct topk_cand *all = NULL;
	struct findex_query **fq = NULL;
	struct confirm_stage cs;
	struct confirm_thread ct[64];
	struct pass ps[64];
	pthread_t tid[64];
	unsigned nt = 0, nj, ncf = 1, t, started = 0;
	size_t k, i, q, lo, hi;
	double gate_ev;
	float gate_cos = -2;
	long share;
	size_t keep = 0;
	int r;

	for (q = 0; q < np; q++) {
		memset(&best[q], 0, sizeof(best[q]));
		found[q] = 0;
	}
	if (stats != NULL)
		memset(stats, 0, sizeof(*stats));
	if (g->n == 0 || np == 0) {
		r = 0;
		goto out;
	}
	k = opts != NULL && opts->candidates != 0 ? opts->candidates : GALLERY_CANDIDATES;
	if (k > MAX_CAND)
		k = MAX_CAND;
	/* A large gallery is scanned face first (gallery.h: GALLERY_GATE_MIN). */
	gate_ev = opts != NULL && opts->gate_face_ev != 0 ? opts->gate_face_ev : GALLERY_GATE_EV;
	if (g->n >= GALLERY_GATE_MIN && gate_ev > 0)
		gate_cos = topk_face_gate_cos(match_face_ev, gate_ev);
	/* ... and by face sketch first (gallery.h: GALLERY_SKETCH_MIN) */
	share = opts != NULL && opts->sketch_share != 0 ? opts->sketch_share
		: g->sketch_share != 0                  ? g->sketch_share
							: GALLERY_SKETCH_SHARE;
	if (g->n >= GALLERY_SKETCH_MIN && gate_cos > -1 && share > 0 &&
		(opts == NULL || !opts->exhaustive)) {
		keep = g->n / (size_t)share;
		if (keep < 4 * k)
			keep = 4 * k;
	}
	nt = g->n >= PARALLEL_MIN ? g->threads : 1;
	if (np > 1 && g->threads > 1)
		ncf = g->threads < np ? g->threads : (unsigned)np;
	if ((w = calloc(nt * np, sizeof(*w))) == NULL ||
		(all = calloc((size_t)ncf * nt * MAX_CAND, sizeof(*all))) == NULL ||
		(fq = calloc(np, sizeof(*fq))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	/* A finger-only probe's descriptors, weighted by the gallery's bit frequencies. */
	for (q = 0; q < np; q++) {
		if (!pp[q]->findex || (opts != NULL && opts->exhaustive))
			continue;
		if ((fq[q] = malloc(sizeof(*fq[q]))) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
		findex_query_make(g->fstats, pp[q]->fd, pp[q]->fn, fq[q]);
	}
	for (t = 0; t < nt; t++) {
		/* block-aligned split keeps SIMD rows on their 64-byte alignment */
		lo = (g->n * t / nt) / 64 * 64;
		hi = t + 1 == nt ? g->n : (g->n * (t + 1) / nt) / 64 * 64;
		for (q = 0; q < np; q++) {
			struct worker *x = &w[t * np + q];

			x->g = g;
			x->p = pp[q];
			x->lo = lo;
			x->hi = hi;
			x->k = probe_k(pp[q], opts, k);
			x->fq = fq[q];
			x->exhaustive = opts != NULL && opts->exhaustive;
			x->fingers_always = opts != NULL && opts->fingers_always;
			x->thr = match_threshold(fmr[q]);
			x->gate_cos = gate_cos;
			x->gate_ev = gate_ev;
			x->reject_cos = -2;
			if (keep == 0 || !pp[q]->has_face)
				continue;
			x->sketch = 1;
			x->keep_n = keep * (hi - lo) / g->n + 1;
			x->keepcap = 2 * x->keep_n + BLOCK;
			x->hthr = BIO_FACE_DIM;
			x->kidx = malloc(x->keepcap * sizeof(*x->kidx));
			x->kham = malloc(x->keepcap * sizeof(*x->kham));
			x->kcos = malloc(x->keepcap * sizeof(*x->kcos));
			if (x->kidx == NULL || x->kham == NULL || x->kcos == NULL) {
				r = PASO_E_NOMEM;
				goto out;
			}
		}
		ps[t].w = &w[t * np];
		ps[t].np = np;
	}
	/* A gallery too small to split (one part) is shared out by probe instead: each probe's
	 * scan is the same, whichever thread makes it and with whichever other probes. */
	nj = nt;
	if (nt == 1 && ncf > 1) {
		nj = ncf;
		for (t = 0; t < nj; t++) {
			ps[t].w = &w[np * t / nj];
			ps[t].np = np * (t + 1) / nj - np * t / nj;
		}
	}
	for (t = 1; t < nj; t++) {
		if (pthread_create(&tid[t], NULL, scan_pass, &ps[t]) != 0)
			break;
		started = t;
	}
	scan_pass(&ps[0]);
	for (t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	for (t = started + 1; t < nj; t++)
		scan_pass(&ps[t]); /* thread creation failed: do its share here */
	cs = (struct confirm_stage){g, w, nt, np, fmr, best, found, 0};
	started = 0;
	for (t = 0; t < ncf; t++) {
		ct[t].cs = &cs;
		ct[t].all = all + (size_t)t * nt * MAX_CAND;
	}
	for (t = 1; t < ncf; t++) {
		if (pthread_create(&tid[t], NULL, confirm_probes, &ct[t]) != 0)
			break;
		started = t;
	}
	confirm_probes(&ct[0]); /* with no thread started it confirms every probe */
	for (t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	for (i = 0; stats != NULL && i < (size_t)nt * np; i++) {
		stats->scanned += w[i].scanned;
		stats->confirmed += w[i].confirmed;
	}
	r = 0;
out:
	free(all);
	for (q = 0; fq != NULL && q < np; q++)
		if (fq[q] != NULL) {
			sodium_memzero(fq[q], sizeof(*fq[q]));
			free(fq[q]);
		}
	free(fq);
	if (w != NULL) {
		for (i = 0; i < nt * np; i++) {
			if (w[i].kidx != NULL)
				sodium_memzero(w[i].kidx, w[i].keepcap * sizeof(*w[i].kidx));
			if (w[i].kham != NULL)
				sodium_memzero(w[i].kham, w[i].keepcap * sizeof(*w[i].kham));
			if (w[i].kcos != NULL)
				sodium_memzero(w[i].kcos, w[i].keepcap * sizeof(*w[i].kcos));
			free(w[i].kidx);
			free(w[i].kham);
			free(w[i].kcos);
		}
		sodium_memzero(w, nt * np * sizeof(*w));
		free(w);
	}
	return r;
}

static int
identify(struct gallery *g, const struct probe *pp, double fmr, const struct gallery_opts *opts,
	struct gallery_hit *best, int *found, struct gallery_stats *stats)
{
	return identify_many(g, &pp, &fmr, 1, opts, best, found, stats);
}

/* One batched pass, on a thread of its own at the gallery's pass niceness (gallery.h). */
struct pass_job {
	struct gallery *g;
	const struct probe *const *pp;
	const double *fmr;
	size_t np;
	struct gallery_hit *best;
	int *found;
	int nice, r;
};

static void *
pass_run(void *arg)
{
	struct pass_job *j = arg;

	/* Lowering a thread's own priority needs no privilege; the scan and comparison
	 * threads it starts inherit it. On failure the pass runs as it is. */
	if (j->nice > 0)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), j->nice);
	rdlock(j->g);
	j->r = identify_many(j->g, j->pp, j->fmr, j->np, NULL, j->best, j->found, NULL);
	unlock(j->g);
	return NULL;
}

static int
pass(struct gallery *g, const struct probe *const *pp, const double *fmr, size_t np,
	struct gallery_hit *best, int *found, int nice)
{
	struct pass_job j = {g, pp, fmr, np, best, found, nice, 0};
	pthread_t th;

	if (nice <= 0 || pthread_create(&th, NULL, pass_run, &j) != 0) {
		j.nice = 0;
		pass_run(&j);
	} else
		pthread_join(th, NULL);
	return j.r;
}

/*
 * A search through the pass queue (gallery_identify_batched): if no pass is running this caller runs one for every search
 * waiting (up to GALLERY_PASS_MAX), else it waits for a pass that takes it. Under a stream of
 * concurrent searches (enrolments deduplicated on many connection threads) the gallery is then
 * read once per pass instead of once per search; a lone search runs at once, alone.
 */
static int
identify_queued(
	struct gallery *g, const struct probe *pp, double fmr, struct gallery_hit *best, int *found)
{
	struct pending me = {pp, fmr, best, found, 0, 0, NULL}, *take[GALLERY_PASS_MAX], **pq;
	const struct probe *probes[GALLERY_PASS_MAX];
	struct gallery_hit hits[GALLERY_PASS_MAX];
	double fmrs[GALLERY_PASS_MAX];
	int founds[GALLERY_PASS_MAX];
	size_t n, q, len;
	int r, held_back = 0, nice;

	pthread_mutex_lock(&g->pass_mu);
	me.next = g->queue;
	g->queue = &me;
	while (!me.done) {
		if (g->pass_busy) {
			pthread_cond_wait(&g->pass_cv, &g->pass_mu);
			continue;
		}
		/* A move waits for the gallery (gallery_move_all_try): let it in first, for a
		 * while at most (it is retried on its own schedule). */
		if (g->move_wanted && !held_back) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += PASS_HOLD_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			held_back = 1;
			while (g->move_wanted && !g->pass_busy &&
				pthread_cond_timedwait(&g->pass_cv, &g->pass_mu, &ts) == 0)
				;
			continue;
		}
		/* Run a pass for the oldest waiting searches (the queue is newest first). */
		g->pass_busy = 1;
		nice = g->pass_nice;
		for (len = 0, pq = &g->queue; *pq != NULL; pq = &(*pq)->next)
			len++;
		n = len < GALLERY_PASS_MAX ? len : GALLERY_PASS_MAX;
		for (q = 0, pq = &g->queue; q < len - n; q++)
			pq = &(*pq)->next; /* newer than the n oldest: left for the next pass */
		for (q = 0; *pq != NULL; q++) {
			take[q] = *pq;
			*pq = (*pq)->next;
		}
		pthread_mutex_unlock(&g->pass_mu);
		for (q = 0; q < n; q++) {
			probes[q] = take[q]->p;
			fmrs[q] = take[q]->fmr;
		}
		r = pass(g, probes, fmrs, n, hits, founds, nice);
		pthread_mutex_lock(&g->pass_mu);
		for (q = 0; q < n; q++) {
			*take[q]->best = hits[q];
			*take[q]->found = founds[q];
			take[q]->r = r;
			take[q]->done = 1;
		}
		g->pass_busy = 0;
		pthread_cond_broadcast(&g->pass_cv);
	}
	pthread_mutex_unlock(&g->pass_mu);
	sodium_memzero(hits, sizeof(hits));
	return me.r;
}

int
gallery_identify_ex(struct gallery *g, const struct bio_sample *probe, double fmr,
	const struct gallery_opts *opts, struct gallery_hit *best, int *found,
	struct gallery_stats *stats)
{
	struct probe p;
	int r;

	memset(best, 0, sizeof(*best));
	*found = 0;
	if ((r = probe_init(&p, probe)) == 0) {
		rdlock(g);
		r = identify(g, &p, fmr, opts, best, found, stats);
		unlock(g);
	}
	probe_free(&p);
	return r;
}

int
gallery_identify_tmpl(struct gallery *g, const struct match_template *probe, double fmr,
	struct gallery_hit *best, int *found)
{
	struct probe p;
	int r;

	memset(&p, 0, sizeof(p));
	memset(best, 0, sizeof(*best));
	*found = 0;
	if ((r = probe_init_tmpl(&p, probe)) == 0) {
		rdlock(g);
		r = identify(g, &p, fmr, NULL, best, found, NULL);
		unlock(g);
	}
	probe_free(&p); /* p.tmpl is NULL: the caller keeps its template */
	return r;
}

int
gallery_identify_batched(struct gallery *g, const struct match_template *probe, double fmr,
	struct gallery_hit *best, int *found)
{
	struct probe p;
	int r;

	memset(&p, 0, sizeof(p));
	memset(best, 0, sizeof(*best));
	*found = 0;
	if ((r = probe_init_tmpl(&p, probe)) == 0)
		r = identify_queued(g, &p, fmr, best, found);
	probe_free(&p); /* p.tmpl is NULL: the caller keeps its template */
	return r;
}

/*
 * The two stages of a search over chosen entries only: face and iris evidence for each, the
 * best GALLERY_CANDIDATES (and every entry with nothing fast in common) compared in full.
 */
static void
scan_some(struct worker *w, const size_t *idx, size_t n)
{
	const struct probe *p = w->p;
	struct gallery *g = w->g;
	int fast = p->has_face || p->iris[0] != NULL || p->iris[1] != NULL;
	float fs, is[2];
	size_t j, i;
	int e;

	for (j = 0; j < n; j++) {
		double ev = 0;
		int common = 0;

		i = idx[j];
		if (!fast) {
			confirm(w, i);
			continue;
		}
		if (p->has_face && g->face_inv[i] != 0) {
			face_scan(&p->face, g->face + i * BIO_FACE_DIM, g->face_inv + i, 1, &fs);
			ev += match_face_ev(fs);
			common = 1;
		}
		for (e = 0; e < 2; e++)
			if (p->iris[e] != NULL && g->iris_ok[2 * i + e]) {
				iris_scan(p->iris[e], g->iris + i * ENTRY_IRIS + e * IRIS_REC,
					ENTRY_IRIS, 1, &is[e]);
				if (is[e] >= 0) {
					ev += match_iris_ev(is[e]);
					common = 1;
				}
			}
		if (common)
			topk_keep(w->cand, &w->ncand, w->k, ev, i);
		else
			confirm(w, i);
		w->scanned++;
	}
}

int
gallery_identify_since_tmpl(struct gallery *g, const struct match_template *probe, double fmr,
	uint64_t after, struct gallery_hit *best, int *found)
{
	struct worker *w = NULL;
	struct probe p;
	size_t i, n = 0, *idx = NULL;
	uint64_t sq;
	int r, ring;

	memset(&p, 0, sizeof(p));
	memset(best, 0, sizeof(*best));
	*found = 0;
	if ((r = probe_init_tmpl(&p, probe)) != 0)
		goto out;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	w->g = g;
	w->p = &p;
	/* A person enrolled moments ago ranks at the top by face and iris: fewer full
	 * comparisons than a whole-gallery search keeps this cheap for the caller's loop. */
	w->k = GALLERY_SINCE_CANDIDATES;
	w->thr = match_threshold(fmr);
	rdlock(g);
	/* Additions since a search are few: find them, then search them as identify does. The
	 * latest are found by id from the ring of additions (an entry removed since is not
	 * found, or found under a later number); older ones by every entry's number. */
	ring = g->next_seq - after <= ADDED_RING;
	if (g->next_seq > after &&
		(idx = malloc((ring ? g->next_seq - after : g->n) * sizeof(*idx) + 1)) == NULL) {
		unlock(g);
		r = PASO_E_NOMEM;
		goto out;
	}
	if (idx != NULL && ring) {
		for (sq = after + 1; sq <= g->next_seq && g->nslots > 0; sq++) {
			size_t sl = slot_find(g, g->added[sq % ADDED_RING]);

			if (g->slots[sl] != 0 && g->seq[g->slots[sl] - 1] == sq)
				idx[n++] = g->slots[sl] - 1;
		}
	} else
		for (i = 0; idx != NULL && i < g->n; i++)
			if (g->seq[i] > after)
				idx[n++] = i;
	scan_some(w, idx, n);
	confirm_all(g, w, w->cand, w->ncand);
	unlock(g);
	if (w->have_best) {
		*best = w->best;
		*found = match_decide(&best->scores, fmr);
	}
	r = 0;
out:
	free(idx);
	probe_free(&p);
	if (w != NULL) {
		sodium_memzero(w, sizeof(*w));
		free(w);
	}
	return r;
}

int
gallery_identify(struct gallery *g, const struct bio_sample *probe, double fmr,
	struct gallery_hit *best, int *found)
{
	return gallery_identify_ex(g, probe, fmr, NULL, best, found, NULL);
}
