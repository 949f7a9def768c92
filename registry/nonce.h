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
 * loop). A pool instead holds NONCE_POOL_BYTES and hands them out in order, each byte once. It
 * is filled with ChaCha20 keystream under a 32-byte key from the OS (each fill under its own
 * stream nonce; a new key from the OS every 640 fills): a getrandom call of the pool's size
 * cost the kernel ~25 us, the keystream ~1 us. Nonces need only never repeat, and 24 bytes of
 * keystream repeat no more often than 24 bytes from the OS.
 *
 * Only nonces come from a pool, never keys: a nonce is written in the clear beside its
 * ciphertext, so bytes waiting in the pool, and the pool's stream key (it yields only nonces),
 * are not secrets. Fork: the pool's page (its bytes, counts and stream key) is
 * MADV_WIPEONFORK, so a child sees an empty, keyless pool and takes a key of its own from the
 * OS rather than repeating its parent's nonces; where the
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
