/* SPDX-License-Identifier: Apache-2.0 */
/* paso stats --publish: differentially private counts from a deployment's audit log, each
 * release recorded in that log and charged to a budget that cannot be exceeded. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auditlog.h"
#include "deploy.h"
#include "dpstats.h"
#include "instant.h"
#include "keyring.h"
#include "lab.h"
#include "paso.pb-c.h"
#include "policy.h"
#include "vault.h"

#define RELEASE_PURPOSE "published statistics (differential privacy)"
#define NTABLES 3
#define MAX_CELLS 256

/* An exact non-negative rational. */
struct q {
	uint64_t n, d;
};

static uint64_t
gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static struct q
qnorm(struct q x)
{
	uint64_t g = gcd(x.n, x.d);

	if (g > 1) {
		x.n /= g;
		x.d /= g;
	}
	return x;
}

/* a + b; -1 on overflow. */
static int
qadd(struct q a, struct q b, struct q *out)
{
	uint64_t g = gcd(a.d, b.d), l = a.d / g;

	if (l > UINT64_MAX / b.d || a.n > UINT64_MAX / (b.d / g) || b.n > UINT64_MAX / l ||
		a.n * (b.d / g) > UINT64_MAX - b.n * l)
		return -1;
	*out = qnorm((struct q){a.n * (b.d / g) + b.n * l, l * b.d});
	return 0;
}

/* -1, 0, 1 as a <, =, > b (128-bit products). */
static int
qcmp(struct q a, struct q b)
{
	unsigned __int128 x = (unsigned __int128)a.n * b.d, y = (unsigned __int128)b.n * a.d;

	return x < y ? -1 : x > y;
}

/* "N/D" or "N" with 1 <= D, N <= 2^20: small enough that no product overflows. */
static int
qparse(const char *s, struct q *out)
{
	char *end;
	unsigned long long n, d = 1;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end == '/') {
		const char *p = end + 1;
		if (*p < '0' || *p > '9')
			return -1;
		d = strtoull(p, &end, 10);
	}
	if (errno != 0 || *end != '\0' || n == 0 || d == 0 || n > (1u << 20) || d > (1u << 20))
		return -1;
	*out = qnorm((struct q){n, d});
	return 0;
}

static void
qfmt(struct q x, char *buf, size_t cap)
{
	if (x.d == 1)
		(void)snprintf(buf, cap, "%" PRIu64, x.n);
	else
		(void)snprintf(buf, cap, "%" PRIu64 "/%" PRIu64, x.n, x.d);
}

struct cell {
	char key[64];
	uint64_t count;
	int64_t noisy;
};

struct table {
	const char *title;
	uint64_t sensitivity;
	struct cell cells[MAX_CELLS];
	size_t n;
};

static struct cell *
cell(struct table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->cells[i].key, key) == 0)
			return &t->cells[i];
	if (t->n == MAX_CELLS)
		return NULL;
	(void)snprintf(t->cells[t->n].key, sizeof(t->cells[0].key), "%s", key);
	return &t->cells[t->n++];
}

/* Per-person crossing counts, for bounding what one person adds (keyed by pseudonym). */
struct clip {
	struct {
		uint8_t p[32];
		uint32_t n;
	} * slot;
	size_t cap, used;
};

static uint32_t *
clip_slot(struct clip *c, const uint8_t p[32])
{
	size_t i;
	uint64_t h;

	if (c->used * 2 >= c->cap) {
		struct clip nc = {NULL, c->cap ? c->cap * 2 : 4096, 0};
		if ((nc.slot = calloc(nc.cap, sizeof(*nc.slot))) == NULL)
			return NULL;
		for (i = 0; i < c->cap; i++)
			if (c->slot[i].n) {
				uint32_t *s = clip_slot(&nc, c->slot[i].p);
				*s = c->slot[i].n;
			}
		free(c->slot);
		*c = nc;
	}
	memcpy(&h, p, 8);
	for (i = h % c->cap; c->slot[i].n; i = (i + 1) % c->cap)
		if (memcmp(c->slot[i].p, p, 32) == 0)
			return &c->slot[i].n;
	memcpy(c->slot[i].p, p, 32);
	c->used++;
	return &c->slot[i].n;
}

/* What the log says: the counts, and every earlier release (budget and epsilons). */
struct census {
	struct table t[NTABLES];
	struct q spent, budget;
	int have_budget;
	uint64_t releases, entries;
};

static const char *const points[] = {
	"Ciudad Hidalgo", "Talismán", "Ciudad Cuauhtémoc", "El Ceibo", "Siglo XXI, Tapachula"};

static int
read_log(const char *auditdir, uint64_t max_cross, struct census *c, struct paso_diag *d)
{
	static const char *const cats[] = {
		"regional_visitor", "border_worker", "migrant_in_transit", "detainee"};
	struct auditlog *log = NULL;
	struct clip clip = {NULL, 0, 0};
	Paso__AuditEntry *e = NULL;
	uint8_t *buf = NULL;
	uint64_t i, first = 0, last = 0;
	size_t len, k;
	int r;

	for (k = 0; k < 4; k++)
		(void)cell(&c->t[0], cats[k]);
	for (k = 0; k < sizeof(points) / sizeof(points[0]); k++)
		(void)cell(&c->t[1], points[k]);
	c->spent = (struct q){0, 1};
	if ((r = auditlog_open_readonly(auditdir, &log, d)) != 0)
		goto out;
	c->entries = auditlog_size(log);
	for (i = 0; i < c->entries; i++) {
		if ((r = auditlog_entry(log, i, &buf, &len)) != 0)
			goto out;
		if ((e = paso__audit_entry__unpack(NULL, len, buf)) == NULL) {
			r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"%s: entry %" PRIu64 " does not decode", auditdir, i);
			goto out;
		}
		free(buf);
		buf = NULL;
		if (first == 0 || e->time < first)
			first = e->time;
		if (e->time > last)
			last = e->time;
		if (e->action == PASO__ACTION__ENROLL && e->category >= 1 && e->category <= 4)
			c->t[0].cells[e->category - 1].count++;
		else if (e->action == PASO__ACTION__CROSSING && e->subject.len == 32) {
			uint32_t *n = clip_slot(&clip, e->subject.data);
			char month[8], inst[INSTANT_TEXT_BYTES];
			struct cell *ce;

			if (n == NULL) {
				r = PASO_E_NOMEM;
				goto out;
			}
			if (*n < max_cross) { /* each person adds at most max_cross */
				(*n)++;
				for (k = 0; k < sizeof(points) / sizeof(points[0]); k++)
					if (strcmp(e->crossing_point, points[k]) == 0)
						break;
				if (k < sizeof(points) / sizeof(points[0]))
					c->t[1].cells[k].count++;
				(void)snprintf(month, sizeof(month), "%.7s",
					instant_format(e->time, inst));
				if ((ce = cell(&c->t[2], month)) != NULL)
					ce->count++;
			} else if (*n == max_cross)
				(*n)++; /* the first crossing dropped for this person */
		} else if (e->action == PASO__ACTION__SHARE &&
			   strcmp(e->purpose, RELEASE_PURPOSE) == 0) {
			struct q eps, bud;
			char es[32], bs[32];

			if (sscanf(e->detail, "release: epsilon=%31s budget=%31s", es, bs) != 2 ||
				qparse(es, &eps) != 0 || qparse(bs, &bud) != 0 ||
				qadd(c->spent, eps, &c->spent) != 0) {
				r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
					"%s: entry %" PRIu64
					" records a release I cannot read: '%s'",
					auditdir, i, e->detail);
				goto out;
			}
			if (!c->have_budget)
				c->budget = bud;
			c->have_budget = 1;
			c->releases++;
		}
		paso__audit_entry__free_unpacked(e, NULL);
		e = NULL;
	}
	/* Months: every month of the log's span, so the set of cells says nothing by itself. */
	if (first != 0) {
		uint64_t t;
		char month[8], inst[INSTANT_TEXT_BYTES];
		for (t = first - first % 86400; t <= last + 86400 && c->t[2].n < MAX_CELLS;
			t += 86400) {
			(void)snprintf(month, sizeof(month), "%.7s", instant_format(t, inst));
			(void)cell(&c->t[2], month);
		}
	}
	r = 0;
out:
	if (e != NULL)
		paso__audit_entry__free_unpacked(e, NULL);
	free(buf);
	free(clip.slot);
	auditlog_close(log);
	return r;
}

/* Pads to width characters (not bytes): crossing points carry accents. */
static void
print_padded(const char *s, int width)
{
	int chars = 0;
	const char *p;

	for (p = s; *p != '\0'; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	printf("  %s", s);
	for (; chars < width; chars++)
		putchar(' ');
}

static int
cmp_cell(const void *a, const void *b)
{
	return strcmp(((const struct cell *)a)->key, ((const struct cell *)b)->key);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paso stats DEPLOYMENT --publish --epsilon E --budget B [--suppress-below K]\n"
		"                  [--max-crossings C] [--json]\n"
		"  publishes enrolments by category, crossings by crossing point and by month with\n"
		"  discrete Laplace noise (integer-exact); E and B are N or N/D (e.g. 1/2). Each\n"
		"  table gets E/3; one person adds at most C crossings (default 10). Noisy counts\n"
		"  below K (default 10) are suppressed. The release is recorded in the audit log\n"
		"  first (the hub must be stopped); the first release fixes the budget B, and no\n"
		"  release may take the total past it.\n");
}

int
stats_main(int argc, char **argv)
{
	struct paso_diag d = {0};
	struct deploy_paths p;
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct policy *pol = NULL;
	struct census *c = NULL;
	struct dp_rng rng;
	struct q eps = {0, 1}, budget = {0, 1}, after;
	const char *dir = NULL;
	char detail[256], es[32], bs[32], ss[32], ls[32];
	unsigned long long kmin = 10, cmax = 10;
	const Paso__Action act = PASO__ACTION__SHARE;
	const char *details[1] = {detail};
	int i, r, publish = 0, json = 0, have_eps = 0, have_budget = 0;
	size_t t, k;
	char *end;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(o, "--publish") == 0)
			publish = 1;
		else if (strcmp(o, "--json") == 0)
			json = 1;
		else if (strcmp(o, "--epsilon") == 0 && val != NULL) {
			if (qparse(val, &eps) != 0) {
				fprintf(stderr,
					"paso stats: --epsilon: N or N/D, 1..1048576 each: '%s'\n",
					val);
				return 2;
			}
			have_eps = 1;
			i++;
		} else if (strcmp(o, "--budget") == 0 && val != NULL) {
			if (qparse(val, &budget) != 0) {
				fprintf(stderr,
					"paso stats: --budget: N or N/D, 1..1048576 each: '%s'\n",
					val);
				return 2;
			}
			have_budget = 1;
			i++;
		} else if ((strcmp(o, "--suppress-below") == 0 ||
				   strcmp(o, "--max-crossings") == 0) &&
			   val != NULL) {
			unsigned long long x;
			errno = 0;
			x = strtoull(val, &end, 10);
			if (val[0] < '0' || val[0] > '9' || errno || *end || x > 1000000 ||
				(x == 0 && o[2] == 'm')) {
				fprintf(stderr,
					"paso stats: %s: a whole number %s..1000000: '%s'\n", o,
					o[2] == 'm' ? "1" : "0", val);
				return 2;
			}
			*(o[2] == 'm' ? &cmax : &kmin) = x;
			i++;
		} else if (o[0] != '-' && dir == NULL)
			dir = o;
		else {
			fprintf(stderr, "paso stats: unexpected argument '%s'\n", o);
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL || !publish || !have_eps) {
		fprintf(stderr, "paso stats: needs DEPLOYMENT, --publish and --epsilon\n");
		usage(stderr);
		return 2;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return 1;
	c->t[0].title = "enrolments by category";
	c->t[0].sensitivity = 1;
	c->t[1].title = "crossings by crossing point";
	c->t[1].sensitivity = cmax;
	c->t[2].title = "crossings by month";
	c->t[2].sensitivity = cmax;
	if ((r = deploy_paths(dir, &p, &d)) != 0 || (r = read_log(p.audit, cmax, c, &d)) != 0)
		goto out;
	/* The budget: fixed by the first release, in the log; never exceeded. */
	if (c->have_budget && have_budget && qcmp(budget, c->budget) != 0) {
		qfmt(c->budget, bs, sizeof(bs));
		r = paso_diag_set(&d, PASO_E_POLICY_DENIED,
			"--budget: this deployment's budget was fixed at %s by its first release",
			bs);
		goto out;
	}
	if (!c->have_budget && !have_budget) {
		r = paso_diag_set(&d, PASO_E_USAGE,
			"--budget: the first release must fix the deployment's privacy budget");
		goto out;
	}
	if (!c->have_budget)
		c->budget = budget;
	if (qadd(c->spent, eps, &after) != 0 || qcmp(after, c->budget) > 0) {
		qfmt(c->spent, ss, sizeof(ss));
		qfmt(c->budget, bs, sizeof(bs));
		qfmt(eps, es, sizeof(es));
		r = paso_diag_set(&d, PASO_E_POLICY_DENIED,
			"privacy budget exceeded: %" PRIu64 " releases spent epsilon %s of %s; "
			"this one (%s) would pass it. Nothing was published or logged",
			c->releases, ss, bs, es);
		goto out;
	}
	/* Logged durably before anything is drawn or shown: a release that cannot be recorded
	 * does not happen. */
	qfmt(eps, es, sizeof(es));
	qfmt(c->budget, bs, sizeof(bs));
	qfmt(after, ls, sizeof(ls));
	(void)snprintf(detail, sizeof(detail),
		"release: epsilon=%s budget=%s to the public; spent after %s; 3 tables, one person "
		"adds at most %llu crossings; suppressed below %llu",
		es, bs, ls, cmax, kmin);
	if ((r = keyring_open(p.keys, &kr, &d)) != 0 || (r = vault_open(dir, kr, &v, &d)) != 0 ||
		(r = policy_load_file(p.policy, &pol, &d)) != 0 ||
		(r = deploy_audit_offline(
			 &p, v, policy_digest(pol), RELEASE_PURPOSE, &act, details, 1, &d)) != 0)
		goto out;
	{
		struct auditlog *log = NULL;
		if (auditlog_open_readonly(p.audit, &log, &d) == 0)
			c->entries = auditlog_size(log) - 1; /* the release's own entry */
		auditlog_close(log);
		d.code = 0;
	}
	dp_rng_system(&rng);
	for (t = 0; t < NTABLES; t++) {
		/* epsilon/3 per table at sensitivity S: scale 3*S*D/N, i.e. s = N, t = 3*S*D. */
		uint64_t sc = eps.n, tc = (uint64_t)NTABLES * c->t[t].sensitivity * eps.d;
		if (t == 2)
			qsort(c->t[t].cells, c->t[t].n, sizeof(struct cell), cmp_cell);
		for (k = 0; k < c->t[t].n; k++)
			c->t[t].cells[k].noisy =
				(int64_t)c->t[t].cells[k].count + dp_laplace(&rng, sc, tc);
	}
	if (json) {
		printf("{\"deployment\":\"%s\",\"audit_entry\":%" PRIu64
		       ",\"epsilon\":\"%s\",\"budget\":\"%s\",\"spent\":\"%s\",\"suppress_below\":%llu,"
		       "\"max_crossings_per_person\":%llu,\"tables\":[",
			dir, c->entries, es, bs, ls, kmin, cmax);
		for (t = 0; t < NTABLES; t++) {
			printf("%s{\"title\":\"%s\",\"sensitivity\":%" PRIu64 ",\"cells\":[",
				t ? "," : "", c->t[t].title, c->t[t].sensitivity);
			for (k = 0; k < c->t[t].n; k++) {
				if (c->t[t].cells[k].noisy < (int64_t)kmin)
					printf("%s{\"key\":\"%s\",\"count\":null,\"suppressed\":true}",
						k ? "," : "", c->t[t].cells[k].key);
				else
					printf("%s{\"key\":\"%s\",\"count\":%" PRId64 "}",
						k ? "," : "", c->t[t].cells[k].key,
						c->t[t].cells[k].noisy);
			}
			printf("]}");
		}
		printf("]}\n");
	} else {
		printf("published statistics of %s (release recorded as audit entry %" PRIu64
		       "): epsilon %s of budget %s, spent %s after it\n",
			dir, c->entries, es, bs, ls);
		for (t = 0; t < NTABLES; t++) {
			char ts[32];
			qfmt(qnorm((struct q){eps.n, eps.d * NTABLES}), ts, sizeof(ts));
			printf("%s (epsilon %s, one person changes it by at most %" PRIu64 "):\n",
				c->t[t].title, ts, c->t[t].sensitivity);
			for (k = 0; k < c->t[t].n; k++) {
				print_padded(c->t[t].cells[k].key, 26);
				if (c->t[t].cells[k].noisy < (int64_t)kmin)
					printf("<%llu (suppressed)\n", kmin);
				else
					printf("%" PRId64 "\n", c->t[t].cells[k].noisy);
			}
		}
	}
	r = 0;
out:
	if (c != NULL)
		sodium_memzero(c, sizeof(*c)); /* true counts do not outlive the release */
	free(c);
	policy_free(pol);
	vault_close(v);
	keyring_close(kr);
	if (r != 0) {
		fprintf(stderr, "paso stats: error %s (%d): %s\n", paso_errname(r), r,
			d.msg[0] ? d.msg : paso_strerror(r));
		return r == PASO_E_USAGE ? 2 : 1;
	}
	return 0;
}
