/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for kiosk-sim/outbox.c: durable, ordered, sealed, and only answered entries leave. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "errors.h"
#include "outbox.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/paso-outbox-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
put_n(struct outbox *ob, unsigned n, const char *prefix)
{
	struct outbox_txn *t;
	uint64_t seq;
	char msg[64];
	unsigned i;

	assert_int_equal(outbox_begin(ob, &t), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(outbox_next_seq(t, &seq), 0);
		(void)snprintf(msg, sizeof(msg), "%s-%llu", prefix, (unsigned long long)seq);
		assert_int_equal(outbox_put(t, seq, (const uint8_t *)msg, strlen(msg)), 0);
	}
	assert_int_equal(outbox_commit(t), 0);
}

/* Entries come back oldest first, survive a reopen, and leave only when removed. */
static void
test_order_durability_remove(void **state)
{
	struct outbox *ob = NULL;
	struct outbox_item *it = NULL;
	uint64_t n, gone[2] = {1, 3};
	size_t k;

	(void)state;
	assert_int_equal(outbox_open(dir, &ob, NULL), 0);
	put_n(ob, 5, "capture");
	outbox_close(ob);
	assert_int_equal(outbox_open(dir, &ob, NULL), 0);
	assert_int_equal(outbox_count(ob, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(outbox_peek(ob, 3, &it, &k), 0);
	assert_int_equal(k, 3);
	assert_int_equal(it[0].seq, 1);
	assert_int_equal(it[2].seq, 3);
	assert_memory_equal(it[1].data, "capture-2", it[1].len);
	outbox_items_free(it, k);
	/* Answered: 1 and 3. 2, 4, 5 stay, still in order; a missing seq is fine. */
	assert_int_equal(outbox_remove(ob, gone, 2), 0);
	assert_int_equal(outbox_remove(ob, gone, 1), 0);
	assert_int_equal(outbox_peek(ob, 10, &it, &k), 0);
	assert_int_equal(k, 3);
	assert_int_equal(it[0].seq, 2);
	assert_int_equal(it[1].seq, 4);
	outbox_items_free(it, k);
	/* Sequence numbers keep growing after removals and reopen: never reused. */
	put_n(ob, 1, "later");
	assert_int_equal(outbox_peek(ob, 10, &it, &k), 0);
	assert_int_equal(it[k - 1].seq, 6);
	outbox_items_free(it, k);
	outbox_close(ob);
}

/* The data file holds no plaintext, and a tampered entry is refused rather than sent. */
static void
test_sealed_and_tamper_evident(void **state)
{
	struct outbox *ob = NULL;
	struct outbox_item *it = NULL;
	char path[128], *buf;
	size_t k, len, i;
	FILE *f;
	struct stat st;

	(void)state;
	assert_int_equal(outbox_open(dir, &ob, NULL), 0);
	outbox_close(ob);
	(void)snprintf(path, sizeof(path), "%s/outbox.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	(void)snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_non_null(f = fopen(path, "rb"));
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	assert_non_null(buf = malloc(len));
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
	for (i = 0; i + 7 <= len; i++)
		if (memcmp(buf + i, "capture", 7) == 0)
			fail_msg("plaintext in the outbox at byte %zu", i);
	free(buf);
	assert_int_equal(outbox_open(dir, &ob, NULL), 0);
	assert_int_equal(outbox_peek(ob, 10, &it, &k), 0);
	assert_true(k >= 1);
	outbox_items_free(it, k);
	outbox_close(ob);
	/* With another key (one bit changed) the entries do not open: nothing forged is sent. */
	(void)snprintf(path, sizeof(path), "%s/outbox.key", dir);
	assert_non_null(f = fopen(path, "r+b"));
	{
		int c = fgetc(f);
		fseek(f, 0, SEEK_SET);
		fputc(c ^ 1, f);
	}
	fclose(f);
	assert_int_equal(outbox_open(dir, &ob, NULL), 0);
	assert_int_equal(outbox_peek(ob, 10, &it, &k), PASO_E_CRYPTO);
	outbox_close(ob);
}

/*
 * An entry removed when the hub acknowledged it is only deleted: its ciphertext stays in a free
 * page (here: a copy of the store taken before), readable with the outbox key. The next purge,
 * even with nothing expired, replaces that key: the copy no longer opens; the live entry does.
 */
static void
test_purge_erases_removed(void **state)
{
	struct outbox *ob = NULL;
	struct outbox_item *it = NULL;
	struct outbox_txn *t;
	uint64_t gone[1] = {1};
	size_t k = 0, purged = 9, kept = 9;
	char cmd[512], copy[80], obd[80];
	struct paso_diag d = {0};

	(void)state;
	(void)snprintf(copy, sizeof(copy), "%s/copy", dir);
	(void)snprintf(obd, sizeof(obd), "%s/purge", dir);
	assert_int_equal(outbox_open(obd, &ob, NULL), 0);
	assert_int_equal(outbox_begin(ob, &t), 0);
	assert_int_equal(outbox_put_at(t, 1, (const uint8_t *)"acked", 5, 5000), 0);
	assert_int_equal(outbox_put_at(t, 2, (const uint8_t *)"young", 5, 5000), 0);
	assert_int_equal(outbox_commit(t), 0);
	outbox_close(ob);
	(void)snprintf(cmd, sizeof(cmd), "mkdir '%s' && cp '%s/data.mdb' '%s/outbox.key' '%s/'",
		copy, obd, obd, copy);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(outbox_open(copy, &ob, NULL), 0); /* control: the old key opens it */
	assert_int_equal(outbox_peek(ob, 10, &it, &k), 0);
	assert_int_equal(k, 2);
	outbox_items_free(it, k);
	outbox_close(ob);

	assert_int_equal(outbox_open(obd, &ob, NULL), 0);
	assert_int_equal(outbox_remove(ob, gone, 1), 0); /* the hub acknowledged seq 1 */
	assert_int_equal(outbox_purge(ob, 6000, 3600, &purged, &kept, &d), 0);
	assert_int_equal(purged, 0); /* nothing is past the limit yet */
	assert_int_equal(kept, 1);
	assert_int_equal(outbox_peek(ob, 10, &it, &k), 0);
	assert_int_equal(k, 1);
	assert_int_equal(it[0].seq, 2);
	assert_int_equal(it[0].when, 5000);
	assert_memory_equal(it[0].data, "young", 5);
	outbox_items_free(it, k);
	outbox_close(ob);

	(void)snprintf(cmd, sizeof(cmd), "cp '%s/outbox.key' '%s/'", obd, copy);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(outbox_open(copy, &ob, NULL), 0);
	assert_int_equal(outbox_peek(ob, 10, &it, &k), PASO_E_CRYPTO);
	outbox_close(ob);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_durability_remove),
		cmocka_unit_test(test_sealed_and_tamper_evident),
		cmocka_unit_test(test_purge_erases_removed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
