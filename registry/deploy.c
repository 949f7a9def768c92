/* SPDX-License-Identifier: Apache-2.0 */
/* Creating a deployment: keys and certificates written 0600, the first audit entries, the policy. */
#include "deploy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auditlog.h"
#include "durable.h"
#include "ledger.h"
#include "keyring.h"
#include "paso.pb-c.h"
#include "pki.h"
#include "policy.h"
#include "vault.h"

#define SET_PATH(field, fmt, ...)                                                                  \
	do {                                                                                       \
		int n_ = snprintf(p->field, sizeof(p->field), fmt, __VA_ARGS__);                   \
		if (n_ < 0 || (size_t)n_ >= sizeof(p->field))                                      \
			return paso_diag_set(d, PASO_E_INVALID_ARG, "path too long: %s", dir);     \
	} while (0)

int
deploy_paths(const char *dir, struct deploy_paths *p, struct paso_diag *d)
{
	SET_PATH(root, "%s", dir);
	SET_PATH(ca_cert, "%s/ca/ca.crt", dir);
	SET_PATH(ca_key, "%s/ca/ca.key", dir);
	SET_PATH(hub_cert, "%s/hub/hub.crt", dir);
	SET_PATH(hub_key, "%s/hub/hub.key", dir);
	SET_PATH(kiosks, "%s/kiosks", dir);
	SET_PATH(keys, "%s/keys", dir);
	SET_PATH(audit, "%s/audit", dir);
	SET_PATH(signer, "%s/signer", dir);
	SET_PATH(audit_skey, "%s/signer/audit.skey", dir);
	SET_PATH(audit_vkey, "%s/audit/log.vkey", dir);
	SET_PATH(policy, "%s/policy.yaml", dir);
	return 0;
}

int
deploy_name_ok(const char *name, size_t max)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > max || name[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int
write_file(const char *path, const void *buf, size_t len, int mode, struct paso_diag *d)
{
	return durable_write(path, buf, len, mode, DURABLE_NEW, d);
}

static int
read_file(const char *path, size_t max, char **bufp, size_t *lenp, struct paso_diag *d)
{
	FILE *f;
	char *buf;
	size_t n;

	*bufp = NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	if ((buf = malloc(max + 1)) == NULL) {
		fclose(f);
		return PASO_E_NOMEM;
	}
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(buf);
		return paso_diag_set(d, PASO_E_IO, "%s: larger than %zu bytes", path, max);
	}
	buf[n] = '\0';
	*bufp = buf;
	*lenp = n;
	return 0;
}

static int
make_dir(const char *path, struct paso_diag *d)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	return 0;
}

/* mkdir -p: the deployment may be created several levels below an existing directory. */
static int
make_dirs(const char *path, struct paso_diag *d)
{
	char buf[DEPLOY_PATH_MAX];
	size_t i, n = strlen(path);
	int r;

	if (n >= sizeof(buf))
		return paso_diag_set(d, PASO_E_INVALID_ARG, "path too long: %s", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i < n; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		r = make_dir(buf, d);
		buf[i] = '/';
		if (r != 0)
			return r;
	}
	return make_dir(buf, d);
}

static int
dir_empty_or_absent(const char *dir, struct paso_diag *d)
{
	DIR *dp;
	struct dirent *de;
	int r = 0;

	if ((dp = opendir(dir)) == NULL)
		return errno == ENOENT
			       ? 0
			       : paso_diag_set(d, PASO_E_IO, "%s: %s", dir, strerror(errno));
	while ((de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			r = paso_diag_set(d, PASO_E_EXISTS,
				"%s: not empty; a deployment is created in a new directory", dir);
			break;
		}
	closedir(dp);
	return r;
}

/*
 * The time offline acts are stamped with: the wall clock, unless the deployment's hub runs on a
 * simulated clock, whose latest recorded time is then the deployment's "now".
 */
static uint64_t
offline_now(struct vault *v, const struct ledger *l)
{
	struct vault_txn *t = NULL;
	uint64_t sim = 0;

	if (vault_begin(v, 1, &t) == 0) {
		if (vault_meta_get(t, "clock.simulated", &sim) != 0)
			sim = 0;
		vault_abort(t);
	}
	return sim == 1 && ledger_time(l) > 0 ? ledger_time(l) : (uint64_t)time(NULL);
}

int
deploy_audit_offline(const struct deploy_paths *p, struct vault *v, const uint8_t digest[32],
	const char *purpose, const Paso__Action *actions, const char *const *details, size_t n,
	struct paso_diag *d)
{
	struct checkpoint_signer *s = NULL;
	struct ledger *l = NULL;
	struct ledger_txn *t = NULL;
	Paso__AuditEntry e;
	uint64_t idx, recovered = 0, now;
	char msg[200];
	size_t i;
	int r;

	if ((r = deploy_load_signer(p, &s, d)) != 0 ||
		(r = ledger_open(p->audit, v, NULL, 0, &recovered, &l, d)) != 0)
		goto out;
	d->code = 0;
	now = offline_now(v, l);
	if ((r = ledger_begin(l, &t)) != 0)
		goto out;
	ledger_note_time(t, now);
	paso__audit_entry__init(&e);
	e.time = now;
	e.actor = "hub";
	e.policy_digest.data = (uint8_t *)digest;
	e.policy_digest.len = 32;
	if (recovered > 0) {
		/* The ledger cut back entries of a transaction that never committed: say so. */
		(void)snprintf(msg, sizeof(msg),
			"unclean stop: cut back %llu audit entries of an uncommitted group (never "
			"answered)",
			(unsigned long long)recovered);
		e.action = PASO__ACTION__RECOVERY;
		e.purpose = "operation";
		e.detail = msg;
		if ((r = ledger_append(t, &e, &idx)) != 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		e.action = actions[i];
		e.purpose = (char *)purpose;
		e.detail = (char *)details[i];
		if ((r = ledger_append(t, &e, &idx)) != 0)
			goto out;
	}
	r = ledger_commit(t);
	t = NULL;
	if (r == 0)
		r = ledger_checkpoint(l, s);
out:
	ledger_abort(t);
	if (r != 0 && d->code == 0)
		paso_diag_set(d, r, "%s: audit log: %s", p->audit, paso_strerror(r));
	ledger_close(l);
	checkpoint_signer_free(s);
	return r;
}

/* The first audit entries: what was created, never the key material itself. */
static int
init_audit(const struct deploy_paths *p, const struct policy *pol, const char *name,
	struct paso_diag *d)
{
	struct checkpoint_signer *s = NULL;
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	char det[4][256];
	const char *details[4] = {det[0], det[1], det[2], det[3]};
	const Paso__Action actions[4] = {PASO__ACTION__KEY_CREATE, PASO__ACTION__KEY_CREATE,
		PASO__ACTION__KEY_CREATE, PASO__ACTION__POLICY_LOAD};
	int r;

	if ((r = deploy_load_signer(p, &s, d)) != 0)
		return r;
	(void)snprintf(
		det[0], sizeof(det[0]), "deployment '%s' created: CA, hub certificate", name);
	(void)snprintf(det[1], sizeof(det[1]),
		"keyring created: key-encryption keys per retention epoch, pseudonym key, card-index key");
	(void)snprintf(det[2], sizeof(det[2]), "audit signing key %s+%08x (Ed25519)",
		checkpoint_signer_name(s), checkpoint_signer_keyid(s));
	(void)snprintf(det[3], sizeof(det[3]), "policy '%.64s' installed", policy_name(pol));
	checkpoint_signer_free(s);
	if ((r = keyring_open(p->keys, &kr, d)) == 0 && (r = vault_open(p->root, kr, &v, d)) == 0)
		r = deploy_audit_offline(
			p, v, policy_digest(pol), "deployment", actions, details, 4, d);
	vault_close(v);
	keyring_close(kr);
	return r;
}

int
deploy_init(const char *dir, const char *name, const char *policy_file, struct paso_diag *d)
{
	struct deploy_paths p;
	struct policy *pol = NULL;
	char *skey = NULL, *vkey = NULL, *ptext = NULL, origin[64], cacn[80];
	size_t plen = 0;
	int r;

	if (!deploy_name_ok(name, 32))
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"deployment name '%.40s': 1..32 of [A-Za-z0-9._-]", name);
	if ((r = deploy_paths(dir, &p, d)) != 0 || (r = dir_empty_or_absent(dir, d)) != 0)
		return r;
	/* Validate the policy before anything is created. */
	if (policy_file != NULL) {
		if ((r = read_file(policy_file, POLICY_MAX_BYTES, &ptext, &plen, d)) != 0)
			return r;
		r = policy_parse(ptext, plen, policy_file, &pol, d);
	} else {
		plen = strlen(policy_default_yaml);
		if ((ptext = strdup(policy_default_yaml)) == NULL)
			return PASO_E_NOMEM;
		r = policy_parse(ptext, plen, "policy.yaml (embedded default)", &pol, d);
	}
	if (r != 0)
		goto out;
	(void)snprintf(cacn, sizeof(cacn), "Paso CA %s", name);
	(void)snprintf(origin, sizeof(origin), "paso/%s", name);
	if ((r = make_dirs(dir, d)) != 0)
		goto out;
	{
		char sub[DEPLOY_PATH_MAX + 8];
		const char *subs[] = {"ca", "hub", "kiosks", "audit", "signer"};
		size_t i;

		for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
			(void)snprintf(sub, sizeof(sub), "%s/%s", dir, subs[i]);
			if ((r = make_dir(sub, d)) != 0)
				goto out;
		}
	}
	if ((r = keyring_create(p.keys)) != 0) {
		paso_diag_set(d, r, "%s: creating the keyring: %s", p.keys, paso_strerror(r));
		goto out;
	}
	if ((r = pki_create_ca(p.ca_cert, p.ca_key, cacn, d)) != 0 ||
		(r = pki_issue(
			 p.ca_cert, p.ca_key, DEPLOY_HUB_NAME, 1, p.hub_cert, p.hub_key, d)) != 0)
		goto out;
	if ((r = checkpoint_keygen(origin, &skey, &vkey)) != 0) {
		paso_diag_set(d, r, "audit key: %s", paso_strerror(r));
		goto out;
	}
	if ((r = write_file(p.audit_skey, skey, strlen(skey), 0600, d)) != 0 ||
		(r = write_file(p.audit_vkey, vkey, strlen(vkey), 0644, d)) != 0 ||
		(r = write_file(p.policy, ptext, plen, 0644, d)) != 0)
		goto out;
	r = init_audit(&p, pol, name, d);
out:
	checkpoint_text_free(skey);
	checkpoint_text_free(vkey);
	free(ptext);
	policy_free(pol);
	return r;
}

int
deploy_issue_kiosk(const char *dir, const char *kiosk, struct paso_diag *d)
{
	struct deploy_paths p;
	char crt[DEPLOY_PATH_MAX + 80], key[DEPLOY_PATH_MAX + 80];
	int r;

	if (!deploy_name_ok(kiosk, 64))
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"kiosk name '%.80s': 1..64 of [A-Za-z0-9._-], not starting with '.'",
			kiosk);
	if (strcmp(kiosk, DEPLOY_HUB_NAME) == 0)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "kiosk name '%s' is reserved", kiosk);
	if ((r = deploy_paths(dir, &p, d)) != 0)
		return r;
	if (access(p.ca_key, R_OK) != 0)
		return paso_diag_set(d, PASO_E_IO, "%s: %s (is %s a deployment?)", p.ca_key,
			strerror(errno), dir);
	(void)snprintf(crt, sizeof(crt), "%s/%s.crt", p.kiosks, kiosk);
	(void)snprintf(key, sizeof(key), "%s/%s.key", p.kiosks, kiosk);
	return pki_issue(p.ca_cert, p.ca_key, kiosk, 0, crt, key, d);
}

int
deploy_revoke_kiosk(const char *dir, const char *kiosk, struct paso_diag *d)
{
	struct deploy_paths p;
	char path[DEPLOY_PATH_MAX + 80];
	int r;

	if (!deploy_name_ok(kiosk, 64))
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"kiosk name '%.80s': 1..64 of [A-Za-z0-9._-], not starting with '.'",
			kiosk);
	if ((r = deploy_paths(dir, &p, d)) != 0)
		return r;
	(void)snprintf(path, sizeof(path), "%s/%s.crt", p.kiosks, kiosk);
	if (access(path, F_OK) != 0)
		return paso_diag_set(d, PASO_E_NOT_FOUND, "%s: no such kiosk certificate", path);
	(void)snprintf(path, sizeof(path), "%s/%s.revoked", p.kiosks, kiosk);
	if ((r = durable_write(path, "", 0, 0644, DURABLE_NEW, d)) == PASO_E_EXISTS)
		paso_diag_set(d, r, "%s: already revoked", path);
	return r;
}

int
deploy_kiosk_known(const struct deploy_paths *p, const char *cn)
{
	char path[DEPLOY_PATH_MAX + 80];

	if (!deploy_name_ok(cn, 64) || strcmp(cn, DEPLOY_HUB_NAME) == 0)
		return PASO_E_UNKNOWN_KIOSK;
	(void)snprintf(path, sizeof(path), "%s/%s.revoked", p->kiosks, cn);
	if (access(path, F_OK) == 0)
		return PASO_E_UNKNOWN_KIOSK;
	(void)snprintf(path, sizeof(path), "%s/%s.crt", p->kiosks, cn);
	return access(path, F_OK) == 0 ? 0 : PASO_E_UNKNOWN_KIOSK;
}

int
deploy_check(const struct deploy_paths *p, struct paso_diag *d)
{
	struct checkpoint_signer *s = NULL;
	int r;

	if ((r = pki_check_pair(p->ca_cert, p->hub_cert, p->hub_key, d)) != 0)
		return r;
	if ((r = deploy_load_signer(p, &s, d)) != 0)
		return r;
	checkpoint_signer_free(s);
	return 0;
}

/*
 * The signing key's own reader, deliberately not the keyring's: it opens DIR/signer only, and
 * refuses a key or directory others can read, so a slip in one custody does not widen the other.
 */
int
deploy_load_signer(
	const struct deploy_paths *p, struct checkpoint_signer **out, struct paso_diag *d)
{
	char old[DEPLOY_PATH_MAX + 16], *text = NULL;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd = -1, r;

	*out = NULL;
	if (stat(p->signer, &st) != 0) {
		(void)snprintf(old, sizeof(old), "%s/audit.skey", p->keys);
		if (errno == ENOENT && access(old, F_OK) == 0)
			return paso_diag_set(d, PASO_E_NOT_FOUND,
				"%s: the audit signing key is kept apart from the record keys now: "
				"mkdir -m 700 %s && mv %s %s",
				p->signer, p->signer, old, p->audit_skey);
		return paso_diag_set(d, PASO_E_NOT_FOUND, "%s: %s (is %s a deployment?)", p->signer,
			strerror(errno), p->root);
	}
	if (!S_ISDIR(st.st_mode))
		return paso_diag_set(d, PASO_E_IO, "%s: not a directory", p->signer);
	if ((st.st_mode & 077) != 0)
		return paso_diag_set(d, PASO_E_IO, "%s: permissions %04o are too open, want 0700",
			p->signer, (unsigned)(st.st_mode & 07777));
	if ((fd = open(p->audit_skey, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return paso_diag_set(d, errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO, "%s: %s",
			p->audit_skey, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		r = paso_diag_set(d, PASO_E_IO,
			"%s: not a regular file with permissions 0600 (found %04o)", p->audit_skey,
			(unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((text = sodium_malloc(DEPLOY_SKEY_MAX + 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	while (len <= DEPLOY_SKEY_MAX) {
		n = read(fd, text + len, DEPLOY_SKEY_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = paso_diag_set(d, PASO_E_IO, "%s: %s", p->audit_skey, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > DEPLOY_SKEY_MAX) {
		r = paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT, "%s: larger than %d bytes: not a "
			"signing key", p->audit_skey, DEPLOY_SKEY_MAX);
		goto out;
	}
	text[len] = '\0';
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if ((r = checkpoint_signer_from_text(text, out)) != 0)
		paso_diag_set(d, r, "%s: damaged or not a signing key", p->audit_skey);
out:
	if (fd >= 0)
		(void)close(fd);
	sodium_free(text); /* sodium_free wipes */
	return r;
}
