/* SPDX-License-Identifier: Apache-2.0 */
/* Mutually authenticated TLS 1.3 over TCP with OpenSSL, and frame I/O on it. */
#ifndef PASO_TLS_H
#define PASO_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct tls_ctx;
struct tls_conn;

/*
 * Creates a context from PEM files: our certificate and key, and the CA that must have signed
 * the peer. Servers require and verify a client certificate; clients verify the server's
 * certificate and its name (expect_name, e.g. "paso-hub"). TLS 1.3 only.
 * Caller owns *out (tls_ctx_free). Returns 0, PASO_E_CERT (unreadable or mismatched files,
 * named in d) or PASO_E_TLS.
 */
int tls_ctx_new_server(const char *cert, const char *key, const char *ca, struct tls_ctx **out,
	struct paso_diag *d);
int tls_ctx_new_client(const char *cert, const char *key, const char *ca, const char *expect_name,
	struct tls_ctx **out, struct paso_diag *d);
void tls_ctx_free(struct tls_ctx *ctx);

/*
 * Listens on host:port (port 0 = ephemeral); sets *fdp and the bound port. Loopback hosts are
 * what tests and the demo use. Returns 0 or PASO_E_IO with d naming the address.
 */
int tls_listen(const char *host, uint16_t port, int *fdp, uint16_t *boundp, struct paso_diag *d);

/*
 * Server side: runs the handshake on an accepted socket (takes ownership of fd in all cases).
 * Client side: connects to host:port and runs the handshake. timeout_ms bounds connect,
 * handshake and every later read/write (0 = none). Caller owns *out (tls_conn_free).
 * Returns 0, PASO_E_IO, PASO_E_TLS or PASO_E_CERT (peer certificate refused).
 */
int tls_accept(
	struct tls_ctx *ctx, int fd, int timeout_ms, struct tls_conn **out, struct paso_diag *d);
int tls_connect(struct tls_ctx *ctx, const char *host, uint16_t port, int timeout_ms,
	struct tls_conn **out, struct paso_diag *d);
void tls_conn_free(struct tls_conn *c);
/*
 * Frees c's TLS state without a close_notify and hands its socket to the caller (who closes
 * it). For a connection refused and held open: the socket costs a descriptor, no TLS memory.
 */
int tls_conn_take_fd(struct tls_conn *c);

/*
 * The server handshake without blocking, for one thread driving many sockets with poll():
 * tls_accept_begin takes fd (owned from here on, in all cases) and makes it non-blocking;
 * tls_accept_step advances the handshake and returns 1 with *eventsp (POLLIN or POLLOUT) to
 * wait for, 0 when done (the peer's certificate verified and named), or PASO_E_TLS or
 * PASO_E_CERT. No deadline of its own: the caller keeps the clock. Then
 * tls_conn_set_blocking hands the connection to a thread with timeout_ms per read/write.
 */
int tls_accept_begin(struct tls_ctx *ctx, int fd, struct tls_conn **out, struct paso_diag *d);
int tls_accept_step(struct tls_conn *c, short *eventsp, struct paso_diag *d);
int tls_conn_set_blocking(struct tls_conn *c, int timeout_ms);

/*
 * An absolute deadline, ms from now (0 clears it), for the reads of tls_read_frame: a frame
 * whose first byte has arrived must be complete by then (PASO_E_TIMEOUT, "timed out").
 */
void tls_conn_set_deadline(struct tls_conn *c, int ms);

/* The socket, for poll(); and whether TLS holds bytes not yet read, decrypted or read ahead
 * from the socket (poll won't see them): ask it before polling. */
int tls_conn_fd(const struct tls_conn *c);
int tls_conn_has_pending(const struct tls_conn *c);

/* The common name of the peer's verified certificate (borrowed until tls_conn_free). */
const char *tls_conn_peer(const struct tls_conn *c);

/*
 * 1 if the peer's verified certificate was signed by the CA certificate in the PEM file
 * ca_path, else 0 (also when the file cannot be read). For a listener that trusts several
 * CAs: the name a peer claims must come from the CA pinned for that name.
 */
int tls_conn_peer_issued_by(const struct tls_conn *c, const char *ca_path)
	__attribute__((warn_unused_result));

/*
 * Reads one frame: checks the length prefix against max before allocating, then reads the
 * payload (length 0 is a frame: *lenp 0, a 1-byte buffer). Caller owns *payloadp (free(), or
 * frame_wipe_free when it may hold biometrics). Returns 0; PASO_E_PEER_CLOSED on a close before
 * a header; PASO_E_FRAME_TRUNCATED when the stream ends inside a frame, with or without a TLS
 * close_notify; PASO_E_FRAME_TOO_LARGE, PASO_E_TIMEOUT ("timed out", naming the deadline),
 * PASO_E_TLS.
 */
int tls_read_frame(struct tls_conn *c, uint32_t max, uint8_t **payloadp, uint32_t *lenp,
	struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * As tls_read_frame, into a buffer the caller keeps from frame to frame (*bufp of *capp bytes,
 * both 0 at first): it is replaced by a larger one only when a frame does not fit, the old one
 * wiped (frame_wipe_free). A connection reading frame after frame so allocates once, not once
 * a frame. The caller wipes the *lenp bytes it read when done with them, and frees *bufp with
 * frame_wipe_free at the end. Same returns as tls_read_frame, and PASO_E_NOMEM.
 */
int tls_read_frame_into(struct tls_conn *c, uint32_t max, uint8_t **bufp, size_t *capp,
	uint32_t *lenp, struct paso_diag *d);

/* Writes all of buf. Returns 0, PASO_E_PEER_CLOSED, PASO_E_TIMEOUT or PASO_E_TLS. */
int tls_write_all(struct tls_conn *c, const uint8_t *buf, size_t len);

/* Sends close_notify and shuts the socket down for writing; reads may still drain. */
void tls_conn_shutdown(struct tls_conn *c);

#endif
