/* SPDX-License-Identifier: Apache-2.0 */
/* Retention sweeps: due epochs found in the epoch index, rows erased in bounded steps, keys shredded. */
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instant.h"
#include "policy.h"

#define SECONDS_PER_DAY 86400u

uint32_t
retention_today(uint64_t now)
{
	return (uint32_t)(now / SECONDS_PER_DAY);
}

/* "YYYY-MM-DD" of an epoch (an expiry day). */
static const char *
day_text(uint32_t epoch, char buf[INSTANT_TEXT_BYTES])
{
	instant_format((uint64_t)epoch * SECONDS_PER_DAY, buf);
	buf[10] = '\0';
	return buf;
}

void
retention_step_clear(struct retention_step *st)
{
	if (st == NULL)
		return;
	free(st->ids);
	memset(st, 0, sizeof(*st));
}

/*
 * Takes one record's category and kept templates off the counters. A record that does not open
 * (its key gone, tampered, malformed) is still erased: retention must not stall on it; *unread
 * counts it, and the DELETE entry says so.
 */
static int
uncount(struct ledger_txn *t, struct vault_txn *vt, const uint8_t id[VAULT_ID_BYTES],
	uint64_t *unread)
{
	Paso__SubjectRecord *sr;
	uint8_t *rec = NULL;
	size_t len = 0;
	int r;

	ledger_count(t, COUNT_SUBJECTS, -1);
	r = vault_subject_get(vt, id, &rec, &len);
	if (r == PASO_E_KEY_NOT_FOUND || r == PASO_E_CRYPTO || r == PASO_E_CORRUPT) {
		(*unread)++;
		return 0;
	}
	if (r != 0)
		return r;
	sr = paso__subject_record__unpack(NULL, len, rec);
	vault_free_record(rec, len);
	if (sr == NULL) {
		(*unread)++;
		return 0;
	}
	if (sr->category >= 1 && sr->category <= 4)
		ledger_count(t, COUNT_CAT_REGIONAL_VISITOR + (size_t)sr->category - 1, -1);
	if (sr->templates != NULL) {
		ledger_count(
			t, COUNT_WITH_FINGER, -(int64_t)(sr->templates->finger_record.len > 0));
		ledger_count(t, COUNT_WITH_FACE, -(int64_t)(sr->templates->face != NULL));
		ledger_count(t, COUNT_WITH_IRIS, -(int64_t)(sr->templates->n_iris > 0));
	}
	paso__subject_record__free_unpacked(sr, NULL);
	return 0;
}

/* A DELETE entry of the sweep at now, under rule, saying detail. */
static int
delete_entry(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, const char *rule,
	const char *detail, uint64_t *indexp)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;

	e.actor = "hub";
	e.action = PASO__ACTION__DELETE;
	e.purpose = "retention";
	e.policy_rule = (char *)rule;
	e.detail = (char *)detail;
	e.policy_digest.data = (uint8_t *)policy_digest(dc->policy);
	e.policy_digest.len = 32;
	e.time = now;
	return ledger_append(t, &e, indexp);
}

/*
 * The resend memory whose day is past (at most budget rows): deleted, one DELETE entry per
 * record kind. Deleting is not erasing, but the pseudonyms these rows hold are bound to data
 * keys that the enrolments' erasure destroys.
 */
static int
sweep_seen(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, size_t budget,
	struct retention_step *st)
{
	uint32_t first = 0, last = 0;
	char detail[400], rule[64], a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES];
	uint64_t idx;
	size_t n = 0, k;
	int more = 0, r;

	if (budget == 0)
		return 0; /* st->more is already set: the next step continues */
	if ((r = vault_seen_expire(ledger_store(t), retention_today(now), budget, st->seen, &first,
		     &last, &n, &more)) != 0)
		return r;
	st->seen_total = n;
	st->more |= more;
	for (k = 0; k < VAULT_SEEN_KINDS; k++) {
		if (st->seen[k] == 0)
			continue;
		(void)snprintf(rule, sizeof(rule), "retention_days.%s",
			policy_record_kind_name((enum policy_record_kind)k));
		(void)snprintf(detail, sizeof(detail),
			"retention sweep: deleted %llu acknowledgements of %s messages kept for "
			"resends (kiosk, sequence number, pseudonym, scores), due on days %s..%s",
			(unsigned long long)st->seen[k],
			policy_record_kind_name((enum policy_record_kind)k), day_text(first, a),
			day_text(last, b));
		if ((r = delete_entry(dc, t, now, rule, detail, &idx)) != 0)
			return r;
	}
	return 0;
}

int
retention_sweep(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, size_t max,
	struct retention_step *st)
{
	struct vault_txn *vt = ledger_store(t);
	uint8_t *ids = NULL;
	uint32_t *epochs = NULL;
	uint64_t nev, unread = 0;
	size_t n = 0, i;
	char detail[600], note[120], a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES];
	int r;

	memset(st, 0, sizeof(*st));
	if (max == 0)
		max = RETENTION_BATCH_DEFAULT;
	/* One more than the batch: tells whether another step is needed. */
	if ((ids = malloc((max + 1) * VAULT_ID_BYTES)) == NULL ||
		(epochs = malloc((max + 1) * sizeof(*epochs))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	if ((r = vault_epoch_due(vt, retention_today(now), max + 1, ids, epochs, &n)) != 0)
		goto out;
	if (n > max) {
		st->more = 1;
		n = max;
	}
	for (i = 0; i < n; i++) {
		if ((r = uncount(t, vt, ids + i * VAULT_ID_BYTES, &unread)) != 0 ||
			(r = vault_subject_erase(vt, ids + i * VAULT_ID_BYTES, &nev)) != 0)
			goto out;
		ledger_count(t, COUNT_CROSSINGS, -(int64_t)nev);
		st->events += nev;
		if (i == 0 || epochs[i] != epochs[i - 1])
			st->epochs++;
	}
	st->subjects = n;
	if ((r = sweep_seen(dc, t, now, max - n, st)) != 0)
		goto out;
	if (n == 0) {
		r = 0;
		goto out;
	}
	st->first_epoch = epochs[0];
	st->last_epoch = epochs[n - 1];
	note[0] = '\0';
	if (unread > 0)
		(void)snprintf(note, sizeof(note),
			"; %llu of them could not be opened (key gone, tampered or malformed) and "
			"were erased unread",
			(unsigned long long)unread);
	(void)snprintf(detail, sizeof(detail),
		"retention sweep: erased %llu enrolments (sealed record, templates, card index, "
		"wrapped key) and their %llu crossings, of %zu expiry days %s..%s (key epochs "
		"%u..%u); each record was opened once to update the counters; the days' "
		"key-encryption keys are destroyed next%s%s",
		(unsigned long long)n, (unsigned long long)st->events, st->epochs,
		day_text(st->first_epoch, a), day_text(st->last_epoch, b), st->first_epoch,
		st->last_epoch, note,
		st->more ? "; more are due and follow in the next sweep" : "");
	if ((r = delete_entry(dc, t, now, RETENTION_RULE_ENROLMENT, detail, &st->audit_index)) != 0)
		goto out;
	st->ids = ids;
	ids = NULL;
	r = 0;
out:
	free(ids);
	free(epochs);
	if (r != 0)
		retention_step_clear(st);
	return r;
}

void
retention_forget(struct gallery *g, const struct retention_step *st)
{
	uint64_t i;

	/* A subject without templates at the hub was never in the gallery: NOT_FOUND is fine. */
	for (i = 0; i < st->subjects; i++)
		(void)gallery_remove(g, st->ids + i * VAULT_ID_BYTES);
}

int
retention_shred(struct vault *v, struct keyring *kr, uint64_t now, size_t *shreddedp,
	uint32_t *firstp, uint32_t *lastp)
{
	struct vault_txn *t = NULL;
	uint32_t *eps = NULL;
	size_t cap = keyring_kek_count(kr), n, i;
	int held, r = 0;

	*shreddedp = 0;
	if (cap == 0)
		return 0;
	if ((eps = malloc(cap * sizeof(*eps))) == NULL)
		return PASO_E_NOMEM;
	n = keyring_live_epochs(kr, retention_today(now), eps, cap);
	for (i = 0; i < n; i++) {
		if ((r = vault_begin(v, 1, &t)) != 0)
			break;
		r = vault_epoch_held(t, eps[i], &held);
		vault_abort(t);
		t = NULL;
		if (r != 0)
			break;
		if (held)
			continue; /* a step still has subjects of it to erase */
		if ((r = vault_shred_epoch(v, eps[i], NULL)) != 0)
			break;
		if (*shreddedp == 0)
			*firstp = eps[i];
		*lastp = eps[i];
		(*shreddedp)++;
	}
	free(eps);
	return r;
}

struct due_walk {
	uint32_t today;
	struct retention_due *d;
};

static int
due_epoch(void *arg, uint32_t epoch, uint64_t n)
{
	struct due_walk *w = arg;

	if (epoch >= w->today)
		return 1; /* in order: nothing later is due */
	if (w->d->subjects == 0)
		w->d->first_epoch = epoch;
	w->d->last_epoch = epoch;
	w->d->subjects += n;
	w->d->epochs++;
	return 0;
}

int
retention_due(struct vault_txn *t, struct keyring *kr, uint64_t now, struct retention_due *out)
{
	struct due_walk w = {retention_today(now), out};
	uint8_t *ids = NULL;
	uint32_t *eps = NULL;
	uint64_t nev;
	size_t n = 0, i, cap;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = vault_epoch_foreach(t, due_epoch, &w)) != 0 && r != 1)
		return r;
	if (out->subjects > 0) {
		if ((ids = malloc(out->subjects * VAULT_ID_BYTES)) == NULL ||
			(eps = malloc(out->subjects * sizeof(*eps))) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
		if ((r = vault_epoch_due(t, w.today, out->subjects, ids, eps, &n)) != 0)
			goto out;
		for (i = 0; i < n; i++) {
			if ((r = vault_event_count(t, ids + i * VAULT_ID_BYTES, &nev)) != 0)
				goto out;
			out->events += nev;
		}
	}
	if ((r = vault_seen_due(t, w.today, out->seen)) != 0)
		goto out;
	free(eps);
	eps = NULL;
	if ((cap = keyring_kek_count(kr)) > 0) {
		if ((eps = malloc(cap * sizeof(*eps))) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
		out->keys = keyring_live_epochs(kr, w.today, eps, cap);
	}
	r = 0;
out:
	free(ids);
	free(eps);
	return r;
}

void
retention_due_text(const struct retention_due *d, uint64_t now, char *buf, size_t cap)
{
	char ts[INSTANT_TEXT_BYTES], a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES], seen[160];

	(void)snprintf(seen, sizeof(seen),
		"; resend memory due: %llu enrolment, %llu crossing, %llu identification "
		"acknowledgements",
		(unsigned long long)d->seen[POLICY_REC_ENROLMENT],
		(unsigned long long)d->seen[POLICY_REC_CROSSING],
		(unsigned long long)d->seen[POLICY_REC_IDENTIFICATION]);
	if (d->subjects == 0) {
		(void)snprintf(buf, cap,
			"at %s (hub clock): nothing is due under %s; %zu expired day(s) still "
			"have key-encryption keys to destroy%s",
			instant_format(now, ts), RETENTION_RULE_ENROLMENT, d->keys, seen);
		return;
	}
	(void)snprintf(buf, cap,
		"at %s (hub clock): would erase %llu enrolments and their %llu crossings of %zu "
		"expiry days %s..%s under %s, and destroy the key-encryption keys of %zu expired "
		"day(s)%s",
		instant_format(now, ts), (unsigned long long)d->subjects,
		(unsigned long long)d->events, d->epochs, day_text(d->first_epoch, a),
		day_text(d->last_epoch, b), RETENTION_RULE_ENROLMENT, d->keys, seen);
}

struct year_walk {
	int (*cb)(void *arg, unsigned year, uint64_t n);
	void *arg;
	unsigned year;
	uint64_t n;
};

static int
year_epoch(void *arg, uint32_t epoch, uint64_t n)
{
	struct year_walk *w = arg;
	char ts[INSTANT_TEXT_BYTES];
	unsigned y;
	int r;

	instant_format((uint64_t)epoch * SECONDS_PER_DAY, ts);
	y = (unsigned)(ts[0] - '0') * 1000 + (unsigned)(ts[1] - '0') * 100 +
	    (unsigned)(ts[2] - '0') * 10 + (unsigned)(ts[3] - '0');
	if (w->n > 0 && y != w->year) {
		if ((r = w->cb(w->arg, w->year, w->n)) != 0)
			return r;
		w->n = 0;
	}
	w->year = y;
	w->n += n;
	return 0;
}

int
retention_by_year(struct vault_txn *t, int (*cb)(void *arg, unsigned year, uint64_t n), void *arg)
{
	struct year_walk w = {cb, arg, 0, 0};
	int r;

	if ((r = vault_epoch_foreach(t, year_epoch, &w)) != 0)
		return r;
	return w.n > 0 ? cb(arg, w.year, w.n) : 0;
}
