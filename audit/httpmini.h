/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal HTTP/1.1 client and server for plain-text transparency-log traffic on loopback. */
#ifndef PASO_HTTPMINI_H
#define PASO_HTTPMINI_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/*
 * Scope: one request per connection ("Connection: close"), bodies framed by Content-Length (or,
 * for responses, by the end of the connection), no TLS, no chunked encoding, no redirects.
 * Enough to fetch tlog-tiles from any static web server and to speak tlog-witness; meant for
 * 127.0.0.1 / ::1 or a trusted network, the content itself being signed.
 */
#define HTTPMINI_MAX_BODY (16u * 1024u * 1024u)

/* A parsed "http://HOST:PORT/PREFIX" base URL. */
struct httpmini_url {
	char host[64]; /* an IP literal or a name getaddrinfo resolves */
	char port[8];
	char prefix[256]; /* always ends in '/' */
};

/* Parses url (http:// only). Returns 0 or PASO_E_INVALID_ARG (d quotes the URL). */
int httpmini_parse_url(const char *url, struct httpmini_url *u, struct paso_diag *d);

struct httpmini_response {
	int status;
	char content_type[64];
	uint8_t *body; /* caller frees; NUL-terminated for convenience */
	size_t len;
};

/*
 * Sends one request (method "GET" or "POST", path beginning with '/', body may be NULL) and
 * reads the whole response (at most max bytes of body) within timeout_ms. Caller frees
 * resp->body. Returns 0 (any HTTP status), PASO_E_IO (cannot connect, reset, malformed
 * response), PASO_E_TIMEOUT, PASO_E_FRAME_TOO_LARGE or PASO_E_NOMEM; d names the server.
 */
int httpmini_request(const struct httpmini_url *u, const char *method, const char *path,
	const char *content_type, const uint8_t *body, size_t len, size_t max, int timeout_ms,
	struct httpmini_response *resp, struct paso_diag *d);

/* What a handler answers: body is malloc'd (the server frees it) or NULL. */
struct httpmini_reply {
	int status;
	const char *content_type; /* static string */
	char *body;
	size_t len;
};

/*
 * A request handler: called on the server thread, one request at a time, with the method, the
 * path (without query) and the body (borrowed until it returns). It fills reply.
 */
typedef void (*httpmini_handler)(void *ctx, const char *method, const char *path,
	const uint8_t *body, size_t len, struct httpmini_reply *reply);

struct httpmini_server;

/*
 * Listens on host:port (port "0" picks a free one; see httpmini_server_port) and serves on one
 * thread: each connection gets max_body bytes of request body at most and timeout_ms for its
 * whole request, then one answer, then close. Caller owns *out (httpmini_server_stop). Returns 0,
 * PASO_E_IO (cannot bind: d says why) or PASO_E_NOMEM.
 */
int httpmini_server_start(const char *host, const char *port, size_t max_body, int timeout_ms,
	httpmini_handler h, void *ctx, struct httpmini_server **out, struct paso_diag *d);
unsigned httpmini_server_port(const struct httpmini_server *s);
/* Stops accepting, joins the thread and frees s; accepts NULL. */
void httpmini_server_stop(struct httpmini_server *s);

/*
 * A handler serving the files under a directory (ctx: the directory path, borrowed) for GET,
 * as a plain static web server would: 404 for missing files or paths with "..", 405 otherwise.
 */
void httpmini_static_handler(void *ctx, const char *method, const char *path, const uint8_t *body,
	size_t len, struct httpmini_reply *reply);

#endif
