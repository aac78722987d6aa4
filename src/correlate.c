/* correlate.c - active alerts and incidents.
 *
 * Data:
 * - members[]: one per (fingerprint, incident): the alert's latest
 *   notification (labels and annotations in one block, strings in our own
 *   pool), its entity, times and flap ring. fpmap: fingerprint -> the
 *   newest member of that fingerprint.
 * - incs[]: incident slots. An open incident is indexed by every entity it
 *   holds and every Alertmanager group it got alerts from, per scope tuple:
 *   emap (scope << 32 | entity) and gmap (scope << 32 | group) each lead to
 *   a small list of open incident slots; pmap (scope << 32 | service) lists
 *   the incidents holding a pod of that service, because for topology_hops
 *   a pod sits where its service does. A new alert thus looks at its
 *   topology neighbourhood and its group only: cost is bounded by
 *   QUENCH_MAX_NEIGHBOURS list look-ups, never by the number of incidents.
 *   Closed and merged incidents leave the indexes. Per scope, emap and pmap
 *   are mirrored in a dense array by entity id (dense_sync), which is what
 *   find_candidates reads. Under one more scope id, `across`, which no
 *   alert has, emap and pmap list the open incidents of every scope: what
 *   an alert lacking a scope value asks, since it looks in every scope
 *   that agrees with it.
 * - a min-heap of close deadlines with lazy deletion: an entry is acted on
 *   only if the incident is still open, has no firing alert, and the entry's
 *   deadline is still last_resolved + resolve_quiet.
 *
 * Out of memory: every call that changes C and can fail does all its
 * allocations first - it counts what it will add (struct plan) and makes
 * room for it: capacity in tables, arrays and lists, records, copies -
 * and only then changes anything, so a failure leaves C as it was (see
 * the "reserve first" lines). What may remain is invisible: capacity,
 * strings in the pool, scope tuples and group keys registered, entities
 * and links T learnt, and the pmap entries those links call for
 * (late_services). After the line, calls that would allocate are RESERVED.
 * One allocation remains after it: dense_sync growing a scope's dense
 * array. It cannot fail the call - without room that scope goes back to
 * the hash maps, which stay the record - so OOM there may cost speed,
 * never an answer.
 *
 * Determinism: nothing iterates a hash table to produce output; candidate
 * incidents are ordered by (opened_at, id) and ids are content hashes, so
 * the same input gives the same incidents, ids and order. The hashing of
 * pointers (interned strings) is used for look-up only. */
#include "correlate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

#define NONE UINT32_MAX
/* gmap key under which every open incident of a scope is listed, for
 * alerts the graph cannot relate to anything (see find_candidates). */
#define ANY_GROUP (UINT32_MAX - 1)
/* Capacity a new index list starts with (its buffer is made ahead). */
#define LIST_CAP0 4
/* Spare list buffers kept between calls: a plan may make many (a merge
 * or restore of a big incident) and emptied lists hand theirs back; more
 * than a few would be memory held for nothing. */
#define SPARE_KEEP 64

/* Test builds count what alerts lacking a scope value cost
 * (correlate_cross_work). */
#ifdef QUENCH_UNITTESTS
#define SCOPE_VISIT(c) ((c)->scope_visits++)
#define CROSS_LOOKUP(c) ((c)->cross_lookups++)
#else
#define SCOPE_VISIT(c) ((void)0)
#define CROSS_LOOKUP(c) ((void)0)
#endif

/* A call whose room was reserved before the first change: it cannot fail.
 * If it does, a plan counted low and C is half changed - corrupt - so it
 * stops the process in every build, not only with asserts on (as Redis's
 * serverAssert): going on would silently drop work. */
#define RESERVED(call)                                                        \
    do {                                                                      \
        if ((call) != 0)                                                      \
            reserved_failed(__FILE__, __LINE__, #call);                       \
    } while (0)

/* The one place correlate prints: an invariant broke, there is no caller
 * to return an error to. */
static _Noreturn void reserved_failed(const char *file, int line,
                                      const char *call)
{
    fprintf(stderr, "%s:%d: reserved call failed: %s\n", file, line, call);
    abort();
}

/* ---- small containers --------------------------------------------------- */

/* Make the array at *PP (PP: the address of any object pointer; *CAP
 * elements of ELEM bytes) hold NEED elements, its capacity doubling from
 * FIRST: every array here grows so. New elements are not initialised.
 * 0, or -1 OOM (or a capacity past uint32) with both unchanged. The
 * pointer is copied, not read through a void **, which would alias it. */
static int grow(void *pp, uint32_t *cap, size_t need, size_t elem,
                uint32_t first)
{
    size_t n = *cap ? *cap : first;
    void *p;

    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    if (n > UINT32_MAX || n > SIZE_MAX / elem)
        return -1;
    memcpy(&p, pp, sizeof p);
    p = realloc(p, n * elem);
    if (p == NULL)
        return -1;
    memcpy(pp, &p, sizeof p);
    *cap = (uint32_t)n;
    return 0;
}

struct u32vec {
    uint32_t *v;
    uint32_t n, cap;
};

static int vec_push(struct u32vec *a, uint32_t x)
{
    if (a->n == a->cap && grow(&a->v, &a->cap, (size_t)a->n + 1, sizeof *a->v, 4) < 0)
        return -1;
    a->v[a->n++] = x;
    return 0;
}

/* Room for EXTRA more elements: that many vec_push cannot fail then. */
static int vec_reserve(struct u32vec *a, uint32_t extra)
{
    return grow(&a->v, &a->cap, (size_t)a->n + extra, sizeof *a->v, 4);
}

static int vec_has(const struct u32vec *a, uint32_t x)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (a->v[i] == x)
            return 1;
    return 0;
}

static void vec_remove(struct u32vec *a, uint32_t x)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (a->v[i] == x) {
            memmove(a->v + i, a->v + i + 1, (a->n - i - 1) * sizeof *a->v);
            a->n--;
            return;
        }
}

static void vec_free(struct u32vec *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* uint64 -> uint32 map, linear probing, backward-shift deletion. */
struct u64map {
    uint64_t *keys;
    uint32_t *vals;      /* value + 1; 0 = empty */
    size_t cap, n;       /* cap a power of two or 0 */
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static int64_t map_get(const struct u64map *m, uint64_t key)
{
    if (m->cap == 0)
        return -1;
    for (size_t i = mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->vals[i] == 0)
            return -1;
        if (m->keys[i] == key)
            return (int64_t)m->vals[i] - 1;
    }
}

/* Rehash M into CAP slots (a power of two that holds its keys). */
static int map_rehash(struct u64map *m, size_t cap)
{
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint32_t *vals = calloc(cap, sizeof *vals);

    if (keys == NULL || vals == NULL) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] == 0)
            continue;
        size_t j = mix64(m->keys[i]) & (cap - 1);
        while (vals[j] != 0)
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

/* Room for EXTRA more keys: that many map_put cannot fail then. */
static int map_reserve(struct u64map *m, size_t extra)
{
    size_t cap = m->cap ? m->cap : 64;

    while ((m->n + extra) * 4 > cap * 3)
        cap *= 2;
    return cap == m->cap ? 0 : map_rehash(m, cap);
}

/* Insert or overwrite. 0 or -1 OOM. */
static int map_put(struct u64map *m, uint64_t key, uint32_t val)
{
    size_t i;

    if (map_reserve(m, 1) < 0)
        return -1;
    for (i = mix64(key) & (m->cap - 1); m->vals[i] != 0;
         i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == key) {
            m->vals[i] = val + 1;
            return 0;
        }
    m->keys[i] = key;
    m->vals[i] = val + 1;
    m->n++;
    return 0;
}

static void map_del(struct u64map *m, uint64_t key)
{
    size_t mask = m->cap - 1, i, j;

    if (m->cap == 0)
        return;
    for (i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->vals[i] == 0)
            return;
        if (m->keys[i] == key)
            break;
    }
    /* Backward shift: pull later entries of the run into the hole when
     * their home slot does not lie cyclically in (hole, j]. */
    for (j = (i + 1) & mask; m->vals[j] != 0; j = (j + 1) & mask) {
        size_t home = mix64(m->keys[j]) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->vals[i] = 0;
    m->n--;
}

static void map_free(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- state -------------------------------------------------------------- */

struct member {
    struct alert a;          /* labels + annotations in one block at a.labels */
    int64_t joined_at, changed_at;
    int64_t *ring;           /* last flap_count refire times, lazily made */
    uint32_t incident;       /* NONE when the slot is free */
    int32_t entity;
    uint32_t refires;
    uint32_t pos;            /* index in its incident's members */
    uint16_t ring_n, ring_pos;
    uint8_t flapping;
    uint8_t weak;            /* joined by time and scope alone: its entity
                              * is listed, not indexed (place_member) */
};

struct incident {
    char id[CORRELATE_ID_SIZE];
    uint8_t used;
    enum correlate_state state;
    uint64_t idhash;
    uint32_t merged_into;
    uint32_t scope;
    int64_t opened_at, closed_at, last_activity, last_resolved;
    uint32_t nfiring;
    uint8_t in_scope_list;         /* listed under (scope, ANY_GROUP) */
    struct u32vec members, entities, groups;
    struct u32vec weak;            /* its weak members, in join order */
};

struct deadline {
    int64_t at;
    uint32_t slot;
};

/* One scope's part of emap and pmap as a dense array (see dense_sync). */
struct dense {
    uint32_t *v;             /* v[2 * id] emap's entry, v[2 * id + 1] pmap's */
    uint64_t *any;           /* bit id: either entry is set */
    uint32_t n;              /* ids v and any cover, a multiple of 64 */
    uint8_t off;             /* over the budget: use the hash maps */
};

struct correlate {
    struct topology *t;
    const struct rules *r;
    struct intern *pool;
    int64_t clock;

    struct member *members;
    uint32_t nmembers, members_cap, members_live;
    struct u32vec free_members;
    struct u64map fpmap;

    struct incident *incs;
    uint32_t nincs, incs_cap;
    struct u32vec free_incs;
    struct u64map idmap;

    /* Scope tuples: scopes[id * nscope ..] interned values. */
    const char **scopes;
    uint32_t nscopes, scopes_cap;
    uint32_t across;               /* scope id of every scope at once (an
                                    * index key, never an alert's) */
    struct rules_memo *memo;       /* rule_for answers (alert_for) */
    struct u32vec wild;            /* ids of tuples lacking some value */
    struct u32vec live;            /* ids of scopes with an open incident,
                                    * in no order; room for every scope */
    uint32_t *live_pos;            /* scope id -> its index in live, or
                                    * NONE */
    uint32_t live_pos_cap;
#ifdef QUENCH_UNITTESTS
    uint64_t scope_visits;         /* for alerts lacking a scope value:
                                    * scopes looked at, and */
    uint64_t cross_lookups;        /* index look-ups (correlate_cross_work) */
#endif
    struct u64map scopemap;        /* tuple hash (probed) -> scope id */
    const char **groups;           /* group id -> interned groupKey */
    uint32_t ngroups, groups_cap;
    struct u64map groupmap;        /* groupKey pointer -> group id */

    /* Index lists: emap/gmap values point into lists[]. */
    struct u32vec *lists;
    uint32_t nlists, lists_cap;
    struct u32vec free_lists;
    uint32_t **spare;              /* buffers of LIST_CAP0 for new lists,
                                    * made ahead (lists_reserve) */
    uint32_t nspare, spare_cap;
    struct u64map emap, gmap;
    struct u64map pmap;            /* (scope, service) -> incidents holding a
                                    * pod of it: a pod sits where its
                                    * service does for topology_hops */
    struct dense *dense;           /* per scope id: emap and pmap as
                                    * arrays (see dense_sync) */
    uint32_t dense_cap;            /* entries of dense */
    size_t dense_bytes;            /* bytes all their arrays hold */

    struct deadline *heap;
    uint32_t nheap, heap_cap;
    struct u32vec closed_fifo;     /* closed slots in closing order */
    uint32_t fifo_head;
    struct u32vec merged_slots;    /* merged slots, released by prune */

    /* Scratch, reused per call. */
    uint32_t *nbuf;                /* QUENCH_MAX_NEIGHBOURS */
    uint32_t *stamp;               /* per incident slot */
    uint32_t stamp_cap, stamp_gen;
    struct u32vec cand;
    int cand_weak;                 /* cand came from the isolated fallback */
    uint32_t nbuf_n;               /* neighbours find_candidates left in nbuf */
    struct u32vec guess;           /* weak members the alert replaces
                                    * (find_guesses) */
    struct u32vec d_updated, d_merged, d_closed, d_moved;
    struct correlate_delta delta;  /* view handed out by correlate_delta */

    /* Change log for incremental persistence (correlate_track_changes):
     * alert slots whose dumped record changed or that moved incident. */
    uint8_t track;
    uint8_t changes_lost;          /* a push failed (OOM) since the clear */
    struct u32vec changes;
    struct correlate_move *moves;  /* correlate_moves */
    uint32_t nmoves, moves_cap;

    /* Entity -> list of the open incidents holding a weak member of it
     * (place_member); keys are bare entity ids. */
    struct u64map wmap;
};

/* ---- helpers ------------------------------------------------------------ */

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t make_idhash(const char *const *scope, size_t nscope,
                            uint64_t fp, int64_t starts_at)
{
    uint64_t h = 1469598103934665603ull;
    unsigned char buf[8];

    for (size_t i = 0; i < nscope; i++) {
        h = fnv_bytes(h, scope[i], strlen(scope[i]));
        h = fnv_bytes(h, "\xff", 1);
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(fp >> (8 * i));
    h = fnv_bytes(h, buf, 8);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)starts_at >> (8 * i));
    h = fnv_bytes(h, buf, 8);
    return mix64(h);
}

static void format_id(char out[CORRELATE_ID_SIZE], uint64_t h)
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "inc-", 4);
    for (int i = 0; i < 16; i++)
        out[4 + i] = hex[(h >> (60 - 4 * i)) & 0xf];
    out[20] = '\0';
}

static void delta_reset(struct correlate *c)
{
    c->d_updated.n = c->d_merged.n = c->d_closed.n = c->d_moved.n = 0;
}

static int delta_updated(struct correlate *c, uint32_t slot)
{
    if (vec_has(&c->d_updated, slot))
        return 0;
    return vec_push(&c->d_updated, slot);
}

static struct incident *inc_at(const struct correlate *c, uint32_t slot)
{
    return &c->incs[slot];
}

/* Alert slot M's persisted record changed (or it moved incident). A lost
 * entry is flagged, not ignored: the consumer then rewrites everything,
 * so OOM here costs a big write, never a stale store. */
static void log_change(struct correlate *c, uint32_t m)
{
    if (c->track && vec_push(&c->changes, m) < 0)
        c->changes_lost = 1;
}

/* ---- scope and group ids ------------------------------------------------ */

static uint64_t tuple_hash(const char *const *v, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++)
        h = mix64(h ^ (uint64_t)(uintptr_t)v[i]);
    return h;
}

/* Whether the scope tuple V[0..n) lacks a value for some label (a node
 * alert's namespace): it is "wild", found from the scopes it agrees with
 * (see cross_scope_candidates). */
static int tuple_lacks_value(const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (*v[i] == '\0')
            return 1;
    return 0;
}

/* Id of the scope tuple V[0..nscope), or -1 if it was never seen. */
static int64_t scope_find(const struct correlate *c, const char *const *v)
{
    size_t ns = c->r->scope.n;
    uint64_t h = tuple_hash(v, ns);

    for (;;) {
        int64_t id = map_get(&c->scopemap, h);
        if (id < 0 || ns == 0 ||
            memcmp(&c->scopes[(size_t)id * ns], v, ns * sizeof *v) == 0)
            return id;
        h = mix64(h + 1);
    }
}

/* Id of the scope tuple V[0..nscope), added if new. -1 OOM. */
/* Room for one more scope id: its tuple, and its place in live (which
 * holds each scope at most once, so room for all of them means live_add
 * never fails). 0 or -1 OOM. */
static int scope_room(struct correlate *c)
{
    size_t ns = c->r->scope.n;

    if (grow(&c->scopes, &c->scopes_cap, (size_t)c->nscopes + 1,
             (ns ? ns : 1) * sizeof *c->scopes, 16) < 0 ||
        vec_reserve(&c->live, c->nscopes + 1 - c->live.n) < 0 ||
        grow(&c->live_pos, &c->live_pos_cap, (size_t)c->nscopes + 1,
             sizeof *c->live_pos, 16) < 0)
        return -1;
    return 0;
}

static int64_t scope_id(struct correlate *c, const char *const *v)
{
    size_t ns = c->r->scope.n;
    uint64_t h = tuple_hash(v, ns);

    for (;;) {
        int64_t id = map_get(&c->scopemap, h);
        if (id < 0)
            break;
        if (ns == 0 ||
            memcmp(&c->scopes[(size_t)id * ns], v, ns * sizeof *v) == 0)
            return id;
        h = mix64(h + 1);     /* another tuple has this hash: probe on */
    }
    if (scope_room(c) < 0)
        return -1;
    if (ns > 0)
        memcpy(&c->scopes[(size_t)c->nscopes * ns], v, ns * sizeof *v);
    /* reserve first: a tuple known but not listed as wild would not be
     * found through a node */
    if (tuple_lacks_value(v, ns) && vec_reserve(&c->wild, 1) < 0)
        return -1;
    if (map_put(&c->scopemap, h, c->nscopes) < 0)
        return -1;
    c->live_pos[c->nscopes] = NONE;
    if (tuple_lacks_value(v, ns))
        RESERVED(vec_push(&c->wild, c->nscopes));
    return c->nscopes++;
}

/* The `across` scope id: a tuple no alert can have (its values are not
 * the pool's, and it is not in scopemap), never live, never wild. */
static int scope_across(struct correlate *c)
{
    static const char across_value[] = "*";
    size_t ns = c->r->scope.n;

    if (scope_room(c) < 0)
        return -1;
    for (size_t i = 0; i < ns; i++)
        c->scopes[(size_t)c->nscopes * ns + i] = across_value;
    c->live_pos[c->nscopes] = NONE;
    c->across = c->nscopes++;
    return 0;
}

static const char *const *scope_values(const struct correlate *c, uint32_t id)
{
    return c->r->scope.n ? &c->scopes[(size_t)id * c->r->scope.n] : NULL;
}

/* Whether tuples X and Y agree on every label both have a value for:
 * what an alert lacking the namespace (a node's, a trace-derived one)
 * and the incidents of its namespaced neighbours share (see
 * cross_scope_candidates). */
static int scope_compat(const struct correlate *c, uint32_t x, uint32_t y)
{
    const char *const *a = scope_values(c, x), *const *b = scope_values(c, y);

    for (size_t i = 0; i < c->r->scope.n; i++)
        if (a[i] != b[i] && *a[i] != '\0' && *b[i] != '\0')
            return 0;
    return 1;
}

/* Whether X has a value wherever Y has one (Y is X or less specific). */
static int scope_covers(const struct correlate *c, uint32_t x, uint32_t y)
{
    const char *const *a = scope_values(c, x), *const *b = scope_values(c, y);

    for (size_t i = 0; i < c->r->scope.n; i++)
        if (a[i] != b[i] && *b[i] != '\0')
            return 0;
    return 1;
}

/* Id of the tuple with X's values and, where X has none, Y's. -1 OOM. */
static int64_t scope_meet(struct correlate *c, uint32_t x, uint32_t y)
{
    const char *v[QUENCH_MAX_RULE_LABELS];
    const char *const *a = scope_values(c, x), *const *b = scope_values(c, y);

    for (size_t i = 0; i < c->r->scope.n; i++)
        v[i] = *a[i] != '\0' ? a[i] : b[i];
    return scope_id(c, v);
}

/* Id of the interned group key G, added if new. -1 OOM. */
static int64_t group_id(struct correlate *c, const char *g)
{
    uint64_t key = (uint64_t)(uintptr_t)g;
    int64_t id = map_get(&c->groupmap, key);

    if (id >= 0)
        return id;
    if (grow(&c->groups, &c->groups_cap, (size_t)c->ngroups + 1,
             sizeof *c->groups, 16) < 0)
        return -1;
    c->groups[c->ngroups] = g;
    if (map_put(&c->groupmap, key, c->ngroups) < 0)
        return -1;
    return c->ngroups++;
}

/* ---- dense index arrays ------------------------------------------------- */

/* A new alert looks up emap and pmap for every entity near it (hundreds
 * with topology_hops 2). As hash probes into tables of 10^5..10^6 keys,
 * then a read of the list and of its array, these were most of correlate's
 * time on a 1M-alert replay: two to four cache misses each, hit or not.
 * Entity ids are dense, so per scope an array id -> (emap entry, pmap
 * entry) answers both with one read of a few hundred KB per scope that
 * mostly stays in cache, and the usual list of one incident sits in the
 * entry itself. Most ids near an alert have neither, which a bit per id
 * (a few KB per scope, kept in L1) says first. The maps and lists stay
 * the record (and serve scopes without an array); dense_sync re-derives
 * an entry whenever its list changes. A scope whose array would push the
 * total past QUENCH_MAX_INDEX_DENSE_BYTES, or cannot be grown, goes back
 * to the maps for good: memory stays bounded and the answers are the
 * same. */

/* Entry: 0 no list; DENSE_ONE | slot, the list is that one incident;
 * else list index + 1. Incident slots stay below QUENCH_MAX_INCIDENTS. */
#define DENSE_ONE 0x80000000u

/* Which half of a dense pair M is kept in: 0 emap, 1 pmap, -1 neither. */
static int dense_half(const struct correlate *c, const struct u64map *m)
{
    return m == &c->emap ? 0 : m == &c->pmap ? 1 : -1;
}

static struct dense *dense_of(const struct correlate *c, uint64_t key)
{
    uint32_t scope = (uint32_t)(key >> 32);

    return scope < c->dense_cap ? &c->dense[scope] : NULL;
}

/* Grow c->dense to hold the scope of KEY. 0 or -1 OOM. */
static int dense_reserve(struct correlate *c, uint64_t key)
{
    uint32_t scope = (uint32_t)(key >> 32), was = c->dense_cap;

    if (grow(&c->dense, &c->dense_cap, (size_t)scope + 1, sizeof *c->dense,
             16) < 0)
        return -1;
    memset(c->dense + was, 0, (c->dense_cap - was) * sizeof *c->dense);
    return 0;
}

/* Re-derive KEY's entry of M from list L (-1: the key has none). Needs
 * dense_reserve first. Never fails: without room the scope falls back to
 * the maps. */
static void dense_sync(struct correlate *c, const struct u64map *m, uint64_t key,
                       int64_t l)
{
    struct dense *d = dense_of(c, key);
    int half = dense_half(c, m);
    uint32_t id = (uint32_t)key, e = 0;

    if (d == NULL || d->off || half < 0)
        return;
    if (l >= 0 && c->lists[l].n == 1 && c->lists[l].v[0] < DENSE_ONE)
        e = DENSE_ONE | c->lists[l].v[0];
    else if (l >= 0 && c->lists[l].n > 0 && (uint64_t)l + 1 < DENSE_ONE)
        e = (uint32_t)l + 1;
    else if (l >= 0 && c->lists[l].n > 0)
        goto off;           /* cannot be encoded: use the maps */
    if (id >= d->n) {
        uint32_t n = d->n ? d->n : 1024, *v;
        uint64_t *any;
        size_t grow;
        if (e == 0)
            return;         /* beyond the array is already "none" */
        while (n <= id)
            n *= 2;
        grow = (size_t)(n - d->n) * (2 * sizeof *v + sizeof *any / 64);
        if (c->dense_bytes + grow > QUENCH_MAX_INDEX_DENSE_BYTES)
            goto off;
        v = realloc(d->v, (size_t)n * 2 * sizeof *v);
        if (v == NULL)
            goto off;
        d->v = v;
        any = realloc(d->any, (size_t)n / 64 * sizeof *any);
        if (any == NULL)
            goto off;
        d->any = any;
        memset(v + (size_t)d->n * 2, 0, (size_t)(n - d->n) * 2 * sizeof *v);
        memset(any + d->n / 64, 0, (size_t)(n - d->n) / 64 * sizeof *any);
        c->dense_bytes += grow;
        d->n = n;
    }
    d->v[(size_t)id * 2 + (size_t)half] = e;
    if (d->v[(size_t)id * 2] | d->v[(size_t)id * 2 + 1])
        d->any[id / 64] |= (uint64_t)1 << (id % 64);
    else
        d->any[id / 64] &= ~((uint64_t)1 << (id % 64));
    return;
off:
    c->dense_bytes -= (size_t)d->n * (2 * sizeof *d->v + sizeof *d->any / 64);
    free(d->v);
    free(d->any);
    *d = (struct dense){ NULL, NULL, 0, 1 };
}

static void dense_free(struct dense *d, uint32_t n)
{
    for (uint32_t i = 0; d != NULL && i < n; i++) {
        free(d[i].v);
        free(d[i].any);
    }
    free(d);
}

/* The open incidents under KEY in M: their count, and in *V the slots
 * (borrowed; may point at *ONE). */
static uint32_t index_slots(const struct correlate *c, const struct u64map *m,
                            uint64_t key, uint32_t *one, const uint32_t **v)
{
    const struct dense *d = dense_of(c, key);
    int half = dense_half(c, m);
    uint32_t id = (uint32_t)key, e;
    int64_t l;

    *v = NULL;
    if (half >= 0 && (d == NULL || !d->off)) {
        /* d == NULL: the scope never had a key in either map. */
        e = d != NULL && id < d->n && (d->any[id / 64] >> (id % 64) & 1)
                ? d->v[(size_t)id * 2 + (size_t)half] : 0;
        if (e == 0)
            return 0;
        if (e & DENSE_ONE) {
            *one = e & ~DENSE_ONE;
            *v = one;
            return 1;
        }
        l = (int64_t)e - 1;
    } else if ((l = map_get(m, key)) < 0) {
        return 0;
    }
    *v = c->lists[l].v;
    return c->lists[l].n;
}

/* Whether KEY's list in M holds S; through the dense array where there
 * is one (find_candidates has just read those entries), else the map. */
static int index_holds(const struct correlate *c, const struct u64map *m,
                       uint64_t key, uint32_t s)
{
    const uint32_t *v;
    uint32_t one, n = index_slots(c, m, key, &one, &v);

    for (uint32_t i = 0; i < n; i++)
        if (v[i] == s)
            return 1;
    return 0;
}

/* ---- index lists -------------------------------------------------------- */

static const struct u32vec *index_get(const struct correlate *c,
                                      const struct u64map *m, uint64_t key)
{
    int64_t l = map_get(m, key);
    return l < 0 ? NULL : &c->lists[l];
}

/* Room for K new index lists: entries in lists[] and their buffers, and
 * in free_lists for every list, so that index_remove (which runs where
 * nothing may fail) can always hand an emptied one back. 0 or -1 OOM. */
static int lists_reserve(struct correlate *c, uint32_t k)
{
    uint32_t fresh = k > c->free_lists.n ? k - c->free_lists.n : 0;

    /* free_lists never holds a list twice, so nlists entries suffice */
    if (grow(&c->lists, &c->lists_cap, (size_t)c->nlists + fresh,
             sizeof *c->lists, 64) < 0 ||
        vec_reserve(&c->free_lists, c->nlists + fresh - c->free_lists.n) < 0 ||
        grow(&c->spare, &c->spare_cap, k, sizeof *c->spare, 16) < 0)
        return -1;
    while (c->nspare < k) {
        uint32_t *b = malloc(LIST_CAP0 * sizeof *b);
        if (b == NULL)
            return -1;
        c->spare[c->nspare++] = b;
    }
    return 0;
}

/* Plans count generously (every key of the incidents a merge moves), so
 * after one the spare buffers beyond SPARE_KEEP are given back, and the
 * array that held them shrinks. */
static void spare_trim(struct correlate *c)
{
    uint32_t **sp;

    while (c->nspare > SPARE_KEEP)
        free(c->spare[--c->nspare]);
    if (c->spare_cap <= SPARE_KEEP)
        return;
    /* a shrink that fails keeps the larger array: harmless */
    sp = realloc(c->spare, SPARE_KEEP * sizeof *sp);
    if (sp != NULL) {
        c->spare = sp;
        c->spare_cap = SPARE_KEEP;
    }
}

/* Scopes with open incidents. Every scope ever seen is kept (its id is in
 * the incidents' keys), and a cluster that churns namespaces (one per
 * pull request) sees thousands; an alert lacking a namespace looks in the
 * scopes that have an open incident, so those are listed apart: they come
 * and go with their (scope, ANY_GROUP) list. scope_id made room. */
static void live_add(struct correlate *c, uint32_t scope)
{
    RESERVED(c->live.n < c->live.cap ? 0 : -1);
    c->live_pos[scope] = c->live.n;
    c->live.v[c->live.n++] = scope;
}

static void live_remove(struct correlate *c, uint32_t scope)
{
    uint32_t at = c->live_pos[scope], last = c->live.v[--c->live.n];

    c->live.v[at] = last;
    c->live_pos[last] = at;
    c->live_pos[scope] = NONE;
}

/* Add SLOT to KEY's list in M. 0, or -1 OOM with nothing changed; never
 * fails for a key counted in a plan that plan_reserve made room for. */
static int index_add(struct correlate *c, struct u64map *m, uint64_t key,
                     uint32_t slot)
{
    int64_t l = map_get(m, key);

    if (l < 0) {
        /* a no-op after plan_reserve */
        if (dense_reserve(c, key) < 0 || lists_reserve(c, 1) < 0 ||
            map_reserve(m, 1) < 0)
            return -1;
        l = c->free_lists.n > 0 ? c->free_lists.v[--c->free_lists.n]
                                : c->nlists++;
        c->lists[l] = (struct u32vec){ c->spare[--c->nspare], 0, LIST_CAP0 };
        RESERVED(map_put(m, key, (uint32_t)l));
        if (m == &c->gmap && (uint32_t)key == ANY_GROUP)
            live_add(c, (uint32_t)(key >> 32));
    }
    if (vec_has(&c->lists[l], slot))
        return 0;
    if (vec_push(&c->lists[l], slot) < 0)
        return -1;                     /* an existing list: unchanged */
    dense_sync(c, m, key, l);
    return 0;
}

static void index_remove(struct correlate *c, struct u64map *m, uint64_t key,
                         uint32_t slot)
{
    int64_t l = map_get(m, key);

    if (l < 0)
        return;
    vec_remove(&c->lists[l], slot);
    dense_sync(c, m, key, l);
    if (c->lists[l].n == 0) {
        /* A buffer of the starting size serves the next new list. */
        if (c->lists[l].cap == LIST_CAP0 && c->nspare < c->spare_cap &&
            c->nspare < SPARE_KEEP)
            c->spare[c->nspare++] = c->lists[l].v;
        else
            free(c->lists[l].v);
        c->lists[l] = (struct u32vec){ NULL, 0, 0 };
        map_del(m, key);
        RESERVED(vec_push(&c->free_lists, (uint32_t)l));    /* lists_reserve */
        if (m == &c->gmap && (uint32_t)key == ANY_GROUP)
            live_remove(c, (uint32_t)(key >> 32));
    }
}

static uint64_t ekey(uint32_t scope, uint32_t id)
{
    return ((uint64_t)scope << 32) | id;
}

/* Drop SLOT from every index (it closed or merged). */
static void unindex(struct correlate *c, uint32_t slot)
{
    struct incident *inc = inc_at(c, slot);
    for (uint32_t i = 0; i < inc->entities.n; i++) {
        uint32_t e = inc->entities.v[i];
        index_remove(c, &c->emap, ekey(inc->scope, e), slot);
        index_remove(c, &c->emap, ekey(c->across, e), slot);
        int32_t svc = topology_pod_service(c->t, e);
        if (svc >= 0) {
            index_remove(c, &c->pmap, ekey(inc->scope, (uint32_t)svc), slot);
            index_remove(c, &c->pmap, ekey(c->across, (uint32_t)svc), slot);
        }
    }
    for (uint32_t i = 0; i < inc->groups.n; i++)
        index_remove(c, &c->gmap, ekey(inc->scope, inc->groups.v[i]), slot);
    if (inc->in_scope_list)
        index_remove(c, &c->gmap, ekey(inc->scope, ANY_GROUP), slot);
    inc->in_scope_list = 0;
    for (uint32_t i = 0; i < inc->weak.n; i++)
        index_remove(c, &c->wmap, (uint64_t)c->members[inc->weak.v[i]].entity, slot);
}

/* ---- deadlines ---------------------------------------------------------- */

/* Room for K more deadlines. 0 or -1 OOM. */
static int heap_reserve(struct correlate *c, uint32_t k)
{
    return grow(&c->heap, &c->heap_cap, (size_t)c->nheap + k, sizeof *c->heap,
                64);
}

static int heap_push(struct correlate *c, int64_t at, uint32_t slot)
{
    size_t i;

    if (heap_reserve(c, 1) < 0)
        return -1;
    i = c->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (c->heap[p].at < at || (c->heap[p].at == at && c->heap[p].slot <= slot))
            break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = (struct deadline){ at, slot };
    return 0;
}

static void heap_pop(struct correlate *c)
{
    struct deadline last = c->heap[--c->nheap];
    size_t i = 0, n = c->nheap;

    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const struct deadline *best = &last;
        if (l < n && (c->heap[l].at < best->at ||
                      (c->heap[l].at == best->at && c->heap[l].slot < best->slot))) {
            m = l;
            best = &c->heap[l];
        }
        if (l + 1 < n && (c->heap[l + 1].at < best->at ||
                          (c->heap[l + 1].at == best->at &&
                           c->heap[l + 1].slot < best->slot)))
            m = l + 1;
        if (m == i)
            break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n > 0)
        c->heap[i] = last;
}

static int schedule_close(struct correlate *c, uint32_t slot)
{
    const struct incident *inc = inc_at(c, slot);
    return heap_push(c, inc->last_resolved + c->r->resolve_quiet_ms, slot);
}

/* Close the incidents due at NOW, counting them into *CLOSED. -1 when
 * memory runs out before a close could be recorded (in the delta and the
 * prune fifo): that incident and the later ones stay due. */
static int run_closes(struct correlate *c, int64_t now, size_t *closed)
{
    *closed = 0;
    while (c->nheap > 0 && c->heap[0].at <= now) {
        struct deadline d = c->heap[0];
        struct incident *inc = inc_at(c, d.slot);
        if (!inc->used || inc->state != CORRELATE_OPEN || inc->nfiring != 0 ||
            inc->last_resolved + c->r->resolve_quiet_ms != d.at) {
            heap_pop(c);                   /* stale entry */
            continue;
        }
        /* reserve first: a close missing from the delta would never
         * reach the engine, one missing from the fifo never be pruned */
        if (vec_reserve(&c->closed_fifo, 1) < 0 ||
            vec_reserve(&c->d_closed, 1) < 0)
            return -1;
        heap_pop(c);
        inc->state = CORRELATE_CLOSED;
        inc->closed_at = d.at;
        unindex(c, d.slot);
        RESERVED(vec_push(&c->closed_fifo, d.slot));
        RESERVED(vec_push(&c->d_closed, d.slot));
        (*closed)++;
    }
    return 0;
}

/* ---- lifetime ----------------------------------------------------------- */

int correlate_new(struct correlate **out, struct topology *t,
                  const struct rules *r)
{
    struct correlate *c = calloc(1, sizeof *c);

    *out = NULL;
    if (c == NULL)
        return -1;
    c->t = t;
    c->r = r;
    c->clock = INT64_MIN;
    c->nbuf = malloc(QUENCH_MAX_NEIGHBOURS * sizeof *c->nbuf);
    c->memo = rules_memo_new(r);      /* NULL: only slower */
    if (c->nbuf == NULL || intern_new(&c->pool) < 0 || scope_across(c) < 0) {
        correlate_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* The one block copy_alert made for labels and annotations. */
static struct label *alert_block(const struct alert *a)
{
    return a->labels ? a->labels : a->annotations;
}

static void member_release(struct member *m)
{
    free(alert_block(&m->a));
    free(m->ring);
    memset(m, 0, sizeof *m);
    m->incident = NONE;
}

static void incident_release(struct incident *inc)
{
    vec_free(&inc->members);
    vec_free(&inc->entities);
    vec_free(&inc->groups);
    vec_free(&inc->weak);
    inc->used = 0;
}

void correlate_free(struct correlate *c)
{
    if (c == NULL)
        return;
    for (uint32_t i = 0; i < c->nmembers; i++)
        member_release(&c->members[i]);
    free(c->members);
    vec_free(&c->free_members);
    map_free(&c->fpmap);
    for (uint32_t i = 0; i < c->nincs; i++)
        incident_release(&c->incs[i]);
    free(c->incs);
    vec_free(&c->free_incs);
    map_free(&c->idmap);
    free(c->scopes);
    vec_free(&c->wild);
    rules_memo_free(c->memo);
    vec_free(&c->live);
    free(c->live_pos);
    map_free(&c->scopemap);
    free(c->groups);
    map_free(&c->groupmap);
    for (uint32_t i = 0; i < c->nlists; i++)
        vec_free(&c->lists[i]);
    free(c->lists);
    for (uint32_t i = 0; i < c->nspare; i++)
        free(c->spare[i]);
    free(c->spare);
    vec_free(&c->free_lists);
    map_free(&c->emap);
    map_free(&c->pmap);
    dense_free(c->dense, c->dense_cap);
    map_free(&c->gmap);
    free(c->heap);
    vec_free(&c->closed_fifo);
    vec_free(&c->merged_slots);
    free(c->nbuf);
    free(c->stamp);
    vec_free(&c->cand);
    vec_free(&c->guess);
    vec_free(&c->d_updated);
    vec_free(&c->d_merged);
    vec_free(&c->d_closed);
    vec_free(&c->d_moved);
    vec_free(&c->changes);
    free(c->moves);
    map_free(&c->wmap);
    intern_free(c->pool);
    free(c);
}

struct intern *correlate_pool(struct correlate *c)
{
    return c->pool;
}

const struct correlate_delta *correlate_delta(const struct correlate *c)
{
    /* The view lives in C; the const is shed only to refresh it. */
    struct correlate_delta *d = (struct correlate_delta *)&c->delta;

    d->updated = c->d_updated.v;
    d->nupdated = c->d_updated.n;
    d->merged = c->d_merged.v;
    d->nmerged = c->d_merged.n;
    d->closed = c->d_closed.v;
    d->nclosed = c->d_closed.n;
    d->moved = c->d_moved.v;
    d->nmoved = c->d_moved.n;
    return d;
}

/* ---- members ------------------------------------------------------------ */

/* Copy SRC's labels and annotations into DST with strings re-interned in
 * our pool: one block for both arrays. 0 or -1 OOM. */
static int copy_alert(struct correlate *c, struct alert *dst,
                      const struct alert *src)
{
    size_t n = (size_t)src->nlabels + src->nannotations;
    struct label *block = NULL;

    *dst = *src;
    dst->labels = dst->annotations = NULL;
    if (n > 0) {
        block = malloc(n * sizeof *block);
        if (block == NULL)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct label *l = i < src->nlabels
                                    ? &src->labels[i]
                                    : &src->annotations[i - src->nlabels];
        block[i].name = intern_str(c->pool, l->name, strlen(l->name));
        block[i].value = intern_str(c->pool, l->value, strlen(l->value));
        if (block[i].name == NULL || block[i].value == NULL) {
            free(block);
            return -1;
        }
    }
    dst->labels = src->nlabels ? block : NULL;
    dst->annotations = src->nannotations ? block + src->nlabels : NULL;
    dst->generator_url = intern_str(c->pool, src->generator_url
                                                 ? src->generator_url : "",
                                    src->generator_url
                                        ? strlen(src->generator_url) : 0);
    if (dst->generator_url == NULL) {
        free(block);
        return -1;
    }
    return 0;
}

/* Room for K member_take: 0, -1 OOM or -2 past QUENCH_MAX_ACTIVE_ALERTS.
 * Moves c->members. */
static int member_reserve(struct correlate *c, uint32_t k)
{
    uint32_t fresh = k > c->free_members.n ? k - c->free_members.n : 0;

    if (c->nmembers + fresh > QUENCH_MAX_ACTIVE_ALERTS)
        return -2;
    return grow(&c->members, &c->members_cap, (size_t)c->nmembers + fresh,
                sizeof *c->members, 256);
}

/* A cleared member slot, from the room member_reserve made. */
static uint32_t member_take(struct correlate *c)
{
    uint32_t m = c->free_members.n > 0 ? c->free_members.v[--c->free_members.n]
                                        : c->nmembers++;

    memset(&c->members[m], 0, sizeof c->members[m]);
    c->members[m].incident = NONE;
    c->members_live++;
    return m;
}

static void free_member(struct correlate *c, uint32_t m)
{
    struct member *mb = &c->members[m];
    free(alert_block(&mb->a));
    mb->a.labels = mb->a.annotations = NULL;
    free(mb->ring);
    memset(mb, 0, sizeof *mb);
    mb->incident = NONE;
    c->members_live--;
    (void)vec_push(&c->free_members, m);
}

/* A flap ring (flap_count refire times), or NULL on OOM. */
static int64_t *ring_new(const struct correlate *c)
{
    return malloc(c->r->flap_count * sizeof(int64_t));
}

/* Record a refire of M at NOW; update its flapping mark. M has a ring. */
static void note_refire(struct correlate *c, struct member *m, int64_t now)
{
    unsigned cap = c->r->flap_count;

    m->refires++;
    m->ring[m->ring_pos] = now;
    m->ring_pos = (uint16_t)((m->ring_pos + 1) % cap);
    if (m->ring_n < cap)
        m->ring_n++;
    /* With a full ring the oldest entry is at ring_pos. */
    m->flapping = m->ring_n == cap &&
                  now - m->ring[m->ring_pos] <= c->r->flap_within_ms;
}

/* ---- incidents ---------------------------------------------------------- */

/* Room for one incident_take (the slot and its stamp): 0, -1 OOM or -2
 * past QUENCH_MAX_INCIDENTS. Moves c->incs. */
static int incident_reserve(struct correlate *c)
{
    uint32_t s, was = c->stamp_cap;

    if (c->free_incs.n > 0) {
        s = c->free_incs.v[c->free_incs.n - 1];
    } else {
        if (c->nincs >= QUENCH_MAX_INCIDENTS)
            return -2;
        if (grow(&c->incs, &c->incs_cap, (size_t)c->nincs + 1, sizeof *c->incs,
                 64) < 0)
            return -1;
        s = c->nincs;
    }
    if (grow(&c->stamp, &c->stamp_cap, (size_t)s + 1, sizeof *c->stamp, 64) < 0)
        return -1;
    memset(c->stamp + was, 0, (c->stamp_cap - was) * sizeof *c->stamp);
    return 0;
}

/* The slot incident_reserve made room for, used and with FRESH's lists
 * (FRESH is emptied: the incident owns them now). */
static uint32_t incident_take(struct correlate *c, struct incident *fresh)
{
    uint32_t s = c->free_incs.n > 0 ? c->free_incs.v[--c->free_incs.n]
                                     : c->nincs++;

    memset(&c->incs[s], 0, sizeof c->incs[s]);
    c->incs[s].used = 1;
    c->incs[s].closed_at = CORRELATE_NO_TIME;
    c->incs[s].merged_into = NONE;
    c->incs[s].members = fresh->members;
    c->incs[s].entities = fresh->entities;
    c->incs[s].groups = fresh->groups;
    c->incs[s].weak = fresh->weak;
    memset(fresh, 0, sizeof *fresh);
    return s;
}

/* Give incident SLOT the id derived from H (probing on collision). */
static int assign_id(struct correlate *c, uint32_t slot, uint64_t h)
{
    while (map_get(&c->idmap, h) >= 0)
        h = mix64(h + 1);
    if (map_put(&c->idmap, h, slot) < 0)
        return -1;
    c->incs[slot].idhash = h;
    format_id(c->incs[slot].id, h);
    return 0;
}

/* Whether incident S holds ID in VEC. For an open incident the index
 * answers (its list holds the few open incidents with that key), so a big
 * incident does not make every alert scan its entity list. */
static int incident_has(const struct correlate *c, uint32_t s,
                        const struct u64map *m, const struct u32vec *vec,
                        uint32_t id)
{
    const struct incident *inc = inc_at(c, s);

    if (inc->state == CORRELATE_OPEN)
        return index_holds(c, m, ekey(inc->scope, id), s);
    return vec_has(vec, id);
}

/* Whether open incident S's entity E is indexed (not a weak member's,
 * which is listed but not indexed: see place_member). */
static int indexed(const struct correlate *c, uint32_t s, uint32_t e)
{
    return index_holds(c, &c->emap, ekey(inc_at(c, s)->scope, e), s);
}

/* Whether incident INC holds a weak member of entity X (place_member):
 * its entity listed, not indexed. */
static int weak_holds(const struct correlate *c, const struct incident *inc,
                      uint32_t x)
{
    for (uint32_t i = 0; i < inc->weak.n; i++)
        if (c->members[inc->weak.v[i]].entity == (int32_t)x)
            return 1;
    return 0;
}

/* Add entity E and group G (NONE for none) of a member to incident S.
 * 0, or -1 OOM part-way; never fails for what a plan made room for. */
static int incident_index(struct correlate *c, uint32_t s, int32_t e,
                          uint32_t g)
{
    struct incident *inc = inc_at(c, s);

    if (e >= 0 && !incident_has(c, s, &c->emap, &inc->entities, (uint32_t)e)) {
        /* listed already, unindexed, for a weak member of it */
        if (!(inc->state == CORRELATE_OPEN && weak_holds(c, inc, (uint32_t)e) &&
              vec_has(&inc->entities, (uint32_t)e)) &&
            vec_push(&inc->entities, (uint32_t)e) < 0)
            return -1;
        if (inc->state == CORRELATE_OPEN &&
            (index_add(c, &c->emap, ekey(inc->scope, (uint32_t)e), s) < 0 ||
             index_add(c, &c->emap, ekey(c->across, (uint32_t)e), s) < 0))
            return -1;
        int32_t svc = topology_pod_service(c->t, (uint32_t)e);
        if (svc >= 0 && inc->state == CORRELATE_OPEN &&
            (index_add(c, &c->pmap, ekey(inc->scope, (uint32_t)svc), s) < 0 ||
             index_add(c, &c->pmap, ekey(c->across, (uint32_t)svc), s) < 0))
            return -1;
    }
    if (inc->state == CORRELATE_OPEN && !inc->in_scope_list) {
        if (index_add(c, &c->gmap, ekey(inc->scope, ANY_GROUP), s) < 0)
            return -1;
        inc->in_scope_list = 1;
    }
    if (g != NONE && !incident_has(c, s, &c->gmap, &inc->groups, g)) {
        if (vec_push(&inc->groups, g) < 0)
            return -1;
        if (inc->state == CORRELATE_OPEN &&
            index_add(c, &c->gmap, ekey(inc->scope, g), s) < 0)
            return -1;
    }
    return 0;
}

/* ---- reserving ----------------------------------------------------------- */

/* What one call will add to the indexes, to its incident's lists and to
 * C's vectors, counted before it starts so that plan_reserve can make
 * room for all of it first; then nothing the change does can fail. A
 * count may be high (a key counted twice, a list that is there already),
 * never low. Every vector is reserved once per call, by plan_reserve,
 * with the total: vec_reserve makes room for N more than now, so two
 * reservations on one vector give the larger N, not the sum. */
struct plan {
    uint32_t keys[4];              /* index_add calls: emap, pmap, gmap, wmap */
    uint32_t members, entities, groups, weak;   /* pushes onto the incident's */
    uint32_t merged;               /* incidents merged: d_merged,
                                    * merged_slots */
    uint32_t updated;              /* d_updated pushes */
    uint32_t closed;               /* closed_fifo pushes */
    uint32_t deadlines;            /* heap pushes */
    uint32_t changes;              /* change log entries, if it is on */
};

/* Count an index_add under KEY of M and make room in its list if it has
 * one. A new list is counted in any case: a merge may empty this one
 * before the add. */
static int plan_key(struct correlate *c, struct plan *p,
                    const struct u64map *m, uint64_t key)
{
    const struct dense *d;
    int half = dense_half(c, m);
    uint32_t id = (uint32_t)key;
    int64_t l = -1;

    if (dense_reserve(c, key) < 0)
        return -1;
    d = dense_of(c, key);
    if (half >= 0 && !d->off) {
        /* the entry says which list, in cache; a list of one has room */
        uint32_t e = id < d->n && (d->any[id / 64] >> (id % 64) & 1)
                         ? d->v[(size_t)id * 2 + (size_t)half] : 0;
        if (e != 0 && !(e & DENSE_ONE))
            l = (int64_t)e - 1;
    } else {
        l = map_get(m, key);
    }
    /* One more is enough however often KEY is counted: a call adds one
     * incident to lists (the one it changes), and index_add adds no
     * repeats. */
    if (l >= 0 && vec_reserve(&c->lists[l], 1) < 0)
        return -1;
    p->keys[m == &c->emap ? 0 : m == &c->pmap ? 1 : m == &c->gmap ? 2 : 3]++;
    return 0;
}

/* Count the index entries of entity E (SVC its service if a pod, else
 * -1) under SCOPE: emap and pmap, and the same across scopes. */
static int plan_entity(struct correlate *c, struct plan *p, uint32_t scope,
                       uint32_t e, int32_t svc)
{
    if (plan_key(c, p, &c->emap, ekey(scope, e)) < 0 ||
        plan_key(c, p, &c->emap, ekey(c->across, e)) < 0)
        return -1;
    if (svc >= 0 && (plan_key(c, p, &c->pmap, ekey(scope, (uint32_t)svc)) < 0 ||
                     plan_key(c, p, &c->pmap, ekey(c->across, (uint32_t)svc)) < 0))
        return -1;
    return 0;
}

/* Count what incident_index(S, E, G) adds once open incident S has SCOPE
 * (S NONE: an incident still to open). */
static int plan_index(struct correlate *c, struct plan *p, uint32_t s,
                      uint32_t scope, int32_t e, uint32_t g)
{
    const struct incident *inc = s != NONE ? inc_at(c, s) : NULL;
    /* new, or moving scope: nothing of it is under SCOPE yet */
    int fresh = inc == NULL || inc->scope != scope;

    if (e >= 0 && (fresh || !indexed(c, s, (uint32_t)e))) {
        int32_t svc = topology_pod_service(c->t, (uint32_t)e);
        p->entities++;
        if (plan_entity(c, p, scope, (uint32_t)e, svc) < 0)
            return -1;
    }
    if ((fresh || !inc->in_scope_list) &&
        plan_key(c, p, &c->gmap, ekey(scope, ANY_GROUP)) < 0)
        return -1;
    if (g != NONE && (fresh || !incident_has(c, s, &c->gmap, &inc->groups, g))) {
        p->groups++;
        if (plan_key(c, p, &c->gmap, ekey(scope, g)) < 0)
            return -1;
    }
    return 0;
}

/* Count the index entries of every entity and group of B under SCOPE (B
 * merged into another incident, or moved to SCOPE). */
static int plan_keys_of(struct correlate *c, struct plan *p, uint32_t scope,
                        const struct incident *b)
{
    for (uint32_t i = 0; i < b->entities.n; i++) {
        uint32_t e = b->entities.v[i];
        int32_t svc = topology_pod_service(c->t, e);
        if (plan_entity(c, p, scope, e, svc) < 0)
            return -1;
    }
    for (uint32_t i = 0; i < b->groups.n; i++)
        if (plan_key(c, p, &c->gmap, ekey(scope, b->groups.v[i])) < 0)
            return -1;
    return 0;
}

/* Make room for everything P counts, INC's lists included. 0 or -1. */
static int plan_reserve(struct correlate *c, const struct plan *p,
                        struct incident *inc)
{
    if (map_reserve(&c->emap, p->keys[0]) < 0 ||
        map_reserve(&c->pmap, p->keys[1]) < 0 ||
        map_reserve(&c->gmap, p->keys[2]) < 0 ||
        map_reserve(&c->wmap, p->keys[3]) < 0 ||
        lists_reserve(c, p->keys[0] + p->keys[1] + p->keys[2] + p->keys[3]) < 0 ||
        vec_reserve(&inc->members, p->members) < 0 ||
        vec_reserve(&inc->entities, p->entities) < 0 ||
        vec_reserve(&inc->groups, p->groups) < 0 ||
        vec_reserve(&inc->weak, p->weak) < 0 ||
        vec_reserve(&c->d_merged, p->merged) < 0 ||
        vec_reserve(&c->merged_slots, p->merged) < 0 ||
        vec_reserve(&c->d_updated, p->updated) < 0 ||
        vec_reserve(&c->closed_fifo, p->closed) < 0 ||
        heap_reserve(c, p->deadlines) < 0 ||
        (c->track && vec_reserve(&c->changes, p->changes) < 0))
        return -1;
    return 0;
}

/* Move everything of incident FROM into INTO; FROM becomes merged. WEAK
 * is scratch for FROM's entities. Cannot fail: place_reserve made room. */
static void merge(struct correlate *c, uint32_t into, uint32_t from,
                  uint8_t *weak)
{
    struct incident *a = inc_at(c, into), *b = inc_at(c, from);

    /* a weak member's entity stays unindexed in INTO too, and is found
     * there by find_guesses */
    for (uint32_t i = 0; i < b->entities.n; i++)
        weak[i] = !indexed(c, from, b->entities.v[i]);
    for (uint32_t i = 0; i < b->weak.n; i++) {
        RESERVED(vec_push(&a->weak, b->weak.v[i]));
        RESERVED(index_add(c, &c->wmap,
                           (uint64_t)c->members[b->weak.v[i]].entity, into));
    }
    unindex(c, from);
    for (uint32_t i = 0; i < b->members.n; i++) {
        RESERVED(vec_push(&a->members, b->members.v[i]));
        c->members[b->members.v[i]].incident = into;
        c->members[b->members.v[i]].pos = a->members.n - 1;
        log_change(c, b->members.v[i]);
    }
    for (uint32_t i = 0; i < b->entities.n; i++) {
        uint32_t e = b->entities.v[i];
        if (!weak[i])
            RESERVED(incident_index(c, into, (int32_t)e, NONE));
        else if (!vec_has(&a->entities, e))
            RESERVED(vec_push(&a->entities, e));
    }
    for (uint32_t i = 0; i < b->groups.n; i++)
        RESERVED(incident_index(c, into, -1, b->groups.v[i]));
    a->nfiring += b->nfiring;
    if (b->last_activity > a->last_activity)
        a->last_activity = b->last_activity;
    if (b->last_resolved > a->last_resolved)
        a->last_resolved = b->last_resolved;
    if (b->opened_at < a->opened_at)
        a->opened_at = b->opened_at;
    b->state = CORRELATE_MERGED;
    b->merged_into = into;
    b->nfiring = 0;
    vec_free(&b->members);
    vec_free(&b->entities);
    vec_free(&b->groups);
    vec_free(&b->weak);
    RESERVED(vec_push(&c->merged_slots, from));
    RESERVED(vec_push(&c->d_merged, from));
}

/* Insertion sort of V by LESS: the sets sorted here (candidates,
 * guesses) are a few entries. */
static void sort_small(const struct correlate *c, struct u32vec *v,
                       int (*less)(const struct correlate *, uint32_t, uint32_t))
{
    for (uint32_t i = 1; i < v->n; i++) {
        uint32_t x = v->v[i], j = i;
        while (j > 0 && less(c, x, v->v[j - 1])) {
            v->v[j] = v->v[j - 1];
            j--;
        }
        v->v[j] = x;
    }
}

static int cand_cmp_ctx_less(const struct correlate *c, uint32_t x, uint32_t y)
{
    const struct incident *a = inc_at(c, x), *b = inc_at(c, y);
    if (a->opened_at != b->opened_at)
        return a->opened_at < b->opened_at;
    return strcmp(a->id, b->id) < 0;
}

/* Where ENTITY sits for topology_hops: a pod counts as its service, so a
 * pod of cart and a pod of its cache (pod-cart-cache-pod) are as near as
 * cart and the cache are, and pod-level alerts group like service-level
 * ones. The service's pods are one hop from it, so the pod itself is in
 * reach. */
static uint32_t graph_position(const struct topology *t, int32_t entity)
{
    int32_t svc = topology_pod_service(t, (uint32_t)entity);

    return svc >= 0 ? (uint32_t)svc : (uint32_t)entity;
}

static int isolated(const struct topology *t, int32_t entity)
{
    const uint32_t *ids;

    return topology_out(t, (uint32_t)entity, &ids) == 0 &&
           topology_in(t, (uint32_t)entity, &ids) == 0;
}

/* Add to c->cand the open incidents of V (N slots) not stamped GEN yet
 * and within the window at NOW. 0 or -1 OOM (c->cand is scratch). */
static int add_candidates(struct correlate *c, const uint32_t *v, uint32_t n,
                          int64_t now, uint32_t gen)
{
    if (n > 0 && vec_reserve(&c->cand, n) < 0)
        return -1;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t s = v[j];
        if (c->stamp[s] == gen)
            continue;
        c->stamp[s] = gen;
        if (now - inc_at(c, s)->last_activity > c->r->window_ms)
            continue;
        c->cand.v[c->cand.n++] = s;
    }
    return 0;
}

/* Whether the scope of incident S agrees with VALS (a value or NULL per
 * scope label) and, with FILL, adds its values to them. */
static int agrees(const struct correlate *c, uint32_t s, const char **vals,
                  int fill)
{
    const char *const *a = scope_values(c, inc_at(c, s)->scope);

    for (size_t i = 0; i < c->r->scope.n; i++)
        if (*a[i] != '\0' && vals[i] != NULL && vals[i] != a[i])
            return 0;
    for (size_t i = 0; fill && i < c->r->scope.n; i++)
        if (*a[i] != '\0')
            vals[i] = a[i];
    return 1;
}

/* Whether incident S holds POS (the alert's graph position) or, POS being
 * a service, one of its pods. */
static int holds(const struct correlate *c, uint32_t s, uint32_t pos)
{
    uint64_t key = ekey(inc_at(c, s)->scope, pos);

    for (int m = 0; m < 2; m++) {
        const uint32_t *v;
        uint32_t one, nv = index_slots(c, m ? &c->pmap : &c->emap, key, &one, &v);
        for (uint32_t i = 0; i < nv; i++)
            if (v[i] == s)
                return 1;
    }
    return 0;
}

/* Whether an open incident of a scope that disagrees with SCOPE holds POS:
 * the other way round of keep_unambiguous. An incident of alerts lacking
 * the namespace is taken in by a `prod` alert about its entity only if
 * that entity alerts in no other namespace (`staging`), since then those
 * alerts may be staging's. Only asked when such an incident is a
 * candidate: two look-ups under `across`. */
static int elsewhere(const struct correlate *c, uint32_t scope, uint32_t pos)
{
    /* the open incidents of any scope holding POS (or, POS being a
     * service, one of its pods) */
    for (int m = 0; m < 2; m++) {
        const uint32_t *v;
        uint32_t one, nv = index_slots(c, m ? &c->pmap : &c->emap,
                                       ekey(c->across, pos), &one, &v);
        for (uint32_t j = 0; j < nv; j++) {
            uint32_t s2 = inc_at(c, v[j])->scope;
            if (s2 != scope && !scope_compat(c, scope, s2))
                return 1;
        }
    }
    return 0;
}

/* Whether tuple Y lacks a value that tuple X has. */
static int lacks_some(const struct correlate *c, uint32_t x, uint32_t y)
{
    const char *const *a = scope_values(c, x), *const *b = scope_values(c, y);

    for (size_t i = 0; i < c->r->scope.n; i++)
        if (*a[i] != '\0' && *b[i] == '\0')
            return 1;
    return 0;
}

/* Of the cross-scope candidates CAND[FIRST..), drop those whose scope
 * lacks a value SCOPE has (an incident of alerts without the namespace)
 * when POS alerts in a namespace that disagrees with SCOPE: those alerts
 * may be that namespace's (elsewhere). */
static void drop_unowned(struct correlate *c, uint32_t first, uint32_t scope,
                         uint32_t pos)
{
    uint32_t k = first;
    int asked = 0, other = 0;

    for (uint32_t i = first; i < c->cand.n; i++) {
        uint32_t s = c->cand.v[i];
        if (lacks_some(c, scope, inc_at(c, s)->scope)) {
            if (!asked) {
                other = elsewhere(c, scope, pos);
                asked = 1;
            }
            if (other)
                continue;
        }
        c->cand.v[k++] = s;
    }
    c->cand.n = k;
}

/* Which namespace an alert lacking one is about is a guess unless its
 * entity says: the incidents holding the entity itself (POS) decide, and
 * of the cross-scope candidates CAND[FIRST..) only those agreeing with
 * them stay. When those disagree (`checkout` in `staging` and in
 * `prod`), or the entity is in none and its neighbours' disagree, none
 * stays: the alert keeps to its own scope. Joint agreement is checked
 * against the values the incidents add up to: linear, no pairs. (A node
 * is cluster-wide and never comes here: it hosts pods of several
 * namespaces and joins the oldest, place_member keeping what agrees.) */
static void keep_unambiguous(struct correlate *c, uint32_t first, uint32_t pos)
{
    const char *vals[QUENCH_MAX_RULE_LABELS] = { NULL };
    int own = 0;
    uint32_t k = first;

    for (uint32_t i = first; i < c->cand.n; i++) {
        if (!holds(c, c->cand.v[i], pos))
            continue;
        own = 1;
        if (!agrees(c, c->cand.v[i], vals, 1)) {
            c->cand.n = first;
            return;
        }
    }
    for (uint32_t i = first; i < c->cand.n; i++) {
        if (!agrees(c, c->cand.v[i], vals, !own)) {
            if (!own) {
                c->cand.n = first;
                return;
            }
            continue;
        }
        c->cand.v[k++] = c->cand.v[i];
    }
    c->cand.n = k;
}

/* A missing scope value is no value. A node alert lacks the namespace
 * its pods' alerts carry (nodes are cluster-wide), and some alert sources
 * send none at all (trace-derived alerts often do not): with `namespace`
 * in scope they would never join the incidents of their entities. So a
 * scope label one side lacks does not separate. An alert whose scope
 * lacks a value looks for its neighbourhood's incidents in every scope it
 * agrees with; any alert looks for its neighbourhood's incidents in the
 * scopes less specific than its own (an alert lacking the value came
 * first and opened one). NBUF[0..N) is the alert's neighbourhood from
 * find_candidates; place_member keeps only candidates whose scopes agree,
 * so two namespaces still never share an incident. 0 or -1 OOM. */
static int cross_scope_candidates(struct correlate *c, uint32_t scope,
                                   int32_t entity, int n, int64_t now,
                                   uint32_t gen)
{
    const char *const *own = scope_values(c, scope);
    const char *tup[QUENCH_MAX_RULE_LABELS];
    /* "" as the pool holds it: every tuple's missing value (alert_scope) */
    const char *empty = intern_str(c->pool, "", 0);
    size_t set[QUENCH_MAX_RULE_LABELS], nset = 0;

    for (size_t i = 0; i < c->r->scope.n; i++)
        if (*own[i] != '\0')
            set[nset++] = i;
    /* Where to look. An alert lacking a value: every scope that agrees
     * with it and has an open incident (live). Its neighbourhood is looked
     * up in each of them when they are few - the usual case, an alert
     * lacking only the cluster agrees with no other namespace - or else
     * once under `across`, keeping the incidents whose scope agrees (a
     * node alert with hundreds of namespaces open: 2n look-ups, not 2n
     * per namespace). `across` also lists the scopes that disagree (the
     * other clusters' namespaces, for a node alert naming its cluster),
     * whose incidents are read and dropped: it is taken only while at
     * least a quarter of the live scopes agree. Otherwise the less
     * specific tuples of its own, found by blanking subsets of its values
     * (2^k - 1 look-ups for k values, a few), or through the wild list for
     * many. */
    int wide = nset < c->r->scope.n, across = 0;
    int by_subset = !wide && nset <= 4 && empty != NULL;
    uint32_t nsc = wide ? c->live.n : by_subset ? (1u << nset) - 1 : c->wild.n;
    uint32_t first = c->cand.n;
    if (wide) {
        /* enough agree: at least 2, and a quarter of the live scopes */
        uint32_t agree = 0, enough = c->live.n / 4 + (c->live.n % 4 != 0);
        if (enough < 2)
            enough = 2;
        for (uint32_t k = 0; k < c->live.n && agree < enough; k++) {
            uint32_t s2 = c->live.v[k];
            SCOPE_VISIT(c);
            agree += s2 != scope && scope_compat(c, scope, s2);
        }
        if (agree >= enough) {
            across = 1;
            nsc = 0;
        }
    }
    for (int i = 0; across && i < 2 * n; i++) {
        const uint32_t *v;
        uint32_t one, nv = index_slots(c, i % 2 ? &c->pmap : &c->emap,
                                       ekey(c->across, c->nbuf[i / 2]), &one, &v);
        CROSS_LOOKUP(c);
        for (uint32_t j = 0; j < nv; j++) {
            uint32_t s2 = inc_at(c, v[j])->scope;
            CROSS_LOOKUP(c);        /* an incident read, kept or not */
            if (s2 != scope && scope_compat(c, scope, s2) &&
                add_candidates(c, &v[j], 1, now, gen) < 0)
                return -1;
        }
    }
    for (uint32_t k = 0; k < nsc; k++) {
        uint32_t s2;
        const struct u32vec *l;
        if (by_subset) {
            int64_t found;
            memcpy(tup, own, c->r->scope.n * sizeof *tup);
            for (size_t b = 0; b < nset; b++)
                if ((k + 1) >> b & 1)
                    tup[set[b]] = empty;
            if ((found = scope_find(c, tup)) < 0)
                continue;
            s2 = (uint32_t)found;
        } else {
            s2 = wide ? c->live.v[k] : c->wild.v[k];
            if (!(wide ? scope_compat(c, scope, s2) : scope_covers(c, scope, s2)))
                continue;
        }
        if (s2 == scope)
            continue;
        l = index_get(c, &c->gmap, ekey(s2, ANY_GROUP));
        if (l == NULL || l->n == 0)
            continue;                   /* no open incident there */
        for (int i = 0; i < 2 * n; i++) {
            uint32_t id = c->nbuf[i / 2], one, nv;
            const uint32_t *v;
            nv = index_slots(c, i % 2 ? &c->pmap : &c->emap, ekey(s2, id),
                             &one, &v);
            CROSS_LOOKUP(c);
            if (add_candidates(c, v, nv, now, gen) < 0)
                return -1;
        }
    }
    if (first < c->cand.n &&
        topology_entity(c->t, (uint32_t)entity)->kind != ENTITY_NODE) {
        uint32_t pos = n > 0 ? c->nbuf[0] : (uint32_t)entity;
        if (wide)
            keep_unambiguous(c, first, pos);
        drop_unowned(c, first, scope, pos);
    }
    return 0;
}

/* Collect open incidents of SCOPE that ENTITY (within hops) or group G
 * links to and that are within the window at NOW, oldest first; also
 * those of scopes SCOPE agrees with (cross_scope_candidates). Through the
 * graph the window counts from BEGAN, when the alert's condition began
 * (add_member); by group or by time alone from NOW, since those links are
 * only as good as the timing. 0 or -1 OOM; only scratch changes. */
static int find_candidates(struct correlate *c, uint32_t scope, int32_t entity,
                            uint32_t g, int64_t began, int64_t now)
{
    uint32_t gen = ++c->stamp_gen;
    const struct u32vec *l;

    if (gen == 0) {
        memset(c->stamp, 0, c->stamp_cap * sizeof *c->stamp);
        gen = c->stamp_gen = 1;
    }
    c->cand.n = 0;
    c->cand_weak = 0;
    c->nbuf_n = 0;
    uint32_t from_graph = 0;
    /* From a service position the walk does not step into the services'
     * pods: pmap of each service already lists the incidents holding any
     * of its pods, and a service with thousands of pods (an alert storm)
     * would otherwise fill the neighbourhood with them, one look-up each.
     * The nodes of the alert's own pod are then added by hand: they were
     * two hops away through that pod. */
    int nn = 0;
    for (int pass = 0; pass < 2; pass++) {
        int n = 0;
        if (pass == 1) {
            if (entity >= 0 && c->wild.n > 0 &&
                cross_scope_candidates(c, scope, entity, nn, began, gen) < 0)
                return -1;
            from_graph = c->cand.n;
        }
        if (pass == 0 && entity >= 0) {
            uint32_t pos = graph_position(c->t, entity);
            n = topology_neighbours_ex(c->t, pos, c->r->hops,
                                       TOPOLOGY_SKIP_SERVICE_PODS, c->nbuf,
                                       QUENCH_MAX_NEIGHBOURS);
            if (pos != (uint32_t)entity && c->r->hops >= 2) {
                const uint32_t *deps;
                size_t m = topology_out(c->t, (uint32_t)entity, &deps);
                for (size_t k = 0; k < m && n < QUENCH_MAX_NEIGHBOURS; k++)
                    if (topology_entity(c->t, deps[k])->kind == ENTITY_NODE)
                        c->nbuf[n++] = deps[k];
            }
            nn = n;
            c->nbuf_n = (uint32_t)n;
        }
        /* The group joins only alerts the graph cannot relate to
         * anything: no entity, or an entity with no edges yet (a node
         * no known pod runs on). With group_by [alertname] a group spans
         * unrelated systems, so placed alerts never join by it. */
        if (pass == 1 && g != NONE && (entity < 0 || isolated(c->t, entity)))
            n = 1;
        for (int i = 0; i < 2 * n; i++) {
            const uint32_t *v;
            uint32_t one, nv = 0;
            /* pass 0 looks at each neighbour twice: incidents holding it,
             * and incidents holding a pod of it (pmap; keyed by services
             * only, so for another kind it holds nothing, and asking is
             * cheaper than reading the entity's kind) */
            if (pass == 0)
                nv = index_slots(c, i % 2 ? &c->pmap : &c->emap,
                                 ekey(scope, c->nbuf[i / 2]), &one, &v);
            else if (i == 0)
                nv = index_slots(c, &c->gmap, ekey(scope, g), &one, &v);
            if (add_candidates(c, v, nv, pass == 0 ? began : now, gen) < 0)
                return -1;
        }
    }
    /* A node with no edges (no known pod runs on it) may host any pod of
     * its scope, so time and scope are all that relate it: it joins the
     * largest open incident of its scope within the window, oldest on a
     * tie. Exactly one, so such an alert never bridges two incidents into
     * a merge. Nodes being cluster-wide, "its scope" is every scope its
     * values agree with when it lacks one (a node alert has no namespace).
     * A service nobody declared is not guessed at: an alert about it is
     * about that service, and the graph has no link to it. */
    if (c->cand.n == 0 && entity >= 0 && isolated(c->t, entity) &&
        topology_entity(c->t, (uint32_t)entity)->kind == ENTITY_NODE) {
        int64_t best = -1;
        int wide = tuple_lacks_value(scope_values(c, scope), c->r->scope.n);
        for (uint32_t k = 0; k < (wide ? c->live.n : 1); k++) {
            uint32_t s2 = wide ? c->live.v[k] : scope;
            SCOPE_VISIT(c);
            if (s2 != scope && !scope_compat(c, scope, s2))
                continue;
            l = index_get(c, &c->gmap, ekey(s2, ANY_GROUP));
            for (uint32_t j = 0; l != NULL && j < l->n; j++) {
                uint32_t s = l->v[j];
                const struct incident *inc = inc_at(c, s), *b;
                if (now - inc->last_activity > c->r->window_ms)
                    continue;
                b = best >= 0 ? inc_at(c, (uint32_t)best) : NULL;
                if (b == NULL || inc->members.n > b->members.n ||
                    (inc->members.n == b->members.n &&
                     cand_cmp_ctx_less(c, s, (uint32_t)best)))
                    best = s;
            }
        }
        if (best >= 0 && vec_push(&c->cand, (uint32_t)best) < 0)
            return -1;
    }
    /* An isolated entity that joins by group or by scope alone is a weak
     * member (see place_member). */
    if (entity >= 0 && from_graph == 0 && c->cand.n > 0 && isolated(c->t, entity))
        c->cand_weak = 1;
    /* A weak member never bridges: it joins exactly one incident, the
     * largest, oldest on a tie, and merges nothing. */
    if (c->cand_weak && c->cand.n > 1) {
        uint32_t best = c->cand.v[0];
        for (uint32_t i = 1; i < c->cand.n; i++) {
            uint32_t x = c->cand.v[i];
            uint32_t nx = inc_at(c, x)->members.n, nb = inc_at(c, best)->members.n;
            if (nx > nb || (nx == nb && cand_cmp_ctx_less(c, x, best)))
                best = x;
        }
        c->cand.v[0] = best;
        c->cand.n = 1;
    }
    sort_small(c, &c->cand, cand_cmp_ctx_less);
    return 0;
}

/* Scope tuple of A (a missing label, or one its exporter's own, = ""),
 * as an id. An alert about its peer (peer_labels) carries the caller's
 * namespace: the peer's is its DNS name's or the one services.yaml
 * declares it in when either says, else the caller's (a bare name
 * resolves in the caller's namespace). -1 OOM. */
static int64_t alert_scope(struct correlate *c, const struct alert *a,
                           const struct rules_exporter *ex)
{
    const char *v[QUENCH_MAX_RULE_LABELS];
    const char *empty = intern_str(c->pool, "", 0);
    struct rules_peer peer;
    int peer_ns = c->r->peer.n > 0 && rules_peer(c->r, c->t, a, ex, &peer) &&
                  peer.ns[0] != '\0';

    if (empty == NULL)
        return -1;
    for (size_t i = 0; i < c->r->scope.n; i++) {
        const char *x = peer_ns && rules_labels_has(&c->r->namespace_,
                                                    c->r->scope.names[i])
                            ? peer.ns
                            : rules_label(ex, a, c->r->scope.names[i]);
        v[i] = x ? intern_str(c->pool, x, strlen(x)) : empty;
        if (v[i] == NULL)
            return -1;
    }
    return scope_id(c, v);
}

/* Keep the candidates whose scopes agree with *SCOPE and with each other,
 * oldest first; *SCOPE becomes the values they add up to (a node alert's
 * "" namespace takes the pods' one). -1 OOM. */
static int keep_agreeing(struct correlate *c, uint32_t *scope)
{
    uint32_t k = 0;

    for (uint32_t i = 0; i < c->cand.n; i++) {
        uint32_t s = c->cand.v[i], sc = inc_at(c, s)->scope;
        if (sc != *scope) {
            int64_t m;
            if (!scope_compat(c, *scope, sc))
                continue;
            if ((m = scope_meet(c, *scope, sc)) < 0)
                return -1;
            *scope = (uint32_t)m;
        }
        c->cand.v[k++] = s;
    }
    c->cand.n = k;
    return 0;
}

/* ---- guesses replaced ----------------------------------------------------
 * A weak member (place_member) sits in its incident on a guess: its entity
 * had no edges, so time and scope chose. Once the graph relates that
 * entity to an alert (the node turns out to host the alert's pod), the
 * guess is replaced by that evidence: the weak member goes where the alert
 * goes, and its entity is indexed there like any other. Without this, a
 * node fault whose node alert came before any of its pods' (the usual
 * order: the cause first) stayed in whatever incident was largest then,
 * and its pods' alerts, which the graph ties to the node, formed another. */

/* Order of guesses: by what a dump keeps (join time, fingerprint), so
 * that a restored correlator moves them in the same order. */
static int guess_less(const struct correlate *c, uint32_t x, uint32_t y)
{
    const struct member *a = &c->members[x], *b = &c->members[y];

    if (a->joined_at != b->joined_at)
        return a->joined_at < b->joined_at;
    return a->a.fingerprint < b->a.fingerprint;
}

/* Into c->guess, once each: the weak members of entity X, in every open
 * incident holding one (wmap), active within the window of BEGAN and of
 * a scope SCOPE covers (a node's, without a namespace, goes into a
 * namespaced incident; not the other way). 0 or -1 OOM. */
static int guesses_of(struct correlate *c, uint32_t x, uint32_t scope,
                      int64_t began)
{
    const struct u32vec *l = index_get(c, &c->wmap, x);

    for (uint32_t k = 0; l != NULL && k < l->n; k++) {
        const struct incident *inc = inc_at(c, l->v[k]);

        for (uint32_t j = 0; j < inc->weak.n; j++) {
            uint32_t m = inc->weak.v[j];
            const struct member *mb = &c->members[m];
            int64_t sc;

            if (mb->entity != (int32_t)x ||
                began - mb->changed_at > c->r->window_ms || vec_has(&c->guess, m))
                continue;
            sc = alert_scope(c, &mb->a, rules_exporter_of(c->r, &mb->a));
            if (sc < 0)
                return -1;
            if (scope_covers(c, scope, (uint32_t)sc) && vec_push(&c->guess, m) < 0)
                return -1;
        }
    }
    return 0;
}

/* Into c->guess: the weak members an alert on ENTITY, placed through the
 * graph in SCOPE, replaces: those of its neighbours (nbuf, as
 * find_candidates left it), of ENTITY itself and, for a pod, of its
 * nodes (with topology_hops 1 they are not in the neighbourhood, yet the
 * alert names them). The cost is the few weak members of those
 * entities. 0 or -1 OOM; only scratch changes. */
static int find_guesses(struct correlate *c, int32_t entity, uint32_t scope,
                        int64_t began)
{
    const uint32_t *deps;
    size_t ndeps;

    c->guess.n = 0;
    if (entity < 0 || c->cand_weak || c->wmap.n == 0 || isolated(c->t, entity))
        return 0;
    for (uint32_t i = 0; i < c->nbuf_n; i++)
        if (guesses_of(c, c->nbuf[i], scope, began) < 0)
            return -1;
    if (guesses_of(c, (uint32_t)entity, scope, began) < 0)
        return -1;
    ndeps = topology_out(c->t, (uint32_t)entity, &deps);
    for (size_t i = 0; i < ndeps; i++)
        if (topology_entity(c->t, deps[i])->kind == ENTITY_NODE &&
            guesses_of(c, deps[i], scope, began) < 0)
            return -1;
    sort_small(c, &c->guess, guess_less);
    return 0;
}

/* Count into P what settle_guesses adds once the alert is placed in
 * incident S (NONE: the one it opens) of SCOPE. 0 or -1 OOM. */
static int plan_guesses(struct correlate *c, struct plan *p, uint32_t s,
                        uint32_t scope)
{
    uint32_t k = c->guess.n;

    if (k == 0)
        return 0;
    p->members += k;
    p->changes += 2 * k;      /* the member, and the one taking its place */
    p->updated += k;          /* the incidents they leave */
    p->deadlines += k;        /* which may have nothing firing left */
    for (uint32_t i = 0; i < k; i++)
        if (plan_index(c, p, s, scope, c->members[c->guess.v[i]].entity,
                       NONE) < 0)
            return -1;
    if (vec_reserve(&c->d_moved, k) < 0 ||
        (c->track && grow(&c->moves, &c->moves_cap, (size_t)c->nmoves + k,
                          sizeof *c->moves, 8) < 0))
        return -1;
    return 0;
}

/* The weak members in c->guess go into incident T, where the alert that
 * relates to their entity was placed. One already in T (guessed right, or
 * brought by a merge) only stops being weak. One in another incident
 * leaves it: that incident's last member takes its place (one record
 * rewritten, not every later one) and the store is told to delete its
 * record there (correlate_moves). Its entity is indexed in T either way.
 * Cannot fail: place_reserve made room. */
static void settle_guesses(struct correlate *c, uint32_t t, int64_t now)
{
    struct incident *to = inc_at(c, t);

    for (uint32_t i = 0; i < c->guess.n; i++) {
        uint32_t m = c->guess.v[i];
        struct member *mb = &c->members[m];
        uint32_t s = mb->incident, x = (uint32_t)mb->entity;
        struct incident *from = inc_at(c, s);

        /* first: while M is weak in S, T == S lists X already */
        RESERVED(incident_index(c, t, (int32_t)x, NONE));
        vec_remove(&from->weak, m);
        if (s != t) {
            uint32_t last = from->members.v[from->members.n - 1];

            from->members.v[mb->pos] = last;
            c->members[last].pos = mb->pos;
            from->members.n--;
            if (last != m)
                log_change(c, last);
            if (!indexed(c, s, x) && !weak_holds(c, from, x))
                vec_remove(&from->entities, x);
            if (mb->a.status == ALERT_FIRING) {
                to->nfiring++;
                if (--from->nfiring == 0) {
                    /* its last firing alert left now: quiet from now */
                    from->last_resolved = now;
                    RESERVED(schedule_close(c, s));
                }
            }
            RESERVED(vec_push(&to->members, m));
            mb->incident = t;
            mb->pos = to->members.n - 1;
            if (c->track) {
                c->moves[c->nmoves].alert = m;
                c->moves[c->nmoves].fingerprint = mb->a.fingerprint;
                memcpy(c->moves[c->nmoves].from, from->id, CORRELATE_ID_SIZE);
                c->nmoves++;
            }
            RESERVED(vec_push(&c->d_moved, m));
            RESERVED(delta_updated(c, s));
        }
        if (!weak_holds(c, from, x))
            index_remove(c, &c->wmap, x, s);
        mb->weak = 0;
        log_change(c, m);
    }
    c->guess.n = 0;
}

/* Move open incident S to SCOPE (more specific than its own): its index
 * entries are re-keyed, weak members' entities stay unindexed. The id
 * stays: ids name incidents, not scopes. Cannot fail: place_reserve made
 * room. */
static void rescope(struct correlate *c, uint32_t s, uint32_t scope)
{
    struct incident *inc = inc_at(c, s);
    uint32_t old = inc->scope;

    for (uint32_t i = 0; i < inc->entities.n; i++) {
        uint32_t e = inc->entities.v[i];
        int32_t svc = topology_pod_service(c->t, e);
        if (!indexed(c, s, e))
            continue;
        index_remove(c, &c->emap, ekey(old, e), s);
        if (svc >= 0)
            index_remove(c, &c->pmap, ekey(old, (uint32_t)svc), s);
        RESERVED(index_add(c, &c->emap, ekey(scope, e), s));
        if (svc >= 0) {
            RESERVED(index_add(c, &c->pmap, ekey(scope, (uint32_t)svc), s));
            /* a no-op unless the service is newer than the entry (see
             * late_services); plan_keys_of counted it */
            RESERVED(index_add(c, &c->pmap, ekey(c->across, (uint32_t)svc), s));
        }
    }
    for (uint32_t i = 0; i < inc->groups.n; i++) {
        index_remove(c, &c->gmap, ekey(old, inc->groups.v[i]), s);
        RESERVED(index_add(c, &c->gmap, ekey(scope, inc->groups.v[i]), s));
    }
    if (inc->in_scope_list)
        index_remove(c, &c->gmap, ekey(old, ANY_GROUP), s);
    inc->in_scope_list = 0;
    inc->scope = scope;
    RESERVED(incident_index(c, s, -1, NONE));      /* the scope's list */
}

/* A pod can alert before anything names its service (`pod` alone, a name
 * no declared service owns) and be indexed then, with no pmap entry; an
 * alert naming both teaches T the link later (rules_resolve_as). The open
 * incidents holding pod E (under `across`) get the pmap entries
 * incident_index would have made, so this alert and later ones find them
 * where a pod of that service sits. A repair of what T learnt, like T's
 * own change: each incident's pair of entries is added whole or not at
 * all. Out of memory, T keeps the link and the repair waits for the pod's
 * next new alert or restored incident (correlate_check reports the gap
 * meanwhile; before this, the gap stayed). 0 or -1 OOM. */
static int late_services(struct correlate *c, int32_t e)
{
    const uint32_t *v;
    uint32_t one, n, svc;
    int32_t sv = e >= 0 ? topology_pod_service(c->t, (uint32_t)e) : -1;

    if (sv < 0)
        return 0;
    svc = (uint32_t)sv;
    n = index_slots(c, &c->emap, ekey(c->across, (uint32_t)e), &one, &v);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = v[i], sc = inc_at(c, s)->scope;
        if (index_holds(c, &c->pmap, ekey(sc, svc), s))
            continue;
        /* index_add changes nothing when it fails; V is emap's list,
         * which adding to pmap leaves alone */
        if (index_add(c, &c->pmap, ekey(sc, svc), s) < 0)
            return -1;
        if (index_add(c, &c->pmap, ekey(c->across, svc), s) < 0) {
            index_remove(c, &c->pmap, ekey(sc, svc), s);
            return -1;
        }
    }
    return 0;
}

/* Reserve first for add_member: room for the new member (slot, fpmap
 * entry) and for all that joining it, with entity E and group G, into
 * c->cand.v[0] - merging the other candidates into it and moving it to
 * INTO_SCOPE - or opening an incident of SCOPE from FRESH can add; *WEAK
 * gets merge's scratch. 0, -1 OOM or -2 past a cap of limits.h; C is
 * unchanged but for capacity. */
static int place_reserve(struct correlate *c, uint32_t scope,
                         uint32_t into_scope, int32_t e, uint32_t g,
                         struct incident *fresh, uint8_t **weak)
{
    struct plan p;
    struct incident *inc;
    uint32_t s, wmax = 1;
    int rc;

    memset(&p, 0, sizeof p);
    p.members = p.changes = p.updated = 1;
    p.deadlines = 2;          /* it arrives resolved; a merge left none firing */
    if ((rc = member_reserve(c, 1)) < 0)
        return rc;
    if (map_reserve(&c->fpmap, 1) < 0)
        return -1;
    if (c->cand.n == 0) {
        if ((rc = incident_reserve(c)) < 0)
            return rc;
        if (map_reserve(&c->idmap, 1) < 0 ||
            plan_index(c, &p, NONE, scope, e, g) < 0 ||
            plan_guesses(c, &p, NONE, scope) < 0)
            return -1;
        return plan_reserve(c, &p, fresh);
    }
    s = c->cand.v[0];
    inc = inc_at(c, s);
    p.merged = c->cand.n - 1;
    for (uint32_t i = 1; i < c->cand.n; i++) {
        const struct incident *b = inc_at(c, c->cand.v[i]);
        p.members += b->members.n;
        p.entities += b->entities.n;
        p.groups += b->groups.n;
        p.changes += b->members.n;          /* each moved member is logged */
        p.weak += b->weak.n;
        for (uint32_t j = 0; j < b->weak.n; j++)
            if (plan_key(c, &p, &c->wmap,
                         (uint64_t)c->members[b->weak.v[j]].entity) < 0)
                return -1;
        if (b->entities.n > wmax)
            wmax = b->entities.n;
        if (plan_keys_of(c, &p, inc->scope, b) < 0 ||
            (inc->scope != into_scope && plan_keys_of(c, &p, into_scope, b) < 0))
            return -1;
    }
    if (inc->scope != into_scope && plan_keys_of(c, &p, into_scope, inc) < 0)
        return -1;
    if (c->cand_weak) {             /* listed, not indexed: place_member */
        p.entities++;
        p.weak++;
        if (plan_key(c, &p, &c->wmap, (uint64_t)e) < 0)
            return -1;
        e = -1;
    }
    if (plan_index(c, &p, s, into_scope, e, g) < 0 ||
        plan_guesses(c, &p, s, into_scope) < 0 ||
        plan_reserve(c, &p, inc) < 0)
        return -1;
    if (c->cand.n > 1 && (*weak = malloc(wmax)) == NULL)
        return -1;
    return 0;
}

/* Place new member M (alert copied, entity resolved) into an incident as
 * place_reserve planned: join, merge or open. The outcome; cannot fail. */
static int place_member(struct correlate *c, uint32_t m, uint32_t scope,
                        uint32_t into_scope, uint32_t g, int64_t now,
                        struct incident *fresh, uint8_t *weak)
{
    struct member *mb = &c->members[m];
    struct incident *inc;
    int outcome;
    uint32_t s;

    if (c->cand.n == 0) {
        s = incident_take(c, fresh);
        inc = inc_at(c, s);
        inc->scope = scope;
        inc->state = CORRELATE_OPEN;
        inc->opened_at = now;
        inc->last_activity = now;
        RESERVED(assign_id(c, s, make_idhash(scope_values(c, scope),
                                             c->r->scope.n, mb->a.fingerprint,
                                             mb->a.starts_at)));
        outcome = CORRELATE_OPENED;
    } else {
        s = c->cand.v[0];
        outcome = CORRELATE_JOINED;
        for (uint32_t i = 1; i < c->cand.n; i++) {
            merge(c, s, c->cand.v[i], weak);
            outcome = CORRELATE_MERGED_INTO;
        }
        if (inc_at(c, s)->scope != into_scope)
            rescope(c, s, into_scope);
        inc = inc_at(c, s);
    }
    RESERVED(vec_push(&inc->members, m));
    mb->incident = s;
    mb->pos = inc->members.n - 1;
    log_change(c, m);
    mb->weak = (uint8_t)c->cand_weak;
    if (c->cand_weak) {
        /* Joined by time and scope alone: the entity is listed but not
         * indexed, so when the graph later learns its relations (a pod
         * seen on that node) it cannot pull other alerts in through a
         * link that was only a guess. */
        if (!vec_has(&inc->entities, (uint32_t)mb->entity))
            RESERVED(vec_push(&inc->entities, (uint32_t)mb->entity));
        RESERVED(incident_index(c, s, -1, g));
        RESERVED(vec_push(&inc->weak, m));
        RESERVED(index_add(c, &c->wmap, (uint64_t)mb->entity, s));
    } else {
        RESERVED(incident_index(c, s, mb->entity, g));
    }
    inc->last_activity = now;
    if (mb->a.status == ALERT_FIRING) {
        inc->nfiring++;
    } else {
        inc->last_resolved = now;
        if (inc->nfiring == 0)
            RESERVED(schedule_close(c, s));
    }
    if (outcome == CORRELATE_MERGED_INTO && inc->nfiring == 0)
        RESERVED(schedule_close(c, s));
    RESERVED(delta_updated(c, s));
    return outcome;
}

/* A known alert M got notification A (same startsAt, status changed to
 * resolved; or a newer startsAt) while its incident is open. The outcome,
 * or -1 OOM with C unchanged. */
static int update_member(struct correlate *c, uint32_t m, const struct alert *a,
                         uint32_t g, int64_t now, int new_episode)
{
    struct member *mb = &c->members[m];
    uint32_t s = mb->incident;
    struct incident *inc = inc_at(c, s);
    enum alert_status was = mb->a.status;
    struct alert copy;
    int64_t *ring = NULL;
    struct plan p;

    memset(&copy, 0, sizeof copy);
    memset(&p, 0, sizeof p);
    /* reserve first: nothing from the line below on can fail */
    if (new_episode && copy_alert(c, &copy, a) < 0)
        return -1;
    p.changes = p.updated = p.deadlines = 1;
    if ((new_episode && mb->ring == NULL && (ring = ring_new(c)) == NULL) ||
        plan_index(c, &p, s, inc->scope, -1, g) < 0 ||
        plan_reserve(c, &p, inc) < 0) {
        free(alert_block(&copy));
        free(ring);
        return -1;
    }
    /* ---- */
    if (new_episode) {
        if (mb->ring == NULL)
            mb->ring = ring;
        note_refire(c, mb, now);
        free(alert_block(&mb->a));
        mb->a = copy;
    } else {
        mb->a.status = a->status;
        mb->a.ends_at = a->ends_at;
    }
    mb->changed_at = now;
    log_change(c, m);
    RESERVED(incident_index(c, s, -1, g));
    inc->last_activity = now;
    if (was == ALERT_FIRING && mb->a.status == ALERT_RESOLVED) {
        inc->nfiring--;
        inc->last_resolved = now;
    } else if (was == ALERT_RESOLVED && mb->a.status == ALERT_FIRING) {
        inc->nfiring++;
    } else if (mb->a.status == ALERT_RESOLVED) {
        inc->last_resolved = now;     /* a new episode seen only resolved */
    }
    if (inc->nfiring == 0)
        RESERVED(schedule_close(c, s));
    RESERVED(delta_updated(c, s));
    return CORRELATE_UPDATED;
}

/* The `for` of the rule that fired A (rule_for), A's strings interned. */
static int64_t alert_for(struct correlate *c, const struct alert *a)
{
    double w;
    int64_t for_ms;

    (void)rules_memo_get(c->memo, c->r, a, &w, &for_ms);
    return for_ms;
}

/* Record when the alert named RE's entities (topology_seen): from
 * STARTS_AT, its onset (startsAt less its rule's for), to NOW, the time it
 * arrived (virtual in replay, so the same archive gives the same spans).
 * rank counts a service's pods by it. */
static void mark_seen(struct correlate *c, const struct rules_entity *re,
                      int64_t starts_at, int64_t now)
{
    int32_t ids[] = {re->pod, re->service, re->node};
    int64_t from = starts_at > 0 && starts_at < now ? starts_at : now;

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i] >= 0)
            topology_seen(c->t, (uint32_t)ids[i], from, now);
}

/* New alert A of SCOPE, or a new episode of one whose incident closed
 * (OLD: its latest member, else -1), into an incident: join, merge or
 * open. The outcome; -1 OOM or -2 past a cap of limits.h, C unchanged. */
static int add_member(struct correlate *c, const struct alert *a,
                      const struct rules_exporter *ex, uint32_t scope,
                      uint32_t g, int64_t old, int64_t now)
{
    struct alert copy;
    struct rules_entity re;
    struct incident fresh;
    int64_t *ring = NULL;
    uint8_t *weak = NULL;
    uint32_t into_scope = scope, m;
    struct member *mb;
    int rc = -1;

    memset(&fresh, 0, sizeof fresh);
    if (copy_alert(c, &copy, a) < 0)
        return -1;
    /* A full graph leaves the alert without an entity (it can still join
     * by group); that is a degraded answer, not a failure. What T learns
     * here is T's, not a change of C. */
    (void)rules_resolve_as(c->r, c->t, a, ex, &re);
    /* An alert whose rule has a `for` fires that long after its condition
     * began (rule_for): as long after the incident it belongs to went
     * quiet. A crash loop that fired 15 minutes into an outage whose
     * symptoms all came in the first three, while it is still open, joins
     * them through the graph. */
    int64_t for_ms = alert_for(c, &copy);
    /* reserve first: nothing from the line below on can fail */
    if ((old >= 0 && c->members[old].ring == NULL &&
         (ring = ring_new(c)) == NULL) ||
        late_services(c, re.entity) < 0 ||
        find_candidates(c, scope, re.entity, g, now - for_ms, now) < 0 ||
        (c->wild.n > 0 && keep_agreeing(c, &into_scope) < 0) ||
        find_guesses(c, re.entity, into_scope, now - for_ms) < 0)
        goto fail;
    if ((rc = place_reserve(c, scope, into_scope, re.entity, g, &fresh,
                            &weak)) < 0)
        goto fail;
    /* ---- */
    m = member_take(c);
    mb = &c->members[m];
    mb->a = copy;
    mark_seen(c, &re, a->starts_at - for_ms, now);
    mb->entity = re.entity;
    mb->joined_at = mb->changed_at = now;
    if (old >= 0) {
        /* The flap history carries over, so slow flapping is still seen. */
        struct member *om = &c->members[old];
        if (om->entity >= 0)
            topology_seen(c->t, (uint32_t)om->entity, now, now);
        mb->ring = om->ring != NULL ? om->ring : ring;
        mb->ring_n = om->ring_n;
        mb->ring_pos = om->ring_pos;
        mb->refires = om->refires;
        om->ring = NULL;
        om->ring_n = om->ring_pos = 0;
        note_refire(c, mb, now);
    }
    rc = place_member(c, m, scope, into_scope, g, now, &fresh, weak);
    settle_guesses(c, c->members[m].incident, now);
    RESERVED(map_put(&c->fpmap, a->fingerprint, m));
    spare_trim(c);
    free(weak);
    return rc;
fail:
    spare_trim(c);              /* the plan may have made many */
    free(alert_block(&copy));
    free(ring);
    free(weak);
    incident_release(&fresh);
    return rc;
}

int correlate_ingest(struct correlate *c, const struct alert *a,
                     const char *group_key, int64_t now, struct qerr *err)
{
    uint32_t g = NONE;
    int64_t mi, scope, old = -1;
    const struct rules_exporter *ex;
    size_t nclosed;
    int rc = CORRELATE_IGNORED;

    delta_reset(c);
    if (now < c->clock)
        now = c->clock;
    c->clock = now;
    if (run_closes(c, now, &nclosed) < 0)
        return qerr_set(err, NULL, 0, 0, "out of memory");

    /* Interning the group key registers it: not a change of C. */
    if (group_key != NULL) {
        const char *gk = intern_str(c->pool, group_key, strlen(group_key));
        int64_t gi = gk ? group_id(c, gk) : -1;
        if (gi < 0)
            return qerr_set(err, NULL, 0, 0, "out of memory");
        g = (uint32_t)gi;
    }

    mi = map_get(&c->fpmap, a->fingerprint);
    if (mi >= 0) {
        const struct member *mb = &c->members[mi];
        const struct incident *inc = inc_at(c, mb->incident);
        int32_t entity = mb->entity;

        if (a->starts_at < mb->a.starts_at) {
            rc = CORRELATE_IGNORED;               /* an older episode */
        } else if (a->starts_at == mb->a.starts_at) {
            /* Same episode: only firing -> resolved moves it; a firing
             * after its resolved is a late repeat and must not reopen. */
            if (a->status != mb->a.status && a->status != ALERT_FIRING &&
                inc->state == CORRELATE_OPEN)
                rc = update_member(c, (uint32_t)mi, a, g, now, 0);
        } else if (inc->state == CORRELATE_OPEN) {
            rc = update_member(c, (uint32_t)mi, a, g, now, 1);
        } else {
            /* Its incident closed: the new episode starts afresh below. */
            old = mi;
        }
        if (old < 0) {
            if (rc < 0)
                return qerr_set(err, NULL, 0, 0, "out of memory");
            /* a repeat (Alertmanager's repeat_interval) says its pod is
             * still there, even when it changes nothing else */
            if (entity >= 0)
                topology_seen(c->t, (uint32_t)entity, now, now);
            return rc;
        }
    }

    if (c->members_live >= QUENCH_MAX_ACTIVE_ALERTS)
        return qerr_set(err, NULL, 0, 0,
                        "more than %u alerts held; alert dropped",
                        (unsigned)QUENCH_MAX_ACTIVE_ALERTS);
    /* a node-exporter's namespace is its own, not the node's (rules.h) */
    ex = rules_exporter_of(c->r, a);
    scope = alert_scope(c, a, ex);
    if (scope < 0)
        return qerr_set(err, NULL, 0, 0, "out of memory");
    rc = add_member(c, a, ex, (uint32_t)scope, g, old, now);
    if (rc == -2)
        return qerr_set(err, NULL, 0, 0,
                        "more than %u incidents or %u alerts held; alert dropped",
                        (unsigned)QUENCH_MAX_INCIDENTS,
                        (unsigned)QUENCH_MAX_ACTIVE_ALERTS);
    if (rc < 0)
        return qerr_set(err, NULL, 0, 0, "out of memory");
    return rc;
}

size_t correlate_tick(struct correlate *c, int64_t now)
{
    size_t n;

    delta_reset(c);
    if (now < c->clock)
        now = c->clock;
    c->clock = now;
    /* on OOM the rest stay due: correlate_next_deadline names them */
    (void)run_closes(c, now, &n);
    return n;
}

int64_t correlate_next_deadline(const struct correlate *c)
{
    /* The heap top may be stale; it is still a safe (early) wake-up. */
    return c->nheap > 0 ? c->heap[0].at : CORRELATE_NO_TIME;
}

/* ---- reading ------------------------------------------------------------ */

uint32_t correlate_incident_slots(const struct correlate *c)
{
    return c->nincs;
}

int correlate_incident(const struct correlate *c, uint32_t slot,
                       struct correlate_incident *out)
{
    const struct incident *inc;

    if (slot >= c->nincs || !c->incs[slot].used)
        return -1;
    inc = &c->incs[slot];
    out->id = inc->id;
    out->state = inc->state;
    out->merged_into = inc->merged_into;
    out->opened_at = inc->opened_at;
    out->closed_at = inc->closed_at;
    out->last_activity = inc->last_activity;
    out->nfiring = inc->nfiring;
    out->nalerts = inc->members.n;
    out->alerts = inc->members.v;
    out->nentities = inc->entities.n;
    out->entities = inc->entities.v;
    out->nscope = c->r->scope.n;
    out->scope = scope_values(c, inc->scope);
    return 0;
}

int64_t correlate_find(const struct correlate *c, const char *id)
{
    uint64_t h = 0;

    if (strncmp(id, "inc-", 4) != 0 || strlen(id) != 20)
        return -1;
    for (int i = 4; i < 20; i++) {
        char ch = id[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0'
              : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        h = (h << 4) | (uint64_t)v;
    }
    return map_get(&c->idmap, h);
}

int correlate_alert(const struct correlate *c, uint32_t slot,
                    struct correlate_alert *out)
{
    const struct member *m;

    if (slot >= c->nmembers || c->members[slot].incident == NONE)
        return -1;
    m = &c->members[slot];
    out->alert = &m->a;
    out->entity = m->entity;
    out->incident = m->incident;
    out->joined_at = m->joined_at;
    out->changed_at = m->changed_at;
    out->refires = m->refires;
    out->flapping = m->flapping;
    out->position = m->pos;
    return 0;
}

int64_t correlate_alert_find(const struct correlate *c, uint64_t fp)
{
    return map_get(&c->fpmap, fp);
}

size_t correlate_alert_count(const struct correlate *c)
{
    return c->members_live;
}

static size_t map_bytes(const struct u64map *m)
{
    return m->cap * (sizeof *m->keys + sizeof *m->vals);
}

size_t correlate_bytes(const struct correlate *c)
{
    size_t b = sizeof *c + intern_bytes(c->pool);

    b += (size_t)c->members_cap * sizeof *c->members;
    for (uint32_t i = 0; i < c->nmembers; i++) {
        const struct member *m = &c->members[i];
        if (m->incident == NONE)
            continue;
        b += ((size_t)m->a.nlabels + m->a.nannotations) * sizeof(struct label);
        if (m->ring != NULL)
            b += c->r->flap_count * sizeof *m->ring;
    }
    b += (size_t)c->incs_cap * sizeof *c->incs;
    for (uint32_t i = 0; i < c->nincs; i++) {
        const struct incident *inc = &c->incs[i];
        b += (inc->members.cap + inc->entities.cap + inc->groups.cap +
              inc->weak.cap) * sizeof(uint32_t);
    }
    for (uint32_t i = 0; i < c->nlists; i++)
        b += c->lists[i].cap * sizeof(uint32_t);
    b += (size_t)c->lists_cap * sizeof *c->lists;
    b += (size_t)c->spare_cap * sizeof *c->spare +
         (size_t)c->nspare * LIST_CAP0 * sizeof(uint32_t);
    b += (size_t)c->scopes_cap * (c->r->scope.n ? c->r->scope.n : 1) *
             sizeof *c->scopes +
         ((size_t)c->wild.cap + c->live.cap + c->live_pos_cap) * sizeof(uint32_t);
    b += map_bytes(&c->fpmap) + map_bytes(&c->idmap) + map_bytes(&c->emap) +
         map_bytes(&c->pmap) + map_bytes(&c->gmap) + map_bytes(&c->wmap) +
         map_bytes(&c->scopemap) + map_bytes(&c->groupmap);
    b += ((size_t)c->guess.cap + c->d_moved.cap) * sizeof(uint32_t) +
         (size_t)c->moves_cap * sizeof *c->moves;
    b += c->dense_bytes + (size_t)c->dense_cap * sizeof *c->dense;
    b += c->heap_cap * sizeof *c->heap;
    b += (size_t)c->stamp_cap * sizeof *c->stamp;
    b += QUENCH_MAX_NEIGHBOURS * sizeof *c->nbuf;
    return b;
}

/* Release incident S and its members (closed or merged). */
static void release_incident(struct correlate *c, uint32_t s)
{
    struct incident *inc = inc_at(c, s);

    for (uint32_t i = 0; i < inc->members.n; i++) {
        uint32_t m = inc->members.v[i];
        if (map_get(&c->fpmap, c->members[m].a.fingerprint) == (int64_t)m)
            map_del(&c->fpmap, c->members[m].a.fingerprint);
        free_member(c, m);
    }
    map_del(&c->idmap, inc->idhash);
    incident_release(inc);
    (void)vec_push(&c->free_incs, s);
}

size_t correlate_prune(struct correlate *c, int64_t before)
{
    size_t n = 0;

    while (c->fifo_head < c->closed_fifo.n) {
        uint32_t s = c->closed_fifo.v[c->fifo_head];
        const struct incident *inc = inc_at(c, s);
        if (inc->used && inc->state == CORRELATE_CLOSED &&
            inc->closed_at >= before)
            break;
        c->fifo_head++;
        if (inc->used && inc->state == CORRELATE_CLOSED) {
            release_incident(c, s);
            n++;
        }
    }
    if (c->fifo_head == c->closed_fifo.n)
        c->fifo_head = c->closed_fifo.n = 0;
    for (uint32_t i = 0; i < c->merged_slots.n; i++)
        release_incident(c, c->merged_slots.v[i]);
    c->merged_slots.n = 0;
    return n;
}

/* ---- persistence -------------------------------------------------------- */

static json_t *labels_json(const struct label *l, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < n; i++)
        if (json_object_set_new(o, l[i].name, json_string(l[i].value)) < 0) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static json_t *time_json(int64_t t)
{
    return t == CORRELATE_NO_TIME || t == ALERT_NO_END ? json_null()
                                                        : json_integer(t);
}

static const char *const state_names[] = { "open", "closed", "merged" };

/* The record of alert slot M, as an element of a dump's "alerts". */
static json_t *member_json(const struct correlate *c, uint32_t mslot)
{
    const struct member *m = &c->members[mslot];
    json_t *x = json_object(), *ring = json_array();
    char fp[17];

    if (x == NULL || ring == NULL) {
        json_decref(x);
        json_decref(ring);
        return NULL;
    }
    alert_fingerprint_format(m->a.fingerprint, fp);
    /* Ring entries oldest first, so a restore replays them in order. */
    for (uint16_t k = 0; k < m->ring_n; k++) {
        uint16_t idx = (uint16_t)((m->ring_pos + c->r->flap_count -
                                   m->ring_n + k) % c->r->flap_count);
        json_array_append_new(ring, json_integer(m->ring[idx]));
    }
    if (json_object_set_new(x, "fingerprint", json_string(fp)) < 0 ||
        json_object_set_new(x, "status", json_string(
            m->a.status == ALERT_FIRING ? "firing" : "resolved")) < 0 ||
        json_object_set_new(x, "starts_at", json_integer(m->a.starts_at)) < 0 ||
        json_object_set_new(x, "ends_at", time_json(m->a.ends_at)) < 0 ||
        json_object_set_new(x, "labels", labels_json(m->a.labels, m->a.nlabels)) < 0 ||
        json_object_set_new(x, "annotations",
                            labels_json(m->a.annotations, m->a.nannotations)) < 0 ||
        json_object_set_new(x, "generator_url", json_string(m->a.generator_url)) < 0 ||
        json_object_set_new(x, "joined_at", json_integer(m->joined_at)) < 0 ||
        json_object_set_new(x, "changed_at", json_integer(m->changed_at)) < 0 ||
        json_object_set_new(x, "refires", json_integer(m->refires)) < 0 ||
        json_object_set_new(x, "refire_times", ring) < 0 ||
        (m->weak && json_object_set_new(x, "weak", json_true()) < 0)) {
        json_decref(x);
        return NULL;
    }
    return x;
}

json_t *correlate_incident_dump_header(const struct correlate *c, uint32_t slot)
{
    const struct incident *inc;
    json_t *o = NULL, *arr;

    if (slot >= c->nincs || !c->incs[slot].used ||
        c->incs[slot].state == CORRELATE_MERGED)
        return NULL;
    inc = &c->incs[slot];
    o = json_object();
    if (o == NULL)
        return NULL;
    if (json_object_set_new(o, "id", json_string(inc->id)) < 0 ||
        json_object_set_new(o, "state", json_string(state_names[inc->state])) < 0 ||
        json_object_set_new(o, "opened_at", json_integer(inc->opened_at)) < 0 ||
        json_object_set_new(o, "closed_at", time_json(inc->closed_at)) < 0 ||
        json_object_set_new(o, "last_activity", json_integer(inc->last_activity)) < 0 ||
        json_object_set_new(o, "last_resolved", json_integer(inc->last_resolved)) < 0)
        goto fail;
    arr = json_array();
    if (json_object_set_new(o, "scope", arr) < 0)
        goto fail;
    for (size_t i = 0; i < c->r->scope.n; i++)
        if (json_array_append_new(arr, json_string(scope_values(c, inc->scope)[i])) < 0)
            goto fail;
    arr = json_array();
    if (json_object_set_new(o, "groups", arr) < 0)
        goto fail;
    for (uint32_t i = 0; i < inc->groups.n; i++)
        if (json_array_append_new(arr, json_string(c->groups[inc->groups.v[i]])) < 0)
            goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

json_t *correlate_alert_dump(const struct correlate *c, uint32_t slot)
{
    if (slot >= c->nmembers || c->members[slot].incident == NONE)
        return NULL;
    return member_json(c, slot);
}

json_t *correlate_incident_dump(const struct correlate *c, uint32_t slot)
{
    const struct incident *inc;
    json_t *o, *arr;

    o = correlate_incident_dump_header(c, slot);
    if (o == NULL)
        return NULL;
    inc = &c->incs[slot];
    arr = json_array();
    if (json_object_set_new(o, "alerts", arr) < 0)
        goto fail;
    for (uint32_t i = 0; i < inc->members.n; i++)
        if (json_array_append_new(arr, member_json(c, inc->members.v[i])) < 0)
            goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

int correlate_dump(const struct correlate *c, json_t **out)
{
    json_t *o = json_object(), *arr = json_array();

    *out = NULL;
    if (o == NULL || arr == NULL || json_object_set_new(o, "version", json_integer(1)) < 0 ||
        json_object_set_new(o, "clock", c->clock == INT64_MIN ? json_null()
                                                               : json_integer(c->clock)) < 0) {
        json_decref(o);
        json_decref(arr);
        return -1;
    }
    if (json_object_set_new(o, "incidents", arr) < 0)
        goto fail;
    for (uint32_t s = 0; s < c->nincs; s++) {
        if (!c->incs[s].used || c->incs[s].state == CORRELATE_MERGED)
            continue;
        if (json_array_append_new(arr, correlate_incident_dump(c, s)) < 0)
            goto fail;
    }
    *out = o;
    return 0;
fail:
    json_decref(o);
    return -1;
}

/* Labels object -> sorted label array interned in our pool. */
static int labels_from_json(struct correlate *c, const json_t *o,
                            struct label **out, uint16_t *n)
{
    const char *k;
    json_t *v;
    size_t i = 0, cnt;

    *out = NULL;
    *n = 0;
    if (!json_is_object(o))
        return -1;
    cnt = json_object_size(o);
    if (cnt > QUENCH_MAX_LABELS)
        return -1;
    if (cnt == 0)
        return 0;
    *out = malloc(cnt * sizeof **out);
    if (*out == NULL)
        return -1;
    json_object_foreach((json_t *)o, k, v) {
        if (!json_is_string(v))
            goto fail;
        (*out)[i].name = intern_str(c->pool, k, strlen(k));
        (*out)[i].value = intern_str(c->pool, json_string_value(v),
                                     json_string_length(v));
        if ((*out)[i].name == NULL || (*out)[i].value == NULL)
            goto fail;
        i++;
    }
    alert_labels_sort(*out, cnt);
    *n = (uint16_t)cnt;
    return 0;
fail:
    free(*out);
    *out = NULL;
    return -1;
}

static int get_time(const json_t *o, const char *key, int null_ok, int64_t *t)
{
    const json_t *v = json_object_get(o, key);
    if (null_ok && json_is_null(v)) {
        *t = CORRELATE_NO_TIME;
        return 0;
    }
    if (!json_is_integer(v))
        return -1;
    *t = json_integer_value(v);
    return 0;
}

/* One alert of a dumped incident, read and copied, not yet in C. */
struct loaded {
    struct alert a;                /* its block is ours until committed */
    struct rules_entity re;
    int64_t joined_at, changed_at;
    int64_t *ring;
    uint16_t ring_n;
    uint32_t refires;
    uint8_t weak;
};

static void loaded_free(struct loaded *l)
{
    free(alert_block(&l->a));
    free(l->ring);
    memset(l, 0, sizeof *l);
}

/* Read alert record X into *OUT. Changes nothing in C but its pool and
 * T (entities resolved again). 0, or -1 with ERR at PATH. */
static int load_member(struct correlate *c, const json_t *x, struct loaded *out,
                       const char *path, struct qerr *err)
{
    struct alert a;
    struct label *lab = NULL, *ann = NULL;
    const char *st, *fp, *gu;
    const json_t *ring;
    size_t k;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&a, 0, sizeof a);
    fp = json_string_value(json_object_get(x, "fingerprint"));
    st = json_string_value(json_object_get(x, "status"));
    gu = json_string_value(json_object_get(x, "generator_url"));
    ring = json_object_get(x, "refire_times");
    if (fp == NULL || alert_fingerprint_parse(fp, &a.fingerprint) < 0 ||
        st == NULL || (strcmp(st, "firing") != 0 && strcmp(st, "resolved") != 0) ||
        gu == NULL || !json_is_array(ring) ||
        json_array_size(ring) > c->r->flap_count ||
        get_time(x, "starts_at", 0, &a.starts_at) < 0 ||
        get_time(x, "ends_at", 1, &a.ends_at) < 0 ||
        !json_is_integer(json_object_get(x, "joined_at")) ||
        !json_is_integer(json_object_get(x, "changed_at")) ||
        !json_is_integer(json_object_get(x, "refires")))
        return qerr_set(err, path, 0, 0, "malformed alert state");
    for (k = 0; k < json_array_size(ring); k++)
        if (!json_is_integer(json_array_get(ring, k)))
            return qerr_set(err, path, 0, 0, "malformed refire_times");
    if (a.ends_at == CORRELATE_NO_TIME)
        a.ends_at = ALERT_NO_END;
    a.status = strcmp(st, "firing") == 0 ? ALERT_FIRING : ALERT_RESOLVED;
    if (labels_from_json(c, json_object_get(x, "labels"), &lab, &a.nlabels) < 0 ||
        labels_from_json(c, json_object_get(x, "annotations"), &ann,
                         &a.nannotations) < 0) {
        free(lab);
        return qerr_set(err, path, 0, 0, "malformed or oversized labels");
    }
    a.labels = lab;
    a.annotations = ann;
    a.generator_url = gu;
    rc = copy_alert(c, &out->a, &a);
    free(lab);
    free(ann);
    if (rc < 0)
        return qerr_set(err, path, 0, 0, "out of memory");
    if (json_array_size(ring) > 0) {
        out->ring = ring_new(c);
        if (out->ring == NULL) {
            loaded_free(out);
            return qerr_set(err, path, 0, 0, "out of memory");
        }
        for (k = 0; k < json_array_size(ring); k++)
            out->ring[k] = json_integer_value(json_array_get(ring, k));
        out->ring_n = (uint16_t)k;
    }
    (void)rules_resolve(c->r, c->t, &out->a, &out->re);
    out->joined_at = json_integer_value(json_object_get(x, "joined_at"));
    out->changed_at = json_integer_value(json_object_get(x, "changed_at"));
    out->refires = (uint32_t)json_integer_value(json_object_get(x, "refires"));
    /* a weak member's entity is listed, not indexed, as when it joined */
    out->weak = json_is_true(json_object_get(x, "weak"));
    return 0;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return (a > b) - (a < b);
}

/* Sort V[0..n) and drop repeats; the count left. */
static size_t uniq_u32(uint32_t *v, size_t n)
{
    size_t k = 0;

    qsort(v, n, sizeof *v, cmp_u32);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || v[k - 1] != v[i])
            v[k++] = v[i];
    return k;
}

/* Count into P what restoring alerts LD[0..n) and groups G[0..ng) as a
 * new incident of SCOPE adds to its lists and, when OPEN, to the indexes.
 * A closed incident is never indexed. An open one gets each distinct
 * entity, service and group key once, so each is counted once: counted
 * per alert, restoring a 50k-alert incident made room (map slots, list
 * slots, spare buffers) for keys it did not have, and that room stays.
 * 0 or -1 OOM. */
static int plan_restore(struct correlate *c, struct plan *p, uint32_t scope,
                        int open, const struct loaded *ld, size_t n,
                        const uint32_t *g, size_t ng)
{
    /* indexed entities from the front of ents, weak members' (listed
     * only: restore_member) from its back; then services, then groups */
    uint32_t *ents = malloc((2 * n + ng + 1) * sizeof *ents);
    uint32_t *svcs = ents + n, *grps = ents + 2 * n;
    size_t ne = 0, nw = 0, ns = 0, i;
    int rc = -1;

    if (ents == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        int32_t e = ld[i].re.entity, svc;
        if (e < 0)
            continue;
        if (ld[i].weak) {
            ents[n - 1 - nw++] = (uint32_t)e;
            continue;
        }
        ents[ne++] = (uint32_t)e;
        if ((svc = topology_pod_service(c->t, (uint32_t)e)) >= 0)
            svcs[ns++] = (uint32_t)svc;
    }
    if (ng > 0)
        memcpy(grps, g, ng * sizeof *g);
    ne = uniq_u32(ents, ne);
    size_t w0 = n - nw;                 /* the weak ones, deduplicated */
    nw = uniq_u32(ents + w0, nw);
    ns = uniq_u32(svcs, ns);
    ng = uniq_u32(grps, ng);
    /* an entity both weak and not is pushed twice (incident_index asks
     * the index, which a weak one is not in) */
    p->entities += (uint32_t)(ne + nw);
    for (i = 0; i < n; i++)
        p->weak += ld[i].weak && ld[i].re.entity >= 0;
    for (i = 0; open && i < nw; i++)
        if (plan_key(c, p, &c->wmap, ents[w0 + i]) < 0)
            goto out;
    p->groups += (uint32_t)ng;
    if (open) {
        for (i = 0; i < ne; i++)
            if (plan_entity(c, p, scope, ents[i], -1) < 0)
                goto out;
        for (i = 0; i < ns; i++)
            if (plan_key(c, p, &c->pmap, ekey(scope, svcs[i])) < 0 ||
                plan_key(c, p, &c->pmap, ekey(c->across, svcs[i])) < 0)
                goto out;
        for (i = 0; i < ng; i++)
            if (plan_key(c, p, &c->gmap, ekey(scope, grps[i])) < 0)
                goto out;
        if (plan_key(c, p, &c->gmap, ekey(scope, ANY_GROUP)) < 0)
            goto out;
    }
    rc = 0;
out:
    free(ents);
    return rc;
}

/* Put loaded alert L into incident S as a member; L's block and ring move
 * to it. Cannot fail: correlate_incident_restore made room. */
static void restore_member(struct correlate *c, uint32_t s, struct loaded *l)
{
    uint32_t m = member_take(c);
    struct member *mb = &c->members[m];
    struct incident *inc = inc_at(c, s);
    int64_t prev;

    mb->a = l->a;
    mb->entity = l->re.entity;
    mb->joined_at = l->joined_at;
    mb->changed_at = l->changed_at;
    mark_seen(c, &l->re, mb->a.starts_at - alert_for(c, &mb->a), mb->changed_at);
    mb->incident = s;
    if (l->ring_n > 0) {
        mb->ring = l->ring;
        mb->ring_n = l->ring_n;
        mb->ring_pos = (uint16_t)(l->ring_n % c->r->flap_count);
        mb->flapping = mb->ring_n == c->r->flap_count &&
                       mb->ring[mb->ring_n - 1] - mb->ring[0] <=
                           c->r->flap_within_ms;
    } else {
        free(l->ring);
    }
    mb->refires = l->refires;
    mb->weak = l->weak;
    memset(l, 0, sizeof *l);
    RESERVED(vec_push(&inc->members, m));
    if (mb->weak && mb->entity >= 0 && !vec_has(&inc->entities, (uint32_t)mb->entity))
        RESERVED(vec_push(&inc->entities, (uint32_t)mb->entity));
    RESERVED(incident_index(c, s, mb->weak ? -1 : mb->entity, NONE));
    if (mb->weak && mb->entity >= 0) {
        RESERVED(vec_push(&inc->weak, m));
        if (inc->state == CORRELATE_OPEN)
            RESERVED(index_add(c, &c->wmap, (uint64_t)mb->entity, s));
    }
    mb->pos = inc->members.n - 1;
    log_change(c, m);
    if (mb->a.status == ALERT_FIRING)
        inc->nfiring++;
    prev = map_get(&c->fpmap, mb->a.fingerprint);
    if (prev < 0 || c->members[prev].a.starts_at <= mb->a.starts_at)
        RESERVED(map_put(&c->fpmap, mb->a.fingerprint, m));
}

int correlate_incident_restore(struct correlate *c, const json_t *state,
                               struct qerr *err)
{
    const char *id, *st;
    const json_t *scope, *groups, *alerts;
    const char *v[QUENCH_MAX_RULE_LABELS];
    char path[64];
    int64_t sc;
    uint64_t h = 0;
    uint32_t s, *gids = NULL;
    size_t ngroups, nalerts, nloaded = 0;
    struct loaded *ld = NULL;
    struct incident fresh, *inc;
    struct plan p;
    int64_t opened_at, closed_at, last_activity, last_resolved;
    int rc = -1, room, open;

    delta_reset(c);
    memset(&fresh, 0, sizeof fresh);
    memset(&p, 0, sizeof p);
    id = json_string_value(json_object_get(state, "id"));
    st = json_string_value(json_object_get(state, "state"));
    scope = json_object_get(state, "scope");
    groups = json_object_get(state, "groups");
    alerts = json_object_get(state, "alerts");
    if (id == NULL || st == NULL || !json_is_array(scope) ||
        json_array_size(scope) != c->r->scope.n || !json_is_array(groups) ||
        !json_is_array(alerts) || json_array_size(alerts) == 0)
        return qerr_set(err, "$", 0, 0, "malformed incident state");
    if (strcmp(st, "open") != 0 && strcmp(st, "closed") != 0)
        return qerr_set(err, "$.state", 0, 0, "state must be open or closed");
    open = strcmp(st, "open") == 0;
    if (correlate_find(c, id) >= 0)
        return qerr_set(err, "$.id", 0, 0, "incident %.24s already held", id);
    if (strlen(id) != 20 || strncmp(id, "inc-", 4) != 0 ||
        strspn(id + 4, "0123456789abcdef") != 16)
        return qerr_set(err, "$.id", 0, 0, "malformed incident id");
    for (int i = 4; i < 20; i++) {
        char ch = id[i];
        h = (h << 4) | (uint64_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
    }
    if (get_time(state, "opened_at", 0, &opened_at) < 0 ||
        get_time(state, "closed_at", 1, &closed_at) < 0 ||
        get_time(state, "last_activity", 0, &last_activity) < 0 ||
        get_time(state, "last_resolved", 0, &last_resolved) < 0 ||
        !open != (closed_at != CORRELATE_NO_TIME))
        return qerr_set(err, "$", 0, 0, "malformed incident times");
    ngroups = json_array_size(groups);
    nalerts = json_array_size(alerts);
    if (nalerts > QUENCH_MAX_ACTIVE_ALERTS)
        return qerr_set(err, "$.alerts", 0, 0, "too many alerts");

    /* Read everything first; strings, scope tuples and group keys this
     * registers, and entities T learns, are no change of C. */
    for (size_t i = 0; i < c->r->scope.n; i++) {
        const json_t *x = json_array_get(scope, i);
        if (!json_is_string(x))
            return qerr_set(err, "$.scope", 0, 0, "scope values must be strings");
        v[i] = intern_str(c->pool, json_string_value(x), json_string_length(x));
        if (v[i] == NULL)
            return qerr_set(err, "$.scope", 0, 0, "out of memory");
    }
    if ((sc = scope_id(c, v)) < 0)
        return qerr_set(err, "$.scope", 0, 0, "out of memory");
    gids = malloc((ngroups ? ngroups : 1) * sizeof *gids);
    ld = calloc(nalerts ? nalerts : 1, sizeof *ld);
    if (gids == NULL || ld == NULL) {
        qerr_set(err, "$", 0, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ngroups; i++) {
        const json_t *x = json_array_get(groups, i);
        const char *gk;
        int64_t gi;
        if (!json_is_string(x)) {
            qerr_set(err, "$.groups", 0, 0, "groups must be strings");
            goto out;
        }
        gk = intern_str(c->pool, json_string_value(x), json_string_length(x));
        gi = gk ? group_id(c, gk) : -1;
        if (gi < 0) {
            qerr_set(err, "$.groups", 0, 0, "out of memory");
            goto out;
        }
        gids[i] = (uint32_t)gi;
    }
    for (; nloaded < nalerts; nloaded++) {
        snprintf(path, sizeof path, "$.alerts[%zu]", nloaded);
        if (load_member(c, json_array_get(alerts, nloaded), &ld[nloaded], path,
                        err) < 0)
            goto out;
    }

    /* reserve first: nothing from the line below on can fail */
    p.members = p.changes = (uint32_t)nalerts;
    p.updated = 1;
    p.deadlines = (uint32_t)open;
    p.closed = (uint32_t)!open;
    if ((room = incident_reserve(c)) == 0)
        room = member_reserve(c, (uint32_t)nalerts);
    if (room == -2) {
        qerr_set(err, "$", 0, 0, "too many incidents or alerts");
        goto out;
    }
    if (room < 0 ||
        plan_restore(c, &p, (uint32_t)sc, open, ld, nalerts, gids, ngroups) < 0 ||
        plan_reserve(c, &p, &fresh) < 0 || map_reserve(&c->idmap, 1) < 0 ||
        map_reserve(&c->fpmap, nalerts) < 0)
        goto oom;

    /* ---- */
    s = incident_take(c, &fresh);
    inc = inc_at(c, s);
    inc->scope = (uint32_t)sc;
    inc->state = open ? CORRELATE_OPEN : CORRELATE_CLOSED;
    inc->opened_at = opened_at;
    inc->closed_at = closed_at;
    inc->last_activity = last_activity;
    inc->last_resolved = last_resolved;
    memcpy(inc->id, id, CORRELATE_ID_SIZE);
    inc->idhash = h;
    RESERVED(map_put(&c->idmap, h, s));
    for (size_t i = 0; i < ngroups; i++)
        RESERVED(incident_index(c, s, -1, gids[i]));
    for (size_t i = 0; i < nalerts; i++)
        restore_member(c, s, &ld[i]);
    if (inc->state == CORRELATE_OPEN && inc->nfiring == 0)
        RESERVED(schedule_close(c, s));
    if (inc->state == CORRELATE_CLOSED)
        RESERVED(vec_push(&c->closed_fifo, s));
    if (inc->last_activity > c->clock)
        c->clock = inc->last_activity;
    RESERVED(delta_updated(c, s));
    /* its alerts may have taught T a pod's service that an incident
     * restored before indexed without (a repair; out of memory it waits
     * for the pod's next alert). A closed incident teaches T too. */
    for (uint32_t i = 0; i < inc->entities.n; i++)
        (void)late_services(c, (int32_t)inc->entities.v[i]);
    rc = 0;
    goto out;
oom:
    qerr_set(err, "$", 0, 0, "out of memory");
out:
    spare_trim(c);              /* the plan may have made many */
    for (size_t i = 0; ld != NULL && i < nloaded; i++)
        loaded_free(&ld[i]);
    free(ld);
    free(gids);
    incident_release(&fresh);
    return rc;
}

int correlate_restore(struct correlate *c, const json_t *state,
                      struct qerr *err)
{
    const json_t *incs = json_object_get(state, "incidents");
    const json_t *clock = json_object_get(state, "clock");

    if (!json_is_integer(json_object_get(state, "version")) ||
        json_integer_value(json_object_get(state, "version")) != 1)
        return qerr_set(err, "$.version", 0, 0, "unsupported state version");
    if (!json_is_array(incs))
        return qerr_set(err, "$.incidents", 0, 0, "expected an array");
    for (size_t i = 0; i < json_array_size(incs); i++) {
        if (correlate_incident_restore(c, json_array_get(incs, i), err) < 0) {
            char src[sizeof err->source];
            if (err != NULL) {
                snprintf(src, sizeof src, "$.incidents[%zu]%s", i,
                         err->source[0] == '$' ? err->source + 1 : "");
                memcpy(err->source, src, sizeof src);
            }
            return -1;
        }
    }
    if (json_is_integer(clock) && json_integer_value(clock) > c->clock)
        c->clock = json_integer_value(clock);
    delta_reset(c);
    return 0;
}

/* ---- change log --------------------------------------------------------- */

void correlate_track_changes(struct correlate *c, int on)
{
    c->track = on != 0;
    if (!c->track)
        correlate_changes_clear(c);
}

const uint32_t *correlate_changes(const struct correlate *c, size_t *n,
                                  int *lost)
{
    *n = c->changes.n;
    *lost = c->changes_lost;
    return c->changes.v;
}

const struct correlate_move *correlate_moves(const struct correlate *c,
                                             size_t *n)
{
    *n = c->nmoves;
    return c->moves;
}

void correlate_changes_clear(struct correlate *c)
{
    c->changes.n = 0;
    c->nmoves = 0;
    c->changes_lost = 0;
    if (c->moves_cap > 4096) {
        free(c->moves);
        c->moves = NULL;
        c->moves_cap = 0;
    }
    /* A burst's log is not kept for ever: the capacity shrinks back once
     * it is far above what the rounds need. */
    if (c->changes.cap > 65536) {
        vec_free(&c->changes);
    }
}

/* ---- test-only invariant check ------------------------------------------ */

#ifdef QUENCH_UNITTESTS
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond))                                                          \
            return qerr_set(err, NULL, 0, 0, __VA_ARGS__);                    \
    } while (0)

static int list_has(const struct correlate *c, const struct u64map *m,
                    uint64_t key, uint32_t s)
{
    const struct u32vec *l = index_get(c, m, key);
    return l != NULL && vec_has(l, s);
}

/* Every entry of index M names an open incident of the key's scope that
 * holds the key's entity, service pod or group; lists are non-empty,
 * without repeats, each used by one key; the dense arrays agree. The
 * entries of emap and pmap under `across` are those under the scopes. */
static int check_index(const struct correlate *c, const struct u64map *m,
                       const char *name, uint8_t *owner, struct qerr *err)
{
    int half = dense_half(c, m);

    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] == 0)
            continue;
        uint64_t key = m->keys[i];
        uint32_t l = m->vals[i] - 1, scope = (uint32_t)(key >> 32), id = (uint32_t)key;
        int across = scope == c->across;
        const struct u32vec *v;
        CHECK(l < c->nlists && !owner[l], "%s: list %u bad or shared", name, l);
        owner[l] = 1;
        v = &c->lists[l];
        CHECK(v->n > 0, "%s: empty list under a key", name);
        for (uint32_t k = 0; k < v->n; k++) {
            uint32_t s = v->v[k], found = 0;
            const struct incident *inc;
            CHECK(s < c->nincs && c->incs[s].used, "%s: slot %u not used", name, s);
            inc = &c->incs[s];
            CHECK(inc->state == CORRELATE_OPEN, "%s: slot %u not open", name, s);
            CHECK(across || inc->scope == scope, "%s: slot %u under another scope",
                  name, s);
            /* across scopes: exactly what the scoped index holds */
            CHECK(m != &c->gmap || !across, "gmap: a key under across");
            CHECK(m == &c->gmap ||
                      list_has(c, m, ekey(across ? inc->scope : c->across, id), s),
                  "%s: slot %u not both under its scope and across", name, s);
            for (uint32_t j = k + 1; j < v->n; j++)
                CHECK(v->v[j] != s, "%s: slot %u twice", name, s);
            if (m == &c->gmap)
                found = id == ANY_GROUP ? inc->in_scope_list : vec_has(&inc->groups, id);
            for (uint32_t j = 0; m != &c->gmap && j < inc->entities.n && !found; j++)
                found = m == &c->emap
                            ? inc->entities.v[j] == id
                            : topology_pod_service(c->t, inc->entities.v[j]) == (int32_t)id;
            CHECK(found, "%s: slot %u does not hold key %u", name, s, id);
        }
        if (half >= 0 && scope < c->dense_cap && !c->dense[scope].off) {
            const struct dense *d = &c->dense[scope];
            uint32_t e = v->n == 1 && v->v[0] < DENSE_ONE ? DENSE_ONE | v->v[0] : l + 1;
            CHECK(id < d->n && d->v[(size_t)id * 2 + (size_t)half] == e,
                  "%s: dense entry of %u disagrees", name, id);
        }
    }
    return 0;
}

/* The dense arrays say no more than the maps: an entry, and a bit, only
 * where a key is. */
static int check_dense(const struct correlate *c, struct qerr *err)
{
    for (uint32_t sc = 0; sc < c->dense_cap; sc++) {
        const struct dense *d = &c->dense[sc];
        for (uint32_t id = 0; !d->off && id < d->n; id++) {
            uint32_t e0 = d->v[(size_t)id * 2], e1 = d->v[(size_t)id * 2 + 1];
            int bit = d->any[id / 64] >> (id % 64) & 1;
            CHECK(bit == ((e0 | e1) != 0), "dense: bit of %u wrong", id);
            CHECK(!e0 || map_get(&c->emap, ekey(sc, id)) >= 0, "dense: stale emap %u", id);
            CHECK(!e1 || map_get(&c->pmap, ekey(sc, id)) >= 0, "dense: stale pmap %u", id);
        }
    }
    return 0;
}

/* wmap lists exactly the open incidents holding a weak member of its
 * entity, in lists of its own (OWNER as check_index marks them). */
static int check_wmap(const struct correlate *c, uint8_t *owner, struct qerr *err)
{
    for (size_t i = 0; i < c->wmap.cap; i++) {
        const struct u32vec *l;
        uint32_t e = (uint32_t)c->wmap.keys[i], li;
        if (c->wmap.vals[i] == 0)
            continue;
        li = c->wmap.vals[i] - 1;
        CHECK(li < c->nlists && !owner[li], "wmap: entity %u: list %u out of range or shared",
              e, li);
        owner[li] = 1;
        l = &c->lists[li];
        CHECK(l->n > 0, "wmap: entity %u: empty list", e);
        for (uint32_t k = 0; k < l->n; k++) {
            CHECK(l->v[k] < c->nincs && c->incs[l->v[k]].used &&
                  c->incs[l->v[k]].state == CORRELATE_OPEN &&
                  weak_holds(c, &c->incs[l->v[k]], e),
                  "wmap: entity %u -> incident %u, which holds no weak member of it",
                  e, l->v[k]);
            for (uint32_t j = 0; j < k; j++)
                CHECK(l->v[j] != l->v[k], "wmap: entity %u lists incident %u twice", e,
                      l->v[k]);
        }
    }
    return 0;
}

static int check_incident(const struct correlate *c, uint32_t s, struct qerr *err)
{
    const struct incident *inc = &c->incs[s];
    uint32_t firing = 0;

    CHECK(map_get(&c->idmap, inc->idhash) == (int64_t)s, "incident %u: idmap", s);
    if (inc->state == CORRELATE_MERGED) {
        CHECK(inc->members.n == 0 && inc->weak.n == 0 && inc->nfiring == 0 &&
              inc->merged_into < c->nincs,
              "incident %u: merged but holds members", s);
        return 0;
    }
    CHECK(inc->members.n > 0, "incident %u: no members", s);
    if (inc->entities.n > 1) {
        uint32_t *v = malloc(inc->entities.n * sizeof *v);
        int dup = 0;
        CHECK(v != NULL, "out of memory");
        memcpy(v, inc->entities.v, inc->entities.n * sizeof *v);
        qsort(v, inc->entities.n, sizeof *v, cmp_u32);
        for (uint32_t i = 1; i < inc->entities.n && !dup; i++)
            dup = v[i] == v[i - 1];
        free(v);
        CHECK(!dup, "incident %u: an entity listed twice", s);
    }
    for (uint32_t i = 0; i < inc->weak.n; i++) {
        const struct member *mb = &c->members[inc->weak.v[i]];
        CHECK(inc->weak.v[i] < c->nmembers && mb->incident == s && mb->weak &&
              mb->entity >= 0, "incident %u: weak member %u is not", s,
              inc->weak.v[i]);
    }
    for (uint32_t i = 0; i < inc->members.n; i++) {
        uint32_t m = inc->members.v[i];
        const struct member *mb = &c->members[m];
        CHECK(m < c->nmembers && mb->incident == s && mb->pos == i,
              "incident %u: member %u points elsewhere", s, m);
        CHECK(!mb->weak || mb->entity < 0 || vec_has(&inc->weak, m),
              "incident %u: weak member %u not listed", s, m);
        if (inc->state == CORRELATE_OPEN && mb->weak && mb->entity >= 0)
            CHECK(index_holds(c, &c->wmap, (uint64_t)mb->entity, s),
                  "incident %u: weak member %u not in wmap", s, m);
        firing += mb->a.status == ALERT_FIRING;
        if (mb->entity >= 0)
            CHECK(vec_has(&inc->entities, (uint32_t)mb->entity),
                  "incident %u: entity of member %u not listed", s, m);
        if (inc->state == CORRELATE_OPEN && mb->entity >= 0 && !mb->weak)
            CHECK(indexed(c, s, (uint32_t)mb->entity),
                  "incident %u: entity of member %u not indexed", s, m);
    }
    if (inc->state == CORRELATE_CLOSED) {
        CHECK(inc->nfiring == 0 && inc->closed_at != CORRELATE_NO_TIME,
              "incident %u: closed but firing", s);
        return 0;
    }
    CHECK(inc->nfiring == firing, "incident %u: nfiring %u, %u firing", s,
          inc->nfiring, firing);
    CHECK(inc->in_scope_list && list_has(c, &c->gmap, ekey(inc->scope, ANY_GROUP), s),
          "incident %u: not in its scope's list", s);
    for (uint32_t i = 0; i < inc->groups.n; i++)
        CHECK(list_has(c, &c->gmap, ekey(inc->scope, inc->groups.v[i]), s),
              "incident %u: group %u not indexed", s, inc->groups.v[i]);
    for (uint32_t i = 0; i < inc->entities.n; i++) {
        uint32_t e = inc->entities.v[i];
        int32_t svc = topology_pod_service(c->t, e);
        if (indexed(c, s, e) && svc >= 0)
            CHECK(list_has(c, &c->pmap, ekey(inc->scope, (uint32_t)svc), s),
                  "incident %u: pod %u's service not indexed", s, e);
    }
    if (inc->nfiring == 0) {
        int due = 0;
        for (size_t i = 0; i < c->nheap && !due; i++)
            due = c->heap[i].slot == s &&
                  c->heap[i].at == inc->last_resolved + c->r->resolve_quiet_ms;
        CHECK(due, "incident %u: resolved but no close deadline", s);
    }
    return 0;
}

void correlate_cross_work(const struct correlate *c, uint64_t *scopes,
                          uint64_t *lookups)
{
    *scopes = c->scope_visits;
    *lookups = c->cross_lookups;
}

int correlate_check(const struct correlate *c, struct qerr *err)
{
    uint32_t live = 0, used = 0, nlive = 0;
    uint8_t *owner;
    int rc = 0;

    CHECK(c->stamp_cap >= c->nincs, "stamp array short");
    for (uint32_t m = 0; m < c->nmembers; m++) {
        const struct member *mb = &c->members[m];
        int64_t f;
        if (mb->incident == NONE)
            continue;
        live++;
        CHECK(mb->incident < c->nincs && c->incs[mb->incident].used &&
                  c->incs[mb->incident].state != CORRELATE_MERGED,
              "member %u: in no live incident", m);
        f = map_get(&c->fpmap, mb->a.fingerprint);
        CHECK(f >= 0 && c->members[f].incident != NONE &&
                  c->members[f].a.fingerprint == mb->a.fingerprint &&
                  c->members[f].a.starts_at >= mb->a.starts_at,
              "member %u: fpmap does not lead to its newest", m);
    }
    CHECK(live == c->members_live, "members_live %u, %u live", c->members_live, live);
    for (size_t i = 0; i < c->fpmap.cap; i++)
        if (c->fpmap.vals[i] != 0) {
            uint32_t m = c->fpmap.vals[i] - 1;
            CHECK(m < c->nmembers && c->members[m].incident != NONE &&
                      c->members[m].a.fingerprint == c->fpmap.keys[i],
                  "fpmap: entry leads to a free or other member");
        }
    for (uint32_t i = 0; i < c->free_members.n; i++)
        CHECK(c->free_members.v[i] < c->nmembers &&
                  c->members[c->free_members.v[i]].incident == NONE,
              "free member %u in use", c->free_members.v[i]);
    for (uint32_t i = 0; i < c->free_incs.n; i++)
        CHECK(c->free_incs.v[i] < c->nincs && !c->incs[c->free_incs.v[i]].used,
              "free incident %u in use", c->free_incs.v[i]);
    for (uint32_t s = 0; s < c->nincs; s++) {
        if (!c->incs[s].used)
            continue;
        used++;
        if (check_incident(c, s, err) < 0)
            return -1;
    }
    CHECK(c->idmap.n == used, "idmap holds %zu ids, %u incidents", c->idmap.n, used);
    /* live lists exactly the scopes with a (scope, ANY_GROUP) list */
    CHECK(c->live.cap >= c->nscopes && c->live_pos_cap >= c->nscopes,
          "live: room for %u of %u scopes", c->live.cap, c->nscopes);
    for (uint32_t k = 0; k < c->nscopes; k++) {
        const struct u32vec *l = index_get(c, &c->gmap, ekey(k, ANY_GROUP));
        uint32_t at = c->live_pos[k];
        if (l != NULL && l->n > 0) {
            CHECK(at < c->live.n && c->live.v[at] == k, "scope %u: open, not live", k);
            nlive++;
        } else {
            CHECK(at == NONE, "scope %u: live without an open incident", k);
        }
    }
    CHECK(nlive == c->live.n, "live lists %u scopes, %u open", c->live.n, nlive);
    owner = calloc(c->nlists ? c->nlists : 1, 1);
    CHECK(owner != NULL, "out of memory");
    if (check_index(c, &c->emap, "emap", owner, err) < 0 ||
        check_index(c, &c->pmap, "pmap", owner, err) < 0 ||
        check_index(c, &c->gmap, "gmap", owner, err) < 0 || check_dense(c, err) < 0 ||
        check_wmap(c, owner, err) < 0)
        rc = -1;
    for (uint32_t i = 0; rc == 0 && i < c->free_lists.n; i++)
        if (c->free_lists.v[i] >= c->nlists || owner[c->free_lists.v[i]] ||
            c->lists[c->free_lists.v[i]].n != 0)
            rc = qerr_set(err, NULL, 0, 0, "free list %u in use", c->free_lists.v[i]);
    free(owner);
    return rc;
}
#endif
