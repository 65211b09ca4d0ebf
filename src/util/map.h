/* map.h — small shared containers: a growable vector of indices and a
 * string-keyed hash map (open addressing, FNV-1a, power-of-two capacity)
 * whose values are such vectors, e.g. name -> the cells that write it.
 *
 * Ownership: a sizevec owns its array (sizevec_free); a strmap owns copies
 * of its keys and its values (strmap_free); pointers returned by
 * strmap_get/strmap_put stay valid until the next strmap_put; a nameidx
 * owns its slots, not the names (nameidx_free). */
#ifndef FLOE_MAP_H
#define FLOE_MAP_H

#include <stddef.h>

typedef struct sizevec { size_t *v; size_t n, cap; } sizevec;
void sizevec_push(sizevec *v, size_t x);
void sizevec_free(sizevec *v);

typedef struct strmap_slot { char *key; sizevec val; } strmap_slot;
typedef struct strmap { strmap_slot *slots; size_t cap, used; } strmap;

/* The value of key, or NULL when absent. */
sizevec *strmap_get(const strmap *m, const char *key);
/* The value of key, created empty (the key copied) when absent. */
sizevec *strmap_put(strmap *m, const char *key);
void strmap_free(strmap *m);

/* An index over names someone else owns (their strings must stay put and
 * alive while indexed): name -> a position, without copies or per-key
 * allocations, for the arrays of a cell's exports and a lineage's
 * namespace, which a star import makes hundreds of names long. */
typedef struct nameidx_slot { const char *name; size_t at; } nameidx_slot;
typedef struct nameidx { nameidx_slot *slots; size_t cap, used; } nameidx;

/* Indexes name at position `at`, unless name is indexed already. */
void nameidx_add(nameidx *x, const char *name, size_t at);
/* The position of name, or -1. */
long nameidx_get(const nameidx *x, const char *name);
void nameidx_free(nameidx *x);

#endif
