/* SPDX-License-Identifier: Apache-2.0 */
/* A real hub publishes its audit log as tlog-tiles: after a clean stop the tiles' checkpoint
 * covers the whole log, paso-audit verifies and proves from them (directory and HTTP), Go's
 * x/mod verifies them when installed, and a damaged entry stops the hub's next start. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_hub_publishes_tiles(void **state)
{
	struct deployment dep;
	char hubaddr[64], tiles[700], vkey[700], *out = NULL, *cp = NULL, *log = NULL, *p;
	long long size;

	(void)state;
	h_deploy(&dep, NULL);
	h_hub_start(&dep, 0);
	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)dep.port);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", dep.hub, "--hub",
			hubaddr, "--people", "30", "--crossings", "300", "--identify", "0",
			"--seed", "5", "--workdir", dep.work, "--json", NULL};
		assert_int_equal(h_run(NULL, argv), 0);
	}
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	(void)snprintf(tiles, sizeof(tiles), "%s/audit/tiles", dep.hub);
	(void)snprintf(vkey, sizeof(vkey), "%s/audit/log.vkey", dep.hub);

	/* After a clean stop the tiles' checkpoint is the log's: it covers every entry. */
	{
		char a[800], b[800];

		(void)snprintf(a, sizeof(a), "%s/checkpoint", tiles);
		(void)snprintf(b, sizeof(b), "%s/audit/checkpoint", dep.hub);
		assert_non_null(cp = h_read_file(a, NULL));
		assert_non_null(log = h_read_file(b, NULL));
		assert_string_equal(cp, log);
	}
	p = strchr(cp, '\n');
	assert_non_null(p);
	size = strtoll(p + 1, NULL, 10);
	assert_true(size > 300); /* more than one full tile */
	{
		const char *argv[] = {"paso-audit", "verify", dep.hub, NULL};

		assert_int_equal(h_run(&out, argv), 0);
		free(out);
	}
	{
		const char *argv[] = {"paso-audit", "tiles-verify", tiles, "--key", vkey, NULL};

		assert_int_equal(h_run(&out, argv), 0);
		fprintf(stderr, "%s", out);
		assert_non_null(strstr(out, "tiles OK"));
		free(out);
	}
	/* Served by a plain static server: one entry proved from the few tiles it needs. */
	{
		const char *argv[] = {
			"paso-audit", "serve", tiles, "--listen", "127.0.0.1:0", NULL};
		char outfile[800], url[128], idx[32], *txt = NULL, *u;
		pid_t pid;
		int i;

		(void)snprintf(outfile, sizeof(outfile), "%s/serve.out", dep.dir);
		pid = h_spawn(outfile, argv);
		for (i = 0; i < 300; i++) {
			free(txt);
			txt = h_read_file(outfile, NULL);
			if (txt != NULL && (u = strstr(txt, "http://")) != NULL && strchr(u, '\n'))
				break;
			usleep(10000);
		}
		assert_non_null(txt);
		u = strstr(txt, "http://");
		assert_non_null(u);
		u[strcspn(u, "\n")] = '\0';
		(void)snprintf(url, sizeof(url), "%s", u);
		free(txt);
		(void)snprintf(idx, sizeof(idx), "%lld", size - 1);
		{
			const char *pv[] = {"paso-audit", "tiles-prove", url, "--key", vkey,
				"--index", idx, NULL};

			assert_int_equal(h_run(&out, pv), 0);
			fprintf(stderr, "%s", out);
			assert_non_null(strstr(out, "is in the log of"));
			free(out);
		}
		kill(pid, SIGTERM);
		h_wait(pid);
	}
	/* Go's x/mod/sumdb/tlog and note verify the real hub's tiles, when installed. */
	if (sh("command -v go >/dev/null && test -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog") ==
		0) {
		assert_int_equal(
			sh("cd '%s/audit/go/tlogcheck' && GOENV=off GO111MODULE=off "
			   "GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= GOCACHE='%s' go build "
			   "-o '%s/tlogcheck' . && '%s/tlogcheck' '%s' '%s' 1>&2",
				PASO_TEST_SRC, PASO_GO_CACHE, dep.dir, dep.dir, tiles, vkey),
			0);
	} else {
		fprintf(stderr, "SKIPPED part: Go or golang.org/x/mod not installed\n");
	}
	/* A byte flipped in an entry under the checkpoint: the hub refuses to start, naming it. */
	assert_int_equal(sh("f='%s/audit/entries'; n=$(stat -c %%s \"$f\"); "
			    "printf '\\x5a' | dd of=\"$f\" bs=1 seek=$((n - 40)) conv=notrunc "
			    "status=none",
				 dep.hub),
		0);
	{
		const char *argv[] = {
			"paso-hub", "serve", dep.hub, "--host", "127.0.0.1", "--port", "0", NULL};

		assert_int_not_equal(h_run(&out, argv), 0);
		fprintf(stderr, "%s", out);
		assert_non_null(strstr(out, "entries: damaged: entry"));
		free(out);
	}
	free(cp);
	free(log);
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_publishes_tiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
