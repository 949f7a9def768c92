/* SPDX-License-Identifier: Apache-2.0 */
/* Writes the audit log as C2SP tlog-tiles beside it, atomically, as the tree grows. */
#include "tiles.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "checkpoint.h"

#define PATH_MAX_LEN 160
#define TILES_BATCH 16384       /* entries between two tiles_sync writes, unless published */
#define TILES_CHUNK 65536       /* at most this many entries per writer job (its memory) */
#define TILES_DURABLE_EVERY 60  /* publications between two flushes of the tiles to disk */
#define DURABLE_FILE ".durable" /* the size up to which every tile is known to be on disk */

/* One file to write: path, and its bytes at off in the job's entry or hash buffer. */
struct item {
	char path[PATH_MAX_LEN];
	int hashes; /* in hbuf (else ebuf) */
	size_t off, len;
};

/* Entry bundles k, k+1, ... of count entries whose frames the writer reads from the log. */
struct span {
	uint64_t k, count;
	int fd;
	uint64_t off;
	size_t len;
};

/* Work for the writer thread: files to write, then (flush) make every written file durable. */
struct job {
	struct job *next;
	uint64_t seq;
	struct span spans[2]; /* full bundles, and a right-edge partial one */
	unsigned nspans;
	uint8_t *ebuf, *hbuf; /* entry bundles, hash tiles */
	size_t elen, ecap, hlen, hcap;
	struct item *items;
	size_t nitems, icap;
	int flush;           /* after the files: flush everything written, record flush_size */
	uint64_t flush_size; /* durable */
};

struct tiles {
	char *dir;
	int dfd;
	/* The caller's thread (tiles_sync, tiles_publish) only. */
	uint64_t done;      /* tiles queued for writing for this size */
	uint64_t published; /* size of TILESDIR/checkpoint */
	unsigned since;     /* publications since the last flush was queued */
	size_t files_since; /* files queued since the last flush was queued */
	int repair;         /* tiles after durable may have been lost in a crash: rewrite them */
	int checked;        /* the published checkpoint was compared with the log */
	/* Shared with the writer thread, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	pthread_t thread;
	int started, stop;
	struct job *head, *tail;
	uint64_t queued_seq, done_seq;
	uint64_t durable;    /* every tile of the tree of this size is on disk (DURABLE_FILE) */
	int werr;            /* the writer's first failure, reported by the next call */
	struct paso_diag wd; /* and its message */
	/* The writer thread only. Frames read from the log; files written since the last flush. */
	uint8_t *rbuf;
	size_t rcap;
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

/* Flushes every pending tile, then records size as durable (writer thread). */
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
	pthread_mutex_lock(&t->mu);
	t->durable = size;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

static int
grow(uint8_t **p, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 65536;
	uint8_t *np;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if ((np = realloc(*p, c)) == NULL)
		return PASO_E_NOMEM;
	*p = np;
	*cap = c;
	return 0;
}

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->ebuf);
	free(j->hbuf);
	free(j->items);
	free(j);
}

/* Writes one job's files in order, then flushes if asked (writer thread). */
static int
run_job(struct tiles *t, const struct job *j, struct paso_diag *d)
{
	const struct item *it;
	const struct span *s;
	char path[PATH_MAX_LEN];
	size_t i, p, used, made;
	uint64_t k, e, w;
	ssize_t g;
	int r;

	for (i = 0; i < j->nspans; i++) {
		s = &j->spans[i];
		if ((r = grow(&t->rbuf, &t->rcap, s->len)) != 0)
			return r;
		for (p = 0; p < s->len; p += (size_t)g)
			if ((g = pread(s->fd, t->rbuf + p, s->len - p, (off_t)(s->off + p))) <= 0)
				return paso_diag_set(d, PASO_E_IO,
					"audit log: cannot read entries %" PRIu64 "..: %s",
					s->k * TILES_WIDTH, g < 0 ? strerror(errno) : "cut short");
		/* Each bundle is made in place over its own frames, and written from there. */
		for (e = 0, p = 0, k = s->k; e < s->count; e += w, k++, p += used) {
			w = s->count - e >= TILES_WIDTH ? TILES_WIDTH : s->count - e;
			if ((r = auditlog_frames_to_bundle(
				     t->rbuf + p, s->len - p, w, &used, &made)) != 0)
				return paso_diag_set(d, r,
					"audit log: entries %" PRIu64 "..: bad framing",
					k * TILES_WIDTH);
			if ((r = tilepath_format(
				     path, sizeof(path), TILES_ENTRIES_LEVEL, k, (unsigned)w)) != 0)
				return r;
			if ((r = put_file(t->dfd, path, t->rbuf + p, made, 0)) != 0 ||
				(r = pending_add(t, path)) != 0)
				return paso_diag_set(d, r, "%s/%s: cannot write: %s", t->dir, path,
					strerror(errno));
		}
	}
	for (i = 0; i < j->nitems; i++) {
		it = &j->items[i];
		if ((r = put_file(t->dfd, it->path, (it->hashes ? j->hbuf : j->ebuf) + it->off,
			     it->len, 0)) != 0 ||
			(r = pending_add(t, it->path)) != 0)
			return paso_diag_set(
				d, r, "%s/%s: cannot write: %s", t->dir, it->path, strerror(errno));
	}
	if (j->flush)
		return make_durable(t, j->flush_size, d);
	return 0;
}

/*
 * The writer thread: takes jobs in order until told to stop with nothing queued. After a
 * failure it drops what follows (the caller learns of it and rewrites from the durable size).
 */
static void *
writer(void *arg)
{
	struct tiles *t = arg;
	struct paso_diag d;
	struct job *j;
	int r, failed;

	pthread_mutex_lock(&t->mu);
	for (;;) {
		while (t->head == NULL && !t->stop)
			pthread_cond_wait(&t->work, &t->mu);
		if ((j = t->head) == NULL)
			break;
		t->head = j->next;
		if (t->head == NULL)
			t->tail = NULL;
		failed = t->werr != 0;
		pthread_mutex_unlock(&t->mu);
		memset(&d, 0, sizeof(d));
		r = failed ? 0 : run_job(t, j, &d);
		pthread_mutex_lock(&t->mu);
		if (r != 0 && t->werr == 0) {
			t->werr = r;
			t->wd = d;
			t->wd.code = r;
		}
		t->done_seq = j->seq;
		job_free(j);
		pthread_cond_broadcast(&t->idle);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

/* Hands j to the writer thread (takes ownership); its sequence number into *seqp. */
static void
enqueue(struct tiles *t, struct job *j, uint64_t *seqp)
{
	unsigned i;

	t->files_since += j->nitems;
	for (i = 0; i < j->nspans; i++)
		t->files_since += (j->spans[i].count + TILES_WIDTH - 1) / TILES_WIDTH;
	pthread_mutex_lock(&t->mu);
	j->seq = ++t->queued_seq;
	if (t->tail != NULL)
		t->tail->next = j;
	else
		t->head = j;
	t->tail = j;
	*seqp = j->seq;
	pthread_cond_signal(&t->work);
	pthread_mutex_unlock(&t->mu);
}

/* Waits until the writer has finished job seq and every one before it. */
static void
wait_for(struct tiles *t, uint64_t seq)
{
	pthread_mutex_lock(&t->mu);
	while (t->done_seq < seq)
		pthread_cond_wait(&t->idle, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

/*
 * The writer's failure, if any, into d. Tiles queued since the last flush may be missing: they
 * are all rewritten, from the durable size, by the next tiles_sync (as after a crash).
 */
static int
take_error(struct tiles *t, struct paso_diag *d)
{
	int r;

	pthread_mutex_lock(&t->mu);
	r = t->werr;
	if (r != 0) {
		if (d != NULL)
			*d = t->wd;
		t->werr = 0;
		t->done = t->durable < t->published ? t->durable : t->published;
		t->repair = 1;
	}
	pthread_mutex_unlock(&t->mu);
	return r;
}

static uint64_t
durable_size(struct tiles *t)
{
	uint64_t v;

	pthread_mutex_lock(&t->mu);
	v = t->durable;
	pthread_mutex_unlock(&t->mu);
	return v;
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
		if (t != NULL)
			free(t);
		return PASO_E_NOMEM;
	}
	t->dfd = -1;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->work, NULL);
	pthread_cond_init(&t->idle, NULL);
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
	if (pthread_create(&t->thread, NULL, writer, t) != 0) {
		r = paso_diag_set(d, PASO_E_NOMEM, "%s: cannot start the tiles writer", tilesdir);
		goto out;
	}
	t->started = 1;
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
	struct job *j;

	if (t == NULL)
		return;
	if (t->started) {
		pthread_mutex_lock(&t->mu);
		t->stop = 1;
		pthread_cond_signal(&t->work);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->thread, NULL);
	}
	while ((j = t->head) != NULL) {
		t->head = j->next;
		job_free(j);
	}
	pthread_cond_destroy(&t->idle);
	pthread_cond_destroy(&t->work);
	pthread_mutex_destroy(&t->mu);
	if (t->dfd >= 0)
		close(t->dfd);
	free(t->rbuf);
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

/* A new item of job j: the file path (level, k, w), len bytes at off of ebuf or hbuf. */
static int
job_item(struct job *j, int level, uint64_t k, unsigned w, size_t off, size_t len)
{
	struct item *ni;
	size_t cap;
	int r;

	if (j->nitems == j->icap) {
		cap = j->icap ? 2 * j->icap : 64;
		if ((ni = realloc(j->items, cap * sizeof(*ni))) == NULL)
			return PASO_E_NOMEM;
		j->items = ni;
		j->icap = cap;
	}
	ni = &j->items[j->nitems];
	if ((r = tilepath_format(ni->path, sizeof(ni->path), level, k, w)) != 0)
		return r;
	ni->hashes = level != TILES_ENTRIES_LEVEL;
	ni->off = off;
	ni->len = len;
	j->nitems++;
	return 0;
}

/* Queues the hash tile (level, k) of width w, its hashes copied from the log now. */
static int
add_hash_tile(struct job *j, struct auditlog *log, unsigned level, uint64_t k, unsigned w,
	struct paso_diag *d)
{
	size_t off = j->hlen;
	unsigned i;
	int r;

	if ((r = grow(&j->hbuf, &j->hcap, off + (size_t)w * MERKLE_HASH_BYTES)) != 0)
		return r;
	for (i = 0; i < w; i++)
		if ((r = auditlog_node(log, 8 * level, k * TILES_WIDTH + i,
			     j->hbuf + off + (size_t)i * MERKLE_HASH_BYTES)) != 0)
			return paso_diag_set(d, r == PASO_E_NOT_FOUND ? PASO_E_INTERNAL : r,
				"audit log: cannot read node %u/%" PRIu64 " for tile %u/%" PRIu64,
				8 * level, k * TILES_WIDTH + i, level, k);
	j->hlen += (size_t)w * MERKLE_HASH_BYTES;
	return job_item(j, (int)level, k, w, off, (size_t)w * MERKLE_HASH_BYTES);
}

/*
 * Queues the entry bundles of entries [k * 256, k * 256 + count): full bundles, and a last
 * partial one if count is not a multiple of 256. One read of the entries file for all of them.
 */
static int
add_bundles(struct job *j, struct auditlog *log, uint64_t k, uint64_t count, struct paso_diag *d)
{
	uint8_t *b = NULL;
	size_t len, off, p, e;
	uint64_t first = k * TILES_WIDTH, i;
	unsigned w, n;
	struct span *s;
	int r;

	/* Written (auditlog_sync): the writer thread reads the frames itself. */
	s = &j->spans[j->nspans];
	if (j->nspans < sizeof(j->spans) / sizeof(j->spans[0]) &&
		auditlog_frames_span(log, first, count, &s->fd, &s->off, &s->len) == 0) {
		s->k = k;
		s->count = count;
		j->nspans++;
		return 0;
	}
	if ((r = auditlog_bundle(log, first, count, &b, &len)) != 0)
		return paso_diag_set(d, r,
			"audit log: cannot read entries %" PRIu64 "..%" PRIu64 ": %s", first,
			first + count - 1, paso_strerror(r));
	if (j->ebuf == NULL) {
		j->ebuf = b;
		j->ecap = len;
		off = 0;
	} else {
		if ((r = grow(&j->ebuf, &j->ecap, j->elen + len)) != 0)
			goto out;
		memcpy(j->ebuf + j->elen, b, len);
		off = j->elen;
	}
	b = NULL;
	j->elen = off + len;
	/* Split at every 256th entry: each entry is its u16 length and its bytes. */
	for (i = 0, p = off; i < count; i += w, k++) {
		w = count - i >= TILES_WIDTH ? TILES_WIDTH : (unsigned)(count - i);
		for (e = p, n = 0; n < w; n++) {
			if (j->elen - e < 2 ||
				j->elen - e - 2 < (((size_t)j->ebuf[e] << 8) | j->ebuf[e + 1])) {
				r = paso_diag_set(d, PASO_E_INTERNAL, "audit log: bad bundle");
				goto out;
			}
			e += 2 + (((size_t)j->ebuf[e] << 8) | j->ebuf[e + 1]);
		}
		if ((r = job_item(j, TILES_ENTRIES_LEVEL, k, w, p, e - p)) != 0)
			goto out;
		p = e;
	}
	r = 0;
out:
	free(b);
	return r;
}

/*
 * Queues every full tile completed between sizes old and n (old <= n). Partial tiles are
 * written only for a size being published (add_edge): no client can ask for the partial tiles of
 * a size no checkpoint names, and rewriting them after every commit group halved the append rate.
 */
static int
add_full(struct job *j, struct auditlog *log, uint64_t old, uint64_t n, struct paso_diag *d)
{
	uint64_t k, c_old, c_new;
	unsigned level;
	int r;

	k = old / TILES_WIDTH;
	if (n / TILES_WIDTH > k &&
		(r = add_bundles(j, log, k, (n / TILES_WIDTH - k) * TILES_WIDTH, d)) != 0)
		return r;
	for (level = 0; level < 8; level++) {
		c_old = old >> (8 * level);
		c_new = n >> (8 * level);
		if (c_new / TILES_WIDTH == c_old / TILES_WIDTH)
			break;
		for (k = c_old / TILES_WIDTH; k < c_new / TILES_WIDTH; k++)
			if ((r = add_hash_tile(j, log, level, k, TILES_WIDTH, d)) != 0)
				return r;
	}
	return 0;
}

/* Queues the partial tiles at the right edge of the tree of size n. */
static int
add_edge(struct job *j, struct auditlog *log, uint64_t n, struct paso_diag *d)
{
	uint64_t c;
	unsigned level;
	int r;

	if (n % TILES_WIDTH != 0 &&
		(r = add_bundles(j, log, n / TILES_WIDTH, n % TILES_WIDTH, d)) != 0)
		return r;
	for (level = 0; level < 8 && (c = n >> (8 * level)) > 0; level++)
		if (c % TILES_WIDTH != 0 && (r = add_hash_tile(j, log, level, c / TILES_WIDTH,
						     c % TILES_WIDTH, d)) != 0)
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

/*
 * Queues every full tile completed between sizes old and n, in jobs of at most TILES_CHUNK
 * entries; when there is more than one, waits for each job but the last before queuing the one
 * after the next, so a long catch-up (a restart, a repair) holds at most two jobs in memory.
 */
static int
queue_full(struct tiles *t, struct auditlog *log, uint64_t old, uint64_t n, struct paso_diag *d)
{
	uint64_t b, seq, prev = 0;
	struct job *j;
	int r;

	while (old < n) {
		b = n - old > TILES_CHUNK ? old + TILES_CHUNK : n;
		if ((j = calloc(1, sizeof(*j))) == NULL)
			return PASO_E_NOMEM;
		if ((r = add_full(j, log, old, b, d)) != 0) {
			job_free(j);
			return r;
		}
		enqueue(t, j, &seq);
		if (prev != 0)
			wait_for(t, prev);
		prev = seq;
		old = b;
	}
	return 0;
}

/*
 * Queues and waits for: every tile from the size last flushed to n, the published right edge,
 * and a flush recording the published size as durable (after a crash or a writer failure).
 */
static int
repair(struct tiles *t, struct auditlog *log, uint64_t n, struct paso_diag *d)
{
	struct job *j;
	uint64_t seq;
	int r;

	if ((r = queue_full(t, log, t->done, n, d)) != 0)
		return r;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return PASO_E_NOMEM;
	if ((r = add_edge(j, log, t->published, d)) != 0) {
		job_free(j);
		return r;
	}
	j->flush = 1;
	j->flush_size = t->published;
	enqueue(t, j, &seq);
	wait_for(t, seq);
	if ((r = take_error(t, d)) != 0)
		return r;
	t->done = n;
	t->repair = 0;
	t->since = 0;
	t->files_since = 0;
	return 0;
}

int
tiles_sync(struct tiles *t, struct auditlog *log, struct paso_diag *d)
{
	uint64_t n = auditlog_size(log), durable;
	int r;

	if ((r = take_error(t, d)) != 0)
		return r;
	if (!t->checked && (r = check_published(t, log, d)) != 0)
		return r;
	if (n < t->done) {
		/* The log was cut back (an uncommitted tail): rewrite from what is published. */
		if (n < t->published)
			return paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"the audit log has %" PRIu64 " entries, fewer than the %" PRIu64
				" published in %s/checkpoint",
				n, t->published, t->dir);
		durable = durable_size(t);
		t->done = t->published < durable ? t->published : durable;
	}
	if (t->repair)
		return repair(t, log, n, d);
	/* Full tiles are written in batches: each one made between two fdatasyncs of the log
	 * would be flushed by them (ext4's ordered data), slowing every commit group. */
	if (n - t->done < TILES_BATCH)
		return 0;
	/* Written by the writer thread while the caller goes on appending. */
	if ((r = queue_full(t, log, t->done, n, d)) != 0)
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
	struct job *j = NULL;
	uint8_t root[MERKLE_HASH_BYTES];
	uint64_t seq;
	int r;

	if ((r = take_error(t, d)) != 0)
		goto out;
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
	if (cp.size > t->done && (r = queue_full(t, log, t->done, cp.size, d)) != 0)
		goto out;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	if ((r = add_edge(j, log, cp.size, d)) != 0)
		goto out;
	/* After a crash, the tiles of the new checkpoint are made durable before it is published:
	 * those of the old one may be gone, and the old checkpoint is about to be replaced. */
	j->flush = t->repair;
	j->flush_size = cp.size;
	if (cp.size > t->done)
		t->done = cp.size;
	/* Every tile the checkpoint needs is in place before the checkpoint is: wait for the
	 * writer to finish this job (and the full tiles queued before it). */
	enqueue(t, j, &seq);
	j = NULL;
	wait_for(t, seq);
	if ((r = take_error(t, d)) != 0)
		goto out;
	if (t->repair) {
		t->repair = 0;
		t->since = 0;
		t->files_since = 0;
	}
	if ((r = put_file(t->dfd, "checkpoint", (const uint8_t *)note, len, 1)) != 0 ||
		fsync(t->dfd) != 0) {
		r = paso_diag_set(d, r == PASO_E_STORE_FULL ? r : PASO_E_IO,
			"%s/checkpoint: cannot write: %s", t->dir, strerror(errno));
		goto out;
	}
	t->published = cp.size;
	/*
	 * Flushing every tile before every checkpoint cost more than the tiles themselves (one
	 * fdatasync per file). The writer flushes them every TILES_DURABLE_EVERY publications
	 * (or 4,096 files), after the checkpoint is out, and records the size; after a crash
	 * tiles_sync rewrites everything after it before the hub serves again. Until then, a
	 * reader may find a tile of the newest checkpoint missing.
	 */
	if (++t->since >= TILES_DURABLE_EVERY || t->files_since > 4096) {
		if ((j = calloc(1, sizeof(*j))) == NULL) {
			r = PASO_E_NOMEM;
			goto out;
		}
		j->flush = 1;
		j->flush_size = cp.size;
		enqueue(t, j, &seq);
		j = NULL;
		t->since = 0;
		t->files_since = 0;
	}
	r = 0;
out:
	job_free(j);
	checkpoint_note_free(parsed);
	return r;
}
