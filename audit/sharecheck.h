/* SPDX-License-Identifier: Apache-2.0 */
/* Cross-log check: every SHARE in a national log has its RECEIVE in the partner's, and back. */
#ifndef PASO_SHARECHECK_H
#define PASO_SHARECHECK_H

#include <stdint.h>
#include <stdio.h>

#include "checkpoint.h"
#include "errors.h"

/*
 * Both logs are first verified in full against their checkpoints (signed by nv and pv). Then,
 * within the signed prefix of each: a national SHARE entry to `partner` (recipient) names the
 * per-partner pseudonym and share_seq in its detail ("shared ... as HEX (share_seq N)"); the
 * partner's RECEIVE entry from `national` (actor) carries that pseudonym as subject and
 * "(share_seq N)" in its detail, under the same rule. Each pair must match one to one, and
 * each entry's inclusion proof is checked against its log's signed root. Unmatched entries are
 * listed on out (at most 20 of each kind). Sets the counts. Returns 0 when everything matches,
 * PASO_E_PROOF_INVALID when something does not, or the verification's error (d says which log).
 */
struct sharecheck_report {
	uint64_t shares, receives, matched, unmatched_shares, unmatched_receives;
	uint64_t unsigned_entries; /* entries past a checkpoint, not examined */
};

int sharecheck_run(const char *national_auditdir, const struct checkpoint_verifier *nv,
	const char *national, const char *partner_auditdir, const struct checkpoint_verifier *pv,
	const char *partner, FILE *out, struct sharecheck_report *rep, struct paso_diag *d);

#endif
