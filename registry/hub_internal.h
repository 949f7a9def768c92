/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by hub.c (lifecycle, commit loop), act.c (decisions) and server.c (connections). */
#ifndef PASO_HUB_INTERNAL_H
#define PASO_HUB_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "gallery.h"
#include "hub.h"
#include "keyring.h"
#include "match.h"
#include "paso.pb-c.h"
#include "policy.h"
#include "sample.h"
#include "tls.h"
#include "vault.h"

struct conn;

/* One kiosk message on its way through the commit loop. Owned by its connection. */
struct request {
	struct conn *conn;
	char kiosk[128];    /* certificate CN */
	uint8_t digest[32]; /* SHA-256 of the frame payload */
	int has_digest;
	Paso__Envelope *env;      /* NULL when the frame could not be decoded */
	struct bio_sample sample; /* validated capture, when env passed ingest */
	struct match_template
		*probe;       /* built on the connection's thread: matching cost is parallel */
	struct paso_diag err; /* err.code != 0: refuse with this */
	uint64_t last_seq;    /* for SEQ_CONFLICT: highest seq held from this kiosk */
	/* Filled by the commit loop: */
	uint8_t *reply; /* framed Envelope (Ack or Error) */
	size_t reply_len;
	int done;
	struct request *next;
};

/*
 * What the store holds, kept as meta counters in the same transaction as the records, so that
 * `paso-hub stats` reports without opening any sealed record.
 */
enum hub_count {
	COUNT_SUBJECTS,
	COUNT_CROSSINGS,
	COUNT_IDENTIFICATIONS,
	COUNT_WITH_FINGER,
	COUNT_WITH_FACE,
	COUNT_WITH_IRIS,
	COUNT_CAT_REGIONAL_VISITOR,
	COUNT_CAT_BORDER_WORKER,
	COUNT_CAT_MIGRANT_IN_TRANSIT,
	COUNT_CAT_DETAINEE,
	COUNT_N
};
extern const char *const hub_count_keys[COUNT_N];

struct hub {
	struct hub_config cfg;
	char dir[4096];
	struct keyring *kr;
	struct vault *vault;
	struct policy *policy;
	struct auditlog *log;
	struct checkpoint_signer *signer;
	struct tls_ctx *tls;
	int listen_fd;
	uint16_t port;
	struct gallery *gallery; /* every enrolled subject's templates, decrypted at start */

	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* requests queued */
	struct request *head, *tail;
	unsigned nconns;
	int stopping;

	uint64_t accepted, refused, replayed, groups;
	uint64_t counts[COUNT_N]; /* committed values plus this group's changes */
	double last_checkpoint;   /* monotonic seconds */
	double last_kiosk_scan;   /* monotonic seconds */
};

/* hub.c */
uint64_t hub_now(const struct hub *h);
void hub_logf(struct hub *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queues r for the commit loop; the connection is woken (conn_wake) when it is answered. */
void hub_submit(struct hub *h, struct request *r);

/*
 * act.c: decides one request inside the open write transaction t, appends its audit entry and
 * sets r->reply. Subjects enrolled by the group enter the gallery at once (a crossing later in the
 * same group must find them) and are listed in *pending, so that a group that fails to commit
 * takes them out again. Returns 0, or a storage error that fails the whole group.
 */
struct pending_add {
	uint8_t id[VAULT_ID_BYTES];
	struct pending_add *next;
};
/* hub.c: puts a subject's templates in the gallery; takes ownership of t (NULL: built from s). */
int hub_add_subject(struct hub *h, const uint8_t id[VAULT_ID_BYTES], const struct bio_sample *s,
	struct match_template *t);
int act_request(
	struct hub *h, struct vault_txn *t, struct request *r, struct pending_add **pending);
/* Appends an audit entry; sets *indexp. */
int act_audit(struct hub *h, Paso__AuditEntry *e, uint64_t *indexp);
/* Builds and appends an entry for a hub-level event (start, stop, recovery, key, policy). */
int act_audit_event(
	struct hub *h, Paso__Action action, int code, const char *purpose, const char *detail);
/* Frames an Error reply for r. */
int act_error_reply(struct request *r, int code, const char *msg, uint64_t audit_index);

/* server.c: accepts connections until h->stopping, one thread per kiosk connection. */
int server_accept_loop(struct hub *h, volatile sig_atomic_t *stop);
/* Wakes a connection whose request was answered. Call with h->mu held: the connection cannot
 * close its eventfd while the lock is held (it reads r->done under the same lock). */
void conn_wake(struct conn *c);

#endif
