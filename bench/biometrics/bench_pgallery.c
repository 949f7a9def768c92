/* SPDX-License-Identifier: Apache-2.0 */
/* bench_pgallery: the hub's 1:N search over protected references (pgallery) beside the same
 * search over unprotected ones (gallery), in one run, on the same synthetic people. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sodium.h>

#include "../benchclock.h"
#include "capture.h"
#include "finger_match.h"
#include "gallery.h"
#include "iris.h"
#include "match.h"
#include "pgallery.h"
#include "population.h"

/*
 * The gallery: `--gallery N` entries, of which `--enrolled E` are synthetic people enrolled with
 * every modality (good preset, ten fingers) and the rest fillers: a face (the sum of two
 * population faces, normalised) and two irises (variants of a pool of real codes, rotated far
 * beyond the matcher's shifts), as bench_bio's dedup gallery. Every protected entry has a finger
 * form, kept sealed as the hub keeps them with `--fingers store`: a filler's is one of a pool of
 * real people's protected forms, sealed (XChaCha20-Poly1305) and opened per comparison. The
 * unprotected fillers have no fingers (building a raw finger template costs ~1 ms: a million
 * would take a quarter hour), so the unprotected search opens fewer stored forms than the
 * protected one. Probes: the enrolled people's second capture and E/4 strangers, two fingers
 * (ISO positions 2 and 7, as kiosks send at crossings), decided at per-comparison FMR
 * identify_fmr / N with identify_fmr 1e-6 (policies/protected.yaml), as the hub decides.
 */
#define FACE_POOL 16384
#define IRIS_POOL 512
#define FINGER_POOL 64
#define MAX_RUNS 16
#define TWO_FINGERS ((1u << 1) | (1u << 6))

/* Sealed finger forms: ISO records (unprotected) and protected forms, by person slot. */
struct sealed {
	uint8_t *c; /* ciphertext */
	size_t len;
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
};

struct store {
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint32_t enrolled;
	struct sealed *iso, *prot; /* [0, enrolled): people; [enrolled, +FINGER_POOL): pool */
	unsigned long opened_raw, opened_prot;
	pthread_mutex_t mu;
};

/* CPU seconds of every thread of the process: the search's cost whatever else the machine runs. */
static double
cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double
median(const double *v, size_t n)
{
	double *c = malloc(n * sizeof(*c)), m;

	if (c == NULL)
		exit(1);
	memcpy(c, v, n * sizeof(*c));
	m = median_sort(c, n);
	free(c);
	return m;
}

static unsigned long
arg_ul(const char *opt, const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = s != NULL ? strtoul(s, &end, 10) : 0;
	if (s == NULL || errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "bench_pgallery: %s: expected %lu..%lu, not '%s'\n", opt, lo, hi,
			s != NULL ? s : "");
		exit(2);
	}
	return v;
}

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench_pgallery: %s: %s\n", what, paso_strerror(r));
	exit(1);
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		die("memory", PASO_E_NOMEM);
	return p;
}

/* ---- sealed finger forms ---- */

static void
seal(struct store *st, struct sealed *s, const uint8_t *m, size_t len)
{
	unsigned long long clen;

	s->c = xcalloc(1, len + crypto_aead_xchacha20poly1305_ietf_ABYTES);
	randombytes_buf(s->nonce, sizeof(s->nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		s->c, &clen, m, len, NULL, 0, NULL, s->nonce, st->key);
	s->len = (size_t)clen;
}

/* Opens s into a fresh buffer (caller wipes and frees). */
static uint8_t *
unseal(const struct store *st, const struct sealed *s, size_t *len)
{
	uint8_t *m = malloc(s->len);
	unsigned long long mlen;

	if (m == NULL || crypto_aead_xchacha20poly1305_ietf_decrypt(
				 m, &mlen, NULL, s->c, s->len, NULL, 0, s->nonce, st->key) != 0) {
		free(m);
		return NULL;
	}
	*len = (size_t)mlen;
	return m;
}

/* A protected finger form packed: per view its position, count and cylinders. */
static uint8_t *
pack_pfinger(const struct protect_finger *f, size_t *len)
{
	size_t n = 1, i;
	uint8_t *b, *p;

	for (i = 0; i < (size_t)f->n_views; i++)
		n += 3 + (size_t)f->v[i].n * PROTECT_FINGER_WORDS * 8;
	p = b = xcalloc(1, n);
	*p++ = (uint8_t)f->n_views;
	for (i = 0; i < (size_t)f->n_views; i++) {
		*p++ = f->v[i].pos;
		memcpy(p, &f->v[i].n, 2);
		p += 2;
		memcpy(p, f->v[i].c, (size_t)f->v[i].n * PROTECT_FINGER_WORDS * 8);
		p += (size_t)f->v[i].n * PROTECT_FINGER_WORDS * 8;
	}
	*len = n;
	return b;
}

static int
unpack_pfinger(const uint8_t *b, size_t len, struct protect_finger **out)
{
	struct protect_finger *f = calloc(1, sizeof(*f));
	const uint8_t *p = b, *end = b + len;
	int i;

	if (f == NULL)
		return PASO_E_NOMEM;
	f->n_views = *p++;
	for (i = 0; i < f->n_views && i < 10; i++) {
		if (end - p < 3)
			break;
		f->v[i].pos = *p++;
		memcpy(&f->v[i].n, p, 2);
		p += 2;
		if (f->v[i].n > PROTECT_FINGER_MAX_CYL ||
			(size_t)(end - p) < (size_t)f->v[i].n * PROTECT_FINGER_WORDS * 8)
			break;
		memcpy(f->v[i].c, p, (size_t)f->v[i].n * PROTECT_FINGER_WORDS * 8);
		p += (size_t)f->v[i].n * PROTECT_FINGER_WORDS * 8;
	}
	if (i != f->n_views) {
		free(f);
		return PASO_E_CORRUPT;
	}
	*out = f;
	return 0;
}

/* Entry id: bytes 0..3 the index, byte 15 = 1 for a filler. */
static uint32_t
slot_of(const struct store *st, const uint8_t id[16])
{
	uint32_t i;

	memcpy(&i, id, 4);
	return id[15] ? st->enrolled + i % FINGER_POOL : i;
}

static int
load_raw(void *arg, const uint8_t id[16], uint32_t positions, struct finger_template **out)
{
	struct store *st = arg;
	uint8_t *m;
	size_t len;
	int r;

	*out = NULL;
	if ((m = unseal(st, &st->iso[slot_of(st, id)], &len)) == NULL)
		return PASO_E_CORRUPT;
	r = finger_template_from_record_at(m, len, positions, out, NULL);
	sodium_memzero(m, len);
	free(m);
	__atomic_fetch_add(&st->opened_raw, 1, __ATOMIC_RELAXED);
	return r;
}

static int
load_prot(void *arg, const uint8_t id[16], struct protect_finger **out)
{
	struct store *st = arg;
	uint8_t *m;
	size_t len;
	int r;

	*out = NULL;
	if ((m = unseal(st, &st->prot[slot_of(st, id)], &len)) == NULL)
		return PASO_E_CORRUPT;
	r = unpack_pfinger(m, len, out);
	sodium_memzero(m, len);
	free(m);
	__atomic_fetch_add(&st->opened_prot, 1, __ATOMIC_RELAXED);
	return r;
}

/* ---- fillers ---- */

static float (*face_pool)[BIO_FACE_DIM];
static struct bio_sample *iris_pool;

static void
filler(uint64_t i, struct bio_sample *s)
{
	const float *a = face_pool[i % FACE_POOL];
	const float *b = face_pool[(i / FACE_POOL * 7919 + i * 31 + 1) % FACE_POOL];
	double ss = 0;
	int d, e;

	memset(s, 0, sizeof(*s));
	for (d = 0; d < BIO_FACE_DIM; d++) {
		s->face[d] = a[d] + b[d];
		ss += (double)s->face[d] * s->face[d];
	}
	for (d = 0; d < BIO_FACE_DIM; d++)
		s->face[d] = (float)(s->face[d] / sqrt(ss));
	s->has_face = 1;
	for (e = 0; e < 2; e++) {
		const struct bio_sample *p =
			&iris_pool[(i * 2654435761u + (uint64_t)e * 97) % IRIS_POOL];
		int v = (int)((i / IRIS_POOL + (uint64_t)e * 3) % 16), k, pe;

		if (p->n_iris == 0)
			continue;
		pe = e % p->n_iris;
		s->iris[s->n_iris].eye = e == 0 ? BIO_EYE_RIGHT : BIO_EYE_LEFT;
		iris_rotate(p->iris[pe].code, 16 * (v % 8), s->iris[s->n_iris].code);
		iris_rotate(p->iris[pe].mask, 16 * (v % 8), s->iris[s->n_iris].mask);
		if (v >= 8) /* the other phase bit of each position */
			for (k = 0; k < BIO_IRIS_BYTES; k++) {
				uint8_t c = s->iris[s->n_iris].code[k];

				s->iris[s->n_iris].code[k] =
					(uint8_t)(((c & 0x55) << 1) | ((c & 0xaa) >> 1));
			}
		s->n_iris++;
	}
}

struct build {
	struct gallery *g;
	struct pgallery *pg;
	const struct protect_key *key;
	uint32_t enrolled, n, t, nt;
	int fingers;
};

static void *
build_fillers(void *arg)
{
	struct build *b = arg;
	struct bio_sample s;
	uint8_t id[16];
	uint32_t i;
	int r;

	for (i = b->enrolled + b->t; i < b->n; i += b->nt) {
		struct pref *p = NULL;

		filler(i, &s);
		memset(id, 0, sizeof(id));
		memcpy(id, &i, 4);
		id[15] = 1;
		if ((r = gallery_add(b->g, id, &s)) != 0 ||
			(r = pref_new(b->key, 1, &s, BIO_FACE | BIO_IRIS, &p, NULL)) != 0)
			die("filler", r);
		/* its finger form lives in the store: the gallery only records that it has one */
		if (b->fingers && (p->finger = calloc(1, sizeof(*p->finger))) == NULL)
			die("filler", PASO_E_NOMEM);
		if ((r = pgallery_put(b->pg, id, p, 0, NULL)) != 0)
			die("filler", r);
	}
	bio_sample_clear(&s);
	return NULL;
}

struct probe {
	uint32_t who; /* person; >= enrolled: a stranger */
	struct bio_sample s;
	struct match_template *mt;
};

/* Which identity a search returned: the person's index, or UINT32_MAX for none/filler. */
static uint32_t
hit_of(const uint8_t id[16], int found)
{
	uint32_t i;

	if (!found || id[15] != 0)
		return UINT32_MAX;
	memcpy(&i, id, 4);
	return i;
}

int
main(int argc, char **argv)
{
	unsigned long n = 1000000, enrolled = 200, runs = 3, exh = 0, fingers = 1, i, run;
	struct population *pop = NULL;
	struct gallery *g = NULL;
	struct pgallery *pg = NULL;
	struct protect_key *key = NULL;
	struct store st;
	struct probe *pr;
	struct build bt[2];
	pthread_t th;
	uint8_t kb[PROTECT_KEY_BYTES];
	double *t_raw, *t_prot, *t_tr, *c_raw, *c_prot, c0, med_raw[MAX_RUNS], med_prot[MAX_RUNS],
		med_ratio[MAX_RUNS], t0, fmr;
	unsigned char *missed;
	unsigned long exh_missed = 0;
	unsigned long nprobe, strangers, raw_hit = 0, prot_hit = 0, raw_fp = 0, prot_fp = 0;
	struct pgallery_stats ps, sum_ps;
	int r, argi;

	for (argi = 1; argi < argc; argi += 2) {
		const char *a = argv[argi], *v = argi + 1 < argc ? argv[argi + 1] : NULL;

		if (strcmp(a, "--gallery") == 0)
			n = arg_ul(a, v, 16, 4000000);
		else if (strcmp(a, "--enrolled") == 0)
			enrolled = arg_ul(a, v, 4, 4000);
		else if (strcmp(a, "--runs") == 0)
			runs = arg_ul(a, v, 1, MAX_RUNS);
		else if (strcmp(a, "--exhaustive") == 0)
			exh = arg_ul(a, v, 0, 4000);
		else if (strcmp(a, "--fingers") == 0)
			fingers = arg_ul(a, v, 0, 1);
		else {
			fprintf(stderr,
				"usage: bench_pgallery [--gallery N] [--enrolled E] [--runs R] "
				"[--exhaustive X] [--fingers 0|1]\n");
			return strcmp(a, "--help") == 0 ? 0 : 2;
		}
	}
	if (enrolled > n / 2)
		enrolled = n / 2;
	strangers = enrolled / 4 > 0 ? enrolled / 4 : 1;
	nprobe = enrolled + strangers;
	if (exh > nprobe)
		exh = nprobe;
	fmr = 1e-6 / (double)n;
	if (sodium_init() < 0)
		return 1;
	memset(&st, 0, sizeof(st));
	pthread_mutex_init(&st.mu, NULL);
	crypto_aead_xchacha20poly1305_ietf_keygen(st.key);
	st.enrolled = (uint32_t)enrolled;
	randombytes_buf(kb, sizeof(kb));
	if ((r = population_new(7, (uint32_t)(nprobe + FINGER_POOL + IRIS_POOL), &pop)) != 0 ||
		(r = protect_key_new(kb, &key)) != 0 || (r = gallery_new(2, &g)) != 0 ||
		(r = gallery_reserve(g, n)) != 0 || (r = pgallery_new(&pg)) != 0 ||
		(r = pgallery_set_threads(pg, 2)) != 0)
		die("setup", r);
	sodium_memzero(kb, sizeof(kb));
	if (fingers) {
		gallery_set_finger_loader(g, load_raw, &st);
		pgallery_set_finger_loader(pg, load_prot, &st);
	}
	t0 = now_s();
	/* pools: faces, irises, and the fillers' finger forms (real people outside the probes) */
	face_pool = xcalloc(FACE_POOL, sizeof(*face_pool));
	for (i = 0; i < FACE_POOL; i++) {
		uint8_t seed[32] = {0};

		memcpy(seed, &i, sizeof(i));
		population_face_vector(seed, face_pool[i]);
	}
	iris_pool = xcalloc(IRIS_POOL, sizeof(*iris_pool));
	for (i = 0; i < IRIS_POOL; i++)
		if ((r = capture_take_some(pop, (uint32_t)(nprobe + FINGER_POOL + i), 0,
			     PRESET_GOOD, BIO_IRIS, 0, &iris_pool[i])) != 0)
			die("capture", r);
	st.iso = xcalloc(enrolled + FINGER_POOL, sizeof(*st.iso));
	st.prot = xcalloc(enrolled + FINGER_POOL, sizeof(*st.prot));
	/* people first: their references, their sealed fingers */
	for (i = 0; i < enrolled + FINGER_POOL; i++) {
		uint32_t who = (uint32_t)(i < enrolled ? i : nprobe + (i - enrolled));
		struct bio_sample s;
		struct pref *p = NULL;
		uint8_t id[16], *b;
		size_t blen;

		if ((r = capture_take(pop, who, 0, PRESET_GOOD, &s)) != 0 ||
			(r = pref_new(key, 1, &s, BIO_FACE | BIO_IRIS | BIO_FINGER, &p, NULL)) != 0)
			die("enrol", r);
		if (s.finger_record != NULL) {
			seal(&st, &st.iso[i], s.finger_record, s.finger_len);
			if (p->finger != NULL) {
				b = pack_pfinger(p->finger, &blen);
				seal(&st, &st.prot[i], b, blen);
				sodium_memzero(b, blen);
				free(b);
			}
		}
		if (i < enrolled) {
			memset(id, 0, sizeof(id));
			memcpy(id, &who, 4);
			if (!fingers) {
				free(s.finger_record);
				s.finger_record = NULL;
				s.finger_len = 0;
				pref_keep(p, BIO_FACE | BIO_IRIS);
			}
			if ((r = gallery_add(g, id, &s)) != 0 ||
				(r = pgallery_put(pg, id, p, 0, NULL)) != 0)
				die("enrol", r);
		} else
			pref_free(p);
		bio_sample_clear(&s);
	}
	for (i = 0; i < 2; i++)
		bt[i] = (struct build){
			g, pg, key, (uint32_t)enrolled, (uint32_t)n, (uint32_t)i, 2, (int)fingers};
	if (pthread_create(&th, NULL, build_fillers, &bt[1]) != 0)
		die("thread", PASO_E_NOMEM);
	build_fillers(&bt[0]);
	pthread_join(th, NULL);
	fprintf(stderr, "bench_pgallery: %lu entries (%lu people) built in %.1f s\n",
		pgallery_size(pg), enrolled, now_s() - t0);
	/* probes: the enrolled people's next capture, then strangers; two fingers */
	pr = xcalloc(nprobe, sizeof(*pr));
	for (i = 0; i < nprobe; i++) {
		pr[i].who = (uint32_t)i;
		if ((r = capture_take_some(pop, (uint32_t)i, 1, PRESET_GOOD,
			     BIO_FACE | BIO_IRIS | (fingers ? BIO_FINGER : 0), TWO_FINGERS,
			     &pr[i].s)) != 0 ||
			(r = match_template_new(&pr[i].s, &pr[i].mt, NULL)) != 0)
			die("probe", r);
	}
	t_raw = xcalloc(nprobe * runs, sizeof(double));
	t_prot = xcalloc(nprobe * runs, sizeof(double));
	t_tr = xcalloc(nprobe * runs, sizeof(double));
	c_raw = xcalloc(nprobe * runs, sizeof(double));
	c_prot = xcalloc(nprobe * runs, sizeof(double));
	missed = xcalloc(nprobe, 1);
	memset(&sum_ps, 0, sizeof(sum_ps));
	printf("1:N over %lu entries (%lu people enrolled with ten fingers, face, two irises; the "
	       "rest fillers with face and two irises%s), 2 threads each;\n"
	       "%lu probes (%lu mates, %lu strangers; face, two irises%s), FMR %.2g per comparison\n",
		n, enrolled, fingers ? ", protected finger forms sealed" : "", nprobe, enrolled,
		strangers, fingers ? ", two fingers" : "", fmr);
	for (run = 0; run < runs; run++) {
		unsigned long rh = 0, ph = 0, rf = 0, pf = 0;
		size_t o = run * nprobe;

		for (i = 0; i < nprobe; i++) {
			struct gallery_hit hit;
			struct match_scores best;
			struct pref *p = NULL;
			const struct pref *pp;
			uint8_t bid[16];
			uint32_t h;
			int found;

			c0 = cpu();
			t0 = now_s();
			if ((r = gallery_identify_tmpl(g, pr[i].mt, fmr, &hit, &found)) != 0)
				die("identify", r);
			t_raw[o + i] = now_s() - t0;
			c_raw[o + i] = cpu() - c0;
			h = hit_of(hit.id, found);
			rh += i < enrolled && h == pr[i].who;
			rf += i >= enrolled && found;
			t0 = now_s();
			if ((r = pref_new(key, 1, &pr[i].s, BIO_FACE | BIO_IRIS | BIO_FINGER, &p,
				     NULL)) != 0)
				die("protect", r);
			t_tr[o + i] = now_s() - t0;
			pp = p;
			c0 = cpu();
			t0 = now_s();
			if ((r = pgallery_identify_ex(
				     pg, &pp, 1, fmr, NULL, bid, &best, &found, &ps)) != 0)
				die("identify", r);
			t_prot[o + i] = now_s() - t0;
			c_prot[o + i] = cpu() - c0;
			h = hit_of(bid, found);
			if (i < enrolled && h != pr[i].who)
				missed[i] = 1;
			ph += i < enrolled && h == pr[i].who;
			pf += i >= enrolled && found;
			sum_ps.iris += ps.iris;
			sum_ps.confirmed += ps.confirmed;
			sum_ps.finger_loads += ps.finger_loads;
			pref_free(p);
		}
		med_raw[run] = median(t_raw + o, nprobe);
		med_prot[run] = median(t_prot + o, nprobe);
		med_ratio[run] = med_prot[run] / med_raw[run];
		printf("  run %lu: per probe median: unprotected %.2f ms, protected %.2f ms (+ %.3f "
		       "ms probe transform), ratio %.2f; CPU per probe (both threads) %.2f and "
		       "%.2f ms; found: %lu/%lu and %lu/%lu, strangers identified %lu/%lu and "
		       "%lu/%lu\n",
			run + 1, med_raw[run] * 1e3, med_prot[run] * 1e3,
			median(t_tr + o, nprobe) * 1e3, med_ratio[run],
			median(c_raw + o, nprobe) * 1e3, median(c_prot + o, nprobe) * 1e3, rh,
			enrolled, ph, enrolled, rf, strangers, pf, strangers);
		if (run == 0) {
			raw_hit = rh;
			prot_hit = ph;
			raw_fp = rf;
			prot_fp = pf;
		}
	}
	{
		double lo[3], hi[3], *v[3] = {med_raw, med_prot, med_ratio};
		int k;

		for (k = 0; k < 3; k++) {
			lo[k] = hi[k] = v[k][0];
			for (run = 1; run < runs; run++) {
				lo[k] = fmin(lo[k], v[k][run]);
				hi[k] = fmax(hi[k], v[k][run]);
			}
		}
		printf("over %lu runs (median of the runs' medians, range):\n", runs);
		printf("  unprotected gallery   %8.2f ms  (%.2f..%.2f)  found %lu/%lu, strangers "
		       "identified %lu/%lu\n",
			median(med_raw, runs) * 1e3, lo[0] * 1e3, hi[0] * 1e3, raw_hit, enrolled,
			raw_fp, strangers);
		printf("  protected gallery     %8.2f ms  (%.2f..%.2f)  found %lu/%lu, strangers "
		       "identified %lu/%lu\n",
			median(med_prot, runs) * 1e3, lo[1] * 1e3, hi[1] * 1e3, prot_hit, enrolled,
			prot_fp, strangers);
		printf("  protected / unprotected  %.2f  (%.2f..%.2f)\n", median(med_ratio, runs),
			lo[2], hi[2]);
		printf("  protected search: irises compared %.0f, full comparisons %.1f, finger forms "
		       "opened %.1f per probe\n",
			(double)sum_ps.iris / (double)(nprobe * runs),
			(double)sum_ps.confirmed / (double)(nprobe * runs),
			(double)sum_ps.finger_loads / (double)(nprobe * runs));
	}
	for (i = 0; i < enrolled; i++)
		exh_missed += missed[i];
	if (exh > 0 || exh_missed > 0) {
		/* the reference: every protected entry compared in full (fingers opened) */
		struct pgallery_opts ex = {0, 1, 0};
		unsigned long same = 0, eh = 0, ef = 0, gh = 0, gf = 0, nm = 0, ns = 0, miss_at = 0;

		t0 = now_s();
		for (i = 0; i < nprobe; i++) {
			/* half the exhaustive probes mates, half strangers (as far as there are) */
			size_t k = i < exh - exh / 2 ? i : enrolled + (i - (exh - exh / 2));
			struct match_scores b1, b2;
			struct pref *p = NULL;
			const struct pref *pp;
			uint8_t id1[16], id2[16];
			int f1, f2;

			if (i >= exh) { /* then every mate the gated search missed */
				for (k = miss_at; k < enrolled && !missed[k]; k++)
					;
				miss_at = k + 1;
				if (k >= enrolled)
					break;
			} else if (k < enrolled && missed[k])
				missed[k] = 0; /* among the first: compared once */

			if (k >= nprobe)
				break;
			if ((r = pref_new(key, 1, &pr[k].s, BIO_FACE | BIO_IRIS | BIO_FINGER, &p,
				     NULL)) != 0)
				die("protect", r);
			pp = p;
			if ((r = pgallery_identify_ex(pg, &pp, 1, fmr, &ex, id1, &b1, &f1, NULL)) !=
					0 ||
				(r = pgallery_identify_ex(
					 pg, &pp, 1, fmr, NULL, id2, &b2, &f2, NULL)) != 0)
				die("identify", r);
			pref_free(p);
			same += hit_of(id1, f1) == hit_of(id2, f2) && f1 == f2;
			if (i >= exh)
				printf("  missed mate %zu: gated best fused %.2f (%s), exhaustive best "
				       "fused %.2f (%s), threshold %.2f\n",
					k, b2.fused,
					hit_of(id2, 1) == pr[k].who ? "the mate" : "another",
					b1.fused,
					hit_of(id1, 1) == pr[k].who ? "the mate" : "another",
					-log10(fmr));
			if (k < enrolled) {
				nm++;
				eh += hit_of(id1, f1) == pr[k].who;
				gh += hit_of(id2, f2) == pr[k].who;
			} else {
				ns++;
				ef += f1;
				gf += f2;
			}
		}
		printf("exhaustive protected search (every entry in full, fingers opened) on %lu "
		       "mates (the first %lu and every one the gated search missed) and %lu "
		       "strangers, %.1f s each:\n"
		       "  found %lu/%lu exhaustive vs %lu/%lu face-gated; strangers identified "
		       "%lu/%lu vs %lu/%lu; same decision and identity %lu/%lu\n",
			nm, exh - exh / 2, ns, (now_s() - t0) / (double)(nm + ns), eh, nm, gh, nm,
			ef, ns, gf, ns, same, nm + ns);
	}
	printf("finger forms opened from the store: unprotected %lu, protected %lu\n",
		st.opened_raw, st.opened_prot);
	for (i = 0; i < nprobe; i++) {
		match_template_free(pr[i].mt);
		bio_sample_clear(&pr[i].s);
	}
	free(pr);
	free(t_raw);
	free(t_prot);
	free(t_tr);
	free(c_raw);
	free(c_prot);
	free(missed);
	pgallery_free(pg);
	gallery_free(g);
	protect_key_free(key);
	population_free(pop);
	return 0;
}
