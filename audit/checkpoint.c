/* SPDX-License-Identifier: Apache-2.0 */
/* C2SP signed notes, checkpoints and cosignatures: key texts, parsing, signing and verification. */
#include "be.h"
#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#define NAME_MAX_BYTES 255
#define EM_DASH "\xe2\x80\x94"
#define SKEY_PREFIX "PRIVATE+KEY+"
#define COSIG_HEADER "cosignature/v1\ntime "

struct checkpoint_signer {
	char name[NAME_MAX_BYTES + 1];
	uint8_t type;
	uint32_t keyid;
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t *sk; /* crypto_sign_SECRETKEYBYTES in sodium_malloc, read-only after setup */
};

struct checkpoint_verifier {
	char name[NAME_MAX_BYTES + 1];
	uint8_t type;
	uint32_t keyid;
	uint8_t pk[crypto_sign_PUBLICKEYBYTES]; /* Ed25519 types */
	EVP_PKEY *pkey;                         /* RFC 6962 type */
};

/* Standard base64 with padding into a new string; NULL on allocation failure. */
static char *
b64_encode(const uint8_t *in, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(cap);

	if (out != NULL)
		sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

/* Strict standard base64 (padding required, no spaces) of exactly inlen characters. */
static int
b64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *lenp)
{
	const char *end = NULL;

	*lenp = 0;
	if (inlen == 0 || inlen % 4 != 0)
		return -1;
	if (sodium_base642bin(
		    out, cap, in, inlen, NULL, lenp, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
		end != in + inlen)
		return -1;
	return 0;
}

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 if invalid; sets *cp. */
static size_t
utf8_seq(const uint8_t *p, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
		(c >= 0xd800 && c <= 0xdfff))
		return 0; /* overlong or surrogate */
	*cp = c;
	return len;
}

static int
is_unicode_space(uint32_t c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

/* A key name: 1..255 bytes of UTF-8, no control characters, no Unicode spaces, no '+'. */
static int
name_valid(const char *name, size_t len)
{
	const uint8_t *p = (const uint8_t *)name;
	size_t i = 0, l;
	uint32_t c;

	if (len == 0 || len > NAME_MAX_BYTES)
		return 0;
	while (i < len) {
		if ((l = utf8_seq(p + i, len - i, &c)) == 0)
			return 0;
		if (c < 0x20 || c == 0x7f || c == '+' || is_unicode_space(c))
			return 0;
		i += l;
	}
	return 1;
}

static uint32_t
key_id(const char *name, uint8_t type, const uint8_t *key, size_t keylen)
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES], nl = '\n';

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
	crypto_hash_sha256_update(&st, &nl, 1);
	crypto_hash_sha256_update(&st, &type, 1);
	crypto_hash_sha256_update(&st, key, keylen);
	crypto_hash_sha256_final(&st, h);
	return be32_get(h);
}

/* Copies s without one trailing "\n" (or "\r\n") into a new string. */
static char *
dup_trimmed(const char *s)
{
	size_t n = strlen(s);
	char *out;

	if (n > 0 && s[n - 1] == '\n')
		n--;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

/* Splits "name+hhhhhhhh+rest": sets *namelen, *keyid, *rest. 0 or -1. */
static int
split_key_text(const char *s, size_t *namelen, uint32_t *keyid, const char **rest)
{
	const char *plus = strchr(s, '+'), *end;
	unsigned long v;
	size_t i;

	if (plus == NULL)
		return -1;
	*namelen = (size_t)(plus - s);
	for (i = 1; i <= 8; i++)
		if (!((plus[i] >= '0' && plus[i] <= '9') || (plus[i] >= 'a' && plus[i] <= 'f') ||
			    (plus[i] >= 'A' && plus[i] <= 'F')))
			return -1;
	if (plus[9] != '+')
		return -1;
	v = strtoul(plus + 1, (char **)&end, 16);
	if (end != plus + 9 || v > UINT32_MAX)
		return -1;
	*keyid = (uint32_t)v;
	*rest = plus + 10;
	return 0;
}

void
checkpoint_text_free(char *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}

static int
keygen(const char *name, uint8_t type, char **skey_text, char **vkey_text)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], raw[1 + crypto_sign_SEEDBYTES];
	uint8_t *sk = NULL;
	uint8_t vraw[1 + crypto_sign_PUBLICKEYBYTES];
	char *b64s = NULL, *b64v = NULL, *st = NULL, *vt = NULL;
	size_t slen, vlen;
	uint32_t id;
	int r = PASO_E_NOMEM;

	*skey_text = NULL;
	*vkey_text = NULL;
	if (!name_valid(name, strlen(name)))
		return PASO_E_INVALID_ARG;
	if ((sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL)
		goto out;
	crypto_sign_keypair(pk, sk);
	raw[0] = type;
	crypto_sign_ed25519_sk_to_seed(raw + 1, sk);
	vraw[0] = type;
	memcpy(vraw + 1, pk, sizeof(pk));
	id = key_id(name, type, pk, sizeof(pk));
	if ((b64s = b64_encode(raw, sizeof(raw))) == NULL ||
		(b64v = b64_encode(vraw, sizeof(vraw))) == NULL)
		goto out;
	slen = strlen(SKEY_PREFIX) + strlen(name) + 10 + strlen(b64s) + 1;
	vlen = strlen(name) + 10 + strlen(b64v) + 1;
	if ((st = malloc(slen)) == NULL || (vt = malloc(vlen)) == NULL)
		goto out;
	if (snprintf(st, slen, SKEY_PREFIX "%s+%08" PRIx32 "+%s", name, id, b64s) !=
			(int)slen - 1 ||
		snprintf(vt, vlen, "%s+%08" PRIx32 "+%s", name, id, b64v) != (int)vlen - 1) {
		r = PASO_E_INTERNAL;
		goto out;
	}
	*skey_text = st;
	*vkey_text = vt;
	st = vt = NULL;
	r = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_free(sk);
	checkpoint_text_free(b64s);
	free(b64v);
	checkpoint_text_free(st);
	free(vt);
	return r;
}

int
checkpoint_keygen(const char *name, char **skey_text, char **vkey_text)
{
	return keygen(name, CHECKPOINT_SIG_ED25519, skey_text, vkey_text);
}

int
checkpoint_witness_keygen(const char *name, char **skey_text, char **vkey_text)
{
	return keygen(name, CHECKPOINT_SIG_COSIGNATURE_V1, skey_text, vkey_text);
}

int
checkpoint_signer_from_text(const char *skey_text, struct checkpoint_signer **out)
{
	struct checkpoint_signer *s = NULL;
	uint8_t raw[1 + crypto_sign_SEEDBYTES + 1];
	char *t = NULL;
	const char *rest;
	size_t namelen, rawlen = 0;
	uint32_t id;
	int r = PASO_E_CHECKPOINT_FORMAT;

	*out = NULL;
	if ((t = dup_trimmed(skey_text)) == NULL)
		return PASO_E_NOMEM;
	if (strncmp(t, SKEY_PREFIX, strlen(SKEY_PREFIX)) != 0 ||
		split_key_text(t + strlen(SKEY_PREFIX), &namelen, &id, &rest) != 0 ||
		!name_valid(t + strlen(SKEY_PREFIX), namelen) ||
		b64_decode(rest, strlen(rest), raw, sizeof(raw), &rawlen) != 0 ||
		rawlen != 1 + crypto_sign_SEEDBYTES ||
		(raw[0] != CHECKPOINT_SIG_ED25519 && raw[0] != CHECKPOINT_SIG_COSIGNATURE_V1))
		goto out;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
		(s->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	memcpy(s->name, t + strlen(SKEY_PREFIX), namelen);
	s->name[namelen] = '\0';
	s->type = raw[0];
	crypto_sign_seed_keypair(s->pk, s->sk, raw + 1);
	(void)sodium_mprotect_readonly(s->sk);
	s->keyid = key_id(s->name, s->type, s->pk, sizeof(s->pk));
	if (s->keyid != id)
		goto out; /* the text's key id does not belong to this key */
	*out = s;
	s = NULL;
	r = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	checkpoint_text_free(t);
	checkpoint_signer_free(s);
	return r;
}

void
checkpoint_signer_free(struct checkpoint_signer *s)
{
	if (s == NULL)
		return;
	sodium_free(s->sk); /* sodium_free wipes */
	sodium_memzero(s, sizeof(*s));
	free(s);
}

const char *
checkpoint_signer_name(const struct checkpoint_signer *s)
{
	return s->name;
}

uint32_t
checkpoint_signer_keyid(const struct checkpoint_signer *s)
{
	return s->keyid;
}

int
checkpoint_signer_vkey(const struct checkpoint_signer *s, char **vkey_text)
{
	uint8_t vraw[1 + crypto_sign_PUBLICKEYBYTES];
	char *b64 = NULL, *vt = NULL;
	size_t vlen;
	int r = PASO_E_NOMEM;

	*vkey_text = NULL;
	vraw[0] = s->type;
	memcpy(vraw + 1, s->pk, sizeof(s->pk));
	if ((b64 = b64_encode(vraw, sizeof(vraw))) == NULL)
		goto out;
	vlen = strlen(s->name) + 10 + strlen(b64) + 1;
	if ((vt = malloc(vlen)) == NULL)
		goto out;
	(void)snprintf(vt, vlen, "%s+%08" PRIx32 "+%s", s->name, s->keyid, b64);
	*vkey_text = vt;
	vt = NULL;
	r = 0;
out:
	free(b64);
	free(vt);
	return r;
}

int
checkpoint_verifier_parse(const char *vkey, struct checkpoint_verifier **out, struct paso_diag *d)
{
	struct checkpoint_verifier *v = NULL;
	uint8_t *raw = NULL, logid[crypto_hash_sha256_BYTES];
	const uint8_t *der;
	char *t = NULL;
	const char *rest;
	size_t namelen, rawlen = 0, cap;
	uint32_t id, want;
	int r = PASO_E_CHECKPOINT_FORMAT;

	*out = NULL;
	if ((t = dup_trimmed(vkey)) == NULL)
		return PASO_E_NOMEM;
	if (strncmp(t, SKEY_PREFIX, strlen(SKEY_PREFIX)) == 0) {
		paso_diag_set(d, r, "this is a private key, not a verifier key (vkey)");
		goto out;
	}
	if (split_key_text(t, &namelen, &id, &rest) != 0 || !name_valid(t, namelen)) {
		paso_diag_set(d, r, "verifier key is not of the form name+keyid+base64key");
		goto out;
	}
	cap = strlen(rest);
	if ((raw = malloc(cap + 1)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	if (b64_decode(rest, strlen(rest), raw, cap, &rawlen) != 0 || rawlen < 2) {
		paso_diag_set(d, r, "verifier key: key material is not valid base64");
		goto out;
	}
	if ((v = calloc(1, sizeof(*v))) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	memcpy(v->name, t, namelen);
	v->name[namelen] = '\0';
	v->type = raw[0];
	v->keyid = id;
	switch (v->type) {
	case CHECKPOINT_SIG_ED25519:
	case CHECKPOINT_SIG_COSIGNATURE_V1:
		if (rawlen != 1 + crypto_sign_PUBLICKEYBYTES) {
			paso_diag_set(d, r,
				"verifier key %s: Ed25519 key of %zu bytes, expected 32", v->name,
				rawlen - 1);
			goto out;
		}
		memcpy(v->pk, raw + 1, crypto_sign_PUBLICKEYBYTES);
		want = key_id(v->name, v->type, v->pk, sizeof(v->pk));
		break;
	case CHECKPOINT_SIG_RFC6962_STH:
		der = raw + 1;
		if ((v->pkey = d2i_PUBKEY(NULL, &der, (long)(rawlen - 1))) == NULL ||
			der != raw + rawlen) {
			paso_diag_set(
				d, r, "verifier key %s: not a DER SubjectPublicKeyInfo", v->name);
			goto out;
		}
		crypto_hash_sha256(logid, raw + 1, rawlen - 1);
		want = key_id(v->name, v->type, logid, sizeof(logid));
		break;
	default:
		paso_diag_set(d, r, "verifier key %s: unsupported signature type 0x%02x", v->name,
			v->type);
		goto out;
	}
	if (want != id) {
		paso_diag_set(d, r,
			"verifier key %s: key id %08" PRIx32 " does not match the key (%08" PRIx32
			")",
			v->name, id, want);
		goto out;
	}
	*out = v;
	v = NULL;
	r = 0;
out:
	free(t);
	free(raw);
	checkpoint_verifier_free(v);
	return r;
}

int
checkpoint_verifier_from_vkey(const char *vkey, struct checkpoint_verifier **out)
{
	return checkpoint_verifier_parse(vkey, out, NULL);
}

void
checkpoint_verifier_free(struct checkpoint_verifier *v)
{
	if (v == NULL)
		return;
	EVP_PKEY_free(v->pkey);
	free(v);
}

const char *
checkpoint_verifier_name(const struct checkpoint_verifier *v)
{
	return v->name;
}

uint32_t
checkpoint_verifier_keyid(const struct checkpoint_verifier *v)
{
	return v->keyid;
}

uint8_t
checkpoint_verifier_type(const struct checkpoint_verifier *v)
{
	return v->type;
}

void
checkpoint_note_free(struct checkpoint_note *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nsigs; i++) {
		free(n->sigs[i].name);
		free(n->sigs[i].sig);
	}
	free(n->sigs);
	free(n->text);
	free(n);
}

/* Parses one signature line [p, p+len) (without its newline) into sig. */
static int
parse_sig_line(
	const char *p, size_t len, struct checkpoint_sig *sig, size_t lineno, struct paso_diag *d)
{
	const size_t dash = strlen(EM_DASH " ");
	const char *sp;
	uint8_t *raw = NULL;
	size_t namelen, b64len, rawlen = 0;

	if (len < dash || memcmp(p, EM_DASH " ", dash) != 0)
		return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
			"note line %zu: signature line does not start with an em dash and a space",
			lineno);
	p += dash;
	len -= dash;
	if ((sp = memchr(p, ' ', len)) == NULL)
		return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
			"note line %zu: signature line has no space between key name and signature",
			lineno);
	namelen = (size_t)(sp - p);
	b64len = len - namelen - 1;
	if (!name_valid(p, namelen))
		return paso_diag_set(
			d, PASO_E_CHECKPOINT_FORMAT, "note line %zu: invalid key name", lineno);
	if ((raw = malloc(b64len + 1)) == NULL)
		return PASO_E_NOMEM;
	if (b64_decode(sp + 1, b64len, raw, b64len, &rawlen) != 0 || rawlen < 5) {
		free(raw);
		return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
			"note line %zu: signature is not base64 of a key id and a signature",
			lineno);
	}
	if ((sig->name = malloc(namelen + 1)) == NULL) {
		free(raw);
		return PASO_E_NOMEM;
	}
	memcpy(sig->name, p, namelen);
	sig->name[namelen] = '\0';
	sig->keyid = be32_get(raw);
	memmove(raw, raw + 4, rawlen - 4);
	sig->sig = raw;
	sig->sig_len = rawlen - 4;
	return 0;
}

int
checkpoint_note_parse(
	const char *buf, size_t len, struct checkpoint_note **out, struct paso_diag *d)
{
	struct checkpoint_note *n = NULL;
	const uint8_t *p = (const uint8_t *)buf;
	size_t i, l, sep = 0, lineno = 1, start, nlines = 0;
	uint32_t c;
	int found = 0, r = PASO_E_CHECKPOINT_FORMAT;

	*out = NULL;
	if (len == 0 || len > CHECKPOINT_MAX_NOTE) {
		paso_diag_set(d, r, "note of %zu bytes: empty or longer than %u", len,
			CHECKPOINT_MAX_NOTE);
		goto out;
	}
	for (i = 0; i < len; i += l) {
		if ((l = utf8_seq(p + i, len - i, &c)) == 0) {
			paso_diag_set(d, r, "note line %zu: invalid UTF-8", lineno);
			goto out;
		}
		if (c == '\n') {
			lineno++;
			if (i + 1 < len && p[i + 1] == '\n') {
				sep = i;
				found = 1;
			}
		} else if (c < 0x20 || c == 0x7f) {
			paso_diag_set(
				d, r, "note line %zu: control character 0x%02" PRIx32, lineno, c);
			goto out;
		}
	}
	if (p[len - 1] != '\n') {
		paso_diag_set(d, r, "note does not end with a newline");
		goto out;
	}
	if (!found || sep + 2 >= len) {
		paso_diag_set(d, r, "note has no signature lines after a blank line");
		goto out;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL || (n->text = malloc(sep + 2)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	memcpy(n->text, buf, sep + 1);
	n->text[sep + 1] = '\0';
	n->text_len = sep + 1;
	for (i = 0; i < sep + 1; i++)
		if (p[i] == '\n')
			nlines++;
	for (i = sep + 2; i < len; i++)
		if (p[i] == '\n')
			n->nsigs++;
	if (n->nsigs > CHECKPOINT_MAX_SIGS) {
		paso_diag_set(d, r, "note has %zu signatures, more than %d", n->nsigs,
			CHECKPOINT_MAX_SIGS);
		n->nsigs = 0;
		goto out;
	}
	if ((n->sigs = calloc(n->nsigs, sizeof(*n->sigs))) == NULL) {
		n->nsigs = 0;
		r = PASO_E_NOMEM;
		goto out;
	}
	start = sep + 2;
	lineno = nlines + 2;
	for (i = 0; i < n->nsigs; i++) {
		const char *nl = memchr(buf + start, '\n', len - start);

		if ((r = parse_sig_line(buf + start, (size_t)(nl - (buf + start)), &n->sigs[i],
			     lineno, d)) != 0)
			goto out;
		start = (size_t)(nl - buf) + 1;
		lineno++;
	}
	*out = n;
	n = NULL;
	r = 0;
out:
	checkpoint_note_free(n);
	return r;
}

static int
parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return 0;
}

int
checkpoint_parse_text(const char *text, size_t len, struct checkpoint *cp, struct paso_diag *d)
{
	const char *line = text, *nl;
	uint8_t root[MERKLE_HASH_BYTES + 1];
	size_t ll, rl = 0, lineno = 0;

	memset(cp, 0, sizeof(*cp));
	if (len == 0 || text[len - 1] != '\n')
		return paso_diag_set(
			d, PASO_E_CHECKPOINT_FORMAT, "checkpoint text does not end with a newline");
	while (line < text + len) {
		nl = memchr(line, '\n', (size_t)(text + len - line));
		ll = (size_t)(nl - line);
		lineno++;
		if (ll == 0)
			return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
				"checkpoint line %zu is empty", lineno);
		if (lineno == 1) {
			if (ll >= sizeof(cp->origin) || memchr(line, '\0', ll) != NULL)
				return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
					"checkpoint origin longer than %zu bytes",
					sizeof(cp->origin) - 1);
			memcpy(cp->origin, line, ll);
			cp->origin[ll] = '\0';
		} else if (lineno == 2) {
			if (parse_u64(line, ll, &cp->size) != 0)
				return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
					"checkpoint line 2: tree size '%.*s' is not a decimal "
					"number without leading zeros",
					(int)(ll > 40 ? 40 : ll), line);
		} else if (lineno == 3) {
			if (b64_decode(line, ll, root, sizeof(root), &rl) != 0 ||
				rl != MERKLE_HASH_BYTES)
				return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
					"checkpoint line 3: root hash is not the base64 of 32 "
					"bytes");
			memcpy(cp->root, root, MERKLE_HASH_BYTES);
		} else {
			cp->n_extensions++;
		}
		line = nl + 1;
	}
	if (lineno < 3)
		return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
			"checkpoint text has %zu lines, needs origin, size and root hash", lineno);
	return 0;
}

int
checkpoint_format_text(
	const char *origin, uint64_t size, const uint8_t root[MERKLE_HASH_BYTES], char **textp)
{
	char b64[sodium_base64_ENCODED_LEN(MERKLE_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	size_t olen = strlen(origin), cap;
	char *t;

	*textp = NULL;
	if (olen == 0 || olen > NAME_MAX_BYTES || strchr(origin, '\n') != NULL)
		return PASO_E_INVALID_ARG;
	sodium_bin2base64(
		b64, sizeof(b64), root, MERKLE_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
	cap = olen + 1 + 21 + 1 + strlen(b64) + 2;
	if ((t = malloc(cap)) == NULL)
		return PASO_E_NOMEM;
	(void)snprintf(t, cap, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
	*textp = t;
	return 0;
}

/* Appends "— name base64(raw)\n" to head (hlen bytes) into a new string. */
static int
append_sig_line(const char *head, size_t hlen, const char *name, const uint8_t *raw, size_t rawlen,
	char **outp)
{
	char *b64 = NULL, *o;
	size_t cap;
	int n;

	*outp = NULL;
	if ((b64 = b64_encode(raw, rawlen)) == NULL)
		return PASO_E_NOMEM;
	cap = hlen + strlen(EM_DASH " ") + strlen(name) + 1 + strlen(b64) + 2;
	if ((o = malloc(cap)) == NULL) {
		free(b64);
		return PASO_E_NOMEM;
	}
	memcpy(o, head, hlen);
	n = snprintf(o + hlen, cap - hlen, EM_DASH " %s %s\n", name, b64);
	free(b64);
	if (n < 0 || (size_t)n >= cap - hlen) {
		free(o);
		return PASO_E_INTERNAL;
	}
	*outp = o;
	return 0;
}

int
checkpoint_note_sign(const struct checkpoint_signer *s, const char *text, size_t len, char **notep)
{
	uint8_t raw[4 + crypto_sign_BYTES];
	char *head = NULL;
	int r;

	*notep = NULL;
	if (s->type != CHECKPOINT_SIG_ED25519 || len == 0 || text[len - 1] != '\n')
		return PASO_E_INVALID_ARG;
	be32_put(raw, s->keyid);
	crypto_sign_detached(raw + 4, NULL, (const uint8_t *)text, len, s->sk);
	if ((head = malloc(len + 1)) == NULL)
		return PASO_E_NOMEM;
	memcpy(head, text, len);
	head[len] = '\n'; /* the blank line before the signatures */
	r = append_sig_line(head, len + 1, s->name, raw, sizeof(raw), notep);
	free(head);
	return r;
}

int
checkpoint_sign(const struct checkpoint_signer *s, uint64_t size,
	const uint8_t root[MERKLE_HASH_BYTES], char **notep)
{
	char *text = NULL;
	int r;

	*notep = NULL;
	if ((r = checkpoint_format_text(s->name, size, root, &text)) != 0)
		return r;
	r = checkpoint_note_sign(s, text, strlen(text), notep);
	free(text);
	return r;
}

/* "cosignature/v1\ntime T\n" || text, the message a cosignature/v1 signs. */
static uint8_t *
cosig_message(const char *text, size_t text_len, uint64_t ts, size_t *lenp)
{
	char head[64];
	uint8_t *m;
	int hl;

	hl = snprintf(head, sizeof(head), COSIG_HEADER "%" PRIu64 "\n", ts);
	if (hl < 0 || (size_t)hl >= sizeof(head) || (m = malloc((size_t)hl + text_len)) == NULL)
		return NULL;
	memcpy(m, head, (size_t)hl);
	memcpy(m + hl, text, text_len);
	*lenp = (size_t)hl + text_len;
	return m;
}

/* RFC 6962 TreeHeadSignature in a note signature (c2sp.org/static-ct-api). */
static int
verify_sth(const struct checkpoint_note *n, const struct checkpoint_sig *sig,
	const struct checkpoint_verifier *v, uint64_t *ts, struct paso_diag *d)
{
	struct checkpoint cp;
	EVP_MD_CTX *ctx = NULL;
	uint8_t msg[2 + 8 + 8 + MERKLE_HASH_BYTES];
	size_t dlen;
	int r;

	if ((r = checkpoint_parse_text(n->text, n->text_len, &cp, d)) != 0)
		return r;
	/* The TreeHeadSignature covers neither the origin nor extension lines: pin both. */
	if (strcmp(cp.origin, v->name) != 0 || cp.n_extensions != 0)
		return paso_diag_set(d, PASO_E_AUDIT_SIGNATURE,
			"TreeHeadSignature of %s on a checkpoint of origin '%s' or with extension "
			"lines",
			v->name, cp.origin);
	/* timestamp(8) || hash alg(1) || sig alg(1) || length(2) || DER signature */
	if (sig->sig_len < 12)
		return paso_diag_set(
			d, PASO_E_CHECKPOINT_FORMAT, "TreeHeadSignature of %s too short", v->name);
	dlen = ((size_t)sig->sig[10] << 8) | sig->sig[11];
	if (sig->sig[8] != 4 || sig->sig[9] != 3 || 12 + dlen != sig->sig_len)
		return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
			"TreeHeadSignature of %s: not ECDSA with SHA-256 or bad length", v->name);
	*ts = be64_get(sig->sig);
	msg[0] = 0; /* v1 */
	msg[1] = 1; /* tree_hash */
	memcpy(msg + 2, sig->sig, 8);
	be64_put(msg + 10, cp.size);
	memcpy(msg + 18, cp.root, MERKLE_HASH_BYTES);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return PASO_E_NOMEM;
	r = 0;
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, v->pkey) != 1 ||
		EVP_DigestVerify(ctx, sig->sig + 12, dlen, msg, sizeof(msg)) != 1)
		r = PASO_E_AUDIT_SIGNATURE;
	EVP_MD_CTX_free(ctx);
	return r;
}

int
checkpoint_note_verify(const struct checkpoint_note *n, const struct checkpoint_verifier *v,
	uint64_t *timestamp, struct paso_diag *d)
{
	char others[384];
	uint8_t *msg = NULL;
	size_t i, mlen, used = 0;
	uint64_t ts = 0;
	int found = 0, r = 0, k;

	if (timestamp != NULL)
		*timestamp = 0;
	others[0] = '\0';
	for (i = 0; i < n->nsigs; i++) {
		const struct checkpoint_sig *sig = &n->sigs[i];

		if (strcmp(sig->name, v->name) != 0 || sig->keyid != v->keyid) {
			/* Unknown keys are ignored, but named in the diagnostic. */
			k = snprintf(others + used, sizeof(others) - used, "%s%s+%08" PRIx32,
				used ? ", " : "", sig->name, sig->keyid);
			if (k > 0 && (size_t)k < sizeof(others) - used)
				used += (size_t)k;
			continue;
		}
		switch (v->type) {
		case CHECKPOINT_SIG_ED25519:
			if (sig->sig_len != crypto_sign_BYTES)
				return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
					"signature by %s+%08" PRIx32 " has %zu bytes, expected 64",
					v->name, v->keyid, sig->sig_len);
			if (crypto_sign_verify_detached(
				    sig->sig, (const uint8_t *)n->text, n->text_len, v->pk) != 0)
				r = PASO_E_AUDIT_SIGNATURE;
			break;
		case CHECKPOINT_SIG_COSIGNATURE_V1:
			if (sig->sig_len != 8 + crypto_sign_BYTES)
				return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
					"cosignature by %s+%08" PRIx32
					" has %zu bytes, expected 72",
					v->name, v->keyid, sig->sig_len);
			ts = be64_get(sig->sig);
			if (ts >> 63)
				return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
					"cosignature by %s: timestamp exceeds 2^63-1", v->name);
			if ((msg = cosig_message(n->text, n->text_len, ts, &mlen)) == NULL)
				return PASO_E_NOMEM;
			if (crypto_sign_verify_detached(sig->sig + 8, msg, mlen, v->pk) != 0)
				r = PASO_E_AUDIT_SIGNATURE;
			free(msg);
			msg = NULL;
			break;
		case CHECKPOINT_SIG_RFC6962_STH:
			if ((r = verify_sth(n, sig, v, &ts, d)) != 0 && r != PASO_E_AUDIT_SIGNATURE)
				return r;
			break;
		default:
			return paso_diag_set(d, PASO_E_CHECKPOINT_FORMAT,
				"unsupported signature type 0x%02x", v->type);
		}
		if (r != 0)
			return paso_diag_set(d, r,
				"signature by %s+%08" PRIx32
				" does not verify: note altered or forged",
				v->name, v->keyid);
		found = 1;
	}
	if (!found)
		return paso_diag_set(d, PASO_E_AUDIT_SIGNATURE,
			"no signature by key %s+%08" PRIx32 " (signed by: %s)", v->name, v->keyid,
			used ? others : "nobody");
	if (timestamp != NULL)
		*timestamp = ts;
	return 0;
}

int
checkpoint_open(const char *note, size_t len, const struct checkpoint_verifier *v,
	struct checkpoint *cp, struct paso_diag *d)
{
	struct checkpoint_note *n = NULL;
	int r;

	memset(cp, 0, sizeof(*cp));
	if ((r = checkpoint_note_parse(note, len, &n, d)) != 0)
		goto out;
	if ((r = checkpoint_note_verify(n, v, NULL, d)) != 0)
		goto out;
	r = checkpoint_parse_text(n->text, n->text_len, cp, d);
out:
	checkpoint_note_free(n);
	return r;
}

int
checkpoint_cosign(const struct checkpoint_signer *w, const char *note, size_t len,
	uint64_t timestamp, char **outp, struct paso_diag *d)
{
	struct checkpoint_note *n = NULL;
	struct checkpoint cp;
	uint8_t raw[4 + 8 + crypto_sign_BYTES], *msg = NULL;
	size_t mlen;
	int r;

	*outp = NULL;
	if (w->type != CHECKPOINT_SIG_COSIGNATURE_V1 || (timestamp >> 63) != 0)
		return paso_diag_set(
			d, PASO_E_INVALID_ARG, "not a witness key, or timestamp out of range");
	if ((r = checkpoint_note_parse(note, len, &n, d)) != 0)
		goto out;
	if ((r = checkpoint_parse_text(n->text, n->text_len, &cp, d)) != 0)
		goto out;
	if ((msg = cosig_message(n->text, n->text_len, timestamp, &mlen)) == NULL) {
		r = PASO_E_NOMEM;
		goto out;
	}
	be32_put(raw, w->keyid);
	be64_put(raw + 4, timestamp);
	crypto_sign_detached(raw + 12, NULL, msg, mlen, w->sk);
	r = append_sig_line(note, len, w->name, raw, sizeof(raw), outp);
out:
	free(msg);
	checkpoint_note_free(n);
	return r;
}
