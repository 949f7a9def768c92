/* SPDX-License-Identifier: Apache-2.0 */
/* Retention sweeps: due epochs found in the epoch index, rows erased in bounded steps, keys shredded. */
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
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

/* An epoch as a day: "YYYY-MM-DD" (expiry day) or "enrolled YYYY-MM-DD" (enrolment epoch). */
static const char *
epoch_text(uint32_t epoch, char buf[INSTANT_TEXT_BYTES])
{
	char d[INSTANT_TEXT_BYTES];

	if (!VAULT_EPOCH_IS_KINDED(epoch))
		return day_text(epoch, buf);
	day_text(VAULT_EPOCH_DAY(epoch), d);
	memcpy(buf, "enrolled ", 9);
	memcpy(buf + 9, d, 11); /* "YYYY-MM-DD" and its NUL */
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
	sr = paso__subject_record__unpack(frame_allocator(), len, rec);
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
	paso__subject_record__free_unpacked(sr, frame_allocator());
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

/* The first creation day of kind k NOT due at now under pol: days below it are due. */
static uint32_t
cut_day(const struct policy *pol, enum policy_record_kind k, uint64_t now)
{
	uint32_t today = retention_today(now), days = policy_retention_days(pol, k);

	return today > days ? today - days : 0;
}

int
retention_epoch_due(const struct policy *pol, uint32_t epoch, uint64_t now)
{
	if (epoch < VAULT_EPOCH_KINDED)
		return epoch < retention_today(now);
	if (!VAULT_EPOCH_IS_KINDED(epoch) || VAULT_EPOCH_KIND(epoch) >= POLICY_NRECORD_KINDS)
		return 0;
	return VAULT_EPOCH_DAY(epoch) <
	       cut_day(pol, (enum policy_record_kind)VAULT_EPOCH_KIND(epoch), now);
}

/*
 * The resend memory indexed by expiry day (rows written before per-kind epochs) whose day is
 * past (at most budget rows): deleted, one DELETE entry per record kind. Deleting is not
 * erasing, but the pseudonyms these rows hold are bound to data keys that the enrolments'
 * erasure destroys.
 */
static int
sweep_seen(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, size_t budget,
	struct retention_step *st)
{
	uint64_t counts[VAULT_SEEN_KINDS] = {0};
	uint32_t first = 0, last = 0;
	char detail[400], rule[64], a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES];
	uint64_t idx;
	size_t n = 0, k;
	int more = 0, r;

	if (budget == 0)
		return 0; /* st->more is already set: the next step continues */
	if ((r = vault_seen_expire(ledger_store(t), retention_today(now), budget, counts, &first,
		     &last, &n, &more)) != 0)
		return r;
	st->seen_total += n;
	st->records += n;
	st->more |= more;
	for (k = 0; k < VAULT_SEEN_KINDS; k++) {
		if (counts[k] == 0)
			continue;
		st->seen[k] += counts[k];
		(void)snprintf(rule, sizeof(rule), "retention_days.%s",
			policy_record_kind_name((enum policy_record_kind)k));
		(void)snprintf(detail, sizeof(detail),
			"retention sweep: deleted %llu acknowledgements of %s messages kept for "
			"resends (kiosk, sequence number, pseudonym, scores), due on days %s..%s "
			"(expiry fixed when they were written)",
			(unsigned long long)counts[k],
			policy_record_kind_name((enum policy_record_kind)k), day_text(first, a),
			day_text(last, b));
		if ((r = delete_entry(dc, t, now, rule, detail, &idx)) != 0)
			return r;
		st->entries++;
	}
	return 0;
}

/* "N key epochs a..b" of the erased part of one kind, into buf. */
static void
epochs_text(const struct vault_erased *e, char *buf, size_t cap)
{
	char a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES];

	if (e->rows == 0) {
		buf[0] = '\0';
		return;
	}
	(void)snprintf(buf, cap, "created on %zu day(s) %s..%s (key epochs %u..%u)", e->epochs,
		day_text(VAULT_EPOCH_DAY(e->first), a), day_text(VAULT_EPOCH_DAY(e->last), b),
		e->first, e->last);
}

/*
 * Kind k's kept rows (crossings, refusals) and sealed resend rows due at now, at most *budget:
 * erased, one DELETE entry for the kind when any.
 */
static int
sweep_kind(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now,
	enum policy_record_kind k, size_t *budget, struct retention_step *st)
{
	static const char *const what[POLICY_NRECORD_KINDS] = {"", "crossing records",
		"identification records",
		"records of refused messages (kiosk, sequence number, "
		"code, reason, audit index)"};
	struct vault_erased rows = {0}, acks = {0};
	uint32_t from = VAULT_EPOCH(k, 0), below = VAULT_EPOCH(k, cut_day(dc->policy, k, now));
	char detail[700], rule[64], e1[160], e2[160];
	uint64_t idx;
	int r;

	if (below <= from)
		return 0;
	if (*budget > 0 &&
		(r = vault_kept_erase(ledger_store(t), from, below, *budget, &rows)) != 0)
		return r;
	*budget -= rows.rows;
	if (*budget > 0 &&
		(r = vault_seenexp_erase(ledger_store(t), from, below, *budget, &acks)) != 0)
		return r;
	*budget -= acks.rows;
	st->more |= rows.more | acks.more;
	if (*budget == 0)
		st->more = 1; /* cannot tell without looking: the next step will */
	if (rows.rows + acks.rows == 0)
		return 0;
	st->kept[k] += rows.rows;
	st->seen[k] += acks.rows;
	st->seen_total += acks.rows;
	st->records += rows.rows + acks.rows;
	if (k == POLICY_REC_CROSSING)
		ledger_count(t, COUNT_CROSSINGS, -(int64_t)rows.rows);
	epochs_text(&rows, e1, sizeof(e1));
	epochs_text(&acks, e2, sizeof(e2));
	(void)snprintf(rule, sizeof(rule), "retention_days.%s", policy_record_kind_name(k));
	(void)snprintf(detail, sizeof(detail),
		"retention sweep: erased %llu %s%s%s and %llu acknowledgements of %s messages kept "
		"for resends%s%s; kept %u days under the policy in force; the epochs' "
		"key-encryption keys are destroyed next%s",
		(unsigned long long)rows.rows, what[k], rows.rows ? " " : "", e1,
		(unsigned long long)acks.rows, policy_record_kind_name(k), acks.rows ? " " : "", e2,
		policy_retention_days(dc->policy, k),
		st->more ? "; more are due and follow in the next sweep" : "");
	if ((r = delete_entry(dc, t, now, rule, detail, &idx)) != 0)
		return r;
	st->entries++;
	return 0;
}

int
retention_sweep(const struct decide_ctx *dc, struct ledger_txn *t, uint64_t now, size_t max,
	struct retention_step *st)
{
	struct vault_txn *vt = ledger_store(t);
	uint8_t *ids = NULL;
	uint32_t *epochs = NULL, today = retention_today(now);
	uint32_t below_legacy = today < VAULT_EPOCH_KINDED ? today : VAULT_EPOCH_KINDED;
	uint32_t kfrom = VAULT_EPOCH(POLICY_REC_ENROLMENT, 0);
	uint32_t kbelow =
		VAULT_EPOCH(POLICY_REC_ENROLMENT, cut_day(dc->policy, POLICY_REC_ENROLMENT, now));
	struct vault_erased acks = {0};
	uint64_t nev, unread = 0;
	size_t n = 0, m = 0, i, budget, legacy = 0;
	char detail[900], note[120], a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES], days[200];
	int r, k;

	memset(st, 0, sizeof(*st));
	if (max == 0)
		max = RETENTION_BATCH_DEFAULT;
	/* One more than the batch: tells whether another step is needed. */
	if ((ids = malloc((max + 1) * VAULT_ID_BYTES)) == NULL ||
		(epochs = malloc((max + 1) * sizeof(*epochs))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	/* Enrolments: expiry-day epochs first (older stores, partners), then (enrolment, day). */
	if ((r = vault_epoch_due(vt, below_legacy, max + 1, ids, epochs, &n)) != 0)
		goto out;
	legacy = n;
	if (n < max + 1) {
		if ((r = vault_epoch_due_range(vt, kfrom, kbelow, max + 1 - n,
			     ids + n * VAULT_ID_BYTES, epochs + n, &m)) != 0)
			goto out;
		n += m;
	}
	if (n > max) {
		st->more = 1;
		n = max;
		if (legacy > n)
			legacy = n;
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
	st->records = n + st->events;
	/* What is left of the step, in rows of the contiguous ranges below (RETENTION_ROW_WEIGHT
	 * of them cost about what one enrolment's erasure costs). */
	budget = (max - n) * RETENTION_ROW_WEIGHT;
	/* The acknowledgements of enrolment messages go under the same entry. */
	if (budget > 0 && (r = vault_seenexp_erase(vt, kfrom, kbelow, budget, &acks)) != 0)
		goto out;
	budget -= acks.rows;
	st->more |= acks.more;
	st->seen[POLICY_REC_ENROLMENT] += acks.rows;
	st->seen_total += acks.rows;
	st->records += acks.rows;
	if (budget == 0)
		st->more = 1; /* the kinds below wait for the next step */
	if (n == 0 && acks.rows > 0) {
		epochs_text(&acks, days, sizeof(days));
		(void)snprintf(detail, sizeof(detail),
			"retention sweep: erased 0 enrolments and %llu acknowledgements of enrolment "
			"messages kept for resends %s; kept %u days under the policy in force; the "
			"epochs' key-encryption keys are destroyed next%s",
			(unsigned long long)acks.rows, days,
			policy_retention_days(dc->policy, POLICY_REC_ENROLMENT),
			st->more ? "; more are due and follow in the next sweep" : "");
		if ((r = delete_entry(
			     dc, t, now, RETENTION_RULE_ENROLMENT, detail, &st->audit_index)) != 0)
			goto out;
		st->entries++;
	}
	if (n > 0) {
		st->first_epoch = epochs[0];
		st->last_epoch = epochs[n - 1];
		note[0] = '\0';
		if (unread > 0)
			(void)snprintf(note, sizeof(note),
				"; %llu of them could not be opened (key gone, tampered or "
				"malformed) and were erased unread",
				(unsigned long long)unread);
		days[0] = '\0';
		if (legacy > 0)
			(void)snprintf(days, sizeof(days),
				"%zu with their expiry day fixed at enrolment (%s..%s)", legacy,
				day_text(epochs[0], a), day_text(epochs[legacy - 1], b));
		if (n > legacy)
			(void)snprintf(days + strlen(days), sizeof(days) - strlen(days),
				"%s%zu enrolled on days %s..%s and kept %u days under the policy "
				"in force",
				legacy > 0 ? ", " : "", n - legacy,
				day_text(VAULT_EPOCH_DAY(epochs[legacy]), a),
				day_text(VAULT_EPOCH_DAY(epochs[n - 1]), b),
				policy_retention_days(dc->policy, POLICY_REC_ENROLMENT));
		(void)snprintf(detail, sizeof(detail),
			"retention sweep: erased %llu enrolments (sealed record, templates, card "
			"index, wrapped key) and the %llu crossings sealed with them: %s; %zu key "
			"epochs %u..%u; each record was opened once to update the counters; and "
			"%llu acknowledgements of enrolment messages kept for resends; the epochs' "
			"key-encryption keys are destroyed next%s%s",
			(unsigned long long)n, (unsigned long long)st->events, days, st->epochs,
			st->first_epoch, st->last_epoch, (unsigned long long)acks.rows, note,
			st->more ? "; more are due and follow in the next sweep" : "");
		if ((r = delete_entry(
			     dc, t, now, RETENTION_RULE_ENROLMENT, detail, &st->audit_index)) != 0)
			goto out;
		st->entries++;
	}
	/* Then every kind's kept rows and resend memory, in the budget left. */
	for (k = POLICY_REC_CROSSING; k < POLICY_NRECORD_KINDS && budget > 0; k++)
		if ((r = sweep_kind(dc, t, now, (enum policy_record_kind)k, &budget, st)) != 0)
			goto out;
	if ((r = sweep_seen(dc, t, now, budget / RETENTION_ROW_WEIGHT, st)) != 0)
		goto out;
	if (n > 0) {
		st->ids = ids;
		ids = NULL;
	}
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
retention_shred(struct vault *v, struct keyring *kr, const struct policy *pol, uint64_t now,
	size_t *shreddedp, uint32_t *firstp, uint32_t *lastp)
{
	struct vault_txn *t = NULL;
	uint32_t *eps = NULL;
	size_t cap = keyring_kek_count(kr), n, i, m = 0;
	int held, r = 0;

	*shreddedp = 0;
	if (cap == 0)
		return 0;
	if ((eps = malloc(cap * sizeof(*eps))) == NULL)
		return PASO_E_NOMEM;
	/* Every live epoch of a day or a (kind, day): not the template protection keys above. */
	n = keyring_live_epochs(kr, VAULT_EPOCH(15, VAULT_EPOCH_DAY_MASK) + 1, eps, cap);
	/* The due epochs that hold nothing any more, kept in place in eps[0..m). */
	if ((r = vault_begin(v, 1, &t)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (!retention_epoch_due(pol, eps[i], now))
			continue;
		if ((r = vault_epoch_held(t, eps[i], &held)) != 0)
			break;
		if (!held) /* else a step still has records of it to erase */
			eps[m++] = eps[i];
	}
	vault_abort(t);
	if (r != 0 || m == 0)
		goto out;
	/* All at once: a day's sweep empties one epoch per kind, a backlog many. */
	if ((r = vault_shred_empty(v, eps, m, shreddedp)) != 0)
		goto out;
	if (*shreddedp > 0) {
		*firstp = eps[0];
		*lastp = eps[m - 1];
	}
out:
	free(eps);
	return r;
}

struct due_walk {
	const struct policy *pol;
	uint64_t now;
	struct retention_due *d;
};

static int
due_epoch(void *arg, uint32_t epoch, uint64_t n)
{
	struct due_walk *w = arg;

	if (!retention_epoch_due(w->pol, epoch, w->now))
		return 0;
	if (w->d->subjects == 0)
		w->d->first_epoch = epoch;
	w->d->last_epoch = epoch;
	w->d->subjects += n;
	w->d->epochs++;
	return 0;
}

int
retention_due(struct vault_txn *t, struct keyring *kr, const struct policy *pol, uint64_t now,
	struct retention_due *out)
{
	struct due_walk w = {pol, now, out};
	uint8_t *ids = NULL;
	uint32_t *eps = NULL, today = retention_today(now), from, below;
	uint64_t nev, c;
	size_t n = 0, i, cap, k;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = vault_epoch_foreach(t, due_epoch, &w)) != 0)
		return r;
	/* Crossings sealed with the subjects (older stores) go with them. */
	if ((cap = (size_t)out->subjects) > 0) {
		if ((ids = malloc(cap * VAULT_ID_BYTES)) == NULL ||
			(eps = malloc(cap * sizeof(*eps))) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
		if ((r = vault_epoch_due(t, today < VAULT_EPOCH_KINDED ? today : VAULT_EPOCH_KINDED,
			     cap, ids, eps, &n)) != 0)
			goto out;
		if (n < cap) {
			size_t m = 0;

			if ((r = vault_epoch_due_range(t, VAULT_EPOCH(POLICY_REC_ENROLMENT, 0),
				     VAULT_EPOCH(POLICY_REC_ENROLMENT,
					     cut_day(pol, POLICY_REC_ENROLMENT, now)),
				     cap - n, ids + n * VAULT_ID_BYTES, eps + n, &m)) != 0)
				goto out;
			n += m;
		}
		for (i = 0; i < n; i++) {
			if ((r = vault_event_count(t, ids + i * VAULT_ID_BYTES, &nev)) != 0)
				goto out;
			out->events += nev;
		}
	}
	if ((r = vault_seen_due(t, today, out->seen)) != 0)
		goto out;
	for (k = 0; k < POLICY_NRECORD_KINDS; k++) {
		from = VAULT_EPOCH(k, 0);
		below = VAULT_EPOCH(k, cut_day(pol, (enum policy_record_kind)k, now));
		if (below <= from)
			continue;
		if ((r = vault_kept_count(t, from, below, &c)) != 0)
			goto out;
		out->kept[k] += c;
		if ((r = vault_seenexp_count(t, from, below, &c)) != 0)
			goto out;
		if (k < VAULT_SEEN_KINDS)
			out->seen[k] += c;
	}
	free(eps);
	eps = NULL;
	if ((cap = keyring_kek_count(kr)) > 0) {
		if ((eps = malloc(cap * sizeof(*eps))) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
		n = keyring_live_epochs(kr, VAULT_EPOCH(15, VAULT_EPOCH_DAY_MASK) + 1, eps, cap);
		for (i = 0; i < n; i++)
			out->keys += (size_t)retention_epoch_due(pol, eps[i], now);
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
	char ts[INSTANT_TEXT_BYTES], a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES], rest[300];

	(void)snprintf(rest, sizeof(rest),
		"; %llu crossing records and %llu records of refused messages due; resend memory "
		"due: %llu enrolment, %llu crossing, %llu identification acknowledgements",
		(unsigned long long)d->kept[POLICY_REC_CROSSING],
		(unsigned long long)d->kept[POLICY_REC_REJECTED],
		(unsigned long long)d->seen[POLICY_REC_ENROLMENT],
		(unsigned long long)d->seen[POLICY_REC_CROSSING],
		(unsigned long long)d->seen[POLICY_REC_IDENTIFICATION]);
	if (d->subjects == 0 && d->kept[POLICY_REC_CROSSING] + d->kept[POLICY_REC_REJECTED] +
						d->seen[POLICY_REC_ENROLMENT] +
						d->seen[POLICY_REC_CROSSING] +
						d->seen[POLICY_REC_IDENTIFICATION] ==
					0) {
		(void)snprintf(buf, cap,
			"at %s (hub clock): nothing is due under the policy in force; %zu expired "
			"key epoch(s) still have key-encryption keys to destroy",
			instant_format(now, ts), d->keys);
		return;
	}
	if (d->subjects == 0) {
		(void)snprintf(buf, cap, "at %s (hub clock): no enrolment is due under %s%s",
			instant_format(now, ts), RETENTION_RULE_ENROLMENT, rest);
		return;
	}
	(void)snprintf(buf, cap,
		"at %s (hub clock): would erase %llu enrolments and the %llu crossings sealed with "
		"them, of %zu key epochs (%s..%s) under %s, and destroy the key-encryption keys of "
		"%zu expired key epoch(s)%s",
		instant_format(now, ts), (unsigned long long)d->subjects,
		(unsigned long long)d->events, d->epochs, epoch_text(d->first_epoch, a),
		epoch_text(d->last_epoch, b), RETENTION_RULE_ENROLMENT, d->keys, rest);
}

struct year_walk {
	const struct policy *pol;
	uint64_t *n; /* per year 0..9999 */
};

static int
year_epoch(void *arg, uint32_t epoch, uint64_t n)
{
	struct year_walk *w = arg;
	char ts[INSTANT_TEXT_BYTES];
	uint64_t day = epoch;
	unsigned y;

	if (VAULT_EPOCH_IS_KINDED(epoch))
		day = (uint64_t)VAULT_EPOCH_DAY(epoch) +
		      policy_retention_days(w->pol, POLICY_REC_ENROLMENT);
	instant_format(day * SECONDS_PER_DAY, ts);
	y = (unsigned)(ts[0] - '0') * 1000 + (unsigned)(ts[1] - '0') * 100 +
	    (unsigned)(ts[2] - '0') * 10 + (unsigned)(ts[3] - '0');
	w->n[y % 10000] += n;
	return 0;
}

int
retention_by_year(struct vault_txn *t, const struct policy *pol,
	int (*cb)(void *arg, unsigned year, uint64_t n), void *arg)
{
	struct year_walk w = {pol, NULL};
	unsigned y;
	int r;

	if ((w.n = calloc(10000, sizeof(*w.n))) == NULL)
		return PASO_E_NOMEM;
	if ((r = vault_epoch_foreach(t, year_epoch, &w)) == 0)
		for (y = 0; y < 10000 && r == 0; y++)
			if (w.n[y] > 0)
				r = cb(arg, y, w.n[y]);
	free(w.n);
	return r;
}
