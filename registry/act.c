/* SPDX-License-Identifier: Apache-2.0 */
/* What the hub does with one validated message: decide by policy, store sealed, audit, answer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "frame.h"
#include "hub_internal.h"
#include "sample_pb.h"

#define SECONDS_PER_DAY 86400u

static int
frame_reply(struct request *r, Paso__Envelope *env)
{
	env->kiosk_id = r->kiosk;
	env->seq = r->env != NULL ? r->env->seq : 0;
	free(r->reply);
	r->reply = NULL;
	return frame_encode(env, FRAME_DEFAULT_MAX, &r->reply, &r->reply_len);
}

int
act_error_reply(struct request *r, int code, const char *msg, uint64_t audit_index)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Error err = PASO__ERROR__INIT;

	err.seq = r->env != NULL ? r->env->seq : 0;
	err.code = code;
	err.message = (char *)msg;
	err.audit_index = audit_index;
	err.last_seq = code == PASO_E_SEQ_CONFLICT ? r->last_seq : 0;
	env.body_case = PASO__ENVELOPE__BODY_ERROR;
	env.error = &err;
	return frame_reply(r, &env);
}

int
act_audit(struct hub *h, Paso__AuditEntry *e, uint64_t *indexp)
{
	uint8_t buf[4096], *p = buf;
	size_t n;
	int r;

	e->policy_digest.data = (uint8_t *)policy_digest(h->policy);
	e->policy_digest.len = 32;
	if (e->time == 0)
		e->time = hub_now(h);
	n = paso__audit_entry__get_packed_size(e);
	if (n > sizeof(buf) && (p = malloc(n)) == NULL)
		return PASO_E_NOMEM;
	(void)paso__audit_entry__pack(e, p);
	r = auditlog_append(h->log, p, n, indexp);
	if (p != buf)
		free(p);
	return r;
}

int
act_audit_event(
	struct hub *h, Paso__Action action, int code, const char *purpose, const char *detail)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	uint64_t idx;

	e.actor = "hub";
	e.action = action;
	e.code = code;
	e.detail = (char *)detail;
	e.purpose = (char *)purpose;
	return act_audit(h, &e, &idx);
}

/* Fills the parts of an audit entry every kiosk message shares. */
static void
entry_for(struct request *r, Paso__AuditEntry *e, Paso__Action action, const char *purpose)
{
	e->actor = r->kiosk;
	e->action = action;
	e->purpose = (char *)purpose;
	if (r->has_digest) {
		e->payload_digest.data = r->digest;
		e->payload_digest.len = sizeof(r->digest);
	}
	if (r->env != NULL)
		e->kiosk_seq = r->env->seq;
}

/*
 * The policy's identification rate is per search (the chance a stranger is flagged at all), so
 * each comparison in a gallery of n must be n times stricter.
 */
static double
per_comparison_fmr(const struct hub *h)
{
	size_t n = gallery_size(h->gallery);

	return policy_identify_fmr(h->policy) / (double)(n > 0 ? n : 1);
}

/* Refuses r: one REJECT entry naming the code and reason, and an Error reply. Stores nothing. */
static int
refuse(struct hub *h, struct request *r, int code, const char *msg, const char *rule,
	const uint8_t *subject)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	uint64_t idx;
	int rc;

	entry_for(r, &e, PASO__ACTION__REJECT, "validation");
	e.code = code;
	e.detail = (char *)msg;
	e.policy_rule = (char *)rule;
	if (subject != NULL) {
		e.subject.data = (uint8_t *)subject;
		e.subject.len = 32;
	}
	if ((rc = act_audit(h, &e, &idx)) != 0)
		return rc;
	h->refused++;
	return act_error_reply(r, code, msg, idx);
}

static void
scores_to_pb(const struct match_scores *s, int decision, double fmr, Paso__MatchResult *m)
{
	m->decision = decision;
	m->finger_score = isfinite(s->finger) ? s->finger : 0;
	m->face_score = isfinite(s->face) ? s->face : 0;
	m->iris_score = isfinite(s->iris) ? s->iris : 0;
	m->fused_score = isfinite(s->fused) ? s->fused : 0;
	m->threshold_fmr = fmr;
}

/* Acknowledges r (accepted) and remembers the reply under (kiosk, seq) for resends. */
static int
accept_reply(struct hub *h, struct vault_txn *t, struct request *r, const uint8_t *subject,
	Paso__MatchResult *match, uint64_t audit_index)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Ack ack = PASO__ACK__INIT;
	int rc;

	ack.seq = r->env->seq;
	if (subject != NULL) {
		ack.subject.data = (uint8_t *)subject;
		ack.subject.len = 32;
	}
	ack.match = match;
	ack.audit_index = audit_index;
	env.body_case = PASO__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	if ((rc = frame_reply(r, &env)) != 0)
		return rc;
	h->accepted++;
	return vault_seen_put(t, r->kiosk, r->env->seq, r->digest, r->reply + FRAME_HEADER_BYTES,
		r->reply_len - FRAME_HEADER_BYTES);
}

/* A resend of a message already answered: the same answer again, flagged, audited, not stored. */
static int
replay(struct hub *h, struct request *r, const uint8_t *stored, size_t len)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__Envelope *old;
	uint64_t idx;
	int rc;

	if ((old = paso__envelope__unpack(NULL, len, stored)) == NULL ||
		old->body_case != PASO__ENVELOPE__BODY_ACK) {
		if (old != NULL)
			paso__envelope__free_unpacked(old, NULL);
		return PASO_E_CORRUPT;
	}
	entry_for(r, &e, PASO__ACTION__REPLAYED, "idempotent resend");
	e.subject = old->ack->subject;
	e.detail = "resent message acknowledged again; stored once";
	if ((rc = act_audit(h, &e, &idx)) == 0) {
		char *kiosk_id = old->kiosk_id;

		old->ack->replayed = 1;
		rc = frame_reply(r, old);
		old->kiosk_id =
			kiosk_id; /* frame_reply points it at r->kiosk; free_unpacked owns this */
		h->replayed++;
	}
	paso__envelope__free_unpacked(old, NULL);
	return rc;
}

/* Which modalities the kiosk sent that the policy does not let it capture; NULL if none. */
static const char *
capture_denied(const struct hub *h, const struct bio_sample *s)
{
	const struct policy *p = h->policy;

	if (s->finger_record != NULL && !policy_capture_allowed(p, POLICY_FINGER))
		return "capture.finger";
	if (s->has_face && !policy_capture_allowed(p, POLICY_FACE))
		return "capture.face";
	if (s->n_iris > 0 && !policy_capture_allowed(p, POLICY_IRIS))
		return "capture.iris";
	return NULL;
}

/* The templates the policy lets the hub keep: a copy of the capture with the rest removed. */
static void
kept_templates(const struct hub *h, const Paso__Capture *in, Paso__Capture *out)
{
	const struct policy *p = h->policy;
	int at_hub = policy_store_at_hub(p);

	*out = *in;
	if (!at_hub || !policy_store_allowed(p, POLICY_FINGER)) {
		out->finger_record.data = NULL;
		out->finger_record.len = 0;
	}
	if (!at_hub || !policy_store_allowed(p, POLICY_FACE))
		out->face = NULL;
	if (!at_hub || !policy_store_allowed(p, POLICY_IRIS)) {
		out->iris = NULL;
		out->n_iris = 0;
	}
}

/* Removes from s what the policy does not let the hub keep; returns 1 if anything went. */
static int
strip_unkept(const struct hub *h, struct bio_sample *s)
{
	const struct policy *p = h->policy;

	return bio_sample_keep(s, (policy_store_allowed(p, POLICY_FINGER) ? BIO_FINGER : 0) |
					  (policy_store_allowed(p, POLICY_FACE) ? BIO_FACE : 0) |
					  (policy_store_allowed(p, POLICY_IRIS) ? BIO_IRIS : 0));
}

static int
pack_record(const Paso__SubjectRecord *rec, uint8_t **outp, size_t *lenp)
{
	size_t n = paso__subject_record__get_packed_size(rec);

	if ((*outp = malloc(n ? n : 1)) == NULL)
		return PASO_E_NOMEM;
	*lenp = paso__subject_record__pack(rec, *outp);
	return 0;
}

static int
act_enroll(struct hub *h, struct vault_txn *t, struct request *r, struct pending_add **pending)
{
	const Paso__Enroll *en = r->env->enroll;
	Paso__SubjectRecord rec = PASO__SUBJECT_RECORD__INIT;
	Paso__Capture kept;
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__MatchResult mr = PASO__MATCH_RESULT__INIT;
	struct gallery_hit hit;
	struct pending_add *pa = NULL;
	uint8_t id[VAULT_ID_BYTES], pseud[32], cand[32], *buf = NULL;
	size_t len = 0;
	uint64_t idx, now = en->capture->capture_time;
	uint32_t days = policy_retention_days(h->policy, POLICY_REC_ENROLMENT);
	char msg[160];
	int rc, found = 0;

	rc = vault_card_lookup(t, en->card_number, id);
	if (rc == 0) {
		vault_pseudonym(h->vault, id, pseud);
		return refuse(h, r, PASO_E_CARD_ENROLLED, "enroll.card_number: already enrolled",
			"enrolment", pseud);
	}
	if (rc != PASO_E_NOT_FOUND)
		return rc;
	if (policy_dedup(h->policy) && gallery_size(h->gallery) > 0) {
		if ((rc = gallery_identify_tmpl(
			     h->gallery, r->probe, per_comparison_fmr(h), &hit, &found)) != 0)
			return rc;
		if (found) {
			vault_pseudonym(h->vault, hit.id, cand);
			scores_to_pb(&hit.scores, PASO__DECISION__DUPLICATE_FOUND,
				policy_identify_fmr(h->policy), &mr);
			mr.candidate.data = cand;
			mr.candidate.len = sizeof(cand);
			entry_for(r, &e, PASO__ACTION__REJECT, "enrolment deduplication");
			e.code = PASO_E_DUPLICATE;
			e.subject.data = cand;
			e.subject.len = sizeof(cand);
			e.match = &mr;
			e.policy_rule = "match.dedup";
			e.crossing_point = en->crossing_point;
			e.category = en->category;
			(void)snprintf(msg, sizeof(msg),
				"enroll: person already enrolled under another card (fused score %.3f)",
				hit.scores.fused);
			e.detail = msg;
			if ((rc = act_audit(h, &e, &idx)) != 0)
				return rc;
			h->refused++;
			return act_error_reply(r, PASO_E_DUPLICATE, msg, idx);
		}
	}
	kept_templates(h, en->capture, &kept);
	rec.category = en->category;
	rec.card_number = en->card_number;
	rec.templates = &kept;
	rec.enrolled_at = now;
	rec.enrolled_point = en->crossing_point;
	rec.enrolled_by = r->kiosk;
	rec.expires_at = now + (uint64_t)days * SECONDS_PER_DAY;
	rec.policy_digest.data = (uint8_t *)policy_digest(h->policy);
	rec.policy_digest.len = 32;
	if ((rc = pack_record(&rec, &buf, &len)) != 0)
		return rc;
	/* The key epoch is the expiry day: shredding that day's KEK erases the whole cohort. */
	rc = vault_subject_create(
		t, en->card_number, (uint32_t)(rec.expires_at / SECONDS_PER_DAY), buf, len, id);
	vault_free_record(buf, len);
	if (rc == PASO_E_CARD_ENROLLED)
		return refuse(h, r, rc, "enroll.card_number: already enrolled", "enrolment", NULL);
	if (rc != 0)
		return rc;
	vault_pseudonym(h->vault, id, pseud);
	entry_for(r, &e, PASO__ACTION__ENROLL, "enrolment");
	e.subject.data = pseud;
	e.subject.len = sizeof(pseud);
	e.crossing_point = en->crossing_point;
	e.category = en->category;
	e.policy_rule =
		policy_store_at_hub(h->policy) ? "store.location: hub" : "store.location: card";
	if ((rc = act_audit(h, &e, &idx)) != 0)
		return rc;
	h->counts[COUNT_SUBJECTS]++;
	h->counts[COUNT_CAT_REGIONAL_VISITOR + en->category - 1]++;
	h->counts[COUNT_WITH_FINGER] += kept.finger_record.len > 0;
	h->counts[COUNT_WITH_FACE] += kept.face != NULL;
	h->counts[COUNT_WITH_IRIS] += kept.n_iris > 0;
	if (policy_store_at_hub(h->policy)) {
		/* Memory holds what the store holds: a restart must not change any decision. */
		struct match_template *tm = NULL;

		if (!strip_unkept(h, &r->sample)) {
			tm = r->probe;
			r->probe = NULL;
		}
		if ((pa = calloc(1, sizeof(*pa))) == NULL) {
			match_template_free(tm);
			return PASO_E_NOMEM;
		}
		if ((rc = hub_add_subject(h, id, &r->sample, tm)) != 0) {
			free(pa);
			return rc;
		}
		memcpy(pa->id, id, sizeof(id));
		pa->next = *pending;
		*pending = pa;
	}
	return accept_reply(h, t, r, pseud, NULL, idx);
}

/* Appends a crossing event to the subject's sealed history (its own row, the subject's key). */
static int
record_crossing(struct vault_txn *t, const uint8_t id[VAULT_ID_BYTES], struct request *r,
	Paso__MatchResult *mr)
{
	const Paso__Crossing *c = r->env->crossing;
	Paso__CrossingEvent ev = PASO__CROSSING_EVENT__INIT;
	uint8_t buf[1024];
	size_t n;

	ev.time = c->capture->capture_time;
	ev.direction = c->direction;
	ev.crossing_point = c->crossing_point;
	ev.match = mr;
	ev.kiosk_id = r->kiosk;
	ev.kiosk_seq = r->env->seq;
	if ((n = paso__crossing_event__get_packed_size(&ev)) > sizeof(buf))
		return PASO_E_INTERNAL; /* bounded: every text field is at most 64 bytes */
	(void)paso__crossing_event__pack(&ev, buf);
	return vault_event_add(t, id, buf, n, NULL);
}

/*
 * 1:1 verification of r's capture against subject id, by policy. Staged: face and iris decide
 * alone at half the policy's FMR when they can; otherwise the finger template is built and
 * every modality decides at the other half (union bound: the FMR stays within the policy's).
 * Sets *sc and *rulep; returns 1 for a match, 0 for none, or PASO_E_NOT_FOUND (no templates
 * at the hub) or another error.
 */
static int
verify(struct hub *h, const uint8_t id[VAULT_ID_BYTES], struct request *r, struct match_scores *sc,
	const char **rulep)
{
	double fmr = policy_verify_fmr(h->policy);
	int rc;

	if (!policy_verify_staged(h->policy)) {
		*rulep = "match.verify_fmr";
		if ((rc = gallery_verify(h->gallery, id, r->probe, sc)) != 0)
			return rc;
		return match_decide(sc, fmr);
	}
	*rulep = "match.verify_fmr (staged: face and iris)";
	if ((rc = gallery_verify(h->gallery, id, r->probe, sc)) != 0)
		return rc;
	if (sc->modalities != 0 && match_decide(sc, fmr / 2))
		return 1;
	*rulep = "match.verify_fmr (staged: all modalities)";
	if ((rc = match_template_add_finger(r->probe, &r->sample, NULL)) != 0 ||
		(rc = gallery_verify(h->gallery, id, r->probe, sc)) != 0)
		return rc;
	return match_decide(sc, fmr / 2);
}

static int
act_crossing(struct hub *h, struct vault_txn *t, struct request *r)
{
	const Paso__Crossing *c = r->env->crossing;
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__MatchResult mr = PASO__MATCH_RESULT__INIT;
	struct match_scores sc;
	uint8_t id[VAULT_ID_BYTES], pseud[32];
	double fmr = policy_verify_fmr(h->policy);
	const char *rule = "match.verify_fmr";
	uint64_t idx;
	int rc, decided_match;

	if ((rc = vault_card_lookup(t, c->card_number, id)) == PASO_E_NOT_FOUND)
		return refuse(h, r, PASO_E_NOT_ENROLLED, "crossing.card_number: not enrolled",
			"verification", NULL);
	if (rc != 0)
		return rc;
	vault_pseudonym(h->vault, id, pseud);
	rc = verify(h, id, r, &sc, &rule);
	decided_match = rc == 1;
	if (rc == 1)
		rc = 0;
	if (rc == PASO_E_NOT_FOUND) {
		/* Templates live on the card under this policy: the hub cannot compare. */
		mr.decision = PASO__DECISION__DECISION_NONE;
		rule = "store.location: card";
	} else if (rc != 0) {
		return refuse(h, r, rc, "crossing.capture: its finger record cannot be compared",
			"verification", pseud);
	} else if (sc.modalities == 0) {
		return refuse(h, r, PASO_E_FIELD_RANGE,
			"crossing.capture: no modality in common with the enrolment",
			"verification", pseud);
	} else {
		scores_to_pb(&sc, decided_match ? PASO__DECISION__MATCH : PASO__DECISION__NO_MATCH,
			fmr, &mr);
	}
	if ((rc = record_crossing(t, id, r, &mr)) != 0)
		return rc;
	entry_for(r, &e, PASO__ACTION__CROSSING, "verification");
	e.subject.data = pseud;
	e.subject.len = sizeof(pseud);
	e.match = &mr;
	e.crossing_point = c->crossing_point;
	e.policy_rule = (char *)rule;
	if ((rc = act_audit(h, &e, &idx)) != 0)
		return rc;
	h->counts[COUNT_CROSSINGS]++;
	return accept_reply(h, t, r, pseud, &mr, idx);
}

static int
act_identify(struct hub *h, struct vault_txn *t, struct request *r)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__MatchResult mr = PASO__MATCH_RESULT__INIT;
	struct gallery_hit hit;
	uint8_t pseud[32];
	double fmr = policy_identify_fmr(h->policy);
	uint64_t idx;
	int rc, found = 0;

	memset(&hit, 0, sizeof(hit));
	if ((rc = gallery_identify_tmpl(
		     h->gallery, r->probe, per_comparison_fmr(h), &hit, &found)) != 0)
		return refuse(
			h, r, rc, "identify.capture: cannot be searched", "identification", NULL);
	scores_to_pb(&hit.scores,
		found ? PASO__DECISION__IDENTIFIED : PASO__DECISION__NOT_IDENTIFIED, fmr, &mr);
	entry_for(r, &e, PASO__ACTION__IDENTIFY, "identification");
	if (found) {
		vault_pseudonym(h->vault, hit.id, pseud);
		mr.candidate.data = pseud;
		mr.candidate.len = sizeof(pseud);
		e.subject.data = pseud;
		e.subject.len = sizeof(pseud);
	}
	e.match = &mr;
	e.crossing_point = r->env->identify->crossing_point;
	e.policy_rule = "match.identify_fmr";
	if ((rc = act_audit(h, &e, &idx)) != 0)
		return rc;
	h->counts[COUNT_IDENTIFICATIONS]++;
	return accept_reply(h, t, r, found ? pseud : NULL, &mr, idx);
}

int
act_request(struct hub *h, struct vault_txn *t, struct request *r, struct pending_add **pending)
{
	uint8_t digest[32], *stored = NULL;
	size_t slen = 0;
	const char *denied;
	char msg[200];
	int rc;

	if (r->err.code != 0)
		return refuse(h, r, r->err.code, r->err.msg, "validation", NULL);
	rc = vault_seen_get(t, r->kiosk, r->env->seq, digest, &stored, &slen);
	if (rc == 0) {
		if (sodium_memcmp(digest, r->digest, sizeof(digest)) == 0)
			rc = replay(h, r, stored, slen);
		else if ((rc = vault_seen_last(t, r->kiosk, &r->last_seq)) == 0) {
			(void)snprintf(msg, sizeof(msg),
				"seq %llu was already used by kiosk '%.64s' for a different message; "
				"the last seq held is %llu",
				(unsigned long long)r->env->seq, r->kiosk,
				(unsigned long long)r->last_seq);
			rc = refuse(h, r, PASO_E_SEQ_CONFLICT, msg, "idempotency", NULL);
		}
		free(stored);
		return rc;
	}
	if (rc != PASO_E_NOT_FOUND)
		return rc;
	if ((denied = capture_denied(h, &r->sample)) != NULL) {
		(void)snprintf(msg, sizeof(msg), "%s: not allowed by policy '%.64s'", denied,
			policy_name(h->policy));
		return refuse(h, r, PASO_E_POLICY_DENIED, msg, denied, NULL);
	}
	switch (r->env->body_case) {
	case PASO__ENVELOPE__BODY_ENROLL:
		return act_enroll(h, t, r, pending);
	case PASO__ENVELOPE__BODY_CROSSING:
		return act_crossing(h, t, r);
	case PASO__ENVELOPE__BODY_IDENTIFY:
		return act_identify(h, t, r);
	default:
		return refuse(h, r, PASO_E_UNKNOWN_MESSAGE, "unknown body", "validation", NULL);
	}
}
