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

#include "capture.h"
#include "checkpoint.h"
#include "frame.h"
#include "keyring.h"
#include "population.h"
#include "sample.h"
#include "sample_pb.h"

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
	population_free(pop);
	if (r != 0)
		fprintf(stderr, "make_seeds: failed (%d)\n", r);
	return r == 0 ? 0 : 1;
}
