/* SPDX-License-Identifier: Apache-2.0 */
/* The ledger: one path by which audit entries and store changes become durable together. */
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditcheck.h"
#include "tiles.h"

#define LEDGER_META_AUDIT_SIZE "audit_size"
#define LEDGER_META_TIME "clock.high"
#define LEDGER_MAX_COUNTERS 64

struct ledger {
	struct auditlog *log;
	struct tiles *tiles;     /* the log published as tlog-tiles in AUDITDIR/tiles */
	uint64_t published;      /* size of the checkpoint last published there */
	int tiles_err;           /* the last tiles_sync failure, reported by ledger_checkpoint */
	struct paso_diag tiles_diag;
	struct vault *vault;
	const char *const *keys;
	size_t nkeys;
	uint64_t counts[LEDGER_MAX_COUNTERS];
	uint64_t time;           /* latest hub time committed */
	struct ledger_txn *open; /* the one open transaction, or NULL */
	int broken;              /* a rollback could not cut the audit log back */
	char fatal[200];         /* why, for the one log line that stops the hub */
	enum ledger_fault fault;
	int fault_code;
};

struct ledger_txn {
	struct ledger *l;
	struct vault_txn *store;
	uint64_t audit_before;
	uint64_t time;
	uint64_t counts[LEDGER_MAX_COUNTERS];
};

static int
load_committed(struct ledger *l, uint64_t *committedp, struct paso_diag *d)
{
	struct vault_txn *t = NULL;
	size_t i;
	int r;

	if ((r = vault_begin(l->vault, 1, &t)) != 0)
		return paso_diag_set(d, r, "store: %s", paso_strerror(r));
	if ((r = vault_meta_get(t, LEDGER_META_AUDIT_SIZE, committedp)) == PASO_E_NOT_FOUND)
		*committedp = 0, r = 0;
	if (r == 0 && (r = vault_meta_get(t, LEDGER_META_TIME, &l->time)) == PASO_E_NOT_FOUND)
		l->time = 0, r = 0;
	for (i = 0; r == 0 && i < l->nkeys; i++)
		if ((r = vault_meta_get(t, l->keys[i], &l->counts[i])) == PASO_E_NOT_FOUND)
			l->counts[i] = 0, r = 0;
	vault_abort(t);
	if (r != 0)
		return paso_diag_set(d, r, "store meta: %s", paso_strerror(r));
	return 0;
}

int
ledger_open(const char *auditdir, struct vault *v, const char *const *keys, size_t n,
	uint64_t *recoveredp, struct ledger **out, struct paso_diag *d)
{
	struct ledger *l = NULL;
	struct paso_diag torn = {0};
	uint64_t committed = 0, have;
	int r;

	*out = NULL;
	*recoveredp = 0;
	d->code = 0;
	if (n > LEDGER_MAX_COUNTERS)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "ledger: %zu counters (at most %d)", n,
			LEDGER_MAX_COUNTERS);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return PASO_E_NOMEM;
	l->vault = v;
	l->keys = keys;
	l->nkeys = n;
	/* Damage is refused before recovery could cut it as a torn write or sign over it. */
	{
		struct auditcheck_report rep;

		r = auditcheck_tail(auditdir, AUDITCHECK_WINDOW, &rep, d);
		if (r != 0 && r != PASO_E_NOT_FOUND)
			goto out;
		d->code = 0;
	}
	if ((r = auditlog_open(auditdir, &l->log, &torn)) != 0) {
		*d = torn;
		goto out;
	}
	if ((r = load_committed(l, &committed, d)) != 0)
		goto out;
	have = auditlog_size(l->log);
	if (have < committed) {
		r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
			"%s: audit log has %llu entries but the store committed %llu: entries lost",
			auditdir, (unsigned long long)have, (unsigned long long)committed);
		goto out;
	}
	if (have > committed) {
		/* Entries of a transaction whose store commit never happened: never answered. */
		if ((r = auditlog_truncate(l->log, committed)) != 0) {
			paso_diag_set(d, r, "%s: cutting the audit log back to %llu entries: %s",
				auditdir, (unsigned long long)committed, paso_strerror(r));
			goto out;
		}
		*recoveredp = have - committed;
	}
	{
		char tdir[4096];

		if (snprintf(tdir, sizeof(tdir), "%s/tiles", auditdir) >= (int)sizeof(tdir)) {
			r = paso_diag_set(d, PASO_E_INVALID_ARG, "%s: path too long", auditdir);
			goto out;
		}
		if ((r = tiles_open(tdir, &l->tiles, d)) != 0 ||
			(r = tiles_sync(l->tiles, l->log, d)) != 0)
			goto out;
		l->published = tiles_published(l->tiles);
	}
	*d = torn; /* a repaired torn tail is reported with success */
	*out = l;
	l = NULL;
	r = 0;
out:
	ledger_close(l);
	return r;
}

void
ledger_close(struct ledger *l)
{
	if (l == NULL)
		return;
	ledger_abort(l->open);
	tiles_close(l->tiles);
	auditlog_close(l->log);
	free(l);
}

const char *
ledger_fatal(const struct ledger *l)
{
	return l->broken ? l->fatal : NULL;
}

struct auditlog *
ledger_auditlog(struct ledger *l)
{
	return l->log;
}

uint64_t
ledger_size(const struct ledger *l)
{
	return auditlog_size(l->log);
}

uint64_t
ledger_counter(const struct ledger *l, size_t i)
{
	return i < l->nkeys ? l->counts[i] : 0;
}

int
ledger_begin(struct ledger *l, struct ledger_txn **out)
{
	struct ledger_txn *t;
	int r;

	*out = NULL;
	if (l->open != NULL)
		return PASO_E_INVALID_ARG;
	if (l->broken)
		return PASO_E_IO;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return PASO_E_NOMEM;
	if ((r = vault_begin(l->vault, 0, &t->store)) != 0) {
		free(t);
		return r;
	}
	t->l = l;
	t->audit_before = auditlog_size(l->log);
	memcpy(t->counts, l->counts, sizeof(t->counts));
	t->time = l->time;
	l->open = t;
	*out = t;
	return 0;
}

struct vault_txn *
ledger_store(struct ledger_txn *t)
{
	return t->store;
}

int
ledger_append(struct ledger_txn *t, const Paso__AuditEntry *e, uint64_t *indexp)
{
	uint8_t buf[4096], *p = buf;
	size_t n = paso__audit_entry__get_packed_size(e);
	int r;

	if (n > AUDITLOG_MAX_ENTRY)
		return PASO_E_INVALID_ARG;
	if (n > sizeof(buf) && (p = malloc(n)) == NULL)
		return PASO_E_NOMEM;
	(void)paso__audit_entry__pack(e, p);
	r = auditlog_append(t->l->log, p, n, indexp);
	if (p != buf)
		free(p);
	return r;
}

void
ledger_count(struct ledger_txn *t, size_t i, int64_t delta)
{
	if (i < t->l->nkeys)
		t->counts[i] += (uint64_t)delta;
}

uint64_t
ledger_txn_counter(const struct ledger_txn *t, size_t i)
{
	return i < t->l->nkeys ? t->counts[i] : 0;
}

void
ledger_note_time(struct ledger_txn *t, uint64_t now)
{
	if (now > t->time)
		t->time = now;
}

uint64_t
ledger_time(const struct ledger *l)
{
	return l->time;
}

uint64_t
ledger_txn_entries(const struct ledger_txn *t)
{
	return auditlog_size(t->l->log) - t->audit_before;
}

/* Takes the injected fault for step, if any (once). */
static int
fault_at(struct ledger *l, enum ledger_fault step)
{
	int code;

	if (l->fault != step)
		return 0;
	code = l->fault_code;
	l->fault = LEDGER_FAULT_NONE;
	return code;
}

/* Cuts the audit log back to where t began; a failure poisons the ledger until reopened. */
static void
rollback_audit(struct ledger_txn *t)
{
	struct ledger *l = t->l;
	uint64_t had = auditlog_size(l->log);
	int r;

	if (had > t->audit_before && (r = auditlog_truncate(l->log, t->audit_before)) != 0) {
		l->broken = 1;
		(void)snprintf(l->fatal, sizeof(l->fatal),
			"the audit log could not be cut back from %llu to its last committed %llu "
			"entries (%s)",
			(unsigned long long)had, (unsigned long long)t->audit_before,
			paso_strerror(r));
	}
}

static void
txn_free(struct ledger_txn *t)
{
	t->l->open = NULL;
	free(t);
}

int
ledger_commit(struct ledger_txn *t)
{
	struct ledger *l = t->l;
	size_t i;
	int r;

	if ((r = fault_at(l, LEDGER_FAULT_AUDIT_SYNC)) != 0 || (r = auditlog_sync(l->log)) != 0)
		goto fail;
	if ((r = vault_meta_put(t->store, LEDGER_META_AUDIT_SIZE, auditlog_size(l->log))) != 0)
		goto fail;
	for (i = 0; i < l->nkeys; i++)
		if (t->counts[i] != l->counts[i] &&
			(r = vault_meta_put(t->store, l->keys[i], t->counts[i])) != 0)
			goto fail;
	if (t->time != l->time &&
		(r = vault_meta_put(t->store, LEDGER_META_TIME, t->time)) != 0)
		goto fail;
	if ((r = fault_at(l, LEDGER_FAULT_STORE_COMMIT)) != 0)
		goto fail;
	r = vault_commit(t->store);
	t->store = NULL;
	if (r != 0)
		goto fail;
	memcpy(l->counts, t->counts, sizeof(l->counts));
	l->time = t->time;
	txn_free(t);
	/* The tiles are derived and published at the next checkpoint: a failure here loses
	 * nothing committed, and is reported by ledger_checkpoint. */
	if ((r = tiles_sync(l->tiles, l->log, &l->tiles_diag)) != 0)
		l->tiles_err = r;
	return 0;
fail:
	vault_abort(t->store);
	t->store = NULL;
	rollback_audit(t);
	txn_free(t);
	return r;
}

void
ledger_abort(struct ledger_txn *t)
{
	if (t == NULL)
		return;
	vault_abort(t->store);
	t->store = NULL;
	rollback_audit(t);
	txn_free(t);
}

int
ledger_checkpoint(struct ledger *l, const struct checkpoint_signer *s)
{
	char *note = NULL;
	size_t len;
	int r;

	if (l->open != NULL)
		return PASO_E_INVALID_ARG;
	if ((r = auditlog_checkpoint(l->log, s)) != 0)
		return r;
	if (l->tiles_err != 0) {
		r = l->tiles_err;
		l->tiles_err = 0;
		return r;
	}
	if (auditlog_checkpoint_size(l->log) == l->published)
		return 0;
	/* Publish the signed checkpoint in AUDITDIR/tiles with every tile it needs. */
	if ((r = auditlog_latest_checkpoint(l->log, &note, &len)) != 0)
		return r;
	r = tiles_publish(l->tiles, l->log, note, len, &l->tiles_diag);
	free(note);
	if (r == 0)
		l->published = auditlog_checkpoint_size(l->log);
	return r;
}

int
ledger_publish(struct ledger *l, const char *note, size_t len, struct paso_diag *d)
{
	int r = tiles_publish(l->tiles, l->log, note, len, d);

	if (r == PASO_E_ROLLBACK) { /* a newer checkpoint is published already */
		d->code = 0;
		return 0;
	}
	return r;
}

void
ledger_inject_fault(struct ledger *l, enum ledger_fault step, int code)
{
	l->fault = step;
	l->fault_code = code;
}
