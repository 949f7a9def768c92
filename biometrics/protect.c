/* SPDX-License-Identifier: Apache-2.0 */
/* Keyed protected templates: key expansion, PolyProtect faces, Bloom-filter irises, protected MCC. */
#include "protect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "finger_match.h"
#include "iris.h"

#define CYL_BITS (FINGER_CYL_WORDS * 64)

struct protect_key {
	int c[PROTECT_FACE_M], e[PROTECT_FACE_M];
	uint16_t fperm[BIO_FACE_DIM];
	uint8_t perm[PROTECT_IRIS_BLOCKS][256];
	uint64_t row[PROTECT_FINGER_BITS][FINGER_CYL_WORDS]; /* bit set = +1 */
};

const char *
protect_scheme_name(enum protect_scheme s)
{
	switch (s) {
	case PROTECT_NONE:
		return "none";
	case PROTECT_POLYPROTECT:
		return "polyprotect";
	case PROTECT_BLOOM:
		return "bloom";
	case PROTECT_PMCC:
		return "pmcc";
	}
	return "?";
}

/* len bytes of a keyed stream: ChaCha20 under BLAKE2b(key, label), so each use of the key is
 * independent of the others. */
static void
key_stream(const uint8_t key[PROTECT_KEY_BYTES], const char *label, uint8_t *buf, size_t len)
{
	static const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
	uint8_t sub[crypto_stream_chacha20_KEYBYTES];

	crypto_generichash(
		sub, sizeof(sub), (const uint8_t *)label, strlen(label), key, PROTECT_KEY_BYTES);
	crypto_stream_chacha20(buf, len, nonce, sub);
	sodium_memzero(sub, sizeof(sub));
}

/* Uniform value below n (n <= 256) from a byte stream, by rejection; *pos advances. */
static unsigned
take_below(const uint8_t *buf, size_t len, size_t *pos, unsigned n)
{
	unsigned lim = 256 - 256 % n;

	while (*pos < len) {
		unsigned b = buf[(*pos)++];

		if (b < lim)
			return b % n;
	}
	return 0; /* not reached with the stream lengths used below */
}

int
protect_key_new(const uint8_t key[PROTECT_KEY_BYTES], struct protect_key **out)
{
	struct protect_key *k = NULL;
	uint8_t buf[4096];
	size_t pos = 0;
	int i, j, b, r;

	*out = NULL;
	if ((k = sodium_malloc(sizeof(*k))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	memset(k, 0, sizeof(*k));
	/* face: nonzero coefficients in -50..50, exponents a permutation of 1..M */
	key_stream(key, "paso.protect.face", buf, 256);
	for (i = 0; i < PROTECT_FACE_M; i++) {
		k->c[i] = (int)take_below(buf, 256, &pos, 100) - 50;
		if (k->c[i] >= 0)
			k->c[i]++;
		k->e[i] = i + 1;
	}
	for (i = PROTECT_FACE_M - 1; i > 0; i--) {
		int t;

		j = (int)take_below(buf, 256, &pos, (unsigned)i + 1);
		t = k->e[i];
		k->e[i] = k->e[j];
		k->e[j] = t;
	}
	/* face: the element permutation (Fisher-Yates on 16-bit draws) */
	key_stream(key, "paso.protect.face.perm", buf, sizeof(buf));
	pos = 0;
	for (i = 0; i < BIO_FACE_DIM; i++)
		k->fperm[i] = (uint16_t)i;
	for (i = BIO_FACE_DIM - 1; i > 0; i--) {
		unsigned lim = 65536 - 65536 % (unsigned)(i + 1), x;
		uint16_t t;

		do {
			x = (unsigned)buf[pos] << 8 | buf[pos + 1];
			pos += 2;
		} while (x >= lim && pos + 2 <= sizeof(buf));
		j = (int)(x % (unsigned)(i + 1));
		t = k->fperm[i];
		k->fperm[i] = k->fperm[j];
		k->fperm[j] = t;
	}
	/* iris: one permutation of the 256 Bloom-filter bits per block (Fisher-Yates) */
	for (b = 0; b < PROTECT_IRIS_BLOCKS; b++) {
		char label[32];

		snprintf(label, sizeof(label), "paso.protect.iris.%d", b);
		key_stream(key, label, buf, sizeof(buf));
		pos = 0;
		for (i = 0; i < 256; i++)
			k->perm[b][i] = (uint8_t)i;
		for (i = 255; i > 0; i--) {
			uint8_t t;

			j = (int)take_below(buf, sizeof(buf), &pos, (unsigned)i + 1);
			t = k->perm[b][i];
			k->perm[b][i] = k->perm[b][j];
			k->perm[b][j] = t;
		}
	}
	/* finger: the +-1 projection */
	key_stream(key, "paso.protect.finger", (uint8_t *)k->row, sizeof(k->row));
	*out = k;
	k = NULL;
	r = 0;
out:
	sodium_memzero(buf, sizeof(buf));
	protect_key_free(k);
	return r;
}

void
protect_key_free(struct protect_key *k)
{
	if (k != NULL)
		sodium_free(k); /* sodium_free wipes */
}

/* ---- face ---- */

/*
 * PolyProtect as published works on consecutive elements, so two keys whose exponent 1 (or 2, ...)
 * sits at the same place in the window map the same elements the same way, and their
 * references link: about one key pair in five. The keyed permutation of the elements first
 * makes the windows of two keys hold different elements, which removes that linkage at no cost
 * in accuracy (the cosine is invariant under a permutation of the elements).
 */
int
protect_face(const struct protect_key *k, const float v[BIO_FACE_DIM], float out[PROTECT_FACE_DIM])
{
	double ss = 0, g, mean = 0, x[BIO_FACE_DIM], y[PROTECT_FACE_DIM];
	int i, j;

	for (i = 0; i < BIO_FACE_DIM; i++) {
		if (!isfinite(v[i]))
			return PASO_E_FIELD_RANGE;
		ss += (double)v[i] * v[i];
	}
	if (ss == 0)
		return PASO_E_FIELD_RANGE;
	g = 1 / sqrt(ss);
	for (i = 0; i < BIO_FACE_DIM; i++)
		x[i] = v[k->fperm[i]] * g;
	for (j = 0; j < PROTECT_FACE_DIM; j++) {
		const double *w = x + j * (PROTECT_FACE_M - PROTECT_FACE_OVERLAP);
		double p = 0;

		for (i = 0; i < PROTECT_FACE_M; i++) {
			double t = w[i];
			int e;

			for (e = 1; e < k->e[i]; e++)
				t *= w[i];
			p += k->c[i] * t;
		}
		y[j] = p;
		mean += p;
	}
	/*
	 * Centred: the even powers add the same positive offset to every element of everyone's
	 * form (x^2 averages exactly 1/512 over a unit vector), c_i/512 for the square. Where a
	 * key's even-power coefficients outweigh its linear one, that offset dominates every
	 * form and strangers' cosines crowd towards 1: the impostor cosine at FMR 1e-4 ranged
	 * 0.25-0.37 over 16 random keys (1,500 people). Without the offset it is 0.22-0.23 for
	 * every key, so one calibration table holds for each deployment's key.
	 */
	mean /= PROTECT_FACE_DIM;
	for (j = 0; j < PROTECT_FACE_DIM; j++)
		out[j] = (float)(y[j] - mean);
	sodium_memzero(x, sizeof(x));
	sodium_memzero(y, sizeof(y));
	return 0;
}

int
protect_face_q(const struct protect_key *k, const float v[BIO_FACE_DIM], struct face_q *out)
{
	float p[BIO_FACE_DIM];
	int r;

	memset(p, 0, sizeof(p));
	if ((r = protect_face(k, v, p)) == 0)
		r = face_quantize(p, out, NULL);
	sodium_memzero(p, sizeof(p));
	return r;
}

double
protect_face_compare(const float a[PROTECT_FACE_DIM], const float b[PROTECT_FACE_DIM])
{
	double ab = 0, aa = 0, bb = 0;
	int i;

	for (i = 0; i < PROTECT_FACE_DIM; i++) {
		ab += (double)a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += (double)b[i] * b[i];
	}
	return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

void
protect_face_params(const struct protect_key *k, int c[PROTECT_FACE_M], int e[PROTECT_FACE_M],
	uint16_t perm[BIO_FACE_DIM])
{
	memcpy(c, k->c, sizeof(k->c));
	memcpy(e, k->e, sizeof(k->e));
	memcpy(perm, k->fperm, sizeof(k->fperm));
}

/* ---- iris ---- */

static int
bit_at(const uint8_t *row, int bit)
{
	return (row[bit >> 3] >> (bit & 7)) & 1;
}

int
protect_iris(const struct protect_key *k, const struct bio_iris *in, struct protect_iris *out)
{
	int band, t, q;

	memset(out, 0, sizeof(*out));
	if (in->eye != BIO_EYE_RIGHT && in->eye != BIO_EYE_LEFT)
		return PASO_E_FIELD_RANGE;
	out->eye = in->eye;
	for (band = 0; band < 2; band++)
		for (t = 0; t < 128; t++) {
			int blk = band * (128 / PROTECT_IRIS_W) + t / PROTECT_IRIS_W;
			unsigned word = 0, valid = 1, idx;

			for (q = 0; q < 8; q++) {
				const uint8_t *crow =
					in->code + (band * 4 + q / 2) * IRIS_ROW_BYTES;
				const uint8_t *mrow =
					in->mask + (band * 4 + q / 2) * IRIS_ROW_BYTES;
				int bit = 2 * t + (q & 1);

				word |= (unsigned)bit_at(crow, bit) << q;
				valid &= (unsigned)bit_at(mrow, bit);
			}
			if (!valid)
				continue;
			idx = k->perm[blk][word];
			out->bf[blk][idx >> 3] |= (uint8_t)(1u << (idx & 7));
			out->words[blk]++;
		}
	return 0;
}

unsigned
protect_iris_index(const struct protect_key *k, int block, unsigned word)
{
	return block >= 0 && block < PROTECT_IRIS_BLOCKS ? k->perm[block][word & 255] : 0;
}

static int
popcount_bytes(const uint8_t *a, size_t n)
{
	int c = 0;
	size_t i;

	for (i = 0; i < n; i++)
		c += __builtin_popcount(a[i]);
	return c;
}

double
protect_iris_compare(const struct protect_iris *a, const struct protect_iris *b)
{
	double sum = 0;
	int blk, n = 0, i;

	for (blk = 0; blk < PROTECT_IRIS_BLOCKS; blk++) {
		int x = 0, ha, hb;

		if (a->words[blk] < PROTECT_IRIS_MIN_WORDS ||
			b->words[blk] < PROTECT_IRIS_MIN_WORDS)
			continue;
		for (i = 0; i < 32; i++)
			x += __builtin_popcount((unsigned)(a->bf[blk][i] ^ b->bf[blk][i]));
		ha = popcount_bytes(a->bf[blk], 32);
		hb = popcount_bytes(b->bf[blk], 32);
		sum += (double)x / (ha + hb);
		n++;
	}
	return n > 0 ? sum / n : -1.0;
}

/* ---- finger ---- */

static void
protect_cylinder(const struct protect_key *k, const uint64_t value[FINGER_CYL_WORDS],
	const uint64_t mask[FINGER_CYL_WORDS], uint64_t out[PROTECT_FINGER_WORDS])
{
	int r, w, nv = 0, ns = 0;
	double d;

	memset(out, 0, PROTECT_FINGER_WORDS * sizeof(uint64_t));
	for (w = 0; w < FINGER_CYL_WORDS; w++) {
		nv += __builtin_popcountll(mask[w]);
		ns += __builtin_popcountll(value[w] & mask[w]);
	}
	if (nv == 0)
		return;
	/*
	 * y_r = sum over valid bits j of R_rj (b_j - d), d the cylinder's share of set bits.
	 * Centring matters: cylinders are sparse, and without it every cylinder would project
	 * close to the row sums of R, so that under one key all cylinders look alike.
	 * With R_rj = +-1: sum R b = 2|row & b| - |b| and sum R = 2|row & mask| - |mask|.
	 */
	d = (double)ns / nv;
	for (r = 0; r < PROTECT_FINGER_BITS; r++) {
		int pb = 0, pm = 0;
		double y;

		for (w = 0; w < FINGER_CYL_WORDS; w++) {
			pb += __builtin_popcountll(k->row[r][w] & value[w] & mask[w]);
			pm += __builtin_popcountll(k->row[r][w] & mask[w]);
		}
		y = (2.0 * pb - ns) - d * (2.0 * pm - nv);
		if (y > 0 || (y == 0 && (r & 1)))
			out[r / 64] |= 1ull << (r % 64);
	}
}

void
protect_finger_tmpl(
	const struct protect_key *k, const struct finger_template *t, struct protect_finger *out)
{
	uint64_t value[FINGER_CYL_WORDS], mask[FINGER_CYL_WORDS];
	int i, m, nv = finger_template_n_views(t);

	memset(out, 0, sizeof(*out));
	if (nv > 10)
		nv = 10;
	for (i = 0; i < nv; i++) {
		struct protect_finger_view *v = &out->v[i];
		int nm = finger_template_view_minutiae(t, i);

		v->pos = (uint8_t)finger_template_view_pos(t, i);
		for (m = 0; m < nm && v->n < PROTECT_FINGER_MAX_CYL; m++)
			if (finger_template_cylinder(t, i, m, value, mask) == 1)
				protect_cylinder(k, value, mask, v->c[v->n++]);
	}
	out->n_views = nv;
	sodium_memzero(value, sizeof(value));
	sodium_memzero(mask, sizeof(mask));
}

int
protect_finger(const struct protect_key *k, const uint8_t *rec, size_t len,
	struct protect_finger *out, struct paso_diag *d)
{
	struct finger_template *t = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = finger_template_from_record(rec, len, &t, d)) != 0)
		return r;
	protect_finger_tmpl(k, t, out);
	finger_template_free(t);
	return 0;
}

/*
 * MCC's Local Similarity Sort: the mean of the n_P best local similarities, n_P growing with the
 * smaller cylinder count (MCC's min 4, max 12, mu 20, tau 2/5). Each probe cylinder offers only
 * its best partner and a reference cylinder is taken once: without minutia positions to pair
 * on, this keeps one distinctive cylinder from counting n_P times.
 */
double
protect_finger_compare(const struct protect_finger_view *a, const struct protect_finger_view *b)
{
	int best[12], bj[12], nbest = 0, np, i, j, q, w, n = a->n < b->n ? a->n : b->n;
	double z, sum = 0;

	if (a->n < 2 || b->n < 2)
		return 0;
	z = 1.0 / (1.0 + exp(-0.4 * (n - 20)));
	np = 4 + (int)lround(z * 8);
	if (np > n)
		np = n;
	for (i = 0; i < a->n; i++) {
		int s = -1, sj = 0, dup = -1;

		for (j = 0; j < b->n; j++) {
			int d = 0;

			for (w = 0; w < PROTECT_FINGER_WORDS; w++)
				d += __builtin_popcountll(a->c[i][w] ^ b->c[j][w]);
			if (PROTECT_FINGER_BITS - d > s) {
				s = PROTECT_FINGER_BITS - d;
				sj = j;
			}
		}
		/* one entry per reference cylinder: keep the better */
		for (q = 0; q < nbest; q++)
			if (bj[q] == sj)
				dup = q;
		if (dup >= 0) {
			if (best[dup] >= s)
				continue;
			for (q = dup; q + 1 < nbest; q++) {
				best[q] = best[q + 1];
				bj[q] = bj[q + 1];
			}
			nbest--;
		}
		if (nbest == np && s <= best[nbest - 1])
			continue;
		if (nbest < np)
			nbest++;
		for (q = nbest - 1; q > 0 && best[q - 1] < s; q--) {
			best[q] = best[q - 1];
			bj[q] = bj[q - 1];
		}
		best[q] = s;
		bj[q] = sj;
	}
	for (i = 0; i < nbest; i++)
		sum += best[i];
	return nbest > 0 ? sum / (nbest * (double)PROTECT_FINGER_BITS) : 0;
}

void
protect_finger_row(const struct protect_key *k, int r, uint64_t row[6])
{
	memset(row, 0, 6 * sizeof(uint64_t));
	if (r >= 0 && r < PROTECT_FINGER_BITS)
		memcpy(row, k->row[r], sizeof(k->row[r]));
}

_Static_assert(PROTECT_FINGER_BITS % 64 == 0, "protected cylinders are whole words");
