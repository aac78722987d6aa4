/* rules.c - loading rules/correlation.yaml and applying it to one alert.
 *
 * Defaults are not a second table in C: they are the DESIGN.md file itself
 * (default_yaml below), read by the same loader first, after which the
 * user's file overrides key by key. So the defaults are validated like any
 * file, and rules/correlation.yaml and this text must agree (a unit test
 * compares them).
 *
 * Patterns follow Alertmanager's matchers: fully anchored, and a leading
 * "(?i)" (Go/RE2 syntax) means case-insensitive; POSIX ERE has no inline
 * flags, so it becomes REG_ICASE. Any other "(?" group is refused rather
 * than silently misread. */
#include "rules.h"

#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "ytree.h"

static const char default_yaml[] =
    "entity_labels:\n"
    "  pod: [pod, pod_name]\n"
    "  service: [service, app, job, deployment]\n"
    "  node: [node, instance, host]\n"
    "  namespace: [namespace]\n"
    "peer_labels: [peer_service, destination_service_name]\n"
    "peer_namespace_labels: [destination_service_namespace]\n"
    "window: 10m\n"
    "topology_hops: 2\n"
    "scope: [cluster, namespace]\n"
    "resolve_quiet: 5m\n"
    "flap: {count: 4, within: 30m}\n"
    "alert_kinds:\n"
    /* always firing by design (kube-prometheus-stack): evidence of
     * nothing */
    "  - match: {alertname: \"Watchdog|InfoInhibitor\"}\n"
    "    kind: neutral\n"
    "    weight: 0\n"
    "  - match: {alertname: \"(?i)trace.*\"}\n"
    "    kind: symptom\n"
    "    weight: 0.2\n"
    /* a measure that went down: what is left (free, idle, available
     * memory, disk space) ran short, a cause; anything else that dropped
     * (CPU, usage, bytes, ops, wait time: less work arrives) is a
     * consequence. A name with no measure in it (NodeMemoryLow) keeps its
     * resource's class */
    "  - match: {alertname: \"(?i).*(free|idle|remain|left|headroom|(disk|fs|filesystem|storage|volume|swap)[a-z_.-]*space|avail[a-z_.-]*(mem|disk|bytes|space|inode|conn)|(mem|disk|fs|filesystem|storage|inode|fd|conn|pool)[a-z_.-]*avail).*low\"}\n"
    "    kind: cause\n"
    "    weight: 1.0\n"
    "  - match: {alertname: \"(?i).*(usage|used|util|rate|reads|writes|receive|transmit|packets|threads|seconds|requests|traffic|throughput|bytes|qps|rps|cpu|pct|percent|ratio|total|ticks|ops|rss|cache|anon|count|time|norm|fault|load).*low\"}\n"
    "    kind: symptom\n"
    "    weight: 0.4\n"
    /* transport and device errors (NodeNetworkReceiveErrs, TCP
     * retransmits, disk and volume errors) and a device's own latency
     * (etcd's fsync and commit durations) are the entity's own: before
     * "error" and "latency" below */
    "  - match: {alertname: \"(?i).*(network|nic|interface|packet|disk|tcp|volume|raid).*(err|drop|retrans|loss|corrupt).*|.*retrans.*|.*(disk|fsync|commit|iops|storage|volume).*(latency|duration|wait).*\"}\n"
    "    kind: cause\n"
    "    weight: 1.0\n"
    /* requests that fail or wait: errors, latency, lag (KafkaConsumerLag) */
    "  - match: {alertname: \"(?i).*(latency|mrt|responsetime|duration|error|5xx|4xx|timeout|availability|apdex|unavailable|probe|lag|backlog|(request|call|rpc|api)[a-z]*fail|(sr|rr|successrate|requestrate)(high|low)).*\"}\n"
    "    kind: symptom\n"
    "    weight: 0.4\n"
    /* slow and SLO as words, case-sensitive: ThreadsLow holds "sLow",
     * slots "slo" */
    "  - match: {alertname: \".*(Slow|slow|SLOW).*|(.*[^A-Z])?SLO([^A-Za-z].*|[A-Z][a-z].*)?|(.*[^A-Z])?Slo([^a-z].*)?|(.*[^A-Za-z])?slo([^a-z].*)?\"}\n"
    "    kind: symptom\n"
    "    weight: 0.4\n"
    /* the workload's own state: crashed, killed, not ready, not rolled
     * out, not scheduled (KubePodCrashLooping, KubeContainerWaiting,
     * KubeDeploymentRolloutStuck, KubeNodeUnreachable, KubeJobFailed);
     * OOM as a word: KubeletTooManyPods is not one */
    "  - match: {alertname: \"(?i).*(crashloop|backoff|oomkill|oomevent|killed|restart|evict|terminat|notready|down|unreachable|containerwaiting|rollout|notrolledout|generationmismatch|replicasmismatch|scheduled|failed|failure|degraded).*|.*oom([^a-z].*)?\"}\n"
    "    kind: cause\n"
    "    weight: 1.5\n"
    /* resources and their limits: use, saturation, exhaustion, quotas */
    "  - match: {alertname: \"(?i).*(cpu|memory|mem|disk|fs|thread|saturat|throttl|network|packet|swap|inode|fd|load|filesystem|full|fill|outof|exhaust|limit|capacity|quota|overcommit|conntrack|descriptor|heap|gc|jvm|toomany|maxedout|iowait|connection).*\"}\n"
    "    kind: cause\n"
    "    weight: 1.0\n"
    /* I/O as a word, case-sensitive: SystemIoRSHigh, DiskIOBusy, not
     * Generation */
    "  - match: {alertname: \".*(IO|Io)([A-Z0-9_.-].*)?|(.*[^A-Za-z])?io([^a-z].*)?\"}\n"
    "    kind: cause\n"
    "    weight: 1.0\n"
    "  - match: {alertname: \"(?i).*log.*\"}\n"
    "    kind: neutral\n"
    "    weight: 0.5\n"
    /* the `for` of kube-prometheus-stack's rules (kubernetes-mixin,
     * node-mixin, etcd): startsAt is this long after the onset */
    "rule_for:\n"
    "  - match: {alertname: \"KubePersistentVolume(Inodes)?FillingUp\", severity: critical}\n"
    "    for: 1m\n"
    "  - match: {alertname: \"KubeContainerWaiting|KubePersistentVolume(Inodes)?FillingUp|NodeFilesystem(SpaceFillingUp|FilesFillingUp|AlmostOutOfFiles)|NodeNetwork(Receive|Transmit)Errs\"}\n"
    "    for: 1h\n"
    "  - match: {alertname: \"NodeFilesystemAlmostOutOfSpace|NodeDiskIOSaturation\"}\n"
    "    for: 30m\n"
    "  - match: {alertname: \"KubePod(CrashLooping|NotReady)|Kube(Deployment|StatefulSet)(GenerationMismatch|ReplicasMismatch)|Kube(Deployment|DaemonSet)RolloutStuck|KubeJobFailed|KubeHpa(MaxedOut|ReplicasMismatch)|KubeQuota(AlmostFull|Exceeded)|CPUThrottlingHigh|KubeNode(NotReady|Unreachable|ReadinessFlapping)|Kubelet(TooManyPods|Down)|KubeAPIDown|KubeClientErrors|Node(MemoryHighUtilization|CPUHighUsage|MemoryMajorPagesFaults|SystemSaturation|RAIDDegraded)\"}\n"
    "    for: 15m\n"
    "  - match: {alertname: \"Kube(CPU|Memory)Overcommit|TargetDown|NodeClockSkewDetected|etcd(HighFsyncDurations|MembersDown)\"}\n"
    "    for: 10m\n"
    "  - match: {alertname: \"KubePersistentVolumeErrors\"}\n"
    "    for: 5m\n"
    "  - match: {alertname: \"etcdInsufficientMembers\"}\n"
    "    for: 3m\n"
    "  - match: {alertname: \"etcdNoLeader\"}\n"
    "    for: 1m\n"
    "history: {window: 24h, min_incidents: 2, weight: 0.5}\n"
    /* kube-prometheus's exporters: the labels that name the exporter.
     * kube-state-metrics and the kubelet keep the subject's pod and
     * namespace (honor_labels); node-exporter's pod, service and
     * namespace are its own, and its instance is the node. An
     * application's pod is scraped at its own address. */
    "exporters:\n"
    /* kube-state-metrics' own pod, on the alerts whose metric names none
     * (a Deployment's, a node's): the target's labels fill the gap */
    "  - match: {job: \"(.*-)?kube-state-metrics\", pod: \"(.*-)?kube-state-metrics-.*\"}\n"
    "    ignore: [pod, container, service, job, instance, endpoint]\n"
    "  - match: {job: \"(.*-)?kube-state-metrics\"}\n"
    "    ignore: [service, job, instance, endpoint]\n"
    "  - match: {job: \"(.*-)?(kubelet|cadvisor)\"}\n"
    "    ignore: [service, job, instance, endpoint]\n"
    "  - match: {job: \"(.*-)?node-exporter|node\"}\n"
    "    ignore: [pod, pod_name, service, app, job, container, endpoint, namespace]\n"
    /* any other pod's alert: instance is the pod's own address (Prometheus'
     * kubernetes discovery), not a node */
    "  - match: {pod: \".+\", instance: \".*:[0-9]+\"}\n"
    "    ignore: [instance]\n";

static const char *const top_keys[] = {
    "entity_labels", "window", "topology_hops", "scope", "resolve_quiet",
    "flap", "alert_kinds", "default_namespace", "history", "exporters",
    "rule_for", "peer_labels", "peer_namespace_labels", NULL
};
static const char *const entity_keys[] = {
    "pod", "service", "node", "namespace", NULL
};
static const char *const flap_keys[] = { "count", "within", NULL };
static const char *const kind_keys[] = { "match", "kind", "weight", NULL };
static const char *const exporter_keys[] = { "match", "ignore", NULL };
static const char *const rule_for_keys[] = { "match", "for", NULL };
static const char *const history_keys[] = {
    "window", "min_incidents", "weight", NULL
};

static void labels_clear(struct rules_labels *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((char *)l->names[i]);
    l->n = 0;
}

static void match_free(struct rules_match *m, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        free((char *)m[j].label);
        free((char *)m[j].pattern);
        regfree(&m[j].re);
    }
    free(m);
}

/* Free N alert_kinds entries and the array (as read_list's free_fn). */
static void kinds_free(void *arr, size_t n)
{
    struct rules_alert_kind *k = arr;
    for (size_t i = 0; i < n; i++)
        match_free(k[i].match, k[i].nmatch);
    free(k);
}

/* Free N rule_for entries and the array (as read_list's free_fn). */
static void fors_free(void *arr, size_t n)
{
    struct rules_rule_for *f = arr;
    for (size_t i = 0; i < n; i++)
        match_free(f[i].match, f[i].nmatch);
    free(f);
}

/* Free N exporters entries and the array (as read_list's free_fn). */
static void exporters_free(void *arr, size_t n)
{
    struct rules_exporter *x = arr;
    for (size_t i = 0; i < n; i++) {
        match_free(x[i].match, x[i].nmatch);
        labels_clear(&x[i].ignore);
    }
    free(x);
}

void rules_free(struct rules *r)
{
    if (r == NULL)
        return;
    labels_clear(&r->pod);
    labels_clear(&r->service);
    labels_clear(&r->node);
    labels_clear(&r->namespace_);
    labels_clear(&r->peer);
    labels_clear(&r->peer_ns);
    labels_clear(&r->scope);
    kinds_free(r->kinds, r->nkinds);
    exporters_free(r->exporters, r->nexporters);
    fors_free(r->fors, r->nfors);
    free(r->default_namespace);
    free(r);
}

/* A list of label names into L (replacing what L held). */
static int read_labels(const struct ytree_doc *d, const struct ytree_node *n,
                       struct rules_labels *l, struct qerr *err)
{
    struct rules_labels tmp = { .n = 0 };

    if (n->type != YTREE_SEQ)
        return ytree_error(d, n, err, "expected a list of label names");
    if (n->len > QUENCH_MAX_RULE_LABELS)
        return ytree_error(d, n, err, "more than %d label names",
                           QUENCH_MAX_RULE_LABELS);
    for (size_t i = 0; i < n->len; i++) {
        const char *s;
        if (ytree_string(d, n->items[i], &s, err) < 0)
            goto fail;
        if (*s == '\0') {
            ytree_error(d, n->items[i], err, "a label name must not be empty");
            goto fail;
        }
        for (size_t j = 0; j < tmp.n; j++)
            if (strcmp(tmp.names[j], s) == 0) {
                ytree_error(d, n->items[i], err, "label '%s' is listed twice", s);
                goto fail;
            }
        tmp.names[tmp.n] = strdup(s);
        if (tmp.names[tmp.n] == NULL) {
            ytree_error(d, n->items[i], err, "out of memory");
            goto fail;
        }
        tmp.n++;
    }
    labels_clear(l);
    *l = tmp;
    return 0;
fail:
    labels_clear(&tmp);
    return -1;
}

/* Compile PATTERN into RE: "(?i)" prefix -> REG_ICASE, anchored. */
static int compile_pattern(const struct ytree_doc *d,
                           const struct ytree_node *n, const char *pattern,
                           regex_t *re, struct qerr *err)
{
    int flags = REG_EXTENDED | REG_NOSUB, rc;
    const char *p = pattern;
    char *anchored;
    size_t len;

    if (strncmp(p, "(?i)", 4) == 0) {
        flags |= REG_ICASE;
        p += 4;
    }
    if (strstr(p, "(?") != NULL)
        return ytree_error(d, n, err,
                           "only a leading (?i) flag is supported in patterns");
    len = strlen(p);
    anchored = malloc(len + 5);
    if (anchored == NULL)
        return ytree_error(d, n, err, "out of memory");
    memcpy(anchored, "^(", 2);
    memcpy(anchored + 2, p, len);
    memcpy(anchored + 2 + len, ")$", 3);
    rc = regcomp(re, anchored, flags);
    free(anchored);
    if (rc != 0) {
        char msg[128];
        regerror(rc, re, msg, sizeof msg);
        return ytree_error(d, n, err, "bad pattern: %s", msg);
    }
    return 0;
}

/* A match map (label: pattern, all must match) into *out, *n counting
 * the compiled entries so that match_free frees what exists. */
static int read_match(const struct ytree_doc *d, const struct ytree_node *m,
                      struct rules_match **out, size_t *n, struct qerr *err)
{
    if (m->type != YTREE_MAP || m->len == 0)
        return ytree_error(d, m, err,
                           "match must be a non-empty map of label to pattern");
    *out = calloc(m->len, sizeof **out);
    if (*out == NULL)
        return ytree_error(d, m, err, "out of memory");
    for (size_t i = 0; i < m->len; i++) {
        struct rules_match *rm = &(*out)[i];
        const char *label = m->pairs[i].key->value, *pat;
        if (*label == '\0')
            return ytree_error(d, m->pairs[i].key, err,
                               "a label name must not be empty");
        if (ytree_string(d, m->pairs[i].value, &pat, err) < 0)
            return -1;
        if (compile_pattern(d, m->pairs[i].value, pat, &rm->re, err) < 0)
            return -1;
        /* Counted only once compiled, so cleanup regfrees what exists. */
        (*n)++;
        rm->label = strdup(label);
        rm->pattern = strdup(pat);
        if (rm->label == NULL || rm->pattern == NULL)
            return ytree_error(d, m, err, "out of memory");
    }
    return 0;
}

static int read_kind(const struct ytree_doc *d, const struct ytree_node *n,
                     void *entry, struct qerr *err)
{
    struct rules_alert_kind *k = entry;
    const struct ytree_node *m, *v;
    const char *s;

    if (ytree_check_keys(d, n, kind_keys, err) < 0)
        return -1;
    m = ytree_get(n, "match");
    if (m == NULL)
        return ytree_error(d, n, err, "alert_kinds entry needs 'match'");
    v = ytree_get(n, "kind");
    if (v == NULL)
        return ytree_error(d, n, err, "alert_kinds entry needs 'kind'");
    if (ytree_string(d, v, &s, err) < 0)
        return -1;
    if (strcmp(s, "cause") == 0)
        k->kind = RULES_KIND_CAUSE;
    else if (strcmp(s, "symptom") == 0)
        k->kind = RULES_KIND_SYMPTOM;
    else if (strcmp(s, "neutral") == 0)
        k->kind = RULES_KIND_NONE;
    else
        return ytree_error(d, v, err, "kind must be cause, symptom or neutral");
    k->weight = RULES_DEFAULT_WEIGHT;
    v = ytree_get(n, "weight");
    if (v != NULL && ytree_double(d, v, 0.0, 100.0, &k->weight, err) < 0)
        return -1;
    return read_match(d, m, &k->match, &k->nmatch, err);
}

static int read_exporter(const struct ytree_doc *d, const struct ytree_node *n,
                         void *entry, struct qerr *err)
{
    struct rules_exporter *x = entry;
    const struct ytree_node *m, *ig;

    if (ytree_check_keys(d, n, exporter_keys, err) < 0)
        return -1;
    m = ytree_get(n, "match");
    if (m == NULL)
        return ytree_error(d, n, err, "exporters entry needs 'match'");
    ig = ytree_get(n, "ignore");
    if (ig == NULL)
        return ytree_error(d, n, err, "exporters entry needs 'ignore'");
    if (read_labels(d, ig, &x->ignore, err) < 0)
        return -1;
    return read_match(d, m, &x->match, &x->nmatch, err);
}

static int read_rule_for(const struct ytree_doc *d, const struct ytree_node *n,
                         void *entry, struct qerr *err)
{
    struct rules_rule_for *f = entry;
    const struct ytree_node *m, *v;

    if (ytree_check_keys(d, n, rule_for_keys, err) < 0)
        return -1;
    m = ytree_get(n, "match");
    if (m == NULL)
        return ytree_error(d, n, err, "rule_for entry needs 'match'");
    v = ytree_get(n, "for");
    if (v == NULL)
        return ytree_error(d, n, err, "rule_for entry needs 'for'");
    if (ytree_duration(d, v, &f->for_ms, err) < 0)
        return -1;
    if (f->for_ms > QUENCH_MAX_RULE_FOR_MS)
        return ytree_error(d, v, err, "for: at most 24h");
    return read_match(d, m, &f->match, &f->nmatch, err);
}

typedef int read_fn(const struct ytree_doc *d, const struct ytree_node *n,
                    void *entry, struct qerr *err);
typedef void free_fn(void *arr, size_t n);

/* A list (alert_kinds, exporters) of entries SIZE bytes each, read by READ
 * into a fresh array *out of *count entries (NULL, 0 for null or []). On
 * an error what was read is freed with FREE_LIST, so the caller's list is
 * replaced only by a list that read whole. */
static int read_list(const struct ytree_doc *d, const struct ytree_node *n,
                     const char *what, size_t max, size_t size, read_fn *read,
                     free_fn *free_list, void **out, size_t *count,
                     struct qerr *err)
{
    char *tmp = NULL;
    size_t k = 0;

    if (!ytree_is_null(n)) {
        if (n->type != YTREE_SEQ)
            return ytree_error(d, n, err, "%s must be a list", what);
        if (n->len > max)
            return ytree_error(d, n, err, "more than %zu %s", max, what);
        if (n->len > 0 && (tmp = calloc(n->len, size)) == NULL)
            return ytree_error(d, n, err, "out of memory");
        for (; k < n->len; k++)
            if (read(d, n->items[k], tmp + k * size, err) < 0) {
                free_list(tmp, k + 1);
                return -1;
            }
    }
    *out = tmp;
    *count = k;
    return 0;
}

/* ROOT's list KEY, if present, replaces *ARR (a pointer to the array) of
 * *COUNT entries, freed with FREE_LIST; as read_list. */
static int apply_list(const struct ytree_doc *d, const struct ytree_node *root,
                      const char *key, size_t max, size_t size, read_fn *read,
                      free_fn *free_list, void *arr, size_t *count,
                      struct qerr *err)
{
    const struct ytree_node *n = ytree_get(root, key);
    void *list = NULL, *old;
    size_t k = 0;

    if (n == NULL)
        return 0;
    if (read_list(d, n, key, max, size, read, free_list, &list, &k, err) < 0)
        return -1;
    memcpy(&old, arr, sizeof old);
    free_list(old, *count);
    memcpy(arr, &list, sizeof list);
    *count = k;
    return 0;
}

/* Apply the keys present in D's root onto R. */
static int apply_doc(struct rules *r, const struct ytree_doc *d,
                     struct qerr *err)
{
    const struct ytree_node *root = ytree_root(d), *n;
    int64_t v;

    if (root == NULL || ytree_is_null(root))
        return 0;
    if (ytree_check_keys(d, root, top_keys, err) < 0)
        return -1;
    n = ytree_get(root, "entity_labels");
    if (n != NULL) {
        static const char *const names[] = { "pod", "service", "node",
                                             "namespace" };
        struct rules_labels *dst[] = { &r->pod, &r->service, &r->node,
                                       &r->namespace_ };
        if (ytree_check_keys(d, n, entity_keys, err) < 0)
            return -1;
        for (size_t i = 0; i < 4; i++) {
            const struct ytree_node *l = ytree_get(n, names[i]);
            if (l != NULL && read_labels(d, l, dst[i], err) < 0)
                return -1;
        }
    }
    n = ytree_get(root, "window");
    if (n != NULL && ytree_duration(d, n, &r->window_ms, err) < 0)
        return -1;
    n = ytree_get(root, "topology_hops");
    if (n != NULL) {
        if (ytree_int(d, n, 0, QUENCH_MAX_TOPOLOGY_HOPS, &v, err) < 0)
            return -1;
        r->hops = (unsigned)v;
    }
    n = ytree_get(root, "scope");
    if (n != NULL && read_labels(d, n, &r->scope, err) < 0)
        return -1;
    n = ytree_get(root, "peer_labels");
    if (n != NULL && read_labels(d, n, &r->peer, err) < 0)
        return -1;
    n = ytree_get(root, "peer_namespace_labels");
    if (n != NULL && read_labels(d, n, &r->peer_ns, err) < 0)
        return -1;
    n = ytree_get(root, "resolve_quiet");
    if (n != NULL && ytree_duration(d, n, &r->resolve_quiet_ms, err) < 0)
        return -1;
    n = ytree_get(root, "flap");
    if (n != NULL) {
        const struct ytree_node *c, *w;
        if (ytree_check_keys(d, n, flap_keys, err) < 0)
            return -1;
        c = ytree_get(n, "count");
        if (c != NULL) {
            if (ytree_int(d, c, 1, QUENCH_MAX_FLAP_COUNT, &v, err) < 0)
                return -1;
            r->flap_count = (unsigned)v;
        }
        w = ytree_get(n, "within");
        if (w != NULL && ytree_duration(d, w, &r->flap_within_ms, err) < 0)
            return -1;
    }
    if (apply_list(d, root, "alert_kinds", QUENCH_MAX_ALERT_KINDS,
                   sizeof *r->kinds, read_kind, kinds_free, &r->kinds,
                   &r->nkinds, err) < 0 ||
        apply_list(d, root, "exporters", QUENCH_MAX_EXPORTERS,
                   sizeof *r->exporters, read_exporter, exporters_free,
                   &r->exporters, &r->nexporters, err) < 0 ||
        apply_list(d, root, "rule_for", QUENCH_MAX_RULE_FOR, sizeof *r->fors,
                   read_rule_for, fors_free, &r->fors, &r->nfors, err) < 0)
        return -1;
    n = ytree_get(root, "history");
    if (n != NULL) {
        const struct ytree_node *x;
        if (ytree_check_keys(d, n, history_keys, err) < 0)
            return -1;
        x = ytree_get(n, "window");
        /* ytree_duration refuses 0: an empty horizon would make every
         * lookup "0 of 0" and history_new refuse the config */
        if (x != NULL && ytree_duration(d, x, &r->history.window_ms, err) < 0)
            return -1;
        x = ytree_get(n, "min_incidents");
        if (x != NULL) {
            if (ytree_int(d, x, 1, QUENCH_HISTORY_MAX_MIN_INCIDENTS, &v, err) < 0)
                return -1;
            r->history.min_incidents = (unsigned)v;
        }
        x = ytree_get(n, "weight");
        if (x != NULL &&
            ytree_double(d, x, 0.0, 1.0, &r->history.weight, err) < 0)
            return -1;
    }
    n = ytree_get(root, "default_namespace");
    if (n != NULL) {
        const char *s;
        char *copy;
        if (ytree_string(d, n, &s, err) < 0)
            return -1;
        copy = strdup(s);
        if (copy == NULL)
            return ytree_error(d, n, err, "out of memory");
        free(r->default_namespace);
        r->default_namespace = copy;
    }
    return 0;
}

static int load_defaults(struct rules **out, struct qerr *err)
{
    struct ytree_doc *d = NULL;
    struct rules *r = calloc(1, sizeof *r);
    int rc = -1;

    *out = NULL;
    if (r == NULL) {
        qerr_set(err, NULL, 0, 0, "out of memory");
        goto out;
    }
    if (ytree_load_buf(&d, default_yaml, sizeof default_yaml - 1,
                       "(built-in correlation defaults)", err) < 0)
        goto out;
    if (apply_doc(r, d, err) < 0)
        goto out;
    r->default_namespace = strdup("");
    if (r->default_namespace == NULL) {
        qerr_set(err, NULL, 0, 0, "out of memory");
        goto out;
    }
    *out = r;
    r = NULL;
    rc = 0;
out:
    ytree_free(d);
    rules_free(r);
    return rc;
}

int rules_new_default(struct rules **out)
{
    return load_defaults(out, NULL);
}

int rules_load_buf(struct rules **out, const char *buf, size_t len,
                   const char *source, struct qerr *err)
{
    struct ytree_doc *d = NULL;
    struct rules *r = NULL;
    int rc = -1;

    *out = NULL;
    if (load_defaults(&r, err) < 0)
        goto out;
    if (ytree_load_buf(&d, buf, len, source, err) < 0)
        goto out;
    if (apply_doc(r, d, err) < 0)
        goto out;
    *out = r;
    r = NULL;
    rc = 0;
out:
    ytree_free(d);
    rules_free(r);
    return rc;
}

int rules_load(struct rules **out, const char *path, struct qerr *err)
{
    struct ytree_doc *d = NULL;
    struct rules *r = NULL;
    int rc = -1;

    *out = NULL;
    if (load_defaults(&r, err) < 0)
        goto out;
    if (ytree_load_file(&d, path, err) < 0)
        goto out;
    if (apply_doc(r, d, err) < 0)
        goto out;
    *out = r;
    r = NULL;
    rc = 0;
out:
    ytree_free(d);
    rules_free(r);
    return rc;
}

/* ---- applying ----------------------------------------------------------- */

/* Whether every entry of M[0..n) matches A (a missing label as ""). */
static int matches(const struct rules_match *m, size_t n, const struct alert *a)
{
    for (size_t j = 0; j < n; j++) {
        const char *v = alert_label(a, m[j].label);
        if (regexec(&m[j].re, v ? v : "", 0, NULL, 0) != 0)
            return 0;
    }
    return 1;
}

enum rules_kind rules_classify(const struct rules *r, const struct alert *a,
                               double *weight)
{
    for (size_t i = 0; i < r->nkinds; i++) {
        const struct rules_alert_kind *k = &r->kinds[i];
        if (matches(k->match, k->nmatch, a)) {
            *weight = k->weight;
            return k->kind;
        }
    }
    *weight = RULES_DEFAULT_WEIGHT;
    return RULES_KIND_NONE;
}

int64_t rules_rule_for(const struct rules *r, const struct alert *a)
{
    for (size_t i = 0; i < r->nfors; i++)
        if (matches(r->fors[i].match, r->fors[i].nmatch, a))
            return r->fors[i].for_ms;
    return 0;
}

/* ---- memo --------------------------------------------------------------- */

#define MEMO_SLOTS 256
#define MEMO_KEYS 6

struct memo_entry {
    const char *key[MEMO_KEYS];     /* label values; NULL absent */
    enum rules_kind kind;
    double weight;
    int64_t for_ms;
    uint8_t used;
};

struct rules_memo {
    const char *labels[MEMO_KEYS];  /* borrowed from the rules */
    size_t nlabels;
    struct memo_entry e[MEMO_SLOTS];
};

/* Add the labels that MATCH[0..n) names to M; -1 past MEMO_KEYS. */
static int memo_labels(struct rules_memo *m, const struct rules_match *match,
                       size_t n)
{
    for (size_t j = 0; j < n; j++) {
        size_t k = 0;
        while (k < m->nlabels && strcmp(m->labels[k], match[j].label) != 0)
            k++;
        if (k < m->nlabels)
            continue;
        if (k == MEMO_KEYS)
            return -1;
        m->labels[m->nlabels++] = match[j].label;
    }
    return 0;
}

struct rules_memo *rules_memo_new(const struct rules *r)
{
    struct rules_memo *m = calloc(1, sizeof *m);

    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < r->nkinds; i++)
        if (memo_labels(m, r->kinds[i].match, r->kinds[i].nmatch) < 0)
            goto off;
    for (size_t i = 0; i < r->nfors; i++)
        if (memo_labels(m, r->fors[i].match, r->fors[i].nmatch) < 0)
            goto off;
    return m;
off:
    free(m);
    return NULL;
}

void rules_memo_free(struct rules_memo *m)
{
    free(m);
}

enum rules_kind rules_memo_get(struct rules_memo *m, const struct rules *r,
                               const struct alert *a, double *weight,
                               int64_t *for_ms)
{
    const char *key[MEMO_KEYS] = {0};
    uint64_t h = 0x9e3779b97f4a7c15ull;
    struct memo_entry *x;

    if (m == NULL) {
        *for_ms = rules_rule_for(r, a);
        return rules_classify(r, a, weight);
    }
    for (size_t i = 0; i < m->nlabels; i++) {
        key[i] = alert_label(a, m->labels[i]);
        h = (h ^ (uint64_t)(uintptr_t)key[i]) * 0xbf58476d1ce4e5b9ull;
    }
    x = &m->e[(h ^ (h >> 29)) % MEMO_SLOTS];
    if (!x->used || memcmp(x->key, key, sizeof key) != 0) {
        memcpy(x->key, key, sizeof key);
        x->kind = rules_classify(r, a, &x->weight);
        x->for_ms = rules_rule_for(r, a);
        x->used = 1;
    }
    *weight = x->weight;
    *for_ms = x->for_ms;
    return x->kind;
}

const struct rules_exporter *rules_exporter_of(const struct rules *r,
                                               const struct alert *a)
{
    for (size_t i = 0; i < r->nexporters; i++)
        if (matches(r->exporters[i].match, r->exporters[i].nmatch, a))
            return &r->exporters[i];
    return NULL;
}

int rules_labels_has(const struct rules_labels *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return 1;
    return 0;
}

const char *rules_label(const struct rules_exporter *x, const struct alert *a,
                        const char *name)
{
    if (x != NULL && rules_labels_has(&x->ignore, name))
        return NULL;
    return alert_label(a, name);
}

static const char *first_label(const struct rules_exporter *x,
                               const struct alert *a,
                               const struct rules_labels *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *v = rules_label(x, a, l->names[i]);
        if (v != NULL && *v != '\0')
            return v;
    }
    return NULL;
}

/* NAME without a ":port" suffix into BUF, or NAME itself when it has
 * none: `instance` is the scrape address ("10.0.0.3:9100"), and a node is
 * a host. Bare IPv6 ("fe80::1") has more than one colon and is kept;
 * bracketed ("[fe80::1]:9100") loses its port. */
static const char *host_of(const char *name, char *buf, size_t cap)
{
    const char *colon = strrchr(name, ':'), *p;
    size_t len;

    if (colon == NULL || colon[1] == '\0')
        return name;
    for (p = colon + 1; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return name;
    len = (size_t)(colon - name);
    if (len == 0 || len >= cap)
        return name;
    if (memchr(name, ':', len) != NULL && !(name[0] == '[' && colon[-1] == ']'))
        return name;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return buf;
}

/* Length of NAME without a trailing "-" + N characters of CLASS (1:
 * [a-z0-9], 0: [0-9]) for N in [lo, hi], or 0 if it has no such suffix. */
static size_t strip_suffix(const char *name, size_t len, size_t lo, size_t hi,
                           int alnum)
{
    size_t n = 0;

    while (n < len && n <= hi) {
        char ch = name[len - 1 - n];
        if (!((ch >= '0' && ch <= '9') || (alnum && ch >= 'a' && ch <= 'z')))
            break;
        n++;
    }
    if (n < lo || n > hi || n + 1 >= len || name[len - 1 - n] != '-')
        return 0;
    return len - 1 - n;
}

/* The service services.yaml declares that owns POD by Kubernetes' pod
 * naming, or -1: a Deployment's pods are <name>-<pod-template-hash>-<5>,
 * a StatefulSet's <name>-<ordinal>, a DaemonSet's or Job's <name>-<5>.
 * Alerts computed from the kubelet's or kube-state-metrics' series name
 * the pod and no service, and without its owner a pod is unrelated to
 * the service-level alerts of its own service. Only declared services
 * are matched (by name): a guess never invents a service. */
static int32_t owner_by_name(const struct topology *t, const char *pod)
{
    size_t len = strlen(pod), cut[3], k;
    char name[QUENCH_MAX_HOST_NAME];

    cut[0] = strip_suffix(pod, len, 5, 5, 1);
    cut[0] = cut[0] ? strip_suffix(pod, cut[0], 5, 10, 1) : 0;
    cut[1] = strip_suffix(pod, len, 1, 10, 0);
    cut[2] = strip_suffix(pod, len, 5, 5, 1);
    for (k = 0; k < 3; k++) {
        if (cut[k] == 0 || cut[k] >= sizeof name)
            continue;
        memcpy(name, pod, cut[k]);
        name[cut[k]] = '\0';
        for (int kind = 0; kind < ENTITY_KIND_COUNT; kind++) {
            int32_t id;
            if (!entity_kind_is_service_like((enum entity_kind)kind))
                continue;
            id = topology_find(t, (enum entity_kind)kind, name);
            if (id >= 0 && topology_entity(t, (uint32_t)id)->declared)
                return id;
        }
    }
    return -1;
}

/* Istio's names for "no known destination" (and what a spanmetrics
 * dimension with a default gets): nothing an alert can be about.
 * InboundPassthroughCluster comes with Ipv4/Ipv6 suffixes. */
static int placeholder_peer(const char *v)
{
    static const char inbound[] = "InboundPassthroughCluster";

    return strcmp(v, "unknown") == 0 || strcmp(v, "PassthroughCluster") == 0 ||
           strcmp(v, "BlackHoleCluster") == 0 ||
           strncmp(v, inbound, sizeof inbound - 1) == 0;
}

/* Whether V is an IP address: no service can be told from it. */
static int ip_literal(const char *v)
{
    if (*v == '[' || strchr(v, ':') != NULL)
        return 1;       /* IPv6 (a port was cut already) */
    return strspn(v, "0123456789.") == strlen(v);
}

/* The declared service NAME is, by name or as a pod-shaped name's owner
 * (a StatefulSet member's DNS name), or -1. */
static int32_t declared_peer(const struct topology *t, const char *name)
{
    int32_t id = topology_find(t, ENTITY_SERVICE, name);

    if (id >= 0 && topology_entity(t, (uint32_t)id)->declared)
        return id;
    return owner_by_name(t, name);
}

int rules_peer(const struct rules *r, const struct topology *t,
               const struct alert *a, const struct rules_exporter *x,
               struct rules_peer *out)
{
    const char *v = NULL, *svc, *pod, *seg;
    char host[QUENCH_MAX_HOST_NAME];
    size_t len, nslen = 0;
    int32_t id;

    out->name[0] = out->ns[0] = '\0';
    for (size_t i = 0; i < r->peer.n && v == NULL; i++) {
        v = rules_label(x, a, r->peer.names[i]);
        if (v != NULL && (*v == '\0' || placeholder_peer(v)))
            v = NULL;
    }
    if (v == NULL)
        return 0;
    v = host_of(v, host, sizeof host);
    len = strlen(v);
    if (len > 0 && v[len - 1] == '.')
        len--;                          /* a fully qualified name's dot */
    if (len == 0 || *v == ':' || *v == '.' || len >= sizeof out->name)
        return 0;
    memcpy(out->name, v, len);
    out->name[len] = '\0';
    if (ip_literal(out->name))
        return 0;
    /* a Kubernetes DNS name, "<service>.<namespace>.svc[.cluster.local]"
     * (a StatefulSet member's: "<pod>.<service>.<namespace>.svc..."), or
     * "<service>.<namespace>" of a declared service: the first name and
     * the namespace; other names with dots (api.stripe.com) stay whole */
    seg = strchr(out->name, '.');
    if (seg != NULL) {
        const char *svc_at = NULL, *p = seg;
        size_t first = (size_t)(seg - out->name);
        char head[QUENCH_MAX_HOST_NAME];
        while (p != NULL && svc_at == NULL) {
            if (strncmp(p, ".svc", 4) == 0 && (p[4] == '.' || p[4] == '\0'))
                svc_at = p;
            p = strchr(p + 1, '.');
        }
        memcpy(head, out->name, first);
        head[first] = '\0';
        if (svc_at != NULL && svc_at > seg) {
            const char *ns = svc_at - 1;
            while (*ns != '.')
                ns--;
            nslen = (size_t)(svc_at - ns - 1);
            memmove(out->ns, ns + 1, nslen);
            out->ns[nslen] = '\0';
            out->name[first] = '\0';
        } else if (svc_at == NULL && strchr(seg + 1, '.') == NULL &&
                   declared_peer(t, head) >= 0) {
            snprintf(out->ns, sizeof out->ns, "%s", seg + 1);
            out->name[first] = '\0';
        }
    }
    /* as the graph names it: a declared service, or a pod-shaped name's
     * declared owner */
    id = declared_peer(t, out->name);
    if (id >= 0)
        snprintf(out->name, sizeof out->name, "%s", topology_entity(t, (uint32_t)id)->name);
    /* the callee reporting on itself (Istio's reporter="destination"), or
     * a self-call: its own labels are the callee's */
    svc = first_label(x, a, &r->service);
    if (svc != NULL && strcmp(svc, out->name) == 0)
        return 0;
    pod = first_label(x, a, &r->pod);
    if (pod != NULL) {
        int32_t own = owner_by_name(t, pod);
        if (own >= 0 && strcmp(topology_entity(t, (uint32_t)own)->name, out->name) == 0)
            return 0;
    }
    /* its namespace: the DNS name's, else the one the alert names for it
     * (Istio's destination_service_namespace), else the one it is
     * declared in */
    if (out->ns[0] == '\0') {
        const char *ns = first_label(x, a, &r->peer_ns);
        if (ns != NULL)
            snprintf(out->ns, sizeof out->ns, "%s", ns);
        else if (id >= 0)
            snprintf(out->ns, sizeof out->ns, "%s", topology_entity(t, (uint32_t)id)->namespace_);
    }
    return 1;
}

int rules_resolve(const struct rules *r, struct topology *t,
                  const struct alert *a, struct rules_entity *out)
{
    return rules_resolve_as(r, t, a, rules_exporter_of(r, a), out);
}

int rules_resolve_as(const struct rules *r, struct topology *t,
                     const struct alert *a, const struct rules_exporter *x,
                     struct rules_entity *out)
{
    const char *pod = first_label(x, a, &r->pod);
    const char *svc = first_label(x, a, &r->service);
    const char *node = first_label(x, a, &r->node);
    char host[QUENCH_MAX_HOST_NAME];
    struct rules_peer peer;
    int rc = 0;

    out->entity = out->pod = out->service = out->node = -1;
    out->namespace_ = first_label(x, a, &r->namespace_);
    if (r->peer.n > 0 && rules_peer(r, t, a, x, &peer)) {
        /* measured by a caller: about the peer; the pod, node and
         * service labels are the reporter's, and linking the caller's
         * pod to the peer would teach the graph a false owner */
        out->service = out->entity = topology_intern(t, ENTITY_SERVICE, peer.name);
        return out->service < 0 ? -1 : 0;
    }
    if (svc != NULL) {
        out->service = topology_intern(t, ENTITY_SERVICE, svc);
        if (out->service < 0)
            rc = -1;
    }
    if (pod != NULL) {
        out->pod = topology_intern(t, ENTITY_POD, pod);
        if (out->pod < 0)
            rc = -1;
        if (svc == NULL)
            out->service = owner_by_name(t, pod);
    }
    /* A node label on a service-level alert (no pod) says where the
     * exporter ran, not where the service runs: only pods are placed. */
    if (node != NULL && (pod != NULL || svc == NULL)) {
        out->node = topology_intern(t, ENTITY_NODE,
                                    host_of(node, host, sizeof host));
        if (out->node < 0)
            rc = -1;
    }
    if (out->pod >= 0 && out->service >= 0 &&
        topology_link(t, (uint32_t)out->service, (uint32_t)out->pod) < 0)
        rc = -1;
    if (out->pod >= 0 && out->node >= 0 &&
        topology_link(t, (uint32_t)out->pod, (uint32_t)out->node) < 0)
        rc = -1;
    out->entity = out->pod >= 0 ? out->pod
                : out->service >= 0 ? out->service
                : out->node;
    return rc;
}

int rules_load_dir(const char *dir, struct rules **r, struct topology **t,
                   struct qerr *err)
{
    char path[4096];
    struct stat st;

    *r = NULL;
    *t = NULL;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return qerr_set(err, dir, 0, 0, "rules directory not found");
    snprintf(path, sizeof path, "%s/correlation.yaml", dir);
    if (stat(path, &st) == 0) {
        if (rules_load(r, path, err) < 0)
            return -1;
    } else if (rules_new_default(r) < 0) {
        return qerr_set(err, path, 0, 0, "out of memory");
    }
    snprintf(path, sizeof path, "%s/services.yaml", dir);
    if (stat(path, &st) == 0) {
        if (topology_load(t, path, (*r)->default_namespace, err) < 0)
            goto fail;
    } else if (topology_new_empty(t) < 0) {
        qerr_set(err, path, 0, 0, "out of memory");
        goto fail;
    }
    return 0;
fail:
    rules_free(*r);
    *r = NULL;
    return -1;
}
