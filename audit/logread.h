/* SPDX-License-Identifier: Apache-2.0 */
/* The outsider's read-only view of an audit directory: entries, proofs, full verification. */
#ifndef PASO_LOGREAD_H
#define PASO_LOGREAD_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "errors.h"
#include "merkle.h"

/*
 * An independent reader of the directory layout described in audit/README.md (auditlog.h is the
 * hub's writer; paso-audit links this instead). Nothing is written and no lock is taken; the
 * files may grow while they are read. Not thread-safe.
 */
struct logread;

/*
 * Opens AUDITDIR read-only. The usable size is the number of entries that have an offset and a
 * complete set of stored hashes (entries appended after the writer's last flush are not seen).
 * Caller owns *out (logread_close). Returns 0, PASO_E_NOT_FOUND (directory or a file missing),
 * PASO_E_AUDIT_CORRUPT (the checkpoint file is not a checkpoint) or PASO_E_NOMEM.
 */
int logread_open(const char *auditdir, struct logread **out, struct paso_diag *d);
void logread_close(struct logread *lr);
uint64_t logread_size(const struct logread *lr);
/* Tree size in AUDITDIR/checkpoint (not verified here), 0 if none. */
uint64_t logread_checkpoint_size(const struct logread *lr);

/* Entry index (its frame's check verified); caller frees. 0, PASO_E_NOT_FOUND,
 * PASO_E_AUDIT_CORRUPT, PASO_E_IO or PASO_E_NOMEM. */
int logread_entry(struct logread *lr, uint64_t index, uint8_t **bufp, size_t *lenp);
/* Stored leaf hash, root of the first size entries, and proofs from the stored hashes (not
 * verified here: check them against a signed checkpoint). 0, PASO_E_INVALID_ARG, PASO_E_IO. */
int logread_leaf_hash(struct logread *lr, uint64_t index, uint8_t out[MERKLE_HASH_BYTES]);
int logread_root(struct logread *lr, uint64_t size, uint8_t root[MERKLE_HASH_BYTES]);
int logread_inclusion(struct logread *lr, uint64_t index, uint64_t size,
	uint8_t (*path)[MERKLE_HASH_BYTES], size_t cap, size_t *n);
int logread_consistency(struct logread *lr, uint64_t old_size, uint64_t new_size,
	uint8_t (*proof)[MERKLE_HASH_BYTES], size_t cap, size_t *n);

/* What logread_verify found. */
struct logread_report {
	uint64_t entries;                /* complete entries in the entries file */
	uint64_t checkpoint_size;        /* tree size of the verified checkpoint */
	uint8_t root[MERKLE_HASH_BYTES]; /* its root, recomputed from the entries */
	char signer[256];                /* name of the key that signed it */
	uint64_t bad_index;    /* first bad entry when the code names one, else UINT64_MAX */
	uint64_t torn_bytes;   /* bytes of an incomplete tail after the last entry (warning) */
	uint64_t bytes_hashed; /* entry bytes read and hashed */
};

/*
 * The outsider's check of a whole log directory, trusting nothing in it but the checkpoint's
 * signature by v: reads entries, offsets and hashes sequentially, recomputes every leaf and node,
 * compares each with the stored copy and the root with the checkpoint. known, if not NULL, is a
 * checkpoint (already verified by the caller) seen earlier, e.g. one a witness cosigned: the log
 * must not be older than it and must contain it. Writes nothing. Returns 0, or the first problem:
 * PASO_E_AUDIT_SIGNATURE (checkpoint not signed by v), PASO_E_CHECKPOINT_FORMAT, PASO_E_NOT_FOUND
 * (no checkpoint), PASO_E_AUDIT_CORRUPT (rep->bad_index names the entry when one is to blame),
 * PASO_E_ROLLBACK, PASO_E_SPLIT_VIEW, PASO_E_IO or PASO_E_NOMEM; d says what and where.
 */
int logread_verify(const char *auditdir, const struct checkpoint_verifier *v,
	const struct checkpoint *known, struct logread_report *rep, struct paso_diag *d)
	__attribute__((warn_unused_result));

#endif
