/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's clock: the wall clock, or a simulated one that moves only when told. */
#ifndef PASO_CLOCK_H
#define PASO_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "errors.h"

/*
 * A value in the hub's context (never a global): every time the hub writes (audit entries,
 * records, expiries, checkpoints' neighbours, log lines) comes from clock_now of its clock.
 * A simulated clock starts at an instant and moves only forward, by clock_advance or
 * clock_set; it never moves backward, so expiry decisions taken at one instant are never
 * undone by a later one. Reading is safe from any thread; moving it is the commit loop's.
 */
struct paso_clock {
	int simulated;
	_Atomic uint64_t sim_now; /* seconds since the Unix epoch, simulated clocks only */
};

/* The wall clock. */
void clock_init_real(struct paso_clock *c);

/* A simulated clock at start (seconds since the Unix epoch, at most INSTANT_MAX). */
void clock_init_sim(struct paso_clock *c, uint64_t start);

/*
 * Parses a --clock value: "real", "sim:INSTANT" (e.g. sim:2027-01-01T00:00:00Z), or "sim"
 * (simulated, resuming where the deployment's clock last stood: *resume set to 1, the caller
 * supplies the instant). Pure. Returns 0 or PASO_E_INVALID_ARG, d quoting the value.
 */
int clock_parse_spec(const char *spec, struct paso_clock *c, int *resume, struct paso_diag *d);

/* Seconds since the Unix epoch on c. */
uint64_t clock_now(const struct paso_clock *c);

/*
 * Moves a simulated clock to t (clock_set) or forward by secs (clock_advance). Refuses a real
 * clock (PASO_E_INVALID_ARG), a move backward and a time past INSTANT_MAX (PASO_E_FIELD_RANGE),
 * changing nothing; d says why with both instants.
 */
int clock_set(struct paso_clock *c, uint64_t t, struct paso_diag *d);
int clock_advance(struct paso_clock *c, uint64_t secs, struct paso_diag *d);

#endif
