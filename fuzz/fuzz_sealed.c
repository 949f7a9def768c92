/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: opening a sealed record and what the hub does with it at start. A sealed row
 * (row_open under a fixed data key) is opened, decoded as a SubjectRecord and its templates
 * turned into a sample and a match template, as loading the gallery does; a crossing event row
 * likewise. The first input byte picks: a hostile sealed row as is, or the rest sealed with
 * row_seal, which must open to the same bytes. vault.c is included to reach its static reader.
 */
#include "../registry/vault.c"

#include "frame.h"
#include "match.h"
#include "sample.h"
#include "sample_pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
use_record(const uint8_t *rec, size_t len)
{
	Paso__SubjectRecord *sr;
	Paso__CrossingEvent *ev;
	struct match_template *t = NULL;
	struct bio_sample s;
	struct paso_diag d = {0};

	memset(&s, 0, sizeof(s));
	if ((sr = paso__subject_record__unpack(frame_allocator(), len, rec)) != NULL) {
		if (sr->templates != NULL && sample_from_pb(sr->templates, &s, &d) == 0 &&
			match_template_new(&s, &t, &d) == 0)
			match_template_free(t);
		paso__subject_record__free_unpacked(sr, frame_allocator());
	}
	if ((ev = paso__crossing_event__unpack(frame_allocator(), len, rec)) != NULL)
		paso__crossing_event__free_unpacked(ev, frame_allocator());
	bio_sample_clear(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t dk[KEYRING_DK_BYTES] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
	static const uint8_t id[VAULT_ID_BYTES] = {0x11, 0x22, 0x33};
	uint8_t *sealed = NULL, *rec = NULL;
	size_t len = 0;
	MDB_val v;

	if (size < 1 || sodium_init() < 0)
		return 0;
	if (data[0] & 1) {
		if ((sealed = malloc(REC_HDR + size - 1 + REC_TAG)) == NULL)
			return 0;
		row_seal(NULL, dk, "paso-rec1", id, VAULT_ID_BYTES, 3, data + 1, size - 1, sealed);
		v = (MDB_val){REC_HDR + size - 1 + REC_TAG, sealed};
		if (row_open(dk, "paso-rec1", id, VAULT_ID_BYTES, &v, &rec, &len) != 0 ||
			len != size - 1 || (len > 0 && memcmp(rec, data + 1, len) != 0))
			abort();
		/* the same row under another label or key never opens */
		vault_free_record(rec, len);
		rec = NULL;
		if (row_open(dk, "paso-evt1", id, VAULT_ID_BYTES, &v, &rec, &len) == 0)
			abort();
		(void)row_open(dk, "paso-rec1", id, VAULT_ID_BYTES, &v, &rec, &len);
	} else {
		v = (MDB_val){size - 1, (void *)(data + 1)};
		if (row_open(dk, "paso-rec1", id, VAULT_ID_BYTES, &v, &rec, &len) != 0 &&
			rec != NULL)
			abort();
		/* a hostile sealed row cannot be forged, so the decoders also see the raw bytes */
		use_record(data + 1, size - 1);
	}
	if (rec != NULL)
		use_record(rec, len);
	vault_free_record(rec, len);
	free(sealed);
	return 0;
}
