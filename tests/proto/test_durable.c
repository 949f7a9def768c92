/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for proto/durable.c: whole files or none, modes kept, every failing return reported. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durable.h"
#include "errors.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/paso-durable-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static size_t
read_back(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static size_t
count_entries(void)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

static void
test_new_and_exists(void **state)
{
	struct paso_diag d = {0};
	char path[128], buf[64];
	struct stat st;
	mode_t old;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/hub.key", dir);
	old = umask(0);
	assert_int_equal(durable_write(path, "secret", 6, 0600, DURABLE_NEW, &d), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(read_back(path, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "secret", 6);
	/* A second write never replaces the first, and is named. */
	assert_int_equal(durable_write(path, "other!!", 7, 0600, DURABLE_NEW, &d), PASO_E_EXISTS);
	assert_non_null(strstr(d.msg, path));
	assert_int_equal(read_back(path, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "secret", 6);
	assert_int_equal(count_entries(), 1); /* no temporary left behind */
}

static void
test_replace(void **state)
{
	struct paso_diag d = {0};
	char path[128], buf[64];
	struct stat st;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/port", dir);
	assert_int_equal(durable_write(path, "1\n", 2, 0644, DURABLE_REPLACE, &d), 0);
	assert_int_equal(durable_write(path, "4242\n", 5, 0644, DURABLE_REPLACE, &d), 0);
	assert_int_equal(read_back(path, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "4242\n", 5);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(count_entries(), 1);
}

/*
 * A write that fails half-way (here: the file size limit, which makes write() return EFBIG the
 * way a full disk returns ENOSPC) is reported as "storage is full" and leaves no file, and an
 * existing file replaced by such a write keeps its old content.
 */
static void
test_failed_write_leaves_nothing(void **state)
{
	char path[128], keep[128], buf[64];
	pid_t pid;
	int status;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/ca.crt", dir);
	(void)snprintf(keep, sizeof(keep), "%s/state", dir);
	assert_int_equal(durable_write(keep, "old", 3, 0644, DURABLE_REPLACE, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {4096, 4096};
		static char big[65536];
		struct paso_diag d = {0};
		int r1, r2;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(10);
		memset(big, 'x', sizeof(big));
		r1 = durable_write(path, big, sizeof(big), 0644, DURABLE_NEW, &d);
		if (r1 != PASO_E_MAP_FULL || strstr(d.msg, "ca.crt") == NULL ||
			strstr(d.msg, "writing") == NULL)
			_exit(11);
		r2 = durable_write(keep, big, sizeof(big), 0644, DURABLE_REPLACE, &d);
		_exit(r2 == PASO_E_MAP_FULL ? 0 : 12);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(read_back(keep, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "old", 3);
	assert_int_equal(count_entries(), 1);
}

static void
test_bad_names(void **state)
{
	struct paso_diag d = {0};
	char path[160];
	int dfd;

	(void)state;
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(durable_writeat(dfd, "a/b", "x", 1, 0600, DURABLE_NEW, NULL, &d),
		PASO_E_INVALID_ARG);
	assert_int_equal(
		durable_writeat(dfd, "", "x", 1, 0600, DURABLE_NEW, NULL, &d), PASO_E_INVALID_ARG);
	close(dfd);
	(void)snprintf(path, sizeof(path), "%s/missing/dir/file", dir);
	assert_int_equal(durable_write(path, "x", 1, 0600, DURABLE_NEW, &d), PASO_E_IO);
	assert_non_null(strstr(d.msg, "missing/dir/file"));
	assert_int_equal(count_entries(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_and_exists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
