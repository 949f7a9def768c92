/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's keys on disk: epoch key-encryption keys that can be shredded, pseudonym and card-index
 * keys. */
#ifndef PASO_KEYRING_H
#define PASO_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/*
 * Layout of a key directory (DEPLOYMENT/keys/, mode 0700; every file 0600):
 *   pseudonym.key           BLAKE2b key for audit pseudonyms of subject ids
 *   cardindex.key           BLAKE2b key for the card index (card number -> index key)
 *   kek-EEEEEEEE-GGGGGGGG.key   key-encryption key of epoch E, generation G (hex)
 *   kek-EEEEEEEE-GGGGGGGG.shredded   empty tombstone left when that KEK was destroyed
 *
 * Why epochs: LMDB never wipes freed pages, so a deleted wrapped data key can survive in
 * the data file. Each data key is wrapped by the KEK of one epoch (a retention bucket, e.g.
 * an expiry day); erasure destroys the KEK file itself, after the survivors of that epoch have
 * been rewrapped under a fresh generation (see vault_shred_epoch). Someone who later holds the
 * LMDB file and every remaining key file cannot unwrap anything wrapped by a destroyed KEK.
 * Overwriting a file before unlinking is best effort: on copy-on-write filesystems or SSDs
 * old blocks may survive, so deployments should put keys/ on storage they can trust.
 *
 * Keys live in sodium_malloc'd memory and are never formatted; only key ids are printable.
 * A keyring is safe to share between threads (one internal read-write lock: seals, unseals,
 * wraps and unwraps under existing KEKs run side by side); never use it after fork().
 */

#define KEYRING_DK_BYTES 32      /* a subject's data key (XChaCha20-Poly1305) */
#define KEYRING_WRAPPED_BYTES 81 /* version(1) || kek id(8) || nonce(24) || ct(32) || tag(16) */
#define KEYRING_HASH_BYTES 32    /* pseudonyms and card index keys */
#define KEYRING_SUBJECT_BYTES 16 /* subject ids */
#define KEYRING_KEYID_STRLEN 24  /* "kek:EEEEEEEE.GGGGGGGG" plus NUL fits */

struct keyring;

/*
 * Creates keydir (mode 0700, parent must exist) with a fresh pseudonym key and card-index key,
 * each written 0600 and fsync'd. KEKs are created lazily, one per epoch, on first use.
 * Returns 0, PASO_E_EXISTS if keydir already holds a keyring, PASO_E_IO.
 */
int keyring_create(const char *keydir);

/*
 * Opens the keyring in keydir, loading every key into locked memory. Refuses key files
 * readable by group or others and corrupt files (d names the file). Caller owns *out and
 * releases it with keyring_close. Returns 0, PASO_E_NOT_FOUND, PASO_E_IO, PASO_E_CORRUPT,
 * PASO_E_NOMEM.
 */
int keyring_open(const char *keydir, struct keyring **out, struct paso_diag *d);

/* Wipes and frees every key. Accepts NULL. */
void keyring_close(struct keyring *kr);

/*
 * Wraps dk for subject_id under the current KEK of epoch (creating that KEK durably, fsync'd
 * with its directory, if the epoch has none yet). AD binds the subject id and the KEK id.
 * Returns 0, PASO_E_IO, PASO_E_NOMEM.
 */
int keyring_wrap(struct keyring *kr, uint32_t epoch,
	const uint8_t subject_id[KEYRING_SUBJECT_BYTES], const uint8_t dk[KEYRING_DK_BYTES],
	uint8_t wrapped[KEYRING_WRAPPED_BYTES]);

/*
 * Unwraps a data key. Returns 0 and fills dk, PASO_E_KEY_NOT_FOUND if the KEK it names was
 * destroyed or never existed, PASO_E_CRYPTO if authentication fails (wrong subject, tampered),
 * PASO_E_CORRUPT if the version byte is unknown. dk is wiped on failure.
 */
int keyring_unwrap(struct keyring *kr, const uint8_t subject_id[KEYRING_SUBJECT_BYTES],
	const uint8_t wrapped[KEYRING_WRAPPED_BYTES], uint8_t dk[KEYRING_DK_BYTES])
	__attribute__((warn_unused_result));

/*
 * Fills out[0..n) with fresh random bytes for a nonce, never for a key: drawn from the
 * keyring's pool of OS random bytes (registry/nonce.h), so sealing makes no system call each
 * time (kr NULL: straight from the OS). Thread-safe.
 */
void keyring_nonce(struct keyring *kr, uint8_t *out, size_t n);

/*
 * Sealing straight under an epoch's KEK, for records that live and die with the epoch as a whole
 * (crossings, identifications, refusals, resend memory: every row of a (kind, creation day)
 * epoch expires together, so none ever needs a rewrap). keyring_seal writes
 * KEYRING_SEAL_OVERHEAD + len bytes to out: version(1) || kek id(8) || nonce(24) || ct || tag,
 * under the current KEK of epoch (created durably if needed), AD = ad (at most
 * KEYRING_SEAL_AD_MAX bytes, the caller's row key) || kek id. keyring_unseal opens in (inlen
 * bytes) into out (inlen - KEYRING_SEAL_OVERHEAD bytes). Returns 0, PASO_E_IO, PASO_E_NOMEM,
 * PASO_E_INVALID_ARG (ad too long); unseal: PASO_E_KEY_NOT_FOUND (its KEK was destroyed),
 * PASO_E_CRYPTO (tampered or moved), PASO_E_CORRUPT (too short or unknown version).
 */
#define KEYRING_SEAL_OVERHEAD (1 + 8 + 24 + 16)
#define KEYRING_SEAL_AD_MAX 300
int keyring_seal(struct keyring *kr, uint32_t epoch, const uint8_t *ad, size_t adlen,
	const uint8_t *in, size_t len, uint8_t *out);
int keyring_unseal(struct keyring *kr, const uint8_t *ad, size_t adlen, const uint8_t *in,
	size_t inlen, uint8_t *out) __attribute__((warn_unused_result));

/* Reads the epoch and generation named by a wrapped key (public header bytes). PASO_E_CORRUPT. */
int keyring_wrapped_kek(
	const uint8_t wrapped[KEYRING_WRAPPED_BYTES], uint32_t *epoch, uint32_t *gen);

/*
 * Creates a fresh KEK generation for epoch (durably) and makes it current; later wraps for
 * that epoch use it. Older generations stay usable until keyring_shred_epoch destroys them.
 * Sets *genp if not NULL. Returns 0, PASO_E_IO, PASO_E_NOMEM.
 */
int keyring_rotate_epoch(struct keyring *kr, uint32_t epoch, uint32_t *genp);

/*
 * Destroys KEK generations of epoch: every generation below keep_gen, or all of them when
 * keep_gen is KEYRING_SHRED_ALL. Each file is overwritten with zeros, fsync'd, unlinked and the
 * directory fsync'd; a tombstone records the id so it is never reused. The in-memory key is
 * wiped. Rewrap survivors first (vault_shred_epoch does both). Sets *countp (if not NULL) to
 * the number of KEKs destroyed. Returns 0 (also when nothing was there), PASO_E_IO.
 */
#define KEYRING_SHRED_ALL UINT32_MAX
int keyring_shred_epoch(struct keyring *kr, uint32_t epoch, uint32_t keep_gen, size_t *countp);

/*
 * Destroys every KEK generation of each of the n epochs (a retention sweep's emptied epochs) in
 * three durable phases rather than one file at a time: all tombstones, then the directory
 * fsync'd; every key file overwritten with zeros and fdatasync'd; every name removed, then the
 * directory fsync'd. Same guarantees as keyring_shred_epoch with KEYRING_SHRED_ALL, n + 2 syncs
 * instead of about 4n. Sets *countp (may be NULL) to the KEKs destroyed. Returns 0, PASO_E_IO,
 * PASO_E_NOMEM.
 */
int keyring_shred_epochs(struct keyring *kr, const uint32_t *epochs, size_t n, size_t *countp);

/* Current generation of epoch: 0 and *genp, or PASO_E_NOT_FOUND if the epoch has no live KEK. */
int keyring_epoch_current(struct keyring *kr, uint32_t epoch, uint32_t *genp);

/*
 * Writes into epochs (max entries, caller's) the epochs below `below` that still have a live
 * KEK, in order, each once; returns how many (at most max).
 */
size_t keyring_live_epochs(struct keyring *kr, uint32_t below, uint32_t *epochs, size_t max);

/* Number of live KEKs (all epochs and generations). */
size_t keyring_kek_count(struct keyring *kr);

/* Formats a KEK id as "kek:EEEEEEEE.GGGGGGGG" into buf (KEYRING_KEYID_STRLEN bytes). */
void keyring_kek_id_str(uint32_t epoch, uint32_t gen, char buf[KEYRING_KEYID_STRLEN]);

/*
 * Pseudonym of a subject for the audit log: keyed BLAKE2b under the pseudonym key of the subject
 * id and of a hash of the subject's data key dk. Stable for the subject's life (a rewrap keeps
 * its DK), and bound to the DK, so once the subject is erased and its epoch shredded nobody,
 * the hub included, can recompute it from an old copy of the store and every key left.
 */
int keyring_pseudonym(struct keyring *kr, const uint8_t subject_id[KEYRING_SUBJECT_BYTES],
	const uint8_t dk[KEYRING_DK_BYTES], uint8_t out[KEYRING_HASH_BYTES]);

/*
 * Keyed BLAKE2b of a card number (len bytes): the card index key. The card number itself is
 * never stored. Returns 0 or PASO_E_INVALID_ARG for an empty card.
 */
int keyring_card_index(
	struct keyring *kr, const char *card, size_t len, uint8_t out[KEYRING_HASH_BYTES]);

/*
 * Template protection keys (biometrics/protect.h). Generation G of the deployment's protection
 * key is the KEK of the reserved epoch KEYRING_PROTECT_EPOCH, so renewal is
 * keyring_rotate_epoch(kr, KEYRING_PROTECT_EPOCH, &gen) and destroying the keys of references
 * that have all been renewed is keyring_shred_epoch(kr, KEYRING_PROTECT_EPOCH, gen, NULL).
 * keyring_protect_key derives the 32-byte key of one use from generation gen (or the current
 * one, created durably on first use, for KEYRING_PROTECT_CURRENT) and a context naming the
 * holder ("hub", "partner:NAME"): each partner gets references of its own, unlinkable to the
 * hub's. Sets *genp (may be NULL) to the generation used. Returns 0, PASO_E_KEY_NOT_FOUND (gen
 * destroyed or never made), PASO_E_INVALID_ARG (empty context), PASO_E_IO, PASO_E_NOMEM.
 */
#define KEYRING_PROTECT_EPOCH 0xfffffffeu
#define KEYRING_PROTECT_CURRENT UINT32_MAX
#define KEYRING_PROTECT_KEY_BYTES 32
int keyring_protect_key(struct keyring *kr, uint32_t gen, const char *context,
	uint8_t key[KEYRING_PROTECT_KEY_BYTES], uint32_t *genp);

#endif
