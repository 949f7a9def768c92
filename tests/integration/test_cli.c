/* SPDX-License-Identifier: Apache-2.0 */
/* Bad command lines: each program names the bad argument, exits 2 (usage) or 1, and changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static void
expect(int code, const char *needle, const char *const argv[])
{
	char *out = NULL;
	int st = h_run(&out, argv);

	if (st != code || strstr(out, needle) == NULL)
		fail_msg("%s %s: exit %d (want %d), output lacks '%s':\n%s", argv[0], argv[1], st,
			code, needle, out);
	free(out);
}

static void
test_bad_arguments_are_named(void **state)
{
	struct deployment dep;

	(void)state;
	h_deploy(&dep, NULL);
	{
		const char *a[] = {"paso-hub", "frob", NULL};
		expect(2, "unknown command 'frob'", a);
	}
	{
		const char *a[] = {"paso-hub", "serve", dep.hub, "--port", "70000", NULL};
		expect(2, "'70000'", a);
	}
	{
		const char *a[] = {"paso-hub", "serve", dep.hub, "--dedup-nice", "20", NULL};
		expect(2, "--dedup-nice: 0..19: '20'", a);
	}
	{
		const char *a[] = {
			"paso-hub", "init", "/tmp/paso-never-made", "--name", "Bad Name!", NULL};
		expect(1, "'Bad Name!'", a);
		assert_int_equal(access("/tmp/paso-never-made", F_OK), -1);
	}
	{
		const char *a[] = {"paso-hub", "init", dep.hub, NULL};
		expect(1, "not empty", a);
	}
	{
		const char *a[] = {"paso-hub", "issue", dep.hub, "--kiosk", "../escape", NULL};
		expect(1, "'../escape'", a);
	}
	{
		const char *a[] = {"paso-hub", "policy", PASO_TEST_DATA "/../../README.md", NULL};
		expect(1, "README.md:", a);
	}
	{
		const char *a[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			"127.0.0.1:1", "--people", "abc", NULL};
		expect(2, "'abc'", a);
	}
	{
		const char *a[] = {
			"paso-kiosk", "run", "--deployment", dep.hub, "--hub", "localhost", NULL};
		expect(2, "'localhost'", a);
	}
	{
		const char *a[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			"127.0.0.1:1", "--capture", "fingers", NULL};
		expect(2, "'fingers'", a);
	}
	{
		const char *a[] = {"paso-audit", "verify", "/nonexistent", NULL};
		expect(2, "/nonexistent", a);
	}
	{
		const char *a[] = {"paso-hub", "sweep", dep.hub, NULL};
		expect(2, "only --dry-run", a);
	}
	{
		const char *a[] = {"paso-hub", "sweep", dep.hub, "--dry-run", "--now", NULL};
		expect(2, "'--now'", a);
	}
	{
		const char *a[] = {"paso-hub", "sweep", "/nonexistent", "--dry-run", NULL};
		expect(1, "/nonexistent", a);
	}
	{
		const char *a[] = {"paso-hub", "sweep", dep.hub, "--dry-run", NULL};
		expect(0, "nothing is due", a);
	}
	/* None of that touched the deployment: its log still verifies, unchanged. */
	{
		const char *a[] = {"paso-audit", "verify", dep.hub, NULL};
		expect(0, "audit log OK", a);
	}
	h_cleanup(&dep);
}

/*
 * Key custody: the audit signing key lives in DIR/signer (0700, the key 0600), never among the
 * record keys in DIR/keys, and the hub refuses to start when its custody is loosened or the key
 * sits in keys/ again (saying how to move it). Every refusal names the file and changes nothing.
 */
static void
test_signing_key_kept_apart(void **state)
{
	struct deployment dep;
	char signer[700], skey[720], oldkey[720], *text, *other;
	struct dirent *de;
	struct stat st;
	DIR *dp;

	(void)state;
	h_deploy(&dep, NULL);
	(void)snprintf(signer, sizeof(signer), "%s/signer", dep.hub);
	(void)snprintf(skey, sizeof(skey), "%s/audit.skey", signer);
	(void)snprintf(oldkey, sizeof(oldkey), "%s/keys/audit.skey", dep.hub);
	assert_int_equal(stat(signer, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(skey, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(access(oldkey, F_OK), -1);
	/* No file among the record keys holds the signing key. */
	assert_non_null(text = h_read_file(skey, NULL));
	{
		char keys[700], path[1000];

		(void)snprintf(keys, sizeof(keys), "%s/keys", dep.hub);
		assert_non_null(dp = opendir(keys));
		while ((de = readdir(dp)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			(void)snprintf(path, sizeof(path), "%s/%s", keys, de->d_name);
			other = h_read_file(path, NULL);
			assert_non_null(other);
			assert_null(strstr(other, text));
			free(other);
		}
		closedir(dp);
	}
	free(text);
	{
		const char *a[] = {"paso-hub", "serve", dep.hub, "--port", "0", NULL};

		assert_int_equal(chmod(skey, 0640), 0);
		expect(1, "audit.skey: not a regular file with permissions 0600 (found 0640)", a);
		assert_int_equal(chmod(skey, 0600), 0);
		assert_int_equal(chmod(signer, 0750), 0);
		expect(1, "signer: permissions 0750 are too open, want 0700", a);
		assert_int_equal(chmod(signer, 0700), 0);
		/* The old layout: the key beside the record keys. */
		assert_int_equal(rename(skey, oldkey), 0);
		assert_int_equal(rmdir(signer), 0);
		expect(1, "kept apart from the record keys", a);
		assert_int_equal(mkdir(signer, 0700), 0);
		assert_int_equal(rename(oldkey, skey), 0);
	}
	/* Moved back, the deployment serves and its log verifies. */
	h_hub_start(&dep, 0);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	{
		const char *a[] = {"paso-audit", "verify", dep.hub, NULL};
		expect(0, "audit log OK", a);
	}
	h_cleanup(&dep);
}

/*
 * A damaged hub certificate is named before any sealed record is opened: serve refuses, and the
 * audit log gains no RECORD_READ entry (the hub's start opens every record and logs that first).
 */
static void
test_damaged_certificate_named_first(void **state)
{
	struct deployment dep;
	char crt[700], *pem, *out = NULL;
	size_t len, before;
	FILE *f;

	(void)state;
	h_deploy(&dep, NULL);
	h_hub_start(&dep, 0);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	{
		const char *a[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&out, a), 0);
		before = h_count(out, "RECORD_READ");
		free(out);
	}
	assert_true(before >= 1);
	(void)snprintf(crt, sizeof(crt), "%s/hub/hub.crt", dep.hub);
	assert_non_null(pem = h_read_file(crt, &len));
	pem[len / 2] = pem[len / 2] == 'A' ? 'B' : 'A'; /* one base64 character of the body */
	assert_non_null(f = fopen(crt, "wb"));
	assert_int_equal(fwrite(pem, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(pem);
	{
		const char *a[] = {"paso-hub", "serve", dep.hub, "--port", "0", NULL};
		expect(1, "hub.crt: damaged", a);
	}
	{
		const char *a[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&out, a), 0);
		assert_int_equal(h_count(out, "RECORD_READ"), before);
		free(out);
	}
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments_are_named),
		cmocka_unit_test(test_signing_key_kept_apart),
		cmocka_unit_test(test_damaged_certificate_named_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
