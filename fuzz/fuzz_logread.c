/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the audit log directory's readers. The input is a log directory packed as
 * three u32 big-endian lengths, then `entries`, `offsets` and `hashes`, the rest being
 * `checkpoint`; it is written to a scratch directory and read by the outsider's reader
 * (logread: open, entries, proofs, the full verification under the fuzz log key) and by the
 * hub's start-up check (auditcheck_tail). Neither may trust a length or an offset it reads.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "auditcheck.h"
#include "fuzz_keys.h"
#include "logread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static struct checkpoint_verifier *logkey;

static void
put(const char *name, const uint8_t *p, size_t len)
{
	char path[128];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		abort();
	if (len > 0 && write(fd, p, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void
cleanup(void)
{
	static const char *const names[] = {"entries", "offsets", "hashes", "checkpoint"};
	char path[128];
	size_t i;

	for (i = 0; i < 4; i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

static uint32_t
be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_BYTES], h[MERKLE_HASH_BYTES], *e = NULL;
	struct logread_report rep;
	struct auditcheck_report crep;
	struct logread *lr = NULL;
	struct paso_diag d = {0};
	size_t el, ol, hl, len, n;
	uint64_t i, size_lr;

	if (logkey == NULL) {
		/* In memory where there is a tmpfs: four files are written per input. */
		(void)snprintf(dir, sizeof(dir), "/dev/shm/paso-fuzz-logread-XXXXXX");
		if (mkdtemp(dir) == NULL)
			(void)snprintf(dir, sizeof(dir), "/tmp/paso-fuzz-logread-XXXXXX");
		if (sodium_init() < 0 || (dir[1] == 't' && mkdtemp(dir) == NULL) ||
			checkpoint_verifier_from_vkey(FUZZ_LOG_VKEY, &logkey) != 0)
			abort();
		(void)atexit(cleanup);
	}
	if (size < 12)
		return 0;
	el = be32(data);
	ol = be32(data + 4);
	hl = be32(data + 8);
	data += 12;
	size -= 12;
	if (el > size || ol > size - el || hl > size - el - ol)
		return 0;
	put("entries", data, el);
	put("offsets", data + el, ol);
	put("hashes", data + el + ol, hl);
	put("checkpoint", data + el + ol + hl, size - el - ol - hl);
	if (logread_open(dir, &lr, &d) == 0) {
		size_lr = logread_size(lr);
		for (i = 0; i < size_lr && i < 8; i++) {
			if (logread_entry(lr, i, &e, &len) == 0)
				free(e);
			e = NULL;
			(void)logread_leaf_hash(lr, i, h);
		}
		if (size_lr > 0) {
			(void)logread_root(lr, size_lr, h);
			(void)logread_inclusion(
				lr, size_lr - 1, size_lr, path, MERKLE_MAX_PROOF, &n);
			(void)logread_consistency(lr, 1, size_lr, path, MERKLE_MAX_PROOF, &n);
		}
		logread_close(lr);
	}
	/* gcc (the corpus replay) does not let (void) drop a warn_unused_result */
	if (logread_verify(dir, logkey, NULL, &rep, &d) != 0)
		d.code = 0;
	if (auditcheck_tail(dir, 64, &crep, &d) != 0)
		d.code = 0;
	return 0;
}
