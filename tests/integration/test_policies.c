/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy is data: the same hub binary and the same kiosks, under the minimisation and the
 * card-only presets, keep and decide differently, and a kiosk capturing more than the policy
 * allows is refused.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

#define POLICY(name) PASO_TEST_DATA "/../../policies/" name ".yaml"

/* Runs paso-kiosk with the given extra arguments; returns its JSON summary. */
static char *
run_kiosks(struct deployment *dep, const char *kiosks, const char *capture, const char *people,
	const char *crossings)
{
	char hubaddr[64], *out = NULL;
	const char *argv[] = {"paso-kiosk", "run", "--deployment", dep->hub, "--hub", hubaddr,
		"--people", people, "--crossings", crossings, "--identify", "0", "--impostor-rate",
		"0.05", "--seed", "3", "--workdir", dep->work, "--kiosks", kiosks, "--capture",
		capture, "--json", NULL};

	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)dep->port);
	assert_int_equal(h_run(&out, argv), 0);
	fprintf(stderr, "kiosk: %s", out);
	return out;
}

static char *
stats(struct deployment *dep)
{
	char *out = NULL;
	const char *argv[] = {"paso-hub", "stats", dep->hub, "--json", "--recount", NULL};

	assert_int_equal(h_run(&out, argv), 0);
	fprintf(stderr, "stats: %s", out);
	return out;
}

static void
test_minimal_keeps_fingers_only(void **state)
{
	struct deployment dep;
	char *k, *s, *audit = NULL;

	(void)state;
	h_deploy(&dep, POLICY("minimal"));
	h_hub_start(&dep, 0);
	k = run_kiosks(&dep, "kiosk-ciudad-hidalgo,kiosk-talisman", "finger", "150", "600");
	assert_int_equal(h_json_num(k, "refused"), 0);
	assert_int_equal(h_json_num(k, "enrolled"), 150);
	/* Two index fingers alone still verify genuine travellers and stop impostors. */
	assert_true(h_json_num(k, "genuine_verified") * 100 >= h_json_num(k, "genuine") * 95);
	assert_int_equal(h_json_num(k, "impostor_verified"), 0);
	free(k);
	/* A kiosk that also captures faces and irises is refused: the policy forbids it. */
	k = run_kiosks(&dep, "kiosk-el-ceibo", "finger,face,iris", "150", "0");
	assert_int_equal(h_json_num(k, "acked"), 0);
	assert_true(h_json_num(k, "refused") > 0);
	free(k);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	s = stats(&dep);
	assert_int_equal(h_json_num(s, "subjects"), 150);
	assert_int_equal(h_json_num(s, "with_finger"), 150);
	assert_int_equal(h_json_num(s, "with_face"), 0);
	assert_int_equal(h_json_num(s, "with_iris"), 0);
	free(s);
	{
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&audit, argv), 0);
		assert_true(h_count(audit, "POLICY_DENIED") + h_count(audit, "-32") > 0);
		assert_true(h_count(audit, "capture.face") > 0);
	}
	free(audit);
	h_cleanup(&dep);
}

static void
test_card_only_keeps_no_template(void **state)
{
	struct deployment dep;
	char *k, *s, *audit = NULL;

	(void)state;
	h_deploy(&dep, POLICY("card-only"));
	h_hub_start(&dep, 0);
	k = run_kiosks(&dep, "kiosk-ciudad-hidalgo,kiosk-talisman", "finger,face", "100", "300");
	assert_int_equal(h_json_num(k, "refused"), 0);
	assert_int_equal(h_json_num(k, "enrolled"), 100);
	/* The hub holds no template, so it makes no 1:1 decision: none is reported. */
	assert_int_equal(h_json_num(k, "genuine") + h_json_num(k, "impostor"), 0);
	free(k);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	s = stats(&dep);
	assert_int_equal(h_json_num(s, "subjects"), 100);
	assert_int_equal(h_json_num(s, "crossings"), 300);
	assert_int_equal(h_json_num(s, "with_finger"), 0);
	assert_int_equal(h_json_num(s, "with_face"), 0);
	free(s);
	{
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&audit, argv), 0);
		assert_true(h_count(audit, "store.location: card") >= 400);
	}
	free(audit);
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_keeps_fingers_only),
		cmocka_unit_test(test_card_only_keeps_no_template),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
