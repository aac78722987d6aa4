/* rank_bench.c - a driver for src/rank.c without the engine.
 *
 *   rank_bench cases FILE   rank every case of FILE (written by
 *                           rca-sim/rank_input.py) and print one line per
 *                           case: id, then name score confidence per cause
 *   rank_bench sequence FILE WINDOW MIN WEIGHT
 *                           the same, with one history across the cases in
 *                           file order (FILE from rank_input.py --timeline:
 *                           each case's "T open close" line is when its
 *                           incident opens and closes). Alerts get the
 *                           recurrence history_recurrence gives at the
 *                           case's open time (WINDOW in hours, MIN =
 *                           min_incidents, WEIGHT = history.weight), and
 *                           the case's pairs are recorded at its close:
 *                           what the engine does (docs/ranking.md).
 *                           RANK_BENCH_RECUR=binary makes recurrence 1 once
 *                           seen >= MIN (the prototype's rule), =share
 *                           seen / of (share of the horizon's incidents):
 *                           the alternatives docs/ranking.md compares.
 *   rank_bench speed [SERVICES ALERTS ROUNDS]
 *                           time rank_compute on an incident of ALERTS alerts
 *                           on a random SERVICES-service graph (default
 *                           10000 1000 200): p50/p99/max in ms
 *
 * Built by tests/bench/rank_bench.sh against a build's libquench_core.a. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "limits.h"
#include "rank.h"
#include "topology.h"

/* sequence mode: the shared history and the current case's pairs */
struct seq {
    struct history *h;
    double weight;
    int binary;
    unsigned min;
    int64_t open, close;
    struct { uint32_t ent; char name[256]; } *pairs;
    size_t np, cap;
};

static int kind_of(const char *s, enum entity_kind *k)
{
    return entity_kind_parse(s, k);
}

static int run_cases(const char *path, struct seq *sq)
{
    FILE *f = fopen(path, "r");
    char line[1024], id[1024] = "";
    struct topology *t = NULL;
    struct rank *r = NULL;
    int32_t *ids = NULL;
    size_t nids = 0, capids = 0;

    if (f == NULL) {
        perror(path);
        return 1;
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "case ", 5) == 0) {
            snprintf(id, sizeof id, "%s", line + 5);
            topology_new_empty(&t);
            nids = 0;
        } else if (line[0] == 'E') {
            char kind[32], name[512];
            enum entity_kind k;
            if (sscanf(line, "E %31s %511s", kind, name) != 2 || kind_of(kind, &k) < 0)
                return fprintf(stderr, "bad line %s\n", line), 1;
            if (nids == capids) {
                capids = capids ? 2 * capids : 256;
                ids = realloc(ids, capids * sizeof *ids);
            }
            ids[nids++] = topology_intern(t, k, name);
        } else if (line[0] == 'L') {
            unsigned a, b;
            if (sscanf(line, "L %u %u", &a, &b) != 2 || a >= nids || b >= nids)
                return fprintf(stderr, "bad line %s\n", line), 1;
            topology_link(t, (uint32_t)ids[a], (uint32_t)ids[b]);
        } else if (line[0] == 'T' && sq != NULL) {
            long long o, c;
            if (sscanf(line, "T %lld %lld", &o, &c) != 2)
                return fprintf(stderr, "bad line %s\n", line), 1;
            sq->open = o;
            sq->close = c;
            sq->np = 0;
        } else if (line[0] == 'A') {
            struct rank_alert a = {0};
            unsigned long long key;
            long long ms;
            unsigned ent;
            int firing, cls, sev;
            char name[256];
            if (r == NULL)
                rank_new(&r, t);
            if (sscanf(line, "A %llx %u %lld %d %d %lf %d %255s", &key, &ent, &ms,
                       &firing, &cls, &a.weight, &sev, name) != 8 || ent >= nids)
                return fprintf(stderr, "bad line %s\n", line), 1;
            a.key = key;
            a.entity = (uint32_t)ids[ent];
            a.starts_at = ms;
            a.firing = firing;
            a.cls = (enum rank_class)cls;
            a.severity = (enum rank_severity)sev;
            a.alertname = name;
            if (sq != NULL) {
                struct history_hits hh;
                char kb[QUENCH_HISTORY_MAX_NAME];
                const char *en = history_entity_name(t, a.entity, kb, sizeof kb);
                a.recurrence = history_recurrence(sq->h, en, name, sq->open, &hh);
                if (sq->binary == 1)
                    a.recurrence = hh.seen >= sq->min && hh.seen > 0 ? 1.0 : 0.0;
                else if (sq->binary == 2)
                    a.recurrence = hh.seen >= sq->min && hh.seen > 0 && hh.of > 0
                                       ? (double)hh.seen / hh.of : 0.0;
                a.recur_seen = hh.seen;
                a.recur_of = hh.of;
                rank_set_recurrence_weight(r, sq->weight);
                if (sq->np == sq->cap) {
                    sq->cap = sq->cap ? 2 * sq->cap : 256;
                    sq->pairs = realloc(sq->pairs, sq->cap * sizeof *sq->pairs);
                }
                sq->pairs[sq->np].ent = a.entity;
                snprintf(sq->pairs[sq->np].name, sizeof sq->pairs[sq->np].name, "%s", name);
                sq->np++;
            }
            if (rank_update(r, &a, NULL) < 0)
                return fprintf(stderr, "rank_update failed\n"), 1;
        } else if (strcmp(line, "end") == 0) {
            struct qerr e;
            printf("%s", id);
            if (r != NULL && rank_compute(r, &e) == 0) {
                for (size_t i = 0; i < rank_count(r); i++) {
                    const struct rank_cause *c = rank_cause(r, i);
                    printf(" %s %.6f %.4f", c->name, c->score, c->confidence);
                }
            }
            printf("\n");
            /* RANK_BENCH_EXPLAIN=N: evidence of the first N causes */
            for (size_t q = 0; getenv("RANK_BENCH_EXPLAIN") && r != NULL &&
                               q < rank_count(r) &&
                               q < (size_t)atoi(getenv("RANK_BENCH_EXPLAIN"));
                 q++) {
                const struct rank_cause *c = rank_cause(r, q);
                printf("  #%zu %s\n", q + 1, c->name);
                for (size_t i = 0; i < c->nevidence; i++)
                    printf("  - %s\n", c->evidence[i]);
                printf("  path:");
                for (size_t i = 0; i < c->npath; i++)
                    printf(" %s", topology_entity(t, c->path[i])->name);
                printf("\n");
            }
            if (sq != NULL) {
                struct history_pair *hp = calloc(sq->np + 1, sizeof *hp);
                struct qerr he;
                char (*kb)[QUENCH_HISTORY_MAX_NAME] = calloc(sq->np + 1, sizeof *kb);
                for (size_t i = 0; i < sq->np; i++)
                    hp[i] = (struct history_pair){
                        history_entity_name(t, sq->pairs[i].ent, kb[i], sizeof kb[i]),
                        sq->pairs[i].name};
                if (history_record(sq->h, sq->close, hp, sq->np, &he) < 0)
                    return fprintf(stderr, "history_record: %s\n", he.msg), 1;
                free(hp);
                free(kb);
                sq->np = 0;
            }
            rank_free(r);
            r = NULL;
            topology_free(t);
            t = NULL;
        }
    }
    free(ids);
    fclose(f);
    return 0;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* CPU time of this thread: the machine is shared, so wall-clock
 * percentiles measure the neighbours; RANK_BENCH_WALL=1 for wall time. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(getenv("RANK_BENCH_WALL") ? CLOCK_MONOTONIC
                                            : CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_speed(unsigned nsvc, unsigned nalerts, unsigned rounds)
{
    struct topology *t;
    char name[64];
    uint32_t *svc = malloc(nsvc * sizeof *svc), *pods, nodes[200];
    unsigned npods = nsvc * 3, i;
    double *ms = malloc(rounds * sizeof *ms);

    topology_new_empty(&t);
    pods = malloc(npods * sizeof *pods);
    for (i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "node-%u", i);
        nodes[i] = (uint32_t)topology_intern(t, ENTITY_NODE, name);
    }
    for (i = 0; i < nsvc; i++) {
        snprintf(name, sizeof name, "svc-%u", i);
        svc[i] = (uint32_t)topology_intern(t, ENTITY_SERVICE, name);
    }
    /* preferential attachment: each service calls ~3 earlier ones, biased
     * to low ids (hubs) */
    for (i = 1; i < nsvc; i++)
        for (int k = 0; k < 3; k++) {
            uint64_t a = xr() % i, b = xr() % i;
            topology_link(t, svc[i], svc[a < b ? a : b]);
        }
    for (i = 0; i < npods; i++) {
        snprintf(name, sizeof name, "svc-%u-%u", i / 3, i % 3);
        pods[i] = (uint32_t)topology_intern(t, ENTITY_POD, name);
        topology_link(t, svc[i / 3], pods[i]);
        topology_link(t, pods[i], nodes[xr() % 200]);
    }
    for (unsigned round = 0; round < rounds; round++) {
        struct rank *r;
        unsigned root = (unsigned)(xr() % nsvc);
        rank_new(&r, t);
        for (i = 0; i < nalerts; i++) {
            /* alerts on the root's neighbourhood and random noise */
            struct rank_alert a = {0};
            unsigned s = (i % 4 == 0) ? (unsigned)(xr() % nsvc) : root + (unsigned)(xr() % 300);
            s %= nsvc;
            a.key = ((uint64_t)round << 32) | i;
            a.entity = (i % 2) ? pods[s * 3 + xr() % 3] : svc[s];
            a.starts_at = 1000000 + (int64_t)(xr() % 600000);
            a.firing = 1;
            a.cls = (enum rank_class)(xr() % 3);
            a.weight = 0.2 + (double)(xr() % 100) / 100.0;
            a.severity = RANK_SEV_WARNING;
            snprintf(name, sizeof name, "Alert%u", (unsigned)(xr() % 40));
            a.alertname = name;
            rank_update(r, &a, NULL);
        }
        double t0 = now_ms();
        rank_compute(r, NULL);
        ms[round] = now_ms() - t0;
        rank_free(r);
    }
    qsort(ms, rounds, sizeof *ms, cmp_d);
    printf("services %u pods %u alerts %u rounds %u: rank_compute (%s) p50 %.3f ms p99 %.3f ms max %.3f ms\n",
           nsvc, npods, nalerts, rounds,
           getenv("RANK_BENCH_WALL") ? "wall" : "thread cpu", ms[rounds / 2], ms[(rounds * 99) / 100],
           ms[rounds - 1]);
    topology_free(t);
    free(svc);
    free(pods);
    free(ms);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "cases") == 0)
        return run_cases(argv[2], NULL);
    if (argc >= 6 && strcmp(argv[1], "sequence") == 0) {
        struct seq sq = {0};
        struct history_config hc = {(int64_t)(atof(argv[3]) * 3600e3),
                                    (unsigned)atoi(argv[4])};
        int rc;
        if (history_new(&sq.h, &hc) < 0)
            return fprintf(stderr, "bad history config\n"), 2;
        sq.weight = atof(argv[5]);
        sq.min = hc.min_incidents;
        sq.binary = !getenv("RANK_BENCH_RECUR") ? 0
                    : strcmp(getenv("RANK_BENCH_RECUR"), "binary") == 0 ? 1
                    : strcmp(getenv("RANK_BENCH_RECUR"), "share") == 0 ? 2 : 0;
        rc = run_cases(argv[2], &sq);
        history_free(sq.h);
        free(sq.pairs);
        return rc;
    }
    if (argc >= 2 && strcmp(argv[1], "speed") == 0)
        return run_speed(argc > 2 ? (unsigned)atoi(argv[2]) : 10000,
                         argc > 3 ? (unsigned)atoi(argv[3]) : 1000,
                         argc > 4 ? (unsigned)atoi(argv[4]) : 200);
    fprintf(stderr, "usage: rank_bench cases FILE | sequence FILE WINDOW_H MIN WEIGHT | "
                    "speed [SERVICES ALERTS ROUNDS]\n");
    return 2;
}
