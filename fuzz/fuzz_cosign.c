/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the hub's witnesses file (DIR/witnesses: NAME URL VKEY lines). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cosign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cosign_witness w[COSIGN_MAX_WITNESSES];
	struct paso_diag d = {0};
	size_t n = 0, i;

	if (cosign_parse((const char *)data, size, "witnesses", w, COSIGN_MAX_WITNESSES, &n, &d) ==
		0) {
		/* What was accepted is what a hub would use: names, URLs and keys that parse. */
		for (i = 0; i < n; i++)
			if (w[i].name[0] == '\0' || strncmp(w[i].url, "http://", 7) != 0 ||
				strchr(w[i].vkey, ' ') != NULL)
				abort();
	} else if (d.msg[0] == '\0' || strchr(d.msg, '\n') != NULL) {
		abort(); /* a refusal says why, on one line */
	}
	return 0;
}
