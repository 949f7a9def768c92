/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for registry/share.c's outbox and pseudonyms on a real deployment's store and ledger. */
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

#include "decide.h"
#include "deploy.h"
#include "keyring.h"
#include "ledger.h"
#include "policy.h"
#include "share.h"
#include "vault.h"

static const char yaml[] = "name: t\n"
			   "store:\n  finger: true\n"
			   "sharing:\n"
			   "  - partner: dhs\n    what: templates\n    categories: all\n"
			   "    purpose: p\n    retention_days: 10\n"
			   "  - partner: cbp\n    what: records\n    categories: [detainee]\n"
			   "    purpose: p\n    retention_days: 10\n"
			   "  - partner: cbp\n    what: hit_no_hit\n    categories: all\n"
			   "    purpose: q\n    retention_days: 10\n";

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
count_row(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(size_t *)arg)++;
	return 0;
}

static size_t
rows(struct vault *v, const char *partner)
{
	struct vault_txn *t = NULL;
	size_t n = 0;

	assert_int_equal(vault_begin(v, 1, &t), 0);
	assert_int_equal(
		vault_outbox_scan(t, partner, strlen(partner) + 1, 1000, count_row, &n), 0);
	vault_abort(t);
	return n;
}

/* One row per bulk rule that covers the category, in the same transaction: gone on abort. */
static void
test_enqueue_by_rule_and_category(void **state)
{
	char root[] = "/tmp/paso-share-XXXXXX", dir[64], pol[96], keysdir[96], audit[96];
	struct paso_diag d = {0};
	struct policy *p = NULL;
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct ledger *l = NULL;
	struct ledger_txn *t = NULL;
	uint8_t id[16];
	uint64_t rec = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(root));
	(void)snprintf(dir, sizeof(dir), "%s/d", root);
	(void)snprintf(pol, sizeof(pol), "%s/p.yaml", root);
	(void)snprintf(keysdir, sizeof(keysdir), "%s/keys", dir);
	(void)snprintf(audit, sizeof(audit), "%s/audit", dir);
	assert_non_null(f = fopen(pol, "w"));
	fputs(yaml, f);
	fclose(f);
	assert_int_equal(deploy_init(dir, "t", pol, &d), 0);
	assert_int_equal(policy_load_file(pol, &p, &d), 0);
	assert_int_equal(keyring_open(keysdir, &kr, &d), 0);
	assert_int_equal(vault_open(dir, kr, &v, &d), 0);
	assert_int_equal(ledger_open(audit, v, decide_count_keys, COUNT_N, &rec, &l, &d), 0);
	randombytes_buf(id, sizeof(id));
	/* A regional visitor: the templates rule for dhs only. */
	assert_int_equal(ledger_begin(l, &t), 0);
	assert_int_equal(share_enqueue(p, t, id, 1), 0);
	assert_int_equal(ledger_commit(t), 0);
	assert_int_equal(rows(v, "dhs"), 1);
	assert_int_equal(rows(v, "cbp"), 0);
	/* A detainee: both bulk rules (the hit_no_hit rule queues nothing). */
	assert_int_equal(ledger_begin(l, &t), 0);
	assert_int_equal(share_enqueue(p, t, id, 4), 0);
	assert_int_equal(ledger_commit(t), 0);
	assert_int_equal(rows(v, "dhs"), 2);
	assert_int_equal(rows(v, "cbp"), 1);
	/* Rolled back with its transaction. */
	assert_int_equal(ledger_begin(l, &t), 0);
	assert_int_equal(share_enqueue(p, t, id, 4), 0);
	ledger_abort(t);
	assert_int_equal(rows(v, "dhs"), 2);
	assert_int_equal(rows(v, "cbp"), 1);
	ledger_close(l);
	vault_close(v);
	keyring_close(kr);
	policy_free(p);
	rm_tree(root);
}

static void
test_partner_pseudonyms_unlinkable(void **state)
{
	uint8_t hp[32], a[32], b[32], a2[32], c[32];

	(void)state;
	randombytes_buf(hp, sizeof(hp));
	share_partner_pseudonym(hp, "dhs", "share", a);
	share_partner_pseudonym(hp, "dhs", "share", a2);
	share_partner_pseudonym(hp, "cbp", "share", b);
	share_partner_pseudonym(hp, "dhs", "case", c);
	assert_memory_equal(a, a2, 32);     /* stable for one partner */
	assert_memory_not_equal(a, b, 32);  /* another partner gets another value */
	assert_memory_not_equal(a, c, 32);  /* case tokens differ from shared pseudonyms */
	assert_memory_not_equal(a, hp, 32); /* and none is the hub's own pseudonym */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enqueue_by_rule_and_category),
		cmocka_unit_test(test_partner_pseudonyms_unlinkable),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
