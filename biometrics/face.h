/* SPDX-License-Identifier: Apache-2.0 */
/* Face embeddings: int8 quantisation with a recorded scale, cosine similarity on int8 (SIMD). */
#ifndef PASO_FACE_H
#define PASO_FACE_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "sample.h"

/*
 * A face template as stored and searched: q[i] * scale approximates the float embedding (values
 * -127..127, never -128, so SIMD sign tricks are exact); inv_norm = 1 / |q| for the cosine.
 * Biometric data: wipe it after use.
 */
struct face_q {
	_Alignas(64) int8_t q[BIO_FACE_DIM];
	float scale;
	float inv_norm;
};

/*
 * Quantises a float embedding (any norm). Returns 0, or PASO_E_FIELD_RANGE when a value is not
 * finite or the vector is all zeros (d names the first bad index; d may be NULL).
 */
int face_quantize(const float v[BIO_FACE_DIM], struct face_q *out, struct paso_diag *d);

/* Cosine similarity of two float embeddings (any norms; 0 if either is zero). */
double face_cosine_f(const float a[BIO_FACE_DIM], const float b[BIO_FACE_DIM]);

/* Cosine similarity of two int8 templates. Pure and thread-safe. */
double face_cosine_q(const struct face_q *a, const struct face_q *b);

/* Integer dot product of two int8 templates with the widest SIMD the CPU has. */
int32_t face_dot(const int8_t a[BIO_FACE_DIM], const int8_t b[BIO_FACE_DIM]);

/*
 * 1:N scan: cosine of the probe with n stored templates of BIO_FACE_DIM int8 each, contiguous
 * from gallery (64-byte aligned), whose inverse norms are inv_norm[i] (0 = no face: result 0).
 * Writes out[i]. Pure and thread-safe.
 */
void face_scan(const struct face_q *probe, const int8_t *gallery, const float *inv_norm, size_t n,
	float *out);

/*
 * As face_scan for the rows listed in idx[0..n) only (gathered, prefetched): the exact rescoring
 * of a sketch search's survivors. Writes out[j] for row idx[j]. Pure and thread-safe.
 */
void face_scan_idx(const struct face_q *probe, const int8_t *gallery, const float *inv_norm,
	const uint32_t *idx, size_t n, float *out);

/*
 * Binary face sketch: bit k is set when q[k] is negative (FACE_SKETCH_WORDS words, bit k in
 * word k / 64). The angle between two faces is about pi times the share of bits their sketches
 * differ in, so a scan of sketches (64 bytes a face, one popcount) ranks a gallery by face at an
 * eighth of the bytes of the int8 scan; the best are then rescored exactly (face_scan_idx).
 * Biometric data: wipe it after use.
 */
#define FACE_SKETCH_WORDS (BIO_FACE_DIM / 64)
void face_sketch(const int8_t q[BIO_FACE_DIM], uint64_t out[FACE_SKETCH_WORDS]);

/*
 * Hamming distances (0..BIO_FACE_DIM) of the probe's sketch to n sketches stored contiguously
 * from rows (64-byte aligned), into out[i]. Pure and thread-safe; AVX-512 popcount when the CPU
 * has it.
 */
void face_sketch_scan(
	const uint64_t probe[FACE_SKETCH_WORDS], const uint64_t *rows, size_t n, uint16_t *out);

/* Name of the kernel in use: "avx512vnni", "avx2" or "scalar". */
const char *face_impl_name(void);

/* Benchmarks and tests only: selects a kernel by name; 0 or PASO_E_NOT_FOUND. Not thread-safe. */
int face_set_impl(const char *name);

#endif
