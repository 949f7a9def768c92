/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger: audit entries and store changes commit together or not at all. */
#ifndef PASO_LEDGER_H
#define PASO_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "errors.h"
#include "paso.pb-c.h"
#include "vault.h"

/*
 * Every writer of a deployment (kiosk messages, hub events, offline commands, sweeps, shares)
 * goes through one contract: begin, append audit entries, stage store changes in the same
 * transaction, then commit both or roll both back. The order of a commit is the durability
 * argument: the entries are fsync'd, then the LMDB transaction commits recording the audit
 * size (and the ledger's counters); only then may anything be acknowledged. A crash between
 * the two leaves entries past the recorded size, which ledger_open cuts back (nobody was
 * answered for them and no checkpoint covers them). Rolling back cuts the audit log back to
 * where the transaction began. Counters are u64 values the caller names at open (e.g.
 * "count.subjects"), kept in the store's meta table so reports need not open sealed records.
 *
 * One transaction at a time; not thread-safe (the commit loop's, or one offline command's).
 */
struct ledger;
struct ledger_txn;

/*
 * Opens the audit log in auditdir (taking its writer lock) over the open vault v (borrowed;
 * must outlive the ledger), loads the committed counters named by keys[0..n) (borrowed,
 * static strings), and recovers: entries past the size the store committed are cut back and
 * counted in *recoveredp (the caller logs a RECOVERY entry saying so). An audit log shorter
 * than the store's record refuses to open (PASO_E_AUDIT_CORRUPT: entries were lost). A torn
 * tail repaired by the audit log sets d->code = PASO_E_AUDIT_TORN with return 0: log it.
 * Before anything is opened, auditcheck_tail checks the tail since the last checkpoint and the
 * index files: damage refuses the open (PASO_E_AUDIT_CORRUPT, d names the file and the entry)
 * instead of being cut as a torn write or signed over. The log is also published as C2SP
 * tlog-tiles in auditdir/tiles (tiles.h): full tiles as commits add entries, the rest and the
 * checkpoint at each ledger_checkpoint.
 * Caller owns *out. Returns 0, PASO_E_AUDIT_CORRUPT, PASO_E_EXISTS (the log has a writer),
 * PASO_E_IO, PASO_E_STORAGE, PASO_E_NOMEM; d names the file.
 */
int ledger_open(const char *auditdir, struct vault *v, const char *const *keys, size_t n,
	uint64_t *recoveredp, struct ledger **out, struct paso_diag *d);

/* Closes the audit log (an open transaction is rolled back first). Accepts NULL. */
void ledger_close(struct ledger *l);

/*
 * NULL, or why the ledger refuses every transaction until reopened: a rollback could not cut
 * the audit log back (borrowed text naming the sizes and the error). A full disk is not such a
 * case: its transactions fail with PASO_E_STORE_FULL, are rolled back, and the next may succeed.
 */
const char *ledger_fatal(const struct ledger *l);

/* The audit log, for reads and proofs (borrowed). Never append to it directly. */
struct auditlog *ledger_auditlog(struct ledger *l);

/* Entries in the log (committed, plus those of an open transaction). */
uint64_t ledger_size(const struct ledger *l);

/* Committed value of counter i (index into the keys given at open). */
uint64_t ledger_counter(const struct ledger *l, size_t i);

/*
 * Begins a transaction: a write transaction on the store. Caller owns *out until
 * ledger_commit or ledger_abort. Returns 0, PASO_E_INVALID_ARG (one is already open), PASO_E_IO
 * (an earlier rollback could not cut the audit log back: reopen the ledger), PASO_E_STORAGE.
 */
int ledger_begin(struct ledger *l, struct ledger_txn **out);

/* The store view of t, for reads and staged changes (borrowed until t ends). */
struct vault_txn *ledger_store(struct ledger_txn *t);

/*
 * Appends an audit entry (packed here) and sets *indexp (may be NULL) to its index. Buffered:
 * durable only by ledger_commit. Returns 0, PASO_E_INVALID_ARG (over AUDITLOG_MAX_ENTRY),
 * PASO_E_IO, PASO_E_NOMEM; after an error the caller must ledger_abort.
 */
int ledger_append(struct ledger_txn *t, const Paso__AuditEntry *e, uint64_t *indexp);

/* Adds delta to counter i inside t (applied only if t commits). */
void ledger_count(struct ledger_txn *t, size_t i, int64_t delta);

/* Counter i as t would commit it. */
uint64_t ledger_txn_counter(const struct ledger_txn *t, size_t i);

/*
 * Notes that t acts at hub time now: the store keeps the latest such time ("clock.high"), so a
 * simulated clock can resume from it and never run behind what the deployment has recorded.
 */
void ledger_note_time(struct ledger_txn *t, uint64_t now);

/* The latest hub time committed (0 if none). */
uint64_t ledger_time(const struct ledger *l);

/* Entries appended by t so far. */
uint64_t ledger_txn_entries(const struct ledger_txn *t);

/*
 * Makes t durable: audit entries fsync'd, then the store transaction (recording the audit size
 * and counters) committed. On any failure both are rolled back (the audit log cut back to its
 * size at ledger_begin, nothing half-written left) and the error returned; t is freed either
 * way. Returns 0, PASO_E_STORE_FULL (the disk is full: retry once space returns), PASO_E_IO,
 * PASO_E_STORAGE, PASO_E_MAP_FULL.
 */
int ledger_commit(struct ledger_txn *t);

/* Rolls t back: store changes discarded, audit log cut back. Accepts NULL. */
void ledger_abort(struct ledger_txn *t);

/*
 * Signs a checkpoint of everything committed with s (borrowed). Refuses while a transaction is
 * open (PASO_E_INVALID_ARG: a signed state is never withdrawn, so uncommitted entries must not
 * be signed). Does nothing when no entry is new. Returns 0 or auditlog_checkpoint's errors.
 */
int ledger_checkpoint(struct ledger *l, const struct checkpoint_signer *s);

/*
 * Publishes note (a checkpoint this ledger signed, e.g. with witness cosignatures added) in
 * AUDITDIR/tiles in place of the one published at its size. A note smaller than the one
 * published now is superseded and ignored (0). Returns 0 or tiles_publish's errors (d says why:
 * PASO_E_AUDIT_CORRUPT when its root is not this log's).
 */
int ledger_publish(struct ledger *l, const char *note, size_t len, struct paso_diag *d);

/* Test hooks: where an injected fault strikes, once, as a failing disk would. */
enum ledger_fault {
	LEDGER_FAULT_NONE,
	LEDGER_FAULT_AUDIT_SYNC,   /* the audit fsync fails */
	LEDGER_FAULT_STORE_COMMIT, /* the store commit fails after the audit entries are durable */
};

/* Makes the next ledger_commit fail at step with code. For tests of the failure paths. */
void ledger_inject_fault(struct ledger *l, enum ledger_fault step, int code);

#endif
