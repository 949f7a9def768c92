/* SPDX-License-Identifier: Apache-2.0 */
/* Kiosk connections: one thread each, reading frames and pipelining them into the commit loop. */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "deploy.h"
#include "frame.h"

/* Requests one connection may have in the commit loop at once: bounds memory per kiosk. */
#define CONN_MAX_INFLIGHT 64

struct server {
	struct server_config cfg;
	int listen_fd;
	uint16_t port;
	pthread_t acc;
	int started;
	pthread_mutex_t mu;
	unsigned nconns;
	int stopping;
};

struct conn {
	struct server *s;
	struct tls_conn *tls;
	int efd; /* the commit loop wakes us when a group is done */
	struct loop_item *inflight[CONN_MAX_INFLIGHT];
	unsigned head, count; /* ring of requests in submission order */
	int write_failed;     /* the peer is gone: answers are only freed from now on */
};

static void
item_free(struct loop_item *it)
{
	if (it == NULL)
		return;
	decide_msg_clear(&it->msg);
	free(it);
}

/* Called by the loop with its lock held once an item is answered. */
static void
conn_wake(void *arg)
{
	struct conn *c = arg;
	uint64_t one = 1;

	if (c->efd >= 0)
		(void)!write(c->efd, &one, sizeof(one));
}

/* A message from one frame (or from a read error), prepared on this thread. */
static struct loop_item *
item_from(struct conn *c, const uint8_t *payload, uint32_t len, const struct paso_diag *readerr)
{
	struct loop_item *it;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		return NULL;
	if (decide_prepare(c->s->cfg.dc, tls_conn_peer(c->tls), payload, len, readerr,
		    &it->msg) != 0) {
		item_free(it);
		return NULL;
	}
	it->wake = conn_wake;
	it->wake_arg = c;
	return it;
}

/* Writes the answers that are ready, in order (frees them unwritten once the peer is gone).
 * Returns 0, or PASO_E_PEER_CLOSED after a failed write. */
static int
flush_done(struct conn *c)
{
	struct loop_item *it;

	while (c->count > 0) {
		it = c->inflight[c->head];
		if (!loop_item_done(c->s->cfg.loop, it))
			break;
		if (!c->write_failed && it->msg.reply != NULL &&
			tls_write_all(c->tls, it->msg.reply, it->msg.reply_len) != 0)
			c->write_failed = 1;
		item_free(it);
		c->head = (c->head + 1) % CONN_MAX_INFLIGHT;
		c->count--;
	}
	return c->write_failed ? PASO_E_PEER_CLOSED : 0;
}

static void
submit(struct conn *c, struct loop_item *it)
{
	c->inflight[(c->head + c->count) % CONN_MAX_INFLIGHT] = it;
	c->count++;
	loop_submit(c->s->cfg.loop, it);
}

/* Waits until the commit loop has answered everything this connection submitted. */
static void
drain(struct conn *c)
{
	struct pollfd pf;
	uint64_t v;

	for (;;) {
		(void)flush_done(c);
		if (c->count == 0)
			return;
		pf.fd = c->efd;
		pf.events = POLLIN;
		(void)poll(&pf, 1, 200);
		if (pf.revents & POLLIN)
			(void)!read(c->efd, &v, sizeof(v));
	}
}

static int
stopping(struct server *s)
{
	int st;

	pthread_mutex_lock(&s->mu);
	st = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return st;
}

static void
serve_conn(struct conn *c)
{
	struct server *s = c->s;
	const struct hublog *log = s->cfg.log;
	struct pollfd pf[2];
	struct paso_diag d;
	struct loop_item *it;
	uint8_t *payload;
	uint32_t len;
	uint64_t v;
	int rc;

	for (;;) {
		if (flush_done(c) != 0 || stopping(s))
			break;
		pf[0].fd = c->efd;
		pf[0].events = POLLIN;
		pf[1].fd = tls_conn_fd(c->tls);
		pf[1].events = c->count < CONN_MAX_INFLIGHT ? POLLIN : 0;
		if (!(c->count < CONN_MAX_INFLIGHT && tls_conn_has_pending(c->tls))) {
			pf[0].revents = pf[1].revents = 0;
			if (poll(pf, 2, 200) < 0 && errno != EINTR)
				break;
			if (pf[0].revents & POLLIN)
				(void)!read(c->efd, &v, sizeof(v));
			if (!(pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		}
		memset(&d, 0, sizeof(d));
		rc = tls_read_frame(c->tls, s->cfg.max_frame, &payload, &len, &d);
		if (rc == PASO_E_PEER_CLOSED)
			break;
		if (rc == PASO_E_NOMEM || rc == PASO_E_TLS) {
			hublog_printf(log, "kiosk %s: %s; closing", tls_conn_peer(c->tls), d.msg);
			break;
		}
		if (rc != 0) {
			/* Truncated, oversized or timed out: the stream cannot be resynchronised. */
			if (rc == PASO_E_TIMEOUT)
				d.code = rc = PASO_E_FRAME_TRUNCATED;
			hublog_printf(log, "kiosk %s: %s (%s); closing after the answer",
				tls_conn_peer(c->tls), paso_errname(rc), d.msg);
			if ((it = item_from(c, NULL, 0, &d)) != NULL)
				submit(c, it);
			break;
		}
		it = item_from(c, payload, len, NULL);
		frame_wipe_free(payload); /* the raw capture bytes */
		if (it == NULL)
			break;
		if (it->msg.err.code != 0)
			hublog_printf(log, "kiosk %s: refused %s: %s", it->msg.kiosk,
				paso_errname(it->msg.err.code), it->msg.err.msg);
		submit(c, it);
	}
	drain(c);
	tls_conn_shutdown(c->tls);
}

/* Refuses a kiosk whose certificate the CA signed but this deployment does not know. */
static void
refuse_unknown(struct conn *c)
{
	struct loop_item *it;
	struct paso_diag d;

	paso_diag_set(&d, PASO_E_UNKNOWN_KIOSK, "kiosk '%.64s' is not registered or was revoked",
		tls_conn_peer(c->tls));
	hublog_printf(c->s->cfg.log, "%s", d.msg);
	if ((it = item_from(c, NULL, 0, &d)) == NULL)
		return;
	submit(c, it);
	drain(c);
	tls_conn_shutdown(c->tls);
}

struct accepted {
	struct server *s;
	int fd;
};

static void *
conn_thread(void *arg)
{
	struct accepted *a = arg;
	struct server *s = a->s;
	struct deploy_paths p;
	struct conn c;
	struct paso_diag d = {0};
	int rc;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.efd = -1;
	rc = tls_accept(s->cfg.tls, a->fd, s->cfg.io_timeout_ms, &c.tls, &d);
	free(a);
	if (rc != 0) {
		hublog_printf(s->cfg.log, "connection refused: %s: %s", paso_errname(rc), d.msg);
		goto out;
	}
	if ((c.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		goto out;
	if (deploy_paths(s->cfg.deploy_dir, &p, &d) != 0 ||
		deploy_kiosk_known(&p, tls_conn_peer(c.tls)) != 0)
		refuse_unknown(&c);
	else
		serve_conn(&c);
out:
	tls_conn_free(c.tls);
	if (c.efd >= 0)
		close(c.efd);
	pthread_mutex_lock(&s->mu);
	s->nconns--;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void *
accept_thread(void *arg)
{
	struct server *s = arg;
	struct pollfd pf;
	struct accepted *a;
	pthread_attr_t attr;
	pthread_t th;
	int fd;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!stopping(s)) {
		pf.fd = s->listen_fd;
		pf.events = POLLIN;
		if (poll(&pf, 1, 100) <= 0)
			continue;
		if ((fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		pthread_mutex_lock(&s->mu);
		/* Counted here, under the lock that server_stop takes: no connection starts
		 * after the stop has been decided. */
		if (s->stopping || s->nconns >= s->cfg.max_conns) {
			int full = !s->stopping;

			pthread_mutex_unlock(&s->mu);
			if (full)
				hublog_printf(s->cfg.log, "connection refused: %u connections already",
					s->cfg.max_conns);
			close(fd);
			continue;
		}
		s->nconns++;
		pthread_mutex_unlock(&s->mu);
		if ((a = malloc(sizeof(*a))) == NULL ||
			(a->s = s, a->fd = fd, pthread_create(&th, &attr, conn_thread, a)) != 0) {
			free(a);
			close(fd);
			pthread_mutex_lock(&s->mu);
			s->nconns--;
			pthread_mutex_unlock(&s->mu);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

int
server_open(const struct server_config *cfg, struct server **out, struct paso_diag *d)
{
	struct server *s;
	int r;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PASO_E_NOMEM;
	s->cfg = *cfg;
	s->listen_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	if ((r = tls_listen(cfg->host, cfg->port, &s->listen_fd, &s->port, d)) != 0) {
		server_close(s);
		return r;
	}
	*out = s;
	return 0;
}

uint16_t
server_port(const struct server *s)
{
	return s->port;
}

int
server_start(struct server *s)
{
	if (pthread_create(&s->acc, NULL, accept_thread, s) != 0)
		return PASO_E_INTERNAL;
	s->started = 1;
	return 0;
}

void
server_stop(struct server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_mutex_unlock(&s->mu);
	if (s->started) {
		pthread_join(s->acc, NULL);
		s->started = 0;
	}
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		s->listen_fd = -1;
	}
}

unsigned
server_conns(struct server *s)
{
	unsigned n;

	pthread_mutex_lock(&s->mu);
	n = s->nconns;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void
server_close(struct server *s)
{
	if (s == NULL)
		return;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
