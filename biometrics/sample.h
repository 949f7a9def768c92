/* SPDX-License-Identifier: Apache-2.0 */
/* One capture's biometric templates in memory: the common currency of kiosk, hub and lab. */
#ifndef PASO_SAMPLE_H
#define PASO_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#define BIO_FACE_DIM 512
#define BIO_IRIS_BITS 2048
#define BIO_IRIS_BYTES (BIO_IRIS_BITS / 8)
#define BIO_MAX_FINGERS 10

enum bio_eye { BIO_EYE_RIGHT = 1, BIO_EYE_LEFT = 2 };

struct bio_iris {
	uint8_t eye;                  /* enum bio_eye */
	uint8_t code[BIO_IRIS_BYTES]; /* Daugman-style iris code */
	uint8_t mask[BIO_IRIS_BYTES]; /* 1 = bit is valid (not eyelid, lash or reflection) */
};

/*
 * A sample owns finger_record (malloc'd ISO/IEC 19794-2:2005 record with 1..10 views, or NULL
 * when no finger was captured). Face is an L2-normalised float embedding when has_face.
 * Biometric data: never log, print or write it anywhere in plaintext.
 */
struct bio_sample {
	uint8_t *finger_record;
	size_t finger_len;
	int has_face;
	float face[BIO_FACE_DIM];
	int n_iris; /* 0..2 */
	struct bio_iris iris[2];
};

/* Modalities, as bits (the same values as match.h's MATCH_*). */
#define BIO_FINGER 1u
#define BIO_FACE 2u
#define BIO_IRIS 4u

/*
 * Keeps only the modalities in the BIO_* mask: the others are wiped and removed (a kiosk that
 * must not capture them, a hub that must not keep them). Returns 1 if anything was removed.
 */
int bio_sample_keep(struct bio_sample *s, unsigned keep);

/* Wipes the sample and frees finger_record; the struct can be reused. Accepts NULL. */
void bio_sample_clear(struct bio_sample *s);

#endif
