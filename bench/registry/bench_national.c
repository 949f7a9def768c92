/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark at national size, through TLS against a real hub on a bench_fixture deployment:
 * enrolments with deduplication streamed by several kiosks, and crossings of enrolled people
 * sent one at a time by another kiosk, first alone (the baseline) then while the enrolments
 * stream (same run, same hub). Prints the crossings' answer times (p50, p99, and their ratio),
 * the enrolment rate, and how many of the enrolments that were duplicates (a person of the
 * fixture enrolling again under a new card) the hub refused. The duplicates are captured again
 * from the population seed, so the fixture must come from a bench_fixture whose capture generator
 * is this build's: one built before a change to the synthetic irises or faces holds other eyes or
 * faces for its people, and its duplicates are then caught by fingers alone, or missed.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "capture.h"
#include "errors.h"
#include "frame.h"
#include "kiosk.h"
#include "paso.pb-c.h"
#include "population.h"
#include "sample_pb.h"
#include "tls.h"
#include "../benchclock.h"

#define MAX_KIOSKS 32
#define CROSS_KIOSK "national-cross"

struct frames {
	uint8_t **buf;
	size_t *len;
	uint8_t *dup; /* enrolments: 1 = a person already enrolled (under a new card) */
	size_t n;
};

struct sender {
	const char *dir, *name;
	uint16_t port;
	const struct frames *f;
	size_t from, to, window;
	double *lat;                          /* one-at-a-time senders: answer time per frame */
	uint64_t acked, refused, dup_refused; /* dup_refused: DUPLICATE answers */
	uint64_t dup_caught, fresh_flagged;   /* against the frames' dup marks */
	uint64_t by_code[80];                 /* refusals by -code (0: not decodable) */
	int rc;
};

static double
pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(size_t)((double)(n - 1) * p)];
}

/*
 * Frames for one kiosk: n enrolments (every dup_every-th a fixture person's fresh capture under a
 * never-used card, the others new people first..) or n crossings of fixture people [0, people).
 */
static int
make_frames(struct population *pop, const char *kiosk, int enrol, uint32_t n, uint32_t first,
	uint32_t people, uint32_t dup_every, uint32_t salt, struct frames *f)
{
	uint64_t start = (uint64_t)time(NULL);
	struct person_info pi, card;
	struct bio_sample s;
	Paso__Envelope env;
	Paso__Enroll en;
	Paso__Crossing cr;
	Paso__Capture cap;
	uint32_t i, p;
	int r, dup;

	f->buf = calloc(n, sizeof(*f->buf));
	f->len = calloc(n, sizeof(*f->len));
	f->dup = calloc(n, 1);
	if (f->buf == NULL || f->len == NULL || f->dup == NULL)
		return PASO_E_NOMEM;
	for (i = 0; i < n; i++) {
		dup = enrol && dup_every > 0 && i % dup_every == dup_every - 1;
		/* spread over the fixture by a large odd step */
		p = enrol && !dup ? first + i
				  : (uint32_t)(((uint64_t)(i + salt) * 2654435761u) % people);
		memset(&s, 0, sizeof(s));
		if ((r = population_person(pop, p, &pi)) != 0 ||
			(r = capture_take(pop, p, 9 + salt % 64, PRESET_GOOD, &s)) != 0)
			return r;
		/* a duplicate comes under another card: a never-enrolled person's */
		if (dup && (r = population_person(pop, first + i, &card)) != 0)
			return r;
		if (!enrol && (r = kiosk_two_fingers(&s)) != 0)
			return r;
		paso__envelope__init(&env);
		paso__capture__init(&cap);
		if ((r = sample_to_pb(&s, &cap)) != 0)
			return r;
		cap.capture_time = start;
		env.kiosk_id = (char *)kiosk;
		env.seq = (uint64_t)salt * 1000000u + i + 1;
		if (enrol) {
			paso__enroll__init(&en);
			en.capture = &cap;
			en.category = pi.category;
			en.card_number = dup ? card.card : pi.card;
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
		if ((r = frame_encode(&env, FRAME_DEFAULT_MAX, &f->buf[i], &f->len[i])) != 0)
			return r;
		f->dup[i] = (uint8_t)dup;
		f->n++;
		sample_pb_release(&cap);
		bio_sample_clear(&s);
	}
	return 0;
}

static void *
send_frames(void *arg)
{
	struct sender *s = arg;
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	Paso__Envelope *env;
	uint8_t *p;
	uint32_t len;
	size_t i, j, end;
	double t0 = 0;

	(void)snprintf(cert, sizeof(cert), "%s/kiosks/%s.crt", s->dir, s->name);
	(void)snprintf(key, sizeof(key), "%s/kiosks/%s.key", s->dir, s->name);
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", s->dir);
	if ((s->rc = tls_ctx_new_client(cert, key, ca, "paso-hub", &ctx, &d)) != 0 ||
		(s->rc = tls_connect(ctx, "127.0.0.1", s->port, 120000, &c, &d)) != 0) {
		fprintf(stderr, "bench_national: %s: %s\n", s->name, d.msg);
		goto out;
	}
	for (i = s->from; i < s->to; i = end) {
		end = i + s->window < s->to ? i + s->window : s->to;
		if (s->lat != NULL)
			t0 = now_s();
		for (j = i; j < end; j++)
			if ((s->rc = tls_write_all(c, s->f->buf[j], s->f->len[j])) != 0)
				goto out;
		for (j = i; j < end; j++) {
			if ((s->rc = tls_read_frame(c, FRAME_DEFAULT_MAX, &p, &len, &d)) != 0)
				goto out;
			if (s->lat != NULL)
				s->lat[j - s->from] = now_s() - t0;
			if (frame_decode(p, len, &env, &d) == 0) {
				int dupans = env->body_case == PASO__ENVELOPE__BODY_ERROR &&
					     env->error->code == PASO_E_DUPLICATE;

				if (env->body_case == PASO__ENVELOPE__BODY_ACK) {
					s->acked++;
				} else {
					int code = env->body_case == PASO__ENVELOPE__BODY_ERROR
							   ? -env->error->code
							   : 0;

					s->refused++;
					s->by_code[code > 0 && code < 80 ? code : 0]++;
				}
				s->dup_refused += (uint64_t)dupans;
				s->dup_caught += (uint64_t)(dupans && s->f->dup[j]);
				s->fresh_flagged += (uint64_t)(dupans && !s->f->dup[j]);
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

static int
run(const char *bin, const char *cmd, const char *dir, const char *kiosk)
{
	char hub[PATH_MAX];
	pid_t pid;
	int st;

	(void)snprintf(hub, sizeof(hub), "%s/paso-hub", bin);
	if ((pid = fork()) == 0) {
		FILE *null = freopen("/dev/null", "w", stdout);

		(void)null;
		execl(hub, hub, cmd, dir, "--kiosk", kiosk, (char *)NULL);
		_exit(127);
	}
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static pid_t
start_hub(const char *bin, const char *dir, const char *nice, uint16_t *port)
{
	char hub[PATH_MAX], pf[PATH_MAX];
	unsigned long v;
	FILE *f;
	pid_t pid;
	int st;

	(void)snprintf(hub, sizeof(hub), "%s/paso-hub", bin);
	(void)snprintf(pf, sizeof(pf), "%s/bench-national.port", dir);
	(void)unlink(pf);
	if ((pid = fork()) == 0) {
		FILE *null = freopen("/dev/null", "w", stdout);

		(void)null;
		execl(hub, hub, "serve", dir, "--port", "0", "--port-file", pf, "--fingers",
			"store", nice != NULL ? "--dedup-nice" : (char *)NULL, nice, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		if ((f = fopen(pf, "r")) != NULL) {
			int ok = fscanf(f, "%lu", &v) == 1;

			fclose(f);
			if (ok && v > 0 && v < 65536)
				break;
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			return -1;
		usleep(5000);
	}
	*port = (uint16_t)v;
	return pid;
}

/* CPU seconds (user + system) process pid has used so far, or -1; *sys_s: system alone. */
static double
proc_cpu_s(pid_t pid, double *sys_s)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields after the command's closing parenthesis; utime and stime are 14 and 15 */
	if ((p = strrchr(buf, ')')) == NULL ||
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	*sys_s = (double)st / (double)sysconf(_SC_CLK_TCK);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static unsigned long
arg_ul(const char *opt, const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bench_national: %s wants a whole number in %lu..%lu: '%s'\n", opt,
			min, max, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	const char *dir = NULL, *bin = "build/bin", *nice = NULL;
	unsigned long enrol = 1000, crossings = 300, kiosks = 8, window = 16, dup_every = 10,
		      first = 2000000, people = 0, salt = 1;
	struct frames ef[MAX_KIOSKS], cf[2];
	struct sender es[MAX_KIOSKS], cs[2];
	pthread_t eth[MAX_KIOSKS], cth;
	struct population *pop = NULL;
	char name[MAX_KIOSKS][32];
	double *lat[2], p50[2], p99[2], pmax[2], t0, te, cpu0, cpu1, sys0, sys1, kcpu0, kcpu1, ksys;
	uint64_t dups = 0, caught = 0, flagged = 0, acked = 0, refused = 0;
	uint16_t port;
	pid_t hub;
	unsigned long k;
	int i, ph;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			printf("usage: bench_national --dir DIR --people N [--enrol E] [--crossings C] "
			       "[--kiosks K]\n"
			       "       [--dup-every D] [--first F] [--salt S] [--bin BUILD/bin]\n"
			       "       [--dedup-nice N (the hub's serve option)]\n"
			       "DIR: a stopped bench_fixture deployment of N people (population seed "
			       "7). Starts its hub\n(--fingers store); C crossings one at a time "
			       "alone, then C more while K kiosks\nstream E enrolments (every D-th a "
			       "fixture person under a new card; the others\npersons F.., never "
			       "enrolled; change F or S between runs on one fixture). Build DIR with\nthe "
			       "bench_fixture of this build: duplicates are captured again from the "
			       "seed.\n");
			return 0;
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strcmp(argv[i], "--dedup-nice") == 0 && i + 1 < argc) {
			nice = argv[++i]; /* the hub checks it */
		} else if (strcmp(argv[i], "--bin") == 0 && i + 1 < argc) {
			bin = argv[++i];
		} else if (strcmp(argv[i], "--people") == 0 && i + 1 < argc) {
			people = arg_ul("--people", argv[++i], 1, 10000000);
		} else if (strcmp(argv[i], "--enrol") == 0 && i + 1 < argc) {
			enrol = arg_ul("--enrol", argv[++i], 1, 1000000);
		} else if (strcmp(argv[i], "--crossings") == 0 && i + 1 < argc) {
			crossings = arg_ul("--crossings", argv[++i], 10, 1000000);
		} else if (strcmp(argv[i], "--kiosks") == 0 && i + 1 < argc) {
			kiosks = arg_ul("--kiosks", argv[++i], 1, MAX_KIOSKS);
		} else if (strcmp(argv[i], "--dup-every") == 0 && i + 1 < argc) {
			dup_every = arg_ul("--dup-every", argv[++i], 0, 1000000);
		} else if (strcmp(argv[i], "--first") == 0 && i + 1 < argc) {
			first = arg_ul("--first", argv[++i], 0, 9000000);
		} else if (strcmp(argv[i], "--salt") == 0 && i + 1 < argc) {
			salt = arg_ul("--salt", argv[++i], 1, 1000);
		} else {
			fprintf(stderr, "bench_national: unknown or incomplete option '%s'\n",
				argv[i]);
			return 2;
		}
	}
	if (dir == NULL || people == 0) {
		fprintf(stderr, "bench_national: --dir and --people are required\n");
		return 2;
	}
	if (sodium_init() < 0 || population_new(7, 10000000, &pop) != 0)
		return 1;
	memset(ef, 0, sizeof(ef));
	memset(cf, 0, sizeof(cf));
	(void)run(bin, "issue", dir, CROSS_KIOSK); /* exists already: fine */
	for (k = 0; k < kiosks; k++) {
		(void)snprintf(name[k], sizeof(name[k]), "national-enrol-%02u", (unsigned)k);
		(void)run(bin, "issue", dir, name[k]);
		if (make_frames(pop, name[k], 1, (uint32_t)(enrol / kiosks),
			    (uint32_t)(first + k * (enrol / kiosks)), (uint32_t)people,
			    (uint32_t)dup_every, (uint32_t)(salt * 100 + k), &ef[k]) != 0)
			return 1;
	}
	for (ph = 0; ph < 2; ph++)
		if (make_frames(pop, CROSS_KIOSK, 0, (uint32_t)crossings, 0, (uint32_t)people, 0,
			    (uint32_t)(salt * 100 + 50 + ph), &cf[ph]) != 0)
			return 1;
	t0 = now_s();
	if ((hub = start_hub(bin, dir, nice, &port)) < 0) {
		fprintf(stderr, "bench_national: the hub did not start\n");
		return 1;
	}
	printf("hub serving %lu people after %.1f s\n", people, now_s() - t0);
	fflush(stdout);
	for (ph = 0; ph < 2; ph++) {
		lat[ph] = calloc(crossings, sizeof(double));
		memset(&cs[ph], 0, sizeof(cs[ph]));
		cs[ph].dir = dir;
		cs[ph].name = CROSS_KIOSK;
		cs[ph].port = port;
		cs[ph].f = &cf[ph];
		cs[ph].to = crossings;
		cs[ph].window = 1;
		cs[ph].lat = lat[ph];
	}
	/* alone */
	send_frames(&cs[0]);
	/* while enrolments stream */
	t0 = now_s();
	cpu0 = proc_cpu_s(hub, &sys0);
	kcpu0 = proc_cpu_s(getpid(), &ksys);
	for (k = 0; k < kiosks; k++) {
		memset(&es[k], 0, sizeof(es[k]));
		es[k].dir = dir;
		es[k].name = name[k];
		es[k].port = port;
		es[k].f = &ef[k];
		es[k].to = ef[k].n;
		es[k].window = window;
		pthread_create(&eth[k], NULL, send_frames, &es[k]);
	}
	usleep(200000); /* enrolments under way before the first crossing */
	pthread_create(&cth, NULL, send_frames, &cs[1]);
	for (k = 0; k < kiosks; k++) {
		pthread_join(eth[k], NULL);
		acked += es[k].acked;
		refused += es[k].refused;
		caught += es[k].dup_caught;
		flagged += es[k].fresh_flagged;
		for (i = 0; i < (int)ef[k].n; i++)
			dups += ef[k].dup[i];
	}
	te = now_s() - t0;
	cpu1 = proc_cpu_s(hub, &sys1);
	kcpu1 = proc_cpu_s(getpid(), &ksys);
	pthread_join(cth, NULL);
	kill(hub, SIGTERM);
	waitpid(hub, NULL, 0);
	for (ph = 0; ph < 2; ph++) {
		if (cs[ph].rc != 0 || cs[ph].acked + cs[ph].refused != crossings) {
			fprintf(stderr, "bench_national: crossings phase %d: %s (%llu answers)\n",
				ph, paso_strerror(cs[ph].rc),
				(unsigned long long)(cs[ph].acked + cs[ph].refused));
			return 1;
		}
		p50[ph] = pct(lat[ph], crossings, 0.5) * 1e3;
		p99[ph] = pct(lat[ph], crossings, 0.99) * 1e3;
		pmax[ph] = pct(lat[ph], crossings, 1.0) * 1e3;
	}
	printf("%lu people enrolled; %lu kiosks stream %llu enrolments (%llu duplicates of "
	       "enrolled people under new cards), one kiosk sends %lu crossings one at a time:\n",
		people, kiosks, (unsigned long long)(acked + refused), (unsigned long long)dups,
		crossings);
	printf("  enrolments: %.1f/s (%.1f s), %llu accepted, %llu refused; duplicates caught "
	       "%llu/%llu = %.4f; new people flagged as duplicates: %llu\n",
		(double)(acked + refused) / te, te, (unsigned long long)acked,
		(unsigned long long)refused, (unsigned long long)caught, (unsigned long long)dups,
		dups ? (double)caught / (double)dups : 0.0, (unsigned long long)flagged);
	printf("  hub CPU while enrolling: %.2f s = %.2f ms per enrolment (crossings included): "
	       "%.0f enrolments per hub CPU-second; system (kernel) %.2f ms of it\n",
		cpu1 - cpu0, (cpu1 - cpu0) * 1e3 / (double)(acked + refused),
		(double)(acked + refused) / (cpu1 - cpu0),
		(sys1 - sys0) * 1e3 / (double)(acked + refused));
	/* The kiosks here share the hub's cores (on a deployment they are other machines); their
	 * captures were all made before the hub started, so this is TLS and answer parsing. */
	printf("  this benchmark's kiosks while enrolling: %.2f s CPU = %.2f ms per enrolment, on "
	       "the hub's cores\n",
		kcpu1 - kcpu0, (kcpu1 - kcpu0) * 1e3 / (double)(acked + refused));
	printf("  crossings alone:             p50 %.2f ms, p99 %.2f ms, max %.1f ms (%llu accepted)\n",
		p50[0], p99[0], pmax[0], (unsigned long long)cs[0].acked);
	printf("  crossings while enrolling:   p50 %.2f ms, p99 %.2f ms, max %.1f ms (%llu accepted)\n",
		p50[1], p99[1], pmax[1], (unsigned long long)cs[1].acked);
	printf("  p99 ratio (while enrolling / alone): %.2f (target <= 2)\n", p99[1] / p99[0]);
	/* a benchmark that measures refusals measures the wrong thing: say which */
	for (i = 1; i < 80; i++) {
		uint64_t ne = 0;

		for (k = 0; k < kiosks; k++)
			ne += es[k].by_code[i];
		if (ne + cs[0].by_code[i] + cs[1].by_code[i] > 0)
			printf("  refused with %s: %llu enrolments, %llu + %llu crossings\n",
				paso_strerror(-i), (unsigned long long)ne,
				(unsigned long long)cs[0].by_code[i],
				(unsigned long long)cs[1].by_code[i]);
	}
	population_free(pop);
	return 0;
}
