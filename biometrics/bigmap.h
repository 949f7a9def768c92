/* SPDX-License-Identifier: Apache-2.0 */
/* Large biometric arrays that grow without a copy: anonymous mappings moved by mremap. */
#ifndef PASO_BIGMAP_H
#define PASO_BIGMAP_H

#include <stddef.h>

/*
 * The galleries' row-major arrays (faces, irises, face sketches) each live in a mapping of their
 * own. Growing one moves its pages (mremap) instead of copying them: the commit loop grows a
 * gallery while crossings wait for it, and a copy held it ~180 ms at 22,000 entries and would
 * hold it seconds at a million (bench_bio --only grow); nor is a copy of the old faces and
 * irises left behind to wipe. Mappings are page-aligned (so 64-byte aligned for SIMD), kept out
 * of core dumps (MADV_DONTDUMP), and zero beyond what was written, as the kernel gives them.
 */

/*
 * A mapping of at least new_bytes holding old's first old_bytes (old NULL: a new one, its pages
 * faulted in at once, so a gallery reserved for everyone before loading is not faulted in by
 * the loading threads one page at a time; a growth's new tail is faulted in as it is written).
 * Returns old itself when it is already large enough; NULL when out of memory (old unchanged).
 */
void *bigmap_grow(void *old, size_t old_bytes, size_t new_bytes);

/* Wipes the first bytes of a bigmap_grow mapping and unmaps it. Accepts NULL. */
void bigmap_free(void *p, size_t bytes);

#endif
