/* SPDX-License-Identifier: Apache-2.0 */
/* The commit loop: durability first, in groups, then the answers; timers on every iteration. */
#include "loop.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOOP_MAX_TIMERS 16
#define FULL_BACKOFF_MIN_MS 50u
#define FULL_BACKOFF_MAX_MS 1000u
#define FULL_QUIET_S 2.0 /* an episode is over after this long without a write finding no space */
#define CHECKPOINT_IDLE_S 0.1   /* when idle, a checkpoint at most this often (loop_step) */
#define CHECKPOINT_QUIET_S 0.02 /* idle: no message taken for this long */

struct loop_timer {
	double interval, last;
	int (*fn)(void *arg);
	void *arg;
};

struct loop {
	struct loop_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* work queued */
	struct loop_item *head, *tail;
	struct loop_timer timers[LOOP_MAX_TIMERS];
	size_t ntimers;
	double last_checkpoint;
	double last_message; /* when the latest group or task was done */
	int unsigned_work;   /* a group, task or timer ran since the last checkpoint */
	uint64_t groups;
	int hurry;                   /* a timer has more to do: do not wait for messages */
	struct loop_compose compose; /* how the next group is made up */
	/*
	 * A full-storage episode: from the first write that found the disk (or the store map)
	 * full until FULL_QUIET_S pass without another. Near the limit small groups still fit
	 * while large ones do not: the episode spans that flapping, logged once each way.
	 */
	struct {
		int on;        /* the last write found no space: back off */
		int announced; /* the episode's start was logged, its end not yet */
		double since, last_fail, ok_at, retry_at;
		unsigned backoff_ms;
		uint64_t refused;
	} full;
	int fatal_logged;
};

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
loop_new(const struct loop_config *cfg, struct loop **out)
{
	struct loop *l;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return PASO_E_NOMEM;
	l->cfg = *cfg;
	if (l->cfg.batch_max == 0)
		l->cfg.batch_max = 512;
	if (l->cfg.heavy_max == 0)
		l->cfg.heavy_max = LOOP_HEAVY_MAX;
	l->compose.batch_max = l->cfg.batch_max;
	l->compose.heavy_max = l->cfg.heavy_max;
	l->compose.light_at = -1e9;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->last_checkpoint = mono_now();
	*out = l;
	return 0;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

void
loop_submit(struct loop *l, struct loop_item *it)
{
	pthread_mutex_lock(&l->mu);
	it->next = NULL;
	it->done = 0;
	if (l->tail != NULL)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

int
loop_item_done(struct loop *l, struct loop_item *it)
{
	int d;

	pthread_mutex_lock(&l->mu);
	d = it->done;
	pthread_mutex_unlock(&l->mu);
	return d;
}

void
loop_timers_due(struct loop *l)
{
	size_t i;

	for (i = 0; i < l->ntimers; i++)
		l->timers[i].last = -l->timers[i].interval;
}

int
loop_add_timer(struct loop *l, double interval_s, int (*fn)(void *arg), void *arg)
{
	if (l->ntimers == LOOP_MAX_TIMERS)
		return PASO_E_NOMEM;
	l->timers[l->ntimers].interval = interval_s;
	l->timers[l->ntimers].last = mono_now();
	l->timers[l->ntimers].fn = fn;
	l->timers[l->ntimers].arg = arg;
	l->ntimers++;
	return 0;
}

uint64_t
loop_groups(const struct loop *l)
{
	return l->groups;
}

static int
is_full(int rc)
{
	return rc == PASO_E_STORE_FULL || rc == PASO_E_MAP_FULL;
}

/* A write found no space: the episode starts (logged once) or its backoff grows. */
static void
full_failed(struct loop *l, int rc, int probe)
{
	double now = mono_now();

	if (!l->full.announced) {
		l->full.announced = 1;
		l->full.since = now;
		l->full.refused = 0;
		l->full.backoff_ms = FULL_BACKOFF_MIN_MS;
		hublog_printf(l->cfg.log,
			"storage full: %s; kiosk messages are refused with %s (retry later) and "
			"nothing is kept of them; writes are retried every %u..%u ms until space "
			"returns",
			paso_strerror(rc), paso_errname(PASO_E_STORE_FULL), FULL_BACKOFF_MIN_MS,
			FULL_BACKOFF_MAX_MS);
	} else if (probe) {
		l->full.backoff_ms = l->full.backoff_ms * 2 > FULL_BACKOFF_MAX_MS
					     ? FULL_BACKOFF_MAX_MS
					     : l->full.backoff_ms * 2;
	}
	l->full.on = 1;
	l->full.last_fail = now;
	l->full.retry_at = now + l->full.backoff_ms / 1000.0;
}

/* A commit succeeded: an episode in course ends (logged once, with what it cost). */
static void
full_passed(struct loop *l)
{
	if (!l->full.on)
		return;
	l->full.on = 0;
	l->full.ok_at = mono_now();
}

/* The episode is over once nothing found the storage full for FULL_QUIET_S: say so once. */
static void
full_check_over(struct loop *l, double now)
{
	if (!l->full.announced || l->full.on || now - l->full.last_fail < FULL_QUIET_S)
		return;
	l->full.announced = 0;
	hublog_printf(l->cfg.log,
		"storage available again: writes found it full for %.1f s (first refusal to the "
		"first commit after the last); %llu kiosk messages were refused with %s meanwhile, "
		"kept by their kiosks to be resent",
		l->full.ok_at - l->full.since, (unsigned long long)l->full.refused,
		paso_errname(PASO_E_STORE_FULL));
}

int
loop_storage_full(struct loop *l, int rc)
{
	if (!is_full(rc))
		return 0;
	if (!l->full.on)
		full_failed(l, rc, 0);
	else
		l->full.last_fail = mono_now();
	return 1;
}

const char *
loop_fatal(const struct loop *l)
{
	return ledger_fatal(l->cfg.ledger);
}

/*
 * Marks a group done and wakes its submitters, each once: a group of 500 crossings from 64
 * kiosks made 500 eventfd writes under the lock the connection threads take to submit and to
 * collect, where 64 wake the same threads. Nobody sees an item done before the lock is
 * released, so waking a submitter at its first item covers the ones after it.
 */
#define WOKEN_MAX 128

static void
finish(struct loop *l, struct loop_item *list)
{
	struct {
		void (*fn)(void *);
		void *arg;
	} woken[WOKEN_MAX];
	struct loop_item *it, *next;
	void (*fn)(void *);
	void *arg;
	size_t nwoken = 0, j;

	pthread_mutex_lock(&l->mu);
	for (it = list; it != NULL; it = next) {
		next = it->next; /* the submitter may free it once done is seen */
		fn = it->wake;
		arg = it->wake_arg;
		it->done = 1;
		if (fn == NULL)
			continue;
		for (j = 0; j < nwoken && (woken[j].fn != fn || woken[j].arg != arg); j++)
			;
		if (j < nwoken)
			continue;
		if (nwoken < WOKEN_MAX) {
			woken[nwoken].fn = fn;
			woken[nwoken].arg = arg;
			nwoken++;
		}
		fn(arg);
	}
	pthread_mutex_unlock(&l->mu);
}

/* Submitters whose earlier item stays queued, so their later ones stay too (loop_compose_group). */
#define HELD_MAX 64

struct held_set {
	const void *who[HELD_MAX];
	size_t n;
	int full; /* more submitters than fit: take nothing further */
};

static const void *
submitter(const struct loop_item *it)
{
	return it->wake_arg;
}

static int
held_has(const struct held_set *h, const void *who)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->who[i] == who)
			return 1;
	return h->full;
}

static void
held_add(struct held_set *h, const void *who)
{
	if (held_has(h, who))
		return;
	if (h->n < HELD_MAX)
		h->who[h->n++] = who;
	else
		h->full = 1;
}

/*
 * Whether the queue holds a message other than an enrolment that a group without enrolments
 * could take (not behind a task, nor behind an enrolment from its own submitter).
 */
static int
light_takeable(const struct loop_item *head)
{
	struct held_set h = {.n = 0};
	const struct loop_item *it;

	for (it = head; it != NULL && it->task == NULL; it = it->next) {
		if (it->msg.heavy)
			held_add(&h, submitter(it));
		else if (!held_has(&h, submitter(it)))
			return 1;
	}
	return 0;
}

/*
 * Takes queued messages in order, up to max and at most heavy_max enrolments, never past a task
 * nor past an item from its own submitter that stays queued; sets *np (taken), *heavyp
 * (enrolments among them) and *passedp (an enrolment stayed queued). Keeps *tail right when the
 * scan reached the end of the queue. The taken list is the caller's.
 */
static struct loop_item *
take_queued(struct loop_item **head, struct loop_item **tail, unsigned max, unsigned heavy_max,
	unsigned *np, unsigned *heavyp, int *passedp)
{
	struct loop_item *list = NULL, **lastp = &list, **pp = head, *it, *kept = NULL;
	struct held_set held = {.n = 0};
	unsigned n = 0, heavy = 0;
	int passed = 0;

	while ((it = *pp) != NULL && it->task == NULL && n < max) {
		if (held_has(&held, submitter(it)) || (it->msg.heavy && heavy == heavy_max)) {
			/* stays queued, and so does everything after it from its submitter */
			held_add(&held, submitter(it));
			passed |= it->msg.heavy;
			kept = it;
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		it->next = NULL;
		*lastp = it;
		lastp = &it->next;
		n++;
		heavy += (unsigned)(it->msg.heavy != 0);
	}
	if (it == NULL) /* scanned to the end: the last one left is the tail */
		*tail = kept;
	*np = n;
	*heavyp = heavy;
	*passedp = passed;
	return list;
}

struct loop_item *
loop_compose_group(
	struct loop_compose *c, struct loop_item **head, struct loop_item **tail, double now)
{
	struct loop_item *list = NULL, **lastp, *it;
	unsigned n = 0, heavy = 0, heavy_max;
	int passed = 0;

	if (*head != NULL && (*head)->task != NULL) {
		list = *head;
		*head = list->next;
		list->next = NULL;
		/* tasks that allow it share the transaction with those queued right after them */
		for (lastp = &list->next, n = 1;
			list->task_group && (it = *head) != NULL && it->task != NULL &&
			it->task_group && n < c->batch_max;
			n++) {
			*head = it->next;
			it->next = NULL;
			*lastp = it;
			lastp = &it->next;
		}
	} else if (*head != NULL) {
		heavy_max = !c->heavy_owed && light_takeable(*head)   ? 0
			    : now - c->light_at < LOOP_LIGHT_RECENT_S ? c->heavy_max
								      : c->batch_max;
		list = take_queued(head, tail, c->batch_max, heavy_max, &n, &heavy, &passed);
		c->heavy_owed = heavy_max == 0 && passed;
		if (n > heavy)
			c->light_at = now;
	}
	if (*head == NULL)
		*tail = NULL;
	return list;
}

struct loop_item *
loop_compose_late(struct loop_compose *c, struct loop_item **head, struct loop_item **tail,
	unsigned max, double now)
{
	struct loop_item *list;
	unsigned n = 0, heavy = 0;
	int passed = 0;

	/* no enrolment: heavy_max 0 keeps every one queued */
	list = take_queued(head, tail, max, 0, &n, &heavy, &passed);
	if (n > 0)
		c->light_at = now;
	if (*head == NULL)
		*tail = NULL;
	return list;
}

/* Takes the next group (loop_compose_group). Waits at most wait_ms for the first item. */
static struct loop_item *
take_group(struct loop *l, int wait_ms)
{
	struct loop_item *list;
	struct timespec ts;

	pthread_mutex_lock(&l->mu);
	if (l->head == NULL && wait_ms > 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)wait_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	list = loop_compose_group(&l->compose, &l->head, &l->tail, mono_now());
	pthread_mutex_unlock(&l->mu);
	return list;
}

/*
 * Answers a group with STORE_FULL without touching the disk: during an episode, between two
 * tries, and for the group whose try found no space (its transaction is rolled back).
 */
static void
refuse_full(struct loop *l, struct loop_item *list, uint64_t n)
{
	struct loop_item *it;

	for (it = list; it != NULL; it = it->next) {
		it->msg.err.code = 0;
		(void)decide_error_reply(&it->msg, PASO_E_STORE_FULL,
			"the hub's disk is full; nothing of this message was kept: retry later", 0);
	}
	l->full.refused += n;
	finish(l, list);
}

/*
 * One group of messages in one ledger transaction at one instant. On failure nothing of the
 * group stays (the ledger rolls back the store and cuts the audit log back, the gallery loses
 * the group's enrolments) and every message gets a transient error: the kiosks keep them and
 * resend.
 */
static int
commit_group(struct loop *l, struct loop_item *list)
{
	struct ledger_txn *t = NULL;
	struct decide_undo undo = {0};
	struct loop_item *it, *last = NULL;
	uint64_t now = clock_now(l->cfg.clock), n = 0;
	int rc, heavy = 0;

	if ((rc = ledger_begin(l->cfg.ledger, &t)) != 0)
		goto fail;
	ledger_note_time(t, now);
	for (it = list; it != NULL; last = it, it = it->next, n++) {
		heavy |= it->msg.heavy;
		if ((rc = decide_message(l->cfg.dc, t, now, &it->msg, &undo)) != 0)
			goto fail;
	}
	/* Crossings that arrived while this group's enrolments were decided share its commit
	 * (loop_compose_late) instead of waiting for it and then for one of their own. */
	if (heavy && n < l->cfg.batch_max) {
		pthread_mutex_lock(&l->mu);
		last->next = loop_compose_late(&l->compose, &l->head, &l->tail,
			l->cfg.batch_max - (unsigned)n, mono_now());
		pthread_mutex_unlock(&l->mu);
		for (it = last->next; it != NULL; it = it->next, n++)
			if ((rc = decide_message(l->cfg.dc, t, now, &it->msg, &undo)) != 0)
				goto fail;
	}
	rc = ledger_commit(t);
	t = NULL;
	if (rc != 0)
		goto fail;
	decide_undo(l->cfg.dc, &undo, 0);
	l->groups++;
	full_passed(l);
	finish(l, list); /* durable now: answer first, then sign (a checkpoint is for outsiders) */
	return 0;
fail:
	ledger_abort(t);
	decide_undo(l->cfg.dc, &undo, 1);
	for (it = list, n = 0; it != NULL; it = it->next)
		n++;
	if (is_full(rc)) {
		full_failed(l, rc, 1);
		refuse_full(l, list, n);
		return rc;
	}
	if (ledger_fatal(l->cfg.ledger) == NULL)
		hublog_printf(l->cfg.log, "commit group of %llu messages failed: %s; refusing it",
			(unsigned long long)n, paso_strerror(rc));
	for (it = list; it != NULL; it = it->next) {
		it->msg.err.code = 0;
		(void)decide_error_reply(&it->msg, rc, "hub storage error; resend later", 0);
	}
	finish(l, list);
	return rc;
}

/* A task alone in its own transaction; its outcome goes back to whoever queued it. */
static void
run_task(struct loop *l, struct loop_item *it)
{
	struct ledger_txn *t = NULL;
	int rc;

	it->task_out[0] = '\0';
	if ((rc = ledger_begin(l->cfg.ledger, &t)) == 0) {
		ledger_note_time(t, clock_now(l->cfg.clock));
		rc = it->task(it->task_arg, t, clock_now(l->cfg.clock), it->task_out,
			sizeof(it->task_out));
		if (rc == 0)
			rc = ledger_commit(t);
		else
			ledger_abort(t);
		if (rc == 0 && it->after_commit != NULL)
			it->after_commit(it->task_arg);
		if (rc == 0)
			full_passed(l);
		else
			(void)loop_storage_full(l, rc);
	}
	it->task_rc = rc;
	finish(l, it);
}

/*
 * Tasks that allow it (task_group) in one transaction: one durable commit for all. When one
 * fails, or the commit does, nothing of the group stays and each task runs again alone
 * (run_task), with exactly the outcome it would have had ungrouped.
 */
static void
run_tasks(struct loop *l, struct loop_item *list)
{
	struct ledger_txn *t = NULL;
	struct loop_item *it, *next;
	uint64_t now = clock_now(l->cfg.clock);
	int rc;

	if (list->next == NULL) {
		run_task(l, list);
		return;
	}
	if ((rc = ledger_begin(l->cfg.ledger, &t)) == 0) {
		ledger_note_time(t, now);
		for (it = list; it != NULL && rc == 0; it = it->next) {
			it->task_out[0] = '\0';
			rc = it->task(it->task_arg, t, now, it->task_out, sizeof(it->task_out));
		}
		if (rc == 0)
			rc = ledger_commit(t);
		else
			ledger_abort(t);
	}
	if (rc != 0) {
		for (it = list; it != NULL; it = next) {
			next = it->next; /* run_task marks it done: its submitter may free it */
			it->next = NULL;
			run_task(l, it);
		}
		return;
	}
	for (it = list; it != NULL; it = it->next) {
		if (it->after_commit != NULL)
			it->after_commit(it->task_arg);
		it->task_rc = 0;
	}
	full_passed(l);
	finish(l, list);
}

int
loop_checkpoint(struct loop *l)
{
	int r;

	if ((r = ledger_checkpoint(l->cfg.ledger, l->cfg.signer)) != 0 &&
		!loop_storage_full(l, r)) {
		hublog_printf(l->cfg.log,
			"checkpoint failed: %s (entries are durable; the next one retries)",
			paso_strerror(r));
	} else {
		l->last_checkpoint = mono_now();
		l->unsigned_work = 0;
	}
	return r;
}

int
loop_step(struct loop *l, int wait_ms)
{
	struct loop_item *list, *it;
	double now = mono_now(), due = l->last_checkpoint + CHECKPOINT_IDLE_S;
	double quiet;
	uint64_t n = 0;
	size_t i;
	int idle, waiting;

	/* A checkpoint owed when idle is signed when due, not after the full wait; during a
	 * full-storage backoff not before the next try (waiting less would spin). */
	if (due < l->last_message + CHECKPOINT_QUIET_S)
		due = l->last_message + CHECKPOINT_QUIET_S;
	if (l->full.on && due < l->full.retry_at)
		due = l->full.retry_at;
	if (l->unsigned_work && wait_ms > 0 && (due - now) * 1e3 < wait_ms)
		wait_ms = due > now ? (int)((due - now) * 1e3) + 1 : 0;
	list = take_group(l, l->hurry ? 0 : wait_ms);
	l->hurry = 0;

	/* During a full-storage episode only one group per backoff interval tries to write: the
	 * others are refused at once, so neither the hub nor its kiosks spin on the full disk. */
	waiting = l->full.on && mono_now() < l->full.retry_at;
	if (list != NULL && list->task != NULL) {
		run_tasks(l, list);
	} else if (list != NULL && waiting) {
		for (it = list; it != NULL; it = it->next)
			n++;
		refuse_full(l, list, n);
	} else if (list != NULL) {
		(void)commit_group(l, list);
	}
	if (list != NULL) {
		l->unsigned_work = 1;
		l->last_message = mono_now();
	}
	if (ledger_fatal(l->cfg.ledger) != NULL && !l->fatal_logged) {
		l->fatal_logged = 1;
		hublog_printf(l->cfg.log,
			"fatal: %s; nothing more can be written safely: the hub stops (restart it to "
			"recover the log)",
			ledger_fatal(l->cfg.ledger));
	}
	now = mono_now();
	for (i = 0; i < l->ntimers; i++)
		if (now - l->timers[i].last >= l->timers[i].interval) {
			l->timers[i].last = now;
			l->unsigned_work = 1;
			/* More to do (a sweep's next batch): again on the next iteration, after
			 * the next group of messages, so ingest keeps answering meanwhile. */
			if (l->timers[i].fn(l->timers[i].arg) > 0) {
				l->timers[i].last = now - l->timers[i].interval;
				l->hurry = 1;
			}
		}
	pthread_mutex_lock(&l->mu);
	idle = l->head == NULL;
	pthread_mutex_unlock(&l->mu);
	/* Under load, signing (and its fsyncs) after every group would halve the groups per
	 * second: sign once a second, and when idle at most every CHECKPOINT_IDLE_S. Idle means
	 * no message for CHECKPOINT_QUIET_S, not a queue empty for a moment: a stream of small
	 * groups (enrolments arriving as their deduplication ends, crossings one at a time)
	 * leaves it empty after nearly every one, and signing then, with the tiles and two
	 * checkpoint files each time replaced on disk (3-5 ms of fsyncs on a virtual disk), held
	 * the next crossing every 0.1 s: those were the slowest 2 % of a kiosk's crossings.
	 * Nothing new: ledger_checkpoint does nothing. */
	quiet = now - l->last_message;
	if ((now - l->last_checkpoint >= 1.0 ||
		    (idle && quiet >= CHECKPOINT_QUIET_S &&
			    now - l->last_checkpoint >= CHECKPOINT_IDLE_S)) &&
		!(l->full.on && now < l->full.retry_at))
		(void)loop_checkpoint(l);
	full_check_over(l, mono_now());
	return idle;
}
