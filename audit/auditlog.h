/* SPDX-License-Identifier: Apache-2.0 */
/* The append-only audit log on disk: framed entries, stored tree hashes, signed checkpoints. */
#ifndef PASO_AUDITLOG_H
#define PASO_AUDITLOG_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "errors.h"
#include "logread.h"
#include "merkle.h"

/*
 * Layout of an audit directory (AUDITDIR, usually DEPLOYMENT/audit/; see audit/README.md):
 *   entries     frames: u32 big-endian length || first 4 bytes of the leaf hash || entry bytes
 *   offsets     u64 big-endian byte offset in entries of each frame (derived, rebuilt if behind)
 *   hashes      every perfect-subtree hash of the RFC 6962 tree in post-order, 32 bytes each
 *               (leaf i, then the nodes it completes; derived, rebuilt if behind)
 *   checkpoint  the latest signed checkpoint note (replaced by atomic rename)
 *   log.vkey    the log's verifier key (written by whoever owns the signing key, e.g. the hub)
 *   torn.OFFSET bytes cut from the tail of entries by recovery, kept for inspection
 *
 * Caveats:
 * - One writer per directory (an exclusive flock on entries); readers open it read-only at any
 * time.
 * - Not thread-safe: one thread uses one struct auditlog at a time.
 * - Durability: appends are buffered. auditlog_sync makes them durable (fdatasync of entries);
 *   offsets and hashes are made durable at each checkpoint and recomputed from entries after it
 *   on open. Acknowledge nothing before auditlog_sync returns 0.
 * - A full disk or quota (ENOSPC, EDQUOT) is not an I/O error: appends, syncs and checkpoints
 *   fail with PASO_E_STORE_FULL and keep nothing half-written once the caller cuts back with
 *   auditlog_truncate; the handle serves again when space returns. After any other I/O error,
 *   or a cut-back that failed, the handle refuses further writes (PASO_E_IO): reopen it.
 */
/* 65,535: an entry must fit the u16 length prefix of a tlog-tiles entry bundle (tiles.h). */
#define AUDITLOG_MAX_ENTRY 65535u

struct auditlog;

/*
 * Opens (creating AUDITDIR 0700 and its files if absent) the log for appending, takes the
 * writer lock and recovers: entries after the latest checkpoint are re-read, their framing
 * checked and the derived files rebuilt; a torn or partly written tail is cut back to the last
 * complete entry (the cut bytes are saved as AUDITDIR/torn.OFFSET). A recovery that cut something
 * returns 0 and sets d->code = PASO_E_AUDIT_TORN with a message naming the entry and byte counts
 * (d->code is 0 otherwise); log it. Caller owns *out (auditlog_close). Returns 0, PASO_E_IO,
 * PASO_E_EXISTS (another writer holds the lock), PASO_E_AUDIT_CORRUPT (the entries do not match
 * the latest checkpoint, or it is unreadable) or PASO_E_NOMEM; d names the file.
 */
int auditlog_open(const char *auditdir, struct auditlog **out, struct paso_diag *d);

/*
 * Opens an existing log read-only (no lock, nothing written): the same recovery is done in memory
 * only. Returns as auditlog_open, and PASO_E_NOT_FOUND if the directory or entries file is missing.
 */
int auditlog_open_readonly(const char *auditdir, struct auditlog **out, struct paso_diag *d);

/* Closes the log (flushing buffered appends, without fdatasync) and frees it; accepts NULL. */
void auditlog_close(struct auditlog *log);

/*
 * Appends one entry (opaque bytes, borrowed; at most AUDITLOG_MAX_ENTRY) and sets *indexp to
 * its 0-based index (indexp may be NULL). Buffered: not durable until auditlog_sync. Returns 0,
 * PASO_E_INVALID_ARG (too long, read-only handle), PASO_E_IO or PASO_E_NOMEM.
 */
int auditlog_append(struct auditlog *log, const uint8_t *entry, size_t len, uint64_t *indexp);

/*
 * Makes every entry appended so far durable (write + fdatasync). Returns 0, PASO_E_STORE_FULL
 * (cut back with auditlog_truncate, retry once space returns) or PASO_E_IO.
 */
int auditlog_sync(struct auditlog *log);

/* Number of entries (appended, durable or not). */
uint64_t auditlog_size(const struct auditlog *log);

/* Tree size of the latest checkpoint (0 if none). */
uint64_t auditlog_checkpoint_size(const struct auditlog *log);

/*
 * Cuts the log back to size entries (crash recovery, and a transaction rolled back, e.g. after
 * PASO_E_STORE_FULL): entries still buffered are dropped and the files cut, without writing
 * anything first. Durable when it returns. Returns 0, PASO_E_ROLLBACK (size is below the latest
 * checkpoint's: a signed state is never withdrawn), PASO_E_INVALID_ARG (size > auditlog_size) or
 * PASO_E_IO (the cut failed: the handle refuses every write from then on).
 */
int auditlog_truncate(struct auditlog *log, uint64_t size);

/*
 * Syncs, signs the root of the current size with s (origin = the signer's name) and replaces
 * AUDITDIR/checkpoint durably (temporary file, fsync, rename, fsync of the directory). Returns 0,
 * PASO_E_IO, PASO_E_INVALID_ARG (read-only handle, s is not a log key) or PASO_E_NOMEM.
 */
int auditlog_checkpoint(struct auditlog *log, const struct checkpoint_signer *s);

/*
 * The latest checkpoint note text as stored (caller frees). Returns 0, PASO_E_NOT_FOUND (none
 * yet), PASO_E_IO or PASO_E_NOMEM.
 */
int auditlog_latest_checkpoint(struct auditlog *log, char **notep, size_t *lenp);

/*
 * Copies entry index into a new buffer; caller frees *bufp. The frame's check is verified.
 * Returns 0, PASO_E_NOT_FOUND (index >= size), PASO_E_AUDIT_CORRUPT, PASO_E_IO or PASO_E_NOMEM.
 */
int auditlog_entry(struct auditlog *log, uint64_t index, uint8_t **bufp, size_t *lenp);

/*
 * Entries [first, first + count) as a tlog-tiles entry bundle: each entry as u16 big-endian
 * length || bytes, in one read of the entries file (frame checks are not recomputed: the leaf
 * hashes in the tiles come from the stored tree). Caller frees *bufp. Returns 0,
 * PASO_E_NOT_FOUND (past the end), PASO_E_AUDIT_CORRUPT (framing), PASO_E_IO or PASO_E_NOMEM.
 */
int auditlog_bundle(
	struct auditlog *log, uint64_t first, uint64_t count, uint8_t **bufp, size_t *lenp);

/*
 * For a reader on another thread: the frames of entries [first, first + count) are *lenp bytes
 * at *offp of the entries file, open as *fdp (borrowed; read it with pread only). They are there
 * once written (auditlog_sync) and stay until auditlog_truncate cuts below them. Returns 0,
 * PASO_E_NOT_FOUND (past the end) or PASO_E_INVALID_ARG (not all written yet: still buffered).
 */
int auditlog_frames_span(struct auditlog *log, uint64_t first, uint64_t count, int *fdp,
	uint64_t *offp, size_t *lenp);

/*
 * Rewrites the first count frames of buf (len bytes, as read from the entries file) in place as
 * a tlog-tiles entry bundle (u16 big-endian length || bytes each), from buf[0]; pure, no I/O.
 * *consumed: frame bytes used; *produced: bundle bytes (fewer). Returns 0 or
 * PASO_E_AUDIT_CORRUPT (a frame is cut short or longer than 65,535 bytes).
 */
int auditlog_frames_to_bundle(
	uint8_t *buf, size_t len, uint64_t count, size_t *consumed, size_t *produced);

/* The stored leaf hash of entry index. Returns 0, PASO_E_NOT_FOUND or PASO_E_IO. */
int auditlog_leaf_hash(struct auditlog *log, uint64_t index, uint8_t out[MERKLE_HASH_BYTES]);

/*
 * The stored hash of the perfect subtree of 2^level leaves starting at leaf index << level
 * (level 0: a leaf hash). Returns 0, PASO_E_NOT_FOUND (the subtree is not complete within
 * auditlog_size, or level > 63) or PASO_E_IO.
 */
int auditlog_node(
	struct auditlog *log, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_BYTES]);

/* Root of the first size entries (size <= auditlog_size), from O(log size) stored hashes. */
int auditlog_root(struct auditlog *log, uint64_t size, uint8_t root[MERKLE_HASH_BYTES]);

/*
 * Inclusion proof of entry index in the tree of size entries, leaf-to-root, into path (capacity
 * cap, MERKLE_MAX_PROOF suffices); *n is the number of hashes. Reads O(log size) stored hashes.
 * Returns 0, PASO_E_INVALID_ARG (index >= size, size > auditlog_size, cap too small) or PASO_E_IO.
 */
int auditlog_inclusion(struct auditlog *log, uint64_t index, uint64_t size,
	uint8_t (*path)[MERKLE_HASH_BYTES], size_t cap, size_t *n);

/* Consistency proof from old_size to new_size (0 < old_size <= new_size <= auditlog_size). */
int auditlog_consistency(struct auditlog *log, uint64_t old_size, uint64_t new_size,
	uint8_t (*proof)[MERKLE_HASH_BYTES], size_t cap, size_t *n);

/*
 * The outsider's full check of a log directory lives in logread.c (logread_verify), which
 * paso-audit links without this file. The hub's own callers may keep these names for it.
 */
#define auditlog_report logread_report
int auditlog_verify(const char *auditdir, const struct checkpoint_verifier *v,
	const struct checkpoint *known, struct logread_report *rep, struct paso_diag *d)
	__attribute__((warn_unused_result));

#endif
