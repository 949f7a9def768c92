/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark: a crossing's durable commit alone, then beside enrolment commits, one writer or two. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "../benchclock.h"

/*
 * What the disk alone allows a separate crossing lane (issue 11: a crossing's p99 beside
 * enrolments at most 2x its p99 alone). A client sends crossings one at a time, as
 * bench_national's crossing kiosk does; each is a small LMDB transaction (a seen row and a
 * crossing row) plus an audit-sized append to one log file and its fdatasync. Meanwhile a
 * second writer commits enrolment-sized groups back to back (16 subjects: a sealed record of
 * --record bytes and three small rows each, 16 audit-sized appends, an fdatasync), into a
 * store of --subjects subjects.
 *   one writer: as the hub's commit loop is: one environment, one thread; a crossing queued
 *     during a group waits for that group's commit, then is committed alone.
 *   two lanes: the crossings in an environment of their own, committed on the client's
 *     thread; both lanes append to the one log under a lock and sync it outside it.
 *   two lanes in log order: as two lanes, but a crossing that began while an enrolment group
 *     was committing is answered only once that commit ended too (its entries precede the
 *     crossing's in the log: answering earlier would leave, after a crash, a later entry
 *     committed and an earlier one not). Pessimistic: here the enrolment lane is always
 *     committing, where the hub's would spend part of its time deciding.
 *   a journal of its own: the least a durable crossing can do. Its seen row, crossing row and
 *     entry written in place into a file allocated and synced beforehand (it never grows, so
 *     its fdatasync commits no file-system metadata), then fdatasync; no store, no shared log.
 *     If this cannot keep within 2x beside the enrolment commits, no crossing path with an
 *     fsync of its own can on this disk.
 * --rate paces the enrolment groups at the hub's enrolment rate (its deduplication sets it, not
 * the disk); by default they go back to back, the most the disk can take.
 * Baseline (same run, same files): the crossings with no enrolment going on. Rounds
 * alternate alone and beside; the ratio is p99 beside / p99 alone over all rounds.
 */

#define BENCH_GROUP 16
#define BENCH_ENTRY 300 /* bytes of an audit entry (frame and leaf hash, a typical crossing) */
#define BENCH_MAX_ROUNDS 20
#define BENCH_LAYOUTS 4
#define BENCH_JOURNAL (64u << 20) /* the journal layout's file, written over in a ring */

struct opts {
	unsigned long crossings, rounds, subjects, record, rate;
	const char *dir;
};

/* One store as the benchmark uses it: subjects/dks/cards/seen, plus events for crossings. */
struct store {
	MDB_env *env;
	MDB_dbi rec, dk, card, seen;
};

struct bench {
	struct opts o;
	struct store heavy, lane;
	int logfd, jfd;
	uint64_t joff; /* the journal layout's next write */
	pthread_mutex_t loglock;
	/* the one-writer loop's queue: one crossing at a time */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending, done, heavy_on, stop, lanes;
	uint64_t
		hepoch; /* odd while an enrolment group commits (its log append to its store commit) */
	unsigned long groups;
	uint64_t seq;
	uint8_t *buf;
};

/* For pthread_cond_timedwait, which waits against CLOCK_REALTIME. */
static double
wall_s(void)
{
	return clock_s(CLOCK_REALTIME);
}

static double
pct(double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)n);

	qsort(v, n, sizeof(*v), cmp_double);
	return v[i < n ? i : n - 1];
}

/* A key that lands anywhere in the table, as hashed ids do. */
static void
key_for(uint64_t seq, uint64_t salt, uint8_t key[16])
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull ^ salt, y = x * 0xbf58476d1ce4e5b9ull + seq;

	memcpy(key, &x, 8);
	memcpy(key + 8, &y, 8);
}

static int
store_open(struct store *s, const char *dir, const char *name)
{
	char path[4096];
	MDB_txn *t;
	int rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return ENAMETOOLONG;
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return errno;
	if ((rc = mdb_env_create(&s->env)) != 0 || (rc = mdb_env_set_maxdbs(s->env, 8)) != 0 ||
		(rc = mdb_env_set_mapsize(s->env, (size_t)1 << 33)) != 0 ||
		(rc = mdb_env_open(s->env, path, MDB_NOTLS, 0600)) != 0 ||
		(rc = mdb_txn_begin(s->env, NULL, 0, &t)) != 0)
		return rc;
	if ((rc = mdb_dbi_open(t, "rec", MDB_CREATE, &s->rec)) != 0 ||
		(rc = mdb_dbi_open(t, "dk", MDB_CREATE, &s->dk)) != 0 ||
		(rc = mdb_dbi_open(t, "card", MDB_CREATE, &s->card)) != 0 ||
		(rc = mdb_dbi_open(t, "seen", MDB_CREATE, &s->seen)) != 0) {
		mdb_txn_abort(t);
		return rc;
	}
	return mdb_txn_commit(t);
}

static int
put(MDB_txn *t, MDB_dbi d, const uint8_t key[16], const uint8_t *val, size_t n)
{
	MDB_val k = {16, (void *)key}, v = {n, (void *)val};

	return mdb_put(t, d, &k, &v, 0);
}

/* One enrolled subject's rows: sealed record, data key, card index, seen row. */
static int
put_subject(struct bench *b, MDB_txn *t, const uint8_t key[16])
{
	int rc;

	if ((rc = put(t, b->heavy.rec, key, b->buf, b->o.record)) != 0 ||
		(rc = put(t, b->heavy.dk, key, b->buf, 80)) != 0 ||
		(rc = put(t, b->heavy.card, key, b->buf, 16)) != 0)
		return rc;
	return put(t, b->heavy.seen, key, b->buf, 120);
}

/* n audit entries appended under the log's lock, then synced outside it (two lanes), or inside
 * the caller's one writer (the lock is then uncontended). */
static int
log_append_sync(struct bench *b, unsigned n)
{
	uint8_t e[BENCH_ENTRY];
	unsigned i;
	int rc = 0;

	memset(e, 0x5a, sizeof(e));
	pthread_mutex_lock(&b->loglock);
	for (i = 0; i < n && rc == 0; i++)
		if (write(b->logfd, e, sizeof(e)) != (ssize_t)sizeof(e))
			rc = EIO;
	pthread_mutex_unlock(&b->loglock);
	if (rc == 0 && fdatasync(b->logfd) != 0)
		rc = errno;
	return rc;
}

/* Fills the heavy store with o.subjects subjects (not timed). */
static int
fill(struct bench *b)
{
	uint8_t key[16];
	MDB_txn *t;
	unsigned long i;
	int rc;

	if ((rc = mdb_txn_begin(b->heavy.env, NULL, 0, &t)) != 0)
		return rc;
	for (i = 0; i < b->o.subjects; i++) {
		key_for(i, 1, key);
		if ((rc = put_subject(b, t, key)) != 0) {
			mdb_txn_abort(t);
			return rc;
		}
	}
	return mdb_txn_commit(t);
}

static void
epoch_step(struct bench *b)
{
	pthread_mutex_lock(&b->mu);
	b->hepoch++;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* One enrolment group: 16 subjects' rows, 16 entries, audit sync, then the store commit. */
static int
heavy_group(struct bench *b, uint64_t *seq)
{
	uint8_t key[16];
	MDB_txn *t;
	unsigned i;
	int rc;

	if ((rc = mdb_txn_begin(b->heavy.env, NULL, 0, &t)) != 0)
		return rc;
	for (i = 0; i < BENCH_GROUP; i++) {
		key_for((*seq)++, 2, key);
		if ((rc = put_subject(b, t, key)) != 0) {
			mdb_txn_abort(t);
			return rc;
		}
	}
	epoch_step(b);
	if ((rc = log_append_sync(b, BENCH_GROUP)) != 0)
		mdb_txn_abort(t);
	else
		rc = mdb_txn_commit(t);
	epoch_step(b);
	return rc;
}

/* One crossing: its seen row and crossing row, one entry, audit sync, then the store commit. */
static int
crossing(struct bench *b, struct store *s)
{
	uint8_t key[16];
	MDB_txn *t;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &t)) != 0)
		return rc;
	key_for(b->seq++, 3, key);
	if ((rc = put(t, s->seen, key, b->buf, 120)) != 0 ||
		(rc = put(t, s->rec, key, b->buf, 200)) != 0) {
		mdb_txn_abort(t);
		return rc;
	}
	if ((rc = log_append_sync(b, 1)) != 0) {
		mdb_txn_abort(t);
		return rc;
	}
	return mdb_txn_commit(t);
}

/* One crossing in the journal layout: its rows and entry written in place, then fdatasync. */
static int
journal_crossing(struct bench *b)
{
	const size_t n = 120 + 200 + BENCH_ENTRY;

	if (b->joff + n > BENCH_JOURNAL)
		b->joff = 0;
	if (pwrite(b->jfd, b->buf, n, (off_t)b->joff) != (ssize_t)n)
		return EIO;
	b->joff += n;
	return fdatasync(b->jfd) == 0 ? 0 : errno;
}

/* Allocates and syncs the journal layout's file, so that its writes never grow it. */
static int
journal_open(struct bench *b, const char *dir)
{
	char path[4200];
	size_t off;

	(void)snprintf(path, sizeof(path), "%s/journal", dir);
	if ((b->jfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return errno;
	/* written, not only fallocated: an unwritten extent's first write is a metadata change */
	for (off = 0; off < BENCH_JOURNAL; off += 65536)
		if (pwrite(b->jfd, b->buf, 65536, (off_t)off) != 65536)
			return EIO;
	return fsync(b->jfd) == 0 ? 0 : errno;
}

/* The writer thread: enrolment groups back to back while heavy_on; with one writer it also
 * commits the queued crossing (alone, right after the group in progress). */
static void *
writer(void *arg)
{
	struct bench *b = arg;
	struct timespec until;
	uint64_t seq = 0;
	double next = 0, w; /* --rate: when the next group may start (CLOCK_REALTIME, s) */
	int rc = 0, cross, heavy;

	for (;;) {
		pthread_mutex_lock(&b->mu);
		for (;;) {
			if (b->stop || (b->pending && !b->lanes))
				break;
			if (b->heavy_on && (b->o.rate == 0 || wall_s() >= next))
				break;
			if (!b->heavy_on || b->o.rate == 0) {
				pthread_cond_wait(&b->cv, &b->mu);
				continue;
			}
			/* paced: wait for the next group's turn, or a crossing (one writer) */
			w = next;
			until.tv_sec = (time_t)w;
			until.tv_nsec = (long)((w - (double)until.tv_sec) * 1e9);
			(void)pthread_cond_timedwait(&b->cv, &b->mu, &until);
		}
		if (b->stop) {
			pthread_mutex_unlock(&b->mu);
			break;
		}
		cross = b->pending && !b->lanes;
		heavy = b->heavy_on && (b->o.rate == 0 || wall_s() >= next);
		pthread_mutex_unlock(&b->mu);
		if (cross) {
			rc = crossing(b, &b->heavy);
			pthread_mutex_lock(&b->mu);
			b->pending = 0;
			b->done = rc == 0 ? 1 : -1;
			pthread_cond_broadcast(&b->cv);
			pthread_mutex_unlock(&b->mu);
		} else if (heavy) {
			/* --rate: enrolments a second, as the hub's loop would commit them (its
			 * deduplication, not the disk, sets that pace) */
			if (b->o.rate > 0) {
				double gap = (double)BENCH_GROUP / (double)b->o.rate;

				/* no catching up after a pause (between phases) */
				if (next == 0 || wall_s() - next > gap)
					next = wall_s();
				next += gap;
			}
			if ((rc = heavy_group(b, &seq)) != 0)
				break;
			pthread_mutex_lock(&b->mu);
			b->groups++;
			pthread_mutex_unlock(&b->mu);
		}
	}
	if (rc != 0) {
		fprintf(stderr, "bench_lane: enrolment commit failed: %s\n", mdb_strerror(rc));
		exit(1);
	}
	return NULL;
}

/* o.crossings crossings one at a time; fills lat. */
static int
crossings(struct bench *b, double *lat)
{
	unsigned long i;
	double t0;
	int rc = 0;

	for (i = 0; i < b->o.crossings && rc == 0; i++) {
		t0 = now_s();
		if (b->lanes == 3)
			rc = journal_crossing(b);
		else if (b->lanes) {
			uint64_t e0;

			pthread_mutex_lock(&b->mu);
			e0 = b->hepoch;
			pthread_mutex_unlock(&b->mu);
			rc = crossing(b, &b->lane);
			if (b->lanes == 2 && (e0 & 1)) {
				pthread_mutex_lock(&b->mu);
				while (b->hepoch == e0)
					pthread_cond_wait(&b->cv, &b->mu);
				pthread_mutex_unlock(&b->mu);
			}
		} else {
			pthread_mutex_lock(&b->mu);
			b->pending = 1;
			b->done = 0;
			pthread_cond_broadcast(&b->cv);
			while (b->done == 0)
				pthread_cond_wait(&b->cv, &b->mu);
			rc = b->done < 0 ? EIO : 0;
			pthread_mutex_unlock(&b->mu);
		}
		lat[i] = now_s() - t0;
		usleep(200); /* the kiosk's own turn-around */
	}
	return rc;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
usage(FILE *fp)
{
	fprintf(fp,
		"usage: bench_lane [--crossings N] [--rounds R] [--subjects S] [--record BYTES] [--rate E] "
		"[--dir DIR]\n"
		"A crossing's durable commit (small LMDB transaction, one audit-sized append, "
		"fdatasync)\nalone and beside enrolment-sized groups committed back to back: "
		"by one writer in one\nstore (the hub's loop today) or in a store and lane of "
		"their own (two lanes, one log),\nanswered at once or in log order; or in a journal of "
		"its own written in place (the least\na durable crossing can do).\n"
		"  --crossings N  crossings per phase (default 500)\n"
		"  --rounds R     alone/beside rounds per layout (default 3, at most %d)\n"
		"  --subjects S   subjects in the enrolment store first (default 20000)\n"
		"  --record BYTES sealed record per enrolment (default 8500)\n"
		"  --rate E       enrolments a second at most (default 0: groups back to back)\n"
		"  --dir DIR      where to create scratch stores (default /var/tmp; not tmpfs)\n",
		BENCH_MAX_ROUNDS);
}

int
main(int argc, char **argv)
{
	struct bench b;
	char tmpl[4096], path[4200];
	double *lat[BENCH_LAYOUTS][2], p99[BENCH_LAYOUTS][2], p50[BENCH_LAYOUTS][2], t0, el;
	unsigned long gps[BENCH_LAYOUTS] = {0}, r, n;
	pthread_t th;
	int layout, ph, rc, i;

	memset(&b, 0, sizeof(b));
	memset(lat, 0, sizeof(lat));
	b.jfd = -1;
	b.o = (struct opts){500, 3, 20000, 8500, 0, "/var/tmp"};
	for (i = 1; i < argc; i++) {
		unsigned long *dst = NULL, min = 1, max = 0;

		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			b.o.dir = argv[++i];
			continue;
		} else if (strcmp(argv[i], "--crossings") == 0)
			dst = &b.o.crossings, min = 100, max = 100000;
		else if (strcmp(argv[i], "--rounds") == 0)
			dst = &b.o.rounds, max = BENCH_MAX_ROUNDS;
		else if (strcmp(argv[i], "--subjects") == 0)
			dst = &b.o.subjects, min = 0, max = 2000000;
		else if (strcmp(argv[i], "--record") == 0)
			dst = &b.o.record, min = 16, max = 65536;
		else if (strcmp(argv[i], "--rate") == 0)
			dst = &b.o.rate, min = 0, max = 1000000;
		if (dst == NULL || i + 1 >= argc) {
			fprintf(stderr, "bench_lane: unknown option or missing value: '%s'\n",
				argv[i]);
			usage(stderr);
			return 2;
		}
		if (bench_parse_ul("bench_lane", argv[i], argv[i + 1], min, max, dst) != 0)
			return 2;
		i++;
	}
	if (snprintf(tmpl, sizeof(tmpl), "%s/bench_lane.XXXXXX", b.o.dir) >= (int)sizeof(tmpl) ||
		mkdtemp(tmpl) == NULL) {
		fprintf(stderr, "bench_lane: cannot create a scratch directory in %s: %s\n",
			b.o.dir, strerror(errno));
		return 1;
	}
	n = b.o.crossings * b.o.rounds;
	for (layout = 0; layout < BENCH_LAYOUTS; layout++)
		for (ph = 0; ph < 2; ph++)
			if ((lat[layout][ph] = calloc(n, sizeof(double))) == NULL)
				return 1;
	if ((b.buf = calloc(1, 65536)) == NULL)
		return 1;
	(void)snprintf(path, sizeof(path), "%s/audit.log", tmpl);
	b.logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0600);
	pthread_mutex_init(&b.loglock, NULL);
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv, NULL);
	if (b.logfd < 0 || (rc = store_open(&b.heavy, tmpl, "store")) != 0 ||
		(rc = store_open(&b.lane, tmpl, "lane")) != 0 || (rc = fill(&b)) != 0) {
		fprintf(stderr, "bench_lane: %s: cannot set up the stores: %s\n", tmpl,
			b.logfd < 0 ? strerror(errno) : mdb_strerror(rc));
		return 1;
	}
	if ((rc = journal_open(&b, tmpl)) != 0) {
		fprintf(stderr, "bench_lane: %s/journal: cannot set it up: %s\n", tmpl,
			strerror(rc));
		return 1;
	}
	if (pthread_create(&th, NULL, writer, &b) != 0)
		return 1;
	/* rounds interleave the layouts and the phases, so drift in the disk hits all six */
	for (r = 0; r < b.o.rounds; r++)
		for (layout = 0; layout < BENCH_LAYOUTS; layout++)
			for (ph = 0; ph < 2; ph++) {
				pthread_mutex_lock(&b.mu);
				b.lanes = layout;
				b.heavy_on = ph;
				b.groups = 0;
				pthread_cond_broadcast(&b.cv);
				pthread_mutex_unlock(&b.mu);
				usleep(100000);
				t0 = now_s();
				if ((rc = crossings(&b, lat[layout][ph] + r * b.o.crossings)) !=
					0) {
					fprintf(stderr, "bench_lane: a crossing's commit failed\n");
					return 1;
				}
				el = now_s() - t0;
				pthread_mutex_lock(&b.mu);
				b.heavy_on = 0;
				if (ph)
					gps[layout] += (unsigned long)((double)b.groups / el);
				pthread_mutex_unlock(&b.mu);
			}
	pthread_mutex_lock(&b.mu);
	b.stop = 1;
	pthread_cond_broadcast(&b.cv);
	pthread_mutex_unlock(&b.mu);
	pthread_join(th, NULL);
	for (layout = 0; layout < BENCH_LAYOUTS; layout++)
		for (ph = 0; ph < 2; ph++) {
			p50[layout][ph] = pct(lat[layout][ph], n, 0.5) * 1e3;
			p99[layout][ph] = pct(lat[layout][ph], n, 0.99) * 1e3;
		}
	printf("%lu crossings one at a time per phase, %lu rounds; enrolment groups of %d "
	       "(%lu-byte records) into a store of %lu subjects, %s:\n",
		b.o.crossings, b.o.rounds, BENCH_GROUP, b.o.record, b.o.subjects,
		b.o.rate > 0 ? "paced (--rate)" : "back to back");
	for (layout = 0; layout < BENCH_LAYOUTS; layout++) {
		static const char *const names[BENCH_LAYOUTS] = {
			"one writer (one store, as the hub's loop)",
			"two lanes (crossings' own store, one log)",
			"two lanes, answered in log order",
			"a journal of its own (written in place, never grown)"};

		printf("  %s:\n", names[layout]);
		printf("    crossings alone:        p50 %.2f ms, p99 %.2f ms\n", p50[layout][0],
			p99[layout][0]);
		printf("    beside enrolments:      p50 %.2f ms, p99 %.2f ms (%.0f groups/s)\n",
			p50[layout][1], p99[layout][1], (double)gps[layout] / (double)b.o.rounds);
		printf("    p99 ratio (beside / alone): %.2f\n", p99[layout][1] / p99[layout][0]);
	}
	mdb_env_close(b.heavy.env);
	mdb_env_close(b.lane.env);
	close(b.logfd);
	close(b.jfd);
	if (nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "bench_lane: could not remove %s\n", tmpl);
	for (layout = 0; layout < BENCH_LAYOUTS; layout++)
		for (ph = 0; ph < 2; ph++)
			free(lat[layout][ph]);
	free(b.buf);
	return 0;
}
