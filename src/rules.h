/* rules.h - rules/correlation.yaml: which labels name which entity, how
 * alerts group into incidents (window, hops, scope), when incidents close,
 * what counts as flapping, the cause/symptom prior of each alert, and
 * which labels of an exporter's alerts name the exporter (exporters).
 *
 * A struct rules is immutable once loaded; its fields are read-only for
 * every module (correlate, engine, rank). Keys absent from the file keep
 * their DESIGN.md defaults; a missing file is rules_new_default. */
#ifndef QUENCH_RULES_H
#define QUENCH_RULES_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "limits.h"
#include "qerr.h"
#include "topology.h"

/* Prior of an alert as a cause vs a symptom (alert_kinds[].kind). */
enum rules_kind { RULES_KIND_NONE = 0, RULES_KIND_CAUSE, RULES_KIND_SYMPTOM };

/* Weight given to an alert that no alert_kinds entry matches. */
#define RULES_DEFAULT_WEIGHT 1.0

struct rules_match {
    const char *label;          /* owned */
    const char *pattern;        /* owned, as written (with any "(?i)") */
    regex_t re;                 /* anchored POSIX ERE: ^(pattern)$ */
};

struct rules_alert_kind {
    struct rules_match *match;  /* all must match; a missing label is "" */
    size_t nmatch;
    enum rules_kind kind;
    double weight;
};

/* rule_for[]: the `for` of the alerting rules an entry matches. */
struct rules_rule_for {
    struct rules_match *match;  /* all must match; a missing label is "" */
    size_t nmatch;
    int64_t for_ms;
};

/* An ordered list of label names (entity_labels.*, scope). */
struct rules_labels {
    const char *names[QUENCH_MAX_RULE_LABELS];   /* owned */
    size_t n;
};
/* Whether L lists NAME. */
int rules_labels_has(const struct rules_labels *l, const char *name);

/* An exporters entry. Prometheus puts the scraped target's own labels
 * (service, job, instance, pod of the exporter) beside the subject's: a
 * KubePodCrashLooping from kube-state-metrics names the crashing pod in
 * `pod` but kube-state-metrics in `service` and its address in
 * `instance`; a node-exporter alert names the node-exporter pod in `pod`.
 * For an alert the entry matches, the labels in `ignore` are not read
 * when naming its entity or its scope. */
struct rules_exporter {
    struct rules_match *match;  /* all must match; a missing label is "" */
    size_t nmatch;
    struct rules_labels ignore;
};

struct rules {
    struct rules_labels pod, service, node, namespace_;  /* entity_labels */
    struct rules_labels peer;   /* peer_labels: the service an alert
                                 * measured by its caller is about */
    struct rules_labels peer_ns;    /* peer_namespace_labels: its namespace */
    int64_t window_ms;          /* window */
    unsigned hops;              /* topology_hops */
    struct rules_labels scope;  /* scope */
    int64_t resolve_quiet_ms;   /* resolve_quiet */
    unsigned flap_count;        /* flap.count */
    int64_t flap_within_ms;     /* flap.within */
    struct rules_alert_kind *kinds;   /* alert_kinds, in file order */
    size_t nkinds;
    struct rules_exporter *exporters; /* exporters, first match wins */
    size_t nexporters;
    struct rules_rule_for *fors;      /* rule_for, first match wins */
    size_t nfors;
    char *default_namespace;    /* default_namespace: what services.yaml
                                 * services without `namespace` get; "" */
    struct rules_history {      /* history: background across incidents */
        int64_t window_ms;      /* history.window: closed incidents this
                                 * far back count (history_config) */
        unsigned min_incidents; /* history.min_incidents */
        double weight;          /* history.weight: surprise removed from a
                                 * pair every recent incident held (rank);
                                 * 0 turns the damping off */
    } history;
};

/* The DESIGN.md defaults into *out. 0 or -1 on OOM. */
int rules_new_default(struct rules **out);
/* Load PATH over the defaults into *out. 0, or -1 with *out NULL and ERR
 * at file:line:column (unknown keys, bad types, bad regexes). */
int rules_load(struct rules **out, const char *path, struct qerr *err);
/* Same from BUF[0..len); SOURCE names it in errors. */
int rules_load_buf(struct rules **out, const char *buf, size_t len,
                   const char *source, struct qerr *err);
/* Free R. R may be NULL. */
void rules_free(struct rules *r);

/* The rules of a rules directory, as serve, replay and check all read
 * them: DIR/correlation.yaml into *r (the defaults when the file is
 * absent) and DIR/services.yaml into *t (an empty graph when absent).
 * 0, or -1 with *r and *t NULL and ERR naming file:line:column, or DIR
 * itself when it is not a directory (a mistyped --rules must not silently
 * mean "no rules"). */
int rules_load_dir(const char *dir, struct rules **r, struct topology **t,
                   struct qerr *err);

/* The first alert_kinds entry A matches: its kind, and its weight into
 * *weight (RULES_DEFAULT_WEIGHT and RULES_KIND_NONE when none matches). */
enum rules_kind rules_classify(const struct rules *r, const struct alert *a,
                               double *weight);

/* The `for` of the alerting rule that fired A, in ms: the first rule_for
 * entry A matches, else 0. Prometheus sets startsAt when an alert fires,
 * which is that long after its condition began; rank counts the onset
 * from startsAt minus it. */
int64_t rules_rule_for(const struct rules *r, const struct alert *a);

/* rules_classify and rules_rule_for run their entries' regexes in turn,
 * for every changed notification (a 1M-alert replay: millions of times,
 * mostly to the same few answers). Their answers depend only on the
 * values of the labels the entries name, and an alert whose strings are
 * interned (equal values are equal pointers: correlate's copies) can be
 * answered from a small table keyed on those pointers: the same answers.
 * rules_memo_new gives NULL when the entries name more labels than the
 * table keys, or without memory; rules_memo_get then asks R directly. M
 * borrows R, which must outlive it. */
struct rules_memo;
struct rules_memo *rules_memo_new(const struct rules *r);
void rules_memo_free(struct rules_memo *m);
/* rules_classify (returned, *weight) and rules_rule_for (*for_ms) of A,
 * whose label values must be interned when M is not NULL. */
enum rules_kind rules_memo_get(struct rules_memo *m, const struct rules *r,
                               const struct alert *a, double *weight,
                               int64_t *for_ms);

/* What an alert is about, resolved from its labels. */
struct rules_entity {
    int32_t entity;             /* the alert's entity: pod, else service,
                                 * else node; -1 when no label names one */
    int32_t pod, service, node; /* each -1 when absent */
    const char *namespace_;     /* first entity_labels.namespace value, or
                                 * NULL; borrowed from A (for an alert
                                 * about its peer: the caller's; the
                                 * scope takes rules_peer's) */
};

/* The exporters entry A matches first, or NULL. */
const struct rules_exporter *rules_exporter_of(const struct rules *r,
                                               const struct alert *a);
/* Label NAME of A as entity resolution and scope read it: NULL when A
 * lacks it or X (A's rules_exporter_of) ignores it. */
const char *rules_label(const struct rules_exporter *x, const struct alert *a,
                        const char *name);

/* The service an alert was measured against (peer_labels), as a caller
 * sees it, and the namespace it is in. */
struct rules_peer {
    char name[QUENCH_MAX_HOST_NAME];  /* as the graph names it */
    char ns[QUENCH_MAX_HOST_NAME];    /* its DNS name's, else a
                                       * peer_namespace_labels value, else
                                       * its declared one; "" when none
                                       * says */
};
/* A's peer into *OUT: the first peer label whose value is not empty nor
 * a placeholder (Istio's "unknown", "PassthroughCluster"...), its ":port"
 * and trailing dot cut; a Kubernetes DNS name ("<service>.<namespace>
 * [.svc...]") gives the service and its namespace, else the first
 * peer_namespace_labels value does; a pod-shaped name its declared
 * owner. 1 if A is about that peer; 0 when it names none,
 * an IP address, or its own service (the callee reporting on itself, as
 * Istio's reporter="destination" does, or a self-call). X is A's
 * exporters entry. */
int rules_peer(const struct rules *r, const struct topology *t,
               const struct alert *a, const struct rules_exporter *x,
               struct rules_peer *out);

/* Resolve A's entity into *out, adding unknown pods, nodes and services to
 * T and linking service -> pod and pod -> node (first matching label per
 * entity_labels list; empty values and labels an exporters entry ignores
 * do not count; a node named "host:port", as `instance` is, is named
 * "host"). An alert with a peer_labels value was measured by a caller (a
 * client span, a mesh's source-side metric): its entity is that peer
 * service, and its pod, node and service labels, the reporter's, are
 * neither read nor linked. 0, or -1 when T is full
 * or out of memory (*out then holds what could be resolved). */
int rules_resolve(const struct rules *r, struct topology *t,
                  const struct alert *a, struct rules_entity *out);
/* The same for a caller that already has A's exporters entry X (NULL for
 * none): correlate reads the scope through it too, and the entries' regexes
 * then run once per alert. */
int rules_resolve_as(const struct rules *r, struct topology *t,
                     const struct alert *a, const struct rules_exporter *x,
                     struct rules_entity *out);

#endif
