/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark: crossing answer times through TLS while the hub sweeps a large expired backlog,
 * against the same hub answering the same kind of crossings with nothing to sweep, in the same
 * run. The backlog (N crossing records of one day, 1,000,000 by default) is written by a fixture
 * builder straight through the hub's own vault and ledger (seeded, synthetic, sealed like the
 * hub seals them), since sending that many through TLS would take hours; then a real paso-hub
 * starts on the deployment with a simulated clock, people enrol over TLS, one kiosk sends
 * crossings one at a time (each waits for its durable answer) and the clock is moved one day,
 * so the whole backlog falls due at once and the hub's commit loop sweeps it between groups.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "capture.h"
#include "decide.h"
#include "deploy.h"
#include "frame.h"
#include "instant.h"
#include "keyring.h"
#include "kiosk.h"
#include "ledger.h"
#include "paso.pb-c.h"
#include "policy.h"
#include "population.h"
#include "sample_pb.h"
#include "tls.h"
#include "vault.h"
#include "../benchclock.h"

extern char **environ;

#define DAY 86400ull
#define KIOSK "bench-kiosk-00"
#define FIXTURE_PEOPLE 1000 /* the synthetic subjects the backlog's crossings belong to */
#define MAX_RUNS 9
#define MAX_LAT 20000

struct opts {
	unsigned long records, people, quiet, runs;
	const char *bin, *dir;
};

static double
p99(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(n * 99 + 99) / 100 - 1 < n ? (n * 99 + 99) / 100 - 1 : n - 1];
}

static int
parse_ulong(
	const char *opt, const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bench_sweep_load: %s wants a whole number in %lu..%lu: '%s'\n",
			opt, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * The fixture: FIXTURE_PEOPLE subjects enrolled on day `enrolled` and n crossing records of
 * day `day`, through vault_subject_create and vault_crossing_add in durable transactions of
 * 10,000 with the ledger's counters, exactly as the hub lays them out.
 */
static int
build_fixture(
	const char *hubdir, unsigned long n, uint32_t day, uint32_t enrolled, struct paso_diag *d)
{
	struct deploy_paths p;
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct ledger *l = NULL;
	struct ledger_txn *t = NULL;
	uint8_t ids[FIXTURE_PEOPLE][16], ev[160], rec[64];
	uint64_t rec_n;
	unsigned long i = 0, j;
	int r;

	Paso__SubjectRecord sr = PASO__SUBJECT_RECORD__INIT;
	size_t reclen;

	randombytes_buf(ev, sizeof(ev));
	/* People whose templates are on their cards: the gallery holds nothing of them. */
	sr.category = PASO__CATEGORY__REGIONAL_VISITOR;
	sr.enrolled_at = (uint64_t)enrolled * DAY;
	sr.expires_at = sr.enrolled_at + 1095 * DAY;
	if ((reclen = paso__subject_record__get_packed_size(&sr)) > sizeof(rec))
		return PASO_E_INTERNAL;
	reclen = paso__subject_record__pack(&sr, rec);
	if ((r = deploy_paths(hubdir, &p, d)) != 0 || (r = keyring_open(p.keys, &kr, d)) != 0 ||
		(r = vault_open(hubdir, kr, &v, d)) != 0 ||
		(r = ledger_open(p.audit, v, decide_count_keys, COUNT_N, &rec_n, &l, d)) != 0 ||
		(r = ledger_begin(l, &t)) != 0)
		goto out;
	for (j = 0; j < FIXTURE_PEOPLE; j++) {
		if ((r = vault_subject_create(ledger_store(t), NULL,
			     VAULT_EPOCH(POLICY_REC_ENROLMENT, enrolled), rec, reclen, ids[j])) !=
			0)
			goto out;
		ledger_count(t, COUNT_SUBJECTS, 1);
		ledger_count(t, COUNT_CAT_REGIONAL_VISITOR, 1);
	}
	if ((r = ledger_commit(t)) != 0)
		goto out;
	t = NULL;
	while (i < n) {
		if ((r = ledger_begin(l, &t)) != 0)
			goto out;
		for (j = 0; j < 10000 && i < n; j++, i++) {
			if ((r = vault_crossing_add(ledger_store(t), ids[i % FIXTURE_PEOPLE],
				     VAULT_EPOCH(POLICY_REC_CROSSING, day), (uint64_t)i + 1, ev,
				     sizeof(ev))) != 0)
				goto out;
			ledger_count(t, COUNT_CROSSINGS, 1);
		}
		r = ledger_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
	}
out:
	ledger_abort(t);
	ledger_close(l);
	vault_close(v);
	keyring_close(kr);
	return r;
}

/* n frames from KIOSK with seq from *seq: enrolments of people [0, n) or their crossings. */
static int
make_frames(struct population *pop, unsigned long n, unsigned long people, int crossing,
	uint64_t when, uint64_t *seq, uint8_t **buf, size_t *len)
{
	struct person_info pi;
	struct bio_sample s;
	Paso__Envelope env;
	Paso__Enroll en;
	Paso__Crossing cr;
	Paso__Capture cap;
	unsigned long i;
	uint32_t who;
	int r;

	for (i = 0; i < n; i++) {
		who = (uint32_t)(crossing ? i % people : i);
		memset(&s, 0, sizeof(s));
		if ((r = population_person(pop, who, &pi)) != 0 ||
			(r = capture_take(
				 pop, who, crossing ? 1 + (uint32_t)i : 0, PRESET_GOOD, &s)) != 0)
			return r;
		if (crossing && (r = kiosk_two_fingers(&s)) != 0)
			return r;
		paso__envelope__init(&env);
		paso__capture__init(&cap);
		if ((r = sample_to_pb(&s, &cap)) != 0)
			return r;
		cap.capture_time = when;
		env.kiosk_id = KIOSK;
		env.seq = ++*seq;
		if (!crossing) {
			paso__enroll__init(&en);
			en.capture = &cap;
			en.category = pi.category;
			en.card_number = pi.card;
			en.crossing_point = "Ciudad Hidalgo";
			env.body_case = PASO__ENVELOPE__BODY_ENROLL;
			env.enroll = &en;
		} else {
			paso__crossing__init(&cr);
			cr.capture = &cap;
			cr.card_number = pi.card;
			cr.direction = PASO__DIRECTION__ENTRY;
			cr.crossing_point = "Ciudad Hidalgo";
			env.body_case = PASO__ENVELOPE__BODY_CROSSING;
			env.crossing = &cr;
		}
		r = frame_encode(&env, FRAME_DEFAULT_MAX, &buf[i], &len[i]);
		sample_pb_release(&cap);
		bio_sample_clear(&s);
		if (r != 0)
			return r;
	}
	return 0;
}

static pid_t
spawn(const char *bin, const char *const argv[], const char *logpath)
{
	char prog[1024];
	posix_spawn_file_actions_t fa;
	pid_t pid;

	(void)snprintf(prog, sizeof(prog), "%s/paso-hub", bin);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (posix_spawn(&pid, prog, &fa, NULL, (char *const *)argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* 1 if the hub's log holds a line with needle. */
static int
log_has(const char *logpath, const char *needle)
{
	char line[1024];
	int found = 0;
	FILE *f = fopen(logpath, "r");

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* Sends frame i and waits for its answer: seconds, or -1 (refusals counted in *refused). */
static double
one(struct tls_conn *c, const uint8_t *buf, size_t len, unsigned long *refused)
{
	struct paso_diag d = {0};
	Paso__Envelope *env;
	double t0 = now_s();
	uint8_t *p;
	uint32_t n;

	if (tls_write_all(c, buf, len) != 0 ||
		tls_read_frame(c, FRAME_DEFAULT_MAX, &p, &n, &d) != 0)
		return -1;
	if (frame_decode(p, n, &env, &d) == 0) {
		*refused += env->body_case != PASO__ENVELOPE__BODY_ACK;
		paso__envelope__free_unpacked(env, NULL);
	}
	free(p);
	return now_s() - t0;
}

struct result {
	double quiet_p99, sweep_p99, sweep_s, quiet_p50, sweep_p50;
	size_t quiet_n, sweep_n;
};

static int
run_once(const struct opts *o, struct population *pop, const char *root, struct result *res)
{
	char hubdir[1100], portfile[1100], logpath[1100], start[INSTANT_TEXT_BYTES], clk[64];
	char polpath[1100];
	char cert[1200], key[1200], ca[1200];
	const uint32_t keep = 1095; /* the bench policy's crossing and enrolment retention */
	const uint32_t day = 20819; /* 2027-01-01: the backlog's day */
	uint64_t t0 = ((uint64_t)day + keep) * DAY + 12 * 3600, seq = 0;
	struct paso_diag d = {0};
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = NULL;
	unsigned long nb = o->quiet * 40, i, refused = 0, nq;
	uint8_t **eb = calloc(o->people, sizeof(*eb)), **qb = calloc(o->quiet, sizeof(*qb));
	uint8_t **sb = calloc(nb, sizeof(*sb));
	size_t *el = calloc(o->people, sizeof(*el)), *ql = calloc(o->quiet, sizeof(*ql));
	size_t *sl = calloc(nb, sizeof(*sl));
	double *lq = calloc(o->quiet, sizeof(*lq)), *ls = calloc(nb, sizeof(*ls)), x, s0;
	pid_t hub = -1;
	int r = -1, sweeping = 0;
	FILE *f;

	memset(res, 0, sizeof(*res));
	if (!eb || !qb || !sb || !el || !ql || !sl || !lq || !ls)
		goto out;
	(void)snprintf(hubdir, sizeof(hubdir), "%s/hub", root);
	(void)snprintf(portfile, sizeof(portfile), "%s/port", root);
	(void)snprintf(logpath, sizeof(logpath), "%s/hub.log", root);
	(void)snprintf(polpath, sizeof(polpath), "%s/policy.yaml", root);
	if (mkdir(root, 0700) != 0 || (f = fopen(polpath, "w")) == NULL)
		goto out;
	fputs("name: bench-sweep\nstore:\n  finger: true\n  face: true\n  iris: true\n"
	      "retention_days:\n  enrolment: 1095\n  crossing: 1095\n",
		f);
	if (fclose(f) != 0 || deploy_init(hubdir, "bench", polpath, &d) != 0 ||
		deploy_issue_kiosk(hubdir, KIOSK, &d) != 0) {
		fprintf(stderr, "bench_sweep_load: %s\n", d.msg);
		goto out;
	}
	x = now_s();
	if (build_fixture(hubdir, o->records, day, day + keep, &d) != 0) {
		fprintf(stderr, "bench_sweep_load: fixture: %s\n", d.msg);
		goto out;
	}
	fprintf(stderr, "  fixture: %lu crossing records sealed in %.1f s\n", o->records,
		now_s() - x);
	/* Frames: enrolments and quiet crossings at the start, sweep-time crossings a day on. */
	if (make_frames(pop, o->people, o->people, 0, t0, &seq, eb, el) != 0 ||
		make_frames(pop, o->quiet, o->people, 1, t0 + 60, &seq, qb, ql) != 0 ||
		make_frames(pop, nb, o->people, 1, t0 + DAY + 60, &seq, sb, sl) != 0)
		goto out;
	instant_format(t0, start);
	(void)snprintf(clk, sizeof(clk), "sim:%s", start);
	{
		const char *argv[] = {"paso-hub", "serve", hubdir, "--port", "0", "--port-file",
			portfile, "--clock", clk, NULL};

		if ((hub = spawn(o->bin, argv, logpath)) < 0)
			goto out;
	}
	for (i = 0; i < 6000 && access(portfile, R_OK) != 0; i++) {
		if (waitpid(hub, NULL, WNOHANG) == hub) {
			hub = -1;
			break;
		}
		usleep(20000);
	}
	if ((f = fopen(portfile, "r")) == NULL) {
		fprintf(stderr, "bench_sweep_load: the hub did not start (see %s)\n", logpath);
		goto out;
	}
	{
		unsigned port = 0;

		if (fscanf(f, "%u", &port) != 1)
			port = 0;
		fclose(f);
		(void)snprintf(cert, sizeof(cert), "%s/kiosks/%s.crt", hubdir, KIOSK);
		(void)snprintf(key, sizeof(key), "%s/kiosks/%s.key", hubdir, KIOSK);
		(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", hubdir);
		if (tls_ctx_new_client(cert, key, ca, "paso-hub", &ctx, &d) != 0 ||
			tls_connect(ctx, "127.0.0.1", (uint16_t)port, 60000, &c, &d) != 0) {
			fprintf(stderr, "bench_sweep_load: %s\n", d.msg);
			goto out;
		}
	}
	for (i = 0; i < o->people; i++)
		if (one(c, eb[i], el[i], &refused) < 0)
			goto out;
	/* Without a sweep (the first tenth warms the hub's caches up and is not counted). */
	for (i = 0; i < o->quiet; i++)
		if ((lq[i] = one(c, qb[i], ql[i], &refused)) < 0)
			goto out;
	nq = o->quiet - o->quiet / 10;
	memmove(lq, lq + o->quiet / 10, nq * sizeof(*lq));
	/* The backlog falls due: the answers while the hub sweeps it. */
	{
		const char *argv[] = {"paso-hub", "clock", hubdir, "--advance", "1d", NULL};
		pid_t pid = spawn(o->bin, argv, logpath);
		int st = 0;

		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
			WEXITSTATUS(st) != 0) {
			fprintf(stderr, "bench_sweep_load: paso-hub clock failed (see %s)\n",
				logpath);
			goto out;
		}
	}
	s0 = now_s();
	for (i = 0; i < nb; i++) {
		if ((x = one(c, sb[i], sl[i], &refused)) < 0)
			goto out;
		if (!sweeping && log_has(logpath, "retention: erased"))
			sweeping = 1;
		if (sweeping)
			ls[res->sweep_n++] = x;
		if (log_has(logpath, "retention: destroyed the key-encryption keys"))
			break;
		if (!sweeping && now_s() - s0 > 30) {
			fprintf(stderr, "bench_sweep_load: no sweep within 30 s (see %s)\n",
				logpath);
			goto out;
		}
	}
	if (i == nb) {
		fprintf(stderr, "bench_sweep_load: the sweep outlasted %lu crossings\n", nb);
		goto out;
	}
	res->sweep_s = now_s() - s0; /* from the clock's move: the sweep's start is within 1 s */
	res->quiet_n = nq;
	res->quiet_p99 = p99(lq, nq); /* sorts */
	res->quiet_p50 = lq[nq / 2];
	res->sweep_p99 = p99(ls, res->sweep_n);
	res->sweep_p50 = ls[res->sweep_n / 2];
	if (refused > 0)
		fprintf(stderr, "bench_sweep_load: %lu messages refused (see %s)\n", refused,
			logpath);
	r = refused > 0 ? -1 : 0;
out:
	if (c != NULL)
		tls_conn_shutdown(c);
	tls_conn_free(c);
	tls_ctx_free(ctx);
	if (hub > 0) {
		kill(hub, SIGTERM);
		waitpid(hub, NULL, 0);
	}
	for (i = 0; eb && i < o->people; i++)
		free(eb[i]);
	for (i = 0; qb && i < o->quiet; i++)
		free(qb[i]);
	for (i = 0; sb && i < nb; i++)
		free(sb[i]);
	free(eb);
	free(qb);
	free(sb);
	free(el);
	free(ql);
	free(sl);
	free(lq);
	free(ls);
	return r;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
		"usage: bench_sweep_load [--records N] [--people P] [--quiet Q] [--runs R] [--bin DIR]\n"
		"                        [--dir DIR]\n"
		"Crossing answer times (p99, one kiosk, one message at a time, through TLS) while a\n"
		"real hub sweeps N expired crossing records, against Q crossings answered with nothing\n"
		"to sweep, in the same run.\n"
		"  --records N  expired crossing records in the backlog (default 1000000)\n"
		"  --people P   people enrolled over TLS who cross (default 100)\n"
		"  --quiet Q    crossings measured without a sweep (default 300)\n"
		"  --runs R     runs, median and range reported (default 3, at most %d)\n"
		"  --bin DIR    where paso-hub is (default build/bin)\n"
		"  --dir DIR    scratch directory (default /var/tmp; avoid tmpfs)\n",
		MAX_RUNS);
}

int
main(int argc, char **argv)
{
	struct opts o = {1000000, 100, 300, 3, "build/bin", "/var/tmp"};
	struct result res[MAX_RUNS];
	struct population *pop = NULL;
	double q[MAX_RUNS], s[MAX_RUNS], ratio[MAX_RUNS], rate[MAX_RUNS];
	char root[1024];
	unsigned long k;
	int i;

	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (v == NULL) {
			fprintf(stderr, "bench_sweep_load: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
		if (strcmp(argv[i], "--records") == 0) {
			if (parse_ulong("--records", v, 1, 100000000, &o.records) != 0)
				return 2;
		} else if (strcmp(argv[i], "--people") == 0) {
			if (parse_ulong("--people", v, 1, 10000, &o.people) != 0)
				return 2;
		} else if (strcmp(argv[i], "--quiet") == 0) {
			if (parse_ulong("--quiet", v, 10, MAX_LAT, &o.quiet) != 0)
				return 2;
		} else if (strcmp(argv[i], "--runs") == 0) {
			if (parse_ulong("--runs", v, 1, MAX_RUNS, &o.runs) != 0)
				return 2;
		} else if (strcmp(argv[i], "--bin") == 0)
			o.bin = v;
		else if (strcmp(argv[i], "--dir") == 0)
			o.dir = v;
		else {
			fprintf(stderr, "bench_sweep_load: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
		i++;
	}
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || population_new(42, (uint32_t)o.people, &pop) != 0)
		return 1;
	printf("crossing answers through TLS while the hub sweeps %lu expired crossing records, "
	       "against none to sweep (one kiosk, one message at a time), %lu runs\n",
		o.records, o.runs);
	for (k = 0; k < o.runs; k++) {
		(void)snprintf(root, sizeof(root), "%s/paso-bench-sweep-load-%d-%lu", o.dir,
			(int)getpid(), k);
		if (run_once(&o, pop, root, &res[k]) != 0) {
			fprintf(stderr, "bench_sweep_load: run %lu failed; its files are in %s\n",
				k + 1, root);
			population_free(pop);
			return 1;
		}
		q[k] = res[k].quiet_p99 * 1e3;
		s[k] = res[k].sweep_p99 * 1e3;
		ratio[k] = s[k] / q[k];
		rate[k] = (double)o.records / res[k].sweep_s;
		printf("  run %lu: p99 without a sweep %.1f ms (median %.1f, %zu crossings), during "
		       "the sweep %.1f ms (median %.1f, %zu crossings), ratio %.2f; swept within "
		       "%.1f s of the clock's move (at least %.0f records/s)\n",
			k + 1, q[k], res[k].quiet_p50 * 1e3, res[k].quiet_n, s[k],
			res[k].sweep_p50 * 1e3, res[k].sweep_n, ratio[k], res[k].sweep_s, rate[k]);
		fflush(stdout);
		{
			char cmd[1100];

			(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
			if (system(cmd) != 0)
				fprintf(stderr, "bench_sweep_load: could not remove %s\n", root);
		}
	}
	qsort(q, o.runs, sizeof(double), cmp_double);
	qsort(s, o.runs, sizeof(double), cmp_double);
	qsort(ratio, o.runs, sizeof(double), cmp_double);
	qsort(rate, o.runs, sizeof(double), cmp_double);
	printf("  p99 without a sweep: median %.1f ms (range %.1f..%.1f)\n", q[o.runs / 2], q[0],
		q[o.runs - 1]);
	printf("  p99 during the sweep: median %.1f ms (range %.1f..%.1f)\n", s[o.runs / 2], s[0],
		s[o.runs - 1]);
	printf("  during / without: median %.2f (range %.2f..%.2f)\n", ratio[o.runs / 2], ratio[0],
		ratio[o.runs - 1]);
	printf("  sweep rate under load (lower bound): median %.0f records/s (range %.0f..%.0f)\n",
		rate[o.runs / 2], rate[0], rate[o.runs - 1]);
	population_free(pop);
	return 0;
}
