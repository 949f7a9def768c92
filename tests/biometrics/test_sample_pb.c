/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/sample_pb.c: a capture survives the wire; each bad field is refused by name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "capture.h"
#include "errors.h"
#include "population.h"
#include "sample_pb.h"

static struct bio_sample good;

static int
setup(void **state)
{
	struct population *pop = NULL;
	uint32_t i;

	(void)state;
	if (population_new(21, 100, &pop) != 0)
		return -1;
	/* a person with every modality */
	for (i = 0; i < 100; i++) {
		if (capture_take(pop, i, 0, PRESET_GOOD, &good) != 0)
			return -1;
		if (good.finger_len > 0 && good.has_face && good.n_iris == 2)
			break;
		bio_sample_clear(&good);
	}
	population_free(pop);
	return i < 100 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	bio_sample_clear(&good);
	return 0;
}

static void
test_roundtrip_through_bytes(void **state)
{
	Paso__Capture c = PASO__CAPTURE__INIT, *back;
	struct bio_sample out;
	struct paso_diag d = {0};
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_int_equal(sample_to_pb(&good, &c), 0);
	c.capture_time = 1700000000;
	len = paso__capture__get_packed_size(&c);
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(paso__capture__pack(&c, buf), len);
	sample_pb_release(&c);
	assert_null(c.face);
	back = paso__capture__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(sample_from_pb(back, &out, &d), 0);
	assert_int_equal(out.finger_len, good.finger_len);
	assert_memory_equal(out.finger_record, good.finger_record, good.finger_len);
	assert_int_equal(out.has_face, 1);
	assert_memory_equal(out.face, good.face, sizeof(good.face));
	assert_int_equal(out.n_iris, 2);
	assert_memory_equal(out.iris, good.iris, sizeof(good.iris));
	bio_sample_clear(&out);
	paso__capture__free_unpacked(back, NULL);
	free(buf);
}

/* Converts good to a Capture, lets mutate() break it, and checks the refusal. */
static void
expect_refusal(void (*mutate)(Paso__Capture *c, Paso__IrisCode **spare), int code, const char *msg)
{
	Paso__Capture c = PASO__CAPTURE__INIT;
	Paso__IrisCode extra = PASO__IRIS_CODE__INIT, *iris3[3], *spare = &extra;
	Paso__IrisCode copy0, copy1;
	struct bio_sample out;
	struct paso_diag d = {0, {0}};

	assert_int_equal(sample_to_pb(&good, &c), 0);
	copy0 = *c.iris[0];
	copy1 = *c.iris[1];
	iris3[0] = &copy0;
	iris3[1] = &copy1;
	iris3[2] = spare;
	extra = copy0;
	{
		Paso__IrisCode **saved = c.iris;

		c.iris = iris3;
		mutate(&c, &spare);
		assert_int_equal(sample_from_pb(&c, &out, &d), code);
		assert_int_equal(d.code, code);
		if (strstr(d.msg, msg) == NULL)
			fail_msg("message '%s' does not contain '%s'", d.msg, msg);
		assert_null(out.finger_record);
		c.iris = saved;
	}
	sample_pb_release(&c);
}

static float bad_face[512];

static void
m_face_short(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	c->face->n_embedding = 511;
}

static void
m_face_nan(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	memcpy(bad_face, c->face->embedding, sizeof(bad_face));
	bad_face[300] = NAN;
	c->face->embedding = bad_face;
}

static void
m_face_norm(Paso__Capture *c, Paso__IrisCode **s)
{
	int k;

	(void)s;
	for (k = 0; k < 512; k++)
		bad_face[k] = 2 * c->face->embedding[k];
	c->face->embedding = bad_face;
}

static void
m_code_short(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	c->iris[1]->code.len = 255;
}

static void
m_mask_long(Paso__Capture *c, Paso__IrisCode **s)
{
	static uint8_t big[257];

	(void)s;
	c->iris[0]->mask.data = big;
	c->iris[0]->mask.len = 257;
}

static void
m_code_missing(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	c->iris[0]->code.len = 0;
}

static void
m_eye_missing(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	c->iris[1]->eye = PASO__EYE__EYE_UNSPECIFIED;
}

static void
m_eye_bad(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	c->iris[0]->eye = (Paso__Eye)7;
}

static void
m_eye_twice(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	c->iris[1]->eye = c->iris[0]->eye;
}

static void
m_three_irises(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	c->n_iris = 3;
}

static void
m_finger_garbage(Paso__Capture *c, Paso__IrisCode **s)
{
	static uint8_t junk[40] = "not a finger record at all, not at all";

	(void)s;
	c->finger_record.data = junk;
	c->finger_record.len = sizeof(junk);
}

static void
m_finger_truncated(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	c->finger_record.len -= 7;
}

static void
m_empty(Paso__Capture *c, Paso__IrisCode **s)
{
	(void)s;
	c->finger_record.len = 0;
	c->face = NULL;
	c->n_iris = 0;
}

static void
test_each_bad_field_refused(void **state)
{
	struct bio_sample out;
	struct paso_diag d = {0};

	(void)state;
	expect_refusal(m_face_short, PASO_E_FIELD_RANGE,
		"capture.face.embedding: 511 values, expected 512");
	expect_refusal(m_face_nan, PASO_E_FIELD_RANGE, "capture.face.embedding[300]");
	expect_refusal(m_face_norm, PASO_E_FIELD_RANGE, "L2 norm is not 1");
	expect_refusal(
		m_code_short, PASO_E_FIELD_RANGE, "capture.iris[1].code: 255 bytes, expected 256");
	expect_refusal(m_mask_long, PASO_E_FIELD_RANGE, "capture.iris[0].mask: 257 bytes");
	expect_refusal(m_code_missing, PASO_E_MISSING_FIELD, "capture.iris[0].code: missing");
	expect_refusal(m_eye_missing, PASO_E_MISSING_FIELD, "capture.iris[1].eye: missing");
	expect_refusal(m_eye_bad, PASO_E_FIELD_RANGE, "capture.iris[0].eye: 7");
	expect_refusal(m_eye_twice, PASO_E_FIELD_RANGE, "eye repeated");
	expect_refusal(m_three_irises, PASO_E_FIELD_RANGE, "capture.iris: 3 codes, at most 2");
	expect_refusal(m_finger_garbage, PASO_E_TEMPLATE_FORMAT, "capture.finger_record: ");
	expect_refusal(m_finger_truncated, PASO_E_TEMPLATE_TRUNCATED, "capture.finger_record: ");
	expect_refusal(m_empty, PASO_E_MISSING_FIELD, "at least one is required");
	assert_int_equal(sample_from_pb(NULL, &out, &d), PASO_E_MISSING_FIELD);
}

/* The norm check takes exactly the values the sum of squares, in order, takes: scaled faces
 * swept across both edges of the 1e-3 tolerance (down to the last float steps) are accepted or
 * refused as that sum decides. */
static void
test_face_norm_edge_as_ordered_sum(void **state)
{
	Paso__Capture c = PASO__CAPTURE__INIT;
	struct bio_sample out;
	struct paso_diag d;
	double ss, want_scale;
	float scaled[512], *orig;
	int k, step, edge, accepted = 0, refused = 0;

	(void)state;
	assert_int_equal(sample_to_pb(&good, &c), 0);
	orig = c.face->embedding;
	for (edge = -1; edge <= 1; edge += 2)
		for (step = -300; step <= 300; step++) {
			want_scale = 1 + edge * 1e-3 + step * 1e-10;
			for (k = 0; k < 512; k++)
				scaled[k] = (float)(orig[k] * want_scale);
			for (ss = 0, k = 0; k < 512; k++)
				ss += (double)scaled[k] * scaled[k];
			c.face->embedding = scaled;
			memset(&d, 0, sizeof(d));
			if (fabs(sqrt(ss) - 1) > 1e-3) {
				assert_int_equal(sample_from_pb(&c, &out, &d), PASO_E_FIELD_RANGE);
				refused++;
			} else {
				assert_int_equal(sample_from_pb(&c, &out, &d), 0);
				bio_sample_clear(&out);
				accepted++;
			}
		}
	c.face->embedding = orig;
	sample_pb_release(&c);
	assert_true(accepted > 100 && refused > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_through_bytes),
		cmocka_unit_test(test_each_bad_field_refused),
		cmocka_unit_test(test_face_norm_edge_as_ordered_sum),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
