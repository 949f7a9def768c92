/* SPDX-License-Identifier: Apache-2.0 */
/* The outsider's reader of an audit directory: proofs from its stored hashes, and full verification.
 *
 * Written apart from the hub's writer (auditlog.c) on purpose: paso-audit links this file, never
 * auditlog.c, so a mistake in how the hub reads or writes its files cannot hide itself from the
 * tool that checks them. Both follow the layout in audit/README.md.
 */
#include "be.h"
#include "logread.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define FRAME_HDR 8                     /* u32 length || 4-byte check */
#define READ_CHUNK (4u * 1024u * 1024u) /* sequential reads */
#define MAX_ENTRY 65536u                /* frames longer than this are damage */

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

/* 1 if every byte of fd in [off, end) is zero (a writer's zeros ahead of its next entry), 0 if
 * not, or PASO_E_IO. */
static int
zeros_to_end(int fd, uint64_t off, uint64_t end)
{
	uint8_t b[65536];
	size_t k, i;

	while (off < end) {
		k = end - off < sizeof(b) ? (size_t)(end - off) : sizeof(b);
		if (pread_all(fd, b, k, off) != 0)
			return PASO_E_IO;
		for (i = 0; i < k; i++)
			if (b[i] != 0)
				return 0;
		off += k;
	}
	return 1;
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
	/* No bigger than the file: a small log is not read through a 4 MiB buffer. */
	r->cap = (file_end - start < READ_CHUNK ? (size_t)(file_end - start) : READ_CHUNK) +
		 FRAME_HDR + MAX_ENTRY;
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
	if (l > MAX_ENTRY)
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

/*
 * Frames with their leaf hashes, hashed two at a time (merkle_leaf_hash2): the first of a pair
 * is copied out, since reading the second may refill the buffer under it, and the second's
 * result (or the first failure after it) waits for the next call. Verify spends most of its
 * time in these hashes.
 */
struct leaf_frame {
	int rc; /* FR_OK or what fr_next said */
	uint8_t leaf[MERKLE_HASH_BYTES];
	uint8_t check[4];
	uint32_t len;
	uint64_t off;
};

struct leaf_reader {
	struct frame_reader *fr;
	uint8_t *copy; /* MAX_ENTRY bytes */
	int have_next;
	struct leaf_frame next;
};

static int
lf_next(struct leaf_reader *lr, struct leaf_frame *out)
{
	const uint8_t *d1, *d2, *c1, *c2;
	uint32_t n1, n2;

	if (lr->have_next) {
		lr->have_next = 0;
		*out = lr->next;
		return out->rc;
	}
	if ((out->rc = fr_next(lr->fr, &d1, &n1, &c1, &out->off)) != FR_OK)
		return out->rc;
	out->len = n1;
	memcpy(out->check, c1, 4);
	memcpy(lr->copy, d1, n1);
	lr->next.rc = fr_next(lr->fr, &d2, &n2, &c2, &lr->next.off);
	lr->have_next = 1;
	if (lr->next.rc != FR_OK) {
		merkle_leaf_hash(lr->copy, n1, out->leaf);
		return FR_OK;
	}
	lr->next.len = n2;
	memcpy(lr->next.check, c2, 4);
	merkle_leaf_hash2(lr->copy, n1, out->leaf, d2, n2, lr->next.leaf);
	return FR_OK;
}

/* ---- the read-only reader ---- */

struct logread {
	int dfd, efd, ofd, hfd;
	uint64_t n;       /* entries with an offset and a stored leaf hash */
	uint64_t cp_size; /* size in the checkpoint file, 0 if none */
};

/* Number of stored nodes of a tree of n leaves. */
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

int
logread_open(const char *auditdir, struct logread **out, struct paso_diag *d)
{
	struct logread *lr = NULL;
	struct checkpoint_note *note = NULL;
	struct checkpoint cp;
	char *text = NULL;
	size_t len;
	uint64_t on, hn, lo, hi, mid;
	int r;

	*out = NULL;
	if ((lr = calloc(1, sizeof(*lr))) == NULL)
		return PASO_E_NOMEM;
	lr->efd = lr->ofd = lr->hfd = -1;
	if ((lr->dfd = open(auditdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = paso_diag_set(d, PASO_E_NOT_FOUND, "%s: %s", auditdir, strerror(errno));
		goto out;
	}
	lr->efd = openat(lr->dfd, "entries", O_RDONLY | O_CLOEXEC);
	lr->ofd = openat(lr->dfd, "offsets", O_RDONLY | O_CLOEXEC);
	lr->hfd = openat(lr->dfd, "hashes", O_RDONLY | O_CLOEXEC);
	if (lr->efd < 0 || lr->ofd < 0 || lr->hfd < 0) {
		r = paso_diag_set(
			d, PASO_E_NOT_FOUND, "%s: entries, offsets or hashes missing", auditdir);
		goto out;
	}
	r = read_small_file(lr->dfd, "checkpoint", CHECKPOINT_MAX_NOTE, &text, &len);
	if (r == 0) {
		if ((r = checkpoint_note_parse(text, len, &note, d)) != 0 ||
			(r = checkpoint_parse_text(note->text, note->text_len, &cp, d)) != 0) {
			r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"%s/checkpoint is not a checkpoint", auditdir);
			goto out;
		}
		lr->cp_size = cp.size;
	} else if (r != PASO_E_NOT_FOUND) {
		r = paso_diag_set(d, r, "%s/checkpoint: unreadable", auditdir);
		goto out;
	}
	/* Entries usable for proofs: those with an offset and a complete set of stored nodes. */
	on = fd_size(lr->ofd) / 8;
	hn = fd_size(lr->hfd) / MERKLE_HASH_BYTES;
	lo = 0;
	hi = on;
	while (lo < hi) {
		mid = hi - (hi - lo) / 2;
		if (nodes_for(mid) <= hn)
			lo = mid;
		else
			hi = mid - 1;
	}
	lr->n = lo;
	*out = lr;
	lr = NULL;
	r = 0;
out:
	free(text);
	checkpoint_note_free(note);
	logread_close(lr);
	return r;
}

void
logread_close(struct logread *lr)
{
	if (lr == NULL)
		return;
	if (lr->efd >= 0)
		close(lr->efd);
	if (lr->ofd >= 0)
		close(lr->ofd);
	if (lr->hfd >= 0)
		close(lr->hfd);
	if (lr->dfd >= 0)
		close(lr->dfd);
	free(lr);
}

uint64_t
logread_size(const struct logread *lr)
{
	return lr->n;
}

uint64_t
logread_checkpoint_size(const struct logread *lr)
{
	return lr->cp_size;
}

static int
get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_BYTES])
{
	struct logread *lr = ctx;

	return pread_all(lr->hfd, out, MERKLE_HASH_BYTES,
		       node_pos(level, index) * MERKLE_HASH_BYTES) == 0
		       ? 0
		       : PASO_E_IO;
}

int
logread_entry(struct logread *lr, uint64_t index, uint8_t **bufp, size_t *lenp)
{
	uint8_t hdr[FRAME_HDR], ob[8], leaf[MERKLE_HASH_BYTES], *b = NULL;
	uint64_t off;
	uint32_t len = 0;

	*bufp = NULL;
	*lenp = 0;
	if (index >= lr->n)
		return PASO_E_NOT_FOUND;
	if (pread_all(lr->ofd, ob, 8, index * 8) != 0)
		return PASO_E_IO;
	off = be64_get(ob);
	if (pread_all(lr->efd, hdr, FRAME_HDR, off) != 0)
		return PASO_E_AUDIT_CORRUPT;
	len = be32_get(hdr);
	if (len > MAX_ENTRY)
		return PASO_E_AUDIT_CORRUPT;
	if ((b = malloc(len ? len : 1)) == NULL)
		return PASO_E_NOMEM;
	if (pread_all(lr->efd, b, len, off + FRAME_HDR) != 0) {
		free(b);
		return PASO_E_AUDIT_CORRUPT;
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

int
logread_leaf_hash(struct logread *lr, uint64_t index, uint8_t out[MERKLE_HASH_BYTES])
{
	if (index >= lr->n)
		return PASO_E_NOT_FOUND;
	return get_node(lr, 0, index, out);
}

int
logread_root(struct logread *lr, uint64_t size, uint8_t root[MERKLE_HASH_BYTES])
{
	if (size > lr->n)
		return PASO_E_INVALID_ARG;
	return merkle_root_nodes(get_node, lr, size, root);
}

int
logread_inclusion(struct logread *lr, uint64_t index, uint64_t size,
	uint8_t (*path)[MERKLE_HASH_BYTES], size_t cap, size_t *n)
{
	*n = 0;
	if (size > lr->n)
		return PASO_E_INVALID_ARG;
	return merkle_inclusion_nodes(get_node, lr, index, size, path, cap, n);
}

int
logread_consistency(struct logread *lr, uint64_t old_size, uint64_t new_size,
	uint8_t (*proof)[MERKLE_HASH_BYTES], size_t cap, size_t *n)
{
	*n = 0;
	if (new_size > lr->n)
		return PASO_E_INVALID_ARG;
	return merkle_consistency_nodes(get_node, lr, old_size, new_size, proof, cap, n);
}

/* ---- the outsider's verification ---- */

/* A sequential reader of a derived file (offsets or hashes); a missing file reads as empty. */
struct seq_reader {
	int fd;
	uint64_t size, pos;
	uint8_t *buf;
	size_t cap, off, len;
};

static int
seq_init(struct seq_reader *s, int dfd, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	s->size = fd_size(s->fd);
	s->cap = s->size < READ_CHUNK ? (size_t)s->size + 64 : READ_CHUNK; /* >= any read's n */
	if ((s->buf = malloc(s->cap)) == NULL)
		return PASO_E_NOMEM;
	return 0;
}

static void
seq_free(struct seq_reader *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
}

/* 1 and n bytes in out, 0 at end of file, or PASO_E_IO. */
static int
seq_next(struct seq_reader *s, uint8_t *out, size_t n)
{
	size_t get;

	if (s->len - s->off < n) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
		get = s->cap - s->len;
		if (get > s->size - s->pos)
			get = (size_t)(s->size - s->pos);
		if (get > 0) {
			if (pread_all(s->fd, s->buf + s->len, get, s->pos) != 0)
				return PASO_E_IO;
			s->pos += get;
			s->len += get;
			(void)posix_fadvise(
				s->fd, (off_t)s->pos, (off_t)(2 * READ_CHUNK), POSIX_FADV_WILLNEED);
		}
		if (s->len < n)
			return 0;
	}
	memcpy(out, s->buf + s->off, n);
	s->off += n;
	return 1;
}

struct verify_ctx {
	struct seq_reader hashes;
	int bad; /* 0, or 1 when a stored node differed */
	int io;
	unsigned bad_level;
	uint64_t bad_index;
	int missing;
};

static void
on_node_compare(void *ctx, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_BYTES])
{
	struct verify_ctx *v = ctx;
	uint8_t stored[MERKLE_HASH_BYTES];
	int r;

	if (v->bad || v->io)
		return;
	r = seq_next(&v->hashes, stored, MERKLE_HASH_BYTES);
	if (r < 0) {
		v->io = 1;
		return;
	}
	/* Public hashes, compared once per node: memcmp (sodium_memcmp's constant time is for
	 * secrets, and cost 4% of a full verification). */
	if (r == 0 || memcmp(stored, hash, MERKLE_HASH_BYTES) != 0) {
		v->bad = 1;
		v->missing = r == 0;
		v->bad_level = level;
		v->bad_index = index;
	}
}

static void
hex32(const uint8_t h[MERKLE_HASH_BYTES], char out[2 * MERKLE_HASH_BYTES + 1])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < MERKLE_HASH_BYTES; i++) {
		out[2 * i] = digits[h[i] >> 4];
		out[2 * i + 1] = digits[h[i] & 0xf];
	}
	out[2 * MERKLE_HASH_BYTES] = '\0';
}

int
logread_verify(const char *auditdir, const struct checkpoint_verifier *v,
	const struct checkpoint *known, struct logread_report *rep, struct paso_diag *d)
{
	struct frame_reader fr = {0};
	struct seq_reader offs = {.fd = -1};
	struct verify_ctx vc = {.hashes = {.fd = -1}};
	struct leaf_reader lr = {&fr, NULL, 0, {0}};
	struct leaf_frame lf = {0};
	struct merkle_frontier f;
	struct checkpoint cp;
	uint8_t root[MERKLE_HASH_BYTES], ob[8];
	char *note = NULL, hx[2 * MERKLE_HASH_BYTES + 1], hy[2 * MERKLE_HASH_BYTES + 1];
	uint64_t i = 0, foff = 0, n;
	size_t notelen;
	int dfd = -1, efd = -1, r, fr_r, k;

	memset(rep, 0, sizeof(*rep));
	rep->bad_index = UINT64_MAX;
	if ((dfd = open(auditdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = paso_diag_set(
			d, PASO_E_NOT_FOUND, "%s: not a directory: %s", auditdir, strerror(errno));
		goto out;
	}
	if ((r = read_small_file(dfd, "checkpoint", CHECKPOINT_MAX_NOTE, &note, &notelen)) != 0) {
		paso_diag_set(d, r, "%s/checkpoint: %s", auditdir,
			r == PASO_E_NOT_FOUND ? "missing: the log has never been checkpointed"
					      : "unreadable");
		goto out;
	}
	if ((r = checkpoint_open(note, notelen, v, &cp, d)) != 0) {
		char inner[sizeof(d->msg)];

		if (d != NULL) {
			memcpy(inner, d->msg, sizeof(inner));
			paso_diag_set(d, r, "%s/checkpoint: %s", auditdir, inner);
		}
		goto out;
	}
	n = cp.size;
	rep->checkpoint_size = n;
	(void)snprintf(rep->signer, sizeof(rep->signer), "%s", checkpoint_verifier_name(v));
	if (known != NULL) {
		if (strcmp(known->origin, cp.origin) != 0) {
			r = paso_diag_set(d, PASO_E_INVALID_ARG,
				"the known checkpoint is of log '%s', this log is '%s'",
				known->origin, cp.origin);
			goto out;
		}
		if (known->size > n) {
			r = paso_diag_set(d, PASO_E_ROLLBACK,
				"rollback: the log's checkpoint has %" PRIu64
				" entries, a checkpoint seen before had %" PRIu64,
				n, known->size);
			goto out;
		}
	}
	if ((efd = openat(dfd, "entries", O_RDONLY | O_CLOEXEC)) < 0) {
		r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT, "%s/entries: missing", auditdir);
		goto out;
	}
	if ((lr.copy = malloc(MAX_ENTRY)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	if ((r = fr_init(&fr, efd, 0, fd_size(efd))) != 0 ||
		(r = seq_init(&offs, dfd, "offsets")) != 0 ||
		(r = seq_init(&vc.hashes, dfd, "hashes")) != 0)
		goto out;
	merkle_frontier_init(&f);
	if (n == 0) {
		merkle_empty_root(root);
		if (sodium_memcmp(root, cp.root, MERKLE_HASH_BYTES) != 0) {
			r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"checkpoint of size 0 has a root that is not the empty root");
			goto out;
		}
		memcpy(rep->root, root, MERKLE_HASH_BYTES);
	}
	for (i = 0;; i++) {
		fr_r = lf_next(&lr, &lf);
		foff = lf.off;
		if (fr_r == FR_OK)
			rep->bytes_hashed += lf.len;
		if (fr_r == FR_OK && memcmp(lf.leaf, lf.check, 4) != 0)
			fr_r = FR_SHORT;
		if (fr_r < FR_TOOBIG) {
			r = paso_diag_set(d, PASO_E_IO, "%s/entries: read error", auditdir);
			goto out;
		}
		if (fr_r != FR_OK) {
			if (i < n) {
				rep->bad_index = i;
				r = fr_r == FR_END
					    ? paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
						      "entry %" PRIu64
						      ": missing: the checkpoint covers %" PRIu64
						      " entries but the entries file ends after "
						      "%" PRIu64 " (deleted or truncated)",
						      i, n, i)
					    : paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
						      "entry %" PRIu64 " (byte %" PRIu64
						      " of entries): frame damaged (%s)",
						      i, foff,
						      fr_r == FR_TOOBIG
							      ? "impossible length"
							      : "check bytes do not match the "
								"content, or cut short");
				goto out;
			}
			/* zeros after the last frame are a hub's head start, not a torn write */
			if ((r = zeros_to_end(efd, foff, fr.file_end)) < 0) {
				r = paso_diag_set(d, PASO_E_IO, "%s/entries: read error", auditdir);
				goto out;
			}
			rep->torn_bytes = r == 1 ? 0 : fr.file_end - foff;
			r = 0;
			break;
		}
		rep->entries = i + 1;
		if (i >= n)
			continue; /* appended after the checkpoint: framing checked, nothing to
			             compare */
		k = seq_next(&offs, ob, 8);
		if (k < 0) {
			r = PASO_E_IO;
			goto out;
		}
		if (k == 0 || be64_get(ob) != foff) {
			rep->bad_index = i;
			r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"entry %" PRIu64 ": offsets file %s (entry is at byte %" PRIu64 ")",
				i, k == 0 ? "ends before it" : "records a different position",
				foff);
			goto out;
		}
		(void)merkle_frontier_push(&f, lf.leaf, on_node_compare, &vc);
		if (vc.io) {
			r = paso_diag_set(d, PASO_E_IO, "%s/hashes: read error", auditdir);
			goto out;
		}
		if (vc.bad) {
			if (vc.bad_level == 0) {
				rep->bad_index = i;
				r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT, "entry %" PRIu64 ": %s",
					i,
					vc.missing ? "hashes file ends before its leaf hash"
						   : "content does not match its recorded leaf "
						     "hash (entry modified, deleted, inserted or "
						     "reordered, or the hashes file damaged)");
			} else {
				r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
					"hashes file: node at level %u covering entries %" PRIu64
					"..%" PRIu64 " %s",
					vc.bad_level, vc.bad_index << vc.bad_level,
					((vc.bad_index + 1) << vc.bad_level) - 1,
					vc.missing ? "is missing"
						   : "differs from the one recomputed from the "
						     "entries");
			}
			goto out;
		}
		if (known != NULL && known->size == i + 1) {
			merkle_frontier_root(&f, root);
			if (sodium_memcmp(root, known->root, MERKLE_HASH_BYTES) != 0) {
				hex32(root, hx);
				hex32(known->root, hy);
				r = paso_diag_set(d, PASO_E_SPLIT_VIEW,
					"split view: the first %" PRIu64
					" entries hash to %s, a checkpoint seen before says %s",
					known->size, hx, hy);
				goto out;
			}
		}
		if (i + 1 == n) {
			merkle_frontier_root(&f, root);
			memcpy(rep->root, root, MERKLE_HASH_BYTES);
			if (sodium_memcmp(root, cp.root, MERKLE_HASH_BYTES) != 0) {
				hex32(root, hx);
				hex32(cp.root, hy);
				r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
					"the first %" PRIu64
					" entries hash to %s but the signed checkpoint says %s "
					"(entries and hash file rewritten consistently?)",
					n, hx, hy);
				goto out;
			}
		}
	}
	r = 0;
out:
	free(lr.copy);
	fr_free(&fr);
	seq_free(&offs);
	seq_free(&vc.hashes);
	if (efd >= 0)
		close(efd);
	if (dfd >= 0)
		close(dfd);
	free(note);
	return r;
}
