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
 * A gallery's sketches are stored in groups of FACE_SKETCH_GROUP faces, word by word (word k of
 * face i at groups[(i / 8) * 64 + k * 8 + i % 8]) so that a scan adds the counts of eight faces
 * in one register with no horizontal sums. face_sketch_put/get write and read face i's sketch.
 */
#define FACE_SKETCH_GROUP 8
void face_sketch_put(uint64_t *groups, size_t i, const uint64_t sk[FACE_SKETCH_WORDS]);
void face_sketch_get(const uint64_t *groups, size_t i, uint64_t sk[FACE_SKETCH_WORDS]);

/*
 * The faces among n (groups as above, face 0 the first of a group, 64-byte aligned) whose
 * sketch differs from the probe's in at most thr bits: their numbers plus first to idx[] and
 * their distances to ham[] (both room for n); returns how many. Pure and thread-safe; AVX-512
 * popcount when the CPU has it.
 */
size_t face_sketch_select(const uint64_t probe[FACE_SKETCH_WORDS], const uint64_t *groups, size_t n,
	unsigned thr, uint32_t first, uint32_t *idx, uint16_t *ham);

/* Name of the kernel in use: "avx512vnni", "avx2" or "scalar". */
const char *face_impl_name(void);

/* Benchmarks and tests only: selects a kernel by name; 0 or PASO_E_NOT_FOUND. Not thread-safe. */
int face_set_impl(const char *name);

#endif
