/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpora of the fuzz targets that take Paso's own messages and files
 * (fuzz/corpus/TARGET/seed-*), made by Paso's own code from a synthetic population, so the
 * committed seeds can be regenerated: make_seeds OUTDIR KEYDIR (KEYDIR: a new scratch directory).
 * The seeds hold synthetic captures only, never a real person's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dirent.h>
#include <sodium.h>

#include "auditlog.h"
#include "capture.h"
#include "checkpoint.h"
#include "frame.h"
#include "fuzz_keys.h"
#include "keyring.h"
#include "population.h"
#include "sample.h"
#include "sample_pb.h"
#include "witness.h"

static const char *outdir;

static int
put(const char *target, const char *name, const uint8_t *pre, size_t plen, const uint8_t *buf,
	size_t len)
{
	char path[4096];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	(void)snprintf(path, sizeof(path), "%s/%s/seed-%s", outdir, target, name);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	if ((plen > 0 && fwrite(pre, 1, plen, f) != plen) ||
		(len > 0 && fwrite(buf, 1, len, f) != len)) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static uint8_t *
pack_env(Paso__Envelope *env, size_t *lenp)
{
	uint8_t *buf;

	*lenp = paso__envelope__get_packed_size(env);
	if ((buf = malloc(*lenp + 4)) == NULL)
		exit(1);
	buf[0] = (uint8_t)(*lenp >> 24);
	buf[1] = (uint8_t)(*lenp >> 16);
	buf[2] = (uint8_t)(*lenp >> 8);
	buf[3] = (uint8_t)*lenp;
	(void)paso__envelope__pack(env, buf + 4);
	return buf;
}

/* One capture of person i as a kiosk message of kind 0 enrol, 1 crossing, 2 identify. */
static int
messages(const struct population *pop, uint32_t i, int kind)
{
	static const char *names[] = {"enroll", "crossing", "identify"};
	static const uint8_t one = 1, zero = 0;
	Paso__Envelope env = PASO__ENVELOPE__INIT;
	Paso__Enroll en = PASO__ENROLL__INIT;
	Paso__Crossing cr = PASO__CROSSING__INIT;
	Paso__Identify id = PASO__IDENTIFY__INIT;
	Paso__Capture cap = PASO__CAPTURE__INIT;
	struct person_info pi;
	struct bio_sample s;
	uint8_t *buf, *cbuf, kb[9];
	size_t len, clen;
	char name[64];
	int r;

	memset(&s, 0, sizeof(s));
	if ((r = population_person(pop, i, &pi)) != 0 ||
		(r = capture_take(pop, i, (uint32_t)kind, PRESET_GOOD, &s)) != 0 ||
		(r = sample_to_pb(&s, &cap)) != 0)
		return r;
	cap.capture_time = 1700000000u + i;
	cap.preset = "good";
	env.kiosk_id = "kiosk-talisman";
	env.seq = 1 + i;
	if (kind == 0) {
		en.capture = &cap;
		en.category = PASO__CATEGORY__REGIONAL_VISITOR;
		en.card_number = pi.card;
		en.crossing_point = "Talisman";
		env.body_case = PASO__ENVELOPE__BODY_ENROLL;
		env.enroll = &en;
	} else if (kind == 1) {
		cr.capture = &cap;
		cr.card_number = pi.card;
		cr.direction = PASO__DIRECTION__ENTRY;
		cr.crossing_point = "Talisman";
		env.body_case = PASO__ENVELOPE__BODY_CROSSING;
		env.crossing = &cr;
	} else {
		id.capture = &cap;
		env.body_case = PASO__ENVELOPE__BODY_IDENTIFY;
		env.identify = &id;
	}
	buf = pack_env(&env, &len);
	(void)snprintf(name, sizeof(name), "%s-%u", names[kind], i);
	r |= put("fuzz_frame", name, NULL, 0, buf, len + 4);
	r |= put("fuzz_ingest", name, NULL, 0, buf + 4, len);
	r |= put("fuzz_outbox", name, &one, 1, buf + 4, len);
	/* the same message as the outbox row it would be, under the fuzz target's key */
	{
		static const uint8_t key[32] = {7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
			15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
		uint8_t *row = malloc(2 + 8 + 24 + len + 16);

		if (row == NULL)
			exit(1);
		row[0] = zero;
		row[1] = 8;
		memset(kb, 0, sizeof(kb));
		kb[7] = (uint8_t)(1 + i);
		memcpy(row + 2, kb, 8);
		randombytes_buf(row + 10, 24);
		crypto_aead_xchacha20poly1305_ietf_encrypt(
			row + 34, NULL, buf + 4, len, kb, 8, NULL, row + 10, key);
		(void)snprintf(name, sizeof(name), "row-%s-%u", names[kind], i);
		r |= put("fuzz_outbox", name, NULL, 0, row, 2 + 8 + 24 + len + 16);
		free(row);
	}
	clen = paso__capture__get_packed_size(&cap);
	if ((cbuf = malloc(clen + 1)) == NULL)
		exit(1);
	(void)paso__capture__pack(&cap, cbuf);
	(void)snprintf(name, sizeof(name), "capture-%u-%d", i, kind);
	r |= put("fuzz_sample_pb", name, NULL, 0, cbuf, clen);
	if (kind == 0) {
		Paso__SubjectRecord sr = PASO__SUBJECT_RECORD__INIT;
		uint8_t *rbuf;
		size_t rlen;

		sr.category = en.category;
		sr.card_number = pi.card;
		sr.templates = &cap;
		sr.enrolled_at = cap.capture_time;
		sr.enrolled_point = "Talisman";
		sr.enrolled_by = "kiosk-talisman";
		rlen = paso__subject_record__get_packed_size(&sr);
		if ((rbuf = malloc(rlen)) == NULL)
			exit(1);
		(void)paso__subject_record__pack(&sr, rbuf);
		(void)snprintf(name, sizeof(name), "record-%u", i);
		r |= put("fuzz_sealed", name, &one, 1, rbuf, rlen);
		free(rbuf);
	}
	free(cbuf);
	free(buf);
	sample_pb_release(&cap);
	bio_sample_clear(&s);
	return r;
}

static int
keyfiles(const char *keydir)
{
	static const uint8_t zero = 0, one = 1, two = 2;
	uint8_t dk[KEYRING_DK_BYTES] = {1}, sid[KEYRING_SUBJECT_BYTES] = {2},
		wrapped[KEYRING_WRAPPED_BYTES], buf[256];
	struct keyring *kr = NULL;
	struct paso_diag d = {0};
	struct dirent *de;
	char path[4096], *skey = NULL, *vkey = NULL;
	size_t n;
	FILE *f;
	DIR *dp;
	int r;

	if ((r = keyring_create(keydir)) != 0 || (r = keyring_open(keydir, &kr, &d)) != 0 ||
		(r = keyring_wrap(kr, 3, sid, dk, wrapped)) != 0)
		return r;
	r = put("fuzz_keyfile", "wrapped", &one, 1, wrapped, sizeof(wrapped));
	keyring_close(kr);
	if ((dp = opendir(keydir)) == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", keydir, de->d_name);
		if ((f = fopen(path, "rb")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		r |= put("fuzz_keyfile", de->d_name, &zero, 1, buf, n);
	}
	closedir(dp);
	if (checkpoint_keygen("paso/seed", &skey, &vkey) != 0)
		return -1;
	r |= put("fuzz_keyfile", "audit.skey", &two, 1, (const uint8_t *)skey, strlen(skey));
	r |= put("fuzz_checkpoint", "log.vkey", NULL, 0, (const uint8_t *)vkey, strlen(vkey));
	checkpoint_text_free(skey);
	checkpoint_text_free(vkey);
	return r;
}

/* Reads a whole small file; caller frees. */
static uint8_t *
slurp(const char *dir, const char *name, size_t *lenp)
{
	char path[4096];
	uint8_t *b;
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "rb")) == NULL || (b = malloc(1u << 20)) == NULL)
		exit(1);
	*lenp = fread(b, 1, 1u << 20, f);
	fclose(f);
	return b;
}

static void
be32_put(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Seeds of the published-log targets: real logs signed with the fuzz key, requests, bundles. */
static int
tlog_seeds(const char *keydir)
{
	static const uint8_t m0 = 0, m1 = 1, m2 = 2;
	static const uint64_t sizes[] = {5, 300};
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_BYTES], entry[64], *f[4], *pk, dig[32], w;
	struct checkpoint_signer *s = NULL;
	struct auditlog *log = NULL;
	struct paso_diag d = {0};
	char dir[4096], name[64], *note = NULL, *body = NULL, *wsk = NULL, *wvk = NULL, *txt;
	size_t fl[4], len, blen, np, k, i, j;
	uint64_t e;
	int r = 0;

	if (checkpoint_signer_from_text(FUZZ_LOG_SKEY, &s) != 0)
		return -1;
	for (k = 0; k < 2 && r == 0; k++) {
		(void)snprintf(
			dir, sizeof(dir), "%s/audit-%llu", keydir, (unsigned long long)sizes[k]);
		if (mkdir(dir, 0700) != 0 || auditlog_open(dir, &log, &d) != 0)
			return -1;
		for (e = 0; e < sizes[k]; e++) {
			for (i = 0; i < sizeof(entry); i++)
				entry[i] = (uint8_t)(e * 7 + i);
			if (auditlog_append(log, entry, 1 + e % sizeof(entry), NULL) != 0)
				return -1;
		}
		if (auditlog_sync(log) != 0 || auditlog_checkpoint(log, s) != 0 ||
			auditlog_latest_checkpoint(log, &note, &len) != 0)
			return -1;
		/* fuzz_logread: the directory packed as three lengths and four files */
		f[0] = slurp(dir, "entries", &fl[0]);
		f[1] = slurp(dir, "offsets", &fl[1]);
		f[2] = slurp(dir, "hashes", &fl[2]);
		f[3] = slurp(dir, "checkpoint", &fl[3]);
		if ((pk = malloc(12 + fl[0] + fl[1] + fl[2] + fl[3])) == NULL)
			return -1;
		for (i = 0, blen = 12; i < 4; i++) {
			if (i < 3)
				be32_put(pk + 4 * i, fl[i]);
			memcpy(pk + blen, f[i], fl[i]);
			blen += fl[i];
			free(f[i]);
		}
		(void)snprintf(name, sizeof(name), "log-%llu", (unsigned long long)sizes[k]);
		r |= put("fuzz_logread", name, NULL, 0, pk, blen);
		/* fuzz_bundle: the first tile's bundle, width min(size, 256) */
		for (e = 0, blen = 0; e < sizes[k] && e < 256; e++) {
			j = 1 + e % sizeof(entry);
			pk[blen] = (uint8_t)(j >> 8);
			pk[blen + 1] = (uint8_t)j;
			for (i = 0; i < j; i++)
				pk[blen + 2 + i] = (uint8_t)(e * 7 + i);
			blen += 2 + j;
		}
		w = (uint8_t)(e - 1);
		(void)snprintf(name, sizeof(name), "bundle-%llu", (unsigned long long)e);
		r |= put("fuzz_bundle", name, &w, 1, pk, blen);
		free(pk);
		/* fuzz_witness: a request from 0 (parser and decision), the journal record */
		if (witness_format_request(0, NULL, 0, note, len, &body, &blen) != 0)
			return -1;
		(void)snprintf(name, sizeof(name), "request-0-%llu", (unsigned long long)sizes[k]);
		r |= put("fuzz_witness", name, &m0, 1, (const uint8_t *)body, blen);
		(void)snprintf(name, sizeof(name), "decide-0-%llu", (unsigned long long)sizes[k]);
		r |= put("fuzz_witness", name, &m2, 1, (const uint8_t *)body, blen);
		free(body);
		if ((pk = malloc(4 + len + 32)) == NULL)
			return -1;
		be32_put(pk, len);
		memcpy(pk + 4, note, len);
		crypto_generichash(dig, 32, pk, 4 + len, NULL, 0);
		memcpy(pk + 4 + len, dig, 32);
		(void)snprintf(name, sizeof(name), "journal-%llu", (unsigned long long)sizes[k]);
		r |= put("fuzz_witness", name, &m1, 1, pk, 4 + len + 32);
		free(pk);
		if (k == 1) {
			if (auditlog_consistency(log, 5, 300, proof, MERKLE_MAX_PROOF, &np) != 0 ||
				witness_format_request(5,
					(const uint8_t(*)[MERKLE_HASH_BYTES])proof, np, note, len,
					&body, &blen) != 0)
				return -1;
			r |= put("fuzz_witness", "request-5-300", &m0, 1, (const uint8_t *)body,
				blen);
			r |= put("fuzz_witness", "decide-5-300", &m2, 1, (const uint8_t *)body,
				blen);
			free(body);
		}
		free(note);
		note = NULL;
		auditlog_close(log);
		log = NULL;
	}
	checkpoint_signer_free(s);
	/* fuzz_cosign: a witnesses file */
	if (checkpoint_witness_keygen("paso-witness/seed", &wsk, &wvk) != 0 ||
		(txt = malloc(2048)) == NULL)
		return -1;
	len = (size_t)snprintf(txt, 2048,
		"# witnesses of this hub\ndhs http://127.0.0.1:7402/ %s\n\nw.2 http://[::1]:80/w/ %s\n",
		wvk, wvk);
	r |= put("fuzz_cosign", "witnesses", NULL, 0, (const uint8_t *)txt, len);
	free(txt);
	checkpoint_text_free(wsk);
	checkpoint_text_free(wvk);
	/* fuzz_httpmini: a request, answers, URLs */
	{
		static const char *const req =
			"POST /add-checkpoint HTTP/1.1\r\nHost: 127.0.0.1:7402\r\nContent-Type: "
			"text/plain\r\nContent-Length: 7\r\n\r\nold 0\n\n";
		static const char *const ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
					      "charset=utf-8\r\nContent-Length: 3\r\n\r\nok\n";
		static const char *const size409 =
			"HTTP/1.1 409 Conflict\r\nContent-Type: "
			"text/x.tlog.size\r\nContent-Length: 4\r\n\r\n300\n";
		static const char *const noclen = "HTTP/1.0 200 OK\r\n\r\ntile bytes until the end";
		static const char *const url = "http://127.0.0.1:7402/prefix/";

		r |= put("fuzz_httpmini", "request", &m0, 1, (const uint8_t *)req, strlen(req));
		r |= put("fuzz_httpmini", "get", &m0, 1,
			(const uint8_t *)"GET /tile/0/000?x HTTP/1.1\r\n\r\n", 31);
		r |= put("fuzz_httpmini", "ok", &m1, 1, (const uint8_t *)ok, strlen(ok));
		r |= put("fuzz_httpmini", "409", &m1, 1, (const uint8_t *)size409, strlen(size409));
		r |= put(
			"fuzz_httpmini", "noclen", &m1, 1, (const uint8_t *)noclen, strlen(noclen));
		r |= put("fuzz_httpmini", "url", &m2, 1, (const uint8_t *)url, strlen(url));
	}
	return r;
}

int
main(int argc, char **argv)
{
	struct population *pop = NULL;
	uint32_t i;
	int kind, r = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: make_seeds OUTDIR KEYDIR\n");
		return 2;
	}
	outdir = argv[1];
	if (sodium_init() < 0 || population_new(42, 8, &pop) != 0)
		return 1;
	for (i = 0; i < 4 && r == 0; i++)
		for (kind = 0; kind < 3 && r == 0; kind++)
			r = messages(pop, i, kind);
	if (r == 0)
		r = keyfiles(argv[2]);
	if (r == 0)
		r = tlog_seeds(argv[2]);
	population_free(pop);
	if (r != 0)
		fprintf(stderr, "make_seeds: failed (%d)\n", r);
	return r == 0 ? 0 : 1;
}
