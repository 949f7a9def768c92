/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for registry/nonce.c: nonces never repeat, across refills, threads and fork(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "nonce.h"

#define N 24

static int
cmp_nonce(const void *a, const void *b)
{
	return memcmp(a, b, N);
}

/*
 * Takes count nonces from a new pool (every odd_every-th followed by an odd-sized take, so that
 * refills land mid-nonce; 0: none) and checks that every one differs from every other and none
 * is the wiped zeros of a byte already handed out.
 */
static void
take_distinct(size_t count, size_t odd_every)
{
	struct nonce_pool *p = NULL;
	uint8_t *all = malloc(count * N), odd[17], zero[N];
	size_t i;

	assert_non_null(all);
	memset(zero, 0, sizeof(zero));
	assert_int_equal(nonce_pool_new(&p), 0);
	for (i = 0; i < count; i++) {
		nonce_pool_take(p, all + i * N, N);
		if (odd_every > 0 && i % odd_every == 0)
			nonce_pool_take(p, odd, sizeof(odd));
		assert_memory_not_equal(all + i * N, zero, N);
	}
	qsort(all, count, N, cmp_nonce);
	for (i = 1; i < count; i++)
		assert_memory_not_equal(all + (i - 1) * N, all + i * N, N);
	nonce_pool_free(p);
	free(all);
}

/* Through dozens of refills, in odd sizes too. */
static void
test_distinct_across_refills(void **state)
{
	(void)state;
	take_distinct(20000, 7);
}

/* Past the pool's change of stream key from the OS (every 640 fills, ~107,000 nonces of 24
 * bytes). */
static void
test_distinct_across_rekey(void **state)
{
	(void)state;
	take_distinct(240000, 0);
}

/* A child after fork() never hands out the nonces its parent hands out next. */
static void
test_fork_child_differs(void **state)
{
	struct nonce_pool *p = NULL;
	uint8_t warm[N], mine[4][N], theirs[4][N];
	int fds[2], st = 0;
	pid_t pid;
	size_t i, j;

	(void)state;
	assert_int_equal(nonce_pool_new(&p), 0);
	nonce_pool_take(p, warm, sizeof(warm)); /* the pool is full of bytes the child shares */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t out[4][N];

		for (i = 0; i < 4; i++)
			nonce_pool_take(p, out[i], N);
		_exit(write(fds[1], out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 1);
	}
	for (i = 0; i < 4; i++)
		nonce_pool_take(p, mine[i], N);
	assert_int_equal(read(fds[0], theirs, sizeof(theirs)), (ssize_t)sizeof(theirs));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			assert_memory_not_equal(mine[i], theirs[j], N);
	close(fds[0]);
	close(fds[1]);
	nonce_pool_free(p);
}

struct taker {
	struct nonce_pool *p;
	uint8_t *out;
	size_t n;
};

static void *
take_many(void *arg)
{
	struct taker *t = arg;

	for (size_t i = 0; i < t->n; i++)
		nonce_pool_take(t->p, t->out + i * N, N);
	return NULL;
}

/* Threads drawing at once get disjoint nonces. */
static void
test_threads_distinct(void **state)
{
	enum { T = 4, PER = 3000 };
	struct nonce_pool *p = NULL;
	struct taker tk[T];
	pthread_t th[T];
	uint8_t *all = malloc((size_t)T * PER * N);
	size_t i;

	(void)state;
	assert_non_null(all);
	assert_int_equal(nonce_pool_new(&p), 0);
	for (i = 0; i < T; i++) {
		tk[i] = (struct taker){p, all + i * PER * N, PER};
		assert_int_equal(pthread_create(&th[i], NULL, take_many, &tk[i]), 0);
	}
	for (i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	qsort(all, (size_t)T * PER, N, cmp_nonce);
	for (i = 1; i < (size_t)T * PER; i++)
		assert_memory_not_equal(all + (i - 1) * N, all + i * N, N);
	nonce_pool_free(p);
	free(all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distinct_across_refills),
		cmocka_unit_test(test_distinct_across_rekey),
		cmocka_unit_test(test_fork_child_differs),
		cmocka_unit_test(test_threads_distinct),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
