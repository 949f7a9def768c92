/* SPDX-License-Identifier: Apache-2.0 */
/* The hub's witnesses: requests built on the loop's thread, posted on a worker thread. */
#include "cosign.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "httpmini.h"
#include "witclient.h"

#define COSIGN_FILE_MAX (64u * 1024u)
#define COSIGN_RETRY_S 5.0
#define COSIGN_TIMEOUT_MS 2000

struct wit {
	struct cosign_witness cfg;
	struct checkpoint_verifier *key;
	struct witclient wc;
	/* loop side */
	uint64_t answered; /* size of the checkpoint it last answered, whatever the answer */
	int episode;       /* the PASO_E_ code of the failure episode under way, 0 none */
	double retry_at;   /* a failed ask is repeated after this (monotonic seconds) */
	int rebuild;       /* a 409 taught its size: ask again from there at once */
	/* the job: written by the loop while the worker is idle, answered by the worker */
	int job;
	char *body;
	size_t blen;
	int rc;
	char *cosigned;
	uint64_t retry;
	char diag[400];
};

struct cosign {
	char path[4200];
	int have_file;
	struct stat st; /* of the file last read, to notice a change */
	int bad_reported;
	struct wit *w[COSIGN_MAX_WITNESSES];
	size_t n;
	/* the checkpoint in flight and the cosignature lines gathered for it */
	char *note;
	size_t nlen;
	uint64_t nsize;
	char *lines;
	size_t llen;
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int busy, stop;
};

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > COSIGN_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
			    s[i] == '-'))
			return 0;
	return 1;
}

/* The next space-separated field of line [*p, end): sets *f and its length. */
static size_t
field(const char **p, const char *end, const char **f)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	*f = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	*p = s;
	return (size_t)(s - *f);
}

int
cosign_parse(const char *text, size_t len, const char *label, struct cosign_witness *out,
	size_t cap, size_t *np, struct paso_diag *d)
{
	struct checkpoint_verifier *v = NULL;
	struct httpmini_url u;
	struct paso_diag ud = {0};
	const char *p = text, *end = text + len, *eol, *f[4];
	size_t fl[4], lineno = 0, i, k;
	int r;

	*np = 0;
	while (p < end) {
		lineno++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		for (k = 0; k < 4; k++)
			fl[k] = field(&p, eol, &f[k]);
		p = eol < end ? eol + 1 : end;
		if (fl[0] == 0 || f[0][0] == '#')
			continue;
		for (i = 0; i < (size_t)(eol - f[0]); i++)
			if ((unsigned char)f[0][i] < 0x20 && f[0][i] != '\t')
				return paso_diag_set(d, PASO_E_INVALID_ARG,
					"%s:%zu: control character in the line", label, lineno);
		if (fl[1] == 0 || fl[2] == 0 || fl[3] != 0)
			return paso_diag_set(d, PASO_E_INVALID_ARG,
				"%s:%zu: expected 'NAME URL VKEY': '%.*s'", label, lineno,
				(int)((size_t)(eol - f[0]) > 200 ? 200 : (size_t)(eol - f[0])),
				f[0]);
		if (!name_ok(f[0], fl[0]))
			return paso_diag_set(d, PASO_E_INVALID_ARG,
				"%s:%zu: witness name must be 1..64 of A-Z a-z 0-9 . _ -: '%.*s'",
				label, lineno, (int)(fl[0] > 80 ? 80 : fl[0]), f[0]);
		if (*np == cap)
			return paso_diag_set(d, PASO_E_INVALID_ARG,
				"%s:%zu: more than %zu witnesses", label, lineno, cap);
		if (fl[1] >= sizeof(out->url) || fl[2] >= sizeof(out->vkey))
			return paso_diag_set(d, PASO_E_INVALID_ARG, "%s:%zu: %s too long", label,
				lineno, fl[1] >= sizeof(out->url) ? "URL" : "key");
		memset(&out[*np], 0, sizeof(out[*np]));
		memcpy(out[*np].name, f[0], fl[0]);
		memcpy(out[*np].url, f[1], fl[1]);
		memcpy(out[*np].vkey, f[2], fl[2]);
		for (i = 0; i < *np; i++)
			if (strcmp(out[i].name, out[*np].name) == 0)
				return paso_diag_set(d, PASO_E_INVALID_ARG,
					"%s:%zu: witness '%s' named twice", label, lineno,
					out[i].name);
		if (httpmini_parse_url(out[*np].url, &u, &ud) != 0)
			return paso_diag_set(d, PASO_E_INVALID_ARG,
				"%s:%zu: not an http://HOST:PORT/ URL: '%s'", label, lineno,
				out[*np].url);
		if ((r = checkpoint_verifier_parse(out[*np].vkey, &v, &ud)) != 0)
			return paso_diag_set(
				d, r, "%s:%zu: witness key: %s", label, lineno, ud.msg);
		r = checkpoint_verifier_type(v) == CHECKPOINT_SIG_COSIGNATURE_V1;
		checkpoint_verifier_free(v);
		v = NULL;
		if (!r)
			return paso_diag_set(d, PASO_E_INVALID_ARG,
				"%s:%zu: '%.80s' is not a witness (cosignature/v1) key", label,
				lineno, out[*np].vkey);
		(*np)++;
	}
	return 0;
}

static void
wit_free(struct wit *w)
{
	if (w == NULL)
		return;
	checkpoint_verifier_free(w->key);
	free(w->body);
	free(w->cosigned);
	free(w);
}

static int
wit_new(const struct cosign_witness *cfg, struct wit **out)
{
	struct wit *w;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return PASO_E_NOMEM;
	w->cfg = *cfg;
	if (checkpoint_verifier_from_vkey(cfg->vkey, &w->key) != 0) {
		free(w);
		return PASO_E_CHECKPOINT_FORMAT; /* cosign_parse accepted it: cannot happen */
	}
	(void)snprintf(w->wc.url, sizeof(w->wc.url), "%s", cfg->url);
	w->wc.key = w->key;
	w->wc.timeout_ms = COSIGN_TIMEOUT_MS;
	*out = w;
	return 0;
}

static void
add_event(struct cosign_event *ev, size_t cap, size_t *nev, const char *name, int code, int audit,
	const char *msg)
{
	if (*nev == cap)
		return;
	(void)snprintf(ev[*nev].witness, sizeof(ev[*nev].witness), "%s", name);
	ev[*nev].code = code;
	ev[*nev].audit = audit;
	(void)snprintf(ev[*nev].msg, sizeof(ev[*nev].msg), "%s", msg);
	(*nev)++;
}

/*
 * Reads the witnesses file if it changed since the last read, keeping the state of witnesses
 * whose line is unchanged. Only while the worker is idle. A bad file changes nothing.
 */
static int
reload(struct cosign *c, struct cosign_event *ev, size_t cap, size_t *nev, struct paso_diag *d)
{
	struct cosign_witness cfg[COSIGN_MAX_WITNESSES];
	struct wit *nw[COSIGN_MAX_WITNESSES] = {0};
	struct paso_diag ld = {0};
	struct stat st;
	char *buf = NULL;
	size_t n = 0, i, j, got;
	FILE *f = NULL;
	int r = 0, have = 1;

	if (stat(c->path, &st) != 0) {
		if (errno != ENOENT)
			return 0; /* unreadable for now: keep what is in use */
		have = 0;
	}
	if (have == c->have_file &&
		(!have || (st.st_ino == c->st.st_ino && st.st_size == c->st.st_size &&
				  st.st_mtim.tv_sec == c->st.st_mtim.tv_sec &&
				  st.st_mtim.tv_nsec == c->st.st_mtim.tv_nsec)))
		return 0;
	if (have) {
		if ((buf = malloc(COSIGN_FILE_MAX + 1)) == NULL)
			return PASO_E_NOMEM;
		if ((f = fopen(c->path, "r")) == NULL) {
			free(buf);
			return 0;
		}
		got = fread(buf, 1, COSIGN_FILE_MAX + 1, f);
		fclose(f);
		if (got > COSIGN_FILE_MAX)
			r = paso_diag_set(&ld, PASO_E_INVALID_ARG, "%s: larger than %u bytes",
				c->path, COSIGN_FILE_MAX);
		else
			r = cosign_parse(buf, got, c->path, cfg, COSIGN_MAX_WITNESSES, &n, &ld);
		free(buf);
		if (r != 0) {
			c->st = st; /* reported once per version of the file */
			c->have_file = have;
			if (d != NULL) {
				*d = ld;
				return r;
			}
			add_event(ev, cap, nev, "-", r, 0, ld.msg);
			return 0;
		}
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < c->n; j++)
			if (c->w[j] != NULL && strcmp(c->w[j]->cfg.name, cfg[i].name) == 0 &&
				strcmp(c->w[j]->cfg.url, cfg[i].url) == 0 &&
				strcmp(c->w[j]->cfg.vkey, cfg[i].vkey) == 0)
				break;
		if (j < c->n) {
			nw[i] = c->w[j];
			c->w[j] = NULL;
		} else if ((r = wit_new(&cfg[i], &nw[i])) != 0) {
			for (j = 0; j < i; j++) /* give the kept ones back */
				wit_free(nw[j]);
			return r;
		}
	}
	for (j = 0; j < c->n; j++)
		wit_free(c->w[j]);
	memcpy(c->w, nw, sizeof(nw));
	c->n = n;
	c->st = st;
	c->have_file = have;
	return 0;
}

/* What a witness answered is quoted in logs: printable ASCII only. */
static void
printable(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void *
worker(void *arg)
{
	struct cosign *c = arg;
	struct paso_diag d;
	size_t i;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->busy && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->mu);
		/* While busy the loop touches neither the witnesses nor the note. */
		for (i = 0; i < c->n; i++) {
			struct wit *w = c->w[i];

			if (w == NULL || !w->job)
				continue;
			memset(&d, 0, sizeof(d));
			w->rc = witclient_send(&w->wc, c->note, c->nlen, w->body, w->blen,
				&w->cosigned, &w->retry, &d);
			(void)snprintf(w->diag, sizeof(w->diag), "%.399s",
				d.msg[0] ? d.msg : paso_strerror(w->rc));
			printable(w->diag);
		}
		pthread_mutex_lock(&c->mu);
		c->busy = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int
cosign_open(const char *dir, struct cosign **out, struct paso_diag *d)
{
	struct cosign *c;
	int r;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return PASO_E_NOMEM;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (snprintf(c->path, sizeof(c->path), "%s/witnesses", dir) >= (int)sizeof(c->path)) {
		r = paso_diag_set(d, PASO_E_INVALID_ARG, "%s: path too long", dir);
		goto out;
	}
	if ((r = reload(c, NULL, 0, NULL, d)) != 0)
		goto out;
	if (pthread_create(&c->th, NULL, worker, c) != 0) {
		r = paso_diag_set(d, PASO_E_INTERNAL, "cannot start the witness thread");
		goto out;
	}
	c->started = 1;
	*out = c;
	c = NULL;
	r = 0;
out:
	cosign_close(c);
	return r;
}

void
cosign_close(struct cosign *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->th, NULL);
	}
	for (i = 0; i < c->n; i++)
		wit_free(c->w[i]);
	free(c->note);
	free(c->lines);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

size_t
cosign_count(const struct cosign *c)
{
	return c == NULL ? 0 : c->n;
}

static int
refusal(int code)
{
	return code == PASO_E_SPLIT_VIEW || code == PASO_E_PROOF_INVALID ||
	       code == PASO_E_ROLLBACK || code == PASO_E_AUDIT_SIGNATURE;
}

/* An answer of the worker for the checkpoint in flight. */
static int
collect(struct cosign *c, struct wit *w, double now, int *gotp, struct cosign_event *ev, size_t cap,
	size_t *nev)
{
	char msg[600];
	size_t add;
	char *nl;

	w->job = 0;
	free(w->body);
	w->body = NULL;
	if (w->rc == PASO_E_EXISTS) {
		w->wc.known_size = w->retry;
		w->rebuild = 1;
		return 0;
	}
	w->answered = c->nsize;
	if (w->rc != 0) {
		w->retry_at = now + COSIGN_RETRY_S;
		if (w->episode != w->rc) {
			w->episode = w->rc;
			(void)snprintf(msg, sizeof(msg),
				"witness %s %s checkpoint %" PRIu64 ": %.300s", w->cfg.name,
				refusal(w->rc) ? "refused" : "did not answer for", c->nsize,
				w->diag);
			add_event(ev, cap, nev, w->cfg.name, w->rc, refusal(w->rc), msg);
		}
		return 0;
	}
	if (w->episode != 0) {
		(void)snprintf(msg, sizeof(msg),
			"witness %s cosigns again (checkpoint %" PRIu64 ")", w->cfg.name, c->nsize);
		add_event(ev, cap, nev, w->cfg.name, 0, 0, msg);
		w->episode = 0;
	}
	add = strlen(w->cosigned) - c->nlen;
	if ((nl = realloc(c->lines, c->llen + add + 1)) == NULL) {
		free(w->cosigned);
		w->cosigned = NULL;
		return PASO_E_NOMEM;
	}
	c->lines = nl;
	memcpy(c->lines + c->llen, w->cosigned + c->nlen, add);
	c->llen += add;
	c->lines[c->llen] = '\0';
	free(w->cosigned);
	w->cosigned = NULL;
	*gotp = 1;
	return 0;
}

/* Whether w should be asked for the checkpoint of size now. */
static int
due(const struct wit *w, uint64_t size, double now)
{
	return w->rebuild || w->answered < size || (w->episode != 0 && now >= w->retry_at);
}

int
cosign_step(struct cosign *c, struct auditlog *log, char **notep, size_t *lenp,
	struct cosign_event *ev, size_t cap, size_t *nev)
{
	struct paso_diag d;
	double now = mono_now();
	uint64_t size;
	char *note = NULL, msg[600];
	size_t i, nlen, jobs = 0;
	int busy, got = 0, r = 0;

	*notep = NULL;
	*lenp = 0;
	*nev = 0;
	pthread_mutex_lock(&c->mu);
	busy = c->busy;
	pthread_mutex_unlock(&c->mu);
	if (busy)
		return 0;
	for (i = 0; i < c->n && r == 0; i++)
		if (c->w[i]->job)
			r = collect(c, c->w[i], now, &got, ev, cap, nev);
	if (r != 0)
		return r;
	if (got) {
		if ((note = malloc(c->nlen + c->llen + 1)) == NULL)
			return PASO_E_NOMEM;
		memcpy(note, c->note, c->nlen);
		memcpy(note + c->nlen, c->lines, c->llen);
		note[c->nlen + c->llen] = '\0';
		*notep = note;
		*lenp = c->nlen + c->llen;
	}
	if ((r = reload(c, ev, cap, nev, NULL)) != 0)
		return r;
	if ((size = auditlog_checkpoint_size(log)) == 0)
		return 0;
	for (i = 0; i < c->n; i++)
		if (due(c->w[i], size, now))
			break;
	if (i == c->n)
		return 0;
	if (size != c->nsize) {
		if ((r = auditlog_latest_checkpoint(log, &note, &nlen)) != 0)
			return r;
		free(c->note);
		c->note = note;
		c->nlen = nlen;
		c->nsize = size;
		c->llen = 0;
	}
	for (i = 0; i < c->n; i++) {
		struct wit *w = c->w[i];

		if (!due(w, size, now))
			continue;
		w->rebuild = 0;
		memset(&d, 0, sizeof(d));
		if ((r = witclient_request(
			     &w->wc, log, c->note, c->nlen, &w->body, &w->blen, &d)) != 0) {
			/* e.g. it cosigned a larger tree than this log has: a rollback */
			w->answered = size;
			w->retry_at = now + COSIGN_RETRY_S;
			if (w->episode != r) {
				w->episode = r;
				(void)snprintf(msg, sizeof(msg),
					"witness %s cannot cosign checkpoint %" PRIu64 ": %.300s",
					w->cfg.name, size, d.msg);
				add_event(ev, cap, nev, w->cfg.name, r, refusal(r), msg);
			}
			r = 0;
			continue;
		}
		w->job = 1;
		jobs++;
	}
	if (jobs > 0) {
		pthread_mutex_lock(&c->mu);
		c->busy = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	return 0;
}

int
cosign_idle(const struct cosign *c, struct auditlog *log)
{
	uint64_t size = auditlog_checkpoint_size(log);
	size_t i;
	int busy;

	pthread_mutex_lock((pthread_mutex_t *)&c->mu);
	busy = c->busy;
	pthread_mutex_unlock((pthread_mutex_t *)&c->mu);
	if (busy)
		return 0;
	for (i = 0; i < c->n; i++)
		if (c->w[i]->job || c->w[i]->rebuild || c->w[i]->answered < size)
			return 0;
	return 1;
}
