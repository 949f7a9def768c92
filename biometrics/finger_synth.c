/* SPDX-License-Identifier: Apache-2.0 */
/* Deterministic synthetic fingers: ridge-flow master minutiae per finger, noisy plain captures as ISO records. */
#include "finger_synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "errors.h"
#include "iso19794.h"

/*
 * Model (docs/biometrics.md "Fingers" gives the sources). Units: pixels at 500 dpi, finger
 * coordinates centred on the finger pad, y pointing to the palm, angles in image coordinates.
 * A master finger is a pattern class, singular points, a Sherlock-Monro orientation field and
 * minutiae placed by dart throwing (minimum distance about one ridge period) whose directions
 * follow the field. A capture is a contact ellipse shifted by the placement, a plastic
 * distortion growing towards the contact border, missed and spurious minutiae, a rotation and a
 * translation on a 400x500 platen, and per-minutia quality.
 */
const struct finger_noise finger_noise_good = {
	.rot_sd_deg = 6.0,
	.trans_sd_px = 20.0,
	.distortion = 5.0,
	.miss_rate = 0.10,
	.spurious_rate = 0.08,
	.quality_mean = 75.0,
	.fail_rate = 0.01,
};
const struct finger_noise finger_noise_poor = {
	.rot_sd_deg = 10.0,
	.trans_sd_px = 28.0,
	.distortion = 8.0,
	.miss_rate = 0.18,
	.spurious_rate = 0.15,
	.quality_mean = 58.0,
	.fail_rate = 0.03,
};
const struct finger_noise finger_noise_detention = {
	.rot_sd_deg = 14.0,
	.trans_sd_px = 35.0,
	.distortion = 10.0,
	.miss_rate = 0.25,
	.spurious_rate = 0.25,
	.quality_mean = 48.0,
	.fail_rate = 0.05,
};

#define MAX_MASTER 160   /* minutiae of one master finger (rolled-size area) */
#define MAX_CAPTURE 255  /* the ISO count byte */
#define RIDGE_PERIOD 9.5 /* pixels at 500 dpi (about 0.48 mm) */
#define DENSITY 0.000625 /* true minutiae per square pixel of pad (calibrated, see docs) */
#define ENDING_SHARE 0.62
/*
 * Impression-to-impression variation, fitted to real plain impressions (docs/biometrics.md
 * "Fingers": FVC2002 DB1/DB2 genuine scores): the share of the pad in contact, and lognormal
 * factors on the extraction errors and the distortion of each impression.
 */
#define CONTACT_MIN 0.70
#define CONTACT_SPAN 0.30
#define IMPRESSION_SD 0.6
#define DISTORTION_SD 0.5
#define MISS_MAX 0.7
#define SPURIOUS_MAX 1.0

enum pattern { ARCH, TENTED_ARCH, LEFT_LOOP, RIGHT_LOOP, WHORL };

/* xoshiro256** (Blackman and Vigna, public domain algorithm), seeded from BLAKE2b. */
struct rng {
	uint64_t s[4];
};

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(struct rng *r)
{
	uint64_t res = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;

	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rotl(r->s[3], 45);
	return res;
}

/* Uniform in [0, 1). */
static double
uni(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double
gauss(struct rng *r)
{
	double u1 = uni(r), u2 = uni(r);

	return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

static unsigned
poisson(struct rng *r, double lambda)
{
	double v;

	if (lambda <= 0)
		return 0;
	if (lambda < 30) {
		double l = exp(-lambda), p = 1.0;
		unsigned k = 0;

		do {
			k++;
			p *= uni(r);
		} while (p > l);
		return k - 1;
	}
	v = lambda + sqrt(lambda) * gauss(r) + 0.5;
	return v < 0 ? 0 : (unsigned)v;
}

/* Key = BLAKE2b-256(person_seed, domain, finger, capture_no); distinct streams per use. */
static void
rng_seed(struct rng *r, const uint8_t seed[32], const char *domain, unsigned finger,
	uint32_t capture_no)
{
	crypto_generichash_state st;
	uint8_t key[32], tail[8];
	int i;

	tail[0] = (uint8_t)finger;
	tail[1] = tail[2] = tail[3] = 0;
	tail[4] = (uint8_t)(capture_no >> 24);
	tail[5] = (uint8_t)(capture_no >> 16);
	tail[6] = (uint8_t)(capture_no >> 8);
	tail[7] = (uint8_t)capture_no;
	crypto_generichash_init(&st, NULL, 0, sizeof(key));
	crypto_generichash_update(&st, seed, 32);
	crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain) + 1);
	crypto_generichash_update(&st, tail, sizeof(tail));
	crypto_generichash_final(&st, key, sizeof(key));
	for (i = 0; i < 4; i++) {
		int j;

		r->s[i] = 0;
		for (j = 0; j < 8; j++)
			r->s[i] = r->s[i] << 8 | key[8 * i + j];
	}
	if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
		r->s[0] = 1;
	sodium_memzero(key, sizeof(key));
	sodium_memzero(&st, sizeof(st));
}

struct mnt {
	double x, y, th; /* finger coordinates; direction in radians */
	int type;
};

struct master {
	int pattern;
	double ax, ay; /* semi-axes of the pad */
	int n_core, n_delta;
	double core[2][2], delta[2][2];
	double arch_amp;
	int n;
	struct mnt m[MAX_MASTER];
};

/* Ridge orientation (mod pi) at (x, y): Sherlock-Monro zero-pole model, or an arch field. */
static double
orientation(const struct master *f, double x, double y)
{
	double th = 0.0;
	int i;

	if (f->pattern == ARCH) {
		/* ridges y = c - A exp(-x^2 / 2s^2): a hump, stronger towards the palm */
		double s = 0.55 * f->ax, a = f->arch_amp * (0.6 + 0.4 * tanh(y / f->ay));

		return atan(a * x / (s * s) * exp(-x * x / (2 * s * s)));
	}
	for (i = 0; i < f->n_core; i++)
		th += 0.5 * atan2(y - f->core[i][1], x - f->core[i][0]);
	for (i = 0; i < f->n_delta; i++)
		th -= 0.5 * atan2(y - f->delta[i][1], x - f->delta[i][0]);
	return th;
}

/* Pad size by finger: thumbs largest, little fingers smallest (plain contact at 500 dpi). */
static void
pad_axes(unsigned pos, double *ax, double *ay)
{
	static const double w[5] = {160, 138, 140, 128, 110}, h[5] = {196, 176, 180, 168, 148};
	unsigned k = (pos - 1) % 5;

	*ax = w[k];
	*ay = h[k];
}

static int
too_close(const struct mnt *m, int n, double x, double y, double dmin)
{
	int i;

	for (i = 0; i < n; i++) {
		double dx = m[i].x - x, dy = m[i].y - y;

		if (dx * dx + dy * dy < dmin * dmin)
			return 1;
	}
	return 0;
}

/* Distance to the nearest singular point (density is higher around cores and deltas). */
static double
sing_dist(const struct master *f, double x, double y)
{
	double best = 1e9;
	int i;

	for (i = 0; i < f->n_core; i++)
		best = fmin(best, hypot(x - f->core[i][0], y - f->core[i][1]));
	for (i = 0; i < f->n_delta; i++)
		best = fmin(best, hypot(x - f->delta[i][0], y - f->delta[i][1]));
	return best;
}

static void
make_master(const uint8_t seed[32], unsigned pos, struct master *f)
{
	struct rng person, r;
	double size, density, end_share, u, area;
	unsigned target, tries;
	int side;

	memset(f, 0, sizeof(*f));
	/* Person-level traits shared by all ten fingers. */
	rng_seed(&person, seed, "paso finger person v1", 0, 0);
	size = 1.0 + 0.06 * gauss(&person);
	rng_seed(&r, seed, "paso finger master v1", pos, 0);
	pad_axes(pos, &f->ax, &f->ay);
	f->ax *= size;
	f->ay *= size;
	/* Wilson, Candela and Watson (1994) natural class frequencies. */
	u = uni(&r);
	if (u < 0.037)
		f->pattern = ARCH;
	else if (u < 0.066)
		f->pattern = TENTED_ARCH;
	else if (u < 0.404)
		f->pattern = LEFT_LOOP;
	else if (u < 0.721)
		f->pattern = RIGHT_LOOP;
	else
		f->pattern = WHORL;
	switch (f->pattern) {
	case ARCH:
		f->arch_amp = 30 + 25 * uni(&r);
		break;
	case TENTED_ARCH:
		f->n_core = f->n_delta = 1;
		f->core[0][0] = 12 * gauss(&r);
		f->core[0][1] = -20 + 20 * gauss(&r);
		f->delta[0][0] = f->core[0][0] + 8 * gauss(&r);
		f->delta[0][1] = f->core[0][1] + 70 + 15 * uni(&r);
		break;
	case LEFT_LOOP:
	case RIGHT_LOOP:
		side = f->pattern == LEFT_LOOP ? 1 : -1; /* delta opposite the loop's opening */
		f->n_core = f->n_delta = 1;
		f->core[0][0] = -side * 15 + 15 * gauss(&r);
		f->core[0][1] = -25 + 25 * gauss(&r);
		f->delta[0][0] = f->core[0][0] + side * (95 + 25 * uni(&r));
		f->delta[0][1] = f->core[0][1] + 110 + 30 * uni(&r);
		break;
	default:
		f->n_core = f->n_delta = 2;
		f->core[0][0] = 10 * gauss(&r) - 8;
		f->core[0][1] = -40 + 20 * gauss(&r);
		f->core[1][0] = f->core[0][0] + 16 + 10 * uni(&r);
		f->core[1][1] = f->core[0][1] + 20 + 25 * uni(&r);
		f->delta[0][0] = -110 - 30 * uni(&r);
		f->delta[0][1] = 90 + 30 * uni(&r);
		f->delta[1][0] = 110 + 30 * uni(&r);
		f->delta[1][1] = 90 + 30 * uni(&r);
		break;
	}
	/* Per-finger minutia density (lognormal, sd about 20 %) and ending share. */
	density = DENSITY * exp(0.2 * gauss(&r) - 0.02);
	end_share = ENDING_SHARE + 0.05 * gauss(&r);
	area = M_PI * f->ax * f->ay;
	target = poisson(&r, density * area);
	if (target > MAX_MASTER)
		target = MAX_MASTER;
	for (tries = 0; (unsigned)f->n < target && tries < 40 * MAX_MASTER; tries++) {
		double x = (2 * uni(&r) - 1) * f->ax, y = (2 * uni(&r) - 1) * f->ay;
		double e = (x * x) / (f->ax * f->ax) + (y * y) / (f->ay * f->ay), sd, th;

		if (e > 1.0)
			continue;
		/*
		 * Twice the density within about 60 px of a singular point: kept when u is at most
		 * 0.5 + 0.5 exp(-sd^2 / 2 60^2), which is never below 0.5, so the distance to the
		 * singular points is needed only when u is above 0.5 and the point is not already
		 * too close to another (either way it is dropped): the same draws, the same
		 * minutiae, fewer square roots.
		 */
		u = uni(&r);
		if (too_close(f->m, f->n, x, y, 1.2 * RIDGE_PERIOD))
			continue;
		if (u > 0.5) {
			sd = sing_dist(f, x, y);
			if (u > (0.5 + 0.5 * exp(-sd * sd / (2 * 60.0 * 60.0))))
				continue;
		}
		th = orientation(f, x, y) + (uni(&r) < 0.5 ? 0.0 : M_PI) + 0.07 * gauss(&r);
		f->m[f->n].x = x;
		f->m[f->n].y = y;
		f->m[f->n].th = th;
		f->m[f->n].type = uni(&r) < end_share ? FMR_TYPE_ENDING : FMR_TYPE_BIFURCATION;
		f->n++;
	}
	sodium_memzero(&r, sizeof(r));
	sodium_memzero(&person, sizeof(person));
}

static int
clampi(double v, int lo, int hi)
{
	long l = lround(v);

	return l < lo ? lo : l > hi ? hi : (int)l;
}

/* ISO angle byte: counter-clockwise as seen on the image (y down), unit 360/256 degrees. */
static uint8_t
iso_angle_byte(double th)
{
	double a = fmod(-th, 2 * M_PI);

	if (a < 0)
		a += 2 * M_PI;
	return (uint8_t)(lround(a * 256.0 / (2 * M_PI)) & 0xff);
}

static int
cmp_minutia(const void *pa, const void *pb)
{
	const struct fmr_minutia *a = pa, *b = pb;

	if (a->y != b->y)
		return a->y < b->y ? -1 : 1;
	return a->x < b->x ? -1 : a->x > b->x;
}

/* One impression of master f; fills v (v->m must hold MAX_CAPTURE). Returns 0 or "failed". */
static int
capture(const uint8_t seed[32], unsigned pos, uint32_t capture_no, const struct master *f,
	const struct finger_noise *nz, struct fmr_view *v)
{
	struct rng r;
	double cx, cy, sx, sy, rot, tx, ty, dist_dir, dist_twist, qual, jit;
	double bad, miss, spur, distortion;
	double cs, sn;
	int i, n = 0, n_true = 0, failed = 0;
	unsigned n_spur = 0, k = 0;

	rng_seed(&r, seed, "paso finger capture v1", pos, capture_no);
	if (uni(&r) < nz->fail_rate)
		failed = 1;
	/* Contact ellipse: where the pad touches (placement) and how much (pressure). */
	cx = 0.6 * nz->trans_sd_px * gauss(&r);
	cy = 0.9 * nz->trans_sd_px * gauss(&r);
	sx = f->ax * (CONTACT_MIN + CONTACT_SPAN * uni(&r));
	sy = f->ay * (CONTACT_MIN + CONTACT_SPAN * uni(&r));
	rot = nz->rot_sd_deg * M_PI / 180.0 * gauss(&r);
	tx = nz->trans_sd_px * gauss(&r);
	ty = nz->trans_sd_px * gauss(&r);
	dist_dir = 2 * M_PI * uni(&r);
	dist_twist = 1.5 * gauss(&r);
	qual = nz->quality_mean + 8 * gauss(&r);
	/*
	 * One impression's skin and pressure (dry, wet, pressed hard or lightly): the extractor's
	 * missed and spurious rates and the distortion vary from one impression to the next.
	 */
	bad = exp(IMPRESSION_SD * gauss(&r));
	miss = fmin(MISS_MAX, nz->miss_rate * bad);
	spur = fmin(SPURIOUS_MAX, nz->spurious_rate * bad);
	distortion = nz->distortion * exp(DISTORTION_SD * gauss(&r));
	jit = 1.2 + 1.5 * (1.0 - nz->quality_mean / 100.0);
	cs = cos(rot);
	sn = sin(rot);
	v->finger_pos = (uint8_t)pos;
	v->view_no = 0;
	v->impression = 0;
	v->quality = (uint8_t)clampi(qual, 1, 100);

	for (i = 0; i < f->n + (int)MAX_CAPTURE && n < MAX_CAPTURE; i++) {
		double x, y, th, rho2, dx, dy, mag, ang, ix, iy;
		int spurious = i >= f->n, type;

		if (!spurious) {
			x = f->m[i].x;
			y = f->m[i].y;
			rho2 = (x - cx) * (x - cx) / (sx * sx) + (y - cy) * (y - cy) / (sy * sy);
			if (rho2 > 1.0)
				continue;
			n_true++;
			/* missed more often near the contact border (mean factor 1 over the ellipse) */
			if (uni(&r) < miss * (0.6 + 0.8 * rho2))
				continue;
			th = f->m[i].th + 0.07 * gauss(&r);
			type = f->m[i].type;
			/* a few type flips: an ending and a bifurcation look alike under pressure */
			if (uni(&r) < 0.05)
				type = type == FMR_TYPE_ENDING ? FMR_TYPE_BIFURCATION
							       : FMR_TYPE_ENDING;
		} else {
			/* spurious minutiae, drawn once the true ones are known */
			if (i == f->n) {
				n_spur = poisson(&r, spur * n_true);
				k = 0;
			}
			if (k >= n_spur)
				break;
			do {
				x = (2 * uni(&r) - 1) * sx + cx;
				y = (2 * uni(&r) - 1) * sy + cy;
				rho2 = (x - cx) * (x - cx) / (sx * sx) +
				       (y - cy) * (y - cy) / (sy * sy);
			} while (rho2 > 1.0);
			k++;
			th = orientation(f, x, y) + (uni(&r) < 0.5 ? 0.0 : M_PI) + 0.25 * gauss(&r);
			type = uni(&r) < 0.5 ? FMR_TYPE_ENDING : FMR_TYPE_BIFURCATION;
		}
		/* plastic distortion: none at the centre of contact, nz->distortion at its border */
		mag = distortion * rho2;
		ang = dist_dir + dist_twist * ((x - cx) / sx + (y - cy) / sy);
		dx = mag * cos(ang) + jit * gauss(&r);
		dy = mag * sin(ang) + jit * gauss(&r);
		x += dx;
		y += dy;
		/* placement on the platen: rotation about the pad centre, then translation */
		ix = cs * x - sn * y + FINGER_SYNTH_IMAGE_W / 2.0 + tx;
		iy = sn * x + cs * y + FINGER_SYNTH_IMAGE_H / 2.0 + ty;
		th += rot;
		if (ix < 2 || iy < 2 || ix > FINGER_SYNTH_IMAGE_W - 3 ||
			iy > FINGER_SYNTH_IMAGE_H - 3)
			continue;
		v->m[n].x = (uint16_t)lround(ix);
		v->m[n].y = (uint16_t)lround(iy);
		v->m[n].type = (uint8_t)type;
		v->m[n].angle = iso_angle_byte(th);
		v->m[n].quality = (uint8_t)clampi(
			qual - 25 * rho2 + 10 * gauss(&r) - (spurious ? 15 : 0), 1, 100);
		n++;
	}
	v->n_minutiae = (uint16_t)n;
	qsort(v->m, (size_t)n, sizeof(v->m[0]), cmp_minutia);
	sodium_memzero(&r, sizeof(r));
	return failed;
}

static int
noise_valid(const struct finger_noise *nz)
{
	return nz->rot_sd_deg >= 0 && nz->rot_sd_deg <= 90 && nz->trans_sd_px >= 0 &&
	       nz->trans_sd_px <= 200 && nz->distortion >= 0 && nz->distortion <= 50 &&
	       nz->miss_rate >= 0 && nz->miss_rate <= 1 && nz->spurious_rate >= 0 &&
	       nz->spurious_rate <= 2 && nz->quality_mean >= 0 && nz->quality_mean <= 100 &&
	       nz->fail_rate >= 0 && nz->fail_rate <= 1;
}

int
finger_synth_record(const uint8_t person_seed[32], uint32_t capture_no,
	const struct finger_noise *noise, uint32_t finger_mask, uint8_t **recp, size_t *lenp)
{
	struct fmr_record rec;
	struct master *f = NULL;
	struct fmr_minutia *buf = NULL;
	struct paso_diag d;
	unsigned pos;
	int r;

	*recp = NULL;
	*lenp = 0;
	memset(&rec, 0, sizeof(rec));
	if (person_seed == NULL || noise == NULL || (finger_mask & ~FINGER_MASK_ALL) != 0 ||
		!noise_valid(noise))
		return PASO_E_INVALID_ARG;
	if ((f = malloc(sizeof(*f))) == NULL ||
		(buf = calloc((size_t)FMR_MAX_VIEWS * MAX_CAPTURE, sizeof(*buf))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	rec.format = FMR_ISO_2005;
	rec.width = FINGER_SYNTH_IMAGE_W;
	rec.height = FINGER_SYNTH_IMAGE_H;
	rec.xres = rec.yres = 197;
	for (pos = 1; pos <= 10; pos++) {
		struct fmr_view *v = &rec.views[rec.n_views];

		if (!(finger_mask & (1u << (pos - 1))))
			continue;
		make_master(person_seed, pos, f);
		v->m = buf + (size_t)rec.n_views * MAX_CAPTURE;
		if (capture(person_seed, pos, capture_no, f, noise, v) != 0) {
			memset(v, 0, sizeof(*v));
			continue;
		}
		rec.n_views++;
	}
	if (rec.n_views == 0) {
		r = 0;
		goto out;
	}
	if ((r = iso19794_write(&rec, recp, lenp, &d)) != 0)
		goto out;
	r = 0;
out:
	if (f != NULL) {
		sodium_memzero(f, sizeof(*f));
		free(f);
	}
	if (buf != NULL) {
		sodium_memzero(buf, sizeof(*buf) * FMR_MAX_VIEWS * MAX_CAPTURE);
		free(buf);
	}
	sodium_memzero(&rec, sizeof(rec));
	return r;
}
