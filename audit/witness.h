/* SPDX-License-Identifier: Apache-2.0 */
/* A C2SP tlog-witness: cosigns checkpoints that consistently extend what it cosigned before. */
#ifndef PASO_WITNESS_H
#define PASO_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "errors.h"
#include "httpmini.h"
#include "merkle.h"

/*
 * State directory (STATE), shared with `paso-audit witness`:
 *   witness.key             the witness's cosignature/v1 signing key (0600), created on first use
 *   witness.vkey            its verifier key, to publish
 *   log-KEYID.journal       the checkpoints cosigned for the log key KEYID (8 hex digits):
 *                           records u32 length || note || BLAKE2b-256, appended and fdatasync'd
 *                           before the cosignature is answered; the last intact one is the state
 *   log-KEYID.checkpoint    the state of the one-shot `paso-audit witness`, carried into the
 *                           journal on first use (that command refuses a STATE with a journal)
 * Requests (c2sp.org/tlog-witness, POST <prefix>/add-checkpoint):
 *   "old " decimal-size "\n" (base64 proof hash "\n")* "\n" signed-checkpoint
 * Answers: 200 with the cosignature line; 400 malformed, or old size above the checkpoint's;
 * 403 no valid signature by a known log key; 404 unknown origin; 409 with Content-Type
 * text/x.tlog.size and body "SIZE\n" when old differs from the size last cosigned; 409 when the
 * size equals it but the root differs; 422 when the consistency proof does not verify.
 * A witness object is thread-safe (one mutex around each decision).
 */
#define WITNESS_MAX_BODY (64u * 1024u)
#define WITNESS_MAX_PROOF 63

struct witness;

/* What a decision was, for the owner's log: called with the witness mutex held. */
typedef void (*witness_observer)(
	void *ctx, const char *origin, uint64_t size, int code, const char *msg);

/*
 * Opens STATE (created 0700 with a new key named name if it has none). Caller owns *out
 * (witness_close). Returns 0, PASO_E_INVALID_ARG (bad name), PASO_E_CHECKPOINT_FORMAT (the
 * key file is not a witness key), PASO_E_IO or PASO_E_NOMEM; d names the file.
 */
int witness_open(const char *statedir, const char *name, struct witness **out, struct paso_diag *d);
void witness_close(struct witness *w);
/* The witness's verifier key text (borrowed). */
const char *witness_vkey(const struct witness *w);
/* Trusts the log key vkey (its name is the log's origin). 0, PASO_E_CHECKPOINT_FORMAT, NOMEM. */
int witness_add_log(struct witness *w, const char *vkey, struct paso_diag *d);
void witness_set_observer(struct witness *w, witness_observer fn, void *ctx);

/*
 * The add-checkpoint decision on a request body (len bytes, borrowed). On success *cosigp
 * (caller frees) is the cosignature line and the state is saved. Otherwise the code says which
 * answer: PASO_E_INVALID_ARG / PASO_E_CHECKPOINT_FORMAT (400), PASO_E_NOT_FOUND (404),
 * PASO_E_AUDIT_SIGNATURE (403), PASO_E_EXISTS (409, *known_size set), PASO_E_SPLIT_VIEW (409,
 * same size, other root), PASO_E_PROOF_INVALID (422), PASO_E_IO or PASO_E_NOMEM (500); d says
 * why. now is the cosignature's time (seconds since the epoch).
 */
int witness_add_checkpoint(struct witness *w, const uint8_t *body, size_t len, uint64_t now,
	char **cosigp, uint64_t *known_size, struct paso_diag *d);

/* HTTP status of a witness_add_checkpoint result. */
int witness_http_status(int code);

/* An httpmini handler serving POST /add-checkpoint (and any prefix + /add-checkpoint); ctx is
 * the struct witness. */
void witness_http_handler(void *ctx, const char *method, const char *path, const uint8_t *body,
	size_t len, struct httpmini_reply *reply);

/*
 * Formats a request body: "old N", the proof in base64, a blank line, the note. Caller frees
 * *bodyp. Returns 0, PASO_E_INVALID_ARG (more than WITNESS_MAX_PROOF hashes) or PASO_E_NOMEM.
 */
int witness_format_request(uint64_t old_size, const uint8_t (*proof)[MERKLE_HASH_BYTES], size_t np,
	const char *note, size_t len, char **bodyp, size_t *body_len);

#endif
