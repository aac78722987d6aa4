/* topology.c - the service graph: services.yaml through ytree, plus the
 * pods, nodes and unknown services that alerts bring in at run time.
 *
 * Invariants:
 * - Entity ids are dense, 0..count-1, in the order entities were added
 *   (declared services in document order, then run-time entities in the
 *   order they were met), so the same inputs give the same ids.
 * - Adjacency is one struct adj per entity and direction. For the declared
 *   graph it points into one compact CSR block (cap == 0: borrowed); the
 *   first run-time edge on an entity copies its slice into an owned,
 *   growable array (cap > 0). topology_out/in thus always return one
 *   contiguous array, and an untouched declared graph costs 8 B per edge
 *   per direction.
 * - Entities live in fixed-size blocks that never move, so the pointers
 *   topology_entity returns stay valid until topology_free; names live in
 *   an append-only arena for the same reason.
 * - Names are looked up through one open-addressing table keyed on (name
 *   class, name): the service-like kinds share one class, pods and nodes
 *   have their own.
 * - topology_neighbours takes a const graph but stamps a visited array in a
 *   separately allocated scratch struct: a BFS without allocation. This
 *   makes concurrent neighbour queries on one graph unsafe; quench runs the
 *   core on one thread. */
#include "topology.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "ytree.h"

#define ENT_BLOCK_SHIFT 10
#define ENT_BLOCK (1u << ENT_BLOCK_SHIFT)
#define NAME_ARENA_BLOCK (64u * 1024)

struct adj {
    uint32_t *ids;
    uint32_t n;
    uint32_t cap;         /* 0: ids borrowed from the CSR block (or NULL) */
    uint32_t head;        /* ids[0..head) are not pods and, unless mixed, */
    uint32_t mixed;       /* every pod comes after them: a walk that skips a
                           * service's pods stops at head, however many pods
                           * the service has */
};

struct name_block {
    struct name_block *next;
    size_t used, cap;
    char data[];
};

struct scratch {
    uint32_t *mark;       /* visit stamps, one per entity */
    uint32_t cap;
    uint32_t gen;
};

struct topology {
    struct topology_entity **blocks;   /* ENT_BLOCK entities each */
    uint32_t nblocks;
    uint32_t count;
    struct adj *out, *in;              /* count entries used */
    uint8_t *kinds;                    /* each entity's kind, again: the
                                        * walk reads the kind of every
                                        * entity it meets, and a byte array
                                        * stays in cache where the ~100 B
                                        * entities do not */
    struct topology_span *seen;        /* when alerts named each entity:
                                        * pods churn, and rank must count
                                        * only the pods alive around an
                                        * incident (topology_seen) */
    uint32_t adj_cap;                  /* entries of out, in, kinds, seen */
    uint64_t version;                  /* topology_version */
    uint32_t *csr;                     /* declared edges: out ids, then in ids */
    uint32_t *slots;                   /* hash: id + 1, 0 = empty */
    uint32_t nslots;                   /* power of two */
    struct name_block *names;
    const char *default_ns;            /* in the name arena; "" if none */
    struct scratch *sc;
};

/* ---- small helpers ------------------------------------------------------ */

static const char *arena_strdup(struct topology *t, const char *s, size_t len)
{
    struct name_block *b = t->names;
    char *p;

    if (b == NULL || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > NAME_ARENA_BLOCK ? len + 1 : NAME_ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = t->names;
        t->names = b;
    }
    p = b->data + b->used;
    memcpy(p, s, len);
    p[len] = '\0';
    b->used += len + 1;
    return p;
}

static unsigned name_class(enum entity_kind k)
{
    if (k == ENTITY_POD)
        return 1;
    if (k == ENTITY_NODE)
        return 2;
    return 0;
}

/* FNV-1a 64 over the class byte and the name, folded to 32 bits. */
static uint32_t name_hash(unsigned cls, const char *s)
{
    uint64_t h = 1469598103934665603ull;

    h = (h ^ cls) * 1099511628211ull;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

static struct topology_entity *ent(const struct topology *t, uint32_t id)
{
    return &t->blocks[id >> ENT_BLOCK_SHIFT][id & (ENT_BLOCK - 1)];
}

static int32_t lookup(const struct topology *t, unsigned cls, const char *name,
                      uint32_t *slot_out)
{
    uint32_t mask = t->nslots - 1;
    uint32_t i = name_hash(cls, name) & mask;

    for (;; i = (i + 1) & mask) {
        uint32_t v = t->slots[i];
        if (v == 0) {
            if (slot_out != NULL)
                *slot_out = i;
            return -1;
        }
        const struct topology_entity *e = ent(t, v - 1);
        if (name_class(e->kind) == cls && strcmp(e->name, name) == 0)
            return (int32_t)(v - 1);
    }
}

static int rehash(struct topology *t, uint32_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    uint32_t id, mask = nslots - 1;

    if (slots == NULL)
        return -1;
    for (id = 0; id < t->count; id++) {
        const struct topology_entity *e = ent(t, id);
        uint32_t i = name_hash(name_class(e->kind), e->name) & mask;
        while (slots[i] != 0)
            i = (i + 1) & mask;
        slots[i] = id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* Room for one more entity in every per-entity array. */
static int reserve_entity(struct topology *t)
{
    uint32_t n = t->count + 1;

    if (t->count >= QUENCH_MAX_ENTITIES)
        return -1;
    if ((t->count >> ENT_BLOCK_SHIFT) >= t->nblocks) {
        struct topology_entity **b =
            realloc(t->blocks, (t->nblocks + 1) * sizeof *b);
        if (b == NULL)
            return -1;
        t->blocks = b;
        b[t->nblocks] = calloc(ENT_BLOCK, sizeof **b);
        if (b[t->nblocks] == NULL)
            return -1;
        t->nblocks++;
    }
    if (n > t->adj_cap) {
        uint32_t cap = t->adj_cap ? t->adj_cap * 2 : 64;
        struct adj *o = realloc(t->out, cap * sizeof *o);
        if (o == NULL)
            return -1;
        t->out = o;
        struct adj *in = realloc(t->in, cap * sizeof *in);
        if (in == NULL)
            return -1;
        t->in = in;
        uint8_t *k = realloc(t->kinds, cap);
        if (k == NULL)
            return -1;
        t->kinds = k;
        struct topology_span *sp = realloc(t->seen, cap * sizeof *sp);
        if (sp == NULL)
            return -1;
        t->seen = sp;
        t->adj_cap = cap;
    }
    if (n > t->sc->cap) {
        uint32_t cap = t->sc->cap ? t->sc->cap * 2 : 64;
        uint32_t *m = realloc(t->sc->mark, cap * sizeof *m);
        if (m == NULL)
            return -1;
        memset(m + t->sc->cap, 0, (cap - t->sc->cap) * sizeof *m);
        t->sc->mark = m;
        t->sc->cap = cap;
    }
    if ((uint64_t)n * 2 > t->nslots && rehash(t, t->nslots * 2) < 0)
        return -1;
    return 0;
}

/* Append a new entity; NAME must not exist yet. Id or -1. */
static int32_t add_entity(struct topology *t, enum entity_kind kind,
                          const char *name, size_t len)
{
    struct topology_entity *e;
    uint32_t id = t->count, slot = 0;
    const char *copy;

    if (reserve_entity(t) < 0)
        return -1;
    copy = arena_strdup(t, name, len);
    if (copy == NULL)
        return -1;
    /* After reserve_entity, which may have rehashed. */
    (void)lookup(t, name_class(kind), copy, &slot);
    e = ent(t, id);
    e->kind = kind;
    e->name = copy;
    e->criticality = CRIT_MEDIUM;
    e->declared = 0;
    if (entity_kind_is_service_like(kind)) {
        e->namespace_ = t->default_ns;
        e->workload_kind = "Deployment";
        e->workload_name = copy;
    } else {
        e->namespace_ = "";
        e->workload_kind = "";
        e->workload_name = "";
    }
    t->out[id] = (struct adj){ .ids = NULL };
    t->in[id] = (struct adj){ .ids = NULL };
    t->kinds[id] = (uint8_t)kind;
    t->seen[id] = (struct topology_span){ INT64_MAX, INT64_MIN };
    t->sc->mark[id] = 0;
    t->slots[slot] = id + 1;
    t->count++;
    t->version++;
    return (int32_t)id;
}

/* Append V; a borrowed CSR slice is first copied into an owned array. */
static int adj_push(struct adj *a, uint32_t v)
{
    if (a->cap == 0 || a->n == a->cap) {
        uint32_t cap = a->n < 2 ? 4 : a->n * 2;
        uint32_t *ids = malloc(cap * sizeof *ids);
        if (ids == NULL)
            return -1;
        if (a->n > 0)
            memcpy(ids, a->ids, a->n * sizeof *ids);
        if (a->cap > 0)
            free(a->ids);
        a->ids = ids;
        a->cap = cap;
    }
    a->ids[a->n++] = v;
    return 0;
}

static struct topology *alloc_topology(const char *default_ns)
{
    struct topology *t = calloc(1, sizeof *t);

    if (t == NULL)
        return NULL;
    t->sc = calloc(1, sizeof *t->sc);
    t->slots = calloc(64, sizeof *t->slots);
    t->nslots = 64;
    if (t->sc == NULL || t->slots == NULL)
        goto fail;
    t->default_ns = arena_strdup(t, default_ns ? default_ns : "",
                                 default_ns ? strlen(default_ns) : 0);
    if (t->default_ns == NULL)
        goto fail;
    return t;
fail:
    topology_free(t);
    return NULL;
}

/* ---- lifetime ----------------------------------------------------------- */

int topology_new_empty(struct topology **out)
{
    *out = alloc_topology(NULL);
    return *out ? 0 : -1;
}

void topology_free(struct topology *t)
{
    uint32_t i;

    if (t == NULL)
        return;
    for (i = 0; i < t->count; i++) {
        if (t->out[i].cap > 0)
            free(t->out[i].ids);
        if (t->in[i].cap > 0)
            free(t->in[i].ids);
    }
    for (i = 0; i < t->nblocks; i++)
        free(t->blocks[i]);
    free(t->blocks);
    free(t->out);
    free(t->in);
    free(t->kinds);
    free(t->seen);
    free(t->csr);
    free(t->slots);
    while (t->names != NULL) {
        struct name_block *next = t->names->next;
        free(t->names);
        t->names = next;
    }
    if (t->sc != NULL)
        free(t->sc->mark);
    free(t->sc);
    free(t);
}

/* ---- loading ------------------------------------------------------------ */

static const char *const top_keys[] = { "services", NULL };
static const char *const service_keys[] = {
    "calls", "uses", "criticality", "namespace", "workload", "kind", NULL
};
static const char *const workload_keys[] = { "kind", "name", NULL };

static int oom(const struct ytree_doc *d, const struct ytree_node *n,
               struct qerr *err)
{
    return ytree_error(d, n, err, "out of memory or more than %u entities",
                       (unsigned)QUENCH_MAX_ENTITIES);
}

/* A non-empty string scalar without NUL. */
static int name_string(const struct ytree_doc *d, const struct ytree_node *n,
                       const char *what, const char **out, struct qerr *err)
{
    if (ytree_string(d, n, out, err) < 0)
        return -1;
    if (n->value_len == 0 || ytree_is_null(n))
        return ytree_error(d, n, err, "%s must not be empty", what);
    return 0;
}

static int read_service(struct topology *t, const struct ytree_doc *d,
                        const struct ytree_node *key,
                        const struct ytree_node *val, struct qerr *err)
{
    const struct ytree_node *n;
    const char *name, *s;
    enum entity_kind kind = ENTITY_SERVICE;
    struct topology_entity *e;
    int32_t id;

    if (name_string(d, key, "a service name", &name, err) < 0)
        return -1;
    if (lookup(t, 0, name, NULL) >= 0)
        return ytree_error(d, key, err, "service '%s' is declared twice", name);
    if (val != NULL && !ytree_is_null(val)) {
        if (ytree_check_keys(d, val, service_keys, err) < 0)
            return -1;
        n = ytree_get(val, "kind");
        if (n != NULL) {
            if (ytree_string(d, n, &s, err) < 0)
                return -1;
            if (entity_kind_parse(s, &kind) < 0 ||
                !entity_kind_is_service_like(kind))
                return ytree_error(d, n, err,
                                   "kind must be one of service, database, "
                                   "cache, queue, external");
        }
    }
    id = add_entity(t, kind, name, key->value_len);
    if (id < 0)
        return oom(d, key, err);
    e = ent(t, (uint32_t)id);
    e->declared = 1;
    if (val == NULL || ytree_is_null(val))
        return 0;

    n = ytree_get(val, "criticality");
    if (n != NULL) {
        if (ytree_string(d, n, &s, err) < 0)
            return -1;
        if (strcmp(s, "high") == 0)
            e->criticality = CRIT_HIGH;
        else if (strcmp(s, "medium") == 0)
            e->criticality = CRIT_MEDIUM;
        else if (strcmp(s, "low") == 0)
            e->criticality = CRIT_LOW;
        else
            return ytree_error(d, n, err,
                               "criticality must be one of high, medium, low");
    }
    n = ytree_get(val, "namespace");
    if (n != NULL) {
        if (name_string(d, n, "namespace", &s, err) < 0)
            return -1;
        e->namespace_ = arena_strdup(t, s, n->value_len);
        if (e->namespace_ == NULL)
            return oom(d, n, err);
    }
    n = ytree_get(val, "workload");
    if (n != NULL) {
        const struct ytree_node *w;
        if (ytree_check_keys(d, n, workload_keys, err) < 0)
            return -1;
        w = ytree_get(n, "kind");
        if (w != NULL) {
            if (name_string(d, w, "workload kind", &s, err) < 0)
                return -1;
            e->workload_kind = arena_strdup(t, s, w->value_len);
            if (e->workload_kind == NULL)
                return oom(d, w, err);
        }
        w = ytree_get(n, "name");
        if (w != NULL) {
            if (name_string(d, w, "workload name", &s, err) < 0)
                return -1;
            e->workload_name = arena_strdup(t, s, w->value_len);
            if (e->workload_name == NULL)
                return oom(d, w, err);
        }
    }
    /* calls/uses are checked in the second pass, once all names are known;
     * here only their shape. */
    static const char *const lists[] = { "calls", "uses" };
    for (size_t l = 0; l < 2; l++) {
        n = ytree_get(val, lists[l]);
        if (n != NULL && !ytree_is_null(n) && n->type != YTREE_SEQ)
            return ytree_error(d, n, err, "%s must be a list of service names",
                               lists[l]);
    }
    return 0;
}

struct edge {
    uint32_t from, to;
};

/* Second pass: resolve calls/uses into EDGES, refusing unknown targets,
 * self-edges and duplicates (a stamp per target in the scratch marks). */
static int read_edges(struct topology *t, const struct ytree_doc *d,
                      const struct ytree_node *services, struct edge **edges,
                      size_t *nedges, struct qerr *err)
{
    static const char *const lists[] = { "calls", "uses" };
    size_t cap = 0, i, l, j;

    for (i = 0; i < services->len; i++) {
        const struct ytree_node *val = services->pairs[i].value;
        uint32_t from = (uint32_t)i, gen;

        if (val == NULL || ytree_is_null(val))
            continue;
        gen = ++t->sc->gen;
        for (l = 0; l < 2; l++) {
            const struct ytree_node *seq = ytree_get(val, lists[l]);
            if (seq == NULL || ytree_is_null(seq))
                continue;
            for (j = 0; j < seq->len; j++) {
                const struct ytree_node *item = seq->items[j];
                const char *name;
                int32_t to;

                if (name_string(d, item, "a service name", &name, err) < 0)
                    return -1;
                to = lookup(t, 0, name, NULL);
                if (to < 0)
                    return ytree_error(d, item, err,
                                       "%s '%s': no such service in services",
                                       lists[l], name);
                if ((uint32_t)to == from)
                    return ytree_error(d, item, err,
                                       "service '%s' cannot depend on itself",
                                       name);
                if (t->sc->mark[to] == gen)
                    return ytree_error(d, item, err,
                                       "'%s' is listed twice in calls/uses",
                                       name);
                t->sc->mark[to] = gen;
                if (*nedges == cap) {
                    size_t ncap = cap ? cap * 2 : 256;
                    struct edge *e;
                    if (ncap > QUENCH_MAX_DECLARED_EDGES)
                        ncap = QUENCH_MAX_DECLARED_EDGES;
                    if (*nedges >= ncap)
                        return ytree_error(d, item, err,
                                           "more than %u edges in calls/uses",
                                           (unsigned)QUENCH_MAX_DECLARED_EDGES);
                    e = realloc(*edges, ncap * sizeof *e);
                    if (e == NULL)
                        return oom(d, item, err);
                    *edges = e;
                    cap = ncap;
                }
                (*edges)[(*nedges)++] = (struct edge){ from, (uint32_t)to };
            }
        }
    }
    return 0;
}

/* Lay EDGES (grouped by from, in document order) out as CSR, both ways.
 * In-lists come out sorted by source id (counting sort is stable). */
static int build_csr(struct topology *t, const struct edge *edges, size_t n)
{
    uint32_t *pos = NULL;
    size_t i;
    int rc = -1;

    if (n == 0)
        return 0;
    t->csr = malloc(2 * n * sizeof *t->csr);
    pos = calloc(t->count + 1, sizeof *pos);
    if (t->csr == NULL || pos == NULL)
        goto out;
    uint32_t *outs = t->csr, *ins = t->csr + n;
    for (i = 0; i < n; i++) {
        outs[i] = edges[i].to;
        t->out[edges[i].from].n++;
        t->in[edges[i].to].n++;
    }
    /* out: edges are already grouped by from in increasing order. */
    size_t off = 0;
    for (uint32_t v = 0; v < t->count; v++) {
        t->out[v].ids = t->out[v].n ? outs + off : NULL;
        t->out[v].head = t->out[v].n;     /* declared edges are never pods */
        off += t->out[v].n;
    }
    off = 0;
    for (uint32_t v = 0; v < t->count; v++) {
        t->in[v].ids = t->in[v].n ? ins + off : NULL;
        pos[v] = (uint32_t)off;
        off += t->in[v].n;
    }
    for (i = 0; i < n; i++)
        ins[pos[edges[i].to]++] = edges[i].from;
    rc = 0;
out:
    free(pos);
    return rc;
}

static int load_doc(struct topology *t, const struct ytree_doc *d,
                    struct qerr *err)
{
    const struct ytree_node *root = ytree_root(d), *services;
    struct edge *edges = NULL;
    size_t nedges = 0, i;
    int rc = -1;

    if (root == NULL || ytree_is_null(root))
        return 0;
    if (ytree_check_keys(d, root, top_keys, err) < 0)
        return -1;
    services = ytree_get(root, "services");
    if (services == NULL || ytree_is_null(services))
        return 0;
    if (services->type != YTREE_MAP)
        return ytree_error(d, services, err,
                           "services must be a map of service name to settings");
    if (services->len > QUENCH_MAX_ENTITIES)
        return ytree_error(d, services, err, "more than %u services",
                           (unsigned)QUENCH_MAX_ENTITIES);
    for (i = 0; i < services->len; i++)
        if (read_service(t, d, services->pairs[i].key,
                         services->pairs[i].value, err) < 0)
            goto out;
    if (read_edges(t, d, services, &edges, &nedges, err) < 0)
        goto out;
    if (build_csr(t, edges, nedges) < 0) {
        qerr_set(err, ytree_source(d), 0, 0, "out of memory");
        goto out;
    }
    rc = 0;
out:
    free(edges);
    return rc;
}

/* Build *out from the parsed document D (freed here), SOURCE naming it. */
static int load_parsed(struct topology **out, struct ytree_doc *d,
                       const char *source, const char *default_ns,
                       struct qerr *err)
{
    struct topology *t = alloc_topology(default_ns);
    int rc = -1;

    if (t == NULL) {
        qerr_set(err, source, 0, 0, "out of memory");
        goto out;
    }
    if (load_doc(t, d, err) < 0)
        goto out;
    *out = t;
    t = NULL;
    rc = 0;
out:
    topology_free(t);
    ytree_free(d);
    return rc;
}

int topology_load_buf(struct topology **out, const char *buf, size_t len,
                      const char *source, const char *default_ns,
                      struct qerr *err)
{
    struct ytree_doc *d = NULL;

    *out = NULL;
    if (ytree_load_buf(&d, buf, len, source, err) < 0)
        return -1;
    return load_parsed(out, d, source, default_ns, err);
}

int topology_load(struct topology **out, const char *path,
                  const char *default_ns, struct qerr *err)
{
    struct ytree_doc *d = NULL;

    *out = NULL;
    if (ytree_load_file(&d, path, err) < 0)
        return -1;
    return load_parsed(out, d, path, default_ns, err);
}

/* ---- queries and run-time additions -------------------------------------- */

uint32_t topology_count(const struct topology *t)
{
    return t->count;
}

void topology_seen(struct topology *t, uint32_t id, int64_t from_ms, int64_t to_ms)
{
    struct topology_span *sp;

    if (id >= t->count)
        return;
    sp = &t->seen[id];
    /* A ranking counts a pod by whether its span reaches the incident
     * (QUENCH_RANK_LIVE_MS): only a new first sighting, or a last one that
     * jumps by that much, can change what a cached ranking said. Small
     * steps of a pod that keeps alerting do not bump the version. */
    if (from_ms < sp->first) {
        sp->first = from_ms;
        t->version++;
    }
    if (to_ms > sp->last) {
        if (sp->last == INT64_MIN || to_ms - sp->last >= QUENCH_RANK_LIVE_MS)
            t->version++;
        sp->last = to_ms;
    }
}

uint64_t topology_version(const struct topology *t)
{
    return t->version;
}

struct topology_span topology_seen_span(const struct topology *t, uint32_t id)
{
    if (id >= t->count)
        return (struct topology_span){ INT64_MAX, INT64_MIN };
    return t->seen[id];
}

int32_t topology_find(const struct topology *t, enum entity_kind kind,
                      const char *name)
{
    if (name == NULL || (unsigned)kind >= ENTITY_KIND_COUNT)
        return -1;
    return lookup(t, name_class(kind), name, NULL);
}

int32_t topology_intern(struct topology *t, enum entity_kind kind,
                        const char *name)
{
    int32_t id;

    if (name == NULL || (unsigned)kind >= ENTITY_KIND_COUNT)
        return -1;
    id = lookup(t, name_class(kind), name, NULL);
    if (id >= 0)
        return id;
    return add_entity(t, kind, name, strlen(name));
}

static int adj_has(const struct adj *a, uint32_t v)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (a->ids[i] == v)
            return 1;
    return 0;
}

int topology_link(struct topology *t, uint32_t from, uint32_t to)
{
    if (from >= t->count || to >= t->count || from == to)
        return -1;
    /* Scan the shorter list: a node can have hundreds of pods, a pod one
     * node. */
    if (t->out[from].n <= t->in[to].n ? adj_has(&t->out[from], to)
                                      : adj_has(&t->in[to], from))
        return 0;
    if (adj_push(&t->out[from], to) < 0)
        return -1;
    if (ent(t, to)->kind != ENTITY_POD) {
        if (t->out[from].head == t->out[from].n - 1)
            t->out[from].head++;
        else
            t->out[from].mixed = 1;
    }
    if (adj_push(&t->in[to], from) < 0) {
        t->out[from].n--;
        return -1;
    }
    t->version++;
    return 0;
}

enum entity_kind topology_kind(const struct topology *t, uint32_t id)
{
    return id < t->count ? (enum entity_kind)t->kinds[id] : ENTITY_KIND_COUNT;
}

const struct topology_entity *topology_entity(const struct topology *t,
                                              uint32_t id)
{
    return id < t->count ? ent(t, id) : NULL;
}

size_t topology_out(const struct topology *t, uint32_t id, const uint32_t **ids)
{
    if (id >= t->count) {
        *ids = NULL;
        return 0;
    }
    *ids = t->out[id].ids;
    return t->out[id].n;
}

size_t topology_in(const struct topology *t, uint32_t id, const uint32_t **ids)
{
    if (id >= t->count) {
        *ids = NULL;
        return 0;
    }
    *ids = t->in[id].ids;
    return t->in[id].n;
}

int32_t topology_pod_service(const struct topology *t, uint32_t pod)
{
    if (pod >= t->count || ent(t, pod)->kind != ENTITY_POD)
        return -1;
    for (uint32_t i = 0; i < t->in[pod].n; i++) {
        uint32_t s = t->in[pod].ids[i];
        if (entity_kind_is_service_like(ent(t, s)->kind))
            return (int32_t)s;
    }
    return -1;
}

int topology_neighbours(const struct topology *t, uint32_t id, unsigned hops,
                        uint32_t *out, size_t cap)
{
    return topology_neighbours_ex(t, id, hops, 0, out, cap);
}

int topology_neighbours_ex(const struct topology *t, uint32_t id,
                           unsigned hops, unsigned flags, uint32_t *out,
                           size_t cap)
{
    struct scratch *sc = t->sc;
    size_t n = 0, level_start = 0;
    uint32_t gen;

    if (id >= t->count)
        return -1;
    if (cap == 0)
        return 0;
    if (cap > (size_t)INT32_MAX)
        cap = INT32_MAX;
    gen = ++sc->gen;
    if (gen == 0) {       /* wrapped: old stamps could collide */
        memset(sc->mark, 0, sc->cap * sizeof *sc->mark);
        gen = sc->gen = 1;
    }
    out[n++] = id;
    sc->mark[id] = gen;
    for (unsigned h = 0; h < hops; h++) {
        size_t level_end = n;
        if (level_start == level_end)
            break;
        for (size_t i = level_start; i < level_end; i++) {
            const struct adj *dirs[2] = { &t->out[out[i]], &t->in[out[i]] };
            int skip = (flags & TOPOLOGY_SKIP_SERVICE_PODS) &&
                       entity_kind_is_service_like((enum entity_kind)t->kinds[out[i]]);
            for (int k = 0; k < 2; k++) {
                uint32_t end = skip && k == 0 && !dirs[k]->mixed ? dirs[k]->head
                                                                 : dirs[k]->n;
                for (uint32_t j = 0; j < end; j++) {
                    uint32_t v = dirs[k]->ids[j];
                    if (sc->mark[v] == gen)
                        continue;
                    if (skip && t->kinds[v] == ENTITY_POD)
                        continue;
                    if (n == cap)
                        return (int)n;
                    sc->mark[v] = gen;
                    out[n++] = v;
                }
            }
        }
        level_start = level_end;
    }
    return (int)n;
}
