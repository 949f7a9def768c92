/* SPDX-License-Identifier: Apache-2.0 */
/* One synthetic capture: the person's traits plus the noise and failures of a kiosk preset. */
#include "capture.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "errors.h"
#include "finger_synth.h"
#include "synth_rng.h"

/*
 * Per-preset capture model; docs/biometrics.md gives the reasoning and sources.
 * face_noise: noise-to-identity variance ratio of an average person (genuine cosine about
 * 1 / (1 + face_noise)); face_bad: share of captures with a bad pose or light (noise x4).
 * iris_ber: bit-error rate between two captures of an average eye; lid_*: eyelid cover in rings
 * at the lid's centre (uniform range); lash: share of masked eyelash bits under the upper lid;
 * rot_sd: sd of head tilt in angular positions (2.8125 degrees each).
 */
struct preset_model {
	const char *name;
	const struct finger_noise *finger;
	double face_fail, face_noise, face_bad;
	double iris_fail, iris_ber;
	double lid_up_lo, lid_up_hi, lid_low_lo, lid_low_hi, lash, rot_sd;
};

static const struct preset_model presets[] = {
	[PRESET_GOOD] = {"good", &finger_noise_good, 0.005, 0.38, 0.01, 0.01, 0.10, 2.5, 6.5, 0.5,
		3.0, 0.03, 0.7},
	[PRESET_POOR] = {"poor", &finger_noise_poor, 0.03, 0.85, 0.05, 0.05, 0.17, 3.5, 8.0, 1.0,
		4.5, 0.06, 1.2},
	[PRESET_DETENTION] = {"detention", &finger_noise_detention, 0.015, 0.60, 0.03, 0.03, 0.13,
		3.0, 7.0, 0.7, 3.5, 0.04, 0.9},
};

#define NPRESET (sizeof(presets) / sizeof(presets[0]))

int
capture_preset_parse(const char *name, enum capture_preset *out)
{
	size_t i;

	for (i = 0; i < NPRESET; i++)
		if (strcmp(name, presets[i].name) == 0) {
			*out = (enum capture_preset)i;
			return 0;
		}
	return PASO_E_INVALID_ARG;
}

const char *
capture_preset_name(enum capture_preset preset)
{
	if ((unsigned)preset >= NPRESET)
		return "unknown";
	return presets[preset].name;
}

static void
set_bit(uint8_t *b, int i, int v)
{
	if (v)
		b[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		b[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

/* The lids' shape at one angular position: what multiplies each lid's cover there. */
struct lid_shape {
	double up, low;
};

static struct lid_shape lid_table[128];
static pthread_once_t lid_once = PTHREAD_ONCE_INIT;

/* The same expressions a capture used to compute per position, so each cover times its shape
 * is the same double as before. */
static void
lid_init(void)
{
	double cu = cos(80 * M_PI / 180), cl = cos(60 * M_PI / 180);
	int t;

	for (t = 0; t < 128; t++) {
		double th = 2 * M_PI * t / 128;

		lid_table[t].up = fmax(0, (cos(th - M_PI / 2) - cu) / (1 - cu));
		lid_table[t].low = fmax(0, (cos(th - 3 * M_PI / 2) - cl) / (1 - cl));
	}
}

/* The lids' shape along the angle, the same for every capture (computed once). */
static const struct lid_shape *
lid_shapes(void)
{
	(void)pthread_once(&lid_once, lid_init);
	return lid_table;
}

/* Eyelids, lashes and a specular reflection, in the camera's frame (they do not rotate). */
static void
make_mask(struct synth_rng *r, const struct preset_model *m, uint8_t mask[BIO_IRIS_BYTES])
{
	const struct lid_shape *lid = lid_shapes();
	double up = m->lid_up_lo + (m->lid_up_hi - m->lid_up_lo) * synth_uniform(r);
	double low = m->lid_low_lo + (m->lid_low_hi - m->lid_low_lo) * synth_uniform(r);
	int spec = (int)synth_below(r, 128), spec_w = 2 + (int)synth_below(r, 4);
	int ring, t, c;

	memset(mask, 0xff, BIO_IRIS_BYTES);
	for (t = 0; t < 128; t++) {
		double ku = up * lid[t].up;
		double kl = low * lid[t].low;

		for (ring = 0; ring < 8; ring++) {
			int off = ring >= 8 - ku || ring >= 8 - kl;

			/* lashes hang below the upper lid */
			if (!off && ku > 0 && ring >= 6 - ku && synth_uniform(r) < m->lash * 4)
				off = 1;
			if (ring < 2 && ((t - spec + 128) % 128) < spec_w)
				off = 1;
			for (c = 0; c < 2; c++)
				if (off)
					set_bit(mask, ring * 256 + 2 * t + c, 0);
		}
	}
}

static void
take_iris(struct synth_rng *r, const struct preset_model *m, const float field[BIO_IRIS_BITS],
	double var, int rot, uint8_t code[BIO_IRIS_BYTES], uint8_t mask[BIO_IRIS_BYTES])
{
	float noise[BIO_IRIS_BITS];
	uint8_t ns[32];
	/* two captures with noise eta^2 each disagree on arccos(1 - eta^2) / pi of their bits */
	double eta2 = fmin(0.9, (1 - cos(M_PI * m->iris_ber)) * var * exp(0.25 * synth_normal(r)));
	double a = sqrt(1 - eta2), b = sqrt(eta2);
	int ring, t, c, k;

	for (k = 0; k < 32; k++)
		ns[k] = (uint8_t)synth_u64(r);
	population_iris_field(ns, noise);
	/* A byte at a time (its bits are 4 angular positions, 2 values each), kept in a register. */
	for (ring = 0; ring < 8; ring++)
		for (t = 0; t < 128; t += 4) {
			unsigned byte = 0;

			for (c = 0; c < 8; c++) {
				/* the eye turned by rot positions: the camera sees position t + rot
				 */
				int src = ring * 256 + 2 * ((t + c / 2 + rot + 128) % 128) + c % 2;
				double v = a * field[src] + b * noise[src];

				byte |= (unsigned)(v > 0) << c;
			}
			code[(ring * 256 + 2 * t) / 8] = (uint8_t)byte;
		}
	make_mask(r, m, mask);
	/* what lies under the mask is eyelid and lash texture: noise, never the iris */
	for (k = 0; k < BIO_IRIS_BYTES; k++)
		code[k] = (uint8_t)((code[k] & mask[k]) |
				    ((uint8_t)synth_u64(r) & (uint8_t)~mask[k]));
	sodium_memzero(noise, sizeof(noise));
	sodium_memzero(ns, sizeof(ns));
}

/* With face NULL only the draws are made (the stream stays where a full capture leaves it). */
static void
take_face(struct synth_rng *r, const struct preset_model *m, const struct person_bio *bio,
	float face[BIO_FACE_DIM])
{
	float n[BIO_FACE_DIM];
	uint8_t ns[32];
	double s2 = m->face_noise * bio->face_var * exp(0.2 * synth_normal(r)), s, ss = 0;
	int k;

	if (synth_uniform(r) < m->face_bad)
		s2 *= 4;
	s = sqrt(s2);
	for (k = 0; k < 32; k++)
		ns[k] = (uint8_t)synth_u64(r);
	if (face == NULL) {
		sodium_memzero(ns, sizeof(ns));
		return;
	}
	population_face_vector(ns, n);
	for (k = 0; k < BIO_FACE_DIM; k++) {
		face[k] = (float)(bio->face_id[k] + s * n[k]);
		ss += (double)face[k] * face[k];
	}
	ss = 1 / sqrt(ss);
	for (k = 0; k < BIO_FACE_DIM; k++)
		face[k] = (float)(face[k] * ss);
	sodium_memzero(n, sizeof(n));
	sodium_memzero(ns, sizeof(ns));
}

int
capture_take_bio(const struct person_bio *bio, const uint8_t person_seed[32], uint32_t capture_no,
	enum capture_preset preset, struct bio_sample *out)
{
	return capture_take_bio_some(bio, person_seed, capture_no, preset,
		BIO_FINGER | BIO_FACE | BIO_IRIS, FINGER_MASK_ALL, out);
}

int
capture_take_bio_some(const struct person_bio *bio, const uint8_t person_seed[32],
	uint32_t capture_no, enum capture_preset preset, unsigned want, uint32_t fingers,
	struct bio_sample *out)
{
	const struct preset_model *m;
	struct synth_rng r;
	int e, rot, ret;

	memset(out, 0, sizeof(*out));
	if ((unsigned)preset >= NPRESET || (fingers & ~FINGER_MASK_ALL) != 0)
		return PASO_E_INVALID_ARG;
	m = &presets[preset];
	synth_rng_init(&r, person_seed, "capture", capture_no, (uint64_t)preset);
	/* Each finger has its own stream: a subset is the same impressions of those fingers. */
	if ((want & BIO_FINGER) &&
		(ret = finger_synth_record(person_seed, capture_no, m->finger,
			 bio->finger_mask & fingers, &out->finger_record, &out->finger_len)) != 0)
		goto out;
	/* The face's draws are made even when it is not wanted: the irises come after them. */
	if (synth_uniform(&r) >= m->face_fail) {
		take_face(&r, m, bio, (want & BIO_FACE) ? out->face : NULL);
		out->has_face = (want & BIO_FACE) != 0;
	}
	ret = 0;
	if (!(want & BIO_IRIS))
		goto out;                               /* the irises are the stream's last draws */
	rot = (int)lrint(m->rot_sd * synth_normal(&r)); /* both eyes turn with the head */
	for (e = 0; e < 2; e++) {
		struct bio_iris *ir = &out->iris[out->n_iris];

		if (!bio->eye_ok[e] || synth_uniform(&r) < m->iris_fail)
			continue;
		ir->eye = e == 0 ? BIO_EYE_RIGHT : BIO_EYE_LEFT;
		take_iris(&r, m, bio->iris_field[e], bio->iris_var[e], rot, ir->code, ir->mask);
		out->n_iris++;
	}
	ret = 0;
out:
	sodium_memzero(&r, sizeof(r));
	if (ret != 0)
		bio_sample_clear(out);
	return ret;
}

int
capture_take(const struct population *p, uint32_t person, uint32_t capture_no,
	enum capture_preset preset, struct bio_sample *out)
{
	return capture_take_some(p, person, capture_no, preset, BIO_FINGER | BIO_FACE | BIO_IRIS,
		FINGER_MASK_ALL, out);
}

int
capture_take_some(const struct population *p, uint32_t person, uint32_t capture_no,
	enum capture_preset preset, unsigned want, uint32_t fingers, struct bio_sample *out)
{
	struct person_bio *bio = NULL;
	struct person_info info;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((bio = malloc(sizeof(*bio))) == NULL)
		return PASO_E_NOMEM;
	if ((ret = population_person(p, person, &info)) != 0)
		goto out;
	if ((ret = population_bio_some(p, person, want, bio)) != 0)
		goto out;
	ret = capture_take_bio_some(bio, info.seed, capture_no, preset, want, fingers, out);
out:
	sodium_memzero(&info, sizeof(info));
	population_bio_wipe(bio);
	free(bio);
	return ret;
}
