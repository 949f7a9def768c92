/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for frame_allocator/frame_free and frame arenas: a decoded kiosk message's biometric bytes
 * and card number are wiped before their memory goes back to malloc (or to the arena). This executable interposes free() to look
 * at every block as it is freed, with protobuf-c's default allocator as the positive control.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <malloc.h>

#include "errors.h"
#include "frame.h"

void __libc_free(void *p);

static const uint8_t marker[16] = {
	0xa5, 0x5a, 0xc3, 0x3c, 0x96, 0x69, 0xf0, 0x0f, 'M', 'I', 'N', 'U', 'T', 'I', 'A', 'E'};
static const char card[] = "CARD-7391-UNWIPED";
static int watching;
static size_t freed_with_secret;

static int
contains(const uint8_t *p, size_t n, const void *needle, size_t nlen)
{
	size_t i;

	for (i = 0; i + nlen <= n; i++)
		if (memcmp(p + i, needle, nlen) == 0)
			return 1;
	return 0;
}

/* Every free in the process passes here; only blocks freed while watching are inspected. */
void
free(void *p)
{
	if (p != NULL && watching) {
		size_t n = malloc_usable_size(p);

		if (contains(p, n, marker, sizeof(marker)) ||
			contains(p, n, card, sizeof(card) - 1))
			freed_with_secret++;
	}
	__libc_free(p);
}

/* A packed enrolment whose finger record (nrec bytes) holds the marker and whose card is card. */
static uint8_t *
packed_enrolment_of(size_t nrec, size_t *lenp)
{
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Enroll en = PASO__ENROLL__INIT;
	Paso__Capture cap = PASO__CAPTURE__INIT;
	uint8_t *rec, *buf;
	size_t i;

	assert_non_null(rec = malloc(nrec));
	for (i = 0; i + sizeof(marker) <= nrec; i += sizeof(marker))
		memcpy(rec + i, marker, sizeof(marker));
	cap.finger_record.data = rec;
	cap.finger_record.len = nrec;
	en.capture = &cap;
	en.card_number = (char *)card;
	en.crossing_point = "Talisman";
	env.kiosk_id = "kiosk-talisman";
	env.seq = 9;
	env.body_case = PASO__ENVELOPE__BODY_ENROLL;
	env.enroll = &en;
	*lenp = paso__envelope__get_packed_size(&env);
	assert_non_null(buf = malloc(*lenp));
	(void)paso__envelope__pack(&env, buf);
	free(rec);
	return buf;
}

static uint8_t *
packed_enrolment(size_t *lenp)
{
	return packed_enrolment_of(256, lenp);
}

static void
test_frame_free_wipes(void **state)
{
	Paso__Envelope *env = NULL;
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = packed_enrolment(&len);
	assert_int_equal(frame_decode(buf, len, &env, NULL), 0);
	assert_int_equal(env->enroll->capture->finger_record.len, 256);
	watching = 1;
	freed_with_secret = 0;
	frame_free(env);
	watching = 0;
	assert_int_equal(freed_with_secret, 0);
	/* The wire buffer itself, freed through frame_wipe_free, too. */
	watching = 1;
	frame_wipe_free(buf);
	watching = 0;
	assert_int_equal(freed_with_secret, 0);
}

/* Positive control: without the wiping allocator the same message leaves its bytes behind. */
static void
test_default_allocator_leaves_bytes(void **state)
{
	Paso__Envelope *env;
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = packed_enrolment(&len);
	assert_non_null(env = paso__envelope__unpack(NULL, len, buf));
	watching = 1;
	freed_with_secret = 0;
	paso__envelope__free_unpacked(env, NULL);
	free(buf);
	watching = 0;
	assert_true(freed_with_secret >= 2);
}

/* A message decoded in an arena: its bytes are gone after the reset, the arena decodes the
 * next one in the same memory, and freeing it frees nothing that still holds them. */
static void
test_arena_reset_wipes(void **state)
{
	struct frame_arena *a = NULL;
	Paso__Envelope *env = NULL;
	const uint8_t *rec;
	const char *cardp;
	uint8_t *buf;
	size_t len;
	int round;

	(void)state;
	buf = packed_enrolment(&len);
	assert_int_equal(frame_arena_new(&a), 0);
	for (round = 0; round < 3; round++) {
		assert_int_equal(frame_decode_in(a, buf, len, &env, NULL), 0);
		assert_int_equal(env->enroll->capture->finger_record.len, 256);
		assert_string_equal(env->enroll->card_number, card);
		rec = env->enroll->capture->finger_record.data;
		cardp = env->enroll->card_number;
		frame_arena_reset(a);
		/* The arena keeps its block: what the message held there is readable, and zero. */
		assert_false(contains(rec, 256, marker, sizeof(marker)));
		assert_false(contains((const uint8_t *)cardp, sizeof(card) - 1, card, 4));
	}
	assert_int_equal(frame_decode_in(a, buf, len, &env, NULL), 0);
	watching = 1;
	freed_with_secret = 0;
	frame_arena_free(a);
	watching = 0;
	assert_int_equal(freed_with_secret, 0);
	frame_wipe_free(buf);
}

/* A frame larger than the arena's block (and than the block may ever grow): its fields come
 * from malloc, and are wiped before they are freed, at every reset. */
static void
test_arena_big_frame_wiped(void **state)
{
	struct frame_arena *a = NULL;
	Paso__Envelope *env = NULL;
	uint8_t *buf;
	size_t len;
	int round;

	(void)state;
	buf = packed_enrolment_of(200000, &len);
	assert_int_equal(frame_arena_new(&a), 0);
	for (round = 0; round < 3; round++) {
		assert_int_equal(frame_decode_in(a, buf, len, &env, NULL), 0);
		assert_int_equal(env->enroll->capture->finger_record.len, 200000);
		assert_memory_equal(
			env->enroll->capture->finger_record.data, marker, sizeof(marker));
		watching = 1;
		freed_with_secret = 0;
		frame_arena_reset(a);
		watching = 0;
		assert_int_equal(freed_with_secret, 0);
	}
	/* A bad frame leaves nothing behind either. */
	assert_int_not_equal(frame_decode_in(a, buf, len / 2, &env, NULL), 0);
	assert_null(env);
	watching = 1;
	frame_arena_free(a);
	watching = 0;
	assert_int_equal(freed_with_secret, 0);
	frame_wipe_free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_free_wipes),
		cmocka_unit_test(test_default_allocator_leaves_bytes),
		cmocka_unit_test(test_arena_reset_wipes),
		cmocka_unit_test(test_arena_big_frame_wiped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
