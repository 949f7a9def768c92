/* SPDX-License-Identifier: Apache-2.0 */
/* A start-up check of an audit directory: the tail since the last checkpoint and the index files. */
#ifndef PASO_AUDITCHECK_H
#define PASO_AUDITCHECK_H

#include <stdint.h>

#include "errors.h"

/* What auditcheck_tail looked at. */
struct auditcheck_report {
	uint64_t checkpoint_size; /* entries the checkpoint covers */
	uint64_t entries_checked; /* entries re-read and re-hashed (window + tail) */
	uint64_t tail_entries;    /* complete entries after the checkpoint */
	uint64_t torn_bytes; /* an incomplete last frame (a crash mid-write: recovery cuts it) */
	uint64_t bad_index;  /* the damaged entry, UINT64_MAX when none or not one entry */
	char bad_file[16];   /* "entries", "offsets", "hashes" or "checkpoint"; "" if none */
};

#define AUDITCHECK_WINDOW 65536u /* entries before the checkpoint re-read by default */

/*
 * Checks AUDITDIR read-only (no lock, nothing written), for a hub to call before
 * auditlog_open, so that damage stops the start instead of being cut, rebuilt or signed over:
 *   - the checkpoint file parses;
 *   - offsets and hashes are at least as long as the checkpoint needs, the offsets it covers
 *     increase strictly from 0 and stay inside entries, and the stored tree gives its root;
 *   - the last `window` entries it covers are re-read: framing, check bytes, contiguity with the
 *     next offset, leaf hash and every stored node over them recomputed and compared;
 *   - every entry after it is re-read: a damaged frame followed by a complete one is damage
 *     (a crash only ever tears the end); an incomplete last frame is a torn write (reported in
 *     rep->torn_bytes, not an error: auditlog_open cuts it).
 * Returns 0, or PASO_E_AUDIT_CORRUPT with rep->bad_index / rep->bad_file and d naming the entry,
 * the file and the byte offset and saying it is damage; PASO_E_NOT_FOUND (no entries file),
 * PASO_E_IO or PASO_E_NOMEM. A log without a checkpoint has only a tail.
 */
int auditcheck_tail(const char *auditdir, uint64_t window, struct auditcheck_report *rep,
	struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * Whether the bytes of fd in [off, end) are all zero: the ~1 MiB a running writer keeps written
 * ahead of its next entry (auditlog.c), which a reader takes as the log's end, not as a torn
 * write. Returns 1 (all zero), 0 (not), or PASO_E_IO (a read failed). paso-audit's reader
 * (logread.c) keeps its own copy on purpose: it shares no code with the hub's writer.
 */
int auditcheck_zeros_to_end(int fd, uint64_t off, uint64_t end);

#endif
