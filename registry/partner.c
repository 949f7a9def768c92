/* SPDX-License-Identifier: Apache-2.0 */
/* A partner receiving bulk shares: validate, seal under its own keys, log RECEIVE, then ack. */
#include "partner.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "frame.h"
#include "hex.h"
#include "instant.h"
#include "peer.h"
#include "protref.h"
#include "sample_pb.h"
#include "tls.h"
#include "vault.h"

#define SECONDS_PER_DAY 86400u
#define RECV_FRAME_MAX (16u * 1024u * 1024u)

struct partner {
	struct partner_config cfg;
	struct peer_listener *pl;
};

/* One batch on its way through the loop. */
struct recv {
	struct partner *p;
	const char *peer;
	Paso__Envelope *env;
	struct paso_diag err;
	uint8_t *reply;
	size_t reply_len;
	uint64_t stored, skipped;
};

static int
reply(struct recv *rv, Paso__Envelope *env)
{
	env->kiosk_id = (char *)"partner";
	env->seq = rv->env != NULL ? rv->env->seq : 0;
	free(rv->reply);
	rv->reply = NULL;
	return frame_encode(env, FRAME_DEFAULT_MAX, &rv->reply, &rv->reply_len);
}

static int
text_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			return 0;
	return 1;
}

/* Every field checked before anything is stored (the sender is trusted for nothing). */
static void
recv_validate(struct recv *rv)
{
	const Paso__ShareBatch *b;
	struct bio_sample s;
	uint64_t last = 0;
	size_t i;

	if (rv->env->body_case != PASO__ENVELOPE__BODY_SHARE_BATCH) {
		paso_diag_set(&rv->err, PASO_E_UNKNOWN_MESSAGE,
			"the national hub may send ShareBatch on this port, nothing else");
		return;
	}
	b = rv->env->share_batch;
	if (b->n_records > 4096) {
		paso_diag_set(&rv->err, PASO_E_FIELD_RANGE,
			"share_batch: %zu records, at most 4096", b->n_records);
		return;
	}
	for (i = 0; i < b->n_records; i++) {
		const Paso__SharedRecord *r = b->records[i];

		if (r->share_seq <= last) {
			paso_diag_set(&rv->err, PASO_E_SEQ_INVALID,
				"share_batch.records[%zu].share_seq %llu: not increasing", i,
				(unsigned long long)r->share_seq);
			return;
		}
		last = r->share_seq;
		if (r->subject.len != 32) {
			paso_diag_set(&rv->err, PASO_E_FIELD_RANGE,
				"share_batch.records[%zu].subject: %zu bytes, expected 32", i,
				r->subject.len);
			return;
		}
		/* enrolled_point may be absent: a release rule's attributes can leave it out. */
		if (!text_ok(r->rule, 64) || !text_ok(r->purpose, 256) ||
			(r->enrolled_point != NULL && r->enrolled_point[0] != '\0' &&
				!text_ok(r->enrolled_point, 64))) {
			paso_diag_set(&rv->err, PASO_E_FIELD_RANGE,
				"share_batch.records[%zu]: rule and purpose must be 1..64/256 "
				"printable characters, enrolled_point 0..64",
				i);
			return;
		}
		if (r->category < 1 || r->category > 4 || r->retention_days < 1 ||
			r->retention_days > 36500) {
			paso_diag_set(&rv->err, PASO_E_FIELD_RANGE,
				"share_batch.records[%zu]: category %d or retention_days %u out of range",
				i, (int)r->category, (unsigned)r->retention_days);
			return;
		}
		if (r->templates != NULL) {
			memset(&s, 0, sizeof(s));
			if (sample_from_pb(r->templates, &s, &rv->err) != 0)
				return;
			bio_sample_clear(&s);
		}
		if (r->protected_templates != NULL) {
			struct pref *pr = NULL;
			struct paso_diag d = {0};

			if (protref_from_pb(r->protected_templates, &pr, &d) != 0) {
				paso_diag_set(&rv->err, d.code != 0 ? d.code : PASO_E_CORRUPT,
					"share_batch.records[%zu].protected_templates: %s", i,
					d.msg);
				return;
			}
			pref_free(pr);
		}
	}
}

static int
recv_refuse(struct recv *rv, struct ledger_txn *t, uint64_t now)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Error er = PASO__ERROR__INIT;
	uint64_t idx;
	int r;

	e.time = now;
	e.actor = (char *)rv->peer;
	e.action = PASO__ACTION__REJECT;
	e.code = rv->err.code;
	e.purpose = "receiving shares";
	e.detail = rv->err.msg;
	e.policy_digest.data = (uint8_t *)policy_digest(rv->p->cfg.dc->policy);
	e.policy_digest.len = 32;
	if ((r = ledger_append(t, &e, &idx)) != 0)
		return r;
	er.code = rv->err.code;
	er.message = rv->err.msg;
	er.audit_index = idx;
	env.body_case = PASO__ENVELOPE__BODY_ERROR;
	env.error = &er;
	hublog_printf(rv->p->cfg.log, "peer %s: batch refused: %s", rv->peer, rv->err.msg);
	return reply(rv, &env);
}

static int
store_one(struct recv *rv, struct ledger_txn *t, uint64_t now, const Paso__SharedRecord *in,
	uint64_t *idxp)
{
	const struct policy *pol = rv->p->cfg.dc->policy;
	Paso__SubjectRecord rec = PASO__SUBJECT_RECORD__INIT;
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	uint8_t id[VAULT_ID_BYTES], *buf = NULL;
	uint32_t days = policy_retention_days(pol, POLICY_REC_ENROLMENT);
	uint64_t expires;
	Paso__PartnerForm pf, *pfp;
	char detail[300], until[INSTANT_TEXT_BYTES];
	size_t len;
	int r, tmpl = in->templates != NULL;

	/* Kept for the shorter of what the sender's rule allows and what our policy says. */
	if (in->retention_days < days)
		days = in->retention_days;
	if (instant_add(now, (uint64_t)days * SECONDS_PER_DAY, &expires) != 0)
		expires = INSTANT_MAX;
	rec.category = in->category;
	rec.templates = in->templates;
	rec.enrolled_at = in->enrolled_at;
	rec.enrolled_point = in->enrolled_point;
	rec.enrolled_by = (char *)rv->peer;
	rec.expires_at = expires;
	rec.policy_digest.data = (uint8_t *)policy_digest(pol);
	rec.policy_digest.len = 32;
	rec.shared_as = in->subject;
	rec.shared_rule = in->rule;
	rec.share_seq = in->share_seq;
	if (in->protected_templates != NULL) {
		/* our own protected form, keyed for us by the sender: kept apart from references
		 * this deployment makes (it holds no key to protect probes with it) */
		paso__partner_form__init(&pf);
		pf.partner = (char *)rv->peer;
		pf.form = in->protected_templates;
		pfp = &pf;
		rec.n_partner_forms = 1;
		rec.partner_forms = &pfp;
		tmpl = 2;
	}
	len = paso__subject_record__get_packed_size(&rec);
	if ((buf = malloc(len ? len : 1)) == NULL)
		return PASO_E_NOMEM;
	len = paso__subject_record__pack(&rec, buf);
	r = vault_subject_create(
		ledger_store(t), NULL, (uint32_t)(expires / SECONDS_PER_DAY), buf, len, id);
	vault_free_record(buf, len);
	if (r != 0)
		return r;
	(void)snprintf(detail, sizeof(detail),
		"received %s (share_seq %llu) from '%s', sealed under this deployment's keys "
		"until %s",
		tmpl == 2 ? "protected templates"
		: tmpl    ? "templates"
			  : "record",
		(unsigned long long)in->share_seq, rv->peer, instant_format(expires, until));
	e.time = now;
	e.actor = (char *)rv->peer;
	e.action = PASO__ACTION__RECEIVE;
	e.subject = in->subject;
	e.purpose = in->purpose;
	e.policy_rule = in->rule;
	e.category = in->category;
	e.detail = detail;
	e.policy_digest.data = (uint8_t *)policy_digest(pol);
	e.policy_digest.len = 32;
	if ((r = ledger_append(t, &e, idxp)) != 0)
		return r;
	ledger_count(t, COUNT_SUBJECTS, 1);
	ledger_count(t, COUNT_CAT_REGIONAL_VISITOR + in->category - 1, 1);
	if (tmpl == 1) {
		ledger_count(t, COUNT_WITH_FINGER, in->templates->finger_record.len > 0);
		ledger_count(t, COUNT_WITH_FACE, in->templates->face != NULL);
		ledger_count(t, COUNT_WITH_IRIS, in->templates->n_iris > 0);
	}
	return 0;
}

static int
recv_task(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap)
{
	struct recv *rv = arg;
	const Paso__ShareBatch *b;
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__ShareAck ack = PASO__SHARE_ACK__INIT;
	char key[96];
	uint64_t high = 0, idx = 0;
	size_t i;
	int r;

	(void)out;
	(void)cap;
	rv->stored = rv->skipped = 0;
	if (rv->err.code != 0)
		return recv_refuse(rv, t, now);
	b = rv->env->share_batch;
	(void)snprintf(key, sizeof(key), "recv.%s", rv->peer);
	if ((r = vault_meta_get(ledger_store(t), key, &high)) != 0 && r != PASO_E_NOT_FOUND)
		return r;
	for (i = 0; i < b->n_records; i++) {
		/* Already applied (the sender did not hear our ack): acknowledged, not stored. */
		if (b->records[i]->share_seq <= high) {
			rv->skipped++;
			continue;
		}
		if ((r = store_one(rv, t, now, b->records[i], &idx)) != 0)
			return r;
		rv->stored++;
	}
	if (b->n_records > 0 && b->records[b->n_records - 1]->share_seq > high)
		high = b->records[b->n_records - 1]->share_seq;
	/* An empty batch (every row dropped by the sender) still acknowledges its envelope seq. */
	if (rv->env->seq > high)
		high = rv->env->seq;
	if ((r = vault_meta_put(ledger_store(t), key, high)) != 0)
		return r;
	ack.through = high;
	ack.audit_index = idx;
	env.body_case = PASO__ENVELOPE__BODY_SHARE_ACK;
	env.share_ack = &ack;
	return reply(rv, &env);
}

static void
serve_peer(void *arg, struct tls_conn *c, const char *peer)
{
	struct partner *p = arg;
	struct recv rv;
	struct paso_diag d = {0};
	uint8_t *payload;
	uint32_t len;
	int rc;

	for (;;) {
		rc = tls_read_frame(c, RECV_FRAME_MAX, &payload, &len, &d);
		if (rc == PASO_E_PEER_CLOSED)
			break;
		if (rc != 0) {
			hublog_printf(p->cfg.log, "peer %s: %s (%s); closing", peer,
				paso_errname(rc), d.msg);
			break;
		}
		memset(&rv, 0, sizeof(rv));
		rv.p = p;
		rv.peer = peer;
		if (frame_decode(payload, len, &rv.env, &rv.err) == 0)
			recv_validate(&rv);
		sodium_memzero(payload, len);
		free(payload);
		rc = peer_loop_task(p->cfg.loop, recv_task, &rv, NULL);
		if (rc == 0 && (rv.stored > 0 || rv.skipped > 0))
			hublog_printf(p->cfg.log, "peer %s: received %llu records (%llu resent)",
				peer, (unsigned long long)rv.stored,
				(unsigned long long)rv.skipped);
		if (rc != 0) {
			hublog_printf(p->cfg.log, "peer %s: storing a batch failed: %s", peer,
				paso_strerror(rc));
			free(rv.reply);
			rv.reply = NULL;
		}
		if (rv.env != NULL)
			paso__envelope__free_unpacked(rv.env, NULL);
		/* No answer after a failed commit: the sender resends. */
		if (rv.reply == NULL || tls_write_all(c, rv.reply, rv.reply_len) != 0) {
			free(rv.reply);
			break;
		}
		free(rv.reply);
	}
}

int
partner_open(const struct partner_config *cfg, struct partner **out, struct paso_diag *d)
{
	struct peer_listener_config lc;
	struct partner *p;
	int r;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return PASO_E_NOMEM;
	p->cfg = *cfg;
	memset(&lc, 0, sizeof(lc));
	lc.dir = cfg->dir;
	lc.host = cfg->host;
	lc.port = cfg->port;
	lc.io_timeout_ms = cfg->io_timeout_ms;
	lc.log = cfg->log;
	lc.what = "receive port";
	lc.serve = serve_peer;
	lc.arg = p;
	if ((r = peer_listen(&lc, &p->pl, d)) != 0) {
		free(p);
		return r;
	}
	*out = p;
	return 0;
}

uint16_t
partner_port(const struct partner *p)
{
	return p != NULL ? peer_listener_port(p->pl) : 0;
}

int
partner_start(struct partner *p)
{
	return p != NULL ? peer_listener_start(p->pl) : 0;
}

void
partner_stop(struct partner *p)
{
	if (p != NULL)
		peer_listener_stop(p->pl);
}

int
partner_idle(struct partner *p)
{
	return p == NULL || peer_listener_conns(p->pl) == 0;
}

void
partner_close(struct partner *p)
{
	if (p == NULL)
		return;
	peer_listener_close(p->pl);
	free(p);
}
