/* SPDX-License-Identifier: Apache-2.0 */
/* Hex encoding for public values. */
#include "hex.h"

#include <string.h>

#include "errors.h"

void
hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(const char *in, uint8_t *out, size_t cap, size_t *lenp)
{
	size_t n = strlen(in), i;
	int hi, lo;

	*lenp = 0;
	if (n % 2 != 0 || n / 2 > cap)
		return PASO_E_INVALID_ARG;
	for (i = 0; i < n / 2; i++) {
		hi = nibble(in[2 * i]);
		lo = nibble(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return PASO_E_INVALID_ARG;
		out[i] = (uint8_t)((hi << 4) | lo);
	}
	*lenp = n / 2;
	return 0;
}
