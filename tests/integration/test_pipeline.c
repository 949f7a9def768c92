/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whole pipeline with real programs: a hub on an ephemeral loopback port, five kiosks enrolling
 * 1,000 synthetic people and sending 5,000 crossings over TLS, then the store, the audit log and
 * every file on disk checked from outside. PASO_PIPELINE_POLICY names another policy file to run
 * it under (ctest's test_pipeline_protected: policies/protected.yaml, protected references).
 */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "capture.h"
#include "harness.h"
#include "population.h"

#define PEOPLE "1000"
#define CROSSINGS "5000"
#define IDENTIFY "100"

struct run {
	struct deployment dep;
	char *kiosk_json;
	char *stats_json;
	char *verify_out;
	int kiosk_status, stop_status, verify_status;
};

static int
setup(void **state)
{
	static struct run run;
	char hubaddr[64], *out = NULL;

	memset(&run, 0, sizeof(run));
	h_deploy(&run.dep, getenv("PASO_PIPELINE_POLICY"));
	h_hub_start(&run.dep, 0);
	(void)snprintf(hubaddr, sizeof(hubaddr), "127.0.0.1:%u", (unsigned)run.dep.port);
	{
		const char *argv[] = {"paso-kiosk", "run", "--deployment", run.dep.hub, "--hub",
			hubaddr, "--people", PEOPLE, "--crossings", CROSSINGS, "--identify",
			IDENTIFY, "--impostor-rate", "0.02", "--seed", "11", "--workdir",
			run.dep.work, "--json", NULL};
		run.kiosk_status = h_run(&run.kiosk_json, argv);
	}
	run.stop_status = h_hub_stop(&run.dep, SIGTERM);
	{
		const char *argv[] = {
			"paso-hub", "stats", run.dep.hub, "--json", "--recount", NULL};
		assert_int_equal(h_run(&run.stats_json, argv), 0);
	}
	{
		const char *argv[] = {"paso-audit", "verify", run.dep.hub, NULL};
		run.verify_status = h_run(&run.verify_out, argv);
	}
	free(out);
	fprintf(stderr, "kiosk: %s\nstats: %s\nverify: %s\n", run.kiosk_json, run.stats_json,
		run.verify_out);
	*state = &run;
	return 0;
}

static int
teardown(void **state)
{
	struct run *run = *state;

	h_cleanup(&run->dep);
	free(run->kiosk_json);
	free(run->stats_json);
	free(run->verify_out);
	return 0;
}

/* Every message is answered, and the hub stopped cleanly on SIGTERM. */
static void
test_all_acknowledged(void **state)
{
	struct run *run = *state;
	long long queued = h_json_num(run->kiosk_json, "queued");
	long long acked = h_json_num(run->kiosk_json, "acked");
	long long refused = h_json_num(run->kiosk_json, "refused");
	long long dups = h_json_num(run->kiosk_json, "duplicates");

	assert_int_equal(run->kiosk_status, 0);
	assert_int_equal(run->stop_status, 0);
	assert_true(queued >= 6000);
	assert_int_equal(acked + refused, queued);
	/* The only refusals a clean run may see are enrolments caught as duplicates. */
	assert_int_equal(refused, dups);
	assert_true(dups <= 2);
}

/* What the store holds matches what the kiosks were told. */
static void
test_store_counts(void **state)
{
	struct run *run = *state;
	long long enrolled = h_json_num(run->kiosk_json, "enrolled");
	long long crossings =
		h_json_num(run->kiosk_json, "genuine") + h_json_num(run->kiosk_json, "impostor");

	assert_true(crossings >= 4900);
	assert_true(enrolled >= 980);
	assert_int_equal(h_json_num(run->stats_json, "subjects"), enrolled);
	assert_int_equal(h_json_num(run->stats_json, "crossings"), crossings);
	assert_int_equal(
		h_json_num(run->stats_json, "messages_seen"), h_json_num(run->kiosk_json, "acked"));
	assert_int_equal(h_json_num(run->stats_json, "identifications"),
		h_json_num(run->kiosk_json, "identify_enrolled") +
			h_json_num(run->kiosk_json, "unenrolled_probes"));
	assert_non_null(strstr(run->stats_json, "\"recounted\":true"));
}

/* A genuine traveller is verified; an impostor presenting someone else's card is not. */
static void
test_verification(void **state)
{
	struct run *run = *state;
	long long g = h_json_num(run->kiosk_json, "genuine");
	long long gv = h_json_num(run->kiosk_json, "genuine_verified");
	long long im = h_json_num(run->kiosk_json, "impostor");
	long long iv = h_json_num(run->kiosk_json, "impostor_verified");

	assert_true(g > 4000);
	assert_true(im > 30);
	assert_true(gv * 100 >= g * 97);
	if (getenv("PASO_PIPELINE_POLICY") == NULL) {
		assert_int_equal(iv, 0);
		return;
	}
	/* Under protection the policy's FMR 1e-4 is what impostors really get (`paso eval
	 * --hub-protect`): of 96 impostors, two verified would be a 5e-5 event. This traffic
	 * (seed 11) holds one impostor whose two irises score a 1.3e-4 event whatever the key
	 * (card of person 389, capture of 657), verified under 64 of 100 random keys; no other
	 * impostor was verified under any of those keys. Before PolyProtect forms were centred,
	 * some deployments' keys let most strangers' faces look alike (threat-model.md O20). */
	assert_true(iv <= 1);
}

/* Detention-centre identification finds enrolled people and nobody for strangers. */
static void
test_identification(void **state)
{
	struct run *run = *state;
	long long n = h_json_num(run->kiosk_json, "identify_enrolled");
	long long right = h_json_num(run->kiosk_json, "identified_right");
	long long probes = h_json_num(run->kiosk_json, "unenrolled_probes");
	long long wrong = h_json_num(run->kiosk_json, "unenrolled_identified");

	assert_true(n >= 40);
	assert_true(right * 100 >= n * 90);
	assert_true(probes >= 40);
	if (getenv("PASO_PIPELINE_POLICY") == NULL) {
		assert_int_equal(wrong, 0);
		return;
	}
	/* Protected references: strangers' evidence reaches the 1:N per-comparison rates more
	 * often than the raw one's (docs/biometrics.md "At the hub"); one is tolerated. */
	assert_true(wrong <= 1);
}

/* An outsider's verifier accepts the log and its checkpoint. */
static void
test_audit_verifies(void **state)
{
	struct run *run = *state;

	assert_int_equal(run->verify_status, 0);
	assert_non_null(strstr(run->verify_out, "OK"));
}

/* --- no biometric plaintext anywhere on disk or in the logs ---------------------------------- */

struct needles {
	const uint8_t *p[8];
	size_t n[8];
	size_t count;
};

static int
file_has(const char *path, const struct needles *nd)
{
	size_t len = 0, i, j;
	char *buf = h_read_file(path, &len);
	int found = 0;

	if (buf == NULL)
		return 0;
	for (i = 0; i < nd->count && !found; i++)
		for (j = 0; j + nd->n[i] <= len && !found; j++)
			if (memcmp(buf + j, nd->p[i], nd->n[i]) == 0)
				found = 1;
	free(buf);
	return found;
}

static int
tree_has(const char *dir, const struct needles *nd, char *hit, size_t hitlen)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[2048];
	int found = 0;

	if (dp == NULL)
		return 0;
	while (!found && (de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			found = tree_has(path, nd, hit, hitlen);
		else if (S_ISREG(st.st_mode) && file_has(path, nd)) {
			(void)snprintf(hit, hitlen, "%s", path);
			found = 1;
		}
	}
	closedir(dp);
	return found;
}

static void
test_no_template_bytes_on_disk(void **state)
{
	struct run *run = *state;
	struct population *pop = NULL;
	struct person_info pi;
	struct bio_sample s;
	struct needles nd;
	char hit[2048] = "", control[700];
	FILE *f;

	/* Person 0's enrolment capture, made exactly as paso-kiosk made it (seed 11, capture 0). */
	assert_int_equal(population_new(11, 1100, &pop), 0);
	assert_int_equal(population_person(pop, 0, &pi), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(capture_take(pop, 0, 0,
				 pi.category == CAT_DETAINEE ? PRESET_DETENTION : PRESET_GOOD, &s),
		0);
	memset(&nd, 0, sizeof(nd));
	if (s.finger_record != NULL && s.finger_len > 80) {
		nd.p[nd.count] = s.finger_record + 40;
		nd.n[nd.count++] = 24;
	}
	if (s.has_face) {
		nd.p[nd.count] = (const uint8_t *)s.face;
		nd.n[nd.count++] = 16;
		nd.p[nd.count] = (const uint8_t *)(s.face + 300);
		nd.n[nd.count++] = 16;
	}
	if (s.n_iris > 0) {
		nd.p[nd.count] = s.iris[0].code + 64;
		nd.n[nd.count++] = 16;
	}
	assert_true(nd.count >= 3);
	/* The card number is sealed inside the record; the index holds only a keyed hash. */
	nd.p[nd.count] = (const uint8_t *)pi.card;
	nd.n[nd.count++] = strlen(pi.card);
	/* Control: the search does find those bytes where they are written in the clear. */
	(void)snprintf(control, sizeof(control), "%s/control.bin", run->dep.dir);
	assert_non_null(f = fopen(control, "wb"));
	assert_int_equal(fwrite(s.face, sizeof(float), BIO_FACE_DIM, f), BIO_FACE_DIM);
	fclose(f);
	assert_true(file_has(control, &nd));
	unlink(control);
	/* The hub's deployment, its log and the kiosks' outboxes: none holds them. */
	if (tree_has(run->dep.dir, &nd, hit, sizeof(hit)))
		fail_msg("template bytes of person 0 found in %s", hit);
	assert_null(strstr(run->kiosk_json, pi.card));
	bio_sample_clear(&s);
	population_free(pop);
}

/* One flipped byte in the real hub's audit log, on a copy: the outsider's verifier names it. */
static void
test_tampered_copy_of_the_log_is_caught(void **state)
{
	struct run *run = *state;
	char copy[700], cmd[2048], entries[800], key[800], *out = NULL;
	size_t len = 0;
	char *buf;
	FILE *f;
	int st;

	(void)snprintf(copy, sizeof(copy), "%s/audit-copy", run->dep.dir);
	(void)snprintf(cmd, sizeof(cmd), "cp -r '%s/audit' '%s'", run->dep.hub, copy);
	assert_int_equal(system(cmd), 0);
	(void)snprintf(entries, sizeof(entries), "%s/entries", copy);
	assert_non_null(buf = h_read_file(entries, &len));
	assert_true(len > 100000);
	buf[len / 2] ^= 0x01; /* somewhere in the middle of the log */
	assert_non_null(f = fopen(entries, "r+b"));
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
	/* The outsider brings the key from elsewhere: here, the hub's published log.vkey. */
	(void)snprintf(key, sizeof(key), "%s/audit/log.vkey", run->dep.hub);
	{
		const char *argv[] = {"paso-audit", "verify", copy, "--key", key, NULL};
		st = h_run(&out, argv);
	}
	fprintf(stderr, "tampered: %s", out);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "entry "));
	free(out);
	/* The original is untouched and still verifies. */
	{
		const char *argv[] = {"paso-audit", "verify", run->dep.hub, NULL};
		assert_int_equal(h_run(&out, argv), 0);
		free(out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_acknowledged),
		cmocka_unit_test(test_store_counts),
		cmocka_unit_test(test_verification),
		cmocka_unit_test(test_identification),
		cmocka_unit_test(test_audit_verifies),
		cmocka_unit_test(test_no_template_bytes_on_disk),
		cmocka_unit_test(test_tampered_copy_of_the_log_is_caught),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
