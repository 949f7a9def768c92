/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for audit/auditlog.c and paso-audit: storage, recovery, proofs, and tampering detected and
 * named. */
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

#include "auditcheck.h"
#include "auditlog.h"
#include "checkpoint.h"
#include "errors.h"
#include "hex.h"
#include "merkle.h"
#include "paso.pb-c.h"

#define H MERKLE_HASH_BYTES

static char tmp[256];

/* snprintf that fails the test on truncation. */
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
static char *log_skey, *log_vkey, *evil_skey, *evil_vkey;
static struct checkpoint_signer *signer, *evil;
static int dirno;

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	xsnprintf(tmp, sizeof(tmp), "/tmp/paso-test-auditlog-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	if (checkpoint_keygen("paso.test/hub", &log_skey, &log_vkey) != 0 ||
		checkpoint_keygen("paso.test/hub", &evil_skey, &evil_vkey) != 0 ||
		checkpoint_signer_from_text(log_skey, &signer) != 0 ||
		checkpoint_signer_from_text(evil_skey, &evil) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[512];

	(void)state;
	checkpoint_signer_free(signer);
	checkpoint_signer_free(evil);
	checkpoint_text_free(log_skey);
	checkpoint_text_free(evil_skey);
	free(log_vkey);
	free(evil_vkey);
	if (getenv("PASO_KEEP_TMP") == NULL) {
		xsnprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

/* A fresh directory path under tmp. */
static void
new_dir(char *out, size_t cap, const char *tag)
{
	xsnprintf(out, cap, "%s/%s-%d", tmp, tag, dirno++);
}

/* A realistic AuditEntry: what the hub writes. Never a template byte. */
static size_t
make_entry(uint64_t i, const char *salt, uint8_t *buf, size_t cap)
{
	Paso__AuditEntry e = PASO__AUDIT_ENTRY__INIT;
	uint8_t subject[32], digest[32];
	char detail[64];
	size_t n;

	crypto_generichash(subject, sizeof(subject), (const uint8_t *)&i, sizeof(i),
		(const uint8_t *)salt, strlen(salt));
	crypto_hash_sha256(digest, subject, sizeof(subject));
	xsnprintf(detail, sizeof(detail), "%s entry %llu%.*s", salt, (unsigned long long)i,
		(int)(i % 7), "xxxxxxx");
	e.time = 1700000000 + i;
	e.actor = i % 3 ? "kiosk-ciudad-hidalgo-1" : "kiosk-talisman-2";
	e.action = i % 2 ? PASO__ACTION__CROSSING : PASO__ACTION__ENROLL;
	e.subject.data = subject;
	e.subject.len = sizeof(subject);
	e.payload_digest.data = digest;
	e.payload_digest.len = sizeof(digest);
	e.kiosk_seq = i + 1;
	e.purpose = i % 2 ? "verification" : "enrolment";
	e.policy_rule = "default.store";
	e.detail = detail;
	e.crossing_point = "Ciudad Hidalgo";
	e.category = PASO__CATEGORY__REGIONAL_VISITOR;
	n = paso__audit_entry__get_packed_size(&e);
	assert_true(n <= cap);
	return paso__audit_entry__pack(&e, buf);
}

static void
append_n(struct auditlog *log, uint64_t from, uint64_t to, const char *salt)
{
	uint8_t buf[512];
	uint64_t i, idx;
	size_t n;

	for (i = from; i < to; i++) {
		n = make_entry(i, salt, buf, sizeof(buf));
		assert_int_equal(auditlog_append(log, buf, n, &idx), 0);
		assert_int_equal(idx, i);
	}
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A deployment directory DIR with DIR/audit holding n entries, checkpointed, and log.vkey. */
static void
make_log(const char *dir, uint64_t n, const char *salt)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	char a[512], k[600];

	assert_int_equal(mkdir(dir, 0700), 0);
	xsnprintf(a, sizeof(a), "%s/audit", dir);
	assert_int_equal(auditlog_open(a, &log, &d), 0);
	append_n(log, 0, n, salt);
	assert_int_equal(auditlog_sync(log), 0);
	assert_int_equal(auditlog_checkpoint(log, signer), 0);
	auditlog_close(log);
	xsnprintf(k, sizeof(k), "%s/log.vkey", a);
	write_text(k, log_vkey);
}

static uint64_t
file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static uint8_t *
read_all(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	size_t n;

	assert_non_null(f);
	n = (size_t)file_size(path);
	b = malloc(n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, n, f), n);
	fclose(f);
	b[n] = 0;
	*lenp = n;
	return b;
}

static void
write_all(const char *path, const uint8_t *b, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void
flip_byte(const char *path, uint64_t off)
{
	size_t n;
	uint8_t *b = read_all(path, &n);

	assert_true(off < n);
	b[off] ^= 0x20;
	write_all(path, b, n);
	free(b);
}

/* Runs a shell command line; stdout and stderr land in *out / *err (caller frees). Exit status. */
static int run(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
run(char **out, char **err, const char *fmt, ...)
{
	char cmd[4096], o[512], e[512];
	va_list ap;
	size_t n;
	int st;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	xsnprintf(o, sizeof(o), "%s/out.txt", tmp);
	xsnprintf(e, sizeof(e), "%s/err.txt", tmp);
	{
		char full[5200];

		xsnprintf(full, sizeof(full), "( %s ) >'%s' 2>'%s'", cmd, o, e);
		st = system(full);
	}
	if (out != NULL)
		*out = (char *)read_all(o, &n);
	if (err != NULL)
		*err = (char *)read_all(e, &n);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define AUDIT PASO_BIN_DIR "/paso-audit"

/* paso-audit verify DIR --key K must fail (exit 1) with needle in its message. */
static void
expect_verify_fails(const char *dir, const char *key, const char *needle)
{
	char *out = NULL, *err = NULL;
	int rc = run(&out, &err, AUDIT " verify '%s' --key '%s'", dir, key);

	if (rc != 1 || strstr(err, needle) == NULL)
		fail_msg("verify %s: rc %d, stderr '%s', wanted '%s'", dir, rc, err, needle);
	free(out);
	free(err);
}

/* ---- storage ---- */

static void
test_append_reopen(void **state)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	static uint8_t big[AUDITLOG_MAX_ENTRY + 1];
	uint8_t(*leaves)[H], root[H], want[H], *e = NULL;
	char dir[256];
	size_t len, i;
	const size_t n = 1500;

	(void)state;
	new_dir(dir, sizeof(dir), "reopen");
	leaves = calloc(n, H);
	assert_non_null(leaves);
	assert_int_equal(auditlog_open(dir, &log, &d), 0);
	assert_int_equal(d.code, 0);
	assert_int_equal(auditlog_size(log), 0);
	assert_int_equal(auditlog_root(log, 0, root), 0);
	merkle_empty_root(want);
	assert_memory_equal(root, want, H);
	for (i = 0; i < n; i++) {
		/* sizes 0..~5000 and one maximal entry: frames of every shape */
		size_t l = i == 700 ? AUDITLOG_MAX_ENTRY : (i * 37) % 5000;

		memset(big, (int)(i & 0xff), l);
		assert_int_equal(auditlog_append(log, big, l, NULL), 0);
		merkle_leaf_hash(big, l, leaves[i]);
	}
	assert_int_equal(
		auditlog_append(log, big, AUDITLOG_MAX_ENTRY + 1, NULL), PASO_E_INVALID_ARG);
	assert_int_equal(auditlog_sync(log), 0);
	assert_int_equal(merkle_root((const uint8_t(*)[H])leaves, n, want), 0);
	assert_int_equal(auditlog_root(log, n, root), 0);
	assert_memory_equal(root, want, H);
	auditlog_close(log);

	assert_int_equal(auditlog_open(dir, &log, &d), 0);
	assert_int_equal(d.code, 0);
	assert_int_equal(auditlog_size(log), n);
	assert_int_equal(auditlog_root(log, n, root), 0);
	assert_memory_equal(root, want, H);
	for (i = 0; i < n; i += 97) {
		size_t l = i == 700 ? AUDITLOG_MAX_ENTRY : (i * 37) % 5000;

		assert_int_equal(auditlog_entry(log, i, &e, &len), 0);
		assert_int_equal(len, l);
		memset(big, (int)(i & 0xff), l);
		assert_memory_equal(e, big, l);
		free(e);
	}
	assert_int_equal(auditlog_entry(log, n, &e, &len), PASO_E_NOT_FOUND);
	/* One writer at a time; readers are welcome. */
	{
		struct auditlog *second = NULL, *ro = NULL;

		assert_int_equal(auditlog_open(dir, &second, &d), PASO_E_EXISTS);
		assert_int_equal(auditlog_open_readonly(dir, &ro, &d), 0);
		assert_int_equal(auditlog_size(ro), n);
		assert_int_equal(auditlog_append(ro, big, 1, NULL), PASO_E_INVALID_ARG);
		auditlog_close(ro);
	}
	auditlog_close(log);
	free(leaves);
}

/* Proofs read from storage equal merkle.c's over the same leaves, before and after reopening. */
static void
test_proofs_match_merkle(void **state)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	uint8_t(*leaves)[H], p[MERKLE_MAX_PROOF][H], q[MERKLE_MAX_PROOF][H], buf[512], root[H],
		want[H];
	char dir[256];
	const uint64_t n = 777;
	uint64_t i, size, m;
	size_t np, nq, len;
	int pass;

	(void)state;
	new_dir(dir, sizeof(dir), "proofs");
	leaves = calloc(n, H);
	assert_non_null(leaves);
	for (i = 0; i < n; i++) {
		len = make_entry(i, "proofs", buf, sizeof(buf));
		merkle_leaf_hash(buf, len, leaves[i]);
	}
	assert_int_equal(auditlog_open(dir, &log, &d), 0);
	append_n(log, 0, 500, "proofs");
	assert_int_equal(auditlog_checkpoint(log, signer), 0);
	append_n(log, 500, n,
		"proofs"); /* buffered, not flushed: proofs must read the buffers too */
	for (pass = 0; pass < 3; pass++) {
		if (pass == 1) { /* reopened for writing: hashes from disk and rebuilt after the
			            checkpoint */
			auditlog_close(log);
			assert_int_equal(auditlog_open(dir, &log, &d), 0);
		} else if (pass == 2) {
			auditlog_close(log);
			assert_int_equal(auditlog_open_readonly(dir, &log, &d), 0);
		}
		assert_int_equal(auditlog_size(log), n);
		for (size = 1; size <= n; size += (size < 70 ? 1 : 61)) {
			assert_int_equal(auditlog_root(log, size, root), 0);
			assert_int_equal(merkle_root((const uint8_t(*)[H])leaves, size, want), 0);
			assert_memory_equal(root, want, H);
			for (i = 0; i < size; i += (size < 70 ? 1 : 13)) {
				assert_int_equal(
					auditlog_inclusion(log, i, size, p, MERKLE_MAX_PROOF, &np),
					0);
				assert_int_equal(merkle_inclusion_proof((const uint8_t(*)[H])leaves,
							 size, i, q, MERKLE_MAX_PROOF, &nq),
					0);
				assert_int_equal(np, nq);
				assert_memory_equal(p, q, np * H);
				assert_int_equal(merkle_verify_inclusion(leaves[i], i, size,
							 (const uint8_t(*)[H])p, np, root),
					0);
			}
			for (m = 1; m <= size; m += (size < 70 ? 1 : 29)) {
				assert_int_equal(auditlog_consistency(
							 log, m, size, p, MERKLE_MAX_PROOF, &np),
					0);
				assert_int_equal(
					merkle_consistency_proof((const uint8_t(*)[H])leaves, size,
						m, q, MERKLE_MAX_PROOF, &nq),
					0);
				assert_int_equal(np, nq);
				assert_memory_equal(p, q, np * H);
			}
		}
		assert_int_equal(auditlog_inclusion(log, 0, n + 1, p, MERKLE_MAX_PROOF, &np),
			PASO_E_INVALID_ARG);
		assert_int_equal(auditlog_leaf_hash(log, 123, root), 0);
		assert_memory_equal(root, leaves[123], H);
	}
	auditlog_close(log);
	free(leaves);
}

/* A torn tail (partial frame, bad check bytes, zero hole) is cut back with a diagnostic, never
 * kept. */
static void
test_torn_tail(void **state)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	uint8_t root[H], want[H], junk[300];
	char dir[256], path[512], torn[600];
	uint64_t good;
	int kind;
	FILE *f;

	(void)state;
	for (kind = 0; kind < 3; kind++) {
		new_dir(dir, sizeof(dir), "torn");
		assert_int_equal(auditlog_open(dir, &log, &d), 0);
		append_n(log, 0, 40, "torn");
		assert_int_equal(auditlog_checkpoint(log, signer), 0);
		append_n(log, 40, 60, "torn");
		assert_int_equal(auditlog_sync(log), 0); /* acknowledged: must survive */
		assert_int_equal(auditlog_root(log, 60, want), 0);
		auditlog_close(log);
		xsnprintf(path, sizeof(path), "%s/entries", dir);
		good = file_size(path);
		f = fopen(path, "ab");
		assert_non_null(f);
		memset(junk, 0, sizeof(junk));
		if (kind == 0) { /* a header announcing 512 bytes, then only 100 */
			junk[2] = 0x02;
			assert_int_equal(fwrite(junk, 1, 108, f), 108);
		} else if (kind == 1) { /* a complete frame whose check bytes do not match */
			junk[3] = 20;
			junk[4] = 0xde;
			assert_int_equal(fwrite(junk, 1, 28, f), 28);
		} else { /* a zero hole then what looks like more data */
			memset(junk + 200, 0x41, 100);
			assert_int_equal(fwrite(junk, 1, 300, f), 300);
		}
		assert_int_equal(fclose(f), 0);
		assert_int_equal(auditlog_open(dir, &log, &d), 0);
		assert_int_equal(d.code, PASO_E_AUDIT_TORN);
		assert_non_null(strstr(d.msg, "torn tail"));
		assert_non_null(strstr(d.msg, "after 60 complete entries"));
		assert_int_equal(auditlog_size(log), 60);
		assert_int_equal(file_size(path), good);
		xsnprintf(torn, sizeof(torn), "%s/torn.%llu", dir, (unsigned long long)good);
		assert_int_equal(file_size(torn), kind == 0 ? 108 : kind == 1 ? 28 : 300);
		assert_int_equal(auditlog_root(log, 60, root), 0);
		assert_memory_equal(root, want, H);
		/* and the log goes on */
		append_n(log, 60, 61, "torn");
		assert_int_equal(auditlog_sync(log), 0);
		auditlog_close(log);
		assert_int_equal(auditlog_open(dir, &log, &d), 0);
		assert_int_equal(d.code, 0);
		assert_int_equal(auditlog_size(log), 61);
		auditlog_close(log);
	}
}

/*
 * While the writer has the log open, entries holds zeros past its last frame (appends then write
 * in place, within the file, and their fdatasync needs no journal commit). A writer that never
 * closed (a crash: the files copied while it runs) leaves them: the next open, the auditor's
 * verify and the tail check read them as the end, not as a torn write, and lose nothing. A
 * closed log ends at its last frame.
 */
static void
test_zeros_ahead_of_entries(void **state)
{
	struct auditlog *log = NULL;
	struct auditcheck_report rep;
	struct paso_diag d = {0};
	uint8_t root[H], want[H];
	char dep[256], dir[300], copy[256], cdir[300], path[600], cpath[600];
	char *out = NULL, *err = NULL;
	uint64_t frames;

	(void)state;
	new_dir(dep, sizeof(dep), "zeros");
	new_dir(copy, sizeof(copy), "zeros-crashed");
	assert_int_equal(mkdir(dep, 0700), 0);
	xsnprintf(dir, sizeof(dir), "%s/audit", dep);
	xsnprintf(cdir, sizeof(cdir), "%s/audit", copy);
	xsnprintf(path, sizeof(path), "%s/entries", dir);
	xsnprintf(cpath, sizeof(cpath), "%s/entries", cdir);
	assert_int_equal(auditlog_open(dir, &log, &d), 0);
	append_n(log, 0, 40, "zeros");
	assert_int_equal(auditlog_sync(log), 0);
	assert_int_equal(auditlog_checkpoint(log, signer), 0);
	append_n(log, 40, 60, "zeros");
	assert_int_equal(auditlog_sync(log), 0); /* acknowledged: must survive */
	assert_int_equal(auditlog_root(log, 60, want), 0);
	xsnprintf(path, sizeof(path), "%s/log.vkey", dir);
	write_text(path, log_vkey);
	xsnprintf(path, sizeof(path), "%s/entries", dir);
	assert_true(file_size(path) >= 1024 * 1024); /* the zeros ahead */
	assert_int_equal(run(NULL, NULL, "cp -a '%s' '%s'", dep, copy), 0);
	auditlog_close(log);
	frames = file_size(path);
	assert_true(frames > 60 * 8 && frames < 60 * 512);

	/* The crashed writer's copy: the auditor's tools first (read-only), then the writer. */
	assert_int_equal(auditcheck_tail(cdir, AUDITCHECK_WINDOW, &rep, &d), 0);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.tail_entries, 20);
	assert_int_equal(run(&out, &err, AUDIT " verify '%s'", copy), 0);
	assert_non_null(strstr(out, "audit log OK: 40 entries"));
	assert_null(strstr(err, "incomplete entry"));
	assert_non_null(strstr(err, "20 more entries after the checkpoint"));
	free(out);
	free(err);
	assert_int_equal(auditlog_open_readonly(cdir, &log, &d), 0);
	assert_int_equal(d.code, 0);
	assert_int_equal(auditlog_size(log), 60);
	auditlog_close(log);
	assert_int_equal(auditlog_open(cdir, &log, &d), 0);
	assert_int_equal(d.code, 0); /* not torn: nothing cut, no torn.* file */
	assert_int_equal(auditlog_size(log), 60);
	assert_int_equal(auditlog_root(log, 60, root), 0);
	assert_memory_equal(root, want, H);
	xsnprintf(path, sizeof(path), "%s/torn.%llu", cdir, (unsigned long long)frames);
	assert_int_equal(access(path, F_OK), -1);
	/* and the log goes on over the zeros; a cut back (a store commit that failed) zeroes what
	 * it cuts and keeps the head start; closed, the log ends at its last frame */
	append_n(log, 60, 61, "zeros");
	assert_int_equal(auditlog_sync(log), 0);
	append_n(log, 61, 70, "zeros");
	assert_int_equal(auditlog_sync(log), 0);
	assert_int_equal(auditlog_truncate(log, 61), 0);
	assert_true(file_size(cpath) >= 1024 * 1024);
	assert_int_equal(run(NULL, NULL, "rm -rf '%s' && cp -a '%s' '%s'", dep, copy, dep), 0);
	auditlog_close(log);
	assert_int_equal(auditlog_open(dir, &log, &d), 0); /* the copy taken after the cut */
	assert_int_equal(d.code, 0);
	assert_int_equal(auditlog_size(log), 61);
	auditlog_close(log);
	assert_true(file_size(cpath) > frames && file_size(cpath) < frames + 512);
	assert_int_equal(auditlog_open(cdir, &log, &d), 0);
	assert_int_equal(d.code, 0);
	assert_int_equal(auditlog_size(log), 61);
	auditlog_close(log);
}

/* The derived files are rebuilt from the entries when missing or behind. */
static void
test_rebuild_derived(void **state)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	uint8_t root[H], want[H], p[MERKLE_MAX_PROOF][H];
	char dir[256], path[512];
	size_t np;
	int which;

	(void)state;
	for (which = 0; which < 3; which++) {
		new_dir(dir, sizeof(dir), "rebuild");
		assert_int_equal(auditlog_open(dir, &log, &d), 0);
		append_n(log, 0, 300, "rebuild");
		assert_int_equal(auditlog_checkpoint(log, signer), 0);
		assert_int_equal(auditlog_root(log, 300, want), 0);
		auditlog_close(log);
		xsnprintf(path, sizeof(path), "%s/%s", dir, which == 1 ? "offsets" : "hashes");
		if (which < 2)
			assert_int_equal(unlink(path), 0);
		else
			assert_int_equal(truncate(path, 1000), 0); /* behind, and cut mid-hash */
		assert_int_equal(auditlog_open(dir, &log, &d), 0);
		assert_int_equal(auditlog_size(log), 300);
		assert_int_equal(auditlog_root(log, 300, root), 0);
		assert_memory_equal(root, want, H);
		assert_int_equal(auditlog_inclusion(log, 250, 300, p, MERKLE_MAX_PROOF, &np), 0);
		auditlog_close(log);
		assert_int_equal(file_size(path), which == 1 ? 300 * 8 : (2 * 300 - 4) * H);
	}
}

static void
test_truncate(void **state)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	uint8_t root[H], want[H], buf[512];
	uint8_t(*leaves)[H];
	char dir[256];
	size_t len, i;

	(void)state;
	leaves = calloc(40, H);
	assert_non_null(leaves);
	for (i = 0; i < 40; i++) {
		len = make_entry(i, "trunc", buf, sizeof(buf));
		merkle_leaf_hash(buf, len, leaves[i]);
	}
	new_dir(dir, sizeof(dir), "truncate");
	assert_int_equal(auditlog_open(dir, &log, &d), 0);
	append_n(log, 0, 20, "trunc");
	assert_int_equal(auditlog_checkpoint(log, signer), 0);
	assert_int_equal(auditlog_checkpoint_size(log), 20);
	append_n(log, 20, 30, "trunc");
	assert_int_equal(auditlog_truncate(log, 31), PASO_E_INVALID_ARG);
	assert_int_equal(auditlog_truncate(log, 19), PASO_E_ROLLBACK);
	assert_int_equal(auditlog_truncate(log, 25), 0);
	assert_int_equal(auditlog_size(log), 25);
	assert_int_equal(auditlog_root(log, 25, root), 0);
	assert_int_equal(merkle_root((const uint8_t(*)[H])leaves, 25, want), 0);
	assert_memory_equal(root, want, H);
	append_n(log, 25, 40, "trunc"); /* the same indices are reused */
	assert_int_equal(auditlog_checkpoint(log, signer), 0);
	assert_int_equal(auditlog_truncate(log, 39), PASO_E_ROLLBACK);
	auditlog_close(log);
	assert_int_equal(auditlog_open(dir, &log, &d), 0);
	assert_int_equal(auditlog_size(log), 40);
	assert_int_equal(auditlog_root(log, 40, root), 0);
	assert_int_equal(merkle_root((const uint8_t(*)[H])leaves, 40, want), 0);
	assert_memory_equal(root, want, H);
	auditlog_close(log);
	free(leaves);
}

/* ---- paso-audit on real logs ---- */

static void
test_cli_verify_prove_show(void **state)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	uint8_t root[H], leaf[H], p[MERKLE_MAX_PROOF][H];
	char dir[256], a[512], hx[2 * H + 1], want[256], *out = NULL, *err = NULL, *line;
	size_t np, k;

	(void)state;
	new_dir(dir, sizeof(dir), "cli");
	make_log(dir, 200, "cli");
	xsnprintf(a, sizeof(a), "%s/audit", dir);
	assert_int_equal(auditlog_open_readonly(a, &log, &d), 0);
	assert_int_equal(auditlog_root(log, 200, root), 0);
	hex_encode(root, H, hx);

	/* verify: deployment dir or audit dir, default key or --key */
	assert_int_equal(run(&out, &err, AUDIT " verify '%s'", dir), 0);
	xsnprintf(want, sizeof(want),
		"audit log OK: 200 entries, root %s, checkpoint signed by paso.test/hub\n", hx);
	assert_string_equal(out, want);
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, AUDIT " verify '%s' --key '%s'", a, log_vkey), 0);
	assert_string_equal(out, want);
	free(out);
	free(err);

	/* checkpoint */
	assert_int_equal(run(&out, &err, AUDIT " checkpoint '%s'", dir), 0);
	xsnprintf(want, sizeof(want), "paso.test/hub\n200\n");
	assert_memory_equal(out, want, strlen(want));
	free(out);
	free(err);

	/* prove = auditlog_inclusion, and check-inclusion accepts it */
	assert_int_equal(auditlog_inclusion(log, 77, 200, p, MERKLE_MAX_PROOF, &np), 0);
	assert_int_equal(auditlog_leaf_hash(log, 77, leaf), 0);
	assert_int_equal(run(&out, &err, AUDIT " prove '%s' --index 77", dir), 0);
	line = out;
	for (k = 0; k < np; k++) {
		hex_encode(p[k], H, hx);
		assert_memory_equal(line, hx, 2 * H);
		line += 2 * H + 1;
	}
	assert_int_equal(*line, '\0');
	free(out);
	free(err);
	hex_encode(leaf, H, want);
	hex_encode(root, H, hx);
	assert_int_equal(
		run(NULL, NULL,
			AUDIT " prove '%s' --index 77 | " AUDIT " check-inclusion %s 77 200 %s",
			dir, want, hx),
		0);
	assert_int_equal(
		run(NULL, &err,
			AUDIT " prove '%s' --index 77 | " AUDIT " check-inclusion %s 78 200 %s",
			dir, want, hx),
		1);
	assert_non_null(strstr(err, "proof invalid"));
	free(err);
	assert_int_equal(run(NULL, &err, AUDIT " prove '%s' --index 200", dir), 2);
	free(err);

	/* show: readable and JSON, range limits */
	assert_int_equal(run(&out, &err, AUDIT " show '%s' --from 3 --to 4", dir), 0);
	assert_non_null(strstr(out, "#3 "));
	assert_non_null(strstr(out, "#4 "));
	assert_null(strstr(out, "#5 "));
	assert_non_null(strstr(out, "action=CROSSING"));
	assert_non_null(strstr(out, "actor=kiosk-talisman-2"));
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, AUDIT " show '%s' --from 199 --json", dir), 0);
	assert_non_null(strstr(out, "{\"index\":199,\"time\":1700000199,"));
	assert_non_null(strstr(out, "\"action\":\"CROSSING\""));
	assert_non_null(strstr(out, "\"subject\":\""));
	assert_non_null(strstr(out, "\"code\":0,\"code_name\":\"OK\""));
	free(out);
	free(err);

	/* stdin tools agree with the library */
	assert_int_equal(run(&out, &err, "printf '\\n00\\n10\\n' | " AUDIT " root"), 0);
	assert_string_equal(out,
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77\n"); /* RFC 6962
	                                                                                  root of 3
	                                                                                */
	free(out);
	free(err);
	assert_int_equal(run(NULL, &err, AUDIT " verify"), 2);
	free(err);
	assert_int_equal(run(NULL, &err, AUDIT " frobnicate"), 2);
	assert_non_null(strstr(err, "unknown command 'frobnicate'"));
	free(err);
	auditlog_close(log);
}

/* Entry byte offset of frame i, by walking the entries file. */
static uint64_t
frame_off(const uint8_t *b, uint64_t i)
{
	uint64_t off = 0;

	while (i-- > 0)
		off += 8 + (((uint64_t)b[off] << 24) | ((uint64_t)b[off + 1] << 16) |
				   ((uint64_t)b[off + 2] << 8) | b[off + 3]);
	return off;
}

static void
test_tamper_flipped_bytes(void **state)
{
	static const char *files[] = {"entries", "offsets", "hashes", "checkpoint"};
	char dir[256], path[512], *out = NULL, *err = NULL;
	uint8_t *b;
	size_t len, f;
	uint64_t off, sz;
	int t, rc;

	(void)state;
	/* A payload byte of entry 17: named. */
	new_dir(dir, sizeof(dir), "flip");
	make_log(dir, 64, "flip");
	xsnprintf(path, sizeof(path), "%s/audit/entries", dir);
	b = read_all(path, &len);
	off = frame_off(b, 17);
	free(b);
	flip_byte(path, off + 8 + 5);
	expect_verify_fails(dir, log_vkey, "entry 17 ");
	/* And a length byte of entry 40. */
	new_dir(dir, sizeof(dir), "flip");
	make_log(dir, 64, "flip");
	xsnprintf(path, sizeof(path), "%s/audit/entries", dir);
	b = read_all(path, &len);
	off = frame_off(b, 40);
	free(b);
	flip_byte(path, off + 3);
	expect_verify_fails(dir, log_vkey, "entry 40 ");

	/* One flipped byte anywhere in any file of the log: always detected. */
	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		for (t = 0; t < 6; t++) {
			new_dir(dir, sizeof(dir), "flipany");
			make_log(dir, 64, "flipany");
			xsnprintf(path, sizeof(path), "%s/audit/%s", dir, files[f]);
			sz = file_size(path);
			off = (sz * (uint64_t)(2 * t + 1)) / 12;
			flip_byte(path, off);
			rc = run(&out, &err, AUDIT " verify '%s' --key '%s'", dir, log_vkey);
			if (rc != 1)
				fail_msg("flipped byte %llu of %s not detected (rc %d): %s",
					(unsigned long long)off, files[f], rc, out);
			free(out);
			free(err);
		}
	}
	/* The key file read by default: a flipped byte there fails too (exit 1 or 2). */
	new_dir(dir, sizeof(dir), "flipkey");
	make_log(dir, 8, "flipkey");
	xsnprintf(path, sizeof(path), "%s/audit/log.vkey", dir);
	flip_byte(path, file_size(path) - 10);
	rc = run(NULL, NULL, AUDIT " verify '%s'", dir);
	assert_true(rc == 1 || rc == 2);
}

static void
test_tamper_delete_swap(void **state)
{
	char dir[256], path[512];
	uint8_t *b, *c;
	size_t len;
	uint64_t o10, o11, o5, o6, o7;

	(void)state;
	/* Entry 10 deleted: its place is taken by 11, which no longer matches. */
	new_dir(dir, sizeof(dir), "delete");
	make_log(dir, 50, "delete");
	xsnprintf(path, sizeof(path), "%s/audit/entries", dir);
	b = read_all(path, &len);
	o10 = frame_off(b, 10);
	o11 = frame_off(b, 11);
	memmove(b + o10, b + o11, len - o11);
	write_all(path, b, len - (o11 - o10));
	free(b);
	expect_verify_fails(dir, log_vkey, "entry 10:");

	/* Entries 5 and 6 swapped. */
	new_dir(dir, sizeof(dir), "swap");
	make_log(dir, 50, "swap");
	xsnprintf(path, sizeof(path), "%s/audit/entries", dir);
	b = read_all(path, &len);
	o5 = frame_off(b, 5);
	o6 = frame_off(b, 6);
	o7 = frame_off(b, 7);
	c = malloc(len);
	assert_non_null(c);
	memcpy(c, b, o5);
	memcpy(c + o5, b + o6, o7 - o6);
	memcpy(c + o5 + (o7 - o6), b + o5, o6 - o5);
	memcpy(c + o7, b + o7, len - o7);
	write_all(path, c, len);
	free(b);
	free(c);
	expect_verify_fails(dir, log_vkey, "entry 5:");

	/* The last 10 entries cut off (checkpoint left as it was). */
	new_dir(dir, sizeof(dir), "cut");
	make_log(dir, 50, "cut");
	xsnprintf(path, sizeof(path), "%s/audit/entries", dir);
	b = read_all(path, &len);
	assert_int_equal(truncate(path, (off_t)frame_off(b, 40)), 0);
	free(b);
	expect_verify_fails(dir, log_vkey, "entry 40: missing");
}

/* Cosigns DIR's latest checkpoint with witness STATE, proof from old size if > 0. Exit status. */
static int
witness(const char *state, const char *dir, uint64_t old, char **err)
{
	char *cp = NULL;

	if (old == 0)
		return run(NULL, err,
			AUDIT " checkpoint '%s' > '%s/cp.txt' && " AUDIT
			      " witness '%s' --log-key '%s' --checkpoint '%s/cp.txt' --name "
			      "witness.test/w1 --time 1700000000",
			dir, tmp, state, log_vkey, tmp);
	(void)cp;
	return run(NULL, err,
		AUDIT " checkpoint '%s' > '%s/cp.txt' && " AUDIT
		      " prove '%s' --consistency %llu > '%s/proof.txt' && " AUDIT
		      " witness '%s' --log-key '%s' --checkpoint '%s/cp.txt' --proof "
		      "'%s/proof.txt' --time 1700000001",
		dir, tmp, dir, (unsigned long long)old, tmp, state, log_vkey, tmp, tmp);
}

static void
copy_dir(const char *from, const char *to)
{
	assert_int_equal(run(NULL, NULL, "cp -a '%s' '%s'", from, to), 0);
}

static void
grow(const char *dir, uint64_t from, uint64_t to, const char *salt,
	const struct checkpoint_signer *s)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	char a[512];

	xsnprintf(a, sizeof(a), "%s/audit", dir);
	assert_int_equal(auditlog_open(a, &log, &d), 0);
	assert_int_equal(auditlog_size(log), from);
	append_n(log, from, to, salt);
	assert_int_equal(auditlog_checkpoint(log, s), 0);
	auditlog_close(log);
}

static void
test_witness_rollback_split_view(void **state)
{
	struct checkpoint_verifier *wv = NULL;
	struct checkpoint_note *n = NULL;
	struct paso_diag d = {0};
	char dir[256], old30[256], fork[256], fork50[256], ws[256], path[512],
		*err = NULL, *out = NULL, *wvk, *cos;
	size_t len;
	uint64_t ts;

	(void)state;
	new_dir(dir, sizeof(dir), "wlog");
	new_dir(ws, sizeof(ws), "wstate");
	new_dir(old30, sizeof(old30), "old30");
	new_dir(fork, sizeof(fork), "fork");
	new_dir(fork50, sizeof(fork50), "fork50");
	make_log(dir, 30, "w");
	copy_dir(dir, old30);
	copy_dir(dir, fork);
	copy_dir(dir, fork50);
	assert_int_equal(witness(ws, dir, 0, &err), 0); /* first sight */
	free(err);
	grow(dir, 30, 50, "w", signer);
	assert_int_equal(witness(ws, dir, 30, &err), 0); /* consistent growth */
	free(err);
	xsnprintf(
		path, sizeof(path), "%s/log-%08x.checkpoint", ws, checkpoint_signer_keyid(signer));
	cos = (char *)read_all(path, &len);
	xsnprintf(path, sizeof(path), "%s/witness.vkey", ws);
	wvk = (char *)read_all(path, &len);
	assert_int_equal(checkpoint_verifier_parse(wvk, &wv, &d), 0);
	assert_int_equal(checkpoint_note_parse(cos, strlen(cos), &n, &d), 0);
	assert_int_equal(checkpoint_note_verify(n, wv, &ts, &d), 0);
	assert_int_equal(ts, 1700000001);
	assert_non_null(strstr(n->text, "\n50\n"));
	checkpoint_note_free(n);
	checkpoint_verifier_free(wv);
	free(wvk);
	xsnprintf(path, sizeof(path), "%s/known50.txt", tmp);
	write_text(path, cos);
	free(cos);

	/* Rollback: the old state is shown again. The witness refuses; verify --known names it. */
	assert_int_equal(witness(ws, old30, 0, &err), 1);
	assert_non_null(strstr(err, "rollback"));
	free(err);
	assert_int_equal(run(&out, &err, AUDIT " verify '%s' --key '%s' --known '%s'", old30,
				 log_vkey, path),
		1);
	assert_non_null(strstr(err, "rollback"));
	assert_non_null(strstr(err, "[ROLLBACK]"));
	free(out);
	free(err);
	assert_int_equal(
		run(NULL, NULL, AUDIT " verify '%s' --key '%s' --known '%s'", dir, log_vkey, path),
		0);

	/* Split view: a fork signed with the real key, grown past 50 with other entries. */
	grow(fork, 30, 60, "fork", signer);
	assert_int_equal(witness(ws, fork, 50, &err), 1);
	assert_non_null(strstr(err, "split view"));
	assert_non_null(strstr(err, "[SPLIT_VIEW]"));
	free(err);
	assert_int_equal(
		run(&out, &err, AUDIT " verify '%s' --key '%s' --known '%s'", fork, log_vkey, path),
		1);
	assert_non_null(strstr(err, "split view"));
	free(out);
	free(err);
	/* ... or a fork of the same size with another root. */
	grow(fork50, 30, 50, "fork", signer);
	assert_int_equal(witness(ws, fork50, 30, &err), 1);
	assert_non_null(strstr(err, "split view: size 50 has root"));
	free(err);
	/* The honest log keeps being cosigned. */
	grow(dir, 50, 55, "w", signer);
	assert_int_equal(witness(ws, dir, 50, &err), 0);
	free(err);
}

/* A truncated tail re-signed with another key (and the key file replaced). */
static void
test_resigned_with_other_key(void **state)
{
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	char dir[256], ws[256], a[512], path[600], *err = NULL, *out = NULL;
	uint8_t *b;
	size_t len;

	(void)state;
	new_dir(dir, sizeof(dir), "resign");
	new_dir(ws, sizeof(ws), "resign-w");
	make_log(dir, 50, "resign");
	assert_int_equal(witness(ws, dir, 0, &err), 0);
	free(err);
	/* The attacker cuts the last 20 entries, drops the derived files, signs anew with a key of
	 * the same name and replaces log.vkey. */
	xsnprintf(a, sizeof(a), "%s/audit", dir);
	xsnprintf(path, sizeof(path), "%s/entries", a);
	b = read_all(path, &len);
	assert_int_equal(truncate(path, (off_t)frame_off(b, 30)), 0);
	free(b);
	assert_int_equal(
		run(NULL, NULL, "rm -f '%s/checkpoint' '%s/hashes' '%s/offsets'", a, a, a), 0);
	assert_int_equal(auditlog_open(a, &log, &d), 0);
	assert_int_equal(auditlog_size(log), 30);
	assert_int_equal(auditlog_checkpoint(log, evil), 0);
	auditlog_close(log);
	xsnprintf(path, sizeof(path), "%s/log.vkey", a);
	write_text(path, evil_vkey);

	/* Against the key obtained out of band: refused, naming the key that did sign. */
	assert_int_equal(run(&out, &err, AUDIT " verify '%s' --key '%s'", dir, log_vkey), 1);
	assert_non_null(strstr(err, "no signature by key paso.test/hub+"));
	assert_non_null(strstr(err, "[AUDIT_SIGNATURE]"));
	free(out);
	free(err);
	/* The witness, which knows the real key, refuses it too. */
	assert_int_equal(witness(ws, dir, 0, &err), 1);
	assert_non_null(strstr(err, "not signed by the log key"));
	free(err);
	/* (Trusting the planted log.vkey would pass: which is why outsiders pass --key.) */
	assert_int_equal(run(NULL, NULL, AUDIT " verify '%s'", dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_reopen),
		cmocka_unit_test(test_proofs_match_merkle),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_zeros_ahead_of_entries),
		cmocka_unit_test(test_rebuild_derived),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_cli_verify_prove_show),
		cmocka_unit_test(test_tamper_flipped_bytes),
		cmocka_unit_test(test_tamper_delete_swap),
		cmocka_unit_test(test_witness_rollback_split_view),
		cmocka_unit_test(test_resigned_with_other_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
