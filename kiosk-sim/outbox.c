/* SPDX-License-Identifier: Apache-2.0 */
/* Sealed LMDB outbox: a capture is durable here before it is sent and leaves only when answered. */
#include "be.h"
#include "outbox.h"

#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#define OUTBOX_MAP_SIZE ((size_t)1 << 30)
#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

struct outbox {
	MDB_env *env;
	MDB_dbi queue, meta, when; /* when: seq -> capture time (kiosk clock), for the purge */
	uint8_t *key;              /* sodium_malloc'd */
	char *dir;
};

#define META_PURGE_LAST "purge.last"
#define META_PURGE_KEEP "purge.keep"

static int finish_rotation(struct outbox *ob, struct paso_diag *d);

struct outbox_txn {
	struct outbox *ob;
	MDB_txn *txn;
};

static int
lmdb_err(int rc)
{
	if (rc == MDB_NOTFOUND)
		return PASO_E_NOT_FOUND;
	if (rc == MDB_MAP_FULL)
		return PASO_E_MAP_FULL;
	if (rc == MDB_KEYEXIST)
		return PASO_E_EXISTS;
	return PASO_E_STORAGE;
}

/* Reads the outbox key, creating it (0600, exclusively) on first use. */
static int
load_key(const char *dir, uint8_t *key, struct paso_diag *d)
{
	char path[4200];
	ssize_t n;
	int fd;

	(void)snprintf(path, sizeof(path), "%s/outbox.key", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		crypto_aead_xchacha20poly1305_ietf_keygen(key);
		return durable_write(path, key, 32, 0600, DURABLE_NEW, d);
	}
	if (fd < 0)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	n = read(fd, key, 32);
	close(fd);
	if (n != 32)
		return paso_diag_set(d, PASO_E_IO, "%s: not a 32-byte key", path);
	return 0;
}

int
outbox_open(const char *dir, struct outbox **out, struct paso_diag *d)
{
	struct outbox *ob = NULL;
	MDB_txn *txn = NULL;
	int rc, r;

	*out = NULL;
	if (sodium_init() < 0)
		return paso_diag_set(d, PASO_E_INTERNAL, "libsodium failed to initialise");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", dir, strerror(errno));
	if ((ob = calloc(1, sizeof(*ob))) == NULL || (ob->key = sodium_malloc(32)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	if ((ob->dir = strdup(dir)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	if ((r = load_key(dir, ob->key, d)) != 0)
		goto out;
	if ((rc = mdb_env_create(&ob->env)) != 0 || (rc = mdb_env_set_maxdbs(ob->env, 4)) != 0 ||
		(rc = mdb_env_set_mapsize(ob->env, OUTBOX_MAP_SIZE)) != 0 ||
		(rc = mdb_env_open(ob->env, dir, MDB_NOTLS, 0600)) != 0) {
		r = paso_diag_set(d, PASO_E_STORAGE, "%s: %s", dir, mdb_strerror(rc));
		goto out;
	}
	if ((rc = mdb_txn_begin(ob->env, NULL, 0, &txn)) != 0 ||
		(rc = mdb_dbi_open(txn, "queue", MDB_CREATE, &ob->queue)) != 0 ||
		(rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &ob->meta)) != 0 ||
		(rc = mdb_dbi_open(txn, "when", MDB_CREATE, &ob->when)) != 0 ||
		(rc = mdb_txn_commit(txn)) != 0) {
		if (txn != NULL)
			mdb_txn_abort(txn);
		r = paso_diag_set(d, PASO_E_STORAGE, "%s: %s", dir, mdb_strerror(rc));
		goto out;
	}
	if ((r = finish_rotation(ob, d)) != 0)
		goto out;
	*out = ob;
	ob = NULL;
	r = 0;
out:
	outbox_close(ob);
	return r;
}

void
outbox_close(struct outbox *ob)
{
	if (ob == NULL)
		return;
	if (ob->env != NULL)
		mdb_env_close(ob->env);
	sodium_free(ob->key);
	free(ob->dir);
	free(ob);
}

int
outbox_begin(struct outbox *ob, struct outbox_txn **out)
{
	struct outbox_txn *t;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return PASO_E_NOMEM;
	t->ob = ob;
	if ((rc = mdb_txn_begin(ob->env, NULL, 0, &t->txn)) != 0) {
		free(t);
		return lmdb_err(rc);
	}
	*out = t;
	return 0;
}

int
outbox_next_seq(struct outbox_txn *t, uint64_t *seqp)
{
	MDB_val k = {9, "next_seq"}, v;
	uint8_t buf[8];
	uint64_t next = 1;
	int rc;

	rc = mdb_get(t->txn, t->ob->meta, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		next = be64_get(v.mv_data);
	else if (rc != MDB_NOTFOUND)
		return PASO_E_STORAGE;
	*seqp = next;
	be64_put(buf, next + 1);
	v.mv_size = 8;
	v.mv_data = buf;
	return (rc = mdb_put(t->txn, t->ob->meta, &k, &v, 0)) == 0 ? 0 : lmdb_err(rc);
}

/* Seals data into the reserved value p (NONCE + len + TAG bytes) under key, seq as the AD. */
static void
seal(const uint8_t *key, const uint8_t kb[8], const uint8_t *data, size_t len, uint8_t *p)
{
	randombytes_buf(p, NONCE);
	crypto_aead_xchacha20poly1305_ietf_encrypt(p + NONCE, NULL, data, len, kb, 8, NULL, p, key);
}

int
outbox_put_at(struct outbox_txn *t, uint64_t seq, const uint8_t *data, size_t len, uint64_t when)
{
	uint8_t kb[8], wb[8];
	MDB_val k = {8, kb}, v, w = {8, wb};
	int rc;

	be64_put(kb, seq);
	be64_put(wb, when);
	v.mv_size = NONCE + len + TAG;
	/* MDB_RESERVE: seal straight into the page, no plaintext copy on the heap. */
	if ((rc = mdb_put(t->txn, t->ob->queue, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE)) != 0)
		return lmdb_err(rc);
	seal(t->ob->key, kb, data, len, v.mv_data);
	if ((rc = mdb_put(t->txn, t->ob->when, &k, &w, 0)) != 0)
		return lmdb_err(rc);
	return 0;
}

int
outbox_put(struct outbox_txn *t, uint64_t seq, const uint8_t *data, size_t len)
{
	return outbox_put_at(t, seq, data, len, 0);
}

int
outbox_commit(struct outbox_txn *t)
{
	int rc = mdb_txn_commit(t->txn);

	free(t);
	return rc == 0 ? 0 : lmdb_err(rc);
}

void
outbox_abort(struct outbox_txn *t)
{
	if (t == NULL)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}

void
outbox_items_free(struct outbox_item *items, size_t n)
{
	size_t i;

	if (items == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (items[i].data != NULL)
			sodium_memzero(items[i].data, items[i].len);
		free(items[i].data);
	}
	free(items);
}

/*
 * Opens one queued row (key k, value v, as LMDB holds them) into it: the key is the 8-byte
 * sequence number and the AD, the value nonce || ciphertext || tag. Pure, so the fuzzer drives
 * it. 0, PASO_E_CORRUPT (wrong shape), PASO_E_CRYPTO (does not open), PASO_E_NOMEM.
 */
static int
item_open(const uint8_t *key, const MDB_val *k, const MDB_val *v, struct outbox_item *it)
{
	it->data = NULL;
	it->len = 0;
	if (k->mv_size != 8 || v->mv_size < NONCE + TAG)
		return PASO_E_CORRUPT;
	it->seq = be64_get(k->mv_data);
	it->len = v->mv_size - NONCE - TAG;
	if ((it->data = malloc(it->len ? it->len : 1)) == NULL)
		return PASO_E_NOMEM;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(it->data, NULL, NULL,
		    (const uint8_t *)v->mv_data + NONCE, v->mv_size - NONCE, k->mv_data, 8,
		    v->mv_data, key) != 0) {
		free(it->data);
		it->data = NULL;
		return PASO_E_CRYPTO;
	}
	return 0;
}

int
outbox_peek(struct outbox *ob, size_t max, struct outbox_item **itemsp, size_t *np)
{
	struct outbox_item *items = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_cursor_op op = MDB_FIRST;
	size_t n = 0;
	int rc, r = 0;

	*itemsp = NULL;
	*np = 0;
	if ((items = calloc(max ? max : 1, sizeof(*items))) == NULL)
		return PASO_E_NOMEM;
	if ((rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn)) != 0 ||
		(rc = mdb_cursor_open(txn, ob->queue, &cur)) != 0) {
		r = lmdb_err(rc);
		goto out;
	}
	while (n < max && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		MDB_val w;

		op = MDB_NEXT;
		if ((r = item_open(ob->key, &k, &v, &items[n])) != 0)
			goto out;
		if (mdb_get(txn, ob->when, &k, &w) == 0 && w.mv_size == 8)
			items[n].when = be64_get(w.mv_data);
		n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		r = lmdb_err(rc);
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (r != 0) {
		outbox_items_free(items, n);
		return r;
	}
	*itemsp = items;
	*np = n;
	return 0;
}

int
outbox_remove(struct outbox *ob, const uint64_t *seqs, size_t n)
{
	MDB_txn *txn;
	uint8_t kb[8];
	MDB_val k = {8, kb};
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = mdb_txn_begin(ob->env, NULL, 0, &txn)) != 0)
		return lmdb_err(rc);
	for (i = 0; i < n; i++) {
		be64_put(kb, seqs[i]);
		rc = mdb_del(txn, ob->queue, &k, NULL);
		if (rc == 0 || rc == MDB_NOTFOUND)
			rc = mdb_del(txn, ob->when, &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND) {
			mdb_txn_abort(txn);
			return lmdb_err(rc);
		}
	}
	return (rc = mdb_txn_commit(txn)) == 0 ? 0 : lmdb_err(rc);
}

int
outbox_renumber(struct outbox *ob, uint64_t after,
	int (*rewrite)(void *arg, uint64_t old_seq, uint64_t new_seq, const uint8_t *in, size_t len,
		uint8_t **outp, size_t *outlenp),
	void *arg, size_t *np)
{
	struct outbox_item *items = NULL;
	struct outbox_txn *t = NULL;
	uint8_t kb[8], *out = NULL;
	MDB_val k = {8, kb};
	uint64_t seq, last, count;
	size_t n = 0, i, outlen = 0;
	int r;

	*np = 0;
	/* Everything waiting, oldest first. An entry a producer adds meanwhile keeps its number;
	 * if that collides too, the next SEQ_CONFLICT renumbers it. */
	if ((r = outbox_count(ob, &count)) != 0 ||
		(r = outbox_peek(ob, (size_t)count, &items, &n)) != 0)
		return r;
	if ((r = outbox_begin(ob, &t)) != 0)
		goto out;
	if ((r = outbox_next_seq(t, &seq)) != 0)
		goto out;
	last = seq > after + 1 ? seq : after + 1;
	for (i = 0; i < n; i++) {
		be64_put(kb, items[i].seq);
		if ((r = mdb_del(t->txn, ob->queue, &k, NULL)) != 0 && r != MDB_NOTFOUND) {
			r = lmdb_err(r);
			goto out;
		}
		if ((r = mdb_del(t->txn, ob->when, &k, NULL)) != 0 && r != MDB_NOTFOUND) {
			r = lmdb_err(r);
			goto out;
		}
		if ((r = rewrite(arg, items[i].seq, last + i, items[i].data, items[i].len, &out,
			     &outlen)) != 0 ||
			(r = outbox_put_at(t, last + i, out, outlen, items[i].when)) != 0)
			goto out;
		sodium_memzero(out, outlen);
		free(out);
		out = NULL;
	}
	/* The next capture is numbered after the renumbered ones. */
	{
		MDB_val mk = {9, "next_seq"}, mv;
		uint8_t buf[8];

		be64_put(buf, last + n);
		mv.mv_size = 8;
		mv.mv_data = buf;
		if ((r = mdb_put(t->txn, ob->meta, &mk, &mv, 0)) != 0) {
			r = lmdb_err(r);
			goto out;
		}
	}
	r = outbox_commit(t);
	t = NULL;
	if (r == 0)
		*np = n;
out:
	if (out != NULL) {
		sodium_memzero(out, outlen);
		free(out);
	}
	outbox_abort(t);
	outbox_items_free(items, n);
	return r;
}

int
outbox_count(struct outbox *ob, uint64_t *np)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	*np = 0;
	if ((rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn)) != 0)
		return lmdb_err(rc);
	rc = mdb_stat(txn, ob->queue, &st);
	mdb_txn_abort(txn);
	if (rc != 0)
		return lmdb_err(rc);
	*np = st.ms_entries;
	return 0;
}

/* ---- purge: captures past the kiosk's limit are erased by rotating the outbox key ---- */

static int
read_key_file(const char *path, uint8_t *key)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO;
	n = read(fd, key, 32);
	close(fd);
	return n == 32 ? 0 : PASO_E_CORRUPT;
}

/*
 * Overwrites the key file in place and syncs it: on a file system that rewrites blocks in place
 * (ext4, xfs, tmpfs) the old key's bytes are gone, where a rename would only free their block.
 */
static int
overwrite_key(const char *path, const uint8_t *key)
{
	int fd, r = 0;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return paso_errno_io(errno);
	if (pwrite(fd, key, 32, 0) != 32 || fsync(fd) != 0)
		r = paso_errno_io(errno);
	if (close(fd) != 0 && r == 0)
		r = PASO_E_IO;
	return r;
}

static void
sync_dir(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* 1 if the first queued row opens under key, 0 if not, -1 if the queue is empty. */
static int
first_row_opens(struct outbox *ob, const uint8_t *key)
{
	struct outbox_item it = {0, NULL, 0, 0};
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, res = 0;

	if (mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	if (mdb_cursor_open(txn, ob->queue, &cur) == 0) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == MDB_NOTFOUND)
			res = -1;
		else if (rc == 0 && item_open(key, &k, &v, &it) == 0)
			res = 1;
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	if (it.data != NULL) {
		sodium_memzero(it.data, it.len);
		free(it.data);
	}
	return res;
}

/*
 * A purge writes the new key to outbox.key.next, commits the queue re-sealed under it,
 * then overwrites outbox.key with it and removes outbox.key.next. At open, an interrupted one is
 * finished (the queue is under the new key, or empty) or undone (still under the old key).
 */
static int
finish_rotation(struct outbox *ob, struct paso_diag *d)
{
	char cur[4200], next[4200];
	uint8_t *nk = NULL;
	int r, old;

	(void)snprintf(cur, sizeof(cur), "%s/outbox.key", ob->dir);
	(void)snprintf(next, sizeof(next), "%s/outbox.key.next", ob->dir);
	if ((nk = sodium_malloc(32)) == NULL)
		return PASO_E_NOMEM;
	if ((r = read_key_file(next, nk)) == PASO_E_NOT_FOUND) {
		r = 0;
		goto out;
	}
	if (r != 0) {
		r = paso_diag_set(d, r, "%s: unreadable (%s)", next, paso_strerror(r));
		goto out;
	}
	if ((old = first_row_opens(ob, ob->key)) == 1) {
		/* The re-sealed queue never committed: the old key stays, the purge runs again. */
		if (unlink(next) != 0) {
			r = paso_diag_set(d, PASO_E_IO, "%s: %s", next, strerror(errno));
			goto out;
		}
	} else {
		if (old == 0 && first_row_opens(ob, nk) != 1) {
			r = paso_diag_set(d, PASO_E_CRYPTO,
				"%s: the queue opens under neither outbox.key nor outbox.key.next",
				ob->dir);
			goto out;
		}
		if ((r = overwrite_key(cur, nk)) != 0 || unlink(next) != 0) {
			r = paso_diag_set(d, r ? r : PASO_E_IO, "%s: finishing a key rotation: %s",
				ob->dir, strerror(errno));
			goto out;
		}
		memcpy(ob->key, nk, 32);
	}
	sync_dir(ob->dir);
	r = 0;
out:
	sodium_free(nk);
	return r;
}

static int
meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t x)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	uint8_t b[8];
	int rc;

	be64_put(b, x);
	v.mv_size = 8;
	v.mv_data = b;
	return (rc = mdb_put(txn, dbi, &k, &v, 0)) == 0 ? 0 : lmdb_err(rc);
}

/* Captured at or before now - keep_s; a capture whose time is unknown (0) counts as expired. */
static int
expired(uint64_t when, uint64_t now, uint64_t keep_s)
{
	return when == 0 || (now >= keep_s && when <= now - keep_s);
}

int
outbox_purge(struct outbox *ob, uint64_t now, uint64_t keep_s, size_t *purgedp, size_t *keptp,
	struct paso_diag *d)
{
	struct outbox_item *items = NULL;
	MDB_txn *txn = NULL;
	char cur[4200], next[4200];
	uint8_t *nk = NULL, kb[8], wb[8];
	uint64_t count;
	size_t n = 0, i, gone = 0;
	int rc, r;

	*purgedp = *keptp = 0;
	(void)snprintf(cur, sizeof(cur), "%s/outbox.key", ob->dir);
	(void)snprintf(next, sizeof(next), "%s/outbox.key.next", ob->dir);
	if ((r = outbox_count(ob, &count)) != 0 ||
		(r = outbox_peek(ob, (size_t)count, &items, &n)) != 0) {
		r = paso_diag_set(d, r, "%s: reading the queue: %s", ob->dir, paso_strerror(r));
		goto out;
	}
	for (i = 0; i < n; i++)
		gone += expired(items[i].when, now, keep_s);
	/*
	 * Every purge replaces the key, expired entries or not: entries deleted since the last one
	 * (acknowledged by the hub) left their ciphertext in free pages, readable with the old key.
	 * The new key is durable before anything is sealed under it.
	 */
	if ((nk = sodium_malloc(32)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	crypto_aead_xchacha20poly1305_ietf_keygen(nk);
	if ((r = durable_write(next, nk, 32, 0600, DURABLE_REPLACE, d)) != 0)
		goto out;
	if ((rc = mdb_txn_begin(ob->env, NULL, 0, &txn)) != 0) {
		r = lmdb_err(rc);
		goto fail;
	}
	{
		/* The whole queue again: survivors sealed under the new key, the rest left out. */
		if ((rc = mdb_drop(txn, ob->queue, 0)) != 0 ||
			(rc = mdb_drop(txn, ob->when, 0)) != 0) {
			r = lmdb_err(rc);
			goto fail;
		}
		for (i = 0; i < n; i++) {
			MDB_val k = {8, kb}, v, w = {8, wb};

			if (expired(items[i].when, now, keep_s))
				continue;
			be64_put(kb, items[i].seq);
			be64_put(wb, items[i].when);
			v.mv_size = NONCE + items[i].len + TAG;
			if ((rc = mdb_put(txn, ob->queue, &k, &v, MDB_RESERVE)) != 0 ||
				(seal(nk, kb, items[i].data, items[i].len, v.mv_data),
					(rc = mdb_put(txn, ob->when, &k, &w, 0)) != 0)) {
				r = lmdb_err(rc);
				goto fail;
			}
		}
	}
	if ((r = meta_put_u64(txn, ob->meta, META_PURGE_LAST, now)) != 0 ||
		(r = meta_put_u64(txn, ob->meta, META_PURGE_KEEP, keep_s)) != 0)
		goto fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		r = lmdb_err(rc);
		goto fail;
	}
	{
		/* Committed: the old key is the only way into what was purged. Destroy it. */
		if ((r = overwrite_key(cur, nk)) != 0 || unlink(next) != 0) {
			r = paso_diag_set(d, r ? r : PASO_E_IO,
				"%s: destroying the old outbox key: %s (finished at the next open)",
				ob->dir, strerror(errno));
			goto out;
		}
		memcpy(ob->key, nk, 32);
		sync_dir(ob->dir);
	}
	*purgedp = gone;
	*keptp = n - gone;
	r = 0;
	goto out;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (nk != NULL)
		(void)unlink(next); /* never used: the queue is still under the old key */
	if (d != NULL && d->code == 0)
		paso_diag_set(d, r, "%s: purge: %s", ob->dir, paso_strerror(r));
out:
	sodium_free(nk);
	outbox_items_free(items, n);
	return r;
}

int
outbox_purge_mark(struct outbox *ob, uint64_t now, uint64_t keep_s)
{
	MDB_txn *txn;
	int rc, r;

	if ((rc = mdb_txn_begin(ob->env, NULL, 0, &txn)) != 0)
		return lmdb_err(rc);
	if ((r = meta_put_u64(txn, ob->meta, META_PURGE_LAST, now)) != 0 ||
		(r = meta_put_u64(txn, ob->meta, META_PURGE_KEEP, keep_s)) != 0) {
		mdb_txn_abort(txn);
		return r;
	}
	return (rc = mdb_txn_commit(txn)) == 0 ? 0 : lmdb_err(rc);
}

int
outbox_purge_status(struct outbox *ob, uint64_t *lastp, uint64_t *keepp)
{
	MDB_val kl = {strlen(META_PURGE_LAST), META_PURGE_LAST},
		kk = {strlen(META_PURGE_KEEP), META_PURGE_KEEP}, v;
	MDB_txn *txn;
	int rc, r = 0;

	*lastp = *keepp = 0;
	if ((rc = mdb_txn_begin(ob->env, NULL, MDB_RDONLY, &txn)) != 0)
		return lmdb_err(rc);
	if ((rc = mdb_get(txn, ob->meta, &kl, &v)) != 0 || v.mv_size != 8)
		r = rc == MDB_NOTFOUND ? PASO_E_NOT_FOUND : PASO_E_CORRUPT;
	else
		*lastp = be64_get(v.mv_data);
	if (r == 0 && mdb_get(txn, ob->meta, &kk, &v) == 0 && v.mv_size == 8)
		*keepp = be64_get(v.mv_data);
	mdb_txn_abort(txn);
	return r;
}
