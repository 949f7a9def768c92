/* SPDX-License-Identifier: Apache-2.0 */
/* Lifetime of an in-memory biometric sample: wiped before it is released. */
#include "sample.h"

#include <stdlib.h>
#include <sodium.h>

void
bio_sample_clear(struct bio_sample *s)
{
	if (s == NULL)
		return;
	if (s->finger_record != NULL) {
		sodium_memzero(s->finger_record, s->finger_len);
		free(s->finger_record);
	}
	sodium_memzero(s, sizeof(*s));
}

int
bio_sample_keep(struct bio_sample *s, unsigned keep)
{
	int removed = 0;

	if (!(keep & BIO_FINGER) && s->finger_record != NULL) {
		sodium_memzero(s->finger_record, s->finger_len);
		free(s->finger_record);
		s->finger_record = NULL;
		s->finger_len = 0;
		removed = 1;
	}
	if (!(keep & BIO_FACE) && s->has_face) {
		sodium_memzero(s->face, sizeof(s->face));
		s->has_face = 0;
		removed = 1;
	}
	if (!(keep & BIO_IRIS) && s->n_iris > 0) {
		sodium_memzero(s->iris, sizeof(s->iris));
		s->n_iris = 0;
		removed = 1;
	}
	return removed;
}
