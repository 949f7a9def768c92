/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for registry/clock.c and proto/instant.c: instants, durations, a clock that never goes back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <time.h>

#include "clock.h"
#include "instant.h"

static void
test_instants(void **state)
{
	struct paso_diag d = {0};
	char buf[INSTANT_TEXT_BYTES];
	uint64_t t;

	(void)state;
	assert_int_equal(instant_parse("2027-01-01T00:00:00Z", &t, &d), 0);
	assert_int_equal(t, 1798761600);
	assert_string_equal(instant_format(t, buf), "2027-01-01T00:00:00Z");
	assert_int_equal(instant_parse("2028-02-29T23:59:59Z", &t, &d), 0);
	assert_string_equal(instant_format(t, buf), "2028-02-29T23:59:59Z");
	assert_int_equal(instant_parse("1970-01-01", &t, &d), 0);
	assert_int_equal(t, 0);
	assert_int_equal(instant_parse("9999-12-31T23:59:59Z", &t, &d), 0);
	assert_int_equal(t, INSTANT_MAX);
	/* Refused, each naming the text. */
	assert_int_equal(instant_parse("2027-02-29T00:00:00Z", &t, &d), PASO_E_INVALID_ARG);
	assert_non_null(strstr(d.msg, "2027-02-29T00:00:00Z"));
	assert_int_equal(instant_parse("2027-01-01T24:00:00Z", &t, &d), PASO_E_INVALID_ARG);
	assert_int_equal(instant_parse("2027-01-01T00:00:00+01:00", &t, &d), PASO_E_INVALID_ARG);
	assert_int_equal(instant_parse("2027-1-1", &t, &d), PASO_E_INVALID_ARG);
	assert_int_equal(instant_parse("1969-12-31T23:59:59Z", &t, &d), PASO_E_INVALID_ARG);
	assert_int_equal(instant_parse("", &t, &d), PASO_E_INVALID_ARG);
}

static void
test_durations(void **state)
{
	struct paso_diag d = {0};
	uint64_t v;

	(void)state;
	assert_int_equal(duration_parse("2d", &v, &d), 0);
	assert_int_equal(v, 172800);
	assert_int_equal(duration_parse("36h", &v, &d), 0);
	assert_int_equal(v, 129600);
	assert_int_equal(duration_parse("90s", &v, &d), 0);
	assert_int_equal(v, 90);
	assert_int_equal(duration_parse("400d", &v, &d), 0);
	assert_int_equal(v, 400u * 86400u);
	assert_int_equal(duration_parse("2", &v, &d), PASO_E_INVALID_ARG);
	assert_non_null(strstr(d.msg, "'2'"));
	assert_int_equal(duration_parse("-2d", &v, &d), PASO_E_INVALID_ARG);
	assert_int_equal(duration_parse("2w", &v, &d), PASO_E_INVALID_ARG);
	assert_int_equal(duration_parse("2dd", &v, &d), PASO_E_INVALID_ARG);
	assert_int_equal(duration_parse("99999999999999999999d", &v, &d), PASO_E_INVALID_ARG);
	assert_int_equal(duration_parse("40000d", &v, &d), PASO_E_INVALID_ARG);
}

static void
test_simulated_clock(void **state)
{
	struct paso_clock c;
	struct paso_diag d = {0};
	int resume;

	(void)state;
	assert_int_equal(clock_parse_spec("sim:2027-01-01T00:00:00Z", &c, &resume, &d), 0);
	assert_true(c.simulated);
	assert_false(resume);
	assert_int_equal(clock_now(&c), 1798761600);
	assert_int_equal(clock_advance(&c, 2 * 86400, &d), 0);
	assert_int_equal(clock_now(&c), 1798761600 + 2 * 86400);
	/* Never backward; the refusal names both instants and changes nothing. */
	assert_int_equal(clock_set(&c, 1798761600, &d), PASO_E_FIELD_RANGE);
	assert_non_null(strstr(d.msg, "2027-01-01T00:00:00Z"));
	assert_non_null(strstr(d.msg, "2027-01-03T00:00:00Z"));
	assert_int_equal(clock_now(&c), 1798761600 + 2 * 86400);
	assert_int_equal(clock_advance(&c, UINT64_MAX / 2, &d), PASO_E_FIELD_RANGE);
	assert_int_equal(clock_set(&c, INSTANT_MAX + 1, &d), PASO_E_FIELD_RANGE);
	assert_int_equal(clock_parse_spec("sim", &c, &resume, &d), 0);
	assert_true(resume);
	assert_int_equal(clock_parse_spec("simulated", &c, &resume, &d), PASO_E_INVALID_ARG);
	assert_int_equal(clock_parse_spec("sim:tomorrow", &c, &resume, &d), PASO_E_INVALID_ARG);
	assert_non_null(strstr(d.msg, "tomorrow"));
}

static void
test_real_clock(void **state)
{
	struct paso_clock c;
	struct paso_diag d = {0};
	int resume;
	uint64_t now = (uint64_t)time(NULL);

	(void)state;
	assert_int_equal(clock_parse_spec("real", &c, &resume, &d), 0);
	assert_false(c.simulated);
	assert_true(clock_now(&c) >= now && clock_now(&c) <= now + 5);
	assert_int_equal(clock_advance(&c, 10, &d), PASO_E_INVALID_ARG);
	assert_non_null(strstr(d.msg, "wall clock"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_instants),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_simulated_clock),
		cmocka_unit_test(test_real_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
