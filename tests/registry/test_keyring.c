/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for registry/keyring.c: key files and modes, wrapping bound to subject and KEK, shredding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "errors.h"
#include "keyring.h"

struct fx {
	char root[64];
	char keys[96];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	(void)snprintf(f->root, sizeof(f->root), "/tmp/paso-keyring-XXXXXX");
	if (mkdtemp(f->root) == NULL)
		return -1;
	(void)snprintf(f->keys, sizeof(f->keys), "%s/keys", f->root);
	*state = f;
	return 0;
}

static void
rm_tree(const char *dir)
{
	char path[256];
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
teardown(void **state)
{
	struct fx *f = *state;

	rm_tree(f->root);
	free(f);
	return 0;
}

static int
file_mode(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
		stat(path, &st) != 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

static int
file_exists(const char *dir, const char *name)
{
	return file_mode(dir, name) >= 0;
}

static void
test_create_open_modes(void **state)
{
	struct fx *f = *state;
	struct keyring *kr = NULL;
	struct paso_diag d = {0};
	uint8_t id[16] = {1}, dk[32], w[KEYRING_WRAPPED_BYTES];
	struct dirent *de;
	DIR *dir;
	int n = 0;

	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(file_mode(f->root, "keys"), 0700);
	assert_int_equal(file_mode(f->keys, "pseudonym.key"), 0600);
	assert_int_equal(file_mode(f->keys, "cardindex.key"), 0600);
	assert_int_equal(keyring_create(f->keys), PASO_E_EXISTS);

	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(keyring_kek_count(kr), 0);
	randombytes_buf(dk, sizeof(dk));
	/* The first wrap for an epoch creates its KEK file, 0600. */
	assert_int_equal(keyring_wrap(kr, 20000, id, dk, w), 0);
	assert_int_equal(keyring_kek_count(kr), 1);
	assert_int_equal(file_mode(f->keys, "kek-00004e20-00000000.key"), 0600);
	keyring_close(kr);

	/* Every file in the directory is private. */
	assert_non_null(dir = opendir(f->keys));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_int_equal(file_mode(f->keys, de->d_name), 0600);
		n++;
	}
	closedir(dir);
	assert_int_equal(n, 3);
}

static void
test_open_refuses_loose_modes_and_corruption(void **state)
{
	struct fx *f = *state;
	struct keyring *kr = NULL;
	struct paso_diag d = {0};
	char path[256];
	uint8_t b;
	int fd;

	assert_int_equal(keyring_create(f->keys), 0);
	(void)snprintf(path, sizeof(path), "%s/pseudonym.key", f->keys);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(keyring_open(f->keys, &kr, &d), PASO_E_IO);
	assert_null(kr);
	assert_non_null(strstr(d.msg, "pseudonym.key"));
	assert_non_null(strstr(d.msg, "0644"));
	assert_int_equal(chmod(path, 0600), 0);

	/* One flipped key byte is caught by the file's check value. */
	assert_true((fd = open(path, O_RDWR)) >= 0);
	assert_int_equal(pread(fd, &b, 1, 30), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, 30), 1);
	close(fd);
	assert_int_equal(keyring_open(f->keys, &kr, &d), PASO_E_CORRUPT);
	assert_non_null(strstr(d.msg, "pseudonym.key"));

	assert_int_equal(keyring_open("/nonexistent/paso/keys", &kr, &d), PASO_E_NOT_FOUND);
}

static void
test_wrap_unwrap_bound_to_subject_and_kek(void **state)
{
	struct fx *f = *state;
	struct keyring *kr = NULL;
	struct paso_diag d = {0};
	uint8_t a[16], b[16], dk[32], out[32], w[KEYRING_WRAPPED_BYTES], w2[KEYRING_WRAPPED_BYTES];
	uint32_t e, g;

	randombytes_buf(a, sizeof(a));
	memcpy(b, a, sizeof(b));
	b[15] ^= 1;
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(keyring_wrap(kr, 7, a, dk, w), 0);
	assert_int_equal(keyring_wrapped_kek(w, &e, &g), 0);
	assert_int_equal(e, 7);
	assert_int_equal(g, 0);
	/* The DK never appears in the wrapped bytes. */
	assert_null(memmem(w, sizeof(w), dk, 8));

	assert_int_equal(keyring_unwrap(kr, a, w, out), 0);
	assert_memory_equal(out, dk, 32);
	/* Wrong subject id in the AD. */
	assert_int_equal(keyring_unwrap(kr, b, w, out), PASO_E_CRYPTO);
	assert_memory_not_equal(out, dk, 32);
	/* Tampered ciphertext. */
	memcpy(w2, w, sizeof(w));
	w2[40] ^= 0x80;
	assert_int_equal(keyring_unwrap(kr, a, w2, out), PASO_E_CRYPTO);
	/* Relabelled to another live KEK: the KEK id is in the AD and the key differs. */
	assert_int_equal(keyring_wrap(kr, 8, a, dk, w2), 0);
	memcpy(w2 + 1, w + 1, 8);
	assert_int_equal(keyring_unwrap(kr, a, w2, out), PASO_E_CRYPTO);
	/* Names a KEK that does not exist. */
	memcpy(w2, w, sizeof(w));
	w2[4] ^= 0x10;
	assert_int_equal(keyring_unwrap(kr, a, w2, out), PASO_E_KEY_NOT_FOUND);
	/* Unknown format version. */
	memcpy(w2, w, sizeof(w));
	w2[0] = 9;
	assert_int_equal(keyring_unwrap(kr, a, w2, out), PASO_E_CORRUPT);
	keyring_close(kr);

	/* Same keys after reopening. */
	kr = NULL;
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(keyring_unwrap(kr, a, w, out), 0);
	assert_memory_equal(out, dk, 32);
	keyring_close(kr);
}

static void
test_pseudonym_and_card_index(void **state)
{
	struct fx *f = *state;
	struct keyring *kr = NULL, *kr2 = NULL;
	struct paso_diag d = {0};
	char keys2[128];
	uint8_t id[16] = {0}, p1[32], p2[32], c1[32], c2[32], c3[32], dk[32] = {1}, dk2[32] = {2};

	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(keyring_pseudonym(kr, id, dk, p1), 0);
	assert_int_equal(keyring_pseudonym(kr, id, dk, p2), 0);
	assert_memory_equal(p1, p2, 32);
	/* Bound to the data key: without it (shredded) the pseudonym cannot be recomputed. */
	assert_int_equal(keyring_pseudonym(kr, id, dk2, p2), 0);
	assert_memory_not_equal(p1, p2, 32);
	assert_int_equal(keyring_card_index(kr, "GT-0001", 7, c1), 0);
	assert_int_equal(keyring_card_index(kr, "GT-0002", 7, c2), 0);
	assert_memory_not_equal(c1, c2, 32);
	/* The two keys are separate: same input bytes, different outputs. */
	assert_int_equal(keyring_card_index(kr, (const char *)id, 16, c3), 0);
	assert_memory_not_equal(c3, p1, 32);
	assert_int_equal(keyring_card_index(kr, "", 0, c3), PASO_E_INVALID_ARG);

	/* Another deployment's keys give unlinkable values. */
	(void)snprintf(keys2, sizeof(keys2), "%s/keys2", f->root);
	assert_int_equal(keyring_create(keys2), 0);
	assert_int_equal(keyring_open(keys2, &kr2, &d), 0);
	assert_int_equal(keyring_pseudonym(kr2, id, dk, p2), 0);
	assert_memory_not_equal(p1, p2, 32);
	assert_int_equal(keyring_card_index(kr2, "GT-0001", 7, c2), 0);
	assert_memory_not_equal(c1, c2, 32);
	keyring_close(kr2);
	keyring_close(kr);
}

static void
test_rotate_and_shred(void **state)
{
	struct fx *f = *state;
	struct keyring *kr = NULL;
	struct paso_diag d = {0};
	uint8_t id[16] = {9}, dk[32], out[32], w0[KEYRING_WRAPPED_BYTES], w1[KEYRING_WRAPPED_BYTES];
	uint8_t wother[KEYRING_WRAPPED_BYTES];
	char name[KEYRING_KEYID_STRLEN];
	uint32_t gen;
	size_t n;

	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(keyring_wrap(kr, 3, id, dk, w0), 0);
	assert_int_equal(keyring_wrap(kr, 4, id, dk, wother), 0);
	assert_int_equal(keyring_rotate_epoch(kr, 3, &gen), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(keyring_wrap(kr, 3, id, dk, w1), 0);
	assert_int_equal(w1[8], 1); /* generation 1 in the KEK id */
	keyring_kek_id_str(3, 1, name);
	assert_string_equal(name, "kek:00000003.00000001");

	/* Shred everything below the current generation: the old wrap dies, the new one lives. */
	assert_int_equal(keyring_shred_epoch(kr, 3, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_false(file_exists(f->keys, "kek-00000003-00000000.key"));
	assert_true(file_exists(f->keys, "kek-00000003-00000000.shredded"));
	assert_int_equal(keyring_unwrap(kr, id, w0, out), PASO_E_KEY_NOT_FOUND);
	assert_int_equal(keyring_unwrap(kr, id, w1, out), 0);
	assert_int_equal(keyring_unwrap(kr, id, wother, out), 0);
	keyring_close(kr);

	/* A reopened keyring agrees, and never reuses a shredded id. */
	kr = NULL;
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(keyring_unwrap(kr, id, w0, out), PASO_E_KEY_NOT_FOUND);
	assert_int_equal(keyring_unwrap(kr, id, w1, out), 0);
	assert_int_equal(keyring_shred_epoch(kr, 3, KEYRING_SHRED_ALL, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(keyring_unwrap(kr, id, w1, out), PASO_E_KEY_NOT_FOUND);
	assert_int_equal(keyring_epoch_current(kr, 3, &gen), PASO_E_NOT_FOUND);
	assert_int_equal(keyring_wrap(kr, 3, id, dk, w1), 0);
	assert_int_equal(keyring_epoch_current(kr, 3, &gen), 0);
	assert_int_equal(gen, 2);
	assert_int_equal(keyring_unwrap(kr, id, wother, out), 0);
	keyring_close(kr);
}

static void
test_open_finishes_interrupted_shred(void **state)
{
	struct fx *f = *state;
	struct keyring *kr = NULL;
	struct paso_diag d = {0};
	uint8_t id[16] = {5}, dk[32] = {1}, out[32], w[KEYRING_WRAPPED_BYTES];
	char path[256];
	int fd;

	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(keyring_wrap(kr, 11, id, dk, w), 0);
	keyring_close(kr);
	/* A crash after the tombstone was written but before the key file was removed. */
	(void)snprintf(path, sizeof(path), "%s/kek-0000000b-00000000.shredded", f->keys);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	kr = NULL;
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_false(file_exists(f->keys, "kek-0000000b-00000000.key"));
	assert_int_equal(keyring_unwrap(kr, id, w, out), PASO_E_KEY_NOT_FOUND);
	keyring_close(kr);
}

/* Template protection keys: durable, per holder, renewed by rotation and destroyed by shredding. */
/* Threads sealing at once under epochs that have no KEK yet (each seal may be the one that
 * makes it): every epoch gets exactly one KEK, generation 0, and every seal opens. */
#define RACE_THREADS 4
#define RACE_EPOCHS 40

struct race {
	struct keyring *kr;
	pthread_barrier_t *go;
	uint8_t sealed[RACE_EPOCHS][KEYRING_SEAL_OVERHEAD + 8];
	int rc;
};

static void *
race_seal(void *arg)
{
	struct race *r = arg;
	uint8_t msg[8] = {'c', 'r', 'o', 's', 's', 'i', 'n', 'g'};
	uint32_t e;

	(void)pthread_barrier_wait(r->go);
	for (e = 0; e < RACE_EPOCHS && r->rc == 0; e++)
		r->rc = keyring_seal(
			r->kr, 500 + e, (const uint8_t *)"ad", 2, msg, sizeof(msg), r->sealed[e]);
	return NULL;
}

static void
test_concurrent_seals_make_one_kek(void **state)
{
	struct fx *f = *state;
	struct keyring *kr = NULL;
	struct paso_diag d = {0};
	pthread_barrier_t go;
	pthread_t th[RACE_THREADS];
	struct race *r = calloc(RACE_THREADS, sizeof(*r));
	uint8_t out[8];
	uint32_t e, gen;
	int i;

	assert_non_null(r);
	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(pthread_barrier_init(&go, NULL, RACE_THREADS), 0);
	for (i = 0; i < RACE_THREADS; i++) {
		r[i].kr = kr;
		r[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, race_seal, &r[i]), 0);
	}
	for (i = 0; i < RACE_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(keyring_kek_count(kr), RACE_EPOCHS);
	for (e = 0; e < RACE_EPOCHS; e++) {
		assert_int_equal(keyring_epoch_current(kr, 500 + e, &gen), 0);
		assert_int_equal(gen, 0);
	}
	for (i = 0; i < RACE_THREADS; i++) {
		assert_int_equal(r[i].rc, 0);
		for (e = 0; e < RACE_EPOCHS; e++) {
			assert_int_equal(keyring_unseal(kr, (const uint8_t *)"ad", 2,
						 r[i].sealed[e], sizeof(r[i].sealed[e]), out),
				0);
			assert_memory_equal(out, "crossing", 8);
		}
	}
	/* Destroyed under the same lock: the seals of a shredded epoch no longer open. */
	assert_int_equal(keyring_shred_epoch(kr, 500, KEYRING_SHRED_ALL, NULL), 0);
	assert_int_equal(keyring_unseal(kr, (const uint8_t *)"ad", 2, r[0].sealed[0],
				 sizeof(r[0].sealed[0]), out),
		PASO_E_KEY_NOT_FOUND);
	(void)pthread_barrier_destroy(&go);
	keyring_close(kr);
	free(r);
}

static void
test_protect_keys(void **state)
{
	struct fx *f = *state;
	struct keyring *kr = NULL;
	struct paso_diag d = {0};
	uint8_t hub0[32], hub0b[32], partner0[32], hub1[32], again[32];
	uint32_t gen = 99;
	size_t n;

	assert_int_equal(keyring_create(f->keys), 0);
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(keyring_protect_key(kr, 0, "hub", again, NULL), PASO_E_KEY_NOT_FOUND);
	assert_int_equal(keyring_protect_key(kr, KEYRING_PROTECT_CURRENT, "hub", hub0, &gen), 0);
	assert_int_equal(gen, 0);
	assert_true(file_exists(f->keys, "kek-fffffffe-00000000.key"));
	assert_int_equal(keyring_protect_key(kr, KEYRING_PROTECT_CURRENT, "", again, NULL),
		PASO_E_INVALID_ARG);
	/* a partner's key differs from the hub's */
	assert_int_equal(keyring_protect_key(kr, 0, "partner:agency-b", partner0, NULL), 0);
	assert_memory_not_equal(hub0, partner0, 32);
	keyring_close(kr);

	/* the same key after reopening; renewal gives a new one and keeps the old until shredded */
	kr = NULL;
	assert_int_equal(keyring_open(f->keys, &kr, &d), 0);
	assert_int_equal(keyring_protect_key(kr, KEYRING_PROTECT_CURRENT, "hub", hub0b, &gen), 0);
	assert_memory_equal(hub0, hub0b, 32);
	assert_int_equal(keyring_rotate_epoch(kr, KEYRING_PROTECT_EPOCH, &gen), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(keyring_protect_key(kr, KEYRING_PROTECT_CURRENT, "hub", hub1, &gen), 0);
	assert_int_equal(gen, 1);
	assert_memory_not_equal(hub0, hub1, 32);
	assert_int_equal(keyring_protect_key(kr, 0, "hub", again, NULL), 0);
	assert_memory_equal(again, hub0, 32);
	assert_int_equal(keyring_shred_epoch(kr, KEYRING_PROTECT_EPOCH, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(keyring_protect_key(kr, 0, "hub", again, NULL), PASO_E_KEY_NOT_FOUND);
	assert_false(file_exists(f->keys, "kek-fffffffe-00000000.key"));
	keyring_close(kr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_open_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_concurrent_seals_make_one_kek, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_open_refuses_loose_modes_and_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_wrap_unwrap_bound_to_subject_and_kek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pseudonym_and_card_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_and_shred, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_open_finishes_interrupted_shred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protect_keys, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
