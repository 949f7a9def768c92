/* SPDX-License-Identifier: Apache-2.0 */
/* Plans a scenario's traffic into paso-kiosk --plan files, deterministically from its seed. */
#include "workload.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "paso.pb-c.h"
#include "population.h"

const char *const workload_kiosks[WORKLOAD_NKIOSKS] = {"kiosk-ciudad-hidalgo", "kiosk-talisman",
	"kiosk-ciudad-cuauhtemoc", "kiosk-el-ceibo", "station-siglo-xxi"};
#define STATION (WORKLOAD_NKIOSKS - 1)
#define TIMELINE_S (6u * 3600u) /* paso-kiosk's capture timeline per run */

struct rng {
	uint64_t s;
};

static uint64_t
next(struct rng *r)
{
	/* splitmix64: small, and the plan is reproducible from the scenario's seed. */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
unit(struct rng *r)
{
	return (double)(next(r) >> 11) / 9007199254740992.0;
}

static uint32_t
below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(next(r) % n) : 0;
}

/* How many of a rate fall in this period: the whole part, plus one with the fraction's odds. */
static uint32_t
draw_count(struct rng *r, double expected)
{
	uint32_t k = (uint32_t)expected;

	return k + (unit(r) < expected - (double)k);
}

struct line {
	const char *kind;
	uint32_t kiosk, person, source, capno, dir;
};

struct plan {
	struct line *l;
	size_t n, cap;
};

static int
push(struct plan *p, const struct line *l)
{
	struct line *nl;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		if ((nl = realloc(p->l, cap * sizeof(*nl))) == NULL)
			return PASO_E_NOMEM;
		p->l = nl;
		p->cap = cap;
	}
	p->l[p->n++] = *l;
	return 0;
}

struct state {
	const struct scenario *s;
	struct population *pop;
	uint32_t *travellers; /* population indices, in enrolment order */
	uint8_t *cat;         /* category per traveller */
	uint32_t *strangers, nstrangers, next_stranger;
	uint32_t *spare, nspare, next_spare; /* fresh cards for duplicate enrolments */
	uint32_t *captures;                  /* captures taken so far, per population index */
	uint32_t population;
	int revoked[WORKLOAD_NKIOSKS];
};

/* A crossing kiosk for population index i, skipping revoked ones (0..3; -1 if none is left). */
static int
crossing_kiosk(const struct state *st, uint32_t i)
{
	uint32_t k, start = i % STATION;

	for (k = 0; k < STATION; k++)
		if (!st->revoked[(start + k) % STATION])
			return (int)((start + k) % STATION);
	return -1;
}

static int
write_plan(const char *path, const struct plan *p, crypto_hash_sha256_state *h, struct paso_diag *d)
{
	FILE *f = fopen(path, "w");
	char buf[160];
	size_t i;
	int n;

	if (f == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	for (i = 0; i < p->n; i++) {
		const struct line *l = &p->l[i];
		uint64_t off = (uint64_t)i * (TIMELINE_S - 1) / (p->n ? p->n : 1);

		n = snprintf(buf, sizeof(buf), "%s %s %u %u %u %u %" PRIu64 "\n", l->kind,
			workload_kiosks[l->kiosk], l->person, l->source, l->capno, l->dir, off);
		crypto_hash_sha256_update(h, (const uint8_t *)buf, (size_t)n);
		if (fputs(buf, f) == EOF)
			break;
	}
	if (fclose(f) != 0 || i < p->n)
		return paso_diag_set(d, PASO_E_IO, "%s: write failed", path);
	return 0;
}

/* Picks travellers to the scenario's category mix, and spare indices, from the population. */
static int
choose_people(
	struct state *st, uint64_t strangers_needed, uint64_t spares_needed, struct paso_diag *d)
{
	const struct scenario *s = st->s;
	uint32_t want[SCENARIO_NCAT], got[SCENARIO_NCAT] = {0}, n = 0, i, c, limit;
	uint32_t assigned = 0;
	struct person_info pi;
	struct rng r = {s->seed ^ 0x706c616eULL};
	int rc;

	for (c = 1; c < SCENARIO_NCAT; c++) {
		want[c] = (uint32_t)(s->mix[c] * s->people + 0.5);
		assigned += want[c];
	}
	/* Rounding: the largest category absorbs the difference. */
	want[1] += s->people - assigned;
	if (strangers_needed > s->people)
		strangers_needed = s->people;
	if (spares_needed > s->people)
		spares_needed = s->people;
	limit = (uint32_t)((uint64_t)s->people * 40 + strangers_needed + spares_needed + 1000);
	if (limit > 100000000u)
		limit = 100000000u;
	if ((rc = population_new(s->seed, limit, &st->pop)) != 0)
		return rc;
	if ((st->travellers = calloc(s->people, sizeof(uint32_t))) == NULL ||
		(st->cat = calloc(s->people, 1)) == NULL ||
		(st->strangers = calloc(strangers_needed + 1, sizeof(uint32_t))) == NULL ||
		(st->spare = calloc(spares_needed + 1, sizeof(uint32_t))) == NULL)
		return PASO_E_NOMEM;
	for (i = 0; i < limit; i++) {
		if (n == s->people && st->nstrangers == strangers_needed &&
			st->nspare == spares_needed)
			break;
		if ((rc = population_person(st->pop, i, &pi)) != 0)
			return rc;
		c = (uint32_t)pi.category;
		if (c >= 1 && c < SCENARIO_NCAT && got[c] < want[c]) {
			got[c]++;
			st->cat[n] = (uint8_t)c;
			st->travellers[n++] = i;
		} else if (st->nstrangers < strangers_needed)
			st->strangers[st->nstrangers++] = i;
		else if (st->nspare < spares_needed)
			st->spare[st->nspare++] = i;
	}
	if (n < s->people)
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"population.mix: %u people of the asked mix not found among %u synthetic "
			"people (a share too far from the population's own)",
			s->people, limit);
	st->population = i;
	/* Enrolment order: shuffled, so categories arrive mixed over time. */
	for (i = n; i > 1; i--) {
		uint32_t j = below(&r, i), t = st->travellers[i - 1];
		uint8_t tc = st->cat[i - 1];

		st->travellers[i - 1] = st->travellers[j];
		st->cat[i - 1] = st->cat[j];
		st->travellers[j] = t;
		st->cat[j] = tc;
	}
	if ((st->captures = calloc(st->population, sizeof(uint32_t))) == NULL)
		return PASO_E_NOMEM;
	return 0;
}

int
workload_plan(
	const struct scenario *s, const char *dir, struct workload_info *out, struct paso_diag *d)
{
	struct state st;
	struct plan p = {0};
	struct rng r = {s->seed ^ 0x747261666669ULL};
	struct rng rq = {s->seed ^ 0x7175657279ULL}; /* partner queries: their own stream */
	crypto_hash_sha256_state h;
	uint8_t dg[32];
	char path[4200];
	uint32_t periods = (s->days + s->period_days - 1) / s->period_days, per, enrolled = 0;
	uint32_t first = (uint32_t)(s->initial_share * s->people + 0.5), i, k;
	double dup_carry = 0, ident_carry = 0;
	uint64_t query_no = 0;
	uint64_t strangers_needed, spares_needed;
	FILE *f;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	st.s = s;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", dir, strerror(errno));
	strangers_needed =
		(uint64_t)(s->identify_per_day * (1 - s->identify_enrolled) * s->days) + 2;
	spares_needed = (uint64_t)(s->duplicate_rate * s->people) + 2;
	if ((rc = choose_people(&st, strangers_needed, spares_needed, d)) != 0)
		goto out;
	if (first > s->people)
		first = s->people;
	crypto_hash_sha256_init(&h);
	for (per = 0; per < periods; per++) {
		uint32_t day = per * s->period_days, len = s->period_days, target,
			 before = enrolled;
		double ndup;

		if (day + len > s->days)
			len = s->days - day;
		for (i = 0; i < s->nevents; i++) {
			const struct scenario_event *ev = &s->events[i];
			if (ev->kind == SCENARIO_REVOKE_KIOSK && ev->day < day + len)
				for (k = 0; k < WORKLOAD_NKIOSKS; k++)
					if (strcmp(ev->target, workload_kiosks[k]) == 0)
						st.revoked[k] = 1;
		}
		p.n = 0;
		/* Enrolment growth: the initial share at once, the rest evenly over the run. */
		target = periods <= 1 ? s->people
				      : first + (uint32_t)((uint64_t)(s->people - first) * per /
							   (periods - 1));
		for (; enrolled < target; enrolled++) {
			uint32_t who = st.travellers[enrolled];
			int kk = st.cat[enrolled] == CAT_DETAINEE && !st.revoked[STATION]
					 ? STATION
					 : crossing_kiosk(&st, who);
			struct line l = {"enrol", 0, who, who, st.captures[who]++, 0};

			if (kk < 0)
				kk = STATION;
			l.kiosk = (uint32_t)kk;
			if ((rc = push(&p, &l)) != 0)
				goto out;
			out->enrolments++;
		}
		/* Duplicates: someone enrolled in an earlier period comes back with a new card. */
		ndup = s->duplicate_rate * (enrolled - before) + dup_carry;
		dup_carry = ndup - (double)(uint32_t)ndup;
		for (i = 0; i < (uint32_t)ndup && before > 0 && st.next_spare < st.nspare; i++) {
			uint32_t src = st.travellers[below(&r, before)];
			uint32_t card = st.spare[st.next_spare++];
			int kk = crossing_kiosk(&st, card);
			struct line l = {"enrol", kk < 0 ? STATION : (uint32_t)kk, card, src,
				st.captures[src]++, 0};

			if ((rc = push(&p, &l)) != 0)
				goto out;
			out->duplicates++;
		}
		/* Crossings of everyone enrolled so far (this period's enrolments are sent first). */
		for (i = 0; i < enrolled; i++) {
			uint32_t who = st.travellers[i], n, c = st.cat[i];
			int kk = crossing_kiosk(&st, who);

			n = draw_count(&r, s->crossings_per_month[c] * len / 30.0);
			while (n-- > 0 && kk >= 0) {
				struct line l = {"cross", (uint32_t)kk, who, who, 0, 0};

				if (unit(&r) < s->impostor_rate && enrolled > 1) {
					do
						l.source = st.travellers[below(&r, enrolled)];
					while (l.source == who);
					l.kind = "impostor";
					out->impostors++;
				} else
					out->crossings++;
				l.capno = st.captures[l.source]++;
				l.dir = 1 + (st.captures[who] % 2);
				if ((rc = push(&p, &l)) != 0)
					goto out;
			}
		}
		/* Identifications at the detention station: enrolled people, or strangers. */
		ident_carry += s->identify_per_day * len;
		for (; ident_carry >= 1 && !st.revoked[STATION]; ident_carry -= 1) {
			struct line l = {"identify", STATION, 0, 0, 0, 0};

			if (enrolled > 0 && unit(&r) < s->identify_enrolled) {
				l.person = l.source = st.travellers[below(&r, enrolled)];
				out->identifications++;
			} else {
				if (st.nstrangers == 0)
					continue;
				l.kind = "probe";
				l.person = l.source =
					st.strangers[st.next_stranger++ % st.nstrangers];
				out->probes++;
			}
			l.capno = st.captures[l.source]++;
			if ((rc = push(&p, &l)) != 0)
				goto out;
		}
		/* Partner queries (hit/no-hit), in their own file and stream so the kiosks' plans
		 * are the same with or without them: PERSON CAPTURE_NO ENROLLED CATEGORY. */
		{
			uint64_t nq = (uint64_t)(s->partner_per_day * len + 0.5), q;

			(void)snprintf(path, sizeof(path), "%s/period-%04u.queries", dir, per);
			if ((f = fopen(path, "w")) == NULL) {
				rc = paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
				goto out;
			}
			for (q = 0; q < nq; q++) {
				uint32_t who = 0, tries;
				int in = enrolled > 0 && unit(&rq) < s->partner_enrolled, found = 0;
				struct person_info pi;

				/* Someone of the categories partners ask about: drawn until one is
				 * (at most 64 draws, else the query is not made). */
				for (tries = 0; tries < 64 && !found; tries++) {
					if (in)
						who = st.travellers[below(&rq, enrolled)];
					else if (enrolled < s->people)
						who = st.travellers[enrolled +
								    below(&rq,
									    s->people - enrolled)];
					else if (st.nstrangers > 0)
						who = st.strangers[below(&rq, st.nstrangers)];
					else
						break;
					if ((rc = population_person(st.pop, who, &pi)) != 0) {
						fclose(f);
						goto out;
					}
					found = (s->partner_categories & (1u << pi.category)) != 0;
				}
				if (!found)
					continue;
				fprintf(f, "%u %" PRIu64 " %d %d\n", who,
					WORKLOAD_QUERY_CAPNO + query_no++, in, pi.category);
				out->partner_queries++;
			}
			if (fclose(f) != 0) {
				rc = paso_diag_set(d, PASO_E_IO, "%s: write failed", path);
				goto out;
			}
		}
		(void)snprintf(path, sizeof(path), "%s/period-%04u.plan", dir, per);
		if ((rc = write_plan(path, &p, &h, d)) != 0)
			goto out;
		out->messages += p.n;
	}
	crypto_hash_sha256_final(&h, dg);
	sodium_bin2hex(out->digest, sizeof(out->digest), dg, sizeof(dg));
	out->population = st.population;
	out->periods = periods;
	(void)snprintf(path, sizeof(path), "%s/workload.txt", dir);
	if ((f = fopen(path, "w")) == NULL) {
		rc = paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	fprintf(f,
		"population %u\nperiods %u\nmessages %" PRIu64 "\nenrolments %" PRIu64
		"\nduplicates %" PRIu64 "\ncrossings %" PRIu64 "\nimpostors %" PRIu64
		"\nidentifications %" PRIu64 "\nprobes %" PRIu64 "\npartner_queries %" PRIu64
		"\nsha256 %s\n",
		out->population, out->periods, out->messages, out->enrolments, out->duplicates,
		out->crossings, out->impostors, out->identifications, out->probes,
		out->partner_queries, out->digest);
	if (fclose(f) != 0) {
		rc = paso_diag_set(d, PASO_E_IO, "%s: write failed", path);
		goto out;
	}
	/* The synthetic travellers' cards, so a researcher can trace one (paso trace --card). */
	(void)snprintf(path, sizeof(path), "%s/people.csv", dir);
	if ((f = fopen(path, "w")) == NULL) {
		rc = paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	fprintf(f, "person,category,card,enrolment_order\n");
	for (i = 0; i < s->people; i++) {
		struct person_info pi;
		if (population_person(st.pop, st.travellers[i], &pi) == 0)
			fprintf(f, "%u,%s,%s,%u\n", st.travellers[i],
				population_category_name(pi.category), pi.card, i);
	}
	if (fclose(f) != 0) {
		rc = paso_diag_set(d, PASO_E_IO, "%s: write failed", path);
		goto out;
	}
	rc = 0;
out:
	free(p.l);
	population_free(st.pop);
	free(st.travellers);
	free(st.cat);
	free(st.strangers);
	free(st.spare);
	free(st.captures);
	return rc;
}
