/* SPDX-License-Identifier: Apache-2.0 */
/* paso trace: every act about one person in a deployment's audit log, each with its inclusion
 * proof against the latest signed checkpoint; text, JSON, or a page to hand to the person. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "deploy.h"
#include "instant.h"
#include "keyring.h"
#include "lab.h"
#include "merkle.h"
#include "paso.pb-c.h"
#include "policy.h"
#include "traceindex.h"
#include "vault.h"

#define LOOKUP_PURPOSE "subject access request"
#define NO_LOOKUP UINT64_MAX

/* What a card that maps to nothing means, for the person (docs/lab.md "Trace and erasure"). */
#define ERASED_TEXT                                                                                \
	"either the card was never enrolled or its record was erased. Erasure deletes the "        \
	"card's index entry and destroys the record's key, so the card can no longer be linked "   \
	"to the pseudonym it had; that is the unlinkability erasure promises. The acts logged "    \
	"before the erasure stay in the public log under that pseudonym: a trace kept from "       \
	"before lists it, and `paso trace DEPLOYMENT --pseudonym HEX` lists them again from the "  \
	"public log alone"
#define ERASED_TEXT_ES                                                                               \
	"o la tarjeta nunca se inscribió o su registro fue borrado. El borrado elimina la tarjeta " \
	"del índice y destruye la clave del registro: la tarjeta ya no puede vincularse con su "    \
	"seudónimo. Los actos anteriores al borrado siguen en el registro público con ese "        \
	"seudónimo; una traza guardada de antes lo indica"

struct act {
	uint64_t index;
	Paso__AuditEntry *e;
	uint8_t leaf[MERKLE_HASH_BYTES];
	uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_BYTES];
	size_t npath;
	int verified;
};

struct trace {
	uint8_t pseud[32];
	char pseud_hex[65];
	int found;
	int given;             /* --pseudonym: no card, no lookup, the public log only */
	int partner;           /* a partner's log: pseudonyms from the national SHARE entries */
	uint64_t lookup_index; /* the audited lookup that computed the pseudonym (given: none) */
	struct checkpoint cp;
	char *note;
	struct act *acts;
	size_t n, cap;
	uint64_t scanned;
};

/* Words for an action, in Spanish and English. */
static const struct {
	Paso__Action a;
	const char *es, *en;
} words[] = {
	{PASO__ACTION__ENROLL, "inscripción en el registro", "enrolment in the registry"},
	{PASO__ACTION__CROSSING, "cruce: verificación de identidad", "crossing: identity check"},
	{PASO__ACTION__IDENTIFY, "identificación (búsqueda 1:N)", "identification (1:N search)"},
	{PASO__ACTION__REJECT, "solicitud rechazada", "request refused"},
	{PASO__ACTION__RECORD_READ, "lectura de su registro", "your record was read"},
	{PASO__ACTION__SHARE, "entrega a otra institución", "shared with another party"},
	{PASO__ACTION__DELETE, "borrado", "erased"},
	{PASO__ACTION__REPLAYED, "reenvío de la misma solicitud", "the same request sent again"},
	{PASO__ACTION__QUERY, "consulta de otra institución: coincidencia",
		"another party's query found you"},
	{PASO__ACTION__RELEASE, "otra institución pidió su registro tras la coincidencia",
		"another party asked for your record after a hit"},
	{PASO__ACTION__RECEIVE, "otra institución recibió sus datos",
		"another party received your data"},
};

/* What a decision meant for the person, in Spanish and English. */
static const char *
decision_word(Paso__Decision dec, int es)
{
	switch (dec) {
	case PASO__DECISION__MATCH:
		return es ? "coincidió, pudo pasar" : "matched, could pass";
	case PASO__DECISION__NO_MATCH:
		return es ? "no coincidió, enviado a revisión" : "did not match, sent to a desk";
	case PASO__DECISION__IDENTIFIED:
		return es ? "identificado" : "identified";
	case PASO__DECISION__NOT_IDENTIFIED:
		return es ? "no identificado" : "not identified";
	case PASO__DECISION__DUPLICATE_FOUND:
		return es ? "ya inscrito con otra tarjeta" : "already enrolled under another card";
	default:
		return es ? "sin comparación en el registro" : "not compared by the registry";
	}
}

static const char *
action_word(Paso__Action a, int es)
{
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (words[i].a == a)
			return es ? words[i].es : words[i].en;
	return es ? "otro acto" : "other act";
}

static const char *
action_name(Paso__Action a)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&paso__action__descriptor, (int)a);

	return v != NULL ? v->name : "?";
}

static const char *
decision_name(const Paso__AuditEntry *e)
{
	const ProtobufCEnumValue *v;

	if (e->match == NULL)
		return "";
	v = protobuf_c_enum_descriptor_get_value(
		&paso__decision__descriptor, (int)e->match->decision);
	return v != NULL ? v->name : "";
}

static int
about(const Paso__AuditEntry *e, const uint8_t p[32])
{
	if (e->subject.len == 32 && sodium_memcmp(e->subject.data, p, 32) == 0)
		return 1;
	return e->match != NULL && e->match->candidate.len == 32 &&
	       sodium_memcmp(e->match->candidate.data, p, 32) == 0;
}

/* The latest checkpoint, verified with the log's key: the size and root every proof targets. */
static int
load_checkpoint(
	struct auditlog *log, const struct deploy_paths *p, struct trace *t, struct paso_diag *d)
{
	struct checkpoint_verifier *v = NULL;
	struct checkpoint_note *note = NULL;
	char vk[1024];
	size_t len;
	FILE *f;
	int r;

	if ((f = fopen(p->audit_vkey, "r")) == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", p->audit_vkey, strerror(errno));
	len = fread(vk, 1, sizeof(vk) - 1, f);
	fclose(f);
	vk[len] = '\0';
	vk[strcspn(vk, "\n")] = '\0';
	if ((r = checkpoint_verifier_from_vkey(vk, &v)) != 0) {
		paso_diag_set(d, r, "%s: not a log key", p->audit_vkey);
		goto out;
	}
	if ((r = auditlog_latest_checkpoint(log, &t->note, &len)) != 0 ||
		(r = checkpoint_note_parse(t->note, len, &note, d)) != 0 ||
		(r = checkpoint_note_verify(note, v, NULL, d)) != 0 ||
		(r = checkpoint_parse_text(note->text, note->text_len, &t->cp, d)) != 0)
		goto out;
out:
	checkpoint_note_free(note);
	checkpoint_verifier_free(v);
	return r;
}

/* Adds entry i (taking ownership of e) with its inclusion proof against the checkpoint. */
static int
add_act(struct auditlog *log, struct trace *t, uint64_t i, Paso__AuditEntry *e)
{
	struct act *a;
	int r;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		if ((a = realloc(t->acts, cap * sizeof(*a))) == NULL) {
			paso__audit_entry__free_unpacked(e, NULL);
			return PASO_E_NOMEM;
		}
		t->acts = a;
		t->cap = cap;
	}
	a = &t->acts[t->n++];
	memset(a, 0, sizeof(*a));
	a->index = i;
	a->e = e;
	if ((r = auditlog_leaf_hash(log, i, a->leaf)) != 0 ||
		(r = auditlog_inclusion(
			 log, i, t->cp.size, a->path, MERKLE_MAX_PROOF, &a->npath)) != 0)
		return r;
	a->verified =
		merkle_verify_inclusion(a->leaf, i, t->cp.size,
			(const uint8_t(*)[MERKLE_HASH_BYTES])a->path, a->npath, t->cp.root) == 0;
	return 0;
}

static int
read_entry(struct auditlog *log, const char *where, uint64_t i, Paso__AuditEntry **ep,
	struct paso_diag *d)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	*ep = NULL;
	if ((r = auditlog_entry(log, i, &buf, &len)) != 0)
		return r;
	*ep = paso__audit_entry__unpack(NULL, len, buf);
	free(buf);
	if (*ep == NULL)
		return paso_diag_set(
			d, PASO_E_AUDIT_CORRUPT, "%s: entry %" PRIu64 " does not decode", where, i);
	return 0;
}

/*
 * Finds the acts: with an index (idxdir), brought up to the checkpoint first, only the
 * person's entries are read; without one, every entry up to the checkpoint is.
 */
static int
scan(const struct deploy_paths *p, const char *idxdir, struct trace *t, struct paso_diag *d)
{
	struct auditlog *log = NULL;
	struct traceindex *ix = NULL;
	Paso__AuditEntry *e = NULL;
	uint64_t i, *list = NULL;
	size_t n = 0, k;
	int r, lookup_done = 0;

	if ((r = auditlog_open_readonly(p->audit, &log, d)) != 0 ||
		(r = load_checkpoint(log, p, t, d)) != 0)
		goto out;
	if (idxdir == NULL) {
		t->scanned = t->cp.size;
		for (i = 0; i < t->cp.size; i++) {
			if ((r = read_entry(log, p->audit, i, &e, d)) != 0)
				goto out;
			if (i == t->lookup_index || (t->found && about(e, t->pseud))) {
				r = add_act(log, t, i, e);
				e = NULL;
				if (r != 0)
					goto out;
				continue;
			}
			paso__audit_entry__free_unpacked(e, NULL);
			e = NULL;
		}
		r = 0;
		goto out;
	}
	if ((r = traceindex_open(idxdir, &ix, d)) != 0 ||
		(r = traceindex_update(ix, log, t->cp.size, &t->scanned, d)) != 0)
		goto out;
	if (t->found && (r = traceindex_lookup(ix, t->pseud, t->cp.size, &list, &n)) != 0)
		goto out;
	for (k = 0; k <= n; k++) {
		/* The lookup entry has no subject: merge it in at its place. */
		if (!lookup_done && (k == n || list[k] > t->lookup_index)) {
			lookup_done = 1;
			if (t->lookup_index < t->cp.size) {
				if ((r = read_entry(log, p->audit, t->lookup_index, &e, d)) != 0)
					goto out;
				r = add_act(log, t, t->lookup_index, e);
				e = NULL;
				if (r != 0)
					goto out;
			}
		}
		if (k == n)
			break;
		if ((r = read_entry(log, p->audit, list[k], &e, d)) != 0)
			goto out;
		if (!about(e, t->pseud)) {
			r = paso_diag_set(d, PASO_E_CORRUPT,
				"%s: the trace index names entry %" PRIu64
				", which is not about this "
				"person; delete the index or run with --no-index",
				idxdir, list[k]);
			goto out;
		}
		r = add_act(log, t, list[k], e);
		e = NULL;
		if (r != 0)
			goto out;
	}
	r = 0;
out:
	if (e != NULL)
		paso__audit_entry__free_unpacked(e, NULL);
	free(list);
	traceindex_close(ix);
	auditlog_close(log);
	return r;
}

static void
hex(const uint8_t *b, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

/* The partners' pseudonyms of the person: " as HEX" in the national SHARE entries' details. */
#define TRACE_MAX_PARTNER_PSEUDS 16
#define TRACE_MAX_PARTNERS 8

static size_t
partner_pseudonyms(const struct trace *t, uint8_t out[][32], size_t max)
{
	size_t i, k, n = 0, bin;
	const char *at;
	uint8_t pp[32];

	for (i = 0; i < t->n; i++) {
		const Paso__AuditEntry *e = t->acts[i].e;

		if (e->action != PASO__ACTION__SHARE || e->detail == NULL ||
			(at = strstr(e->detail, " as ")) == NULL || strlen(at + 4) < 64 ||
			sodium_hex2bin(pp, 32, at + 4, 64, NULL, &bin, NULL) != 0 || bin != 32)
			continue;
		for (k = 0; k < n && memcmp(out[k], pp, 32) != 0; k++)
			;
		if (k == n && n < max)
			memcpy(out[n++], pp, 32);
	}
	return n;
}

/*
 * The person's acts in a partner's log (pdir, its own trace index unless noindex): every entry
 * under each pseudonym the national hub says it shared the person's data as, with proofs
 * against the partner's own signed checkpoint.
 */
static int
scan_partner(const char *pdir, int noindex, const uint8_t pps[][32], size_t npps, struct trace *pt,
	struct paso_diag *d)
{
	struct deploy_paths p;
	char idx[DEPLOY_PATH_MAX + 16];
	size_t k;
	int r;

	memset(pt, 0, sizeof(*pt));
	pt->found = pt->given = pt->partner = 1;
	pt->lookup_index = NO_LOOKUP;
	if ((r = deploy_paths(pdir, &p, d)) != 0)
		return r;
	(void)snprintf(idx, sizeof(idx), "%s/trace-index", p.root);
	for (k = 0; k < npps; k++) {
		memcpy(pt->pseud, pps[k], 32);
		hex(pt->pseud, 32, pt->pseud_hex);
		free(pt->note);
		pt->note = NULL;
		if ((r = scan(&p, noindex ? NULL : idx, pt, d)) != 0)
			return r;
	}
	if (npps == 0)
		pt->found = 0;
	return 0;
}

static void
html_esc(FILE *f, const char *s)
{
	for (; *s; s++)
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
}

static void
print_text(const struct trace *t, const char *dir)
{
	char inst[INSTANT_TEXT_BYTES], h[65];
	size_t i;

	printf("%s %s\n", t->partner ? "at partner" : "trace of one person in", dir);
	if (t->partner && !t->found) {
		printf("  the national log names no share of this person's data: no pseudonym to "
		       "look for here\n");
		return;
	} else if (t->partner)
		printf("  pseudonym %s (this party's own, named in the national hub's SHARE "
		       "entries about the person)\n",
			t->pseud_hex);
	else if (t->given)
		printf("  pseudonym %s (given: read from the public log only; no card was looked "
		       "up and nothing was logged)\n",
			t->pseud_hex);
	else if (t->found)
		printf("  pseudonym %s (computed from the card under the deployment's keys and the "
		       "person's data key; that "
		       "lookup is itself entry %" PRIu64 ")\n",
			t->pseud_hex, t->lookup_index);
	else
		printf("  no one is enrolled with that card here (the lookup is entry %" PRIu64
		       "): %s\n",
			t->lookup_index, ERASED_TEXT);
	printf("  against the signed checkpoint of %s: size %" PRIu64 "\n", t->cp.origin,
		t->cp.size);
	printf("  %zu acts; check any with: paso-audit prove %s --index N --size %" PRIu64 "\n",
		t->n, dir, t->cp.size);
	for (i = 0; i < t->n; i++) {
		const struct act *a = &t->acts[i];
		const Paso__AuditEntry *e = a->e;

		hex(a->leaf, 32, h);
		printf("#%" PRIu64 " %s %s by %s, purpose '%s'", a->index,
			instant_format(e->time, inst), action_name(e->action), e->actor,
			e->purpose);
		if (e->policy_rule[0])
			printf(", rule '%s'", e->policy_rule);
		if (e->recipient[0])
			printf(", to %s", e->recipient);
		if (e->crossing_point[0])
			printf(", at %s", e->crossing_point);
		if (e->match != NULL)
			printf(", decision %s", decision_name(e));
		if (e->code != 0)
			printf(", code %s", paso_errname(e->code));
		printf("\n    inclusion proof: %zu hashes, leaf %s: %s\n", a->npath, h,
			a->verified ? "verified" : "DOES NOT VERIFY");
	}
}

/* One log's trace as a JSON object, left open after its "acts" (the caller closes it). */
static void
print_json(const struct trace *t, const char *dir)
{
	char inst[INSTANT_TEXT_BYTES], h[65];
	size_t i, k;

	printf("{\"deployment\":\"%s\",\"found\":%s,\"given_pseudonym\":%s,\"pseudonym\":\"%s\","
	       "\"lookup_entry\":%" PRId64 ",",
		dir, t->found ? "true" : "false", t->given && !t->partner ? "true" : "false",
		t->found ? t->pseud_hex : "",
		t->lookup_index == NO_LOOKUP ? (int64_t)-1 : (int64_t)t->lookup_index);
	if (!t->found)
		printf("\"note\":\"%s\",",
			t->partner ? "the national log names no share of this person's data"
				   : ERASED_TEXT);
	printf("\"checkpoint\":{\"origin\":\"%s\",\"size\":%" PRIu64 ",\"root\":\"", t->cp.origin,
		t->cp.size);
	hex(t->cp.root, 32, h);
	printf("%s\"},\"acts\":[", h);
	for (i = 0; i < t->n; i++) {
		const struct act *a = &t->acts[i];
		const Paso__AuditEntry *e = a->e;

		hex(a->leaf, 32, h);
		printf("%s{\"index\":%" PRIu64
		       ",\"time\":\"%s\",\"action\":\"%s\",\"actor\":\"%s\","
		       "\"purpose\":\"%s\",\"policy_rule\":\"%s\",\"recipient\":\"%s\","
		       "\"crossing_point\":\"%s\",\"decision\":\"%s\",\"code\":%d,\"leaf_hash\":\"%s\","
		       "\"verified\":%s,\"proof\":[",
			i ? "," : "", a->index, instant_format(e->time, inst),
			action_name(e->action), e->actor, e->purpose, e->policy_rule, e->recipient,
			e->crossing_point, decision_name(e), e->code, h,
			a->verified ? "true" : "false");
		for (k = 0; k < a->npath; k++) {
			hex(a->path[k], 32, h);
			printf("%s\"%s\"", k ? "," : "", h);
		}
		printf("]}");
	}
	printf("]");
}

/* One log's acts as a table, in Spanish (es) or English. */
static void
html_acts(FILE *f, const struct trace *t, int es)
{
	char inst[INSTANT_TEXT_BYTES];
	size_t i;

	fprintf(f,
		"<table><tr><th>#</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
		"<th>%s</th></tr>\n",
		es ? "fecha (UTC)" : "date (UTC)", es ? "acto" : "act", es ? "quién" : "who",
		es ? "para qué / regla" : "purpose / rule", es ? "prueba" : "proof");
	for (i = 0; i < t->n; i++) {
		const Paso__AuditEntry *e = t->acts[i].e;
		fprintf(f,
			"<tr><td>%" PRIu64 "</td><td>%s</td><td>%s%s%s<br><small>%s %s</small>"
			"</td><td>",
			t->acts[i].index, instant_format(e->time, inst), action_word(e->action, es),
			e->match ? ": " : "", e->match ? decision_word(e->match->decision, es) : "",
			action_name(e->action), decision_name(e));
		html_esc(f, e->actor);
		if (e->crossing_point[0]) {
			fprintf(f, "<br><small>");
			html_esc(f, e->crossing_point);
			fprintf(f, "</small>");
		}
		if (e->recipient[0]) {
			fprintf(f, "<br>%s ", es ? "a:" : "to:");
			html_esc(f, e->recipient);
		}
		fprintf(f, "</td><td>");
		html_esc(f, e->purpose);
		fprintf(f, "<br><small>");
		html_esc(f, e->policy_rule);
		fprintf(f, "</small></td><td class='%s'>%s</td></tr>\n",
			t->acts[i].verified ? "ok" : "bad",
			t->acts[i].verified ? (es ? "incluido ✓" : "included ✓")
					    : (es ? "NO verifica" : "does NOT verify"));
	}
	fprintf(f, "</table>\n");
}

static int
write_html(const struct trace *t, const char *dir, const struct trace *pts,
	const char *const *pdirs, size_t np, const char *path, struct paso_diag *d)
{
	char h[65];
	FILE *f = fopen(path, "w");
	size_t i;
	int es;

	if (f == NULL)
		return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	fprintf(f,
		"<!DOCTYPE html>\n<html lang='es'><head><meta charset='utf-8'><title>Sus datos en "
		"el registro / Your data in the registry</title><style>body{font-family:sans-serif;"
		"max-width:900px;margin:2em auto;padding:0 1em}table{border-collapse:collapse}"
		"td,th{border:1px solid #ccc;padding:.3em .5em;font-size:.9em;vertical-align:top}"
		"code{font-size:.8em;word-break:break-all}.ok{color:#1a7f37}.bad{color:#b00}"
		"</style></head><body>\n");
	for (es = 1; es >= 0; es--) {
		fprintf(f, "<section lang='%s'><h1>%s</h1>\n", es ? "es" : "en",
			es ? "Lo que el registro hizo con sus datos"
			   : "What the registry did with your data");
		fprintf(f, "<p>%s <code>", es ? "Registro:" : "Registry:");
		html_esc(f, t->cp.origin);
		fprintf(f, "</code>. ");
		if (t->found)
			fprintf(f,
				es ? "En el registro público usted aparece solo con este seudónimo: "
				     "<code>%s</code>. "
				   : "In the public log you appear only as this pseudonym: "
				     "<code>%s</code>. ",
				t->pseud_hex);
		else
			fprintf(f,
				es ? "Nadie está inscrito con esa tarjeta: %s. "
				   : "No one is enrolled with that card: %s. ",
				es ? ERASED_TEXT_ES : ERASED_TEXT);
		if (t->given)
			fprintf(f,
				es ? "Esta traza se leyó solo del registro público, a partir del "
				     "seudónimo.</p>\n"
				   : "This trace was read from the public log alone, from the "
				     "pseudonym.</p>\n");
		else
			fprintf(f,
				es ? "Calcular ese seudónimo a partir de su tarjeta quedó registrado "
				     "como el acto número %" PRIu64 ".</p>\n"
				   : "Computing that pseudonym from your card was itself recorded as "
				     "act number %" PRIu64 ".</p>\n",
				t->lookup_index);
		html_acts(f, t, es);
		for (i = 0; i < np; i++) {
			fprintf(f, "<h2>%s <code>",
				es ? "En otra institución:" : "At another party:");
			html_esc(f, pts[i].found ? pts[i].cp.origin : pdirs[i]);
			fprintf(f, "</code></h2>\n<p>");
			if (!pts[i].found) {
				fprintf(f, "%s</p>\n",
					es ? "El registro nacional no anota ninguna entrega de sus datos a "
					     "esta institución."
					   : "The national log names no share of your data with this "
					     "party.");
				continue;
			}
			fprintf(f,
				es ? "Allí usted aparece con otro seudónimo, <code>%s</code>, que el "
				     "registro nacional anotó al entregar sus datos. Cada acto se "
				     "comprueba con el registro firmado de esa institución (tamaño "
				     "%" PRIu64 ").</p>\n"
				   : "There you appear under another pseudonym, <code>%s</code>, which "
				     "the national log recorded when it shared your data. Each act is "
				     "checked against that party's own signed log (size %" PRIu64
				     ").</p>\n",
				pts[i].pseud_hex, pts[i].cp.size);
			html_acts(f, &pts[i], es);
		}
		hex(t->cp.root, 32, h);
		fprintf(f,
			es ? "<p>Cada acto está en un registro público firmado (tamaño %" PRIu64
			     ", raíz <code>%s</code>). Cualquier persona puede comprobarlo sin confiar "
			     "en el registro: <code>paso-audit prove %s --index N --size %" PRIu64
			     "</code> con la clave pública del registro.</p></section>\n"
			   : "<p>Every act is in a signed public log (size %" PRIu64
			     ", root <code>%s</code>). Anyone can check it without trusting the "
			     "registry: <code>paso-audit prove %s --index N --size %" PRIu64
			     "</code> with the registry's public key.</p></section>\n",
			t->cp.size, h, dir, t->cp.size);
		if (es)
			fprintf(f, "<hr>\n");
	}
	fprintf(f, "<details><summary>Signed checkpoint / punto de control firmado</summary><pre>");
	html_esc(f, t->note);
	fprintf(f, "</pre></details></body></html>\n");
	if (fclose(f) != 0)
		return paso_diag_set(d, PASO_E_IO, "%s: write failed", path);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paso trace DEPLOYMENT --card N [--partner DIR]... [--json] [--html FILE]\n"
		"         [--index DIR | --no-index]\n"
		"       paso trace DEPLOYMENT --pseudonym HEX [same options]\n"
		"  lists every act about the person holding card N in the deployment's audit log,\n"
		"  each with its inclusion proof against the latest signed checkpoint. Computing the\n"
		"  person's pseudonym from the card is itself logged first (the hub must be\n"
		"  stopped). --html writes a page in Spanish and English to hand to the person.\n"
		"  An index from pseudonyms to entries (default DEPLOYMENT/trace-index; derived from\n"
		"  the public log and brought up to date first) spares reading the whole log each\n"
		"  time; --no-index reads every entry instead.\n"
		"  --pseudonym HEX (64 hex digits, from an earlier trace) lists the same acts from\n"
		"  the public log alone: it needs no card, reads no key and logs nothing, so it\n"
		"  works after the person's record (and the card's link to it) was erased.\n"
		"  --partner DIR (a partner deployment, up to 8) follows the person there: every\n"
		"  entry of that party's log under the pseudonyms the national SHARE entries name\n"
		"  (\"shared ... as HEX\"), with proofs against that party's own checkpoint.\n");
}

int
trace_main(int argc, char **argv)
{
	struct paso_diag d = {0};
	struct deploy_paths p;
	struct keyring *kr = NULL;
	struct vault *v = NULL;
	struct vault_txn *tx = NULL;
	struct policy *pol = NULL;
	struct auditlog *log = NULL;
	struct trace t;
	const char *dir = NULL, *card = NULL, *html = NULL, *idxdir = NULL, *pseud = NULL;
	char idxbuf[DEPLOY_PATH_MAX + 16];
	const Paso__Action act = PASO__ACTION__RECORD_READ;
	const char *details[1] = {"card index looked up to compute one subject's pseudonym, at "
				  "that subject's request (paso trace); the card is not recorded"};
	uint8_t id[VAULT_ID_BYTES], pps[TRACE_MAX_PARTNER_PSEUDS][32];
	const char *pdirs[TRACE_MAX_PARTNERS];
	struct trace pts[TRACE_MAX_PARTNERS];
	int i, r, json = 0, noindex = 0;
	size_t k, np = 0, npps;

	memset(&t, 0, sizeof(t));
	memset(pts, 0, sizeof(pts));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--card") == 0 && i + 1 < argc)
			card = argv[++i];
		else if (strcmp(argv[i], "--pseudonym") == 0 && i + 1 < argc)
			pseud = argv[++i];
		else if (strcmp(argv[i], "--html") == 0 && i + 1 < argc)
			html = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--no-index") == 0)
			noindex = 1;
		else if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
			idxdir = argv[++i];
		else if (strcmp(argv[i], "--partner") == 0 && i + 1 < argc) {
			if (np == TRACE_MAX_PARTNERS) {
				fprintf(stderr, "paso trace: at most %d --partner\n",
					TRACE_MAX_PARTNERS);
				return 2;
			}
			pdirs[np++] = argv[++i];
		} else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else {
			fprintf(stderr, "paso trace: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL || (card == NULL) == (pseud == NULL)) {
		fprintf(stderr,
			"paso trace: needs DEPLOYMENT and one of --card N, --pseudonym HEX\n");
		usage(stderr);
		return 2;
	}
	if (card != NULL && (strlen(card) < 1 || strlen(card) > 64)) {
		fprintf(stderr, "paso trace: --card: 1..64 characters\n");
		return 2;
	}
	if (pseud != NULL) {
		size_t bin = 0;

		if (strlen(pseud) != 64 ||
			sodium_hex2bin(t.pseud, sizeof(t.pseud), pseud, 64, NULL, &bin, NULL) !=
				0 ||
			bin != 32) {
			fprintf(stderr, "paso trace: --pseudonym: 64 hexadecimal digits: '%s'\n",
				pseud);
			return 2;
		}
		if ((r = deploy_paths(dir, &p, &d)) != 0)
			goto out;
		t.found = t.given = 1;
		t.lookup_index = NO_LOOKUP;
		hex(t.pseud, 32, t.pseud_hex);
		goto scan;
	}
	if ((r = deploy_paths(dir, &p, &d)) != 0 || (r = keyring_open(p.keys, &kr, &d)) != 0 ||
		(r = vault_open(dir, kr, &v, &d)) != 0 ||
		(r = policy_load_file(p.policy, &pol, &d)) != 0)
		goto out;
	/* The lookup is logged durably before the card index is read. */
	if ((r = deploy_audit_offline(
		     &p, v, policy_digest(pol), LOOKUP_PURPOSE, &act, details, 1, &d)) != 0) {
		if (r == PASO_E_EXISTS)
			(void)paso_diag_set(&d, r,
				"%s: the hub is serving; stop it first (the lookup must be logged, "
				"and only one writer may hold the log)",
				dir);
		goto out;
	}
	if ((r = auditlog_open_readonly(p.audit, &log, &d)) != 0)
		goto out;
	t.lookup_index = auditlog_size(log) - 1;
	auditlog_close(log);
	log = NULL;
	if ((r = vault_begin(v, 1, &tx)) != 0)
		goto out;
	r = vault_card_lookup(tx, card, id);
	if (r == 0) {
		t.found = 1;
		if ((r = vault_pseudonym(tx, id, t.pseud)) != 0)
			goto out;
		hex(t.pseud, 32, t.pseud_hex);
	} else if (r != PASO_E_NOT_FOUND)
		goto out;
	sodium_memzero(id, sizeof(id));
	vault_abort(tx);
	tx = NULL;
scan:
	if (!noindex && idxdir == NULL) {
		(void)snprintf(idxbuf, sizeof(idxbuf), "%s/trace-index", p.root);
		idxdir = idxbuf;
	}
	if ((r = scan(&p, noindex ? NULL : idxdir, &t, &d)) != 0)
		goto out;
	npps = partner_pseudonyms(&t, pps, TRACE_MAX_PARTNER_PSEUDS);
	for (k = 0; k < np; k++)
		if ((r = scan_partner(
			     pdirs[k], noindex, (const uint8_t(*)[32])pps, npps, &pts[k], &d)) != 0)
			goto out;
	if (html != NULL && (r = write_html(&t, dir, pts, pdirs, np, html, &d)) != 0)
		goto out;
	if (json) {
		print_json(&t, dir);
		printf(",\"partners\":[");
		for (k = 0; k < np; k++) {
			printf("%s", k ? "," : "");
			print_json(&pts[k], pdirs[k]);
			printf("}");
		}
		printf("]}\n");
	} else {
		print_text(&t, dir);
		for (k = 0; k < np; k++)
			print_text(&pts[k], pdirs[k]);
	}
	if (t.given && t.n == 0) {
		r = paso_diag_set(&d, PASO_E_NOT_FOUND, "no entry of %s's log names pseudonym %s",
			dir, t.pseud_hex);
		goto out;
	}
	r = t.found ? 0 : PASO_E_NOT_FOUND;
	if (!t.found)
		(void)paso_diag_set(&d, r,
			"no one is enrolled with that card in %s: never enrolled, or erased "
			"(erasure unlinks the card from its pseudonym)",
			dir);
out:
	for (k = 0; k < t.n; k++)
		paso__audit_entry__free_unpacked(t.acts[k].e, NULL);
	free(t.acts);
	free(t.note);
	for (i = 0; i < TRACE_MAX_PARTNERS; i++) {
		for (k = 0; k < pts[i].n; k++)
			paso__audit_entry__free_unpacked(pts[i].acts[k].e, NULL);
		free(pts[i].acts);
		free(pts[i].note);
	}
	vault_abort(tx);
	vault_close(v);
	keyring_close(kr);
	policy_free(pol);
	if (r != 0) {
		fprintf(stderr, "paso trace: error %s (%d): %s\n", paso_errname(r), r,
			d.msg[0] ? d.msg : paso_strerror(r));
		return 1;
	}
	return 0;
}
