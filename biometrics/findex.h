/* SPDX-License-Identifier: Apache-2.0 */
/* Fixed-length finger descriptors for the first stage of finger-only 1:N search (gallery.c). */
#ifndef PASO_FINDEX_H
#define PASO_FINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "finger_match.h"

/*
 * A view's descriptor is a bit vector of FINDEX_TABLES tables of 2^FINDEX_HASH_BITS bits: for
 * every usable MCC cylinder of the view (finger_template_cylinder), each table reads
 * FINDEX_HASH_BITS of the cylinder's bits at fixed places (distinct cells) and sets the bit of
 * that pattern (a sample touching a cell outside the fingerprint, or all zeros, sets nothing).
 * Two impressions of one finger share cylinders that agree on most bits, so their vectors
 * share more set bits than two fingers do. The locality-sensitive hashing of cylinders is that
 * of Cappelli, Ferrara and Maltoni, "Fingerprint indexing based on Minutia Cylinder-Code",
 * IEEE TPAMI 33(5), 2011; here the hashes are folded into one fixed-length vector per finger
 * (a Bloom filter), so a gallery scans a flat array with AND and popcount, and a shared bit
 * weighs by how rare it is in the gallery (-ln of its frequency, in FINDEX_CLASSES classes),
 * as a rare hash says more about identity than a common one. docs/biometrics.md "Staged finger
 * search" has the measurements that chose the sizes.
 * Descriptors are derived from biometric data: callers keep them in memory only and wipe them.
 */
#define FINDEX_TABLES 64
#define FINDEX_HASH_BITS 6
#define FINDEX_BITS (FINDEX_TABLES << FINDEX_HASH_BITS)
#define FINDEX_WORDS (FINDEX_BITS / 64)
#define FINDEX_POSITIONS 10 /* ISO finger positions 1..10 */
#define FINDEX_CLASSES 4

struct findex_finger {
	uint64_t w[FINDEX_WORDS];
};

/*
 * Describes every view of known position (1..10) of t: out[pos - 1] and n[pos - 1], its number
 * of set bits (0: no view of that position, or none usable). Several views of one position
 * are merged (their bits ORed). Views of unknown position 0 are not described. Pure.
 */
void findex_describe(const struct finger_template *t, struct findex_finger out[FINDEX_POSITIONS],
	uint16_t n[FINDEX_POSITIONS]);

/* The cylinder bit places each table's hash reads (place [l][0] is the hash's highest bit):
 * fixed, the same in every process. For tests of findex_describe. */
void findex_places(uint16_t place[FINDEX_TABLES][FINDEX_HASH_BITS]);

/*
 * How often each bit is set among a gallery's descriptors, per position (the weights of a
 * query). Zero it to start; findex_stats_add (pos 0-based, d with n set bits; nothing when n is
 * 0) with sign +1 when a descriptor enters, -1 when it leaves. Not thread-safe: the gallery's
 * lock guards it.
 */
struct findex_stats {
	uint32_t count[FINDEX_POSITIONS][FINDEX_BITS];
	uint32_t fingers[FINDEX_POSITIONS]; /* descriptors counted */
	uint64_t bits[FINDEX_POSITIONS];    /* their set bits, summed */
};
void findex_stats_add(
	struct findex_stats *st, int pos, const struct findex_finger *d, unsigned n, int sign);

/* A probe's descriptors weighted against a gallery's statistics (findex_query_make). */
struct findex_query {
	int np;                            /* positions of the probe */
	int pos[FINDEX_POSITIONS];         /* 0-based */
	double expect[FINDEX_POSITIONS];   /* score of an entry of average fill, by chance */
	double inv_mean[FINDEX_POSITIONS]; /* 1 / average set bits at that position */
	uint64_t mask[FINDEX_POSITIONS][FINDEX_CLASSES][FINDEX_WORDS];
};

/*
 * Prepares the scan of a probe's descriptors d, n (from findex_describe) against a gallery
 * with statistics st (borrowed for the call). *q is the caller's (about 20 KB: allocate it);
 * q->np = 0 when the probe has no described position. Pure.
 */
void findex_query_make(const struct findex_stats *st,
	const struct findex_finger d[FINDEX_POSITIONS], const uint16_t n[FINDEX_POSITIONS],
	struct findex_query *q);

/*
 * The first stage over m gallery entries: entry j's descriptor at position k is d[k][j] and its
 * set bits n[j * FINDEX_POSITIONS + k] (d[k] is read only for the probe's positions). score[j]
 * is the weight of the bits it shares with the probe beyond what chance gives its fill, summed
 * over the probe's positions it has; common[j] the number of those positions (0: nothing to
 * compare). Pure.
 */
void findex_scan(const struct findex_query *q, const struct findex_finger *const *d,
	const uint16_t *n, size_t m, float *score, uint8_t *common);

#endif
