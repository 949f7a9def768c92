/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmarks of the iris and face kernels, 1:N face search and enrolment deduplication over 1M. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>
#include <sodium.h>

#include "../benchclock.h"
#include "capture.h"
#include "face.h"
#include "gallery.h"
#include "iris.h"
#include "match.h"
#include "population.h"

#define REPS 5

static void *
xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64);

	if (p == NULL) {
		fprintf(stderr, "bench_bio: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

/* ---- synthetic material ---- */

static struct population *pop;
static enum capture_preset probe_preset = PRESET_GOOD;

/* A pool of real good-preset captures (face, irises; fingers dropped unless keep_fingers). */
static struct bio_sample *
capture_pool(uint32_t first, uint32_t n, uint32_t capture_no, int keep_fingers,
	enum capture_preset preset)
{
	struct bio_sample *s = calloc(n, sizeof(*s));
	uint32_t i;

	if (s == NULL)
		exit(1);
	for (i = 0; i < n; i++) {
		if (capture_take(pop, first + i, capture_no, preset, &s[i]) != 0) {
			fprintf(stderr, "bench_bio: capture failed\n");
			exit(1);
		}
		if (!keep_fingers) {
			free(s[i].finger_record);
			s[i].finger_record = NULL;
			s[i].finger_len = 0;
		}
	}
	return s;
}

/*
 * Cheap filler irises: variants of a pool of real synthetic codes (rotated by 16k positions,
 * far beyond the matcher's +-3 and the texture's correlation length, and mirrored). Variants
 * of one pool code resemble each other, never a probe: every probe comes from other people.
 */
static void
filler_iris(const struct bio_sample *pool, uint32_t npool, uint64_t i, int eye, uint8_t *code,
	uint8_t *mask)
{
	const struct bio_sample *s = &pool[(i * 2654435761u + (uint64_t)eye * 97) % npool];
	int v = (int)((i / npool + (uint64_t)eye * 3) % 16), k,
	    e = eye % (s->n_iris ? s->n_iris : 1);
	uint8_t tmp[BIO_IRIS_BYTES];

	if (s->n_iris == 0) {
		memset(code, 0, BIO_IRIS_BYTES);
		memset(mask, 0, BIO_IRIS_BYTES);
		return;
	}
	iris_rotate(s->iris[e].code, 16 * (v % 8), tmp);
	memcpy(code, tmp, BIO_IRIS_BYTES);
	iris_rotate(s->iris[e].mask, 16 * (v % 8), mask);
	if (v >= 8) /* channel swap: the other phase bit of each position */
		for (k = 0; k < BIO_IRIS_BYTES; k++)
			code[k] = (uint8_t)(((code[k] & 0x55) << 1) | ((code[k] & 0xaa) >> 1));
}

#define FACE_POOL 16384
static float (*face_pool)[BIO_FACE_DIM];

static void
face_pool_init(void)
{
	size_t i;

	face_pool = xalloc(FACE_POOL * sizeof(*face_pool));
	for (i = 0; i < FACE_POOL; i++) {
		uint8_t seed[32] = {0};

		memcpy(seed, &i, sizeof(i));
		population_face_vector(seed, face_pool[i]);
	}
}

/* Filler face = (a + b) / |a + b| of two pool vectors: the population's covariance, 2^28 pairs. */
static void
filler_face(uint64_t i, float v[BIO_FACE_DIM])
{
	const float *a = face_pool[i % FACE_POOL];
	const float *b = face_pool[(i / FACE_POOL * 7919 + i * 31 + 1) % FACE_POOL];
	double ss = 0;
	int d;

	for (d = 0; d < BIO_FACE_DIM; d++) {
		v[d] = a[d] + b[d];
		ss += (double)v[d] * v[d];
	}
	for (d = 0; d < BIO_FACE_DIM; d++)
		v[d] = (float)(v[d] / sqrt(ss));
}

/* ---- iris kernels ---- */

static void
bench_iris(const struct bio_sample *pool, uint32_t npool)
{
	static const char *impls[] = {"avx512", "avx2", "scalar"};
	const size_t n = 200000;
	uint8_t *g = xalloc(n * 2 * BIO_IRIS_BYTES);
	float *out = xalloc(n * sizeof(float));
	struct iris_probe *p = xalloc(sizeof(*p));
	double t[REPS], base = 0;
	size_t i, k;
	int r;

	for (i = 0; i < n; i++)
		filler_iris(pool, npool, i, 0, g + i * 2 * BIO_IRIS_BYTES,
			g + i * 2 * BIO_IRIS_BYTES + BIO_IRIS_BYTES);
	iris_probe_init(p, pool[0].iris[0].code, pool[0].iris[0].mask);
	printf("iris: one comparison = one probe against one stored code+mask over all %d shifts "
	       "(-%d..+%d positions of 2.8125 deg), masked and normalised;\n"
	       "      gallery of %zu records (%.0f MiB), one thread, median of %d runs\n",
		IRIS_NSHIFT, IRIS_SHIFT_MAX, IRIS_SHIFT_MAX, n, n * 512.0 / (1 << 20), REPS);
	for (k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
		double m;

		if (iris_set_impl(impls[k]) != 0) {
			printf("  %-7s not supported by this CPU\n", impls[k]);
			continue;
		}
		for (r = 0; r < REPS; r++) {
			double t0 = now_s();

			iris_scan(p, g, 2 * BIO_IRIS_BYTES, n, out);
			t[r] = now_s() - t0;
		}
		m = median_sort(t, REPS);
		if (base == 0)
			base = m;
		printf("  %-7s %6.2f M comparisons/s (%5.1f M shift-comparisons/s)  x%.1f vs the "
		       "fastest\n",
			impls[k], n / m / 1e6, n * IRIS_NSHIFT / m / 1e6, m / base);
	}
	/* back to the widest kernel, as the automatic choice makes it */
	for (k = 0; k < sizeof(impls) / sizeof(impls[0]); k++)
		if (iris_set_impl(impls[k]) == 0)
			break;
	free(g);
	free(out);
	free(p);
}

/* ---- face 1:N over 1M and the memory bound ---- */

struct face_job {
	const struct face_q *probe;
	const int8_t *g;
	const float *inv;
	size_t lo, hi;
	float *out;
	float best;
	const uint8_t *stream; /* memory-bandwidth mode when non-NULL */
	size_t sb, se;
	uint64_t sink;
};

/* Reads every byte once, as fast as a core can: the bound of any exhaustive scan. */
__attribute__((target("avx2"))) static void
stream_avx2(struct face_job *j)
{
	__m256i acc = _mm256_setzero_si256();
	size_t i;

	for (i = j->sb; i < j->se; i += 32)
		acc = _mm256_xor_si256(acc, _mm256_load_si256((const __m256i *)(j->stream + i)));
	j->sink = (uint64_t)_mm256_extract_epi64(acc, 0);
}

static void
stream_sse2(struct face_job *j)
{
	__m128i acc = _mm_setzero_si128();
	size_t i;

	for (i = j->sb; i < j->se; i += 16)
		acc = _mm_xor_si128(acc, _mm_load_si128((const __m128i *)(j->stream + i)));
	j->sink = (uint64_t)_mm_cvtsi128_si64(acc);
}

static void *
face_job(void *arg)
{
	struct face_job *j = arg;
	size_t i;

	if (j->stream != NULL) {
		if (__builtin_cpu_supports("avx2"))
			stream_avx2(j);
		else
			stream_sse2(j);
		return NULL;
	}
	face_scan(j->probe, j->g + j->lo * BIO_FACE_DIM, j->inv + j->lo, j->hi - j->lo,
		j->out + j->lo);
	j->best = -2;
	for (i = j->lo; i < j->hi; i++)
		if (j->out[i] > j->best)
			j->best = j->out[i];
	return NULL;
}

static double
run2(struct face_job *j)
{
	pthread_t t;
	double t0 = now_s();

	if (pthread_create(&t, NULL, face_job, &j[1]) != 0)
		exit(1);
	face_job(&j[0]);
	pthread_join(t, NULL);
	return now_s() - t0;
}

static void
bench_face(uint32_t nfill)
{
	static const char *impls[] = {"avx512vnni", "avx2", "scalar"};
	const size_t n = nfill;
	int8_t *g = xalloc(n * BIO_FACE_DIM);
	float *inv = xalloc(n * sizeof(float)), *out = xalloc(n * sizeof(float));
	struct face_q *probes = xalloc(16 * sizeof(*probes)), q;
	struct face_job j[2];
	double t[16], ts[REPS], stream, m;
	size_t i, k;
	int r;

	for (i = 0; i < n; i++) {
		float v[BIO_FACE_DIM];

		filler_face(i, v);
		if (face_quantize(v, &q, NULL) != 0)
			exit(1);
		memcpy(g + i * BIO_FACE_DIM, q.q, BIO_FACE_DIM);
		inv[i] = q.inv_norm;
	}
	for (i = 0, k = 0; i < 16; k++) {
		struct bio_sample s;

		if (capture_take(pop, (uint32_t)k, 0, PRESET_GOOD, &s) != 0)
			exit(1);
		if (s.has_face && face_quantize(s.face, &probes[i], NULL) == 0)
			i++;
		bio_sample_clear(&s);
	}
	memset(j, 0, sizeof(j));
	for (r = 0; r < REPS; r++) {
		j[0].stream = j[1].stream = (const uint8_t *)g;
		j[0].sb = 0;
		j[0].se = j[1].sb = n * BIO_FACE_DIM / 2;
		j[1].se = n * BIO_FACE_DIM;
		ts[r] = run2(j);
	}
	stream = median_sort(ts, REPS);
	printf("\nface 1:N: %zu int8 templates (%.0f MiB), 2 threads, median over 16 probes\n", n,
		n * 512.0 / (1 << 20));
	printf("  memory bound: streaming the same %.0f MiB once takes %.2f ms (%.1f GB/s), "
	       "median of %d\n",
		n * 512.0 / (1 << 20), stream * 1e3, n * 512.0 / stream / 1e9, REPS);
	for (k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
		if (face_set_impl(impls[k]) != 0) {
			printf("  %-10s not supported by this CPU\n", impls[k]);
			continue;
		}
		for (i = 0; i < 16; i++) {
			memset(j, 0, sizeof(j));
			for (r = 0; r < 2; r++) {
				j[r].probe = &probes[i];
				j[r].g = g;
				j[r].inv = inv;
				j[r].out = out;
				j[r].lo = r == 0 ? 0 : n / 2 / 64 * 64;
				j[r].hi = r == 0 ? n / 2 / 64 * 64 : n;
			}
			t[i] = run2(j);
		}
		m = median_sort(t, 16);
		printf("  %-10s %6.2f ms per probe (%.2f x the streaming time; %.0f M cosines/s)\n",
			impls[k], m * 1e3, m / stream, n / m / 1e6);
		if (strcmp(impls[k], "scalar") == 0)
			break;
	}
	for (k = 0; k < sizeof(impls) / sizeof(impls[0]); k++)
		if (face_set_impl(impls[k]) == 0)
			break;
	free(g);
	free(inv);
	free(out);
	free(probes);
}

/* ---- enrolment deduplication against 1M ---- */

/* Did the search find probe i's own enrolment (id i, real people have id[15] == 0)? */
static int
is_mate(const struct gallery_hit *hit, int found, uint32_t i)
{
	uint32_t mate;

	memcpy(&mate, hit->id, 4);
	return found && mate == i && hit->id[15] == 0;
}

#define CONC_THREADS 32

struct conc {
	struct gallery *g;
	struct match_template **tmpl;
	double fmr;
	uint32_t n, next;
	uint8_t *res;
	pthread_mutex_t mu;
};

static void *
conc_worker(void *arg)
{
	struct conc *c = arg;
	struct gallery_hit hit;
	uint32_t i;
	int found;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		i = c->next++;
		pthread_mutex_unlock(&c->mu);
		if (i >= c->n)
			return NULL;
		if (gallery_identify_batched(c->g, c->tmpl[i], c->fmr, &hit, &found) != 0)
			exit(1);
		c->res[i] = (uint8_t)is_mate(&hit, found, i);
	}
}

#define DEDUP_MODES 6
static const char *const dedup_mode_name[DEDUP_MODES] = {
	"face and iris of every entry, one search at a time",
	"face first, irises past the face gate, every candidate's fingers, one at a time",
	"face first, fingers only where face and irises leave it open, one at a time",
	"as the last, concurrent searches batched per pass",
	"face sketch first (gallery.h: GALLERY_SKETCH_*), then as the third, one at a time",
	"as the last, concurrent searches batched per pass (the hub's deduplication)",
};

/* modes: which of the DEDUP_MODES to run, as digits ("012345" = all) */
static void
bench_dedup(uint32_t nfill, uint32_t nreal, uint32_t nexh, const char *modes, long share)
{
	const uint32_t npool = 4096;
	struct bio_sample *ipool, *real, *probes, fill;
	struct gallery *g = NULL;
	struct gallery_hit hit;
	struct gallery_opts ex = {0, 1, 0, 0, 0};
	struct gallery_stats st;
	struct match_template **tmpl;
	double *t, t0, fmr, rate[DEDUP_MODES] = {0};
	uint32_t i, exh_hits = 0;
	uint8_t id[16], *exh, *res, *res2 = NULL;
	int have2 = 0;
	int found, r, mode;

	/* a duplicate-check policy wants few false duplicates per enrolment (FPIR), so the
	 * per-comparison FMR is that rate over the gallery size */
	fmr = 1e-3 / ((double)nfill + nreal);
	printf("\ndedup: gallery of %u cheap fillers (face + 2 irises, no fingers) + %u people "
	       "enrolled with all modalities (good preset);\n       probe = their second capture, "
	       "%s preset, decision at FMR %.2g per comparison (FPIR 1e-3), 2 threads\n",
		nfill, nreal, capture_preset_name(probe_preset), fmr);
	t0 = now_s();
	ipool = capture_pool(nreal + 1000, npool, 0, 0, PRESET_GOOD);
	real = capture_pool(0, nreal + nreal / 4, 0, 1, PRESET_GOOD);
	probes = capture_pool(0, nreal + nreal / 4, 1, 1, probe_preset);
	if (gallery_new(2, &g) != 0 || gallery_reserve(g, (size_t)nfill + nreal) != 0)
		exit(1);
	memset(&fill, 0, sizeof(fill));
	for (i = 0; i < nfill; i++) {
		filler_face(i, fill.face);
		fill.has_face = 1;
		fill.n_iris = 2;
		fill.iris[0].eye = BIO_EYE_RIGHT;
		fill.iris[1].eye = BIO_EYE_LEFT;
		filler_iris(ipool, npool, i, 0, fill.iris[0].code, fill.iris[0].mask);
		filler_iris(ipool, npool, i, 1, fill.iris[1].code, fill.iris[1].mask);
		memset(id, 0, sizeof(id));
		id[15] = 1;
		memcpy(id, &i, 4);
		if ((r = gallery_add(g, id, &fill)) != 0) {
			fprintf(stderr, "bench_bio: gallery_add: %s\n", paso_strerror(r));
			exit(1);
		}
	}
	for (i = 0; i < nreal; i++) {
		memset(id, 0, sizeof(id));
		memcpy(id, &i, 4);
		if (gallery_add(g, id, &real[i]) != 0)
			exit(1);
	}
	res = calloc(nreal, 1);
	printf("  built in %.1f s (%zu entries); face sketch keeps one face in %ld\n", now_s() - t0,
		gallery_size(g), share != 0 ? share : (long)GALLERY_SKETCH_SHARE);
	res2 = calloc(nreal, 1);
	t = calloc(nreal, sizeof(*t));
	tmpl = calloc(nreal + nreal / 4, sizeof(*tmpl));
	for (i = 0; i < nreal + nreal / 4; i++)
		if (match_template_new(&probes[i], &tmpl[i], NULL) != 0)
			exit(1);
	/* the reference: every entry compared in full, on the first nexh probes */
	exh = calloc(nexh, sizeof(*exh));
	for (i = 0; i < nexh; i++) {
		if (gallery_identify_ex(g, &probes[i], fmr, &ex, &hit, &found, NULL) != 0)
			exit(1);
		exh[i] = is_mate(&hit, found, i);
		exh_hits += (uint32_t)exh[i];
	}
	printf("  exhaustive search (every entry in full) on the first %u probes: %u hits\n", nexh,
		exh_hits);
	for (mode = 0; mode < DEDUP_MODES; mode++) {
		/* 0: no gate; 1: gated, every candidate's fingers compared (as before
		 * GALLERY_CLEAR_*); 2: gated, fingers where face and irises leave it open; 3: 2
		 * batched; 4: 2 after the face sketch; 5: 4 batched. 0-3 scan every face (no
		 * sketch), the batched searches take the gallery's defaults. */
		struct gallery_opts o = {0, 0, mode == 0 ? -1 : 0, mode < 2, mode < 4 ? -1 : share};
		uint32_t hits = 0, hits_sub = 0, nonmated_fp = 0;
		uint64_t confirmed = 0;
		double wall;

		if (strchr(modes, '0' + mode) == NULL)
			continue;
		/* the batched passes use the gallery's own settings: sketch or not, for all */
		gallery_set_sketch_share(g, mode == 3 ? -1 : share);
		if (mode != 3 && mode != 5) {
			t0 = now_s();
			for (i = 0; i < nreal; i++) {
				double t1 = now_s();

				if (gallery_identify_ex(
					    g, &probes[i], fmr, &o, &hit, &found, &st) != 0)
					exit(1);
				t[i] = now_s() - t1;
				confirmed += st.confirmed;
				res[i] = is_mate(&hit, found, i);
			}
			wall = now_s() - t0;
		} else {
			/* concurrent searches, as enrolments on many connection threads: the
			 * gallery batches those that arrive while a pass runs */
			struct conc c = {g, tmpl, fmr, nreal, 0, res, PTHREAD_MUTEX_INITIALIZER};
			pthread_t th[CONC_THREADS];
			int k;

			t0 = now_s();
			for (k = 0; k < CONC_THREADS; k++)
				if (pthread_create(&th[k], NULL, conc_worker, &c) != 0)
					exit(1);
			for (k = 0; k < CONC_THREADS; k++)
				pthread_join(th[k], NULL);
			wall = now_s() - t0;
		}
		for (i = 0; i < nreal; i++) {
			hits += (uint32_t)res[i];
			if (i < nexh)
				hits_sub += (uint32_t)res[i];
		}
		if (mode == 2) {
			memcpy(res2, res, nreal);
			have2 = 1;
		}
		/* people never enrolled: any hit is a false duplicate */
		for (i = nreal; i < nreal + nreal / 4; i++) {
			if (gallery_identify_ex(g, &probes[i], fmr, &o, &hit, &found, NULL) != 0)
				exit(1);
			nonmated_fp += (uint32_t)found;
		}
		printf("  %d. %s:\n", mode, dedup_mode_name[mode]);
		if (mode != 3 && mode != 5) {
			t0 = median_sort(t, nreal); /* sorts t */
			printf("    per search: median %.1f ms, max %.1f ms (%.1f compared in full on "
			       "average)\n",
				t0 * 1e3, t[nreal - 1] * 1e3, (double)confirmed / nreal);
		}
		rate[mode] = nreal / wall;
		printf("    %.1f searches/s (%u in %.2f s, %d threads asking)\n", rate[mode], nreal,
			wall, mode == 3 || mode == 5 ? CONC_THREADS : 1);
		printf("    hit rate %u/%u = %.4f; on the first %u probes %u against exhaustive %u "
		       "-> loss %.2f percentage points\n",
			hits, nreal, (double)hits / nreal, nexh, hits_sub, exh_hits,
			100.0 * ((double)exh_hits - hits_sub) / nexh);
		printf("    %u never-enrolled people: %u false duplicates\n", nreal / 4,
			nonmated_fp);
		if (mode == 4 && have2) {
			uint32_t lost = 0, won = 0;

			for (i = 0; i < nreal; i++) {
				lost += res2[i] && !res[i];
				won += !res2[i] && res[i];
			}
			printf("    against 2 on all %u probes: %u found there missed here, %u the "
			       "other way\n",
				nreal, lost, won);
		}
	}
	if (rate[0] > 0 && rate[1] > 0 && rate[2] > 0 && rate[3] > 0)
		printf("  ratios: face-gated %.2fx, + fingers only where open %.2fx, batched %.2fx "
		       "the rate of the full face+iris scan; fingers only where open %.2fx "
		       "face-gated\n",
			rate[1] / rate[0], rate[2] / rate[0], rate[3] / rate[0], rate[2] / rate[1]);
	if (rate[2] > 0 && rate[4] > 0)
		printf("  ratio: face sketch first %.2fx the rate of the face-gated scan of every "
		       "face (one at a time)\n",
			rate[4] / rate[2]);
	if (rate[3] > 0 && rate[5] > 0)
		printf("  ratio: face sketch first %.2fx the rate of the face-gated scan of every "
		       "face (batched)\n",
			rate[5] / rate[3]);
	for (i = 0; i < nreal + nreal / 4; i++)
		match_template_free(tmpl[i]);
	free(tmpl);
	free(exh);
	free(res2);
	gallery_free(g);
	free(t);
	free(res);
	for (i = 0; i < npool; i++)
		bio_sample_clear(&ipool[i]);
	for (i = 0; i < nreal + nreal / 4; i++) {
		bio_sample_clear(&real[i]);
		bio_sample_clear(&probes[i]);
	}
	free(ipool);
	free(real);
	free(probes);
}

static unsigned long
arg_ul(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s) {
		fprintf(stderr, "bench_bio: %s: bad number '%s'\n", what, s);
		exit(2);
	}
	return v;
}

/* The hub keeps fingers in the store (gallery_set_finger_loader); these entries have none. */
static int
no_fingers(void *arg, const uint8_t id[16], uint32_t positions, struct finger_template **out)
{
	(void)arg;
	(void)id;
	(void)positions;
	*out = NULL;
	return PASO_E_NOT_FOUND;
}

/*
 * One growth of a gallery of n entries (faces and two irises each) to 2n: what the commit loop
 * waits for when enrolments move into a full gallery, with crossings queued behind it. The
 * baseline copies the same faces and irises into new memory and wipes the old, as a growth by
 * copying would; the gallery's mappings move instead (bigmap.h).
 */
static void
bench_grow(uint32_t n)
{
	const uint32_t npool = 4096;
	struct bio_sample *ipool, fill;
	struct gallery *g = NULL;
	size_t bytes = (size_t)n * (BIO_FACE_DIM + 4 * BIO_IRIS_BYTES);
	double tg[REPS], tc[REPS], t0, mg, mc;
	uint8_t id[16], *old, *cp;
	uint32_t i;
	int rep;

	printf("\ngrow: a gallery of %u entries (face + 2 irises) grown to twice that, %d times, "
	       "fingers in the store as the hub keeps them; baseline: copying its %.0f MB of faces "
	       "and irises and wiping the old\n",
		n, REPS, bytes / 1e6);
	ipool = capture_pool(n + 1000, npool, 0, 0, PRESET_GOOD);
	memset(&fill, 0, sizeof(fill));
	fill.has_face = 1;
	fill.n_iris = 2;
	fill.iris[0].eye = BIO_EYE_RIGHT;
	fill.iris[1].eye = BIO_EYE_LEFT;
	for (rep = 0; rep < REPS; rep++) {
		if (gallery_new(2, &g) != 0)
			exit(1);
		gallery_set_finger_loader(g, no_fingers, NULL);
		if (gallery_reserve(g, n) != 0)
			exit(1);
		for (i = 0; i < n; i++) {
			filler_face(i, fill.face);
			filler_iris(ipool, npool, i, 0, fill.iris[0].code, fill.iris[0].mask);
			filler_iris(ipool, npool, i, 1, fill.iris[1].code, fill.iris[1].mask);
			memset(id, 0, sizeof(id));
			memcpy(id + 8, &i, 4);
			if (gallery_add(g, id, &fill) != 0)
				exit(1);
		}
		t0 = now_s();
		if (gallery_reserve(g, 2 * (size_t)n) != 0)
			exit(1);
		tg[rep] = now_s() - t0;
		gallery_free(g);
		old = xalloc(bytes);
		memset(old, 0x5a, bytes); /* touched, as a filled gallery's arrays are */
		t0 = now_s();
		cp = xalloc(2 * bytes);
		memcpy(cp, old, bytes);
		memset(cp + bytes, 0, bytes);
		sodium_memzero(old, bytes);
		free(old);
		tc[rep] = now_s() - t0;
		free(cp);
	}
	mg = median_sort(tg, REPS); /* sorts: [0] and [REPS - 1] are the range */
	mc = median_sort(tc, REPS);
	printf("  gallery growth: median %.2f ms (%.2f-%.2f); copying: median %.1f ms "
	       "(%.1f-%.1f); copying / gallery: %.0fx\n",
		mg * 1e3, tg[0] * 1e3, tg[REPS - 1] * 1e3, mc * 1e3, tc[0] * 1e3,
		tc[REPS - 1] * 1e3, mc / mg);
	for (i = 0; i < npool; i++)
		bio_sample_clear(&ipool[i]);
	free(ipool);
}

int
main(int argc, char **argv)
{
	uint32_t nfill = 1000000, nreal = 400, nexh = 20;
	struct bio_sample *pool;
	const char *only = "", *modes = "012345";
	long share = 0;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			printf("usage: bench_bio [--gallery N] [--enrolled N] [--exhaustive N] "
			       "[--only iris|face|dedup|grow] [--preset P] [--modes DIGITS]\n"
			       "                 [--sketch-share N]\n"
			       "Iris kernels, face 1:N, dedup over a gallery of N (default "
			       "1000000) and growing a gallery of N to 2N;\n--modes: which dedup "
			       "modes 0-5 to run (default all);\n"
			       "--sketch-share: keep one face in N by sketch (default "
			       "GALLERY_SKETCH_SHARE).\n");
			return 0;
		} else if (strcmp(argv[i], "--gallery") == 0 && i + 1 < argc) {
			nfill = (uint32_t)arg_ul(argv[++i], "--gallery");
		} else if (strcmp(argv[i], "--enrolled") == 0 && i + 1 < argc) {
			nreal = (uint32_t)arg_ul(argv[++i], "--enrolled");
		} else if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) {
			if (capture_preset_parse(argv[++i], &probe_preset) != 0) {
				fprintf(stderr,
					"bench_bio: --preset: '%s' is not good, poor or "
					"detention\n",
					argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--sketch-share") == 0 && i + 1 < argc) {
			share = (long)arg_ul(argv[++i], "--sketch-share");
		} else if (strcmp(argv[i], "--modes") == 0 && i + 1 < argc) {
			modes = argv[++i];
			if (strspn(modes, "012345") != strlen(modes) || !*modes) {
				fprintf(stderr, "bench_bio: --modes: '%s' is not digits 0-5\n",
					modes);
				return 2;
			}
		} else if (strcmp(argv[i], "--exhaustive") == 0 && i + 1 < argc) {
			nexh = (uint32_t)arg_ul(argv[++i], "--exhaustive");
		} else {
			fprintf(stderr, "bench_bio: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (nreal < 4 || nexh > nreal) {
		fprintf(stderr, "bench_bio: need --enrolled >= 4 and --exhaustive <= --enrolled\n");
		return 2;
	}
	if (sodium_init() < 0 || population_new(7, 10000000, &pop) != 0)
		return 1;
	printf("kernels chosen at run time: iris %s, face %s\n\n", iris_impl_name(),
		face_impl_name());
	pool = capture_pool(5000000, 2048, 0, 0, PRESET_GOOD);
	face_pool_init();
	if (!*only || strcmp(only, "iris") == 0)
		bench_iris(pool, 2048);
	if (!*only || strcmp(only, "face") == 0)
		bench_face(nfill);
	if (!*only || strcmp(only, "dedup") == 0)
		bench_dedup(nfill - nreal, nreal, nexh, modes, share);
	if (!*only || strcmp(only, "grow") == 0)
		bench_grow(nfill);
	for (i = 0; i < 2048; i++)
		bio_sample_clear(&pool[i]);
	free(pool);
	free(face_pool);
	population_free(pop);
	return 0;
}
