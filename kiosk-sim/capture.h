/* SPDX-License-Identifier: Apache-2.0 */
/* Synthetic captures of a population's people under a kiosk preset: fingers, face and irises. */
#ifndef PASO_CAPTURE_H
#define PASO_CAPTURE_H

#include <stdint.h>

#include "population.h"
#include "sample.h"

enum capture_preset { PRESET_GOOD, PRESET_POOR, PRESET_DETENTION };

/* "good", "poor", "detention" -> preset. Returns 0 or PASO_E_INVALID_ARG. */
int capture_preset_parse(const char *name, enum capture_preset *out);
/* The preset's name; "unknown" for an out-of-range value. */
const char *capture_preset_name(enum capture_preset preset);

/*
 * Captures person (index into p) for the capture_no-th time at a station of the given preset.
 * Deterministic in (population seed, person, capture_no, preset); two different capture_no never
 * give identical bytes. Fills *out (it is cleared first; caller owns it: bio_sample_clear):
 * finger_record with the person's fingers (ISO/IEC 19794-2), face (L2-normalised) and up to two
 * irises (right first). A modality that fails to capture is left out (rates per preset in
 * docs/biometrics.md); a capture may hold no modality at all. Returns 0, PASO_E_INVALID_ARG or
 * PASO_E_NOMEM. Thread-safe.
 */
int capture_take(const struct population *p, uint32_t person, uint32_t capture_no,
	enum capture_preset preset, struct bio_sample *out);

/*
 * The same from already derived traits (saves deriving them for each capture of one person).
 * person_seed is population_person()'s seed.
 */
int capture_take_bio(const struct person_bio *bio, const uint8_t person_seed[32],
	uint32_t capture_no, enum capture_preset preset, struct bio_sample *out);

/*
 * capture_take (and _bio) producing only the modalities in want (BIO_*) and only the fingers in
 * fingers (bit i = ISO position i+1, FINGER_MASK_ALL for all): what is produced is bit for bit
 * what capture_take gives for it, without the cost of the rest (a kiosk configured not to capture
 * irises, a crossing that sends two fingers). bio needs the traits of want (population_bio_some).
 * Returns 0, PASO_E_INVALID_ARG (preset, fingers) or PASO_E_NOMEM. Thread-safe.
 */
int capture_take_some(const struct population *p, uint32_t person, uint32_t capture_no,
	enum capture_preset preset, unsigned want, uint32_t fingers, struct bio_sample *out);
int capture_take_bio_some(const struct person_bio *bio, const uint8_t person_seed[32],
	uint32_t capture_no, enum capture_preset preset, unsigned want, uint32_t fingers,
	struct bio_sample *out);

#endif
