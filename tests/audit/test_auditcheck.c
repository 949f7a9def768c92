/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for audit/auditcheck.c: a damaged byte near the end of entries, offsets or hashes is
 * named (file and entry) before a hub would start on it; a torn last write is not damage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "auditcheck.h"
#include "auditlog.h"
#include "checkpoint.h"
#include "tlog_fixture.h"

#define N_CP 5000u  /* entries under the checkpoint */
#define N_TAIL 100u /* synced entries after it */

static char tmp[256], pristine[300], work[300];
static char *log_skey, *log_vkey;
static struct checkpoint_signer *signer;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
setup(void **state)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	char tiles[400];
	uint8_t *e;
	size_t len;
	uint64_t i;

	(void)state;
	if (sodium_init() < 0)
		return -1;
	(void)snprintf(tmp, sizeof(tmp), "/tmp/paso-test-auditcheck-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	(void)snprintf(pristine, sizeof(pristine), "%s/pristine", tmp);
	(void)snprintf(work, sizeof(work), "%s/work", tmp);
	(void)snprintf(tiles, sizeof(tiles), "%s/tiles", tmp);
	if (checkpoint_keygen("paso.test/hub", &log_skey, &log_vkey) != 0 ||
		checkpoint_signer_from_text(log_skey, &signer) != 0)
		return -1;
	if (fixture_grow(pristine, tiles, signer, N_CP, 7, NULL, 0, NULL) != 0 ||
		auditlog_open(pristine, &log, &d) != 0)
		return -1;
	for (i = 0; i < N_TAIL; i++) {
		e = fixture_entry(N_CP + i, 7, &len);
		if (e == NULL || auditlog_append(log, e, len, NULL) != 0)
			return -1;
		free(e);
	}
	if (auditlog_sync(log) != 0)
		return -1;
	auditlog_close(log);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	checkpoint_signer_free(signer);
	checkpoint_text_free(log_skey);
	free(log_vkey);
	if (getenv("PASO_KEEP_TMP") == NULL && run("rm -rf '%s'", tmp) != 0)
		return -1;
	return 0;
}

static void
fresh_copy(void)
{
	assert_int_equal(run("rm -rf '%s' && cp -r '%s' '%s'", work, pristine, work), 0);
}

/* Flips one bit of file at byte offset from its end (negative) or start. */
static void
flip(const char *file, long long at)
{
	char path[400];
	FILE *f;
	int c;

	(void)snprintf(path, sizeof(path), "%s/%s", work, file);
	assert_non_null(f = fopen(path, "r+b"));
	assert_int_equal(fseeko(f, at, at < 0 ? SEEK_END : SEEK_SET), 0);
	c = fgetc(f);
	assert_true(c != EOF);
	assert_int_equal(fseeko(f, -1, SEEK_CUR), 0);
	fputc(c ^ 0x10, f);
	assert_int_equal(fclose(f), 0);
}

static long long
entry_offset(uint64_t i)
{
	char path[400];
	uint8_t b[8];
	FILE *f;
	long long v = 0;
	int k;

	(void)snprintf(path, sizeof(path), "%s/offsets", work);
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseeko(f, (off_t)(i * 8), SEEK_SET), 0);
	assert_int_equal(fread(b, 1, 8, f), 8);
	fclose(f);
	for (k = 0; k < 8; k++)
		v = (v << 8) | b[k];
	return v;
}

static void
test_clean_log_passes(void **state)
{
	struct auditcheck_report rep;
	struct paso_diag d = {0};

	(void)state;
	fresh_copy();
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), 0);
	assert_int_equal(rep.checkpoint_size, N_CP);
	assert_int_equal(rep.tail_entries, N_TAIL);
	assert_int_equal(rep.entries_checked, N_CP + N_TAIL);
	assert_int_equal(rep.torn_bytes, 0);
}

static void
test_damaged_entry_before_checkpoint_is_named(void **state)
{
	struct auditcheck_report rep;
	struct paso_diag d = {0};

	(void)state;
	fresh_copy();
	flip("entries", entry_offset(N_CP - 3) + 12);
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), PASO_E_AUDIT_CORRUPT);
	assert_int_equal(rep.bad_index, N_CP - 3);
	assert_string_equal(rep.bad_file, "entries");
	assert_non_null(strstr(d.msg, "entries: damaged: entry 4997"));
	/* The writer would have started on it: the check is what stops the hub. */
}

static void
test_damaged_entry_in_tail_is_named_not_cut(void **state)
{
	struct auditcheck_report rep;
	struct paso_diag d = {0};

	(void)state;
	fresh_copy();
	flip("entries", entry_offset(N_CP + 50) + 10);
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), PASO_E_AUDIT_CORRUPT);
	assert_int_equal(rep.bad_index, N_CP + 50);
	assert_string_equal(rep.bad_file, "entries");
	assert_non_null(strstr(d.msg, "a complete entry follows it"));
}

static void
test_torn_last_write_is_not_damage(void **state)
{
	struct auditcheck_report rep;
	struct paso_diag d = {0};
	char path[400];

	(void)state;
	fresh_copy();
	(void)snprintf(path, sizeof(path), "%s/entries", work);
	assert_int_equal(truncate(path, entry_offset(N_CP + N_TAIL - 1) + 20), 0);
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), 0);
	assert_int_equal(rep.torn_bytes, 20);
	assert_int_equal(rep.tail_entries, N_TAIL - 1);
	/* A flipped byte in the very last frame looks like a torn write too: nothing follows. */
	fresh_copy();
	flip("entries", -1);
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), 0);
	assert_true(rep.torn_bytes > 0);
}

static void
test_damaged_hashes_are_named(void **state)
{
	struct auditcheck_report rep;
	struct paso_diag d = {0};
	char path[400];

	(void)state;
	/* The leaf hash of the checkpoint's last entry (the node before the last few at the end of
	 * the covered part): 2*5000 - popcount(5000) = 9995 nodes cover the checkpoint. */
	fresh_copy();
	(void)snprintf(path, sizeof(path), "%s/hashes", work);
	assert_int_equal(truncate(path, 9995 * 32), 0);
	flip("hashes", (9995 - 4) * 32 + 5); /* entry 4999's leaf: 3 nodes complete after it */
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), PASO_E_AUDIT_CORRUPT);
	assert_string_equal(rep.bad_file, "hashes");
	assert_non_null(strstr(d.msg, "hashes: damaged"));
	/* A leaf deep in the window: the root is unaffected, the window finds it. */
	fresh_copy();
	flip("hashes", 2 * 32 * 1000 + 7);
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), PASO_E_AUDIT_CORRUPT);
	assert_string_equal(rep.bad_file, "hashes");
	/* Cut short below what the checkpoint needs. */
	fresh_copy();
	assert_int_equal(truncate(path, 100 * 32), 0);
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), PASO_E_AUDIT_CORRUPT);
	assert_non_null(strstr(d.msg, "need"));
}

static void
test_damaged_offsets_are_named(void **state)
{
	struct auditcheck_report rep;
	struct paso_diag d = {0};

	(void)state;
	fresh_copy();
	flip("offsets", (long long)(N_CP - 10) * 8 + 6);
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), PASO_E_AUDIT_CORRUPT);
	assert_string_equal(rep.bad_file, "offsets");
	assert_true(rep.bad_index == N_CP - 10 || rep.bad_index == N_CP - 9);
	assert_non_null(strstr(d.msg, "offsets: damaged: entry"));
	/* Outside the window, the order scan still finds a high byte flipped. */
	fresh_copy();
	flip("offsets", 10 * 8 + 1);
	assert_int_equal(auditcheck_tail(work, 16, &rep, &d), PASO_E_AUDIT_CORRUPT);
	assert_string_equal(rep.bad_file, "offsets");
}

static void
test_damaged_checkpoint_is_named(void **state)
{
	struct auditcheck_report rep;
	struct paso_diag d = {0};

	(void)state;
	fresh_copy();
	assert_int_equal(run("echo garbage > '%s/checkpoint'", work), 0);
	assert_int_equal(auditcheck_tail(work, AUDITCHECK_WINDOW, &rep, &d), PASO_E_AUDIT_CORRUPT);
	assert_string_equal(rep.bad_file, "checkpoint");
	assert_int_equal(auditcheck_tail("/nonexistent/audit", 1, &rep, &d), PASO_E_NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_log_passes),
		cmocka_unit_test(test_damaged_entry_before_checkpoint_is_named),
		cmocka_unit_test(test_damaged_entry_in_tail_is_named_not_cut),
		cmocka_unit_test(test_torn_last_write_is_not_damage),
		cmocka_unit_test(test_damaged_hashes_are_named),
		cmocka_unit_test(test_damaged_offsets_are_named),
		cmocka_unit_test(test_damaged_checkpoint_is_named),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
