/* SPDX-License-Identifier: Apache-2.0 */
/* Scenario files, table-driven: one table declares every key, its type, bounds and default. */
#include "scenario.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "instant.h"
#include "population.h"

enum stype {
	T_STR,     /* char *, 1..max printable characters */
	T_U32,     /* uint32_t within [min, max] */
	T_U64,     /* uint64_t, any */
	T_REAL,    /* double within [min, max] */
	T_INSTANT, /* uint64_t from an RFC 3339 UTC instant */
	T_EVENTS,  /* the events list */
	T_CATS,    /* uint32_t category bits: "all", one category, or a list of them */
};

struct skey {
	const char *key; /* dotted path as written in files */
	enum stype type;
	double min, max;
	const char *range; /* the bounds as messages print them */
	const char *def;   /* default in file syntax; NULL = required */
	size_t off;
};

/* clang-format off: one row per key. */
#define O(f) offsetof(struct scenario, f)
#define SHARE(k, def, f)                                                                           \
	{                                                                                          \
		k, T_REAL, 0, 1, "0..1", def, O(f)                                                 \
	}
#define RATE(k, def, f)                                                                            \
	{                                                                                          \
		k, T_REAL, 0, 1000, "0..1000", def, O(f)                                           \
	}
static const struct skey scenario_keys[] = {
	{"name", T_STR, 1, 64, "1..64 characters", NULL, O(name)},
	{"description", T_STR, 0, 1024, "0..1024 characters", "\"\"", O(description)},
	{"seed", T_U64, 0, 0, NULL, "1", O(seed)},
	{"start", T_INSTANT, 0, 0, NULL, "2027-01-01T00:00:00Z", O(start)},
	{"days", T_U32, 1, 3650, "1..3650", NULL, O(days)},
	{"period_days", T_U32, 1, 365, "1..365", "1", O(period_days)},
	{"population.people", T_U32, 1, 10000000, "1..10000000", NULL, O(people)},
	SHARE("population.initial_share", "0.5", initial_share),
	SHARE("population.mix.regional_visitor", "0.55", mix[1]),
	SHARE("population.mix.border_worker", "0.15", mix[2]),
	SHARE("population.mix.migrant_in_transit", "0.2", mix[3]),
	SHARE("population.mix.detainee", "0.1", mix[4]),
	RATE("crossings_per_month.regional_visitor", "4", crossings_per_month[1]),
	RATE("crossings_per_month.border_worker", "40", crossings_per_month[2]),
	RATE("crossings_per_month.migrant_in_transit", "1", crossings_per_month[3]),
	RATE("crossings_per_month.detainee", "0", crossings_per_month[4]),
	SHARE("impostor_rate", "0.02", impostor_rate),
	SHARE("duplicate_enrolment_rate", "0.01", duplicate_rate),
	RATE("identification.per_day", "5", identify_per_day),
	SHARE("identification.enrolled_share", "0.5", identify_enrolled),
	RATE("partner_queries.per_day", "0", partner_per_day),
	SHARE("partner_queries.enrolled_share", "0.5", partner_enrolled),
	{"partner_queries.purpose", T_STR, 1, 256, "1..256 characters", "\"immigration control\"",
		O(partner_purpose)},
	{"partner_queries.categories", T_CATS, 0, 0, NULL, "all", O(partner_categories)},
	{"events", T_EVENTS, 0, SCENARIO_MAX_EVENTS, NULL, NULL, 0},
};
#define NKEYS (sizeof(scenario_keys) / sizeof(scenario_keys[0]))
#undef O
static const char *const event_words[] = {
	"breach_hub", "breach_partner", "policy_change", "revoke_kiosk", NULL};
/* clang-format on */

struct sctx {
	const char *src;
	yaml_document_t *doc;
	struct scenario *s;
	unsigned char set[NKEYS];
	struct paso_diag *d;
};

const char *
scenario_event_name(enum scenario_event_kind k)
{
	return (unsigned)k < 4 ? event_words[k] : "?";
}

static unsigned
node_line(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

/* Quotes untrusted text for a message: at most 80 bytes, control bytes as '?'. */
static const char *
shown(const char *s, char buf[96])
{
	size_t i, len = strlen(s), n = len > 80 ? 80 : len;

	for (i = 0; i < n; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static int __attribute__((format(printf, 3, 4)))
fail(struct sctx *c, unsigned line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return paso_diag_set(c->d, PASO_E_INVALID_ARG, "%s:%u: %s", c->src, line, msg);
}

static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\n') || *s == 0x7f)
			return 0;
	return 1;
}

/* Sets key k from a scalar's text (plain: unquoted). */
static int
set_scalar(struct sctx *c, const struct skey *k, const char *text, int plain, unsigned line)
{
	char *field = (char *)c->s + k->off, vb[96], *end, *copy;
	struct paso_diag sub = {0};
	unsigned long long u;
	uint64_t t;
	size_t len = strlen(text);
	double x;
	int cat;

	switch (k->type) {
	case T_STR:
		if (len < (size_t)k->min || len > (size_t)k->max || !printable(text))
			return fail(c, line, "%s must be %s without control characters: '%s'",
				k->key, k->range, shown(text, vb));
		if ((copy = strdup(text)) == NULL)
			return PASO_E_NOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	case T_U32:
	case T_U64:
		errno = 0;
		u = plain && len > 0 && text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10)
									 : 0;
		if (!plain || len == 0 || text[0] < '0' || text[0] > '9' || errno != 0 ||
			*end != '\0')
			return fail(c, line, "%s expects a whole number: '%s'", k->key,
				shown(text, vb));
		if (k->type == T_U64) {
			*(uint64_t *)field = u;
			return 0;
		}
		if ((double)u < k->min || (double)u > k->max)
			return fail(c, line, "%s out of range %s: '%s'", k->key, k->range,
				shown(text, vb));
		*(uint32_t *)field = (uint32_t)u;
		return 0;
	case T_REAL:
		end = NULL;
		x = plain && len > 0 ? strtod(text, &end) : 0;
		if (!plain || len == 0 || end != text + len || !isfinite(x))
			return fail(c, line, "%s expects a number: '%s'", k->key, shown(text, vb));
		if (x < k->min || x > k->max)
			return fail(c, line, "%s out of range %s: '%s'", k->key, k->range,
				shown(text, vb));
		*(double *)field = x;
		return 0;
	case T_INSTANT:
		if (instant_parse(text, &t, &sub) != 0)
			return fail(c, line, "%s: %s", k->key, sub.msg);
		*(uint64_t *)field = t;
		return 0;
	case T_CATS:
		if (strcmp(text, "all") == 0) {
			*(uint32_t *)field = 0x1e;
			return 0;
		}
		for (cat = 1; cat <= 4; cat++)
			if (strcmp(text, population_category_name(cat)) == 0) {
				*(uint32_t *)field |= 1u << cat;
				return 0;
			}
		return fail(c, line,
			"%s: unknown category '%s' (all, regional_visitor, border_worker, "
			"migrant_in_transit, detainee)",
			k->key, shown(text, vb));
	case T_EVENTS:
		break;
	}
	return fail(c, line, "%s expects a list of events: '%s'", k->key, shown(text, vb));
}

static const struct skey *
find_key(const char *path, size_t *idx)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(scenario_keys[i].key, path) == 0) {
			*idx = i;
			return &scenario_keys[i];
		}
	return NULL;
}

/* One event: a mapping of day, kind and (for all but breach_hub) target. */
static int
parse_event(struct sctx *c, yaml_node_t *n)
{
	struct scenario_event *ev = &c->s->events[c->s->nevents];
	yaml_node_pair_t *pr;
	int have_day = 0, have_kind = 0, i;
	char vb[96], *end;
	unsigned long long u;

	memset(ev, 0, sizeof(*ev));
	ev->line = node_line(n);
	c->s->nevents++; /* owned from here on, so scenario_free frees its target */
	if (n->type != YAML_MAPPING_NODE)
		return fail(
			c, node_line(n), "events: each event is a mapping of day, kind, target");
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
		const char *key, *val;

		if (kn == NULL || vn == NULL || kn->type != YAML_SCALAR_NODE ||
			vn->type != YAML_SCALAR_NODE)
			return fail(
				c, node_line(n), "events: day, kind and target are plain values");
		key = (const char *)kn->data.scalar.value;
		val = (const char *)vn->data.scalar.value;
		if (strcmp(key, "day") == 0) {
			errno = 0;
			u = val[0] >= '0' && val[0] <= '9' ? strtoull(val, &end, 10) : 0;
			if (val[0] < '0' || val[0] > '9' || errno != 0 || *end != '\0' || u > 3650)
				return fail(c, node_line(vn),
					"events.day out of range 0..3650: '%s'", shown(val, vb));
			ev->day = (uint32_t)u;
			have_day = 1;
		} else if (strcmp(key, "kind") == 0) {
			for (i = 0; event_words[i] != NULL; i++)
				if (strcmp(val, event_words[i]) == 0)
					break;
			if (event_words[i] == NULL)
				return fail(c, node_line(vn),
					"events.kind expects one of breach_hub, breach_partner, "
					"policy_change, revoke_kiosk: '%s'",
					shown(val, vb));
			ev->kind = (enum scenario_event_kind)i;
			have_kind = 1;
		} else if (strcmp(key, "target") == 0) {
			if (strlen(val) < 1 || strlen(val) > 256 || !printable(val))
				return fail(c, node_line(vn),
					"events.target must be 1..256 characters: '%s'",
					shown(val, vb));
			free(ev->target);
			if ((ev->target = strdup(val)) == NULL)
				return PASO_E_NOMEM;
		} else
			return fail(c, node_line(kn), "unknown key in an event: 'events.%s'",
				shown(key, vb));
	}
	if (!have_day || !have_kind)
		return fail(c, ev->line, "an event needs day and kind");
	if (ev->kind != SCENARIO_BREACH_HUB && ev->target == NULL)
		return fail(c, ev->line, "a %s event needs a target", event_words[ev->kind]);
	return 0;
}

/* Walks a mapping, building dotted paths; scalars and the events list are set by the table. */
static int
walk(struct sctx *c, yaml_node_t *n, const char *prefix)
{
	yaml_node_pair_t *pr;
	yaml_node_item_t *it;
	char path[160], vb[96];
	const struct skey *k;
	size_t idx;
	int r;

	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);

		if (kn == NULL || vn == NULL || kn->type != YAML_SCALAR_NODE)
			return fail(c, node_line(n), "keys must be plain words");
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "",
			    (const char *)kn->data.scalar.value) >= sizeof(path))
			return fail(c, node_line(kn), "key too long: '%s'",
				shown((const char *)kn->data.scalar.value, vb));
		k = find_key(path, &idx);
		if (k == NULL && vn->type == YAML_MAPPING_NODE) {
			if ((r = walk(c, vn, path)) != 0)
				return r;
			continue;
		}
		if (k == NULL)
			return fail(c, node_line(kn), "unknown key '%s'", shown(path, vb));
		if (c->set[idx])
			return fail(c, node_line(kn), "key given twice: '%s'", path);
		c->set[idx] = 1;
		if (k->type == T_EVENTS) {
			if (vn->type != YAML_SEQUENCE_NODE)
				return fail(c, node_line(vn), "events expects a list of events");
			for (it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
				it++) {
				yaml_node_t *ev = yaml_document_get_node(c->doc, *it);

				if (c->s->nevents == SCENARIO_MAX_EVENTS)
					return fail(c, node_line(vn), "events: more than %d",
						SCENARIO_MAX_EVENTS);
				if (ev == NULL)
					return fail(c, node_line(vn), "events: empty item");
				if ((r = parse_event(c, ev)) != 0)
					return r;
			}
			continue;
		}
		if (k->type == T_CATS && vn->type == YAML_SEQUENCE_NODE) {
			if (vn->data.sequence.items.start == vn->data.sequence.items.top)
				return fail(c, node_line(vn), "%s: an empty list asks about no one",
					path);
			for (it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
				it++) {
				yaml_node_t *cn = yaml_document_get_node(c->doc, *it);

				if (cn == NULL || cn->type != YAML_SCALAR_NODE ||
					strcmp((const char *)cn->data.scalar.value, "all") == 0)
					return fail(c, node_line(vn),
						"%s expects category names in its list", path);
				if ((r = set_scalar(c, k, (const char *)cn->data.scalar.value, 1,
					     node_line(cn))) != 0)
					return r;
			}
			continue;
		}
		if (vn->type != YAML_SCALAR_NODE)
			return fail(c, node_line(vn), "%s expects a value, not a %s", path,
				vn->type == YAML_MAPPING_NODE ? "mapping" : "list");
		if ((r = set_scalar(c, k, (const char *)vn->data.scalar.value,
			     vn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, node_line(vn))) != 0)
			return r;
	}
	return 0;
}

/* Defaults for every key not set; a required key missing is an error. */
static int
defaults(struct sctx *c)
{
	size_t i;
	int r;

	for (i = 0; i < NKEYS; i++) {
		const struct skey *k = &scenario_keys[i];
		char text[64];
		size_t n;

		if (c->set[i] || k->type == T_EVENTS)
			continue;
		if (k->def == NULL)
			return fail(c, 1, "required key missing: '%s'", k->key);
		n = strlen(k->def);
		if (k->type == T_STR && n >= 2 && k->def[0] == '"') {
			(void)snprintf(text, sizeof(text), "%.*s", (int)(n - 2), k->def + 1);
			if (n == 2) { /* the empty string */
				char **f = (char **)((char *)c->s + k->off);
				if ((*f = strdup("")) == NULL)
					return PASO_E_NOMEM;
				continue;
			}
		} else
			(void)snprintf(text, sizeof(text), "%s", k->def);
		if ((r = set_scalar(c, k, text, 1, 0)) != 0)
			return r;
	}
	return 0;
}

static int
cross_checks(struct sctx *c)
{
	const struct scenario *s = c->s;
	double sum = s->mix[1] + s->mix[2] + s->mix[3] + s->mix[4];
	size_t i;

	if (fabs(sum - 1.0) > 1e-6)
		return fail(c, 1, "population.mix: the four category shares sum to %g, not 1", sum);
	if (s->period_days > s->days)
		return fail(c, 1, "period_days %u is longer than days %u", s->period_days, s->days);
	for (i = 0; i < s->nevents; i++)
		if (s->events[i].day >= s->days)
			return fail(c, s->events[i].line,
				"events.day %u is not before the scenario's end (days: %u)",
				s->events[i].day, s->days);
	return 0;
}

int
scenario_parse(
	const char *buf, size_t len, const char *name, struct scenario **out, struct paso_diag *d)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct scenario *s = NULL;
	struct sctx c;
	yaml_node_t *root;
	int r, have_doc = 0;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.src = name;
	c.d = d;
	if (!yaml_parser_initialize(&parser))
		return PASO_E_NOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = paso_diag_set(d, PASO_E_INVALID_ARG, "%s:%zu: YAML syntax: %s", name,
			parser.problem_mark.line + 1, parser.problem ? parser.problem : "error");
		goto out;
	}
	have_doc = 1;
	c.doc = &doc;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	c.s = s;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		r = fail(&c, root ? node_line(root) : 1, "a scenario is a mapping of keys");
		goto out;
	}
	if ((r = walk(&c, root, "")) != 0 || (r = defaults(&c)) != 0 || (r = cross_checks(&c)) != 0)
		goto out;
	*out = s;
	s = NULL;
	r = 0;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	scenario_free(s);
	return r;
}

int
scenario_load_file(const char *path, struct scenario **out, struct paso_diag *d)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n;
	int r;

	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		r = paso_diag_set(d, errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO, "%s: %s", path,
			strerror(errno));
		goto out;
	}
	if ((buf = malloc(SCENARIO_MAX_BYTES + 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	n = fread(buf, 1, SCENARIO_MAX_BYTES + 1, f);
	if (ferror(f)) {
		r = paso_diag_set(d, PASO_E_IO, "%s: read error", path);
		goto out;
	}
	if (n > SCENARIO_MAX_BYTES) {
		r = paso_diag_set(d, PASO_E_INVALID_ARG, "%s: larger than %u bytes", path,
			SCENARIO_MAX_BYTES);
		goto out;
	}
	r = scenario_parse(buf, n, path, out, d);
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return r;
}

void
scenario_free(struct scenario *s)
{
	size_t i;

	if (s == NULL)
		return;
	free(s->name);
	free(s->description);
	free(s->partner_purpose);
	for (i = 0; i < s->nevents; i++)
		free(s->events[i].target);
	free(s);
}
