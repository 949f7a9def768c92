/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hub under the full connection flood: 1,000 idle TCP sockets that never speak TLS, 100
 * slowloris connections (a frame header, then a byte a second) and 256 silent TLS connections
 * on one stolen certificate, the attacker reopening whatever the hub drops (PASO_FLOOD=S,N for
 * a smaller one). The attacker is one poll-driven thread, as one on other machines would cost
 * the hub's machine nothing. Meanwhile a real kiosk on its own certificate, retrying a refused
 * connection as paso-kiosk does, is answered in under 1 s every round, and the hub's peak memory
 * stays bounded. The hub's log says "timed out" for each deadline that fired, and "refused" for
 * each limit.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "client.h"
#include "errors.h"
#include "harness.h"
#include "tls.h"

#define IDLE_SOCKETS 1000
#define SLOWLORIS 100
#define SILENT 256

static struct deployment dep;
static atomic_int stop_attack;
static atomic_uint tls_open, idle_open;
static double last_connect; /* the last round's connect and handshake, seconds */

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The attacker: one thread driving every socket with poll(), non-blocking TCP and non-blocking
 * OpenSSL clients, as an attacker on other machines would: it costs this machine one core at
 * most, not a thread per connection. Whatever the hub closes is opened again 50 ms later.
 */
enum att_kind { ATT_IDLE, ATT_SLOW, ATT_SILENT };
enum att_state { ATT_DOWN, ATT_CONNECTING, ATT_HANDSHAKE, ATT_UP };

struct att {
	enum att_kind kind;
	enum att_state state;
	int fd;
	SSL *ssl;
	short want;    /* what the handshake waits for */
	double next;   /* ATT_DOWN: reopen then; ATT_UP slowloris: next byte then */
	int sent_hdr;
};

struct attack {
	SSL_CTX *slow_ctx, *silent_ctx;
	struct att *a;
	struct pollfd *pf;
	unsigned n;
};

static SSL_CTX *
attacker_ctx(const char *name)
{
	char cert[1024], key[1024], ca[1024];
	SSL_CTX *ctx;

	(void)snprintf(cert, sizeof(cert), "%s/kiosks/%s.crt", dep.hub, name);
	(void)snprintf(key, sizeof(key), "%s/kiosks/%s.key", dep.hub, name);
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", dep.hub);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

static void
att_down(struct att *a, double now)
{
	if (a->ssl != NULL)
		SSL_free(a->ssl);
	if (a->fd >= 0)
		close(a->fd);
	a->ssl = NULL;
	a->fd = -1;
	a->state = ATT_DOWN;
	a->next = now + 0.05;
	a->sent_hdr = 0;
}

static void
att_open(struct attack *k, struct att *a, double now)
{
	struct sockaddr_in sa;

	if ((a->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		a->next = now + 0.05;
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(dep.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(a->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
		att_down(a, now);
		return;
	}
	a->state = ATT_CONNECTING;
	if (a->kind == ATT_IDLE)
		return;
	a->ssl = SSL_new(a->kind == ATT_SLOW ? k->slow_ctx : k->silent_ctx);
	if (a->ssl == NULL || SSL_set_fd(a->ssl, a->fd) != 1 ||
		SSL_set1_host(a->ssl, "paso-hub") != 1)
		att_down(a, now);
}

/* Moves one socket on after poll() said it is ready (or its timer came). */
static void
att_step(struct att *a, short revents, double now)
{
	const uint8_t hdr[4] = {0, 0, 0, 200};
	uint8_t buf[512];
	int r, e, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (a->state == ATT_CONNECTING) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			att_down(a, now);
			return;
		}
		if (a->kind == ATT_IDLE) {
			a->state = ATT_UP;
			return;
		}
		a->state = ATT_HANDSHAKE;
		revents = POLLIN | POLLOUT;
	}
	if (a->state == ATT_HANDSHAKE) {
		if ((r = SSL_connect(a->ssl)) == 1) {
			a->state = ATT_UP;
			a->next = now;
		} else {
			e = SSL_get_error(a->ssl, r);
			ERR_clear_error();
			if (e == SSL_ERROR_WANT_READ)
				a->want = POLLIN;
			else if (e == SSL_ERROR_WANT_WRITE)
				a->want = POLLOUT;
			else
				att_down(a, now);
			return;
		}
	}
	if (a->state != ATT_UP)
		return;
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		if (a->kind == ATT_IDLE) {
			if (recv(a->fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0) {
				att_down(a, now);
				return;
			}
		} else {
			/* Anything from the hub here is its close_notify (or an error): reopen. */
			r = SSL_read(a->ssl, buf, sizeof(buf));
			e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(a->ssl, r);
			ERR_clear_error();
			if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
				att_down(a, now);
				return;
			}
		}
	}
	/* Slowloris: a frame header announcing 200 bytes, then one byte a second. */
	if (a->kind == ATT_SLOW && now >= a->next) {
		r = a->sent_hdr ? SSL_write(a->ssl, "x", 1) : SSL_write(a->ssl, hdr, sizeof(hdr));
		ERR_clear_error();
		if (r <= 0) {
			att_down(a, now);
			return;
		}
		a->sent_hdr = 1;
		a->next = now + 1.0;
	}
}

static void *
attacker(void *arg)
{
	struct attack *k = arg;
	unsigned i, idle, tls;
	double now, wake;
	int timeout;

	for (i = 0; i < k->n; i++)
		att_open(k, &k->a[i], mono());
	while (!atomic_load(&stop_attack)) {
		now = mono();
		wake = now + 0.1;
		for (i = 0; i < k->n; i++) {
			struct att *a = &k->a[i];

			k->pf[i].fd = a->fd;
			k->pf[i].revents = 0;
			k->pf[i].events = a->state == ATT_CONNECTING ? POLLOUT
				: a->state == ATT_HANDSHAKE	    ? a->want
								    : POLLIN;
			if ((a->state == ATT_DOWN || (a->kind == ATT_SLOW && a->state == ATT_UP)) &&
				a->next < wake)
				wake = a->next;
		}
		timeout = wake > now ? (int)((wake - now) * 1000) + 1 : 0;
		(void)poll(k->pf, k->n, timeout);
		now = mono();
		idle = tls = 0;
		for (i = 0; i < k->n; i++) {
			struct att *a = &k->a[i];

			if (a->state == ATT_DOWN) {
				if (now >= a->next)
					att_open(k, a, now);
			} else if (k->pf[i].revents != 0 ||
				   (a->kind == ATT_SLOW && a->state == ATT_UP))
				att_step(a, k->pf[i].revents, now);
			if (a->state == ATT_UP) {
				idle += a->kind == ATT_IDLE;
				tls += a->kind != ATT_IDLE;
			}
		}
		atomic_store(&idle_open, idle);
		atomic_store(&tls_open, tls);
	}
	for (i = 0; i < k->n; i++)
		att_down(&k->a[i], 0);
	return NULL;
}

/* One enrolment by the real kiosk, connecting afresh; seconds until its Ack. */
static double
real_kiosk_round(uint32_t person, uint64_t seq)
{
	double t0 = mono(), backoff = 0.05;
	struct tls_conn *c = NULL;
	Paso__Envelope env, *a = NULL;
	int rc;

	/* Retry a refused connection as paso-kiosk does: short exponential backoff. */
	while ((c = c_connect(dep.hub, "kiosk-ciudad-hidalgo", dep.port, &rc)) == NULL) {
		if (mono() - t0 > 30) {
			fprintf(stderr, "real kiosk: connect failing: %s\n", paso_errname(rc));
			return 99;
		}
		usleep((useconds_t)(backoff * 1e6));
		backoff = backoff * 2 > 0.4 ? 0.4 : backoff * 2;
	}
	last_connect = mono() - t0;
	c_make_enroll(&env, "kiosk-ciudad-hidalgo", seq, person);
	if (c_send(c, &env) == 0)
		a = c_recv(c);
	c_free_enroll(&env);
	tls_conn_free(c);
	if (a == NULL || a->body_case != PASO__ENVELOPE__BODY_ACK) {
		if (a != NULL)
			paso__envelope__free_unpacked(a, NULL);
		return 98;
	}
	paso__envelope__free_unpacked(a, NULL);
	return mono() - t0;
}

static long
hub_rss_kb(const char *field)
{
	char path[64], *st, *p;
	long kb = -1;

	char buf[4096];
	size_t n;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)dep.hub_pid);
	/* /proc files have no size: read them, do not seek them */
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	st = buf;
	if ((p = strstr(st, field)) != NULL)
		kb = strtol(p + strlen(field), NULL, 10);
	return kb;
}

static void
test_flood(void **state)
{
	const char *const limits[] = {"--handshake-timeout", "5000", "--frame-timeout", "3000",
		"--idle-timeout", "4000", NULL};
	struct attack k = {0};
	pthread_t att_th;
	double worst = 0, t, t_end, base = 0, bound;
	long hwm0, hwm;
	char *log;
	unsigned j;
	int i, n = 0, nslow = SLOWLORIS, nsilent = SILENT;

	(void)state;
	/*
	 * The full flood by default: 1,000 idle sockets, 100 slowloris connections and 256 silent
	 * ones on one stolen certificate (both past the per-certificate limit of 8, so every
	 * control fires). PASO_FLOOD=slowloris,silent runs a smaller one.
	 */
	if (getenv("PASO_FLOOD") != NULL &&
		(sscanf(getenv("PASO_FLOOD"), "%d,%d", &nslow, &nsilent) != 2 || nslow < 0 ||
			nslow > SLOWLORIS || nsilent < 0 || nsilent > SILENT))
		fail_msg("PASO_FLOOD=slowloris,silent, at most %d,%d", SLOWLORIS, SILENT);
	h_deploy(&dep, NULL);
	{
		const char *a1[] = {
			"paso-hub", "issue", dep.hub, "--kiosk", "kiosk-stolen-a", NULL};
		const char *a2[] = {
			"paso-hub", "issue", dep.hub, "--kiosk", "kiosk-stolen-b", NULL};
		assert_int_equal(h_run(NULL, a1), 0);
		assert_int_equal(h_run(NULL, a2), 0);
	}
	h_hub_start_ex(&dep, 0, limits);
	/* before the attack: the hub's footprint and a real kiosk's time (worst of 3) */
	for (i = 0; i < 3; i++) {
		t = real_kiosk_round(290 + (uint32_t)i, 1000 + (uint64_t)i);
		base = t > base ? t : base;
	}
	fprintf(stderr, "before the attack: answered in at most %.3f s\n", base);
	hwm0 = hub_rss_kb("VmHWM:");
	assert_non_null(k.slow_ctx = attacker_ctx("kiosk-stolen-b"));
	assert_non_null(k.silent_ctx = attacker_ctx("kiosk-stolen-a"));
	k.n = IDLE_SOCKETS + (unsigned)nslow + (unsigned)nsilent;
	assert_non_null(k.a = calloc(k.n, sizeof(*k.a)));
	assert_non_null(k.pf = calloc(k.n, sizeof(*k.pf)));
	for (j = 0; j < k.n; j++) {
		k.a[j].fd = -1;
		k.a[j].kind = j < IDLE_SOCKETS		       ? ATT_IDLE
			: j < IDLE_SOCKETS + (unsigned)nslow ? ATT_SLOW
							     : ATT_SILENT;
	}
	assert_int_equal(pthread_create(&att_th, NULL, attacker, &k), 0);
	sleep(2);
	/* 12 s of attack: the handshake, frame and idle deadlines all fire at least once */
	t_end = mono() + 12;
	n = 0;
	while (mono() < t_end) {
		t = real_kiosk_round(301 + (uint32_t)n, 2 + (uint64_t)n);
		n++;
		if (t > worst)
			worst = t;
		fprintf(stderr,
			"round %d: answered in %.3f s (connected in %.3f s; attacker's idle sockets "
			"%u, TLS %u)\n",
			n, t, last_connect, atomic_load(&idle_open), atomic_load(&tls_open));
		usleep(300000);
	}
	/* Under a starved machine the deadlines may fire late: wait up to 30 s for each. */
	{
		const char *want[] = {"handshakes timed out",
			"connections on this certificate already",
			"frame not complete within 3000 ms"};
		double until = mono() + 30;
		size_t w;

		for (w = 0; w < sizeof(want) / sizeof(want[0]); w++)
			while (mono() < until) {
				int seen;

				if ((log = h_read_file(dep.log, NULL)) == NULL)
					break;
				seen = strstr(log, want[w]) != NULL;
				free(log);
				if (seen)
					break;
				usleep(200000);
			}
	}
	hwm = hub_rss_kb("VmHWM:");
	fprintf(stderr,
		"%d rounds under attack, worst %.3f s; hub peak RSS %ld kB before, %ld kB after\n",
		n, worst, hwm0, hwm);
	atomic_store(&stop_attack, 1);
	if ((log = h_read_file(dep.log, NULL)) != NULL) {
		size_t len = strlen(log);

		fprintf(stderr, "hub log (end):\n%s\n", len > 3000 ? log + len - 3000 : log);
		free(log);
	}
	pthread_join(att_th, NULL);
	SSL_CTX_free(k.slow_ctx);
	SSL_CTX_free(k.silent_ctx);
	free(k.a);
	free(k.pf);
	assert_true(n >= 3);
	/*
	 * Under 1 s every round, as the issue asks; only on a machine so loaded that a kiosk
	 * already needs more than 0.1 s without any attack, within 10 times that. A hub that lets
	 * the flood lock kiosks out fails either way (a refused kiosk takes seconds and more).
	 */
	bound = base * 10 > 1.0 ? base * 10 : 1.0;
	fprintf(stderr, "worst %.3f s against a bound of %.3f s\n", worst, bound);
	assert_true(worst < bound);
	/* 2,048 handshakes in progress at most, refused sockets held without TLS state (not
	 * under AddressSanitizer, whose shadow memory and quarantine make the hub's peak RSS
	 * several times what it holds) */
	assert_true(hwm > 0);
#ifndef __SANITIZE_ADDRESS__
	assert_true(hwm < 64 * 1024);
#endif
	/* what fired, said as such */
	assert_non_null(log = h_read_file(dep.log, NULL));
	assert_non_null(strstr(log, "handshakes timed out"));
	if (nslow > 8 || nsilent > 8)
		assert_non_null(strstr(log, "connections on this certificate already"));
	if (nslow > 0)
		assert_non_null(strstr(log, "frame not complete within 3000 ms"));
	assert_null(strstr(log, "Resource temporarily unavailable"));
	free(log);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	h_cleanup(&dep);
}

/* A TLS connection that sends nothing after its handshake is closed, and the log says why. */
static void
test_idle_closed(void **state)
{
	const char *const limits[] = {"--idle-timeout", "1000", NULL};
	struct tls_conn *c;
	struct pollfd pf;
	double t0;
	char *log, b;
	int rc;

	(void)state;
	atomic_store(&stop_attack, 0);
	h_deploy(&dep, NULL);
	h_hub_start_ex(&dep, 0, limits);
	assert_non_null(c = c_connect(dep.hub, "kiosk-talisman", dep.port, &rc));
	t0 = mono();
	pf.fd = tls_conn_fd(c);
	pf.events = POLLIN;
	assert_int_equal(poll(&pf, 1, 5000), 1);
	assert_true(recv(pf.fd, &b, 1, 0) >= 0);
	fprintf(stderr, "silent connection closed after %.2f s\n", mono() - t0);
	assert_true(mono() - t0 >= 0.9 && mono() - t0 < 3);
	tls_conn_free(c);
	assert_non_null(log = h_read_file(dep.log, NULL));
	assert_non_null(
		strstr(log, "kiosk kiosk-talisman: no frame for 1000 ms: timed out; closing"));
	free(log);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	h_cleanup(&dep);
}

/*
 * A full handshake table makes room for a newcomer by dropping the socket that has waited
 * longest without a byte: 40 idle sockets against a table of 4 cannot keep a kiosk out.
 * Without it the kiosk's connection would be refused until the idle ones time out (30 s here).
 */
static void
test_idle_sockets_make_room(void **state)
{
	const char *const limits[] = {"--max-unauth", "4", "--handshake-timeout", "30000", NULL};
	struct sockaddr_in sa;
	int fds[40], i, rc;
	struct tls_conn *c;
	double t0;
	char *log;

	(void)state;
	h_deploy(&dep, NULL);
	h_hub_start_ex(&dep, 0, limits);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(dep.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < 40; i++) {
		assert_true((fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	usleep(300000); /* the hub has taken them all from its listener */
	t0 = mono();
	c = c_connect(dep.hub, "kiosk-talisman", dep.port, &rc);
	fprintf(stderr, "kiosk connected in %.3f s past 40 idle sockets (table of 4): %s\n",
		mono() - t0, paso_errname(rc));
	assert_non_null(c);
	assert_true(mono() - t0 < 5);
	tls_conn_free(c);
	for (i = 0; i < 40; i++)
		close(fds[i]);
	sleep(1); /* the next summary line */
	assert_non_null(log = h_read_file(dep.log, NULL));
	assert_non_null(strstr(log, "silent ones dropped for newcomers"));
	free(log);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_closed),
		cmocka_unit_test(test_idle_sockets_make_room),
		cmocka_unit_test(test_flood),
	};
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	/* the attacker needs its 1,000 sockets, and so does the hub it starts */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
