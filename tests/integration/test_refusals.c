/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attacks and mistakes at the hub's door: missing or foreign certificates, revoked kiosks,
 * malformed frames and fields, replays and sequence reuse. Each gets its specific error, an audit
 * entry, stores nothing, and the hub keeps serving the next valid kiosk.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include "client.h"
#include "errors.h"
#include "harness.h"

#define K "kiosk-ciudad-hidalgo"

static struct deployment dep;
static uint64_t next_seq = 1;

static int
setup(void **state)
{
	(void)state;
	h_deploy(&dep, NULL);
	{
		const char *argv[] = {
			"paso-hub", "issue", dep.hub, "--kiosk", "kiosk-stolen", NULL};
		assert_int_equal(h_run(NULL, argv), 0);
	}
	/* The stolen kiosk's certificate is still signed by the CA, but the deployment revoked it. */
	{
		const char *argv[] = {
			"paso-hub", "revoke", dep.hub, "--kiosk", "kiosk-stolen", NULL};
		const char *never[] = {
			"paso-hub", "revoke", dep.hub, "--kiosk", "kiosk-never", NULL};
		char *out = NULL;

		assert_int_equal(h_run(NULL, argv), 0);
		assert_int_equal(h_run(&out, argv), 1); /* already revoked */
		assert_non_null(strstr(out, "already revoked"));
		free(out);
		assert_int_equal(h_run(&out, never), 1);
		assert_non_null(strstr(out, "no such kiosk certificate"));
		free(out);
	}
	h_hub_start(&dep, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	h_cleanup(&dep);
	return 0;
}

static struct tls_conn *
connect_ok(void)
{
	int rc;
	struct tls_conn *c = c_connect(dep.hub, K, dep.port, &rc);

	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

/* Sends env and expects an Error with code; returns its message (static buffer). */
static const char *
expect_error(struct tls_conn *c, const Paso__Envelope *env, int code)
{
	static char msg[512];
	Paso__Envelope *a;

	assert_int_equal(c_send(c, env), 0);
	assert_non_null(a = c_recv(c));
	if (a->body_case != PASO__ENVELOPE__BODY_ERROR)
		fail_msg("expected Error %s, got body %d", paso_errname(code), (int)a->body_case);
	if (a->error->code != code)
		fail_msg("expected %s, got %s: %s", paso_errname(code),
			paso_errname(a->error->code), a->error->message);
	(void)snprintf(msg, sizeof(msg), "%s", a->error->message);
	assert_true(a->error->audit_index > 0);
	/* every refusal echoes the message's seq, even for an Envelope without a body */
	assert_int_equal(a->seq, env->seq);
	assert_int_equal(a->error->seq, env->seq);
	paso__envelope__free_unpacked(a, NULL);
	return msg;
}

/* A valid enrolment on a fresh connection is acknowledged: the hub still serves. */
static void
assert_still_serving(uint32_t person)
{
	struct tls_conn *c = connect_ok();
	Paso__Envelope env, *a;

	c_make_enroll(&env, K, next_seq++, person);
	assert_int_equal(c_send(c, &env), 0);
	assert_non_null(a = c_recv(c));
	if (a->body_case != PASO__ENVELOPE__BODY_ACK)
		fail_msg("valid enrolment refused: %s", a->error->message);
	assert_int_equal(a->ack->subject.len, 32);
	paso__envelope__free_unpacked(a, NULL);
	c_free_enroll(&env);
	tls_conn_free(c);
}

static void
test_no_client_certificate(void **state)
{
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *b;
	char ca[1024], addr[64], buf[8];
	int ok;

	(void)state;
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", dep.hub);
	(void)snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)dep.port);
	assert_non_null(ctx = SSL_CTX_new(TLS_client_method()));
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
	assert_non_null(b = BIO_new_connect(addr));
	assert_non_null(ssl = SSL_new(ctx));
	SSL_set_bio(ssl, b, b);
	ok = SSL_connect(ssl);
	/* TLS 1.3: the server's refusal arrives after the client's side of the handshake. */
	if (ok == 1)
		ok = SSL_write(ssl, "\0\0\0\1x", 5) > 0 && SSL_read(ssl, buf, sizeof(buf)) > 0;
	else
		ok = 0;
	assert_false(ok);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	assert_still_serving(100);
}

static void
test_certificate_from_another_ca(void **state)
{
	struct deployment other;
	struct tls_conn *c;
	Paso__Envelope env, *a = NULL;
	int rc;

	(void)state;
	h_deploy(&other, NULL);
	/* The other deployment's kiosk talks to our hub with our CA as its trust anchor. */
	{
		char cmd[2048];
		(void)snprintf(
			cmd, sizeof(cmd), "cp %s/ca/ca.crt %s/ca/ca.crt", dep.hub, other.hub);
		assert_int_equal(system(cmd), 0);
	}
	c = c_connect(other.hub, K, dep.port, &rc);
	if (c != NULL) {
		c_make_enroll(&env, K, 1, 101);
		(void)c_send(c, &env);
		a = c_recv(c);
		c_free_enroll(&env);
		tls_conn_free(c);
	}
	assert_null(a);
	h_cleanup(&other);
	assert_still_serving(102);
}

static void
test_revoked_kiosk(void **state)
{
	struct tls_conn *c;
	Paso__Envelope env, *a;
	int rc;

	(void)state;
	assert_non_null(c = c_connect(dep.hub, "kiosk-stolen", dep.port, &rc));
	c_make_enroll(&env, "kiosk-stolen", 1, 103);
	(void)c_send(c, &env);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
	assert_int_equal(a->error->code, PASO_E_UNKNOWN_KIOSK);
	assert_non_null(strstr(a->error->message, "kiosk-stolen"));
	paso__envelope__free_unpacked(a, NULL);
	c_free_enroll(&env);
	tls_conn_free(c);
	assert_still_serving(104);
}

/* Each bad message on one connection: specific error, and the same connection goes on. */
static void
test_malformed_messages_on_one_connection(void **state)
{
	struct tls_conn *c = connect_ok();
	const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f};
	Paso__Envelope env, bare = PASO__ENVELOPE__INIT, *a;
	Paso__Ack ack = PASO__ACK__INIT;
	Paso__IrisCode *iris;
	const char *m;
	uint8_t shortcode[255];
	size_t saved;

	(void)state;
	/* Not protobuf at all. */
	assert_int_equal(c_send_payload(c, garbage, sizeof(garbage)), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->error->code, PASO_E_DECODE);
	paso__envelope__free_unpacked(a, NULL);
	/* No body. */
	bare.kiosk_id = K;
	bare.seq = next_seq++;
	m = expect_error(c, &bare, PASO_E_UNKNOWN_MESSAGE);
	/* Only a field this schema does not know, beside kiosk_id and seq: its seq is echoed. */
	{
		uint8_t unk[32];
		size_t n = 0;

		unk[n++] = 0x0a;
		unk[n++] = (uint8_t)strlen(K);
		memcpy(unk + n, K, strlen(K));
		n += strlen(K);
		unk[n++] = 0x10; /* seq = 77 */
		unk[n++] = 77;
		unk[n++] = 0x98; /* field 99, varint */
		unk[n++] = 0x06;
		unk[n++] = 0x01;
		assert_int_equal(c_send_payload(c, unk, n), 0);
		assert_non_null(a = c_recv(c));
		assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
		assert_int_equal(a->error->code, PASO_E_UNKNOWN_MESSAGE);
		assert_int_equal(a->seq, 77);
		paso__envelope__free_unpacked(a, NULL);
	}
	/* A kiosk sending an Ack. */
	bare.body_case = PASO__ENVELOPE__BODY_ACK;
	bare.ack = &ack;
	m = expect_error(c, &bare, PASO_E_UNKNOWN_MESSAGE);
	assert_non_null(strstr(m, "Ack"));

	c_make_enroll(&env, K, next_seq++, 105);
	/* Someone else's kiosk id. */
	env.kiosk_id = "kiosk-talisman";
	m = expect_error(c, &env, PASO_E_KIOSK_MISMATCH);
	assert_non_null(strstr(m, "kiosk-talisman"));
	env.kiosk_id = K;
	/* Sequence number 0. */
	env.seq = 0;
	expect_error(c, &env, PASO_E_SEQ_INVALID);
	env.seq = next_seq++;
	/* Category out of range. */
	env.enroll->category = 9;
	m = expect_error(c, &env, PASO_E_FIELD_RANGE);
	assert_non_null(strstr(m, "enroll.category"));
	env.enroll->category = PASO__CATEGORY__BORDER_WORKER;
	/* A card number with a control character. */
	{
		char *card = env.enroll->card_number;
		env.enroll->card_number = "TTF-12\n34";
		m = expect_error(c, &env, PASO_E_FIELD_RANGE);
		assert_non_null(strstr(m, "enroll.card_number"));
		env.enroll->card_number = card;
	}
	/* An iris code one byte short. */
	assert_true(env.enroll->capture->n_iris > 0);
	iris = env.enroll->capture->iris[0];
	memcpy(shortcode, iris->code.data, sizeof(shortcode));
	saved = iris->code.len;
	iris->code.len = sizeof(shortcode);
	m = expect_error(c, &env, PASO_E_FIELD_RANGE);
	assert_non_null(strstr(m, "iris"));
	iris->code.len = saved;
	/* A face of 511 dimensions. */
	assert_non_null(env.enroll->capture->face);
	env.enroll->capture->face->n_embedding = 511;
	m = expect_error(c, &env, PASO_E_FIELD_RANGE);
	assert_non_null(strstr(m, "face"));
	env.enroll->capture->face->n_embedding = 512;
	/* A finger record cut short. */
	saved = env.enroll->capture->finger_record.len;
	env.enroll->capture->finger_record.len = saved - 3;
	a = NULL;
	assert_int_equal(c_send(c, &env), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
	assert_true(a->error->code == PASO_E_TEMPLATE_TRUNCATED ||
		    a->error->code == PASO_E_TEMPLATE_FORMAT);
	paso__envelope__free_unpacked(a, NULL);
	env.enroll->capture->finger_record.len = saved;
	/* No capture at all. */
	{
		Paso__Capture *cap = env.enroll->capture;
		env.enroll->capture = NULL;
		m = expect_error(c, &env, PASO_E_MISSING_FIELD);
		assert_non_null(strstr(m, "enroll.capture"));
		env.enroll->capture = cap;
	}
	/* After all that, the same message made valid is accepted on the same connection. */
	assert_int_equal(c_send(c, &env), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
	paso__envelope__free_unpacked(a, NULL);
	c_free_enroll(&env);
	tls_conn_free(c);
}

/*
 * Log injection: the hub's log (captured in a file, as a log sink) escapes every byte a client
 * sent, so a kiosk_id holding a newline forges no line, and a malformed template's refusal quotes
 * no minutia coordinate. Fails if either is logged raw.
 */
static void
test_log_injection(void **state)
{
	struct tls_conn *c = connect_ok();
	Paso__Envelope env;
	char *log, *line, *end;
	uint8_t *rec;
	size_t saved;
	const char *m;

	(void)state;
	c_make_enroll(&env, K, next_seq++, 111);
	env.kiosk_id = K "\nFORGED paso-hub: every kiosk revoked\x1b[2J";
	m = expect_error(c, &env, PASO_E_KIOSK_MISMATCH);
	assert_null(strchr(m, '\n'));
	assert_non_null(strstr(m, "\\x0aFORGED"));
	env.kiosk_id = K;
	/* First minutia of view 1 (byte 28) moved to x = 4321, outside the image. */
	rec = env.enroll->capture->finger_record.data;
	saved = (size_t)rec[28] << 8 | rec[29];
	rec[28] = (uint8_t)((rec[28] & 0xc0) | (4321 >> 8));
	rec[29] = 4321 & 0xff;
	m = expect_error(c, &env, PASO_E_TEMPLATE_FORMAT);
	assert_non_null(strstr(m, "position outside"));
	assert_null(strstr(m, "4321"));
	rec[28] = (uint8_t)(saved >> 8);
	rec[29] = (uint8_t)saved;
	c_free_enroll(&env);
	tls_conn_free(c);
	/* The hub wrote its log lines for both refusals by now (before answering). */
	assert_non_null(log = h_read_file(dep.log, NULL));
	assert_null(strstr(log, "\nFORGED"));
	assert_null(strchr(log, 0x1b));
	assert_non_null(strstr(log, "\\x0aFORGED"));
	for (line = log; line != NULL && *line != '\0'; line = end != NULL ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (end != NULL)
			*end = '\0';
		if (strstr(line, "minutia") != NULL && strstr(line, "4321") != NULL)
			fail_msg("a minutia coordinate reached the log: %s", line);
	}
	free(log);
	assert_still_serving(112);
}

static void
test_resend_and_sequence_reuse(void **state)
{
	struct tls_conn *c = connect_ok();
	Paso__Envelope env, other, *a, *b;
	uint64_t seq = next_seq++;

	(void)state;
	c_make_enroll(&env, K, seq, 106);
	assert_int_equal(c_send(c, &env), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
	assert_false(a->ack->replayed);
	/* The same bytes again: acknowledged again, same subject, stored once. */
	assert_int_equal(c_send(c, &env), 0);
	assert_non_null(b = c_recv(c));
	assert_int_equal(b->body_case, PASO__ENVELOPE__BODY_ACK);
	assert_true(b->ack->replayed);
	assert_memory_equal(a->ack->subject.data, b->ack->subject.data, 32);
	paso__envelope__free_unpacked(a, NULL);
	paso__envelope__free_unpacked(b, NULL);
	/* The same sequence number for a different person: refused. */
	c_make_enroll(&other, K, seq, 107);
	expect_error(c, &other, PASO_E_SEQ_CONFLICT);
	/* The same card enrolled again under a new sequence number: refused. */
	env.seq = next_seq++;
	expect_error(c, &env, PASO_E_CARD_ENROLLED);
	/* A crossing for a card nobody enrolled. */
	{
		Paso__Envelope x = PASO__ENVELOPE__INIT;
		Paso__Crossing cr = PASO__CROSSING__INIT;
		x.kiosk_id = K;
		x.seq = next_seq++;
		x.body_case = PASO__ENVELOPE__BODY_CROSSING;
		x.crossing = &cr;
		cr.card_number = "TVR-0000000000";
		cr.capture = other.enroll->capture;
		cr.direction = PASO__DIRECTION__ENTRY;
		cr.crossing_point = "Talisman";
		expect_error(c, &x, PASO_E_NOT_ENROLLED);
	}
	c_free_enroll(&env);
	c_free_enroll(&other);
	tls_conn_free(c);
}

/* The same person enrolling again under a new card is caught by 1:N deduplication. */
static void
test_duplicate_enrolment_new_card(void **state)
{
	struct tls_conn *c = connect_ok();
	Paso__Envelope env, *a;
	const char *m;

	(void)state;
	/* Person 106 was enrolled above; a fresh capture of them presents another card. */
	c_make_enroll_capture(&env, K, next_seq++, 106, 7);
	env.enroll->card_number = "TVR-9999999901";
	assert_int_equal(c_send(c, &env), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
	assert_int_equal(a->error->code, PASO_E_DUPLICATE);
	m = a->error->message;
	assert_non_null(strstr(m, "already enrolled under another card"));
	paso__envelope__free_unpacked(a, NULL);
	c_free_enroll(&env);
	/* A different person with a new card is not a duplicate. */
	c_make_enroll(&env, K, next_seq++, 110);
	assert_int_equal(c_send(c, &env), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
	paso__envelope__free_unpacked(a, NULL);
	c_free_enroll(&env);
	tls_conn_free(c);
}

static void
test_oversized_length_prefix(void **state)
{
	struct tls_conn *c = connect_ok();
	const uint8_t hdr[4] = {0x7f, 0xff, 0xff, 0xff};
	Paso__Envelope *a;

	(void)state;
	assert_int_equal(tls_write_all(c, hdr, sizeof(hdr)), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->error->code, PASO_E_FRAME_TOO_LARGE);
	assert_non_null(strstr(a->error->message, "2147483647"));
	paso__envelope__free_unpacked(a, NULL);
	/* The stream cannot be resynchronised: the hub closes this connection... */
	assert_null(c_recv(c));
	tls_conn_free(c);
	/* ...and serves the next one. */
	assert_still_serving(108);
}

static void
test_truncated_frame(void **state)
{
	struct tls_conn *c = connect_ok();
	const uint8_t part[] = {0, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

	(void)state;
	{
		Paso__Envelope *a;

		assert_int_equal(tls_write_all(c, part, sizeof(part)), 0);
		tls_conn_shutdown(c);
		/* The hub still answers on its half of the connection, then closes it. */
		assert_non_null(a = c_recv(c));
		assert_int_equal(a->error->code, PASO_E_FRAME_TRUNCATED);
		assert_non_null(strstr(a->error->message, "10 of 100"));
		paso__envelope__free_unpacked(a, NULL);
		assert_null(c_recv(c));
	}
	tls_conn_free(c);
	assert_still_serving(109);
}

/* A stream that ends inside a frame without a TLS close_notify is FRAME_TRUNCATED, answered. */
static void
test_truncated_without_close_notify(void **state)
{
	struct tls_conn *c = connect_ok();
	const uint8_t part[] = {0, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7};
	Paso__Envelope *a;

	(void)state;
	assert_int_equal(tls_write_all(c, part, sizeof(part)), 0);
	/* TCP half-close, no TLS alert: what a crashed or cut-off client leaves */
	assert_int_equal(shutdown(tls_conn_fd(c), SHUT_WR), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
	assert_int_equal(a->error->code, PASO_E_FRAME_TRUNCATED);
	assert_non_null(strstr(a->error->message, "7 of 100"));
	paso__envelope__free_unpacked(a, NULL);
	tls_conn_free(c);
	assert_still_serving(113);
}

/* A zero-length frame is an empty Envelope: refused, and the connection keeps serving. */
static void
test_zero_length_frame(void **state)
{
	struct tls_conn *c = connect_ok();
	const uint8_t zero[4] = {0, 0, 0, 0};
	Paso__Envelope env, *a;

	(void)state;
	assert_int_equal(tls_write_all(c, zero, sizeof(zero)), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
	assert_int_equal(a->error->code, PASO_E_UNKNOWN_MESSAGE);
	paso__envelope__free_unpacked(a, NULL);
	c_make_enroll(&env, K, next_seq++, 114);
	assert_int_equal(c_send(c, &env), 0);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ACK);
	paso__envelope__free_unpacked(a, NULL);
	c_free_enroll(&env);
	tls_conn_free(c);
}

/* Revoking a kiosk while the hub serves: refused at its next connection, recorded in seconds. */
static void
test_revoke_while_serving(void **state)
{
	const char *argv[] = {"paso-hub", "revoke", dep.hub, "--kiosk", "kiosk-el-ceibo", NULL};
	const char *show[] = {"paso-audit", "show", dep.hub, NULL};
	struct tls_conn *c;
	Paso__Envelope env, *a;
	char *out = NULL;
	int rc, i, recorded = 0;

	(void)state;
	assert_int_equal(h_run(NULL, argv), 0);
	assert_non_null(c = c_connect(dep.hub, "kiosk-el-ceibo", dep.port, &rc));
	c_make_enroll(&env, "kiosk-el-ceibo", 1, 111);
	(void)c_send(c, &env);
	assert_non_null(a = c_recv(c));
	assert_int_equal(a->body_case, PASO__ENVELOPE__BODY_ERROR);
	assert_int_equal(a->error->code, PASO_E_UNKNOWN_KIOSK);
	paso__envelope__free_unpacked(a, NULL);
	c_free_enroll(&env);
	tls_conn_free(c);
	/* The running hub notices when idle (every 5 s) and logs the revocation itself. */
	for (i = 0; i < 40 && !recorded; i++) {
		usleep(250000);
		assert_int_equal(h_run(&out, show), 0);
		recorded = strstr(out, "kiosk certificate 'kiosk-el-ceibo' revoked") != NULL;
		free(out);
	}
	assert_true(recorded);
}

/* Everything above is in the audit log, which still verifies; the store holds only valid ones. */
static void
test_audit_and_store_after_attacks(void **state)
{
	char *out = NULL;

	(void)state;
	assert_int_equal(h_hub_stop(&dep, SIGTERM), 0);
	{
		const char *argv[] = {"paso-audit", "verify", dep.hub, NULL};
		assert_int_equal(h_run(&out, argv), 0);
		free(out);
	}
	{
		const char *argv[] = {"paso-audit", "show", dep.hub, "--json", NULL};
		assert_int_equal(h_run(&out, argv), 0);
		assert_true(h_count(out, "REJECT") >= 18);
		assert_true(h_count(out, "FRAME_TRUNCATED") + h_count(out, "-10") >= 1);
		assert_true(h_count(out, "UNKNOWN_KIOSK") + h_count(out, "-18") >= 1);
		assert_true(h_count(out, "DUPLICATE") + h_count(out, "-31") >= 1);
		/* Certificates issued and revoked offline were recorded by the hub. */
		assert_true(h_count(out, "KEY_REVOKE") >= 1);
		assert_non_null(strstr(out, "kiosk certificate 'kiosk-stolen' revoked"));
		assert_non_null(strstr(out, "kiosk certificate 'kiosk-talisman' issued"));
		free(out);
	}
	{
		const char *argv[] = {"paso-hub", "stats", dep.hub, "--json", "--recount", NULL};
		assert_int_equal(h_run(&out, argv), 0);
		/* persons 100, 102, 104-106, 108-110, 112-114: the valid enrolments */
		assert_int_equal(h_json_num(out, "subjects"), 11);
		free(out);
	}
	h_hub_start(&dep, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_client_certificate),
		cmocka_unit_test(test_certificate_from_another_ca),
		cmocka_unit_test(test_revoked_kiosk),
		cmocka_unit_test(test_malformed_messages_on_one_connection),
		cmocka_unit_test(test_log_injection),
		cmocka_unit_test(test_resend_and_sequence_reuse),
		cmocka_unit_test(test_duplicate_enrolment_new_card),
		cmocka_unit_test(test_oversized_length_prefix),
		cmocka_unit_test(test_truncated_frame),
		cmocka_unit_test(test_truncated_without_close_notify),
		cmocka_unit_test(test_zero_length_frame),
		cmocka_unit_test(test_revoke_while_serving),
		cmocka_unit_test(test_audit_and_store_after_attacks),
	};
	/* The hub may close a refused connection before the client's write lands: that must be
	 * an error the test sees, not a signal that kills it. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
