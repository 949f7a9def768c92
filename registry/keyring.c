/* SPDX-License-Identifier: Apache-2.0 */
/* Key files under DEPLOYMENT/keys/: epoch KEKs (wrap, rotate, shred), pseudonym and card-index
 * keys. */
#include "be.h"
#include "durable.h"
#include "keyring.h"
#include "nonce.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define KEY_BYTES 32
#define KEY_FILE_BYTES 68 /* magic 8, kind 1, pad 3, epoch 4, gen 4, key 32, check 16 */
#define KEY_CHECK_OFF 52
static const uint8_t key_magic[8] = {'P', 'A', 'S', 'O', 'K', 'E', 'Y', 1};

enum key_kind { KIND_KEK = 1, KIND_PSEUDONYM = 2, KIND_CARDINDEX = 3 };

#define PSEUDONYM_FILE "pseudonym.key"
#define CARDINDEX_FILE "cardindex.key"
#define WRAP_VERSION 1

/* One KEK id ever seen: live (slot >= 0, key in the arena) or a tombstone (slot == -1). */
struct kek_meta {
	uint32_t epoch;
	uint32_t gen;
	int slot;
};

struct keyring {
	/* Readers (seal, unseal, wrap, unwrap under an existing KEK) share it; making or
	 * destroying a KEK takes it alone. The commit loop seals twice a crossing while every
	 * connection thread unwraps a data key: one mutex made them queue behind each other. */
	pthread_rwlock_t lock;
	int dirfd;
	uint8_t *pseudonym_key; /* sodium_malloc, KEY_BYTES */
	uint8_t *cardindex_key; /* sodium_malloc, KEY_BYTES */
	struct kek_meta *meta;  /* sorted by (epoch, gen) */
	size_t nmeta, capmeta;
	uint8_t *arena; /* sodium_malloc, capslots * KEY_BYTES */
	uint8_t *used;  /* capslots flags, not secret */
	size_t capslots;
	size_t nlive;
	struct nonce_pool *nonces; /* every nonce the keyring and the vault seal under */
};

void
keyring_kek_id_str(uint32_t epoch, uint32_t gen, char buf[KEYRING_KEYID_STRLEN])
{
	(void)snprintf(buf, KEYRING_KEYID_STRLEN, "kek:%08x.%08x", epoch, gen);
}

static void
kek_file_name(uint32_t epoch, uint32_t gen, const char *suffix, char *buf, size_t cap)
{
	(void)snprintf(buf, cap, "kek-%08x-%08x.%s", epoch, gen, suffix);
}

/* Parses exactly 8 lowercase hex digits. */
static int
parse_hex8(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 8; i++) {
		char c = s[i];
		uint32_t dgt;

		if (c >= '0' && c <= '9')
			dgt = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			dgt = (uint32_t)(c - 'a' + 10);
		else
			return -1;
		v = v << 4 | dgt;
	}
	*out = v;
	return 0;
}

/* "kek-EEEEEEEE-GGGGGGGG.key" -> 1, ".shredded" -> 2, anything else -> 0. */
static int
parse_kek_name(const char *name, uint32_t *epoch, uint32_t *gen)
{
	if (strncmp(name, "kek-", 4) != 0 || strlen(name) < 22 || name[12] != '-' ||
		name[21] != '.')
		return 0;
	if (parse_hex8(name + 4, epoch) != 0 || parse_hex8(name + 13, gen) != 0)
		return 0;
	if (strcmp(name + 22, "key") == 0)
		return 1;
	if (strcmp(name + 22, "shredded") == 0)
		return 2;
	return 0;
}

static void
key_file_encode(uint8_t buf[KEY_FILE_BYTES], enum key_kind kind, uint32_t epoch, uint32_t gen,
	const uint8_t key[KEY_BYTES])
{
	memset(buf, 0, KEY_FILE_BYTES);
	memcpy(buf, key_magic, sizeof(key_magic));
	buf[8] = (uint8_t)kind;
	be32_put(buf + 12, epoch);
	be32_put(buf + 16, gen);
	memcpy(buf + 20, key, KEY_BYTES);
	crypto_generichash(buf + KEY_CHECK_OFF, 16, buf, KEY_CHECK_OFF, NULL, 0);
}

static int
fsync_dir(int dirfd)
{
	return fsync(dirfd) == 0 ? 0 : PASO_E_IO;
}

static int
key_file_write(int dirfd, const char *name, enum key_kind kind, uint32_t epoch, uint32_t gen,
	const uint8_t key[KEY_BYTES])
{
	uint8_t buf[KEY_FILE_BYTES];
	int r;

	key_file_encode(buf, kind, epoch, gen, key);
	r = durable_writeat(dirfd, name, buf, sizeof(buf), 0600, DURABLE_NEW, NULL, NULL);
	sodium_memzero(buf, sizeof(buf));
	return r;
}

/*
 * Checks the bytes of key file name (n of them, as read) and copies its key out: pure, so the
 * fuzzer drives it directly. 0 or PASO_E_CORRUPT naming the file and what is wrong with it.
 */
static int
key_file_decode(const uint8_t *buf, size_t n, const char *name, enum key_kind kind, uint32_t epoch,
	uint32_t gen, uint8_t key[KEY_BYTES], struct paso_diag *d)
{
	uint8_t check[16];

	if (n != KEY_FILE_BYTES)
		return paso_diag_set(d, PASO_E_CORRUPT, "keys/%s: damaged: size %zu, want %d", name,
			n, KEY_FILE_BYTES);
	crypto_generichash(check, sizeof(check), buf, KEY_CHECK_OFF, NULL, 0);
	if (sodium_memcmp(buf, key_magic, sizeof(key_magic)) != 0)
		return paso_diag_set(
			d, PASO_E_CORRUPT, "keys/%s: damaged: not a Paso key file", name);
	if (sodium_memcmp(check, buf + KEY_CHECK_OFF, sizeof(check)) != 0)
		return paso_diag_set(
			d, PASO_E_CORRUPT, "keys/%s: damaged: checksum mismatch", name);
	if (buf[8] != kind || be32_get(buf + 12) != epoch || be32_get(buf + 16) != gen)
		return paso_diag_set(d, PASO_E_CORRUPT,
			"keys/%s: damaged: its header names another key (kind %u, %08x.%08x)", name,
			(unsigned)buf[8], be32_get(buf + 12), be32_get(buf + 16));
	memcpy(key, buf + 20, KEY_BYTES);
	return 0;
}

static int
key_file_read(int dirfd, const char *name, enum key_kind kind, uint32_t epoch, uint32_t gen,
	uint8_t key[KEY_BYTES], struct paso_diag *d)
{
	uint8_t buf[KEY_FILE_BYTES + 1];
	struct stat st;
	ssize_t n;
	int fd, r;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO;
		return paso_diag_set(d, r, "keys/%s: %s", name, strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = paso_diag_set(d, PASO_E_IO, "keys/%s: not a regular file", name);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		r = paso_diag_set(d, PASO_E_IO, "keys/%s: permissions %04o are too open, want 0600",
			name, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = paso_diag_set(d, PASO_E_IO, "keys/%s: %s", name, strerror(errno));
		goto out;
	}
	r = key_file_decode(buf, (size_t)n, name, kind, epoch, gen, key, d);
out:
	sodium_memzero(buf, sizeof(buf));
	(void)close(fd);
	return r;
}

int
keyring_create(const char *keydir)
{
	uint8_t *key = NULL;
	struct stat st;
	int dirfd = -1, r;

	if (mkdir(keydir, 0700) != 0 && errno != EEXIST)
		return PASO_E_IO;
	dirfd = open(keydir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return PASO_E_IO;
	if (fstatat(dirfd, PSEUDONYM_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		fstatat(dirfd, CARDINDEX_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		r = PASO_E_EXISTS;
		goto out;
	}
	if (fchmod(dirfd, 0700) != 0) {
		r = PASO_E_IO;
		goto out;
	}
	if ((key = sodium_malloc(KEY_BYTES)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	randombytes_buf(key, KEY_BYTES);
	if ((r = key_file_write(dirfd, PSEUDONYM_FILE, KIND_PSEUDONYM, 0, 0, key)) != 0)
		goto out;
	randombytes_buf(key, KEY_BYTES);
	if ((r = key_file_write(dirfd, CARDINDEX_FILE, KIND_CARDINDEX, 0, 0, key)) != 0)
		goto out;
	r = 0;
out:
	sodium_free(key);
	if (dirfd >= 0)
		(void)close(dirfd);
	return r;
}

/* Binary search: index of (epoch, gen) or the insertion point, *found set accordingly. */
static size_t
meta_find(const struct keyring *kr, uint32_t epoch, uint32_t gen, int *found)
{
	size_t lo = 0, hi = kr->nmeta;
	uint64_t want = (uint64_t)epoch << 32 | gen;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t have = (uint64_t)kr->meta[mid].epoch << 32 | kr->meta[mid].gen;

		if (have == want) {
			*found = 1;
			return mid;
		}
		if (have < want)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/* Grows the key arena by doubling; the old arena is wiped by sodium_free. */
static int
arena_grow(struct keyring *kr)
{
	size_t ncap = kr->capslots ? kr->capslots * 2 : 16;
	uint8_t *na, *nu;

	if ((na = sodium_malloc(ncap * KEY_BYTES)) == NULL)
		return PASO_E_NOMEM;
	if ((nu = calloc(ncap, 1)) == NULL) {
		sodium_free(na);
		return PASO_E_NOMEM;
	}
	if (kr->capslots) {
		memcpy(na, kr->arena, kr->capslots * KEY_BYTES);
		memcpy(nu, kr->used, kr->capslots);
	}
	sodium_free(kr->arena);
	free(kr->used);
	kr->arena = na;
	kr->used = nu;
	kr->capslots = ncap;
	return 0;
}

/* Records (epoch, gen); with key != NULL as a live KEK, else as a tombstone. */
static int
meta_insert(struct keyring *kr, uint32_t epoch, uint32_t gen, const uint8_t *key)
{
	size_t i, s;
	int found, r;

	i = meta_find(kr, epoch, gen, &found);
	if (found)
		return PASO_E_EXISTS;
	if (kr->nmeta == kr->capmeta) {
		size_t ncap = kr->capmeta ? kr->capmeta * 2 : 16;
		struct kek_meta *nm = reallocarray(kr->meta, ncap, sizeof(*nm));

		if (nm == NULL)
			return PASO_E_NOMEM;
		kr->meta = nm;
		kr->capmeta = ncap;
	}
	memmove(&kr->meta[i + 1], &kr->meta[i], (kr->nmeta - i) * sizeof(*kr->meta));
	kr->meta[i].epoch = epoch;
	kr->meta[i].gen = gen;
	kr->meta[i].slot = -1;
	kr->nmeta++;
	if (key == NULL)
		return 0;
	if (kr->nlive == kr->capslots && (r = arena_grow(kr)) != 0) {
		memmove(&kr->meta[i], &kr->meta[i + 1], (kr->nmeta - i - 1) * sizeof(*kr->meta));
		kr->nmeta--;
		return r;
	}
	for (s = 0; kr->used[s]; s++)
		;
	kr->used[s] = 1;
	memcpy(kr->arena + s * KEY_BYTES, key, KEY_BYTES);
	kr->meta[i].slot = (int)s;
	kr->nlive++;
	return 0;
}

static void
meta_kill(struct keyring *kr, size_t i)
{
	int s = kr->meta[i].slot;

	if (s < 0)
		return;
	sodium_memzero(kr->arena + (size_t)s * KEY_BYTES, KEY_BYTES);
	kr->used[s] = 0;
	kr->meta[i].slot = -1;
	kr->nlive--;
}

/*
 * Destroys one KEK file: the tombstone goes first so the id is never reused even if we crash
 * before the unlink, then the key bytes are overwritten and synced, then the name is removed.
 */
static int
kek_destroy_file(int dirfd, uint32_t epoch, uint32_t gen)
{
	uint8_t zeros[KEY_FILE_BYTES] = {0};
	char name[64], tomb[64];
	int fd, r = PASO_E_IO;

	kek_file_name(epoch, gen, "key", name, sizeof(name));
	kek_file_name(epoch, gen, "shredded", tomb, sizeof(tomb));
	/* Replace: a crash may have left the tombstone of an interrupted shred. */
	if ((r = durable_writeat(dirfd, tomb, "", 0, 0600, DURABLE_REPLACE, NULL, NULL)) != 0)
		return r;
	r = PASO_E_IO;
	fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : PASO_E_IO;
	if (pwrite(fd, zeros, sizeof(zeros), 0) != (ssize_t)sizeof(zeros) || fsync(fd) != 0)
		goto out;
	/* ENOENT: another process opening the keyring finished this shred first (load_keks). */
	if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
		goto out;
	r = 0;
out:
	(void)close(fd);
	if (r == 0)
		r = fsync_dir(dirfd);
	return r;
}

void
keyring_close(struct keyring *kr)
{
	if (kr == NULL)
		return;
	sodium_free(kr->pseudonym_key);
	sodium_free(kr->cardindex_key);
	sodium_free(kr->arena);
	nonce_pool_free(kr->nonces);
	free(kr->used);
	free(kr->meta);
	if (kr->dirfd >= 0)
		(void)close(kr->dirfd);
	(void)pthread_rwlock_destroy(&kr->lock);
	free(kr);
}

/* 1 if the tombstone of (epoch, gen) exists now. */
static int
tombstoned(int dirfd, uint32_t epoch, uint32_t gen)
{
	char tomb[64];

	kek_file_name(epoch, gen, "shredded", tomb, sizeof(tomb));
	return faccessat(dirfd, tomb, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * Loads KEKs and tombstones; finishes any shred a crash interrupted (tombstone + key file). A
 * running hub may shred while another process opens the keyring (a KEK file zeroed or gone
 * between readdir and read): a key file whose tombstone exists by then is skipped.
 */
static int
load_keks(struct keyring *kr, struct paso_diag *d)
{
	uint8_t key[KEY_BYTES];
	struct dirent *de;
	DIR *dir = NULL;
	uint32_t epoch, gen;
	int fd, r = 0, found;
	size_t i;

	if ((fd = dup(kr->dirfd)) < 0)
		return PASO_E_IO;
	if ((dir = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return PASO_E_IO;
	}
	/* Tombstones first, so that a key file with a tombstone is never loaded. */
	while ((de = readdir(dir)) != NULL) {
		if (parse_kek_name(de->d_name, &epoch, &gen) == 2 &&
			(r = meta_insert(kr, epoch, gen, NULL)) != 0)
			goto out;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (parse_kek_name(de->d_name, &epoch, &gen) != 1)
			continue;
		(void)meta_find(kr, epoch, gen, &found);
		if (found) {
			if ((r = kek_destroy_file(kr->dirfd, epoch, gen)) != 0) {
				paso_diag_set(d, r, "keys/%s: cannot finish shredding", de->d_name);
				goto out;
			}
			continue;
		}
		r = key_file_read(kr->dirfd, de->d_name, KIND_KEK, epoch, gen, key, d);
		if (r != 0 && tombstoned(kr->dirfd, epoch, gen)) {
			/* Shredded by the hub while we listed the directory: gone, not corrupt. */
			d->code = 0;
			d->msg[0] = '\0';
			continue;
		}
		if (r != 0)
			goto out;
		r = meta_insert(kr, epoch, gen, key);
		sodium_memzero(key, sizeof(key));
		if (r != 0)
			goto out;
	}
	/* UINT32_MAX is KEYRING_SHRED_ALL and the search sentinel; no file may use it. */
	for (i = 0; i < kr->nmeta; i++)
		if (kr->meta[i].gen == KEYRING_SHRED_ALL) {
			r = paso_diag_set(d, PASO_E_CORRUPT, "keys/: reserved KEK generation");
			goto out;
		}
	r = 0;
out:
	sodium_memzero(key, sizeof(key));
	(void)closedir(dir);
	return r;
}

int
keyring_open(const char *keydir, struct keyring **out, struct paso_diag *d)
{
	struct keyring *kr = NULL;
	pthread_rwlockattr_t attr;
	struct stat st;
	int r;

	*out = NULL;
	if (sodium_init() < 0)
		return paso_diag_set(d, PASO_E_INTERNAL, "libsodium failed to initialise");
	if ((kr = calloc(1, sizeof(*kr))) == NULL)
		return PASO_E_NOMEM;
	kr->dirfd = -1;
	/* Writers first: a shred or a new day's KEK is not held off by a stream of seals. */
	if (pthread_rwlockattr_init(&attr) != 0 ||
		pthread_rwlockattr_setkind_np(
			&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) != 0 ||
		pthread_rwlock_init(&kr->lock, &attr) != 0) {
		free(kr);
		return PASO_E_INTERNAL;
	}
	(void)pthread_rwlockattr_destroy(&attr);
	kr->dirfd = open(keydir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (kr->dirfd < 0) {
		r = paso_diag_set(d, errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO, "%s: %s",
			keydir, strerror(errno));
		goto out;
	}
	if (fstat(kr->dirfd, &st) != 0 || (st.st_mode & 077) != 0) {
		r = paso_diag_set(d, PASO_E_IO, "%s: key directory must be mode 0700", keydir);
		goto out;
	}
	kr->pseudonym_key = sodium_malloc(KEY_BYTES);
	kr->cardindex_key = sodium_malloc(KEY_BYTES);
	if (kr->pseudonym_key == NULL || kr->cardindex_key == NULL ||
		nonce_pool_new(&kr->nonces) != 0) {
		r = PASO_E_NOMEM;
		goto out;
	}
	if ((r = key_file_read(
		     kr->dirfd, PSEUDONYM_FILE, KIND_PSEUDONYM, 0, 0, kr->pseudonym_key, d)) != 0 ||
		(r = key_file_read(kr->dirfd, CARDINDEX_FILE, KIND_CARDINDEX, 0, 0,
			 kr->cardindex_key, d)) != 0)
		goto out;
	if ((r = load_keks(kr, d)) != 0)
		goto out;
	*out = kr;
	kr = NULL;
	r = 0;
out:
	keyring_close(kr);
	return r;
}

/* Index of the current (newest live) KEK of epoch, or -1. Caller holds the lock. */
static long
current_locked(struct keyring *kr, uint32_t epoch)
{
	size_t i;
	int found;

	i = meta_find(kr, epoch, KEYRING_SHRED_ALL, &found);
	/* i is just past this epoch's entries; the newest one is current if it is live. */
	if (i > 0 && kr->meta[i - 1].epoch == epoch && kr->meta[i - 1].slot >= 0)
		return (long)(i - 1);
	return -1;
}

/* Creates generation after the newest ever seen for epoch. Caller holds the lock. */
static int
create_locked(struct keyring *kr, uint32_t epoch, long *idxp)
{
	uint8_t key[KEY_BYTES];
	uint32_t gen = 0;
	char name[64];
	size_t i;
	int found, r;

	i = meta_find(kr, epoch, KEYRING_SHRED_ALL, &found);
	if (i > 0 && kr->meta[i - 1].epoch == epoch) {
		if (kr->meta[i - 1].gen >= KEYRING_SHRED_ALL - 1)
			return PASO_E_INTERNAL;
		gen = kr->meta[i - 1].gen + 1;
	}
	randombytes_buf(key, sizeof(key));
	kek_file_name(epoch, gen, "key", name, sizeof(name));
	/* The file is durable before any wrap under it can be committed anywhere. */
	if ((r = key_file_write(kr->dirfd, name, KIND_KEK, epoch, gen, key)) != 0)
		goto out;
	if ((r = meta_insert(kr, epoch, gen, key)) != 0)
		goto out;
	*idxp = (long)meta_find(kr, epoch, gen, &found);
out:
	sodium_memzero(key, sizeof(key));
	return r;
}

/*
 * Index of epoch's current KEK in *idxp, made if there is none. Called holding the lock to
 * read; returns holding it to read, or alone when a KEK had to be made (pthread_rwlock_unlock
 * releases either).
 */
static int
current_or_create(struct keyring *kr, uint32_t epoch, long *idxp)
{
	if ((*idxp = current_locked(kr, epoch)) >= 0)
		return 0;
	pthread_rwlock_unlock(&kr->lock);
	pthread_rwlock_wrlock(&kr->lock);
	if ((*idxp = current_locked(kr, epoch)) >= 0) /* made by another thread meanwhile */
		return 0;
	return create_locked(kr, epoch, idxp);
}

static void
wrap_ad(uint8_t ad[32], const uint8_t subject_id[KEYRING_SUBJECT_BYTES], const uint8_t kekid[8])
{
	memcpy(ad, "paso-dk1", 8);
	memcpy(ad + 8, subject_id, KEYRING_SUBJECT_BYTES);
	memcpy(ad + 24, kekid, 8);
}

int
keyring_wrap(struct keyring *kr, uint32_t epoch, const uint8_t subject_id[KEYRING_SUBJECT_BYTES],
	const uint8_t dk[KEYRING_DK_BYTES], uint8_t wrapped[KEYRING_WRAPPED_BYTES])
{
	uint8_t ad[32];
	const struct kek_meta *m;
	long idx;
	int r;

	pthread_rwlock_rdlock(&kr->lock);
	if ((r = current_or_create(kr, epoch, &idx)) != 0)
		goto out;
	m = &kr->meta[idx];
	wrapped[0] = WRAP_VERSION;
	be32_put(wrapped + 1, m->epoch);
	be32_put(wrapped + 5, m->gen);
	nonce_pool_take(kr->nonces, wrapped + 9, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	wrap_ad(ad, subject_id, wrapped + 1);
	crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped + 33, NULL, dk, KEYRING_DK_BYTES, ad,
		sizeof(ad), NULL, wrapped + 9, kr->arena + (size_t)m->slot * KEY_BYTES);
	r = 0;
out:
	pthread_rwlock_unlock(&kr->lock);
	return r;
}

#define SEAL_VERSION 2
#define SEAL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

void
keyring_nonce(struct keyring *kr, uint8_t *out, size_t n)
{
	nonce_pool_take(kr != NULL ? kr->nonces : NULL, out, n);
}

int
keyring_seal(struct keyring *kr, uint32_t epoch, const uint8_t *ad, size_t adlen, const uint8_t *in,
	size_t len, uint8_t *out)
{
	uint8_t full[8 + KEYRING_SEAL_AD_MAX + 8];
	const struct kek_meta *m;
	long idx;
	int r;

	if (adlen > KEYRING_SEAL_AD_MAX)
		return PASO_E_INVALID_ARG;
	pthread_rwlock_rdlock(&kr->lock);
	if ((r = current_or_create(kr, epoch, &idx)) != 0)
		goto out;
	m = &kr->meta[idx];
	out[0] = SEAL_VERSION;
	be32_put(out + 1, m->epoch);
	be32_put(out + 5, m->gen);
	nonce_pool_take(kr->nonces, out + 9, SEAL_NONCE);
	memcpy(full, "paso-sl1", 8);
	memcpy(full + 8, ad, adlen);
	memcpy(full + 8 + adlen, out + 1, 8);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 9 + SEAL_NONCE, NULL, in, len, full,
		16 + adlen, NULL, out + 9, kr->arena + (size_t)m->slot * KEY_BYTES);
	r = 0;
out:
	pthread_rwlock_unlock(&kr->lock);
	return r;
}

int
keyring_unseal(struct keyring *kr, const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
	uint8_t *out)
{
	uint8_t full[8 + KEYRING_SEAL_AD_MAX + 8];
	size_t i;
	int found, r;

	if (inlen < KEYRING_SEAL_OVERHEAD || in[0] != SEAL_VERSION)
		return PASO_E_CORRUPT;
	if (adlen > KEYRING_SEAL_AD_MAX)
		return PASO_E_INVALID_ARG;
	memcpy(full, "paso-sl1", 8);
	memcpy(full + 8, ad, adlen);
	memcpy(full + 8 + adlen, in + 1, 8);
	pthread_rwlock_rdlock(&kr->lock);
	i = meta_find(kr, be32_get(in + 1), be32_get(in + 5), &found);
	if (!found || kr->meta[i].slot < 0) {
		r = PASO_E_KEY_NOT_FOUND;
		goto out;
	}
	r = crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + 9 + SEAL_NONCE,
		    inlen - 9 - SEAL_NONCE, full, 16 + adlen, in + 9,
		    kr->arena + (size_t)kr->meta[i].slot * KEY_BYTES) == 0
		    ? 0
		    : PASO_E_CRYPTO;
out:
	pthread_rwlock_unlock(&kr->lock);
	if (r != 0 && inlen > KEYRING_SEAL_OVERHEAD)
		sodium_memzero(out, inlen - KEYRING_SEAL_OVERHEAD);
	return r;
}

int
keyring_wrapped_kek(const uint8_t wrapped[KEYRING_WRAPPED_BYTES], uint32_t *epoch, uint32_t *gen)
{
	if (wrapped[0] != WRAP_VERSION)
		return PASO_E_CORRUPT;
	*epoch = be32_get(wrapped + 1);
	*gen = be32_get(wrapped + 5);
	return 0;
}

int
keyring_unwrap(struct keyring *kr, const uint8_t subject_id[KEYRING_SUBJECT_BYTES],
	const uint8_t wrapped[KEYRING_WRAPPED_BYTES], uint8_t dk[KEYRING_DK_BYTES])
{
	uint8_t ad[32];
	uint32_t epoch, gen;
	size_t i;
	int found, r;

	sodium_memzero(dk, KEYRING_DK_BYTES);
	if ((r = keyring_wrapped_kek(wrapped, &epoch, &gen)) != 0)
		return r;
	wrap_ad(ad, subject_id, wrapped + 1);
	pthread_rwlock_rdlock(&kr->lock);
	i = meta_find(kr, epoch, gen, &found);
	if (!found || kr->meta[i].slot < 0) {
		r = PASO_E_KEY_NOT_FOUND;
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dk, NULL, NULL, wrapped + 33,
		    KEYRING_DK_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES, ad, sizeof(ad),
		    wrapped + 9, kr->arena + (size_t)kr->meta[i].slot * KEY_BYTES) != 0) {
		sodium_memzero(dk, KEYRING_DK_BYTES);
		r = PASO_E_CRYPTO;
		goto out;
	}
	r = 0;
out:
	pthread_rwlock_unlock(&kr->lock);
	return r;
}

int
keyring_rotate_epoch(struct keyring *kr, uint32_t epoch, uint32_t *genp)
{
	long idx;
	int r;

	pthread_rwlock_wrlock(&kr->lock);
	if ((r = create_locked(kr, epoch, &idx)) == 0 && genp != NULL)
		*genp = kr->meta[idx].gen;
	pthread_rwlock_unlock(&kr->lock);
	return r;
}

int
keyring_shred_epoch(struct keyring *kr, uint32_t epoch, uint32_t keep_gen, size_t *countp)
{
	size_t i, n = 0;
	int found, r = 0;

	if (countp != NULL)
		*countp = 0;
	pthread_rwlock_wrlock(&kr->lock);
	for (i = meta_find(kr, epoch, 0, &found); i < kr->nmeta && kr->meta[i].epoch == epoch;
		i++) {
		if (kr->meta[i].slot < 0 || kr->meta[i].gen >= keep_gen)
			continue;
		/* Wipe memory first: even if the file step fails, this process forgets the key. */
		meta_kill(kr, i);
		if ((r = kek_destroy_file(kr->dirfd, epoch, kr->meta[i].gen)) != 0)
			goto out;
		n++;
	}
out:
	pthread_rwlock_unlock(&kr->lock);
	if (countp != NULL)
		*countp = n;
	return r;
}

int
keyring_shred_epochs(struct keyring *kr, const uint32_t *epochs, size_t n, size_t *countp)
{
	uint8_t zeros[KEY_FILE_BYTES] = {0};
	struct kek_meta *doomed = NULL;
	char name[64];
	size_t i, k, m = 0;
	int found, fd, r = 0;

	if (countp != NULL)
		*countp = 0;
	pthread_rwlock_wrlock(&kr->lock);
	for (k = 0; k < n; k++)
		for (i = meta_find(kr, epochs[k], 0, &found);
			i < kr->nmeta && kr->meta[i].epoch == epochs[k]; i++)
			m += kr->meta[i].slot >= 0;
	if (m == 0)
		goto out;
	if ((doomed = calloc(m, sizeof(*doomed))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	m = 0;
	/* Wipe memory first: even if a file step fails, this process forgets the keys. */
	for (k = 0; k < n; k++)
		for (i = meta_find(kr, epochs[k], 0, &found);
			i < kr->nmeta && kr->meta[i].epoch == epochs[k]; i++)
			if (kr->meta[i].slot >= 0) {
				doomed[m++] = kr->meta[i];
				meta_kill(kr, i);
			}
	/* 1. Tombstones (empty: only their names need to be durable), so no id is reused. */
	for (i = 0; i < m; i++) {
		kek_file_name(doomed[i].epoch, doomed[i].gen, "shredded", name, sizeof(name));
		fd = openat(kr->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			0600);
		if (fd < 0) {
			r = PASO_E_IO;
			goto out;
		}
		(void)close(fd);
	}
	if ((r = fsync_dir(kr->dirfd)) != 0)
		goto out;
	/* 2. The key bytes overwritten and synced (best effort on copy-on-write storage). */
	for (i = 0; i < m; i++) {
		kek_file_name(doomed[i].epoch, doomed[i].gen, "key", name, sizeof(name));
		if ((fd = openat(kr->dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			if (errno == ENOENT)
				continue; /* another process finished this one (load_keks) */
			r = PASO_E_IO;
			goto out;
		}
		if (pwrite(fd, zeros, sizeof(zeros), 0) != (ssize_t)sizeof(zeros) ||
			fdatasync(fd) != 0)
			r = PASO_E_IO;
		(void)close(fd);
		if (r != 0)
			goto out;
	}
	/* 3. The names removed, then the directory synced once. */
	for (i = 0; i < m; i++) {
		kek_file_name(doomed[i].epoch, doomed[i].gen, "key", name, sizeof(name));
		if (unlinkat(kr->dirfd, name, 0) != 0 && errno != ENOENT) {
			r = PASO_E_IO;
			goto out;
		}
	}
	r = fsync_dir(kr->dirfd);
	if (r == 0 && countp != NULL)
		*countp = m;
out:
	pthread_rwlock_unlock(&kr->lock);
	free(doomed);
	return r;
}

int
keyring_epoch_current(struct keyring *kr, uint32_t epoch, uint32_t *genp)
{
	long idx;
	int r = PASO_E_NOT_FOUND;

	pthread_rwlock_rdlock(&kr->lock);
	if ((idx = current_locked(kr, epoch)) >= 0) {
		*genp = kr->meta[idx].gen;
		r = 0;
	}
	pthread_rwlock_unlock(&kr->lock);
	return r;
}

size_t
keyring_live_epochs(struct keyring *kr, uint32_t below, uint32_t *epochs, size_t max)
{
	size_t i, n = 0;

	pthread_rwlock_rdlock(&kr->lock);
	/* meta is sorted by (epoch, gen): the epochs come out in order, each once. */
	for (i = 0; i < kr->nmeta && kr->meta[i].epoch < below && n < max; i++) {
		if (kr->meta[i].slot < 0)
			continue;
		if (n > 0 && epochs[n - 1] == kr->meta[i].epoch)
			continue;
		epochs[n++] = kr->meta[i].epoch;
	}
	pthread_rwlock_unlock(&kr->lock);
	return n;
}

size_t
keyring_kek_count(struct keyring *kr)
{
	size_t n;

	pthread_rwlock_rdlock(&kr->lock);
	n = kr->nlive;
	pthread_rwlock_unlock(&kr->lock);
	return n;
}

int
keyring_pseudonym(struct keyring *kr, const uint8_t subject_id[KEYRING_SUBJECT_BYTES],
	const uint8_t dk[KEYRING_DK_BYTES], uint8_t out[KEYRING_HASH_BYTES])
{
	crypto_generichash_state st;
	uint8_t bound[KEYRING_HASH_BYTES];

	/* What only the data key can give: once it is shredded, nobody can recompute this. */
	crypto_generichash(bound, sizeof(bound), (const uint8_t *)"paso-pseudonym-dk", 17, dk,
		KEYRING_DK_BYTES);
	/* The keys are read-only after open, so no lock is needed. */
	crypto_generichash_init(&st, kr->pseudonym_key, KEY_BYTES, KEYRING_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)"paso-pseudonym-v2", 17);
	crypto_generichash_update(&st, subject_id, KEYRING_SUBJECT_BYTES);
	crypto_generichash_update(&st, bound, sizeof(bound));
	crypto_generichash_final(&st, out, KEYRING_HASH_BYTES);
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(bound, sizeof(bound));
	return 0;
}

int
keyring_card_index(
	struct keyring *kr, const char *card, size_t len, uint8_t out[KEYRING_HASH_BYTES])
{
	crypto_generichash_state st;

	if (card == NULL || len == 0)
		return PASO_E_INVALID_ARG;
	crypto_generichash_init(&st, kr->cardindex_key, KEY_BYTES, KEYRING_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)"paso-card-v1", 12);
	crypto_generichash_update(&st, (const uint8_t *)card, len);
	crypto_generichash_final(&st, out, KEYRING_HASH_BYTES);
	sodium_memzero(&st, sizeof(st));
	return 0;
}

int
keyring_protect_key(struct keyring *kr, uint32_t gen, const char *context,
	uint8_t key[KEYRING_PROTECT_KEY_BYTES], uint32_t *genp)
{
	crypto_generichash_state st;
	long idx = -1;
	size_t i;
	int found, r;

	sodium_memzero(key, KEYRING_PROTECT_KEY_BYTES);
	if (context == NULL || context[0] == '\0')
		return PASO_E_INVALID_ARG;
	pthread_rwlock_rdlock(&kr->lock);
	if (gen == KEYRING_PROTECT_CURRENT) {
		if ((r = current_or_create(kr, KEYRING_PROTECT_EPOCH, &idx)) != 0)
			goto out;
	} else {
		i = meta_find(kr, KEYRING_PROTECT_EPOCH, gen, &found);
		if (found && kr->meta[i].slot >= 0)
			idx = (long)i;
	}
	if (idx < 0) {
		r = PASO_E_KEY_NOT_FOUND;
		goto out;
	}
	crypto_generichash_init(&st, kr->arena + (size_t)kr->meta[idx].slot * KEY_BYTES, KEY_BYTES,
		KEYRING_PROTECT_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)"paso-protect-v1", 15);
	crypto_generichash_update(&st, (const uint8_t *)context, strlen(context));
	crypto_generichash_final(&st, key, KEYRING_PROTECT_KEY_BYTES);
	sodium_memzero(&st, sizeof(st));
	if (genp != NULL)
		*genp = kr->meta[idx].gen;
	r = 0;
out:
	pthread_rwlock_unlock(&kr->lock);
	return r;
}
