/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Retention from outside, the forensic way: a real hub on a simulated clock enrols people,
 * records crossings and refuses messages under a policy keeping enrolments 30 days, crossings
 * 10 and refused messages' metadata 5; raw copies of data.mdb (and every key file) are taken
 * before the expiry days; the clock is moved past them; then, with those old copies and every
 * key file left afterwards, nothing expired decrypts while what has not expired still does,
 * each kind on its own day (a crossing goes while its person's enrolment stays, and the
 * reverse), expired cards map to nothing in the store, no card number or template byte of
 * theirs is anywhere in the deployment in the clear, and the audit log verifies. A hub killed
 * (SIGKILL) between a sweep's erasure and its key destruction finishes the job at its next
 * start. A policy reloaded with shorter retention erases records already held.
 */
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "client.h"
#include "harness.h"
#include "keyring.h"
#include "population.h"
#include "policy.h"
#include "vault.h"

#define T2027 1798761600ull /* 2027-01-01T00:00:00Z */
#define DAY 86400ull
#define KIOSK "kiosk-ciudad-hidalgo"

static const char policy_text[] = "name: retention-test\n"
				  "store:\n"
				  "  finger: true\n"
				  "  face: true\n"
				  "  iris: true\n"
				  "  location: hub\n"
				  "retention_days:\n"
				  "  enrolment: 30\n"
				  "  crossing: 10\n"
				  "  rejected: 5\n"
				  "match:\n"
				  "  dedup: true\n";

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
copy_file(const char *from, const char *to)
{
	size_t len = 0;
	char *buf = h_read_file(from, &len);

	assert_non_null(buf);
	write_file(to, buf, len);
	chmod(to, 0600);
	free(buf);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static void
deploy(struct deployment *dep)
{
	char pol[] = "/tmp/paso-retention-policy-XXXXXX";
	int fd = mkstemp(pol);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, policy_text, sizeof(policy_text) - 1),
		(ssize_t)(sizeof(policy_text) - 1));
	close(fd);
	h_deploy(dep, pol);
	unlink(pol);
}

static const char *
card_of(uint32_t person, char buf[VAULT_CARD_MAX + 1])
{
	struct population *pop = NULL;
	struct person_info pi;

	assert_int_equal(population_new(5, person + 1, &pop), 0);
	assert_int_equal(population_person(pop, person, &pi), 0);
	(void)snprintf(buf, VAULT_CARD_MAX + 1, "%s", pi.card);
	population_free(pop);
	return buf;
}

/* Sends a message and returns the answer (caller frees). */
static Paso__Envelope *
roundtrip(struct tls_conn *c, const Paso__Envelope *env)
{
	assert_int_equal(c_send(c, env), 0);
	return c_recv(c);
}

static void
expect_body(Paso__Envelope *a, int body, int code)
{
	assert_non_null(a);
	if ((int)a->body_case != body)
		fail_msg("answer %d (code %d: %s), wanted %d", a->body_case,
			a->body_case == PASO__ENVELOPE__BODY_ERROR ? a->error->code : 0,
			a->body_case == PASO__ENVELOPE__BODY_ERROR ? a->error->message : "", body);
	if (body == PASO__ENVELOPE__BODY_ERROR)
		assert_int_equal(a->error->code, code);
	paso__envelope__free_unpacked(a, NULL);
}

/* Enrols; with pseud, keeps the pseudonym the hub acknowledged with. */
static void
enrol_p(struct tls_conn *c, uint64_t seq, uint32_t person, uint32_t capture, uint64_t t, int body,
	int code, uint8_t pseud[32])
{
	Paso__Envelope env, *a;

	c_make_enroll_capture(&env, KIOSK, seq, person, capture);
	env.enroll->capture->capture_time = t;
	a = roundtrip(c, &env);
	if (pseud != NULL) {
		assert_non_null(a);
		assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
		assert_int_equal(a->ack->subject.len, 32);
		memcpy(pseud, a->ack->subject.data, 32);
	}
	expect_body(a, body, code);
	c_free_enroll(&env);
}

static void
enrol(struct tls_conn *c, uint64_t seq, uint32_t person, uint32_t capture, uint64_t t, int body,
	int code)
{
	enrol_p(c, seq, person, capture, t, body, code, NULL);
}

static void
cross(struct tls_conn *c, uint64_t seq, uint32_t person, uint64_t t, int body, int code)
{
	Paso__Envelope src, x = PASO__ENVELOPE__INIT;
	Paso__Crossing cr = PASO__CROSSING__INIT;

	c_make_enroll_capture(&src, KIOSK, seq, person, 7);
	src.enroll->capture->capture_time = t;
	x.kiosk_id = KIOSK;
	x.seq = seq;
	x.body_case = PASO__ENVELOPE__BODY_CROSSING;
	x.crossing = &cr;
	cr.card_number = src.enroll->card_number;
	cr.capture = src.enroll->capture;
	cr.direction = PASO__DIRECTION__ENTRY;
	cr.crossing_point = "Ciudad Hidalgo";
	expect_body(roundtrip(c, &x), body, code);
	c_free_enroll(&src);
}

static void
advance(const struct deployment *dep, const char *by)
{
	const char *argv[] = {"paso-hub", "clock", dep->hub, "--advance", by, NULL};

	assert_int_equal(h_run(NULL, argv), 0);
}

static long long
subjects_held(const struct deployment *dep, char **jsonp)
{
	const char *argv[] = {"paso-hub", "stats", dep->hub, "--json", NULL};
	char *out = NULL;
	long long n;

	if (h_run(&out, argv) != 0)
		fail_msg("paso-hub stats: %s", out ? out : "");
	n = h_json_num(out, "subjects");
	if (jsonp != NULL)
		*jsonp = out;
	else
		free(out);
	return n;
}

static char *
run_out(const char *const argv[], int want)
{
	char *out = NULL;
	int st = h_run(&out, argv);

	if (st != want)
		fail_msg("%s %s: status %d, wanted %d: %s", argv[0], argv[1], st, want,
			out ? out : "");
	return out;
}

/* What opening a person's record from the store in dir with the keys in keydir gives. */
struct opened {
	int lookup;   /* vault_card_lookup */
	int get;      /* vault_subject_get (when looked up) */
	int events;   /* vault_event_foreach */
	int pseud_rc; /* vault_pseudonym */
	uint8_t pseud[32];
	uint8_t id[VAULT_ID_BYTES];
	char card[VAULT_CARD_MAX + 1]; /* from the record, when it opened */
};

static int
count_cb(void *arg, uint64_t no, const uint8_t *ev, size_t len)
{
	(void)no;
	(void)ev;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

static void
open_person(const char *dir, const char *keydir, uint32_t person, struct opened *o)
{
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct vault_txn *t = NULL;
	struct paso_diag d = {0};
	char card[VAULT_CARD_MAX + 1];
	uint8_t *rec = NULL;
	size_t len = 0;
	int n = 0;

	memset(o, 0, sizeof(*o));
	assert_int_equal(keyring_open(keydir, &kr, &d), 0);
	assert_int_equal(vault_open(dir, kr, &v, &d), 0);
	assert_int_equal(vault_begin(v, 1, &t), 0);
	o->lookup = vault_card_lookup(t, card_of(person, card), o->id);
	o->get = o->events = PASO_E_NOT_FOUND;
	if (o->lookup == 0) {
		o->get = vault_subject_get(t, o->id, &rec, &len);
		if (o->get == 0) {
			Paso__SubjectRecord *sr = paso__subject_record__unpack(NULL, len, rec);

			assert_non_null(sr);
			(void)snprintf(o->card, sizeof(o->card), "%s", sr->card_number);
			paso__subject_record__free_unpacked(sr, NULL);
		}
		vault_free_record(rec, len);
		o->events = vault_event_foreach(t, o->id, count_cb, &n);
		o->pseud_rc = vault_pseudonym(t, o->id, o->pseud);
	}
	vault_abort(t);
	vault_close(v);
	keyring_close(kr);
}

static int
kept_cb(void *arg, uint32_t epoch, const uint8_t *rest, size_t restlen, const uint8_t *data,
	size_t len)
{
	(void)epoch;
	(void)rest;
	(void)restlen;
	(void)data;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

/* Opens every kept record of kind (all days) in the store in dir with the keys in keydir:
 * returns vault_kept_foreach's answer, *rows the records opened before it. */
static int
kept_open(const char *dir, const char *keydir, unsigned kind, int *rows)
{
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct vault_txn *t = NULL;
	struct paso_diag d = {0};
	int rc;

	*rows = 0;
	assert_int_equal(keyring_open(keydir, &kr, &d), 0);
	assert_int_equal(vault_open(dir, kr, &v, &d), 0);
	assert_int_equal(vault_begin(v, 1, &t), 0);
	rc = vault_kept_foreach(t, VAULT_EPOCH(kind, 0),
		VAULT_EPOCH(kind, VAULT_EPOCH_DAY_MASK) + 1, kept_cb, rows);
	vault_abort(t);
	vault_close(v);
	keyring_close(kr);
	return rc;
}

/* What reading the resend memory of (KIOSK, seq) from the store in dir gives. */
static int
seen_open(const char *dir, const char *keydir, uint64_t seq)
{
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct vault_txn *t = NULL;
	struct paso_diag d = {0};
	uint8_t digest[32], *reply = NULL;
	size_t len = 0;
	int rc;

	assert_int_equal(keyring_open(keydir, &kr, &d), 0);
	assert_int_equal(vault_open(dir, kr, &v, &d), 0);
	assert_int_equal(vault_begin(v, 1, &t), 0);
	rc = vault_seen_get(t, KIOSK, seq, digest, &reply, &len);
	free(reply);
	vault_abort(t);
	vault_close(v);
	keyring_close(kr);
	return rc;
}

/* Copies the live store and keys into DIR/NAME/store/data.mdb and DIR/NAME-keys. */
static void
snapshot(const struct deployment *dep, const char *name, char *store, size_t cap, char *keydir,
	size_t kcap)
{
	char from[800], to[900];

	(void)snprintf(store, cap, "%s/%s", dep->dir, name);
	(void)snprintf(keydir, kcap, "%s/%s-keys", dep->dir, name);
	sh("mkdir -p '%s/store'", store);
	(void)snprintf(from, sizeof(from), "%s/store/data.mdb", dep->hub);
	(void)snprintf(to, sizeof(to), "%s/store/data.mdb", store);
	copy_file(from, to);
	sh("cp -a '%s/keys' '%s'", dep->hub, keydir);
}

/* A stats number of the deployment. */
static long long
stat_num(const struct deployment *dep, const char *key)
{
	char *out = NULL;
	long long n;

	(void)subjects_held(dep, &out);
	n = h_json_num(out, key);
	free(out);
	return n;
}

/* Waits (up to limit seconds) until stats key is want; returns seconds or -1. */
static double
wait_stat(const struct deployment *dep, const char *key, long long want, double limit)
{
	double t0 = mono();

	while (mono() - t0 < limit) {
		if (stat_num(dep, key) == want)
			return mono() - t0;
		usleep(100000);
	}
	return -1;
}

/*
 * The sweep commits the deletion of the rows, then destroys the emptied epochs' keys: stats see
 * the rows gone a moment before the keys are. Waits (up to 10 s) until expr gives want.
 */
#define UNTIL_EQ(expr, want)                                                                       \
	do {                                                                                       \
		double t0_ = mono();                                                               \
		int r_;                                                                            \
		while ((r_ = (expr)) != (want) && mono() - t0_ < 10.0)                             \
			usleep(100000);                                                            \
		assert_int_equal(r_, (want));                                                      \
	} while (0)

/* Looks for needle (len bytes) in every regular file under a tree. */
static const uint8_t *scan_needle;
static size_t scan_len;
static char scan_hit[1024];

static int
scan_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	size_t len = 0;
	char *buf;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	if ((buf = h_read_file(path, &len)) == NULL)
		return 0;
	if (memmem(buf, len, scan_needle, scan_len) != NULL)
		(void)snprintf(scan_hit, sizeof(scan_hit), "%s", path);
	free(buf);
	return 0;
}

static int
found_in_tree(const char *root, const void *needle, size_t len)
{
	scan_needle = needle;
	scan_len = len;
	scan_hit[0] = '\0';
	assert_int_equal(nftw(root, scan_one, 16, FTW_PHYS), 0);
	if (scan_hit[0] != '\0')
		fprintf(stderr, "found in %s\n", scan_hit);
	return scan_hit[0] != '\0';
}

static int
kek_files(const char *keydir, uint32_t epoch, const char *suffix)
{
	char cmd[1024];
	FILE *p;
	int n = 0;

	(void)snprintf(
		cmd, sizeof(cmd), "ls %s | grep -c '^kek-%08x-.*\\.%s$'", keydir, epoch, suffix);
	assert_non_null(p = popen(cmd, "r"));
	if (fscanf(p, "%d", &n) != 1)
		n = 0;
	pclose(p);
	return n;
}

/* Waits (up to limit seconds) until the store holds want subjects; returns seconds or -1. */
static double
wait_subjects(const struct deployment *dep, long long want, double limit)
{
	double t0 = mono();

	while (mono() - t0 < limit) {
		if (subjects_held(dep, NULL) == want)
			return mono() - t0;
		usleep(100000);
	}
	return -1;
}

#define D0 ((uint32_t)(T2027 / DAY))

static void
test_forensic(void **state)
{
	struct deployment dep;
	const char *const sim[] = {"--clock", "sim:2027-01-01T00:00:00Z", NULL};
	char a[700], akeys[700], b[700], bkeys[700], keys[700], card[VAULT_CARD_MAX + 1];
	char *out = NULL;
	uint8_t finger[32], pseud0[32];
	struct opened o;
	struct tls_conn *c;
	uint64_t seq = 1;
	double took;
	int rc, rows;
	uint32_t p;

	(void)state;
	deploy(&dep);
	(void)snprintf(keys, sizeof(keys), "%s/keys", dep.hub);
	h_hub_start_ex(&dep, 0, sim);
	assert_non_null(c = c_connect(dep.hub, KIOSK, dep.port, &rc));
	/* Day 0: persons 0..2 enrolled (seq 1..3), person 0 crosses (seq 4), and a crossing of
	 * someone never enrolled is refused (seq 5): one record of each kind. */
	enrol_p(c, seq++, 0, 0, T2027, PASO__ENVELOPE__BODY_ACK, 0, pseud0);
	for (p = 1; p < 3; p++)
		enrol(c, seq++, p, 0, T2027, PASO__ENVELOPE__BODY_ACK, 0);
	cross(c, seq++, 0, T2027, PASO__ENVELOPE__BODY_ACK, 0);
	cross(c, seq++, 4, T2027, PASO__ENVELOPE__BODY_ERROR, PASO_E_NOT_ENROLLED);
	assert_int_equal(subjects_held(&dep, &out), 3);
	assert_int_equal(h_json_num(out, "2027"), 3);
	assert_int_equal(h_json_num(out, "crossings"), 1);
	assert_int_equal(h_json_num(out, "kept_records"), 2); /* the crossing, the refusal */
	free(out);
	{
		const char *argv[] = {"paso-hub", "sweep", dep.hub, "--dry-run", NULL};
		out = run_out(argv, 0);
		assert_non_null(strstr(out, "nothing is due"));
		assert_non_null(strstr(out, "asked the running hub"));
		free(out);
	}
	/* Copy A, everything an intruder could copy before any expiry day: store and keys. */
	snapshot(&dep, "copy-a", a, sizeof(a), akeys, sizeof(akeys));

	/* Refused messages' metadata: kept 5 days, not a second less, gone on day 6. */
	advance(&dep, "5d");
	sleep(2);
	assert_int_equal(stat_num(&dep, "kept_records"), 2);
	advance(&dep, "86399s");
	sleep(2);
	assert_int_equal(stat_num(&dep, "kept_records"), 2);
	advance(&dep, "1s");
	took = wait_stat(&dep, "kept_records", 1, 10.0);
	fprintf(stderr, "refusal metadata erased %.2f s after its day changed\n", took);
	assert_true(took >= 0);
	UNTIL_EQ(kept_open(a, keys, POLICY_REC_REJECTED, &rows), PASO_E_KEY_NOT_FOUND);
	assert_int_equal(kept_open(a, akeys, POLICY_REC_REJECTED, &rows), 0); /* control */
	assert_int_equal(rows, 1);

	/* Day 10: person 3 enrols. Day 11: person 0's crossing of day 0 is gone while person 0's
	 * enrolment stays: from copy A with the keys of now, the record opens, the crossing not. */
	advance(&dep, "4d");
	enrol(c, seq++, 3, 0, T2027 + 10 * DAY, PASO__ENVELOPE__BODY_ACK, 0); /* seq 6 */
	advance(&dep, "1d");
	assert_true(wait_stat(&dep, "kept_records", 0, 10.0) >= 0);
	assert_int_equal(stat_num(&dep, "crossings"), 0);
	assert_int_equal(subjects_held(&dep, NULL), 4);
	UNTIL_EQ(kept_open(a, keys, POLICY_REC_CROSSING, &rows), PASO_E_KEY_NOT_FOUND);
	UNTIL_EQ(seen_open(a, keys, 4), PASO_E_KEY_NOT_FOUND); /* its acknowledgement */
	open_person(a, keys, 0, &o);
	assert_int_equal(o.get, 0);
	assert_int_equal(o.pseud_rc, 0);
	assert_memory_equal(o.pseud, pseud0, 32);
	assert_int_equal(o.events, PASO_E_KEY_NOT_FOUND);
	assert_int_equal(seen_open(a, keys, 1), 0); /* person 0's enrolment's: still held */
	open_person(a, akeys, 0, &o);               /* control: with the keys of day 0 it opens */
	assert_int_equal(o.events, 0);

	/* Day 25: person 1 crosses. Copy B. */
	advance(&dep, "14d");
	cross(c, seq++, 1, T2027 + 25 * DAY, PASO__ENVELOPE__BODY_ACK, 0); /* seq 7 */
	snapshot(&dep, "copy-b", b, sizeof(b), bkeys, sizeof(bkeys));

	/* The enrolments of day 0: not erased on their expiry day, not even in its last second. */
	advance(&dep, "5d");
	sleep(2);
	assert_int_equal(subjects_held(&dep, NULL), 4);
	advance(&dep, "86399s");
	sleep(2);
	assert_int_equal(subjects_held(&dep, NULL), 4);
	/* The day after: erased within seconds, by the sweep on the hub's clock. */
	advance(&dep, "1s");
	took = wait_subjects(&dep, 1, 10.0);
	fprintf(stderr, "expired subjects erased %.2f s after the day changed\n", took);
	assert_true(took >= 0);
	assert_int_equal(subjects_held(&dep, &out), 1);
	assert_int_equal(h_json_num(out, "2027"), 1);
	/* The reverse: person 1's crossing of day 25 outlives person 1's enrolment. */
	assert_int_equal(h_json_num(out, "crossings"), 1);
	assert_int_equal(h_json_num(out, "kept_records"), 1);
	/* The resend memory of what expired went too; person 3's enrolment and person 1's
	 * crossing are remembered until their days. */
	assert_int_equal(h_json_num(out, "messages_seen"), 2);
	free(out);
	assert_int_equal(kept_open(b, keys, POLICY_REC_CROSSING, &rows), 0);
	assert_int_equal(rows, 1);
	{
		const char *argv[] = {"paso-hub", "sweep", dep.hub, "--dry-run", NULL};
		out = run_out(argv, 0);
		assert_non_null(strstr(out, "nothing is due"));
		assert_non_null(strstr(out, "0 expired key epoch(s)"));
		free(out);
	}
	/* Their cards map to nothing: a crossing is refused, and the same person can enrol anew
	 * (neither the card index nor 1:N deduplication remembers them). */
	cross(c, seq++, 0, T2027 + 31 * DAY, PASO__ENVELOPE__BODY_ERROR, PASO_E_NOT_ENROLLED);
	enrol(c, seq++, 1, 3, T2027 + 31 * DAY, PASO__ENVELOPE__BODY_ACK, 0);
	/* The survivor is intact. */
	cross(c, seq++, 3, T2027 + 31 * DAY, PASO__ENVELOPE__BODY_ACK, 0);
	/* Day 36: person 1's crossing of day 25 goes (the refusal and crossing of day 31 stay). */
	advance(&dep, "5d");
	assert_true(wait_stat(&dep, "kept_records", 2, 10.0) >= 0);
	UNTIL_EQ(kept_open(b, keys, POLICY_REC_CROSSING, &rows), PASO_E_KEY_NOT_FOUND);
	tls_conn_shutdown(c);
	tls_conn_free(c);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);

	/* The audit log says what was erased, how many, which days, under which rule. */
	{
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		out = run_out(argv, 0);
		/* One per sweep step and kind: refusals (day 6), crossings (day 11), enrolments
		 * (day 31), crossings (day 36). */
		assert_int_equal(h_count(out, "\"DELETE\""), 4);
		assert_non_null(strstr(out, "erased 1 records of refused messages"));
		assert_non_null(strstr(out, "erased 1 crossing records created on 1 day(s) "
					    "2027-01-01..2027-01-01"));
		assert_non_null(strstr(out, "erased 1 crossing records created on 1 day(s) "
					    "2027-01-26..2027-01-26"));
		assert_non_null(strstr(out, "erased 3 enrolments"));
		assert_non_null(
			strstr(out, "3 enrolled on days 2027-01-01..2027-01-01 and kept 30 days"));
		assert_non_null(strstr(out, "and 3 acknowledgements of enrolment messages"));
		assert_non_null(strstr(out, "\"retention_days.rejected\""));
		assert_int_equal(h_count(out, "\"retention_days.crossing\""), 2);
		assert_int_equal(h_count(out, "destroyed the key-encryption keys of"), 4);
		free(out);
	}
	{
		const char *argv[] = {"paso-audit", "verify", dep.hub, NULL};
		out = run_out(argv, 0);
		free(out);
	}
	/* The counters the sweep kept (subjects, crossings, categories, templates) agree with
	 * the records left: --recount opens every one and fails on any difference. */
	{
		const char *argv[] = {"paso-hub", "stats", dep.hub, "--recount", NULL};
		out = run_out(argv, 0);
		assert_non_null(strstr(out, "recounted"));
		free(out);
	}
	/* The expired epochs' KEKs are gone, tombstones in their place; the living stay. */
	{
		const uint32_t gone[] = {VAULT_EPOCH(POLICY_REC_ENROLMENT, D0),
			VAULT_EPOCH(POLICY_REC_CROSSING, D0), VAULT_EPOCH(POLICY_REC_REJECTED, D0),
			VAULT_EPOCH(POLICY_REC_CROSSING, D0 + 25)};
		size_t i;

		for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
			assert_int_equal(kek_files(keys, gone[i], "key"), 0);
			assert_true(kek_files(keys, gone[i], "shredded") >= 1);
		}
		assert_true(
			kek_files(keys, VAULT_EPOCH(POLICY_REC_ENROLMENT, D0 + 10), "key") >= 1);
	}

	/* Control: with the keys as they were, copy A opens person 0's record and pseudonym. */
	open_person(a, akeys, 0, &o);
	assert_int_equal(o.lookup, 0);
	assert_int_equal(o.get, 0);
	assert_string_equal(o.card, card_of(0, card));
	assert_int_equal(o.pseud_rc, 0);
	assert_memory_equal(o.pseud, pseud0, 32);
	assert_int_equal(seen_open(a, akeys, 1), 0);
	for (p = 0; p < 3; p++) {
		open_person(a, keys, p, &o);
		/* The old copy still holds the index row (see threat-model.md), but nothing
		 * behind it opens: the key that wrapped the data key is destroyed. */
		assert_int_equal(o.lookup, 0);
		assert_int_equal(o.get, PASO_E_KEY_NOT_FOUND);
		if (p == 0)
			assert_int_equal(o.events, PASO_E_KEY_NOT_FOUND);
		/* Nor can anyone recompute their pseudonym: the log's entries about them (still
		 * there, the log stays complete) no longer tie to a card. */
		assert_int_equal(o.pseud_rc, PASO_E_KEY_NOT_FOUND);
		/* Nor read the acknowledgements the hub kept for resends. */
		assert_int_equal(seen_open(a, keys, 1 + p), PASO_E_KEY_NOT_FOUND);
	}
	assert_int_equal(kept_open(a, keys, POLICY_REC_CROSSING, &rows), PASO_E_KEY_NOT_FOUND);
	assert_int_equal(kept_open(a, keys, POLICY_REC_REJECTED, &rows), PASO_E_KEY_NOT_FOUND);
	{
		char audit[700];

		(void)snprintf(audit, sizeof(audit), "%s/audit", dep.hub);
		assert_true(found_in_tree(audit, pseud0, sizeof(pseud0)));
	}
	/* Positive control: the person not yet expired opens from copy B with the keys of now. */
	open_person(b, keys, 3, &o);
	assert_int_equal(o.get, 0);
	assert_string_equal(o.card, card_of(3, card));
	assert_int_equal(seen_open(b, keys, 6), 0);

	/* The store as it is: their cards map to nothing (person 1 only to the new enrolment). */
	open_person(dep.hub, keys, 0, &o);
	assert_int_equal(o.lookup, PASO_E_NOT_FOUND);
	open_person(dep.hub, keys, 2, &o);
	assert_int_equal(o.lookup, PASO_E_NOT_FOUND);
	{
		struct opened old;

		open_person(a, akeys, 1, &old);
		open_person(dep.hub, keys, 1, &o);
		assert_int_equal(o.get, 0);
		assert_memory_not_equal(o.id, old.id, VAULT_ID_BYTES);
	}
	/* No card number and no template byte of theirs in the clear, anywhere in the
	 * deployment (store, keys, audit log, policy, logs) or in the old copies. */
	{
		Paso__Envelope env;

		c_make_enroll_capture(&env, KIOSK, 1, 0, 0);
		assert_true(env.enroll->capture->finger_record.len > 64);
		memcpy(finger, env.enroll->capture->finger_record.data + 32, sizeof(finger));
		c_free_enroll(&env);
	}
	for (p = 0; p < 3; p++) {
		card_of(p, card);
		assert_false(found_in_tree(dep.dir, card, strlen(card)));
	}
	assert_false(found_in_tree(dep.dir, finger, sizeof(finger)));
	h_cleanup(&dep);
}

static void
test_crash_mid_sweep(void **state)
{
	struct deployment dep;
	const char *const sim[] = {"--clock", "sim:2027-01-01T00:00:00Z", NULL};
	const char *const resume[] = {"--clock", "sim", NULL};
	const uint32_t expiry_epoch = VAULT_EPOCH(POLICY_REC_ENROLMENT, D0);
	const uint32_t crossing_epoch = VAULT_EPOCH(POLICY_REC_CROSSING, D0);
	char keys[700], pre[700], forensic[700];
	char *out = NULL;
	struct opened o;
	struct tls_conn *c;
	double t0;
	int rc, st = 0;
	uint32_t p;

	(void)state;
	deploy(&dep);
	(void)snprintf(keys, sizeof(keys), "%s/keys", dep.hub);
	setenv("PASO_HUB_TEST_CRASH_AFTER_SWEEP", "1", 1);
	h_hub_start_ex(&dep, 0, sim);
	unsetenv("PASO_HUB_TEST_CRASH_AFTER_SWEEP");
	assert_non_null(c = c_connect(dep.hub, KIOSK, dep.port, &rc));
	for (p = 0; p < 2; p++)
		enrol(c, p + 1, p, 0, T2027, PASO__ENVELOPE__BODY_ACK, 0);
	cross(c, 3, 0, T2027, PASO__ENVELOPE__BODY_ACK, 0);
	tls_conn_free(c);
	(void)snprintf(pre, sizeof(pre), "%s/pre-data.mdb", dep.dir);
	{
		char from[800];

		(void)snprintf(from, sizeof(from), "%s/store/data.mdb", dep.hub);
		copy_file(from, pre);
	}
	/* Past the expiry day: the sweep erases, commits, and the hub dies at once, which may
	 * be before the control socket's answer to the clock move is written (the move itself is
	 * committed first: its CLOCK_SET entry is checked below). */
	{
		const char *argv[] = {"paso-hub", "clock", dep.hub, "--advance", "31d", NULL};
		int cst = h_run(&out, argv);

		if (cst != 0 && (out == NULL || strstr(out, "did not answer") == NULL))
			fail_msg("paso-hub clock --advance: status %d: %s", cst, out ? out : "");
		free(out);
		out = NULL;
	}
	for (t0 = mono(); mono() - t0 < 10.0; usleep(50000))
		if (waitpid(dep.hub_pid, &st, WNOHANG) == dep.hub_pid)
			break;
	assert_true(mono() - t0 < 10.0);
	dep.hub_pid = 0;
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* Half done: the rows of both kinds are gone, their days' keys not yet destroyed. */
	assert_int_equal(subjects_held(&dep, &out), 0);
	assert_int_equal(h_json_num(out, "kept_records"), 0);
	assert_int_equal(h_json_num(out, "crossings"), 0);
	free(out);
	assert_true(kek_files(keys, expiry_epoch, "key") >= 1);
	assert_true(kek_files(keys, crossing_epoch, "key") >= 1);
	/* The next start finishes the job before serving. */
	h_hub_start_ex(&dep, 0, resume);
	assert_int_equal(kek_files(keys, expiry_epoch, "key"), 0);
	assert_int_equal(kek_files(keys, crossing_epoch, "key"), 0);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	{
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		out = run_out(argv, 0);
		/* One entry per kind, each once: the crash did not repeat or lose one. */
		assert_non_null(strstr(out, "simulated clock moved from 2027-01-01T00:00:00Z"));
		assert_int_equal(h_count(out, "\"DELETE\""), 2);
		assert_non_null(strstr(out, "erased 2 enrolments"));
		assert_non_null(strstr(out, "erased 1 crossing records"));
		assert_non_null(strstr(out, "destroyed the key-encryption keys of 2 expired key"));
		free(out);
	}
	{
		const char *argv[] = {"paso-audit", "verify", dep.hub, NULL};
		out = run_out(argv, 0);
		free(out);
	}
	(void)snprintf(forensic, sizeof(forensic), "%s/forensic", dep.dir);
	sh("mkdir -p '%s/store'", forensic);
	{
		char to[800];

		(void)snprintf(to, sizeof(to), "%s/store/data.mdb", forensic);
		copy_file(pre, to);
	}
	for (p = 0; p < 2; p++) {
		open_person(forensic, keys, p, &o);
		assert_int_equal(o.lookup, 0);
		assert_int_equal(o.get, PASO_E_KEY_NOT_FOUND);
	}
	{
		int rows;

		assert_int_equal(kept_open(forensic, keys, POLICY_REC_CROSSING, &rows),
			PASO_E_KEY_NOT_FOUND);
	}
	h_cleanup(&dep);
}

static void
write_policy(const struct deployment *dep, const char *name, unsigned days, const char *extra)
{
	char path[700], text[1024];
	int n;

	(void)snprintf(path, sizeof(path), "%s/policy.yaml", dep->hub);
	n = snprintf(text, sizeof(text),
		"name: %s\nstore:\n  finger: true\n  face: true\n  iris: true\n  location: hub\n"
		"retention_days:\n  enrolment: %u\nmatch:\n  dedup: true\n%s",
		name, days, extra);
	write_file(path, text, (size_t)n);
}

/* The digest (hex) a POLICY_LOAD entry gives for policy name, from paso-audit show --json. */
static void
loaded_digest(const char *json, const char *name, char hex[65])
{
	char key[120];
	const char *p;

	(void)snprintf(key, sizeof(key), "'%s' sha256 ", name);
	assert_non_null(p = strstr(json, key));
	memcpy(hex, p + strlen(key), 64);
	hex[64] = '\0';
}

/* The policy digest of the n-th DELETE entry (from 0) in paso-audit show --json. */
static void
delete_digest(const char *json, size_t n, char hex[65])
{
	const char *p = json, *d;

	for (;;) {
		assert_non_null(p = strstr(p, "\"DELETE\""));
		if (n-- == 0)
			break;
		p++;
	}
	assert_non_null(d = strstr(p, "\"policy_digest\":\""));
	memcpy(hex, d + 17, 64);
	hex[64] = '\0';
}

/* A reloaded policy (control command or SIGHUP) governs every record held from the next sweep,
 * shorter retention included, and the DELETE entry names the policy in force; a bad file
 * changes nothing; each reload is audited. */
static void
test_policy_reload(void **state)
{
	struct deployment dep;
	const char *const sim[] = {"--clock", "sim:2027-01-01T00:00:00Z", NULL};
	char *out = NULL, want[65], got[65];
	struct tls_conn *c;
	double t0;
	int rc;

	(void)state;
	deploy(&dep);
	h_hub_start_ex(&dep, 0, sim);
	assert_non_null(c = c_connect(dep.hub, KIOSK, dep.port, &rc));
	enrol(c, 1, 0, 0, T2027, PASO__ENVELOPE__BODY_ACK, 0); /* under 30 days */
	advance(&dep, "5d");
	enrol(c, 2, 1, 0, T2027 + 5 * DAY, PASO__ENVELOPE__BODY_ACK, 0); /* under 30 days */
	write_policy(&dep, "retention-10d", 10, "");
	{
		const char *argv[] = {"paso-hub", "reload", dep.hub, NULL};
		out = run_out(argv, 0);
		assert_non_null(strstr(out, "retention_days.enrolment 10 (was 30)"));
		assert_non_null(strstr(out, "apply to every record held"));
		free(out);
	}
	/* A bad file: named, refused, the policy in force stays. */
	write_policy(&dep, "retention-bad", 3, "bogus: 1\n");
	{
		const char *argv[] = {"paso-hub", "reload", dep.hub, NULL};
		out = run_out(argv, 1);
		assert_non_null(strstr(out, "policy.yaml:"));
		assert_non_null(strstr(out, "'bogus'"));
		assert_non_null(strstr(out, "'retention-10d' stays in force"));
		free(out);
	}
	/* Day 10: nothing yet (day 0 + 10 days ends with day 10); day 11: person 0, enrolled
	 * under 30 days, goes under the 10 in force; person 1 (day 5) stays until day 16. */
	advance(&dep, "5d");
	sleep(2);
	assert_int_equal(subjects_held(&dep, NULL), 2);
	advance(&dep, "1d");
	assert_true(wait_subjects(&dep, 1, 10.0) >= 0);
	/* SIGHUP reloads too: 3 days reach person 1 (day 5 + 3 < 11) at the next sweep. */
	write_policy(&dep, "retention-3d", 3, "");
	kill(dep.hub_pid, SIGHUP);
	assert_true(wait_subjects(&dep, 0, 10.0) >= 0);
	for (t0 = mono(); mono() - t0 < 10.0; usleep(100000)) {
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		out = run_out(argv, 0);
		rc = h_count(out, "'retention-3d' sha256") > 0;
		free(out);
		if (rc)
			break;
	}
	assert_true(mono() - t0 < 10.0);
	tls_conn_free(c);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	{
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		out = run_out(argv, 0);
		assert_int_equal(h_count(out, "reloaded, replacing"), 2);
		assert_int_equal(h_count(out, "retention-bad"), 0);
		/* Each DELETE entry carries the digest of the policy in force at its sweep, and
		 * says how long that policy keeps enrolments. */
		assert_int_equal(h_count(out, "\"DELETE\""), 2);
		loaded_digest(out, "retention-10d", want);
		delete_digest(out, 0, got);
		assert_string_equal(got, want);
		loaded_digest(out, "retention-3d", want);
		delete_digest(out, 1, got);
		assert_string_equal(got, want);
		assert_non_null(strstr(out, "and kept 10 days under the policy in force"));
		assert_non_null(strstr(out, "and kept 3 days under the policy in force"));
		free(out);
	}
	{
		const char *argv[] = {"paso-audit", "verify", dep.hub, NULL};
		out = run_out(argv, 0);
		free(out);
	}
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forensic),
		cmocka_unit_test(test_crash_mid_sweep),
		cmocka_unit_test(test_policy_reload),
	};

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
