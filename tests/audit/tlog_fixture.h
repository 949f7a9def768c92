/* SPDX-License-Identifier: Apache-2.0 */
/* Test fixture: a real audit log (AuditEntry entries) grown in commit groups, published as tiles. */
#ifndef PASO_TEST_TLOG_FIXTURE_H
#define PASO_TEST_TLOG_FIXTURE_H

#include <stdint.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "tiles.h"

/*
 * Appends n entries to the log at auditdir (created if absent) in commit groups of varying sizes
 * (seed varies the content), syncing and bringing tilesdir up to date after each group, and
 * signing and publishing a checkpoint every few groups and at the end. Returns 0 or the first
 * error. *published_sizes (may be NULL, up to cap) collects the sizes published.
 */
int fixture_grow(const char *auditdir, const char *tilesdir, const struct checkpoint_signer *s,
	uint64_t n, unsigned seed, uint64_t *published_sizes, size_t cap, size_t *npublished);

/* One AuditEntry, packed (caller frees). */
uint8_t *fixture_entry(uint64_t i, unsigned seed, size_t *lenp);

#endif
