/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for registry/decide.c: a crossing's subject is looked up and verified by decide_prepare,
 * off the commit loop; decide_message keeps that only if its own transaction finds the same
 * subject, and decides again otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "capture.h"
#include "decide.h"
#include "deploy.h"
#include "frame.h"
#include "keyring.h"
#include "kiosk.h"
#include "ledger.h"
#include "policy.h"
#include "population.h"
#include "sample_pb.h"

struct fx {
	char root[64], hub[96];
	struct keyring *kr;
	struct vault *v;
	struct policy *pol;
	struct ledger *l;
	struct gallery *g, *recent;
	struct decide_ctx dc;
	struct population *pop;
	uint64_t seq, now;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct paso_diag d = {0};
	struct deploy_paths p;
	uint64_t rec;

	if (f == NULL)
		return -1;
	(void)snprintf(f->root, sizeof(f->root), "/tmp/paso-decide-XXXXXX");
	if (mkdtemp(f->root) == NULL)
		return -1;
	(void)snprintf(f->hub, sizeof(f->hub), "%s/hub", f->root);
	if (deploy_init(f->hub, "test", NULL, &d) != 0 || deploy_paths(f->hub, &p, &d) != 0 ||
		keyring_open(p.keys, &f->kr, &d) != 0 ||
		vault_open(f->hub, f->kr, &f->v, &d) != 0 ||
		policy_load_file(p.policy, &f->pol, &d) != 0 ||
		ledger_open(p.audit, f->v, decide_count_keys, COUNT_N, &rec, &f->l, &d) != 0 ||
		gallery_new(1, &f->g) != 0 || gallery_new(1, &f->recent) != 0 ||
		population_new(11, 10, &f->pop) != 0) {
		fprintf(stderr, "setup: %s\n", d.msg);
		return -1;
	}
	f->dc.policy = f->pol;
	f->dc.gallery = f->g;
	f->dc.recent = f->recent;
	f->dc.vault = f->v;
	f->now = (uint64_t)time(NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	population_free(f->pop);
	gallery_free(f->g);
	gallery_free(f->recent);
	ledger_close(f->l);
	policy_free(f->pol);
	vault_close(f->v);
	keyring_close(f->kr);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A framed Enroll (person's capture 0) or Crossing (capture n) presenting card. */
static void
frame_of(struct fx *f, uint32_t person, uint32_t capture_no, const char *card, uint8_t **buf,
	size_t *len)
{
	struct person_info pi;
	struct bio_sample s;
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Enroll en = PASO__ENROLL__INIT;
	Paso__Crossing cr = PASO__CROSSING__INIT;
	Paso__Capture cap = PASO__CAPTURE__INIT;

	memset(&s, 0, sizeof(s));
	assert_int_equal(population_person(f->pop, person, &pi), 0);
	assert_int_equal(capture_take(f->pop, person, capture_no, PRESET_GOOD, &s), 0);
	if (capture_no > 0)
		assert_int_equal(kiosk_two_fingers(&s), 0);
	assert_int_equal(sample_to_pb(&s, &cap), 0);
	cap.capture_time = f->now;
	env.kiosk_id = "k1";
	env.seq = ++f->seq;
	if (capture_no == 0) {
		en.capture = &cap;
		en.category = pi.category;
		en.card_number = (char *)(card != NULL ? card : pi.card);
		en.crossing_point = "Ciudad Hidalgo";
		env.body_case = PASO__ENVELOPE__BODY_ENROLL;
		env.enroll = &en;
	} else {
		cr.capture = &cap;
		cr.card_number = (char *)(card != NULL ? card : pi.card);
		cr.direction = PASO__DIRECTION__ENTRY;
		cr.crossing_point = "Ciudad Hidalgo";
		env.body_case = PASO__ENVELOPE__BODY_CROSSING;
		env.crossing = &cr;
	}
	assert_int_equal(frame_encode(&env, FRAME_DEFAULT_MAX, buf, len), 0);
	sample_pb_release(&cap);
	bio_sample_clear(&s);
}

static void
prepare(struct fx *f, const uint8_t *buf, size_t len, struct decide_msg *m)
{
	assert_int_equal(decide_prepare(&f->dc, "k1", buf + FRAME_HEADER_BYTES,
				 len - FRAME_HEADER_BYTES, NULL, m),
		0);
}

/* Decides a prepared message in a transaction of its own; returns its decoded reply. */
static Paso__Envelope *
decide(struct fx *f, struct decide_msg *m)
{
	struct ledger_txn *t = NULL;
	struct decide_undo undo = {0};
	struct paso_diag d = {0};
	Paso__Envelope *env = NULL;

	assert_int_equal(ledger_begin(f->l, &t), 0);
	assert_int_equal(decide_message(&f->dc, t, f->now, m, &undo), 0);
	assert_int_equal(ledger_commit(t), 0);
	decide_undo(&f->dc, &undo, 0);
	assert_int_equal(frame_decode(m->reply + FRAME_HEADER_BYTES,
				 m->reply_len - FRAME_HEADER_BYTES, &env, &d),
		0);
	decide_msg_clear(m);
	return env;
}

/* Enrols person under card (NULL: the person's own); *pseud gets the subject's pseudonym. */
static void
enrol(struct fx *f, uint32_t person, const char *card, uint8_t pseud[32])
{
	struct decide_msg m;
	Paso__Envelope *env;
	uint8_t *buf = NULL;
	size_t len = 0;

	frame_of(f, person, 0, card, &buf, &len);
	prepare(f, buf, len, &m);
	env = decide(f, &m);
	assert_int_equal(env->body_case, PASO__ENVELOPE__BODY_ACK);
	assert_int_equal(env->ack->subject.len, 32);
	memcpy(pseud, env->ack->subject.data, 32);
	frame_free(env);
	free(buf);
}

static void
card_id(struct fx *f, const char *card, uint8_t id[VAULT_ID_BYTES])
{
	struct vault_txn *t = NULL;

	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_card_lookup(t, card, id), 0);
	vault_abort(t);
}

/* Counts a subject's crossing records that open and decode, checking they are numbered 1, 2... */
static int
count_crossing(void *arg, uint64_t no, const uint8_t *ev, size_t len)
{
	uint64_t *n = arg;
	Paso__CrossingEvent *ce = paso__crossing_event__unpack(NULL, len, ev);

	assert_non_null(ce);
	assert_string_equal(ce->crossing_point, "Ciudad Hidalgo");
	paso__crossing_event__free_unpacked(ce, NULL);
	assert_int_equal(no, ++*n);
	return 0;
}

static uint64_t
crossings_of(struct fx *f, const uint8_t id[VAULT_ID_BYTES])
{
	struct vault_txn *t = NULL;
	uint64_t n = 0;

	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_event_foreach(t, id, count_crossing, &n), 0);
	vault_abort(t);
	return n;
}

/* The common case: prepared off the loop, the same subject found in the loop's transaction. */
static void
test_prepared_crossing_matches_and_is_kept(void **state)
{
	struct fx *f = *state;
	struct person_info pi;
	struct decide_msg m;
	Paso__Envelope *env;
	uint8_t pseud[32], id[VAULT_ID_BYTES], *buf = NULL;
	size_t len = 0;
	int i;

	assert_int_equal(population_person(f->pop, 1, &pi), 0);
	enrol(f, 1, NULL, pseud);
	card_id(f, pi.card, id);
	for (i = 1; i <= 2; i++) {
		frame_of(f, 1, (uint32_t)i, NULL, &buf, &len);
		prepare(f, buf, len, &m);
		assert_true(m.xprep && m.xverified); /* found and verified before the loop */
		env = decide(f, &m);
		assert_int_equal(env->body_case, PASO__ENVELOPE__BODY_ACK);
		assert_int_equal(env->ack->match->decision, PASO__DECISION__MATCH);
		assert_memory_equal(env->ack->subject.data, pseud, 32);
		frame_free(env);
		free(buf);
	}
	/* both kept as the subject's crossings, numbered in order under its reference */
	assert_int_equal(crossings_of(f, id), 2);
}

/*
 * Between prepare and decision the subject is erased and its card enrolled again by someone
 * else: the decision is made against the subject the card names now, never the one prepared.
 */
static void
test_prepared_for_erased_subject_is_decided_again(void **state)
{
	struct fx *f = *state;
	struct person_info pi;
	struct ledger_txn *t = NULL;
	struct decide_msg m;
	Paso__Envelope *env;
	uint8_t old[32], now[32], id[VAULT_ID_BYTES], id2[VAULT_ID_BYTES], *buf = NULL;
	size_t len = 0;

	assert_int_equal(population_person(f->pop, 2, &pi), 0);
	enrol(f, 2, NULL, old);
	card_id(f, pi.card, id);
	frame_of(f, 2, 1, NULL, &buf, &len);
	prepare(f, buf, len, &m);
	assert_true(m.xprep && m.xverified && m.xverify == 1);

	assert_int_equal(ledger_begin(f->l, &t), 0);
	assert_int_equal(vault_subject_erase(ledger_store(t), id, NULL), 0);
	assert_int_equal(ledger_commit(t), 0);
	(void)gallery_remove(f->recent, id);
	(void)gallery_remove(f->g, id);
	enrol(f, 3, pi.card, now); /* another person, the same card */
	card_id(f, pi.card, id2);
	assert_memory_not_equal(id, id2, VAULT_ID_BYTES);

	env = decide(f, &m);
	assert_int_equal(env->body_case, PASO__ENVELOPE__BODY_ACK);
	assert_memory_equal(env->ack->subject.data, now, 32);
	assert_memory_not_equal(env->ack->subject.data, old, 32);
	assert_int_equal(env->ack->match->decision, PASO__DECISION__NO_MATCH);
	assert_int_equal(crossings_of(f, id2), 1);
	frame_free(env);
	free(buf);
}

/* A crossing whose card is enrolled only after it was prepared is found by the loop. */
static void
test_enrolled_after_prepare(void **state)
{
	struct fx *f = *state;
	struct person_info pi;
	struct decide_msg m;
	Paso__Envelope *env;
	uint8_t pseud[32], *buf = NULL;
	size_t len = 0;

	assert_int_equal(population_person(f->pop, 4, &pi), 0);
	frame_of(f, 4, 1, NULL, &buf, &len);
	prepare(f, buf, len, &m);
	assert_false(m.xprep);
	enrol(f, 4, NULL, pseud);
	env = decide(f, &m);
	assert_int_equal(env->body_case, PASO__ENVELOPE__BODY_ACK);
	assert_int_equal(env->ack->match->decision, PASO__DECISION__MATCH);
	assert_memory_equal(env->ack->subject.data, pseud, 32);
	frame_free(env);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_prepared_crossing_matches_and_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_prepared_for_erased_subject_is_decided_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enrolled_after_prepare, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
