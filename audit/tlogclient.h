/* SPDX-License-Identifier: Apache-2.0 */
/* A tlog-tiles client: fetches a log's checkpoint, tiles and entry bundles and verifies them. */
#ifndef PASO_TLOGCLIENT_H
#define PASO_TLOGCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "errors.h"
#include "merkle.h"

/*
 * The client trusts nothing it fetches but the checkpoint's signature by the log key: every
 * hash taken from a tile is checked against the signed root (through a proof or by recomputing
 * the tree), every entry against its leaf hash. Tiles are fetched lazily and kept in a small
 * cache; tlogclient_fetches counts the fetches, for the "tiles read per proof" figure.
 * Not thread-safe.
 */
struct tlogclient;

/*
 * base is a directory or an "http://HOST:PORT/PREFIX/" URL holding checkpoint and tile/.
 * v (borrowed for the client's life) is the log's verifier key. Caller owns *out. Returns 0,
 * PASO_E_INVALID_ARG (bad URL) or PASO_E_NOMEM.
 */
int tlogclient_open(const char *base, const struct checkpoint_verifier *v, struct tlogclient **out,
	struct paso_diag *d);
void tlogclient_close(struct tlogclient *c);

/* Fetches (one HTTP GET or file read) and counts; also used for the checkpoint. */
uint64_t tlogclient_fetches(const struct tlogclient *c);
void tlogclient_reset_fetches(struct tlogclient *c);
/*
 * Gives the client the right edge of a tree it verified before (e.g. the frontier paso-audit
 * follow remembers; copied): proofs against a checkpoint of exactly f->size entries take the
 * edge's subtree hashes from it instead of fetching the partial tiles at the right edge. Only
 * pass a frontier whose root was checked against a signed checkpoint.
 */
void tlogclient_set_edge(struct tlogclient *c, const struct merkle_frontier *f);

/* Drops cached tiles, so the next proof fetches everything it needs again. */
void tlogclient_drop_cache(struct tlogclient *c);

/*
 * Fetches the checkpoint and verifies its signature by the log key. Fills cp; *notep (caller
 * frees, may be NULL) gets the note. Returns 0, PASO_E_NOT_FOUND, PASO_E_AUDIT_SIGNATURE,
 * PASO_E_CHECKPOINT_FORMAT, PASO_E_IO or PASO_E_NOMEM.
 */
int tlogclient_checkpoint(struct tlogclient *c, struct checkpoint *cp, char **notep, size_t *lenp,
	struct paso_diag *d);

/*
 * Entry index of the tree of size entries, from its entry bundle (caller frees *ep). The bundle
 * is parsed strictly (exactly its width of entries, nothing after). Not yet verified: check its
 * leaf hash with a proof. Returns 0, PASO_E_NOT_FOUND, PASO_E_AUDIT_CORRUPT, PASO_E_IO or
 * PASO_E_NOMEM.
 */
int tlogclient_entry(struct tlogclient *c, uint64_t size, uint64_t index, uint8_t **ep,
	size_t *lenp, struct paso_diag *d);

/*
 * Fetches entry index and proves it is in the tree of cp (verified): builds the inclusion proof
 * from the entry's bundle (which also gives its level-0 tile), the entry's tile at each level
 * above, and the partial tiles at the tree's right edge unless tlogclient_set_edge gave that
 * edge; verifies it against cp->root. A missing partial tile is read from its full tile. *ep
 * (caller frees, may be NULL) gets the entry. Returns 0, PASO_E_PROOF_INVALID (the tiles or the
 * entry do not match the signed root), PASO_E_INVALID_ARG (index >= size), or the fetch errors.
 */
int tlogclient_prove_entry(struct tlogclient *c, const struct checkpoint *cp, uint64_t index,
	uint8_t **ep, size_t *lenp, struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * Consistency proof from old_size to cp->size built from tiles, verified against old_root and
 * cp->root. Returns 0, PASO_E_SPLIT_VIEW (does not verify: the log is not an extension of the
 * old state), or the fetch errors.
 */
int tlogclient_check_consistency(struct tlogclient *c, uint64_t old_size,
	const uint8_t old_root[MERKLE_HASH_BYTES], const struct checkpoint *cp, struct paso_diag *d)
	__attribute__((warn_unused_result));

/* Progress of tlogclient_verify_range. */
struct tlogclient_report {
	uint64_t entries;   /* entries fetched and hashed */
	uint64_t tiles;     /* hash tiles fetched and recomputed */
	uint64_t bad_index; /* the first bad entry when one is to blame, else UINT64_MAX */
};

/*
 * Verifies entries [f->size, cp->size) from their bundles, pushing their leaf hashes into f
 * (a frontier already holding the verified first f->size leaves, or an empty one), then checks
 * the root against cp. With check_tiles, also recomputes every hash tile of the tree from the
 * level below and compares it with the published one (a full verification from an empty f).
 * Returns 0, PASO_E_AUDIT_CORRUPT (rep->bad_index or d names the entry or the tile),
 * PASO_E_SPLIT_VIEW (the root differs: the entries are not what the log signed), or fetch errors.
 */
int tlogclient_verify_range(struct tlogclient *c, const struct checkpoint *cp,
	struct merkle_frontier *f, int check_tiles, struct tlogclient_report *rep,
	struct paso_diag *d) __attribute__((warn_unused_result));

#endif
