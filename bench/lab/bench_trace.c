/* SPDX-License-Identifier: Apache-2.0 */
/* bench_trace: one person's acts in a large audit log, through the trace index, against reading
 * the whole log (the baseline: what trace does without an index). Not a test. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "merkle.h"
#include "paso.pb-c.h"
#include "traceindex.h"
#include "../benchclock.h"

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench_trace: %s: %s\n", what, paso_strerror(r));
	exit(1);
}

/* Subject k's pseudonym: a hash of k (stands in for the hub's keyed pseudonym). */
static void
pseud(uint64_t k, uint8_t out[32])
{
	crypto_generichash(out, 32, (const uint8_t *)&k, sizeof(k), NULL, 0);
}

/* The acts of the target: reads each listed entry, checks it, proves it. Returns the count. */
static size_t
acts_indexed(struct auditlog *log, struct traceindex *ix, const uint8_t p[32], uint64_t size)
{
	uint8_t(*path)[MERKLE_HASH_BYTES] = malloc(MERKLE_MAX_PROOF * MERKLE_HASH_BYTES), *buf;
	uint64_t *list = NULL;
	size_t n = 0, k, np, len;
	int r;

	if ((r = traceindex_lookup(ix, p, size, &list, &n)) != 0)
		die("lookup", r);
	for (k = 0; k < n; k++) {
		Paso__AuditEntry *e;
		if ((r = auditlog_entry(log, list[k], &buf, &len)) != 0)
			die("entry", r);
		e = paso__audit_entry__unpack(NULL, len, buf);
		free(buf);
		if (e == NULL || e->subject.len != 32 || memcmp(e->subject.data, p, 32) != 0)
			die("index disagrees with the log", PASO_E_CORRUPT);
		paso__audit_entry__free_unpacked(e, NULL);
		if ((r = auditlog_inclusion(log, list[k], size, path, MERKLE_MAX_PROOF, &np)) != 0)
			die("inclusion", r);
	}
	free(list);
	free(path);
	return n;
}

/* The baseline: every entry read and decoded, the target's kept. */
static size_t
acts_scan(struct auditlog *log, const uint8_t p[32], uint64_t size)
{
	uint8_t *buf;
	size_t len, n = 0;
	uint64_t i;
	int r;

	for (i = 0; i < size; i++) {
		Paso__AuditEntry *e;
		if ((r = auditlog_entry(log, i, &buf, &len)) != 0)
			die("entry", r);
		e = paso__audit_entry__unpack(NULL, len, buf);
		free(buf);
		if (e == NULL)
			die("decode", PASO_E_CORRUPT);
		n += e->subject.len == 32 && memcmp(e->subject.data, p, 32) == 0;
		paso__audit_entry__free_unpacked(e, NULL);
	}
	return n;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	uint64_t entries = 1000000, subjects, i;
	const char *base = "/var/tmp";
	char dir[4096], adir[4200], idir[4200], *skey = NULL, *vkey = NULL;
	struct checkpoint_signer *s = NULL;
	struct auditlog *log = NULL;
	struct traceindex *ix = NULL;
	struct paso_diag d = {0};
	uint8_t p[32], target[32], buf[512];
	double t0, t_write, t_index, t_scan, lat[9];
	size_t n_idx = 0, n_scan, k;
	int a, r;

	for (a = 1; a + 1 < argc; a += 2) {
		if (strcmp(argv[a], "--entries") == 0)
			entries = strtoull(argv[a + 1], NULL, 10);
		else if (strcmp(argv[a], "--dir") == 0)
			base = argv[a + 1];
	}
	if (sodium_init() < 0 || entries < 1000)
		return 1;
	subjects = entries / 20; /* about 20 acts per person, as a frequent crosser has */
	(void)snprintf(dir, sizeof(dir), "%s/paso-bench-trace-XXXXXX", base);
	if (mkdtemp(dir) == NULL)
		return 1;
	(void)snprintf(adir, sizeof(adir), "%s/audit", dir);
	(void)snprintf(idir, sizeof(idir), "%s/trace-index", dir);
	if (checkpoint_keygen("bench.paso/trace", &skey, &vkey) != 0 ||
		checkpoint_signer_from_text(skey, &s) != 0)
		die("keygen", PASO_E_INTERNAL);
	if ((r = auditlog_open(adir, &log, &d)) != 0)
		die(d.msg, r);
	t0 = now_s();
	pseud(7, target);
	for (i = 0; i < entries; i++) {
		Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
		size_t len;

		pseud(i % subjects, p);
		e.time = 1798761600u + i;
		e.actor = "kiosk-talisman";
		e.action = PASO__ACTION__CROSSING;
		e.subject.data = p;
		e.subject.len = 32;
		e.kiosk_seq = i + 1;
		e.purpose = "verification";
		e.policy_rule = "match.verify_fmr";
		e.crossing_point = "Talismán";
		len = paso__audit_entry__pack(&e, buf);
		if ((r = auditlog_append(log, buf, len, NULL)) != 0)
			die("append", r);
		if ((i + 1) % 1000000 == 0 && (r = auditlog_checkpoint(log, s)) != 0)
			die("checkpoint", r);
	}
	if ((r = auditlog_checkpoint(log, s)) != 0)
		die("checkpoint", r);
	auditlog_close(log);
	t_write = now_s() - t0;
	if ((r = auditlog_open_readonly(adir, &log, &d)) != 0)
		die(d.msg, r);
	if ((r = traceindex_open(idir, &ix, &d)) != 0)
		die(d.msg, r);
	t0 = now_s();
	if ((r = traceindex_update(ix, log, entries, NULL, &d)) != 0)
		die(d.msg, r);
	t_index = now_s() - t0;
	for (k = 0; k < 9; k++) {
		pseud((7 + k * 1009) % subjects, p);
		t0 = now_s();
		/* What trace does once the index exists: bring it up to date (nothing new) and read
		 * and prove the person's entries. */
		if ((r = traceindex_update(ix, log, entries, NULL, &d)) != 0)
			die(d.msg, r);
		n_idx = acts_indexed(log, ix, p, entries);
		lat[k] = now_s() - t0;
	}
	qsort(lat, 9, sizeof(lat[0]), cmp_d);
	t0 = now_s();
	n_scan = acts_scan(log, target, entries);
	t_scan = now_s() - t0;
	printf("trace of one person in a log of %" PRIu64 " entries (%" PRIu64 " people, ~%" PRIu64
	       " acts each)\n",
		entries, subjects, entries / subjects);
	printf("  writing the log: %.1f s; building the trace index once: %.1f s (%.0f entries/s)\n",
		t_write, t_index, (double)entries / t_index);
	printf("  indexed trace (update + %zu entries read, checked and proved): median %.4f s, "
	       "range %.4f..%.4f over 9 people\n",
		n_idx, lat[4], lat[0], lat[8]);
	printf("  baseline, reading every entry (trace --no-index): %.2f s for %zu acts; ratio "
	       "%.5f\n",
		t_scan, n_scan, lat[4] / t_scan);
	traceindex_close(ix);
	auditlog_close(log);
	checkpoint_signer_free(s);
	checkpoint_text_free(skey);
	checkpoint_text_free(vkey);
	{
		char cmd[4300];
		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_trace: could not remove %s\n", dir);
	}
	return 0;
}
