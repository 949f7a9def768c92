/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for registry/policy.c: presets parse, every error names file, line and value, dumps
 * round-trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "errors.h"
#include "policy.h"

#define PRESETS PASO_TEST_DATA "/../../policies/"

static const char *const all_keys[] = {"name", "description", "capture.finger", "capture.face",
	"capture.iris", "store.finger", "store.face", "store.iris", "store.location",
	"retention_days.enrolment", "retention_days.crossing", "retention_days.identification",
	"retention_days.rejected", "match.verify_fmr", "match.identify_fmr", "match.dedup",
	"sharing"};

static char *
slurp(const char *path, size_t *lenp)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	assert_non_null(buf = malloc((size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*lenp = (size_t)n;
	return buf;
}

static void
assert_same_settings(const struct policy *a, const struct policy *b)
{
	const struct policy_settings *x = policy_settings(a), *y = policy_settings(b);
	size_t i;

	assert_string_equal(x->name, y->name);
	assert_string_equal(x->description, y->description);
	assert_memory_equal(x->capture, y->capture, sizeof(x->capture));
	assert_memory_equal(x->store, y->store, sizeof(x->store));
	assert_int_equal(x->location, y->location);
	assert_memory_equal(x->retention_days, y->retention_days, sizeof(x->retention_days));
	assert_true(x->verify_fmr == y->verify_fmr);
	assert_true(x->identify_fmr == y->identify_fmr);
	assert_int_equal(x->dedup, y->dedup);
	assert_int_equal(x->nsharing, y->nsharing);
	for (i = 0; i < x->nsharing; i++) {
		assert_string_equal(x->sharing[i].partner, y->sharing[i].partner);
		assert_int_equal(x->sharing[i].what, y->sharing[i].what);
		assert_int_equal(x->sharing[i].categories, y->sharing[i].categories);
		assert_string_equal(x->sharing[i].purpose, y->sharing[i].purpose);
		assert_int_equal(x->sharing[i].retention_days, y->sharing[i].retention_days);
		assert_int_equal(x->sharing[i].daily_budget, y->sharing[i].daily_budget);
		assert_int_equal(x->sharing[i].valid_for_minutes, y->sharing[i].valid_for_minutes);
		assert_int_equal(
			x->sharing[i].transactions_allowed, y->sharing[i].transactions_allowed);
		assert_int_equal(x->sharing[i].attributes, y->sharing[i].attributes);
	}
	assert_int_equal(x->npartners, y->npartners);
	for (i = 0; i < x->npartners; i++) {
		assert_string_equal(x->partners[i].name, y->partners[i].name);
		assert_int_equal(x->partners[i].daily_queries, y->partners[i].daily_queries);
		assert_int_equal(x->partners[i].daily_releases, y->partners[i].daily_releases);
	}
	for (i = 0; i < sizeof(all_keys) / sizeof(all_keys[0]); i++)
		assert_int_equal(policy_is_set(a, all_keys[i]), policy_is_set(b, all_keys[i]));
}

/* Dump, parse the dump, dump again: same settings, same set/unset state, same text. */
static void
assert_round_trip(const struct policy *p)
{
	struct paso_diag d = {0};
	struct policy *q = NULL;
	char *t1 = NULL, *t2 = NULL;

	assert_int_equal(policy_dump(p, &t1), 0);
	if (policy_parse(t1, strlen(t1), "dump.yaml", &q, &d) != 0)
		fail_msg("dump does not parse: %s\n%s", d.msg, t1);
	assert_same_settings(p, q);
	assert_int_equal(policy_dump(q, &t2), 0);
	/* Only the header line (source and digest) differs. */
	assert_string_equal(strchr(t1, '\n'), strchr(t2, '\n'));
	policy_free(q);
	free(t1);
	free(t2);
}

static struct policy *
load_preset(const char *name)
{
	struct paso_diag d = {0};
	struct policy *p = NULL;
	char path[512];

	(void)snprintf(path, sizeof(path), PRESETS "%s", name);
	if (policy_load_file(path, &p, &d) != 0)
		fail_msg("%s", d.msg);
	return p;
}

static void
test_as_deployed(void **state)
{
	struct policy *p = load_preset("as-deployed.yaml");
	const struct policy_settings *s = policy_settings(p);
	uint8_t digest[32];
	size_t len;
	char *raw;

	(void)state;
	assert_string_equal(policy_name(p), "as-deployed");
	assert_true(s->capture[POLICY_IRIS] && s->store[POLICY_FACE]);
	assert_true(policy_store_at_hub(p));
	assert_int_equal(policy_retention_days(p, POLICY_REC_ENROLMENT), 27375);
	assert_true(policy_dedup(p));
	assert_true(policy_identify_fmr(p) == 1e-6);
	assert_int_equal(s->nsharing, 2);
	assert_string_equal(s->sharing[0].partner, "dhs");
	assert_int_equal(s->sharing[0].what, POLICY_SHARE_TEMPLATES);
	assert_int_equal(s->sharing[0].categories, POLICY_CAT_ALL);
	assert_int_equal(s->sharing[0].line, 34);
	/* The digest is of the exact file bytes. */
	raw = slurp(PRESETS "as-deployed.yaml", &len);
	crypto_hash_sha256(digest, (const uint8_t *)raw, len);
	assert_memory_equal(policy_digest(p), digest, 32);
	/* The embedded default is this very file. */
	assert_int_equal(policy_default_yaml_len, len);
	assert_memory_equal(policy_default_yaml, raw, len);
	assert_int_equal(policy_default_yaml[len], '\0');
	free(raw);
	assert_round_trip(p);
	policy_free(p);
}

static void
test_minimal_and_card_only(void **state)
{
	struct policy *p = load_preset("minimal.yaml");
	const struct policy_settings *s = policy_settings(p);

	(void)state;
	assert_false(policy_capture_allowed(p, POLICY_FACE));
	assert_true(policy_store_allowed(p, POLICY_FINGER));
	assert_false(policy_store_allowed(p, POLICY_IRIS));
	assert_int_equal(policy_retention_days(p, POLICY_REC_CROSSING), 90);
	assert_int_equal(s->nsharing, 1);
	assert_int_equal(s->sharing[0].what, POLICY_SHARE_HIT_NO_HIT);
	assert_int_equal(s->sharing[0].categories, POLICY_CAT_DETAINEE);
	assert_int_equal(s->sharing[0].retention_days, 30);
	assert_round_trip(p);
	policy_free(p);

	p = load_preset("card-only.yaml");
	s = policy_settings(p);
	assert_false(policy_store_at_hub(p));
	assert_false(policy_dedup(p));
	assert_int_equal(s->nsharing, 0);
	assert_int_equal(policy_is_set(p, "sharing"), 1);
	assert_int_equal(policy_is_set(p, "no.such"), PASO_E_NOT_FOUND);
	assert_round_trip(p);
	policy_free(p);
}

static void
test_defaults_are_unset_and_dumped_as_such(void **state)
{
	const char *src = "name: sparse\nmatch:\n  dedup: false\n";
	struct paso_diag d = {0};
	struct policy *p = NULL;
	char *text = NULL;

	(void)state;
	assert_int_equal(policy_parse(src, strlen(src), "sparse.yaml", &p, &d), 0);
	assert_int_equal(policy_is_set(p, "match.dedup"), 1);
	assert_int_equal(policy_is_set(p, "match.verify_fmr"), 0);
	assert_int_equal(policy_is_set(p, "retention_days.crossing"), 0);
	assert_int_equal(policy_retention_days(p, POLICY_REC_CROSSING), 1095);
	assert_true(policy_verify_fmr(p) == 1e-4);
	assert_true(policy_capture_allowed(p, POLICY_IRIS));
	assert_false(policy_store_allowed(p, POLICY_IRIS));
	assert_int_equal(policy_protect(p, POLICY_FACE), 0);
	assert_string_equal(policy_settings(p)->description, "");
	assert_int_equal(policy_dump(p, &text), 0);
	assert_non_null(strstr(text, "\nname: \"sparse\"\n"));
	assert_non_null(strstr(text, "\nmatch:\n#   verify_fmr: 0.0001 (default)\n"));
	assert_non_null(strstr(text, "\n  dedup: false\n"));
	assert_non_null(strstr(text, "\n# retention_days: (every key default)\n"));
	assert_non_null(strstr(text, "\n#   crossing: 1095 (default)\n"));
	assert_non_null(strstr(text, "\n# sharing: [] (default: no sharing)\n"));
	free(text);
	assert_round_trip(p);
	policy_free(p);
}

/* Release rules, case token limits and partner totals: parsed, defaulted, dumped, read back. */
static void
test_release_rules_and_partner_totals(void **state)
{
	const char *src =
		"name: rel\nstore: {face: true}\n"
		"sharing:\n"
		"  - {partner: dhs, what: hit_no_hit, categories: all, purpose: q, "
		"retention_days: 1, valid_for_minutes: 30, transactions_allowed: 3}\n"
		"  - {partner: dhs, what: release, categories: [detainee], purpose: r, "
		"retention_days: 7, daily_budget: 5, attributes: [enrolled_point, face]}\n"
		"  - {partner: cbp, what: release, categories: all, purpose: r2, "
		"retention_days: 7}\n"
		"  - {partner: cbp, what: hit_no_hit, categories: all, purpose: q2, "
		"retention_days: 7}\n"
		"partners:\n  - {name: dhs, daily_releases: 2}\n";
	const struct policy_settings *s;
	const struct policy_partner_limit *pl;
	struct paso_diag d = {0};
	struct policy *p = NULL;
	char *text = NULL;

	(void)state;
	if (policy_parse(src, strlen(src), "rel.yaml", &p, &d) != 0)
		fail_msg("%s", d.msg);
	s = policy_settings(p);
	assert_int_equal(s->nsharing, 4);
	assert_int_equal(s->sharing[0].valid_for_minutes, 30);
	assert_int_equal(s->sharing[0].transactions_allowed, 3);
	assert_int_equal(s->sharing[1].what, POLICY_SHARE_RELEASE);
	assert_int_equal(s->sharing[1].attributes, POLICY_ATTR_ENROLLED_POINT | POLICY_ATTR_FACE);
	assert_int_equal(s->sharing[1].daily_budget, 5);
	/* Defaults: enrolment time and place, no template; a day; one release. */
	assert_int_equal(
		s->sharing[2].attributes, POLICY_ATTR_ENROLLED_AT | POLICY_ATTR_ENROLLED_POINT);
	assert_int_equal(s->sharing[3].valid_for_minutes, 1440);
	assert_int_equal(s->sharing[3].transactions_allowed, 1);
	assert_non_null(pl = policy_partner_limit(p, "dhs"));
	assert_int_equal(pl->daily_releases, 2);
	assert_int_equal(pl->daily_queries, 10000000);
	assert_null(policy_partner_limit(p, "cbp"));
	assert_string_equal(policy_share_what_name(POLICY_SHARE_RELEASE), "release");
	assert_int_equal(policy_dump(p, &text), 0);
	assert_non_null(strstr(text, "    attributes: [enrolled_point, face]\n"));
	assert_non_null(strstr(text, "    valid_for_minutes: 30\n"));
	assert_non_null(strstr(text, "partners:\n  - name: \"dhs\"\n"));
	free(text);
	assert_round_trip(p);
	policy_free(p);
}

static void
test_strings_round_trip(void **state)
{
	const char *src = "name: quotes\n"
			  "description: \"Talism\xc3\xa1n \\\"bridge\\\"\\n\\tsecond line\"\n";
	struct paso_diag d = {0};
	struct policy *p = NULL;

	(void)state;
	if (policy_parse(src, strlen(src), "q.yaml", &p, &d) != 0)
		fail_msg("%s", d.msg);
	assert_string_equal(
		policy_settings(p)->description, "Talism\xc3\xa1n \"bridge\"\n\tsecond line");
	assert_round_trip(p);
	policy_free(p);
}

struct bad {
	const char *yaml;
	int code;
	const char *msg;
};

static const char base[] = "name: x\n";

static const struct bad bads[] = {
	/* values out of range */
	{"retention_days:\n  crossing: 99999\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:3: retention_days.crossing out of range 1..36500: '99999'"},
	{"retention_days:\n  rejected: 0\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:3: retention_days.rejected out of range 1..36500: '0'"},
	{"retention_days:\n  rejected: -3\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:3: retention_days.rejected out of range 1..36500: '-3'"},
	{"match:\n  verify_fmr: 0.5\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:3: match.verify_fmr out of range 1e-9..1e-1: '0.5'"},
	{"store:\n  location: moon\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:3: store.location expects one of hub, card: 'moon'"},
	{"description: \"bell\\a\"\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:2: description must be at most 1024 characters, no control "
		"characters: 'bell?'"},
	/* unknown keys */
	{"capture:\n  fingr: true\n", PASO_E_POLICY_UNKNOWN_KEY,
		"policies/x.yaml:3: unknown key 'capture.fingr'"},
	{"colour: red\n", PASO_E_POLICY_UNKNOWN_KEY, "policies/x.yaml:2: unknown key 'colour'"},
	{"capture.finger: true\n", PASO_E_POLICY_UNKNOWN_KEY,
		"policies/x.yaml:2: unknown key 'capture.finger'"},
	/* duplicates */
	{"store:\n  face: true\n  face: false\n", PASO_E_POLICY_SYNTAX,
		"policies/x.yaml:4: duplicate key 'store.face' (first at line 3)"},
	{"name: y\n", PASO_E_POLICY_SYNTAX,
		"policies/x.yaml:2: duplicate key 'name' (first at line 1)"},
	/* wrong types */
	{"capture:\n  iris: maybe\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: capture.iris expects true or false: 'maybe'"},
	{"capture:\n  iris: yes\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: capture.iris expects true or false: 'yes'"},
	{"capture:\n  iris: \"true\"\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: capture.iris expects true or false (unquoted): 'true'"},
	{"retention_days:\n  enrolment: ten\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: retention_days.enrolment expects a whole number of days: "
		"'ten'"},
	{"retention_days:\n  enrolment: 1.5\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: retention_days.enrolment expects a whole number of days: "
		"'1.5'"},
	{"match:\n  identify_fmr: often\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: match.identify_fmr expects a number: 'often'"},
	{"match: 3\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:2: match expects a mapping of keys, not a value"},
	{"capture:\n  face: [true]\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: capture.face expects true or false, not a list"},
	{"sharing: dhs\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:2: sharing expects a list of rules"},
	/* sharing rules */
	{"sharing:\n  - partner: dhs\n    what: bulk\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:4: sharing[0].what expects one of hit_no_hit, templates, records, "
		"release: 'bulk'"},
	/* release rules, case token limits, partner totals */
	{"sharing:\n  - {partner: a, what: release, categories: all, purpose: p, "
	 "retention_days: 1, attributes: [enrolled_at, retina]}\n",
		PASO_E_POLICY_RANGE,
		"policies/x.yaml:3: sharing[0].attributes expects enrolled_at, enrolled_point, "
		"finger, face or iris: 'retina'"},
	{"sharing:\n  - {partner: a, what: release, categories: all, purpose: p, "
	 "retention_days: 1, attributes: face}\n",
		PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: sharing[0].attributes expects a list of enrolled_at, "
		"enrolled_point, finger, face, iris, not a value"},
	{"sharing:\n  - {partner: a, what: release, categories: all, purpose: p, "
	 "retention_days: 1, attributes: [face, face]}\n",
		PASO_E_POLICY_SYNTAX,
		"policies/x.yaml:3: sharing[0].attributes lists an attribute twice: 'face'"},
	{"sharing:\n  - {partner: a, what: release, categories: all, purpose: p, "
	 "retention_days: 1, attributes: [iris]}\n",
		PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:3: sharing[0].attributes lists iris but the hub keeps no iris "
		"templates (store.iris false or store.location card)"},
	{"sharing:\n  - partner: a\n    what: records\n    categories: all\n    purpose: p\n"
	 "    retention_days: 1\n    attributes: [enrolled_at]\n",
		PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:8: sharing[0].attributes does not apply to a records rule"},
	{"sharing:\n  - partner: a\n    what: release\n    categories: all\n    purpose: p\n"
	 "    retention_days: 1\n    valid_for_minutes: 5\n",
		PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:8: sharing[0].valid_for_minutes does not apply to a release rule"},
	{"sharing:\n  - {partner: a, what: hit_no_hit, categories: all, purpose: p, "
	 "retention_days: 1, valid_for_minutes: 0}\n",
		PASO_E_POLICY_RANGE,
		"policies/x.yaml:3: sharing[0].valid_for_minutes out of range 1..5256000: '0'"},
	{"sharing:\n  - {partner: a, what: hit_no_hit, categories: all, purpose: p, "
	 "retention_days: 1, transactions_allowed: lots}\n",
		PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: sharing[0].transactions_allowed expects a whole number: 'lots'"},
	{"sharing:\n  - {partner: a, what: hit_no_hit, categories: all, purpose: p, "
	 "retention_days: 1}\npartners:\n  - {name: b, daily_queries: 5}\n",
		PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:5: partners[0].name 'b' is named by no sharing rule"},
	{"sharing:\n  - {partner: a, what: hit_no_hit, categories: all, purpose: p, "
	 "retention_days: 1}\npartners:\n  - {name: a}\n  - {name: a}\n",
		PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:6: partners[1].name 'a' is listed twice (first at line 5)"},
	{"sharing:\n  - {partner: a, what: hit_no_hit, categories: all, purpose: p, "
	 "retention_days: 1}\npartners:\n  - {name: a, daily_releases: 0}\n",
		PASO_E_POLICY_RANGE,
		"policies/x.yaml:5: partners[0].daily_releases out of range 1..10000000: '0'"},
	{"partners:\n  - {name: a, daily_quota: 3}\n", PASO_E_POLICY_UNKNOWN_KEY,
		"policies/x.yaml:3: unknown key 'partners[0].daily_quota'"},
	{"partners: a\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:2: partners expects a list of rules"},
	{"sharing:\n  - partnr: dhs\n", PASO_E_POLICY_UNKNOWN_KEY,
		"policies/x.yaml:3: unknown key 'sharing[0].partnr'"},
	{"store: {finger: true}\nsharing:\n  - {partner: a, what: records, categories: all, "
	 "purpose: p, retention_days: 1}\n  - {partner: b, what: records, categories: all}\n",
		PASO_E_POLICY_MISSING,
		"policies/x.yaml:5: missing required key 'sharing[1].purpose'"},
	{"sharing:\n  - partner: dhs\n    categories: [detainee, tourist]\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:4: sharing[0].categories expects regional_visitor, border_worker, "
		"migrant_in_transit, detainee or all: 'tourist'"},
	{"sharing:\n  - partner: dhs\n    categories: [detainee, detainee]\n", PASO_E_POLICY_SYNTAX,
		"policies/x.yaml:4: sharing[0].categories lists a category twice: 'detainee'"},
	{"sharing:\n  - partner: d h s\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:3: sharing[0].partner must be 1..64 characters of A-Z a-z 0-9 "
		". _ -: 'd h s'"},
	{"sharing:\n  - dhs\n", PASO_E_POLICY_TYPE,
		"policies/x.yaml:3: sharing[0] expects a mapping of rule keys, not a value"},
	/* template protection */
	{"protect:\n  face: cancelable\n", PASO_E_POLICY_RANGE,
		"policies/x.yaml:3: protect.face expects one of none, polyprotect: 'cancelable'"},
	{"store: {face: true, iris: true}\nprotect: {face: polyprotect}\n", PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:3: protect.face is set but store.iris is true with protect.iris "
		"none: protect every stored modality or none"},
	{"store: {face: true, location: card}\nprotect: {face: polyprotect}\n",
		PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:3: protect.face is set but store.location is card: the hub "
		"protects only the references it stores (store.location hub)"},
	/* settings that contradict each other */
	{"capture:\n  iris: false\nstore:\n  iris: true\n", PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:5: store.iris is true but capture.iris is false: nothing to "
		"store"},
	{"capture: {finger: false, face: false, iris: false}\n", PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:2: capture: at least one modality must be true"},
	{"store: {face: true, location: card}\nmatch: {dedup: true}\n", PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:3: match.dedup needs templates at the hub (store.location hub "
		"and a stored modality)"},
	{"store: {face: true, location: card}\nsharing:\n  - {partner: a, what: templates, "
	 "categories: all, purpose: p, retention_days: 1}\n",
		PASO_E_POLICY_CONFLICT,
		"policies/x.yaml:4: sharing[0] shares templates but the hub keeps none "
		"(store.location card or nothing stored)"},
	/* YAML itself */
	{"capture: [unclosed\n", PASO_E_POLICY_SYNTAX, NULL},
	{"---\nb: 1\n---\nc: 2\n", PASO_E_POLICY_SYNTAX,
		"policies/x.yaml:2: a policy file holds one YAML document"},
};

static void
test_error_messages(void **state)
{
	struct paso_diag d;
	struct policy *p;
	char buf[1024];
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		(void)snprintf(buf, sizeof(buf), "%s%s", base, bads[i].yaml);
		memset(&d, 0, sizeof(d));
		p = (struct policy *)&d; /* must be reset to NULL on failure */
		r = policy_parse(buf, strlen(buf), "policies/x.yaml", &p, &d);
		if (r != bads[i].code)
			fail_msg("case %zu: got %s (%s), want %s", i, paso_errname(r), d.msg,
				paso_errname(bads[i].code));
		assert_null(p);
		assert_int_equal(d.code, r);
		if (bads[i].msg != NULL && strcmp(d.msg, bads[i].msg) != 0)
			fail_msg("case %zu:\n got: %s\nwant: %s", i, d.msg, bads[i].msg);
	}
}

static void
test_syntax_empty_missing(void **state)
{
	struct paso_diag d = {0};
	struct policy *p = NULL;
	const char *s;

	(void)state;
	s = "name: x\ncapture: [unclosed\n";
	assert_int_equal(
		policy_parse(s, strlen(s), "policies/x.yaml", &p, &d), PASO_E_POLICY_SYNTAX);
	assert_string_equal(d.msg,
		"policies/x.yaml:3: YAML syntax error: did not find expected ',' "
		"or ']' (while parsing a flow sequence started at line 2)");
	s = "# only a comment\n";
	assert_int_equal(
		policy_parse(s, strlen(s), "policies/x.yaml", &p, &d), PASO_E_POLICY_MISSING);
	assert_string_equal(d.msg, "policies/x.yaml:1: policy is empty");
	s = "\ndescription: no name\n";
	assert_int_equal(
		policy_parse(s, strlen(s), "policies/x.yaml", &p, &d), PASO_E_POLICY_MISSING);
	assert_string_equal(d.msg, "policies/x.yaml:2: missing required key 'name'");
	s = "- a\n- b\n";
	assert_int_equal(
		policy_parse(s, strlen(s), "policies/x.yaml", &p, &d), PASO_E_POLICY_SYNTAX);
	assert_string_equal(d.msg, "policies/x.yaml:1: a policy is a mapping of keys, not a list");
	s = "name: x\n\x01\n";
	assert_int_equal(
		policy_parse(s, strlen(s), "policies/x.yaml", &p, &d), PASO_E_POLICY_SYNTAX);
	assert_int_equal(policy_load_file("/nonexistent/policy.yaml", &p, &d), PASO_E_NOT_FOUND);
	assert_non_null(strstr(d.msg, "/nonexistent/policy.yaml"));
	assert_null(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_as_deployed),
		cmocka_unit_test(test_minimal_and_card_only),
		cmocka_unit_test(test_defaults_are_unset_and_dumped_as_such),
		cmocka_unit_test(test_strings_round_trip),
		cmocka_unit_test(test_release_rules_and_partner_totals),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_syntax_empty_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
