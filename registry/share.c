/* SPDX-License-Identifier: Apache-2.0 */
/* The national hub's side of sharing: hit/no-hit answers, the bulk outbox and its sender. */
#include "share.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "be.h"
#include "frame.h"
#include "hex.h"
#include "ingest.h"
#include "instant.h"
#include "peer.h"
#include "sample_pb.h"
#include "tls.h"
#include "vault.h"

#define SECONDS_PER_DAY 86400u
#define SHARE_BATCH_MAX 512 /* records per batch: one durable transaction on each side */
#define SHARE_FRAME_MAX (16u * 1024u * 1024u)
#define RULE_ID_BYTES 8
#define OUTBOX_VAL_BYTES (RULE_ID_BYTES + VAULT_ID_BYTES + 1)
/* A released record's row also names the case token it was released on. */
#define OUTBOX_REL_BYTES (OUTBOX_VAL_BYTES + SHARE_CASE_BYTES)

/*
 * Case rows live in the outbox database beside the queued shares, under a first byte no
 * partner name can start with: 0x01 | partner | 0 | case number BE(8) ->
 * version(1) | subject id(16) | expires_at BE(8) | uses left BE(4) | secret(24).
 * The case token handed to the partner is case number BE(8) || secret(24): the hub finds the
 * row from the partner's own name and the number, and the secret proves the token was issued.
 */
#define CASE_PREFIX 0x01
#define CASE_SECRET_BYTES 24
#define CASE_VAL_BYTES (1 + VAULT_ID_BYTES + 8 + 4 + CASE_SECRET_BYTES)
#define CASE_KEY_MAX (PEER_NAME_MAX + 10)
#define CASE_SWEEP_MAX 32

struct share {
	struct share_config cfg;
	struct peer_listener *pl;
	pthread_t sender;
	int sender_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
	int wake;        /* a release was queued: send now */
	int sender_done; /* the sender thread has returned (it may wait on the loop until then) */
};

void
share_partner_pseudonym(const uint8_t hp[32], const char *partner, const char *dom, uint8_t out[32])
{
	crypto_generichash_state st;

	/* Keyed by the hub's pseudonym (itself keyed by a key only the hub holds): a partner
	 * cannot compute another partner's value, nor the hub's. */
	crypto_generichash_init(&st, hp, 32, 32);
	crypto_generichash_update(&st, (const uint8_t *)"paso-partner-", 13);
	crypto_generichash_update(&st, (const uint8_t *)dom, strlen(dom));
	crypto_generichash_update(&st, (const uint8_t *)"\0", 1);
	crypto_generichash_update(&st, (const uint8_t *)partner, strlen(partner));
	crypto_generichash_final(&st, out, 32);
}

/* --- hit/no-hit queries ---------------------------------------------------------------------- */

/* One query on its way through the loop. */
struct query {
	struct share *s;
	const char *partner;
	Paso__Envelope *env; /* decoded, may be NULL */
	uint8_t digest[32];
	struct paso_diag err; /* validation failure, refused in the task */
	struct bio_sample sample;
	struct match_template *probe;
	/* The 1:N search, done on the connection's thread before the loop sees the query (the
	 * gallery is built for concurrent searches), only for a partner and purpose a rule allows. */
	int searched, found;
	struct gallery_hit hit;
	int search_rc;
	int is_release; /* a Release, not a Query */
	/* out */
	uint8_t *reply;
	size_t reply_len;
};

static int
reply_env(struct query *q, Paso__Envelope *env)
{
	env->kiosk_id = (char *)q->partner;
	env->seq = q->env != NULL ? q->env->seq : 0;
	free(q->reply);
	q->reply = NULL;
	return frame_encode(env, FRAME_DEFAULT_MAX, &q->reply, &q->reply_len);
}

static int
reply_error(struct query *q, int code, const char *msg, uint64_t idx)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Error err = PASO__ERROR__INIT;

	err.seq = q->env != NULL ? q->env->seq : 0;
	err.code = code;
	err.message = (char *)msg;
	err.audit_index = idx;
	env.body_case = PASO__ENVELOPE__BODY_ERROR;
	env.error = &err;
	return reply_env(q, &env);
}

static void
entry_init(struct query *q, Paso__AuditEntry *e, uint64_t now)
{
	const struct policy *p = q->s->cfg.dc->policy;

	e->time = now;
	e->actor = (char *)q->partner;
	e->action = PASO__ACTION__QUERY;
	e->recipient = (char *)q->partner;
	e->policy_digest.data = (uint8_t *)policy_digest(p);
	e->policy_digest.len = 32;
	e->payload_digest.data = q->digest;
	e->payload_digest.len = 32;
	if (q->env != NULL) {
		e->kiosk_seq = q->env->seq;
		if (q->env->body_case == PASO__ENVELOPE__BODY_QUERY &&
			q->env->query->purpose != NULL && q->env->query->purpose[0] != '\0' &&
			strlen(q->env->query->purpose) <= 256)
			e->purpose = q->env->query->purpose;
	}
	if (e->purpose == NULL)
		e->purpose = "hit/no-hit query";
}

/* A refused query: its QUERY entry carries the code, the answer is an Error. */
static int
query_refuse(struct query *q, struct ledger_txn *t, uint64_t now, int code, const char *msg,
	const char *rule)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	uint64_t idx;
	int r;

	entry_init(q, &e, now);
	e.code = code;
	e.detail = (char *)msg;
	e.policy_rule = (char *)rule;
	if ((r = ledger_append(t, &e, &idx)) != 0)
		return r;
	hublog_printf(q->s->cfg.log, "partner %s: query refused: %s: %s", q->partner,
		paso_errname(code), msg);
	return reply_error(q, code, msg, idx);
}

/* Which rule lets this partner ask for this purpose; -1 with *known set when none. */
static int
find_rule(const struct policy *p, const char *partner, const char *purpose, int *known)
{
	const struct policy_settings *ps = policy_settings(p);
	size_t i;

	*known = 0;
	for (i = 0; i < ps->nsharing; i++) {
		if (strcmp(ps->sharing[i].partner, partner) != 0)
			continue;
		*known = 1;
		if (ps->sharing[i].what == POLICY_SHARE_HIT_NO_HIT && purpose != NULL &&
			strcmp(ps->sharing[i].purpose, purpose) == 0)
			return (int)i;
	}
	return -1;
}

/* --- case tokens ------------------------------------------------------------------------------ */

static size_t
case_key(uint8_t *k, const char *partner, uint64_t no)
{
	size_t n = strlen(partner);

	k[0] = CASE_PREFIX;
	memcpy(k + 1, partner, n);
	k[n + 1] = 0;
	be64_put(k + n + 2, no);
	return n + 10;
}

/*
 * How logs name a case: "#N", its number. The token's secret is never logged on this side: an
 * audit log may be read widely, and only the partner that received the token can present it.
 */
static void
case_label(const uint8_t token[SHARE_CASE_BYTES], char out[24])
{
	(void)snprintf(out, 24, "#%llu", (unsigned long long)be64_get(token));
}

struct case_row {
	uint8_t id[VAULT_ID_BYTES];
	uint64_t expires;
	uint32_t uses;
	uint8_t secret[CASE_SECRET_BYTES];
};

static void
case_pack(const struct case_row *c, uint8_t v[CASE_VAL_BYTES])
{
	v[0] = 1;
	memcpy(v + 1, c->id, VAULT_ID_BYTES);
	be64_put(v + 1 + VAULT_ID_BYTES, c->expires);
	be32_put(v + 9 + VAULT_ID_BYTES, c->uses);
	memcpy(v + 13 + VAULT_ID_BYTES, c->secret, CASE_SECRET_BYTES);
}

static int
case_unpack(const uint8_t *v, size_t len, struct case_row *c)
{
	if (len != CASE_VAL_BYTES || v[0] != 1)
		return PASO_E_CORRUPT;
	memcpy(c->id, v + 1, VAULT_ID_BYTES);
	c->expires = be64_get(v + 1 + VAULT_ID_BYTES);
	c->uses = be32_get(v + 9 + VAULT_ID_BYTES);
	memcpy(c->secret, v + 13 + VAULT_ID_BYTES, CASE_SECRET_BYTES);
	return 0;
}

struct case_lookup {
	uint8_t v[CASE_VAL_BYTES];
	size_t n;
};

/* Copies the one row a lookup scan finds (the key is exact, so at most one). */
static int
case_copy(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct case_lookup *cl = arg;

	(void)k;
	(void)klen;
	cl->n = vlen;
	if (vlen == CASE_VAL_BYTES)
		memcpy(cl->v, v, vlen);
	return 0;
}

/* Expired case rows at the front of a partner's (issue order): their keys, to delete. */
struct case_sweep {
	uint64_t now;
	uint8_t keys[CASE_SWEEP_MAX][CASE_KEY_MAX];
	size_t lens[CASE_SWEEP_MAX], n;
};

static int
case_expired_row(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct case_sweep *cs = arg;
	struct case_row c;

	if (klen > CASE_KEY_MAX || cs->n >= CASE_SWEEP_MAX || case_unpack(v, vlen, &c) != 0 ||
		c.expires > cs->now)
		return 1; /* stop: the rest are younger (or unreadable: left for a person) */
	memcpy(cs->keys[cs->n], k, klen);
	cs->lens[cs->n++] = klen;
	sodium_memzero(&c, sizeof(c));
	return 0;
}

/* Forgets a partner's expired case tokens, a few at a time, oldest first. */
static int
case_sweep(struct vault_txn *vt, const char *partner, uint64_t now)
{
	struct case_sweep cs;
	uint8_t prefix[PEER_NAME_MAX + 2];
	size_t n = strlen(partner), i;
	int r;

	cs.now = now;
	cs.n = 0;
	prefix[0] = CASE_PREFIX;
	memcpy(prefix + 1, partner, n);
	prefix[n + 1] = 0;
	r = vault_outbox_scan(vt, prefix, n + 2, CASE_SWEEP_MAX, case_expired_row, &cs);
	if (r < 0)
		return r;
	for (i = 0; i < cs.n; i++)
		if ((r = vault_outbox_del(vt, cs.keys[i], cs.lens[i])) != 0)
			return r;
	return 0;
}

/* The category of subject id (its sealed record opened and wiped); CORRUPT, KEY_NOT_FOUND or
 * NOT_FOUND when it is erased or unreadable. */
static int
subject_category(struct vault_txn *vt, const uint8_t id[VAULT_ID_BYTES], int *category)
{
	Paso__SubjectRecord *sr;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = vault_subject_get(vt, id, &buf, &len)) != 0)
		return r;
	sr = paso__subject_record__unpack(frame_allocator(), len, buf);
	vault_free_record(buf, len);
	if (sr == NULL)
		return PASO_E_CORRUPT;
	*category = sr->category;
	paso__subject_record__free_unpacked(sr, frame_allocator());
	return 0;
}

/* Issues a case token for subject id to partner under hit_no_hit rule ru. */
static int
case_issue(struct vault_txn *vt, const char *partner, const struct policy_share_rule *ru,
	const uint8_t id[VAULT_ID_BYTES], uint64_t now, uint8_t token[SHARE_CASE_BYTES],
	uint64_t *expiresp)
{
	struct case_row c;
	uint8_t k[CASE_KEY_MAX], v[CASE_VAL_BYTES];
	char mk[96];
	uint64_t no;
	size_t kl;
	int r;

	if ((r = case_sweep(vt, partner, now)) != 0)
		return r;
	(void)snprintf(mk, sizeof(mk), "case.next.%s", partner);
	if ((r = vault_meta_get(vt, mk, &no)) == PASO_E_NOT_FOUND)
		no = 1, r = 0;
	if (r != 0)
		return r;
	memcpy(c.id, id, VAULT_ID_BYTES);
	if (instant_add(now, (uint64_t)ru->valid_for_minutes * 60u, &c.expires) != 0)
		c.expires = INSTANT_MAX;
	c.uses = ru->transactions_allowed;
	randombytes_buf(c.secret, sizeof(c.secret));
	case_pack(&c, v);
	kl = case_key(k, partner, no);
	be64_put(token, no);
	memcpy(token + 8, c.secret, CASE_SECRET_BYTES);
	*expiresp = c.expires;
	r = vault_outbox_put(vt, k, kl, v, sizeof(v));
	sodium_memzero(&c, sizeof(c));
	sodium_memzero(v, sizeof(v));
	if (r != 0)
		return r;
	return vault_meta_put(vt, mk, no + 1);
}

/*
 * Many queries that find nobody look like a partner trawling the registry rather than asking
 * about cases: once a day per rule, when at least FISHING_MIN queries were answered and
 * FISHING_PCT percent or more found no hit, one FLAG entry says so (the answers go on).
 */
#define FISHING_MIN 20
#define FISHING_PCT 90

static int
watch_fishing(struct query *q, struct ledger_txn *t, uint64_t now, int ri, uint64_t answered)
{
	struct vault_txn *vt = ledger_store(t);
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	uint64_t day = now / SECONDS_PER_DAY, misses = 0, flagged = 0, idx;
	char key[128], fkey[128], msg[200], rule[32];
	int r;

	(void)snprintf(key, sizeof(key), "query.%s.%d.%llu.nohit", q->partner, ri,
		(unsigned long long)day);
	(void)snprintf(fkey, sizeof(fkey), "query.%s.%d.%llu.flagged", q->partner, ri,
		(unsigned long long)day);
	if ((r = vault_meta_get(vt, key, &misses)) != 0 && r != PASO_E_NOT_FOUND)
		return r;
	misses++;
	if ((r = vault_meta_put(vt, key, misses)) != 0)
		return r;
	if (answered < FISHING_MIN || misses * 100 < answered * FISHING_PCT)
		return 0;
	if ((r = vault_meta_get(vt, fkey, &flagged)) != 0 && r != PASO_E_NOT_FOUND)
		return r;
	if (flagged)
		return 0;
	(void)snprintf(rule, sizeof(rule), "sharing[%d]", ri);
	(void)snprintf(msg, sizeof(msg),
		"partner '%s' looks like fishing: %llu of %llu queries today found no hit",
		q->partner, (unsigned long long)misses, (unsigned long long)answered);
	e.time = now;
	e.actor = "hub";
	e.action = PASO__ACTION__FLAG;
	e.recipient = (char *)q->partner;
	e.purpose = "hit/no-hit oversight";
	e.policy_rule = rule;
	e.detail = msg;
	e.policy_digest.data = (uint8_t *)policy_digest(q->s->cfg.dc->policy);
	e.policy_digest.len = 32;
	hublog_printf(q->s->cfg.log, "%s", msg);
	if ((r = ledger_append(t, &e, &idx)) != 0)
		return r;
	return vault_meta_put(vt, fkey, 1);
}

/*
 * 1:N over everyone enrolled, staged as verification is: face and iris first, at half the
 * policy's per-search rate split over the gallery; the costly finger template is built and
 * every modality searched, at the other half, only when they found nobody. By the union bound
 * the chance a stranger is answered "hit" stays within the policy's identify_fmr.
 */
static void
search(struct query *q)
{
	struct decide_ctx *dc = q->s->cfg.dc;
	size_t n = gallery_size(dc->gallery);
	double fmr = policy_identify_fmr(dc->policy) / 2 / (double)(n > 0 ? n : 1);

	memset(&q->hit, 0, sizeof(q->hit));
	q->found = 0;
	q->searched = 1;
	q->search_rc = 0;
	if (protref_policy_mask(dc->policy) != 0 && dc->pgallery != NULL) {
		/* protected references: one search in the protected domain, at the whole rate */
		n = pgallery_size(dc->pgallery);
		if (n > 0)
			q->search_rc = decide_identify_protected(dc, &q->sample, NULL,
				policy_identify_fmr(dc->policy) / (double)n, &q->hit, &q->found);
		return;
	}
	if (n == 0)
		return;
	if (q->sample.has_face || q->sample.n_iris > 0) {
		q->search_rc =
			gallery_identify_tmpl(dc->gallery, q->probe, fmr, &q->hit, &q->found);
		if (q->search_rc != 0 || q->found || q->sample.finger_record == NULL)
			return;
	}
	if ((q->search_rc = match_template_add_finger(q->probe, &q->sample, &q->err)) != 0)
		return;
	q->search_rc = gallery_identify_tmpl(dc->gallery, q->probe, fmr, &q->hit, &q->found);
}

static int
query_task(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap)
{
	struct query *q = arg;
	struct decide_ctx *dc = q->s->cfg.dc;
	const struct policy_settings *ps = policy_settings(dc->policy);
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__MatchResult mr = PASO__MATCH_RESULT__INIT;
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__QueryAnswer qa = PASO__QUERY_ANSWER__INIT;
	const struct policy_partner_limit *pl;
	struct gallery_hit hit;
	uint8_t hp[32], token[SHARE_CASE_BYTES];
	char msg[400], key[128], tkey[128], rule[32], tokhex[65], until[INSTANT_TEXT_BYTES];
	const char *purpose = NULL;
	uint64_t used = 0, total = 0, idx, expires = 0, day = now / SECONDS_PER_DAY;
	int r, ri, known, found = 0, outside = 0, category = 0;

	(void)out;
	(void)cap;
	if (q->env != NULL && q->env->body_case == PASO__ENVELOPE__BODY_QUERY)
		purpose = q->env->query->purpose;
	ri = find_rule(dc->policy, q->partner, purpose, &known);
	if (!known) {
		(void)snprintf(msg, sizeof(msg),
			"partner '%s' has no sharing rule in policy '%.64s'", q->partner,
			policy_name(dc->policy));
		return query_refuse(q, t, now, PASO_E_UNKNOWN_PARTNER, msg, "sharing");
	}
	if (q->err.code != 0)
		return query_refuse(q, t, now, q->err.code, q->err.msg, "validation");
	if (ri < 0) {
		(void)snprintf(msg, sizeof(msg),
			"query.purpose '%.100s': no hit_no_hit rule of partner '%s' allows it",
			purpose != NULL ? purpose : "", q->partner);
		return query_refuse(q, t, now, PASO_E_PURPOSE_DENIED, msg, "sharing");
	}
	(void)snprintf(rule, sizeof(rule), "sharing[%d]", ri);
	(void)snprintf(
		key, sizeof(key), "query.%s.%d.%llu", q->partner, ri, (unsigned long long)day);
	if ((r = vault_meta_get(ledger_store(t), key, &used)) != 0 && r != PASO_E_NOT_FOUND)
		return r;
	if (used >= ps->sharing[ri].daily_budget) {
		(void)snprintf(msg, sizeof(msg),
			"partner '%s' spent today's budget of %u queries under %s", q->partner,
			(unsigned)ps->sharing[ri].daily_budget, rule);
		return query_refuse(q, t, now, PASO_E_BUDGET_EXCEEDED, msg, rule);
	}
	/* Every purpose together: the partner's own total a day, when the policy sets one. */
	(void)snprintf(
		tkey, sizeof(tkey), "query.%s.all.%llu", q->partner, (unsigned long long)day);
	if ((r = vault_meta_get(ledger_store(t), tkey, &total)) != 0 && r != PASO_E_NOT_FOUND)
		return r;
	if ((pl = policy_partner_limit(dc->policy, q->partner)) != NULL &&
		total >= pl->daily_queries) {
		(void)snprintf(msg, sizeof(msg),
			"partner '%s' spent today's total of %u queries (every purpose together)",
			q->partner, (unsigned)pl->daily_queries);
		return query_refuse(q, t, now, PASO_E_BUDGET_EXCEEDED, msg, "partners");
	}
	if ((r = vault_meta_put(ledger_store(t), key, used + 1)) != 0 ||
		(r = vault_meta_put(ledger_store(t), tkey, total + 1)) != 0)
		return r;
	if (!q->searched)
		search(q);
	if (q->search_rc != 0)
		return query_refuse(
			q, t, now, q->search_rc, "query.probe: cannot be searched", rule);
	hit = q->hit;
	found = q->found;
	entry_init(q, &e, now);
	e.policy_rule = rule;
	mr.fused_score = isfinite(hit.scores.fused) ? hit.scores.fused : 0;
	mr.threshold_fmr = policy_identify_fmr(dc->policy);
	e.match = &mr;
	if (found) {
		/* Erased between the search and now: nobody to answer about. */
		r = vault_pseudonym(ledger_store(t), hit.id, hp);
		if (r == 0)
			r = subject_category(ledger_store(t), hit.id, &category);
		if (r == PASO_E_CORRUPT || r == PASO_E_KEY_NOT_FOUND || r == PASO_E_NOT_FOUND)
			found = 0, r = 0;
		if (r != 0)
			return r;
		/* A hit on someone the rule does not cover is none of the partner's business: "no
		 * hit", as if the person were not enrolled (the answer is itself a disclosure). */
		if (found && (category < 1 || category > 4 ||
				     (ps->sharing[ri].categories & (1u << category)) == 0))
			found = 0, outside = 1;
	}
	mr.decision = found ? PASO__DECISION__IDENTIFIED : PASO__DECISION__NOT_IDENTIFIED;
	if (found) {
		/* A fresh token per hit: two hits on one person cannot be linked by the partner. */
		if ((r = case_issue(ledger_store(t), q->partner, &ps->sharing[ri], hit.id, now,
			     token, &expires)) != 0)
			return r;
		case_label(token, tokhex);
		e.subject.data = hp;
		e.subject.len = 32;
		(void)snprintf(msg, sizeof(msg),
			"hit: case token %s, valid until %s for %u release(s) (query %llu of %u "
			"today)",
			tokhex, instant_format(expires, until),
			(unsigned)ps->sharing[ri].transactions_allowed,
			(unsigned long long)used + 1, (unsigned)ps->sharing[ri].daily_budget);
	} else
		(void)snprintf(msg, sizeof(msg), "no hit%s (query %llu of %u today)",
			outside ? ": the match is outside the rule's categories" : "",
			(unsigned long long)used + 1, (unsigned)ps->sharing[ri].daily_budget);
	e.detail = msg;
	if ((r = ledger_append(t, &e, &idx)) != 0)
		return r;
	if (!found && (r = watch_fishing(q, t, now, ri, used + 1)) != 0)
		return r;
	qa.hit = found;
	if (found) {
		qa.case_token.data = token;
		qa.case_token.len = sizeof(token);
	}
	qa.audit_index = idx;
	env.body_case = PASO__ENVELOPE__BODY_QUERY_ANSWER;
	env.query_answer = &qa;
	hublog_printf(q->s->cfg.log, "partner %s: query answered: %s", q->partner,
		found ? "hit" : "no hit");
	return reply_env(q, &env);
}

/* --- releases: the second step after a hit ----------------------------------------------------- */

static int
printable(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static void
release_check(struct query *q)
{
	const Paso__Release *rl = q->env->release;

	q->is_release = 1;
	if (rl->case_token.len != SHARE_CASE_BYTES) {
		paso_diag_set(&q->err,
			rl->case_token.len == 0 ? PASO_E_MISSING_FIELD : PASO_E_FIELD_RANGE,
			"release.case_token: %zu bytes, expected %d", rl->case_token.len,
			SHARE_CASE_BYTES);
		return;
	}
	if (!printable(rl->purpose, 256))
		paso_diag_set(&q->err,
			rl->purpose == NULL || rl->purpose[0] == '\0' ? PASO_E_MISSING_FIELD
								      : PASO_E_FIELD_RANGE,
			"release.purpose: 1..256 printable characters required");
}

static const char *
release_purpose(const struct query *q)
{
	const Paso__Release *rl =
		q->env != NULL && q->env->body_case == PASO__ENVELOPE__BODY_RELEASE
			? q->env->release
			: NULL;

	return rl != NULL && printable(rl->purpose, 256) ? rl->purpose : NULL;
}

/* Which release rule lets this partner ask for this purpose; -1 with *known set when none. */
static int
find_release_rule(const struct policy *p, const char *partner, const char *purpose, int *known)
{
	const struct policy_settings *ps = policy_settings(p);
	size_t i;

	*known = 0;
	for (i = 0; i < ps->nsharing; i++) {
		if (strcmp(ps->sharing[i].partner, partner) != 0)
			continue;
		*known = 1;
		if (ps->sharing[i].what == POLICY_SHARE_RELEASE && purpose != NULL &&
			strcmp(ps->sharing[i].purpose, purpose) == 0)
			return (int)i;
	}
	return -1;
}

static void
release_entry(struct query *q, Paso__AuditEntry *e, uint64_t now)
{
	const char *purpose = release_purpose(q);

	e->time = now;
	e->actor = (char *)q->partner;
	e->action = PASO__ACTION__RELEASE;
	e->recipient = (char *)q->partner;
	e->policy_digest.data = (uint8_t *)policy_digest(q->s->cfg.dc->policy);
	e->policy_digest.len = 32;
	e->payload_digest.data = q->digest;
	e->payload_digest.len = 32;
	e->kiosk_seq = q->env != NULL ? q->env->seq : 0;
	e->purpose = purpose != NULL ? (char *)purpose : "release";
}

/* A refused release: its RELEASE entry carries the code, the answer is an Error. */
static int
release_refuse(struct query *q, struct ledger_txn *t, uint64_t now, int code, const char *msg,
	const char *rule, const uint8_t *hp)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	uint64_t idx;
	int r;

	release_entry(q, &e, now);
	e.code = code;
	e.detail = (char *)msg;
	e.policy_rule = (char *)rule;
	if (hp != NULL) {
		e.subject.data = (uint8_t *)hp;
		e.subject.len = 32;
	}
	if ((r = ledger_append(t, &e, &idx)) != 0)
		return r;
	hublog_printf(q->s->cfg.log, "partner %s: release refused: %s: %s", q->partner,
		paso_errname(code), msg);
	return reply_error(q, code, msg, idx);
}

static int enqueue_one(struct vault_txn *vt, const struct policy_share_rule *ru,
	const uint8_t id[16], int category, const uint8_t *token, uint64_t *seqp);

static void
attrs_text(uint32_t a, char *buf, size_t cap)
{
	static const char *const names[] = {
		"enrolled_at", "enrolled_point", "finger", "face", "iris"};
	size_t i, off = 0;

	off = (size_t)snprintf(buf, cap, "category");
	for (i = 0; i < 5 && off < cap; i++)
		if (a & (1u << i))
			off += (size_t)snprintf(buf + off, cap - off, ", %s", names[i]);
}

/*
 * Checks, in this order: the partner is named by a rule, the request is well formed, a release
 * rule of the partner has the purpose, the case token is one this hub issued to this partner,
 * unexpired and not used up, the rule's and the partner's budgets for the day, the subject is
 * still held and in a category the rule covers. Then one outbox row (the sender delivers it,
 * SHARE on the partner's acknowledgement), one RELEASE entry, and the answer.
 */
static int
release_task(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap)
{
	struct query *q = arg;
	struct decide_ctx *dc = q->s->cfg.dc;
	const struct policy_settings *ps = policy_settings(dc->policy);
	struct vault_txn *vt = ledger_store(t);
	const struct policy_share_rule *ru;
	const struct policy_partner_limit *pl;
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__ReleaseAnswer ra = PASO__RELEASE_ANSWER__INIT;
	struct case_row c;
	const uint8_t *token;
	uint8_t k[CASE_KEY_MAX], v[CASE_VAL_BYTES], hp[32], pp[32];
	char msg[600], rule[32], key[128], tkey[128], tokhex[65], pphex[65], attrs[80];
	const char *purpose = release_purpose(q);
	struct case_lookup cl;
	uint64_t used = 0, total = 0, seq = 0, idx, day = now / SECONDS_PER_DAY;
	size_t kl;
	int r, ri, known, category;

	(void)out;
	(void)cap;
	memset(&c, 0, sizeof(c));
	ri = find_release_rule(dc->policy, q->partner, purpose, &known);
	if (!known) {
		(void)snprintf(msg, sizeof(msg),
			"partner '%s' has no sharing rule in policy '%.64s'", q->partner,
			policy_name(dc->policy));
		return release_refuse(q, t, now, PASO_E_UNKNOWN_PARTNER, msg, "sharing", NULL);
	}
	if (q->err.code != 0)
		return release_refuse(q, t, now, q->err.code, q->err.msg, "validation", NULL);
	token = q->env->release->case_token.data;
	case_label(token, tokhex);
	if (ri < 0) {
		(void)snprintf(msg, sizeof(msg),
			"release.purpose '%.100s': no release rule of partner '%s' allows it (case %s)",
			purpose, q->partner, tokhex);
		return release_refuse(q, t, now, PASO_E_PURPOSE_DENIED, msg, "sharing", NULL);
	}
	ru = &ps->sharing[ri];
	(void)snprintf(rule, sizeof(rule), "sharing[%d]", ri);
	/* The token: a row under this partner's own name, and the secret it was issued with. */
	kl = case_key(k, q->partner, be64_get(token));
	cl.n = 0;
	if ((r = vault_outbox_scan(vt, k, kl, 1, case_copy, &cl)) != 0)
		return r;
	if (cl.n != CASE_VAL_BYTES || case_unpack(cl.v, cl.n, &c) != 0 ||
		sodium_memcmp(c.secret, token + 8, CASE_SECRET_BYTES) != 0) {
		sodium_memzero(&c, sizeof(c));
		(void)snprintf(msg, sizeof(msg),
			"release.case_token (case %s): not a case this hub issued to '%s' (or "
			"forgotten since it expired)",
			tokhex, q->partner);
		return release_refuse(q, t, now, PASO_E_CASE_UNKNOWN, msg, rule, NULL);
	}
	if (now >= c.expires) {
		char until[INSTANT_TEXT_BYTES];

		(void)snprintf(msg, sizeof(msg), "case %s expired at %s", tokhex,
			instant_format(c.expires, until));
		r = vault_outbox_del(vt, k, kl);
		sodium_memzero(&c, sizeof(c));
		if (r != 0)
			return r;
		return release_refuse(q, t, now, PASO_E_CASE_EXPIRED, msg, rule, NULL);
	}
	if (c.uses == 0) {
		sodium_memzero(&c, sizeof(c));
		(void)snprintf(msg, sizeof(msg),
			"case %s has no releases left (its hit_no_hit rule allowed the number it "
			"had)",
			tokhex);
		return release_refuse(q, t, now, PASO_E_CASE_USED_UP, msg, rule, NULL);
	}
	(void)snprintf(
		key, sizeof(key), "release.%s.%d.%llu", q->partner, ri, (unsigned long long)day);
	(void)snprintf(
		tkey, sizeof(tkey), "release.%s.all.%llu", q->partner, (unsigned long long)day);
	if (((r = vault_meta_get(vt, key, &used)) != 0 && r != PASO_E_NOT_FOUND) ||
		((r = vault_meta_get(vt, tkey, &total)) != 0 && r != PASO_E_NOT_FOUND))
		goto out;
	if (used >= ru->daily_budget) {
		(void)snprintf(msg, sizeof(msg),
			"partner '%s' spent today's budget of %u releases under %s (case %s)",
			q->partner, (unsigned)ru->daily_budget, rule, tokhex);
		r = release_refuse(q, t, now, PASO_E_BUDGET_EXCEEDED, msg, rule, NULL);
		goto out;
	}
	if ((pl = policy_partner_limit(dc->policy, q->partner)) != NULL &&
		total >= pl->daily_releases) {
		(void)snprintf(msg, sizeof(msg),
			"partner '%s' spent today's total of %u releases (every purpose together; "
			"case %s)",
			q->partner, (unsigned)pl->daily_releases, tokhex);
		r = release_refuse(q, t, now, PASO_E_BUDGET_EXCEEDED, msg, "partners", NULL);
		goto out;
	}
	/* Erased since the hit (retention): nothing to release, and the case is forgotten. */
	r = vault_pseudonym(vt, c.id, hp);
	if (r == 0)
		r = subject_category(vt, c.id, &category);
	if (r == PASO_E_CORRUPT || r == PASO_E_KEY_NOT_FOUND || r == PASO_E_NOT_FOUND) {
		(void)snprintf(
			msg, sizeof(msg), "case %s: the subject was erased since the hit", tokhex);
		if ((r = vault_outbox_del(vt, k, kl)) != 0)
			goto out;
		r = release_refuse(q, t, now, PASO_E_SUBJECT_ERASED, msg, rule, NULL);
		goto out;
	}
	if (r != 0)
		goto out;
	if (category < 1 || category > 4 || (ru->categories & (1u << category)) == 0) {
		(void)snprintf(msg, sizeof(msg),
			"case %s: %s covers none of the subject's category (%d)", tokhex, rule,
			category);
		r = release_refuse(q, t, now, PASO_E_POLICY_DENIED, msg, rule, hp);
		goto out;
	}
	c.uses--;
	case_pack(&c, v);
	if ((r = vault_outbox_put(vt, k, kl, v, sizeof(v))) != 0 ||
		(r = vault_meta_put(vt, key, used + 1)) != 0 ||
		(r = vault_meta_put(vt, tkey, total + 1)) != 0 ||
		(r = enqueue_one(vt, ru, c.id, category, token, &seq)) != 0)
		goto out;
	share_partner_pseudonym(hp, q->partner, "share", pp);
	hex_encode(pp, sizeof(pp), pphex);
	attrs_text(ru->attributes, attrs, sizeof(attrs));
	(void)snprintf(msg, sizeof(msg),
		"release on case %s accepted: %s queued as %s (share_seq %llu); %u release(s) "
		"left on the case; %llu of %u today under %s",
		tokhex, attrs, pphex, (unsigned long long)seq, (unsigned)c.uses,
		(unsigned long long)used + 1, (unsigned)ru->daily_budget, rule);
	release_entry(q, &e, now);
	e.subject.data = hp;
	e.subject.len = 32;
	e.policy_rule = rule;
	e.category = category;
	e.detail = msg;
	if ((r = ledger_append(t, &e, &idx)) != 0)
		goto out;
	ra.share_seq = seq;
	ra.uses_left = c.uses;
	ra.audit_index = idx;
	env.body_case = PASO__ENVELOPE__BODY_RELEASE_ANSWER;
	env.release_answer = &ra;
	hublog_printf(q->s->cfg.log, "partner %s: release accepted under %s (share_seq %llu)",
		q->partner, rule, (unsigned long long)seq);
	r = reply_env(q, &env);
out:
	sodium_memzero(&c, sizeof(c));
	sodium_memzero(v, sizeof(v));
	sodium_memzero(&cl, sizeof(cl));
	return r;
}

/* Validates a query off the loop: the probe is checked exactly as a kiosk's capture is. */
static void
query_prepare(struct query *q, const uint8_t *payload, size_t len)
{
	Paso__Envelope wrap = PASO__ENVELOPE__INIT;
	Paso__Identify id = PASO__IDENTIFY__INIT;
	const char *pre = "identify.capture";

	crypto_hash_sha256(q->digest, payload, len);
	if (frame_decode(payload, len, &q->env, &q->err) != 0)
		return;
	if (q->env->body_case == PASO__ENVELOPE__BODY_RELEASE) {
		release_check(q);
		return;
	}
	if (q->env->body_case != PASO__ENVELOPE__BODY_QUERY) {
		paso_diag_set(&q->err, PASO_E_UNKNOWN_MESSAGE,
			"a partner may send Query or Release on this port, nothing else");
		return;
	}
	if (q->env->query->purpose == NULL || q->env->query->purpose[0] == '\0') {
		paso_diag_set(&q->err, PASO_E_MISSING_FIELD, "query.purpose: required");
		return;
	}
	if (q->env->query->probe == NULL) {
		paso_diag_set(&q->err, PASO_E_MISSING_FIELD, "query.probe: required");
		return;
	}
	{
		int known;

		/* No rule lets it be answered: refused for that (query_task), and the probe's
		 * biometrics are not even read. */
		if (find_rule(q->s->cfg.dc->policy, q->partner, q->env->query->purpose, &known) < 0)
			return;
	}
	wrap.kiosk_id = q->env->kiosk_id;
	wrap.seq = q->env->seq;
	wrap.body_case = PASO__ENVELOPE__BODY_IDENTIFY;
	wrap.identify = &id;
	id.capture = q->env->query->probe;
	id.crossing_point = "partner query";
	if (ingest_check(&wrap, q->partner, &q->sample, &q->err) != 0) {
		/* Name the field as the partner sent it. */
		if (strncmp(q->err.msg, pre, strlen(pre)) == 0) {
			char m[sizeof(q->err.msg)];

			(void)snprintf(m, sizeof(m), "query.probe%s", q->err.msg + strlen(pre));
			memcpy(q->err.msg, m, sizeof(m));
		}
		return;
	}
	if (match_template_new_ex(&q->sample, MATCH_FACE | MATCH_IRIS, &q->probe, &q->err) != 0)
		return;
	search(q);
}

static void
query_clear(struct query *q)
{
	if (q->env != NULL)
		paso__envelope__free_unpacked(q->env, NULL);
	bio_sample_clear(&q->sample);
	match_template_free(q->probe);
	free(q->reply);
	memset(q, 0, sizeof(*q));
}

/* After a release's commit: the sender need not wait for its next round. */
static void
sender_wake(void *arg)
{
	struct query *q = arg;

	pthread_mutex_lock(&q->s->mu);
	q->s->wake = 1;
	pthread_cond_broadcast(&q->s->cv);
	pthread_mutex_unlock(&q->s->mu);
}

/* Requests one partner connection may have in the commit loop at once (a client's window). */
#define PEER_MAX_INFLIGHT 64

/* A request read from a partner and handed to the commit loop, answered in arrival order. */
struct inflight {
	struct query q;
	struct loop_item it;
};

static void
inflight_wake(void *arg)
{
	uint64_t one = 1;

	(void)!write(*(int *)arg, &one, sizeof(one));
}

/*
 * Writes the answers of the oldest requests the loop has finished, in the order they came, and
 * frees them. Returns 0, or -1 once a write failed (the rest are still freed by the caller).
 */
static int
answer_done(struct share *s, struct tls_conn *c, struct inflight **fl, size_t *head, size_t *count)
{
	while (*count > 0 && loop_item_done(s->cfg.loop, &fl[*head]->it)) {
		struct inflight *f = fl[*head];
		int rc = f->it.task_rc, bad;

		/* An answer whose entry did not commit is never sent: a hit's token would be in
		 * the partner's hands without a durable QUERY entry behind it. */
		if (rc != 0)
			(void)reply_error(&f->q, rc, "hub storage error; ask again later", 0);
		bad = f->q.reply == NULL || tls_write_all(c, f->q.reply, f->q.reply_len) != 0;
		query_clear(&f->q);
		free(f);
		*head = (*head + 1) % PEER_MAX_INFLIGHT;
		(*count)--;
		if (bad)
			return -1;
	}
	return 0;
}

/*
 * One partner connection: each request is read, checked and searched here (off the loop), then
 * handed to the commit loop without waiting for the answers before it, so a client that sends
 * several before reading (paso-hub query's window) has them committed together; the answers go
 * back in the order the requests came.
 */
static void
serve_partner(void *arg, struct tls_conn *c, const char *peer)
{
	struct share *s = arg;
	struct inflight *fl[PEER_MAX_INFLIGHT], *f;
	struct paso_diag d = {0};
	struct pollfd pf[2];
	size_t head = 0, count = 0;
	uint8_t *payload;
	uint32_t len;
	uint64_t v;
	int rc, efd, broken = 0;

	if ((efd = eventfd(0, EFD_CLOEXEC)) < 0) {
		hublog_printf(s->cfg.log, "partner %s: no eventfd; closing", peer);
		return;
	}
	for (;;) {
		if (answer_done(s, c, fl, &head, &count) != 0) {
			broken = 1;
			break;
		}
		/* With requests in the loop, read only what has arrived; else wait for both. */
		if (count > 0 && (count == PEER_MAX_INFLIGHT || !tls_conn_has_pending(c))) {
			pf[0].fd = efd;
			pf[0].events = POLLIN;
			pf[1].fd = tls_conn_fd(c);
			pf[1].events = count < PEER_MAX_INFLIGHT ? POLLIN : 0;
			pf[0].revents = pf[1].revents = 0;
			if (poll(pf, 2, 200) < 0 && errno != EINTR)
				break;
			if (pf[0].revents & POLLIN)
				(void)!read(efd, &v, sizeof(v));
			if (!(pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		}
		rc = tls_read_frame(c, FRAME_DEFAULT_MAX, &payload, &len, &d);
		if (rc == PASO_E_PEER_CLOSED)
			break;
		if (rc != 0) {
			hublog_printf(s->cfg.log, "partner %s: %s (%s); closing", peer,
				paso_errname(rc), d.msg);
			break;
		}
		if ((f = calloc(1, sizeof(*f))) == NULL) {
			sodium_memzero(payload, len);
			free(payload);
			break;
		}
		f->q.s = s;
		f->q.partner = peer;
		query_prepare(&f->q, payload, len);
		sodium_memzero(payload, len);
		free(payload);
		f->it.task = f->q.is_release ? release_task : query_task;
		f->it.task_arg = &f->q;
		f->it.after_commit = f->q.is_release ? sender_wake : NULL;
		f->it.task_group = !f->q.is_release;
		f->it.wake = inflight_wake;
		f->it.wake_arg = &efd;
		fl[(head + count) % PEER_MAX_INFLIGHT] = f;
		count++;
		loop_submit(s->cfg.loop, &f->it);
	}
	/* What was handed to the loop is finished there whatever happens here: wait for it. */
	while (count > 0) {
		if (!broken && answer_done(s, c, fl, &head, &count) != 0)
			broken = 1;
		if (broken) {
			while (count > 0 && loop_item_done(s->cfg.loop, &fl[head]->it)) {
				query_clear(&fl[head]->q);
				free(fl[head]);
				head = (head + 1) % PEER_MAX_INFLIGHT;
				count--;
			}
		}
		if (count == 0)
			break;
		pf[0].fd = efd;
		pf[0].events = POLLIN;
		pf[0].revents = 0;
		if (poll(pf, 1, 200) > 0)
			(void)!read(efd, &v, sizeof(v));
	}
	close(efd);
}

/* --- the bulk outbox ------------------------------------------------------------------------ */

/*
 * A rule's identity in outbox rows: a hash of everything it says, so a row queued under a rule
 * is sent only while that same rule is in force (an edited or removed rule withdraws it).
 */
static void
rule_id(const struct policy_share_rule *ru, uint8_t out[RULE_ID_BYTES])
{
	crypto_generichash_state st;
	uint8_t b[12];

	be32_put(b, (uint32_t)ru->what);
	be32_put(b + 4, ru->categories);
	be32_put(b + 8, ru->retention_days);
	crypto_generichash_init(&st, NULL, 0, RULE_ID_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)ru->partner, strlen(ru->partner) + 1);
	crypto_generichash_update(&st, (const uint8_t *)ru->purpose, strlen(ru->purpose) + 1);
	crypto_generichash_update(&st, b, sizeof(b));
	if (ru->what == POLICY_SHARE_RELEASE) {
		/* Only for release rules, so the identity of existing bulk rules is unchanged. */
		be32_put(b, ru->attributes);
		crypto_generichash_update(&st, b, 4);
	}
	crypto_generichash_final(&st, out, RULE_ID_BYTES);
}

/* The index of the rule in force with this identity, or -1. */
static int
rule_find(const struct policy *p, const uint8_t id[RULE_ID_BYTES])
{
	const struct policy_settings *ps = policy_settings(p);
	uint8_t h[RULE_ID_BYTES];
	size_t i;

	for (i = 0; i < ps->nsharing; i++) {
		if (ps->sharing[i].what == POLICY_SHARE_HIT_NO_HIT)
			continue;
		rule_id(&ps->sharing[i], h);
		if (memcmp(h, id, RULE_ID_BYTES) == 0)
			return (int)i;
	}
	return -1;
}

/* partner || 0 || seq BE(8) */
static size_t
outbox_key(uint8_t *k, const char *partner, uint64_t seq)
{
	size_t n = strlen(partner);

	memcpy(k, partner, n);
	k[n] = 0;
	be64_put(k + n + 1, seq);
	return n + 9;
}

/*
 * One outbox row for subject id under rule ru, numbered after the partner's last (bulk shares
 * and releases share the numbering, so each share_seq names one record sent). token: the case
 * a release is on, or NULL.
 */
static int
enqueue_one(struct vault_txn *vt, const struct policy_share_rule *ru, const uint8_t id[16],
	int category, const uint8_t *token, uint64_t *seqp)
{
	uint8_t k[PEER_NAME_MAX + 9], v[OUTBOX_REL_BYTES];
	char mk[96];
	uint64_t next;
	size_t kl;
	int r;

	(void)snprintf(mk, sizeof(mk), "share.next.%s", ru->partner);
	if ((r = vault_meta_get(vt, mk, &next)) == PASO_E_NOT_FOUND)
		next = 1, r = 0;
	if (r != 0)
		return r;
	kl = outbox_key(k, ru->partner, next);
	rule_id(ru, v);
	memcpy(v + RULE_ID_BYTES, id, VAULT_ID_BYTES);
	v[RULE_ID_BYTES + VAULT_ID_BYTES] = (uint8_t)category;
	if (token != NULL)
		memcpy(v + OUTBOX_VAL_BYTES, token, SHARE_CASE_BYTES);
	if ((r = vault_outbox_put(
		     vt, k, kl, v, token != NULL ? OUTBOX_REL_BYTES : OUTBOX_VAL_BYTES)) != 0)
		return r;
	if (seqp != NULL)
		*seqp = next;
	return vault_meta_put(vt, mk, next + 1);
}

static int
covers(const struct policy_share_rule *ru, int category)
{
	return (ru->what == POLICY_SHARE_TEMPLATES || ru->what == POLICY_SHARE_RECORDS) &&
	       category >= 1 && category <= 4 && (ru->categories & (1u << category)) != 0;
}

static int
count_pending(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	(void)v;
	(void)vlen;
	if (klen > 0 && k[0] != CASE_PREFIX)
		(*(uint64_t *)arg)++;
	return 0;
}

int
share_pending(struct vault_txn *t, uint64_t *n)
{
	*n = 0;
	return vault_outbox_scan(t, "", 0, SIZE_MAX, count_pending, n);
}

int
share_enqueue(const struct policy *p, struct ledger_txn *t, const uint8_t id[16], int category)
{
	const struct policy_settings *ps = policy_settings(p);
	size_t i;
	int r;

	for (i = 0; i < ps->nsharing; i++)
		if (covers(&ps->sharing[i], category) &&
			(r = enqueue_one(
				 ledger_store(t), &ps->sharing[i], id, category, NULL, NULL)) != 0)
			return r;
	return 0;
}

/* --- rules that appear: what already exists is shared too ------------------------------------ */

struct subj {
	uint8_t id[VAULT_ID_BYTES];
	int category;
};

struct subjects {
	struct subj *v;
	size_t n, cap;
};

static int
collect_subject(void *arg, const uint8_t id[VAULT_ID_BYTES], const uint8_t *rec, size_t len)
{
	struct subjects *ss = arg;
	Paso__SubjectRecord *sr;
	struct subj *nv;

	if ((sr = paso__subject_record__unpack(frame_allocator(), len, rec)) == NULL)
		return PASO_E_CORRUPT;
	if (ss->n == ss->cap) {
		ss->cap = ss->cap ? ss->cap * 2 : 1024;
		if ((nv = realloc(ss->v, ss->cap * sizeof(*nv))) == NULL) {
			paso__subject_record__free_unpacked(sr, frame_allocator());
			return PASO_E_NOMEM;
		}
		ss->v = nv;
	}
	memcpy(ss->v[ss->n].id, id, VAULT_ID_BYTES);
	ss->v[ss->n].category = sr->category;
	ss->n++;
	paso__subject_record__free_unpacked(sr, frame_allocator());
	return 0;
}

/* "share.rule.HEX": set once a bulk rule has been in force (its backfill queued). */
static void
rule_key(const struct policy_share_rule *ru, char key[48])
{
	uint8_t id[RULE_ID_BYTES];
	char hx[2 * RULE_ID_BYTES + 1];

	rule_id(ru, id);
	hex_encode(id, sizeof(id), hx);
	(void)snprintf(key, 48, "share.rule.%s", hx);
}

int
share_backfill(const struct policy *p, struct ledger *l, struct vault *v, uint64_t now,
	size_t *queuedp, struct paso_diag *d)
{
	const struct policy_settings *ps = policy_settings(p);
	struct ledger_txn *t = NULL;
	struct vault_txn *rt = NULL;
	struct subjects ss = {NULL, 0, 0};
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	unsigned char fresh[POLICY_MAX_RULES];
	char key[48], msg[300];
	uint64_t was, idx, count = 0;
	size_t i, j, nfresh = 0;
	int r;

	*queuedp = 0;
	memset(fresh, 0, sizeof(fresh));
	if ((r = vault_begin(v, 1, &rt)) != 0)
		goto out;
	for (i = 0; i < ps->nsharing && i < POLICY_MAX_RULES; i++) {
		if (ps->sharing[i].what != POLICY_SHARE_TEMPLATES &&
			ps->sharing[i].what != POLICY_SHARE_RECORDS)
			continue;
		rule_key(&ps->sharing[i], key);
		if ((r = vault_meta_get(rt, key, &was)) == PASO_E_NOT_FOUND)
			fresh[i] = 1, nfresh++, r = 0;
		if (r != 0)
			goto out;
	}
	(void)vault_meta_get(rt, decide_count_keys[COUNT_SUBJECTS], &count);
	vault_abort(rt);
	rt = NULL;
	if (nfresh == 0)
		goto out;
	e.time = now;
	e.actor = "hub";
	e.policy_digest.data = (uint8_t *)policy_digest(p);
	e.policy_digest.len = 32;
	if (count > 0) {
		/* The read is logged, durably, before the first record is opened. */
		(void)snprintf(msg, sizeof(msg),
			"opening %llu sealed subject records to queue them for %zu sharing rule(s) new "
			"in force",
			(unsigned long long)count, nfresh);
		e.action = PASO__ACTION__RECORD_READ;
		e.purpose = "sharing";
		e.detail = msg;
		if ((r = ledger_begin(l, &t)) != 0)
			goto out;
		ledger_note_time(t, now);
		if ((r = ledger_append(t, &e, &idx)) != 0)
			goto out;
		r = ledger_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
		if ((r = vault_begin(v, 1, &rt)) != 0 ||
			(r = vault_subject_foreach(rt, collect_subject, &ss)) != 0)
			goto out;
		vault_abort(rt);
		rt = NULL;
	}
	if ((r = ledger_begin(l, &t)) != 0)
		goto out;
	ledger_note_time(t, now);
	for (i = 0; i < ps->nsharing && i < POLICY_MAX_RULES; i++) {
		size_t n = 0;

		if (!fresh[i])
			continue;
		for (j = 0; j < ss.n; j++) {
			if (!covers(&ps->sharing[i], ss.v[j].category))
				continue;
			if ((r = enqueue_one(ledger_store(t), &ps->sharing[i], ss.v[j].id,
				     ss.v[j].category, NULL, NULL)) != 0)
				goto out;
			n++;
		}
		rule_key(&ps->sharing[i], key);
		if ((r = vault_meta_put(ledger_store(t), key, 1)) != 0)
			goto out;
		if (n == 0)
			continue; /* nothing to say: the policy's own POLICY_LOAD names the rule */
		(void)snprintf(msg, sizeof(msg),
			"sharing[%zu] (%s to '%s') in force: %zu existing subjects queued", i,
			policy_share_what_name(ps->sharing[i].what), ps->sharing[i].partner, n);
		e.action = PASO__ACTION__POLICY_LOAD;
		e.purpose = ps->sharing[i].purpose;
		e.recipient = ps->sharing[i].partner;
		e.detail = msg;
		if ((r = ledger_append(t, &e, &idx)) != 0)
			goto out;
		*queuedp += n;
	}
	r = ledger_commit(t);
	t = NULL;
out:
	ledger_abort(t);
	vault_abort(rt);
	if (ss.v != NULL) {
		sodium_memzero(ss.v, ss.cap * sizeof(*ss.v));
		free(ss.v);
	}
	if (r != 0 && d->code == 0)
		paso_diag_set(d, r, "queueing existing records for new sharing rules: %s",
			paso_strerror(r));
	return r;
}

/* One outbox row taken for sending. */
struct row {
	uint64_t seq;
	unsigned rule; /* index in the policy in force when the row was taken */
	const struct policy_share_rule *ru; /* that rule (replaced policies stay alive) */
	uint8_t pp[32];                     /* the per-partner pseudonym sent, once built */
	uint8_t id[VAULT_ID_BYTES];
	int category;
	int gone;      /* the subject was erased before it could be sent */
	int withdrawn; /* its rule is no longer in force */
	int released;  /* a release on case token */
	uint8_t token[SHARE_CASE_BYTES];
};

struct batch {
	const struct policy *policy;
	const char *partner;
	size_t plen;
	struct row rows[SHARE_BATCH_MAX];
	size_t n;
};

static int
take_row(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct batch *b = arg;
	struct row *rw;
	int ri;

	if (klen != b->plen + 9 || (vlen != OUTBOX_VAL_BYTES && vlen != OUTBOX_REL_BYTES) ||
		b->n >= SHARE_BATCH_MAX)
		return PASO_E_CORRUPT;
	rw = &b->rows[b->n++];
	memset(rw, 0, sizeof(*rw));
	if (vlen == OUTBOX_REL_BYTES) {
		rw->released = 1;
		memcpy(rw->token, v + OUTBOX_VAL_BYTES, SHARE_CASE_BYTES);
	}
	rw->seq = be64_get(k + b->plen + 1);
	memcpy(rw->id, v + RULE_ID_BYTES, VAULT_ID_BYTES);
	rw->category = v[RULE_ID_BYTES + VAULT_ID_BYTES];
	if ((ri = rule_find(b->policy, v)) < 0)
		rw->withdrawn = 1;
	else {
		rw->rule = (unsigned)ri;
		rw->ru = &policy_settings(b->policy)->sharing[ri];
	}
	return 0;
}

/* The SHARE entries of an acknowledged batch, and the rows' removal, in one transaction. */
struct ack_task {
	struct share *s;
	struct batch *b;
	uint64_t through;
	size_t shared;
};

static int
ack_task(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap)
{
	struct ack_task *a = arg;
	struct decide_ctx *dc = a->s->cfg.dc;
	uint8_t k[PEER_NAME_MAX + 9], hp[32];
	char rule[32], detail[400], pphex[65], tokhex[65], attrs[80];
	uint64_t idx;
	size_t i, kl;
	int r, has_hp;

	(void)out;
	(void)cap;
	a->shared = 0;
	for (i = 0; i < a->b->n; i++) {
		const struct row *rw = &a->b->rows[i];
		const struct policy_share_rule *ru;
		Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;

		if (rw->seq > a->through)
			break;
		kl = outbox_key(k, a->b->partner, rw->seq);
		if ((r = vault_outbox_del(ledger_store(t), k, kl)) != 0)
			return r;
		/* The retention sweep may have erased the subject since it was sent: the SHARE
		 * entry then has no hub pseudonym (it cannot be recomputed), only the partner's. */
		memset(hp, 0, sizeof(hp));
		r = vault_pseudonym(ledger_store(t), rw->id, hp);
		if (r != 0 && r != PASO_E_CORRUPT && r != PASO_E_KEY_NOT_FOUND &&
			r != PASO_E_NOT_FOUND)
			return r;
		has_hp = r == 0;
		r = 0;
		if (rw->withdrawn) {
			/* Revoked or edited rule: the queued share is withdrawn, and says so. */
			(void)snprintf(detail, sizeof(detail),
				"queued share (share_seq %llu) withdrawn: its rule is no longer in "
				"policy '%.64s'",
				(unsigned long long)rw->seq, policy_name(dc->policy));
			e.time = now;
			e.actor = "hub";
			e.action = PASO__ACTION__REJECT;
			e.code = PASO_E_POLICY_DENIED;
			e.subject.data = hp;
			e.subject.len = has_hp ? 32 : 0;
			e.purpose = "sharing";
			e.recipient = (char *)a->b->partner;
			e.category = rw->category;
			e.detail = detail;
			e.policy_digest.data = (uint8_t *)policy_digest(dc->policy);
			e.policy_digest.len = 32;
			if ((r = ledger_append(t, &e, &idx)) != 0)
				return r;
			continue;
		}
		if (rw->gone)
			continue;
		ru = rw->ru;
		hex_encode(rw->pp, sizeof(rw->pp), pphex);
		(void)snprintf(rule, sizeof(rule), "sharing[%u]", rw->rule);
		if (rw->released) {
			case_label(rw->token, tokhex);
			attrs_text(ru->attributes, attrs, sizeof(attrs));
			(void)snprintf(detail, sizeof(detail),
				"released %s as %s (share_seq %llu) on case %s", attrs, pphex,
				(unsigned long long)rw->seq, tokhex);
		} else
			(void)snprintf(detail, sizeof(detail), "shared %s as %s (share_seq %llu)",
				ru->what == POLICY_SHARE_TEMPLATES ? "templates" : "record", pphex,
				(unsigned long long)rw->seq);
		e.time = now;
		e.actor = "hub";
		e.action = PASO__ACTION__SHARE;
		e.subject.data = hp;
		e.subject.len = has_hp ? 32 : 0;
		e.purpose = ru->purpose;
		e.policy_rule = rule;
		e.recipient = (char *)a->b->partner;
		e.category = rw->category;
		e.detail = detail;
		e.policy_digest.data = (uint8_t *)policy_digest(dc->policy);
		e.policy_digest.len = 32;
		if ((r = ledger_append(t, &e, &idx)) != 0)
			return r;
		a->shared++;
	}
	return 0;
}

/* A shallow copy of in with only the modalities attrs lists; 0 when none of them is there. */
static int
filter_templates(const Paso__Capture *in, uint32_t attrs, Paso__Capture *out)
{
	paso__capture__init(out);
	out->capture_time = in->capture_time;
	out->preset = in->preset;
	if ((attrs & POLICY_ATTR_FINGER) && in->finger_record.len > 0)
		out->finger_record = in->finger_record;
	if ((attrs & POLICY_ATTR_FACE) && in->face != NULL)
		out->face = in->face;
	if ((attrs & POLICY_ATTR_IRIS) && in->n_iris > 0) {
		out->n_iris = in->n_iris;
		out->iris = in->iris;
	}
	return out->finger_record.len > 0 || out->face != NULL || out->n_iris > 0;
}

/* Builds the batch's frame: each row's record read from the sealed store at send time. */
static int
build_batch(struct share *s, struct batch *b, uint8_t **framep, size_t *lenp)
{
	struct vault_txn *vt = NULL;
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__ShareBatch sb = PASO__SHARE_BATCH__INIT;
	Paso__SharedRecord recs[SHARE_BATCH_MAX], *rp[SHARE_BATCH_MAX];
	Paso__SubjectRecord *sr[SHARE_BATCH_MAX];
	Paso__Capture *filtered = NULL; /* releases' templates: only the modalities listed */
	uint8_t pp[SHARE_BATCH_MAX][32], hp[32], *buf;
	char rules[SHARE_BATCH_MAX][32];
	size_t i, len, m = 0;
	int r;

	memset(sr, 0, sizeof(sr));
	*framep = NULL;
	if ((r = vault_begin(s->cfg.dc->vault, 1, &vt)) != 0)
		return r;
	for (i = 0; i < b->n; i++) {
		struct row *rw = &b->rows[i];
		const struct policy_share_rule *ru;

		if (rw->withdrawn)
			continue; /* the rule is no longer in force: nothing more is sent */
		ru = rw->ru;
		r = vault_subject_get(vt, rw->id, &buf, &len);
		if (r == PASO_E_NOT_FOUND || r == PASO_E_KEY_NOT_FOUND) {
			rw->gone = 1;
			continue;
		}
		if (r != 0)
			goto out;
		sr[i] = paso__subject_record__unpack(frame_allocator(), len, buf);
		vault_free_record(buf, len);
		if (sr[i] == NULL) {
			r = PASO_E_CORRUPT;
			goto out;
		}
		paso__shared_record__init(&recs[m]);
		if ((r = vault_pseudonym(vt, rw->id, hp)) != 0)
			goto out;
		share_partner_pseudonym(hp, b->partner, "share", pp[m]);
		memcpy(rw->pp, pp[m], 32);
		(void)snprintf(rules[m], sizeof(rules[m]), "sharing[%u]", rw->rule);
		recs[m].share_seq = rw->seq;
		recs[m].subject.data = pp[m];
		recs[m].subject.len = 32;
		recs[m].rule = rules[m];
		recs[m].purpose = ru->purpose;
		recs[m].category = sr[i]->category;
		recs[m].enrolled_at = sr[i]->enrolled_at;
		recs[m].enrolled_point = sr[i]->enrolled_point;
		recs[m].retention_days = ru->retention_days;
		if (ru->what == POLICY_SHARE_TEMPLATES && sr[i]->protected_templates != NULL) {
			/* a hub under protection sends the partner its own form, made at
			 * enrolment, never the hub's; a subject enrolled before the rule has none
			 * (the raw capture is gone), so the partner gets the record alone */
			size_t f;

			for (f = 0; f < sr[i]->n_partner_forms; f++)
				if (sr[i]->partner_forms[f]->partner != NULL &&
					strcmp(sr[i]->partner_forms[f]->partner, b->partner) == 0)
					recs[m].protected_templates = sr[i]->partner_forms[f]->form;
		} else if (ru->what == POLICY_SHARE_TEMPLATES)
			recs[m].templates = sr[i]->templates;
		if (ru->what == POLICY_SHARE_RELEASE) {
			/* The rule's attributes, nothing else: category always (whom it covers). */
			if (!(ru->attributes & POLICY_ATTR_ENROLLED_AT))
				recs[m].enrolled_at = 0;
			if (!(ru->attributes & POLICY_ATTR_ENROLLED_POINT))
				recs[m].enrolled_point = NULL;
			if ((ru->attributes & POLICY_ATTR_TEMPLATES) && sr[i]->templates != NULL) {
				if (filtered == NULL && (filtered = calloc(SHARE_BATCH_MAX,
								 sizeof(*filtered))) == NULL) {
					r = PASO_E_NOMEM;
					goto out;
				}
				if (filter_templates(
					    sr[i]->templates, ru->attributes, &filtered[m]))
					recs[m].templates = &filtered[m];
			}
		}
		rp[m] = &recs[m];
		m++;
	}
	sb.n_records = m;
	sb.records = rp;
	env.kiosk_id = "hub";
	env.seq = b->n > 0 ? b->rows[b->n - 1].seq : 0;
	env.body_case = PASO__ENVELOPE__BODY_SHARE_BATCH;
	env.share_batch = &sb;
	r = frame_encode(&env, SHARE_FRAME_MAX, framep, lenp);
out:
	free(filtered); /* shallow copies: the bytes belong to sr[] */
	for (i = 0; i < b->n; i++)
		if (sr[i] != NULL)
			paso__subject_record__free_unpacked(sr[i], frame_allocator());
	vault_abort(vt);
	return r;
}

static int
sender_stopping(struct share *s)
{
	int st;

	pthread_mutex_lock(&s->mu);
	st = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return st;
}

static void
sender_sleep(struct share *s, double secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)secs;
	ts.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	if (!s->stopping && !s->wake)
		(void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	s->wake = 0;
	pthread_mutex_unlock(&s->mu);
}

/* One partner's link: connection kept open across batches, dropped on any error. */
struct link {
	char partner[PEER_NAME_MAX + 1];
	struct tls_ctx *ctx;
	struct tls_conn *conn;
	char host[128];
	uint16_t port;
	double backoff;
	int said_down;
};

/* Where a partner receives: DIR/peers/NAME.addr holds "HOST:PORT" (written by the operator). */
static int
link_addr(struct share *s, struct link *ln, struct paso_diag *d)
{
	char path[DEPLOY_PATH_MAX + 96], buf[160], *colon, *end;
	unsigned long port;
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/peers/%s.addr", s->cfg.dir, ln->partner);
	if ((f = fopen(path, "r")) == NULL)
		return paso_diag_set(d, PASO_E_NOT_FOUND, "%s: %s", path, strerror(errno));
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if ((colon = strrchr(buf, ':')) == NULL || colon == buf)
		return paso_diag_set(
			d, PASO_E_INVALID_ARG, "%s: expected HOST:PORT, not '%.60s'", path, buf);
	*colon = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return paso_diag_set(
			d, PASO_E_INVALID_ARG, "%s: bad port '%.20s'", path, colon + 1);
	(void)snprintf(ln->host, sizeof(ln->host), "%s", buf);
	ln->port = (uint16_t)port;
	return 0;
}

/* Sends one batch to one partner and records what it acknowledged. 1 if anything moved. */
static int
link_step(struct share *s, struct link *ln, struct paso_diag *d)
{
	struct batch *b = NULL;
	struct vault_txn *vt = NULL;
	struct ack_task at;
	struct peer_files pf;
	Paso__Envelope *ans = NULL;
	uint8_t prefix[PEER_NAME_MAX + 1], *frame = NULL, *payload = NULL;
	size_t flen = 0;
	uint32_t plen;
	int r;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return PASO_E_NOMEM;
	b->policy = s->cfg.dc->policy;
	b->partner = ln->partner;
	b->plen = strlen(ln->partner);
	memcpy(prefix, ln->partner, b->plen);
	prefix[b->plen] = 0;
	if ((r = vault_begin(s->cfg.dc->vault, 1, &vt)) != 0)
		goto out;
	r = vault_outbox_scan(vt, prefix, b->plen + 1, SHARE_BATCH_MAX, take_row, b);
	vault_abort(vt);
	vt = NULL;
	if (r == 0 && b->n == 0 && ln->conn != NULL) {
		/* Nothing to send: close the link rather than let the partner time it out. */
		tls_conn_shutdown(ln->conn);
		tls_conn_free(ln->conn);
		ln->conn = NULL;
	}
	if (r != 0 || b->n == 0)
		goto out;
	{
		size_t i, live = 0;

		for (i = 0; i < b->n; i++)
			live += !b->rows[i].withdrawn;
		if (live == 0) {
			/* Every row lost its rule: withdrawn here, nothing goes to the partner. */
			at = (struct ack_task){s, b, b->rows[b->n - 1].seq, 0};
			if ((r = peer_loop_task(s->cfg.loop, ack_task, &at, NULL)) == 0)
				r = 1;
			goto out;
		}
	}
	if (ln->conn == NULL) {
		if ((r = link_addr(s, ln, d)) != 0 ||
			(r = peer_files(s->cfg.dir, ln->partner, &pf, d)) != 0)
			goto out;
		if (ln->ctx == NULL && (r = tls_ctx_new_client(pf.cert, pf.key, pf.ca,
						DEPLOY_HUB_NAME, &ln->ctx, d)) != 0)
			goto out;
		if ((r = tls_connect(
			     ln->ctx, ln->host, ln->port, s->cfg.io_timeout_ms, &ln->conn, d)) != 0)
			goto out;
	}
	if ((r = build_batch(s, b, &frame, &flen)) != 0) {
		paso_diag_set(d, r, "reading the outbox rows' records: %s", paso_strerror(r));
		goto out;
	}
	if ((r = tls_write_all(ln->conn, frame, flen)) != 0 ||
		(r = tls_read_frame(ln->conn, FRAME_DEFAULT_MAX, &payload, &plen, d)) != 0) {
		if (d->code == 0)
			paso_diag_set(
				d, r, "link to %s:%u: %s", ln->host, ln->port, paso_strerror(r));
		goto out;
	}
	if ((r = frame_decode(payload, plen, &ans, d)) != 0)
		goto out;
	if (ans->body_case == PASO__ENVELOPE__BODY_ERROR) {
		r = paso_diag_set(d, ans->error->code, "partner refused the batch: %s",
			ans->error->message ? ans->error->message : "");
		goto out;
	}
	if (ans->body_case != PASO__ENVELOPE__BODY_SHARE_ACK) {
		r = paso_diag_set(d, PASO_E_UNKNOWN_MESSAGE, "partner answered with body %d",
			(int)ans->body_case);
		goto out;
	}
	at = (struct ack_task){s, b, ans->share_ack->through, 0};
	if ((r = peer_loop_task(s->cfg.loop, ack_task, &at, NULL)) != 0) {
		paso_diag_set(d, r, "recording shares: %s", paso_strerror(r));
		goto out;
	}
	r = at.through >= b->rows[0].seq ? 1 : 0;
out:
	if (r < 0 && ln->conn != NULL) {
		tls_conn_free(ln->conn);
		ln->conn = NULL;
	}
	if (ans != NULL)
		paso__envelope__free_unpacked(ans, NULL);
	if (frame != NULL) {
		sodium_memzero(frame, flen);
		free(frame);
	}
	free(payload);
	free(b);
	return r;
}

/*
 * Adds the partners named by a templates or records rule of the policy in force, and pinned,
 * to links[0..n) (a reload may name new ones; partners whose rules went keep their link so
 * their withdrawn rows are cleared). Returns the new count.
 */
static size_t
bulk_partners(struct share *s, const struct policy *p, struct link *links, size_t n, size_t cap)
{
	const struct policy_settings *ps = policy_settings(p);
	struct peer_files pf;
	struct paso_diag d;
	size_t i, j;

	for (i = 0; i < ps->nsharing && n < cap; i++) {
		if (ps->sharing[i].what == POLICY_SHARE_HIT_NO_HIT)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(links[j].partner, ps->sharing[i].partner) == 0)
				break;
		if (j < n || peer_files(s->cfg.dir, ps->sharing[i].partner, &pf, &d) != 0)
			continue;
		memset(&links[n], 0, sizeof(links[n]));
		(void)snprintf(
			links[n].partner, sizeof(links[n].partner), "%s", ps->sharing[i].partner);
		links[n].backoff = 0.1;
		n++;
	}
	return n;
}

static void *
sender_thread(void *arg)
{
	struct share *s = arg;
	struct link links[POLICY_MAX_RULES];
	struct paso_diag d;
	const struct policy *seen = NULL;
	size_t i, n = 0;
	double wait;
	int r, moved;

	while (!sender_stopping(s)) {
		/* A reload swaps the policy (the old one stays alive until the hub closes). */
		if (s->cfg.dc->policy != seen) {
			seen = s->cfg.dc->policy;
			n = bulk_partners(s, seen, links, n, POLICY_MAX_RULES);
		}
		moved = 0;
		wait = 0.2;
		for (i = 0; i < n && !sender_stopping(s); i++) {
			memset(&d, 0, sizeof(d));
			r = link_step(s, &links[i], &d);
			if (r > 0) {
				moved = 1;
				links[i].backoff = 0.1;
				if (links[i].said_down)
					hublog_printf(s->cfg.log, "partner %s: sharing resumed",
						links[i].partner);
				links[i].said_down = 0;
			} else if (r < 0) {
				if (!links[i].said_down)
					hublog_printf(s->cfg.log,
						"partner %s: sharing paused (%s: %s); retrying with "
						"backoff",
						links[i].partner, paso_errname(r), d.msg);
				links[i].said_down = 1;
				if (links[i].backoff < wait || wait == 0.2)
					wait = links[i].backoff;
				links[i].backoff *= 2;
				if (links[i].backoff > s->cfg.retry_max_s)
					links[i].backoff = s->cfg.retry_max_s;
			}
		}
		if (!moved)
			sender_sleep(s, wait);
	}
	for (i = 0; i < n; i++) {
		if (links[i].conn != NULL) {
			tls_conn_shutdown(links[i].conn);
			tls_conn_free(links[i].conn);
		}
		tls_ctx_free(links[i].ctx);
	}
	pthread_mutex_lock(&s->mu);
	s->sender_done = 1;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* --- lifecycle ------------------------------------------------------------------------------ */

int
share_open(const struct share_config *cfg, struct share **out, struct paso_diag *d)
{
	struct peer_listener_config lc;
	struct share *s;
	int r;

	*out = NULL;
	if (peer_count(cfg->dir, NULL) == 0)
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PASO_E_NOMEM;
	s->cfg = *cfg;
	if (s->cfg.retry_max_s <= 0)
		s->cfg.retry_max_s = 5.0;
	if (s->cfg.io_timeout_ms == 0)
		s->cfg.io_timeout_ms = 30000;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	memset(&lc, 0, sizeof(lc));
	lc.dir = cfg->dir;
	lc.host = cfg->host;
	lc.port = cfg->port;
	lc.io_timeout_ms = s->cfg.io_timeout_ms;
	lc.log = cfg->log;
	lc.what = "partner port";
	lc.serve = serve_partner;
	lc.arg = s;
	if ((r = peer_listen(&lc, &s->pl, d)) != 0) {
		share_close(s);
		return r;
	}
	*out = s;
	return 0;
}

uint16_t
share_port(const struct share *s)
{
	return s != NULL ? peer_listener_port(s->pl) : 0;
}

int
share_start(struct share *s)
{
	if (s == NULL)
		return 0;
	if (peer_listener_start(s->pl) != 0)
		return PASO_E_INTERNAL;
	if (pthread_create(&s->sender, NULL, sender_thread, s) != 0)
		return PASO_E_INTERNAL;
	s->sender_started = 1;
	return 0;
}

void
share_stop(struct share *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	peer_listener_stop(s->pl);
}

int
share_idle(struct share *s)
{
	int done;

	if (s == NULL)
		return 1;
	pthread_mutex_lock(&s->mu);
	done = !s->sender_started || s->sender_done;
	pthread_mutex_unlock(&s->mu);
	return done && peer_listener_conns(s->pl) == 0;
}

void
share_close(struct share *s)
{
	if (s == NULL)
		return;
	share_stop(s);
	if (s->sender_started)
		pthread_join(s->sender, NULL);
	peer_listener_close(s->pl);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
