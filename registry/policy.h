/* SPDX-License-Identifier: Apache-2.0 */
/* Policy files: what is captured, stored, matched, shared and for how long, parsed from YAML. */
#ifndef PASO_POLICY_H
#define PASO_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/*
 * The keys, their types, bounds and defaults are documented in policies/README.md and declared
 * once in policy.c's table, which drives parsing, defaults, validation, the dump and the
 * "unknown key" error. Every error names the file, the line and the offending value:
 *   policies/x.yaml:12: retention_days.crossing out of range 1..36500: '99999'
 * Codes: PASO_E_POLICY_SYNTAX (YAML syntax, duplicate key, wrong shape), PASO_E_POLICY_UNKNOWN_KEY,
 * PASO_E_POLICY_TYPE (a value of the wrong type), PASO_E_POLICY_RANGE (out of bounds, not one of
 * the allowed words), PASO_E_POLICY_MISSING (a required key), PASO_E_POLICY_CONFLICT (settings
 * that contradict each other, e.g. storing a modality that is not captured).
 */

#define POLICY_MAX_BYTES (1u << 20)
#define POLICY_MAX_RULES 64

enum policy_modality { POLICY_FINGER, POLICY_FACE, POLICY_IRIS, POLICY_NMODALITIES };

enum policy_record_kind {
	POLICY_REC_ENROLMENT,      /* a subject's enrolment record and templates */
	POLICY_REC_CROSSING,       /* one crossing (verification) record */
	POLICY_REC_IDENTIFICATION, /* one 1:N identification query and its result */
	POLICY_REC_REJECTED,       /* what is kept about a refused message (metadata only) */
	POLICY_NRECORD_KINDS
};

enum policy_location { POLICY_LOCATION_HUB, POLICY_LOCATION_CARD };

enum policy_share_what {
	POLICY_SHARE_HIT_NO_HIT, /* the partner asks, the hub answers hit or no hit */
	POLICY_SHARE_TEMPLATES,  /* bulk copies of biometric templates */
	POLICY_SHARE_RECORDS,    /* bulk copies of enrolment and crossing records, no templates */
	POLICY_SHARE_RELEASE     /* after a hit, the record behind a case token, on request */
};

/* What a release rule hands over (attributes): bits of these. */
enum policy_attr {
	POLICY_ATTR_ENROLLED_AT = 1u << 0,
	POLICY_ATTR_ENROLLED_POINT = 1u << 1,
	POLICY_ATTR_FINGER = 1u << 2, /* templates of each modality: only when listed */
	POLICY_ATTR_FACE = 1u << 3,
	POLICY_ATTR_IRIS = 1u << 4,
};
#define POLICY_ATTR_TEMPLATES (POLICY_ATTR_FINGER | POLICY_ATTR_FACE | POLICY_ATTR_IRIS)

/* Category bits: 1u << value of proto's enum Category. */
#define POLICY_CAT_REGIONAL_VISITOR (1u << 1)
#define POLICY_CAT_BORDER_WORKER (1u << 2)
#define POLICY_CAT_MIGRANT_IN_TRANSIT (1u << 3)
#define POLICY_CAT_DETAINEE (1u << 4)
#define POLICY_CAT_ALL 0x1eu

struct policy_share_rule {
	char *partner; /* [A-Za-z0-9._-]{1,64} */
	enum policy_share_what what;
	uint32_t categories;     /* POLICY_CAT_* bits, never 0 */
	char *purpose;           /* 1..256 characters, recorded in audit entries */
	uint32_t retention_days; /* how long the partner may keep what it receives */
	uint32_t daily_budget; /* hit_no_hit, release: requests a day (hub clock) under this rule */
	uint32_t valid_for_minutes;    /* hit_no_hit: how long a case token it issues is valid */
	uint32_t transactions_allowed; /* hit_no_hit: releases one case token allows */
	uint32_t attributes;           /* release: POLICY_ATTR_* bits it hands over */
	unsigned line;                 /* line of the rule in the file, for messages */
};

/* A partner's totals a day across its rules and purposes (the `partners` list). */
struct policy_partner_limit {
	char *name;              /* a partner some sharing rule names */
	uint32_t daily_queries;  /* hit/no-hit queries a day, every purpose together */
	uint32_t daily_releases; /* releases a day, every purpose together */
	unsigned line;
};

/* Effective values (set in the file or defaulted). Read-only; owned by the struct policy. */
struct policy_settings {
	char *name;                       /* required, [A-Za-z0-9._-]{1,64} */
	char *description;                /* default "" */
	bool capture[POLICY_NMODALITIES]; /* what a kiosk may send */
	bool store[POLICY_NMODALITIES];   /* what is kept (at the hub, or on the card) */
	enum policy_location location;    /* where templates live */
	int protect[POLICY_NMODALITIES];  /* 0 none, 1 the modality's scheme (policies/README.md) */
	uint32_t retention_days[POLICY_NRECORD_KINDS];
	double verify_fmr;   /* target false match rate of 1:1 verification */
	double identify_fmr; /* target false match rate of 1:N identification */
	bool dedup;          /* run 1:N against the gallery at enrolment */
	bool verify_staged;  /* 1:1 decides on face and iris first, fingers only when they do not */
	const struct policy_share_rule *sharing;
	size_t nsharing;
	const struct policy_partner_limit *partners;
	size_t npartners;
};

struct policy;

/*
 * Parses len bytes of YAML; name is used in messages and kept (e.g. "policies/x.yaml").
 * Pure: touches no file. Caller owns *out (policy_free). On error *out is NULL and d names
 * file, line and value. Returns 0 or one of the codes above, PASO_E_NOMEM.
 */
int policy_parse(
	const char *buf, size_t len, const char *name, struct policy **out, struct paso_diag *d);

/* Reads path (at most POLICY_MAX_BYTES) and parses it, naming it as path. Also PASO_E_IO. */
int policy_load_file(const char *path, struct policy **out, struct paso_diag *d);

/* Accepts NULL. */
void policy_free(struct policy *p);

/* Effective settings, borrowed for the life of p. */
const struct policy_settings *policy_settings(const struct policy *p);

/* The policy's name (borrowed). */
const char *policy_name(const struct policy *p);

/* SHA-256 of the exact bytes parsed (32 bytes, borrowed): what audit entries cite. */
const uint8_t *policy_digest(const struct policy *p);

/* Shorthands for the settings the ingest path asks about (p must be non-NULL). */
int policy_capture_allowed(const struct policy *p, enum policy_modality m); /* 1 or 0 */
int policy_store_allowed(const struct policy *p, enum policy_modality m);   /* 1 or 0 */
int policy_store_at_hub(const struct policy *p); /* 1: store.location hub, 0: card */
uint32_t policy_retention_days(const struct policy *p, enum policy_record_kind k);
int policy_dedup(const struct policy *p);
/* 0: references of m are stored raw; 1: under the modality's protection scheme. */
int policy_protect(const struct policy *p, enum policy_modality m);
int policy_verify_staged(const struct policy *p);
double policy_verify_fmr(const struct policy *p);
double policy_identify_fmr(const struct policy *p);

/* 1 if the file sets key (dotted, e.g. "match.dedup"), 0 if defaulted, PASO_E_NOT_FOUND if unknown.
 */
int policy_is_set(const struct policy *p, const char *key);

/*
 * Writes the effective policy as YAML into *textp (malloc'd, NUL-terminated, caller frees).
 * Keys the file left unset appear commented out with "(default)", so parsing the dump gives
 * back the same settings and the same set/unset state. Returns 0 or PASO_E_NOMEM.
 */
int policy_dump(const struct policy *p, char **textp);

/* Words for enum values, as written in policy files. */
const char *policy_modality_name(enum policy_modality m);
const char *policy_record_kind_name(enum policy_record_kind k);
const char *policy_share_what_name(enum policy_share_what w);

/* The `partners` entry naming partner, or NULL (no totals beyond its rules' budgets). */
const struct policy_partner_limit *policy_partner_limit(
	const struct policy *p, const char *partner);

/* policies/as-deployed.yaml, embedded at build time (NUL-terminated; length without the NUL). */
extern const char policy_default_yaml[];
extern const size_t policy_default_yaml_len;

#endif
