/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: iso19794_read on raw bytes; an accepted standard ISO record writes back byte for byte. */
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
	if (r == 0 && rec.format == FMR_ISO_2005 && rec.tolerated == 0) {
		/* what the reader accepts as standard the writer reproduces exactly */
		if (iso19794_write(&rec, &out, &olen, &d) != 0 || olen != size ||
			memcmp(out, data, size) != 0)
			abort();
		if (iso19794_validate(data, size, &d) == 0 && rec.n_views == 0)
			abort();
	} else if (r == 0 && rec.format == FMR_ISO_2005) {
		/* forgiven (padding, header-counting extended data): the hub refuses it, and the
		 * writer's standard form reads back with nothing forgiven */
		struct fmr_record again;

		if (iso19794_validate(data, size, &d) == 0)
			abort();
		if (iso19794_write(&rec, &out, &olen, &d) != 0 ||
			iso19794_read(out, olen, &again, &d) != 0 || again.tolerated != 0 ||
			again.n_views != rec.n_views)
			abort();
		fmr_record_free(&again);
	}
	free(out);
	fmr_record_free(&rec);
	return 0;
}
