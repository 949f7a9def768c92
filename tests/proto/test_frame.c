/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for proto/frame.c: the length prefix is checked before allocation, bad bytes are named. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "errors.h"
#include "frame.h"

static void
test_roundtrip(void **state)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT, *out = NULL;
	Paso__Ack ack = PASO__ACK__INIT;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint32_t plen = 0;

	(void)state;
	env.kiosk_id = "kiosk-ciudad-hidalgo-1";
	env.seq = 42;
	ack.seq = 42;
	ack.audit_index = 7;
	env.body_case = PASO__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	assert_int_equal(frame_encode(&env, FRAME_DEFAULT_MAX, &buf, &len), 0);
	assert_int_equal(frame_header(buf, FRAME_DEFAULT_MAX, &plen, NULL), 0);
	assert_int_equal(plen + 4, len);
	assert_int_equal(frame_decode(buf + 4, plen, &out, NULL), 0);
	assert_string_equal(out->kiosk_id, "kiosk-ciudad-hidalgo-1");
	assert_int_equal(out->seq, 42);
	assert_int_equal(out->body_case, PASO__ENVELOPE__BODY_ACK);
	assert_int_equal(out->ack->audit_index, 7);
	paso__envelope__free_unpacked(out, NULL);
	free(buf);
}

static void
test_oversize_prefix(void **state)
{
	const uint8_t hdr[4] = {0xff, 0xff, 0xff, 0xf0};
	struct paso_diag d = {0};
	uint32_t plen = 99;

	(void)state;
	assert_int_equal(frame_header(hdr, FRAME_DEFAULT_MAX, &plen, &d), PASO_E_FRAME_TOO_LARGE);
	assert_int_equal(plen, 0);
	assert_non_null(strstr(d.msg, "4294967280"));
	assert_non_null(strstr(d.msg, "1048576"));
}

static void
test_garbage_and_empty(void **state)
{
	const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	const uint8_t zero[4] = {0, 0, 0, 0};
	/* field 1 (kiosk_id) only: decodes, but has no body */
	const uint8_t nobody[] = {0x0a, 0x01, 'k'};
	Paso__Envelope *out = NULL;
	struct paso_diag d = {0};
	uint32_t plen;

	(void)state;
	assert_int_equal(frame_decode(garbage, sizeof(garbage), &out, &d), PASO_E_DECODE);
	assert_null(out);
	/* A zero-length frame is a frame: an empty Envelope, refused for its missing body. */
	plen = 99;
	assert_int_equal(frame_header(zero, FRAME_DEFAULT_MAX, &plen, &d), 0);
	assert_int_equal(plen, 0);
	assert_int_equal(frame_decode(zero, 0, &out, &d), PASO_E_UNKNOWN_MESSAGE);
	assert_null(out);
	assert_int_equal(frame_decode(nobody, sizeof(nobody), &out, &d), PASO_E_UNKNOWN_MESSAGE);
	assert_null(out);
	/* ...whose seq a refusal can still echo */
	{
		const uint8_t seq_only[] = {0x0a, 0x01, 'k', 0x10, 0x2a, 0xfa, 0x3f, 0x00};

		assert_int_equal(frame_peek_seq(seq_only, 5), 42);
		assert_int_equal(frame_peek_seq(garbage, sizeof(garbage)), 0);
	}
}

static void
test_strerror_table(void **state)
{
	(void)state;
	assert_string_equal(paso_errname(PASO_E_FRAME_TOO_LARGE), "FRAME_TOO_LARGE");
	assert_string_equal(paso_strerror(-9999), "unknown error");
	assert_int_equal(PASO_E_SEQ_CONFLICT, -16);
}

/* proto/README.md is the page another client is written from: every code must be in it. */
static void
test_readme_lists_every_code(void **state)
{
	FILE *f = fopen(PASO_TEST_DATA "/../../proto/README.md", "r");
	static char text[65536];
	char row[128];
	size_t n;

	(void)state;
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
#define PASO_CHECK_ROW(name, value, msg)                                                           \
	(void)snprintf(row, sizeof(row), "| `%s` | %d |", #name, value);                           \
	if (strstr(text, row) == NULL)                                                             \
		fail_msg("proto/README.md lacks the row for %s (%d)", #name, value);
	PASO_ERRORS(PASO_CHECK_ROW)
#undef PASO_CHECK_ROW
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_oversize_prefix),
		cmocka_unit_test(test_garbage_and_empty),
		cmocka_unit_test(test_strerror_table),
		cmocka_unit_test(test_readme_lists_every_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
