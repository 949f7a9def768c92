/* SPDX-License-Identifier: Apache-2.0 */
/* Impostor calibration of the matchers: score -> -log10 false-match rate. Generated: */
/*   build/bin/calib_tables 15000 500 > biometrics/match_calib.h */
#ifndef PASO_MATCH_CALIB_H
#define PASO_MATCH_CALIB_H

/*
 * Population seed 20240601, one good-preset capture per person, kernels: iris avx512, face avx512vnni.
 * Iris masked, no shift, HDnorm: mean 0.4992 sd 0.0309 over 1432365.
 * Iris best of 7 shifts, HDnorm: mean 0.4846 sd 0.0286 over 219588042 comparisons.
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
	{0.51075, 0.250},
	{0.52899, 0.500},
	{0.54189, 0.750},
	{0.55228, 1.000},
	{0.56118, 1.250},
	{0.56906, 1.500},
	{0.57618, 1.750},
	{0.58274, 2.000},
	{0.58881, 2.250},
	{0.59452, 2.501},
	{0.59989, 2.750},
	{0.60502, 3.000},
	{0.60988, 3.250},
	{0.61453, 3.500},
	{0.61900, 3.751},
	{0.62327, 4.000},
	{0.62746, 4.250},
	{0.63143, 4.500},
	{0.63520, 4.751},
	{0.63891, 5.001},
	{0.64276, 5.251},
	{0.64632, 5.503},
	{0.64983, 5.751},
	{0.65286, 6.001},
	{0.65606, 6.252},
	{0.65895, 6.503},
	{0.66112, 6.751},
	{0.66562, 7.019},
	{0.66830, 7.262},
};

#endif
