/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hub core from outside: the hub's own (simulated) clock decides times and expiries, a
 * kiosk's capture time outside the window is refused, the clock moves only forward and only
 * when told, and under steady pipelined load a revocation is logged and SIGTERM stops the hub
 * within 2 s with everything acknowledged durable.
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "client.h"
#include "harness.h"
#include "keyring.h"
#include "policy.h"
#include "population.h"
#include "vault.h"

#define T2027 1798761600ull /* 2027-01-01T00:00:00Z */

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends an enrolment of person with capture time t; returns the answer (caller frees). */
static Paso__Envelope *
enrol_at(struct tls_conn *c, uint64_t seq, uint32_t person, uint64_t t)
{
	Paso__Envelope env;

	c_make_enroll(&env, "kiosk-ciudad-hidalgo", seq, person);
	env.enroll->capture->capture_time = t;
	assert_int_equal(c_send(c, &env), 0);
	c_free_enroll(&env);
	return c_recv(c);
}

static void
expect_refused(Paso__Envelope *a, int code, const char *const *needles)
{
	assert_non_null(a);
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
	assert_int_equal(a->error->code, code);
	for (; *needles != NULL; needles++) {
		if (strstr(a->error->message, *needles) == NULL)
			fail_msg("'%s' not in '%s'", *needles, a->error->message);
	}
	paso__envelope__free_unpacked(a, NULL);
}

/* The sealed record of person's card, read offline from the stopped hub's store. */
static Paso__SubjectRecord *
record_of(const struct deployment *dep, uint32_t person)
{
	struct population *pop = NULL;
	struct person_info pi;
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct vault_txn *t = NULL;
	struct paso_diag d = {0};
	char keys[700];
	uint8_t id[VAULT_ID_BYTES], *rec = NULL;
	size_t len = 0;
	Paso__SubjectRecord *sr;

	assert_int_equal(population_new(5, person + 1, &pop), 0);
	assert_int_equal(population_person(pop, person, &pi), 0);
	(void)snprintf(keys, sizeof(keys), "%s/keys", dep->hub);
	assert_int_equal(keyring_open(keys, &kr, &d), 0);
	assert_int_equal(vault_open(dep->hub, kr, &v, &d), 0);
	assert_int_equal(vault_begin(v, 1, &t), 0);
	assert_int_equal(vault_card_lookup(t, pi.card, id), 0);
	assert_int_equal(vault_subject_get(t, id, &rec, &len), 0);
	sr = paso__subject_record__unpack(NULL, len, rec);
	vault_free_record(rec, len);
	vault_abort(t);
	vault_close(v);
	keyring_close(kr);
	population_free(pop);
	assert_non_null(sr);
	return sr;
}

static void
test_hub_clock_decides(void **state)
{
	struct deployment dep;
	const char *const sim[] = {"--clock", "sim:2027-01-01T00:00:00Z", NULL};
	struct tls_conn *c;
	Paso__Envelope *a;
	Paso__SubjectRecord *sr;
	struct policy *pol = NULL;
	struct paso_diag d = {0};
	char polfile[700], *out = NULL;
	uint64_t days;
	int rc;

	(void)state;
	h_deploy(&dep, NULL);
	h_hub_start_ex(&dep, 0, sim);
	assert_non_null(c = c_connect(dep.hub, "kiosk-ciudad-hidalgo", dep.port, &rc));
	/* A capture an hour after the hub's time: inside the window. */
	a = enrol_at(c, 1, 0, T2027 + 3600);
	assert_non_null(a);
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
	paso__envelope__free_unpacked(a, NULL);
	/* A kiosk clock at 1970 and one near 2^64: refused, naming the field and both times. */
	{
		const char *const n1[] = {"capture_time", "1970-01-01T00:00:01Z",
			"2027-01-01T00:00:00Z", "window", NULL};
		const char *const n2[] = {"capture_time", "past 9999", NULL};

		expect_refused(enrol_at(c, 2, 1, 1), PASO_E_FIELD_RANGE, n1);
		expect_refused(enrol_at(c, 3, 1, UINT64_MAX - 5), PASO_E_FIELD_RANGE, n2);
	}
	/* The clock moves forward when told, never back. */
	{
		const char *argv[] = {"paso-hub", "clock", dep.hub, "--advance", "2d", NULL};
		assert_int_equal(h_run(&out, argv), 0);
		assert_non_null(strstr(out, "2027-01-03T00:00:00Z"));
		free(out);
	}
	{
		const char *argv[] = {
			"paso-hub", "clock", dep.hub, "--set", "2026-06-01T00:00:00Z", NULL};
		assert_int_equal(h_run(&out, argv), 1);
		assert_non_null(strstr(out, "FIELD_RANGE"));
		assert_non_null(strstr(out, "backward"));
		free(out);
	}
	{
		const char *argv[] = {"paso-hub", "clock", dep.hub, "--advance", "soon", NULL};
		assert_int_equal(h_run(&out, argv), 2);
		assert_non_null(strstr(out, "'soon'"));
		free(out);
	}
	/* A capture stamped at the old time is now two days behind the hub: refused. */
	{
		const char *const n[] = {"2027-01-01T01:00:00Z", "2027-01-03T00:00:00Z", NULL};

		expect_refused(enrol_at(c, 4, 2, T2027 + 3600), PASO_E_FIELD_RANGE, n);
	}
	a = enrol_at(c, 5, 2, T2027 + 2 * 86400 + 60);
	assert_non_null(a);
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
	paso__envelope__free_unpacked(a, NULL);
	tls_conn_shutdown(c);
	tls_conn_free(c);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);

	/* The records carry the hub's times; expiry = acceptance + the policy's days. */
	(void)snprintf(polfile, sizeof(polfile), "%s/policy.yaml", dep.hub);
	assert_int_equal(policy_load_file(polfile, &pol, &d), 0);
	days = policy_retention_days(pol, POLICY_REC_ENROLMENT);
	policy_free(pol);
	sr = record_of(&dep, 0);
	assert_int_equal(sr->enrolled_at, T2027);
	assert_int_equal(sr->captured_at, T2027 + 3600);
	assert_int_equal(sr->expires_at, T2027 + days * 86400);
	paso__subject_record__free_unpacked(sr, NULL);
	sr = record_of(&dep, 2);
	assert_int_equal(sr->enrolled_at, T2027 + 2 * 86400);
	assert_int_equal(sr->expires_at, T2027 + 2 * 86400 + days * 86400);
	paso__subject_record__free_unpacked(sr, NULL);
	{
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&out, argv), 0);
		assert_true(h_count(out, "CLOCK_SET") >= 2);           /* the start, the advance */
		assert_true(h_count(out, "\"time\":1798934400") >= 1); /* 2027-01-03 */
		free(out);
	}
	/* A simulated clock cannot start before what the deployment recorded; "sim" resumes. */
	{
		const char *argv[] = {"paso-hub", "serve", dep.hub, "--port", "0", "--clock",
			"sim:2027-01-01T00:00:00Z", NULL};
		assert_int_equal(h_run(&out, argv), 1);
		assert_non_null(strstr(out, "2027-01-03T00:00:00Z"));
		free(out);
	}
	{
		const char *const resume[] = {"--clock", "sim", NULL};
		const char *argv[] = {"paso-hub", "clock", dep.hub, NULL};

		h_hub_start_ex(&dep, 0, resume);
		assert_int_equal(h_run(&out, argv), 0);
		assert_non_null(strstr(out, "2027-01-03T00:00:00Z"));
		free(out);
		assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	}
	{
		const char *argv[] = {"paso-audit", "verify", dep.hub, NULL};
		assert_int_equal(h_run(NULL, argv), 0);
	}
	h_cleanup(&dep);
}

/*
 * Deduplication runs off the commit loop, on the connection's thread; two enrolments of one
 * person in flight at once (pipelined, under two cards) are still caught by the loop's check
 * of what was added since the search.
 */
static void
duplicates_in_flight(const char *const *extra)
{
	struct deployment dep;
	struct tls_conn *c;
	Paso__Envelope env, *a, *b;
	uint64_t now = (uint64_t)time(NULL);
	char other[] = "MX-SECOND-CARD-7";
	int rc, round;

	h_deploy(&dep, NULL);
	h_hub_start_ex(&dep, 0, extra);
	assert_non_null(c = c_connect(dep.hub, "kiosk-ciudad-hidalgo", dep.port, &rc));
	/* Someone enrolled before, so the gallery is not empty. */
	a = enrol_at(c, 1, 3, now);
	assert_non_null(a);
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
	paso__envelope__free_unpacked(a, NULL);
	for (round = 0; round < 3; round++) {
		uint32_t person = 10 + (uint32_t)round;

		c_make_enroll_capture(
			&env, "kiosk-ciudad-hidalgo", 2 + 2 * (uint64_t)round, person, 0);
		env.enroll->capture->capture_time = now;
		assert_int_equal(c_send(c, &env), 0);
		c_free_enroll(&env);
		c_make_enroll_capture(
			&env, "kiosk-ciudad-hidalgo", 3 + 2 * (uint64_t)round, person, 1);
		env.enroll->capture->capture_time = now;
		other[strlen(other) - 1] = (char)('0' + round);
		env.enroll->card_number = other;
		assert_int_equal(c_send(c, &env), 0);
		c_free_enroll(&env);
		assert_non_null(a = c_recv(c));
		assert_non_null(b = c_recv(c));
		assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
		assert_int_equal(b->body_case, PASO__ENVELOPE__BODY_ERROR);
		assert_int_equal(b->error->code, PASO_E_DUPLICATE);
		paso__envelope__free_unpacked(a, NULL);
		paso__envelope__free_unpacked(b, NULL);
	}
	tls_conn_shutdown(c);
	tls_conn_free(c);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	h_cleanup(&dep);
}

static void
test_duplicates_in_flight(void **state)
{
	(void)state;
	duplicates_in_flight(NULL);
}

/* The same with fingers in the store: enrolments' finger templates deferred, recent without
 * fingers in memory (face and irises catch the second enrolment). */
static void
test_duplicates_in_flight_fingers_in_store(void **state)
{
	const char *const sto[] = {"--fingers", "store", NULL};

	(void)state;
	duplicates_in_flight(sto);
}

/* Runs a finger-only population through a hub started with extra; returns the kiosk's JSON. */
static char *
finger_run(const char *const *extra, char **auditp)
{
	struct deployment dep;
	char hubaddr[64], *out = NULL;
	int st;

	h_deploy(&dep, NULL);
	h_hub_start_ex(&dep, 0, extra);
	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)dep.port);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--people", "60", "--crossings", "150", "--identify", "20",
			"--impostor-rate", "0.1", "--capture", "finger", "--seed", "51",
			"--workdir", dep.work, "--json", NULL};
		st = h_run(&out, argv);
		fprintf(stderr, "kiosk: %s\n", out);
		assert_int_equal(st, 0);
	}
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	{
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		assert_int_equal(h_run(auditp, argv), 0);
	}
	{
		const char *argv[] = {"paso-audit", "verify", dep.hub, NULL};
		assert_int_equal(h_run(NULL, argv), 0);
	}
	h_cleanup(&dep);
	return out;
}

/*
 * Fingers kept in the sealed store (serve --fingers store) change where templates live, not
 * what is decided: the same finger-only traffic gets the same verifications, identifications
 * and refusals as with fingers in memory, and every record opened for its fingers is logged,
 * as is every comparison that used fingers kept from an earlier opening.
 */
static void
test_fingers_in_store(void **state)
{
	const char *const mem[] = {"--fingers", "memory", NULL};
	const char *const sto[] = {"--fingers", "store", NULL};
	const char *keys[] = {"acked", "refused", "genuine", "genuine_verified", "impostor",
		"impostor_verified", "identified_right", "unenrolled_identified", "duplicates"};
	char *a, *b, *la = NULL, *lb = NULL;
	size_t i;

	(void)state;
	a = finger_run(mem, &la);
	b = finger_run(sto, &lb);
	assert_true(h_json_num(a, "genuine") > 100);
	assert_true(h_json_num(a, "genuine_verified") > 100);
	assert_int_equal(h_json_num(a, "impostor_verified"), 0);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (h_json_num(a, keys[i]) != h_json_num(b, keys[i]))
			fail_msg("%s: %lld with fingers in memory, %lld in the store", keys[i],
				h_json_num(a, keys[i]), h_json_num(b, keys[i]));
	assert_int_equal(h_count(la, "to compare the fingers of match candidates"), 0);
	assert_true(h_count(lb, "to compare the fingers of match candidates") >= 1);
	/* travellers crossing again were compared from fingers kept (--finger-cache-mb, default
	 * on): the same decisions, and the log says so */
	assert_true(h_count(lb, "used fingers opened earlier and held in memory") >= 1);
	free(a);
	free(b);
	free(la);
	free(lb);
}

/* Polls the audit log until it holds needle; returns the seconds it took, or -1. */
static double
wait_for_entry(const struct deployment *dep, const char *needle, double limit)
{
	double t0 = mono();
	char *out = NULL;
	size_t n;

	while (mono() - t0 < limit) {
		const char *argv[] = {"paso-audit", "show", dep->hub, "--json", NULL};
		(void)h_run(&out, argv);
		n = h_count(out, needle);
		free(out);
		out = NULL;
		if (n > 0)
			return mono() - t0;
		usleep(50000);
	}
	return -1;
}

static void
test_under_load(void **state)
{
	struct deployment dep;
	char hubaddr[64], kout[700], *kjson = NULL, *stats = NULL, *out = NULL;
	pid_t kiosk;
	double t0, took;
	uint16_t port;
	int st;

	(void)state;
	h_deploy(&dep, NULL);
	{
		const char *argv[] = {"paso-hub", "issue", dep.hub, "--kiosk", "kiosk-spare", NULL};
		assert_int_equal(h_run(NULL, argv), 0);
	}
	h_hub_start(&dep, 0);
	port = dep.port;
	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)port);
	(void)snprintf(kout, sizeof(kout), "%s/kiosk.json", dep.dir);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--people", "200", "--crossings", "20000", "--identify", "0",
			"--seed", "41", "--workdir", dep.work, "--give-up", "60", "--json", NULL};
		kiosk = h_spawn(kout, argv);
	}
	/* Steady pipelined crossing load from several kiosks: once everyone is enrolled. */
	t0 = mono();
	for (;;) {
		const char *argv[] = {"paso-hub", "stats", dep.hub, "--json", NULL};

		(void)h_run(&stats, argv);
		st = (int)h_json_num(stats, "subjects");
		free(stats);
		stats = NULL;
		if (st >= 200)
			break;
		if (mono() - t0 > 300)
			fail_msg("enrolment did not finish in 300 s");
		usleep(200000);
	}
	sleep(1);
	if (waitpid(kiosk, &st, WNOHANG) == kiosk)
		fail_msg("kiosks finished before the load test could run; enlarge the load");
	/* A revocation under load is logged within 2 s. */
	{
		const char *argv[] = {
			"paso-hub", "revoke", dep.hub, "--kiosk", "kiosk-spare", NULL};
		assert_int_equal(h_run(NULL, argv), 0);
	}
	took = wait_for_entry(&dep, "kiosk-spare' revoked", 5.0);
	fprintf(stderr, "revocation logged under load after %.2f s\n", took);
	assert_true(took >= 0 && took <= 2.0);
	if (waitpid(kiosk, &st, WNOHANG) == kiosk)
		fail_msg("kiosks finished before SIGTERM; enlarge the load");
	/* SIGTERM under that load stops the hub cleanly within 2 s. */
	t0 = mono();
	st = h_hub_stop(&dep, SIGTERM);
	took = mono() - t0;
	fprintf(stderr, "hub stopped under load after %.2f s (status %d)\n", took, st);
	assert_int_equal(st, 0);
	assert_true(took <= 2.0);
	/* Nothing acknowledged is lost: the hub comes back, the kiosks drain, counts are exact. */
	h_hub_start(&dep, port);
	st = h_wait(kiosk);
	kjson = h_read_file(kout, NULL);
	fprintf(stderr, "kiosk: %s\n", kjson ? kjson : "(none)");
	assert_int_equal(st, 0);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	assert_int_equal(h_json_num(kjson, "acked"), h_json_num(kjson, "queued"));
	{
		const char *argv[] = {"paso-hub", "stats", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&stats, argv), 0);
	}
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
	free(stats);
	free(kjson);
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_clock_decides),
		cmocka_unit_test(test_duplicates_in_flight),
		cmocka_unit_test(test_duplicates_in_flight_fingers_in_store),
		cmocka_unit_test(test_fingers_in_store),
		cmocka_unit_test(test_under_load),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
