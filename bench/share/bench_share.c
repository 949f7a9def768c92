/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sharing between two real hubs on loopback. In each run: a national hub and a partner are
 * created and trust each other; kiosks enrol P people and send C crossings while the partner is
 * down (the baseline: the hub's own crossing ingest, durable, measured in the same run, with
 * the outbox filling beside it); then the partner starts and the time until it has durably
 * received every bulk record (two rules: templates and records) gives the share throughput.
 * Last, hit/no-hit latency: Q queries (half enrolled people, half never enrolled) over one TLS
 * link as a partner sends them, each timed from send to answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "capture.h"
#include "frame.h"
#include "paso.pb-c.h"
#include "population.h"
#include "sample_pb.h"
#include "tls.h"
#include "../benchclock.h"

extern char **environ;

static const char *bin = "build/bin";

/* Hubs this run started and its scratch directory: stopped and removed on every exit,
 * failures included. */
static pid_t hubs[2];
static char scratch[600];

static void
stop_hubs(void)
{
	size_t i;

	for (i = 0; i < 2; i++)
		if (hubs[i] > 0) {
			kill(hubs[i], SIGTERM);
			(void)waitpid(hubs[i], NULL, 0);
			hubs[i] = 0;
		}
	if (scratch[0] != '\0') {
		const char *a[] = {"rm", "-rf", scratch, NULL};
		pid_t pid;

		if (posix_spawnp(&pid, "rm", NULL, NULL, (char *const *)a, environ) == 0)
			(void)waitpid(pid, NULL, 0);
		scratch[0] = '\0';
	}
}

static pid_t
spawn(const char *out, const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	char prog[1024];
	pid_t pid;

	(void)snprintf(prog, sizeof(prog), "%s/%s", bin, argv[0]);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (posix_spawn(&pid, prog, &fa, NULL, (char *const *)argv, environ) != 0) {
		fprintf(stderr, "bench_share: cannot run %s\n", prog);
		exit(1);
	}
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int
wait_pid(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if ((b = malloc((size_t)n + 1)) != NULL) {
		b[fread(b, 1, (size_t)n, f)] = '\0';
	}
	fclose(f);
	return b;
}

/* Runs argv to completion with output in out; exits on failure. */
static void
run(const char *out, const char *const argv[])
{
	if (wait_pid(spawn(out, argv)) != 0) {
		char *t = slurp(out);

		fprintf(stderr, "bench_share: %s %s failed:\n%s\n", argv[0], argv[1], t ? t : "");
		exit(1);
	}
}

static double
json_num(const char *json, const char *key)
{
	char pat[80];
	const char *p;

	(void)snprintf(pat, sizeof(pat), "\"%s\":", key);
	if (json == NULL || (p = strstr(json, pat)) == NULL)
		return -1;
	return strtod(p + strlen(pat), NULL);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "bench_share: cannot write %s\n", path);
		exit(1);
	}
}

static uint16_t
port_from(const char *path)
{
	char *t;
	int i;

	for (i = 0; i < 3000; i++) {
		if ((t = slurp(path)) != NULL && t[0] != '\0') {
			uint16_t p = (uint16_t)strtoul(t, NULL, 10);

			free(t);
			return p;
		}
		free(t);
		usleep(10000);
	}
	fprintf(stderr, "bench_share: no port in %s\n", path);
	exit(1);
}

static const char national_yaml[] =
	"name: bench-national\n"
	"store:\n  finger: true\n  face: true\n  iris: true\n"
	"sharing:\n"
	"  - partner: dhs\n    what: hit_no_hit\n    categories: all\n"
	"    purpose: case check\n    retention_days: 30\n    daily_budget: 10000000\n"
	"  - partner: dhs\n    what: templates\n    categories: all\n"
	"    purpose: bulk\n    retention_days: 3650\n"
	"  - partner: dhs\n    what: records\n    categories: all\n"
	"    purpose: bulk\n    retention_days: 3650\n";
static const char partner_yaml[] =
	"name: bench-partner\nstore:\n  finger: true\n  face: true\n  iris: true\n";

/* Sends q queries over one link and fills lat (ms); returns hits among enrolled probes. */
static int
queries(const char *par, uint16_t port, uint32_t people, int q, double *lat, int *misses_hit)
{
	struct population *pop = NULL;
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	char cert[1100], key[1100], ca[1100];
	int i, hits = 0;

	*misses_hit = 0;
	(void)snprintf(cert, sizeof(cert), "%s/peers/nat.crt", par);
	(void)snprintf(key, sizeof(key), "%s/peers/nat.key", par);
	(void)snprintf(ca, sizeof(ca), "%s/peers/nat.ca.crt", par);
	if (tls_ctx_new_client(cert, key, ca, "paso-hub", &ctx, &d) != 0 ||
		tls_connect(ctx, "127.0.0.1", port, 10000, &c, &d) != 0 ||
		population_new(1, people + (uint32_t)q, &pop) != 0) {
		fprintf(stderr, "bench_share: query link: %s\n", d.msg);
		exit(1);
	}
	for (i = 0; i < q; i++) {
		struct bio_sample s;
		Paso__Capture cap = PASO__CAPTURE__INIT;
		Paso__Query qu = PASO__QUERY__INIT;
		Paso__Envelope env = PASO__ENVELOPE__INIT, *ans = NULL;
		uint32_t person = (i % 2 == 0) ? (uint32_t)(i / 2) % people : people + (uint32_t)i;
		uint8_t *frame = NULL, *payload = NULL;
		size_t flen;
		uint32_t plen;
		double t0;

		memset(&s, 0, sizeof(s));
		if (capture_take(pop, person, 900000 + (uint32_t)i, PRESET_GOOD, &s) != 0 ||
			sample_to_pb(&s, &cap) != 0)
			exit(1);
		cap.capture_time = (uint64_t)time(NULL);
		qu.purpose = "case check";
		qu.probe = &cap;
		env.kiosk_id = "dhs";
		env.seq = (uint64_t)i + 1;
		env.body_case = PASO__ENVELOPE__BODY_QUERY;
		env.query = &qu;
		if (frame_encode(&env, FRAME_DEFAULT_MAX, &frame, &flen) != 0)
			exit(1);
		t0 = now_s();
		if (tls_write_all(c, frame, flen) != 0 ||
			tls_read_frame(c, FRAME_DEFAULT_MAX, &payload, &plen, &d) != 0 ||
			frame_decode(payload, plen, &ans, &d) != 0 ||
			ans->body_case != PASO__ENVELOPE__BODY_QUERY_ANSWER) {
			fprintf(stderr, "bench_share: query %d failed: %s\n", i, d.msg);
			exit(1);
		}
		lat[i] = (now_s() - t0) * 1000.0;
		if (i % 2 == 0)
			hits += ans->query_answer->hit;
		else
			*misses_hit += ans->query_answer->hit;
		paso__envelope__free_unpacked(ans, NULL);
		free(frame);
		free(payload);
		sample_pb_release(&cap);
		bio_sample_clear(&s);
	}
	tls_conn_free(c);
	tls_ctx_free(ctx);
	population_free(pop);
	return hits;
}

struct result {
	double cross_rate, kiosk_rate, share_rate, ratio, p50, p99;
};

/* The hub's own crossing ingest in this run: bench_ingest (pre-built frames, 5 kiosks, TLS,
 * durable before each Ack), one run of the same size. */
static double
hub_crossing_rate(const char *base, uint32_t people, uint32_t crossings, const char *out)
{
	char ps[16], cs[16], *txt, *p;
	double v = -1;
	const char *a[] = {"bench_ingest", "--people", ps, "--crossings", cs, "--runs", "1",
		"--bin", bin, "--dir", base, NULL};

	(void)snprintf(ps, sizeof(ps), "%u", people);
	(void)snprintf(cs, sizeof(cs), "%u", crossings);
	run(out, a);
	if ((txt = slurp(out)) != NULL && (p = strstr(txt, "crossings:")) != NULL)
		v = strtod(p + 10, NULL);
	free(txt);
	if (v <= 0) {
		fprintf(stderr, "bench_share: no crossing rate from bench_ingest\n");
		exit(1);
	}
	return v;
}

static void
one_run(const char *base, uint32_t people, uint32_t crossings, int q, struct result *res)
{
	char dir[600], nat[700], par[700], np[700], pp[700], nport[720], npport[720], ppport[720];
	char nlog[720], plog[720], out[720], addr[760], hub[64], ps[16], cs[16], kw[720], ca[760];
	char *txt;
	double t0, t1 = 0, t, *lat;
	long long first = -1;
	long long want, got = 0;
	pid_t nh, ph;
	int hits, wrong;

	(void)snprintf(dir, sizeof(dir), "%s/paso-bench-share-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "bench_share: mkdtemp in %s: %s\n", base, strerror(errno));
		exit(1);
	}
	(void)snprintf(scratch, sizeof(scratch), "%s", dir);
	(void)snprintf(nat, sizeof(nat), "%s/nat", dir);
	(void)snprintf(par, sizeof(par), "%s/dhs", dir);
	(void)snprintf(np, sizeof(np), "%s/nat.yaml", dir);
	(void)snprintf(pp, sizeof(pp), "%s/par.yaml", dir);
	(void)snprintf(out, sizeof(out), "%s/out.txt", dir);
	(void)snprintf(nlog, sizeof(nlog), "%s/nat.log", dir);
	(void)snprintf(plog, sizeof(plog), "%s/dhs.log", dir);
	(void)snprintf(nport, sizeof(nport), "%s/nat.port", dir);
	(void)snprintf(npport, sizeof(npport), "%s/nat.peerport", dir);
	(void)snprintf(ppport, sizeof(ppport), "%s/dhs.peerport", dir);
	(void)snprintf(kw, sizeof(kw), "%s/kw", dir);
	write_text(np, national_yaml);
	write_text(pp, partner_yaml);
	{
		const char *a1[] = {"paso-hub", "init", nat, "--name", "nat", "--policy", np, NULL};
		const char *a2[] = {"paso-hub", "init", par, "--name", "dhs", "--role", "partner",
			"--policy", pp, NULL};
		run(out, a1);
		run(out, a2);
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", par);
	{
		const char *a[] = {
			"paso-hub", "partner", "add", nat, "--name", "dhs", "--ca", ca, NULL};
		run(out, a);
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", nat);
	{
		const char *a[] = {
			"paso-hub", "partner", "add", par, "--name", "nat", "--ca", ca, NULL};
		run(out, a);
	}
	{
		static const char *const ks[] = {"kiosk-ciudad-hidalgo", "kiosk-talisman",
			"kiosk-ciudad-cuauhtemoc", "kiosk-el-ceibo", "station-siglo-xxi"};
		size_t i;

		for (i = 0; i < 5; i++) {
			const char *a[] = {"paso-hub", "issue", nat, "--kiosk", ks[i], NULL};
			run(out, a);
		}
	}
	/* The partner's port is reserved first (started, then stopped) so the national hub knows
	 * where to send; it stays down while the kiosks run. */
	{
		const char *a[] = {"paso-hub", "serve", par, "--port", "0", "--peer-port", "0",
			"--peer-port-file", ppport, NULL};

		ph = spawn(plog, a);
		(void)snprintf(addr, sizeof(addr), "127.0.0.1:%u\n", (unsigned)port_from(ppport));
		kill(ph, SIGTERM);
		wait_pid(ph);
	}
	(void)snprintf(ca, sizeof(ca), "%s/peers/dhs.addr", nat);
	write_text(ca, addr);
	{
		const char *a[] = {"paso-hub", "serve", nat, "--port", "0", "--port-file", nport,
			"--peer-port", "0", "--peer-port-file", npport, NULL};
		nh = hubs[0] = spawn(nlog, a);
	}
	(void)snprintf(hub, sizeof(hub), "127.0.0.1:%u", (unsigned)port_from(nport));
	(void)snprintf(ps, sizeof(ps), "%u", people);
	(void)snprintf(cs, sizeof(cs), "%u", crossings);
	{
		const char *a[] = {"paso-kiosk", "run", "--deployment", nat, "--hub", hub,
			"--people", ps, "--crossings", cs, "--identify", "0", "--seed", "1",
			"--workdir", kw, "--json", NULL};
		run(out, a);
	}
	txt = slurp(out);
	res->kiosk_rate = json_num(txt, "crossing_messages") / json_num(txt, "crossing_seconds");
	want = 2 * (long long)json_num(txt, "enrolled");
	free(txt);
	/* The partner comes up on the port the national hub knows: time until all is received. */
	{
		char pstr[16];
		const char *a[] = {
			"paso-hub", "serve", par, "--port", "0", "--peer-port", pstr, NULL};

		(void)snprintf(pstr, sizeof(pstr), "%s", strchr(addr, ':') + 1);
		pstr[strcspn(pstr, "\n")] = '\0';
		t0 = now_s();
		ph = hubs[1] = spawn(plog, a);
	}
	/* Timed from the first record the partner holds (the sender may be in its backoff when the
	 * partner comes up) to the last; records already there at the first look are left out. */
	for (;;) {
		const char *a[] = {"paso-hub", "stats", par, "--json", NULL};

		usleep(20000);
		if (wait_pid(spawn(out, a)) == 0 && (txt = slurp(out)) != NULL) {
			got = (long long)json_num(txt, "subjects");
			free(txt);
		}
		if (got > 0 && first < 0) {
			first = got;
			t1 = now_s();
		}
		if (got >= want || now_s() - t0 > 600)
			break;
	}
	t = now_s() - t0;
	if (got < want) {
		fprintf(stderr, "bench_share: partner has %lld of %lld records after 600 s\n", got,
			want);
		exit(1);
	}
	if (want - first < want / 2) {
		fprintf(stderr,
			"bench_share: %lld of %lld records arrived before the first look; "
			"use more --people\n",
			first, want);
		exit(1);
	}
	res->share_rate = (double)(want - first) / (now_s() - t1);
	if ((lat = calloc((size_t)q, sizeof(*lat))) == NULL)
		exit(1);
	hits = queries(par, port_from(npport), people, q, lat, &wrong);
	qsort(lat, (size_t)q, sizeof(*lat), cmp_double);
	res->p50 = lat[q / 2];
	res->p99 = lat[(size_t)((q - 1) * 0.99)];
	printf("  run: kiosks' crossings %.0f/s (paso-kiosk run, capture synthesis included); "
	       "bulk shares %.0f records/s (%lld records, all held %.2f s after the partner "
	       "started); hit/no-hit %d queries at %u enrolled: p50 %.2f ms, p99 %.2f ms, %d/%d "
	       "enrolled found, %d/%d never-enrolled matched\n",
		res->kiosk_rate, res->share_rate, want, t, q, people, res->p50, res->p99, hits,
		(q + 1) / 2, wrong, q / 2);
	free(lat);
	kill(nh, SIGTERM);
	kill(ph, SIGTERM);
	wait_pid(nh);
	wait_pid(ph);
	hubs[0] = hubs[1] = 0;
	/* The baseline, with both hubs stopped: the hub's own crossing ingest. */
	res->cross_rate = hub_crossing_rate(base, people, crossings, out);
	res->ratio = res->share_rate / res->cross_rate;
	printf("  run: the hub's own crossing ingest (bench_ingest) %.0f/s; share/ingest ratio "
	       "%.3f\n",
		res->cross_rate, res->ratio);
	{
		const char *a[] = {"rm", "-rf", dir, NULL};
		pid_t pid;

		if (posix_spawnp(&pid, "rm", NULL, NULL, (char *const *)a, environ) == 0)
			wait_pid(pid);
		scratch[0] = '\0';
	}
}

static void
stat3(const char *what, const char *unit, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf("  %-34s median %10.2f %s  (range %.2f .. %.2f, %d runs)\n", what, v[n / 2], unit,
		v[0], v[n - 1], n);
}

int
main(int argc, char **argv)
{
	const char *base = "/var/tmp";
	unsigned long people = 2000, crossings = 6000, q = 400, runs = 3;
	double cr[16], sr[16], ra[16], p50[16], p99[16];
	struct result res;
	int i;

	signal(SIGPIPE, SIG_IGN);
	atexit(stop_hubs);
	if (sodium_init() < 0)
		return 1;
	for (i = 1; i < argc; i++) {
		unsigned long *dst = NULL;

		if (strcmp(argv[i], "--bin") == 0 && i + 1 < argc)
			bin = argv[++i];
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			base = argv[++i];
		else if (strcmp(argv[i], "--people") == 0)
			dst = &people;
		else if (strcmp(argv[i], "--crossings") == 0)
			dst = &crossings;
		else if (strcmp(argv[i], "--queries") == 0)
			dst = &q;
		else if (strcmp(argv[i], "--runs") == 0)
			dst = &runs;
		else {
			fprintf(stderr,
				"usage: bench_share [--people N] [--crossings N] [--queries N] "
				"[--runs N<=16] [--bin DIR] [--dir DIR]\n");
			return 2;
		}
		if (dst != NULL) {
			char *end;

			if (i + 1 >= argc || (*dst = strtoul(argv[++i], &end, 10)) == 0 ||
				*end != '\0') {
				fprintf(stderr, "bench_share: %s needs a positive number\n",
					argv[i - 1]);
				return 2;
			}
		}
	}
	if (runs > 16)
		runs = 16;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bulk sharing hub -> partner (durable on both sides) against the hub's own crossing "
	       "ingest, and hit/no-hit latency: %lu people, %lu crossings, %lu queries\n",
		people, crossings, q);
	for (i = 0; i < (int)runs; i++) {
		one_run(base, (uint32_t)people, (uint32_t)crossings, (int)q, &res);
		cr[i] = res.cross_rate;
		sr[i] = res.share_rate;
		ra[i] = res.ratio;
		p50[i] = res.p50;
		p99[i] = res.p99;
	}
	stat3("hub crossing ingest (baseline)", "msg/s", cr, (int)runs);
	stat3("bulk share throughput", "rec/s", sr, (int)runs);
	stat3("share / ingest ratio (target >= 0.25)", "", ra, (int)runs);
	stat3("hit/no-hit latency p50", "ms", p50, (int)runs);
	stat3("hit/no-hit latency p99", "ms", p99, (int)runs);
	return 0;
}
