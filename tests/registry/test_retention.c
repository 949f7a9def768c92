/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for registry/retention.c on real LMDB files, a real keyring and a real audit log: what
 * is due on which day, bounded steps, counters, the DELETE entry, key destruction only of
 * emptied days, and the by-year report.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auditlog.h"
#include "decide.h"
#include "gallery.h"
#include "keyring.h"
#include "ledger.h"
#include "policy.h"
#include "retention.h"
#include "vault.h"

#define DAY 86400ull

struct fx {
	char root[64], keys[96], audit[96];
	struct keyring *kr;
	struct vault *v;
	struct ledger *l;
	struct policy *pol;
	struct gallery *g;
	struct decide_ctx dc;
};

static void
rm_tree(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) != 0)
			rm_tree(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct paso_diag d = {0};
	uint64_t rec;

	assert_non_null(f);
	(void)snprintf(f->root, sizeof(f->root), "/tmp/paso-retention-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	(void)snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	(void)snprintf(f->audit, sizeof(f->audit), "%s/audit", f->root);
	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &f->kr, &d), 0);
	assert_int_equal(vault_open(f->root, f->kr, &f->v, &d), 0);
	assert_int_equal(
		ledger_open(f->audit, f->v, decide_count_keys, COUNT_N, &rec, &f->l, &d), 0);
	assert_int_equal(
		policy_parse(policy_default_yaml, policy_default_yaml_len, "default", &f->pol, &d),
		0);
	assert_int_equal(gallery_new(1, &f->g), 0);
	f->dc.policy = f->pol;
	f->dc.gallery = f->g;
	f->dc.vault = f->v;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	ledger_close(f->l);
	vault_close(f->v);
	keyring_close(f->kr);
	policy_free(f->pol);
	gallery_free(f->g);
	rm_tree(f->root);
	free(f);
	return 0;
}

/* Enrols a subject in epoch with category cat, a finger template flag and n crossings, counted
 * as the decision layer counts them. */
static void
enrol(struct fx *f, uint32_t epoch, int cat, const char *card, int events, uint8_t id[16])
{
	Paso__SubjectRecord rec = PASO__SUBJECT_RECORD__INIT;
	Paso__Capture cap = PASO__CAPTURE__INIT;
	struct ledger_txn *t = NULL;
	uint8_t buf[256], finger[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	size_t len;
	int i;

	cap.finger_record.data = finger;
	cap.finger_record.len = sizeof(finger);
	rec.category = cat;
	rec.card_number = (char *)card;
	rec.templates = &cap;
	rec.expires_at = (uint64_t)epoch * DAY + 3600;
	len = paso__subject_record__pack(&rec, buf);
	assert_int_equal(ledger_begin(f->l, &t), 0);
	assert_int_equal(vault_subject_create(ledger_store(t), card, epoch, buf, len, id), 0);
	for (i = 0; i < events; i++)
		assert_int_equal(
			vault_event_add(ledger_store(t), id, finger, sizeof(finger), NULL), 0);
	ledger_count(t, COUNT_SUBJECTS, 1);
	ledger_count(t, COUNT_CAT_REGIONAL_VISITOR + (size_t)cat - 1, 1);
	ledger_count(t, COUNT_WITH_FINGER, 1);
	ledger_count(t, COUNT_CROSSINGS, events);
	assert_int_equal(ledger_commit(t), 0);
}

/* One sweep step committed (or aborted when nothing was due). */
static void
sweep(struct fx *f, uint64_t now, size_t max, struct retention_step *st)
{
	struct ledger_txn *t = NULL;

	assert_int_equal(ledger_begin(f->l, &t), 0);
	assert_int_equal(retention_sweep(&f->dc, t, now, max, st), 0);
	if (st->subjects == 0 && st->seen_total == 0)
		ledger_abort(t);
	else
		assert_int_equal(ledger_commit(t), 0);
}

static void
due(struct fx *f, uint64_t now, struct retention_due *d)
{
	struct vault_txn *t = NULL;

	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(retention_due(t, f->kr, f->pol, now, d), 0);
	vault_abort(t);
}

static int
opens(struct fx *f, const uint8_t id[16])
{
	struct vault_txn *t = NULL;
	uint8_t *rec = NULL;
	size_t len = 0;
	int r;

	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	r = vault_subject_get(t, id, &rec, &len);
	vault_free_record(rec, len);
	vault_abort(t);
	return r;
}

/* An epoch is due only once the hub's day is past it: never early, at most a day late. */
static void
test_due_on_the_day_after(void **state)
{
	struct fx *f = *state;
	struct retention_due d;
	struct retention_step st;
	uint8_t id[16];
	uint64_t before;

	enrol(f, 100, 1, "TVR-1", 0, id);
	due(f, 100 * DAY + DAY - 1, &d);
	assert_int_equal(d.subjects, 0);
	before = ledger_size(f->l);
	sweep(f, 100 * DAY + DAY - 1, 0, &st);
	assert_int_equal(st.subjects, 0);
	assert_int_equal(ledger_size(f->l), before); /* no entry for an empty sweep */
	retention_step_clear(&st);
	assert_int_equal(opens(f, id), 0);
	due(f, 101 * DAY, &d);
	assert_int_equal(d.subjects, 1);
	assert_int_equal(d.epochs, 1);
	assert_int_equal(d.keys, 1);
	sweep(f, 101 * DAY, 0, &st);
	assert_int_equal(st.subjects, 1);
	assert_int_equal(ledger_size(f->l), before + 1);
	retention_step_clear(&st);
	assert_int_equal(opens(f, id), PASO_E_NOT_FOUND);
}

/* Bounded steps, counters and events, and keys destroyed only for emptied days. */
static void
test_bounded_steps_and_shredding(void **state)
{
	struct fx *f = *state;
	struct retention_step st;
	struct retention_due d;
	uint8_t ids[10][16];
	char card[32];
	size_t shredded = 0;
	uint32_t first = 0, last = 0, gen;
	uint64_t events;
	int i, n;

	for (i = 0; i < 10; i++) {
		(void)snprintf(card, sizeof(card), "TVR-%d", i);
		/* five in day 100, three in day 101, two in day 200 */
		enrol(f, i < 5 ? 100 : i < 8 ? 101 : 200, 1 + i % 4, card, i == 6 ? 3 : 0, ids[i]);
	}
	assert_int_equal(ledger_counter(f->l, COUNT_SUBJECTS), 10);
	assert_int_equal(ledger_counter(f->l, COUNT_CROSSINGS), 3);
	sweep(f, 102 * DAY, 6, &st);
	assert_int_equal(st.subjects, 6);
	assert_true(st.more);
	assert_int_equal(st.epochs, 2);
	assert_int_equal(st.first_epoch, 100);
	assert_int_equal(st.last_epoch, 101);
	events = st.events;
	retention_step_clear(&st);
	/* Day 100 is empty now, day 101 still holds two: only day 100's key goes. */
	assert_int_equal(retention_shred(f->v, f->kr, f->pol, 102 * DAY, &shredded, &first, &last), 0);
	assert_int_equal(shredded, 1);
	assert_int_equal(first, 100);
	assert_int_equal(keyring_epoch_current(f->kr, 100, &gen), PASO_E_NOT_FOUND);
	assert_int_equal(keyring_epoch_current(f->kr, 101, &gen), 0);
	/* Which one of day 101 went first depends on the (random) ids: two still open. */
	for (i = 5, n = 0; i < 8; i++)
		n += opens(f, ids[i]) == 0;
	assert_int_equal(n, 2);
	sweep(f, 102 * DAY, 6, &st);
	assert_int_equal(st.subjects, 2);
	assert_false(st.more);
	assert_int_equal(events + st.events, 3);
	retention_step_clear(&st);
	assert_int_equal(retention_shred(f->v, f->kr, f->pol, 102 * DAY, &shredded, &first, &last), 0);
	assert_int_equal(shredded, 1);
	assert_int_equal(first, 101);
	/* Idempotent: a second run finds nothing to destroy. */
	assert_int_equal(retention_shred(f->v, f->kr, f->pol, 102 * DAY, &shredded, &first, &last), 0);
	assert_int_equal(shredded, 0);
	/* Counters follow: two subjects (categories 1 and 2 of i = 8, 9), no crossings. */
	assert_int_equal(ledger_counter(f->l, COUNT_SUBJECTS), 2);
	assert_int_equal(ledger_counter(f->l, COUNT_CROSSINGS), 0);
	assert_int_equal(ledger_counter(f->l, COUNT_WITH_FINGER), 2);
	assert_int_equal(ledger_counter(f->l, COUNT_CAT_REGIONAL_VISITOR), 1);
	assert_int_equal(ledger_counter(f->l, COUNT_CAT_BORDER_WORKER), 1);
	assert_int_equal(ledger_counter(f->l, COUNT_CAT_DETAINEE), 0);
	assert_int_equal(opens(f, ids[8]), 0);
	assert_int_equal(keyring_epoch_current(f->kr, 200, &gen), 0);
	due(f, 102 * DAY, &d);
	assert_int_equal(d.subjects, 0);
	assert_int_equal(d.keys, 0);
}

/* The DELETE entry says what, how many, which days, under which rule, and nothing personal. */
static void
test_delete_entry(void **state)
{
	struct fx *f = *state;
	struct retention_step st;
	Paso__AuditEntry *e = NULL;
	uint8_t id[16], *raw = NULL;
	size_t len = 0;

	enrol(f, 20819, 3, "TVR-SECRET-CARD", 2, id);
	sweep(f, 20900 * DAY, 0, &st);
	assert_int_equal(auditlog_entry(ledger_auditlog(f->l), st.audit_index, &raw, &len), 0);
	assert_non_null(e = paso__audit_entry__unpack(NULL, len, raw));
	assert_int_equal(e->action, PASO__ACTION__DELETE);
	assert_string_equal(e->policy_rule, "retention_days.enrolment");
	assert_string_equal(e->purpose, "retention");
	assert_int_equal(e->time, 20900 * DAY);
	assert_int_equal(e->subject.len, 0);
	assert_non_null(strstr(e->detail, "erased 1 enrolments"));
	assert_non_null(strstr(e->detail, "the 2 crossings sealed with them"));
	assert_non_null(strstr(e->detail, "2027-01-01..2027-01-01"));
	assert_null(memmem(raw, len, "TVR-SECRET-CARD", 15));
	paso__audit_entry__free_unpacked(e, NULL);
	free(raw);
	retention_step_clear(&st);
}

/* A record that no longer opens is erased anyway: retention never stalls on it. */
static void
test_unreadable_is_still_erased(void **state)
{
	struct fx *f = *state;
	struct retention_step st;
	Paso__AuditEntry *e = NULL;
	uint8_t id[16], *raw = NULL;
	size_t len = 0;

	enrol(f, 300, 1, "TVR-LOST", 1, id);
	assert_int_equal(keyring_shred_epoch(f->kr, 300, KEYRING_SHRED_ALL, NULL), 0);
	assert_int_equal(opens(f, id), PASO_E_KEY_NOT_FOUND);
	sweep(f, 301 * DAY, 0, &st);
	assert_int_equal(st.subjects, 1);
	assert_int_equal(st.events, 1);
	assert_int_equal(opens(f, id), PASO_E_NOT_FOUND);
	assert_int_equal(ledger_counter(f->l, COUNT_SUBJECTS), 0);
	assert_int_equal(auditlog_entry(ledger_auditlog(f->l), st.audit_index, &raw, &len), 0);
	assert_non_null(e = paso__audit_entry__unpack(NULL, len, raw));
	assert_non_null(strstr(e->detail, "1 of them could not be opened"));
	paso__audit_entry__free_unpacked(e, NULL);
	free(raw);
	retention_step_clear(&st);
}

/* The resend memory expires with the retention of its kind, in bounded steps. */
static void
test_seen_rows_expire(void **state)
{
	struct fx *f = *state;
	struct retention_step st;
	struct retention_due d;
	uint8_t dg[32] = {0}, *reply = NULL;
	size_t len = 0;
	uint64_t before;
	struct vault_txn *vt;
	struct ledger_txn *t = NULL;

	assert_int_equal(ledger_begin(f->l, &t), 0);
	vt = ledger_store(t);
	assert_int_equal(vault_seen_put_until(vt, "k", 1, dg, (const uint8_t *)"A", 1, 100,
				 POLICY_REC_ENROLMENT),
		0);
	assert_int_equal(vault_seen_put_until(
				 vt, "k", 2, dg, (const uint8_t *)"B", 1, 100, POLICY_REC_CROSSING),
		0);
	assert_int_equal(vault_seen_put_until(
				 vt, "k", 3, dg, (const uint8_t *)"C", 1, 100, POLICY_REC_CROSSING),
		0);
	assert_int_equal(vault_seen_put_until(vt, "k", 4, dg, (const uint8_t *)"D", 1, 150,
				 POLICY_REC_IDENTIFICATION),
		0);
	assert_int_equal(ledger_commit(t), 0);
	due(f, 100 * DAY + DAY - 1, &d);
	assert_int_equal(d.seen[POLICY_REC_CROSSING], 0);
	due(f, 101 * DAY, &d);
	assert_int_equal(d.seen[POLICY_REC_ENROLMENT], 1);
	assert_int_equal(d.seen[POLICY_REC_CROSSING], 2);
	assert_int_equal(d.seen[POLICY_REC_IDENTIFICATION], 0);
	before = ledger_size(f->l);
	sweep(f, 101 * DAY, 2, &st);
	assert_int_equal(st.seen_total, 2);
	assert_true(st.more);
	retention_step_clear(&st);
	sweep(f, 101 * DAY, 2, &st);
	assert_int_equal(st.seen_total, 1);
	assert_false(st.more);
	retention_step_clear(&st);
	/* One entry per kind per step: enrolment + crossing, then crossing. */
	assert_int_equal(ledger_size(f->l), before + 3);
	assert_int_equal(vault_begin(f->v, 1, &vt), 0);
	assert_int_equal(vault_seen_get(vt, "k", 2, dg, &reply, &len), PASO_E_NOT_FOUND);
	assert_int_equal(vault_seen_get(vt, "k", 4, dg, &reply, &len), 0);
	free(reply);
	vault_abort(vt);
}

struct years {
	unsigned year[8];
	uint64_t n[8];
	size_t count;
};

static int
year_cb(void *arg, unsigned year, uint64_t n)
{
	struct years *y = arg;

	y->year[y->count] = year;
	y->n[y->count++] = n;
	return 0;
}

static void
test_by_year(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	struct years y = {0};
	uint8_t id[16];

	enrol(f, 20819, 1, "A", 0, id); /* 2027-01-01 */
	enrol(f, 21183, 1, "B", 0, id); /* 2027-12-31 */
	enrol(f, 21184, 1, "C", 0, id); /* 2028-01-01 */
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(retention_by_year(t, f->pol, year_cb, &y), 0);
	vault_abort(t);
	assert_int_equal(y.count, 2);
	assert_int_equal(y.year[0], 2027);
	assert_int_equal(y.n[0], 2);
	assert_int_equal(y.year[1], 2028);
	assert_int_equal(y.n[1], 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_due_on_the_day_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_steps_and_shredding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_is_still_erased, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen_rows_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_by_year, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
