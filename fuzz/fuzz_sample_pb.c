/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: sample_from_pb on any Capture protobuf (the biometric part of every message). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "frame.h"
#include "sample.h"
#include "sample_pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Paso__Capture *c, pb = PASO__CAPTURE__INIT;
	struct bio_sample s, back;
	struct paso_diag d = {0};
	const unsigned char *p;

	memset(&s, 0, sizeof(s));
	memset(&back, 0, sizeof(back));
	if ((c = paso__capture__unpack(frame_allocator(), size, data)) == NULL)
		return 0;
	if (sample_from_pb(c, &s, &d) != 0) {
		/* refusals name the field, in one printable line, and hand nothing out */
		for (p = (const unsigned char *)d.msg; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f)
				abort();
		if (s.finger_record != NULL || s.has_face || s.n_iris != 0)
			abort();
	} else {
		if (sample_to_pb(&s, &pb) != 0 || sample_from_pb(&pb, &back, &d) != 0)
			abort();
		if (back.finger_len != s.finger_len ||
			(s.finger_len > 0 &&
				memcmp(back.finger_record, s.finger_record, s.finger_len) != 0))
			abort();
		sample_pb_release(&pb);
	}
	bio_sample_clear(&back);
	bio_sample_clear(&s);
	paso__capture__free_unpacked(c, frame_allocator());
	return 0;
}
