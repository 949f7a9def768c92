/* SPDX-License-Identifier: Apache-2.0 */
/* bench_audit: durable append rate, inclusion-proof latency and verify throughput of the audit log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* The SHA256_* family is deprecated in OpenSSL 3 but kept; merkle.c hashes with it. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <sodium.h>

#include "../benchclock.h"
#include "auditlog.h"
#include "logread.h"
#include "checkpoint.h"
#include "merkle.h"

#define ENTRY_BYTES 512
#define RUNS 3

struct opts {
	uint64_t large;   /* entries of the large log */
	double seconds;   /* per append run */
	size_t batch;     /* entries per durable commit group */
	const char *base; /* parent directory for the logs */
	int keep;
};

static void
fill_entry(uint8_t *e, uint64_t i)
{
	/* Distinct, incompressible-looking bytes: a counter mixed into a fixed pattern. */
	memset(e, (int)(i * 131), ENTRY_BYTES);
	memcpy(e, &i, sizeof(i));
	memcpy(e + ENTRY_BYTES - sizeof(i), &i, sizeof(i));
}

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench_audit: %s failed: %s (%d)\n", what, paso_strerror(r), r);
	exit(1);
}

static void
rm_rf(const char *dir)
{
	char cmd[600];

	if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) < (int)sizeof(cmd) && system(cmd) != 0)
		fprintf(stderr, "bench_audit: could not remove %s\n", dir);
}

/* What one side of a paired run did: entries, wall and thread-CPU seconds. */
struct side {
	uint64_t n;
	double wall, cpu;
};

/* The log's side: its batches and checkpoints, each second of its own running time. */
struct log_side {
	struct side x;
	struct auditlog *log;
	const struct checkpoint_signer *s;
	double lastcp; /* in x.wall's time */
	double maxgap;
	unsigned ncp;
};

/* The baseline's side: the same framed entries and offsets written to plain files. */
#define BASE_AHEAD ((uint64_t)1024 * 1024)

struct base_side {
	struct side x;
	int fd, ofd;
	uint8_t *buf, *offs;
	uint64_t end, alloc; /* entries bytes written; and with the zeros written ahead of them */
};

static void
log_batch(const struct opts *o, struct log_side *l, double tnow)
{
	uint8_t e[ENTRY_BYTES];
	size_t k;
	int r;

	for (k = 0; k < o->batch; k++, l->x.n++) {
		fill_entry(e, l->x.n);
		if ((r = auditlog_append(l->log, e, sizeof(e), NULL)) != 0)
			die("auditlog_append", r);
	}
	if ((r = auditlog_sync(l->log)) != 0)
		die("auditlog_sync", r);
	if (tnow - l->lastcp >= 1.0) {
		if ((r = auditlog_checkpoint(l->log, l->s)) != 0)
			die("auditlog_checkpoint", r);
		if (tnow - l->lastcp > l->maxgap)
			l->maxgap = tnow - l->lastcp;
		l->lastcp = tnow;
		l->ncp++;
	}
}

static void
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, p, len)) < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("baseline write", PASO_E_IO);
		p += w;
		len -= (size_t)w;
	}
}

/*
 * As the log does before each fdatasync (auditlog.c, prealloc): zeros written 1 MiB past the
 * entries once fewer than 512 KiB of them are left, so the entries' writes land within the
 * file's size and their fdatasync is of data only, on both sides alike.
 */
static void
base_zeros_ahead(struct base_side *b, uint64_t end)
{
	static const uint8_t zero[65536];
	struct statvfs sv;
	uint64_t from = b->alloc > end ? b->alloc : end, to = end + BASE_AHEAD;
	size_t k;

	if (b->alloc >= end + BASE_AHEAD / 2)
		return;
	if (fstatvfs(b->fd, &sv) != 0 || (uint64_t)sv.f_bavail * sv.f_frsize < 16 * BASE_AHEAD)
		return;
	for (; from < to; from += k) {
		k = to - from < sizeof(zero) ? (size_t)(to - from) : sizeof(zero);
		if (pwrite(b->fd, zero, k, (off_t)from) != (ssize_t)k)
			die("baseline zeros", PASO_E_IO);
	}
	b->alloc = to;
}

/*
 * The baseline: the same loop without the tree. It writes the same entries file byte for byte
 * (each entry copied from the caller's buffer behind its frame header: length and the first 4
 * bytes of its leaf hash, hashed with the log's own merkle_leaf_hash, so the same SHA-256 code)
 * and the same offsets index, in the same batches, with the same zeros ahead of the entries and
 * one fdatasync of the entries per batch, as auditlog_sync does. What it leaves out is the tree: no node hashes, no hashes file, no
 * checkpoints (their signing and the fdatasyncs of offsets and hashes behind each).
 */
static void
base_batch(const struct opts *o, struct base_side *b)
{
	uint8_t e[ENTRY_BYTES], h[32];
	size_t k, len = 0;
	int j;

	for (k = 0; k < o->batch; k++, b->x.n++) {
		fill_entry(e, b->x.n);
		merkle_leaf_hash(e, sizeof(e), h);
		b->buf[len] = 0;
		b->buf[len + 1] = 0;
		b->buf[len + 2] = (uint8_t)(sizeof(e) >> 8);
		b->buf[len + 3] = (uint8_t)sizeof(e);
		memcpy(b->buf + len + 4, h, 4);
		memcpy(b->buf + len + 8, e, sizeof(e));
		for (j = 0; j < 8; j++)
			b->offs[k * 8 + (size_t)j] = (uint8_t)((b->end + len) >> (56 - 8 * j));
		len += 8 + sizeof(e);
	}
	write_all(b->fd, b->buf, len);
	write_all(b->ofd, b->offs, o->batch * 8);
	base_zeros_ahead(b, b->end + len);
	if (fdatasync(b->fd) != 0)
		die("baseline fdatasync", PASO_E_IO);
	b->end += len;
}

/* Seconds each side runs in its turn. */
#define SLICE 0.25

/*
 * One paired run: the log and the baseline take turns in slices of SLICE seconds until each has
 * run o->seconds, so both see the same machine (on a shared one, what else runs changes from
 * second to second and moves even CPU time by tens of percent). Both sides are timed from
 * after their files are open to after their last write; the log's final checkpoint is its own.
 */
static void
run_pair(const struct opts *o, const char *dir, const char *path, const struct checkpoint_signer *s,
	struct log_side *l, struct base_side *b)
{
	struct paso_diag d = {0};
	char opath[640];
	double t0, c0;
	int r;

	memset(l, 0, sizeof(*l));
	memset(b, 0, sizeof(*b));
	l->s = s;
	rm_rf(dir);
	if ((r = auditlog_open(dir, &l->log, &d)) != 0)
		die("auditlog_open", r);
	if ((b->buf = malloc(o->batch * (8 + ENTRY_BYTES))) == NULL ||
		(b->offs = malloc(o->batch * 8)) == NULL ||
		snprintf(opath, sizeof(opath), "%s.offsets", path) >= (int)sizeof(opath))
		exit(1);
	unlink(path);
	unlink(opath);
	if ((b->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
		(b->ofd = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		die("open baseline", PASO_E_IO);
	while (l->x.wall < o->seconds || b->x.wall < o->seconds) {
		c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		t0 = now_s();
		do
			log_batch(o, l, l->x.wall + now_s() - t0);
		while (now_s() - t0 < SLICE);
		l->x.wall += now_s() - t0;
		l->x.cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		t0 = now_s();
		do
			base_batch(o, b);
		while (now_s() - t0 < SLICE);
		b->x.wall += now_s() - t0;
		b->x.cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	}
	c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_s();
	if ((r = auditlog_checkpoint(l->log, s)) != 0)
		die("auditlog_checkpoint", r);
	l->ncp++;
	l->x.wall += now_s() - t0;
	l->x.cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	auditlog_close(l->log);
	close(b->fd);
	close(b->ofd);
	unlink(path);
	unlink(opath);
	free(b->buf);
	free(b->offs);
}

/*
 * Single-core SHA-256 throughput in bytes/s over len-byte messages, for about 1 second, with the
 * code the log hashes with (OpenSSL's SHA256_Init/Update/Final: SHA-NI here, and faster than
 * EVP, whose per-call dispatch costs ~40 ns a message).
 */
static double
sha_throughput(size_t len, double *cpu_rate)
{
	uint8_t *b = malloc(len), h[32];
	uint64_t bytes = 0;
	double t0 = now_s(), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), t;
	SHA256_CTX st;

	if (b == NULL)
		exit(1);
	memset(b, 0x5a, len);
	do {
		int k;

		for (k = 0; k < 64; k++) {
			SHA256_Init(&st);
			SHA256_Update(&st, b, len);
			SHA256_Final(h, &st);
			b[0] ^= h[0];
			bytes += len;
		}
	} while ((t = now_s() - t0) < 1.0);
	*cpu_rate = (double)bytes / (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0);
	free(b);
	return (double)bytes / t;
}

static void
usage(void)
{
	fputs("usage: bench_audit [--large N] [--seconds S] [--batch B] [--dir PARENT] [--keep]\n"
	      "  Durable appends of 512-byte entries (batches of B, fdatasync per batch, a signed "
	      "checkpoint\n"
	      "  each second) beside a same-run baseline (the same framed entries and offsets, "
	      "fdatasync per batch, no tree);\n"
	      "  inclusion proof latency and full verify throughput on a log of N entries (default "
	      "10000000)\n"
	      "  beside single-core SHA-256 throughput. Logs are written under PARENT (default "
	      "/tmp).\n",
		stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct opts o = {10000000, 3.0, 1000, "/tmp", 0};
	struct checkpoint_signer *s = NULL;
	struct checkpoint_verifier *v = NULL;
	struct auditlog *log = NULL;
	struct logread_report rep;
	struct paso_diag d = {0};
	char *skey = NULL, *vkey = NULL, dir[512], path[600];
	double ap[RUNS], base[RUNS], apc[RUNS], basec[RUNS],
		maxgap = 0, t0, t, *lat, sha512, shabig, vtp, c0, vtpc, sha512c, shabigc;
	uint8_t e[ENTRY_BYTES], p[MERKLE_MAX_PROOF][32], root[32], leaf[32];
	unsigned totcp = 0;
	uint64_t i, idx, size, samples = 20000;
	size_t np;
	int k, r;

	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--large") == 0 && k + 1 < argc)
			o.large = strtoull(argv[++k], NULL, 10);
		else if (strcmp(argv[k], "--seconds") == 0 && k + 1 < argc)
			o.seconds = strtod(argv[++k], NULL);
		else if (strcmp(argv[k], "--batch") == 0 && k + 1 < argc)
			o.batch = (size_t)strtoul(argv[++k], NULL, 10);
		else if (strcmp(argv[k], "--dir") == 0 && k + 1 < argc)
			o.base = argv[++k];
		else if (strcmp(argv[k], "--keep") == 0)
			o.keep = 1;
		else
			usage();
	}
	if (sodium_init() < 0 || o.batch == 0 || o.large == 0 || o.seconds <= 0)
		usage();
	if (checkpoint_keygen("bench.paso/log", &skey, &vkey) != 0 ||
		checkpoint_signer_from_text(skey, &s) != 0 ||
		checkpoint_verifier_from_vkey(vkey, &v) != 0)
		die("keygen", PASO_E_INTERNAL);
	if (snprintf(dir, sizeof(dir), "%s/paso-bench-audit-%d", o.base, (int)getpid()) >=
			(int)sizeof(dir) ||
		snprintf(path, sizeof(path), "%s.baseline", dir) >= (int)sizeof(path))
		usage();

	printf("== durable appends: %d-byte entries, batches of %zu, fdatasync per batch, "
	       "checkpoint each second"
	       " (%d runs of %.1f s a side, in turns of %.2f s, in %s)\n",
		ENTRY_BYTES, o.batch, RUNS, o.seconds, SLICE, o.base);
	for (k = 0; k < RUNS; k++) {
		struct log_side ls;
		struct base_side bs;

		run_pair(&o, dir, path, s, &ls, &bs);
		ap[k] = (double)ls.x.n / ls.x.wall;
		apc[k] = (double)ls.x.n / ls.x.cpu;
		base[k] = (double)bs.x.n / bs.x.wall;
		basec[k] = (double)bs.x.n / bs.x.cpu;
		totcp += ls.ncp;
		if (ls.maxgap > maxgap)
			maxgap = ls.maxgap;
		printf("   run %d: audit log %.0f appends/s, baseline %.0f entries/s; per CPU-second "
		       "%.0f and %.0f (ratio %.2f)\n",
			k + 1, ap[k], base[k], apc[k], basec[k], apc[k] / basec[k]);
	}
	rm_rf(dir);
	{
		double ma = median_sort(ap, RUNS), mb = median_sort(base, RUNS);

		printf("durable appends/s (median): audit log %.0f, baseline %.0f, ratio %.2f; %u "
		       "checkpoints signed,"
		       " longest gap %.2f s\n",
			ma, mb, ma / mb, totcp, maxgap);
		ma = median_sort(apc, RUNS);
		mb = median_sort(basec, RUNS);
		printf("per CPU-second (median): audit log %.0f, baseline %.0f, ratio %.2f (what the "
		       "work costs, whatever else the machine runs)\n",
			ma, mb, ma / mb);
	}

	printf("== large log: %" PRIu64 " entries of %d bytes\n", o.large, ENTRY_BYTES);
	rm_rf(dir);
	if ((r = auditlog_open(dir, &log, &d)) != 0)
		die("auditlog_open", r);
	t0 = now_s();
	for (i = 0; i < o.large; i++) {
		fill_entry(e, i);
		if ((r = auditlog_append(log, e, sizeof(e), NULL)) != 0)
			die("auditlog_append", r);
		if ((i + 1) % 1000000 == 0) {
			if ((r = auditlog_checkpoint(log, s)) != 0)
				die("auditlog_checkpoint", r);
			fprintf(stderr, "   %" PRIu64 " entries, %.1f s\n", i + 1, now_s() - t0);
		}
	}
	if ((r = auditlog_checkpoint(log, s)) != 0)
		die("auditlog_checkpoint", r);
	t = now_s() - t0;
	printf("built in %.1f s (%.0f appends/s, checkpoint every 1,000,000)\n", t,
		(double)o.large / t);
	auditlog_close(log);
	if ((r = auditlog_open(dir, &log, &d)) != 0)
		die("auditlog_open (reopen)", r);
	size = auditlog_size(log);
	if ((r = auditlog_root(log, size, root)) != 0)
		die("auditlog_root", r);
	if ((lat = calloc(samples, sizeof(*lat))) == NULL)
		exit(1);
	randombytes_stir();
	for (i = 0; i < samples; i++) {
		idx = randombytes_uniform((uint32_t)(size > UINT32_MAX ? UINT32_MAX : size));
		t0 = now_s();
		r = auditlog_inclusion(log, idx, size, p, MERKLE_MAX_PROOF, &np);
		lat[i] = now_s() - t0;
		if (r != 0)
			die("auditlog_inclusion", r);
		if (i % 1000 == 0) { /* spot-check outside the timing */
			if (auditlog_leaf_hash(log, idx, leaf) != 0 ||
				merkle_verify_inclusion(
					leaf, idx, size, (const uint8_t(*)[32])p, np, root) != 0)
				die("proof check", PASO_E_PROOF_INVALID);
		}
	}
	{
		double med = median_sort(lat, samples), p99 = lat[(size_t)((double)samples * 0.99)];

		printf("inclusion proof (random entry, size %" PRIu64 ", %" PRIu64
		       " samples, warm): median %.1f us, p99 %.1f us,"
		       " %zu hashes\n",
			size, samples, med * 1e6, p99 * 1e6, np);
	}
	free(lat);
	auditlog_close(log);

	sha512 = sha_throughput(ENTRY_BYTES + 1, &sha512c);
	shabig = sha_throughput(1 << 20, &shabigc);
	t0 = now_s();
	c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	if ((r = logread_verify(dir, v, NULL, &rep, &d)) != 0) {
		fprintf(stderr, "verify: %s\n", d.msg);
		die("logread_verify", r);
	}
	t = now_s() - t0;
	vtp = (double)rep.bytes_hashed / t;
	vtpc = (double)rep.bytes_hashed / (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0);
	/* Measured again after: on a shared machine the two sides see different loads. */
	sha512 = (sha512 + sha_throughput(ENTRY_BYTES + 1, &t0)) / 2;
	sha512c = (sha512c + t0) / 2;
	printf("full verify: %" PRIu64 " entries in %.1f s = %.0f MB/s of entries; single-core "
	       "SHA-256 (OpenSSL SHA256_*, SHA-NI) %.0f MB/s"
	       " on 513-byte messages, %.0f MB/s on 1 MiB; verify/SHA-256 = %.0f%% (vs 1 MiB: "
	       "%.0f%%)\n",
		rep.entries, t, vtp / 1e6, sha512 / 1e6, shabig / 1e6, 100 * vtp / sha512,
		100 * vtp / shabig);
	printf("full verify in CPU time: %.0f MB/s of entries; SHA-256 %.0f MB/s (513 bytes), %.0f "
	       "MB/s (1 MiB) in CPU time; verify/SHA-256 = %.0f%% (vs 1 MiB: %.0f%%)\n",
		vtpc / 1e6, sha512c / 1e6, shabigc / 1e6, 100 * vtpc / sha512c,
		100 * vtpc / shabigc);
	if (!o.keep)
		rm_rf(dir);
	else {
		/* With its public key beside it, so `paso-audit verify DIR` can be profiled. */
		char kp[600];
		FILE *kf;

		if (snprintf(kp, sizeof(kp), "%s/log.vkey", dir) < (int)sizeof(kp) &&
			(kf = fopen(kp, "w")) != NULL) {
			fprintf(kf, "%s\n", vkey);
			fclose(kf);
		}
		printf("kept %s\n", dir);
	}
	checkpoint_signer_free(s);
	checkpoint_verifier_free(v);
	checkpoint_text_free(skey);
	free(vkey);
	return 0;
}
