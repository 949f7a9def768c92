/* SPDX-License-Identifier: Apache-2.0 */
/* The registry hub: serves kiosks over TLS, validates, matches, decides by policy, stores, logs. */
#ifndef PASO_HUB_H
#define PASO_HUB_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"

struct hub;

struct hub_config {
	const char *dir;    /* deployment directory made by deploy_init */
	const char *host;   /* listen address; default "127.0.0.1" */
	uint16_t port;      /* 0 = ephemeral */
	uint32_t max_frame; /* default FRAME_DEFAULT_MAX */
	unsigned batch_max; /* most requests in one commit group; default 512 */
	int io_timeout_ms;  /* per read/write on a connection; default 30000 */
	unsigned max_conns; /* concurrent connections; default 256 */
	FILE *log;          /* where the hub logs one line per event; NULL = stderr */
};

/*
 * Opens a deployment: keys, store, policy, audit log; recovers after an unclean stop (cuts the
 * audit log back to what the store committed and logs a RECOVERY entry), loads the in-memory
 * gallery, logs HUB_START and binds the listener. Caller owns *out (hub_close).
 * Returns 0 or the first error, with d naming the file or step.
 */
int hub_open(const struct hub_config *cfg, struct hub **out, struct paso_diag *d);

/* The port the hub listens on (useful with port 0). */
uint16_t hub_port(const struct hub *h);

/*
 * Serves until *stop becomes non-zero (set it from a signal handler). Returns 0 after a clean
 * stop (every accepted message answered, HUB_STOP logged and checkpointed) or an error.
 */
int hub_run(struct hub *h, volatile sig_atomic_t *stop);

/* Releases everything; wipes keys. Accepts NULL. */
void hub_close(struct hub *h);

#endif
