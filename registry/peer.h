/* SPDX-License-Identifier: Apache-2.0 */
/* Trust between deployments (national hub and partners): roles, pinned CAs, peer links. */
#ifndef PASO_PEER_H
#define PASO_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "deploy.h"
#include "errors.h"
#include "hublog.h"
#include "loop.h"
#include "tls.h"

/*
 * Two deployments trust each other by exchanging CA certificates once, at setup
 * (`paso-hub partner add DIR --name PEER --ca PEER_DIR/ca/ca.crt` on each side):
 *
 *   DIR/role                  "partner" for a partner deployment; absent for the national hub
 *   DIR/peers/PEER.ca.crt     the peer's CA, pinned (only it may vouch for PEER)
 *   DIR/peers/PEER.crt, .key  our client certificate for links to PEER: CN ".peer.OURNAME",
 *                             signed by our own CA (key 0600)
 *   DIR/peers/bundle.pem      every pinned CA: what our peer listener trusts
 *
 * Peer links never share a listener or a CA with kiosks: kiosks talk to the kiosk port, which
 * trusts only our CA; peers talk to the peer port, which trusts only pinned peer CAs. A peer's
 * certificate names ".peer.NAME" (a kiosk name never starts with '.', so no kiosk certificate can pass
 * as a peer, and no peer certificate as a kiosk), and NAME's certificate must be signed by the
 * CA pinned for NAME. Both sides present hub/hub.crt (CN "paso-hub") as servers.
 */

enum peer_role { PEER_ROLE_NATIONAL, PEER_ROLE_PARTNER };

#define PEER_NAME_MAX 64
#define PEER_CN_PREFIX ".peer."

/* The deployment's role (DIR/role). 0, PASO_E_IO, PASO_E_CORRUPT (unknown word, quoted). */
int peer_role(const char *dir, enum peer_role *rolep, struct paso_diag *d);

/* Writes DIR/role for a new deployment (0644, fsync'd). 0, PASO_E_EXISTS, PASO_E_IO. */
int peer_set_role(const char *dir, enum peer_role role, struct paso_diag *d);

/* The deployment's own name, from its CA ("Paso CA NAME"). 0, PASO_E_CERT, PASO_E_IO. */
int peer_self_name(const char *dir, char *out, size_t cap, struct paso_diag *d);

/*
 * Pins the CA of deployment name (ca_file: that deployment's ca/ca.crt, borrowed) and issues
 * our client certificate for links to it; rewrites the bundle; records KEY_CREATE entries in
 * our audit log (the hub must be stopped: the log has one writer). Refuses, changing nothing:
 * a bad name, our own name or CA, a file that is not a CA certificate, a CA of another
 * deployment than name (PASO_E_CERT), a peer already added (PASO_E_EXISTS).
 */
int peer_add(const char *dir, const char *name, const char *ca_file, struct paso_diag *d);

/* Paths of the link files for peer name. 0, or PASO_E_UNKNOWN_PARTNER when it was never added. */
struct peer_files {
	char ca[DEPLOY_PATH_MAX + 96], cert[DEPLOY_PATH_MAX + 96], key[DEPLOY_PATH_MAX + 96];
};
int peer_files(const char *dir, const char *name, struct peer_files *pf, struct paso_diag *d);

/* Number of pinned peers (0 when DIR/peers is absent); *onep (may be NULL) names one of them. */
size_t peer_count(const char *dir, char onep[PEER_NAME_MAX + 1]);

/*
 * Which peer a verified connection to our peer listener is: its CN must be ".peer.NAME" for a
 * NAME we pinned, and its certificate must be signed by NAME's pinned CA. Sets name.
 * 0 or PASO_E_UNKNOWN_PARTNER (d says which check failed).
 */
int peer_identify(const char *dir, const struct tls_conn *c, char name[PEER_NAME_MAX + 1],
	struct paso_diag *d);

/* --- a listener for peer links -------------------------------------------------------------- */

struct peer_listener;

/*
 * serve(arg, conn, peer) runs on its own thread for every connection whose peer passed
 * peer_identify; connections that fail are logged and closed. The listener presents
 * hub/hub.crt and trusts DIR/peers/bundle.pem only. Caller owns *out. Returns 0, PASO_E_CERT,
 * PASO_E_TLS, PASO_E_IO (d names the file or address).
 */
struct peer_listener_config {
	const char *dir;
	const char *host;
	uint16_t port; /* 0 = ephemeral */
	int io_timeout_ms;
	unsigned max_conns;
	const struct hublog *log;
	const char *what; /* for log lines, e.g. "partner port" */
	void (*serve)(void *arg, struct tls_conn *c, const char *peer);
	void *arg;
};
int peer_listen(
	const struct peer_listener_config *cfg, struct peer_listener **out, struct paso_diag *d);
uint16_t peer_listener_port(const struct peer_listener *pl);
/* Starts accepting on its own thread. 0 or PASO_E_INTERNAL. */
int peer_listener_start(struct peer_listener *pl);
/* Stops accepting (open connections finish on their own). */
void peer_listener_stop(struct peer_listener *pl);
/* Connections still open. */
unsigned peer_listener_conns(struct peer_listener *pl);
/* Frees; call once peer_listener_conns is 0. Accepts NULL. */
void peer_listener_close(struct peer_listener *pl);

/*
 * Runs fn in its own ledger transaction on the commit loop and waits for it (from any thread
 * but the loop's). Returns the task's result, or the commit's error.
 */
int peer_loop_task(struct loop *l,
	int (*fn)(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap), void *arg,
	void (*after_commit)(void *arg));

#endif
