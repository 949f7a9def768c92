/* SPDX-License-Identifier: Apache-2.0 */
/* Measures a policy run after the fact: the hub's audit log and store snapshots against the
 * simulation's ground truth (who really stood at each kiosk). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sys/stat.h>

#include "auditlog.h"
#include "paso.pb-c.h"
#include "policy.h"
#include "report.h"
#include "workload.h"

const char *const run_phase_names[PHASE_N] = {
	"plan", "setup", "traffic", "snapshots", "stop", "measure", "queries"};

enum { K_ENROL = 1, K_CROSS, K_IMPOSTOR, K_IDENTIFY, K_PROBE };
static const char *const kind_words[] = {"", "enrol", "cross", "impostor", "identify", "probe"};

struct truth {
	uint8_t kind, seen;
	uint32_t person, source;
};

struct truthtab {
	struct truth *t[WORKLOAD_NKIOSKS]; /* indexed by seq */
	size_t n[WORKLOAD_NKIOSKS];
};

/* pseudonym -> biometric identity (the population index whose body enrolled). */
struct idmap {
	struct {
		uint8_t p[32];
		uint32_t who;
		uint8_t used;
	} * slot;
	size_t cap, n;
};

static uint64_t
load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int
idmap_put(struct idmap *m, const uint8_t p[32], uint32_t who)
{
	size_t i;

	if (m->n * 2 >= m->cap) {
		struct idmap nm = {NULL, m->cap ? m->cap * 2 : 1024, 0};
		if ((nm.slot = calloc(nm.cap, sizeof(*nm.slot))) == NULL)
			return PASO_E_NOMEM;
		for (i = 0; i < m->cap; i++)
			if (m->slot[i].used)
				(void)idmap_put(&nm, m->slot[i].p, m->slot[i].who);
		free(m->slot);
		*m = nm;
	}
	for (i = load64(p) % m->cap; m->slot[i].used; i = (i + 1) % m->cap)
		if (memcmp(m->slot[i].p, p, 32) == 0) {
			m->slot[i].who = who;
			return 0;
		}
	memcpy(m->slot[i].p, p, 32);
	m->slot[i].who = who;
	m->slot[i].used = 1;
	m->n++;
	return 0;
}

static int
idmap_get(const struct idmap *m, const uint8_t *p, size_t len, uint32_t *who)
{
	size_t i;

	if (m->cap == 0 || len != 32)
		return -1;
	for (i = load64(p) % m->cap; m->slot[i].used; i = (i + 1) % m->cap)
		if (memcmp(m->slot[i].p, p, 32) == 0) {
			*who = m->slot[i].who;
			return 0;
		}
	return -1;
}

static int
kiosk_index(const char *name)
{
	int k;

	for (k = 0; k < WORKLOAD_NKIOSKS; k++)
		if (strcmp(name, workload_kiosks[k]) == 0)
			return k;
	return -1;
}

static int
load_truth(const char *path, struct truthtab *tt, struct measures *m, struct paso_diag *d)
{
	FILE *f = fopen(path, "r");
	char kname[80], kind[16];
	unsigned long long seq;
	unsigned person, source, lineno = 0;
	int k, kk;

	if (f == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	while (fscanf(f, "%79s %llu %15s %u %u", kname, &seq, kind, &person, &source) == 5) {
		lineno++;
		if ((k = kiosk_index(kname)) < 0 || seq > 100000000ULL) {
			fclose(f);
			return paso_diag_set(d, PASO_E_CORRUPT,
				"%s:%u: unknown kiosk or seq: '%s %llu'", path, lineno, kname, seq);
		}
		for (kk = 1; kk <= K_PROBE; kk++)
			if (strcmp(kind, kind_words[kk]) == 0)
				break;
		if (seq == 0) {
			m->capture_failures++;
			continue;
		}
		if (seq >= tt->n[k]) {
			size_t cap = tt->n[k] ? tt->n[k] : 1024;
			struct truth *nt;
			while (cap <= seq)
				cap *= 2;
			if ((nt = realloc(tt->t[k], cap * sizeof(*nt))) == NULL) {
				fclose(f);
				return PASO_E_NOMEM;
			}
			memset(nt + tt->n[k], 0, (cap - tt->n[k]) * sizeof(*nt));
			tt->t[k] = nt;
			tt->n[k] = cap;
		}
		tt->t[k][seq].kind = (uint8_t)(kk <= K_PROBE ? kk : 0);
		tt->t[k][seq].person = person;
		tt->t[k][seq].source = source;
	}
	fclose(f);
	return 0;
}

/* A number from a flat JSON object ("key":N), as paso-hub stats --json prints it. */
static uint64_t
json_u64(const char *text, const char *key)
{
	char pat[64];
	const char *p;

	(void)snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(text, pat)) == NULL)
		return 0;
	return strtoull(p + strlen(pat), NULL, 10);
}

static int
load_snapshots(const struct scenario *s, struct measures *m, struct paso_diag *d)
{
	uint32_t periods = (s->days + s->period_days - 1) / s->period_days, p;
	char path[4200], text[2048];
	FILE *f;
	size_t n;

	if ((m->held = calloc(periods, sizeof(*m->held))) == NULL)
		return PASO_E_NOMEM;
	for (p = 0; p < periods; p++) {
		struct held_point *h = &m->held[p];

		(void)snprintf(path, sizeof(path), "%s/stats/period-%04u.json", m->rundir, p);
		if ((f = fopen(path, "r")) == NULL)
			return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		if (strstr(text, "\"subjects\":") == NULL)
			return paso_diag_set(
				d, PASO_E_CORRUPT, "%s: not paso-hub stats --json output", path);
		h->day = (p + 1) * s->period_days > s->days ? s->days : (p + 1) * s->period_days;
		h->subjects = json_u64(text, "subjects");
		h->finger = json_u64(text, "with_finger");
		h->face = json_u64(text, "with_face");
		h->iris = json_u64(text, "with_iris");
		h->store_bytes = json_u64(text, "store_bytes");
		h->crossings = json_u64(text, "crossings");
		h->identifications = json_u64(text, "identifications");
		m->nheld++;
	}
	if (m->nheld > 0)
		m->store_bytes = m->held[m->nheld - 1].store_bytes;
	return 0;
}

/*
 * People a DELETE entry erased: one per entry naming a subject, or the count a retention sweep
 * states ("retention sweep: erased N enrolments ..."), which erases a whole expiry day at once
 * and names no one.
 */
static void
count_erased(const Paso__AuditEntry *e, uint64_t *period, uint64_t *total)
{
	unsigned long long n = 0;
	int end = 0;

	/* The whole phrase must match: sscanf counts the number as converted even when the words
	 * after it differ, and a sweep of crossings ("erased N crossing records") erases no one. */
	if (e->subject.len == 32)
		n = 1;
	else if (sscanf(e->detail, "retention sweep: erased %llu enrolments%n", &n, &end) != 1 ||
		 end == 0)
		n = 0;
	*period += n;
	*total += n;
}

/* A partner pseudonym a SHARE entry names ("... as HEX"), by partner and period. */
struct named {
	uint8_t pp[32];
	uint32_t partner, period;
};

static int
named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c;

	if (x->partner != y->partner)
		return x->partner < y->partner ? -1 : 1;
	if ((c = memcmp(x->pp, y->pp, 32)) != 0)
		return c;
	return x->period < y->period ? -1 : x->period > y->period;
}

/* Notes the partner pseudonym of a SHARE entry to one of m's partners. */
static int
note_named(const struct measures *m, const Paso__AuditEntry *e, size_t period, struct named **v,
	size_t *n, size_t *cap)
{
	const char *at = strstr(e->detail, " as ");
	size_t k, bin = 0;
	struct named *nv;

	for (k = 0; k < m->npartners && strcmp(m->partners[k], e->recipient) != 0; k++)
		;
	if (k == m->npartners || at == NULL || strlen(at + 4) < 64)
		return 0;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		if ((nv = realloc(*v, *cap * sizeof(**v))) == NULL)
			return PASO_E_NOMEM;
		*v = nv;
	}
	if (sodium_hex2bin((*v)[*n].pp, 32, at + 4, 64, NULL, &bin, NULL) != 0 || bin != 32)
		return 0;
	(*v)[*n].partner = (uint32_t)k;
	(*v)[*n].period = (uint32_t)period;
	(*n)++;
	return 0;
}

/* Each partner's linkable people per period: distinct named pseudonyms so far, at most held. */
static void
count_linkable(struct measures *m, struct named *v, size_t n)
{
	uint64_t *first;
	size_t i, k, p;

	if (m->partner_held == NULL || m->nheld == 0 ||
		(first = calloc(m->npartners * m->nheld, sizeof(*first))) == NULL)
		return;
	qsort(v, n, sizeof(*v), named_cmp);
	for (i = 0; i < n; i++)
		if (i == 0 || v[i].partner != v[i - 1].partner ||
			memcmp(v[i].pp, v[i - 1].pp, 32) != 0)
			first[v[i].partner * m->nheld + v[i].period]++;
	for (k = 0; k < m->npartners; k++) {
		uint64_t sum = 0;

		for (p = 0; p < m->nheld; p++) {
			struct held_point *h = &m->partner_held[k * m->nheld + p];

			sum += first[k * m->nheld + p];
			h->linkable = sum < h->subjects ? sum : h->subjects;
		}
	}
	free(first);
}

static void
count_share(struct measures *m, const Paso__AuditEntry *e)
{
	/* The mode is in the entry's detail: "shared templates ...", "shared record ...";
	 * published statistics say "release: ...". */
	const char *mode = strncmp(e->detail, "shared templates", 16) == 0 ? "templates"
			   : strncmp(e->detail, "shared record", 13) == 0  ? "records"
			   : strncmp(e->detail, "release:", 8) == 0        ? "statistics"
									   : "other";
	size_t i;

	for (i = 0; i < m->nshares; i++)
		if (strcmp(m->shares[i].recipient, e->recipient) == 0 &&
			strcmp(m->shares[i].mode, mode) == 0 &&
			strncmp(m->shares[i].purpose, e->purpose,
				sizeof(m->shares[i].purpose) - 1) == 0) {
			m->shares[i].n++;
			return;
		}
	if (m->nshares == REPORT_MAX_PARTIES)
		return;
	(void)snprintf(m->shares[i].recipient, sizeof(m->shares[i].recipient), "%s", e->recipient);
	(void)snprintf(m->shares[i].purpose, sizeof(m->shares[i].purpose), "%s", e->purpose);
	(void)snprintf(m->shares[i].mode, sizeof(m->shares[i].mode), "%s", mode);
	m->shares[i].n = 1;
	m->nshares++;
}

/* Judges one kiosk message's audit entry against what really happened. */
static int
judge(struct measures *m, struct idmap *ids, const Paso__AuditEntry *e, struct truth *t)
{
	Paso__Decision dec = e->match ? e->match->decision : PASO__DECISION__DECISION_NONE;
	uint32_t who;
	int reject = e->action == PASO__ACTION__REJECT;

	t->seen = 1;
	switch (t->kind) {
	case K_ENROL:
		if (t->person == t->source) { /* a new person's first enrolment */
			m->enrol++;
			if (e->action == PASO__ACTION__ENROLL) {
				m->enrol_ok++;
				if (e->subject.len == 32)
					return idmap_put(ids, e->subject.data, t->source);
			} else if (reject && e->code == PASO_E_DUPLICATE)
				m->enrol_wrong_dup++;
			else
				m->enrol_refused++;
			return 0;
		}
		m->dups++; /* someone already enrolled, with a new card */
		if (e->action == PASO__ACTION__ENROLL) {
			m->dups_missed++;
			if (e->subject.len == 32)
				return idmap_put(ids, e->subject.data, t->source);
		} else if (reject && e->code == PASO_E_DUPLICATE) {
			if (idmap_get(ids, e->subject.data, e->subject.len, &who) == 0 &&
				who == t->source)
				m->dups_caught++;
			else
				m->dups_wrong_candidate++;
		} else
			m->dups_missed++;
		return 0;
	case K_CROSS:
		m->genuine++;
		if (reject)
			m->genuine_refused++;
		else if (dec == PASO__DECISION__MATCH)
			m->genuine_match++;
		else if (dec == PASO__DECISION__NO_MATCH)
			m->genuine_nonmatch++;
		else
			m->genuine_undecided++;
		return 0;
	case K_IMPOSTOR:
		m->impostor++;
		if (reject)
			m->impostor_refused++;
		else if (dec == PASO__DECISION__MATCH)
			m->impostor_match++;
		else if (dec == PASO__DECISION__NO_MATCH)
			m->impostor_nonmatch++;
		else
			m->impostor_undecided++;
		return 0;
	case K_IDENTIFY:
		m->ident++;
		if (dec == PASO__DECISION__IDENTIFIED &&
			idmap_get(ids, e->subject.data, e->subject.len, &who) == 0)
			who == t->source ? m->ident_right++ : m->ident_wrong++;
		else if (dec == PASO__DECISION__IDENTIFIED)
			m->ident_wrong++;
		else
			m->ident_missed++;
		return 0;
	case K_PROBE:
		m->probes++;
		m->probe_hits += dec == PASO__DECISION__IDENTIFIED;
		return 0;
	}
	return 0;
}

/*
 * The partners' side: their stats snapshots (stats/partner-NAME-period-NNNN.json: what each
 * holds over time) and the queries the first one sent (queries.txt), judged against the truth
 * the planner wrote with them.
 */
static int
load_partners(const struct scenario *s, struct measures *m, struct paso_diag *d)
{
	uint32_t periods = (s->days + s->period_days - 1) / s->period_days, p;
	char path[4400], text[2048];
	unsigned long day, who, in, cat;
	uint32_t cats = 0;
	int res;
	size_t k, n;
	FILE *f;

	if (m->npartners == 0)
		return 0;
	if ((m->partner_held = calloc(m->npartners * periods, sizeof(*m->partner_held))) == NULL)
		return PASO_E_NOMEM;
	for (k = 0; k < m->npartners; k++)
		for (p = 0; p < periods; p++) {
			struct held_point *h = &m->partner_held[k * periods + p];

			(void)snprintf(path, sizeof(path), "%s/stats/partner-%s-period-%04u.json",
				m->rundir, m->partners[k], p);
			if ((f = fopen(path, "r")) == NULL)
				return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
			n = fread(text, 1, sizeof(text) - 1, f);
			fclose(f);
			text[n] = '\0';
			if (strstr(text, "\"subjects\":") == NULL)
				return paso_diag_set(d, PASO_E_CORRUPT,
					"%s: not paso-hub stats --json output", path);
			h->day = (p + 1) * s->period_days > s->days ? s->days
								    : (p + 1) * s->period_days;
			h->subjects = json_u64(text, "subjects");
			h->finger = json_u64(text, "with_finger");
			h->face = json_u64(text, "with_face");
			h->iris = json_u64(text, "with_iris");
			h->store_bytes = json_u64(text, "store_bytes");
			h->crossings = json_u64(text, "crossings");
		}
	/* The categories the policy lets the partner ask about for this purpose. */
	{
		struct paso_diag pd = {0};
		struct policy *pol = NULL;
		const struct policy_settings *ps;

		if (policy_load_file(m->policy_path, &pol, &pd) != 0)
			return paso_diag_set(d, PASO_E_INVALID_ARG, "%s", pd.msg);
		ps = policy_settings(pol);
		for (k = 0; k < ps->nsharing; k++)
			if (ps->sharing[k].what == POLICY_SHARE_HIT_NO_HIT &&
				strcmp(ps->sharing[k].partner, m->partners[0]) == 0 &&
				s->partner_purpose != NULL &&
				strcmp(ps->sharing[k].purpose, s->partner_purpose) == 0)
				cats |= ps->sharing[k].categories;
		policy_free(pol);
	}
	(void)snprintf(path, sizeof(path), "%s/queries.txt", m->rundir);
	if ((f = fopen(path, "r")) == NULL)
		return 0; /* no query was planned */
	while (fgets(text, sizeof(text), f) != NULL) {
		if (sscanf(text, "%lu %lu %lu %d %lu", &day, &who, &in, &res, &cat) != 5) {
			fclose(f);
			return paso_diag_set(d, PASO_E_CORRUPT, "%s: bad line '%s'", path, text);
		}
		m->queries++;
		if (res == 0) {
			m->query_hits++;
			m->query_wrongful_hits += in == 0;
			/* A hit about someone the rule does not cover discloses their enrolment. */
			m->query_hits_outside_rule += cat > 31 || !(cats & (1u << cat));
		} else if (res == 3) {
			m->query_nohits++;
			m->query_missed += in != 0;
		} else
			m->query_refused++;
	}
	fclose(f);
	return 0;
}

int
measures_compute(const struct scenario *s, struct measures *m, struct paso_diag *d)
{
	struct truthtab tt;
	struct idmap ids = {NULL, 0, 0};
	struct auditlog *log = NULL;
	Paso__AuditEntry *e = NULL;
	uint64_t i, size, period_s = (uint64_t)s->period_days * 86400u, *enrolled = NULL,
			  *deleted = NULL;
	uint8_t *buf = NULL;
	struct named *named = NULL;
	size_t len, p, nnamed = 0, capnamed = 0;
	char path[4200];
	struct stat sb;
	int r, k;

	memset(&tt, 0, sizeof(tt));
	if ((r = load_snapshots(s, m, d)) != 0 || (r = load_partners(s, m, d)) != 0)
		goto out;
	(void)snprintf(path, sizeof(path), "%s/truth.txt", m->rundir);
	if ((r = load_truth(path, &tt, m, d)) != 0)
		goto out;
	(void)snprintf(path, sizeof(path), "%s/hub/audit", m->rundir);
	if ((r = auditlog_open_readonly(path, &log, d)) != 0)
		goto out;
	(void)snprintf(path, sizeof(path), "%s/hub/audit/entries", m->rundir);
	if (stat(path, &sb) == 0)
		m->audit_bytes = (uint64_t)sb.st_size;
	if ((enrolled = calloc(m->nheld + 1, sizeof(uint64_t))) == NULL ||
		(deleted = calloc(m->nheld + 1, sizeof(uint64_t))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	size = auditlog_size(log);
	m->audit_entries = size;
	for (i = 0; i < size; i++) {
		if ((r = auditlog_entry(log, i, &buf, &len)) != 0)
			goto out;
		if ((e = paso__audit_entry__unpack(NULL, len, buf)) == NULL) {
			r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"%s: entry %" PRIu64 " does not decode", path, i);
			goto out;
		}
		free(buf);
		buf = NULL;
		p = e->time >= s->start ? (size_t)((e->time - s->start) / period_s) : 0;
		if (p >= m->nheld)
			p = m->nheld ? m->nheld - 1 : 0;
		if (e->action == PASO__ACTION__ENROLL)
			enrolled[p]++;
		else if (e->action == PASO__ACTION__DELETE)
			count_erased(e, &deleted[p], &m->deletes);
		else if (e->action == PASO__ACTION__SHARE) {
			count_share(m, e);
			if ((r = note_named(m, e, p, &named, &nnamed, &capnamed)) != 0)
				goto out;
		}
		if (e->kiosk_seq > 0 && e->action != PASO__ACTION__REPLAYED &&
			(k = kiosk_index(e->actor)) >= 0) {
			m->kiosk_messages++;
			if (e->kiosk_seq < tt.n[k] && tt.t[k][e->kiosk_seq].kind != 0 &&
				(r = judge(m, &ids, e, &tt.t[k][e->kiosk_seq])) != 0)
				goto out;
		}
		paso__audit_entry__free_unpacked(e, NULL);
		e = NULL;
	}
	count_linkable(m, named, nnamed);
	for (p = 0; p < m->nheld; p++) {
		uint64_t prev = p ? m->held[p - 1].audit_people : 0;
		m->held[p].audit_people = prev + enrolled[p] - deleted[p];
	}
	for (k = 0; k < WORKLOAD_NKIOSKS; k++)
		for (i = 0; i < tt.n[k]; i++)
			m->truth_unmatched += tt.t[k][i].kind != 0 && !tt.t[k][i].seen;
	m->ok = 1;
	r = 0;
out:
	if (e != NULL)
		paso__audit_entry__free_unpacked(e, NULL);
	free(buf);
	auditlog_close(log);
	for (k = 0; k < WORKLOAD_NKIOSKS; k++)
		free(tt.t[k]);
	free(ids.slot);
	free(enrolled);
	free(deleted);
	free(named);
	return r;
}

void
measures_clear(struct measures *m)
{
	free(m->held);
	m->held = NULL;
	free(m->partner_held);
	m->partner_held = NULL;
	m->nheld = 0;
}
