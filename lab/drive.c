/* SPDX-License-Identifier: Apache-2.0 */
/* paso scenario run / paso compare: drive real hubs and kiosks through a planned workload. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "instant.h"
#include "lab.h"
#include "policy.h"
#include "report.h"
#include "scenario.h"
#include "workload.h"

extern char **environ;

#define HUB_STOP_WAIT_S 300
#define RUN_MAX_PARTNERS 4

/* A partner agency taking part in one policy's run. */
struct run_partner {
	char name[65];
	char dir[PATH_MAX + 80], log[PATH_MAX + 80];
	pid_t pid;
};

struct drive {
	char bin[PATH_MAX]; /* where paso-hub and paso-kiosk are: beside this program */
	const struct scenario *s;
	const struct workload_info *w;
	const char *wldir;
	int quiet;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
find_bin(struct drive *dv)
{
	ssize_t n = readlink("/proc/self/exe", dv->bin, sizeof(dv->bin) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	dv->bin[n] = '\0';
	if ((slash = strrchr(dv->bin, '/')) == NULL)
		return -1;
	*slash = '\0';
	return 0;
}

/* Starts bin/prog with argv (argv[0] is prog), stdout and stderr appended to log. Returns 0 or
 * an errno value (posix_spawn's). */
static int
spawn(const struct drive *dv, char *const argv[], const char *log, pid_t *pidp)
{
	posix_spawn_file_actions_t fa;
	char path[PATH_MAX + 64];
	int r;

	(void)snprintf(path, sizeof(path), "%s/%s", dv->bin, argv[0]);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	r = posix_spawn(pidp, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

/* Runs a program to its end; 0 if it exited 0. On failure prints its log's tail's hint. */
static int
run(const struct drive *dv, char *const argv[], const char *log)
{
	pid_t pid;
	int st;

	if ((st = spawn(dv, argv, log, &pid)) != 0) {
		fprintf(stderr, "paso: cannot start %s/%s: %s\n", dv->bin, argv[0], strerror(st));
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "paso: %s %s failed (exit %d); see %s\n", argv[0], argv[1],
			WIFEXITED(st) ? WEXITSTATUS(st) : -1, log);
		return -1;
	}
	return 0;
}

/* Waits for a program spawn started; 0 if it exited 0, else -1 (said). */
static int
finish(pid_t pid, const char *what)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "paso: %s failed (exit %d)\n", what,
			WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return -1;
	}
	return 0;
}

static int
mkdirs(const char *dir)
{
	char tmp[PATH_MAX], *p;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", dir) >= sizeof(tmp))
		return -1;
	for (p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* A policy's name, for directory names and the report (the file's own `name`), and the
 * modalities its kiosks are configured to capture (paso-kiosk --capture). */
static int
policy_name_of(const char *path, char name[65], char capture[32], uint32_t *retention)
{
	struct paso_diag d = {0};
	struct policy *p = NULL;
	int r;

	if ((r = policy_load_file(path, &p, &d)) != 0) {
		fprintf(stderr, "paso: error %s (%d): %s\n", paso_errname(r), r, d.msg);
		return r;
	}
	(void)snprintf(name, 65, "%s", policy_name(p));
	*retention = policy_retention_days(p, POLICY_REC_ENROLMENT);
	(void)snprintf(capture, 32, "%s%s%s",
		policy_capture_allowed(p, POLICY_FINGER) ? "finger," : "",
		policy_capture_allowed(p, POLICY_FACE) ? "face," : "",
		policy_capture_allowed(p, POLICY_IRIS) ? "iris," : "");
	if (capture[0] != '\0')
		capture[strlen(capture) - 1] = '\0';
	policy_free(p);
	return 0;
}

/* Copies a policy file over DEPLOYMENT/policy.yaml (temporary file, then rename). */
static int
install_policy(const char *src, const char *hub)
{
	char dst[PATH_MAX + 32], tmp[PATH_MAX + 48], buf[8192];
	FILE *in = NULL, *out = NULL;
	size_t n;
	int rc = -1;

	(void)snprintf(dst, sizeof(dst), "%s/policy.yaml", hub);
	(void)snprintf(tmp, sizeof(tmp), "%s/policy.yaml.new", hub);
	if ((in = fopen(src, "rb")) == NULL || (out = fopen(tmp, "wb")) == NULL)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			goto out;
	if (ferror(in))
		goto out;
	if (fclose(out) != 0) {
		out = NULL;
		goto out;
	}
	out = NULL;
	rc = rename(tmp, dst);
out:
	if (rc != 0)
		fprintf(stderr, "paso: cannot install policy %s into %s: %s\n", src, hub,
			strerror(errno));
	if (in != NULL)
		fclose(in);
	if (out != NULL)
		fclose(out);
	return rc;
}

/*
 * The hub sweeps expired records on its own clock about once a second. After the clock moves,
 * wait until it has erased what the move made due (`paso-hub sweep --dry-run` says "nothing is
 * due"), so what each period's snapshot shows does not depend on timing. At most 30 s.
 */
static int
await_sweep(const struct drive *dv, const char *hub, const char *dir)
{
	char out[PATH_MAX + 32], text[1024];
	char *a[] = {"paso-hub", "sweep", (char *)hub, "--dry-run", NULL};
	size_t n;
	FILE *f;
	int i;

	(void)snprintf(out, sizeof(out), "%s/sweep.txt", dir);
	for (i = 0; i < 300; i++) {
		(void)unlink(out);
		if (run(dv, a, out) != 0)
			return -1;
		if ((f = fopen(out, "r")) == NULL)
			return -1;
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		if (strstr(text, "nothing is due") != NULL)
			return 0;
		usleep(100000);
	}
	fprintf(stderr, "paso: the hub in %s did not sweep what expired within 30 s: %s\n", hub,
		text);
	return -1;
}

/* Whether the policy file at path has a rule that queues shares (bulk or release); 1 if unsure. */
static int
queues_shares(const char *path)
{
	const struct policy_settings *ps;
	struct paso_diag d = {0};
	struct policy *p = NULL;
	size_t i;
	int q = 0;

	if (policy_load_file(path, &p, &d) != 0)
		return 1;
	ps = policy_settings(p);
	for (i = 0; i < ps->nsharing; i++)
		q |= ps->sharing[i].what != POLICY_SHARE_HIT_NO_HIT;
	policy_free(p);
	return q;
}

/*
 * Waits until the hub's share outbox is empty (`paso-hub stats --json`: share_outbox), so that
 * a period's partner snapshots hold everything its traffic shared, whatever the timing. 0, or
 * -1 (said) when rows stay for 60 s.
 */
static int
await_shares(const struct drive *dv, const char *hub, const char *dir)
{
	char out[PATH_MAX + 32], text[4096], *at;
	char *a[] = {"paso-hub", "stats", (char *)hub, "--json", NULL};
	size_t n;
	FILE *f;
	int i;

	(void)snprintf(out, sizeof(out), "%s/policy.yaml", hub);
	if (!queues_shares(out))
		return 0; /* hit/no-hit only: nothing is ever queued */
	(void)snprintf(out, sizeof(out), "%s/outbox.json", dir);
	for (i = 0; i < 600; i++) {
		(void)unlink(out);
		if (run(dv, a, out) != 0 || (f = fopen(out, "r")) == NULL)
			return -1;
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		if ((at = strstr(text, "\"share_outbox\":")) == NULL)
			return -1;
		if (strtoull(at + 15, NULL, 10) == 0) {
			(void)unlink(out);
			return 0;
		}
		usleep(100000);
	}
	fprintf(stderr, "paso: shares from %s still queued after 60 s: %s\n", hub, text);
	return -1;
}

/* The partners a policy shares with (its sharing rules' partner names, each once). */
static size_t
policy_partners(const char *path, char names[][65], size_t max)
{
	const struct policy_settings *ps;
	struct paso_diag d = {0};
	struct policy *p = NULL;
	size_t i, j, n = 0;

	if (policy_load_file(path, &p, &d) != 0)
		return 0;
	ps = policy_settings(p);
	for (i = 0; i < ps->nsharing && n < max; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(names[j], ps->sharing[i].partner) == 0)
				break;
		if (j == n)
			(void)snprintf(names[n++], 65, "%s", ps->sharing[i].partner);
	}
	policy_free(p);
	return n;
}

/* Waits for a port file (a hub's --port-file / --peer-port-file); 0 if the hub stopped. */
static unsigned
await_port(const char *portf, pid_t pid)
{
	unsigned port = 0;
	int i, st;
	FILE *f;

	for (i = 0; i < 600; i++) {
		if ((f = fopen(portf, "r")) != NULL) {
			int got = fscanf(f, "%u", &port);
			fclose(f);
			if (got == 1 && port > 0)
				return port;
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			return 0;
		usleep(20000);
	}
	return 0;
}

/*
 * A partner agency beside the hub: its own deployment (init --role partner, the default partner
 * policy), trust exchanged both ways (partner add), serving its peer port on the same simulated
 * clock; the hub learns where it receives (peers/NAME.addr) and pushes bulk shares by itself.
 */
static int
partner_start(const struct drive *dv, struct run_partner *pt, const char *hub, const char *dir,
	const char *clk)
{
	char ca[PATH_MAX + 32], portf[PATH_MAX + 32], addr[PATH_MAX + 128];
	unsigned port;
	FILE *f;
	int st;

	(void)snprintf(pt->dir, sizeof(pt->dir), "%.4000s/partner-%.64s", dir, pt->name);
	(void)snprintf(pt->log, sizeof(pt->log), "%.4000s/partner-%.64s.log", dir, pt->name);
	{
		char *a[] = {
			"paso-hub", "init", pt->dir, "--name", pt->name, "--role", "partner", NULL};
		if (run(dv, a, pt->log) != 0)
			return -1;
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", pt->dir);
	{
		char *a[] = {"paso-hub", "partner", "add", (char *)hub, "--name", pt->name, "--ca",
			ca, NULL};
		if (run(dv, a, pt->log) != 0)
			return -1;
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", hub);
	{
		char *a[] = {
			"paso-hub", "partner", "add", pt->dir, "--name", "sim", "--ca", ca, NULL};
		if (run(dv, a, pt->log) != 0)
			return -1;
	}
	(void)snprintf(portf, sizeof(portf), "%s/peer-port", pt->dir);
	{
		char *a[] = {"paso-hub", "serve", pt->dir, "--port", "0", "--peer-port", "0",
			"--peer-port-file", portf, "--clock", (char *)clk, NULL};
		if ((st = spawn(dv, a, pt->log, &pt->pid)) != 0) {
			fprintf(stderr, "paso: cannot start partner %s: %s\n", pt->name,
				strerror(st));
			return -1;
		}
	}
	if ((port = await_port(portf, pt->pid)) == 0) {
		fprintf(stderr, "paso: partner %s did not start listening; see %s\n", pt->name,
			pt->log);
		return -1;
	}
	(void)snprintf(addr, sizeof(addr), "%s/peers/%.64s.addr", hub, pt->name);
	if ((f = fopen(addr, "w")) == NULL || fprintf(f, "127.0.0.1:%u\n", port) < 0 ||
		fclose(f) != 0) {
		fprintf(stderr, "paso: %s: %s\n", addr, strerror(errno));
		return -1;
	}
	return 0;
}

/* Stops a partner's hub (SIGTERM, then at most HUB_STOP_WAIT_S). 0 if it stopped cleanly. */
static int
stop_hub(pid_t pid, const char *what)
{
	int i, st = 0;

	if (pid <= 0)
		return 0;
	kill(pid, SIGTERM);
	for (i = 0; i < HUB_STOP_WAIT_S * 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
		usleep(100000);
	}
	fprintf(stderr, "paso: %s did not stop within %d s; killed\n", what, HUB_STOP_WAIT_S);
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return -1;
}

/*
 * The period's partner queries (workload period-NNNN.queries): one probe set of the people
 * asked about (paso-kiosk probe --list, detention preset), sent by the partner with one
 * `paso-hub query --probes` over several links. Each answer is appended to DIR/queries.txt:
 * DAY PERSON ENROLLED RESULT CATEGORY (RESULT 0 hit, 3 no hit, 4 refused).
 * The probe set depends on the workload alone, so it is synthesised (queries_start) while the
 * previous period's snapshots and clock move and this period's traffic run, and sent after the
 * traffic (queries_wait, queries_send). It is biometric data: 0600, deleted after the queries.
 */
struct period_queries {
	char qpath[PATH_MAX + 48], probe[PATH_MAX + 32], list[PATH_MAX + 32];
	char log[PATH_MAX + 32];
	unsigned long *whos, *ins, *cats;
	size_t n;
	pid_t synth; /* paso-kiosk probe --list, while it runs */
};

/* Wipes q's files and frees it; waits for its synthesis if still running. */
static void
queries_clear(struct period_queries *q)
{
	int st;

	if (q->synth > 0)
		while (waitpid(q->synth, &st, 0) < 0 && errno == EINTR)
			;
	if (q->probe[0] != '\0')
		(void)unlink(q->probe);
	if (q->list[0] != '\0')
		(void)unlink(q->list);
	free(q->whos);
	free(q->ins);
	free(q->cats);
	memset(q, 0, sizeof(*q));
}

/* Reads period per's queries and starts synthesising their probe set. 0 (q->n may be 0) or
 * -1 (said). */
static int
queries_start(const struct drive *dv, const char *dir, uint32_t per, struct period_queries *q)
{
	unsigned long who, in, cat;
	unsigned long long cn;
	char seed[24], line[160];
	size_t cap = 0;
	FILE *f = NULL, *l = NULL;
	int rc = -1, st;

	memset(q, 0, sizeof(*q));
	(void)snprintf(q->qpath, sizeof(q->qpath), "%s/period-%04u.queries", dv->wldir, per);
	(void)snprintf(q->probe, sizeof(q->probe), "%s/probes.set", dir);
	(void)snprintf(q->list, sizeof(q->list), "%s/probes.list", dir);
	(void)snprintf(q->log, sizeof(q->log), "%s/queries.log", dir);
	(void)snprintf(seed, sizeof(seed), "%" PRIu64, dv->s->seed);
	if ((f = fopen(q->qpath, "r")) == NULL)
		return 0; /* a workload planned without queries */
	(void)unlink(q->list);
	if ((l = fopen(q->list, "w")) == NULL)
		goto out;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lu %llu %lu %lu", &who, &cn, &in, &cat) != 4) {
			fprintf(stderr, "paso: %s: bad line '%s'\n", q->qpath, line);
			goto out;
		}
		if (q->n == cap) {
			unsigned long *w2, *i2, *c2;

			cap = cap ? cap * 2 : 64;
			w2 = realloc(q->whos, cap * sizeof(*q->whos));
			q->whos = w2 != NULL ? w2 : q->whos;
			i2 = realloc(q->ins, cap * sizeof(*q->ins));
			q->ins = i2 != NULL ? i2 : q->ins;
			c2 = realloc(q->cats, cap * sizeof(*q->cats));
			q->cats = c2 != NULL ? c2 : q->cats;
			if (w2 == NULL || i2 == NULL || c2 == NULL)
				goto out;
		}
		q->whos[q->n] = who;
		q->ins[q->n] = in;
		q->cats[q->n] = cat;
		q->n++;
		fprintf(l, "%lu %llu\n", who, cn);
	}
	if (fclose(l) != 0) {
		l = NULL;
		goto out;
	}
	l = NULL;
	if (q->n == 0) {
		rc = 0;
		goto out;
	}
	(void)unlink(q->probe);
	{
		/* at nice 19: it is needed only after the period's traffic, which it must not
		 * slow */
		char *av[] = {"paso-kiosk", "probe", "--list", q->list, "--seed", seed, "--preset",
			"detention", "--nice", "19", "--out", q->probe, NULL};
		if ((st = spawn(dv, av, q->log, &q->synth)) != 0) {
			fprintf(stderr, "paso: cannot start %s/paso-kiosk: %s\n", dv->bin,
				strerror(st));
			q->synth = -1;
			goto out;
		}
	}
	rc = 0;
out:
	if (l != NULL)
		fclose(l);
	fclose(f);
	return rc;
}

/* Waits for q's probe set to be written. 0, or -1 (said) if its synthesis failed. */
static int
queries_wait(struct period_queries *q)
{
	int st;

	if (q->synth <= 0)
		return 0;
	while (waitpid(q->synth, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	q->synth = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "paso: paso-kiosk probe failed (exit %d); see %s\n",
			WIFEXITED(st) ? WEXITSTATUS(st) : -1, q->log);
		return -1;
	}
	return 0;
}

/* Sends q's probe set (queries_wait first), records the answers; then clears q. 0 or -1. */
static int
queries_send(const struct drive *dv, const struct run_partner *pt, const char *dir,
	const char *natpeer, uint32_t day, struct period_queries *q)
{
	char out[PATH_MAX + 32], ans[PATH_MAX + 32], line[160];
	FILE *o = NULL, *a = NULL;
	int *res = NULL, rc = -1;
	size_t k;

	if (q->n == 0) {
		rc = 0;
		goto out;
	}
	(void)snprintf(ans, sizeof(ans), "%s/answers.txt", dir);
	(void)snprintf(out, sizeof(out), "%s/queries.txt", dir);
	if ((res = calloc(q->n, sizeof(*res))) == NULL)
		goto out;
	(void)unlink(ans);
	{
		/* Each link keeps a window of probes ahead of their answers and the hub commits
		 * what it has in hand together, so 8 links send a set as fast as 32 did with
		 * fewer handshakes (0.125 s against 0.16 s median for 350 probes, load ~9). */
		char *av[] = {"paso-hub", "query", (char *)pt->dir, "--hub", (char *)natpeer,
			"--purpose", dv->s->partner_purpose, "--probes", q->probe, "--connections",
			"8", NULL};
		if (run(dv, av, ans) != 0)
			goto out;
	}
	/* "probe K: hit: ..." / "probe K: no hit ..." / "probe K: refused: ..." */
	for (k = 0; k < q->n; k++)
		res[k] = -1;
	if ((a = fopen(ans, "r")) == NULL)
		goto out;
	while (fgets(line, sizeof(line), a) != NULL) {
		unsigned long no;
		char word[16];

		if (sscanf(line, "probe %lu: %15[a-z]", &no, word) != 2 || no < 1 || no > q->n)
			continue;
		res[no - 1] = strcmp(word, "hit") == 0       ? 0
			      : strcmp(word, "no") == 0      ? 3
			      : strcmp(word, "refused") == 0 ? 4
							     : -1;
	}
	if ((o = fopen(out, "a")) == NULL)
		goto out;
	for (k = 0; k < q->n; k++) {
		if (res[k] < 0) {
			fprintf(stderr, "paso: probe %zu of %s has no answer; see %s\n", k + 1,
				q->qpath, ans);
			goto out;
		}
		fprintf(o, "%u %lu %lu %d %lu\n", day, q->whos[k], q->ins[k], res[k], q->cats[k]);
	}
	rc = 0;
out:
	if (o != NULL && fclose(o) != 0)
		rc = -1;
	if (a != NULL)
		fclose(a);
	if (rc == 0 && q->n > 0)
		(void)unlink(ans); /* case tokens; queries.txt keeps what the report needs */
	free(res);
	queries_clear(q);
	return rc;
}

/* `paso-hub stats DIR --json` into out. */
static int
snapshot(const struct drive *dv, const char *hub, const char *out)
{
	char *a[] = {"paso-hub", "stats", (char *)hub, "--json", NULL};

	(void)unlink(out);
	return run(dv, a, out);
}

/*
 * Where the lab's hub keeps finger templates (paso-hub serve --fingers). When the policy's
 * kiosks capture face or irises too, fingers stay sealed in the store, as a national
 * deployment keeps them: face and irises decide most comparisons (staged 1:1, gated
 * deduplication), so a record is opened for its fingers only where they leave the decision
 * open, and an enrolment's finger template is built only then. A finger-only policy compares
 * fingers in every crossing: there they stay in memory (a record opened per crossing).
 */
static const char *
fingers_mode(const struct measures *m)
{
	return strstr(m->capture, "face") != NULL || strstr(m->capture, "iris") != NULL ? "store"
											: "memory";
}

/* One policy through the whole workload: a fresh deployment, its hub on a simulated clock.
 * Not inlined: dir's length is checked here, which the compiler cannot see through. */
static int __attribute__((noinline))
run_policy(const struct drive *dv, const char *policy, const char *dir, struct measures *m)
{
	const struct scenario *s = dv->s;
	char hub[PATH_MAX + 16], log[PATH_MAX + 16], klog[PATH_MAX + 16], portf[PATH_MAX + 16];
	char kw[PATH_MAX + 16], truth[PATH_MAX + 16], plan[PATH_MAX + 32], snap[PATH_MAX + 16];
	char clk[96], start[INSTANT_TEXT_BYTES];
	char people[16], seed[24], hostport[32], adv[24], when[INSTANT_TEXT_BYTES];
	char names[RUN_MAX_PARTNERS][65], peerf[PATH_MAX + 16], natpeer[32];
	struct run_partner pts[RUN_MAX_PARTNERS];
	struct period_queries pq;
	struct paso_diag d = {0};
	pid_t hubpid = -1;
	size_t npt = 0, j;
	uint32_t per, i;
	double t0;
	int rc = -1, st, k;
	FILE *f;

	(void)snprintf(m->rundir, sizeof(m->rundir), "%s", dir);
	(void)snprintf(m->policy_path, sizeof(m->policy_path), "%s", policy);
	(void)snprintf(hub, sizeof(hub), "%s/hub", dir);
	(void)snprintf(log, sizeof(log), "%s/hub.log", dir);
	(void)snprintf(klog, sizeof(klog), "%s/kiosks.log", dir);
	(void)snprintf(portf, sizeof(portf), "%s/port", dir);
	(void)snprintf(kw, sizeof(kw), "%s/kiosks", dir);
	(void)snprintf(truth, sizeof(truth), "%s/truth.txt", dir);
	(void)snprintf(snap, sizeof(snap), "%s/stats", dir);
	if (strlen(dir) > PATH_MAX - 64) {
		fprintf(stderr, "paso: --out path too long: '%s'\n", dir);
		return -1;
	}
	if (access(hub, F_OK) == 0) {
		fprintf(stderr,
			"paso: %s already holds a run: choose another --out DIR or remove it\n",
			dir);
		return -1;
	}
	if (mkdirs(dir) != 0 || mkdirs(snap) != 0) {
		fprintf(stderr, "paso: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	t0 = now_s();
	{
		char *a[] = {
			"paso-hub", "init", hub, "--name", "sim", "--policy", (char *)policy, NULL};
		if (run(dv, a, log) != 0)
			return -1;
	}
	for (k = 0; k < WORKLOAD_NKIOSKS; k++) {
		char *a[] = {"paso-hub", "issue", hub, "--kiosk", (char *)workload_kiosks[k], NULL};
		if (run(dv, a, log) != 0)
			return -1;
	}
	(void)snprintf(clk, sizeof(clk), "sim:%s", instant_format(s->start, start));
	(void)snprintf(peerf, sizeof(peerf), "%s/peer-port", dir);
	memset(pts, 0, sizeof(pts));
	memset(&pq, 0, sizeof(pq));
	m->npartners = policy_partners(policy, names, RUN_MAX_PARTNERS);
	for (j = 0; j < m->npartners; j++)
		(void)snprintf(m->partners[j], sizeof(m->partners[j]), "%.64s", names[j]);
	/* Partners first: the hub opens its peer port only for peers it trusts at start. */
	for (npt = 0; npt < m->npartners; npt++) {
		(void)snprintf(pts[npt].name, sizeof(pts[npt].name), "%.64s", names[npt]);
		if (partner_start(dv, &pts[npt], hub, dir, clk) != 0) {
			npt++;
			goto out;
		}
	}
	{
		/* With partners, the hub also serves its peer port (their hit/no-hit queries).
		 * A run is timed as a whole and no crossing waits on a person: deduplication
		 * runs at the hub's own priority (on a shared machine 19 yields to everyone). */
		char *a[] = {"paso-hub", "serve", hub, "--port", "0", "--port-file", portf,
			"--clock", clk, "--dedup-nice", "0", "--fingers", (char *)fingers_mode(m),
			m->npartners ? "--peer-port" : NULL, "0", "--peer-port-file", peerf, NULL};
		if ((st = spawn(dv, a, log, &hubpid)) != 0) {
			fprintf(stderr, "paso: cannot start paso-hub: %s\n", strerror(st));
			return -1;
		}
	}
	for (i = 0; i < 600; i++) {
		unsigned port = 0;
		if ((f = fopen(portf, "r")) != NULL) {
			int got = fscanf(f, "%u", &port);
			fclose(f);
			if (got == 1 && port > 0) {
				(void)snprintf(hostport, sizeof(hostport), "127.0.0.1:%u", port);
				break;
			}
		}
		if (waitpid(hubpid, &st, WNOHANG) == hubpid) {
			hubpid = -1;
			fprintf(stderr, "paso: paso-hub serve stopped at start; see %s\n", log);
			return -1;
		}
		usleep(20000);
	}
	if (i == 600) {
		fprintf(stderr, "paso: paso-hub did not start listening; see %s\n", log);
		goto out;
	}
	if (m->npartners > 0) {
		unsigned pp = await_port(peerf, hubpid);

		if (pp == 0) {
			fprintf(stderr, "paso: paso-hub did not open its peer port; see %s\n", log);
			goto out;
		}
		(void)snprintf(natpeer, sizeof(natpeer), "127.0.0.1:%u", pp);
	}
	m->seconds[PHASE_SETUP] = now_s() - t0;
	(void)snprintf(people, sizeof(people), "%u", dv->w->population);
	(void)snprintf(seed, sizeof(seed), "%" PRIu64, s->seed);
	(void)snprintf(adv, sizeof(adv), "%ud", s->period_days);
	for (per = 0; per < dv->w->periods; per++) {
		uint32_t day = per * s->period_days;

		t0 = now_s();
		for (i = 0; i < s->nevents; i++) {
			const struct scenario_event *ev = &s->events[i];
			if (ev->kind == SCENARIO_REVOKE_KIOSK && ev->day >= day &&
				ev->day < day + s->period_days) {
				char *a[] = {
					"paso-hub", "revoke", hub, "--kiosk", ev->target, NULL};
				if (run(dv, a, log) != 0)
					goto out;
			}
			if (ev->kind == SCENARIO_POLICY_CHANGE && ev->day >= day &&
				ev->day < day + s->period_days) {
				char *a[] = {"paso-hub", "reload", hub, NULL};
				char name[65];
				uint32_t days;
				/* The deployment's policy file is replaced, the hub reloads it (an
				 * audited POLICY_LOAD) and its kiosks capture what it allows. */
				if (install_policy(ev->target, hub) != 0 || run(dv, a, log) != 0 ||
					policy_name_of(ev->target, name, m->capture, &days) != 0)
					goto out;
			}
		}
		/* The scenario's partner queries come from the first partner. Their probe set is
		 * synthesised beside the previous period's snapshots and this one's traffic. */
		if (npt > 0 && per == 0 && queries_start(dv, dir, per, &pq) != 0)
			goto out;
		(void)snprintf(plan, sizeof(plan), "%s/period-%04u.plan", dv->wldir, per);
		(void)instant_format(s->start + (uint64_t)day * 86400u, when);
		/* --window 64: what the hub takes in flight per connection. A kiosk waits for a
		 * whole window's answers before the next, so the default 32 costs twice the round
		 * trips (one period of southern-border: 25.8 s -> 16.2 s). */
		{
			char *a[] = {"paso-kiosk", "run", "--deployment", hub, "--hub", hostport,
				"--people", people, "--seed", seed, "--plan", plan, "--truth",
				truth, "--start", when, "--workdir", kw, "--give-up", "600",
				"--json", "--capture", m->capture, "--window", "64", NULL};
			if (run(dv, a, klog) != 0)
				goto out;
		}
		m->seconds[PHASE_TRAFFIC] += now_s() - t0;
		t0 = now_s();
		if (queries_wait(&pq) != 0) /* the probe set, if it is not ready yet */
			goto out;
		if (npt > 0 && queries_send(dv, &pts[0], dir, natpeer, day, &pq) != 0)
			goto out;
		if (npt > 0 && per + 1 < dv->w->periods &&
			queries_start(dv, dir, per + 1, &pq) != 0)
			goto out;
		m->seconds[PHASE_QUERIES] += now_s() - t0;
		t0 = now_s();
		/* What the period shared has reached its partners before anyone is counted. */
		if (npt > 0 && await_shares(dv, hub, dir) != 0)
			goto out;
		{
			/* the partners' snapshots are taken while the hub's is (read-only) */
			char out[PATH_MAX + 160];
			pid_t spid[RUN_MAX_PARTNERS];
			size_t started = 0;
			int bad = 0;

			for (j = 0; j < npt && !bad; j++, started++) {
				char *a[] = {"paso-hub", "stats", pts[j].dir, "--json", NULL};
				(void)snprintf(out, sizeof(out),
					"%s/partner-%.64s-period-%04u.json", snap, pts[j].name,
					per);
				(void)unlink(out);
				if (spawn(dv, a, out, &spid[j]) != 0)
					bad = 1;
			}
			(void)snprintf(out, sizeof(out), "%s/period-%04u.json", snap, per);
			if (!bad && snapshot(dv, hub, out) != 0)
				bad = 1;
			for (j = 0; j < started; j++)
				if (finish(spid[j], "paso-hub stats of a partner") != 0)
					bad = 1;
			if (bad)
				goto out;
		}
		if (per + 1 < dv->w->periods) {
			char *a[] = {"paso-hub", "clock", hub, "--advance", adv, NULL};
			if (run(dv, a, log) != 0 || await_sweep(dv, hub, dir) != 0)
				goto out;
			for (j = 0; j < npt; j++) {
				char *b[] = {
					"paso-hub", "clock", pts[j].dir, "--advance", adv, NULL};
				if (run(dv, b, pts[j].log) != 0)
					goto out;
			}
		}
		m->seconds[PHASE_SNAPSHOT] += now_s() - t0;
		if (!dv->quiet) {
			fprintf(stderr, "\r  %s: day %u of %u", m->policy, day + s->period_days,
				s->days);
			fflush(stderr);
		}
	}
	if (!dv->quiet)
		fputc('\n', stderr);
	rc = 0;
out:
	queries_clear(&pq);
	t0 = now_s();
	for (j = 0; j < npt; j++)
		if (stop_hub(pts[j].pid, "a partner's paso-hub") != 0)
			rc = -1;
	if (hubpid > 0) {
		/* A clean stop finishes what the hub holds in hand; a hub still busy after
		 * HUB_STOP_WAIT_S (a backlog of slow 1:N searches) is killed and the run fails. */
		kill(hubpid, SIGTERM);
		for (i = 0; i < HUB_STOP_WAIT_S * 10; i++) {
			if (waitpid(hubpid, &st, WNOHANG) == hubpid)
				break;
			usleep(100000);
		}
		if (i == HUB_STOP_WAIT_S * 10) {
			fprintf(stderr, "paso: paso-hub did not stop within %d s; killed\n",
				HUB_STOP_WAIT_S);
			kill(hubpid, SIGKILL);
			while (waitpid(hubpid, &st, 0) < 0 && errno == EINTR)
				;
			rc = -1;
		} else if (rc == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
			fprintf(stderr, "paso: paso-hub serve did not stop cleanly; see %s\n", log);
			rc = -1;
		}
	}
	m->seconds[PHASE_STOP] = now_s() - t0;
	if (rc != 0)
		return rc;
	t0 = now_s();
	if ((rc = measures_compute(s, m, &d)) != 0) {
		fprintf(stderr, "paso: measuring %s: error %s (%d): %s\n", dir, paso_errname(rc),
			rc, d.msg);
		return -1;
	}
	m->seconds[PHASE_MEASURE] = now_s() - t0;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paso scenario run SCENARIO --policy FILE --out DIR [--quiet]\n"
		"       paso compare SCENARIO POLICY... --out DIR [--quiet]\n"
		"  runs the scenario's workload (planned once from its seed) through a fresh\n"
		"  deployment per policy: real paso-hub on loopback with a simulated clock, real\n"
		"  paso-kiosk runs, one per period; then measures it from the audit logs and\n"
		"  stores and writes DIR/report.html, DIR/*.csv, DIR/summary.json\n");
}

/* Shared by both commands: policies[0..n) under one workload. */
static int
drive(const char *scenario, const char *const *policies, size_t n, const char *out, int quiet)
{
	struct paso_diag d = {0};
	struct scenario *s = NULL;
	struct workload_info w;
	struct measures *m = NULL;
	struct drive dv;
	char wldir[PATH_MAX + 16], pdir[PATH_MAX + 80];
	double t0;
	size_t i, j;
	int r, rc = 1;

	memset(&dv, 0, sizeof(dv));
	if ((r = scenario_load_file(scenario, &s, &d)) != 0) {
		fprintf(stderr, "paso: error %s (%d): %s\n", paso_errname(r), r, d.msg);
		return r == PASO_E_INVALID_ARG || r == PASO_E_NOT_FOUND ? 2 : 1;
	}
	for (i = 0; i < s->nevents; i++)
		if (s->events[i].kind == SCENARIO_POLICY_CHANGE) {
			char name[65], cap[32];
			uint32_t days;
			/* The target must be a valid policy before any hub starts. */
			if (policy_name_of(s->events[i].target, name, cap, &days) != 0) {
				fprintf(stderr,
					"paso: %s:%u: policy_change target '%s' is not a valid "
					"policy\n",
					scenario, s->events[i].line, s->events[i].target);
				goto out;
			}
		}
	if ((m = calloc(n, sizeof(*m))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (policy_name_of(policies[i], m[i].policy, m[i].capture, &m[i].retention_days) !=
			0)
			goto out;
		for (j = 0; j < i; j++)
			if (strcmp(m[i].policy, m[j].policy) == 0) {
				fprintf(stderr, "paso: %s and %s are both named '%s'\n",
					policies[j], policies[i], m[i].policy);
				goto out;
			}
	}
	if (mkdirs(out) != 0) {
		fprintf(stderr, "paso: %s: %s\n", out, strerror(errno));
		goto out;
	}
	if (find_bin(&dv) != 0) {
		fprintf(stderr, "paso: cannot find my own directory\n");
		goto out;
	}
	(void)snprintf(wldir, sizeof(wldir), "%s/workload", out);
	t0 = now_s();
	if ((r = workload_plan(s, wldir, &w, &d)) != 0) {
		fprintf(stderr, "paso: error %s (%d): %s\n", paso_errname(r), r, d.msg);
		goto out;
	}
	dv.s = s;
	dv.w = &w;
	dv.wldir = wldir;
	dv.quiet = quiet;
	if (!quiet)
		fprintf(stderr,
			"paso: scenario '%s': %u days, %u periods, %" PRIu64
			" planned messages (workload %.16s...)\n",
			s->name, s->days, w.periods, w.messages, w.digest);
	t0 = now_s() - t0;
	for (i = 0; i < n; i++) {
		m[i].seconds[PHASE_PLAN] = t0;
		(void)snprintf(pdir, sizeof(pdir), "%s/%s", out, m[i].policy);
		if (run_policy(&dv, policies[i], pdir, &m[i]) != 0)
			goto out;
	}
	if ((r = report_write(out, s, &w, m, n, &d)) != 0) {
		fprintf(stderr, "paso: error %s (%d): %s\n", paso_errname(r), r, d.msg);
		goto out;
	}
	printf("report: %s/report.html (open it in a browser; figures also in %s/summary.json "
	       "and %s/*.csv)\n",
		out, out, out);
	rc = 0;
out:
	for (i = 0; m != NULL && i < n; i++)
		measures_clear(&m[i]);
	free(m);
	scenario_free(s);
	return rc;
}

int
scenario_main(int argc, char **argv)
{
	const char *scen = NULL, *policy = NULL, *out = NULL;
	int i, quiet = 0;

	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
			policy = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else if (argv[i][0] != '-' && scen == NULL)
			scen = argv[i];
		else {
			fprintf(stderr, "paso scenario run: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (scen == NULL || policy == NULL || out == NULL) {
		fprintf(stderr, "paso scenario run: needs SCENARIO, --policy FILE and --out DIR\n");
		usage(stderr);
		return 2;
	}
	return drive(scen, &policy, 1, out, quiet);
}

int
compare_main(int argc, char **argv)
{
	const char *scen = NULL, *out = NULL, *pol[16];
	size_t np = 0;
	int i, quiet = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else if (argv[i][0] != '-' && scen == NULL)
			scen = argv[i];
		else if (argv[i][0] != '-' && np < 16)
			pol[np++] = argv[i];
		else {
			fprintf(stderr,
				"paso compare: unexpected argument '%s' (at most 16 policies)\n",
				argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (scen == NULL || np == 0 || out == NULL) {
		fprintf(stderr,
			"paso compare: needs SCENARIO, one or more POLICY files and --out DIR\n");
		usage(stderr);
		return 2;
	}
	return drive(scen, pol, np, out, quiet);
}
