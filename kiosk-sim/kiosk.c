/* SPDX-License-Identifier: Apache-2.0 */
/* A kiosk's life: capture into the sealed outbox, send in windows, delete only what was answered. */
#include "kiosk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "be.h"
#include "frame.h"
#include "iso19794.h"
#include "outbox.h"
#include "paso.pb-c.h"
#include "sample_pb.h"
#include "tls.h"

#define KIOSK_BATCH 64 /* captures per outbox transaction */

struct tag {
	uint8_t kind;
	uint8_t has_expect;
	uint32_t person;
	uint8_t expect[32];
};

struct kiosk {
	struct kiosk_config cfg;
	char *name, *point, *cert, *key, *ca, *host, *workdir;
	struct outbox *ob;
	struct outbox_txn *txn; /* producer's open batch */
	unsigned in_txn;
	struct tls_ctx *tls;
	struct tls_conn *conn;

	pthread_mutex_t mu; /* guards tags and stats */
	uint64_t base_seq;  /* first seq queued in this run; older ones are resends */
	struct tag *tags;
	size_t ntags, captags;
	struct kiosk_stats st;
	uint64_t resync_after; /* a SEQ_CONFLICT said the hub holds numbers up to this one */
	int full;              /* the last window had answers "storage full": pause, then resend */
	uint64_t last_queued;  /* seq of the latest message queued (producer's) */
	void (*enrolled_cb)(void *, uint32_t, const uint8_t *);
	void *enrolled_arg;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
kiosk_open(const struct kiosk_config *cfg, struct kiosk **out, struct paso_diag *d)
{
	struct kiosk *k;
	int r;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return PASO_E_NOMEM;
	pthread_mutex_init(&k->mu, NULL);
	k->cfg = *cfg;
	if ((k->name = strdup(cfg->name)) == NULL || (k->point = strdup(cfg->point)) == NULL ||
		(k->cert = strdup(cfg->cert)) == NULL || (k->key = strdup(cfg->key)) == NULL ||
		(k->ca = strdup(cfg->ca)) == NULL || (k->host = strdup(cfg->host)) == NULL ||
		(k->workdir = strdup(cfg->workdir)) == NULL) {
		r = PASO_E_NOMEM;
		goto fail;
	}
	if (k->cfg.window == 0)
		k->cfg.window = 32;
	if (k->cfg.give_up_s == 0)
		k->cfg.give_up_s = 120;
	if (k->cfg.io_timeout_ms == 0)
		k->cfg.io_timeout_ms = 30000;
	if ((r = outbox_open(k->workdir, &k->ob, d)) != 0 ||
		(r = tls_ctx_new_client(k->cert, k->key, k->ca, "paso-hub", &k->tls, d)) != 0)
		goto fail;
	*out = k;
	return 0;
fail:
	kiosk_close(k);
	return r;
}

void
kiosk_close(struct kiosk *k)
{
	if (k == NULL)
		return;
	outbox_abort(k->txn);
	tls_conn_free(k->conn);
	tls_ctx_free(k->tls);
	outbox_close(k->ob);
	free(k->tags);
	free(k->name);
	free(k->point);
	free(k->cert);
	free(k->key);
	free(k->ca);
	free(k->host);
	free(k->workdir);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

void
kiosk_on_enrolled(struct kiosk *k, void (*cb)(void *, uint32_t, const uint8_t *), void *arg)
{
	k->enrolled_cb = cb;
	k->enrolled_arg = arg;
}

void
kiosk_get_stats(struct kiosk *k, struct kiosk_stats *out)
{
	pthread_mutex_lock(&k->mu);
	*out = k->st;
	pthread_mutex_unlock(&k->mu);
}

static int
remember(struct kiosk *k, uint64_t seq, const struct tag *t)
{
	struct tag *nt;
	size_t i;

	pthread_mutex_lock(&k->mu);
	if (k->ntags == 0)
		k->base_seq = seq;
	i = (size_t)(seq - k->base_seq);
	if (i >= k->captags) {
		size_t cap = k->captags ? k->captags * 2 : 1024;
		while (cap <= i)
			cap *= 2;
		if ((nt = realloc(k->tags, cap * sizeof(*nt))) == NULL) {
			pthread_mutex_unlock(&k->mu);
			return PASO_E_NOMEM;
		}
		memset(nt + k->captags, 0, (cap - k->captags) * sizeof(*nt));
		k->tags = nt;
		k->captags = cap;
	}
	k->tags[i] = *t;
	if (i + 1 > k->ntags)
		k->ntags = i + 1;
	k->st.queued++;
	pthread_mutex_unlock(&k->mu);
	return 0;
}

/* Packs env (seq filled in here; captured at when) and puts it into the producer's open outbox batch. */
static int
enqueue(struct kiosk *k, Paso__Envelope *env, const struct tag *t, uint64_t when)
{
	uint8_t *buf = NULL;
	uint64_t seq;
	size_t n;
	int r;

	if (k->txn == NULL && (r = outbox_begin(k->ob, &k->txn)) != 0)
		return r;
	if ((r = outbox_next_seq(k->txn, &seq)) != 0)
		goto fail;
	env->kiosk_id = k->name;
	env->seq = seq;
	n = paso__envelope__get_packed_size(env);
	if ((buf = malloc(n)) == NULL) {
		r = PASO_E_NOMEM;
		goto fail;
	}
	(void)paso__envelope__pack(env, buf);
	r = outbox_put_at(k->txn, seq, buf, n, when); /* when: for the purge (outbox.h) */
	sodium_memzero(buf, n);
	free(buf);
	if (r != 0)
		goto fail;
	if ((r = remember(k, seq, t)) != 0)
		goto fail;
	k->last_queued = seq;
	if (++k->in_txn >= KIOSK_BATCH)
		return kiosk_flush(k);
	return 0;
fail:
	outbox_abort(k->txn);
	k->txn = NULL;
	k->in_txn = 0;
	return r;
}

int
kiosk_flush(struct kiosk *k)
{
	int r;

	if (k->txn == NULL)
		return 0;
	r = outbox_commit(k->txn);
	k->txn = NULL;
	k->in_txn = 0;
	return r;
}

int
kiosk_enqueue_enroll(struct kiosk *k, const struct bio_sample *s, int category, const char *card,
	uint64_t when, uint32_t person)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Enroll en = PASO__ENROLL__INIT;
	Paso__Capture cap = PASO__CAPTURE__INIT;
	struct tag t = {KIOSK_ENROL, 0, person, {0}};
	int r;

	if ((r = sample_to_pb(s, &cap)) != 0)
		return r;
	cap.capture_time = when;
	en.capture = &cap;
	en.category = category;
	en.card_number = (char *)card;
	en.crossing_point = k->point;
	env.body_case = PASO__ENVELOPE__BODY_ENROLL;
	env.enroll = &en;
	r = enqueue(k, &env, &t, when);
	sample_pb_release(&cap);
	return r;
}

int
kiosk_enqueue_crossing(struct kiosk *k, const struct bio_sample *s, const char *card, int direction,
	uint64_t when, uint32_t person, int impostor)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Crossing c = PASO__CROSSING__INIT;
	Paso__Capture cap = PASO__CAPTURE__INIT;
	struct tag t = {impostor ? KIOSK_IMPOSTOR : KIOSK_GENUINE, 0, person, {0}};
	int r;

	if ((r = sample_to_pb(s, &cap)) != 0)
		return r;
	cap.capture_time = when;
	c.capture = &cap;
	c.card_number = (char *)card;
	c.direction = direction;
	c.crossing_point = k->point;
	env.body_case = PASO__ENVELOPE__BODY_CROSSING;
	env.crossing = &c;
	r = enqueue(k, &env, &t, when);
	sample_pb_release(&cap);
	return r;
}

int
kiosk_enqueue_identify(struct kiosk *k, const struct bio_sample *s, uint64_t when, uint32_t person,
	const uint8_t *expect)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Identify id = PASO__IDENTIFY__INIT;
	Paso__Capture cap = PASO__CAPTURE__INIT;
	struct tag t = {
		expect != NULL ? KIOSK_IDENTIFY : KIOSK_PROBE_UNKNOWN, expect != NULL, person, {0}};
	int r;

	if (expect != NULL)
		memcpy(t.expect, expect, sizeof(t.expect));

	if ((r = sample_to_pb(s, &cap)) != 0)
		return r;
	cap.capture_time = when;
	id.capture = &cap;
	id.crossing_point = k->point;
	env.body_case = PASO__ENVELOPE__BODY_IDENTIFY;
	env.identify = &id;
	r = enqueue(k, &env, &t, when);
	sample_pb_release(&cap);
	return r;
}

/* Errors after which the same message may succeed later: keep it in the outbox. */
static int
transient(int code)
{
	return code == PASO_E_STORAGE || code == PASO_E_MAP_FULL || code == PASO_E_STORE_FULL ||
	       code == PASO_E_SHUTTING_DOWN || code == PASO_E_INTERNAL || code == PASO_E_NOMEM ||
	       code == PASO_E_IO;
}

/* Tallies one answer. Returns 1 if the message is settled (remove it from the outbox). */
static int
tally(struct kiosk *k, const Paso__Envelope *env, uint64_t *seqp)
{
	const struct tag *t = NULL;
	struct tag none = {0, 0, 0, {0}};
	const Paso__MatchResult *m;
	uint64_t seq;
	int code, settled = 1;

	pthread_mutex_lock(&k->mu);
	if (env->body_case == PASO__ENVELOPE__BODY_ACK)
		seq = env->ack->seq;
	else
		seq = env->error->seq;
	*seqp = seq;
	if (k->ntags > 0 && seq >= k->base_seq && seq - k->base_seq < k->ntags)
		t = &k->tags[seq - k->base_seq];
	else
		t = &none;
	if (env->body_case == PASO__ENVELOPE__BODY_ERROR) {
		code = env->error->code;
		if (transient(code)) {
			settled = 0;
			if (code == PASO_E_STORE_FULL || code == PASO_E_MAP_FULL) {
				k->st.store_full++;
				k->full = 1;
			}
		} else if (code == PASO_E_SEQ_CONFLICT && env->error->last_seq >= seq) {
			/* This kiosk's numbers were used before (a lost outbox): keep the message,
			 * renumber after the hub's last and send it again. */
			settled = 0;
			if (env->error->last_seq > k->resync_after)
				k->resync_after = env->error->last_seq;
		} else {
			k->st.refused++;
			if (code < 0 && -code < 70)
				k->st.refused_by_code[-code]++;
			if (code == PASO_E_DUPLICATE)
				k->st.duplicates++;
		}
		pthread_mutex_unlock(&k->mu);
		return settled;
	}
	k->st.acked++;
	if (env->ack->replayed)
		k->st.replayed++;
	if (t->kind == 0)
		k->st.resent++;
	m = env->ack->match;
	switch (t->kind) {
	case KIOSK_ENROL:
		if (k->enrolled_cb != NULL && env->ack->subject.len == 32) {
			pthread_mutex_unlock(&k->mu);
			k->enrolled_cb(k->enrolled_arg, t->person, env->ack->subject.data);
			return 1;
		}
		break;
	case KIOSK_GENUINE:
	case KIOSK_IMPOSTOR:
		if (m == NULL || m->decision == PASO__DECISION__DECISION_NONE)
			break;
		if (m->decision == PASO__DECISION__MATCH)
			k->st.verified++;
		else
			k->st.not_verified++;
		if (t->kind == KIOSK_GENUINE) {
			k->st.genuine++;
			k->st.genuine_verified += m->decision == PASO__DECISION__MATCH;
		} else {
			k->st.impostor++;
			k->st.impostor_verified += m->decision == PASO__DECISION__MATCH;
		}
		break;
	case KIOSK_IDENTIFY:
		if (m != NULL && m->decision == PASO__DECISION__IDENTIFIED) {
			k->st.identified++;
			if (t->has_expect && m->candidate.len == 32 &&
				sodium_memcmp(m->candidate.data, t->expect, 32) == 0)
				k->st.identified_right++;
		} else
			k->st.not_identified++;
		break;
	case KIOSK_PROBE_UNKNOWN:
		k->st.unenrolled_probes++;
		if (m != NULL && m->decision == PASO__DECISION__IDENTIFIED)
			k->st.unenrolled_identified++;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&k->mu);
	return 1;
}

/* Sends one window of outbox items and settles the answers. Returns 0 or a connection error. */
static int
send_window(struct kiosk *k, struct outbox_item *items, size_t n, size_t *settledp)
{
	uint64_t *done = NULL, seq;
	Paso__Envelope *env = NULL;
	uint8_t *out = NULL, *payload = NULL;
	uint32_t len;
	size_t i, nd = 0, olen = 0;
	struct paso_diag d;
	int r = 0;

	*settledp = 0;
	if ((done = calloc(n, sizeof(*done))) == NULL)
		return PASO_E_NOMEM;
	/* The whole window in one write: TLS records of up to 16 KB, not two records (length,
	 * then Envelope) a frame, each one a write here and a record to open at the hub. */
	for (i = 0; i < n; i++)
		olen += 4 + items[i].len;
	if ((out = calloc(1, olen ? olen : 1)) == NULL) {
		free(done);
		return PASO_E_NOMEM;
	}
	for (i = 0, olen = 0; i < n; i++) {
		be32_put(out + olen, (uint32_t)items[i].len);
		memcpy(out + olen + 4, items[i].data, items[i].len);
		olen += 4 + items[i].len;
	}
	r = tls_write_all(k->conn, out, olen);
	explicit_bzero(out, olen); /* captures */
	free(out);
	for (i = 0; i < n && r == 0; i++) {
		if ((r = tls_read_frame(k->conn, FRAME_DEFAULT_MAX, &payload, &len, &d)) != 0)
			break;
		r = frame_decode(payload, len, &env, &d);
		frame_wipe_free(payload);
		payload = NULL;
		if (r != 0)
			break;
		if (env->body_case == PASO__ENVELOPE__BODY_ACK ||
			env->body_case == PASO__ENVELOPE__BODY_ERROR) {
			if (tally(k, env, &seq))
				done[nd++] = seq;
			/* An Error about the connection itself (e.g. unknown kiosk) ends it. */
			if (env->body_case == PASO__ENVELOPE__BODY_ERROR && env->error->seq == 0)
				r = env->error->code;
		}
		frame_free(env);
		env = NULL;
	}
	if (nd > 0) {
		int r2 = outbox_remove(k->ob, done, nd);
		if (r == 0)
			r = r2;
	}
	*settledp = nd;
	free(done);
	return r;
}

/* Re-serializes a queued Envelope under its new sequence number, carrying its tally tag along. */
static int
renumbered(void *arg, uint64_t old_seq, uint64_t new_seq, const uint8_t *in, size_t len,
	uint8_t **outp, size_t *outlenp)
{
	struct kiosk *k = arg;
	struct tag t = {0, 0, 0, {0}};
	Paso__Envelope *env;
	uint8_t *buf;
	size_t n;
	int r;

	*outp = NULL;
	if ((env = paso__envelope__unpack(frame_allocator(), len, in)) == NULL)
		return PASO_E_CORRUPT;
	env->seq = new_seq;
	n = paso__envelope__get_packed_size(env);
	if ((buf = malloc(n)) == NULL) {
		frame_free(env);
		return PASO_E_NOMEM;
	}
	(void)paso__envelope__pack(env, buf);
	frame_free(env);
	pthread_mutex_lock(&k->mu);
	if (k->ntags > 0 && old_seq >= k->base_seq && old_seq - k->base_seq < k->ntags)
		t = k->tags[old_seq - k->base_seq];
	pthread_mutex_unlock(&k->mu);
	if ((r = remember(k, new_seq, &t)) != 0) {
		frame_wipe_free(buf);
		return r;
	}
	pthread_mutex_lock(&k->mu);
	k->st.queued--; /* the same message, not a new one */
	pthread_mutex_unlock(&k->mu);
	*outp = buf;
	*outlenp = n;
	return 0;
}

static int
resync(struct kiosk *k)
{
	size_t n = 0;
	int r;

	r = outbox_renumber(k->ob, k->resync_after, renumbered, k, &n);
	pthread_mutex_lock(&k->mu);
	k->st.resyncs++;
	k->resync_after = 0;
	pthread_mutex_unlock(&k->mu);
	return r;
}

int
kiosk_drain(struct kiosk *k, pthread_mutex_t *mu, const int *producing, struct paso_diag *d)
{
	struct outbox_item *items = NULL;
	double start = now_s(), last_progress = start;
	unsigned backoff = 50, full_backoff = 100;
	int probing = 0; /* the hub said its storage is full: send one message until it takes it */
	size_t n = 0, settled;
	int r, more;

	for (;;) {
		if (k->conn == NULL) {
			if (now_s() - last_progress > k->cfg.give_up_s)
				return paso_diag_set(d, PASO_E_TIMEOUT,
					"kiosk %s: hub %s:%u unreachable for %d s; outbox kept",
					k->name, k->host, (unsigned)k->cfg.port, k->cfg.give_up_s);
			r = tls_connect(
				k->tls, k->host, k->cfg.port, k->cfg.io_timeout_ms, &k->conn, d);
			if (r == PASO_E_CERT)
				return r; /* retrying cannot fix a refused certificate */
			if (r != 0) {
				sleep_ms(backoff);
				backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
				continue;
			}
			backoff = 50;
		}
		if ((r = outbox_peek(k->ob, probing ? 1 : k->cfg.window, &items, &n)) != 0)
			return paso_diag_set(
				d, r, "kiosk %s: outbox: %s", k->name, paso_strerror(r));
		if (n == 0) {
			pthread_mutex_lock(mu);
			more = *producing;
			pthread_mutex_unlock(mu);
			outbox_items_free(items, 0);
			if (!more) {
				/* The producer may have queued its last messages between the peek
				 * and its end: done only if the outbox is still empty now. */
				if ((r = outbox_peek(k->ob, 1, &items, &n)) != 0)
					return paso_diag_set(d, r, "kiosk %s: outbox: %s", k->name,
						paso_strerror(r));
				outbox_items_free(items, n);
				if (n == 0)
					break;
				continue;
			}
			sleep_ms(5);
			last_progress = now_s();
			continue;
		}
		r = send_window(k, items, n, &settled);
		outbox_items_free(items, n);
		if (r == 0 && k->resync_after != 0 && (r = resync(k)) != 0)
			return paso_diag_set(d, r, "kiosk %s: renumbering the outbox: %s", k->name,
				paso_strerror(r));
		if (settled > 0)
			last_progress = now_s();
		pthread_mutex_lock(&k->mu);
		more = k->full;
		k->full = 0;
		pthread_mutex_unlock(&k->mu);
		if (more) {
			/* The hub kept nothing of those: resending at once would only be refused
			 * again, so wait, longer each time, as for an unreachable hub, and send
			 * one message as a probe until one is taken. */
			probing = 1;
			sleep_ms(full_backoff);
			full_backoff = full_backoff * 2 > 2000 ? 2000 : full_backoff * 2;
		} else if (settled > 0) {
			probing = 0;
			full_backoff = 100;
		}
		if (r == PASO_E_UNKNOWN_KIOSK || r == PASO_E_CERT)
			return paso_diag_set(d, r, "kiosk %s: refused by the hub: %s", k->name,
				paso_strerror(r));
		if (r != 0) {
			/* The hub went away mid-window: what was not answered stays and is resent. */
			tls_conn_free(k->conn);
			k->conn = NULL;
			pthread_mutex_lock(&k->mu);
			k->st.reconnects++;
			pthread_mutex_unlock(&k->mu);
			if (now_s() - last_progress > k->cfg.give_up_s)
				return paso_diag_set(d, PASO_E_TIMEOUT,
					"kiosk %s: no progress for %d s; outbox kept", k->name,
					k->cfg.give_up_s);
			sleep_ms(backoff);
			backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
		}
	}
	if (k->conn != NULL) {
		tls_conn_shutdown(k->conn);
		tls_conn_free(k->conn);
		k->conn = NULL;
	}
	pthread_mutex_lock(&k->mu);
	k->st.busy_seconds += now_s() - start;
	pthread_mutex_unlock(&k->mu);
	return 0;
}

int
kiosk_two_fingers(struct bio_sample *s)
{
	struct fmr_record rec, two;
	uint8_t *out = NULL;
	size_t len = 0;
	int i, r;

	if (s->finger_record == NULL)
		return 0;
	memset(&rec, 0, sizeof(rec));
	if ((r = iso19794_read(s->finger_record, s->finger_len, &rec, NULL)) != 0)
		goto out;
	two = rec; /* shallow: rec keeps ownership of every view */
	two.n_views = 0;
	for (i = 0; i < rec.n_views; i++)
		if (rec.views[i].finger_pos == 2 || rec.views[i].finger_pos == 7)
			two.views[two.n_views++] = rec.views[i];
	for (i = 0; i < rec.n_views && two.n_views < 2; i++)
		if (rec.views[i].finger_pos != 2 && rec.views[i].finger_pos != 7)
			two.views[two.n_views++] = rec.views[i];
	if ((r = iso19794_write(&two, &out, &len, NULL)) != 0)
		goto out;
	sodium_memzero(s->finger_record, s->finger_len);
	free(s->finger_record);
	s->finger_record = out;
	s->finger_len = len;
out:
	fmr_record_free(&rec);
	return r;
}

uint64_t
kiosk_last_seq(const struct kiosk *k)
{
	return k->last_queued;
}
