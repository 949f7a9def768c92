/* SPDX-License-Identifier: Apache-2.0 */
/* The kiosk's durable outbox: captured messages sealed in LMDB until the hub acknowledges them. */
#ifndef PASO_OUTBOX_H
#define PASO_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/*
 * LMDB caveats: copy data out of mdb_get before the transaction ends (done here); one writer;
 * never use an outbox after fork(). Entries hold biometric captures, so each is sealed with
 * XChaCha20-Poly1305 under the kiosk's outbox key (DIR/outbox.key, 0600) with the sequence
 * number as associated data: a stolen kiosk disk without that key yields no template, and a
 * deleted entry's freed page holds only ciphertext (readable while that key lives: outbox_purge
 * replaces it, which is what erases).
 */

struct outbox;
struct outbox_txn;

struct outbox_item {
	uint64_t seq;
	uint8_t *data; /* serialized Envelope (no length prefix); owned by the item */
	size_t len;
	uint64_t when; /* capture time on the kiosk's clock (0: unknown) */
};

/* Opens or creates the outbox in dir (0700). Caller owns *out. 0, PASO_E_IO, PASO_E_STORAGE. */
int outbox_open(const char *dir, struct outbox **out, struct paso_diag *d);
void outbox_close(struct outbox *ob);

/* A write transaction for adding a batch of captures; durable on outbox_commit. */
int outbox_begin(struct outbox *ob, struct outbox_txn **out);
/* The next sequence number (1, 2, ...), reserved in this transaction. */
int outbox_next_seq(struct outbox_txn *t, uint64_t *seqp);
/* Seals and stores data under seq. 0, PASO_E_EXISTS, PASO_E_STORAGE, PASO_E_MAP_FULL. */
int outbox_put(struct outbox_txn *t, uint64_t seq, const uint8_t *data, size_t len);
/* The same, recording when (seconds, the kiosk's clock) it was captured, for outbox_purge. */
int outbox_put_at(
	struct outbox_txn *t, uint64_t seq, const uint8_t *data, size_t len, uint64_t when);
int outbox_commit(struct outbox_txn *t);
void outbox_abort(struct outbox_txn *t);

/*
 * Copies up to max of the oldest entries (lowest seq) into a new array. Caller frees it with
 * outbox_items_free. 0, PASO_E_STORAGE, PASO_E_CRYPTO (tampered entry), PASO_E_NOMEM.
 */
int outbox_peek(struct outbox *ob, size_t max, struct outbox_item **itemsp, size_t *np);
void outbox_items_free(struct outbox_item *items, size_t n);

/* Removes the entries whose seq are listed (answered by the hub), durably. Missing ones are fine. */
int outbox_remove(struct outbox *ob, const uint64_t *seqs, size_t n);

/*
 * Gives every waiting entry a new sequence number, in order, starting after both `after` and
 * any number used so far: for a kiosk that lost its outbox and learns from the hub (SEQ_CONFLICT)
 * which numbers it had already used. rewrite re-serializes an entry for its new number (caller of
 * rewrite owns *outp). One durable transaction. Returns 0 and *np (entries renumbered), or a
 * storage, crypto or rewrite error (nothing changed).
 */
int outbox_renumber(struct outbox *ob, uint64_t after,
	int (*rewrite)(void *arg, uint64_t old_seq, uint64_t new_seq, const uint8_t *in, size_t len,
		uint8_t **outp, size_t *outlenp),
	void *arg, size_t *np);

/* Entries waiting. */
int outbox_count(struct outbox *ob, uint64_t *np);

/*
 * Erases every entry captured at or before now - keep_s (seconds on the kiosk's clock; an entry
 * of unknown time counts as expired), acknowledged or not, and records the purge (now, keep_s).
 * Erasure, not deletion: a new outbox key is made (durably, as outbox.key.next), the survivors
 * are re-sealed under it in one transaction, then the old key is overwritten in place and
 * outbox.key.next removed; what was purged, and what outbox_remove deleted since the last purge,
 * no longer opens with any key on the kiosk, from free pages or any copy of the store. A crash midway
 * is finished or undone by the next outbox_open. Not concurrent with any other use of ob.
 * Sets *purgedp and *keptp. Returns 0, PASO_E_STORAGE, PASO_E_CRYPTO, PASO_E_IO,
 * PASO_E_STORE_FULL, PASO_E_NOMEM; d says which file.
 */
int outbox_purge(struct outbox *ob, uint64_t now, uint64_t keep_s, size_t *purgedp, size_t *keptp,
	struct paso_diag *d);

/* Records a purge at now with limit keep_s without erasing (a new outbox starts its clock). */
int outbox_purge_mark(struct outbox *ob, uint64_t now, uint64_t keep_s);

/* When the last purge ran and its limit: 0, PASO_E_NOT_FOUND (never), PASO_E_STORAGE. */
int outbox_purge_status(struct outbox *ob, uint64_t *lastp, uint64_t *keepp);

#endif
