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
	unsigned max_conns;       /* concurrent connections */
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
