/* SPDX-License-Identifier: Apache-2.0 */
/* Instants and durations: strict parsing and formatting in UTC, no locale, no time zone. */
#include "instant.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
days_in_month(unsigned y, unsigned m)
{
	static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static uint64_t
days_from_civil(unsigned y, unsigned m, unsigned d)
{
	unsigned yy = m <= 2 ? y - 1 : y;
	unsigned era = yy / 400;
	unsigned yoe = yy - era * 400;
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return (uint64_t)era * 146097 + doe - 719468;
}

/* Reads exactly n decimal digits at s. */
static int
digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int
instant_parse(const char *s, uint64_t *out, struct paso_diag *d)
{
	unsigned y, mo, da, h = 0, mi = 0, se = 0;
	size_t n = s != NULL ? strlen(s) : 0;

	*out = 0;
	if (n != 10 && n != 20)
		goto bad;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
		digits(s + 8, 2, &da))
		goto bad;
	if (n == 20 && (s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
			       digits(s + 14, 2, &mi) || s[16] != ':' ||
			       digits(s + 17, 2, &se) || s[19] != 'Z'))
		goto bad;
	if (y < 1970 || mo < 1 || mo > 12 || da < 1 || (int)da > days_in_month(y, mo) || h > 23 ||
		mi > 59 || se > 59)
		return paso_diag_set(d, PASO_E_INVALID_ARG,
			"'%.40s': no such instant (years 1970..9999, UTC)", s);
	*out = days_from_civil(y, mo, da) * 86400u + h * 3600u + mi * 60u + se;
	return 0;
bad:
	return paso_diag_set(d, PASO_E_INVALID_ARG,
		"'%.40s': not an instant; write YYYY-MM-DDTHH:MM:SSZ (UTC), e.g. 2027-01-01T00:00:00Z",
		s != NULL ? s : "");
}

int
duration_parse(const char *s, uint64_t *out, struct paso_diag *d)
{
	unsigned long long v;
	uint64_t unit;
	char *end;

	*out = 0;
	if (s == NULL || s[0] < '0' || s[0] > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || end[0] == '\0' || end[1] != '\0')
		goto bad;
	switch (end[0]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		goto bad;
	}
	if (v > 36600ull * 86400 / unit)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "'%.40s': longer than 100 years", s);
	*out = (uint64_t)v * unit;
	return 0;
bad:
	return paso_diag_set(d, PASO_E_INVALID_ARG,
		"'%.40s': not a duration; write a whole number and s, m, h or d, e.g. 2d or 36h",
		s != NULL ? s : "");
}

char *
instant_format(uint64_t t, char buf[INSTANT_TEXT_BYTES])
{
	time_t tt = (time_t)(t > INSTANT_MAX ? INSTANT_MAX : t);
	struct tm tm;

	gmtime_r(&tt, &tm);
	if (strftime(buf, INSTANT_TEXT_BYTES, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
	return buf;
}

int
instant_add(uint64_t a, uint64_t b, uint64_t *out)
{
	if (a > INSTANT_MAX || b > INSTANT_MAX - a)
		return -1;
	*out = a + b;
	return 0;
}
