/* SPDX-License-Identifier: Apache-2.0 */
/* Submits the hub's checkpoints to tlog-witnesses and checks their cosignatures. */
#include "witclient.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpmini.h"
#include "witness.h"

static int
note_size(const char *note, size_t len, uint64_t *sizep, struct paso_diag *d)
{
	struct checkpoint_note *parsed = NULL;
	struct checkpoint cp;
	int r;

	if ((r = checkpoint_note_parse(note, len, &parsed, d)) == 0 &&
		(r = checkpoint_parse_text(parsed->text, parsed->text_len, &cp, d)) == 0)
		*sizep = cp.size;
	checkpoint_note_free(parsed);
	return r;
}

int
witclient_request(const struct witclient *w, struct auditlog *log, const char *note, size_t len,
	char **bodyp, size_t *blenp, struct paso_diag *d)
{
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_BYTES];
	uint64_t size;
	size_t np = 0;
	int r;

	*bodyp = NULL;
	*blenp = 0;
	if ((r = note_size(note, len, &size, d)) != 0)
		return r;
	if (w->known_size > size)
		return paso_diag_set(d, PASO_E_ROLLBACK,
			"witness %s cosigned %" PRIu64 " entries, this checkpoint has %" PRIu64,
			w->url, w->known_size, size);
	if (w->known_size > 0 && w->known_size < size &&
		(r = auditlog_consistency(
			 log, w->known_size, size, proof, MERKLE_MAX_PROOF, &np)) != 0)
		return paso_diag_set(
			d, r, "cannot build a consistency proof from %" PRIu64, w->known_size);
	return witness_format_request(w->known_size, (const uint8_t(*)[MERKLE_HASH_BYTES])proof, np,
		note, len, bodyp, blenp);
}

static int
parse_size(const char *b, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len < 2 || b[len - 1] != '\n' || len > 21 || (b[0] == '0' && len > 2))
		return -1;
	for (i = 0; i + 1 < len; i++) {
		if (b[i] < '0' || b[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(b[i] - '0');
	}
	*out = v;
	return 0;
}

int
witclient_send(struct witclient *w, const char *note, size_t len, const char *body, size_t blen,
	char **cosigned, uint64_t *retry_size, struct paso_diag *d)
{
	struct httpmini_response resp = {0};
	struct checkpoint_note *parsed = NULL;
	struct httpmini_url u;
	char path[600], *out = NULL;
	uint64_t size = 0;
	int r;

	*cosigned = NULL;
	*retry_size = 0;
	if ((r = httpmini_parse_url(w->url, &u, d)) != 0 ||
		(r = note_size(note, len, &size, d)) != 0)
		return r;
	(void)snprintf(path, sizeof(path), "%sadd-checkpoint", u.prefix);
	if ((r = httpmini_request(&u, "POST", path, "text/plain", (const uint8_t *)body, blen,
		     65536, w->timeout_ms > 0 ? w->timeout_ms : 5000, &resp, d)) != 0)
		return r;
	if (resp.status == 409 && strcmp(resp.content_type, "text/x.tlog.size") == 0 &&
		parse_size((const char *)resp.body, resp.len, retry_size) == 0) {
		r = paso_diag_set(d, PASO_E_EXISTS,
			"witness %s last cosigned %" PRIu64 " entries: ask again from there",
			w->url, *retry_size);
		goto out;
	}
	if (resp.status != 200) {
		r = resp.status == 422 || resp.status == 409 ? PASO_E_SPLIT_VIEW
		    : resp.status == 400                     ? PASO_E_ROLLBACK
							     : PASO_E_IO;
		paso_diag_set(d, r,
			"witness %s refused the checkpoint of %" PRIu64 " entries: HTTP %d: %.200s",
			w->url, size, resp.status, resp.body ? (const char *)resp.body : "");
		goto out;
	}
	/* The answer is signature lines: append them and check the witness's own verifies. */
	if ((out = malloc(len + resp.len + 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	memcpy(out, note, len);
	memcpy(out + len, resp.body, resp.len);
	out[len + resp.len] = '\0';
	if ((r = checkpoint_note_parse(out, len + resp.len, &parsed, d)) != 0 ||
		(r = checkpoint_note_verify(parsed, w->key, NULL, d)) != 0) {
		r = paso_diag_set(d, PASO_E_AUDIT_SIGNATURE,
			"witness %s answered without a valid cosignature by its key", w->url);
		goto out;
	}
	w->known_size = size;
	*cosigned = out;
	out = NULL;
	r = 0;
out:
	free(out);
	free(resp.body);
	checkpoint_note_free(parsed);
	return r;
}

int
witclient_cosign(struct witclient *w, struct auditlog *log, const char *note, size_t len,
	char **cosigned, struct paso_diag *d)
{
	char *body = NULL;
	size_t blen;
	uint64_t retry;
	int r, attempt;

	*cosigned = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		if ((r = witclient_request(w, log, note, len, &body, &blen, d)) != 0)
			return r;
		r = witclient_send(w, note, len, body, blen, cosigned, &retry, d);
		free(body);
		body = NULL;
		if (r != PASO_E_EXISTS || attempt > 0)
			break;
		w->known_size = retry; /* learnt from the 409: once */
	}
	return r;
}
