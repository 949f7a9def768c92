/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nothing acknowledged is ever lost: the hub is killed with SIGKILL twice in the middle of a
 * load, restarted on the same port, and the kiosks' outboxes drain. Afterwards every message
 * the kiosks were told about is stored exactly once and the audit log still verifies.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static void
test_kill_during_load(void **state)
{
	struct deployment dep;
	char hubaddr[64], kout[700], *kjson, *stats = NULL, *out = NULL;
	uint16_t port;
	pid_t kiosk;
	int st, kills = 0;

	(void)state;
	h_deploy(&dep, NULL);
	h_hub_start(&dep, 0);
	port = dep.port;
	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)port);
	(void)snprintf(kout, sizeof(kout), "%s/kiosk.json", dep.dir);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--people", "500", "--crossings", "3000", "--identify", "0",
			"--seed", "21", "--workdir", dep.work, "--give-up", "90", "--json", NULL};
		kiosk = h_spawn(kout, argv);
	}
	/* Kill the hub twice while the kiosks are sending, restarting it each time. */
	while (kills < 2) {
		usleep(kills == 0 ? 800000 : 1200000);
		if (waitpid(kiosk, &st, WNOHANG) == kiosk)
			fail_msg(
				"kiosks finished before the hub could be killed; enlarge the load");
		assert_int_equal(h_hub_stop(&dep, SIGKILL), -1);
		kills++;
		usleep(300000); /* the kiosks see the hub gone and retry with backoff */
		h_hub_start(&dep, port);
	}
	st = h_wait(kiosk);
	kjson = h_read_file(kout, NULL);
	fprintf(stderr, "kiosk: %s\n", kjson ? kjson : "(none)");
	assert_int_equal(st, 0);
	assert_non_null(kjson);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);

	/* Every message was answered; some were resent after a crash and acknowledged again. */
	assert_int_equal(h_json_num(kjson, "acked") + h_json_num(kjson, "refused"),
		h_json_num(kjson, "queued"));
	assert_true(h_json_num(kjson, "reconnects") >= 1);
	{
		const char *argv[] = {"paso-hub", "stats", dep.hub, "--json", "--recount", NULL};
		assert_int_equal(h_run(&stats, argv), 0);
	}
	fprintf(stderr, "stats: %s\n", stats);
	/* Stored exactly once: one subject per acknowledged enrolment, one event per crossing. */
	assert_true(h_json_num(kjson, "enrolled") >= 490);
	assert_int_equal(h_json_num(stats, "subjects"), h_json_num(kjson, "enrolled"));
	assert_int_equal(h_json_num(stats, "crossings"),
		h_json_num(kjson, "genuine") + h_json_num(kjson, "impostor"));
	assert_int_equal(h_json_num(stats, "messages_seen"), h_json_num(kjson, "acked"));
	{
		const char *argv[] = {"paso-audit", "verify", dep.hub, NULL};
		st = h_run(&out, argv);
		fprintf(stderr, "verify: %s\n", out);
		assert_int_equal(st, 0);
	}
	free(out);
	/* Each start opened the sealed records to load the gallery, and each start says so. */
	{
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&out, argv), 0);
		assert_true(h_count(out, "opening ") >= 3);
		assert_true(h_count(out, "RECORD_READ") >= 4); /* three starts and the recount */
		assert_true(h_count(out, "HUB_START") >= 3);
	}
	free(out);
	free(stats);
	free(kjson);
	h_cleanup(&dep);
}

/* A kiosk whose disk is replaced restarts its numbers at 1: it learns the hub's last number
 * from SEQ_CONFLICT, renumbers its outbox after it, and nothing is lost or refused. */
static void
test_kiosk_loses_its_outbox(void **state)
{
	struct deployment dep;
	char hubaddr[64], work2[700], *first = NULL, *second = NULL, *stats = NULL;

	(void)state;
	h_deploy(&dep, NULL);
	h_hub_start(&dep, 0);
	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)dep.port);
	(void)snprintf(work2, sizeof(work2), "%s/new-disk", dep.dir);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--people", "60", "--crossings", "120", "--identify", "0",
			"--seed", "31", "--workdir", dep.work, "--json", NULL};
		assert_int_equal(h_run(&first, argv), 0);
	}
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--people", "60", "--crossings", "120", "--identify", "0",
			"--seed", "32", "--workdir", work2, "--json", NULL};
		assert_int_equal(h_run(&second, argv), 0);
	}
	fprintf(stderr, "first: %ssecond: %s", first, second);
	assert_int_equal(h_json_num(second, "refused"), 0);
	assert_int_equal(h_json_num(second, "acked"), h_json_num(second, "queued"));
	assert_true(h_json_num(second, "resyncs") >= 1);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	{
		const char *argv[] = {"paso-hub", "stats", dep.hub, "--json", "--recount", NULL};
		assert_int_equal(h_run(&stats, argv), 0);
	}
	assert_int_equal(h_json_num(stats, "messages_seen"),
		h_json_num(first, "acked") + h_json_num(second, "acked"));
	assert_int_equal(h_json_num(stats, "subjects"),
		h_json_num(first, "enrolled") + h_json_num(second, "enrolled"));
	free(first);
	free(second);
	free(stats);
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_during_load),
		cmocka_unit_test(test_kiosk_loses_its_outbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
