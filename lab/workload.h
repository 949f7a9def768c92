/* SPDX-License-Identifier: Apache-2.0 */
/* A scenario's traffic, planned once from its seed: the same files drive every policy's run. */
#ifndef PASO_WORKLOAD_H
#define PASO_WORKLOAD_H

#include <stdint.h>

#include "errors.h"
#include "scenario.h"

/* What a planned workload holds (also written to DIR/workload.txt). */
struct workload_info {
	uint32_t population; /* paso-kiosk --people: the synthetic population's size */
	uint32_t periods;    /* DIR/period-NNNN.plan, one per period */
	uint64_t messages;   /* planned messages, all periods */
	uint64_t enrolments, duplicates, crossings, impostors, identifications, probes;
	uint64_t partner_queries; /* planned; sent by a policy's partner, when it has one */
	char digest[65];          /* SHA-256 (hex) over every plan file, in order */
};

/*
 * Plans scenario s into directory dir (created): one paso-kiosk --plan file per period, each
 * line a message with who really stands at the kiosk, and one period-NNNN.queries file of the
 * partner's hit/no-hit queries ("PERSON CAPTURE_NO ENROLLED CATEGORY": whose probe, its capture
 * number from WORKLOAD_QUERY_CAPNO on, 1 if that person was enrolled when planned, and their
 * enum category). Deterministic in s alone: the same
 * scenario gives byte-identical files. Kiosks revoked by an event get no traffic from that
 * day on. Returns 0, PASO_E_IO, PASO_E_NOMEM or PASO_E_INVALID_ARG (d says why).
 */
int workload_plan(
	const struct scenario *s, const char *dir, struct workload_info *out, struct paso_diag *d);

#define WORKLOAD_QUERY_CAPNO 800000u

/* The kiosk names, in the order paso-kiosk runs them; the last is the detention station. */
#define WORKLOAD_NKIOSKS 5
extern const char *const workload_kiosks[WORKLOAD_NKIOSKS];

#endif
