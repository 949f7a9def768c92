/* SPDX-License-Identifier: Apache-2.0 */
/* A bounded cache of finger templates opened from the store: by entry id, least recently used out. */
#include "fcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "errors.h"

struct fcache_entry {
	uint8_t id[16];
	uint32_t positions; /* what t was built for */
	struct finger_template *t;
	size_t bytes;
	unsigned refs;
	int kept; /* in the table and the LRU list (else wiped at last release) */
	struct fcache_entry *prev, *next; /* LRU: head most recent */
	struct fcache_entry *chain;       /* the table's bucket */
};

struct fcache {
	pthread_mutex_t mu;
	size_t max_bytes, bytes, entries;
	struct fcache_entry **tab; /* nbuckets, a power of two */
	size_t nbuckets;
	struct fcache_entry *head, *tail;
	uint64_t hits, misses;
};

static size_t
bucket(const struct fcache *c, const uint8_t id[16])
{
	uint64_t h;

	/* vault subject ids end in 8 random bytes (the first 8 are a run and a sequence number):
	 * those will do */
	memcpy(&h, id + 8, sizeof(h));
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (size_t)(h >> 32) & (c->nbuckets - 1);
}

int
fcache_new(size_t max_bytes, struct fcache **out)
{
	struct fcache *c;

	*out = NULL;
	if (max_bytes == 0)
		return PASO_E_INVALID_ARG;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return PASO_E_NOMEM;
	c->nbuckets = 1024;
	if ((c->tab = calloc(c->nbuckets, sizeof(*c->tab))) == NULL) {
		free(c);
		return PASO_E_NOMEM;
	}
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

static void
entry_free(struct fcache_entry *e)
{
	finger_template_free(e->t); /* wipes every view */
	sodium_memzero(e, sizeof(*e));
	free(e);
}

/* Takes e out of the table and the list; wiped now unless in use. Call with mu held. */
static void
unkeep(struct fcache *c, struct fcache_entry *e)
{
	struct fcache_entry **pp = &c->tab[bucket(c, e->id)];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = e->chain = NULL;
	e->kept = 0;
	c->bytes -= e->bytes;
	c->entries--;
	if (e->refs == 0)
		entry_free(e);
}

static struct fcache_entry *
find(const struct fcache *c, const uint8_t id[16])
{
	struct fcache_entry *e;

	for (e = c->tab[bucket(c, id)]; e != NULL; e = e->chain)
		if (sodium_memcmp(e->id, id, 16) == 0)
			return e;
	return NULL;
}

static void
to_head(struct fcache *c, struct fcache_entry *e)
{
	if (c->head == e)
		return;
	/* unlinked from where it is (it is not the head, so it has a prev) */
	e->prev->next = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = NULL;
	e->next = c->head;
	c->head->prev = e;
	c->head = e;
}

/* Doubles the table when it holds twice as many entries as buckets (no failure: a full table
 * only makes chains longer). Call with mu held. */
static void
grow(struct fcache *c)
{
	struct fcache_entry **nt, *e, *next;
	size_t i, old = c->nbuckets;

	if (c->entries <= 2 * c->nbuckets || (nt = calloc(2 * old, sizeof(*nt))) == NULL)
		return;
	c->nbuckets = 2 * old;
	for (i = 0; i < old; i++)
		for (e = c->tab[i]; e != NULL; e = next) {
			size_t b = bucket(c, e->id);

			next = e->chain;
			e->chain = nt[b];
			nt[b] = e;
		}
	free(c->tab);
	c->tab = nt;
}

struct fcache_entry *
fcache_get(struct fcache *c, const uint8_t id[16], uint32_t positions)
{
	struct fcache_entry *e;

	pthread_mutex_lock(&c->mu);
	e = find(c, id);
	if (e != NULL && (e->positions & positions) == positions) {
		e->refs++;
		to_head(c, e);
		c->hits++;
	} else {
		e = NULL;
		c->misses++;
	}
	pthread_mutex_unlock(&c->mu);
	return e;
}

struct fcache_entry *
fcache_put(struct fcache *c, const uint8_t id[16], uint32_t positions, struct finger_template *t)
{
	struct fcache_entry *e, *old;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	memcpy(e->id, id, 16);
	e->positions = positions;
	e->t = t;
	e->bytes = finger_template_bytes(t) + sizeof(*e);
	e->refs = 1;
	pthread_mutex_lock(&c->mu);
	if ((old = find(c, id)) != NULL)
		unkeep(c, old);
	if (e->bytes <= c->max_bytes) {
		size_t b = bucket(c, id);

		e->chain = c->tab[b];
		c->tab[b] = e;
		e->next = c->head;
		if (c->head != NULL)
			c->head->prev = e;
		c->head = e;
		if (c->tail == NULL)
			c->tail = e;
		e->kept = 1;
		c->bytes += e->bytes;
		c->entries++;
		while (c->bytes > c->max_bytes)
			unkeep(c, c->tail); /* never e: it alone fits */
		grow(c);
	}
	pthread_mutex_unlock(&c->mu);
	return e;
}

const struct finger_template *
fcache_template(const struct fcache_entry *e)
{
	return e->t;
}

void
fcache_release(struct fcache *c, struct fcache_entry *e)
{
	int gone;

	if (e == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	gone = --e->refs == 0 && !e->kept;
	pthread_mutex_unlock(&c->mu);
	if (gone)
		entry_free(e);
}

void
fcache_evict(struct fcache *c, const uint8_t id[16])
{
	struct fcache_entry *e;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	if ((e = find(c, id)) != NULL)
		unkeep(c, e);
	pthread_mutex_unlock(&c->mu);
}

void
fcache_clear(struct fcache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	while (c->head != NULL)
		unkeep(c, c->head);
	pthread_mutex_unlock(&c->mu);
}

void
fcache_free(struct fcache *c)
{
	if (c == NULL)
		return;
	fcache_clear(c);
	free(c->tab);
	pthread_mutex_destroy(&c->mu);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

void
fcache_stats(struct fcache *c, struct fcache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	out->hits = c->hits;
	out->misses = c->misses;
	out->entries = c->entries;
	out->bytes = c->bytes;
	pthread_mutex_unlock(&c->mu);
}
