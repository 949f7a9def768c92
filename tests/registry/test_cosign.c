/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registry/cosign.c: the witnesses file, and the loop-side steps against a real tlog-witness on
 * loopback: a checkpoint comes back cosigned; a forked log (same key, another history) is
 * refused, and the refusal is reported once however often it is asked again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "cosign.h"
#include "httpmini.h"
#include "witness.h"

static char wvkey[256];

static int
setup(void **state)
{
	char *s = NULL, *v = NULL;

	(void)state;
	if (sodium_init() < 0 || checkpoint_witness_keygen("w.example/w", &s, &v) != 0)
		return -1;
	(void)snprintf(wvkey, sizeof(wvkey), "%s", v);
	checkpoint_text_free(s);
	free(v);
	return 0;
}

static int
parse(const char *text, struct cosign_witness *w, size_t *n, struct paso_diag *d)
{
	return cosign_parse(text, strlen(text), "W", w, COSIGN_MAX_WITNESSES, n, d);
}

static void
test_parse(void **state)
{
	struct cosign_witness w[COSIGN_MAX_WITNESSES];
	struct paso_diag d = {0};
	char text[2048];
	size_t n;

	(void)state;
	(void)snprintf(text, sizeof(text),
		"# witnesses\n\n  dhs\thttp://127.0.0.1:7402/  %s\nw.2 http://[::1]:80/p/ %s",
		wvkey, wvkey);
	assert_int_equal(parse(text, w, &n, &d), 0);
	assert_int_equal(n, 2);
	assert_string_equal(w[0].name, "dhs");
	assert_string_equal(w[0].url, "http://127.0.0.1:7402/");
	assert_string_equal(w[1].vkey, wvkey);
	assert_int_equal(parse("", w, &n, &d), 0);
	assert_int_equal(n, 0);

	assert_int_equal(parse("# x\ndhs http://127.0.0.1:1/\n", w, &n, &d), PASO_E_INVALID_ARG);
	assert_string_equal(d.msg, "W:2: expected 'NAME URL VKEY': 'dhs http://127.0.0.1:1/'");
	(void)snprintf(text, sizeof(text), "d/s http://127.0.0.1:1/ %s\n", wvkey);
	assert_int_equal(parse(text, w, &n, &d), PASO_E_INVALID_ARG);
	assert_non_null(strstr(d.msg, "W:1: witness name must be"));
	(void)snprintf(text, sizeof(text), "dhs https://x/ %s\n", wvkey);
	assert_int_equal(parse(text, w, &n, &d), PASO_E_INVALID_ARG);
	assert_string_equal(d.msg, "W:1: not an http://HOST:PORT/ URL: 'https://x/'");
	(void)snprintf(text, sizeof(text), "a http://h:1/ %s\na http://h:2/ %s\n", wvkey, wvkey);
	assert_int_equal(parse(text, w, &n, &d), PASO_E_INVALID_ARG);
	assert_string_equal(d.msg, "W:2: witness 'a' named twice");
	(void)snprintf(text, sizeof(text), "a http://h:1/ %s extra\n", wvkey);
	assert_int_equal(parse(text, w, &n, &d), PASO_E_INVALID_ARG);
	(void)snprintf(text, sizeof(text), "a http://h:1/ %s\r\n", wvkey);
	assert_int_equal(parse(text, w, &n, &d), PASO_E_INVALID_ARG);
	assert_non_null(strstr(d.msg, "control character"));
	assert_int_equal(parse("a http://h:1/ notakey\n", w, &n, &d), PASO_E_CHECKPOINT_FORMAT);
	{
		char *s = NULL, *v = NULL;

		assert_int_equal(checkpoint_keygen("log.example/l", &s, &v), 0);
		(void)snprintf(text, sizeof(text), "a http://h:1/ %s\n", v);
		assert_int_equal(parse(text, w, &n, &d), PASO_E_INVALID_ARG);
		assert_non_null(strstr(d.msg, "is not a witness (cosignature/v1) key"));
		checkpoint_text_free(s);
		free(v);
	}
}

/* A log of n entries (seed varies their bytes) in dir, signed by s. */
static struct auditlog *
make_log(const char *dir, const struct checkpoint_signer *s, unsigned n, unsigned seed)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	uint8_t e[16];
	unsigned i;

	assert_int_equal(auditlog_open(dir, &log, &d), 0);
	for (i = 0; i < n; i++) {
		memset(e, (int)(i + seed), sizeof(e));
		assert_int_equal(auditlog_append(log, e, sizeof(e), NULL), 0);
	}
	assert_int_equal(auditlog_sync(log), 0);
	assert_int_equal(auditlog_checkpoint(log, s), 0);
	return log;
}

/* Steps until a note comes back or an event with a code; 10 s at most. */
static void
step_until(
	struct cosign *c, struct auditlog *log, char **notep, struct cosign_event *ev, size_t *nev)
{
	size_t len;
	int i;

	for (i = 0; i < 1000; i++) {
		assert_int_equal(cosign_step(c, log, notep, &len, ev, 4, nev), 0);
		if (*notep != NULL || *nev > 0)
			return;
		usleep(10000);
	}
	fail_msg("no answer from the witness in 10 s");
}

static void
test_cosign_and_refuse_a_fork(void **state)
{
	char tmpl[] = "/tmp/paso-test-cosign-XXXXXX", path[600], line[1200], *skey = NULL,
	     *vkey = NULL, *note = NULL;
	struct checkpoint_signer *s = NULL;
	struct checkpoint_verifier *wv = NULL;
	struct checkpoint_note *parsed = NULL;
	struct witness *w = NULL;
	struct httpmini_server *srv = NULL;
	struct auditlog *log = NULL, *fork = NULL;
	struct cosign *c = NULL, *cf = NULL;
	struct cosign_event ev[4];
	struct paso_diag d = {0};
	size_t nev = 0, len;
	FILE *f;
	int i;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(checkpoint_keygen("paso/test", &skey, &vkey), 0);
	assert_int_equal(checkpoint_signer_from_text(skey, &s), 0);
	(void)snprintf(path, sizeof(path), "%s/witness", tmpl);
	assert_int_equal(witness_open(path, "w.example/w", &w, &d), 0);
	assert_int_equal(witness_add_log(w, vkey, &d), 0);
	assert_int_equal(httpmini_server_start("127.0.0.1", "0", WITNESS_MAX_BODY, 5000,
				 witness_http_handler, w, &srv, &d),
		0);
	assert_int_equal(checkpoint_verifier_from_vkey(witness_vkey(w), &wv), 0);
	(void)snprintf(line, sizeof(line), "w http://127.0.0.1:%u/ %s\n", httpmini_server_port(srv),
		witness_vkey(w));
	/* Two deployments with the same log key: "a" and its fork "b". */
	for (i = 0; i < 2; i++) {
		(void)snprintf(path, sizeof(path), "%s/%c", tmpl, 'a' + i);
		assert_int_equal(mkdir(path, 0700), 0);
		(void)snprintf(path, sizeof(path), "%s/%c/witnesses", tmpl, 'a' + i);
		assert_non_null(f = fopen(path, "w"));
		fputs(line, f);
		fclose(f);
	}
	(void)snprintf(path, sizeof(path), "%s/a/audit", tmpl);
	log = make_log(path, s, 10, 0);
	(void)snprintf(path, sizeof(path), "%s/a", tmpl);
	assert_int_equal(cosign_open(path, &c, &d), 0);
	assert_int_equal(cosign_count(c), 1);
	step_until(c, log, &note, ev, &nev);
	assert_int_equal(nev, 0);
	assert_non_null(note);
	len = strlen(note);
	assert_int_equal(checkpoint_note_parse(note, len, &parsed, &d), 0);
	assert_int_equal(checkpoint_note_verify(parsed, wv, NULL, &d), 0);
	checkpoint_note_free(parsed);
	free(note);
	note = NULL;
	assert_true(cosign_idle(c, log));

	/* The fork: 12 other entries under the same key. The witness saw 10 of "a". */
	(void)snprintf(path, sizeof(path), "%s/b/audit", tmpl);
	fork = make_log(path, s, 12, 100);
	(void)snprintf(path, sizeof(path), "%s/b", tmpl);
	assert_int_equal(cosign_open(path, &cf, &d), 0);
	step_until(cf, fork, &note, ev, &nev);
	assert_null(note);
	assert_int_equal(nev, 1);
	assert_int_equal(ev[0].audit, 1);
	assert_true(ev[0].code == PASO_E_SPLIT_VIEW);
	assert_non_null(strstr(ev[0].msg, "witness w refused checkpoint 12"));
	/* Asked again (every 5 s, and at every new checkpoint): not reported again. */
	{
		uint8_t e[16] = {7};

		assert_int_equal(auditlog_append(fork, e, sizeof(e), NULL), 0);
		assert_int_equal(auditlog_sync(fork), 0);
		assert_int_equal(auditlog_checkpoint(fork, s), 0);
	}
	for (i = 0; i < 200; i++) {
		assert_int_equal(cosign_step(cf, fork, &note, &len, ev, 4, &nev), 0);
		assert_null(note);
		assert_int_equal(nev, 0);
		usleep(10000);
	}
	assert_true(cosign_idle(cf, fork));

	cosign_close(cf);
	cosign_close(c);
	auditlog_close(fork);
	auditlog_close(log);
	httpmini_server_stop(srv);
	witness_close(w);
	checkpoint_verifier_free(wv);
	checkpoint_signer_free(s);
	checkpoint_text_free(skey);
	free(vkey);
	{
		char cmd[700];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
		assert_int_equal(system(cmd), 0);
	}
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A witness that takes the connection and never answers: the steps do not wait for it. */
static void
test_a_silent_witness_does_not_hold_the_loop(void **state)
{
	char tmpl[] = "/tmp/paso-test-cosign-XXXXXX", path[600], *skey = NULL, *vkey = NULL,
	     *note = NULL;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct checkpoint_signer *s = NULL;
	struct auditlog *log = NULL;
	struct cosign *c = NULL;
	struct cosign_event ev[4];
	struct paso_diag d = {0};
	double t0, t, longest = 0;
	size_t nev = 0, len;
	FILE *f;
	int lfd, i;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	assert_true((lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0); /* connections wait in the backlog, unanswered */
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	(void)snprintf(path, sizeof(path), "%s/witnesses", tmpl);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "mute http://127.0.0.1:%u/ %s\n", (unsigned)ntohs(sa.sin_port), wvkey);
	fclose(f);
	assert_int_equal(checkpoint_keygen("paso/test", &skey, &vkey), 0);
	assert_int_equal(checkpoint_signer_from_text(skey, &s), 0);
	(void)snprintf(path, sizeof(path), "%s/audit", tmpl);
	log = make_log(path, s, 3, 0);
	assert_int_equal(cosign_open(tmpl, &c, &d), 0);
	t0 = mono();
	for (i = 0; i < 1000 && nev == 0; i++) {
		t = mono();
		assert_int_equal(cosign_step(c, log, &note, &len, ev, 4, &nev), 0);
		if (mono() - t > longest)
			longest = mono() - t;
		assert_null(note);
		usleep(10000);
	}
	/* Reported after the 2 s timeout, as unreachable (not a refusal: no audit entry). */
	assert_int_equal(nev, 1);
	assert_int_equal(ev[0].code, PASO_E_TIMEOUT);
	assert_int_equal(ev[0].audit, 0);
	assert_non_null(strstr(ev[0].msg, "witness mute did not answer"));
	assert_true(mono() - t0 >= 1.9);
	assert_true(longest < 0.5); /* no step waited for the witness */
	cosign_close(c);
	auditlog_close(log);
	checkpoint_signer_free(s);
	checkpoint_text_free(skey);
	free(vkey);
	close(lfd);
	{
		char cmd[700];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
		assert_int_equal(system(cmd), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_cosign_and_refuse_a_fork),
		cmocka_unit_test(test_a_silent_witness_does_not_hold_the_loop),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
