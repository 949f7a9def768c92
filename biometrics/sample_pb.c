/* SPDX-License-Identifier: Apache-2.0 */
/* Converts captures between the wire and memory, refusing every malformed biometric field by name.
 */
#include "sample_pb.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "iso19794.h"

/* The sub-messages sample_to_pb points c at; face first so c->face finds the block. */
struct pb_block {
	Paso__FaceTemplate face;
	Paso__IrisCode iris[2];
	Paso__IrisCode *iris_ptrs[2];
};

static int
check_bytes(const ProtobufCBinaryData *b, int i, const char *what, struct paso_diag *d)
{
	if (b->len == 0)
		return paso_diag_set(
			d, PASO_E_MISSING_FIELD, "capture.iris[%d].%s: missing", i, what);
	if (b->len != BIO_IRIS_BYTES)
		return paso_diag_set(d, PASO_E_FIELD_RANGE,
			"capture.iris[%d].%s: %zu bytes, expected %d", i, what, b->len,
			BIO_IRIS_BYTES);
	return 0;
}

/*
 * The squared norm of a face embedding as the sum, in order, of each value's square in double
 * (the norm check's value since the first release): four running sums instead of one chain of
 * 512 dependent additions (a crossing's probe), and the sum in order again only when the norm
 * lands within 1e-9 of the check's 1e-3 tolerance, where the order of the additions could
 * decide. Returns 0, or PASO_E_FIELD_RANGE naming the first value that is not finite.
 */
static int
face_norm_sq(const float *e, double *ssp, struct paso_diag *d)
{
	double s4[4] = {0, 0, 0, 0}, ss;
	size_t k, j;
	int bad = 0;

	for (k = 0; k < BIO_FACE_DIM; k += 4)
		for (j = 0; j < 4; j++) {
			bad |= !isfinite(e[k + j]);
			s4[j] += (double)e[k + j] * e[k + j];
		}
	if (bad) {
		for (k = 0; isfinite(e[k]); k++)
			;
		return paso_diag_set(d, PASO_E_FIELD_RANGE,
			"capture.face.embedding[%zu]: not a finite number", k);
	}
	ss = (s4[0] + s4[1]) + (s4[2] + s4[3]);
	if (fabs(fabs(sqrt(ss) - 1) - 1e-3) < 1e-9)
		for (ss = 0, k = 0; k < BIO_FACE_DIM; k++)
			ss += (double)e[k] * e[k];
	*ssp = ss;
	return 0;
}

int
sample_from_pb(const Paso__Capture *c, struct bio_sample *out, struct paso_diag *d)
{
	double ss = 0;
	size_t i;
	int r, seen[3] = {0, 0, 0};

	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return paso_diag_set(d, PASO_E_MISSING_FIELD, "capture: missing");
	if (c->finger_record.len == 0 && c->face == NULL && c->n_iris == 0) {
		r = paso_diag_set(d, PASO_E_MISSING_FIELD,
			"capture: no finger_record, face or iris (at least one is required)");
		goto out;
	}
	if (c->finger_record.len > 0) {
		struct paso_diag fd = {0, {0}};

		if ((r = iso19794_validate(c->finger_record.data, c->finger_record.len, &fd)) !=
			0) {
			paso_diag_set(d, r, "capture.finger_record: %s", fd.msg);
			goto out;
		}
		if ((out->finger_record = malloc(c->finger_record.len)) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
		memcpy(out->finger_record, c->finger_record.data, c->finger_record.len);
		out->finger_len = c->finger_record.len;
	}
	if (c->face != NULL) {
		if (c->face->n_embedding != BIO_FACE_DIM) {
			r = paso_diag_set(d,
				c->face->n_embedding == 0 ? PASO_E_MISSING_FIELD
							  : PASO_E_FIELD_RANGE,
				"capture.face.embedding: %zu values, expected %d",
				c->face->n_embedding, BIO_FACE_DIM);
			goto out;
		}
		if ((r = face_norm_sq(c->face->embedding, &ss, d)) != 0)
			goto out;
		memcpy(out->face, c->face->embedding, sizeof(out->face));
		if (fabs(sqrt(ss) - 1) > 1e-3) {
			/* The norm is computed from the template: it is not quoted. */
			r = paso_diag_set(d, PASO_E_FIELD_RANGE,
				"capture.face.embedding: L2 norm is not 1 (within 0.001)");
			goto out;
		}
		out->has_face = 1;
	}
	if (c->n_iris > 2) {
		r = paso_diag_set(
			d, PASO_E_FIELD_RANGE, "capture.iris: %zu codes, at most 2", c->n_iris);
		goto out;
	}
	for (i = 0; i < c->n_iris; i++) {
		const Paso__IrisCode *ic = c->iris[i];

		if (ic->eye == PASO__EYE__EYE_UNSPECIFIED) {
			r = paso_diag_set(
				d, PASO_E_MISSING_FIELD, "capture.iris[%zu].eye: missing", i);
			goto out;
		}
		if (ic->eye != PASO__EYE__EYE_RIGHT && ic->eye != PASO__EYE__EYE_LEFT) {
			r = paso_diag_set(d, PASO_E_FIELD_RANGE,
				"capture.iris[%zu].eye: %d is not RIGHT (1) or LEFT (2)", i,
				(int)ic->eye);
			goto out;
		}
		if (seen[ic->eye]++) {
			r = paso_diag_set(d, PASO_E_FIELD_RANGE,
				"capture.iris[%zu].eye: %s eye repeated", i,
				ic->eye == PASO__EYE__EYE_RIGHT ? "RIGHT" : "LEFT");
			goto out;
		}
		if ((r = check_bytes(&ic->code, (int)i, "code", d)) != 0 ||
			(r = check_bytes(&ic->mask, (int)i, "mask", d)) != 0)
			goto out;
		out->iris[i].eye = (uint8_t)ic->eye;
		memcpy(out->iris[i].code, ic->code.data, BIO_IRIS_BYTES);
		memcpy(out->iris[i].mask, ic->mask.data, BIO_IRIS_BYTES);
		out->n_iris = (int)i + 1;
	}
	r = 0;
out:
	if (r != 0)
		bio_sample_clear(out);
	return r;
}

int
sample_to_pb(const struct bio_sample *s, Paso__Capture *c)
{
	struct pb_block *b;
	int i;

	if (s->n_iris < 0 || s->n_iris > 2)
		return PASO_E_FIELD_RANGE;
	c->finger_record.data = s->finger_record;
	c->finger_record.len = s->finger_record != NULL ? s->finger_len : 0;
	c->face = NULL;
	c->n_iris = 0;
	c->iris = NULL;
	if (!s->has_face && s->n_iris == 0)
		return 0;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return PASO_E_NOMEM;
	paso__face_template__init(&b->face);
	if (s->has_face) {
		b->face.n_embedding = BIO_FACE_DIM;
		b->face.embedding = (float *)s->face; /* protobuf-c packs without writing */
		c->face = &b->face;
	}
	for (i = 0; i < s->n_iris; i++) {
		paso__iris_code__init(&b->iris[i]);
		b->iris[i].eye = (Paso__Eye)s->iris[i].eye;
		b->iris[i].code.data = (uint8_t *)s->iris[i].code;
		b->iris[i].code.len = BIO_IRIS_BYTES;
		b->iris[i].mask.data = (uint8_t *)s->iris[i].mask;
		b->iris[i].mask.len = BIO_IRIS_BYTES;
		b->iris_ptrs[i] = &b->iris[i];
	}
	c->n_iris = (size_t)s->n_iris;
	c->iris = b->iris_ptrs;
	return 0;
}

void
sample_pb_release(Paso__Capture *c)
{
	struct pb_block *b = NULL;

	if (c->face != NULL)
		b = (struct pb_block *)(void *)c->face;
	else if (c->iris != NULL)
		b = (struct pb_block *)(void *)((uint8_t *)c->iris -
						offsetof(struct pb_block, iris_ptrs));
	if (b != NULL)
		sodium_memzero(b, sizeof(*b));
	free(b);
	c->face = NULL;
	c->iris = NULL;
	c->n_iris = 0;
	c->finger_record.data = NULL;
	c->finger_record.len = 0;
}
