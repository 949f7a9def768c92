/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark: a hub's restart to serving over a large deployment (made by bench_fixture) and its
 * resident memory per enrolled person, against the same run's baseline: one raw LMDB read
 * transaction per thread walking the same subjects table and copying every sealed row (the I/O
 * and page faults of the load, without decryption, decoding or the gallery). Memory is read
 * from /proc/PID/status once the hub serves; the fixed base is an empty deployment's hub.
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

#include <lmdb.h>

#include "../benchclock.h"

#define MAX_RUNS 9
#define PARTS 256

struct mem {
	long rss, hwm, anon, file; /* kB */
	double cpu;                /* user + system seconds of the process so far */
};

static void
summary(const char *what, double *v, int n, const char *unit)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf("  %-44s median %9.2f %s (runs %.2f..%.2f)\n", what, v[n / 2], unit, v[0], v[n - 1]);
}

static long
status_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p == NULL ? -1 : strtol(p + strlen(key), NULL, 10);
}

static int
read_mem(pid_t pid, struct mem *m)
{
	char path[64], buf[8192];
	size_t n;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	m->rss = status_kb(buf, "VmRSS:");
	m->hwm = status_kb(buf, "VmHWM:");
	m->anon = status_kb(buf, "RssAnon:");
	m->file = status_kb(buf, "RssFile:");
	/* utime and stime: fields 14 and 15 of /proc/PID/stat, after the ')' of the name */
	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	m->cpu = 0;
	if ((f = fopen(path, "r")) != NULL) {
		char *p;
		unsigned long ut, st;

		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		if ((p = strrchr(buf, ')')) != NULL &&
			sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
				&st) == 2)
			m->cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	}
	return 0;
}

/* Starts `paso-hub serve dir`, waits for its port file; *secs = time to serving. */
static pid_t
start_hub(const char *bin, const char *dir, const char *fingers, double *secs)
{
	char hub[PATH_MAX], pf[PATH_MAX];
	struct stat st;
	double t0 = now_s();
	pid_t pid;

	(void)snprintf(hub, sizeof(hub), "%s/paso-hub", bin);
	(void)snprintf(pf, sizeof(pf), "%s/bench-restart.port", dir);
	(void)unlink(pf);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		FILE *null = freopen("/dev/null", "w", stdout);

		(void)null;
		execl(hub, hub, "serve", dir, "--port", "0", "--port-file", pf, "--fingers",
			fingers, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		int status;

		if (stat(pf, &st) == 0 && st.st_size > 0)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "bench_restart: paso-hub serve %s exited before serving\n",
				dir);
			return -1;
		}
		usleep(2000);
	}
	*secs = now_s() - t0;
	return pid;
}

static int
stop_hub(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_restart: hub did not stop cleanly\n");
		return -1;
	}
	return 0;
}

/* The baseline: raw LMDB, one read transaction per thread, every sealed row copied. */
struct raw {
	MDB_env *env;
	MDB_dbi dbi;
	unsigned next;
	pthread_mutex_t mu;
	uint64_t rows, bytes;
};

static void *
raw_worker(void *arg)
{
	struct raw *rw = arg;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint8_t lo[16], *copy = malloc(1 << 20);
	uint64_t rows = 0, bytes = 0;
	unsigned p;
	int rc;

	if (copy == NULL || mdb_txn_begin(rw->env, NULL, MDB_RDONLY, &txn) != 0 ||
		mdb_cursor_open(txn, rw->dbi, &c) != 0)
		goto out;
	for (;;) {
		pthread_mutex_lock(&rw->mu);
		p = rw->next++;
		pthread_mutex_unlock(&rw->mu);
		if (p >= PARTS)
			break;
		memset(lo, 0, sizeof(lo));
		lo[0] = (uint8_t)p;
		k.mv_data = lo;
		k.mv_size = sizeof(lo);
		for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (((const uint8_t *)k.mv_data)[0] != p)
				break;
			if (v.mv_size <= (1 << 20))
				memcpy(copy, v.mv_data, v.mv_size);
			rows++;
			bytes += v.mv_size;
		}
	}
out:
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	free(copy);
	pthread_mutex_lock(&rw->mu);
	rw->rows += rows;
	rw->bytes += bytes;
	pthread_mutex_unlock(&rw->mu);
	return NULL;
}

static int
run_raw(const char *dir, unsigned threads, double *secs, uint64_t *rows)
{
	struct raw rw;
	pthread_t tid[16];
	MDB_txn *txn = NULL;
	char path[PATH_MAX];
	double t0 = now_s();
	unsigned i;
	int rc;

	memset(&rw, 0, sizeof(rw));
	pthread_mutex_init(&rw.mu, NULL);
	(void)snprintf(path, sizeof(path), "%s/store", dir);
	if ((rc = mdb_env_create(&rw.env)) != 0 || (rc = mdb_env_set_maxdbs(rw.env, 16)) != 0 ||
		(rc = mdb_env_set_maxreaders(rw.env, 126)) != 0 ||
		(rc = mdb_env_open(rw.env, path, MDB_RDONLY | MDB_NOTLS, 0600)) != 0 ||
		(rc = mdb_txn_begin(rw.env, NULL, MDB_RDONLY, &txn)) != 0 ||
		(rc = mdb_dbi_open(txn, "subjects", 0, &rw.dbi)) != 0) {
		fprintf(stderr, "bench_restart: %s: %s\n", path, mdb_strerror(rc));
		mdb_env_close(rw.env);
		return -1;
	}
	mdb_txn_commit(txn); /* an aborted transaction would close the handle */
	for (i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, raw_worker, &rw) != 0)
			return -1;
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	*secs = now_s() - t0;
	*rows = rw.rows;
	mdb_env_close(rw.env);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dir = NULL, *empty = NULL, *bin = "build/bin", *fingers = "store";
	unsigned long runs = 3, threads;
	double tb[MAX_RUNS], th[MAX_RUNS], ratio[MAX_RUNS], rss[MAX_RUNS], hwm[MAX_RUNS],
		anon[MAX_RUNS], file[MAX_RUNS], cpu[MAX_RUNS], base_s;
	struct mem base = {0, 0, 0, 0, 0}, m;
	uint64_t rows = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t pid;
	int i;

	threads = cpus < 1 ? 1 : cpus > 16 ? 16 : (unsigned long)cpus;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			printf("usage: bench_restart --dir DIR --empty EMPTY_DIR [--runs R] "
			       "[--bin BUILD/bin] [--fingers store|memory]\n"
			       "Restarts `paso-hub serve DIR` R times: time to serving and resident "
			       "memory per subject\nbeyond the hub of EMPTY_DIR (a deployment with no "
			       "subject), beside a raw LMDB walk\nof the same subjects table on as many "
			       "threads as the hub loads with (%lu).\n",
				threads);
			return 0;
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strcmp(argv[i], "--empty") == 0 && i + 1 < argc) {
			empty = argv[++i];
		} else if (strcmp(argv[i], "--bin") == 0 && i + 1 < argc) {
			bin = argv[++i];
		} else if (strcmp(argv[i], "--fingers") == 0 && i + 1 < argc) {
			fingers = argv[++i];
			if (strcmp(fingers, "store") != 0 && strcmp(fingers, "memory") != 0) {
				fprintf(stderr,
					"bench_restart: --fingers: store or memory, not "
					"'%s'\n",
					fingers);
				return 2;
			}
		} else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			if (bench_parse_ul(
				    "bench_restart", "--runs", argv[++i], 1, MAX_RUNS, &runs) != 0)
				return 2;
		} else {
			fprintf(stderr, "bench_restart: unknown or incomplete option '%s'\n",
				argv[i]);
			return 2;
		}
	}
	if (dir == NULL || empty == NULL) {
		fprintf(stderr, "bench_restart: --dir and --empty are required\n");
		return 2;
	}
	if ((pid = start_hub(bin, empty, fingers, &base_s)) < 0 || read_mem(pid, &base) != 0 ||
		stop_hub(pid) != 0)
		return 1;
	printf("empty hub: %.2f s to serving, VmRSS %ld kB (anonymous %ld kB, file %ld kB): the "
	       "fixed base\n",
		base_s, base.rss, base.anon, base.file);
	for (i = 0; i < (int)runs; i++) {
		if (run_raw(dir, (unsigned)threads, &tb[i], &rows) != 0)
			return 1;
		if ((pid = start_hub(bin, dir, fingers, &th[i])) < 0 || read_mem(pid, &m) != 0 ||
			stop_hub(pid) != 0)
			return 1;
		ratio[i] = tb[i] / th[i];
		cpu[i] = m.cpu;
		rss[i] = (double)(m.rss - base.rss) * 1024.0 / (double)rows;
		hwm[i] = (double)(m.hwm - base.hwm) * 1024.0 / (double)rows;
		anon[i] = (double)(m.anon - base.anon) * 1024.0 / (double)rows;
		file[i] = (double)(m.file - base.file) * 1024.0 / (double)rows;
		printf("run %d: raw walk %.2f s, hub %.2f s to serving (%.2f CPU s); VmRSS %ld kB, "
		       "VmHWM %ld kB, anonymous %ld kB, file %ld kB\n",
			i + 1, tb[i], th[i], m.cpu, m.rss, m.hwm, m.anon, m.file);
		fflush(stdout);
	}
	printf("%llu subjects, --fingers %s, %lu load threads:\n", (unsigned long long)rows,
		fingers, threads);
	summary("raw LMDB walk of the sealed rows", tb, (int)runs, "s");
	summary("hub restart to serving", th, (int)runs, "s");
	summary("hub CPU seconds (user + system) to serving", cpu, (int)runs, "s");
	summary("ratio raw walk / hub restart", ratio, (int)runs, " ");
	summary("VmRSS per subject beyond the base", rss, (int)runs, "B");
	summary("VmHWM per subject beyond the base", hwm, (int)runs, "B");
	summary("anonymous per subject beyond the base", anon, (int)runs, "B");
	summary("file-mapped per subject beyond the base", file, (int)runs, "B");
	return 0;
}
