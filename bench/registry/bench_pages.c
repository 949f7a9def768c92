/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark: what a durable commit's page count costs on this disk, scattered or in one run. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../benchclock.h"

/*
 * An LMDB commit writes each dirty page where the page lives in the file: pages reused from the
 * free list lie anywhere, so a commit's pages are mostly apart, each its own write request, then
 * one fdatasync. How much a commit costs then depends on how many pages it touches, not how many
 * bytes: the hub's crossing commits write ~10 such pages, its enrolment groups 28-65 (counted
 * with strace on the commit loop at 20,000 enrolled; see issue 11's notes).
 * For each page count N: N 4 KiB pages at random places in a file written beforehand (so no
 * file-system metadata changes), one pwrite each, then fdatasync; against the baseline, the
 * same N pages as one run (one pwrite, one request), then fdatasync. Same bytes, same
 * durability; what differs is only the scatter. Rounds alternate the two; the figures are
 * medians and p99 over all rounds, and the ratio scattered / run of the medians.
 */

#define PAGE 4096
#define FILE_BYTES (256ull << 20)
#define MAX_PAGES 256

struct opts {
	unsigned long rounds;
	const char *dir;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int
write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	ssize_t w;

	while (n > 0) {
		if ((w = pwrite(fd, p, n, (off_t)off)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* One commit of n pages, scattered or as one run; its time in ms, or -1 on an I/O error. */
static double
commit(int fd, const uint8_t *buf, unsigned n, int scattered)
{
	uint64_t pages = FILE_BYTES / PAGE, at = next_rand() % (pages - n);
	double t0 = now_s();
	unsigned i;

	if (scattered) {
		for (i = 0; i < n; i++)
			if (write_all(fd, buf + (size_t)i * PAGE, PAGE,
				    (next_rand() % pages) * PAGE) != 0)
				return -1;
	} else if (write_all(fd, buf, (size_t)n * PAGE, at * PAGE) != 0)
		return -1;
	if (fdatasync(fd) != 0)
		return -1;
	return (now_s() - t0) * 1e3;
}

static double
p99(double *v, size_t n)
{
	size_t i = (size_t)(0.99 * (double)n);

	qsort(v, n, sizeof(*v), cmp_double);
	return v[i < n ? i : n - 1];
}

static int
run(const struct opts *o)
{
	static const unsigned counts[] = {1, 4, 16, 64};
	char path[4096];
	uint8_t *buf;
	double *s, *c, ms, ms_s, ms_c;
	unsigned long r;
	size_t k;
	int fd, rc = 1;

	if (snprintf(path, sizeof(path), "%s/bench_pages.XXXXXX", o->dir) >= (int)sizeof(path)) {
		fprintf(stderr, "bench_pages: --dir is too long\n");
		return 1;
	}
	if ((fd = mkstemp(path)) < 0) {
		fprintf(stderr, "bench_pages: cannot create a file in %s: %s\n", o->dir,
			strerror(errno));
		return 1;
	}
	(void)unlink(path); /* gone on every exit; the descriptor keeps it while we run */
	buf = malloc((size_t)MAX_PAGES * PAGE);
	s = malloc(o->rounds * sizeof(*s));
	c = malloc(o->rounds * sizeof(*c));
	if (buf == NULL || s == NULL || c == NULL) {
		fprintf(stderr, "bench_pages: out of memory\n");
		goto out;
	}
	memset(buf, 0x5a, (size_t)MAX_PAGES * PAGE);
	/* the whole file written and synced first: later writes change no metadata */
	for (uint64_t off = 0; off < FILE_BYTES; off += (uint64_t)MAX_PAGES * PAGE)
		if (write_all(fd, buf, (size_t)MAX_PAGES * PAGE, off) != 0)
			goto ioerr;
	if (fsync(fd) != 0)
		goto ioerr;
	printf("one durable commit of N 4 KiB pages in a %llu MiB file in %s, %lu rounds each:\n",
		(unsigned long long)(FILE_BYTES >> 20), o->dir, o->rounds);
	printf("  %5s  %-26s  %-26s  %s\n", "pages", "scattered: p50, p99 ms",
		"one run: p50, p99 ms", "p50 ratio");
	for (k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		for (r = 0; r < o->rounds; r++) {
			if ((ms = commit(fd, buf, counts[k], 1)) < 0)
				goto ioerr;
			s[r] = ms;
			if ((ms = commit(fd, buf, counts[k], 0)) < 0)
				goto ioerr;
			c[r] = ms;
		}
		ms_s = median_sort(s, o->rounds);
		ms_c = median_sort(c, o->rounds);
		printf("  %5u  %8.3f, %8.3f         %8.3f, %8.3f         %.2f\n", counts[k], ms_s,
			p99(s, o->rounds), ms_c, p99(c, o->rounds), ms_c > 0 ? ms_s / ms_c : 0);
	}
	rc = 0;
	goto out;
ioerr:
	fprintf(stderr, "bench_pages: I/O error on a scratch file in %s: %s\n", o->dir,
		strerror(errno));
out:
	free(buf);
	free(s);
	free(c);
	close(fd);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o = {.rounds = 200, .dir = "/var/tmp"};
	struct stat st;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			printf("usage: bench_pages [--rounds R] [--dir DIR]\n"
			       "What one durable commit costs by its page count: N 4 KiB pages\n"
			       "written apart (as an LMDB commit writes its dirty pages) or as one\n"
			       "run (the baseline: same bytes), then fdatasync, for N = 1, 4, 16, 64.\n"
			       "  --rounds R  commits of each kind per page count (default 200)\n"
			       "  --dir DIR   where the 256 MiB scratch file goes (default /var/tmp;\n"
			       "              not tmpfs, where fdatasync is free)\n");
			return 0;
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			o.dir = argv[++i];
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			if (bench_parse_ul("bench_pages", "--rounds", argv[++i], 10, 100000,
				    &o.rounds) != 0)
				return 2;
		} else {
			fprintf(stderr,
				"bench_pages: unknown or incomplete option '%s' (try --help)\n",
				argv[i]);
			return 2;
		}
	}
	if (stat(o.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "bench_pages: --dir %s is not a directory\n", o.dir);
		return 2;
	}
	return run(&o);
}
