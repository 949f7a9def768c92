/* SPDX-License-Identifier: Apache-2.0 */
/* The audit log published as C2SP tlog-tiles: checkpoint, hash tiles and entry bundles. */
#ifndef PASO_TILES_H
#define PASO_TILES_H

#include <stddef.h>
#include <stdint.h>

#include "auditlog.h"
#include "errors.h"
#include "tilepath.h"

/*
 * Layout of a tiles directory (TILESDIR, by default DEPLOYMENT/audit/tiles; c2sp.org/tlog-tiles):
 *   checkpoint                   the latest published signed checkpoint (and cosignatures)
 *   tile/<L>/<N>                 a full hash tile: 256 hashes of 32 bytes, those of the perfect
 *                                subtrees of 256^L leaves numbered 256N..256N+255
 *   tile/<L>/<N>.p/<W>           the same with only the first W (1..255) hashes
 *   tile/entries/<N>[.p/<W>]     entry bundle: for each entry, u16 big-endian length || bytes
 * <N> is written in groups of three digits, all but the last prefixed "x": 1234067 is
 * x001/x234/067. Every file is written to a temporary name and renamed. Full tiles are written
 * as the tree grows (in batches of 16,384 entries); partial tiles only for a size that is
 * published. Tiles are flushed to disk every 60 publications (writeback started for all,
 * then fdatasync each and their directories) and the flushed size recorded in TILESDIR/.durable;
 * after a crash, the first tiles_sync rewrites every tile after that size, so the published
 * checkpoint has all its tiles again before the hub serves. (Flushing before every checkpoint
 * cost more than writing the tiles.)
 *
 * Caveats: one writer per directory (the hub); not thread-safe; entries must be at most 65,535
 * bytes (the bundle's length prefix), which AUDITLOG_MAX_ENTRY guarantees.
 */
#define TILES_WIDTH TILEPATH_WIDTH
#define TILES_ENTRIES_LEVEL TILEPATH_ENTRIES

struct tiles;

/*
 * Opens (creating it 0755 if absent) a tiles directory for writing. The size already published
 * is read from TILESDIR/checkpoint (0 if none), the flushed size from TILESDIR/.durable: tiles
 * after the flushed size are rewritten by the next tiles_sync. Caller owns *out (tiles_close). Returns 0, PASO_E_IO or PASO_E_NOMEM; d names
 * the file.
 */
int tiles_open(const char *tilesdir, struct tiles **out, struct paso_diag *d);

/* Frees t; accepts NULL. Writes nothing. */
void tiles_close(struct tiles *t);

/* The tree size up to which tiles were last written (by tiles_sync or tiles_publish). */
uint64_t tiles_size(const struct tiles *t);

/* The tree size of TILESDIR/checkpoint (0 if none yet). */
uint64_t tiles_published(const struct tiles *t);

/*
 * Brings the tiles towards auditlog_size(log): once 16,384 entries are pending, writes the full
 * hash tiles and entry bundles they complete (not fsync'd; partial tiles wait for
 * tiles_publish). Call it after each durable commit (auditlog_sync). The first call checks that the published checkpoint is a
 * state of this log. Returns 0, PASO_E_AUDIT_CORRUPT (the tiles describe another or a longer
 * log), PASO_E_IO or PASO_E_NOMEM; d names the file.
 */
int tiles_sync(struct tiles *t, struct auditlog *log, struct paso_diag *d);

/*
 * Publishes the signed checkpoint note (len bytes, borrowed, e.g. from
 * auditlog_latest_checkpoint, possibly cosigned): writes the full tiles up to its size and the
 * partial tiles of its right edge, flushes the tiles every 60 publications, then replaces
 * TILESDIR/checkpoint durably. Call it after each auditlog_checkpoint. The note's size must be at most
 * auditlog_size(log) and its root that of the log at that size. Returns 0,
 * PASO_E_CHECKPOINT_FORMAT, PASO_E_AUDIT_CORRUPT (root differs from the log's), PASO_E_ROLLBACK
 * (smaller than the published one), PASO_E_IO or PASO_E_NOMEM.
 */
int tiles_publish(
	struct tiles *t, struct auditlog *log, const char *note, size_t len, struct paso_diag *d);

#endif
