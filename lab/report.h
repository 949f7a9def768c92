/* SPDX-License-Identifier: Apache-2.0 */
/* What a policy run did, measured after it from the parties' audit logs and stores. */
#ifndef PASO_REPORT_H
#define PASO_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "scenario.h"
#include "workload.h"

/* One store snapshot: `paso-hub stats --json` after a period, plus the audit log's count. */
struct held_point {
	uint32_t day; /* days since the scenario's start, at the end of the period */
	uint64_t subjects, finger, face, iris, store_bytes, crossings, identifications;
	uint64_t audit_people; /* ENROLL entries up to then, less subjects erased (DELETE) */
	/* At a partner: of the people it holds, how many the national hub's public log ties to
	 * the hub's pseudonym (each SHARE names both; at most subjects). */
	uint64_t linkable;
};

#define REPORT_MAX_PARTIES 16

/* Disclosures to one partner for one purpose in one mode (SHARE entries). */
struct share_count {
	char recipient[65];
	char purpose[129];
	char mode[16]; /* templates, records, statistics (published), other */
	uint64_t n;
};

enum run_phase {
	PHASE_PLAN,
	PHASE_SETUP,
	PHASE_TRAFFIC,
	PHASE_SNAPSHOT,
	PHASE_STOP,
	PHASE_MEASURE,
	PHASE_QUERIES, /* the partner's hit/no-hit queries (last: cost.csv's columns stay put) */
	PHASE_N
};
extern const char *const run_phase_names[PHASE_N];

struct measures {
	char policy[65];   /* the policy's name */
	char rundir[4096]; /* DIR/POLICY: hub/, stats/, truth.txt */
	char policy_path[4096];
	char capture[32];        /* what its kiosks capture: the policy's capture.* keys */
	uint32_t retention_days; /* the policy's retention_days.enrolment */
	struct held_point *held; /* one per period */
	size_t nheld;
	/* Decisions against the ground truth, from CROSSING, IDENTIFY, ENROLL and REJECT entries. */
	uint64_t genuine, genuine_match, genuine_nonmatch, genuine_undecided, genuine_refused;
	uint64_t impostor, impostor_match, impostor_nonmatch, impostor_undecided, impostor_refused;
	uint64_t ident, ident_right, ident_wrong, ident_missed;
	uint64_t probes, probe_hits;
	uint64_t enrol, enrol_ok, enrol_wrong_dup, enrol_refused;
	uint64_t dups, dups_caught, dups_missed, dups_wrong_candidate;
	uint64_t capture_failures; /* the kiosks' truth file: nothing was sent */
	uint64_t truth_unmatched;  /* truth lines whose (kiosk, seq) has no audit entry */
	/* Sharing and erasure (SHARE, DELETE entries): zero until partners and retention exist. */
	struct share_count shares[REPORT_MAX_PARTIES];
	size_t nshares;
	uint64_t deletes;
	/* Partners (a policy's sharing rules): their own stats snapshots, and the queries sent
	 * (DIR/queries.txt) judged against the planned truth. */
	char partners[4][65];
	size_t npartners;
	struct held_point *partner_held; /* nheld per partner, partner k at [k * nheld] */
	uint64_t queries, query_hits, query_nohits, query_refused;
	uint64_t query_wrongful_hits;     /* hits on a probe of someone not enrolled */
	uint64_t query_missed;            /* no hit on a probe of someone enrolled */
	uint64_t query_hits_outside_rule; /* hits about people the hit_no_hit rule does not cover */
	/* Cost. */
	uint64_t kiosk_messages; /* audit entries whose actor is a kiosk */
	uint64_t audit_entries, audit_bytes, store_bytes;
	double seconds[PHASE_N];
	int ok; /* 1 once measured */
};

/*
 * Measures the run in m->rundir: reads its hub's audit log (read-only, every entry), the
 * stats snapshots stats/period-NNNN.json and the kiosks' truth.txt. Sets every figure of m
 * but seconds. Returns 0, or PASO_E_IO / PASO_E_AUDIT_CORRUPT / PASO_E_NOMEM (d says which
 * file). Caller frees m->held (measures_clear).
 */
int measures_compute(const struct scenario *s, struct measures *m, struct paso_diag *d);
void measures_clear(struct measures *m);

/*
 * Writes DIR/report.html (self-contained: inline SVG, no script, no network), DIR/held.csv,
 * decisions.csv, sharing.csv, exposure.csv, cost.csv, summary.json and one
 * dataflow-POLICY.dot per policy. Returns 0 or PASO_E_IO (d names the file).
 */
int report_write(const char *dir, const struct scenario *s, const struct workload_info *w,
	const struct measures *m, size_t n, struct paso_diag *d);

#endif
