/* SPDX-License-Identifier: Apache-2.0 */
/* Keyed protected templates (ISO/IEC 24745): PolyProtect faces, Bloom-filter irises, protected MCC
 * fingers; compared in the protected domain. */
#ifndef PASO_PROTECT_H
#define PASO_PROTECT_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "face.h"
#include "sample.h"

/*
 * A protection key is 32 secret bytes (the keyring keeps them); protect_key_new expands them
 * into every modality's parameters. Two keys give unrelated references of the same person
 * (unlinkable); a new key renews every reference made with the old one. docs/biometrics.md
 * "Template protection" describes the schemes, their sources and measured cost.
 * Nothing here keeps a raw template: each function reads the raw form and writes only the
 * protected one. Protected references are still personal data: wipe them after use.
 */
#define PROTECT_KEY_BYTES 32

/* Schemes by modality (policy words in protect_scheme_name). */
enum protect_scheme {
	PROTECT_NONE = 0,
	PROTECT_POLYPROTECT, /* face */
	PROTECT_BLOOM,       /* iris */
	PROTECT_PMCC,        /* finger */
};
const char *protect_scheme_name(enum protect_scheme s);

/* Expanded key: opaque, immutable, safe to share between threads; wiped on free. */
struct protect_key;

/* Caller owns *out. Returns 0 or PASO_E_NOMEM. */
int protect_key_new(const uint8_t key[PROTECT_KEY_BYTES], struct protect_key **out);
void protect_key_free(struct protect_key *k);

/* ---- face: PolyProtect (Hahn and Marcel 2022) ---- */

#define PROTECT_FACE_M 5       /* coefficients and exponents per window */
#define PROTECT_FACE_OVERLAP 4 /* elements shared by consecutive windows */
#define PROTECT_FACE_DIM                                                                           \
	((BIO_FACE_DIM - PROTECT_FACE_M) / (PROTECT_FACE_M - PROTECT_FACE_OVERLAP) + 1)

/*
 * Maps an embedding (any norm) to its protected form: out[j] is sum_i c_i * x_{j+i}^e_i over a
 * window of PROTECT_FACE_M elements of x, x_k = v_{pi(k)} / |v| for the key's permutation pi of
 * the 512 elements, with the key's nonzero integer coefficients c in -50..50 and exponents e a
 * permutation of 1..PROTECT_FACE_M, then centred (its mean over the PROTECT_FACE_DIM elements
 * subtracted: the even powers' common offset would otherwise make strangers' forms alike under
 * some keys). Returns 0 or PASO_E_FIELD_RANGE (a value not finite, or all zero).
 */
int protect_face(
	const struct protect_key *k, const float v[BIO_FACE_DIM], float out[PROTECT_FACE_DIM]);

/* As protect_face, quantised for the int8 kernels (face_cosine_q, face_scan): zero padded. */
int protect_face_q(const struct protect_key *k, const float v[BIO_FACE_DIM], struct face_q *out);

/* Cosine of two protected faces (0 if either is zero). Pure. */
double protect_face_compare(const float a[PROTECT_FACE_DIM], const float b[PROTECT_FACE_DIM]);

/* The key's coefficients, exponents and element permutation (evaluation of attacks by someone
 * who holds the key). */
void protect_face_params(const struct protect_key *k, int c[PROTECT_FACE_M], int e[PROTECT_FACE_M],
	uint16_t perm[BIO_FACE_DIM]);

/* ---- iris: Bloom filters of iris-code columns (Rathgeb et al. 2013, 2014) ---- */

/*
 * Each eye's code is cut into two bands of 4 rings (a column of a band is an 8-bit word: 2 phase
 * bits of 4 rings) and each band into blocks of PROTECT_IRIS_W angular positions. A block's
 * Bloom filter has bit perm_b(word) set for every column whose 8 bits are all valid in the
 * mask; perm_b is a keyed permutation of 0..255, one per block. Word order inside a block is
 * lost (the cause of both irreversibility and tolerance to rotation).
 */
#define PROTECT_IRIS_W 32
#define PROTECT_IRIS_BLOCKS (2 * (128 / PROTECT_IRIS_W))
#define PROTECT_IRIS_MIN_WORDS 8 /* valid columns a block needs to be compared */

struct protect_iris {
	uint8_t eye;                         /* enum bio_eye */
	uint8_t words[PROTECT_IRIS_BLOCKS];  /* valid columns per block (0 = empty) */
	uint8_t bf[PROTECT_IRIS_BLOCKS][32]; /* 256-bit filters */
};

/* Protects one eye. Returns 0 or PASO_E_FIELD_RANGE (eye not RIGHT/LEFT). */
int protect_iris(const struct protect_key *k, const struct bio_iris *in, struct protect_iris *out);

/*
 * Dissimilarity of two protected eyes: mean over blocks comparable in both of
 * |a xor b| / (|a| + |b|), in [0, 1]; -1.0 when no block is comparable. Pure.
 */
double protect_iris_compare(const struct protect_iris *a, const struct protect_iris *b);

/* The filter bit of word (0..255) in block (evaluation of attacks by someone who holds the key). */
unsigned protect_iris_index(const struct protect_key *k, int block, unsigned word);

/* ---- finger: protected Minutia Cylinder-Code (after Ferrara, Maltoni and Cappelli) ---- */

/*
 * Each usable MCC cylinder (finger_template_cylinder) becomes PROTECT_FINGER_BITS bits: the
 * signs of a keyed +-1 projection of the cylinder (+1 set cell bit, -1 clear, 0 outside the
 * fingerprint), centred on the cylinder's share of set bits. Minutia positions and directions
 * are not kept. A view is compared with Local Similarity Sort (MCC's LSS) over Hamming
 * similarities, each cylinder counted once (the best partner of each probe cylinder).
 */
#define PROTECT_FINGER_BITS 256
#define PROTECT_FINGER_WORDS (PROTECT_FINGER_BITS / 64)
#define PROTECT_FINGER_MAX_CYL 255

struct protect_finger_view {
	uint8_t pos; /* ISO finger position, 0 unknown */
	uint16_t n;  /* protected cylinders */
	uint64_t c[PROTECT_FINGER_MAX_CYL][PROTECT_FINGER_WORDS];
};

struct protect_finger {
	int n_views;
	struct protect_finger_view v[10];
};

/*
 * Protects every view of an ISO/IEC 19794-2 record. Returns 0, a template error
 * (PASO_E_TEMPLATE_*; d names it; d may be NULL) or PASO_E_NOMEM.
 */
int protect_finger(const struct protect_key *k, const uint8_t *rec, size_t len,
	struct protect_finger *out, struct paso_diag *d);

/* The same from a template already built from the record (borrowed; not kept). */
struct finger_template;
void protect_finger_tmpl(
	const struct protect_key *k, const struct finger_template *t, struct protect_finger *out);

/* LSS similarity of two protected views, in [0, 1] (0 if either has fewer than 2). Pure. */
double protect_finger_compare(
	const struct protect_finger_view *a, const struct protect_finger_view *b);

/*
 * The key's projection row r (0..PROTECT_FINGER_BITS-1) as 384 signs packed in 6 words
 * (bit set = +1): for evaluation of attacks by someone who holds the key.
 */
void protect_finger_row(const struct protect_key *k, int r, uint64_t row[6]);

#endif
