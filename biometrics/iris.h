/* SPDX-License-Identifier: Apache-2.0 */
/* Iris codes: masked fractional Hamming distance with rotation shifts, normalised for bits
 * compared. */
#ifndef PASO_IRIS_H
#define PASO_IRIS_H

#include <stddef.h>
#include <stdint.h>

#include "sample.h"

/*
 * Layout of a 2048-bit code (and of its mask, bit for bit): 8 rings (0 = pupil side) of 128
 * angular positions with 2 phase bits each. Ring r holds bytes 32r..32r+31; position t of ring r
 * is bits 2t and 2t+1 of that row, least significant bit first. A rotation of the eye by one
 * position (2.8125 degrees) moves every row by 2 bits.
 */
#define IRIS_RINGS 8
#define IRIS_ANGLES 128
#define IRIS_ROW_BYTES (BIO_IRIS_BYTES / IRIS_RINGS)
/* Shifts tried by the matcher: -IRIS_SHIFT_MAX..+IRIS_SHIFT_MAX positions (+-8.4 degrees). */
#define IRIS_SHIFT_MAX 3
#define IRIS_NSHIFT (2 * IRIS_SHIFT_MAX + 1)
/* Fewer bits than this valid in both masks at every shift: the eye is not compared. */
#define IRIS_MIN_BITS 256
/* Daugman's normalisation reference: HDnorm is the distance as if this many bits were compared. */
#define IRIS_NORM_BITS 2048

/*
 * A probe prepared for many comparisons: its code and mask rotated by every shift. 64-byte
 * aligned; about 3.5 KiB, fine on the stack. Holds biometric data: wipe it after use.
 */
struct iris_probe {
	_Alignas(64) uint8_t code[IRIS_NSHIFT][BIO_IRIS_BYTES];
	_Alignas(64) uint8_t mask[IRIS_NSHIFT][BIO_IRIS_BYTES];
};

/* Fills *p with code/mask rotated by -IRIS_SHIFT_MAX..+IRIS_SHIFT_MAX positions. */
void iris_probe_init(struct iris_probe *p, const uint8_t code[BIO_IRIS_BYTES],
	const uint8_t mask[BIO_IRIS_BYTES]);

/*
 * Rotates a code or mask by shift angular positions (any integer; positive moves position t+shift
 * to t). in and out must not overlap.
 */
void iris_rotate(const uint8_t in[BIO_IRIS_BYTES], int shift, uint8_t out[BIO_IRIS_BYTES]);

/*
 * Daugman's normalised distance for diff disagreeing bits out of n compared:
 * 0.5 - (0.5 - diff/n) * sqrt(n / IRIS_NORM_BITS). In [0, 1]; n must be > 0.
 */
double iris_hd_norm(unsigned diff, unsigned n);

/*
 * Smallest normalised masked Hamming distance between the probe (over its shifts) and one
 * stored code+mask, or -1.0 when fewer than IRIS_MIN_BITS bits are valid in both masks at every
 * shift. *bits_out (may be NULL) gets the bits compared at the best shift, *shift_out (may be
 * NULL) the best shift. Pure and thread-safe; uses the widest SIMD the CPU has.
 */
double iris_compare(const struct iris_probe *p, const uint8_t code[BIO_IRIS_BYTES],
	const uint8_t mask[BIO_IRIS_BYTES], unsigned *bits_out, int *shift_out);

/* The same without shifts (one comparison of two codes as stored): for calibration and tests. */
double iris_compare_noshift(const uint8_t ca[BIO_IRIS_BYTES], const uint8_t ma[BIO_IRIS_BYTES],
	const uint8_t cb[BIO_IRIS_BYTES], const uint8_t mb[BIO_IRIS_BYTES], unsigned *bits_out);

/*
 * Compares the probe with n stored records laid out every stride bytes from base, each a code
 * followed by its mask (512 bytes), writing iris_compare's result for record i to out[i].
 */
void iris_scan(
	const struct iris_probe *p, const uint8_t *base, size_t stride, size_t n, float *out);

/*
 * A quick look before iris_compare, for 1:N scans: the fractional distance over rings
 * IRIS_QUICK_RING and IRIS_QUICK_RING + 1 only (between the pupil's reflections and the lids,
 * the least masked), at every shift, in a quarter of iris_compare's work. Returns 1 when the
 * stored code may be the probe's eye (distance below IRIS_QUICK_HD at some shift, or fewer than
 * IRIS_QUICK_MIN_BITS bits to tell), 0 when it is clearly another eye: strangers' distance is
 * about 0.5, the same eye's well under 0.3. Pure and thread-safe.
 */
#define IRIS_QUICK_RING 2
#define IRIS_QUICK_HD 0.38
#define IRIS_QUICK_MIN_BITS 128
int iris_quick_near(const struct iris_probe *p, const uint8_t code[BIO_IRIS_BYTES],
	const uint8_t mask[BIO_IRIS_BYTES]);

/* Name of the kernel in use: "avx512", "avx2" or "scalar". */
const char *iris_impl_name(void);

/*
 * Benchmarks and tests only (not thread-safe with running comparisons): selects a kernel by name.
 * Returns 0, or PASO_E_NOT_FOUND when the name is unknown or the CPU lacks the instructions.
 */
int iris_set_impl(const char *name);

#endif
