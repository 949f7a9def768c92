/* SPDX-License-Identifier: Apache-2.0 */
/* The decision layer: one message, the policy and the store in; verdict, entry, changes out. */
/* SHA256_Init/Update/Final: deprecated in OpenSSL 3, kept (audit/merkle.c says why). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "decide.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <sodium.h>

#include "be.h"
#include "frame.h"
#include "ingest.h"
#include "instant.h"
#include "sample_pb.h"
#include "share.h"

#define SECONDS_PER_DAY 86400u

const char *const decide_count_keys[COUNT_N] = {"count.subjects", "count.crossings",
	"count.identifications", "count.with_finger", "count.with_face", "count.with_iris",
	"count.regional_visitor", "count.border_worker", "count.migrant_in_transit",
	"count.detainee"};

/* A subject added to the gallery by an open transaction. */
struct decide_added {
	uint8_t id[VAULT_ID_BYTES];
	int prot;         /* in the protected gallery */
	struct pref *old; /* a renewal: the reference it replaced (put back on rollback) */
	struct decide_added *next;
};

/* One decision in progress: what it reads and where it writes. */
struct act {
	struct decide_ctx *dc;
	struct ledger_txn *lt;
	struct vault_txn *t; /* ledger_store(lt) */
	uint64_t now;        /* the hub clock, once per transaction */
	struct decide_msg *m;
	struct decide_undo *undo;
};

static double per_comparison_fmr(const struct decide_ctx *dc);
static int verify_raw(const struct decide_ctx *dc, const struct policy *pol, struct decide_msg *m,
	const uint8_t id[VAULT_ID_BYTES], struct match_scores *sc, const char **rulep);
static void prepare_crossing(const struct decide_ctx *dc, struct decide_msg *m);

/* The modalities the hub keeps protected under the policy in force (0: raw or none). */
static unsigned
protected_mask(const struct decide_ctx *dc)
{
	return protref_policy_mask(dc->policy);
}

/* --- preparing a message (any thread) -------------------------------------------------------- */

/*
 * An enrolment under protection, for every partner a templates rule shares this category
 * with: the capture protected under that partner's own key ("partner:NAME"), since the hub
 * keeps no raw template to make it later. A failure refuses the enrolment (m->err).
 */
static void
partner_forms(const struct decide_ctx *dc, struct decide_msg *m)
{
	const struct policy_settings *ps = policy_settings(dc->policy);
	int cat = m->env->enroll->category;
	char holder[80];
	size_t i, j;
	int rc;

	for (i = 0; i < ps->nsharing; i++) {
		const struct policy_share_rule *ru = &ps->sharing[i];

		if (ru->what != POLICY_SHARE_TEMPLATES || cat < 1 || cat > 4 ||
			!(ru->categories & (1u << cat)))
			continue;
		for (j = 0; j < m->nppart && strcmp(m->ppart_name[j], ru->partner) != 0; j++)
			;
		if (j < m->nppart)
			continue; /* two rules for one partner: one form */
		if (m->nppart == DECIDE_MAX_PARTNER_FORMS) {
			paso_diag_set(&m->err, PASO_E_POLICY_CONFLICT,
				"sharing: templates for more than %d partners",
				DECIDE_MAX_PARTNER_FORMS);
			return;
		}
		(void)snprintf(holder, sizeof(holder), "partner:%s", ru->partner);
		if ((rc = protref_protect_for(dc->pkeys, holder, &m->sample, protected_mask(dc),
			     &m->ppart[m->nppart], &m->err)) != 0) {
			if (m->err.code == 0)
				paso_diag_set(&m->err, rc,
					"capture: cannot be protected for partner %s: %s",
					ru->partner, paso_strerror(rc));
			return;
		}
		(void)snprintf(
			m->ppart_name[m->nppart], sizeof(m->ppart_name[0]), "%s", ru->partner);
		m->nppart++;
	}
}

int
decide_prepare(const struct decide_ctx *dc, const char *kiosk, const uint8_t *payload, size_t len,
	const struct paso_diag *transport_err, struct decide_msg *m)
{
	return decide_prepare_in(dc, NULL, kiosk, payload, len, transport_err, m);
}

int
decide_prepare_in(const struct decide_ctx *dc, struct frame_arena *arena, const char *kiosk,
	const uint8_t *payload, size_t len, const struct paso_diag *transport_err,
	struct decide_msg *m)
{
	SHA256_CTX sh;
	int rc;

	memset(m, 0, sizeof(*m));
	m->arena = arena;
	(void)snprintf(m->kiosk, sizeof(m->kiosk), "%s", kiosk);
	if (transport_err != NULL) {
		m->err = *transport_err;
		return 0;
	}
	/* OpenSSL's SHA-256 uses the CPU's SHA extensions where libsodium's does not; its
	 * SHA256_* calls skip the one-shot SHA256()'s implicit fetch (audit/merkle.c). */
	SHA256_Init(&sh);
	SHA256_Update(&sh, payload, len);
	SHA256_Final(m->digest, &sh);
	m->has_digest = 1;
	rc = arena != NULL ? frame_decode_in(arena, payload, len, &m->env, &m->err)
			   : frame_decode(payload, len, &m->env, &m->err);
	if (rc != 0) {
		/* An Envelope without a known body still had a seq: the refusal echoes it. */
		m->seq = frame_peek_seq(payload, len);
		return 0;
	}
	m->seq = m->env->seq;
	m->heavy = m->env->body_case == PASO__ENVELOPE__BODY_ENROLL;
	/* A failed check leaves its code and message in m->err: decide_message refuses it. */
	if (ingest_check(m->env, m->kiosk, &m->sample, &m->err) != 0)
		return 0;
	/* Under protection the raw template is never built: the capture is protected here, off
	 * the commit loop, and every comparison is made in the protected domain. */
	if (protected_mask(dc) != 0) {
		if (dc->pkeys == NULL)
			paso_diag_set(&m->err, PASO_E_POLICY_DENIED,
				"protect: this hub holds no protection keys");
		else if ((rc = protref_protect(dc->pkeys, KEYRING_PROTECT_CURRENT, &m->sample,
				  protected_mask(dc), &m->pprobe, &m->err)) != 0 &&
			 m->err.code == 0)
			paso_diag_set(
				&m->err, rc, "capture: cannot be protected: %s", paso_strerror(rc));
		else if (rc == 0 && m->env->body_case == PASO__ENVELOPE__BODY_ENROLL)
			partner_forms(dc, m);
		return 0;
	}
	/* Template extraction is the costly part of matching; it runs here, in parallel, so the
	 * single commit loop only compares. Staged verification of a crossing starts with face
	 * and iris: its finger template is built only if they do not decide. */
	if (m->env->body_case == PASO__ENVELOPE__BODY_ENROLL && dc->gallery != NULL &&
		gallery_fingers_outside(dc->gallery) &&
		(dc->recent == NULL || gallery_fingers_outside(dc->recent))) {
		/* The galleries keep no fingers and deduplication compares them only where face
		 * and irises leave it open: the finger template is built only then. m->sample
		 * outlives m->probe (decide_msg_clear; gallery_add_tmpl undefers). */
		if (match_template_new_deferred(&m->sample, &m->probe, &m->err) != 0)
			return 0;
	} else if (match_template_new_ex(&m->sample,
			   m->env->body_case == PASO__ENVELOPE__BODY_CROSSING &&
					   policy_verify_staged(dc->policy)
				   ? MATCH_FACE | MATCH_IRIS
				   : MATCH_FINGER | MATCH_FACE | MATCH_IRIS,
			   &m->probe, &m->err) != 0)
		return 0;
	if (m->env->body_case == PASO__ENVELOPE__BODY_CROSSING && dc->vault != NULL)
		prepare_crossing(dc, m);
	/* Deduplication is the costly part of an enrolment (1:N over everyone): done here, it
	 * never holds up the commit loop, and the loop compares only what was added since. An
	 * identification's search is the same 1:N and is done here the same way. */
	if (((m->env->body_case == PASO__ENVELOPE__BODY_ENROLL && policy_dedup(dc->policy)) ||
		    m->env->body_case == PASO__ENVELOPE__BODY_IDENTIFY) &&
		dc->gallery != NULL) {
		m->dedup_seq = gallery_seq(dc->gallery);
		if (gallery_identify_batched(dc->gallery, m->probe, per_comparison_fmr(dc),
			    &m->dedup_hit, &m->dedup_found) == 0)
			m->dedup_done = 1;
	}
	return 0;
}

void
decide_msg_clear(struct decide_msg *m)
{
	/* Wipes the decoded capture and card number. */
	if (m->arena != NULL)
		frame_arena_reset(m->arena);
	else
		frame_free(m->env);
	bio_sample_clear(&m->sample);
	match_template_free(m->probe);
	pref_free(m->pprobe);
	for (size_t i = 0; i < m->nppart; i++)
		pref_free(m->ppart[i]);
	free(m->reply);
	memset(m, 0, sizeof(*m));
}

/* --- replies ----------------------------------------------------------------------------------- */

static int
frame_reply(struct decide_msg *m, Paso__Envelope *env)
{
	env->kiosk_id = m->kiosk;
	env->seq = m->env != NULL ? m->env->seq : m->seq;
	free(m->reply);
	m->reply = NULL;
	return frame_encode(env, FRAME_DEFAULT_MAX, &m->reply, &m->reply_len);
}

int
decide_error_reply(struct decide_msg *m, int code, const char *msg, uint64_t audit_index)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Error err = PASO__ERROR__INIT;

	err.seq = m->env != NULL ? m->env->seq : m->seq;
	err.code = code;
	err.message = (char *)msg;
	err.audit_index = audit_index;
	err.last_seq = code == PASO_E_SEQ_CONFLICT ? m->last_seq : 0;
	env.body_case = PASO__ENVELOPE__BODY_ERROR;
	env.error = &err;
	return frame_reply(m, &env);
}

/* --- audit entries ----------------------------------------------------------------------------- */

/* Stamps e with the hub's time and policy and appends it to the transaction. */
static int
audit(const struct decide_ctx *dc, struct ledger_txn *lt, uint64_t now, Paso__AuditEntry *e,
	uint64_t *indexp)
{
	e->policy_digest.data = (uint8_t *)policy_digest(dc->policy);
	e->policy_digest.len = 32;
	e->time = now;
	return ledger_append(lt, e, indexp);
}

void
decide_settle(struct decide_ctx *dc)
{
	if (dc->recent != NULL && gallery_size(dc->recent) > 0)
		(void)gallery_move_all_try(dc->gallery, dc->recent);
}

int
decide_event(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, Paso__Action action,
	int code, const char *purpose, const char *detail)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	uint64_t idx;

	e.actor = "hub";
	e.action = action;
	e.code = code;
	e.detail = (char *)detail;
	e.purpose = (char *)purpose;
	return audit(dc, t, now, &e, &idx);
}

/* Fills the parts of an audit entry every kiosk message shares. */
static void
entry_for(const struct decide_msg *m, Paso__AuditEntry *e, Paso__Action action, const char *purpose)
{
	e->actor = (char *)m->kiosk;
	e->action = action;
	e->purpose = (char *)purpose;
	if (m->has_digest) {
		e->payload_digest.data = (uint8_t *)m->digest;
		e->payload_digest.len = sizeof(m->digest);
	}
	if (m->env != NULL)
		e->kiosk_seq = m->env->seq;
}

/* People enrolled: the gallery and this transaction's enrolments. */
static size_t
held(const struct decide_ctx *dc)
{
	return gallery_size(dc->gallery) + (dc->recent != NULL ? gallery_size(dc->recent) : 0) +
	       (dc->pgallery != NULL ? pgallery_size(dc->pgallery) : 0);
}

/*
 * The policy's identification rate is per search (the chance a stranger is flagged at all), so
 * each comparison in a gallery of n must be n times stricter.
 */
static double
per_comparison_fmr(const struct decide_ctx *dc)
{
	size_t n = held(dc);

	return policy_identify_fmr(dc->policy) / (double)(n > 0 ? n : 1);
}

/* The hub's day at a->now: the creation day of the records an act makes (key epochs). */
static uint32_t
today(const struct act *a)
{
	return (uint32_t)(a->now / SECONDS_PER_DAY);
}

/*
 * What the hub keeps about a refused message: its Error answer (kiosk, seq, code, reason,
 * audit index), sealed under the key epoch of refusals made today and keyed by the audit
 * index, so it goes after retention_days.rejected (registry/retention.h).
 */
static int
keep_refusal(struct act *a, uint64_t idx)
{
	uint8_t key[8];

	be64_put(key, idx);
	return vault_kept_put(a->t, VAULT_EPOCH(POLICY_REC_REJECTED, today(a)), key, sizeof(key),
		a->m->reply + FRAME_HEADER_BYTES, a->m->reply_len - FRAME_HEADER_BYTES);
}

/* Refuses the message: one REJECT entry naming the code and reason, and an Error reply. */
static int
refuse(struct act *a, int code, const char *msg, const char *rule, const uint8_t *subject)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	uint64_t idx;
	int rc;

	entry_for(a->m, &e, PASO__ACTION__REJECT, "validation");
	e.code = code;
	e.detail = (char *)msg;
	e.policy_rule = (char *)rule;
	if (subject != NULL) {
		e.subject.data = (uint8_t *)subject;
		e.subject.len = 32;
	}
	if ((rc = audit(a->dc, a->lt, a->now, &e, &idx)) != 0)
		return rc;
	a->dc->refused++;
	if ((rc = decide_error_reply(a->m, code, msg, idx)) != 0)
		return rc;
	return keep_refusal(a, idx);
}

static void
scores_to_pb(const struct match_scores *s, int decision, double fmr, Paso__MatchResult *mr)
{
	mr->decision = decision;
	mr->finger_score = isfinite(s->finger) ? s->finger : 0;
	mr->face_score = isfinite(s->face) ? s->face : 0;
	mr->iris_score = isfinite(s->iris) ? s->iris : 0;
	mr->fused_score = isfinite(s->fused) ? s->fused : 0;
	mr->threshold_fmr = fmr;
}

/*
 * The record kind of an accepted message's acknowledgement: an enrolment's lives as long as
 * the enrolment, a crossing's as long as a crossing record, an identification's (its result) as
 * long as an identification. The acknowledgement holds the subject's pseudonym and the scores,
 * so it must not outlive what it describes: it is sealed under that kind's key epoch of today.
 */
static enum policy_record_kind
ack_kind(const struct act *a)
{
	switch (a->m->env->body_case) {
	case PASO__ENVELOPE__BODY_ENROLL:
		return POLICY_REC_ENROLMENT;
	case PASO__ENVELOPE__BODY_CROSSING:
		return POLICY_REC_CROSSING;
	default:
		return POLICY_REC_IDENTIFICATION;
	}
}

/* Acknowledges the message and remembers the reply under (kiosk, seq) for resends. */
static int
accept_reply(struct act *a, const uint8_t *subject, Paso__MatchResult *match, uint64_t idx)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Ack ack = PASO__ACK__INIT;
	struct decide_msg *m = a->m;
	int rc;

	ack.seq = m->env->seq;
	if (subject != NULL) {
		ack.subject.data = (uint8_t *)subject;
		ack.subject.len = 32;
	}
	ack.match = match;
	ack.audit_index = idx;
	env.body_case = PASO__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	if ((rc = frame_reply(m, &env)) != 0)
		return rc;
	a->dc->accepted++;
	return vault_seen_put_sealed(a->t, m->kiosk, m->env->seq, m->digest,
		m->reply + FRAME_HEADER_BYTES, m->reply_len - FRAME_HEADER_BYTES,
		VAULT_EPOCH(ack_kind(a), today(a)), idx);
}

/* A resend of a message already answered: the same answer again, flagged, audited, not stored. */
static int
replay(struct act *a, const uint8_t *stored, size_t len)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__Envelope *old;
	uint64_t idx;
	int rc;

	if ((old = paso__envelope__unpack(frame_allocator(), len, stored)) == NULL ||
		old->body_case != PASO__ENVELOPE__BODY_ACK) {
		frame_free(old);
		return PASO_E_CORRUPT;
	}
	entry_for(a->m, &e, PASO__ACTION__REPLAYED, "idempotent resend");
	e.subject = old->ack->subject;
	e.detail = "resent message acknowledged again; stored once";
	if ((rc = audit(a->dc, a->lt, a->now, &e, &idx)) == 0) {
		char *kiosk_id = old->kiosk_id;

		old->ack->replayed = 1;
		rc = frame_reply(a->m, old);
		old->kiosk_id = kiosk_id; /* frame_reply pointed it at m->kiosk */
		a->dc->replayed++;
	}
	frame_free(old);
	return rc;
}

/* --- policy ------------------------------------------------------------------------------------ */

/* Which modalities the kiosk sent that the policy does not let it capture; NULL if none. */
static const char *
capture_denied(const struct policy *p, const struct bio_sample *s)
{
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
kept_templates(const struct policy *p, const Paso__Capture *in, Paso__Capture *out)
{
	int at_hub = policy_store_at_hub(p);
	unsigned prot = protref_policy_mask(p);

	*out = *in;
	/* Protected modalities are sealed only in their protected form (protected_templates). */
	if (prot & BIO_FINGER) {
		out->finger_record.data = NULL;
		out->finger_record.len = 0;
	}
	if (prot & BIO_FACE)
		out->face = NULL;
	if (prot & BIO_IRIS) {
		out->iris = NULL;
		out->n_iris = 0;
	}
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
strip_unkept(const struct policy *p, struct bio_sample *s)
{
	return bio_sample_keep(s, (policy_store_allowed(p, POLICY_FINGER) ? BIO_FINGER : 0) |
					  (policy_store_allowed(p, POLICY_FACE) ? BIO_FACE : 0) |
					  (policy_store_allowed(p, POLICY_IRIS) ? BIO_IRIS : 0));
}

/*
 * The kiosk's capture_time is what the kiosk claims; the hub's clock decides everything else.
 * A claim further than the window from the hub's time is refused: a kiosk with a wrong or
 * hostile clock must not look as if it captured people at another time.
 */
static int
capture_time_check(struct act *a, const char **fieldp, char *msg, size_t cap)
{
	static const char *const names[] = {"enroll", "crossing", "identify"};
	const Paso__Capture *c = ingest_capture(a->m->env);
	uint64_t w = a->dc->capture_window ? a->dc->capture_window : DECIDE_CAPTURE_WINDOW_DEFAULT;
	uint64_t t, off;
	char ct[INSTANT_TEXT_BYTES], ht[INSTANT_TEXT_BYTES];
	int body = a->m->env->body_case;
	const char *name;

	if (c == NULL)
		return 0;
	t = c->capture_time;
	off = t > a->now ? t - a->now : a->now - t;
	if (off <= w)
		return 0;
	name = body == PASO__ENVELOPE__BODY_ENROLL     ? names[0]
	       : body == PASO__ENVELOPE__BODY_CROSSING ? names[1]
						       : names[2];
	*fieldp = "capture_window";
	(void)snprintf(msg, cap,
		"%s.capture.capture_time %s (%llu) is %llu s %s the hub's time %s; the window is "
		"+-%llu s",
		name, t <= INSTANT_MAX ? instant_format(t, ct) : "(past 9999)",
		(unsigned long long)t, (unsigned long long)off, t > a->now ? "after" : "before",
		instant_format(a->now, ht), (unsigned long long)w);
	return 1;
}

/* --- the acts ---------------------------------------------------------------------------------- */

static int
pack_record(const Paso__SubjectRecord *rec, uint8_t **outp, size_t *lenp)
{
	size_t n = paso__subject_record__get_packed_size(rec);

	if ((*outp = malloc(n ? n : 1)) == NULL)
		return PASO_E_NOMEM;
	*lenp = paso__subject_record__pack(rec, *outp);
	return 0;
}

int
decide_gallery_add(struct gallery *g, const uint8_t id[VAULT_ID_BYTES], const struct bio_sample *s,
	struct match_template *t)
{
	if (s->finger_record == NULL && !s->has_face && s->n_iris == 0) {
		match_template_free(t);
		return 0;
	}
	if (t != NULL)
		return gallery_add_tmpl(g, id, t);
	return gallery_add(g, id, s);
}

/* 1:1 against subject id, wherever it is: this transaction's enrolments, then the gallery. */
static int
verify_any(const struct decide_ctx *dc, const uint8_t id[VAULT_ID_BYTES],
	const struct match_template *probe, struct match_scores *sc)
{
	int rc = PASO_E_NOT_FOUND;

	if (dc->recent != NULL)
		rc = gallery_verify(dc->recent, id, probe, sc);
	if (rc == PASO_E_NOT_FOUND)
		rc = gallery_verify(dc->gallery, id, probe, sc);
	return rc;
}

/* Keeps in *best the better of two search results. */
static void
merge_hit(struct gallery_hit *best, int *found, const struct gallery_hit *h, int f)
{
	if (h->scores.modalities == 0)
		return;
	if (best->scores.modalities == 0 || (f && !*found) ||
		(f == *found && h->scores.fused > best->scores.fused)) {
		*best = *h;
		*found = f;
	}
}

/* 1:N over the gallery (entries after seq `after` only, when since) and this transaction's. */
static int
identify_any(const struct decide_ctx *dc, const struct match_template *probe, double fmr, int since,
	uint64_t after, struct gallery_hit *best, int *found)
{
	struct gallery_hit h;
	int f = 0, rc;

	memset(best, 0, sizeof(*best));
	*found = 0;
	rc = since ? gallery_identify_since_tmpl(dc->gallery, probe, fmr, after, best, found)
		   : gallery_identify_tmpl(dc->gallery, probe, fmr, best, found);
	if (rc != 0 || dc->recent == NULL || gallery_size(dc->recent) == 0)
		return rc;
	if ((rc = gallery_identify_tmpl(dc->recent, probe, fmr, &h, &f)) != 0)
		return rc;
	merge_hit(best, found, &h, f);
	return 0;
}

/*
 * An identification whose search decide_prepare made: its best entry, compared again now if it
 * is still held (judged at the FMR of the gallery's size now), merged with a search of what was
 * added since (earlier messages of this group included). Without a prepared search, or when
 * its best has gone (erased meanwhile), the whole search is made here.
 */
static int
identify_prepared(const struct decide_ctx *dc, const struct decide_msg *m, struct gallery_hit *best,
	int *found)
{
	double fmr = per_comparison_fmr(dc);
	struct gallery_hit prev;
	int rc;

	if (!m->dedup_done)
		return identify_any(dc, m->probe, fmr, 0, 0, best, found);
	prev = m->dedup_hit;
	if (prev.scores.modalities != 0 && verify_any(dc, prev.id, m->probe, &prev.scores) != 0)
		return identify_any(dc, m->probe, fmr, 0, 0, best, found);
	if ((rc = identify_any(dc, m->probe, fmr, 1, m->dedup_seq, best, found)) != 0)
		return rc;
	if (prev.scores.modalities != 0)
		merge_hit(best, found, &prev, match_decide(&prev.scores, fmr));
	return 0;
}

/* --- protected references (registry/protref.h) ----------------------------------------------- */

/* The probe under generation gen: m->pprobe when it is of that one, else made now into *tmp. */
static int
pprobe_for(struct act *a, uint32_t gen, const struct pref **outp, struct pref **tmp)
{
	*tmp = NULL;
	*outp = NULL;
	if (a->m->pprobe->gen == gen) {
		*outp = a->m->pprobe;
		return 0;
	}
	/* a reference not yet renewed: the capture protected under its generation too */
	if (protref_protect(a->dc->pkeys, gen, &a->m->sample, protected_mask(a->dc), tmp, NULL) !=
		0)
		return PASO_E_KEY_NOT_FOUND;
	*outp = *tmp;
	return 0;
}

#define DECIDE_MAX_GENS PGALLERY_MAX_GENS
int
decide_identify_protected(const struct decide_ctx *dc, const struct bio_sample *s,
	const struct pref *cur, double fmr, struct gallery_hit *best, int *found)
{
	uint32_t gens[DECIDE_MAX_GENS];
	const struct pref *probes[DECIDE_MAX_GENS];
	struct pref *tmp[DECIDE_MAX_GENS];
	size_t ng = pgallery_gens(dc->pgallery, gens, DECIDE_MAX_GENS), np = 0, i;
	int rc;

	memset(best, 0, sizeof(*best));
	*found = 0;
	for (i = 0; i < ng; i++) {
		tmp[i] = NULL;
		if (cur != NULL && cur->gen == gens[i]) {
			probes[np++] = cur;
			continue;
		}
		/* a generation whose key cannot be had is skipped: its references cannot match */
		if (protref_protect(dc->pkeys, gens[i], s, protected_mask(dc), &tmp[i], NULL) == 0)
			probes[np++] = tmp[i];
	}
	rc = pgallery_identify(dc->pgallery, probes, np, fmr, best->id, &best->scores, found);
	for (i = 0; i < ng; i++)
		pref_free(tmp[i]);
	return rc;
}

/* 1:N over the protected references: the probe under every generation held. */
static int
pidentify(struct act *a, double fmr, struct gallery_hit *best, int *found)
{
	return decide_identify_protected(a->dc, &a->m->sample, a->m->pprobe, fmr, best, found);
}

/*
 * 1:1 against subject id's protected reference (generation *gen). Returns 1 for a match at the
 * policy's verification FMR, 0 for none, PASO_E_NOT_FOUND (no reference) or another error.
 */
static int
pverify(struct act *a, const uint8_t id[VAULT_ID_BYTES], struct match_scores *sc, uint32_t *gen)
{
	const struct pref *p;
	struct pref *tmp = NULL;
	int rc;

	memset(sc, 0, sizeof(*sc));
	if ((rc = pgallery_gen(a->dc->pgallery, id, gen)) != 0)
		return rc;
	if ((rc = pprobe_for(a, *gen, &p, &tmp)) == 0 &&
		(rc = pgallery_verify(a->dc->pgallery, id, p, sc)) == 0)
		rc = match_decide(sc, policy_verify_fmr(a->dc->policy));
	pref_free(tmp);
	return rc;
}

/* Lists a protected-gallery change of this transaction for decide_undo (old: replaced). */
static int
undo_add(struct act *a, const uint8_t id[VAULT_ID_BYTES], struct pref *old)
{
	struct decide_added *ad;

	if ((ad = calloc(1, sizeof(*ad))) == NULL)
		return PASO_E_NOMEM;
	memcpy(ad->id, id, VAULT_ID_BYTES);
	ad->prot = 1;
	ad->old = old;
	ad->next = a->undo->added;
	a->undo->added = ad;
	return 0;
}

/*
 * Renewal: subject id matched a reference under generation old_gen, older than the current
 * one. The crossing's capture, protected under the current generation, replaces it, in the
 * sealed record and in the gallery, when it holds every modality the reference held. Sets
 * *renewed. The old generation's key is destroyed once no reference uses it (hub.c).
 */
static int
prenew(struct act *a, const uint8_t id[VAULT_ID_BYTES], uint32_t old_gen, int *renewed)
{
	struct decide_msg *m = a->m;
	Paso__SubjectRecord *sr = NULL;
	Paso__ProtectedTemplates *was;
	struct protref_pb pb;
	struct pref *old = NULL;
	uint8_t *rec = NULL, *buf = NULL;
	size_t len = 0, blen = 0;
	unsigned mods;
	int rc;

	*renewed = 0;
	memset(&pb, 0, sizeof(pb));
	if (m->pprobe == NULL || m->pprobe->gen <= old_gen ||
		pgallery_modalities(a->dc->pgallery, id, &mods) != 0 ||
		(pref_modalities(m->pprobe) & mods) != mods)
		return 0;
	if ((rc = vault_subject_get(a->t, id, &rec, &len)) != 0)
		goto out;
	if ((sr = paso__subject_record__unpack(frame_allocator(), len, rec)) == NULL) {
		rc = PASO_E_CORRUPT;
		goto out;
	}
	if ((rc = protref_to_pb(m->pprobe, &pb)) != 0)
		goto out;
	was = sr->protected_templates;
	sr->protected_templates = &pb.pt;
	rc = pack_record(sr, &buf, &blen);
	sr->protected_templates = was;
	if (rc != 0 || (rc = vault_subject_update(a->t, id, buf, blen)) != 0)
		goto out;
	if ((rc = pgallery_put(a->dc->pgallery, id, m->pprobe, 1, &old)) != 0) {
		m->pprobe = NULL;
		goto out;
	}
	m->pprobe = NULL;
	if ((rc = undo_add(a, id, old)) != 0) {
		/* nothing to put back with: the transaction fails and the gallery keeps the new
		 * reference of a record that was not changed; better to drop it */
		(void)pgallery_remove(a->dc->pgallery, id);
		pref_free(old);
		goto out;
	}
	*renewed = 1;
out:
	if (buf != NULL)
		vault_free_record(buf, blen);
	if (sr != NULL)
		paso__subject_record__free_unpacked(sr, frame_allocator());
	if (rec != NULL)
		vault_free_record(rec, len);
	protref_pb_clear(&pb);
	return rc;
}

/* Refuses an enrolment of someone already enrolled under another card (1:N deduplication). */
static int
refuse_duplicate(struct act *a, const struct gallery_hit *hit)
{
	const Paso__Enroll *en = a->m->env->enroll;
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__MatchResult mr = PASO__MATCH_RESULT__INIT;
	uint8_t cand[32];
	uint64_t idx;
	char msg[160];
	int rc;

	if ((rc = vault_pseudonym(a->t, hit->id, cand)) != 0)
		return rc;
	scores_to_pb(&hit->scores, PASO__DECISION__DUPLICATE_FOUND,
		policy_identify_fmr(a->dc->policy), &mr);
	mr.candidate.data = cand;
	mr.candidate.len = sizeof(cand);
	entry_for(a->m, &e, PASO__ACTION__REJECT, "enrolment deduplication");
	e.code = PASO_E_DUPLICATE;
	e.subject.data = cand;
	e.subject.len = sizeof(cand);
	e.match = &mr;
	e.policy_rule = "match.dedup";
	e.crossing_point = en->crossing_point;
	e.category = en->category;
	(void)snprintf(msg, sizeof(msg),
		"enroll: person already enrolled under another card (fused score %.3f)",
		hit->scores.fused);
	e.detail = msg;
	if ((rc = audit(a->dc, a->lt, a->now, &e, &idx)) != 0)
		return rc;
	a->dc->refused++;
	if ((rc = decide_error_reply(a->m, PASO_E_DUPLICATE, msg, idx)) != 0)
		return rc;
	return keep_refusal(a, idx);
}

/* Puts a new subject's kept templates in the gallery and lists it for undo. */
static int
gallery_enter(struct act *a, const uint8_t id[VAULT_ID_BYTES])
{
	struct decide_msg *m = a->m;
	struct match_template *tm = NULL;
	struct decide_added *ad;
	int rc;

	if (m->pprobe != NULL) {
		if (pref_modalities(m->pprobe) == 0)
			return 0; /* nothing kept: as a subject whose templates stay on the card */
		rc = pgallery_put(a->dc->pgallery, id, m->pprobe, 0, NULL);
		m->pprobe = NULL;
		if (rc != 0)
			return rc;
		return undo_add(a, id, NULL);
	}
	/* Memory holds what the store holds: a restart must not change any decision. */
	if (!strip_unkept(a->dc->policy, &m->sample)) {
		tm = m->probe;
		m->probe = NULL;
	} else if (m->probe != NULL)
		match_template_undefer(m->probe); /* its sample changed: never built from it now */
	if ((ad = calloc(1, sizeof(*ad))) == NULL) {
		match_template_free(tm);
		return PASO_E_NOMEM;
	}
	if ((rc = decide_gallery_add(a->dc->recent != NULL ? a->dc->recent : a->dc->gallery, id,
		     &m->sample, tm)) != 0) {
		free(ad);
		return rc;
	}
	memcpy(ad->id, id, VAULT_ID_BYTES);
	ad->next = a->undo->added;
	a->undo->added = ad;
	return 0;
}

static int
act_enroll(struct act *a)
{
	const struct decide_ctx *dc = a->dc;
	const Paso__Enroll *en = a->m->env->enroll;
	Paso__SubjectRecord rec = PASO__SUBJECT_RECORD__INIT;
	Paso__Capture kept;
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	struct gallery_hit hit;
	struct protref_pb pb, ppb[DECIDE_MAX_PARTNER_FORMS];
	Paso__PartnerForm pf[DECIDE_MAX_PARTNER_FORMS], *pfp[DECIDE_MAX_PARTNER_FORMS];
	unsigned kept_mods;
	uint8_t id[VAULT_ID_BYTES], pseud[32], *buf = NULL;
	size_t len = 0, i;
	uint64_t idx, expires;
	uint32_t days = policy_retention_days(dc->policy, POLICY_REC_ENROLMENT);
	int rc, found = 0;

	rc = vault_card_lookup(a->t, en->card_number, id);
	if (rc == 0) {
		if ((rc = vault_pseudonym(a->t, id, pseud)) != 0)
			return rc;
		return refuse(a, PASO_E_CARD_ENROLLED, "enroll.card_number: already enrolled",
			"enrolment", pseud);
	}
	if (rc != PASO_E_NOT_FOUND)
		return rc;
	if (policy_dedup(dc->policy) && held(dc) > 0 && a->m->pprobe != NULL) {
		if ((rc = pidentify(a, per_comparison_fmr(dc), &hit, &found)) != 0)
			return rc;
		if (found)
			return refuse_duplicate(a, &hit);
	} else if (policy_dedup(dc->policy) && held(dc) > 0) {
		struct match_scores sc;
		const struct decide_msg *m = a->m;

		/* The search made in decide_prepare stands if its candidate is still held; what
		 * was added since (earlier messages of this group included) is compared here, so
		 * two enrolments of one person in flight at once are still caught. */
		if (m->dedup_done &&
			(!m->dedup_found || verify_any(dc, m->dedup_hit.id, m->probe, &sc) == 0)) {
			if (m->dedup_found)
				return refuse_duplicate(a, &m->dedup_hit);
			rc = identify_any(dc, m->probe, per_comparison_fmr(dc), 1, m->dedup_seq,
				&hit, &found);
		} else
			rc = identify_any(dc, m->probe, per_comparison_fmr(dc), 0, 0, &hit, &found);
		if (rc != 0)
			return rc;
		if (found)
			return refuse_duplicate(a, &hit);
	}
	/* Retention runs on the hub's clock from acceptance, never on the kiosk's claim. */
	if (instant_add(a->now, (uint64_t)days * SECONDS_PER_DAY, &expires) != 0)
		return refuse(a, PASO_E_FIELD_RANGE,
			"enroll: retention_days.enrolment from the hub's time passes 9999-12-31",
			"retention_days.enrolment", NULL);
	kept_templates(dc->policy, en->capture, &kept);
	rec.category = en->category;
	rec.card_number = en->card_number;
	rec.templates = &kept;
	rec.enrolled_at = a->now;
	rec.captured_at = en->capture->capture_time;
	rec.enrolled_point = en->crossing_point;
	rec.enrolled_by = a->m->kiosk;
	rec.expires_at = expires;
	rec.policy_digest.data = (uint8_t *)policy_digest(dc->policy);
	rec.policy_digest.len = 32;
	memset(&pb, 0, sizeof(pb));
	kept_mods = (kept.finger_record.len > 0 ? BIO_FINGER : 0) |
		    (kept.face != NULL ? BIO_FACE : 0) | (kept.n_iris > 0 ? BIO_IRIS : 0);
	if (a->m->pprobe != NULL && pref_modalities(a->m->pprobe) != 0) {
		/* only the protected form is sealed; the raw capture is wiped with the message */
		if ((rc = protref_to_pb(a->m->pprobe, &pb)) != 0)
			return rc;
		rec.protected_templates = &pb.pt;
		kept_mods |= pref_modalities(a->m->pprobe);
	}
	memset(ppb, 0, sizeof(ppb));
	rc = 0;
	for (i = 0; i < a->m->nppart && rc == 0; i++) {
		paso__partner_form__init(&pf[i]);
		pf[i].partner = a->m->ppart_name[i];
		if ((rc = protref_to_pb(a->m->ppart[i], &ppb[i])) == 0)
			pf[i].form = &ppb[i].pt;
		pfp[i] = &pf[i];
	}
	rec.n_partner_forms = a->m->nppart;
	rec.partner_forms = pfp;
	if (rc == 0)
		rc = pack_record(&rec, &buf, &len);
	protref_pb_clear(&pb);
	for (i = 0; i < a->m->nppart; i++)
		protref_pb_clear(&ppb[i]);
	if (rc != 0)
		return rc;
	/* The key epoch is (enrolment, today): the sweep erases the day's cohort when
	 * retention_days.enrolment IN FORCE then has passed, and shreds the day's KEK;
	 * expires_at says when that would be under the policy of the enrolment. */
	rc = vault_subject_create(
		a->t, en->card_number, VAULT_EPOCH(POLICY_REC_ENROLMENT, today(a)), buf, len, id);
	vault_free_record(buf, len);
	if (rc == PASO_E_CARD_ENROLLED)
		return refuse(a, rc, "enroll.card_number: already enrolled", "enrolment", NULL);
	if (rc != 0)
		return rc;
	if ((rc = vault_pseudonym(a->t, id, pseud)) != 0)
		return rc;
	entry_for(a->m, &e, PASO__ACTION__ENROLL, "enrolment");
	e.subject.data = pseud;
	e.subject.len = sizeof(pseud);
	e.crossing_point = en->crossing_point;
	e.category = en->category;
	e.policy_rule =
		policy_store_at_hub(dc->policy) ? "store.location: hub" : "store.location: card";
	if ((rc = audit(dc, a->lt, a->now, &e, &idx)) != 0)
		return rc;
	ledger_count(a->lt, COUNT_SUBJECTS, 1);
	ledger_count(a->lt, COUNT_CAT_REGIONAL_VISITOR + en->category - 1, 1);
	ledger_count(a->lt, COUNT_WITH_FINGER, (kept_mods & BIO_FINGER) != 0);
	ledger_count(a->lt, COUNT_WITH_FACE, (kept_mods & BIO_FACE) != 0);
	ledger_count(a->lt, COUNT_WITH_IRIS, (kept_mods & BIO_IRIS) != 0);
	/* Bulk sharing rules: outbox rows in this same transaction (registry/share.h). */
	if ((rc = share_enqueue(dc->policy, a->lt, id, en->category)) != 0)
		return rc;
	if (policy_store_at_hub(dc->policy) && (rc = gallery_enter(a, id)) != 0)
		return rc;
	return accept_reply(a, pseud, NULL, idx);
}

/*
 * Keeps a crossing event as a record of its own, sealed under the key epoch of crossings made
 * today: it expires after retention_days.crossing, apart from the subject's enrolment. Its key
 * leads with its audit entry's index idx (unique, growing): a group's crossings are appended
 * together, and no search for the subject's last crossing is needed.
 */
static int
record_crossing(struct act *a, const uint8_t id[VAULT_ID_BYTES], const uint8_t *xref,
	Paso__MatchResult *mr, uint64_t idx)
{
	const Paso__Crossing *c = a->m->env->crossing;
	Paso__CrossingEvent ev = PASO__CROSSING_EVENT__INIT;
	uint8_t buf[1024];
	size_t n;

	ev.time = a->now;
	ev.capture_time = c->capture->capture_time;
	ev.direction = c->direction;
	ev.crossing_point = c->crossing_point;
	ev.match = mr;
	ev.kiosk_id = a->m->kiosk;
	ev.kiosk_seq = a->m->env->seq;
	if ((n = paso__crossing_event__get_packed_size(&ev)) > sizeof(buf))
		return PASO_E_INTERNAL; /* bounded: every text field is at most 64 bytes */
	(void)paso__crossing_event__pack(&ev, buf);
	if (xref != NULL) /* the subject's, found held in this transaction (act_crossing) */
		return vault_crossing_add_ref(
			a->t, xref, VAULT_EPOCH(POLICY_REC_CROSSING, today(a)), idx, buf, n);
	return vault_crossing_add(
		a->t, id, VAULT_EPOCH(POLICY_REC_CROSSING, today(a)), idx, buf, n);
}

/*
 * 1:1 verification of the capture against subject id, by policy. Staged: face and iris decide
 * alone at half the policy's FMR when they can; otherwise the finger template is built and
 * every modality decides at the other half (union bound: the FMR stays within the policy's).
 * Sets *sc and *rulep; returns 1 for a match, 0 for none, or PASO_E_NOT_FOUND (no templates
 * at the hub) or another error.
 */
static int
verify(struct act *a, const uint8_t id[VAULT_ID_BYTES], struct match_scores *sc, const char **rulep,
	uint32_t *genp)
{
	if (a->m->pprobe != NULL) {
		*rulep = "match.verify_fmr (protected references)";
		return pverify(a, id, sc, genp);
	}
	return verify_raw(a->dc, a->dc->policy, a->m, id, sc, rulep);
}

/* verify without protection, under policy pol (any thread: decide_prepare calls it too). */
static int
verify_raw(const struct decide_ctx *dc, const struct policy *pol, struct decide_msg *m,
	const uint8_t id[VAULT_ID_BYTES], struct match_scores *sc, const char **rulep)
{
	double fmr = policy_verify_fmr(pol);
	int rc;

	if (!policy_verify_staged(pol)) {
		*rulep = "match.verify_fmr";
		if ((rc = verify_any(dc, id, m->probe, sc)) != 0)
			return rc;
		return match_decide(sc, fmr);
	}
	/* A probe that has its finger already went through the first stage (decide_prepare,
	 * against this same subject) without a decision. */
	if (!match_template_has_finger(m->probe)) {
		*rulep = "match.verify_fmr (staged: face and iris)";
		if ((rc = verify_any(dc, id, m->probe, sc)) != 0)
			return rc;
		if (sc->modalities != 0 && match_decide(sc, fmr / 2))
			return 1;
	}
	*rulep = "match.verify_fmr (staged: all modalities)";
	if ((rc = match_template_add_finger(m->probe, &m->sample, NULL)) != 0 ||
		(rc = verify_any(dc, id, m->probe, sc)) != 0)
		return rc;
	return match_decide(sc, fmr / 2);
}

/*
 * A crossing's subject and verification, ahead of the commit loop: the card looked up in a read
 * transaction (a snapshot that may be behind the loop's), the subject's pseudonym and crossing
 * reference from one unwrap of its data key, then 1:1 against its gallery entry. Anything that
 * fails here is left for decide_message to do (and report) in its own transaction.
 */
static void
prepare_crossing(const struct decide_ctx *dc, struct decide_msg *m)
{
	const struct policy *pol = dc->policy;
	struct vault_txn *t = NULL;
	int rc;

	if (vault_card_index(dc->vault, m->env->crossing->card_number, m->xcard) != 0)
		return;
	m->has_xcard = 1;
	if (vault_begin(dc->vault, 1, &t) != 0)
		return;
	rc = vault_card_lookup_index(t, m->xcard, m->xid);
	if (rc == 0)
		rc = vault_subject_refs(t, m->xid, m->xpseud, m->xref);
	vault_abort(t);
	if (rc != 0)
		return;
	m->xpolicy = pol;
	m->xprep = 1;
	rc = verify_raw(dc, pol, m, m->xid, &m->xscores, &m->xrule);
	if (rc == 0 || rc == 1) {
		m->xverify = rc;
		m->xverified = 1;
	}
}

static int
act_crossing(struct act *a)
{
	const struct decide_ctx *dc = a->dc;
	const Paso__Crossing *c = a->m->env->crossing;
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__MatchResult mr = PASO__MATCH_RESULT__INIT;
	struct match_scores sc;
	uint8_t id[VAULT_ID_BYTES], pseud[32];
	double fmr = policy_verify_fmr(dc->policy);
	const char *rule = "match.verify_fmr";
	uint64_t idx;
	uint32_t gen = 0;
	char detail[200];
	int rc, decided_match, renewed = 0, prep;

	detail[0] = '\0';
	rc = a->m->has_xcard ? vault_card_lookup_index(a->t, a->m->xcard, id)
			     : vault_card_lookup(a->t, c->card_number, id);
	if (rc == PASO_E_NOT_FOUND)
		return refuse(a, PASO_E_NOT_ENROLLED, "crossing.card_number: not enrolled",
			"verification", NULL);
	if (rc != 0)
		return rc;
	/* What decide_prepare found stands for the subject this transaction finds, under the
	 * policy it was found under: the same id is the same data key and gallery entry. */
	prep = a->m->xprep && a->m->xpolicy == dc->policy &&
	       memcmp(a->m->xid, id, VAULT_ID_BYTES) == 0;
	if (prep)
		memcpy(pseud, a->m->xpseud, sizeof(pseud));
	else if ((rc = vault_pseudonym(a->t, id, pseud)) != 0)
		return rc;
	if (prep && a->m->xverified) {
		sc = a->m->xscores;
		rule = a->m->xrule;
		rc = a->m->xverify;
	} else
		rc = verify(a, id, &sc, &rule, &gen);
	decided_match = rc == 1;
	if (rc == 1 && a->m->pprobe != NULL && gen < a->m->pprobe->gen) {
		uint32_t cur = a->m->pprobe->gen;

		if ((rc = prenew(a, id, gen, &renewed)) != 0)
			return rc;
		rc = 1;
		if (renewed)
			(void)snprintf(detail, sizeof(detail),
				"protected reference renewed from this capture: key generation "
				"%u replaces %u",
				cur, gen);
	}
	if (rc == 1)
		rc = 0;
	if (rc == PASO_E_NOT_FOUND) {
		/* Templates live on the card under this policy: the hub cannot compare. */
		mr.decision = PASO__DECISION__DECISION_NONE;
		rule = "store.location: card";
	} else if (rc == PASO_E_KEY_NOT_FOUND) {
		return refuse(a, rc,
			"crossing: the enrolment's protected reference is under a destroyed key "
			"generation and cannot be compared",
			"protect", pseud);
	} else if (rc != 0) {
		return refuse(a, rc, "crossing.capture: its finger record cannot be compared",
			"verification", pseud);
	} else if (sc.modalities == 0) {
		return refuse(a, PASO_E_FIELD_RANGE,
			"crossing.capture: no modality in common with the enrolment",
			"verification", pseud);
	} else {
		scores_to_pb(&sc, decided_match ? PASO__DECISION__MATCH : PASO__DECISION__NO_MATCH,
			fmr, &mr);
	}
	entry_for(a->m, &e, PASO__ACTION__CROSSING, "verification");
	e.subject.data = pseud;
	e.subject.len = sizeof(pseud);
	e.match = &mr;
	e.crossing_point = c->crossing_point;
	e.policy_rule = (char *)rule;
	if (renewed)
		e.detail = detail;
	if ((rc = audit(dc, a->lt, a->now, &e, &idx)) != 0 ||
		(rc = record_crossing(a, id, prep ? a->m->xref : NULL, &mr, idx)) != 0)
		return rc;
	ledger_count(a->lt, COUNT_CROSSINGS, 1);
	return accept_reply(a, pseud, &mr, idx);
}

static int
act_identify(struct act *a)
{
	const struct decide_ctx *dc = a->dc;
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__MatchResult mr = PASO__MATCH_RESULT__INIT;
	struct gallery_hit hit;
	uint8_t pseud[32];
	double fmr = policy_identify_fmr(dc->policy);
	uint64_t idx;
	int rc, found = 0;

	memset(&hit, 0, sizeof(hit));
	if (a->m->pprobe != NULL)
		rc = pidentify(a, per_comparison_fmr(dc), &hit, &found);
	else
		rc = identify_prepared(dc, a->m, &hit, &found);
	if (rc != 0)
		return refuse(
			a, rc, "identify.capture: cannot be searched", "identification", NULL);
	scores_to_pb(&hit.scores,
		found ? PASO__DECISION__IDENTIFIED : PASO__DECISION__NOT_IDENTIFIED, fmr, &mr);
	entry_for(a->m, &e, PASO__ACTION__IDENTIFY, "identification");
	if (found) {
		if ((rc = vault_pseudonym(a->t, hit.id, pseud)) != 0)
			return rc;
		mr.candidate.data = pseud;
		mr.candidate.len = sizeof(pseud);
		e.subject.data = pseud;
		e.subject.len = sizeof(pseud);
	}
	e.match = &mr;
	e.crossing_point = a->m->env->identify->crossing_point;
	e.policy_rule = "match.identify_fmr";
	if ((rc = audit(dc, a->lt, a->now, &e, &idx)) != 0)
		return rc;
	ledger_count(a->lt, COUNT_IDENTIFICATIONS, 1);
	return accept_reply(a, found ? pseud : NULL, &mr, idx);
}

/* A (kiosk, seq) already answered: the same answer for the same bytes, else SEQ_CONFLICT. */
static int
resend(struct act *a, const uint8_t digest[32], const uint8_t *stored, size_t slen)
{
	struct decide_msg *m = a->m;
	char msg[200];
	int rc;

	if (sodium_memcmp(digest, m->digest, 32) == 0)
		return replay(a, stored, slen);
	if ((rc = vault_seen_last(a->t, m->kiosk, &m->last_seq)) != 0)
		return rc;
	(void)snprintf(msg, sizeof(msg),
		"seq %llu was already used by kiosk '%.64s' for a different message; the last seq "
		"held is %llu",
		(unsigned long long)m->env->seq, m->kiosk, (unsigned long long)m->last_seq);
	return refuse(a, PASO_E_SEQ_CONFLICT, msg, "idempotency", NULL);
}

int
decide_message(struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, struct decide_msg *m,
	struct decide_undo *undo)
{
	struct act a = {dc, t, ledger_store(t), now, m, undo};
	uint8_t digest[32], *stored = NULL;
	size_t slen = 0;
	const char *denied, *field = NULL;
	char msg[300];
	int rc;

	if (m->err.code != 0)
		return refuse(&a, m->err.code, m->err.msg, "validation", NULL);
	if ((protected_mask(dc) != 0) != (m->pprobe != NULL))
		/* prepared under a policy a reload replaced: never decided in the wrong domain */
		return refuse(&a, PASO_E_POLICY_DENIED,
			"capture: prepared under the policy a reload replaced; send it again",
			"protect", NULL);
	rc = vault_seen_get(a.t, m->kiosk, m->env->seq, digest, &stored, &slen);
	if (rc == 0) {
		rc = resend(&a, digest, stored, slen);
		free(stored);
		return rc;
	}
	if (rc != PASO_E_NOT_FOUND)
		return rc;
	if ((denied = capture_denied(dc->policy, &m->sample)) != NULL) {
		(void)snprintf(msg, sizeof(msg), "%s: not allowed by policy '%.64s'", denied,
			policy_name(dc->policy));
		return refuse(&a, PASO_E_POLICY_DENIED, msg, denied, NULL);
	}
	if (capture_time_check(&a, &field, msg, sizeof(msg)))
		return refuse(&a, PASO_E_FIELD_RANGE, msg, field, NULL);
	switch (m->env->body_case) {
	case PASO__ENVELOPE__BODY_ENROLL:
		return act_enroll(&a);
	case PASO__ENVELOPE__BODY_CROSSING:
		return act_crossing(&a);
	case PASO__ENVELOPE__BODY_IDENTIFY:
		return act_identify(&a);
	default:
		return refuse(&a, PASO_E_UNKNOWN_MESSAGE, "unknown body", "validation", NULL);
	}
}

void
decide_undo(struct decide_ctx *dc, struct decide_undo *undo, int rollback)
{
	struct decide_added *p, *next;

	for (p = undo->added; p != NULL; p = next) {
		next = p->next;
		if (p->prot) {
			if (rollback && p->old != NULL)
				(void)pgallery_put(dc->pgallery, p->id, p->old, 1, NULL);
			else if (rollback)
				(void)pgallery_remove(dc->pgallery, p->id);
			else
				pref_free(p->old);
			free(p);
			continue;
		}
		if (rollback)
			(void)gallery_remove(dc->recent != NULL ? dc->recent : dc->gallery, p->id);
		free(p);
	}
	undo->added = NULL;
	if (dc->recent == NULL || rollback)
		return;
	/* Committed enrolments join the gallery when no search holds it; until then they wait
	 * in recent, which every decision searches too (the loop never waits for a search). A
	 * recent grown past DECIDE_RECENT_MAX is moved waiting. NOMEM: they stay in recent. */
	if (gallery_size(dc->recent) >= DECIDE_RECENT_MAX)
		(void)gallery_move_all(dc->gallery, dc->recent);
	else
		(void)gallery_move_all_try(dc->gallery, dc->recent);
}
