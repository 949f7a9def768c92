/* SPDX-License-Identifier: Apache-2.0 */
/* The partner role's receiving side: bulk shares from the national hub, sealed under our keys. */
#ifndef PASO_PARTNER_H
#define PASO_PARTNER_H

#include <stdint.h>

#include "clock.h"
#include "decide.h"
#include "hublog.h"
#include "loop.h"

/*
 * A partner deployment (`paso-hub init DIR --role partner`) serves a receive port for the
 * national hub it pinned (`paso-hub partner add`). Each ShareBatch is applied on the commit
 * loop in one ledger transaction: every SharedRecord with a share_seq above the highest one
 * already applied from that sender becomes a subject sealed under this deployment's keyring
 * (its key epoch the expiry day: now + the shorter of the rule's retention_days and this
 * policy's retention_days.enrolment), with one RECEIVE entry each; the highest share_seq is
 * kept in the same transaction ("recv.SENDER"). Only then is ShareAck sent, so a sender that
 * resends after a crash gets an acknowledgement and no duplicate.
 */

struct partner;

struct partner_config {
	const char *dir;
	const char *host;
	uint16_t port; /* 0 = ephemeral */
	int io_timeout_ms;
	struct loop *loop;        /* borrowed */
	struct decide_ctx *dc;    /* borrowed: policy and vault */
	const struct hublog *log; /* borrowed */
};

/* Opens the receive port. Caller owns *out. Returns 0 or peer_listen's errors. */
int partner_open(const struct partner_config *cfg, struct partner **out, struct paso_diag *d);
uint16_t partner_port(const struct partner *p);
int partner_start(struct partner *p);
void partner_stop(struct partner *p);
int partner_idle(struct partner *p);
void partner_close(struct partner *p);

#endif
