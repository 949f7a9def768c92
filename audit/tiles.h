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
 * x001/x234/067. Every file is written to a temporary name and renamed, by the handle's own
 * writer thread: tiles_sync and tiles_publish copy the hashes a tile needs from the log and queue
 * the work, and the writer reads the entries' frames from the log's file itself (pread), so the
 * appending thread neither creates files nor copies entries. Full tiles are queued as the tree
 * grows (in batches of 16,384 entries; a long catch-up in jobs of 65,536, two at a time);
 * partial tiles only for a size that is published, and tiles_publish waits until the writer
 * has written every tile of the checkpoint before it replaces TILESDIR/checkpoint. The writer
 * flushes the tiles to disk every 60 publications or 4,096 files, after the checkpoint is out
 * (writeback started for all, then fdatasync each and their directories), and records the flushed
 * size in TILESDIR/.durable; after a crash, or a write the writer could not do (reported by the
 * next call), the next tiles_sync rewrites every tile after that size, so the published checkpoint
 * has all its tiles again before the hub serves. (Flushing before every checkpoint cost more than
 * writing the tiles.)
 *
 * Caveats: one writer per directory (the hub); one thread calls a handle's functions (the
 * handle's writer thread only reads the log's files and writes TILESDIR); the log passed to
 * tiles_sync and tiles_publish is always the same one and stays open until tiles_close returns
 * (the writer reads its entries file); entries must be at most 65,535 bytes (the bundle's
 * length prefix), which AUDITLOG_MAX_ENTRY guarantees.
 */
#define TILES_WIDTH TILEPATH_WIDTH
#define TILES_ENTRIES_LEVEL TILEPATH_ENTRIES

struct tiles;

/*
 * Opens (creating it 0755 if absent) a tiles directory for writing. The size already published
 * is read from TILESDIR/checkpoint (0 if none), the flushed size from TILESDIR/.durable: tiles
 * after the flushed size are rewritten by the next tiles_sync. Caller owns *out (tiles_close).
 * Returns 0, PASO_E_IO or PASO_E_NOMEM; d names the file.
 */
int tiles_open(const char *tilesdir, struct tiles **out, struct paso_diag *d);

/* Waits for the writer thread to finish what is queued, stops it and frees t; accepts NULL. */
void tiles_close(struct tiles *t);

/* The tree size up to which tiles were last written (by tiles_sync or tiles_publish). */
uint64_t tiles_size(const struct tiles *t);

/* The tree size of TILESDIR/checkpoint (0 if none yet). */
uint64_t tiles_published(const struct tiles *t);

/*
 * Brings the tiles towards auditlog_size(log): once 16,384 entries are pending, queues the full
 * hash tiles and entry bundles they complete for the writer thread (not fsync'd; partial tiles
 * wait for tiles_publish). Call it after each durable commit (auditlog_sync). The first call
 * checks that the published checkpoint is a state of this log. Returns 0, PASO_E_AUDIT_CORRUPT
 * (the tiles describe another or a longer log), PASO_E_IO (also a write the writer thread
 * failed since the last call; the tiles after the flushed size are rewritten by the next call)
 * or PASO_E_NOMEM; d names the file.
 */
int tiles_sync(struct tiles *t, struct auditlog *log, struct paso_diag *d);

/*
 * Publishes the signed checkpoint note (len bytes, borrowed, e.g. from
 * auditlog_latest_checkpoint, possibly cosigned): writes the full tiles up to its size and the
 * partial tiles of its right edge (through the writer thread, waiting for it), then replaces
 * TILESDIR/checkpoint durably; every 60 publications the writer then flushes the tiles. Call it
 * after each auditlog_checkpoint. The note's size must be at most auditlog_size(log) and its root
 * that of the log at that size. Returns 0, PASO_E_CHECKPOINT_FORMAT, PASO_E_AUDIT_CORRUPT (root
 * differs from the log's), PASO_E_ROLLBACK (smaller than the published one), PASO_E_IO or
 * PASO_E_NOMEM.
 */
int tiles_publish(
	struct tiles *t, struct auditlog *log, const char *note, size_t len, struct paso_diag *d);

#endif
