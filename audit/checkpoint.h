/* SPDX-License-Identifier: Apache-2.0 */
/* C2SP signed notes, tlog-checkpoints and cosignature/v1 witness cosignatures (Ed25519). */
#ifndef PASO_CHECKPOINT_H
#define PASO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "merkle.h"

/*
 * Formats (c2sp.org/signed-note, c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature):
 *   note       = text "\n" signature-line+ ; text ends in "\n", signatures follow the last blank
 * line signature  = "— " name " " base64(key id (4 bytes, big-endian) || signature) "\n" checkpoint
 * = origin "\n" decimal-size "\n" base64(root) "\n" [extension lines] in the text vkey       = name
 * "+" 8-hex-digit key id "+" base64(type || public key) skey       = "PRIVATE+KEY+" name "+" key id
 * "+" base64(type || 32-byte Ed25519 seed) key id     = SHA-256(name || 0x0A || type || public
 * key)[:4] Signature types: 0x01 Ed25519 note signature (log keys), 0x04 timestamped Ed25519
 * cosignature/v1 (witness keys), 0x05 RFC 6962 TreeHeadSignature (ECDSA P-256, verify only:
 * the static-ct-api logs; its key id hashes SHA-256(SPKI) instead of the key).
 */
#define CHECKPOINT_SIG_ED25519 0x01
#define CHECKPOINT_SIG_COSIGNATURE_V1 0x04
#define CHECKPOINT_SIG_RFC6962_STH 0x05
#define CHECKPOINT_MAX_NOTE (64u * 1024u) /* notes longer than this are refused */
#define CHECKPOINT_MAX_SIGS 100

struct checkpoint_signer;   /* an Ed25519 signing key (secret in sodium_malloc) and its name */
struct checkpoint_verifier; /* a verifier key: name, key id, type and public key */

/* One signature line of a parsed note. */
struct checkpoint_sig {
	char *name;     /* key name (NUL-terminated) */
	uint32_t keyid; /* first 4 bytes of the decoded signature, big-endian */
	uint8_t *sig;   /* the bytes after the key id */
	size_t sig_len;
};

/* A parsed signed note: text (including its final newline) and its signature lines. */
struct checkpoint_note {
	char *text; /* NUL-terminated copy of the note text */
	size_t text_len;
	struct checkpoint_sig *sigs;
	size_t nsigs;
};

/* The three mandatory lines of a checkpoint's text. */
struct checkpoint {
	char origin[256]; /* NUL-terminated */
	uint64_t size;
	uint8_t root[MERKLE_HASH_BYTES];
	size_t n_extensions; /* extension lines present (not interpreted) */
};

/*
 * Generates an Ed25519 log key (type 0x01) named name. Caller owns *skey_text and *vkey_text;
 * free the secret with checkpoint_text_free (wipes it). Returns 0, PASO_E_INVALID_ARG (bad name:
 * empty, spaces, '+', control characters, longer than 255 bytes) or PASO_E_NOMEM.
 */
int checkpoint_keygen(const char *name, char **skey_text, char **vkey_text);
/* The same for a witness (cosigner) key, type 0x04. */
int checkpoint_witness_keygen(const char *name, char **skey_text, char **vkey_text);
/* Wipes strlen(s) bytes and frees s; accepts NULL. */
void checkpoint_text_free(char *s);

/*
 * Loads a signer from its skey text (trailing newline allowed). Caller owns *out, freed with
 * checkpoint_signer_free (which wipes the secret). Returns 0, PASO_E_CHECKPOINT_FORMAT (malformed,
 * wrong key id, unsupported type) or PASO_E_NOMEM. The secret never appears in a diagnostic.
 */
int checkpoint_signer_from_text(const char *skey_text, struct checkpoint_signer **out);
void checkpoint_signer_free(struct checkpoint_signer *s);
const char *checkpoint_signer_name(const struct checkpoint_signer *s); /* borrowed */
uint32_t checkpoint_signer_keyid(const struct checkpoint_signer *s);
/* The signer's vkey text; caller frees *vkey_text with free(). 0 or PASO_E_NOMEM. */
int checkpoint_signer_vkey(const struct checkpoint_signer *s, char **vkey_text);

/*
 * Parses a vkey (trailing newline allowed). Caller owns *out (checkpoint_verifier_free). Returns 0,
 * PASO_E_CHECKPOINT_FORMAT (malformed, key id does not match the key, unsupported type; d says
 * which) or PASO_E_NOMEM. checkpoint_verifier_from_vkey is the same without a diagnostic.
 */
int checkpoint_verifier_parse(
	const char *vkey, struct checkpoint_verifier **out, struct paso_diag *d);
int checkpoint_verifier_from_vkey(const char *vkey, struct checkpoint_verifier **out);
void checkpoint_verifier_free(struct checkpoint_verifier *v);
const char *checkpoint_verifier_name(const struct checkpoint_verifier *v); /* borrowed */
uint32_t checkpoint_verifier_keyid(const struct checkpoint_verifier *v);
uint8_t checkpoint_verifier_type(const struct checkpoint_verifier *v);

/*
 * Parses a signed note of len bytes (not NUL-terminated necessarily). Checks the structure only:
 * UTF-8, no control characters but newline, text ending in newline, 1..CHECKPOINT_MAX_SIGS well
 * formed signature lines. Caller owns *out (checkpoint_note_free). Returns 0,
 * PASO_E_CHECKPOINT_FORMAT (d names the line) or PASO_E_NOMEM.
 */
int checkpoint_note_parse(const char *buf, size_t len, struct checkpoint_note **out,
	struct paso_diag *d) __attribute__((warn_unused_result));
void checkpoint_note_free(struct checkpoint_note *n);

/*
 * Verifies n against one known key, per signed-note: signature lines of other keys (name or key
 * id differ) are ignored; a line of this key that fails rejects the note. Returns 0 when a
 * signature of v verifies (for a cosignature or a TreeHeadSignature, *timestamp gets its time,
 * else 0; timestamp may be NULL), PASO_E_AUDIT_SIGNATURE (no signature by v, or a bad one; d
 * lists the keys that did sign), PASO_E_CHECKPOINT_FORMAT (a signature of this key with a bad
 * length or layout, or the note text is not a checkpoint when the type needs one) or PASO_E_NOMEM.
 */
int checkpoint_note_verify(const struct checkpoint_note *n, const struct checkpoint_verifier *v,
	uint64_t *timestamp, struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * Signs text (len bytes, ending in '\n') with a type 0x01 signer: *notep = text + "\n" + its
 * signature line, NUL-terminated; caller frees. Returns 0, PASO_E_INVALID_ARG (text does not end
 * in newline, signer of another type) or PASO_E_NOMEM.
 */
int checkpoint_note_sign(
	const struct checkpoint_signer *s, const char *text, size_t len, char **notep);

/*
 * Parses the text of a checkpoint (the note text, not the signatures) into cp. Returns 0 or
 * PASO_E_CHECKPOINT_FORMAT (d names the line: empty origin, size with leading zeros or out of
 * range, root not the base64 of 32 bytes, empty extension line).
 */
int checkpoint_parse_text(const char *text, size_t len, struct checkpoint *cp, struct paso_diag *d)
	__attribute__((warn_unused_result));

/*
 * Writes "origin\nsize\nbase64(root)\n" into a new string; caller frees. Returns 0,
 * PASO_E_INVALID_ARG (origin empty, longer than 255 bytes or with a newline) or PASO_E_NOMEM.
 */
int checkpoint_format_text(
	const char *origin, uint64_t size, const uint8_t root[MERKLE_HASH_BYTES], char **textp);

/*
 * Signs the checkpoint (origin = the signer's name, size, root): *notep is the complete signed
 * note text; caller frees. Returns 0, PASO_E_INVALID_ARG or PASO_E_NOMEM.
 */
int checkpoint_sign(const struct checkpoint_signer *s, uint64_t size,
	const uint8_t root[MERKLE_HASH_BYTES], char **notep);

/*
 * Parses a signed checkpoint note, verifies it against the log key v and parses its text.
 * Returns 0 and fills cp, or the codes of checkpoint_note_parse / checkpoint_note_verify /
 * checkpoint_parse_text. d says what failed.
 */
int checkpoint_open(const char *note, size_t len, const struct checkpoint_verifier *v,
	struct checkpoint *cp, struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * Witness: adds a cosignature/v1 line by the type 0x04 signer w, made at time timestamp, to the
 * signed note (len bytes). The note is parsed first; its existing signatures are kept as they are.
 * *outp is the new note; caller frees. The caller is responsible for having checked the log's
 * signature and consistency first. Returns 0, PASO_E_INVALID_ARG (w is not a witness key,
 * timestamp >= 2^63), PASO_E_CHECKPOINT_FORMAT or PASO_E_NOMEM.
 */
int checkpoint_cosign(const struct checkpoint_signer *w, const char *note, size_t len,
	uint64_t timestamp, char **outp, struct paso_diag *d);

#endif
