/* rank.c - causal root-cause ranking for one incident.
 *
 * The state is the incident's alert list (one slot per key, replaced on
 * update) plus an interned alertname table. rank_compute works only on the
 * incident's entities and their direct neighbours:
 *
 *  1. Alerts are grouped per (entity, alertname). A group's surprise is
 *       w * sev * n(alertname)^-BETA * (1 + LOGC ln k) * T(onset)
 *     where w is the alert_kinds weight, n the number of entities in the
 *     incident that carry the same alertname (a storm of one alertname on
 *     every pod says little about any of them), k the alerts in the group
 *     and T = exp(-max(0, onset - tsym - TOL) / TAU) favours entities
 *     that alerted by the incident's first symptom (tolerant of clock
 *     jitter and scrape alignment; tsym is the first symptom that BURST
 *     entities' symptoms follow within TAU, else the first symptom, else
 *     the first onset). E(v) is the sum over v's groups; a caller's
 *     symptoms move to the end of the chain of dependencies that alerted
 *     no later (explain_symptoms).
 *  2. Local evidence L(c) for every candidate: E(c), plus for a service
 *     the contrast of its pods' mean E against the other pods of the
 *     incident (a fault in the service shows on all its pods), plus the
 *     same for a node and the pods it hosts, minus for a pod the mean of
 *     its siblings (a pod fault stands out from its replicas); times
 *     (1 + FRONTIER) when c alerts and none of its dependencies was
 *     anomalous before it (within the onset tolerance). The strongest
 *     pod of a service or node counts only as much as the next (a
 *     replica far ahead keeps the difference: ranking.md). Then times
 *     (1 + COVER * the share of the symptom evidence that c would
 *     explain: on c itself or its callers, transitively; coverage).
 *  3. A personalised walk on the candidate subgraph, seeded by L and
 *     moving from effects to causes along edges weighted by the cause's
 *     evidence and temporal precedence (a node's weighed down by the
 *     share of the incident's pods it hosts), with a weak edge back to
 *     dependents and a self-loop of max(0, L(u) - max L(dependency)).
 *  4. score = (1 - MIX) L/sum(L) + MIX walk; ties by topology id.
 *
 * Invariants: a[0..n) holds each key once; key_slot maps key -> index+1;
 * names[] never shrinks. Everything in compute is ordered by topology id
 * or by (entity, name, onset, key), never by arrival, so incremental and
 * batch ranking agree exactly. docs/ranking.md has the why of each weight. */
#include "rank.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

/* ---- weights (docs/ranking.md explains each) --------------------------- */

/* Each can be overridden at build time (-DBETA=...) so the bench can
 * sweep them; the shipped values are these. */
#ifndef BETA
#define BETA 0.5            /* alertname rarity exponent */
#endif
#ifndef LOGC
#define LOGC 0.75           /* repeats of one alertname: diminishing */
#endif
#ifndef TOL_MS
#define TOL_MS 30000.0      /* onset tolerance: scrape alignment, jitter */
#endif
#ifndef TAU_MS
#define TAU_MS 120000.0     /* onset decay: about two scrape intervals */
#endif
#ifndef POD_AGG
#define POD_AGG 2.0         /* service: contrast of its pods */
#endif
#ifndef NODE_AGG
#define NODE_AGG 1.0        /* node: contrast of the pods it hosts */
#endif
#ifndef NODE_SPREAD
#define NODE_SPREAD 0.0     /* node: x (alerting pods)^NODE_SPREAD */
#endif
#ifndef SIBLING
#define SIBLING 0.5         /* pod: minus its siblings' mean */
#endif
#ifndef SHARED
#define SHARED 1.0          /* silent dependency shared by symptoms */
#endif
#ifndef FRONTIER
#define FRONTIER 0.25       /* alerting, dependencies quiet */
#endif
#ifndef EXPLAIN
#define EXPLAIN 1.0         /* share of explained symptoms moved to the explainer */
#endif
#ifndef NODE_EVEN
#define NODE_EVEN 1.0       /* node: its strongest pod levelled to the next */
#endif
#ifndef HUB
#define HUB 1.0             /* walk: a node hosting share h of the pods passes on 1 - h */
#endif
#ifndef ONE_REPLICA
#define ONE_REPLICA 1       /* a lone replica's symptoms are its service's */
#endif
#ifndef FAR
#define FAR 2.0             /* ONE_POD: only a pod this many times the next */
#endif
#ifndef ONE_POD
#define ONE_POD 1.0         /* service: its far-ahead pod levelled (1: to the next) */
#endif
#ifndef BURST
#define BURST 4             /* clock: first symptom with symptoms on this many entities within TAU */
#endif
#ifndef COVER
#define COVER 1.0           /* x (1 + COVER * share of the symptoms upstream) */
#endif
#ifndef COVER_W
#define COVER_W 1.0         /* that share by symptom evidence (1) or by services (0) */
#endif
#ifndef ALPHA
#define ALPHA 0.85          /* walk: continue vs restart */
#endif
#ifndef BACK
#define BACK 0.2            /* walk: share of weight back to dependents */
#endif
#ifndef LATE
#define LATE 0.5            /* walk: edge to a cause that alerted later */
#endif
#ifndef MIX
#define MIX 0.15           /* final: share of the walk in the score */
#endif
#ifndef EPS
#define EPS 1e-3            /* walk: silent entities stay reachable */
#endif
#ifndef LIVE_MS
#define LIVE_MS ((double)QUENCH_RANK_LIVE_MS)   /* pod_live */
#endif
#ifndef CONF_A
#define CONF_A (-1.3)       /* confidence = 1 / (1 + exp(-(A + B m))) */
#endif
#ifndef CONF_B
#define CONF_B 5.7          /*   m = (s1 - s2) / s1, fitted: ranking.md */
#endif

#define EV_LEN 240
#define NONE_ID UINT32_MAX  /* no entity */

struct ralert {
    uint64_t key;
    int64_t starts_at;      /* the onset: startsAt less the rule's for */
    int64_t for_ms;
    uint32_t entity;
    uint32_t name;          /* index into names[] */
    double weight;
    double recur;           /* rank_alert.recurrence, in [0, 1] */
    uint32_t seen, of;
    uint8_t cls, sev, firing;
};

struct rank {
    const struct topology *t;
    double recur_weight;    /* rank_set_recurrence_weight */
    struct ralert *a;
    size_t n, cap;
    uint32_t *key_slot;     /* open addressing, index+1, 0 = empty */
    size_t key_cap;
    char **names;
    size_t nnames, names_cap;
    uint32_t *name_slot;    /* index+1 */
    size_t name_cap;

    /* result of the last compute */
    struct rank_cause causes[QUENCH_RANK_MAX_CAUSES];
    size_t ncauses;
    char (*ev)[QUENCH_RANK_MAX_EVIDENCE][EV_LEN];
    const char *evp[QUENCH_RANK_MAX_CAUSES][QUENCH_RANK_MAX_EVIDENCE];
    uint32_t path[QUENCH_RANK_MAX_CAUSES][QUENCH_RANK_MAX_PATH];
};

/* ---- small hashes ------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

/* A map from topology id to local index, rebuilt per compute: a dense
 * array over the topology's ids (calloc'ed, so only the pages the
 * incident touches are ever written or faulted in). Lookups are one load,
 * which is what collecting the pods of candidate nodes and services
 * needs on large graphs. */
struct idmap {
    uint32_t *slot;     /* val + 1, 0 = absent */
    size_t cap;
};

static int idmap_init(struct idmap *m, size_t nids)
{
    m->cap = nids;
    m->slot = calloc(nids ? nids : 1, sizeof *m->slot);
    return m->slot == NULL ? -1 : 0;
}

static void idmap_cleanup(struct idmap *m)
{
    free(m->slot);
    m->slot = NULL;
}

/* Index of ID, or -1. */
static int64_t idmap_get(const struct idmap *m, uint32_t id)
{
    return id < m->cap && m->slot[id] != 0 ? (int64_t)m->slot[id] - 1 : -1;
}

/* Insert ID -> VAL unless present; 1 if inserted. ID < the size given to
 * idmap_init (a topology id of the same compute). */
static int idmap_put(struct idmap *m, uint32_t id, uint32_t val)
{
    if (id >= m->cap || m->slot[id] != 0)
        return 0;
    m->slot[id] = val + 1;
    return 1;
}

/* ---- state ------------------------------------------------------------- */

int rank_new(struct rank **out, const struct topology *t)
{
    struct rank *r = calloc(1, sizeof *r);

    *out = NULL;
    if (r == NULL)
        return -1;
    r->t = t;
    /* 0: recurrence is ignored until the owner opts in with a weight */
    r->recur_weight = 0;
    *out = r;
    return 0;
}

void rank_set_recurrence_weight(struct rank *r, double weight)
{
    r->recur_weight = !(weight > 0) ? 0 : weight > 1 ? 1 : weight;
    r->ncauses = 0;
}

void rank_free(struct rank *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nnames; i++)
        free(r->names[i]);
    free(r->names);
    free(r->name_slot);
    free(r->key_slot);
    free(r->a);
    free(r->ev);
    free(r);
}

size_t rank_alert_count(const struct rank *r)
{
    return r->n;
}

static int key_rehash(struct rank *r, size_t cap)
{
    uint32_t *s = calloc(cap, sizeof *s);

    if (s == NULL)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        size_t j = (size_t)mix64(r->a[i].key) & (cap - 1);
        while (s[j] != 0)
            j = (j + 1) & (cap - 1);
        s[j] = (uint32_t)i + 1;
    }
    free(r->key_slot);
    r->key_slot = s;
    r->key_cap = cap;
    return 0;
}

static int name_rehash(struct rank *r, size_t cap)
{
    uint32_t *s = calloc(cap, sizeof *s);

    if (s == NULL)
        return -1;
    for (size_t i = 0; i < r->nnames; i++) {
        size_t j = (size_t)str_hash(r->names[i]) & (cap - 1);
        while (s[j] != 0)
            j = (j + 1) & (cap - 1);
        s[j] = (uint32_t)i + 1;
    }
    free(r->name_slot);
    r->name_slot = s;
    r->name_cap = cap;
    return 0;
}

/* Index of alertname S (cut to QUENCH_MAX_RANK_NAME), added if new. */
static int64_t name_intern(struct rank *r, const char *s)
{
    char buf[QUENCH_MAX_RANK_NAME];
    size_t j;

    snprintf(buf, sizeof buf, "%s", s ? s : "alert");
    if (2 * (r->nnames + 1) > r->name_cap &&
        name_rehash(r, pow2_at_least(4 * (r->nnames + 1))) < 0)
        return -1;
    j = (size_t)str_hash(buf) & (r->name_cap - 1);
    while (r->name_slot[j] != 0) {
        uint32_t i = r->name_slot[j] - 1;
        if (strcmp(r->names[i], buf) == 0)
            return i;
        j = (j + 1) & (r->name_cap - 1);
    }
    if (r->nnames == r->names_cap) {
        size_t nc = r->names_cap ? 2 * r->names_cap : 16;
        char **nn = realloc(r->names, nc * sizeof *nn);
        if (nn == NULL)
            return -1;
        r->names = nn;
        r->names_cap = nc;
    }
    r->names[r->nnames] = strdup(buf);
    if (r->names[r->nnames] == NULL)
        return -1;
    r->name_slot[j] = (uint32_t)r->nnames + 1;
    return (int64_t)r->nnames++;
}

int rank_update(struct rank *r, const struct rank_alert *a, struct qerr *err)
{
    struct ralert *slot = NULL;
    int64_t name;
    size_t j;

    if (a->entity >= topology_count(r->t))
        return qerr_set(err, NULL, 0, 0, "rank: entity %u not in topology",
                        (unsigned)a->entity);
    if (r->key_cap == 0 && key_rehash(r, 64) < 0)
        return qerr_set(err, NULL, 0, 0, "rank: out of memory");
    j = (size_t)mix64(a->key) & (r->key_cap - 1);
    while (r->key_slot[j] != 0) {
        if (r->a[r->key_slot[j] - 1].key == a->key) {
            slot = &r->a[r->key_slot[j] - 1];
            break;
        }
        j = (j + 1) & (r->key_cap - 1);
    }
    name = name_intern(r, a->alertname);
    if (name < 0)
        return qerr_set(err, NULL, 0, 0, "rank: out of memory");
    if (slot == NULL) {
        if (r->n >= QUENCH_MAX_RANK_ALERTS)
            return qerr_set(err, NULL, 0, 0,
                            "rank: incident holds %u alerts, the cap",
                            (unsigned)QUENCH_MAX_RANK_ALERTS);
        if (r->n == r->cap) {
            size_t nc = r->cap ? 2 * r->cap : 64;
            struct ralert *na = realloc(r->a, nc * sizeof *na);
            if (na == NULL)
                return qerr_set(err, NULL, 0, 0, "rank: out of memory");
            r->a = na;
            r->cap = nc;
        }
        slot = &r->a[r->n];
        /* the key must be in place before a rehash reads it back */
        slot->key = a->key;
        r->key_slot[j] = (uint32_t)r->n + 1;
        r->n++;
        if (2 * r->n > r->key_cap && key_rehash(r, 2 * r->key_cap) < 0) {
            /* the alert is in a[] but not findable: drop it again */
            r->n--;
            return qerr_set(err, NULL, 0, 0, "rank: out of memory");
        }
    }
    slot->key = a->key;
    /* a negative or absurd `for` is a caller's bug: none then */
    slot->for_ms = a->for_ms > 0 && a->for_ms <= QUENCH_MAX_RULE_FOR_MS ? a->for_ms : 0;
    slot->starts_at = a->starts_at - slot->for_ms;
    slot->entity = a->entity;
    slot->name = (uint32_t)name;
    slot->weight = a->weight >= 0 && isfinite(a->weight) ? a->weight : 0;
    slot->cls = (uint8_t)a->cls;
    slot->sev = (uint8_t)a->severity;
    slot->firing = a->firing ? 1 : 0;
    /* NaN and out-of-range values are a caller's bug; clamp them rather
     * than let one alert poison every sum it enters */
    slot->recur = !(a->recurrence > 0) ? 0 : a->recurrence > 1 ? 1 : a->recurrence;
    slot->seen = slot->recur > 0 ? a->recur_seen : 0;
    slot->of = slot->recur > 0 ? a->recur_of : 0;
    /* a new update invalidates the borrowed result */
    r->ncauses = 0;
    return 0;
}

enum rank_severity rank_severity_parse(const char *s)
{
    if (s == NULL)
        return RANK_SEV_WARNING;
    if (strcmp(s, "critical") == 0 || strcmp(s, "error") == 0 ||
        strcmp(s, "page") == 0)
        return RANK_SEV_CRITICAL;
    if (strcmp(s, "info") == 0 || strcmp(s, "none") == 0)
        return RANK_SEV_INFO;
    return RANK_SEV_WARNING;
}

/* ---- compute ----------------------------------------------------------- */

struct sorted {
    uint32_t entity, cname;     /* cname: the name's rank in string order */
    uint32_t name;
    int64_t t;
    uint64_t key;
    uint32_t i;
};

static int cmp_sorted(const void *x, const void *y)
{
    const struct sorted *a = x, *b = y;
    if (a->entity != b->entity)
        return a->entity < b->entity ? -1 : 1;
    if (a->cname != b->cname)
        return a->cname < b->cname ? -1 : 1;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return 0;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

static int is_pod(const struct topology *t, uint32_t id);

/* One (entity, alertname) group. */
struct group {
    uint32_t entity, name, count;
    int64_t onset;
    int64_t for_ms;         /* its alertname's rule `for` (evidence) */
    double surprise;
    int cls;
    int firing;
    double recur;           /* the largest of its alerts' */
    uint32_t seen, of;      /* of the alert with that recurrence */
    uint32_t via;           /* the lone replica it fired on (evidence_owner),
                             * else NONE_ID */
    uint32_t vcount;        /* how many of its alerts fired there (the rest
                             * named the service itself) */
    int64_t vonset;         /* the first of those, INT64_MAX if none */
};

/* Per candidate. */
struct cand {
    uint32_t id;
    uint32_t g0, ng;        /* its groups, contiguous */
    int64_t onset;          /* first alert, INT64_MAX when silent */
    int64_t aonset;         /* with its pods (service) or hosted pods (node) */
    int64_t sonset;         /* first symptom-class alert, INT64_MAX if none */
    double e, esym, l, x, score;
    int32_t explained_by;   /* dependency that explains its symptoms, or -1 */
    uint32_t cover;         /* symptomatic services it would explain */
    double cover_e;         /* their symptom evidence */
    int32_t cover_via;      /* the service that covers them, or -1 */
    int32_t moved_to;       /* where they moved: the end of that chain */
    uint32_t explains;      /* dependents whose symptoms moved here */
    uint32_t npods, nalerting_pods;     /* service or node aggregate */
    double pods_mean, rest_mean, pods_sum;  /* pods_mean as used (levelled) */
    double pods_max, pods_second;   /* its two strongest pods' E */
    int32_t pods_top;       /* the strongest pod's index (if pods_max > 0) */
    double excess;          /* pod: service contrast it stands for alone */
    double excess_most;     /* the largest part of it, from excess_of */
    int levelled;           /* pods_mean counts the strongest as the next */
    int32_t excess_of;      /* the service that gave most (if excess > 0) */
    int frontier;
    uint32_t shared;        /* alerting dependents of a silent entity */
    double lent;            /* lone replica: its symptoms' evidence, counted
                             * on its service but seen by its node */
    int64_t lonset;         /* their first onset, INT64_MAX if none */
    uint32_t nlent;         /* groups lent to it */
    int32_t lent_top;       /* the strongest of them (evidence), or -1 */
    double pods_lent;       /* service: what its pods lent (pod_universe) */
};

struct work {
    struct sorted *s;
    struct group *g;
    size_t ng;
    uint32_t *name_ents;    /* entities per alertname */
    uint32_t *ids;
    struct cand *c;
    size_t nc;
    struct idmap map;
    double *xn;
    int64_t t0, tsym, tmax;     /* first onset, first symptom, last onset */
    size_t npods_universe;      /* pods of the neighbourhood (pod_universe) */
    uint32_t nsym_services;     /* services with symptoms (coverage) */
};

static void work_cleanup(struct work *w)
{
    free(w->s);
    free(w->g);
    free(w->name_ents);
    free(w->ids);
    free(w->c);
    free(w->xn);
    idmap_cleanup(&w->map);
}

static double sev_factor(int sev)
{
    return sev == RANK_SEV_CRITICAL ? 1.5 : sev == RANK_SEV_INFO ? 0.5 : 1.0;
}

static struct cand *cand_of(struct work *w, uint32_t id)
{
    int64_t i = idmap_get(&w->map, id);
    return i < 0 ? NULL : &w->c[i];
}

static int is_pod(const struct topology *t, uint32_t id)
{
    return topology_kind(t, id) == ENTITY_POD;
}

/* Whether pod ID is one of its service's and node's pods around this
 * incident: alerts named it within LIVE_MS before the first onset, or
 * during the incident. The graph keeps every pod name it has seen and a
 * rollout renames them all, so without this a service's "pods" would be
 * every replica it ever had, and the contrast of the live ones would be
 * diluted by the dead (docs/ranking.md, "Pods that are gone"). A pod with
 * an alert in the incident is live by construction; one never recorded
 * (topology_seen not called, as in unit tests) counts. */
static int pod_live(const struct topology *t, const struct work *w, uint32_t id)
{
    struct topology_span sp = topology_seen_span(t, id);

    if (sp.first > sp.last)
        return 1;
    return (double)sp.last >= (double)w->t0 - LIVE_MS &&
           (double)sp.first <= (double)w->tmax + TOL_MS;
}

/* Rarity of an alertname: on how many distinct owners it fires, a pod's
 * owner being its service, so one fault on all replicas of a service
 * counts once while a storm over many services counts for each. */
static int count_owners(struct rank *r, struct work *w)
{
    uint64_t *pairs = malloc((w->ng ? w->ng : 1) * sizeof *pairs);
    size_t i;

    if (pairs == NULL)
        return -1;
    for (i = 0; i < w->ng; i++) {
        uint32_t owner = w->g[i].entity;
        if (is_pod(r->t, owner)) {
            int32_t s = topology_pod_service(r->t, owner);
            if (s >= 0)
                owner = (uint32_t)s;
        }
        pairs[i] = ((uint64_t)w->g[i].name << 32) | owner;
    }
    qsort(pairs, w->ng, sizeof *pairs, cmp_u64);
    for (i = 0; i < w->ng; i++)
        if (i == 0 || pairs[i] != pairs[i - 1])
            w->name_ents[pairs[i] >> 32]++;

    free(pairs);
    return 0;
}

struct name_ref {
    const char *s;
    uint32_t i;
};

static int cmp_name_ref(const void *x, const void *y)
{
    return strcmp(((const struct name_ref *)x)->s,
                  ((const struct name_ref *)y)->s);
}

/* Rank of each interned name in string order. Names are interned in
 * arrival order, which differs between an incident fed alert by alert and
 * one rebuilt after a merge; ordering groups by the string instead makes
 * the float sums, and so the ranking, independent of arrival order. */
static uint32_t *canonical_names(const struct rank *r)
{
    size_t n = r->nnames ? r->nnames : 1, i;
    struct name_ref *refs = malloc(n * sizeof *refs);
    uint32_t *rank = malloc(n * sizeof *rank);

    if (refs == NULL || rank == NULL) {
        free(refs);
        free(rank);
        return NULL;
    }
    for (i = 0; i < r->nnames; i++)
        refs[i] = (struct name_ref){r->names[i], (uint32_t)i};
    qsort(refs, r->nnames, sizeof *refs, cmp_name_ref);
    for (i = 0; i < r->nnames; i++)
        rank[refs[i].i] = (uint32_t)i;
    free(refs);
    return rank;
}

static int cmp_onset_ent(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1];
}

/* The clock's start: the first symptom followed within TAU by symptoms
 * on BURST entities (itself included). A lone symptom minutes before the
 * fault is noise that would age every real cause after it; a fault's
 * symptoms come as a burst over its callers. When no burst is that large
 * (a small system), the first symptom stays the start. One pass of a
 * window over the symptoms in time order, counting alerts per entity, so
 * a storm of one entity's symptoms costs O(n), not O(n * window). The
 * entities are the ones the alerts name (a lone replica and its service
 * count as two): the burst is about how far the symptoms spread over
 * what alerted, which evidence_owner does not change. */
static int burst_start(const struct rank *r, struct work *w)
{
    int64_t (*on)[2] = malloc((r->n ? r->n : 1) * sizeof *on);
    uint32_t *ids = malloc((r->n ? r->n : 1) * sizeof *ids);
    uint32_t *cnt = calloc(r->n ? r->n : 1, sizeof *cnt);
    size_t n = 0, nu = 0, i, hi = 0, distinct = 0;

    if (on == NULL || ids == NULL || cnt == NULL) {
        free(on);
        free(ids);
        free(cnt);
        return -1;
    }
    for (i = 0; i < r->n; i++)
        if (r->a[i].cls == RANK_SYMPTOM) {
            on[n][0] = r->a[i].starts_at;
            on[n][1] = r->a[i].entity;
            ids[n++] = r->a[i].entity;
        }
    /* entities by a dense index into cnt, sized by the incident, not by
     * the graph */
    qsort(ids, n, sizeof *ids, cmp_u32);
    for (i = 0; i < n; i++)
        if (nu == 0 || ids[i] != ids[nu - 1])
            ids[nu++] = ids[i];
    for (i = 0; i < n; i++) {
        uint32_t e = (uint32_t)on[i][1];
        on[i][1] = (uint32_t *)bsearch(&e, ids, nu, sizeof *ids, cmp_u32) - ids;
    }
    qsort(on, n, sizeof *on, cmp_onset_ent);
    for (i = 0; i < n; i++) {
        for (; hi < n && (double)(on[hi][0] - on[i][0]) <= TAU_MS; hi++)
            distinct += cnt[on[hi][1]]++ == 0;
        if (distinct >= BURST) {
            w->tsym = on[i][0];
            break;
        }
        distinct -= --cnt[on[i][1]] == 0;
    }
    free(on);
    free(ids);
    free(cnt);
    return 0;
}

/* The entity alert A is evidence about: its own, except that a symptom
 * on the only live replica of a service is the service's. With one
 * replica "the pod is slow" and "the service is slow" are one fact, and
 * which of the two an alert names is an accident of its source (a
 * span-metrics alert carries the pod, a probe only the service). On the
 * service it explains its callers' symptoms and covers them as the
 * service's own symptoms do; on the pod it was only part of a contrast
 * among pods, where a silent database's latency was lost beside
 * unrelated pods' resource alerts (ranking.md, "One replica's
 * symptoms"). Causes stay on the pod: a replica's CPU is that replica's.
 * With several replicas one pod's latency may be that pod's own fault,
 * so it stays too. LONE memoises per service whether it has one live
 * pod (allocated on first use). Id, or -1 on OOM. */
static int64_t evidence_owner(const struct rank *r, const struct work *w,
                              struct idmap *lone, const struct ralert *a)
{
    const struct topology *t = r->t;
    int32_t sv;
    int64_t one;

    if (!ONE_REPLICA || a->cls != RANK_SYMPTOM || !is_pod(t, a->entity) ||
        !pod_live(t, w, a->entity) ||
        (sv = topology_pod_service(t, a->entity)) < 0)
        return a->entity;
    if (lone->slot == NULL && idmap_init(lone, topology_count(t)) < 0)
        return -1;
    one = idmap_get(lone, (uint32_t)sv);
    if (one < 0) {
        const uint32_t *ids;
        size_t m = topology_out(t, (uint32_t)sv, &ids), live = 0, k;
        for (k = 0; k < m && live < 2; k++)
            live += is_pod(t, ids[k]) && pod_live(t, w, ids[k]);
        one = live == 1;
        idmap_put(lone, (uint32_t)sv, (uint32_t)one);
    }
    return one ? sv : (int64_t)a->entity;
}

/* Group the alerts and compute each group's surprise. */
static int build_groups(struct rank *r, struct work *w)
{
    size_t i;
    uint32_t *cname = canonical_names(r);
    struct idmap lone = {0};

    if (cname == NULL)
        return -1;

    w->s = malloc(r->n * sizeof *w->s);
    w->g = malloc(r->n * sizeof *w->g);
    w->name_ents = calloc(r->nnames ? r->nnames : 1, sizeof *w->name_ents);
    if (w->s == NULL || w->g == NULL || w->name_ents == NULL) {
        free(cname);
        return -1;
    }
    w->t0 = INT64_MAX;
    w->tsym = INT64_MAX;
    w->tmax = INT64_MIN;
    for (i = 0; i < r->n; i++) {
        const struct ralert *a = &r->a[i];
        if (a->starts_at < w->t0)
            w->t0 = a->starts_at;
        if (a->starts_at > w->tmax)
            w->tmax = a->starts_at;
        if (a->cls == RANK_SYMPTOM && a->starts_at < w->tsym)
            w->tsym = a->starts_at;
    }
    /* owners after t0 and tmax: which pods are live depends on them */
    for (i = 0; i < r->n; i++) {
        const struct ralert *a = &r->a[i];
        int64_t owner = evidence_owner(r, w, &lone, a);
        if (owner < 0) {
            idmap_cleanup(&lone);
            free(cname);
            return -1;
        }
        w->s[i] = (struct sorted){(uint32_t)owner, cname[a->name], a->name,
                                  a->starts_at, a->key, (uint32_t)i};
    }
    idmap_cleanup(&lone);
    free(cname);
    if (w->tsym == INT64_MAX)
        w->tsym = w->t0;
    else if (BURST > 1 && burst_start(r, w) < 0)
        return -1;
    qsort(w->s, r->n, sizeof *w->s, cmp_sorted);
    w->ng = 0;
    for (i = 0; i < r->n; i++) {
        const struct ralert *a = &r->a[w->s[i].i];
        struct group *g;
        if (w->ng > 0 && w->g[w->ng - 1].entity == w->s[i].entity &&
            w->g[w->ng - 1].name == a->name) {
            g = &w->g[w->ng - 1];
            g->count++;
            if (w->s[i].entity != a->entity) {
                g->via = a->entity;
                g->vcount++;
                if (a->starts_at < g->vonset)
                    g->vonset = a->starts_at;
            }
            g->firing |= a->firing;
            /* alerts of one pair normally share a recurrence; if they
             * were looked up at different times, the largest counts, so
             * the result does not depend on which alert came first */
            if (a->recur > g->recur ||
                (a->recur == g->recur && a->seen > g->seen)) {
                g->recur = a->recur;
                g->seen = a->seen;
                g->of = a->of;
            }
            /* the group's weight is its strongest alert's */
            if (a->weight * sev_factor(a->sev) > g->surprise)
                g->surprise = a->weight * sev_factor(a->sev);
            continue;
        }
        g = &w->g[w->ng++];
        *g = (struct group){w->s[i].entity, a->name, 1, a->starts_at, a->for_ms,
                            a->weight * sev_factor(a->sev), a->cls,
                            a->firing, a->recur, a->seen, a->of,
                            w->s[i].entity != a->entity ? a->entity : NONE_ID,
                            w->s[i].entity != a->entity,
                            w->s[i].entity != a->entity ? a->starts_at : INT64_MAX};
    }
    if (count_owners(r, w) < 0)
        return -1;
    for (i = 0; i < w->ng; i++) {
        struct group *g = &w->g[i];
        /* the clock starts at the first symptom, not at the incident's
         * first alert: an unrelated alert that happened to come first
         * would otherwise age every real cause after it */
        double late = (double)(g->onset - w->tsym) - TOL_MS;
        double tf = late > 0 ? exp(-late / TAU_MS) : 1.0;
        g->surprise *= pow((double)w->name_ents[g->name], -BETA) *
                       (1.0 + LOGC * log((double)g->count)) * tf;
        /* Background: a pair that recent incidents held too says little
         * about this one (an incident-level IDF). Damping the group, not
         * the final score, keeps E, the contrasts built on it, the walk
         * and the evidence consistent. Skipped at 0 so rankings without
         * history are bit-identical to those before it existed. */
        if (g->recur > 0)
            g->surprise *= 1.0 - r->recur_weight * g->recur;
    }
    return 0;
}

/* The dependency of FROM that best explains C's symptoms, or BEST if
 * none beats it: a service-like entity with alerts of its own that began
 * no later than C's first symptom (within the tolerance), the one with
 * the most evidence, ties to the lower id. A silent dependency is not
 * one: its share of the symptoms is local_evidence's shared-dependency
 * term (moving them to it as well measured worse: ranking.md). */
static struct cand *explainer(const struct topology *t, struct work *w,
                              const struct cand *c, uint32_t from,
                              struct cand *best)
{
    const uint32_t *ids;
    size_t m = topology_out(t, from, &ids), k;

    for (k = 0; k < m; k++) {
        struct cand *d;
        if (ids[k] == c->id ||
            !entity_kind_is_service_like(topology_kind(t, ids[k])))
            continue;
        d = cand_of(w, ids[k]);
        if (d == NULL || d->ng == 0)
            continue;
        if ((double)(d->onset - c->sonset) > TOL_MS)
            continue;
        if (best == NULL || d->e > best->e ||
            (d->e == best->e && d->id < best->id))
            best = d;
    }
    return best;
}

/* Symptoms a dependency explains (Groot's linking rule): latency and
 * errors travel from callee to caller, so a caller's symptom-class alerts
 * say more about an anomalous callee than about the caller. When a
 * service-like dependency of C (for a pod: of its service) alerted no
 * later than C's first symptom, EXPLAIN of C's symptom evidence moves to
 * it. Decided on the evidence as alerted, before any move, so the result
 * does not depend on candidate order. The symptoms then follow the chain
 * to its end: when the explainer's own symptoms are explained in turn,
 * what it explains is explained there too (a -> b -> c moves a's and b's
 * to c; one hop left b holding a's and ranked b above c whenever a was
 * loud: ranking.md). Only symptoms move; a caller's resource alerts stay
 * its own. */
static int explain_symptoms(const struct topology *t, struct work *w)
{
    size_t i;
    uint32_t *seen = calloc(w->nc ? w->nc : 1, sizeof *seen);
    uint32_t *path = malloc((w->nc ? w->nc : 1) * sizeof *path);

    if (seen == NULL || path == NULL) {
        free(seen);
        free(path);
        return -1;
    }

    for (i = 0; i < w->nc; i++) {
        struct cand *c = &w->c[i], *best = NULL;
        enum entity_kind kind = topology_kind(t, c->id);
        if (c->esym <= 0)
            continue;
        if (entity_kind_is_service_like(kind)) {
            best = explainer(t, w, c, c->id, NULL);
        } else if (kind == ENTITY_POD) {
            const uint32_t *sv;
            size_t ms = topology_in(t, c->id, &sv), j;
            for (j = 0; j < ms; j++)
                if (entity_kind_is_service_like(topology_kind(t, sv[j])))
                    best = explainer(t, w, c, sv[j], best);
        }
        if (best != NULL)
            c->explained_by = (int32_t)(best - w->c);
    }
    /* moves after all decisions: d->e above is the evidence as alerted */
    for (i = 0; i < w->nc; i++) {
        struct cand *c = &w->c[i];
        int32_t to = c->explained_by;
        size_t np = 0, k;
        if (to < 0)
            continue;
        /* to the end of the chain. Callers that call each other and
         * alerted together make a cycle: its end is its first member by
         * topology id, wherever the chain entered it, so the result does
         * not hang on how many candidates there are. */
        seen[i] = (uint32_t)i + 1;
        path[np++] = (uint32_t)i;
        while (to >= 0 && seen[to] != (uint32_t)i + 1) {
            seen[to] = (uint32_t)i + 1;
            path[np++] = (uint32_t)to;
            to = w->c[to].explained_by;
        }
        if (to >= 0) {              /* back at path member TO: a cycle */
            int32_t end = to;
            for (k = np; k-- > 0 && path[k] != (uint32_t)to;)
                if (path[k] < (uint32_t)end)
                    end = (int32_t)path[k];
            to = end;
        } else {
            to = (int32_t)path[np - 1];
        }
        if (to == (int32_t)i)       /* C is that first member: it keeps them */
            continue;
        c->moved_to = to;
        c->e -= EXPLAIN * c->esym;
        if (c->e < 0)
            c->e = 0;
        w->c[to].e += EXPLAIN * c->esym;
        w->c[to].explains++;
    }
    /* after the walks, which read the decisions as made */
    for (i = 0; i < w->nc; i++)
        if (w->c[i].moved_to < 0)
            w->c[i].explained_by = -1;
    free(seen);
    free(path);
    return 0;
}

/* What fires on a pod is still its node's to see: a lone replica's
 * symptoms, counted on its service (evidence_owner), are lent back to
 * the pod for its node's aggregates (pod_universe). Only the share that
 * fired on the pod (a service's own alert of the same name shares its
 * group), and after explain_symptoms, so what moved on to a dependency
 * leaves the node's view as it leaves an ordinary pod's E. */
static void lend_to_replicas(struct work *w)
{
    for (size_t i = 0; i < w->ng; i++) {
        const struct group *g = &w->g[i];
        const struct cand *c;
        struct cand *p;
        double part;
        if (g->via == NONE_ID || (p = cand_of(w, g->via)) == NULL)
            continue;
        c = cand_of(w, g->entity);
        part = g->surprise * g->vcount / g->count;
        if (c->moved_to >= 0)
            part *= 1.0 - EXPLAIN;
        p->lent += part;
        p->nlent++;
        if (g->vonset < p->lonset)
            p->lonset = g->vonset;
        if (p->lent_top < 0 || g->surprise > w->g[p->lent_top].surprise)
            p->lent_top = (int32_t)i;
    }
}

/* Alerting entities, their dependencies, and the services of pods. The
 * lone replicas whose symptoms count on their service (evidence_owner)
 * are looked around too: a replica's node is a candidate whether or not
 * it alerts, as it was when the symptoms were the pod's. */
static int build_candidates(struct rank *r, struct work *w)
{
    const struct topology *t = r->t;
    size_t cap = 0, n = 0, no = 0, u, i;
    struct idmap seen = {0};
    uint32_t *orig = malloc((2 * w->ng + 1) * sizeof *orig);

    if (orig == NULL)
        return -1;
    for (i = 0; i < w->ng; i++) {
        orig[no++] = w->g[i].entity;
        if (w->g[i].via != NONE_ID)
            orig[no++] = w->g[i].via;
    }
    qsort(orig, no, sizeof *orig, cmp_u32);
    for (i = 0, u = 0; i < no; i++)
        if (u == 0 || orig[i] != orig[u - 1])
            orig[u++] = orig[i];
    no = u;
    for (i = 0; i < no; i++) {
        const uint32_t *ids;
        cap += 1 + topology_out(t, orig[i], &ids) + topology_in(t, orig[i], &ids);
    }
    w->ids = malloc((cap ? cap : 1) * sizeof *w->ids);
    if (w->ids == NULL || idmap_init(&seen, topology_count(t)) < 0) {
        idmap_cleanup(&seen);
        free(orig);
        return -1;
    }
    for (i = 0; i < no; i++) {
        uint32_t e = orig[i];
        const uint32_t *ids;
        size_t k, m;
        if (idmap_put(&seen, e, 0))
            w->ids[n++] = e;
        m = topology_out(t, e, &ids);
        for (k = 0; k < m; k++)
            if ((!is_pod(t, ids[k]) || pod_live(t, w, ids[k])) &&
                idmap_put(&seen, ids[k], 0))
                w->ids[n++] = ids[k];
        if (is_pod(t, e)) {
            /* a pod's service: the level a fault in all replicas sits at */
            m = topology_in(t, e, &ids);
            for (k = 0; k < m; k++) {
                if (entity_kind_is_service_like(topology_kind(t, ids[k])) &&
                    idmap_put(&seen, ids[k], 0))
                    w->ids[n++] = ids[k];
            }
        }
    }
    idmap_cleanup(&seen);
    free(orig);
    qsort(w->ids, n, sizeof *w->ids, cmp_u32);
    w->nc = n;
    w->c = calloc(n ? n : 1, sizeof *w->c);
    w->xn = calloc(n ? n : 1, sizeof *w->xn);
    if (w->c == NULL || w->xn == NULL ||
        idmap_init(&w->map, topology_count(t)) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        w->c[i].id = w->ids[i];
        w->c[i].onset = INT64_MAX;
        w->c[i].sonset = INT64_MAX;
        w->c[i].explained_by = -1;
        w->c[i].cover_via = -1;
        w->c[i].moved_to = -1;
        w->c[i].lonset = INT64_MAX;
        w->c[i].lent_top = -1;
        idmap_put(&w->map, w->ids[i], (uint32_t)i);
    }
    for (i = 0; i < w->ng; i++) {
        struct cand *c = cand_of(w, w->g[i].entity);
        if (c->ng == 0)
            c->g0 = (uint32_t)i;
        c->ng++;
        c->e += w->g[i].surprise;
        if (w->g[i].cls == RANK_SYMPTOM) {
            c->esym += w->g[i].surprise;
            if (w->g[i].onset < c->sonset)
                c->sonset = w->g[i].onset;
        }
        if (w->g[i].onset < c->onset)
            c->onset = w->g[i].onset;
    }
    if (explain_symptoms(r->t, w) < 0)
        return -1;
    lend_to_replicas(w);
    return 0;
}

/* E of entity ID (0 if silent or not a candidate). */
static double ent_e(struct work *w, uint32_t id)
{
    struct cand *c = cand_of(w, id);
    return c ? c->e : 0;
}

/* Pods of the incident's neighbourhood: pod candidates plus the pods of
 * candidate services and nodes. Counted with a scratch map. A node sees
 * all that fires on the pods it hosts, a lone replica's symptoms too
 * (lent): its aggregates include them, a service's do not (they are its
 * own evidence already, pods_lent says how much). SUM_LENT is the lent
 * evidence over all the pods, so every contrast's "rest of the incident"
 * sees what fires on the other pods however it is counted. */
static int pod_universe(struct rank *r, struct work *w, size_t *npods,
                        double *sum_e, double *sum_lent)
{
    const struct topology *t = r->t;
    struct idmap seen = {0};
    size_t i, n = 0;
    double s = 0, sl = 0;

    if (idmap_init(&seen, topology_count(t)) < 0)
        return -1;
    for (i = 0; i < w->nc; i++) {
        uint32_t id = w->c[i].id;
        const struct topology_entity *te = topology_entity(t, id);
        const uint32_t *ids;
        size_t k, m;
        if (te->kind == ENTITY_POD) {
            w->c[i].aonset = w->c[i].onset;
            if (idmap_put(&seen, id, 0)) {
                n++;
                s += w->c[i].e;
                sl += w->c[i].lent;
            }
            continue;
        }
        /* a node's pods link to it, a service links to its pods; one
         * scan keeps the candidate's pod aggregates (count, alerting,
         * sum of E, first onset) for local_evidence and the frontier */
        int node = te->kind == ENTITY_NODE;
        m = node ? topology_in(t, id, &ids) : topology_out(t, id, &ids);
        w->c[i].aonset = w->c[i].onset;
        for (k = 0; k < m; k++) {
            const struct cand *p;
            if (!is_pod(t, ids[k]) || !pod_live(t, w, ids[k]))
                continue;
            p = cand_of(w, ids[k]);
            w->c[i].npods++;
            if (p != NULL && !node)
                w->c[i].pods_lent += p->lent;
            if (p != NULL && (p->ng > 0 || (node && p->nlent > 0))) {
                double pe = p->e + (node ? p->lent : 0);
                w->c[i].nalerting_pods++;
                w->c[i].pods_sum += pe;
                if (pe > w->c[i].pods_max) {
                    w->c[i].pods_second = w->c[i].pods_max;
                    w->c[i].pods_max = pe;
                    w->c[i].pods_top = (int32_t)(p - w->c);
                } else if (pe > w->c[i].pods_second) {
                    w->c[i].pods_second = pe;
                }
                if (p->onset < w->c[i].aonset)
                    w->c[i].aonset = p->onset;
                if (node && p->lonset < w->c[i].aonset)
                    w->c[i].aonset = p->lonset;
            }
            if (idmap_put(&seen, ids[k], 0)) {
                n++;
                s += p != NULL ? p->e : 0;
                sl += p != NULL ? p->lent : 0;
            }
        }
    }
    idmap_cleanup(&seen);
    *npods = n;
    *sum_e = s;
    *sum_lent = sl;
    return 0;
}

/* Coverage (a fault explains the propagation above it; an unrelated
 * alert explains only itself, however loud). The symptomatic services are
 * those with symptom-class alerts of their own or on a pod. A service's
 * cover is how many of them are it or reach it through symptomatic
 * callers; a pod has the best of its services', a node the best of the
 * services of the live pods it hosts (the best single one, not their
 * union: a node hosting everything would cover everything). A node with
 * no known pod covers them all: what it hosts is unknown, not known to be
 * quiet, which is how correlation treats it too (an isolated node joins
 * the incident of its scope). The share counts each symptomatic service
 * by its symptom evidence (its own and its pods', as alerted): a service
 * with one stray latency alert weighs less than one in a storm.
 * L *= 1 + COVER * share. */
static int coverage(const struct topology *t, struct work *w)
{
    size_t n = w->nc, i;
    uint8_t *sym = calloc(n ? n : 1, 1);
    uint32_t *stamp = calloc(n ? n : 1, sizeof *stamp);
    uint32_t *stack = malloc((n ? n : 1) * sizeof *stack);
    double *syme = calloc(n ? n : 1, sizeof *syme), es = 0;
    uint32_t ns = 0;

    if (sym == NULL || stamp == NULL || stack == NULL || syme == NULL) {
        free(syme);
        free(sym);
        free(stamp);
        free(stack);
        return -1;
    }
    for (i = 0; i < n; i++) {
        const struct cand *c = &w->c[i];
        enum entity_kind kind = topology_kind(t, c->id);
        if (c->esym <= 0)
            continue;
        if (entity_kind_is_service_like(kind)) {
            sym[i] = 1;
            syme[i] += c->esym;
        } else if (kind == ENTITY_POD) {
            const uint32_t *sv;
            size_t m = topology_in(t, c->id, &sv), j;
            for (j = 0; j < m; j++) {
                const struct cand *d = cand_of(w, sv[j]);
                if (d != NULL &&
                    entity_kind_is_service_like(topology_kind(t, sv[j]))) {
                    sym[d - w->c] = 1;
                    syme[d - w->c] += c->esym;
                }
            }
        }
    }
    for (i = 0; i < n; i++) {
        ns += sym[i];
        es += syme[i];
    }
    w->nsym_services = ns;
    /* a service: one search up its symptomatic callers */
    for (i = 0; i < n && ns > 0; i++) {
        struct cand *c = &w->c[i];
        size_t sp = 0;
        if (!entity_kind_is_service_like(topology_kind(t, c->id)))
            continue;
        stamp[i] = (uint32_t)i + 1;
        stack[sp++] = (uint32_t)i;
        while (sp > 0) {
            uint32_t x = stack[--sp];
            const uint32_t *in;
            size_t m = topology_in(t, w->c[x].id, &in), j;
            c->cover += sym[x];
            c->cover_e += syme[x];
            for (j = 0; j < m; j++) {
                const struct cand *y = cand_of(w, in[j]);
                size_t yi;
                if (y == NULL)
                    continue;
                yi = (size_t)(y - w->c);
                if (!sym[yi] || stamp[yi] == (uint32_t)i + 1)
                    continue;
                stamp[yi] = (uint32_t)i + 1;
                stack[sp++] = (uint32_t)yi;
            }
        }
        c->cover_via = (int32_t)i;
    }
    /* a node: pushed from the few covering services down to their pods'
     * nodes, rather than pulled by every node through all its pods */
    for (i = 0; i < n; i++) {
        const struct cand *c = &w->c[i];
        const uint32_t *pods;
        size_t m, j, q;
        if (c->cover == 0 || !entity_kind_is_service_like(topology_kind(t, c->id)))
            continue;
        m = topology_out(t, c->id, &pods);
        for (j = 0; j < m; j++) {
            const uint32_t *nodes;
            size_t mn;
            if (!is_pod(t, pods[j]) || !pod_live(t, w, pods[j]))
                continue;
            mn = topology_out(t, pods[j], &nodes);
            for (q = 0; q < mn; q++) {
                struct cand *nd = cand_of(w, nodes[q]);
                if (nd != NULL && topology_kind(t, nodes[q]) == ENTITY_NODE &&
                    c->cover > nd->cover) {
                    nd->cover = c->cover;
                    nd->cover_e = c->cover_e;
                    nd->cover_via = (int32_t)i;
                }
            }
        }
    }
    for (i = 0; i < n && ns > 0; i++) {
        struct cand *c = &w->c[i];
        enum entity_kind kind = topology_kind(t, c->id);
        if (kind == ENTITY_POD) {
            const uint32_t *sv;
            size_t m = topology_in(t, c->id, &sv), j;
            for (j = 0; j < m; j++) {
                const struct cand *d = cand_of(w, sv[j]);
                if (d != NULL && d->cover > c->cover) {
                    c->cover = d->cover;
                    c->cover_e = d->cover_e;
                    c->cover_via = (int32_t)(d - w->c);
                }
            }
        } else if (kind == ENTITY_NODE && c->npods == 0) {
            c->cover = ns;
            c->cover_e = es;
            c->cover_via = -1;
        }
        c->l *= 1.0 + COVER * ((1 - COVER_W) * (double)c->cover / (double)ns +
                               (es > 0 ? COVER_W * c->cover_e / es : 0));
    }
    free(syme);
    free(sym);
    free(stamp);
    free(stack);
    return 0;
}

/* Local evidence L for every candidate. */
static int local_evidence(struct rank *r, struct work *w)
{
    const struct topology *t = r->t;
    size_t nu, i;
    double su, sl;

    if (pod_universe(r, w, &nu, &su, &sl) < 0)
        return -1;
    w->npods_universe = nu;
    for (i = 0; i < w->nc; i++) {
        struct cand *c = &w->c[i];
        const struct topology_entity *te = topology_entity(t, c->id);
        const uint32_t *ids;
        size_t m, k;
        double l = c->e, gsum = 0;
        uint32_t np = 0, na = 0;

        if (te->kind != ENTITY_POD) {
            /* service: its pods; node: the pods it hosts (pod_universe) */
            np = c->npods;
            na = c->nalerting_pods;
            gsum = c->pods_sum;
            if (np > 0) {
                double mean = gsum / np;
                /* the rest of the incident as a node sees pods: what
                 * fires on them, lent included; a service's own pods'
                 * lent evidence is its own E already */
                double rest = nu > np ? (su + sl - gsum - c->pods_lent) /
                                            (double)(nu - np)
                                      : 0;
                double agg = te->kind == ENTITY_NODE ? NODE_AGG : POD_AGG;
                /* The strongest pod counted only as much as the next:
                 * one alerting pod is explained by itself as well. For
                 * a node always (its case rests on what its pods share,
                 * NODE_EVEN); for a service while it is anomalous
                 * itself (ONE_POD) and the pod is far ahead (FAR times
                 * the next): a pod fault shows as the service's symptoms
                 * plus one pod's causes, and the difference goes to that
                 * pod. A noisy pod under a quiet service stays diluted
                 * in the service's mean; near ties stay the service's. */
                int node = te->kind == ENTITY_NODE;
                double level = node ? NODE_EVEN
                               : np > 1 && c->e > 0 &&
                                         c->pods_max >= FAR * c->pods_second
                                     ? ONE_POD
                                     : 0;
                double used = mean - level * (c->pods_max - c->pods_second) / np;
                double full = mean > rest ? agg * (mean - rest) : 0;
                double kept = used > rest ? agg * (used - rest) : 0;
                c->pods_mean = used;
                c->rest_mean = rest;
                c->levelled = used < mean;
                /* NODE_SPREAD: the more pods of a node alert, the stronger */
                l += kept * (node ? pow((double)na, NODE_SPREAD) : 1.0);
                if (!node && full > kept) {
                    /* a pod of several services: named by the largest */
                    struct cand *top = &w->c[c->pods_top];
                    top->excess += full - kept;
                    if (full - kept > top->excess_most) {
                        top->excess_most = full - kept;
                        top->excess_of = (int32_t)i;
                    }
                }
            }
            if (c->ng == 0 && te->kind != ENTITY_NODE) {
                /* a silent dependency shared by K alerting dependents
                 * explains their symptoms; one dependent alone is
                 * explained as well by itself, hence (K - 1) / K */
                const uint32_t *in;
                size_t mi = topology_in(t, c->id, &in), j;
                double sym = 0;
                uint32_t kd = 0;
                for (j = 0; j < mi; j++) {
                    struct cand *u = cand_of(w, in[j]);
                    if (u != NULL && u->esym > 0) {
                        sym += u->esym;
                        kd++;
                    }
                }
                c->shared = kd;
                if (kd > 1)
                    l += SHARED * sym * (double)(kd - 1) / kd;
            }
        } else {
            /* siblings: the other pods of this pod's service(s) */
            const uint32_t *sv;
            size_t ms = topology_in(t, c->id, &sv), j;
            double sib = 0;
            uint32_t nsib = 0;
            for (j = 0; j < ms; j++) {
                if (!entity_kind_is_service_like(topology_kind(t, sv[j])))
                    continue;
                m = topology_out(t, sv[j], &ids);
                for (k = 0; k < m; k++)
                    if (ids[k] != c->id && is_pod(t, ids[k]) &&
                        pod_live(t, w, ids[k])) {
                        sib += ent_e(w, ids[k]);
                        nsib++;
                    }
            }
            if (nsib > 0)
                l -= SIBLING * sib / nsib;
        }
        c->l = l > 0 ? l : 0;
    }
    for (i = 0; i < w->nc; i++)
        w->c[i].l += w->c[i].excess;
    /* Frontier, a second pass: a dependency counts as anomalous when its
     * local evidence is, so a pod on a node whose hosted pods stand out is
     * not the deepest anomaly even if the node has no exporter. */
    for (i = 0; i < w->nc; i++) {
        struct cand *c = &w->c[i];
        const struct topology_entity *te = topology_entity(t, c->id);
        const uint32_t *ids;
        size_t m = topology_out(t, c->id, &ids), k;
        int deps_quiet = 1;
        for (k = 0; k < m; k++) {
            struct cand *d;
            /* a service's own pods are its members, not what it waits on */
            if (te->kind != ENTITY_POD && is_pod(t, ids[k]))
                continue;
            d = cand_of(w, ids[k]);
            /* and only if it was anomalous no later than c (within the
             * tolerance): what alerts after c cannot explain c */
            if (d != NULL && (d->ng > 0 || d->l > 0) &&
                (c->aonset == INT64_MAX ||
                 (double)(d->aonset - c->aonset) <= TOL_MS))
                deps_quiet = 0;
        }
        c->frontier = c->e > 0 && deps_quiet;
    }
    for (i = 0; i < w->nc; i++)
        if (w->c[i].frontier)
            w->c[i].l *= 1.0 + FRONTIER;
    if (COVER > 0 && coverage(t, w) < 0)
        return -1;
    return 0;
}

/* Onset precedence of cause V for effect U: a cause that alerted after
 * its effect (beyond the tolerance) is less likely the cause. */
static double precedence(const struct cand *v, const struct cand *u)
{
    if (v->onset == INT64_MAX || u->onset == INT64_MAX)
        return 1.0;
    return (double)(v->onset - u->onset) > TOL_MS ? LATE : 1.0;
}

/* Personalised walk from effects to causes; leaves w->c[i].x. The
 * transition rows (edges among candidates only) are built once into CSR
 * arrays, so an iteration costs the incident subgraph's edges. 0 or -1. */
static int walk(struct rank *r, struct work *w)
{
    const struct topology *t = r->t;
    size_t n = w->nc, i, it, ne = 0, cap = 0;
    uint32_t *off = NULL, *dst = NULL;
    double *wt = NULL, *seed = NULL, lsum = 0;
    int rc = -1;

    for (i = 0; i < n; i++) {
        const uint32_t *ids;
        cap += 1 + topology_out(t, w->c[i].id, &ids) +
               topology_in(t, w->c[i].id, &ids);
        lsum += w->c[i].l;
    }
    off = malloc((n + 1) * sizeof *off);
    dst = malloc(cap * sizeof *dst);
    wt = malloc(cap * sizeof *wt);
    seed = malloc((n ? n : 1) * sizeof *seed);
    if (off == NULL || dst == NULL || wt == NULL || seed == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        struct cand *u = &w->c[i];
        const uint32_t *ids;
        size_t m = topology_out(t, u->id, &ids), k, row = ne;
        double tot = 0, maxdep = 0;

        off[i] = (uint32_t)ne;
        for (k = 0; k < m; k++) {
            struct cand *v = cand_of(w, ids[k]);
            if (v == NULL)
                continue;
            /* eta: a node hosting share h of the incident's pods says
             * that much less by hosting this one (ranking.md, Hubs) */
            double f = 1.0;
            if (HUB > 0 && topology_kind(t, v->id) == ENTITY_NODE &&
                w->npods_universe > 0) {
                double h = HUB * (double)v->npods / (double)w->npods_universe;
                f = h < 1 ? 1 - h : 0;
            }
            dst[ne] = (uint32_t)(v - w->c);
            /* EPS after eta: an edge is never 0, so no row sums to 0 */
            wt[ne++] = (v->l * f + EPS) * precedence(v, u);
            if (v->l * f > maxdep)
                maxdep = v->l * f;
        }
        m = topology_in(t, u->id, &ids);
        for (k = 0; k < m; k++) {
            struct cand *v = cand_of(w, ids[k]);
            if (v == NULL)
                continue;
            dst[ne] = (uint32_t)(v - w->c);
            wt[ne++] = BACK * (v->l + EPS);
        }
        if (u->l > maxdep) {
            dst[ne] = (uint32_t)i;
            wt[ne++] = u->l - maxdep;
        }
        for (k = row; k < ne; k++)
            tot += wt[k];
        for (k = row; k < ne; k++)
            wt[k] /= tot;
    }
    off[n] = (uint32_t)ne;
    /* seeds: the local evidence; uniform over alerting if all 0 */
    {
        double s = 0;
        for (i = 0; i < n; i++) {
            seed[i] = lsum > 0 ? w->c[i].l : (w->c[i].e > 0 ? 1.0 : 0);
            s += seed[i];
        }
        for (i = 0; i < n; i++) {
            seed[i] = s > 0 ? seed[i] / s : 1.0 / (double)n;
            w->c[i].x = seed[i];
        }
    }
    for (it = 0; it < QUENCH_RANK_MAX_ITER; it++) {
        double dangling = 0, delta = 0;
        memset(w->xn, 0, n * sizeof *w->xn);
        for (i = 0; i < n; i++) {
            double x = w->c[i].x;
            if (off[i] == off[i + 1]) {
                dangling += x;
                continue;
            }
            for (uint32_t k = off[i]; k < off[i + 1]; k++)
                w->xn[dst[k]] += x * wt[k];
        }
        for (i = 0; i < n; i++) {
            double nx = ALPHA * (w->xn[i] + dangling * seed[i]) +
                        (1 - ALPHA) * seed[i];
            delta += fabs(nx - w->c[i].x);
            w->c[i].x = nx;
        }
        if (delta < 1e-6 * (double)n)
            break;
    }
    rc = 0;
out:
    free(off);
    free(dst);
    free(wt);
    free(seed);
    return rc;
}

static int cmp_score(const void *x, const void *y)
{
    const struct cand *a = *(const struct cand *const *)x;
    const struct cand *b = *(const struct cand *const *)y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* "08:40:12Z" of MS. */
/* " (fired 15m later: its rule's for)" for an onset FOR_MS before its
 * startsAt, else "": why the time shown is not the alert's startsAt. */
static void fired_note(int64_t for_ms, char *out, size_t cap)
{
    long long v = (long long)for_ms;
    const char *u = "ms";

    *out = '\0';
    if (for_ms <= 0)
        return;
    if (v % 3600000 == 0)
        v /= 3600000, u = "h";
    else if (v % 60000 == 0)
        v /= 60000, u = "m";
    else if (v % 1000 == 0)
        v /= 1000, u = "s";
    snprintf(out, cap, " (fired %lld%s later: its rule's for)", v, u);
}

static void clock_of(int64_t ms, char out[16])
{
    int64_t s = ms / 1000;
    if (ms < 0 && ms % 1000)
        s--;
    s %= 86400;
    if (s < 0)
        s += 86400;
    snprintf(out, 16, "%02d:%02d:%02dZ", (int)(s / 3600),
             (int)(s / 60 % 60), (int)(s % 60));
}

/* ", 40s before the first symptom" relative to W->tsym. */
static void relative(const struct work *w, int64_t t, char *out, size_t cap)
{
    int64_t d = (w->tsym - t) / 1000;
    if (d > 0)
        snprintf(out, cap, "%llds before the first symptom", (long long)d);
    else if (d < 0)
        snprintf(out, cap, "%llds after the first symptom", (long long)-d);
    else
        snprintf(out, cap, "at the first symptom");
}

static const char *ename(const struct topology *t, uint32_t id)
{
    const struct topology_entity *e = topology_entity(t, id);
    return e ? e->name : "?";
}

/* The most recurring group behind C: its own groups, else (service or
 * node) its pods'. Ties keep the first in (entity, name) order. NULL if
 * none recurs. */
static const struct group *background_group(struct work *w,
                                            const struct topology *t,
                                            const struct cand *c)
{
    const struct topology_entity *te = topology_entity(t, c->id);
    const struct group *best = NULL;
    const uint32_t *ids;
    size_t m, i;

    for (i = 0; i < c->ng; i++) {
        const struct group *g = &w->g[c->g0 + i];
        if (g->recur > 0 && (best == NULL || g->recur > best->recur))
            best = g;
    }
    if (best != NULL || te->kind == ENTITY_POD || c->nalerting_pods == 0)
        return best;
    m = te->kind == ENTITY_NODE ? topology_in(t, c->id, &ids)
                                : topology_out(t, c->id, &ids);
    for (i = 0; i < m; i++) {
        const struct cand *pc = is_pod(t, ids[i]) ? cand_of(w, ids[i]) : NULL;
        for (uint32_t q = 0; pc != NULL && q < pc->ng; q++) {
            const struct group *g = &w->g[pc->g0 + q];
            if (g->recur > 0 && (best == NULL || g->recur > best->recur ||
                                 (g->recur == best->recur &&
                                  g->entity < best->entity)))
                best = g;
        }
    }
    return best;
}

/* Evidence sentences and path for cause slot K from candidate C. */
static void explain(struct rank *r, struct work *w, size_t k,
                    const struct cand *c)
{
    const struct topology *t = r->t;
    const struct topology_entity *te = topology_entity(t, c->id);
    size_t ne = 0, np = 0, i;
    uint32_t best[3] = {0};
    size_t nbest = 0;
    char when[16], rel[64];

    /* the most surprising alert groups on the entity itself */
    for (i = 0; i < c->ng; i++) {
        uint32_t gi = c->g0 + (uint32_t)i;
        size_t j = nbest < 3 ? nbest++ : 3;
        if (j == 3) {
            if (w->g[gi].surprise <= w->g[best[2]].surprise)
                continue;
            j = 2;
        }
        while (j > 0 && w->g[best[j - 1]].surprise < w->g[gi].surprise) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = gi;
    }
    for (i = 0; i < nbest && ne < QUENCH_RANK_MAX_EVIDENCE; i++) {
        const struct group *g = &w->g[best[i]];
        char times[32] = "", fired[64];
        clock_of(g->onset, when);
        relative(w, g->onset, rel, sizeof rel);
        fired_note(g->for_ms, fired, sizeof fired);
        if (g->count > 1)
            snprintf(times, sizeof times, " (x%u)", (unsigned)g->count);
        const char *cls = g->cls == RANK_CAUSE     ? " (cause-type alert)"
                          : g->cls == RANK_SYMPTOM ? " (symptom-type alert)"
                                                   : "";
        if (g->via != NONE_ID && g->vcount == g->count)
            /* a lone replica's (evidence_owner) */
            snprintf(r->ev[k][ne++], EV_LEN,
                     "%s%s on %s, the only replica of %s, at %s%s, %s%s",
                     r->names[g->name], times, ename(t, g->via), te->name,
                     when, fired, rel, cls);
        else if (g->via != NONE_ID)
            snprintf(r->ev[k][ne++], EV_LEN,
                     "%s%s on %s and its only replica %s, at %s%s, %s%s",
                     r->names[g->name], times, te->name, ename(t, g->via),
                     when, fired, rel, cls);
        else
            snprintf(r->ev[k][ne++], EV_LEN, "%s%s on %s at %s%s, %s%s",
                     r->names[g->name], times, te->name, when, fired, rel,
                     cls);
    }
    /* A service or node whose evidence is its pods': name the pods' most
     * telling alerts, so a person sees what actually fired. */
    if (nbest < 2 && te->kind != ENTITY_POD && c->nalerting_pods > 0) {
        const uint32_t *ids;
        size_t m = te->kind == ENTITY_NODE ? topology_in(t, c->id, &ids)
                                           : topology_out(t, c->id, &ids);
        uint32_t pbest[2] = {0};
        size_t npb = 0;
        for (i = 0; i < m; i++) {
            const struct cand *pc = is_pod(t, ids[i]) ? cand_of(w, ids[i]) : NULL;
            /* its own groups, and for a node the strongest one a lone
             * replica lent it (counted on the replica's service) */
            uint32_t ng = pc == NULL ? 0
                          : pc->ng + (te->kind == ENTITY_NODE && pc->lent_top >= 0);
            for (uint32_t q = 0; q < ng; q++) {
                uint32_t gi = q < pc->ng ? pc->g0 + q : (uint32_t)pc->lent_top;
                size_t j = npb < 2 ? npb++ : 2;
                if (j == 2) {
                    if (w->g[gi].surprise <= w->g[pbest[1]].surprise)
                        continue;
                    j = 1;
                }
                while (j > 0 && w->g[pbest[j - 1]].surprise < w->g[gi].surprise) {
                    pbest[j] = pbest[j - 1];
                    j--;
                }
                pbest[j] = gi;
            }
        }
        for (i = 0; i < npb && ne < QUENCH_RANK_MAX_EVIDENCE; i++) {
            const struct group *g = &w->g[pbest[i]];
            int64_t on = g->via != NONE_ID ? g->vonset : g->onset;
            char fired[64];
            clock_of(on, when);
            relative(w, on, rel, sizeof rel);
            fired_note(g->for_ms, fired, sizeof fired);
            snprintf(r->ev[k][ne++], EV_LEN, "%s on %s %s (%s %s) at %s%s, %s",
                     r->names[g->name], "pod",
                     ename(t, g->via != NONE_ID ? g->via : g->entity),
                     te->kind == ENTITY_NODE ? "on" : "of", te->name, when, fired, rel);
        }
    }
    /* Background: say which of the alerts behind this cause recent
     * incidents held too, so a person sees why it ranks lower than its
     * alerts alone suggest (the most recurring one, own groups first). */
    {
        const struct group *bg =
            r->recur_weight > 0 ? background_group(w, t, c) : NULL;
        /* history remembers a pod by its service (history_entity_name) */
        int32_t owner = bg != NULL ? topology_pod_service(t, bg->entity) : -1;
        if (bg != NULL && ne < QUENCH_RANK_MAX_EVIDENCE)
            snprintf(r->ev[k][ne++], EV_LEN,
                     "%s on %s%s also fired in %u of the last %u incidents: "
                     "treated as background",
                     r->names[bg->name], owner >= 0 ? "the pods of " : "",
                     ename(t, owner >= 0 ? (uint32_t)owner : bg->entity),
                     (unsigned)bg->seen, (unsigned)bg->of);
    }
    if (c->npods > 0 && c->nalerting_pods > 0 && ne < QUENCH_RANK_MAX_EVIDENCE) {
        char than[128];
        /* the ratio is the one the contrast used; with no other pod
         * alerting a ratio would be a division by 0 */
        if (c->levelled && c->pods_mean <= c->rest_mean)
            snprintf(than, sizeof than, "; only %s stands out, and that is "
                     "the pod's own evidence", ename(t, w->c[c->pods_top].id));
        else if (c->rest_mean > 0)
            snprintf(than, sizeof than, ", %.1fx as strongly as the other "
                     "pods of the incident%s", c->pods_mean / c->rest_mean,
                     c->levelled ? " (the strongest counted as the next)" : "");
        else
            snprintf(than, sizeof than, "; no other pod of the incident does");
        snprintf(r->ev[k][ne++], EV_LEN, "%u of %u pods %s %s alert%s",
                 (unsigned)c->nalerting_pods, (unsigned)c->npods,
                 te->kind == ENTITY_NODE ? "on" : "of", te->name, than);
    }
    if (c->excess > 0 && ne < QUENCH_RANK_MAX_EVIDENCE) {
        const struct cand *sc = &w->c[c->excess_of];
        const char *sn = ename(t, sc->id);
        if (sc->pods_second > 0)
            snprintf(r->ev[k][ne++], EV_LEN,
                     "the strongest of the %u pods of %s (evidence %.2f, the "
                     "next %.2f) while %s is anomalous itself: this replica "
                     "rather than the whole service",
                     (unsigned)sc->npods, sn, sc->pods_max, sc->pods_second, sn);
        else
            snprintf(r->ev[k][ne++], EV_LEN,
                     "the only one of the %u pods of %s with evidence of its "
                     "own (%.2f) while %s is anomalous itself: this replica "
                     "rather than the whole service",
                     (unsigned)sc->npods, sn, sc->pods_max, sn);
    }
    if (c->explains > 0 && ne < QUENCH_RANK_MAX_EVIDENCE) {
        /* name the dependent that gave the most */
        const struct cand *top = NULL;
        for (i = 0; i < w->nc; i++) {
            const struct cand *d = &w->c[i];
            if (d->moved_to == (int32_t)(c - w->c) &&
                (top == NULL || d->esym > top->esym))
                top = d;
        }
        snprintf(r->ev[k][ne++], EV_LEN,
                 "explains the symptom alerts of %u dependent%s (most: %s): "
                 "it alerted no later than they did",
                 (unsigned)c->explains, c->explains == 1 ? "" : "s",
                 ename(t, top->id));
    }
    if (c->explained_by >= 0 && ne < QUENCH_RANK_MAX_EVIDENCE) {
        const char *by = ename(t, w->c[c->explained_by].id);
        if (c->moved_to == c->explained_by)
            snprintf(r->ev[k][ne++], EV_LEN,
                     "its symptom alerts are explained by %s, a dependency "
                     "that alerted no later", by);
        else
            snprintf(r->ev[k][ne++], EV_LEN,
                     "its symptom alerts are explained by %s, a dependency "
                     "that alerted no later, and through it by %s", by,
                     ename(t, w->c[c->moved_to].id));
    }
    if (c->cover > 0 && w->nsym_services > 1 && ne < QUENCH_RANK_MAX_EVIDENCE) {
        unsigned cv = c->cover, ns = w->nsym_services;
        if (c->cover_via < 0)
            snprintf(r->ev[k][ne++], EV_LEN,
                     "no pod is known to run on %s: it may host any of the "
                     "%u services with symptoms", te->name, ns);
        else if (w->c[c->cover_via].id == c->id)
            snprintf(r->ev[k][ne++], EV_LEN,
                     "%u of the %u services with symptoms are %s or call it, "
                     "directly or through one another", cv, ns, te->name);
        else
            snprintf(r->ev[k][ne++], EV_LEN,
                     "%u of the %u services with symptoms are %s (%s) or call "
                     "it, directly or through one another", cv, ns,
                     ename(t, w->c[c->cover_via].id),
                     te->kind == ENTITY_NODE ? "a pod of it runs here"
                                             : "this pod's service");
    }
    if (c->frontier && ne < QUENCH_RANK_MAX_EVIDENCE)
        snprintf(r->ev[k][ne++], EV_LEN,
                 "none of what %s depends on alerts: the deepest anomalous "
                 "entity on this path", te->name);
    if (c->nlent > 0 && ne < QUENCH_RANK_MAX_EVIDENCE) {
        /* a lone replica whose symptoms count on its service */
        int32_t sv = topology_pod_service(t, c->id);
        snprintf(r->ev[k][ne++], EV_LEN,
                 "its symptom alerts count on %s, of which it is the only "
                 "replica", sv >= 0 ? ename(t, (uint32_t)sv) : "its service");
    } else if (c->ng == 0 && c->nalerting_pods == 0 &&
               ne < QUENCH_RANK_MAX_EVIDENCE) {
        const uint32_t *in;
        size_t m = topology_in(t, c->id, &in), a = 0, j;
        for (j = 0; j < m; j++) {
            /* a dependent alerts when it or one of its pods does */
            const struct cand *d = cand_of(w, in[j]);
            a += d != NULL && (d->ng > 0 || d->aonset != INT64_MAX);
        }
        snprintf(r->ev[k][ne++], EV_LEN,
                 "no alerts of its own, but %zu of its %zu dependents alert",
                 a, m);
    }
    if (ne < QUENCH_RANK_MAX_EVIDENCE)
        snprintf(r->ev[k][ne++], EV_LEN,
                 "local evidence %.3f, walk share %.3f", c->l, c->x);
    for (i = 0; i < ne; i++)
        r->evp[k][i] = r->ev[k][i];

    /* path: follow the strongest alerting dependent, cause first */
    r->path[k][np++] = c->id;
    while (np < QUENCH_RANK_MAX_PATH) {
        const uint32_t *in;
        uint32_t cur = r->path[k][np - 1], next = 0;
        size_t m = topology_in(t, cur, &in), j, q;
        double be = 0;
        for (j = 0; j < m; j++) {
            /* own alerts (symptoms as alerted, before explain_symptoms
             * moved them), aggregate evidence, or alerting pods (a caller
             * whose pods carry the symptoms) */
            const struct cand *d = cand_of(w, in[j]);
            double e = d != NULL ? d->e + d->esym + d->l + d->pods_sum : 0;
            int dup = 0;
            for (q = 0; q < np; q++)
                dup |= r->path[k][q] == in[j];
            if (!dup && (e > be || (e == be && e > 0 && in[j] < next))) {
                be = e;
                next = in[j];
            }
        }
        if (be <= 0)
            break;
        r->path[k][np++] = next;
    }

    r->causes[k] = (struct rank_cause){
        .entity = c->id,
        .kind = te->kind,
        .name = te->name,
        .service = NULL,
        .score = c->score,
        .nevidence = ne,
        .evidence = r->evp[k],
        .npath = np,
        .path = r->path[k],
    };
    if (te->kind == ENTITY_POD) {
        int32_t s = topology_pod_service(t, c->id);
        r->causes[k].service = s >= 0 ? ename(t, (uint32_t)s) : NULL;
    } else if (entity_kind_is_service_like(te->kind)) {
        r->causes[k].service = te->name;
    }
}

int rank_compute(struct rank *r, struct qerr *err)
{
    struct work w = {0};
    struct cand **order = NULL;
    size_t i, k;
    double lsum = 0, total = 0;
    int rc = -1;

    r->ncauses = 0;
    if (r->n == 0)
        return 0;
    if (r->ev == NULL) {
        r->ev = malloc(QUENCH_RANK_MAX_CAUSES * sizeof *r->ev);
        if (r->ev == NULL)
            goto out;
    }
    if (build_groups(r, &w) < 0 || build_candidates(r, &w) < 0 ||
        local_evidence(r, &w) < 0)
        goto out;
    if (walk(r, &w) < 0)
        goto out;
    for (i = 0; i < w.nc; i++)
        lsum += w.c[i].l;
    order = malloc(w.nc * sizeof *order);
    if (order == NULL)
        goto out;
    for (i = 0; i < w.nc; i++) {
        struct cand *c = &w.c[i];
        double lh = lsum > 0 ? c->l / lsum : 0;
        c->score = (1 - MIX) * lh + MIX * c->x;
        order[i] = c;
    }
    /* only the best QUENCH_RANK_MAX_CAUSES are needed: insertion into a
     * short sorted prefix, O(candidates x causes), not a full sort */
    {
        size_t nk = 0;
        for (i = 0; i < w.nc; i++) {
            struct cand *c = order[i];
            size_t j;
            if (nk == QUENCH_RANK_MAX_CAUSES &&
                cmp_score(&c, &order[nk - 1]) >= 0)
                continue;
            j = nk < QUENCH_RANK_MAX_CAUSES ? nk++ : nk - 1;
            while (j > 0 && cmp_score(&c, &order[j - 1]) < 0) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = c;
        }
    }
    for (k = 0; k < w.nc && k < QUENCH_RANK_MAX_CAUSES; k++) {
        if (order[k]->score <= 0)
            break;
        explain(r, &w, k, order[k]);
        r->ncauses = k + 1;
    }
    /* Confidence: the top cause's from the score margin (fitted on the
     * shared cases and the simulator), the rest share what is left in
     * proportion to score, never above the cause ranked before them: with
     * a small margin c1 is low and the share alone would put the second
     * cause above the first, which no playbook threshold could use. */
    if (r->ncauses > 0) {
        double s1 = r->causes[0].score;
        double s2 = r->ncauses > 1 ? r->causes[1].score : 0;
        double m = s1 > 0 ? (s1 - s2) / s1 : 0;
        double c1 = 1.0 / (1.0 + exp(-(CONF_A + CONF_B * m)));
        r->causes[0].confidence = c1;
        for (k = 1; k < r->ncauses; k++)
            total += r->causes[k].score;
        for (k = 1; k < r->ncauses; k++) {
            double c = total > 0 ? (1 - c1) * r->causes[k].score / total : 0;
            double prev = r->causes[k - 1].confidence;
            r->causes[k].confidence = c < prev ? c : prev;
        }
    }
    rc = 0;
out:
    if (rc < 0) {
        r->ncauses = 0;
        qerr_set(err, NULL, 0, 0, "rank: out of memory");
    }
    free(order);
    work_cleanup(&w);
    return rc;
}

size_t rank_count(const struct rank *r)
{
    return r->ncauses;
}

const struct rank_cause *rank_cause(const struct rank *r, size_t i)
{
    return i < r->ncauses ? &r->causes[i] : NULL;
}
