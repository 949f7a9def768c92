/* SPDX-License-Identifier: Apache-2.0 */
/* Fetches and verifies tlog-tiles from a directory or a plain HTTP server. */
#include "tlogclient.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "httpmini.h"
#include "tilepath.h"

#define CACHE_SLOTS 64
#define TILE_BYTES (TILEPATH_WIDTH * MERKLE_HASH_BYTES)
#define BUNDLE_MAX ((size_t)TILEPATH_WIDTH * (2 + 65535))
#define FETCH_TIMEOUT_MS 10000

struct cached_tile {
	int used;
	unsigned level, width;
	uint64_t index;
	uint8_t h[TILEPATH_WIDTH][MERKLE_HASH_BYTES];
};

struct tlogclient {
	char *dir;               /* a directory base, or NULL */
	struct httpmini_url url; /* an http base */
	const struct checkpoint_verifier *v;
	uint64_t fetches;
	unsigned next_slot;
	struct cached_tile cache[CACHE_SLOTS];
	int have_edge;
	struct merkle_frontier edge; /* a verified right edge (tlogclient_set_edge) */
};

int
tlogclient_open(const char *base, const struct checkpoint_verifier *v, struct tlogclient **out,
	struct paso_diag *d)
{
	struct tlogclient *c;
	int r;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return PASO_E_NOMEM;
	c->v = v;
	if (strncmp(base, "http://", 7) == 0) {
		if ((r = httpmini_parse_url(base, &c->url, d)) != 0) {
			free(c);
			return r;
		}
	} else if (strstr(base, "://") != NULL) {
		free(c);
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"'%s': only a directory or an http:// URL can be read", base);
	} else if ((c->dir = strdup(base)) == NULL) {
		free(c);
		return PASO_E_NOMEM;
	}
	*out = c;
	return 0;
}

void
tlogclient_close(struct tlogclient *c)
{
	if (c == NULL)
		return;
	free(c->dir);
	free(c);
}

uint64_t
tlogclient_fetches(const struct tlogclient *c)
{
	return c->fetches;
}

void
tlogclient_reset_fetches(struct tlogclient *c)
{
	c->fetches = 0;
}

void
tlogclient_set_edge(struct tlogclient *c, const struct merkle_frontier *f)
{
	c->edge = *f;
	c->have_edge = f->size > 0;
}

void
tlogclient_drop_cache(struct tlogclient *c)
{
	unsigned i;

	for (i = 0; i < CACHE_SLOTS; i++)
		c->cache[i].used = 0;
}

/* Fetches path (relative to the base): PASO_E_NOT_FOUND for a missing file or a 404. */
static int
fetch(struct tlogclient *c, const char *path, size_t max, uint8_t **bufp, size_t *lenp,
	struct paso_diag *d)
{
	struct httpmini_response resp;
	char full[1024];
	struct stat st;
	uint8_t *b = NULL;
	ssize_t g;
	int fd, r;

	*bufp = NULL;
	*lenp = 0;
	c->fetches++;
	if (c->dir == NULL) {
		if (snprintf(full, sizeof(full), "%s%s", c->url.prefix, path) >= (int)sizeof(full))
			return PASO_E_INVALID_ARG;
		if ((r = httpmini_request(&c->url, "GET", full, NULL, NULL, 0, max,
			     FETCH_TIMEOUT_MS, &resp, d)) != 0)
			return r;
		if (resp.status != 200) {
			r = paso_diag_set(d, resp.status == 404 ? PASO_E_NOT_FOUND : PASO_E_IO,
				"http://%s:%s%s: HTTP status %d", c->url.host, c->url.port, full,
				resp.status);
			free(resp.body);
			return r;
		}
		*bufp = resp.body;
		*lenp = resp.len;
		return 0;
	}
	if (snprintf(full, sizeof(full), "%s/%s", c->dir, path) >= (int)sizeof(full))
		return PASO_E_INVALID_ARG;
	if ((fd = open(full, O_RDONLY | O_CLOEXEC)) < 0)
		return paso_diag_set(d, errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO, "%s: %s",
			full, strerror(errno));
	r = PASO_E_IO;
	if (fstat(fd, &st) != 0)
		goto out;
	if ((size_t)st.st_size > max) {
		r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT, "%s: %lld bytes, more than %zu", full,
			(long long)st.st_size, max);
		goto out;
	}
	if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	g = read(fd, b, (size_t)st.st_size);
	if (g != st.st_size) {
		r = paso_diag_set(d, PASO_E_IO, "%s: read error", full);
		goto out;
	}
	b[g] = '\0';
	*bufp = b;
	*lenp = (size_t)g;
	b = NULL;
	r = 0;
out:
	free(b);
	close(fd);
	return r;
}

int
tlogclient_checkpoint(struct tlogclient *c, struct checkpoint *cp, char **notep, size_t *lenp,
	struct paso_diag *d)
{
	uint8_t *b = NULL;
	size_t len;
	int r;

	if (notep != NULL)
		*notep = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if ((r = fetch(c, "checkpoint", CHECKPOINT_MAX_NOTE, &b, &len, d)) != 0)
		return r;
	if ((r = checkpoint_open((const char *)b, len, c->v, cp, d)) != 0) {
		free(b);
		return r;
	}
	if (notep != NULL) {
		*notep = (char *)b;
		*lenp = len;
	} else {
		free(b);
	}
	return 0;
}

static unsigned
width_at(uint64_t count, uint64_t k)
{
	uint64_t first = k * TILEPATH_WIDTH;

	if (count <= first)
		return 0;
	return count - first >= TILEPATH_WIDTH ? TILEPATH_WIDTH : (unsigned)(count - first);
}

static struct cached_tile *cache_put(struct tlogclient *c, unsigned level, uint64_t k, unsigned w,
	const uint8_t (*h)[MERKLE_HASH_BYTES]);

/* The hash tile (level, k) as published for a tree of size leaves, from the cache or fetched. */
static int
get_tile(struct tlogclient *c, unsigned level, uint64_t k, uint64_t size, struct cached_tile **tp,
	struct paso_diag *d)
{
	struct cached_tile *t;
	char path[160];
	uint8_t *b = NULL;
	size_t len;
	unsigned w = width_at(size >> (8 * level), k), i;
	int r;

	*tp = NULL;
	if (w == 0)
		return PASO_E_INTERNAL;
	for (i = 0; i < CACHE_SLOTS; i++) {
		t = &c->cache[i];
		/* A wider tile holds the same first hashes: any cached one at least as wide works. */
		if (t->used && t->level == level && t->index == k && t->width >= w) {
			*tp = t;
			return 0;
		}
	}
	if ((r = tilepath_format(path, sizeof(path), (int)level, k, w)) != 0)
		return r;
	r = fetch(c, path, TILE_BYTES, &b, &len, d);
	if (r == PASO_E_NOT_FOUND && w < TILEPATH_WIDTH) {
		/* A log may drop a partial tile once the full one exists (c2sp.org/tlog-tiles):
		 * its first w hashes are the same. */
		if ((r = tilepath_format(path, sizeof(path), (int)level, k, TILEPATH_WIDTH)) != 0)
			return r;
		if ((r = fetch(c, path, TILE_BYTES, &b, &len, d)) != 0)
			return r;
		if (len == TILE_BYTES)
			len = (size_t)w * MERKLE_HASH_BYTES;
	}
	if (r != 0)
		return r;
	if (len != (size_t)w * MERKLE_HASH_BYTES) {
		free(b);
		return paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
			"%s: %zu bytes, a tile of width %u has %u", path, len, w,
			w * MERKLE_HASH_BYTES);
	}
	*tp = cache_put(c, level, k, w, (const uint8_t(*)[MERKLE_HASH_BYTES])b);
	free(b);
	return 0;
}

/* Root of n (a power of two) consecutive hashes. */
static void
fold(const uint8_t (*h)[MERKLE_HASH_BYTES], size_t n, uint8_t out[MERKLE_HASH_BYTES])
{
	uint8_t tmp[TILEPATH_WIDTH][MERKLE_HASH_BYTES];
	size_t i;

	memcpy(tmp, h, n * MERKLE_HASH_BYTES);
	for (; n > 1; n /= 2)
		for (i = 0; i < n / 2; i++)
			merkle_node_hash(tmp[2 * i], tmp[2 * i + 1], tmp[i]);
	memcpy(out, tmp[0], MERKLE_HASH_BYTES);
}

struct node_ctx {
	struct tlogclient *c;
	uint64_t size;
	struct paso_diag *d;
};

/* merkle_node_fn over tiles: a level-l node is 2^(l mod 8) hashes of the level-(l/8) tile. */
static int
tile_node(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_BYTES])
{
	struct node_ctx *n = ctx;
	struct cached_tile *t;
	unsigned tl = level / 8, sub = level % 8;
	uint64_t first = index << sub;
	int r;

	/* A subtree of the verified right edge of this very tree: no tile needed. */
	if (n->c->have_edge && n->c->edge.size == n->size && level < 64 &&
		((n->size >> level) & 1) != 0 && index == (n->size >> level) - 1) {
		memcpy(out, n->c->edge.h[level], MERKLE_HASH_BYTES);
		return 0;
	}
	if ((r = get_tile(n->c, tl, first / TILEPATH_WIDTH, n->size, &t, n->d)) != 0)
		return r;
	fold((const uint8_t(*)[MERKLE_HASH_BYTES])t->h[first % TILEPATH_WIDTH], (size_t)1 << sub,
		out);
	return 0;
}

/* Parses a bundle of exactly w entries into offsets; PASO_E_AUDIT_CORRUPT otherwise. */
static int
parse_bundle(const uint8_t *b, size_t len, unsigned w, size_t *offs, size_t *lens)
{
	size_t p = 0, l;
	unsigned i;

	for (i = 0; i < w; i++) {
		if (len - p < 2)
			return PASO_E_AUDIT_CORRUPT;
		l = ((size_t)b[p] << 8) | b[p + 1];
		if (len - p - 2 < l)
			return PASO_E_AUDIT_CORRUPT;
		offs[i] = p + 2;
		lens[i] = l;
		p += 2 + l;
	}
	return p == len ? 0 : PASO_E_AUDIT_CORRUPT;
}

static int
get_bundle(struct tlogclient *c, uint64_t k, unsigned w, uint8_t **bp, size_t *offs, size_t *lens,
	struct paso_diag *d)
{
	char path[160];
	uint8_t *b = NULL;
	size_t len;
	int r;

	*bp = NULL;
	if ((r = tilepath_format(path, sizeof(path), TILEPATH_ENTRIES, k, w)) != 0 ||
		(r = fetch(c, path, BUNDLE_MAX, &b, &len, d)) != 0)
		return r;
	if (parse_bundle(b, len, w, offs, lens) != 0) {
		free(b);
		return paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
			"%s: not a bundle of %u entries (entries %" PRIu64 "..%" PRIu64 ")", path,
			w, k * TILEPATH_WIDTH, k * TILEPATH_WIDTH + w - 1);
	}
	*bp = b;
	return 0;
}

int
tlogclient_entry(struct tlogclient *c, uint64_t size, uint64_t index, uint8_t **ep, size_t *lenp,
	struct paso_diag *d)
{
	size_t offs[TILEPATH_WIDTH], lens[TILEPATH_WIDTH];
	uint8_t *b = NULL, *e;
	uint64_t k = index / TILEPATH_WIDTH;
	unsigned i = (unsigned)(index % TILEPATH_WIDTH);
	int r;

	*ep = NULL;
	*lenp = 0;
	if (index >= size)
		return PASO_E_NOT_FOUND;
	if ((r = get_bundle(c, k, width_at(size, k), &b, offs, lens, d)) != 0)
		return r;
	if ((e = malloc(lens[i] ? lens[i] : 1)) == NULL) {
		free(b);
		return PASO_E_NOMEM;
	}
	memcpy(e, b + offs[i], lens[i]);
	free(b);
	*ep = e;
	*lenp = lens[i];
	return 0;
}

/* Puts the w hashes h into the cache as tile (level, k), replacing any copy of it. */
static struct cached_tile *
cache_put(struct tlogclient *c, unsigned level, uint64_t k, unsigned w,
	const uint8_t (*h)[MERKLE_HASH_BYTES])
{
	struct cached_tile *t = NULL;
	unsigned i;

	for (i = 0; i < CACHE_SLOTS && t == NULL; i++)
		if (c->cache[i].used && c->cache[i].level == level && c->cache[i].index == k)
			t = &c->cache[i];
	if (t == NULL) {
		t = &c->cache[c->next_slot];
		c->next_slot = (c->next_slot + 1) % CACHE_SLOTS;
	}
	t->used = 1;
	t->level = level;
	t->index = k;
	t->width = w;
	memcpy(t->h, h, (size_t)w * MERKLE_HASH_BYTES);
	return t;
}

int
tlogclient_prove_entry(struct tlogclient *c, const struct checkpoint *cp, uint64_t index,
	uint8_t **ep, size_t *lenp, struct paso_diag *d)
{
	uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_BYTES], *b = NULL, *e = NULL;
	uint8_t(*leaves)[MERKLE_HASH_BYTES] = NULL;
	struct node_ctx n = {.c = c, .size = cp->size, .d = d};
	size_t np, offs[TILEPATH_WIDTH], lens[TILEPATH_WIDTH];
	uint64_t k = index / TILEPATH_WIDTH;
	unsigned i = (unsigned)(index % TILEPATH_WIDTH), w, j;
	int r;

	if (ep != NULL)
		*ep = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if (index >= cp->size)
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"entry %" PRIu64 " is not in a log of %" PRIu64 " entries", index,
			cp->size);
	w = width_at(cp->size, k);
	if ((r = get_bundle(c, k, w, &b, offs, lens, d)) != 0)
		return r;
	/*
	 * The bundle holds every leaf of the entry's level-0 tile: their hashes are that tile,
	 * so it is not fetched (one read fewer per proof). They are checked with the rest of the
	 * path against the signed root.
	 */
	if ((leaves = malloc((size_t)w * MERKLE_HASH_BYTES)) == NULL ||
		(e = malloc(lens[i] ? lens[i] : 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	for (j = 0; j < w; j++)
		merkle_leaf_hash(b + offs[j], lens[j], leaves[j]);
	cache_put(c, 0, k, w, (const uint8_t(*)[MERKLE_HASH_BYTES])leaves);
	memcpy(e, b + offs[i], lens[i]);
	if ((r = merkle_inclusion_nodes(
		     tile_node, &n, index, cp->size, path, MERKLE_MAX_PROOF, &np)) != 0)
		goto out;
	if (merkle_verify_inclusion(
		    leaves[i], index, cp->size, (const uint8_t(*)[32])path, np, cp->root) != 0) {
		/* The derived tile is not trusted any longer than the proof that failed. */
		tlogclient_drop_cache(c);
		r = paso_diag_set(d, PASO_E_PROOF_INVALID,
			"entry %" PRIu64
			": its bundle and the tiles do not lead to the signed root "
			"of %" PRIu64 " entries",
			index, cp->size);
		goto out;
	}
	if (ep != NULL) {
		*ep = e;
		*lenp = lens[i];
		e = NULL;
	}
	r = 0;
out:
	free(leaves);
	free(b);
	free(e);
	return r;
}

int
tlogclient_check_consistency(struct tlogclient *c, uint64_t old_size,
	const uint8_t old_root[MERKLE_HASH_BYTES], const struct checkpoint *cp, struct paso_diag *d)
{
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_BYTES];
	struct node_ctx n = {.c = c, .size = cp->size, .d = d};
	size_t np;
	int r;

	if (old_size > cp->size)
		return paso_diag_set(d, PASO_E_ROLLBACK,
			"rollback: the log has %" PRIu64 " entries, %" PRIu64 " were seen before",
			cp->size, old_size);
	if (old_size == 0)
		return 0;
	if ((r = merkle_consistency_nodes(
		     tile_node, &n, old_size, cp->size, proof, MERKLE_MAX_PROOF, &np)) != 0)
		return r;
	if (merkle_verify_consistency(
		    old_size, cp->size, old_root, cp->root, (const uint8_t(*)[32])proof, np) != 0)
		return paso_diag_set(d, PASO_E_SPLIT_VIEW,
			"split view: the log of %" PRIu64
			" entries does not extend the one of %" PRIu64 " seen before",
			cp->size, old_size);
	return 0;
}

/* Per-level accumulator for the full recomputation: the hashes of the current tile. */
struct level_acc {
	uint8_t h[TILEPATH_WIDTH][MERKLE_HASH_BYTES];
	unsigned n;
	uint64_t k;
};

/* Compares the accumulated hashes of one tile with the published tile. */
static int
compare_tile(struct tlogclient *c, unsigned level, struct level_acc *a, uint64_t size,
	struct tlogclient_report *rep, struct paso_diag *d)
{
	struct cached_tile *t;
	char path[160];
	unsigned j;
	int r;

	if ((r = get_tile(c, level, a->k, size, &t, d)) != 0)
		return r;
	rep->tiles++;
	for (j = 0; j < a->n; j++)
		if (sodium_memcmp(t->h[j], a->h[j], MERKLE_HASH_BYTES) != 0) {
			(void)tilepath_format(path, sizeof(path), (int)level, a->k, a->n);
			if (level == 0)
				rep->bad_index = a->k * TILEPATH_WIDTH + j;
			return paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"%s: hash %u (%s %" PRIu64 ") differs from the one recomputed from "
				"%s",
				path, j, level == 0 ? "entry" : "subtree",
				a->k * TILEPATH_WIDTH + j,
				level == 0 ? "the entry bundle" : "the level below");
		}
	return 0;
}

/* Adds hash h to level's accumulator; a tile that fills is compared and pushed one level up. */
static int
acc_push(struct tlogclient *c, struct level_acc *acc, unsigned level, const uint8_t *h,
	uint64_t size, struct tlogclient_report *rep, struct paso_diag *d)
{
	struct level_acc *a = &acc[level];
	uint8_t up[MERKLE_HASH_BYTES];
	int r;

	memcpy(a->h[a->n++], h, MERKLE_HASH_BYTES);
	if (a->n < TILEPATH_WIDTH)
		return 0;
	if ((r = compare_tile(c, level, a, size, rep, d)) != 0)
		return r;
	fold((const uint8_t(*)[MERKLE_HASH_BYTES])a->h, TILEPATH_WIDTH, up);
	a->n = 0;
	a->k++;
	if (level + 1 < 8)
		return acc_push(c, acc, level + 1, up, size, rep, d);
	return 0;
}

int
tlogclient_verify_range(struct tlogclient *c, const struct checkpoint *cp,
	struct merkle_frontier *f, int check_tiles, struct tlogclient_report *rep,
	struct paso_diag *d)
{
	size_t offs[TILEPATH_WIDTH], lens[TILEPATH_WIDTH];
	struct level_acc *acc = NULL;
	uint8_t leaf[MERKLE_HASH_BYTES], root[MERKLE_HASH_BYTES], *b = NULL;
	uint64_t i, k;
	unsigned w, j, level;
	int r;

	memset(rep, 0, sizeof(*rep));
	rep->bad_index = UINT64_MAX;
	if (f->size > cp->size)
		return paso_diag_set(d, PASO_E_ROLLBACK,
			"rollback: the log has %" PRIu64 " entries, %" PRIu64
			" were verified before",
			cp->size, f->size);
	if (check_tiles && (f->size != 0 || (acc = calloc(8, sizeof(*acc))) == NULL))
		return f->size != 0 ? PASO_E_INVALID_ARG : PASO_E_NOMEM;
	for (i = f->size; i < cp->size;) {
		k = i / TILEPATH_WIDTH;
		w = width_at(cp->size, k);
		if ((r = get_bundle(c, k, w, &b, offs, lens, d)) != 0)
			goto out;
		for (j = (unsigned)(i % TILEPATH_WIDTH); j < w; j++, i++) {
			merkle_leaf_hash(b + offs[j], lens[j], leaf);
			rep->entries++;
			if ((r = merkle_frontier_push(f, leaf, NULL, NULL)) != 0)
				goto out;
			if (acc != NULL && (r = acc_push(c, acc, 0, leaf, cp->size, rep, d)) != 0)
				goto out;
		}
		free(b);
		b = NULL;
	}
	/* The partial tiles at the right edge. */
	for (level = 0; acc != NULL && level < 8; level++)
		if (acc[level].n > 0 &&
			(r = compare_tile(c, level, &acc[level], cp->size, rep, d)) != 0)
			goto out;
	merkle_frontier_root(f, root);
	if (sodium_memcmp(root, cp->root, MERKLE_HASH_BYTES) != 0) {
		r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
			"the %" PRIu64 " entries of the bundles do not hash to the signed root",
			cp->size);
		goto out;
	}
	r = 0;
out:
	free(b);
	free(acc);
	return r;
}
