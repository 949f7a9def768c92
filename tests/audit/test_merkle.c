/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for audit/merkle.c against the RFC 6962 / RFC 9162 vectors and golden probes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "errors.h"
#include "hex.h"
#include "json_mini.h"
#include "merkle.h"

#define H MERKLE_HASH_BYTES

static struct jv *vec, *derived;

static int
setup(void **state)
{
	(void)state;
	vec = json_read_file(PASO_TEST_DATA "/rfc6962/vectors.json");
	derived = json_read_file(PASO_TEST_DATA "/rfc6962/derived_vectors.json");
	return vec != NULL && derived != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	json_free(vec);
	json_free(derived);
	return 0;
}

/* Decodes a hex string that must be exactly 32 bytes; -1 otherwise. */
static int
dec32(const char *s, uint8_t out[H])
{
	size_t n = 0;

	if (s == NULL || hex_decode(s, out, H, &n) != 0 || n != H)
		return -1;
	return 0;
}

static void
assert_hex32(const char *hexs, const uint8_t h[H])
{
	uint8_t want[H];

	assert_int_equal(dec32(hexs, want), 0);
	assert_memory_equal(want, h, H);
}

/* Decodes a JSON array of hex hashes; -1 if any is not 32 bytes. Caller frees *outp. */
static int
dec_list(const struct jv *arr, uint8_t (**outp)[H], size_t *np)
{
	uint8_t(*p)[H];
	size_t i;

	*outp = NULL;
	*np = 0;
	assert_non_null(arr);
	p = calloc(arr->n + 1, H);
	assert_non_null(p);
	for (i = 0; i < arr->n; i++)
		if (dec32(json_str(json_at(arr, i)), p[i]) != 0) {
			free(p);
			return -1;
		}
	*outp = p;
	*np = arr->n;
	return 0;
}

/* Leaf hashes of the 8 upstream leaves. */
static void
leaves8(uint8_t out[8][H])
{
	const struct jv *l = json_get(vec, "leaves");
	uint8_t buf[64];
	size_t i, n;

	assert_int_equal(l->n, 8);
	for (i = 0; i < 8; i++) {
		assert_int_equal(hex_decode(json_str(json_at(l, i)), buf, sizeof(buf), &n), 0);
		merkle_leaf_hash(buf, n, out[i]);
	}
}

static void
byte_leaves(uint8_t out[256][H])
{
	uint8_t b;
	int i;

	for (i = 0; i < 256; i++) {
		b = (uint8_t)i;
		merkle_leaf_hash(&b, 1, out[i]);
	}
}

static void
test_hasher_kats(void **state)
{
	const struct jv *k = json_get(vec, "hasher_kats");
	uint8_t a[128], b[128], out[H];
	size_t i, an, bn, seen = 0;

	(void)state;
	assert_non_null(k);
	for (i = 0; i < k->n; i++) {
		const struct jv *e = json_at(k, i);
		const char *kind = json_str(json_get(e, "kind"));

		if (strcmp(kind, "empty") == 0) {
			merkle_empty_root(out);
		} else if (strcmp(kind, "leaf") == 0) {
			assert_int_equal(
				hex_decode(json_str(json_get(e, "input_hex")), a, sizeof(a), &an),
				0);
			merkle_leaf_hash(a, an, out);
		} else {
			assert_string_equal(kind, "node");
			assert_int_equal(
				hex_decode(json_str(json_get(e, "left_hex")), a, sizeof(a), &an),
				0);
			assert_int_equal(
				hex_decode(json_str(json_get(e, "right_hex")), b, sizeof(b), &bn),
				0);
			merkle_hash_children(a, an, b, bn, out);
			if (an == H && bn == H) {
				uint8_t fast[H];

				merkle_node_hash(a, b, fast);
				assert_memory_equal(fast, out, H);
			}
		}
		assert_hex32(json_str(json_get(e, "expected_hex")), out);
		seen++;
	}
	assert_int_equal(seen, 7);
	merkle_empty_root(out);
	assert_hex32(json_str(json_get(vec, "empty_root_hex")), out);
}

static void
test_roots(void **state)
{
	const struct jv *roots = json_get(vec, "roots"), *br;
	uint8_t l8[8][H], l256[256][H], out[H];
	size_t i;

	(void)state;
	leaves8(l8);
	for (i = 0; i < roots->n; i++) {
		const struct jv *e = json_at(roots, i);
		uint64_t size = json_u64(json_get(e, "size"));

		assert_int_equal(merkle_root((const uint8_t(*)[H])l8, size, out), 0);
		assert_hex32(json_str(json_get(e, "root_hex")), out);
	}
	byte_leaves(l256);
	br = json_get(json_get(derived, "byte_tree"), "roots");
	assert_int_equal(br->n, 257); /* sizes 0..256, the empty tree included */
	for (i = 0; i < br->n; i++) {
		const struct jv *e = json_at(br, i);

		assert_int_equal(
			merkle_root((const uint8_t(*)[H])l256, json_u64(json_get(e, "size")), out),
			0);
		assert_hex32(json_str(json_get(e, "root_hex")), out);
	}
}

/* Checks generation and verification of every inclusion vector in arr over leaves. */
static size_t
check_inclusion_list(const struct jv *arr, const uint8_t (*leaves)[H], uint64_t nleaves)
{
	uint8_t path[MERKLE_MAX_PROOF][H], root[H], leaf[H], (*want)[H];
	size_t i, j, np, nwant;

	for (i = 0; i < arr->n; i++) {
		const struct jv *e = json_at(arr, i);
		uint64_t index = json_u64(json_get(e, "index")),
			 size = json_u64(json_get(e, "size"));

		assert_true(size <= nleaves);
		assert_int_equal(dec_list(json_get(e, "path_hex"), &want, &nwant), 0);
		assert_int_equal(
			merkle_inclusion_proof(leaves, size, index, path, MERKLE_MAX_PROOF, &np),
			0);
		assert_int_equal(np, nwant);
		for (j = 0; j < np; j++)
			assert_memory_equal(path[j], want[j], H);
		assert_int_equal(dec32(json_str(json_get(e, "root_hex")), root), 0);
		assert_int_equal(dec32(json_str(json_get(e, "leaf_hash_hex")), leaf), 0);
		assert_memory_equal(leaf, leaves[index], H);
		assert_int_equal(merkle_verify_inclusion(
					 leaf, index, size, (const uint8_t(*)[H])want, nwant, root),
			0);
		/* Any flipped bit in the path must be caught. */
		for (j = 0; j < nwant; j++) {
			want[j][j % H] ^= 0x01;
			assert_int_equal(merkle_verify_inclusion(leaf, index, size,
						 (const uint8_t(*)[H])want, nwant, root),
				PASO_E_PROOF_INVALID);
			want[j][j % H] ^= 0x01;
		}
		free(want);
	}
	return arr->n;
}

static void
test_inclusion_vectors(void **state)
{
	uint8_t l8[8][H], l256[256][H];
	size_t n = 0;

	(void)state;
	leaves8(l8);
	byte_leaves(l256);
	n += check_inclusion_list(json_get(vec, "inclusion"), (const uint8_t(*)[H])l8, 8);
	n += check_inclusion_list(json_get(derived, "inclusion_all_8"), (const uint8_t(*)[H])l8, 8);
	n += check_inclusion_list(json_get(json_get(derived, "byte_tree"), "inclusion"),
		(const uint8_t(*)[H])l256, 256);
	assert_int_equal(n, 5 + 36 + 8);
}

static size_t
check_consistency_list(const struct jv *arr, const uint8_t (*leaves)[H], uint64_t nleaves)
{
	uint8_t proof[MERKLE_MAX_PROOF][H], r1[H], r2[H], (*want)[H];
	size_t i, j, np, nwant;

	for (i = 0; i < arr->n; i++) {
		const struct jv *e = json_at(arr, i);
		uint64_t s1 = json_u64(json_get(e, "size1")), s2 = json_u64(json_get(e, "size2"));

		assert_true(s2 <= nleaves);
		assert_int_equal(dec_list(json_get(e, "proof_hex"), &want, &nwant), 0);
		assert_int_equal(
			merkle_consistency_proof(leaves, s2, s1, proof, MERKLE_MAX_PROOF, &np), 0);
		assert_int_equal(np, nwant);
		for (j = 0; j < np; j++)
			assert_memory_equal(proof[j], want[j], H);
		assert_int_equal(dec32(json_str(json_get(e, "root1_hex")), r1), 0);
		assert_int_equal(dec32(json_str(json_get(e, "root2_hex")), r2), 0);
		assert_int_equal(
			merkle_verify_consistency(s1, s2, r1, r2, (const uint8_t(*)[H])want, nwant),
			0);
		for (j = 0; j < nwant; j++) {
			want[j][31] ^= 0x80;
			assert_int_equal(merkle_verify_consistency(
						 s1, s2, r1, r2, (const uint8_t(*)[H])want, nwant),
				PASO_E_PROOF_INVALID);
			want[j][31] ^= 0x80;
		}
		if (s1 != s2) /* swapped roots never verify */
			assert_int_equal(merkle_verify_consistency(
						 s1, s2, r2, r1, (const uint8_t(*)[H])want, nwant),
				PASO_E_PROOF_INVALID);
		free(want);
	}
	return arr->n;
}

static void
test_consistency_vectors(void **state)
{
	uint8_t l8[8][H], l256[256][H];
	size_t n = 0;

	(void)state;
	leaves8(l8);
	byte_leaves(l256);
	n += check_consistency_list(json_get(vec, "consistency"), (const uint8_t(*)[H])l8, 8);
	n += check_consistency_list(
		json_get(derived, "consistency_all_8"), (const uint8_t(*)[H])l8, 8);
	n += check_consistency_list(json_get(json_get(derived, "byte_tree"), "consistency"),
		(const uint8_t(*)[H])l256, 256);
	assert_int_equal(n, 5 + 36 + 8);
}

static void
test_large_tree_inclusion(void **state)
{
	const struct jv *e = json_get(vec, "large_tree_inclusion");
	const char *in = json_str(json_get(e, "leaf_input_hex"));
	uint8_t *leafin, leaf[H], root[H], (*path)[H];
	size_t n, np;
	uint64_t index = json_u64(json_get(e, "index")), size = json_u64(json_get(e, "size"));

	(void)state;
	assert_int_equal(index, 848049);
	assert_int_equal(size, 3630887);
	leafin = malloc(strlen(in) / 2 + 1);
	assert_non_null(leafin);
	assert_int_equal(hex_decode(in, leafin, strlen(in) / 2, &n), 0);
	merkle_leaf_hash(leafin, n, leaf);
	free(leafin);
	assert_hex32(json_str(json_get(e, "leaf_hash_hex")), leaf);
	assert_int_equal(dec_list(json_get(e, "path_hex"), &path, &np), 0);
	assert_int_equal(np, 22);
	assert_int_equal(dec32(json_str(json_get(e, "root_hex")), root), 0);
	assert_int_equal(
		merkle_verify_inclusion(leaf, index, size, (const uint8_t(*)[H])path, np, root), 0);
	assert_int_equal(
		merkle_verify_inclusion(leaf, index + 1, size, (const uint8_t(*)[H])path, np, root),
		PASO_E_PROOF_INVALID);
	assert_int_equal(
		merkle_verify_inclusion(leaf, index, size / 2, (const uint8_t(*)[H])path, np, root),
		PASO_E_PROOF_INVALID);
	assert_int_equal(
		merkle_verify_inclusion(leaf, index, size, (const uint8_t(*)[H])path, np - 1, root),
		PASO_E_PROOF_INVALID);
	free(path);
}

/*
 * The transparency-dev/merkle golden probes. Our API takes 32-byte hashes, so a probe with a hash
 * of another length is refused when it is decoded, as paso-audit check-* refuses such input. The
 * one valid probe this makes us refuse is "sizes are equal (one) and proof is empty" with 12-byte
 * roots, valid only because transparency-dev does not check the root length when sizes are equal;
 * a SHA-256 tree root is never 12 bytes, so refusing it is deliberate.
 */
static void
test_probes(void **state)
{
	const struct jv *probes = json_get(vec, "probes");
	const struct jv *inc = json_get(probes, "inclusion"),
			*con = json_get(probes, "consistency");
	uint8_t a[H], b[H], (*path)[H];
	size_t i, np, rejected = 0, accepted = 0, refused_valid = 0;
	int ok;

	(void)state;
	for (i = 0; i < inc->n; i++) {
		const struct jv *e = json_at(inc, i);
		int valid = json_is_true(json_get(e, "expect_valid"));

		ok = dec32(json_str(json_get(e, "leaf_hash_hex")), a) == 0 &&
		     dec32(json_str(json_get(e, "root_hex")), b) == 0 &&
		     dec_list(json_get(e, "path_hex"), &path, &np) == 0;
		if (ok) {
			ok = merkle_verify_inclusion(a, json_u64(json_get(e, "index")),
				     json_u64(json_get(e, "size")), (const uint8_t(*)[H])path, np,
				     b) == 0;
			free(path);
		}
		if (ok != valid)
			fail_msg("inclusion probe %s (%s): expected %s",
				json_str(json_get(e, "file")), json_str(json_get(e, "desc")),
				valid ? "valid" : "invalid");
		ok ? accepted++ : rejected++;
	}
	for (i = 0; i < con->n; i++) {
		const struct jv *e = json_at(con, i);
		int valid = json_is_true(json_get(e, "expect_valid"));
		const char *desc = json_str(json_get(e, "desc"));
		int decoded;

		decoded = dec32(json_str(json_get(e, "root1_hex")), a) == 0 &&
			  dec32(json_str(json_get(e, "root2_hex")), b) == 0 &&
			  dec_list(json_get(e, "proof_hex"), &path, &np) == 0;
		ok = 0;
		if (decoded) {
			ok = merkle_verify_consistency(json_u64(json_get(e, "size1")),
				     json_u64(json_get(e, "size2")), a, b,
				     (const uint8_t(*)[H])path, np) == 0;
			free(path);
		}
		if (valid && !decoded &&
			strcmp(desc, "sizes are equal (one) and proof is empty") == 0) {
			refused_valid++;
			continue;
		}
		if (ok != valid)
			fail_msg("consistency probe %s (%s): expected %s",
				json_str(json_get(e, "file")), desc, valid ? "valid" : "invalid");
		ok ? accepted++ : rejected++;
	}
	assert_int_equal(rejected, 184); /* every must-reject probe */
	assert_int_equal(accepted, 11);
	assert_int_equal(refused_valid, 1);
}

/* ---- an RFC-literal reference (recursive PATH and PROOF of RFC 6962 2.1.1-2.1.2) ---- */

static uint64_t
ref_k(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

static void
ref_mth(const uint8_t (*d)[H], uint64_t n, uint8_t out[H])
{
	uint8_t l[H], r[H];
	uint64_t k;

	if (n == 1) {
		memcpy(out, d[0], H);
		return;
	}
	k = ref_k(n);
	ref_mth(d, k, l);
	ref_mth(d + k, n - k, r);
	merkle_node_hash(l, r, out);
}

static size_t
ref_path(uint64_t m, const uint8_t (*d)[H], uint64_t n, uint8_t (*out)[H])
{
	uint64_t k;
	size_t c;

	if (n == 1)
		return 0;
	k = ref_k(n);
	if (m < k) {
		c = ref_path(m, d, k, out);
		ref_mth(d + k, n - k, out[c]);
	} else {
		c = ref_path(m - k, d + k, n - k, out);
		ref_mth(d, k, out[c]);
	}
	return c + 1;
}

static size_t
ref_subproof(uint64_t m, const uint8_t (*d)[H], uint64_t n, int b, uint8_t (*out)[H])
{
	uint64_t k;
	size_t c;

	if (m == n) {
		if (b)
			return 0;
		ref_mth(d, n, out[0]);
		return 1;
	}
	k = ref_k(n);
	if (m <= k) {
		c = ref_subproof(m, d, k, b, out);
		ref_mth(d + k, n - k, out[c]);
	} else {
		c = ref_subproof(m - k, d + k, n - k, 0, out);
		ref_mth(d, k, out[c]);
	}
	return c + 1;
}

/* Every index and every old size of every tree of 1..70 leaves, against the RFC text. */
static void
test_against_reference(void **state)
{
	uint8_t l[70][H], p[MERKLE_MAX_PROOF][H], q[MERKLE_MAX_PROOF][H], root[H], old[H];
	uint64_t n, m;
	size_t np, nq;
	int i;

	(void)state;
	for (i = 0; i < 70; i++) {
		uint8_t b[2] = {(uint8_t)i, 0xa5};

		merkle_leaf_hash(b, sizeof(b), l[i]);
	}
	for (n = 1; n <= 70; n++) {
		assert_int_equal(merkle_root((const uint8_t(*)[H])l, n, root), 0);
		ref_mth((const uint8_t(*)[H])l, n, old);
		assert_memory_equal(root, old, H);
		for (m = 0; m < n; m++) {
			assert_int_equal(merkle_inclusion_proof((const uint8_t(*)[H])l, n, m, p,
						 MERKLE_MAX_PROOF, &np),
				0);
			nq = ref_path(m, (const uint8_t(*)[H])l, n, q);
			assert_int_equal(np, nq);
			assert_memory_equal(p, q, np * H);
			assert_int_equal(merkle_verify_inclusion(
						 l[m], m, n, (const uint8_t(*)[H])p, np, root),
				0);
			if (n > 1) /* the same proof for the wrong leaf or index must fail */
				assert_int_equal(merkle_verify_inclusion(l[(m + 1) % n], m, n,
							 (const uint8_t(*)[H])p, np, root),
					PASO_E_PROOF_INVALID);
		}
		for (m = 1; m <= n; m++) {
			assert_int_equal(merkle_consistency_proof((const uint8_t(*)[H])l, n, m, p,
						 MERKLE_MAX_PROOF, &np),
				0);
			nq = m == n ? 0 : ref_subproof(m, (const uint8_t(*)[H])l, n, 1, q);
			assert_int_equal(np, nq);
			assert_memory_equal(p, q, np * H);
			ref_mth((const uint8_t(*)[H])l, m, old);
			assert_int_equal(merkle_verify_consistency(
						 m, n, old, root, (const uint8_t(*)[H])p, np),
				0);
			if (m < n && m > 1) /* claiming a different old size must fail */
				assert_int_equal(merkle_verify_consistency(m - 1, n, old, root,
							 (const uint8_t(*)[H])p, np),
					PASO_E_PROOF_INVALID);
		}
	}
}

/* Every node a push reports, in order: the audit log writes its hash file from this. */
struct node_rec {
	unsigned level[2048];
	uint64_t index[2048];
	uint8_t hash[2048][H];
	size_t n;
};

static void
record_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
	struct node_rec *r = ctx;

	assert_true(r->n < 2048);
	r->level[r->n] = level;
	r->index[r->n] = index;
	memcpy(r->hash[r->n], hash, H);
	r->n++;
}

/*
 * Pushing leaves in batches (nodes hashed two at a time) gives the same roots and the same
 * node reports, in the same order, as pushing them one by one, whatever the batch boundaries;
 * and merkle_node_hash2 and merkle_leaf_hash2 are two single hashes, also when an output is an
 * input, and for leaves of any two lengths.
 */
static void
test_push_many_matches_one_by_one(void **state)
{
	static const size_t starts[] = {0, 1, 2, 3, 7, 255, 256, 257, 300};
	static const size_t counts[] = {1, 2, 3, 5, 64, 255, 256, 257, 600};
	static struct node_rec a, b;
	struct merkle_frontier f1, f2;
	uint8_t(*l)[H], r1[H], r2[H], x[H], y[H];
	size_t si, ci, i, j;

	(void)state;
	l = calloc(1000, H);
	assert_non_null(l);
	for (i = 0; i < 1000; i++) {
		uint8_t b4[4] = {(uint8_t)i, (uint8_t)(i >> 8), 7, 9};

		merkle_leaf_hash(b4, sizeof(b4), l[i]);
	}
	for (si = 0; si < sizeof(starts) / sizeof(starts[0]); si++)
		for (ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
			merkle_frontier_init(&f1);
			merkle_frontier_init(&f2);
			for (i = 0; i < starts[si]; i++) {
				assert_int_equal(merkle_frontier_push(&f1, l[i], NULL, NULL), 0);
				assert_int_equal(merkle_frontier_push(&f2, l[i], NULL, NULL), 0);
			}
			a.n = b.n = 0;
			for (j = 0; j < counts[ci]; j++)
				assert_int_equal(merkle_frontier_push(
							 &f1, l[starts[si] + j], record_node, &a),
					0);
			assert_int_equal(merkle_frontier_push_many(
						 &f2, l + starts[si], counts[ci], record_node, &b),
				0);
			merkle_frontier_root(&f1, r1);
			merkle_frontier_root(&f2, r2);
			assert_memory_equal(r1, r2, H);
			assert_int_equal(a.n, b.n);
			for (j = 0; j < a.n; j++) {
				assert_int_equal(a.level[j], b.level[j]);
				assert_true(a.index[j] == b.index[j]);
				assert_memory_equal(a.hash[j], b.hash[j], H);
			}
			/* And the frontier keeps working after the batch. */
			assert_int_equal(merkle_frontier_push(&f1, l[999], NULL, NULL), 0);
			assert_int_equal(merkle_frontier_push_many(&f2, l + 999, 1, NULL, NULL), 0);
			merkle_frontier_root(&f1, r1);
			merkle_frontier_root(&f2, r2);
			assert_memory_equal(r1, r2, H);
		}
	for (i = 0; i + 3 < 1000; i += 97) {
		merkle_node_hash(l[i], l[i + 1], r1);
		merkle_node_hash(l[i + 2], l[i + 3], r2);
		merkle_node_hash2(l[i], l[i + 1], x, l[i + 2], l[i + 3], y);
		assert_memory_equal(x, r1, H);
		assert_memory_equal(y, r2, H);
		memcpy(x, l[i], H);
		memcpy(y, l[i + 3], H);
		merkle_node_hash2(x, l[i + 1], x, l[i + 2], y, y);
		assert_memory_equal(x, r1, H);
		assert_memory_equal(y, r2, H);
	}
	/* Leaf hashes two at a time, every length from 0 to 300 against several others (the
	 * padding moves to a second block at 55 + 1 bytes of the 0x00 prefix). */
	{
		static uint8_t m[1200];
		static const size_t other[] = {0, 1, 54, 55, 56, 63, 64, 119, 512, 1100};

		for (i = 0; i < sizeof(m); i++)
			m[i] = (uint8_t)(i * 131 + 17);
		for (i = 0; i <= 300; i++)
			for (j = 0; j < sizeof(other) / sizeof(other[0]); j++) {
				merkle_leaf_hash(m + 3, i, r1);
				merkle_leaf_hash(m + 5, other[j], r2);
				merkle_leaf_hash2(m + 3, i, x, m + 5, other[j], y);
				assert_memory_equal(x, r1, H);
				assert_memory_equal(y, r2, H);
				merkle_leaf_hash2(m + 5, other[j], y, m + 3, i, x);
				assert_memory_equal(x, r1, H);
				assert_memory_equal(y, r2, H);
			}
	}
	f1.size = UINT64_MAX - 1;
	assert_int_equal(merkle_frontier_push_many(&f1, l, 2, NULL, NULL), PASO_E_INVALID_ARG);
	assert_true(f1.size == UINT64_MAX - 1);
	free(l);
}

static void
test_bad_arguments(void **state)
{
	uint8_t l[4][H] = {{0}}, p[MERKLE_MAX_PROOF][H], root[H];
	size_t np = 99;

	(void)state;
	assert_int_equal(
		merkle_inclusion_proof((const uint8_t(*)[H])l, 4, 4, p, MERKLE_MAX_PROOF, &np),
		PASO_E_INVALID_ARG);
	assert_int_equal(np, 0);
	assert_int_equal(merkle_inclusion_proof((const uint8_t(*)[H])l, 4, 0, p, 1, &np),
		PASO_E_INVALID_ARG);
	assert_int_equal(
		merkle_consistency_proof((const uint8_t(*)[H])l, 4, 0, p, MERKLE_MAX_PROOF, &np),
		PASO_E_INVALID_ARG);
	assert_int_equal(
		merkle_consistency_proof((const uint8_t(*)[H])l, 4, 5, p, MERKLE_MAX_PROOF, &np),
		PASO_E_INVALID_ARG);
	assert_int_equal(merkle_root((const uint8_t(*)[H])l, 0, root), 0);
	assert_hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", root);
	/* Index at or past the size, and size 0, are never valid. */
	assert_int_equal(merkle_verify_inclusion(l[0], 0, 0, NULL, 0, root), PASO_E_PROOF_INVALID);
	assert_int_equal(merkle_verify_inclusion(l[0], UINT64_MAX, UINT64_MAX, NULL, 0, l[0]),
		PASO_E_PROOF_INVALID);
	assert_int_equal(
		merkle_verify_consistency(0, 0, root, root, NULL, 0), PASO_E_PROOF_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hasher_kats),
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_inclusion_vectors),
		cmocka_unit_test(test_consistency_vectors),
		cmocka_unit_test(test_large_tree_inclusion),
		cmocka_unit_test(test_probes),
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_push_many_matches_one_by_one),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
