/* SPDX-License-Identifier: Apache-2.0 */
/* TLS 1.3 with client certificates: OpenSSL errors are converted to PASO_E_* here, once. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "frame.h"

/* Bytes OpenSSL reads from a socket at once (read ahead): about 18 crossing frames. */
#define TLS_READ_BUFFER 65536

struct tls_ctx {
	SSL_CTX *ssl;
	char *expect_name;
};

struct tls_conn {
	SSL *ssl;
	int fd;
	int timeout_ms;       /* per read/write */
	uint64_t deadline_ms; /* CLOCK_MONOTONIC ms; 0 = none (tls_conn_set_deadline) */
	int deadline_for_ms;  /* what the deadline allowed, for the message */
	int rcv_ms;           /* SO_RCVTIMEO as set on fd, ms; 0 = none (blocks) */
	char peer[128];
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
ossl_diag(struct paso_diag *d, int code, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		(void)snprintf(buf, sizeof(buf), "%s", errno ? strerror(errno) : "no detail");
	ERR_clear_error();
	return paso_diag_set(d, code, "%s: %s", what, buf);
}

static int
ctx_common(const char *cert, const char *key, const char *ca, int server, struct tls_ctx **out,
	struct paso_diag *d)
{
	struct tls_ctx *ctx = NULL;
	int r;

	*out = NULL;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return PASO_E_NOMEM;
	ctx->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx->ssl == NULL) {
		r = ossl_diag(d, PASO_E_TLS, "SSL_CTX_new");
		goto out;
	}
	if (!SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_3_VERSION) ||
		!SSL_CTX_set_max_proto_version(ctx->ssl, TLS1_3_VERSION)) {
		r = ossl_diag(d, PASO_E_TLS, "TLS 1.3 only");
		goto out;
	}
	/*
	 * A stream that ends without close_notify is an ordinary end of input for framing: the
	 * reader reports FRAME_TRUNCATED (or a close between frames) and the hub can still answer
	 * on its half, instead of OpenSSL failing the connection with a decode-error alert.
	 * Truncation attacks do not apply: every message is length-prefixed.
	 */
	SSL_CTX_set_options(ctx->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_use_certificate_chain_file(ctx->ssl, cert) != 1) {
		r = ossl_diag(d, PASO_E_CERT, cert);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx->ssl, key, SSL_FILETYPE_PEM) != 1) {
		r = ossl_diag(d, PASO_E_CERT, key);
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx->ssl) != 1) {
		r = ossl_diag(d, PASO_E_CERT, "certificate and key do not match");
		goto out;
	}
	if (SSL_CTX_load_verify_locations(ctx->ssl, ca, NULL) != 1) {
		r = ossl_diag(d, PASO_E_CERT, ca);
		goto out;
	}
	SSL_CTX_set_verify(ctx->ssl,
		server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx->ssl, 2);
	SSL_CTX_set_mode(ctx->ssl, SSL_MODE_AUTO_RETRY);
	/* Read ahead: one read(2) takes every record that has arrived (a kiosk keeps up to its
	 * window of frames in flight), where OpenSSL otherwise reads each record's 5-byte
	 * header and body in two calls. Buffered records are what tls_conn_has_pending
	 * reports, so a caller that polls the socket asks it first. */
	SSL_CTX_set_read_ahead(ctx->ssl, 1);
	SSL_CTX_set_default_read_buffer_len(ctx->ssl, TLS_READ_BUFFER);
	/* No session tickets: every connection proves its certificate afresh. */
	SSL_CTX_set_num_tickets(ctx->ssl, 0);
	SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_OFF);
	*out = ctx;
	ctx = NULL;
	r = 0;
out:
	tls_ctx_free(ctx);
	return r;
}

int
tls_ctx_new_server(const char *cert, const char *key, const char *ca, struct tls_ctx **out,
	struct paso_diag *d)
{
	return ctx_common(cert, key, ca, 1, out, d);
}

int
tls_ctx_new_client(const char *cert, const char *key, const char *ca, const char *expect_name,
	struct tls_ctx **out, struct paso_diag *d)
{
	int r;

	if ((r = ctx_common(cert, key, ca, 0, out, d)) != 0)
		return r;
	if (((*out)->expect_name = strdup(expect_name)) == NULL) {
		tls_ctx_free(*out);
		*out = NULL;
		return PASO_E_NOMEM;
	}
	return 0;
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl);
	free(ctx->expect_name);
	free(ctx);
}

int
tls_listen(const char *host, uint16_t port, int *fdp, uint16_t *boundp, struct paso_diag *d)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[8];
	int fd = -1, one = 1, r;

	*fdp = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	(void)snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	if ((r = getaddrinfo(host, portstr, &hints, &res)) != 0)
		return paso_diag_set(
			d, PASO_E_IO, "listen address '%s': %s", host, gai_strerror(r));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 ||
		getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		r = paso_diag_set(
			d, PASO_E_IO, "listen on %s:%u: %s", host, (unsigned)port, strerror(errno));
		goto out;
	}
	*boundp = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	*fdp = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return r;
}

static void
set_timeouts(int fd, int timeout_ms)
{
	struct timeval tv;
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (timeout_ms <= 0)
		return;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int
peer_name(struct tls_conn *c, struct paso_diag *d)
{
	X509 *x = SSL_get1_peer_certificate(c->ssl);
	size_t i;
	int n;

	if (x == NULL)
		return paso_diag_set(d, PASO_E_CERT, "peer sent no certificate");
	if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
		X509_free(x);
		return paso_diag_set(d, PASO_E_CERT, "peer certificate not verified: %s",
			X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
	}
	n = X509_NAME_get_text_by_NID(
		X509_get_subject_name(x), NID_commonName, c->peer, sizeof(c->peer));
	X509_free(x);
	if (n <= 0 || (size_t)n >= sizeof(c->peer))
		return paso_diag_set(d, PASO_E_CERT, "peer certificate has no usable common name");
	/* The name is logged and compared as text: nothing but a kiosk name's characters. */
	for (i = 0; i < (size_t)n; i++)
		if (!((c->peer[i] >= 'a' && c->peer[i] <= 'z') ||
			    (c->peer[i] >= 'A' && c->peer[i] <= 'Z') ||
			    (c->peer[i] >= '0' && c->peer[i] <= '9') || c->peer[i] == '.' ||
			    c->peer[i] == '_' || c->peer[i] == '-')) {
			c->peer[0] = '\0';
			return paso_diag_set(d, PASO_E_CERT,
				"peer certificate common name has a byte outside [A-Za-z0-9._-] at "
				"position %zu",
				i);
		}
	return 0;
}

static int
handshake_error(struct tls_conn *c, int ret, const char *what, struct paso_diag *d)
{
	int e = SSL_get_error(c->ssl, ret);
	long vr = SSL_get_verify_result(c->ssl);

	if (vr != X509_V_OK)
		return paso_diag_set(d, PASO_E_CERT, "%s: certificate refused: %s", what,
			X509_verify_cert_error_string(vr));
	/* a blocking socket's timeout: see read_full */
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
		(e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
		return paso_diag_set(d, PASO_E_TIMEOUT, "%s: timed out", what);
	return ossl_diag(d, PASO_E_TLS, what);
}

/* The handshake on a connected socket (owned from here on, in all cases), either side. */
static int
handshake(struct tls_ctx *ctx, int fd, int timeout_ms, int server, struct tls_conn **out,
	struct paso_diag *d)
{
	struct tls_conn *c = NULL;
	int r, ret;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return PASO_E_NOMEM;
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	set_timeouts(fd, timeout_ms);
	c->rcv_ms = timeout_ms > 0 ? timeout_ms : 0;
	if ((c->ssl = SSL_new(ctx->ssl)) == NULL || SSL_set_fd(c->ssl, fd) != 1 ||
		(!server && SSL_set1_host(c->ssl, ctx->expect_name) != 1)) {
		r = ossl_diag(d, PASO_E_TLS, "SSL_new");
		goto out;
	}
	if ((ret = server ? SSL_accept(c->ssl) : SSL_connect(c->ssl)) != 1) {
		r = handshake_error(c, ret, server ? "handshake" : "handshake with hub", d);
		goto out;
	}
	if ((r = peer_name(c, d)) != 0)
		goto out;
	*out = c;
	c = NULL;
	r = 0;
out:
	tls_conn_free(c);
	return r;
}

int
tls_accept(struct tls_ctx *ctx, int fd, int timeout_ms, struct tls_conn **out, struct paso_diag *d)
{
	return handshake(ctx, fd, timeout_ms, 1, out, d);
}

int
tls_accept_begin(struct tls_ctx *ctx, int fd, struct tls_conn **out, struct paso_diag *d)
{
	struct tls_conn *c = NULL;
	int fl;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return PASO_E_NOMEM;
	}
	c->fd = fd;
	set_timeouts(fd, 0);
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
		(c->ssl = SSL_new(ctx->ssl)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		tls_conn_free(c);
		return ossl_diag(d, PASO_E_TLS, "SSL_new");
	}
	SSL_set_accept_state(c->ssl);
	*out = c;
	return 0;
}

int
tls_accept_step(struct tls_conn *c, short *eventsp, struct paso_diag *d)
{
	int ret, e;

	*eventsp = 0;
	if ((ret = SSL_do_handshake(c->ssl)) == 1)
		return peer_name(c, d);
	e = SSL_get_error(c->ssl, ret);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		*eventsp = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return 1;
	}
	return handshake_error(c, ret, "handshake", d);
}

int
tls_conn_set_blocking(struct tls_conn *c, int timeout_ms)
{
	int fl;

	if ((fl = fcntl(c->fd, F_GETFL)) < 0 || fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
		return PASO_E_IO;
	c->timeout_ms = timeout_ms;
	set_timeouts(c->fd, timeout_ms);
	c->rcv_ms = timeout_ms > 0 ? timeout_ms : 0;
	return 0;
}

void
tls_conn_set_deadline(struct tls_conn *c, int ms)
{
	/* No system call here: read_full sets the socket's receive timeout when it must. */
	c->deadline_ms = ms > 0 ? mono_ms() + (uint64_t)ms : 0;
	c->deadline_for_ms = ms;
}

/*
 * Makes the socket's receive timeout want ms (0: none), or close enough: one that ends at most
 * a sixteenth later is kept. A hub reads every frame under a fresh deadline of the same length,
 * so in a steady stream the timeout set for the first frame serves all the next ones; setting
 * it before every read cost three system calls a read, and one of them took the socket lock.
 * Only reads move it: writes keep SO_SNDTIMEO at the connection's timeout.
 */
static void
want_rcv_timeout(struct tls_conn *c, int ms)
{
	struct timeval tv;

	if (c->rcv_ms == ms || (ms > 0 && c->rcv_ms >= ms && c->rcv_ms - ms <= ms / 16))
		return;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0)
		c->rcv_ms = ms;
	else
		c->rcv_ms = -1; /* unknown: set it again next time */
}

static int
connect_tcp(const char *host, uint16_t port, int timeout_ms, int *fdp, struct paso_diag *d)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[8];
	int fd = -1, r, err = 0;

	*fdp = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	(void)snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	if ((r = getaddrinfo(host, portstr, &hints, &res)) != 0)
		return paso_diag_set(d, PASO_E_IO, "hub address '%s': %s", host, gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			continue;
		set_timeouts(fd, timeout_ms);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return paso_diag_set(d, PASO_E_IO, "connect to %s:%u: %s", host, (unsigned)port,
			strerror(err ? err : ECONNREFUSED));
	*fdp = fd;
	return 0;
}

int
tls_connect(struct tls_ctx *ctx, const char *host, uint16_t port, int timeout_ms,
	struct tls_conn **out, struct paso_diag *d)
{
	int r, fd;

	*out = NULL;
	if ((r = connect_tcp(host, port, timeout_ms, &fd, d)) != 0)
		return r;
	return handshake(ctx, fd, timeout_ms, 0, out, d);
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int
tls_conn_take_fd(struct tls_conn *c)
{
	int fd = c->fd;

	c->fd = -1;
	SSL_free(c->ssl);
	free(c);
	return fd;
}

int
tls_conn_fd(const struct tls_conn *c)
{
	return c->fd;
}

int
tls_conn_has_pending(const struct tls_conn *c)
{
	return SSL_has_pending(c->ssl);
}

const char *
tls_conn_peer(const struct tls_conn *c)
{
	return c->peer;
}

/* Reads exactly len bytes. *gotp tells how many arrived before an error or EOF. */
static int
read_full(struct tls_conn *c, uint8_t *buf, size_t len, size_t *gotp)
{
	size_t got = 0, n;
	int e;

	*gotp = 0;
	while (got < len) {
		/* An absolute deadline: each read may wait only for what is left of it. */
		if (c->deadline_ms != 0) {
			uint64_t now = mono_ms();
			int left;

			if (now >= c->deadline_ms)
				return PASO_E_TIMEOUT;
			left = (int)(c->deadline_ms - now);
			want_rcv_timeout(c,
				c->timeout_ms > 0 && c->timeout_ms < left ? c->timeout_ms : left);
		} else {
			want_rcv_timeout(c, c->timeout_ms > 0 ? c->timeout_ms : 0);
		}
		if (SSL_read_ex(c->ssl, buf + got, len - got, &n) == 1) {
			got += n;
			*gotp = got;
			continue;
		}
		e = SSL_get_error(c->ssl, 0);
		ERR_clear_error();
		if (e == SSL_ERROR_ZERO_RETURN)
			return PASO_E_PEER_CLOSED;
		/* A blocking socket whose SO_RCVTIMEO expired: the BIO marks EAGAIN as "retry",
		 * so OpenSSL says WANT_READ (or, in some paths, SYSCALL with errno EAGAIN). */
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
			(e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
			return PASO_E_TIMEOUT;
		/* An EOF without close_notify is still the peer going away. */
		if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL)
			return got == 0 ? PASO_E_PEER_CLOSED : PASO_E_TLS;
		return PASO_E_TLS;
	}
	return 0;
}

/* Reads a frame's payload into *bufp (of *capp bytes; a larger one replaces it if need be). */
static int
read_frame(struct tls_conn *c, uint32_t max, uint8_t **bufp, size_t *capp, uint32_t *lenp,
	struct paso_diag *d)
{
	uint8_t hdr[FRAME_HEADER_BYTES], *buf;
	uint32_t len;
	size_t got;
	int r;

	*lenp = 0;
	if ((r = read_full(c, hdr, sizeof(hdr), &got)) != 0) {
		if (got > 0 && (r == PASO_E_PEER_CLOSED || r == PASO_E_TLS))
			return paso_diag_set(d, PASO_E_FRAME_TRUNCATED,
				"stream ended after %zu of 4 length-prefix bytes", got);
		if (r == PASO_E_TIMEOUT)
			return paso_diag_set(d, r,
				"frame not complete within %d ms, %zu of 4 length-prefix bytes: timed out",
				c->deadline_ms != 0 ? c->deadline_for_ms : c->timeout_ms, got);
		return paso_diag_set(d, r, "reading frame header: %s", paso_strerror(r));
	}
	if ((r = frame_header(hdr, max, &len, d)) != 0)
		return r;
	/* len may be 0 (an empty Envelope): still a buffer, so the caller's free is uniform. */
	if (*bufp == NULL || *capp < (len ? len : 1)) {
		if ((buf = malloc(len ? len : 1)) == NULL)
			return PASO_E_NOMEM;
		frame_wipe_free(*bufp);
		*bufp = buf;
		*capp = len ? len : 1;
	}
	if ((r = read_full(c, *bufp, len, &got)) != 0) {
		explicit_bzero(*bufp, got);
		if (r == PASO_E_PEER_CLOSED || r == PASO_E_TLS)
			return paso_diag_set(d, PASO_E_FRAME_TRUNCATED,
				"stream ended after %zu of %u payload bytes", got, len);
		if (r == PASO_E_TIMEOUT)
			return paso_diag_set(d, r,
				"frame not complete within %d ms, %zu of %u payload bytes: timed out",
				c->deadline_ms != 0 ? c->deadline_for_ms : c->timeout_ms, got, len);
		return paso_diag_set(d, r, "reading frame payload: %s", paso_strerror(r));
	}
	*lenp = len;
	return 0;
}

int
tls_read_frame(
	struct tls_conn *c, uint32_t max, uint8_t **payloadp, uint32_t *lenp, struct paso_diag *d)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	int r;

	*payloadp = NULL;
	*lenp = 0;
	if ((r = read_frame(c, max, &buf, &cap, lenp, d)) != 0) {
		frame_wipe_free(buf);
		return r;
	}
	*payloadp = buf;
	return 0;
}

int
tls_read_frame_into(struct tls_conn *c, uint32_t max, uint8_t **bufp, size_t *capp, uint32_t *lenp,
	struct paso_diag *d)
{
	return read_frame(c, max, bufp, capp, lenp, d);
}

int
tls_write_all(struct tls_conn *c, const uint8_t *buf, size_t len)
{
	size_t n;
	int e;

	while (len > 0) {
		if (SSL_write_ex(c->ssl, buf, len, &n) != 1) {
			e = SSL_get_error(c->ssl, 0);
			ERR_clear_error();
			/* SO_SNDTIMEO expired (see read_full) */
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
				(e == SSL_ERROR_SYSCALL &&
					(errno == EAGAIN || errno == EWOULDBLOCK)))
				return PASO_E_TIMEOUT;
			if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
				return PASO_E_PEER_CLOSED;
			return PASO_E_TLS;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

void
tls_conn_shutdown(struct tls_conn *c)
{
	if (c == NULL || c->ssl == NULL)
		return;
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	(void)shutdown(c->fd, SHUT_WR);
}

int
tls_conn_peer_issued_by(const struct tls_conn *c, const char *ca_path)
{
	X509 *peer = NULL, *ca = NULL;
	EVP_PKEY *pub = NULL;
	FILE *f;
	int ok = 0;

	if ((f = fopen(ca_path, "r")) == NULL)
		return 0;
	ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (ca == NULL || (peer = SSL_get1_peer_certificate(c->ssl)) == NULL)
		goto out;
	/* Both the issuer name and the signature: a CA with a copied name cannot pass. */
	if (X509_check_issued(ca, peer) == X509_V_OK && (pub = X509_get_pubkey(ca)) != NULL &&
		X509_verify(peer, pub) == 1)
		ok = 1;
out:
	ERR_clear_error();
	EVP_PKEY_free(pub);
	X509_free(peer);
	X509_free(ca);
	return ok;
}
