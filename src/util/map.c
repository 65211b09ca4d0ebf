/* map.c — the vector and the hash map of map.h. */
#include "util/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void sizevec_push(sizevec *v, size_t x) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        v->v = xrealloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->n++] = x;
}

void sizevec_free(sizevec *v) {
    free(v->v);
    memset(v, 0, sizeof *v);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The slot of key: its own, or the empty one where it would go. */
static strmap_slot *find(const strmap *m, const char *key) {
    for (size_t i = (size_t)fnv1a(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        strmap_slot *s = &m->slots[i];
        if (!s->key || !strcmp(s->key, key)) return s;
    }
}

sizevec *strmap_get(const strmap *m, const char *key) {
    if (!m->cap) return NULL;
    strmap_slot *s = find(m, key);
    return s->key ? &s->val : NULL;
}

static void grow(strmap *m) {
    strmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key) *find(m, old.slots[i].key) = old.slots[i];
    free(old.slots);
}

sizevec *strmap_put(strmap *m, const char *key) {
    if ((m->used + 1) * 2 > m->cap) grow(m);
    strmap_slot *s = find(m, key);
    if (!s->key) {
        s->key = xstrdup(key);
        m->used++;
    }
    return &s->val;
}

void strmap_free(strmap *m) {
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        sizevec_free(&m->slots[i].val);
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static nameidx_slot *name_slot(const nameidx *x, const char *name) {
    for (size_t i = (size_t)fnv1a(name) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
        nameidx_slot *s = &x->slots[i];
        if (!s->name || !strcmp(s->name, name)) return s;
    }
}

void nameidx_add(nameidx *x, const char *name, size_t at) {
    if ((x->used + 1) * 2 > x->cap) {
        nameidx old = *x;
        x->cap = old.cap ? old.cap * 2 : 64;
        x->slots = xcalloc(x->cap, sizeof *x->slots);
        for (size_t i = 0; i < old.cap; i++)
            if (old.slots[i].name) *name_slot(x, old.slots[i].name) = old.slots[i];
        free(old.slots);
    }
    nameidx_slot *s = name_slot(x, name);
    if (s->name) return;
    s->name = name;
    s->at = at;
    x->used++;
}

long nameidx_get(const nameidx *x, const char *name) {
    if (!x->cap) return -1;
    const nameidx_slot *s = name_slot(x, name);
    return s->name ? (long)s->at : -1;
}

void nameidx_free(nameidx *x) {
    free(x->slots);
    memset(x, 0, sizeof *x);
}
