/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's protected references: its protection keys by generation, and the sealed form. */
#ifndef PASO_PROTREF_H
#define PASO_PROTREF_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "keyring.h"
#include "paso.pb-c.h"
#include "pgallery.h"
#include "policy.h"
#include "sample.h"

/*
 * Under a policy with protect.X set for a stored modality the hub keeps only protected
 * references (biometrics/pgallery.h), made with its own protection key (keyring_protect_key,
 * context "hub"). Keys are expanded on first use of a generation and kept in memory until
 * protref_forget_below. Thread-safe: a readers-writer lock; protecting a probe takes it to
 * read, a rotation or a forget to write.
 */
struct protref_keys;

/* Borrows kr for the life of the set. Loads nothing yet. 0 or PASO_E_NOMEM. */
int protref_keys_new(struct keyring *kr, struct protref_keys **out);
void protref_keys_free(struct protref_keys *ks);

/*
 * Which modalities the hub keeps protected under policy p (BIO_* bits): the stored modalities
 * whose protect.X is set. 0 means the hub keeps raw references (or none).
 */
unsigned protref_policy_mask(const struct policy *p);

/* The current generation (made durably on first use). 0, or a keyring error. */
int protref_current(struct protref_keys *ks, uint32_t *gen);

/*
 * Protects the modalities of s in mask under generation gen (KEYRING_PROTECT_CURRENT: the
 * current one). Caller owns *out. Returns 0, PASO_E_KEY_NOT_FOUND (generation destroyed),
 * a pref_new error (d names it), a keyring error.
 */
int protref_protect(struct protref_keys *ks, uint32_t gen, const struct bio_sample *s,
	unsigned mask, struct pref **out, struct paso_diag *d);

/*
 * The same under the current generation of another holder's key (keyring_protect_key context,
 * e.g. "partner:dhs"): a partner's own form, unlinkable to the hub's. Caller owns *out.
 * Returns as protref_protect.
 */
int protref_protect_for(struct protref_keys *ks, const char *holder, const struct bio_sample *s,
	unsigned mask, struct pref **out, struct paso_diag *d);

/*
 * Renewal: a new generation becomes current (durable before return). *gen gets it.
 * References under older generations keep matching until protref_forget_below.
 */
int protref_rotate(struct protref_keys *ks, uint32_t *gen);

/*
 * Destroys every generation below gen: from the keyring (files overwritten and unlinked) and
 * from memory. Only when no reference under them remains. *count gets the generations
 * destroyed. 0 or a keyring error.
 */
int protref_forget_below(struct protref_keys *ks, uint32_t gen, size_t *count);

/*
 * The sealed form. protref_to_pb fills pb (whose byte fields then point into *buf, caller
 * frees with protref_pb_clear) from r; protref_from_pb validates every field and builds *out
 * (caller owns). 0, PASO_E_CORRUPT (a field of the wrong size; d names it), PASO_E_NOMEM.
 */
struct protref_pb {
	Paso__ProtectedTemplates pt;
	Paso__ProtectedIris iris[2], *iris_p[2];
	Paso__ProtectedFingerView fv[10], *fv_p[10];
	uint8_t *buf;
	size_t len;
};
int protref_to_pb(const struct pref *r, struct protref_pb *out);
void protref_pb_clear(struct protref_pb *pb);
int protref_from_pb(const Paso__ProtectedTemplates *pt, struct pref **out, struct paso_diag *d);

/* Only the finger form of pt (for `--fingers store`). Caller owns *out (free after wiping). */
int protref_finger_from_pb(
	const Paso__ProtectedTemplates *pt, struct protect_finger **out, struct paso_diag *d);

#endif
