/* SPDX-License-Identifier: Apache-2.0 */
/* Start-up damage check of an audit directory: checkpoint, index files, window and tail. */
#include "auditcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auditlog.h"
#include "be.h"
#include "checkpoint.h"
#include "merkle.h"

#define FRAME_HDR 8
#define OFFS_CHUNK 65536 /* offsets read per pread in the order scan */

struct ck {
	const char *dir;
	int dfd, efd, ofd, hfd;
	uint64_t esize, osize, hsize;
	struct auditcheck_report *rep;
	struct paso_diag *d;
};

static uint64_t
nodes_for(uint64_t n)
{
	return 2 * n - (uint64_t)__builtin_popcountll(n);
}

static uint64_t
node_pos(unsigned level, uint64_t index)
{
	uint64_t m = (index + 1) << level;

	return nodes_for(m) - 1 - ((uint64_t)__builtin_ctzll(m) - level);
}

static int
pread_full(int fd, void *p, size_t len, uint64_t off)
{
	uint8_t *b = p;
	ssize_t g;

	while (len > 0) {
		g = pread(fd, b, len, (off_t)off);
		if (g < 0 && errno == EINTR)
			continue;
		if (g < 0)
			return PASO_E_IO;
		if (g == 0)
			return PASO_E_AUDIT_CORRUPT;
		b += g;
		len -= (size_t)g;
		off += (uint64_t)g;
	}
	return 0;
}

static uint64_t
size_of(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
}

int
auditcheck_zeros_to_end(int fd, uint64_t off, uint64_t end)
{
	uint8_t b[65536];
	size_t k, i;

	while (off < end) {
		k = end - off < sizeof(b) ? (size_t)(end - off) : sizeof(b);
		if (pread_full(fd, b, k, off) != 0)
			return PASO_E_IO;
		for (i = 0; i < k; i++)
			if (b[i] != 0)
				return 0;
		off += k;
	}
	return 1;
}

static int damage(struct ck *c, const char *file, uint64_t index, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Records damage in file (at entry index, or UINT64_MAX) and returns PASO_E_AUDIT_CORRUPT. */
static int
damage(struct ck *c, const char *file, uint64_t index, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->rep->bad_index = index;
	(void)snprintf(c->rep->bad_file, sizeof(c->rep->bad_file), "%s", file);
	return paso_diag_set(c->d, PASO_E_AUDIT_CORRUPT, "%s/%s: damaged: %s", c->dir, file, what);
}

static int
get_stored(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_BYTES])
{
	struct ck *c = ctx;

	return pread_full(
		c->hfd, out, MERKLE_HASH_BYTES, node_pos(level, index) * MERKLE_HASH_BYTES);
}

static int
read_offset(struct ck *c, uint64_t i, uint64_t *off)
{
	uint8_t b[8];
	int r;

	if ((r = pread_full(c->ofd, b, 8, i * 8)) != 0)
		return r;
	*off = be64_get(b);
	return 0;
}

/*
 * Reads the frame at off: FRAME_OK with the entry (caller frees) and its leaf hash, FRAME_SHORT
 * (runs past the end of the file), FRAME_BAD (impossible length or check bytes wrong).
 */
enum { FRAME_OK = 0, FRAME_SHORT = 1, FRAME_BAD = 2 };

static int
read_frame(struct ck *c, uint64_t off, uint8_t leaf[MERKLE_HASH_BYTES], uint32_t *lenp)
{
	uint8_t hdr[FRAME_HDR], *b;
	uint32_t len;
	int r;

	*lenp = 0;
	if (off + FRAME_HDR > c->esize)
		return FRAME_SHORT;
	if ((r = pread_full(c->efd, hdr, FRAME_HDR, off)) != 0)
		return r;
	len = be32_get(hdr);
	*lenp = len;
	if (len > AUDITLOG_MAX_ENTRY + 1) /* logs written before the bundle limit had 65,536 */
		return FRAME_BAD;
	if (off + FRAME_HDR + len > c->esize)
		return FRAME_SHORT;
	if ((b = malloc(len ? len : 1)) == NULL)
		return PASO_E_NOMEM;
	if ((r = pread_full(c->efd, b, len, off + FRAME_HDR)) != 0) {
		free(b);
		return r;
	}
	merkle_leaf_hash(b, len, leaf);
	free(b);
	return memcmp(leaf, hdr + 4, 4) == 0 ? FRAME_OK : FRAME_BAD;
}

struct cmp_ctx {
	struct ck *c;
	int bad, io;
	unsigned level;
	uint64_t index;
};

static void
compare_node(void *ctx, unsigned level, uint64_t index, const uint8_t h[MERKLE_HASH_BYTES])
{
	struct cmp_ctx *x = ctx;
	uint8_t stored[MERKLE_HASH_BYTES];

	if (x->bad || x->io)
		return;
	if (get_stored(x->c, level, index, stored) != 0) {
		x->io = 1;
		return;
	}
	if (sodium_memcmp(stored, h, MERKLE_HASH_BYTES) != 0) {
		x->bad = 1;
		x->level = level;
		x->index = index;
	}
}

/* The frontier of the first n leaves, from stored nodes. */
static int
frontier_from_stored(struct ck *c, uint64_t n, struct merkle_frontier *f)
{
	uint64_t start;
	unsigned l;
	int r;

	merkle_frontier_init(f);
	for (l = 0; l < 64; l++) {
		if (!(n & ((uint64_t)1 << l)))
			continue;
		start = n & ~((((uint64_t)1) << l << 1) - 1);
		if ((r = get_stored(c, l, start >> l, f->h[l])) != 0)
			return r;
	}
	f->size = n;
	return 0;
}

static int
check_covered(struct ck *c, uint64_t n, const uint8_t root[MERKLE_HASH_BYTES], uint64_t window)
{
	struct cmp_ctx x = {.c = c};
	struct merkle_frontier f;
	uint8_t leaf[MERKLE_HASH_BYTES], got[MERKLE_HASH_BYTES], *ob = NULL;
	uint64_t i, k, prev = 0, off, next, first;
	uint32_t len;
	size_t j;
	int r;

	if (c->osize < n * 8)
		return damage(c, "offsets", n - 1,
			"%" PRIu64 " bytes, the checkpoint's %" PRIu64 " entries need %" PRIu64,
			c->osize, n, n * 8);
	if (c->hsize < nodes_for(n) * MERKLE_HASH_BYTES)
		return damage(c, "hashes", UINT64_MAX,
			"%" PRIu64 " bytes, the checkpoint's %" PRIu64 " entries need %" PRIu64,
			c->hsize, n, nodes_for(n) * MERKLE_HASH_BYTES);
	/* The order of every offset the checkpoint covers: one sequential pass. */
	if ((ob = malloc(OFFS_CHUNK * 8)) == NULL)
		return PASO_E_NOMEM;
	for (i = 0; i < n; i += k) {
		k = n - i < OFFS_CHUNK ? n - i : OFFS_CHUNK;
		if ((r = pread_full(c->ofd, ob, (size_t)k * 8, i * 8)) != 0) {
			free(ob);
			return r;
		}
		for (j = 0; j < k; j++) {
			off = be64_get(ob + j * 8);
			if ((i + j == 0 && off != 0) || (i + j > 0 && off <= prev) ||
				off + FRAME_HDR > c->esize) {
				free(ob);
				return damage(c, "offsets", i + j,
					"entry %" PRIu64 " is recorded at byte %" PRIu64
					" (after %" PRIu64 ", entries has %" PRIu64 " bytes)",
					i + j, off, prev, c->esize);
			}
			prev = off;
		}
	}
	free(ob);
	if ((r = merkle_root_nodes(get_stored, c, n, got)) != 0)
		return r == PASO_E_AUDIT_CORRUPT ? damage(c, "hashes", UINT64_MAX, "short read")
						 : r;
	if (sodium_memcmp(got, root, MERKLE_HASH_BYTES) != 0)
		return damage(c, "hashes", UINT64_MAX,
			"the stored tree of %" PRIu64
			" entries does not give the checkpoint's root",
			n);
	/* The window: entries re-hashed, framing and every stored node over them compared. */
	first = n > window ? n - window : 0;
	if ((r = frontier_from_stored(c, first, &f)) != 0)
		return r;
	for (i = first; i < n; i++) {
		if ((r = read_offset(c, i, &off)) != 0)
			return r;
		r = read_frame(c, off, leaf, &len);
		if (r < 0)
			return r;
		if (r != FRAME_OK)
			return damage(c, "entries", i, "entry %" PRIu64 " (byte %" PRIu64 "): %s",
				i, off,
				r == FRAME_SHORT ? "runs past the end of the file"
						 : "its bytes do not match its check (modified)");
		c->rep->entries_checked++;
		if (i + 1 < n) {
			if ((r = read_offset(c, i + 1, &next)) != 0)
				return r;
			if (next != off + FRAME_HDR + len)
				return damage(c, "offsets", i + 1,
					"entry %" PRIu64 " recorded at byte %" PRIu64
					", entry %" PRIu64 " ends at %" PRIu64,
					i + 1, next, i, off + FRAME_HDR + len);
		}
		(void)merkle_frontier_push(&f, leaf, compare_node, &x);
		if (x.io)
			return PASO_E_IO;
		if (x.bad)
			return x.level == 0
				       ? damage(c, "hashes", i,
						 "the stored leaf hash of entry %" PRIu64
						 " is not the hash of its bytes",
						 i)
				       : damage(c, "hashes", x.index << x.level,
						 "the stored node at level %u over entries %" PRIu64
						 "..%" PRIu64 " differs from the one recomputed",
						 x.level, x.index << x.level,
						 ((x.index + 1) << x.level) - 1);
	}
	return 0;
}

static int
check_tail(struct ck *c, uint64_t n)
{
	uint8_t leaf[MERKLE_HASH_BYTES], leaf2[MERKLE_HASH_BYTES];
	uint64_t off = 0, i = n;
	uint32_t len, len2;
	int r, r2;

	if (n > 0) {
		if ((r = read_offset(c, n - 1, &off)) != 0)
			return r;
		if ((r = read_frame(c, off, leaf, &len)) < 0)
			return r;
		if (r != FRAME_OK)
			return damage(c, "entries", n - 1,
				"entry %" PRIu64 " (byte %" PRIu64 ") damaged", n - 1, off);
		off += FRAME_HDR + len;
	}
	while (off < c->esize) {
		r = read_frame(c, off, leaf, &len);
		if (r < 0)
			return r;
		if (r == FRAME_OK) {
			c->rep->entries_checked++;
			c->rep->tail_entries++;
			off += FRAME_HDR + len;
			i++;
			continue;
		}
		/* Zeros to the end: the writer's head start (auditlog.c prealloc), the log's end. */
		if ((r2 = auditcheck_zeros_to_end(c->efd, off, c->esize)) != 0) {
			if (r2 < 0)
				return r2;
			break;
		}
		/* A crash tears only the end: a bad frame with a complete good one after it is damage. */
		if (r == FRAME_BAD && len <= AUDITLOG_MAX_ENTRY + 1 &&
			off + FRAME_HDR + len < c->esize) {
			r2 = read_frame(c, off + FRAME_HDR + len, leaf2, &len2);
			if (r2 < 0)
				return r2;
			if (r2 == FRAME_OK)
				return damage(c, "entries", i,
					"entry %" PRIu64 " (byte %" PRIu64
					"), after the checkpoint: its bytes do not match its check, and a "
					"complete entry follows it",
					i, off);
		}
		c->rep->torn_bytes = c->esize - off;
		break;
	}
	return 0;
}

int
auditcheck_tail(
	const char *auditdir, uint64_t window, struct auditcheck_report *rep, struct paso_diag *d)
{
	struct ck c = {
		.dir = auditdir, .dfd = -1, .efd = -1, .ofd = -1, .hfd = -1, .rep = rep, .d = d};
	struct checkpoint_note *note = NULL;
	struct checkpoint cp = {0};
	char *text = NULL;
	uint64_t tsize;
	int fd, r;

	memset(rep, 0, sizeof(*rep));
	rep->bad_index = UINT64_MAX;
	if ((c.dfd = open(auditdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		(c.efd = openat(c.dfd, "entries", O_RDONLY | O_CLOEXEC)) < 0) {
		r = paso_diag_set(d, errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO,
			"%s/entries: %s", auditdir, strerror(errno));
		goto out;
	}
	c.ofd = openat(c.dfd, "offsets", O_RDONLY | O_CLOEXEC);
	c.hfd = openat(c.dfd, "hashes", O_RDONLY | O_CLOEXEC);
	c.esize = size_of(c.efd);
	c.osize = size_of(c.ofd);
	c.hsize = size_of(c.hfd);
	if ((fd = openat(c.dfd, "checkpoint", O_RDONLY | O_CLOEXEC)) >= 0) {
		tsize = size_of(fd);
		if (tsize > CHECKPOINT_MAX_NOTE || (text = malloc((size_t)tsize + 1)) == NULL ||
			pread_full(fd, text, (size_t)tsize, 0) != 0) {
			close(fd);
			r = damage(&c, "checkpoint", UINT64_MAX, "unreadable or too large");
			goto out;
		}
		close(fd);
		text[tsize] = '\0';
		if (checkpoint_note_parse(text, (size_t)tsize, &note, d) != 0 ||
			checkpoint_parse_text(note->text, note->text_len, &cp, d) != 0) {
			r = damage(&c, "checkpoint", UINT64_MAX, "not a signed checkpoint");
			goto out;
		}
	} else if (errno != ENOENT) {
		r = paso_diag_set(d, PASO_E_IO, "%s/checkpoint: %s", auditdir, strerror(errno));
		goto out;
	}
	rep->checkpoint_size = cp.size;
	if (cp.size > 0 && (c.ofd < 0 || c.hfd < 0)) {
		r = damage(&c, c.ofd < 0 ? "offsets" : "hashes", UINT64_MAX,
			"missing, but the checkpoint covers %" PRIu64 " entries", cp.size);
		goto out;
	}
	if (cp.size > 0 && (r = check_covered(&c, cp.size, cp.root, window)) != 0)
		goto out;
	r = check_tail(&c, cp.size);
out:
	free(text);
	checkpoint_note_free(note);
	if (c.efd >= 0)
		close(c.efd);
	if (c.ofd >= 0)
		close(c.ofd);
	if (c.hfd >= 0)
		close(c.hfd);
	if (c.dfd >= 0)
		close(c.dfd);
	return r;
}
