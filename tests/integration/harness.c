/* SPDX-License-Identifier: Apache-2.0 */
/* Test harness: spawns the real paso programs, waits for ports, reads what they print. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

extern char **environ;

static const char *const kiosk_names[] = {"kiosk-ciudad-hidalgo", "kiosk-talisman",
	"kiosk-ciudad-cuauhtemoc", "kiosk-el-ceibo", "station-siglo-xxi"};

static void
bin_path(char *out, size_t n, const char *prog)
{
	(void)snprintf(out, n, "%s/%s", PASO_BIN_DIR, prog);
}

pid_t
h_spawn(const char *outfile, const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	char prog[1024];
	pid_t pid;
	int rc;

	bin_path(prog, sizeof(prog), argv[0]);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, outfile, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawn(&pid, prog, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	return pid;
}

int
h_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *
h_read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
		(buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			if (lenp != NULL)
				*lenp = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

int
h_run(char **outp, const char *const argv[])
{
	char tmpl[] = "/tmp/paso-out-XXXXXX";
	int fd = mkstemp(tmpl), st;

	assert_true(fd >= 0);
	close(fd);
	st = h_wait(h_spawn(tmpl, argv));
	if (outp != NULL)
		*outp = h_read_file(tmpl, NULL);
	unlink(tmpl);
	return st;
}

/* Mount points a test made: unmounted at exit if the test's own cleanup was skipped. */
#define MAX_MOUNTS 8
static char mounts[MAX_MOUNTS][600];

static void
umount_tracked(void)
{
	size_t i;

	for (i = 0; i < MAX_MOUNTS; i++)
		if (mounts[i][0] != '\0') {
			if (umount(mounts[i]) != 0)
				(void)umount2(mounts[i], MNT_DETACH);
			mounts[i][0] = '\0';
		}
}

static void
track_mount(const char *dir, int on)
{
	size_t i;

	for (i = 0; i < MAX_MOUNTS; i++)
		if (on ? mounts[i][0] == '\0' : strcmp(mounts[i], dir) == 0) {
			if (on)
				(void)snprintf(mounts[i], sizeof(mounts[i]), "%s", dir);
			else
				mounts[i][0] = '\0';
			return;
		}
}

static void at_exit_once(void);

static void
deploy_at(struct deployment *dep, const char *policy)
{
	char *out = NULL;
	size_t i;
	int st;

	if (policy != NULL) {
		const char *argv[] = {
			"paso-hub", "init", dep->hub, "--name", "test", "--policy", policy, NULL};
		st = h_run(&out, argv);
	} else {
		const char *argv[] = {"paso-hub", "init", dep->hub, "--name", "test", NULL};
		st = h_run(&out, argv);
	}
	if (st != 0)
		fprintf(stderr, "%s", out ? out : "");
	free(out);
	assert_int_equal(st, 0);
	for (i = 0; i < sizeof(kiosk_names) / sizeof(kiosk_names[0]); i++) {
		const char *argv[] = {
			"paso-hub", "issue", dep->hub, "--kiosk", kiosk_names[i], NULL};
		assert_int_equal(h_run(NULL, argv), 0);
	}
}

static void
paths_for(struct deployment *dep, const char *tmpl)
{
	memset(dep, 0, sizeof(*dep));
	(void)snprintf(dep->dir, sizeof(dep->dir), "%s", tmpl);
	(void)snprintf(dep->hub, sizeof(dep->hub), "%s/hub", tmpl);
	(void)snprintf(dep->work, sizeof(dep->work), "%s/kiosks-work", tmpl);
	(void)snprintf(dep->log, sizeof(dep->log), "%s/hub.log", tmpl);
}

void
h_deploy(struct deployment *dep, const char *policy)
{
	char tmpl[] = "/tmp/paso-test-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	paths_for(dep, tmpl);
	deploy_at(dep, policy);
}

int
h_deploy_tmpfs(struct deployment *dep, unsigned long size_kb)
{
	char tmpl[] = "/tmp/paso-test-XXXXXX", opts[64];
	int e;

	assert_non_null(mkdtemp(tmpl));
	paths_for(dep, tmpl);
	assert_int_equal(mkdir(dep->hub, 0700), 0);
	at_exit_once();
	(void)snprintf(opts, sizeof(opts), "size=%luk,mode=0700", size_kb);
	if (mount("tmpfs", dep->hub, "tmpfs", 0, opts) != 0) {
		e = errno;
		h_cleanup(dep);
		return e;
	}
	dep->tmpfs = 1;
	track_mount(dep->hub, 1);
	deploy_at(dep, NULL);
	return 0;
}

int
h_tmpfs_resize(struct deployment *dep, unsigned long size_kb)
{
	char opts[64];

	(void)snprintf(opts, sizeof(opts), "size=%luk", size_kb);
	if (!dep->tmpfs)
		return EINVAL;
	return mount("tmpfs", dep->hub, "tmpfs", MS_REMOUNT, opts) == 0 ? 0 : errno;
}

/*
 * Hubs still running when the test program exits (a failed assertion skips the test's own
 * stop) are killed, so a failing test leaves no server behind.
 */
#define MAX_TRACKED 64
static pid_t tracked[MAX_TRACKED];

static void
kill_tracked(void)
{
	size_t i;

	for (i = 0; i < MAX_TRACKED; i++)
		if (tracked[i] > 0) {
			kill(tracked[i], SIGKILL);
			(void)waitpid(tracked[i], NULL, 0);
		}
	umount_tracked(); /* after the processes that could hold the mount busy */
}

void
h_kill_hubs(void)
{
	size_t i;

	for (i = 0; i < MAX_TRACKED; i++)
		if (tracked[i] > 0) {
			kill(tracked[i], SIGKILL);
			(void)waitpid(tracked[i], NULL, 0);
			tracked[i] = 0;
		}
}

static void
at_exit_once(void)
{
	static int registered;

	if (!registered) {
		atexit(kill_tracked);
		registered = 1;
	}
}

static void
track_hub(pid_t pid, int on)
{
	size_t i;

	at_exit_once();
	for (i = 0; i < MAX_TRACKED; i++)
		if (on ? tracked[i] == 0 : tracked[i] == pid) {
			tracked[i] = on ? pid : 0;
			return;
		}
}

void
h_track_pid(pid_t pid)
{
	track_hub(pid, 1);
}

void
h_untrack_pid(pid_t pid)
{
	track_hub(pid, 0);
}

void
h_hub_start(struct deployment *dep, uint16_t port)
{
	h_hub_start_ex(dep, port, NULL);
}

void
h_hub_start_ex(struct deployment *dep, uint16_t port, const char *const *extra)
{
	char portfile[700], portstr[16], *txt;
	const char *argv[32] = {"paso-hub", "serve", dep->hub, "--host", "127.0.0.1", "--port",
		NULL, "--port-file", NULL};
	size_t n = 9;
	int i;

	(void)snprintf(portfile, sizeof(portfile), "%s/port", dep->dir);
	unlink(portfile);
	(void)snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	argv[6] = portstr;
	argv[8] = portfile;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	dep->hub_pid = h_spawn(dep->log, argv);
	track_hub(dep->hub_pid, 1);
	for (i = 0; i < 3000; i++) {
		if ((txt = h_read_file(portfile, NULL)) != NULL) {
			dep->port = (uint16_t)strtoul(txt, NULL, 10);
			free(txt);
			return;
		}
		if (waitpid(dep->hub_pid, NULL, WNOHANG) == dep->hub_pid) {
			txt = h_read_file(dep->log, NULL);
			fprintf(stderr, "hub exited early:\n%s\n", txt ? txt : "");
			free(txt);
			fail_msg("paso-hub serve did not start");
		}
		usleep(10000);
	}
	fail_msg("paso-hub serve did not write its port within 30 s");
}

int
h_hub_stop(struct deployment *dep, int sig)
{
	int st;

	if (dep->hub_pid <= 0)
		return -1;
	kill(dep->hub_pid, sig);
	st = h_wait(dep->hub_pid);
	track_hub(dep->hub_pid, 0);
	dep->hub_pid = 0;
	return st;
}

void
h_cleanup(struct deployment *dep)
{
	char *out = NULL;
	const char *argv[] = {"rm", "-rf", dep->dir, NULL};
	pid_t pid;

	if (dep->hub_pid > 0)
		h_hub_stop(dep, SIGKILL);
	if (dep->tmpfs) {
		/* Unmounted whatever PASO_KEEP says: a kept tmpfs would hold memory. */
		if (umount(dep->hub) != 0)
			(void)umount2(dep->hub, MNT_DETACH);
		track_mount(dep->hub, 0);
		dep->tmpfs = 0;
	}
	if (getenv("PASO_KEEP") != NULL || dep->dir[0] == '\0')
		return;
	if (posix_spawnp(&pid, "rm", NULL, NULL, (char *const *)argv, environ) == 0)
		(void)h_wait(pid);
	free(out);
}

long long
h_json_num(const char *json, const char *key)
{
	char pat[128];
	const char *p;

	(void)snprintf(pat, sizeof(pat), "\"%s\":", key);
	if (json == NULL || (p = strstr(json, pat)) == NULL)
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

size_t
h_count(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);
	const char *p = hay;

	if (hay == NULL || len == 0)
		return 0;
	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += len;
	}
	return n;
}
