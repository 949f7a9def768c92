/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's clock: wall time, or simulated time moved forward on command. */
#include "clock.h"

#include <string.h>
#include <time.h>

#include "instant.h"

void
clock_init_real(struct paso_clock *c)
{
	c->simulated = 0;
	atomic_store(&c->sim_now, 0);
}

void
clock_init_sim(struct paso_clock *c, uint64_t start)
{
	c->simulated = 1;
	atomic_store(&c->sim_now, start > INSTANT_MAX ? INSTANT_MAX : start);
}

int
clock_parse_spec(const char *spec, struct paso_clock *c, int *resume, struct paso_diag *d)
{
	uint64_t t;
	struct paso_diag sub = {0};

	*resume = 0;
	if (strcmp(spec, "real") == 0) {
		clock_init_real(c);
		return 0;
	}
	if (strcmp(spec, "sim") == 0) {
		clock_init_sim(c, 0);
		*resume = 1;
		return 0;
	}
	if (strncmp(spec, "sim:", 4) != 0)
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"--clock: '%.60s': write real, sim (resume the deployment's simulated "
			"time) or sim:INSTANT, e.g. sim:2027-01-01T00:00:00Z",
			spec);
	if (instant_parse(spec + 4, &t, &sub) != 0)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "--clock: %s", sub.msg);
	clock_init_sim(c, t);
	return 0;
}

uint64_t
clock_now(const struct paso_clock *c)
{
	if (c->simulated)
		return atomic_load(&c->sim_now);
	return (uint64_t)time(NULL);
}

int
clock_set(struct paso_clock *c, uint64_t t, struct paso_diag *d)
{
	char a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES];
	uint64_t now = clock_now(c);

	if (!c->simulated)
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"the hub runs on the wall clock; only a simulated clock (serve --clock "
			"sim:INSTANT) can be moved");
	if (t > INSTANT_MAX)
		return paso_diag_set(d, PASO_E_FIELD_RANGE, "clock: %llu is past 9999-12-31",
			(unsigned long long)t);
	if (t < now)
		return paso_diag_set(d, PASO_E_FIELD_RANGE,
			"clock: %s is before the hub's time %s; a clock never moves backward",
			instant_format(t, a), instant_format(now, b));
	atomic_store(&c->sim_now, t);
	return 0;
}

int
clock_advance(struct paso_clock *c, uint64_t secs, struct paso_diag *d)
{
	uint64_t t;

	if (instant_add(clock_now(c), secs, &t) != 0)
		return paso_diag_set(d, PASO_E_FIELD_RANGE,
			"clock: advancing by %llu s passes 9999-12-31", (unsigned long long)secs);
	return clock_set(c, t, d);
}
