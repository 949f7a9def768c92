/* SPDX-License-Identifier: Apache-2.0 */
/* paso-kiosk: the kiosks of the southern border, enrolling a synthetic population and its crossings. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "capture.h"
#include "finger_synth.h"
#include "instant.h"
#include "frame.h"
#include "iso19794.h"
#include "kiosk.h"
#include "outbox.h"
#include "paso.pb-c.h"
#include "pki.h"
#include "population.h"

struct site {
	const char *name, *point;
	enum capture_preset preset;
	int detention;
};

/* A kiosk of a fleet beyond the five named sites: a crossing kiosk with good capture. */
#define FLEET_POINT "fleet"
#define FLEET_MAX 1024
#define KIOSK_NAME_MAX 64

/* The crossings of context: four official ports with Guatemala and the Siglo XXI centre. */
static const struct site sites[] = {
	{"kiosk-ciudad-hidalgo", "Ciudad Hidalgo", PRESET_GOOD, 0},
	{"kiosk-talisman", "Talismán", PRESET_GOOD, 0},
	{"kiosk-ciudad-cuauhtemoc", "Ciudad Cuauhtémoc", PRESET_GOOD, 0},
	{"kiosk-el-ceibo", "El Ceibo", PRESET_POOR, 0},
	{"station-siglo-xxi", "Siglo XXI, Tapachula", PRESET_DETENTION, 1},
};
#define NSITES (sizeof(sites) / sizeof(sites[0]))
/* A run's captures span this many seconds from --start (well inside the hub's +-24 h). */
#define KIOSK_TIMELINE_S (6u * 3600u)
#define KEEP_HOURS_DEFAULT 72u /* a capture never acknowledged is erased after this */
#define KEEP_HOURS_MAX 8760u
#define PURGE_DEADLINE_S (24u * 3600u) /* the purge must have run this recently (or keep) */

struct job {
	uint8_t kind;    /* enum kiosk_kind */
	uint32_t person; /* whose card / who is claimed */
	uint32_t source; /* whose biometrics are captured */
	uint32_t capture_no;
	uint8_t direction;
	uint64_t when;
	size_t pre; /* its slot in runner.pre, or NO_PRE */
};

#define NO_PRE SIZE_MAX
/*
 * A plan's crossings and identifications are captured ahead, in memory, while the hub is still
 * deciding the enrolments (the kiosks mostly wait then); they are queued in the outbox and
 * sent, as before, once every enrolment is answered. PRE_THREADS threads synthesise them at
 * the lowest priority (nice 19), so they take only what the hub and the enrolments leave idle,
 * and stop when the crossings start (the kiosks capture the rest themselves). At most
 * PRE_AHEAD captures wait to be queued (about 4 KB each).
 */
#define PRE_AHEAD 4096
#define PRE_THREADS 2

enum pre_state { PRE_FREE, PRE_BUSY, PRE_READY, PRE_TAKEN };

struct pre_slot {
	enum pre_state state;
	int rc; /* capture()'s result */
	struct bio_sample s;
};

struct runner;

struct kiosk_run {
	struct runner *run;
	const struct site *site;
	struct kiosk *k;
	struct job *jobs;
	size_t njobs, capjobs;
	pthread_mutex_t mu;
	int producing;
	int rc;
	char err[512];
	uint64_t capture_failures;
};

struct runner {
	struct population *pop;
	unsigned capture; /* BIO_* the kiosks are configured to capture */
	uint32_t people;
	struct kiosk_run *kr; /* nk of them */
	struct site *site;    /* nk of them; names owned by names */
	char (*names)[KIOSK_NAME_MAX + 1];
	size_t nk;
	pthread_mutex_t mu;
	uint8_t (*pseud)[32]; /* pseudonym per enrolled person */
	uint8_t *enrolled;
	FILE *truth; /* --truth: who really stood at the kiosk, per message (under mu) */

	/* captures made ahead (a plan's later jobs), under pre_mu */
	pthread_mutex_t pre_mu;
	pthread_cond_t pre_cv;
	struct pre_slot *pre;
	const struct plan_job *pre_jobs; /* npre of them, the slots' jobs */
	size_t npre, pre_next, pre_ready;
	int pre_stop;
};

static const char *const kind_words[] = {"", "enrol", "cross", "impostor", "identify", "probe"};

/* The simulation's ground truth for one job: which message it became (seq 0: none sent). */
static void
write_truth(struct runner *run, const struct kiosk_run *kr, const struct job *j, uint64_t seq)
{
	if (run->truth == NULL)
		return;
	pthread_mutex_lock(&run->mu);
	fprintf(run->truth, "%s %" PRIu64 " %s %u %u\n", kr->site->name, seq, kind_words[j->kind],
		j->person, j->source);
	pthread_mutex_unlock(&run->mu);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paso-kiosk run --deployment DIR --hub HOST:PORT [options]\n"
		"       paso-kiosk purge [--workdir DIR] [--kiosks A,B,...] [--keep-hours N]\n"
		"         [--clock INSTANT]\n"
		"  purge: erases every capture older than the kiosk's limit (default 72 h, kept in\n"
		"  the kiosk's state; --keep-hours 1..8760 changes it), acknowledged or not, by\n"
		"  replacing the outbox key; run it at least daily: a kiosk whose purge has not run\n"
		"  within 24 h (or its limit, if shorter) refuses to capture\n"
		"       paso-kiosk probe (--person N | --list FILE) --out FILE [--seed S]\n"
		"         [--capture-no K] [--preset good|poor|detention] [--nice 0..19]\n"
		"  probe: writes one synthetic capture of person N (a packed Capture, the probe file\n"
		"  of `paso-hub query --probe`), or with --list (lines PERSON CAPTURE_NO) a probe set\n"
		"  for `paso-hub query --probes`; a file of biometric data: written 0600, delete it\n"
		"  after use; --nice lowers its priority (a set made beside other work)\n"
		"  run (the default):\n"
		"  enrols a synthetic population at the border kiosks, then sends their crossings\n"
		"  and the detention station's identification requests, and prints what happened.\n"
		"options:\n"
		"  --people N          people to enrol (default 1000); 0 only drains the outboxes\n"
		"  --crossings N       repeat crossings after enrolment (default 5000)\n"
		"  --identify N        identification requests at the detention station (default 100)\n"
		"  --impostor-rate R   share of crossings made with someone else's card (default 0.02)\n"
		"  --seed S            population and traffic seed (default 1)\n"
		"  --start INSTANT     capture timeline start, e.g. 2027-01-01T00:00:00Z (default:\n"
		"                      now); captures span 6 hours from it, reproducible from the seed\n"
		"  --kiosks A,B,...    which kiosks run (default all five); a name that is not one\n"
		"                      of the five is a crossing kiosk with its own certificate\n"
		"  --fleet N           also run N crossing kiosks fleet-0001..fleet-N (1..1024),\n"
		"                      issuing the certificates that are missing (needs ca/ca.key)\n"
		"  --workdir DIR       kiosks' own data: sealed outboxes (default ./paso-kiosks)\n"
		"  --capture LIST      modalities the kiosks capture: finger,face,iris (default all)\n"
		"  --window N          frames in flight per kiosk (default 32)\n"
		"  --give-up SECONDS   stop retrying an unreachable hub after this (default 120)\n"
		"  --json              print the summary as JSON\n"
		"  --plan FILE         send exactly the messages FILE lists instead of --crossings and\n"
		"                      --identify (--people is then the population's size); one per line:\n"
		"                      KIND KIOSK PERSON SOURCE CAPTURE_NO DIRECTION OFFSET_S, KIND one of\n"
		"                      enrol cross impostor identify probe; enrolments are sent first\n"
		"  --truth FILE        append who really stood at each kiosk: KIOSK SEQ KIND PERSON SOURCE\n"
		"                      (SEQ 0: nothing sent, the capture failed)\n"
		"  --clock INSTANT     what the kiosks' clock reads (default: the system clock), for\n"
		"                      captures (--start defaults to it) and the purge deadline\n"
		"  --keep-hours N      the kiosks' purge limit (1..8760; default 72, or as stored)\n"
		"kiosks: kiosk-ciudad-hidalgo kiosk-talisman kiosk-ciudad-cuauhtemoc kiosk-el-ceibo\n"
		"        station-siglo-xxi (detention centre)\n");
}

static int
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
parse_capture(const char *list, unsigned *out)
{
	const char *p = list, *end;
	size_t n;

	*out = 0;
	while (*p != '\0') {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == 6 && strncmp(p, "finger", 6) == 0)
			*out |= BIO_FINGER;
		else if (n == 4 && strncmp(p, "face", 4) == 0)
			*out |= BIO_FACE;
		else if (n == 4 && strncmp(p, "iris", 4) == 0)
			*out |= BIO_IRIS;
		else
			return -1;
		p += n + (end != NULL);
	}
	return *out != 0 ? 0 : -1;
}

static int
add_job(struct kiosk_run *kr, const struct job *j)
{
	struct job *n;

	if (kr->njobs == kr->capjobs) {
		size_t cap = kr->capjobs ? kr->capjobs * 2 : 256;
		if ((n = realloc(kr->jobs, cap * sizeof(*n))) == NULL)
			return -1;
		kr->jobs = n;
		kr->capjobs = cap;
	}
	kr->jobs[kr->njobs++] = *j;
	return 0;
}

static void
on_enrolled(void *arg, uint32_t person, const uint8_t *subject)
{
	struct runner *run = arg;

	pthread_mutex_lock(&run->mu);
	if (person < run->people) {
		memcpy(run->pseud[person], subject, 32);
		run->enrolled[person] = 1;
	}
	pthread_mutex_unlock(&run->mu);
}

/* Finger views in s's record (0 without one). */
static int
finger_views(const struct bio_sample *s)
{
	struct fmr_record rec;
	int n;

	if (s->finger_record == NULL)
		return 0;
	memset(&rec, 0, sizeof(rec));
	n = iso19794_read(s->finger_record, s->finger_len, &rec, NULL) == 0 ? rec.n_views : 0;
	fmr_record_free(&rec); /* even after an error: a view read before it may hold minutiae */
	return n;
}

/*
 * One capture of what the kiosks are configured to take. Only that is synthesised, and a
 * crossing or identification first synthesises only the two fingers kiosk_two_fingers keeps
 * (ISO positions 2 and 7); when either is missing it takes all ten and lets kiosk_two_fingers
 * choose, so the message is the same bytes either way (tests/kiosk-sim/test_population.c).
 */
static int
capture_once(struct runner *run, const struct job *j, enum capture_preset preset,
	uint32_t capture_no, struct bio_sample *s)
{
	const uint32_t two = (1u << 1) | (1u << 6);
	int r;

	if (j->kind != KIOSK_ENROL) {
		if ((r = capture_take_some(
			     run->pop, j->source, capture_no, preset, run->capture, two, s)) != 0)
			return r;
		if (!(run->capture & BIO_FINGER) || finger_views(s) == 2)
			return kiosk_two_fingers(s);
		bio_sample_clear(s);
	}
	if ((r = capture_take_some(run->pop, j->source, capture_no, preset, run->capture,
		     FINGER_MASK_ALL, s)) != 0)
		return r;
	return j->kind != KIOSK_ENROL ? kiosk_two_fingers(s) : 0;
}

/* A capture that may fail to produce any modality: the kiosk tries again, at most three times. */
static int
capture(struct runner *run, const struct kiosk_run *kr, const struct job *j, struct bio_sample *s)
{
	uint32_t attempt;
	int r;

	for (attempt = 0; attempt < 3; attempt++) {
		if ((r = capture_once(
			     run, j, kr->site->preset, j->capture_no + attempt * 1000003u, s)) != 0)
			return r;
		/* What this deployment's kiosks are configured not to capture is never taken. */
		(void)bio_sample_keep(s, run->capture);
		if (s->finger_record != NULL || s->has_face || s->n_iris > 0)
			return 0;
		bio_sample_clear(s);
	}
	return 1;
}

struct plan_job {
	size_t kr; /* index into run->kr */
	struct job j;
};

/* Synthesises the plan's later captures in order, keeping at most PRE_AHEAD of them ready. */
static void *
precapturer(void *arg)
{
	struct runner *run = arg;
	struct bio_sample s;
	size_t i;
	int r;

	/* Linux: a thread's own nice value; failing that, it runs at the process's */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
	pthread_mutex_lock(&run->pre_mu);
	for (;;) {
		while (!run->pre_stop && run->pre_next < run->npre && run->pre_ready >= PRE_AHEAD)
			pthread_cond_wait(&run->pre_cv, &run->pre_mu);
		if (run->pre_stop || run->pre_next >= run->npre)
			break;
		i = run->pre_next++;
		if (run->pre[i].state != PRE_FREE)
			continue; /* its kiosk got there first */
		run->pre[i].state = PRE_BUSY;
		pthread_mutex_unlock(&run->pre_mu);
		memset(&s, 0, sizeof(s));
		r = capture(run, &run->kr[run->pre_jobs[i].kr], &run->pre_jobs[i].j, &s);
		pthread_mutex_lock(&run->pre_mu);
		if (run->pre[i].state == PRE_TAKEN) {
			/* its kiosk did not wait for it and captured it again */
			bio_sample_clear(&s);
			continue;
		}
		run->pre[i].rc = r;
		run->pre[i].s = s;
		run->pre[i].state = PRE_READY;
		run->pre_ready++;
		pthread_cond_broadcast(&run->pre_cv);
	}
	pthread_mutex_unlock(&run->pre_mu);
	return NULL;
}

/*
 * capture(), or the same capture made ahead by a precapturer. One still under way is captured
 * again here rather than waited for (a precapturer at nice 19 may get no CPU for a while); the
 * precapturer then drops its copy. Either way the same bytes.
 */
static int
capture_or_take(
	struct runner *run, const struct kiosk_run *kr, const struct job *j, struct bio_sample *s)
{
	struct pre_slot *slot;
	int r;

	if (j->pre == NO_PRE || run->pre == NULL)
		return capture(run, kr, j, s);
	slot = &run->pre[j->pre];
	pthread_mutex_lock(&run->pre_mu);
	if (slot->state == PRE_READY) {
		*s = slot->s;
		r = slot->rc;
		memset(&slot->s, 0, sizeof(slot->s));
		slot->state = PRE_TAKEN;
		run->pre_ready--;
		pthread_cond_broadcast(&run->pre_cv);
		pthread_mutex_unlock(&run->pre_mu);
		return r;
	}
	slot->state = PRE_TAKEN;
	pthread_mutex_unlock(&run->pre_mu);
	return capture(run, kr, j, s);
}

/* Starts the precapturers over later (borrowed until pre_end). 0, or -1 (then none run). */
static int
pre_start(struct runner *run, const struct plan_job *later, size_t n, pthread_t *th, size_t *nth)
{
	size_t i;

	*nth = 0;
	if (n == 0)
		return 0;
	if ((run->pre = calloc(n, sizeof(*run->pre))) == NULL)
		return -1;
	run->pre_jobs = later;
	run->npre = n;
	for (i = 0; i < PRE_THREADS; i++) {
		if (pthread_create(&th[i], NULL, precapturer, run) != 0)
			break; /* fewer helpers: the kiosks capture the rest themselves */
		(*nth)++;
	}
	return 0;
}

/* Tells the precapturers to take no more (each finishes the one it is making). */
static void
pre_halt(struct runner *run)
{
	pthread_mutex_lock(&run->pre_mu);
	run->pre_stop = 1;
	pthread_cond_broadcast(&run->pre_cv);
	pthread_mutex_unlock(&run->pre_mu);
}

/* Stops and joins the precapturers; wipes every capture never taken. */
static void
pre_end(struct runner *run, pthread_t *th, size_t nth)
{
	size_t i;

	pre_halt(run);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < run->npre; i++)
		bio_sample_clear(&run->pre[i].s);
	free(run->pre);
	run->pre = NULL;
	run->npre = 0;
}

static void *
producer(void *arg)
{
	struct kiosk_run *kr = arg;
	struct runner *run = kr->run;
	struct person_info pi;
	struct bio_sample s;
	const uint8_t *expect;
	uint8_t pseud[32];
	size_t i;
	int r = 0;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < kr->njobs && r == 0; i++) {
		const struct job *j = &kr->jobs[i];

		if ((r = population_person(run->pop, j->person, &pi)) != 0)
			break;
		if ((r = capture_or_take(run, kr, j, &s)) != 0) {
			if (r == 1) { /* failure to capture: the traveller is sent to a desk */
				kr->capture_failures++;
				write_truth(run, kr, j, 0);
				r = 0;
			}
			continue;
		}
		switch (j->kind) {
		case KIOSK_ENROL:
			r = kiosk_enqueue_enroll(
				kr->k, &s, pi.category, pi.card, j->when, j->person);
			break;
		case KIOSK_GENUINE:
		case KIOSK_IMPOSTOR:
			r = kiosk_enqueue_crossing(kr->k, &s, pi.card, j->direction, j->when,
				j->person, j->kind == KIOSK_IMPOSTOR);
			break;
		default:
			expect = NULL;
			pthread_mutex_lock(&run->mu);
			if (j->person < run->people && run->enrolled[j->person]) {
				memcpy(pseud, run->pseud[j->person], 32);
				expect = pseud;
			}
			pthread_mutex_unlock(&run->mu);
			r = kiosk_enqueue_identify(kr->k, &s, j->when, j->person, expect);
			break;
		}
		if (r == 0)
			write_truth(run, kr, j, kiosk_last_seq(kr->k));
		bio_sample_clear(&s);
	}
	if (r == 0)
		r = kiosk_flush(kr->k);
	if (r != 0 && kr->rc == 0) {
		kr->rc = r;
		(void)snprintf(kr->err, sizeof(kr->err), "kiosk %s: capture queue: %s",
			kr->site->name, paso_strerror(r));
	}
	pthread_mutex_lock(&kr->mu);
	kr->producing = 0;
	pthread_mutex_unlock(&kr->mu);
	return NULL;
}

static void *
sender(void *arg)
{
	struct kiosk_run *kr = arg;
	struct paso_diag d = {0};
	int r;

	r = kiosk_drain(kr->k, &kr->mu, &kr->producing, &d);
	if (r != 0 && kr->rc == 0) {
		kr->rc = r;
		(void)snprintf(kr->err, sizeof(kr->err), "%s", d.msg);
	}
	return NULL;
}

/* Runs every kiosk's jobs concurrently (capture and send overlap). Returns 0 or the first error. */
static int
run_phase(struct runner *run, const char *label, double *secondsp)
{
	pthread_t *prod, *send;
	double t0 = now_s();
	uint8_t *started;
	size_t i;
	int rc = 0;

	prod = calloc(run->nk, sizeof(*prod));
	send = calloc(run->nk, sizeof(*send));
	started = calloc(run->nk, 1);
	if (prod == NULL || send == NULL || started == NULL) {
		free(prod);
		free(send);
		free(started);
		fprintf(stderr, "paso-kiosk: %s: %s\n", label, paso_strerror(PASO_E_NOMEM));
		return PASO_E_NOMEM;
	}
	for (i = 0; i < run->nk; i++) {
		run->kr[i].producing = 1;
		/* A fleet of hundreds may meet a thread limit: that kiosk fails, named. */
		if (pthread_create(&prod[i], NULL, producer, &run->kr[i]) != 0) {
			run->kr[i].rc = PASO_E_NOMEM;
			(void)snprintf(run->kr[i].err, sizeof(run->kr[i].err),
				"kiosk %s: cannot start a thread", run->kr[i].site->name);
			continue;
		}
		if (pthread_create(&send[i], NULL, sender, &run->kr[i]) != 0) {
			pthread_join(prod[i], NULL);
			run->kr[i].rc = PASO_E_NOMEM;
			(void)snprintf(run->kr[i].err, sizeof(run->kr[i].err),
				"kiosk %s: cannot start a thread", run->kr[i].site->name);
			continue;
		}
		started[i] = 1;
	}
	for (i = 0; i < run->nk; i++) {
		if (started[i]) {
			pthread_join(prod[i], NULL);
			pthread_join(send[i], NULL);
		}
		if (run->kr[i].rc != 0) {
			fprintf(stderr, "paso-kiosk: %s: %s\n", label, run->kr[i].err);
			if (rc == 0)
				rc = run->kr[i].rc;
		}
		run->kr[i].njobs = 0;
	}
	free(prod);
	free(send);
	free(started);
	*secondsp = now_s() - t0;
	return rc;
}

static uint64_t
rnd(uint64_t *state)
{
	/* splitmix64: the traffic plan is reproducible from --seed. */
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
sum_stats(struct runner *run, struct kiosk_stats *tot)
{
	struct kiosk_stats s;
	size_t i, c;

	memset(tot, 0, sizeof(*tot));
	for (i = 0; i < run->nk; i++) {
		kiosk_get_stats(run->kr[i].k, &s);
		tot->queued += s.queued;
		tot->acked += s.acked;
		tot->replayed += s.replayed;
		tot->refused += s.refused;
		tot->resent += s.resent;
		tot->reconnects += s.reconnects;
		tot->resyncs += s.resyncs;
		tot->store_full += s.store_full;
		tot->verified += s.verified;
		tot->not_verified += s.not_verified;
		tot->genuine += s.genuine;
		tot->genuine_verified += s.genuine_verified;
		tot->impostor += s.impostor;
		tot->impostor_verified += s.impostor_verified;
		tot->identified += s.identified;
		tot->identified_right += s.identified_right;
		tot->not_identified += s.not_identified;
		tot->unenrolled_probes += s.unenrolled_probes;
		tot->unenrolled_identified += s.unenrolled_identified;
		tot->duplicates += s.duplicates;
		for (c = 0; c < 70; c++)
			tot->refused_by_code[c] += s.refused_by_code[c];
	}
}

/* Pads to width characters (not bytes): crossing points carry accents. */
static void
print_padded(const char *s, int width)
{
	int chars = 0;
	const char *p;

	for (p = s; *p != '\0'; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	fputs(s, stdout);
	for (; chars < width; chars++)
		fputc(' ', stdout);
}

static double
pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void
print_summary(struct runner *run, uint64_t seed, double t_enrol, double t_cross, uint64_t n_enrol,
	uint64_t n_cross, int json)
{
	struct kiosk_stats tot, s;
	size_t i, c;
	uint64_t fails = 0, enrolled = 0;

	sum_stats(run, &tot);
	for (i = 0; i < run->people; i++)
		enrolled += run->enrolled[i];
	for (i = 0; i < run->nk; i++)
		fails += run->kr[i].capture_failures;
	if (json) {
		printf("{\"seed\":%" PRIu64 ",\"people\":%u,\"enrolled\":%" PRIu64
		       ",\"queued\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"refused\":%" PRIu64
		       ",\"replayed\":%" PRIu64 ",\"reconnects\":%" PRIu64 ",\"resyncs\":%" PRIu64
		       ",\"capture_failures\":%" PRIu64 ",\"enrol_messages\":%" PRIu64
		       ",\"enrol_seconds\":%.3f,\"crossing_messages\":%" PRIu64
		       ",\"crossing_seconds\":%.3f,\"genuine\":%" PRIu64
		       ",\"genuine_verified\":%" PRIu64 ",\"impostor\":%" PRIu64
		       ",\"impostor_verified\":%" PRIu64 ",\"identify_enrolled\":%" PRIu64
		       ",\"identified_right\":%" PRIu64 ",\"unenrolled_probes\":%" PRIu64
		       ",\"unenrolled_identified\":%" PRIu64 ",\"duplicates\":%" PRIu64
		       ",\"store_full\":%" PRIu64 "}\n",
			seed, run->people, enrolled, tot.queued, tot.acked, tot.refused,
			tot.replayed, tot.reconnects, tot.resyncs, fails, n_enrol, t_enrol, n_cross,
			t_cross, tot.genuine, tot.genuine_verified, tot.impostor,
			tot.impostor_verified, tot.identified + tot.not_identified,
			tot.identified_right, tot.unenrolled_probes, tot.unenrolled_identified,
			tot.duplicates, tot.store_full);
		return;
	}
	printf("paso-kiosk: %zu kiosks, %u synthetic people, seed %" PRIu64 "\n", run->nk,
		run->people, seed);
	printf("  %-24s %-22s %-9s %8s %8s %8s\n", "kiosk", "crossing point", "preset", "sent",
		"acked", "refused");
	for (i = 0; i < run->nk; i++) {
		kiosk_get_stats(run->kr[i].k, &s);
		printf("  %-24s ", run->kr[i].site->name);
		print_padded(run->kr[i].site->point, 22);
		printf(" %-9s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n",
			capture_preset_name(run->kr[i].site->preset), s.queued, s.acked, s.refused);
	}
	printf("enrolment: %" PRIu64 " messages in %.2f s (%.0f/s); %" PRIu64 " people enrolled\n",
		n_enrol, t_enrol, t_enrol > 0 ? (double)n_enrol / t_enrol : 0.0, enrolled);
	printf("crossings and identifications: %" PRIu64 " messages in %.2f s (%.0f/s)\n", n_cross,
		t_cross, t_cross > 0 ? (double)n_cross / t_cross : 0.0);
	printf("total: %" PRIu64 " sent, %" PRIu64 " acknowledged, %" PRIu64 " refused, %" PRIu64
	       " resends acknowledged again, %" PRIu64 " reconnects, %" PRIu64
	       " failures to capture\n",
		tot.queued, tot.acked, tot.refused, tot.replayed, tot.reconnects, fails);
	if (tot.store_full)
		printf("  %" PRIu64 " answers said the hub's storage was full; those messages were "
		       "kept and resent after a pause\n",
			tot.store_full);
	if (tot.resyncs)
		printf("  outbox renumbered %" PRIu64 " times after the hub's last sequence number "
		       "(a kiosk that lost its outbox)\n",
			tot.resyncs);
	for (c = 1; c < 70; c++)
		if (tot.refused_by_code[c])
			printf("  refused %s: %" PRIu64 "\n", paso_errname(-(int)c),
				tot.refused_by_code[c]);
	printf("verification 1:1: genuine %" PRIu64 "/%" PRIu64
	       " verified (%.2f%%), impostor %" PRIu64 "/%" PRIu64 " wrongly verified (%.2f%%)\n",
		tot.genuine_verified, tot.genuine, pct(tot.genuine_verified, tot.genuine),
		tot.impostor_verified, tot.impostor, pct(tot.impostor_verified, tot.impostor));
	printf("identification 1:N: %" PRIu64 "/%" PRIu64
	       " enrolled people found (%.2f%%), %" PRIu64 "/%" PRIu64
	       " never-enrolled people wrongly identified; %" PRIu64
	       " duplicate enrolments caught\n",
		tot.identified_right, tot.identified + tot.not_identified,
		pct(tot.identified_right, tot.identified + tot.not_identified),
		tot.unenrolled_identified, tot.unenrolled_probes, tot.duplicates);
}

/*
 * Reads a --plan file: one message per line (KIND KIOSK PERSON SOURCE CAPTURE_NO DIRECTION
 * OFFSET_S), '#' comments and blank lines skipped. Enrolments go to their kiosks' job lists at
 * once; the rest into *laterp (caller frees), sent after every enrolment is answered. Prints
 * the first bad line (file:line: what, quoting the value) and returns -1.
 */
static int
load_plan(const char *path, struct runner *run, uint64_t base, struct plan_job **laterp,
	size_t *nlaterp)
{
	FILE *f = fopen(path, "r");
	char line[512], kind[16], kname[80];
	unsigned long long person, source, capno, dir, off;
	struct plan_job *later = NULL, *nl;
	size_t nlater = 0, cap = 0, k;
	unsigned lineno = 0;
	int n, ki, rc = -1;

	*laterp = NULL;
	*nlaterp = 0;
	if (f == NULL) {
		fprintf(stderr, "paso-kiosk run: --plan: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		struct job j;
		char *p = line;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "paso-kiosk run: %s:%u: line longer than %zu bytes\n", path,
				lineno, sizeof(line) - 2);
			goto out;
		}
		if (sscanf(p, "%15s %79s %llu %llu %llu %llu %llu %n", kind, kname, &person,
			    &source, &capno, &dir, &off, &n) != 7 ||
			p[n] != '\0') {
			line[strcspn(line, "\n")] = '\0';
			fprintf(stderr,
				"paso-kiosk run: %s:%u: not KIND KIOSK PERSON SOURCE CAPTURE_NO "
				"DIRECTION OFFSET_S: '%s'\n",
				path, lineno, line);
			goto out;
		}
		for (ki = 1; ki <= KIOSK_PROBE_UNKNOWN; ki++)
			if (strcmp(kind, kind_words[ki]) == 0)
				break;
		if (ki > KIOSK_PROBE_UNKNOWN) {
			fprintf(stderr,
				"paso-kiosk run: %s:%u: KIND not one of enrol cross impostor identify "
				"probe: '%s'\n",
				path, lineno, kind);
			goto out;
		}
		for (k = 0; k < run->nk; k++)
			if (strcmp(kname, run->kr[k].site->name) == 0)
				break;
		if (k == run->nk) {
			fprintf(stderr, "paso-kiosk run: %s:%u: kiosk not running here: '%s'\n",
				path, lineno, kname);
			goto out;
		}
		if (person >= run->people || source >= run->people) {
			fprintf(stderr,
				"paso-kiosk run: %s:%u: person %llu or source %llu not below --people "
				"%u\n",
				path, lineno, person, source, run->people);
			goto out;
		}
		if (capno > UINT32_MAX / 2 || dir > 2 || off >= KIOSK_TIMELINE_S) {
			fprintf(stderr,
				"paso-kiosk run: %s:%u: CAPTURE_NO 0..%u, DIRECTION 0..2, OFFSET_S "
				"0..%u: '%llu %llu %llu'\n",
				path, lineno, UINT32_MAX / 2, KIOSK_TIMELINE_S - 1, capno, dir,
				off);
			goto out;
		}
		j.kind = (uint8_t)ki;
		j.person = (uint32_t)person;
		j.source = (uint32_t)source;
		j.capture_no = (uint32_t)capno;
		j.direction = (uint8_t)dir;
		j.when = base + off;
		j.pre = NO_PRE;
		if (ki == KIOSK_ENROL) {
			if (add_job(&run->kr[k], &j) != 0)
				goto nomem;
			continue;
		}
		if (nlater == cap) {
			cap = cap ? cap * 2 : 256;
			if ((nl = realloc(later, cap * sizeof(*nl))) == NULL)
				goto nomem;
			later = nl;
		}
		later[nlater].kr = k;
		later[nlater].j = j;
		later[nlater].j.pre = nlater;
		nlater++;
	}
	if (ferror(f)) {
		fprintf(stderr, "paso-kiosk run: --plan: %s: read error\n", path);
		goto out;
	}
	*laterp = later;
	*nlaterp = nlater;
	later = NULL;
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "paso-kiosk run: --plan: %s\n", paso_strerror(PASO_E_NOMEM));
out:
	free(later);
	fclose(f);
	return rc;
}

/* 1 if name is 1..64 of [A-Za-z0-9._-] not starting with '.', as the deployment issues them. */
static int
kiosk_name_ok(const char *name, size_t n)
{
	size_t i;

	if (n == 0 || n > KIOSK_NAME_MAX || name[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Adds kiosk name (n bytes) to the plan: a known site keeps its crossing point and preset. */
static int
plan_add(struct runner *run, size_t cap, const char *name, size_t n)
{
	struct site *st;
	size_t i;

	if (!kiosk_name_ok(name, n)) {
		fprintf(stderr,
			"paso-kiosk run: --kiosks: kiosk name '%.*s': 1..64 of [A-Za-z0-9._-], not "
			"starting with '.'\n",
			(int)(n > 80 ? 80 : n), name);
		return 2;
	}
	for (i = 0; i < run->nk; i++)
		if (strlen(run->names[i]) == n && memcmp(run->names[i], name, n) == 0) {
			fprintf(stderr, "paso-kiosk run: kiosk '%.*s' is listed twice\n", (int)n,
				name);
			return 2;
		}
	if (run->nk == cap) {
		fprintf(stderr, "paso-kiosk run: more than %zu kiosks\n", cap);
		return 2;
	}
	memcpy(run->names[run->nk], name, n);
	run->names[run->nk][n] = '\0';
	st = &run->site[run->nk];
	*st = (struct site){run->names[run->nk], FLEET_POINT, PRESET_GOOD, 0};
	for (i = 0; i < NSITES; i++)
		if (strcmp(sites[i].name, run->names[run->nk]) == 0) {
			*st = sites[i];
			st->name = run->names[run->nk];
		}
	run->nk++;
	return 0;
}

/*
 * The kiosks this run drives: the five sites by default, else those --kiosks names, plus
 * --fleet N numbered crossing kiosks. Returns 0, 2 (usage, printed) or 1 (printed).
 */
static int
plan_kiosks(struct runner *run, const char *list, uint64_t fleet)
{
	size_t cap = NSITES + FLEET_MAX + 64, i;
	const char *p, *end;
	char name[32];
	int r;

	run->site = calloc(cap, sizeof(*run->site));
	run->names = calloc(cap, sizeof(*run->names));
	if (run->site == NULL || run->names == NULL) {
		fprintf(stderr, "paso-kiosk run: %s\n", paso_strerror(PASO_E_NOMEM));
		return 1;
	}
	if (list == NULL && fleet == 0)
		for (i = 0; i < NSITES; i++)
			if ((r = plan_add(run, cap, sites[i].name, strlen(sites[i].name))) != 0)
				return r;
	for (p = list; p != NULL && *p != '\0'; p = end != NULL ? end + 1 : p + strlen(p)) {
		end = strchr(p, ',');
		if ((r = plan_add(run, cap, p, end != NULL ? (size_t)(end - p) : strlen(p))) != 0)
			return r;
	}
	for (i = 1; i <= fleet; i++) {
		int n = snprintf(name, sizeof(name), "fleet-%04zu", i);

		if ((r = plan_add(run, cap, name, (size_t)n)) != 0)
			return r;
	}
	if (run->nk == 0) {
		fprintf(stderr, "paso-kiosk run: --kiosks: no kiosk named in '%s'\n", list);
		return 2;
	}
	return 0;
}

/* A fleet kiosk without a certificate gets one from the deployment's CA; others must have one. */
static int
ensure_cert(const char *deploy, const char *name, int may_issue, const char *cert, const char *key)
{
	struct paso_diag d = {0};
	char ca[4200], cakey[4200];

	if (access(cert, F_OK) == 0)
		return 0;
	if (!may_issue) {
		fprintf(stderr,
			"paso-kiosk run: kiosk %s: no certificate %s (issue one with paso-hub issue "
			"%s --kiosk %s)\n",
			name, cert, deploy, name);
		return 1;
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", deploy);
	(void)snprintf(cakey, sizeof(cakey), "%s/ca/ca.key", deploy);
	if (pki_issue(ca, cakey, name, 0, cert, key, &d) != 0) {
		fprintf(stderr, "paso-kiosk run: kiosk %s: issuing its certificate: %s\n", name,
			d.msg);
		return 1;
	}
	return 0;
}

/*
 * The kiosk's purge state (outbox.h): a new outbox starts its purge clock now; keep_h (0: as
 * stored, or the default) replaces the stored limit. When capturing, a purge older than the
 * deadline refuses: writes why into err and returns 1. Returns 0, or -1 with err set.
 */
static int
purge_gate(const char *wd, const char *name, uint64_t now, uint64_t keep_h, int capturing,
	char *err, size_t cap)
{
	struct outbox *ob = NULL;
	struct paso_diag d = {0};
	char at[INSTANT_TEXT_BYTES];
	uint64_t last = 0, keep = 0, deadline;
	int r, rc = 0;

	if ((r = outbox_open(wd, &ob, &d)) != 0) {
		(void)snprintf(err, cap, "kiosk %s: %s", name, d.msg);
		return -1;
	}
	r = outbox_purge_status(ob, &last, &keep);
	if (r == PASO_E_NOT_FOUND) {
		last = now;
		keep = 0;
		r = 0;
	}
	if (r == 0 && (keep_h != 0 || keep == 0)) {
		keep = (keep_h ? keep_h : KEEP_HOURS_DEFAULT) * 3600u;
		r = outbox_purge_mark(ob, last, keep);
	}
	if (r != 0) {
		(void)snprintf(
			err, cap, "kiosk %s: %s: purge state: %s", name, wd, paso_strerror(r));
		rc = -1;
		goto out;
	}
	deadline = keep < PURGE_DEADLINE_S ? keep : PURGE_DEADLINE_S;
	if (capturing && now > last && now - last > deadline) {
		(void)snprintf(err, cap,
			"kiosk %s refuses to capture: its purge of captures older than %llu h last "
			"ran at %s, %.1f h ago, and must run at least every %.0f h; run `paso-kiosk "
			"purge` on its work directory first (nothing was captured)",
			name, (unsigned long long)(keep / 3600), instant_format(last, at),
			(double)(now - last) / 3600.0, (double)deadline / 3600.0);
		rc = 1;
	}
out:
	outbox_close(ob);
	return rc;
}

static int
parse_clock(const char *cmd, const char *val, uint64_t *out)
{
	struct paso_diag d = {0};

	if (instant_parse(val, out, &d) != 0) {
		fprintf(stderr, "paso-kiosk %s: --clock: %s\n", cmd, d.msg);
		return 2;
	}
	return 0;
}

/* purge: every kiosk's outbox in the work directory (or those named), on the kiosk's clock. */
static int
cmd_purge(int argc, char **argv)
{
	const char *workdir = "paso-kiosks", *kiosks = NULL;
	char wd[4200], probe[4300], names[8192], at[INSTANT_TEXT_BYTES], at2[INSTANT_TEXT_BYTES];
	char *name, *next;
	uint64_t now = (uint64_t)time(NULL), keep_h = 0, last, keep;
	struct dirent *de;
	struct stat st;
	DIR *dp;
	size_t purged, kept, done = 0, len = 0;
	int a, r, fails = 0;

	for (a = 1; a < argc; a++) {
		const char *o = argv[a], *val = a + 1 < argc ? argv[a + 1] : NULL;

		if (val == NULL) {
			fprintf(stderr, "paso-kiosk purge: %s needs a value\n", o);
			return 2;
		}
		a++;
		if (strcmp(o, "--workdir") == 0)
			workdir = val;
		else if (strcmp(o, "--kiosks") == 0)
			kiosks = val;
		else if (strcmp(o, "--clock") == 0) {
			if (parse_clock("purge", val, &now) != 0)
				return 2;
		} else if (strcmp(o, "--keep-hours") == 0) {
			if (parse_u64(val, 1, KEEP_HOURS_MAX, &keep_h) != 0) {
				fprintf(stderr,
					"paso-kiosk purge: --keep-hours: a whole number 1..%u: '%s'\n",
					KEEP_HOURS_MAX, val);
				return 2;
			}
		} else {
			fprintf(stderr, "paso-kiosk purge: unknown option '%s'\n", o);
			usage(stderr);
			return 2;
		}
	}
	names[0] = '\0';
	if (kiosks != NULL) {
		if (snprintf(names, sizeof(names), "%s", kiosks) >= (int)sizeof(names)) {
			fprintf(stderr, "paso-kiosk purge: --kiosks: list too long\n");
			return 2;
		}
	} else {
		/* Every kiosk that has an outbox here. */
		if ((dp = opendir(workdir)) == NULL) {
			fprintf(stderr, "paso-kiosk purge: %s: %s\n", workdir, strerror(errno));
			return 1;
		}
		while ((de = readdir(dp)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			(void)snprintf(probe, sizeof(probe), "%s/%s/data.mdb", workdir, de->d_name);
			if (stat(probe, &st) != 0)
				continue;
			r = snprintf(names + len, sizeof(names) - len, "%s%s", len ? "," : "",
				de->d_name);
			if (r < 0 || (size_t)r >= sizeof(names) - len)
				break;
			len += (size_t)r;
		}
		closedir(dp);
	}
	for (name = names; name != NULL && *name != '\0'; name = next) {
		struct outbox *ob = NULL;
		struct paso_diag d = {0};

		if ((next = strchr(name, ',')) != NULL)
			*next++ = '\0';

		if (!kiosk_name_ok(name, strlen(name))) {
			fprintf(stderr, "paso-kiosk purge: not a kiosk name: '%s'\n", name);
			return 2;
		}
		(void)snprintf(wd, sizeof(wd), "%s/%s", workdir, name);
		(void)snprintf(probe, sizeof(probe), "%s/data.mdb", wd);
		if (stat(probe, &st) != 0) {
			fprintf(stderr, "paso-kiosk purge: kiosk %s: no outbox in %s\n", name, wd);
			fails++;
			continue;
		}
		if ((r = outbox_open(wd, &ob, &d)) == 0) {
			keep = 0;
			if (keep_h == 0 && outbox_purge_status(ob, &last, &keep) != 0)
				keep = 0;
			if (keep == 0)
				keep = (keep_h ? keep_h : KEEP_HOURS_DEFAULT) * 3600u;
			r = outbox_purge(ob, now, keep, &purged, &kept, &d);
		}
		outbox_close(ob);
		if (r != 0) {
			fprintf(stderr, "paso-kiosk purge: kiosk %s: %s\n", name, d.msg);
			fails++;
			continue;
		}
		printf("kiosk %s: erased %zu captures taken before %s (older than %llu h), %zu "
		       "kept; purge recorded at %s\n",
			name, purged, instant_format(now >= keep ? now - keep : 0, at),
			(unsigned long long)(keep / 3600), kept, instant_format(now, at2));
		done++;
	}
	if (done == 0 && fails == 0) {
		fprintf(stderr, "paso-kiosk purge: no kiosk outbox in %s\n", workdir);
		return 1;
	}
	return fails ? 1 : 0;
}

static int
cmd_run(int argc, char **argv)
{
	struct runner run;
	struct kiosk_config cfg;
	struct paso_diag d = {0};
	struct person_info pi;
	const char *deploy = NULL, *hub = NULL, *kiosks = NULL, *workdir = "paso-kiosks";
	const char *plan = NULL, *truth = NULL;
	struct plan_job *later = NULL;
	size_t nlater = 0, npre_th = 0;
	pthread_t pre_th[PRE_THREADS];
	char host[256], cert[4200], key[4200], ca[4200], wd[4200], *colon, *end;
	uint64_t people = 1000, crossings = 5000, identify = 100, seed = 1, window = 32,
		 giveup = 120, fleet = 0, v, st;
	double impostor_rate = 0.02, t_enrol = 0, t_cross = 0;
	uint64_t base_time = 0, n_enrol, n_cross = 0, span, clock_now = (uint64_t)time(NULL);
	uint64_t keep_h = 0;
	char err[4800];
	uint32_t *count = NULL;
	size_t i, *site_of_cross = NULL, ncross_sites = 0, station = SIZE_MAX;
	int json = 0, r = 0, ex = 0, a;
	unsigned capture = BIO_FINGER | BIO_FACE | BIO_IRIS;

	for (a = 1; a < argc; a++) {
		const char *o = argv[a], *val = a + 1 < argc ? argv[a + 1] : NULL;
		if (strcmp(o, "--json") == 0) {
			json = 1;
			continue;
		}
		if (val == NULL) {
			fprintf(stderr, "paso-kiosk run: %s needs a value\n", o);
			return 2;
		}
		a++;
		if (strcmp(o, "--start") == 0) {
			if (instant_parse(val, &base_time, &d) != 0) {
				fprintf(stderr, "paso-kiosk run: --start: %s\n", d.msg);
				return 2;
			}
		} else if (strcmp(o, "--clock") == 0) {
			if (parse_clock("run", val, &clock_now) != 0)
				return 2;
		} else if (strcmp(o, "--keep-hours") == 0) {
			if (parse_u64(val, 1, KEEP_HOURS_MAX, &keep_h) != 0) {
				fprintf(stderr,
					"paso-kiosk run: --keep-hours: a whole number 1..%u: '%s'\n",
					KEEP_HOURS_MAX, val);
				return 2;
			}
		} else if (strcmp(o, "--deployment") == 0)
			deploy = val;
		else if (strcmp(o, "--plan") == 0)
			plan = val;
		else if (strcmp(o, "--truth") == 0)
			truth = val;
		else if (strcmp(o, "--hub") == 0)
			hub = val;
		else if (strcmp(o, "--kiosks") == 0)
			kiosks = val;
		else if (strcmp(o, "--workdir") == 0)
			workdir = val;
		else if (strcmp(o, "--capture") == 0) {
			if (parse_capture(val, &capture) != 0) {
				fprintf(stderr,
					"paso-kiosk run: --capture: a comma-separated list of "
					"finger, face, iris: '%s'\n",
					val);
				return 2;
			}
		} else if (strcmp(o, "--impostor-rate") == 0) {
			errno = 0;
			impostor_rate = strtod(val, &end);
			if (errno || end == val || *end ||
				!(impostor_rate >= 0 && impostor_rate <= 1)) {
				fprintf(stderr, "paso-kiosk run: --impostor-rate: 0..1: '%s'\n",
					val);
				return 2;
			}
		} else {
			uint64_t lo = 0, hi = 10000000, *dst;
			if (strcmp(o, "--people") == 0)
				dst = &people;
			else if (strcmp(o, "--fleet") == 0)
				dst = &fleet, lo = 1, hi = FLEET_MAX;
			else if (strcmp(o, "--crossings") == 0)
				dst = &crossings;
			else if (strcmp(o, "--identify") == 0)
				dst = &identify;
			else if (strcmp(o, "--seed") == 0)
				dst = &seed, hi = UINT64_MAX;
			else if (strcmp(o, "--window") == 0)
				dst = &window, lo = 1, hi = 64;
			else if (strcmp(o, "--give-up") == 0)
				dst = &giveup, lo = 1, hi = 86400;
			else {
				fprintf(stderr, "paso-kiosk run: unknown option '%s'\n", o);
				usage(stderr);
				return 2;
			}
			if (parse_u64(val, lo, hi, &v) != 0) {
				fprintf(stderr,
					"paso-kiosk run: %s: a whole number %" PRIu64 "..%" PRIu64
					": '%s'\n",
					o, lo, hi, val);
				return 2;
			}
			*dst = v;
		}
	}
	if (base_time == 0)
		base_time = clock_now; /* captures on the kiosks' clock */
	if (deploy == NULL || hub == NULL) {
		fprintf(stderr,
			"paso-kiosk run: --deployment DIR and --hub HOST:PORT are required\n");
		usage(stderr);
		return 2;
	}
	(void)snprintf(host, sizeof(host), "%s", hub);
	if ((colon = strrchr(host, ':')) == NULL || parse_u64(colon + 1, 1, 65535, &v) != 0) {
		fprintf(stderr, "paso-kiosk run: --hub: HOST:PORT with port 1..65535: '%s'\n", hub);
		return 2;
	}
	*colon = '\0';
	memset(&run, 0, sizeof(run));
	if ((r = plan_kiosks(&run, kiosks, fleet)) != 0) {
		ex = r;
		goto release;
	}
	/* Draining only: no new travellers, so nobody to identify either. */
	if (people == 0)
		crossings = 0, identify = 0;
	run.capture = capture;
	pthread_mutex_init(&run.mu, NULL);
	pthread_mutex_init(&run.pre_mu, NULL);
	pthread_cond_init(&run.pre_cv, NULL);
	run.people = (uint32_t)people;
	/* People past --people are never enrolled: the station's probes of strangers. */
	if (plan != NULL)
		identify = crossings = 0; /* the plan says what is sent */
	if ((people + identify > 0 &&
		    (r = population_new(seed, (uint32_t)(people + identify), &run.pop)) != 0) ||
		(run.pseud = calloc(people + 1, 32)) == NULL ||
		(run.enrolled = calloc(people + 1, 1)) == NULL ||
		(count = calloc(people + 1, sizeof(*count))) == NULL ||
		(run.kr = calloc(run.nk, sizeof(*run.kr))) == NULL ||
		(site_of_cross = calloc(run.nk, sizeof(*site_of_cross))) == NULL) {
		fprintf(stderr, "paso-kiosk run: %s\n", paso_strerror(r ? r : PASO_E_NOMEM));
		ex = 1;
		goto release;
	}
	if (mkdir(workdir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "paso-kiosk run: %s: %s\n", workdir, strerror(errno));
		ex = 1;
		goto release;
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", deploy);
	for (i = 0; i < run.nk; i++) {
		const struct site *site = &run.site[i];

		memset(&cfg, 0, sizeof(cfg));
		(void)snprintf(cert, sizeof(cert), "%s/kiosks/%s.crt", deploy, site->name);
		(void)snprintf(key, sizeof(key), "%s/kiosks/%s.key", deploy, site->name);
		(void)snprintf(wd, sizeof(wd), "%s/%s", workdir, site->name);
		if (ensure_cert(deploy, site->name, strncmp(site->name, "fleet-", 6) == 0, cert,
			    key) != 0) {
			ex = 1;
			goto release;
		}
		/* Like a registration client whose deletion job has not run: no new capture. */
		if ((r = purge_gate(wd, site->name, clock_now, keep_h, people > 0, err,
			     sizeof(err))) != 0) {
			fprintf(stderr, "paso-kiosk run: %s\n", err);
			ex = 1;
			goto release;
		}
		cfg.name = site->name;
		cfg.point = site->point;
		cfg.cert = cert;
		cfg.key = key;
		cfg.ca = ca;
		cfg.host = host;
		cfg.port = (uint16_t)v;
		cfg.workdir = wd;
		cfg.window = (unsigned)window;
		cfg.give_up_s = (int)giveup;
		run.kr[i].run = &run;
		run.kr[i].site = site;
		pthread_mutex_init(&run.kr[i].mu, NULL);
		if ((r = kiosk_open(&cfg, &run.kr[i].k, &d)) != 0) {
			fprintf(stderr, "paso-kiosk run: %s: %s\n", site->name, d.msg);
			ex = 1;
			goto release;
		}
		kiosk_on_enrolled(run.kr[i].k, on_enrolled, &run);
		if (site->detention && station == SIZE_MAX)
			station = i;
		else
			site_of_cross[ncross_sites++] = i;
	}
	if (truth != NULL && (run.truth = fopen(truth, "a")) == NULL) {
		fprintf(stderr, "paso-kiosk run: --truth: %s: %s\n", truth, strerror(errno));
		ex = 1;
		goto release;
	}
	if (plan != NULL) {
		if (load_plan(plan, &run, base_time, &later, &nlater) != 0) {
			ex = 2;
			goto release;
		}
		for (n_enrol = 0, i = 0; i < run.nk; i++)
			n_enrol += run.kr[i].njobs;
		if (pre_start(&run, later, nlater, pre_th, &npre_th) != 0) {
			r = PASO_E_NOMEM; /* done: joins the preparing threads it did start */
			fprintf(stderr, "paso-kiosk run: %s\n", paso_strerror(r));
			goto done;
		}
		if ((r = run_phase(&run, "enrolment", &t_enrol)) != 0)
			goto done;
		for (i = 0; i < nlater; i++)
			if (add_job(&run.kr[later[i].kr], &later[i].j) != 0) {
				r = PASO_E_NOMEM;
				fprintf(stderr, "paso-kiosk run: %s\n", paso_strerror(r));
				goto done;
			}
		n_cross = nlater;
		pre_halt(&run);
		r = run_phase(&run, "crossings", &t_cross);
		goto done;
	}
	/*
	 * The timeline: message k of the run is captured at start + k * KIOSK_TIMELINE_S / total,
	 * from the seed and --start alone (reproducible), and all within a few hours, inside the
	 * hub's capture window around its own clock.
	 */
	span = people + crossings + identify;
	/* Phase 1: enrolment. Detainees at the station, everyone else at a crossing. */
	for (i = 0; i < people; i++) {
		struct job j = {KIOSK_ENROL, (uint32_t)i, (uint32_t)i, 0, 0,
			base_time + (uint64_t)i * KIOSK_TIMELINE_S / span, NO_PRE};
		size_t s;

		if ((r = population_person(run.pop, (uint32_t)i, &pi)) != 0) {
			ex = 1;
			goto release;
		}
		if ((pi.category == CAT_DETAINEE && station != SIZE_MAX) || ncross_sites == 0)
			s = station != SIZE_MAX ? station : 0;
		else
			s = site_of_cross[i % ncross_sites];
		if (add_job(&run.kr[s], &j) != 0) {
			ex = 1;
			goto release;
		}
	}
	n_enrol = people;
	if ((r = run_phase(&run, "enrolment", &t_enrol)) != 0)
		goto done;
	/* Phase 2: crossings by card holders at their home crossing; identifications at the station. */
	st = seed ^ 0x63726f7373ULL;
	for (i = 0; i < crossings && ncross_sites > 0; i++) {
		struct job j;
		uint32_t p = (uint32_t)(rnd(&st) % people), tries;

		for (tries = 0; tries < 64; tries++) {
			if (run.enrolled[p] && population_person(run.pop, p, &pi) == 0 &&
				pi.category != CAT_DETAINEE)
				break;
			p = (uint32_t)(rnd(&st) % people);
		}
		if (tries == 64)
			continue;
		j.kind = KIOSK_GENUINE;
		j.person = p;
		j.source = p;
		j.pre = NO_PRE;
		if ((double)(rnd(&st) >> 11) / 9007199254740992.0 < impostor_rate) {
			j.kind = KIOSK_IMPOSTOR;
			do
				j.source = (uint32_t)(rnd(&st) % people);
			while (j.source == p && people > 1);
		}
		j.capture_no = 1 + count[p]++;
		j.direction = (count[p] % 2) ? PASO__DIRECTION__ENTRY : PASO__DIRECTION__EXIT;
		j.when = base_time + (people + i) * KIOSK_TIMELINE_S / span;
		if (add_job(&run.kr[site_of_cross[p % ncross_sites]], &j) != 0) {
			ex = 1;
			goto release;
		}
		n_cross++;
	}
	for (i = 0; i < identify && station != SIZE_MAX; i++) {
		struct job j;
		/* Half are enrolled people seen again; half were never enrolled. */
		uint32_t p = (i % 2 == 0) ? (uint32_t)(rnd(&st) % people) : (uint32_t)(people + i);

		j.kind = p < people ? KIOSK_IDENTIFY : KIOSK_PROBE_UNKNOWN;
		j.person = p;
		j.source = p;
		j.pre = NO_PRE;
		j.capture_no = 500000 + (uint32_t)i;
		j.direction = 0;
		j.when = base_time + (people + crossings + i) * KIOSK_TIMELINE_S / span;
		if (add_job(&run.kr[station], &j) != 0) {
			ex = 1;
			goto release;
		}
		n_cross++;
	}
	r = run_phase(&run, "crossings", &t_cross);
done:
	pre_end(&run, pre_th, npre_th);
	print_summary(&run, seed, t_enrol, t_cross, n_enrol, n_cross, json);
	ex = r == 0 ? 0 : 1;
release: /* an early exit (ex: 2 usage, 1 otherwise, printed) comes here with nothing started */
	for (i = 0; run.kr != NULL && i < run.nk; i++) {
		kiosk_close(run.kr[i].k);
		free(run.kr[i].jobs);
	}
	population_free(run.pop);
	free(run.kr);
	free(run.site);
	free(run.names);
	free(site_of_cross);
	free(later);
	if (run.truth != NULL && fclose(run.truth) != 0 && ex == 0) {
		fprintf(stderr, "paso-kiosk run: --truth: %s: %s\n", truth, strerror(errno));
		ex = 1;
	}
	free(run.pseud);
	free(run.enrolled);
	free(count);
	return ex;
}

#include "sample_pb.h"

/* One probe: person's capture capno under preset, packed into a new buffer (*buf, *n). */
static int
probe_pack(struct population *pop, uint32_t person, uint32_t capno, enum capture_preset preset,
	uint8_t **buf, size_t *n)
{
	struct bio_sample s;
	Paso__Capture c = PASO__CAPTURE__INIT;
	int r = -1;

	memset(&s, 0, sizeof(s));
	*buf = NULL;
	*n = 0;
	if (capture_take(pop, person, capno, preset, &s) != 0 || sample_to_pb(&s, &c) != 0)
		goto out;
	c.capture_time = (uint64_t)time(NULL);
	c.preset = (char *)capture_preset_name(preset);
	*n = paso__capture__get_packed_size(&c);
	if ((*buf = malloc(*n ? *n : 1)) == NULL)
		goto out;
	(void)paso__capture__pack(&c, *buf);
	r = 0;
out:
	sample_pb_release(&c);
	bio_sample_clear(&s);
	return r;
}

/* Packs probes [first, first + n) of a list on several threads (capture synthesis is the cost). */
#define PROBE_THREADS 4
#define PROBE_CHUNK 1024u

struct probe_job {
	struct population *pop;
	const uint32_t *persons, *capnos;
	enum capture_preset preset;
	uint8_t **bufs;
	size_t *lens;
	size_t n, stride, start;
	int failed;
};

static void *
probe_worker(void *arg)
{
	struct probe_job *j = arg;
	size_t k;

	for (k = j->start; k < j->n && !j->failed; k += j->stride)
		if (probe_pack(j->pop, j->persons[k], j->capnos[k], j->preset, &j->bufs[k],
			    &j->lens[k]) != 0)
			j->failed = 1;
	return NULL;
}

static int
probe_pack_many(struct population *pop, const uint32_t *persons, const uint32_t *capnos,
	enum capture_preset preset, size_t n, uint8_t **bufs, size_t *lens)
{
	struct probe_job jobs[PROBE_THREADS];
	pthread_t th[PROBE_THREADS];
	int started[PROBE_THREADS] = {0};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t t, nt = cpus < 1 ? 1 : (size_t)cpus;
	int failed = 0;

	if (nt > PROBE_THREADS)
		nt = PROBE_THREADS;
	if (nt > n)
		nt = n;
	for (t = 0; t < nt; t++) {
		jobs[t] = (struct probe_job){pop, persons, capnos, preset, bufs, lens, n, nt, t, 0};
		if (t > 0 && pthread_create(&th[t], NULL, probe_worker, &jobs[t]) == 0)
			started[t] = 1;
	}
	for (t = 0; t < nt; t++)
		if (!started[t]) /* this thread's share (and any thread that could not start) */
			(void)probe_worker(&jobs[t]);
	for (t = 0; t < nt; t++) {
		if (started[t])
			pthread_join(th[t], NULL);
		failed |= jobs[t].failed;
	}
	return failed ? -1 : 0;
}

/* Wipes and frees the packed probes bufs[0..n) (NULL entries skipped). */
static void
probe_bufs_free(uint8_t **bufs, size_t *lens, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (bufs[k] != NULL) {
			sodium_memzero(bufs[k], lens[k]);
			free(bufs[k]);
			bufs[k] = NULL;
		}
}

/* A --list file: "PERSON CAPTURE_NO" lines (at most PROBE_LIST_MAX), read whole. */
#define PROBE_LIST_MAX 100000u

static int
probe_list_read(const char *path, uint32_t **persons, uint32_t **capnos, size_t *n)
{
	char line[128];
	unsigned long long pe, cn;
	size_t cap = 0, lineno = 0;
	FILE *f;
	int r = 2;

	*persons = *capnos = NULL;
	*n = 0;
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "paso-kiosk probe: --list %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char extra;

		lineno++;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (sscanf(line, "%llu %llu %c", &pe, &cn, &extra) != 2 || pe > 100000000ull ||
			cn < 1 || cn > UINT32_MAX) {
			fprintf(stderr,
				"paso-kiosk probe: --list %s line %zu: expected PERSON CAPTURE_NO "
				"(person 0..100000000, capture 1..%u)\n",
				path, lineno, UINT32_MAX);
			goto out;
		}
		if (*n == PROBE_LIST_MAX) {
			fprintf(stderr, "paso-kiosk probe: --list %s: more than %u probes\n", path,
				PROBE_LIST_MAX);
			goto out;
		}
		if (*n == cap) {
			uint32_t *a, *b;

			cap = cap ? cap * 2 : 64;
			if ((a = realloc(*persons, cap * sizeof(**persons))) != NULL)
				*persons = a;
			if ((b = realloc(*capnos, cap * sizeof(**capnos))) != NULL)
				*capnos = b;
			if (a == NULL || b == NULL) {
				r = 1;
				goto out;
			}
		}
		(*persons)[*n] = (uint32_t)pe;
		(*capnos)[*n] = (uint32_t)cn;
		(*n)++;
	}
	if (ferror(f)) {
		fprintf(stderr, "paso-kiosk probe: --list %s: read error\n", path);
		r = 1;
		goto out;
	}
	if (*n == 0) {
		fprintf(stderr, "paso-kiosk probe: --list %s: no probes listed\n", path);
		goto out;
	}
	r = 0;
out:
	fclose(f);
	if (r != 0) {
		free(*persons);
		free(*capnos);
		*persons = *capnos = NULL;
		*n = 0;
	}
	return r;
}

/*
 * probe: synthetic captures for `paso-hub query`, written 0600 (biometric data): one packed
 * Capture (--person), or a probe set (--list): PROBE_SET_MAGIC, then per probe a 4-byte
 * big-endian length and a packed Capture, in the list's order.
 */
static int
cmd_probe(int argc, char **argv)
{
	struct population *pop = NULL;
	enum capture_preset preset = PRESET_GOOD;
	uint64_t seed = 1, person = UINT64_MAX, capno = 1000, nice = 0;
	uint32_t *persons = NULL, *capnos = NULL, one_p, one_c, maxp = 0;
	const char *out = NULL, *list = NULL;
	uint8_t **bufs = NULL, hdr[4];
	size_t n = 0, np = 1, k, *lens = NULL;
	FILE *f = NULL;
	int i, fd, r = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--person") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], 0, 100000000, &person) != 0)
				goto bad;
		} else if (strcmp(argv[i], "--list") == 0 && i + 1 < argc)
			list = argv[++i];
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], 0, UINT64_MAX, &seed) != 0)
				goto bad;
		} else if (strcmp(argv[i], "--capture-no") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], 1, UINT32_MAX, &capno) != 0)
				goto bad;
		} else if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) {
			if (capture_preset_parse(argv[++i], &preset) != 0)
				goto bad;
		} else if (strcmp(argv[i], "--nice") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], 0, 19, &nice) != 0)
				goto bad;
		} else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else
			goto bad;
	}
	if ((person == UINT64_MAX) == (list == NULL) || out == NULL) {
		fprintf(stderr, "paso-kiosk probe: needs --out FILE and either --person N or "
				"--list FILE\n");
		return 2;
	}
	if (list != NULL) {
		if ((r = probe_list_read(list, &persons, &capnos, &np)) != 0)
			return r;
	} else {
		one_p = (uint32_t)person;
		one_c = (uint32_t)capno;
		persons = &one_p;
		capnos = &one_c;
	}
	r = 1;
	/* before the workers start: they inherit it (Linux: nice is per thread) */
	if (nice > 0 && setpriority(PRIO_PROCESS, 0, (int)nice) != 0)
		fprintf(stderr, "paso-kiosk probe: --nice %d: %s (kept)\n", (int)nice,
			strerror(errno));
	for (k = 0; k < np; k++)
		maxp = persons[k] > maxp ? persons[k] : maxp;
	if (population_new(seed, maxp + 1, &pop) != 0) {
		fprintf(stderr, "paso-kiosk probe: cannot make a population of %lu\n",
			(unsigned long)maxp + 1);
		goto out;
	}
	if ((fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
		(f = fdopen(fd, "wb")) == NULL) {
		fprintf(stderr, "paso-kiosk probe: %s: %s\n", out, strerror(errno));
		goto out;
	}
	if (list != NULL &&
		fwrite(PROBE_SET_MAGIC, 1, PROBE_SET_MAGIC_LEN, f) != PROBE_SET_MAGIC_LEN)
		goto io;
	if ((bufs = calloc(PROBE_CHUNK, sizeof(*bufs))) == NULL ||
		(lens = calloc(PROBE_CHUNK, sizeof(*lens))) == NULL)
		goto fail;
	for (k = 0; k < np; k += PROBE_CHUNK) {
		size_t m = np - k < PROBE_CHUNK ? np - k : PROBE_CHUNK, q;

		if (probe_pack_many(pop, persons + k, capnos + k, preset, m, bufs, lens) != 0) {
			fprintf(stderr,
				"paso-kiosk probe: cannot capture the persons of probes "
				"%zu..%zu\n",
				k + 1, k + m);
			goto fail;
		}
		for (q = 0; q < m; q++) {
			n = lens[q];
			hdr[0] = (uint8_t)(n >> 24);
			hdr[1] = (uint8_t)(n >> 16);
			hdr[2] = (uint8_t)(n >> 8);
			hdr[3] = (uint8_t)n;
			if ((list != NULL && fwrite(hdr, 1, 4, f) != 4) ||
				fwrite(bufs[q], 1, n, f) != n)
				goto io;
		}
		probe_bufs_free(bufs, lens, m);
	}
	if (fclose(f) != 0) {
		f = NULL;
		goto io;
	}
	f = NULL;
	if (list != NULL)
		printf("%zu probes (seed %llu, preset %s) written to %s\n", np,
			(unsigned long long)seed, capture_preset_name(preset), out);
	else
		printf("probe of person %llu (seed %llu, capture %llu) written to %s\n",
			(unsigned long long)person, (unsigned long long)seed,
			(unsigned long long)capno, out);
	r = 0;
	goto out;
io:
	fprintf(stderr, "paso-kiosk probe: %s: %s\n", out, strerror(errno));
fail:
	if (f != NULL)
		fclose(f);
	f = NULL;
	unlink(out);
out:
	if (bufs != NULL)
		probe_bufs_free(bufs, lens, PROBE_CHUNK);
	free(bufs);
	free(lens);
	if (list != NULL) {
		free(persons);
		free(capnos);
	}
	population_free(pop);
	return r;
bad:
	fprintf(stderr, "paso-kiosk probe: bad argument '%s'\n", argv[i]);
	usage(stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "probe") == 0)
		return cmd_probe(argc - 1, argv + 1);
	if (strcmp(argv[1], "purge") == 0)
		return cmd_purge(argc - 1, argv + 1);
	fprintf(stderr, "paso-kiosk: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
