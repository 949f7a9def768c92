/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for biometrics/iso19794.c: the standards' samples read right, round-trip, and bad bytes are named. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "errors.h"
#include "finger_match.h"
#include "iso19794.h"

#define SAMPLES PASO_TEST_DATA "/biometric-samples/"

/* Reads a whole file into an exact-size heap buffer (so ASan sees any over-read). */
static uint8_t *
slurp(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1); /* +1: a terminating NUL for the JSON files */
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	*lenp = (size_t)n;
	return buf;
}

static int
read_copy(const uint8_t *src, size_t len, struct fmr_record *rec, struct paso_diag *d)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, src, len);
	r = iso19794_read(len > 0 ? copy : NULL, len, rec, d);
	free(copy);
	return r;
}

/*
 * The decoded JSON beside each sample (fingerprintio's rendering), walked key by key: enough
 * of a reader for its regular layout, checking every value it holds against the record.
 */
struct jcur {
	const char *p;
};

static int
next_key(struct jcur *j, char *key, size_t keylen, char *val, size_t vallen)
{
	const char *q, *e;
	size_t n;

	for (;;) {
		if ((q = strchr(j->p, '"')) == NULL)
			return 0;
		e = strchr(q + 1, '"');
		assert_non_null(e);
		j->p = e + 1;
		while (*j->p == ' ')
			j->p++;
		if (*j->p != ':')
			continue; /* a string value, not a key */
		n = (size_t)(e - q - 1);
		assert_true(n < keylen);
		memcpy(key, q + 1, n);
		key[n] = 0;
		j->p++;
		while (*j->p == ' ')
			j->p++;
		if (*j->p == '"') {
			e = strchr(j->p + 1, '"');
			n = (size_t)(e - j->p - 1);
			assert_true(n < vallen);
			memcpy(val, j->p + 1, n);
			val[n] = 0;
			j->p = e + 1;
		} else {
			n = strcspn(j->p, ",}\n [");
			assert_true(n < vallen);
			memcpy(val, j->p, n);
			val[n] = 0;
		}
		return 1;
	}
}

static unsigned
position_code(const char *name)
{
	static const char *const names[] = {"UNKNOWN", "RIGHT_THUMB", "RIGHT_INDEX", "RIGHT_MIDDLE",
		"RIGHT_RING", "RIGHT_LITTLE", "LEFT_THUMB", "LEFT_INDEX", "LEFT_MIDDLE",
		"LEFT_RING", "LEFT_LITTLE"};
	unsigned i;

	for (i = 0; i < 11; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	fail_msg("unknown position %s", name);
	return 99;
}

static void
check_against_json(const struct fmr_record *rec, const char *json_path)
{
	size_t len;
	char *json = (char *)slurp(json_path, &len);
	struct jcur j = {json};
	char key[64], val[128];
	int view = -1, mi = -1, in_minutiae = 0, checked = 0;
	const struct fmr_view *v = NULL;
	const struct fmr_minutia *m = NULL;

	while (next_key(&j, key, sizeof(key), val, sizeof(val))) {
		unsigned long n = strtoul(val, NULL, 10);

		if (strcmp(key, "vendorId") == 0)
			assert_int_equal(rec->vendor_id, n);
		else if (strcmp(key, "subformat") == 0)
			assert_int_equal(rec->product_type, n);
		else if (strcmp(key, "sensorCertified") == 0)
			assert_int_equal(rec->certified != 0, strcmp(val, "true") == 0);
		else if (strcmp(key, "sensorId") == 0)
			assert_int_equal(rec->device_id, n);
		else if (strcmp(key, "width") == 0)
			assert_int_equal(rec->width, n);
		else if (strcmp(key, "height") == 0)
			assert_int_equal(rec->height, n);
		else if (strcmp(key, "resolutionX") == 0)
			assert_int_equal(rec->xres, n);
		else if (strcmp(key, "resolutionY") == 0)
			assert_int_equal(rec->yres, n);
		else if (strcmp(key, "position") == 0) {
			if (view >= 0)
				assert_int_equal(mi + 1, v->n_minutiae);
			view++;
			assert_true(view < rec->n_views);
			v = &rec->views[view];
			mi = -1;
			in_minutiae = 0;
			assert_int_equal(v->finger_pos, position_code(val));
		} else if (strcmp(key, "view") == 0) {
			assert_int_equal(v->view_no, n);
		} else if (strcmp(key, "scanType") == 0) {
			assert_string_equal(val, "LIVE_PLAIN");
			assert_int_equal(v->impression, 0);
		} else if (strcmp(key, "minutiae") == 0) {
			in_minutiae = 1;
		} else if (strcmp(key, "type") == 0 && in_minutiae &&
			   (strcmp(val, "ENDING") == 0 || strcmp(val, "BIFURCATION") == 0 ||
				   strcmp(val, "OTHER") == 0)) {
			mi++;
			assert_true(mi < v->n_minutiae);
			m = &v->m[mi];
			assert_int_equal(m->type, strcmp(val, "ENDING") == 0 ? FMR_TYPE_ENDING
						  : strcmp(val, "BIFURCATION") == 0
							  ? FMR_TYPE_BIFURCATION
							  : FMR_TYPE_OTHER);
			checked++;
		} else if (strcmp(key, "positionX") == 0) {
			assert_int_equal(m->x, n);
		} else if (strcmp(key, "positionY") == 0) {
			assert_int_equal(m->y, n);
		} else if (strcmp(key, "angle") == 0) {
			assert_int_equal(m->angle, n);
		} else if (strcmp(key, "quality") == 0) {
			if (mi < 0)
				assert_int_equal(v->quality, n);
			else
				assert_int_equal(m->quality, n);
		} else if (strcmp(key, "counts") == 0 || strcmp(key, "extensions") == 0) {
			in_minutiae = 0;
		} else if (strcmp(key, "from") == 0) {
			/* ridge-count area: method byte, then (from, to, count) triples */
			assert_int_equal(v->ext[0].type, 0x0001);
			assert_int_equal(v->ext[0].data[1], n);
		} else if (strcmp(key, "to") == 0) {
			assert_int_equal(v->ext[0].data[2], n);
		} else if (strcmp(key, "count") == 0) {
			assert_int_equal(v->ext[0].data[3], n);
		}
	}
	assert_int_equal(view + 1, rec->n_views);
	assert_int_equal(mi + 1, v->n_minutiae);
	assert_int_equal(checked, 49);
	free(json);
}

static void
test_iso_sample(void **state)
{
	size_t len;
	uint8_t *buf = slurp(SAMPLES "fingerprintio/iso19794p2v2005-sample.dat", &len);
	static const uint8_t ext[6] = {0x01, 0x44, 0xbc, 0x36, 0x21, 0x43};
	struct fmr_record rec;
	struct paso_diag d = {0};
	unsigned c[2][3] = {{0}};
	int v, i;

	(void)state;
	assert_int_equal(len, 340);
	assert_int_equal(iso19794_read(buf, len, &rec, &d), 0);
	assert_int_equal(rec.format, FMR_ISO_2005);
	assert_int_equal(rec.length, 340);
	assert_int_equal(rec.device_id, 0x0b5);
	assert_int_equal(rec.certified, 0);
	assert_int_equal(rec.width, 512);
	assert_int_equal(rec.height, 512);
	assert_int_equal(rec.xres, 197);
	assert_int_equal(rec.yres, 197);
	assert_int_equal(rec.n_views, 2);
	assert_int_equal(rec.views[0].finger_pos, 7);
	assert_string_equal(fmr_finger_name(rec.views[0].finger_pos), "left index");
	assert_int_equal(rec.views[0].quality, 90);
	assert_int_equal(rec.views[0].n_minutiae, 27);
	assert_int_equal(rec.views[0].ext_len, 0);
	assert_int_equal(rec.views[1].finger_pos, 2);
	assert_int_equal(rec.views[1].quality, 70);
	assert_int_equal(rec.views[1].n_minutiae, 22);
	assert_int_equal(rec.views[1].ext_len, 10);
	assert_int_equal(rec.views[1].n_ext, 1);
	assert_int_equal(rec.views[1].ext[0].type, 0x0221);
	assert_int_equal(rec.views[1].ext[0].len, 6);
	assert_memory_equal(rec.views[1].ext[0].data, ext, 6);
	for (v = 0; v < 2; v++)
		for (i = 0; i < rec.views[v].n_minutiae; i++)
			c[v][rec.views[v].m[i].type]++;
	assert_int_equal(c[0][FMR_TYPE_ENDING], 13);
	assert_int_equal(c[0][FMR_TYPE_BIFURCATION], 12);
	assert_int_equal(c[0][FMR_TYPE_OTHER], 2);
	assert_int_equal(c[1][FMR_TYPE_ENDING], 12);
	assert_int_equal(c[1][FMR_TYPE_BIFURCATION], 10);
	assert_int_equal(rec.views[0].m[0].type, FMR_TYPE_ENDING);
	assert_int_equal(rec.views[0].m[0].x, 100);
	assert_int_equal(rec.views[0].m[0].y, 14);
	assert_int_equal(rec.views[0].m[0].angle, 80);
	assert_true(fmr_angle_deg(&rec, &rec.views[0].m[0]) == 112.5);
	assert_int_equal(rec.views[0].m[0].quality, 90);
	check_against_json(&rec, SAMPLES "fingerprintio/iso19794p2v2005-sample.json");
	assert_int_equal(iso19794_validate(buf, len, &d), 0);
	fmr_record_free(&rec);
	free(buf);
}

static void
test_iso_roundtrip(void **state)
{
	size_t len, olen = 0;
	uint8_t *buf = slurp(SAMPLES "fingerprintio/iso19794p2v2005-sample.dat", &len), *out = NULL;
	struct fmr_record rec;
	struct paso_diag d = {0};

	(void)state;
	assert_int_equal(iso19794_read(buf, len, &rec, &d), 0);
	assert_int_equal(iso19794_write(&rec, &out, &olen, &d), 0);
	assert_int_equal(olen, len);
	assert_memory_equal(out, buf, len);
	fmr_record_free(&rec);
	free(out);
	free(buf);
}

static void
test_ansi2004_sample(void **state)
{
	size_t len, olen = 0;
	uint8_t *buf = slurp(SAMPLES "fingerprintio/ansi378v2004-sample.dat", &len), *out = NULL;
	struct fmr_record rec, iso;
	struct paso_diag d = {0};
	int v, i;

	(void)state;
	assert_int_equal(iso19794_read(buf, len, &rec, &d), 0);
	assert_int_equal(rec.format, FMR_ANSI_2004);
	assert_int_equal(rec.vendor_id, 66);
	assert_int_equal(rec.product_type, 17);
	check_against_json(&rec, SAMPLES "fingerprintio/ansi378v2004-sample.json");
	/* ANSI angles are 2-degree units: 80 means 160 degrees */
	assert_true(fmr_angle_deg(&rec, &rec.views[0].m[0]) == 160.0);
	/* the hub takes ISO 2005 only, and says why */
	assert_int_equal(iso19794_validate(buf, len, &d), PASO_E_TEMPLATE_VERSION);
	assert_non_null(strstr(d.msg, "ANSI INCITS 378-2004"));
	/* written as ISO, the angles keep their meaning (to the ISO unit of 1.40625 degrees) */
	assert_int_equal(iso19794_write(&rec, &out, &olen, &d), 0);
	assert_int_equal(iso19794_read(out, olen, &iso, &d), 0);
	assert_int_equal(iso.format, FMR_ISO_2005);
	for (v = 0; v < rec.n_views; v++) {
		assert_int_equal(iso.views[v].n_minutiae, rec.views[v].n_minutiae);
		for (i = 0; i < rec.views[v].n_minutiae; i++) {
			double a = fmr_angle_deg(&rec, &rec.views[v].m[i]);
			double b = fmr_angle_deg(&iso, &iso.views[v].m[i]);
			double diff = a - b;

			if (diff > 180)
				diff -= 360;
			if (diff < -180)
				diff += 360;
			assert_true(diff <= 0.71 && diff >= -0.71);
			assert_int_equal(iso.views[v].m[i].x, rec.views[v].m[i].x);
		}
	}
	fmr_record_free(&iso);
	fmr_record_free(&rec);
	free(out);
	free(buf);
}

static void
test_other_versions(void **state)
{
	static const struct {
		const char *file, *needle;
	} cases[] = {
		{"fingerprintio/ansi378v2009-sample.dat", "'030'"},
		{"fingerprintio/ansi378v2009am1-sample.dat", "'035'"},
		{"fingerprintio/iso19794p2v2011-sample.dat", "19794-2:2011"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[512];
		size_t len;
		uint8_t *buf;
		struct fmr_record rec;
		struct paso_diag d = {0};

		snprintf(path, sizeof(path), "%s%s", SAMPLES, cases[i].file);
		buf = slurp(path, &len);
		assert_int_equal(iso19794_read(buf, len, &rec, &d), PASO_E_TEMPLATE_VERSION);
		assert_int_equal(d.code, PASO_E_TEMPLATE_VERSION);
		assert_non_null(strstr(d.msg, cases[i].needle));
		assert_int_equal(rec.n_views, 0);
		fmr_record_free(&rec);
		assert_int_equal(iso19794_validate(buf, len, &d), PASO_E_TEMPLATE_VERSION);
		free(buf);
	}
}

static void
test_openafis_truncated(void **state)
{
	static const char *const files[] = {"101_1_truncate_1_byte.iso",
		"101_1_truncate_2_bytes.iso", "101_1_truncate_3_bytes.iso"};
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		char path[512], want[128];
		size_t len;
		uint8_t *buf;
		struct fmr_record rec;
		struct paso_diag d = {0};

		snprintf(path, sizeof(path), "%sopenafis-invalid/%s", SAMPLES, files[i]);
		buf = slurp(path, &len);
		assert_int_equal(len, 29 - (size_t)i);
		assert_int_equal(iso19794_read(buf, len, &rec, &d), PASO_E_TEMPLATE_TRUNCATED);
		snprintf(want, sizeof(want), "record length 30 in header but %zu bytes given", len);
		assert_string_equal(d.msg, want);
		fmr_record_free(&rec);
		free(buf);
	}
}

/* Every strict prefix of a valid record is truncated, and no read goes past the buffer. */
static void
test_every_truncation(void **state)
{
	static const char *const files[] = {"fingerprintio/iso19794p2v2005-sample.dat",
		"fingerprintio/ansi378v2004-sample.dat"};
	int f;

	(void)state;
	for (f = 0; f < 2; f++) {
		char path[512];
		size_t len, n;
		uint8_t *buf;

		snprintf(path, sizeof(path), "%s%s", SAMPLES, files[f]);
		buf = slurp(path, &len);
		for (n = 0; n < len; n++) {
			struct fmr_record rec;
			struct paso_diag d = {0};
			int r = read_copy(buf, n, &rec, &d);

			/*
			 * The ANSI sample says 340 bytes and holds 342: cut to 340 its views run past the
			 * end (truncated), cut to 341 one byte is neither the record nor the quirk.
			 */
			if (f == 1 && n == 341) {
				assert_int_equal(r, PASO_E_TEMPLATE_FORMAT);
			} else {
				if (r != PASO_E_TEMPLATE_TRUNCATED)
					fail_msg("%s cut to %zu bytes: got %d (%s)", files[f], n, r,
						d.msg);
			}
			assert_true(d.msg[0] != '\0');
			fmr_record_free(&rec);
		}
		free(buf);
	}
}

/* Any single-byte corruption is rejected with a template code, or read and written back unchanged. */
static void
test_every_corruption(void **state)
{
	static const uint8_t flips[] = {0x01, 0x02, 0x10, 0x40, 0x80, 0xff};
	size_t len, i, f, accepted = 0, rejected = 0;
	uint8_t *buf = slurp(SAMPLES "fingerprintio/iso19794p2v2005-sample.dat", &len);
	uint8_t *mod = malloc(len);

	(void)state;
	assert_non_null(mod);
	for (i = 0; i < len; i++) {
		for (f = 0; f < sizeof(flips); f++) {
			struct fmr_record rec;
			struct paso_diag d = {0};
			uint8_t *out = NULL;
			size_t olen = 0;
			int r;

			memcpy(mod, buf, len);
			mod[i] ^= flips[f];
			r = iso19794_read(mod, len, &rec, &d);
			if (r == 0) {
				accepted++;
				if (rec.tolerated != 0) {
					/* forgiven, never written back as is, refused by the hub */
					assert_int_not_equal(iso19794_validate(mod, len, &d), 0);
				} else if (rec.format == FMR_ISO_2005) {
					assert_int_equal(iso19794_write(&rec, &out, &olen, &d), 0);
					assert_int_equal(olen, len);
					assert_memory_equal(out, mod, len);
				}
			} else {
				struct paso_diag dv = {0};

				rejected++;
				if (r != PASO_E_TEMPLATE_FORMAT && r != PASO_E_TEMPLATE_VERSION &&
					r != PASO_E_TEMPLATE_TRUNCATED)
					fail_msg("byte %zu ^ 0x%02x: unexpected code %d", i,
						flips[f], r);
				assert_true(d.msg[0] != '\0');
				/* validate checks without keeping minutiae: the same refusal */
				assert_int_equal(iso19794_validate(mod, len, &dv), r);
				assert_string_equal(dv.msg, d.msg);
			}
			free(out);
			fmr_record_free(&rec);
		}
	}
	/* both outcomes happen: minutia angles and qualities take many values, headers few */
	assert_true(accepted > 100);
	assert_true(rejected > 100);
	free(mod);
	free(buf);
}

static void
expect_bad(const uint8_t *buf, size_t len, int code, const char *needle)
{
	struct fmr_record rec;
	struct paso_diag d = {0};
	int r = read_copy(buf, len, &rec, &d);

	if (r != code || strstr(d.msg, needle) == NULL)
		fail_msg("want %d '%s', got %d '%s'", code, needle, r, d.msg);
	fmr_record_free(&rec);
}

static void
test_named_errors(void **state)
{
	size_t len;
	uint8_t *buf = slurp(SAMPLES "fingerprintio/iso19794p2v2005-sample.dat", &len);
	uint8_t *mod = malloc(len + 1);
	struct paso_diag d = {0};

	(void)state;
	assert_non_null(mod);
	expect_bad((const uint8_t *)"GIF89a", 6, PASO_E_TEMPLATE_FORMAT, "not a finger minutiae");
	expect_bad((const uint8_t *)"FMR\0 21\0", 8, PASO_E_TEMPLATE_VERSION, "unknown version");
	expect_bad(buf, 0, PASO_E_TEMPLATE_TRUNCATED, "0 bytes");
	/* a minutia outside the image: view 1 minutia 1 x = 600 */
	memcpy(mod, buf, len);
	mod[28] = (uint8_t)(0x40 | (600 >> 8));
	mod[29] = 600 & 0xff;
	expect_bad(mod, len, PASO_E_TEMPLATE_FORMAT,
		"view 1 minutia 1 at byte 28: position outside the 512x512 image");
	/* ...and the message quotes no template content: the refused coordinate stays out of logs */
	{
		struct fmr_record r2;
		struct paso_diag d2 = {0};

		assert_int_equal(iso19794_read(mod, len, &r2, &d2), PASO_E_TEMPLATE_FORMAT);
		assert_null(strstr(d2.msg, "600"));
		fmr_record_free(&r2); /* the caller frees even after an error */
	}
	/* reserved minutia type 3 */
	memcpy(mod, buf, len);
	mod[28] |= 0xc0;
	expect_bad(mod, len, PASO_E_TEMPLATE_FORMAT, "type 3 is reserved");
	/* finger position 11 */
	memcpy(mod, buf, len);
	mod[24] = 11;
	expect_bad(mod, len, PASO_E_TEMPLATE_FORMAT, "finger position 11");
	/* record length one short of the views: they run past it */
	memcpy(mod, buf, len);
	mod[11] = 0x53;
	expect_bad(mod, len - 1, PASO_E_TEMPLATE_TRUNCATED, "header length 339, 339 bytes given");
	/* a non-zero byte inside the record length after the views (zeros are padding) */
	memcpy(mod, buf, len);
	mod[len] = 0x5a;
	mod[11] = 0x55;
	expect_bad(mod, len + 1, PASO_E_TEMPLATE_FORMAT, "views end at byte 340");
	/* non-zero bytes given after the record (found by fuzz_iso19794) */
	memcpy(mod, buf, len);
	mod[len] = 0x01;
	expect_bad(mod, len + 1, PASO_E_TEMPLATE_FORMAT,
		"record length 340 in header but 341 bytes given (trailing data)");
	/* 11 views */
	memcpy(mod, buf, len);
	mod[22] = 11;
	expect_bad(mod, len, PASO_E_TEMPLATE_FORMAT, "11 finger views");
	/* the hub: each finger once */
	memcpy(mod, buf, len);
	mod[24 + 4 + 27 * 6 + 2] = 7; /* view 2 becomes a second left index */
	assert_int_equal(iso19794_validate(mod, len, &d), PASO_E_TEMPLATE_FORMAT);
	assert_non_null(strstr(d.msg, "position 7 (left index) appears twice"));
	free(mod);
	free(buf);
}

static void
test_writer_checks(void **state)
{
	struct fmr_minutia m[2] = {
		{10, 20, FMR_TYPE_ENDING, 7, 50}, {300, 20, FMR_TYPE_BIFURCATION, 200, 60}};
	struct fmr_record rec;
	struct paso_diag d = {0};
	uint8_t *out = NULL;
	size_t olen = 0;

	(void)state;
	memset(&rec, 0, sizeof(rec));
	rec.format = FMR_ISO_2005;
	rec.width = 256;
	rec.height = 256;
	rec.xres = rec.yres = 197;
	rec.n_views = 1;
	rec.views[0].finger_pos = 3;
	rec.views[0].quality = 80;
	rec.views[0].n_minutiae = 2;
	rec.views[0].m = m;
	assert_int_equal(iso19794_write(&rec, &out, &olen, &d), PASO_E_INVALID_ARG);
	assert_non_null(strstr(d.msg, "view 1 minutia 2: type, position or quality out of range"));
	assert_null(strstr(d.msg, "300"));
	assert_null(out);
	m[1].x = 255;
	assert_int_equal(iso19794_write(&rec, &out, &olen, &d), 0);
	assert_int_equal(olen, 24 + 4 + 12 + 2);
	assert_int_equal(iso19794_validate(out, olen, &d), 0);
	free(out);
	/* a record without views is valid ISO, but the hub wants at least one finger */
	rec.n_views = 0;
	assert_int_equal(iso19794_write(&rec, &out, &olen, &d), 0);
	assert_int_equal(iso19794_validate(out, olen, &d), PASO_E_TEMPLATE_FORMAT);
	assert_non_null(strstr(d.msg, "no finger view"));
	free(out);
}

/*
 * What a tolerant reader forgives: zero padding after the record (inside its length or past it)
 * and ISO extended-data areas whose length counts their own 4-byte header (SourceAFIS writes
 * them so). The same content is read; the hub's validation still refuses both, by name.
 */
static void
test_tolerated(void **state)
{
	size_t len, ext_at = 24 + 4 + 27 * 6 + 2 + 4 + 22 * 6;
	uint8_t *buf = slurp(SAMPLES "fingerprintio/iso19794p2v2005-sample.dat", &len);
	uint8_t *mod = calloc(1, len + 16);
	struct fmr_record ref, rec;
	struct paso_diag d = {0};

	(void)state;
	assert_non_null(mod);
	assert_int_equal(iso19794_read(buf, len, &ref, &d), 0);
	assert_int_equal(ref.tolerated, 0);
	assert_int_equal(iso19794_validate(buf, len, &d), 0);
	/* view B's extended block: length 10, one area type 0x0221 of 6 data bytes */
	assert_int_equal(buf[ext_at], 0);
	assert_int_equal(buf[ext_at + 1], 10);
	assert_int_equal(buf[ext_at + 2], 0x02);
	assert_int_equal(buf[ext_at + 5], 6);

	/* 7 zero bytes past the record length */
	memcpy(mod, buf, len);
	assert_int_equal(iso19794_read(mod, len + 7, &rec, &d), 0);
	assert_int_equal(rec.tolerated, FMR_TOL_PADDING);
	assert_int_equal(rec.n_views, 2);
	assert_int_equal(rec.views[1].n_minutiae, 22);
	fmr_record_free(&rec);
	assert_int_equal(iso19794_validate(mod, len + 7, &d), PASO_E_TEMPLATE_FORMAT);
	assert_non_null(strstr(d.msg, "zero padding"));
	/* 4 zero bytes inside the record length (length 344) */
	mod[11] = (uint8_t)(len + 4);
	assert_int_equal(iso19794_read(mod, len + 4, &rec, &d), 0);
	assert_int_equal(rec.tolerated, FMR_TOL_PADDING);
	fmr_record_free(&rec);
	/* a finger template is built from a padded record */
	{
		struct finger_template *t = NULL;

		assert_int_equal(finger_template_from_record(mod, len + 4, &t, &d), 0);
		assert_int_equal(finger_template_n_views(t), 2);
		finger_template_free(t);
	}

	/* the area length counts its header: 10 instead of 6 */
	memcpy(mod, buf, len);
	mod[ext_at + 5] = 10;
	assert_int_equal(iso19794_read(mod, len, &rec, &d), 0);
	assert_int_equal(rec.tolerated, FMR_TOL_EXT_HEADER);
	assert_int_equal(rec.views[1].tolerated, FMR_TOL_EXT_HEADER);
	assert_int_equal(rec.views[1].n_ext, 1);
	assert_int_equal(rec.views[1].ext[0].type, ref.views[1].ext[0].type);
	assert_int_equal(rec.views[1].ext[0].len, 6);
	assert_memory_equal(rec.views[1].ext[0].data, ref.views[1].ext[0].data, 6);
	fmr_record_free(&rec);
	assert_int_equal(iso19794_validate(mod, len, &d), PASO_E_TEMPLATE_FORMAT);
	assert_non_null(strstr(d.msg, "view 2: extended data area lengths count their 4-byte"));
	/* neither reading fits: the standard reading's error is named */
	mod[ext_at + 5] = 8;
	expect_bad(mod, len, PASO_E_TEMPLATE_FORMAT,
		"view 2: extended data area at byte 330 (type 0x0221) needs 12 bytes");

	/* both at once, and position 0 given twice: the hub names the first problem */
	memcpy(mod, buf, len);
	mod[24] = 0;
	mod[24 + 4 + 27 * 6 + 2] = 0;
	assert_int_equal(iso19794_validate(mod, len, &d), 0); /* unknown may repeat */
	fmr_record_free(&ref);
	free(mod);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso_sample),
		cmocka_unit_test(test_iso_roundtrip),
		cmocka_unit_test(test_ansi2004_sample),
		cmocka_unit_test(test_other_versions),
		cmocka_unit_test(test_openafis_truncated),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_every_corruption),
		cmocka_unit_test(test_named_errors),
		cmocka_unit_test(test_writer_checks),
		cmocka_unit_test(test_tolerated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
