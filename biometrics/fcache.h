/* SPDX-License-Identifier: Apache-2.0 */
/* A bounded cache of finger templates opened from the store, for the gallery that keeps fingers outside. */
#ifndef PASO_FCACHE_H
#define PASO_FCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "finger_match.h"

/*
 * When a gallery keeps finger templates in the store (gallery_set_finger_loader), a comparison
 * that needs an entry's fingers opens its sealed record and builds the template (~0.5-1 ms);
 * the same candidates come back (a traveller crossing again, a person many enrolments resemble).
 * The cache keeps the templates so built, by entry id, within max_bytes (their
 * finger_template_bytes), least recently used first out. It holds biometric data in memory only,
 * like the gallery's face and iris arrays: every template leaves it wiped (finger_template_free),
 * whether evicted for room, by fcache_evict (erasure) or fcache_clear / fcache_free.
 *
 * Thread-safety: one mutex; any number of threads get, put and release at once. An entry in use
 * (got or put, not yet released) that is evicted meanwhile is wiped at its last release.
 */
struct fcache;
struct fcache_entry;

/* max_bytes > 0. Caller owns *out. 0, PASO_E_INVALID_ARG or PASO_E_NOMEM. */
int fcache_new(size_t max_bytes, struct fcache **out);

/* Wipes and frees every template (none may be in use). Accepts NULL. */
void fcache_free(struct fcache *c);

/*
 * The cached template of id if it was built for every position in positions (the probe's
 * finger_template_positions): views at other positions change no score (finger_match compares
 * equal positions). Returns an entry in use (release it), or NULL.
 */
struct fcache_entry *fcache_get(struct fcache *c, const uint8_t id[16], uint32_t positions);

/*
 * Keeps t, built for positions (finger_template_from_record_at), as id's template (replacing
 * any), taking ownership on success only, and returns it in use (release it). A template larger
 * than the whole cache is returned in use but not kept. NULL only when out of memory (t is then
 * still the caller's).
 */
struct fcache_entry *fcache_put(
	struct fcache *c, const uint8_t id[16], uint32_t positions, struct finger_template *t);

/* The template of an entry in use (borrowed until fcache_release). */
const struct finger_template *fcache_template(const struct fcache_entry *e);

/* Ends a use of e (fcache_get, fcache_put). Accepts NULL (c may then be NULL too). */
void fcache_release(struct fcache *c, struct fcache_entry *e);

/* Drops id's template (erasure): wiped now, or at its last release if in use. */
void fcache_evict(struct fcache *c, const uint8_t id[16]);

/* Drops every template, as fcache_evict. Accepts NULL. */
void fcache_clear(struct fcache *c);

struct fcache_stats {
	uint64_t hits, misses; /* fcache_get answers since fcache_new */
	size_t entries, bytes; /* held now */
};
void fcache_stats(struct fcache *c, struct fcache_stats *out);

#endif
