/* test_history.c - the recurrence store: recording, the horizon, eviction
 * at the caps, dump/restore and determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "history.h"
#include "limits.h"

#define HOUR 3600000LL

static struct history *mk(int64_t window_ms, unsigned min)
{
    struct history_config c = {window_ms, min};
    struct history *h = NULL;
    assert_int_equal(history_new(&h, &c), 0);
    return h;
}

static void rec(struct history *h, int64_t at, const char *const *names, size_t n)
{
    /* names: entity, alertname, entity, alertname, ... */
    struct history_pair p[16];
    assert_true(n / 2 <= 16);
    for (size_t i = 0; i + 1 < n; i += 2)
        p[i / 2] = (struct history_pair){names[i], names[i + 1]};
    assert_int_equal(history_record(h, at, p, n / 2, NULL), 0);
}

static struct history_hits look(const struct history *h, const char *e,
                                const char *a, int64_t now)
{
    struct history_hits x;
    history_lookup(h, e, a, now, &x);
    return x;
}

static void test_record_and_count(void **state)
{
    (void)state;
    struct history *h = mk(24 * HOUR, 2);
    const char *i1[] = {"cur-0", "CpuHigh", "cur-0", "CpuHigh", "node-6", "Load"};
    const char *i2[] = {"cur-0", "CpuHigh", "cart", "Latency"};
    const char *i3[] = {"cur-0", "MemHigh"};
    struct history_hits x;
    double r;

    rec(h, 1 * HOUR, i1, 6);   /* the repeat within one incident counts once */
    rec(h, 2 * HOUR, i2, 4);
    rec(h, 3 * HOUR, i3, 2);
    assert_int_equal(history_incidents(h), 3);
    assert_int_equal(history_pairs(h), 4);
    x = look(h, "cur-0", "CpuHigh", 4 * HOUR);
    assert_int_equal(x.seen, 2);
    assert_int_equal(x.of, 3);
    /* entity and alertname are one key: the same names swapped differ */
    assert_int_equal(look(h, "CpuHigh", "cur-0", 4 * HOUR).seen, 0);
    assert_int_equal(look(h, "cur-0", "Load", 4 * HOUR).seen, 0);
    /* only incidents closed by `now` count */
    x = look(h, "cur-0", "CpuHigh", 1 * HOUR + 1);
    assert_int_equal(x.seen, 1);
    assert_int_equal(x.of, 1);
    /* recurrence: below min_incidents it is new; at 2, 2/3 */
    assert_true(history_recurrence(h, "node-6", "Load", 4 * HOUR, NULL) == 0.0);
    r = history_recurrence(h, "cur-0", "CpuHigh", 4 * HOUR, &x);
    assert_true(r > 0.6666 && r < 0.6667);
    assert_int_equal(x.seen, 2);
    assert_true(history_recurrence(h, "nobody", NULL, 4 * HOUR, NULL) == 0.0);
    history_free(h);
    history_free(NULL);
}

static void test_horizon_expiry(void **state)
{
    (void)state;
    struct history *h = mk(6 * HOUR, 1);
    const char *a[] = {"db", "SlowQueries"};

    rec(h, 0, a, 2);
    rec(h, 5 * HOUR, a, 2);
    assert_int_equal(look(h, "db", "SlowQueries", 5 * HOUR).seen, 2);
    /* (now - window, now]: at 6h the first incident is exactly a window
     * old and out */
    assert_int_equal(look(h, "db", "SlowQueries", 6 * HOUR - 1).seen, 2);
    assert_int_equal(look(h, "db", "SlowQueries", 6 * HOUR).seen, 1);
    assert_int_equal(look(h, "db", "SlowQueries", 6 * HOUR).of, 1);
    assert_int_equal(look(h, "db", "SlowQueries", 11 * HOUR).seen, 0);
    assert_int_equal(look(h, "db", "SlowQueries", 11 * HOUR).of, 0);
    assert_true(history_recurrence(h, "db", "SlowQueries", 11 * HOUR, NULL) == 0.0);
    /* a late record is placed at the newest time, keeping the timeline */
    rec(h, 1 * HOUR, a, 2);
    /* (1.5h, 7.5h]: at 1h it would be out, placed at 5h it is in */
    assert_int_equal(look(h, "db", "SlowQueries", 7 * HOUR + HOUR / 2).seen, 2);
    assert_int_equal(look(h, "db", "SlowQueries", 7 * HOUR + HOUR / 2).of, 2);
    history_free(h);
}

/* Lookups in the past are as exact as in the present: a rank state
 * rebuilt late asks at its incident's opened_at, long after newer
 * incidents were recorded. */
static void test_lookup_in_the_past(void **state)
{
    (void)state;
    struct history *h = mk(10 * HOUR, 1);
    const char *a[] = {"n", "Cpu"};

    for (int i = 0; i < 100; i++)
        rec(h, i * HOUR, a, 2);
    /* (20h, 30h]: 21h..30h */
    assert_int_equal(look(h, "n", "Cpu", 30 * HOUR).seen, 10);
    assert_int_equal(look(h, "n", "Cpu", 30 * HOUR).of, 10);
    assert_int_equal(look(h, "n", "Cpu", 3 * HOUR).seen, 4);
    assert_int_equal(look(h, "n", "Cpu", 200 * HOUR).seen, 0);
    assert_int_equal(look(h, "n", "Cpu", 99 * HOUR).seen, 10);
    history_free(h);
}

static void test_eviction_at_incident_cap(void **state)
{
    (void)state;
    struct history *h = mk(1000000 * HOUR, 1);
    const char *first[] = {"old", "Gone"};
    const char *other[] = {"svc", "Cpu"};

    rec(h, 0, first, 2);
    for (int i = 1; i < QUENCH_HISTORY_MAX_INCIDENTS; i++)
        rec(h, i, other, 2);
    assert_int_equal(history_incidents(h), QUENCH_HISTORY_MAX_INCIDENTS);
    assert_int_equal(look(h, "old", "Gone", QUENCH_HISTORY_MAX_INCIDENTS).seen, 1);
    /* one more: the oldest incident and its only pair are forgotten */
    rec(h, QUENCH_HISTORY_MAX_INCIDENTS, other, 2);
    assert_int_equal(history_incidents(h), QUENCH_HISTORY_MAX_INCIDENTS);
    assert_int_equal(look(h, "old", "Gone", QUENCH_HISTORY_MAX_INCIDENTS).seen, 0);
    assert_int_equal(history_pairs(h), 1);
    assert_int_equal(look(h, "svc", "Cpu", QUENCH_HISTORY_MAX_INCIDENTS).of,
                     QUENCH_HISTORY_MAX_INCIDENTS);
    history_free(h);
}

/* Big incidents fill the reference ring: the oldest go until the new one
 * fits, their pairs with them, and deleting pairs from the hash keeps
 * every other pair findable (backward-shift deletion). */
static void test_eviction_at_ref_cap(void **state)
{
    (void)state;
    struct history *h = mk(1000000 * HOUR, 1);
    const size_t per = QUENCH_HISTORY_MAX_INCIDENT_PAIRS;
    const size_t rounds = QUENCH_HISTORY_MAX_REFS / per + 3;
    struct history_pair *p = calloc(per, sizeof *p);
    char (*names)[32] = calloc(per, sizeof *names);
    char e[32], q[32];

    assert_non_null(p);
    assert_non_null(names);
    for (size_t k = 0; k < rounds; k++) {
        for (size_t i = 0; i < per; i++) {
            /* half the pairs are shared by every incident, half its own */
            if (i % 2)
                snprintf(names[i], sizeof names[i], "own-%zu-%zu", k, i);
            else
                snprintf(names[i], sizeof names[i], "shared-%zu", i);
            p[i] = (struct history_pair){names[i], "A"};
        }
        assert_int_equal(history_record(h, (int64_t)k, p, per, NULL), 0);
    }
    /* what fits: MAX_REFS / per incidents */
    assert_int_equal(history_incidents(h), QUENCH_HISTORY_MAX_REFS / per);
    assert_int_equal(history_pairs(h),
                     per / 2 + (QUENCH_HISTORY_MAX_REFS / per) * (per / 2));
    assert_int_equal(look(h, "own-0-1", "A", (int64_t)rounds).seen, 0);
    snprintf(e, sizeof e, "own-%zu-%d", rounds - 1, 1);
    assert_int_equal(look(h, e, "A", (int64_t)rounds).seen, 1);
    for (size_t i = 0; i < per; i += 2) {
        snprintf(q, sizeof q, "shared-%zu", i);
        assert_int_equal(look(h, q, "A", (int64_t)rounds).seen,
                         QUENCH_HISTORY_MAX_REFS / per);
    }
    /* past the per-incident cap: refused, nothing changes */
    {
        struct history_pair *big = calloc(per + 1, sizeof *big);
        char (*bn)[32] = calloc(per + 1, sizeof *bn);
        struct qerr err;
        for (size_t i = 0; i <= per; i++) {
            snprintf(bn[i], sizeof bn[i], "storm-%zu", i);
            big[i] = (struct history_pair){bn[i], "A"};
        }
        assert_int_equal(history_record(h, (int64_t)rounds, big, per + 1, &err), -1);
        assert_non_null(strstr(err.msg, "over the cap"));
        assert_int_equal(history_incidents(h), QUENCH_HISTORY_MAX_REFS / per);
        assert_int_equal(look(h, e, "A", (int64_t)rounds).seen, 1);
        free(big);
        free(bn);
    }
    free(p);
    free(names);
    history_free(h);
}

static void build(struct history *h, int shuffle)
{
    /* the same incidents, pairs listed in a different order */
    const char *a[] = {"p-0", "Cpu", "p-1", "Mem", "n-1", "Load", "svc", "Lat"};
    const char *b[] = {"svc", "Lat", "n-1", "Load", "p-1", "Mem", "p-0", "Cpu"};
    for (int i = 0; i < 40; i++) {
        const char *c[] = {"p-0", "Cpu", "x", i % 3 ? "A" : "B"};
        rec(h, i * HOUR, (shuffle && i % 2) ? b : a, 8);
        rec(h, i * HOUR + 1, c, 4);
    }
}

static void test_dump_restore_round_trip(void **state)
{
    (void)state;
    struct history *h = mk(24 * HOUR, 2), *g = mk(24 * HOUR, 2);
    const char *names[][2] = {{"p-0", "Cpu"}, {"p-1", "Mem"}, {"x", "A"},
                              {"x", "B"}, {"n-1", "Load"}, {"none", "Cpu"}};
    json_t *j, *k;
    char *s1, *s2;
    struct qerr err;

    build(h, 0);
    j = history_dump(h);
    assert_non_null(j);
    assert_int_equal(history_restore(g, j, &err), 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (int64_t t = 0; t < 45 * HOUR; t += 5 * HOUR) {
            struct history_hits x = look(h, names[i][0], names[i][1], t);
            struct history_hits y = look(g, names[i][0], names[i][1], t);
            assert_int_equal(x.seen, y.seen);
            assert_int_equal(x.of, y.of);
        }
    k = history_dump(g);
    s1 = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    s2 = json_dumps(k, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    json_decref(k);
    /* malformed dumps are refused and leave the store as it was */
    {
        static const char *bad[] = {
            "{}", "{\"version\": 2, \"incidents\": []}",
            "{\"version\": 1, \"incidents\": [{\"pairs\": []}]}",
            "{\"version\": 1, \"incidents\": [{\"closed_at\": 1, \"pairs\": [[\"a\"]]}]}",
            "{\"version\": 1, \"incidents\": [{\"closed_at\": 1, \"pairs\": [[\"a\", 3]]}]}",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            json_t *b = json_loads(bad[i], 0, NULL);
            assert_non_null(b);
            assert_int_equal(history_restore(g, b, &err), -1);
            json_decref(b);
            assert_int_equal(look(g, "p-0", "Cpu", 40 * HOUR).seen,
                             look(h, "p-0", "Cpu", 40 * HOUR).seen);
        }
    }
    json_decref(j);
    history_free(h);
    history_free(g);
}

static void test_deterministic(void **state)
{
    (void)state;
    struct history *h = mk(24 * HOUR, 2), *g = mk(24 * HOUR, 2);
    json_t *a, *b;
    char *s1, *s2;

    build(h, 0);
    build(g, 1);
    a = history_dump(h);
    b = history_dump(g);
    s1 = json_dumps(a, JSON_COMPACT);
    s2 = json_dumps(b, JSON_COMPACT);
    /* same incidents, pairs listed in another order: same store, byte for
     * byte (pairs are kept in a canonical order) */
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    json_decref(a);
    json_decref(b);
    history_free(h);
    history_free(g);
}

static void test_bad_config_and_long_names(void **state)
{
    (void)state;
    struct history_config c = {0, 2};
    struct history *h = (struct history *)1;
    char longname[QUENCH_HISTORY_MAX_NAME * 2];
    char other[QUENCH_HISTORY_MAX_NAME * 2];

    assert_int_equal(history_new(&h, &c), -1);
    assert_null(h);
    h = mk(HOUR, 1);
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    memcpy(other, longname, sizeof other);
    other[sizeof other - 2] = 'b';  /* differs after the cut */
    {
        const char *p[] = {longname, "X"};
        rec(h, 0, p, 2);
    }
    assert_int_equal(look(h, longname, "X", 1).seen, 1);
    assert_int_equal(look(h, other, "X", 1).seen, 1);
    history_free(h);
}

/* Pods are remembered by their service; everything else by its name. */
static void test_entity_name(void **state)
{
    (void)state;
    struct topology *t = NULL;
    char buf[QUENCH_HISTORY_MAX_NAME];
    int32_t svc, pod, lone, node;

    assert_int_equal(topology_new_empty(&t), 0);
    svc = topology_intern(t, ENTITY_SERVICE, "cart");
    pod = topology_intern(t, ENTITY_POD, "cart-5d8-x2k");
    lone = topology_intern(t, ENTITY_POD, "orphan-0");
    node = topology_intern(t, ENTITY_NODE, "node-3");
    assert_true(svc >= 0 && pod >= 0 && lone >= 0 && node >= 0);
    assert_int_equal(topology_link(t, (uint32_t)svc, (uint32_t)pod), 0);
    assert_string_equal(history_entity_name(t, (uint32_t)pod, buf, sizeof buf),
                        "pods of cart");
    assert_string_equal(history_entity_name(t, (uint32_t)svc, buf, sizeof buf), "cart");
    assert_string_equal(history_entity_name(t, (uint32_t)node, buf, sizeof buf), "node-3");
    /* a pod no service owns keeps its own name */
    assert_string_equal(history_entity_name(t, (uint32_t)lone, buf, sizeof buf),
                        "orphan-0");
    /* a short buffer truncates, never overflows */
    assert_string_equal(history_entity_name(t, (uint32_t)pod, buf, 6), "pods ");
    assert_null(history_entity_name(t, 12345, buf, sizeof buf));
    topology_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_and_count),
        cmocka_unit_test(test_horizon_expiry),
        cmocka_unit_test(test_lookup_in_the_past),
        cmocka_unit_test(test_eviction_at_incident_cap),
        cmocka_unit_test(test_eviction_at_ref_cap),
        cmocka_unit_test(test_dump_restore_round_trip),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_bad_config_and_long_names),
        cmocka_unit_test(test_entity_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
