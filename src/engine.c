/* engine.c - alerts -> correlate -> rank -> (playbooks, risk) -> hook.
 *
 * Per incident slot the engine keeps a rank state, fed alert by alert as
 * correlate reports changes; after a merge the survivor's state is rebuilt
 * from its alerts when next needed (rank states cannot be added together,
 * and a burst of merges should cost one rebuild). Ranking is computed
 * lazily: an update marks the slot stale, and the ranking is brought up to
 * date right before a hook sees the incident or it is rendered. rank.h
 * promises that computing after every update equals one compute after all
 * of them, so laziness changes cost, never output.
 *
 * Closed incidents are remembered in a history of (entity, alertname)
 * pairs; an alert's recurrence is looked up at its incident's opened_at,
 * so it counts only incidents closed before this one opened and stays
 * the same whenever the rank state is (re)built.
 *
 * The alert_kinds class of an alert is cached per correlate alert slot:
 * a merge re-feeds every alert of the incident, and the regexes should run
 * once per notification, not once per merge. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "limits.h"
#include "rank.h"

struct slot_state {
    struct rank *rank;
    uint64_t topo_version;  /* topology_version the ranking was computed at */
    uint8_t stale;      /* ranking older than the alerts */
    uint8_t dirty;      /* updated since the last hook round */
    uint8_t frozen;     /* closed: ranked as of the close, for good */
};

struct kind_cache {
    uint8_t cls;        /* enum rank_class */
    uint8_t valid;
    int32_t for_ms;     /* rules_rule_for (at most 24h: fits) */
    double weight;
    int64_t fed_slot;   /* incident whose rank state holds it; -1 none */
};

struct engine {
    struct topology *t;
    const struct rules *r;
    struct correlate *c;
    engine_hook hook;
    void *hook_ctx;
    int eager;                  /* rank before the hook (set_eager_ranking) */
    struct slot_state *slots;
    uint32_t nslots;
    struct kind_cache *kinds;
    uint32_t nkinds;
    uint32_t *dirty;            /* slots updated during one ingest */
    size_t ndirty, dirty_cap;
    struct history *hist;       /* pairs of closed incidents (recurrence) */
    struct rules_memo *memo;    /* alert_kinds and rule_for answers; NULL:
                                 * none (rules_memo_get asks the rules) */
};

int engine_new(struct engine **out, struct topology *t, const struct rules *r)
{
    struct engine *e = calloc(1, sizeof *e);

    *out = NULL;
    if (e == NULL)
        return -1;
    e->t = t;
    e->r = r;
    if (history_new(&e->hist, &(struct history_config){
                        r->history.window_ms, r->history.min_incidents}) < 0) {
        free(e);
        return -1;
    }
    if (correlate_new(&e->c, t, r) < 0) {
        history_free(e->hist);
        free(e);
        return -1;
    }
    e->memo = rules_memo_new(r);     /* NULL: only slower */
    *out = e;
    return 0;
}

void engine_free(struct engine *e)
{
    if (e == NULL)
        return;
    for (uint32_t i = 0; i < e->nslots; i++)
        rank_free(e->slots[i].rank);
    free(e->slots);
    free(e->kinds);
    free(e->dirty);
    correlate_free(e->c);
    history_free(e->hist);
    rules_memo_free(e->memo);
    free(e);
}

void engine_set_hook(struct engine *e, engine_hook fn, void *ctx)
{
    e->hook = fn;
    e->hook_ctx = ctx;
}

void engine_set_eager_ranking(struct engine *e, int eager)
{
    e->eager = eager != 0;
}

struct intern *engine_pool(struct engine *e)
{
    return correlate_pool(e->c);
}

const struct topology *engine_topology(const struct engine *e)
{
    return e->t;
}

const struct correlate *engine_correlate(const struct engine *e)
{
    return e->c;
}

struct correlate *engine_correlate_mut(struct engine *e)
{
    return e->c;
}

struct history *engine_history(struct engine *e)
{
    return e->hist;
}

/* ---- slot bookkeeping ---------------------------------------------------- */

static int grow(void **arr, uint32_t *n, uint32_t need, size_t elem)
{
    uint32_t cap = *n ? *n : 64;
    void *p;

    if (need <= *n)
        return 0;
    while (cap < need)
        cap *= 2;
    p = realloc(*arr, (size_t)cap * elem);
    if (p == NULL)
        return -1;
    memset((char *)p + (size_t)*n * elem, 0, (size_t)(cap - *n) * elem);
    *arr = p;
    *n = cap;
    return 0;
}

static struct slot_state *slot_state(struct engine *e, uint32_t slot)
{
    if (grow((void **)&e->slots, &e->nslots, slot + 1, sizeof *e->slots) < 0)
        return NULL;
    return &e->slots[slot];
}

static int mark_dirty(struct engine *e, uint32_t slot)
{
    struct slot_state *s = slot_state(e, slot);

    if (s == NULL)
        return -1;
    s->stale = 1;
    s->frozen = 0;      /* changed: no longer as of its close */
    if (s->dirty)
        return 0;
    if (e->ndirty == e->dirty_cap) {
        size_t cap = e->dirty_cap ? e->dirty_cap * 2 : 16;
        uint32_t *d = realloc(e->dirty, cap * sizeof *d);
        if (d == NULL)
            return -1;
        e->dirty = d;
        e->dirty_cap = cap;
    }
    e->dirty[e->ndirty++] = slot;
    s->dirty = 1;
    return 0;
}

/* ---- ranking ------------------------------------------------------------- */

static const struct kind_cache *classify(struct engine *e, uint32_t m,
                                         const struct alert *a, int refresh)
{
    struct kind_cache *k;
    double w;
    int64_t for_ms;

    if (grow((void **)&e->kinds, &e->nkinds, m + 1, sizeof *e->kinds) < 0)
        return NULL;
    k = &e->kinds[m];
    if (!k->valid)
        k->fed_slot = -1;
    if (!k->valid || refresh) {
        switch (rules_memo_get(e->memo, e->r, a, &w, &for_ms)) {
        case RULES_KIND_CAUSE:   k->cls = RANK_CAUSE; break;
        case RULES_KIND_SYMPTOM: k->cls = RANK_SYMPTOM; break;
        default:                 k->cls = RANK_NEUTRAL; break;
        }
        k->weight = w;
        k->for_ms = (int32_t)for_ms;
        k->valid = 1;
    }
    return k;
}

/* Feed alert slot M to RANK. Alerts without an entity cannot be placed on
 * the graph and are left out of the ranking. */
static int feed(struct engine *e, struct rank *rank, uint32_t m, int refresh)
{
    struct correlate_alert ca;
    const struct kind_cache *k;
    struct rank_alert ra = {0};
    struct correlate_incident ci;

    if (correlate_alert(e->c, m, &ca) < 0 || ca.entity < 0)
        return 0;
    k = classify(e, m, ca.alert, refresh);
    if (k == NULL)
        return -1;
    ra.key = ca.alert->fingerprint;
    ra.entity = (uint32_t)ca.entity;
    ra.starts_at = ca.alert->starts_at;
    ra.for_ms = k->for_ms;
    ra.firing = ca.alert->status == ALERT_FIRING;
    ra.cls = (enum rank_class)k->cls;
    ra.weight = k->weight;
    ra.severity = rank_severity_parse(alert_label(ca.alert, "severity"));
    ra.alertname = alert_label(ca.alert, "alertname");
    /* Background: how many incidents closed before this one opened held
     * the same pair. At opened_at, so a rebuild gives the same value. */
    if (e->r->history.weight > 0 &&
        correlate_incident(e->c, ca.incident, &ci) == 0) {
        char kb[QUENCH_HISTORY_MAX_NAME];
        const char *name =
            history_entity_name(e->t, (uint32_t)ca.entity, kb, sizeof kb);
        struct history_hits hh;
        if (name != NULL) {
            ra.recurrence = history_recurrence(e->hist, name, ra.alertname,
                                               ci.opened_at, &hh);
            ra.recur_seen = hh.seen;
            ra.recur_of = hh.of;
        }
    }
    /* Past QUENCH_MAX_RANK_ALERTS the alert is left out of the ranking:
     * the incident still holds it; the ranking uses the first ones. */
    (void)rank_update(rank, &ra, NULL);
    return 0;
}

/* Re-create SLOT's rank state from all its alerts. */
static int rebuild(struct engine *e, uint32_t slot)
{
    struct slot_state *s = slot_state(e, slot);
    struct correlate_incident ci;

    if (s == NULL || correlate_incident(e->c, slot, &ci) < 0)
        return -1;
    rank_free(s->rank);
    s->rank = NULL;
    if (rank_new(&s->rank, e->t) < 0)
        return -1;
    rank_set_recurrence_weight(s->rank, e->r->history.weight);
    for (size_t i = 0; i < ci.nalerts; i++) {
        if (feed(e, s->rank, ci.alerts[i], 0) < 0)
            return -1;
        if (ci.alerts[i] < e->nkinds)
            e->kinds[ci.alerts[i]].fed_slot = slot;
    }
    return 0;
}

/* Bring SLOT's ranking up to date. */
static int ensure_ranked(const struct engine *ce, uint32_t slot)
{
    /* Ranking is a cache of the incident; computing it does not change
     * what the engine means, so const callers may trigger it. */
    struct engine *e = (struct engine *)ce;
    struct slot_state *s;

    if (slot >= e->nslots || e->slots[slot].rank == NULL) {
        if (rebuild(e, slot) < 0)
            return -1;
        e->slots[slot].stale = 1;
    }
    s = &e->slots[slot];
    /* An open incident's ranking reads the graph as it is now (which pods
     * are live, which entities exist); a closed one's was computed at its
     * close and stays, so every reader, eager or lazy, serve or replay,
     * sees the same (close_ranked). */
    if (!s->frozen && s->topo_version != topology_version(e->t))
        s->stale = 1;
    if (!s->stale)
        return 0;
    if (rank_compute(s->rank, NULL) < 0)
        return -1;
    s->stale = 0;
    s->topo_version = topology_version(e->t);
    return 0;
}

/* Rank SLOT once more as of its close, and keep that ranking: what a
 * closed incident says must not depend on whether, or when, someone
 * looked at it while it was open. */
static int close_ranked(struct engine *e, uint32_t slot)
{
    struct slot_state *s = slot_state(e, slot);

    if (s == NULL)
        return -1;
    s->frozen = 0;
    s->stale = 1;
    if (ensure_ranked(e, slot) < 0)
        return -1;      /* still stale: ranked on the next read */
    s->frozen = 1;
    return 0;
}

/* ---- the pipeline -------------------------------------------------------- */

static void fire(struct engine *e, uint32_t slot, enum engine_event ev)
{
    if (e->hook != NULL)
        e->hook(e->hook_ctx, e, slot, ev);
}

/* Remember the (entity, alertname) pairs closed incident SLOT held. A
 * storm past QUENCH_HISTORY_MAX_INCIDENT_PAIRS, or OOM, leaves it out of
 * the history; ranking goes on. */
static void record_closed(struct engine *e, uint32_t slot)
{
    struct correlate_incident ci;
    struct history_pair *p;
    size_t *off;            /* a pod's owner name: offset into buf */
    char *buf = NULL, kb[QUENCH_HISTORY_MAX_NAME];
    size_t n = 0, used = 0, cap = 0;

    if (correlate_incident(e->c, slot, &ci) < 0 ||
        ci.closed_at == CORRELATE_NO_TIME)
        return;
    p = malloc((ci.nalerts ? ci.nalerts : 1) * sizeof *p);
    off = malloc((ci.nalerts ? ci.nalerts : 1) * sizeof *off);
    if (p == NULL || off == NULL)
        goto out;
    for (size_t i = 0; i < ci.nalerts; i++) {
        struct correlate_alert ca;
        const char *name;
        if (correlate_alert(e->c, ci.alerts[i], &ca) < 0 || ca.entity < 0)
            continue;
        name = history_entity_name(e->t, (uint32_t)ca.entity, kb, sizeof kb);
        if (name == NULL)
            continue;
        off[n] = SIZE_MAX;
        if (name == kb) {   /* built: keep a copy until the record */
            size_t len = strlen(kb) + 1;
            if (used + len > cap) {
                char *nb = realloc(buf, cap = 2 * (used + len));
                if (nb == NULL)
                    goto out;
                buf = nb;
            }
            memcpy(buf + used, kb, len);
            off[n] = used;
            used += len;
        }
        p[n++] = (struct history_pair){name, alert_label(ca.alert, "alertname")};
    }
    for (size_t i = 0; i < n; i++)   /* buf has stopped moving */
        if (off[i] != SIZE_MAX)
            p[i].entity = buf + off[i];
    (void)history_record(e->hist, ci.closed_at, p, n, NULL);
out:
    free(buf);
    free(off);
    free(p);
}

/* Apply correlate's delta of one ingest/tick: drop merged slots' ranks,
 * feed the changed alert, note closed slots. */
static int apply_delta(struct engine *e, int outcome, uint64_t fp)
{
    const struct correlate_delta *d = correlate_delta(e->c);
    int64_t m = -1;
    int rc = 0, unfed = 0;

    /* Classify the changed alert afresh first: its slot may have been
     * someone else's before a prune, and a rebuild reads the cache. */
    if (outcome != CORRELATE_IGNORED) {
        struct correlate_alert ca;
        int64_t prev = -1;
        m = correlate_alert_find(e->c, fp);
        if (m >= 0 && (uint32_t)m < e->nkinds && e->kinds[m].valid)
            prev = e->kinds[m].fed_slot;
        if (m >= 0 && correlate_alert(e->c, (uint32_t)m, &ca) < 0) {
            m = -1;
        } else if (m >= 0 && classify(e, (uint32_t)m, ca.alert, 1) == NULL) {
            /* out of memory: the merges and closes below still apply,
             * and the incident's ranking is rebuilt when next read */
            rc = -1;
            m = -1;
            unfed = 1;
        } else if (m >= 0) {
            /* The alert left the incident whose rank state holds it (a
             * re-fire that opened or joined another): rank has no
             * remove, so that incident is rebuilt from the alerts it
             * still holds when next ranked. */
            if (prev >= 0 && (uint32_t)prev != ca.incident &&
                (uint32_t)prev < e->nslots && e->slots[prev].rank != NULL) {
                rank_free(e->slots[prev].rank);
                e->slots[prev].rank = NULL;
            }
            e->kinds[m].fed_slot = ca.incident;
        }
    }

    for (size_t i = 0; i < d->nmerged; i++) {
        struct slot_state *s = slot_state(e, d->merged[i]);
        if (s != NULL) {
            rank_free(s->rank);
            s->rank = NULL;
            s->stale = 0;
        } else {
            rc = -1;
        }
        fire(e, d->merged[i], ENGINE_INCIDENT_MERGED);
    }
    for (size_t i = 0; i < d->nclosed; i++) {
        /* Ranking is a cache: out of memory here leaves it to be
         * computed when the incident is next read, never fails the close. */
        (void)close_ranked(e, d->closed[i]);
        record_closed(e, d->closed[i]);
        fire(e, d->closed[i], ENGINE_INCIDENT_CLOSED);
    }
    for (size_t i = 0; i < d->nupdated; i++) {
        uint32_t slot = d->updated[i];
        struct slot_state *s = slot_state(e, slot);
        if (s == NULL) {
            rc = -1;
            continue;
        }
        if (mark_dirty(e, slot) < 0)
            rc = -1;        /* the hook misses this update; the rank stays whole */
        if (outcome == CORRELATE_MERGED_INTO || unfed || d->nmoved > 0) {
            /* Rebuilt from all its alerts when next needed: a burst of
             * merges then costs one rebuild, not one per merge. Alerts
             * that moved (weak members placed by the graph at last) left
             * one of these and joined another: rank has no remove. */
            rank_free(s->rank);
            s->rank = NULL;
        } else if (s->rank != NULL && m >= 0 &&
                   feed(e, s->rank, (uint32_t)m, 0) < 0) {
            rc = -1;
        }
    }
    return rc;
}

static void flush_dirty(struct engine *e)
{
    for (size_t i = 0; i < e->ndirty; i++) {
        uint32_t slot = e->dirty[i];
        struct correlate_incident ci;
        e->slots[slot].dirty = 0;
        if (correlate_incident(e->c, slot, &ci) < 0 ||
            ci.state == CORRELATE_MERGED)
            continue;
        if (e->hook != NULL) {
            if (e->eager)
                (void)ensure_ranked(e, slot);
            fire(e, slot, ENGINE_INCIDENT_UPDATED);
        }
    }
    e->ndirty = 0;
}

int engine_ingest_webhook(struct engine *e, const struct webhook *wh,
                          int64_t received_at, struct qerr *err)
{
    int changed = 0, failed = 0;

    for (size_t i = 0; i < wh->nalerts; i++) {
        const struct alert *a = &wh->alerts[i];
        struct qerr one;
        int rc = correlate_ingest(e->c, a, wh->group_key, received_at, &one);
        if (rc < 0) {
            if (!failed && err != NULL)
                *err = one;
            failed = 1;
            /* the alert changed nothing, but the incidents that came due
             * before it closed all the same: the next call's delta would
             * not name them again */
            (void)apply_delta(e, CORRELATE_IGNORED, 0);
            continue;
        }
        if (apply_delta(e, rc, a->fingerprint) < 0) {
            if (!failed)
                qerr_set(err, NULL, 0, 0, "out of memory while ranking");
            failed = 1;
        }
        if (rc != CORRELATE_IGNORED)
            changed++;
    }
    flush_dirty(e);
    return failed ? -1 : changed;
}

size_t engine_tick(struct engine *e, int64_t now)
{
    size_t n = correlate_tick(e->c, now);

    if (n > 0)
        (void)apply_delta(e, CORRELATE_IGNORED, 0);
    flush_dirty(e);
    return n;
}

/* correlate_prune decides what goes; the engine then drops whatever it
 * holds for slots correlate no longer has, rather than repeating the
 * criteria here. Order matters for the class cache: the fed_slot of a
 * surviving alert may name a released slot (it left that incident on a
 * refire), and that slot may be reused by the next incident opened, whose
 * rank state must not be thrown away for it; so it is reset to "none". */
size_t engine_prune(struct engine *e, int64_t closed_before)
{
    size_t n = correlate_prune(e->c, closed_before);
    struct correlate_incident ci;
    struct correlate_alert ca;

    for (uint32_t s = 0; s < e->nslots; s++) {
        if (correlate_incident(e->c, s, &ci) == 0)
            continue;
        rank_free(e->slots[s].rank);
        memset(&e->slots[s], 0, sizeof e->slots[s]);
    }
    for (uint32_t m = 0; m < e->nkinds; m++) {
        struct kind_cache *k = &e->kinds[m];

        if (correlate_alert(e->c, m, &ca) < 0) {
            memset(k, 0, sizeof *k);
            continue;
        }
        if (k->valid && k->fed_slot >= 0 &&
            correlate_incident(e->c, (uint32_t)k->fed_slot, &ci) < 0)
            k->fed_slot = -1;
    }
    return n;
}

/* ---- reading and rendering ----------------------------------------------- */

/* Sort keys are copied next to the slot: qsort has no context argument
 * and the core keeps no globals. */
struct list_key {
    int64_t opened_at;
    const char *id;
    uint32_t slot;
};

static int cmp_list_key(const void *x, const void *y)
{
    const struct list_key *a = x, *b = y;
    if (a->opened_at != b->opened_at)
        return a->opened_at < b->opened_at ? -1 : 1;
    return strcmp(a->id, b->id);
}

int engine_list(const struct engine *e, uint32_t **slots, size_t *n)
{
    uint32_t total = correlate_incident_slots(e->c);
    uint32_t *out = malloc((total ? total : 1) * sizeof *out);
    struct list_key *keys = malloc((total ? total : 1) * sizeof *keys);
    size_t k = 0;

    *slots = NULL;
    *n = 0;
    if (out == NULL || keys == NULL) {
        free(out);
        free(keys);
        return -1;
    }
    for (uint32_t s = 0; s < total; s++) {
        struct correlate_incident ci;
        if (correlate_incident(e->c, s, &ci) == 0 &&
            ci.state != CORRELATE_MERGED)
            keys[k++] = (struct list_key){ ci.opened_at, ci.id, s };
    }
    qsort(keys, k, sizeof *keys, cmp_list_key);
    for (size_t i = 0; i < k; i++)
        out[i] = keys[i].slot;
    free(keys);
    *slots = out;
    *n = k;
    return 0;
}

int64_t engine_find(const struct engine *e, const char *id)
{
    int64_t s = correlate_find(e->c, id);
    struct correlate_incident ci;

    /* Follow merges: the chain ends at a live incident. */
    while (s >= 0 && correlate_incident(e->c, (uint32_t)s, &ci) == 0 &&
           ci.state == CORRELATE_MERGED)
        s = ci.merged_into;
    return s;
}

static json_t *time_string(int64_t ms)
{
    char buf[40];
    if (ms == CORRELATE_NO_TIME)
        return json_null();
    alert_time_format(ms, buf, sizeof buf);
    return json_string(buf);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

struct ent_key {
    enum entity_kind kind;
    const char *name;
    uint32_t id;
};

static int cmp_ent_key(const void *x, const void *y)
{
    const struct ent_key *a = x, *b = y;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    return strcmp(a->name, b->name);
}

static json_t *entity_json(const struct topology *t, uint32_t id)
{
    const struct topology_entity *te = topology_entity(t, id);
    json_t *o = json_object();

    if (o == NULL || te == NULL ||
        json_object_set_new(o, "kind", json_string(entity_kind_name(te->kind))) < 0 ||
        json_object_set_new(o, "name", json_string(te->name)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *causes_json(const struct engine *e, uint32_t slot)
{
    json_t *arr = json_array();
    const struct rank *rank;

    if (arr == NULL)
        return NULL;
    if (ensure_ranked(e, slot) < 0) {
        json_decref(arr);
        return NULL;
    }
    rank = e->slots[slot].rank;
    for (size_t i = 0; i < rank_count(rank); i++) {
        const struct rank_cause *rc = rank_cause(rank, i);
        json_t *o = json_object(), *ev = json_array(), *path = json_array();
        if (json_array_append_new(arr, o) < 0 || ev == NULL || path == NULL)
            goto fail_item;
        for (size_t k = 0; k < rc->nevidence; k++)
            if (json_array_append_new(ev, json_string(rc->evidence[k])) < 0)
                goto fail_item;
        for (size_t k = 0; k < rc->npath; k++) {
            const struct topology_entity *te = topology_entity(e->t, rc->path[k]);
            if (te == NULL || json_array_append_new(path, json_string(te->name)) < 0)
                goto fail_item;
        }
        if (json_object_set_new(o, "entity", entity_json(e->t, rc->entity)) < 0 ||
            json_object_set_new(o, "service", rc->service ? json_string(rc->service)
                                                           : json_null()) < 0 ||
            json_object_set_new(o, "score", json_real(rc->score)) < 0 ||
            json_object_set_new(o, "confidence", json_real(rc->confidence)) < 0 ||
            json_object_set_new(o, "evidence", ev) < 0 ||
            json_object_set_new(o, "path", path) < 0) {
            ev = path = NULL;
            goto fail;
        }
        continue;
fail_item:
        json_decref(ev);
        json_decref(path);
        goto fail;
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

json_t *engine_incident_json(const struct engine *e, uint32_t slot)
{
    struct correlate_incident ci;
    uint64_t *fps = NULL;
    struct ent_key *ents = NULL;
    json_t *o = NULL, *arr;
    char hex[17];

    if (correlate_incident(e->c, slot, &ci) < 0 || ci.state == CORRELATE_MERGED)
        return NULL;
    fps = malloc((ci.nalerts ? ci.nalerts : 1) * sizeof *fps);
    ents = malloc((ci.nentities ? ci.nentities : 1) * sizeof *ents);
    o = json_object();
    if (fps == NULL || ents == NULL || o == NULL)
        goto fail;
    for (size_t i = 0; i < ci.nalerts; i++) {
        struct correlate_alert ca;
        if (correlate_alert(e->c, ci.alerts[i], &ca) < 0)
            goto fail;
        fps[i] = ca.alert->fingerprint;
    }
    qsort(fps, ci.nalerts, sizeof *fps, cmp_u64);
    for (size_t i = 0; i < ci.nentities; i++) {
        const struct topology_entity *te = topology_entity(e->t, ci.entities[i]);
        if (te == NULL)
            goto fail;
        ents[i] = (struct ent_key){ te->kind, te->name, ci.entities[i] };
    }
    qsort(ents, ci.nentities, sizeof *ents, cmp_ent_key);

    if (json_object_set_new(o, "id", json_string(ci.id)) < 0 ||
        json_object_set_new(o, "opened_at", time_string(ci.opened_at)) < 0 ||
        json_object_set_new(o, "closed_at", time_string(ci.closed_at)) < 0 ||
        json_object_set_new(o, "alert_count", json_integer((json_int_t)ci.nalerts)) < 0)
        goto fail;
    arr = json_array();
    if (json_object_set_new(o, "fingerprints", arr) < 0)
        goto fail;
    for (size_t i = 0; i < ci.nalerts; i++) {
        alert_fingerprint_format(fps[i], hex);
        if (json_array_append_new(arr, json_string(hex)) < 0)
            goto fail;
    }
    arr = json_array();
    if (json_object_set_new(o, "entities", arr) < 0)
        goto fail;
    for (size_t i = 0; i < ci.nentities; i++)
        if (json_array_append_new(arr, entity_json(e->t, ents[i].id)) < 0)
            goto fail;
    if (json_object_set_new(o, "root_causes", causes_json(e, slot)) < 0 ||
        json_object_set_new(o, "proposals", json_array()) < 0)
        goto fail;
    free(fps);
    free(ents);
    return o;
fail:
    free(fps);
    free(ents);
    json_decref(o);
    return NULL;
}
