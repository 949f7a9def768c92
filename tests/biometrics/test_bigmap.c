/* SPDX-License-Identifier: Apache-2.0 */
/* bigmap: a gallery array keeps its bytes through growth, its new tail is zero, it stays aligned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bigmap.h"

static uint8_t
pattern(size_t i)
{
	return (uint8_t)(i * 131u + (i >> 12) + 7u);
}

/* Grown from 1 KB to 64 MB by doubling, written as it grows, as a gallery fills its rows. */
static void
test_growth_keeps_bytes_and_zero_tail(void **state)
{
	size_t have = 0, cap = 1024, i;
	uint8_t *p = NULL, *q;

	(void)state;
	while (cap <= ((size_t)64 << 20)) {
		q = bigmap_grow(p, have, cap);
		assert_non_null(q);
		assert_int_equal((uintptr_t)q % 64, 0);
		for (i = 0; i < have; i++)
			if (q[i] != pattern(i))
				fail_msg("byte %zu lost when growing %zu -> %zu", i, have, cap);
		for (i = have; i < cap; i++)
			if (q[i] != 0)
				fail_msg("byte %zu of the new tail is %u, not zero", i, q[i]);
		for (i = have; i < cap; i++)
			q[i] = pattern(i);
		p = q;
		have = cap;
		cap *= 2;
	}
	bigmap_free(p, have);
}

/* Asking for no more than the mapping holds returns it unchanged. */
static void
test_no_growth_returns_the_same_mapping(void **state)
{
	uint8_t *p, *q;

	(void)state;
	p = bigmap_grow(NULL, 0, 10000);
	assert_non_null(p);
	memset(p, 0xa5, 10000);
	q = bigmap_grow(p, 10000, 4096);
	assert_ptr_equal(p, q);
	q = bigmap_grow(p, 10000, 10001); /* within the last page */
	assert_ptr_equal(p, q);
	assert_int_equal(q[9999], 0xa5);
	assert_int_equal(q[10000], 0);
	bigmap_free(q, 10001);
	bigmap_free(NULL, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth_keeps_bytes_and_zero_tail),
		cmocka_unit_test(test_no_growth_returns_the_same_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
