/* SPDX-License-Identifier: Apache-2.0 */
/* The audit log on disk: buffered framed appends, post-order hash file, recovery, proofs, verify.
 */
#include "be.h"
#include "auditcheck.h"
#include "auditlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sodium.h>

#include "durable.h"

#define FRAME_HDR 8                      /* u32 length || 4-byte check */
#define FLUSH_BYTES (4u * 1024u * 1024u) /* write buffered entries once this much is pending */
#define READ_CHUNK (4u * 1024u * 1024u)  /* sequential reads during recovery and verify */
#define MAP_MIN ((size_t)64 * 1024 * 1024)
#define PENDING_MAX 256                /* leaves whose nodes wait to be hashed together (settle) */
#define PREALLOC_BYTES (1024u * 1024u) /* zeros written past the entries ahead of them */
#define PREALLOC_ROOM (16ull * PREALLOC_BYTES) /* ... only while the disk has this much free */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

struct auditlog {
	char *dir;
	int dfd, efd, ofd, hfd;
	int readonly, broken;
	uint64_t n; /* entries, buffered included */
	int have_cp;
	uint64_t cp_size; /* latest checkpoint */
	uint8_t cp_root[MERKLE_HASH_BYTES];
	uint64_t e_disk, e_end; /* entries bytes written / including the buffer */
	uint64_t e_alloc; /* bytes of entries on disk, the zeros past e_disk included (>= e_disk) */
	uint64_t o_disk;  /* offsets on disk; ob holds [o_disk, n) */
	uint64_t h_disk;  /* nodes on disk; hb holds [h_disk, nodes(f.size)) */
	struct buf eb, ob, hb;
	struct merkle_frontier f; /* covers f.size leaves; pending holds [f.size, n) */
	uint8_t pending[PENDING_MAX][MERKLE_HASH_BYTES];
	uint8_t *map; /* read-only view of hashes, maplen bytes (may pass EOF) */
	size_t maplen;
};

/* ---- small helpers ---- */

/* Number of stored nodes of a tree of n leaves: every perfect subtree, leaves included. */
static uint64_t
nodes_for(uint64_t n)
{
	return 2 * n - (uint64_t)__builtin_popcountll(n);
}

/* Post-order position of the perfect subtree of 2^level leaves starting at index << level. */
static uint64_t
node_pos(unsigned level, uint64_t index)
{
	uint64_t m = (index + 1) << level;

	return nodes_for(m) - 1 - ((uint64_t)__builtin_ctzll(m) - level);
}

static int
buf_reserve(struct buf *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (b->cap - b->len >= more)
		return 0;
	cap = b->cap ? b->cap : 65536;
	while (cap - b->len < more)
		cap *= 2;
	if ((p = realloc(b->p, cap)) == NULL)
		return PASO_E_NOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int
pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	ssize_t w;

	while (len > 0) {
		w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return paso_errno_io(errno);
		if (w == 0)
			return PASO_E_IO;
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Reads exactly len bytes; PASO_E_IO on error, PASO_E_AUDIT_CORRUPT on a short file. */
static int
pread_all(int fd, uint8_t *p, size_t len, uint64_t off)
{
	ssize_t g;

	while (len > 0) {
		g = pread(fd, p, len, (off_t)off);
		if (g < 0 && errno == EINTR)
			continue;
		if (g < 0)
			return PASO_E_IO;
		if (g == 0)
			return PASO_E_AUDIT_CORRUPT;
		p += g;
		len -= (size_t)g;
		off += (uint64_t)g;
	}
	return 0;
}

static uint64_t
fd_size(int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 0)
		return 0;
	return (uint64_t)st.st_size;
}

/* Writes zeros over [from, to) of fd: 0, or pwrite_all's error. */
static int
write_zeros(int fd, uint64_t from, uint64_t to)
{
	static const uint8_t zero[65536];
	size_t k;
	int r;

	for (; from < to; from += k) {
		k = to - from < sizeof(zero) ? (size_t)(to - from) : sizeof(zero);
		if ((r = pwrite_all(fd, zero, k, from)) != 0)
			return r;
	}
	return 0;
}

/*
 * Writes zeros past the entries, from e_disk up to PREALLOC_BYTES further, unless at least half
 * of that is there already. Appends then overwrite blocks the file already has, within its
 * size, so their fdatasync flushes data only: no ext4 journal commit for a new size or new
 * blocks, except at the sync after this call (once per ~PREALLOC_BYTES of entries). An
 * all-zero tail is not a frame (a frame's check is never 0 for length 0) and recovery reads it
 * as the end of the log. Best effort, and only while the disk has PREALLOC_ROOM free: near a
 * full disk the store needs the room more (and a hub that fills it stays full until space
 * returns, not full and free by turns); a failure cuts the zeros back.
 */
static void
prealloc(struct auditlog *log)
{
	uint64_t had = log->e_alloc, to = log->e_disk + PREALLOC_BYTES;
	struct statvfs sv;

	if (log->e_alloc >= log->e_disk + PREALLOC_BYTES / 2)
		return;
	if (fstatvfs(log->efd, &sv) != 0 || (uint64_t)sv.f_bavail * sv.f_frsize < PREALLOC_ROOM)
		return;
	if (write_zeros(log->efd, had, to) != 0) {
		if (ftruncate(log->efd, (off_t)had) != 0)
			log->broken = 1; /* the file's end is not known any more */
		return;
	}
	log->e_alloc = to;
}

/* Reads a whole small file relative to dfd into a NUL-terminated buffer. */
static int
read_small_file(int dfd, const char *name, size_t max, char **outp, size_t *lenp)
{
	char *b = NULL;
	uint64_t sz;
	int fd, r;

	*outp = NULL;
	*lenp = 0;
	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO;
	sz = fd_size(fd);
	if (sz > max) {
		close(fd);
		return PASO_E_CHECKPOINT_FORMAT;
	}
	if ((b = malloc((size_t)sz + 1)) == NULL) {
		close(fd);
		return PASO_E_NOMEM;
	}
	r = pread_all(fd, (uint8_t *)b, (size_t)sz, 0);
	close(fd);
	if (r != 0) {
		free(b);
		return PASO_E_IO;
	}
	b[sz] = '\0';
	*outp = b;
	*lenp = (size_t)sz;
	return 0;
}

/* ---- sequential framed reader (recovery and verify) ---- */

enum { FR_OK = 1, FR_END = 0, FR_SHORT = -1, FR_TOOBIG = -2 };

struct frame_reader {
	int fd;
	uint64_t file_end;
	uint64_t base; /* file offset of buf[0] */
	uint8_t *buf;
	size_t cap, off, len;
};

static int
fr_init(struct frame_reader *r, int fd, uint64_t start, uint64_t file_end)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->base = start;
	r->file_end = file_end;
	r->cap = READ_CHUNK + FRAME_HDR + AUDITLOG_MAX_ENTRY;
	if ((r->buf = malloc(r->cap)) == NULL)
		return PASO_E_NOMEM;
	(void)posix_fadvise(fd, (off_t)start, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

static void
fr_free(struct frame_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Makes at least want bytes available at r->off (fewer only at end of file). */
static int
fr_fill(struct frame_reader *r, size_t want)
{
	uint64_t pos;
	size_t get;
	int rr;

	if (r->len - r->off >= want)
		return 0;
	memmove(r->buf, r->buf + r->off, r->len - r->off);
	r->base += r->off;
	r->len -= r->off;
	r->off = 0;
	pos = r->base + r->len;
	if (pos >= r->file_end)
		return 0;
	get = r->cap - r->len;
	if (get > r->file_end - pos)
		get = (size_t)(r->file_end - pos);
	if ((rr = pread_all(r->fd, r->buf + r->len, get, pos)) != 0)
		return rr == PASO_E_AUDIT_CORRUPT ? 0
						  : rr; /* the file shrank under us: stop there */
	r->len += get;
	/* Ask the kernel for the next chunks now, so the disk reads while we hash this one. */
	(void)posix_fadvise(
		r->fd, (off_t)(pos + get), (off_t)(2 * READ_CHUNK), POSIX_FADV_WILLNEED);
	return 0;
}

/*
 * Next frame: FR_OK with *data, *len, *check and *frame_off set, FR_END at exactly the end of the
 * file, FR_SHORT (an incomplete header or body), FR_TOOBIG (a length over the maximum) or
 * PASO_E_IO. *frame_off is set in every case.
 */
static int
fr_next(struct frame_reader *r, const uint8_t **data, uint32_t *len, const uint8_t **check,
	uint64_t *frame_off)
{
	uint32_t l;
	int rr;

	if ((rr = fr_fill(r, FRAME_HDR)) != 0)
		return rr;
	*frame_off = r->base + r->off;
	if (r->len - r->off == 0)
		return FR_END;
	if (r->len - r->off < FRAME_HDR)
		return FR_SHORT;
	l = be32_get(r->buf + r->off);
	if (l > AUDITLOG_MAX_ENTRY)
		return FR_TOOBIG;
	if ((rr = fr_fill(r, FRAME_HDR + l)) != 0)
		return rr;
	if (r->len - r->off < FRAME_HDR + (size_t)l)
		return FR_SHORT;
	*len = l;
	*check = r->buf + r->off + 4;
	*data = r->buf + r->off + FRAME_HDR;
	r->off += FRAME_HDR + l;
	return FR_OK;
}

/* ---- reading stored hashes ---- */

static void
unmap(struct auditlog *log)
{
	if (log->map != NULL)
		munmap(log->map, log->maplen);
	log->map = NULL;
	log->maplen = 0;
}

/* Keeps a read-only mapping covering every node on disk; falls back to pread if mmap fails. */
static void
ensure_map(struct auditlog *log)
{
	size_t need = (size_t)(log->h_disk * MERKLE_HASH_BYTES), len = MAP_MIN;
	void *p;

	if (log->map != NULL && need <= log->maplen)
		return;
	unmap(log);
	if (need == 0)
		return;
	while (len < need)
		len *= 2;
	/* Mapping past EOF is fine: only offsets below h_disk * 32 (inside the file) are read. */
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, log->hfd, 0);
	if (p == MAP_FAILED)
		return;
	log->map = p;
	log->maplen = len;
}

static int settle(struct auditlog *log);

static int
read_node_pos(struct auditlog *log, uint64_t pos, uint8_t out[MERKLE_HASH_BYTES])
{
	uint64_t i;

	if (pos < log->h_disk) {
		if (log->map != NULL && (pos + 1) * MERKLE_HASH_BYTES <= log->maplen) {
			memcpy(out, log->map + pos * MERKLE_HASH_BYTES, MERKLE_HASH_BYTES);
			return 0;
		}
		return pread_all(log->hfd, out, MERKLE_HASH_BYTES, pos * MERKLE_HASH_BYTES) == 0
			       ? 0
			       : PASO_E_IO;
	}
	i = pos - log->h_disk;
	if ((i + 1) * MERKLE_HASH_BYTES > log->hb.len)
		return PASO_E_INTERNAL;
	memcpy(out, log->hb.p + i * MERKLE_HASH_BYTES, MERKLE_HASH_BYTES);
	return 0;
}

static int
get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_BYTES])
{
	struct auditlog *log = ctx;
	int r;

	if ((r = settle(log)) != 0)
		return r;
	return read_node_pos(log, node_pos(level, index), out);
}

static int
read_offset(struct auditlog *log, uint64_t index, uint64_t *off)
{
	uint8_t b[8];
	uint64_t i;

	if (index < log->o_disk) {
		if (pread_all(log->ofd, b, 8, index * 8) != 0)
			return PASO_E_IO;
	} else {
		i = index - log->o_disk;
		if ((i + 1) * 8 > log->ob.len)
			return PASO_E_INTERNAL;
		memcpy(b, log->ob.p + i * 8, 8);
	}
	*off = be64_get(b);
	return 0;
}

/* Reads entry bytes [off, off+len) from disk or from the append buffer. */
static int
read_entry_bytes(struct auditlog *log, uint64_t off, uint8_t *p, size_t len)
{
	size_t k;

	if (off < log->e_disk) {
		k = off + len <= log->e_disk ? len : (size_t)(log->e_disk - off);
		if (pread_all(log->efd, p, k, off) != 0)
			return PASO_E_AUDIT_CORRUPT;
		p += k;
		off += k;
		len -= k;
	}
	if (len == 0)
		return 0;
	if (off - log->e_disk + len > log->eb.len)
		return PASO_E_INTERNAL;
	memcpy(p, log->eb.p + (off - log->e_disk), len);
	return 0;
}

/*
 * Rebuilds the frontier of a tree of size leaves from stored nodes (on disk or buffered, none
 * pending: the caller has settled or dropped them), into a copy so that a failed read leaves the
 * frontier as it was.
 */
static int
frontier_load(struct auditlog *log, uint64_t size)
{
	struct merkle_frontier f;
	uint64_t start;
	unsigned l;
	int r;

	merkle_frontier_init(&f);
	for (l = 0; l < 64; l++) {
		if (!(size & ((uint64_t)1 << l)))
			continue;
		start = size & ~((((uint64_t)1) << l << 1) - 1); /* clear bits 0..l */
		if ((r = read_node_pos(log, node_pos(l, start >> l), f.h[l])) != 0)
			return r;
	}
	f.size = size;
	log->f = f;
	return 0;
}

/* ---- writing ---- */

static void
on_node_buffer(void *ctx, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_BYTES])
{
	struct buf *b = ctx;

	(void)level;
	(void)index;
	/* Space for every node of one settle was reserved before it. */
	memcpy(b->p + b->len, hash, MERKLE_HASH_BYTES);
	b->len += MERKLE_HASH_BYTES;
}

/*
 * Hashes the pending leaves into the tree: frontier and buffered nodes. The nodes of up to
 * PENDING_MAX leaves are computed together, which lets the tree's node hashes run two at a time
 * (merkle_frontier_push_many); everything that reads the frontier or the nodes settles first.
 */
static int
settle(struct auditlog *log)
{
	size_t k = (size_t)(log->n - log->f.size);
	int r;

	if (k == 0)
		return 0;
	/* A leaf and its ancestors: at most 2k + 64 nodes. */
	if ((r = buf_reserve(&log->hb, (2 * k + 64) * MERKLE_HASH_BYTES)) != 0 ||
		(r = merkle_frontier_push_many(&log->f,
			 (const uint8_t(*)[MERKLE_HASH_BYTES])log->pending, k, on_node_buffer,
			 &log->hb)) != 0)
		return r;
	return 0;
}

/* Pushes one leaf: pending leaf hash and offset; its nodes wait for settle. */
static int
push_leaf(struct auditlog *log, const uint8_t leaf[MERKLE_HASH_BYTES], uint64_t frame_off)
{
	int r;

	if (log->n - log->f.size == PENDING_MAX && (r = settle(log)) != 0)
		return r;
	if ((r = buf_reserve(&log->ob, 8)) != 0)
		return r;
	be64_put(log->ob.p + log->ob.len, frame_off);
	log->ob.len += 8;
	memcpy(log->pending[log->n - log->f.size], leaf, MERKLE_HASH_BYTES);
	log->n++;
	return 0;
}

static int
flush(struct auditlog *log)
{
	int r;

	if (log->readonly)
		return 0;
	if (log->broken)
		return PASO_E_IO;
	if ((r = settle(log)) != 0)
		return r;
	if ((r = pwrite_all(log->efd, log->eb.p, log->eb.len, log->e_disk)) != 0 ||
		(r = pwrite_all(log->ofd, log->ob.p, log->ob.len, log->o_disk * 8)) != 0 ||
		(r = pwrite_all(
			 log->hfd, log->hb.p, log->hb.len, log->h_disk * MERKLE_HASH_BYTES)) != 0) {
		/*
		 * A full disk passes: the buffers are kept and nothing counted as written, so
		 * auditlog_truncate can cut back (the bytes that did land past e_disk, o_disk
		 * and h_disk are cut there) or a later flush rewrites them in place. Any other
		 * failure leaves the files in an unknown state: refuse everything until reopened.
		 */
		if (r != PASO_E_STORE_FULL)
			log->broken = 1;
		return r;
	}
	log->e_disk += log->eb.len;
	log->o_disk += log->ob.len / 8;
	log->h_disk += log->hb.len / MERKLE_HASH_BYTES;
	log->eb.len = log->ob.len = log->hb.len = 0;
	if (log->e_alloc < log->e_disk)
		log->e_alloc = log->e_disk;
	ensure_map(log);
	return 0;
}

/* ---- open and recovery ---- */

static int
load_checkpoint(struct auditlog *log, struct paso_diag *d)
{
	struct checkpoint_note *note = NULL;
	struct checkpoint cp;
	char *text = NULL;
	size_t len;
	int r;

	r = read_small_file(log->dfd, "checkpoint", CHECKPOINT_MAX_NOTE, &text, &len);
	if (r == PASO_E_NOT_FOUND)
		return 0;
	if (r != 0)
		return paso_diag_set(d, r, "%s/checkpoint: cannot read it", log->dir);
	if ((r = checkpoint_note_parse(text, len, &note, d)) != 0 ||
		(r = checkpoint_parse_text(note->text, note->text_len, &cp, d)) != 0) {
		free(text);
		checkpoint_note_free(note);
		return paso_diag_set(
			d, PASO_E_AUDIT_CORRUPT, "%s/checkpoint is not a checkpoint", log->dir);
	}
	log->have_cp = 1;
	log->cp_size = cp.size;
	memcpy(log->cp_root, cp.root, MERKLE_HASH_BYTES);
	free(text);
	checkpoint_note_free(note);
	return 0;
}

/* Copies entries bytes [from, to) to AUDITDIR/torn.FROM before they are cut. */
static int
save_torn(struct auditlog *log, uint64_t from, uint64_t to)
{
	char name[48];
	uint8_t *b = NULL;
	uint64_t off = from;
	size_t k;
	int fd, r = 0;

	(void)snprintf(name, sizeof(name), "torn.%" PRIu64, from);
	if ((fd = openat(log->dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return PASO_E_IO;
	if ((b = malloc(READ_CHUNK)) == NULL) {
		close(fd);
		return PASO_E_NOMEM;
	}
	while (r == 0 && off < to) {
		k = to - off > READ_CHUNK ? READ_CHUNK : (size_t)(to - off);
		if ((r = pread_all(log->efd, b, k, off)) == 0)
			r = pwrite_all(fd, b, k, off - from);
		off += k;
	}
	if (r == 0 && fsync(fd) != 0)
		r = PASO_E_IO;
	close(fd);
	free(b);
	return r != 0 ? PASO_E_IO : 0;
}

static int
recover(struct auditlog *log, struct paso_diag *d)
{
	struct frame_reader fr = {0};
	const uint8_t *data = NULL, *check = NULL;
	uint8_t leaf[MERKLE_HASH_BYTES], hdr[FRAME_HDR];
	uint64_t esize = fd_size(log->efd), osize = fd_size(log->ofd) / 8,
		 hsize = fd_size(log->hfd) / 32;
	uint64_t t = 0, start = 0, foff = 0;
	uint32_t len = 0;
	int r, fr_r = FR_END;

	/* Trust the derived files up to the checkpoint only if they are long enough and agree with
	 * it. */
	if (log->have_cp && log->cp_size > 0 && osize >= log->cp_size &&
		hsize >= nodes_for(log->cp_size)) {
		log->o_disk = log->cp_size;
		log->h_disk = nodes_for(log->cp_size);
		ensure_map(log);
		if (merkle_root_nodes(get_node, log, log->cp_size, leaf) == 0 &&
			sodium_memcmp(leaf, log->cp_root, MERKLE_HASH_BYTES) == 0 &&
			read_offset(log, log->cp_size - 1, &start) == 0 &&
			pread_all(log->efd, hdr, FRAME_HDR, start) == 0 &&
			start + FRAME_HDR + be32_get(hdr) <= esize) {
			t = log->cp_size;
			start += FRAME_HDR + be32_get(hdr);
		}
	}
	if (t == 0) {
		start = 0;
		log->o_disk = log->h_disk = 0;
	}
	if ((r = frontier_load(log, t)) != 0)
		return paso_diag_set(d, PASO_E_IO, "%s/hashes: cannot read stored nodes", log->dir);
	log->n = t;
	if ((r = fr_init(&fr, log->efd, start, esize)) != 0)
		return r;
	for (;;) {
		fr_r = fr_next(&fr, &data, &len, &check, &foff);
		if (fr_r != FR_OK)
			break;
		merkle_leaf_hash(data, len, leaf);
		if (memcmp(leaf, check, 4) != 0) {
			fr_r = FR_SHORT; /* a frame whose bytes are not what was written: torn */
			break;
		}
		if ((r = push_leaf(log, leaf, foff)) != 0)
			goto out;
		if (!log->readonly && log->hb.len >= FLUSH_BYTES) {
			/* The entries are already on disk: write only the derived files. */
			log->e_disk = fr.base + fr.off;
			if ((r = flush(log)) != 0)
				goto out;
		}
	}
	if (fr_r < FR_TOOBIG) {
		r = paso_diag_set(d, PASO_E_IO, "%s/entries: read error", log->dir);
		goto out;
	}
	log->e_disk = log->e_end = log->e_alloc = foff;
	/* Zeros past the last frame: the head start of a writer that did not close (prealloc). */
	if (foff < esize && (r = auditcheck_zeros_to_end(log->efd, foff, esize)) != 0) {
		if (r < 0) {
			r = paso_diag_set(d, PASO_E_IO, "%s/entries: read error", log->dir);
			goto out;
		}
		log->e_alloc = esize;
	} else if (foff < esize) {
		if (!log->readonly) {
			if ((r = save_torn(log, foff, esize)) != 0 ||
				ftruncate(log->efd, (off_t)foff) != 0 || fdatasync(log->efd) != 0) {
				r = paso_diag_set(d, PASO_E_IO,
					"%s/entries: cannot cut the torn tail", log->dir);
				goto out;
			}
		}
		if (log->readonly)
			paso_diag_set(d, PASO_E_AUDIT_TORN,
				"%s/entries: torn tail of %" PRIu64 " bytes at byte %" PRIu64
				" after %" PRIu64 " complete entries (%s); ignored (read-only)",
				log->dir, esize - foff, foff, log->n,
				fr_r == FR_TOOBIG ? "impossible length"
						  : "incomplete or damaged frame");
		else
			paso_diag_set(d, PASO_E_AUDIT_TORN,
				"%s/entries: torn tail of %" PRIu64 " bytes at byte %" PRIu64
				" after %" PRIu64
				" complete entries (%s); cut back, bytes saved as torn.%" PRIu64,
				log->dir, esize - foff, foff, log->n,
				fr_r == FR_TOOBIG ? "impossible length"
						  : "incomplete or damaged frame",
				foff);
	}
	if (log->have_cp) {
		if (log->n < log->cp_size) {
			r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"%s: entries holds %" PRIu64
				" complete entries, the latest checkpoint covers %" PRIu64,
				log->dir, log->n, log->cp_size);
			goto out;
		}
		if (t == 0 && log->cp_size > 0) {
			if ((r = merkle_root_nodes(get_node, log, log->cp_size, leaf)) != 0)
				goto out;
			if (sodium_memcmp(leaf, log->cp_root, MERKLE_HASH_BYTES) != 0) {
				r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
					"%s: the first %" PRIu64
					" entries do not hash to the latest checkpoint's root",
					log->dir, log->cp_size);
				goto out;
			}
		}
	}
	if (!log->readonly) {
		if ((r = flush(log)) != 0 || ftruncate(log->ofd, (off_t)(log->n * 8)) != 0 ||
			ftruncate(log->hfd, (off_t)(nodes_for(log->n) * MERKLE_HASH_BYTES)) != 0 ||
			fdatasync(log->ofd) != 0 || fdatasync(log->hfd) != 0) {
			log->broken = 1;
			r = paso_diag_set(d, PASO_E_IO,
				"%s: cannot write the rebuilt offsets and hashes", log->dir);
			goto out;
		}
	}
	r = 0;
out:
	fr_free(&fr);
	return r;
}

static int
log_open(const char *auditdir, int readonly, struct auditlog **out, struct paso_diag *d)
{
	struct auditlog *log = NULL;
	int oflags = readonly ? O_RDONLY : O_RDWR | O_CREAT, r;

	*out = NULL;
	if (d != NULL) {
		d->code = 0;
		d->msg[0] = '\0';
	}
	if ((log = calloc(1, sizeof(*log))) == NULL || (log->dir = strdup(auditdir)) == NULL) {
		free(log);
		return PASO_E_NOMEM;
	}
	log->dfd = log->efd = log->ofd = log->hfd = -1;
	log->readonly = readonly;
	if (!readonly && mkdir(auditdir, 0700) != 0 && errno != EEXIST) {
		r = paso_diag_set(
			d, PASO_E_IO, "%s: cannot create directory: %s", auditdir, strerror(errno));
		goto out;
	}
	if ((log->dfd = open(auditdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = paso_diag_set(d, errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO,
			"%s: cannot open: %s", auditdir, strerror(errno));
		goto out;
	}
	if ((log->efd = openat(log->dfd, "entries", oflags | O_CLOEXEC, 0644)) < 0) {
		r = paso_diag_set(d, errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO,
			"%s/entries: %s", auditdir, strerror(errno));
		goto out;
	}
	if (!readonly && flock(log->efd, LOCK_EX | LOCK_NB) != 0) {
		r = paso_diag_set(d, errno == EWOULDBLOCK ? PASO_E_EXISTS : PASO_E_IO,
			"%s/entries: another process has the log open for writing", auditdir);
		goto out;
	}
	log->ofd = openat(log->dfd, "offsets", oflags | O_CLOEXEC, 0644);
	log->hfd = openat(log->dfd, "hashes", oflags | O_CLOEXEC, 0644);
	if (!readonly && (log->ofd < 0 || log->hfd < 0)) {
		r = paso_diag_set(d, PASO_E_IO, "%s: cannot open offsets or hashes: %s", auditdir,
			strerror(errno));
		goto out;
	}
	if ((r = load_checkpoint(log, d)) != 0)
		goto out;
	if ((r = recover(log, d)) != 0)
		goto out;
	*out = log;
	log = NULL;
	r = 0;
out:
	if (log != NULL)
		log->broken = 1; /* write nothing on the way out of a failed open */
	auditlog_close(log);
	return r;
}

int
auditlog_open(const char *auditdir, struct auditlog **out, struct paso_diag *d)
{
	return log_open(auditdir, 0, out, d);
}

int
auditlog_open_readonly(const char *auditdir, struct auditlog **out, struct paso_diag *d)
{
	return log_open(auditdir, 1, out, d);
}

void
auditlog_close(struct auditlog *log)
{
	if (log == NULL)
		return;
	/* A log at rest ends at its last frame: the zeros ahead of it are cut (best effort; a
	 * reader takes zeros after the last frame as the end anyway). */
	if (!log->broken && log->efd >= 0 && log->ofd >= 0 && log->hfd >= 0 && flush(log) == 0 &&
		log->e_alloc > log->e_disk && ftruncate(log->efd, (off_t)log->e_disk) != 0)
		log->broken = 1; /* nothing more is written on the way out */
	unmap(log);
	if (log->efd >= 0)
		close(log->efd); /* releases the flock */
	if (log->ofd >= 0)
		close(log->ofd);
	if (log->hfd >= 0)
		close(log->hfd);
	if (log->dfd >= 0)
		close(log->dfd);
	free(log->eb.p);
	free(log->ob.p);
	free(log->hb.p);
	free(log->dir);
	free(log);
}

/* ---- the writer's API ---- */

int
auditlog_append(struct auditlog *log, const uint8_t *entry, size_t len, uint64_t *indexp)
{
	uint8_t leaf[MERKLE_HASH_BYTES];
	uint8_t *p;
	int r;

	if (indexp != NULL)
		*indexp = 0;
	if (log->readonly || len > AUDITLOG_MAX_ENTRY || (entry == NULL && len > 0))
		return PASO_E_INVALID_ARG;
	if (log->broken)
		return PASO_E_IO;
	merkle_leaf_hash(entry, len, leaf);
	if ((r = buf_reserve(&log->eb, FRAME_HDR + len)) != 0)
		return r;
	p = log->eb.p + log->eb.len;
	be32_put(p, (uint32_t)len);
	memcpy(p + 4, leaf, 4);
	if (len > 0)
		memcpy(p + FRAME_HDR, entry, len);
	if ((r = push_leaf(log, leaf, log->e_end)) != 0)
		return r;
	log->eb.len += FRAME_HDR + len;
	log->e_end += FRAME_HDR + len;
	if (indexp != NULL)
		*indexp = log->n - 1;
	if (log->eb.len >= FLUSH_BYTES)
		return flush(log);
	return 0;
}

int
auditlog_sync(struct auditlog *log)
{
	int r;

	if (log->readonly)
		return PASO_E_INVALID_ARG;
	if ((r = flush(log)) != 0)
		return r;
	prealloc(log);
	if (fdatasync(log->efd) != 0) {
		/* ENOSPC from fdatasync (delayed allocation): the caller cuts back, which drops the
		 * pages that could not be written; the entries before them were synced earlier. */
		if ((r = paso_errno_io(errno)) != PASO_E_STORE_FULL)
			log->broken = 1;
		return r;
	}
	return 0;
}

uint64_t
auditlog_size(const struct auditlog *log)
{
	return log->n;
}

uint64_t
auditlog_checkpoint_size(const struct auditlog *log)
{
	return log->have_cp ? log->cp_size : 0;
}

int
auditlog_truncate(struct auditlog *log, uint64_t size)
{
	uint64_t off, hi, keep;
	int r;

	if (log->readonly || size > log->n)
		return PASO_E_INVALID_ARG;
	if (log->have_cp && size < log->cp_size)
		return PASO_E_ROLLBACK;
	if (log->broken)
		return PASO_E_IO;
	if (size == log->n)
		return 0;
	if ((r = settle(log)) != 0)
		return r;
	/*
	 * No flush first: after a failed write (a full disk) the buffers hold what never reached
	 * the files, and writing it now would only fail again. Entries still buffered are dropped
	 * from the buffers; the files are cut to what was written before them (or to size), which
	 * also removes any part of a failed write that did land.
	 */
	if ((r = read_offset(log, size, &off)) != 0)
		return r;
	hi = log->e_disk + log->eb.len; /* as far as a write may have reached */
	if (size >= log->o_disk) {
		log->eb.len = (size_t)(off - log->e_disk);
		log->ob.len = (size_t)(size - log->o_disk) * 8;
		log->hb.len = (size_t)(nodes_for(size) - log->h_disk) * MERKLE_HASH_BYTES;
	} else {
		log->eb.len = log->ob.len = log->hb.len = 0;
		log->e_disk = off;
		log->o_disk = size;
		log->h_disk = nodes_for(size);
	}
	/*
	 * What was written past e_disk is zeroed within the head start, which is kept (a rollback
	 * on a full disk must not free it, or the hub would find the disk free and full by turns);
	 * past it, and if zeroing fails, the file is cut.
	 */
	keep = log->e_alloc;
	if (hi > keep)
		hi = keep;
	if (write_zeros(log->efd, log->e_disk, hi) != 0)
		keep = log->e_disk;
	if (ftruncate(log->efd, (off_t)keep) != 0 ||
		ftruncate(log->ofd, (off_t)(log->o_disk * 8)) != 0 ||
		ftruncate(log->hfd, (off_t)(log->h_disk * MERKLE_HASH_BYTES)) != 0 ||
		fdatasync(log->efd) != 0 || fdatasync(log->ofd) != 0 || fdatasync(log->hfd) != 0) {
		log->broken = 1;
		return PASO_E_IO;
	}
	log->e_alloc = keep;
	log->e_end = off;
	log->n = size;
	if ((r = frontier_load(log, size)) != 0) {
		log->broken = 1;
		return r;
	}
	return 0;
}

int
auditlog_checkpoint(struct auditlog *log, const struct checkpoint_signer *s)
{
	uint8_t root[MERKLE_HASH_BYTES];
	struct paso_diag d = {0};
	char *note = NULL;
	int r;

	if (log->readonly || log->broken)
		return log->readonly ? PASO_E_INVALID_ARG : PASO_E_IO;
	if (log->have_cp && log->cp_size == log->n)
		return 0; /* nothing new: the stored checkpoint is current */
	/* Everything the checkpoint covers, and the derived files recovery will trust, first. */
	if ((r = flush(log)) != 0)
		return r;
	if (fdatasync(log->efd) != 0 || fdatasync(log->ofd) != 0 || fdatasync(log->hfd) != 0) {
		if ((r = paso_errno_io(errno)) != PASO_E_STORE_FULL)
			log->broken = 1;
		return r;
	}
	merkle_frontier_root(&log->f, root);
	if ((r = checkpoint_sign(s, log->n, root, &note)) != 0)
		return r;
	r = durable_writeat(
		log->dfd, "checkpoint", note, strlen(note), 0644, DURABLE_REPLACE, NULL, &d);
	free(note);
	if (r != 0)
		return r;
	log->have_cp = 1;
	log->cp_size = log->n;
	memcpy(log->cp_root, root, MERKLE_HASH_BYTES);
	return 0;
}

int
auditlog_latest_checkpoint(struct auditlog *log, char **notep, size_t *lenp)
{
	return read_small_file(log->dfd, "checkpoint", CHECKPOINT_MAX_NOTE, notep, lenp);
}

/* ---- reading and proofs ---- */

int
auditlog_entry(struct auditlog *log, uint64_t index, uint8_t **bufp, size_t *lenp)
{
	uint8_t hdr[FRAME_HDR], leaf[MERKLE_HASH_BYTES], *b = NULL;
	uint64_t off;
	uint32_t len;
	int r;

	*bufp = NULL;
	*lenp = 0;
	if (index >= log->n)
		return PASO_E_NOT_FOUND;
	if ((r = read_offset(log, index, &off)) != 0 ||
		(r = read_entry_bytes(log, off, hdr, FRAME_HDR)) != 0)
		return r;
	len = be32_get(hdr);
	if (len > AUDITLOG_MAX_ENTRY)
		return PASO_E_AUDIT_CORRUPT;
	if ((b = malloc(len ? len : 1)) == NULL)
		return PASO_E_NOMEM;
	if ((r = read_entry_bytes(log, off + FRAME_HDR, b, len)) != 0) {
		free(b);
		return r;
	}
	merkle_leaf_hash(b, len, leaf);
	if (memcmp(leaf, hdr + 4, 4) != 0) {
		free(b);
		return PASO_E_AUDIT_CORRUPT;
	}
	*bufp = b;
	*lenp = len;
	return 0;
}

/* The byte range [*off0, *end) of entries [first, first + count) in the entries file. */
static int
frames_range(struct auditlog *log, uint64_t first, uint64_t count, uint64_t *off0, uint64_t *end)
{
	int r;

	if (count == 0 || first >= log->n || count > log->n - first)
		return PASO_E_NOT_FOUND;
	if ((r = read_offset(log, first, off0)) != 0)
		return r;
	if (first + count < log->n)
		return read_offset(log, first + count, end);
	*end = log->e_end;
	return 0;
}

int
auditlog_bundle(struct auditlog *log, uint64_t first, uint64_t count, uint8_t **bufp, size_t *lenp)
{
	uint8_t *raw = NULL;
	uint64_t off0, end;
	size_t rawlen, used, made;
	int r;

	*bufp = NULL;
	*lenp = 0;
	if ((r = frames_range(log, first, count, &off0, &end)) != 0)
		return r;
	if (end < off0 + count * FRAME_HDR || end - off0 > (uint64_t)count * (FRAME_HDR + 65535))
		return PASO_E_AUDIT_CORRUPT;
	rawlen = (size_t)(end - off0);
	if ((raw = malloc(rawlen)) == NULL)
		return PASO_E_NOMEM;
	if ((r = read_entry_bytes(log, off0, raw, rawlen)) != 0 ||
		(r = auditlog_frames_to_bundle(raw, rawlen, count, &used, &made)) != 0)
		goto out;
	if (used != rawlen) {
		r = PASO_E_AUDIT_CORRUPT;
		goto out;
	}
	*bufp = raw;
	*lenp = made;
	raw = NULL;
out:
	free(raw);
	return r;
}

int
auditlog_frames_span(struct auditlog *log, uint64_t first, uint64_t count, int *fdp, uint64_t *offp,
	size_t *lenp)
{
	uint64_t off0, end;
	int r;

	*fdp = -1;
	*offp = 0;
	*lenp = 0;
	if ((r = frames_range(log, first, count, &off0, &end)) != 0)
		return r;
	if (end > log->e_disk || end < off0)
		return PASO_E_INVALID_ARG;
	*fdp = log->efd;
	*offp = off0;
	*lenp = (size_t)(end - off0);
	return 0;
}

int
auditlog_frames_to_bundle(
	uint8_t *buf, size_t len, uint64_t count, size_t *consumed, size_t *produced)
{
	size_t p = 0, q = 0;
	uint64_t i;
	uint32_t n;

	*consumed = *produced = 0;
	for (i = 0; i < count; i++) {
		if (len - p < FRAME_HDR || (n = be32_get(buf + p)) > 65535 ||
			len - p - FRAME_HDR < n)
			return PASO_E_AUDIT_CORRUPT;
		/* q + 2 <= p + FRAME_HDR: the bundle never overtakes the frames it is read from. */
		buf[q] = (uint8_t)(n >> 8);
		buf[q + 1] = (uint8_t)n;
		memmove(buf + q + 2, buf + p + FRAME_HDR, n);
		q += 2 + n;
		p += FRAME_HDR + n;
	}
	*consumed = p;
	*produced = q;
	return 0;
}

int
auditlog_leaf_hash(struct auditlog *log, uint64_t index, uint8_t out[MERKLE_HASH_BYTES])
{
	if (index >= log->n)
		return PASO_E_NOT_FOUND;
	return get_node(log, 0, index, out);
}

int
auditlog_node(struct auditlog *log, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_BYTES])
{
	if (level > 63 || index > (UINT64_MAX >> level) - 1 || ((index + 1) << level) > log->n)
		return PASO_E_NOT_FOUND;
	return get_node(log, level, index, out);
}

int
auditlog_root(struct auditlog *log, uint64_t size, uint8_t root[MERKLE_HASH_BYTES])
{
	if (size > log->n)
		return PASO_E_INVALID_ARG;
	if (size == log->n) {
		int r;

		if ((r = settle(log)) != 0)
			return r;
		merkle_frontier_root(&log->f, root);
		return 0;
	}
	return merkle_root_nodes(get_node, log, size, root);
}

int
auditlog_inclusion(struct auditlog *log, uint64_t index, uint64_t size,
	uint8_t (*path)[MERKLE_HASH_BYTES], size_t cap, size_t *n)
{
	*n = 0;
	if (size > log->n)
		return PASO_E_INVALID_ARG;
	return merkle_inclusion_nodes(get_node, log, index, size, path, cap, n);
}

int
auditlog_consistency(struct auditlog *log, uint64_t old_size, uint64_t new_size,
	uint8_t (*proof)[MERKLE_HASH_BYTES], size_t cap, size_t *n)
{
	*n = 0;
	if (new_size > log->n)
		return PASO_E_INVALID_ARG;
	return merkle_consistency_nodes(get_node, log, old_size, new_size, proof, cap, n);
}

int
auditlog_verify(const char *auditdir, const struct checkpoint_verifier *v,
	const struct checkpoint *known, struct logread_report *rep, struct paso_diag *d)
{
	return logread_verify(auditdir, v, known, rep, d);
}
