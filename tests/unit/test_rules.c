/* test_rules.c - correlation.yaml: defaults, overrides, errors at their
 * line:column, (?i) patterns, and entity resolution from labels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules.h"

static struct rules *load_ok(const char *yaml)
{
    struct rules *r = NULL;
    struct qerr err;

    memset(&err, 0, sizeof err);
    if (rules_load_buf(&r, yaml, strlen(yaml), "c.yaml", &err) != 0)
        fail_msg("unexpected error: %d:%d: %s", err.line, err.column, err.msg);
    return r;
}

/* An alert with labels "k=v,k=v" interned in P. */
static struct alert make_alert(struct intern *p, const char *spec)
{
    struct alert a;
    char buf[512], *save = NULL, *tok;
    size_t n = 0;

    memset(&a, 0, sizeof a);
    a.labels = calloc(16, sizeof *a.labels);
    snprintf(buf, sizeof buf, "%s", spec);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        a.labels[n].name = intern_str(p, tok, strlen(tok));
        a.labels[n].value = intern_str(p, eq + 1, strlen(eq + 1));
        n++;
    }
    a.nlabels = (uint16_t)n;
    alert_labels_sort(a.labels, n);
    a.fingerprint = alert_fingerprint(a.labels, n);
    a.generator_url = "";
    a.ends_at = ALERT_NO_END;
    return a;
}

static void test_defaults(void **state)
{
    (void)state;
    struct rules *r = NULL;

    assert_int_equal(rules_new_default(&r), 0);
    assert_int_equal(r->pod.n, 2);
    assert_string_equal(r->pod.names[1], "pod_name");
    assert_int_equal(r->service.n, 4);
    assert_string_equal(r->service.names[3], "deployment");
    assert_int_equal(r->node.n, 3);
    assert_int_equal(r->namespace_.n, 1);
    assert_int_equal(r->window_ms, 600000);
    assert_int_equal(r->hops, 2);
    assert_int_equal(r->scope.n, 2);
    assert_string_equal(r->scope.names[0], "cluster");
    assert_int_equal(r->resolve_quiet_ms, 300000);
    assert_int_equal(r->flap_count, 4);
    assert_int_equal(r->flap_within_ms, 1800000);
    assert_int_equal(r->nkinds, 11);
    assert_int_equal(r->kinds[0].kind, RULES_KIND_NONE);     /* Watchdog */
    assert_true(r->kinds[0].weight == 0);
    assert_int_equal(r->kinds[1].kind, RULES_KIND_SYMPTOM);   /* trace.* */
    assert_int_equal(r->kinds[2].kind, RULES_KIND_CAUSE);    /* free ... low */
    assert_int_equal(r->kinds[3].kind, RULES_KIND_SYMPTOM);  /* usage ... low */
    assert_int_equal(r->kinds[4].kind, RULES_KIND_CAUSE);    /* NIC, disk errors */
    assert_true(r->kinds[5].weight > 0.39 && r->kinds[5].weight < 0.41);
    assert_int_equal(r->kinds[6].kind, RULES_KIND_SYMPTOM);  /* slow, SLO */
    assert_int_equal(r->kinds[7].kind, RULES_KIND_CAUSE);    /* own state */
    assert_int_equal(r->kinds[10].kind, RULES_KIND_NONE);    /* log */
    assert_string_equal(r->default_namespace, "");
    assert_int_equal(r->history.window_ms, 24 * 3600000LL);
    assert_int_equal(r->history.min_incidents, 2);
    assert_true(r->history.weight > 0.49 && r->history.weight < 0.51);
    rules_free(r);
}

/* rules/correlation.yaml is the DESIGN.md defaults: loading it must give
 * exactly what the built-in defaults give. */
static void test_shipped_file_is_default(void **state)
{
    (void)state;
    const char *src = getenv("QUENCH_SOURCE_DIR");
    char path[1024];
    struct rules *r = NULL, *d = NULL;
    struct qerr err;

    snprintf(path, sizeof path, "%s/rules/correlation.yaml", src ? src : ".");
    if (rules_load(&r, path, &err) != 0)
        fail_msg("%s:%d:%d: %s", err.source, err.line, err.column, err.msg);
    assert_int_equal(rules_new_default(&d), 0);
    assert_int_equal(r->window_ms, d->window_ms);
    assert_int_equal(r->hops, d->hops);
    assert_int_equal(r->resolve_quiet_ms, d->resolve_quiet_ms);
    assert_int_equal(r->flap_count, d->flap_count);
    assert_int_equal(r->flap_within_ms, d->flap_within_ms);
    assert_int_equal(r->scope.n, d->scope.n);
    assert_int_equal(r->peer.n, d->peer.n);
    for (size_t i = 0; i < r->peer.n; i++)
        assert_string_equal(r->peer.names[i], d->peer.names[i]);
    assert_int_equal(r->peer_ns.n, d->peer_ns.n);
    for (size_t i = 0; i < r->peer_ns.n; i++)
        assert_string_equal(r->peer_ns.names[i], d->peer_ns.names[i]);
    assert_int_equal(r->nkinds, d->nkinds);
    for (size_t i = 0; i < r->nkinds; i++) {
        assert_string_equal(r->kinds[i].match[0].pattern, d->kinds[i].match[0].pattern);
        assert_int_equal(r->kinds[i].kind, d->kinds[i].kind);
    }
    assert_int_equal(r->nfors, d->nfors);
    for (size_t i = 0; i < r->nfors; i++) {
        assert_int_equal(r->fors[i].nmatch, d->fors[i].nmatch);
        for (size_t j = 0; j < r->fors[i].nmatch; j++) {
            assert_string_equal(r->fors[i].match[j].label, d->fors[i].match[j].label);
            assert_string_equal(r->fors[i].match[j].pattern, d->fors[i].match[j].pattern);
        }
        assert_int_equal(r->fors[i].for_ms, d->fors[i].for_ms);
    }
    assert_int_equal(r->history.window_ms, d->history.window_ms);
    assert_int_equal(r->history.min_incidents, d->history.min_incidents);
    assert_true(r->history.weight == d->history.weight);
    rules_free(r);
    rules_free(d);
}

static void test_overrides(void **state)
{
    (void)state;
    struct rules *r = load_ok("window: 1h30m\n"
                              "topology_hops: 0\n"
                              "scope: []\n"
                              "peer_labels: [server]\n"
                              "flap: {count: 2}\n"
                              "entity_labels: {pod: []}\n"
                              "alert_kinds: []\n"
                              "default_namespace: shop\n"
                              "history: {window: 6h, weight: 1}\n");
    assert_int_equal(r->window_ms, 5400000);
    assert_int_equal(r->history.window_ms, 6 * 3600000LL);
    assert_int_equal(r->history.min_incidents, 2);  /* kept */
    assert_true(r->history.weight == 1.0);
    assert_int_equal(r->hops, 0);
    assert_int_equal(r->scope.n, 0);
    assert_int_equal(r->peer.n, 1);
    assert_string_equal(r->peer.names[0], "server");
    assert_int_equal(r->flap_count, 2);
    assert_int_equal(r->flap_within_ms, 1800000);   /* kept */
    assert_int_equal(r->pod.n, 0);
    assert_int_equal(r->service.n, 4);              /* kept */
    assert_int_equal(r->nkinds, 0);
    assert_string_equal(r->default_namespace, "shop");
    rules_free(r);
    r = load_ok("");
    assert_int_equal(r->nkinds, 11);
    rules_free(r);
}

/* The alerts SRE teams on Kubernetes receive most: kube-prometheus-stack's
 * and node-exporter's mixins, and common exporters'. Each is classed for
 * what it says, not by an accidental substring: KubeletTooManyPods holds
 * "oom", KubeDeploymentGenerationMismatch "io", KubePersistentVolumeErrors
 * "error" (a volume's own), etcdHighFsyncDurations "duration" (a disk's). */
static void test_classify_standard_alerts(void **state)
{
    (void)state;
    enum { N = RULES_KIND_NONE, C = RULES_KIND_CAUSE, S = RULES_KIND_SYMPTOM };
    static const struct { const char *name; int kind; double weight; } cases[] = {
        /* always firing: evidence of nothing */
        {"Watchdog", N, 0}, {"InfoInhibitor", N, 0},
        /* the workload's own state */
        {"KubePodCrashLooping", C, 1.5}, {"KubePodNotReady", C, 1.5},
        {"KubeContainerWaiting", C, 1.5}, {"KubeDeploymentRolloutStuck", C, 1.5},
        {"KubeDeploymentReplicasMismatch", C, 1.5},
        {"KubeDeploymentGenerationMismatch", C, 1.5},
        {"KubeStatefulSetUpdateNotRolledOut", C, 1.5},
        {"KubeDaemonSetNotScheduled", C, 1.5}, {"KubeDaemonSetMisScheduled", C, 1.5},
        {"KubeJobFailed", C, 1.5}, {"KubeNodeNotReady", C, 1.5},
        {"KubeNodeUnreachable", C, 1.5}, {"KubeletDown", C, 1.5},
        {"TargetDown", C, 1.5}, {"NodeSystemdServiceFailed", C, 1.5},
        {"NodeRAIDDegraded", C, 1.5}, {"NodeRAIDDiskFailure", C, 1.5},
        {"ContainerOOMKilled", C, 1.5}, {"PodOOM", C, 1.5},
        {"KubeJobNotCompleted", N, 1.0}, {"NodeClockSkewDetected", N, 1.0},
        /* resources, their limits and their devices */
        {"KubeletTooManyPods", C, 1.0}, {"PostgresqlTooManyConnections", C, 1.0},
        {"CPUThrottlingHigh", C, 1.0}, {"KubeHpaMaxedOut", C, 1.0},
        {"KubeQuotaFullyUsed", C, 1.0}, {"KubeMemoryOvercommit", C, 1.0},
        {"KubePersistentVolumeFillingUp", C, 1.0},
        {"KubePersistentVolumeErrors", C, 1.0},
        {"NodeFilesystemSpaceFillingUp", C, 1.0},
        {"NodeFilesystemAlmostOutOfFiles", C, 1.0},
        {"NodeFileDescriptorLimit", C, 1.0},
        {"NodeHighNumberConntrackEntriesUsed", C, 1.0},
        {"NodeDiskIOSaturation", C, 1.0}, {"NodeMemoryMajorPagesFaults", C, 1.0},
        {"etcdHighFsyncDurations", C, 1.0}, {"etcdHighCommitDurations", C, 1.0},
        {"JvmHeapUsageHigh", C, 1.0}, {"SystemIoRSHigh", C, 1.0},
        {"node_io_time_high", C, 1.0},
        /* what callers and users see */
        {"KubeAPIErrorBudgetBurn", S, 0.4}, {"KubeClientErrors", S, 0.4},
        {"KubeletPodStartUpLatencyHigh", S, 0.4}, {"CoreDNSLatencyHigh", S, 0.4},
        {"BlackboxProbeFailed", S, 0.4}, {"HTTPRequestsFailed", S, 0.4},
        {"KafkaConsumerLagHigh", S, 0.4}, {"RabbitmqQueueBacklog", S, 0.4},
        {"TraceLatencyHigh", S, 0.2},
        /* a measure that went down (metricbeat, node-exporter, cAdvisor
         * names): what is left ran short, a cause; work that dropped, a
         * consequence. Before, available memory's drop was a symptom
         * ("bytes ... low") and CPU's or RSS's a cause */
        {"NodeMemoryMemAvailableBytesLow", C, 1.0},
        {"node_filesystem_avail_bytes_low", C, 1.0},
        {"SystemMemoryActualFreeLow", C, 1.0}, {"SystemCpuIdlePctLow", C, 1.0},
        {"ConnectionPoolAvailableLow", C, 1.0},
        {"DockerCpuTotalPctLow", S, 0.4}, {"DockerCpuCore7TicksLow", S, 0.4},
        {"DockerMemoryStatsRssLow", S, 0.4}, {"DockerMemoryStatsPgmajfaultLow", S, 0.4},
        {"DockerDiskioReadWaitTimeLow", S, 0.4}, {"DockerDiskioWriteOpsLow", S, 0.4},
        {"SystemLoadNorm5Low", S, 0.4}, {"ContainerCpuLow", S, 0.4},
        {"ContainerMemoryWorkingSetBytesLow", S, 0.4},
        {"DockerCpuTotalPctHigh", C, 1.0}, {"DockerMemoryStatsRssHigh", C, 1.0},
        {"DockerDiskioReadWaitTimeHigh", C, 1.0}, {"SystemCpuIowaitPctHigh", C, 1.0},
        /* no measure in the name: the resource ran short */
        {"NodeMemoryLow", C, 1.0}, {"DiskSpaceLow", C, 1.0},
        {"AvailableReplicasLow", N, 1.0},
    };
    struct intern *p = NULL;
    struct rules *r = NULL;
    char spec[128];
    double w;

    assert_int_equal(intern_new(&p), 0);
    assert_int_equal(rules_new_default(&r), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct alert a;
        int kind;
        snprintf(spec, sizeof spec, "alertname=%s", cases[i].name);
        a = make_alert(p, spec);
        w = -1;
        kind = (int)rules_classify(r, &a, &w);
        if (kind != cases[i].kind || w != cases[i].weight)
            fail_msg("%s: kind %d weight %g, want %d %g", cases[i].name, kind,
                     w, cases[i].kind, cases[i].weight);
        alert_cleanup(&a);
    }
    rules_free(r);
    intern_free(p);
}

static void test_classify(void **state)
{
    (void)state;
    struct intern *p = NULL;
    struct rules *r = NULL;
    double w = -1;
    struct alert a;

    assert_int_equal(intern_new(&p), 0);
    assert_int_equal(rules_new_default(&r), 0);
    a = make_alert(p, "alertname=ContainerCPUThrottling");
    assert_int_equal(rules_classify(r, &a, &w), RULES_KIND_CAUSE);
    assert_true(w == 1.0);
    alert_cleanup(&a);
    a = make_alert(p, "alertname=CheckoutLatencyHigh");
    assert_int_equal(rules_classify(r, &a, &w), RULES_KIND_SYMPTOM);
    assert_true(w > 0.39 && w < 0.41);
    alert_cleanup(&a);
    /* "sLow" in CamelCase is a plural then Low, not "slow"; slow and SLO
     * count as words only; usage that dropped is a consequence, any other
     * "Low" (space, free memory) keeps its resource's class */
    {
        static const struct { const char *name; int kind; } cases[] = {
            {"alertname=ContainerThreadsLow", RULES_KIND_SYMPTOM},
            {"alertname=ContainerMemoryUsageMbLow", RULES_KIND_SYMPTOM},
            {"alertname=node_network_receive_low", RULES_KIND_SYMPTOM},
            {"alertname=ContainerMemoryUsageMbHigh", RULES_KIND_CAUSE},
            {"alertname=NodeMemoryAvailableLow", RULES_KIND_CAUSE},
            {"alertname=DiskSpaceLow", RULES_KIND_CAUSE},
            {"alertname=disk_space_low", RULES_KIND_CAUSE},
            {"alertname=NodeMemoryLow", RULES_KIND_CAUSE},
            {"alertname=AvailableReplicasLow", RULES_KIND_NONE},
            {"alertname=MySQLSlowQueries", RULES_KIND_SYMPTOM},
            {"alertname=mysql_slow_queries", RULES_KIND_SYMPTOM},
            {"alertname=SLOBurnRateHigh", RULES_KIND_SYMPTOM},
            {"alertname=CheckoutSLO", RULES_KIND_SYMPTOM},
            {"alertname=ApiSloBurn", RULES_KIND_SYMPTOM},
            {"alertname=CheckoutSlo", RULES_KIND_SYMPTOM},
            {"alertname=api_slo_burn", RULES_KIND_SYMPTOM},
            {"alertname=checkout-slo-burn", RULES_KIND_SYMPTOM},
            {"alertname=pg_slot_count", RULES_KIND_NONE},
            {"alertname=REDIS_CLUSTER_SLOTS_FAIL", RULES_KIND_NONE},
            {"alertname=SSLOK", RULES_KIND_NONE},
            {"alertname=SlotsLow", RULES_KIND_NONE},
            {"alertname=SlotsHigh", RULES_KIND_NONE},
            /* a NIC's or a disk's errors are the entity's own, not the
             * errors its callers see */
            {"alertname=NodeNetworkReceiveErrs", RULES_KIND_CAUSE},
            {"alertname=NodeNetworkTransmitErrs", RULES_KIND_CAUSE},
            {"alertname=ContainerNetworkReceiveErrorsHigh", RULES_KIND_CAUSE},
            {"alertname=ContainerNetworkReceivePacketsDropped", RULES_KIND_CAUSE},
            {"alertname=PacketLossHigh", RULES_KIND_CAUSE},
            {"alertname=NodeDiskIOErrors", RULES_KIND_CAUSE},
            {"alertname=TcpRetransmitsHigh", RULES_KIND_CAUSE},
            {"alertname=node_tcp_retrans_high", RULES_KIND_CAUSE},
            {"alertname=GrpcErrorRateHigh", RULES_KIND_SYMPTOM},
            {"alertname=HttpErrorsHigh", RULES_KIND_SYMPTOM},
            {"alertname=KafkaConsumerErrors", RULES_KIND_SYMPTOM},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            a = make_alert(p, cases[i].name);
            if ((int)rules_classify(r, &a, &w) != cases[i].kind)
                fail_msg("%s: not kind %d", cases[i].name, cases[i].kind);
            alert_cleanup(&a);
        }
    }
    a = make_alert(p, "alertname=SomethingElse");
    assert_int_equal(rules_classify(r, &a, &w), RULES_KIND_NONE);
    assert_true(w == RULES_DEFAULT_WEIGHT);
    alert_cleanup(&a);
    rules_free(r);

    /* Anchored, case-sensitive without (?i), AND over labels, "" for a
     * missing label, first match wins. */
    r = load_ok("alert_kinds:\n"
                "  - match: {alertname: Disk, severity: \"crit.*\"}\n"
                "    kind: cause\n"
                "    weight: 2\n"
                "  - match: {team: \"\"}\n"
                "    kind: neutral\n"
                "    weight: 0.5\n");
    a = make_alert(p, "alertname=Disk,severity=critical");
    assert_int_equal(rules_classify(r, &a, &w), RULES_KIND_CAUSE);
    assert_true(w == 2.0);
    alert_cleanup(&a);
    a = make_alert(p, "alertname=DiskFull,severity=critical");
    assert_int_equal(rules_classify(r, &a, &w), RULES_KIND_NONE);
    assert_true(w == 0.5);             /* matched entry 2: no team label */
    alert_cleanup(&a);
    a = make_alert(p, "alertname=disk,severity=critical,team=x");
    assert_int_equal(rules_classify(r, &a, &w), RULES_KIND_NONE);
    assert_true(w == RULES_DEFAULT_WEIGHT);
    alert_cleanup(&a);
    rules_free(r);
    intern_free(p);
}

/* A default rules, an empty graph and a string pool, for the resolving
 * tests; a test that loads other rules stores them in r, freed here. */
struct rfx {
    struct intern *p;
    struct rules *r;
    struct topology *t;
};

static int rfx_setup(void **state)
{
    static struct rfx f;
    memset(&f, 0, sizeof f);
    if (intern_new(&f.p) < 0 || rules_new_default(&f.r) < 0 ||
        topology_new_empty(&f.t) < 0)
        return -1;
    *state = &f;
    return 0;
}

static int rfx_teardown(void **state)
{
    struct rfx *f = *state;
    rules_free(f->r);
    topology_free(f->t);
    intern_free(f->p);
    return 0;
}

/* Prometheus puts an exporter's own labels beside the subject's (rules.h);
 * label sets as kube-prometheus-stack sends them. */
/* rule_for: the first entry an alert matches gives its rule's `for`;
 * none, 0. A file's list replaces the default one. */
static void test_rule_for(void **state)
{
    (void)state;
    static const char yaml[] =
        "rule_for:\n"
        "  - match: {alertname: KubePodCrashLooping, severity: warning}\n"
        "    for: 15m\n"
        "  - match: {alertname: \"Kube.*\"}\n"
        "    for: 90s\n";
    struct intern *p = NULL;
    struct rules *r = NULL;
    struct qerr err;
    struct alert a;

    assert_int_equal(intern_new(&p), 0);
    if (rules_load_buf(&r, yaml, strlen(yaml), "c.yaml", &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r->nfors, 2);
    a = make_alert(p, "alertname=KubePodCrashLooping,severity=warning");
    assert_int_equal(rules_rule_for(r, &a), 15 * 60 * 1000);
    alert_cleanup(&a);
    a = make_alert(p, "alertname=KubePodCrashLooping,severity=critical");
    assert_int_equal(rules_rule_for(r, &a), 90 * 1000);
    alert_cleanup(&a);
    a = make_alert(p, "alertname=HttpLatencyHigh");
    assert_int_equal(rules_rule_for(r, &a), 0);
    alert_cleanup(&a);
    rules_free(r);
    r = NULL;
    if (rules_load_buf(&r, "rule_for: []\n", 13, "c.yaml", &err) != 0)
        fail_msg("%s", err.msg);
    a = make_alert(p, "alertname=KubePodCrashLooping,severity=warning");
    assert_int_equal(rules_rule_for(r, &a), 0);
    alert_cleanup(&a);
    rules_free(r);
    /* the defaults: kube-prometheus-stack's rules */
    static const struct { const char *labels; int64_t min; } std[] = {
        {"alertname=KubePodCrashLooping,severity=warning", 15},
        {"alertname=KubeDeploymentRolloutStuck", 15},
        {"alertname=KubeContainerWaiting", 60},
        {"alertname=KubePersistentVolumeFillingUp,severity=critical", 1},
        {"alertname=KubePersistentVolumeFillingUp,severity=warning", 60},
        {"alertname=KubePersistentVolumeInodesFillingUp,severity=critical", 1},
        {"alertname=NodeFilesystemAlmostOutOfSpace,severity=critical", 30},
        {"alertname=NodeDiskIOSaturation", 30},
        {"alertname=KubeMemoryOvercommit", 10},
        {"alertname=KubePersistentVolumeErrors", 5},
        {"alertname=etcdNoLeader", 1},
        {"alertname=Watchdog", 0},
        {"alertname=KubeJobNotCompleted", 0},
        {"alertname=HttpLatencyHigh", 0},
        {"alertname=ContainerCpuUsageSecondsHigh", 0},   /* shared cases' */
        {"alertname=KubePodCrashLoopingFast", 0},        /* anchored */
    };
    assert_int_equal(rules_new_default(&r), 0);
    for (size_t i = 0; i < sizeof std / sizeof std[0]; i++) {
        a = make_alert(p, std[i].labels);
        if (rules_rule_for(r, &a) != std[i].min * 60 * 1000)
            fail_msg("%s: for %lld ms, want %lld min", std[i].labels,
                     (long long)rules_rule_for(r, &a), (long long)std[i].min);
        alert_cleanup(&a);
    }
    rules_free(r);
    intern_free(p);
}

/* rules_memo_get gives exactly rules_classify and rules_rule_for, for
 * alerts with interned strings, through collisions and repeats; with more
 * labels named than it keys, there is no memo and the answers are the
 * same. */
static void test_memo_is_exact(void **state)
{
    (void)state;
    static const char *names[] = {
        "KubePodCrashLooping", "KubePersistentVolumeFillingUp", "HttpLatencyHigh",
        "ContainerCpuUsageSecondsHigh", "NodeDiskIOSaturation", "Watchdog",
        "TraceLatencyHigh", "LogPatternBurst", "SystemMemUsedLow", "etcdNoLeader",
    };
    static const char *sevs[] = { "", "warning", "critical", "info" };
    static const char wide[] =
        "alert_kinds:\n"
        "  - match: {a: x, b: x, c: x, d: x, e: x, f: x, g: x}\n"
        "    kind: cause\n";
    struct intern *p = NULL;
    struct rules *r = NULL, *w = NULL;
    struct rules_memo *m;
    struct qerr err;

    assert_int_equal(intern_new(&p), 0);
    assert_int_equal(rules_new_default(&r), 0);
    m = rules_memo_new(r);
    assert_non_null(m);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < 10 * 4 * 50; i++) {
            char spec[160];
            const char *sev = sevs[(i / 10) % 4];
            snprintf(spec, sizeof spec, "alertname=%s%s%s,pod=p%zu", names[i % 10],
                     *sev ? ",severity=" : "", sev, i % 50);
            struct alert a = make_alert(p, spec);
            double w1 = -1, w2 = -2;
            int64_t f1 = -1, f2 = rules_rule_for(r, &a);
            enum rules_kind k1 = rules_memo_get(m, r, &a, &w1, &f1);
            enum rules_kind k2 = rules_classify(r, &a, &w2);
            if (k1 != k2 || w1 != w2 || f1 != f2)
                fail_msg("%s: memo %d %g %lld, rules %d %g %lld", spec, k1, w1,
                         (long long)f1, k2, w2, (long long)f2);
            alert_cleanup(&a);
        }
    rules_memo_free(m);
    if (rules_load_buf(&w, wide, strlen(wide), "c.yaml", &err) != 0)
        fail_msg("%s", err.msg);
    assert_null(rules_memo_new(w));
    rules_free(w);
    rules_free(r);
    intern_free(p);
}

/* Bad input changes nothing and says where: the shipped correlation.yaml
 * with random bytes deleted, inserted or replaced (2,000 variants, a fixed
 * LCG) either loads or fails with a line and a message, never crashes or
 * leaks (ASan in CI). */
static void test_mutated_files_fail_cleanly(void **state)
{
    (void)state;
    const char *src = getenv("QUENCH_SOURCE_DIR");
    static const char ins[] = ":-{}[]\"'#&*!|>%@`\t\n \\x09azAZ(?i)";
    char path[1024];
    uint64_t st = 12345;
    FILE *f;
    long n;
    char *orig, *buf;

    snprintf(path, sizeof path, "%s/rules/correlation.yaml", src ? src : ".");
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    orig = malloc((size_t)n + 1);
    buf = malloc((size_t)n + 64);
    assert_non_null(orig);
    assert_non_null(buf);
    assert_int_equal(fread(orig, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    for (int v = 0; v < 2000; v++) {
        size_t len = (size_t)n;
        memcpy(buf, orig, len);
        for (int k = 0; k < 1 + v % 4; k++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(st >> 33) % len;
            int op = (int)((st >> 20) % 3);
            char c = ins[(st >> 40) % (sizeof ins - 1)];
            if (op == 0 && len > 1) {                       /* delete */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            } else if (op == 1 && len < (size_t)n + 60) {   /* insert */
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
            } else {                                        /* replace */
                buf[at] = c;
            }
        }
        struct rules *r = NULL;
        struct qerr err;
        memset(&err, 0, sizeof err);
        if (rules_load_buf(&r, buf, len, "c.yaml", &err) == 0) {
            rules_free(r);
            continue;
        }
        assert_null(r);
        if (err.line <= 0 || err.msg[0] == '\0' || strcmp(err.source, "c.yaml") != 0)
            fail_msg("variant %d: error without a place: %s:%d: %s", v, err.source,
                     err.line, err.msg);
    }
    free(orig);
    free(buf);
}

static void test_exporters(void **state)
{
    struct rfx *f = *state;
    struct intern *p = f->p;
    struct rules *r = f->r;
    struct topology *t = f->t;
    struct rules_entity re;
    struct alert a;
    const uint32_t *ids;

    /* kube-state-metrics: the crashing pod, not kube-state-metrics' service
     * or address */
    a = make_alert(p, "alertname=KubePodCrashLooping,container=executor,endpoint=http,"
                      "instance=10.42.9.105:8080,job=kube-state-metrics,namespace=backup,"
                      "pod=executor-849ffcf9c7-wbmvz,reason=CrashLoopBackOff,"
                      "service=kube-prometheus-stack-kube-state-metrics,severity=warning");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(re.entity, re.pod);
    assert_string_equal(topology_entity(t, (uint32_t)re.pod)->name, "executor-849ffcf9c7-wbmvz");
    assert_int_equal(re.service, -1);
    assert_int_equal(re.node, -1);
    assert_string_equal(re.namespace_, "backup");
    assert_int_equal(topology_find(t, ENTITY_SERVICE, "kube-prometheus-stack-kube-state-metrics"), -1);
    assert_string_equal(rules_label(rules_exporter_of(r, &a), &a, "namespace"), "backup");
    alert_cleanup(&a);

    /* a Deployment's state names the service by `deployment`; its metric
     * has no pod, so the target's (kube-state-metrics' own) fills it in */
    a = make_alert(p, "alertname=KubeDeploymentReplicasMismatch,container=kube-state-metrics,"
                      "deployment=checkout,endpoint=http,instance=10.42.9.105:8080,"
                      "job=kube-state-metrics,namespace=shop,"
                      "pod=kube-prometheus-stack-kube-state-metrics-7c8b8bf58c-74z8v,"
                      "service=kube-prometheus-stack-kube-state-metrics");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.entity)->name, "checkout");
    assert_int_equal(re.pod, -1);
    alert_cleanup(&a);
    /* likewise a node's */
    a = make_alert(p, "alertname=KubeNodeNotReady,container=kube-state-metrics,"
                      "instance=10.42.9.105:8080,job=kube-state-metrics,node=worker-3,"
                      "pod=kube-prometheus-stack-kube-state-metrics-7c8b8bf58c-74z8v,"
                      "service=kube-prometheus-stack-kube-state-metrics");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(re.entity, re.node);
    assert_string_equal(topology_entity(t, (uint32_t)re.node)->name, "worker-3");
    alert_cleanup(&a);

    /* node-exporter: the node at instance, without its port; not the
     * exporter's pod, service or namespace */
    a = make_alert(p, "alertname=NodeFilesystemSpaceFillingUp,container=node-exporter,"
                      "device=/dev/sdb1,endpoint=http-metrics,instance=10.0.0.33:9100,"
                      "job=node-exporter,namespace=monitoring,"
                      "pod=kube-prometheus-stack-prometheus-node-exporter-w7bb7,"
                      "service=kube-prometheus-stack-prometheus-node-exporter");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(re.entity, re.node);
    assert_string_equal(topology_entity(t, (uint32_t)re.node)->name, "10.0.0.33");
    assert_int_equal(re.pod, -1);
    assert_int_equal(re.service, -1);
    assert_null(re.namespace_);
    assert_null(rules_label(rules_exporter_of(r, &a), &a, "namespace"));
    alert_cleanup(&a);

    /* kube-prometheus (jsonnet) also sets node */
    a = make_alert(p, "alertname=NodeClockNotSynchronising,instance=master03,job=node-exporter,"
                      "namespace=monitoring,node=master03,pod=node-exporter-thvjc,"
                      "service=node-exporter");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.entity)->name, "master03");
    alert_cleanup(&a);

    /* the kubelet (cAdvisor): the pod on its node, not the kubelet service */
    a = make_alert(p, "alertname=ContainerMemoryHigh,container=cart,endpoint=https-metrics,"
                      "instance=10.0.0.31:10250,job=kubelet,namespace=shop,node=worker-1,"
                      "pod=cart-0,service=kube-prometheus-stack-kubelet");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(re.entity, re.pod);
    assert_int_equal(re.service, -1);
    assert_int_equal(topology_out(t, (uint32_t)re.pod, &ids), 1);
    assert_string_equal(topology_entity(t, ids[0])->name, "worker-1");
    alert_cleanup(&a);

    /* an application's pod is scraped at its own address: not a node */
    a = make_alert(p, "alertname=HighLatency,pod=checkout-7d9f-abc,service=checkout,"
                      "instance=10.1.2.3:8080,namespace=shop,job=checkout");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(re.entity, re.pod);
    assert_string_equal(topology_entity(t, (uint32_t)re.service)->name, "checkout");
    assert_int_equal(re.node, -1);
    assert_int_equal(topology_find(t, ENTITY_NODE, "10.1.2.3"), -1);
    alert_cleanup(&a);
    /* ... unless a node label says where it runs */
    a = make_alert(p, "alertname=HighLatency,pod=checkout-7d9f-abc,service=checkout,"
                      "instance=10.1.2.3:8080,node=worker-2");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.node)->name, "worker-2");
    alert_cleanup(&a);

    /* an application's own job is its service */
    a = make_alert(p, "alertname=HighLatency,job=checkout,instance=10.1.2.3:8080");
    assert_null(rules_exporter_of(r, &a));
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.entity)->name, "checkout");
    alert_cleanup(&a);

    /* a node's port goes, bracketed IPv6 too; anything else stays whole */
    static const char *const hosts[][2] = {
        {"instance=[fe80::1]:9100", "[fe80::1]"},
        {"instance=fe80::1", "fe80::1"},
        {"node=n1:abc", "n1:abc"},
        {"node=n1:", "n1:"},
        {"node=:9100", ":9100"},
        {"host=db-1.example.org:9100", "db-1.example.org"},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "alertname=NodeDown,%s", hosts[i][0]);
        a = make_alert(p, spec);
        assert_int_equal(rules_resolve(r, t, &a, &re), 0);
        assert_int_equal(topology_entity(t, (uint32_t)re.entity)->kind, ENTITY_NODE);
        assert_string_equal(topology_entity(t, (uint32_t)re.entity)->name, hosts[i][1]);
        alert_cleanup(&a);
    }
    rules_free(r);

    /* exporters: [] reads every label again, as before the list existed */
    r = f->r = load_ok("exporters: []\n");
    assert_int_equal(r->nexporters, 0);
    a = make_alert(p, "alertname=KubePodCrashLooping,job=kube-state-metrics,pod=cart-1,"
                      "service=kube-prometheus-stack-kube-state-metrics");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.service)->name,
                        "kube-prometheus-stack-kube-state-metrics");
    alert_cleanup(&a);
    rules_free(r);

    /* a list of one's own replaces the built-in one */
    r = f->r = load_ok("exporters:\n  - match: {job: blackbox}\n    ignore: [instance, job]\n");
    assert_int_equal(r->nexporters, 1);
    a = make_alert(p, "alertname=ProbeFailed,job=blackbox,instance=prober:9115,deployment=web");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.entity)->name, "web");
    assert_int_equal(topology_find(t, ENTITY_NODE, "prober"), -1);
    alert_cleanup(&a);
}

/* A pod whose alert names no service belongs to the declared service its
 * name says owns it (Kubernetes' pod naming); an undeclared one is never
 * invented. */
static void test_owner_by_pod_name(void **state)
{
    (void)state;
    static const char yaml[] =
        "services:\n  cart:\n  web:\n    calls: [cart]\n  redis-cart:\n    kind: cache\n";
    struct intern *p = NULL;
    struct rules *r = NULL;
    struct topology *t = NULL;
    struct rules_entity re;
    struct qerr err;
    struct alert a;
    static const char *const cases[][2] = {
        {"cart-7d9f6c5b4-abcde", "cart"},     /* Deployment */
        {"redis-cart-0", "redis-cart"},       /* StatefulSet */
        {"redis-cart-12", "redis-cart"},
        {"cart-x2k9q", "cart"},               /* DaemonSet, Job */
        {"web-55d8c9f6b7-k2v4m", "web"},
        {"orders-7d9f6c5b4-abcde", NULL},     /* not declared */
        {"cart", NULL},                       /* no suffix */
        {"cart-ABCDE", NULL},                 /* not a generated suffix */
    };

    assert_int_equal(intern_new(&p), 0);
    assert_int_equal(rules_new_default(&r), 0);
    if (topology_load_buf(&t, yaml, sizeof yaml - 1, "s.yaml", NULL, &err) != 0)
        fail_msg("%s", err.msg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "alertname=PodOOM,pod=%s,namespace=shop", cases[i][0]);
        a = make_alert(p, spec);
        assert_int_equal(rules_resolve(r, t, &a, &re), 0);
        if (cases[i][1] == NULL) {
            if (re.service != -1)
                fail_msg("%s: owned by %s", cases[i][0],
                         topology_entity(t, (uint32_t)re.service)->name);
        } else {
            if (re.service < 0)
                fail_msg("%s: no owner", cases[i][0]);
            assert_string_equal(topology_entity(t, (uint32_t)re.service)->name, cases[i][1]);
            assert_int_equal(topology_pod_service(t, (uint32_t)re.pod), re.service);
        }
        alert_cleanup(&a);
    }
    assert_int_equal(topology_find(t, ENTITY_SERVICE, "orders"), -1);
    /* a service label still wins */
    a = make_alert(p, "alertname=PodOOM,pod=cart-7d9f6c5b4-zzzzz,service=web");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.service)->name, "web");
    alert_cleanup(&a);
    rules_free(r);
    topology_free(t);
    intern_free(p);
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
        { "windw: 5m\n", 1, 1, "unknown key 'windw'" },
        { "window: 5\n", 1, 9, "duration" },
        { "topology_hops: 9\n", 1, 16, "out of range" },
        { "topology_hops: -1\n", 1, 16, "out of range" },
        { "scope: cluster\n", 1, 8, "list of label names" },
        { "scope: [a, a]\n", 1, 12, "listed twice" },
        { "peer_labels: peer_service\n", 1, 14, "list of label names" },
        { "peer_namespace_labels: [a, a]\n", 1, 28, "listed twice" },
        { "entity_labels:\n  pods: [pod]\n", 2, 3, "unknown key 'pods'" },
        { "entity_labels:\n  pod: [\"\"]\n", 2, 9, "must not be empty" },
        { "flap: {count: 0}\n", 1, 15, "out of range" },
        { "flap: {count: 2, within: soon}\n", 1, 26, "duration" },
        { "resolve_quiet: 0s\n", 1, 16, "duration" },
        { "alert_kinds: {}\n", 1, 14, "must be a list" },
        { "alert_kinds:\n  - kind: cause\n", 2, 5, "needs 'match'" },
        { "alert_kinds:\n  - match: {a: x}\n", 2, 5, "needs 'kind'" },
        { "alert_kinds:\n  - match: {a: x}\n    kind: root\n", 3, 11,
          "cause, symptom or neutral" },
        { "alert_kinds:\n  - match: {a: \"(unclosed\"}\n    kind: cause\n", 2, 16,
          "bad pattern" },
        { "alert_kinds:\n  - match: {a: \"(?s).*\"}\n    kind: cause\n", 2, 16,
          "only a leading (?i)" },
        { "alert_kinds:\n  - match: {a: x}\n    kind: cause\n    weight: -1\n", 4, 13,
          "out of range" },
        { "alert_kinds:\n  - match: {}\n    kind: cause\n", 2, 12, "non-empty map" },
        { "alert_kinds:\n  - match: {a: x}\n    kind: cause\n    colour: red\n", 4, 5,
          "unknown key 'colour'" },
        { "history: {windw: 1h}\n", 1, 11, "unknown key 'windw'" },
        { "history: {window: 0s}\n", 1, 19, "duration" },
        { "history: {min_incidents: 0}\n", 1, 26, "out of range" },
        { "history: {min_incidents: 17}\n", 1, 26, "out of range" },
        { "history: {weight: 1.5}\n", 1, 19, "out of range" },
        { "exporters: {}\n", 1, 12, "must be a list" },
        { "exporters:\n  - ignore: [job]\n", 2, 5, "needs 'match'" },
        { "exporters:\n  - match: {job: x}\n", 2, 5, "needs 'ignore'" },
        { "exporters:\n  - match: {job: x}\n    ignore: job\n", 3, 13,
          "list of label names" },
        { "exporters:\n  - match: {}\n    ignore: [job]\n", 2, 12, "non-empty map" },
        { "exporters:\n  - match: {job: \"(x\"}\n    ignore: [job]\n", 2, 18,
          "bad pattern" },
        { "exporters:\n  - match: {job: x}\n    ignore: [job]\n    drop: [pod]\n", 4, 5,
          "unknown key 'drop'" },
        { "rule_for: {}\n", 1, 11, "must be a list" },
        { "rule_for:\n  - for: 15m\n", 2, 5, "needs 'match'" },
        { "rule_for:\n  - match: {alertname: X}\n", 2, 5, "needs 'for'" },
        { "rule_for:\n  - match: {alertname: X}\n    for: 0s\n", 3, 10, "duration" },
        { "rule_for:\n  - match: {alertname: X}\n    for: 15\n", 3, 10, "duration" },
        { "rule_for:\n  - match: {alertname: X}\n    for: 25h\n", 3, 10, "at most 24h" },
        { "rule_for:\n  - match: {alertname: \"(X\"}\n    for: 1m\n", 2, 24,
          "bad pattern" },
        { "rule_for:\n  - match: {alertname: X}\n    for: 1m\n    kind: cause\n", 4, 5,
          "unknown key 'kind'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rules *r = (struct rules *)1;
        struct qerr err;
        memset(&err, 0, sizeof err);
        assert_int_equal(rules_load_buf(&r, cases[i].yaml, strlen(cases[i].yaml),
                                        "c.yaml", &err), -1);
        assert_null(r);
        if (strcmp(err.source, "c.yaml") != 0 || err.line != cases[i].line ||
            err.column != cases[i].col || strstr(err.msg, cases[i].needle) == NULL)
            fail_msg("case %zu: want %d:%d '%s', got %s:%d:%d '%s'", i,
                     cases[i].line, cases[i].col, cases[i].needle, err.source,
                     err.line, err.column, err.msg);
    }
}

/* peer_labels: an alert measured by its caller is about the peer, named
 * as the graph names it; one measured by the callee itself, or naming
 * only a placeholder, is resolved as any other. */
static void test_resolve_peer(void **state)
{
    (void)state;
    static const char yaml[] =
        "services:\n  cart:\n  web:\n    calls: [cart, payments]\n"
        "  payments:\n  redis-cart:\n    kind: cache\n";
    static const struct { const char *spec, *want; int pod; } cases[] = {
        /* a client span from web's pod: cart's */
        { "pod=web-55d8c9f6b7-k2v4m,service=web,node=n1,peer_service=cart", "cart", 0 },
        /* the first peer label wins */
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=cart,destination_service_name=payments",
          "cart", 0 },
        /* a Kubernetes DNS name and a port: the service */
        { "pod=web-55d8c9f6b7-k2v4m,destination_service_name=payments.shop.svc.cluster.local:8080",
          "payments", 0 },
        /* a StatefulSet member's name: its declared owner */
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=redis-cart-0", "redis-cart", 0 },
        /* Istio's placeholders name nothing: the reporter's pod */
        { "pod=web-55d8c9f6b7-k2v4m,destination_service_name=PassthroughCluster",
          "web-55d8c9f6b7-k2v4m", 1 },
        { "pod=web-55d8c9f6b7-k2v4m,destination_service_name=unknown",
          "web-55d8c9f6b7-k2v4m", 1 },
        { "pod=web-55d8c9f6b7-k2v4m,destination_service_name=InboundPassthroughClusterIpv4",
          "web-55d8c9f6b7-k2v4m", 1 },
        /* a real service whose name starts like one is a peer */
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=unknown-api", "unknown-api", 0 },
        /* the callee on itself (reporter="destination"), by its service
         * label or by its pod's name: its own pod */
        { "pod=cart-7d9f6c5b4-abcde,service=cart,destination_service_name=cart",
          "cart-7d9f6c5b4-abcde", 1 },
        { "pod=cart-7d9f6c5b4-abcde,destination_service_name=cart", "cart-7d9f6c5b4-abcde", 1 },
        { "pod=cart-main,service=cart,destination_service_name=cart", "cart-main", 1 },
        /* ... or by a StatefulSet member's DNS name */
        { "pod=redis-cart-1,service=redis-cart,"
          "peer_service=redis-cart-0.redis-cart.shop.svc.cluster.local", "redis-cart-1", 1 },
        /* a port alone, or with a name */
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=cart:8080", "cart", 0 },
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=:8080", "web-55d8c9f6b7-k2v4m", 1 },
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=.svc", "web-55d8c9f6b7-k2v4m", 1 },
        /* an IP address names no service */
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=10.0.0.3:8080", "web-55d8c9f6b7-k2v4m", 1 },
        /* <service>.<namespace> of a declared service; other dotted names whole */
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=payments.shop", "payments", 0 },
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=api.svcs.example.com.",
          "api.svcs.example.com", 0 },
        /* a placeholder in the first label does not hide the second */
        { "pod=web-55d8c9f6b7-k2v4m,peer_service=unknown,destination_service_name=cart",
          "cart", 0 },
    };
    struct intern *p = NULL;
    struct rules *r = NULL;
    struct topology *t = NULL;
    struct rules_entity re;
    struct qerr err;
    struct alert a;
    struct rules_peer peer;
    char spec[256];

    assert_int_equal(intern_new(&p), 0);
    assert_int_equal(rules_new_default(&r), 0);
    if (topology_load_buf(&t, yaml, sizeof yaml - 1, "s.yaml", NULL, &err) != 0)
        fail_msg("%s", err.msg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t n = topology_count(t);
        snprintf(spec, sizeof spec, "alertname=LatencyHigh,%s", cases[i].spec);
        a = make_alert(p, spec);
        assert_int_equal(rules_resolve(r, t, &a, &re), 0);
        if (strcmp(topology_entity(t, (uint32_t)re.entity)->name, cases[i].want) != 0)
            fail_msg("%s: %s, want %s", cases[i].spec,
                     topology_entity(t, (uint32_t)re.entity)->name, cases[i].want);
        assert_int_equal(re.pod >= 0, cases[i].pod);
        if (!cases[i].pod)      /* nothing of the reporter's was learnt */
            assert_true(topology_count(t) == n ||
                        (topology_count(t) == n + 1 && re.entity == (int32_t)n));
        alert_cleanup(&a);
    }
    a = make_alert(p, "alertname=X,service=web");
    assert_int_equal(rules_peer(r, t, &a, NULL, &peer), 0);
    alert_cleanup(&a);
    /* the namespace: the DNS name's, else none (the caller's decides) */
    a = make_alert(p, "alertname=X,service=web,destination_service_name=payments.shop.svc");
    assert_int_equal(rules_peer(r, t, &a, NULL, &peer), 1);
    assert_string_equal(peer.name, "payments");
    assert_string_equal(peer.ns, "shop");
    alert_cleanup(&a);
    a = make_alert(p, "alertname=X,service=web,peer_service=payments");
    assert_int_equal(rules_peer(r, t, &a, NULL, &peer), 1);
    assert_string_equal(peer.ns, "");
    alert_cleanup(&a);
    /* Istio names the destination's namespace in a label of its own */
    a = make_alert(p, "alertname=X,namespace=web,destination_service_name=payments,"
                      "destination_service_namespace=billing");
    assert_int_equal(rules_peer(r, t, &a, NULL, &peer), 1);
    assert_string_equal(peer.ns, "billing");
    alert_cleanup(&a);
    rules_free(r);

    /* an exporters entry may hide a peer label, as any other */
    r = load_ok("exporters:\n  - match: {reporter: destination}\n"
                "    ignore: [destination_service_name]\n");
    a = make_alert(p, "alertname=X,reporter=destination,pod=web-55d8c9f6b7-k2v4m,"
                      "destination_service_name=cart");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(re.entity, re.pod);
    alert_cleanup(&a);
    rules_free(r);
    topology_free(t);
    intern_free(p);
}

static void test_resolve(void **state)
{
    struct rfx *f = *state;
    struct intern *p = f->p;
    struct rules *r = f->r;
    struct topology *t = f->t;
    struct rules_entity re;
    struct alert a;
    const uint32_t *ids;

    /* pod + service + node: pod entity, linked both ways. */
    a = make_alert(p, "alertname=X,pod=cart-0,app=cart,instance=n1,namespace=shop");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(topology_entity(t, (uint32_t)re.entity)->kind, ENTITY_POD);
    assert_int_equal(re.entity, re.pod);
    assert_string_equal(topology_entity(t, (uint32_t)re.service)->name, "cart");
    assert_string_equal(topology_entity(t, (uint32_t)re.node)->name, "n1");
    assert_string_equal(re.namespace_, "shop");
    assert_int_equal(topology_pod_service(t, (uint32_t)re.pod), re.service);
    assert_int_equal(topology_out(t, (uint32_t)re.pod, &ids), 1);
    assert_int_equal(ids[0], (uint32_t)re.node);
    alert_cleanup(&a);

    /* First label of the list wins: service over app; empty values skip. */
    a = make_alert(p, "alertname=X,service=,app=web,job=ignored");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.entity)->name, "web");
    assert_int_equal(re.pod, -1);
    assert_null(re.namespace_);
    alert_cleanup(&a);

    /* Service-level alert with a node label: the service, node not placed. */
    a = make_alert(p, "alertname=X,service=web,node=n2");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.entity)->name, "web");
    assert_int_equal(re.node, -1);
    assert_int_equal(topology_find(t, ENTITY_NODE, "n2"), -1);
    alert_cleanup(&a);

    /* Measured by a caller (a client span): about the peer service; the
     * caller's pod, node and service are the reporter's, and the caller's
     * pod is not taught to belong to the peer. */
    a = make_alert(p, "alertname=TraceLatencyHigh,pod=web-7,service=web,"
                      "node=n9,peer_service=orders-db,namespace=shop");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(re.entity, re.service);
    assert_string_equal(topology_entity(t, (uint32_t)re.entity)->name, "orders-db");
    assert_int_equal(re.pod, -1);
    assert_int_equal(re.node, -1);
    assert_string_equal(re.namespace_, "shop");
    assert_int_equal(topology_find(t, ENTITY_POD, "web-7"), -1);
    assert_int_equal(topology_find(t, ENTITY_NODE, "n9"), -1);
    alert_cleanup(&a);
    /* an empty peer value is no peer */
    a = make_alert(p, "alertname=X,service=web,peer_service=");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_string_equal(topology_entity(t, (uint32_t)re.entity)->name, "web");
    alert_cleanup(&a);

    /* Node only. */
    a = make_alert(p, "alertname=X,host=n3");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(topology_entity(t, (uint32_t)re.entity)->kind, ENTITY_NODE);
    alert_cleanup(&a);

    /* Nothing names an entity. */
    a = make_alert(p, "alertname=Watchdog");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(re.entity, -1);
    alert_cleanup(&a);

    /* The same pod again: same id, no new entities. */
    uint32_t before = topology_count(t);
    a = make_alert(p, "alertname=Y,pod=cart-0,app=cart,instance=n1");
    assert_int_equal(rules_resolve(r, t, &a, &re), 0);
    assert_int_equal(topology_count(t), before);
    alert_cleanup(&a);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The loader serve, replay and check share: defaults for missing files,
 * positions for broken ones, an error for a directory that is not there. */
static void test_load_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/quench-rules-XXXXXX", path[256];
    struct rules *r = (struct rules *)1;
    struct topology *t = (struct topology *)1;
    struct qerr err;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(rules_load_dir(dir, &r, &t, &err), 0);   /* empty dir */
    assert_int_equal(r->nkinds, 11);
    assert_int_equal(topology_count(t), 0);
    rules_free(r);
    topology_free(t);

    snprintf(path, sizeof path, "%s/services.yaml", dir);
    write_file(path, "services:\n  a: {calls: [b]}\n  b:\n");
    assert_int_equal(rules_load_dir(dir, &r, &t, &err), 0);
    assert_int_equal(topology_count(t), 2);
    rules_free(r);
    topology_free(t);

    write_file(path, "services:\n  a: {calls: [nobody]}\n");
    assert_int_equal(rules_load_dir(dir, &r, &t, &err), -1);
    assert_null(r);
    assert_null(t);
    assert_int_equal(err.line, 2);
    unlink(path);

    snprintf(path, sizeof path, "%s/correlation.yaml", dir);
    write_file(path, "window: soon\n");
    assert_int_equal(rules_load_dir(dir, &r, &t, &err), -1);
    assert_null(r);
    assert_int_equal(err.line, 1);
    unlink(path);
    rmdir(dir);

    assert_int_equal(rules_load_dir(dir, &r, &t, &err), -1);
    assert_non_null(strstr(err.msg, "not found"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_shipped_file_is_default),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_classify_standard_alerts),
        cmocka_unit_test(test_rule_for),
        cmocka_unit_test(test_memo_is_exact),
        cmocka_unit_test(test_mutated_files_fail_cleanly),
        cmocka_unit_test_setup_teardown(test_exporters, rfx_setup, rfx_teardown),
        cmocka_unit_test(test_owner_by_pod_name),
        cmocka_unit_test(test_errors),
        cmocka_unit_test_setup_teardown(test_resolve, rfx_setup, rfx_teardown),
        cmocka_unit_test(test_resolve_peer),
        cmocka_unit_test(test_load_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
