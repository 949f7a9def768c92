/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's lifecycle and its commit loop: durability first, in groups, then the answers. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "deploy.h"
#include "frame.h"
#include "hex.h"
#include "hub_internal.h"
#include "sample_pb.h"

#define META_AUDIT_SIZE "audit_size"

const char *const hub_count_keys[COUNT_N] = {"count.subjects", "count.crossings",
	"count.identifications", "count.with_finger", "count.with_face", "count.with_iris",
	"count.regional_visitor", "count.border_worker", "count.migrant_in_transit",
	"count.detainee"};

uint64_t
hub_now(const struct hub *h)
{
	(void)h;
	return (uint64_t)time(NULL);
}

void
hub_logf(struct hub *h, const char *fmt, ...)
{
	FILE *f = h->cfg.log != NULL ? h->cfg.log : stderr;
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	gmtime_r(&now, &tm);
	(void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	flockfile(f);
	fprintf(f, "%s paso-hub: ", ts);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fflush(f);
	funlockfile(f);
}

/* --- loading the gallery from the sealed store ---------------------------------------------- */

/*
 * Registers an enrolled subject's templates in the gallery; takes ownership of t (built from s
 * when NULL). A subject whose templates the policy keeps on the card has none here.
 */
int
hub_add_subject(struct hub *h, const uint8_t id[VAULT_ID_BYTES], const struct bio_sample *s,
	struct match_template *t)
{
	if (s->finger_record == NULL && !s->has_face && s->n_iris == 0) {
		match_template_free(t);
		return 0;
	}
	if (t != NULL)
		return gallery_add_tmpl(h->gallery, id, t);
	return gallery_add(h->gallery, id, s);
}

static int
load_one(void *arg, const uint8_t id[VAULT_ID_BYTES], const uint8_t *rec, size_t len)
{
	struct hub *h = arg;
	Paso__SubjectRecord *sr;
	struct bio_sample s;
	struct paso_diag d = {0};
	int r = 0;

	memset(&s, 0, sizeof(s));
	if ((sr = paso__subject_record__unpack(NULL, len, rec)) == NULL)
		return PASO_E_CORRUPT;
	if (sr->templates != NULL &&
		(sr->templates->finger_record.len > 0 || sr->templates->face != NULL ||
			sr->templates->n_iris > 0))
		r = sample_from_pb(sr->templates, &s, &d);
	if (r == 0)
		r = hub_add_subject(h, id, &s, NULL);
	bio_sample_clear(&s);
	paso__subject_record__free_unpacked(sr, NULL);
	return r;
}

/* --- the commit loop -------------------------------------------------------------------------- */

static void
finish(struct hub *h, struct request *list)
{
	struct request *r;

	pthread_mutex_lock(&h->mu);
	for (r = list; r != NULL; r = r->next) {
		r->done = 1;
		conn_wake(r->conn);
	}
	pthread_mutex_unlock(&h->mu);
}

/* Frees the group's list of enrolled subjects; with undo, takes them out of the gallery. */
static void
free_pending(struct hub *h, struct pending_add *p, int undo)
{
	struct pending_add *next;

	for (; p != NULL; p = next) {
		next = p->next;
		if (undo)
			(void)gallery_remove(h->gallery, p->id);
		free(p);
	}
}

/* Makes the group's audit entries and store changes durable, then signs a checkpoint. */
static int
make_durable(struct hub *h, struct vault_txn *t)
{
	int r;

	size_t i;

	if ((r = auditlog_sync(h->log)) != 0 ||
		(r = vault_meta_put(t, META_AUDIT_SIZE, auditlog_size(h->log))) != 0)
		goto fail;
	for (i = 0; i < COUNT_N; i++)
		if ((r = vault_meta_put(t, hub_count_keys[i], h->counts[i])) != 0)
			goto fail;
	return vault_commit(t);
fail:
	vault_abort(t);
	return r;
}

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Signs a checkpoint when the hub is idle (nothing queued) or a second has passed since the last
 * one: under load, signing and its fsyncs after every group would halve the groups per second.
 * auditlog_checkpoint does nothing when no entry is new.
 */
static void
maybe_checkpoint(struct hub *h, int force)
{
	int idle, r;

	pthread_mutex_lock(&h->mu);
	idle = h->head == NULL;
	pthread_mutex_unlock(&h->mu);
	if (!force && !idle && mono_now() - h->last_checkpoint < 1.0)
		return;
	if ((r = auditlog_checkpoint(h->log, h->signer)) != 0)
		hub_logf(h, "checkpoint failed: %s (entries are durable; the next one retries)",
			paso_strerror(r));
	else
		h->last_checkpoint = mono_now();
}

/*
 * One commit group. The order is the durability argument: audit entries are fsync'd, then the
 * LMDB transaction (which records the audit size) commits, and only then are answers released;
 * a signed checkpoint follows within a second. A crash before the LMDB commit leaves audit entries past the
 * recorded size; hub_open cuts them back (no checkpoint covers them and no kiosk was answered).
 */
static int
commit_group(struct hub *h, struct request *list)
{
	struct vault_txn *t = NULL;
	struct pending_add *pending = NULL;
	struct request *r;
	uint64_t before = auditlog_size(h->log), counts[COUNT_N];
	int rc;

	memcpy(counts, h->counts, sizeof(counts));
	if ((rc = vault_begin(h->vault, 0, &t)) != 0)
		goto fail;
	for (r = list; r != NULL; r = r->next)
		if ((rc = act_request(h, t, r, &pending)) != 0)
			goto fail;
	rc = make_durable(h, t);
	t = NULL;
	if (rc != 0)
		goto fail;
	free_pending(h, pending, 0);
	h->groups++;
	/* Durable now: answer first, then sign (a checkpoint is for outsiders, not for the ack). */
	finish(h, list);
	maybe_checkpoint(h, 0);
	return 0;
fail:
	vault_abort(t);
	free_pending(h, pending, 1);
	memcpy(h->counts, counts, sizeof(counts));
	hub_logf(h, "commit group of %llu entries failed: %s; refusing it",
		(unsigned long long)(auditlog_size(h->log) - before), paso_strerror(rc));
	if (auditlog_truncate(h->log, before) != 0)
		hub_logf(h, "cannot cut the audit log back to %llu", (unsigned long long)before);
	/* The kiosks keep these messages and resend them: answer each with a transient error. */
	for (r = list; r != NULL; r = r->next) {
		r->err.code = 0;
		(void)act_error_reply(r, rc, "hub storage error; resend later", 0);
	}
	finish(h, list);
	return rc;
}

void
hub_submit(struct hub *h, struct request *r)
{
	pthread_mutex_lock(&h->mu);
	r->next = NULL;
	r->done = 0;
	if (h->tail != NULL)
		h->tail->next = r;
	else
		h->head = r;
	h->tail = r;
	pthread_cond_signal(&h->work_cv);
	pthread_mutex_unlock(&h->mu);
}

/* Takes up to batch_max queued requests; waits at most wait_ms for the first. */
static struct request *
take_group(struct hub *h, int wait_ms)
{
	struct request *list = NULL, *last = NULL;
	struct timespec ts;
	unsigned n = 0;

	pthread_mutex_lock(&h->mu);
	if (h->head == NULL) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)wait_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&h->work_cv, &h->mu, &ts);
	}
	while (h->head != NULL && n < h->cfg.batch_max) {
		if (last == NULL)
			list = h->head;
		last = h->head;
		h->head = h->head->next;
		n++;
	}
	if (h->head == NULL)
		h->tail = NULL;
	if (last != NULL)
		last->next = NULL;
	pthread_mutex_unlock(&h->mu);
	return list;
}

static void *
accept_thread(void *arg)
{
	void **a = arg;

	(void)server_accept_loop(a[0], a[1]);
	return NULL;
}

/* Appends hub-level events and makes them durable like any group. */
static int
commit_events(struct hub *h)
{
	struct vault_txn *t = NULL;
	int r;

	if ((r = vault_begin(h->vault, 0, &t)) != 0)
		return r;
	if ((r = make_durable(h, t)) != 0)
		return r;
	return auditlog_checkpoint(h->log, h->signer);
}

/*
 * Kiosk certificates are issued and revoked offline (`paso-hub issue`, `revoke`), while the log has
 * one writer, the hub. At each start the hub compares DIR/kiosks/ with what its store recorded
 * ("kiosk.NAME": 1 issued, 2 revoked) and logs each change as KEY_CREATE or KEY_REVOKE, naming the
 * certificate by the SHA-256 of its file.
 */
static int
audit_kiosk_changes(struct hub *h, const struct deploy_paths *p, struct paso_diag *d)
{
	struct vault_txn *t = NULL;
	struct dirent *de;
	DIR *dp;
	char key[96], path[DEPLOY_PATH_MAX + 80], msg[300], hexd[65], name[72];
	uint8_t buf[8192], dg[32];
	uint64_t was, now;
	size_t n, changes = 0;
	FILE *f;
	int r = 0;

	if ((dp = opendir(p->kiosks)) == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", p->kiosks, strerror(errno));
	if ((r = vault_begin(h->vault, 0, &t)) != 0)
		goto out;
	while ((de = readdir(dp)) != NULL) {
		n = strlen(de->d_name);
		if (n < 5 || n - 4 >= sizeof(name) || strcmp(de->d_name + n - 4, ".crt") != 0)
			continue;
		memcpy(name, de->d_name, n - 4);
		name[n - 4] = '\0';
		if (!deploy_name_ok(name, 64))
			continue;
		now = deploy_kiosk_known(p, name) == 0 ? 1 : 2;
		(void)snprintf(key, sizeof(key), "kiosk.%s", name);
		if ((r = vault_meta_get(t, key, &was)) == PASO_E_NOT_FOUND)
			was = 0, r = 0;
		if (r != 0)
			goto out;
		if (was == now)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", p->kiosks, de->d_name);
		memset(dg, 0, sizeof(dg));
		if ((f = fopen(path, "rb")) != NULL) {
			n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			crypto_hash_sha256(dg, buf, n);
		}
		hex_encode(dg, sizeof(dg), hexd);
		(void)snprintf(msg, sizeof(msg),
			"kiosk certificate '%s' %s (certificate file sha256 %s)", name,
			now == 1 ? "issued" : "revoked", hexd);
		if ((r = act_audit_event(h,
			     now == 1 ? PASO__ACTION__KEY_CREATE : PASO__ACTION__KEY_REVOKE, 0,
			     "operation", msg)) != 0 ||
			(r = vault_meta_put(t, key, now)) != 0)
			goto out;
		changes++;
	}
	if (changes == 0) {
		vault_abort(t);
		t = NULL;
		r = 0;
		goto out;
	}
	r = make_durable(h, t);
	t = NULL;
out:
	vault_abort(t);
	closedir(dp);
	if (r != 0 && d->code == 0)
		paso_diag_set(d, r, "recording kiosk certificates: %s", paso_strerror(r));
	return r;
}

int
hub_run(struct hub *h, volatile sig_atomic_t *stop)
{
	struct request *list;
	pthread_t acc;
	void *args[2] = {h, (void *)stop};
	unsigned conns;
	int r, done = 0;

	if (pthread_create(&acc, NULL, accept_thread, args) != 0)
		return PASO_E_INTERNAL;
	hub_logf(h, "serving on %s:%u (policy '%s')", h->cfg.host, (unsigned)h->port,
		policy_name(h->policy));
	while (!done) {
		list = take_group(h, 200);
		if (list != NULL) {
			(void)commit_group(h, list);
			continue;
		}
		/* Idle: record kiosk certificates issued or revoked meanwhile, then sign. */
		if (mono_now() - h->last_kiosk_scan >= 5.0) {
			struct deploy_paths p;
			struct paso_diag kd = {0};

			h->last_kiosk_scan = mono_now();
			if (deploy_paths(h->dir, &p, &kd) == 0 &&
				audit_kiosk_changes(h, &p, &kd) != 0)
				hub_logf(h, "%s", kd.msg);
		}
		maybe_checkpoint(h, 1);
		if (*stop) {
			pthread_mutex_lock(&h->mu);
			h->stopping = 1;
			conns = h->nconns;
			pthread_mutex_unlock(&h->mu);
			/* Drain: connections answer what they accepted, then close. */
			done = conns == 0;
		}
	}
	pthread_join(acc, NULL);
	if ((r = act_audit_event(h, PASO__ACTION__HUB_STOP, 0, "operation", "clean stop")) == 0)
		r = commit_events(h);
	hub_logf(h, "stopped: %llu accepted, %llu refused, %llu resends in %llu commit groups",
		(unsigned long long)h->accepted, (unsigned long long)h->refused,
		(unsigned long long)h->replayed, (unsigned long long)h->groups);
	return r;
}

/* --- open and recover ------------------------------------------------------------------------ */

/*
 * After an unclean stop the audit log may hold entries of a group whose LMDB transaction never
 * committed (no kiosk got an answer for them; no checkpoint covers them): cut them back and say
 * so in a RECOVERY entry. An audit log shorter than the store's record means lost entries: refuse.
 */
static int
recover(struct hub *h, struct paso_diag *d)
{
	struct vault_txn *t = NULL;
	uint64_t committed = 0, have = auditlog_size(h->log);
	char msg[200];
	size_t i;
	int r;

	if ((r = vault_begin(h->vault, 1, &t)) != 0)
		return paso_diag_set(d, r, "store: %s", paso_strerror(r));
	r = vault_meta_get(t, META_AUDIT_SIZE, &committed);
	if (r == PASO_E_NOT_FOUND)
		committed = 0, r = 0;
	for (i = 0; r == 0 && i < COUNT_N; i++)
		if ((r = vault_meta_get(t, hub_count_keys[i], &h->counts[i])) == PASO_E_NOT_FOUND)
			h->counts[i] = 0, r = 0;
	vault_abort(t);
	if (r != 0)
		return paso_diag_set(d, r, "store meta: %s", paso_strerror(r));
	if (have < committed)
		return paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
			"audit log has %llu entries but the store committed %llu: entries lost",
			(unsigned long long)have, (unsigned long long)committed);
	if (have == committed)
		return 0;
	if ((r = auditlog_truncate(h->log, committed)) != 0)
		return paso_diag_set(d, r, "cutting the audit log back to %llu entries: %s",
			(unsigned long long)committed, paso_strerror(r));
	(void)snprintf(msg, sizeof(msg),
		"unclean stop: cut back %llu audit entries of an uncommitted group (never answered)",
		(unsigned long long)(have - committed));
	hub_logf(h, "%s", msg);
	return act_audit_event(h, PASO__ACTION__RECOVERY, 0, "operation", msg);
}

int
hub_open(const struct hub_config *cfg, struct hub **out, struct paso_diag *d)
{
	struct hub *h = NULL;
	struct vault_txn *t = NULL;
	struct deploy_paths p;
	char msg[200], hexd[65];
	int r;

	*out = NULL;
	d->code = 0;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return PASO_E_NOMEM;
	h->listen_fd = -1;
	h->cfg = *cfg;
	if (h->cfg.host == NULL)
		h->cfg.host = "127.0.0.1";
	if (h->cfg.max_frame == 0)
		h->cfg.max_frame = FRAME_DEFAULT_MAX;
	if (h->cfg.batch_max == 0)
		h->cfg.batch_max = 512;
	if (h->cfg.io_timeout_ms == 0)
		h->cfg.io_timeout_ms = 30000;
	if (h->cfg.max_conns == 0)
		h->cfg.max_conns = 256;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->work_cv, NULL);
	if ((r = deploy_paths(cfg->dir, &p, d)) != 0)
		goto out;
	(void)snprintf(h->dir, sizeof(h->dir), "%s", cfg->dir);
	if ((r = keyring_open(p.keys, &h->kr, d)) != 0 ||
		(r = vault_open(cfg->dir, h->kr, &h->vault, d)) != 0 ||
		(r = policy_load_file(p.policy, &h->policy, d)) != 0 ||
		(r = auditlog_open(p.audit, &h->log, d)) != 0 ||
		(r = deploy_load_signer(&p, &h->signer, d)) != 0)
		goto out;
	if (d->code != 0) /* auditlog_open recovered a torn tail: say so */
		hub_logf(h, "%s", d->msg);
	if ((r = recover(h, d)) != 0 || (r = audit_kiosk_changes(h, &p, d)) != 0)
		goto out;
	if ((r = gallery_new(2, &h->gallery)) != 0) {
		paso_diag_set(d, r, "gallery: %s", paso_strerror(r));
		goto out;
	}
	if ((r = vault_begin(h->vault, 1, &t)) != 0 ||
		(r = vault_subject_foreach(t, load_one, h)) != 0) {
		paso_diag_set(d, r, "loading subjects from the store: %s", paso_strerror(r));
		goto out;
	}
	vault_abort(t);
	t = NULL;
	if ((r = tls_ctx_new_server(p.hub_cert, p.hub_key, p.ca_cert, &h->tls, d)) != 0 ||
		(r = tls_listen(h->cfg.host, h->cfg.port, &h->listen_fd, &h->port, d)) != 0)
		goto out;
	hex_encode(policy_digest(h->policy), 32, hexd);
	(void)snprintf(msg, sizeof(msg), "policy '%.64s' sha256 %s", policy_name(h->policy), hexd);
	if ((r = act_audit_event(h, PASO__ACTION__POLICY_LOAD, 0, "operation", msg)) != 0)
		goto out;
	/* Loading the gallery opened every sealed record: that read is an act like any other. */
	(void)snprintf(msg, sizeof(msg),
		"opened %llu sealed subject records to load %zu templates into memory for matching",
		(unsigned long long)h->counts[COUNT_SUBJECTS], gallery_size(h->gallery));
	if ((r = act_audit_event(h, PASO__ACTION__RECORD_READ, 0, "matching", msg)) != 0)
		goto out;
	(void)snprintf(msg, sizeof(msg), "listening on %.64s:%u with %zu subjects loaded",
		h->cfg.host, (unsigned)h->port, gallery_size(h->gallery));
	if ((r = act_audit_event(h, PASO__ACTION__HUB_START, 0, "operation", msg)) != 0 ||
		(r = commit_events(h)) != 0) {
		paso_diag_set(d, r, "audit log: %s", paso_strerror(r));
		goto out;
	}
	*out = h;
	h = NULL;
	r = 0;
out:
	vault_abort(t);
	hub_close(h);
	return r;
}

uint16_t
hub_port(const struct hub *h)
{
	return h->port;
}

void
hub_close(struct hub *h)
{
	if (h == NULL)
		return;
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	tls_ctx_free(h->tls);
	gallery_free(h->gallery);
	checkpoint_signer_free(h->signer);
	auditlog_close(h->log);
	policy_free(h->policy);
	vault_close(h->vault);
	keyring_close(h->kr);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->work_cv);
	free(h);
}
