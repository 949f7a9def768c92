/* SPDX-License-Identifier: Apache-2.0 */
/* `paso template info FILE [--json]`: a finger minutiae record's content in plain words. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "iso19794.h"
#include "lab.h"

#define MAX_RECORD_BYTES (1024u * 1024u) /* far above 10 views x 255 minutiae */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paso template info FILE [--json]\n"
		"  Describes an ISO/IEC 19794-2:2005 or ANSI INCITS 378-2004 finger minutiae record:\n"
		"  format and version, sizes, resolution and, per finger view, the finger, impression\n"
		"  type, quality, counts of ridge endings, bifurcations and other minutiae, and the\n"
		"  extended data areas. Minutiae positions are never printed.\n"
		"  --json  the same as one JSON object\n"
		"exit status: 0 described, 1 unreadable or invalid record, 2 usage error\n");
}

/* Reads FILE whole; returns 0 or a PASO_E_* code with d naming the problem. */
static int
read_file(const char *path, uint8_t **bufp, size_t *lenp, struct paso_diag *d)
{
	FILE *f = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, n;
	int r;

	*bufp = NULL;
	*lenp = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		r = paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((buf = malloc(MAX_RECORD_BYTES + 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	while ((n = fread(buf + len, 1, MAX_RECORD_BYTES + 1 - len, f)) > 0)
		len += n;
	if (ferror(f)) {
		r = paso_diag_set(d, PASO_E_IO, "%s: read error", path);
		goto out;
	}
	if (len > MAX_RECORD_BYTES) {
		r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"%s: larger than %u bytes, more than any finger minutiae record", path,
			MAX_RECORD_BYTES);
		goto out;
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return r;
}

static void
json_string(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c < 0x20)
			fprintf(o, "\\u%04x", c);
		else
			fputc(c, o);
	}
	fputc('"', o);
}

static const char *
format_name(const struct fmr_record *rec)
{
	return rec->format == FMR_ANSI_2004 ? "ANSI INCITS 378-2004" : "ISO/IEC 19794-2:2005";
}

static const char *
area_name(uint16_t type)
{
	if (type == 0x0001)
		return "ridge-count data";
	if (type == 0x0002)
		return "core and delta data";
	if ((type >> 8) == 0)
		return "reserved";
	return "vendor-defined";
}

static void
count_types(const struct fmr_view *v, unsigned c[3])
{
	int i;

	c[0] = c[1] = c[2] = 0;
	for (i = 0; i < v->n_minutiae; i++)
		c[v->m[i].type <= 2 ? v->m[i].type : 0]++;
}

/* Ridge counts: one method byte, then (index, index, count) triples. */
static void
ridge_counts(const struct fmr_ext_area *a, unsigned *method, unsigned *n, unsigned *extra)
{
	*method = a->len > 0 ? a->data[0] : 0;
	*n = a->len > 0 ? (a->len - 1u) / 3 : 0;
	*extra = a->len > 0 ? (a->len - 1u) % 3 : 0;
}

static void
print_text(FILE *o, const char *path, const struct fmr_record *rec, size_t len)
{
	int i, j;

	fprintf(o, "%s: %s finger minutiae record, %zu bytes", path, format_name(rec), len);
	if (rec->length != len)
		fprintf(o, " (header says %u: the standard's worked-example quirk)", rec->length);
	fprintf(o, "\n");
	if (rec->format == FMR_ANSI_2004)
		fprintf(o, "  product: vendor 0x%04x, type 0x%04x\n", rec->vendor_id,
			rec->product_type);
	fprintf(o, "  capture device: id 0x%03x%s, %s\n", rec->device_id,
		rec->device_id == 0 ? " (not reported)" : "",
		rec->certified ? "certified" : "not certified");
	fprintf(o, "  image: %u x %u pixels, %u x %u pixels/cm (%.0f x %.0f dpi)\n", rec->width,
		rec->height, rec->xres, rec->yres, rec->xres * 2.54, rec->yres * 2.54);
	fprintf(o, "  finger views: %u\n", rec->n_views);
	for (i = 0; i < rec->n_views; i++) {
		const struct fmr_view *v = &rec->views[i];
		unsigned c[3];

		count_types(v, c);
		fprintf(o,
			"  view %d: %s (position %u), view number %u, %s (impression %u), "
			"quality %u\n",
			i + 1, fmr_finger_name(v->finger_pos), v->finger_pos, v->view_no,
			fmr_impression_name(v->impression), v->impression, v->quality);
		fprintf(o, "    %u minutiae: %u ridge endings, %u bifurcations, %u other\n",
			v->n_minutiae, c[FMR_TYPE_ENDING], c[FMR_TYPE_BIFURCATION],
			c[FMR_TYPE_OTHER]);
		if (v->n_ext == 0) {
			fprintf(o, "    extended data: none\n");
			continue;
		}
		fprintf(o, "    extended data: %u bytes in %u area%s\n", v->ext_len, v->n_ext,
			v->n_ext == 1 ? "" : "s");
		for (j = 0; j < v->n_ext; j++) {
			const struct fmr_ext_area *a = &v->ext[j];

			fprintf(o, "      type 0x%04x (%s), %u bytes", a->type, area_name(a->type),
				a->len);
			if (a->type == 0x0001) {
				unsigned method, n, extra;

				ridge_counts(a, &method, &n, &extra);
				fprintf(o, ": extraction method %u, %u ridge count%s", method, n,
					n == 1 ? "" : "s");
				if (extra)
					fprintf(o, " (+%u trailing bytes)", extra);
			}
			fprintf(o, "\n");
		}
	}
}

static void
print_json(FILE *o, const char *path, const struct fmr_record *rec, size_t len)
{
	int i, j;

	fprintf(o, "{\"file\": ");
	json_string(o, path);
	fprintf(o, ", \"format\": \"%s\", \"bytes\": %zu, \"record_length\": %u", format_name(rec),
		len, rec->length);
	if (rec->format == FMR_ANSI_2004)
		fprintf(o, ", \"vendor_id\": %u, \"product_type\": %u", rec->vendor_id,
			rec->product_type);
	fprintf(o,
		", \"device_id\": %u, \"certified\": %s, \"width\": %u, \"height\": %u, "
		"\"xres\": %u, \"yres\": %u, \"views\": [",
		rec->device_id, rec->certified ? "true" : "false", rec->width, rec->height,
		rec->xres, rec->yres);
	for (i = 0; i < rec->n_views; i++) {
		const struct fmr_view *v = &rec->views[i];
		unsigned c[3];

		count_types(v, c);
		fprintf(o,
			"%s{\"finger_position\": %u, \"finger\": \"%s\", \"view\": %u, "
			"\"impression\": %u, \"impression_name\": \"%s\", \"quality\": %u, "
			"\"minutiae\": %u, \"endings\": %u, \"bifurcations\": %u, \"other\": %u, "
			"\"extended_data_bytes\": %u, \"extended_areas\": [",
			i ? ", " : "", v->finger_pos, fmr_finger_name(v->finger_pos), v->view_no,
			v->impression, fmr_impression_name(v->impression), v->quality,
			v->n_minutiae, c[FMR_TYPE_ENDING], c[FMR_TYPE_BIFURCATION],
			c[FMR_TYPE_OTHER], v->ext_len);
		for (j = 0; j < v->n_ext; j++) {
			const struct fmr_ext_area *a = &v->ext[j];

			fprintf(o, "%s{\"type\": %u, \"type_name\": \"%s\", \"bytes\": %u",
				j ? ", " : "", a->type, area_name(a->type), a->len);
			if (a->type == 0x0001) {
				unsigned method, n, extra;

				ridge_counts(a, &method, &n, &extra);
				fprintf(o, ", \"ridge_count_method\": %u, \"ridge_counts\": %u",
					method, n);
			}
			fprintf(o, "}");
		}
		fprintf(o, "]}");
	}
	fprintf(o, "]}\n");
}

int
template_info_main(int argc, char **argv)
{
	const char *path = NULL;
	struct fmr_record rec;
	struct paso_diag d = {0};
	uint8_t *buf = NULL;
	size_t len = 0;
	int i, json = 0, r;

	memset(&rec, 0, sizeof(rec));
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "info") != 0) {
		fprintf(stderr, "paso template: expected the subcommand 'info'%s%s%s\n",
			argc >= 2 ? ", got '" : "", argc >= 2 ? argv[1] : "", argc >= 2 ? "'" : "");
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "paso template info: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (path != NULL) {
			fprintf(stderr, "paso template info: one FILE only ('%s' and '%s')\n", path,
				argv[i]);
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (path == NULL) {
		fprintf(stderr, "paso template info: missing FILE\n");
		usage(stderr);
		return 2;
	}
	if ((r = read_file(path, &buf, &len, &d)) != 0) {
		fprintf(stderr, "paso template info: %s: %s\n", paso_errname(r),
			d.msg[0] ? d.msg : paso_strerror(r));
		goto out;
	}
	if ((r = iso19794_read(buf, len, &rec, &d)) != 0) {
		fprintf(stderr, "paso template info: %s: %s: %s\n", path, paso_errname(r),
			d.msg[0] ? d.msg : paso_strerror(r));
		goto out;
	}
	if (json)
		print_json(stdout, path, &rec, len);
	else
		print_text(stdout, path, &rec, len);
	r = 0;
out:
	fmr_record_free(&rec);
	free(buf);
	return r == 0 ? 0 : 1;
}
