/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for registry/vault.c on real LMDB files: sealing, card index, resends, erasure by
 * shredding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "errors.h"
#include "keyring.h"
#include "paso.pb-c.h"
#include "vault.h"

struct fx {
	char root[64];
	char keys[96];
	struct keyring *kr;
	struct vault *v;
};

static void
rm_tree(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) != 0)
			rm_tree(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

static int
fx_open(struct fx *f)
{
	struct paso_diag d = {0};

	if (keyring_open(f->keys, &f->kr, &d) != 0)
		return -1;
	return vault_open(f->root, f->kr, &f->v, &d) == 0 ? 0 : -1;
}

static void
fx_close(struct fx *f)
{
	vault_close(f->v);
	keyring_close(f->kr);
	f->v = NULL;
	f->kr = NULL;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	(void)snprintf(f->root, sizeof(f->root), "/tmp/paso-vault-XXXXXX");
	if (mkdtemp(f->root) == NULL)
		return -1;
	(void)snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	if (keyring_create(f->keys) != 0 || fx_open(f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fx_close(f);
	rm_tree(f->root);
	free(f);
	return 0;
}

/* A record that looks like nothing else: a header and 6 KiB of seeded pseudo-random bytes. */
static void
known_record(uint8_t *buf, size_t len, uint8_t seed)
{
	uint8_t key[crypto_stream_chacha20_KEYBYTES] = {seed};
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};

	crypto_stream_chacha20(buf, len, nonce, key);
	memcpy(buf, "SYNTHETIC-TEMPLATE", 18);
}

static uint8_t *
read_file(const char *path, size_t *lenp)
{
	struct stat st;
	uint8_t *buf;
	int fd;

	*lenp = 0;
	if ((fd = open(path, O_RDONLY)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	*lenp = (size_t)st.st_size;
	return buf;
}

static void
write_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static uint8_t *
read_store(struct fx *f, size_t *lenp)
{
	char path[128];

	(void)snprintf(path, sizeof(path), "%s/store/data.mdb", f->root);
	return read_file(path, lenp);
}

static uint8_t *
create_one(struct fx *f, const char *card, uint32_t epoch, uint8_t seed, uint8_t id[16])
{
	static uint8_t rec[6144];
	struct vault_txn *t = NULL;

	known_record(rec, sizeof(rec), seed);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_create(t, card, epoch, rec, sizeof(rec), id), 0);
	assert_int_equal(vault_commit(t), 0);
	return rec;
}

static void
assert_record(struct fx *f, const uint8_t id[16], const uint8_t *want, size_t wlen)
{
	struct vault_txn *t = NULL;
	uint8_t *rec = NULL;
	size_t len = 0;

	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_subject_get(t, id, &rec, &len), 0);
	assert_int_equal(len, wlen);
	assert_memory_equal(rec, want, wlen);
	vault_free_record(rec, len);
	vault_abort(t);
}

static int
get_code(struct fx *f, const uint8_t id[16])
{
	struct vault_txn *t = NULL;
	uint8_t *rec = NULL;
	size_t len = 0;
	int r;

	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	r = vault_subject_get(t, id, &rec, &len);
	vault_free_record(rec, len);
	vault_abort(t);
	return r;
}

static void
test_create_get_update_cards(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	struct vault_stats st;
	uint8_t id[16], id2[16], other[16], upd[100], want[6144];
	const uint8_t *rec;

	rec = create_one(f, "GT-RV-000001", 100, 1, id);
	memcpy(want, rec, sizeof(want));
	assert_record(f, id, want, sizeof(want));

	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_card_lookup(t, "GT-RV-000001", other), 0);
	assert_memory_equal(other, id, 16);
	assert_int_equal(vault_card_lookup(t, "GT-RV-000002", other), PASO_E_NOT_FOUND);
	assert_int_equal(vault_card_lookup(t, "", other), PASO_E_INVALID_ARG);
	/* A taken card changes nothing, and the transaction is still usable. */
	assert_int_equal(
		vault_subject_create(t, "GT-RV-000001", 100, upd, 10, other), PASO_E_CARD_ENROLLED);
	assert_int_equal(vault_subject_create(t, NULL, 100, upd, 10, id2), 0);
	memset(upd, 0xab, sizeof(upd));
	assert_int_equal(vault_subject_update(t, id, upd, sizeof(upd)), 0);
	assert_int_equal(vault_stats(t, &st), 0);
	assert_int_equal(st.subjects, 2);
	assert_int_equal(st.cards, 1);
	assert_int_equal(vault_commit(t), 0);
	assert_record(f, id, upd, sizeof(upd));
	/* An empty record is a record too. */
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_update(t, id2, NULL, 0), 0);
	assert_int_equal(vault_commit(t), 0);
	assert_record(f, id2, upd, 0);

	memset(other, 0x77, sizeof(other));
	assert_int_equal(get_code(f, other), PASO_E_NOT_FOUND);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_update(t, other, upd, 1), PASO_E_NOT_FOUND);
	vault_abort(t);
}

static void
test_seen_idempotency(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	uint8_t dg[32], got[32], *reply = NULL;
	size_t rlen;
	uint64_t last;

	memset(dg, 0x42, sizeof(dg));
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(
		vault_seen_put(t, "kiosk-talisman-1", 7, dg, (const uint8_t *)"ACK7", 4), 0);
	assert_int_equal(vault_seen_put(t, "kiosk-talisman-1", 7, dg, (const uint8_t *)"ACK?", 4),
		PASO_E_EXISTS);
	assert_int_equal(vault_seen_put(t, "kiosk-talisman-1", 300, dg, NULL, 0), 0);
	assert_int_equal(vault_seen_put(t, "kiosk-talisman-10", 900, dg, NULL, 0), 0);
	assert_int_equal(vault_seen_put(t, "kiosk-talisma", 901, dg, NULL, 0), 0);
	assert_int_equal(vault_seen_put(t, "", 1, dg, NULL, 0), PASO_E_INVALID_ARG);
	assert_int_equal(vault_commit(t), 0);

	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_seen_get(t, "kiosk-talisman-1", 7, got, &reply, &rlen), 0);
	assert_memory_equal(got, dg, 32);
	assert_int_equal(rlen, 4);
	assert_memory_equal(reply, "ACK7", 4);
	free(reply);
	assert_int_equal(
		vault_seen_get(t, "kiosk-talisman-1", 8, got, &reply, &rlen), PASO_E_NOT_FOUND);
	assert_null(reply);
	/* Another kiosk's sequence numbers are its own. */
	assert_int_equal(
		vault_seen_get(t, "kiosk-talisman-2", 7, got, &reply, &rlen), PASO_E_NOT_FOUND);
	assert_int_equal(vault_seen_last(t, "kiosk-talisman-1", &last), 0);
	assert_int_equal(last, 300);
	assert_int_equal(vault_seen_last(t, "kiosk-talisman-10", &last), 0);
	assert_int_equal(last, 900);
	assert_int_equal(vault_seen_last(t, "kiosk-talisma", &last), 0);
	assert_int_equal(last, 901);
	assert_int_equal(vault_seen_last(t, "kiosk-el-ceibo", &last), PASO_E_NOT_FOUND);
	assert_int_equal(vault_seen_last(t, "kiosk-z", &last), PASO_E_NOT_FOUND);
	vault_abort(t);
}

static int
collect(void *arg, const uint8_t id[16], const uint8_t *rec, size_t len)
{
	int *n = arg;

	(void)id;
	if (len != 6144 || memcmp(rec, "SYNTHETIC-TEMPLATE", 18) != 0)
		return PASO_E_INTERNAL;
	return ++*n == 99 ? PASO_E_SHUTTING_DOWN : 0;
}

static int
stop_at_two(void *arg, const uint8_t id[16], const uint8_t *rec, size_t len)
{
	int *n = arg;

	(void)id;
	(void)rec;
	(void)len;
	return ++*n == 2 ? PASO_E_SHUTTING_DOWN : 0;
}

static void
test_survives_reopen_and_abort(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	struct vault_stats st;
	uint8_t a[16], b[16], c[16], pa[32], pa2[32], want[6144];
	uint64_t val = 0;
	int n = 0;

	memcpy(want, create_one(f, "GT-BW-1", 10, 3, a), sizeof(want));
	(void)create_one(f, "GT-BW-2", 10, 4, b);
	(void)create_one(f, NULL, 11, 5, c);
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_pseudonym(t, a, pa), 0);
	vault_abort(t);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_meta_put(t, "audit_size", 12345), 0);
	assert_int_equal(vault_commit(t), 0);
	/* An aborted group leaves no trace. */
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_create(t, "GT-BW-3", 10, want, 16, c), 0);
	assert_int_equal(vault_meta_put(t, "audit_size", 99999), 0);
	vault_abort(t);

	fx_close(f);
	assert_int_equal(fx_open(f), 0);
	assert_record(f, a, want, sizeof(want));
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_pseudonym(t, a, pa2), 0);
	vault_abort(t);
	assert_memory_equal(pa, pa2, 32);
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_meta_get(t, "audit_size", &val), 0);
	assert_int_equal(val, 12345);
	assert_int_equal(vault_meta_get(t, "nothing", &val), PASO_E_NOT_FOUND);
	assert_int_equal(vault_card_lookup(t, "GT-BW-3", c), PASO_E_NOT_FOUND);
	assert_int_equal(vault_stats(t, &st), 0);
	assert_int_equal(st.subjects, 3);
	assert_int_equal(st.cards, 2);
	assert_int_equal(vault_subject_foreach(t, collect, &n), 0);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(vault_subject_foreach(t, stop_at_two, &n), PASO_E_SHUTTING_DOWN);
	assert_int_equal(n, 2);
	vault_abort(t);
}

struct range_seen {
	uint8_t ids[64][16];
	int n;
	const uint8_t *lo, *hi;
	int outside; /* ids given outside [lo, hi) */
};

static int
collect_range(void *arg, const uint8_t id[16], const uint8_t *rec, size_t len)
{
	struct range_seen *rs = arg;

	(void)rec;
	(void)len;
	if (memcmp(id, rs->lo, 16) < 0 || (rs->hi != NULL && memcmp(id, rs->hi, 16) >= 0))
		rs->outside++;
	if (rs->n < 64)
		memcpy(rs->ids[rs->n], id, 16);
	rs->n++;
	return 0;
}

/* Walks in parts (the hub's parallel load): every subject exactly once, each in its own part. */
static void
test_foreach_range_parts(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	struct range_seen rs;
	uint8_t ids[40][16], lo[16], hi[16];
	int i, j, p, total = 0, found;
	char card[16];

	for (i = 0; i < 40; i++) {
		(void)snprintf(card, sizeof(card), "GT-RNG-%d", i);
		(void)create_one(f, card, 10, (uint8_t)i, ids[i]);
	}
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	/* Four parts by the first byte of the id: [0,64) [64,128) [128,192) [192,end). */
	for (p = 0; p < 4; p++) {
		memset(lo, 0, 16);
		memset(hi, 0, 16);
		lo[0] = (uint8_t)(p * 64);
		hi[0] = (uint8_t)((p + 1) * 64);
		memset(&rs, 0, sizeof(rs));
		rs.lo = lo;
		rs.hi = p < 3 ? hi : NULL;
		assert_int_equal(vault_subject_foreach_range(t, lo, rs.hi, collect_range, &rs), 0);
		assert_int_equal(rs.outside, 0);
		for (j = 0; j < rs.n; j++) {
			for (found = 0, i = 0; i < 40; i++)
				found += memcmp(rs.ids[j], ids[i], 16) == 0;
			assert_int_equal(found, 1);
		}
		total += rs.n;
	}
	assert_int_equal(total, 40);
	/* An empty range walks nothing. */
	memset(lo, 0xff, 16);
	memset(&rs, 0, sizeof(rs));
	rs.lo = lo;
	assert_int_equal(vault_subject_foreach_range(t, lo, NULL, collect_range, &rs), 0);
	assert_int_equal(rs.n, 0);
	vault_abort(t);
	/* Dropping the store's pages changes nothing a read sees. */
	vault_release_pages(f->v);
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	memset(lo, 0, 16);
	memset(&rs, 0, sizeof(rs));
	rs.lo = lo;
	assert_int_equal(vault_subject_foreach_range(t, lo, NULL, collect_range, &rs), 0);
	assert_int_equal(rs.n, 40);
	vault_abort(t);
}

/* Key order of every subject id (vault_subject_foreach walks subjects in it). */
struct id_walk {
	uint8_t (*ids)[16];
	int n, cap;
};

static int
collect_ids(void *arg, const uint8_t id[16], const uint8_t *rec, size_t len)
{
	struct id_walk *w = arg;

	(void)rec;
	(void)len;
	if (w->n < w->cap)
		memcpy(w->ids[w->n], id, 16);
	w->n++;
	return 0;
}

/*
 * Enrolments made one after the other get ids next to each other in key order, so a commit
 * group's rows share leaves of subjects, dks and byepoch; each run of 256 ids starts at a new
 * random place (spread over the id space), and a reopened store starts a new run.
 */
static void
test_ids_grouped_in_runs(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	struct id_walk w = {0};
	static uint8_t ids[700][16];
	uint8_t rec[64] = {1};
	int i, j, at, firsts = 0, runs = 0;

	/* 600 subjects in groups of 12, then 16 in one group after a reopen. */
	for (i = 0; i < 600; i += 12) {
		assert_int_equal(vault_begin(f->v, 0, &t), 0);
		for (j = i; j < i + 12; j++)
			assert_int_equal(
				vault_subject_create(t, NULL, 7, rec, sizeof(rec), ids[j]), 0);
		assert_int_equal(vault_commit(t), 0);
	}
	for (i = 1; i < 600; i++) {
		if (i % 256 == 0) {
			/* a new run: another place in the id space */
			assert_memory_not_equal(ids[i], ids[i - 1], 4);
			runs++;
			continue;
		}
		assert_memory_equal(ids[i], ids[i - 1], 4);
		assert_true(memcmp(ids[i], ids[i - 1], 16) > 0);
		assert_memory_not_equal(ids[i] + 8, ids[i - 1] + 8, 8);
	}
	assert_int_equal(runs, 2);
	fx_close(f);
	assert_int_equal(fx_open(f), 0);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	for (j = 600; j < 616; j++)
		assert_int_equal(vault_subject_create(t, NULL, 7, rec, sizeof(rec), ids[j]), 0);
	assert_int_equal(vault_commit(t), 0);
	assert_memory_not_equal(ids[600], ids[599], 4);
	/* The reopened store's group is one stretch of the key order, no older id inside it. */
	w.ids = calloc(700, 16);
	w.cap = 700;
	assert_non_null(w.ids);
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_subject_foreach(t, collect_ids, &w), 0);
	assert_int_equal(w.n, 616);
	for (at = 0; at < w.n && memcmp(w.ids[at], ids[600], 16) != 0; at++)
		;
	assert_true(at + 16 <= w.n);
	for (j = 0; j < 16; j++)
		assert_memory_equal(w.ids[at + j], ids[600 + j], 16);
	/* Every id is found and different from the others (key order is strict). */
	for (i = 1; i < w.n; i++)
		assert_true(memcmp(w.ids[i], w.ids[i - 1], 16) > 0);
	for (i = 0; i < 616; i += 37) {
		uint8_t *got = NULL;
		size_t len = 0;

		assert_int_equal(vault_subject_get(t, ids[i], &got, &len), 0);
		assert_int_equal(len, sizeof(rec));
		vault_free_record(got, len);
	}
	vault_abort(t);
	/* Four runs, at four different places (two equal 4-byte runs: ~1 in 7e8). */
	for (i = 0; i < 616; i++)
		if (i == 0 || memcmp(ids[i], ids[i - 1], 4) != 0)
			for (j = 0, firsts++; j < i; j++)
				if (j == 0 || memcmp(ids[j], ids[j - 1], 4) != 0)
					assert_memory_not_equal(ids[i], ids[j], 4);
	assert_int_equal(firsts, 4);
	free(w.ids);
}

/* A store filling more than half its map is given room when opened (no transaction open). */
static void
test_open_grows_a_nearly_full_map(void **state)
{
	struct fx *f = *state;
	struct vault_options opt = {.map_size = 256 << 10, .map_size_max = 2 << 20};
	struct paso_diag d = {0};
	struct vault_txn *t = NULL;
	struct vault_stats st, st2;
	uint8_t rec[6144], id[16];
	int i, r;

	known_record(rec, sizeof(rec), 2);
	vault_close(f->v);
	f->v = NULL;
	rm_tree(f->root);
	(void)mkdir(f->root, 0700);
	keyring_close(f->kr);
	f->kr = NULL;
	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &f->kr, &d), 0);
	assert_int_equal(vault_open_opts(f->root, f->kr, &opt, &f->v, &d), 0);
	/* records until more than half of the map is used, one commit each */
	for (i = 0; i < 64; i++) {
		assert_int_equal(vault_begin(f->v, 0, &t), 0);
		r = vault_subject_create(t, NULL, 1, rec, sizeof(rec), id);
		if (r == 0)
			r = vault_commit(t);
		else
			vault_abort(t);
		assert_true(r == 0 || r == PASO_E_MAP_FULL);
		assert_int_equal(vault_begin(f->v, 1, &t), 0);
		assert_int_equal(vault_stats(t, &st), 0);
		vault_abort(t);
		if (st.map_used > st.map_size / 2)
			break;
	}
	assert_true(st.map_used > st.map_size / 2);
	vault_close(f->v);
	f->v = NULL;
	assert_int_equal(vault_open_opts(f->root, f->kr, &opt, &f->v, &d), 0);
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_stats(t, &st2), 0);
	vault_abort(t);
	assert_true(st2.map_size >= 2 * st.map_size || st2.map_size == (2 << 20));
	assert_true(st2.map_used <= st2.map_size / 2);
}

/* True if any 16-byte piece of needle occurs in hay. */
static int
leaks(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
	size_t off;

	for (off = 0; off + 16 <= nlen; off += 16)
		if (memmem(hay, hlen, needle + off, 16) != NULL)
			return 1;
	return 0;
}

static void
assert_no_leak_in_dir(const char *dir, const uint8_t *needle, size_t nlen)
{
	char path[512];
	struct dirent *de;
	uint8_t *buf;
	size_t len;
	DIR *d;
	int files = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_true(
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path));
		assert_non_null(buf = read_file(path, &len));
		assert_false(leaks(buf, len, needle, nlen));
		free(buf);
		files++;
	}
	closedir(d);
	assert_true(files > 0);
}

static void
test_no_plaintext_on_disk(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	uint8_t a[16], rec[6144], rec2[6144], card[16];
	char dir[128];
	uint8_t *file;
	size_t len;

	memcpy(rec, create_one(f, "GT-RV-CARD-4242", 77, 9, a), sizeof(rec));
	/* Rewrite and erase too: stale pages are exactly where plaintext would hide. */
	known_record(rec2, sizeof(rec2), 10);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_update(t, a, rec2, sizeof(rec2)), 0);
	assert_int_equal(vault_commit(t), 0);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_erase(t, a, NULL), 0);
	assert_int_equal(vault_commit(t), 0);
	fx_close(f);

	/* The check itself can fail: the record is in a file we write in the clear. */
	assert_true(leaks(rec, sizeof(rec), rec, sizeof(rec)));
	memcpy(card, "GT-RV-CARD-4242", 16);
	(void)snprintf(dir, sizeof(dir), "%s/store", f->root);
	assert_no_leak_in_dir(dir, rec, sizeof(rec));
	assert_no_leak_in_dir(dir, rec2, sizeof(rec2));
	assert_no_leak_in_dir(dir, card, 16);
	assert_no_leak_in_dir(f->keys, rec, sizeof(rec));
	assert_no_leak_in_dir(f->keys, rec2, sizeof(rec2));
	assert_non_null(file = read_store(f, &len));
	assert_null(memmem(file, len, "SYNTHETIC", 9));
	assert_null(memmem(file, len, "GT-RV-CARD", 10));
	free(file);
	assert_int_equal(fx_open(f), 0);
}

/* Edits a sealed row behind the vault's back, as someone with the disk could. */
static void
tamper_only(
	struct fx *f, const uint8_t id[16], const uint8_t *copy_from, size_t flip_at, size_t cut)
{
	char path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v, src;
	uint8_t *buf;
	size_t len;

	fx_close(f);
	(void)snprintf(path, sizeof(path), "%s/store", f->root);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "subjects", 0, &dbi), 0);
	k.mv_data = (void *)(copy_from ? copy_from : id);
	k.mv_size = 16;
	assert_int_equal(mdb_get(txn, dbi, &k, &src), 0);
	len = src.mv_size - cut;
	assert_non_null(buf = malloc(src.mv_size));
	memcpy(buf, src.mv_data, src.mv_size);
	if (flip_at < len)
		buf[flip_at] ^= 0x01;
	k.mv_data = (void *)id;
	v.mv_data = buf;
	v.mv_size = len;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(buf);
}

static void
tamper(struct fx *f, const uint8_t id[16], const uint8_t *copy_from, size_t flip_at, size_t cut)
{
	tamper_only(f, id, copy_from, flip_at, cut);
	assert_int_equal(fx_open(f), 0);
}

static void
test_corrupted_ciphertext(void **state)
{
	struct fx *f = *state;
	uint8_t a[16], b[16], c[16], d[16];

	(void)create_one(f, "GT-1", 1, 1, a);
	(void)create_one(f, "GT-2", 1, 2, b);
	(void)create_one(f, "GT-3", 1, 3, c);
	(void)create_one(f, "GT-4", 1, 4, d);
	/* The data key opens but the record does not: damage, named as such. */
	tamper(f, a, NULL, 500, 0); /* one ciphertext bit */
	assert_int_equal(get_code(f, a), PASO_E_CORRUPT);
	tamper(f, b, a, (size_t)-1, 0); /* another subject's sealed record moved here */
	assert_int_equal(get_code(f, b), PASO_E_CORRUPT);
	tamper(f, c, NULL, 2, 0); /* the epoch in the header (bound in the AD) */
	assert_int_equal(get_code(f, c), PASO_E_CORRUPT);
	/* Truncated below header + tag: the store refuses to open, naming the row, before any
	 * record is opened. */
	tamper_only(f, d, NULL, (size_t)-1, 6150);
	{
		struct paso_diag dg = {0};
		char hex[33];
		size_t i;

		for (i = 0; i < 16; i++)
			(void)snprintf(hex + 2 * i, 3, "%02x", d[i]);
		assert_int_equal(keyring_open(f->keys, &f->kr, &dg), 0);
		assert_int_equal(vault_open(f->root, f->kr, &f->v, &dg), PASO_E_CORRUPT);
		assert_null(f->v);
		assert_non_null(strstr(dg.msg, "data.mdb: damaged: table subjects, row "));
		assert_non_null(strstr(dg.msg, hex));
	}
}

static void
test_erase(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	uint8_t a[16], b[16], x[16];

	(void)create_one(f, "GT-ERASE", 5, 1, a);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_erase(t, a, NULL), 0);
	assert_int_equal(vault_subject_erase(t, a, NULL), PASO_E_NOT_FOUND);
	assert_int_equal(vault_card_lookup(t, "GT-ERASE", x), PASO_E_NOT_FOUND);
	assert_int_equal(vault_commit(t), 0);
	assert_int_equal(get_code(f, a), PASO_E_NOT_FOUND);
	/* The card can be enrolled again, as a new subject. */
	(void)create_one(f, "GT-ERASE", 5, 2, b);
	assert_memory_not_equal(a, b, 16);
}

struct ev_seen {
	uint64_t no[8];
	char text[8][32];
	size_t n;
};

static int
collect_event(void *arg, uint64_t no, const uint8_t *ev, size_t len)
{
	struct ev_seen *s = arg;

	assert_true(s->n < 8 && len < 32);
	s->no[s->n] = no;
	memcpy(s->text[s->n], ev, len);
	s->text[s->n][len] = '\0';
	s->n++;
	return 0;
}

/* A subject's history: numbered in order, sealed like its record, gone with it on erase. */
static void
test_events(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	struct vault_stats st;
	struct ev_seen seen;
	uint8_t a[16], b[16], nobody[16], *buf;
	size_t len, i;
	uint64_t no;

	(void)create_one(f, "GT-EV-A", 9, 1, a);
	(void)create_one(f, "GT-EV-B", 9, 2, b);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_event_add(t, a, (const uint8_t *)"entry Talisman", 14, &no), 0);
	assert_int_equal(no, 1);
	assert_int_equal(vault_event_add(t, b, (const uint8_t *)"entry El Ceibo", 14, &no), 0);
	assert_int_equal(no, 1);
	assert_int_equal(vault_event_add(t, a, (const uint8_t *)"exit Talisman", 13, &no), 0);
	assert_int_equal(no, 2);
	memset(nobody, 0x42, sizeof(nobody));
	assert_int_equal(
		vault_event_add(t, nobody, (const uint8_t *)"x", 1, &no), PASO_E_NOT_FOUND);
	assert_int_equal(vault_commit(t), 0);

	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(vault_event_foreach(t, a, collect_event, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.no[0], 1);
	assert_string_equal(seen.text[0], "entry Talisman");
	assert_string_equal(seen.text[1], "exit Talisman");
	assert_int_equal(vault_stats(t, &st), 0);
	assert_int_equal(st.events, 3);
	vault_abort(t);

	/* Sealed: the text is nowhere in the file. */
	buf = read_store(f, &len);
	for (i = 0; i + 8 <= len; i++)
		assert_false(memcmp(buf + i, "Talisman", 8) == 0);
	free(buf);

	/* Erasing a subject takes its history; the other subject keeps its own. */
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_erase(t, a, NULL), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(vault_event_foreach(t, a, collect_event, &seen), 0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(vault_event_foreach(t, b, collect_event, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.text[0], "entry El Ceibo");
	assert_int_equal(vault_stats(t, &st), 0);
	assert_int_equal(st.events, 1);
	assert_int_equal(vault_commit(t), 0);
}

/* The numbers of the kept crossing rows of one epoch keyed number first, in key order (raw). */
static size_t
kept_numbers(struct fx *f, uint32_t epoch, uint64_t *out, size_t max)
{
	char path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_dbi dbi;
	MDB_val k, v;
	size_t n = 0;
	int rc;

	fx_close(f);
	(void)snprintf(path, sizeof(path), "%s/store", f->root);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "kept", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < max;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kb = k.mv_data;

		if (k.mv_size != 4 + 8 + VAULT_XREF_BYTES + 1 ||
			((uint32_t)kb[0] << 24 | (uint32_t)kb[1] << 16 | (uint32_t)kb[2] << 8 |
				kb[3]) != epoch)
			continue;
		out[n] = 0;
		for (size_t i = 0; i < 8; i++)
			out[n] = out[n] << 8 | kb[4 + i];
		n++;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	assert_int_equal(fx_open(f), 0);
	return n;
}

/*
 * A subject's crossings are keyed by their number (the hub: each one's audit index) before the
 * subject's reference, so a day's rows sit together; rows an earlier hub keyed reference first
 * (numbered 1, 2, ...) are still listed, before the day's newer ones, and each subject gets
 * only its own.
 */
static void
test_crossing_numbers(void **state)
{
	static const char *const text[] = {"c1", "c2", "c3", "c4", "c5"};
	static const uint64_t want[] = {39, 40, 41};
	const uint32_t e = VAULT_EPOCH(VAULT_KIND_CROSSING, 20000),
		       e2 = VAULT_EPOCH(VAULT_KIND_CROSSING, 20001);
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	struct ev_seen seen;
	uint8_t a[16], b[16], pseud[32], ref[VAULT_XREF_BYTES], refb[VAULT_XREF_BYTES],
		old[VAULT_XREF_BYTES + 8] = {0};
	uint64_t nos[8];
	size_t i;

	(void)create_one(f, "GT-XN-A", 9, 1, a);
	(void)create_one(f, "GT-XN-B", 9, 2, b);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_refs(t, a, pseud, ref), 0);
	assert_int_equal(vault_subject_refs(t, b, pseud, refb), 0);
	/* Two rows as an earlier hub kept them: epoch || ref || 1, 2. */
	memcpy(old, ref, VAULT_XREF_BYTES);
	for (i = 0; i < 2; i++) {
		old[sizeof(old) - 1] = (uint8_t)(i + 1);
		assert_int_equal(
			vault_kept_put(t, e, old, sizeof(old), (const uint8_t *)text[i], 2), 0);
	}
	assert_int_equal(vault_crossing_add_ref(t, refb, e, 39, (const uint8_t *)"b1", 2), 0);
	assert_int_equal(vault_crossing_add(t, a, e, 40, (const uint8_t *)text[2], 2), 0);
	assert_int_equal(vault_crossing_add_ref(t, ref, e, 41, (const uint8_t *)text[3], 2), 0);
	assert_int_equal(vault_crossing_add_ref(t, ref, e2, 50, (const uint8_t *)text[4], 2), 0);
	assert_int_equal(
		vault_crossing_add_ref(t, ref, e, 41, (const uint8_t *)"xx", 2), PASO_E_EXISTS);
	assert_int_equal(
		vault_crossing_add_ref(t, ref, e, 0, (const uint8_t *)"xx", 2), PASO_E_INVALID_ARG);
	assert_int_equal(vault_commit(t), 0);

	assert_int_equal(kept_numbers(f, e, nos, 8), 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(nos[i], want[i]);
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(vault_event_foreach(t, a, collect_event, &seen), 0);
	assert_int_equal(seen.n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(seen.no[i], i + 1);
		assert_string_equal(seen.text[i], text[i]);
	}
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(vault_event_foreach(t, b, collect_event, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.text[0], "b1");
	vault_abort(t);
}

/* The attacker's tool: try every offset of a file as a wrapped key for subject id. */
static int
scan_unwraps(struct keyring *kr, const uint8_t *buf, size_t len, const uint8_t id[16])
{
	uint8_t dk[KEYRING_DK_BYTES];
	size_t off;
	int found = 0;

	for (off = 0; off + KEYRING_WRAPPED_BYTES <= len; off++)
		if (keyring_unwrap(kr, id, buf + off, dk) == 0)
			found++;
	sodium_memzero(dk, sizeof(dk));
	return found;
}

/* Opens a raw copy of data.mdb as a store of its own, with the keys in keydir. */
static int
get_from_copy(
	const char *root, const uint8_t *copy, size_t len, const char *keydir, const uint8_t id[16])
{
	struct paso_diag d = {0};
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct vault_txn *t = NULL;
	char dir[128], path[160];
	uint8_t *rec = NULL;
	size_t rlen = 0;
	int r;

	(void)snprintf(dir, sizeof(dir), "%s/thief", root);
	(void)snprintf(path, sizeof(path), "%s/store", dir);
	(void)mkdir(dir, 0700);
	(void)mkdir(path, 0700);
	(void)snprintf(path, sizeof(path), "%s/store/data.mdb", dir);
	write_file(path, copy, len);
	(void)snprintf(path, sizeof(path), "%s/store/lock.mdb", dir);
	(void)unlink(path);
	assert_int_equal(keyring_open(keydir, &kr, &d), 0);
	assert_int_equal(vault_open(dir, kr, &v, &d), 0);
	assert_int_equal(vault_begin(v, 1, &t), 0);
	r = vault_subject_get(t, id, &rec, &rlen);
	vault_free_record(rec, rlen);
	vault_abort(t);
	vault_close(v);
	keyring_close(kr);
	return r;
}

static void
test_shredded_epoch_unrecoverable(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	struct keyring *kr = NULL;
	struct paso_diag d = {0};
	uint8_t a[16], b[16], c[16], wb[6144], wc[6144], *pre, *post;
	size_t prelen, postlen, survivors = 99;
	uint32_t epoch;

	(void)create_one(f, "GT-SHRED-A", 5, 1, a);
	memcpy(wb, create_one(f, "GT-SHRED-B", 5, 2, b), sizeof(wb));
	memcpy(wc, create_one(f, "GT-SHRED-C", 6, 3, c), sizeof(wc));
	assert_non_null(pre = read_store(f, &prelen));

	/* Controls: before the shred, both attacks work on the copy with the current keys. */
	assert_true(scan_unwraps(f->kr, pre, prelen, a) >= 1);
	assert_int_equal(get_from_copy(f->root, pre, prelen, f->keys, a), 0);

	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_erase(t, a, NULL), 0);
	assert_int_equal(vault_commit(t), 0);
	/* Deleting alone is not erasing: the copy still opens A. */
	assert_int_equal(get_from_copy(f->root, pre, prelen, f->keys, a), 0);

	assert_int_equal(vault_shred_epoch(f->v, 5, &survivors), 0);
	assert_int_equal(survivors, 1);
	{
		char path[160];

		(void)snprintf(path, sizeof(path), "%s/kek-00000005-00000000.key", f->keys);
		assert_int_equal(access(path, F_OK), -1);
		(void)snprintf(path, sizeof(path), "%s/kek-00000005-00000000.shredded", f->keys);
		assert_int_equal(access(path, F_OK), 0);
	}

	/* The survivor and the other epoch are intact in the live store. */
	assert_record(f, b, wb, sizeof(wb));
	assert_record(f, c, wc, sizeof(wc));
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_subject_epoch(t, b, &epoch), 0);
	assert_int_equal(epoch, 5);
	vault_abort(t);
	fx_close(f);

	/* The attacker holds the pre-deletion copy, today's data.mdb and every key file left. */
	assert_non_null(post = read_store(f, &postlen));
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(scan_unwraps(kr, pre, prelen, a), 0);
	assert_int_equal(scan_unwraps(kr, post, postlen, a), 0);
	/* B is readable only through its new wrap, in the live file. */
	assert_int_equal(scan_unwraps(kr, pre, prelen, b), 0);
	assert_true(scan_unwraps(kr, post, postlen, b) >= 1);
	keyring_close(kr);
	assert_int_equal(get_from_copy(f->root, pre, prelen, f->keys, a), PASO_E_KEY_NOT_FOUND);
	assert_int_equal(get_from_copy(f->root, pre, prelen, f->keys, c), 0);
	free(pre);
	free(post);

	/* Shredding again (e.g. after a crash) is harmless; an empty epoch loses all its KEKs. */
	assert_int_equal(fx_open(f), 0);
	assert_int_equal(vault_shred_epoch(f->v, 5, &survivors), 0);
	assert_int_equal(survivors, 1);
	assert_record(f, b, wb, sizeof(wb));
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_subject_erase(t, b, NULL), 0);
	assert_int_equal(vault_commit(t), 0);
	assert_int_equal(vault_shred_epoch(f->v, 5, &survivors), 0);
	assert_int_equal(survivors, 0);
	assert_int_equal(keyring_epoch_current(f->kr, 5, &epoch), PASO_E_NOT_FOUND);
	assert_int_equal(keyring_kek_count(f->kr), 1); /* epoch 6 */
}

static void
test_map_grows_when_full(void **state)
{
	struct fx *f = *state;
	struct vault_options opt = {.map_size = 256 << 10, .map_size_max = 2 << 20};
	struct paso_diag d = {0};
	struct vault_txn *t = NULL;
	struct vault_stats st;
	uint8_t rec[6144], id[16];
	int i, j, r, fulls = 0, done = 0;

	known_record(rec, sizeof(rec), 1);
	vault_close(f->v);
	f->v = NULL;
	rm_tree(f->root); /* keys too: start from an empty deployment */
	(void)mkdir(f->root, 0700);
	keyring_close(f->kr);
	f->kr = NULL;
	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &f->kr, &d), 0);
	assert_int_equal(vault_open_opts(f->root, f->kr, &opt, &f->v, &d), 0);

	/*
		* Groups of 16 records until the 2 MiB limit: a group that fails with MAP_FULL is aborted
		* and retried, and the next vault_begin has grown the map, until the limit is reached.
		*/
	for (i = 0; i < 40 && !done; i++) {
		for (;;) {
			assert_int_equal(vault_begin(f->v, 0, &t), 0);
			for (j = 0, r = 0; j < 16 && r == 0; j++)
				r = vault_subject_create(t, NULL, 1, rec, sizeof(rec), id);
			if (r == 0)
				r = vault_commit(t);
			else
				vault_abort(t);
			if (r == 0)
				break;
			assert_int_equal(r, PASO_E_MAP_FULL);
			fulls++;
			assert_int_equal(vault_begin(f->v, 1, &t), 0);
			assert_int_equal(vault_stats(t, &st), 0);
			vault_abort(t);
			if (st.map_size == (2 << 20) && fulls > 3) {
				done = 1;
				break;
			}
		}
	}
	assert_true(fulls >= 2);
	assert_true(done);
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_stats(t, &st), 0);
	vault_abort(t);
	assert_int_equal(st.map_size, 2 << 20);
	assert_true(st.subjects >= 16 * 8);
	assert_int_equal(st.subjects % 16, 0); /* whole groups only */
}

/* Writes n bytes at off of both LMDB meta pages (pages 0 and 1 of 4096 bytes). */
static void
poke_meta(struct fx *f, size_t off, const uint8_t *bytes, size_t n)
{
	char path[128];
	FILE *fp;
	int page;

	(void)snprintf(path, sizeof(path), "%s/store/data.mdb", f->root);
	assert_non_null(fp = fopen(path, "r+b"));
	for (page = 0; page < 2; page++) {
		assert_int_equal(fseek(fp, page * 4096L + (long)off, SEEK_SET), 0);
		assert_int_equal(fwrite(bytes, 1, n, fp), n);
	}
	assert_int_equal(fclose(fp), 0);
}

static int
open_code(struct fx *f, struct paso_diag *dg)
{
	int r;

	if ((r = keyring_open(f->keys, &f->kr, dg)) != 0)
		return r;
	return vault_open(f->root, f->kr, &f->v, dg);
}

/*
 * Damage is named as damage, with the file and the row, before any record is opened: a seen row
 * whose stored answer is not an Ack or Error, then meta pages that are not LMDB's or that ask
 * for an impossible map (LMDB says ENOMEM, which used to come out as "out of memory").
 */
static void
test_damage_named(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	uint8_t digest[32] = {0}, junk[40];
	struct paso_diag dg = {0};
	char path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;

	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(
		vault_seen_put(t, "kiosk-talisman", 5, digest, (const uint8_t *)"\x08\x05", 2), 0);
	assert_int_equal(vault_commit(t), 0);
	fx_close(f);
	/* behind the vault's back: the stored answer replaced by bytes that decode as nothing */
	(void)snprintf(path, sizeof(path), "%s/store", f->root);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "seen", 0, &dbi), 0);
	k.mv_data = "kiosk-talisman\0\0\0\0\0\0\0\0\5";
	k.mv_size = 15 + 8;
	memset(junk, 0xff, sizeof(junk));
	v.mv_data = junk;
	v.mv_size = sizeof(junk);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(open_code(f, &dg), PASO_E_CORRUPT);
	assert_non_null(
		strstr(dg.msg, "data.mdb: damaged: table seen, kiosk 'kiosk-talisman' seq 5"));
	keyring_close(f->kr);
	f->kr = NULL;

	poke_meta(f, 16, (const uint8_t *)"\0\0\0\0", 4); /* the magic */
	assert_int_equal(open_code(f, &dg), PASO_E_CORRUPT);
	assert_non_null(strstr(dg.msg, "data.mdb: damaged: MDB_INVALID"));
	keyring_close(f->kr);
	f->kr = NULL;
}

/* Writes key -> val into table `name` of the closed fixture's store, behind the vault's back. */
static void
poke_row(struct fx *f, const char *name, const void *key, size_t klen, const void *val, size_t vlen)
{
	char path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;

	(void)snprintf(path, sizeof(path), "%s/store", f->root);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
	k.mv_data = (void *)key;
	k.mv_size = klen;
	v.mv_data = (void *)val;
	v.mv_size = vlen;
	if (val != NULL)
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	else /* NULL: the row goes */
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
seenexp_key(uint8_t key[12], uint32_t epoch, uint64_t order)
{
	for (int i = 0; i < 4; i++)
		key[i] = (uint8_t)(epoch >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		key[4 + i] = (uint8_t)(order >> (56 - 8 * i));
}

/*
 * A sealed acknowledgement is indexed under its epoch and order (the hub: its audit index), so
 * one epoch's rows sit together whatever kiosk sent them; rows an earlier hub indexed under
 * epoch || seen key still open, count and go with their epoch; a damaged index row is named.
 */
static void
test_seenexp_layouts(void **state)
{
	const uint32_t e = VAULT_EPOCH(VAULT_KIND_CROSSING, 20000),
		       e2 = VAULT_EPOCH(VAULT_KIND_CROSSING, 20001);
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	struct vault_erased out;
	struct paso_diag dg = {0};
	uint8_t digest[32] = {1}, got[32], reply[64], key[12], old[4 + 16], *r = NULL;
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Ack ack = PASO__ACK__INIT;
	uint64_t n = 0, counts[VAULT_SEEN_KINDS] = {0};
	uint32_t first = 0, last = 0;
	size_t rlen, len = 0, expired = 0;
	int more = 0;

	ack.seq = 1;
	env.body_case = PASO__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	rlen = paso__envelope__pack(&env, reply);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_seen_put_sealed(t, "kiosk-a", 1, digest, reply, rlen, e, 100), 0);
	assert_int_equal(vault_seen_put_sealed(t, "kiosk-b", 1, digest, reply, rlen, e, 101), 0);
	assert_int_equal(vault_seen_put_sealed(t, "kiosk-a", 2, digest, reply, rlen, e2, 102), 0);
	assert_int_equal(vault_seen_put_sealed(t, "kiosk-c", 7, digest, reply, rlen, e, 103), 0);
	assert_int_equal(vault_seen_put_until(t, "kiosk-e", 1, digest, reply, rlen, 50, 1), 0);
	assert_int_equal(vault_commit(t), 0);
	assert_int_equal(vault_begin(f->v, 0, &t), 0); /* an order taken is refused */
	assert_int_equal(
		vault_seen_put_sealed(t, "kiosk-d", 1, digest, reply, rlen, e, 101), PASO_E_EXISTS);
	vault_abort(t);

	/* kiosk-c's row as an earlier hub indexed it: epoch || seen key -> empty. */
	fx_close(f);
	seenexp_key(key, e, 103);
	poke_row(f, "seenexp", key, sizeof(key), NULL, 0);
	seenexp_key(old, e, 0);
	memcpy(old + 4, "kiosk-c\0\0\0\0\0\0\0\0\7", 16);
	poke_row(f, "seenexp", old, sizeof(old), "", 0);
	if (open_code(f, &dg) != 0) /* both layouts pass the shape check */
		fail_msg("%s", dg.msg);

	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(vault_seenexp_count(t, e, e + 1, &n), 0);
	assert_int_equal(n, 3);
	/* The day rows expire alone; the epoch rows after them are not read as day rows. */
	assert_int_equal(vault_seen_expire(t, 60, 10, counts, &first, &last, &expired, &more), 0);
	assert_int_equal(expired, 1);
	memset(&out, 0, sizeof(out));
	assert_int_equal(vault_seenexp_erase(t, e, e + 1, 10, &out), 0);
	assert_int_equal(out.rows, 3);
	assert_int_equal(vault_commit(t), 0);
	assert_int_equal(vault_begin(f->v, 1, &t), 0);
	assert_int_equal(vault_seen_get(t, "kiosk-a", 1, got, &r, &len), PASO_E_NOT_FOUND);
	assert_int_equal(vault_seen_get(t, "kiosk-b", 1, got, &r, &len), PASO_E_NOT_FOUND);
	assert_int_equal(vault_seen_get(t, "kiosk-c", 7, got, &r, &len), PASO_E_NOT_FOUND);
	assert_int_equal(vault_seen_get(t, "kiosk-e", 1, got, &r, &len), PASO_E_NOT_FOUND);
	assert_int_equal(vault_seen_get(t, "kiosk-a", 2, got, &r, &len), 0); /* the next day's */
	assert_int_equal(len, rlen);
	assert_memory_equal(r, reply, rlen);
	free(r);
	vault_abort(t);

	fx_close(f); /* an index row whose value is no acknowledgement's key */
	seenexp_key(key, e2, 200);
	poke_row(f, "seenexp", key, sizeof(key), "x", 1);
	assert_int_equal(open_code(f, &dg), PASO_E_CORRUPT);
	assert_non_null(
		strstr(dg.msg, "data.mdb: damaged: table seenexp, row 40404e2100000000000000c8: "
			       "value is not an acknowledgement's key"));
}

/* The resend memory's expiry index is shape-checked at open like every other table. */
static void
test_damage_seenexp_named(void **state)
{
	struct fx *f = *state;
	struct vault_txn *t = NULL;
	uint8_t digest[32] = {0}, key[5 + 14 + 1 + 8], reply[64];
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Ack ack = PASO__ACK__INIT;
	struct paso_diag dg = {0};
	size_t rlen;

	ack.seq = 5;
	env.seq = 5;
	env.body_case = PASO__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	assert_true(paso__envelope__get_packed_size(&env) <= sizeof(reply));
	rlen = paso__envelope__pack(&env, reply);
	assert_int_equal(vault_begin(f->v, 0, &t), 0);
	assert_int_equal(
		vault_seen_put_until(t, "kiosk-talisman", 5, digest, reply, rlen, 20000, 1), 0);
	assert_int_equal(vault_commit(t), 0);
	fx_close(f);
	if (open_code(f, &dg) != 0) /* a well-formed row passes */
		fail_msg("%s", dg.msg);
	fx_close(f);

	/* The row as written: day 20000, kind 1, "kiosk-talisman" 0 seq 5. */
	key[0] = 0, key[1] = 0, key[2] = 0x4e, key[3] = 0x20, key[4] = 1;
	memcpy(key + 5, "kiosk-talisman\0\0\0\0\0\0\0\0\5", 14 + 1 + 8);
	poke_row(f, "seenexp", key, sizeof(key), "x", 1); /* a value where none belongs */
	assert_int_equal(open_code(f, &dg), PASO_E_CORRUPT);
	assert_non_null(strstr(dg.msg, "data.mdb: damaged: table seenexp, kiosk 'kiosk-talisman' "
				       "seq 5 (expiring on day 20000): value is not empty"));
	fx_close(f);

	poke_row(f, "seenexp", key, sizeof(key), "", 0); /* whole again */
	key[4] = 9;                                      /* a kind no policy has */
	poke_row(f, "seenexp", key, sizeof(key), "", 0);
	assert_int_equal(open_code(f, &dg), PASO_E_CORRUPT);
	assert_non_null(strstr(dg.msg, "table seenexp, kiosk 'kiosk-talisman' seq 5"));
	assert_non_null(strstr(dg.msg, "unknown record kind"));
	fx_close(f);

	poke_row(f, "seenexp", "\0\0\x4e", 3, "", 0); /* a key cut short */
	assert_int_equal(open_code(f, &dg), PASO_E_CORRUPT);
	assert_non_null(strstr(dg.msg, "data.mdb: damaged: table seenexp, row 00004e: key is not "
				       "expiry day, kind and an acknowledgement's key"));
	fx_close(f);
}

static void
test_damage_meta_map(void **state)
{
	struct fx *f = *state;
	struct paso_diag dg = {0};
	const uint8_t huge[8] = {0, 0, 0, 0, 0, 0, 0x80, 0x7f};

	fx_close(f);
	poke_meta(f, 136, huge, sizeof(huge)); /* the last page number */
	assert_int_equal(open_code(f, &dg), PASO_E_CORRUPT);
	assert_non_null(strstr(dg.msg, "data.mdb: damaged"));
	assert_null(strstr(dg.msg, "NOMEM"));
	keyring_close(f->kr);
	f->kr = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_get_update_cards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_meta_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_seenexp_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seenexp_layouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen_idempotency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_reopen_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_range_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_grouped_in_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_plaintext_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupted_ciphertext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_erase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crossing_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shredded_epoch_unrecoverable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_grows_when_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_grows_a_nearly_full_map, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
