/* SPDX-License-Identifier: Apache-2.0 */
/* Scenario files: a synthetic border workload (who, how often, how long, what happens when). */
#ifndef PASO_SCENARIO_H
#define PASO_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define SCENARIO_MAX_BYTES (1u << 20)
#define SCENARIO_MAX_EVENTS 64
#define SCENARIO_NCAT 5 /* index = proto Category value; 0 unused */

enum scenario_event_kind {
	SCENARIO_BREACH_HUB,     /* on that day, what the hub holds is taken */
	SCENARIO_BREACH_PARTNER, /* on that day, what partner `target` holds is taken */
	SCENARIO_POLICY_CHANGE,  /* from that day, the policy file `target` is in force */
	SCENARIO_REVOKE_KIOSK,   /* on that day, kiosk `target` is revoked */
};

struct scenario_event {
	uint32_t day;
	enum scenario_event_kind kind;
	char *target; /* partner, policy file or kiosk; NULL for breach_hub */
	unsigned line;
};

/* Every key of a scenario file; scenarios/README.md documents each. */
struct scenario {
	char *name, *description;
	uint64_t seed;
	uint64_t start;       /* seconds since the Unix epoch (simulated clock start) */
	uint32_t days;        /* simulated duration */
	uint32_t period_days; /* one kiosk run per period; the hub clock advances between them */
	uint32_t people;      /* travellers who enrol over the run */
	double initial_share; /* share of them enrolled in the first period (the rest grow evenly) */
	double mix[SCENARIO_NCAT];                 /* category shares, summing to 1 */
	double crossings_per_month[SCENARIO_NCAT]; /* per enrolled person, by category */
	double impostor_rate;     /* share of crossings made with someone else's card */
	double duplicate_rate;    /* share of enrolments by someone already enrolled, new card */
	double identify_per_day;  /* detention-station 1:N identifications */
	double identify_enrolled; /* share of those probes that are of enrolled people */
	double partner_per_day;   /* partner queries (hit/no-hit), once partners exist */
	double partner_enrolled;  /* share of partner probes that are of enrolled people */
	char *partner_purpose;
	uint32_t partner_categories; /* whom partners ask about: bit c set for category c (1..4) */
	struct scenario_event events[SCENARIO_MAX_EVENTS];
	size_t nevents;
};

/*
 * Parses a scenario (YAML, len bytes of buf, borrowed) named name in messages. Unknown keys,
 * wrong types, values out of range and contradictions (a mix not summing to 1, an event after
 * the last day) are refused with d naming the file, line and value
 * ("scenarios/x.yaml:12: days out of range 1..3650: '0'"). Pure. Caller owns *out
 * (scenario_free). Returns 0, PASO_E_INVALID_ARG or PASO_E_NOMEM.
 */
int scenario_parse(
	const char *buf, size_t len, const char *name, struct scenario **out, struct paso_diag *d);

/* Reads path (at most SCENARIO_MAX_BYTES) and parses it. Adds PASO_E_IO, PASO_E_NOT_FOUND. */
int scenario_load_file(const char *path, struct scenario **out, struct paso_diag *d);

void scenario_free(struct scenario *s);

const char *scenario_event_name(enum scenario_event_kind k);

#endif
