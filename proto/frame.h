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
 * A probe set (`paso-kiosk probe --list`, read by `paso-hub query --probes`): these 8 bytes,
 * then per probe a 4-byte big-endian length and a packed Capture. Biometric data: files are 0600.
 */
#define PROBE_SET_MAGIC "PASOPRB1"
#define PROBE_SET_MAGIC_LEN 8u

/*
 * Reads the length prefix in hdr and checks it against max before anything is allocated.
 * Returns 0 and sets *lenp (0 is a valid length: an empty Envelope, which frame_decode
 * refuses as UNKNOWN_MESSAGE without ending the stream), or PASO_E_FRAME_TOO_LARGE
 * (length > max). Pure; d may be NULL.
 */
int frame_header(const uint8_t hdr[FRAME_HEADER_BYTES], uint32_t max, uint32_t *lenp,
	struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * The allocator for every unpack of a message that can hold biometric data or a card number
 * (Envelope, SubjectRecord): blocks come from malloc and are wiped whole before they are freed.
 * Free such a message with the same allocator (frame_free for an Envelope); freeing it with
 * the default (NULL) allocator is safe but does not wipe. The allocator is stateless: any
 * thread may use it.
 */
ProtobufCAllocator *frame_allocator(void);

/* Wipes a malloc'd block (its whole usable size) and frees it. NULL is fine. */
void frame_wipe_free(void *p);

/* Frees an Envelope decoded by frame_decode (or unpacked with frame_allocator), wiping it. */
void frame_free(Paso__Envelope *env);

/*
 * Decodes one Envelope from payload (without its length prefix) with frame_allocator. Caller
 * owns *envp and frees it with frame_free. Returns 0, PASO_E_DECODE (not protobuf)
 * or PASO_E_UNKNOWN_MESSAGE (no body or a body this build does not know). Checks only the
 * encoding; field-level validation belongs to registry/ingest.
 */
int frame_decode(const uint8_t *payload, size_t len, Paso__Envelope **envp, struct paso_diag *d)
	__attribute__((warn_unused_result));

/*
 * An arena for decoding one Envelope after another on one thread: frame_decode_in carves the
 * message out of the arena's block (past the block, from malloc) instead of a malloc a field,
 * and frame_arena_reset wipes what was handed out (only that) and keeps the block for the next
 * message. For a connection's messages in flight, one arena each. Not thread-safe.
 */
struct frame_arena;

/* Creates an empty arena. Caller owns *out (frame_arena_free). Returns 0 or PASO_E_NOMEM. */
int frame_arena_new(struct frame_arena **out);

/* Wipes everything the arena handed out since the last reset and frees it; NULL is fine. */
void frame_arena_free(struct frame_arena *a);

/*
 * Wipes what the arena handed out since the last reset (the block up to its high mark, and
 * every block it had to take from malloc, which are freed) and makes it empty again: every
 * message decoded in it is gone. NULL is fine.
 */
void frame_arena_reset(struct frame_arena *a);

/*
 * As frame_decode, but the Envelope is decoded in arena a and lives until frame_arena_reset
 * (or frame_arena_free): never frame_free it. Same returns.
 */
int frame_decode_in(struct frame_arena *a, const uint8_t *payload, size_t len,
	Paso__Envelope **envp, struct paso_diag *d) __attribute__((warn_unused_result));

/*
 * The seq of an Envelope whose body is missing or unknown (frame_decode refused it), so the
 * refusal can echo it; 0 when the bytes are not an Envelope at all. Pure.
 */
uint64_t frame_peek_seq(const uint8_t *payload, size_t len);

/*
 * Serializes env with its length prefix into a new buffer. Caller owns *outp (free()).
 * Returns 0, PASO_E_NOMEM or PASO_E_FRAME_TOO_LARGE when the result would exceed max.
 */
int frame_encode(const Paso__Envelope *env, uint32_t max, uint8_t **outp, size_t *lenp);

#endif
