/* SPDX-License-Identifier: Apache-2.0 */
/* The sealed subject store on LMDB: seal/open records, card index, resend memory, epoch shredding.
 */
#include "be.h"
#include "frame.h"
#include "vault.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <lmdb.h>
#include <sodium.h>

#define REC_VERSION 1
#define REC_HDR (1 + 4 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
#define REC_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define DKROW_BYTES (KEYRING_WRAPPED_BYTES + KEYRING_HASH_BYTES)
#define SEENKEY_MAX (VAULT_KIOSK_MAX + 1 + 8)
#define SEENEXP_ORDERED (4 + 8)              /* seenexp: epoch || order -> seen key */
#define VAULT_FULL_BELOW ((uint64_t)1 << 20) /* free bytes under which an EIO is a full disk */
#define ID_RUN_BYTES 4  /* subject id: random run (4) || sequence in it BE(4) || random (8) */
#define ID_RUN_LEN 256u /* ids one run gives before another random run is drawn */

struct vault {
	MDB_env *env;
	MDB_dbi subjects, dks, cards, byepoch, seen, meta, events, seenexp;
	MDB_dbi outbox; /* share outbox rows (registry/share.c) */
	MDB_dbi kept;   /* records of (kind, creation day) epochs, sealed under the epoch's KEK */
	struct keyring *kr;
	size_t map_size, map_max;
	atomic_int ntxn;
	atomic_int grow_pending;
	/* Subject ids of this run (vault_subject_create; only a write transaction, hence one
	 * thread at a time, touches them). */
	uint8_t id_run[ID_RUN_BYTES];
	uint32_t id_seq;
};

struct vault_txn {
	struct vault *v;
	MDB_txn *txn;
	int readonly;
};

/* The one place LMDB codes become Paso codes. */
static int
mdb_to_paso(struct vault *v, int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return PASO_E_NOT_FOUND;
	case MDB_KEYEXIST:
		return PASO_E_EXISTS;
	case MDB_MAP_FULL:
		atomic_store(&v->grow_pending, 1);
		return PASO_E_MAP_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return PASO_E_CORRUPT;
	case ENOMEM:
		return PASO_E_NOMEM;
	case ENOSPC: /* a page write or the sync found the disk (or quota) full: passes */
	case EDQUOT:
		return PASO_E_STORE_FULL;
	default:
		return PASO_E_STORAGE;
	}
}

static int open_damage(int rc, const char *path, struct paso_diag *d);

static int
open_dbs(struct vault *v, const char *path, struct paso_diag *d)
{
	static const char *names[] = {"subjects", "dks", "cards", "byepoch", "seen", "meta",
		"events", "seenexp", "outbox", "kept"};
	MDB_dbi *dbis[] = {&v->subjects, &v->dks, &v->cards, &v->byepoch, &v->seen, &v->meta,
		&v->events, &v->seenexp, &v->outbox, &v->kept};
	MDB_txn *txn = NULL;
	size_t i;
	int rc;

	if ((rc = mdb_txn_begin(v->env, NULL, 0, &txn)) != 0)
		return open_damage(rc, path, d) != 0
			       ? PASO_E_CORRUPT
			       : paso_diag_set(d, mdb_to_paso(v, rc), "store: mdb_txn_begin: %s",
					 mdb_strerror(rc));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((rc = mdb_dbi_open(txn, names[i], MDB_CREATE, dbis[i])) != 0) {
			mdb_txn_abort(txn);
			if (open_damage(rc, path, d) != 0)
				return PASO_E_CORRUPT;
			return paso_diag_set(d, mdb_to_paso(v, rc), "store: database %s: %s",
				names[i], mdb_strerror(rc));
		}
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return paso_diag_set(
			d, mdb_to_paso(v, rc), "store: mdb_txn_commit: %s", mdb_strerror(rc));
	return 0;
}

/* --- damage: every row's shape, checked at open, before any record is opened ---------------- */

static void
hex_key(const MDB_val *k, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = k->mv_data;
	size_t i, o = 0;

	for (i = 0; i < k->mv_size && o + 3 < cap; i++) {
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 15];
	}
	out[o] = '\0';
}

/* Names a damaged row: table, key and what is wrong. Always PASO_E_CORRUPT. */
static int
row_damage(const char *path, const char *table, const MDB_val *k, const char *what,
	struct paso_diag *d)
{
	char kh[2 * 40 + 1];

	hex_key(k, kh, sizeof(kh));
	return paso_diag_set(d, PASO_E_CORRUPT, "%s/data.mdb: damaged: table %s, row %s%s: %s",
		path, table, kh, k->mv_size > 40 ? "..." : "", what);
}

/* A seen row's key is a kiosk name, a 0 byte and a sequence number; its answer an Envelope. */
static int
check_seen(const char *path, const MDB_val *k, const MDB_val *v, struct paso_diag *d)
{
	const uint8_t *kb = k->mv_data;
	Paso__Envelope *env;
	char kiosk[4 * 64 + 4];
	size_t n, i;

	if (k->mv_size < 10 || k->mv_size > SEENKEY_MAX || kb[k->mv_size - 9] != 0)
		return row_damage(path, "seen", k, "key is not kiosk id, 0, sequence number", d);
	n = k->mv_size - 9;
	for (i = 0; i < n; i++)
		if (kb[i] < 0x21 || kb[i] > 0x7e)
			return row_damage(
				path, "seen", k, "kiosk id holds a byte no kiosk name has", d);
	if (v->mv_size < VAULT_DIGEST_BYTES)
		return row_damage(path, "seen", k, "shorter than its payload digest", d);
	if (v->mv_size > VAULT_DIGEST_BYTES &&
		((const uint8_t *)v->mv_data)[VAULT_DIGEST_BYTES] == 0)
		return v->mv_size < VAULT_DIGEST_BYTES + 1 + KEYRING_SEAL_OVERHEAD
			       ? row_damage(path, "seen", k, "sealed answer too short", d)
			       : 0;
	env = paso__envelope__unpack(frame_allocator(), v->mv_size - VAULT_DIGEST_BYTES,
		(const uint8_t *)v->mv_data + VAULT_DIGEST_BYTES);
	if (env == NULL || (env->body_case != PASO__ENVELOPE__BODY_ACK &&
				   env->body_case != PASO__ENVELOPE__BODY_ERROR)) {
		if (env != NULL)
			frame_free(env);
		(void)snprintf(kiosk, sizeof(kiosk), "%.*s", (int)n, (const char *)kb);
		return paso_diag_set(d, PASO_E_CORRUPT,
			"%s/data.mdb: damaged: table seen, kiosk '%s' seq %llu: the stored answer is "
			"not an Ack or Error",
			path, kiosk, (unsigned long long)be64_get(kb + n + 1));
	}
	frame_free(env);
	return 0;
}

/*
 * A seenexp row's key is the day its acknowledgement expires (u32 big-endian), the kind of
 * record it acknowledges (0..VAULT_SEEN_KINDS-1), then the seen row's key; its value is empty.
 * Since per-kind epochs: the epoch, then the seen row's key, value empty; since rows of an
 * epoch are put in order (vault_seen_put_sealed): the epoch and an order (12 bytes), value the
 * seen row's key. A damaged one would make the sweep delete the wrong row, stop at it, or never
 * expire one.
 */
static int
check_seenexp(const char *path, const MDB_val *k, const MDB_val *v, struct paso_diag *d)
{
	const uint8_t *kb = k->mv_data, *sk;
	char kiosk[4 * 64 + 4];
	size_t n, i, o, sklen;
	unsigned kind;
	int ordered;

	/* Three layouts: expiry day || kind || key, epoch || key, epoch || order -> key. */
	o = k->mv_size >= 4 && VAULT_EPOCH_IS_KINDED(be32_get(kb)) ? 4 : 5;
	ordered = o == 4 && k->mv_size == SEENEXP_ORDERED;
	sk = ordered ? v->mv_data : kb + o;
	sklen = ordered ? v->mv_size : k->mv_size - (k->mv_size >= o ? o : k->mv_size);
	if (sklen < 10 || sklen > SEENKEY_MAX)
		return row_damage(path, "seenexp", k,
			ordered ? "value is not an acknowledgement's key (wrong length)"
				: "key is not expiry day, kind and an acknowledgement's key (wrong "
				  "length)",
			d);
	n = sklen - 9;
	(void)snprintf(kiosk, sizeof(kiosk), "%.*s", (int)n, (const char *)sk);
	for (i = 0; i < n; i++)
		if (sk[i] < 0x21 || sk[i] > 0x7e)
			return row_damage(path, "seenexp", k,
				"the acknowledgement's kiosk id holds a byte no kiosk name has", d);
	if (sk[n] != 0)
		return row_damage(path, "seenexp", k,
			"the acknowledgement's key is not kiosk id, 0, sequence number", d);
	kind = o == 4 ? VAULT_EPOCH_KIND(be32_get(kb)) : kb[4];
	if (kind >= VAULT_SEEN_KINDS || (!ordered && v->mv_size != 0))
		return paso_diag_set(d, PASO_E_CORRUPT,
			"%s/data.mdb: damaged: table seenexp, kiosk '%s' seq %llu (%s %lu): %s",
			path, kiosk, (unsigned long long)be64_get(sk + n + 1),
			o == 4 ? "key epoch" : "expiring on day", (unsigned long)be32_get(kb),
			kind >= VAULT_SEEN_KINDS ? "unknown record kind" : "value is not empty");
	return 0;
}

static int
check_row(const char *path, MDB_dbi which, const struct vault *v, const MDB_val *k,
	const MDB_val *val, struct paso_diag *d)
{
	const uint8_t *p = val->mv_data;
	uint32_t epoch, gen;

	if (which == v->subjects || which == v->events) {
		const char *table = which == v->subjects ? "subjects" : "events";

		if (k->mv_size != (which == v->subjects ? VAULT_ID_BYTES : VAULT_ID_BYTES + 8))
			return row_damage(path, table, k, "key has the wrong length", d);
		if (val->mv_size < REC_HDR + REC_TAG || p[0] != REC_VERSION)
			return row_damage(
				path, table, k, "not a sealed row (length or version)", d);
	} else if (which == v->dks) {
		if (k->mv_size != VAULT_ID_BYTES || val->mv_size != DKROW_BYTES)
			return row_damage(
				path, "dks", k, "key or wrapped key has the wrong length", d);
		if (keyring_wrapped_kek(p, &epoch, &gen) != 0)
			return row_damage(path, "dks", k, "wrapped key has an unknown version", d);
	} else if (which == v->cards) {
		if (k->mv_size != KEYRING_HASH_BYTES || val->mv_size != VAULT_ID_BYTES)
			return row_damage(
				path, "cards", k, "key or subject id has the wrong length", d);
	} else if (which == v->byepoch) {
		if (k->mv_size != 4 + VAULT_ID_BYTES || val->mv_size != 0)
			return row_damage(path, "byepoch", k, "not epoch and subject id", d);
	} else if (which == v->meta) {
		if (k->mv_size == 0 || k->mv_size > 64 || val->mv_size != 8)
			return row_damage(path, "meta", k, "not a counter", d);
	} else if (which == v->seen) {
		return check_seen(path, k, val, d);
	} else if (which == v->seenexp) {
		return check_seenexp(path, k, val, d);
	} else if (which == v->kept) {
		if (k->mv_size < 5 || k->mv_size > 4 + VAULT_KEPT_REST_MAX ||
			!VAULT_EPOCH_IS_KINDED(be32_get(k->mv_data)))
			return row_damage(
				path, "kept", k, "key is not a kind epoch and a reference", d);
		if (val->mv_size < KEYRING_SEAL_OVERHEAD)
			return row_damage(path, "kept", k, "not a sealed row (too short)", d);
	}
	return 0;
}

int
vault_check(struct vault *v, const char *path, struct paso_diag *d)
{
	const MDB_dbi dbis[] = {v->subjects, v->dks, v->cards, v->byepoch, v->seen, v->meta,
		v->events, v->seenexp, v->kept};
	MDB_cursor *c = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, val;
	size_t i;
	int rc, r = 0;

	if ((rc = mdb_txn_begin(v->env, NULL, MDB_RDONLY, &txn)) != 0)
		return paso_diag_set(
			d, mdb_to_paso(v, rc), "%s/data.mdb: %s", path, mdb_strerror(rc));
	for (i = 0; r == 0 && i < sizeof(dbis) / sizeof(dbis[0]); i++) {
		if ((rc = mdb_cursor_open(txn, dbis[i], &c)) != 0)
			break;
		for (rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0 && r == 0;
			rc = mdb_cursor_get(c, &k, &val, MDB_NEXT))
			r = check_row(path, dbis[i], v, &k, &val, d);
		mdb_cursor_close(c);
		if (rc == MDB_NOTFOUND)
			rc = 0;
		if (rc != 0)
			break;
	}
	mdb_txn_abort(txn);
	/* The walk mapped every page of the store: a large store must not stay resident. */
	vault_release_pages(v);
	if (r == 0 && rc != 0)
		r = paso_diag_set(
			d, PASO_E_CORRUPT, "%s/data.mdb: damaged: %s", path, mdb_strerror(rc));
	return r;
}

/* LMDB's answers that mean the file itself is damaged (at open, before any row is read). */
static int
open_damage(int rc, const char *path, struct paso_diag *d)
{
	switch (rc) {
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_MAP_RESIZED:
	case EINVAL:
		return paso_diag_set(d, PASO_E_CORRUPT,
			"%s/data.mdb: damaged: %s (its meta pages or the pages they point to are "
			"corrupt; restore the store from a backup)",
			path, mdb_strerror(rc));
	case ENOMEM:
		/* A damaged meta page asking for an impossible map is the usual cause. */
		return paso_diag_set(d, PASO_E_CORRUPT,
			"%s/data.mdb: damaged: its meta page describes a map that cannot be mapped "
			"(%s); restore the store from a backup, unless memory is really exhausted",
			path, mdb_strerror(rc));
	default:
		return 0;
	}
}

int
vault_open(const char *deploydir, struct keyring *kr, struct vault **out, struct paso_diag *d)
{
	return vault_open_opts(deploydir, kr, NULL, out, d);
}

int
vault_open_opts(const char *deploydir, struct keyring *kr, const struct vault_options *opt,
	struct vault **out, struct paso_diag *d)
{
	struct vault *v = NULL;
	char path[PATH_MAX];
	MDB_envinfo info;
	MDB_stat est;
	int rc, r, dead;

	*out = NULL;
	if (sodium_init() < 0)
		return paso_diag_set(d, PASO_E_INTERNAL, "libsodium failed to initialise");
	if (snprintf(path, sizeof(path), "%s/store", deploydir) >= (int)sizeof(path))
		return paso_diag_set(d, PASO_E_INVALID_ARG, "%s: path too long", deploydir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return PASO_E_NOMEM;
	v->kr = kr;
	v->map_size = opt && opt->map_size ? opt->map_size : VAULT_DEFAULT_MAP_SIZE;
	v->map_max = opt && opt->map_size_max ? opt->map_size_max : v->map_size * 16;
	if (v->map_max < v->map_size)
		v->map_max = v->map_size;
	if ((rc = mdb_env_create(&v->env)) != 0) {
		v->env = NULL;
		r = paso_diag_set(
			d, mdb_to_paso(v, rc), "store: mdb_env_create: %s", mdb_strerror(rc));
		goto out;
	}
	/* Readers: every connection thread may read a record (fingers kept in the store) at once. */
	if ((rc = mdb_env_set_maxdbs(v->env, 16)) != 0 ||
		(rc = mdb_env_set_maxreaders(v->env, 1024)) != 0 ||
		(rc = mdb_env_set_mapsize(v->env, v->map_size)) != 0) {
		r = paso_diag_set(d, mdb_to_paso(v, rc), "store: %s", mdb_strerror(rc));
		goto out;
	}
	/* MDB_NOTLS: read transactions are not tied to the thread that began them. */
	if ((rc = mdb_env_open(v->env, path, MDB_NOTLS, 0600)) != 0) {
		if ((r = open_damage(rc, path, d)) == 0)
			r = paso_diag_set(d, mdb_to_paso(v, rc), "%s: mdb_env_open: %s", path,
				mdb_strerror(rc));
		goto out;
	}
	/* Clear reader slots left by a process that was killed. */
	(void)mdb_reader_check(v->env, &dead);
	if (mdb_env_info(v->env, &info) == 0 && info.me_mapsize > v->map_size)
		v->map_size = info.me_mapsize;
	if (v->map_max < v->map_size)
		v->map_max = v->map_size;
	/* A store filling more than half its map gets room now, while no transaction can be
	 * open: a busy hub has read transactions open almost always, so vault_begin may find
	 * no moment to grow, and every write would fail with MAP_FULL. */
	if (mdb_env_info(v->env, &info) == 0 && mdb_env_stat(v->env, &est) == 0 &&
		((uint64_t)info.me_last_pgno + 1) * est.ms_psize > v->map_size / 2 &&
		v->map_size < v->map_max) {
		size_t nsize = v->map_size > v->map_max / 2 ? v->map_max : v->map_size * 2;

		if (mdb_env_set_mapsize(v->env, nsize) == 0)
			v->map_size = nsize;
	}
	if ((r = open_dbs(v, path, d)) != 0 ||
		((opt == NULL || !opt->no_check) && (r = vault_check(v, path, d)) != 0))
		goto out;
	*out = v;
	v = NULL;
	r = 0;
out:
	vault_close(v);
	return r;
}

void
vault_close(struct vault *v)
{
	if (v == NULL)
		return;
	if (v->env != NULL)
		mdb_env_close(v->env);
	free(v);
}

/*
 * Doubles the map after MDB_MAP_FULL; only legal when this process has no open transaction.
 * At the limit the transaction still begins: deletes can free space, puts fail again.
 */
static int
maybe_grow(struct vault *v)
{
	size_t nsize;
	int rc;

	if (!atomic_load(&v->grow_pending) || atomic_load(&v->ntxn) != 0)
		return 0;
	if (v->map_size < v->map_max) {
		nsize = v->map_size > v->map_max / 2 ? v->map_max : v->map_size * 2;
		if ((rc = mdb_env_set_mapsize(v->env, nsize)) != 0)
			return mdb_to_paso(v, rc);
		v->map_size = nsize;
	}
	atomic_store(&v->grow_pending, 0);
	return 0;
}

int
vault_begin(struct vault *v, int readonly, struct vault_txn **out)
{
	struct vault_txn *t = NULL;
	MDB_envinfo info;
	int rc, r;

	*out = NULL;
	if (!readonly && (r = maybe_grow(v)) != 0)
		return r;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return PASO_E_NOMEM;
	t->v = v;
	t->readonly = readonly != 0;
	rc = mdb_txn_begin(v->env, NULL, readonly ? MDB_RDONLY : 0, &t->txn);
	if (rc == MDB_MAP_RESIZED && atomic_load(&v->ntxn) == 0) {
		/* Another process grew the map: adopt its size. */
		if (mdb_env_set_mapsize(v->env, 0) == 0 && mdb_env_info(v->env, &info) == 0)
			v->map_size = info.me_mapsize;
		rc = mdb_txn_begin(v->env, NULL, readonly ? MDB_RDONLY : 0, &t->txn);
	}
	if (rc != 0) {
		free(t);
		return mdb_to_paso(v, rc);
	}
	atomic_fetch_add(&v->ntxn, 1);
	*out = t;
	return 0;
}

/*
 * LMDB reports a short page write as EIO, which is what a full disk gives it. When the store's
 * file system has (almost) nothing left, call it a full disk: that passes once space returns,
 * where an I/O error does not.
 */
static int
store_disk_full(struct vault *v)
{
	struct statvfs sv;
	mdb_filehandle_t fd;

	if (mdb_env_get_fd(v->env, &fd) != 0 || fstatvfs(fd, &sv) != 0)
		return 0;
	return (uint64_t)sv.f_bavail * sv.f_frsize < VAULT_FULL_BELOW;
}

int
vault_commit(struct vault_txn *t)
{
	struct vault *v = t->v;
	int rc;

	rc = mdb_txn_commit(t->txn);
	atomic_fetch_sub(&v->ntxn, 1);
	free(t);
	if (rc == EIO && store_disk_full(v))
		return PASO_E_STORE_FULL;
	return mdb_to_paso(v, rc);
}

void
vault_abort(struct vault_txn *t)
{
	if (t == NULL)
		return;
	mdb_txn_abort(t->txn);
	atomic_fetch_sub(&t->v->ntxn, 1);
	free(t);
}

static int
seen_key(const char *kiosk, uint64_t seq, uint8_t key[SEENKEY_MAX], size_t *klen)
{
	size_t n;

	if (kiosk == NULL || (n = strnlen(kiosk, VAULT_KIOSK_MAX + 1)) == 0 || n > VAULT_KIOSK_MAX)
		return PASO_E_INVALID_ARG;
	memcpy(key, kiosk, n);
	key[n] = 0;
	be64_put(key + n + 1, seq);
	*klen = n + 9;
	return 0;
}

int
vault_seen_get(struct vault_txn *t, const char *kiosk, uint64_t seq,
	uint8_t digest[VAULT_DIGEST_BYTES], uint8_t **replyp, size_t *replylenp)
{
	uint8_t kb[SEENKEY_MAX], *reply = NULL;
	MDB_val k, val;
	size_t rlen;
	int r;

	*replyp = NULL;
	*replylenp = 0;
	if ((r = seen_key(kiosk, seq, kb, &k.mv_size)) != 0)
		return r;
	k.mv_data = kb;
	if ((r = mdb_to_paso(t->v, mdb_get(t->txn, t->v->seen, &k, &val))) != 0)
		return r;
	if (val.mv_size < VAULT_DIGEST_BYTES)
		return PASO_E_CORRUPT;
	rlen = val.mv_size - VAULT_DIGEST_BYTES;
	if (rlen > 0 && ((const uint8_t *)val.mv_data)[VAULT_DIGEST_BYTES] == 0) {
		/* Sealed under its epoch (vault_seen_put_sealed): AD is the row's key. */
		if (rlen < 1 + KEYRING_SEAL_OVERHEAD)
			return PASO_E_CORRUPT;
		rlen -= 1 + KEYRING_SEAL_OVERHEAD;
		if ((reply = malloc(rlen ? rlen : 1)) == NULL)
			return PASO_E_NOMEM;
		if ((r = keyring_unseal(t->v->kr, kb, k.mv_size,
			     (const uint8_t *)val.mv_data + VAULT_DIGEST_BYTES + 1,
			     rlen + KEYRING_SEAL_OVERHEAD, reply)) != 0) {
			free(reply);
			return r;
		}
	} else if (rlen > 0) {
		if ((reply = malloc(rlen)) == NULL)
			return PASO_E_NOMEM;
		memcpy(reply, (const uint8_t *)val.mv_data + VAULT_DIGEST_BYTES, rlen);
	}
	memcpy(digest, val.mv_data, VAULT_DIGEST_BYTES);
	*replyp = reply;
	*replylenp = rlen;
	return 0;
}

int
vault_seen_put(struct vault_txn *t, const char *kiosk, uint64_t seq,
	const uint8_t digest[VAULT_DIGEST_BYTES], const uint8_t *reply, size_t replylen)
{
	uint8_t kb[SEENKEY_MAX];
	MDB_val k, val;
	int r;

	if ((r = seen_key(kiosk, seq, kb, &k.mv_size)) != 0)
		return r;
	if (replylen > VAULT_RECORD_MAX || (replylen > 0 && reply == NULL))
		return PASO_E_INVALID_ARG;
	k.mv_data = kb;
	val.mv_size = VAULT_DIGEST_BYTES + replylen;
	if ((r = mdb_to_paso(t->v,
		     mdb_put(t->txn, t->v->seen, &k, &val, MDB_NOOVERWRITE | MDB_RESERVE))) != 0)
		return r;
	memcpy(val.mv_data, digest, VAULT_DIGEST_BYTES);
	if (replylen > 0)
		memcpy((uint8_t *)val.mv_data + VAULT_DIGEST_BYTES, reply, replylen);
	return 0;
}

int
vault_seen_put_until(struct vault_txn *t, const char *kiosk, uint64_t seq,
	const uint8_t digest[VAULT_DIGEST_BYTES], const uint8_t *reply, size_t replylen,
	uint32_t day, uint8_t kind)
{
	uint8_t kb[5 + SEENKEY_MAX];
	MDB_val k, val;
	size_t klen;
	int r;

	if ((r = seen_key(kiosk, seq, kb + 5, &klen)) != 0)
		return r;
	if ((r = vault_seen_put(t, kiosk, seq, digest, reply, replylen)) != 0)
		return r;
	be32_put(kb, day);
	kb[4] = kind;
	k.mv_data = kb;
	k.mv_size = 5 + klen;
	val.mv_data = NULL;
	val.mv_size = 0;
	return mdb_to_paso(t->v, mdb_put(t->txn, t->v->seenexp, &k, &val, 0));
}

int
vault_seen_put_sealed(struct vault_txn *t, const char *kiosk, uint64_t seq,
	const uint8_t digest[VAULT_DIGEST_BYTES], const uint8_t *reply, size_t replylen,
	uint32_t epoch, uint64_t order)
{
	uint8_t kb[SEENKEY_MAX], xb[SEENEXP_ORDERED];
	MDB_val k, val;
	size_t klen;
	int r;

	if (t->readonly || !VAULT_EPOCH_IS_KINDED(epoch) || replylen > VAULT_RECORD_MAX ||
		(replylen > 0 && reply == NULL))
		return PASO_E_INVALID_ARG;
	if ((r = seen_key(kiosk, seq, kb, &klen)) != 0)
		return r;
	k.mv_data = kb;
	k.mv_size = klen;
	val.mv_size = VAULT_DIGEST_BYTES + 1 + KEYRING_SEAL_OVERHEAD + replylen;
	if ((r = mdb_to_paso(t->v,
		     mdb_put(t->txn, t->v->seen, &k, &val, MDB_NOOVERWRITE | MDB_RESERVE))) != 0)
		return r;
	memcpy(val.mv_data, digest, VAULT_DIGEST_BYTES);
	((uint8_t *)val.mv_data)[VAULT_DIGEST_BYTES] = 0;
	if ((r = keyring_seal(t->v->kr, epoch, kb, klen, reply, replylen,
		     (uint8_t *)val.mv_data + VAULT_DIGEST_BYTES + 1)) != 0)
		return r;
	/* Indexed by epoch || order, not epoch || seen key: a group's rows of one epoch then
	 * go to one place in seenexp (one leaf) instead of one place per kiosk. */
	be32_put(xb, epoch);
	be64_put(xb + 4, order);
	k.mv_data = xb;
	k.mv_size = sizeof(xb);
	val.mv_data = kb;
	val.mv_size = klen;
	return mdb_to_paso(t->v, mdb_put(t->txn, t->v->seenexp, &k, &val, MDB_NOOVERWRITE));
}

/* Notes one erased row of epoch e in *out. */
static void
erased_add(struct vault_erased *out, uint32_t e)
{
	if (out->rows == 0 || e != out->last)
		out->epochs++;
	if (out->rows == 0 || e < out->first)
		out->first = e;
	out->last = e;
	out->rows++;
}

/*
 * Walks the rows of dbi whose key starts with an epoch in [from, below): cb on each (del != 0:
 * the row is deleted after cb), at most max; sets *morep when rows of the range remain.
 */
static int
range_walk(struct vault_txn *t, MDB_dbi dbi, uint32_t from, uint32_t below, size_t max, int del,
	int (*cb)(void *arg, const MDB_val *k, const MDB_val *v), void *arg, int *morep)
{
	uint8_t probe[4];
	MDB_cursor *c = NULL;
	MDB_val k, val;
	size_t n = 0;
	int rc, r = 0;

	if (morep != NULL)
		*morep = 0;
	if (from >= below)
		return 0;
	be32_put(probe, from);
	k.mv_data = probe;
	k.mv_size = sizeof(probe);
	if ((rc = mdb_cursor_open(t->txn, dbi, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	/* After mdb_cursor_del, MDB_NEXT yields the row that followed the deleted one. */
	for (rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE); rc == 0;) {
		if (k.mv_size < 4) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (be32_get(k.mv_data) >= below)
			break;
		if (n == max) {
			if (morep != NULL)
				*morep = 1;
			break;
		}
		if ((r = cb(arg, &k, &val)) != 0)
			break;
		n++;
		if (del && (rc = mdb_cursor_del(c, 0)) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (r != 0)
		return r;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_to_paso(t->v, rc);
}

struct erase_walk {
	struct vault_txn *t;
	struct vault_erased *out;
	int seen; /* also delete the seen row named by the index row */
};

static int
erase_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct erase_walk *w = arg;
	uint8_t kb[SEENKEY_MAX];
	MDB_val sk;
	int rc;

	erased_add(w->out, be32_get(k->mv_data));
	if (!w->seen)
		return 0;
	/* epoch || order -> seen key, or (earlier hubs) epoch || seen key -> empty */
	sk.mv_size = v->mv_size > 0 ? v->mv_size : k->mv_size - 4;
	if (sk.mv_size > sizeof(kb))
		return PASO_E_CORRUPT;
	memcpy(kb, v->mv_size > 0 ? v->mv_data : (const uint8_t *)k->mv_data + 4, sk.mv_size);
	sk.mv_data = kb;
	rc = mdb_del(w->t->txn, w->t->v->seen, &sk, NULL);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_to_paso(w->t->v, rc);
}

static int
count_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	(void)k;
	(void)v;
	(*(uint64_t *)arg)++;
	return 0;
}

int
vault_seenexp_erase(
	struct vault_txn *t, uint32_t from, uint32_t below, size_t max, struct vault_erased *out)
{
	struct erase_walk w = {t, out, 1};
	int more = 0, r;

	if (t->readonly)
		return PASO_E_INVALID_ARG;
	if (from < VAULT_EPOCH_KINDED)
		from = VAULT_EPOCH_KINDED; /* below: the day || kind rows of vault_seen_expire */
	r = range_walk(t, t->v->seenexp, from, below, max, 1, erase_cb, &w, &more);
	out->more |= more;
	return r;
}

int
vault_seenexp_count(struct vault_txn *t, uint32_t from, uint32_t below, uint64_t *np)
{
	*np = 0;
	if (from < VAULT_EPOCH_KINDED)
		from = VAULT_EPOCH_KINDED;
	return range_walk(t, t->v->seenexp, from, below, SIZE_MAX, 0, count_cb, np, NULL);
}

/* Counts at most max kept rows of one epoch. */
static int
vault_kept_count_upto(struct vault_txn *t, uint32_t epoch, size_t max, uint64_t *np)
{
	*np = 0;
	return range_walk(t, t->v->kept, epoch, epoch + 1, max, 0, count_cb, np, NULL);
}

/* Counts at most max sealed resend rows of one epoch. */
static int
seenexp_count_upto(struct vault_txn *t, uint32_t epoch, size_t max, uint64_t *np)
{
	*np = 0;
	return range_walk(t, t->v->seenexp, epoch, epoch + 1, max, 0, count_cb, np, NULL);
}

int
vault_kept_put(struct vault_txn *t, uint32_t epoch, const uint8_t *rest, size_t restlen,
	const uint8_t *data, size_t len)
{
	uint8_t key[4 + VAULT_KEPT_REST_MAX];
	MDB_val k, val;
	int r;

	if (t->readonly || !VAULT_EPOCH_IS_KINDED(epoch) || restlen == 0 ||
		restlen > VAULT_KEPT_REST_MAX || len > VAULT_RECORD_MAX ||
		(len > 0 && data == NULL))
		return PASO_E_INVALID_ARG;
	be32_put(key, epoch);
	memcpy(key + 4, rest, restlen);
	k.mv_data = key;
	k.mv_size = 4 + restlen;
	val.mv_size = KEYRING_SEAL_OVERHEAD + len;
	if ((r = mdb_to_paso(t->v,
		     mdb_put(t->txn, t->v->kept, &k, &val, MDB_NOOVERWRITE | MDB_RESERVE))) != 0)
		return r;
	return keyring_seal(t->v->kr, epoch, key, 4 + restlen, data, len, val.mv_data);
}

struct kept_walk {
	struct vault_txn *t;
	int (*cb)(void *arg, uint32_t epoch, const uint8_t *rest, size_t restlen,
		const uint8_t *data, size_t len);
	void *arg;
	const uint8_t *prefix; /* rows whose rest starts with it (crossings of one subject) */
	size_t plen;
};

/* Opens the kept row k (sealed value v) into a new buffer (*outp, *lenp; free it with
 * vault_free_record). 0, PASO_E_CORRUPT, PASO_E_NOMEM or keyring_unseal's error. */
static int
kept_unseal(struct vault_txn *t, const MDB_val *k, const MDB_val *v, uint8_t **outp, size_t *lenp)
{
	uint8_t *out;
	size_t len;
	int r;

	*outp = NULL;
	*lenp = 0;
	if (v->mv_size < KEYRING_SEAL_OVERHEAD)
		return PASO_E_CORRUPT;
	len = v->mv_size - KEYRING_SEAL_OVERHEAD;
	if ((out = malloc(len ? len : 1)) == NULL)
		return PASO_E_NOMEM;
	if ((r = keyring_unseal(t->v->kr, k->mv_data, k->mv_size, v->mv_data, v->mv_size, out)) !=
		0) {
		vault_free_record(out, len);
		return r;
	}
	*outp = out;
	*lenp = len;
	return 0;
}

static int
kept_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct kept_walk *w = arg;
	uint8_t *out;
	size_t len;
	int r;

	if ((r = kept_unseal(w->t, k, v, &out, &len)) != 0)
		return r;
	r = w->cb(w->arg, be32_get(k->mv_data), (const uint8_t *)k->mv_data + 4, k->mv_size - 4,
		out, len);
	vault_free_record(out, len);
	return r;
}

int
vault_kept_foreach(struct vault_txn *t, uint32_t from, uint32_t below,
	int (*cb)(void *arg, uint32_t epoch, const uint8_t *rest, size_t restlen,
		const uint8_t *data, size_t len),
	void *arg)
{
	struct kept_walk w = {t, cb, arg, NULL, 0};

	return range_walk(t, t->v->kept, from, below, SIZE_MAX, 0, kept_cb, &w, NULL);
}

int
vault_kept_erase(
	struct vault_txn *t, uint32_t from, uint32_t below, size_t max, struct vault_erased *out)
{
	struct erase_walk w = {t, out, 0};
	int more = 0, r;

	if (t->readonly)
		return PASO_E_INVALID_ARG;
	r = range_walk(t, t->v->kept, from, below, max, 1, erase_cb, &w, &more);
	out->more |= more;
	return r;
}

int
vault_kept_count(struct vault_txn *t, uint32_t from, uint32_t below, uint64_t *np)
{
	*np = 0;
	return range_walk(t, t->v->kept, from, below, SIZE_MAX, 0, count_cb, np, NULL);
}

int
vault_seen_expire(struct vault_txn *t, uint32_t below, size_t max,
	uint64_t counts[VAULT_SEEN_KINDS], uint32_t *firstp, uint32_t *lastp, size_t *np,
	int *morep)
{
	uint8_t skey[SEENKEY_MAX];
	MDB_cursor *c = NULL;
	MDB_val k, val, sk;
	size_t n = 0;
	uint32_t day;
	int rc, r = 0;

	*np = 0;
	*morep = 0;
	if ((rc = mdb_cursor_open(t->txn, t->v->seenexp, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	/* Every pass deletes its row or stops: after mdb_cursor_del, MDB_NEXT yields the row that
	 * followed the deleted one (as in ev_erase). */
	for (rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0;
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if (k.mv_size < 4) {
			r = PASO_E_CORRUPT;
			goto out;
		}
		/* The day first: the epoch rows after the day rows have other shapes. */
		if ((day = be32_get(k.mv_data)) >= below)
			break;
		if (k.mv_size < 5 + 10 || k.mv_size > 5 + SEENKEY_MAX) {
			r = PASO_E_CORRUPT;
			goto out;
		}
		if (n == max) {
			*morep = 1;
			break;
		}
		if (n == 0)
			*firstp = day;
		*lastp = day;
		counts[((const uint8_t *)k.mv_data)[4] % VAULT_SEEN_KINDS]++;
		memcpy(skey, (const uint8_t *)k.mv_data + 5, k.mv_size - 5);
		sk.mv_data = skey;
		sk.mv_size = k.mv_size - 5;
		rc = mdb_del(t->txn, t->v->seen, &sk, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		r = mdb_to_paso(t->v, rc);
	*np = n;
out:
	mdb_cursor_close(c);
	return r;
}

int
vault_seen_due(struct vault_txn *t, uint32_t below, uint64_t counts[VAULT_SEEN_KINDS])
{
	MDB_cursor *c = NULL;
	MDB_val k, val;
	int rc;

	if ((rc = mdb_cursor_open(t->txn, t->v->seenexp, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	for (rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0;
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if (k.mv_size < 5 || be32_get(k.mv_data) >= below)
			break;
		counts[((const uint8_t *)k.mv_data)[4] % VAULT_SEEN_KINDS]++;
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_to_paso(t->v, rc);
}

int
vault_seen_last(struct vault_txn *t, const char *kiosk, uint64_t *seqp)
{
	uint8_t kb[SEENKEY_MAX];
	MDB_cursor *c = NULL;
	MDB_val k, val;
	size_t klen, n;
	int rc, r;

	if ((r = seen_key(kiosk, 0, kb, &klen)) != 0)
		return r;
	n = klen - 9;
	/* kiosk || 0x01 sorts after every kiosk || 0x00 || seq: step back from there. */
	kb[n] = 1;
	k.mv_data = kb;
	k.mv_size = n + 1;
	if ((rc = mdb_cursor_open(t->txn, t->v->seen, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &val, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &val, MDB_LAST);
	if (rc != 0) {
		r = mdb_to_paso(t->v, rc);
		goto out;
	}
	kb[n] = 0;
	if (k.mv_size != n + 9 || memcmp(k.mv_data, kb, n + 1) != 0) {
		r = PASO_E_NOT_FOUND;
		goto out;
	}
	*seqp = be64_get((const uint8_t *)k.mv_data + n + 1);
	r = 0;
out:
	mdb_cursor_close(c);
	return r;
}

_Static_assert(VAULT_CARD_INDEX_BYTES == KEYRING_HASH_BYTES, "card index size");

static int
card_hash(struct vault *v, const char *card, uint8_t out[KEYRING_HASH_BYTES])
{
	size_t n;

	if (card == NULL || (n = strnlen(card, VAULT_CARD_MAX + 1)) == 0 || n > VAULT_CARD_MAX)
		return PASO_E_INVALID_ARG;
	return keyring_card_index(v->kr, card, n, out);
}

int
vault_card_lookup(struct vault_txn *t, const char *card, uint8_t subject_id[VAULT_ID_BYTES])
{
	uint8_t h[KEYRING_HASH_BYTES];
	int r;

	if ((r = card_hash(t->v, card, h)) != 0)
		return r;
	return vault_card_lookup_index(t, h, subject_id);
}

int
vault_card_index(struct vault *v, const char *card, uint8_t index[VAULT_CARD_INDEX_BYTES])
{
	return card_hash(v, card, index);
}

int
vault_card_lookup_index(struct vault_txn *t, const uint8_t index[VAULT_CARD_INDEX_BYTES],
	uint8_t subject_id[VAULT_ID_BYTES])
{
	MDB_val k, val;
	int r;

	k.mv_data = (void *)index;
	k.mv_size = VAULT_CARD_INDEX_BYTES;
	if ((r = mdb_to_paso(t->v, mdb_get(t->txn, t->v->cards, &k, &val))) != 0)
		return r;
	if (val.mv_size != VAULT_ID_BYTES)
		return PASO_E_CORRUPT;
	memcpy(subject_id, val.mv_data, VAULT_ID_BYTES);
	return 0;
}

/*
 * Every sealed row (a record or an event): version(1) || epoch BE(4) || nonce(24) || ciphertext
 * and tag, under the subject's data key, AD = label(9) || the row's key || the 5 header bytes,
 * so a row moved under another key, or its epoch edited, fails to open.
 */
#define ROW_LABEL 9
#define ROW_AD_MAX (ROW_LABEL + VAULT_ID_BYTES + 8 + 5)

static size_t
row_ad(uint8_t ad[ROW_AD_MAX], const char label[ROW_LABEL], const uint8_t *rowkey, size_t klen,
	const uint8_t hdr[5])
{
	memcpy(ad, label, ROW_LABEL);
	memcpy(ad + ROW_LABEL, rowkey, klen);
	memcpy(ad + ROW_LABEL + klen, hdr, 5);
	return ROW_LABEL + klen + 5;
}

/* Seals in into out (REC_HDR + len + REC_TAG bytes): header, fresh nonce, ciphertext. */
static void
row_seal(struct keyring *kr, const uint8_t dk[KEYRING_DK_BYTES], const char label[ROW_LABEL],
	const uint8_t *rowkey, size_t klen, uint32_t epoch, const uint8_t *in, size_t len,
	uint8_t *out)
{
	uint8_t ad[ROW_AD_MAX];
	size_t adlen;

	out[0] = REC_VERSION;
	be32_put(out + 1, epoch);
	keyring_nonce(kr, out + 5, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	adlen = row_ad(ad, label, rowkey, klen, out);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		out + REC_HDR, NULL, in, len, ad, adlen, NULL, out + 5, dk);
}

/* Opens a sealed row into a new buffer (caller frees with vault_free_record). */
static int
row_open(const uint8_t dk[KEYRING_DK_BYTES], const char label[ROW_LABEL], const uint8_t *rowkey,
	size_t klen, const MDB_val *sealed, uint8_t **outp, size_t *lenp)
{
	const uint8_t *s = sealed->mv_data;
	uint8_t ad[ROW_AD_MAX], *out;
	size_t len, adlen;

	*outp = NULL;
	*lenp = 0;
	if (sealed->mv_size < REC_HDR + REC_TAG || s[0] != REC_VERSION)
		return PASO_E_CORRUPT;
	len = sealed->mv_size - REC_HDR - REC_TAG;
	/* malloc(0) may return NULL; always ask for at least one byte. */
	if ((out = malloc(len ? len : 1)) == NULL)
		return PASO_E_NOMEM;
	adlen = row_ad(ad, label, rowkey, klen, s);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    out, NULL, NULL, s + REC_HDR, len + REC_TAG, ad, adlen, s + 5, dk) != 0) {
		vault_free_record(out, len);
		return PASO_E_CRYPTO;
	}
	*outp = out;
	*lenp = len;
	return 0;
}

/* Puts a sealed record straight into the map (MDB_RESERVE saves one copy of the bytes). */
static int
rec_put(struct vault_txn *t, const uint8_t dk[KEYRING_DK_BYTES], const uint8_t id[VAULT_ID_BYTES],
	uint32_t epoch, const uint8_t *rec, size_t len, unsigned flags)
{
	MDB_val k, val;
	int r;

	k.mv_data = (void *)id;
	k.mv_size = VAULT_ID_BYTES;
	val.mv_size = REC_HDR + len + REC_TAG;
	if ((r = mdb_to_paso(
		     t->v, mdb_put(t->txn, t->v->subjects, &k, &val, flags | MDB_RESERVE))) != 0)
		return r;
	row_seal(t->v->kr, dk, "paso-rec1", id, VAULT_ID_BYTES, epoch, rec, len, val.mv_data);
	return 0;
}

/* Fetches and unwraps a subject's data key; *cardp (if not NULL) gets its card index key. */
static int
dk_get(struct vault_txn *t, const uint8_t id[VAULT_ID_BYTES], uint8_t dk[KEYRING_DK_BYTES],
	uint8_t *cardp)
{
	MDB_val k, val;
	int r;

	k.mv_data = (void *)id;
	k.mv_size = VAULT_ID_BYTES;
	r = mdb_to_paso(t->v, mdb_get(t->txn, t->v->dks, &k, &val));
	if (r == PASO_E_NOT_FOUND)
		return PASO_E_CORRUPT; /* a record without its key row */
	if (r != 0)
		return r;
	if (val.mv_size != DKROW_BYTES)
		return PASO_E_CORRUPT;
	if (cardp != NULL)
		memcpy(cardp, (const uint8_t *)val.mv_data + KEYRING_WRAPPED_BYTES,
			KEYRING_HASH_BYTES);
	return keyring_unwrap(t->v->kr, id, val.mv_data, dk);
}

static int
dk_put(struct vault_txn *t, const uint8_t id[VAULT_ID_BYTES], uint32_t epoch,
	const uint8_t dk[KEYRING_DK_BYTES], const uint8_t card[KEYRING_HASH_BYTES])
{
	uint8_t row[DKROW_BYTES];
	MDB_val k, val;
	int r;

	if ((r = keyring_wrap(t->v->kr, epoch, id, dk, row)) != 0)
		return r;
	memcpy(row + KEYRING_WRAPPED_BYTES, card, KEYRING_HASH_BYTES);
	k.mv_data = (void *)id;
	k.mv_size = VAULT_ID_BYTES;
	val.mv_data = row;
	val.mv_size = sizeof(row);
	return mdb_to_paso(t->v, mdb_put(t->txn, t->v->dks, &k, &val, 0));
}

static void
epoch_key(uint8_t key[4 + VAULT_ID_BYTES], uint32_t epoch, const uint8_t id[VAULT_ID_BYTES])
{
	be32_put(key, epoch);
	memcpy(key + 4, id, VAULT_ID_BYTES);
}

/*
 * The next subject id. Ids made one after the other share a random run and ascend in it, so a
 * commit group's enrolments land in one leaf of subjects, dks and byepoch (one or two pages
 * written a table) instead of one random leaf each; each ID_RUN_LEN ids a new run is drawn,
 * so over a deployment's life the ids still spread evenly over the id space (the gallery load
 * splits it by first byte). Earlier hubs' ids (16 random bytes) are the same kind of key.
 */
static void
subject_id_next(struct vault *v, uint8_t id[VAULT_ID_BYTES])
{
	if (v->id_seq % ID_RUN_LEN == 0) {
		randombytes_buf(v->id_run, sizeof(v->id_run));
		v->id_seq = 0;
	}
	memcpy(id, v->id_run, ID_RUN_BYTES);
	be32_put(id + ID_RUN_BYTES, v->id_seq++);
	randombytes_buf(id + ID_RUN_BYTES + 4, VAULT_ID_BYTES - ID_RUN_BYTES - 4);
}

int
vault_subject_create(struct vault_txn *t, const char *card, uint32_t epoch, const uint8_t *rec,
	size_t len, uint8_t subject_id[VAULT_ID_BYTES])
{
	uint8_t ch[KEYRING_HASH_BYTES] = {0}, id[VAULT_ID_BYTES], dk[KEYRING_DK_BYTES];
	uint8_t ek[4 + VAULT_ID_BYTES];
	MDB_val k, val;
	int r, tries;

	if (t->readonly || len > VAULT_RECORD_MAX || (len > 0 && rec == NULL))
		return PASO_E_INVALID_ARG;
	if (card != NULL) {
		if ((r = card_hash(t->v, card, ch)) != 0)
			return r;
		k.mv_data = ch;
		k.mv_size = sizeof(ch);
		r = mdb_to_paso(t->v, mdb_get(t->txn, t->v->cards, &k, &val));
		if (r == 0)
			return PASO_E_CARD_ENROLLED;
		if (r != PASO_E_NOT_FOUND)
			return r;
	}
	randombytes_buf(dk, sizeof(dk));
	/* A 96-bit random part collides with negligible probability; NOOVERWRITE makes sure. */
	for (tries = 0; tries < 4; tries++) {
		subject_id_next(t->v, id);
		if ((r = rec_put(t, dk, id, epoch, rec, len, MDB_NOOVERWRITE)) != PASO_E_EXISTS)
			break;
	}
	if (r != 0)
		goto out;
	if ((r = dk_put(t, id, epoch, dk, ch)) != 0)
		goto out;
	if (card != NULL) {
		k.mv_data = ch;
		k.mv_size = sizeof(ch);
		val.mv_data = id;
		val.mv_size = sizeof(id);
		if ((r = mdb_to_paso(
			     t->v, mdb_put(t->txn, t->v->cards, &k, &val, MDB_NOOVERWRITE))) != 0)
			goto out;
	}
	epoch_key(ek, epoch, id);
	k.mv_data = ek;
	k.mv_size = sizeof(ek);
	val.mv_data = NULL;
	val.mv_size = 0;
	if ((r = mdb_to_paso(t->v, mdb_put(t->txn, t->v->byepoch, &k, &val, 0))) != 0)
		goto out;
	memcpy(subject_id, id, sizeof(id));
	r = 0;
out:
	sodium_memzero(dk, sizeof(dk));
	return r;
}

/* Opens a sealed row for id into a malloc'd buffer. */
static int
rec_open(struct vault_txn *t, const uint8_t id[VAULT_ID_BYTES], const MDB_val *sealed,
	uint8_t **recp, size_t *lenp)
{
	uint8_t dk[KEYRING_DK_BYTES];
	const uint8_t *s = sealed->mv_data;
	int r;

	if (sealed->mv_size < REC_HDR + REC_TAG || s[0] != REC_VERSION)
		return PASO_E_CORRUPT;
	/* The data key opened but the record does not: the row itself is damaged (or forged). */
	if ((r = dk_get(t, id, dk, NULL)) == 0 && (r = row_open(dk, "paso-rec1", id, VAULT_ID_BYTES,
							   sealed, recp, lenp)) == PASO_E_CRYPTO)
		r = PASO_E_CORRUPT;
	sodium_memzero(dk, sizeof(dk));
	return r;
}

static int
rec_get(struct vault_txn *t, const uint8_t id[VAULT_ID_BYTES], MDB_val *val)
{
	MDB_val k;

	k.mv_data = (void *)id;
	k.mv_size = VAULT_ID_BYTES;
	return mdb_to_paso(t->v, mdb_get(t->txn, t->v->subjects, &k, val));
}

int
vault_subject_get(
	struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint8_t **recp, size_t *lenp)
{
	MDB_val val;
	int r;

	*recp = NULL;
	*lenp = 0;
	if ((r = rec_get(t, subject_id, &val)) != 0)
		return r;
	return rec_open(t, subject_id, &val, recp, lenp);
}

int
vault_subject_epoch(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint32_t *epochp)
{
	MDB_val val;
	int r;

	if ((r = rec_get(t, subject_id, &val)) != 0)
		return r;
	if (val.mv_size < REC_HDR + REC_TAG || ((const uint8_t *)val.mv_data)[0] != REC_VERSION)
		return PASO_E_CORRUPT;
	*epochp = be32_get((const uint8_t *)val.mv_data + 1);
	return 0;
}

int
vault_subject_update(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES],
	const uint8_t *rec, size_t len)
{
	uint8_t dk[KEYRING_DK_BYTES], id[VAULT_ID_BYTES];
	uint32_t epoch;
	int r;

	if (t->readonly || len > VAULT_RECORD_MAX || (len > 0 && rec == NULL))
		return PASO_E_INVALID_ARG;
	/* Copy the id: the caller's buffer might point into the map, which the put may move. */
	memcpy(id, subject_id, sizeof(id));
	if ((r = vault_subject_epoch(t, id, &epoch)) != 0)
		return r;
	if ((r = dk_get(t, id, dk, NULL)) != 0)
		goto out;
	r = rec_put(t, dk, id, epoch, rec, len, 0);
out:
	sodium_memzero(dk, sizeof(dk));
	return r;
}

int
vault_subject_foreach(struct vault_txn *t,
	int (*cb)(void *arg, const uint8_t id[VAULT_ID_BYTES], const uint8_t *rec, size_t len),
	void *arg)
{
	MDB_cursor *c = NULL;
	MDB_val k, val;
	uint8_t *rec;
	size_t len;
	int rc, r;

	if ((rc = mdb_cursor_open(t->txn, t->v->subjects, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	for (rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0;
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if (k.mv_size != VAULT_ID_BYTES) {
			r = PASO_E_CORRUPT;
			goto out;
		}
		if ((r = rec_open(t, k.mv_data, &val, &rec, &len)) != 0)
			goto out;
		r = cb(arg, k.mv_data, rec, len);
		vault_free_record(rec, len);
		if (r != 0)
			goto out;
	}
	r = rc == MDB_NOTFOUND ? 0 : mdb_to_paso(t->v, rc);
out:
	mdb_cursor_close(c);
	return r;
}

int
vault_subject_foreach_range(struct vault_txn *t, const uint8_t lo[VAULT_ID_BYTES],
	const uint8_t hi[VAULT_ID_BYTES],
	int (*cb)(void *arg, const uint8_t id[VAULT_ID_BYTES], const uint8_t *rec, size_t len),
	void *arg)
{
	MDB_cursor *c = NULL;
	MDB_val k, val;
	uint8_t *rec;
	size_t len;
	int rc, r;

	if ((rc = mdb_cursor_open(t->txn, t->v->subjects, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	k.mv_data = (void *)lo;
	k.mv_size = VAULT_ID_BYTES;
	/* MDB_SET_RANGE: the first key at or after lo (k then points into the map). */
	for (rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE); rc == 0;
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if (k.mv_size != VAULT_ID_BYTES) {
			r = PASO_E_CORRUPT;
			goto out;
		}
		if (hi != NULL && memcmp(k.mv_data, hi, VAULT_ID_BYTES) >= 0)
			break;
		if ((r = rec_open(t, k.mv_data, &val, &rec, &len)) != 0)
			goto out;
		r = cb(arg, k.mv_data, rec, len);
		vault_free_record(rec, len);
		if (r != 0)
			goto out;
	}
	r = rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_to_paso(t->v, rc);
out:
	mdb_cursor_close(c);
	return r;
}

void
vault_release_pages(struct vault *v)
{
	struct stat st;
	unsigned long lo, hi, ino;
	char line[512];
	mdb_filehandle_t fd;
	FILE *f;

	/* LMDB does not say where it mapped the file (me_mapaddr is set only for MDB_FIXEDMAP):
	 * find the mapping of data.mdb's inode. The map is read-only and shared (no
	 * MDB_WRITEMAP), so dropping this process's pages only unmaps them; the next read maps
	 * them again from the page cache or the file. */
	if (mdb_env_get_fd(v->env, &fd) != 0 || fstat(fd, &st) != 0 ||
		(f = fopen("/proc/self/maps", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &lo, &hi, &ino) == 3 &&
			ino == (unsigned long)st.st_ino && hi > lo)
			(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
	fclose(f);
}

/* --- events: small sealed rows under the subject's data key, id || number ------------------ */

#define EVKEY_BYTES (VAULT_ID_BYTES + 8)

/* Opens a cursor on the events and puts it on id's first event (rc MDB_NOTFOUND: none at all). */
static int
ev_first(struct vault_txn *t, const uint8_t id[VAULT_ID_BYTES], MDB_cursor **cp, MDB_val *k,
	MDB_val *val)
{
	uint8_t key[EVKEY_BYTES];
	int rc;

	memcpy(key, id, VAULT_ID_BYTES);
	memset(key + VAULT_ID_BYTES, 0, 8);
	k->mv_data = key;
	k->mv_size = sizeof(key);
	if ((rc = mdb_cursor_open(t->txn, t->v->events, cp)) != 0)
		return rc;
	/* MDB_SET_RANGE returns the map's copy of the key: key[] is not used after this. */
	return mdb_cursor_get(*cp, k, val, MDB_SET_RANGE);
}

/* 1 while the cursor's row is one of id's events. */
static int
ev_of(const MDB_val *k, const uint8_t id[VAULT_ID_BYTES])
{
	return k->mv_size == EVKEY_BYTES && memcmp(k->mv_data, id, VAULT_ID_BYTES) == 0;
}

/* The number the next event of id gets: one past its last, 1 for its first. */
static int
ev_next(struct vault_txn *t, const uint8_t id[VAULT_ID_BYTES], uint64_t *nop)
{
	uint8_t probe[EVKEY_BYTES];
	MDB_cursor *c = NULL;
	MDB_val k, val;
	int rc, r;

	*nop = 1;
	memcpy(probe, id, VAULT_ID_BYTES);
	memset(probe + VAULT_ID_BYTES, 0xff, 8);
	k.mv_data = probe;
	k.mv_size = sizeof(probe);
	if ((rc = mdb_cursor_open(t->txn, t->v->events, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
	rc = rc == 0 ? mdb_cursor_get(c, &k, &val, MDB_PREV)
		     : mdb_cursor_get(c, &k, &val, MDB_LAST);
	r = 0;
	if (rc == 0 && k.mv_size == EVKEY_BYTES && memcmp(k.mv_data, id, VAULT_ID_BYTES) == 0)
		*nop = be64_get((const uint8_t *)k.mv_data + VAULT_ID_BYTES) + 1;
	else if (rc != 0 && rc != MDB_NOTFOUND)
		r = mdb_to_paso(t->v, rc);
	mdb_cursor_close(c);
	return r;
}

int
vault_event_add(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], const uint8_t *ev,
	size_t len, uint64_t *nop)
{
	uint8_t dk[KEYRING_DK_BYTES], key[EVKEY_BYTES];
	MDB_val k, val;
	uint32_t epoch;
	uint64_t no;
	int r;

	if (t->readonly || len > VAULT_RECORD_MAX || (len > 0 && ev == NULL))
		return PASO_E_INVALID_ARG;
	memcpy(key, subject_id, VAULT_ID_BYTES);
	if ((r = vault_subject_epoch(t, key, &epoch)) != 0 || (r = ev_next(t, key, &no)) != 0)
		return r;
	if ((r = dk_get(t, key, dk, NULL)) != 0)
		goto out;
	be64_put(key + VAULT_ID_BYTES, no);
	k.mv_data = key;
	k.mv_size = sizeof(key);
	val.mv_size = REC_HDR + len + REC_TAG;
	if ((r = mdb_to_paso(t->v,
		     mdb_put(t->txn, t->v->events, &k, &val, MDB_NOOVERWRITE | MDB_RESERVE))) != 0)
		goto out;
	row_seal(t->v->kr, dk, "paso-evt1", key, sizeof(key), epoch, ev, len, val.mv_data);
	if (nop != NULL)
		*nop = no;
out:
	sodium_memzero(dk, sizeof(dk));
	return r;
}

/*
 * --- crossings kept under their own epochs: epoch || no BE(8) || ref(16) || 2 ----------------
 * no is the crossing's audit index: a day's rows are appended in one place, so a commit group
 * writes a few pages of them instead of one leaf per subject. Rows of earlier hubs are
 * epoch || ref(16) || no BE(8) (no = 1, 2, ... per subject and day); both are read.
 */

#define XREF_BYTES VAULT_XREF_BYTES
#define XKEY_BYTES (4 + XREF_BYTES + 8)      /* earlier hubs: epoch || ref || no */
#define XKEY2_BYTES (4 + 8 + XREF_BYTES + 1) /* epoch || no || ref || XKEY2_TAG */
#define XKEY2_TAG 2
#define XKIND_FROM VAULT_EPOCH(VAULT_KIND_CROSSING, 0)
#define XKIND_END (VAULT_EPOCH(VAULT_KIND_CROSSING, VAULT_EPOCH_DAY_MASK) + 1)

/*
 * The reference of a subject's crossings: keyed by its data key, so it cannot be recomputed
 * from a card number once the subject's epoch is shredded, and says nothing about its id.
 */
/* A subject's crossing reference from its unwrapped data key. */
static int
xref_from_dk(const uint8_t dk[KEYRING_DK_BYTES], const uint8_t id[VAULT_ID_BYTES],
	uint8_t ref[XREF_BYTES])
{
	uint8_t in[10 + VAULT_ID_BYTES];

	memcpy(in, "paso-xref1", 10);
	memcpy(in + 10, id, VAULT_ID_BYTES);
	return crypto_generichash(ref, XREF_BYTES, in, sizeof(in), dk, KEYRING_DK_BYTES) == 0
		       ? 0
		       : PASO_E_INTERNAL;
}

static int
xref_of(struct vault_txn *t, const uint8_t id[VAULT_ID_BYTES], uint8_t ref[XREF_BYTES])
{
	uint8_t dk[KEYRING_DK_BYTES];
	int r;

	if ((r = dk_get(t, id, dk, NULL)) == 0)
		r = xref_from_dk(dk, id, ref);
	sodium_memzero(dk, sizeof(dk));
	return r;
}

int
vault_crossing_add(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint32_t epoch,
	uint64_t no, const uint8_t *ev, size_t len)
{
	uint8_t ref[XREF_BYTES];
	MDB_val val;
	int r;

	if (t->readonly || !VAULT_EPOCH_IS_KINDED(epoch) ||
		VAULT_EPOCH_KIND(epoch) != VAULT_KIND_CROSSING || no == 0)
		return PASO_E_INVALID_ARG;
	if ((r = xref_of(t, subject_id, ref)) != 0)
		return r == PASO_E_CORRUPT && rec_get(t, subject_id, &val) == PASO_E_NOT_FOUND
			       ? PASO_E_NOT_FOUND
			       : r;
	return vault_crossing_add_ref(t, ref, epoch, no, ev, len);
}

int
vault_subject_refs(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint8_t pseud[32],
	uint8_t xref[VAULT_XREF_BYTES])
{
	uint8_t dk[KEYRING_DK_BYTES];
	int r;

	/* The pseudonym and the crossing reference from one unwrap. */
	if ((r = dk_get(t, subject_id, dk, NULL)) == 0 &&
		(r = keyring_pseudonym(t->v->kr, subject_id, dk, pseud)) == 0)
		r = xref_from_dk(dk, subject_id, xref);
	sodium_memzero(dk, sizeof(dk));
	return r;
}

int
vault_crossing_add_ref(struct vault_txn *t, const uint8_t xref[VAULT_XREF_BYTES], uint32_t epoch,
	uint64_t no, const uint8_t *ev, size_t len)
{
	uint8_t key[XKEY2_BYTES];

	if (t->readonly || !VAULT_EPOCH_IS_KINDED(epoch) ||
		VAULT_EPOCH_KIND(epoch) != VAULT_KIND_CROSSING || no == 0)
		return PASO_E_INVALID_ARG;
	be32_put(key, epoch);
	be64_put(key + 4, no);
	memcpy(key + 12, xref, XREF_BYTES);
	key[XKEY2_BYTES - 1] = XKEY2_TAG;
	return vault_kept_put(t, epoch, key + 4, XKEY2_BYTES - 4, ev, len);
}

/* Opens the kept crossing at the cursor (key k, sealed val) and hands it to cb as number ++*nop. */
static int
crossing_open(struct vault_txn *t, const MDB_val *k, const MDB_val *val,
	int (*cb)(void *arg, uint64_t no, const uint8_t *ev, size_t len), void *arg, uint64_t *nop)
{
	uint8_t *out;
	size_t len;
	int r;

	if ((r = kept_unseal(t, k, val, &out, &len)) != 0)
		return r;
	r = cb(arg, ++*nop, out, len);
	vault_free_record(out, len);
	return r;
}

/*
 * Calls cb for each kept crossing of ref, oldest epoch first, numbering from *nop + 1: in each
 * epoch its rows of earlier hubs (one seek), then its rows numbered by audit index, found by
 * reading every crossing row of the epoch (their keys lead with the number, not the ref).
 */
static int
crossings_of(struct vault_txn *t, const uint8_t ref[XREF_BYTES],
	int (*cb)(void *arg, uint64_t no, const uint8_t *ev, size_t len), void *arg, uint64_t *nop)
{
	uint8_t probe[XKEY_BYTES] = {0};
	MDB_cursor *c = NULL;
	MDB_val k, val;
	uint32_t e = XKIND_FROM;
	int rc, r = 0;

	if ((rc = mdb_cursor_open(t->txn, t->v->kept, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	/* One pass per epoch holding crossings. */
	while (e < XKIND_END) {
		be32_put(probe, e);
		memcpy(probe + 4, ref, XREF_BYTES);
		memset(probe + 4 + XREF_BYTES, 0, 8);
		k.mv_data = probe;
		k.mv_size = sizeof(probe);
		for (rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE); rc == 0;
			rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
			if (k.mv_size < 4 + XREF_BYTES || be32_get(k.mv_data) != e ||
				memcmp((const uint8_t *)k.mv_data + 4, ref, XREF_BYTES) != 0)
				break;
			if (k.mv_size == XKEY_BYTES &&
				(r = crossing_open(t, &k, &val, cb, arg, nop)) != 0)
				goto out;
		}
		if (rc != 0 && rc != MDB_NOTFOUND) {
			r = mdb_to_paso(t->v, rc);
			goto out;
		}
		k.mv_data = probe;
		k.mv_size = 4;
		for (rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE); rc == 0;
			rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
			const uint8_t *kb = k.mv_data;

			if (k.mv_size < 4 || be32_get(kb) != e)
				break;
			if (k.mv_size == XKEY2_BYTES && kb[XKEY2_BYTES - 1] == XKEY2_TAG &&
				memcmp(kb + 12, ref, XREF_BYTES) == 0 &&
				(r = crossing_open(t, &k, &val, cb, arg, nop)) != 0)
				goto out;
		}
		if (rc != 0) {
			if (rc != MDB_NOTFOUND)
				r = mdb_to_paso(t->v, rc);
			goto out;
		}
		if (k.mv_size < 4 || be32_get(k.mv_data) >= XKIND_END)
			break;
		/* The next epoch that holds any row at all. */
		e = be32_get(k.mv_data) > e ? be32_get(k.mv_data) : e + 1;
	}
out:
	mdb_cursor_close(c);
	return r;
}

int
vault_event_foreach(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES],
	int (*cb)(void *arg, uint64_t no, const uint8_t *ev, size_t len), void *arg)
{
	uint8_t dk[KEYRING_DK_BYTES], ref[XREF_BYTES], *ev = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, val;
	uint64_t last = 0;
	size_t len = 0;
	int rc, r, have_dk = 0;

	for (rc = ev_first(t, subject_id, &c, &k, &val); rc == 0 && ev_of(&k, subject_id);
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		/* One unwrap of the data key serves the whole history. */
		if (!have_dk && (r = dk_get(t, subject_id, dk, NULL)) != 0)
			goto out;
		have_dk = 1;
		if ((r = row_open(dk, "paso-evt1", k.mv_data, EVKEY_BYTES, &val, &ev, &len)) != 0)
			goto out;
		last = be64_get((const uint8_t *)k.mv_data + VAULT_ID_BYTES);
		r = cb(arg, last, ev, len);
		vault_free_record(ev, len);
		if (r != 0)
			goto out;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = mdb_to_paso(t->v, rc);
		goto out;
	}
	/* Then the crossings kept under their own epochs. */
	r = xref_of(t, subject_id, ref);
	if (r == PASO_E_CORRUPT && rec_get(t, subject_id, &val) == PASO_E_NOT_FOUND)
		r = 0; /* no such subject: no history */
	else if (r == 0)
		r = crossings_of(t, ref, cb, arg, &last);
out:
	sodium_memzero(dk, sizeof(dk));
	if (c != NULL)
		mdb_cursor_close(c);
	return r;
}

/* Deletes every event row of id (used by erase); adds their number to *np. */
static int
ev_erase(struct vault_txn *t, const uint8_t id[VAULT_ID_BYTES], uint64_t *np)
{
	MDB_cursor *c = NULL;
	MDB_val k, val;
	int rc;

	/* After mdb_cursor_del, MDB_NEXT yields the row that followed the deleted one. */
	for (rc = ev_first(t, id, &c, &k, &val); rc == 0 && ev_of(&k, id);
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		(*np)++;
	}
	if (c != NULL)
		mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_to_paso(t->v, rc);
}

static int
del_row(struct vault_txn *t, MDB_dbi dbi, const void *key, size_t klen)
{
	MDB_val k;

	k.mv_data = (void *)key;
	k.mv_size = klen;
	return mdb_to_paso(t->v, mdb_del(t->txn, dbi, &k, NULL));
}

int
vault_event_count(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint64_t *np)
{
	MDB_cursor *c = NULL;
	MDB_val k, val;
	int rc;

	*np = 0;
	for (rc = ev_first(t, subject_id, &c, &k, &val); rc == 0 && ev_of(&k, subject_id);
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT))
		(*np)++;
	if (c != NULL)
		mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_to_paso(t->v, rc);
}

int
vault_subject_erase(
	struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint64_t *eventsp)
{
	static const uint8_t nocard[KEYRING_HASH_BYTES];
	uint8_t ch[KEYRING_HASH_BYTES], ek[4 + VAULT_ID_BYTES], id[VAULT_ID_BYTES];
	MDB_val k, val;
	uint64_t nev = 0;
	uint32_t epoch;
	int r;

	if (eventsp != NULL)
		*eventsp = 0;
	if (t->readonly)
		return PASO_E_INVALID_ARG;
	/* Copy the id: the caller's buffer might point into the map. */
	memcpy(id, subject_id, sizeof(id));
	if ((r = vault_subject_epoch(t, id, &epoch)) != 0)
		return r;
	k.mv_data = id;
	k.mv_size = sizeof(id);
	if ((r = mdb_to_paso(t->v, mdb_get(t->txn, t->v->dks, &k, &val))) != 0)
		return r == PASO_E_NOT_FOUND ? PASO_E_CORRUPT : r;
	if (val.mv_size != DKROW_BYTES)
		return PASO_E_CORRUPT;
	memcpy(ch, (const uint8_t *)val.mv_data + KEYRING_WRAPPED_BYTES, sizeof(ch));
	if ((r = ev_erase(t, id, &nev)) != 0 ||
		(r = del_row(t, t->v->subjects, id, sizeof(id))) != 0 ||
		(r = del_row(t, t->v->dks, id, sizeof(id))) != 0)
		return r;
	if (eventsp != NULL)
		*eventsp = nev;
	if (sodium_memcmp(ch, nocard, sizeof(ch)) != 0) {
		k.mv_data = ch;
		k.mv_size = sizeof(ch);
		r = mdb_to_paso(t->v, mdb_get(t->txn, t->v->cards, &k, &val));
		/* Only remove the index row if it still points at this subject. */
		if (r == 0 && val.mv_size == VAULT_ID_BYTES &&
			memcmp(val.mv_data, id, sizeof(id)) == 0)
			r = del_row(t, t->v->cards, ch, sizeof(ch));
		else if (r == PASO_E_NOT_FOUND || r == 0)
			r = 0;
		if (r != 0)
			return r;
	}
	epoch_key(ek, epoch, id);
	r = del_row(t, t->v->byepoch, ek, sizeof(ek));
	return r == PASO_E_NOT_FOUND ? 0 : r;
}

/* Collects the ids still indexed under epoch. Caller frees *idsp. */
static int
epoch_members(struct vault_txn *t, uint32_t epoch, uint8_t **idsp, size_t *np)
{
	uint8_t ek[4 + VAULT_ID_BYTES] = {0}, *ids = NULL, *nids;
	MDB_cursor *c = NULL;
	MDB_val k, val;
	size_t n = 0, cap = 0;
	int rc, r;

	*idsp = NULL;
	*np = 0;
	be32_put(ek, epoch);
	k.mv_data = ek;
	k.mv_size = sizeof(ek);
	if ((rc = mdb_cursor_open(t->txn, t->v->byepoch, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	for (rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE); rc == 0;
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if (k.mv_size != sizeof(ek) || be32_get(k.mv_data) != epoch)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nids = reallocarray(ids, cap, VAULT_ID_BYTES)) == NULL) {
				r = PASO_E_NOMEM;
				goto out;
			}
			ids = nids;
		}
		memcpy(ids + n * VAULT_ID_BYTES, (const uint8_t *)k.mv_data + 4, VAULT_ID_BYTES);
		n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = mdb_to_paso(t->v, rc);
		goto out;
	}
	*idsp = ids;
	*np = n;
	ids = NULL;
	r = 0;
out:
	free(ids);
	mdb_cursor_close(c);
	return r;
}

int
vault_epoch_due(
	struct vault_txn *t, uint32_t below, size_t max, uint8_t *ids, uint32_t *epochs, size_t *np)
{
	return vault_epoch_due_range(t, 0, below, max, ids, epochs, np);
}

int
vault_epoch_due_range(struct vault_txn *t, uint32_t from, uint32_t below, size_t max, uint8_t *ids,
	uint32_t *epochs, size_t *np)
{
	uint8_t ek[4 + VAULT_ID_BYTES] = {0};
	MDB_cursor *c = NULL;
	MDB_val k, val;
	size_t n = 0;
	int rc;

	*np = 0;
	if (from >= below)
		return 0;
	be32_put(ek, from);
	k.mv_data = ek;
	k.mv_size = sizeof(ek);
	if ((rc = mdb_cursor_open(t->txn, t->v->byepoch, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	/* Big-endian epochs: the index is in epoch order, the due rows of the range come first. */
	for (rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE); rc == 0 && n < max;
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if (k.mv_size != sizeof(ek)) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (be32_get(k.mv_data) >= below)
			break;
		epochs[n] = be32_get(k.mv_data);
		memcpy(ids + n * VAULT_ID_BYTES, (const uint8_t *)k.mv_data + 4, VAULT_ID_BYTES);
		n++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_to_paso(t->v, rc);
	*np = n;
	return 0;
}

int
vault_epoch_foreach(
	struct vault_txn *t, int (*cb)(void *arg, uint32_t epoch, uint64_t n), void *arg)
{
	MDB_cursor *c = NULL;
	MDB_val k, val;
	uint64_t n = 0;
	uint32_t cur = 0, e;
	int rc, r = 0;

	if ((rc = mdb_cursor_open(t->txn, t->v->byepoch, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	for (rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0;
		rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		if (k.mv_size != 4 + VAULT_ID_BYTES) {
			rc = MDB_CORRUPTED;
			break;
		}
		e = be32_get(k.mv_data);
		if (n > 0 && e != cur) {
			if ((r = cb(arg, cur, n)) != 0)
				goto out;
			n = 0;
		}
		cur = e;
		n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = mdb_to_paso(t->v, rc);
		goto out;
	}
	r = n > 0 ? cb(arg, cur, n) : 0;
out:
	mdb_cursor_close(c);
	return r;
}

int
vault_epoch_held(struct vault_txn *t, uint32_t epoch, int *heldp)
{
	uint8_t ek[4 + VAULT_ID_BYTES] = {0};
	MDB_cursor *c = NULL;
	MDB_val k, val;
	uint64_t n = 0;
	int rc;

	*heldp = 0;
	be32_put(ek, epoch);
	k.mv_data = ek;
	k.mv_size = sizeof(ek);
	if ((rc = mdb_cursor_open(t->txn, t->v->byepoch, &c)) != 0)
		return mdb_to_paso(t->v, rc);
	rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == sizeof(ek) && be32_get(k.mv_data) == epoch)
		*heldp = 1;
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_to_paso(t->v, rc);
	if (*heldp || !VAULT_EPOCH_IS_KINDED(epoch) || epoch == UINT32_MAX)
		return 0;
	/* A kind epoch also holds kept rows and sealed resend rows. */
	if ((rc = vault_kept_count_upto(t, epoch, 1, &n)) != 0 ||
		(n == 0 && (rc = seenexp_count_upto(t, epoch, 1, &n)) != 0))
		return rc;
	*heldp = n > 0;
	return 0;
}

int
vault_shred_epoch(struct vault *v, uint32_t epoch, size_t *survivorsp)
{
	uint8_t dk[KEYRING_DK_BYTES], ch[KEYRING_HASH_BYTES], *ids = NULL;
	struct vault_txn *t = NULL;
	uint32_t keep = KEYRING_SHRED_ALL;
	size_t n = 0, i;
	int r;

	if (survivorsp != NULL)
		*survivorsp = 0;
	if ((r = vault_begin(v, 0, &t)) != 0)
		return r;
	if ((r = epoch_members(t, epoch, &ids, &n)) != 0)
		goto out;
	if (n > 0) {
		/* The fresh KEK is durable before any row naming it can commit. */
		if ((r = keyring_rotate_epoch(v->kr, epoch, &keep)) != 0)
			goto out;
		for (i = 0; i < n; i++) {
			if ((r = dk_get(t, ids + i * VAULT_ID_BYTES, dk, ch)) != 0)
				goto out;
			if ((r = dk_put(t, ids + i * VAULT_ID_BYTES, epoch, dk, ch)) != 0)
				goto out;
		}
		r = vault_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
	}
	/*
		* Destroy the old generations only after the rewrap is durable. With no survivors we still
		* hold the write transaction, so no writer can wrap a new key under the epoch meanwhile.
		*/
	r = keyring_shred_epoch(v->kr, epoch, keep, NULL);
	if (r == 0 && survivorsp != NULL)
		*survivorsp = n;
out:
	sodium_memzero(dk, sizeof(dk));
	vault_abort(t);
	free(ids);
	return r;
}

int
vault_shred_empty(struct vault *v, const uint32_t *epochs, size_t n, size_t *shreddedp)
{
	struct vault_txn *t = NULL;
	uint32_t *empty = NULL;
	uint8_t *ids = NULL;
	size_t i, m = 0, members;
	int r;

	*shreddedp = 0;
	if (n == 0)
		return 0;
	if ((empty = malloc(n * sizeof(*empty))) == NULL)
		return PASO_E_NOMEM;
	if ((r = vault_begin(v, 0, &t)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if ((r = epoch_members(t, epochs[i], &ids, &members)) != 0)
			goto out;
		free(ids);
		ids = NULL;
		if (members == 0)
			empty[m++] = epochs[i];
	}
	if ((r = keyring_shred_epochs(v->kr, empty, m, NULL)) == 0)
		*shreddedp = m;
out:
	vault_abort(t);
	free(empty);
	return r;
}

int
vault_pseudonym(struct vault_txn *t, const uint8_t subject_id[VAULT_ID_BYTES], uint8_t out[32])
{
	uint8_t dk[KEYRING_DK_BYTES];
	int r;

	if ((r = dk_get(t, subject_id, dk, NULL)) == 0)
		r = keyring_pseudonym(t->v->kr, subject_id, dk, out);
	sodium_memzero(dk, sizeof(dk));
	return r;
}

static int
meta_key(const char *key, MDB_val *k)
{
	size_t n;

	if (key == NULL || (n = strnlen(key, 256)) == 0 || n > 255)
		return PASO_E_INVALID_ARG;
	k->mv_data = (void *)key;
	k->mv_size = n;
	return 0;
}

int
vault_meta_get(struct vault_txn *t, const char *key, uint64_t *val)
{
	MDB_val k, v;
	int r;

	if ((r = meta_key(key, &k)) != 0)
		return r;
	if ((r = mdb_to_paso(t->v, mdb_get(t->txn, t->v->meta, &k, &v))) != 0)
		return r;
	if (v.mv_size != 8)
		return PASO_E_CORRUPT;
	*val = be64_get(v.mv_data);
	return 0;
}

int
vault_meta_put(struct vault_txn *t, const char *key, uint64_t val)
{
	uint8_t b[8];
	MDB_val k, v;
	int r;

	if ((r = meta_key(key, &k)) != 0)
		return r;
	be64_put(b, val);
	v.mv_data = b;
	v.mv_size = sizeof(b);
	return mdb_to_paso(t->v, mdb_put(t->txn, t->v->meta, &k, &v, 0));
}

int
vault_stats(struct vault_txn *t, struct vault_stats *out)
{
	MDB_stat st;
	MDB_envinfo info;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mdb_stat(t->txn, t->v->subjects, &st)) != 0)
		return mdb_to_paso(t->v, rc);
	out->subjects = st.ms_entries;
	if ((rc = mdb_stat(t->txn, t->v->cards, &st)) != 0)
		return mdb_to_paso(t->v, rc);
	out->cards = st.ms_entries;
	if ((rc = mdb_stat(t->txn, t->v->seen, &st)) != 0)
		return mdb_to_paso(t->v, rc);
	out->seen = st.ms_entries;
	if ((rc = mdb_stat(t->txn, t->v->events, &st)) != 0)
		return mdb_to_paso(t->v, rc);
	out->events = st.ms_entries;
	if ((rc = mdb_stat(t->txn, t->v->kept, &st)) != 0)
		return mdb_to_paso(t->v, rc);
	out->kept = st.ms_entries;
	if ((rc = mdb_env_info(t->v->env, &info)) != 0 || (rc = mdb_env_stat(t->v->env, &st)) != 0)
		return mdb_to_paso(t->v, rc);
	out->map_size = info.me_mapsize;
	out->map_used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	return 0;
}

void
vault_free_record(uint8_t *rec, size_t len)
{
	if (rec == NULL)
		return;
	sodium_memzero(rec, len);
	free(rec);
}

/* --- the share outbox ----------------------------------------------------------------------- */

int
vault_outbox_put(struct vault_txn *t, const void *key, size_t klen, const void *val, size_t vlen)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};

	if (klen == 0 || klen > VAULT_OUTBOX_KEY_MAX)
		return PASO_E_INVALID_ARG;
	return mdb_to_paso(t->v, mdb_put(t->txn, t->v->outbox, &k, &v, 0));
}

int
vault_outbox_del(struct vault_txn *t, const void *key, size_t klen)
{
	if (klen == 0 || klen > VAULT_OUTBOX_KEY_MAX)
		return PASO_E_INVALID_ARG;
	return del_row(t, t->v->outbox, key, klen);
}

int
vault_outbox_scan(struct vault_txn *t, const void *prefix, size_t plen, size_t max,
	int (*cb)(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen),
	void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k = {plen, (void *)prefix}, v;
	size_t n = 0;
	int rc, r = 0;

	if ((rc = mdb_cursor_open(t->txn, t->v->outbox, &cur)) != 0)
		return mdb_to_paso(t->v, rc);
	/* An empty prefix is every row (LMDB refuses an empty key to position at). */
	rc = mdb_cursor_get(cur, &k, &v, plen == 0 ? MDB_FIRST : MDB_SET_RANGE);
	while (rc == 0 && n < max && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
		if ((r = cb(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size)) != 0)
			break;
		n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = mdb_to_paso(t->v, rc);
	mdb_cursor_close(cur);
	return r;
}
