/* SPDX-License-Identifier: Apache-2.0 */
/* Deterministic synthetic fingers: one master per finger of a person, noisy ISO 19794-2 captures. */
#ifndef PASO_FINGER_SYNTH_H
#define PASO_FINGER_SYNTH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Capture noise of one kiosk kind. Units: rot_sd_deg degrees (sd of finger rotation on the
 * platen), trans_sd_px pixels at 500 dpi (sd of placement offset per axis), distortion pixels
 * (typical non-linear skin displacement at the edge of the contact area), miss_rate fraction of
 * true minutiae not extracted, spurious_rate false minutiae per true minutia, quality_mean ISO
 * quality 0..100, fail_rate probability that one finger fails to capture and is left out.
 * docs/biometrics.md "Fingers" gives the calibration and its sources.
 */
struct finger_noise {
	double rot_sd_deg, trans_sd_px, distortion, miss_rate, spurious_rate, quality_mean;
	double fail_rate;
};

extern const struct finger_noise finger_noise_good;      /* attended kiosk, clean live scanner */
extern const struct finger_noise finger_noise_poor;      /* worn platen, hurried or unattended */
extern const struct finger_noise finger_noise_detention; /* detention-centre station */

#define FINGER_MASK_ALL 0x3ffu   /* all ten ISO finger positions 1..10 */
#define FINGER_SYNTH_IMAGE_W 400 /* platen size in pixels (0.8" x 1.0" at 500 dpi) */
#define FINGER_SYNTH_IMAGE_H 500

/*
 * Writes one capture of the fingers in finger_mask (bit i = ISO position i+1) of the synthetic
 * person person_seed as an ISO/IEC 19794-2:2005 record, one view per captured finger, in
 * position order. Deterministic: the same (person_seed, capture_no, noise, mask) gives the same
 * bytes; the same person_seed always gives the same master fingers. Caller owns *recp (free()).
 * When every requested finger fails to capture (or finger_mask is 0), returns 0 with
 * *recp == NULL and *lenp == 0. Returns PASO_E_INVALID_ARG (NULL or out-of-range noise,
 * mask bits above 9) or PASO_E_NOMEM. Thread-safe (no shared state).
 * The record is biometric data, synthetic or not: never log it.
 */
int finger_synth_record(const uint8_t person_seed[32], uint32_t capture_no,
	const struct finger_noise *noise, uint32_t finger_mask, uint8_t **recp, size_t *lenp);

#endif
