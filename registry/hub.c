/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's lifecycle: open and recover, serve (transport -> loop -> decide -> ledger), stop. */
#include "hub.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "control.h"
#include "cosign.h"
#include "decide.h"
#include "deploy.h"
#include "frame.h"
#include "hex.h"
#include "httpmini.h"
#include "hublog.h"
#include "instant.h"
#include "keyring.h"
#include "ledger.h"
#include "loop.h"
#include "partner.h"
#include "peer.h"
#include "policy.h"
#include "protref.h"
#include "retention.h"
#include "sample_pb.h"
#include "server.h"
#include "share.h"
#include "tls.h"
#include "vault.h"
#include "witness.h"

#define META_CLOCK_SIMULATED "clock.simulated"
#define WITSEEN_MAX 16
#define WITPENDING_MAX 64
#define WITSUMMARY_S 3600.0

/* What this hub, as a witness, saw of one log since it started (for its audit log). */
struct witseen {
	char origin[256];
	uint64_t cosigned, summarized, latest;
	int announced; /* the first cosignature since start is recorded */
	int episode;   /* the refusal code under way (recorded once), 0 none */
};

struct witpending {
	int code;
	char detail[600];
};

struct hub {
	struct hub_config cfg;
	struct deploy_paths paths;
	char control_path[DEPLOY_PATH_MAX + 16];
	struct hublog log;
	struct keyring *kr;
	struct vault *vault;
	struct policy *policy;   /* in force (also dc.policy) */
	struct policy *pending;  /* loaded by a reload, in force once its entry commits */
	struct policy **retired; /* replaced by reloads; kept until close (messages in flight) */
	size_t nretired;
	struct ledger *ledger;
	struct checkpoint_signer *signer;
	struct tls_ctx *tls;
	struct gallery *gallery, *recent;
	struct pgallery *pgallery; /* protected references (registry/protref.h) */
	struct protref_keys *pkeys;
	uint32_t pkeys_clean; /* protection generation below which keys are known destroyed */
	struct decide_ctx dc;
	struct server *server;
	struct loop *loop;
	struct control *control;
	atomic_ullong finger_reads; /* records opened for their fingers since start */
	unsigned long long reads_logged;
	unsigned long long hits_logged; /* finger cache hits said in RECORD_READ entries */
	struct share *share;            /* national hub with pinned partners */
	struct partner *partner;        /* partner deployment */
	struct cosign *cosign;          /* the witnesses DIR/witnesses names (registry/cosign.h) */
	int stopping; /* the stop entry is written: witness events go to the hub's log only */
	/* Serving as a witness (cfg.witness_host): the decisions, recorded by witness_timer. */
	struct witness *witness;
	struct httpmini_server *witsrv;
	pthread_mutex_t witmu;
	int witmu_init;
	struct witseen seen[WITSEEN_MAX];
	size_t nseen;
	struct witpending witq[WITPENDING_MAX];
	size_t nwitq;
	unsigned long long witdropped;
	double witsummary;
};

/* --- kiosk certificates ----------------------------------------------------------------------- */

/*
 * Kiosk certificates are issued and revoked offline (`paso-hub issue`, `revoke`), while the log has
 * one writer, the hub. The hub compares DIR/kiosks/ with what its store recorded ("kiosk.NAME":
 * 1 issued, 2 revoked) and logs each change as KEY_CREATE or KEY_REVOKE in transaction t, naming
 * the certificate by the SHA-256 of its file. Sets *changes.
 */
static int
scan_kiosks(struct hub *h, struct ledger_txn *t, uint64_t now, size_t *changes, struct paso_diag *d)
{
	const struct deploy_paths *p = &h->paths;
	struct vault_txn *vt = ledger_store(t);
	struct dirent *de;
	DIR *dp;
	char key[96], path[DEPLOY_PATH_MAX + 80], msg[300], hexd[65], name[72];
	uint8_t buf[8192], dg[32];
	uint64_t was, state;
	size_t n;
	FILE *f;
	int r = 0;

	*changes = 0;
	if ((dp = opendir(p->kiosks)) == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", p->kiosks, strerror(errno));
	while ((de = readdir(dp)) != NULL) {
		n = strlen(de->d_name);
		if (n < 5 || n - 4 >= sizeof(name) || strcmp(de->d_name + n - 4, ".crt") != 0)
			continue;
		memcpy(name, de->d_name, n - 4);
		name[n - 4] = '\0';
		if (!deploy_name_ok(name, 64))
			continue;
		state = deploy_kiosk_known(p, name) == 0 ? 1 : 2;
		(void)snprintf(key, sizeof(key), "kiosk.%s", name);
		if ((r = vault_meta_get(vt, key, &was)) == PASO_E_NOT_FOUND)
			was = 0, r = 0;
		if (r != 0)
			break;
		if (was == state)
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
			state == 1 ? "issued" : "revoked", hexd);
		if ((r = decide_event(&h->dc, t, now,
			     state == 1 ? PASO__ACTION__KEY_CREATE : PASO__ACTION__KEY_REVOKE, 0,
			     "operation", msg)) != 0 ||
			(r = vault_meta_put(vt, key, state)) != 0)
			break;
		hublog_printf(&h->log, "%s", msg);
		(*changes)++;
	}
	closedir(dp);
	if (r != 0)
		paso_diag_set(d, r, "recording kiosk certificates: %s", paso_strerror(r));
	return r;
}

/* Timer: certificates issued or revoked while serving are logged within a second. */
static int
kiosk_timer(void *arg)
{
	struct hub *h = arg;
	struct ledger_txn *t = NULL;
	struct paso_diag d = {0};
	size_t changes = 0;
	uint64_t now = clock_now(&h->cfg.clock);
	int r;

	if ((r = ledger_begin(h->ledger, &t)) != 0) {
		if (!loop_storage_full(h->loop, r) && loop_fatal(h->loop) == NULL)
			hublog_printf(&h->log, "kiosk certificate scan: %s", paso_strerror(r));
		return 0;
	}
	ledger_note_time(t, now);
	if ((r = scan_kiosks(h, t, now, &changes, &d)) != 0 || changes == 0) {
		ledger_abort(t);
		if (r != 0)
			hublog_printf(&h->log, "%s", d.msg);
		return 0;
	}
	if ((r = ledger_commit(t)) != 0 && !loop_storage_full(h->loop, r))
		hublog_printf(&h->log, "recording kiosk certificates: %s", paso_strerror(r));
	return 0;
}

/* Appends one hub event in its own transaction (the loop or the caller signs a checkpoint). */
static int
append_event(struct hub *h, Paso__Action action, const char *detail)
{
	struct ledger_txn *t = NULL;
	uint64_t now = clock_now(&h->cfg.clock);
	int r;

	if ((r = ledger_begin(h->ledger, &t)) != 0)
		return r;
	ledger_note_time(t, now);
	if ((r = decide_event(&h->dc, t, now, action, 0, "retention", detail)) != 0) {
		ledger_abort(t);
		return r;
	}
	return ledger_commit(t);
}

/* --- retention --------------------------------------------------------------------------------- */

/*
 * One bounded retention sweep on the hub's clock, then the key destruction it made possible
 * (see retention.h for why each step is crash-safe). Returns 1 when more subjects are due,
 * else 0; errors are logged and retried on the next tick.
 */
static int
sweep_once(struct hub *h)
{
	struct ledger_txn *t = NULL;
	struct retention_step st;
	uint64_t now = clock_now(&h->cfg.clock);
	size_t shredded = 0;
	uint32_t first = 0, last = 0;
	char msg[400], a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES];
	int r, more = 0;

	memset(&st, 0, sizeof(st));
	if ((r = ledger_begin(h->ledger, &t)) != 0)
		goto fail;
	ledger_note_time(t, now);
	if ((r = retention_sweep(&h->dc, t, now, h->cfg.sweep_batch, &st)) != 0) {
		ledger_abort(t);
		goto fail;
	}
	if (st.records == 0) {
		ledger_abort(t);
	} else {
		r = ledger_commit(t);
		if (r != 0)
			goto fail;
		retention_forget(h->gallery, &st);
		retention_forget(h->recent, &st); /* enrolments not yet moved (decide_undo) */
		for (uint64_t i = 0; i < st.subjects; i++)
			(void)pgallery_remove(h->pgallery, st.ids + i * VAULT_ID_BYTES);
		if (st.records > st.subjects + st.events)
			hublog_printf(&h->log,
				"retention: erased %llu crossing records, %llu records of refused "
				"messages and %llu acknowledgements kept for resends (%llu audit "
				"entries in all)%s",
				(unsigned long long)st.kept[POLICY_REC_CROSSING],
				(unsigned long long)st.kept[POLICY_REC_REJECTED],
				(unsigned long long)st.seen_total, (unsigned long long)st.entries,
				st.more ? "; more are due" : "");
		if (st.records > 0 && h->cfg.test_crash_after_sweep)
			raise(SIGKILL); /* the worst moment: rows gone, keys not yet destroyed */
		if (st.subjects > 0) {
			hublog_printf(&h->log,
				"retention: erased %llu enrolments and %llu crossings of key epochs "
				"%u..%u (audit entry %llu)%s",
				(unsigned long long)st.subjects, (unsigned long long)st.events,
				st.first_epoch, st.last_epoch, (unsigned long long)st.audit_index,
				st.more ? "; more are due" : "");
		}
	}
	more = st.more;
	retention_step_clear(&st);
	r = retention_shred(h->vault, h->kr, h->policy, now, &shredded, &first, &last);
	if (shredded > 0) {
		instant_format((uint64_t)VAULT_EPOCH_DAY(first) * 86400u, a);
		instant_format((uint64_t)VAULT_EPOCH_DAY(last) * 86400u, b);
		a[10] = b[10] = '\0';
		(void)snprintf(msg, sizeof(msg),
			"retention: destroyed the key-encryption keys of %zu expired key epoch(s) "
			"%u..%u (days %s..%s); nothing erased from them can be decrypted from any "
			"copy of the store any more",
			shredded, first, last, a, b);
		hublog_printf(&h->log, "%s", msg);
		if (append_event(h, PASO__ACTION__KEY_REVOKE, msg) != 0)
			hublog_printf(
				&h->log, "retention: the key destruction could not be audited");
	}
	if (r != 0)
		goto fail;
	return more;
fail:
	retention_step_clear(&st);
	if (!loop_storage_full(h->loop, r) && loop_fatal(h->loop) == NULL)
		hublog_printf(&h->log, "retention sweep failed: %s (retried in a second)",
			paso_strerror(r));
	return 0;
}

static int
sweep_timer(void *arg)
{
	return sweep_once(arg);
}

/* Timer: enrolments a busy gallery left waiting in recent join it (decide_undo). */
static int
settle_timer(void *arg)
{
	struct hub *h = arg;

	decide_settle(&h->dc);
	return 0;
}

/* --- the gallery ------------------------------------------------------------------------------- */

static int
load_one(void *arg, const uint8_t id[VAULT_ID_BYTES], const uint8_t *rec, size_t len)
{
	struct hub *h = arg;
	Paso__SubjectRecord *sr;
	struct bio_sample s;
	struct paso_diag d = {0};
	int r = 0;

	memset(&s, 0, sizeof(s));
	if ((sr = paso__subject_record__unpack(frame_allocator(), len, rec)) == NULL)
		return PASO_E_CORRUPT;
	if (sr->protected_templates != NULL) {
		struct pref *pr = NULL;

		/* a protected reference: its generation's key is loaded when first compared */
		if ((r = protref_from_pb(sr->protected_templates, &pr, &d)) == 0 &&
			pref_modalities(pr) != 0)
			r = pgallery_put(h->pgallery, id, pr, 0, NULL);
		else
			pref_free(pr);
	}
	if (r == 0 && sr->templates != NULL &&
		(sr->templates->finger_record.len > 0 || sr->templates->face != NULL ||
			sr->templates->n_iris > 0))
		r = sample_from_pb(sr->templates, &s, &d);
	if (r == 0)
		r = decide_gallery_add(h->gallery, id, &s, NULL);
	bio_sample_clear(&s);
	paso__subject_record__free_unpacked(sr, frame_allocator());
	return r;
}

/*
 * The gallery load, in parallel: subject ids begin with a random run of 256 ids (vault.h), so
 * their first byte splits the store into LOAD_PARTS parts of about equal size. Each thread
 * opens its own read transaction and claims parts until none is left; decryption, decoding and
 * template building run concurrently, and only the insertion takes the gallery's lock.
 */
#define LOAD_PARTS 256
#define LOAD_THREADS_MAX 16

struct load {
	struct hub *h;
	atomic_uint next; /* next part to claim */
	atomic_int err;   /* first error, 0 if none */
};

static void *
load_worker(void *arg)
{
	struct load *ld = arg;
	struct vault_txn *t = NULL;
	uint8_t lo[VAULT_ID_BYTES], hi[VAULT_ID_BYTES];
	unsigned p;
	int r, zero = 0;

	if ((r = vault_begin(ld->h->vault, 1, &t)) != 0)
		goto out;
	while (atomic_load(&ld->err) == 0 && (p = atomic_fetch_add(&ld->next, 1)) < LOAD_PARTS) {
		memset(lo, 0, sizeof(lo));
		memset(hi, 0, sizeof(hi));
		lo[0] = (uint8_t)p;
		hi[0] = (uint8_t)(p + 1);
		if ((r = vault_subject_foreach_range(
			     t, lo, p + 1 < LOAD_PARTS ? hi : NULL, load_one, ld->h)) != 0)
			goto out;
	}
out:
	if (r != 0)
		(void)atomic_compare_exchange_strong(&ld->err, &zero, r);
	vault_abort(t);
	return NULL;
}

/* Loads every subject's templates into the gallery on the machine's cores. */
static int
load_gallery(struct hub *h)
{
	struct load ld;
	pthread_t tid[LOAD_THREADS_MAX];
	uint64_t n = ledger_counter(h->ledger, COUNT_SUBJECTS);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned nt = cpus < 1 ? 1 : cpus > LOAD_THREADS_MAX ? LOAD_THREADS_MAX : (unsigned)cpus;
	unsigned i, started = 0;
	int r;

	/* Sized once for everyone (and some room for enrolments), its pages faulted in at once
	 * (bigmap.h) rather than by the loading threads one by one. */
	if (n > 0 && (r = gallery_reserve(h->gallery, n + n / 16 + 1024)) != 0)
		return r;
	ld.h = h;
	atomic_init(&ld.next, 0);
	atomic_init(&ld.err, 0);
	for (i = 1; i < nt; i++) {
		if (pthread_create(&tid[i], NULL, load_worker, &ld) != 0)
			break;
		started = i;
	}
	load_worker(&ld); /* this thread too; with no thread started it does every part */
	for (i = 1; i <= started; i++)
		pthread_join(tid[i], NULL);
	/* The walk mapped the whole store into this process: let those pages go. */
	vault_release_pages(h->vault);
	return atomic_load(&ld.err);
}

/* Appends one hub event (action, code, purpose, detail) in its own ledger transaction. */
static int
record_event_code(
	struct hub *h, Paso__Action action, int code, const char *purpose, const char *detail)
{
	struct ledger_txn *t = NULL;
	uint64_t now = clock_now(&h->cfg.clock);
	int r;

	if ((r = ledger_begin(h->ledger, &t)) != 0)
		return r;
	ledger_note_time(t, now);
	if ((r = decide_event(&h->dc, t, now, action, code, purpose, detail)) != 0) {
		ledger_abort(t);
		return r;
	}
	return ledger_commit(t);
}

static int
record_event(struct hub *h, Paso__Action action, const char *purpose, const char *detail)
{
	return record_event_code(h, action, 0, purpose, detail);
}

/* Appends one hub event and signs a checkpoint. */
static int
log_event(struct hub *h, Paso__Action action, const char *detail)
{
	int r;

	if ((r = record_event(h, action, "operation", detail)) != 0)
		return r;
	return ledger_checkpoint(h->ledger, h->signer);
}

/*
 * Opens a subject's sealed record for a finger loader, in a read transaction of its own (any
 * thread), counting the opening (the read_timer logs them). The caller frees *srp with
 * frame_allocator (which wipes the card number and templates) and *recp with vault_free_record.
 */
static int
open_for_fingers(struct hub *h, const uint8_t id[16], Paso__SubjectRecord **srp, uint8_t **recp,
	size_t *lenp)
{
	struct vault_txn *t = NULL;
	int r;

	*srp = NULL;
	*recp = NULL;
	*lenp = 0;
	if ((r = vault_begin(h->vault, 1, &t)) != 0)
		return r;
	r = vault_subject_get(t, id, recp, lenp);
	vault_abort(t);
	if (r != 0)
		return r;
	atomic_fetch_add(&h->finger_reads, 1);
	if ((*srp = paso__subject_record__unpack(frame_allocator(), *lenp, *recp)) == NULL)
		return PASO_E_CORRUPT;
	return 0;
}

/* The gallery's finger loader when fingers stay in the store: the record's finger template, the
 * views at the probe's positions only (gallery.h). */
static int
load_finger(void *arg, const uint8_t id[16], uint32_t positions, struct finger_template **out)
{
	Paso__SubjectRecord *sr = NULL;
	uint8_t *rec = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = open_for_fingers(arg, id, &sr, &rec, &len)) == 0) {
		if (sr->templates == NULL || sr->templates->finger_record.len == 0)
			r = PASO_E_NOT_FOUND;
		else
			r = finger_template_from_record_at(sr->templates->finger_record.data,
				sr->templates->finger_record.len, positions, out, NULL);
	}
	if (sr != NULL)
		paso__subject_record__free_unpacked(sr, frame_allocator());
	vault_free_record(rec, len);
	return r;
}

/* As load_finger, for a protected reference: its protected finger form. */
static int
load_pfinger(void *arg, const uint8_t id[16], struct protect_finger **out)
{
	Paso__SubjectRecord *sr = NULL;
	uint8_t *rec = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = open_for_fingers(arg, id, &sr, &rec, &len)) == 0) {
		if (sr->protected_templates == NULL || sr->protected_templates->n_finger == 0)
			r = PASO_E_NOT_FOUND;
		else
			r = protref_finger_from_pb(sr->protected_templates, out, NULL);
	}
	if (sr != NULL)
		paso__subject_record__free_unpacked(sr, frame_allocator());
	vault_free_record(rec, len);
	return r;
}

/* Timer: the records opened for their fingers since the last entry, as one RECORD_READ. */
static int
read_timer(void *arg)
{
	struct hub *h = arg;
	unsigned long long n = atomic_load(&h->finger_reads), d = n - h->reads_logged, dh;
	uint64_t hits = 0, misses = 0;
	size_t bytes = 0, len;
	char msg[320];
	int r;

	/* Comparisons that used fingers opened earlier and kept (hub_config.finger_cache_bytes)
	 * are said too: the record was read once, its fingers were used again. */
	gallery_finger_cache_stats(h->gallery, &hits, &misses, &bytes);
	dh = hits - h->hits_logged;
	if (d == 0 && dh == 0)
		return 0;
	len = (size_t)snprintf(msg, sizeof(msg),
		"opened %llu sealed subject records to compare the fingers of match candidates", d);
	if (dh > 0 && len < sizeof(msg))
		(void)snprintf(msg + len, sizeof(msg) - len,
			"; %llu more comparisons used fingers opened earlier and held in memory",
			dh);
	if ((r = record_event(h, PASO__ACTION__RECORD_READ, "matching", msg)) == 0) {
		h->reads_logged = n;
		h->hits_logged = hits;
	} else if (!loop_storage_full(h->loop, r) && loop_fatal(h->loop) == NULL)
		hublog_printf(&h->log, "logging record reads: %s", paso_strerror(r));
	return 0;
}

/* --- witnesses ------------------------------------------------------------------------------- */

/*
 * Timer: the witnesses of DIR/witnesses get each new checkpoint (registry/cosign.h); what they
 * cosigned is published in the tiles; a refusal is logged once per episode and recorded in the
 * audit log, so that the refusal is in the refused log itself.
 */
static int
cosign_timer(void *arg)
{
	struct hub *h = arg;
	struct cosign_event ev[COSIGN_MAX_WITNESSES + 1];
	struct paso_diag d = {0};
	char *note = NULL;
	size_t len = 0, nev = 0, i;
	int r;

	if ((r = cosign_step(h->cosign, ledger_auditlog(h->ledger), &note, &len, ev,
		     sizeof(ev) / sizeof(ev[0]), &nev)) != 0)
		hublog_printf(&h->log, "witnesses: %s", paso_strerror(r));
	if (note != NULL) {
		if ((r = ledger_publish(h->ledger, note, len, &d)) != 0)
			hublog_printf(&h->log, "publishing the cosigned checkpoint: %s",
				d.msg[0] ? d.msg : paso_strerror(r));
		free(note);
	}
	for (i = 0; i < nev; i++) {
		hublog_printf(&h->log, "%s", ev[i].msg);
		if (ev[i].audit && !h->stopping &&
			(r = record_event_code(h, PASO__ACTION__WITNESS, ev[i].code, "witnessing",
				 ev[i].msg)) != 0)
			hublog_printf(&h->log, "recording a witness refusal: %s", paso_strerror(r));
	}
	return 0;
}

/* After the stop entry: its checkpoint goes to the witnesses too, for 3 s at most. */
static void
cosign_finish(struct hub *h)
{
	int i;

	for (i = 0; i < 60 && cosign_count(h->cosign) > 0; i++) {
		(void)cosign_timer(h);
		if (cosign_idle(h->cosign, ledger_auditlog(h->ledger)))
			break;
		usleep(50000);
	}
}

/* Copies what a peer sent into detail text: printable ASCII only. */
static void
printable_copy(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < cap && src[i] != '\0'; i++)
		dst[i] =
			(unsigned char)src[i] < 0x20 || (unsigned char)src[i] > 0x7e ? '?' : src[i];
	dst[i] = '\0';
}

static void
witness_pending(struct hub *h, int code, const char *detail)
{
	if (h->nwitq == WITPENDING_MAX) {
		h->witdropped++;
		return;
	}
	h->witq[h->nwitq].code = code;
	(void)snprintf(h->witq[h->nwitq].detail, sizeof(h->witq[0].detail), "%s", detail);
	h->nwitq++;
}

/*
 * A decision of this hub's witness (on its HTTP thread). Recorded in the audit log: the first
 * cosignature of each log since start, each refusal episode (until that log is cosigned again),
 * and every hour (and at stop) how many checkpoints of each log were cosigned. Not one entry per
 * cosignature: two hubs witnessing each other would then make each other's logs grow forever
 * (an entry, a checkpoint, a cosignature, an entry...). Each cosigned checkpoint is in the
 * witness's journal (DIR/witness/log-KEYID.journal) anyway.
 */
static void
witness_observed(void *ctx, const char *origin, uint64_t size, int code, const char *msg)
{
	struct hub *h = ctx;
	struct witseen *s = NULL;
	char o[128], m[300], detail[600];
	size_t i;

	if (code == PASO_E_EXISTS) /* "ask again from SIZE": the protocol, not a refusal */
		return;
	printable_copy(o, sizeof(o), origin != NULL && origin[0] ? origin : "(unparsed)");
	printable_copy(m, sizeof(m), msg != NULL ? msg : "");
	pthread_mutex_lock(&h->witmu);
	for (i = 0; i < h->nseen; i++)
		if (strcmp(h->seen[i].origin, o) == 0)
			s = &h->seen[i];
	if (s == NULL && h->nseen < WITSEEN_MAX) {
		s = &h->seen[h->nseen++];
		memset(s, 0, sizeof(*s));
		(void)snprintf(s->origin, sizeof(s->origin), "%s", o);
	}
	if (s == NULL) {
		h->witdropped++;
	} else if (code == 0) {
		s->cosigned++;
		s->latest = size;
		s->episode = 0;
		if (!s->announced) {
			s->announced = 1;
			(void)snprintf(detail, sizeof(detail),
				"as a witness, cosigned the checkpoint of log '%s' at %llu entries",
				o, (unsigned long long)size);
			witness_pending(h, 0, detail);
		}
	} else if (code != s->episode) {
		s->episode = code;
		(void)snprintf(detail, sizeof(detail),
			"as a witness, refused the checkpoint of log '%s' at %llu entries (HTTP %d): %s",
			o, (unsigned long long)size, witness_http_status(code), m);
		witness_pending(h, code, detail);
	}
	pthread_mutex_unlock(&h->witmu);
}

/* Timer: records the witness decisions queued by witness_observed; summaries hourly or now. */
static int
witness_record(struct hub *h, int summarize)
{
	struct witpending *p = NULL;
	size_t n, i;
	double now;
	int r = 0;

	if (h->witness == NULL)
		return 0;
	if ((p = malloc(sizeof(h->witq))) == NULL)
		return PASO_E_NOMEM;
	now = (double)time(NULL);
	if (h->witsummary == 0)
		h->witsummary = now;
	pthread_mutex_lock(&h->witmu);
	n = h->nwitq;
	memcpy(p, h->witq, n * sizeof(*p));
	h->nwitq = 0;
	if (summarize || now - h->witsummary >= WITSUMMARY_S) {
		h->witsummary = now;
		for (i = 0; i < h->nseen && n < WITPENDING_MAX; i++) {
			struct witseen *s = &h->seen[i];

			if (s->cosigned == s->summarized)
				continue;
			(void)snprintf(p[n].detail, sizeof(p[n].detail),
				"as a witness, cosigned %llu checkpoints of log '%s' since the last "
				"count, the latest at %llu entries",
				(unsigned long long)(s->cosigned - s->summarized), s->origin,
				(unsigned long long)s->latest);
			p[n++].code = 0;
			s->summarized = s->cosigned;
		}
	}
	pthread_mutex_unlock(&h->witmu);
	for (i = 0; i < n && r == 0; i++) {
		hublog_printf(&h->log, "%s", p[i].detail);
		r = record_event_code(
			h, PASO__ACTION__WITNESS, p[i].code, "witnessing", p[i].detail);
	}
	if (r != 0)
		hublog_printf(&h->log, "recording witness decisions: %s", paso_strerror(r));
	free(p);
	return r;
}

static int
witness_timer(void *arg)
{
	(void)witness_record(arg, 0);
	return 0;
}

/* Serving as a witness: DIR/witness holds the key and state, DIR/witness/logs the log keys. */
static int
open_witness(struct hub *h, struct paso_diag *d)
{
	char dir[DEPLOY_PATH_MAX + 16], path[DEPLOY_PATH_MAX + 32], self[PEER_NAME_MAX + 1];
	char name[PEER_NAME_MAX + 32], line[1024];
	size_t lineno = 0, nlogs = 0, n;
	FILE *f;
	int r;

	(void)snprintf(dir, sizeof(dir), "%s/witness", h->cfg.dir);
	(void)snprintf(path, sizeof(path), "%s/logs", dir);
	if ((r = peer_self_name(h->cfg.dir, self, sizeof(self), d)) != 0)
		return r;
	(void)snprintf(name, sizeof(name), "paso-witness/%s", self);
	if ((r = witness_open(dir, name, &h->witness, d)) != 0)
		return r;
	if ((f = fopen(path, "r")) == NULL)
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"--witness-listen: %s: %s (name the logs to witness with `paso-hub witness "
			"log`)",
			path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		n = strlen(line);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if ((r = witness_add_log(h->witness, line, d)) != 0) {
			fclose(f);
			return paso_diag_set(
				d, r, "%s:%zu: not a log key: '%.80s'", path, lineno, line);
		}
		nlogs++;
	}
	fclose(f);
	if (nlogs == 0)
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"--witness-listen: %s names no log (add one with `paso-hub witness log`)",
			path);
	if (pthread_mutex_init(&h->witmu, NULL) != 0)
		return PASO_E_INTERNAL;
	h->witmu_init = 1;
	witness_set_observer(h->witness, witness_observed, h);
	return httpmini_server_start(h->cfg.witness_host,
		h->cfg.witness_port != NULL ? h->cfg.witness_port : "0", WITNESS_MAX_BODY, 5000,
		witness_http_handler, h->witness, &h->witsrv, d);
}

/* --- template protection keys ------------------------------------------------------------------ */

/*
 * "protect renew", as a loop task: a new generation of the hub's protection key becomes
 * current (durable before the entry), audited as KEY_CREATE in t. References under older
 * generations keep matching; each is replaced by the person's next matching crossing
 * (decide.c prenew), and protect_timer destroys the old keys when none is left.
 */
static int
renew_task(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap)
{
	struct hub *h = arg;
	uint32_t gen = 0, old = 0;
	size_t n;
	char msg[300];
	int r;

	if (protref_policy_mask(h->policy) == 0) {
		(void)snprintf(out, cap,
			"protect renew: policy '%s' keeps no protected references (set protect.X "
			"for a stored modality)",
			policy_name(h->policy));
		return PASO_E_POLICY_DENIED;
	}
	if ((r = protref_current(h->pkeys, &old)) != 0 ||
		(r = protref_rotate(h->pkeys, &gen)) != 0) {
		(void)snprintf(out, cap, "protect renew: %s", paso_strerror(r));
		return r;
	}
	n = pgallery_count_below(h->pgallery, gen);
	(void)snprintf(msg, sizeof(msg),
		"template protection key generation %u created, replacing %u; %zu protected "
		"references are renewed at each person's next crossing, then the old generation "
		"is destroyed",
		gen, old, n);
	if ((r = decide_event(
		     &h->dc, t, now, PASO__ACTION__KEY_CREATE, 0, "template protection", msg)) != 0)
		return r;
	(void)snprintf(out, cap, "%s", msg);
	return 0;
}

/* Timer: protection key generations no reference uses any more are destroyed, and audited. */
static int
protect_timer(void *arg)
{
	struct hub *h = arg;
	uint32_t cur;
	size_t count = 0;
	char msg[300];
	int r;

	if (protref_policy_mask(h->policy) == 0 || protref_current(h->pkeys, &cur) != 0 ||
		cur == h->pkeys_clean || pgallery_count_below(h->pgallery, cur) != 0)
		return 0;
	if ((r = protref_forget_below(h->pkeys, cur, &count)) != 0) {
		hublog_printf(&h->log, "destroying old protection keys: %s (retried in a second)",
			paso_strerror(r));
		return 0;
	}
	h->pkeys_clean = cur;
	if (count == 0)
		return 0;
	(void)snprintf(msg, sizeof(msg),
		"template protection: destroyed %zu key generation(s) below %u; every reference "
		"has been renewed, and references made under them match nothing any more",
		count, cur);
	hublog_printf(&h->log, "%s", msg);
	if (record_event(h, PASO__ACTION__KEY_REVOKE, "template protection", msg) != 0)
		hublog_printf(&h->log, "template protection: the key destruction could not be "
				       "audited");
	return 0;
}

/* --- open -------------------------------------------------------------------------------------- */

/* Which time a simulated clock starts from: never behind what the deployment recorded. */
static int
start_clock(struct hub *h, struct paso_diag *d)
{
	uint64_t high = ledger_time(h->ledger);
	char a[INSTANT_TEXT_BYTES], b[INSTANT_TEXT_BYTES];

	if (!h->cfg.clock.simulated)
		return 0;
	if (h->cfg.clock_resume) {
		if (high == 0)
			return paso_diag_set(d, PASO_E_INVALID_ARG,
				"--clock sim: this deployment has recorded no time to resume from; "
				"give sim:INSTANT");
		clock_init_sim(&h->cfg.clock, high);
		return 0;
	}
	if (clock_now(&h->cfg.clock) < high)
		return paso_diag_set(d, PASO_E_FIELD_RANGE,
			"--clock: %s is before %s, the latest time this deployment recorded; start "
			"at or after it (or --clock sim to resume there)",
			instant_format(clock_now(&h->cfg.clock), a), instant_format(high, b));
	return 0;
}

/*
 * The first transaction of a start: recovery, certificates, the policy, and the read of every
 * sealed record, durable before the first record is opened (a read that cannot be logged does
 * not happen).
 */
static int
log_start(struct hub *h, uint64_t recovered, struct paso_diag *d)
{
	struct ledger_txn *t = NULL;
	uint64_t now = clock_now(&h->cfg.clock);
	size_t changes;
	char msg[300], hexd[65], ts[INSTANT_TEXT_BYTES];
	int r;

	if ((r = ledger_begin(h->ledger, &t)) != 0)
		goto fail;
	ledger_note_time(t, now);
	if (recovered > 0) {
		(void)snprintf(msg, sizeof(msg),
			"unclean stop: cut back %llu audit entries of an uncommitted group (never "
			"answered)",
			(unsigned long long)recovered);
		hublog_printf(&h->log, "%s", msg);
		if ((r = decide_event(
			     &h->dc, t, now, PASO__ACTION__RECOVERY, 0, "operation", msg)) != 0)
			goto fail;
	}
	if ((r = scan_kiosks(h, t, now, &changes, d)) != 0)
		goto fail;
	hex_encode(policy_digest(h->policy), 32, hexd);
	(void)snprintf(msg, sizeof(msg), "policy '%.64s' sha256 %s", policy_name(h->policy), hexd);
	if ((r = decide_event(&h->dc, t, now, PASO__ACTION__POLICY_LOAD, 0, "operation", msg)) != 0)
		goto fail;
	if (h->cfg.clock.simulated) {
		(void)snprintf(msg, sizeof(msg), "hub clock: simulated, starting at %s",
			instant_format(now, ts));
		if ((r = vault_meta_put(ledger_store(t), META_CLOCK_SIMULATED, 1)) != 0 ||
			(r = decide_event(&h->dc, t, now, PASO__ACTION__CLOCK_SET, 0, "operation",
				 msg)) != 0)
			goto fail;
	} else if ((r = vault_meta_put(ledger_store(t), META_CLOCK_SIMULATED, 0)) != 0)
		goto fail;
	(void)snprintf(msg, sizeof(msg),
		"opening %llu sealed subject records to load their templates into memory for "
		"matching",
		(unsigned long long)ledger_counter(h->ledger, COUNT_SUBJECTS));
	if ((r = decide_event(&h->dc, t, now, PASO__ACTION__RECORD_READ, 0, "matching", msg)) != 0)
		goto fail;
	r = ledger_commit(t);
	t = NULL;
	if (r != 0)
		goto fail;
	return ledger_checkpoint(h->ledger, h->signer);
fail:
	ledger_abort(t);
	if (d->code == 0)
		paso_diag_set(d, r, "audit log: %s", paso_strerror(r));
	return r;
}

/* The link to other deployments: the partner port or the receive port (registry/peer.h). */
static int
open_peer_link(struct hub *h, struct paso_diag *d)
{
	enum peer_role role;
	int r;

	if ((r = peer_role(h->cfg.dir, &role, d)) != 0)
		return r;
	if (role == PEER_ROLE_NATIONAL) {
		size_t queued = 0;

		if ((r = share_backfill(h->policy, h->ledger, h->vault, clock_now(&h->cfg.clock),
			     &queued, d)) != 0)
			return r;
		if (queued > 0)
			hublog_printf(&h->log, "sharing: %zu existing records queued for new rules",
				queued);
		struct share_config sc = {h->cfg.dir, h->cfg.host, h->cfg.peer_port, 5000, h->loop,
			&h->dc, h->ledger, &h->cfg.clock, &h->log, 0};

		return share_open(&sc, &h->share, d);
	}
	/* Peer links idle between batches: a short timeout lets a stop finish soon. */
	struct partner_config pc = {
		h->cfg.dir, h->cfg.host, h->cfg.peer_port, 5000, h->loop, &h->dc, &h->log};

	return partner_open(&pc, &h->partner, d);
}

int
hub_open(const struct hub_config *cfg, struct hub **out, struct paso_diag *d)
{
	struct hub *h = NULL;
	struct server_config sc;
	uint64_t recovered = 0;
	char msg[200];
	int r;

	*out = NULL;
	d->code = 0;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return PASO_E_NOMEM;
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
	if (!cfg->clock.simulated)
		clock_init_real(&h->cfg.clock);
	h->log.f = cfg->log;
	h->log.clock = &h->cfg.clock;
	if ((r = deploy_paths(cfg->dir, &h->paths, d)) != 0)
		goto out;
	(void)snprintf(h->control_path, sizeof(h->control_path), "%s/control.sock", cfg->dir);
	/* Configuration and certificates first: nothing sealed is opened for a hub that cannot
	 * serve. */
	if ((r = keyring_open(h->paths.keys, &h->kr, d)) != 0 ||
		(r = policy_load_file(h->paths.policy, &h->policy, d)) != 0 ||
		(r = deploy_load_signer(&h->paths, &h->signer, d)) != 0 ||
		(r = tls_ctx_new_server(
			 h->paths.hub_cert, h->paths.hub_key, h->paths.ca_cert, &h->tls, d)) != 0 ||
		(r = vault_open(cfg->dir, h->kr, &h->vault, d)) != 0 ||
		(r = ledger_open(h->paths.audit, h->vault, decide_count_keys, COUNT_N, &recovered,
			 &h->ledger, d)) != 0)
		goto out;
	if (d->code != 0) /* the audit log repaired a torn tail: say so */
		hublog_printf(&h->log, "%s", d->msg);
	d->code = 0;
	if ((r = start_clock(h, d)) != 0)
		goto out;
	if ((r = gallery_new(2, &h->gallery)) != 0 || (r = gallery_new(1, &h->recent)) != 0) {
		paso_diag_set(d, r, "gallery: %s", paso_strerror(r));
		goto out;
	}
	if ((r = pgallery_new(&h->pgallery)) != 0 ||
		(r = pgallery_set_threads(h->pgallery, 2)) != 0 ||
		(r = protref_keys_new(h->kr, &h->pkeys)) != 0) {
		paso_diag_set(d, r, "gallery: %s", paso_strerror(r));
		goto out;
	}
	/* Deduplication passes (the only batched searches) yield to crossings: a crossing's
	 * answer must not wait behind the scan of a national gallery. */
	gallery_set_pass_nice(h->gallery, cfg->dedup_nice);
	if (cfg->fingers_in_store) {
		gallery_set_finger_loader(h->gallery, load_finger, h);
		if (cfg->finger_cache_bytes > 0 &&
			(r = gallery_set_finger_cache(h->gallery, cfg->finger_cache_bytes)) != 0) {
			paso_diag_set(d, r, "gallery: finger cache: %s", paso_strerror(r));
			goto out;
		}
		/* enrolments waiting in recent keep no fingers either: their record is committed
		 * before any later group compares with them (a duplicate in the same group is
		 * compared by face and irises alone) */
		gallery_set_finger_loader(h->recent, load_finger, h);
		pgallery_set_finger_loader(h->pgallery, load_pfinger, h);
	}
	h->dc.policy = h->policy;
	h->dc.gallery = h->gallery;
	h->dc.recent = h->recent;
	h->dc.pgallery = h->pgallery;
	h->dc.pkeys = h->pkeys;
	h->dc.vault = h->vault;
	h->dc.capture_window = cfg->capture_window;
	if ((r = log_start(h, recovered, d)) != 0)
		goto out;
	/* What expired while the hub was down goes before the gallery loads, and a sweep a
	 * crash interrupted finishes (its key destruction is redone). */
	while (sweep_once(h) > 0)
		;
	if ((r = load_gallery(h)) != 0) {
		paso_diag_set(d, r, "loading subjects from the store: %s", paso_strerror(r));
		goto out;
	}
	/* One domain for every comparison: references held raw are not converted (that needs
	 * each person's fresh capture), so a policy that disagrees with what is held is refused. */
	if (protref_policy_mask(h->policy) != 0 ? gallery_size(h->gallery) != 0
						: pgallery_size(h->pgallery) != 0) {
		r = paso_diag_set(d, PASO_E_POLICY_CONFLICT,
			"policy '%s' %s template protection but the store holds %zu %s references; "
			"switching a deployment between raw and protected references is not "
			"supported",
			policy_name(h->policy),
			protref_policy_mask(h->policy) != 0 ? "asks for" : "does not ask for",
			protref_policy_mask(h->policy) != 0 ? gallery_size(h->gallery)
							    : pgallery_size(h->pgallery),
			protref_policy_mask(h->policy) != 0 ? "raw" : "protected");
		goto out;
	}
	struct loop_config lc = {
		h->ledger, &h->dc, &h->cfg.clock, h->signer, &h->log, h->cfg.batch_max, 0};
	if ((r = loop_new(&lc, &h->loop)) != 0 ||
		(r = loop_add_timer(h->loop, 1.0, kiosk_timer, h)) != 0 ||
		(r = loop_add_timer(h->loop, 1.0, read_timer, h)) != 0 ||
		(r = loop_add_timer(h->loop, 1.0, sweep_timer, h)) != 0 ||
		(r = loop_add_timer(h->loop, 0.2, cosign_timer, h)) != 0 ||
		(r = loop_add_timer(h->loop, 1.0, witness_timer, h)) != 0 ||
		(r = loop_add_timer(h->loop, 1.0, settle_timer, h)) != 0 ||
		(r = loop_add_timer(h->loop, 1.0, protect_timer, h)) != 0)
		goto out;
	if ((r = cosign_open(cfg->dir, &h->cosign, d)) != 0)
		goto out;
	if (cfg->witness_host != NULL && (r = open_witness(h, d)) != 0)
		goto out;
	memset(&sc, 0, sizeof(sc));
	sc.host = h->cfg.host;
	sc.port = h->cfg.port;
	sc.max_frame = h->cfg.max_frame;
	sc.io_timeout_ms = h->cfg.io_timeout_ms;
	sc.max_conns = h->cfg.max_conns;
	sc.handshake_ms = h->cfg.handshake_ms;
	sc.max_unauth = h->cfg.max_unauth;
	sc.max_per_kiosk = h->cfg.max_per_kiosk;
	sc.frame_ms = h->cfg.frame_ms;
	sc.idle_ms = h->cfg.idle_ms;
	sc.deploy_dir = cfg->dir;
	sc.tls = h->tls;
	sc.loop = h->loop;
	sc.dc = &h->dc;
	sc.log = &h->log;
	if ((r = server_open(&sc, &h->server, d)) != 0)
		goto out;
	if ((r = open_peer_link(h, d)) != 0)
		goto out;
	(void)snprintf(msg, sizeof(msg), "listening on %.64s:%u with %zu subjects loaded",
		h->cfg.host, (unsigned)server_port(h->server),
		gallery_size(h->gallery) + pgallery_size(h->pgallery));
	if ((r = log_event(h, PASO__ACTION__HUB_START, msg)) != 0) {
		paso_diag_set(d, r, "audit log: %s", paso_strerror(r));
		goto out;
	}
	*out = h;
	h = NULL;
	r = 0;
out:
	hub_close(h);
	return r;
}

uint16_t
hub_port(const struct hub *h)
{
	return server_port(h->server);
}

uint16_t
hub_witness_port(const struct hub *h)
{
	return h->witsrv != NULL ? (uint16_t)httpmini_server_port(h->witsrv) : 0;
}

uint16_t
hub_peer_port(const struct hub *h)
{
	return h->share != NULL ? share_port(h->share) : partner_port(h->partner);
}

const char *
hub_control_path(const struct hub *h)
{
	return h->control_path;
}

/* --- policy reload ----------------------------------------------------------------------------- */

/*
 * A reload, as a loop task: reads DIR/policy.yaml again and logs POLICY_LOAD in t. The new
 * policy is in force only after that entry commits (reload_commit). A file that does not parse
 * or validate changes nothing: the answer names the file, line and value.
 */
static int
reload_task(void *arg, struct ledger_txn *t, uint64_t now, char *out, size_t cap)
{
	struct hub *h = arg;
	struct policy *p = NULL;
	struct paso_diag d = {0};
	char msg[700], hexn[65], hexo[65];
	int r;

	policy_free(h->pending);
	h->pending = NULL;
	if ((r = policy_load_file(h->paths.policy, &p, &d)) != 0) {
		(void)snprintf(
			out, cap, "%s; policy '%s' stays in force", d.msg, policy_name(h->policy));
		return r;
	}
	if (protref_policy_mask(p) != protref_policy_mask(h->policy)) {
		(void)snprintf(out, cap,
			"%s/policy.yaml: protect.* differs from the policy in force: references held "
			"are not converted between raw and protected forms; policy '%s' stays in force",
			h->cfg.dir, policy_name(h->policy));
		policy_free(p);
		return PASO_E_POLICY_CONFLICT;
	}
	hex_encode(policy_digest(p), 32, hexn);
	hex_encode(policy_digest(h->policy), 32, hexo);
	(void)snprintf(msg, sizeof(msg),
		"policy '%.64s' sha256 %s reloaded, replacing '%.64s' sha256 %.16s...; "
		"retention_days.enrolment %u (was %u), .crossing %u (was %u), .identification %u "
		"(was %u), .rejected %u (was %u): from the next sweep on they apply to every "
		"record held, by the day it was made",
		policy_name(p), hexn, policy_name(h->policy), hexo,
		policy_retention_days(p, POLICY_REC_ENROLMENT),
		policy_retention_days(h->policy, POLICY_REC_ENROLMENT),
		policy_retention_days(p, POLICY_REC_CROSSING),
		policy_retention_days(h->policy, POLICY_REC_CROSSING),
		policy_retention_days(p, POLICY_REC_IDENTIFICATION),
		policy_retention_days(h->policy, POLICY_REC_IDENTIFICATION),
		policy_retention_days(p, POLICY_REC_REJECTED),
		policy_retention_days(h->policy, POLICY_REC_REJECTED));
	if ((r = decide_event(&h->dc, t, now, PASO__ACTION__POLICY_LOAD, 0, "operation", msg)) !=
		0) {
		policy_free(p);
		return r;
	}
	h->pending = p;
	(void)snprintf(out, cap, "%s", msg);
	return 0;
}

/* A bulk rule new with the reloaded policy shares what already exists (registry/share.h). */
static void
reload_sharing(struct hub *h)
{
	struct paso_diag d = {0};
	enum peer_role role;
	size_t queued = 0;

	if (peer_role(h->cfg.dir, &role, &d) != 0 || role != PEER_ROLE_NATIONAL)
		return;
	if (share_backfill(h->policy, h->ledger, h->vault, clock_now(&h->cfg.clock), &queued, &d) !=
		0)
		hublog_printf(&h->log, "sharing after reload: %s", d.msg);
	else if (queued > 0)
		hublog_printf(
			&h->log, "sharing: %zu existing records queued for new rules", queued);
}

/* After the reload's entry committed: the new policy is in force from the next message on. */
static void
reload_commit(void *arg)
{
	struct hub *h = arg;
	struct policy **nr;

	if (h->pending == NULL)
		return;
	/* The replaced policy stays alive: a message prepared under it may still be in flight.
	 * Without room to keep it, it is leaked rather than freed under a reader. */
	if ((nr = realloc(h->retired, (h->nretired + 1) * sizeof(*nr))) != NULL) {
		h->retired = nr;
		h->retired[h->nretired++] = h->policy;
	}
	h->policy = h->pending;
	h->pending = NULL;
	h->dc.policy = h->policy;
	hublog_printf(&h->log, "policy '%s' in force (reloaded)", policy_name(h->policy));
	reload_sharing(h);
}

/* A reload asked by SIGHUP, run on the loop's thread between groups. */
static void
reload_now(struct hub *h)
{
	struct ledger_txn *t = NULL;
	uint64_t now = clock_now(&h->cfg.clock);
	char out[512];
	int r;

	out[0] = '\0';
	if ((r = ledger_begin(h->ledger, &t)) == 0) {
		ledger_note_time(t, now);
		if ((r = reload_task(h, t, now, out, sizeof(out))) == 0)
			r = ledger_commit(t);
		else
			ledger_abort(t);
		if (r == 0)
			reload_commit(h);
	}
	if (r != 0)
		hublog_printf(&h->log, "policy reload (SIGHUP) failed: %s",
			out[0] ? out : paso_strerror(r));
}

/* --- serve ------------------------------------------------------------------------------------ */

int
hub_start(struct hub *h)
{
	struct control_config cc = {h->control_path, h->loop, &h->cfg.clock, &h->dc, &h->log, h->kr,
		reload_task, reload_commit, h, renew_task};
	struct paso_diag d = {0};
	int r;

	if ((r = control_open(&cc, &h->control, &d)) != 0) {
		hublog_printf(&h->log, "%s", d.msg);
		return r;
	}
	if ((r = server_start(h->server)) != 0)
		return r;
	if ((r = share_start(h->share)) != 0 || (r = partner_start(h->partner)) != 0)
		return r;
	hublog_printf(&h->log, "serving on %s:%u (policy '%s', %s clock)", h->cfg.host,
		(unsigned)server_port(h->server), policy_name(h->policy),
		h->cfg.clock.simulated ? "simulated" : "real");
	return 0;
}

int
hub_run(struct hub *h, volatile sig_atomic_t *stop)
{
	int r, idle, stopping = 0, fatal = 0;

	for (;;) {
		idle = loop_step(h->loop, 200);
		if (h->cfg.reload != NULL && *h->cfg.reload && !stopping) {
			*h->cfg.reload = 0;
			reload_now(h);
		}
		if (loop_fatal(h->loop) != NULL && !fatal)
			fatal = 1; /* logged by the loop; stop as if asked */
		if ((*stop || fatal) && !stopping) {
			/* Checked on every iteration, under load too: stop accepting, let every
			 * connection answer what it sent, then stop. */
			stopping = 1;
			server_stop(h->server);
			control_stop(h->control);
			share_stop(h->share);
			partner_stop(h->partner);
		}
		if (stopping && idle && server_conns(h->server) == 0 &&
			control_stopped(h->control) && share_idle(h->share) &&
			partner_idle(h->partner))
			break;
	}
	control_close(h->control);
	h->control = NULL;
	read_timer(h); /* the last reads before the stop entry */
	/* Certificates issued or revoked since the last scan are recorded before the stop, not
	 * at the next start (a revocation must not wait for the timer's next second). */
	kiosk_timer(h);
	if (fatal) {
		hublog_printf(
			&h->log, "stopped after a fatal storage error: %s", loop_fatal(h->loop));
		return PASO_E_IO;
	}
	/* The witness stops answering first: its last decisions are recorded before the stop. */
	httpmini_server_stop(h->witsrv);
	h->witsrv = NULL;
	(void)witness_record(h, 1);
	(void)cosign_timer(h);
	r = log_event(h, PASO__ACTION__HUB_STOP, "clean stop");
	h->stopping = 1;
	cosign_finish(h);
	hublog_printf(&h->log,
		"stopped: %llu accepted, %llu refused, %llu resends in %llu commit groups",
		(unsigned long long)h->dc.accepted, (unsigned long long)h->dc.refused,
		(unsigned long long)h->dc.replayed, (unsigned long long)loop_groups(h->loop));
	return r;
}

void
hub_close(struct hub *h)
{
	if (h == NULL)
		return;
	control_close(h->control);
	httpmini_server_stop(h->witsrv);
	witness_close(h->witness);
	if (h->witmu_init)
		pthread_mutex_destroy(&h->witmu);
	cosign_close(h->cosign);
	share_close(h->share);
	partner_close(h->partner);
	server_close(h->server);
	loop_free(h->loop);
	tls_ctx_free(h->tls);
	gallery_free(h->gallery);
	gallery_free(h->recent);
	pgallery_free(h->pgallery);
	protref_keys_free(h->pkeys);
	checkpoint_signer_free(h->signer);
	ledger_close(h->ledger);
	policy_free(h->policy);
	policy_free(h->pending);
	while (h->nretired > 0)
		policy_free(h->retired[--h->nretired]);
	free(h->retired);
	vault_close(h->vault);
	keyring_close(h->kr);
	free(h);
}
