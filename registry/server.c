/* SPDX-License-Identifier: Apache-2.0 */
/* Kiosk connections: one thread each, reading frames, validating, pipelining into the commit loop. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "deploy.h"
#include "frame.h"
#include "hub_internal.h"
#include "ingest.h"

/* Requests one connection may have in the commit loop at once: bounds memory per kiosk. */
#define CONN_MAX_INFLIGHT 64

struct conn {
	struct hub *h;
	struct tls_conn *tls;
	int efd; /* the commit loop wakes us when a group is done */
	struct request *inflight[CONN_MAX_INFLIGHT];
	unsigned head, count; /* ring of requests in submission order */
	int write_failed;     /* the peer is gone: answers are only freed from now on */
};

static void
request_free(struct request *r)
{
	if (r == NULL)
		return;
	if (r->env != NULL)
		paso__envelope__free_unpacked(r->env, NULL);
	bio_sample_clear(&r->sample);
	match_template_free(r->probe);
	free(r->reply);
	free(r);
}

/* Builds a request from one frame (or from a read error), validating what can be validated. */
static struct request *
request_from(struct conn *c, const uint8_t *payload, uint32_t len, const struct paso_diag *readerr)
{
	struct request *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->conn = c;
	(void)snprintf(r->kiosk, sizeof(r->kiosk), "%s", tls_conn_peer(c->tls));
	if (readerr != NULL) {
		r->err = *readerr;
		return r;
	}
	crypto_hash_sha256(r->digest, payload, len);
	r->has_digest = 1;
	if ((rc = frame_decode(payload, len, &r->env, &r->err)) != 0)
		return r;
	/* A failed check leaves its code and message in r->err: the commit loop refuses it. */
	if (ingest_check(r->env, r->kiosk, &r->sample, &r->err) != 0)
		return r;
	/* Template extraction is the costly part of matching; do it here, on this connection's
	 * thread, so the single commit loop only compares. Staged verification of a crossing
	 * starts with face and iris: its finger template is built only if they do not decide. */
	(void)match_template_new_ex(&r->sample,
		r->env->body_case == PASO__ENVELOPE__BODY_CROSSING &&
				policy_verify_staged(c->h->policy)
			? MATCH_FACE | MATCH_IRIS
			: MATCH_FINGER | MATCH_FACE | MATCH_IRIS,
		&r->probe, &r->err);
	return r;
}

void
conn_wake(struct conn *c)
{
	uint64_t one = 1;

	if (c != NULL && c->efd >= 0)
		(void)!write(c->efd, &one, sizeof(one));
}

/* Writes the answers that are ready, in order (frees them unwritten once the peer is gone).
 * Returns 0, or PASO_E_PEER_CLOSED after a failed write. */
static int
flush_done(struct conn *c)
{
	struct hub *h = c->h;
	struct request *r;
	int done;

	while (c->count > 0) {
		r = c->inflight[c->head];
		pthread_mutex_lock(&h->mu);
		done = r->done;
		pthread_mutex_unlock(&h->mu);
		if (!done)
			break;
		if (!c->write_failed && r->reply != NULL &&
			tls_write_all(c->tls, r->reply, r->reply_len) != 0)
			c->write_failed = 1;
		request_free(r);
		c->head = (c->head + 1) % CONN_MAX_INFLIGHT;
		c->count--;
	}
	return c->write_failed ? PASO_E_PEER_CLOSED : 0;
}

static void
submit(struct conn *c, struct request *r)
{
	c->inflight[(c->head + c->count) % CONN_MAX_INFLIGHT] = r;
	c->count++;
	hub_submit(c->h, r);
}

/* Waits (bounded) until the commit loop has answered everything this connection submitted. */
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
stopping(struct hub *h)
{
	int s;

	pthread_mutex_lock(&h->mu);
	s = h->stopping;
	pthread_mutex_unlock(&h->mu);
	return s;
}

static void
serve_conn(struct conn *c)
{
	struct hub *h = c->h;
	struct pollfd pf[2];
	struct paso_diag d;
	struct request *r;
	uint8_t *payload;
	uint32_t len;
	uint64_t v;
	int rc, closing = 0;

	while (!closing) {
		if (flush_done(c) != 0)
			break;
		if (stopping(h))
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
		rc = tls_read_frame(c->tls, h->cfg.max_frame, &payload, &len, &d);
		if (rc == PASO_E_PEER_CLOSED)
			break;
		if (rc == PASO_E_NOMEM || rc == PASO_E_TLS) {
			hub_logf(h, "kiosk %s: %s; closing", tls_conn_peer(c->tls), d.msg);
			break;
		}
		if (rc != 0) {
			/* Truncated, oversized or timed out: the stream cannot be resynchronised. */
			if (rc == PASO_E_TIMEOUT)
				d.code = rc = PASO_E_FRAME_TRUNCATED;
			hub_logf(h, "kiosk %s: %s (%s); closing after the answer",
				tls_conn_peer(c->tls), paso_errname(rc), d.msg);
			if ((r = request_from(c, NULL, 0, &d)) != NULL)
				submit(c, r);
			closing = 1;
			break;
		}
		r = request_from(c, payload, len, NULL);
		sodium_memzero(payload, len);
		free(payload);
		if (r == NULL)
			break;
		if (r->err.code != 0)
			hub_logf(h, "kiosk %s: refused %s: %s", r->kiosk, paso_errname(r->err.code),
				r->err.msg);
		submit(c, r);
	}
	drain(c);
	tls_conn_shutdown(c->tls);
}

/* Refuses a kiosk whose certificate the CA signed but this deployment does not know. */
static void
refuse_unknown(struct conn *c)
{
	struct request *r;
	struct paso_diag d;

	paso_diag_set(&d, PASO_E_UNKNOWN_KIOSK, "kiosk '%.64s' is not registered or was revoked",
		tls_conn_peer(c->tls));
	hub_logf(c->h, "%s", d.msg);
	if ((r = request_from(c, NULL, 0, &d)) == NULL)
		return;
	submit(c, r);
	drain(c);
	tls_conn_shutdown(c->tls);
}

struct accepted {
	struct hub *h;
	int fd;
};

static void *
conn_thread(void *arg)
{
	struct accepted *a = arg;
	struct hub *h = a->h;
	struct deploy_paths p;
	struct conn c;
	struct paso_diag d = {0};
	int rc;

	memset(&c, 0, sizeof(c));
	c.h = h;
	c.efd = -1;
	rc = tls_accept(h->tls, a->fd, h->cfg.io_timeout_ms, &c.tls, &d);
	free(a);
	if (rc != 0) {
		hub_logf(h, "connection refused: %s: %s", paso_errname(rc), d.msg);
		goto out;
	}
	if ((c.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		goto out;
	if (deploy_paths(h->dir, &p, &d) != 0 || deploy_kiosk_known(&p, tls_conn_peer(c.tls)) != 0)
		refuse_unknown(&c);
	else
		serve_conn(&c);
out:
	tls_conn_free(c.tls);
	if (c.efd >= 0)
		close(c.efd);
	pthread_mutex_lock(&h->mu);
	h->nconns--;
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int
server_accept_loop(struct hub *h, volatile sig_atomic_t *stop)
{
	struct pollfd pf;
	struct accepted *a;
	pthread_attr_t attr;
	pthread_t th;
	int fd;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!*stop) {
		pf.fd = h->listen_fd;
		pf.events = POLLIN;
		if (poll(&pf, 1, 200) <= 0)
			continue;
		if ((fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		pthread_mutex_lock(&h->mu);
		if (h->nconns >= h->cfg.max_conns) {
			pthread_mutex_unlock(&h->mu);
			hub_logf(h, "connection refused: %u connections already", h->cfg.max_conns);
			close(fd);
			continue;
		}
		h->nconns++;
		pthread_mutex_unlock(&h->mu);
		if ((a = malloc(sizeof(*a))) == NULL ||
			(a->h = h, a->fd = fd, pthread_create(&th, &attr, conn_thread, a)) != 0) {
			free(a);
			close(fd);
			pthread_mutex_lock(&h->mu);
			h->nconns--;
			pthread_mutex_unlock(&h->mu);
		}
	}
	pthread_attr_destroy(&attr);
	return 0;
}
