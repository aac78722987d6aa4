/* test_topology.c - services.yaml loading (every error with its exact
 * line:column), ids, CSR adjacency plus the run-time overlay, neighbours,
 * and the load time of a generated 10k-service / 100k-edge graph. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "topology.h"

static const char shop[] =
    "services:\n"
    "  frontend:\n"
    "    calls: [checkout, cart]\n"
    "    criticality: high\n"
    "  checkout:\n"
    "    calls: [cart, payment]\n"
    "    uses: [orders-db]\n"
    "    namespace: shop\n"
    "    workload: {kind: StatefulSet, name: co}\n"
    "  cart:\n"
    "  payment:\n"
    "    criticality: low\n"
    "  orders-db:\n"
    "    kind: database\n";

static struct topology *load_ok(const char *yaml, const char *ns)
{
    struct topology *t = NULL;
    struct qerr err;

    memset(&err, 0, sizeof err);
    if (topology_load_buf(&t, yaml, strlen(yaml), "s.yaml", ns, &err) != 0)
        fail_msg("unexpected error: %d:%d: %s", err.line, err.column, err.msg);
    return t;
}

static int32_t id_of(const struct topology *t, enum entity_kind k, const char *n)
{
    int32_t id = topology_find(t, k, n);
    if (id < 0)
        fail_msg("no entity %s", n);
    return id;
}

static void test_load_shop(void **state)
{
    (void)state;
    struct topology *t = load_ok(shop, "default");
    const uint32_t *ids;
    const struct topology_entity *e;

    assert_int_equal(topology_count(t), 5);
    /* Ids follow document order. */
    assert_int_equal(id_of(t, ENTITY_SERVICE, "frontend"), 0);
    assert_int_equal(id_of(t, ENTITY_SERVICE, "orders-db"), 4);
    /* Service-like kinds share a name space. */
    assert_int_equal(topology_find(t, ENTITY_DATABASE, "cart"), 2);
    assert_int_equal(topology_find(t, ENTITY_POD, "cart"), -1);
    assert_int_equal(topology_find(t, ENTITY_SERVICE, "nope"), -1);

    e = topology_entity(t, 0);
    assert_string_equal(e->name, "frontend");
    assert_int_equal(e->criticality, CRIT_HIGH);
    assert_string_equal(e->namespace_, "default");
    assert_string_equal(e->workload_kind, "Deployment");
    assert_string_equal(e->workload_name, "frontend");
    assert_int_equal(e->declared, 1);
    e = topology_entity(t, 1);
    assert_string_equal(e->namespace_, "shop");
    assert_string_equal(e->workload_kind, "StatefulSet");
    assert_string_equal(e->workload_name, "co");
    assert_int_equal(e->criticality, CRIT_MEDIUM);
    assert_int_equal(topology_entity(t, 3)->criticality, CRIT_LOW);
    assert_int_equal(topology_entity(t, 4)->kind, ENTITY_DATABASE);
    assert_null(topology_entity(t, 5));
    assert_int_equal(topology_kind(t, 4), ENTITY_DATABASE);
    assert_int_equal(topology_kind(t, 0), ENTITY_SERVICE);
    assert_int_equal(topology_kind(t, 5), ENTITY_KIND_COUNT);

    assert_int_equal(topology_out(t, 1, &ids), 3);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 3);
    assert_int_equal(ids[2], 4);
    assert_int_equal(topology_in(t, 2, &ids), 2);     /* cart <- frontend, checkout */
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);
    assert_int_equal(topology_out(t, 2, &ids), 0);
    assert_int_equal(topology_out(t, 99, &ids), 0);
    topology_free(t);
}

static void test_empty(void **state)
{
    (void)state;
    struct topology *t = load_ok("", NULL);
    assert_int_equal(topology_count(t), 0);
    topology_free(t);
    t = load_ok("services:\n", NULL);
    assert_int_equal(topology_count(t), 0);
    topology_free(t);
    assert_int_equal(topology_new_empty(&t), 0);
    assert_int_equal(topology_count(t), 0);
    assert_int_equal(topology_intern(t, ENTITY_SERVICE, "x"), 0);
    assert_string_equal(topology_entity(t, 0)->namespace_, "");
    topology_free(t);
}

/* When alerts named an entity: never, then widened both ways; bad ids are
 * ignored and read as never. */
static void test_seen_span(void **state)
{
    (void)state;
    struct topology *t = NULL;
    struct topology_span sp;
    int32_t p;

    assert_int_equal(topology_new_empty(&t), 0);
    p = topology_intern(t, ENTITY_POD, "web-0");
    sp = topology_seen_span(t, (uint32_t)p);
    assert_true(sp.first == INT64_MAX && sp.last == INT64_MIN);
    topology_seen(t, (uint32_t)p, 5000, 9000);
    topology_seen(t, (uint32_t)p, 7000, 8000);    /* inside: no change */
    sp = topology_seen_span(t, (uint32_t)p);
    assert_true(sp.first == 5000 && sp.last == 9000);
    topology_seen(t, (uint32_t)p, 1000, 20000);
    sp = topology_seen_span(t, (uint32_t)p);
    assert_true(sp.first == 1000 && sp.last == 20000);
    topology_seen(t, 77, 1, 2);
    sp = topology_seen_span(t, 77);
    assert_true(sp.first == INT64_MAX && sp.last == INT64_MIN);
    /* entities added later (arrays grow) start as never seen */
    for (int i = 0; i < 200; i++) {
        char name[16];
        snprintf(name, sizeof name, "n-%d", i);
        assert_true(topology_intern(t, ENTITY_NODE, name) >= 0);
    }
    sp = topology_seen_span(t, topology_count(t) - 1);
    assert_true(sp.first == INT64_MAX && sp.last == INT64_MIN);
    assert_true(topology_seen_span(t, (uint32_t)p).last == 20000);
    topology_free(t);
}

static void test_overlay(void **state)
{
    (void)state;
    struct topology *t = load_ok(shop, NULL);
    const uint32_t *ids;
    int32_t pod, node, pod2, unknown;

    pod = topology_intern(t, ENTITY_POD, "cart-0");
    node = topology_intern(t, ENTITY_NODE, "n1");
    assert_int_equal(pod, 5);
    assert_int_equal(node, 6);
    assert_int_equal(topology_intern(t, ENTITY_POD, "cart-0"), 5);
    /* A pod and a service may share a name: separate name spaces. */
    pod2 = topology_intern(t, ENTITY_POD, "cart");
    assert_int_equal(pod2, 7);
    assert_int_equal(topology_entity(t, (uint32_t)pod)->declared, 0);
    /* the kind byte array grows with the entities */
    assert_int_equal(topology_kind(t, (uint32_t)pod), ENTITY_POD);
    assert_int_equal(topology_kind(t, (uint32_t)node), ENTITY_NODE);
    assert_string_equal(topology_entity(t, (uint32_t)pod)->workload_kind, "");

    assert_int_equal(topology_link(t, 2, (uint32_t)pod), 0);
    assert_int_equal(topology_link(t, 2, (uint32_t)pod), 0);   /* idempotent */
    assert_int_equal(topology_link(t, (uint32_t)pod, (uint32_t)node), 0);
    assert_int_equal(topology_link(t, 2, 2), -1);
    assert_int_equal(topology_link(t, 2, 999), -1);
    /* Declared edges stay, the run-time ones follow. */
    assert_int_equal(topology_link(t, 1, (uint32_t)pod2), 0);
    assert_int_equal(topology_out(t, 1, &ids), 4);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[3], (uint32_t)pod2);
    assert_int_equal(topology_in(t, (uint32_t)pod, &ids), 1);
    assert_int_equal(ids[0], 2);
    assert_int_equal(topology_in(t, (uint32_t)node, &ids), 1);
    assert_int_equal(topology_pod_service(t, (uint32_t)pod), 2);
    assert_int_equal(topology_pod_service(t, 2), -1);

    unknown = topology_intern(t, ENTITY_SERVICE, "ghost");
    assert_int_equal(unknown, 8);
    assert_string_equal(topology_entity(t, (uint32_t)unknown)->workload_name, "ghost");
    assert_int_equal(topology_out(t, (uint32_t)unknown, &ids), 0);
    topology_free(t);
}

static int contains(const uint32_t *v, int n, uint32_t x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

static void test_neighbours(void **state)
{
    (void)state;
    struct topology *t = load_ok(shop, NULL);
    uint32_t out[16];
    int n;

    /* payment(3): 1 hop checkout(1); 2 hops frontend(0), cart(2), orders-db(4). */
    n = topology_neighbours(t, 3, 0, out, 16);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 3);
    n = topology_neighbours(t, 3, 1, out, 16);
    assert_int_equal(n, 2);
    assert_int_equal(out[1], 1);
    n = topology_neighbours(t, 3, 2, out, 16);
    assert_int_equal(n, 5);
    assert_true(contains(out, n, 0) && contains(out, n, 2) && contains(out, n, 4));
    /* Nearest first, capped. */
    n = topology_neighbours(t, 3, 2, out, 2);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 1);
    assert_int_equal(topology_neighbours(t, 3, 2, out, 0), 0);
    assert_int_equal(topology_neighbours(t, 42, 2, out, 16), -1);
    /* Overlay edges count: node -> pod -> service. */
    int32_t pod = topology_intern(t, ENTITY_POD, "payment-0");
    int32_t node = topology_intern(t, ENTITY_NODE, "n1");
    assert_int_equal(topology_link(t, 3, (uint32_t)pod), 0);
    assert_int_equal(topology_link(t, (uint32_t)pod, (uint32_t)node), 0);
    n = topology_neighbours(t, (uint32_t)node, 2, out, 16);
    assert_int_equal(n, 3);
    assert_true(contains(out, n, 3));
    assert_false(contains(out, n, 1));
    topology_free(t);
}

struct bad {
    const char *yaml;
    int line, col;
    const char *needle;
};

static void test_errors(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { "servics: {}\n", 1, 1, "unknown key 'servics'" },
        { "services: [a, b]\n", 1, 11, "services must be a map" },
        { "services:\n  a:\n    colour: red\n", 3, 5, "unknown key 'colour'" },
        { "services:\n  a:\n    kind: pod\n", 3, 11, "kind must be one of" },
        { "services:\n  a:\n    kind: lambda\n", 3, 11, "kind must be one of" },
        { "services:\n  a:\n    criticality: urgent\n", 3, 18, "criticality" },
        { "services:\n  a:\n    calls: [b]\n", 3, 13, "no such service" },
        { "services:\n  a:\n    uses: [a]\n", 3, 12, "cannot depend on itself" },
        { "services:\n  a:\n    calls: [b]\n    uses: [b]\n  b:\n", 4, 12,
          "listed twice" },
        { "services:\n  a:\n    calls: b\n", 3, 12, "must be a list" },
        { "services:\n  a:\n    workload: {kind: Deployment, nam: x}\n", 3, 34,
          "unknown key 'nam'" },
        { "services:\n  a:\n    namespace: \"\"\n", 3, 16, "must not be empty" },
        { "services:\n  a:\n    calls: [{x: 1}]\n", 3, 13, "expected a string" },
        { "services:\n  a: 5\n", 2, 6, "expected a map" },
        { "services:\n  a:\n  a:\n", 3, 3, "" },   /* ytree: duplicate key */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct topology *t = (struct topology *)1;
        struct qerr err;
        memset(&err, 0, sizeof err);
        assert_int_equal(topology_load_buf(&t, cases[i].yaml, strlen(cases[i].yaml),
                                           "s.yaml", NULL, &err), -1);
        assert_null(t);
        if (strcmp(err.source, "s.yaml") != 0 || err.line != cases[i].line ||
            err.column != cases[i].col || strstr(err.msg, cases[i].needle) == NULL)
            fail_msg("case %zu: want %d:%d '%s', got %s:%d:%d '%s'", i,
                     cases[i].line, cases[i].col, cases[i].needle, err.source,
                     err.line, err.column, err.msg);
    }
}

static void test_file_and_shared(void **state)
{
    (void)state;
    const char *shared = getenv("QUENCH_SHARED_DIR");
    const char *src = getenv("QUENCH_SOURCE_DIR");
    char path[1024];
    struct topology *t = NULL;
    struct qerr err;

    snprintf(path, sizeof path, "%s/data/rca/ob-cloudbed-1/services.yaml",
             shared ? shared : "/work/shared");
    if (topology_load(&t, path, NULL, &err) != 0)
        fail_msg("%s:%d:%d: %s", err.source, err.line, err.column, err.msg);
    assert_int_equal(topology_count(t), 12);
    assert_int_equal(topology_entity(t, (uint32_t)id_of(t, ENTITY_SERVICE,
                                                        "redis-cart"))->kind,
                     ENTITY_CACHE);
    topology_free(t);

    snprintf(path, sizeof path, "%s/rules/services.yaml", src ? src : ".");
    if (topology_load(&t, path, NULL, &err) != 0)
        fail_msg("%s:%d:%d: %s", err.source, err.line, err.column, err.msg);
    assert_int_equal(topology_count(t), 11);
    assert_string_equal(topology_entity(t, (uint32_t)id_of(t, ENTITY_SERVICE,
                                                           "frontend"))->namespace_,
                        "shop");
    topology_free(t);

    assert_int_equal(topology_load(&t, "/nonexistent/services.yaml", NULL, &err), -1);
    assert_null(t);
    assert_string_equal(err.source, "/nonexistent/services.yaml");
}

/* 10k services, 10 edges each (100k), loaded from a generated buffer. */
static void test_large(void **state)
{
    (void)state;
    const unsigned n = 10000, deg = 10;
    size_t cap = (size_t)n * 160, len = 0;
    char *buf = malloc(cap);
    struct topology *t = NULL;
    struct qerr err;
    struct timespec a, b;
    uint32_t *out = malloc(4096 * sizeof *out);

    assert_non_null(buf);
    len += (size_t)snprintf(buf + len, cap - len, "services:\n");
    for (unsigned i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "  s%u:\n    calls: [", i);
        for (unsigned k = 1; k <= deg; k++)
            len += (size_t)snprintf(buf + len, cap - len, "%ss%u", k > 1 ? ", " : "",
                                    (i + k * 7 + k * k) % n);
        len += (size_t)snprintf(buf + len, cap - len, "]\n");
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (topology_load_buf(&t, buf, len, "big.yaml", NULL, &err) != 0)
        fail_msg("%d:%d: %s", err.line, err.column, err.msg);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    print_message("10k services / 100k edges (%zu bytes) loaded in %.1f ms\n", len, ms);
    assert_int_equal(topology_count(t), n);
    const uint32_t *ids;
    assert_int_equal(topology_out(t, 0, &ids), deg);
    int nb = topology_neighbours(t, 0, 2, out, 4096);
    assert_true(nb > 100);
    /* Generous bound: sanitizer builds are several times slower. */
    assert_true(ms < 5000.0);
    topology_free(t);
    free(buf);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_shop),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_seen_span),
        cmocka_unit_test(test_overlay),
        cmocka_unit_test(test_neighbours),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_file_and_shared),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
