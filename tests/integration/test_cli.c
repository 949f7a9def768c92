/* SPDX-License-Identifier: Apache-2.0 */
/* Bad command lines: each program names the bad argument, exits 2 (usage) or 1, and changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments_are_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
