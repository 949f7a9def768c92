/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: iso19794_read on raw bytes; an accepted ISO record must write back byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "iso19794.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmr_record rec;
	struct paso_diag d;
	uint8_t *out = NULL;
	size_t olen = 0;
	int r = iso19794_read(data, size, &rec, &d);

	if (r != 0 && r != PASO_E_TEMPLATE_FORMAT && r != PASO_E_TEMPLATE_VERSION &&
		r != PASO_E_TEMPLATE_TRUNCATED && r != PASO_E_INVALID_ARG)
		abort();
	if (r == 0 && rec.format == FMR_ISO_2005) {
		/* the reader accepts only what the writer reproduces exactly */
		if (iso19794_write(&rec, &out, &olen, &d) != 0 || olen != size ||
			memcmp(out, data, size) != 0)
			abort();
		if (iso19794_validate(data, size, &d) == 0 && rec.n_views == 0)
			abort();
	}
	free(out);
	fmr_record_free(&rec);
	return 0;
}
