/* SPDX-License-Identifier: Apache-2.0 */
/* Trust between deployments: roles, pinned peer CAs, peer certificates and the peer listener. */
#include "peer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "durable.h"
#include "hex.h"
#include "keyring.h"
#include "pki.h"
#include "policy.h"
#include "vault.h"

#define PEER_FILE_MAX 65536
#define CA_CN_PREFIX "Paso CA "

static int
slurp(const char *path, uint8_t **bufp, size_t *lenp, struct paso_diag *d)
{
	FILE *f;
	uint8_t *buf;
	size_t n;

	*bufp = NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	if ((buf = malloc(PEER_FILE_MAX + 1)) == NULL) {
		fclose(f);
		return PASO_E_NOMEM;
	}
	n = fread(buf, 1, PEER_FILE_MAX + 1, f);
	fclose(f);
	if (n > PEER_FILE_MAX) {
		free(buf);
		return paso_diag_set(d, PASO_E_IO, "%s: larger than %d bytes", path, PEER_FILE_MAX);
	}
	*bufp = buf;
	*lenp = n;
	return 0;
}

/* Writes path through the durable helper: a new file (excl) or an atomic replacement. */
static int
put_file(const char *path, const void *buf, size_t len, int mode, int excl, struct paso_diag *d)
{
	return durable_write(path, buf, len, mode, excl ? DURABLE_NEW : DURABLE_REPLACE, d);
}

int
peer_role(const char *dir, enum peer_role *rolep, struct paso_diag *d)
{
	char path[DEPLOY_PATH_MAX + 16];
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*rolep = PEER_ROLE_NATIONAL;
	(void)snprintf(path, sizeof(path), "%s/role", dir);
	if (access(path, F_OK) != 0)
		return 0;
	if ((r = slurp(path, &buf, &len, d)) != 0)
		return r;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 7 && memcmp(buf, "partner", 7) == 0)
		*rolep = PEER_ROLE_PARTNER;
	else if (len == 8 && memcmp(buf, "national", 8) == 0)
		*rolep = PEER_ROLE_NATIONAL;
	else
		r = paso_diag_set(d, PASO_E_CORRUPT,
			"%s: role must be 'national' or 'partner', not '%.*s'", path,
			(int)(len > 32 ? 32 : len), (const char *)buf);
	free(buf);
	return r;
}

int
peer_set_role(const char *dir, enum peer_role role, struct paso_diag *d)
{
	char path[DEPLOY_PATH_MAX + 16];
	const char *w = role == PEER_ROLE_PARTNER ? "partner\n" : "national\n";

	(void)snprintf(path, sizeof(path), "%s/role", dir);
	return put_file(path, w, strlen(w), 0644, 1, d);
}

/* "Paso CA NAME" in the CA certificate at path -> NAME. */
static int
ca_owner(const char *path, char *out, size_t cap, struct paso_diag *d)
{
	char cn[160];
	int r;

	if ((r = pki_cert_cn(path, cn, sizeof(cn), d)) != 0)
		return r;
	if (strncmp(cn, CA_CN_PREFIX, strlen(CA_CN_PREFIX)) != 0 ||
		!deploy_name_ok(cn + strlen(CA_CN_PREFIX), PEER_NAME_MAX) ||
		strlen(cn + strlen(CA_CN_PREFIX)) >= cap)
		return paso_diag_set(
			d, PASO_E_CERT, "%s: CA name '%s' is not a Paso deployment's", path, cn);
	(void)snprintf(out, cap, "%s", cn + strlen(CA_CN_PREFIX));
	return 0;
}

int
peer_self_name(const char *dir, char *out, size_t cap, struct paso_diag *d)
{
	struct deploy_paths p;
	int r;

	if ((r = deploy_paths(dir, &p, d)) != 0)
		return r;
	return ca_owner(p.ca_cert, out, cap, d);
}

int
peer_files(const char *dir, const char *name, struct peer_files *pf, struct paso_diag *d)
{
	if (!deploy_name_ok(name, PEER_NAME_MAX))
		return paso_diag_set(d, PASO_E_UNKNOWN_PARTNER,
			"peer name '%.80s': 1..64 of [A-Za-z0-9._-]", name);
	(void)snprintf(pf->ca, sizeof(pf->ca), "%s/peers/%s.ca.crt", dir, name);
	(void)snprintf(pf->cert, sizeof(pf->cert), "%s/peers/%s.crt", dir, name);
	(void)snprintf(pf->key, sizeof(pf->key), "%s/peers/%s.key", dir, name);
	if (access(pf->ca, R_OK) != 0)
		return paso_diag_set(d, PASO_E_UNKNOWN_PARTNER,
			"peer '%s' was never added to %s (paso-hub partner add)", name, dir);
	return 0;
}

/* Calls cb for every pinned peer name. */
static size_t
each_peer(const char *dir, void (*cb)(void *arg, const char *name), void *arg)
{
	char path[DEPLOY_PATH_MAX + 16], name[PEER_NAME_MAX + 1];
	struct dirent *de;
	size_t n = 0, len;
	DIR *dp;

	(void)snprintf(path, sizeof(path), "%s/peers", dir);
	if ((dp = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 7 || len - 7 > PEER_NAME_MAX ||
			strcmp(de->d_name + len - 7, ".ca.crt") != 0)
			continue;
		memcpy(name, de->d_name, len - 7);
		name[len - 7] = '\0';
		if (!deploy_name_ok(name, PEER_NAME_MAX))
			continue;
		n++;
		if (cb != NULL)
			cb(arg, name);
	}
	closedir(dp);
	return n;
}

static void
keep_name(void *arg, const char *name)
{
	(void)snprintf(arg, PEER_NAME_MAX + 1, "%s", name);
}

size_t
peer_count(const char *dir, char onep[PEER_NAME_MAX + 1])
{
	if (onep != NULL)
		onep[0] = '\0';
	return each_peer(dir, onep != NULL ? keep_name : NULL, onep);
}

struct bundle {
	const char *dir;
	char *buf;
	size_t len;
	int r;
	struct paso_diag *d;
};

static void
bundle_one(void *arg, const char *name)
{
	struct bundle *b = arg;
	struct peer_files pf;
	uint8_t *ca = NULL;
	size_t n = 0;
	char *nb;

	if (b->r != 0 || (b->r = peer_files(b->dir, name, &pf, b->d)) != 0 ||
		(b->r = slurp(pf.ca, &ca, &n, b->d)) != 0)
		return;
	if ((nb = realloc(b->buf, b->len + n + 1)) == NULL) {
		b->r = PASO_E_NOMEM;
		free(ca);
		return;
	}
	b->buf = nb;
	memcpy(b->buf + b->len, ca, n);
	b->len += n;
	if (n > 0 && ca[n - 1] != '\n')
		b->buf[b->len++] = '\n';
	free(ca);
}

static int
write_bundle(const char *dir, struct paso_diag *d)
{
	struct bundle b = {dir, NULL, 0, 0, d};
	char path[DEPLOY_PATH_MAX + 32];

	(void)each_peer(dir, bundle_one, &b);
	(void)snprintf(path, sizeof(path), "%s/peers/bundle.pem", dir);
	if (b.r == 0)
		b.r = put_file(path, b.buf, b.len, 0644, 0, d);
	free(b.buf);
	return b.r;
}

/* The audit entries of an added peer, written while no hub serves (the log has one writer). */
static int
audit_add(
	const char *dir, const char *name, const char *self, const char *cahex, struct paso_diag *d)
{
	const Paso__Action acts[2] = {PASO__ACTION__KEY_CREATE, PASO__ACTION__KEY_CREATE};
	struct deploy_paths p;
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct policy *pol = NULL;
	char det[2][256];
	const char *dets[2] = {det[0], det[1]};
	int r;

	(void)snprintf(det[0], sizeof(det[0]),
		"peer '%s' trusted: its CA pinned (certificate file sha256 %s)", name, cahex);
	(void)snprintf(det[1], sizeof(det[1]),
		"client certificate '" PEER_CN_PREFIX "%s' issued for links to peer '%s'", self,
		name);
	if ((r = deploy_paths(dir, &p, d)) != 0 || (r = policy_load_file(p.policy, &pol, d)) != 0 ||
		(r = keyring_open(p.keys, &kr, d)) != 0 || (r = vault_open(dir, kr, &v, d)) != 0)
		goto out;
	r = deploy_audit_offline(&p, v, policy_digest(pol), "partner setup", acts, dets, 2, d);
out:
	vault_close(v);
	keyring_close(kr);
	policy_free(pol);
	return r;
}

int
peer_add(const char *dir, const char *name, const char *ca_file, struct paso_diag *d)
{
	struct deploy_paths p;
	struct peer_files pf;
	char self[PEER_NAME_MAX + 1], owner[PEER_NAME_MAX + 1], cn[PEER_NAME_MAX + 8];
	char pdir[DEPLOY_PATH_MAX + 16], cahex[65];
	uint8_t *ca = NULL, *own = NULL, dg[32];
	size_t calen = 0, ownlen = 0;
	int r;

	if (!deploy_name_ok(name, PEER_NAME_MAX))
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"--name '%.80s': 1..64 of [A-Za-z0-9._-], not starting with '.'", name);
	if ((r = deploy_paths(dir, &p, d)) != 0)
		return r;
	if (access(p.ca_key, R_OK) != 0)
		return paso_diag_set(d, PASO_E_IO, "%s: %s (is %s a deployment?)", p.ca_key,
			strerror(errno), dir);
	if ((r = peer_self_name(dir, self, sizeof(self), d)) != 0)
		return r;
	if (strcmp(self, name) == 0)
		return paso_diag_set(
			d, PASO_E_INVALID_ARG, "--name '%s' is this deployment's own name", name);
	if ((r = pki_cert_is_ca(ca_file, d)) != 0 ||
		(r = ca_owner(ca_file, owner, sizeof(owner), d)) != 0)
		return r;
	if ((r = slurp(ca_file, &ca, &calen, d)) != 0 ||
		(r = slurp(p.ca_cert, &own, &ownlen, d)) != 0)
		goto out;
	if (calen == ownlen && sodium_memcmp(ca, own, calen) == 0) {
		r = paso_diag_set(d, PASO_E_CERT,
			"%s is this deployment's own CA: a peer must bring its own", ca_file);
		goto out;
	}
	if (strcmp(owner, name) != 0) {
		r = paso_diag_set(d, PASO_E_CERT, "%s is the CA of deployment '%s', not of '%s'",
			ca_file, owner, name);
		goto out;
	}
	(void)snprintf(pdir, sizeof(pdir), "%s/peers", dir);
	if (mkdir(pdir, 0700) != 0 && errno != EEXIST) {
		r = paso_diag_set(d, PASO_E_IO, "%s: %s", pdir, strerror(errno));
		goto out;
	}
	(void)snprintf(pf.ca, sizeof(pf.ca), "%s/%s.ca.crt", pdir, name);
	(void)snprintf(pf.cert, sizeof(pf.cert), "%s/%s.crt", pdir, name);
	(void)snprintf(pf.key, sizeof(pf.key), "%s/%s.key", pdir, name);
	if (access(pf.ca, F_OK) == 0) {
		r = paso_diag_set(
			d, PASO_E_EXISTS, "peer '%s' was already added (%s)", name, pf.ca);
		goto out;
	}
	(void)snprintf(cn, sizeof(cn), PEER_CN_PREFIX "%s", self);
	/* Certificate first: a failure leaves no pinned CA behind, so a retry starts clean. */
	unlink(pf.cert);
	unlink(pf.key);
	if ((r = pki_issue(p.ca_cert, p.ca_key, cn, 0, pf.cert, pf.key, d)) != 0)
		goto out;
	if ((r = put_file(pf.ca, ca, calen, 0644, 1, d)) != 0)
		goto out;
	if ((r = write_bundle(dir, d)) != 0)
		goto out;
	crypto_hash_sha256(dg, ca, calen);
	hex_encode(dg, sizeof(dg), cahex);
	r = audit_add(dir, name, self, cahex, d);
out:
	if (r != 0 && r != PASO_E_EXISTS && access(pf.ca, F_OK) == 0 && ca != NULL) {
		/* Undo a half-done add (the audit log refused): the peer is not trusted. */
		struct paso_diag ign;

		unlink(pf.ca);
		(void)write_bundle(dir, &ign);
	}
	free(ca);
	free(own);
	return r;
}

int
peer_identify(const char *dir, const struct tls_conn *c, char name[PEER_NAME_MAX + 1],
	struct paso_diag *d)
{
	const char *cn = tls_conn_peer(c);
	struct peer_files pf;
	size_t pl = strlen(PEER_CN_PREFIX);

	name[0] = '\0';
	if (strncmp(cn, PEER_CN_PREFIX, pl) != 0)
		return paso_diag_set(d, PASO_E_UNKNOWN_PARTNER,
			"certificate '%.80s' is not a peer certificate (kiosks use the kiosk port)",
			cn);
	if (peer_files(dir, cn + pl, &pf, d) != 0)
		return PASO_E_UNKNOWN_PARTNER;
	if (!tls_conn_peer_issued_by(c, pf.ca))
		return paso_diag_set(d, PASO_E_UNKNOWN_PARTNER,
			"certificate '%.80s' was not issued by the CA pinned for '%s'", cn,
			cn + pl);
	(void)snprintf(name, PEER_NAME_MAX + 1, "%s", cn + pl);
	return 0;
}

/* --- the listener --------------------------------------------------------------------------- */

struct peer_listener {
	struct peer_listener_config cfg;
	struct tls_ctx *tls;
	int fd;
	uint16_t port;
	pthread_t acc;
	int started;
	pthread_mutex_t mu;
	unsigned nconns;
	int stopping;
};

struct accepted {
	struct peer_listener *pl;
	int fd;
};

static void *
conn_thread(void *arg)
{
	struct accepted *a = arg;
	struct peer_listener *pl = a->pl;
	struct tls_conn *c = NULL;
	struct paso_diag d = {0};
	char name[PEER_NAME_MAX + 1];

	if (tls_accept(pl->tls, a->fd, pl->cfg.io_timeout_ms, &c, &d) != 0)
		hublog_printf(pl->cfg.log, "%s: connection refused: %s", pl->cfg.what, d.msg);
	else if (peer_identify(pl->cfg.dir, c, name, &d) != 0)
		hublog_printf(pl->cfg.log, "%s: connection refused: %s: %s", pl->cfg.what,
			paso_errname(d.code), d.msg);
	else
		pl->cfg.serve(pl->cfg.arg, c, name);
	if (c != NULL)
		tls_conn_shutdown(c);
	tls_conn_free(c);
	free(a);
	pthread_mutex_lock(&pl->mu);
	pl->nconns--;
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

static int
is_stopping(struct peer_listener *pl)
{
	int s;

	pthread_mutex_lock(&pl->mu);
	s = pl->stopping;
	pthread_mutex_unlock(&pl->mu);
	return s;
}

static void *
accept_thread(void *arg)
{
	struct peer_listener *pl = arg;
	struct accepted *a;
	struct pollfd pf;
	pthread_attr_t attr;
	pthread_t th;
	int fd;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!is_stopping(pl)) {
		pf.fd = pl->fd;
		pf.events = POLLIN;
		if (poll(&pf, 1, 100) <= 0)
			continue;
		if ((fd = accept4(pl->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		pthread_mutex_lock(&pl->mu);
		if (pl->stopping || pl->nconns >= pl->cfg.max_conns) {
			pthread_mutex_unlock(&pl->mu);
			close(fd);
			continue;
		}
		pl->nconns++;
		pthread_mutex_unlock(&pl->mu);
		if ((a = malloc(sizeof(*a))) == NULL ||
			(a->pl = pl, a->fd = fd, pthread_create(&th, &attr, conn_thread, a)) != 0) {
			free(a);
			close(fd);
			pthread_mutex_lock(&pl->mu);
			pl->nconns--;
			pthread_mutex_unlock(&pl->mu);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

int
peer_listen(const struct peer_listener_config *cfg, struct peer_listener **out, struct paso_diag *d)
{
	struct peer_listener *pl;
	struct deploy_paths p;
	char bundle[DEPLOY_PATH_MAX + 32];
	int r;

	*out = NULL;
	if ((r = deploy_paths(cfg->dir, &p, d)) != 0)
		return r;
	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		return PASO_E_NOMEM;
	pl->cfg = *cfg;
	if (pl->cfg.max_conns == 0)
		pl->cfg.max_conns = 64;
	if (pl->cfg.io_timeout_ms == 0)
		pl->cfg.io_timeout_ms = 30000;
	pl->fd = -1;
	pthread_mutex_init(&pl->mu, NULL);
	(void)snprintf(bundle, sizeof(bundle), "%s/peers/bundle.pem", cfg->dir);
	if ((r = tls_ctx_new_server(p.hub_cert, p.hub_key, bundle, &pl->tls, d)) != 0 ||
		(r = tls_listen(cfg->host, cfg->port, &pl->fd, &pl->port, d)) != 0) {
		peer_listener_close(pl);
		return r;
	}
	*out = pl;
	return 0;
}

uint16_t
peer_listener_port(const struct peer_listener *pl)
{
	return pl->port;
}

int
peer_listener_start(struct peer_listener *pl)
{
	if (pthread_create(&pl->acc, NULL, accept_thread, pl) != 0)
		return PASO_E_INTERNAL;
	pl->started = 1;
	return 0;
}

void
peer_listener_stop(struct peer_listener *pl)
{
	if (pl == NULL)
		return;
	pthread_mutex_lock(&pl->mu);
	pl->stopping = 1;
	pthread_mutex_unlock(&pl->mu);
	if (pl->started) {
		pthread_join(pl->acc, NULL);
		pl->started = 0;
	}
	if (pl->fd >= 0) {
		close(pl->fd);
		pl->fd = -1;
	}
}

unsigned
peer_listener_conns(struct peer_listener *pl)
{
	unsigned n;

	if (pl == NULL)
		return 0;
	pthread_mutex_lock(&pl->mu);
	n = pl->nconns;
	pthread_mutex_unlock(&pl->mu);
	return n;
}

void
peer_listener_close(struct peer_listener *pl)
{
	if (pl == NULL)
		return;
	peer_listener_stop(pl);
	tls_ctx_free(pl->tls);
	pthread_mutex_destroy(&pl->mu);
	free(pl);
}

/* --- tasks on the commit loop -------------------------------------------------------------- */

static void
task_wake(void *arg)
{
	uint64_t one = 1;

	(void)!write(*(int *)arg, &one, sizeof(one));
}

int
peer_loop_task(struct loop *l,
	int (*fn)(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap), void *arg,
	void (*after_commit)(void *arg))
{
	struct loop_item *it;
	struct pollfd pf;
	uint64_t v;
	int efd, r;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		return PASO_E_NOMEM;
	if ((efd = eventfd(0, EFD_CLOEXEC)) < 0) {
		free(it);
		return PASO_E_IO;
	}
	it->task = fn;
	it->task_arg = arg;
	it->after_commit = after_commit;
	it->wake = task_wake;
	it->wake_arg = &efd;
	loop_submit(l, it);
	pf.fd = efd;
	pf.events = POLLIN;
	while (!loop_item_done(l, it))
		if (poll(&pf, 1, 1000) > 0)
			(void)!read(efd, &v, sizeof(v));
	r = it->task_rc;
	close(efd);
	free(it);
	return r;
}
