/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kiosk forgets: captures a hub never acknowledged are erased once older than the kiosk's
 * limit (paso-kiosk purge, on the kiosk's clock), so that no key left on the kiosk opens them,
 * even in a copy of its store taken before; younger ones survive intact; a kiosk whose purge has
 * not run within its deadline refuses to capture and says why. The hub is never reachable here
 * (port 1), so nothing is ever acknowledged.
 */
#include <dirent.h>
#include <signal.h>
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

#include "harness.h"
#include "outbox.h"
#include "population.h"

#define KIOSK "kiosk-talisman"
#define T0 "2027-01-01T00:00:00Z"

static struct deployment dep;

/* paso-kiosk run for one kiosk against a hub that never answers; returns its exit status. */
static int
kiosk_run(const char *clock, const char *people, const char *seed, char **outp)
{
	const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub", "127.0.0.1:1",
		"--kiosks", KIOSK, "--people", people, "--crossings", "0", "--identify", "0",
		"--seed", seed, "--clock", clock, "--give-up", "1", "--workdir", dep.work, "--json",
		NULL};

	return h_run(outp, argv);
}

static void
card_of(uint64_t seed, uint32_t person, char *card, size_t cap)
{
	struct population *pop = NULL;
	struct person_info pi;

	assert_int_equal(population_new(seed, person + 1, &pop), 0);
	assert_int_equal(population_person(pop, person, &pi), 0);
	(void)snprintf(card, cap, "%s", pi.card);
	population_free(pop);
}

/* Every entry of the outbox in dir, decrypted, as one buffer (NULL and *rc if one fails). */
static char *
outbox_plain(const char *dir, size_t *np, size_t *lenp, int *rc)
{
	struct outbox *ob = NULL;
	struct outbox_item *items = NULL;
	uint64_t count = 0;
	size_t n = 0, i, len = 0;
	char *all;

	assert_int_equal(outbox_open(dir, &ob, NULL), 0);
	assert_int_equal(outbox_count(ob, &count), 0);
	*rc = outbox_peek(ob, (size_t)count, &items, &n);
	outbox_close(ob);
	*np = n;
	*lenp = 0;
	if (*rc != 0)
		return NULL;
	for (i = 0; i < n; i++)
		len += items[i].len;
	assert_non_null(all = calloc(1, len + 1));
	for (len = 0, i = 0; i < n; i++) {
		memcpy(all + len, items[i].data, items[i].len);
		len += items[i].len;
	}
	*lenp = len;
	outbox_items_free(items, n);
	return all;
}

/* Whether needle's bytes are anywhere in any file under dir (a plain byte scan). */
static int
bytes_in_tree(const char *dir, const char *needle)
{
	char path[1200];
	struct dirent *de;
	struct stat st;
	DIR *dp;
	int found = 0;

	assert_non_null(dp = opendir(dir));
	while (!found && (de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(lstat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			found = bytes_in_tree(path, needle);
		} else if (S_ISREG(st.st_mode)) {
			size_t len = 0;
			char *b = h_read_file(path, &len);

			found = b != NULL && memmem(b, len, needle, strlen(needle)) != NULL;
			free(b);
		}
	}
	closedir(dp);
	return found;
}

static void
copy_tree(const char *from, const char *to)
{
	char cmd[2600];

	(void)snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

static void
test_kiosk_forgets(void **state)
{
	char kdir[700], old[700], mixed[700], cmd[4000], card[8][32], *out = NULL, *plain;
	size_t n, len, i;
	int rc;

	(void)state;
	h_deploy(&dep, NULL);
	(void)snprintf(kdir, sizeof(kdir), "%s/%s", dep.work, KIOSK);
	(void)snprintf(old, sizeof(old), "%s/before-purge", dep.dir);
	(void)snprintf(mixed, sizeof(mixed), "%s/old-store-new-key", dep.dir);
	for (i = 0; i < 3; i++)
		card_of(61, (uint32_t)i, card[i], sizeof(card[i]));
	for (i = 0; i < 2; i++)
		card_of(62, (uint32_t)i, card[3 + i], sizeof(card[3 + i]));

	/* Three travellers from T0 (at 00:00, 02:00, 04:00), the daily purge 20 h later (nothing
	 * old enough yet), two more travellers 40 h after T0; the hub never answers any of them. */
	assert_int_equal(kiosk_run(T0, "3", "61", &out), 1);
	assert_int_equal(h_json_num(out, "queued"), 3);
	free(out);
	{
		const char *argv[] = {"paso-kiosk", "purge", "--workdir", dep.work, "--clock",
			"2027-01-01T20:00:00Z", "--keep-hours", "72", NULL};
		assert_int_equal(h_run(&out, argv), 0);
		assert_non_null(strstr(out, "erased 0 captures"));
		free(out);
	}
	assert_int_equal(kiosk_run("2027-01-02T16:00:00Z", "2", "62", &out), 1);
	assert_int_equal(h_json_num(out, "queued"), 2);
	free(out);
	/* Control: the kiosk holds all five, and their card numbers open with its key. */
	plain = outbox_plain(kdir, &n, &len, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 5);
	for (i = 0; i < 5; i++)
		assert_non_null(memmem(plain, len, card[i], strlen(card[i])));
	free(plain);
	copy_tree(kdir, old); /* what a thief copying the kiosk's disk today would have */

	/* T0 + 78 h with a 72 h limit: the first three (00:00..04:00 on day 0) are past it. */
	{
		const char *argv[] = {"paso-kiosk", "purge", "--workdir", dep.work, "--clock",
			"2027-01-04T06:00:00Z", "--keep-hours", "72", NULL};
		assert_int_equal(h_run(&out, argv), 0);
	}
	fprintf(stderr, "%s", out);
	assert_non_null(strstr(out, "kiosk " KIOSK ": erased 3 captures"));
	assert_non_null(strstr(out, "2 kept"));
	free(out);

	/* The survivors are intact and open; the erased are nowhere. */
	plain = outbox_plain(kdir, &n, &len, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 2);
	for (i = 0; i < 5; i++)
		assert_true((memmem(plain, len, card[i], strlen(card[i])) != NULL) == (i >= 3));
	free(plain);
	for (i = 0; i < 5; i++)
		assert_false(bytes_in_tree(dep.work, card[i])); /* sealed or gone: never plain */
	/* The old copy's rows with the key the kiosk holds now: nothing opens. */
	(void)snprintf(cmd, sizeof(cmd),
		"mkdir -p '%s' && cp '%s/data.mdb' '%s/' && cp '%s/outbox.key' '%s/'", mixed, old,
		mixed, kdir, mixed);
	assert_int_equal(system(cmd), 0);
	plain = outbox_plain(mixed, &n, &len, &rc);
	assert_null(plain);
	assert_int_equal(rc, PASO_E_CRYPTO);
	/* and the old key is gone from the kiosk: it differs from the one the copy holds */
	{
		char a[800], b[800];
		size_t la = 0, lb = 0;
		char *ka, *kb;

		(void)snprintf(a, sizeof(a), "%s/outbox.key", old);
		(void)snprintf(b, sizeof(b), "%s/outbox.key", kdir);
		ka = h_read_file(a, &la);
		kb = h_read_file(b, &lb);
		assert_int_equal(la, 32);
		assert_int_equal(lb, 32);
		assert_true(memcmp(ka, kb, 32) != 0);
		free(ka);
		free(kb);
		(void)snprintf(a, sizeof(a), "%s/outbox.key.next", kdir);
		assert_int_not_equal(access(a, F_OK), 0);
	}
	/* With the old key the old copy opens: the erasure is the key's destruction. */
	plain = outbox_plain(old, &n, &len, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(memmem(plain, len, card[0], strlen(card[0])));
	free(plain);

	/* 25 h later the purge has not run again: the kiosk refuses to capture, and says why. */
	assert_int_equal(kiosk_run("2027-01-05T07:00:00Z", "1", "63", &out), 1);
	fprintf(stderr, "%s", out);
	assert_non_null(strstr(out, "kiosk " KIOSK " refuses to capture"));
	assert_non_null(strstr(out, "purge"));
	assert_non_null(strstr(out, "2027-01-04T06:00:00Z"));
	assert_null(strstr(out, "\"queued\""));
	free(out);
	plain = outbox_plain(kdir, &n, &len, &rc);
	assert_int_equal(n, 2); /* nothing captured */
	free(plain);
	/* Once the purge runs, it captures again. */
	{
		const char *argv[] = {"paso-kiosk", "purge", "--workdir", dep.work, "--clock",
			"2027-01-05T07:00:00Z", NULL};
		assert_int_equal(h_run(&out, argv), 0);
		assert_non_null(strstr(out, "(older than 72 h)")); /* the limit was kept */
		free(out);
	}
	assert_int_equal(kiosk_run("2027-01-05T07:00:00Z", "1", "63", &out), 1);
	assert_int_equal(h_json_num(out, "queued"), 1);
	free(out);
	h_cleanup(&dep);
}

/* Bad arguments are refused by name and change nothing. */
static void
test_purge_bad_arguments(void **state)
{
	char *out = NULL;

	(void)state;
	{
		const char *argv[] = {"paso-kiosk", "purge", "--keep-hours", "0", NULL};
		assert_int_equal(h_run(&out, argv), 2);
		assert_non_null(strstr(out, "--keep-hours: a whole number 1..8760: '0'"));
		free(out);
	}
	{
		const char *argv[] = {"paso-kiosk", "purge", "--clock", "yesterday", NULL};
		assert_int_equal(h_run(&out, argv), 2);
		assert_non_null(strstr(out, "--clock"));
		free(out);
	}
	{
		const char *argv[] = {
			"paso-kiosk", "purge", "--workdir", "/nonexistent-paso", NULL};
		assert_int_equal(h_run(&out, argv), 1);
		assert_non_null(strstr(out, "/nonexistent-paso"));
		free(out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kiosk_forgets),
		cmocka_unit_test(test_purge_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
