/* SPDX-License-Identifier: Apache-2.0 */
/* Finger minutiae records: a bounds-checked ISO/IEC 19794-2:2005 / ANSI INCITS 378-2004 parser and an ISO writer. */
#include "be.h"
#include "iso19794.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/*
 * A read cursor over [0, end). end is min(given length, record length in the header), so no
 * access ever goes past either; every read is checked before it happens.
 */
struct cur {
	const uint8_t *p;
	size_t end;
	size_t off;
	uint32_t hdr_len;
	size_t given;
	int check_only; /* iso19794_validate: check every field, keep no minutia or area */
};

static const char *const finger_names[] = {
	"unknown finger",
	"right thumb",
	"right index",
	"right middle",
	"right ring",
	"right little",
	"left thumb",
	"left index",
	"left middle",
	"left ring",
	"left little",
};

const char *
fmr_finger_name(unsigned pos)
{
	return pos < sizeof(finger_names) / sizeof(finger_names[0]) ? finger_names[pos] : "unknown";
}

const char *
fmr_impression_name(unsigned imp)
{
	switch (imp) {
	case 0:
		return "live-scan plain";
	case 1:
		return "live-scan rolled";
	case 2:
		return "non-live-scan plain";
	case 3:
		return "non-live-scan rolled";
	case 8:
		return "swipe";
	}
	return "unknown";
}

const char *
fmr_minutia_type_name(unsigned type)
{
	switch (type) {
	case FMR_TYPE_OTHER:
		return "other";
	case FMR_TYPE_ENDING:
		return "ending";
	case FMR_TYPE_BIFURCATION:
		return "bifurcation";
	}
	return "unknown";
}

double
fmr_angle_deg(const struct fmr_record *rec, const struct fmr_minutia *m)
{
	if (rec->format == FMR_ANSI_2004)
		return fmod(2.0 * m->angle, 360.0);
	return m->angle * (360.0 / 256.0);
}

static int
impression_valid(unsigned imp)
{
	return imp <= 3 || imp == 8;
}

/* Reports a read of n bytes at c->off that does not fit, naming which limit it hits. */
static int
cur_short(const struct cur *c, size_t n, const char *what, struct paso_diag *d)
{
	if (c->end == c->given)
		return paso_diag_set(d, PASO_E_TEMPLATE_TRUNCATED,
			"%s at byte %zu needs %zu bytes but the record ends at byte %zu (header length %u, "
			"%zu bytes given)",
			what, c->off, n, c->end, c->hdr_len, c->given);
	return paso_diag_set(d, PASO_E_TEMPLATE_TRUNCATED,
		"%s at byte %zu needs %zu bytes but the record length in the header is %u", what,
		c->off, n, c->hdr_len);
}

static int
cur_need(const struct cur *c, size_t n, const char *what, struct paso_diag *d)
{
	if (c->off > c->end || c->end - c->off < n)
		return cur_short(c, n, what, d);
	return 0;
}

static uint8_t
rd8(struct cur *c)
{
	return c->p[c->off++];
}

static uint16_t
rd16(struct cur *c)
{
	uint16_t v = (uint16_t)((unsigned)c->p[c->off] << 8 | c->p[c->off + 1]);

	c->off += 2;
	return v;
}

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/*
 * Whether the areas of the block [start, stop) tile it exactly when each area's length field
 * counts hdr extra bytes (ISO: 4, the data only; ANSI: 0, header included). Counts them in *n.
 * On failure, fills d and returns the error for the first area that does not fit.
 */
static int
tile_ext(const struct cur *c, size_t start, size_t stop, int vi, unsigned ext_len, size_t hdr,
	uint16_t *n, struct paso_diag *d)
{
	size_t o;

	*n = 0;
	for (o = start; o < stop; (*n)++) {
		size_t alen, total;

		if (stop - o < 4)
			return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d: extended data area at byte %zu needs a 4-byte header but only %zu "
				"bytes of the %u-byte block remain",
				vi + 1, o, stop - o, ext_len);
		if (be16(c->p + o) == 0)
			return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d: extended data area at byte %zu has the reserved type 0x0000",
				vi + 1, o);
		alen = be16(c->p + o + 2);
		if (hdr == 0 && alen < 4)
			return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d: extended data area at byte %zu has length %zu, less than its "
				"4-byte header",
				vi + 1, o, alen);
		total = alen + hdr;
		if (total > stop - o)
			return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d: extended data area at byte %zu (type 0x%04x) needs %zu bytes but "
				"its %u-byte block has %zu left",
				vi + 1, o, be16(c->p + o), total, ext_len, stop - o);
		o += total;
	}
	return 0;
}

/*
 * Extended data block of one view: areas that exactly fill ext_len bytes. An ISO area's length
 * counts its data only; ANSI 378-2004 counts the 4-byte area header too. Some ISO writers
 * (e.g. SourceAFIS) count the header as ANSI does: when the ISO reading does not tile the block
 * and the ANSI one does, that reading is taken and the view marked (FMR_TOL_EXT_HEADER).
 */
static int
read_ext(struct cur *c, int vi, struct fmr_view *v, int ansi, struct paso_diag *d)
{
	size_t start, stop, o;
	uint16_t n = 0, i;
	int r, counted = ansi;

	if ((r = cur_need(c, 2, "extended data length", d)) != 0)
		return r;
	v->ext_len = rd16(c);
	if (v->ext_len == 0)
		return 0;
	start = c->off;
	if ((r = cur_need(c, v->ext_len, "extended data block", d)) != 0)
		return r;
	stop = start + v->ext_len;
	if ((r = tile_ext(c, start, stop, vi, v->ext_len, ansi ? 0 : 4, &n, d)) != 0) {
		if (ansi || tile_ext(c, start, stop, vi, v->ext_len, 0, &n, NULL) != 0)
			return r; /* the error of the standard reading */
		if (d != NULL)
			memset(d, 0, sizeof(*d));
		counted = 1;
		v->tolerated |= FMR_TOL_EXT_HEADER;
	}
	if (c->check_only) {
		c->off = stop;
		return 0;
	}
	if ((v->ext = calloc(n, sizeof(*v->ext))) == NULL)
		return PASO_E_NOMEM;
	v->n_ext = n;
	for (i = 0, o = start; i < n; i++) {
		struct fmr_ext_area *a = &v->ext[i];
		size_t alen = be16(c->p + o + 2);

		a->type = be16(c->p + o);
		a->len = (uint16_t)(counted ? alen - 4 : alen);
		if (a->len > 0) {
			if ((a->data = malloc(a->len)) == NULL)
				return PASO_E_NOMEM;
			memcpy(a->data, c->p + o + 4, a->len);
		}
		o += 4u + a->len;
	}
	c->off = stop;
	return 0;
}

static int
read_view(struct cur *c, const struct fmr_record *rec, int vi, struct fmr_view *v,
	struct paso_diag *d)
{
	struct fmr_minutia one = {0}, *m;
	size_t vo = c->off;
	uint8_t b;
	unsigned i;
	int r;

	if ((r = cur_need(c, FMR_VIEW_HEADER_BYTES, "finger view header", d)) != 0)
		return r;
	v->finger_pos = rd8(c);
	b = rd8(c);
	v->view_no = b >> 4;
	v->impression = b & 0x0f;
	v->quality = rd8(c);
	v->n_minutiae = rd8(c);
	if (v->finger_pos > 10)
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"view %d at byte %zu: finger position %u is not 0..10", vi + 1, vo,
			v->finger_pos);
	if (!impression_valid(v->impression))
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"view %d at byte %zu: impression type %u is not 0..3 or 8", vi + 1, vo + 1,
			v->impression);
	if (v->quality > 100)
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"view %d at byte %zu: finger quality %u is not 0..100", vi + 1, vo + 2,
			v->quality);
	if ((r = cur_need(c, (size_t)v->n_minutiae * FMR_MINUTIA_BYTES, "minutiae", d)) != 0)
		return r;
	if (!c->check_only && v->n_minutiae > 0 &&
		(v->m = calloc(v->n_minutiae, sizeof(*v->m))) == NULL)
		return PASO_E_NOMEM;
	for (i = 0; i < v->n_minutiae && r == 0; i++) {
		size_t mo = c->off;
		uint16_t w0 = rd16(c), w1 = rd16(c);

		m = c->check_only ? &one : &v->m[i];
		m->type = (uint8_t)(w0 >> 14);
		m->x = w0 & 0x3fff;
		m->y = w1 & 0x3fff;
		m->angle = rd8(c);
		m->quality = rd8(c);
		if (m->type == 3)
			r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d minutia %u at byte %zu: minutia type 3 is reserved",
				vi + 1, i + 1, mo);
		else if ((w1 >> 14) != 0)
			r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d minutia %u at byte %zu: reserved bits above y are not zero",
				vi + 1, i + 1, mo + 2);
		else if (m->x >= rec->width || m->y >= rec->height)
			r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d minutia %u at byte %zu: position outside the %ux%u image",
				vi + 1, i + 1, mo, rec->width, rec->height);
		/*
		 * ANSI 378-2004 angles are 0..179 (2-degree units), but the standard's own worked
		 * example holds 213 and 249: angles are taken modulo 360 degrees instead.
		 */
		else if (m->quality > 100)
			r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d minutia %u at byte %zu: quality is not 0..100", vi + 1,
				i + 1, mo + 5);
	}
	sodium_memzero(&one, sizeof(one)); /* check_only: the last minutia read */
	if (r != 0)
		return r;
	return read_ext(c, vi, v, rec->format == FMR_ANSI_2004, d);
}

/* Names a version we do not read; always returns PASO_E_TEMPLATE_VERSION. */
static int
bad_version(const uint8_t v[4], struct paso_diag *d)
{
	if (memcmp(v, "030", 4) == 0)
		return paso_diag_set(d, PASO_E_TEMPLATE_VERSION,
			"version '030' at byte 4 (ISO/IEC 19794-2:2011 or ANSI INCITS 378-2009) is not "
			"supported: Paso reads ISO/IEC 19794-2:2005 (' 20') and ANSI INCITS 378-2004");
	if (memcmp(v, "035", 4) == 0)
		return paso_diag_set(d, PASO_E_TEMPLATE_VERSION,
			"version '035' at byte 4 (ANSI INCITS 378-2009/AM1) is not supported: Paso reads "
			"ISO/IEC 19794-2:2005 (' 20') and ANSI INCITS 378-2004");
	return paso_diag_set(d, PASO_E_TEMPLATE_VERSION,
		"unknown version bytes %02x %02x %02x %02x at byte 4 (ISO/IEC 19794-2:2005 has ' 20')",
		v[0], v[1], v[2], v[3]);
}

/*
 * Tells ISO 2005 from ANSI 2004, which share ' 20\0': ISO has a 4-byte length, ANSI a 2-byte
 * one (>= 26) or 0x0000 followed by a 4-byte one (>= 0x10000, so its top half is small).
 */
static int
looks_ansi(const uint8_t *buf, size_t len)
{
	uint16_t b01, b23;

	if (len < 12)
		return 0;
	b01 = be16(buf + 8);
	b23 = be16(buf + 10);
	if (b01 >= 26)
		return 1;
	if (b01 > 0)
		return 0;
	return b23 < 24;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static int
read_header(
	struct cur *c, const uint8_t *buf, size_t len, struct fmr_record *rec, struct paso_diag *d)
{
	size_t hdr_bytes, lenf_bytes;
	uint16_t equip;
	int ansi;

	if (len == 0)
		return paso_diag_set(d, PASO_E_TEMPLATE_TRUNCATED, "empty record (0 bytes given)");
	if (len < 4 || memcmp(buf, "FMR", 4) != 0) {
		if (len < 4 && memcmp(buf, "FMR", len) == 0)
			return paso_diag_set(d, PASO_E_TEMPLATE_TRUNCATED,
				"%zu bytes given: too short for the format identifier 'FMR'", len);
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"not a finger minutiae record: format identifier at byte 0 is not 'FMR'");
	}
	if (len < 8)
		return paso_diag_set(d, PASO_E_TEMPLATE_TRUNCATED,
			"%zu bytes given: too short for the version at byte 4", len);
	if (memcmp(buf + 4, "020", 4) == 0)
		ansi = 1; /* ANSI 378-2004's own worked example spells the version '020' */
	else if (memcmp(buf + 4, " 20", 4) == 0)
		ansi = looks_ansi(buf, len);
	else
		return bad_version(buf + 4, d);

	c->p = buf;
	c->given = len;
	if (!ansi) {
		rec->format = FMR_ISO_2005;
		hdr_bytes = FMR_ISO_HEADER_BYTES;
		lenf_bytes = 4;
		if (len < 12)
			return paso_diag_set(d, PASO_E_TEMPLATE_TRUNCATED,
				"%zu bytes given: too short for the 4-byte record length at byte 8",
				len);
		rec->length = be32_get(buf + 8);
	} else {
		rec->format = FMR_ANSI_2004;
		if (len < 10)
			return paso_diag_set(d, PASO_E_TEMPLATE_TRUNCATED,
				"%zu bytes given: too short for the record length at byte 8", len);
		rec->length = be16(buf + 8);
		lenf_bytes = 2;
		if (rec->length == 0) {
			if (len < 14)
				return paso_diag_set(d, PASO_E_TEMPLATE_TRUNCATED,
					"%zu bytes given: too short for the 6-byte record length at byte 8",
					len);
			rec->length = be32_get(buf + 10);
			lenf_bytes = 6;
		}
		hdr_bytes = FMR_ANSI_HEADER_BYTES + lenf_bytes - 2;
	}
	c->hdr_len = rec->length;
	if (rec->length < hdr_bytes)
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"record length %u in header (byte 8) is less than the %zu-byte header",
			rec->length, hdr_bytes);
	if (rec->length > len)
		return paso_diag_set(d, PASO_E_TEMPLATE_TRUNCATED,
			"record length %u in header but %zu bytes given", rec->length, len);
	c->end = rec->length;
	/*
	 * The ANSI INCITS 378-2004 worked example gives a record length 2 short of its bytes (an
	 * ISO-sized header). Accept exactly that, reading to the end of what was given; rec->length
	 * keeps the header's value so callers can report it. Any other excess is trailing data.
	 */
	if (ansi && lenf_bytes == 2 && (size_t)rec->length + 2 == len)
		c->end = len;
	else if (rec->length < len && !all_zero(buf + rec->length, len - rec->length))
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"record length %u in header but %zu bytes given (trailing data)",
			rec->length, len);
	else if (rec->length < len)
		rec->tolerated |= FMR_TOL_PADDING; /* zero padding after the record */
	c->off = 8 + lenf_bytes;
	if (ansi) {
		rec->vendor_id = be16(buf + c->off);
		rec->product_type = be16(buf + c->off + 2);
		c->off += 4;
	}
	equip = be16(buf + c->off);
	rec->certified = (uint8_t)(equip >> 12);
	rec->device_id = equip & 0x0fff;
	rec->width = be16(buf + c->off + 2);
	rec->height = be16(buf + c->off + 4);
	rec->xres = be16(buf + c->off + 6);
	rec->yres = be16(buf + c->off + 8);
	if (rec->width == 0 || rec->height == 0)
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"image size %ux%u at byte %zu: width and height must be at least 1",
			rec->width, rec->height, c->off + 2);
	if (rec->xres == 0 || rec->yres == 0)
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"resolution %ux%u pixels/cm at byte %zu: must be at least 1", rec->xres,
			rec->yres, c->off + 6);
	if (buf[c->off + 11] != 0)
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"reserved byte %zu of the header is 0x%02x, not 0", c->off + 11,
			buf[c->off + 11]);
	if (buf[c->off + 10] > FMR_MAX_VIEWS)
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"%u finger views (byte %zu): Paso reads at most %d", buf[c->off + 10],
			c->off + 10, FMR_MAX_VIEWS);
	rec->n_views = buf[c->off + 10];
	c->off += 12;
	return 0;
}

static int
read_record(
	const uint8_t *buf, size_t len, int check_only, struct fmr_record *rec, struct paso_diag *d)
{
	struct cur c = {0};
	int i, r;

	c.check_only = check_only;
	memset(rec, 0, sizeof(*rec));
	if (buf == NULL && len > 0)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "NULL record buffer");
	if ((r = read_header(&c, buf, len, rec, d)) != 0) {
		rec->n_views = 0;
		return r;
	}
	for (i = 0; i < rec->n_views; i++) {
		if ((r = read_view(&c, rec, i, &rec->views[i], d)) != 0) {
			/* Views after i were never touched; free what view i allocated too. */
			rec->n_views = (uint8_t)(i + 1);
			return r;
		}
		rec->tolerated |= rec->views[i].tolerated;
	}
	if (c.off < c.end && all_zero(buf + c.off, c.end - c.off))
		rec->tolerated |= FMR_TOL_PADDING; /* zero padding inside the record length */
	else if (c.off != c.end)
		return paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"the %u finger views end at byte %zu but the record length is %zu (trailing bytes)",
			rec->n_views, c.off, c.end);
	return 0;
}

int
iso19794_read(const uint8_t *buf, size_t len, struct fmr_record *rec, struct paso_diag *d)
{
	return read_record(buf, len, 0, rec, d);
}

void
fmr_record_free(struct fmr_record *rec)
{
	int i, j;

	if (rec == NULL)
		return;
	for (i = 0; i < rec->n_views && i < FMR_MAX_VIEWS; i++) {
		struct fmr_view *v = &rec->views[i];

		if (v->m != NULL) {
			sodium_memzero(v->m, sizeof(*v->m) * v->n_minutiae);
			free(v->m);
		}
		for (j = 0; v->ext != NULL && j < v->n_ext; j++) {
			if (v->ext[j].data != NULL)
				sodium_memzero(v->ext[j].data, v->ext[j].len);
			free(v->ext[j].data);
		}
		free(v->ext);
	}
	sodium_memzero(rec, sizeof(*rec));
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint8_t
iso_angle(const struct fmr_record *rec, const struct fmr_minutia *m)
{
	if (rec->format == FMR_ANSI_2004)
		return (uint8_t)((unsigned)lround(m->angle * 2.0 * 256.0 / 360.0) & 0xff);
	return m->angle;
}

/* Range checks shared by the writer; returns 0 or PASO_E_INVALID_ARG naming the field. */
static int
check_for_write(const struct fmr_record *rec, size_t *sizep, struct paso_diag *d)
{
	size_t size = FMR_ISO_HEADER_BYTES;
	int i, j;

	if (rec->n_views > FMR_MAX_VIEWS)
		return paso_diag_set(
			d, PASO_E_INVALID_ARG, "%u views: at most %d", rec->n_views, FMR_MAX_VIEWS);
	if (rec->width == 0 || rec->height == 0)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "image size %ux%u: must be at least 1",
			rec->width, rec->height);
	if (rec->xres == 0 || rec->yres == 0 || rec->certified > 15 || rec->device_id > 0xfff)
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"resolution %ux%u, certification 0x%x or device id 0x%x out of range",
			rec->xres, rec->yres, rec->certified, rec->device_id);
	for (i = 0; i < rec->n_views; i++) {
		const struct fmr_view *v = &rec->views[i];
		size_t ext = 0;

		if (v->finger_pos > 10 || v->view_no > 15 || !impression_valid(v->impression) ||
			v->quality > 100 || v->n_minutiae > 255 ||
			(v->n_minutiae > 0 && v->m == NULL))
			return paso_diag_set(d, PASO_E_INVALID_ARG,
				"view %d: position %u, view %u, impression %u, quality %u or %u minutiae out "
				"of range",
				i + 1, v->finger_pos, v->view_no, v->impression, v->quality,
				v->n_minutiae);
		for (j = 0; j < v->n_minutiae; j++) {
			const struct fmr_minutia *m = &v->m[j];

			if (m->type > 2 || m->x >= rec->width || m->y >= rec->height ||
				m->x > 0x3fff || m->y > 0x3fff || m->quality > 100)
				return paso_diag_set(d, PASO_E_INVALID_ARG,
					"view %d minutia %d: type, position or quality out of range for a "
					"%ux%u image",
					i + 1, j + 1, rec->width, rec->height);
		}
		for (j = 0; j < v->n_ext; j++) {
			if (v->ext[j].type == 0 || (v->ext[j].len > 0 && v->ext[j].data == NULL))
				return paso_diag_set(d, PASO_E_INVALID_ARG,
					"view %d extended area %d: type 0 or missing data", i + 1,
					j + 1);
			ext += 4u + v->ext[j].len;
		}
		if (ext > 0xffff)
			return paso_diag_set(d, PASO_E_INVALID_ARG,
				"view %d: extended data of %zu bytes exceeds 65535", i + 1, ext);
		size += FMR_VIEW_HEADER_BYTES + (size_t)v->n_minutiae * FMR_MINUTIA_BYTES + 2 + ext;
	}
	*sizep = size;
	return 0;
}

int
iso19794_write(const struct fmr_record *rec, uint8_t **outp, size_t *lenp, struct paso_diag *d)
{
	uint8_t *buf = NULL, *p;
	size_t size = 0;
	int i, j, r;

	*outp = NULL;
	*lenp = 0;
	if ((r = check_for_write(rec, &size, d)) != 0)
		goto out;
	if ((buf = malloc(size)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	p = buf;
	memcpy(p, "FMR\0 20\0", 8);
	p[8] = (uint8_t)(size >> 24);
	p[9] = (uint8_t)(size >> 16);
	p[10] = (uint8_t)(size >> 8);
	p[11] = (uint8_t)size;
	put16(p + 12, (unsigned)rec->certified << 12 | rec->device_id);
	put16(p + 14, rec->width);
	put16(p + 16, rec->height);
	put16(p + 18, rec->xres);
	put16(p + 20, rec->yres);
	p[22] = rec->n_views;
	p[23] = 0;
	p += FMR_ISO_HEADER_BYTES;
	for (i = 0; i < rec->n_views; i++) {
		const struct fmr_view *v = &rec->views[i];
		unsigned ext = 0;

		p[0] = v->finger_pos;
		p[1] = (uint8_t)(v->view_no << 4 | v->impression);
		p[2] = v->quality;
		p[3] = (uint8_t)v->n_minutiae;
		p += 4;
		for (j = 0; j < v->n_minutiae; j++) {
			const struct fmr_minutia *m = &v->m[j];

			put16(p, (unsigned)m->type << 14 | m->x);
			put16(p + 2, m->y);
			p[4] = iso_angle(rec, m);
			p[5] = m->quality;
			p += FMR_MINUTIA_BYTES;
		}
		for (j = 0; j < v->n_ext; j++)
			ext += 4u + v->ext[j].len;
		put16(p, ext);
		p += 2;
		for (j = 0; j < v->n_ext; j++) {
			put16(p, v->ext[j].type);
			put16(p + 2, v->ext[j].len);
			if (v->ext[j].len > 0)
				memcpy(p + 4, v->ext[j].data, v->ext[j].len);
			p += 4u + v->ext[j].len;
		}
	}
	*outp = buf;
	*lenp = size;
	buf = NULL;
	r = 0;
out:
	free(buf);
	return r;
}

int
iso19794_validate(const uint8_t *buf, size_t len, struct paso_diag *d)
{
	struct fmr_record rec;
	unsigned seen = 0;
	int i, r;

	/* Every field checked as iso19794_read does, without copying the minutiae out (a
	 * crossing's record is validated here, its template built later only if needed). */
	if ((r = read_record(buf, len, 1, &rec, d)) != 0)
		goto out;
	if (rec.format != FMR_ISO_2005) {
		r = paso_diag_set(d, PASO_E_TEMPLATE_VERSION,
			"ANSI INCITS 378-2004 record: the hub accepts ISO/IEC 19794-2:2005 finger records");
		goto out;
	}
	if (rec.n_views == 0) {
		r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT, "record has no finger view");
		goto out;
	}
	if (rec.tolerated & FMR_TOL_PADDING) {
		r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
			"zero padding after the finger views (record length %u, %zu bytes given): the "
			"hub accepts exact records",
			rec.length, len);
		goto out;
	}
	for (i = 0; i < rec.n_views; i++) {
		unsigned bit = 1u << rec.views[i].finger_pos;

		if (rec.views[i].tolerated & FMR_TOL_EXT_HEADER) {
			r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d: extended data area lengths count their 4-byte headers (not "
				"ISO/IEC 19794-2:2005): the hub accepts exact records",
				i + 1);
			goto out;
		}
		if (rec.views[i].finger_pos == 0)
			continue; /* unknown: may be any finger, several may be given */
		if (seen & bit) {
			r = paso_diag_set(d, PASO_E_TEMPLATE_FORMAT,
				"view %d: finger position %u (%s) appears twice", i + 1,
				rec.views[i].finger_pos, fmr_finger_name(rec.views[i].finger_pos));
			goto out;
		}
		seen |= bit;
	}
	r = 0;
out:
	fmr_record_free(&rec);
	return r;
}
