/* SPDX-License-Identifier: Apache-2.0 */
/* Interoperability: Go's golang.org/x/mod/sumdb/tlog and sumdb/note (code Paso did not write)
 * verify a Paso log's tiles, checkpoint signature, inclusion and consistency proofs. Skipped,
 * saying so, when Go or x/mod is not installed (Debian: golang-go golang-golang-x-mod-dev). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "checkpoint.h"
#include "merkle.h"
#include "tlog_fixture.h"

#define GOPATH_DIR "/usr/share/gocode"

static char tmp[256], auditdir[300], tilesdir[300], vkeyfile[300], tool[300];
static char *log_skey, *log_vkey;
static struct checkpoint_signer *signer;
static uint64_t published[64];
static size_t npublished;
static int have_go;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
run(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int st;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	if (sodium_init() < 0)
		return -1;
	(void)snprintf(tmp, sizeof(tmp), "/tmp/paso-test-tlog-go-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	(void)snprintf(auditdir, sizeof(auditdir), "%s/audit", tmp);
	(void)snprintf(tilesdir, sizeof(tilesdir), "%s/audit/tiles", tmp);
	(void)snprintf(vkeyfile, sizeof(vkeyfile), "%s/log.vkey", tmp);
	(void)snprintf(tool, sizeof(tool), "%s/tlogcheck", tmp);
	if (checkpoint_keygen("paso.test/hub", &log_skey, &log_vkey) != 0 ||
		checkpoint_signer_from_text(log_skey, &signer) != 0)
		return -1;
	if ((f = fopen(vkeyfile, "w")) == NULL)
		return -1;
	fputs(log_vkey, f);
	fclose(f);
	have_go = run("command -v go >/dev/null 2>&1") == 0 &&
		  access(GOPATH_DIR "/src/golang.org/x/mod/sumdb/tlog/tlog.go", R_OK) == 0;
	if (!have_go)
		return 0;
	/* Offline, from the Debian package's sources only. */
	if (run("cd '%s/audit/go/tlogcheck' && GOENV=off GO111MODULE=off GOPATH=" GOPATH_DIR
		" GOPROXY=off GOFLAGS= GOCACHE='%s' go build -o '%s' . ",
		    PASO_TEST_SRC, PASO_GO_CACHE, tool) != 0)
		return -1;
	return fixture_grow(auditdir, tilesdir, signer, 70000, 5, published, 64, &npublished);
}

static int
teardown(void **state)
{
	(void)state;
	checkpoint_signer_free(signer);
	checkpoint_text_free(log_skey);
	free(log_vkey);
	if (getenv("PASO_KEEP_TMP") == NULL && run("rm -rf '%s'", tmp) != 0)
		return -1;
	return 0;
}

static void
skip_without_go(void)
{
	if (!have_go) {
		fprintf(stderr,
			"SKIPPED: Go or golang.org/x/mod is not installed (Debian 12: apt-get "
			"install golang-go golang-golang-x-mod-dev); the x/mod interop check "
			"did not run\n");
		skip();
	}
}

static void
test_go_verifies_paso_tiles(void **state)
{
	char olds[1024] = "";
	size_t k, used = 0;

	(void)state;
	skip_without_go();
	for (k = 0; k + 1 < npublished && k < 20; k++)
		used += (size_t)snprintf(olds + used, sizeof(olds) - used, " %llu",
			(unsigned long long)published[k]);
	assert_int_equal(run("'%s' '%s' '%s' %s >%s/out.txt 2>&1; rc=$?; cat %s/out.txt; exit $rc",
				 tool, tilesdir, vkeyfile, olds, tmp, tmp),
		0);
	assert_int_equal(run("grep -q '^OK x/mod/sumdb/tlog: 70000 entries, 277 tiles "
			     "recomputed' %s/out.txt",
				 tmp),
		0);
}

static void
forge_entry0(const char *base)
{
	char path[400];
	uint8_t b[1 << 16], leaf[MERKLE_HASH_BYTES];
	size_t len, l;
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/forged/tile/entries/000", base);
	assert_non_null(f = fopen(path, "r+b"));
	len = fread(b, 1, sizeof(b), f);
	assert_true(len > 2);
	l = ((size_t)b[0] << 8) | b[1];
	b[2 + l - 1] ^= 1;
	merkle_leaf_hash(b + 2, l, leaf);
	rewind(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	(void)snprintf(path, sizeof(path), "%s/forged/tile/0/000", base);
	assert_non_null(f = fopen(path, "r+b"));
	assert_int_equal(fwrite(leaf, 1, sizeof(leaf), f), sizeof(leaf));
	assert_int_equal(fclose(f), 0);
}

/* An entry rewritten together with its leaf hash: found by recomputing the level above. */
static void
test_go_names_forged_entry(void **state)
{
	(void)state;
	skip_without_go();
	assert_int_equal(run("rm -rf %s/forged && cp -r '%s' %s/forged", tmp, tilesdir, tmp), 0);
	/* Same forgery as test_tiles: a byte of entry 0's text and its leaf hash in tile/0/000. */
	forge_entry0(tmp);
	assert_int_equal(run("'%s' %s/forged '%s' >%s/out.txt 2>&1", tool, tmp, vkeyfile, tmp), 1);
	assert_int_equal(run("grep -q 'tile/1/000: hash 0 differs' %s/out.txt", tmp), 0);
}

static void
test_go_refuses_foreign_signature(void **state)
{
	char *sk = NULL, *vk = NULL;
	FILE *f;
	char path[400];

	(void)state;
	skip_without_go();
	assert_int_equal(checkpoint_keygen("paso.test/hub", &sk, &vk), 0);
	(void)snprintf(path, sizeof(path), "%s/other.vkey", tmp);
	assert_non_null(f = fopen(path, "w"));
	fputs(vk, f);
	fclose(f);
	assert_int_equal(run("'%s' '%s' '%s' >%s/out.txt 2>&1", tool, tilesdir, path, tmp), 1);
	assert_int_equal(run("grep -q 'checkpoint signature' %s/out.txt", tmp), 0);
	checkpoint_text_free(sk);
	free(vk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_go_verifies_paso_tiles),
		cmocka_unit_test(test_go_names_forged_entry),
		cmocka_unit_test(test_go_refuses_foreign_signature),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
