/* SPDX-License-Identifier: Apache-2.0 */
/* Kiosk connections: one thread each, reading frames and pipelining them into the commit loop. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
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
/*
 * A connection refused after its handshake (over a kiosk limit) is held this long before it is
 * closed: a client reopening at once would otherwise make the hub run handshakes in a loop,
 * and a stolen certificate would buy that CPU.
 */
#define REFUSE_HOLD_MS 5000

/* A connection still in its handshake: owned by the gate thread alone. */
struct pending {
	int fd;               /* the socket; TLS state only once it has sent something */
	struct tls_conn *tls;
	uint64_t deadline; /* CLOCK_MONOTONIC ms */
	short events;
};

/* Authenticated connections per certificate name (under mu). */
struct per_kiosk {
	char name[128];
	unsigned n;
};

/* What the gate refused or timed out since its last summary line. */
struct gate_counts {
	uint64_t timed_out, dropped, full, failed, per_kiosk, kiosks_full, suppressed;
	uint64_t since;      /* ms of the last summary */
	unsigned lines;      /* single lines logged this second */
};

struct server {
	struct server_config cfg;
	int listen_fd;
	uint16_t port;
	pthread_t acc;
	int started;
	pthread_mutex_t mu;
	unsigned nconns; /* authenticated, each on its own thread */
	struct per_kiosk *per;
	unsigned nper, capper;
	int stopping;
	/* the gate thread's own */
	struct pending *pend;
	unsigned npend;
	struct pollfd *pfds;
	struct pending *held; /* refused after the handshake, closed at their deadline */
	unsigned nheld;
	struct gate_counts gc;
	uint64_t listen_pause; /* out of descriptors: leave the listener until then */
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct conn {
	struct server *s;
	char name[128]; /* the certificate's, for the per-kiosk count */
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
	uint64_t v, last = mono_ms();
	int rc;

	for (;;) {
		if (flush_done(c) != 0 || stopping(s))
			break;
		/* Idle: no frame and nothing in flight for idle_ms. */
		if (c->count == 0 && mono_ms() - last >= (uint64_t)s->cfg.idle_ms) {
			hublog_printf(log, "kiosk %s: no frame for %d ms: timed out; closing",
				tls_conn_peer(c->tls), s->cfg.idle_ms);
			break;
		}
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
		/* Bytes are there: the whole frame must follow within frame_ms (slowloris). */
		tls_conn_set_deadline(c->tls, s->cfg.frame_ms);
		rc = tls_read_frame(c->tls, s->cfg.max_frame, &payload, &len, &d);
		tls_conn_set_deadline(c->tls, 0);
		last = mono_ms();
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

/* Takes name's count down (a connection ended, or was never started). */
static void
per_kiosk_release(struct server *s, const char *name)
{
	unsigned i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nper; i++)
		if (strcmp(s->per[i].name, name) == 0) {
			if (--s->per[i].n == 0)
				s->per[i] = s->per[--s->nper];
			break;
		}
	s->nconns--;
	pthread_mutex_unlock(&s->mu);
}

static void *
conn_thread(void *arg)
{
	struct conn *c = arg;
	struct server *s = c->s;
	struct deploy_paths p;
	struct paso_diag d = {0};

	if ((c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		goto out;
	if (deploy_paths(s->cfg.deploy_dir, &p, &d) != 0 ||
		deploy_kiosk_known(&p, tls_conn_peer(c->tls)) != 0)
		refuse_unknown(c);
	else
		serve_conn(c);
out:
	tls_conn_free(c->tls);
	if (c->efd >= 0)
		close(c->efd);
	per_kiosk_release(s, c->name);
	free(c);
	return NULL;
}

/* One line now, or counted into the next summary when lines come faster than 10 a second. */
static void
gate_log(struct server *s, const char *what, const char *detail)
{
	if (s->gc.lines >= 10) {
		s->gc.suppressed++;
		return;
	}
	s->gc.lines++;
	hublog_printf(s->cfg.log, "connection refused: %s%s%s", what, detail ? ": " : "",
		detail ? detail : "");
}

/* At most once a second: what the gate dropped, refused or timed out, as counts. */
static void
gate_summary(struct server *s, uint64_t now)
{
	struct gate_counts *g = &s->gc;

	if (now - g->since < 1000)
		return;
	if (g->timed_out || g->dropped || g->full || g->failed || g->per_kiosk ||
		g->kiosks_full || g->suppressed)
		hublog_printf(s->cfg.log,
			"connections in the last %.1f s: %llu handshakes timed out (limit %d ms), "
			"%llu dropped early and %llu refused (unauthenticated limit %u), %llu "
			"handshakes failed, %llu over the per-kiosk limit %u, %llu over the kiosk "
			"limit %u; %llu lines not shown",
			(double)(now - g->since) / 1000, (unsigned long long)g->timed_out,
			s->cfg.handshake_ms, (unsigned long long)g->dropped,
			(unsigned long long)g->full, s->cfg.max_unauth,
			(unsigned long long)g->failed, (unsigned long long)g->per_kiosk,
			s->cfg.max_per_kiosk, (unsigned long long)g->kiosks_full, s->cfg.max_conns,
			(unsigned long long)g->suppressed);
	memset(g, 0, sizeof(*g));
	g->since = now;
}

/*
 * A new socket: refused when the handshake table is full, dropped at random when it is filling
 * (OpenSSH's MaxStartups: from 3/4 full, 30 % rising to 100 %), else its handshake begins.
 */
static void
gate_admit(struct server *s, int fd, uint64_t now)
{
	unsigned begin = s->cfg.max_unauth - s->cfg.max_unauth / 4;

	if (s->npend >= s->cfg.max_unauth) {
		s->gc.full++;
		close(fd);
		return;
	}
	if (s->npend >= begin) {
		uint32_t p = 30 + 70 * (s->npend - begin) / (s->cfg.max_unauth - begin);

		if (randombytes_uniform(100) < p) {
			s->gc.dropped++;
			close(fd);
			return;
		}
	}
	/* A socket that never speaks costs a descriptor and this slot: no TLS state yet. */
	s->pend[s->npend].fd = fd;
	s->pend[s->npend].tls = NULL;
	s->pend[s->npend].deadline = now + (uint64_t)s->cfg.handshake_ms;
	s->pend[s->npend].events = POLLIN;
	s->npend++;
}

/* A finished handshake: counted against the kiosk limits, then a thread of its own. */
static void
gate_promote(struct server *s, struct tls_conn *tls)
{
	const char *name = tls_conn_peer(tls);
	struct conn *c = NULL;
	pthread_attr_t attr;
	pthread_t th;
	char why[200];
	unsigned i;

	/* The socket stays non-blocking until the thread takes it: the gate never waits. */
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		tls_conn_free(tls);
		return;
	}
	c->s = s;
	c->tls = tls;
	c->efd = -1;
	(void)snprintf(c->name, sizeof(c->name), "%s", name);
	pthread_mutex_lock(&s->mu);
	/* Counted under the lock server_stop takes: no connection starts after the stop. */
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		goto refuse;
	}
	if (s->nconns >= s->cfg.max_conns) {
		pthread_mutex_unlock(&s->mu);
		s->gc.kiosks_full++;
		(void)snprintf(why, sizeof(why), "%u kiosk connections already", s->cfg.max_conns);
		gate_log(s, name, why);
		goto refuse;
	}
	for (i = 0; i < s->nper && strcmp(s->per[i].name, name) != 0; i++)
		;
	if (i < s->nper && s->per[i].n >= s->cfg.max_per_kiosk) {
		pthread_mutex_unlock(&s->mu);
		s->gc.per_kiosk++;
		(void)snprintf(why, sizeof(why), "%u connections on this certificate already",
			s->cfg.max_per_kiosk);
		gate_log(s, name, why);
		goto refuse;
	}
	if (i == s->nper) {
		if (s->nper == s->capper) {
			struct per_kiosk *np;
			unsigned cap = s->capper ? s->capper * 2 : 64;

			if ((np = realloc(s->per, cap * sizeof(*np))) == NULL) {
				pthread_mutex_unlock(&s->mu);
				goto refuse;
			}
			s->per = np;
			s->capper = cap;
		}
		(void)snprintf(s->per[i].name, sizeof(s->per[i].name), "%s", name);
		s->per[i].n = 0;
		s->nper++;
	}
	s->per[i].n++;
	s->nconns++;
	pthread_mutex_unlock(&s->mu);
	if (tls_conn_set_blocking(tls, s->cfg.io_timeout_ms) != 0) {
		per_kiosk_release(s, c->name);
		goto refuse;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, conn_thread, c) != 0) {
		pthread_attr_destroy(&attr);
		per_kiosk_release(s, c->name);
		goto refuse;
	}
	pthread_attr_destroy(&attr);
	return;
refuse:
	/* The client sees its connection closed shortly after the handshake, and retries. */
	tls_conn_shutdown(tls);
	free(c);
	if (s->nheld < s->cfg.max_unauth) {
		s->held[s->nheld].tls = tls;
		s->held[s->nheld].deadline = mono_ms() + REFUSE_HOLD_MS;
		s->nheld++;
	} else
		tls_conn_free(tls);
}

/*
 * The gate: one thread accepts and drives every handshake with poll(), so a socket that never
 * speaks costs a descriptor and a slot in a table, not a thread; only authenticated kiosks get
 * threads of their own.
 */
/* Ends a pending connection: its TLS state if it has one, else the bare socket. */
static void
pending_drop(struct pending *p)
{
	if (p->tls != NULL)
		tls_conn_free(p->tls);
	else if (p->fd >= 0)
		close(p->fd);
	p->tls = NULL;
	p->fd = -1;
}

static void
pending_compact(struct server *s)
{
	unsigned i, keep;

	for (i = keep = 0; i < s->npend; i++)
		if (s->pend[i].fd >= 0)
			s->pend[keep++] = s->pend[i];
	s->npend = keep;
}

/* Most sockets taken from the listener per turn, so handshakes in progress keep moving. */
#define GATE_ACCEPT_BURST 256

static void *
accept_thread(void *arg)
{
	struct server *s = arg;
	struct pending *p;
	struct paso_diag d;
	uint64_t now, next;
	unsigned i, n, keep, burst;
	short ev;
	int fd, timeout, rc;

	s->gc.since = mono_ms();
	while (!stopping(s)) {
		now = mono_ms();
		next = now + 100;
		for (i = 0; i < s->npend; i++) {
			if (s->pend[i].deadline <= now) {
				s->gc.timed_out++;
				pending_drop(&s->pend[i]);
			} else if (s->pend[i].deadline < next)
				next = s->pend[i].deadline;
		}
		pending_compact(s);
		for (i = keep = 0; i < s->nheld; i++) {
			if (s->held[i].deadline <= now)
				tls_conn_free(s->held[i].tls);
			else {
				if (s->held[i].deadline < next)
					next = s->held[i].deadline;
				s->held[keep++] = s->held[i];
			}
		}
		s->nheld = keep;
		/* Out of descriptors, the listener stays readable: pause it rather than spin. */
		s->pfds[0].fd = now >= s->listen_pause ? s->listen_fd : -1;
		s->pfds[0].events = POLLIN;
		s->pfds[0].revents = 0;
		for (i = 0; i < s->npend; i++) {
			s->pfds[i + 1].fd = s->pend[i].fd;
			s->pfds[i + 1].events = s->pend[i].events;
			s->pfds[i + 1].revents = 0;
		}
		n = s->npend;
		timeout = next > now ? (int)(next - now) : 0;
		if (poll(s->pfds, n + 1, timeout) < 0 && errno != EINTR)
			break;
		now = mono_ms();
		for (i = 0; i < n; i++) {
			p = &s->pend[i];
			if (s->pfds[i + 1].revents == 0)
				continue;
			memset(&d, 0, sizeof(d));
			/* First bytes: only now does the socket get TLS state. */
			if (p->tls == NULL) {
				rc = tls_accept_begin(s->cfg.tls, p->fd, &p->tls, &d);
				if (rc != 0) {
					p->fd = -1; /* closed by tls_accept_begin */
					s->gc.failed++;
					continue;
				}
			}
			if ((rc = tls_accept_step(p->tls, &ev, &d)) == 1) {
				p->events = ev;
				continue;
			}
			if (rc == 0)
				gate_promote(s, p->tls);
			else {
				s->gc.failed++;
				gate_log(s, paso_errname(rc), d.msg);
				tls_conn_free(p->tls);
			}
			p->tls = NULL;
			p->fd = -1;
		}
		pending_compact(s);
		if (s->pfds[0].revents & POLLIN) {
			for (burst = 0; burst < GATE_ACCEPT_BURST; burst++) {
				if ((fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
					break;
				gate_admit(s, fd, now);
			}
			if (burst < GATE_ACCEPT_BURST &&
				(errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
					errno == ENOMEM)) {
				s->gc.full++;
				s->listen_pause = now + 100;
			}
		}
		if (now - s->gc.since >= 1000)
			s->gc.lines = 0;
		gate_summary(s, now);
	}
	for (i = 0; i < s->npend; i++)
		pending_drop(&s->pend[i]);
	s->npend = 0;
	for (i = 0; i < s->nheld; i++)
		tls_conn_free(s->held[i].tls);
	s->nheld = 0;
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
	if (s->cfg.handshake_ms <= 0)
		s->cfg.handshake_ms = 10000;
	if (s->cfg.max_unauth == 0)
		s->cfg.max_unauth = 1024;
	if (s->cfg.max_unauth < 4)
		s->cfg.max_unauth = 4;
	if (s->cfg.max_per_kiosk == 0)
		s->cfg.max_per_kiosk = 8;
	if (s->cfg.frame_ms <= 0)
		s->cfg.frame_ms = 10000;
	if (s->cfg.idle_ms <= 0)
		s->cfg.idle_ms = 300000;
	if ((s->pend = calloc(s->cfg.max_unauth, sizeof(*s->pend))) == NULL ||
		(s->pfds = calloc(s->cfg.max_unauth + 1, sizeof(*s->pfds))) == NULL ||
		(s->held = calloc(s->cfg.max_unauth, sizeof(*s->held))) == NULL) {
		server_close(s);
		return PASO_E_NOMEM;
	}
	if ((r = tls_listen(cfg->host, cfg->port, &s->listen_fd, &s->port, d)) != 0) {
		server_close(s);
		return r;
	}
	/* The gate accepts until the queue is empty: the listener must not block it. */
	if (fcntl(s->listen_fd, F_SETFL, fcntl(s->listen_fd, F_GETFL) | O_NONBLOCK) != 0) {
		server_close(s);
		return paso_diag_set(d, PASO_E_IO, "listener: %s", strerror(errno));
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
	free(s->per);
	free(s->pend);
	free(s->pfds);
	free(s->held);
	free(s);
}
