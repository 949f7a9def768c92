/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for audit/witness.c, audit/witclient.c and paso-audit witness-serve: the tlog-witness
 * add-checkpoint endpoint over real HTTP on loopback, its status codes, and refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "httpmini.h"
#include "merkle.h"
#include "tlog_fixture.h"
#include "witclient.h"
#include "witness.h"

static char tmp[256], log_a[300], log_b[300], wstate[300];
static char *log_skey, *log_vkey, *evil_skey, *evil_vkey;
static struct checkpoint_signer *signer, *evil;
static struct witness *wit;
static struct checkpoint_verifier *wkey;
static struct httpmini_server *srv;
static char url[128];
static int refusals, cosigned;
static char last_refusal[512];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
run(const char *fmt, ...)
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
observe(void *ctx, const char *origin, uint64_t size, int code, const char *msg)
{
	(void)ctx;
	(void)origin;
	(void)size;
	if (code == 0) {
		cosigned++;
	} else {
		refusals++;
		(void)snprintf(last_refusal, sizeof(last_refusal), "%s", msg);
	}
}

static int
setup(void **state)
{
	struct paso_diag d = {0};

	(void)state;
	if (sodium_init() < 0)
		return -1;
	(void)snprintf(tmp, sizeof(tmp), "/tmp/paso-test-witness-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	(void)snprintf(log_a, sizeof(log_a), "%s/a", tmp);
	(void)snprintf(log_b, sizeof(log_b), "%s/b", tmp);
	(void)snprintf(wstate, sizeof(wstate), "%s/witness", tmp);
	if (checkpoint_keygen("paso.test/hub", &log_skey, &log_vkey) != 0 ||
		checkpoint_keygen("paso.test/hub", &evil_skey, &evil_vkey) != 0 ||
		checkpoint_signer_from_text(log_skey, &signer) != 0 ||
		checkpoint_signer_from_text(evil_skey, &evil) != 0)
		return -1;
	if (witness_open(wstate, "partner.example/witness", &wit, &d) != 0 ||
		witness_add_log(wit, log_vkey, &d) != 0 ||
		checkpoint_verifier_from_vkey(witness_vkey(wit), &wkey) != 0)
		return -1;
	witness_set_observer(wit, observe, NULL);
	if (httpmini_server_start("127.0.0.1", "0", WITNESS_MAX_BODY, 5000, witness_http_handler,
		    wit, &srv, &d) != 0)
		return -1;
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/", httpmini_server_port(srv));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	httpmini_server_stop(srv);
	witness_close(wit);
	checkpoint_verifier_free(wkey);
	checkpoint_signer_free(signer);
	checkpoint_signer_free(evil);
	checkpoint_text_free(log_skey);
	checkpoint_text_free(evil_skey);
	free(log_vkey);
	free(evil_vkey);
	if (getenv("PASO_KEEP_TMP") == NULL && run("rm -rf '%s'", tmp) != 0)
		return -1;
	return 0;
}

/* Grows the log at dir by n entries, checkpoints with s; returns the open log and its note. */
static void
grow(const char *dir, uint64_t n, unsigned seed, const struct checkpoint_signer *s,
	struct auditlog **logp, char **notep, size_t *lenp)
{
	struct paso_diag d = {0};
	char tiles[400];

	(void)snprintf(tiles, sizeof(tiles), "%s/tiles", dir);
	assert_int_equal(fixture_grow(dir, tiles, signer, n, seed, NULL, 0, NULL), 0);
	assert_int_equal(auditlog_open(dir, logp, &d), 0);
	if (s != signer) {
		assert_int_equal(auditlog_truncate(*logp, auditlog_size(*logp)), 0);
	}
	assert_int_equal(auditlog_latest_checkpoint(*logp, notep, lenp), 0);
}

static void
test_cosigns_then_follows_with_proofs(void **state)
{
	struct witclient wc = {.timeout_ms = 5000};
	struct auditlog *log = NULL;
	struct checkpoint_note *n = NULL;
	struct paso_diag d = {0};
	char *note = NULL, *cos = NULL, path[400];
	size_t len;

	(void)state;
	(void)snprintf(wc.url, sizeof(wc.url), "%s", url);
	wc.key = wkey;
	grow(log_a, 1000, 1, signer, &log, &note, &len);
	assert_int_equal(witclient_cosign(&wc, log, note, len, &cos, &d), 0);
	assert_int_equal(wc.known_size, 1000);
	assert_int_equal(checkpoint_note_parse(cos, strlen(cos), &n, &d), 0);
	assert_int_equal(checkpoint_note_verify(n, wkey, NULL, &d), 0);
	checkpoint_note_free(n);
	free(note);
	free(cos);
	auditlog_close(log);
	/* The witness remembered it durably. */
	(void)snprintf(path, sizeof(path), "%s/log-*.journal", wstate);
	assert_int_equal(run("test -s %s", path), 0);

	/* The log grows: the client sends a consistency proof from 1000. */
	grow(log_a, 777, 1, signer, &log, &note, &len);
	assert_int_equal(witclient_cosign(&wc, log, note, len, &cos, &d), 0);
	assert_int_equal(wc.known_size, 1777);
	free(cos);
	/* A client that forgot the size (a restarted hub) learns it from the 409 and retries. */
	wc.known_size = 0;
	free(note);
	auditlog_close(log);
	grow(log_a, 100, 1, signer, &log, &note, &len);
	assert_int_equal(witclient_cosign(&wc, log, note, len, &cos, &d), 0);
	assert_int_equal(wc.known_size, 1877);
	free(cos);
	free(note);
	auditlog_close(log);
}

static void
test_split_view_refused_and_state_kept(void **state)
{
	struct witclient wc = {.timeout_ms = 5000};
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	char *note = NULL, *cos = NULL;
	size_t len;
	int before = refusals;

	(void)state;
	(void)snprintf(wc.url, sizeof(wc.url), "%s", url);
	wc.key = wkey;
	/* Another history under the same key, longer than what the witness saw. */
	grow(log_b, 3000, 9, signer, &log, &note, &len);
	wc.known_size = 1877;
	assert_int_equal(witclient_cosign(&wc, log, note, len, &cos, &d), PASO_E_SPLIT_VIEW);
	assert_non_null(strstr(d.msg, "HTTP 422"));
	assert_null(cos);
	assert_int_equal(refusals, before + 1);
	assert_non_null(strstr(last_refusal, "does not show that size 3000 extends size 1877"));
	free(note);
	auditlog_close(log);
	/* The genuine log still gets cosigned from the size the witness kept. */
	grow(log_a, 10, 1, signer, &log, &note, &len);
	wc.known_size = 1877;
	assert_int_equal(witclient_cosign(&wc, log, note, len, &cos, &d), 0);
	assert_int_equal(wc.known_size, 1887);
	free(cos);
	free(note);
	auditlog_close(log);
}

/* Raw requests: the status codes c2sp.org/tlog-witness requires. */
static int
post(const char *path, const char *body, struct httpmini_response *resp)
{
	struct httpmini_url u;
	struct paso_diag d = {0};

	assert_int_equal(httpmini_parse_url(url, &u, &d), 0);
	assert_int_equal(
		httpmini_request(&u, body ? "POST" : "GET", path, "text/plain",
			(const uint8_t *)body, body ? strlen(body) : 0, 65536, 5000, resp, &d),
		0);
	return resp->status;
}

/* The halves a hub uses to keep the network out of its commit loop. */
static void
test_request_and_send_apart(void **state)
{
	struct witclient wc = {.timeout_ms = 5000};
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	char *note = NULL, *body = NULL, *cos = NULL;
	size_t len, blen;
	uint64_t retry = 0;

	(void)state;
	(void)snprintf(wc.url, sizeof(wc.url), "%s", url);
	wc.key = wkey;
	grow(log_a, 5, 1, signer, &log, &note, &len);
	assert_int_equal(witclient_request(&wc, log, note, len, &body, &blen, &d), 0);
	assert_int_equal(
		witclient_send(&wc, note, len, body, blen, &cos, &retry, &d), PASO_E_EXISTS);
	assert_null(cos);
	assert_int_equal(retry, 1887);
	free(body);
	wc.known_size = retry;
	assert_int_equal(witclient_request(&wc, log, note, len, &body, &blen, &d), 0);
	assert_int_equal(witclient_send(&wc, note, len, body, blen, &cos, &retry, &d), 0);
	assert_int_equal(wc.known_size, 1892);
	assert_non_null(strstr(cos, "\n\xe2\x80\x94 partner.example/witness "));
	free(body);
	free(cos);
	free(note);
	auditlog_close(log);
}

static void
test_status_codes(void **state)
{
	struct httpmini_response r;
	struct auditlog *log = NULL;
	char *note = NULL, *body = NULL, *forged = NULL, *other = NULL, *p;
	size_t len, blen;
	uint8_t root[MERKLE_HASH_BYTES] = {0};
	struct paso_diag d = {0};

	(void)state;
	assert_int_equal(auditlog_open(log_a, &log, &d), 0);
	assert_int_equal(auditlog_latest_checkpoint(log, &note, &len), 0);
	/* 409 with the size, in the exact form the spec asks. */
	assert_int_equal(witness_format_request(5, NULL, 0, note, len, &body, &blen), 0);
	assert_int_equal(post("/add-checkpoint", body, &r), 409);
	assert_string_equal(r.content_type, "text/x.tlog.size");
	assert_string_equal((char *)r.body, "1887\n");
	free(r.body);
	free(body);
	/* Same size as cosigned and same root: cosigned again (idempotent). */
	assert_int_equal(witness_format_request(1887, NULL, 0, note, len, &body, &blen), 0);
	assert_int_equal(post("/add-checkpoint", body, &r), 200);
	assert_true(strncmp((char *)r.body, "\xe2\x80\x94 partner.example/witness ", 27) == 0);
	free(r.body);
	free(body);
	/* Old size above the checkpoint's: 400. */
	assert_int_equal(witness_format_request(999999, NULL, 0, note, len, &body, &blen), 0);
	assert_int_equal(post("/add-checkpoint", body, &r), 400);
	free(r.body);
	free(body);
	/* Same size, other root, signed by the log key: 409 (split view). */
	assert_int_equal(checkpoint_sign(signer, 1887, root, &forged), 0);
	assert_int_equal(
		witness_format_request(1887, NULL, 0, forged, strlen(forged), &body, &blen), 0);
	assert_int_equal(post("/add-checkpoint", body, &r), 409);
	assert_non_null(strstr((char *)r.body, "SPLIT_VIEW"));
	free(r.body);
	free(body);
	free(forged);
	/* Signed by another key of the same name: 403. */
	assert_int_equal(checkpoint_sign(evil, 1887, root, &other), 0);
	assert_int_equal(
		witness_format_request(1887, NULL, 0, other, strlen(other), &body, &blen), 0);
	assert_int_equal(post("/add-checkpoint", body, &r), 403);
	free(r.body);
	free(body);
	free(other);
	/* Unknown origin: 404. */
	{
		char *sk = NULL, *vk = NULL;
		struct checkpoint_signer *s2 = NULL;

		assert_int_equal(checkpoint_keygen("elsewhere.example/log", &sk, &vk), 0);
		assert_int_equal(checkpoint_signer_from_text(sk, &s2), 0);
		assert_int_equal(checkpoint_sign(s2, 3, root, &other), 0);
		assert_int_equal(
			witness_format_request(0, NULL, 0, other, strlen(other), &body, &blen), 0);
		assert_int_equal(post("/add-checkpoint", body, &r), 404);
		free(r.body);
		free(body);
		free(other);
		checkpoint_signer_free(s2);
		checkpoint_text_free(sk);
		free(vk);
	}
	/* Malformed bodies: 400, naming the problem. */
	assert_int_equal(post("/add-checkpoint", "old x\n\nfoo\n", &r), 400);
	assert_non_null(strstr((char *)r.body, "old size"));
	free(r.body);
	assert_int_equal(post("/add-checkpoint", "old 01\n\n", &r), 400);
	free(r.body);
	assert_true(asprintf(&body, "old 1887\nnot-base64!\n\n%s", note) > 0);
	assert_int_equal(post("/add-checkpoint", body, &r), 400);
	assert_non_null(strstr((char *)r.body, "proof line 1"));
	free(r.body);
	free(body);
	/* A wrong proof: 422. */
	assert_true(asprintf(&body, "old 1887\n%s\n\n%s",
			    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", note) > 0);
	p = body;
	assert_int_equal(post("/add-checkpoint", p, &r), 422);
	free(r.body);
	free(body);
	/* Other paths and methods. */
	assert_int_equal(post("/add-checkpoint", NULL, &r), 405);
	free(r.body);
	assert_int_equal(post("/nothing", "x", &r), 404);
	free(r.body);
	free(note);
	auditlog_close(log);
}

static void
test_witness_serve_cli(void **state)
{
	struct witclient wc = {.timeout_ms = 5000};
	struct checkpoint_verifier *k2 = NULL;
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	char line[512], *note = NULL, *cos = NULL, *vk, st2[400], keyfile[400];
	unsigned port = 0;
	size_t len;
	FILE *f;
	pid_t pid;

	(void)state;
	(void)snprintf(st2, sizeof(st2), "%s/w2", tmp);
	(void)snprintf(keyfile, sizeof(keyfile), "%s/a.vkey", tmp);
	assert_non_null(f = fopen(keyfile, "w"));
	fputs(log_vkey, f);
	fclose(f);
	assert_int_equal(run("%s/paso-audit witness-serve %s --log-key %s --listen 127.0.0.1:0 "
			     ">%s/ws.out 2>%s/ws.err & echo $! >%s/ws.pid",
				 PASO_BIN_DIR, st2, keyfile, tmp, tmp, tmp),
		0);
	for (int i = 0; i < 100 && port == 0; i++) {
		(void)snprintf(line, sizeof(line), "%s/ws.out", tmp);
		if ((f = fopen(line, "r")) != NULL) {
			if (fgets(line, sizeof(line), f) != NULL) {
				char *c = strstr(line, "http://127.0.0.1:");

				if (c != NULL)
					port = (unsigned)strtoul(c + 17, NULL, 10);
			}
			fclose(f);
		}
		if (port == 0)
			usleep(50000);
	}
	assert_true(port > 0);
	(void)snprintf(line, sizeof(line), "%s/ws.pid", tmp);
	assert_non_null(f = fopen(line, "r"));
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	/* Its public key was printed and stored. */
	(void)snprintf(line, sizeof(line), "%s/witness.vkey", st2);
	assert_non_null(f = fopen(line, "r"));
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	vk = line;
	assert_int_equal(checkpoint_verifier_from_vkey(vk, &k2), 0);
	(void)snprintf(wc.url, sizeof(wc.url), "http://127.0.0.1:%u/", port);
	wc.key = k2;
	assert_int_equal(auditlog_open(log_a, &log, &d), 0);
	assert_int_equal(auditlog_latest_checkpoint(log, &note, &len), 0);
	if (witclient_cosign(&wc, log, note, len, &cos, &d) != 0)
		fail_msg("%s", d.msg);
	free(cos);
	/* A client whose key for this witness is wrong refuses the answer. */
	wc.key = wkey;
	assert_int_equal(witclient_cosign(&wc, log, note, len, &cos, &d), PASO_E_AUDIT_SIGNATURE);
	free(note);
	auditlog_close(log);
	checkpoint_verifier_free(k2);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(
		run("sleep 0.2; grep -q 'cosigned paso.test/hub at 1887' %s/ws.err", tmp), 0);
	/* Bad command lines exit 2 with a reason. */
	assert_int_equal(run("%s/paso-audit witness-serve %s --listen 127.0.0.1:0 2>%s/ws.err",
				 PASO_BIN_DIR, st2, tmp),
		2);
	assert_int_equal(run("grep -q 'log-key' %s/ws.err", tmp), 0);
	assert_int_equal(run("%s/paso-audit witness-serve %s --log-key %s --listen nope "
			     "2>/dev/null",
				 PASO_BIN_DIR, st2, keyfile),
		2);
}

static void
test_state_survives_restart_and_torn_journal(void **state)
{
	struct witness *w2 = NULL;
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	char dir[400], *note = NULL, *body = NULL, *cos = NULL;
	size_t len, blen;
	uint64_t known = 0;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "%s/w3", tmp);
	assert_int_equal(auditlog_open(log_a, &log, &d), 0);
	assert_int_equal(auditlog_latest_checkpoint(log, &note, &len), 0);
	assert_int_equal(witness_format_request(0, NULL, 0, note, len, &body, &blen), 0);
	assert_int_equal(witness_open(dir, "w3.example/w", &w2, &d), 0);
	assert_int_equal(witness_add_log(w2, log_vkey, &d), 0);
	assert_int_equal(witness_add_checkpoint(w2, (uint8_t *)body, blen, 1, &cos, &known, &d), 0);
	free(cos);
	witness_close(w2);
	/* Restarted: it remembers, and a torn record at the end changes nothing. */
	assert_int_equal(run("printf '\\000\\000\\001\\000garbage' >> %s/log-*.journal", dir), 0);
	assert_int_equal(witness_open(dir, "w3.example/w", &w2, &d), 0);
	assert_int_equal(witness_add_log(w2, log_vkey, &d), 0);
	assert_int_equal(witness_add_checkpoint(w2, (uint8_t *)body, blen, 2, &cos, &known, &d),
		PASO_E_EXISTS);
	assert_int_equal(known, auditlog_size(log));
	witness_close(w2);
	/* The one-shot command refuses a STATE that a server keeps. */
	assert_int_equal(run("echo '%s' > %s/k.vkey && %s/paso-audit witness %s --log-key "
			     "%s/k.vkey --checkpoint %s/a/checkpoint 2>%s/err.txt",
				 log_vkey, tmp, PASO_BIN_DIR, dir, tmp, tmp, tmp),
		2);
	assert_int_equal(run("grep -q 'witness-serve' %s/err.txt", tmp), 0);
	free(body);
	free(note);
	auditlog_close(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cosigns_then_follows_with_proofs),
		cmocka_unit_test(test_split_view_refused_and_state_kept),
		cmocka_unit_test(test_status_codes), cmocka_unit_test(test_witness_serve_cli),
		cmocka_unit_test(test_state_survives_restart_and_torn_journal),
		cmocka_unit_test(test_request_and_send_apart), /* last: it grows the log */
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
