/* test_replay.c - the replay consumer: record validation messages, the
 * virtual clock and end of input, and byte-identical reports from two runs
 * over a real case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

struct world {
    struct topology *t;
    struct rules *r;
    struct replay *rp;
};

static void world_init(struct world *w, const char *services)
{
    struct qerr err;

    memset(w, 0, sizeof *w);
    assert_int_equal(rules_new_default(&w->r), 0);
    if (services != NULL) {
        if (topology_load(&w->t, services, NULL, &err) != 0)
            fail_msg("%s: %s", services, err.msg);
    } else {
        assert_int_equal(topology_new_empty(&w->t), 0);
    }
    assert_int_equal(replay_new(&w->rp, w->t, w->r), 0);
}

static void world_cleanup(struct world *w)
{
    replay_free(w->rp);
    topology_free(w->t);
    rules_free(w->r);
}

static int rec(struct world *w, const char *line, struct qerr *err)
{
    return replay_record(w->rp, line, strlen(line), err);
}

#define ALERT(name, status, starts)                                              \
    "{\"status\":\"" status "\",\"labels\":{\"alertname\":\"" name "\","      \
    "\"service\":\"cart\"},\"annotations\":{},\"startsAt\":\"" starts "\","   \
    "\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"\"}"
#define PAYLOAD(alerts)                                                          \
    "{\"version\":\"4\",\"groupKey\":\"{}:{}\",\"status\":\"firing\","        \
    "\"receiver\":\"q\",\"groupLabels\":{},\"commonLabels\":{},"                \
    "\"commonAnnotations\":{},\"externalURL\":\"\",\"alerts\":[" alerts "]}"

static void test_invalid_records(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *needle;
    } bad[] = {
        { "not json", "not JSON" },
        { "[1]", "not a JSON object" },
        { "{\"payload\":{}}", "received_at" },
        { "{\"received_at\":\"yesterday\",\"payload\":{}}", "received_at" },
        { "{\"received_at\":\"2022-03-20T00:00:00Z\"}", "payload missing" },
        { "{\"received_at\":\"2022-03-20T00:00:00Z\",\"payload\":{\"version\":\"3\"}}",
          "payload: $" },
        { "{\"received_at\":\"2022-03-20T00:00:00Z\",\"received_at\":\"2022-03-20T00:00:00Z\","
          "\"payload\":{}}", "not JSON" },
    };
    struct world w;
    struct qerr err;

    world_init(&w, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(rec(&w, bad[i].line, &err), -1);
        if (strstr(err.msg, bad[i].needle) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].needle);
    }
    assert_int_equal(replay_records(w.rp), 0);
    /* Unknown keys are ignored. */
    assert_int_equal(rec(&w, "{\"received_at\":\"2022-03-20T00:00:00Z\",\"kind\":\"x\","
                             "\"payload\":" PAYLOAD(ALERT("A", "firing", "2022-03-20T00:00:00Z"))
                             "}", &err), 0);
    assert_int_equal(replay_records(w.rp), 1);
    assert_int_equal(replay_alerts(w.rp), 1);
    world_cleanup(&w);
}

static void test_clock_and_end(void **state)
{
    (void)state;
    struct world w;
    struct qerr err;
    json_t *rep, *incs;

    world_init(&w, NULL);
    assert_int_equal(rec(&w, "{\"received_at\":\"2022-03-20T00:00:00Z\",\"payload\":"
                             PAYLOAD(ALERT("A", "firing", "2022-03-20T00:00:00Z") ","
                                     ALERT("B", "firing", "2022-03-20T00:00:00Z")) "}",
                         &err), 0);
    assert_int_equal(rec(&w, "{\"received_at\":\"2022-03-20T00:01:00Z\",\"payload\":"
                             PAYLOAD(ALERT("A", "resolved", "2022-03-20T00:00:00Z")) "}",
                         &err), 0);
    /* 20 minutes later: B still fires, so the incident is still open and
     * a new alert outside the window opens another one. */
    assert_int_equal(rec(&w, "{\"received_at\":\"2022-03-20T00:21:00Z\",\"payload\":"
                             PAYLOAD(ALERT("C", "firing", "2022-03-20T00:21:00Z")) "}",
                         &err), 0);
    assert_int_equal(rec(&w, "{\"received_at\":\"2022-03-20T00:22:00Z\",\"payload\":"
                             PAYLOAD(ALERT("C", "resolved", "2022-03-20T00:21:00Z")) "}",
                         &err), 0);
    replay_finish(w.rp);
    rep = replay_report_json(w.rp);
    assert_non_null(rep);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "input"),
                                                        "records")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "input"),
                                                        "alerts")), 5);
    incs = json_object_get(rep, "incidents");
    assert_int_equal(json_array_size(incs), 2);
    /* End of input: the first still fires (B): open. The second resolved
     * at 00:22 closes at 00:27, with nothing more arriving. */
    assert_true(json_is_null(json_object_get(json_array_get(incs, 0), "closed_at")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(incs, 1),
                                                          "closed_at")),
                        "2022-03-20T00:27:00Z");
    json_decref(rep);
    world_cleanup(&w);
}

static void noop_hook(void *ctx, struct engine *e, uint32_t slot,
                      enum engine_event ev)
{
    (void)ctx;
    (void)e;
    (void)slot;
    (void)ev;
}

/* Replay PATH; with EAGER, a hook makes the engine rank after every
 * webhook (as serve does) instead of once at the end. */
static char *run_case_mode(const char *services, const char *path, int eager)
{
    struct world w;
    struct qerr err;
    FILE *f = fopen(path, "r");
    char *line = NULL, *out;
    size_t cap = 0, lineno = 0;
    ssize_t len;

    assert_non_null(f);
    world_init(&w, services);
    if (eager) {
        engine_set_hook(replay_engine(w.rp), noop_hook, NULL);
        engine_set_eager_ranking(replay_engine(w.rp), 1);
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] == '\n')
            len--;
        if (replay_record(w.rp, line, (size_t)len, &err) != 0)
            fail_msg("%s:%zu: %s", path, lineno, err.msg);
    }
    free(line);
    fclose(f);
    replay_finish(w.rp);
    json_t *rep = replay_report_json(w.rp);
    out = json_dumps(rep, REPLAY_JSON_FLAGS);
    json_decref(rep);
    world_cleanup(&w);
    return out;
}

static char *run_case(const char *services, const char *path)
{
    return run_case_mode(services, path, 0);
}

/* Serve ranks after every webhook, replay once at the end: rank promises
 * the same result, so the reports must be identical. */
static void test_eager_equals_lazy(void **state)
{
    (void)state;
    const char *shared = getenv("QUENCH_SHARED_DIR");
    char services[1024], input[1024];
    static const char *const ids[] = { "000", "005", "023", "041", "066" };

    snprintf(services, sizeof services, "%s/data/rca/ob-cloudbed-1/services.yaml",
             shared ? shared : "/work/shared");
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        snprintf(input, sizeof input, "%s/data/rca/ob-cloudbed-1/cases/%s.jsonl",
                 shared ? shared : "/work/shared", ids[i]);
        char *a = run_case_mode(services, input, 0);
        char *b = run_case_mode(services, input, 1);
        if (strcmp(a, b) != 0)
            fail_msg("case %s: eager and lazy ranking differ", ids[i]);
        free(a);
        free(b);
    }
}

static void test_deterministic_case(void **state)
{
    (void)state;
    const char *shared = getenv("QUENCH_SHARED_DIR");
    char services[1024], input[1024];

    snprintf(services, sizeof services, "%s/data/rca/ob-cloudbed-1/services.yaml",
             shared ? shared : "/work/shared");
    snprintf(input, sizeof input, "%s/data/rca/ob-cloudbed-1/cases/005.jsonl",
             shared ? shared : "/work/shared");
    char *a = run_case(services, input);
    char *b = run_case(services, input);
    assert_non_null(a);
    assert_string_equal(a, b);
    json_t *rep = json_loads(a, 0, NULL);
    json_t *incs = json_object_get(rep, "incidents");
    assert_true(json_array_size(incs) >= 1);
    /* Sorted by opened_at. */
    for (size_t i = 1; i < json_array_size(incs); i++)
        assert_true(strcmp(json_string_value(json_object_get(json_array_get(incs, i - 1),
                                                             "opened_at")),
                           json_string_value(json_object_get(json_array_get(incs, i),
                                                             "opened_at"))) <= 0);
    json_decref(rep);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_records),
        cmocka_unit_test(test_clock_and_end),
        cmocka_unit_test(test_deterministic_case),
        cmocka_unit_test(test_eager_equals_lazy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
