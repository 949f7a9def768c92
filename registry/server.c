/* SPDX-License-Identifier: Apache-2.0 */
/* Kiosk connections: one thread each, reading frames and pipelining them into the commit loop. */
#include "server.h"

#include <errno.h>
#include <stddef.h>
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
 * A connection refused after its handshake (over a kiosk limit) is held about this long, silent,
 * before its socket is closed: a client that reopens when the hub closes would otherwise make
 * the hub run handshakes in a loop, and a stolen certificate would buy that CPU. Only the
 * socket is held (its TLS state is freed at once), so holding costs a descriptor.
 */
#define REFUSE_HOLD_MS 5000
/*
 * Threads that accept and run handshakes, sharing the listener: each drives its share of the
 * handshake table with poll(). Two, so a flood of handshakes has both cores of a small hub and
 * a legitimate kiosk's handshake waits behind half the queue.
 */
#define GATE_THREADS 2

/* A connection still in its handshake: owned by the gate thread alone. */
struct pending {
	int fd; /* the socket; TLS state only once it has sent something */
	struct tls_conn *tls;
	uint64_t deadline; /* CLOCK_MONOTONIC ms */
	short events;
};

/* Authenticated connections per certificate name (under mu). */
struct per_kiosk {
	char name[128];
	unsigned n;
};

/* What the gates refused or timed out since the last summary line (under server.gmu). */
struct gate_counts {
	uint64_t timed_out, dropped, evicted, full, failed, per_kiosk, kiosks_full, suppressed;
	uint64_t since; /* ms of the last summary */
	unsigned lines; /* single lines logged this second */
};

/* A socket refused after its handshake, closed at its deadline. */
struct held {
	int fd;
	uint64_t deadline;
};

/* One gate thread's own state: nothing here is shared with another thread. */
struct gate {
	struct server *s;
	pthread_t th;
	int started;
	unsigned cap;         /* its share of max_unauth */
	struct pending *pend; /* in handshake */
	unsigned npend;
	struct pollfd *pfds;
	struct held *held;
	unsigned nheld;
	uint64_t listen_pause; /* out of descriptors: leave the listener until then */
};

struct server {
	struct server_config cfg;
	int listen_fd;
	uint16_t port;
	pthread_mutex_t mu;
	unsigned nconns; /* authenticated, each on its own thread */
	struct per_kiosk *per;
	unsigned nper, capper;
	int stopping;
	struct gate gates[GATE_THREADS];
	pthread_mutex_t gmu; /* the counts below */
	struct gate_counts gc;
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
	/* Answers gathered for one write: at most one TLS record's worth (16 KB), ~60 Acks. */
	uint8_t out[16384];
	size_t nout;
	struct loop_item *spare[CONN_MAX_INFLIGHT]; /* answered items, cleared, for reuse */
	unsigned nspare;
};

/* item_from zeroes a reused item from task on: msg must be all that comes before it. */
_Static_assert(offsetof(struct loop_item, msg) == 0 &&
		       offsetof(struct loop_item, task) <= sizeof(struct decide_msg) + 16,
	"struct loop_item: msg first, then task");

/* A connection's loop item with the arena its frame is decoded in (both reused). */
struct conn_item {
	struct loop_item it; /* first: the loop hands back &it */
	struct frame_arena *arena;
};

static void
conn_item_free(struct loop_item *it)
{
	if (it == NULL)
		return;
	frame_arena_free(((struct conn_item *)(void *)it)->arena);
	free(it);
}

/* Clears an answered item and keeps it for the connection's next frame (or frees it). */
static void
item_free(struct conn *c, struct loop_item *it)
{
	if (it == NULL)
		return;
	decide_msg_clear(&it->msg); /* resets (wipes) the item's arena */
	if (c->nspare < CONN_MAX_INFLIGHT)
		c->spare[c->nspare++] = it;
	else
		conn_item_free(it);
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
	struct conn_item *ci;
	struct loop_item *it;

	/* An item is ~2 KB: a fresh one a frame was a large-bin malloc, on which glibc
	 * consolidates its fastbins (perf: ~2% of the hub's CPU at 64 kiosks). Its arena takes
	 * the decoded frame's fields: one malloc and free a field cost ~12% of the hub's user
	 * time (perf, 64 kiosks). Without an arena (out of memory) frames decode with malloc. */
	if (c->nspare > 0) {
		/* Cleared by item_free, msg (~3.5 KB, most of it) again by decide_prepare_in: the
		 * rest is zeroed here (perf: a memset of the whole item was ~2% of the hub's user
		 * time, its cache misses included). */
		it = c->spare[--c->nspare];
		memset((char *)it + offsetof(struct loop_item, task), 0,
			sizeof(*it) - offsetof(struct loop_item, task));
	} else if ((ci = calloc(1, sizeof(*ci))) != NULL) {
		it = &ci->it;
		(void)frame_arena_new(&ci->arena);
	} else
		return NULL;
	ci = (struct conn_item *)(void *)it;
	if (decide_prepare_in(c->s->cfg.dc, ci->arena, tls_conn_peer(c->tls), payload, len, readerr,
		    &it->msg) != 0) {
		item_free(c, it);
		return NULL;
	}
	it->wake = conn_wake;
	it->wake_arg = c;
	return it;
}

/* Writes what is gathered in c->out. */
static void
out_flush(struct conn *c)
{
	if (c->nout > 0 && !c->write_failed && tls_write_all(c->tls, c->out, c->nout) != 0)
		c->write_failed = 1;
	c->nout = 0;
}

/* Writes the answers that are ready, in order (frees them unwritten once the peer is gone);
 * the answers of one group go out together, in as few TLS records and writes as fit in
 * c->out. Returns 0, or PASO_E_PEER_CLOSED after a failed write. */
static int
flush_done(struct conn *c)
{
	struct loop_item *it;
	size_t n;

	while (c->count > 0) {
		it = c->inflight[c->head];
		if (!loop_item_done(c->s->cfg.loop, it))
			break;
		n = it->msg.reply_len;
		if (!c->write_failed && it->msg.reply != NULL) {
			if (c->nout + n > sizeof(c->out))
				out_flush(c);
			if (n > sizeof(c->out)) {
				if (!c->write_failed &&
					tls_write_all(c->tls, it->msg.reply, n) != 0)
					c->write_failed = 1;
			} else {
				memcpy(c->out + c->nout, it->msg.reply, n);
				c->nout += n;
			}
		}
		item_free(c, it);
		c->head = (c->head + 1) % CONN_MAX_INFLIGHT;
		c->count--;
	}
	out_flush(c);
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

/*
 * The hub is stopping and this connection has answered everything it read: frames that arrived
 * meanwhile (already in TLS's buffer or the socket) are answered SHUTTING_DOWN, with their seq,
 * without reaching the commit loop: nothing of them is kept, and the kiosk resends them once a
 * hub serves again instead of waiting on a connection about to close. A frame counts as arrived
 * if it starts within 250 ms of the last (what the peer's send buffer still held when ours was
 * full: the kernel moves it as we read, which on a saturated machine took over 50 ms once); at
 * most two windows of frames and one second in all. Two: a stop noticed before the connection
 * has read anything leaves a whole window unread, and closing with frames unread resets the
 * connection, which can discard answers already sent but not yet read by the peer. Returns how
 * many were answered so.
 */
static unsigned
refuse_arrived(struct conn *c)
{
	struct server *s = c->s;
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Error err = PASO__ERROR__INIT;
	struct pollfd pf;
	struct paso_diag d;
	uint8_t *payload = NULL, *reply = NULL;
	uint64_t until = mono_ms() + 1000;
	uint32_t len;
	size_t rlen;
	unsigned n;

	for (n = 0; n < 2 * CONN_MAX_INFLIGHT && !c->write_failed && mono_ms() < until; n++) {
		if (!tls_conn_has_pending(c->tls)) {
			pf.fd = tls_conn_fd(c->tls);
			pf.events = POLLIN;
			pf.revents = 0;
			if (poll(&pf, 1, 250) <= 0 || !(pf.revents & POLLIN))
				break;
		}
		memset(&d, 0, sizeof(d));
		tls_conn_set_deadline(c->tls, s->cfg.frame_ms < 1000 ? s->cfg.frame_ms : 1000);
		if (tls_read_frame(c->tls, s->cfg.max_frame, &payload, &len, &d) != 0) {
			tls_conn_set_deadline(c->tls, 0);
			break;
		}
		tls_conn_set_deadline(c->tls, 0);
		err.seq = env.seq = frame_peek_seq(payload, len);
		frame_wipe_free(payload);
		payload = NULL;
		err.code = PASO_E_SHUTTING_DOWN;
		err.message = "the hub is stopping: nothing of this message was kept; resend it "
			      "once a hub serves again";
		env.kiosk_id = (char *)tls_conn_peer(c->tls);
		env.body_case = PASO__ENVELOPE__BODY_ERROR;
		env.error = &err;
		if (frame_encode(&env, FRAME_DEFAULT_MAX, &reply, &rlen) != 0)
			break;
		if (tls_write_all(c->tls, reply, rlen) != 0)
			c->write_failed = 1;
		free(reply);
		reply = NULL;
	}
	return n;
}

static void
serve_conn(struct conn *c)
{
	struct server *s = c->s;
	const struct hublog *log = s->cfg.log;
	struct pollfd pf[2];
	struct paso_diag d;
	struct loop_item *it;
	uint8_t *rbuf = NULL; /* frames are read into it, one after the other */
	size_t rcap = 0;
	uint32_t len;
	uint64_t v, last = mono_ms();
	unsigned refused;
	int rc, stop = 0;

	for (;;) {
		if (flush_done(c) != 0)
			break;
		if (stopping(s)) {
			stop = 1;
			break;
		}
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
		rc = tls_read_frame_into(c->tls, s->cfg.max_frame, &rbuf, &rcap, &len, &d);
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
		it = item_from(c, rbuf, len, NULL);
		explicit_bzero(rbuf, len); /* the raw capture bytes */
		if (it == NULL)
			break;
		if (it->msg.err.code != 0)
			hublog_printf(log, "kiosk %s: refused %s: %s", it->msg.kiosk,
				paso_errname(it->msg.err.code), it->msg.err.msg);
		submit(c, it);
	}
	frame_wipe_free(rbuf);
	drain(c);
	if (stop && !c->write_failed && (refused = refuse_arrived(c)) > 0)
		hublog_printf(log,
			"kiosk %s: %u messages that arrived while the hub stops: refused "
			"with SHUTTING_DOWN (not kept)",
			tls_conn_peer(c->tls), refused);
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
	while (c->nspare > 0)
		conn_item_free(c->spare[--c->nspare]);
	free(c);
	return NULL;
}

/* Counts one event of the gates' (any gate thread). */
static void
gate_count(struct server *s, uint64_t *what)
{
	pthread_mutex_lock(&s->gmu);
	(*what)++;
	pthread_mutex_unlock(&s->gmu);
}

/* One line now, or counted into the next summary when lines come faster than 10 a second. */
static void
gate_log(struct server *s, const char *what, const char *detail)
{
	int show;

	pthread_mutex_lock(&s->gmu);
	if ((show = s->gc.lines < 10))
		s->gc.lines++;
	else
		s->gc.suppressed++;
	pthread_mutex_unlock(&s->gmu);
	if (show)
		hublog_printf(s->cfg.log, "connection refused: %s%s%s", what, detail ? ": " : "",
			detail ? detail : "");
}

/* At most once a second: what the gates dropped, refused or timed out, as counts. */
static void
gate_summary(struct server *s, uint64_t now)
{
	struct gate_counts g;

	pthread_mutex_lock(&s->gmu);
	if (now - s->gc.since < 1000) {
		pthread_mutex_unlock(&s->gmu);
		return;
	}
	g = s->gc;
	memset(&s->gc, 0, sizeof(s->gc));
	s->gc.since = now;
	pthread_mutex_unlock(&s->gmu);
	if (g.timed_out || g.dropped || g.evicted || g.full || g.failed || g.per_kiosk ||
		g.kiosks_full || g.suppressed)
		hublog_printf(s->cfg.log,
			"connections in the last %.1f s: %llu handshakes timed out (limit %d ms), "
			"%llu dropped early, %llu silent ones dropped for newcomers and %llu refused "
			"(unauthenticated limit %u), %llu handshakes failed, %llu over the "
			"per-kiosk limit %u, %llu over the kiosk limit %u; %llu lines not shown",
			(double)(now - g.since) / 1000, (unsigned long long)g.timed_out,
			s->cfg.handshake_ms, (unsigned long long)g.dropped,
			(unsigned long long)g.evicted, (unsigned long long)g.full,
			s->cfg.max_unauth, (unsigned long long)g.failed,
			(unsigned long long)g.per_kiosk, s->cfg.max_per_kiosk,
			(unsigned long long)g.kiosks_full, s->cfg.max_conns,
			(unsigned long long)g.suppressed);
}

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

/* The socket that has waited longest without sending a byte, or -1 (none is silent). */
static int
oldest_silent(const struct gate *g)
{
	unsigned i;
	int best = -1;

	for (i = 0; i < g->npend; i++)
		if (g->pend[i].tls == NULL && g->pend[i].fd >= 0 &&
			(best < 0 || g->pend[i].deadline < g->pend[best].deadline))
			best = (int)i;
	return best;
}

/*
 * A new socket. From 3/4 of this gate's share of the handshake table on, a random early drop
 * (OpenSSH's MaxStartups: 30 %, rising to 100 % when full), and when the table is full, take
 * the socket that has waited longest without sending a byte, not the newcomer: a kiosk sends
 * its ClientHello at once, so idle sockets cannot keep it out. Only when every slot holds a
 * socket that has spoken is the newcomer refused (or dropped early).
 */
static void
gate_admit(struct gate *g, int fd, uint64_t now)
{
	struct server *s = g->s;
	unsigned begin = g->cap - g->cap / 4;
	int victim;

	if (g->npend >= begin) {
		/* a share of 3 or less has no room between 3/4 and full: drop at 100 % */
		uint32_t p = g->cap > begin ? 30 + 70 * (g->npend - begin) / (g->cap - begin) : 100;

		if (randombytes_uniform(100) < p || g->npend >= g->cap) {
			if ((victim = oldest_silent(g)) >= 0) {
				gate_count(s, g->npend >= g->cap ? &s->gc.evicted : &s->gc.dropped);
				pending_drop(&g->pend[victim]);
				g->pend[victim] = g->pend[--g->npend];
			} else {
				gate_count(s, g->npend >= g->cap ? &s->gc.full : &s->gc.dropped);
				close(fd);
				return;
			}
		}
	}
	g->pend[g->npend].fd = fd;
	g->pend[g->npend].tls = NULL;
	g->pend[g->npend].deadline = now + (uint64_t)s->cfg.handshake_ms;
	g->pend[g->npend].events = POLLIN;
	g->npend++;
}

/* A finished handshake: counted against the kiosk limits, then a thread of its own. */
static void
gate_promote(struct gate *g, struct tls_conn *tls)
{
	struct server *s = g->s;
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
		gate_count(s, &s->gc.kiosks_full);
		(void)snprintf(why, sizeof(why), "%u kiosk connections already", s->cfg.max_conns);
		gate_log(s, name, why);
		goto refuse;
	}
	for (i = 0; i < s->nper && strcmp(s->per[i].name, name) != 0; i++)
		;
	if (i < s->nper && s->per[i].n >= s->cfg.max_per_kiosk) {
		pthread_mutex_unlock(&s->mu);
		gate_count(s, &s->gc.per_kiosk);
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
	/*
	 * Held silent, then closed: a client that reopens when the hub closes comes back only
	 * after the hold. Only the socket is kept. When the hold table is full it is closed now.
	 */
	free(c);
	if (g->nheld < g->cap) {
		g->held[g->nheld].fd = tls_conn_take_fd(tls);
		/* Spread over half to one and a half holds: refusals that came in one burst
		 * do not all come back in one burst. */
		g->held[g->nheld].deadline =
			mono_ms() + REFUSE_HOLD_MS / 2 + randombytes_uniform(REFUSE_HOLD_MS);
		g->nheld++;
	} else
		tls_conn_free(tls);
}

static void
pending_compact(struct gate *g)
{
	unsigned i, keep;

	for (i = keep = 0; i < g->npend; i++)
		if (g->pend[i].fd >= 0)
			g->pend[keep++] = g->pend[i];
	g->npend = keep;
}

/* Most sockets taken from the listener per turn, so handshakes in progress keep moving. */
#define GATE_ACCEPT_BURST 64

/*
 * A gate: accepts from the shared listener and drives its handshakes with poll(), so a socket
 * that never speaks costs a descriptor and a slot in a table, not a thread; only authenticated
 * kiosks get threads of their own.
 */
static void *
gate_thread(void *arg)
{
	struct gate *g = arg;
	struct server *s = g->s;
	struct pending *p;
	struct paso_diag d;
	uint64_t now, next;
	unsigned i, n, keep, burst;
	short ev;
	int fd, timeout, rc;

	while (!stopping(s)) {
		now = mono_ms();
		next = now + 100;
		for (i = 0; i < g->npend; i++) {
			if (g->pend[i].deadline <= now) {
				gate_count(s, &s->gc.timed_out);
				pending_drop(&g->pend[i]);
			} else if (g->pend[i].deadline < next)
				next = g->pend[i].deadline;
		}
		pending_compact(g);
		for (i = keep = 0; i < g->nheld; i++) {
			if (g->held[i].deadline <= now)
				close(g->held[i].fd);
			else {
				if (g->held[i].deadline < next)
					next = g->held[i].deadline;
				g->held[keep++] = g->held[i];
			}
		}
		g->nheld = keep;
		/* Out of descriptors, the listener stays readable: pause it rather than spin. */
		g->pfds[0].fd = now >= g->listen_pause ? s->listen_fd : -1;
		g->pfds[0].events = POLLIN;
		g->pfds[0].revents = 0;
		for (i = 0; i < g->npend; i++) {
			g->pfds[i + 1].fd = g->pend[i].fd;
			g->pfds[i + 1].events = g->pend[i].events;
			g->pfds[i + 1].revents = 0;
		}
		n = g->npend;
		timeout = next > now ? (int)(next - now) : 0;
		if (poll(g->pfds, n + 1, timeout) < 0 && errno != EINTR)
			break;
		now = mono_ms();
		for (i = 0; i < n; i++) {
			p = &g->pend[i];
			if (g->pfds[i + 1].revents == 0)
				continue;
			memset(&d, 0, sizeof(d));
			/* First bytes: only now does the socket get TLS state. */
			if (p->tls == NULL) {
				rc = tls_accept_begin(s->cfg.tls, p->fd, &p->tls, &d);
				if (rc != 0) {
					p->fd = -1; /* closed by tls_accept_begin */
					gate_count(s, &s->gc.failed);
					continue;
				}
			}
			if ((rc = tls_accept_step(p->tls, &ev, &d)) == 1) {
				p->events = ev;
				continue;
			}
			if (rc == 0)
				gate_promote(g, p->tls);
			else {
				gate_count(s, &s->gc.failed);
				gate_log(s, paso_errname(rc), d.msg);
				tls_conn_free(p->tls);
			}
			p->tls = NULL;
			p->fd = -1;
		}
		pending_compact(g);
		if (g->pfds[0].revents & POLLIN) {
			for (burst = 0; burst < GATE_ACCEPT_BURST; burst++) {
				if ((fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
					break;
				gate_admit(g, fd, now);
			}
			if (burst < GATE_ACCEPT_BURST &&
				(errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
					errno == ENOMEM)) {
				gate_count(s, &s->gc.full);
				g->listen_pause = now + 100;
			}
		}
		pthread_mutex_lock(&s->gmu);
		if (now - s->gc.since >= 1000)
			s->gc.lines = 0;
		pthread_mutex_unlock(&s->gmu);
		gate_summary(s, now);
	}
	for (i = 0; i < g->npend; i++)
		pending_drop(&g->pend[i]);
	g->npend = 0;
	for (i = 0; i < g->nheld; i++)
		close(g->held[i].fd);
	g->nheld = 0;
	return NULL;
}

int
server_open(const struct server_config *cfg, struct server **out, struct paso_diag *d)
{
	struct server *s;
	unsigned i;
	int r;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PASO_E_NOMEM;
	s->cfg = *cfg;
	s->listen_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->gmu, NULL);
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
	for (i = 0; i < GATE_THREADS; i++) {
		struct gate *g = &s->gates[i];

		g->s = s;
		/* max_unauth split between the gates (at least 4, so at least 2 each) */
		g->cap = s->cfg.max_unauth / GATE_THREADS + (i < s->cfg.max_unauth % GATE_THREADS);
		if ((g->pend = calloc(g->cap, sizeof(*g->pend))) == NULL ||
			(g->pfds = calloc(g->cap + 1, sizeof(*g->pfds))) == NULL ||
			(g->held = calloc(g->cap, sizeof(*g->held))) == NULL) {
			server_close(s);
			return PASO_E_NOMEM;
		}
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
	unsigned i;

	s->gc.since = mono_ms();
	for (i = 0; i < GATE_THREADS; i++) {
		if (pthread_create(&s->gates[i].th, NULL, gate_thread, &s->gates[i]) != 0) {
			server_stop(s);
			return PASO_E_INTERNAL;
		}
		s->gates[i].started = 1;
	}
	return 0;
}

void
server_stop(struct server *s)
{
	unsigned i;

	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < GATE_THREADS; i++)
		if (s->gates[i].started) {
			pthread_join(s->gates[i].th, NULL);
			s->gates[i].started = 0;
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
	unsigned i;

	if (s == NULL)
		return;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->gmu);
	free(s->per);
	for (i = 0; i < GATE_THREADS; i++) {
		free(s->gates[i].pend);
		free(s->gates[i].pfds);
		free(s->gates[i].held);
	}
	free(s);
}
