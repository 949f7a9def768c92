/* SPDX-License-Identifier: Apache-2.0 */
/* bench_tlog: tlog-tiles upkeep against the bare audit log, proofs from tiles on a large log,
 * and the tlog-witness endpoint against a do-nothing HTTP handler, each in the same run. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../benchclock.h"
#include "auditlog.h"
#include "checkpoint.h"
#include "httpmini.h"
#include "merkle.h"
#include "tiles.h"
#include "tlogclient.h"
#include "witclient.h"
#include "witness.h"

#define ENTRY_BYTES 256

struct opts {
	uint64_t large;
	double seconds;
	size_t batch;
	int runs;
	int proofs;
	int requests;
	const char *dir;
};

/* Sorts v; median, and the value at quantile q. */
static double
quant(double *v, size_t n, double q)
{
	size_t i;

	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(q * (double)n);
	if ((double)i < q * (double)n)
		i++;
	return v[i == 0 ? 0 : (i > n ? n - 1 : i - 1)];
}

static void
die(const char *what, int r, const struct paso_diag *d)
{
	fprintf(stderr, "bench_tlog: %s: %s %s\n", what, paso_errname(r), d ? d->msg : "");
	exit(1);
}

static void
fill_entry(uint8_t *e, size_t len, uint64_t i)
{
	memset(e, (int)(i * 131), len);
	memcpy(e, &i, sizeof(i));
}

/* One run: durable batches, a signed checkpoint each second; with_tiles adds their upkeep. */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One run; *in_tiles: share of the wall time in tiles calls; *per_cpu: entries per CPU-second
 * of the whole process (the tiles writer thread included, and its draining at close). */
static double
append_run(const struct opts *o, const struct checkpoint_signer *s, int with_tiles, int run,
	double *in_tiles, double *per_cpu)
{
	char dir[512], tdir[600], cmd[1300], *note = NULL;
	struct auditlog *log = NULL;
	struct tiles *t = NULL;
	struct paso_diag d = {0};
	uint8_t e[ENTRY_BYTES];
	double t0, last_cp, t1, spent = 0, c0;
	uint64_t i = 0;
	size_t k, nl;
	int r;

	(void)snprintf(dir, sizeof(dir), "%s/bench-tlog-append-%d-%d", o->dir, with_tiles, run);
	(void)snprintf(tdir, sizeof(tdir), "%s/tiles", dir);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("rm", PASO_E_IO, NULL);
	if ((r = auditlog_open(dir, &log, &d)) != 0)
		die("auditlog_open", r, &d);
	if (with_tiles && (r = tiles_open(tdir, &t, &d)) != 0)
		die("tiles_open", r, &d);
	c0 = cpu_now();
	t0 = last_cp = now_s();
	do {
		for (k = 0; k < o->batch; k++, i++) {
			fill_entry(e, sizeof(e), i);
			if ((r = auditlog_append(log, e, sizeof(e), NULL)) != 0)
				die("append", r, NULL);
		}
		if ((r = auditlog_sync(log)) != 0)
			die("sync", r, NULL);
		t1 = now_s();
		if (with_tiles && (r = tiles_sync(t, log, &d)) != 0)
			die("tiles_sync", r, &d);
		spent += now_s() - t1;
		if (now_s() - last_cp >= 1.0) {
			if ((r = auditlog_checkpoint(log, s)) != 0)
				die("checkpoint", r, NULL);
			if (with_tiles) {
				t1 = now_s();
				if ((r = auditlog_latest_checkpoint(log, &note, &nl)) != 0 ||
					(r = tiles_publish(t, log, note, nl, &d)) != 0)
					die("tiles_publish", r, &d);
				free(note);
				spent += now_s() - t1;
			}
			last_cp = now_s();
		}
	} while (now_s() - t0 < o->seconds);
	t0 = now_s() - t0;
	*in_tiles = spent / t0;
	tiles_close(t);
	auditlog_close(log);
	*per_cpu = (double)i / (cpu_now() - c0);
	/* Kept until every run is over (bench_append removes them): removing hundreds of thousands
	 * of tile files between runs makes the next run's file creation scan ext4's recently
	 * deleted inodes (ext4_create -> recently_deleted was ~30 % of the profile), a cost of the
	 * benchmark, not of the hub, which deletes no tiles. */
	return (double)i / t0;
}

static void
bench_append(const struct opts *o, const struct checkpoint_signer *s)
{
	double plain[32], tiled[32], ratio[32], share[32], unused, cp[32], ct[32], cratio[32];
	int i;

	char cmd[700];

	for (i = 0; i < o->runs; i++) {
		/* Alternate, so that drift in the machine's load hits both sides alike. */
		plain[i] = append_run(o, s, 0, i, &unused, &cp[i]);
		tiled[i] = append_run(o, s, 1, i, &share[i], &ct[i]);
		ratio[i] = tiled[i] / plain[i];
		cratio[i] = ct[i] / cp[i];
	}
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'/bench-tlog-append-*", o->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_tlog: %s failed\n", cmd);
	printf("append, batches of %zu x %d-byte entries, fdatasync per batch, checkpoint each "
	       "second, %d runs of %.0f s each:\n",
		o->batch, ENTRY_BYTES, o->runs, o->seconds);
	printf("  baseline (audit log, no tiles): median %.0f entries/s\n",
		median_sort(plain, (size_t)o->runs));
	printf("  with tlog-tiles upkeep:         median %.0f entries/s\n",
		median_sort(tiled, (size_t)o->runs));
	printf("  appending thread's time in tiles_sync + tiles_publish: median %.1f %%\n",
		100 * median_sort(share, (size_t)o->runs));
	printf("  per CPU-second of the process (writer thread included): baseline median %.0f, "
	       "with tiles %.0f; ratio median %.3f, range %.3f..%.3f\n",
		median_sort(cp, (size_t)o->runs), median_sort(ct, (size_t)o->runs),
		median_sort(cratio, (size_t)o->runs), quant(cratio, (size_t)o->runs, 0),
		quant(cratio, (size_t)o->runs, 1));
	printf("  ratio tiles/baseline: median %.3f, range %.3f..%.3f (target >= 0.8)\n",
		median_sort(ratio, (size_t)o->runs), quant(ratio, (size_t)o->runs, 0),
		quant(ratio, (size_t)o->runs, 1));
}

/* Builds (or reuses) the large log with its tiles. */
static void
build_large(const struct opts *o, const struct checkpoint_signer *s, char *dir, size_t cap)
{
	char tdir[600], *note = NULL;
	struct auditlog *log = NULL;
	struct tiles *t = NULL;
	struct paso_diag d = {0};
	uint8_t e[64];
	uint64_t i;
	size_t nl;
	double t0 = now_s();
	int r;

	(void)snprintf(dir, cap, "%s/bench-tlog-large-%" PRIu64, o->dir, o->large);
	(void)snprintf(tdir, sizeof(tdir), "%s/tiles", dir);
	if ((r = auditlog_open(dir, &log, &d)) != 0)
		die("auditlog_open", r, &d);
	if ((r = tiles_open(tdir, &t, &d)) != 0)
		die("tiles_open", r, &d);
	if (auditlog_size(log) == o->large && tiles_size(t) == o->large) {
		tiles_close(t);
		auditlog_close(log);
		printf("  (reusing %s)\n", dir);
		return;
	}
	for (i = auditlog_size(log); i < o->large; i++) {
		fill_entry(e, sizeof(e), i);
		if ((r = auditlog_append(log, e, sizeof(e), NULL)) != 0)
			die("append", r, NULL);
		if ((i + 1) % 1000000 == 0 || i + 1 == o->large) {
			if ((r = auditlog_sync(log)) != 0 || (r = tiles_sync(t, log, &d)) != 0)
				die("build", r, &d);
		}
	}
	if ((r = auditlog_checkpoint(log, s)) != 0 ||
		(r = auditlog_latest_checkpoint(log, &note, &nl)) != 0 ||
		(r = tiles_publish(t, log, note, nl, &d)) != 0)
		die("publish", r, &d);
	free(note);
	tiles_close(t);
	auditlog_close(log);
	printf("  (built %" PRIu64 " entries of 64 bytes with tiles in %.0f s: %s)\n", o->large,
		now_s() - t0, dir);
}

/* ceil(log256 n) + 1, in integers. */
static int
levels_bound(uint64_t n)
{
	int k = 0;
	uint64_t p = 1;

	while (p < n && k < 8) {
		p = k < 7 ? p * 256 : UINT64_MAX;
		k++;
	}
	return k + 1;
}

/* The right edge of the tree of size entries, as a follower verified it. */
static void
edge_of(struct auditlog *log, uint64_t size, struct merkle_frontier *f)
{
	unsigned l;

	merkle_frontier_init(f);
	f->size = size;
	for (l = 0; l < 64; l++)
		if (((size >> l) & 1) != 0 && auditlog_node(log, l, (size >> l) - 1, f->h[l]) != 0)
			die("edge", PASO_E_IO, NULL);
}

static void
proof_series(const char *label, const char *base, const struct checkpoint_verifier *v, int n,
	int keep_cache, const struct merkle_frontier *edge)
{
	struct tlogclient *c = NULL;
	struct checkpoint cp;
	struct paso_diag d = {0};
	double *ms = calloc((size_t)n, sizeof(double)), *files = calloc((size_t)n, sizeof(double));
	double t0;
	uint64_t idx, state = 42;
	int i, r;

	if ((r = tlogclient_open(base, v, &c, &d)) != 0)
		die("tlogclient_open", r, &d);
	t0 = now_s();
	if ((r = tlogclient_checkpoint(c, &cp, NULL, NULL, &d)) != 0)
		die("checkpoint", r, &d);
	t0 = now_s() - t0;
	if (edge != NULL)
		tlogclient_set_edge(c, edge);
	for (i = 0; i < n; i++) {
		state = state * 6364136223846793005ULL + 1442695040888963407ULL;
		idx = (state >> 11) % cp.size;
		if (!keep_cache)
			tlogclient_drop_cache(c);
		tlogclient_reset_fetches(c);
		ms[i] = now_s();
		if ((r = tlogclient_prove_entry(c, &cp, idx, NULL, NULL, &d)) != 0)
			die("prove", r, &d);
		ms[i] = (now_s() - ms[i]) * 1e3;
		files[i] = (double)tlogclient_fetches(c);
	}
	printf("  %-34s median %.3f ms, p99 %.3f ms, max %.3f ms; files read per proof: median "
	       "%.0f, max %.0f (checkpoint fetch+verify %.3f ms)\n",
		label, median_sort(ms, (size_t)n), quant(ms, (size_t)n, 0.99),
		quant(ms, (size_t)n, 1), median_sort(files, (size_t)n), quant(files, (size_t)n, 1),
		t0 * 1e3);
	free(ms);
	free(files);
	tlogclient_close(c);
}

static void
bench_proofs(const struct opts *o, const struct checkpoint_signer *s,
	const struct checkpoint_verifier *v)
{
	struct httpmini_server *srv = NULL;
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_BYTES], leaf[32], root[32];
	struct merkle_frontier edge;
	char dir[512], tdir[600], url[64];
	double *ms = calloc((size_t)o->proofs, sizeof(double));
	uint64_t state = 42, idx;
	size_t np;
	int i, r;

	printf("inclusion proofs of random entries of a %" PRIu64 "-entry log (bound: ceil(log256 "
	       "n)+1 = %d tiles):\n",
		o->large, levels_bound(o->large));
	build_large(o, s, dir, sizeof(dir));
	(void)snprintf(tdir, sizeof(tdir), "%s/tiles", dir);
	/* Baseline: the same proof from the hub's own hashes file, no tiles, no fetching. */
	if ((r = auditlog_open_readonly(dir, &log, &d)) != 0)
		die("open", r, &d);
	if ((r = auditlog_root(log, o->large, root)) != 0)
		die("root", r, NULL);
	for (i = 0; i < o->proofs; i++) {
		state = state * 6364136223846793005ULL + 1442695040888963407ULL;
		idx = (state >> 11) % o->large;
		ms[i] = now_s();
		if ((r = auditlog_inclusion(log, idx, o->large, path, MERKLE_MAX_PROOF, &np)) !=
				0 ||
			(r = auditlog_leaf_hash(log, idx, leaf)) != 0 ||
			merkle_verify_inclusion(
				leaf, idx, o->large, (const uint8_t(*)[32])path, np, root) != 0)
			die("baseline proof", r, NULL);
		ms[i] = (now_s() - ms[i]) * 1e3;
	}
	edge_of(log, o->large, &edge);
	auditlog_close(log);
	printf("  %-34s median %.3f ms, p99 %.3f ms\n", "baseline: local hashes file",
		median_sort(ms, (size_t)o->proofs), quant(ms, (size_t)o->proofs, 0.99));
	free(ms);
	proof_series("tiles directory, nothing cached:", tdir, v, o->proofs, 0, NULL);
	if ((r = httpmini_server_start(
		     "127.0.0.1", "0", 0, 10000, httpmini_static_handler, tdir, &srv, &d)) != 0)
		die("server", r, &d);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/", httpmini_server_port(srv));
	proof_series("HTTP loopback, nothing cached:", url, v, o->proofs, 0, NULL);
	proof_series("HTTP loopback, right edge followed:", url, v, o->proofs, 0, &edge);
	proof_series("HTTP loopback, tile cache kept:", url, v, o->proofs, 1, NULL);
	httpmini_server_stop(srv);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Files read per proof at many published sizes: multiples of 65,536, of 256 only, and neither;
 * each with random entries, cold and with the right edge a follower keeps.
 */
static void
bench_sizes(const struct opts *o, const struct checkpoint_signer *s,
	const struct checkpoint_verifier *v)
{
	enum { NSIZES = 60, LEAVES = 50, TOP = 300000 };
	const char *cls[3] = {
		"multiple of 65,536", "multiple of 256 only", "not a multiple of 256"};
	double cold[3][NSIZES * LEAVES], warm[3][NSIZES * LEAVES];
	size_t nc[3] = {0}, over_cold[3] = {0}, over_warm[3] = {0}, nsz[3] = {0};
	uint64_t sizes[NSIZES], state = 99, idx, k;
	struct auditlog *log = NULL;
	struct tiles *t = NULL;
	struct tlogclient *c = NULL;
	struct merkle_frontier edge, none;
	struct checkpoint cp;
	struct paso_diag d = {0};
	char dir[512], tdir[600], cmd[1300], *note;
	uint8_t e[64];
	size_t i, j, nl;
	int r, cl, bound;

	for (i = 0; i < NSIZES; i++) {
		state = state * 6364136223846793005ULL + 1442695040888963407ULL;
		k = 2 + (state >> 11) % (TOP - 2);
		sizes[i] = i < 4 ? 65536 * (i + 1) : i < 24 ? k / 256 * 256 : k;
	}
	qsort(sizes, NSIZES, sizeof(sizes[0]), cmp_u64);
	(void)snprintf(dir, sizeof(dir), "%s/bench-tlog-sizes", o->dir);
	(void)snprintf(tdir, sizeof(tdir), "%s/tiles", dir);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("rm", PASO_E_IO, NULL);
	if ((r = auditlog_open(dir, &log, &d)) != 0 || (r = tiles_open(tdir, &t, &d)) != 0 ||
		(r = tlogclient_open(tdir, v, &c, &d)) != 0)
		die("open", r, &d);
	merkle_frontier_init(&none);
	for (i = 0; i < NSIZES; i++) {
		if (i > 0 && sizes[i] == sizes[i - 1])
			continue;
		for (k = auditlog_size(log); k < sizes[i]; k++) {
			fill_entry(e, sizeof(e), k);
			if ((r = auditlog_append(log, e, sizeof(e), NULL)) != 0)
				die("append", r, NULL);
		}
		if ((r = auditlog_sync(log)) != 0 || (r = tiles_sync(t, log, &d)) != 0 ||
			(r = auditlog_checkpoint(log, s)) != 0 ||
			(r = auditlog_latest_checkpoint(log, &note, &nl)) != 0 ||
			(r = tiles_publish(t, log, note, nl, &d)) != 0)
			die("publish", r, &d);
		free(note);
		memset(&cp, 0, sizeof(cp));
		cp.size = sizes[i];
		if ((r = auditlog_root(log, cp.size, cp.root)) != 0)
			die("root", r, NULL);
		edge_of(log, cp.size, &edge);
		cl = cp.size % 65536 == 0 ? 0 : cp.size % 256 == 0 ? 1 : 2;
		bound = levels_bound(cp.size);
		nsz[cl]++;
		for (j = 0; j < LEAVES; j++) {
			state = state * 6364136223846793005ULL + 1442695040888963407ULL;
			idx = (state >> 11) % cp.size;
			tlogclient_set_edge(c, &none);
			tlogclient_drop_cache(c);
			tlogclient_reset_fetches(c);
			if ((r = tlogclient_prove_entry(c, &cp, idx, NULL, NULL, &d)) != 0)
				die("prove", r, &d);
			cold[cl][nc[cl]] = (double)tlogclient_fetches(c);
			over_cold[cl] += tlogclient_fetches(c) > (uint64_t)bound;
			tlogclient_set_edge(c, &edge);
			tlogclient_drop_cache(c);
			tlogclient_reset_fetches(c);
			if ((r = tlogclient_prove_entry(c, &cp, idx, NULL, NULL, &d)) != 0)
				die("prove", r, &d);
			warm[cl][nc[cl]] = (double)tlogclient_fetches(c);
			over_warm[cl] += tlogclient_fetches(c) > (uint64_t)bound;
			nc[cl]++;
		}
	}
	printf("files read per proof (bundle + tiles, checkpoint excluded) at published sizes up to "
	       "%d, %d random entries each; bound ceil(log256 n)+1 (3 up to 65,536, then 4):\n",
		TOP, LEAVES);
	for (cl = 0; cl < 3; cl++)
		if (nc[cl] > 0)
			printf("  n %-22s (%2zu sizes): cold median %.0f max %.0f, over the bound "
			       "%zu/%zu; right edge followed: median %.0f max %.0f, over %zu/%zu\n",
				cls[cl], nsz[cl], median_sort(cold[cl], nc[cl]),
				quant(cold[cl], nc[cl], 1), over_cold[cl], nc[cl],
				median_sort(warm[cl], nc[cl]), quant(warm[cl], nc[cl], 1),
				over_warm[cl], nc[cl]);
	tlogclient_close(c);
	tiles_close(t);
	auditlog_close(log);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_tlog: %s failed\n", cmd);
}

static void
null_handler(void *ctx, const char *method, const char *path, const uint8_t *body, size_t len,
	struct httpmini_reply *reply)
{
	(void)ctx;
	(void)method;
	(void)path;
	(void)body;
	(void)len;
	reply->status = 200;
	reply->content_type = "text/plain";
	reply->body = strdup("ok\n");
	reply->len = 3;
}

/* Sends each request body in turn; per-request latencies into ms. */
static double
post_series(unsigned port, char **bodies, size_t *lens, int n, int want, double *ms)
{
	struct httpmini_response resp;
	struct httpmini_url u;
	struct paso_diag d = {0};
	char url[64];
	double t0 = now_s();
	int i, r;

	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	(void)httpmini_parse_url(url, &u, &d);
	for (i = 0; i < n; i++) {
		ms[i] = now_s();
		if ((r = httpmini_request(&u, "POST", "/add-checkpoint", "text/plain",
			     (const uint8_t *)bodies[i], lens[i], 65536, 10000, &resp, &d)) != 0)
			die("post", r, &d);
		if (resp.status != want) {
			fprintf(stderr, "bench_tlog: request %d: HTTP %d: %s\n", i, resp.status,
				(char *)resp.body);
			exit(1);
		}
		free(resp.body);
		ms[i] = (now_s() - ms[i]) * 1e3;
	}
	return (double)n / (now_s() - t0);
}

static void
bench_witness(const struct opts *o, const struct checkpoint_signer *s, const char *vkey)
{
	struct httpmini_server *srv = NULL, *nul = NULL;
	struct witness *w = NULL;
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_BYTES], root[32], e[64];
	char dir[512], wdir[600], cmd[1300], **bodies, *note;
	size_t *lens, np;
	double *ms = calloc((size_t)o->requests, sizeof(double)), rate, nrate, rates[32],
	       nrates[32], p99[32], ratio[32];
	uint64_t i, size;
	int k, run, r;

	(void)snprintf(dir, sizeof(dir), "%s/bench-tlog-witness", o->dir);
	(void)snprintf(wdir, sizeof(wdir), "%s/witness", dir);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_tlog: %s failed\n", cmd);
	if ((r = auditlog_open(dir, &log, &d)) != 0)
		die("open", r, &d);
	for (i = 0; i < (uint64_t)o->requests * 10; i++) {
		fill_entry(e, sizeof(e), i);
		(void)auditlog_append(log, e, sizeof(e), NULL);
	}
	(void)auditlog_sync(log);
	bodies = calloc((size_t)o->requests * (size_t)o->runs, sizeof(char *));
	lens = calloc((size_t)o->requests * (size_t)o->runs, sizeof(size_t));
	/* Checkpoints growing by 10 entries per request (runs after the first continue the log). */
	for (k = 0; k < o->requests * o->runs; k++) {
		size = (uint64_t)k + 1;
		(void)auditlog_root(log, size, root);
		if ((r = checkpoint_sign(s, size, root, &note)) != 0)
			die("sign", r, NULL);
		np = 0;
		if (k > 0 && (r = auditlog_consistency(
				      log, size - 1, size, proof, MERKLE_MAX_PROOF, &np)) != 0)
			die("consistency", r, NULL);
		if ((r = witness_format_request(k > 0 ? size - 1 : 0, (const uint8_t(*)[32])proof,
			     np, note, strlen(note), &bodies[k], &lens[k])) != 0)
			die("format", r, NULL);
		free(note);
	}
	if ((r = witness_open(wdir, "bench.example/witness", &w, &d)) != 0 ||
		(r = witness_add_log(w, vkey, &d)) != 0)
		die("witness", r, &d);
	if ((r = httpmini_server_start("127.0.0.1", "0", WITNESS_MAX_BODY, 5000,
		     witness_http_handler, w, &srv, &d)) != 0 ||
		(r = httpmini_server_start("127.0.0.1", "0", WITNESS_MAX_BODY, 5000, null_handler,
			 NULL, &nul, &d)) != 0)
		die("server", r, &d);
	for (run = 0; run < o->runs; run++) {
		nrate = post_series(httpmini_server_port(nul), bodies + run * o->requests,
			lens + run * o->requests, o->requests, 200, ms);
		rate = post_series(httpmini_server_port(srv), bodies + run * o->requests,
			lens + run * o->requests, o->requests, 200, ms);
		p99[run] = quant(ms, (size_t)o->requests, 0.99);
		rates[run] = rate;
		nrates[run] = nrate;
		ratio[run] = rate / nrate;
	}
	printf("witness add-checkpoint over loopback HTTP, one client, %d requests x %d runs, each "
	       "a new checkpoint with its consistency proof, state fsync'd before each answer:\n",
		o->requests, o->runs);
	printf("  baseline (same requests to a do-nothing handler): median %.0f req/s\n",
		median_sort(nrates, (size_t)o->runs));
	printf("  witness: median %.0f req/s (range %.0f..%.0f), p99 latency median %.2f ms "
	       "(range %.2f..%.2f) (targets >= 100 req/s, p99 <= 1000 ms)\n",
		median_sort(rates, (size_t)o->runs), quant(rates, (size_t)o->runs, 0),
		quant(rates, (size_t)o->runs, 1), median_sort(p99, (size_t)o->runs),
		quant(p99, (size_t)o->runs, 0), quant(p99, (size_t)o->runs, 1));
	printf("  ratio witness/baseline: median %.3f\n", median_sort(ratio, (size_t)o->runs));
	httpmini_server_stop(srv);
	httpmini_server_stop(nul);
	witness_close(w);
	auditlog_close(log);
	for (k = 0; k < o->requests * o->runs; k++)
		free(bodies[k]);
	free(bodies);
	free(lens);
	free(ms);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_tlog: %s failed\n", cmd);
}

static void
usage(void)
{
	fputs("usage: bench_tlog [--large N] [--seconds S] [--batch B] [--runs R] [--proofs P]\n"
	      "                  [--requests K] [--dir PARENT]\n"
	      "                  [--only append|proofs|sizes|witness]\n",
		stderr);
	exit(2);
}

/* A whole number lo..hi, or the usage message (strtoull with end and range checks). */
static uint64_t
number(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "bench_tlog: %s: a whole number %llu..%llu: '%s'\n", opt,
			(unsigned long long)lo, (unsigned long long)hi, s);
		usage();
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct opts o = {.large = 10000000,
		.seconds = 3,
		.batch = 100,
		.runs = 5,
		.proofs = 1000,
		.requests = 1000,
		.dir = "/var/tmp"};
	struct checkpoint_signer *s = NULL;
	struct checkpoint_verifier *v = NULL;
	const char *only = NULL;
	char *sk = NULL, *vk = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--large") == 0)
			o.large = number(argv[i], argv[i + 1], 1, 1000000000), i++;
		else if (strcmp(argv[i], "--seconds") == 0)
			o.seconds = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--batch") == 0)
			o.batch = number(argv[i], argv[i + 1], 1, 1000000), i++;
		else if (strcmp(argv[i], "--runs") == 0)
			o.runs = (int)number(argv[i], argv[i + 1], 1, 100), i++;
		else if (strcmp(argv[i], "--proofs") == 0)
			o.proofs = (int)number(argv[i], argv[i + 1], 1, 10000000), i++;
		else if (strcmp(argv[i], "--requests") == 0)
			o.requests = (int)number(argv[i], argv[i + 1], 1, 10000000), i++;
		else if (strcmp(argv[i], "--dir") == 0)
			o.dir = argv[++i];
		else if (strcmp(argv[i], "--only") == 0)
			only = argv[++i];
		else
			usage();
	}
	if (o.large < 2 || o.batch < 1 || o.runs < 1 || o.runs > 32 || o.proofs < 1 ||
		o.requests < 1 || o.seconds <= 0)
		usage();
	if (sodium_init() < 0 || checkpoint_keygen("bench.example/log", &sk, &vk) != 0 ||
		checkpoint_signer_from_text(sk, &s) != 0 ||
		checkpoint_verifier_from_vkey(vk, &v) != 0)
		die("keys", PASO_E_INTERNAL, NULL);
	if (only == NULL || strcmp(only, "append") == 0)
		bench_append(&o, s);
	if (only == NULL || strcmp(only, "witness") == 0)
		bench_witness(&o, s, vk);
	if (only == NULL || strcmp(only, "proofs") == 0) {
		/* The large log signs with its own key: reused between runs, so keep it stable. */
		char kp[600];
		FILE *f;

		(void)snprintf(kp, sizeof(kp), "%s/bench-tlog-large.key", o.dir);
		if ((f = fopen(kp, "r")) != NULL) {
			char buf[512];

			if (fgets(buf, sizeof(buf), f) != NULL) {
				checkpoint_signer_free(s);
				checkpoint_verifier_free(v);
				free(vk);
				vk = NULL;
				if (checkpoint_signer_from_text(buf, &s) != 0 ||
					checkpoint_signer_vkey(s, &vk) != 0 ||
					checkpoint_verifier_from_vkey(vk, &v) != 0)
					die("stored key", PASO_E_INTERNAL, NULL);
			}
			fclose(f);
		} else if ((f = fopen(kp, "w")) != NULL) {
			fputs(sk, f);
			fclose(f);
		}
		bench_proofs(&o, s, v);
	}
	if (only == NULL || strcmp(only, "sizes") == 0)
		bench_sizes(&o, s, v);
	checkpoint_signer_free(s);
	checkpoint_verifier_free(v);
	checkpoint_text_free(sk);
	free(vk);
	return 0;
}
