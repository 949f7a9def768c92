/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's side of tlog-witness: asks witnesses to cosign its checkpoints. */
#ifndef PASO_WITCLIENT_H
#define PASO_WITCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "errors.h"

/* One configured witness: its add-checkpoint base URL and its verifier key. */
struct witclient {
	char url[512];                   /* "http://127.0.0.1:PORT/" (prefix + "add-checkpoint") */
	struct checkpoint_verifier *key; /* borrowed: the witness's cosignature/v1 key */
	uint64_t known_size; /* the size this witness last cosigned, as far as we know */
	int timeout_ms;
};

/*
 * Sends the signed checkpoint note (len bytes, a state of log) to the witness, with a
 * consistency proof from w->known_size built from log; on "409 text/x.tlog.size" learns the
 * witness's size and retries once. The answer's cosignature must verify with w->key. On success
 * *cosigned (caller frees) is note with the cosignature line added and w->known_size is the
 * checkpoint's size. Returns 0, or: PASO_E_SPLIT_VIEW / PASO_E_PROOF_INVALID (the witness refused:
 * it saw a state this checkpoint does not extend), PASO_E_ROLLBACK (it cosigned a larger tree
 * than this log has), PASO_E_AUDIT_SIGNATURE (its answer does not verify), PASO_E_IO /
 * PASO_E_TIMEOUT (unreachable), PASO_E_INVALID_ARG; d quotes the witness's answer.
 */
int witclient_cosign(struct witclient *w, struct auditlog *log, const char *note, size_t len,
	char **cosigned, struct paso_diag *d);

/*
 * The two halves of witclient_cosign, for a caller that keeps network waits out of the thread
 * owning the log: witclient_request builds the body (consistency proof from w->known_size, read
 * from log: call it where the log is used; caller frees *bodyp); witclient_send posts it (any
 * thread, one per witclient at a time) and returns as witclient_cosign, except that a "409
 * text/x.tlog.size" answer returns PASO_E_EXISTS with *retry_size set: set w->known_size to it
 * and build the request again.
 */
int witclient_request(const struct witclient *w, struct auditlog *log, const char *note, size_t len,
	char **bodyp, size_t *blenp, struct paso_diag *d);
int witclient_send(struct witclient *w, const char *note, size_t len, const char *body, size_t blen,
	char **cosigned, uint64_t *retry_size, struct paso_diag *d);

#endif
