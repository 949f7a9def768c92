/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's control socket: operator commands to a running hub (its simulated clock, ...). */
#ifndef PASO_CONTROL_H
#define PASO_CONTROL_H

#include <stddef.h>

#include "clock.h"
#include "decide.h"
#include "hublog.h"
#include "keyring.h"
#include "loop.h"

/*
 * DIR/control.sock, a Unix stream socket (0600, in the deployment directory), served by a
 * thread of its own. Only a process of the hub's own user (or root) is answered (SO_PEERCRED).
 * One request line, one answer line:
 *   "clock"                 -> "ok NOW INSTANT"
 *   "clock set SECONDS"     -> moves a simulated clock to SECONDS (audited as CLOCK_SET)
 *   "clock advance SECONDS" -> moves it forward by SECONDS (audited as CLOCK_SET)
 *   "sweep dry-run"         -> "ok TEXT": what a retention sweep would erase now (read only)
 *   "policy reload"         -> reads DIR/policy.yaml again; in force for messages decided
 *                              from then on (audited as POLICY_LOAD); a bad file changes nothing
 *   "query-note CODE DETAIL", "release-note CODE DETAIL"
 *                           -> a partner's own QUERY or RELEASE entry for a request it sent
 *                              (`paso-hub query`, `paso-hub release`)
 *   "protect renew"         -> a new generation of the hub's template protection key (audited
 *                              as KEY_CREATE); references are renewed at each next crossing
 * Errors: "error CODE NAME: message". Commands that change state run on the commit loop, in
 * their own ledger transaction, between groups of kiosk messages.
 */
struct control;

struct control_config {
	const char *path;            /* socket path */
	struct loop *loop;           /* borrowed */
	struct paso_clock *clock;    /* borrowed */
	const struct decide_ctx *dc; /* borrowed: policy for audit entries */
	const struct hublog *log;    /* borrowed */
	struct keyring *kr;          /* borrowed: for what a sweep would destroy */
	/* "policy reload": a loop task and its after-commit step (hub.c), or NULL. */
	int (*reload_task)(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap);
	void (*reload_commit)(void *arg);
	void *reload_arg;
	/* "protect renew": a loop task (hub.c, arg reload_arg), or NULL. */
	int (*renew_task)(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap);
};

/* Binds (replacing a stale socket file) and starts serving. 0, PASO_E_IO, PASO_E_INTERNAL. */
int control_open(const struct control_config *cfg, struct control **out, struct paso_diag *d);

/*
 * Stopping takes two steps because a request may be waiting on the loop: control_stop asks the
 * thread to finish (non-blocking); keep the loop running until control_stopped says it did;
 * then control_close joins it and removes the socket. Each accepts NULL.
 */
void control_stop(struct control *c);
int control_stopped(struct control *c);
void control_close(struct control *c);

/*
 * Client side: sends line to the hub at path and copies the answer line into reply. line is one
 * request line, or for "query-notes N" / "release-notes N" that line and N lines "CODE DETAIL"
 * joined by newlines (N <= 256; the entries are appended in one transaction). Returns 0
 * for an "ok" answer, the answer's code for an "error" answer, or PASO_E_IO when no hub
 * answers (d says so, naming the path).
 */
int control_request(
	const char *path, const char *line, char *reply, size_t cap, struct paso_diag *d);

#endif
