/* test_engine.c - the pipeline: webhooks in, incidents out through the
 * hook (updated, merged, closed), ranking plugged in, the report JSON
 * of one incident (keys, order, sorting, times), and the history of closed
 * incidents damping what recurs across them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "failalloc.h"
#include "spec_webhook.h"

static const char graph[] =
    "services:\n"
    "  frontend: {calls: [checkout]}\n"
    "  checkout: {calls: [payment]}\n"
    "  payment:\n";

struct events {
    int updated, closed, merged;
    char last_id[CORRELATE_ID_SIZE];
};

static void hook(void *ctx, struct engine *e, uint32_t slot, enum engine_event ev)
{
    struct events *x = ctx;
    struct correlate_incident ci;

    assert_int_equal(correlate_incident(engine_correlate(e), slot, &ci), 0);
    memcpy(x->last_id, ci.id, sizeof x->last_id);
    if (ev == ENGINE_INCIDENT_UPDATED) {
        x->updated++;
        /* The hook sees a ranked incident. */
        json_t *j = engine_incident_json(e, slot);
        assert_non_null(j);
        assert_true(json_array_size(json_object_get(j, "root_causes")) > 0);
        json_decref(j);
    } else if (ev == ENGINE_INCIDENT_CLOSED) {
        x->closed++;
    } else {
        x->merged++;
    }
}


#define T0 1647736800000LL   /* 2022-03-20T00:40:00Z */

static void test_pipeline(void **state)
{
    (void)state;
    struct topology *t = NULL;
    struct rules *r = NULL;
    struct engine *e = NULL;
    struct events ev = { 0, 0, 0, "" };
    struct webhook *wh;
    struct qerr err;
    uint32_t *slots;
    size_t n;

    assert_int_equal(topology_load_buf(&t, graph, strlen(graph), "g", NULL, &err), 0);
    assert_int_equal(rules_load_buf(&r, "topology_hops: 1\n", 17, "c", &err), 0);
    assert_int_equal(engine_new(&e, t, r), 0);
    engine_set_hook(e, hook, &ev);

    wh = spec_webhook(e, "g1", "CpuHigh:payment:firing:2022-03-20T00_40_00Z "
                          "LatencyHigh:payment:firing:2022-03-20T00_40_05Z");
    assert_int_equal(engine_ingest_webhook(e, wh, T0 + 1000, &err), 2);
    webhook_free(wh);
    assert_int_equal(ev.updated, 1);          /* once per webhook, not per alert */
    wh = spec_webhook(e, "g2", "ErrorsHigh:frontend:firing:2022-03-20T00_40_10Z");
    assert_int_equal(engine_ingest_webhook(e, wh, T0 + 2000, &err), 1);
    webhook_free(wh);
    assert_int_equal(ev.updated, 2);
    assert_int_equal(engine_list(e, &slots, &n), 0);
    assert_int_equal(n, 2);
    free(slots);

    /* checkout links payment's and frontend's incidents: merge. */
    wh = spec_webhook(e, "g3", "LatencyHigh:checkout:firing:2022-03-20T00_40_20Z");
    assert_int_equal(engine_ingest_webhook(e, wh, T0 + 3000, &err), 1);
    webhook_free(wh);
    assert_int_equal(ev.merged, 1);
    assert_int_equal(engine_list(e, &slots, &n), 0);
    assert_int_equal(n, 1);
    json_t *j = engine_incident_json(e, slots[0]);
    free(slots);
    assert_non_null(j);

    /* Keys in the contract's order. */
    static const char *const keys[] = { "id", "opened_at", "closed_at", "alert_count",
                                        "fingerprints", "entities", "root_causes",
                                        "proposals" };
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(j, k, v) {
        assert_true(i < 8);
        assert_string_equal(k, keys[i]);
        i++;
    }
    assert_int_equal(i, 8);
    assert_string_equal(json_string_value(json_object_get(j, "opened_at")),
                        "2022-03-20T00:40:01Z");
    assert_true(json_is_null(json_object_get(j, "closed_at")));
    assert_int_equal(json_integer_value(json_object_get(j, "alert_count")), 4);
    json_t *fps = json_object_get(j, "fingerprints");
    assert_int_equal(json_array_size(fps), 4);
    for (i = 1; i < 4; i++)
        assert_true(strcmp(json_string_value(json_array_get(fps, i - 1)),
                           json_string_value(json_array_get(fps, i))) < 0);
    json_t *ents = json_object_get(j, "entities");
    assert_int_equal(json_array_size(ents), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ents, 0), "name")),
                        "checkout");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ents, 2), "name")),
                        "payment");
    json_t *rc0 = json_array_get(json_object_get(j, "root_causes"), 0);
    assert_non_null(rc0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rc0, "entity"),
                                                          "name")), "payment");
    assert_int_equal(json_array_size(json_object_get(j, "proposals")), 0);
    /* The merged-away id leads to the survivor. */
    int64_t s = engine_find(e, ev.last_id);
    assert_true(s >= 0);
    json_decref(j);

    /* Resolve everything; the tick closes it at last resolve + 5m. */
    wh = spec_webhook(e, "g1", "CpuHigh:payment:resolved:2022-03-20T00_40_00Z "
                          "LatencyHigh:payment:resolved:2022-03-20T00_40_05Z "
                          "ErrorsHigh:frontend:resolved:2022-03-20T00_40_10Z "
                          "LatencyHigh:checkout:resolved:2022-03-20T00_40_20Z");
    assert_int_equal(engine_ingest_webhook(e, wh, T0 + 60000, &err), 4);
    webhook_free(wh);
    assert_int_equal(engine_tick(e, T0 + 60000 + 299999), 0);
    assert_int_equal(engine_tick(e, T0 + 60000 + 300000), 1);
    assert_int_equal(ev.closed, 1);
    j = engine_incident_json(e, (uint32_t)s);
    assert_string_equal(json_string_value(json_object_get(j, "closed_at")),
                        "2022-03-20T00:46:00Z");
    json_decref(j);
    /* A repeat changes nothing and fires nothing. */
    int before = ev.updated;
    wh = spec_webhook(e, "g1", "CpuHigh:payment:resolved:2022-03-20T00_40_00Z");
    assert_int_equal(engine_ingest_webhook(e, wh, T0 + 400000, &err), 0);
    webhook_free(wh);
    assert_int_equal(ev.updated, before);

    engine_free(e);
    rules_free(r);
    topology_free(t);
}

static const char graph2[] =
    "services:\n"
    "  frontend: {calls: [checkout]}\n"
    "  checkout: {calls: [payment]}\n"
    "  payment:\n"
    "  search: {calls: [index]}\n"
    "  index:\n";

static char *incident_text(struct engine *e, const char *id)
{
    int64_t s = engine_find(e, id);
    json_t *j;
    char *text;

    assert_true(s >= 0);
    j = engine_incident_json(e, (uint32_t)s);
    assert_non_null(j);
    text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    assert_non_null(text);
    return text;
}


static size_t n_listed(struct engine *e)
{
    uint32_t *slots;
    size_t n;

    assert_int_equal(engine_list(e, &slots, &n), 0);
    free(slots);
    return n;
}

/* Prune drops a closed incident (after a merge) with its alerts, frees
 * the merged slot, and leaves the open one exactly as it was; a refire of
 * a pruned fingerprint opens a fresh incident whose ranking equals a fresh
 * engine's, so no rank state of the released slot leaked into its reuse. */
static void test_prune(void **state)
{
    (void)state;
    struct topology *t = NULL, *t2 = NULL;
    struct rules *r = NULL;
    struct engine *e = NULL, *fresh = NULL;
    struct events ev = { 0, 0, 0, "" };
    struct qerr err;
    char merged_id[CORRELATE_ID_SIZE], closed_id[CORRELATE_ID_SIZE];
    char search_id[CORRELATE_ID_SIZE];
    char *before, *after, *mine, *theirs;
    int64_t closed_slot;
    uint64_t closed_fp;
    const int64_t closes = T0 + 60000 + 300000;

    assert_int_equal(topology_load_buf(&t, graph2, strlen(graph2), "g", NULL, &err), 0);
    assert_int_equal(rules_load_buf(&r, "topology_hops: 1\n", 17, "c", &err), 0);
    assert_int_equal(engine_new(&e, t, r), 0);
    engine_set_hook(e, hook, &ev);

    spec_ingest(e, "g1", "CpuHigh:payment:firing:2022-03-20T00_40_00Z "
                    "LatencyHigh:payment:firing:2022-03-20T00_40_05Z", T0 + 1000);
    spec_ingest(e, "g2", "ErrorsHigh:frontend:firing:2022-03-20T00_40_10Z", T0 + 2000);
    snprintf(merged_id, sizeof merged_id, "%s", ev.last_id);
    spec_ingest(e, "g3", "LatencyHigh:checkout:firing:2022-03-20T00_40_20Z", T0 + 3000);
    assert_int_equal(ev.merged, 1);
    snprintf(closed_id, sizeof closed_id, "%s", ev.last_id);
    assert_string_not_equal(closed_id, merged_id);
    spec_ingest(e, "g4", "DiskFull:index:firing:2022-03-20T00_40_30Z "
                    "LatencyHigh:search:firing:2022-03-20T00_40_31Z", T0 + 4000);
    snprintf(search_id, sizeof search_id, "%s", ev.last_id);
    spec_ingest(e, "g1", "CpuHigh:payment:resolved:2022-03-20T00_40_00Z "
                    "LatencyHigh:payment:resolved:2022-03-20T00_40_05Z "
                    "ErrorsHigh:frontend:resolved:2022-03-20T00_40_10Z "
                    "LatencyHigh:checkout:resolved:2022-03-20T00_40_20Z", T0 + 60000);
    assert_int_equal(engine_tick(e, closes), 1);
    closed_slot = engine_find(e, closed_id);
    assert_true(closed_slot >= 0);

    {
        struct correlate_incident ci;
        struct correlate_alert ca;

        assert_int_equal(correlate_incident(engine_correlate(e), (uint32_t)closed_slot,
                                            &ci), 0);
        assert_int_equal(ci.nalerts, 4);
        assert_int_equal(correlate_alert(engine_correlate(e), ci.alerts[0], &ca), 0);
        closed_fp = ca.alert->fingerprint;
    }
    assert_int_equal(n_listed(e), 2);
    assert_int_equal(correlate_alert_count(engine_correlate(e)), 6);
    before = incident_text(e, search_id);

    /* Closed exactly at the cutoff: kept; the merged-away slot goes. */
    assert_int_equal(engine_prune(e, closes), 0);
    assert_int_equal(n_listed(e), 2);
    assert_int_equal(engine_find(e, merged_id), -1);
    assert_int_equal(engine_find(e, closed_id), closed_slot);

    assert_int_equal(engine_prune(e, closes + 1), 1);
    assert_int_equal(n_listed(e), 1);
    assert_int_equal(correlate_alert_count(engine_correlate(e)), 2);
    assert_int_equal(engine_find(e, closed_id), -1);
    assert_int_equal(correlate_alert_find(engine_correlate(e), closed_fp), -1);
    after = incident_text(e, search_id);
    assert_string_equal(before, after);
    free(after);

    /* The same fingerprints again, a new episode: a fresh incident, ranked
     * from its own alerts only. */
    spec_ingest(e, "g5", "LatencyHigh:checkout:firing:2022-03-20T01_00_00Z "
                    "CpuHigh:payment:firing:2022-03-20T01_00_01Z", T0 + 1200000);
    assert_int_equal(n_listed(e), 2);
    mine = incident_text(e, ev.last_id);
    assert_string_not_equal(ev.last_id, search_id);

    assert_int_equal(topology_load_buf(&t2, graph2, strlen(graph2), "g", NULL, &err), 0);
    assert_int_equal(engine_new(&fresh, t2, r), 0);
    spec_ingest(fresh, "g5", "LatencyHigh:checkout:firing:2022-03-20T01_00_00Z "
                        "CpuHigh:payment:firing:2022-03-20T01_00_01Z", T0 + 1200000);
    theirs = incident_text(fresh, ev.last_id);
    assert_string_equal(mine, theirs);
    free(mine);
    free(theirs);

    /* The surviving incident still renders as it did. */
    after = incident_text(e, search_id);
    assert_string_equal(before, after);
    free(before);
    free(after);

    engine_free(fresh);
    engine_free(e);
    rules_free(r);
    topology_free(t2);
    topology_free(t);
}

/* A long run of short incidents whose alerts carry unique annotations
 * (as real ones do: values, timestamps), pruned as serve does. What prune
 * releases (alerts, incidents, rank state) must stay flat; the string
 * pool only grows. Prints both, so the bound in docs/operations.md can be
 * checked against a measurement. */
static void test_prune_bounds_memory(void **state)
{
    (void)state;
    struct topology *t = NULL;
    struct rules *r = NULL;
    struct engine *e = NULL;
    struct qerr err;
    const int rounds = 2000;
    size_t other_mid = 0, pool_mid = 0, pool0;

    assert_int_equal(topology_load_buf(&t, graph2, strlen(graph2), "g", NULL, &err), 0);
    assert_int_equal(rules_load_buf(&r, "topology_hops: 1\n", 17, "c", &err), 0);
    assert_int_equal(engine_new(&e, t, r), 0);
    pool0 = intern_bytes(engine_pool(e));
    for (int i = 0; i < rounds; i++) {
        int64_t now = T0 + (int64_t)i * 3600000;   /* one an hour */
        char body[2048], at[40], end[40];
        struct webhook *wh;

        alert_time_format(now, at, sizeof at);
        alert_time_format(now + 60000, end, sizeof end);
        for (int k = 0; k < 2; k++) {
            snprintf(body, sizeof body,
                     "{\"version\":\"4\",\"groupKey\":\"g\",\"status\":\"firing\","
                     "\"receiver\":\"q\",\"groupLabels\":{},\"commonLabels\":{},"
                     "\"commonAnnotations\":{},\"externalURL\":\"\",\"alerts\":["
                     "{\"status\":\"%s\",\"labels\":{\"alertname\":\"CpuHigh\","
                     "\"service\":\"payment\"},\"annotations\":{\"summary\":"
                     "\"cpu at %d.%d%% on payment-7d9f-%05d\"},\"startsAt\":\"%s\","
                     "\"endsAt\":\"%s\",\"generatorURL\":\"\"}]}",
                     k ? "resolved" : "firing", 90 + i % 10, i % 7, i, at,
                     k ? end : "0001-01-01T00:00:00Z");
            assert_int_equal(webhook_parse(&wh, body, strlen(body), engine_pool(e),
                                           &err), 0);
            assert_true(engine_ingest_webhook(e, wh, now + k * 60000, &err) >= 0);
            webhook_free(wh);
        }
        engine_tick(e, now + 30 * 60000);
        /* Keep the last 6 h of closed incidents, as serve keeps its
         * horizon. */
        engine_prune(e, now - 6 * 3600000);
        if (i == rounds / 2) {
            pool_mid = intern_bytes(engine_pool(e));
            other_mid = correlate_bytes(engine_correlate(e)) - pool_mid;
        }
    }
    {
        size_t pool = intern_bytes(engine_pool(e));
        size_t other = correlate_bytes(engine_correlate(e)) - pool;

        print_message("prune: %d incidents, %zu held; non-pool bytes %zu -> %zu; "
                      "pool %zu -> %zu -> %zu bytes (%.1f per incident)\n",
                      rounds, n_listed(e), other_mid, other, pool0, pool_mid, pool,
                      (double)(pool - pool0) / rounds);
        assert_true(n_listed(e) <= 7);
        assert_int_equal(correlate_alert_count(engine_correlate(e)), n_listed(e));
        /* Flat between the middle and the end of the run. */
        assert_true(other <= other_mid + other_mid / 10);
    }
    engine_free(e);
    rules_free(r);
    topology_free(t);
}

/* ---- history across incidents -------------------------------------------- */

static const char hist_rules[] =
    "topology_hops: 1\n"
    "history: {window: 24h, min_incidents: 2, weight: 0.5}\n";

#define HOUR 3600000LL

/* Episode K (one an hour): X = CpuHigh on payment and Y = LatencyHigh on
 * checkout fire (one incident: checkout calls payment), resolve a minute
 * later, and the tick closes the incident 5 minutes after that. With
 * CLOSE 0 the last episode stays open. */

static void hist_episode(struct engine *e, int k, int close)
{
    char specs[256], at[40];
    int64_t t = T0 + k * HOUR;

    spec_time(t, at, sizeof at);
    snprintf(specs, sizeof specs, "CpuHigh:payment:firing:%s LatencyHigh:checkout:firing:%s",
             at, at);
    spec_ingest(e, "g", specs, t + 1000);
    if (!close)
        return;
    snprintf(specs, sizeof specs, "CpuHigh:payment:resolved:%s "
             "LatencyHigh:checkout:resolved:%s", at, at);
    spec_ingest(e, "g", specs, t + 60000);
    assert_int_equal(engine_tick(e, t + 60000 + 300000), 1);
}

/* The text of the one listed incident PICK accepts (with ARG). */
static char *incident_text_where(struct engine *e,
                                 int (*pick)(struct engine *, const struct correlate_incident *,
                                             const void *),
                                 const void *arg)
{
    uint32_t *slots;
    size_t n;
    char *text = NULL;

    assert_int_equal(engine_list(e, &slots, &n), 0);
    for (size_t i = 0; i < n; i++) {
        struct correlate_incident ci;

        assert_int_equal(correlate_incident(engine_correlate(e), slots[i], &ci), 0);
        if (pick(e, &ci, arg)) {
            assert_null(text);
            text = incident_text(e, ci.id);
        }
    }
    free(slots);
    assert_non_null(text);
    return text;
}

static int opened_at_is(struct engine *e, const struct correlate_incident *ci,
                        const void *at)
{
    (void)e;
    return ci->opened_at == *(const int64_t *)at;
}

/* Rendered incident opened in episode K. */
static char *hist_incident(struct engine *e, int k)
{
    int64_t at = T0 + k * HOUR + 1000;

    return incident_text_where(e, opened_at_is, &at);
}

/* Incident 1 with X and Y closes; incident 2 with the same pairs opens:
 * its alerts are new (recurrence 0) while only one incident held them
 * (min_incidents 2), and background once two did: the recurrence the
 * ranking reads at opened_at turns positive and the evidence says so. */
static void test_history_across_incidents(void **state)
{
    (void)state;
    struct topology *t = NULL;
    struct rules *r = NULL;
    struct engine *e = NULL;
    struct qerr err;
    struct history_hits hh;
    char *text;

    assert_int_equal(topology_load_buf(&t, graph, strlen(graph), "g", NULL, &err), 0);
    assert_int_equal(rules_load_buf(&r, hist_rules, strlen(hist_rules), "c", &err), 0);
    assert_int_equal(engine_new(&e, t, r), 0);

    hist_episode(e, 0, 1);
    assert_int_equal(history_incidents(engine_history(e)), 1);
    hist_episode(e, 1, 1);
    /* Incident 2 opened after one close: seen 1 < min 2, new. */
    history_lookup(engine_history(e), "payment", "CpuHigh", T0 + HOUR + 1000, &hh);
    assert_int_equal(hh.seen, 1);
    assert_true(history_recurrence(engine_history(e), "payment", "CpuHigh",
                                   T0 + HOUR + 1000, NULL) == 0);
    text = hist_incident(e, 1);
    assert_null(strstr(text, "also fired"));
    free(text);

    hist_episode(e, 2, 0);
    /* Incident 3 opened after two closes holding both pairs: background. */
    assert_true(history_recurrence(engine_history(e), "payment", "CpuHigh",
                                   T0 + 2 * HOUR + 1000, NULL) > 0);
    assert_true(history_recurrence(engine_history(e), "checkout", "LatencyHigh",
                                   T0 + 2 * HOUR + 1000, NULL) > 0);
    /* A pair no incident held stays new. */
    assert_true(history_recurrence(engine_history(e), "payment", "LatencyHigh",
                                   T0 + 2 * HOUR + 1000, NULL) == 0);
    text = hist_incident(e, 2);
    assert_non_null(strstr(text, "also fired in 2 of the last 2 incidents"));
    free(text);

    engine_free(e);
    rules_free(r);
    topology_free(t);
}

/* Pods get new names at every rollout. CpuHigh fires on a differently
 * named pod of payment in each episode: history remembers it under "pods
 * of payment", so by the third episode it is background all the same. */
static void test_history_survives_pod_renames(void **state)
{
    (void)state;
    struct topology *t = NULL;
    struct rules *r = NULL;
    struct engine *e = NULL;
    struct qerr err;
    char *text;

    assert_int_equal(topology_load_buf(&t, graph, strlen(graph), "g", NULL, &err), 0);
    assert_int_equal(rules_load_buf(&r, hist_rules, strlen(hist_rules), "c", &err), 0);
    assert_int_equal(engine_new(&e, t, r), 0);
    for (int k = 0; k < 3; k++) {
        char specs[256], at[40];
        int64_t at_ms = T0 + k * HOUR;

        spec_time(at_ms, at, sizeof at);
        snprintf(specs, sizeof specs, "CpuHigh:payment/payment-7f9c-%c:firing:%s",
                 'a' + k, at);
        spec_ingest(e, "g", specs, at_ms + 1000);
        if (k == 2)
            break;
        snprintf(specs, sizeof specs, "CpuHigh:payment/payment-7f9c-%c:resolved:%s",
                 'a' + k, at);
        spec_ingest(e, "g", specs, at_ms + 60000);
        assert_int_equal(engine_tick(e, at_ms + 60000 + 300000), 1);
    }
    assert_true(history_recurrence(engine_history(e), "pods of payment", "CpuHigh",
                                   T0 + 2 * HOUR + 1000, NULL) > 0);
    /* nothing is remembered under the churning pod names */
    assert_true(history_recurrence(engine_history(e), "payment-7f9c-a", "CpuHigh",
                                   T0 + 2 * HOUR + 1000, NULL) == 0);
    text = hist_incident(e, 2);
    assert_non_null(strstr(text, "CpuHigh on the pods of payment also fired in 2 of "
                                 "the last 2 incidents"));
    free(text);
    engine_free(e);
    rules_free(r);
    topology_free(t);
}

/* A pod that alerted long ago is not one of its service's pods, unless
 * alerts name it again (pod_live); a repeat of its old alert can do that
 * while an incident is open without changing the incident. Whether the
 * ranking saw the repeat must not depend on whether someone looked at the
 * incident before it: a closed incident is ranked as of its close, by the
 * eager engine (which ranked at every update) as by the lazy one. */
static void test_closed_ranking_as_of_close(void **state)
{
    (void)state;
    struct topology *t[2] = {NULL, NULL};
    struct rules *r = NULL;
    struct engine *e[2] = {NULL, NULL};
    struct events ev = { 0, 0, 0, "" };
    struct qerr err;
    char *text[2];
    char at0[40], at1[40], specs[512];
    const int64_t t1 = T0 + 2 * HOUR;

    assert_int_equal(rules_load_buf(&r, hist_rules, strlen(hist_rules), "c", &err), 0);
    spec_time(T0, at0, sizeof at0);
    spec_time(t1, at1, sizeof at1);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(topology_load_buf(&t[k], graph, strlen(graph), "g", NULL, &err), 0);
        assert_int_equal(engine_new(&e[k], t[k], r), 0);
        if (k == 0) {
            engine_set_hook(e[k], hook, &ev);
            engine_set_eager_ranking(e[k], 1);
        }
        /* two old pods of payment alert, resolve, their incident closes */
        snprintf(specs, sizeof specs, "MemHigh:payment/payment-old-0:firing:%s "
                 "MemHigh:payment/payment-old-1:firing:%s", at0, at0);
        spec_ingest(e[k], "old", specs, T0 + 1000);
        snprintf(specs, sizeof specs, "MemHigh:payment/payment-old-0:resolved:%s "
                 "MemHigh:payment/payment-old-1:resolved:%s", at0, at0);
        spec_ingest(e[k], "old", specs, T0 + 60000);
        assert_int_equal(engine_tick(e[k], T0 + 60000 + 300000), 1);
        /* two hours later the three live pods alert, then resolve */
        snprintf(specs, sizeof specs, "CpuHigh:payment/payment-new-0:firing:%s "
                 "CpuHigh:payment/payment-new-1:firing:%s "
                 "CpuHigh:payment/payment-new-2:firing:%s", at1, at1, at1);
        spec_ingest(e[k], "new", specs, t1 + 1000);
        snprintf(specs, sizeof specs, "CpuHigh:payment/payment-new-0:resolved:%s "
                 "CpuHigh:payment/payment-new-1:resolved:%s "
                 "CpuHigh:payment/payment-new-2:resolved:%s", at1, at1, at1);
        spec_ingest(e[k], "new", specs, t1 + 600000);
        /* a late repeat of the old alert names the old pod again (the
         * incident does not change), then the incident closes */
        snprintf(specs, sizeof specs, "MemHigh:payment/payment-old-0:firing:%s", at0);
        spec_ingest(e[k], "old", specs, t1 + 720000);
        assert_int_equal(engine_tick(e[k], t1 + 600000 + 300000), 1);
        text[k] = hist_incident(e[k], 2);
        /* after the close the other old pod is named again: the closed
         * incident's ranking stays what it was at the close */
        snprintf(specs, sizeof specs, "MemHigh:payment/payment-old-1:firing:%s", at0);
        spec_ingest(e[k], "old", specs, t1 + 960000);
        char *again = hist_incident(e[k], 2);
        assert_string_equal(again, text[k]);
        free(again);
    }
    assert_true(ev.updated > 0);
    assert_string_equal(text[0], text[1]);
    assert_non_null(strstr(text[1], "3 of 4 pods of payment"));
    for (int k = 0; k < 2; k++) {
        free(text[k]);
        engine_free(e[k]);
        topology_free(t[k]);
    }
    rules_free(r);
}

/* Serve ranks after every webhook (the hook renders each update); replay
 * ranks once at the end, when the history holds incidents that closed
 * after the early ones were ranked. Both must render every incident the
 * same, because recurrence is read at each incident's opened_at. */
/* Two engines on the same graph and rules (RULES_YAML, NULL: the
 * defaults): [0] ranks eagerly after every change, its hook counting into
 * EV; [1] ranks when read. */
struct twins {
    struct topology *t[2];
    struct rules *r;
    struct engine *e[2];
};

static void twins_init(struct twins *w, const char *rules_yaml, struct events *ev)
{
    struct qerr err;

    memset(w, 0, sizeof *w);
    for (int k = 0; k < 2; k++)
        assert_int_equal(topology_load_buf(&w->t[k], graph, strlen(graph), "g", NULL, &err), 0);
    if (rules_yaml != NULL)
        assert_int_equal(rules_load_buf(&w->r, rules_yaml, strlen(rules_yaml), "c", &err), 0);
    else
        assert_int_equal(rules_new_default(&w->r), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(engine_new(&w->e[k], w->t[k], w->r), 0);
    engine_set_hook(w->e[0], hook, ev);
    engine_set_eager_ranking(w->e[0], 1);
}

static void twins_free(struct twins *w)
{
    for (int k = 0; k < 2; k++) {
        engine_free(w->e[k]);
        topology_free(w->t[k]);
    }
    rules_free(w->r);
}

static void test_history_eager_equals_lazy(void **state)
{
    (void)state;
    struct twins w;
    struct engine *eager, *lazy;
    struct events ev = { 0, 0, 0, "" };
    int damped = 0;

    twins_init(&w, hist_rules, &ev);
    eager = w.e[0];
    lazy = w.e[1];
    for (int k = 0; k < 4; k++) {
        hist_episode(eager, k, 1);
        hist_episode(lazy, k, 1);
    }
    assert_true(ev.updated >= 8);
    for (int k = 0; k < 4; k++) {
        char *a = hist_incident(eager, k), *b = hist_incident(lazy, k);

        assert_string_equal(a, b);
        damped += strstr(a, "also fired") != NULL;
        free(a);
        free(b);
    }
    assert_int_equal(damped, 2);   /* incidents 3 and 4: history in play */
    twins_free(&w);
}

static int holds_alertname(struct engine *e, const struct correlate_incident *ci,
                           const void *name)
{
    for (size_t k = 0; k < ci->nalerts; k++) {
        struct correlate_alert ca;

        assert_int_equal(correlate_alert(engine_correlate(e), ci->alerts[k], &ca), 0);
        if (strcmp(alert_label(ca.alert, "alertname"), name) == 0)
            return 1;
    }
    return 0;
}

/* The text of the incident holding the alert named NAME. */
static char *incident_with(struct engine *e, const char *name)
{
    return incident_text_where(e, holds_alertname, name);
}

/* A node alert that joined an incident on a guess moves to its pod's
 * incident (correlate's find_guesses): rank state built incrementally
 * (eager ranking) must drop it from the one and take it into the other,
 * as a ranking built at read time does. */
static void test_moved_alert_reranks(void **state)
{
    (void)state;
    struct twins w;
    struct engine *eager, *lazy, **both = w.e;
    struct events ev = { 0, 0, 0, "" };
    char at[40], specs[256];

    twins_init(&w, NULL, &ev);
    eager = w.e[0];
    lazy = w.e[1];
    for (int k = 0; k < 2; k++) {
        spec_time(T0, at, sizeof at);
        snprintf(specs, sizeof specs, "CpuHigh:payment:firing:%s", at);
        spec_ingest(both[k], "g1", specs, T0 + 1000);
        spec_time(T0 + 5000, at, sizeof at);
        snprintf(specs, sizeof specs, "NodeDiskFull:@n9:firing:%s", at);
        spec_ingest(both[k], "g2", specs, T0 + 6000);
        spec_time(T0 + 10000, at, sizeof at);
        snprintf(specs, sizeof specs, "PodEvicted:far/far-0@n9:firing:%s", at);
        spec_ingest(both[k], "g3", specs, T0 + 11000);
    }
    assert_int_equal(n_listed(eager), 2);
    {
        char *a = incident_with(eager, "CpuHigh"), *b = incident_with(lazy, "CpuHigh");
        assert_string_equal(a, b);
        assert_null(strstr(a, "n9"));
        free(a);
        free(b);
        a = incident_with(eager, "PodEvicted");
        b = incident_with(lazy, "PodEvicted");
        assert_string_equal(a, b);
        assert_non_null(strstr(a, "NodeDiskFull"));
        free(a);
        free(b);
    }
    twins_free(&w);
}

/* An ingest that fails (out of memory) after closing what was due still
 * closed it: the engine must hear of those closes then - the hook's
 * ENGINE_INCIDENT_CLOSED and the history record - and not never, since
 * the next call starts a fresh delta. For every allocation k of the
 * ingest that can fail, on a fresh engine each time. */
static void count_closes(void *ctx, struct engine *e, uint32_t slot,
                         enum engine_event ev)
{
    (void)e;
    (void)slot;
    if (ev == ENGINE_INCIDENT_CLOSED)
        (*(int *)ctx)++;
}

static void test_failed_ingest_reports_closes(void **state)
{
    (void)state;
    int failed_after_close = 0;

    for (unsigned long k = 1; k < 10000; k++) {
        struct topology *t = NULL;
        struct rules *r = NULL;
        struct engine *e = NULL;
        int closed = 0;
        struct correlate_incident ci;
        struct webhook *wh;
        struct qerr err;
        char at[40], specs[256];
        int rc, failed;

        assert_int_equal(topology_load_buf(&t, graph, strlen(graph), "g", NULL, &err), 0);
        assert_int_equal(rules_load_buf(&r, hist_rules, strlen(hist_rules), "c", &err), 0);
        assert_int_equal(engine_new(&e, t, r), 0);
        engine_set_hook(e, count_closes, &closed);
        spec_time(T0, at, sizeof at);
        snprintf(specs, sizeof specs, "CpuHigh:payment:firing:%s", at);
        spec_ingest(e, "g", specs, T0 + 1000);
        snprintf(specs, sizeof specs, "CpuHigh:payment:resolved:%s", at);
        spec_ingest(e, "g", specs, T0 + 60000);
        assert_int_equal(closed, 0);

        /* an hour later, long past the close deadline */
        spec_time(T0 + HOUR, at, sizeof at);
        snprintf(specs, sizeof specs, "LatencyHigh:frontend:firing:%s", at);
        wh = spec_webhook(e, "h", specs);
        failalloc_arm(k, 0);          /* the Nth alone: the engine may then recover */
        rc = engine_ingest_webhook(e, wh, T0 + HOUR + 1000, &err);
        failed = failalloc_disarm();
        webhook_free(wh);
        assert_int_equal(correlate_incident(engine_correlate(e), 0, &ci), 0);
        if (rc < 0 && ci.state == CORRELATE_CLOSED) {
            failed_after_close++;
            assert_int_equal(closed, 1);
            assert_int_equal(history_incidents(engine_history(e)), 1);
        }
        engine_free(e);
        rules_free(r);
        topology_free(t);
        if (!failed)
            break;
    }
    assert_true(failed_after_close > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_prune_bounds_memory),
        cmocka_unit_test(test_history_across_incidents),
        cmocka_unit_test(test_history_survives_pod_renames),
        cmocka_unit_test(test_history_eager_equals_lazy),
        cmocka_unit_test(test_moved_alert_reranks),
        cmocka_unit_test(test_closed_ranking_as_of_close),
        cmocka_unit_test(test_failed_ingest_reports_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
