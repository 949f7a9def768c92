/* SPDX-License-Identifier: Apache-2.0 */
/* Fingerprint minutiae matcher: bit-vector Minutia Cylinder-Code local similarity, then anchored global pairing. */
#include "finger_match.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <sodium.h>

#include "finger_calib.h"
#include "iso19794.h"

/*
 * How it works (Cappelli, Ferrara and Maltoni, "Minutia Cylinder-Code", IEEE TPAMI 32(12),
 * 2010, for the local part):
 * 1. Each minutia gets a cylinder: NS x NS spatial cells of a disc of radius CYL_R aligned with
 *    the minutia's direction, times ND direction bins. A bit is set when neighbouring minutiae
 *    near the cell have a direction difference in that bin; a mask bit says whether the cell
 *    lies inside the fingerprint (convex hull of the minutiae grown by HULL_GROW). Cylinders
 *    are invariant to rotation and translation by construction.
 * 2. Local similarity of two minutiae = 1 - |a^b| / (|a| + |b|) over the cells valid in both
 *    (norms of bit vectors), when their directions differ by less than 90 degrees.
 * 3. Global consolidation: the best local pairs serve as anchors; each anchor gives a rigid
 *    alignment; minutiae are paired greedily within a tolerance that grows with the distance
 *    from the anchor (skin distortion), the alignment is re-fitted on the pairs (least squares)
 *    and pairing repeated. Score = m_w^2 / (n_a * n_b), m_w the similarity-weighted pair count
 *    (a pair weighs 0.5 + 0.5 local similarity) and n_a, n_b the weights the minutiae of each
 *    view inside the other's overlap could bring, floored at OVERLAP_MIN (or the whole view's
 *    weight, when smaller).
 *    A view matched with itself scores 1.
 */

#define NS 8                 /* cells per side of the cylinder's square */
#define ND 6                 /* direction bins */
#define CYL_R 70.0           /* cylinder radius, pixels at 500 dpi */
#define SIGMA_S (28.0 / 3.0) /* spatial spread (MCC's value) */
#define SIGMA_D (2.0 * M_PI / 9.0)
#define MU_PSI 0.234         /* bit threshold on the unnormalised contribution sum */
#define HULL_GROW 50.0       /* fingerprint area = convex hull grown by this (MCC's omega) */
#define MIN_VALID_CELLS 0.75 /* share of cells that must be valid for a usable cylinder */
#define MIN_NEIGHBOURS 2
#define MIN_MATCHABLE 0.60 /* share of cells valid in both for a local comparison */
#define N_ANCHORS 4
#define TOL_BASE 12.0  /* pairing tolerance at the anchor, pixels */
#define TOL_SLOPE 0.06 /* extra tolerance per pixel of distance from the anchor */
#define TOL_ANGLE (M_PI / 6.0)
#define OVERLAP_GROW 15.0
#define OVERLAP_MIN 12

#define MAX_CELLS (NS * NS) /* at most 64: struct cyl.cells is one word */
#define MAX_BITS (MAX_CELLS * ND)
#define WORDS ((MAX_BITS + 63) / 64)
#define SMALL_VIEW 64 /* views up to this many minutiae match without malloc */
#define GRID_MAX 64
#define MAX_MINUTIAE 255 /* per view: the record formats count them in one byte */

struct cyl {
	uint64_t v[WORDS]; /* value bits (only ever set in valid cells) */
	uint64_t m[WORDS]; /* validity bits: a valid cell has all its ND bits set */
	uint64_t cells;    /* validity by spatial cell, one bit per cell */
};

struct fview {
	int pos;
	int n;
	int n_cells;       /* cells per cylinder (the same in every view) */
	float *x, *y, *th; /* th: radians, image coordinates (y down) */
	float *cth, *sth;  /* cos and sin of th */
	uint8_t *valid;    /* usable cylinder */
	struct cyl *cyl;
	int n_hull;
	float *hx, *hy;      /* convex hull, counter-clockwise in (x, y) */
	float *nx, *ny, *nc; /* inward unit normals and offsets: inside iff nx*x+ny*y+nc >= 0 */
	/* spatial grid of the minutiae, for neighbour search */
	float gx0, gy0, gcell;
	int gw, gh;
	int *gstart; /* gw*gh+1 offsets into gidx */
	int *gidx;
};

struct finger_template {
	int n_views;
	struct fview v[FINGER_MAX_VIEWS];
};

/* The cells of the cylinder's square that fall inside its disc: offsets along / across. */
struct cells {
	int n;
	float a[MAX_CELLS], b[MAX_CELLS];
	int row_first[NS]; /* first cell of each row of squares (cells are numbered by row) */
	int row_j0[NS], row_len[NS]; /* first square of the row inside the disc, and how many */
	double rmax;                 /* largest distance of a cell centre from the minutia */
	uint64_t all;                /* every cell */
	uint64_t m_all[WORDS];       /* every cell's ND bits */
};

/* ORs up to 64 bits into a bit vector at bit position pos (words has one spare word). */
static inline void
set_bits(uint64_t *words, int pos, uint64_t bits)
{
	words[pos / 64] |= bits << (pos % 64);
	if (pos % 64 != 0)
		words[pos / 64 + 1] |= bits >> (64 - pos % 64);
}

/* Clears the ND bits of cell in a bit vector of the cylinder layout. */
static inline void
clear_cell_bits(uint64_t *words, int cell)
{
	int bit = cell * ND;
	uint64_t p = (1u << ND) - 1;

	words[bit / 64] &= ~(p << (bit % 64));
	if (bit % 64 + ND > 64)
		words[bit / 64 + 1] &= ~(p >> (64 - bit % 64));
}

/* Sets the ND bits of cell in a bit vector of the cylinder layout. */
static inline void
set_cell_bits(uint64_t *words, int cell, unsigned pattern)
{
	int bit = cell * ND;
	uint64_t p = (uint64_t)pattern;

	words[bit / 64] |= p << (bit % 64);
	if (bit % 64 + ND > 64)
		words[bit / 64 + 1] |= p >> (64 - bit % 64);
}

static void
init_cells(struct cells *cl)
{
	int i, j;

	memset(cl, 0, sizeof(*cl));
	for (i = 0; i < NS; i++) {
		for (j = 0; j < NS; j++) {
			double a = (i - (NS - 1) / 2.0) * (2.0 * CYL_R / NS);
			double b = (j - (NS - 1) / 2.0) * (2.0 * CYL_R / NS);

			if (a * a + b * b <= CYL_R * CYL_R) {
				if (cl->row_len[i]++ == 0) {
					cl->row_first[i] = cl->n;
					cl->row_j0[i] = j;
				}
				cl->all |= 1ull << cl->n;
				set_cell_bits(cl->m_all, cl->n, (1u << ND) - 1);
				if (sqrt(a * a + b * b) > cl->rmax)
					cl->rmax = sqrt(a * a + b * b);
				cl->a[cl->n] = (float)a;
				cl->b[cl->n] = (float)b;
				cl->n++;
			}
		}
	}
}

static double
angle_diff(double a, double b)
{
	double d = fmod(a - b, 2 * M_PI);

	if (d <= -M_PI)
		d += 2 * M_PI;
	else if (d > M_PI)
		d -= 2 * M_PI;
	return d;
}

static int
popcount64(uint64_t x)
{
	return __builtin_popcountll(x);
}

/* Andrew's monotone chain; writes the counter-clockwise hull (in y-up terms) into v. */
static int
cmp_pt(const void *pa, const void *pb)
{
	const float *a = pa, *b = pb;

	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : a[1] > b[1];
}

static double
cross(const float *o, const float *a, const float *b)
{
	return (double)(a[0] - o[0]) * (b[1] - o[1]) - (double)(a[1] - o[1]) * (b[0] - o[0]);
}

static int
build_hull(struct fview *v)
{
	float(*pt)[2] = NULL, (*h)[2] = NULL;
	int i, k = 0, t, r = PASO_E_NOMEM;

	if (v->n < 3)
		return 0;
	if ((pt = malloc(sizeof(*pt) * v->n)) == NULL ||
		(h = malloc(sizeof(*h) * 2 * v->n)) == NULL)
		goto out;
	for (i = 0; i < v->n; i++) {
		pt[i][0] = v->x[i];
		pt[i][1] = v->y[i];
	}
	qsort(pt, (size_t)v->n, sizeof(*pt), cmp_pt);
	for (i = 0; i < v->n; i++) {
		while (k >= 2 && cross(h[k - 2], h[k - 1], pt[i]) <= 0)
			k--;
		h[k][0] = pt[i][0];
		h[k][1] = pt[i][1];
		k++;
	}
	for (i = v->n - 2, t = k + 1; i >= 0; i--) {
		while (k >= t && cross(h[k - 2], h[k - 1], pt[i]) <= 0)
			k--;
		h[k][0] = pt[i][0];
		h[k][1] = pt[i][1];
		k++;
	}
	k--; /* the last point repeats the first */
	if (k < 3) {
		r = 0;
		goto out;
	}
	if ((v->hx = malloc(sizeof(float) * k * 5)) == NULL)
		goto out;
	v->hy = v->hx + k;
	v->nx = v->hx + 2 * k;
	v->ny = v->hx + 3 * k;
	v->nc = v->hx + 4 * k;
	for (i = 0; i < k; i++) {
		double ex = h[(i + 1) % k][0] - h[i][0], ey = h[(i + 1) % k][1] - h[i][1];
		double len = hypot(ex, ey);

		v->hx[i] = h[i][0];
		v->hy[i] = h[i][1];
		if (len < 1e-9)
			len = 1e-9;
		/* the hull is counter-clockwise in x/y: the interior is on the left of each edge */
		v->nx[i] = (float)(-ey / len);
		v->ny[i] = (float)(ex / len);
		v->nc[i] = (float)(-(v->nx[i] * h[i][0] + v->ny[i] * h[i][1]));
	}
	v->n_hull = k;
	r = 0;
out:
	free(pt);
	free(h);
	return r;
}

/* Inside the hull grown by grow (mitred corners: a slight superset of the rounded offset). */
static int
in_hull(const struct fview *v, double x, double y, double grow)
{
	int i;

	if (v->n_hull < 3)
		return 0;
	for (i = 0; i < v->n_hull; i++)
		if (v->nx[i] * x + v->ny[i] * y + v->nc[i] < -grow)
			return 0;
	return 1;
}

/* Integral of a N(0, SIGMA_D) density over [alpha - w/2, alpha + w/2]. */
static double
gd(double alpha)
{
	double w = 2 * M_PI / ND, s = SIGMA_D * M_SQRT2;

	return 0.5 * (erf((alpha + w / 2) / s) - erf((alpha - w / 2) / s));
}

/*
 * The definition of a cylinder cell's ND sums (MCC's contributions, not normalised): every
 * other minutia within 3 SIGMA_S of the cell's centre adds its spatial Gaussian times the
 * direction-bin integral. This is the reference that defines every bit; build_cylinder uses it
 * whenever its fast sums cannot tell a bit for certain. Its floating-point operations and their
 * order must stay exactly as they are, or templates (and the calibrated thresholds) change.
 */
static void
cell_sums_exact(const struct fview *v, const struct cells *cl, int i, int cell, double sum[ND])
{
	double cs = cos(v->th[i]), sn = sin(v->th[i]);
	double px = v->x[i] + cs * cl->a[cell] - sn * cl->b[cell];
	double py = v->y[i] + sn * cl->a[cell] + cs * cl->b[cell];
	int k, t;

	for (k = 0; k < ND; k++)
		sum[k] = 0;
	for (t = 0; t < v->n; t++) {
		double dx = v->x[t] - px, dy = v->y[t] - py, d2 = dx * dx + dy * dy, gs, dth;

		if (t == i || d2 > 9 * SIGMA_S * SIGMA_S)
			continue;
		gs = exp(-d2 / (2 * SIGMA_S * SIGMA_S));
		dth = angle_diff(v->th[i], v->th[t]);
		for (k = 0; k < ND; k++) {
			double phi = -M_PI + (k + 0.5) * (2 * M_PI / ND);

			sum[k] += gs * gd(angle_diff(phi, dth));
		}
	}
}

/*
 * Fast cylinder sums. The reference costs 12 erf, 6 fmod and one exp per (cell, neighbour)
 * pair and scans every minutia for every cell. Here each neighbour within reach of the
 * cylinder is visited once:
 * - in the cylinder's frame it sits at (u, w); cell centres lie on a grid of step CELL_STEP,
 *   so the cells it can reach (within 3 SIGMA_S) lie in one 4 x 4 window of squares, and the
 *   spatial Gaussian factorises: exp(-d2 / 2s^2) = G(u - a) G(w - b). The 4 values of G along
 *   an axis depend only on the fractional grid position: one cubic Hermite table lookup;
 * - the ND direction integrals come from a cubic Hermite table of gd: the bin centres are
 *   GD_M nodes apart, so they share one set of weights (and need no fmod);
 * - the window's 16 squares x ND bins are accumulated with 4-wide float vectors into a grid
 *   padded so that no window needs clipping, and thresholded 8 squares at a time.
 * Each sum carries a bound on its distance from the reference sum (tables, float rounding, and
 * terms within DIST_MARGIN of the 3 SIGMA_S cut-off, which the reference may or may not count);
 * a cell with a sum within that bound of MU_PSI is decided by cell_sums_exact. So the bits are
 * the reference's bits, only found faster (test_finger_match pins reference scores; the table
 * errors are measured against erf and exp when the tables are built).
 */
#define GD_M 64          /* gd table intervals per direction bin */
#define GD_N (ND * GD_M) /* gd table intervals over [-pi, pi] */
#define GL_N 140         /* Gaussian table intervals per CELL_STEP (1/8 px) */
#define G_REL 1e-6       /* relative error of the Gaussian lanes (up to 3 SIGMA_S) */
#define GD_ABS 4e-7      /* absolute error of the gd lanes */
#define U_F 6e-8         /* float rounding, relative (FLT_EPSILON / 2) */
#define GD_MAX 0.55      /* gd(0) = erf(pi / (6 sqrt(2) SIGMA_D)) = 0.5468 */
/*
 * Error of a fast sum, per unit of the cell's sum of Gaussians tot: a term gs g has relative
 * error <= 2 G_REL + 3 U_F in gs g plus GD_ABS in g; each of the n terms added rounds the
 * running sum (<= GD_MAX tot) once. Doubled for safety; ERR_ABS covers float MU_PSI +- err.
 */
#define ERR_TOT (2 * (GD_MAX * (2 * G_REL + 3 * U_F) + GD_ABS))
#define ERR_ADD (2 * GD_MAX * U_F)
#define ERR_ABS 1e-7
/* px^2: fast (float) and reference squared distances differ by < 1e-3 px^2 up to the cut-off */
#define DIST_MARGIN 1e-2
#define CELL_STEP (2.0 * CYL_R / NS)
#define REACH (CYL_R + 3 * SIGMA_S + 1.0) /* no cell centre is farther than CYL_R */
#define PAD 4                             /* grid padding: windows start at square -3 .. NS - 1 */
#define NEAR_MAX 16                       /* hull edges tested one by one, at most */
#define GRID 16                           /* padded grid side */

typedef float v4sf __attribute__((vector_size(16)));
typedef int32_t v4si __attribute__((vector_size(16)));

/* Built once (call_once), then only read. */
static struct {
	/* gd at table position jj + k GD_M (modulo GD_N), k = 0..12, and h gd' there */
	float gd_f[GD_M + 1][16], gd_d[GD_M + 1][16];
	/* G((f + 1 - r) CELL_STEP), r = 0..3, at fraction f = j / GL_N, G(e) = exp(-e^2 / 2 s^2) */
	float gl_f[GL_N + 1][4], gl_d[GL_N + 1][4];
	uint64_t spread[256]; /* bit c of a byte moved to bit ND c */
	int ok;               /* errors measured within G_REL and GD_ABS, gd below GD_MAX */
} tab;
static once_flag tab_once = ONCE_FLAG_INIT;

static inline v4sf
ld4(const float *p)
{
	v4sf v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
st4(float *p, v4sf v)
{
	memcpy(p, &v, sizeof(v));
}

/* Bit r set when lane r is all ones. */
static inline unsigned
mask4(v4si m)
{
#if defined(__SSE2__)
	return (unsigned)_mm_movemask_ps((__m128)m);
#else
	return (unsigned)((m[0] & 1) | (m[1] & 2) | (m[2] & 4) | (m[3] & 8));
#endif
}

/* Cubic Hermite weights, lane by lane, at t in [0, 1]: of f0, h d0, f1 and h d1. */
static inline void
hermite_w(v4sf t, v4sf wt[4])
{
	v4sf s = 1 - t;

	wt[0] = s * s * (1 + 2 * t);
	wt[1] = s * s * t;
	wt[2] = t * t * (3 - 2 * t);
	wt[3] = -t * t * s;
}

/* Node j <= p of a table of n intervals (clamped), and the fraction p - j. */
static inline int
tab_pos(double p, int n, float *frac)
{
	int j = (int)p;

	j = j < 0 ? 0 : j >= n ? n - 1 : j;
	*frac = (float)(p - j);
	return j;
}

/*
 * G(e) for the 4 squares from the one whose centre is (f + 1) CELL_STEP away, f in [0, 1):
 * node j = tab_pos(f GL_N) with Hermite weights w0..w3.
 */
static inline v4sf
gauss_lanes(int j, float w0, float w1, float w2, float w3)
{
	return w0 * ld4(tab.gl_f[j]) + w1 * ld4(tab.gl_d[j]) + w2 * ld4(tab.gl_f[j + 1]) +
	       w3 * ld4(tab.gl_d[j + 1]);
}

/* Table position of gd for bin 0 and angle difference th_i - th_t, in [0, GD_N). */
static inline double
gd_pos(double th_i, double th_t)
{
	double p = 0.5 * GD_M - (th_i - th_t) * (GD_N / (2 * M_PI));

	p += p < 0 ? GD_N : 0;
	p -= p >= GD_N ? GD_N : 0;
	p += p < 0 ? GD_N : 0;
	return p;
}

/*
 * gd(angle_diff(phi_k, th_i - th_t)), phi_k the bin centres, in lanes 0..3 of g[0] and 0..1 of
 * g[1], from node j = tab_pos(gd_pos) with Hermite weights w0..w3: the table position of bin
 * k is (k + 1/2) GD_M - dth GD_N / 2 pi modulo GD_N (angle_diff wraps by 2 pi, i.e. by GD_N
 * nodes; gd(-pi) = gd(pi)), so the ND bins share one fraction.
 */
static inline void
gd_lanes(int j, float w0, float w1, float w2, float w3, v4sf g[2])
{
	int jj = j % GD_M, ks = j / GD_M;

	g[0] = w0 * ld4(&tab.gd_f[jj][ks]) + w1 * ld4(&tab.gd_d[jj][ks]) +
	       w2 * ld4(&tab.gd_f[jj + 1][ks]) + w3 * ld4(&tab.gd_d[jj + 1][ks]);
	g[1] = w0 * ld4(&tab.gd_f[jj][ks + 4]) + w1 * ld4(&tab.gd_d[jj][ks + 4]) +
	       w2 * ld4(&tab.gd_f[jj + 1][ks + 4]) + w3 * ld4(&tab.gd_d[jj + 1][ks + 4]);
}

static void
tab_init(void)
{
	double w = 2 * M_PI / ND, s = SIGMA_D * M_SQRT2, h = 2 * M_PI / GD_N;
	double worst_gd = 0, worst_g = 0, peak = 0;
	int j, k, r;

	for (j = 0; j <= GD_M; j++) {
		for (k = 0; k < 13; k++) {
			/* node GD_N is +pi where it ends an interval (row GD_M), -pi where it starts one */
			int node = (j + k * GD_M) % GD_N;
			double al, hi, lo;

			node += j == GD_M && node == 0 ? GD_N : 0;
			al = -M_PI + node * h;
			hi = (al + w / 2) / s;
			lo = (al - w / 2) / s;
			tab.gd_f[j][k] = (float)gd(al);
			tab.gd_d[j][k] =
				(float)(h * (exp(-hi * hi) - exp(-lo * lo)) / (s * sqrt(M_PI)));
			peak = fmax(peak, tab.gd_f[j][k]);
		}
	}
	for (j = 0; j <= GL_N; j++) {
		for (r = 0; r < 4; r++) {
			double e = ((double)j / GL_N + 1 - r) * CELL_STEP;
			double g = exp(-e * e / (2 * SIGMA_S * SIGMA_S));

			tab.gl_f[j][r] = (float)g;
			tab.gl_d[j][r] = (float)(-e / (SIGMA_S * SIGMA_S) * g * (CELL_STEP / GL_N));
		}
	}
	for (j = 0; j < 256; j++)
		for (k = 0, tab.spread[j] = 0; k < 8; k++)
			tab.spread[j] |= (uint64_t)(j >> k & 1) << (ND * k);
	/* the error bounds rest on G_REL and GD_ABS: measure them between the nodes */
	for (j = 0; j < 7 * GD_N; j++) {
		double dth = -M_PI + (j + 0.5) * (2 * M_PI / (7 * GD_N));
		v4sf g[2], t = {0}, wt[4];
		float tf;
		/* clang refuses the address of a vector lane: go through a float */
		int n = tab_pos(gd_pos(dth, 0.0), GD_N, &tf);

		t[2] = tf;

		hermite_w(t, wt);
		gd_lanes(n, wt[0][2], wt[1][2], wt[2][2], wt[3][2], g);
		for (k = 0; k < ND; k++)
			worst_gd = fmax(worst_gd,
				fabs(g[k / 4][k % 4] - gd(angle_diff(-M_PI + (k + 0.5) * w, dth))));
	}
	for (j = 0; j < 7 * GL_N; j++) {
		double f = (j + 0.5) / (7 * GL_N);
		v4sf g, t = {0}, wt[4];
		float tf;
		int n = tab_pos(f * GL_N, GL_N, &tf);

		t[0] = tf;

		hermite_w(t, wt);
		g = gauss_lanes(n, wt[0][0], wt[1][0], wt[2][0], wt[3][0]);
		for (r = 0; r < 4; r++) {
			double e = (f + 1 - r) * CELL_STEP,
			       ge = exp(-e * e / (2 * SIGMA_S * SIGMA_S));

			if (fabs(e) <= 3 * SIGMA_S + 0.1)
				worst_g = fmax(worst_g, fabs(g[r] - ge) / ge);
		}
	}
	tab.ok = worst_gd < GD_ABS / 2 && worst_g < G_REL / 2 && peak + GD_ABS < GD_MAX;
}

/* Validity of the cylinder's cells (cells inside the grown hull): c->cells, c->m; count. */
static int
cylinder_cells(
	const struct fview *v, const struct cells *cl, int i, double cs, double sn, struct cyl *c)
{
	int cell, e, k, n_near = 0, near[NEAR_MAX];
	uint64_t m[MAX_CELLS * ND / 64 + 2] = {0};

	if (v->n_hull < 3)
		return 0;
	/*
	 * A hull edge can only exclude a cell when the minutia lies within (farthest cell centre -
	 * HULL_GROW) of it: only those edges are tested, each exactly as in_hull does (in_hull is
	 * just the conjunction of its edge tests).
	 */
	for (e = 0; e < v->n_hull && n_near <= NEAR_MAX; e++) {
		double de = v->nx[e] * (double)v->x[i] + v->ny[e] * (double)v->y[i] + v->nc[e];

		if (de > cl->rmax + 0.5 - HULL_GROW)
			continue;
		if (n_near < NEAR_MAX)
			near[n_near] = e;
		n_near++;
	}
	if (n_near == 0) {
		c->cells = cl->all;
		memcpy(c->m, cl->m_all, sizeof(c->m));
		return cl->n;
	}
	if (n_near > NEAR_MAX) {
		/* too many close edges (a very ragged hull): test all of them */
		for (cell = 0; cell < cl->n; cell++) {
			double px = v->x[i] + cs * cl->a[cell] - sn * cl->b[cell];
			double py = v->y[i] + sn * cl->a[cell] + cs * cl->b[cell];

			c->cells |= (uint64_t)in_hull(v, px, py, HULL_GROW) << cell;
		}
	} else {
		double px[MAX_CELLS], py[MAX_CELLS], in[MAX_CELLS];

		for (cell = 0; cell < MAX_CELLS; cell++) {
			px[cell] = v->x[i] + cs * cl->a[cell] - sn * cl->b[cell];
			py[cell] = v->y[i] + sn * cl->a[cell] + cs * cl->b[cell];
			in[cell] = 1;
		}
		for (e = 0; e < n_near; e++) {
			double nx = v->nx[near[e]], ny = v->ny[near[e]], nc = v->nc[near[e]];

			for (cell = 0; cell < MAX_CELLS; cell++)
				in[cell] = nx * px[cell] + ny * py[cell] + nc < -HULL_GROW
						   ? 0
						   : in[cell];
		}
		for (cell = 0; cell < cl->n; cell++)
			c->cells |= (uint64_t)(in[cell] != 0) << cell;
	}
	/* each cell's ND validity bits: spread a byte of cells to 8 x ND bits, fill ND each */
	for (k = 0; k < MAX_CELLS / 8; k++)
		set_bits(m, ND * 8 * k, tab.spread[c->cells >> 8 * k & 0xff] * ((1u << ND) - 1));
	memcpy(c->m, m, sizeof(c->m));
	return __builtin_popcountll(c->cells);
}

/* Per cylinder accumulators, over the padded grid of squares (row = along, column = across). */
struct acc {
	float sum[ND][GRID][GRID]; /* direction-bin sums */
	float tot[GRID][GRID];     /* sums of the Gaussians alone, for the error bound */
	float unc[GRID][GRID];     /* Gaussians of terms the reference may or may not count */
	int unc_used;
};

/* Adds neighbour t of minutia i; returns 0 when it reaches no square of the grid. */
static inline int
add_neighbour(const struct fview *v, int i, int t, double cs, double sn, struct acc *ac)
{
	double dx = (double)v->x[t] - v->x[i], dy = (double)v->y[t] - v->y[i];
	double u = (cs * dx + sn * dy) * (1 / CELL_STEP) + (NS - 1) / 2.0;
	double w = (-sn * dx + cs * dy) * (1 / CELL_STEP) + (NS - 1) / 2.0;
	const float cut = (float)(9 * SIGMA_S * SIGMA_S), step = (float)CELL_STEP;
	const v4sf lo = (v4sf){0} + (cut - (float)DIST_MARGIN);
	const v4sf hi = (v4sf){0} + (cut + (float)DIST_MARGIN);
	const v4sf lane = {1, 0, -1, -2};
	int a0 = (int)(u + 16) - 16 - 1, b0 = (int)(w + 16) - 16 - 1, r, k;
	int ju, jw, jg;
	unsigned rows;
	float *row, *rowt;
	v4sf ga, gb, g[2], gk[ND], du2, dw2, dd, gs, ft = {0}, wt[4];
	float fu, fw, fg;
	v4si band[4] = {{0}}, any = {0};

	/* u, w: the neighbour in cell units of the cylinder's frame; window rows a0 .. a0 + 3 */
	if (a0 < -3 || a0 > NS - 1 || b0 < -3 || b0 > NS - 1)
		return 0;
	/* one set of Hermite weights per lane: u, w, direction */
	/* through floats: clang refuses the address of a vector lane */
	ju = tab_pos((u - (a0 + 1)) * GL_N, GL_N, &fu);
	jw = tab_pos((w - (b0 + 1)) * GL_N, GL_N, &fw);
	jg = tab_pos(gd_pos(v->th[i], v->th[t]), GD_N, &fg);
	ft[0] = fu;
	ft[1] = fw;
	ft[2] = fg;
	hermite_w(ft, wt);
	ga = gauss_lanes(ju, wt[0][0], wt[1][0], wt[2][0], wt[3][0]);
	gb = gauss_lanes(jw, wt[0][1], wt[1][1], wt[2][1], wt[3][1]);
	gd_lanes(jg, wt[0][2], wt[1][2], wt[2][2], wt[3][2], g);
	gk[0] = (v4sf){0} + g[0][0];
	gk[1] = (v4sf){0} + g[0][1];
	gk[2] = (v4sf){0} + g[0][2];
	gk[3] = (v4sf){0} + g[0][3];
	gk[4] = (v4sf){0} + g[1][0];
	gk[5] = (v4sf){0} + g[1][1];
	du2 = ((float)(u - (a0 + 1)) + lane) * step;
	du2 *= du2;
	dw2 = ((float)(w - (b0 + 1)) + lane) * step;
	dw2 *= dw2;
	/* rows inside the disc's square with a centre within reach (2 or 3 of the 4, mostly) */
	rows = mask4(du2 < hi) & (0xfu >> (a0 + 3 > NS - 1 ? a0 + 3 - (NS - 1) : 0)) &
	       (0xfu << (a0 < 0 ? -a0 : 0));
	for (; rows != 0; rows &= rows - 1) {
		r = __builtin_ctz(rows);
		row = &ac->sum[0][a0 + PAD + r][b0 + PAD];
		rowt = &ac->tot[a0 + PAD + r][b0 + PAD];
		dd = dw2 + du2[r];
		gs = gb * ga[r];
		band[r] = (dd >= lo) & (dd <= hi);
		any |= band[r];
		gs = (v4sf)((v4si)gs & (dd < lo));
		st4(rowt, ld4(rowt) + gs);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 6
#endif
		for (k = 0; k < ND; k++)
			st4(row + k * GRID * GRID, ld4(row + k * GRID * GRID) + gs * gk[k]);
	}
	if (mask4(any) != 0) {
		/* rare: a distance within DIST_MARGIN of the cut-off, left out of the sums above */
		for (r = 0; r < 16; r++)
			if (band[r / 4][r % 4])
				ac->unc[a0 + PAD + r / 4][b0 + PAD + r % 4] +=
					gb[r % 4] * ga[r / 4];
		ac->unc_used = 1;
	}
	return 1;
}

static void
build_cylinder(struct fview *v, const struct cells *cl, struct acc *ac, int i)
{
	struct cyl *c = &v->cyl[i];
	double cs = cos(v->th[i]), sn = sin(v->th[i]);
	int cell, k, t, ia, n_valid, n_nb = 0, n_list = 0, n_in = 0, list[MAX_MINUTIAE];
	double d2[MAX_MINUTIAE];
	uint64_t v_bits[WORDS + 1] = {0}, unsure = 0;
	float e_tot;

	memset(c, 0, sizeof(*c));
	n_valid = cylinder_cells(v, cl, i, cs, sn, c);
	/* neighbours: within CYL_R they count, within REACH they can reach a cell */
	for (t = 0; t < v->n; t++) {
		/* float differences, as the neighbour count has always been taken */
		double fdx = v->x[t] - v->x[i], fdy = v->y[t] - v->y[i];

		d2[t] = fdx * fdx + fdy * fdy;
	}
	d2[i] = 2 * REACH * REACH;
	for (t = 0; t < v->n; t++) {
		list[n_list] = t;
		n_list += d2[t] <= REACH * REACH;
		n_nb += d2[t] <= CYL_R * CYL_R;
	}
	v->valid[i] = n_valid >= MIN_VALID_CELLS * cl->n && n_nb >= MIN_NEIGHBOURS;
	if (c->cells == 0)
		return;
	for (t = 0; t < n_list; t++)
		n_in += add_neighbour(v, i, list[t], cs, sn, ac);
	/*
	 * Threshold 8 squares (a row) at a time; the bits of a row's cells are contiguous. The
	 * squares read here are zeroed for the next cylinder (the padding is never read, so it
	 * need not be).
	 */
	e_tot = (float)(ERR_TOT + n_in * ERR_ADD);
	for (ia = 0; ia < NS; ia++) {
		float *tr = ac->tot[ia + PAD] + PAD;
		const float *ur = ac->unc[ia + PAD] + PAD;
		const v4sf mu = (v4sf){0} + (float)MU_PSI, zero = {0};
		v4sf err[2], tv[2], hi[2], lo[2];
		v4si uns[2] = {{0}};
		unsigned m_uns;
		uint64_t bits = 0;
		int h, first = cl->row_first[ia], j0 = cl->row_j0[ia], len = cl->row_len[ia];

		for (h = 0; h < 2; h++) {
			tv[h] = ld4(tr + 4 * h);
			err[h] = tv[h] * e_tot + (float)ERR_ABS;
			if (ac->unc_used)
				err[h] += ld4(ur + 4 * h);
			st4(tr + 4 * h, zero);
		}
		/* no direction integral exceeds GD_MAX: a row of small sums of Gaussians has no bit */
		if (mask4((tv[0] * (float)GD_MAX + err[0] >= mu) |
			    (tv[1] * (float)GD_MAX + err[1] >= mu)) == 0) {
			for (k = 0; k < ND; k++) {
				st4(ac->sum[k][ia + PAD] + PAD, zero);
				st4(ac->sum[k][ia + PAD] + PAD + 4, zero);
			}
			continue;
		}
		hi[0] = mu + err[0];
		hi[1] = mu + err[1];
		lo[0] = mu - err[0];
		lo[1] = mu - err[1];
		for (k = 0; k < ND; k++) {
			float *sr = ac->sum[k][ia + PAD] + PAD;
			v4sf s0 = ld4(sr), s1 = ld4(sr + 4);

			bits |= tab.spread[mask4(s0 > hi[0]) | mask4(s1 > hi[1]) << 4] << k;
			uns[0] |= (s0 >= lo[0]) & (s0 <= hi[0]);
			uns[1] |= (s1 >= lo[1]) & (s1 <= hi[1]);
			st4(sr, zero);
			st4(sr + 4, zero);
		}
		m_uns = mask4(uns[0]) | mask4(uns[1]) << 4;
		bits = (bits >> (ND * j0)) & ((1ull << (ND * len)) - 1);
		set_bits(v_bits, ND * first, bits);
		unsure |= (uint64_t)((m_uns >> j0) & ((1u << len) - 1)) << first;
	}
	if (ac->unc_used)
		memset(ac->unc, 0, sizeof(ac->unc));
	ac->unc_used = 0;
	for (k = 0; k < WORDS; k++)
		c->v[k] = v_bits[k] & c->m[k];
	/* cells too close to call, or every cell if the tables failed their check */
	unsure = (tab.ok ? unsure : ~0ull) & c->cells;
	for (; unsure != 0; unsure &= unsure - 1) {
		double ref[ND];
		unsigned on = 0;

		cell = __builtin_ctzll(unsure);
		cell_sums_exact(v, cl, i, cell, ref);
		for (k = 0; k < ND; k++)
			on |= (unsigned)(ref[k] >= MU_PSI) << k;
		clear_cell_bits(c->v, cell);
		set_cell_bits(c->v, cell, on);
	}
}

static int
build_grid(struct fview *v)
{
	float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
	int i, *count = NULL, r = PASO_E_NOMEM;

	for (i = 0; i < v->n; i++) {
		x0 = fminf(x0, v->x[i]);
		y0 = fminf(y0, v->y[i]);
		x1 = fmaxf(x1, v->x[i]);
		y1 = fmaxf(y1, v->y[i]);
	}
	if (v->n == 0)
		x0 = y0 = x1 = y1 = 0;
	v->gcell = fmaxf(24.0f, fmaxf(x1 - x0, y1 - y0) / (GRID_MAX - 1));
	v->gx0 = x0;
	v->gy0 = y0;
	v->gw = (int)((x1 - x0) / v->gcell) + 1;
	v->gh = (int)((y1 - y0) / v->gcell) + 1;
	if ((v->gstart = calloc((size_t)(v->gw * v->gh + 1), sizeof(int))) == NULL ||
		(v->gidx = malloc(sizeof(int) * (v->n > 0 ? v->n : 1))) == NULL ||
		(count = calloc((size_t)(v->gw * v->gh + 1), sizeof(int))) == NULL)
		goto out;
	for (i = 0; i < v->n; i++) {
		int gx = (int)((v->x[i] - x0) / v->gcell), gy = (int)((v->y[i] - y0) / v->gcell);

		v->gstart[gy * v->gw + gx + 1]++;
	}
	for (i = 0; i < v->gw * v->gh; i++)
		v->gstart[i + 1] += v->gstart[i];
	for (i = 0; i < v->n; i++) {
		int gx = (int)((v->x[i] - x0) / v->gcell), gy = (int)((v->y[i] - y0) / v->gcell);
		int c = gy * v->gw + gx;

		v->gidx[v->gstart[c] + count[c]++] = i;
	}
	r = 0;
out:
	free(count);
	return r;
}

static void
view_free(struct fview *v)
{
	if (v->x != NULL)
		sodium_memzero(v->x, sizeof(float) * 5 * (size_t)v->n);
	free(v->x);
	if (v->cyl != NULL)
		sodium_memzero(v->cyl, sizeof(*v->cyl) * (size_t)v->n);
	free(v->cyl);
	free(v->valid);
	if (v->hx != NULL)
		sodium_memzero(v->hx, sizeof(float) * 5 * (size_t)v->n_hull);
	free(v->hx);
	free(v->gstart);
	free(v->gidx);
	memset(v, 0, sizeof(*v));
}

static int
build_view(const struct fmr_record *rec, const struct fmr_view *fv, const struct cells *cl,
	struct fview *v)
{
	/* Scale other resolutions to 500 dpi (197 pixels/cm) so distances mean the same. */
	double sx = 197.0 / rec->xres, sy = 197.0 / rec->yres;
	struct acc ac;
	int i, r;

	memset(&ac, 0, sizeof(ac));
	v->pos = fv->finger_pos;
	v->n = fv->n_minutiae;
	if (v->n > MAX_MINUTIAE)
		return PASO_E_TEMPLATE_FORMAT; /* the record formats count minutiae in one byte */
	v->n_cells = cl->n;
	if ((v->x = malloc(sizeof(float) * 5 * (v->n > 0 ? v->n : 1))) == NULL ||
		(v->cyl = malloc(sizeof(*v->cyl) * (v->n > 0 ? v->n : 1))) == NULL ||
		(v->valid = calloc(v->n > 0 ? v->n : 1, 1)) == NULL)
		return PASO_E_NOMEM;
	v->y = v->x + v->n;
	v->th = v->x + 2 * v->n;
	v->cth = v->x + 3 * v->n;
	v->sth = v->x + 4 * v->n;
	for (i = 0; i < v->n; i++) {
		v->x[i] = (float)(fv->m[i].x * sx);
		v->y[i] = (float)(fv->m[i].y * sy);
		/* counter-clockwise as seen on the image, whose y axis points down */
		v->th[i] = (float)(-fmr_angle_deg(rec, &fv->m[i]) * M_PI / 180.0);
		v->cth[i] = cosf(v->th[i]);
		v->sth[i] = sinf(v->th[i]);
	}
	if ((r = build_hull(v)) != 0 || (r = build_grid(v)) != 0)
		return r;
	for (i = 0; i < v->n; i++)
		build_cylinder(v, cl, &ac, i);
	sodium_memzero(&ac, sizeof(ac)); /* sums over the minutiae: as private as the template */
	return 0;
}

int
finger_template_from_record(
	const uint8_t *rec, size_t len, struct finger_template **out, struct paso_diag *d)
{
	return finger_template_from_record_at(rec, len, FINGER_POSITIONS_ALL, out, d);
}

uint32_t
finger_template_positions(const struct finger_template *t)
{
	uint32_t m = 0;
	int i;

	for (i = 0; t != NULL && i < t->n_views; i++) {
		if (t->v[i].pos == 0)
			return FINGER_POSITIONS_ALL;
		if (t->v[i].pos >= 1 && t->v[i].pos <= FINGER_MAX_VIEWS)
			m |= 1u << (t->v[i].pos - 1);
	}
	return m;
}

int
finger_template_from_record_at(const uint8_t *rec, size_t len, uint32_t positions,
	struct finger_template **out, struct paso_diag *d)
{
	struct finger_template *t = NULL;
	struct fmr_record fr;
	struct cells cl;
	int i, r;

	*out = NULL;
	call_once(&tab_once, tab_init);
	init_cells(&cl);
	if ((r = iso19794_read(rec, len, &fr, d)) != 0)
		goto out;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	for (i = 0; i < fr.n_views; i++) {
		int p = fr.views[i].finger_pos;

		/* a view no comparison with `positions` would reach is left out (finger_match
		 * compares equal positions, and unknown ones with all) */
		if (p >= 1 && p <= FINGER_MAX_VIEWS && !((positions >> (p - 1)) & 1))
			continue;
		if ((r = build_view(&fr, &fr.views[i], &cl, &t->v[t->n_views++])) != 0)
			goto out;
	}
	*out = t;
	t = NULL;
	r = 0;
out:
	fmr_record_free(&fr);
	finger_template_free(t);
	return r;
}

void
finger_template_free(struct finger_template *t)
{
	int i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n_views; i++)
		view_free(&t->v[i]);
	free(t);
}

size_t
finger_template_bytes(const struct finger_template *t)
{
	size_t b = 0;
	int i;

	if (t == NULL)
		return 0;
	b = sizeof(*t);
	for (i = 0; i < t->n_views; i++) {
		const struct fview *v = &t->v[i];
		size_t n = v->n > 0 ? (size_t)v->n : 1;

		b += n * (sizeof(float) * 5 + sizeof(*v->cyl) + 1 + sizeof(int));
		b += (size_t)v->n_hull * sizeof(float) * 5;
		b += (size_t)(v->gw * v->gh + 1) * sizeof(int);
	}
	return b;
}

int
finger_template_n_views(const struct finger_template *t)
{
	return t != NULL ? t->n_views : 0;
}

int
finger_template_view_pos(const struct finger_template *t, int i)
{
	return t != NULL && i >= 0 && i < t->n_views ? t->v[i].pos : 0;
}

struct anchors {
	int n;
	int i[N_ANCHORS], j[N_ANCHORS];
	float s[N_ANCHORS]; /* best first */
};

static void
anchor_add(struct anchors *an, int i, int j, float v)
{
	int k = an->n < N_ANCHORS ? an->n++ : N_ANCHORS - 1;

	while (k > 0 && an->s[k - 1] < v) {
		an->s[k] = an->s[k - 1];
		an->i[k] = an->i[k - 1];
		an->j[k] = an->j[k - 1];
		k--;
	}
	an->s[k] = v;
	an->i[k] = i;
	an->j[k] = j;
}

/*
 * Local similarity matrix. The hot loop of the matcher: built for POPCNT where the CPU has it
 * (chosen at load time), plain code elsewhere.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline, target_clones("popcnt", "default")))
#endif
static void
local_sims(const struct fview *a, const struct fview *b, float *s, struct anchors *an)
{
	int min_me = (int)(MIN_MATCHABLE * a->n_cells), i, j, w;

	for (i = 0; i < a->n; i++) {
		const struct cyl *ca = &a->cyl[i];

		for (j = 0; j < b->n; j++) {
			const struct cyl *cb = &b->cyl[j];
			int na = 0, nb = 0, nab = 0, nx;
			float den, v;

			s[i * b->n + j] = 0.0f;
			if (!a->valid[i] || !b->valid[j])
				continue;
			/* directions more than 90 degrees apart: cos < 0 */
			if (a->cth[i] * b->cth[j] + a->sth[i] * b->sth[j] < 0.0f)
				continue;
			if (popcount64(ca->cells & cb->cells) < min_me)
				continue;
			/*
			 * Over the cells valid in both: |a| = |a.v & b.m|, |b| = |b.v & a.m| and, since
			 * value bits lie inside their own mask, |a ^ b| = |a| + |b| - 2 |a.v & b.v|.
			 */
			for (w = 0; w < WORDS; w++) {
				na += popcount64(ca->v[w] & cb->m[w]);
				nb += popcount64(cb->v[w] & ca->m[w]);
				nab += popcount64(ca->v[w] & cb->v[w]);
			}
			nx = na + nb - 2 * nab;
			den = sqrtf((float)na) + sqrtf((float)nb);
			if (den <= 0)
				continue;
			v = 1.0f - sqrtf((float)nx) / den;
			s[i * b->n + j] = v;
			/* the N_ANCHORS most similar pairs seed the global alignment */
			if (v > 0.0f && (an->n < N_ANCHORS || v > an->s[N_ANCHORS - 1]))
				anchor_add(an, i, j, v);
		}
	}
}

struct xform {
	double c, s, tx, ty; /* p' = R p + t */
};

/* Greedy pairing of a's minutiae (mapped by x) with b's. Returns the weighted pair count. */
static double
pair_up(const struct fview *a, const struct fview *b, const float *s, const struct xform *x,
	double ox, double oy, int *pa, int *pb, int *m_out)
{
	int i, gx, gy, k, m = 0;
	double mw = 0, cos_tol = cos(TOL_ANGLE);

	for (i = 0; i < b->n; i++)
		pb[i] = -1;
	for (i = 0; i < a->n; i++) {
		double px = x->c * a->x[i] - x->s * a->y[i] + x->tx;
		double py = x->s * a->x[i] + x->c * a->y[i] + x->ty;
		double tol =
			TOL_BASE + TOL_SLOPE * sqrt((px - ox) * (px - ox) + (py - oy) * (py - oy));
		double rc = x->c * a->cth[i] - x->s * a->sth[i],
		       rs = x->s * a->cth[i] + x->c * a->sth[i];
		double best = 1e30;
		int cx0 = (int)floor((px - tol - b->gx0) / b->gcell);
		int cx1 = (int)floor((px + tol - b->gx0) / b->gcell);
		int cy0 = (int)floor((py - tol - b->gy0) / b->gcell);
		int cy1 = (int)floor((py + tol - b->gy0) / b->gcell);
		int bj = -1;

		pa[i] = -1;
		if (cx0 < 0)
			cx0 = 0;
		if (cy0 < 0)
			cy0 = 0;
		if (cx1 >= b->gw)
			cx1 = b->gw - 1;
		if (cy1 >= b->gh)
			cy1 = b->gh - 1;
		for (gy = cy0; gy <= cy1; gy++) {
			for (gx = cx0; gx <= cx1; gx++) {
				int c = gy * b->gw + gx;

				for (k = b->gstart[c]; k < b->gstart[c + 1]; k++) {
					int j = b->gidx[k];
					double dx = b->x[j] - px, dy = b->y[j] - py,
					       d2 = dx * dx + dy * dy;

					if (d2 > tol * tol || d2 >= best || pb[j] >= 0)
						continue;
					if (rc * b->cth[j] + rs * b->sth[j] < cos_tol)
						continue;
					best = d2;
					bj = j;
				}
			}
		}
		if (bj >= 0) {
			pa[i] = bj;
			pb[bj] = i;
			m++;
			/* a pair counts 0.5 .. 1 by how alike the two neighbourhoods are */
			mw += 0.5 + 0.5 * s[i * b->n + bj];
		}
	}
	*m_out = m;
	return mw;
}

/* Least-squares rigid transform from a's paired minutiae onto b's (2-D Procrustes). */
static int
fit(const struct fview *a, const struct fview *b, const int *pa, struct xform *x)
{
	double max = 0, may = 0, mbx = 0, mby = 0, sxx = 0, sxy = 0, ang;
	int i, m = 0;

	for (i = 0; i < a->n; i++) {
		if (pa[i] < 0)
			continue;
		max += a->x[i];
		may += a->y[i];
		mbx += b->x[pa[i]];
		mby += b->y[pa[i]];
		m++;
	}
	if (m < 3)
		return 0;
	max /= m;
	may /= m;
	mbx /= m;
	mby /= m;
	for (i = 0; i < a->n; i++) {
		double ax, ay, bx, by;

		if (pa[i] < 0)
			continue;
		ax = a->x[i] - max;
		ay = a->y[i] - may;
		bx = b->x[pa[i]] - mbx;
		by = b->y[pa[i]] - mby;
		sxx += ax * bx + ay * by;
		sxy += ax * by - ay * bx;
	}
	ang = atan2(sxy, sxx);
	x->c = cos(ang);
	x->s = sin(ang);
	x->tx = mbx - (x->c * max - x->s * may);
	x->ty = mby - (x->s * max + x->c * may);
	return 1;
}

/*
 * Minutiae of a (mapped by x) inside b's grown hull, and of b inside a's (mapped back), each
 * counted with the most a pair of it can weigh (1, or 0.5 without a usable cylinder), so that
 * a view matched with itself scores exactly 1.
 */
static void
overlap(const struct fview *a, const struct fview *b, const struct xform *x, double *na, double *nb)
{
	int i;

	*na = *nb = 0;
	for (i = 0; i < a->n; i++) {
		double px = x->c * a->x[i] - x->s * a->y[i] + x->tx;
		double py = x->s * a->x[i] + x->c * a->y[i] + x->ty;

		if (in_hull(b, px, py, OVERLAP_GROW))
			*na += a->valid[i] ? 1.0 : 0.5;
	}
	for (i = 0; i < b->n; i++) {
		double dx = b->x[i] - x->tx, dy = b->y[i] - x->ty;
		double px = x->c * dx + x->s * dy, py = -x->s * dx + x->c * dy;

		if (in_hull(a, px, py, OVERLAP_GROW))
			*nb += b->valid[i] ? 1.0 : 0.5;
	}
}

/* The most a view's minutiae can weigh in pairs (as overlap counts them). */
static double
view_weight(const struct fview *v)
{
	double w = 0;
	int i;

	for (i = 0; i < v->n; i++)
		w += v->valid[i] ? 1.0 : 0.5;
	return w;
}

static double
view_score(const struct fview *a, const struct fview *b)
{
	float *s = NULL;
	int *pa = NULL, *pb = NULL;
	int anc_i[N_ANCHORS], anc_j[N_ANCHORS], n_anc = 0, k;
	struct anchors an;
	struct xform done[N_ANCHORS];
	float s_small[SMALL_VIEW * SMALL_VIEW];
	int p_small[2 * SMALL_VIEW];
	double best = 0.0, floor_a, floor_b;

	if (a->n < 2 || b->n < 2)
		return 0.0;
	/*
	 * Few minutiae in the overlap make a weak match: the weights are floored at OVERLAP_MIN,
	 * but never above what the whole view can bring, so a small view still matches itself
	 * with 1.
	 */
	floor_a = view_weight(a) < OVERLAP_MIN ? view_weight(a) : OVERLAP_MIN;
	floor_b = view_weight(b) < OVERLAP_MIN ? view_weight(b) : OVERLAP_MIN;
	if (a->n <= SMALL_VIEW && b->n <= SMALL_VIEW) {
		s = s_small;
		pa = p_small;
	} else if ((s = malloc(sizeof(float) * (size_t)a->n * b->n)) == NULL ||
		   (pa = malloc(sizeof(int) * (size_t)(a->n + b->n))) == NULL) {
		goto out;
	}
	pb = pa + a->n;
	an.n = 0;
	local_sims(a, b, s, &an);
	n_anc = an.n;
	memcpy(anc_i, an.i, sizeof(anc_i));
	memcpy(anc_j, an.j, sizeof(anc_j));
	for (k = 0; k < n_anc; k++) {
		struct xform x;
		double rot = angle_diff(b->th[anc_j[k]], a->th[anc_i[k]]), mw, sc, ox, oy;
		double na, nb;
		int m, dup = 0, q;

		x.c = cos(rot);
		x.s = sin(rot);
		x.tx = b->x[anc_j[k]] - (x.c * a->x[anc_i[k]] - x.s * a->y[anc_i[k]]);
		x.ty = b->y[anc_j[k]] - (x.s * a->x[anc_i[k]] + x.c * a->y[anc_i[k]]);
		/* an anchor consistent with an earlier one gives the same alignment: skip it */
		for (q = 0; q < k && !dup; q++) {
			const struct xform *p = &done[q];
			double px = p->c * a->x[anc_i[k]] - p->s * a->y[anc_i[k]] + p->tx -
				    b->x[anc_j[k]];
			double py = p->s * a->x[anc_i[k]] + p->c * a->y[anc_i[k]] + p->ty -
				    b->y[anc_j[k]];

			dup = px * px + py * py < 15.0 * 15.0 && p->c * x.c + p->s * x.s > cos(0.2);
		}
		done[k] = x;
		if (dup)
			continue;
		ox = b->x[anc_j[k]];
		oy = b->y[anc_j[k]];
		mw = pair_up(a, b, s, &x, ox, oy, pa, pb, &m);
		if (m >= 5 && fit(a, b, pa, &x)) {
			int m2;
			double mw2 = pair_up(a, b, s, &x, ox, oy, pa, pb, &m2);

			if (mw2 >= mw) {
				mw = mw2;
				m = m2;
			} else {
				/* keep the first pairing's transform for the overlap count */
				double rot0 = rot;

				x.c = cos(rot0);
				x.s = sin(rot0);
				x.tx = b->x[anc_j[k]] -
				       (x.c * a->x[anc_i[k]] - x.s * a->y[anc_i[k]]);
				x.ty = b->y[anc_j[k]] -
				       (x.s * a->x[anc_i[k]] + x.c * a->y[anc_i[k]]);
			}
		}
		overlap(a, b, &x, &na, &nb);
		if (na < mw)
			na = mw;
		if (nb < mw)
			nb = mw;
		if (na < floor_a)
			na = floor_a;
		if (nb < floor_b)
			nb = floor_b;
		sc = mw * mw / (na * nb);
		if (sc > best)
			best = sc;
	}
out:
	/* similarities and pairings say nothing of the minutiae themselves: no wipe needed */
	if (s != s_small) {
		free(s);
		free(pa);
	}
	return best > 1.0 ? 1.0 : best;
}

/*
 * A total order on views by content, so that a pair is always scored in the same direction:
 * the greedy pairing and the re-fit depend on which view is mapped onto which, and the score
 * must not depend on which side is the probe.
 */
static int
view_order(const struct fview *a, const struct fview *b)
{
	int c;

	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	if (a->n == 0)
		return 0;
	/* x, y and th are contiguous (build_view): one comparison covers the minutiae */
	c = memcmp(a->x, b->x, sizeof(float) * 3 * (size_t)a->n);
	return (c > 0) - (c < 0);
}

static double
view_score_sym(const struct fview *a, const struct fview *b)
{
	return view_order(a, b) <= 0 ? view_score(a, b) : view_score(b, a);
}

double
finger_match_views(const struct finger_template *a, int ai, const struct finger_template *b, int bi)
{
	if (a == NULL || b == NULL || ai < 0 || bi < 0 || ai >= a->n_views || bi >= b->n_views)
		return 0.0;
	return view_score_sym(&a->v[ai], &b->v[bi]);
}

int
finger_match(
	const struct finger_template *a, const struct finger_template *b, struct finger_scores *out)
{
	int i, j;

	out->n_compared = 0;
	out->best = out->sum = 0.0;
	out->unknown = -1.0;
	out->n_unknown_pairs = 0;
	for (i = 0; i < FINGER_MAX_VIEWS; i++)
		out->score[i] = -1.0;
	if (a == NULL || b == NULL)
		return 0;
	for (i = 0; i < a->n_views; i++) {
		int p = a->v[i].pos;

		if (p < 0 || p > FINGER_MAX_VIEWS)
			continue;
		for (j = 0; j < b->n_views; j++) {
			int q = b->v[j].pos;
			double sc;

			if (q < 0 || q > FINGER_MAX_VIEWS || (p != q && p != 0 && q != 0))
				continue;
			sc = view_score_sym(&a->v[i], &b->v[j]);
			if (p == 0 || q == 0) {
				/* an unknown position may be any finger: one comparison among several */
				out->n_unknown_pairs++;
				if (sc > out->unknown)
					out->unknown = sc;
				continue;
			}
			if (out->score[p - 1] < 0)
				out->n_compared++;
			if (sc > out->score[p - 1])
				out->score[p - 1] = sc;
		}
	}
	if (out->n_unknown_pairs > 0) {
		out->n_compared++;
		out->sum += out->unknown;
		out->best = out->unknown;
	}
	for (i = 0; i < FINGER_MAX_VIEWS; i++) {
		if (out->score[i] < 0)
			continue;
		out->sum += out->score[i];
		if (out->score[i] > out->best)
			out->best = out->score[i];
	}
	return out->n_compared;
}

/*
 * Single-finger score <-> false-match rate: finger_calib.h, fitted to real impostor scores (it
 * says how). Between its points, ev is linear in the score; beyond the last, its last slope
 * continues (the fitted tail is log-linear).
 */
#define N_CALIB (sizeof(finger_calib) / sizeof(finger_calib[0]))

double
finger_evidence(double score)
{
	size_t lo = 0, hi = N_CALIB - 1, mid;
	double f;

	if (!(score > finger_calib[0].score))
		return 0;
	if (score >= finger_calib[N_CALIB - 1].score) {
		f = (finger_calib[N_CALIB - 1].ev - finger_calib[N_CALIB - 2].ev) /
		    (finger_calib[N_CALIB - 1].score - finger_calib[N_CALIB - 2].score);
		return finger_calib[N_CALIB - 1].ev + f * (score - finger_calib[N_CALIB - 1].score);
	}
	while (hi - lo > 1) {
		mid = (lo + hi) / 2;
		if (finger_calib[mid].score <= score)
			lo = mid;
		else
			hi = mid;
	}
	f = (score - finger_calib[lo].score) / (finger_calib[hi].score - finger_calib[lo].score);
	return finger_calib[lo].ev + f * (finger_calib[hi].ev - finger_calib[lo].ev);
}

double
finger_threshold_for_fmr(double fmr)
{
	double ev = fmr > 0 ? -log10(fmr) : INFINITY, f;
	size_t i;

	if (ev <= finger_calib[0].ev)
		return finger_calib[0].score;
	for (i = 0; i + 1 < N_CALIB; i++)
		if (ev <= finger_calib[i + 1].ev) {
			f = (ev - finger_calib[i].ev) /
			    (finger_calib[i + 1].ev - finger_calib[i].ev);
			return finger_calib[i].score +
			       f * (finger_calib[i + 1].score - finger_calib[i].score);
		}
	f = (finger_calib[N_CALIB - 1].score - finger_calib[N_CALIB - 2].score) /
	    (finger_calib[N_CALIB - 1].ev - finger_calib[N_CALIB - 2].ev);
	return finger_calib[N_CALIB - 1].score + f * (ev - finger_calib[N_CALIB - 1].ev);
}

double
finger_fmr_for_score(double score)
{
	double ev = finger_evidence(score);

	return ev > finger_calib[0].ev ? pow(10.0, -ev) : pow(10.0, -finger_calib[0].ev);
}

_Static_assert(WORDS <= FINGER_CYL_WORDS, "cylinder bits do not fit the accessor");

int
finger_template_view_minutiae(const struct finger_template *t, int i)
{
	return t != NULL && i >= 0 && i < t->n_views ? t->v[i].n : 0;
}

int
finger_template_cylinder(const struct finger_template *t, int i, int m,
	uint64_t value[FINGER_CYL_WORDS], uint64_t mask[FINGER_CYL_WORDS])
{
	const struct fview *v;

	memset(value, 0, FINGER_CYL_WORDS * sizeof(uint64_t));
	memset(mask, 0, FINGER_CYL_WORDS * sizeof(uint64_t));
	if (t == NULL || i < 0 || i >= t->n_views || m < 0 || m >= t->v[i].n)
		return 0;
	v = &t->v[i];
	if (!v->valid[m])
		return 0;
	memcpy(value, v->cyl[m].v, sizeof(v->cyl[m].v));
	memcpy(mask, v->cyl[m].m, sizeof(v->cyl[m].m));
	return 1;
}
