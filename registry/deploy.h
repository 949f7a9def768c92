/* SPDX-License-Identifier: Apache-2.0 */
/* A deployment directory: its layout, `paso-hub init` and `paso-hub issue`. */
#ifndef PASO_DEPLOY_H
#define PASO_DEPLOY_H

#include "checkpoint.h"
#include "errors.h"
#include "paso.pb-c.h"
#include "vault.h"

#define DEPLOY_PATH_MAX 1024

/*
 * DIR/ca/ca.crt, ca.key          the deployment's CA (key 0600)
 * DIR/hub/hub.crt, hub.key       the hub's TLS server certificate, CN and DNS name "paso-hub"
 * DIR/kiosks/NAME.crt, NAME.key  issued kiosk client certificates; NAME.revoked refuses NAME
 * DIR/keys/                      keyring (KEKs, pseudonym and card-index keys), 0700
 * DIR/signer/audit.skey          the audit log's signing key, kept apart from keys/ (0700, 0600)
 * DIR/store/                     LMDB store (sealed records)
 * DIR/audit/                     audit log, log.vkey (public), checkpoint
 * DIR/policy.yaml                the policy in force
 */
struct deploy_paths {
	char root[DEPLOY_PATH_MAX];
	char ca_cert[DEPLOY_PATH_MAX], ca_key[DEPLOY_PATH_MAX];
	char hub_cert[DEPLOY_PATH_MAX], hub_key[DEPLOY_PATH_MAX];
	char kiosks[DEPLOY_PATH_MAX], keys[DEPLOY_PATH_MAX], audit[DEPLOY_PATH_MAX];
	char signer[DEPLOY_PATH_MAX];
	char audit_skey[DEPLOY_PATH_MAX], audit_vkey[DEPLOY_PATH_MAX], policy[DEPLOY_PATH_MAX];
};

#define DEPLOY_HUB_NAME "paso-hub"

/* Fills p for dir. Returns 0 or PASO_E_INVALID_ARG (path too long). */
int deploy_paths(const char *dir, struct deploy_paths *p, struct paso_diag *d);

/*
 * Creates a deployment in dir (which must not exist or be empty): CA, hub certificate, keyring,
 * audit signing key, the policy (policy_file, or the embedded default when NULL, validated
 * first), an empty store, and an audit log whose first entries record the keys created and the
 * policy. name labels the deployment (1..32 of [a-z0-9-]); the log's origin is "paso/NAME".
 * Nothing secret is printed. Returns 0, PASO_E_EXISTS, PASO_E_INVALID_ARG, or a step's error.
 */
int deploy_init(const char *dir, const char *name, const char *policy_file, struct paso_diag *d);

/* Issues a kiosk certificate NAME (1..64 of [A-Za-z0-9._-]). 0, PASO_E_EXISTS, PASO_E_INVALID_ARG. */
int deploy_issue_kiosk(const char *dir, const char *kiosk, struct paso_diag *d);

/*
 * Revokes kiosk NAME: writes DIR/kiosks/NAME.revoked. The hub refuses the kiosk from its next
 * connection and records the revocation in its audit log (within seconds, or at its next start).
 * 0, PASO_E_NOT_FOUND (never issued), PASO_E_EXISTS (already revoked), PASO_E_INVALID_ARG.
 */
int deploy_revoke_kiosk(const char *dir, const char *kiosk, struct paso_diag *d);

/* 0 if cn is a kiosk this deployment issued and has not revoked, else PASO_E_UNKNOWN_KIOSK. */
int deploy_kiosk_known(const struct deploy_paths *p, const char *cn);

#define DEPLOY_SKEY_MAX 4096

/*
 * Loads the audit signing key from DIR/signer/audit.skey through its own reader (never the
 * keyring's): the directory must be 0700 and the file 0600, not a symlink. A deployment whose
 * key still sits in keys/ is told how to move it. Caller owns *out. 0, PASO_E_NOT_FOUND,
 * PASO_E_IO, PASO_E_NOMEM, PASO_E_CHECKPOINT_FORMAT, d naming the file.
 */
int deploy_load_signer(
	const struct deploy_paths *p, struct checkpoint_signer **out, struct paso_diag *d);

/*
 * Appends n hub events (actions[i] with details[i], the same purpose) to the deployment's audit
 * log while no hub is serving (the log's writer lock refuses otherwise), the way the hub does:
 * through the ledger (entries and the store's record of them commit together), then a checkpoint.
 * v is the deployment's open vault. Entries of a transaction that never committed are cut back
 * first and a RECOVERY entry says so; a log shorter than the store recorded is refused
 * (PASO_E_AUDIT_CORRUPT). Entries are stamped with the wall clock, or with the deployment's
 * latest recorded time when its hub runs on a simulated clock. Returns 0 or the first error.
 */
int deploy_audit_offline(const struct deploy_paths *p, struct vault *v, const uint8_t digest[32],
	const char *purpose, const Paso__Action *actions, const char *const *details, size_t n,
	struct paso_diag *d);

/*
 * Checks what a hub needs before it opens any record: the CA and hub certificates parse, the
 * hub's is signed by the CA and matches its key, the audit signing key loads. 0, PASO_E_CERT or
 * the signer's error, d naming the file and the damage.
 */
int deploy_check(const struct deploy_paths *p, struct paso_diag *d);

/* 1 if name is 1..max bytes of [A-Za-z0-9._-] and does not start with '.', else 0. */
int deploy_name_ok(const char *name, size_t max);

#endif
