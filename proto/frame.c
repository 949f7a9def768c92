/* SPDX-License-Identifier: Apache-2.0 */
/* Length-prefixed protobuf framing; pure functions over buffers so fuzzers can drive them. */
#include "frame.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"

/*
 * Blocks come straight from malloc, so a message freed with protobuf-c's default allocator by
 * mistake is still freed correctly (only not wiped); malloc_usable_size covers the whole block,
 * including any slack past what protobuf-c asked for.
 */
static void *
wipe_alloc(void *data, size_t size)
{
	(void)data;
	return malloc(size ? size : 1);
}

static void
wipe_free(void *data, void *p)
{
	(void)data;
	frame_wipe_free(p);
}

static ProtobufCAllocator wiping_allocator = {wipe_alloc, wipe_free, NULL};

ProtobufCAllocator *
frame_allocator(void)
{
	return &wiping_allocator;
}

void
frame_wipe_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void
frame_free(Paso__Envelope *env)
{
	if (env != NULL)
		paso__envelope__free_unpacked(env, &wiping_allocator);
}

int
frame_header(
	const uint8_t hdr[FRAME_HEADER_BYTES], uint32_t max, uint32_t *lenp, struct paso_diag *d)
{
	uint32_t len;

	*lenp = 0;
	len = be32_get(hdr);
	if (len > max)
		return paso_diag_set(d, PASO_E_FRAME_TOO_LARGE,
			"frame length %u exceeds the maximum %u", len, max);
	*lenp = len;
	return 0;
}

int
frame_decode(const uint8_t *payload, size_t len, Paso__Envelope **envp, struct paso_diag *d)
{
	Paso__Envelope *env;

	*envp = NULL;
	env = paso__envelope__unpack(&wiping_allocator, len, payload);
	if (env == NULL)
		return paso_diag_set(
			d, PASO_E_DECODE, "%zu-byte frame is not a valid protobuf Envelope", len);
	switch (env->body_case) {
	case PASO__ENVELOPE__BODY_ENROLL:
	case PASO__ENVELOPE__BODY_CROSSING:
	case PASO__ENVELOPE__BODY_IDENTIFY:
	case PASO__ENVELOPE__BODY_ACK:
	case PASO__ENVELOPE__BODY_ERROR:
	case PASO__ENVELOPE__BODY_QUERY:
	case PASO__ENVELOPE__BODY_QUERY_ANSWER:
	case PASO__ENVELOPE__BODY_SHARE_BATCH:
	case PASO__ENVELOPE__BODY_SHARE_ACK:
	case PASO__ENVELOPE__BODY_RELEASE:
	case PASO__ENVELOPE__BODY_RELEASE_ANSWER:
		break;
	default:
		paso_diag_set(d, PASO_E_UNKNOWN_MESSAGE, "Envelope body %d is missing or unknown",
			(int)env->body_case);
		frame_free(env);
		return PASO_E_UNKNOWN_MESSAGE;
	}
	*envp = env;
	return 0;
}

uint64_t
frame_peek_seq(const uint8_t *payload, size_t len)
{
	Paso__Envelope *env;
	uint64_t seq;

	if ((env = paso__envelope__unpack(&wiping_allocator, len, payload)) == NULL)
		return 0;
	seq = env->seq;
	frame_free(env);
	return seq;
}

int
frame_encode(const Paso__Envelope *env, uint32_t max, uint8_t **outp, size_t *lenp)
{
	size_t n;
	uint8_t *buf;

	*outp = NULL;
	*lenp = 0;
	n = paso__envelope__get_packed_size(env);
	if (n > max)
		return PASO_E_FRAME_TOO_LARGE;
	if ((buf = malloc(FRAME_HEADER_BYTES + n)) == NULL)
		return PASO_E_NOMEM;
	be32_put(buf, (uint32_t)n);
	(void)paso__envelope__pack(env, buf + FRAME_HEADER_BYTES);
	*outp = buf;
	*lenp = FRAME_HEADER_BYTES + n;
	return 0;
}
