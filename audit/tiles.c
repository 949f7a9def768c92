/* SPDX-License-Identifier: Apache-2.0 */
/* Writes the audit log as C2SP tlog-tiles beside it, atomically, as the tree grows. */
#include "tiles.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "checkpoint.h"

#define PATH_MAX_LEN 160
#define TILES_BATCH 16384       /* entries between two tiles_sync writes, unless published */
#define TILES_DURABLE_EVERY 60  /* publications between two flushes of the tiles to disk */
#define DURABLE_FILE ".durable" /* the size up to which every tile is known to be on disk */

struct tiles {
	char *dir;
	int dfd;
	uint64_t done;      /* tiles written for this size */
	uint64_t published; /* size of TILESDIR/checkpoint */
	uint64_t durable;   /* every tile of the tree of this size is on disk (DURABLE_FILE) */
	unsigned since;     /* publications since the tiles were last flushed */
	int repair;         /* tiles after durable may have been lost in a crash: rewrite them */
	int checked;        /* the published checkpoint was compared with the log */
	/* The right-edge entry bundle being filled, kept so each sync appends instead of rereading. */
	uint64_t bundle_index;
	unsigned bundle_w;
	uint8_t *bundle;
	size_t bundle_len, bundle_cap;
	/* Files written since the last publication, to make durable before the next checkpoint. */
	char (*pending)[PATH_MAX_LEN];
	size_t npending, pending_cap;
};

/* Remembers path as written and not yet durable. */
static int
pending_add(struct tiles *t, const char *path)
{
	char(*p)[PATH_MAX_LEN];
	size_t cap;

	if (t->npending == t->pending_cap) {
		cap = t->pending_cap ? 2 * t->pending_cap : 256;
		if ((p = realloc(t->pending, cap * sizeof(*p))) == NULL)
			return PASO_E_NOMEM;
		t->pending = p;
		t->pending_cap = cap;
	}
	(void)snprintf(t->pending[t->npending++], PATH_MAX_LEN, "%s", path);
	return 0;
}

/*
 * Makes every pending file and its directory durable. Writeback of all of them is started
 * first, then each is waited for: the flushes overlap and the file system's journal commits
 * once for most of them, where an fsync each in turn cost one commit per file. (syncfs would
 * also wait for every other writer of the file system.)
 */
static int
pending_sync(struct tiles *t, struct paso_diag *d)
{
	char(*dirs)[PATH_MAX_LEN] = NULL;
	char dir[PATH_MAX_LEN], *s;
	size_t i, j, ndirs = 0;
	int fd, r = 0;

	for (i = 0; i < t->npending; i++) {
		if ((fd = openat(t->dfd, t->pending[i], O_RDONLY | O_CLOEXEC)) < 0)
			return paso_diag_set(
				d, PASO_E_IO, "%s/%s: %s", t->dir, t->pending[i], strerror(errno));
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		close(fd);
	}
	/* Every directory on the way to a pending file: its entry for the file or the subdir. */
	if ((dirs = malloc((t->npending * 4 + 1) * sizeof(*dirs))) == NULL)
		return PASO_E_NOMEM;
	for (i = 0; i < t->npending && r == 0; i++) {
		if ((fd = openat(t->dfd, t->pending[i], O_RDONLY | O_CLOEXEC)) < 0 ||
			fdatasync(fd) != 0)
			r = paso_diag_set(d, paso_errno_io(errno), "%s/%s: cannot fsync: %s",
				t->dir, t->pending[i], strerror(errno));
		if (fd >= 0)
			close(fd);
		(void)snprintf(dir, sizeof(dir), "%s", t->pending[i]);
		while ((s = strrchr(dir, '/')) != NULL) {
			*s = '\0';
			for (j = 0; j < ndirs && strcmp(dirs[j], dir) != 0; j++)
				;
			if (j < ndirs)
				break; /* this one and its parents are listed already */
			memcpy(dirs[ndirs++], dir, PATH_MAX_LEN);
		}
	}
	for (j = 0; j < ndirs && r == 0; j++) {
		if ((fd = openat(t->dfd, dirs[j], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
			fsync(fd) != 0)
			r = paso_diag_set(d, PASO_E_IO, "%s/%s: cannot fsync", t->dir, dirs[j]);
		if (fd >= 0)
			close(fd);
	}
	if (r == 0 && ndirs > 0 && fsync(t->dfd) != 0)
		r = paso_diag_set(d, PASO_E_IO, "%s: cannot fsync", t->dir);
	free(dirs);
	if (r == 0)
		t->npending = 0;
	return r;
}

/* mkdir -p of every parent of path (relative to dfd). */
static int
make_parents(int dfd, const char *path)
{
	char tmp[PATH_MAX_LEN];
	char *s;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return PASO_E_INVALID_ARG;
	for (s = strchr(tmp, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dfd, tmp, 0755) != 0 && errno != EEXIST)
			return PASO_E_IO;
		*s = '/';
	}
	return 0;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return paso_errno_io(errno);
		if (w == 0)
			return PASO_E_IO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Writes path atomically (temporary name, rename). Durability is left to tiles_publish: a tile
 * lost in a crash is rewritten from the log, and no published checkpoint needs it before then.
 */
static int
put_file(int dfd, const char *path, const uint8_t *p, size_t len, int durable)
{
	char tmp[PATH_MAX_LEN + 8];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return PASO_E_INVALID_ARG;
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		if ((r = make_parents(dfd, path)) != 0)
			return r;
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return paso_errno_io(errno);
	r = write_all(fd, p, len);
	if (r == 0 && durable && fsync(fd) != 0)
		r = paso_errno_io(errno);
	if (close(fd) != 0 && r == 0)
		r = paso_errno_io(errno);
	if (r == 0 && renameat(dfd, tmp, dfd, path) != 0)
		r = paso_errno_io(errno);
	if (r != 0)
		(void)unlinkat(dfd, tmp, 0);
	return r;
}

static int
read_published(
	struct tiles *t, char **notep, size_t *lenp, struct checkpoint *cp, struct paso_diag *d)
{
	struct checkpoint_note *note = NULL;
	struct stat st;
	char *b = NULL;
	ssize_t g;
	int fd, r;

	*notep = NULL;
	*lenp = 0;
	if ((fd = openat(t->dfd, "checkpoint", O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? PASO_E_NOT_FOUND
				       : paso_diag_set(d, PASO_E_IO, "%s/checkpoint: %s", t->dir,
						 strerror(errno));
	r = PASO_E_IO;
	if (fstat(fd, &st) != 0 || st.st_size > CHECKPOINT_MAX_NOTE)
		goto out;
	if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	g = read(fd, b, (size_t)st.st_size);
	if (g != st.st_size)
		goto out;
	b[g] = '\0';
	if ((r = checkpoint_note_parse(b, (size_t)g, &note, d)) != 0 ||
		(r = checkpoint_parse_text(note->text, note->text_len, cp, d)) != 0) {
		r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT, "%s/checkpoint is not a checkpoint: %s",
			t->dir, d ? d->msg : "");
		goto out;
	}
	*notep = b;
	*lenp = (size_t)g;
	b = NULL;
	r = 0;
out:
	if (r == PASO_E_IO)
		paso_diag_set(d, r, "%s/checkpoint: cannot read it", t->dir);
	checkpoint_note_free(note);
	free(b);
	close(fd);
	return r;
}

/* The size in DURABLE_FILE, 0 if there is none. */
static int
read_durable(struct tiles *t, uint64_t *out)
{
	char b[32], *end;
	ssize_t g;
	int fd;

	*out = 0;
	if ((fd = openat(t->dfd, DURABLE_FILE, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : PASO_E_IO;
	g = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (g <= 0)
		return 0; /* empty after a crash: assume nothing is durable */
	b[g] = '\0';
	*out = strtoull(b, &end, 10);
	if (*end != '\n')
		*out = 0;
	return 0;
}

/* Flushes every pending tile, then records size as durable. */
static int
make_durable(struct tiles *t, uint64_t size, struct paso_diag *d)
{
	char b[32];
	int r;

	if ((r = pending_sync(t, d)) != 0)
		return r;
	(void)snprintf(b, sizeof(b), "%" PRIu64 "\n", size);
	if ((r = put_file(t->dfd, DURABLE_FILE, (const uint8_t *)b, strlen(b), 1)) != 0 ||
		fsync(t->dfd) != 0)
		return paso_diag_set(d, r == PASO_E_STORE_FULL ? r : PASO_E_IO,
			"%s/%s: cannot write", t->dir, DURABLE_FILE);
	t->durable = size;
	t->since = 0;
	if (size >= t->published)
		t->repair = 0;
	return 0;
}

int
tiles_open(const char *tilesdir, struct tiles **out, struct paso_diag *d)
{
	struct tiles *t = NULL;
	struct checkpoint cp;
	char *note = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->dir = strdup(tilesdir)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	t->dfd = -1;
	if (mkdir(tilesdir, 0755) != 0 && errno != EEXIST) {
		r = paso_diag_set(d, PASO_E_IO, "%s: cannot create: %s", tilesdir, strerror(errno));
		goto out;
	}
	if ((t->dfd = open(tilesdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = paso_diag_set(d, PASO_E_IO, "%s: %s", tilesdir, strerror(errno));
		goto out;
	}
	r = read_published(t, &note, &len, &cp, d);
	if (r == PASO_E_NOT_FOUND)
		cp.size = 0;
	else if (r != 0)
		goto out;
	t->done = t->published = cp.size;
	t->checked = cp.size == 0;
	/* Tiles written after the last flush may have been lost with a crash (a file renamed
	 * into place before its data reached the disk): they are rewritten by the first sync. */
	if ((r = read_durable(t, &t->durable)) != 0) {
		r = paso_diag_set(d, r, "%s/%s: unreadable", tilesdir, DURABLE_FILE);
		goto out;
	}
	if (t->durable > t->published)
		t->durable = t->published;
	if (t->durable < t->published) {
		t->done = t->durable;
		t->repair = 1;
	}
	*out = t;
	t = NULL;
	r = 0;
out:
	free(note);
	tiles_close(t);
	return r;
}

void
tiles_close(struct tiles *t)
{
	if (t == NULL)
		return;
	if (t->dfd >= 0)
		close(t->dfd);
	free(t->bundle);
	free(t->pending);
	free(t->dir);
	free(t);
}

uint64_t
tiles_size(const struct tiles *t)
{
	return t->done;
}

uint64_t
tiles_published(const struct tiles *t)
{
	return t->published;
}

/* Width of tile index k at a level holding count hashes (0 if the tile does not exist yet). */
static unsigned
width_at(uint64_t count, uint64_t k)
{
	uint64_t first = k * TILES_WIDTH;

	if (count <= first)
		return 0;
	return count - first >= TILES_WIDTH ? TILES_WIDTH : (unsigned)(count - first);
}

static int
write_hash_tile(struct tiles *t, struct auditlog *log, unsigned level, uint64_t k, unsigned w,
	int durable, struct paso_diag *d)
{
	uint8_t hashes[TILES_WIDTH][MERKLE_HASH_BYTES];
	char path[PATH_MAX_LEN];
	unsigned j;
	int r;

	if ((r = tilepath_format(path, sizeof(path), (int)level, k, w)) != 0)
		return r;
	for (j = 0; j < w; j++)
		if ((r = auditlog_node(log, 8 * level, k * TILES_WIDTH + j, hashes[j])) != 0)
			return paso_diag_set(d, r == PASO_E_NOT_FOUND ? PASO_E_INTERNAL : r,
				"audit log: cannot read node %u/%" PRIu64 " for %s", 8 * level,
				k * TILES_WIDTH + j, path);
	if ((r = put_file(t->dfd, path, (const uint8_t *)hashes, (size_t)w * MERKLE_HASH_BYTES,
		     durable)) != 0 ||
		(r = pending_add(t, path)) != 0)
		return paso_diag_set(
			d, r, "%s/%s: cannot write: %s", t->dir, path, strerror(errno));
	return 0;
}

static int
bundle_append(struct tiles *t, const uint8_t *p, size_t len)
{
	size_t cap;
	uint8_t *nb;

	if (t->bundle_cap - t->bundle_len < len) {
		cap = t->bundle_cap ? t->bundle_cap : 16384;
		while (cap - t->bundle_len < len)
			cap *= 2;
		if ((nb = realloc(t->bundle, cap)) == NULL)
			return PASO_E_NOMEM;
		t->bundle = nb;
		t->bundle_cap = cap;
	}
	memcpy(t->bundle + t->bundle_len, p, len);
	t->bundle_len += len;
	return 0;
}

static int
write_bundle(struct tiles *t, struct auditlog *log, uint64_t k, unsigned w, int durable,
	struct paso_diag *d)
{
	char path[PATH_MAX_LEN];
	uint64_t i;
	int r;

	if ((r = tilepath_format(path, sizeof(path), TILES_ENTRIES_LEVEL, k, w)) != 0)
		return r;
	if (t->bundle_index != k || t->bundle_w > w) {
		t->bundle_index = k;
		t->bundle_w = 0;
		t->bundle_len = 0;
	}
	if (t->bundle_w < w) {
		uint8_t *more = NULL;
		size_t mlen;

		i = k * TILES_WIDTH + t->bundle_w;
		if ((r = auditlog_bundle(log, i, w - t->bundle_w, &more, &mlen)) != 0)
			return paso_diag_set(d, r,
				"audit log: cannot read entries %" PRIu64 "..%" PRIu64 ": %s", i,
				k * TILES_WIDTH + w - 1, paso_strerror(r));
		r = bundle_append(t, more, mlen);
		free(more);
		if (r != 0)
			return r;
		t->bundle_w = w;
	}
	if ((r = put_file(t->dfd, path, t->bundle, t->bundle_len, durable)) != 0 ||
		(r = pending_add(t, path)) != 0)
		return paso_diag_set(
			d, r, "%s/%s: cannot write: %s", t->dir, path, strerror(errno));
	return 0;
}

/*
 * Writes every full tile completed between sizes old and n (old <= n). Partial tiles are written
 * only for a size being published (write_edge): no client can ask for the partial tiles of a
 * size no checkpoint names, and rewriting them after every commit group halved the append rate.
 */
static int
write_full(struct tiles *t, struct auditlog *log, uint64_t old, uint64_t n, struct paso_diag *d)
{
	uint64_t k, c_old, c_new;
	unsigned level;
	int r;

	for (k = old / TILES_WIDTH; k < n / TILES_WIDTH; k++)
		if (width_at(old, k) < TILES_WIDTH &&
			(r = write_bundle(t, log, k, TILES_WIDTH, 0, d)) != 0)
			return r;
	for (level = 0; level < 8; level++) {
		c_old = old >> (8 * level);
		c_new = n >> (8 * level);
		if (c_new / TILES_WIDTH == c_old / TILES_WIDTH)
			break;
		for (k = c_old / TILES_WIDTH; k < c_new / TILES_WIDTH; k++)
			if ((r = write_hash_tile(t, log, level, k, TILES_WIDTH, 0, d)) != 0)
				return r;
	}
	return 0;
}

/* Writes the partial tiles at the right edge of the tree of size n. */
static int
write_edge(struct tiles *t, struct auditlog *log, uint64_t n, struct paso_diag *d)
{
	uint64_t c;
	unsigned level;
	int r;

	if (n % TILES_WIDTH != 0 &&
		(r = write_bundle(t, log, n / TILES_WIDTH, n % TILES_WIDTH, 0, d)) != 0)
		return r;
	for (level = 0; level < 8 && (c = n >> (8 * level)) > 0; level++)
		if (c % TILES_WIDTH != 0 && (r = write_hash_tile(t, log, level, c / TILES_WIDTH,
						     c % TILES_WIDTH, 0, d)) != 0)
			return r;
	return 0;
}

/* The published checkpoint must be a state of this log: same root at its size. */
static int
check_published(struct tiles *t, struct auditlog *log, struct paso_diag *d)
{
	struct checkpoint cp;
	uint8_t root[MERKLE_HASH_BYTES];
	char *note = NULL;
	size_t len;
	int r;

	if ((r = read_published(t, &note, &len, &cp, d)) != 0)
		return r == PASO_E_NOT_FOUND ? 0 : r;
	free(note);
	if (cp.size > auditlog_size(log))
		return paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
			"%s/checkpoint covers %" PRIu64
			" entries but the audit log has only %" PRIu64,
			t->dir, cp.size, auditlog_size(log));
	if ((r = auditlog_root(log, cp.size, root)) != 0)
		return paso_diag_set(
			d, r, "audit log: cannot compute the root of %" PRIu64, cp.size);
	if (sodium_memcmp(root, cp.root, MERKLE_HASH_BYTES) != 0)
		return paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
			"%s/checkpoint is not a state of this audit log (root at size %" PRIu64
			" differs)",
			t->dir, cp.size);
	t->checked = 1;
	return 0;
}

int
tiles_sync(struct tiles *t, struct auditlog *log, struct paso_diag *d)
{
	uint64_t n = auditlog_size(log);
	int r;

	if (!t->checked && (r = check_published(t, log, d)) != 0)
		return r;
	if (n < t->done) {
		/* The log was cut back (an uncommitted tail): rewrite from what is published. */
		if (n < t->published)
			return paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"the audit log has %" PRIu64 " entries, fewer than the %" PRIu64
				" published in %s/checkpoint",
				n, t->published, t->dir);
		t->done = t->published < t->durable ? t->published : t->durable;
		t->bundle_w = 0;
		t->bundle_len = 0;
	}
	if (t->repair) {
		/* After a crash: every tile from the last flushed size, and the published edge. */
		if ((r = write_full(t, log, t->done, n, d)) != 0 ||
			(r = write_edge(t, log, t->published, d)) != 0 ||
			(r = make_durable(t, t->published, d)) != 0)
			return r;
		t->done = n;
		t->repair = 0;
		return 0;
	}
	/* Full tiles are written in batches: each one made between two fdatasyncs of the log
	 * would be flushed by them (ext4's ordered data), slowing every commit group. */
	if (n - t->done < TILES_BATCH)
		return 0;
	if ((r = write_full(t, log, t->done, n, d)) != 0)
		return r;
	t->done = n;
	return 0;
}

int
tiles_publish(
	struct tiles *t, struct auditlog *log, const char *note, size_t len, struct paso_diag *d)
{
	struct checkpoint_note *parsed = NULL;
	struct checkpoint cp;
	uint8_t root[MERKLE_HASH_BYTES];
	int r;

	if ((r = checkpoint_note_parse(note, len, &parsed, d)) != 0 ||
		(r = checkpoint_parse_text(parsed->text, parsed->text_len, &cp, d)) != 0)
		goto out;
	if (cp.size > auditlog_size(log)) {
		r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
			"checkpoint of %" PRIu64 " entries, the audit log has %" PRIu64, cp.size,
			auditlog_size(log));
		goto out;
	}
	if (cp.size < t->published) {
		r = paso_diag_set(d, PASO_E_ROLLBACK,
			"checkpoint of %" PRIu64 " entries, %s/checkpoint already has %" PRIu64,
			cp.size, t->dir, t->published);
		goto out;
	}
	if ((r = auditlog_root(log, cp.size, root)) != 0)
		goto out;
	if (sodium_memcmp(root, cp.root, MERKLE_HASH_BYTES) != 0) {
		r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
			"the checkpoint's root is not the audit log's at size %" PRIu64, cp.size);
		goto out;
	}
	if (cp.size > t->done) {
		if ((r = write_full(t, log, t->done, cp.size, d)) != 0)
			goto out;
		t->done = cp.size;
	}
	if ((r = write_edge(t, log, cp.size, d)) != 0)
		goto out;
	/*
	 * Flushing every tile before every checkpoint cost more than the tiles themselves (one
	 * fdatasync per file). They are flushed every TILES_DURABLE_EVERY publications and the
	 * size recorded; after a crash tiles_sync rewrites everything after it before the hub
	 * serves again. Until then, a reader may find a tile of the newest checkpoint missing.
	 */
	if ((t->repair || ++t->since >= TILES_DURABLE_EVERY || t->npending > 4096) &&
		(r = make_durable(t, cp.size, d)) != 0)
		goto out;
	if ((r = put_file(t->dfd, "checkpoint", (const uint8_t *)note, len, 1)) != 0 ||
		fsync(t->dfd) != 0) {
		r = paso_diag_set(d, r == PASO_E_STORE_FULL ? r : PASO_E_IO,
			"%s/checkpoint: cannot write: %s", t->dir, strerror(errno));
		goto out;
	}
	t->published = cp.size;
	r = 0;
out:
	checkpoint_note_free(parsed);
	return r;
}
