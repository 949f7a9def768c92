/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the kiosk outbox reader. A queued row as LMDB hands it back (key, value) is
 * opened with the outbox key and its Envelope decoded, as the kiosk does before sending or
 * renumbering. The first input byte picks the mode: a hostile row as is, or the rest sealed the
 * way outbox_put seals it, which must open to the same bytes. outbox.c is included to reach its
 * static reader.
 */
#include "../kiosk-sim/outbox.c"

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = {7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
	struct outbox_item it = {0, NULL, 0, 0};
	Paso__Envelope *env = NULL;
	uint8_t kb[8], *sealed = NULL;
	MDB_val k, v;
	int r;

	if (size < 1 || sodium_init() < 0)
		return 0;
	if (data[0] & 1) {
		/* the rest is a plaintext: seal it as outbox_put does, it must open unchanged */
		be64_put(kb, size);
		if ((sealed = malloc(NONCE + size - 1 + TAG)) == NULL)
			return 0;
		memset(sealed, 0x5a, NONCE);
		crypto_aead_xchacha20poly1305_ietf_encrypt(
			sealed + NONCE, NULL, data + 1, size - 1, kb, 8, NULL, sealed, key);
		k = (MDB_val){8, kb};
		v = (MDB_val){NONCE + size - 1 + TAG, sealed};
		if (item_open(key, &k, &v, &it) != 0 || it.len != size - 1 ||
			(it.len > 0 && memcmp(it.data, data + 1, it.len) != 0) || it.seq != size)
			abort();
	} else {
		/* the rest is a row: key length in the next byte, then key, then value */
		size_t klen = size > 1 ? data[1] % 16 : 0;

		if (size < 2 + klen)
			return 0;
		k = (MDB_val){klen, (void *)(data + 2)};
		v = (MDB_val){size - 2 - klen, (void *)(data + 2 + klen)};
		r = item_open(key, &k, &v, &it);
		if (r != 0 && it.data != NULL)
			abort();
	}
	if (it.data != NULL && frame_decode(it.data, it.len, &env, NULL) == 0)
		frame_free(env);
	if (it.data != NULL) {
		sodium_memzero(it.data, it.len);
		free(it.data);
	}
	free(sealed);
	return 0;
}
