/* test_engine.c - the pipeline: webhooks in, incidents out through the
 * hook (updated, merged, closed), ranking plugged in, and the report JSON
 * of one incident (keys, order, sorting, times). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

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

/* A webhook body with one alert per "alertname:service:status:startsAt". */
static struct webhook *webhook(struct engine *e, const char *group, const char *specs)
{
    char body[8192], spec[512], *save = NULL, *tok;
    size_t len = 0;
    int first = 1;
    struct webhook *wh = NULL;
    struct qerr err;

    len += (size_t)snprintf(body + len, sizeof body - len,
                            "{\"version\":\"4\",\"groupKey\":\"%s\",\"status\":\"firing\","
                            "\"receiver\":\"q\",\"groupLabels\":{},\"commonLabels\":{},"
                            "\"commonAnnotations\":{},\"externalURL\":\"\",\"alerts\":[",
                            group);
    snprintf(spec, sizeof spec, "%s", specs);
    for (tok = strtok_r(spec, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char name[64], svc[64], st[16], at[64];
        if (sscanf(tok, "%63[^:]:%63[^:]:%15[^:]:%63s", name, svc, st, at) != 4)
            fail_msg("bad spec %s", tok);
        for (char *p = at; *p; p++)
            if (*p == '_')
                *p = ':';
        len += (size_t)snprintf(body + len, sizeof body - len,
                                "%s{\"status\":\"%s\",\"labels\":{\"alertname\":\"%s\","
                                "\"service\":\"%s\",\"severity\":\"critical\"},"
                                "\"annotations\":{},\"startsAt\":\"%s\",\"endsAt\":\"%s\","
                                "\"generatorURL\":\"\"}",
                                first ? "" : ",", st, name, svc, at,
                                strcmp(st, "resolved") == 0 ? at : "0001-01-01T00:00:00Z");
        first = 0;
    }
    snprintf(body + len, sizeof body - len, "]}");
    if (webhook_parse(&wh, body, strlen(body), engine_pool(e), &err) != 0)
        fail_msg("webhook: %s: %s", err.source, err.msg);
    return wh;
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

    wh = webhook(e, "g1", "CpuHigh:payment:firing:2022-03-20T00_40_00Z "
                          "LatencyHigh:payment:firing:2022-03-20T00_40_05Z");
    assert_int_equal(engine_ingest_webhook(e, wh, T0 + 1000, &err), 2);
    webhook_free(wh);
    assert_int_equal(ev.updated, 1);          /* once per webhook, not per alert */
    wh = webhook(e, "g2", "ErrorsHigh:frontend:firing:2022-03-20T00_40_10Z");
    assert_int_equal(engine_ingest_webhook(e, wh, T0 + 2000, &err), 1);
    webhook_free(wh);
    assert_int_equal(ev.updated, 2);
    assert_int_equal(engine_list(e, &slots, &n), 0);
    assert_int_equal(n, 2);
    free(slots);

    /* checkout links payment's and frontend's incidents: merge. */
    wh = webhook(e, "g3", "LatencyHigh:checkout:firing:2022-03-20T00_40_20Z");
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
    wh = webhook(e, "g1", "CpuHigh:payment:resolved:2022-03-20T00_40_00Z "
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
    wh = webhook(e, "g1", "CpuHigh:payment:resolved:2022-03-20T00_40_00Z");
    assert_int_equal(engine_ingest_webhook(e, wh, T0 + 400000, &err), 0);
    webhook_free(wh);
    assert_int_equal(ev.updated, before);

    engine_free(e);
    rules_free(r);
    topology_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
