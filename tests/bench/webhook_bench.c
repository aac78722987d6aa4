/* webhook_bench.c - decoding cost of one ingest bench body (on demand, not
 * part of ctest). Builds the body tests/bench/alerts.lua sends (10 alerts
 * of ~1 KB, 11.7 KB), then decodes it N times the way ingest does
 * (check: webhook_check on a reused jdoc) or the way the correlator does
 * (parse: webhook_parse into a fresh intern pool). Run it under
 * `valgrind --tool=callgrind` for instruction counts that a busy machine
 * does not blur; subtract a run with N = 1 for the fixed cost.
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -Isrc tests/bench/webhook_bench.c \
 *      build/libquench_core.a $(pkg-config --libs jansson yaml-0.1 \
 *      libmicrohttpd hiredis libcurl libcrypto lua5.4) -lev -lm -o build/webhook_bench
 *   build/webhook_bench check 20000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jdoc.h"
#include "webhook.h"

#define DESC "Pod memory working set has been above 90 percent of its limit for 10 " \
             "minutes; the container will be OOM-killed soon. "
#define GEN "http://prometheus-k8s-0:9090/graph?g0.expr=container_memory_working_set_bytes" \
            "%7Bnamespace%3D%22shop%22%7D%20%2F%20container_spec_memory_limit_bytes%20%3E" \
            "%200.9&g0.tab=1"

/* The body of alerts.lua's request() for run 123, thread 1, request 7. */
static size_t make_body(char *b, size_t cap)
{
    size_t n = (size_t)snprintf(b, cap, "{\"receiver\":\"quench\",\"status\":\"firing\",\"alerts\":[");

    for (int i = 1; i <= 10; i++)
        n += (size_t)snprintf(b + n, cap - n,
            "%s{\"status\":\"firing\",\"labels\":{\"alertname\":\"PodMemoryHigh\","
            "\"namespace\":\"shop\",\"service\":\"cart\",\"pod\":\"cart-123x1x7-%d\","
            "\"container\":\"server\",\"node\":\"node-%d\",\"severity\":\"critical\","
            "\"job\":\"kubernetes-pods\",\"instance\":\"10.0.%d.%d:8080\",\"team\":\"storefront\"},"
            "\"annotations\":{\"summary\":\"memory above 90%% on cart-123x1x7-%d\","
            "\"description\":\"" DESC DESC DESC DESC "\",\"runbook_url\":"
            "\"https://runbooks.example/memory\"},\"startsAt\":\"2026-11-21T23:03:28.829306791Z\","
            "\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"%s\","
            "\"fingerprint\":\"007b0001%08x\"}",
            i > 1 ? "," : "", i, i % 5, i % 250, i, i, GEN, (unsigned)(7 * 16 + i));
    n += (size_t)snprintf(b + n, cap - n,
        "],\"groupLabels\":{\"alertname\":\"PodMemoryHigh\"},\"commonLabels\":"
        "{\"alertname\":\"PodMemoryHigh\",\"namespace\":\"shop\",\"service\":\"cart\"},"
        "\"commonAnnotations\":{},\"externalURL\":\"http://am:9093\",\"version\":\"4\","
        "\"groupKey\":\"{}:{alertname=\\\"PodMemoryHigh\\\"}\",\"truncatedAlerts\":0}\n");
    return n;
}

int main(int argc, char **argv)
{
    static char body[1 << 16];
    size_t len = make_body(body, sizeof body), na = 0, total = 0;
    int n = argc > 2 ? atoi(argv[2]) : 0, check = argc > 1 && strcmp(argv[1], "check") == 0;
    struct jdoc *d = NULL;
    struct timespec t0, t1;
    double s;

    if (argc != 3 || n <= 0 || (!check && strcmp(argv[1], "parse") != 0)) {
        fprintf(stderr, "usage: webhook_bench check|parse N\n");
        return 2;
    }
    if (jdoc_new(&d) != 0)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        struct qerr err;
        int rc;

        if (check) {
            rc = webhook_check(d, body, len, &na, &err);
        } else {
            struct intern *pool;
            struct webhook *w = NULL;
            if (intern_new(&pool) != 0)
                return 1;
            rc = webhook_parse(&w, body, len, pool, &err);
            na = rc == 0 ? w->nalerts : 0;
            webhook_free(w);
            intern_free(pool);
        }
        if (rc != 0) {
            fprintf(stderr, "%s: %s\n", err.source, err.msg);
            return 1;
        }
        total += na;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%s: %d bodies of %zu bytes, %zu alerts, %.3f s, %.1f us per body\n",
           argv[1], n, len, total, s, s * 1e6 / n);
    jdoc_free(d);
    return 0;
}
