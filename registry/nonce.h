/* SPDX-License-Identifier: Apache-2.0 */
/* Fresh random nonces for sealing, drawn from a buffer of the OS's random bytes. */
#ifndef PASO_NONCE_H
#define PASO_NONCE_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/*
 * Every row the hub seals takes a 24-byte random XChaCha20-Poly1305 nonce. Asking the OS for
 * each one is a getrandom(2) system call per seal (two or three a crossing, on the commit
 * loop). A pool instead asks the OS for NONCE_POOL_BYTES at once and hands them out in order,
 * each byte once: the nonces are the same OS random bytes, fetched in bulk.
 *
 * Only nonces come from a pool, never keys: a nonce is written in the clear beside its
 * ciphertext and needs only to be unpredictable-enough-to-never-repeat, so bytes waiting in
 * the pool are not secrets. Fork: the pool's page is MADV_WIPEONFORK, so a child sees an
 * empty pool and refills it from the OS rather than repeating its parent's nonces; where the
 * kernel cannot do that (before Linux 4.14) the pool is off and every nonce is one getrandom
 * call, as before.
 */
#define NONCE_POOL_BYTES 4032

struct nonce_pool;

/* Caller owns *out (nonce_pool_free). Thread-safe (one internal mutex). 0 or PASO_E_NOMEM. */
int nonce_pool_new(struct nonce_pool **out);
void nonce_pool_free(struct nonce_pool *p);

/* Fills out[0..n) with fresh random bytes (p may be NULL: straight from the OS). */
void nonce_pool_take(struct nonce_pool *p, uint8_t *out, size_t n);

#endif
