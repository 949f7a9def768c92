/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: signed-note and checkpoint parsing, and vkey parsing, on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct checkpoint_note *n = NULL;
	struct checkpoint_verifier *v = NULL;
	struct checkpoint cp;
	struct paso_diag d;
	char *text;

	if (checkpoint_note_parse((const char *)data, size, &n, &d) == 0)
		checkpoint_note_free(n);
	/* gcc (the corpus replay) does not let (void) drop a warn_unused_result */
	if (checkpoint_parse_text((const char *)data, size, &cp, &d) != 0)
		d.code = 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (checkpoint_verifier_parse(text, &v, &d) == 0)
		checkpoint_verifier_free(v);
	free(text);
	return 0;
}
