/* SPDX-License-Identifier: Apache-2.0 */
/* The comparison's outputs: one self-contained HTML page (inline SVG), CSV, JSON and DOT. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instant.h"
#include "policy.h"
#include "report.h"

static const char *const colors[] = {
	"#1b6ca8", "#d1495b", "#2e8b57", "#edae49", "#6a4c93", "#00798c", "#8d6346", "#444444"};
#define NCOLORS (sizeof(colors) / sizeof(colors[0]))

/* Text into HTML, SVG or DOT: the few characters that matter are escaped. */
static void
esc(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\n':
			fputc(' ', f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* 1234567 as "1,234,567" for people to read (CSV and JSON keep plain digits). */
static const char *
num(uint64_t v, char buf[32])
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v), i, o = 0;

	for (i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

static double
pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

/* A value of one held-over-time series. */
static uint64_t
series(const struct held_point *h, int which)
{
	switch (which) {
	case 0:
		return h->subjects;
	case 1:
		return h->finger;
	case 2:
		return h->face;
	case 3:
		return h->iris;
	default:
		return h->store_bytes;
	}
}

static const char *const series_title[] = {"People whose records the hub holds",
	"People whose fingerprint templates the hub holds",
	"People whose face templates the hub holds", "People whose iris templates the hub holds",
	"Bytes the hub's store uses"};
static const char *const series_key[] = {
	"subjects", "with_finger", "with_face", "with_iris", "store_bytes"};

/* A line chart: one line per policy over the run's days. */
static void
line_chart(FILE *f, const struct scenario *s, const struct measures *m, size_t n, int which)
{
	const double W = 460, H = 220, L = 64, R = 12, T = 26, B = 34;
	uint64_t maxv = 1, v;
	size_t i, p;

	for (i = 0; i < n; i++)
		for (p = 0; p < m[i].nheld; p++)
			if ((v = series(&m[i].held[p], which)) > maxv)
				maxv = v;
	fprintf(f,
		"<figure><svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
		"role='img' aria-label='",
		W, H);
	esc(f, series_title[which]);
	fprintf(f, "'><text x='%.0f' y='16' font-size='13' font-weight='bold'>", L);
	esc(f, series_title[which]);
	fprintf(f, "</text>");
	fprintf(f, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='#888'/>", L, H - B, W - R,
		H - B);
	fprintf(f, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='#888'/>", L, T, L, H - B);
	for (i = 0; i <= 4; i++) {
		double y = H - B - (H - B - T) * (double)i / 4;
		char nb[32];
		fprintf(f,
			"<text x='%.0f' y='%.1f' font-size='10' text-anchor='end'>%s"
			"</text><line x1='%.0f' y1='%.1f' x2='%.0f' y2='%.1f' stroke='#eee'/>",
			L - 4, y + 3, num(maxv * i / 4, nb), L + 1, y, W - R, y);
	}
	fprintf(f, "<text x='%.0f' y='%.0f' font-size='10'>day 0</text>", L, H - B + 14);
	fprintf(f, "<text x='%.0f' y='%.0f' font-size='10' text-anchor='end'>day %u</text>", W - R,
		H - B + 14, s->days);
	fprintf(f,
		"<text x='%.0f' y='%.0f' font-size='10' text-anchor='middle'>simulated "
		"days</text>",
		(L + W - R) / 2, H - 4);
	for (i = 0; i < n; i++) {
		fprintf(f,
			"<polyline fill='none' stroke='%s' stroke-width='2' "
			"stroke-dasharray='%s' points='%.1f,%.1f",
			colors[i % NCOLORS], i % 2 ? "6 3" : "none", L, H - B);
		for (p = 0; p < m[i].nheld; p++) {
			double x = L + (W - R - L) * (double)m[i].held[p].day / s->days;
			double y =
				H - B - (H - B - T) * (double)series(&m[i].held[p], which) / maxv;
			fprintf(f, " %.1f,%.1f", x, y);
		}
		fprintf(f, "'/>");
	}
	fprintf(f,
		"</svg><figcaption>From <code>paso-hub stats --json</code> after each period "
		"(<code>%s</code>).</figcaption></figure>\n",
		series_key[which]);
}

static void
legend(FILE *f, const struct measures *m, size_t n)
{
	size_t i;

	fprintf(f, "<p class='legend'>");
	for (i = 0; i < n; i++) {
		fprintf(f,
			"<span><svg width='28' height='10'><line x1='0' y1='5' x2='28' y2='5' "
			"stroke='%s' stroke-width='3' stroke-dasharray='%s'/></svg> ",
			colors[i % NCOLORS], i % 2 ? "6 3" : "none");
		esc(f, m[i].policy);
		fprintf(f, "</span> ");
	}
	fprintf(f, "</p>\n");
}

/* The snapshot in force on day `day`: the end of the period containing it. */
static const struct held_point *
at_day(const struct measures *m, const struct scenario *s, uint32_t day)
{
	size_t p = day / s->period_days;

	if (m->nheld == 0)
		return NULL;
	return &m->held[p < m->nheld ? p : m->nheld - 1];
}

/* What partner name holds on day (its stats snapshot of that period), or NULL. */
static const struct held_point *
partner_at_day(const struct measures *m, const struct scenario *s, const char *name, uint32_t day)
{
	size_t k, p = day / s->period_days;

	if (m->nheld == 0 || m->partner_held == NULL)
		return NULL;
	for (k = 0; k < m->npartners; k++)
		if (strcmp(m->partners[k], name) == 0)
			return &m->partner_held[k * m->nheld + (p < m->nheld ? p : m->nheld - 1)];
	return NULL;
}

/* Grouped bars: for one breach of the hub, what each policy leaves exposed. */
static void
exposure_chart(FILE *f, const struct scenario *s, const struct measures *m, size_t n, uint32_t day)
{
	static const char *const what[] = {"records", "fingerprints", "faces", "irises"};
	const double W = 460, H = 200, L = 64, B = 40, T = 26;
	uint64_t maxv = 1, v[16][4];
	size_t i, j;
	double gw = (W - L - 10) / 4, bw = gw / (double)(n + 1);

	for (i = 0; i < n && i < 16; i++) {
		const struct held_point *h = at_day(&m[i], s, day);
		v[i][0] = h ? h->subjects : 0;
		v[i][1] = h ? h->finger : 0;
		v[i][2] = h ? h->face : 0;
		v[i][3] = h ? h->iris : 0;
		for (j = 0; j < 4; j++)
			if (v[i][j] > maxv)
				maxv = v[i][j];
	}
	fprintf(f,
		"<figure><svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
		"role='img' aria-label='breach of the hub on day %u'>",
		W, H, day);
	fprintf(f,
		"<text x='%.0f' y='16' font-size='13' font-weight='bold'>A breach of the hub on "
		"day %u: people exposed</text>",
		L, day);
	fprintf(f, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='#888'/>", L, H - B,
		W - 10, H - B);
	fprintf(f, "<text x='%.0f' y='%.0f' font-size='10' text-anchor='end'>%" PRIu64 "</text>",
		L - 4, T + 4, maxv);
	for (j = 0; j < 4; j++) {
		double gx = L + gw * (double)j;
		for (i = 0; i < n && i < 16; i++) {
			double h = (H - B - T) * (double)v[i][j] / maxv;
			fprintf(f,
				"<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'><title>",
				gx + bw * (double)i + bw / 2, H - B - h, bw * 0.9, h,
				colors[i % NCOLORS]);
			esc(f, m[i].policy);
			fprintf(f, ": %" PRIu64 " %s</title></rect>", v[i][j], what[j]);
			fprintf(f,
				"<text x='%.1f' y='%.1f' font-size='9' text-anchor='middle'>%" PRIu64
				"</text>",
				gx + bw * (double)i + bw, H - B - h - 2, v[i][j]);
		}
		fprintf(f, "<text x='%.1f' y='%.0f' font-size='11' text-anchor='middle'>%s</text>",
			gx + gw / 2, H - B + 14, what[j]);
	}
	fprintf(f,
		"</svg><figcaption>From the store snapshot at the end of the period containing day "
		"%u (<code>stats/period-%04u.json</code>): everyone the hub holds a record of, "
		"and whose templates of each kind it holds in its sealed store. The public audit "
		"log names people only by keyed pseudonyms.</figcaption></figure>\n",
		day, day / s->period_days);
}

/* "27375 days (75 years)": retention as people say it. */
static void
days_text(uint32_t days, char *buf, size_t cap)
{
	if (days >= 365 && days % 365 == 0)
		(void)snprintf(buf, cap, "%u days (%u years)", days, days / 365);
	else if (days >= 365)
		(void)snprintf(buf, cap, "%u days (%.1f years)", days, days / 365.0);
	else
		(void)snprintf(buf, cap, "%u days", days);
}

static void
categories_text(uint32_t cats, char *buf, size_t cap)
{
	static const char *const names[] = {"", "visitors", "workers", "migrants", "detainees"};
	size_t off = 0;
	int c;

	if (cats == POLICY_CAT_ALL) {
		(void)snprintf(buf, cap, "everyone");
		return;
	}
	buf[0] = '\0';
	for (c = 1; c <= 4 && off < cap; c++)
		if (cats & (1u << c))
			off += (size_t)snprintf(
				buf + off, cap - off, "%s%s", off ? ", " : "", names[c]);
}

/* Who holds what under a policy, as boxes and arrows (also written as DOT). */
static void
flow_svg(FILE *f, const struct policy *p)
{
	const struct policy_settings *ps = policy_settings(p);
	const double W = 640, rowh = 56;
	double H = 130 + rowh * (double)(ps->nsharing ? ps->nsharing : 0);
	char kept[96] = "";
	size_t i;
	int m;

	/* A protected reference (policy protect.*) is named as such: it is not the raw template. */
	for (m = 0; m < POLICY_NMODALITIES; m++)
		if (ps->store[m])
			(void)snprintf(kept + strlen(kept), sizeof(kept) - strlen(kept), "%s%s%s",
				kept[0] ? ", " : "", policy_modality_name((enum policy_modality)m),
				policy_protect(p, (enum policy_modality)m) ? " (protected)" : "");
	fprintf(f,
		"<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' role='img' "
		"aria-label='data flow'>",
		W, H);
	fprintf(f,
		"<defs><marker id='a' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
		"markerHeight='7' orient='auto'><path d='M0,0L10,5L0,10z' fill='#555'/></marker></defs>");
	fprintf(f,
		"<rect x='10' y='30' width='150' height='60' rx='6' fill='#eef' stroke='#557'/>"
		"<text x='85' y='55' font-size='12' text-anchor='middle'>kiosks (5)</text>"
		"<text x='85' y='72' font-size='10' text-anchor='middle'>capture: %s%s%s</text>",
		ps->capture[0] ? "finger " : "", ps->capture[1] ? "face " : "",
		ps->capture[2] ? "iris" : "");
	fprintf(f, "<line x1='160' y1='60' x2='225' y2='60' stroke='#555' marker-end='url(#a)'/>");
	fprintf(f,
		"<rect x='225' y='20' width='230' height='80' rx='6' fill='#fee' stroke='#955'/>"
		"<text x='340' y='42' font-size='12' text-anchor='middle'>hub (sealed store)</text>"
		"<text x='340' y='60' font-size='10' text-anchor='middle'>");
	if (ps->location == POLICY_LOCATION_CARD)
		fprintf(f, "templates on the card, not here");
	else if (kept[0])
		esc(f, kept), fprintf(f, " templates");
	else
		fprintf(f, "no templates");
	{
		char r1[48], r2[48];
		days_text(ps->retention_days[POLICY_REC_ENROLMENT], r1, sizeof(r1));
		days_text(ps->retention_days[POLICY_REC_CROSSING], r2, sizeof(r2));
		fprintf(f,
			"</text><text x='340' y='76' font-size='9' text-anchor='middle'>records "
			"%s, crossings %s</text><text x='340' y='92' font-size='10' "
			"text-anchor='middle'>1:N de-duplication %s</text>",
			r1, r2, ps->dedup ? "on" : "off");
	}
	if (ps->location == POLICY_LOCATION_CARD)
		fprintf(f, "<rect x='10' y='100' width='150' height='24' rx='6' fill='#efe' "
			   "stroke='#575'/><text x='85' y='116' font-size='10' "
			   "text-anchor='middle'>traveller's card: templates</text>");
	for (i = 0; i < ps->nsharing; i++) {
		const struct policy_share_rule *r = &ps->sharing[i];
		double y = 120 + rowh * (double)i;
		char keep[48], cats[80];
		fprintf(f,
			"<line x1='455' y1='60' x2='470' y2='%.0f' stroke='#555' "
			"marker-end='url(#a)'/>",
			y + 22);
		fprintf(f,
			"<rect x='470' y='%.0f' width='165' height='48' rx='6' fill='#ffe' "
			"stroke='#995'/><text x='552' y='%.0f' font-size='11' "
			"text-anchor='middle'>",
			y, y + 14);
		esc(f, r->partner);
		days_text(r->retention_days, keep, sizeof(keep));
		categories_text(r->categories, cats, sizeof(cats));
		fprintf(f,
			": %s</text><text x='552' y='%.0f' font-size='9' text-anchor='middle'>%s; "
			"kept %s</text><text x='552' y='%.0f' font-size='8' text-anchor='middle'>",
			policy_share_what_name(r->what), y + 27, cats, keep, y + 40);
		{
			char purpose[48];
			size_t pl = strlen(r->purpose);
			(void)snprintf(purpose, sizeof(purpose), "%.40s%s", r->purpose,
				pl > 40 ? "..." : "");
			esc(f, purpose);
		}
		fprintf(f, "<title>");
		esc(f, r->purpose);
		fprintf(f, "</title></text>");
	}
	if (ps->nsharing == 0)
		fprintf(f, "<text x='470' y='64' font-size='11'>no partner</text>");
	fprintf(f, "</svg>\n");
}

static int
write_dot(const char *dir, const struct measures *mm, const struct policy *p, struct paso_diag *d)
{
	const struct policy_settings *ps = policy_settings(p);
	char path[4200];
	FILE *f;
	size_t i;
	int m;

	(void)snprintf(path, sizeof(path), "%s/dataflow-%s.dot", dir, mm->policy);
	if ((f = fopen(path, "w")) == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	fprintf(f, "// Who holds what under policy '%s' (generated from %s by paso).\n", mm->policy,
		mm->policy_path);
	fprintf(f, "digraph \"%s\" {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n",
		mm->policy);
	fprintf(f, "  kiosks [label=\"kiosks\\ncapture:");
	for (m = 0; m < POLICY_NMODALITIES; m++)
		if (ps->capture[m])
			fprintf(f, " %s", policy_modality_name((enum policy_modality)m));
	fprintf(f, "\"];\n  hub [label=\"hub sealed store\\n");
	if (ps->location == POLICY_LOCATION_CARD)
		fprintf(f, "templates on the card");
	else
		for (m = 0; m < POLICY_NMODALITIES; m++)
			if (ps->store[m])
				fprintf(f, "%s%s ", policy_modality_name((enum policy_modality)m),
					policy_protect(p, (enum policy_modality)m) ? " (protected)"
										   : "");
	fprintf(f, "\\nrecords %u d, crossings %u d\"];\n  kiosks -> hub [label=\"TLS 1.3\"];\n",
		ps->retention_days[POLICY_REC_ENROLMENT], ps->retention_days[POLICY_REC_CROSSING]);
	if (ps->location == POLICY_LOCATION_CARD)
		fprintf(f, "  card [label=\"traveller's card\\ntemplates\"];\n  kiosks -> card;\n");
	fprintf(f, "  audit [label=\"public audit log\\npseudonyms only\"];\n  hub -> audit;\n");
	for (i = 0; i < ps->nsharing; i++) {
		const struct policy_share_rule *r = &ps->sharing[i];
		fprintf(f, "  \"%s\" [label=\"%s\\nkept %u d\"];\n  hub -> \"%s\" [label=\"%s: ",
			r->partner, r->partner, r->retention_days, r->partner,
			policy_share_what_name(r->what));
		for (const char *c = r->purpose; *c; c++)
			if (*c != '"' && *c != '\\' && *c != '\n')
				fputc(*c, f);
		fprintf(f, "\"];\n");
	}
	fprintf(f, "}\n");
	if (fclose(f) != 0)
		return paso_diag_set(d, PASO_E_IO, "%s: write failed", path);
	return 0;
}

static uint64_t
shares_total(const struct measures *m)
{
	uint64_t t = 0;
	size_t i;

	for (i = 0; i < m->nshares; i++)
		t += m->shares[i].n;
	return t;
}

/* The first table a reader sees: one column per policy, the figures that matter to people. */
static void
glance(FILE *f, const struct scenario *s, const struct measures *m, size_t n)
{
	char b1[32];
	size_t i, r;
	int breach = -1;

	for (r = 0; r < s->nevents; r++)
		if (s->events[r].kind == SCENARIO_BREACH_HUB && breach < 0)
			breach = (int)s->events[r].day;
	fprintf(f, "<h2>At a glance</h2>\n<table><tr><th></th>");
	for (i = 0; i < n; i++) {
		fprintf(f, "<th>");
		esc(f, m[i].policy);
		fprintf(f, "</th>");
	}
	fprintf(f, "</tr>\n");
#define ROW(label, expr)                                                                           \
	do {                                                                                       \
		fprintf(f, "<tr><td>%s</td>", label);                                              \
		for (i = 0; i < n; i++) {                                                          \
			const struct measures *x = &m[i];                                          \
			const struct held_point *h = x->nheld ? &x->held[x->nheld - 1] : NULL;     \
			(void)h;                                                                   \
			fprintf(f, "<td class='n'>%s</td>", expr);                                 \
		}                                                                                  \
		fprintf(f, "</tr>\n");                                                             \
	} while (0)
	ROW("people the hub holds a record of, at the end", num(h ? h->subjects : 0, b1));
	ROW("&nbsp;&nbsp;with their fingerprints", num(h ? h->finger : 0, b1));
	ROW("&nbsp;&nbsp;with their face", num(h ? h->face : 0, b1));
	ROW("&nbsp;&nbsp;with their irises", num(h ? h->iris : 0, b1));
	if (breach >= 0) {
		fprintf(f, "<tr><td>faces exposed by a breach of the hub on day %d</td>", breach);
		for (i = 0; i < n; i++) {
			const struct held_point *h = at_day(&m[i], s, (uint32_t)breach);
			fprintf(f, "<td class='n'>%s</td>", num(h ? h->face : 0, b1));
		}
		fprintf(f, "</tr>\n");
	}
	ROW("travellers wrongly stopped at a crossing",
		num(x->genuine_nonmatch + x->genuine_refused, b1));
	ROW("crossings the hub could not check", num(x->genuine_undecided, b1));
	ROW("wrongful hits (wrong person identified, wrongly refused as a duplicate, "
	    "someone else's card accepted)",
		num(x->ident_wrong + x->probe_hits + x->enrol_wrong_dup + x->dups_wrong_candidate +
				x->impostor_match,
			b1));
	ROW("enrolled detainees the station could not identify", num(x->ident_missed, b1));
	ROW("second enrolments under a new card not caught", num(x->dups_missed, b1));
	ROW("disclosures to partners (<code>SHARE</code> entries)", num(shares_total(x), b1));
	ROW("records a partner holds, at the end",
		num(x->npartners && x->partner_held && x->nheld
				? x->partner_held[x->nheld - 1].subjects
				: 0,
			b1));
	ROW("partner queries answered with a hit (of those sent)", num(x->query_hits, b1));
	fprintf(f, "<tr><td>records kept, by the policy (the first enrolled expire on)</td>");
	for (i = 0; i < n; i++) {
		char keep[48];
		days_text(m[i].retention_days, keep, sizeof(keep));
		fprintf(f, "<td class='n'>%s<br><small>day %s%s</small></td>", keep,
			num(m[i].retention_days, b1),
			m[i].retention_days >= s->days ? ", after this run" : "");
	}
	fprintf(f, "</tr>\n");
	ROW("audit entries anyone can check", num(x->audit_entries, b1));
#undef ROW
	fprintf(f,
		"</table><p class='src'>Details and the entries behind each figure below.</p>\n");
}

struct drow {
	const char *what, *backing;
	uint64_t (*num)(const struct measures *), (*den)(const struct measures *);
};

#define F(name, expr)                                                                              \
	static uint64_t name(const struct measures *m)                                             \
	{                                                                                          \
		return (expr);                                                                     \
	}
F(gen, m->genuine)
F(gen_non, m->genuine_nonmatch)
F(gen_ref, m->genuine_refused)
F(gen_und, m->genuine_undecided)
F(imp, m->impostor)
F(imp_match, m->impostor_match)
F(imp_und, m->impostor_undecided)
F(idn, m->ident)
F(idn_wrong, m->ident_wrong)
F(idn_missed, m->ident_missed)
F(prb, m->probes)
F(prb_hit, m->probe_hits)
F(enr, m->enrol)
F(enr_dup, m->enrol_wrong_dup)
F(dup, m->dups)
F(dup_missed, m->dups_missed)
F(dup_caught, m->dups_caught)
F(capf, m->capture_failures)
static uint64_t
zero(const struct measures *m)
{
	(void)m;
	return 0;
}
#undef F

static const struct drow drows[] = {
	{"Travellers wrongly stopped: own card, verification failed (false non-match)",
		"CROSSING entries with decision NO_MATCH, for crossings the truth file says were genuine",
		gen_non, gen},
	{"Travellers refused at a crossing for another reason (e.g. their enrolment was refused)",
		"REJECT entries for genuine crossings", gen_ref, gen},
	{"Crossings the hub could not decide (templates on the card)",
		"CROSSING entries with decision DECISION_NONE", gen_und, gen},
	{"Someone else's card accepted (false match in verification)",
		"CROSSING entries with decision MATCH, for impostor crossings", imp_match, imp},
	{"Impostor crossings the hub could not decide", "CROSSING entries with DECISION_NONE",
		imp_und, imp},
	{"Detainees identified as the wrong person (wrongful hit)",
		"IDENTIFY entries whose candidate pseudonym enrolled another body", idn_wrong, idn},
	{"Enrolled detainees not found", "IDENTIFY entries with NOT_IDENTIFIED", idn_missed, idn},
	{"Never-enrolled people matched to someone (wrongful hit)",
		"IDENTIFY entries with IDENTIFIED, for probes of people never enrolled", prb_hit,
		prb},
	{"New people refused enrolment as a 'duplicate' (wrongful hit)",
		"REJECT entries with code DUPLICATE for a first enrolment", enr_dup, enr},
	{"Duplicate enrolments missed (same person, second card, enrolled again)",
		"ENROLL entries for enrolments the truth file says were by someone already enrolled",
		dup_missed, dup},
	{"Duplicate enrolments caught", "REJECT DUPLICATE entries naming the right person",
		dup_caught, dup},
	{"Failures to capture (sent to a desk; nothing reached the hub)",
		"the kiosks' truth file (SEQ 0): no audit entry exists", capf, zero},
};
#define NDROWS (sizeof(drows) / sizeof(drows[0]))

static int
write_csvs(const char *dir, const struct scenario *s, const struct measures *m, size_t n,
	struct paso_diag *d)
{
	char path[4200];
	FILE *f;
	size_t i, p, r;

	(void)snprintf(path, sizeof(path), "%s/held.csv", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto fail;
	fprintf(f, "policy,day,subjects,with_finger,with_face,with_iris,store_bytes,crossings,"
		   "identifications,audit_people\n");
	for (i = 0; i < n; i++)
		for (p = 0; p < m[i].nheld; p++) {
			const struct held_point *h = &m[i].held[p];
			fprintf(f,
				"%s,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
				",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
				m[i].policy, h->day, h->subjects, h->finger, h->face, h->iris,
				h->store_bytes, h->crossings, h->identifications, h->audit_people);
		}
	if (fclose(f) != 0)
		goto fail;
	(void)snprintf(path, sizeof(path), "%s/decisions.csv", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto fail;
	fprintf(f, "policy,measure,count,out_of,backed_by\n");
	for (i = 0; i < n; i++)
		for (r = 0; r < NDROWS; r++)
			fprintf(f, "%s,\"%s\",%" PRIu64 ",%" PRIu64 ",\"%s\"\n", m[i].policy,
				drows[r].what, drows[r].num(&m[i]), drows[r].den(&m[i]),
				drows[r].backing);
	if (fclose(f) != 0)
		goto fail;
	(void)snprintf(path, sizeof(path), "%s/sharing.csv", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto fail;
	fprintf(f, "policy,recipient,mode,purpose,disclosures\n");
	for (i = 0; i < n; i++)
		for (r = 0; r < m[i].nshares; r++)
			fprintf(f, "%s,%s,%s,\"%s\",%" PRIu64 "\n", m[i].policy,
				m[i].shares[r].recipient, m[i].shares[r].mode,
				m[i].shares[r].purpose, m[i].shares[r].n);
	if (fclose(f) != 0)
		goto fail;
	(void)snprintf(path, sizeof(path), "%s/partner_held.csv", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto fail;
	fprintf(f, "policy,partner,day,records,with_finger,with_face,with_iris,store_bytes,"
		   "linkable_to_national_log\n");
	for (i = 0; i < n; i++)
		for (r = 0; r < m[i].npartners && m[i].partner_held != NULL; r++)
			for (p = 0; p < m[i].nheld; p++) {
				const struct held_point *h = &m[i].partner_held[r * m[i].nheld + p];
				fprintf(f,
					"%s,%s,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
					",%" PRIu64 ",%" PRIu64 "\n",
					m[i].policy, m[i].partners[r], h->day, h->subjects,
					h->finger, h->face, h->iris, h->store_bytes, h->linkable);
			}
	if (fclose(f) != 0)
		goto fail;
	(void)snprintf(path, sizeof(path), "%s/queries.csv", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto fail;
	fprintf(f, "policy,partner,queries,hits,no_hits,refused,wrongful_hits,missed,"
		   "hits_outside_rule_categories\n");
	for (i = 0; i < n; i++)
		if (m[i].npartners > 0)
			fprintf(f,
				"%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
				",%" PRIu64 ",%" PRIu64 "\n",
				m[i].policy, m[i].partners[0], m[i].queries, m[i].query_hits,
				m[i].query_nohits, m[i].query_refused, m[i].query_wrongful_hits,
				m[i].query_missed, m[i].query_hits_outside_rule);
	if (fclose(f) != 0)
		goto fail;
	(void)snprintf(path, sizeof(path), "%s/exposure.csv", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto fail;
	fprintf(f, "policy,party,breach_day,records,fingerprints,faces,irises,pseudonyms_in_audit_"
		   "log,linkable_to_national_log\n");
	for (r = 0; r < s->nevents; r++) {
		if (s->events[r].kind != SCENARIO_BREACH_HUB)
			continue;
		for (i = 0; i < n; i++) {
			const struct held_point *h = at_day(&m[i], s, s->events[r].day);
			if (h == NULL)
				continue;
			fprintf(f,
				"%s,hub,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
				",\n",
				m[i].policy, s->events[r].day, h->subjects, h->finger, h->face,
				h->iris, h->audit_people);
		}
	}
	/* A partner's breach: what its own store holds that day (it keeps no audit pseudonyms
	 * of the hub's, so that column is empty). */
	for (r = 0; r < s->nevents; r++) {
		if (s->events[r].kind != SCENARIO_BREACH_PARTNER)
			continue;
		for (i = 0; i < n; i++) {
			const struct held_point *h =
				partner_at_day(&m[i], s, s->events[r].target, s->events[r].day);
			if (h == NULL)
				continue;
			fprintf(f,
				"%s,%s,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",,%" PRIu64
				"\n",
				m[i].policy, s->events[r].target, s->events[r].day, h->subjects,
				h->finger, h->face, h->iris, h->linkable);
		}
	}
	if (fclose(f) != 0)
		goto fail;
	(void)snprintf(path, sizeof(path), "%s/cost.csv", dir);
	if ((f = fopen(path, "w")) == NULL)
		goto fail;
	fprintf(f, "policy,kiosk_messages,audit_entries,audit_bytes,store_bytes");
	for (p = 0; p < PHASE_N; p++)
		fprintf(f, ",seconds_%s", run_phase_names[p]);
	fprintf(f, "\n");
	for (i = 0; i < n; i++) {
		fprintf(f, "%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, m[i].policy,
			m[i].kiosk_messages, m[i].audit_entries, m[i].audit_bytes,
			m[i].store_bytes);
		for (p = 0; p < PHASE_N; p++)
			fprintf(f, ",%.3f", m[i].seconds[p]);
		fprintf(f, "\n");
	}
	if (fclose(f) != 0)
		goto fail;
	return 0;
fail:
	return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
}

static int
write_json(const char *dir, const struct scenario *s, const struct workload_info *w,
	const struct measures *m, size_t n, struct paso_diag *d)
{
	char path[4200], st[INSTANT_TEXT_BYTES];
	FILE *f;
	size_t i, r, p;

	(void)snprintf(path, sizeof(path), "%s/summary.json", dir);
	if ((f = fopen(path, "w")) == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	fprintf(f,
		"{\"scenario\":\"%s\",\"seed\":%" PRIu64 ",\"start\":\"%s\",\"days\":%u,"
		"\"period_days\":%u,\"workload\":{\"sha256\":\"%s\",\"population\":%u,"
		"\"messages\":%" PRIu64 ",\"enrolments\":%" PRIu64 ",\"duplicates\":%" PRIu64
		",\"crossings\":%" PRIu64 ",\"impostors\":%" PRIu64 ",\"identifications\":%" PRIu64
		",\"probes\":%" PRIu64 ",\"partner_queries_planned\":%" PRIu64 "},\"policies\":[",
		s->name, s->seed, instant_format(s->start, st), s->days, s->period_days, w->digest,
		w->population, w->messages, w->enrolments, w->duplicates, w->crossings,
		w->impostors, w->identifications, w->probes, w->partner_queries);
	for (i = 0; i < n; i++) {
		const struct measures *x = &m[i];
		const struct held_point *last = x->nheld ? &x->held[x->nheld - 1] : NULL;
		fprintf(f,
			"%s{\"policy\":\"%s\",\"held_at_end\":{\"subjects\":%" PRIu64
			",\"with_finger\":%" PRIu64 ",\"with_face\":%" PRIu64
			",\"with_iris\":%" PRIu64 ",\"audit_people\":%" PRIu64 "},\"decisions\":{",
			i ? "," : "", x->policy, last ? last->subjects : 0, last ? last->finger : 0,
			last ? last->face : 0, last ? last->iris : 0,
			last ? last->audit_people : 0);
		fprintf(f,
			"\"genuine\":%" PRIu64 ",\"genuine_match\":%" PRIu64
			",\"false_non_match\":%" PRIu64 ",\"genuine_refused\":%" PRIu64
			",\"genuine_undecided\":%" PRIu64 ",\"impostor\":%" PRIu64
			",\"false_match\":%" PRIu64 ",\"impostor_undecided\":%" PRIu64
			",\"identify\":%" PRIu64 ",\"identify_right\":%" PRIu64
			",\"identify_wrong\":%" PRIu64 ",\"identify_missed\":%" PRIu64
			",\"probes\":%" PRIu64 ",\"probe_hits\":%" PRIu64 ",\"enrol\":%" PRIu64
			",\"enrol_wrongly_duplicate\":%" PRIu64 ",\"duplicates\":%" PRIu64
			",\"duplicates_caught\":%" PRIu64 ",\"duplicates_missed\":%" PRIu64
			",\"capture_failures\":%" PRIu64 ",\"truth_without_audit_entry\":%" PRIu64
			"},\"sharing\":[",
			x->genuine, x->genuine_match, x->genuine_nonmatch, x->genuine_refused,
			x->genuine_undecided, x->impostor, x->impostor_match, x->impostor_undecided,
			x->ident, x->ident_right, x->ident_wrong, x->ident_missed, x->probes,
			x->probe_hits, x->enrol, x->enrol_wrong_dup, x->dups, x->dups_caught,
			x->dups_missed, x->capture_failures, x->truth_unmatched);
		for (r = 0; r < x->nshares; r++)
			fprintf(f,
				"%s{\"recipient\":\"%s\",\"mode\":\"%s\",\"disclosures\":%" PRIu64
				"}",
				r ? "," : "", x->shares[r].recipient, x->shares[r].mode,
				x->shares[r].n);
		fprintf(f, "],\"partners\":[");
		for (r = 0; r < x->npartners; r++) {
			const struct held_point *ph =
				x->partner_held && x->nheld
					? &x->partner_held[r * x->nheld + x->nheld - 1]
					: NULL;
			fprintf(f,
				"%s{\"partner\":\"%s\",\"held_at_end\":{\"records\":%" PRIu64
				",\"with_finger\":%" PRIu64 ",\"with_face\":%" PRIu64
				",\"with_iris\":%" PRIu64 ",\"linkable_to_national_log\":%" PRIu64
				"}",
				r ? "," : "", x->partners[r], ph ? ph->subjects : 0,
				ph ? ph->finger : 0, ph ? ph->face : 0, ph ? ph->iris : 0,
				ph ? ph->linkable : 0);
			if (r == 0)
				fprintf(f,
					",\"queries\":{\"sent\":%" PRIu64 ",\"hits\":%" PRIu64
					",\"no_hits\":%" PRIu64 ",\"refused\":%" PRIu64
					",\"wrongful_hits\":%" PRIu64 ",\"missed\":%" PRIu64
					",\"hits_outside_rule_categories\":%" PRIu64 "}",
					x->queries, x->query_hits, x->query_nohits,
					x->query_refused, x->query_wrongful_hits, x->query_missed,
					x->query_hits_outside_rule);
			fprintf(f, "}");
		}
		fprintf(f,
			"],\"erasures\":%" PRIu64 ",\"cost\":{\"kiosk_messages\":%" PRIu64
			",\"audit_entries\":%" PRIu64 ",\"audit_bytes\":%" PRIu64
			",\"store_bytes\":%" PRIu64,
			x->deletes, x->kiosk_messages, x->audit_entries, x->audit_bytes,
			x->store_bytes);
		for (p = 0; p < PHASE_N; p++)
			fprintf(f, ",\"seconds_%s\":%.3f", run_phase_names[p], x->seconds[p]);
		fprintf(f, "},\"held\":[");
		for (p = 0; p < x->nheld; p++)
			fprintf(f, "%s[%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
				p ? "," : "", x->held[p].day, x->held[p].subjects,
				x->held[p].finger, x->held[p].face, x->held[p].iris);
		fprintf(f, "]}");
	}
	fprintf(f, "],\"held_columns\":[\"day\",\"subjects\",\"with_finger\",\"with_face\","
		   "\"with_iris\"]}\n");
	if (fclose(f) != 0)
		return paso_diag_set(d, PASO_E_IO, "%s: write failed", path);
	return 0;
}

int
report_write(const char *dir, const struct scenario *s, const struct workload_info *w,
	const struct measures *m, size_t n, struct paso_diag *d)
{
	struct policy *pol = NULL;
	char path[4200], st[INSTANT_TEXT_BYTES];
	FILE *f = NULL;
	char nb[32];
	size_t i, r, p;
	int rc, any;

	if ((rc = write_csvs(dir, s, m, n, d)) != 0 || (rc = write_json(dir, s, w, m, n, d)) != 0)
		return rc;
	(void)snprintf(path, sizeof(path), "%s/report.html", dir);
	if ((f = fopen(path, "w")) == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	fprintf(f, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Paso: ");
	esc(f, s->name);
	fprintf(f,
		" under %zu polic%s</title><style>body{font-family:sans-serif;max-width:1000px;"
		"margin:2em auto;padding:0 1em;color:#222}figure{display:inline-block;margin:.5em}"
		"figcaption{font-size:.8em;color:#555;max-width:460px}table{border-collapse:"
		"collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;font-size:.9em;"
		"vertical-align:top}td.n{text-align:right}.legend span{margin-right:1.5em}"
		".src{font-size:.75em;color:#666}code{font-size:.9em}</style></head><body>\n",
		n, n == 1 ? "y" : "ies");
	fprintf(f, "<h1>The same border traffic under %zu polic%s</h1>\n", n, n == 1 ? "y" : "ies");
	fprintf(f, "<p>Scenario <b>");
	esc(f, s->name);
	fprintf(f, "</b>: ");
	esc(f, s->description);
	fprintf(f,
		" %u synthetic travellers enrol over %u simulated days from %s (seed %" PRIu64
		"); %" PRIu64 " kiosk messages were planned once and sent, byte for byte the "
		"same, to a fresh hub under each policy (workload SHA-256 <code>%.16s…</code>). "
		"Every figure below is read after the run from the hub's audit log and store; "
		"each says which entries back it. No real person's data is used.</p>\n",
		s->people, s->days, instant_format(s->start, st), s->seed, w->messages, w->digest);
	glance(f, s, m, n);
	fprintf(f, "<h2>What the hub holds over time</h2>\n");
	legend(f, m, n);
	for (i = 0; i < 5; i++)
		line_chart(f, s, m, n, (int)i);
	fprintf(f, "<p>People erased (<code>DELETE</code> entries):");
	for (i = 0; i < n; i++) {
		fprintf(f, " ");
		esc(f, m[i].policy);
		fprintf(f, " %" PRIu64 ";", m[i].deletes);
	}
	fprintf(f,
		" the hub erases a record when the policy's retention has passed on its own "
		"clock (see 'records kept' above); a sweep's <code>DELETE</code> entry states how "
		"many enrolments it erased.</p>\n");
	fprintf(f, "<h2>Exposure if a party is breached</h2>\n");
	any = 0;
	for (r = 0; r < s->nevents; r++) {
		if (s->events[r].kind == SCENARIO_BREACH_HUB) {
			exposure_chart(f, s, m, n, s->events[r].day);
			any = 1;
		} else if (s->events[r].kind == SCENARIO_BREACH_PARTNER) {
			fprintf(f, "<p>Breach of partner <b>");
			esc(f, s->events[r].target);
			fprintf(f, "</b> on day %u: what its own store holds that day.</p>\n",
				s->events[r].day);
			fprintf(f, "<table><tr><th>policy</th><th>records</th><th>fingerprints</th>"
				   "<th>faces</th><th>irises</th><th>linkable to the national "
				   "log</th></tr>\n");
			for (i = 0; i < n; i++) {
				const struct held_point *h = partner_at_day(
					&m[i], s, s->events[r].target, s->events[r].day);
				char b1[32], b2[32], b3[32], b4[32], b5[32];
				fprintf(f, "<tr><td>");
				esc(f, m[i].policy);
				if (h == NULL)
					fprintf(f, "</td><td colspan='5'>shares nothing with this "
						   "partner: nothing held there</td></tr>\n");
				else
					fprintf(f,
						"</td><td class='n'>%s</td><td class='n'>%s</td>"
						"<td class='n'>%s</td><td class='n'>%s</td>"
						"<td class='n'>%s</td></tr>\n",
						num(h->subjects, b1), num(h->finger, b2),
						num(h->face, b3), num(h->iris, b4),
						num(h->linkable, b5));
			}
			fprintf(f,
				"</table><p class='src'>From the partner's own "
				"<code>paso-hub stats --json</code> after that period "
				"(<code>partner_held.csv</code>). <i>Linkable</i>: people held there "
				"whose pseudonym at the partner a <code>SHARE</code> entry of the "
				"national hub's public log names beside the hub's own pseudonym of "
				"them, so whoever holds the breached store and that log can join "
				"each record to the person's crossings, identifications and "
				"queries there (distinct pseudonyms named up to that period, at "
				"most the people held).</p>\n");
			any = 1;
		}
	}
	if (!any)
		fprintf(f, "<p>The scenario has no breach event.</p>\n");
	fprintf(f, "<h2>Disclosures to partners</h2>\n");
	any = 0;
	for (i = 0; i < n; i++)
		for (r = 0; r < m[i].nshares; r++) {
			if (!any)
				fprintf(f,
					"<table><tr><th>policy</th><th>recipient</th><th>mode</th>"
					"<th>purpose</th><th>disclosures</th></tr>\n");
			any = 1;
			fprintf(f, "<tr><td>");
			esc(f, m[i].policy);
			fprintf(f, "</td><td>");
			esc(f, m[i].shares[r].recipient);
			fprintf(f, "</td><td>%s</td><td>", m[i].shares[r].mode);
			esc(f, m[i].shares[r].purpose);
			fprintf(f, "</td><td class='n'>%" PRIu64 "</td></tr>\n", m[i].shares[r].n);
		}
	if (any)
		fprintf(f, "</table><p class='src'>From <code>SHARE</code> entries.</p>\n");
	else
		fprintf(f,
			"<p>No <code>SHARE</code> entry in any hub's audit log: nothing was "
			"disclosed in these runs. The policies' sharing rules are in the data-flow "
			"diagrams below.</p>\n");
	fprintf(f, "<h2>Partner queries (hit / no hit)</h2>\n");
	any = 0;
	for (i = 0; i < n; i++) {
		char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], b7[32];
		if (m[i].npartners == 0)
			continue;
		if (!any)
			fprintf(f,
				"<table><tr><th>policy</th><th>partner</th><th>sent</th>"
				"<th>hit</th><th>no hit</th><th>refused</th><th>wrongful hits "
				"(probe of someone not enrolled)</th><th>no hit for someone "
				"enrolled</th><th>hits about people the rule's categories do not "
				"cover</th></tr>\n");
		any = 1;
		fprintf(f, "<tr><td>");
		esc(f, m[i].policy);
		fprintf(f, "</td><td>");
		esc(f, m[i].partners[0]);
		fprintf(f,
			"</td><td class='n'>%s</td><td class='n'>%s</td><td class='n'>%s</td>"
			"<td class='n'>%s</td><td class='n'>%s</td><td class='n'>%s</td>"
			"<td class='n'>%s</td></tr>\n",
			num(m[i].queries, b1), num(m[i].query_hits, b2), num(m[i].query_nohits, b3),
			num(m[i].query_refused, b4), num(m[i].query_wrongful_hits, b5),
			num(m[i].query_missed, b6), num(m[i].query_hits_outside_rule, b7));
	}
	if (any)
		fprintf(f, "</table><p class='src'>The scenario's queries (purpose '");
	else
		fprintf(f,
			"<p>No policy shares with a partner, so no partner asked (%" PRIu64
			" queries planned; purpose '",
			w->partner_queries);
	esc(f, s->partner_purpose ? s->partner_purpose : "");
	fprintf(f,
		"'), sent by the partner with <code>paso-hub query</code> and answered by "
		"the hub under the policy's <code>hit_no_hit</code> rules (a purpose no rule "
		"names is refused); judged against the planner's truth "
		"(<code>queries.txt</code>, <code>queries.csv</code>).%s\n",
		any ? "</p>" : ")</p>");
	fprintf(f, "<h2>Decisions and what they cost people</h2>\n<table><tr><th>what happened "
		   "(ground truth from the simulation)</th>");
	for (i = 0; i < n; i++) {
		fprintf(f, "<th>");
		esc(f, m[i].policy);
		fprintf(f, "</th>");
	}
	fprintf(f, "<th>backed by</th></tr>\n");
	for (r = 0; r < NDROWS; r++) {
		fprintf(f, "<tr><td>%s</td>", drows[r].what);
		for (i = 0; i < n; i++) {
			uint64_t a = drows[r].num(&m[i]), b = drows[r].den(&m[i]);
			char na[32], nb2[32];
			if (b)
				fprintf(f, "<td class='n'>%s of %s (%.2f%%)</td>", num(a, na),
					num(b, nb2), pct(a, b));
			else
				fprintf(f, "<td class='n'>%s</td>", num(a, na));
		}
		fprintf(f, "<td class='src'>%s</td></tr>\n", drows[r].backing);
	}
	fprintf(f, "</table><p class='src'>Each kiosk message's audit entry is joined to the "
		   "simulation's truth (<code>truth.txt</code>: who really stood at the kiosk) by "
		   "kiosk and sequence number; a pseudonym's body is known from its "
		   "<code>ENROLL</code> entry. Truth lines without an audit entry:");
	for (i = 0; i < n; i++)
		fprintf(f, " %" PRIu64, m[i].truth_unmatched);
	fprintf(f, ".</p>\n<h2>Cost</h2>\n<table><tr><th></th>");
	for (i = 0; i < n; i++) {
		fprintf(f, "<th>");
		esc(f, m[i].policy);
		fprintf(f, "</th>");
	}
	fprintf(f, "<th>backed by</th></tr>\n<tr><td>kiosk messages answered</td>");
	for (i = 0; i < n; i++)
		fprintf(f, "<td class='n'>%s</td>", num(m[i].kiosk_messages, nb));
	fprintf(f, "<td class='src'>audit entries with a kiosk actor and sequence number</td></tr>"
		   "<tr><td>audit entries</td>");
	for (i = 0; i < n; i++)
		fprintf(f, "<td class='n'>%s</td>", num(m[i].audit_entries, nb));
	fprintf(f, "<td class='src'>the audit log's size</td></tr><tr><td>audit log bytes</td>");
	for (i = 0; i < n; i++)
		fprintf(f, "<td class='n'>%s</td>", num(m[i].audit_bytes, nb));
	fprintf(f, "<td class='src'>size of <code>hub/audit/entries</code></td></tr><tr><td>store "
		   "bytes in use</td>");
	for (i = 0; i < n; i++)
		fprintf(f, "<td class='n'>%s</td>", num(m[i].store_bytes, nb));
	fprintf(f, "<td class='src'><code>store_bytes</code> of the last stats snapshot</td></tr>");
	for (p = 0; p < PHASE_N; p++) {
		fprintf(f, "<tr><td>seconds: %s</td>", run_phase_names[p]);
		for (i = 0; i < n; i++)
			fprintf(f, "<td class='n'>%.2f</td>", m[i].seconds[p]);
		fprintf(f, "<td class='src'>wall clock of this run</td></tr>");
	}
	fprintf(f, "</table>\n<h2>Who holds what: each policy's data flow</h2>\n");
	for (i = 0; i < n; i++) {
		struct paso_diag pd = {0};
		if ((rc = policy_load_file(m[i].policy_path, &pol, &pd)) != 0) {
			fclose(f);
			*d = pd;
			return rc;
		}
		fprintf(f, "<h3>");
		esc(f, m[i].policy);
		fprintf(f, "</h3><p>");
		esc(f, policy_settings(pol)->description);
		fprintf(f, "</p>");
		flow_svg(f, pol);
		fprintf(f, "<p class='src'>Generated from <code>");
		esc(f, m[i].policy_path);
		fprintf(f, "</code>; Graphviz source: <code>dataflow-");
		esc(f, m[i].policy);
		fprintf(f, ".dot</code>.</p>\n");
		rc = write_dot(dir, &m[i], pol, d);
		policy_free(pol);
		pol = NULL;
		if (rc != 0) {
			fclose(f);
			return rc;
		}
		/* A policy_change replaces the policy mid-run: its flow from that day on. */
		for (r = 0; r < s->nevents; r++) {
			struct paso_diag cd = {0};
			if (s->events[r].kind != SCENARIO_POLICY_CHANGE)
				continue;
			if ((rc = policy_load_file(s->events[r].target, &pol, &cd)) != 0) {
				fclose(f);
				*d = cd;
				return rc;
			}
			fprintf(f, "<h4>From day %u: ", s->events[r].day);
			esc(f, policy_settings(pol)->name);
			fprintf(f, " (policy_change)</h4><p>");
			esc(f, policy_settings(pol)->description);
			fprintf(f, "</p>");
			flow_svg(f, pol);
			fprintf(f, "<p class='src'>Generated from <code>");
			esc(f, s->events[r].target);
			fprintf(f, "</code>, which the hub reloaded on day %u.</p>\n",
				s->events[r].day);
			policy_free(pol);
			pol = NULL;
		}
	}
	fprintf(f,
		"<p class='src'>Figures for your own tools: <code>held.csv</code>, "
		"<code>decisions.csv</code>, <code>exposure.csv</code>, <code>sharing.csv</code>, "
		"<code>partner_held.csv</code>, <code>queries.csv</code>, "
		"<code>cost.csv</code>, <code>summary.json</code>. Each policy's deployment, audit "
		"log and truth file are kept in its own folder; check a log with "
		"<code>paso-audit verify DIR/POLICY/hub</code>.</p>\n</body></html>\n");
	if (fclose(f) != 0)
		return paso_diag_set(d, PASO_E_IO, "%s: write failed", path);
	return 0;
}
