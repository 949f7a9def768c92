/* SPDX-License-Identifier: Apache-2.0 */
/* The sealed subject store: LMDB in DEPLOYMENT/store/, records under per-subject wrapped data keys.
 */
#ifndef PASO_VAULT_H
#define PASO_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "keyring.h"

/*
 * LMDB caveats (read before changing this module or calling it):
 *  - Never set MDB_NOMEMINIT: LMDB would write uninitialised heap (maybe key material) to disk.
 *  - Data returned by mdb_get lives in the map only until the transaction ends: every function
 *    here copies or decrypts it into caller-owned memory before returning.
 *  - After any error other than those documented as "changes nothing", abort the transaction;
 *    LMDB may have applied part of the operation.
 *  - Never use a vault (or any LMDB environment) after fork(); open a new one in the child.
 *  - Deleting a row is not erasing it: LMDB never wipes freed pages, so old sealed records and
 *    wrapped data keys can survive in data.mdb. Erasure is crypto-shredding: vault_shred_epoch
 *    destroys the epoch's key-encryption key. The card index row of an erased subject can also
 *    survive: someone holding an old copy AND the card-index key can test whether a given card
 *    number was once enrolled (never read the record). Keep that in the threat model.
 *  - One writer at a time (LMDB serialises write transactions); the grouping of writes into
 *    transactions is the caller's: one write transaction per commit group, durable on commit.
 *  - Read transactions may be used from any thread (MDB_NOTLS), one at a time per transaction.
 *
 * Named databases in DEPLOYMENT/store/data.mdb:
 *   subjects  subject id (16)        -> version(1) || epoch BE(4) || nonce(24) || ciphertext+tag
 *                                       XChaCha20-Poly1305 under the subject's DK,
 *                                       AD = "paso-rec1" || subject id || version || epoch
 *   dks       subject id (16)        -> wrapped DK (KEYRING_WRAPPED_BYTES) || card index key (32,
 *                                       zeros when the subject has no card), for erase
 *   cards     card index key (32)    -> subject id (16)
 *   byepoch   epoch BE(4) || id (16) -> empty; finds the survivors of an epoch to rewrap
 *   seen      kiosk id || 0 || seq BE(8) -> payload digest (32) || reply bytes
 *   seenexp   day BE(4) || kind(1) || seen key -> empty; when a seen row expires (rows put
 *                                       with vault_seen_put_until only), or
 *             epoch BE(4) || order BE(8) -> seen key, for rows put with vault_seen_put_sealed
 *                                       (order: the answer's audit index), whose answer is
 *                                       digest || 0 || keyring_seal'd under the epoch, or
 *             epoch BE(4) || seen key -> empty, for such rows put by earlier hubs (read alike)
 *   meta      string key             -> u64 BE(8)
 *   kept      epoch BE(4) || rest    -> keyring_seal'd bytes under that epoch's KEK, AD = the key:
 *                                       records of a (kind, creation day) epoch (crossings:
 *                                       rest = no BE(8) || subject ref(16) || 2, no the
 *                                       crossing's audit index, the ref a hash keyed by the
 *                                       subject's DK; earlier hubs: rest = subject ref(16) ||
 *                                       no BE(8), no = 1, 2, ... a subject and day; refusals:
 *                                       rest = audit index BE(8))
 *   events    subject id || no BE(8) -> version(1) || epoch BE(4) || nonce(24) || ciphertext+tag
 *                                       under the subject's DK, AD = "paso-evt1" || key || header;
 *                                       one row per event (a crossing), numbered from 1
 *
 * A subject id is run(4) || sequence in the run BE(4) || random(8): ids made one after the
 * other ascend within a random run of 256 (a new run per 256 ids and per open), so a group's
 * enrolments share leaves; earlier hubs' ids are 16 random bytes, read alike.
 */

/*
 * Key epochs. An epoch from VAULT_EPOCH_KINDED up names a record kind (0..15: the policy's record
 * kinds) and a creation day (days since the Unix epoch, hub clock): every row of it was made that
 * day and it expires as a whole, when the retention in force for its kind says, so no row of it
 * is ever rewrapped and a shorter policy reaches rows already held. An epoch below
 * VAULT_EPOCH_KINDED is an expiry day (enrolments stored before per-kind epochs, partners'
 * records): it expires when the hub's day passes it.
 */
#define VAULT_EPOCH_KINDED 0x40000000u
#define VAULT_EPOCH_DAY_MASK 0x3fffffu /* 4,194,303 days: past 9999-12-31 */
#define VAULT_EPOCH(kind, day)                                                                     \
	(VAULT_EPOCH_KINDED | ((uint32_t)(kind)&15u) << 22 | ((uint32_t)(day)&VAULT_EPOCH_DAY_MASK))
#define VAULT_KIND_CROSSING 1 /* POLICY_REC_CROSSING */
#define VAULT_EPOCH_KIND(e) (((uint32_t)(e) >> 22) & 15u)
#define VAULT_EPOCH_DAY(e) ((uint32_t)(e)&VAULT_EPOCH_DAY_MASK)
#define VAULT_EPOCH_IS_KINDED(e)                                                                   \
	((uint32_t)(e) >= VAULT_EPOCH_KINDED && (uint32_t)(e) < 0x44000000u)

#define VAULT_ID_BYTES KEYRING_SUBJECT_BYTES
#define VAULT_DIGEST_BYTES 32
#define VAULT_CARD_MAX 64   /* card numbers are 1..64 bytes (proto: printable ASCII) */
#define VAULT_KIOSK_MAX 255 /* kiosk ids are 1..255 bytes */
#define VAULT_RECORD_MAX (64u << 20)
#define VAULT_DEFAULT_MAP_SIZE ((size_t)4 << 30)

struct vault;
struct vault_txn;

struct vault_options {
	size_t map_size;     /* initial map size in bytes; 0 = VAULT_DEFAULT_MAP_SIZE */
	size_t map_size_max; /* growth limit on MDB_MAP_FULL; 0 = no growth beyond map_size*16 */
	/* 1: open without vault_check's walk of every row (a reader of counters only, e.g.
	 * paso-hub stats, which a lab run calls twice a period: the walk was most of its time) */
	int no_check;
};

struct vault_stats {
	uint64_t subjects;
	uint64_t cards;
	uint64_t seen;
	uint64_t events;
	uint64_t kept;     /* records of kind epochs (crossings, refusals) */
	uint64_t map_size; /* current map size in bytes */
	uint64_t map_used; /* bytes of the map in use (last page number * page size) */
};

/*
 * Checks every row of every table for its shape (key and value lengths, sealed-row headers,
 * wrapped-key versions, seen rows' kiosk ids and stored answers) without opening any sealed
 * row. path names the store in messages. vault_open runs it (unless vault_options.no_check).
 * 0, or PASO_E_CORRUPT with d naming the file, table and row (key in hex, or kiosk and seq) and
 * saying it is damage.
 */
int vault_check(struct vault *v, const char *path, struct paso_diag *d);

/*
 * Opens (creating if needed) the store in deploydir/store/ (dir 0700, files 0600). kr is
 * borrowed and must outlive the vault. Caller owns *out. Returns 0, PASO_E_STORAGE (d says
 * which LMDB call failed), PASO_E_CORRUPT (a damaged file or row: d names it, see vault_check),
 * PASO_E_IO, PASO_E_NOMEM.
 */
int vault_open(const char *deploydir, struct keyring *kr, struct vault **out, struct paso_diag *d);
/* As vault_open, with options (NULL = defaults). */
int vault_open_opts(const char *deploydir, struct keyring *kr, const struct vault_options *opt,
	struct vault **out, struct paso_diag *d);

/* Closes the environment. Every transaction must have ended. Accepts NULL. */
void vault_close(struct vault *v);

/*
 * Begins a transaction (readonly != 0 for a read transaction). Caller owns *out until
 * vault_commit or vault_abort. If a write transaction failed with PASO_E_MAP_FULL and no other
 * transaction is open, the map is doubled first (up to map_size_max), so the caller may abort
 * and retry its group; at the limit puts keep failing with PASO_E_MAP_FULL but deletes work.
 * Returns 0, PASO_E_STORAGE, PASO_E_NOMEM.
 */
int vault_begin(struct vault *v, int readonly, struct vault_txn **out);

/*
 * Commits and frees t; a write transaction is durable (fsync'd) when this returns 0.
 * On error the transaction is gone (aborted). Returns 0, PASO_E_STORAGE, PASO_E_MAP_FULL.
 */
int vault_commit(struct vault_txn *t);

/* Aborts and frees t. Accepts NULL. */
void vault_abort(struct vault_txn *t);

/*
 * Looks up a kiosk message already handled. Fills digest and *replyp (malloc'd copy, caller
 * frees; may be NULL when replylen is 0). Returns 0, PASO_E_NOT_FOUND, PASO_E_CORRUPT,
 * PASO_E_INVALID_ARG (kiosk id empty or too long), PASO_E_STORAGE, PASO_E_NOMEM.
 */
int vault_seen_get(struct vault_txn *t, const char *kiosk, uint64_t seq,
	uint8_t digest[VAULT_DIGEST_BYTES], uint8_t **replyp, size_t *replylenp);

/*
 * Records that (kiosk, seq) with this payload digest was answered with reply. Returns 0,
 * PASO_E_EXISTS (already recorded; changes nothing), PASO_E_INVALID_ARG, PASO_E_STORAGE,
 * PASO_E_MAP_FULL.
 */
int vault_seen_put(struct vault_txn *t, const char *kiosk, uint64_t seq,
	const uint8_t digest[VAULT_DIGEST_BYTES], const uint8_t *reply, size_t replylen);

/*
 * As vault_seen_put, and indexes the row to expire on day (days since the Unix epoch) under kind
 * (0..VAULT_SEEN_KINDS-1, the caller's label, e.g. a policy record kind). Same returns.
 */
#define VAULT_SEEN_KINDS 4
int vault_seen_put_until(struct vault_txn *t, const char *kiosk, uint64_t seq,
	const uint8_t digest[VAULT_DIGEST_BYTES], const uint8_t *reply, size_t replylen,
	uint32_t day, uint8_t kind);

/*
 * Deletes (in expiry order) at most max resend rows indexed to expire on a day below `below`,
 * with their index rows; adds each to counts[kind], sets *firstp and *lastp to the first and
 * last day deleted (when *np > 0), *np to the number, *morep to 1 if more are due. Deleting is
 * not erasing: the bytes may survive in freed pages. Returns 0, PASO_E_CORRUPT, PASO_E_STORAGE.
 */
int vault_seen_expire(struct vault_txn *t, uint32_t below, size_t max,
	uint64_t counts[VAULT_SEEN_KINDS], uint32_t *firstp, uint32_t *lastp, size_t *np,
	int *morep);

/* Adds to counts[kind] the resend rows due (day below `below`). 0, PASO_E_STORAGE. */
int vault_seen_due(struct vault_txn *t, uint32_t below, uint64_t counts[VAULT_SEEN_KINDS]);

/*
 * As vault_seen_put, with the answer sealed under the KEK of epoch (a VAULT_EPOCH) and the row
 * indexed under epoch || order, so it expires with its epoch and shredding the epoch erases it
 * from every copy. order is unique to the row within the epoch and grows with time (the hub
 * gives the answer's audit index): one epoch's rows are then indexed in one place, not one per
 * kiosk. vault_seen_get opens it. Same returns (PASO_E_EXISTS also when order is taken), and
 * PASO_E_IO (key file).
 */
int vault_seen_put_sealed(struct vault_txn *t, const char *kiosk, uint64_t seq,
	const uint8_t digest[VAULT_DIGEST_BYTES], const uint8_t *reply, size_t replylen,
	uint32_t epoch, uint64_t order);

/* What one bounded erasure of epoch rows did (vault_kept_erase, vault_seenexp_erase). */
struct vault_erased {
	uint64_t rows;
	uint32_t first, last; /* lowest and highest epoch touched (valid when rows > 0) */
	size_t epochs;        /* distinct epochs touched */
	int more;             /* rows of the range remain */
};

/*
 * Deletes, in key order, at most max sealed resend rows indexed under an epoch in [from, below)
 * (vault_seen_put_sealed), with their index rows; adds to *out. 0, PASO_E_STORAGE.
 */
int vault_seenexp_erase(
	struct vault_txn *t, uint32_t from, uint32_t below, size_t max, struct vault_erased *out);

/* Counts the sealed resend rows indexed under an epoch in [from, below). 0, PASO_E_STORAGE. */
int vault_seenexp_count(struct vault_txn *t, uint32_t from, uint32_t below, uint64_t *np);

/*
 * Keeps a record of epoch (a VAULT_EPOCH) under key epoch || rest (1..32 bytes), sealed under
 * the epoch's KEK (keyring_seal, AD = the key). data (len bytes, at most VAULT_RECORD_MAX) is
 * borrowed. Returns 0, PASO_E_EXISTS (changes nothing), PASO_E_INVALID_ARG, PASO_E_IO,
 * PASO_E_STORAGE, PASO_E_MAP_FULL.
 */
#define VAULT_KEPT_REST_MAX 32
int vault_kept_put(struct vault_txn *t, uint32_t epoch, const uint8_t *rest, size_t restlen,
	const uint8_t *data, size_t len);

/*
 * Calls cb for each kept row of an epoch in [from, below), in key order, opened (borrowed:
 * wiped after cb returns). A non-zero return from cb stops the walk and is returned. Returns 0,
 * PASO_E_KEY_NOT_FOUND (its epoch was shredded), PASO_E_CRYPTO, PASO_E_CORRUPT, PASO_E_STORAGE,
 * PASO_E_NOMEM.
 */
int vault_kept_foreach(struct vault_txn *t, uint32_t from, uint32_t below,
	int (*cb)(void *arg, uint32_t epoch, const uint8_t *rest, size_t restlen,
		const uint8_t *data, size_t len),
	void *arg);

/*
 * Deletes at most max kept rows of epochs in [from, below), in key order (each page touched
 * once: the rows of an epoch are contiguous); adds to *out. Deleting is not erasing: the epoch's
 * KEK must be destroyed next (vault_shred_epoch). 0, PASO_E_STORAGE.
 */
int vault_kept_erase(
	struct vault_txn *t, uint32_t from, uint32_t below, size_t max, struct vault_erased *out);

/* Counts the kept rows of epochs in [from, below), opening none. 0, PASO_E_STORAGE. */
int vault_kept_count(struct vault_txn *t, uint32_t from, uint32_t below, uint64_t *np);

/*
 * Appends a crossing of a subject as a kept row of epoch (a VAULT_EPOCH of the crossing kind),
 * numbered no (not 0; unique in the epoch, growing with time: the hub gives the crossing's
 * audit index), keyed by that number first so that a day's crossings are appended in one place
 * of the map, not one per subject (a commit group then dirties a few pages of them, not one
 * leaf per crossing); sealed under that epoch's KEK, not the subject's: it expires on its own
 * schedule, and survives the subject's erasure unlinkable to the card (its key holds a
 * reference keyed by the subject's data key, not the subject id). vault_event_foreach and vault_event_count see it. Returns 0,
 * PASO_E_NOT_FOUND (no such subject; changes nothing), PASO_E_KEY_NOT_FOUND, PASO_E_CRYPTO,
 * PASO_E_CORRUPT, PASO_E_IO, PASO_E_STORAGE, PASO_E_MAP_FULL, PASO_E_INVALID_ARG, PASO_E_EXISTS
 * (no taken; changes nothing).
 */
int vault_crossing_add(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES],
	uint32_t epoch, uint64_t no, const uint8_t *ev, size_t len);

/* The reference of a subject's crossings (keyed by its data key; see vault_crossing_add). */
#define VAULT_XREF_BYTES 16

/*
 * A subject's pseudonym (as vault_pseudonym) and crossing reference, from one unwrap of its data
 * key. Both stay what they are for as long as the subject is held (its id and data key never
 * change), so a reader may compute them ahead of a write transaction that finds the same subject.
 * Read-only; any thread with its own transaction. Returns vault_pseudonym's errors.
 */
int vault_subject_refs(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES],
	uint8_t pseud[32], uint8_t xref[VAULT_XREF_BYTES]);

/*
 * As vault_crossing_add, for the subject whose reference is xref (vault_subject_refs): the caller
 * has found in this transaction that the subject is held. Returns vault_crossing_add's errors
 * but PASO_E_NOT_FOUND.
 */
int vault_crossing_add_ref(struct vault_txn *t, const uint8_t xref[VAULT_XREF_BYTES],
	uint32_t epoch, uint64_t no, const uint8_t *ev, size_t len);

/* Highest seq recorded for kiosk: 0 and *seqp, or PASO_E_NOT_FOUND, PASO_E_STORAGE. */
int vault_seen_last(struct vault_txn *t, const char *kiosk, uint64_t *seqp);

/*
 * Finds the subject enrolled with card (NUL-terminated, 1..VAULT_CARD_MAX bytes) through the
 * keyed card index. Returns 0, PASO_E_NOT_FOUND, PASO_E_INVALID_ARG, PASO_E_STORAGE.
 */
int vault_card_lookup(struct vault_txn *t, const char *card, uint8_t subject_id[VAULT_ID_BYTES]);

/*
 * The two halves of vault_card_lookup: the keyed index of a card (any thread, no transaction;
 * the card-index key never changes while v is open), and the subject under that index.
 * Returns as vault_card_lookup.
 */
#define VAULT_CARD_INDEX_BYTES 32
int vault_card_index(struct vault *v, const char *card, uint8_t index[VAULT_CARD_INDEX_BYTES]);
int vault_card_lookup_index(struct vault_txn *t, const uint8_t index[VAULT_CARD_INDEX_BYTES],
	uint8_t subject_id[VAULT_ID_BYTES]);

/*
 * Enrols a subject: new random id and data key, rec sealed (rec is borrowed, opaque bytes),
 * DK wrapped under epoch's current KEK (created durably if needed), card indexed. card may be
 * NULL for a subject without a card. Returns 0 and subject_id, PASO_E_CARD_ENROLLED (changes
 * nothing), PASO_E_INVALID_ARG, PASO_E_STORAGE, PASO_E_MAP_FULL, PASO_E_IO (key file).
 */
int vault_subject_create(struct vault_txn *t, const char *card, uint32_t epoch, const uint8_t *rec,
	size_t len, uint8_t subject_id[VAULT_ID_BYTES]);

/*
 * Reseals a subject's record under the same data key and epoch with a fresh nonce.
 * Returns 0, PASO_E_NOT_FOUND (changes nothing), PASO_E_KEY_NOT_FOUND, PASO_E_CRYPTO,
 * PASO_E_CORRUPT, PASO_E_STORAGE, PASO_E_MAP_FULL.
 */
int vault_subject_update(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES],
	const uint8_t *rec, size_t len);

/*
 * Decrypts a subject's record into *recp (caller frees with vault_free_record). Returns 0,
 * PASO_E_NOT_FOUND, PASO_E_KEY_NOT_FOUND (its epoch was shredded), PASO_E_CRYPTO (tampered),
 * PASO_E_CORRUPT (malformed row), PASO_E_STORAGE, PASO_E_NOMEM.
 */
int vault_subject_get(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint8_t **recp,
	size_t *lenp) __attribute__((warn_unused_result));

/* Epoch a subject's data key is wrapped under: 0, PASO_E_NOT_FOUND, PASO_E_CORRUPT, STORAGE. */
int vault_subject_epoch(
	struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint32_t *epochp);

/*
 * Calls cb for every subject in id order with its decrypted record (borrowed: wiped and
 * freed after cb returns; cb must not write through t). A non-zero return from cb stops the
 * walk and is returned.
 * Returns 0 or the first error of vault_subject_get (e.g. PASO_E_KEY_NOT_FOUND).
 */
int vault_subject_foreach(struct vault_txn *t,
	int (*cb)(void *arg, const uint8_t id[VAULT_ID_BYTES], const uint8_t *rec, size_t len),
	void *arg);

/*
 * As vault_subject_foreach over the subjects whose id is in [lo, hi) only (hi NULL: to the end),
 * so several threads, each with its own read transaction, can walk one store in parts.
 */
int vault_subject_foreach_range(struct vault_txn *t, const uint8_t lo[VAULT_ID_BYTES],
	const uint8_t hi[VAULT_ID_BYTES],
	int (*cb)(void *arg, const uint8_t id[VAULT_ID_BYTES], const uint8_t *rec, size_t len),
	void *arg);

/*
 * Drops the store's pages from this process's resident memory (they stay in the page cache;
 * the next read maps them again), e.g. after a walk over every record. Any thread, any time.
 */
void vault_release_pages(struct vault *v);

/*
 * Appends an event (opaque bytes, e.g. a crossing) to a subject's history, sealed under the
 * subject's data key and epoch like its record, so erasing the subject erases its history.
 * Sets *nop (may be NULL) to its number (1, 2, ...). Returns 0, PASO_E_NOT_FOUND (no such
 * subject; changes nothing), PASO_E_KEY_NOT_FOUND, PASO_E_CRYPTO, PASO_E_CORRUPT, PASO_E_STORAGE,
 * PASO_E_MAP_FULL, PASO_E_INVALID_ARG.
 */
int vault_event_add(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES],
	const uint8_t *ev, size_t len, uint64_t *nop);

/*
 * Calls cb for each event of a subject in order, decrypted (borrowed: wiped after cb returns):
 * first the rows sealed under its data key (vault_event_add), then its crossings kept under
 * their own epochs (vault_crossing_add), oldest epoch first, numbered on after the former.
 * It reads every crossing row kept (their keys lead with their number): a look at one subject
 * for an inquiry, not for traffic. A non-zero return from cb stops the walk and is returned.
 * Returns 0 (also for no events), PASO_E_KEY_NOT_FOUND, PASO_E_CRYPTO (tampered row),
 * PASO_E_CORRUPT, PASO_E_STORAGE.
 */
int vault_event_foreach(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES],
	int (*cb)(void *arg, uint64_t no, const uint8_t *ev, size_t len), void *arg);

/*
 * Number of a subject's event rows under its data key (vault_event_add: those its erasure takes
 * with it), counted without opening them. 0 or PASO_E_STORAGE.
 */
int vault_event_count(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint64_t *np);

/*
 * Deletes a subject's rows (record, events, wrapped key, card index, epoch index) and sets
 * *eventsp (may be NULL) to the event rows deleted. The bytes may survive in freed pages until
 * vault_shred_epoch destroys the epoch's KEK. Returns 0, PASO_E_NOT_FOUND (changes nothing),
 * PASO_E_CORRUPT, PASO_E_STORAGE.
 */
int vault_subject_erase(
	struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint64_t *eventsp);

/*
 * The first (at most max) subjects of the epoch index whose epoch is below `below`, in epoch
 * order, without opening any record: ids into ids (max * VAULT_ID_BYTES, caller's), their
 * epochs into epochs (max, caller's), the number into *np. Returns 0, PASO_E_CORRUPT,
 * PASO_E_STORAGE.
 */
int vault_epoch_due(struct vault_txn *t, uint32_t below, size_t max, uint8_t *ids, uint32_t *epochs,
	size_t *np);

/*
 * Calls cb once per epoch holding subjects, in epoch order, with their number (from the epoch
 * index; no record is opened). A non-zero return from cb stops the walk and is returned.
 * Returns 0, PASO_E_CORRUPT, PASO_E_STORAGE.
 */
int vault_epoch_foreach(
	struct vault_txn *t, int (*cb)(void *arg, uint32_t epoch, uint64_t n), void *arg);

/*
 * As vault_epoch_due for the subjects indexed under an epoch in [from, below).
 */
int vault_epoch_due_range(struct vault_txn *t, uint32_t from, uint32_t below, size_t max,
	uint8_t *ids, uint32_t *epochs, size_t *np);

/*
 * Sets *heldp to 1 if any subject, kept row or sealed resend row is indexed under epoch, else 0.
 * 0 or PASO_E_STORAGE.
 */
int vault_epoch_held(struct vault_txn *t, uint32_t epoch, int *heldp);

/*
 * Crypto-shreds an epoch: in its own write transaction (call with no write transaction open),
 * rewraps every subject still in the epoch under a fresh KEK generation and commits durably,
 * then destroys every older KEK file of the epoch. Afterwards nothing erased from that epoch
 * can be decrypted from any copy of data.mdb with the remaining keys. Crash-safe and
 * idempotent: rerun after a failure. Sets *survivorsp (may be NULL) to the subjects rewrapped.
 * Returns 0, PASO_E_STORAGE, PASO_E_MAP_FULL, PASO_E_IO, PASO_E_KEY_NOT_FOUND, PASO_E_CRYPTO.
 */
int vault_shred_epoch(struct vault *v, uint32_t epoch, size_t *survivorsp);

/*
 * Crypto-shreds n epochs that hold no subject (a retention sweep's emptied epochs) at once:
 * holding a write transaction (so no wrap under them can commit meanwhile), checks each holds
 * no subject (one that does is skipped: shred it with vault_shred_epoch), then destroys their
 * KEKs with keyring_shred_epochs. Sets *shreddedp to the epochs whose KEKs went. Returns 0,
 * PASO_E_STORAGE, PASO_E_IO, PASO_E_NOMEM.
 */
int vault_shred_empty(struct vault *v, const uint32_t *epochs, size_t n, size_t *shreddedp);

/*
 * Pseudonym of a subject for audit entries and acknowledgements (32 bytes): keyed by the
 * deployment's pseudonym key and bound to the subject's data key (keyring_pseudonym), so it
 * cannot be recomputed once the subject is erased and its epoch shredded. Returns 0,
 * PASO_E_CORRUPT (no key row: not held), PASO_E_KEY_NOT_FOUND, PASO_E_CRYPTO, PASO_E_STORAGE.
 */
int vault_pseudonym(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint8_t out[32]);

/* Meta counters: u64 under a NUL-terminated key of 1..255 bytes. PASO_E_NOT_FOUND on get. */
int vault_meta_get(struct vault_txn *t, const char *key, uint64_t *val);
int vault_meta_put(struct vault_txn *t, const char *key, uint64_t val);

/* Row counts and map usage. Returns 0 or PASO_E_STORAGE. */
int vault_stats(struct vault_txn *t, struct vault_stats *out);

/* Wipes and frees a record returned by vault_subject_get. Accepts NULL. */
void vault_free_record(uint8_t *rec, size_t len);

/*
 * The share outbox (named database "outbox"): opaque keys of 1..VAULT_OUTBOX_KEY_MAX bytes to
 * opaque values, written in the caller's transaction; registry/share.c decides the layout and
 * keeps no biometric byte in it. put replaces; del returns PASO_E_NOT_FOUND for a missing row.
 * scan calls cb for up to max rows whose key starts with prefix (plen 0: every row), in key order (rows borrowed
 * until cb returns); a non-zero return from cb stops the scan and is returned.
 */
#define VAULT_OUTBOX_KEY_MAX 256
int vault_outbox_put(
	struct vault_txn *t, const void *key, size_t klen, const void *val, size_t vlen);
int vault_outbox_del(struct vault_txn *t, const void *key, size_t klen);
int vault_outbox_scan(struct vault_txn *t, const void *prefix, size_t plen, size_t max,
	int (*cb)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen),
	void *arg);

#endif
