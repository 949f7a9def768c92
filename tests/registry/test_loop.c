/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for how registry/loop.c makes up a group (loop_compose_group): crossings go ahead of
 * queued enrolments, enrolment groups stay small while crossings arrive, no message passes an
 * earlier one from its own kiosk connection, nothing passes a task, tasks that allow it share
 * a group, and enrolments still move under a steady stream of crossings; crossings queued
 * while an enrolment group is decided join it (loop_compose_late).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "loop.h"

#define MAXQ 64

/* A queue of items made from a pattern: 'E' enrolment, 'C' crossing, 'T' task, 'Q' a task that
 * may share its transaction (task_group: a partner's query); conns[i] is
 * item i's connection (its submitter). */
struct q {
	struct loop_item it[MAXQ];
	struct loop_item *head, *tail;
	int conn_id[8];
	size_t n;
};

static int
task_fn(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap)
{
	(void)arg, (void)t, (void)now, (void)out, (void)cap;
	return 0;
}

static void
q_make(struct q *q, const char *pattern, const char *conns)
{
	size_t i;

	memset(q, 0, sizeof(*q));
	for (i = 0; pattern[i] != '\0'; i++) {
		struct loop_item *it = &q->it[i];

		it->msg.heavy = pattern[i] == 'E';
		it->task = pattern[i] == 'T' || pattern[i] == 'Q' ? task_fn : NULL;
		it->task_group = pattern[i] == 'Q';
		it->msg.seq = i; /* to name it in checks */
		it->wake_arg = &q->conn_id[conns[i] - '0'];
		if (i > 0)
			q->it[i - 1].next = it;
	}
	q->n = i;
	q->head = i > 0 ? &q->it[0] : NULL;
	q->tail = i > 0 ? &q->it[i - 1] : NULL;
}

/* The seqs of a list as a string of indices ("0 2 5"), for comparing. */
static void
seqs(const struct loop_item *l, char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	for (; l != NULL && o + 4 < cap; l = l->next)
		o += (size_t)snprintf(
			buf + o, cap - o, "%s%llu", o ? " " : "", (unsigned long long)l->msg.seq);
}

/* Checks a group taken from q, what stays queued, and that the tail is the last one left. */
static void
check_taken(const struct q *q, const struct loop_item *g, const char *group, const char *left)
{
	const struct loop_item *last = NULL, *it;
	char buf[256];

	seqs(g, buf, sizeof(buf));
	assert_string_equal(buf, group);
	seqs(q->head, buf, sizeof(buf));
	assert_string_equal(buf, left);
	for (it = q->head; it != NULL; it = it->next)
		last = it;
	assert_ptr_equal(q->tail, last);
}

/* Takes a group and checks it and what stays queued (and the tail). */
static void
take_expect(struct loop_compose *c, struct q *q, double now, const char *group, const char *left)
{
	check_taken(q, loop_compose_group(c, &q->head, &q->tail, now), group, left);
}

static struct loop_compose
compose(unsigned batch_max, unsigned heavy_max)
{
	struct loop_compose c = {batch_max, heavy_max, 0, -1e9};

	return c;
}

/* Crossings queued behind enrolments (other connections) are taken first, alone; the next
 * group takes enrolments, at most heavy_max of them while crossings are arriving. */
static void
test_crossings_go_first(void **state)
{
	struct loop_compose c = compose(512, 2);
	struct q q;

	(void)state;
	q_make(&q, "EEEEECEC", "01234567");
	take_expect(&c, &q, 10.0, "5 7", "0 1 2 3 4 6");
	/* crossings were just taken: enrolments in a small group */
	take_expect(&c, &q, 10.001, "0 1", "2 3 4 6");
	take_expect(&c, &q, 10.002, "2 3", "4 6");
	take_expect(&c, &q, 10.003, "4 6", "");
	assert_null(loop_compose_group(&c, &q.head, &q.tail, 10.004));
	assert_null(q.tail);
}

/* Without crossings lately, enrolments go in one group (up to batch_max), as before. */
static void
test_enrolments_alone_in_large_groups(void **state)
{
	struct loop_compose c = compose(6, 2);
	struct q q;

	(void)state;
	q_make(&q, "EEEEEEEE", "01230123");
	take_expect(&c, &q, 5.0, "0 1 2 3 4 5", "6 7");
	take_expect(&c, &q, 5.001, "6 7", "");
	/* a crossing 0.1 s ago no longer counts as arriving */
	q_make(&q, "C", "0");
	take_expect(&c, &q, 6.0, "0", "");
	q_make(&q, "EEEE", "0123");
	take_expect(&c, &q, 6.0 + LOOP_LIGHT_RECENT_S / 2, "0 1", "2 3");
	q_make(&q, "EEEE", "0123");
	take_expect(&c, &q, 6.0 + 2 * LOOP_LIGHT_RECENT_S, "0 1 2 3", "");
}

/* A kiosk's crossing sent after its own enrolment (say, of the same person) is never decided
 * before it: it waits with it, and its connection's later messages too. */
static void
test_own_connection_order_kept(void **state)
{
	struct loop_compose c = compose(512, 1);
	struct q q;

	(void)state;
	/* conn 0: E C C; conn 1: C; conn 2: E E C */
	q_make(&q, "ECCCEEC", "0001222");
	take_expect(&c, &q, 1.0, "3", "0 1 2 4 5 6");
	/* one enrolment (heavy_max 1) with what is not behind a waiting enrolment */
	take_expect(&c, &q, 1.001, "0 1 2", "4 5 6");
	take_expect(&c, &q, 1.002, "4", "5 6");
	take_expect(&c, &q, 1.003, "5 6", "");
}

/* Nothing passes a task, and a task runs alone. */
static void
test_tasks_keep_their_place(void **state)
{
	struct loop_compose c = compose(512, 4);
	struct q q;

	(void)state;
	q_make(&q, "ETCC", "0123");
	take_expect(&c, &q, 1.0, "0", "1 2 3");
	take_expect(&c, &q, 1.001, "1", "2 3");
	take_expect(&c, &q, 1.002, "2 3", "");
	q_make(&q, "CTE", "012");
	take_expect(&c, &q, 2.0, "0", "1 2");
}

/* Tasks that allow it (partners' queries) share a group with those queued right after them, up
 * to batch_max; a task that does not, and any message, ends the group. */
static void
test_grouped_tasks_share_a_group(void **state)
{
	struct loop_compose c = compose(3, 4);
	struct q q;

	(void)state;
	q_make(&q, "QQTQQQQCQ", "012345678");
	take_expect(&c, &q, 1.0, "0 1", "2 3 4 5 6 7 8");
	take_expect(&c, &q, 1.001, "2", "3 4 5 6 7 8");
	take_expect(&c, &q, 1.002, "3 4 5", "6 7 8");
	take_expect(&c, &q, 1.003, "6", "7 8");
	take_expect(&c, &q, 1.004, "7", "8");
	take_expect(&c, &q, 1.005, "8", "");
	/* a task that does not allow it stays alone even before ones that do */
	q_make(&q, "TQQ", "012");
	take_expect(&c, &q, 2.0, "0", "1 2");
	take_expect(&c, &q, 2.001, "1 2", "");
}

/* Under a steady stream of crossings, every other group still takes enrolments. */
static void
test_enrolments_move_under_crossings(void **state)
{
	struct loop_compose c = compose(512, 2);
	struct loop_item *g, *it;
	struct q q;
	unsigned round, enrolled = 0;

	(void)state;
	q_make(&q, "EEEEEEEEEE", "0123456701");
	for (round = 0; round < 10 && q.head != NULL; round++) {
		/* a crossing arrives before every group */
		struct loop_item *cr = calloc(1, sizeof(*cr));

		assert_non_null(cr);
		cr->wake_arg = &q.conn_id[7];
		cr->msg.seq = 100 + round;
		if (q.tail != NULL)
			q.tail->next = cr;
		else
			q.head = cr;
		q.tail = cr;
		g = loop_compose_group(&c, &q.head, &q.tail, 1.0 + round * 0.001);
		assert_non_null(g);
		for (it = g; it != NULL; it = it->next)
			enrolled += (unsigned)it->msg.heavy;
		for (it = g; it != NULL;) {
			struct loop_item *next = it->next;

			if (!it->msg.heavy)
				free(it);
			it = next;
		}
	}
	/* groups alternate: crossings alone, then two enrolments with the crossing */
	assert_int_equal(enrolled, 10);
	assert_true(round <= 10);
	while (q.head != NULL) {
		it = q.head;
		q.head = it->next;
		if (!it->msg.heavy)
			free(it);
	}
}

/* Takes what a deciding enrolment group adds before it commits, and checks what stays. */
static void
late_expect(struct loop_compose *c, struct q *q, unsigned max, const char *group, const char *left)
{
	check_taken(q, loop_compose_late(c, &q->head, &q->tail, max, 2.0), group, left);
}

/* Crossings queued while an enrolment group was decided join it: never an enrolment, never
 * past a task or an earlier message of their own connection that stays queued, at most max. */
static void
test_crossings_join_a_deciding_group(void **state)
{
	struct loop_compose c = compose(512, 2);
	struct q q;

	(void)state;
	/* conn 2: E C (its crossing waits with its enrolment); a task holds what follows it */
	q_make(&q, "CECCTC", "022304");
	late_expect(&c, &q, 8, "0 3", "1 2 4 5");
	assert_true(c.light_at == 2.0);
	q_make(&q, "CCCE", "0123");
	late_expect(&c, &q, 2, "0 1", "2 3");
	late_expect(&c, &q, 2, "2", "3");
	late_expect(&c, &q, 2, "", "3");
	q_make(&q, "CC", "01");
	late_expect(&c, &q, 8, "0 1", "");
	assert_null(q.tail);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crossings_go_first),
		cmocka_unit_test(test_enrolments_alone_in_large_groups),
		cmocka_unit_test(test_own_connection_order_kept),
		cmocka_unit_test(test_tasks_keep_their_place),
		cmocka_unit_test(test_grouped_tasks_share_a_group),
		cmocka_unit_test(test_enrolments_move_under_crossings),
		cmocka_unit_test(test_crossings_join_a_deciding_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
