/* SPDX-License-Identifier: Apache-2.0 */
/* The national hub's sharing: hit/no-hit answers to partners, and the bulk share outbox. */
#ifndef PASO_SHARE_H
#define PASO_SHARE_H

#include <stdint.h>

#include "clock.h"
#include "decide.h"
#include "hublog.h"
#include "ledger.h"
#include "loop.h"

/*
 * What the policy's `sharing` rules do on the national hub:
 *  - hit_no_hit: a pinned partner sends a Query (purpose, probe capture) to the partner port;
 *    the probe is validated like a kiosk capture, compared 1:N with the gallery on the commit
 *    loop, never stored, and answered with QueryAnswer (hit + case token, or no hit) or an
 *    Error. One QUERY audit entry per query, refusals included (their code says why):
 *    PASO_E_UNKNOWN_PARTNER (no rule names this partner), PASO_E_PURPOSE_DENIED (no hit_no_hit
 *    rule of this partner has that purpose), PASO_E_BUDGET_EXCEEDED (the rule's daily_budget
 *    for the hub clock's day is spent), or a validation code for a bad probe.
 *  - templates / records: share_enqueue (called by the decision layer inside the enrolment's
 *    ledger transaction) writes one outbox row per (subject, rule); a sender thread pushes the
 *    rows in order to the partner, and on the partner's durable acknowledgement one loop task
 *    removes them and appends one SHARE entry each. The outbox holds subject ids and rule
 *    numbers only, never a template: the sender reads the sealed record when it sends.
 *  - release: after a hit, the partner sends Release{case_token, purpose}. The token must be
 *    one this hub issued to that same partner (a row per hit: the subject, an expiry of the
 *    hit_no_hit rule's valid_for_minutes, a use count of its transactions_allowed, a random
 *    secret), unexpired and not used up; a release rule of the partner must list the purpose
 *    and cover the subject's category; the rule's daily_budget and the partner's
 *    partners[].daily_releases must not be spent; the subject must still be held. Then one
 *    outbox row (delivered by the sender like a bulk share, with only the rule's attributes;
 *    SHARE on the partner's acknowledgement) and one RELEASE entry; the answer is
 *    ReleaseAnswer{share_seq, uses_left}. Refusals are RELEASE entries with their code:
 *    PASO_E_UNKNOWN_PARTNER, a validation code, PASO_E_PURPOSE_DENIED, PASO_E_CASE_UNKNOWN,
 *    PASO_E_CASE_EXPIRED, PASO_E_CASE_USED_UP, PASO_E_BUDGET_EXCEEDED, PASO_E_SUBJECT_ERASED,
 *    PASO_E_POLICY_DENIED (category not covered).
 * Shared subjects carry per-partner pseudonyms: keyed by the hub's pseudonym of the subject
 * and the partner's name, so two partners cannot link what they receive. Case tokens are
 * random per hit, so not even one partner can link two hits on one person.
 */

#define SHARE_CASE_BYTES 32

struct share;

struct share_config {
	const char *dir;  /* the deployment */
	const char *host; /* partner port address */
	uint16_t port;    /* 0 = ephemeral */
	int io_timeout_ms;
	struct loop *loop;        /* borrowed */
	struct decide_ctx *dc;    /* borrowed: policy, gallery, vault */
	struct ledger *ledger;    /* borrowed: the sender reads the outbox in read transactions */
	struct paso_clock *clock; /* borrowed */
	const struct hublog *log; /* borrowed */
	double retry_max_s;       /* the sender's longest backoff; 0 = 5 s */
};

/*
 * Opens the partner port when the deployment has pinned partners (else *out stays NULL: no
 * sharing link; bulk rows are still queued and wait). Caller owns *out. Returns 0 or
 * peer_listen's errors.
 */
int share_open(const struct share_config *cfg, struct share **out, struct paso_diag *d);

/* The partner port (0 when none). Accepts NULL. */
uint16_t share_port(const struct share *s);

/* Starts accepting and the sender thread. 0 or PASO_E_INTERNAL. Accepts NULL. */
int share_start(struct share *s);

/* Stops accepting and the sender; 1 once nothing is in flight. Accepts NULL (1). */
void share_stop(struct share *s);
int share_idle(struct share *s);

/* Frees. Accepts NULL. */
void share_close(struct share *s);

/*
 * Queues subject id (enrolled with category, at hub time now) for every bulk rule of the
 * policy that covers its category: one outbox row per rule, in transaction t. Called by the
 * decision layer; returns 0 or a storage error (the transaction then fails).
 */
int share_enqueue(const struct policy *p, struct ledger_txn *t, const uint8_t id[16], int category);

/*
 * At start, before the loop runs: for each bulk rule not in force before (its identity, a hash
 * of everything it says, unknown to the store), queues every existing subject it covers, in one
 * transaction with one POLICY_LOAD entry per rule that queued any ("N existing subjects queued"); when there are
 * subjects, a RECORD_READ entry is made durable before the first record is opened. Sets
 * *queuedp. Returns 0 or a storage, audit or decryption error (d says so).
 */
int share_backfill(const struct policy *p, struct ledger *l, struct vault *v, uint64_t now,
	size_t *queuedp, struct paso_diag *d);

/*
 * How many shares and releases wait in the outbox of store transaction t for delivery (the
 * case rows beside them are not counted). Returns 0 or a storage error.
 */
int share_pending(struct vault_txn *t, uint64_t *n);

/*
 * The per-partner pseudonym of a subject (hub pseudonym hp) for partner, in domain dom
 * ("case" for case tokens, "share" for bulk shares). Deterministic; 32 bytes.
 */
void share_partner_pseudonym(
	const uint8_t hp[32], const char *partner, const char *dom, uint8_t out[32]);

#endif
