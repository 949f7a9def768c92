/* SPDX-License-Identifier: Apache-2.0 */
/* Finger descriptors: hashed MCC cylinder bits folded into one fixed-length vector per view. */
#include "findex.h"

#include <math.h>
#include <string.h>

#include <sodium.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/*
 * Cylinder bits are numbered cell * 6 + direction bin over the 52 cells of finger_match.c's
 * 8 x 8 disc (312 bits); a place beyond a cylinder's layout reads as invalid and the hash is
 * skipped. The places are fixed (drawn once by a constant generator), so every descriptor ever
 * made is comparable with every other.
 */
#define CYL_BITS 312
#define CYL_DIRS 6

/*
 * Bit places of each table's hash: distinct cells anywhere in the disc, any direction bin
 * (places drawn only from the inner cells ranked mates worse: bench_findex's notes).
 */
static void
hash_places(uint16_t place[FINDEX_TABLES][FINDEX_HASH_BITS])
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	int l, k, j, cell;

	for (l = 0; l < FINDEX_TABLES; l++)
		for (k = 0; k < FINDEX_HASH_BITS; k++) {
			for (;;) {
				s = s * 6364136223846793005ull + 1442695040888963407ull;
				cell = (int)((s >> 33) % (CYL_BITS / CYL_DIRS));
				for (j = 0; j < k && place[l][j] / CYL_DIRS != cell; j++)
					;
				if (j == k)
					break;
			}
			place[l][k] = (uint16_t)(cell * CYL_DIRS + (int)((s >> 20) % CYL_DIRS));
		}
}

void
findex_places(uint16_t place[FINDEX_TABLES][FINDEX_HASH_BITS])
{
	hash_places(place);
}

/* Cylinder words holding the CYL_BITS bits a place can name. */
#define CYL_WORDS ((CYL_BITS + 63) / 64)

/* 64 x 64 bit matrix transposed in place: bit j of a[i] becomes bit i of a[j]. */
static void
transpose64(uint64_t a[64])
{
	uint64_t m = 0x00000000ffffffffull, t;
	int j, k;

	for (j = 32; j != 0; j >>= 1, m ^= m << j)
		for (k = 0; k < 64; k = ((k | j) + 1) & ~j) {
			t = ((a[k] >> j) ^ a[k | j]) & m;
			a[k] ^= t << j;
			a[k | j] ^= t;
		}
}

/*
 * Up to 64 minutiae of a view at once, bit-sliced: row j of the value and mask matrices is
 * minutia j's cylinder (mask rows of unusable cylinders are zero); transposed, word b holds bit
 * b of every minutia, so each table's hash is resolved for all 64 by a tree of ANDs: one word
 * per hash value, nonzero when some minutia has that pattern with all six places valid.
 */
static void
describe_block(uint64_t val[CYL_WORDS][64], uint64_t msk[CYL_WORDS][64],
	const uint16_t place[FINDEX_TABLES][FINDEX_HASH_BITS], struct findex_finger *out)
{
	uint64_t node[2 << FINDEX_HASH_BITS], v, ok;
	int w, l, k, i, width;
	unsigned h, p;

	for (w = 0; w < CYL_WORDS; w++) {
		transpose64(val[w]);
		transpose64(msk[w]);
	}
	for (l = 0; l < FINDEX_TABLES; l++) {
		ok = ~0ull;
		for (k = 0; k < FINDEX_HASH_BITS; k++) {
			p = place[l][k];
			ok &= msk[p / 64][p % 64];
		}
		if (ok == 0)
			continue;
		/* the first place is the hash's highest bit: node i of a level has i's bits */
		node[0] = ok;
		for (k = 0, width = 1; k < FINDEX_HASH_BITS; k++, width *= 2) {
			p = place[l][k];
			v = val[p / 64][p % 64];
			for (i = width - 1; i >= 0; i--) {
				node[2 * i + 1] = node[i] & v;
				node[2 * i] = node[i] & ~v;
			}
		}
		for (h = 1; h < (1u << FINDEX_HASH_BITS); h++) /* pattern 0 sets nothing */
			if (node[h] != 0) {
				unsigned b = h + ((unsigned)l << FINDEX_HASH_BITS);
				out->w[b / 64] |= 1ull << (b % 64);
			}
	}
	sodium_memzero(node, sizeof(node));
}

void
findex_describe(const struct finger_template *t, struct findex_finger out[FINDEX_POSITIONS],
	uint16_t n[FINDEX_POSITIONS])
{
	uint16_t place[FINDEX_TABLES][FINDEX_HASH_BITS];
	uint64_t value[FINGER_CYL_WORDS], mask[FINGER_CYL_WORDS];
	uint64_t val[CYL_WORDS][64], msk[CYL_WORDS][64];
	int v, pos, m, nm, j, w;
	unsigned c, k;

	memset(out, 0, FINDEX_POSITIONS * sizeof(*out));
	memset(n, 0, FINDEX_POSITIONS * sizeof(*n));
	hash_places(place);
	for (v = 0; v < finger_template_n_views(t); v++) {
		pos = finger_template_view_pos(t, v);
		if (pos < 1 || pos > FINDEX_POSITIONS)
			continue;
		nm = finger_template_view_minutiae(t, v);
		for (m = 0; m < nm; m += 64) {
			int used = 0;

			for (j = 0; j < 64; j++) {
				int ok = m + j < nm &&
					 finger_template_cylinder(t, v, m + j, value, mask);

				for (w = 0; w < CYL_WORDS; w++) {
					val[w][j] = ok ? value[w] : 0;
					msk[w][j] = ok ? mask[w] : 0;
				}
				used |= ok;
			}
			if (used)
				describe_block(val, msk, place, &out[pos - 1]);
		}
	}
	for (pos = 0; pos < FINDEX_POSITIONS; pos++) {
		for (c = 0, k = 0; k < FINDEX_WORDS; k++)
			c += (unsigned)__builtin_popcountll(out[pos].w[k]);
		n[pos] = (uint16_t)c;
	}
	sodium_memzero(value, sizeof(value));
	sodium_memzero(mask, sizeof(mask));
	sodium_memzero(val, sizeof(val));
	sodium_memzero(msk, sizeof(msk));
}

void
findex_stats_add(
	struct findex_stats *st, int pos, const struct findex_finger *d, unsigned n, int sign)
{
	uint64_t x;
	int w;

	if (n == 0 || pos < 0 || pos >= FINDEX_POSITIONS)
		return;
	st->fingers[pos] += (uint32_t)sign;
	st->bits[pos] += (uint64_t)((int64_t)sign * (int64_t)n);
	for (w = 0; w < FINDEX_WORDS; w++)
		for (x = d->w[w]; x != 0; x &= x - 1)
			st->count[pos][w * 64 + __builtin_ctzll(x)] += (uint32_t)sign;
}

/*
 * A shared bit of frequency p weighs -ln p nats, rounded into FINDEX_CLASSES classes one nat
 * wide (class c weighs c + 0.5; the last takes everything rarer), so a scan needs one AND and
 * popcount per class and word. Unquantised weights ranked detention mates about as well
 * (bench_findex's notes in docs/biometrics.md).
 */
void
findex_query_make(const struct findex_stats *st, const struct findex_finger d[FINDEX_POSITIONS],
	const uint16_t n[FINDEX_POSITIONS], struct findex_query *q)
{
	double p, wt;
	uint64_t x;
	int k, w, b, c;

	memset(q, 0, sizeof(*q));
	for (k = 0; k < FINDEX_POSITIONS; k++) {
		int j = q->np;

		if (n[k] == 0)
			continue;
		q->pos[j] = k;
		q->inv_mean[j] = st->fingers[k] > 0 && st->bits[k] > 0
					 ? (double)st->fingers[k] / (double)st->bits[k]
					 : 0;
		for (w = 0; w < FINDEX_WORDS; w++)
			for (x = d[k].w[w]; x != 0; x &= x - 1) {
				b = w * 64 + __builtin_ctzll(x);
				p = ((double)st->count[k][b] + 1) / ((double)st->fingers[k] + 2);
				c = (int)(-log(p));
				if (c > FINDEX_CLASSES - 1)
					c = FINDEX_CLASSES - 1;
				wt = c + 0.5;
				q->mask[j][c][w] |= 1ull << (b % 64);
				q->expect[j] += wt * p;
			}
		q->np++;
	}
}

/* Weighted shared bits of an entry's descriptor e with the probe's classes m. */
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vpopcntdq"))) static double
shared_avx512(const uint64_t m[FINDEX_CLASSES][FINDEX_WORDS], const uint64_t *e)
{
	__m512i acc[FINDEX_CLASSES], v;
	double s = 0;
	int w, c;

	for (c = 0; c < FINDEX_CLASSES; c++)
		acc[c] = _mm512_setzero_si512();
	for (w = 0; w < FINDEX_WORDS; w += 8) {
		v = _mm512_loadu_si512((const void *)(e + w));
		for (c = 0; c < FINDEX_CLASSES; c++)
			acc[c] = _mm512_add_epi64(
				acc[c], _mm512_popcnt_epi64(_mm512_and_si512(
						v, _mm512_loadu_si512((const void *)(m[c] + w)))));
	}
	for (c = 0; c < FINDEX_CLASSES; c++)
		s += (c + 0.5) * (double)_mm512_reduce_add_epi64(acc[c]);
	return s;
}
#endif

__attribute__((target_clones("popcnt", "default"))) static double
shared_scalar(const uint64_t m[FINDEX_CLASSES][FINDEX_WORDS], const uint64_t *e)
{
	unsigned cnt[FINDEX_CLASSES] = {0};
	double s = 0;
	int w, c;

	for (w = 0; w < FINDEX_WORDS; w++)
		for (c = 0; c < FINDEX_CLASSES; c++)
			cnt[c] += (unsigned)__builtin_popcountll(e[w] & m[c][w]);
	for (c = 0; c < FINDEX_CLASSES; c++)
		s += (c + 0.5) * cnt[c];
	return s;
}

_Static_assert(FINDEX_WORDS % 8 == 0, "the AVX-512 scan reads 8 words at a time");

void
findex_scan(const struct findex_query *q, const struct findex_finger *const *d, const uint16_t *n,
	size_t m, float *score, uint8_t *common)
{
	size_t j;
	int t, k, wide = 0;

#if defined(__x86_64__)
	wide = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
#endif
	for (j = 0; j < m; j++) {
		double s = 0, sh;

		common[j] = 0;
		for (t = 0; t < q->np; t++) {
			k = q->pos[t];
			if (n[j * FINDEX_POSITIONS + k] == 0)
				continue;
#if defined(__x86_64__)
			if (wide)
				sh = shared_avx512(q->mask[t], d[k][j].w);
			else
#endif
				sh = shared_scalar(q->mask[t], d[k][j].w);
			s += sh - q->expect[t] * n[j * FINDEX_POSITIONS + k] * q->inv_mean[t];
			common[j]++;
		}
		score[j] = (float)s;
	}
}
