/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the tlog-witness side. The first input byte picks: 0 the add-checkpoint
 * request parser (old size, proof lines, blank line); 1 the state journal's reader (records of
 * length, note, BLAKE2b-256), under the fuzz log key; 2 the whole decision
 * (witness_add_checkpoint) of a witness that trusts the fuzz log key, its state in a scratch
 * directory. witness.c is included to reach its static readers.
 */
#include "../audit/witness.c"

#include <dirent.h>

#include "fuzz_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct witness *wit;
static struct checkpoint_verifier *logkey;

static char dir[] = "/tmp/paso-fuzz-witness-XXXXXX";

/* The scratch state (key, journal) goes when the run ends. */
static void
cleanup(void)
{
	struct dirent *de;
	char path[512];
	DIR *dp;

	if ((dp = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.') {
			(void)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			(void)unlink(path);
		}
	closedir(dp);
	(void)rmdir(dir);
}

static void
setup(void)
{
	struct paso_diag d = {0};

	if (sodium_init() < 0 || mkdtemp(dir) == NULL ||
		witness_open(dir, "paso-witness/fuzz", &wit, &d) != 0 ||
		witness_add_log(wit, FUZZ_LOG_VKEY, &d) != 0 ||
		checkpoint_verifier_from_vkey(FUZZ_LOG_VKEY, &logkey) != 0)
		abort();
	(void)atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t proof[WITNESS_MAX_PROOF][MERKLE_HASH_BYTES];
	struct checkpoint cp;
	struct paso_diag d = {0};
	uint64_t old = 0, known = 0;
	size_t np = 0, off = 0;
	char *cos = NULL;

	if (wit == NULL)
		setup();
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (parse_request(data + 1, size - 1, &old, proof, &np, &off, &d) == 0 &&
			(np > WITNESS_MAX_PROOF || off > size - 1))
			abort();
		break;
	case 1:
		memset(&cp, 0, sizeof(cp));
		(void)journal_scan(data + 1, size - 1, logkey, &cp, &off, &d);
		if (off > size - 1)
			abort();
		break;
	default:
		if (witness_add_checkpoint(
			    wit, data + 1, size - 1, 1800000000u, &cos, &known, &d) == 0) {
			if (cos == NULL || strncmp(cos, "\xe2\x80\x94 paso-witness/fuzz ", 20) != 0)
				abort();
			free(cos);
		}
		(void)witness_http_status(d.code);
		break;
	}
	return 0;
}
