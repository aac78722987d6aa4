/* correlate_bench.c - speed and memory of correlation on a synthetic
 * 10k-service graph (100k edges). Reported, not asserted.
 *
 *   correlate_bench active [N] [weak] N active alerts (default 100000): bytes
 *                                     per alert, ingest latency p50/p99/max;
 *                                     weak: every 100th alert is about one of
 *                                     50 nodes no pod runs on (a weak member:
 *                                     what the guesses' look-ups cost)
 *   correlate_bench gen DIR [N]       write DIR/services.yaml and
 *                                     DIR/alerts.jsonl (N alerts, default 1M,
 *                                     10 per webhook) for `quench replay`
 *
 * Build (see docs/correlation.md):
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -Isrc tests/bench/correlate_bench.c \
 *      build-rel/libquench_core.a $(pkg-config --libs jansson yaml-0.1 \
 *      libmicrohttpd hiredis libcurl libcrypto lua5.4) -lev -lm -o correlate_bench
 *
 * Synthetic world: service s<i> calls 10 others (deterministic pseudo-random),
 * 3 pods each, 500 nodes, 20 namespaces (the scope), 20 alertnames. Alerts
 * arrive at 50/s in bursts around a few faulty services, so incidents have
 * realistic sizes rather than one per alert or one for everything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

#define NSVC 10000u
#define DEG 10u
#define NNODE 500u
#define NNS 20u

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static char *services_yaml(size_t *len)
{
    size_t cap = (size_t)NSVC * 160;
    char *buf = malloc(cap);
    size_t n = 0;

    n += (size_t)snprintf(buf + n, cap - n, "services:\n");
    for (unsigned i = 0; i < NSVC; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "  s%u:\n    calls: [", i);
        for (unsigned k = 1; k <= DEG; k++)
            n += (size_t)snprintf(buf + n, cap - n, "%ss%u", k > 1 ? ", " : "",
                                  (i + k * 7 + k * k * 13) % NSVC);
        n += (size_t)snprintf(buf + n, cap - n, "]\n");
    }
    *len = n;
    return buf;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The i-th alert's labels, into buf as "k=v" pairs. */
struct gen {
    unsigned svc, pod, node, ns, name;
};

static struct gen pick(unsigned i)
{
    struct gen g;
    /* Bursts: every 200 alerts a new faulty service; its neighbours alert. */
    unsigned fault = (unsigned)((i / 200) * 7919u % NSVC);
    uint64_t r = next();
    g.svc = (r & 1) ? fault : (fault + (unsigned)(r >> 8) % 40u) % NSVC;
    g.pod = (unsigned)(r >> 20) % 3u;
    g.node = (g.svc * 3u + g.pod) % NNODE;
    g.ns = (i / 200) % NNS;
    g.name = (unsigned)(r >> 32) % 20u;
    return g;
}

static int active(unsigned n, int weak)
{
    size_t ylen;
    char *yaml = services_yaml(&ylen);
    struct topology *t = NULL;
    struct rules *r = NULL;
    struct correlate *c = NULL;
    struct qerr err;
    double *lat = malloc(n * sizeof *lat), t0, t1;
    long rss0, rss1;

    if (topology_load_buf(&t, yaml, ylen, "synthetic", NULL, &err) != 0 ||
        rules_new_default(&r) != 0 || correlate_new(&c, t, r) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    free(yaml);
    rss0 = rss_kb();
    struct intern *pool = correlate_pool(c);
    double total0 = now_ms();
    for (unsigned i = 0; i < n; i++) {
        struct gen g = pick(i);
        char v[6][32];
        struct label l[7];
        struct alert a;
        snprintf(v[0], 32, "Alert%u", g.name);
        snprintf(v[1], 32, "ns%u", g.ns);
        snprintf(v[2], 32, "n%u", g.node);
        snprintf(v[3], 32, "s%u-%u", g.svc, g.pod);
        snprintf(v[4], 32, "s%u", g.svc);
        snprintf(v[5], 32, "a%u", i);     /* unique: every alert distinct */
        const char *names[] = { "alertname", "namespace", "node", "pod", "service",
                                "instance_id" };
        int nl = 0;
        for (int k = 0; k < 6; k++) {
            if (weak && i % 100 == 0 && (k == 1 || k == 3 || k == 4))
                continue;                 /* a node's own alert */
            if (weak && i % 100 == 0 && k == 2)
                snprintf(v[2], 32, "lone%u", (i / 100) % 50);
            l[nl].name = intern_str(pool, names[k], strlen(names[k]));
            l[nl].value = intern_str(pool, v[k], strlen(v[k]));
            nl++;
        }
        l[nl].name = intern_str(pool, "severity", 8);
        l[nl].value = intern_str(pool, "warning", 7);
        nl++;
        memset(&a, 0, sizeof a);
        a.labels = l;
        a.nlabels = (uint16_t)nl;
        alert_labels_sort(l, (size_t)nl);
        a.fingerprint = alert_fingerprint(l, (size_t)nl);
        a.starts_at = (int64_t)i * 20;          /* 50 alerts/s */
        a.ends_at = ALERT_NO_END;
        a.generator_url = "";
        t0 = now_ms();
        if (correlate_ingest(c, &a, NULL, a.starts_at + 1000, &err) < 0) {
            fprintf(stderr, "ingest %u: %s\n", i, err.msg);
            return 1;
        }
        t1 = now_ms();
        lat[i] = (t1 - t0) * 1000.0;
    }
    double total = now_ms() - total0;
    rss1 = rss_kb();
    qsort(lat, n, sizeof *lat, cmp_double);
    unsigned live = 0, biggest = 0;
    for (uint32_t s = 0; s < correlate_incident_slots(c); s++) {
        struct correlate_incident ci;
        if (correlate_incident(c, s, &ci) == 0 && ci.state != CORRELATE_MERGED) {
            live++;
            if (ci.nalerts > biggest)
                biggest = (unsigned)ci.nalerts;
        }
    }
    printf("graph: %u services, %u edges, %u entities after alerts\n", NSVC, NSVC * DEG,
           topology_count(t));
    printf("active alerts: %zu in %u incidents (largest %u)\n", correlate_alert_count(c),
           live, biggest);
    printf("correlate state: %.0f bytes per active alert (correlate_bytes, pool "
           "included); RSS growth %.0f bytes per alert\n",
           (double)correlate_bytes(c) / n, (double)(rss1 - rss0) * 1024.0 / n);
    printf("ingest latency: p50 %.1f us, p99 %.1f us, max %.1f us; %.0f alerts/s\n",
           lat[n / 2], lat[(size_t)(n * 0.99)], lat[n - 1], n / (total / 1000.0));
    free(lat);
    correlate_free(c);
    rules_free(r);
    topology_free(t);
    return 0;
}

static int gen(const char *dir, unsigned n)
{
    char path[1024];
    size_t ylen;
    char *yaml = services_yaml(&ylen);
    FILE *f;

    snprintf(path, sizeof path, "%s/services.yaml", dir);
    f = fopen(path, "w");
    if (f == NULL || fwrite(yaml, 1, ylen, f) != ylen || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    free(yaml);
    snprintf(path, sizeof path, "%s/alerts.jsonl", dir);
    f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    /* Each alert fires, and resolves 10 minutes later in a second record,
     * so half the records are resolves: 2N alert notifications in all. */
    for (unsigned base = 0; base < n; base += 10) {
        for (int phase = 0; phase < 2; phase++) {
            unsigned first = phase == 0 ? base : (base >= 300000 / 20 ? base - 300000 / 20 : n);
            if (phase == 1 && first >= n)
                continue;
            int64_t now = 1647734400000LL + (int64_t)base * 20 + 1000;
            char ts[40];
            alert_time_format(now, ts, sizeof ts);
            fprintf(f, "{\"received_at\":\"%s\",\"payload\":{\"version\":\"4\","
                       "\"groupKey\":\"{}:{}\",\"status\":\"firing\",\"receiver\":\"q\","
                       "\"groupLabels\":{},\"commonLabels\":{},\"commonAnnotations\":{},"
                       "\"externalURL\":\"\",\"alerts\":[", ts);
            for (unsigned i = first; i < first + 10 && i < n; i++) {
                rng = 88172645463325252ull ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull);
                struct gen g = pick(i);
                char st[40];
                alert_time_format(1647734400000LL + (int64_t)i * 20, st, sizeof st);
                fprintf(f, "%s{\"status\":\"%s\",\"labels\":{\"alertname\":\"Alert%u\","
                           "\"namespace\":\"ns%u\",\"node\":\"n%u\",\"pod\":\"s%u-%u\","
                           "\"service\":\"s%u\",\"instance_id\":\"a%u\",\"severity\":\"warning\"},"
                           "\"annotations\":{\"summary\":\"synthetic alert %u\"},"
                           "\"startsAt\":\"%s\",\"endsAt\":\"%s\",\"generatorURL\":\"\"}",
                        i == first ? "" : ",", phase ? "resolved" : "firing", g.name,
                        g.ns, g.node, g.svc, g.pod, g.svc, i, i, st,
                        phase ? ts : "0001-01-01T00:00:00Z");
            }
            fputs("]}}\n", f);
        }
    }
    if (fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "active") == 0)
        return active(argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 100000u,
                      argc > 3 && strcmp(argv[3], "weak") == 0);
    if (argc >= 3 && strcmp(argv[1], "gen") == 0)
        return gen(argv[2], argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1000000u);
    fprintf(stderr, "usage: correlate_bench active [N] [weak] | gen DIR [N]\n");
    return 2;
}
