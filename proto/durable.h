/* SPDX-License-Identifier: Apache-2.0 */
/* Durable small-file writes: every key, certificate and state file Paso writes goes through here. */
#ifndef PASO_DURABLE_H
#define PASO_DURABLE_H

#include <stddef.h>

#include "errors.h"

enum durable_mode {
	DURABLE_NEW = 0,     /* refuse (PASO_E_EXISTS) if the name exists; never replaces a file */
	DURABLE_REPLACE = 1, /* atomically replace whatever is there */
};

/*
 * Writes len bytes of buf as dirfd/name (dirfd an open directory, name without '/'): a
 * temporary "name.tmp" created exclusively with mode and O_NOFOLLOW, written in full (short
 * writes and EINTR retried), fsync'd and closed, then linked (DURABLE_NEW) or renamed
 * (DURABLE_REPLACE) into place, then the directory fsync'd. Every return is checked. On any
 * failure the temporary file is removed and no file is left under name (DURABLE_NEW) or the old
 * one is left whole (DURABLE_REPLACE). buf is borrowed; the caller wipes it if it is secret.
 * Returns 0, PASO_E_EXISTS, PASO_E_STORE_FULL (ENOSPC, EDQUOT), PASO_E_MAP_FULL (EFBIG), PASO_E_IO or
 * PASO_E_INVALID_ARG, with d naming label (what to call the file in messages; name if NULL).
 */
int durable_writeat(int dirfd, const char *name, const void *buf, size_t len, int mode,
	enum durable_mode how, const char *label, struct paso_diag *d);

/*
 * The same for a path: its directory is opened (O_DIRECTORY) for the write and the fsync.
 * Same returns, d naming path.
 */
int durable_write(const char *path, const void *buf, size_t len, int mode, enum durable_mode how,
	struct paso_diag *d);

#endif
