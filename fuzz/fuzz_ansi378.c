/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the ANSI INCITS 378-2004 path of iso19794_read; accepted records must convert to ISO. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "iso19794.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs are the bytes after the 8-byte "FMR\0" "020\0" prefix, so every run reads ANSI 2004. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fmr_record rec, iso;
	struct paso_diag d;
	uint8_t *buf, *out = NULL;
	size_t olen = 0;
	int r, i, j;

	if (size > 1u << 20 || (buf = malloc(size + 8)) == NULL)
		return 0;
	memcpy(buf,
		"FMR\0"
		"020\0",
		8);
	if (size > 0)
		memcpy(buf + 8, data, size);
	r = iso19794_read(buf, size + 8, &rec, &d);
	if (r != 0 && r != PASO_E_TEMPLATE_FORMAT && r != PASO_E_TEMPLATE_TRUNCATED)
		abort();
	if (r == 0) {
		if (rec.format != FMR_ANSI_2004)
			abort();
		/* ANSI -> ISO keeps every minutia and reads back */
		if (iso19794_write(&rec, &out, &olen, &d) != 0 ||
			iso19794_read(out, olen, &iso, &d) != 0)
			abort();
		for (i = 0; i < rec.n_views; i++) {
			if (iso.views[i].n_minutiae != rec.views[i].n_minutiae)
				abort();
			for (j = 0; j < rec.views[i].n_minutiae; j++)
				if (iso.views[i].m[j].x != rec.views[i].m[j].x ||
					iso.views[i].m[j].y != rec.views[i].m[j].y)
					abort();
		}
		fmr_record_free(&iso);
	}
	free(out);
	free(buf);
	fmr_record_free(&rec);
	return 0;
}
