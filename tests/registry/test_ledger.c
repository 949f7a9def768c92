/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for registry/ledger.c on a real audit log and real LMDB files: both commit or neither. */
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
#include "checkpoint.h"
#include "errors.h"
#include "keyring.h"
#include "ledger.h"
#include "vault.h"

static const char *const keys[] = {"count.a", "count.b"};

struct fx {
	char root[64], keys[96], audit[96];
	struct keyring *kr;
	struct vault *v;
	struct ledger *l;
	struct checkpoint_signer *s;
	struct checkpoint_verifier *ver;
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

static void
open_ledger(struct fx *f, uint64_t *recovered)
{
	struct paso_diag d = {0};

	assert_int_equal(ledger_open(f->audit, f->v, keys, 2, recovered, &f->l, &d), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct paso_diag d = {0};
	char *sk = NULL, *vk = NULL;
	uint64_t rec;

	assert_non_null(f);
	(void)snprintf(f->root, sizeof(f->root), "/tmp/paso-ledger-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	(void)snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	(void)snprintf(f->audit, sizeof(f->audit), "%s/audit", f->root);
	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &f->kr, &d), 0);
	assert_int_equal(vault_open(f->root, f->kr, &f->v, &d), 0);
	assert_int_equal(checkpoint_keygen("paso/test", &sk, &vk), 0);
	assert_int_equal(checkpoint_signer_from_text(sk, &f->s), 0);
	assert_int_equal(checkpoint_verifier_from_vkey(vk, &f->ver), 0);
	checkpoint_text_free(sk);
	free(vk);
	open_ledger(f, &rec);
	assert_int_equal(rec, 0);
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
	checkpoint_signer_free(f->s);
	checkpoint_verifier_free(f->ver);
	rm_tree(f->root);
	free(f);
	return 0;
}

static void
append(struct ledger_txn *t, const char *detail)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;

	e.time = 1798761600;
	e.actor = "hub";
	e.action = PASO__ACTION__HUB_START;
	e.detail = (char *)detail;
	assert_int_equal(ledger_append(t, &e, NULL), 0);
}

/* What the store committed: the meta value of key, or -1 when absent. */
static long long
stored(struct fx *f, const char *key)
{
	struct vault_txn *t = NULL;
	uint64_t v = 0;
	int r;

	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	r = vault_meta_get(t, key, &v);
	vault_abort(t);
	return r == 0 ? (long long)v : -1;
}

/* The outsider's check of the whole log directory. */
static void
assert_log_verifies(struct fx *f)
{
	struct auditlog_report rep;
	struct paso_diag d = {0};

	assert_int_equal(ledger_checkpoint(f->l, f->s), 0);
	assert_int_equal(auditlog_verify(f->audit, f->ver, NULL, &rep, &d), 0);
	assert_int_equal(rep.entries, ledger_size(f->l));
}

/* A committed transaction: entries, store change, counters, time, all durable together. */
static void
test_commit_both(void **state)
{
	struct fx *f = *state;
	struct ledger_txn *t = NULL;
	uint64_t rec;

	assert_int_equal(ledger_begin(f->l, &t), 0);
	append(t, "one");
	append(t, "two");
	assert_int_equal(vault_meta_put(ledger_store(t), "x", 7), 0);
	ledger_count(t, 1, 5);
	ledger_note_time(t, 1798761600);
	assert_int_equal(ledger_txn_entries(t), 2);
	assert_int_equal(ledger_commit(t), 0);
	assert_int_equal(ledger_size(f->l), 2);
	assert_int_equal(stored(f, "x"), 7);
	assert_int_equal(stored(f, "audit_size"), 2);
	assert_int_equal(stored(f, "count.b"), 5);
	assert_int_equal(ledger_counter(f->l, 1), 5);
	assert_int_equal(ledger_time(f->l), 1798761600);
	/* A second transaction may not open while one is open. */
	assert_int_equal(ledger_begin(f->l, &t), 0);
	{
		struct ledger_txn *t2 = NULL;

		assert_int_equal(ledger_begin(f->l, &t2), PASO_E_INVALID_ARG);
		assert_int_equal(ledger_checkpoint(f->l, f->s), PASO_E_INVALID_ARG);
	}
	ledger_abort(t);
	/* Reopening reads back the counters and the time. */
	ledger_close(f->l);
	open_ledger(f, &rec);
	assert_int_equal(rec, 0);
	assert_int_equal(ledger_counter(f->l, 1), 5);
	assert_int_equal(ledger_time(f->l), 1798761600);
	assert_log_verifies(f);
}

/* An audit append that fails after others succeeded: the caller aborts; nothing stays. */
static void
test_append_fails(void **state)
{
	struct fx *f = *state;
	struct ledger_txn *t = NULL;
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	char *big = malloc(AUDITLOG_MAX_ENTRY + 10);

	assert_non_null(big);
	memset(big, 'x', AUDITLOG_MAX_ENTRY + 9);
	big[AUDITLOG_MAX_ENTRY + 9] = '\0';
	assert_int_equal(ledger_begin(f->l, &t), 0);
	append(t, "kept?");
	assert_int_equal(vault_meta_put(ledger_store(t), "x", 1), 0);
	ledger_count(t, 0, 3);
	e.detail = big;
	assert_int_equal(ledger_append(t, &e, NULL), PASO_E_INVALID_ARG);
	ledger_abort(t);
	free(big);
	assert_int_equal(ledger_size(f->l), 0);
	assert_int_equal(stored(f, "x"), -1);
	assert_int_equal(ledger_counter(f->l, 0), 0);
	/* The ledger goes on: the next transaction commits normally. */
	assert_int_equal(ledger_begin(f->l, &t), 0);
	append(t, "after");
	assert_int_equal(ledger_commit(t), 0);
	assert_int_equal(ledger_size(f->l), 1);
	assert_log_verifies(f);
}

/* The store commit fails after the audit entries were made durable: both roll back. */
static void
test_store_commit_fails(void **state)
{
	struct fx *f = *state;
	struct ledger_txn *t = NULL;

	assert_int_equal(ledger_begin(f->l, &t), 0);
	append(t, "first");
	assert_int_equal(ledger_commit(t), 0);
	ledger_inject_fault(f->l, LEDGER_FAULT_STORE_COMMIT, PASO_E_STORAGE);
	assert_int_equal(ledger_begin(f->l, &t), 0);
	append(t, "lost 1");
	append(t, "lost 2");
	assert_int_equal(vault_meta_put(ledger_store(t), "x", 9), 0);
	ledger_count(t, 0, 1);
	assert_int_equal(ledger_commit(t), PASO_E_STORAGE);
	assert_int_equal(ledger_size(f->l), 1);
	assert_int_equal(stored(f, "x"), -1);
	assert_int_equal(stored(f, "audit_size"), 1);
	assert_int_equal(ledger_counter(f->l, 0), 0);
	assert_log_verifies(f);
}

/* The audit fsync fails: nothing of the transaction stays anywhere. */
static void
test_audit_sync_fails(void **state)
{
	struct fx *f = *state;
	struct ledger_txn *t = NULL;

	ledger_inject_fault(f->l, LEDGER_FAULT_AUDIT_SYNC, PASO_E_IO);
	assert_int_equal(ledger_begin(f->l, &t), 0);
	append(t, "never");
	assert_int_equal(vault_meta_put(ledger_store(t), "x", 2), 0);
	assert_int_equal(ledger_commit(t), PASO_E_IO);
	assert_int_equal(ledger_size(f->l), 0);
	assert_int_equal(stored(f, "x"), -1);
	assert_int_equal(ledger_begin(f->l, &t), 0);
	append(t, "next");
	assert_int_equal(ledger_commit(t), 0);
	assert_log_verifies(f);
}

/*
 * A crash between the two: entries durable in the log, the store transaction never committed
 * (the state a kill -9 leaves). Reopening cuts them back and reports how many.
 */
static void
test_crash_between(void **state)
{
	struct fx *f = *state;
	struct ledger_txn *t = NULL;
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	uint64_t rec = 0;

	assert_int_equal(ledger_begin(f->l, &t), 0);
	append(t, "committed");
	assert_int_equal(ledger_commit(t), 0);
	assert_int_equal(ledger_checkpoint(f->l, f->s), 0);
	ledger_close(f->l);
	f->l = NULL;
	/* The crashed writer: entries appended and fsync'd, the store never told. */
	assert_int_equal(auditlog_open(f->audit, &log, &d), 0);
	assert_int_equal(auditlog_append(log, (const uint8_t *)"abc", 3, NULL), 0);
	assert_int_equal(auditlog_append(log, (const uint8_t *)"def", 3, NULL), 0);
	assert_int_equal(auditlog_sync(log), 0);
	auditlog_close(log);
	open_ledger(f, &rec);
	assert_int_equal(rec, 2);
	assert_int_equal(ledger_size(f->l), 1);
	assert_log_verifies(f);
}

/* A log shorter than what the store recorded: entries were lost; refuse to open. */
static void
test_lost_entries_refused(void **state)
{
	struct fx *f = *state;
	struct ledger_txn *t = NULL;
	struct vault_txn *vt = NULL;
	struct ledger *l2 = NULL;
	struct paso_diag d = {0};
	uint64_t rec = 0;

	assert_int_equal(ledger_begin(f->l, &t), 0);
	append(t, "a");
	assert_int_equal(ledger_commit(t), 0);
	ledger_close(f->l);
	f->l = NULL;
	assert_int_equal(vault_begin(f->v, 0, &vt), 0);
	assert_int_equal(vault_meta_put(vt, "audit_size", 5), 0);
	assert_int_equal(vault_commit(vt), 0);
	assert_int_equal(ledger_open(f->audit, f->v, keys, 2, &rec, &l2, &d), PASO_E_AUDIT_CORRUPT);
	assert_null(l2);
	assert_non_null(strstr(d.msg, "entries lost"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_both, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_commit_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_sync_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_between, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_entries_refused, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
