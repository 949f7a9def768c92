/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for audit/checkpoint.c: public signed notes verify, tampering fails, keys and cosignatures
 * round-trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "checkpoint.h"
#include "errors.h"
#include "hex.h"
#include "json_mini.h"

static struct jv *ex;

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	ex = json_read_file(PASO_TEST_DATA "/rfc6962/checkpoint_examples.json");
	return ex != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	json_free(ex);
	return 0;
}

static int
verify_text(
	const char *note, const struct checkpoint_verifier *v, uint64_t *ts, struct paso_diag *d)
{
	struct checkpoint_note *n = NULL;
	int r;

	if ((r = checkpoint_note_parse(note, strlen(note), &n, d)) != 0)
		return r;
	r = checkpoint_note_verify(n, v, ts, d);
	checkpoint_note_free(n);
	return r;
}

/* Every example with a published key verifies, and each kind of tampering is rejected. */
static void
test_public_examples(void **state)
{
	const struct jv *list = json_get(ex, "examples");
	size_t i, verified = 0;

	(void)state;
	for (i = 0; i < list->n; i++) {
		const struct jv *e = json_at(list, i), *expect = json_get(e, "expect");
		const char *vkey = json_str(json_get(e, "vkey")),
			   *note = json_str(json_get(e, "note"));
		struct checkpoint_verifier *v = NULL;
		struct paso_diag d = {0};
		struct checkpoint cp;
		struct checkpoint_note *n = NULL;
		char idhex[9], *bad;
		uint64_t ts = 0;
		size_t len = strlen(note), j;

		/* Structure first: every example parses, checkpoints have the expected fields. */
		assert_int_equal(checkpoint_note_parse(note, len, &n, &d), 0);
		if (json_get(expect, "n_signatures") != NULL)
			assert_int_equal(n->nsigs, json_u64(json_get(expect, "n_signatures")));
		if (json_str(json_get(expect, "origin")) != NULL) {
			assert_int_equal(checkpoint_parse_text(n->text, n->text_len, &cp, &d), 0);
			assert_string_equal(cp.origin, json_str(json_get(expect, "origin")));
			assert_int_equal(cp.size, json_u64(json_get(expect, "size")));
		}
		checkpoint_note_free(n);
		if (vkey == NULL)
			continue;
		assert_int_equal(checkpoint_verifier_parse(vkey, &v, &d), 0);
		(void)snprintf(idhex, sizeof(idhex), "%08x", checkpoint_verifier_keyid(v));
		assert_string_equal(idhex, json_str(json_get(expect, "key_id_hex")));
		assert_int_equal(
			checkpoint_verifier_type(v), json_u64(json_get(expect, "sig_type")));
		assert_int_equal(verify_text(note, v, &ts, &d), 0);
		if (json_get(expect, "timestamp_ms") != NULL)
			assert_int_equal(ts, json_u64(json_get(expect, "timestamp_ms")));
		verified++;

		/* Tampering: every change to the text, and a flipped signature byte, must fail. */
		bad = strdup(note);
		assert_non_null(bad);
		for (j = 0; j < len && !(note[j] == '\n' && note[j + 1] == '\n'); j += 3) {
			char c = bad[j];

			if (c == '\n')
				continue;

			bad[j] = c == 'x' ? 'y' : 'x';
			assert_int_not_equal(verify_text(bad, v, NULL, &d), 0);
			bad[j] = c;
		}
		{
			/* Change one base64 digit in the middle of the signature. */
			char *sig = strstr(bad, "\xe2\x80\x94 ");
			char *sp = strchr(sig + 4, ' ');
			size_t k = strlen(sp) / 2;

			sp[k] = sp[k] == 'A' ? 'B' : 'A';
			d.msg[0] = '\0';
			assert_int_not_equal(verify_text(bad, v, NULL, &d), 0);
		}
		free(bad);
		checkpoint_verifier_free(v);
	}
	assert_int_equal(verified, 3); /* sum.golang.org, the C2SP example, the Sunlight CT log */
}

/* A checkpoint signed by another key is refused with a message naming who did sign it. */
static void
test_unknown_signer(void **state)
{
	const struct jv *e = json_at(json_get(ex, "examples"), 0);
	struct checkpoint_verifier *v = NULL;
	struct paso_diag d = {0};
	char *skey = NULL, *vkey = NULL;

	(void)state;
	assert_int_equal(checkpoint_keygen("sum.golang.org", &skey, &vkey), 0);
	assert_int_equal(checkpoint_verifier_parse(vkey, &v, &d), 0);
	assert_int_equal(
		verify_text(json_str(json_get(e, "note")), v, NULL, &d), PASO_E_AUDIT_SIGNATURE);
	assert_non_null(strstr(d.msg, "no signature by key sum.golang.org+"));
	assert_non_null(strstr(d.msg, "signed by: sum.golang.org+033de0ae"));
	checkpoint_verifier_free(v);
	checkpoint_text_free(skey);
	free(vkey);
}

static void
test_keygen_roundtrip(void **state)
{
	struct checkpoint_signer *s = NULL;
	struct checkpoint_verifier *v = NULL, *other = NULL;
	struct paso_diag d = {0};
	struct checkpoint cp;
	uint8_t root[MERKLE_HASH_BYTES];
	char *skey = NULL, *vkey = NULL, *vkey2 = NULL, *note = NULL, *skey2 = NULL, *vkeyo = NULL,
	     idhex[16];

	(void)state;
	assert_int_equal(checkpoint_keygen("paso.example/hub", &skey, &vkey), 0);
	assert_memory_equal(skey, "PRIVATE+KEY+paso.example/hub+", 29);
	assert_memory_equal(vkey, "paso.example/hub+", 17);
	assert_int_equal(checkpoint_signer_from_text(skey, &s), 0);
	assert_string_equal(checkpoint_signer_name(s), "paso.example/hub");
	assert_int_equal(checkpoint_signer_vkey(s, &vkey2), 0);
	assert_string_equal(vkey, vkey2);
	(void)snprintf(idhex, sizeof(idhex), "+%08x+", checkpoint_signer_keyid(s));
	assert_non_null(strstr(vkey, idhex));
	assert_non_null(strstr(skey, idhex));
	/* The secret never shows in the public text. */
	assert_null(strstr(vkey, strchr(skey + 12, '+') + 12));
	assert_int_equal(checkpoint_verifier_parse(vkey, &v, &d), 0);

	memset(root, 0x5a, sizeof(root));
	assert_int_equal(checkpoint_sign(s, 12345, root, &note), 0);
	assert_int_equal(checkpoint_open(note, strlen(note), v, &cp, &d), 0);
	assert_string_equal(cp.origin, "paso.example/hub");
	assert_int_equal(cp.size, 12345);
	assert_memory_equal(cp.root, root, sizeof(root));
	assert_non_null(strstr(note, "paso.example/hub\n12345\nWlpaWlpa"));
	assert_non_null(strstr(note, "\n\n\xe2\x80\x94 paso.example/hub "));

	/* The same name with another key: ignored, so no valid signature. */
	assert_int_equal(checkpoint_keygen("paso.example/hub", &skey2, &vkeyo), 0);
	assert_int_equal(checkpoint_verifier_parse(vkeyo, &other, &d), 0);
	assert_int_equal(
		checkpoint_open(note, strlen(note), other, &cp, &d), PASO_E_AUDIT_SIGNATURE);

	/* A trailing newline on key files is accepted. */
	{
		char buf[512];

		(void)snprintf(buf, sizeof(buf), "%s\n", skey);
		checkpoint_signer_free(s);
		s = NULL;
		assert_int_equal(checkpoint_signer_from_text(buf, &s), 0);
		sodium_memzero(buf, sizeof(buf));
	}
	/* A key id that does not belong to the key is refused. */
	{
		char *b = strdup(skey), *id = strstr(b, idhex) + 1;

		id[0] = id[0] == '0' ? '1' : '0';
		checkpoint_signer_free(s);
		s = NULL;
		assert_int_equal(checkpoint_signer_from_text(b, &s), PASO_E_CHECKPOINT_FORMAT);
		checkpoint_text_free(b);
		b = strdup(vkey);
		id = strstr(b, idhex) + 1;
		id[0] = id[0] == '0' ? '1' : '0';
		checkpoint_verifier_free(other);
		other = NULL;
		assert_int_equal(
			checkpoint_verifier_parse(b, &other, &d), PASO_E_CHECKPOINT_FORMAT);
		assert_non_null(strstr(d.msg, "does not match the key"));
		free(b);
	}
	assert_int_equal(checkpoint_verifier_parse(skey, &other, &d), PASO_E_CHECKPOINT_FORMAT);
	assert_non_null(strstr(d.msg, "private key"));

	checkpoint_signer_free(s);
	checkpoint_verifier_free(v);
	checkpoint_verifier_free(other);
	checkpoint_text_free(skey);
	checkpoint_text_free(skey2);
	free(vkey);
	free(vkey2);
	free(vkeyo);
	free(note);
}

static void
test_bad_names(void **state)
{
	char *s = NULL, *v = NULL;

	(void)state;
	assert_int_equal(checkpoint_keygen("", &s, &v), PASO_E_INVALID_ARG);
	assert_int_equal(checkpoint_keygen("a b", &s, &v), PASO_E_INVALID_ARG);
	assert_int_equal(checkpoint_keygen("a+b", &s, &v), PASO_E_INVALID_ARG);
	assert_int_equal(checkpoint_keygen("a\nb", &s, &v), PASO_E_INVALID_ARG);
	assert_int_equal(checkpoint_keygen("a\xe2\x80\x83"
					   "b",
				 &s, &v),
		PASO_E_INVALID_ARG); /* em space */
	assert_null(s);
	assert_null(v);
}

/* cosignature/v1: the witness line verifies with the witness key, over exactly the spec's message.
 */
static void
test_cosignature(void **state)
{
	struct checkpoint_signer *log = NULL, *w = NULL;
	struct checkpoint_verifier *lv = NULL, *wv = NULL, *wv_as_log = NULL;
	struct checkpoint_note *n = NULL;
	struct paso_diag d = {0};
	uint8_t root[MERKLE_HASH_BYTES] = {1, 2, 3}, pk[32], raw[33];
	char *ls = NULL, *lvk = NULL, *ws = NULL, *wvk = NULL, *note = NULL, *cos = NULL, *bad;
	char msg[512];
	uint64_t ts = 0;
	size_t rawlen, mlen;
	int ml;

	(void)state;
	assert_int_equal(checkpoint_keygen("log.example/a", &ls, &lvk), 0);
	assert_int_equal(checkpoint_witness_keygen("witness.example/w1", &ws, &wvk), 0);
	assert_int_equal(checkpoint_signer_from_text(ls, &log), 0);
	assert_int_equal(checkpoint_signer_from_text(ws, &w), 0);
	assert_int_equal(checkpoint_verifier_parse(lvk, &lv, &d), 0);
	assert_int_equal(checkpoint_verifier_parse(wvk, &wv, &d), 0);
	assert_int_equal(checkpoint_verifier_type(wv), CHECKPOINT_SIG_COSIGNATURE_V1);
	assert_int_equal(checkpoint_sign(log, 7, root, &note), 0);
	assert_int_equal(checkpoint_cosign(w, note, strlen(note), 1679315147, &cos, &d), 0);
	/* The original note is a prefix: the log's line is kept as it was. */
	assert_memory_equal(cos, note, strlen(note));
	assert_int_equal(verify_text(cos, lv, NULL, &d), 0);
	assert_int_equal(verify_text(cos, wv, &ts, &d), 0);
	assert_int_equal(ts, 1679315147);

	/* Independent check of the signed message: "cosignature/v1\ntime T\n" || note text. */
	assert_int_equal(checkpoint_note_parse(cos, strlen(cos), &n, &d), 0);
	assert_int_equal(n->nsigs, 2);
	assert_int_equal(n->sigs[1].sig_len, 72);
	ml = snprintf(msg, sizeof(msg), "cosignature/v1\ntime 1679315147\n%s", n->text);
	mlen = (size_t)ml;
	{
		const char *b64k = strchr(wvk, '+') + 10; /* name "+" 8 hex digits "+" */

		assert_int_equal(sodium_base642bin(raw, sizeof(raw), b64k, strlen(b64k), NULL,
					 &rawlen, NULL, sodium_base64_VARIANT_ORIGINAL),
			0);
	}
	assert_int_equal(raw[0], 0x04);
	memcpy(pk, raw + 1, 32);
	assert_int_equal(
		crypto_sign_verify_detached(n->sigs[1].sig + 8, (const uint8_t *)msg, mlen, pk), 0);
	checkpoint_note_free(n);

	/* A cosignature does not carry over to another checkpoint text. */
	bad = strdup(cos);
	bad[strlen("log.example/a\n")] = '8';
	assert_int_equal(verify_text(bad, wv, NULL, &d), PASO_E_AUDIT_SIGNATURE);
	free(bad);

	/* A witness key is not a log key: signing a note with it is refused, and a vkey of
	 * the witness's public key with type 0x01 does not match the cosignature's key id. */
	free(note);
	assert_int_equal(checkpoint_sign(w, 7, root, &note), PASO_E_INVALID_ARG);
	assert_int_equal(
		checkpoint_cosign(log, cos, strlen(cos), 1, &note, &d), PASO_E_INVALID_ARG);
	{
		char vk[256], b64[64];

		raw[0] = 0x01;
		sodium_bin2base64(b64, sizeof(b64), raw, 33, sodium_base64_VARIANT_ORIGINAL);
		/* Compute the type-1 key id the long way to build a valid vkey. */
		{
			crypto_hash_sha256_state st;
			uint8_t h[32], nl = '\n', t = 1;

			crypto_hash_sha256_init(&st);
			crypto_hash_sha256_update(&st, (const uint8_t *)"witness.example/w1", 18);
			crypto_hash_sha256_update(&st, &nl, 1);
			crypto_hash_sha256_update(&st, &t, 1);
			crypto_hash_sha256_update(&st, pk, 32);
			crypto_hash_sha256_final(&st, h);
			(void)snprintf(vk, sizeof(vk), "witness.example/w1+%02x%02x%02x%02x+%s",
				h[0], h[1], h[2], h[3], b64);
		}
		assert_int_equal(checkpoint_verifier_parse(vk, &wv_as_log, &d), 0);
		assert_int_equal(verify_text(cos, wv_as_log, NULL, &d), PASO_E_AUDIT_SIGNATURE);
	}

	checkpoint_signer_free(log);
	checkpoint_signer_free(w);
	checkpoint_verifier_free(lv);
	checkpoint_verifier_free(wv);
	checkpoint_verifier_free(wv_as_log);
	checkpoint_text_free(ls);
	checkpoint_text_free(ws);
	free(lvk);
	free(wvk);
	free(note);
	free(cos);
}

static void
expect_note_error(const char *note, const char *needle)
{
	struct checkpoint_note *n = NULL;
	struct paso_diag d = {0};

	assert_int_equal(
		checkpoint_note_parse(note, strlen(note), &n, &d), PASO_E_CHECKPOINT_FORMAT);
	assert_null(n);
	if (strstr(d.msg, needle) == NULL)
		fail_msg("note error '%s' does not mention '%s'", d.msg, needle);
}

static void
expect_text_error(const char *text, const char *needle)
{
	struct checkpoint cp;
	struct paso_diag d = {0};

	assert_int_equal(
		checkpoint_parse_text(text, strlen(text), &cp, &d), PASO_E_CHECKPOINT_FORMAT);
	if (strstr(d.msg, needle) == NULL)
		fail_msg("checkpoint error '%s' does not mention '%s'", d.msg, needle);
}

static void
test_malformed(void **state)
{
	static const char sig[] = "\xe2\x80\x94 k "
				  "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+"
				  "1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";
	struct checkpoint_verifier *v = NULL;
	struct paso_diag d = {0};
	char buf[8192];
	size_t i, off;

	(void)state;
	expect_note_error("text\n\n\xe2\x80\x94 k AAAAAAA=", "newline");
	expect_note_error("text\n\xe2\x80\x94 k AAAAAAA=\n", "no signature lines");
	expect_note_error("text\n\n- k AAAAAAAA\n", "em dash");
	expect_note_error("text\n\n\xe2\x80\x94 k+x AAAAAAAA\n", "invalid key name");
	expect_note_error("text\n\n\xe2\x80\x94 k AAAA\n", "not base64");
	expect_note_error("text\n\n\xe2\x80\x94 k AA*AAAAA\n", "not base64");
	expect_note_error("te\x01xt\n\n\xe2\x80\x94 k AAAAAAAA\n", "control character");
	expect_note_error("te\xc3xt\n\n\xe2\x80\x94 k AAAAAAAA\n", "invalid UTF-8");
	expect_note_error(
		"te\xc0\xafxt\n\n\xe2\x80\x94 k AAAAAAAA\n", "invalid UTF-8"); /* overlong '/' */
	/* 101 signatures */
	off = (size_t)snprintf(buf, sizeof(buf), "t\n\n");
	for (i = 0; i < 101 && off + sizeof(sig) < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s", sig);
	if (i == 101)
		expect_note_error(buf, "more than 100");

	expect_text_error(
		"o\n012\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "leading zeros");
	expect_text_error("o\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"tree size");
	expect_text_error("o\n12\nAAAA\n", "32 bytes");
	expect_text_error("o\n12\n", "needs origin");
	expect_text_error("\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "empty");
	expect_text_error("o\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\next\n", "empty");

	assert_int_equal(
		checkpoint_verifier_parse("name+0000000+AQ==", &v, &d), PASO_E_CHECKPOINT_FORMAT);
	assert_int_equal(checkpoint_verifier_parse("name", &v, &d), PASO_E_CHECKPOINT_FORMAT);
	/* An ECDSA witness key (type 0x02) is understood as a format but not supported. */
	assert_int_equal(checkpoint_verifier_parse("w+01020304+AjBZMBMGByqGSM49", &v, &d),
		PASO_E_CHECKPOINT_FORMAT);
	assert_non_null(strstr(d.msg, "unsupported signature type 0x02"));
	assert_null(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_public_examples),
		cmocka_unit_test(test_unknown_signer),
		cmocka_unit_test(test_keygen_roundtrip),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_cosignature),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
