/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for `paso eval --records` and `--synthetic`: counts, report, DET files, named refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "finger_synth.h"
#include "iso19794.h"

static char dir[] = "/tmp/paso-test-evalrec-XXXXXX";

#define FINGERS 5
#define IMPRESSIONS 4

static int
run(const char *args)
{
	char cmd[4096];
	int n, st;

	n = snprintf(cmd, sizeof(cmd), "'%s/paso' eval %s >'%s/out.txt' 2>'%s/err.txt'",
		PASO_BIN_DIR, args, dir, dir);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *
slurp(const char *name)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void
put(const char *name, const uint8_t *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/*
 * Set S: FINGERS synthetic fingers x IMPRESSIONS, FVC-named, finger position 0 as real records
 * say, and (pad) 3 zero bytes after each record as some SDKs write.
 */
static void
make_set(const char *set, unsigned base, int pad)
{
	char name[256];
	unsigned p, c;

	snprintf(name, sizeof(name), "%s/%s", dir, set);
	assert_int_equal(mkdir(name, 0755), 0);
	for (p = 0; p < FINGERS; p++)
		for (c = 1; c <= IMPRESSIONS; c++) {
			struct finger_noise nz = finger_noise_good;
			struct fmr_record rec;
			struct paso_diag d = {0};
			uint8_t seed[32] = {0}, *r = NULL, *out = NULL, *padded;
			size_t len = 0, olen = 0;

			nz.fail_rate = 0;
			seed[0] = (uint8_t)(base + p);
			assert_int_equal(finger_synth_record(seed, c, &nz, 1u << 1, &r, &len), 0);
			assert_int_equal(iso19794_read(r, len, &rec, &d), 0);
			rec.views[0].finger_pos = 0;
			assert_int_equal(iso19794_write(&rec, &out, &olen, &d), 0);
			padded = calloc(1, olen + 3);
			assert_non_null(padded);
			memcpy(padded, out, olen);
			snprintf(name, sizeof(name), "%s/%u_%u.iso", set, 101 + p, c);
			put(name, padded, olen + (pad ? 3 : 0));
			fmr_record_free(&rec);
			free(r);
			free(out);
			free(padded);
		}
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	make_set("A", 1, 0);
	make_set("B", 40, 1);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static double
json_num(const char *from, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(from, pat);
	assert_non_null(p);
	return strtod(p + strlen(pat), NULL);
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Two sets of real-shaped records: every genuine pair, impostor pairs within each set only. */
static void
test_records_counts_and_files(void **state)
{
	char args[1024], *json, *scores, *svg, *csv;
	const char *fing, *ev;
	/* per set: 5 fingers x C(4, 2) genuine; C(20, 2) - 30 impostor */
	double gen = 2 * FINGERS * 6, imp = 2 * (190 - FINGERS * 6);

	(void)state;
	snprintf(args, sizeof(args), "--records '%s' --json --out '%s/det' --scores '%s/s.csv'",
		dir, dir, dir);
	/* dir holds A/, B/ and nothing else yet: one set per subdirectory */
	assert_int_equal(run(args), 0);
	json = slurp("out.txt");
	assert_non_null(json);
	assert_true(json_num(json, "records") == 2 * FINGERS * IMPRESSIONS);
	assert_true(json_num(json, "sets") == 2);
	fing = strstr(json, "\"finger\": {");
	ev = strstr(json, "\"evidence\": {");
	assert_non_null(fing);
	assert_non_null(ev);
	assert_true(json_num(strstr(fing, "\"genuine\""), "count") == gen);
	assert_true(json_num(strstr(fing, "\"genuine\""), "not_compared") == 0);
	assert_true(json_num(strstr(fing, "\"impostor\""), "count") == imp);
	/* synthetic fingers of good captures: well apart, so a small EER */
	assert_true(json_num(fing, "eer") < 0.1);
	assert_true(json_num(strstr(fing, "\"genuine\""), "mean") >
		    3 * json_num(strstr(fing, "\"impostor\""), "mean"));
	/* the policy's thresholds are checked on the evidence, with counts */
	assert_non_null(strstr(ev, "\"policy_threshold\""));
	/* rank-1: per set, each finger's first impression enrolled, the other 3 probe */
	assert_true(json_num(json, "mated_probes") == 2 * FINGERS * (IMPRESSIONS - 1));
	assert_true(json_num(json, "rank1") >= 0.9);
	scores = slurp("s.csv");
	assert_non_null(scores);
	assert_true(strncmp(scores, "set,a,b,genuine,score,evidence\n", 31) == 0);
	assert_int_equal(count_lines(scores), 1 + (size_t)(gen + imp));
	/* no pair crosses sets */
	assert_null(strstr(scores, "0,101_1.iso,101_1.iso"));
	svg = slurp("det/det.svg");
	csv = slurp("det/det.csv");
	assert_non_null(svg);
	assert_non_null(csv);
	assert_non_null(strstr(svg, "real finger records in 2 sets"));
	assert_non_null(strstr(csv, "\nfinger,"));
	free(json);
	free(scores);
	free(svg);
	free(csv);
	/* text report: EER and the FNMR table with the counts behind each figure */
	snprintf(args, sizeof(args), "--records '%s/A' --records '%s/B'", dir, dir);
	assert_int_equal(run(args), 0);
	json = slurp("out.txt");
	assert_non_null(strstr(json, "40 real finger records in 2 sets"));
	assert_non_null(strstr(json, "  EER "));
	assert_non_null(strstr(json, "320 impostors: only 3 may lie above, indicative)"));
	assert_non_null(
		strstr(json, "FMR 0.001  not enough impostor comparisons (320; need 10000)"));
	assert_non_null(strstr(json, " of 320 impostors)"));
	assert_non_null(strstr(json, "policy FMR 0.0001"));
	assert_non_null(strstr(json, "of 30 probes; each identity's first record enrolled"));
	free(json);
}

/* Identities from a CSV; one set. */
static void
test_records_csv(void **state)
{
	char args[1024], *out, *err, path[512];
	FILE *f;
	unsigned p, c;

	(void)state;
	snprintf(path, sizeof(path), "%s/ids.csv", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "file,identity\n");
	for (p = 0; p < FINGERS; p++)
		for (c = 1; c <= IMPRESSIONS; c++)
			fprintf(f, "A/%u_%u.iso,person-%u\n", 101 + p, c, p);
	assert_int_equal(fclose(f), 0);
	snprintf(args, sizeof(args), "--records '%s' --ids '%s' --json", dir, path);
	assert_int_equal(run(args), 0);
	out = slurp("out.txt");
	assert_true(json_num(strstr(out, "\"genuine\""), "count") == FINGERS * 6);
	assert_true(json_num(strstr(out, "\"impostor\""), "count") == 190 - FINGERS * 6);
	free(out);
	/* a bad line is named with its number */
	f = fopen(path, "a");
	assert_non_null(f);
	fprintf(f, "A/101_1.iso\n");
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run(args), 1);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "ids.csv:22: expected 'file,identity': 'A/101_1.iso'"));
	free(err);
}

/* Bad directories, names and records are named; nothing is reported for them. */
static void
test_records_refusals(void **state)
{
	char args[1024], *err, *out;
	static const uint8_t junk[] = "GIF89a not a record";

	(void)state;
	snprintf(args, sizeof(args), "--records '%s/none'", dir);
	assert_int_equal(run(args), 1);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "/none: No such file or directory"));
	free(err);
	out = slurp("out.txt");
	assert_true(out[0] == '\0');
	free(out);
	snprintf(args, sizeof(args), "%s/C", dir);
	assert_int_equal(mkdir(args, 0755), 0);
	put("C/finger-one.iso", junk, sizeof(junk));
	snprintf(args, sizeof(args), "--records '%s/C'", dir);
	assert_int_equal(run(args), 1);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "C/finger-one.iso: not named FINGER_IMPRESSION.ext"));
	free(err);
	snprintf(args, sizeof(args), "%s/C/finger-one.iso", dir);
	assert_int_equal(unlink(args), 0);
	put("C/1_1.iso", junk, sizeof(junk));
	put("C/1_2.iso", junk, sizeof(junk));
	snprintf(args, sizeof(args), "--records '%s/C'", dir);
	assert_int_equal(run(args), 1);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "C/1_1.iso: not a finger minutiae record"));
	assert_non_null(strstr(err, "TEMPLATE_FORMAT"));
	free(err);
	assert_int_equal(run("--records"), 2);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "--records needs a value"));
	free(err);
	snprintf(args, sizeof(args), "--records '%s/A' --synthetic 4", dir);
	assert_int_equal(run(args), 2);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "not both"));
	free(err);
	snprintf(args, sizeof(args), "--records '%s/A' --subjects 4", dir);
	assert_int_equal(run(args), 2);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "unknown option '--subjects'"));
	free(err);
}

/* The same report from the synthetic finger model. */
static void
test_synthetic_fingers(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(run("--synthetic 6 --impressions 3 --seed 4 --preset poor --json"), 0);
	out = slurp("out.txt");
	assert_true(json_num(out, "records") == 18);
	assert_non_null(strstr(out, "\"synthetic\": true, \"preset\": \"poor\""));
	assert_true(json_num(strstr(out, "\"genuine\""), "count") == 18);
	assert_true(json_num(strstr(out, "\"impostor\""), "count") == 153 - 18);
	free(out);
	assert_int_equal(run("--synthetic 1"), 2);
	out = slurp("err.txt");
	assert_non_null(strstr(out, "--synthetic: '1' is not a whole number in 2.."));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_counts_and_files),
		cmocka_unit_test(test_records_csv),
		cmocka_unit_test(test_records_refusals),
		cmocka_unit_test(test_synthetic_fingers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
