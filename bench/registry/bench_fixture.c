/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Builds a large deployment for benchmarks: N synthetic people (kiosk-sim's generators: ten-finger
 * ISO/IEC 19794-2 records, face, two irises), each written as the hub writes an accepted
 * enrolment (sealed record, wrapped data key, card index, epoch index, ENROLL audit entry,
 * counters, share outbox rows) through the hub's own keyring, vault and ledger, so the store and the audit log are
 * what a hub that enrolled them would hold. Captures are made on worker threads; one writer
 * commits them in groups, as the hub's loop does. Not a test: it prints its rate.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "capture.h"
#include "decide.h"
#include "deploy.h"
#include "errors.h"
#include "instant.h"
#include "keyring.h"
#include "ledger.h"
#include "paso.pb-c.h"
#include "policy.h"
#include "population.h"
#include "sample_pb.h"
#include "share.h"
#include "vault.h"
#include "../benchclock.h"

#define SECONDS_PER_DAY 86400u
#define RING 8
#define KIOSK "fixture-kiosk"
#define POINT "fixture-point"

struct person {
	uint8_t *rec; /* packed SubjectRecord */
	size_t len;
	char card[32];
	int category, finger, face, iris;
};

struct batch {
	uint64_t no; /* which batch this slot holds; UINT64_MAX: free */
	int ready;
	size_t n;
	struct person p[];
};

struct build {
	const struct population *pop;
	const struct policy *policy;
	uint64_t first, people, batch, nbatches, now, expires;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t next;    /* next batch a worker takes */
	uint64_t written; /* batches the writer has committed */
	int failed;
	struct batch *slot[RING];
	uint64_t retakes;
};

/*
 * One person's record as act_enroll builds it. The good preset sometimes fails a modality (as a
 * real kiosk does); the kiosk would capture again, so up to 8 captures are taken until face
 * and both irises are there. Fingers are the person's own (some people lack fingers).
 */
static int
make_person(struct build *b, uint64_t i, struct person *out)
{
	Paso__SubjectRecord rec = PASO__SUBJECT_RECORD__INIT;
	Paso__Capture cap = PASO__CAPTURE__INIT;
	struct person_info pi;
	struct bio_sample s;
	uint32_t k;
	int r;

	memset(&s, 0, sizeof(s));
	if ((r = population_person(b->pop, (uint32_t)i, &pi)) != 0)
		return r;
	for (k = 0; k < 8; k++) {
		if ((r = capture_take(b->pop, (uint32_t)i, k, PRESET_GOOD, &s)) != 0)
			return r;
		if (s.has_face && s.n_iris == 2)
			break;
		if (k < 7)
			bio_sample_clear(&s);
	}
	if (k > 0)
		__atomic_add_fetch(&b->retakes, k, __ATOMIC_RELAXED);
	if ((r = sample_to_pb(&s, &cap)) != 0)
		goto out;
	cap.capture_time = b->now;
	rec.category = (Paso__Category)pi.category;
	rec.card_number = pi.card;
	rec.templates = &cap;
	rec.enrolled_at = b->now;
	rec.captured_at = b->now;
	rec.enrolled_point = POINT;
	rec.enrolled_by = KIOSK;
	rec.expires_at = b->expires;
	rec.policy_digest.data = (uint8_t *)policy_digest(b->policy);
	rec.policy_digest.len = 32;
	out->len = paso__subject_record__get_packed_size(&rec);
	if ((out->rec = malloc(out->len)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	(void)paso__subject_record__pack(&rec, out->rec);
	(void)snprintf(out->card, sizeof(out->card), "%s", pi.card);
	out->category = pi.category;
	out->finger = s.finger_len > 0;
	out->face = s.has_face;
	out->iris = s.n_iris > 0;
	r = 0;
out:
	sample_pb_release(&cap);
	bio_sample_clear(&s);
	return r;
}

static void *
worker(void *arg)
{
	struct build *b = arg;
	struct batch *bt;
	uint64_t no, i;
	int r = 0;

	for (;;) {
		pthread_mutex_lock(&b->mu);
		while (!b->failed && b->next < b->nbatches && b->next >= b->written + RING)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->failed || b->next >= b->nbatches) {
			pthread_mutex_unlock(&b->mu);
			return NULL;
		}
		no = b->next++;
		bt = b->slot[no % RING];
		bt->no = no;
		bt->ready = 0;
		pthread_mutex_unlock(&b->mu);
		bt->n = 0;
		for (i = no * b->batch; i < (no + 1) * b->batch && i < b->people; i++) {
			if ((r = make_person(b, b->first + i, &bt->p[bt->n])) != 0)
				break;
			bt->n++;
		}
		pthread_mutex_lock(&b->mu);
		if (r != 0) {
			fprintf(stderr, "bench_fixture: person %llu: %s\n",
				(unsigned long long)(b->first + i), paso_strerror(r));
			b->failed = 1;
		}
		bt->ready = 1;
		pthread_cond_broadcast(&b->cv);
		pthread_mutex_unlock(&b->mu);
	}
}

/* One group: each person as act_enroll writes an accepted enrolment, one durable commit. */
static int
write_batch(struct build *b, struct ledger *l, const struct batch *bt, uint64_t counts[COUNT_N])
{
	struct ledger_txn *t = NULL;
	uint8_t id[VAULT_ID_BYTES], pseud[32];
	size_t i;
	int r;

	if ((r = ledger_begin(l, &t)) != 0)
		return r;
	ledger_note_time(t, b->now);
	for (i = 0; i < bt->n; i++) {
		const struct person *p = &bt->p[i];
		Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;

		if ((r = vault_subject_create(ledger_store(t), p->card,
			     (uint32_t)(b->expires / SECONDS_PER_DAY), p->rec, p->len, id)) != 0 ||
			(r = vault_pseudonym(ledger_store(t), id, pseud)) != 0)
			goto fail;
		e.actor = KIOSK;
		e.action = PASO__ACTION__ENROLL;
		e.purpose = "enrolment";
		e.subject.data = pseud;
		e.subject.len = sizeof(pseud);
		e.crossing_point = POINT;
		e.category = (Paso__Category)p->category;
		e.policy_rule = "store.location: hub";
		e.policy_digest.data = (uint8_t *)policy_digest(b->policy);
		e.policy_digest.len = 32;
		e.time = b->now;
		if ((r = ledger_append(t, &e, NULL)) != 0)
			goto fail;
		ledger_count(t, COUNT_SUBJECTS, 1);
		ledger_count(t, COUNT_CAT_REGIONAL_VISITOR + (size_t)p->category - 1, 1);
		ledger_count(t, COUNT_WITH_FINGER, p->finger);
		ledger_count(t, COUNT_WITH_FACE, p->face);
		ledger_count(t, COUNT_WITH_IRIS, p->iris);
		/* Bulk sharing rules: outbox rows in the same transaction, as act_enroll. */
		if ((r = share_enqueue(b->policy, t, id, (Paso__Category)p->category)) != 0)
			goto fail;
		counts[COUNT_WITH_FINGER] += (uint64_t)p->finger;
		counts[COUNT_WITH_FACE] += (uint64_t)p->face;
		counts[COUNT_WITH_IRIS] += (uint64_t)p->iris;
	}
	return ledger_commit(t);
fail:
	ledger_abort(t);
	return r;
}

static int
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bench_fixture: %s wants a whole number in %llu..%llu: '%s'\n", opt,
			(unsigned long long)min, (unsigned long long)max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: bench_fixture --dir DIR [--people N] [--first I] [--seed S] [--threads T]\n"
		"                     [--batch B]\n"
		"Enrols N synthetic people (population seed S, persons I..I+N-1; every one with the\n"
		"person's fingers, face and two irises) into the deployment DIR, created with the\n"
		"default policy if it does not exist, through the hub's keyring, vault and ledger.\n"
		"Run it on a stopped hub. Probes for these people: capture_take(pop, i, 8 or more).\n"
		"  --people N   default 10000      --first I  default 0 (grow a fixture in steps)\n"
		"  --seed S     default 7 (population of 10,000,000)\n"
		"  --threads T  capture threads (default: online CPUs)\n"
		"  --batch B    enrolments per durable commit (default 512, the hub's largest group)\n");
}

int
main(int argc, char **argv)
{
	struct build b;
	struct deploy_paths paths;
	struct paso_diag d = {0};
	struct keyring *kr = NULL;
	struct policy *pol = NULL;
	struct vault *v = NULL;
	struct ledger *l = NULL;
	struct checkpoint_signer *signer = NULL;
	struct vault_options vo = {.map_size = (size_t)16 << 30, .map_size_max = (size_t)256 << 30};
	struct population *pop = NULL;
	pthread_t tid[64];
	uint64_t seed = 7, threads = 0, k, recovered = 0, counts[COUNT_N] = {0};
	const char *dir = NULL;
	struct stat st;
	double t0, tw = 0;
	int i, r = 1, nstarted = 0;

	memset(&b, 0, sizeof(b));
	b.people = 10000;
	b.batch = 512;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strcmp(argv[i], "--people") == 0 && i + 1 < argc) {
			if (parse_u64("--people", argv[++i], 1, 10000000, &b.people) != 0)
				return 2;
		} else if (strcmp(argv[i], "--first") == 0 && i + 1 < argc) {
			if (parse_u64("--first", argv[++i], 0, 9999999, &b.first) != 0)
				return 2;
		} else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			if (parse_u64("--seed", argv[++i], 0, UINT64_MAX, &seed) != 0)
				return 2;
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			if (parse_u64("--threads", argv[++i], 1, 64, &threads) != 0)
				return 2;
		} else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			if (parse_u64("--batch", argv[++i], 1, 65536, &b.batch) != 0)
				return 2;
		} else {
			fprintf(stderr, "bench_fixture: unknown or incomplete option '%s'\n",
				argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL) {
		fprintf(stderr, "bench_fixture: --dir DIR is required\n");
		return 2;
	}
	if (b.first + b.people > 10000000) {
		fprintf(stderr,
			"bench_fixture: --first + --people past the population (10,000,000)\n");
		return 2;
	}
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n < 1 ? 1 : n > 64 ? 64 : (uint64_t)n;
	}
	if (sodium_init() < 0)
		return 1;
	if (stat(dir, &st) != 0 && (r = deploy_init(dir, "fixture", NULL, &d)) != 0) {
		fprintf(stderr, "bench_fixture: %s\n", d.msg);
		return 1;
	}
	r = 1;
	if (deploy_paths(dir, &paths, &d) != 0 || keyring_open(paths.keys, &kr, &d) != 0 ||
		policy_load_file(paths.policy, &pol, &d) != 0 ||
		deploy_load_signer(&paths, &signer, &d) != 0 ||
		vault_open_opts(dir, kr, &vo, &v, &d) != 0 ||
		ledger_open(paths.audit, v, decide_count_keys, COUNT_N, &recovered, &l, &d) != 0) {
		fprintf(stderr, "bench_fixture: %s: %s\n", dir, d.msg);
		goto out;
	}
	if (!policy_store_at_hub(pol) || !policy_store_allowed(pol, POLICY_FINGER) ||
		!policy_store_allowed(pol, POLICY_FACE) ||
		!policy_store_allowed(pol, POLICY_IRIS)) {
		fprintf(stderr,
			"bench_fixture: %s: the policy must keep fingers, face and iris at "
			"the hub\n",
			paths.policy);
		goto out;
	}
	if (population_new(seed, 10000000, &pop) != 0)
		goto out;
	b.pop = pop;
	b.policy = pol;
	b.now = (uint64_t)time(NULL);
	if (ledger_time(l) > b.now)
		b.now = ledger_time(l); /* a simulated hub ran ahead: never behind its record */
	b.expires = b.now +
		    (uint64_t)policy_retention_days(pol, POLICY_REC_ENROLMENT) * SECONDS_PER_DAY;
	/* As a hub's start: bulk rules are marked in force (with an empty store nothing is
	 * queued), so each enrolment below queues its own outbox rows as act_enroll does. */
	{
		size_t queued = 0;

		if (share_backfill(pol, l, v, b.now, &queued, &d) != 0) {
			fprintf(stderr, "bench_fixture: sharing rules: %s\n", d.msg);
			goto out;
		}
	}
	b.nbatches = (b.people + b.batch - 1) / b.batch;
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv, NULL);
	for (k = 0; k < RING; k++) {
		if ((b.slot[k] = calloc(
			     1, sizeof(struct batch) + b.batch * sizeof(struct person))) == NULL)
			goto out;
		b.slot[k]->no = UINT64_MAX;
	}
	printf("bench_fixture: enrolling persons %llu..%llu of population seed %llu into %s "
	       "(%llu capture threads, %llu per commit)\n",
		(unsigned long long)b.first, (unsigned long long)(b.first + b.people - 1),
		(unsigned long long)seed, dir, (unsigned long long)threads,
		(unsigned long long)b.batch);
	fflush(stdout);
	t0 = now_s();
	for (k = 0; k < threads; k++) {
		if (pthread_create(&tid[k], NULL, worker, &b) != 0)
			break;
		nstarted++;
	}
	if (nstarted == 0)
		goto out;
	for (k = 0; k < b.nbatches; k++) {
		struct batch *bt = b.slot[k % RING];
		double t1;
		size_t j;

		pthread_mutex_lock(&b.mu);
		while (!b.failed && !(bt->no == k && bt->ready))
			pthread_cond_wait(&b.cv, &b.mu);
		pthread_mutex_unlock(&b.mu);
		if (b.failed)
			break;
		t1 = now_s();
		do
			r = write_batch(&b, l, bt, counts);
		while (r == PASO_E_MAP_FULL); /* vault_begin grew the map: retry the group */
		tw += now_s() - t1;
		for (j = 0; j < bt->n; j++) {
			vault_free_record(bt->p[j].rec, bt->p[j].len);
			bt->p[j].rec = NULL;
		}
		pthread_mutex_lock(&b.mu);
		if (r != 0) {
			fprintf(stderr, "bench_fixture: commit of batch %llu: %s\n",
				(unsigned long long)k, paso_strerror(r));
			b.failed = 1;
		}
		b.written = k + 1;
		pthread_cond_broadcast(&b.cv);
		pthread_mutex_unlock(&b.mu);
		if (r != 0)
			break;
		if ((k + 1) % 200 == 0) {
			printf("  %llu enrolled, %.0f/s\n", (unsigned long long)((k + 1) * b.batch),
				(double)((k + 1) * b.batch) / (now_s() - t0));
			fflush(stdout);
		}
	}
	for (i = 0; i < nstarted; i++)
		pthread_join(tid[i], NULL);
	if (b.failed)
		goto out;
	if ((r = ledger_checkpoint(l, signer)) != 0) {
		fprintf(stderr, "bench_fixture: checkpoint: %s\n", paso_strerror(r));
		r = 1;
		goto out;
	}
	t0 = now_s() - t0;
	printf("bench_fixture: %llu people enrolled in %.1f s: %.0f/s (writer busy %.1f s: sealing, "
	       "audit entries, commits; the rest is making captures)\n"
	       "  with fingers %llu, face %llu, iris %llu; %llu captures retaken; the deployment "
	       "now holds %llu subjects, %llu audit entries\n",
		(unsigned long long)b.people, t0, (double)b.people / t0, tw,
		(unsigned long long)counts[COUNT_WITH_FINGER],
		(unsigned long long)counts[COUNT_WITH_FACE],
		(unsigned long long)counts[COUNT_WITH_IRIS], (unsigned long long)b.retakes,
		(unsigned long long)ledger_counter(l, COUNT_SUBJECTS),
		(unsigned long long)ledger_size(l));
	r = 0;
out:
	for (k = 0; k < RING; k++)
		free(b.slot[k]);
	population_free(pop);
	ledger_close(l);
	vault_close(v);
	policy_free(pol);
	checkpoint_signer_free(signer);
	keyring_close(kr);
	return r;
}
