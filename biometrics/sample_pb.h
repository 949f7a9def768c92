/* SPDX-License-Identifier: Apache-2.0 */
/* The wire form of a capture: struct bio_sample <-> protobuf Paso__Capture, with every field
 * checked. */
#ifndef PASO_SAMPLE_PB_H
#define PASO_SAMPLE_PB_H

#include "errors.h"
#include "paso.pb-c.h"
#include "sample.h"

/*
 * Validates a received Capture and copies its biometric fields into *out (cleared first; caller
 * owns it: bio_sample_clear, also done here on error). Checks: at least one modality; the finger
 * record with iso19794_validate; face exactly 512 finite floats with L2 norm 1 (+-1e-3); at most 2
 * irises, eye RIGHT or LEFT each at most once, code and mask exactly 256 bytes. capture_time and
 * preset are not biometric and not checked here. Returns 0, PASO_E_MISSING_FIELD,
 * PASO_E_FIELD_RANGE, PASO_E_TEMPLATE_* (finger record) or PASO_E_NOMEM; d (may be NULL) names
 * the field, e.g. "capture.iris[1].code: 255 bytes, expected 256". Never quotes biometric bytes.
 */
int sample_from_pb(const Paso__Capture *c, struct bio_sample *out, struct paso_diag *d)
	__attribute__((warn_unused_result));

/*
 * Fills the biometric fields of c (initialised by the caller with PASO__CAPTURE__INIT; other fields
 * untouched). c then points into s (valid while s lives and is unchanged) and into one small block
 * allocated here for the face and iris sub-messages: release it with sample_pb_release(c) after
 * packing. Returns 0, PASO_E_FIELD_RANGE (n_iris out of 0..2) or PASO_E_NOMEM.
 */
int sample_to_pb(const struct bio_sample *s, Paso__Capture *c);

/* Frees what sample_to_pb allocated and unsets those fields of c. Accepts a c without any. */
void sample_pb_release(Paso__Capture *c);

#endif
