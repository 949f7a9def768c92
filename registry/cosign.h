/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's witnesses: each new checkpoint is sent for cosigning on a thread of its own. */
#ifndef PASO_COSIGN_H
#define PASO_COSIGN_H

#include <stddef.h>
#include <stdint.h>

#include "auditlog.h"
#include "errors.h"

/*
 * DIR/witnesses names the witnesses a hub asks to cosign its checkpoints (c2sp.org/tlog-witness),
 * one a line, '#' comments and blank lines ignored:
 *   NAME URL VKEY
 * NAME: 1..64 of [A-Za-z0-9._-]; URL: "http://HOST:PORT/PREFIX" (the witness's add-checkpoint
 * lives at PREFIX + "add-checkpoint"); VKEY: the witness's cosignature/v1 verifier key
 * (`paso-hub witness key` prints a hub's). `paso-hub witness add` writes lines; the hub reads
 * the file at start and again whenever it changes.
 *
 * The commit loop never waits for a witness: cosign_step (on the loop's thread, from a timer)
 * builds each request from the log (the consistency proof from the size the witness last
 * cosigned), a worker thread posts them, and the next cosign_step hands back the checkpoint with
 * every cosignature received, for the caller to publish, and what changed, for the caller to log:
 * a refusal once per episode (until that witness cosigns again), a witness that cannot be reached
 * once per episode. A "409 text/x.tlog.size" answer teaches the witness's size; the request is
 * rebuilt from it on the next step.
 */
#define COSIGN_MAX_WITNESSES 16
#define COSIGN_NAME_MAX 64

/* One witness line of DIR/witnesses, parsed. */
struct cosign_witness {
	char name[COSIGN_NAME_MAX + 1];
	char url[512];
	char vkey[512];
};

/*
 * Parses the text of a witnesses file (len bytes, borrowed; label names it in messages) into
 * out[0..*np), at most cap. Pure: no I/O. Returns 0, PASO_E_INVALID_ARG (d quotes
 * "label:LINE: what: 'value'": bad name, URL or key, a key that is not a witness key, a
 * name given twice, more than cap lines) or PASO_E_CHECKPOINT_FORMAT (a key that does not parse).
 */
int cosign_parse(const char *text, size_t len, const char *label, struct cosign_witness *out,
	size_t cap, size_t *np, struct paso_diag *d);

/* What changed for one witness, for the hub's log (and, when audit is set, its audit log). */
struct cosign_event {
	char witness[COSIGN_NAME_MAX + 1];
	int code;  /* 0: cosigns again after an episode; else the PASO_E_ code of the episode */
	int audit; /* 1: a refusal (record it in the audit log); 0: unreachable or recovered */
	char msg[400];
};

struct cosign;

/*
 * Reads DIR/witnesses (absent: no witnesses, until it appears) and starts the worker thread.
 * Caller owns *out (cosign_close). Returns 0, the errors of cosign_parse (d names the file and
 * line), PASO_E_IO or PASO_E_NOMEM.
 */
int cosign_open(const char *dir, struct cosign **out, struct paso_diag *d);

/* Stops the worker (waiting for a request in flight, at most its timeout) and frees. NULL ok. */
void cosign_close(struct cosign *c);

/* Witnesses configured now. */
size_t cosign_count(const struct cosign *c);

/*
 * One step, on the thread that owns log: re-reads DIR/witnesses if it changed (a bad file keeps
 * the witnesses in use and is reported once as an event), collects the worker's answers and,
 * when it is idle, queues the latest checkpoint of log for every witness that has not cosigned
 * it (a witness that failed is asked again after 5 s). Sets *notep (caller frees; NULL when
 * none is new) to the latest cosigned checkpoint: the log's note with every cosignature line
 * received for it. Fills ev[0..*nev) (at most cap). Returns 0 or PASO_E_NOMEM.
 */
int cosign_step(struct cosign *c, struct auditlog *log, char **notep, size_t *lenp,
	struct cosign_event *ev, size_t cap, size_t *nev);

/* 1 when nothing is in flight and every witness was asked for the latest checkpoint. */
int cosign_idle(const struct cosign *c, struct auditlog *log);

#endif
