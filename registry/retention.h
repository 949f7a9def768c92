/* SPDX-License-Identifier: Apache-2.0 */
/* Retention: what expired on the hub's clock is erased in bounded sweeps, then its keys destroyed. */
#ifndef PASO_RETENTION_H
#define PASO_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "decide.h"
#include "gallery.h"
#include "keyring.h"
#include "ledger.h"
#include "policy.h"
#include "vault.h"

/*
 * Every record kind K (the policy's: enrolment, crossing, identification, rejected) is kept under
 * key epochs of (K, creation day) (VAULT_EPOCH, vault.h): enrolments (record, templates, wrapped
 * data key), crossings and refusals (kept rows), and the resend memory of acknowledged messages
 * (sealed under the epoch of the message's kind). Epoch (K, d) is due once
 * d + retention_days.K < the hub's day, with retention_days.K read from the policy IN FORCE at
 * the sweep: so nothing goes before creation + retention (no day early), nothing stays more than
 * a day past it, and a policy reloaded with a shorter retention reaches records already held,
 * without resealing anything. Epochs below VAULT_EPOCH_KINDED are expiry days (enrolments
 * stored before per-kind epochs, partners' records), due once the hub's day is past them.
 *
 * Erasure runs in three steps, each crash-safe:
 *  1. retention_sweep, inside one ledger transaction: erases at most max due records (all kinds
 *     together), takes them off the ledger's counters and appends one DELETE entry per kind that
 *     had any (how many, which epochs and days, the retention in force, rule retention_days.K,
 *     the policy digest in force). The rows and the entries commit together or not at all.
 *  2. retention_forget, after that commit: takes the erased subjects out of the gallery.
 *  3. retention_shred, with no write transaction open: destroys the KEKs of every due epoch
 *     that holds nothing any more (vault_shred_epoch). It looks at the keyring, not at what
 *     step 1 did, so a run after a crash between 1 and 3 finishes the job (it is idempotent).
 * Not thread-safe: the commit loop's, or one offline command's.
 */

#define RETENTION_BATCH_DEFAULT 2048 /* enrolments erased per transaction by the hub */
/*
 * Kept rows and resend rows of (kind, day) epochs are erased as contiguous key ranges (a cursor
 * deleting in key order touches each page once), enrolments one by one (an AEAD open for the
 * counters, four B-tree deletes in four tables): a step's budget of max enrolments is worth
 * max * RETENTION_ROW_WEIGHT rows of the former. Measured with bench_sweep (docs: the note).
 */
#define RETENTION_ROW_WEIGHT 8
#define RETENTION_RULE_ENROLMENT "retention_days.enrolment"

/* One bounded sweep's outcome. */
struct retention_step {
	uint64_t subjects;                /* erased */
	uint64_t events;                  /* their crossing rows, erased with them */
	uint32_t first_epoch, last_epoch; /* of the erased (valid when subjects > 0) */
	size_t epochs;                    /* distinct epochs touched */
	uint8_t *ids;                     /* subjects erased (subjects * VAULT_ID_BYTES), owned */
	int more;                         /* due subjects remain after this step */
	uint64_t audit_index;             /* of the DELETE entry */
	uint64_t seen[VAULT_SEEN_KINDS];  /* resend rows deleted, by policy record kind */
	uint64_t seen_total;
	uint64_t kept[POLICY_NRECORD_KINDS]; /* kept rows erased (crossings, refusals), by kind */
	uint64_t records;                    /* everything erased: subjects + kept + seen */
	uint64_t entries;                    /* DELETE entries appended */
};

/* What is due at a time, read without opening a record. */
struct retention_due {
	uint64_t subjects, events;
	uint32_t first_epoch, last_epoch;    /* valid when subjects > 0 */
	size_t epochs;                       /* distinct epochs with subjects due */
	size_t keys;                         /* due epochs whose KEKs are still live */
	uint64_t seen[VAULT_SEEN_KINDS];     /* resend rows due, by policy record kind */
	uint64_t kept[POLICY_NRECORD_KINDS]; /* kept rows due (crossings, refusals), by kind */
};

/* The hub's day at time now: due epochs are those below it. */
uint32_t retention_today(uint64_t now);

/*
 * One bounded sweep at hub time now in ledger transaction t under the policy in force
 * (dc->policy): erases due enrolments first, at most max (opening each record once to take its
 * category and templates off the counters), then, in what they leave of max, each kind's kept
 * rows and resend rows, RETENTION_ROW_WEIGHT per enrolment not erased (resend rows of older
 * stores, indexed by expiry day: one each); appends one DELETE entry per kind that had any
 * (actor "hub", purpose "retention", rule retention_days.KIND) and fills *st
 * (retention_step_clear it). dc is borrowed. Returns 0 or a storage/audit error: the caller
 * aborts t.
 */
int retention_sweep(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, size_t max,
	struct retention_step *st);

/* Frees what st holds. */
void retention_step_clear(struct retention_step *st);

/* After the sweep's transaction committed: the erased subjects leave the gallery. */
void retention_forget(struct gallery *g, const struct retention_step *st);

/*
 * Destroys the KEKs of every epoch due at now under policy pol (borrowed) that holds nothing any
 * more (vault_shred_epoch: needs no write transaction open on v). Sets *shreddedp to the epochs
 * shredded, and *firstp and *lastp to the lowest and highest of them (when any). Returns 0 or
 * vault_shred_epoch's errors (what was destroyed before the error stays destroyed).
 */
int retention_shred(struct vault *v, struct keyring *kr, const struct policy *pol, uint64_t now,
	size_t *shreddedp, uint32_t *firstp, uint32_t *lastp);

/* 1 if epoch is due at now under pol (see above), else 0. */
int retention_epoch_due(const struct policy *pol, uint32_t epoch, uint64_t now);

/*
 * What a sweep at now under pol would erase (subjects, their crossings, epochs, kept rows,
 * resend rows) and the KEKs it would destroy, through read (or write) transaction t. Opens no
 * record. Returns 0, PASO_E_STORAGE, PASO_E_CORRUPT, PASO_E_NOMEM.
 */
int retention_due(struct vault_txn *t, struct keyring *kr, const struct policy *pol, uint64_t now,
	struct retention_due *out);

/*
 * One line describing d at now ("at INSTANT: would erase ..."), into buf (cap bytes).
 */
void retention_due_text(const struct retention_due *d, uint64_t now, char *buf, size_t cap);

/*
 * Subjects held per expiry year under pol (from the epoch index): cb(arg, year, n) in year
 * order. Returns 0, cb's non-zero return, or vault_epoch_foreach's errors.
 */
int retention_by_year(struct vault_txn *t, const struct policy *pol,
	int (*cb)(void *arg, unsigned year, uint64_t n), void *arg);

#endif
