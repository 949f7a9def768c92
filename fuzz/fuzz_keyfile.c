/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the hub's key files. The first input byte picks the reader: a keyring key
 * file (key_file_decode, which refuses anything but an intact file of the expected kind and id,
 * and then must hand out exactly the key bytes), a wrapped data key's header
 * (keyring_wrapped_kek), or the audit signing key's text (checkpoint_signer_from_text).
 * keyring.c is included to reach its static reader.
 */
#include "../registry/keyring.c"

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[KEY_BYTES], wrapped[KEYRING_WRAPPED_BYTES];
	struct checkpoint_signer *s = NULL;
	struct paso_diag d = {0};
	uint32_t epoch, gen;
	char *text;

	if (size < 1 || sodium_init() < 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (size < 2)
			return 0;
		/* the expected kind and id come from the file's own header when it has one */
		epoch = size >= 21 ? be32_get(data + 1 + 12) : 0;
		gen = size >= 21 ? be32_get(data + 1 + 16) : 0;
		if (key_file_decode(data + 1, size - 1, "fuzz.key", (enum key_kind)(data[1] % 4),
			    epoch, gen, key, &d) == 0) {
			uint8_t again[KEY_FILE_BYTES];

			key_file_encode(again, (enum key_kind)data[9], epoch, gen, key);
			if (memcmp(again, data + 1, KEY_FILE_BYTES) != 0)
				abort();
		}
		break;
	case 1:
		memset(wrapped, 0, sizeof(wrapped));
		memcpy(wrapped, data + 1, size - 1 < sizeof(wrapped) ? size - 1 : sizeof(wrapped));
		(void)keyring_wrapped_kek(wrapped, &epoch, &gen);
		break;
	default:
		if ((text = malloc(size)) == NULL)
			return 0;
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		if (checkpoint_signer_from_text(text, &s) == 0)
			checkpoint_signer_free(s);
		free(text);
		break;
	}
	sodium_memzero(key, sizeof(key));
	return 0;
}
