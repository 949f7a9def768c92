/* SPDX-License-Identifier: Apache-2.0 */
/* Staged finger-only 1:N (finger descriptors, then the full matcher on the best K) against the
 * exhaustive search of the same gallery, on the same probes. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "../benchclock.h"
#include "capture.h"
#include "gallery.h"
#include "kiosk.h"
#include "match.h"
#include "population.h"

#define MAX_K 8
#define TWO_FINGERS ((1u << 1) | (1u << 6))

static void
person_id(uint32_t i, uint8_t id[16])
{
	memset(id, 0, 16);
	memcpy(id, "bench-fx", 8);
	id[12] = (uint8_t)(i >> 24);
	id[13] = (uint8_t)(i >> 16);
	id[14] = (uint8_t)(i >> 8);
	id[15] = (uint8_t)i;
}

struct enrol_job {
	struct population *pop;
	struct gallery *g;
	uint32_t lo, hi;
	int failed;
};

/* Ten fingers of a good-preset capture, as the enrolment kiosks take them. */
static void *
enrol_some(void *arg)
{
	struct enrol_job *j = arg;
	struct match_template *t;
	struct bio_sample s;
	uint8_t id[16];
	uint32_t i;

	for (i = j->lo; i < j->hi; i++) {
		if (capture_take_some(j->pop, i, 0, PRESET_GOOD, BIO_FINGER, 0x3ff, &s) != 0) {
			j->failed = 1;
			return NULL;
		}
		if (s.finger_record != NULL &&
			match_template_new_ex(&s, MATCH_FINGER, &t, NULL) == 0) {
			person_id(i, id);
			if (gallery_add_tmpl(j->g, id, t) != 0)
				j->failed = 1;
		}
		bio_sample_clear(&s);
	}
	return NULL;
}

/* A two-finger probe of person i (ISO 2 and 7, as the detention station sends). 1: no fingers. */
static int
probe_of(struct population *pop, uint32_t i, uint32_t capture_no, enum capture_preset preset,
	struct bio_sample *s)
{
	if (capture_take_some(pop, i, capture_no, preset, BIO_FINGER, 0x3ff, s) != 0 ||
		kiosk_two_fingers(s) != 0) {
		fprintf(stderr, "bench_findex: capture of person %u failed\n", i);
		exit(1);
	}
	if (s->finger_record == NULL) {
		bio_sample_clear(s);
		return 1;
	}
	return 0;
}

struct tally {
	size_t probes, rank1, identified, wrong, lost_vs_exh;
	double *ms, cpu_ms;
};

static void
tally_add(struct tally *t, const struct gallery_hit *h, int found, const uint8_t *mate,
	const struct gallery_hit *exh, int exh_found, double ms, double cpu_ms)
{
	int right = mate != NULL && h->scores.modalities != 0 && memcmp(h->id, mate, 16) == 0;

	t->ms[t->probes++] = ms;
	t->cpu_ms += cpu_ms;
	t->rank1 += right;
	t->identified += right && found;
	t->wrong += found && !right;
	if (exh != NULL && mate != NULL && exh_found && memcmp(exh->id, mate, 16) == 0 &&
		!(right && found))
		t->lost_vs_exh++;
}

static unsigned long
arg_ul(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v == 0 || v > 100000000ul) {
		fprintf(stderr, "bench_findex: %s: not a count 1..100000000: '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	uint32_t n = 20000, nprobe = 40, nstr = 40, nk = 0, i, q;
	size_t kv[MAX_K] = {0};
	const char *presets = "good,poor,detention";
	struct population *pop = NULL;
	struct gallery *g = NULL;
	struct enrol_job jobs[2];
	pthread_t th;
	double t0, t1, c0, fmr;
	int with_exh = 1;
	int a, p, kk;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--help") == 0) {
			printf("usage: bench_findex [--enrolled N] [--probes P] [--strangers S] "
			       "[--candidates K,K,...] [--presets good,poor,detention] "
			       "[--no-exhaustive]\n"
			       "Finger-only 1:N over N people enrolled with ten fingers: staged "
			       "search (finger descriptors, then the full matcher on K) against "
			       "the exhaustive search, on the same two-finger probes.\n");
			return 0;
		} else if (strcmp(argv[a], "--enrolled") == 0 && a + 1 < argc) {
			n = (uint32_t)arg_ul(argv[++a], "--enrolled");
		} else if (strcmp(argv[a], "--probes") == 0 && a + 1 < argc) {
			nprobe = (uint32_t)arg_ul(argv[++a], "--probes");
		} else if (strcmp(argv[a], "--strangers") == 0 && a + 1 < argc) {
			nstr = (uint32_t)arg_ul(argv[++a], "--strangers");
		} else if (strcmp(argv[a], "--no-exhaustive") == 0) {
			with_exh = 0;
		} else if (strcmp(argv[a], "--presets") == 0 && a + 1 < argc) {
			presets = argv[++a];
		} else if (strcmp(argv[a], "--candidates") == 0 && a + 1 < argc) {
			char *c = argv[++a], *end;

			for (nk = 0; *c != '\0' && nk < MAX_K; nk++) {
				kv[nk] = strtoul(c, &end, 10);
				if (end == c || kv[nk] == 0 || kv[nk] > 256 ||
					(*end != ',' && *end != '\0')) {
					fprintf(stderr,
						"bench_findex: --candidates: counts 1..256 "
						"separated by commas: '%s'\n",
						argv[a]);
					return 2;
				}
				c = *end == ',' ? end + 1 : end;
			}
		} else {
			fprintf(stderr, "bench_findex: unknown option '%s'\n", argv[a]);
			return 2;
		}
	}
	if (nk == 0) {
		kv[0] = GALLERY_FINGER_CANDIDATES / 2;
		kv[1] = GALLERY_FINGER_CANDIDATES;
		kv[2] = GALLERY_FINGER_CANDIDATES * 2;
		nk = 3;
	}
	if (sodium_init() < 0 || population_new(11, n + nstr + 1, &pop) != 0 ||
		gallery_new(2, &g) != 0)
		return 1;
	fmr = 1e-6 / (double)n; /* minimal's identify_fmr over the gallery, as the hub asks */
	t0 = now_s();
	jobs[0] = (struct enrol_job){pop, g, 0, n / 2, 0};
	jobs[1] = (struct enrol_job){pop, g, n / 2, n, 0};
	if (pthread_create(&th, NULL, enrol_some, &jobs[1]) != 0) {
		enrol_some(&jobs[1]); /* no thread: both halves here */
		enrol_some(&jobs[0]);
	} else {
		enrol_some(&jobs[0]);
		pthread_join(th, NULL);
	}
	if (jobs[0].failed || jobs[1].failed) {
		fprintf(stderr, "bench_findex: enrolment failed\n");
		return 1;
	}
	t1 = now_s();
	printf("gallery: %zu people with ten fingers (good preset) in %.1f s; per-comparison FMR "
	       "%.3g (1e-6 / N)\n",
		gallery_size(g), t1 - t0, fmr);
	printf("two-finger probes (ISO 2 and 7); K = entries compared in full after the "
	       "descriptors\n\n");
	printf("%-9s %-10s %6s %7s %7s %6s %5s %8s %9s %8s %9s %6s\n", "preset", "search", "probes",
		"rank-1", "ident.", "wrong", "lost", "loss pp", "ms median", "ms mean", "cpu ms",
		"ratio");
	for (p = 0; p <= 3; p++) {
		enum capture_preset pr = PRESET_DETENTION;
		const char *name;
		uint32_t np = p < 3 ? nprobe : nstr;
		struct tally exh, st[MAX_K];
		double sum;

		if (p < 3) {
			name = p == 0 ? "good" : p == 1 ? "poor" : "detention";
			pr = p == 0 ? PRESET_GOOD : p == 1 ? PRESET_POOR : PRESET_DETENTION;
			if (strstr(presets, name) == NULL)
				continue;
		} else
			name = "strangers";
		memset(&exh, 0, sizeof(exh));
		exh.ms = calloc(np, sizeof(double));
		for (kk = 0; kk < (int)nk; kk++) {
			memset(&st[kk], 0, sizeof(st[kk]));
			st[kk].ms = calloc(np, sizeof(double));
		}
		for (q = 0; q < np; q++) {
			struct gallery_opts eo = {0, 1, 0, 0, 0};
			struct gallery_hit eh, h;
			struct bio_sample s;
			uint8_t mate[16];
			int ef, f;

			i = p < 3 ? (uint32_t)(((uint64_t)q * 7919u + (uint64_t)p * 104729u) % n)
				  : n + q;
			if (probe_of(pop, i, 1 + (uint32_t)p, pr, &s) != 0)
				continue;
			person_id(i, mate);
			memset(&eh, 0, sizeof(eh));
			ef = 0;
			if (with_exh) {
				t0 = now_s();
				c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
				if (gallery_identify_ex(g, &s, fmr, &eo, &eh, &ef, NULL) != 0)
					return 1;
				tally_add(&exh, &eh, ef, p < 3 ? mate : NULL, NULL, 0,
					(now_s() - t0) * 1e3,
					(clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3);
			}
			for (kk = 0; kk < (int)nk; kk++) {
				struct gallery_opts so = {kv[kk], 0, 0, 0, 0};

				t0 = now_s();
				c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
				if (gallery_identify_ex(g, &s, fmr, &so, &h, &f, NULL) != 0)
					return 1;
				tally_add(&st[kk], &h, f, p < 3 ? mate : NULL, &eh, ef,
					(now_s() - t0) * 1e3,
					(clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3);
			}
			bio_sample_clear(&s);
		}
		for (kk = -1; kk < (int)nk; kk++) {
			struct tally *t = kk < 0 ? &exh : &st[kk];
			char label[32];

			if (kk < 0)
				(void)snprintf(label, sizeof(label), "exhaustive");
			else
				(void)snprintf(label, sizeof(label), "K=%zu", kv[kk]);
			for (sum = 0, i = 0; i < t->probes; i++)
				sum += t->ms[i];
			if (kk < 0 && !with_exh)
				continue;
			printf("%-9s %-10s %6zu %7zu %7zu %6zu %5zu %8.2f %9.2f %8.2f %9.2f %6.1f\n",
				name, label, t->probes, t->rank1, t->identified, t->wrong,
				t->lost_vs_exh,
				t->probes && with_exh
					? 100.0 * ((double)exh.identified - (double)t->identified) /
						  (double)t->probes
					: 0,
				median_sort(t->ms, t->probes),
				sum / (t->probes ? (double)t->probes : 1),
				t->cpu_ms / (t->probes ? (double)t->probes : 1),
				t->cpu_ms > 0 && with_exh ? exh.cpu_ms / t->cpu_ms : 0);
			free(t->ms);
		}
	}
	printf("\nrank-1: the best entry is the probe's person; ident.: that and a match at the "
	       "FMR; wrong: a match with someone else\n(for strangers: the false positive "
	       "identifications); lost: identified by the exhaustive search, not by this one; "
	       "loss pp: ident. below the exhaustive's, in percentage points of the probes;\ncpu ms: "
	       "CPU time of all threads per probe (the probe's template included); ratio: the "
	       "exhaustive search's CPU time over this one's.\n");
	gallery_free(g);
	population_free(pop);
	return 0;
}
