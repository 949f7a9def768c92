/* SPDX-License-Identifier: Apache-2.0 */
/* `paso template info` on the standards' own samples: plain words, JSON, and clear refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

#define SAMPLE(f) PASO_TEST_DATA "/biometric-samples/fingerprintio/" f

static void
test_iso_sample_in_words(void **state)
{
	const char *argv[] = {
		"paso", "template", "info", SAMPLE("iso19794p2v2005-sample.dat"), NULL};
	char *out = NULL;

	(void)state;
	assert_int_equal(h_run(&out, argv), 0);
	assert_non_null(strstr(out, "ISO/IEC 19794-2:2005"));
	assert_non_null(strstr(out, "340 bytes"));
	assert_non_null(strstr(out, "left index (position 7)"));
	assert_non_null(strstr(out, "27 minutiae: 13 ridge endings, 12 bifurcations, 2 other"));
	assert_non_null(strstr(out, "22 minutiae: 12 ridge endings, 10 bifurcations, 0 other"));
	assert_non_null(strstr(out, "type 0x0221"));
	free(out);
}

static void
test_json(void **state)
{
	const char *argv[] = {
		"paso", "template", "info", SAMPLE("iso19794p2v2005-sample.dat"), "--json", NULL};
	char *out = NULL;

	(void)state;
	assert_int_equal(h_run(&out, argv), 0);
	assert_int_equal(h_json_num(out, "bytes"), 340);
	assert_int_equal(h_json_num(out, "finger_position"), 7);
	assert_int_equal(h_json_num(out, "minutiae"), 27);
	free(out);
}

static void
test_refusals_name_the_problem(void **state)
{
	const char *v2011[] = {
		"paso", "template", "info", SAMPLE("iso19794p2v2011-sample.dat"), NULL};
	const char *missing[] = {"paso", "template", "info", "/nonexistent/record.dat", NULL};
	const char *usage[] = {"paso", "template", "info", NULL};
	char *out = NULL;

	(void)state;
	assert_int_equal(h_run(&out, v2011), 1);
	assert_non_null(strstr(out, "TEMPLATE_VERSION"));
	assert_non_null(strstr(out, "'030'"));
	free(out);
	assert_int_equal(h_run(&out, missing), 1);
	assert_non_null(strstr(out, "/nonexistent/record.dat"));
	free(out);
	assert_int_equal(h_run(&out, usage), 2);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso_sample_in_words),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_refusals_name_the_problem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
