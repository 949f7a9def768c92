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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "errors.h"
#include "harness.h"

/* Entries the hub's audit log holds on disk: its offsets file has 8 bytes an entry. */
static uint64_t
logged_entries(const struct deployment *dep)
{
	char path[700];
	struct stat st;

	(void)snprintf(path, sizeof(path), "%s/audit/offsets", dep->hub);
	return stat(path, &st) == 0 ? (uint64_t)st.st_size / 8 : 0;
}

/*
 * Waits until the hub has logged at least n entries, so that a kill lands in the middle of the
 * load however fast the machine is. Fails if the kiosks finish first or after 60 s.
 */
static void
wait_for_entries(const struct deployment *dep, pid_t kiosk, uint64_t n)
{
	int st, i;

	for (i = 0; i < 6000 && logged_entries(dep) < n; i++) {
		if (waitpid(kiosk, &st, WNOHANG) == kiosk)
			fail_msg(
				"kiosks finished before the hub logged %llu entries; enlarge the load",
				(unsigned long long)n);
		usleep(10000);
	}
	assert_true(logged_entries(dep) >= n);
}

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
			hubaddr, "--people", "1000", "--crossings", "8000", "--identify", "0",
			"--seed", "21", "--workdir", dep.work, "--give-up", "90", "--json", NULL};
		kiosk = h_spawn(kout, argv);
	}
	/* Kill the hub twice while the kiosks are sending (after 1,500 entries, then 3,000 more
	 * than the restarted hub found), restarting it each time. */
	while (kills < 2) {
		wait_for_entries(&dep, kiosk, kills == 0 ? 1500 : logged_entries(&dep) + 3000);
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
	assert_true(h_json_num(kjson, "enrolled") >= 980);
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

/*
 * Messages that arrive while the hub stops get SHUTTING_DOWN with their seq, and nothing of them
 * is kept: a kiosk pipelines a window of enrolments, the hub is told to stop before it has read
 * them all; every message is answered (an Ack, or SHUTTING_DOWN for the rest, in order), and after
 * a restart the refused ones are new to the hub.
 */
#define PIPELINED 72

static void
test_stop_answers_shutting_down(void **state)
{
	struct deployment dep;
	Paso__Envelope env, *a;
	struct tls_conn *c;
	uint64_t i, seq, base, acked = 0, refused = 0, first_refused = 0, here;
	char *stats = NULL, *log;
	int rc, attempt;

	(void)state;
	h_deploy(&dep, NULL);
	/* A fast hub may answer all before it sees the signal: then again, up to three times. */
	for (attempt = 0; attempt < 3 && refused == 0; attempt++) {
		h_hub_start(&dep, 0);
		assert_non_null(c = c_connect(dep.hub, "kiosk-el-ceibo", dep.port, &rc));
		base = (uint64_t)attempt * PIPELINED;
		for (i = 1; i <= PIPELINED; i++) {
			c_make_enroll(&env, "kiosk-el-ceibo", base + i, (uint32_t)(200 + base + i));
			assert_int_equal(c_send(c, &env), 0);
			c_free_enroll(&env);
		}
		kill(dep.hub_pid, SIGTERM); /* 64 in flight at most: the last ones wait unread */
		for (here = 0, i = 1; i <= PIPELINED; i++) {
			seq = base + i;
			if ((a = c_recv(c)) == NULL)
				fail_msg("answer to seq %llu missing: the hub closed without it",
					(unsigned long long)seq);
			if (a->body_case == PASO__ENVELOPE__BODY_ACK) {
				assert_int_equal(a->ack->seq, seq);
				assert_int_equal(here, 0); /* answers come in order */
				acked++;
			} else {
				assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
				assert_int_equal(a->error->code, PASO_E_SHUTTING_DOWN);
				assert_int_equal(a->error->seq, seq);
				assert_int_equal(a->seq, seq);
				assert_non_null(strstr(
					a->error->message, "nothing of this message was kept"));
				if (here++ == 0)
					first_refused = seq;
			}
			paso__envelope__free_unpacked(a, NULL);
		}
		assert_null(c_recv(c)); /* then the connection closes */
		tls_conn_free(c);
		refused += here;
		fprintf(stderr, "attempt %d: %llu acknowledged, %llu refused with SHUTTING_DOWN\n",
			attempt + 1, (unsigned long long)(PIPELINED - here),
			(unsigned long long)here);
		assert_int_equal(
			h_hub_stop(&dep, 0), 0); /* signal 0: wait for the stop under way */
	}
	assert_true(refused >= 1);
	log = h_read_file(dep.log, NULL);
	assert_non_null(strstr(log, "refused with SHUTTING_DOWN (not kept)"));
	free(log);
	{
		const char *argv[] = {"paso-hub", "stats", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&stats, argv), 0);
	}
	assert_int_equal(h_json_num(stats, "messages_seen"), (long long)acked);
	free(stats);
	/* Resent to a hub that serves again, a refused message is new: acknowledged, not replayed. */
	h_hub_start(&dep, 0);
	assert_non_null(c = c_connect(dep.hub, "kiosk-el-ceibo", dep.port, &rc));
	c_make_enroll(&env, "kiosk-el-ceibo", first_refused, (uint32_t)(200 + first_refused));
	assert_int_equal(c_send(c, &env), 0);
	c_free_enroll(&env);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
	assert_false(a->ack->replayed);
	paso__envelope__free_unpacked(a, NULL);
	tls_conn_free(c);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_during_load),
		cmocka_unit_test(test_kiosk_loses_its_outbox),
		cmocka_unit_test(test_stop_answers_shutting_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
