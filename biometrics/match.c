/* SPDX-License-Identifier: Apache-2.0 */
/* 1:1 comparison across modalities and their fusion into one false-match-rate statement. */
#include "match.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "errors.h"
#include "face.h"
#include "iris.h"
#include "match_calib.h"

struct match_template {
	_Alignas(64) uint8_t iris[2][2 * BIO_IRIS_BYTES];
	struct face_q face;
	int has_face;
	int has_iris[2];
	struct finger_template *finger;
	/* A deferred finger part (match_template_new_deferred): built from defer on first need,
	 * under mu; finger is then read and written atomically. */
	const struct bio_sample *defer;
	int has_mu;
	pthread_mutex_t mu;
};

int
match_template_new(const struct bio_sample *s, struct match_template **out, struct paso_diag *d)
{
	return match_template_new_ex(s, MATCH_FINGER | MATCH_FACE | MATCH_IRIS, out, d);
}

int
match_template_add_finger(struct match_template *t, const struct bio_sample *s, struct paso_diag *d)
{
	if (t->finger != NULL || s->finger_record == NULL || s->finger_len == 0)
		return 0;
	return finger_template_from_record(s->finger_record, s->finger_len, &t->finger, d);
}

int
match_template_new_ex(const struct bio_sample *s, unsigned modalities, struct match_template **out,
	struct paso_diag *d)
{
	struct match_template *t = NULL;
	size_t size = (sizeof(*t) + 63) / 64 * 64;
	int i, e, r;

	*out = NULL;
	if (s->n_iris < 0 || s->n_iris > 2) {
		r = paso_diag_set(d, PASO_E_FIELD_RANGE, "sample: %d irises, at most 2", s->n_iris);
		goto out;
	}
	if ((t = aligned_alloc(64, size)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	memset(t, 0, size);
	if ((modalities & MATCH_FINGER) && s->finger_record != NULL && s->finger_len > 0 &&
		(r = finger_template_from_record(s->finger_record, s->finger_len, &t->finger, d)) !=
			0)
		goto out;
	if (s->has_face) {
		if ((r = face_quantize(s->face, &t->face, d)) != 0)
			goto out;
		t->has_face = 1;
	}
	for (i = 0; i < s->n_iris; i++) {
		e = s->iris[i].eye == BIO_EYE_RIGHT ? 0 : s->iris[i].eye == BIO_EYE_LEFT ? 1 : -1;
		if (e < 0 || t->has_iris[e]) {
			r = paso_diag_set(d, PASO_E_FIELD_RANGE, "iris[%d].eye: %s %u", i,
				e < 0 ? "not RIGHT or LEFT:" : "repeated eye",
				(unsigned)s->iris[i].eye);
			goto out;
		}
		memcpy(t->iris[e], s->iris[i].code, BIO_IRIS_BYTES);
		memcpy(t->iris[e] + BIO_IRIS_BYTES, s->iris[i].mask, BIO_IRIS_BYTES);
		t->has_iris[e] = 1;
	}
	*out = t;
	t = NULL;
	r = 0;
out:
	match_template_free(t);
	return r;
}

int
match_template_new_deferred(
	const struct bio_sample *s, struct match_template **out, struct paso_diag *d)
{
	struct match_template *t = NULL;
	int r;

	if ((r = match_template_new_ex(s, MATCH_FACE | MATCH_IRIS, &t, d)) != 0)
		return r;
	if (s->finger_record != NULL && s->finger_len > 0) {
		if (pthread_mutex_init(&t->mu, NULL) != 0) {
			match_template_free(t);
			return PASO_E_NOMEM;
		}
		t->has_mu = 1;
		t->defer = s;
	}
	*out = t;
	return 0;
}

int
match_template_has_finger(const struct match_template *t)
{
	return __atomic_load_n(&t->finger, __ATOMIC_ACQUIRE) != NULL || t->defer != NULL;
}

int
match_template_deferred(const struct match_template *t)
{
	return t->defer != NULL && __atomic_load_n(&t->finger, __ATOMIC_ACQUIRE) == NULL;
}

const struct finger_template *
match_template_finger(const struct match_template *t)
{
	/* the deferred part is a cache of what the sample holds: building it does not change
	 * what the template is, so a const template builds it */
	struct match_template *m = (struct match_template *)t;
	struct finger_template *f = __atomic_load_n(&t->finger, __ATOMIC_ACQUIRE);

	if (f != NULL || t->defer == NULL)
		return f;
	pthread_mutex_lock(&m->mu);
	if ((f = m->finger) == NULL && m->defer != NULL) {
		if (m->defer->finger_record == NULL ||
			finger_template_from_record(
				m->defer->finger_record, m->defer->finger_len, &f, NULL) != 0)
			f = NULL;
		m->defer = NULL; /* built (or failed) once: compared without fingers after */
		__atomic_store_n(&m->finger, f, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&m->mu);
	return f;
}

void
match_template_undefer(struct match_template *t)
{
	if (t->has_mu) {
		pthread_mutex_lock(&t->mu);
		t->defer = NULL;
		pthread_mutex_unlock(&t->mu);
	}
}

void
match_template_free(struct match_template *t)
{
	if (t == NULL)
		return;
	if (t->has_mu)
		pthread_mutex_destroy(&t->mu);
	finger_template_free(t->finger);
	sodium_memzero(t, sizeof(*t));
	free(t);
}

struct finger_template *
match_template_take_finger(struct match_template *t)
{
	struct finger_template *f = t->finger;

	t->finger = NULL;
	return f;
}

void
match_template_view(const struct match_template *t, struct match_view *v)
{
	int e;

	memset(v, 0, sizeof(*v));
	v->finger = __atomic_load_n(&t->finger, __ATOMIC_ACQUIRE);
	if (t->has_face) {
		v->face_q = t->face.q;
		v->face_inv_norm = t->face.inv_norm;
	}
	for (e = 0; e < 2; e++)
		v->iris[e] = t->has_iris[e] ? t->iris[e] : NULL;
}

/*
 * Where each table's segment search starts: for EV_GRID equal steps between the first and the
 * last score, the last point at or below the step's start. A search scores every entry it scans
 * (face first, irises past the gate), so the lookup is in its inner loop; a binary search over 30
 * points, with a branch it mispredicts half the time per step, was 14 % of a hub's user time at
 * 20,000 enrolled.
 */
#define EV_GRID 256
struct ev_index {
	double lo, per_step;
	uint8_t seg[EV_GRID + 1];
};
static struct ev_index face_index, iris_index;
_Static_assert(sizeof(face_calib) / sizeof(face_calib[0]) <= 256 &&
		       sizeof(iris_calib) / sizeof(iris_calib[0]) <= 256,
	"ev_index.seg holds a point's index in a byte");
static pthread_once_t ev_index_once = PTHREAD_ONCE_INIT;

static void
ev_index_build(const struct calib_point *tab, size_t n, struct ev_index *ix)
{
	size_t b, i = 0;
	double x;

	ix->lo = tab[0].score;
	ix->per_step = EV_GRID / (tab[n - 1].score - tab[0].score);
	for (b = 0; b <= EV_GRID; b++) {
		x = ix->lo + (double)b / ix->per_step;
		while (i + 2 < n && tab[i + 1].score <= x)
			i++;
		ix->seg[b] = (uint8_t)i;
	}
}

static void
ev_indexes_build(void)
{
	ev_index_build(face_calib, sizeof(face_calib) / sizeof(face_calib[0]), &face_index);
	ev_index_build(iris_calib, sizeof(iris_calib) / sizeof(iris_calib[0]), &iris_index);
}

/*
 * Piecewise-linear lookup of evidence in an increasing table. Beyond the last point: the last
 * slope continued when extrapolate (face and iris: Gaussian-like tails fall faster than that, so
 * this overstates the false-match rate, the safe side), else the last point's evidence. The
 * segment is found from ix's start and a step or two either way: the same segment a binary
 * search finds (tab[lo].score <= x < tab[lo + 1].score), so the same result to the bit.
 */
static double
table_ev(const struct calib_point *tab, size_t n, const struct ev_index *ix, double x,
	int extrapolate)
{
	size_t lo;
	double f, b;

	if (x <= tab[0].score)
		return 0;
	if (x >= tab[n - 1].score) {
		if (!extrapolate)
			return tab[n - 1].ev;
		f = (tab[n - 1].ev - tab[n - 2].ev) / (tab[n - 1].score - tab[n - 2].score);
		return tab[n - 1].ev + f * (x - tab[n - 1].score);
	}
	b = (x - ix->lo) * ix->per_step;
	lo = ix->seg[b < EV_GRID ? (size_t)b : EV_GRID];
	while (lo > 0 && tab[lo].score > x)
		lo--;
	while (lo + 2 < n && tab[lo + 1].score <= x)
		lo++;
	f = (x - tab[lo].score) / (tab[lo + 1].score - tab[lo].score);
	return tab[lo].ev + f * (tab[lo + 1].ev - tab[lo].ev);
}

double
match_face_ev(double cosine)
{
	(void)pthread_once(&ev_index_once, ev_indexes_build);
	return table_ev(
		face_calib, sizeof(face_calib) / sizeof(face_calib[0]), &face_index, cosine, 1);
}

double
match_iris_ev(double hd)
{
	(void)pthread_once(&ev_index_once, ev_indexes_build);
	return table_ev(
		iris_calib, sizeof(iris_calib) / sizeof(iris_calib[0]), &iris_index, 1 - hd, 1);
}

double
match_finger_ev(double score)
{
	/* finger_match.c's own table, fitted to real impostors (finger_calib.h) */
	return finger_evidence(score);
}

double
match_finger_ev_best_of(double score, int k)
{
	double ev = match_finger_ev(score), f;

	if (k <= 1 || ev <= 0)
		return ev;
	/* the best of k impostor comparisons reaches FMR f with probability 1 - (1 - f)^k */
	f = pow(10.0, -ev);
	f = -expm1((double)k * log1p(-f));
	return f >= 1 ? 0 : -log10(f);
}

double
match_fisher(double sum_ev, int k)
{
	double x = sum_ev * M_LN10, m = -INFINITY, s = 0, t;
	int i;

	if (sum_ev <= 0 || k < 1)
		return 0;
	/* P(Gamma(k, 1) >= x) = exp(-x) * sum_{i<k} x^i / i!, summed in logs */
	for (i = 0; i < k; i++) {
		t = i * log(x) - lgamma(i + 1.0);
		if (t > m)
			m = t;
	}
	for (i = 0; i < k; i++)
		s += exp(i * log(x) - lgamma(i + 1.0) - m);
	t = (x - m - log(s)) / M_LN10;
	return t > 0 ? t : 0;
}

void
match_verify_views(const struct match_view *a, const struct match_view *b, struct match_scores *out)
{
	struct finger_scores fs;
	struct iris_probe *p = NULL;
	_Alignas(64) uint8_t pbuf[sizeof(struct iris_probe)];
	double ev_all = 0, sum, hd_sum = 0;
	int k_all = 0, i, e;

	memset(out, 0, sizeof(*out));
	if (a->finger != NULL && b->finger != NULL && finger_match(a->finger, b->finger, &fs) > 0) {
		sum = 0;
		for (i = 0; i < FINGER_MAX_VIEWS; i++)
			if (fs.score[i] >= 0)
				sum += match_finger_ev(fs.score[i]);
		if (fs.n_unknown_pairs > 0)
			sum += match_finger_ev_best_of(fs.unknown, fs.n_unknown_pairs);
		out->finger = fs.best;
		out->n_finger = fs.n_compared;
		out->finger_ev = match_fisher(sum, fs.n_compared);
		out->modalities |= MATCH_FINGER;
		ev_all += sum;
		k_all += fs.n_compared;
	}
	if (a->face_q != NULL && b->face_q != NULL) {
		out->face = face_dot(b->face_q, a->face_q) * (double)a->face_inv_norm *
			    b->face_inv_norm;
		out->face_ev = match_face_ev(out->face);
		out->modalities |= MATCH_FACE;
		ev_all += out->face_ev;
		k_all++;
	}
	sum = 0;
	for (e = 0; e < 2; e++) {
		const struct iris_probe *ip = b->iris_probe[e];
		double hd;

		if (a->iris[e] == NULL || b->iris[e] == NULL)
			continue;
		if (ip == NULL) {
			p = (struct iris_probe *)pbuf;
			iris_probe_init(p, b->iris[e], b->iris[e] + BIO_IRIS_BYTES);
			ip = p;
		}
		hd = iris_compare(ip, a->iris[e], a->iris[e] + BIO_IRIS_BYTES, NULL, NULL);
		if (hd < 0)
			continue; /* too few bits visible in both: not compared */
		hd_sum += hd;
		sum += match_iris_ev(hd);
		out->n_iris++;
	}
	if (p != NULL) /* the shifts of a probe's iris code are as private as the code */
		sodium_memzero(pbuf, sizeof(pbuf));
	if (out->n_iris > 0) {
		out->iris = 1 - hd_sum / out->n_iris;
		out->iris_ev = match_fisher(sum, out->n_iris);
		out->modalities |= MATCH_IRIS;
		ev_all += sum;
		k_all += out->n_iris;
	}
	out->ev_sum = ev_all;
	out->ev_k = k_all;
	out->fused = match_fisher(ev_all, k_all);
}

int
match_verify_tmpl(
	const struct match_template *a, const struct match_template *b, struct match_scores *out)
{
	struct match_view va, vb;

	match_template_view(a, &va);
	match_template_view(b, &vb);
	match_verify_views(&va, &vb, out);
	return 0;
}

int
match_verify(
	const struct bio_sample *enrolled, const struct bio_sample *probe, struct match_scores *out)
{
	struct match_template *a = NULL, *b = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = match_template_new(enrolled, &a, NULL)) != 0)
		goto out;
	if ((r = match_template_new(probe, &b, NULL)) != 0)
		goto out;
	r = match_verify_tmpl(a, b, out);
out:
	match_template_free(a);
	match_template_free(b);
	return r;
}

double
match_threshold(double fmr)
{
	return -log10(fmr);
}

int
match_decide(const struct match_scores *s, double fmr)
{
	if (!(fmr > 0 && fmr <= 1) || s->modalities == 0)
		return 0;
	return s->fused >= match_threshold(fmr);
}
