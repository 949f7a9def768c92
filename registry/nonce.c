/* SPDX-License-Identifier: Apache-2.0 */
/* Nonces from a buffer of ChaCha20 keystream under a key from the OS: one getrandom call per
 * NONCE_REKEY refills (~170 seals a refill). */
#include "nonce.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

/* Refills under one key from the OS before the next (~2.6 MB of nonces, ~110,000 seals). */
#define NONCE_REKEY 640

/* One page: the counts first, so a child's wiped page reads as empty and keyless. */
struct nonce_page {
	size_t left;    /* unused bytes at the end of buf */
	uint64_t fills; /* refills made under key; 0: no key yet */
	uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];
	uint8_t buf[NONCE_POOL_BYTES]; /* bytes before buf + (sizeof(buf) - left) are used */
};

/*
 * Refills pg->buf: the ChaCha20 keystream of block counter 0 under pg->key and a nonce that
 * numbers the refill, so no two refills under one key share a byte of keystream. A getrandom
 * call of the page's size costs the kernel ~25 us (perf at 64 kiosks: 2.7% of the commit
 * loop); the keystream ~1 us. The key comes from the OS every NONCE_REKEY refills.
 */
static void
refill(struct nonce_page *pg)
{
	uint8_t n[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
	uint64_t f;
	int i;

	if (pg->fills == 0 || pg->fills >= NONCE_REKEY) {
		randombytes_buf(pg->key, sizeof(pg->key));
		pg->fills = 0;
	}
	f = ++pg->fills;
	for (i = 0; i < 8; i++)
		n[i] = (uint8_t)(f >> (8 * i));
	crypto_stream_chacha20_ietf(pg->buf, sizeof(pg->buf), n, pg->key);
	pg->left = sizeof(pg->buf);
}

struct nonce_pool {
	pthread_mutex_t lock;
	struct nonce_page *page; /* NULL: the pool is off (no MADV_WIPEONFORK) */
	size_t pagelen;
};

int
nonce_pool_new(struct nonce_pool **out)
{
	struct nonce_pool *p;
	long ps = sysconf(_SC_PAGESIZE);
	void *m;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return PASO_E_NOMEM;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		return PASO_E_NOMEM;
	}
	p->pagelen = ps > 0 && (size_t)ps >= sizeof(struct nonce_page) ? (size_t)ps : 8192;
	m = mmap(NULL, p->pagelen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED) {
		/* Without wipe-on-fork a child would hand out its parent's next nonces: no pool.
		 * Not dumped: not secret, but nothing in it is of use to a reader of a core. */
		if (madvise(m, p->pagelen, MADV_WIPEONFORK) == 0) {
			(void)madvise(m, p->pagelen, MADV_DONTDUMP);
			p->page = m;
		} else
			(void)munmap(m, p->pagelen);
	}
	*out = p;
	return 0;
}

void
nonce_pool_free(struct nonce_pool *p)
{
	if (p == NULL)
		return;
	if (p->page != NULL) {
		sodium_memzero(p->page, p->pagelen);
		(void)munmap(p->page, p->pagelen);
	}
	(void)pthread_mutex_destroy(&p->lock);
	free(p);
}

void
nonce_pool_take(struct nonce_pool *p, uint8_t *out, size_t n)
{
	struct nonce_page *pg;
	uint8_t *at;

	if (p == NULL || p->page == NULL || n > sizeof(pg->buf) / 4) {
		randombytes_buf(out, n);
		return;
	}
	pthread_mutex_lock(&p->lock);
	pg = p->page;
	if (pg->left < n)
		refill(pg);
	at = pg->buf + sizeof(pg->buf) - pg->left;
	memcpy(out, at, n);
	/* A byte handed out is gone from the pool: never handed out twice, even to a reader. */
	sodium_memzero(at, n);
	pg->left -= n;
	pthread_mutex_unlock(&p->lock);
}
