/* SPDX-License-Identifier: Apache-2.0 */
/* tlog-tiles paths (c2sp.org/tlog-tiles): tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>]. */
#ifndef PASO_TILEPATH_H
#define PASO_TILEPATH_H

#include <stddef.h>
#include <stdint.h>

#define TILEPATH_WIDTH 256    /* hashes in a full tile, entries in a full bundle */
#define TILEPATH_ENTRIES (-1) /* the level argument naming entry bundles */

/*
 * Writes the path of a tile relative to TILESDIR ("tile/0/x001/234.p/7", "tile/entries/5")
 * into buf. level is 0..63 or TILEPATH_ENTRIES; width 256 is a full tile, 1..255 a partial
 * one. Returns 0 or PASO_E_INVALID_ARG (bad level or width, buf too small).
 */
int tilepath_format(char *buf, size_t cap, int level, uint64_t index, unsigned width);

#endif
