/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: tlog-tiles entry bundles as a client fetches them (u16 length || entry, for
 * exactly the tile's width of entries). The first byte is the width (1..256); tlogclient.c is
 * included to reach its static parser. An accepted bundle's entries lie inside it, end to end.
 */
#include "../audit/tlogclient.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t offs[TILEPATH_WIDTH], lens[TILEPATH_WIDTH], end = 0;
	uint8_t h[MERKLE_HASH_BYTES];
	unsigned w, i;

	if (size < 1)
		return 0;
	w = (unsigned)data[0] + 1;
	if (parse_bundle(data + 1, size - 1, w, offs, lens) != 0)
		return 0;
	for (i = 0; i < w; i++) {
		if (offs[i] != end + 2 || offs[i] + lens[i] > size - 1)
			abort();
		end = offs[i] + lens[i];
		merkle_leaf_hash(data + 1 + offs[i], lens[i], h);
	}
	if (end != size - 1)
		abort();
	return 0;
}
