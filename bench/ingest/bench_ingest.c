/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingest throughput through the whole hub: N kiosks over TLS, enrolments then crossings, every one
 * durable before its Ack. Printed beside a baseline measured in the same run: raw LMDB puts of the
 * same records (same count, same bytes), batched and durable, with no hub around them. Also the
 * decision layer alone, without a server (the path a simulation drives): the same frames
 * prepared, decided and committed through the ledger in the hub's groups, on one thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
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
#include "keyring.h"
#include "ledger.h"
#include "policy.h"
#include "frame.h"
#include "kiosk.h"
#include "paso.pb-c.h"
#include "population.h"
#include "sample_pb.h"
#include "tls.h"

extern char **environ;

/* Refusals by code (a benchmark that measures refusals measures the wrong thing: say so). */
static pthread_mutex_t refused_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long refused_by_code[128];

static void
count_refusal(const Paso__Envelope *env)
{
	int c = env->body_case == PASO__ENVELOPE__BODY_ERROR ? -env->error->code : 0;

	pthread_mutex_lock(&refused_mu);
	refused_by_code[c >= 0 && c < 128 ? c : 0]++;
	pthread_mutex_unlock(&refused_mu);
}

struct frames {
	uint8_t **buf;
	size_t *len;
	unsigned *kiosk; /* which kiosk sends each frame */
	size_t n;
	size_t bytes;
};

struct sender {
	const char *hubdir, *name;
	uint16_t port;
	struct frames *f;
	size_t from, to; /* this kiosk's slice */
	unsigned window;
	int rc;
	uint64_t refused;
};

#define MAX_KIOSKS 64
static char kiosks[MAX_KIOSKS][24]; /* bench-kiosk-00 ... */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The kiosk whose slice [n*k/nk, n*(k+1)/nk) of n frames holds frame j (as send_all cuts). */
static unsigned
slice_of(uint64_t j, uint64_t n, unsigned nk)
{
	unsigned k = 0;

	while (k + 1 < nk && j >= n * (k + 1) / nk)
		k++;
	return k;
}

/* Serialized Envelopes for kiosk k: enrolments of people [lo, hi) or their crossings. */
static int
make_frames(struct population *pop, uint32_t people, uint32_t crossings, unsigned nk,
	struct frames *enrol, struct frames *cross)
{
	uint64_t start = (uint64_t)time(NULL); /* inside the hub's capture window */
	struct person_info pi;
	struct bio_sample s;
	Paso__Envelope env;
	Paso__Enroll en;
	Paso__Crossing cr;
	Paso__Capture cap;
	uint64_t *seq = calloc(nk, sizeof(*seq));
	uint32_t i;
	int r;

	enrol->buf = calloc(people, sizeof(uint8_t *));
	enrol->len = calloc(people, sizeof(size_t));
	enrol->kiosk = calloc(people, sizeof(unsigned));
	cross->buf = calloc(crossings, sizeof(uint8_t *));
	cross->len = calloc(crossings, sizeof(size_t));
	cross->kiosk = calloc(crossings, sizeof(unsigned));
	if (seq == NULL || !enrol->buf || !enrol->len || !cross->buf || !cross->len ||
		!enrol->kiosk || !cross->kiosk)
		return PASO_E_NOMEM;
	for (i = 0; i < people + crossings; i++) {
		uint32_t p = i < people ? i : (i - people) % people;
		unsigned k =
			i < people ? slice_of(i, people, nk) : slice_of(i - people, crossings, nk);
		struct frames *f = i < people ? enrol : cross;

		memset(&s, 0, sizeof(s));
		if ((r = population_person(pop, p, &pi)) != 0 ||
			(r = capture_take(pop, p, i < people ? 0 : 1 + i, PRESET_GOOD, &s)) != 0)
			return r;
		if (i >= people && (r = kiosk_two_fingers(&s)) != 0)
			return r;
		paso__envelope__init(&env);
		paso__capture__init(&cap);
		if ((r = sample_to_pb(&s, &cap)) != 0)
			return r;
		cap.capture_time = start + (uint64_t)i * 3600 / (people + crossings);
		env.kiosk_id = (char *)kiosks[k];
		env.seq = ++seq[k];
		if (i < people) {
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
		if ((r = frame_encode(&env, FRAME_DEFAULT_MAX, &f->buf[f->n], &f->len[f->n])) != 0)
			return r;
		f->bytes += f->len[f->n];
		f->kiosk[f->n] = k;
		f->n++;
		sample_pb_release(&cap);
		bio_sample_clear(&s);
	}
	free(seq);
	return 0;
}

static void *
send_slice(void *arg)
{
	struct sender *s = arg;
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	char cert[1024], key[1024], ca[1024];
	Paso__Envelope *env;
	uint8_t *p;
	uint32_t len;
	size_t i, j, end;

	(void)snprintf(cert, sizeof(cert), "%s/kiosks/%s.crt", s->hubdir, s->name);
	(void)snprintf(key, sizeof(key), "%s/kiosks/%s.key", s->hubdir, s->name);
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", s->hubdir);
	if ((s->rc = tls_ctx_new_client(cert, key, ca, "paso-hub", &ctx, &d)) != 0 ||
		(s->rc = tls_connect(ctx, "127.0.0.1", s->port, 60000, &c, &d)) != 0) {
		fprintf(stderr, "bench_ingest: %s: %s\n", s->name, d.msg);
		goto out;
	}
	for (i = s->from; i < s->to; i = end) {
		end = i + s->window < s->to ? i + s->window : s->to;
		for (j = i; j < end; j++)
			if ((s->rc = tls_write_all(c, s->f->buf[j], s->f->len[j])) != 0)
				goto out;
		for (j = i; j < end; j++) {
			if ((s->rc = tls_read_frame(c, FRAME_DEFAULT_MAX, &p, &len, &d)) != 0)
				goto out;
			if (frame_decode(p, len, &env, &d) == 0) {
				if (env->body_case != PASO__ENVELOPE__BODY_ACK) {
					s->refused++;
					count_refusal(env);
				}
				paso__envelope__free_unpacked(env, NULL);
			}
			free(p);
		}
	}
	tls_conn_shutdown(c);
out:
	tls_conn_free(c);
	tls_ctx_free(ctx);
	return NULL;
}

static double
send_all(const char *hubdir, uint16_t port, struct frames *f, unsigned nk, unsigned window,
	uint64_t *refused)
{
	struct sender s[MAX_KIOSKS];
	pthread_t th[MAX_KIOSKS];
	double t0 = now_s();
	unsigned k;

	for (k = 0; k < nk; k++) {
		s[k] = (struct sender){hubdir, kiosks[k], port, f, f->n * k / nk,
			f->n * (k + 1) / nk, window, 0, 0};
		pthread_create(&th[k], NULL, send_slice, &s[k]);
	}
	for (k = 0; k < nk; k++) {
		pthread_join(th[k], NULL);
		*refused += s[k].refused;
		if (s[k].rc != 0)
			fprintf(stderr, "bench_ingest: kiosk %u: %s\n", k, paso_strerror(s[k].rc));
	}
	return now_s() - t0;
}

/* Raw LMDB: the same records (same sizes), random 16-byte keys, batch per txn, durable. */
static double
raw_lmdb(const char *dir, const struct frames *f, unsigned batch)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	uint8_t key[16];
	double t0;
	size_t i;

	mkdir(dir, 0700);
	mdb_env_create(&env);
	mdb_env_set_mapsize(env, (size_t)4 << 30);
	if (mdb_env_open(env, dir, 0, 0600) != 0)
		return -1;
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, NULL, 0, &dbi);
	mdb_txn_commit(txn);
	t0 = now_s();
	for (i = 0; i < f->n; i++) {
		if (i % batch == 0)
			mdb_txn_begin(env, NULL, 0, &txn);
		randombytes_buf(key, sizeof(key));
		k.mv_size = sizeof(key);
		k.mv_data = key;
		v.mv_size = f->len[i];
		v.mv_data = f->buf[i];
		mdb_put(txn, dbi, &k, &v, 0);
		if (i % batch == batch - 1 || i + 1 == f->n)
			mdb_txn_commit(txn);
	}
	t0 = now_s() - t0;
	mdb_env_close(env);
	return t0;
}

/* The hub's own objects around the decision layer, opened in-process on a deployment. */
struct direct {
	struct keyring *kr;
	struct vault *v;
	struct policy *pol;
	struct ledger *l;
	struct gallery *g, *recent;
	struct decide_ctx dc;
};

static int
direct_open(const char *hubdir, struct direct *x, struct paso_diag *d)
{
	struct deploy_paths p;
	uint64_t rec;
	int r;

	memset(x, 0, sizeof(*x));
	if ((r = deploy_paths(hubdir, &p, d)) != 0 || (r = keyring_open(p.keys, &x->kr, d)) != 0 ||
		(r = vault_open(hubdir, x->kr, &x->v, d)) != 0 ||
		(r = policy_load_file(p.policy, &x->pol, d)) != 0 ||
		(r = ledger_open(p.audit, x->v, decide_count_keys, COUNT_N, &rec, &x->l, d)) != 0 ||
		(r = gallery_new(2, &x->g)) != 0 || (r = gallery_new(1, &x->recent)) != 0)
		return r;
	x->dc.policy = x->pol;
	x->dc.gallery = x->g;
	x->dc.recent = x->recent;
	x->dc.vault = x->v;
	return 0;
}

static void
direct_close(struct direct *x)
{
	gallery_free(x->g);
	gallery_free(x->recent);
	ledger_close(x->l);
	policy_free(x->pol);
	vault_close(x->v);
	keyring_close(x->kr);
}

/*
 * The decision layer without a server: each frame prepared (decode, validate, templates) and
 * decided, groups of batch committed durably through the ledger, as the commit loop does.
 */
static double
decide_direct(struct direct *x, const struct frames *f, unsigned batch, uint64_t *refused)
{
	struct decide_msg *m = calloc(batch, sizeof(*m));
	struct ledger_txn *t = NULL;
	struct decide_undo undo = {0};
	double t0 = now_s();
	size_t i, j, end;

	if (m == NULL)
		return -1;
	for (i = 0; i < f->n; i = end) {
		end = i + batch < f->n ? i + batch : f->n;
		for (j = i; j < end; j++)
			if (decide_prepare(&x->dc, kiosks[f->kiosk[j]], f->buf[j] + 4,
				    f->len[j] - 4, NULL, &m[j - i]) != 0)
				return -1;
		if (ledger_begin(x->l, &t) != 0)
			return -1;
		for (j = i; j < end; j++)
			if (decide_message(&x->dc, t, (uint64_t)time(NULL), &m[j - i], &undo) != 0)
				return -1;
		if (ledger_commit(t) != 0)
			return -1;
		decide_undo(&x->dc, &undo, 0);
		for (j = i; j < end; j++) {
			if (m[j - i].reply != NULL && m[j - i].reply_len > 4 &&
				m[j - i].err.code == 0) {
				Paso__Envelope *env = NULL;
				struct paso_diag d;

				if (frame_decode(m[j - i].reply + 4, m[j - i].reply_len - 4, &env,
					    &d) == 0) {
					if (env->body_case != PASO__ENVELOPE__BODY_ACK) {
						(*refused)++;
						count_refusal(env);
					}
					paso__envelope__free_unpacked(env, NULL);
				}
			} else
				(*refused)++;
			decide_msg_clear(&m[j - i]);
		}
	}
	free(m);
	return now_s() - t0;
}

/*
 * The hub's mean commit-group size in the run just stopped, from the last line it logs
 * ("stopped: A accepted, R refused, P resends in G commit groups"); 64 if it cannot be read.
 */
static unsigned
hub_group_size(const char *portfile)
{
	char log[1200], line[512];
	unsigned long long a, rf, p, g;
	unsigned best = 64;
	const char *x;
	FILE *f;

	(void)snprintf(log, sizeof(log), "%s.log", portfile);
	if ((f = fopen(log, "r")) == NULL)
		return best;
	while (fgets(line, sizeof(line), f) != NULL)
		if ((x = strstr(line, "stopped: ")) != NULL &&
			sscanf(x, "stopped: %llu accepted, %llu refused, %llu resends in %llu", &a,
				&rf, &p, &g) == 4 &&
			g > 0)
			best = (unsigned)((a + rf + p + g / 2) / g);
	fclose(f);
	return best ? best : 1;
}

static pid_t
start_hub(const char *hubdir, const char *bindir, const char *portfile, uint16_t *port)
{
	char prog[1024], *txt = NULL, log[1200];
	const char *argv[] = {
		"paso-hub", "serve", hubdir, "--port", "0", "--port-file", portfile, NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int i;
	FILE *f;

	(void)snprintf(prog, sizeof(prog), "%s/paso-hub", bindir);
	(void)snprintf(log, sizeof(log), "%s.log", portfile);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	unlink(portfile);
	if (posix_spawn(&pid, prog, &fa, NULL, (char *const *)argv, environ) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	for (i = 0; i < 3000; i++) {
		if ((f = fopen(portfile, "r")) != NULL) {
			unsigned p = 0;
			if (fscanf(f, "%u", &p) == 1)
				*port = (uint16_t)p;
			fclose(f);
			free(txt);
			return pid;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	return -1;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: bench_ingest [--people N] [--crossings N] [--kiosks K<=64] [--runs R]\n"
		"                    [--window W] [--bin DIR] [--dir DIR]\n");
}

int
main(int argc, char **argv)
{
	unsigned people = 2000, crossings = 6000, nk = 5, runs = 3, window = 32, r, k;
	const char *bindir = "build/bin", *base = "/var/tmp";
	double te[16], tc[16], tb[16], tbe[16], tde[16], tdc[16];
	unsigned batch[16];
	struct frames enrol = {0}, cross = {0};
	struct population *pop = NULL;
	char root[1024], hubdir[1100], portfile[1100], rawdir[1100], rawdir2[1100], cmd[2400];
	struct paso_diag d = {0};
	uint64_t refused = 0;
	uint16_t port = 0;
	pid_t hub;
	int i;

	for (i = 1; i < argc; i++) {
		unsigned *dst = NULL;
		char *end;
		unsigned long v;

		if (i + 1 >= argc) {
			usage();
			return 2;
		}
		if (strcmp(argv[i], "--bin") == 0) {
			bindir = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--dir") == 0) {
			base = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--people") == 0)
			dst = &people;
		else if (strcmp(argv[i], "--crossings") == 0)
			dst = &crossings;
		else if (strcmp(argv[i], "--kiosks") == 0)
			dst = &nk;
		else if (strcmp(argv[i], "--runs") == 0)
			dst = &runs;
		else if (strcmp(argv[i], "--window") == 0)
			dst = &window;
		else {
			usage();
			return 2;
		}
		errno = 0;
		v = strtoul(argv[++i], &end, 10);
		if (errno || *end || v == 0 || v > 10000000 || (dst == &nk && v > MAX_KIOSKS) ||
			(dst == &runs && v > 16) || (dst == &window && v > 64)) {
			fprintf(stderr, "bench_ingest: %s: out of range: '%s'\n", argv[i - 1],
				argv[i]);
			return 2;
		}
		*dst = (unsigned)v;
	}
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	for (k = 0; k < MAX_KIOSKS; k++)
		(void)snprintf(kiosks[k], sizeof(kiosks[k]), "bench-kiosk-%02u", k);
	printf("bench_ingest: %u people, %u crossings, %u kiosks, window %u, %u runs\n", people,
		crossings, nk, window, runs);
	if (population_new(42, people, &pop) != 0 ||
		make_frames(pop, people, crossings, nk, &enrol, &cross) != 0) {
		fprintf(stderr, "bench_ingest: cannot make the traffic\n");
		return 1;
	}
	printf("  frames: enrolment %.0f bytes, crossing %.0f bytes on average\n",
		(double)enrol.bytes / enrol.n, (double)cross.bytes / cross.n);
	for (r = 0; r < runs; r++) {
		(void)snprintf(
			root, sizeof(root), "%s/paso-bench-ingest-%d-%u", base, (int)getpid(), r);
		(void)snprintf(hubdir, sizeof(hubdir), "%s/hub", root);
		(void)snprintf(portfile, sizeof(portfile), "%s/port", root);
		(void)snprintf(rawdir, sizeof(rawdir), "%s/raw", root);
		(void)snprintf(rawdir2, sizeof(rawdir2), "%s/raw2", root);
		mkdir(root, 0700);
		if (deploy_init(hubdir, "bench", NULL, &d) != 0) {
			fprintf(stderr, "bench_ingest: %s\n", d.msg);
			return 1;
		}
		for (k = 0; k < nk; k++)
			if (deploy_issue_kiosk(hubdir, kiosks[k], &d) != 0) {
				fprintf(stderr, "bench_ingest: %s\n", d.msg);
				return 1;
			}
		if ((hub = start_hub(hubdir, bindir, portfile, &port)) < 0) {
			fprintf(stderr, "bench_ingest: paso-hub did not start (see %s.log)\n",
				portfile);
			return 1;
		}
		te[r] = send_all(hubdir, port, &enrol, nk, window, &refused);
		tc[r] = send_all(hubdir, port, &cross, nk, window, &refused);
		kill(hub, SIGTERM);
		waitpid(hub, NULL, 0);
		/* The baseline batches as the hub's commit loop did in this very run. */
		batch[r] = hub_group_size(portfile);
		tbe[r] = raw_lmdb(rawdir, &enrol, batch[r]);
		tb[r] = raw_lmdb(rawdir2, &cross, batch[r]);
		{
			char hub2[1200];
			struct direct x;

			(void)snprintf(hub2, sizeof(hub2), "%s/hub2", root);
			if (deploy_init(hub2, "bench", NULL, &d) != 0 ||
				direct_open(hub2, &x, &d) != 0) {
				fprintf(stderr, "bench_ingest: %s\n", d.msg);
				return 1;
			}
			tde[r] = decide_direct(&x, &enrol, 512, &refused);
			tdc[r] = decide_direct(&x, &cross, 512, &refused);
			direct_close(&x);
			if (tde[r] <= 0 || tdc[r] <= 0) {
				fprintf(stderr, "bench_ingest: the decision layer failed\n");
				return 1;
			}
		}
		printf("  run %u: enrol %.0f/s, crossings %.0f/s | raw LMDB (batches of %u, the hub's "
		       "mean group) %.0f/s, %.0f/s | decisions without a server %.0f/s, %.0f/s\n",
			r + 1, enrol.n / te[r], cross.n / tc[r], batch[r], enrol.n / tbe[r],
			cross.n / tb[r], enrol.n / tde[r], cross.n / tdc[r]);
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_ingest: could not remove %s\n", root);
	}
	{
		double e = enrol.n / median(te, (int)runs), c = cross.n / median(tc, (int)runs);
		double be = enrol.n / median(tbe, (int)runs), bc = cross.n / median(tb, (int)runs);

		printf("median over %u runs (durable, TLS, %u kiosks):\n", runs, nk);
		printf("  enrolments: %8.0f/s   raw LMDB same records: %8.0f/s   ratio %.3f\n", e,
			be, e / be);
		printf("  crossings:  %8.0f/s   raw LMDB same records: %8.0f/s   ratio %.3f (target >= 0.35)\n",
			c, bc, c / bc);
		{
			double de = enrol.n / median(tde, (int)runs),
			       dcr = cross.n / median(tdc, (int)runs);

			printf("decision layer without a server (prepare + decide + durable ledger "
			       "groups of 512, one thread):\n");
			printf("  enrolments: %8.0f/s   vs TLS path %8.0f/s   ratio %.2f\n", de, e,
				de / e);
			printf("  crossings:  %8.0f/s   vs TLS path %8.0f/s   ratio %.2f\n", dcr, c,
				dcr / c);
		}
		if (refused) {
			int code;

			printf("  note: %llu messages refused:", (unsigned long long)refused);
			for (code = 0; code < 128; code++)
				if (refused_by_code[code])
					printf(" %s x%llu", paso_errname(-code),
						refused_by_code[code]);
			printf("\n");
		}
	}
	population_free(pop);
	return 0;
}
