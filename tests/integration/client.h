/* SPDX-License-Identifier: Apache-2.0 */
/* A raw kiosk client for tests: sends exactly the bytes a test wants and reads one answer. */
#ifndef PASO_TEST_CLIENT_H
#define PASO_TEST_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "paso.pb-c.h"
#include "tls.h"

/* Connects as kiosk `name` of the deployment in hubdir; NULL (and *rc) when refused. */
struct tls_conn *c_connect(const char *hubdir, const char *name, uint16_t port, int *rc);
/* Sends len bytes of payload with a correct length prefix. */
int c_send_payload(struct tls_conn *c, const uint8_t *payload, size_t len);
/* Packs and sends env. */
int c_send(struct tls_conn *c, const Paso__Envelope *env);
/* Reads one answer; NULL when the connection ended or the answer is not an Envelope. */
Paso__Envelope *c_recv(struct tls_conn *c);
/* Fills a valid Enroll for synthetic person `person` (seed 5) into env; free with c_free_enroll. */
void c_make_enroll(Paso__Envelope *env, const char *kiosk, uint64_t seq, uint32_t person);
/* The same with another capture of that person (capture_no > 0 gives fresh noise). */
void c_make_enroll_capture(
	Paso__Envelope *env, const char *kiosk, uint64_t seq, uint32_t person, uint32_t capture_no);
void c_free_enroll(Paso__Envelope *env);

#endif
