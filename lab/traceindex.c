/* SPDX-License-Identifier: Apache-2.0 */
/* Pseudonym -> audit entry numbers in LMDB (DUPSORT, big-endian values: ascending order). */
#include "traceindex.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>
#include <sodium.h>

#include "paso.pb-c.h"

#define MAP_SIZE (64ull << 30) /* sparse: pages are allocated as they are written */
#define COMMIT_EVERY 65536

struct traceindex {
	MDB_env *env;
	MDB_dbi acts, meta;
};

static void
put_be64(uint8_t b[8], uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static uint64_t
get_be64(const uint8_t b[8])
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

int
traceindex_open(const char *dir, struct traceindex **out, struct paso_diag *d)
{
	struct traceindex *ix = NULL;
	MDB_txn *t = NULL;
	int rc, r;

	*out = NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", dir, strerror(errno));
	if ((ix = calloc(1, sizeof(*ix))) == NULL)
		return PASO_E_NOMEM;
	if ((rc = mdb_env_create(&ix->env)) != 0) {
		ix->env = NULL;
		goto fail;
	}
	if ((rc = mdb_env_set_maxdbs(ix->env, 2)) != 0 ||
		(rc = mdb_env_set_mapsize(ix->env, MAP_SIZE)) != 0 ||
		(rc = mdb_env_open(ix->env, dir, MDB_NOTLS, 0600)) != 0 ||
		(rc = mdb_txn_begin(ix->env, NULL, 0, &t)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(t, "acts", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED, &ix->acts)) !=
			0 ||
		(rc = mdb_dbi_open(t, "meta", MDB_CREATE, &ix->meta)) != 0) {
		mdb_txn_abort(t);
		goto fail;
	}
	if ((rc = mdb_txn_commit(t)) != 0)
		goto fail;
	*out = ix;
	return 0;
fail:
	r = paso_diag_set(d, PASO_E_STORAGE, "%s: %s", dir, mdb_strerror(rc));
	traceindex_close(ix);
	return r;
}

void
traceindex_close(struct traceindex *ix)
{
	if (ix == NULL)
		return;
	if (ix->env != NULL)
		mdb_env_close(ix->env);
	free(ix);
}

static int
put_act(struct traceindex *ix, MDB_txn *t, const uint8_t p[32], uint64_t i)
{
	uint8_t v[8];
	MDB_val k = {32, (void *)p}, val = {8, v};
	int rc;

	put_be64(v, i);
	rc = mdb_put(t, ix->acts, &k, &val, MDB_NODUPDATA);
	return rc == 0 || rc == MDB_KEYEXIST ? 0 : rc;
}

int
traceindex_update(struct traceindex *ix, struct auditlog *log, uint64_t size, uint64_t *addedp,
	struct paso_diag *d)
{
	static const char upto_key[] = "indexed", tip_key[] = "tip";
	MDB_val k = {sizeof(upto_key) - 1, (void *)upto_key}, v;
	MDB_txn *t = NULL;
	Paso__AuditEntry *e = NULL;
	uint8_t *buf = NULL, ub[8];
	uint64_t from = 0, i;
	size_t len;
	int rc, r;

	if (addedp != NULL)
		*addedp = 0;
	if ((rc = mdb_txn_begin(ix->env, NULL, 0, &t)) != 0)
		goto lmdb;
	if ((rc = mdb_get(t, ix->meta, &k, &v)) == 0 && v.mv_size == 8)
		from = get_be64(v.mv_data);
	else if (rc != MDB_NOTFOUND && rc != 0)
		goto lmdb;
	/* The index must be of this log: the leaf hash of the last entry it covers is kept and
	 * compared, so an index of another log, or of a log cut back and rewritten, is refused. */
	if (from > 0) {
		MDB_val tk = {sizeof(tip_key) - 1, (void *)tip_key}, tv;
		uint8_t leaf[MERKLE_HASH_BYTES];

		if (from > size)
			goto foreign;
		if ((rc = mdb_get(t, ix->meta, &tk, &tv)) != 0 && rc != MDB_NOTFOUND)
			goto lmdb;
		if ((r = auditlog_leaf_hash(log, from - 1, leaf)) != 0)
			goto out;
		if (rc == MDB_NOTFOUND || tv.mv_size != sizeof(leaf) ||
			sodium_memcmp(tv.mv_data, leaf, sizeof(leaf)) != 0)
			goto foreign;
	}
	for (i = from; i < size; i++) {
		if ((r = auditlog_entry(log, i, &buf, &len)) != 0)
			goto out;
		if ((e = paso__audit_entry__unpack(NULL, len, buf)) == NULL) {
			r = paso_diag_set(d, PASO_E_AUDIT_CORRUPT,
				"audit entry %" PRIu64 " does not decode", i);
			goto out;
		}
		free(buf);
		buf = NULL;
		if (e->subject.len == 32 && (rc = put_act(ix, t, e->subject.data, i)) != 0)
			goto lmdb;
		if (e->match != NULL && e->match->candidate.len == 32 &&
			(rc = put_act(ix, t, e->match->candidate.data, i)) != 0)
			goto lmdb;
		paso__audit_entry__free_unpacked(e, NULL);
		e = NULL;
		if ((i + 1) % COMMIT_EVERY == 0 || i + 1 == size) {
			MDB_val tk = {sizeof(tip_key) - 1, (void *)tip_key};
			uint8_t leaf[MERKLE_HASH_BYTES];
			MDB_val tv = {sizeof(leaf), leaf};

			if ((r = auditlog_leaf_hash(log, i, leaf)) != 0)
				goto out;
			put_be64(ub, i + 1);
			v.mv_size = 8;
			v.mv_data = ub;
			if ((rc = mdb_put(t, ix->meta, &k, &v, 0)) != 0 ||
				(rc = mdb_put(t, ix->meta, &tk, &tv, 0)) != 0)
				goto lmdb;
			rc = mdb_txn_commit(t);
			t = NULL;
			if (rc != 0 || (rc = mdb_txn_begin(ix->env, NULL, 0, &t)) != 0)
				goto lmdb;
		}
	}
	if (addedp != NULL)
		*addedp = size > from ? size - from : 0;
	r = 0;
	goto out;
foreign:
	r = paso_diag_set(d, PASO_E_CORRUPT,
		"trace index does not match this log (it covers %" PRIu64
		" entries; the log has %" PRIu64
		"): it was built from another log, or the log was rewritten; delete it and the next "
		"trace rebuilds it",
		from, size);
	goto out;
lmdb:
	r = rc == MDB_MAP_FULL ? PASO_E_MAP_FULL : PASO_E_STORAGE;
	(void)paso_diag_set(d, r, "trace index: %s", mdb_strerror(rc));
out:
	if (e != NULL)
		paso__audit_entry__free_unpacked(e, NULL);
	free(buf);
	if (t != NULL)
		mdb_txn_abort(t);
	return r;
}

int
traceindex_lookup(
	struct traceindex *ix, const uint8_t p[32], uint64_t limit, uint64_t **idxp, size_t *np)
{
	MDB_txn *t = NULL;
	MDB_cursor *c = NULL;
	MDB_val k = {32, (void *)p}, v;
	uint64_t *out = NULL, *no;
	size_t n = 0, cap = 0;
	int rc, r = PASO_E_STORAGE;

	*idxp = NULL;
	*np = 0;
	if (mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &t) != 0 ||
		mdb_cursor_open(t, ix->acts, &c) != 0)
		goto out;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		uint64_t i;

		if (v.mv_size != 8)
			goto out;
		if ((i = get_be64(v.mv_data)) >= limit)
			break; /* ascending: the rest are newer still */
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((no = realloc(out, cap * sizeof(*no))) == NULL) {
				r = PASO_E_NOMEM;
				goto out;
			}
			out = no;
		}
		out[n++] = i;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto out;
	*idxp = out;
	*np = n;
	out = NULL;
	r = 0;
out:
	if (c != NULL)
		mdb_cursor_close(c);
	if (t != NULL)
		mdb_txn_abort(t);
	free(out);
	return r;
}
