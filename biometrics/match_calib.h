/* SPDX-License-Identifier: Apache-2.0 */
/* Impostor calibration of the matchers: score -> -log10 false-match rate. Generated: */
/*   build/bin/calib_tables 15000 500 > biometrics/match_calib.h */
#ifndef PASO_MATCH_CALIB_H
#define PASO_MATCH_CALIB_H

/*
 * Population seed 20240601, one good-preset capture per person, kernels: iris avx512, face avx512vnni.
 * Iris masked, no shift, HDnorm: mean 0.4993 sd 0.0309 over 1432365.
 * Iris best of 7 shifts, HDnorm: mean 0.4847 sd 0.0287 over 219588042 comparisons.
 * Face int8 cosine: mean 0.0000 sd 0.0642 over 111131686 comparisons.
 * Finger positions compared: 1222168 (synthetic; the finger table is biometrics/finger_calib.h).
 */

struct calib_point {
	double score; /* increasing */
	double ev;    /* -log10 of the impostor share scoring at least score */
};

static const struct calib_point face_calib[] = {
	{-0.00990, 0.250},
	{0.03060, 0.501},
	{0.05910, 0.751},
	{0.08200, 1.000},
	{0.10180, 1.250},
	{0.11940, 1.501},
	{0.13540, 1.750},
	{0.15030, 2.002},
	{0.16420, 2.251},
	{0.17730, 2.501},
	{0.18980, 2.750},
	{0.20190, 3.002},
	{0.21340, 3.251},
	{0.22460, 3.501},
	{0.23570, 3.752},
	{0.24620, 4.001},
	{0.25660, 4.250},
	{0.26680, 4.501},
	{0.27650, 4.751},
	{0.28620, 5.001},
	{0.29580, 5.252},
	{0.30420, 5.504},
	{0.31150, 5.751},
	{0.32070, 6.001},
	{0.33030, 6.253},
	{0.34130, 6.502},
	{0.34760, 6.767},
	{0.35190, 7.004},
};

/* iris score: 1 - normalised Hamming distance (best shift) */
static const struct calib_point iris_calib[] = {
	{0.51064, 0.250},
	{0.52890, 0.500},
	{0.54180, 0.750},
	{0.55220, 1.000},
	{0.56110, 1.250},
	{0.56898, 1.500},
	{0.57611, 1.750},
	{0.58266, 2.000},
	{0.58874, 2.250},
	{0.59444, 2.500},
	{0.59982, 2.751},
	{0.60491, 3.000},
	{0.60977, 3.250},
	{0.61439, 3.501},
	{0.61882, 3.750},
	{0.62317, 4.001},
	{0.62731, 4.250},
	{0.63133, 4.500},
	{0.63515, 4.751},
	{0.63881, 5.001},
	{0.64221, 5.250},
	{0.64558, 5.500},
	{0.64874, 5.751},
	{0.65253, 6.001},
	{0.65557, 6.252},
	{0.65826, 6.503},
	{0.66157, 6.751},
	{0.66496, 7.019},
	{0.66738, 7.262},
};

#endif
