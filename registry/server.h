/* SPDX-License-Identifier: Apache-2.0 */
/* The transport: TLS connections from kiosks, frames in and answers out; no decisions here. */
#ifndef PASO_SERVER_H
#define PASO_SERVER_H

#include <stdint.h>

#include "decide.h"
#include "hublog.h"
#include "loop.h"
#include "tls.h"

struct server;

struct server_config {
	const char *host;         /* listen address */
	uint16_t port;            /* 0 = ephemeral */
	uint32_t max_frame;       /* bytes */
	int io_timeout_ms;        /* per read/write */
	unsigned max_conns;       /* concurrent authenticated connections (the kiosk limit) */
	/* Connection handling (0 = the default in parentheses); each logs "timed out" or
	 * "refused" when it fires, at most one summary line a second for the gate's counts. */
	int handshake_ms;         /* whole TLS handshake, from accept (10000) */
	unsigned max_unauth;      /* connections still in the handshake (1024), split between the
				     gate threads; from 3/4 of a share a random early drop (30 %
				     rising to 100 % when full) of the socket silent longest, or
				     else the newcomer; when full, the silent one makes room */
	unsigned max_per_kiosk;   /* authenticated connections per certificate name (8) */
	int frame_ms;             /* a frame, from its first byte to its last (10000) */
	int idle_ms;              /* no frame and nothing in flight on a connection (300000) */
	const char *deploy_dir;   /* for the kiosk registry (DIR/kiosks/) */
	struct tls_ctx *tls;      /* borrowed */
	struct loop *loop;        /* borrowed: where messages go */
	const struct decide_ctx *dc; /* borrowed: decide_prepare on connection threads */
	const struct hublog *log; /* borrowed */
};

/* Binds the listener. Caller owns *out. Returns 0 or tls_listen's errors, d naming the address. */
int server_open(const struct server_config *cfg, struct server **out, struct paso_diag *d);

/* The bound port. */
uint16_t server_port(const struct server *s);

/* Starts accepting on a thread of its own, one thread per connection. 0 or PASO_E_INTERNAL. */
int server_start(struct server *s);

/*
 * Stops accepting (the listener closes, so kiosks are refused at once and retry later) and
 * joins the accept thread; open connections stop reading, wait for their answers and close.
 */
void server_stop(struct server *s);

/* Connections still open. */
unsigned server_conns(struct server *s);

/* Frees the server; call after server_stop once server_conns is 0. Accepts NULL. */
void server_close(struct server *s);

#endif
