/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for registry/ingest.c: every field checked, and the message names the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "capture.h"
#include "errors.h"
#include "ingest.h"
#include "population.h"
#include "sample_pb.h"

struct fixture {
	Paso__Envelope env;
	Paso__Crossing cr;
	Paso__Capture cap;
	struct bio_sample s;
};

static int
setup(void **state)
{
	static struct fixture f;
	struct population *pop = NULL;
	struct person_info pi;

	memset(&f, 0, sizeof(f));
	assert_int_equal(population_new(3, 2, &pop), 0);
	assert_int_equal(population_person(pop, 1, &pi), 0);
	assert_int_equal(capture_take(pop, 1, 4, PRESET_GOOD, &f.s), 0);
	population_free(pop);
	paso__envelope__init(&f.env);
	paso__crossing__init(&f.cr);
	paso__capture__init(&f.cap);
	assert_int_equal(sample_to_pb(&f.s, &f.cap), 0);
	f.cap.capture_time = 1790000000;
	f.cr.capture = &f.cap;
	f.cr.card_number = "TVR-0000000001";
	f.cr.direction = PASO__DIRECTION__EXIT;
	f.cr.crossing_point = "El Ceibo";
	f.env.kiosk_id = "kiosk-el-ceibo";
	f.env.seq = 9;
	f.env.body_case = PASO__ENVELOPE__BODY_CROSSING;
	f.env.crossing = &f.cr;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	sample_pb_release(&f->cap);
	bio_sample_clear(&f->s);
	return 0;
}

static void
expect(struct fixture *f, const char *peer, int code, const char *needle)
{
	struct bio_sample out;
	struct paso_diag d = {0};
	int r = ingest_check(&f->env, peer, &out, &d);

	bio_sample_clear(&out);
	if (r != code)
		fail_msg("expected %s, got %s: %s", paso_errname(code), paso_errname(r), d.msg);
	if (needle != NULL && strstr(d.msg, needle) == NULL)
		fail_msg("message '%s' does not name '%s'", d.msg, needle);
}

static void
test_valid_crossing_decodes(void **state)
{
	struct fixture *f = *state;
	struct bio_sample out;
	struct paso_diag d = {0};

	assert_int_equal(ingest_check(&f->env, "kiosk-el-ceibo", &out, &d), 0);
	assert_int_equal(out.has_face, f->s.has_face);
	assert_int_equal(out.n_iris, f->s.n_iris);
	assert_int_equal(out.finger_len, f->s.finger_len);
	assert_memory_equal(out.finger_record, f->s.finger_record, f->s.finger_len);
	bio_sample_clear(&out);
}

static void
test_each_field(void **state)
{
	struct fixture *f = *state;

	expect(f, "kiosk-talisman", PASO_E_KIOSK_MISMATCH, "kiosk-talisman");
	f->env.seq = 0;
	expect(f, "kiosk-el-ceibo", PASO_E_SEQ_INVALID, "seq");
	f->env.seq = 9;
	f->cr.direction = 3;
	expect(f, "kiosk-el-ceibo", PASO_E_FIELD_RANGE, "crossing.direction: 3");
	f->cr.direction = PASO__DIRECTION__EXIT;
	f->cr.card_number = "";
	expect(f, "kiosk-el-ceibo", PASO_E_MISSING_FIELD, "crossing.card_number");
	f->cr.card_number = "TVR-\xc3\xa9";
	expect(f, "kiosk-el-ceibo", PASO_E_FIELD_RANGE, "non-ASCII");
	f->cr.card_number = "TVR-0000000001";
	f->cr.crossing_point =
		"an extremely long crossing point name that goes on past sixty-four bytes";
	expect(f, "kiosk-el-ceibo", PASO_E_FIELD_RANGE, "crossing.crossing_point");
	f->cr.crossing_point = "El Ceibo";
	f->cap.capture_time = 0;
	expect(f, "kiosk-el-ceibo", PASO_E_MISSING_FIELD, "crossing.capture.capture_time");
	f->cap.capture_time = 1790000000;
	/* Nothing captured at all. */
	{
		Paso__Capture empty = PASO__CAPTURE__INIT;
		empty.capture_time = 1;
		f->cr.capture = &empty;
		expect(f, "kiosk-el-ceibo", PASO_E_MISSING_FIELD, "no modality");
		f->cr.capture = &f->cap;
	}
	/* Still valid after all the edits were undone. */
	expect(f, "kiosk-el-ceibo", 0, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_crossing_decodes),
		cmocka_unit_test(test_each_field),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
