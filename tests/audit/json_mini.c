/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny recursive-descent JSON reader for the RFC 6962 / checkpoint test-vector files. */
#include "json_mini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jp {
	const char *p, *end;
	int depth;
};

static int parse_value(struct jp *j, struct jv *out);

static void
skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
		j->p++;
}

static void
free_inner(struct jv *v)
{
	size_t i;

	free(v->s);
	for (i = 0; i < v->n; i++) {
		free_inner(&v->items[i]);
		if (v->keys != NULL)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
}

void
json_free(struct jv *v)
{
	if (v == NULL)
		return;
	free_inner(v);
	free(v);
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t
put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int
parse_string(struct jp *j, char **out, size_t *lenp)
{
	char *o;
	size_t n = 0;
	unsigned cp, lo;

	if (j->p >= j->end || *j->p != '"')
		return -1;
	j->p++;
	if ((o = malloc((size_t)(j->end - j->p) + 1)) == NULL)
		return -1;
	while (j->p < j->end && *j->p != '"') {
		if (*j->p != '\\') {
			o[n++] = *j->p++;
			continue;
		}
		if (++j->p >= j->end)
			goto bad;
		switch (*j->p) {
		case '"':
			o[n++] = '"';
			break;
		case '\\':
			o[n++] = '\\';
			break;
		case '/':
			o[n++] = '/';
			break;
		case 'b':
			o[n++] = '\b';
			break;
		case 'f':
			o[n++] = '\f';
			break;
		case 'n':
			o[n++] = '\n';
			break;
		case 'r':
			o[n++] = '\r';
			break;
		case 't':
			o[n++] = '\t';
			break;
		case 'u':
			if (j->end - j->p < 5 || hex4(j->p + 1, &cp) != 0)
				goto bad;
			j->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (j->end - j->p < 7 || j->p[1] != '\\' || j->p[2] != 'u' ||
					hex4(j->p + 3, &lo) != 0)
					goto bad;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				j->p += 6;
			}
			n += put_utf8(o + n, cp);
			break;
		default:
			goto bad;
		}
		j->p++;
	}
	if (j->p >= j->end)
		goto bad;
	j->p++;
	o[n] = '\0';
	*out = o;
	*lenp = n;
	return 0;
bad:
	free(o);
	return -1;
}

static int
parse_container(struct jp *j, struct jv *out, int obj)
{
	char close = obj ? '}' : ']';
	size_t cap = 0;

	out->t = obj ? JV_OBJ : JV_ARR;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 8;
			struct jv *ni = realloc(out->items, cap * sizeof(*ni));
			if (ni == NULL)
				return -1;
			out->items = ni;
			if (obj) {
				char **nk = realloc(out->keys, cap * sizeof(*nk));
				if (nk == NULL)
					return -1;
				out->keys = nk;
			}
		}
		memset(&out->items[out->n], 0, sizeof(out->items[0]));
		if (obj) {
			size_t kl;

			skip_ws(j);
			out->keys[out->n] = NULL;
			if (parse_string(j, &out->keys[out->n], &kl) != 0)
				return -1;
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':') {
				out->n++;
				return -1;
			}
			j->p++;
		}
		out->n++;
		if (parse_value(j, &out->items[out->n - 1]) != 0)
			return -1;
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		return -1;
	}
}

static int parse_scalar(struct jp *j, struct jv *out);

static int
parse_value(struct jp *j, struct jv *out)
{
	int r;

	if (++j->depth > 64)
		return -1;
	r = parse_scalar(j, out);
	j->depth--;
	return r;
}

static int
parse_scalar(struct jp *j, struct jv *out)
{
	const char *s;

	skip_ws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '{':
		return parse_container(j, out, 1);
	case '[':
		return parse_container(j, out, 0);
	case '"':
		out->t = JV_STR;
		return parse_string(j, &out->s, &out->slen);
	case 't':
	case 'f':
	case 'n':
		if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
			out->t = JV_BOOL;
			out->b = 1;
			j->p += 4;
		} else if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
			out->t = JV_BOOL;
			j->p += 5;
		} else if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
			out->t = JV_NULL;
			j->p += 4;
		} else {
			return -1;
		}
		return 0;
	default:
		s = j->p;
		while (j->p < j->end && strchr("+-0123456789.eE", *j->p) != NULL)
			j->p++;
		if (j->p == s || (out->s = malloc((size_t)(j->p - s) + 1)) == NULL)
			return -1;
		memcpy(out->s, s, (size_t)(j->p - s));
		out->s[j->p - s] = '\0';
		out->slen = (size_t)(j->p - s);
		out->t = JV_NUM;
		return 0;
	}
}

struct jv *
json_parse(const char *text, size_t len)
{
	struct jp j = {text, text + len, 0};
	struct jv *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	if (parse_value(&j, v) != 0) {
		json_free(v);
		return NULL;
	}
	skip_ws(&j);
	if (j.p != j.end) {
		json_free(v);
		return NULL;
	}
	return v;
}

struct jv *
json_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct jv *v = NULL;
	char *b = NULL;
	long sz;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
		(b = malloc((size_t)sz + 1)) != NULL && fread(b, 1, (size_t)sz, f) == (size_t)sz)
		v = json_parse(b, (size_t)sz);
	free(b);
	fclose(f);
	return v;
}

const struct jv *
json_get(const struct jv *obj, const char *key)
{
	size_t i;

	if (obj == NULL || obj->t != JV_OBJ)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}

const struct jv *
json_at(const struct jv *arr, size_t i)
{
	if (arr == NULL || arr->t != JV_ARR || i >= arr->n)
		return NULL;
	return &arr->items[i];
}

const char *
json_str(const struct jv *v)
{
	return v != NULL && v->t == JV_STR ? v->s : NULL;
}

uint64_t
json_u64(const struct jv *v)
{
	char *end;
	unsigned long long x;

	if (v == NULL || v->t != JV_NUM || v->s[0] == '-')
		return 0;
	x = strtoull(v->s, &end, 10);
	return *end == '\0' ? (uint64_t)x : 0;
}

int
json_is_true(const struct jv *v)
{
	return v != NULL && v->t == JV_BOOL && v->b;
}
