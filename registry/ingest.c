/* SPDX-License-Identifier: Apache-2.0 */
/* Field-by-field validation of kiosk messages; the hub acts only on what passed here. */
#include "ingest.h"

#include <string.h>

#include "sample_pb.h"

/* 1..INGEST_MAX_TEXT bytes, no control characters; UTF-8 multibyte sequences pass. */
static int
check_text(const char *s, const char *field, struct paso_diag *d)
{
	size_t n, i;

	if (s == NULL || s[0] == '\0')
		return paso_diag_set(d, PASO_E_MISSING_FIELD, "%s: required", field);
	n = strlen(s);
	if (n > INGEST_MAX_TEXT)
		return paso_diag_set(d, PASO_E_FIELD_RANGE, "%s: %zu bytes, at most %d", field, n,
			INGEST_MAX_TEXT);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return paso_diag_set(d, PASO_E_FIELD_RANGE,
				"%s: control character at byte %zu", field, i);
	return 0;
}

/* Card numbers: printable ASCII only, so they can never smuggle anything into a log. */
static int
check_card(const char *s, const char *field, struct paso_diag *d)
{
	size_t i;
	int r;

	if ((r = check_text(s, field, d)) != 0)
		return r;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] > 0x7e)
			return paso_diag_set(d, PASO_E_FIELD_RANGE,
				"%s: non-ASCII byte at position %zu", field, i);
	return 0;
}

static int
check_capture(
	const Paso__Capture *c, const char *field, struct bio_sample *sample, struct paso_diag *d)
{
	if (c == NULL)
		return paso_diag_set(d, PASO_E_MISSING_FIELD, "%s: required", field);
	if (c->capture_time == 0)
		return paso_diag_set(d, PASO_E_MISSING_FIELD, "%s.capture_time: required", field);
	if (c->finger_record.len == 0 && c->face == NULL && c->n_iris == 0)
		return paso_diag_set(d, PASO_E_MISSING_FIELD,
			"%s: no modality (finger_record, face or iris) present", field);
	return sample_from_pb(c, sample, d);
}

const Paso__Capture *
ingest_capture(const Paso__Envelope *env)
{
	switch (env->body_case) {
	case PASO__ENVELOPE__BODY_ENROLL:
		return env->enroll->capture;
	case PASO__ENVELOPE__BODY_CROSSING:
		return env->crossing->capture;
	case PASO__ENVELOPE__BODY_IDENTIFY:
		return env->identify->capture;
	default:
		return NULL;
	}
}

int
ingest_check(
	const Paso__Envelope *env, const char *peer, struct bio_sample *sample, struct paso_diag *d)
{
	const Paso__Enroll *e;
	const Paso__Crossing *c;
	int r;

	memset(sample, 0, sizeof(*sample));
	if (env->kiosk_id == NULL || env->kiosk_id[0] == '\0')
		return paso_diag_set(d, PASO_E_MISSING_FIELD, "kiosk_id: required");
	if (strcmp(env->kiosk_id, peer) != 0) {
		char said[4 * 64 + 4], cert[4 * 64 + 4];

		/* The kiosk_id is the client's word: escaped, it can forge no log line. */
		return paso_diag_set(d, PASO_E_KIOSK_MISMATCH,
			"kiosk_id '%s' does not match certificate '%s'",
			paso_escape(said, sizeof(said), env->kiosk_id, 64),
			paso_escape(cert, sizeof(cert), peer, 64));
	}
	if (env->seq == 0)
		return paso_diag_set(d, PASO_E_SEQ_INVALID, "seq: must be 1 or more");
	switch (env->body_case) {
	case PASO__ENVELOPE__BODY_ENROLL:
		e = env->enroll;
		if (e->category < PASO__CATEGORY__REGIONAL_VISITOR ||
			e->category > PASO__CATEGORY__DETAINEE)
			return paso_diag_set(d, PASO_E_FIELD_RANGE,
				"enroll.category: %d, expected 1..4", (int)e->category);
		if ((r = check_card(e->card_number, "enroll.card_number", d)) != 0 ||
			(r = check_text(e->crossing_point, "enroll.crossing_point", d)) != 0)
			return r;
		return check_capture(e->capture, "enroll.capture", sample, d);
	case PASO__ENVELOPE__BODY_CROSSING:
		c = env->crossing;
		if (c->direction != PASO__DIRECTION__ENTRY && c->direction != PASO__DIRECTION__EXIT)
			return paso_diag_set(d, PASO_E_FIELD_RANGE,
				"crossing.direction: %d, expected 1 (entry) or 2 (exit)",
				(int)c->direction);
		if ((r = check_card(c->card_number, "crossing.card_number", d)) != 0 ||
			(r = check_text(c->crossing_point, "crossing.crossing_point", d)) != 0)
			return r;
		return check_capture(c->capture, "crossing.capture", sample, d);
	case PASO__ENVELOPE__BODY_IDENTIFY:
		if ((r = check_text(env->identify->crossing_point, "identify.crossing_point", d)) !=
			0)
			return r;
		return check_capture(env->identify->capture, "identify.capture", sample, d);
	case PASO__ENVELOPE__BODY_ACK:
	case PASO__ENVELOPE__BODY_ERROR:
		return paso_diag_set(d, PASO_E_UNKNOWN_MESSAGE,
			"a kiosk may send Enroll, Crossing or Identify, not %s",
			env->body_case == PASO__ENVELOPE__BODY_ACK ? "Ack" : "Error");
	default:
		return paso_diag_set(
			d, PASO_E_UNKNOWN_MESSAGE, "unknown body %d", (int)env->body_case);
	}
}
