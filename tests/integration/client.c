/* SPDX-License-Identifier: Apache-2.0 */
/* A raw kiosk client for tests, on the same TLS code the kiosks use. */
#include "client.h"

#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "capture.h"
#include "frame.h"
#include "population.h"
#include "sample_pb.h"

struct tls_conn *
c_connect(const char *hubdir, const char *name, uint16_t port, int *rc)
{
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	char cert[1024], key[1024], ca[1024];

	(void)snprintf(cert, sizeof(cert), "%s/kiosks/%s.crt", hubdir, name);
	(void)snprintf(key, sizeof(key), "%s/kiosks/%s.key", hubdir, name);
	(void)snprintf(ca, sizeof(ca), "%s/ca/ca.crt", hubdir);
	*rc = tls_ctx_new_client(cert, key, ca, "paso-hub", &ctx, &d);
	if (*rc == 0)
		*rc = tls_connect(ctx, "127.0.0.1", port, 10000, &c, &d);
	tls_ctx_free(ctx); /* the connection keeps its own reference */
	return c;
}

int
c_send_payload(struct tls_conn *c, const uint8_t *payload, size_t len)
{
	uint8_t hdr[4] = {
		(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
	int r;

	if ((r = tls_write_all(c, hdr, 4)) != 0)
		return r;
	return tls_write_all(c, payload, len);
}

int
c_send(struct tls_conn *c, const Paso__Envelope *env)
{
	size_t n = paso__envelope__get_packed_size(env);
	uint8_t *buf = malloc(n + 1);
	int r;

	assert_non_null(buf);
	(void)paso__envelope__pack(env, buf);
	r = c_send_payload(c, buf, n);
	free(buf);
	return r;
}

Paso__Envelope *
c_recv(struct tls_conn *c)
{
	Paso__Envelope *env = NULL;
	struct paso_diag d;
	uint8_t *p = NULL;
	uint32_t len;

	if (tls_read_frame(c, FRAME_DEFAULT_MAX, &p, &len, &d) != 0)
		return NULL;
	if (frame_decode(p, len, &env, &d) != 0)
		env = NULL;
	free(p);
	return env;
}

struct enroll_parts {
	Paso__Enroll en;
	Paso__Capture cap;
	struct bio_sample s;
	struct person_info pi;
};

void
c_make_enroll(Paso__Envelope *env, const char *kiosk, uint64_t seq, uint32_t person)
{
	c_make_enroll_capture(env, kiosk, seq, person, 0);
}

void
c_make_enroll_capture(
	Paso__Envelope *env, const char *kiosk, uint64_t seq, uint32_t person, uint32_t capture_no)
{
	struct enroll_parts *p = calloc(1, sizeof(*p));
	struct population *pop = NULL;

	assert_non_null(p);
	assert_int_equal(population_new(5, person + 1, &pop), 0);
	assert_int_equal(population_person(pop, person, &p->pi), 0);
	assert_int_equal(capture_take(pop, person, capture_no, PRESET_GOOD, &p->s), 0);
	population_free(pop);
	paso__enroll__init(&p->en);
	paso__capture__init(&p->cap);
	assert_int_equal(sample_to_pb(&p->s, &p->cap), 0);
	p->cap.capture_time = (uint64_t)time(NULL); /* what a kiosk on the wall clock claims */
	p->en.capture = &p->cap;
	p->en.category = p->pi.category;
	p->en.card_number = p->pi.card;
	p->en.crossing_point = "Ciudad Hidalgo";
	paso__envelope__init(env);
	env->kiosk_id = (char *)kiosk;
	env->seq = seq;
	env->body_case = PASO__ENVELOPE__BODY_ENROLL;
	env->enroll = &p->en;
}

void
c_free_enroll(Paso__Envelope *env)
{
	struct enroll_parts *p = (struct enroll_parts *)(void *)env->enroll;

	sample_pb_release(&p->cap);
	bio_sample_clear(&p->s);
	free(p);
}
