/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the hub's message validation after protobuf decoding. frame_decode, then
 * ingest_check as the hub runs it for a kiosk whose certificate names the sender (and for one
 * that does not), so every field check and the template parsers behind it are reached.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "frame.h"
#include "ingest.h"
#include "sample.h"
#include "sample_pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A refusal's message goes to the hub's log: it must be one printable line, never raw bytes. */
static void
check_printable(const struct paso_diag *d)
{
	const unsigned char *p;

	for (p = (const unsigned char *)d->msg; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Paso__Envelope *env = NULL;
	Paso__Capture pb = PASO__CAPTURE__INIT;
	struct bio_sample s, back;
	struct paso_diag d = {0};
	const char *peer;
	int r;

	memset(&s, 0, sizeof(s));
	memset(&back, 0, sizeof(back));
	if (frame_decode(data, size, &env, &d) != 0) {
		check_printable(&d);
		return 0;
	}
	peer = (size & 1) && env->kiosk_id != NULL ? env->kiosk_id : "kiosk-talisman";
	r = ingest_check(env, peer, &s, &d);
	if (r != 0) {
		check_printable(&d);
		/* a refusal hands nothing out */
		if (s.finger_record != NULL || s.has_face || s.n_iris != 0)
			abort();
	} else {
		/* an accepted capture goes back on the wire and is accepted again */
		if (sample_to_pb(&s, &pb) != 0 || sample_from_pb(&pb, &back, &d) != 0)
			abort();
		if (back.finger_len != s.finger_len || back.has_face != s.has_face ||
			back.n_iris != s.n_iris)
			abort();
		sample_pb_release(&pb);
	}
	bio_sample_clear(&back);
	bio_sample_clear(&s);
	frame_free(env);
	return 0;
}
