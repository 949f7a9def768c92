/* SPDX-License-Identifier: Apache-2.0 */
/* Decisions: what a message means under a policy, apart from how it arrived. */
#ifndef PASO_DECIDE_H
#define PASO_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "gallery.h"
#include "ledger.h"
#include "match.h"
#include "paso.pb-c.h"
#include "pgallery.h"
#include "policy.h"
#include "protref.h"
#include "sample.h"
#include "vault.h"

/*
 * The decision layer is the one place a kiosk message is judged. In: the policy, the gallery,
 * the store view of a ledger transaction, the hub clock's time, and a prepared message. Out: a
 * verdict (the framed Ack or Error), its audit entry and its store changes, both staged in the
 * ledger transaction. It knows nothing of sockets or threads: the TLS server, a partner link,
 * a retention sweep and a simulation driver call it the same way.
 */

/* Counters the hub keeps in the ledger (names in decide_count_keys). */
enum decide_count {
	COUNT_SUBJECTS,
	COUNT_CROSSINGS,
	COUNT_IDENTIFICATIONS,
	COUNT_WITH_FINGER,
	COUNT_WITH_FACE,
	COUNT_WITH_IRIS,
	COUNT_CAT_REGIONAL_VISITOR,
	COUNT_CAT_BORDER_WORKER,
	COUNT_CAT_MIGRANT_IN_TRANSIT,
	COUNT_CAT_DETAINEE,
	COUNT_N
};
extern const char *const decide_count_keys[COUNT_N];

/* Default window around the hub's time for a kiosk's capture_time: +-24 h. */
#define DECIDE_CAPTURE_WINDOW_DEFAULT (24u * 3600u)

/* What decisions read. Borrowed pointers; the caller keeps them alive. */
struct decide_ctx {
	/* The policy in force: replaced only on the loop's thread (a reload), between groups;
	 * read by decide_prepare on any thread, hence atomic. The replaced one stays alive (the
	 * hub keeps it until it closes): a message prepared under it may still be in flight. */
	const struct policy *_Atomic policy;
	struct gallery *gallery; /* everyone enrolled; searched concurrently by decide_prepare */
	/* Enrolments of the open transaction and committed ones not yet in gallery (may be
	 * NULL: they then go straight into gallery). Searched with the gallery by every
	 * decision; decide_undo moves them in at commit when no search holds the gallery
	 * (gallery_move_all_try), so the loop does not wait for searches; the hub retries each
	 * second (decide_settle). */
	struct gallery *recent;
	struct vault *vault; /* for pseudonyms */
	/* Protected references (policy protect.X, registry/protref.h): under such a policy the
	 * hub keeps and searches only these; gallery and recent stay empty of new subjects.
	 * NULL: no protection possible (then a protection policy refuses every capture). */
	struct pgallery *pgallery;
	struct protref_keys *pkeys;
	uint64_t capture_window;              /* seconds; 0 = DECIDE_CAPTURE_WINDOW_DEFAULT */
	uint64_t accepted, refused, replayed; /* outcomes since start (not durable) */
};

#define DECIDE_MAX_PARTNER_FORMS 8

/* One kiosk message on its way to a decision. */
struct decide_msg {
	char kiosk[128];    /* who sent it: the certificate CN */
	uint8_t digest[32]; /* SHA-256 of the frame payload */
	int has_digest;
	Paso__Envelope *env;          /* NULL when the frame could not be decoded */
	uint64_t seq;                 /* the sender's seq, echoed even when env is NULL (no body) */
	struct bio_sample sample;     /* validated capture, when env passed ingest */
	struct match_template *probe; /* built by decide_prepare, off the commit loop */
	/* Under protection: the capture protected under the current generation (decide_prepare),
	 * instead of probe. */
	struct pref *pprobe;
	/* An enrolment under protection with templates sharing rules: each such partner's own
	 * form of the capture (key "partner:NAME"), made by decide_prepare. */
	struct pref *ppart[DECIDE_MAX_PARTNER_FORMS];
	char ppart_name[DECIDE_MAX_PARTNER_FORMS][65];
	size_t nppart;
	/* An enrolment: its commit writes a subject with its sealed templates, many times what
	 * any other message writes; the commit loop bounds how many share a group (loop.h). */
	int heavy;
	struct paso_diag err; /* err.code != 0: refuse with this */
	uint64_t last_seq;    /* SEQ_CONFLICT: highest seq held from this kiosk */
	/* Enrolment deduplication (or an identification's search) done by decide_prepare, off
	 * the commit loop: the search saw the gallery up to dedup_seq; decide_message compares
	 * only what was added since. */
	int dedup_done, dedup_found;
	uint64_t dedup_seq;
	struct gallery_hit dedup_hit;
	/* A crossing's subject found, and its capture verified, by decide_prepare in a read
	 * transaction, off the commit loop (xprep; xverified: xverify, xscores and xrule hold
	 * verification's outcome, 1 or 0). decide_message uses them only if its own card lookup
	 * finds the same subject under the same policy (xpolicy): a subject's id, data key and
	 * gallery entry never change while it is held. Otherwise it does it all again. */
	int xprep, xverified, xverify;
	int has_xcard; /* xcard: the keyed index of the crossing's card, made off the loop */
	uint8_t xcard[VAULT_CARD_INDEX_BYTES];
	const struct policy *xpolicy;
	uint8_t xid[VAULT_ID_BYTES], xpseud[32], xref[VAULT_XREF_BYTES];
	struct match_scores xscores;
	const char *xrule;
	uint8_t *reply; /* out: framed Envelope (Ack or Error), owned by the message */
	size_t reply_len;
	struct frame_arena *arena; /* borrowed (decide_prepare_in): env was decoded in it */
};

/* Subjects a transaction added to the gallery: taken out again if it does not commit. */
struct decide_undo {
	struct decide_added *added;
};

/*
 * Prepares a message from a frame payload (len bytes, borrowed) sent by kiosk: digest, decode,
 * validation, template extraction and, for an enrolment under a deduplicating policy, the 1:N
 * search of the gallery, for a crossing the lookup of its subject and the 1:1 verification
 * (in a read transaction of dc->vault): the costly parts, so they run on any thread in
 * parallel (thread-safe: reads the policy, searches the gallery under its read lock). A frame that fails leaves its
 * code in m->err for decide_message to refuse and audit. payload NULL with err set records a
 * transport error. Returns 0, or PASO_E_NOMEM (m is then unusable: decide_msg_clear it).
 */
int decide_prepare(const struct decide_ctx *dc, const char *kiosk, const uint8_t *payload,
	size_t len, const struct paso_diag *transport_err, struct decide_msg *m);

/*
 * As decide_prepare, but the frame is decoded in arena (borrowed; it must outlive m, and hold
 * nothing else until decide_msg_clear(m) resets it): a connection reusing one arena per message
 * in flight allocates nothing per field. Same returns.
 */
int decide_prepare_in(const struct decide_ctx *dc, struct frame_arena *arena, const char *kiosk,
	const uint8_t *payload, size_t len, const struct paso_diag *transport_err,
	struct decide_msg *m);

/* Frees what m holds (resets its arena, wiping it) and zeroes it. */
void decide_msg_clear(struct decide_msg *m);

/*
 * Decides m at time now inside ledger transaction t: refuses, replays or accepts it, appends
 * its audit entry, stages its store changes and sets m->reply. Enrolled subjects enter the
 * gallery at once (a later message of the same transaction must find them) and are listed in
 * undo. Returns 0 (the verdict is in m->reply, refusals included), or a storage or audit error
 * that fails the whole transaction: the caller aborts t and calls decide_undo(undo, 1).
 */
int decide_message(struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, struct decide_msg *m,
	struct decide_undo *undo);

/*
 * Ends a transaction's gallery changes: with rollback != 0 its enrolments leave the gallery
 * (or recent) again; otherwise recent's enrolments move into the gallery if no search holds
 * it, or wait in recent (moved waiting once DECIDE_RECENT_MAX are there).
 */
#define DECIDE_RECENT_MAX 4096
void decide_undo(struct decide_ctx *dc, struct decide_undo *undo, int rollback);

/*
 * Moves committed enrolments still waiting in recent into the gallery if no search holds it.
 * Call on the thread that calls decide_message, between transactions (a loop timer).
 */
void decide_settle(struct decide_ctx *dc);

/*
 * Appends a hub-level event (start, stop, recovery, key, policy, clock) at time now under the
 * policy in force. detail is free text: never biometric data, card numbers or keys.
 * Returns ledger_append's errors.
 */
int decide_event(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now,
	Paso__Action action, int code, const char *purpose, const char *detail);

/*
 * Sets m->reply to an Error with code and msg (a transient refusal of a message that no
 * transaction could record, e.g. when storage fails). Returns 0 or PASO_E_NOMEM.
 */
int decide_error_reply(struct decide_msg *m, int code, const char *msg, uint64_t audit_index);

/*
 * 1:N of capture s over the protected references (policy protect.X): s is protected under
 * every key generation held (cur, when not NULL, is s already protected under one of them) and
 * searched at per-comparison FMR fmr. Thread-safe. 0, PASO_E_NOMEM.
 */
int decide_identify_protected(const struct decide_ctx *dc, const struct bio_sample *s,
	const struct pref *cur, double fmr, struct gallery_hit *best, int *found);

/*
 * Adds an enrolled subject's templates (from its record) to the gallery: a subject whose
 * templates the policy keeps on the card has none. Takes ownership of t (NULL: built from s).
 */
int decide_gallery_add(struct gallery *g, const uint8_t id[VAULT_ID_BYTES],
	const struct bio_sample *s, struct match_template *t);

#endif
