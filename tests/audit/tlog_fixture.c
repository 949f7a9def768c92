/* SPDX-License-Identifier: Apache-2.0 */
/* Test fixture: grows a real audit log and its tiles the way the hub's commit loop does. */
#include "tlog_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paso.pb-c.h"

uint8_t *
fixture_entry(uint64_t i, unsigned seed, size_t *lenp)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	char actor[32], detail[96];
	uint8_t *b;

	(void)snprintf(actor, sizeof(actor), "kiosk-%02u", (unsigned)(i % 7));
	(void)snprintf(
		detail, sizeof(detail), "test entry %llu of run %u", (unsigned long long)i, seed);
	e.time = 1764460800u + i;
	e.actor = actor;
	e.action = (Paso__Action)(1 + i % 3);
	e.kiosk_seq = i + 1;
	e.detail = detail;
	e.purpose = (char *)(i % 2 ? "verification" : "enrolment");
	*lenp = paso__audit_entry__get_packed_size(&e);
	if ((b = malloc(*lenp)) == NULL)
		return NULL;
	paso__audit_entry__pack(&e, b);
	return b;
}

int
fixture_grow(const char *auditdir, const char *tilesdir, const struct checkpoint_signer *s,
	uint64_t n, unsigned seed, uint64_t *published_sizes, size_t cap, size_t *npublished)
{
	static const unsigned groups[] = {1, 7, 3000, 33, 10000, 2, 255, 256, 5130, 90, 700};
	struct paso_diag d = {0};
	struct auditlog *log = NULL;
	struct tiles *t = NULL;
	char *note = NULL;
	uint8_t *e;
	uint64_t target, i;
	size_t len, g = 0, nl;
	int r;

	if (npublished != NULL)
		*npublished = 0;
	if ((r = auditlog_open(auditdir, &log, &d)) != 0 || (r = tiles_open(tilesdir, &t, &d)) != 0)
		goto out;
	target = auditlog_size(log) + n;
	while (auditlog_size(log) < target) {
		unsigned k = groups[(g + seed) % (sizeof(groups) / sizeof(groups[0]))];

		for (i = 0; i < k && auditlog_size(log) < target; i++) {
			if ((e = fixture_entry(auditlog_size(log), seed, &len)) == NULL) {
				r = PASO_E_NOMEM;
				goto out;
			}
			r = auditlog_append(log, e, len, NULL);
			free(e);
			if (r != 0)
				goto out;
		}
		if ((r = auditlog_sync(log)) != 0 || (r = tiles_sync(t, log, &d)) != 0)
			goto out;
		if (++g % 4 == 0 || auditlog_size(log) == target) {
			if ((r = auditlog_checkpoint(log, s)) != 0 ||
				(r = auditlog_latest_checkpoint(log, &note, &nl)) != 0 ||
				(r = tiles_publish(t, log, note, nl, &d)) != 0)
				goto out;
			free(note);
			note = NULL;
			if (published_sizes != NULL && *npublished < cap)
				published_sizes[(*npublished)++] = auditlog_size(log);
		}
	}
	r = 0;
out:
	if (r != 0)
		fprintf(stderr, "fixture_grow: %s: %s\n", paso_errname(r), d.msg);
	free(note);
	tiles_close(t);
	auditlog_close(log);
	return r;
}
