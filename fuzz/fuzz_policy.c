/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: policy_parse over arbitrary bytes (a hostile or broken policy file). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p = NULL;
	struct paso_diag d;
	char *dump = NULL;

	if (policy_parse((const char *)data, size, "fuzz.yaml", &p, &d) == 0) {
		/* whatever parses dumps, and the dump parses again */
		if (policy_dump(p, &dump) == 0) {
			struct policy *q = NULL;

			if (policy_parse(dump, strlen(dump), "dump.yaml", &q, &d) != 0)
				abort();
			policy_free(q);
		}
		free(dump);
		policy_free(p);
	}
	return 0;
}
