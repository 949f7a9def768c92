/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmark: durable raw LMDB batched puts vs vault_subject_create, same bytes and batching. */
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

#include "errors.h"
#include "keyring.h"
#include "vault.h"

#define SEAL_OVERHEAD (1 + 4 + 24 + 16) /* vault.h: version, epoch, nonce, tag */
#define MAX_RUNS 31

struct opts {
	unsigned long records, batch, size, runs;
	const char *dir;
};

static void
usage(FILE *fp)
{
	fprintf(fp,
		"usage: bench_store [--records N] [--batch B] [--size BYTES] [--runs R] [--dir "
		"DIR]\n"
		"Measures durable ingest into LMDB: raw batched puts of sealed-record-sized "
		"values\n"
		"against vault_subject_create (seal, wrap, card index), B records per "
		"transaction.\n"
		"  --records N   records per run (default 4096)\n"
		"  --batch B     records per durable transaction (default 64)\n"
		"  --size BYTES  plaintext record size (default 6144; raw puts write BYTES+%d)\n"
		"  --runs R      runs of each, medians reported (default 5, at most %d)\n"
		"  --dir DIR     where to create scratch stores (default $TMPDIR or /var/tmp;\n"
		"                avoid tmpfs, where fsync costs nothing)\n",
		SEAL_OVERHEAD, MAX_RUNS);
}

/* Parses a whole number in [min, max]; names the option and the bad value otherwise. */
static int
parse_ulong(
	const char *opt, const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bench_store: %s wants a whole number in %lu..%lu: '%s'\n", opt,
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

/* Records/s of durable raw puts: 16-byte random keys, values of the sealed size. */
static int
run_raw(const struct opts *o, const char *dir, const uint8_t *val, double *rate)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	uint8_t key[16];
	unsigned long i = 0, j;
	double t0;
	int rc;

	if (mkdir(dir, 0700) != 0)
		return -1;
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
		(rc = mdb_env_set_mapsize(env, VAULT_DEFAULT_MAP_SIZE)) != 0 ||
		(rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) != 0)
		goto out;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
		(rc = mdb_dbi_open(txn, "subjects", MDB_CREATE, &dbi)) != 0 ||
		(rc = mdb_txn_commit(txn)) != 0)
		goto out;
	txn = NULL;
	t0 = now();
	while (i < o->records) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			goto out;
		for (j = 0; j < o->batch && i < o->records; j++, i++) {
			randombytes_buf(key, sizeof(key));
			k.mv_data = key;
			k.mv_size = sizeof(key);
			v.mv_data = (void *)val;
			v.mv_size = o->size + SEAL_OVERHEAD;
			if ((rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE)) != 0)
				goto out;
		}
		rc = mdb_txn_commit(txn);
		txn = NULL;
		if (rc != 0)
			goto out;
	}
	*rate = (double)o->records / (now() - t0);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	if (rc != 0)
		fprintf(stderr, "bench_store: raw LMDB: %s\n", mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

/*
 * One crossing's storage work, as the hub does it: card lookup, open the record, reseal it,
 * remember the kiosk message for resends.
 */
static int
crossing(struct vault_txn *t, unsigned long i, const char *card)
{
	uint8_t id[VAULT_ID_BYTES], digest[32] = {0}, reply[64] = {0}, *rec = NULL;
	size_t len = 0;
	int r;

	if ((r = vault_card_lookup(t, card, id)) != 0 ||
		(r = vault_subject_get(t, id, &rec, &len)) != 0)
		return r;
	r = vault_subject_update(t, id, rec, len);
	vault_free_record(rec, len);
	if (r != 0)
		return r;
	return vault_seen_put(t, "kiosk-bench", i + 1, digest, reply, sizeof(reply));
}

/*
 * Records/s of vault_subject_create (seal, wrap the DK, index the card), then of crossings
 * against those subjects in a scrambled order, same batching.
 */
static int
run_vault(const struct opts *o, const char *dir, const uint8_t *rec, double *rate, double *xrate)
{
	struct paso_diag d = {0};
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct vault_txn *t = NULL;
	char keys[PATH_MAX], card[32];
	uint8_t id[VAULT_ID_BYTES];
	unsigned long i = 0, j;
	double t0;
	int r;

	if (mkdir(dir, 0700) != 0 ||
		snprintf(keys, sizeof(keys), "%s/keys", dir) >= (int)sizeof(keys))
		return -1;
	if ((r = keyring_create(keys)) != 0 || (r = keyring_open(keys, &kr, &d)) != 0 ||
		(r = vault_open(dir, kr, &v, &d)) != 0)
		goto out;
	t0 = now();
	while (i < o->records) {
		if ((r = vault_begin(v, 0, &t)) != 0)
			goto out;
		for (j = 0; j < o->batch && i < o->records; j++, i++) {
			(void)snprintf(card, sizeof(card), "BENCH-%08lu", i);
			if ((r = vault_subject_create(t, card, 20000, rec, o->size, id)) != 0)
				goto out;
		}
		r = vault_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
	}
	*rate = (double)o->records / (now() - t0);
	t0 = now();
	for (i = 0; i < o->records;) {
		if ((r = vault_begin(v, 0, &t)) != 0)
			goto out;
		for (j = 0; j < o->batch && i < o->records; j++, i++) {
			/* A multiplicative scramble visits every card once, out of order. */
			(void)snprintf(card, sizeof(card), "BENCH-%08lu",
				(unsigned long)(((uint64_t)i * 2654435761u) % o->records));
			if ((r = crossing(t, i, card)) != 0)
				goto out;
		}
		r = vault_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
	}
	*xrate = (double)o->records / (now() - t0);
out:
	vault_abort(t);
	vault_close(v);
	keyring_close(kr);
	if (r != 0)
		fprintf(stderr, "bench_store: vault: %s %s\n", paso_strerror(r), d.msg);
	return r == 0 ? 0 : -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, unsigned long n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
print_row(const char *what, const struct opts *o, double *rates, size_t bytes)
{
	unsigned long i;

	printf("%-22s", what);
	for (i = 0; i < o->runs; i++)
		printf(" %8.0f", rates[i]);
	printf("  | median %8.0f records/s, %6.1f MiB/s\n", median(rates, o->runs),
		median(rates, o->runs) * (double)bytes / (1024.0 * 1024.0));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"records", required_argument, NULL, 'n'},
		{"batch", required_argument, NULL, 'b'},
		{"size", required_argument, NULL, 's'},
		{"runs", required_argument, NULL, 'r'},
		{"dir", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {4096, 64, 6144, 5, NULL};
	double raw[MAX_RUNS], vlt[MAX_RUNS], xing[MAX_RUNS];
	char root[PATH_MAX], sub[PATH_MAX + 32];
	uint8_t *buf = NULL;
	unsigned long i;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_ulong("--records", optarg, 1, 10000000, &o.records) != 0)
				goto usage_error;
			break;
		case 'b':
			if (parse_ulong("--batch", optarg, 1, 100000, &o.batch) != 0)
				goto usage_error;
			break;
		case 's':
			if (parse_ulong("--size", optarg, 1, 1u << 20, &o.size) != 0)
				goto usage_error;
			break;
		case 'r':
			if (parse_ulong("--runs", optarg, 1, MAX_RUNS, &o.runs) != 0)
				goto usage_error;
			break;
		case 'd':
			o.dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto usage_error;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "bench_store: unexpected argument '%s'\n", argv[optind]);
		goto usage_error;
	}
	if (sodium_init() < 0)
		return 1;
	if (o.dir == NULL)
		o.dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	if (snprintf(root, sizeof(root), "%s/paso-bench-XXXXXX", o.dir) >= (int)sizeof(root) ||
		mkdtemp(root) == NULL) {
		fprintf(stderr, "bench_store: cannot create a directory under %s: %s\n", o.dir,
			strerror(errno));
		return 1;
	}
	if ((buf = malloc(o.size + SEAL_OVERHEAD)) == NULL)
		goto out;
	randombytes_buf(buf, o.size + SEAL_OVERHEAD);

	printf("bench_store: %lu records of %lu B (sealed %lu B), %lu per durable transaction, "
	       "%lu runs, in %s\n",
		o.records, o.size, o.size + SEAL_OVERHEAD, o.batch, o.runs, root);
	/* Interleave the two so that drift in the disk's state hits both alike. */
	for (i = 0; i < o.runs; i++) {
		(void)snprintf(sub, sizeof(sub), "%s/raw%lu", root, i);
		if (run_raw(&o, sub, buf, &raw[i]) != 0)
			goto out;
		rm_tree(sub);
		(void)snprintf(sub, sizeof(sub), "%s/vault%lu", root, i);
		if (run_vault(&o, sub, buf, &vlt[i], &xing[i]) != 0)
			goto out;
		rm_tree(sub);
	}
	print_row("raw LMDB puts", &o, raw, o.size + SEAL_OVERHEAD);
	print_row("vault_subject_create", &o, vlt, o.size + SEAL_OVERHEAD);
	print_row("crossing (get+update)", &o, xing, o.size + SEAL_OVERHEAD);
	printf("ratio to raw puts (medians): create %.2f, crossing %.2f\n",
		median(vlt, o.runs) / median(raw, o.runs),
		median(xing, o.runs) / median(raw, o.runs));
	rc = 0;
out:
	free(buf);
	rm_tree(root);
	return rc;
usage_error:
	fprintf(stderr, "bench_store: bad command line (try --help)\n");
	return 2;
}
