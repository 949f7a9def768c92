/* SPDX-License-Identifier: Apache-2.0 */
/* One simulated kiosk: captures into its sealed outbox, drains it to the hub over TLS. */
#ifndef PASO_KIOSK_H
#define PASO_KIOSK_H

#include <pthread.h>
#include <stdint.h>

#include "errors.h"
#include "sample.h"

struct kiosk;

struct kiosk_config {
	const char *name;  /* certificate CN and kiosk_id */
	const char *point; /* crossing point, e.g. "Ciudad Hidalgo" */
	const char *cert, *key, *ca;
	const char *host; /* hub address */
	uint16_t port;
	const char *workdir; /* the kiosk's own directory (outbox) */
	unsigned window;     /* frames in flight per connection; default 32 */
	int give_up_s;       /* stop retrying after this long without progress; default 120 */
	int io_timeout_ms;   /* default 30000 */
};

/* What happened to the messages this kiosk sent, tallied from the hub's answers. */
struct kiosk_stats {
	uint64_t queued, acked, replayed, refused, resent, reconnects;
	uint64_t resyncs;    /* outbox renumbered after the hub's last seq (a lost outbox) */
	uint64_t store_full; /* answers "the hub's storage is full": kept, resent after a pause */
	uint64_t verified, not_verified;      /* crossings: MATCH / NO_MATCH */
	uint64_t genuine, genuine_verified;   /* crossings with the card holder's own capture */
	uint64_t impostor, impostor_verified; /* crossings with someone else's capture */
	uint64_t identified, identified_right, not_identified, unenrolled_probes,
		unenrolled_identified;
	uint64_t duplicates;          /* enrolments refused as duplicates */
	uint64_t refused_by_code[70]; /* index -code */
	double busy_seconds;          /* time spent draining */
};

/* What a message is, so its answer can be tallied (kept in memory for this run only). */
enum kiosk_kind {
	KIOSK_ENROL = 1,
	KIOSK_GENUINE,
	KIOSK_IMPOSTOR,
	KIOSK_IDENTIFY,
	KIOSK_PROBE_UNKNOWN
};

/* Opens the kiosk's outbox under workdir and its TLS context. Caller owns *out. */
int kiosk_open(const struct kiosk_config *cfg, struct kiosk **out, struct paso_diag *d);
void kiosk_close(struct kiosk *k);

/*
 * Queues one message durably in the outbox (sealed). body_case is PASO__ENVELOPE__BODY_*; the
 * function builds the Envelope from the sample and fields. person is the simulated person the
 * tally should credit (the enrolled person for a crossing). Returns 0 or a storage error.
 */
int kiosk_enqueue_enroll(struct kiosk *k, const struct bio_sample *s, int category,
	const char *card, uint64_t when, uint32_t person);
int kiosk_enqueue_crossing(struct kiosk *k, const struct bio_sample *s, const char *card,
	int direction, uint64_t when, uint32_t person, int impostor);
/* expect: the pseudonym the hub gave person at enrolment, or NULL for someone never enrolled. */
int kiosk_enqueue_identify(struct kiosk *k, const struct bio_sample *s, uint64_t when,
	uint32_t person, const uint8_t *expect);

/*
 * Keeps two fingers of a capture's finger record: the index fingers (ISO positions 2 and 7), or
 * the first two captured. Crossings verify against two fingers, as border kiosks do; enrolment
 * takes all ten. Returns 0 or a template error.
 */
int kiosk_two_fingers(struct bio_sample *s);

/*
 * The sequence number of the latest message queued by the producer (0 before any). The hub
 * records it as kiosk_seq in the message's audit entry, so a simulation can join its ground
 * truth to the hub's decisions. Producer thread only.
 */
uint64_t kiosk_last_seq(const struct kiosk *k);

/* Makes everything queued so far durable (one fsync). */
int kiosk_flush(struct kiosk *k);

/*
 * Sends the outbox to the hub until it is empty and *producing is 0 (the producer may still be
 * adding). Reconnects with exponential backoff while the hub is unreachable, and pauses the
 * same way (100 ms doubling to 2 s) while the hub answers that its storage is full (STORE_FULL,
 * MAP_FULL) instead of resending at once; gives up after
 * give_up_s seconds without progress (PASO_E_TIMEOUT; the outbox keeps what is left).
 * *producing is read under mu.
 */
int kiosk_drain(struct kiosk *k, pthread_mutex_t *mu, const int *producing, struct paso_diag *d);

/* The tally so far (copied). enrolled_cb, when set, is called for each acked enrolment. */
void kiosk_get_stats(struct kiosk *k, struct kiosk_stats *out);
void kiosk_on_enrolled(
	struct kiosk *k, void (*cb)(void *arg, uint32_t person, const uint8_t *subject), void *arg);

#endif
