/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark: the retention sweep (erase expired records in bounded durable transactions with
 * their DELETE entries, then destroy the emptied epochs' keys) against deleting the same rows
 * from raw LMDB with the same batching, measured in the same run. Two kinds: crossing records
 * (kept rows of (crossing, day) epochs, the bulk of a registry) and enrolments (record, wrapped
 * key, card index, epoch index per subject).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <lmdb.h>
#include <sodium.h>

#include "be.h"
#include "decide.h"
#include "errors.h"
#include "keyring.h"
#include "ledger.h"
#include "policy.h"
#include "retention.h"
#include "vault.h"

#define MAX_RUNS 15
#define DAY 86400ull
#define FIRST_DAY 20819u /* 2027-01-01 */
#define SEAL_OVERHEAD (1 + 4 + 24 + 16)
#define DKROW (KEYRING_WRAPPED_BYTES + KEYRING_HASH_BYTES)

struct opts {
	unsigned long records, batch, size, days, runs;
	const char *dir;
	int crossings; /* --kind crossing */
};

#define XROW_KEY (4 + 8 + 16 + 1) /* epoch || number || subject ref || 2, as vault_crossing_add */
#define XROW_BYTES 160            /* a packed crossing event, about */
#define XSUBJECTS 1000            /* people the crossings are spread over */

static void
usage(FILE *fp)
{
	fprintf(fp,
		"usage: bench_sweep [--kind crossing|enrolment] [--records N] [--batch B] "
		"[--size BYTES] [--days D] [--runs R] [--dir DIR]\n"
		"Erases N expired records spread over D days: the hub's retention sweep (B per\n"
		"durable transaction, one DELETE entry per kind each, then key destruction) against\n"
		"deleting the same rows from raw LMDB, B per durable transaction. crossing: N\n"
		"crossing records of %d people (kept rows); enrolment: N subjects (record, wrapped\n"
		"key, card index, epoch index).\n"
		"  --kind K      crossing (default) or enrolment\n"
		"  --records N   records (default 100000)\n"
		"  --batch B     records per transaction (default %d, the hub's)\n"
		"  --size BYTES  template bytes per enrolment (default 2048)\n"
		"  --days D      expiry days they fall on (default 30)\n"
		"  --runs R      runs of each, median and range reported (default 3, at most %d)\n"
		"  --dir DIR     scratch directory (default /var/tmp; avoid tmpfs)\n",
		XSUBJECTS, RETENTION_BATCH_DEFAULT, MAX_RUNS);
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
		fprintf(stderr, "bench_sweep: %s wants a whole number in %lu..%lu: '%s'\n", opt,
			min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of this process: on a shared, loaded machine the wall clock mostly measures the
 * neighbours and the disk; records per CPU-second says what the work itself costs. */
static double
cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
rm_tree(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) != 0)
			rm_tree(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Raw LMDB: the same four rows per subject, deleted B subjects per durable transaction. */
static int
run_raw(const struct opts *o, const char *dir, double *rate, double *crate)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_dbi subj, dks, cards, byepoch;
	MDB_val k, v;
	uint8_t id[16], ek[20], card[32], *val = NULL, dk[DKROW];
	unsigned long i = 0, j;
	double t0, c0;
	int rc;

	if (mkdir(dir, 0700) != 0 || (val = calloc(1, o->size + 64 + SEAL_OVERHEAD)) == NULL)
		return -1;
	memset(dk, 7, sizeof(dk));
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
		(rc = mdb_env_set_mapsize(env, VAULT_DEFAULT_MAP_SIZE)) != 0 ||
		(rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) != 0)
		goto out;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
		(rc = mdb_dbi_open(txn, "subjects", MDB_CREATE, &subj)) != 0 ||
		(rc = mdb_dbi_open(txn, "dks", MDB_CREATE, &dks)) != 0 ||
		(rc = mdb_dbi_open(txn, "cards", MDB_CREATE, &cards)) != 0 ||
		(rc = mdb_dbi_open(txn, "byepoch", MDB_CREATE, &byepoch)) != 0)
		goto out;
	for (i = 0; i < o->records; i++) {
		randombytes_buf(id, sizeof(id));
		randombytes_buf(card, sizeof(card));
		randombytes_buf(val, o->size + 64 + SEAL_OVERHEAD);
		memcpy(dk + KEYRING_WRAPPED_BYTES, card, sizeof(card));
		ek[0] = 0;
		ek[1] = 0;
		ek[2] = (uint8_t)(i % o->days >> 8);
		ek[3] = (uint8_t)(i % o->days);
		memcpy(ek + 4, id, 16);
		k = (MDB_val){16, id};
		v = (MDB_val){o->size + 64 + SEAL_OVERHEAD, val};
		if ((rc = mdb_put(txn, subj, &k, &v, 0)) != 0)
			goto out;
		v = (MDB_val){sizeof(dk), dk};
		if ((rc = mdb_put(txn, dks, &k, &v, 0)) != 0)
			goto out;
		k = (MDB_val){32, card};
		v = (MDB_val){16, id};
		if ((rc = mdb_put(txn, cards, &k, &v, 0)) != 0)
			goto out;
		k = (MDB_val){20, ek};
		v = (MDB_val){0, NULL};
		if ((rc = mdb_put(txn, byepoch, &k, &v, 0)) != 0)
			goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto out;
	t0 = now();
	c0 = cpu();
	for (i = 0; i < o->records;) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
			(rc = mdb_cursor_open(txn, byepoch, &c)) != 0)
			goto out;
		for (j = 0; j < o->batch && i < o->records; j++, i++) {
			if ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) != 0)
				goto out;
			memcpy(id, (uint8_t *)k.mv_data + 4, 16);
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				goto out;
			k = (MDB_val){16, id};
			if ((rc = mdb_get(txn, dks, &k, &v)) != 0)
				goto out;
			memcpy(card, (uint8_t *)v.mv_data + KEYRING_WRAPPED_BYTES, 32);
			if ((rc = mdb_del(txn, dks, &k, NULL)) != 0 ||
				(rc = mdb_del(txn, subj, &k, NULL)) != 0)
				goto out;
			k = (MDB_val){32, card};
			if ((rc = mdb_del(txn, cards, &k, NULL)) != 0)
				goto out;
		}
		mdb_cursor_close(c);
		c = NULL;
		rc = mdb_txn_commit(txn);
		txn = NULL;
		if (rc != 0)
			goto out;
	}
	*rate = (double)o->records / (now() - t0);
	*crate = (double)o->records / (cpu() - c0);
out:
	if (c != NULL)
		mdb_cursor_close(c);
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	free(val);
	if (rc != 0)
		fprintf(stderr, "bench_sweep: raw LMDB: %s\n", mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

/* The hub's sweep over a real vault, keyring and audit log. */
static int
run_sweep(const struct opts *o, const char *dir, const struct policy *pol, double *rate,
	double *crate, size_t *shredded_total)
{
	struct paso_diag d = {0};
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct ledger *l = NULL;
	struct ledger_txn *t = NULL;
	struct vault_txn *vt = NULL;
	struct decide_ctx dc;
	struct retention_step st;
	Paso__SubjectRecord rec = PASO__SUBJECT_RECORD__INIT;
	Paso__Capture cap = PASO__CAPTURE__INIT;
	char keys[PATH_MAX], audit[PATH_MAX], card[32];
	uint8_t id[16], *tmpl = NULL, *buf = NULL;
	uint64_t recovered, when = (uint64_t)(FIRST_DAY + o->days + 1) * DAY;
	unsigned long i = 0, j;
	size_t len, shredded;
	uint32_t first, last;
	double t0, c0;
	int r = -1;

	memset(&dc, 0, sizeof(dc));
	memset(&st, 0, sizeof(st));
	*shredded_total = 0;
	if (mkdir(dir, 0700) != 0 ||
		snprintf(keys, sizeof(keys), "%s/keys", dir) >= (int)sizeof(keys) ||
		snprintf(audit, sizeof(audit), "%s/audit", dir) >= (int)sizeof(audit) ||
		(tmpl = malloc(o->size)) == NULL || (buf = malloc(o->size + 256)) == NULL)
		goto out;
	randombytes_buf(tmpl, o->size);
	if ((r = keyring_create(keys)) != 0 || (r = keyring_open(keys, &kr, &d)) != 0 ||
		(r = vault_open(dir, kr, &v, &d)) != 0 ||
		(r = ledger_open(audit, v, decide_count_keys, COUNT_N, &recovered, &l, &d)) != 0)
		goto out;
	dc.policy = pol;
	dc.vault = v;
	cap.finger_record.data = tmpl;
	cap.finger_record.len = o->size;
	rec.templates = &cap;
	rec.category = PASO__CATEGORY__REGIONAL_VISITOR;
	while (i < o->records) {
		if ((r = ledger_begin(l, &t)) != 0)
			goto out;
		vt = ledger_store(t);
		for (j = 0; j < 10000 && i < o->records; j++, i++) {
			(void)snprintf(card, sizeof(card), "BENCH-%09lu", i);
			rec.card_number = card;
			len = paso__subject_record__pack(&rec, buf);
			if ((r = vault_subject_create(vt, card, FIRST_DAY + (uint32_t)(i % o->days),
				     buf, len, id)) != 0)
				goto out;
			ledger_count(t, COUNT_SUBJECTS, 1);
			ledger_count(t, COUNT_CAT_REGIONAL_VISITOR, 1);
			ledger_count(t, COUNT_WITH_FINGER, 1);
		}
		r = ledger_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
	}
	t0 = now();
	c0 = cpu();
	do {
		if ((r = ledger_begin(l, &t)) != 0 ||
			(r = retention_sweep(&dc, t, when, o->batch, &st)) != 0)
			goto out;
		r = ledger_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
		if ((r = retention_shred(v, kr, pol, when, &shredded, &first, &last)) != 0)
			goto out;
		*shredded_total += shredded;
		i = (unsigned long)st.more;
		retention_step_clear(&st);
	} while (i);
	*rate = (double)o->records / (now() - t0);
	*crate = (double)o->records / (cpu() - c0);
	if (ledger_counter(l, COUNT_SUBJECTS) != 0) {
		fprintf(stderr, "bench_sweep: %llu subjects left after the sweep\n",
			(unsigned long long)ledger_counter(l, COUNT_SUBJECTS));
		r = PASO_E_INTERNAL;
	}
out:
	retention_step_clear(&st);
	ledger_abort(t);
	ledger_close(l);
	vault_close(v);
	keyring_close(kr);
	free(tmpl);
	free(buf);
	if (r != 0)
		fprintf(stderr, "bench_sweep: sweep: %s %s\n", paso_strerror(r), d.msg);
	return r == 0 ? 0 : -1;
}

/* The key of crossing row i: day epoch, its number (i + 1, as run_sweep_crossings gives the
 * hub), a subject ref, the layout tag (as the hub lays them out). */
static void
xkey(const struct opts *o, unsigned long i, uint8_t key[XROW_KEY])
{
	unsigned long who = i / o->days % XSUBJECTS;

	be32_put(key, VAULT_EPOCH(1, FIRST_DAY + (uint32_t)(i % o->days)));
	be64_put(key + 4, (uint64_t)i + 1);
	memset(key + 12, 0, 16);
	memcpy(key + 12, &who, sizeof(who));
	key[XROW_KEY - 1] = 2;
}

/* Raw LMDB: the same crossing rows (same keys, same sealed sizes), deleted in key order through
 * a cursor, as many per durable transaction as the sweep erases (B * RETENTION_ROW_WEIGHT):
 * what the sweep does minus what Paso adds. */
static int
run_raw_crossings(const struct opts *o, const char *dir, double *rate, double *crate)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_dbi kept;
	MDB_val k, v;
	uint8_t key[XROW_KEY], val[XROW_BYTES + KEYRING_SEAL_OVERHEAD];
	unsigned long i = 0, j;
	double t0, c0;
	int rc;

	if (mkdir(dir, 0700) != 0)
		return -1;
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
		(rc = mdb_env_set_mapsize(env, VAULT_DEFAULT_MAP_SIZE)) != 0 ||
		(rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) != 0)
		goto out;
	for (i = 0; i < o->records;) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
			(rc = mdb_dbi_open(txn, "kept", MDB_CREATE, &kept)) != 0)
			goto out;
		for (j = 0; j < 10000 && i < o->records; j++, i++) {
			xkey(o, i, key);
			randombytes_buf(val, sizeof(val));
			k = (MDB_val){sizeof(key), key};
			v = (MDB_val){sizeof(val), val};
			if ((rc = mdb_put(txn, kept, &k, &v, 0)) != 0)
				goto out;
		}
		rc = mdb_txn_commit(txn);
		txn = NULL;
		if (rc != 0)
			goto out;
	}
	t0 = now();
	c0 = cpu();
	for (i = 0; i < o->records;) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
			(rc = mdb_cursor_open(txn, kept, &c)) != 0)
			goto out;
		for (j = 0; j < o->batch * RETENTION_ROW_WEIGHT && i < o->records; j++, i++) {
			if ((rc = mdb_cursor_get(c, &k, &v, j == 0 ? MDB_FIRST : MDB_NEXT)) != 0 ||
				(rc = mdb_cursor_del(c, 0)) != 0)
				goto out;
		}
		mdb_cursor_close(c);
		c = NULL;
		rc = mdb_txn_commit(txn);
		txn = NULL;
		if (rc != 0)
			goto out;
	}
	*rate = (double)o->records / (now() - t0);
	*crate = (double)o->records / (cpu() - c0);
out:
	if (c != NULL)
		mdb_cursor_close(c);
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	if (rc != 0)
		fprintf(stderr, "bench_sweep: raw LMDB: %s\n", mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

/* The hub's sweep of N crossing records written through vault_crossing_add. */
/* Seconds of the last crossing sweep: erasing rows and entries, committing (LMDB and audit log,
 * fsync'd), destroying keys. */
static double split[3];

static int
run_sweep_crossings(const struct opts *o, const char *dir, const struct policy *pol, double *rate,
	double *crate, size_t *shredded_total)
{
	struct paso_diag d = {0};
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct ledger *l = NULL;
	struct ledger_txn *t = NULL;
	struct decide_ctx dc;
	struct retention_step st;
	char keys[PATH_MAX], audit[PATH_MAX];
	uint8_t ids[XSUBJECTS][16], ev[XROW_BYTES];
	uint32_t keep = policy_retention_days(pol, POLICY_REC_CROSSING);
	uint32_t enrolled = FIRST_DAY + (uint32_t)o->days + keep; /* not due at `when` */
	uint64_t recovered, when = (uint64_t)(FIRST_DAY + o->days + keep + 1) * DAY;
	unsigned long i = 0, j;
	size_t shredded;
	uint32_t first, last;
	double t0, c0;
	int r = -1;

	memset(&dc, 0, sizeof(dc));
	memset(&st, 0, sizeof(st));
	memset(split, 0, sizeof(split));
	*shredded_total = 0;
	if (mkdir(dir, 0700) != 0 ||
		snprintf(keys, sizeof(keys), "%s/keys", dir) >= (int)sizeof(keys) ||
		snprintf(audit, sizeof(audit), "%s/audit", dir) >= (int)sizeof(audit))
		goto out;
	randombytes_buf(ev, sizeof(ev));
	if ((r = keyring_create(keys)) != 0 || (r = keyring_open(keys, &kr, &d)) != 0 ||
		(r = vault_open(dir, kr, &v, &d)) != 0 ||
		(r = ledger_open(audit, v, decide_count_keys, COUNT_N, &recovered, &l, &d)) != 0)
		goto out;
	dc.policy = pol;
	dc.vault = v;
	if ((r = ledger_begin(l, &t)) != 0)
		goto out;
	for (j = 0; j < XSUBJECTS; j++)
		if ((r = vault_subject_create(ledger_store(t), NULL,
			     VAULT_EPOCH(POLICY_REC_ENROLMENT, enrolled), ev, sizeof(ev),
			     ids[j])) != 0)
			goto out;
	if ((r = ledger_commit(t)) != 0)
		goto out;
	t = NULL;
	while (i < o->records) {
		if ((r = ledger_begin(l, &t)) != 0)
			goto out;
		for (j = 0; j < 10000 && i < o->records; j++, i++) {
			if ((r = vault_crossing_add(ledger_store(t), ids[i / o->days % XSUBJECTS],
				     VAULT_EPOCH(POLICY_REC_CROSSING,
					     FIRST_DAY + (uint32_t)(i % o->days)),
				     (uint64_t)i + 1, ev, sizeof(ev))) != 0)
				goto out;
			ledger_count(t, COUNT_CROSSINGS, 1);
		}
		r = ledger_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
	}
	t0 = now();
	c0 = cpu();
	do {
		double a = now(), b, c;

		if ((r = ledger_begin(l, &t)) != 0 ||
			(r = retention_sweep(&dc, t, when, o->batch, &st)) != 0)
			goto out;
		b = now();
		r = ledger_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
		c = now();
		if ((r = retention_shred(v, kr, pol, when, &shredded, &first, &last)) != 0)
			goto out;
		split[0] += b - a;
		split[1] += c - b;
		split[2] += now() - c;
		*shredded_total += shredded;
		i = (unsigned long)st.more;
		retention_step_clear(&st);
	} while (i);
	*rate = (double)o->records / (now() - t0);
	*crate = (double)o->records / (cpu() - c0);
	if (ledger_counter(l, COUNT_CROSSINGS) != 0) {
		fprintf(stderr, "bench_sweep: %llu crossings left after the sweep\n",
			(unsigned long long)ledger_counter(l, COUNT_CROSSINGS));
		r = PASO_E_INTERNAL;
	}
out:
	retention_step_clear(&st);
	ledger_abort(t);
	ledger_close(l);
	vault_close(v);
	keyring_close(kr);
	if (r != 0)
		fprintf(stderr, "bench_sweep: sweep: %s %s\n", paso_strerror(r), d.msg);
	return r == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {{"records", required_argument, NULL, 'n'},
		{"batch", required_argument, NULL, 'b'}, {"size", required_argument, NULL, 's'},
		{"days", required_argument, NULL, 'D'}, {"runs", required_argument, NULL, 'r'},
		{"dir", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
		{"kind", required_argument, NULL, 'k'}, {NULL, 0, NULL, 0}};
	struct opts o = {100000, RETENTION_BATCH_DEFAULT, 2048, 30, 3, NULL, 1};
	struct policy *pol = NULL;
	struct paso_diag d = {0};
	double raw[MAX_RUNS], sw[MAX_RUNS], rawc[MAX_RUNS], swc[MAX_RUNS];
	char root[PATH_MAX], path[PATH_MAX + 32];
	size_t shredded = 0;
	unsigned long k;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_ulong("--records", optarg, 1, 100000000, &o.records) != 0)
				return 2;
			break;
		case 'b':
			if (parse_ulong("--batch", optarg, 1, 1000000, &o.batch) != 0)
				return 2;
			break;
		case 's':
			if (parse_ulong("--size", optarg, 1, 1 << 20, &o.size) != 0)
				return 2;
			break;
		case 'D':
			if (parse_ulong("--days", optarg, 1, 36500, &o.days) != 0)
				return 2;
			break;
		case 'r':
			if (parse_ulong("--runs", optarg, 1, MAX_RUNS, &o.runs) != 0)
				return 2;
			break;
		case 'd':
			o.dir = optarg;
			break;
		case 'k':
			if (strcmp(optarg, "crossing") == 0)
				o.crossings = 1;
			else if (strcmp(optarg, "enrolment") == 0)
				o.crossings = 0;
			else {
				fprintf(stderr,
					"bench_sweep: --kind wants crossing or enrolment: '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "bench_sweep: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0 || policy_parse(policy_default_yaml, policy_default_yaml_len,
					 "default", &pol, &d) != 0)
		return 1;
	(void)snprintf(
		root, sizeof(root), "%s/paso-bench-sweep-XXXXXX", o.dir ? o.dir : "/var/tmp");
	if (mkdtemp(root) == NULL) {
		fprintf(stderr, "bench_sweep: %s: %s\n", root, strerror(errno));
		return 1;
	}
	for (k = 0; k < o.runs; k++) {
		(void)snprintf(path, sizeof(path), "%s/raw%lu", root, k);
		if ((o.crossings ? run_raw_crossings(&o, path, &raw[k], &rawc[k])
				 : run_raw(&o, path, &raw[k], &rawc[k])) != 0)
			goto fail;
		rm_tree(path);
		(void)snprintf(path, sizeof(path), "%s/sweep%lu", root, k);
		if ((o.crossings ? run_sweep_crossings(&o, path, pol, &sw[k], &swc[k], &shredded)
				 : run_sweep(&o, path, pol, &sw[k], &swc[k], &shredded)) != 0)
			goto fail;
		rm_tree(path);
	}
	qsort(raw, o.runs, sizeof(double), cmp_double);
	qsort(sw, o.runs, sizeof(double), cmp_double);
	qsort(rawc, o.runs, sizeof(double), cmp_double);
	qsort(swc, o.runs, sizeof(double), cmp_double);
	if (o.crossings)
		printf("erasing %lu expired crossing records of %d people over %lu days, %lu per "
		       "durable transaction (a batch of %lu enrolments' worth), %lu runs\n",
			o.records, XSUBJECTS, o.days, o.batch * RETENTION_ROW_WEIGHT, o.batch,
			o.runs);
	else
		printf("erasing %lu expired subjects over %lu days, %lu per durable transaction, "
		       "%lu template bytes each, %lu runs\n",
			o.records, o.days, o.batch, o.size, o.runs);
	printf("  raw LMDB deletes (same rows):     median %10.0f /s  (range %.0f..%.0f)\n",
		raw[o.runs / 2], raw[0], raw[o.runs - 1]);
	printf("  retention sweep + %zu key epochs: median %10.0f /s  (range %.0f..%.0f)\n",
		shredded, sw[o.runs / 2], sw[0], sw[o.runs - 1]);
	printf("  sweep / raw: %.2f\n", sw[o.runs / 2] / raw[o.runs / 2]);
	printf("  per CPU-second of this process: raw %.0f /s (range %.0f..%.0f), sweep %.0f /s "
	       "(range %.0f..%.0f), ratio %.2f\n",
		rawc[o.runs / 2], rawc[0], rawc[o.runs - 1], swc[o.runs / 2], swc[0],
		swc[o.runs - 1], swc[o.runs / 2] / rawc[o.runs / 2]);
	if (o.crossings)
		printf("  last sweep's time: %.2f s erasing rows and writing entries, %.2f s "
		       "committing (store and audit log, fsync'd), %.2f s destroying keys\n",
			split[0], split[1], split[2]);
	rm_tree(root);
	policy_free(pol);
	return 0;
fail:
	rm_tree(root);
	policy_free(pol);
	return 1;
}
