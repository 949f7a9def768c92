/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny JSON reader for the test-vector files (tests only; trusts its input to be small). */
#ifndef PASO_TEST_JSON_MINI_H
#define PASO_TEST_JSON_MINI_H

#include <stddef.h>
#include <stdint.h>

enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

struct jv {
	enum jv_type t;
	int b;   /* JV_BOOL */
	char *s; /* JV_STR: decoded UTF-8; JV_NUM: the literal text */
	size_t slen;
	size_t n; /* JV_ARR, JV_OBJ: number of items */
	struct jv *items;
	char **keys; /* JV_OBJ */
};

/* Parses a whole file; NULL on any error. Free with json_free. */
struct jv *json_read_file(const char *path);
struct jv *json_parse(const char *text, size_t len);
void json_free(struct jv *v);

/* Lookups: NULL when absent or of another type. */
const struct jv *json_get(const struct jv *obj, const char *key);
const struct jv *json_at(const struct jv *arr, size_t i);
const char *json_str(const struct jv *v); /* NULL unless JV_STR */
uint64_t json_u64(const struct jv *v);    /* 0 unless a non-negative integer */
int json_is_true(const struct jv *v);

#endif
