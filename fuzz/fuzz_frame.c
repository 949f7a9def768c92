/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: frame_header then frame_decode on a byte stream, as the hub reads it. */
#include <stdint.h>
#include <stdlib.h>

#include "errors.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Paso__Envelope *env = NULL;
	struct paso_diag d;
	uint32_t len = 0;
	size_t off = 0;
	uint8_t *out = NULL;
	size_t olen = 0;

	/* a stream of frames, each checked before its body is looked at */
	while (size - off >= FRAME_HEADER_BYTES) {
		if (frame_header(data + off, FRAME_DEFAULT_MAX, &len, &d) != 0)
			break;
		off += FRAME_HEADER_BYTES;
		if (len > size - off)
			break;
		if (frame_decode(data + off, len, &env, &d) == 0) {
			/* whatever decodes re-encodes without a fault (sizes may differ) */
			(void)frame_encode(env, FRAME_DEFAULT_MAX, &out, &olen);
			free(out);
			out = NULL;
			frame_free(env);
			env = NULL;
		} else if (env != NULL) {
			abort();
		}
		off += len;
	}
	return 0;
}
