/* SPDX-License-Identifier: Apache-2.0 */
/* Impostor calibration of the matchers: score -> -log10 false-match rate. Generated: */
/*   build/bin/calib_tables 4000 100 > biometrics/match_calib.h */
#ifndef PASO_MATCH_CALIB_H
#define PASO_MATCH_CALIB_H

/*
 * Population seed 20240601, one good-preset capture per person, kernels: iris avx512, face avx512vnni.
 * Iris masked, no shift, HDnorm: mean 0.4992 sd 0.0311 over 381637.
 * Iris best of 7 shifts, HDnorm: mean 0.4845 sd 0.0288 over 15669747 comparisons.
 * Face int8 cosine: mean 0.0000 sd 0.0644 over 7898325 comparisons.
 * Finger positions compared: 48222 (finger_match per-position scores).
 */

struct calib_point {
	double score; /* increasing */
	double ev;    /* -log10 of the impostor share scoring at least score */
};

static const struct calib_point face_calib[] = {
	{ -0.00990, 0.250 },
	{ 0.03070, 0.500 },
	{ 0.05920, 0.750 },
	{ 0.08240, 1.001 },
	{ 0.10220, 1.250 },
	{ 0.11990, 1.501 },
	{ 0.13600, 1.750 },
	{ 0.15090, 2.002 },
	{ 0.16480, 2.250 },
	{ 0.17790, 2.501 },
	{ 0.19060, 2.751 },
	{ 0.20290, 3.000 },
	{ 0.21440, 3.253 },
	{ 0.22610, 3.501 },
	{ 0.23670, 3.752 },
	{ 0.24790, 4.000 },
	{ 0.25720, 4.250 },
	{ 0.26800, 4.501 },
	{ 0.27800, 4.751 },
	{ 0.28900, 5.011 },
	{ 0.29780, 5.254 },
	{ 0.30850, 5.517 },
	{ 0.31570, 5.751 },
};

/* iris score: 1 - normalised Hamming distance (best shift) */
static const struct calib_point iris_calib[] = {
	{ 0.51076, 0.250 },
	{ 0.52911, 0.500 },
	{ 0.54206, 0.750 },
	{ 0.55249, 1.000 },
	{ 0.56143, 1.250 },
	{ 0.56933, 1.500 },
	{ 0.57651, 1.750 },
	{ 0.58306, 2.000 },
	{ 0.58922, 2.251 },
	{ 0.59493, 2.500 },
	{ 0.60036, 2.750 },
	{ 0.60555, 3.001 },
	{ 0.61050, 3.251 },
	{ 0.61517, 3.500 },
	{ 0.61973, 3.751 },
	{ 0.62418, 4.001 },
	{ 0.62813, 4.250 },
	{ 0.63193, 4.502 },
	{ 0.63561, 4.751 },
	{ 0.63989, 5.002 },
	{ 0.64384, 5.251 },
	{ 0.64861, 5.505 },
	{ 0.65222, 5.764 },
	{ 0.65393, 6.019 },
};

static const struct calib_point finger_calib[] = {
	{ 0.04653, 0.250 },
	{ 0.06151, 0.500 },
	{ 0.07699, 0.750 },
	{ 0.08841, 1.000 },
	{ 0.10151, 1.250 },
	{ 0.11336, 1.500 },
	{ 0.12219, 1.751 },
	{ 0.13441, 2.000 },
	{ 0.14727, 2.250 },
	{ 0.15834, 2.501 },
	{ 0.16746, 2.754 },
	{ 0.18132, 3.002 },
	{ 0.19507, 3.252 },
	{ 0.20401, 3.507 },
};

#endif
