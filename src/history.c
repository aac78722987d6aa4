/* history.c - a bounded timeline of closed incidents and the (entity,
 * alertname) pairs each held.
 *
 * Three structures:
 *  - inc[]: a ring of remembered incidents, oldest first, each a close
 *    time and a contiguous run in refs[]; close times never decrease
 *    (history_record raises an older one), so "closed within the
 *    horizon" is a binary search;
 *  - refs[]: a ring of pair indices, the runs of inc[] in the same order;
 *  - pairs: entries (names, and the close times of every remembered
 *    incident that held the pair, ascending) behind an open-addressing
 *    hash with linear probing.
 *
 * Every close time is kept, not only the newest few: the engine looks a
 * pair up at its incident's opened_at, which may lie well in the past
 * when a rank state is rebuilt late (replay renders at the end), and the
 * answer must not depend on when it is asked. Sorted times make a lookup
 * two binary searches.
 *
 * Forgetting is FIFO: the oldest incident goes first, and for each of its
 * pairs that is the pair's oldest time, so a pair's times only ever lose
 * their first element. A pair no remembered incident holds is deleted
 * (backward-shift deletion keeps probe chains intact without tombstones).
 *
 * Invariants: ninc <= QUENCH_HISTORY_MAX_INCIDENTS; nrefs <=
 * QUENCH_HISTORY_MAX_REFS and equals the sum of the incidents' runs and of
 * the entries' live times (n - start); an entry is live iff it has one.
 * Nothing depends on addresses or arrival beyond the order of
 * history_record calls, so equal calls give equal answers. */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

struct hinc {
    int64_t closed_at;
    uint32_t off;           /* first index in refs[] */
    uint32_t n;             /* pairs */
};

struct hentry {
    char *entity;           /* owned; entity and alertname in one block */
    const char *alertname;  /* inside the entity block */
    uint64_t hash;
    int64_t *t;             /* close times t[start..n), ascending; owned */
    uint32_t start, n, cap; /* n - start = remembered incidents holding it */
    uint32_t next_free;     /* free list, index + 1 */
};

struct history {
    struct history_config cfg;
    struct hinc *inc;       /* QUENCH_HISTORY_MAX_INCIDENTS */
    uint32_t inc_head, ninc;
    uint32_t *refs;         /* QUENCH_HISTORY_MAX_REFS */
    uint32_t refs_head, nrefs;
    struct hentry *e;
    uint32_t ne, ecap;      /* used prefix (live or on the free list), allocated */
    uint32_t free_head;     /* index + 1 */
    uint32_t npairs;
    uint32_t *slot;         /* entry index + 1, 0 empty */
    uint32_t slot_cap;      /* power of two, >= 2 * ecap */
};

static uint64_t pair_hash(const char *entity, const char *alertname)
{
    uint64_t h = 1469598103934665603ULL;
    const char *s;

    for (s = entity; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    /* a separator no name holds, so ("ab", "c") differs from ("a", "bc") */
    h = (h ^ 0xffu) * 1099511628211ULL;
    for (s = alertname; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ^ (h >> 29);
}

/* NAME cut to QUENCH_HISTORY_MAX_NAME - 1 bytes into BUF. */
static const char *cut(const char *name, char buf[QUENCH_HISTORY_MAX_NAME])
{
    size_t n = name ? strlen(name) : 0;

    if (n < QUENCH_HISTORY_MAX_NAME)
        return name ? name : "";
    memcpy(buf, name, QUENCH_HISTORY_MAX_NAME - 1);
    buf[QUENCH_HISTORY_MAX_NAME - 1] = '\0';
    return buf;
}

const char *history_entity_name(const struct topology *t, uint32_t id,
                                char *buf, size_t n)
{
    const struct topology_entity *te = topology_entity(t, id);
    int32_t svc;

    if (te == NULL)
        return NULL;
    svc = te->kind == ENTITY_POD ? topology_pod_service(t, id) : -1;
    if (svc < 0 || n == 0)
        return te->name;
    snprintf(buf, n, "pods of %s", topology_entity(t, (uint32_t)svc)->name);
    return buf;
}

int history_new(struct history **out, const struct history_config *cfg)
{
    struct history *h;

    *out = NULL;
    if (cfg == NULL || cfg->window_ms <= 0)
        return -1;
    h = calloc(1, sizeof *h);
    if (h == NULL)
        return -1;
    h->cfg = *cfg;
    h->inc = malloc(QUENCH_HISTORY_MAX_INCIDENTS * sizeof *h->inc);
    h->refs = malloc(QUENCH_HISTORY_MAX_REFS * sizeof *h->refs);
    if (h->inc == NULL || h->refs == NULL) {
        history_free(h);
        return -1;
    }
    *out = h;
    return 0;
}

static void entries_clear(struct history *h)
{
    for (uint32_t i = 0; i < h->ne; i++) {
        free(h->e[i].entity);
        free(h->e[i].t);
    }
    free(h->e);
    free(h->slot);
}

void history_free(struct history *h)
{
    if (h == NULL)
        return;
    entries_clear(h);
    free(h->inc);
    free(h->refs);
    free(h);
}

size_t history_incidents(const struct history *h)
{
    return h->ninc;
}

size_t history_pairs(const struct history *h)
{
    return h->npairs;
}

/* ---- the pair table ------------------------------------------------------ */

/* Slot index holding ENTITY/ALERTNAME, or of the empty slot ending its
 * probe chain. */
static uint32_t probe(const struct history *h, uint64_t hash,
                      const char *entity, const char *alertname)
{
    uint32_t mask = h->slot_cap - 1, j = (uint32_t)hash & mask;

    while (h->slot[j] != 0) {
        const struct hentry *x = &h->e[h->slot[j] - 1];
        if (x->hash == hash && strcmp(x->entity, entity) == 0 &&
            strcmp(x->alertname, alertname) == 0)
            return j;
        j = (j + 1) & mask;
    }
    return j;
}

static int64_t find(const struct history *h, const char *entity,
                    const char *alertname)
{
    uint32_t j;

    if (h->slot_cap == 0)
        return -1;
    j = probe(h, pair_hash(entity, alertname), entity, alertname);
    return h->slot[j] ? (int64_t)h->slot[j] - 1 : -1;
}

/* Room for NEED more live entries: grows the entry array and rehashes.
 * Changes no answer. 0 or -1 OOM. */
static int reserve(struct history *h, uint32_t need)
{
    uint32_t want = h->npairs + need, cap, scap;
    struct hentry *e;
    uint32_t *s;

    if (want <= h->ecap)
        return 0;
    cap = h->ecap ? h->ecap : 64;
    while (cap < want)
        cap *= 2;
    if (cap > QUENCH_HISTORY_MAX_REFS)
        cap = QUENCH_HISTORY_MAX_REFS;
    for (scap = 16; scap < 2 * cap; scap *= 2)
        ;
    e = realloc(h->e, (size_t)cap * sizeof *e);
    if (e == NULL)
        return -1;
    h->e = e;
    h->ecap = cap;
    s = calloc(scap, sizeof *s);
    if (s == NULL)
        return -1;
    for (uint32_t i = 0; i < h->ne; i++) {
        uint32_t j;
        if (h->e[i].entity == NULL)
            continue;
        j = (uint32_t)h->e[i].hash & (scap - 1);
        while (s[j] != 0)
            j = (j + 1) & (scap - 1);
        s[j] = i + 1;
    }
    free(h->slot);
    h->slot = s;
    h->slot_cap = scap;
    return 0;
}

/* Delete live entry I (its last time just went). */
static void entry_delete(struct history *h, uint32_t i)
{
    struct hentry *x = &h->e[i];
    uint32_t mask = h->slot_cap - 1;
    uint32_t hole = probe(h, x->hash, x->entity, x->alertname), j = hole;

    /* backward shift: move later members of the chain into the hole
     * unless their home lies cyclically in (hole, j] */
    for (;;) {
        uint32_t home;
        j = (j + 1) & mask;
        if (h->slot[j] == 0)
            break;
        home = (uint32_t)h->e[h->slot[j] - 1].hash & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            h->slot[hole] = h->slot[j];
            hole = j;
        }
    }
    h->slot[hole] = 0;
    free(x->entity);
    free(x->t);
    x->entity = NULL;
    x->t = NULL;
    x->alertname = NULL;
    x->next_free = h->free_head;
    h->free_head = i + 1;
    h->npairs--;
}

/* Forget the oldest incident. */
static void forget_oldest(struct history *h)
{
    struct hinc *in = &h->inc[h->inc_head];

    for (uint32_t k = 0; k < in->n; k++) {
        uint32_t i = h->refs[(in->off + k) % QUENCH_HISTORY_MAX_REFS];
        struct hentry *x = &h->e[i];
        /* FIFO: this incident is the pair's oldest time */
        x->start++;
        if (x->start == x->n)
            entry_delete(h, i);
    }
    h->refs_head = (h->refs_head + in->n) % QUENCH_HISTORY_MAX_REFS;
    h->nrefs -= in->n;
    h->inc_head = (h->inc_head + 1) % QUENCH_HISTORY_MAX_INCIDENTS;
    h->ninc--;
}

/* ---- recording ----------------------------------------------------------- */

struct pending {
    uint64_t hash;
    const char *entity, *alertname;
    char *block;            /* prepared names, taken by a new entry */
    int64_t *times;         /* prepared times, taken by a new entry */
};

static int cmp_pending(const void *x, const void *y)
{
    const struct pending *a = x, *b = y;
    int c;

    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    c = strcmp(a->entity, b->entity);
    return c ? c : strcmp(a->alertname, b->alertname);
}

#define TIMES0 4    /* first allocation of an entry's times */

/* Room for one more time in entry I (capacity only: no answer changes).
 * 0 or -1 OOM. */
static int times_room(struct hentry *x)
{
    int64_t *nt;
    uint32_t cap;

    if (x->n < x->cap)
        return 0;
    if (x->start > 0) {
        /* slide the live times down instead of growing */
        memmove(x->t, x->t + x->start, (size_t)(x->n - x->start) * sizeof *x->t);
        x->n -= x->start;
        x->start = 0;
        return 0;
    }
    cap = x->cap * 2;
    nt = realloc(x->t, (size_t)cap * sizeof *nt);
    if (nt == NULL)
        return -1;
    x->t = nt;
    x->cap = cap;
    return 0;
}

static void insert_hit(struct history *h, struct pending *p, int64_t t,
                       uint32_t at)
{
    uint32_t j = probe(h, p->hash, p->entity, p->alertname), i;
    struct hentry *x;

    if (h->slot[j] != 0) {
        i = h->slot[j] - 1;
    } else {
        if (h->free_head != 0) {
            i = h->free_head - 1;
            h->free_head = h->e[i].next_free;
        } else {
            i = h->ne++;
        }
        x = &h->e[i];
        memset(x, 0, sizeof *x);
        x->entity = p->block;
        x->alertname = p->block + strlen(p->block) + 1;
        x->hash = p->hash;
        x->t = p->times;
        x->cap = TIMES0;
        p->block = NULL;
        p->times = NULL;
        h->slot[j] = i + 1;
        h->npairs++;
    }
    x = &h->e[i];
    /* room was made before the store changed (history_record) */
    x->t[x->n++] = t;
    h->refs[at % QUENCH_HISTORY_MAX_REFS] = i;
}

int history_record(struct history *h, int64_t closed_at,
                   const struct history_pair *pairs, size_t n,
                   struct qerr *err)
{
    struct pending *p = NULL;
    size_t m = 0, i;
    uint32_t off;
    int rc = -1;
    char (*cuts)[2][QUENCH_HISTORY_MAX_NAME] = NULL;

    if (n > 0) {
        p = calloc(n, sizeof *p);
        cuts = malloc(n * sizeof *cuts);
        if (p == NULL || cuts == NULL) {
            qerr_set(err, NULL, 0, 0, "history: out of memory");
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        p[i].entity = cut(pairs[i].entity, cuts[i][0]);
        p[i].alertname = cut(pairs[i].alertname, cuts[i][1]);
        p[i].hash = pair_hash(p[i].entity, p[i].alertname);
    }
    /* distinct pairs, in a canonical order: the refs of an incident do not
     * depend on the order the caller listed its alerts in */
    if (n > 0)
        qsort(p, n, sizeof *p, cmp_pending);
    for (i = 0; i < n; i++)
        if (m == 0 || cmp_pending(&p[m - 1], &p[i]) != 0)
            p[m++] = p[i];
    if (m > QUENCH_HISTORY_MAX_INCIDENT_PAIRS) {
        qerr_set(err, NULL, 0, 0,
                 "history: incident holds %zu distinct pairs, over the cap "
                 "of %u; not recorded", m,
                 (unsigned)QUENCH_HISTORY_MAX_INCIDENT_PAIRS);
        goto out;
    }
    /* Everything that can fail happens before the store changes: names
     * and times for every pair (an existing pair may be forgotten by the
     * eviction below and come back new), and room for one more time in
     * every existing one (forgetting only frees room). */
    for (i = 0; i < m; i++) {
        size_t le = strlen(p[i].entity), la = strlen(p[i].alertname);
        int64_t k = find(h, p[i].entity, p[i].alertname);
        p[i].block = malloc(le + la + 2);
        p[i].times = malloc(TIMES0 * sizeof *p[i].times);
        if (p[i].block == NULL || p[i].times == NULL ||
            (k >= 0 && times_room(&h->e[k]) < 0)) {
            qerr_set(err, NULL, 0, 0, "history: out of memory");
            goto out;
        }
        memcpy(p[i].block, p[i].entity, le + 1);
        memcpy(p[i].block + le + 1, p[i].alertname, la + 1);
    }
    if (reserve(h, (uint32_t)m) < 0) {
        qerr_set(err, NULL, 0, 0, "history: out of memory");
        goto out;
    }
    while (h->ninc > 0 && (h->ninc == QUENCH_HISTORY_MAX_INCIDENTS ||
                           h->nrefs + m > QUENCH_HISTORY_MAX_REFS))
        forget_oldest(h);
    if (h->ninc > 0) {
        int64_t newest =
            h->inc[(h->inc_head + h->ninc - 1) % QUENCH_HISTORY_MAX_INCIDENTS]
                .closed_at;
        if (closed_at < newest)
            closed_at = newest;
    }
    off = (h->refs_head + h->nrefs) % QUENCH_HISTORY_MAX_REFS;
    for (i = 0; i < m; i++)
        insert_hit(h, &p[i], closed_at, off + (uint32_t)i);
    h->nrefs += (uint32_t)m;
    h->inc[(h->inc_head + h->ninc) % QUENCH_HISTORY_MAX_INCIDENTS] =
        (struct hinc){closed_at, off, (uint32_t)m};
    h->ninc++;
    rc = 0;
out:
    for (i = 0; i < m; i++) {
        free(p[i].block);
        free(p[i].times);
    }
    free(p);
    free(cuts);
    return rc;
}

/* ---- lookups ------------------------------------------------------------- */

/* Times of X that are <= T. */
static uint32_t times_by(const struct hentry *x, int64_t t)
{
    uint32_t lo = x->start, hi = x->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (x->t[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - x->start;
}

/* Remembered incidents with closed_at <= T (close times are sorted). */
static uint32_t closed_by(const struct history *h, int64_t t)
{
    uint32_t lo = 0, hi = h->ninc;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (h->inc[(h->inc_head + mid) % QUENCH_HISTORY_MAX_INCIDENTS]
                .closed_at <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void history_lookup(const struct history *h, const char *entity,
                    const char *alertname, int64_t now,
                    struct history_hits *out)
{
    char b1[QUENCH_HISTORY_MAX_NAME], b2[QUENCH_HISTORY_MAX_NAME];
    /* (now - window, now], without overflowing at either end */
    int64_t from = now > INT64_MIN + h->cfg.window_ms ? now - h->cfg.window_ms
                                                      : INT64_MIN;
    int64_t i;

    out->seen = 0;
    out->of = closed_by(h, now) - closed_by(h, from);
    i = find(h, cut(entity, b1), cut(alertname, b2));
    if (i >= 0)
        out->seen = times_by(&h->e[i], now) - times_by(&h->e[i], from);
}

double history_recurrence(const struct history *h, const char *entity,
                          const char *alertname, int64_t now,
                          struct history_hits *hits)
{
    struct history_hits x;

    history_lookup(h, entity, alertname, now, &x);
    if (hits != NULL)
        *hits = x;
    if (x.seen == 0 || x.seen < h->cfg.min_incidents)
        return 0.0;
    /* A count, not the share seen / of: in a fleet most incidents are
     * elsewhere, and a share would call a pod that alerted in 5 of 50
     * incidents today new. seen / (seen + 1) is 1/2 after one incident,
     * 2/3 after two, and nears 1 for "it always fires"; with weight 1 the
     * surprise is divided by seen + 1, an incident-level IDF. */
    return (double)x.seen / ((double)x.seen + 1.0);
}

/* ---- persistence --------------------------------------------------------- */

json_t *history_dump(const struct history *h)
{
    json_t *root = json_object(), *arr = json_array();

    if (root == NULL || arr == NULL ||
        json_object_set_new(root, "version", json_integer(1)) < 0 ||
        json_object_set_new(root, "incidents", arr) < 0) {
        json_decref(root);
        return NULL;
    }
    for (uint32_t k = 0; k < h->ninc; k++) {
        const struct hinc *in =
            &h->inc[(h->inc_head + k) % QUENCH_HISTORY_MAX_INCIDENTS];
        json_t *o = json_object(), *ps = json_array();
        if (json_array_append_new(arr, o) < 0 || ps == NULL ||
            json_object_set_new(o, "closed_at", json_integer(in->closed_at)) < 0 ||
            json_object_set_new(o, "pairs", ps) < 0)
            goto fail;
        for (uint32_t q = 0; q < in->n; q++) {
            const struct hentry *x =
                &h->e[h->refs[(in->off + q) % QUENCH_HISTORY_MAX_REFS]];
            if (json_array_append_new(ps, json_pack("[ss]", x->entity,
                                                    x->alertname)) < 0)
                goto fail;
        }
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}

int history_restore(struct history *h, const json_t *j, struct qerr *err)
{
    struct history *tmp = NULL, swap;
    struct history_pair *pairs = NULL;
    const json_t *incs, *v;
    size_t k;
    int rc = -1;

    v = json_object_get(j, "version");
    incs = json_object_get(j, "incidents");
    if (!json_is_integer(v) || json_integer_value(v) != 1 ||
        !json_is_array(incs)) {
        qerr_set(err, "history", 0, 0,
                 "history dump needs \"version\": 1 and an \"incidents\" list");
        goto out;
    }
    if (history_new(&tmp, &h->cfg) < 0) {
        qerr_set(err, "history", 0, 0, "history: out of memory");
        goto out;
    }
    for (k = 0; k < json_array_size(incs); k++) {
        const json_t *in = json_array_get(incs, k);
        const json_t *t = json_object_get(in, "closed_at");
        const json_t *ps = json_object_get(in, "pairs");
        size_t q, n;
        struct history_pair *np;
        if (!json_is_integer(t) || !json_is_array(ps)) {
            qerr_set(err, "history", 0, 0,
                     "incident %zu needs an integer closed_at and a pairs list", k);
            goto out;
        }
        n = json_array_size(ps);
        np = realloc(pairs, (n ? n : 1) * sizeof *np);
        if (np == NULL) {
            qerr_set(err, "history", 0, 0, "history: out of memory");
            goto out;
        }
        pairs = np;
        for (q = 0; q < n; q++) {
            const json_t *pr = json_array_get(ps, q);
            const json_t *e = json_array_get(pr, 0), *a = json_array_get(pr, 1);
            if (!json_is_array(pr) || json_array_size(pr) != 2 ||
                !json_is_string(e) || !json_is_string(a)) {
                qerr_set(err, "history", 0, 0,
                         "incident %zu pair %zu is not [entity, alertname]", k, q);
                goto out;
            }
            pairs[q] = (struct history_pair){json_string_value(e),
                                             json_string_value(a)};
        }
        if (history_record(tmp, json_integer_value(t), pairs, n, err) < 0)
            goto out;
    }
    /* swap contents, so H keeps its address and the old ones are freed */
    swap = *h;
    *h = *tmp;
    *tmp = swap;
    rc = 0;
out:
    free(pairs);
    history_free(tmp);
    return rc;
}
