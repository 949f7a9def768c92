/* SPDX-License-Identifier: Apache-2.0 */
/* A deterministic synthetic population: categories, card numbers and each person's biometric
 * traits. */
#ifndef PASO_POPULATION_H
#define PASO_POPULATION_H

#include <stddef.h>
#include <stdint.h>

#include "sample.h"

/* Values equal proto Paso__Category. */
enum category {
	CAT_REGIONAL_VISITOR = 1,
	CAT_BORDER_WORKER = 2,
	CAT_MIGRANT_IN_TRANSIT = 3,
	CAT_DETAINEE = 4,
};

struct population;

/*
 * One person. card is a NUL-terminated id unique in the population: "TVR-" + 10 digits (regional
 * visitor card), "TTF-" + 10 digits (border worker card), "MIG-"/"DET-" + 10 digits (document of a
 * migrant in transit / detainee file number); the last digit is a Luhn check digit. seed is the
 * person's secret-free synthetic identity (every trait derives from it).
 */
struct person_info {
	uint32_t index;
	int category; /* enum category */
	char card[32];
	uint8_t seed[32];
};

/*
 * Creates a population of n people (1..100,000,000) from seed. Cheap: people are derived on
 * demand. Caller owns *out (population_free). Returns 0, PASO_E_INVALID_ARG or PASO_E_NOMEM.
 */
int population_new(uint64_t seed, uint32_t n, struct population **out);
void population_free(struct population *p);
uint32_t population_size(const struct population *p);
uint64_t population_seed(const struct population *p);

/* Fills *out for person i. Returns 0 or PASO_E_INVALID_ARG (i out of range). Thread-safe. */
int population_person(const struct population *p, uint32_t i, struct person_info *out);

/* Category share in per mille, and name ("regional_visitor", ...); docs/biometrics.md says why. */
unsigned population_category_share(int category);
const char *population_category_name(int category);

/*
 * A person's stable biometric traits, from which every capture derives (kiosk-sim/capture.c).
 * face_id: identity embedding (not normalised) with the population covariance; iris_field: two
 * smoothed Gaussian fields (ring x angle x phase) whose signs are the iris code; *_var: the
 * person's factor on capture noise (some people are harder to recognise); eye_ok: 0 for an eye that
 * never gives a usable image; finger_mask: fingers the person has (bit i = ISO position i+1). About
 * 20 KiB: allocate it, and wipe it (population_bio_wipe) after use.
 */
struct person_bio {
	float face_id[BIO_FACE_DIM];
	float face_var;
	float iris_field[2][BIO_IRIS_BITS];
	float iris_var[2];
	uint8_t eye_ok[2];
	uint32_t finger_mask;
};

/* Derives person i's traits. Returns 0, PASO_E_INVALID_ARG or PASO_E_NOMEM. Thread-safe. */
int population_bio(const struct population *p, uint32_t i, struct person_bio *out);
/*
 * The same, deriving only the costly traits of the modalities in want (BIO_FACE: face_id,
 * BIO_IRIS: iris_field; the others are left zero). Every trait has its own stream, so what is
 * derived equals population_bio's bit for bit. Returns 0 or PASO_E_INVALID_ARG. Thread-safe.
 */
int population_bio_some(
	const struct population *p, uint32_t i, unsigned want, struct person_bio *out);
void population_bio_wipe(struct person_bio *b);

/*
 * Building blocks shared with capture.c and the calibration tools: fill a field with a smoothed
 * unit-variance Gaussian field (iris texture or iris noise) from rng_seed, and draw a face vector
 * with the population covariance. Deterministic in their seeds.
 */
void population_iris_field(const uint8_t rng_seed[32], float field[BIO_IRIS_BITS]);
void population_face_vector(const uint8_t rng_seed[32], float v[BIO_FACE_DIM]);

#endif
