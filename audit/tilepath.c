/* SPDX-License-Identifier: Apache-2.0 */
/* The tlog-tiles path of a hash tile or entry bundle: shared by the writer and every reader. */
#include "tilepath.h"

#include <inttypes.h>
#include <stdio.h>

#include "errors.h"

int
tilepath_format(char *buf, size_t cap, int level, uint64_t index, unsigned width)
{
	char digits[32], *p = buf;
	size_t nd, i, left = cap;
	int k;

	if (level < TILEPATH_ENTRIES || level > 63 || width == 0 || width > TILEPATH_WIDTH)
		return PASO_E_INVALID_ARG;
	if (level == TILEPATH_ENTRIES)
		k = snprintf(p, left, "tile/entries/");
	else
		k = snprintf(p, left, "tile/%d/", level);
	if (k < 0 || (size_t)k >= left)
		return PASO_E_INVALID_ARG;
	p += k;
	left -= (size_t)k;
	/* Pad to a multiple of three digits, then emit "xDDD/" groups and a final "DDD". */
	k = snprintf(digits, sizeof(digits), "%" PRIu64, index);
	nd = (size_t)k;
	nd = (nd + 2) / 3 * 3;
	k = snprintf(digits, sizeof(digits), "%0*" PRIu64, (int)nd, index);
	for (i = 0; i < nd; i += 3) {
		k = snprintf(p, left, "%s%.3s%s", i + 3 < nd ? "x" : "", digits + i,
			i + 3 < nd ? "/" : "");
		if (k < 0 || (size_t)k >= left)
			return PASO_E_INVALID_ARG;
		p += k;
		left -= (size_t)k;
	}
	if (width < TILEPATH_WIDTH) {
		k = snprintf(p, left, ".p/%u", width);
		if (k < 0 || (size_t)k >= left)
			return PASO_E_INVALID_ARG;
	}
	return 0;
}
