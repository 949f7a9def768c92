/* SPDX-License-Identifier: Apache-2.0 */
/* Matching SHARE and RECEIVE entries across two signed logs, with inclusion proofs for each. */
#include "sharecheck.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "logread.h"
#include "hex.h"
#include "merkle.h"
#include "paso.pb-c.h"

/* One side of a pair: what must match, and where the entry is. */
struct key {
	char k[64 + 1 + 20 + 1 + 64 + 1]; /* pseudonym hex | share_seq | rule */
	uint64_t index;
	int matched;
};

struct side {
	struct key *keys;
	size_t n, cap;
};

static int
side_add(struct side *s, const char *pseud, uint64_t seq, const char *rule, uint64_t index)
{
	struct key *nk;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		if ((nk = realloc(s->keys, s->cap * sizeof(*nk))) == NULL)
			return PASO_E_NOMEM;
		s->keys = nk;
	}
	(void)snprintf(s->keys[s->n].k, sizeof(s->keys[s->n].k), "%.64s|%" PRIu64 "|%.64s", pseud,
		seq, rule);
	s->keys[s->n].index = index;
	s->keys[s->n].matched = 0;
	s->n++;
	return 0;
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct key *)a)->k, ((const struct key *)b)->k);
}

/* "(share_seq N)" in text -> N; 0 when absent. */
static uint64_t
seq_in(const char *text)
{
	const char *p = text != NULL ? strstr(text, "(share_seq ") : NULL;
	char *end;
	unsigned long long v;

	if (p == NULL)
		return 0;
	v = strtoull(p + 11, &end, 10);
	return *end == ')' ? (uint64_t)v : 0;
}

/* Reads the signed prefix of one log and keeps the entries of one kind. */
static int
collect(struct logread *log, uint64_t size, int national, const char *peer, struct side *s,
	uint64_t *countp)
{
	Paso__AuditEntry *e;
	uint8_t *buf;
	size_t len;
	uint64_t i, seq;
	char hx[65];
	const char *as;
	int r = 0;

	*countp = 0;
	for (i = 0; i < size && r == 0; i++) {
		if ((r = logread_entry(log, i, &buf, &len)) != 0)
			break;
		e = paso__audit_entry__unpack(NULL, len, buf);
		free(buf);
		if (e == NULL) {
			r = PASO_E_AUDIT_CORRUPT;
			break;
		}
		if (national && e->action == PASO__ACTION__SHARE && e->recipient != NULL &&
			strcmp(e->recipient, peer) == 0) {
			(*countp)++;
			as = e->detail != NULL ? strstr(e->detail, " as ") : NULL;
			seq = seq_in(e->detail);
			if (as != NULL && strlen(as + 4) >= 64) {
				memcpy(hx, as + 4, 64);
				hx[64] = '\0';
			} else
				(void)snprintf(hx, sizeof(hx), "(no pseudonym)");
			r = side_add(s, hx, seq, e->policy_rule ? e->policy_rule : "", i);
		} else if (!national && e->action == PASO__ACTION__RECEIVE && e->actor != NULL &&
			   strcmp(e->actor, peer) == 0) {
			(*countp)++;
			if (e->subject.len == 32)
				hex_encode(e->subject.data, 32, hx);
			else
				(void)snprintf(hx, sizeof(hx), "(no pseudonym)");
			r = side_add(
				s, hx, seq_in(e->detail), e->policy_rule ? e->policy_rule : "", i);
		}
		paso__audit_entry__free_unpacked(e, NULL);
	}
	return r;
}

/* The entry at index is in the tree whose root the checkpoint signed. */
static int
proven(struct logread *log, uint64_t index, uint64_t size, const uint8_t root[MERKLE_HASH_BYTES])
{
	uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_BYTES], leaf[MERKLE_HASH_BYTES];
	size_t n;
	int r;

	if ((r = logread_leaf_hash(log, index, leaf)) != 0 ||
		(r = logread_inclusion(log, index, size, path, MERKLE_MAX_PROOF, &n)) != 0)
		return r;
	return merkle_verify_inclusion(
		leaf, index, size, (const uint8_t(*)[MERKLE_HASH_BYTES])path, n, root);
}

int
sharecheck_run(const char *national_auditdir, const struct checkpoint_verifier *nv,
	const char *national, const char *partner_auditdir, const struct checkpoint_verifier *pv,
	const char *partner, FILE *out, struct sharecheck_report *rep, struct paso_diag *d)
{
	struct logread_report nr, pr;
	struct logread *nl = NULL, *pl = NULL;
	struct side ns = {0}, ps = {0};
	struct key *hit;
	size_t i, listed;
	int r;

	memset(rep, 0, sizeof(*rep));
	if ((r = logread_verify(national_auditdir, nv, NULL, &nr, d)) != 0 ||
		(r = logread_verify(partner_auditdir, pv, NULL, &pr, d)) != 0)
		goto out;
	rep->unsigned_entries =
		(nr.entries - nr.checkpoint_size) + (pr.entries - pr.checkpoint_size);
	if ((r = logread_open(national_auditdir, &nl, d)) != 0 ||
		(r = logread_open(partner_auditdir, &pl, d)) != 0)
		goto out;
	d->code = 0;
	if ((r = collect(nl, nr.checkpoint_size, 1, partner, &ns, &rep->shares)) != 0 ||
		(r = collect(pl, pr.checkpoint_size, 0, national, &ps, &rep->receives)) != 0) {
		paso_diag_set(d, r, "reading entries: %s", paso_strerror(r));
		goto out;
	}
	qsort(ps.keys, ps.n, sizeof(*ps.keys), key_cmp);
	for (i = 0; i < ns.n; i++) {
		hit = bsearch(&ns.keys[i], ps.keys, ps.n, sizeof(*ps.keys), key_cmp);
		/* Equal keys sit together after sorting: take the first one not yet matched. */
		while (hit != NULL && hit > ps.keys && strcmp((hit - 1)->k, ns.keys[i].k) == 0)
			hit--;
		while (hit != NULL && hit < ps.keys + ps.n && strcmp(hit->k, ns.keys[i].k) == 0 &&
			hit->matched)
			hit++;
		if (hit == NULL || hit >= ps.keys + ps.n || strcmp(hit->k, ns.keys[i].k) != 0)
			continue;
		if ((r = proven(nl, ns.keys[i].index, nr.checkpoint_size, nr.root)) != 0 ||
			(r = proven(pl, hit->index, pr.checkpoint_size, pr.root)) != 0) {
			paso_diag_set(d, r,
				"inclusion proof of SHARE %" PRIu64 " / RECEIVE %" PRIu64
				" does not verify",
				ns.keys[i].index, hit->index);
			goto out;
		}
		hit->matched = ns.keys[i].matched = 1;
		rep->matched++;
	}
	for (i = 0, listed = 0; i < ns.n; i++)
		if (!ns.keys[i].matched) {
			rep->unmatched_shares++;
			if (listed++ < 20)
				fprintf(out, "SHARE entry %" PRIu64 " (%s) has no RECEIVE in %s\n",
					ns.keys[i].index, ns.keys[i].k, partner_auditdir);
		}
	for (i = 0, listed = 0; i < ps.n; i++)
		if (!ps.keys[i].matched) {
			rep->unmatched_receives++;
			if (listed++ < 20)
				fprintf(out, "RECEIVE entry %" PRIu64 " (%s) has no SHARE in %s\n",
					ps.keys[i].index, ps.keys[i].k, national_auditdir);
		}
	r = rep->unmatched_shares || rep->unmatched_receives ? PASO_E_PROOF_INVALID : 0;
	if (r != 0)
		paso_diag_set(d, r,
			"%" PRIu64 " SHARE entries without RECEIVE, %" PRIu64
			" RECEIVE entries without SHARE",
			rep->unmatched_shares, rep->unmatched_receives);
out:
	free(ns.keys);
	free(ps.keys);
	logread_close(nl);
	logread_close(pl);
	return r;
}
