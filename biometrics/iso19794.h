/* SPDX-License-Identifier: Apache-2.0 */
/* Finger minutiae records: ISO/IEC 19794-2:2005 reader and writer, ANSI INCITS 378-2004 reader. */
#ifndef PASO_ISO19794_H
#define PASO_ISO19794_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define FMR_MAX_VIEWS 10 /* Paso's limit (the standard allows 255): one view per finger */
#define FMR_ISO_HEADER_BYTES 24
#define FMR_ANSI_HEADER_BYTES 26
#define FMR_VIEW_HEADER_BYTES 4
#define FMR_MINUTIA_BYTES 6

enum fmr_format {
	FMR_ISO_2005 = 1,  /* ISO/IEC 19794-2:2005, angle unit 360/256 degrees */
	FMR_ANSI_2004 = 2, /* ANSI INCITS 378-2004, angle unit 2 degrees (0..179 by the standard) */
};

enum fmr_minutia_type { FMR_TYPE_OTHER = 0, FMR_TYPE_ENDING = 1, FMR_TYPE_BIFURCATION = 2 };

struct fmr_minutia {
	uint16_t x, y;   /* pixels, 0 <= x < width, 0 <= y < height */
	uint8_t type;    /* enum fmr_minutia_type */
	uint8_t angle;   /* raw angle byte, see enum fmr_format for the unit */
	uint8_t quality; /* 0..100, 0 = not reported */
};

/* One extended data area: type id (0x0001 ridge counts, 0x0002 cores and deltas, else vendor). */
struct fmr_ext_area {
	uint16_t type;
	uint16_t len;  /* bytes of data */
	uint8_t *data; /* owned by the record */
};

struct fmr_view {
	uint8_t finger_pos; /* 0 unknown, 1..5 right thumb..little, 6..10 left thumb..little */
	uint8_t view_no;    /* 0..15 */
	uint8_t impression; /* 0 live plain, 1 live rolled, 2 non-live plain, 3 non-live rolled, 8 swipe */
	uint8_t quality;       /* 0..100 */
	uint16_t n_minutiae;   /* 0..255 */
	struct fmr_minutia *m; /* n_minutiae entries, owned by the record (NULL when 0) */
	uint16_t ext_len;      /* extended data block length as written (0 = none) */
	uint16_t n_ext;
	struct fmr_ext_area *ext; /* n_ext areas, owned by the record */
	unsigned tolerated;       /* FMR_TOL_* bits: what the reader forgave in this view */
};

/* Departures from the standard that iso19794_read forgives (docs/biometrics.md says why). */
#define FMR_TOL_EXT_HEADER 1u /* ISO extended-data area lengths counting their 4-byte header */
#define FMR_TOL_PADDING 2u    /* zero bytes after the views, inside or past the record length */

struct fmr_record {
	int format;             /* enum fmr_format */
	uint32_t length;        /* record length field as read (the writer recomputes it) */
	uint16_t vendor_id;     /* ANSI only: CBEFF product identifier owner */
	uint16_t product_type;  /* ANSI only: CBEFF product identifier type */
	uint8_t certified;      /* capture equipment compliance / certification bits (4 bits) */
	uint16_t device_id;     /* capture device type id (12 bits), 0 = unreported */
	uint16_t width, height; /* image size in pixels */
	uint16_t xres, yres;    /* pixels per centimetre (197 = 500 dpi) */
	uint8_t n_views;        /* 0..FMR_MAX_VIEWS */
	struct fmr_view views[FMR_MAX_VIEWS];
	unsigned tolerated; /* FMR_TOL_* bits of the record and all its views */
};

/*
 * Parses an ISO/IEC 19794-2:2005 or ANSI INCITS 378-2004 record (format told apart by the
 * version bytes and the length field) into *rec, which the caller frees with fmr_record_free
 * (even on error). Never reads past len, nor past the record length in the header (ANSI 2004
 * records whose header length is too short by the header-size difference are read up to len;
 * rec->length keeps the header value). Checks everything the standard fixes: magic,
 * version, lengths, reserved bits, finger positions, impression types, qualities, minutia types,
 * coordinates inside the image, extended data areas that fill their block (ANSI angles above
 * 179 are taken modulo 360 degrees, as the ANSI standard's worked example needs).
 * Tolerated, and flagged in rec->tolerated (the writer then writes the standard form): ISO
 * extended data areas whose lengths count their 4-byte header, when only that reading fills
 * the block; zero bytes after the last view, up to the record length or past it to len.
 * Any non-zero byte there is still trailing data.
 * Returns 0, PASO_E_TEMPLATE_FORMAT (malformed), PASO_E_TEMPLATE_VERSION (another version,
 * named in d) or PASO_E_TEMPLATE_TRUNCATED; d (may be NULL) names the problem and its byte
 * offset. Pure; d never holds template bytes other than header fields.
 */
int iso19794_read(const uint8_t *buf, size_t len, struct fmr_record *rec, struct paso_diag *d)
	__attribute__((warn_unused_result));

/*
 * Serializes rec as ISO/IEC 19794-2:2005 (whatever rec->format says; ANSI angles are converted
 * to the ISO unit). Caller owns *outp (free()). Returns 0, PASO_E_INVALID_ARG (a field out of
 * the standard's range: d names it) or PASO_E_NOMEM. Reading a record and writing it back
 * reproduces the bytes.
 */
int iso19794_write(const struct fmr_record *rec, uint8_t **outp, size_t *lenp, struct paso_diag *d)
	__attribute__((warn_unused_result));

/*
 * What the hub accepts in an Enroll, Crossing or Identify: an ISO/IEC 19794-2:2005 record that
 * iso19794_read accepts without tolerating anything (no padding, standard extended-data
 * lengths), with 1..10 views, each known finger position at most once (unknown position 0 any
 * number of times), at most 255 minutiae per view. Returns 0 or a PASO_E_TEMPLATE_* code with
 * d naming the problem.
 */
int iso19794_validate(const uint8_t *buf, size_t len, struct paso_diag *d)
	__attribute__((warn_unused_result));

/* Wipes and frees what iso19794_read allocated; rec itself is caller-owned. Accepts NULL. */
void fmr_record_free(struct fmr_record *rec);

/* Minutia direction in degrees [0, 360) according to the record's angle unit. */
double fmr_angle_deg(const struct fmr_record *rec, const struct fmr_minutia *m);

/* Plain names ("left index", "live-scan plain", "ending"); "unknown" for codes the standard does
 * not define (callers print the code beside it). Never NULL; static strings. */
const char *fmr_finger_name(unsigned pos);
const char *fmr_impression_name(unsigned imp);
const char *fmr_minutia_type_name(unsigned type);

#endif
