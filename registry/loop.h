/* SPDX-License-Identifier: Apache-2.0 */
/* The commit loop: messages decided in groups, made durable through the ledger, then answered. */
#ifndef PASO_LOOP_H
#define PASO_LOOP_H

#include <stdint.h>

#include "checkpoint.h"
#include "clock.h"
#include "decide.h"
#include "hublog.h"
#include "ledger.h"

/*
 * One thread runs the loop: it takes up to batch_max queued messages (how: below), decides
 * each in one ledger transaction at one instant of the hub's clock, commits (audit entries
 * fsync'd, then the store), and only then releases the answers. Between groups, on every
 * iteration, it runs its timers (checkpoints, the kiosk-certificate scan, and whatever the hub
 * registers) and tasks queued by other threads (control commands), each in its own transaction,
 * or queued tasks that allow it (task_group) together in one.
 */
struct loop;

/* A unit of work for the loop. Owned by the submitter until the loop marks it done. */
struct loop_item {
	/* A kiosk message (task == NULL) ... */
	struct decide_msg msg;
	/* ... or a task run alone in its own transaction at the hub's time; its return value
	 * lands in task_rc. It may leave text for the requester in task_out. */
	int (*task)(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap);
	void *task_arg;
	int task_rc;
	char task_out[512];
	/* Runs on the loop's thread after the task's transaction committed (may be NULL). */
	void (*after_commit)(void *arg);
	/*
	 * Non-zero: the task may share one transaction (one durable commit) with the tasks queued
	 * right after it that set this too, up to batch_max (partners' queries from many links
	 * otherwise wait for a commit each, one after the other). Such a task must return non-zero
	 * only when its transaction cannot go on (a storage error): the group is then rolled back
	 * and each of its tasks run again alone, as if it had never been grouped.
	 */
	int task_group;
	/* Completion: done is set and wake(wake_arg) called with the loop's lock held; items of
	 * one group sharing (wake, wake_arg) are all done before the lock is released and may
	 * share one call. */
	void (*wake)(void *wake_arg);
	void *wake_arg;
	int done;
	struct loop_item *next;
};

struct loop_config {
	struct ledger *ledger;                  /* borrowed */
	struct decide_ctx *dc;                  /* borrowed */
	struct paso_clock *clock;               /* borrowed */
	const struct checkpoint_signer *signer; /* borrowed */
	const struct hublog *log;               /* borrowed */
	unsigned batch_max;                     /* most messages in one group; 0 = 512 */
	unsigned heavy_max; /* most enrolments (msg.heavy) in one group; 0 = LOOP_HEAVY_MAX */
};

/*
 * How a group is made up. An enrolment's commit writes a subject with its sealed templates;
 * a group of many of them took several times a crossing's own commit, and every crossing that
 * arrived meanwhile waited for all of it, then shared the next such group. So: when other
 * messages (crossings) are queued, the next group takes them alone, ahead of the queued
 * enrolments; the group after it takes up to heavy_max enrolments with whatever else is queued,
 * so enrolments still move under a stream of crossings. A message never passes an earlier one
 * from the same submitter (a kiosk's connection), and nothing passes a task.
 */
#define LOOP_HEAVY_MAX 16
#define LOOP_LIGHT_RECENT_S 0.1 /* other messages this recent: enrolment groups stay small */

/* What the loop keeps between groups to make them up (loop_compose_group). */
struct loop_compose {
	unsigned batch_max, heavy_max; /* as in loop_config, 0 not allowed */
	int heavy_owed;  /* the last group passed queued enrolments over: the next takes some */
	double light_at; /* when a group last took a message other than an enrolment (s) */
};

/*
 * Takes the next group off the queue *head..*tail (items linked by next) at time now (any
 * monotonic seconds), as described above: a task alone if one is first (with the tasks queued
 * right after it when all allow it, task_group, up to batch_max); else, when other
 * messages than enrolments are queued and the last group did not pass enrolments over, those
 * messages alone; else messages in queue order with at most heavy_max enrolments if another
 * message was taken in the last LOOP_LIGHT_RECENT_S, batch_max otherwise. Items left keep their
 * order; the group is in queue order. The submitter of an item is its wake_arg. The loop calls it
 * under its lock; exposed for tests.
 */
struct loop_item *loop_compose_group(
	struct loop_compose *c, struct loop_item **head, struct loop_item **tail, double now);

/*
 * What a group that holds enrolments takes, once they are decided and before it commits: the
 * messages other than enrolments queued meanwhile (crossings), up to max, in queue order, none
 * behind a task or behind an item from its own submitter that stays queued. They share the
 * group's commit instead of waiting for it and then for one of their own. Same queue contract
 * as loop_compose_group; exposed for tests.
 */
struct loop_item *loop_compose_late(struct loop_compose *c, struct loop_item **head,
	struct loop_item **tail, unsigned max, double now);

/* Caller owns *out (loop_free). Returns 0 or PASO_E_NOMEM. */
int loop_new(const struct loop_config *cfg, struct loop **out);
void loop_free(struct loop *l);

/* Queues it for the loop (any thread). */
void loop_submit(struct loop *l, struct loop_item *it);

/* Whether it is done (any thread; takes the loop's lock). */
int loop_item_done(struct loop *l, struct loop_item *it);

/*
 * Registers a timer: fn(arg) runs on the loop's thread every interval_s seconds, under load or
 * not. It writes through its own ledger transactions. A return > 0 means it has more to do in
 * bounded steps (a retention sweep): it runs again on the next iteration, after at most one
 * group of messages, and the loop does not sleep meanwhile. Returns 0 or PASO_E_NOMEM.
 */
int loop_add_timer(struct loop *l, double interval_s, int (*fn)(void *arg), void *arg);

/*
 * Makes every timer due now: they run at the end of the current iteration (loop thread only;
 * e.g. after a simulated clock moved, so what the move made due is swept at once, not up to a
 * second later).
 */
void loop_timers_due(struct loop *l);

/*
 * One iteration: waits at most wait_ms for work, commits one group or runs one task, then
 * runs the timers that are due and signs a checkpoint when a second has passed, or when idle
 * and 100 ms have (a checkpoint owed then shortens the wait to when it is due).
 * Returns 1 if the queue was empty at the end, else 0.
 */
int loop_step(struct loop *l, int wait_ms);

/*
 * Whether rc means the storage is full (PASO_E_STORE_FULL, PASO_E_MAP_FULL). If so, a
 * full-storage episode starts (logged once by the loop) unless one is on, and the caller logs
 * nothing itself; returns 1. Otherwise returns 0. For timers that write (loop thread only).
 * During an episode the loop answers kiosk messages with PASO_E_STORE_FULL, tries a real
 * commit once per backoff (50 ms doubling to 1 s) and logs once when a commit succeeds again.
 */
int loop_storage_full(struct loop *l, int rc);

/*
 * NULL, or why nothing more may be written (ledger_fatal: the audit log could not be cut back
 * after a failed write). The loop logs it once; the hub should stop.
 */
const char *loop_fatal(const struct loop *l);

/* Statistics for the stop line. */
uint64_t loop_groups(const struct loop *l);

/* Signs a checkpoint now (when anything is new). Returns ledger_checkpoint's errors. */
int loop_checkpoint(struct loop *l);

#endif
