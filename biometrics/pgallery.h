/* SPDX-License-Identifier: Apache-2.0 */
/* Protected references (ISO/IEC 24745) of people, and their 1:1 and 1:N comparison. */
#ifndef PASO_PGALLERY_H
#define PASO_PGALLERY_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "face.h"
#include "match.h"
#include "protect.h"
#include "sample.h"

/*
 * A protected reference (or probe): the protected form of each modality of one capture under
 * one key generation (biometrics/protect.h). It holds no raw template. Two forms compare only
 * under the same generation. Scores are reported as in match.h (struct match_scores), with
 * evidence from impostor tables measured on protected scores (protect_calib.h, made by
 * bench/biometrics/calib_protect.c), so match_decide and the policy's FMR keep their meaning.
 */
struct pref {
	uint32_t gen; /* the key generation */
	int has_face; /* face: PolyProtect, int8 (protect_face_q) */
	struct face_q face;
	struct protect_iris iris[2];   /* [0] right, [1] left; eye 0 = absent */
	struct protect_finger *finger; /* NULL when none (owned) */
};

/*
 * Protects the modalities of s in the BIO_* mask under key k (generation gen). Caller owns
 * *out (pref_free). Returns 0, PASO_E_FIELD_RANGE (face not finite, iris eye bad), a finger
 * template error (PASO_E_TEMPLATE_*; d names it; d may be NULL) or PASO_E_NOMEM.
 */
int pref_new(const struct protect_key *k, uint32_t gen, const struct bio_sample *s,
	unsigned modalities, struct pref **out, struct paso_diag *d);

/* Wipes and frees (accepts NULL). */
void pref_free(struct pref *r);

/* The modalities r holds, as BIO_* bits. */
unsigned pref_modalities(const struct pref *r);

/* Removes (wipes) the modalities not in the BIO_* mask keep. */
void pref_keep(struct pref *r, unsigned keep);

/*
 * Compares reference a with probe b (same generation; PASO_E_INVALID_ARG otherwise) and
 * fills *out like match_verify_views: per-modality score and evidence, Fisher fusion. Pure.
 */
int pref_compare(const struct pref *a, const struct pref *b, struct match_scores *out);

/* Evidence (-log10 FMR) of one protected score, from protect_calib.h; iris: the mean
 * dissimilarity of the eyes compared (1 or 2). */
double pref_face_ev(double cosine);
double pref_iris_ev(double dissimilarity, int eyes);
double pref_finger_ev(double lss);

/*
 * The protected gallery: everyone's protected reference, in parallel arrays beside (not inside)
 * the raw gallery of gallery.h. A readers-writer lock: searches run concurrently, additions and
 * removals alone. Memory only; wiped on free.
 */
struct pgallery;

int pgallery_new(struct pgallery **out);
void pgallery_free(struct pgallery *g);

/*
 * Where protected finger forms live when not in memory (`--fingers store`): fills *out (caller
 * frees with free after wiping, or pref_free of a pref owning it) with entry id's finger form.
 * Thread-safe. Set before adding entries: those added later keep no finger form in memory.
 */
typedef int (*pgallery_finger_loader)(void *arg, const uint8_t id[16], struct protect_finger **out);
void pgallery_set_finger_loader(struct pgallery *g, pgallery_finger_loader fn, void *arg);

/*
 * Threads a search of a large gallery (PARALLEL_MIN entries, 8,192) scans with, the caller's
 * included (1..PGALLERY_MAX_THREADS; 1 at creation). Set before searching. 0 or
 * PASO_E_INVALID_ARG.
 */
#define PGALLERY_MAX_THREADS 64
int pgallery_set_threads(struct pgallery *g, unsigned threads);

/*
 * Adds r under id, taking ownership of r in every case. Replaces the entry of id when replace
 * is set (renewal), else PASO_E_EXISTS. *old (may be NULL) receives the replaced reference
 * (caller owns it), NULL if there was none. 0, PASO_E_EXISTS, PASO_E_NOMEM.
 */
int pgallery_put(
	struct pgallery *g, const uint8_t id[16], struct pref *r, int replace, struct pref **old);

/* Removes and wipes the entry of id. 0 or PASO_E_NOT_FOUND. */
int pgallery_remove(struct pgallery *g, const uint8_t id[16]);

size_t pgallery_size(const struct pgallery *g);

/* The key generation of id's reference: 0 and *gen, or PASO_E_NOT_FOUND. */
int pgallery_gen(const struct pgallery *g, const uint8_t id[16], uint32_t *gen);

/* The modalities (BIO_* bits) of id's reference: 0 and *mods, or PASO_E_NOT_FOUND. */
int pgallery_modalities(const struct pgallery *g, const uint8_t id[16], unsigned *mods);

/* The distinct generations held, at most max of them, into gens; returns how many. */
size_t pgallery_gens(const struct pgallery *g, uint32_t *gens, size_t max);

/* How many references are under a generation below gen. */
size_t pgallery_count_below(const struct pgallery *g, uint32_t gen);

/*
 * 1:1: compares probe (of the entry's generation) with the entry of id. 0, PASO_E_NOT_FOUND,
 * PASO_E_INVALID_ARG (probe of another generation).
 */
int pgallery_verify(const struct pgallery *g, const uint8_t id[16], const struct pref *probe,
	struct match_scores *out);

/*
 * 1:N: probes[0..n) are the probe under each generation held, n <= PGALLERY_MAX_GENS (NULL
 * slots are skipped; an entry is compared with the probe of its own generation; entries of a
 * generation with no probe are skipped). Face and iris score every entry; the
 * PGALLERY_CANDIDATES entries with the most face+iris evidence, and every entry sharing neither
 * with the probe, are compared in full (fingers too: with a finger loader, opened for the
 * PGALLERY_FINGER_LOADS best candidates only). *best gets the highest fused score; *found = 1
 * when it matches at per-comparison FMR fmr. 0, PASO_E_INVALID_ARG (n) or PASO_E_NOMEM.
 *
 * A gallery of PGALLERY_GATE_MIN entries or more is scanned face first, as the unprotected
 * gallery is (gallery.h): an entry's irises are compared only where its protected face cosine
 * has PGALLERY_GATE_EV evidence (face FMR 1e-2) or either side has no face; a mate whose face
 * falls below keeps its face evidence only. From 8,192 entries the scan is split over the
 * gallery's threads (pgallery_set_threads). bench_pgallery measures the loss against the
 * exhaustive search.
 */
#define PGALLERY_MAX_GENS 8
#define PGALLERY_CANDIDATES 32
#define PGALLERY_FINGER_LOADS 4
#define PGALLERY_GATE_MIN 8192
#define PGALLERY_GATE_EV 2.0
int pgallery_identify(struct pgallery *g, const struct pref *const *probes, size_t n, double fmr,
	uint8_t best_id[16], struct match_scores *best, int *found);

/* Options and counters of pgallery_identify_ex (benchmarks, evaluation). */
struct pgallery_opts {
	size_t candidates;   /* 0 = PGALLERY_CANDIDATES */
	int exhaustive;      /* 1: every entry compared in full, fingers opened (the reference) */
	double gate_face_ev; /* 0 = PGALLERY_GATE_EV; < 0: no gate (every iris compared) */
};
struct pgallery_stats {
	size_t scanned;      /* entries the scan went over */
	size_t iris;         /* entries whose irises were compared in the scan */
	size_t confirmed;    /* entries compared in full */
	size_t finger_loads; /* finger forms opened from the store */
};
int pgallery_identify_ex(struct pgallery *g, const struct pref *const *probes, size_t n, double fmr,
	const struct pgallery_opts *opts, uint8_t best_id[16], struct match_scores *best,
	int *found, struct pgallery_stats *stats);

#endif
