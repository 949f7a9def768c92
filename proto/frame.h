/* SPDX-License-Identifier: Apache-2.0 */
/* Framing of Envelopes on a byte stream: 4-byte big-endian length, then the protobuf bytes. */
#ifndef PASO_FRAME_H
#define PASO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "paso.pb-c.h"

#define FRAME_HEADER_BYTES 4
#define FRAME_DEFAULT_MAX (1024u * 1024u) /* 1 MiB */

/*
 * Reads the length prefix in hdr and checks it against max before anything is allocated.
 * Returns 0 and sets *lenp, or PASO_E_FRAME_TOO_LARGE (length > max) or PASO_E_DECODE
 * (length 0: an Envelope always has a body). Pure; d may be NULL.
 */
int frame_header(const uint8_t hdr[FRAME_HEADER_BYTES], uint32_t max, uint32_t *lenp,
	struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * Decodes one Envelope from payload (without its length prefix). Caller owns *envp and frees
 * it with paso__envelope__free_unpacked(*envp, NULL). Returns 0, PASO_E_DECODE (not protobuf)
 * or PASO_E_UNKNOWN_MESSAGE (no body or a body this build does not know). Checks only the
 * encoding; field-level validation belongs to registry/ingest.
 */
int frame_decode(const uint8_t *payload, size_t len, Paso__Envelope **envp, struct paso_diag *d)
	__attribute__((warn_unused_result));

/*
 * Serializes env with its length prefix into a new buffer. Caller owns *outp (free()).
 * Returns 0, PASO_E_NOMEM or PASO_E_FRAME_TOO_LARGE when the result would exceed max.
 */
int frame_encode(const Paso__Envelope *env, uint32_t max, uint8_t **outp, size_t *lenp);

#endif
