/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fleet from one command: paso-kiosk runs 64 kiosks with their own certificates (issued for
 * the ones that lack one) against one hub, and a kiosk restarted with --people 0 drains what its
 * outbox kept from a run that could not reach the hub.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static void
test_fleet_of_64(void **state)
{
	struct deployment dep;
	char hubaddr[64], path[800], name[32], *out = NULL, *stats = NULL;
	int i, st;

	(void)state;
	h_deploy(&dep, NULL);
	h_hub_start(&dep, 0);
	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)dep.port);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--fleet", "64", "--people", "128", "--crossings", "64",
			"--identify", "0", "--seed", "4", "--workdir", dep.work, NULL};
		st = h_run(&out, argv);
	}
	fprintf(stderr, "%s", out);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "paso-kiosk: 64 kiosks"));
	assert_non_null(strstr(out, "192 sent, 192 acknowledged, 0 refused"));
	/* Each kiosk had its own certificate and its own line: no two shared an identity. */
	for (i = 1; i <= 64; i++) {
		(void)snprintf(name, sizeof(name), "fleet-%04d ", i);
		assert_int_equal(h_count(out, name), 1);
		(void)snprintf(path, sizeof(path), "%s/kiosks/fleet-%04d.crt", dep.hub, i);
		assert_int_equal(access(path, F_OK), 0);
	}
	free(out);
	{
		const char *argv[] = {"paso-hub", "stats", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&stats, argv), 0);
	}
	assert_int_equal(h_json_num(stats, "messages_seen"), 192);
	free(stats);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	h_cleanup(&dep);
}

static void
test_drain_with_people_0(void **state)
{
	struct deployment dep;
	char hubaddr[64], *out = NULL;
	int st;

	(void)state;
	h_deploy(&dep, NULL);
	/* No hub yet: the captures stay sealed in the outbox and the kiosk gives up. */
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			"127.0.0.1:1", "--kiosks", "kiosk-talisman", "--people", "20",
			"--crossings", "0", "--identify", "0", "--workdir", dep.work, "--give-up",
			"1", "--json", NULL};
		st = h_run(&out, argv);
	}
	assert_int_equal(st, 1);
	assert_int_equal(h_json_num(out, "queued"), 20);
	assert_int_equal(h_json_num(out, "acked"), 0);
	free(out);
	h_hub_start(&dep, 0);
	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)dep.port);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--kiosks", "kiosk-talisman", "--people", "0", "--workdir",
			dep.work, "--json", NULL};
		st = h_run(&out, argv);
	}
	fprintf(stderr, "%s", out);
	assert_int_equal(st, 0);
	assert_int_equal(h_json_num(out, "queued"), 0);
	assert_int_equal(h_json_num(out, "acked"), 20);
	free(out);
	/* Unknown names are refused with the way to get a certificate; bad names are named. */
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--kiosks", "kiosk-nowhere", "--people", "0", "--workdir",
			dep.work, NULL};
		st = h_run(&out, argv);
		assert_int_equal(st, 1);
		assert_non_null(strstr(out, "paso-hub issue"));
		assert_non_null(strstr(out, "kiosk-nowhere.crt"));
		free(out);
	}
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--kiosks", "kiosk-talisman,../x", NULL};
		st = h_run(&out, argv);
		assert_int_equal(st, 2);
		assert_non_null(strstr(out, "'../x'"));
		free(out);
	}
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--fleet", "1025", NULL};
		st = h_run(&out, argv);
		assert_int_equal(st, 2);
		assert_non_null(strstr(out, "'1025'"));
		free(out);
	}
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fleet_of_64),
		cmocka_unit_test(test_drain_with_people_0),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
