/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 6962 / RFC 9162 Merkle tree hashing, proof generation over a node source, and verification.
 */
#include "merkle.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "errors.h"

/*
 * SHA-256 through OpenSSL's EVP, which uses the CPU's SHA extensions (SHA-NI) where there are
 * any: 2 to 3 times libsodium's portable code on the 65-byte nodes and ~500-byte entries of
 * the log. The digest is fetched once and each thread keeps one context (an implicit fetch
 * per call, as SHA256() does in OpenSSL 3, costs more than the hashing of a node). Should
 * OpenSSL fail to give either, libsodium computes the same digest.
 */
static EVP_MD *sha256_md;
static pthread_key_t sha256_key;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void
sha256_init(void)
{
	if ((sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)) != NULL &&
		pthread_key_create(&sha256_key, ctx_free) != 0) {
		EVP_MD_free(sha256_md);
		sha256_md = NULL;
	}
}

static EVP_MD_CTX *
sha256_ctx(void)
{
	EVP_MD_CTX *ctx;

	(void)pthread_once(&sha256_once, sha256_init);
	if (sha256_md == NULL)
		return NULL;
	if ((ctx = pthread_getspecific(sha256_key)) == NULL && (ctx = EVP_MD_CTX_new()) != NULL &&
		pthread_setspecific(sha256_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* SHA-256 of prefix (one byte, or none when prefix < 0) || a || b. */
static void
sha256(int prefix, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
	uint8_t out[MERKLE_HASH_BYTES])
{
	EVP_MD_CTX *ctx = sha256_ctx();
	crypto_hash_sha256_state st;
	uint8_t p = (uint8_t)prefix;
	unsigned int n;

	if (ctx != NULL && EVP_DigestInit_ex2(ctx, sha256_md, NULL) == 1 &&
		(prefix < 0 || EVP_DigestUpdate(ctx, &p, 1) == 1) &&
		(alen == 0 || EVP_DigestUpdate(ctx, a, alen) == 1) &&
		(blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
		EVP_DigestFinal_ex(ctx, out, &n) == 1)
		return;
	crypto_hash_sha256_init(&st);
	if (prefix >= 0)
		crypto_hash_sha256_update(&st, &p, 1);
	if (alen > 0)
		crypto_hash_sha256_update(&st, a, alen);
	if (blen > 0)
		crypto_hash_sha256_update(&st, b, blen);
	crypto_hash_sha256_final(&st, out);
}

void
merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_BYTES])
{
	sha256(0x00, data, len, NULL, 0, out);
}

void
merkle_node_hash(const uint8_t left[MERKLE_HASH_BYTES], const uint8_t right[MERKLE_HASH_BYTES],
	uint8_t out[MERKLE_HASH_BYTES])
{
	sha256(0x01, left, MERKLE_HASH_BYTES, right, MERKLE_HASH_BYTES, out);
}

void
merkle_hash_children(const uint8_t *left, size_t llen, const uint8_t *right, size_t rlen,
	uint8_t out[MERKLE_HASH_BYTES])
{
	sha256(0x01, left, llen, right, rlen, out);
}

void
merkle_empty_root(uint8_t out[MERKLE_HASH_BYTES])
{
	sha256(-1, NULL, 0, NULL, 0, out);
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
