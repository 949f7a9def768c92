/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for net/: a deployment PKI and a real TLS 1.3 handshake on loopback, both ways refused. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "errors.h"
#include "pki.h"
#include "tls.h"

static char dir[64];

static void
path(char *out, size_t n, const char *name)
{
	(void)snprintf(out, n, "%s/%s", dir, name);
}

static int
setup(void **state)
{
	char ca[128], cak[128], c[128], k[128];
	struct paso_diag d = {0};

	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/paso-tls-XXXXXX");
	assert_non_null(mkdtemp(dir));
	path(ca, sizeof(ca), "ca.crt");
	path(cak, sizeof(cak), "ca.key");
	assert_int_equal(pki_create_ca(ca, cak, "Test CA", &d), 0);
	path(c, sizeof(c), "hub.crt");
	path(k, sizeof(k), "hub.key");
	assert_int_equal(pki_issue(ca, cak, "paso-hub", 1, c, k, &d), 0);
	path(c, sizeof(c), "k1.crt");
	path(k, sizeof(k), "k1.key");
	assert_int_equal(pki_issue(ca, cak, "kiosk-one", 0, c, k, &d), 0);
	path(ca, sizeof(ca), "other.crt");
	path(cak, sizeof(cak), "other.key");
	assert_int_equal(pki_create_ca(ca, cak, "Other CA", &d), 0);
	path(c, sizeof(c), "k2.crt");
	path(k, sizeof(k), "k2.key");
	assert_int_equal(pki_issue(ca, cak, "kiosk-one", 0, c, k, &d), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_keys_are_private_and_exclusive(void **state)
{
	char ca[128], cak[128], k[128];
	struct paso_diag d = {0};
	struct stat st;

	(void)state;
	path(k, sizeof(k), "k1.key");
	assert_int_equal(stat(k, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	path(ca, sizeof(ca), "ca.crt");
	path(cak, sizeof(cak), "ca.key");
	/* Issuing over an existing kiosk key is refused, naming the file. */
	path(k, sizeof(k), "k1.key");
	{
		char c[128];
		path(c, sizeof(c), "k1b.crt");
		assert_int_equal(pki_issue(ca, cak, "kiosk-one", 0, c, k, &d), PASO_E_EXISTS);
		assert_non_null(strstr(d.msg, "k1.key"));
	}
}

struct server {
	struct tls_ctx *ctx;
	int lfd;
	int rc;
	char peer[128];
	uint8_t got[16];
	uint32_t gotlen;
	int deadline_ms; /* a frame deadline for the read, 0 = none */
	char msg[512];   /* the read's diagnostic */
};

static void *
serve_one(void *arg)
{
	struct server *s = arg;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	uint8_t *p = NULL;
	int fd = accept(s->lfd, NULL, NULL);

	if ((s->rc = tls_accept(s->ctx, fd, 5000, &c, &d)) != 0)
		return NULL;
	(void)snprintf(s->peer, sizeof(s->peer), "%s", tls_conn_peer(c));
	if (s->deadline_ms > 0)
		tls_conn_set_deadline(c, s->deadline_ms);
	s->rc = tls_read_frame(c, 1024, &p, &s->gotlen, &d);
	(void)snprintf(s->msg, sizeof(s->msg), "%s", d.msg);
	if (s->rc == 0) {
		memcpy(s->got, p, s->gotlen < 16 ? s->gotlen : 16);
		free(p);
	}
	tls_conn_free(c);
	return NULL;
}

/*
 * Connects as client cert/key; returns the client's and the server's results. With stall_ms,
 * the client sends only the first 5 bytes of its frame, then waits that long before closing.
 */
static void
handshake_ex(const char *cert, const char *key, const char *expect, int deadline_ms, int stall_ms,
	int *client_rc, struct server *s)
{
	char ca[128], hc[128], hk[128], cc[128], ck[128];
	struct tls_ctx *cctx = NULL;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	pthread_t th;
	uint16_t port;
	const uint8_t frame[] = {0, 0, 0, 3, 'a', 'b', 'c'};

	path(ca, sizeof(ca), "ca.crt");
	path(hc, sizeof(hc), "hub.crt");
	path(hk, sizeof(hk), "hub.key");
	path(cc, sizeof(cc), cert);
	path(ck, sizeof(ck), key);
	memset(s, 0, sizeof(*s));
	s->deadline_ms = deadline_ms;
	assert_int_equal(tls_ctx_new_server(hc, hk, ca, &s->ctx, &d), 0);
	assert_int_equal(tls_listen("127.0.0.1", 0, &s->lfd, &port, &d), 0);
	pthread_create(&th, NULL, serve_one, s);
	assert_int_equal(tls_ctx_new_client(cc, ck, ca, expect, &cctx, &d), 0);
	*client_rc = tls_connect(cctx, "127.0.0.1", port, 5000, &c, &d);
	if (*client_rc == 0) {
		(void)tls_write_all(c, frame, stall_ms > 0 ? 5 : sizeof(frame));
		if (stall_ms > 0)
			usleep((useconds_t)stall_ms * 1000);
		tls_conn_shutdown(c);
	}
	pthread_join(th, NULL);
	tls_conn_free(c);
	tls_ctx_free(cctx);
	tls_ctx_free(s->ctx);
	close(s->lfd);
}

static void
handshake(const char *cert, const char *key, const char *expect, int *client_rc, struct server *s)
{
	handshake_ex(cert, key, expect, 0, 0, client_rc, s);
}

/*
 * A frame that stops arriving: the reader's deadline expires while it waits in SSL_read, and the
 * answer is "timed out", not a stream that ended (OpenSSL reports the socket timeout as
 * WANT_READ on a blocking socket).
 */
static void
test_frame_deadline_times_out(void **state)
{
	struct server s;
	int rc;

	(void)state;
	handshake_ex("k1.crt", "k1.key", "paso-hub", 300, 1500, &rc, &s);
	assert_int_equal(rc, 0);
	assert_int_equal(s.rc, PASO_E_TIMEOUT);
	assert_non_null(strstr(s.msg, "frame not complete within 300 ms, 1 of 3 payload bytes"));
}

static void
test_mutual_tls_and_a_frame(void **state)
{
	struct server s;
	int rc;

	(void)state;
	handshake("k1.crt", "k1.key", "paso-hub", &rc, &s);
	assert_int_equal(rc, 0);
	assert_int_equal(s.rc, 0);
	assert_string_equal(s.peer, "kiosk-one");
	assert_int_equal(s.gotlen, 3);
	assert_memory_equal(s.got, "abc", 3);
}

static void
test_client_from_other_ca_refused(void **state)
{
	struct server s;
	int rc;

	(void)state;
	/* The client trusts our CA, but its own certificate comes from another one. */
	handshake("k2.crt", "k2.key", "paso-hub", &rc, &s);
	assert_int_not_equal(s.rc, 0);
}

static void
test_client_checks_hub_name(void **state)
{
	struct server s;
	int rc;

	(void)state;
	handshake("k1.crt", "k1.key", "not-the-hub", &rc, &s);
	assert_int_equal(rc, PASO_E_CERT);
	assert_int_not_equal(s.rc, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_are_private_and_exclusive),
		cmocka_unit_test(test_mutual_tls_and_a_frame),
		cmocka_unit_test(test_client_from_other_ca_refused),
		cmocka_unit_test(test_client_checks_hub_name),
		cmocka_unit_test(test_frame_deadline_times_out),
	};
	/* The hub may close a refused connection before the client's write lands: that must be
	 * an error the test sees, not a signal that kills it. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
