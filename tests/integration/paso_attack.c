/* SPDX-License-Identifier: Apache-2.0 */
/*
 * paso-attack: the attacker's client for the scenarios in scenarios/attacks/. It speaks to a
 * running hub with a kiosk's certificate and sends what a thief of that certificate would:
 * replayed messages, forged ones, messages in another kiosk's name, a slowloris frame. It prints
 * each attempt and the hub's answer, and exits 1 when an answer is not the refusal (or the
 * idempotent acknowledgement) the wire contract promises, 2 on a usage error.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "errors.h"
#include "tls.h"

struct target {
	const char *dir;   /* the deployment: kiosks/NAME.crt, ca/ca.crt */
	const char *kiosk; /* whose certificate the attacker holds */
	uint16_t port;
	int failed;        /* an answer the contract does not promise */
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct tls_conn *
open_as(struct target *t, const char *kiosk)
{
	struct tls_conn *c;
	int rc;

	if ((c = c_connect(t->dir, kiosk, t->port, &rc)) == NULL) {
		printf("  connect as %s: refused (%s)\n", kiosk, paso_errname(rc));
		t->failed = 1;
	}
	return c;
}

/*
 * Prints the hub's answer to one attempt and checks it: want_code 0 means an Ack (replayed as
 * want_replayed says), else an Error with that code. Frees a.
 */
static void
judge(struct target *t, const char *what, Paso__Envelope *a, int want_code, int want_replayed)
{
	int ok;

	printf("- %s\n", what);
	if (a == NULL) {
		printf("  hub: closed the connection without an answer\n");
		t->failed = 1;
		return;
	}
	if (a->body_case == PASO__ENVELOPE__BODY_ACK) {
		printf("  hub: Ack seq %llu, audit entry #%llu%s\n", (unsigned long long)a->ack->seq,
			(unsigned long long)a->ack->audit_index,
			a->ack->replayed ? ", replayed (stored once)" : "");
		ok = want_code == 0 && (a->ack->replayed != 0) == want_replayed;
	} else if (a->body_case == PASO__ENVELOPE__BODY_ERROR) {
		printf("  hub: Error %s seq %llu, audit entry #%llu: %s\n",
			paso_errname(a->error->code), (unsigned long long)a->error->seq,
			(unsigned long long)a->error->audit_index, a->error->message);
		ok = a->error->code == want_code;
	} else {
		printf("  hub: an answer of body %d\n", (int)a->body_case);
		ok = 0;
	}
	if (!ok) {
		printf("  NOT what the contract promises (wanted %s%s)\n",
			want_code ? paso_errname(want_code) : "Ack",
			want_code == 0 && want_replayed ? " replayed" : "");
		t->failed = 1;
	}
	paso__envelope__free_unpacked(a, NULL);
}

static Paso__Envelope *
send_recv(struct tls_conn *c, const Paso__Envelope *env)
{
	return c_send(c, env) == 0 ? c_recv(c) : NULL;
}

/* The same message again, on the same and on a new connection; a seq reused for other content. */
static void
attack_replay(struct target *t, uint32_t person, uint64_t seq)
{
	Paso__Envelope env, other;
	struct tls_conn *c;

	if ((c = open_as(t, t->kiosk)) == NULL)
		return;
	c_make_enroll(&env, t->kiosk, seq, person);
	judge(t, "the kiosk's own enrolment (recorded by the attacker on its way)",
		send_recv(c, &env), 0, 0);
	judge(t, "the same bytes replayed on the same connection", send_recv(c, &env), 0, 1);
	tls_conn_free(c);
	if ((c = open_as(t, t->kiosk)) != NULL) {
		judge(t, "the same bytes replayed on a new connection", send_recv(c, &env), 0, 1);
		c_make_enroll(&other, t->kiosk, seq, person + 1);
		judge(t, "the same seq with someone else's capture", send_recv(c, &other),
			PASO_E_SEQ_CONFLICT, 0);
		c_free_enroll(&other);
		env.seq = seq + 1;
		judge(t, "the same enrolment under the next seq", send_recv(c, &env),
			PASO_E_CARD_ENROLLED, 0);
		tls_conn_free(c);
	}
	c_free_enroll(&env);
}

/* Bytes that are not a message, a message no kiosk sends, impossible fields. */
static void
attack_forge(struct target *t, uint32_t person, uint64_t seq)
{
	const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x0f};
	Paso__Envelope env, bare = PASO__ENVELOPE__INIT;
	Paso__Ack ack = PASO__ACK__INIT;
	struct tls_conn *c;
	uint8_t *rec;

	if ((c = open_as(t, t->kiosk)) == NULL)
		return;
	judge(t, "9 bytes of garbage in a well-formed frame",
		c_send_payload(c, garbage, sizeof(garbage)) == 0 ? c_recv(c) : NULL, PASO_E_DECODE,
		0);
	bare.kiosk_id = (char *)t->kiosk;
	bare.seq = seq;
	bare.body_case = PASO__ENVELOPE__BODY_ACK;
	bare.ack = &ack;
	ack.seq = 1;
	judge(t, "an Ack sent to the hub, as if the kiosk acknowledged something",
		send_recv(c, &bare), PASO_E_UNKNOWN_MESSAGE, 0);
	c_make_enroll(&env, t->kiosk, 0, person);
	judge(t, "a valid-looking enrolment with seq 0", send_recv(c, &env), PASO_E_SEQ_INVALID,
		0);
	env.seq = seq;
	env.enroll->category = 42;
	judge(t, "a valid-looking enrolment with category 42", send_recv(c, &env),
		PASO_E_FIELD_RANGE, 0);
	env.enroll->category = PASO__CATEGORY__BORDER_WORKER;
	/* the first minutia moved outside the image (ISO 19794-2 record, byte 28) */
	rec = env.enroll->capture->finger_record.data;
	rec[28] = (uint8_t)((rec[28] & 0xc0) | 0x3f);
	rec[29] = 0xff;
	judge(t, "a finger record with a minutia outside the image", send_recv(c, &env),
		PASO_E_TEMPLATE_FORMAT, 0);
	c_free_enroll(&env);
	tls_conn_free(c);
}

/* Messages in another kiosk's name, on the attacker's certificate. */
static void
attack_impersonate(struct target *t, const char *victim, uint32_t person, uint64_t seq)
{
	Paso__Envelope env;
	struct tls_conn *c;
	char forged[256];

	if ((c = open_as(t, t->kiosk)) == NULL)
		return;
	c_make_enroll(&env, victim, seq, person);
	judge(t, "an enrolment with kiosk_id of another kiosk", send_recv(c, &env),
		PASO_E_KIOSK_MISMATCH, 0);
	(void)snprintf(forged, sizeof(forged),
		"%s\n2027-01-01T00:00:00Z paso-hub: kiosk %s revoked", t->kiosk, victim);
	env.kiosk_id = forged;
	judge(t, "a kiosk_id carrying a forged log line", send_recv(c, &env),
		PASO_E_KIOSK_MISMATCH, 0);
	env.kiosk_id = (char *)t->kiosk;
	judge(t, "the same enrolment under its own name, on the same connection",
		send_recv(c, &env), 0, 0);
	c_free_enroll(&env);
	tls_conn_free(c);
}

/* A handshake with a certificate the deployment's CA did not sign: nothing may be served. */
static void
attack_connect(struct target *t, uint32_t person, uint64_t seq)
{
	Paso__Envelope env, *a;
	struct tls_conn *c;
	int rc;

	printf("- a handshake with %s's certificate from %s\n", t->kiosk, t->dir);
	if ((c = c_connect(t->dir, t->kiosk, t->port, &rc)) == NULL) {
		printf("  hub: handshake refused (%s)\n", paso_errname(rc));
		return;
	}
	/* TLS 1.3: the client finishes first; the hub's refusal arrives as an alert. */
	c_make_enroll(&env, t->kiosk, seq, person);
	if ((a = send_recv(c, &env)) == NULL)
		printf("  hub: ended the connection without reading a message\n");
	else {
		printf("  hub: answered a message on a forged certificate\n");
		paso__envelope__free_unpacked(a, NULL);
		t->failed = 1;
	}
	c_free_enroll(&env);
	tls_conn_free(c);
}

/* A frame header announcing 200 bytes, then one byte a second until the hub answers. */
static void
attack_slowloris(struct target *t)
{
	const uint8_t hdr[4] = {0, 0, 0, 200};
	struct tls_conn *c;
	struct pollfd pf;
	double t0;
	int sent = 0;

	if ((c = open_as(t, t->kiosk)) == NULL)
		return;
	t0 = mono();
	if (tls_write_all(c, hdr, sizeof(hdr)) != 0) {
		t->failed = 1;
		tls_conn_free(c);
		return;
	}
	pf.fd = tls_conn_fd(c);
	pf.events = POLLIN;
	while (mono() - t0 < 60 && poll(&pf, 1, 1000) == 0) {
		if (tls_write_all(c, (const uint8_t *)"x", 1) != 0)
			break;
		sent++;
	}
	printf("  (sent the header and %d bytes of 200, one a second, for %.1f s)\n", sent,
		mono() - t0);
	judge(t, "a frame header announcing 200 bytes, then a byte a second", c_recv(c),
		PASO_E_FRAME_TRUNCATED, 0);
	if (c_recv(c) != NULL) {
		printf("  the connection stayed open after the answer\n");
		t->failed = 1;
	} else
		printf("  hub: closed the connection after %.1f s\n", mono() - t0);
	tls_conn_free(c);
}

static int
usage(void)
{
	fprintf(stderr,
		"usage: paso-attack replay|forge|impersonate|connect|slowloris --deployment DIR\n"
		"         --port N"
		" --kiosk NAME [--victim NAME] [--person N] [--seq N]\n"
		"  Sends what a thief of NAME's certificate would and prints the hub's answers.\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct target t = {0};
	const char *cmd, *victim = NULL;
	unsigned long v, port = 0, person = 500, seq = 1;
	char *end;
	int i;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage();
	cmd = argv[1];
	for (i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--deployment") == 0)
			t.dir = argv[i + 1];
		else if (strcmp(argv[i], "--kiosk") == 0)
			t.kiosk = argv[i + 1];
		else if (strcmp(argv[i], "--victim") == 0)
			victim = argv[i + 1];
		else if (strcmp(argv[i], "--port") == 0 || strcmp(argv[i], "--person") == 0 ||
			 strcmp(argv[i], "--seq") == 0) {
			errno = 0;
			v = strtoul(argv[i + 1], &end, 10);
			if (errno != 0 || *end != '\0' || argv[i + 1][0] == '-' || v == 0 ||
				v > (argv[i][2] == 'p' && argv[i][3] == 'o' ? 65535 : 1000000)) {
				fprintf(stderr, "paso-attack: %s: not a number in range: '%s'\n",
					argv[i], argv[i + 1]);
				return 2;
			}
			if (strcmp(argv[i], "--port") == 0)
				port = v;
			else if (strcmp(argv[i], "--person") == 0)
				person = v;
			else
				seq = v;
		} else {
			fprintf(stderr, "paso-attack: unknown option '%s'\n", argv[i]);
			return usage();
		}
	}
	if (i != argc || t.dir == NULL || t.kiosk == NULL || port == 0)
		return usage();
	t.port = (uint16_t)port;
	if (strcmp(cmd, "replay") == 0)
		attack_replay(&t, (uint32_t)person, seq);
	else if (strcmp(cmd, "forge") == 0)
		attack_forge(&t, (uint32_t)person, seq);
	else if (strcmp(cmd, "impersonate") == 0 && victim != NULL)
		attack_impersonate(&t, victim, (uint32_t)person, seq);
	else if (strcmp(cmd, "connect") == 0)
		attack_connect(&t, (uint32_t)person, seq);
	else if (strcmp(cmd, "slowloris") == 0)
		attack_slowloris(&t);
	else
		return usage();
	return t.failed ? 1 : 0;
}
