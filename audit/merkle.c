/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 6962 / RFC 9162 Merkle tree hashing, proof generation over a node source, and verification.
 */
#include "merkle.h"

#include <string.h>

/*
 * OpenSSL 3 marks the SHA256_Init/Update/Final family deprecated in favour of EVP, but keeps it;
 * it is what this file wants. It runs the same block function as EVP (SHA-NI where the CPU has
 * it) without EVP's per-call dispatch: on the 65-byte node hashes that dispatch cost about as much
 * as the two compression blocks themselves (Init_ex2/Update/Final on a reused EVP_MD_CTX ~150-185
 * ns a node, EVP_Digest ~160-220 ns, SHA256_Init/Update/Final ~95-105 ns; ~395 vs ~350 ns on a
 * 513-byte leaf). The context lives on the stack: no per-thread state, no fetch, no failure path.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <sodium.h>

#include "errors.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#define MERKLE_HAVE_X86 1
#endif

void
merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_BYTES])
{
	static const uint8_t prefix = 0x00;
	SHA256_CTX st;

	SHA256_Init(&st);
	SHA256_Update(&st, &prefix, 1);
	if (len > 0)
		SHA256_Update(&st, data, len);
	SHA256_Final(out, &st);
}

void
merkle_node_hash(const uint8_t left[MERKLE_HASH_BYTES], const uint8_t right[MERKLE_HASH_BYTES],
	uint8_t out[MERKLE_HASH_BYTES])
{
	uint8_t b[1 + 2 * MERKLE_HASH_BYTES];
	SHA256_CTX st;

	/* One update of the whole 65 bytes: three small ones cost a tenth more here. */
	b[0] = 0x01;
	memcpy(b + 1, left, MERKLE_HASH_BYTES);
	memcpy(b + 1 + MERKLE_HASH_BYTES, right, MERKLE_HASH_BYTES);
	SHA256_Init(&st);
	SHA256_Update(&st, b, sizeof(b));
	SHA256_Final(out, &st);
}

/*
 * Two node hashes at once. The SHA-NI round instruction's result feeds the next round, so one
 * message leaves most of the unit idle; two independent messages in the same loop keep it busy
 * (measured here: ~2x the node hashes per second of one-at-a-time SHA256_*). Used where a
 * level of the tree has many independent nodes (merkle_frontier_push_many). Where the CPU has
 * no SHA extensions, two calls of merkle_node_hash.
 */
#ifdef MERKLE_HAVE_X86
static const uint32_t sha256_k[64] = {0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b,
	0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6,
	0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d,
	0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
	0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585,
	0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa,
	0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static const uint32_t sha256_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f,
	0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static int sha_ni;
static pthread_once_t sha_ni_once = PTHREAD_ONCE_INIT;

static void
sha_ni_probe(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return;
	sha_ni = (b & bit_SHA) != 0;
}

static int
use_sha_ni(void)
{
	(void)pthread_once(&sha_ni_once, sha_ni_probe);
	return sha_ni;
}

/* The state in the order the round instructions want it: ABEF and CDGH. */
__attribute__((target("sha,sse4.1,ssse3"))) static void
state_from_iv(__m128i *abef, __m128i *cdgh)
{
	__m128i dcba = _mm_loadu_si128((const __m128i *)sha256_iv);
	__m128i hgfe = _mm_loadu_si128((const __m128i *)(sha256_iv + 4));
	__m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
	__m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);

	*abef = _mm_alignr_epi8(cdab, efgh, 8);
	*cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
}

__attribute__((target("sha,sse4.1,ssse3"))) static void
state_to_digest(__m128i abef, __m128i cdgh, uint8_t out[MERKLE_HASH_BYTES])
{
	const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
	__m128i feba = _mm_shuffle_epi32(abef, 0x1B);
	__m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
	__m128i dcba = _mm_blend_epi16(feba, dchg, 0xF0);
	__m128i hgfe = _mm_alignr_epi8(dchg, feba, 8);

	_mm_storeu_si128((__m128i *)out, _mm_shuffle_epi8(dcba, bswap));
	_mm_storeu_si128((__m128i *)(out + 16), _mm_shuffle_epi8(hgfe, bswap));
}

/* FIPS 180-4 compression of nblocks 64-byte blocks of two messages, side by side. */
__attribute__((target("sha,sse4.1,ssse3"))) static void
compress_x2(__m128i st[4], const uint8_t *pa, const uint8_t *pb, size_t nblocks)
{
	const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i a0 = st[0], a1 = st[1], b0 = st[2], b1 = st[3];
	__m128i wa[4], wb[4], sa0, sa1, sb0, sb1, ma, mb, k, ta, tb;
	int q;

	while (nblocks-- > 0) {
		sa0 = a0;
		sa1 = a1;
		sb0 = b0;
		sb1 = b1;
#pragma GCC unroll 16
		for (q = 0; q < 16; q++) {
			if (q < 4) {
				wa[q] = _mm_shuffle_epi8(
					_mm_loadu_si128((const __m128i *)(pa + 16 * q)), mask);
				wb[q] = _mm_shuffle_epi8(
					_mm_loadu_si128((const __m128i *)(pb + 16 * q)), mask);
			} else {
				/* W[q] = msg2(msg1(W[q-4], W[q-3]) + W[q-1..q-2] shifted, W[q-1]) */
				ta = _mm_sha256msg1_epu32(wa[q & 3], wa[(q - 3) & 3]);
				tb = _mm_sha256msg1_epu32(wb[q & 3], wb[(q - 3) & 3]);
				ta = _mm_add_epi32(
					ta, _mm_alignr_epi8(wa[(q - 1) & 3], wa[(q - 2) & 3], 4));
				tb = _mm_add_epi32(
					tb, _mm_alignr_epi8(wb[(q - 1) & 3], wb[(q - 2) & 3], 4));
				wa[q & 3] = _mm_sha256msg2_epu32(ta, wa[(q - 1) & 3]);
				wb[q & 3] = _mm_sha256msg2_epu32(tb, wb[(q - 1) & 3]);
			}
			k = _mm_loadu_si128((const __m128i *)(sha256_k + 4 * q));
			ma = _mm_add_epi32(wa[q & 3], k);
			mb = _mm_add_epi32(wb[q & 3], k);
			a1 = _mm_sha256rnds2_epu32(a1, a0, ma);
			b1 = _mm_sha256rnds2_epu32(b1, b0, mb);
			a0 = _mm_sha256rnds2_epu32(a0, a1, _mm_shuffle_epi32(ma, 0x0E));
			b0 = _mm_sha256rnds2_epu32(b0, b1, _mm_shuffle_epi32(mb, 0x0E));
		}
		a0 = _mm_add_epi32(a0, sa0);
		a1 = _mm_add_epi32(a1, sa1);
		b0 = _mm_add_epi32(b0, sb0);
		b1 = _mm_add_epi32(b1, sb1);
		pa += 64;
		pb += 64;
	}
	st[0] = a0;
	st[1] = a1;
	st[2] = b0;
	st[3] = b1;
}

/* 0x01 || left || right, padded to two blocks (65 bytes = 520 bits). */
static void
node_blocks(uint8_t b[128], const uint8_t *left, const uint8_t *right)
{
	memset(b, 0, 128);
	b[0] = 0x01;
	memcpy(b + 1, left, MERKLE_HASH_BYTES);
	memcpy(b + 1 + MERKLE_HASH_BYTES, right, MERKLE_HASH_BYTES);
	b[65] = 0x80;
	b[126] = 0x02;
	b[127] = 0x08;
}

static void
node_hash_x2_ni(const uint8_t *l1, const uint8_t *r1, uint8_t *o1, const uint8_t *l2,
	const uint8_t *r2, uint8_t *o2)
{
	uint8_t b1[128], b2[128];
	__m128i st[4];

	node_blocks(b1, l1, r1);
	node_blocks(b2, l2, r2);
	state_from_iv(&st[0], &st[1]);
	st[2] = st[0];
	st[3] = st[1];
	compress_x2(st, b1, b2, 2);
	state_to_digest(st[0], st[1], o1);
	state_to_digest(st[2], st[3], o2);
}

/*
 * Block k of the padded leaf message 0x00 || data || 0x80 || 0... || bit length (64 bits,
 * big-endian), of blocks_of(len) blocks: a pointer into data where the block lies inside it
 * (every block but the first and the last one or two), else built in tmp.
 */
static size_t
leaf_blocks(size_t len)
{
	return (len + 1 + 8) / 64 + 1;
}

static const uint8_t *
leaf_block(const uint8_t *data, size_t len, size_t k, uint8_t tmp[64])
{
	uint64_t bits = ((uint64_t)len + 1) * 8;
	size_t start = 64 * k, i, have, nblocks = leaf_blocks(len);

	if (k > 0 && start + 64 <= len + 1)
		return data + start - 1;
	memset(tmp, 0, 64);
	i = 0;
	if (start == 0)
		i = 1; /* the 0x00 prefix */
	if (start + i <= len) {
		have = len + 1 - (start + i);
		if (have > 64 - i)
			have = 64 - i;
		memcpy(tmp + i, data + start + i - 1, have);
		i += have;
	}
	if (start + i == len + 1 && i < 64)
		tmp[i] = 0x80;
	if (k == nblocks - 1)
		for (i = 0; i < 8; i++)
			tmp[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	return tmp;
}

static void
leaf_hash_x2_ni(
	const uint8_t *d1, size_t n1, uint8_t *o1, const uint8_t *d2, size_t n2, uint8_t *o2)
{
	uint8_t t1[64], t2[64];
	size_t b1 = leaf_blocks(n1), b2 = leaf_blocks(n2), k;
	const uint8_t *p1, *p2;
	__m128i st[4], one[4];

	state_from_iv(&st[0], &st[1]);
	st[2] = st[0];
	st[3] = st[1];
	for (k = 0; k < b1 && k < b2; k++) {
		p1 = leaf_block(d1, n1, k, t1);
		p2 = leaf_block(d2, n2, k, t2);
		compress_x2(st, p1, p2, 1);
	}
	/* The longer message alone: its state in both lanes (the cost of one, the unit idles). */
	for (; k < b1 || k < b2; k++) {
		int first = k < b1;

		one[0] = one[2] = st[first ? 0 : 2];
		one[1] = one[3] = st[first ? 1 : 3];
		p1 = first ? leaf_block(d1, n1, k, t1) : leaf_block(d2, n2, k, t2);
		compress_x2(one, p1, p1, 1);
		st[first ? 0 : 2] = one[0];
		st[first ? 1 : 3] = one[1];
	}
	state_to_digest(st[0], st[1], o1);
	state_to_digest(st[2], st[3], o2);
}
#endif

void
merkle_leaf_hash2(const uint8_t *d1, size_t n1, uint8_t o1[MERKLE_HASH_BYTES], const uint8_t *d2,
	size_t n2, uint8_t o2[MERKLE_HASH_BYTES])
{
	uint8_t t[MERKLE_HASH_BYTES];

	/* o1 may overlap the second message: it is written last. */
#ifdef MERKLE_HAVE_X86
	if (use_sha_ni())
		leaf_hash_x2_ni(d1, n1, t, d2, n2, o2);
	else
#endif
	{
		merkle_leaf_hash(d1, n1, t);
		merkle_leaf_hash(d2, n2, o2);
	}
	memcpy(o1, t, MERKLE_HASH_BYTES);
}

void
merkle_node_hash2(const uint8_t *l1, const uint8_t *r1, uint8_t o1[MERKLE_HASH_BYTES],
	const uint8_t *l2, const uint8_t *r2, uint8_t o2[MERKLE_HASH_BYTES])
{
	uint8_t t[MERKLE_HASH_BYTES];

	/* o1 may be one of the second pair's inputs: it is written last. */
#ifdef MERKLE_HAVE_X86
	if (use_sha_ni())
		node_hash_x2_ni(l1, r1, t, l2, r2, o2);
	else
#endif
	{
		merkle_node_hash(l1, r1, t);
		merkle_node_hash(l2, r2, o2);
	}
	memcpy(o1, t, MERKLE_HASH_BYTES);
}

void
merkle_hash_children(const uint8_t *left, size_t llen, const uint8_t *right, size_t rlen,
	uint8_t out[MERKLE_HASH_BYTES])
{
	static const uint8_t prefix = 0x01;
	SHA256_CTX st;

	SHA256_Init(&st);
	SHA256_Update(&st, &prefix, 1);
	if (llen > 0)
		SHA256_Update(&st, left, llen);
	if (rlen > 0)
		SHA256_Update(&st, right, rlen);
	SHA256_Final(out, &st);
}

void
merkle_empty_root(uint8_t out[MERKLE_HASH_BYTES])
{
	SHA256_CTX st;

	SHA256_Init(&st);
	SHA256_Final(out, &st);
}

/* Largest power of two strictly below n (n >= 2): the RFC 6962 split point k. */
static uint64_t
split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k < n - k)
		k <<= 1;
	return k;
}

static unsigned
log2_exact(uint64_t p)
{
	return (unsigned)__builtin_ctzll(p);
}

/*
 * MTH of leaves [lo, hi). Every range the RFC recursion produces has lo aligned to the size
 * of its first perfect subtree, so the range is a run of perfect subtrees of decreasing size:
 * read them, then fold right to left.
 */
static int
range_hash(merkle_node_fn get, void *ctx, uint64_t lo, uint64_t hi, uint8_t out[MERKLE_HASH_BYTES])
{
	uint8_t sub[64][MERKLE_HASH_BYTES];
	uint64_t p;
	unsigned level;
	int r, cnt = 0, j;

	while (lo < hi) {
		level = 63 - (unsigned)__builtin_clzll(hi - lo);
		p = (uint64_t)1 << level;
		if ((lo & (p - 1)) != 0)
			return PASO_E_INTERNAL; /* not an RFC-shaped range: a bug in the caller */
		if ((r = get(ctx, level, lo >> level, sub[cnt])) != 0)
			return r;
		cnt++;
		lo += p;
	}
	if (cnt == 0)
		return PASO_E_INTERNAL;
	memcpy(out, sub[cnt - 1], MERKLE_HASH_BYTES);
	for (j = cnt - 2; j >= 0; j--)
		merkle_node_hash(sub[j], out, out);
	return 0;
}

int
merkle_root_nodes(merkle_node_fn get, void *ctx, uint64_t size, uint8_t root[MERKLE_HASH_BYTES])
{
	if (size == 0) {
		merkle_empty_root(root);
		return 0;
	}
	return range_hash(get, ctx, 0, size, root);
}

static void
reverse(uint8_t (*h)[MERKLE_HASH_BYTES], size_t n)
{
	uint8_t t[MERKLE_HASH_BYTES];
	size_t i;

	for (i = 0; i < n / 2; i++) {
		memcpy(t, h[i], MERKLE_HASH_BYTES);
		memcpy(h[i], h[n - 1 - i], MERKLE_HASH_BYTES);
		memcpy(h[n - 1 - i], t, MERKLE_HASH_BYTES);
	}
}

int
merkle_inclusion_nodes(merkle_node_fn get, void *ctx, uint64_t index, uint64_t size,
	uint8_t (*path)[MERKLE_HASH_BYTES], size_t cap, size_t *np)
{
	uint64_t lo = 0, hi = size, k;
	size_t cnt = 0;
	int r;

	*np = 0;
	if (index >= size)
		return PASO_E_INVALID_ARG;
	/* PATH(m, D[lo:hi]) of RFC 6962 2.1.1, unrolled top-down; reversed at the end. */
	while (hi - lo > 1) {
		if (cnt >= cap)
			return PASO_E_INVALID_ARG;
		k = split_point(hi - lo);
		if (index < lo + k) {
			r = range_hash(get, ctx, lo + k, hi, path[cnt]);
			hi = lo + k;
		} else {
			r = get(ctx, log2_exact(k), lo >> log2_exact(k), path[cnt]);
			lo += k;
		}
		if (r != 0)
			return r;
		cnt++;
	}
	reverse(path, cnt);
	*np = cnt;
	return 0;
}

int
merkle_consistency_nodes(merkle_node_fn get, void *ctx, uint64_t old_size, uint64_t new_size,
	uint8_t (*proof)[MERKLE_HASH_BYTES], size_t cap, size_t *np)
{
	uint64_t lo = 0, hi = new_size, m = old_size, k;
	size_t cnt = 0;
	int r, whole = 1;

	*np = 0;
	if (old_size == 0 || old_size > new_size)
		return PASO_E_INVALID_ARG;
	if (old_size == new_size)
		return 0;
	/* SUBPROOF(m, D[lo:hi], b) of RFC 6962 2.1.2, unrolled top-down; reversed at the end. */
	for (;;) {
		if (cnt >= cap)
			return PASO_E_INVALID_ARG;
		if (m == hi - lo) {
			if (!whole) {
				if ((r = range_hash(get, ctx, lo, hi, proof[cnt])) != 0)
					return r;
				cnt++;
			}
			break;
		}
		k = split_point(hi - lo);
		if (m <= k) {
			r = range_hash(get, ctx, lo + k, hi, proof[cnt]);
			hi = lo + k;
		} else {
			r = get(ctx, log2_exact(k), lo >> log2_exact(k), proof[cnt]);
			m -= k;
			lo += k;
			whole = 0;
		}
		if (r != 0)
			return r;
		cnt++;
	}
	reverse(proof, cnt);
	*np = cnt;
	return 0;
}

/* Node source over an array of leaf hashes: each perfect subtree is hashed from its leaves. */
struct leaf_array {
	const uint8_t (*leaves)[MERKLE_HASH_BYTES];
	uint64_t n;
};

static int
array_node(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_BYTES])
{
	const struct leaf_array *a = ctx;
	uint8_t l[MERKLE_HASH_BYTES], rr[MERKLE_HASH_BYTES];
	int r;

	if (level >= 64 || index > (a->n >> level) || ((index + 1) << level) > a->n)
		return PASO_E_INTERNAL;
	if (level == 0) {
		memcpy(out, a->leaves[index], MERKLE_HASH_BYTES);
		return 0;
	}
	if ((r = array_node(ctx, level - 1, 2 * index, l)) != 0 ||
		(r = array_node(ctx, level - 1, 2 * index + 1, rr)) != 0)
		return r;
	merkle_node_hash(l, rr, out);
	return 0;
}

int
merkle_root(const uint8_t (*leaves)[MERKLE_HASH_BYTES], uint64_t n, uint8_t root[MERKLE_HASH_BYTES])
{
	struct merkle_frontier f;
	uint64_t i;
	int r;

	merkle_frontier_init(&f);
	for (i = 0; i < n; i++)
		if ((r = merkle_frontier_push(&f, leaves[i], NULL, NULL)) != 0)
			return r;
	merkle_frontier_root(&f, root);
	return 0;
}

int
merkle_inclusion_proof(const uint8_t (*leaves)[MERKLE_HASH_BYTES], uint64_t n, uint64_t index,
	uint8_t (*path)[MERKLE_HASH_BYTES], size_t cap, size_t *np)
{
	struct leaf_array a = {leaves, n};

	return merkle_inclusion_nodes(array_node, &a, index, n, path, cap, np);
}

int
merkle_consistency_proof(const uint8_t (*leaves)[MERKLE_HASH_BYTES], uint64_t n, uint64_t old_size,
	uint8_t (*proof)[MERKLE_HASH_BYTES], size_t cap, size_t *np)
{
	struct leaf_array a = {leaves, n};

	return merkle_consistency_nodes(array_node, &a, old_size, n, proof, cap, np);
}

int
merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_BYTES], uint64_t index, uint64_t size,
	const uint8_t (*path)[MERKLE_HASH_BYTES], size_t n, const uint8_t root[MERKLE_HASH_BYTES])
{
	uint8_t r[MERKLE_HASH_BYTES];
	uint64_t fn, sn;
	size_t i;

	/* RFC 9162 2.1.3.2, step by step. */
	if (index >= size)
		return PASO_E_PROOF_INVALID;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf_hash, MERKLE_HASH_BYTES);
	for (i = 0; i < n; i++) {
		if (sn == 0)
			return PASO_E_PROOF_INVALID;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(path[i], r, r);
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			merkle_node_hash(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || crypto_verify_32(r, root) != 0)
		return PASO_E_PROOF_INVALID;
	return 0;
}

int
merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
	const uint8_t old_root[MERKLE_HASH_BYTES], const uint8_t new_root[MERKLE_HASH_BYTES],
	const uint8_t (*proof)[MERKLE_HASH_BYTES], size_t n)
{
	uint8_t fr[MERKLE_HASH_BYTES], sr[MERKLE_HASH_BYTES];
	uint64_t fn, sn;
	size_t i = 0;

	if (old_size == 0 || old_size > new_size)
		return PASO_E_PROOF_INVALID;
	if (old_size == new_size) {
		if (n != 0 || crypto_verify_32(old_root, new_root) != 0)
			return PASO_E_PROOF_INVALID;
		return 0;
	}
	/* RFC 9162 2.1.4.2. Instead of prepending old_root to the path when old_size is a power
	 * of two, start from it directly. */
	if (n == 0)
		return PASO_E_PROOF_INVALID;
	if ((old_size & (old_size - 1)) == 0) {
		memcpy(fr, old_root, MERKLE_HASH_BYTES);
	} else {
		memcpy(fr, proof[0], MERKLE_HASH_BYTES);
		i = 1;
	}
	memcpy(sr, fr, MERKLE_HASH_BYTES);
	fn = old_size - 1;
	sn = new_size - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if (sn == 0)
			return PASO_E_PROOF_INVALID;
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(proof[i], fr, fr);
			merkle_node_hash(proof[i], sr, sr);
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			merkle_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || crypto_verify_32(fr, old_root) != 0 || crypto_verify_32(sr, new_root) != 0)
		return PASO_E_PROOF_INVALID;
	return 0;
}

void
merkle_frontier_init(struct merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int
merkle_frontier_push(struct merkle_frontier *f, const uint8_t leaf_hash[MERKLE_HASH_BYTES],
	merkle_node_cb on_node, void *ctx)
{
	uint8_t h[MERKLE_HASH_BYTES];
	uint64_t idx = f->size, s = f->size;
	unsigned level = 0;

	if (f->size == UINT64_MAX)
		return PASO_E_INVALID_ARG;
	memcpy(h, leaf_hash, MERKLE_HASH_BYTES);
	if (on_node != NULL)
		on_node(ctx, 0, idx, h);
	/* Each set low bit of the old size is a perfect left sibling that the new leaf completes.
	 */
	while (s & 1) {
		merkle_node_hash(f->h[level], h, h);
		level++;
		s >>= 1;
		if (on_node != NULL)
			on_node(ctx, level, idx >> level, h);
	}
	memcpy(f->h[level], h, MERKLE_HASH_BYTES);
	f->size++;
	return 0;
}

/*
 * One batch of at most PUSH_BATCH leaves, level by level: the new nodes of a level are
 * independent of each other, so they are hashed two at a time. lv holds the new nodes of levels
 * 1 and up (at most PUSH_BATCH + 64 of them); base[l] is where level l starts in it.
 */
#define PUSH_BATCH 256

static const uint8_t *
new_node(const uint8_t (*leaves)[MERKLE_HASH_BYTES], uint8_t (*lv)[MERKLE_HASH_BYTES],
	const size_t *base, uint64_t n0, unsigned level, uint64_t index)
{
	if (level == 0)
		return leaves[index - n0];
	return lv[base[level] + (index - (n0 >> level))];
}

static void
push_batch(struct merkle_frontier *f, const uint8_t (*leaves)[MERKLE_HASH_BYTES], size_t count,
	merkle_node_cb on_node, void *ctx)
{
	uint8_t lv[PUSH_BATCH + 64][MERKLE_HASH_BYTES];
	const uint8_t *left[2], *right[2];
	uint8_t *out[2];
	size_t base[65], used = 0, i;
	uint64_t n0 = f->size, n = f->size + count, j, lo, hi, idx, s;
	unsigned l, m;

	for (l = 1; l < 64; l++) {
		lo = n0 >> l;
		hi = n >> l;
		if (hi == lo)
			break; /* no new node here, so none above */
		base[l] = used;
		m = 0;
		for (j = lo; j < hi; j++) {
			/* The right child is always new; the left one is new or the frontier's. */
			right[m] = new_node(leaves, lv, base, n0, l - 1, 2 * j + 1);
			left[m] = 2 * j >= (n0 >> (l - 1))
					  ? new_node(leaves, lv, base, n0, l - 1, 2 * j)
					  : f->h[l - 1];
			out[m] = lv[used++];
			if (++m == 2) {
				merkle_node_hash2(
					left[0], right[0], out[0], left[1], right[1], out[1]);
				m = 0;
			}
		}
		if (m == 1)
			merkle_node_hash(left[0], right[0], out[0]);
	}
	if (on_node != NULL)
		for (i = 0; i < count; i++) {
			idx = n0 + i;
			on_node(ctx, 0, idx, leaves[i]);
			for (s = idx, l = 0; s & 1; s >>= 1) {
				l++;
				on_node(ctx, l, idx >> l,
					new_node(leaves, lv, base, n0, l, idx >> l));
			}
		}
	/* The frontier keeps, for each set bit l of the new size, the last node of level l. */
	for (l = 0; l < 64 && (n >> l) != 0; l++)
		if (((n >> l) & 1) && (n >> l) - 1 >= (n0 >> l))
			memcpy(f->h[l], new_node(leaves, lv, base, n0, l, (n >> l) - 1),
				MERKLE_HASH_BYTES);
	f->size = n;
}

int
merkle_frontier_push_many(struct merkle_frontier *f, const uint8_t (*leaves)[MERKLE_HASH_BYTES],
	size_t count, merkle_node_cb on_node, void *ctx)
{
	size_t k;

	if (count > UINT64_MAX - f->size)
		return PASO_E_INVALID_ARG;
	if (count == 1)
		return merkle_frontier_push(f, leaves[0], on_node, ctx);
	for (; count > 0; leaves += k, count -= k) {
		k = count < PUSH_BATCH ? count : PUSH_BATCH;
		push_batch(f, leaves, k, on_node, ctx);
	}
	return 0;
}

void
merkle_frontier_root(const struct merkle_frontier *f, uint8_t root[MERKLE_HASH_BYTES])
{
	int have = 0;
	unsigned l;

	for (l = 0; l < 64; l++) {
		if (!(f->size & ((uint64_t)1 << l)))
			continue;
		if (!have) {
			memcpy(root, f->h[l], MERKLE_HASH_BYTES);
			have = 1;
		} else {
			merkle_node_hash(f->h[l], root, root);
		}
	}
	if (!have)
		merkle_empty_root(root);
}
