/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for `paso eval`: a tiny population gives valid CSV and SVG whose numbers agree with the
 * JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/paso-test-eval-XXXXXX";

static int
run(const char *args)
{
	char cmd[2048];
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

/* The number after "key": inside the object that starts at from. */
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

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Finds the CSV row of modality at threshold t (as printed) and returns its fmr and fnmr. */
static int
csv_row(const char *csv, const char *modality, double t, double *fmr, double *fnmr, size_t *imp)
{
	const char *line = strchr(csv, '\n') + 1;

	while (*line) {
		char name[32];
		double th, a, b;
		size_t ni, ng;

		if (sscanf(line, "%31[^,],%lf,%lf,%lf,%zu,%zu", name, &th, &a, &b, &ni, &ng) == 6 &&
			strcmp(name, modality) == 0 && fabs(th - t) <= 1e-8 * fmax(1, fabs(t))) {
			*fmr = a;
			*fnmr = b;
			*imp = ni;
			return 1;
		}
		line = strchr(line, '\n');
		if (line == NULL)
			break;
		line++;
	}
	return 0;
}

static void
test_tiny_population_json_csv_svg(void **state)
{
	static const char *mods[] = {"finger", "face", "iris", "fused"};
	char args[512], *json, *csv, *svg, key[64];
	size_t k;
	int checked = 0;

	(void)state;
	snprintf(args, sizeof(args),
		"--subjects 30 --captures 2 --seed 5 --finger-impostors 1200 --json --out '%s/o'",
		dir);
	assert_int_equal(run(args), 0);
	json = slurp("out.txt");
	csv = slurp("o/det.csv");
	svg = slurp("o/det.svg");
	assert_non_null(json);
	assert_non_null(csv);
	assert_non_null(svg);
	assert_true(strncmp(csv, "modality,threshold,fmr,fnmr,impostor_comparisons,", 49) == 0);
	assert_true(json_num(json, "subjects") == 30);
	for (k = 0; k < sizeof(mods) / sizeof(mods[0]); k++) {
		const char *m, *at;
		double t, fnmr, fmr, cf = -1, cn = -1;
		size_t ni = 0;

		snprintf(key, sizeof(key), "\"%s\": {", mods[k]);
		m = strstr(json, key);
		assert_non_null(m);
		at = strstr(m, "\"fnmr_at_fmr\"");
		assert_non_null(at);
		/* the first point is FMR 1e-2; enough impostors for it in this run */
		assert_true(json_num(at, "fmr") == 0.01);
		if (strncmp(strstr(at, "\"enough\": ") + 10, "true", 4) != 0)
			continue;
		t = json_num(at, "threshold");
		fnmr = json_num(at, "fnmr");
		fmr = json_num(at, "observed_fmr");
		assert_true(fmr <= 0.01);
		/* the CSV has the same point with the same numbers and counts */
		if (!csv_row(csv, mods[k], t, &cf, &cn, &ni))
			fail_msg("no CSV row for %s at threshold %.9g", mods[k], t);
		assert_true(fabs(cf - fmr) < 1e-9);
		assert_true(fabs(cn - fnmr) < 1e-9);
		assert_true((double)ni == json_num(strstr(m, "\"impostor\""), "count"));
		/* the SVG draws this modality and names it in the legend */
		snprintf(key, sizeof(key), ">%s</text>", mods[k]);
		assert_non_null(strstr(svg, key));
		checked++;
	}
	assert_true(checked >= 3);
	/* the tiny run cannot back FMR 1e-6: it says so instead of inventing a number */
	assert_non_null(strstr(json, "{\"fmr\": 1e-06, \"impostor_comparisons\": 1200, "
				     "\"enough\": false, \"threshold\": null"));
	/* a well-formed SVG document with log axes and one curve per modality */
	assert_true(strncmp(svg, "<?xml", 5) == 0);
	assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	assert_non_null(strstr(svg, "</svg>\n"));
	assert_non_null(strstr(svg, ">1e-2</text>"));
	{
		const char *p = svg;
		int polylines = 0;

		while ((p = strstr(p, "<polyline")) != NULL) {
			polylines++;
			p++;
		}
		assert_int_equal(polylines, 4);
	}
	/* 1:N over 15 enrolled: everybody found, no stranger flagged */
	assert_true(json_num(json, "rank1") == 1.0);
	assert_true(json_num(json, "fpir") == 0.0);
	free(json);
	free(csv);
	free(svg);
}

static void
test_text_report_and_usage_errors(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run("--subjects 12 --captures 2 --seed 1 --preset detention "
			     "--finger-impostors 50"),
		0);
	out = slurp("out.txt");
	assert_non_null(out);
	assert_non_null(strstr(out, "preset detention"));
	assert_non_null(strstr(out, "not enough impostor comparisons"));
	assert_non_null(strstr(out, "1:N over 6 enrolled"));
	free(out);
	assert_int_equal(run("--subjects 10 --captures 2"), 2);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "--seed"));
	free(err);
	assert_int_equal(run("--subjects 10 --captures 2 --seed 1 --preset sunny"), 2);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "'sunny'"));
	free(err);
	assert_int_equal(run("--subjects ten --captures 2 --seed 1"), 2);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "--subjects: 'ten'"));
	free(err);
	assert_int_equal(run("--help"), 0);
	out = slurp("out.txt");
	assert_non_null(strstr(out, "usage: paso eval"));
	free(out);
}

/* `paso eval --protect`: every modality reported, references under two keys link less than raw
 * templates do, and bad options are named. */
static void
test_protect_report(void **state)
{
	char *out, *err, *p;
	double raw, prot;

	(void)state;
	assert_int_equal(run("--protect --subjects 40 --captures 2 --seed 4 --attacks 2 "
			     "--impostors 20000 --finger-impostors 300"),
		0);
	out = slurp("out.txt");
	assert_non_null(out);
	assert_non_null(strstr(out, "face (PolyProtect"));
	assert_non_null(strstr(out, "iris (Bloom filters"));
	assert_non_null(strstr(out, "finger (protected MCC"));
	assert_non_null(p = strstr(out, "unlinkability D<->sys: unprotected "));
	assert_int_equal(sscanf(p, "unlinkability D<->sys: unprotected %lf", &raw), 1);
	assert_non_null(p = strstr(p, "protected, two keys "));
	assert_int_equal(sscanf(p, "protected, two keys %lf", &prot), 1);
	assert_true(raw > 0.9);
	assert_true(prot < raw / 2);
	assert_non_null(strstr(out, "irreversibility (attacker holds the key): 2 reconstructions"));
	free(out);
	assert_int_equal(run("--protect --subjects 10 --captures 1 --seed 1"), 2);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "--captures: '1'"));
	free(err);
	assert_int_equal(run("--protect --subjects 10 --captures 2 --seed 1 --gallery 3"), 2);
	err = slurp("err.txt");
	assert_non_null(strstr(err, "unknown option '--gallery'"));
	free(err);
}

/* The fused genuine evidence of a text report (after "fused:"). */
static double
fused_genuine_mean(const char *out)
{
	const char *p = strstr(out, "\nfused:");
	double m = -1;

	assert_non_null(p);
	assert_non_null(p = strstr(p, "genuine"));
	assert_non_null(p = strstr(p, "mean"));
	assert_int_equal(sscanf(p, "mean %lf", &m), 1);
	return m;
}

/* `paso eval --hub-protect`: the same captures compared as a protected hub compares them:
 * everyone still found 1:N, with less evidence than the unprotected references give. */
static void
test_hub_protect_report(void **state)
{
	char *out;
	double raw, prot;

	(void)state;
	assert_int_equal(run("--subjects 30 --captures 2 --seed 6 --finger-impostors 300"), 0);
	out = slurp("out.txt");
	raw = fused_genuine_mean(out);
	free(out);
	assert_int_equal(
		run("--hub-protect --subjects 30 --captures 2 --seed 6 --finger-impostors 300"), 0);
	out = slurp("out.txt");
	prot = fused_genuine_mean(out);
	assert_non_null(strstr(out, "1:N over 15 enrolled: rank-1 1.00000"));
	free(out);
	assert_true(prot > 10);
	assert_true(prot < raw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiny_population_json_csv_svg),
		cmocka_unit_test(test_text_report_and_usage_errors),
		cmocka_unit_test(test_protect_report),
		cmocka_unit_test(test_hub_protect_report),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
