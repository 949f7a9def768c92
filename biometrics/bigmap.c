/* SPDX-License-Identifier: Apache-2.0 */
/* Large biometric arrays that grow without a copy (bigmap.h). */
#include "bigmap.h"

#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

static size_t
map_len(size_t bytes)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return bytes == 0 ? pg : (bytes + pg - 1) / pg * pg;
}

void *
bigmap_grow(void *old, size_t old_bytes, size_t new_bytes)
{
	size_t ol = map_len(old_bytes), nl = map_len(new_bytes);
	void *p;

	if (old != NULL && nl <= ol)
		return old;
	if (old == NULL)
		p = mmap(NULL, nl, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	else
		p = mremap(old, ol, nl, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, nl, MADV_DONTDUMP);
	return p;
}

void
bigmap_free(void *p, size_t bytes)
{
	if (p == NULL)
		return;
	sodium_memzero(p, bytes);
	(void)munmap(p, map_len(bytes));
}
