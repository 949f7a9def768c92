/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's protection keys by generation, and protected references in their sealed form. */
#include "protref.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PROTREF_MAX_KEYS 16 /* generations held in memory at once (renewals in progress) */

struct protref_keys {
	struct keyring *kr;
	pthread_rwlock_t lock;
	uint32_t current; /* 0: not loaded yet */
	size_t n;
	uint32_t gen[PROTREF_MAX_KEYS];
	struct protect_key *key[PROTREF_MAX_KEYS];
};

int
protref_keys_new(struct keyring *kr, struct protref_keys **out)
{
	struct protref_keys *ks;

	*out = NULL;
	if ((ks = calloc(1, sizeof(*ks))) == NULL)
		return PASO_E_NOMEM;
	if (pthread_rwlock_init(&ks->lock, NULL) != 0) {
		free(ks);
		return PASO_E_NOMEM;
	}
	ks->kr = kr;
	*out = ks;
	return 0;
}

void
protref_keys_free(struct protref_keys *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++)
		protect_key_free(ks->key[i]);
	pthread_rwlock_destroy(&ks->lock);
	free(ks);
}

unsigned
protref_policy_mask(const struct policy *p)
{
	static const struct {
		enum policy_modality m;
		unsigned bit;
	} mods[] = {{POLICY_FINGER, BIO_FINGER}, {POLICY_FACE, BIO_FACE}, {POLICY_IRIS, BIO_IRIS}};
	unsigned mask = 0;
	size_t i;

	if (!policy_store_at_hub(p))
		return 0;
	for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++)
		if (policy_store_allowed(p, mods[i].m) && policy_protect(p, mods[i].m))
			mask |= mods[i].bit;
	return mask;
}

/* The expanded key of gen, or -1 (lock held). */
static long
find_locked(const struct protref_keys *ks, uint32_t gen)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (ks->gen[i] == gen)
			return (long)i;
	return -1;
}

/* Loads gen (KEYRING_PROTECT_CURRENT: the current one) into the set (write lock held). */
static int
load_locked(struct protref_keys *ks, uint32_t gen, long *idx)
{
	uint8_t key[KEYRING_PROTECT_KEY_BYTES];
	struct protect_key *k = NULL;
	uint32_t got = 0;
	int r;

	if (gen != KEYRING_PROTECT_CURRENT && (*idx = find_locked(ks, gen)) >= 0)
		return 0;
	if ((r = keyring_protect_key(ks->kr, gen, "hub", key, &got)) != 0)
		goto out;
	if (gen == KEYRING_PROTECT_CURRENT)
		ks->current = got;
	if ((*idx = find_locked(ks, got)) >= 0)
		goto out;
	if (ks->n == PROTREF_MAX_KEYS) {
		r = PASO_E_NOMEM; /* more renewals in progress than a deployment should have */
		goto out;
	}
	if ((r = protect_key_new(key, &k)) != 0)
		goto out;
	ks->gen[ks->n] = got;
	ks->key[ks->n] = k;
	*idx = (long)ks->n++;
out:
	sodium_memzero(key, sizeof(key));
	return r;
}

int
protref_current(struct protref_keys *ks, uint32_t *gen)
{
	long idx;
	int r = 0;

	pthread_rwlock_rdlock(&ks->lock);
	*gen = ks->current;
	pthread_rwlock_unlock(&ks->lock);
	if (*gen != 0)
		return 0;
	pthread_rwlock_wrlock(&ks->lock);
	if (ks->current == 0)
		r = load_locked(ks, KEYRING_PROTECT_CURRENT, &idx);
	*gen = ks->current;
	pthread_rwlock_unlock(&ks->lock);
	return r;
}

int
protref_protect(struct protref_keys *ks, uint32_t gen, const struct bio_sample *s, unsigned mask,
	struct pref **out, struct paso_diag *d)
{
	long idx;
	int r;

	*out = NULL;
	if (gen == KEYRING_PROTECT_CURRENT && (r = protref_current(ks, &gen)) != 0)
		return r;
	pthread_rwlock_rdlock(&ks->lock);
	if ((idx = find_locked(ks, gen)) < 0) {
		/* an older generation not used since the start: load it */
		pthread_rwlock_unlock(&ks->lock);
		pthread_rwlock_wrlock(&ks->lock);
		if ((r = load_locked(ks, gen, &idx)) != 0) {
			pthread_rwlock_unlock(&ks->lock);
			return r;
		}
	}
	r = pref_new(ks->key[idx], gen, s, mask, out, d);
	pthread_rwlock_unlock(&ks->lock);
	return r;
}

int
protref_protect_for(struct protref_keys *ks, const char *holder, const struct bio_sample *s,
	unsigned mask, struct pref **out, struct paso_diag *d)
{
	uint8_t key[KEYRING_PROTECT_KEY_BYTES];
	struct protect_key *k = NULL;
	uint32_t gen = 0;
	int r;

	*out = NULL;
	/* not cached: made once per enrolment and partner, off the commit loop */
	if ((r = keyring_protect_key(ks->kr, KEYRING_PROTECT_CURRENT, holder, key, &gen)) != 0 ||
		(r = protect_key_new(key, &k)) != 0)
		goto out;
	r = pref_new(k, gen, s, mask, out, d);
out:
	sodium_memzero(key, sizeof(key));
	protect_key_free(k);
	return r;
}

int
protref_rotate(struct protref_keys *ks, uint32_t *gen)
{
	long idx;
	int r;

	pthread_rwlock_wrlock(&ks->lock);
	if ((r = keyring_rotate_epoch(ks->kr, KEYRING_PROTECT_EPOCH, gen)) == 0)
		r = load_locked(ks, KEYRING_PROTECT_CURRENT, &idx);
	pthread_rwlock_unlock(&ks->lock);
	return r;
}

int
protref_forget_below(struct protref_keys *ks, uint32_t gen, size_t *count)
{
	size_t i, j;
	int r;

	pthread_rwlock_wrlock(&ks->lock);
	for (i = j = 0; i < ks->n; i++) {
		if (ks->gen[i] < gen) {
			protect_key_free(ks->key[i]); /* wipes the expanded key */
			continue;
		}
		ks->gen[j] = ks->gen[i];
		ks->key[j++] = ks->key[i];
	}
	ks->n = j;
	r = keyring_shred_epoch(ks->kr, KEYRING_PROTECT_EPOCH, gen, count);
	pthread_rwlock_unlock(&ks->lock);
	return r;
}

/* --- the sealed form --------------------------------------------------------------------------- */

#define IRIS_FILTER_BYTES (PROTECT_IRIS_BLOCKS * 32)
#define CYL_BYTES (PROTECT_FINGER_WORDS * 8)

int
protref_to_pb(const struct pref *r, struct protref_pb *out)
{
	Paso__ProtectedTemplates init = PASO__PROTECTED_TEMPLATES__INIT;
	Paso__ProtectedIris iinit = PASO__PROTECTED_IRIS__INIT;
	Paso__ProtectedFingerView finit = PASO__PROTECTED_FINGER_VIEW__INIT;
	size_t len = BIO_FACE_DIM + 2 * (PROTECT_IRIS_BLOCKS + IRIS_FILTER_BYTES), off = 0;
	int e, v, c, w;
	uint8_t *p;

	memset(out, 0, sizeof(*out));
	out->pt = init;
	if (r->finger != NULL)
		for (v = 0; v < r->finger->n_views && v < 10; v++)
			len += (size_t)r->finger->v[v].n * CYL_BYTES;
	if ((out->buf = malloc(len)) == NULL)
		return PASO_E_NOMEM;
	out->len = len;
	p = out->buf;
	out->pt.generation = r->gen;
	if (r->has_face) {
		memcpy(p + off, r->face.q, BIO_FACE_DIM);
		out->pt.face.data = p + off;
		out->pt.face.len = BIO_FACE_DIM;
		out->pt.face_scale = r->face.scale;
		out->pt.face_inv_norm = r->face.inv_norm;
		off += BIO_FACE_DIM;
	}
	for (e = 0; e < 2; e++) {
		Paso__ProtectedIris *pi = &out->iris[out->pt.n_iris];

		if (r->iris[e].eye == 0)
			continue;
		*pi = iinit;
		pi->eye = r->iris[e].eye;
		memcpy(p + off, r->iris[e].words, PROTECT_IRIS_BLOCKS);
		pi->words.data = p + off;
		pi->words.len = PROTECT_IRIS_BLOCKS;
		off += PROTECT_IRIS_BLOCKS;
		memcpy(p + off, r->iris[e].bf, IRIS_FILTER_BYTES);
		pi->filters.data = p + off;
		pi->filters.len = IRIS_FILTER_BYTES;
		off += IRIS_FILTER_BYTES;
		out->iris_p[out->pt.n_iris++] = pi;
	}
	out->pt.iris = out->iris_p;
	for (v = 0; r->finger != NULL && v < r->finger->n_views && v < 10; v++) {
		const struct protect_finger_view *fv = &r->finger->v[v];
		Paso__ProtectedFingerView *pv = &out->fv[v];

		*pv = finit;
		pv->position = fv->pos;
		pv->cylinders.data = p + off;
		pv->cylinders.len = (size_t)fv->n * CYL_BYTES;
		/* little-endian words, whatever the host */
		for (c = 0; c < fv->n; c++)
			for (w = 0; w < PROTECT_FINGER_WORDS; w++) {
				int b;

				for (b = 0; b < 8; b++)
					p[off++] = (uint8_t)(fv->c[c][w] >> (8 * b));
			}
		out->fv_p[v] = pv;
		out->pt.n_finger++;
	}
	out->pt.finger = out->fv_p;
	return 0;
}

void
protref_pb_clear(struct protref_pb *pb)
{
	if (pb->buf != NULL) {
		sodium_memzero(pb->buf, pb->len);
		free(pb->buf);
	}
	memset(pb, 0, sizeof(*pb));
}

static int
finger_from_pb(const Paso__ProtectedTemplates *pt, struct protect_finger **out, struct paso_diag *d)
{
	struct protect_finger *f = NULL;
	size_t v, c;
	int w, b, r;

	*out = NULL;
	if (pt->n_finger == 0)
		return 0;
	if (pt->n_finger > 10)
		return paso_diag_set(d, PASO_E_CORRUPT,
			"protected_templates.finger: %zu views, at most 10", pt->n_finger);
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return PASO_E_NOMEM;
	for (v = 0; v < pt->n_finger; v++) {
		const Paso__ProtectedFingerView *pv = pt->finger[v];
		const uint8_t *p = pv->cylinders.data;
		size_t n = pv->cylinders.len / CYL_BYTES;

		if (pv->cylinders.len % CYL_BYTES != 0 || n > PROTECT_FINGER_MAX_CYL ||
			pv->position > 10) {
			r = paso_diag_set(d, PASO_E_CORRUPT,
				"protected_templates.finger[%zu]: %zu cylinder bytes, position %u",
				v, pv->cylinders.len, pv->position);
			goto fail;
		}
		f->v[v].pos = (uint8_t)pv->position;
		f->v[v].n = (uint16_t)n;
		for (c = 0; c < n; c++)
			for (w = 0; w < PROTECT_FINGER_WORDS; w++) {
				uint64_t x = 0;

				for (b = 0; b < 8; b++)
					x |= (uint64_t)*p++ << (8 * b);
				f->v[v].c[c][w] = x;
			}
	}
	f->n_views = (int)pt->n_finger;
	*out = f;
	return 0;
fail:
	sodium_memzero(f, sizeof(*f));
	free(f);
	return r;
}

int
protref_finger_from_pb(
	const Paso__ProtectedTemplates *pt, struct protect_finger **out, struct paso_diag *d)
{
	return finger_from_pb(pt, out, d);
}

int
protref_from_pb(const Paso__ProtectedTemplates *pt, struct pref **out, struct paso_diag *d)
{
	struct pref *r = NULL;
	size_t size = (sizeof(*r) + 63) / 64 * 64, i;
	int e, rc;

	*out = NULL;
	if ((r = aligned_alloc(64, size)) == NULL)
		return PASO_E_NOMEM;
	memset(r, 0, size);
	r->gen = pt->generation;
	if (pt->face.len != 0) {
		if (pt->face.len != BIO_FACE_DIM) {
			rc = paso_diag_set(d, PASO_E_CORRUPT,
				"protected_templates.face: %zu bytes, expected %d", pt->face.len,
				BIO_FACE_DIM);
			goto out;
		}
		memcpy(r->face.q, pt->face.data, BIO_FACE_DIM);
		r->face.scale = pt->face_scale;
		r->face.inv_norm = pt->face_inv_norm;
		r->has_face = 1;
	}
	for (i = 0; i < pt->n_iris; i++) {
		const Paso__ProtectedIris *pi = pt->iris[i];

		e = pi->eye == PASO__EYE__EYE_RIGHT ? 0 : pi->eye == PASO__EYE__EYE_LEFT ? 1 : -1;
		if (i >= 2 || e < 0 || r->iris[e].eye != 0 ||
			pi->words.len != PROTECT_IRIS_BLOCKS ||
			pi->filters.len != IRIS_FILTER_BYTES) {
			rc = paso_diag_set(d, PASO_E_CORRUPT,
				"protected_templates.iris[%zu]: bad eye or size", i);
			goto out;
		}
		r->iris[e].eye = (uint8_t)pi->eye;
		memcpy(r->iris[e].words, pi->words.data, PROTECT_IRIS_BLOCKS);
		memcpy(r->iris[e].bf, pi->filters.data, IRIS_FILTER_BYTES);
	}
	if ((rc = finger_from_pb(pt, &r->finger, d)) != 0)
		goto out;
	*out = r;
	r = NULL;
	rc = 0;
out:
	pref_free(r);
	return rc;
}
