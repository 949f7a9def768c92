/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for audit/tiles.c (the writer), audit/tlogclient.c (the reader) and paso-audit's
 * tiles-verify, tiles-prove and follow: byte-exact layout, proofs from few tiles, forgeries named. */
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

#include "auditlog.h"
#include "checkpoint.h"
#include "httpmini.h"
#include "merkle.h"
#include "tiles.h"
#include "tlog_fixture.h"
#include "tlogclient.h"

#define H MERKLE_HASH_BYTES
#define N_ENTRIES 70000u /* a level-2 tile exists (> 65,536 leaves) */

static char tmp[256], auditdir[300], tilesdir[300], vkeyfile[300];
static char *log_skey, *log_vkey;
static struct checkpoint_signer *signer;
static struct checkpoint_verifier *verifier;
static uint64_t published[512];
static size_t npublished;

static void xsnprintf(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
xsnprintf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < cap);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command; returns its exit status. */
static int
run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint8_t *
read_all(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	if (b != NULL && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*lenp = (size_t)n;
	return b;
}

static void
write_all_file(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	if (sodium_init() < 0)
		return -1;
	xsnprintf(tmp, sizeof(tmp), "/tmp/paso-test-tiles-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	xsnprintf(auditdir, sizeof(auditdir), "%s/audit", tmp);
	xsnprintf(tilesdir, sizeof(tilesdir), "%s/audit/tiles", tmp);
	xsnprintf(vkeyfile, sizeof(vkeyfile), "%s/log.vkey", tmp);
	if (checkpoint_keygen("paso.test/hub", &log_skey, &log_vkey) != 0 ||
		checkpoint_signer_from_text(log_skey, &signer) != 0 ||
		checkpoint_verifier_from_vkey(log_vkey, &verifier) != 0)
		return -1;
	if ((f = fopen(vkeyfile, "w")) == NULL)
		return -1;
	fputs(log_vkey, f);
	fclose(f);
	return fixture_grow(auditdir, tilesdir, signer, N_ENTRIES, 1, published, 512, &npublished);
}

static int
teardown(void **state)
{
	(void)state;
	checkpoint_signer_free(signer);
	checkpoint_verifier_free(verifier);
	checkpoint_text_free(log_skey);
	free(log_vkey);
	if (getenv("PASO_KEEP_TMP") == NULL && run("rm -rf '%s'", tmp) != 0)
		return -1;
	return 0;
}

static void
test_path_encoding(void **state)
{
	char p[128];

	(void)state;
	assert_int_equal(tilepath_format(p, sizeof(p), 0, 1234067, 256), 0);
	assert_string_equal(p, "tile/0/x001/x234/067");
	assert_int_equal(tilepath_format(p, sizeof(p), 1, 0, 256), 0);
	assert_string_equal(p, "tile/1/000");
	assert_int_equal(tilepath_format(p, sizeof(p), 0, 1000, 7), 0);
	assert_string_equal(p, "tile/0/x001/000.p/7");
	assert_int_equal(tilepath_format(p, sizeof(p), TILEPATH_ENTRIES, 5, 255), 0);
	assert_string_equal(p, "tile/entries/005.p/255");
	assert_int_equal(tilepath_format(p, sizeof(p), 63, UINT64_MAX, 256), 0);
	assert_string_equal(p, "tile/63/x018/x446/x744/x073/x709/x551/615");
	assert_int_equal(tilepath_format(p, sizeof(p), 0, 1, 0), PASO_E_INVALID_ARG);
	assert_int_equal(tilepath_format(p, sizeof(p), 0, 1, 257), PASO_E_INVALID_ARG);
	assert_int_equal(tilepath_format(p, sizeof(p), 64, 1, 1), PASO_E_INVALID_ARG);
	assert_int_equal(tilepath_format(p, 8, 0, 1234067, 256), PASO_E_INVALID_ARG);
}

/* The files are byte-exact tlog-tiles: checked here against hashes computed independently. */
static void
test_layout_is_byte_exact(void **state)
{
	char path[512];
	uint8_t *b, leaf[H], node[H], lvl0[256][H];
	size_t len, p = 0, l;
	uint8_t *e;
	unsigned i, j;

	(void)state;
	/* Entry bundle 0: 256 times u16 big-endian length || AuditEntry bytes. */
	xsnprintf(path, sizeof(path), "%s/tile/entries/000", tilesdir);
	assert_non_null(b = read_all(path, &len));
	for (i = 0; i < 256; i++) {
		e = fixture_entry(i, 1, &l);
		assert_true(p + 2 + l <= len);
		assert_int_equal(((size_t)b[p] << 8) | b[p + 1], l);
		assert_memory_equal(b + p + 2, e, l);
		merkle_leaf_hash(e, l, lvl0[i]);
		free(e);
		p += 2 + l;
	}
	assert_int_equal(p, len);
	free(b);
	/* Level-0 tile 0: the 256 leaf hashes. */
	xsnprintf(path, sizeof(path), "%s/tile/0/000", tilesdir);
	assert_non_null(b = read_all(path, &len));
	assert_int_equal(len, 256 * H);
	assert_memory_equal(b, lvl0, 256 * H);
	free(b);
	/* Level-1 tile 0, hash 0: the root of level-0 tile 0. */
	for (l = 256; l > 1; l /= 2)
		for (j = 0; j < l / 2; j++)
			merkle_node_hash(lvl0[2 * j], lvl0[2 * j + 1], lvl0[j]);
	memcpy(node, lvl0[0], H);
	xsnprintf(path, sizeof(path), "%s/tile/1/000", tilesdir);
	assert_non_null(b = read_all(path, &len));
	assert_int_equal(len, 256 * H); /* 70,000 >> 8 = 273 hashes: tile 0 of level 1 is full */
	assert_memory_equal(b, node, H);
	free(b);
	/* The right edge of 70,000 = 273 * 256 + 112: partial tiles at each level. */
	xsnprintf(path, sizeof(path), "%s/tile/0/273.p/112", tilesdir);
	assert_non_null(b = read_all(path, &len));
	assert_int_equal(len, 112 * H);
	e = fixture_entry(273 * 256 + 111, 1, &l);
	merkle_leaf_hash(e, l, leaf);
	free(e);
	assert_memory_equal(b + 111 * H, leaf, H);
	free(b);
	xsnprintf(path, sizeof(path), "%s/tile/entries/273.p/112", tilesdir);
	assert_int_equal(access(path, R_OK), 0);
	xsnprintf(path, sizeof(path), "%s/tile/1/001.p/17", tilesdir);
	assert_non_null(b = read_all(path, &len));
	assert_int_equal(len, 17 * H);
	free(b);
	xsnprintf(path, sizeof(path), "%s/tile/2/000.p/1", tilesdir);
	assert_non_null(b = read_all(path, &len));
	assert_int_equal(len, H);
	free(b);
	/* No temporary file is left behind. */
	assert_int_equal(run("test -z \"$(find '%s' -name '*.tmp')\"", tilesdir), 0);
}

static void
test_client_proves_every_entry_from_few_tiles(void **state)
{
	struct tlogclient *c = NULL;
	struct tlogclient_report rep;
	struct merkle_frontier f;
	struct checkpoint cp;
	struct paso_diag d = {0};
	uint8_t *e, old_root[H];
	size_t len, k;
	uint64_t i, max_fetch = 0;
	struct auditlog *log = NULL;

	(void)state;
	assert_int_equal(tlogclient_open(tilesdir, verifier, &c, &d), 0);
	assert_int_equal(tlogclient_checkpoint(c, &cp, NULL, NULL, &d), 0);
	assert_int_equal(cp.size, N_ENTRIES);
	merkle_frontier_init(&f);
	assert_int_equal(tlogclient_verify_range(c, &cp, &f, 1, &rep, &d), 0);
	assert_int_equal(rep.entries, N_ENTRIES);
	assert_int_equal(rep.tiles, 274 + 2 + 1); /* level 0: 274, level 1: 2, level 2: 1 */
	for (i = 0; i < N_ENTRIES; i += 997) {
		tlogclient_drop_cache(c);
		tlogclient_reset_fetches(c);
		assert_int_equal(tlogclient_prove_entry(c, &cp, i, &e, &len, &d), 0);
		free(e);
		if (tlogclient_fetches(c) > max_fetch)
			max_fetch = tlogclient_fetches(c);
	}
	/* The bundle (which also gives the level-0 tile), the entry's level-1 tile, and the right
	 * edge's partial level-1 and level-0 tiles (70,000 is aligned to neither 256 nor 65,536);
	 * or, past 65,536, tile/2/000.p/1 instead of the entry's own level-1 tile. */
	assert_int_equal(max_fetch, 4);
	/* Consistency with every size published on the way. */
	assert_int_equal(auditlog_open_readonly(auditdir, &log, &d), 0);
	for (k = 0; k < npublished; k++) {
		assert_int_equal(auditlog_root(log, published[k], old_root), 0);
		assert_int_equal(
			tlogclient_check_consistency(c, published[k], old_root, &cp, &d), 0);
		old_root[0] ^= 1;
		assert_int_equal(tlogclient_check_consistency(c, published[k], old_root, &cp, &d),
			PASO_E_SPLIT_VIEW);
	}
	auditlog_close(log);
	assert_int_equal(
		tlogclient_prove_entry(c, &cp, N_ENTRIES, NULL, NULL, &d), PASO_E_INVALID_ARG);
	tlogclient_close(c);
}

/* ceil(log256 n): the tile levels of a tree of n > 1 leaves. */
static unsigned
tile_levels(uint64_t n)
{
	unsigned l = 1;
	uint64_t p = 256;

	while (p < n) {
		p *= 256;
		l++;
	}
	return l;
}

/*
 * At every size published on the way (aligned or not), a client holding the verified right edge
 * (as paso-audit follow does) proves any entry from at most ceil(log256 n) reads, the bundle
 * and one tile per level above it; without it, from at most 2 ceil(log256 n) - 1.
 */
static void
test_reads_per_proof_at_every_published_size(void **state)
{
	static const uint64_t sizes[] = {1, 2, 3, 255, 256, 257, 511, 512, 1000, 4097, 65535, 65536,
		65537, 65792, 65793, 70000, 100000, 131071, 131072, 131073, 131328, 150000, 196608,
		196609, 340000}; /* the last in one tiles_sync: three writer jobs */
	struct checkpoint_verifier *v = verifier;
	struct auditlog *log = NULL;
	struct tlogclient *c = NULL;
	struct tiles *t = NULL;
	struct merkle_frontier f, none;
	struct checkpoint cp;
	struct paso_diag d = {0};
	char a[400], tl[400], *note;
	uint8_t *e;
	uint64_t idx, rng = 7, cold, warm, max_cold = 0, max_edge = 0;
	size_t k, j, len, nl;
	unsigned l;

	(void)state;
	xsnprintf(a, sizeof(a), "%s/sizes", tmp);
	xsnprintf(tl, sizeof(tl), "%s/sizes/tiles", tmp);
	assert_int_equal(auditlog_open(a, &log, &d), 0);
	assert_int_equal(tiles_open(tl, &t, &d), 0);
	assert_int_equal(tlogclient_open(tl, v, &c, &d), 0);
	merkle_frontier_init(&none);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		while (auditlog_size(log) < sizes[k]) {
			assert_non_null(e = fixture_entry(auditlog_size(log), 9, &len));
			assert_int_equal(auditlog_append(log, e, len, NULL), 0);
			free(e);
		}
		assert_int_equal(auditlog_sync(log), 0);
		assert_int_equal(tiles_sync(t, log, &d), 0);
		assert_int_equal(auditlog_checkpoint(log, signer), 0);
		assert_int_equal(auditlog_latest_checkpoint(log, &note, &nl), 0);
		assert_int_equal(tiles_publish(t, log, note, nl, &d), 0);
		free(note);
		memset(&cp, 0, sizeof(cp));
		cp.size = sizes[k];
		assert_int_equal(auditlog_root(log, cp.size, cp.root), 0);
		/* The right edge as paso-audit follow remembers it. */
		merkle_frontier_init(&f);
		f.size = cp.size;
		for (l = 0; l < 64; l++)
			if ((cp.size >> l) & 1)
				assert_int_equal(
					auditlog_node(log, l, (cp.size >> l) - 1, f.h[l]), 0);
		for (j = 0; j < 40; j++) {
			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			idx = j == 0 ? 0 : j == 1 ? cp.size - 1 : (rng >> 11) % cp.size;
			tlogclient_set_edge(c, &none);
			tlogclient_drop_cache(c);
			tlogclient_reset_fetches(c);
			assert_int_equal(tlogclient_prove_entry(c, &cp, idx, NULL, NULL, &d), 0);
			cold = tlogclient_fetches(c);
			tlogclient_set_edge(c, &f);
			tlogclient_drop_cache(c);
			tlogclient_reset_fetches(c);
			assert_int_equal(tlogclient_prove_entry(c, &cp, idx, NULL, NULL, &d), 0);
			warm = tlogclient_fetches(c);
			if (cp.size > 1) {
				assert_true(cold <= 2 * tile_levels(cp.size) - 1);
				assert_true(warm <= tile_levels(cp.size));
			}
			/* Aligned to a full top-level tile: no partial tile below the top. */
			if (cp.size % 65536 == 0 || cp.size <= 256)
				assert_true(cold <= tile_levels(cp.size) + 1);
			max_cold = cold > max_cold ? cold : max_cold;
			max_edge = warm > max_edge ? warm : max_edge;
		}
	}
	assert_int_equal(max_cold, 5); /* e.g. entry 0 of 150,000: bundle, 1/000, 2/000.p/2,
					  1/002.p/73, 0/585.p/240 */
	assert_int_equal(max_edge, 3);
	/* A wrong edge makes the proof fail, never pass. */
	f.h[(unsigned)__builtin_ctzll(f.size)][0] ^= 1;
	tlogclient_set_edge(c, &f);
	tlogclient_drop_cache(c);
	assert_int_equal(tlogclient_prove_entry(c, &cp, 0, NULL, NULL, &d), PASO_E_PROOF_INVALID);
	tlogclient_close(c);
	tiles_close(t);
	auditlog_close(log);
}

/* Frames (u32 length || 4-byte check || bytes) become a bundle in place; bad framing is refused. */
static void
test_frames_to_bundle(void **state)
{
	uint8_t b[64] = {0, 0, 0, 3, 9, 9, 9, 9, 'a', 'b', 'c', 0, 0, 0, 0, 8, 8, 8, 8, 0, 0, 0, 1,
		7, 7, 7, 7, 'z'};
	const uint8_t want[] = {0, 3, 'a', 'b', 'c', 0, 0, 0, 1, 'z'};
	uint8_t bad[16] = {0, 0, 0, 9, 1, 2, 3, 4, 'x'};
	uint8_t big[16] = {0, 1, 0, 0, 1, 2, 3, 4};
	size_t used, made;

	(void)state;
	assert_int_equal(auditlog_frames_to_bundle(b, 28, 3, &used, &made), 0);
	assert_int_equal(used, 28);
	assert_int_equal(made, sizeof(want));
	assert_memory_equal(b, want, sizeof(want));
	/* A frame longer than what is left, a length over 65,535, more frames than there are. */
	assert_int_equal(auditlog_frames_to_bundle(bad, 9, 1, &used, &made), PASO_E_AUDIT_CORRUPT);
	assert_int_equal(auditlog_frames_to_bundle(big, 16, 1, &used, &made), PASO_E_AUDIT_CORRUPT);
	assert_int_equal(auditlog_frames_to_bundle(bad, 3, 1, &used, &made), PASO_E_AUDIT_CORRUPT);
}

static void
test_client_over_http(void **state)
{
	struct httpmini_server *s = NULL;
	struct tlogclient *c = NULL;
	struct checkpoint cp;
	struct paso_diag d = {0};
	char url[128];
	uint8_t *e;
	size_t len;

	(void)state;
	assert_int_equal(httpmini_server_start("127.0.0.1", "0", 0, 5000, httpmini_static_handler,
				 tilesdir, &s, &d),
		0);
	xsnprintf(url, sizeof(url), "http://127.0.0.1:%u/", httpmini_server_port(s));
	assert_int_equal(tlogclient_open(url, verifier, &c, &d), 0);
	assert_int_equal(tlogclient_checkpoint(c, &cp, NULL, NULL, &d), 0);
	tlogclient_reset_fetches(c);
	assert_int_equal(tlogclient_prove_entry(c, &cp, 12345, &e, &len, &d), 0);
	assert_true(tlogclient_fetches(c) <= 7);
	free(e);
	tlogclient_close(c);
	/* A base with nothing under it: the checkpoint is not found, and said so. */
	xsnprintf(url, sizeof(url), "http://127.0.0.1:%u/nothing/", httpmini_server_port(s));
	assert_int_equal(tlogclient_open(url, verifier, &c, &d), 0);
	assert_int_equal(tlogclient_checkpoint(c, &cp, NULL, NULL, &d), PASO_E_NOT_FOUND);
	assert_non_null(strstr(d.msg, "404"));
	tlogclient_close(c);
	httpmini_server_stop(s);
	assert_int_equal(
		tlogclient_open("https://example.org/", verifier, &c, &d), PASO_E_INVALID_ARG);
	assert_int_equal(
		tlogclient_open("http://127.0.0.1:x/", verifier, &c, &d), PASO_E_INVALID_ARG);
}

/* The forgery x/mod 0.7.0's TileHashReader accepts: an entry and its leaf hash both rewritten. */
static void
test_forged_entry_and_tile_are_named(void **state)
{
	char copy[400], path[600];
	struct tlogclient *c = NULL;
	struct tlogclient_report rep;
	struct merkle_frontier f;
	struct checkpoint cp;
	struct paso_diag d = {0};
	uint8_t *b, leaf[H];
	size_t len, l0;

	(void)state;
	xsnprintf(copy, sizeof(copy), "%s/forged", tmp);
	assert_int_equal(run("rm -rf '%s' && cp -r '%s' '%s'", copy, tilesdir, copy), 0);
	/* Rewrite entry 3's text in bundle 0 (same length) and its leaf hash in tile/0/000. */
	xsnprintf(path, sizeof(path), "%s/tile/entries/000", copy);
	assert_non_null(b = read_all(path, &len));
	{
		size_t p = 0, k;

		for (k = 0; k < 3; k++)
			p += 2 + (((size_t)b[p] << 8) | b[p + 1]);
		l0 = ((size_t)b[p] << 8) | b[p + 1];
		b[p + 2 + l0 - 1] ^= 0x01; /* last byte of entry 3 */
		merkle_leaf_hash(b + p + 2, l0, leaf);
	}
	write_all_file(path, b, len);
	free(b);
	xsnprintf(path, sizeof(path), "%s/tile/0/000", copy);
	assert_non_null(b = read_all(path, &len));
	memcpy(b + 3 * H, leaf, H);
	write_all_file(path, b, len);
	free(b);

	assert_int_equal(tlogclient_open(copy, verifier, &c, &d), 0);
	assert_int_equal(tlogclient_checkpoint(c, &cp, NULL, NULL, &d), 0);
	merkle_frontier_init(&f);
	assert_int_equal(tlogclient_verify_range(c, &cp, &f, 1, &rep, &d), PASO_E_AUDIT_CORRUPT);
	assert_non_null(strstr(d.msg, "tile/1/000: hash 0"));
	assert_int_equal(tlogclient_prove_entry(c, &cp, 3, NULL, NULL, &d), PASO_E_PROOF_INVALID);
	assert_non_null(strstr(d.msg, "entry 3"));
	/* An untouched entry still proves: the damage is local. */
	assert_int_equal(tlogclient_prove_entry(c, &cp, 300, NULL, NULL, &d), 0);
	tlogclient_close(c);
	/* The CLI says the same and exits 1. */
	assert_int_equal(run("%s/paso-audit tiles-verify '%s' --key '%s' 2>%s/err.txt",
				 PASO_BIN_DIR, copy, vkeyfile, tmp),
		1);
	assert_int_equal(run("grep -q 'tile/1/000: hash 0' %s/err.txt", tmp), 0);
	/* A proof takes the entry's level-0 tile from its bundle: a truncated one is not read. */
	xsnprintf(path, sizeof(path), "%s/tile/0/273.p/112", copy);
	assert_int_equal(truncate(path, 100 * H), 0);
	assert_int_equal(tlogclient_open(copy, verifier, &c, &d), 0);
	assert_int_equal(tlogclient_checkpoint(c, &cp, NULL, NULL, &d), 0);
	assert_int_equal(tlogclient_prove_entry(c, &cp, N_ENTRIES - 1, NULL, NULL, &d), 0);
	/* A truncated tile the proof does read is named by its path. */
	xsnprintf(path, sizeof(path), "%s/tile/1/001.p/17", copy);
	assert_int_equal(truncate(path, 10 * H), 0);
	tlogclient_drop_cache(c);
	assert_int_equal(tlogclient_prove_entry(c, &cp, N_ENTRIES - 1, NULL, NULL, &d),
		PASO_E_AUDIT_CORRUPT);
	assert_non_null(strstr(d.msg, "tile/1/001.p/17"));
	tlogclient_close(c);
}

static void
test_cli_prove_and_follow(void **state)
{
	char st[400], old_cp[400];

	(void)state;
	xsnprintf(st, sizeof(st), "%s/follow-state", tmp);
	xsnprintf(old_cp, sizeof(old_cp), "%s/old.checkpoint", tmp);
	assert_int_equal(run("%s/paso-audit tiles-prove '%s' --key '%s' --index 4242 "
			     ">%s/out.txt 2>%s/err.txt",
				 PASO_BIN_DIR, tilesdir, vkeyfile, tmp, tmp),
		0);
	assert_int_equal(run("grep -q '^#4242 .*test entry 4242 of run 1' %s/out.txt", tmp), 0);
	assert_int_equal(
		run("grep -q 'entry 4242 is in the log of 70000 entries' %s/err.txt", tmp), 0);
	/* Usage errors exit 2 and say what is missing. */
	assert_int_equal(run("%s/paso-audit tiles-prove '%s' --index 1 2>%s/err.txt", PASO_BIN_DIR,
				 tilesdir, tmp),
		2);
	assert_int_equal(run("grep -q -- '--key' %s/err.txt", tmp), 0);
	assert_int_equal(run("%s/paso-audit follow '%s' --key '%s' 2>/dev/null", PASO_BIN_DIR,
				 tilesdir, vkeyfile),
		2);

	/* First follow: everything verified; the second one: nothing new. */
	assert_int_equal(run("%s/paso-audit follow '%s' --key '%s' --state '%s' >%s/out.txt",
				 PASO_BIN_DIR, tilesdir, vkeyfile, st, tmp),
		0);
	assert_int_equal(run("grep -q 'followed: 70000 new entries' %s/out.txt", tmp), 0);
	/* Against what was followed: the bundle and the level-1 tile (the level-2 tile is not on
	 * entry 4242's path below 65,536), no checkpoint, no edge tile. */
	assert_int_equal(run("%s/paso-audit tiles-prove '%s' --key '%s' --index 4242 --state '%s' "
			     ">%s/out.txt 2>%s/err.txt",
				 PASO_BIN_DIR, tilesdir, vkeyfile, st, tmp, tmp),
		0);
	assert_int_equal(run("grep -q '^#4242 .*test entry 4242 of run 1' %s/out.txt", tmp), 0);
	assert_int_equal(run("grep -q '70000 entries.*(2 files fetched, against the checkpoint and "
			     "right edge followed)' %s/err.txt",
				 tmp),
		0);
	assert_int_equal(run("%s/paso-audit tiles-prove '%s' --key '%s' --index 70000 --state '%s' "
			     "2>%s/err.txt",
				 PASO_BIN_DIR, tilesdir, vkeyfile, st, tmp),
		2);
	assert_int_equal(
		run("grep -q 'entry 70000 is past the 70000 entries followed' %s/err.txt", tmp), 0);
	assert_int_equal(run("cp '%s/checkpoint' '%s'", tilesdir, old_cp), 0);
	/* A copy of the log as it is now, to fork later. */
	assert_int_equal(run("cp -r '%s' '%s/other-audit'", auditdir, tmp), 0);
	/* The log grows: only the new entries are fetched and verified. */
	assert_int_equal(fixture_grow(auditdir, tilesdir, signer, 1000, 1, NULL, 0, NULL), 0);
	assert_int_equal(run("%s/paso-audit follow '%s' --key '%s' --state '%s' >%s/out.txt",
				 PASO_BIN_DIR, tilesdir, vkeyfile, st, tmp),
		0);
	assert_int_equal(run("grep -q 'followed: 1000 new entries verified (70000..71000)' "
			     "%s/out.txt",
				 tmp),
		0);
	/* Rollback: the operator puts back the older checkpoint. */
	assert_int_equal(run("cp '%s/checkpoint' '%s/new.checkpoint' && cp '%s' '%s/checkpoint'",
				 tilesdir, tmp, old_cp, tilesdir),
		0);
	assert_int_equal(run("%s/paso-audit follow '%s' --key '%s' --state '%s' 2>%s/err.txt",
				 PASO_BIN_DIR, tilesdir, vkeyfile, st, tmp),
		1);
	assert_int_equal(run("grep -q 'ROLLBACK' %s/err.txt", tmp), 0);
	assert_int_equal(run("cp '%s/new.checkpoint' '%s/checkpoint'", tmp, tilesdir), 0);
	/* Split view: another history signed by the same key, forked at 70000 (before what the
	 * follower saw) and grown past it. */
	{
		char oa[500], ot[500];

		xsnprintf(oa, sizeof(oa), "%s/other-audit", tmp);
		xsnprintf(ot, sizeof(ot), "%s/other-audit/tiles", tmp);
		assert_int_equal(fixture_grow(oa, ot, signer, 2000, 2, NULL, 0, NULL), 0);
		assert_int_equal(run("%s/paso-audit follow '%s' --key '%s' --state '%s' "
				     "2>%s/err.txt",
					 PASO_BIN_DIR, ot, vkeyfile, st, tmp),
			1);
		assert_int_equal(run("grep -q 'SPLIT_VIEW' %s/err.txt", tmp), 0);
	}
	/* The state was not moved by the refusals: the genuine log still follows. */
	assert_int_equal(run("%s/paso-audit follow '%s' --key '%s' --state '%s' >%s/out.txt",
				 PASO_BIN_DIR, tilesdir, vkeyfile, st, tmp),
		0);
	assert_int_equal(run("grep -q 'followed: 0 new entries' %s/out.txt", tmp), 0);
}

static void
test_tiles_recover_and_refuse_another_log(void **state)
{
	char a[400], t[400], cmd[1000];
	struct auditlog *log = NULL;
	struct tiles *tl = NULL;
	struct paso_diag d = {0};
	struct tlogclient *c = NULL;
	struct tlogclient_report rep;
	struct merkle_frontier f;
	struct checkpoint cp;

	(void)state;
	xsnprintf(a, sizeof(a), "%s/rec", tmp);
	xsnprintf(t, sizeof(t), "%s/rec/tiles", tmp);
	assert_int_equal(fixture_grow(a, t, signer, 3000, 3, NULL, 0, NULL), 0);
	/* A crash lost every tile written since the last flush (here: all of them, as no
	 * flush happened yet): the next start rewrites them before anything else. */
	assert_int_equal(run("rm -rf '%s/tile/0' '%s/tile/entries'", t, t), 0);
	assert_int_equal(fixture_grow(a, t, signer, 500, 3, NULL, 0, NULL), 0);
	assert_int_equal(tlogclient_open(t, verifier, &c, &d), 0);
	assert_int_equal(tlogclient_checkpoint(c, &cp, NULL, NULL, &d), 0);
	assert_int_equal(cp.size, 3500);
	merkle_frontier_init(&f);
	assert_int_equal(tlogclient_verify_range(c, &cp, &f, 1, &rep, &d), 0);
	assert_int_equal(rep.entries, 3500);
	tlogclient_close(c);
	/* The repair recorded 3000 as flushed: a tile below it is not rewritten (nothing but
	 * damage can remove it), and the full check names it. */
	assert_int_equal(run("grep -qx 3000 '%s/.durable'", t), 0);
	assert_int_equal(run("rm '%s/tile/0/000'", t), 0);
	assert_int_equal(fixture_grow(a, t, signer, 10, 3, NULL, 0, NULL), 0);
	assert_int_equal(tlogclient_open(t, verifier, &c, &d), 0);
	assert_int_equal(tlogclient_checkpoint(c, &cp, NULL, NULL, &d), 0);
	merkle_frontier_init(&f);
	assert_int_equal(tlogclient_verify_range(c, &cp, &f, 1, &rep, &d), PASO_E_NOT_FOUND);
	assert_non_null(strstr(d.msg, "tile/0/000"));
	tlogclient_close(c);
	/* Tiles of another log are refused, not overwritten. */
	xsnprintf(cmd, sizeof(cmd), "%s/rec2", tmp);
	assert_int_equal(
		fixture_grow(cmd, t, signer, 4000, 4, NULL, 0, NULL), PASO_E_AUDIT_CORRUPT);
	assert_int_equal(auditlog_open(cmd, &log, &d), 0);
	assert_int_equal(tiles_open(t, &tl, &d), 0);
	assert_int_equal(tiles_sync(tl, log, &d), PASO_E_AUDIT_CORRUPT);
	assert_non_null(strstr(d.msg, "checkpoint"));
	tiles_close(tl);
	auditlog_close(log);
}

/* A tile the writer thread cannot write fails the next call, naming it; the next start rewrites
 * every tile after the last flush and the tiles verify again. */
static void
test_writer_failure_is_reported_and_repaired(void **state)
{
	char a[400], t[400];
	struct paso_diag d = {0};
	struct tlogclient *c = NULL;
	struct tlogclient_report rep;
	struct merkle_frontier f;
	struct checkpoint cp;

	(void)state;
	xsnprintf(a, sizeof(a), "%s/wf", tmp);
	xsnprintf(t, sizeof(t), "%s/wf/tiles", tmp);
	assert_int_equal(fixture_grow(a, t, signer, 1000, 5, NULL, 0, NULL), 0);
	/* A directory where the level-0 tile of entries 17,920..18,175 goes: rename fails. */
	assert_int_equal(run("mkdir -p '%s/tile/0/070/x' '%s/tile/entries/070/x'", t, t), 0);
	assert_int_not_equal(fixture_grow(a, t, signer, 20000, 5, NULL, 0, NULL), 0);
	assert_int_equal(run("rm -rf '%s/tile/0/070' '%s/tile/entries/070'", t, t), 0);
	assert_int_equal(fixture_grow(a, t, signer, 10, 5, NULL, 0, NULL), 0);
	assert_int_equal(tlogclient_open(t, verifier, &c, &d), 0);
	assert_int_equal(tlogclient_checkpoint(c, &cp, NULL, NULL, &d), 0);
	assert_true(cp.size > 18176);
	merkle_frontier_init(&f);
	assert_int_equal(tlogclient_verify_range(c, &cp, &f, 1, &rep, &d), 0);
	assert_int_equal(rep.entries, cp.size);
	tlogclient_close(c);
	(void)d;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_encoding),
		cmocka_unit_test(test_frames_to_bundle),
		cmocka_unit_test(test_layout_is_byte_exact),
		cmocka_unit_test(test_client_proves_every_entry_from_few_tiles),
		cmocka_unit_test(test_reads_per_proof_at_every_published_size),
		cmocka_unit_test(test_client_over_http),
		cmocka_unit_test(test_forged_entry_and_tile_are_named),
		cmocka_unit_test(test_tiles_recover_and_refuse_another_log),
		cmocka_unit_test(test_writer_failure_is_reported_and_repaired),
		cmocka_unit_test(test_cli_prove_and_follow),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
