/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A full disk is a transient condition. A real hub whose deployment lives on a small tmpfs takes
 * steady kiosk traffic until the disk is full: it answers STORE_FULL (retry later) instead of an
 * I/O error, logs the episode once, does not spin, and once the tmpfs is grown serves again by
 * itself within 5 s. Every acknowledged message is then stored exactly once and the audit log
 * verifies. Needs mount(2) (CI runs as root); skipped with a message where it is not permitted.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "errors.h"
#include "harness.h"

#define RAW_KIOSK "kiosk-ciudad-cuauhtemoc" /* the test's own client; paso-kiosk runs two others */
#define BIG_KB (64ul * 1024)                /* the tmpfs before and after the episode */
#define ROOM_KB 512ul                       /* what is left free when the episode is staged */

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of pid in seconds, from /proc/PID/stat. */
static double
cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_non_null(p = strrchr(buf, ')')); /* the command name may hold spaces */
	assert_int_equal(
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st), 2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static size_t
log_lines(const struct deployment *dep)
{
	char *log = h_read_file(dep->log, NULL);
	size_t n = h_count(log, "\n");

	free(log);
	return n;
}

static int
log_has(const struct deployment *dep, const char *needle)
{
	char *log = h_read_file(dep->log, NULL);
	int has = log != NULL && strstr(log, needle) != NULL;

	free(log);
	return has;
}

/*
 * Sends the raw kiosk's enrolment seq and returns the answer's error code (0 for an Ack).
 */
static int
send_enrol(const struct deployment *dep, uint64_t seq)
{
	/* person = seq: an enrolment acknowledged near the limit is not sent again */
	Paso__Envelope env, *a;
	struct tls_conn *c;
	int rc, code;

	assert_non_null(c = c_connect(dep->hub, RAW_KIOSK, dep->port, &rc));
	c_make_enroll(&env, RAW_KIOSK, seq, (uint32_t)seq);
	assert_int_equal(c_send(c, &env), 0);
	c_free_enroll(&env);
	assert_non_null(a = c_recv(c));
	if (a->body_case == PASO__ENVELOPE__BODY_ACK) {
		code = 0;
	} else {
		assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
		assert_int_equal(a->error->seq, seq);
		code = a->error->code;
		if (code == PASO_E_STORE_FULL)
			assert_non_null(strstr(a->error->message, "full"));
	}
	paso__envelope__free_unpacked(a, NULL);
	tls_conn_free(c);
	return code;
}

/*
 * Near the limit a small group can still fit where a large one does not: sends new enrolments
 * until one is refused STORE_FULL (within 5 s), counting those acknowledged meanwhile in *acked.
 * Returns the refused one's seq.
 */
static uint64_t
until_refused(const struct deployment *dep, uint64_t seq, uint64_t *acked)
{
	double t = mono();
	int rc;

	while ((rc = send_enrol(dep, seq)) == 0) {
		++*acked;
		++seq;
		if (mono() - t > 5.0)
			fail_msg("no STORE_FULL within 5 s of a full disk");
		usleep(50000);
	}
	assert_int_equal(rc, PASO_E_STORE_FULL);
	return seq;
}

static void
test_disk_full_passes(void **state)
{
	struct deployment dep;
	struct statvfs sv;
	char hubaddr[64], kout[700], *kjson = NULL, *stats = NULL, *out = NULL;
	double t0, t1, c0, c1, t_grow, t_served, waited;
	size_t l0, l1, lines_at_full;
	unsigned long used_kb;
	uint64_t seq, raw_acked = 0;
	pid_t kiosk;
	int rc, st;

	(void)state;
	if ((rc = h_deploy_tmpfs(&dep, BIG_KB)) != 0) {
		fprintf(stderr,
			"skipped: cannot mount a tmpfs for the hub (%s); this test needs root or "
			"CAP_SYS_ADMIN, as in CI\n",
			strerror(rc));
		skip();
	}
	h_hub_start(&dep, 0);
	/* Leave only ROOM_KB free: a few dozen enrolments fill it. */
	assert_int_equal(statvfs(dep.hub, &sv), 0);
	used_kb = (unsigned long)((sv.f_blocks - sv.f_bfree) * sv.f_frsize / 1024);
	assert_int_equal(h_tmpfs_resize(&dep, used_kb + ROOM_KB), 0);

	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)dep.port);
	(void)snprintf(kout, sizeof(kout), "%s/kiosk.json", dep.dir);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--kiosks", "kiosk-ciudad-hidalgo,kiosk-talisman", "--people",
			"120", "--crossings", "60", "--identify", "0", "--seed", "41", "--workdir",
			dep.work, "--give-up", "120", "--json", NULL};
		kiosk = h_spawn(kout, argv);
		h_track_pid(kiosk);
	}
	for (waited = 0; !log_has(&dep, "storage full:"); waited += 0.05) {
		if (waited > 60)
			fail_msg("the disk did not fill within 60 s");
		if (waitpid(kiosk, &st, WNOHANG) == kiosk)
			fail_msg("the kiosks finished before the disk filled; enlarge the load");
		usleep(50000);
	}
	lines_at_full = log_lines(&dep);

	/* A message that arrives now is refused as storage full, not as an I/O error. */
	seq = until_refused(&dep, 1, &raw_acked);

	/* While the disk stays full: no spinning, no flood of log lines. */
	t0 = mono();
	c0 = cpu_seconds(dep.hub_pid);
	l0 = log_lines(&dep);
	sleep(4);
	t1 = mono();
	c1 = cpu_seconds(dep.hub_pid);
	l1 = log_lines(&dep);
	fprintf(stderr,
		"disk full: hub CPU %.3f s over %.2f s (%.1f%% of a core), %zu log lines (%zu since "
		"the episode began)\n",
		c1 - c0, t1 - t0, 100.0 * (c1 - c0) / (t1 - t0), l1 - l0, l1 - lines_at_full + 1);
	assert_true((c1 - c0) / (t1 - t0) < 0.5);
	assert_true(l1 - l0 <= 3);
	seq = until_refused(&dep, seq, &raw_acked);

	/* Space returns: the hub serves again by itself. */
	assert_int_equal(h_tmpfs_resize(&dep, BIG_KB), 0);
	t_grow = mono();
	while ((rc = send_enrol(&dep, seq)) != 0) {
		assert_int_equal(rc, PASO_E_STORE_FULL);
		if (mono() - t_grow > 5.0)
			fail_msg("the hub did not serve again within 5 s of space returning");
		usleep(100000);
	}
	t_served = mono();
	fprintf(stderr, "served again %.3f s after the tmpfs was grown\n", t_served - t_grow);

	st = h_wait(kiosk);
	h_untrack_pid(kiosk);
	kjson = h_read_file(kout, NULL);
	fprintf(stderr, "kiosk: %s\n", kjson ? kjson : "(none)");
	assert_int_equal(st, 0);
	assert_true(h_json_num(kjson, "store_full") > 0); /* the kiosks were told, and waited */
	assert_int_equal(h_json_num(kjson, "refused"), 0);
	assert_int_equal(h_json_num(kjson, "acked"), h_json_num(kjson, "queued"));
	for (waited = 0; !log_has(&dep, "storage available again"); waited += 0.1) {
		if (waited > 10)
			fail_msg("the hub never logged that storage was available again");
		usleep(100000);
	}
	fprintf(stderr, "hub log lines from the episode's start to its end: %zu\n",
		log_lines(&dep) - lines_at_full + 1);
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	{
		char *log = h_read_file(dep.log, NULL);

		assert_int_equal(h_count(log, "storage full:"), 1);
		assert_int_equal(h_count(log, "storage available again"), 1);
		assert_null(strstr(log, "input/output error"));
		free(log);
	}

	/* Nothing acknowledged lost, nothing stored twice; the log verifies. */
	{
		const char *argv[] = {"paso-hub", "stats", dep.hub, "--json", "--recount", NULL};
		assert_int_equal(h_run(&stats, argv), 0);
	}
	fprintf(stderr, "stats: %s\n", stats);
	assert_int_equal(h_json_num(stats, "subjects"),
		h_json_num(kjson, "enrolled") + 1 + (long long)raw_acked);
	assert_int_equal(h_json_num(stats, "crossings"),
		h_json_num(kjson, "genuine") + h_json_num(kjson, "impostor"));
	assert_int_equal(h_json_num(stats, "messages_seen"),
		h_json_num(kjson, "acked") + 1 + (long long)raw_acked);
	{
		const char *argv[] = {"paso-audit", "verify", dep.hub, NULL};
		st = h_run(&out, argv);
		fprintf(stderr, "verify: %s\n", out);
		assert_int_equal(st, 0);
	}
	free(out);
	free(stats);
	free(kjson);
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_full_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
