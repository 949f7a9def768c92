/* SPDX-License-Identifier: Apache-2.0 */
/* An index from pseudonym to audit entries, kept beside a log so one person's trace reads only
 * that person's entries. */
#ifndef PASO_TRACEINDEX_H
#define PASO_TRACEINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "auditlog.h"
#include "errors.h"

/*
 * Caveats (LMDB, as in registry/vault.h): one writer at a time (LMDB's own lock); never use an
 * environment after fork(). The index is derived data: it holds only what the public log holds
 * (pseudonyms and entry numbers), is brought up to date from the log before each use, and can
 * be deleted at any time and rebuilt. Entries it returns are re-read from the log and proved
 * against a signed checkpoint by the caller; an index that omits an entry is not detected by
 * it (a full scan, trace --no-index, is the check).
 */
struct traceindex;

/* Opens (creating dir 0700 if absent) the index. Caller owns *out. PASO_E_IO, PASO_E_STORAGE. */
int traceindex_open(const char *dir, struct traceindex **out, struct paso_diag *d);
void traceindex_close(struct traceindex *ix);

/*
 * Indexes entries [indexed, size) of log (borrowed, open read-only): each entry's subject and
 * match candidate. Commits every 65,536 entries, so an interrupted update resumes. The leaf hash
 * of the last entry covered is kept: an index of another log, or of a log cut back and
 * rewritten, is refused (PASO_E_CORRUPT) rather than trusted. *addedp (may be NULL) gets the
 * number of entries read. Returns 0, PASO_E_CORRUPT, PASO_E_AUDIT_CORRUPT (an entry does not
 * decode; d names it), PASO_E_STORAGE, PASO_E_MAP_FULL, PASO_E_NOMEM, or the log's read errors.
 */
int traceindex_update(struct traceindex *ix, struct auditlog *log, uint64_t size, uint64_t *addedp,
	struct paso_diag *d);

/*
 * The entry numbers about pseudonym p (ascending), below limit. Caller frees *idxp. Returns 0
 * (n may be 0), PASO_E_STORAGE or PASO_E_NOMEM.
 */
int traceindex_lookup(
	struct traceindex *ix, const uint8_t p[32], uint64_t limit, uint64_t **idxp, size_t *np);

#endif
