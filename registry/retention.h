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
#include "vault.h"

/*
 * An enrolment's key epoch is its expiry day (days since the Unix epoch, hub clock; see
 * decide.c). Epoch E is due once the hub's day is past it: at hub time now when
 * E < retention_today(now). So a subject is erased no earlier than its expires_at and at most
 * one day after it, without any record being opened to find it.
 *
 * Erasure runs in three steps, each crash-safe:
 *  1. retention_sweep, inside one ledger transaction: erases at most max due subjects (record,
 *     events, wrapped key, card index, epoch index), takes them off the ledger's counters and
 *     appends one DELETE entry saying how many, which epochs, under which rule. The rows and the
 *     entry commit together or not at all.
 *  2. retention_forget, after that commit: takes the erased subjects out of the gallery.
 *     In the same transaction it deletes the resend memory (`seen` rows: acknowledgements with
 *     pseudonyms and scores) whose day is past, one DELETE entry per record kind.
 *  3. retention_shred, with no write transaction open: destroys the KEKs of every due epoch
 *     that no subject uses any more (vault_shred_epoch). It looks at the keyring, not at what
 *     step 1 did, so a run after a crash between 1 and 3 finishes the job (it is idempotent).
 * Not thread-safe: the commit loop's, or one offline command's.
 */

#define RETENTION_BATCH_DEFAULT 2048 /* subjects erased per transaction by the hub */
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
};

/* What is due at a time, read without opening a record. */
struct retention_due {
	uint64_t subjects, events;
	uint32_t first_epoch, last_epoch; /* valid when subjects > 0 */
	size_t epochs;                    /* distinct epochs with subjects due */
	size_t keys;                      /* due epochs whose KEKs are still live */
	uint64_t seen[VAULT_SEEN_KINDS];  /* resend rows due, by policy record kind */
};

/* The hub's day at time now: due epochs are those below it. */
uint32_t retention_today(uint64_t now);

/*
 * One bounded sweep at hub time now in ledger transaction t: erases the first max due
 * subjects (opening each record once to take its category and templates off the counters),
 * appends one DELETE entry (actor "hub", purpose "retention", rule retention_days.enrolment)
 * when anything was erased, and fills *st (retention_step_clear it). dc is borrowed (policy
 * for the entry, counters). Returns 0 or a storage/audit error: the caller aborts t.
 */
int retention_sweep(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, size_t max,
	struct retention_step *st);

/* Frees what st holds. */
void retention_step_clear(struct retention_step *st);

/* After the sweep's transaction committed: the erased subjects leave the gallery. */
void retention_forget(struct gallery *g, const struct retention_step *st);

/*
 * Destroys the KEKs of every epoch below retention_today(now) that no subject is indexed under
 * any more (vault_shred_epoch: needs no write transaction open on v). Sets *shreddedp to the
 * epochs shredded, and *firstp and *lastp to the lowest and highest of them (when any). Returns 0 or
 * vault_shred_epoch's errors (what was destroyed before the error stays destroyed).
 */
int retention_shred(struct vault *v, struct keyring *kr, uint64_t now, size_t *shreddedp,
	uint32_t *firstp, uint32_t *lastp);

/*
 * What a sweep at now would erase (subjects, their crossings, epochs) and the KEKs it would
 * destroy, through read (or write) transaction t. Opens no record. Returns 0, PASO_E_STORAGE,
 * PASO_E_CORRUPT, PASO_E_NOMEM.
 */
int retention_due(struct vault_txn *t, struct keyring *kr, uint64_t now, struct retention_due *out);

/*
 * One line describing d at now ("at INSTANT: would erase ..."), into buf (cap bytes).
 */
void retention_due_text(const struct retention_due *d, uint64_t now, char *buf, size_t cap);

/*
 * Subjects held per expiry year (from the epoch index): cb(arg, year, n) in year order.
 * Returns 0, cb's non-zero return, or vault_epoch_foreach's errors.
 */
int retention_by_year(
	struct vault_txn *t, int (*cb)(void *arg, unsigned year, uint64_t n), void *arg);

#endif
