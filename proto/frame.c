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

/*
 * The block starts at ARENA_START bytes (a crossing's Envelope takes ~4 KB) and doubles, at a
 * reset after a message that did not fit, up to ARENA_MAX: past that the extra comes from
 * malloc each time, so a connection of a few huge frames does not keep megabytes per message.
 * Every allocation is 16-byte aligned, as malloc's.
 */
#define ARENA_START 8192u
#define ARENA_MAX 65536u

struct arena_extra {
	struct arena_extra *next;
	size_t size; /* bytes after this header, wiped before the block is freed */
	max_align_t align[];
};

struct frame_arena {
	ProtobufCAllocator pa; /* allocator_data points back here */
	uint8_t *block;
	size_t cap, used;
	size_t wanted; /* what the messages since the last reset asked for in all */
	struct arena_extra *extra;
};

static void *
arena_alloc(void *data, size_t size)
{
	struct frame_arena *a = data;
	struct arena_extra *x;
	size_t n = (size + 15) & ~(size_t)15;
	void *p;

	if (n < size)
		return NULL;
	a->wanted += n;
	if (n <= a->cap - a->used) {
		p = a->block + a->used;
		a->used += n;
		return p;
	}
	if ((x = malloc(sizeof(*x) + n)) == NULL)
		return NULL;
	x->size = n;
	x->next = a->extra;
	a->extra = x;
	return x->align;
}

/* Freed blocks stay where they are until the reset wipes them all. */
static void
arena_free_one(void *data, void *p)
{
	(void)data;
	(void)p;
}

int
frame_arena_new(struct frame_arena **out)
{
	struct frame_arena *a;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return PASO_E_NOMEM;
	if ((a->block = malloc(ARENA_START)) == NULL) {
		free(a);
		return PASO_E_NOMEM;
	}
	a->cap = ARENA_START;
	a->pa.alloc = arena_alloc;
	a->pa.free = arena_free_one;
	a->pa.allocator_data = a;
	*out = a;
	return 0;
}

void
frame_arena_reset(struct frame_arena *a)
{
	struct arena_extra *x;
	uint8_t *nb;
	size_t ncap;

	if (a == NULL)
		return;
	explicit_bzero(a->block, a->used);
	while ((x = a->extra) != NULL) {
		a->extra = x->next;
		explicit_bzero(x->align, x->size);
		free(x);
	}
	/* Grow for next time if the block was too small (it is empty and wiped: no copy). */
	if (a->wanted > a->cap && a->cap < ARENA_MAX) {
		for (ncap = a->cap; ncap < a->wanted && ncap < ARENA_MAX; ncap *= 2)
			;
		if ((nb = malloc(ncap)) != NULL) {
			free(a->block);
			a->block = nb;
			a->cap = ncap;
		}
	}
	a->used = 0;
	a->wanted = 0;
}

void
frame_arena_free(struct frame_arena *a)
{
	if (a == NULL)
		return;
	frame_arena_reset(a);
	explicit_bzero(a->block, a->cap);
	free(a->block);
	free(a);
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

static int
decode_with(ProtobufCAllocator *pa, const uint8_t *payload, size_t len, Paso__Envelope **envp,
	struct paso_diag *d)
{
	Paso__Envelope *env;

	*envp = NULL;
	env = paso__envelope__unpack(pa, len, payload);
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
		paso__envelope__free_unpacked(env, pa);
		return PASO_E_UNKNOWN_MESSAGE;
	}
	*envp = env;
	return 0;
}

int
frame_decode(const uint8_t *payload, size_t len, Paso__Envelope **envp, struct paso_diag *d)
{
	return decode_with(&wiping_allocator, payload, len, envp, d);
}

int
frame_decode_in(struct frame_arena *a, const uint8_t *payload, size_t len, Paso__Envelope **envp,
	struct paso_diag *d)
{
	return decode_with(&a->pa, payload, len, envp, d);
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
