/* SPDX-License-Identifier: Apache-2.0 */
/* The tlog-witness add-checkpoint decision, its persistent state and its HTTP endpoint. */
#include "witness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "durable.h"

#define MAX_LOGS 16
#define JOURNAL_COMPACT (1u << 20) /* rewrite a journal holding more than this many bytes */
#define B64_32 45                  /* base64 of 32 bytes with padding, plus NUL */

struct witness_log {
	struct checkpoint_verifier *v;
	int loaded;
	int jfd;                  /* the journal, open for appending once loaded */
	uint64_t jsize;           /* its length */
	struct checkpoint latest; /* the latest cosigned checkpoint (size 0: none) */
};

struct witness {
	char *dir;
	struct checkpoint_signer *signer;
	char *vkey;
	struct witness_log logs[MAX_LOGS];
	size_t nlogs;
	witness_observer obs;
	void *obs_ctx;
	pthread_mutex_t mu;
};

static int
write_durable(const char *dir, const char *name, const char *data, size_t len, mode_t mode)
{
	char path[4200];
	struct paso_diag d = {0};

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return PASO_E_INVALID_ARG;
	return durable_write(path, data, len, (int)mode, DURABLE_REPLACE, &d);
}

static int
read_file(const char *dir, const char *name, size_t max, char **outp, size_t *lenp)
{
	char path[4200];
	struct stat st;
	char *b;
	ssize_t g;
	int fd;

	*outp = NULL;
	*lenp = 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return PASO_E_INVALID_ARG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? PASO_E_NOT_FOUND : PASO_E_IO;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size > max ||
		(b = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return PASO_E_IO;
	}
	g = read(fd, b, (size_t)st.st_size);
	close(fd);
	if (g != st.st_size) {
		free(b);
		return PASO_E_IO;
	}
	b[g] = '\0';
	*outp = b;
	*lenp = (size_t)g;
	return 0;
}

int
witness_open(const char *statedir, const char *name, struct witness **out, struct paso_diag *d)
{
	struct witness *w = NULL;
	char *skey = NULL, *vkey = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->dir = strdup(statedir)) == NULL) {
		free(w);
		return PASO_E_NOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	if (mkdir(statedir, 0700) != 0 && errno != EEXIST) {
		r = paso_diag_set(d, PASO_E_IO, "%s: cannot create: %s", statedir, strerror(errno));
		goto out;
	}
	r = read_file(statedir, "witness.key", 4096, &skey, &len);
	if (r == PASO_E_NOT_FOUND) {
		if ((r = checkpoint_witness_keygen(name, &skey, &vkey)) != 0) {
			r = paso_diag_set(d, r, "witness name '%s' is not a valid key name", name);
			goto out;
		}
		if ((r = write_durable(statedir, "witness.key", skey, strlen(skey), 0600)) != 0 ||
			(r = write_durable(statedir, "witness.vkey", vkey, strlen(vkey), 0644)) !=
				0) {
			r = paso_diag_set(d, r, "%s: cannot write the witness key", statedir);
			goto out;
		}
	} else if (r != 0) {
		r = paso_diag_set(d, r, "%s/witness.key: unreadable", statedir);
		goto out;
	}
	if ((r = checkpoint_signer_from_text(skey, &w->signer)) != 0) {
		r = paso_diag_set(d, r, "%s/witness.key: not a witness key", statedir);
		goto out;
	}
	if ((r = checkpoint_signer_vkey(w->signer, &w->vkey)) != 0)
		goto out;
	*out = w;
	w = NULL;
	r = 0;
out:
	checkpoint_text_free(skey);
	free(vkey);
	witness_close(w);
	return r;
}

void
witness_close(struct witness *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->nlogs; i++) {
		checkpoint_verifier_free(w->logs[i].v);
		if (w->logs[i].loaded && w->logs[i].jfd >= 0)
			close(w->logs[i].jfd);
	}
	checkpoint_signer_free(w->signer);
	pthread_mutex_destroy(&w->mu);
	free(w->vkey);
	free(w->dir);
	free(w);
}

const char *
witness_vkey(const struct witness *w)
{
	return w->vkey;
}

int
witness_add_log(struct witness *w, const char *vkey, struct paso_diag *d)
{
	struct checkpoint_verifier *v = NULL;
	int r;

	if (w->nlogs == MAX_LOGS)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "at most %d logs", MAX_LOGS);
	if ((r = checkpoint_verifier_parse(vkey, &v, d)) != 0)
		return r;
	if (checkpoint_verifier_type(v) != CHECKPOINT_SIG_ED25519) {
		checkpoint_verifier_free(v);
		return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT, "'%s' is not a log key", vkey);
	}
	pthread_mutex_lock(&w->mu);
	w->logs[w->nlogs++].v = v;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void
witness_set_observer(struct witness *w, witness_observer fn, void *ctx)
{
	pthread_mutex_lock(&w->mu);
	w->obs = fn;
	w->obs_ctx = ctx;
	pthread_mutex_unlock(&w->mu);
}

/* Strict decimal: no sign, no leading zero unless "0", fits in u64. */
static int
parse_dec(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Parses the request head: old size and proof; *note_off is where the checkpoint begins. */
static int
parse_request(const uint8_t *body, size_t len, uint64_t *old, uint8_t (*proof)[MERKLE_HASH_BYTES],
	size_t *np, size_t *note_off, struct paso_diag *d)
{
	const char *b = (const char *)body, *e;
	char line[B64_32 + 4], canon[B64_32];
	size_t p, ll, got;

	*np = 0;
	if (len < 6 || memcmp(b, "old ", 4) != 0 || (e = memchr(b, '\n', len)) == NULL)
		return paso_diag_set(
			d, PASO_E_INVALID_ARG, "request does not start with 'old SIZE'");
	if (parse_dec(b + 4, (size_t)(e - b - 4), old) != 0)
		return paso_diag_set(d, PASO_E_INVALID_ARG, "old size is not a canonical decimal");
	p = (size_t)(e - b) + 1;
	for (;;) {
		if (p >= len || (e = memchr(b + p, '\n', len - p)) == NULL)
			return paso_diag_set(
				d, PASO_E_INVALID_ARG, "no blank line before the checkpoint");
		ll = (size_t)(e - (b + p));
		if (ll == 0) {
			p++;
			break;
		}
		if (*np == WITNESS_MAX_PROOF)
			return paso_diag_set(d, PASO_E_INVALID_ARG, "more than %d proof lines",
				WITNESS_MAX_PROOF);
		if (ll >= sizeof(line))
			return paso_diag_set(
				d, PASO_E_INVALID_ARG, "proof line %zu too long", *np + 1);
		memcpy(line, b + p, ll);
		line[ll] = '\0';
		if (sodium_base642bin(proof[*np], MERKLE_HASH_BYTES, line, ll, NULL, &got, NULL,
			    sodium_base64_VARIANT_ORIGINAL) != 0 ||
			got != MERKLE_HASH_BYTES ||
			strcmp(sodium_bin2base64(canon, sizeof(canon), proof[*np],
				       MERKLE_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL),
				line) != 0)
			return paso_diag_set(d, PASO_E_INVALID_ARG,
				"proof line %zu is not the base64 of 32 bytes", *np + 1);
		(*np)++;
		p += ll + 1;
	}
	*note_off = p;
	return 0;
}

/*
 * The state of one log is a journal, log-KEYID.journal: records of u32 big-endian length ||
 * cosigned note || BLAKE2b-256 of both, appended and fdatasync'd before the cosignature is
 * answered (one flush per request, where write-rename-fsync took three). The last complete
 * record whose digest matches is the state; a torn last record (a crash mid-append) is ignored.
 * A journal that grows past JOURNAL_COMPACT is rewritten with its last record only.
 */
static int
journal_name(const struct checkpoint_verifier *v, const char *ext, char *buf, size_t cap)
{
	return snprintf(buf, cap, "log-%08x.%s", checkpoint_verifier_keyid(v), ext) >= (int)cap
		       ? PASO_E_INTERNAL
		       : 0;
}

static void
record_digest(const uint8_t *rec, size_t len, uint8_t out[32])
{
	crypto_generichash(out, 32, rec, len, NULL, 0);
}

/* Builds one journal record for note (caller frees). */
static uint8_t *
record_make(const char *note, size_t len, size_t *rlenp)
{
	uint8_t *r = malloc(4 + len + 32);

	if (r == NULL)
		return NULL;
	r[0] = (uint8_t)(len >> 24);
	r[1] = (uint8_t)(len >> 16);
	r[2] = (uint8_t)(len >> 8);
	r[3] = (uint8_t)len;
	memcpy(r + 4, note, len);
	record_digest(r, 4 + len, r + 4 + len);
	*rlenp = 4 + len + 32;
	return r;
}

static int
write_fd_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t k;

	while (len > 0) {
		k = write(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return PASO_E_IO;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Replaces the journal by one holding only rec, durably, and reopens it for appending. */
static int
journal_rewrite(struct witness *w, struct witness_log *l, const uint8_t *rec, size_t rlen)
{
	char jn[64], path[4200];
	int r;

	if ((r = journal_name(l->v, "journal", jn, sizeof(jn))) != 0 ||
		(r = write_durable(w->dir, jn, (const char *)rec, rlen, 0600)) != 0)
		return r;
	if (l->jfd >= 0)
		close(l->jfd);
	(void)snprintf(path, sizeof(path), "%s/%s", w->dir, jn);
	if ((l->jfd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
		return PASO_E_IO;
	l->jsize = rlen;
	return 0;
}

/*
 * Reads the journal's records (len bytes): *offp is where the intact records end, latest the
 * checkpoint of the last one (unchanged if none holds one). Pure, for the fuzz target. Returns
 * 0, or PASO_E_AUDIT_SIGNATURE when an intact record holds a checkpoint that does not verify
 * with v (*offp is that record's offset).
 */
static int
journal_scan(const uint8_t *p, size_t len, const struct checkpoint_verifier *v,
	struct checkpoint *latest, size_t *offp, struct paso_diag *d)
{
	uint8_t dig[32];
	size_t off = 0;
	uint32_t k;

	*offp = 0;
	while (len - off >= 4 + 32) {
		k = ((uint32_t)p[off] << 24) | ((uint32_t)p[off + 1] << 16) |
		    ((uint32_t)p[off + 2] << 8) | p[off + 3];
		if (k > CHECKPOINT_MAX_NOTE || len - off - 4 - 32 < k)
			break;
		record_digest(p + off, 4 + k, dig);
		if (sodium_memcmp(dig, p + off + 4 + k, 32) != 0)
			break;
		if (k > 0 && checkpoint_open((const char *)p + off + 4, k, v, latest, d) != 0) {
			*offp = off;
			return PASO_E_AUDIT_SIGNATURE;
		}
		off += 4 + k + 32;
	}
	*offp = off;
	return 0;
}

/* Loads the latest state of log l: its journal, or once the file of `paso-audit witness`. */
static int
journal_load(struct witness *w, struct witness_log *l, struct paso_diag *d)
{
	char jn[64], cn[64], *buf = NULL, *legacy = NULL;
	uint8_t *rec = NULL;
	size_t len, off = 0, nl, rlen;
	int r;

	l->jfd = -1;
	memset(&l->latest, 0, sizeof(l->latest));
	if ((r = journal_name(l->v, "journal", jn, sizeof(jn))) != 0 ||
		(r = journal_name(l->v, "checkpoint", cn, sizeof(cn))) != 0)
		return r;
	r = read_file(w->dir, jn, 64u * 1024u * 1024u, &buf, &len);
	if (r == PASO_E_NOT_FOUND) {
		/* A state left by the one-shot `paso-audit witness`: carried over once. */
		r = read_file(w->dir, cn, CHECKPOINT_MAX_NOTE, &legacy, &nl);
		if (r == 0) {
			if (checkpoint_open(legacy, nl, l->v, &l->latest, d) != 0) {
				free(legacy);
				return paso_diag_set(d, PASO_E_IO,
					"%s/%s: stored state does not verify", w->dir, cn);
			}
			rec = record_make(legacy, nl, &rlen);
			free(legacy);
			if (rec == NULL)
				return PASO_E_NOMEM;
		} else if (r != PASO_E_NOT_FOUND) {
			return paso_diag_set(d, r, "%s/%s: unreadable", w->dir, cn);
		} else if ((rec = record_make("", 0, &rlen)) == NULL) {
			return PASO_E_NOMEM;
		}
		r = journal_rewrite(w, l, rec, rlen);
		free(rec);
		if (r != 0)
			return paso_diag_set(d, r, "%s/%s: cannot create", w->dir, jn);
		l->loaded = 1;
		return 0;
	}
	if (r != 0)
		return paso_diag_set(d, r, "%s/%s: unreadable", w->dir, jn);
	r = journal_scan((const uint8_t *)buf, len, l->v, &l->latest, &off, d);
	free(buf);
	if (r != 0)
		return paso_diag_set(d, PASO_E_IO,
			"%s/%s: a stored checkpoint does not verify (byte %zu)", w->dir, jn, off);
	if (off == 0)
		return paso_diag_set(d, PASO_E_IO, "%s/%s: no intact record", w->dir, jn);
	{
		char path[4200];

		(void)snprintf(path, sizeof(path), "%s/%s", w->dir, jn);
		/* A torn tail is cut so that the next record follows an intact one. */
		if (truncate(path, (off_t)off) != 0 ||
			(l->jfd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
			return paso_diag_set(d, PASO_E_IO, "%s: %s", path, strerror(errno));
	}
	l->jsize = off;
	l->loaded = 1;
	return 0;
}

/* Appends the cosigned note to the journal, durably; updates the cached state. */
static int
journal_append(struct witness *w, struct witness_log *l, const char *note, size_t len,
	const struct checkpoint *cp)
{
	uint8_t *rec;
	size_t rlen;
	int r;

	if ((rec = record_make(note, len, &rlen)) == NULL)
		return PASO_E_NOMEM;
	if (l->jsize + rlen > JOURNAL_COMPACT) {
		r = journal_rewrite(w, l, rec, rlen);
	} else {
		r = write_fd_all(l->jfd, rec, rlen);
		if (r == 0 && fdatasync(l->jfd) != 0)
			r = PASO_E_IO;
		if (r == 0)
			l->jsize += rlen;
	}
	free(rec);
	if (r == 0)
		l->latest = *cp;
	return r;
}

static int
decide(struct witness *w, const uint8_t *body, size_t len, uint64_t now, char **cosigp,
	uint64_t *known_size, struct checkpoint *cp, struct paso_diag *d)
{
	uint8_t proof[WITNESS_MAX_PROOF][MERKLE_HASH_BYTES];
	struct checkpoint_note *note = NULL;
	struct witness_log *l = NULL;
	const struct checkpoint *old;
	const char *nb;
	char *cos = NULL, *line;
	size_t np = 0, off = 0, nlen, i;
	uint64_t old_size = 0, latest;
	int r;

	if ((r = parse_request(body, len, &old_size, proof, &np, &off, d)) != 0)
		goto out;
	nb = (const char *)body + off;
	nlen = len - off;
	if ((r = checkpoint_note_parse(nb, nlen, &note, d)) != 0 ||
		(r = checkpoint_parse_text(note->text, note->text_len, cp, d)) != 0)
		goto out;
	for (i = 0; i < w->nlogs && l == NULL; i++)
		if (strcmp(checkpoint_verifier_name(w->logs[i].v), cp->origin) == 0)
			l = &w->logs[i];
	if (l == NULL) {
		r = paso_diag_set(d, PASO_E_NOT_FOUND, "unknown log '%s'", cp->origin);
		goto out;
	}
	if ((r = checkpoint_note_verify(note, l->v, NULL, d)) != 0)
		goto out;
	if (old_size > cp->size) {
		r = paso_diag_set(d, PASO_E_INVALID_ARG,
			"old size %" PRIu64 " is above the checkpoint's %" PRIu64, old_size,
			cp->size);
		goto out;
	}
	if (!l->loaded && (r = journal_load(w, l, d)) != 0)
		goto out;
	old = &l->latest;
	latest = old->size;
	if (old_size != latest) {
		*known_size = latest;
		r = paso_diag_set(d, PASO_E_EXISTS,
			"old size %" PRIu64 " is not %" PRIu64 ", the size last cosigned", old_size,
			latest);
		goto out;
	}
	if (old_size == 0 && np != 0) {
		r = paso_diag_set(d, PASO_E_PROOF_INVALID, "a proof from size 0 must be empty");
		goto out;
	}
	if (latest > 0 && cp->size == latest) {
		if (sodium_memcmp(cp->root, old->root, MERKLE_HASH_BYTES) != 0) {
			r = paso_diag_set(d, PASO_E_SPLIT_VIEW,
				"split view: size %" PRIu64 " was cosigned with another root",
				latest);
			goto out;
		}
		if (np != 0) {
			r = paso_diag_set(d, PASO_E_PROOF_INVALID,
				"a proof between equal sizes must be empty");
			goto out;
		}
	} else if (latest > 0 && merkle_verify_consistency(latest, cp->size, old->root, cp->root,
					 (const uint8_t(*)[MERKLE_HASH_BYTES])proof, np) != 0) {
		r = paso_diag_set(d, PASO_E_PROOF_INVALID,
			"the proof does not show that size %" PRIu64 " extends size %" PRIu64
			" cosigned before",
			cp->size, latest);
		goto out;
	}
	if ((r = checkpoint_cosign(w->signer, nb, nlen, now, &cos, d)) != 0)
		goto out;
	if (strlen(cos) <= nlen || memcmp(cos, nb, nlen) != 0) {
		r = PASO_E_INTERNAL;
		goto out;
	}
	if ((r = journal_append(w, l, cos, strlen(cos), cp)) != 0) {
		r = paso_diag_set(d, r, "%s: cannot save the state of %s", w->dir, cp->origin);
		goto out;
	}
	if ((line = strdup(cos + nlen)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	*cosigp = line;
	r = 0;
out:
	checkpoint_note_free(note);
	free(cos);
	return r;
}

int
witness_add_checkpoint(struct witness *w, const uint8_t *body, size_t len, uint64_t now,
	char **cosigp, uint64_t *known_size, struct paso_diag *d)
{
	struct checkpoint cp;
	struct paso_diag local = {0};
	int r;

	*cosigp = NULL;
	*known_size = 0;
	if (d == NULL)
		d = &local;
	memset(&cp, 0, sizeof(cp));
	pthread_mutex_lock(&w->mu);
	if (len > WITNESS_MAX_BODY)
		r = paso_diag_set(d, PASO_E_INVALID_ARG, "request of %zu bytes is too large", len);
	else
		r = decide(w, body, len, now, cosigp, known_size, &cp, d);
	if (w->obs != NULL)
		w->obs(w->obs_ctx, cp.origin, cp.size, r, r == 0 ? "cosigned" : d->msg);
	pthread_mutex_unlock(&w->mu);
	return r;
}

int
witness_http_status(int code)
{
	switch (code) {
	case 0:
		return 200;
	case PASO_E_INVALID_ARG:
	case PASO_E_CHECKPOINT_FORMAT:
		return 400;
	case PASO_E_AUDIT_SIGNATURE:
		return 403;
	case PASO_E_NOT_FOUND:
		return 404;
	case PASO_E_EXISTS:
	case PASO_E_SPLIT_VIEW:
		return 409;
	case PASO_E_PROOF_INVALID:
		return 422;
	default:
		return 500;
	}
}

void
witness_http_handler(void *ctx, const char *method, const char *path, const uint8_t *body,
	size_t len, struct httpmini_reply *reply)
{
	struct witness *w = ctx;
	struct paso_diag d = {0};
	size_t pl = strlen(path);
	uint64_t known = 0;
	char *cos = NULL, buf[600];
	int r;

	if (pl < 15 || strcmp(path + pl - 15, "/add-checkpoint") != 0) {
		reply->status = 404;
		reply->content_type = "text/plain; charset=utf-8";
		reply->body = strdup("not found\n");
		reply->len = reply->body ? strlen(reply->body) : 0;
		return;
	}
	if (strcmp(method, "POST") != 0) {
		reply->status = 405;
		reply->content_type = "text/plain; charset=utf-8";
		reply->body = strdup("use POST\n");
		reply->len = reply->body ? strlen(reply->body) : 0;
		return;
	}
	r = witness_add_checkpoint(w, body, len, (uint64_t)time(NULL), &cos, &known, &d);
	reply->status = witness_http_status(r);
	if (r == 0) {
		reply->content_type = "text/plain; charset=utf-8";
		reply->body = cos;
		reply->len = strlen(cos);
		return;
	}
	if (r == PASO_E_EXISTS) {
		reply->content_type = "text/x.tlog.size";
		(void)snprintf(buf, sizeof(buf), "%" PRIu64 "\n", known);
	} else {
		reply->content_type = "text/plain; charset=utf-8";
		(void)snprintf(buf, sizeof(buf), "%s [%s]\n", d.msg, paso_errname(r));
	}
	reply->body = strdup(buf);
	reply->len = reply->body ? strlen(reply->body) : 0;
}

int
witness_format_request(uint64_t old_size, const uint8_t (*proof)[MERKLE_HASH_BYTES], size_t np,
	const char *note, size_t len, char **bodyp, size_t *body_len)
{
	char *b, *p;
	size_t cap, i;
	int k;

	*bodyp = NULL;
	*body_len = 0;
	if (np > WITNESS_MAX_PROOF)
		return PASO_E_INVALID_ARG;
	cap = 32 + np * B64_32 + 1 + len + 1;
	if ((b = malloc(cap)) == NULL)
		return PASO_E_NOMEM;
	k = snprintf(b, cap, "old %" PRIu64 "\n", old_size);
	p = b + k;
	for (i = 0; i < np; i++) {
		sodium_bin2base64(
			p, B64_32, proof[i], MERKLE_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
		p += strlen(p);
		*p++ = '\n';
	}
	*p++ = '\n';
	memcpy(p, note, len);
	p += len;
	*p = '\0';
	*bodyp = b;
	*body_len = (size_t)(p - b);
	return 0;
}
