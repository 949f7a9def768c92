/* SPDX-License-Identifier: Apache-2.0 */
/* Validation of a decoded kiosk Envelope: every field checked before anything is stored. */
#ifndef PASO_INGEST_H
#define PASO_INGEST_H

#include "errors.h"
#include "paso.pb-c.h"
#include "sample.h"

#define INGEST_MAX_TEXT 64

/*
 * Checks env as sent by the kiosk whose certificate names peer: kiosk_id equals peer, seq >= 1,
 * the body is Enroll, Crossing or Identify with every required field present and in range,
 * and the capture decodes into *sample (caller owns it: bio_sample_clear). Pure: no I/O, no
 * policy. Returns 0 or PASO_E_KIOSK_MISMATCH, PASO_E_SEQ_INVALID, PASO_E_UNKNOWN_MESSAGE,
 * PASO_E_MISSING_FIELD, PASO_E_FIELD_RANGE or a template error, with d naming the field.
 */
int ingest_check(const Paso__Envelope *env, const char *peer, struct bio_sample *sample,
	struct paso_diag *d) __attribute__((warn_unused_result));

/* The Capture inside a kiosk message body, or NULL. Borrowed from env. */
const Paso__Capture *ingest_capture(const Paso__Envelope *env);

#endif
