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
