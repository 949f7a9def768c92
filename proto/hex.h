/* SPDX-License-Identifier: Apache-2.0 */
/* Hex encoding for public values (hashes, pseudonyms, key ids); never for secrets. */
#ifndef PASO_HEX_H
#define PASO_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*len lowercase hex digits and a NUL into out (size >= 2*len+1). */
void hex_encode(const uint8_t *in, size_t len, char *out);

/*
 * Decodes an even-length hex string of strlen(in) digits into out (capacity cap).
 * Returns 0 and sets *lenp, or PASO_E_INVALID_ARG (odd length, a non-hex digit, too long).
 */
int hex_decode(const char *in, uint8_t *out, size_t cap, size_t *lenp)
	__attribute__((warn_unused_result));

#endif
