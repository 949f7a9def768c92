/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification (SHA-256, OpenSSL). */
#ifndef PASO_MERKLE_H
#define PASO_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_BYTES 32
/* A proof for a tree of at most 2^64 - 1 leaves never has more than 64 (inclusion) or
 * 65 (consistency) hashes; callers size path arrays with this. */
#define MERKLE_MAX_PROOF 66

/*
 * Hashes. leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), and the root of
 * the empty tree is SHA-256(""). merkle_hash_children accepts children of any length (RFC 6962
 * does not restrict them; the transparency-dev KATs use 4-byte children). Pure, thread-safe.
 */
void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_BYTES]);
void merkle_node_hash(const uint8_t left[MERKLE_HASH_BYTES], const uint8_t right[MERKLE_HASH_BYTES],
	uint8_t out[MERKLE_HASH_BYTES]);
/* Two leaf hashes at once, the same as two merkle_leaf_hash calls (outputs may alias inputs);
 * with the CPU's SHA extensions the blocks both messages have run side by side. */
void merkle_leaf_hash2(const uint8_t *d1, size_t n1, uint8_t o1[MERKLE_HASH_BYTES],
	const uint8_t *d2, size_t n2, uint8_t o2[MERKLE_HASH_BYTES]);
/* Two independent node hashes, o1 = H(0x01 || l1 || r1) and o2 = H(0x01 || l2 || r2); with the
 * CPU's SHA extensions both run at once (about twice the rate of two merkle_node_hash calls).
 * Outputs may alias inputs. */
void merkle_node_hash2(const uint8_t *l1, const uint8_t *r1, uint8_t o1[MERKLE_HASH_BYTES],
	const uint8_t *l2, const uint8_t *r2, uint8_t o2[MERKLE_HASH_BYTES]);
void merkle_hash_children(const uint8_t *left, size_t llen, const uint8_t *right, size_t rlen,
	uint8_t out[MERKLE_HASH_BYTES]);
void merkle_empty_root(uint8_t out[MERKLE_HASH_BYTES]);

/*
 * A source of perfect-subtree hashes: get(ctx, level, index, out) writes the hash of the
 * complete subtree of 2^level leaves starting at leaf index << level. Proof generation below
 * only ever asks for subtrees inside the tree size it was given. Returns 0 or a PASO_E_* code,
 * which is passed through unchanged.
 */
typedef int (*merkle_node_fn)(
	void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_BYTES]);

/*
 * Root (MTH) of the first size leaves, reading O(log size) nodes from get. size 0 gives the
 * empty root. Returns 0 or the getter's error.
 */
int merkle_root_nodes(
	merkle_node_fn get, void *ctx, uint64_t size, uint8_t root[MERKLE_HASH_BYTES]);

/*
 * RFC 9162 inclusion proof (audit path) of leaf index in the tree of size leaves, leaf-to-root,
 * into path (capacity cap, MERKLE_MAX_PROOF is always enough); *np is the number of hashes.
 * Reads O(log size) nodes and hashes O(log size) for the one right-edge subtree that is not
 * perfect. Returns 0, PASO_E_INVALID_ARG (index >= size, cap too small) or the getter's error.
 */
int merkle_inclusion_nodes(merkle_node_fn get, void *ctx, uint64_t index, uint64_t size,
	uint8_t (*path)[MERKLE_HASH_BYTES], size_t cap, size_t *np);

/*
 * RFC 9162 consistency proof from old_size to new_size (0 < old_size <= new_size; equal sizes
 * give an empty proof). Returns 0, PASO_E_INVALID_ARG (sizes out of order, old_size 0, cap too
 * small) or the getter's error.
 */
int merkle_consistency_nodes(merkle_node_fn get, void *ctx, uint64_t old_size, uint64_t new_size,
	uint8_t (*proof)[MERKLE_HASH_BYTES], size_t cap, size_t *np);

/*
 * The same three operations over an in-memory array of n leaf hashes (borrowed). They hash
 * O(n) nodes per call: meant for small trees (the CLI's stdin mode, tests).
 */
int merkle_root(
	const uint8_t (*leaves)[MERKLE_HASH_BYTES], uint64_t n, uint8_t root[MERKLE_HASH_BYTES]);
int merkle_inclusion_proof(const uint8_t (*leaves)[MERKLE_HASH_BYTES], uint64_t n, uint64_t index,
	uint8_t (*path)[MERKLE_HASH_BYTES], size_t cap, size_t *np);
int merkle_consistency_proof(const uint8_t (*leaves)[MERKLE_HASH_BYTES], uint64_t n,
	uint64_t old_size, uint8_t (*proof)[MERKLE_HASH_BYTES], size_t cap, size_t *np);

/*
 * RFC 9162 section 2.1.3.2 verification of an inclusion proof. Returns 0 when leaf_hash is
 * leaf index of the tree of size leaves whose root is root; PASO_E_PROOF_INVALID otherwise
 * (index >= size, wrong proof length, hash mismatch). Hash comparison is constant-time.
 */
int merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_BYTES], uint64_t index,
	uint64_t size, const uint8_t (*path)[MERKLE_HASH_BYTES], size_t n,
	const uint8_t root[MERKLE_HASH_BYTES]) __attribute__((warn_unused_result));

/*
 * RFC 9162 section 2.1.4.2 verification of a consistency proof. Returns 0 or
 * PASO_E_PROOF_INVALID. As in RFC 9162 and transparency-dev/merkle: old_size 0 is rejected
 * (a proof from the empty tree is meaningless), equal sizes need an empty proof and equal roots.
 */
int merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
	const uint8_t old_root[MERKLE_HASH_BYTES], const uint8_t new_root[MERKLE_HASH_BYTES],
	const uint8_t (*proof)[MERKLE_HASH_BYTES], size_t n) __attribute__((warn_unused_result));

/*
 * A streaming tree builder (the "compact range" of the right edge): push leaf hashes in order,
 * read the root at any time in O(log n). Plain data, usable on the stack; fields are private to
 * merkle.c. on_node, when not NULL, is called for every perfect-subtree node the push completes
 * (the leaf itself first, then its completed ancestors: RFC 6962 post-order), which is how the
 * audit log writes its hash file.
 */
struct merkle_frontier {
	uint64_t size;
	uint8_t h[64][MERKLE_HASH_BYTES]; /* h[l]: root of the perfect subtree of 2^l leaves, if bit
	                                     l of size */
};
typedef void (*merkle_node_cb)(
	void *ctx, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_BYTES]);

void merkle_frontier_init(struct merkle_frontier *f);
/* Returns 0, or PASO_E_INVALID_ARG if the frontier already holds 2^64 - 1 leaves. */
int merkle_frontier_push(struct merkle_frontier *f, const uint8_t leaf_hash[MERKLE_HASH_BYTES],
	merkle_node_cb on_node, void *ctx);
/*
 * The same as count pushes in order, with the same on_node calls in the same order, but the
 * nodes of each level are computed together and hashed two at a time (merkle_node_hash2). An
 * overflow of 2^64 - 1 leaves returns PASO_E_INVALID_ARG and pushes nothing.
 */
int merkle_frontier_push_many(struct merkle_frontier *f, const uint8_t (*leaves)[MERKLE_HASH_BYTES],
	size_t count, merkle_node_cb on_node, void *ctx);
void merkle_frontier_root(const struct merkle_frontier *f, uint8_t root[MERKLE_HASH_BYTES]);

#endif
