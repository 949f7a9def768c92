/* SPDX-License-Identifier: Apache-2.0 */
/* Policy files, table-driven: one table declares every key, its type, bounds and default. */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <yaml.h>

enum ptype {
	T_STR,    /* char *, checked by a validator */
	T_BOOL,   /* bool: plain true or false */
	T_UINT,   /* uint32_t within [min, max] */
	T_REAL,   /* double within [min, max] */
	T_ENUM,   /* int: index into words */
	T_CATS,   /* uint32_t POLICY_CAT_* bits: "all" or a list of category words */
	T_RULES,  /* the sharing rules: a list of mappings, parsed with rule_keys */
	T_ATTRS,  /* uint32_t POLICY_ATTR_* bits: a list of attribute words */
	T_LIMITS, /* the partners list: a list of mappings, parsed with limit_keys */
};

struct pkey {
	const char *key; /* dotted path as written in files */
	enum ptype type;
	double min, max;          /* numbers: bounds; strings: length bounds */
	const char *range;        /* the bounds as messages print them */
	const char *def;          /* default, in file syntax; NULL = required */
	size_t off;               /* field in struct policy_settings / policy_share_rule */
	const char *const *words; /* T_ENUM */
	int (*valid)(const char *s, size_t len); /* T_STR */
	const char *want;                        /* T_STR: what valid() accepts, for messages */
};

static const char *const location_words[] = {"hub", "card", NULL};
/* Template protection per modality (biometrics/protect.h); index 0 is always "none". */
static const char *const protect_finger_words[] = {"none", "pmcc", NULL};
static const char *const protect_face_words[] = {"none", "polyprotect", NULL};
static const char *const protect_iris_words[] = {"none", "bloom", NULL};
static const char *const what_words[] = {"hit_no_hit", "templates", "records", "release", NULL};
/* Index i is bit 1u << i of POLICY_ATTR_*. */
static const char *const attr_words[] = {
	"enrolled_at", "enrolled_point", "finger", "face", "iris", NULL};
#define ATTR_DEFAULT (POLICY_ATTR_ENROLLED_AT | POLICY_ATTR_ENROLLED_POINT)
/* Index = proto enum Category value; 0 (unspecified) is not a word. */
static const char *const category_words[] = {
	"", "regional_visitor", "border_worker", "migrant_in_transit", "detainee", NULL};

static int valid_ident(const char *s, size_t len);
static int valid_text(const char *s, size_t len);

/* clang-format off: the tables read best as one row per key. */
#define IDENT_WANT "1..64 characters of A-Z a-z 0-9 . _ -"
#define S(f) offsetof(struct policy_settings, f)
#define DAYS(k, def, f)                                                                            \
	{                                                                                          \
		k, T_UINT, 1, 36500, "1..36500", def, S(f), NULL, NULL, NULL                       \
	}
#define FMR(k, def, f)                                                                             \
	{                                                                                          \
		k, T_REAL, 1e-9, 1e-1, "1e-9..1e-1", def, S(f), NULL, NULL, NULL                   \
	}
#define BOOL(k, def, f)                                                                            \
	{                                                                                          \
		k, T_BOOL, 0, 1, NULL, def, S(f), NULL, NULL, NULL                                 \
	}

/* The policy file. Keep sections contiguous: the dump groups keys by their first word. */
static const struct pkey policy_keys[] = {
	{"name", T_STR, 1, 64, NULL, NULL, S(name), NULL, valid_ident, IDENT_WANT},
	{"description", T_STR, 0, 1024, NULL, "\"\"", S(description), NULL, valid_text,
		"at most 1024 characters, no control characters"},
	BOOL("capture.finger", "true", capture[POLICY_FINGER]),
	BOOL("capture.face", "true", capture[POLICY_FACE]),
	BOOL("capture.iris", "true", capture[POLICY_IRIS]),
	BOOL("store.finger", "false", store[POLICY_FINGER]),
	BOOL("store.face", "false", store[POLICY_FACE]),
	BOOL("store.iris", "false", store[POLICY_IRIS]),
	{"store.location", T_ENUM, 0, 0, NULL, "hub", S(location), location_words, NULL, NULL},
	{"protect.finger", T_ENUM, 0, 0, NULL, "none", S(protect[POLICY_FINGER]),
		protect_finger_words, NULL, NULL},
	{"protect.face", T_ENUM, 0, 0, NULL, "none", S(protect[POLICY_FACE]), protect_face_words,
		NULL, NULL},
	{"protect.iris", T_ENUM, 0, 0, NULL, "none", S(protect[POLICY_IRIS]), protect_iris_words,
		NULL, NULL},
	DAYS("retention_days.enrolment", "1095", retention_days[POLICY_REC_ENROLMENT]),
	DAYS("retention_days.crossing", "1095", retention_days[POLICY_REC_CROSSING]),
	DAYS("retention_days.identification", "90", retention_days[POLICY_REC_IDENTIFICATION]),
	DAYS("retention_days.rejected", "90", retention_days[POLICY_REC_REJECTED]),
	FMR("match.verify_fmr", "1e-4", verify_fmr),
	FMR("match.identify_fmr", "1e-6", identify_fmr),
	BOOL("match.dedup", "false", dedup),
	BOOL("match.verify_staged", "true", verify_staged),
	{"sharing", T_RULES, 0, POLICY_MAX_RULES, NULL, "[]", 0, NULL, NULL, NULL},
	{"partners", T_LIMITS, 0, POLICY_MAX_RULES, NULL, "[]", 0, NULL, NULL, NULL},
};
#define NKEYS (sizeof(policy_keys) / sizeof(policy_keys[0]))
#undef S

#define R(f) offsetof(struct policy_share_rule, f)
/* One rule of the sharing list; the keys with a default are optional, and apply to some kinds
 * only (rule_applies). */
static const struct pkey rule_keys[] = {
	{"partner", T_STR, 1, 64, NULL, NULL, R(partner), NULL, valid_ident, IDENT_WANT},
	{"what", T_ENUM, 0, 0, NULL, NULL, R(what), what_words, NULL, NULL},
	{"categories", T_CATS, 0, 0, NULL, NULL, R(categories), NULL, NULL, NULL},
	{"purpose", T_STR, 1, 256, NULL, NULL, R(purpose), NULL, valid_text,
		"1..256 characters, no control characters"},
	{"retention_days", T_UINT, 1, 36500, "1..36500", NULL, R(retention_days), NULL, NULL, NULL},
	{"daily_budget", T_UINT, 1, 10000000, "1..10000000", "1000", R(daily_budget), NULL, NULL,
		NULL},
	{"valid_for_minutes", T_UINT, 1, 5256000, "1..5256000", "1440", R(valid_for_minutes), NULL,
		NULL, NULL},
	{"transactions_allowed", T_UINT, 1, 1000000, "1..1000000", "1", R(transactions_allowed),
		NULL, NULL, NULL},
	{"attributes", T_ATTRS, 0, 0, NULL, "[enrolled_at, enrolled_point]", R(attributes),
		attr_words, NULL, NULL},
};
#define NRULEKEYS (sizeof(rule_keys) / sizeof(rule_keys[0]))
#undef R

#define L(f) offsetof(struct policy_partner_limit, f)
/* One entry of the partners list: totals a day across every rule and purpose of a partner. */
static const struct pkey limit_keys[] = {
	{"name", T_STR, 1, 64, NULL, NULL, L(name), NULL, valid_ident, IDENT_WANT},
	{"daily_queries", T_UINT, 1, 10000000, "1..10000000", "10000000", L(daily_queries), NULL,
		NULL, NULL},
	{"daily_releases", T_UINT, 1, 10000000, "1..10000000", "10000000", L(daily_releases), NULL,
		NULL, NULL},
};
#define NLIMITKEYS (sizeof(limit_keys) / sizeof(limit_keys[0]))
#undef L
/* clang-format on */

struct policy {
	struct policy_settings s;
	struct policy_share_rule *rules;
	struct policy_partner_limit *limits;
	unsigned char set[NKEYS];
	unsigned line[NKEYS]; /* where each set key was, for cross-field messages */
	uint8_t digest[crypto_hash_sha256_BYTES];
	char *source;
};

/* The state of one parse: where messages point and what they say. */
struct pctx {
	const char *src;
	yaml_document_t *doc;
	struct paso_diag *d;
};

static int
valid_ident(const char *s, size_t len)
{
	size_t i;

	if (len < 1 || len > 64)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Free text: UTF-8 (libyaml checked it), no control characters but newline and tab. */
static int
valid_text(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* Quotes untrusted text for a message: at most 80 bytes, non-printable bytes as '?'. */
static const char *
shown(const char *s, size_t len, char buf[96])
{
	size_t i, n = len > 80 ? 80 : len;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static unsigned
node_line(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

static int __attribute__((format(printf, 4, 5)))
fail(struct pctx *c, int code, unsigned line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return paso_diag_set(c->d, code, "%s:%u: %s", c->src, line, msg);
}

static const char *
kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a value";
	}
}

static const char *
type_want(const struct pkey *k, char *buf, size_t cap)
{
	size_t i, off = 0;

	switch (k->type) {
	case T_BOOL:
		return "true or false";
	case T_UINT:
		return strstr(k->key, "days") != NULL ? "a whole number of days" : "a whole number";
	case T_REAL:
		return "a number";
	case T_STR:
		return "a string";
	case T_CATS:
		return "all or a list of categories";
	case T_RULES:
	case T_LIMITS:
		return "a list of rules";
	case T_ATTRS:
		return "a list of enrolled_at, enrolled_point, finger, face, iris";
	case T_ENUM:
		break;
	}
	off = (size_t)snprintf(buf, cap, "one of");
	for (i = 0; k->words[i] != NULL && off < cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s %s", i ? "," : "", k->words[i]);
	return buf;
}

static int
is_plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Sets one scalar-valued key from text; plain says whether the scalar was unquoted. */
static int
set_scalar(struct pctx *c, const struct pkey *k, const char *disp, const char *text, size_t len,
	int plain, unsigned line, void *base)
{
	char *field = (char *)base + k->off, vb[96], wb[96], *end, *copy;
	unsigned long long u;
	double x;
	size_t i;

	switch (k->type) {
	case T_BOOL:
		if (plain && len == 4 && memcmp(text, "true", 4) == 0)
			*(bool *)field = true;
		else if (plain && len == 5 && memcmp(text, "false", 5) == 0)
			*(bool *)field = false;
		else
			return fail(c, PASO_E_POLICY_TYPE, line, "%s expects true or false%s: '%s'",
				disp, plain ? "" : " (unquoted)", shown(text, len, vb));
		return 0;
	case T_UINT:
		for (i = text[0] == '-' ? 1 : 0; i < len && text[i] >= '0' && text[i] <= '9'; i++)
			;
		if (!plain || len == 0 || len > 20 || i != len || (text[0] == '-' && len == 1))
			return fail(c, PASO_E_POLICY_TYPE, line, "%s expects %s: '%s'", disp,
				type_want(k, wb, sizeof(wb)), shown(text, len, vb));
		errno = 0;
		u = strtoull(text, &end, 10);
		if (text[0] == '-' || errno != 0 || (double)u < k->min || (double)u > k->max)
			return fail(c, PASO_E_POLICY_RANGE, line, "%s out of range %s: '%s'", disp,
				k->range, shown(text, len, vb));
		*(uint32_t *)field = (uint32_t)u;
		return 0;
	case T_REAL:
		/* text is NUL-terminated by libyaml; the end check rejects trailing bytes. */
		end = NULL;
		x = plain && len > 0 ? strtod(text, &end) : 0;
		if (!plain || len == 0 || end != text + len || !isfinite(x))
			return fail(c, PASO_E_POLICY_TYPE, line, "%s expects a number: '%s'", disp,
				shown(text, len, vb));
		if (x < k->min || x > k->max)
			return fail(c, PASO_E_POLICY_RANGE, line, "%s out of range %s: '%s'", disp,
				k->range, shown(text, len, vb));
		*(double *)field = x;
		return 0;
	case T_ENUM:
		for (i = 0; k->words[i] != NULL; i++)
			if (strlen(k->words[i]) == len && memcmp(k->words[i], text, len) == 0) {
				*(int *)field = (int)i;
				return 0;
			}
		return fail(c, PASO_E_POLICY_RANGE, line, "%s expects %s: '%s'", disp,
			type_want(k, wb, sizeof(wb)), shown(text, len, vb));
	case T_STR:
		if (len < (size_t)k->min || len > (size_t)k->max || memchr(text, 0, len) != NULL ||
			!k->valid(text, len))
			return fail(c, PASO_E_POLICY_RANGE, line, "%s must be %s: '%s'", disp,
				k->want, shown(text, len, vb));
		if ((copy = strndup(text, len)) == NULL)
			return PASO_E_NOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	case T_CATS:
		if (len == 3 && memcmp(text, "all", 3) == 0) {
			*(uint32_t *)field = POLICY_CAT_ALL;
			return 0;
		}
		return fail(c, PASO_E_POLICY_TYPE, line,
			"%s expects all or a list of categories: '%s'", disp, shown(text, len, vb));
	case T_RULES:
	case T_ATTRS:
	case T_LIMITS:
		break;
	}
	return fail(c, PASO_E_POLICY_TYPE, line, "%s expects %s: '%s'", disp,
		type_want(k, wb, sizeof(wb)), shown(text, len, vb));
}

static int
set_categories(struct pctx *c, const char *disp, yaml_node_t *n, uint32_t *out)
{
	yaml_node_item_t *it;
	uint32_t bits = 0, bit;
	char vb[96];
	size_t i, len;

	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *v = yaml_document_get_node(c->doc, *it);
		const char *text;

		if (v == NULL || v->type != YAML_SCALAR_NODE)
			return fail(c, PASO_E_POLICY_TYPE, v ? node_line(v) : node_line(n),
				"%s expects category words, not %s", disp,
				v ? kind_name(v) : "nothing");
		text = (const char *)v->data.scalar.value;
		len = v->data.scalar.length;
		for (i = 1, bit = 0; category_words[i] != NULL; i++)
			if (strlen(category_words[i]) == len &&
				memcmp(category_words[i], text, len) == 0)
				bit = 1u << i;
		if (bit == 0)
			return fail(c, PASO_E_POLICY_RANGE, node_line(v),
				"%s expects regional_visitor, border_worker, migrant_in_transit, "
				"detainee "
				"or all: '%s'",
				disp, shown(text, len, vb));
		if (bits & bit)
			return fail(c, PASO_E_POLICY_SYNTAX, node_line(v),
				"%s lists a category twice: '%s'", disp, shown(text, len, vb));
		bits |= bit;
	}
	if (bits == 0)
		return fail(c, PASO_E_POLICY_RANGE, node_line(n), "%s is an empty list", disp);
	*out = bits;
	return 0;
}

/* attributes: a list (maybe empty) of attr_words, each at most once. */
static int
set_attrs(struct pctx *c, const char *disp, yaml_node_t *n, uint32_t *out)
{
	yaml_node_item_t *it;
	uint32_t bits = 0, bit;
	char vb[96];
	size_t i, len;

	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *v = yaml_document_get_node(c->doc, *it);
		const char *text;

		if (v == NULL || v->type != YAML_SCALAR_NODE)
			return fail(c, PASO_E_POLICY_TYPE, v ? node_line(v) : node_line(n),
				"%s expects attribute words, not %s", disp,
				v ? kind_name(v) : "nothing");
		text = (const char *)v->data.scalar.value;
		len = v->data.scalar.length;
		for (i = 0, bit = 0; attr_words[i] != NULL; i++)
			if (strlen(attr_words[i]) == len && memcmp(attr_words[i], text, len) == 0)
				bit = 1u << i;
		if (bit == 0)
			return fail(c, PASO_E_POLICY_RANGE, node_line(v),
				"%s expects enrolled_at, enrolled_point, finger, face or iris: '%s'",
				disp, shown(text, len, vb));
		if (bits & bit)
			return fail(c, PASO_E_POLICY_SYNTAX, node_line(v),
				"%s lists an attribute twice: '%s'", disp, shown(text, len, vb));
		bits |= bit;
	}
	*out = bits;
	return 0;
}

static int parse_rules(struct pctx *c, struct policy *p, yaml_node_t *n);
static int parse_limits(struct pctx *c, struct policy *p, yaml_node_t *n);

/* Sets one key from its value node: scalars through set_scalar, the two list-valued kinds. */
static int
set_node(struct pctx *c, struct policy *p, const struct pkey *k, const char *disp, yaml_node_t *v,
	void *base)
{
	char wb[96];

	if (k->type == T_CATS && v->type == YAML_SEQUENCE_NODE)
		return set_categories(c, disp, v, (uint32_t *)((char *)base + k->off));
	if (k->type == T_RULES || k->type == T_LIMITS) {
		if (v->type != YAML_SEQUENCE_NODE)
			return fail(c, PASO_E_POLICY_TYPE, node_line(v),
				"%s expects a list of rules", disp);
		return k->type == T_RULES ? parse_rules(c, p, v) : parse_limits(c, p, v);
	}
	if (k->type == T_ATTRS) {
		if (v->type != YAML_SEQUENCE_NODE)
			return fail(c, PASO_E_POLICY_TYPE, node_line(v), "%s expects %s, not %s",
				disp, type_want(k, wb, sizeof(wb)), kind_name(v));
		return set_attrs(c, disp, v, (uint32_t *)((char *)base + k->off));
	}
	if (v->type != YAML_SCALAR_NODE)
		return fail(c, PASO_E_POLICY_TYPE, node_line(v), "%s expects %s, not %s", disp,
			type_want(k, wb, sizeof(wb)), kind_name(v));
	return set_scalar(c, k, disp, (const char *)v->data.scalar.value, v->data.scalar.length,
		is_plain(v), node_line(v), base);
}

static const struct pkey *
key_find(const struct pkey *tab, size_t n, const char *key, size_t *idx)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(tab[i].key, key) == 0) {
			*idx = i;
			return &tab[i];
		}
	return NULL;
}

static int
is_section(const struct pkey *tab, size_t n, const char *prefix)
{
	size_t i, len = strlen(prefix);

	for (i = 0; i < n; i++)
		if (strncmp(tab[i].key, prefix, len) == 0 && tab[i].key[len] == '.')
			return 1;
	return 0;
}

/*
 * Walks one mapping against a key table. Top-level keys may name a section (a mapping of
 * leaf keys one level down). disp prefixes every name in messages ("sharing[2]."); kp is the
 * section being walked ("" or "capture.").
 */
static int
walk(struct pctx *c, struct policy *p, yaml_node_t *map, const struct pkey *tab, size_t ntab,
	const char *disp, const char *kp, void *base, unsigned char *set, unsigned *lines)
{
	yaml_node_pair_t *pair, *prev;
	char full[128], name[192], vb[96];
	const struct pkey *k;
	size_t idx;
	int r;

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *kn = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *vn = yaml_document_get_node(c->doc, pair->value);
		const char *ktext;
		size_t klen;

		if (kn == NULL || vn == NULL)
			return fail(c, PASO_E_POLICY_SYNTAX, node_line(map), "malformed mapping");
		if (kn->type != YAML_SCALAR_NODE)
			return fail(c, PASO_E_POLICY_SYNTAX, node_line(kn),
				"keys must be words, not %s", kind_name(kn));
		ktext = (const char *)kn->data.scalar.value;
		klen = kn->data.scalar.length;
		for (prev = map->data.mapping.pairs.start; prev < pair; prev++) {
			yaml_node_t *pk = yaml_document_get_node(c->doc, prev->key);

			if (pk != NULL && pk->type == YAML_SCALAR_NODE &&
				pk->data.scalar.length == klen &&
				memcmp(pk->data.scalar.value, ktext, klen) == 0)
				return fail(c, PASO_E_POLICY_SYNTAX, node_line(kn),
					"duplicate key '%s%s%s' (first at line %u)", disp, kp,
					shown(ktext, klen, vb), node_line(pk));
		}
		/* A dotted key is never a leaf: sections are written as nested mappings. */
		if (klen > 64 || memchr(ktext, 0, klen) != NULL ||
			memchr(ktext, '.', klen) != NULL ||
			snprintf(full, sizeof(full), "%s%s", kp, ktext) >= (int)sizeof(full))
			return fail(c, PASO_E_POLICY_UNKNOWN_KEY, node_line(kn),
				"unknown key '%s%s%s'", disp, kp, shown(ktext, klen, vb));
		(void)snprintf(name, sizeof(name), "%s%s", disp, full);
		if ((k = key_find(tab, ntab, full, &idx)) != NULL) {
			if ((r = set_node(c, p, k, name, vn, base)) != 0)
				return r;
			set[idx] = 1;
			if (lines != NULL)
				lines[idx] = node_line(kn);
			continue;
		}
		if (kp[0] == '\0' && is_section(tab, ntab, full)) {
			if (vn->type != YAML_MAPPING_NODE)
				return fail(c, PASO_E_POLICY_TYPE, node_line(vn),
					"%s expects a mapping of keys, not %s", name,
					kind_name(vn));
			(void)snprintf(full, sizeof(full), "%s%s.", kp, ktext);
			if ((r = walk(c, p, vn, tab, ntab, disp, full, base, set, lines)) != 0)
				return r;
			continue;
		}
		return fail(c, PASO_E_POLICY_UNKNOWN_KEY, node_line(kn), "unknown key '%s'", name);
	}
	return 0;
}

/* Applies defaults to unset keys; a required key left unset is an error at line. */
static int
fill_defaults(struct pctx *c, const struct pkey *tab, size_t ntab, const char *disp, unsigned line,
	void *base, const unsigned char *set)
{
	char name[192];
	size_t i;
	int r;

	for (i = 0; i < ntab; i++) {
		if (set[i])
			continue;
		(void)snprintf(name, sizeof(name), "%s%s", disp, tab[i].key);
		if (tab[i].def == NULL)
			return fail(
				c, PASO_E_POLICY_MISSING, line, "missing required key '%s'", name);
		if (tab[i].type == T_RULES || tab[i].type == T_LIMITS)
			continue; /* "[]": no rules */
		if (tab[i].type == T_ATTRS) {
			*(uint32_t *)((char *)base + tab[i].off) = ATTR_DEFAULT;
			continue;
		}
		if (tab[i].type == T_STR && strcmp(tab[i].def, "\"\"") == 0)
			r = set_scalar(c, &tab[i], name, "", 0, 0, line, base);
		else
			r = set_scalar(
				c, &tab[i], name, tab[i].def, strlen(tab[i].def), 1, line, base);
		if (r != 0)
			return r;
	}
	return 0;
}

/*
 * Which optional rule keys mean something for a kind of rule (the others are refused).
 * daily_budget is accepted everywhere, as before release rules: bulk rules leave it unused.
 */
static int
rule_applies(const char *key, enum policy_share_what w)
{
	if (strcmp(key, "valid_for_minutes") == 0 || strcmp(key, "transactions_allowed") == 0)
		return w == POLICY_SHARE_HIT_NO_HIT;
	if (strcmp(key, "attributes") == 0)
		return w == POLICY_SHARE_RELEASE;
	return 1;
}

static int
parse_limits(struct pctx *c, struct policy *p, yaml_node_t *seq)
{
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start), i;
	unsigned char set[NLIMITKEYS];
	char disp[32];
	int r;

	if (n > POLICY_MAX_RULES)
		return fail(c, PASO_E_POLICY_RANGE, node_line(seq),
			"partners has %zu entries, at most %d allowed", n, POLICY_MAX_RULES);
	if (n == 0)
		return 0;
	if ((p->limits = calloc(n, sizeof(*p->limits))) == NULL)
		return PASO_E_NOMEM;
	p->s.partners = p->limits;
	for (i = 0; i < n; i++) {
		yaml_node_t *rn = yaml_document_get_node(c->doc, seq->data.sequence.items.start[i]);

		p->s.npartners = i + 1;
		(void)snprintf(disp, sizeof(disp), "partners[%zu]", i);
		if (rn == NULL || rn->type != YAML_MAPPING_NODE)
			return fail(c, PASO_E_POLICY_TYPE, rn ? node_line(rn) : node_line(seq),
				"%s expects a mapping of keys, not %s", disp,
				rn ? kind_name(rn) : "nothing");
		p->limits[i].line = node_line(rn);
		memset(set, 0, sizeof(set));
		(void)snprintf(disp, sizeof(disp), "partners[%zu].", i);
		if ((r = walk(c, p, rn, limit_keys, NLIMITKEYS, disp, "", &p->limits[i], set,
			     NULL)) != 0 ||
			(r = fill_defaults(c, limit_keys, NLIMITKEYS, disp, node_line(rn),
				 &p->limits[i], set)) != 0)
			return r;
	}
	return 0;
}

static int
parse_rules(struct pctx *c, struct policy *p, yaml_node_t *seq)
{
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start), i;
	unsigned char set[NRULEKEYS];
	char disp[32];
	int r;

	if (n > POLICY_MAX_RULES)
		return fail(c, PASO_E_POLICY_RANGE, node_line(seq),
			"sharing has %zu rules, at most %d allowed", n, POLICY_MAX_RULES);
	if (n == 0)
		return 0;
	if ((p->rules = calloc(n, sizeof(*p->rules))) == NULL)
		return PASO_E_NOMEM;
	p->s.sharing = p->rules;
	for (i = 0; i < n; i++) {
		yaml_node_t *rn = yaml_document_get_node(c->doc, seq->data.sequence.items.start[i]);
		unsigned kl[NRULEKEYS];
		size_t j;

		/* Count first so policy_free sees every partly filled rule. */
		p->s.nsharing = i + 1;
		(void)snprintf(disp, sizeof(disp), "sharing[%zu]", i);
		if (rn == NULL || rn->type != YAML_MAPPING_NODE)
			return fail(c, PASO_E_POLICY_TYPE, rn ? node_line(rn) : node_line(seq),
				"%s expects a mapping of rule keys, not %s", disp,
				rn ? kind_name(rn) : "nothing");
		p->rules[i].line = node_line(rn);
		memset(set, 0, sizeof(set));
		(void)snprintf(disp, sizeof(disp), "sharing[%zu].", i);
		if ((r = walk(c, p, rn, rule_keys, NRULEKEYS, disp, "", &p->rules[i], set, kl)) !=
			0)
			return r;
		if ((r = fill_defaults(
			     c, rule_keys, NRULEKEYS, disp, node_line(rn), &p->rules[i], set)) != 0)
			return r;
		for (j = 0; j < NRULEKEYS; j++)
			if (set[j] && !rule_applies(rule_keys[j].key, p->rules[i].what))
				return fail(c, PASO_E_POLICY_CONFLICT, kl[j],
					"%s%s does not apply to a %s rule", disp, rule_keys[j].key,
					what_words[p->rules[i].what]);
	}
	return 0;
}

static size_t
key_index(const char *key)
{
	size_t i = 0;

	(void)key_find(policy_keys, NKEYS, key, &i);
	return i;
}

/* The line to blame for a cross-field conflict: the first of the keys the file sets. */
static unsigned
blame(const struct policy *p, const char *a, const char *b)
{
	size_t ia = key_index(a);

	if (p->set[ia])
		return p->line[ia];
	if (b != NULL && p->set[key_index(b)])
		return p->line[key_index(b)];
	return 1;
}

static int
check_conflicts(struct pctx *c, const struct policy *p)
{
	const struct policy_settings *s = &p->s;
	char ks[32], kc[32];
	int m, any = 0, stored = 0, prot_n = 0, raw_n = 0, prot_at = 0, raw_at = 0;
	size_t i;

	for (m = 0; m < POLICY_NMODALITIES; m++) {
		any |= s->capture[m];
		stored |= s->store[m];
		(void)snprintf(ks, sizeof(ks), "store.%s", policy_modality_name(m));
		(void)snprintf(kc, sizeof(kc), "capture.%s", policy_modality_name(m));
		if (s->store[m] && !s->capture[m])
			return fail(c, PASO_E_POLICY_CONFLICT, blame(p, ks, kc),
				"%s is true but %s is false: nothing to store", ks, kc);
		(void)snprintf(kc, sizeof(kc), "protect.%s", policy_modality_name(m));
		if (s->store[m] && s->protect[m] != 0)
			prot_n++, prot_at = m;
		if (s->store[m] && s->protect[m] == 0)
			raw_n++, raw_at = m;
		/* The hub protects what it stores; references on the card are the card's. */
		if (s->store[m] && s->protect[m] != 0 && s->location != POLICY_LOCATION_HUB)
			return fail(c, PASO_E_POLICY_CONFLICT, blame(p, kc, "store.location"),
				"%s is set but store.location is card: the hub protects only the "
				"references it stores (store.location hub)",
				kc);
	}
	/* One domain for every comparison: fusion across protected and raw references is not
	 * calibrated, so a policy protects all stored modalities or none. */
	if (prot_n > 0 && raw_n > 0) {
		(void)snprintf(kc, sizeof(kc), "protect.%s", policy_modality_name(prot_at));
		(void)snprintf(ks, sizeof(ks), "store.%s", policy_modality_name(raw_at));
		return fail(c, PASO_E_POLICY_CONFLICT, blame(p, kc, ks),
			"%s is set but %s is true with protect.%s none: protect every stored "
			"modality or none",
			kc, ks, policy_modality_name(raw_at));
	}
	if (!any)
		return fail(c, PASO_E_POLICY_CONFLICT, blame(p, "capture.finger", NULL),
			"capture: at least one modality must be true");
	if (s->dedup && (s->location != POLICY_LOCATION_HUB || !stored))
		return fail(c, PASO_E_POLICY_CONFLICT, blame(p, "match.dedup", NULL),
			"match.dedup needs templates at the hub (store.location hub and a stored "
			"modality)");
	for (i = 0; i < s->nsharing; i++) {
		if (s->sharing[i].what == POLICY_SHARE_TEMPLATES &&
			(s->location != POLICY_LOCATION_HUB || !stored))
			return fail(c, PASO_E_POLICY_CONFLICT, s->sharing[i].line,
				"sharing[%zu] shares templates but the hub keeps none "
				"(store.location card or nothing stored)",
				i);
		if (s->sharing[i].what != POLICY_SHARE_RELEASE)
			continue;
		for (m = 0; m < POLICY_NMODALITIES; m++)
			if ((s->sharing[i].attributes & (POLICY_ATTR_FINGER << m)) &&
				(!s->store[m] || s->location != POLICY_LOCATION_HUB))
				return fail(c, PASO_E_POLICY_CONFLICT, s->sharing[i].line,
					"sharing[%zu].attributes lists %s but the hub keeps no %s "
					"templates (store.%s false or store.location card)",
					i, policy_modality_name(m), policy_modality_name(m),
					policy_modality_name(m));
		/* Released templates would be the hub's own protected ones: not for a partner. */
		for (m = 0; m < POLICY_NMODALITIES && prot_n > 0; m++)
			if (s->sharing[i].attributes & (POLICY_ATTR_FINGER << m))
				return fail(c, PASO_E_POLICY_CONFLICT, s->sharing[i].line,
					"sharing[%zu].attributes lists %s but the hub keeps protected "
					"references (protect.%s): releasing them is not supported yet",
					i, policy_modality_name(m), policy_modality_name(prot_at));
	}
	for (i = 0; i < s->npartners; i++) {
		size_t j;

		for (j = 0; j < i; j++)
			if (strcmp(s->partners[j].name, s->partners[i].name) == 0)
				return fail(c, PASO_E_POLICY_CONFLICT, s->partners[i].line,
					"partners[%zu].name '%s' is listed twice (first at line %u)",
					i, s->partners[i].name, s->partners[j].line);
		for (j = 0; j < s->nsharing; j++)
			if (strcmp(s->sharing[j].partner, s->partners[i].name) == 0)
				break;
		if (j == s->nsharing)
			return fail(c, PASO_E_POLICY_CONFLICT, s->partners[i].line,
				"partners[%zu].name '%s' is named by no sharing rule", i,
				s->partners[i].name);
	}
	return 0;
}

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->s.nsharing; i++) {
		free(p->rules[i].partner);
		free(p->rules[i].purpose);
	}
	free(p->rules);
	for (i = 0; i < p->s.npartners; i++)
		free(p->limits[i].name);
	free(p->limits);
	free(p->s.name);
	free(p->s.description);
	free(p->source);
	free(p);
}

/* libyaml's problem, and the construct it was in ("while parsing a flow sequence") and where. */
static int
syntax_error(struct pctx *c, const yaml_parser_t *parser)
{
	if (parser->context != NULL)
		return fail(c, PASO_E_POLICY_SYNTAX, (unsigned)parser->problem_mark.line + 1,
			"YAML syntax error: %s (%s started at line %u)",
			parser->problem ? parser->problem : "unknown", parser->context,
			(unsigned)parser->context_mark.line + 1);
	return fail(c, PASO_E_POLICY_SYNTAX, (unsigned)parser->problem_mark.line + 1,
		"YAML syntax error: %s", parser->problem ? parser->problem : "unknown");
}

int
policy_parse(
	const char *buf, size_t len, const char *name, struct policy **out, struct paso_diag *d)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct policy *p = NULL;
	struct pctx c = {name, &doc, d};
	yaml_node_t *root;
	int r, have_doc = 0;

	*out = NULL;
	if (len > POLICY_MAX_BYTES)
		return paso_diag_set(d, PASO_E_POLICY_SYNTAX, "%s: %zu bytes, at most %u allowed",
			name, len, POLICY_MAX_BYTES);
	if (!yaml_parser_initialize(&parser))
		return PASO_E_NOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = syntax_error(&c, &parser);
		goto out;
	}
	have_doc = 1;
	if ((root = yaml_document_get_root_node(&doc)) == NULL) {
		r = fail(&c, PASO_E_POLICY_MISSING, 1, "policy is empty");
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		r = fail(&c, PASO_E_POLICY_SYNTAX, node_line(root),
			"a policy is a mapping of keys, not %s", kind_name(root));
		goto out;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		r = syntax_error(&c, &parser);
		goto out;
	}
	if (yaml_document_get_root_node(&extra) != NULL) {
		r = fail(&c, PASO_E_POLICY_SYNTAX, (unsigned)extra.start_mark.line + 1,
			"a policy file holds one YAML document");
		yaml_document_delete(&extra);
		goto out;
	}
	yaml_document_delete(&extra);
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->source = strdup(name)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	if ((r = walk(&c, p, root, policy_keys, NKEYS, "", "", &p->s, p->set, p->line)) != 0 ||
		(r = fill_defaults(&c, policy_keys, NKEYS, "", node_line(root), &p->s, p->set)) !=
			0 ||
		(r = check_conflicts(&c, p)) != 0)
		goto out;
	crypto_hash_sha256(p->digest, (const unsigned char *)buf, len);
	*out = p;
	p = NULL;
	r = 0;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	policy_free(p);
	return r;
}

int
policy_load_file(const char *path, struct policy **out, struct paso_diag *d)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	int fd, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return paso_diag_set(d, errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO, "%s: %s",
			path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = paso_diag_set(d, PASO_E_IO, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > (off_t)POLICY_MAX_BYTES) {
		r = paso_diag_set(d, PASO_E_POLICY_SYNTAX, "%s: %lld bytes, at most %u allowed",
			path, (long long)st.st_size, POLICY_MAX_BYTES);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	r = policy_parse(buf, off, path, out, d);
out:
	free(buf);
	(void)close(fd);
	return r;
}

const struct policy_settings *
policy_settings(const struct policy *p)
{
	return &p->s;
}

const char *
policy_name(const struct policy *p)
{
	return p->s.name;
}

const uint8_t *
policy_digest(const struct policy *p)
{
	return p->digest;
}

int
policy_is_set(const struct policy *p, const char *key)
{
	size_t i;

	if (key_find(policy_keys, NKEYS, key, &i) == NULL)
		return PASO_E_NOT_FOUND;
	return p->set[i] ? 1 : 0;
}

int
policy_capture_allowed(const struct policy *p, enum policy_modality m)
{
	return (unsigned)m < POLICY_NMODALITIES && p->s.capture[m];
}

int
policy_store_allowed(const struct policy *p, enum policy_modality m)
{
	return (unsigned)m < POLICY_NMODALITIES && p->s.store[m];
}

int
policy_store_at_hub(const struct policy *p)
{
	return p->s.location == POLICY_LOCATION_HUB;
}

uint32_t
policy_retention_days(const struct policy *p, enum policy_record_kind k)
{
	return (unsigned)k < POLICY_NRECORD_KINDS ? p->s.retention_days[k] : 0;
}

int
policy_protect(const struct policy *p, enum policy_modality m)
{
	return (unsigned)m < POLICY_NMODALITIES ? p->s.protect[m] : 0;
}

int
policy_dedup(const struct policy *p)
{
	return p->s.dedup;
}

int
policy_verify_staged(const struct policy *p)
{
	return p->s.verify_staged;
}

double
policy_verify_fmr(const struct policy *p)
{
	return p->s.verify_fmr;
}

double
policy_identify_fmr(const struct policy *p)
{
	return p->s.identify_fmr;
}

const char *
policy_modality_name(enum policy_modality m)
{
	static const char *const names[] = {"finger", "face", "iris"};

	return (unsigned)m < POLICY_NMODALITIES ? names[m] : "?";
}

const char *
policy_record_kind_name(enum policy_record_kind k)
{
	static const char *const names[] = {"enrolment", "crossing", "identification", "rejected"};

	return (unsigned)k < POLICY_NRECORD_KINDS ? names[k] : "?";
}

const char *
policy_share_what_name(enum policy_share_what w)
{
	return (unsigned)w < 4 ? what_words[w] : "?";
}

const struct policy_partner_limit *
policy_partner_limit(const struct policy *p, const char *partner)
{
	size_t i;

	for (i = 0; i < p->s.npartners; i++)
		if (strcmp(p->s.partners[i].name, partner) == 0)
			return &p->s.partners[i];
	return NULL;
}

/* --- the dump ------------------------------------------------------------------------------ */

struct sbuf {
	char *b;
	size_t len, cap;
	int err;
};

static void __attribute__((format(printf, 2, 3))) sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		/* b is NULL until the first growth: NULL + 0 is undefined, so pass NULL itself. */
		n = vsnprintf(sb->b != NULL ? sb->b + sb->len : NULL, sb->cap - sb->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->err = PASO_E_INTERNAL;
			return;
		}
		if ((size_t)n < sb->cap - sb->len) {
			sb->len += (size_t)n;
			return;
		}
		size_t ncap = (sb->cap + (size_t)n + 1) * 2;
		char *nb = realloc(sb->b, ncap);

		if (nb == NULL) {
			sb->err = PASO_E_NOMEM;
			return;
		}
		sb->b = nb;
		sb->cap = ncap;
	}
}

/* A YAML double-quoted string. */
static void
sb_quoted(struct sbuf *sb, const char *s)
{
	sb_printf(sb, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			sb_printf(sb, "\\%c", ch);
		else if (ch == '\n')
			sb_printf(sb, "\\n");
		else if (ch == '\t')
			sb_printf(sb, "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			sb_printf(sb, "\\x%02x", ch);
		else
			sb_printf(sb, "%c", ch);
	}
	sb_printf(sb, "\"");
}

/* Shortest decimal form that reads back as exactly x. */
static void
sb_real(struct sbuf *sb, double x)
{
	char b[40];
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		(void)snprintf(b, sizeof(b), "%.*g", prec, x);
		if (strtod(b, NULL) == x)
			break;
	}
	sb_printf(sb, "%s", b);
}

static void
sb_value(struct sbuf *sb, const struct pkey *k, const void *base)
{
	const char *field = (const char *)base + k->off;
	uint32_t bits;
	int i, first = 1;

	switch (k->type) {
	case T_STR:
		sb_quoted(sb, *(char *const *)field ? *(char *const *)field : "");
		break;
	case T_BOOL:
		sb_printf(sb, "%s", *(const bool *)field ? "true" : "false");
		break;
	case T_UINT:
		sb_printf(sb, "%u", *(const uint32_t *)field);
		break;
	case T_REAL:
		sb_real(sb, *(const double *)field);
		break;
	case T_ENUM:
		sb_printf(sb, "%s", k->words[*(const int *)field]);
		break;
	case T_CATS:
		bits = *(const uint32_t *)field;
		if (bits == POLICY_CAT_ALL) {
			sb_printf(sb, "all");
			break;
		}
		sb_printf(sb, "[");
		for (i = 1; category_words[i] != NULL; i++)
			if (bits & (1u << i)) {
				sb_printf(sb, "%s%s", first ? "" : ", ", category_words[i]);
				first = 0;
			}
		sb_printf(sb, "]");
		break;
	case T_ATTRS:
		bits = *(const uint32_t *)field;
		sb_printf(sb, "[");
		for (i = 0; k->words[i] != NULL; i++)
			if (bits & (1u << i)) {
				sb_printf(sb, "%s%s", first ? "" : ", ", k->words[i]);
				first = 0;
			}
		sb_printf(sb, "]");
		break;
	case T_RULES:
	case T_LIMITS:
		break;
	}
}

static void
dump_rules(struct sbuf *sb, const struct policy *p)
{
	size_t i, j, ks = key_index("sharing");

	if (p->s.nsharing == 0) {
		sb_printf(sb, "%ssharing: []%s\n", p->set[ks] ? "" : "# ",
			p->set[ks] ? "" : " (default: no sharing)");
		return;
	}
	sb_printf(sb, "sharing:\n");
	for (i = 0; i < p->s.nsharing; i++)
		for (j = 0; j < NRULEKEYS; j++) {
			/* Keys that mean nothing for this kind of rule would not read back. */
			if (!rule_applies(rule_keys[j].key, p->rules[i].what))
				continue;
			sb_printf(sb, "  %s %s: ", j == 0 ? "-" : " ", rule_keys[j].key);
			sb_value(sb, &rule_keys[j], &p->rules[i]);
			sb_printf(sb, "\n");
		}
}

static void
dump_limits(struct sbuf *sb, const struct policy *p)
{
	size_t i, j, kp = key_index("partners");

	if (p->s.npartners == 0) {
		sb_printf(sb, "%spartners: []%s\n", p->set[kp] ? "" : "# ",
			p->set[kp] ? "" : " (default: no totals beyond each rule's budget)");
		return;
	}
	sb_printf(sb, "partners:\n");
	for (i = 0; i < p->s.npartners; i++)
		for (j = 0; j < NLIMITKEYS; j++) {
			sb_printf(sb, "  %s %s: ", j == 0 ? "-" : " ", limit_keys[j].key);
			sb_value(sb, &limit_keys[j], &p->limits[i]);
			sb_printf(sb, "\n");
		}
}

int
policy_dump(const struct policy *p, char **textp)
{
	struct sbuf sb = {NULL, 0, 0, 0};
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	const char *dot, *prev = NULL;
	size_t i, j, plen = 0;

	*textp = NULL;
	sodium_bin2hex(hex, sizeof(hex), p->digest, sizeof(p->digest));
	sb_printf(&sb, "# Paso policy %s, read from %s (sha256 %s).\n", p->s.name, p->source, hex);
	sb_printf(&sb, "# Effective values; keys the file leaves unset are commented out "
		       "with (default).\n");
	for (i = 0; i < NKEYS; i++) {
		const struct pkey *k = &policy_keys[i];

		if (k->type == T_RULES) {
			dump_rules(&sb, p);
			continue;
		}
		if (k->type == T_LIMITS) {
			dump_limits(&sb, p);
			continue;
		}
		dot = strchr(k->key, '.');
		if (dot == NULL) {
			sb_printf(&sb, "%s%s: ", p->set[i] ? "" : "# ", k->key);
			sb_value(&sb, k, &p->s);
			sb_printf(&sb, "%s\n", p->set[i] ? "" : " (default)");
			prev = NULL;
			continue;
		}
		if (prev == NULL || (size_t)(dot - k->key) != plen ||
			strncmp(prev, k->key, plen) != 0) {
			int any = 0;

			/* A section whose keys are all unset is commented out as a whole. */
			prev = k->key;
			plen = (size_t)(dot - k->key);
			for (j = i; j < NKEYS && strncmp(policy_keys[j].key, prev, plen) == 0 &&
				    policy_keys[j].key[plen] == '.';
				j++)
				any |= p->set[j];
			sb_printf(&sb, "%s%.*s:%s\n", any ? "" : "# ", (int)plen, prev,
				any ? "" : " (every key default)");
		}
		sb_printf(&sb, "%s  %s: ", p->set[i] ? "" : "# ", dot + 1);
		sb_value(&sb, k, &p->s);
		sb_printf(&sb, "%s\n", p->set[i] ? "" : " (default)");
	}
	if (sb.err) {
		free(sb.b);
		return sb.err;
	}
	*textp = sb.b;
	return 0;
}
