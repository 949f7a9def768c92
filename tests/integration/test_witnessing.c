/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two real hubs witness each other (c2sp.org/tlog-witness over loopback HTTP): a national hub
 * and a partner agency, each serving as the other's witness. Each publishes its checkpoints
 * cosigned by the other in its tiles, `paso-audit tiles-verify --witness` checks them, and a
 * forked copy of the national deployment (same key and origin, a history that diverged) is
 * refused by the partner's witness: the refusal is an entry in both logs, recorded once.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

struct pair {
	struct deployment nat, par, fork;
	char natw[800], parw[800], forkw[800]; /* witness port files */
};

static int
run_out(char **out, const char *const argv[])
{
	int st = h_run(out, argv);

	if (*out == NULL)
		*out = strdup("");
	return st;
}

static void
run_ok(const char *const argv[])
{
	char *out = NULL;
	int st = run_out(&out, argv);

	if (st != 0)
		fprintf(stderr, "%s %s: exit %d: %s\n", argv[0], argv[1], st, out);
	assert_int_equal(st, 0);
	free(out);
}

static void
sh(const char *const argv[])
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(h_wait(pid), 0);
}

static uint16_t
read_port(const char *path)
{
	char *txt;
	uint16_t port = 0;
	int i;

	for (i = 0; i < 500 && port == 0; i++) {
		if ((txt = h_read_file(path, NULL)) != NULL) {
			port = (uint16_t)strtoul(txt, NULL, 10);
			free(txt);
		} else
			usleep(10000);
	}
	assert_true(port != 0);
	return port;
}

/* Starts dep's hub as a witness too; returns its witness port. */
static uint16_t
start(struct deployment *dep, const char *wportfile)
{
	const char *extra[] = {
		"--witness-listen", "127.0.0.1:0", "--witness-port-file", wportfile, NULL};

	unlink(wportfile);
	h_hub_start_ex(dep, 0, extra);
	return read_port(wportfile);
}

/* dir asks the witness name at port (its key in wdir/witness/witness.vkey). */
static void
add_witness(const char *dir, const char *name, uint16_t port, const char *wdir)
{
	char url[64], vkey[700];
	const char *argv[] = {"paso-hub", "witness", "add", dir, "--name", name, "--url", url,
		"--vkey", vkey, NULL};

	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)port);
	(void)snprintf(vkey, sizeof(vkey), "%s/witness/witness.vkey", wdir);
	run_ok(argv);
}

/* `paso-audit tiles-verify DIR/audit/tiles --key DIR's --witness WDIR's`: exit status, *out. */
static int
tiles_verify(const char *dir, const char *wdir, char **out)
{
	char tiles[700], key[700], wkey[700];
	const char *argv[] = {
		"paso-audit", "tiles-verify", tiles, "--key", key, "--witness", wkey, NULL};

	(void)snprintf(tiles, sizeof(tiles), "%s/audit/tiles", dir);
	(void)snprintf(key, sizeof(key), "%s/audit/log.vkey", dir);
	(void)snprintf(wkey, sizeof(wkey), "%s/witness/witness.vkey", wdir);
	return run_out(out, argv);
}

/* Size of DIR/audit/tiles/checkpoint (its second line), 0 if none. */
static unsigned long long
published_size(const char *dir)
{
	char path[700], *txt, *nl;
	unsigned long long n = 0;

	(void)snprintf(path, sizeof(path), "%s/audit/tiles/checkpoint", dir);
	if ((txt = h_read_file(path, NULL)) != NULL && (nl = strchr(txt, '\n')) != NULL)
		n = strtoull(nl + 1, NULL, 10);
	free(txt);
	return n;
}

/* Waits until dir's published checkpoint is larger than above and cosigned by wdir's witness. */
static unsigned long long
wait_cosigned(const char *dir, const char *wdir, unsigned long long above)
{
	char *out = NULL;
	int i, st = -1;

	for (i = 0; i < 150; i++) {
		free(out);
		out = NULL;
		if (published_size(dir) > above && (st = tiles_verify(dir, wdir, &out)) == 0)
			break;
		usleep(100000);
	}
	if (st != 0)
		fprintf(stderr, "not cosigned: %s\n", out ? out : "");
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "cosigned by witness paso-witness/"));
	free(out);
	return published_size(dir);
}

static size_t
count_in_log(const char *dir, const char *needle)
{
	char *out = NULL;
	const char *argv[] = {"paso-audit", "show", dir, "--json", NULL};
	size_t n;

	assert_int_equal(run_out(&out, argv), 0);
	n = h_count(out, needle);
	free(out);
	return n;
}

/* Waits (15 s at most) until dir's log holds needle; returns the count. */
static size_t
wait_in_log(const char *dir, const char *needle)
{
	size_t n = 0;
	int i;

	for (i = 0; i < 150 && (n = count_in_log(dir, needle)) == 0; i++)
		usleep(100000);
	return n;
}

static void
setup_pair(struct pair *p)
{
	char tmpl[] = "/tmp/paso-witnessing-XXXXXX", ca[800], vkey[800];

	memset(p, 0, sizeof(*p));
	h_deploy(&p->nat, NULL);
	assert_non_null(mkdtemp(tmpl));
	(void)snprintf(p->par.dir, sizeof(p->par.dir), "%s", tmpl);
	(void)snprintf(p->par.hub, sizeof(p->par.hub), "%s/dhs", tmpl);
	(void)snprintf(p->par.log, sizeof(p->par.log), "%s/dhs.log", tmpl);
	{
		const char *argv[] = {
			"paso-hub", "init", p->par.hub, "--name", "dhs", "--role", "partner", NULL};
		run_ok(argv);
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", p->par.hub);
	{
		const char *argv[] = {"paso-hub", "partner", "add", p->nat.hub, "--name", "dhs",
			"--ca", ca, NULL};
		run_ok(argv);
	}
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", p->nat.hub);
	{
		const char *argv[] = {"paso-hub", "partner", "add", p->par.hub, "--name", "test",
			"--ca", ca, NULL};
		run_ok(argv);
	}
	/* Each witnesses the other's log: the log key is the public audit/log.vkey. */
	{
		const char *a[] = {"paso-hub", "witness", "key", p->nat.hub, NULL};
		const char *b[] = {"paso-hub", "witness", "key", p->par.hub, NULL};

		run_ok(a);
		run_ok(b);
	}
	(void)snprintf(vkey, sizeof(vkey), "%s/audit/log.vkey", p->nat.hub);
	{
		const char *argv[] = {
			"paso-hub", "witness", "log", p->par.hub, "--vkey", vkey, NULL};
		run_ok(argv);
	}
	(void)snprintf(vkey, sizeof(vkey), "%s/audit/log.vkey", p->par.hub);
	{
		const char *argv[] = {
			"paso-hub", "witness", "log", p->nat.hub, "--vkey", vkey, NULL};
		run_ok(argv);
	}
	(void)snprintf(p->natw, sizeof(p->natw), "%s/nat.wport", p->nat.dir);
	(void)snprintf(p->parw, sizeof(p->parw), "%s/dhs.wport", p->par.dir);
}

static void
rm_rf(const char *dir)
{
	const char *argv[] = {"rm", "-rf", dir, NULL};

	if (dir[0] != '\0' && getenv("PASO_KEEP") == NULL)
		sh(argv);
}

static void
cleanup_pair(struct pair *p)
{
	if (p->par.hub_pid > 0)
		h_hub_stop(&p->par, SIGKILL);
	if (p->fork.hub_pid > 0)
		h_hub_stop(&p->fork, SIGKILL);
	h_cleanup(&p->nat);
	rm_rf(p->par.dir);
	rm_rf(p->fork.dir);
}

static void
test_mutual_witnessing_and_a_fork(void **state)
{
	struct pair p;
	unsigned long long s1, s2;
	size_t before, after;
	char *out = NULL, *log;
	uint16_t natport, parport;

	(void)state;
	setup_pair(&p);
	parport = start(&p.par, p.parw);
	natport = start(&p.nat, p.natw);
	/* Witnesses are read again when DIR/witnesses changes: no restart. */
	add_witness(p.nat.hub, "dhs", parport, p.par.hub);
	add_witness(p.par.hub, "national", natport, p.nat.hub);
	(void)wait_cosigned(p.nat.hub, p.par.hub, 0);
	(void)wait_cosigned(p.par.hub, p.nat.hub, 0);
	/* The witness records what it cosigned in its own log. */
	assert_true(
		wait_in_log(p.par.hub, "as a witness, cosigned the checkpoint of log 'paso/") >= 1);

	/* A clean stop: the last checkpoint (HUB_STOP) is cosigned before the hub exits. */
	assert_int_equal(h_hub_stop(&p.nat, SIGTERM), 0);
	{
		char path[800], *cp;

		(void)snprintf(path, sizeof(path), "%s/audit/checkpoint", p.nat.hub);
		assert_non_null(cp = h_read_file(path, NULL));
		assert_int_equal(
			strtoull(strchr(cp, '\n') + 1, NULL, 10), published_size(p.nat.hub));
		free(cp);
		assert_int_equal(tiles_verify(p.nat.hub, p.par.hub, &out), 0);
		free(out);
		out = NULL;
	}
	s1 = published_size(p.nat.hub);

	/* A fork: a copy of the stopped national deployment, same key and origin. */
	{
		char tmpl[] = "/tmp/paso-witnessing-fork-XXXXXX";
		const char *cp[] = {"cp", "-a", p.nat.hub, NULL, NULL};

		assert_non_null(mkdtemp(tmpl));
		(void)snprintf(p.fork.dir, sizeof(p.fork.dir), "%s", tmpl);
		(void)snprintf(p.fork.hub, sizeof(p.fork.hub), "%s/hub", tmpl);
		(void)snprintf(p.fork.log, sizeof(p.fork.log), "%s/hub.log", tmpl);
		(void)snprintf(p.forkw, sizeof(p.forkw), "%s/fork.wport", tmpl);
		cp[3] = p.fork.hub;
		sh(cp);
	}
	/* The real national hub goes on: the partner cosigns its next checkpoints. */
	(void)start(&p.nat, p.natw);
	s2 = wait_cosigned(p.nat.hub, p.par.hub, s1);
	assert_int_equal(h_hub_stop(&p.nat, SIGTERM), 0);

	/* The fork now shows the partner's witness a history that does not extend s2. */
	(void)start(&p.fork, p.forkw);
	{
		size_t inpar = 0, infork = 0;
		int i;

		for (i = 0; i < 150; i++) {
			inpar = count_in_log(
				p.par.hub, "as a witness, refused the checkpoint of log 'paso/");
			infork = count_in_log(p.fork.hub, "\"detail\":\"witness dhs refused");
			if (inpar > 0 && infork > 0)
				break;
			usleep(100000);
		}
		assert_true(inpar > 0);
		assert_true(infork > 0);
	}
	/* Its published checkpoint never carries the partner's cosignature. */
	assert_int_equal(tiles_verify(p.fork.hub, p.par.hub, &out), 1);
	assert_non_null(strstr(out, "not cosigned by witness paso-witness/dhs"));
	free(out);
	out = NULL;
	/* Refusals are recorded once per episode, not at every checkpoint. */
	before = count_in_log(p.fork.hub, "\"detail\":\"witness dhs ");
	sleep(3);
	after = count_in_log(p.fork.hub, "\"detail\":\"witness dhs ");
	assert_int_equal(before, after);
	assert_true(after <= 3);
	assert_int_equal(h_hub_stop(&p.fork, SIGTERM), 0);
	assert_non_null(log = h_read_file(p.fork.log, NULL));
	assert_true(h_count(log, "witness dhs refused") <= 2);
	free(log);
	(void)s2;

	/* Every log still verifies. */
	assert_int_equal(h_hub_stop(&p.par, SIGTERM), 0);
	{
		const char *a[] = {"paso-audit", "verify", p.par.hub, NULL};
		const char *b[] = {"paso-audit", "verify", p.fork.hub, NULL};

		run_ok(a);
		run_ok(b);
	}
	cleanup_pair(&p);
}

/* Bad witness configuration is refused with the file, line or argument named, changing nothing. */
static void
test_bad_configuration(void **state)
{
	struct deployment dep;
	char *out = NULL, path[800], lkey[800], *before;
	(void)state;

	h_deploy(&dep, NULL);
	(void)snprintf(lkey, sizeof(lkey), "%s/audit/log.vkey", dep.hub);
	{
		/* A log key is not a witness key. */
		const char *argv[] = {"paso-hub", "witness", "add", dep.hub, "--name", "w1",
			"--url", "http://127.0.0.1:9/", "--vkey", lkey, NULL};

		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "is not a witness (cosignature/v1) key"));
		free(out);
	}
	(void)snprintf(path, sizeof(path), "%s/witnesses", dep.hub);
	assert_null(h_read_file(path, NULL));
	{
		const char *k[] = {"paso-hub", "witness", "key", dep.hub, NULL};
		char wkey[800];
		const char *ok[] = {"paso-hub", "witness", "add", dep.hub, "--name", "w1", "--url",
			"http://127.0.0.1:9/", "--vkey", wkey, NULL};
		const char *dup[] = {"paso-hub", "witness", "add", dep.hub, "--name", "w1", "--url",
			"http://127.0.0.1:10/", "--vkey", wkey, NULL};
		const char *url[] = {"paso-hub", "witness", "add", dep.hub, "--name", "w2", "--url",
			"https://example/", "--vkey", wkey, NULL};

		run_ok(k);
		(void)snprintf(wkey, sizeof(wkey), "%s/witness/witness.vkey", dep.hub);
		run_ok(ok);
		assert_non_null(before = h_read_file(path, NULL));
		assert_int_equal(run_out(&out, dup), 1);
		assert_non_null(strstr(out, "witness 'w1' named twice"));
		free(out);
		assert_int_equal(run_out(&out, url), 1);
		assert_non_null(strstr(out, "not an http://HOST:PORT/ URL: 'https://example/'"));
		free(out);
		out = h_read_file(path, NULL);
		assert_string_equal(out, before);
		free(out);
		free(before);
	}
	{
		const char *argv[] = {
			"paso-hub", "serve", dep.hub, "--witness-listen", "nonsense", NULL};

		assert_int_equal(run_out(&out, argv), 2);
		assert_non_null(strstr(out, "--witness-listen: expected HOST:PORT"));
		free(out);
	}
	{
		/* Serving as a witness with no log to witness. */
		const char *argv[] = {"paso-hub", "serve", dep.hub, "--port", "0",
			"--witness-listen", "127.0.0.1:0", NULL};

		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "witness/logs"));
		free(out);
	}
	{
		/* A damaged witnesses file refuses the start, naming the line. */
		FILE *f = fopen(path, "a");
		const char *argv[] = {"paso-hub", "serve", dep.hub, "--port", "0", NULL};

		assert_non_null(f);
		fputs("w3 http://127.0.0.1:11/\n", f);
		fclose(f);
		assert_int_equal(run_out(&out, argv), 1);
		assert_non_null(strstr(out, "witnesses:2: expected 'NAME URL VKEY'"));
		free(out);
	}
	h_cleanup(&dep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutual_witnessing_and_a_fork),
		cmocka_unit_test(test_bad_configuration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
