/* SPDX-License-Identifier: Apache-2.0 */
/* In-memory 1:N gallery: fast iris and face candidate search, fingerprints and fusion to confirm.
 */
#ifndef PASO_GALLERY_H
#define PASO_GALLERY_H

#include <stddef.h>
#include <stdint.h>

#include "match.h"
#include "sample.h"

/*
 * Thread-safety: a gallery has a readers-writer lock. Searches and comparisons (identify,
 * verify) run concurrently from any number of threads; gallery_add, gallery_remove and
 * gallery_reserve take the gallery alone, and waiting writers are preferred, so a stream of
 * searches cannot starve additions. gallery_identify spreads its scan over the gallery's
 * worker threads and returns when they are done. Every addition gets a sequence number
 * (gallery_seq), so a caller can search once off its critical path and later compare only what
 * was added since (gallery_identify_since_tmpl). The gallery holds biometric data in memory only;
 * it is wiped on free and never written anywhere.
 */
struct gallery;

/* threads: scan threads (1..64; 0 = 1). Caller owns *out. 0, PASO_E_INVALID_ARG, PASO_E_NOMEM. */
int gallery_new(unsigned threads, struct gallery **out);
void gallery_free(struct gallery *g);

/*
 * Where finger templates live when not in memory: fills *out (caller frees) with the finger
 * template of entry id, or returns an error (the comparison then goes on without fingers).
 * positions: what the probe can be compared with (finger_template_positions); the loader may
 * build only those views (finger_template_from_record_at), the scores are the same.
 * Called from search and compare threads at once: it must be thread-safe.
 */
typedef int (*gallery_finger_loader)(
	void *arg, const uint8_t id[16], uint32_t positions, struct finger_template **out);

/*
 * With a loader set, entries added from then on keep no finger template in memory (only that
 * they have one): face and iris only (2.9 KB a person measured at 4,000, against 52.1 KB with
 * fingers in memory). Full comparisons load an entry's
 * fingers through fn when the probe has fingers. Call before adding entries.
 */
void gallery_set_finger_loader(struct gallery *g, gallery_finger_loader fn, void *arg);

/*
 * With a loader set, keeps the finger templates it opened for comparisons, at most max_bytes of
 * them (fcache.h: least recently used out, wiped on the way out), so that a candidate or a
 * traveller compared again is not opened and built again: the same scores (a template is reused
 * only for probes whose positions it was built for). An entry removed (gallery_remove: erasure),
 * cleared or moved out takes its cached fingers with it. 0 (the default) keeps none. Replaces
 * any earlier cache (wiped). 0 or PASO_E_NOMEM.
 */
int gallery_set_finger_cache(struct gallery *g, size_t max_bytes);

/* The cache's counts since it was set: comparisons that found an entry's fingers in it (hits)
 * and that opened them (misses), and the bytes it holds. Zeros without a cache. */
void gallery_finger_cache_stats(struct gallery *g, uint64_t *hits, uint64_t *misses, size_t *bytes);

/* 1 when g keeps finger templates outside (a loader is set), else 0. */
int gallery_fingers_outside(const struct gallery *g);

/*
 * Probes whose finger part is deferred (match_template_new_deferred): searches build it only if
 * a comparison needs it (GALLERY_CLEAR_*); gallery_verify compares them without it unless built.
 * gallery_add_tmpl of such a template keeps only that the entry has fingers when a loader is set
 * (the store holds them), else builds them first.
 */

/*
 * With a loader set, a search opens the fingers of its GALLERY_FINGER_LOADS best candidates by
 * face and iris among those face and irises leave open (GALLERY_CLEAR_*; an entry with nothing
 * fast in common with the probe is always compared by fingers); gallery_verify always opens
 * them.
 */
#define GALLERY_FINGER_LOADS 4

/*
 * A search compares a candidate's fingers only where face and irises leave the decision open.
 * They close it (the candidate's result is then its face and iris comparison) when (a) face and
 * irises alone reach the search's threshold even with the weakest fingers added (exact: the
 * decision cannot change), or (b) the face's evidence is below GALLERY_CLEAR_FACE_EV and the
 * irises', both compared, below GALLERY_CLEAR_IRIS_EV (or, one compared, below
 * GALLERY_CLEAR_IRIS1_EV): no modality shows more than strangers do. The iris bounds are those
 * a stranger exceeds about once in 130 comparisons (the evidence of one eye is -log10 of an
 * impostor tail, so P(one eye >= x) = 10^-x and P(two eyes >= x) = 10^-x (1 + x ln 10)). A
 * search's candidates are the best of the gallery by face and iris, so with lower bounds most
 * of them stayed open by chance, and each opened fingers. (b) is a judgement: a mate whose
 * compared irises all fail and whose face is weak is taken as a stranger; bench_bio --only
 * dedup measures the loss against the exhaustive search (which compares everything in full)
 * on the same probes.
 */
#define GALLERY_CLEAR_IRIS_EV 3.0
#define GALLERY_CLEAR_IRIS1_EV 2.1
#define GALLERY_CLEAR_FACE_EV 6.0

/* Pre-sizes for n entries (optional). 0 or PASO_E_NOMEM. */
int gallery_reserve(struct gallery *g, size_t n);

/*
 * Adds the sample under id (16 bytes, opaque to the gallery; the sample is copied). Returns 0,
 * PASO_E_EXISTS (id already present), PASO_E_INVALID_ARG (sample with no modality), a
 * match_template_new error (PASO_E_TEMPLATE_*, PASO_E_FIELD_RANGE; d names it; d may be NULL)
 * or PASO_E_NOMEM.
 */
int gallery_add(struct gallery *g, const uint8_t id[16], const struct bio_sample *s);
int gallery_add_diag(
	struct gallery *g, const uint8_t id[16], const struct bio_sample *s, struct paso_diag *d);

/*
 * Adds an already built template under id, taking ownership of t in every case (the hub builds
 * each template once, off its commit thread). 0, PASO_E_EXISTS, PASO_E_INVALID_ARG (no modality),
 * PASO_E_NOMEM.
 */
int gallery_add_tmpl(struct gallery *g, const uint8_t id[16], struct match_template *t);

/*
 * 1:1: compares the probe template with the entry of id; fills *out. 0 or PASO_E_NOT_FOUND.
 * Pure read: may run concurrently with other reads, not with add or remove.
 */
int gallery_verify(const struct gallery *g, const uint8_t id[16],
	const struct match_template *probe, struct match_scores *out);

/*
 * Moves every entry of src into dst (taking dst's write lock once, however many entries) and
 * empties src; an id dst already holds keeps dst's entry. 0 or PASO_E_NOMEM (src unchanged).
 */
int gallery_move_all(struct gallery *dst, struct gallery *src);

/*
 * As gallery_move_all without waiting: if a search holds dst, moves nothing and returns 0, and
 * the next pass of gallery_identify_batched waits a little (50 ms at most) for the next try;
 * if a search holds src, moves nothing and returns 0 too (src is locked before dst);
 * 1 when src was moved (or empty), or PASO_E_NOMEM (src unchanged). The commit loop moves a
 * group's enrolments this way so that it never waits behind deduplication searches.
 */
int gallery_move_all_try(struct gallery *dst, struct gallery *src);

/* Removes and wipes every entry. */
void gallery_clear(struct gallery *g);

/* Removes and wipes the entry of id. 0 or PASO_E_NOT_FOUND. */
int gallery_remove(struct gallery *g, const uint8_t id[16]);

size_t gallery_size(const struct gallery *g);

/* Sequence number of the latest addition (0 before any); grows by one per addition. */
uint64_t gallery_seq(const struct gallery *g);

struct gallery_hit {
	uint8_t id[16];
	struct match_scores scores;
};

/*
 * Who is the probe? Fills *best with the entry of highest fused score among those compared and
 * sets *found to 1 when that comparison is a match at the per-comparison false-match rate fmr
 * (match_decide; over N entries the false-positive identification rate is about N * fmr, so
 * callers wanting an FPIR pass FPIR / N). *found = 0 and *best zeroed for an empty gallery or a
 * probe sharing no modality with any entry. Returns 0, a template error of the probe, or
 * PASO_E_NOMEM.
 * How: the probe's face (int8 cosine) and irises (Hamming distance with shifts) are scored against
 * every entry; the GALLERY_CANDIDATES entries with the most face+iris evidence, plus every entry
 * with no face or iris in common with the probe, are then compared in full (fingers included)
 * and fused. A probe with fingers only (all of known position) is searched in two stages
 * too: fixed-length finger descriptors (findex.h) of the probe's positions are scored against
 * every entry's and the GALLERY_FINGER_CANDIDATES best compared in full; entries whose fingers
 * have no descriptor (kept outside by a loader, or of unknown position) are compared in full.
 * A finger-only probe with a view of unknown position is compared with every entry in full.
 */
int gallery_identify(struct gallery *g, const struct bio_sample *probe, double fmr,
	struct gallery_hit *best, int *found);

/* As gallery_identify, for a probe template built beforehand (borrowed). */
int gallery_identify_tmpl(struct gallery *g, const struct match_template *probe, double fmr,
	struct gallery_hit *best, int *found);

/*
 * As gallery_identify_tmpl, for many threads searching at once (enrolment deduplication on the
 * connection threads): a search that arrives while another's pass over the gallery runs waits
 * and goes with every other waiting search (at most GALLERY_PASS_MAX) in the next pass, so the
 * gallery is read once per pass, not once per search; a lone search runs at once. Results are
 * those of gallery_identify_tmpl. Same returns.
 */
#define GALLERY_PASS_MAX 32

/*
 * Runs gallery_identify_batched's passes on a thread of niceness nice (0..19; 0, the default:
 * on the caller's thread), and their scan and comparison threads with it: searches that may
 * wait (enrolment deduplication) then yield the CPU to work that must not (crossings). A
 * thread may always lower its own priority, so this needs no privilege.
 */
void gallery_set_pass_nice(struct gallery *g, int nice);
int gallery_identify_batched(struct gallery *g, const struct match_template *probe, double fmr,
	struct gallery_hit *best, int *found);

/*
 * As gallery_identify_tmpl over only the entries added after sequence number after (from
 * gallery_seq before an earlier search): what that search could not see. Face and iris rank
 * them; the best GALLERY_SINCE_CANDIDATES are compared in full.
 */
#define GALLERY_SINCE_CANDIDATES 8
int gallery_identify_since_tmpl(struct gallery *g, const struct match_template *probe, double fmr,
	uint64_t after, struct gallery_hit *best, int *found);

#define GALLERY_CANDIDATES 32

/*
 * Entries compared in full after the finger descriptors of a finger-only probe (chosen by
 * bench/biometrics/bench_findex: docs/biometrics.md "Staged finger search").
 */
#define GALLERY_FINGER_CANDIDATES 16

/*
 * A gallery of GALLERY_GATE_MIN entries or more is scanned face first: an entry's irises are
 * compared only where its face cosine has at least GALLERY_GATE_EV evidence (a face
 * false-match rate of 1e-2: 1% of strangers), or where either side has no face. The irises
 * cost about ten times the face, so the scan costs about a tenth; a mate whose face falls
 * below the gate keeps its face evidence only. Each iris is first looked at quickly
 * (iris.h: iris_quick_near) and compared in full only if it may be the probe's eye. A probe
 * without a face has every entry's irises looked at that way. bench_bio measures the loss
 * against the exhaustive search.
 */
#define GALLERY_GATE_MIN 8192
#define GALLERY_GATE_EV 2.0

/*
 * A gallery of GALLERY_SKETCH_MIN entries or more is searched by face sketch first (face.h:
 * face_sketch, 64 bytes a face against the int8 template's 512): a probe with a face keeps the
 * entries whose sketches are nearest its own, one in GALLERY_SKETCH_SHARE of the gallery (at
 * least 4 * GALLERY_CANDIDATES); only those are rescored by int8 cosine and go on to the face
 * gate and the irises. Entries without a face are scanned as before. A mate is missed when its
 * face ranks below that share of strangers by sketch; the share is of the gallery, so that
 * chance does not grow with its size. bench_bio --only dedup measures the loss against the
 * exhaustive search.
 */
#define GALLERY_SKETCH_MIN 65536
#define GALLERY_SKETCH_SHARE 512

/*
 * The sketch share of g's searches that give none (gallery_identify_batched and the others
 * without options): 0 = GALLERY_SKETCH_SHARE, < 0: no sketch. For benchmarks measuring the
 * sketch against the scan of every face in the same run.
 */
void gallery_set_sketch_share(struct gallery *g, long share);

/* Options and counters of gallery_identify_ex (benchmarks, evaluation). */
struct gallery_opts {
	size_t candidates;   /* 0 = GALLERY_CANDIDATES (GALLERY_FINGER_CANDIDATES finger-only) */
	int exhaustive;      /* 1: compare every entry in full (the reference for hit-rate loss) */
	double gate_face_ev; /* 0 = GALLERY_GATE_EV; < 0: no gate (every iris compared) */
	int fingers_always;  /* 1: every candidate's fingers compared (no GALLERY_CLEAR_* rule) */
	long sketch_share; /* 0 = GALLERY_SKETCH_SHARE; < 0: no sketch (int8 scan of every face) */
};
struct gallery_stats {
	size_t scanned;   /* entries scored by the fast search */
	size_t confirmed; /* entries compared in full */
};

int gallery_identify_ex(struct gallery *g, const struct bio_sample *probe, double fmr,
	const struct gallery_opts *opts, struct gallery_hit *best, int *found,
	struct gallery_stats *stats);

#endif
