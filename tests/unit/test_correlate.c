/* test_correlate.c - grouping semantics, table-driven: each case is a
 * sequence of notifications and ticks, the outcome of each, and the
 * incidents that result (alertnames per incident, open or closed). Then
 * ids, flapping, persistence round trips and pruning; then out of memory
 * at every allocation of an ingest, a tick and a restore (failalloc.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "correlate.h"
#include "failalloc.h"

static const char graph[] =
    "services:\n"
    "  frontend: {calls: [checkout]}\n"
    "  checkout: {calls: [payment, cart]}\n"
    "  payment:\n"
    "  cart: {uses: [redis]}\n"
    "  redis: {kind: cache}\n"
    "  far1: {calls: [far2]}\n"
    "  far2: {calls: [far3]}\n"
    "  far3: {calls: [far4]}\n"
    "  far4:\n";

struct step {
    int at;               /* seconds */
    const char *labels;   /* NULL: a tick at AT */
    char status;          /* 'f' firing, 'r' resolved */
    int starts;           /* seconds */
    const char *group;    /* groupKey or NULL */
    char want;            /* O J M U I: the outcome; 0 for ticks */
};

struct gcase {
    const char *name;
    const char *rules;    /* correlation.yaml override, or NULL */
    struct step steps[12];
    const char *want;     /* "A B|C": alertnames per incident, by opened_at */
    const char *states;   /* "oc": open/closed per incident */
};

#define TICK(t) { (t), NULL, 0, 0, NULL, 0 }

/* Label sets as kube-prometheus-stack sends them (exporters, rules.h). */
#define NODE_EXPORTER_FS                                                     \
    "alertname=NodeFilesystemSpaceFillingUp,instance=10.0.0.33:9100,"        \
    "job=node-exporter,namespace=monitoring,pod=node-exporter-w7bb7,"        \
    "service=node-exporter"
#define CART_POD_OOM                                                         \
    "alertname=PodOOM,pod=cart-0,service=cart,node=10.0.0.33,namespace=shop"
#define KSM_ALPHA                                                            \
    "alertname=KubePodCrashLooping,instance=10.42.9.105:8080,"               \
    "job=kube-state-metrics,namespace=shop,pod=alpha-0,"                     \
    "service=kps-kube-state-metrics"
#define KSM_BETA                                                             \
    "alertname=KubePodNotReady,instance=10.42.9.105:8080,"                   \
    "job=kube-state-metrics,namespace=shop,pod=beta-0,"                      \
    "service=kps-kube-state-metrics"

static const struct gcase cases[] = {
    { "same service", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=cart", 'f', 5, NULL, 'J' } },
      "A B", "o" },
    { "neighbours within hops", NULL,
      { { 0, "alertname=A,service=frontend", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=payment", 'f', 5, NULL, 'J' } },
      "A B", "o" },
    { "two hops apart, hops 1", "topology_hops: 1\n",
      { { 0, "alertname=A,service=frontend", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=payment", 'f', 5, NULL, 'O' } },
      "A|B", "oo" },
    { "far apart", NULL,
      { { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=far4", 'f', 5, NULL, 'O' } },
      "A|B", "oo" },
    { "different scope labels", NULL,
      { { 0, "alertname=A,service=cart,namespace=x", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=cart,namespace=y", 'f', 5, NULL, 'O' },
        /* cart is in x and in y: which one C is about is not guessed */
        { 20, "alertname=C,service=cart", 'f', 5, NULL, 'O' },
        /* nor by D, in x: cart alerts in y too, so C may be y's */
        { 30, "alertname=D,service=cart,namespace=x", 'f', 5, NULL, 'J' } },
      "A D|B|C", "ooo" },
    /* A missing scope value is no value: an alert source that sends no
     * namespace (trace-derived alerts often do not) meets the incident of
     * its entity, in either order; the incident keeps the namespace */
    { "an alert lacking the namespace meets its entity's incident", NULL,
      { { 0, "alertname=TraceLatencyHigh,service=cart", 'f', 0, NULL, 'O' },
        { 10, "alertname=PodOOM,service=cart,namespace=shop", 'f', 5, NULL, 'J' },
        { 20, "alertname=TraceErrors,service=checkout", 'f', 5, NULL, 'J' } },
      "PodOOM TraceErrors TraceLatencyHigh", "o" },
    /* the entity's own incidents decide, not its neighbours': cart is
     * only in shop, so a billing incident on payment (two hops away)
     * does not make it ambiguous */
    { "an alert lacking the namespace follows its entity, not neighbours", NULL,
      { { 0, "alertname=A,service=cart,namespace=shop", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=payment,namespace=billing", 'f', 5, NULL, 'O' },
        { 20, "alertname=C,service=cart", 'f', 5, NULL, 'J' } },
      "A C|B", "oo" },
    /* a node is cluster-wide: that its incident moved to billing says
     * nothing about the namespace of a pod on it */
    { "nor its node's", NULL,
      { { 0, "alertname=A,pod=cart-0,service=cart,node=n2,namespace=shop", 'f', 0, NULL, 'O' },
        { 10, "alertname=N,node=n2", 'f', 5, NULL, 'J' },
        { 20, "alertname=B,pod=pay-0,service=payment,node=n3,namespace=billing", 'f', 5, NULL, 'O' },
        { 30, "alertname=C,pod=cart-1,service=cart,node=n3", 'f', 5, NULL, 'J' } },
      "A C N|B", "oo" },
    { "and the other way round", NULL,
      { { 0, "alertname=PodOOM,service=cart,namespace=shop", 'f', 0, NULL, 'O' },
        { 10, "alertname=TraceLatencyHigh,service=checkout", 'f', 5, NULL, 'J' } },
      "PodOOM TraceLatencyHigh", "o" },
    /* an alert about its peer (peer_labels) carries the caller's
     * namespace; the peer's is its DNS name's: a caller in web sees
     * cart.shop and meets cart's incident in shop */
    { "a caller's view of its peer meets the peer's incident", NULL,
      { { 0, "alertname=PodOOM,pod=cart-0,service=cart,namespace=shop", 'f', 0, NULL, 'O' },
        { 10, "alertname=ClientLatencyHigh,pod=ui-0,service=ui,namespace=web,"
              "peer_service=cart.shop.svc.cluster.local:7070", 'f', 5, NULL, 'J' } },
      "ClientLatencyHigh PodOOM", "o" },
    /* a bare name resolves in the caller's namespace: prod's view of
     * cart is not staging's cart, and meets prod's */
    { "a bare peer name is in the caller's namespace", NULL,
      { { 0, "alertname=PodOOM,pod=cart-0,service=cart,namespace=staging", 'f', 0, NULL, 'O' },
        { 10, "alertname=ClientLatencyHigh,pod=ui-0,service=ui,namespace=prod,"
              "peer_service=cart", 'f', 5, NULL, 'O' },
        { 20, "alertname=PodOOMProd,pod=cart-1,service=cart,namespace=prod", 'f', 5, NULL, 'J' } },
      "PodOOM|ClientLatencyHigh PodOOMProd", "oo" },
    /* Istio's destination_service_namespace names it too */
    { "a peer's namespace from its own label", NULL,
      { { 0, "alertname=PodOOM,pod=cart-0,service=cart,namespace=shop", 'f', 0, NULL, 'O' },
        { 10, "alertname=IstioLatencyHigh,pod=ui-0,namespace=web,"
              "destination_service_name=cart,destination_service_namespace=shop",
              'f', 5, NULL, 'J' } },
      "IstioLatencyHigh PodOOM", "o" },
    /* only the namespace is the peer's: the cluster stays the caller's */
    { "a peer's namespace, the caller's cluster", NULL,
      { { 0, "alertname=PodOOM,pod=cart-0,service=cart,namespace=shop,cluster=eu", 'f', 0, NULL, 'O' },
        { 10, "alertname=ClientUs,pod=ui-0,service=ui,namespace=web,cluster=us,"
              "peer_service=cart.shop", 'f', 5, NULL, 'O' },
        { 20, "alertname=ClientEu,pod=ui-1,service=ui,namespace=web,cluster=eu,"
              "peer_service=cart.shop", 'f', 5, NULL, 'J' } },
      "ClientEu PodOOM|ClientUs", "oo" },
    /* the callee reporting on itself (Istio's reporter="destination"):
     * its own namespace, as any alert's */
    { "a callee's own view keeps its namespace", NULL,
      { { 0, "alertname=PodOOM,pod=cart-0,service=cart,namespace=shop", 'f', 0, NULL, 'O' },
        { 10, "alertname=ServerLatencyHigh,pod=cart-1,service=cart,namespace=staging,"
              "destination_service_name=cart", 'f', 5, NULL, 'O' } },
      "PodOOM|ServerLatencyHigh", "oo" },
    /* Exporters (rules.h): node-exporter's pod and namespace are its own;
     * the node joins the incident of the pod it hosts */
    { "a node-exporter alert joins the pods its node hosts", NULL,
      { { 0, CART_POD_OOM, 'f', 0, NULL, 'O' },
        { 10, NODE_EXPORTER_FS, 'f', 5, NULL, 'J' } },
      "NodeFilesystemSpaceFillingUp PodOOM", "o" },
    { "without exporters it is the exporter pod's, in its namespace", "exporters: []\n",
      { { 0, CART_POD_OOM, 'f', 0, NULL, 'O' },
        { 10, NODE_EXPORTER_FS, 'f', 5, NULL, 'O' } },
      "PodOOM|NodeFilesystemSpaceFillingUp", "oo" },
    /* kube-state-metrics' service is not the pods' */
    { "unrelated pods do not join through kube-state-metrics", NULL,
      { { 0, KSM_ALPHA, 'f', 0, NULL, 'O' },
        { 10, KSM_BETA, 'f', 5, NULL, 'O' } },
      "KubePodCrashLooping|KubePodNotReady", "oo" },
    { "without exporters they do", "exporters: []\n",
      { { 0, KSM_ALPHA, 'f', 0, NULL, 'O' },
        { 10, KSM_BETA, 'f', 5, NULL, 'J' } },
      "KubePodCrashLooping KubePodNotReady", "o" },
    /* Nodes are cluster-wide: through a node, a scope label one side lacks
     * does not separate (cross_scope_candidates) */
    { "a node alert joins the namespaced incident of a pod it hosts", NULL,
      { { 0, "alertname=A,pod=cart-0,service=cart,node=n1,namespace=shop", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,node=n1", 'f', 5, NULL, 'J' } },
      "A B", "o" },
    { "a pod alert joins the incident its node's alert opened", NULL,
      { { 0, "alertname=P,pod=cart-1,service=cart,node=n1,namespace=shop", 'f', 0, NULL, 'O' },
        TICK(700),
        { 701, "alertname=B,node=n1", 'f', 701, NULL, 'O' },
        { 710, "alertname=A,pod=cart-0,service=cart,node=n1,namespace=shop", 'f', 705, NULL, 'J' },
        { 720, "alertname=C,node=n1", 'f', 715, NULL, 'J' },
        { 730, "alertname=D,pod=pay-0,service=payment,node=n1,namespace=billing",
          'f', 725, NULL, 'O' } },
      "P|A B C|D", "ooo" },
    { "namespaces stay apart through a node", NULL,
      { { 0, "alertname=A,pod=cart-0,service=cart,node=n1,namespace=x", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,pod=pay-0,service=payment,node=n1,namespace=y", 'f', 5, NULL, 'O' },
        { 20, "alertname=C,node=n1", 'f', 15, NULL, 'J' } },
      "A C|B", "oo" },
    { "a node no known pod runs on joins the largest incident of any namespace", NULL,
      { { 0, "alertname=A,pod=cart-0,service=cart,namespace=shop", 'f', 0, NULL, 'O' },
        { 5, "alertname=C,pod=cart-1,service=cart,namespace=shop", 'f', 0, NULL, 'J' },
        { 8, "alertname=D,pod=pay-0,service=payment,namespace=billing", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,node=n9", 'f', 5, NULL, 'J' } },
      "A B C|D", "oo" },
    /* found by review: moving the incident to shop indexed n2, which only
     * joined as a weak member (a guess), and pulled b-0 in through it.
     * Since weak members are replaced by evidence (find_guesses), N2 goes
     * where b-0's alert goes, which opens its own incident: no merge */
    { "a weak member stays weak when its incident moves namespace", NULL,
      { { 0, "alertname=N1,node=n1", 'f', 0, NULL, 'O' },
        { 5, "alertname=N2,node=n2", 'f', 5, NULL, 'J' },
        { 10, "alertname=P1,pod=a-0,service=far4,node=n1,namespace=shop", 'f', 10, NULL, 'J' },
        { 15, "alertname=P2,pod=b-0,service=far1,node=n2,namespace=shop", 'f', 15, NULL, 'O' } },
      "N1 P1|N2 P2", "oo" },
    { "no scope: scopes never split", "scope: []\n",
      { { 0, "alertname=A,service=cart,namespace=x", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=cart,namespace=y", 'f', 5, NULL, 'J' } },
      "A B", "o" },
    { "outside the window", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 601, "alertname=B,service=cart", 'f', 600, NULL, 'O' } },
      "A|B", "oo" },
    /* a rule with a `for` fires that long after its condition began
     * (rule_for): 12 minutes after the incident went quiet, it was 3
     * minutes before; the same alert without one opens afresh */
    { "an alert whose rule has a for joins as of when it began",
      "rule_for:\n  - match: {alertname: Crash}\n    for: 15m\n",
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 720, "alertname=Crash,service=cart", 'f', 700, NULL, 'J' } },
      "A Crash", "o" },
    /* by time alone (a node no known pod runs on) the window counts from
     * when it fired: its link is only as good as the timing (review) */
    { "a for does not stretch a join by time alone", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 3000, "alertname=NodeFilesystemSpaceFillingUp,node=n9", 'f', 2990, NULL, 'O' } },
      "A|NodeFilesystemSpaceFillingUp", "oo" },
    { "an alert whose rule has no for: outside the window", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 720, "alertname=Crash,service=cart", 'f', 700, NULL, 'O' } },
      "A|Crash", "oo" },
    /* a long-firing (chronic) alert, re-sent by Alertmanager every
     * repeat_interval unchanged, does not hold its incident open to new
     * alerts: that is what keeps it out of a fresh fault's incident */
    { "a re-sent long-firing alert is no activity", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 3600, "alertname=A,service=cart", 'f', 0, NULL, 'I' },
        { 3700, "alertname=B,service=cart", 'f', 3690, NULL, 'O' } },
      "A|B", "oo" },
    { "window counts from the last activity", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 500, "alertname=B,service=cart", 'f', 500, NULL, 'J' },
        { 1100, "alertname=C,service=cart", 'f', 1100, NULL, 'J' } },
      "A B C", "o" },
    { "merge by a bridging alert", "topology_hops: 1\n",
      { { 0, "alertname=A,service=frontend", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=payment", 'f', 5, NULL, 'O' },
        { 20, "alertname=C,service=checkout", 'f', 15, NULL, 'M' } },
      "A B C", "o" },
    { "resolve and close", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 60, "alertname=A,service=cart", 'r', 0, NULL, 'U' },
        TICK(359) },
      "A", "o" },
    { "resolve and close, quiet passed", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 60, "alertname=A,service=cart", 'r', 0, NULL, 'U' },
        TICK(360) },
      "A", "c" },
    { "one alert still firing keeps it open", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=cart", 'f', 0, NULL, 'J' },
        { 60, "alertname=A,service=cart", 'r', 0, NULL, 'U' },
        TICK(4000) },
      "A B", "o" },
    { "resolved before its firing", NULL,
      { { 0, "alertname=A,service=cart", 'r', 0, NULL, 'O' },
        { 10, "alertname=A,service=cart", 'f', 0, NULL, 'I' },
        TICK(300) },
      "A", "c" },
    { "duplicates and stale repeats", NULL,
      { { 0, "alertname=A,service=cart", 'f', 100, NULL, 'O' },
        { 10, "alertname=A,service=cart", 'f', 100, NULL, 'I' },
        { 20, "alertname=A,service=cart", 'f', 50, NULL, 'I' },
        { 30, "alertname=A,service=cart", 'r', 50, NULL, 'I' },
        { 40, "alertname=A,service=cart", 'r', 100, NULL, 'U' },
        { 50, "alertname=A,service=cart", 'r', 100, NULL, 'I' },
        { 60, "alertname=A,service=cart", 'f', 100, NULL, 'I' } },
      "A", "o" },
    { "refire after close opens a new incident", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 60, "alertname=A,service=cart", 'r', 0, NULL, 'U' },
        TICK(400),
        { 500, "alertname=A,service=cart", 'f', 500, NULL, 'O' } },
      "A|A", "co" },
    { "refire while open stays", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 60, "alertname=A,service=cart", 'r', 0, NULL, 'U' },
        { 120, "alertname=A,service=cart", 'f', 120, NULL, 'U' } },
      "A", "o" },
    { "no entity: same group joins, other group does not", NULL,
      { { 0, "alertname=A,service=x1", 'f', 0, "g1", 'O' },
        { 10, "alertname=B,cluster_wide=yes", 'f', 0, "g1", 'J' },
        { 20, "alertname=C,cluster_wide=yes", 'f', 0, "g2", 'O' } },
      "A B|C", "oo" },
    { "with an entity the graph decides, not the group", NULL,
      { { 0, "alertname=A,service=far1", 'f', 0, "g1", 'O' },
        { 10, "alertname=B,service=far4", 'f', 0, "g1", 'O' } },
      "A|B", "oo" },
    { "pods and nodes", NULL,
      { { 0, "alertname=A,pod=cart-0,service=cart,node=n1", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,node=n1", 'f', 0, NULL, 'J' },
        { 20, "alertname=C,pod=far1-0,service=far1,node=n2", 'f', 0, NULL, 'O' } },
      "A B|C", "oo" },
    { "a pod counts as its service for hops", NULL,
      { { 0, "alertname=A,pod=redis-0,service=redis", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,pod=checkout-0,service=checkout", 'f', 0, NULL, 'J' },
        { 20, "alertname=C,pod=frontend-0,service=frontend", 'f', 0, NULL, 'J' },
        { 30, "alertname=D,pod=far1-0,service=far1", 'f', 0, NULL, 'O' } },
      "A B C|D", "oo" },
    { "no entity, no group", NULL,
      { { 0, "alertname=A", 'f', 0, NULL, 'O' },
        { 10, "alertname=B", 'f', 0, NULL, 'O' } },
      "A|B", "oo" },
    { "isolated entity joins by time and scope", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,node=n9", 'f', 0, NULL, 'J' } },
      "A B", "o" },
    { "an undeclared service is not guessed at", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,service=nobody-knows", 'f', 0, NULL, 'O' } },
      "A|B", "oo" },
    { "isolated entity in another scope stays apart", NULL,
      { { 0, "alertname=A,service=cart,namespace=x", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,node=n9,namespace=y", 'f', 0, NULL, 'O' } },
      "A|B", "oo" },
    { "both weak alerts of a node follow its pod's alert", NULL,
      { { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' },
        { 6, "alertname=M,node=n9", 'r', 6, NULL, 'J' },
        { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 10, NULL, 'O' } },
      "A|M N P", "oo" },
    { "with one hop a pod's node still takes its weak alert along", "topology_hops: 1\n",
      { { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' },
        { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 10, NULL, 'O' } },
      "A|N P", "oo" },
    /* the window holds for a guess too: N was last active 700 s before */
    { "a weak member older than the window stays", NULL,
      { { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' },
        { 705, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 705, NULL, 'O' } },
      "A N|P", "oo" },
    { "a weak member guessed right stays", NULL,
      { { 0, "alertname=A,service=far4", 'f', 0, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' },
        { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 10, NULL, 'J' } },
      "A N P", "o" },
    /* n9 joined A's incident on a guess; C's pod runs on n9, so the guess
     * is replaced: B goes where C goes, and C is not pulled into A's */
    { "a weak member does not bridge later alerts: it follows them", NULL,
      { { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 10, "alertname=B,node=n9", 'f', 0, NULL, 'J' },
        { 20, "alertname=C,pod=far4-0,service=far4,node=n9", 'f', 0, NULL, 'O' } },
      "A|B C", "oo" },
    { "a weak member never merges", NULL,
      { { 0, "alertname=A,service=far1", 'f', 0, "g1", 'O' },
        { 10, "alertname=B,service=far4", 'f', 0, "g1", 'O' },
        { 20, "alertname=C,service=far4", 'f', 0, "g1", 'J' },
        { 30, "alertname=D,node=n9", 'f', 0, "g1", 'J' } },
      "A|B C D", "oo" },
    { "a resolved alert joins and holds the close", NULL,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 60, "alertname=A,service=cart", 'r', 0, NULL, 'U' },
        { 200, "alertname=B,service=cart", 'r', 100, NULL, 'J' },
        TICK(400) },
      "A B", "o" },
};

struct fixture {
    struct topology *t;
    struct rules *r;
    struct correlate *c;
};

static void fixture_init(struct fixture *f, const char *rules_yaml)
{
    struct qerr err;

    memset(f, 0, sizeof *f);
    if (topology_load_buf(&f->t, graph, strlen(graph), "g.yaml", NULL, &err) != 0)
        fail_msg("graph: %s", err.msg);
    if (rules_yaml != NULL) {
        if (rules_load_buf(&f->r, rules_yaml, strlen(rules_yaml), "c.yaml", &err) != 0)
            fail_msg("rules: %s", err.msg);
    } else {
        assert_int_equal(rules_new_default(&f->r), 0);
    }
    assert_int_equal(correlate_new(&f->c, f->t, f->r), 0);
}

static void fixture_cleanup(struct fixture *f)
{
    correlate_free(f->c);
    rules_free(f->r);
    topology_free(f->t);
}

/* A fixture on rules R it does not own (compiling the default rules is
 * most of a fixture's cost under the sanitizers); fixture_cleanup_shared. */
static void fixture_init_shared(struct fixture *f, struct rules *r)
{
    struct qerr err;

    memset(f, 0, sizeof *f);
    if (topology_load_buf(&f->t, graph, strlen(graph), "g.yaml", NULL, &err) != 0)
        fail_msg("graph: %s", err.msg);
    f->r = r;
    assert_int_equal(correlate_new(&f->c, f->t, f->r), 0);
}

static void fixture_cleanup_shared(struct fixture *f)
{
    f->r = NULL;
    fixture_cleanup(f);
}

/* An alert from "k=v,..." with strings in P; caller alert_cleanup()s. */
static struct alert make_alert(struct intern *p, const char *spec, char status,
                               int starts)
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
    a.starts_at = (int64_t)starts * 1000;
    a.ends_at = status == 'r' ? a.starts_at + 1000 : ALERT_NO_END;
    a.status = status == 'r' ? ALERT_RESOLVED : ALERT_FIRING;
    a.generator_url = "";
    return a;
}

static int ingest(struct fixture *f, const char *labels, char status, int starts,
                  const char *group, int at)
{
    struct alert a = make_alert(correlate_pool(f->c), labels, status, starts);
    struct qerr err;
    int rc = correlate_ingest(f->c, &a, group, (int64_t)at * 1000, &err);
    alert_cleanup(&a);
    if (rc < 0)
        fail_msg("ingest %s: %s", labels, err.msg);
    return rc;
}

struct live {
    int64_t opened_at;
    const char *id;
    uint32_t slot;
};

static int cmp_live(const void *x, const void *y)
{
    const struct live *a = x, *b = y;
    if (a->opened_at != b->opened_at)
        return a->opened_at < b->opened_at ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* "A B|C" and "oc" for the live incidents of C. */
static void render(const struct correlate *c, char *out, size_t cap,
                   char *states, size_t scap)
{
    struct live l[64];
    size_t n = 0, len = 0, sl = 0;

    for (uint32_t s = 0; s < correlate_incident_slots(c); s++) {
        struct correlate_incident ci;
        if (correlate_incident(c, s, &ci) == 0 && ci.state != CORRELATE_MERGED)
            l[n++] = (struct live){ ci.opened_at, ci.id, s };
    }
    qsort(l, n, sizeof *l, cmp_live);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        struct correlate_incident ci;
        const char *names[64];
        assert_int_equal(correlate_incident(c, l[i].slot, &ci), 0);
        for (size_t k = 0; k < ci.nalerts; k++) {
            struct correlate_alert ca;
            assert_int_equal(correlate_alert(c, ci.alerts[k], &ca), 0);
            assert_int_equal(ca.incident, l[i].slot);
            names[k] = alert_label(ca.alert, "alertname");
        }
        qsort(names, ci.nalerts, sizeof *names, cmp_str);
        for (size_t k = 0; k < ci.nalerts; k++)
            len += (size_t)snprintf(out + len, cap - len, "%s%s",
                                    k ? " " : (i ? "|" : ""), names[k]);
        if (sl + 1 < scap)
            states[sl++] = ci.state == CORRELATE_OPEN ? 'o' : 'c';
    }
    states[sl] = '\0';
}

static char outcome_char(int rc)
{
    switch (rc) {
    case CORRELATE_OPENED: return 'O';
    case CORRELATE_JOINED: return 'J';
    case CORRELATE_MERGED_INTO: return 'M';
    case CORRELATE_UPDATED: return 'U';
    default: return 'I';
    }
}

static void run_case(const struct gcase *gc, struct fixture *f)
{
    char got[512], states[64];

    for (size_t i = 0; i < sizeof gc->steps / sizeof gc->steps[0]; i++) {
        const struct step *s = &gc->steps[i];
        if (s->labels == NULL && s->at == 0)
            break;
        if (s->labels == NULL) {
            correlate_tick(f->c, (int64_t)s->at * 1000);
            continue;
        }
        char oc = outcome_char(ingest(f, s->labels, s->status, s->starts,
                                      s->group, s->at));
        if (oc != s->want)
            fail_msg("%s: step %zu (%s): outcome %c, want %c", gc->name, i,
                     s->labels, oc, s->want);
    }
    render(f->c, got, sizeof got, states, sizeof states);
    if (strcmp(got, gc->want) != 0 || strcmp(states, gc->states) != 0)
        fail_msg("%s: got '%s' [%s], want '%s' [%s]", gc->name, got, states,
                 gc->want, gc->states);
}

static void test_grouping_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fixture f;
        fixture_init(&f, cases[i].rules);
        run_case(&cases[i], &f);
        fixture_cleanup(&f);
    }
}

static void test_merge_keeps_older_id(void **state)
{
    (void)state;
    struct fixture f;
    struct correlate_incident ci;
    char first[CORRELATE_ID_SIZE];
    int64_t slot;

    fixture_init(&f, "topology_hops: 1\n");
    ingest(&f, "alertname=A,service=frontend", 'f', 0, NULL, 0);
    assert_int_equal(correlate_incident(f.c, 0, &ci), 0);
    memcpy(first, ci.id, sizeof first);
    ingest(&f, "alertname=B,service=payment", 'f', 0, NULL, 10);
    assert_int_equal(ingest(&f, "alertname=C,service=checkout", 'f', 0, NULL, 20),
                     CORRELATE_MERGED_INTO);
    const struct correlate_delta *d = correlate_delta(f.c);
    assert_int_equal(d->nmerged, 1);
    assert_int_equal(d->merged[0], 1);
    assert_int_equal(d->nupdated, 1);
    assert_int_equal(d->updated[0], 0);
    assert_int_equal(correlate_incident(f.c, 0, &ci), 0);
    assert_string_equal(ci.id, first);
    assert_int_equal(ci.opened_at, 0);
    assert_int_equal(ci.nalerts, 3);
    assert_int_equal(ci.nfiring, 3);
    assert_int_equal(ci.nentities, 3);
    assert_int_equal(correlate_incident(f.c, 1, &ci), 0);
    assert_int_equal(ci.state, CORRELATE_MERGED);
    assert_int_equal(ci.merged_into, 0);
    slot = correlate_find(f.c, first);
    assert_int_equal(slot, 0);
    assert_int_equal(correlate_find(f.c, "inc-zz"), -1);
    fixture_cleanup(&f);
}

static void test_close_time_and_deadline(void **state)
{
    (void)state;
    struct fixture f;
    struct correlate_incident ci;

    fixture_init(&f, NULL);
    ingest(&f, "alertname=A,service=cart", 'f', 0, NULL, 0);
    assert_int_equal(correlate_next_deadline(f.c), CORRELATE_NO_TIME);
    ingest(&f, "alertname=A,service=cart", 'r', 0, NULL, 60);
    assert_int_equal(correlate_next_deadline(f.c), 360000);
    /* A late tick still closes at the deadline, not at the tick. */
    assert_int_equal(correlate_tick(f.c, 5000000), 1);
    assert_int_equal(correlate_incident(f.c, 0, &ci), 0);
    assert_int_equal(ci.state, CORRELATE_CLOSED);
    assert_int_equal(ci.closed_at, 360000);
    assert_int_equal(correlate_delta(f.c)->nclosed, 1);
    /* The clock does not go back: an old `now` acts as the latest. */
    assert_int_equal(correlate_tick(f.c, 0), 0);
    fixture_cleanup(&f);
}

static void test_flapping(void **state)
{
    (void)state;
    struct fixture f;
    struct correlate_alert ca;
    int64_t m;

    fixture_init(&f, NULL);
    ingest(&f, "alertname=A,service=cart", 'f', 0, NULL, 0);
    for (int k = 1; k <= 4; k++) {
        ingest(&f, "alertname=A,service=cart", 'r', (k - 1) * 120, NULL, (k - 1) * 120 + 60);
        assert_int_equal(ingest(&f, "alertname=A,service=cart", 'f', k * 120, NULL, k * 120),
                         CORRELATE_UPDATED);
        m = correlate_alert_find(f.c, correlate_incident_slots(f.c) ? 0 : 0);
        (void)m;
    }
    struct alert a = make_alert(correlate_pool(f.c), "alertname=A,service=cart", 'f', 0);
    m = correlate_alert_find(f.c, a.fingerprint);
    alert_cleanup(&a);
    assert_true(m >= 0);
    assert_int_equal(correlate_alert(f.c, (uint32_t)m, &ca), 0);
    assert_int_equal(ca.refires, 4);
    assert_int_equal(ca.flapping, 1);
    assert_int_equal(ca.alert->starts_at, 480000);
    fixture_cleanup(&f);

    /* Four refires spread over more than `within`: not flapping. */
    fixture_init(&f, "flap: {count: 4, within: 5m}\n");
    ingest(&f, "alertname=A,service=cart", 'f', 0, NULL, 0);
    for (int k = 1; k <= 4; k++) {
        ingest(&f, "alertname=A,service=cart", 'r', (k - 1) * 120, NULL, (k - 1) * 120 + 60);
        ingest(&f, "alertname=A,service=cart", 'f', k * 120, NULL, k * 120);
    }
    a = make_alert(correlate_pool(f.c), "alertname=A,service=cart", 'f', 0);
    m = correlate_alert_find(f.c, a.fingerprint);
    alert_cleanup(&a);
    assert_int_equal(correlate_alert(f.c, (uint32_t)m, &ca), 0);
    assert_int_equal(ca.refires, 4);
    assert_int_equal(ca.flapping, 0);   /* 4 refires took 360 s > 300 s */
    fixture_cleanup(&f);

    /* Flap history survives its incident closing. */
    fixture_init(&f, "flap: {count: 2, within: 1h}\n");
    for (int k = 0; k < 3; k++) {
        ingest(&f, "alertname=A,service=cart", 'f', k * 1000, NULL, k * 1000);
        ingest(&f, "alertname=A,service=cart", 'r', k * 1000, NULL, k * 1000 + 10);
        correlate_tick(f.c, (int64_t)(k * 1000 + 900) * 1000);
    }
    a = make_alert(correlate_pool(f.c), "alertname=A,service=cart", 'f', 0);
    m = correlate_alert_find(f.c, a.fingerprint);
    alert_cleanup(&a);
    assert_int_equal(correlate_alert(f.c, (uint32_t)m, &ca), 0);
    assert_int_equal(ca.refires, 2);
    assert_int_equal(ca.flapping, 1);
    fixture_cleanup(&f);
}

/* Feed a fixed sequence; used for determinism and persistence. */
static void feed_sequence(struct fixture *f)
{
    ingest(f, "alertname=A,service=frontend,namespace=shop", 'f', 0, NULL, 0);
    ingest(f, "alertname=B,pod=cart-0,service=cart,node=n1,namespace=shop", 'f', 5, "g", 10);
    ingest(f, "alertname=C,service=far1,namespace=shop", 'f', 7, NULL, 20);
    ingest(f, "alertname=C,service=far1,namespace=shop", 'r', 7, NULL, 30);
    ingest(f, "alertname=D,service=cart,namespace=other", 'f', 9, NULL, 40);
    ingest(f, "alertname=E,namespace=shop", 'f', 9, "g", 50);
}

static void test_ids_deterministic(void **state)
{
    (void)state;
    struct fixture a, b;
    char ra[512], rb[512], sa[16], sb[16];

    fixture_init(&a, NULL);
    fixture_init(&b, NULL);
    feed_sequence(&a);
    feed_sequence(&b);
    render(a.c, ra, sizeof ra, sa, sizeof sa);
    render(b.c, rb, sizeof rb, sb, sizeof sb);
    /* cart-0 counts as cart, 2 hops from frontend */
    assert_string_equal(ra, "A B E|C|D");
    assert_string_equal(ra, rb);
    for (uint32_t s = 0; s < correlate_incident_slots(a.c); s++) {
        struct correlate_incident x, y;
        assert_int_equal(correlate_incident(a.c, s, &x), 0);
        assert_int_equal(correlate_incident(b.c, s, &y), 0);
        assert_string_equal(x.id, y.id);
        assert_int_equal(strlen(x.id), 20);
        assert_memory_equal(x.id, "inc-", 4);
    }
    /* Different scope values give different ids for the same first alert. */
    struct correlate_incident x, y;
    assert_int_equal(correlate_incident(a.c, 0, &x), 0);
    assert_int_equal(correlate_incident(a.c, 2, &y), 0);
    assert_string_not_equal(x.id, y.id);
    fixture_cleanup(&a);
    fixture_cleanup(&b);
}

/* Ingest records when an alert named its pod, service and node (from its
 * startsAt to its arrival); a repeat that changes nothing still says the
 * pod is there; a restore records them again. rank counts pods by it. */
static void test_marks_entities_seen(void **state)
{
    (void)state;
    struct fixture f, g;
    struct topology_span sp;
    json_t *dump = NULL;
    struct qerr err;
    int32_t pod, svc, node;

    fixture_init(&f, NULL);
    ingest(&f, "alertname=CpuHigh,service=cart,pod=cart-0,node=n1", 'f', 100, "g", 130);
    pod = topology_find(f.t, ENTITY_POD, "cart-0");
    svc = topology_find(f.t, ENTITY_SERVICE, "cart");
    node = topology_find(f.t, ENTITY_NODE, "n1");
    assert_true(pod >= 0 && svc >= 0 && node >= 0);
    sp = topology_seen_span(f.t, (uint32_t)pod);
    assert_true(sp.first == 100000 && sp.last == 130000);
    sp = topology_seen_span(f.t, (uint32_t)node);
    assert_true(sp.first == 100000 && sp.last == 130000);
    /* the same notification again, an hour later */
    assert_int_equal(ingest(&f, "alertname=CpuHigh,service=cart,pod=cart-0,node=n1",
                            'f', 100, "g", 3730), CORRELATE_IGNORED);
    sp = topology_seen_span(f.t, (uint32_t)pod);
    assert_true(sp.first == 100000 && sp.last == 3730000);

    assert_int_equal(correlate_dump(f.c, &dump), 0);
    fixture_init(&g, NULL);
    if (correlate_restore(g.c, dump, &err) != 0)
        fail_msg("restore: %s", err.msg);
    sp = topology_seen_span(g.t, (uint32_t)topology_find(g.t, ENTITY_POD, "cart-0"));
    assert_true(sp.first == 100000 && sp.last >= 130000);
    json_decref(dump);
    fixture_cleanup(&g);
    fixture_cleanup(&f);
}

/* An incident a node alert opened and a pod's alert moved to the pod's
 * namespace (rescope) is stored with that namespace: after a restore, a
 * pod of another namespace on the node still opens its own incident and
 * the node's next alert still joins the first. */
static void test_rescoped_incident_restores(void **state)
{
    (void)state;
    struct fixture a, b;
    json_t *da = NULL;
    struct qerr err;
    char ra[512], rb[512], sa[16], sb[16];

    fixture_init(&a, NULL);
    assert_int_equal(ingest(&a, "alertname=N,node=n1", 'f', 0, NULL, 0), CORRELATE_OPENED);
    assert_int_equal(ingest(&a, "alertname=P,pod=cart-0,service=cart,node=n1,namespace=shop",
                            'f', 5, NULL, 10), CORRELATE_JOINED);
    assert_int_equal(correlate_dump(a.c, &da), 0);
    json_t *inc0 = json_array_get(json_object_get(da, "incidents"), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(inc0, "scope"), 1)),
                        "shop");
    fixture_init(&b, NULL);
    if (correlate_restore(b.c, da, &err) != 0)
        fail_msg("restore: %s: %s", err.source, err.msg);
    const char *more[] = { "alertname=Q,pod=pay-0,service=payment,node=n1,namespace=billing",
                           "alertname=R,node=n1" };
    const int want[] = { CORRELATE_OPENED, CORRELATE_JOINED };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ingest(&a, more[i], 'f', 15 + 10 * i, NULL, 20 + 10 * i), want[i]);
        assert_int_equal(ingest(&b, more[i], 'f', 15 + 10 * i, NULL, 20 + 10 * i), want[i]);
    }
    render(a.c, ra, sizeof ra, sa, sizeof sa);
    render(b.c, rb, sizeof rb, sb, sizeof sb);
    assert_string_equal(ra, "N P R|Q");
    assert_string_equal(ra, rb);
    assert_string_equal(sa, sb);
    json_decref(da);
    fixture_cleanup(&a);
    fixture_cleanup(&b);
}

/* A weak member (a node no known pod runs on, joined by time and scope
 * alone) stays weak through a dump and restore: once the graph learns a
 * pod on that node, the pod's alert does not join through the guess, live
 * or restored (found by review: restore indexed every member's entity). */
static void test_weak_member_restores_weak(void **state)
{
    (void)state;
    struct fixture a, b;
    json_t *da = NULL;
    struct qerr err;

    fixture_init(&a, NULL);
    assert_int_equal(ingest(&a, "alertname=A,service=far1", 'f', 0, NULL, 0), CORRELATE_OPENED);
    assert_int_equal(ingest(&a, "alertname=N,node=n7", 'f', 5, NULL, 5), CORRELATE_JOINED);
    assert_int_equal(correlate_dump(a.c, &da), 0);
    fixture_init(&b, NULL);
    if (correlate_restore(b.c, da, &err) != 0)
        fail_msg("restore: %s: %s", err.source, err.msg);
    const char *pod = "alertname=P,pod=x-0,service=far4,node=n7";
    assert_int_equal(ingest(&a, pod, 'f', 10, NULL, 10), CORRELATE_OPENED);
    assert_int_equal(ingest(&b, pod, 'f', 10, NULL, 10), CORRELATE_OPENED);
    json_decref(da);
    fixture_cleanup(&a);
    fixture_cleanup(&b);
}

static void test_dump_restore(void **state)
{
    (void)state;
    struct fixture a, b;
    json_t *da = NULL, *db = NULL;
    struct qerr err;
    char ra[512], rb[512], sa[16], sb[16];

    fixture_init(&a, NULL);
    feed_sequence(&a);
    assert_int_equal(correlate_dump(a.c, &da), 0);
    /* Through text, as it would go through Redis. */
    char *text = json_dumps(da, JSON_COMPACT);
    json_t *parsed = json_loads(text, 0, NULL);
    assert_non_null(parsed);

    fixture_init(&b, NULL);
    if (correlate_restore(b.c, parsed, &err) != 0)
        fail_msg("restore: %s: %s", err.source, err.msg);
    assert_int_equal(correlate_dump(b.c, &db), 0);
    assert_true(json_equal(da, db));
    render(a.c, ra, sizeof ra, sa, sizeof sa);
    render(b.c, rb, sizeof rb, sb, sizeof sb);
    assert_string_equal(ra, rb);
    assert_string_equal(sa, sb);

    /* Both go on identically: a join by topology, a join by group, a
     * close of the resolved-only incident. */
    const char *more[] = { "alertname=F,service=checkout,namespace=shop",
                           "alertname=G,namespace=shop" };
    const char *groups[] = { NULL, "g" };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ingest(&a, more[i], 'f', 60, groups[i], 60),
                         ingest(&b, more[i], 'f', 60, groups[i], 60));
    }
    correlate_tick(a.c, 1000000);
    correlate_tick(b.c, 1000000);
    render(a.c, ra, sizeof ra, sa, sizeof sa);
    render(b.c, rb, sizeof rb, sb, sizeof sb);
    assert_string_equal(ra, "A B E F G|C|D");
    assert_string_equal(ra, rb);
    assert_string_equal(sa, "oco");
    assert_string_equal(sa, sb);
    /* A duplicate of a restored alert is still a duplicate. */
    assert_int_equal(ingest(&b, "alertname=A,service=frontend,namespace=shop", 'f', 0,
                            NULL, 70), CORRELATE_IGNORED);

    /* Malformed state is refused with a path. */
    json_t *bad = json_pack("{s:i, s:[{s:s}]}", "version", 1, "incidents", "id", "x");
    struct fixture c;
    fixture_init(&c, NULL);
    assert_int_equal(correlate_restore(c.c, bad, &err), -1);
    assert_non_null(strstr(err.source, "$.incidents[0]"));
    json_decref(bad);
    fixture_cleanup(&c);

    free(text);
    json_decref(parsed);
    json_decref(da);
    json_decref(db);
    fixture_cleanup(&a);
    fixture_cleanup(&b);
}

/* The change log names every alert whose record changes or that moves (a
 * merge), and only those; header + alert records in position order make
 * correlate_incident_dump. */
static int logged(const struct correlate *c, uint32_t m)
{
    size_t n;
    int lost;
    const uint32_t *v = correlate_changes(c, &n, &lost);

    assert_int_equal(lost, 0);
    for (size_t i = 0; i < n; i++)
        if (v[i] == m)
            return 1;
    return 0;
}

static int64_t slot_of(struct fixture *f, const char *spec)
{
    struct alert a = make_alert(correlate_pool(f->c), spec, 'f', 0);
    int64_t m = correlate_alert_find(f->c, a.fingerprint);

    alert_cleanup(&a);
    return m;
}

/* The view of the incident holding the alert of SPEC. */
static struct correlate_incident incident_holding(struct fixture *f, const char *spec)
{
    int64_t m = slot_of(f, spec);
    struct correlate_alert ca;
    struct correlate_incident ci;

    assert_true(m >= 0);
    assert_int_equal(correlate_alert(f->c, (uint32_t)m, &ca), 0);
    assert_int_equal(correlate_incident(f->c, ca.incident, &ci), 0);
    return ci;
}

/* opened_at of the incident holding the alert of SPEC. */
static int64_t opened_of(struct fixture *f, const char *spec)
{
    return incident_holding(f, spec).opened_at;
}

static void test_change_log_and_parts(void **state)
{
    (void)state;
    struct fixture f;
    struct correlate_incident ci;
    struct correlate_alert ca;
    json_t *whole, *parts, *arr;
    int64_t ma, mb, mc;
    size_t n;
    int lost;

    fixture_init(&f, "topology_hops: 1\n");
    ingest(&f, "alertname=A,service=frontend", 'f', 0, NULL, 0);
    (void)correlate_changes(f.c, &n, &lost);
    assert_int_equal(n, 0);                 /* off by default */
    correlate_track_changes(f.c, 1);
    ingest(&f, "alertname=B,service=payment", 'f', 0, NULL, 10);
    ma = slot_of(&f, "alertname=A,service=frontend");
    mb = slot_of(&f, "alertname=B,service=payment");
    assert_true(ma >= 0 && mb >= 0);
    assert_true(logged(f.c, (uint32_t)mb));
    assert_false(logged(f.c, (uint32_t)ma));
    correlate_changes_clear(f.c);

    /* C links A's and B's incidents: B moves (logged), A does not. */
    assert_int_equal(ingest(&f, "alertname=C,service=checkout", 'f', 0, NULL, 20),
                     CORRELATE_MERGED_INTO);
    mc = slot_of(&f, "alertname=C,service=checkout");
    assert_true(logged(f.c, (uint32_t)mb) && logged(f.c, (uint32_t)mc));
    assert_false(logged(f.c, (uint32_t)ma));
    assert_int_equal(correlate_alert(f.c, (uint32_t)ma, &ca), 0);
    assert_int_equal(ca.position, 0);
    assert_int_equal(correlate_alert(f.c, (uint32_t)mb, &ca), 0);
    assert_int_equal(ca.position, 1);
    assert_int_equal(correlate_alert(f.c, (uint32_t)mc, &ca), 0);
    assert_int_equal(ca.position, 2);
    correlate_changes_clear(f.c);

    /* A resolve changes A's record: logged. A duplicate changes nothing. */
    ingest(&f, "alertname=A,service=frontend", 'r', 0, NULL, 30);
    assert_true(logged(f.c, (uint32_t)ma));
    correlate_changes_clear(f.c);
    assert_int_equal(ingest(&f, "alertname=A,service=frontend", 'r', 0, NULL, 31),
                     CORRELATE_IGNORED);
    (void)correlate_changes(f.c, &n, &lost);
    assert_int_equal(n, 0);

    /* The parts make the whole. */
    assert_int_equal(correlate_incident(f.c, (uint32_t)ca.incident, &ci), 0);
    whole = correlate_incident_dump(f.c, ca.incident);
    parts = correlate_incident_dump_header(f.c, ca.incident);
    assert_non_null(whole);
    assert_non_null(parts);
    assert_null(json_object_get(parts, "alerts"));
    arr = json_array();
    for (size_t i = 0; i < ci.nalerts; i++)
        assert_int_equal(json_array_append_new(arr, correlate_alert_dump(f.c, ci.alerts[i])), 0);
    assert_int_equal(json_object_set_new(parts, "alerts", arr), 0);
    assert_true(json_equal(whole, parts));
    assert_null(correlate_incident_dump_header(f.c, 1));   /* merged away */
    json_decref(whole);
    json_decref(parts);
    fixture_cleanup(&f);
}

static void test_prune(void **state)
{
    (void)state;
    struct fixture f;
    struct correlate_incident ci;
    char id[CORRELATE_ID_SIZE];

    fixture_init(&f, NULL);
    ingest(&f, "alertname=A,service=cart", 'f', 0, NULL, 0);
    ingest(&f, "alertname=A,service=cart", 'r', 0, NULL, 10);
    ingest(&f, "alertname=B,service=far1", 'f', 0, NULL, 20);
    correlate_tick(f.c, 400000);
    assert_int_equal(correlate_incident(f.c, 0, &ci), 0);
    memcpy(id, ci.id, sizeof id);
    assert_int_equal(correlate_alert_count(f.c), 2);
    assert_int_equal(correlate_prune(f.c, 310000), 0);   /* closed at 310000 */
    assert_int_equal(correlate_prune(f.c, 310001), 1);
    assert_int_equal(correlate_alert_count(f.c), 1);
    assert_int_equal(correlate_incident(f.c, 0, &ci), -1);
    assert_int_equal(correlate_find(f.c, id), -1);
    /* The fingerprint is forgotten: the same alert opens afresh, with the
     * same content-derived id, in the reused slot. */
    assert_int_equal(ingest(&f, "alertname=A,service=cart", 'f', 0, NULL, 500),
                     CORRELATE_OPENED);
    assert_int_equal(correlate_incident(f.c, 0, &ci), 0);
    assert_string_equal(ci.id, id);
    assert_true(correlate_bytes(f.c) > 0);
    fixture_cleanup(&f);
}

/* Every scope ever seen stays known (incidents keep its id), and a
 * cluster that churns namespaces sees thousands. An alert lacking the
 * namespace (a node's, a span metric's) used to look in all of them:
 * 35 us per alert with 3,000 closed ones. It looks only where an
 * incident is open, and still finds it. */
static void test_lacking_scope_skips_closed_scopes(void **state)
{
    (void)state;
    struct fixture f;
    char spec[128];
    struct qerr err;

    fixture_init(&f, NULL);
    for (int k = 0; k < 1000; k++) {
        snprintf(spec, sizeof spec, "alertname=A,service=cart,namespace=ns%d", k);
        ingest(&f, spec, 'f', k, NULL, k);
        ingest(&f, spec, 'r', k, NULL, k);
    }
    correlate_tick(f.c, 2000 * 1000);       /* all closed */
    assert_int_equal(ingest(&f, "alertname=P,pod=cart-0,service=cart,node=n1,namespace=live",
                            'f', 3000, NULL, 3000), CORRELATE_OPENED);
    memset(&err, 0, sizeof err);
    if (correlate_check(f.c, &err) != 0)
        fail_msg("%s", err.msg);
    uint64_t before, visits, lookups;
    correlate_cross_work(f.c, &before, &lookups);
    /* a node of a known pod, a node no pod is known on, a service alert
     * lacking the namespace: each joins the one open incident */
    assert_int_equal(ingest(&f, "alertname=N,node=n1", 'f', 3001, NULL, 3001),
                     CORRELATE_JOINED);
    assert_int_equal(ingest(&f, "alertname=N,node=n7", 'f', 3002, NULL, 3002),
                     CORRELATE_JOINED);
    assert_int_equal(ingest(&f, "alertname=T,service=cart", 'f', 3003, NULL, 3003),
                     CORRELATE_JOINED);
    correlate_cross_work(f.c, &visits, &lookups);
    visits -= before;
    if (visits > 6)
        fail_msg("%llu scopes looked in for 3 alerts, 1 scope open",
                 (unsigned long long)visits);
    correlate_tick(f.c, 5000 * 1000);
    if (correlate_check(f.c, &err) != 0)
        fail_msg("%s", err.msg);
    fixture_cleanup(&f);
}

/* Ingest SPEC (firing, at AT s) as a join; the cross-scope work it made:
 * look-ups and incidents read into *lookups, scopes looked at returned. */
static uint64_t join_work(struct fixture *f, const char *spec, int at, uint64_t *lookups)
{
    uint64_t sc0, lk0, sc1, lk1;

    correlate_cross_work(f->c, &sc0, &lk0);
    assert_int_equal(ingest(f, spec, 'f', at, NULL, at), CORRELATE_JOINED);
    correlate_cross_work(f->c, &sc1, &lk1);
    *lookups = lk1 - lk0;
    return sc1 - sc0;
}

/* A node hosts pods of many namespaces, and its alert (no namespace)
 * looks for their incidents in each. Asked scope by scope that was
 * (open namespaces) x (its neighbourhood, the pods included) look-ups:
 * 2 ms per node alert with 400 namespaces open. Under `across` it is one
 * look-up per neighbour, and the answer is the same: the oldest. */
static void test_node_across_many_namespaces(void **state)
{
    (void)state;
    struct fixture f;
    char spec[160];
    uint64_t look;

    fixture_init(&f, NULL);
    for (int k = 0; k < 200; k++) {
        snprintf(spec, sizeof spec,
                 "alertname=A,pod=cart-%d,service=cart,node=n1,namespace=ns%d", k, k);
        assert_int_equal(ingest(&f, spec, 'f', k, NULL, k), CORRELATE_OPENED);
    }
    assert_true(join_work(&f, "alertname=N,node=n1", 300, &look) <= 200);
    /* 200 pods and the service around n1: ~400 look-ups across, ~80,000
     * scope by scope */
    if (look > 2000)
        fail_msg("%llu index look-ups for one node alert, 200 namespaces open",
                 (unsigned long long)look);
    /* it joined the oldest, ns0's */
    assert_int_equal(opened_of(&f, "alertname=N,node=n1"), 0);
    struct qerr err;
    memset(&err, 0, sizeof err);
    if (correlate_check(f.c, &err) != 0)
        fail_msg("%s", err.msg);
    fixture_cleanup(&f);
}

/* A pod's service learnt after the pod was indexed (its first alert named
 * no service): its open incidents get the pmap entries then, under their
 * scope and across scopes, and keep them when they move namespace. Found
 * by review: the moved incident's pmap entry had no `across` twin, and a
 * later cart alert lacking the namespace, looking across, found only the
 * other namespace's incident. correlate_check after every step. */
static void test_pod_service_learnt_late(void **state)
{
    (void)state;
    static const struct { const char *labels; int at; int want; } st[] = {
        {"alertname=A,pod=lonely-0,node=n5", 0, CORRELATE_OPENED},
        {"alertname=X,pod=lonely-0,service=cart,namespace=zzz", 10, CORRELATE_JOINED},
        {"alertname=Y,node=n5,cluster=c1,namespace=shop", 20, CORRELATE_OPENED},
        {"alertname=Z,pod=cart-0,service=cart,cluster=c1,namespace=shop", 25,
         CORRELATE_OPENED},
        /* cart alerts in zzz and in shop: which is not guessed */
        {"alertname=T,service=cart", 30, CORRELATE_OPENED},
    };
    struct fixture f;
    struct qerr err;

    fixture_init(&f, NULL);
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        int rc = ingest(&f, st[i].labels, 'f', st[i].at, NULL, st[i].at);
        if (rc != st[i].want)
            fail_msg("step %zu (%s): outcome %d, want %d", i, st[i].labels, rc, st[i].want);
        memset(&err, 0, sizeof err);
        if (correlate_check(f.c, &err) != 0)
            fail_msg("step %zu (%s): %s", i, st[i].labels, err.msg);
    }
    fixture_cleanup(&f);
}

/* Random sequences of pod, service and node alerts, with and without
 * namespace and cluster, some resolved, some by group, with ticks:
 * correlate_check after every step (a review's test; it found the
 * `across` index out of step after a namespace move, 2,075 times in 1,500
 * sequences). Deterministic: a fixed LCG per seed. */
static uint64_t lcg_state;

static uint32_t lcg(uint32_t n)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((lcg_state >> 33) % n);
}

static void test_random_sequences_stay_consistent(void **state)
{
    (void)state;
    static const char *svcs[] = { "frontend", "checkout", "payment", "cart", "redis",
                                  "far1", "far2", "far3", "far4", "ghost" };
    for (int seed = 1; seed <= 300; seed++) {
        struct fixture f;
        char spec[256];
        int t = 0, nsteps, nns;

        lcg_state = (uint64_t)seed * 0x9e3779b97f4a7c15ull;
        fixture_init(&f, NULL);
        nsteps = 30 + (int)lcg(80);
        nns = 1 + (int)lcg(8);
        for (int step = 0; step < nsteps; step++) {
            struct qerr err;
            int n, starts;
            t += (int)lcg(40);
            if (lcg(12) == 0)
                correlate_tick(f.c, (int64_t)t * 1000);
            n = snprintf(spec, sizeof spec, "alertname=A%u", lcg(4));
            switch (lcg(3)) {
            case 0: {
                uint32_t sv = lcg(10);
                n += snprintf(spec + n, sizeof spec - (size_t)n, ",pod=%s-%u",
                              lcg(4) ? svcs[sv] : "lonely", lcg(3));
                if (lcg(2))
                    n += snprintf(spec + n, sizeof spec - (size_t)n, ",service=%s", svcs[sv]);
                if (lcg(2))
                    n += snprintf(spec + n, sizeof spec - (size_t)n, ",node=n%u", lcg(4));
                break;
            }
            case 1:
                n += snprintf(spec + n, sizeof spec - (size_t)n, ",service=%s", svcs[lcg(10)]);
                break;
            default:
                n += snprintf(spec + n, sizeof spec - (size_t)n, ",node=n%u", lcg(6));
            }
            if (lcg(3))
                n += snprintf(spec + n, sizeof spec - (size_t)n, ",namespace=ns%u",
                              lcg((uint32_t)nns));
            if (lcg(4) == 0)
                snprintf(spec + n, sizeof spec - (size_t)n, ",cluster=c%u", lcg(2));
            char status = lcg(4) == 0 ? 'r' : 'f';
            const char *grp = lcg(4) == 0 ? (lcg(2) ? "g1" : "g2") : NULL;
            starts = t - (int)lcg(20);
            struct alert a = make_alert(correlate_pool(f.c), spec, status,
                                        starts < 0 ? 0 : starts);
            int rc = correlate_ingest(f.c, &a, grp, (int64_t)t * 1000, &err);
            alert_cleanup(&a);
            if (rc < 0)
                fail_msg("seed %d step %d (%s): %s", seed, step, spec, err.msg);
            memset(&err, 0, sizeof err);
            if (correlate_check(f.c, &err) != 0)
                fail_msg("seed %d step %d (%s): %s", seed, step, spec, err.msg);
        }
        fixture_cleanup(&f);
    }
}

/* Random sequences as above, but dumped and restored into a second
 * correlator at a random step; both take the rest, correlate_check after
 * every step, and must end with the same dump: a restart changes
 * nothing that follows (a review's test; it found two ways weak members
 * moved differently after a restore, and a closed incident restored
 * after an open one that taught the graph a pod's service without
 * repairing the open one's index). A pod keeps its service here (its
 * name carries it; "lonely" pods never name one): when alerts disagree
 * on a pod's service, the graph learns it in the order a restore reads
 * the alerts, which need not be the order they came in. */
static int cmp_cstr(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Each incident's entities by name, sorted, one line per incident, lines
 * sorted: what a reader sees of them, whatever the entity ids. */
static char *entities_text(struct fixture *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    uint32_t n = correlate_incident_slots(f->c), nl = 0;
    char **lines = calloc(n ? n : 1, sizeof *lines);

    assert_non_null(out);
    assert_non_null(lines);
    for (uint32_t s = 0; s < n; s++) {
        struct correlate_incident ci;
        const char **names;
        size_t ll = 0;
        FILE *o;
        if (correlate_incident(f->c, s, &ci) != 0 || ci.state == CORRELATE_MERGED)
            continue;
        names = calloc(ci.nentities ? ci.nentities : 1, sizeof *names);
        assert_non_null(names);
        for (size_t i = 0; i < ci.nentities; i++)
            names[i] = topology_entity(f->t, ci.entities[i])->name;
        qsort(names, ci.nentities, sizeof *names, cmp_cstr);
        o = open_memstream(&lines[nl], &ll);
        assert_non_null(o);
        fprintf(o, "%s:", ci.id);
        for (size_t i = 0; i < ci.nentities; i++)
            fprintf(o, " %s", names[i]);
        fclose(o);
        free(names);
        nl++;
    }
    qsort(lines, nl, sizeof *lines, cmp_cstr);
    for (uint32_t i = 0; i < nl; i++) {
        fprintf(out, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    fclose(out);
    return buf;
}

/* NULL when A and B hold the same incidents: the same dump and the same
 * entities in each (the dump does not list those); else what differs. */
static const char *alike(struct fixture *a, struct fixture *b)
{
    json_t *da = NULL, *db = NULL;
    char *ta, *tb;
    const char *why = NULL;

    assert_int_equal(correlate_dump(a->c, &da), 0);
    assert_int_equal(correlate_dump(b->c, &db), 0);
    ta = json_dumps(da, JSON_COMPACT | JSON_SORT_KEYS);
    tb = json_dumps(db, JSON_COMPACT | JSON_SORT_KEYS);
    if (strcmp(ta, tb) != 0)
        why = "the dumps differ";
    free(ta);
    free(tb);
    json_decref(da);
    json_decref(db);
    ta = entities_text(a);
    tb = entities_text(b);
    if (why == NULL && strcmp(ta, tb) != 0)
        why = "the entities differ";
    free(ta);
    free(tb);
    return why;
}

static void test_random_restores_agree(void **state)
{
    (void)state;
    static const char *svcs[] = { "frontend", "checkout", "payment", "cart", "redis",
                                  "far1", "far2", "far3", "far4", "ghost" };
    /* QUENCH_SEEDS=N runs more (10,000 passed on 2026-12-08) */
    int seeds = getenv("QUENCH_SEEDS") ? atoi(getenv("QUENCH_SEEDS")) : 1000;
    struct rules *r;

    assert_int_equal(rules_new_default(&r), 0);
    for (int seed = 1; seed <= seeds; seed++) {
        struct fixture f[2];
        char spec[256];
        int t = 0, nsteps, nns, cut, live = 1;

        lcg_state = (uint64_t)seed * 0x9e3779b97f4a7c15ull;
        fixture_init_shared(&f[0], r);
        nsteps = 30 + (int)lcg(80);
        nns = 1 + (int)lcg(3);
        cut = (int)lcg((uint32_t)nsteps);
        for (int step = 0; step < nsteps; step++) {
            int n, tick;
            if (step == cut) {
                json_t *d = NULL;
                struct qerr err;
                assert_int_equal(correlate_dump(f[0].c, &d), 0);
                fixture_init_shared(&f[1], r);
                if (correlate_restore(f[1].c, d, &err) != 0)
                    fail_msg("seed %d: restore: %s", seed, err.msg);
                json_decref(d);
                live = 2;
                memset(&err, 0, sizeof err);
                if (correlate_check(f[1].c, &err) != 0)
                    fail_msg("seed %d: restored at step %d: %s", seed, step, err.msg);
            }
            t += (int)lcg(40);
            tick = lcg(12) == 0;
            n = snprintf(spec, sizeof spec, "alertname=A%u", lcg(4));
            switch (lcg(3)) {
            case 0: {
                uint32_t sv = lcg(10), k = lcg(3);
                int lonely = lcg(4) == 0;
                n += snprintf(spec + n, sizeof spec - (size_t)n, ",pod=%s-%u",
                              lonely ? "lonely" : svcs[sv], k);
                if (lcg(2) && !lonely)
                    n += snprintf(spec + n, sizeof spec - (size_t)n, ",service=%s", svcs[sv]);
                if (lcg(2))
                    n += snprintf(spec + n, sizeof spec - (size_t)n, ",node=n%u", lcg(4));
                break;
            }
            case 1:
                n += snprintf(spec + n, sizeof spec - (size_t)n, ",service=%s", svcs[lcg(10)]);
                break;
            default:
                n += snprintf(spec + n, sizeof spec - (size_t)n, ",node=n%u", lcg(6));
            }
            if (lcg(3))
                snprintf(spec + n, sizeof spec - (size_t)n, ",namespace=ns%u",
                         lcg((uint32_t)nns));
            char status = lcg(4) == 0 ? 'r' : 'f';
            const char *grp = lcg(4) == 0 ? (lcg(2) ? "g1" : "g2") : NULL;
            int starts = t - (int)lcg(20);
            for (int w = 0; w < live; w++) {
                struct alert a = make_alert(correlate_pool(f[w].c), spec, status,
                                            starts < 0 ? 0 : starts);
                struct qerr err;
                int rc;
                if (tick)
                    correlate_tick(f[w].c, (int64_t)t * 1000);
                rc = correlate_ingest(f[w].c, &a, grp, (int64_t)t * 1000, &err);
                alert_cleanup(&a);
                if (rc < 0)
                    fail_msg("seed %d step %d (%s): %s", seed, step, spec, err.msg);
                memset(&err, 0, sizeof err);
                if (correlate_check(f[w].c, &err) != 0)
                    fail_msg("seed %d step %d (%s)%s: %s", seed, step, spec,
                             w ? " restored" : "", err.msg);
            }
        }
        if (live == 2) {
            const char *why = alike(&f[0], &f[1]);
            if (why != NULL)
                fail_msg("seed %d: restored at step %d of %d: %s", seed, cut, nsteps, why);
            fixture_cleanup_shared(&f[1]);
        }
        fixture_cleanup_shared(&f[0]);
    }
    rules_free(r);
}

/* An incident restored after another may teach T the service of a pod
 * that the first indexed without one: the first gets its pmap entries
 * then (review: correlate_check failed after dump and restore). */
static void test_restore_learns_pod_service(void **state)
{
    (void)state;
    struct fixture f, g;
    struct qerr err;
    json_t *d;

    fixture_init(&f, NULL);
    ingest(&f, "alertname=A,pod=lonely-0,node=n5", 'f', 0, NULL, 0);
    ingest(&f, "alertname=B,pod=lonely-0,service=cart", 'f', 700, NULL, 700);
    memset(&err, 0, sizeof err);
    if (correlate_check(f.c, &err) != 0)
        fail_msg("live: %s", err.msg);
    assert_int_equal(correlate_dump(f.c, &d), 0);
    fixture_init(&g, NULL);
    if (correlate_restore(g.c, d, &err) != 0)
        fail_msg("restore: %s", err.msg);
    if (correlate_check(g.c, &err) != 0)
        fail_msg("restored: %s", err.msg);
    json_decref(d);
    fixture_cleanup(&g);
    fixture_cleanup(&f);
}

/* With many clusters, a node alert naming its cluster but no namespace
 * agrees with that cluster's namespaces only; `across` would read every
 * cluster's incidents of the node's services and drop most. Asked scope
 * by scope it is (its namespaces) x (its neighbourhood), and it joins the
 * oldest of its own cluster. */
static void test_node_of_one_cluster_among_many(void **state)
{
    (void)state;
    struct fixture f;
    char spec[200];
    uint64_t look;

    fixture_init(&f, NULL);
    for (int k = 0; k < 40; k++)
        for (int j = 0; j < 5; j++) {
            snprintf(spec, sizeof spec, "alertname=A,pod=cart-c%d-%d,service=cart,"
                     "node=node-c%d,cluster=c%d,namespace=ns%d", k, j, k, k, j);
            assert_int_equal(ingest(&f, spec, 'f', 5 * k + j, NULL, 5 * k + j),
                             CORRELATE_OPENED);
        }
    (void)join_work(&f, "alertname=N,node=node-c3,cluster=c3", 400, &look);
    /* 5 agreeing scopes x 2 x the node's neighbourhood; across: that
     * once plus the 200 incidents under cart, of 40 clusters */
    if (look > 100)
        fail_msg("%llu look-ups and incidents read for one node alert",
                 (unsigned long long)look);
    /* c3's oldest: ns0's */
    assert_int_equal(opened_of(&f, "alertname=N,node=node-c3,cluster=c3"), 15 * 1000);
    fixture_cleanup(&f);
}

/* ---- out of memory: all or nothing --------------------------------------
 * For each case: run the prefix, then the operation with its Nth
 * allocation failing (only the Nth, then the Nth and all after), for
 * N = 1, 2, ... until none fails. A failed operation must leave
 * everything a reader sees as it was and the indexes consistent
 * (correlate_check); run again, it must give what it gives without
 * failures, and so must the steps after it (a stale index entry shows
 * there). An allocation whose failure is absorbed must not change any
 * answer. */

static void check_consistent(const struct correlate *c, const char *what,
                             unsigned long k)
{
    struct qerr err;

    memset(&err, 0, sizeof err);
    if (correlate_check(c, &err) != 0)
        fail_msg("%s (allocation %lu): inconsistent: %s", what, k, err.msg);
}

/* Everything a reader of C sees, as text: every incident and alert view
 * (slots included), counts, the next deadline, the change log, the dump. */
static char *state_text(const struct correlate *c)
{
    char *buf = NULL, *dump;
    size_t len = 0, n;
    int lost;
    FILE *f = open_memstream(&buf, &len);
    json_t *d = NULL;
    const uint32_t *ch;

    assert_non_null(f);
    fprintf(f, "slots %u alerts %zu deadline %lld\n", correlate_incident_slots(c),
            correlate_alert_count(c), (long long)correlate_next_deadline(c));
    for (uint32_t s = 0; s < correlate_incident_slots(c); s++) {
        struct correlate_incident ci;
        if (correlate_incident(c, s, &ci) != 0) {
            fprintf(f, "[%u] free\n", s);
            continue;
        }
        fprintf(f, "[%u] %s %d into %u %lld %lld %lld firing %u scope", s, ci.id,
                (int)ci.state, ci.merged_into, (long long)ci.opened_at,
                (long long)ci.closed_at, (long long)ci.last_activity, ci.nfiring);
        for (size_t i = 0; i < ci.nscope; i++)
            fprintf(f, " '%s'", ci.scope[i]);
        fprintf(f, " entities");
        for (size_t i = 0; i < ci.nentities; i++)
            fprintf(f, " %u", ci.entities[i]);
        fprintf(f, "\n");
        for (size_t i = 0; i < ci.nalerts; i++) {
            struct correlate_alert ca;
            assert_int_equal(correlate_alert(c, ci.alerts[i], &ca), 0);
            fprintf(f, "  <%u> fp %016llx newest %lld entity %d inc %u %lld %lld "
                       "refires %u flap %d pos %u status %d starts %lld ends %lld",
                    ci.alerts[i], (unsigned long long)ca.alert->fingerprint,
                    (long long)correlate_alert_find(c, ca.alert->fingerprint),
                    ca.entity, ca.incident, (long long)ca.joined_at,
                    (long long)ca.changed_at, ca.refires, ca.flapping, ca.position,
                    (int)ca.alert->status, (long long)ca.alert->starts_at,
                    (long long)ca.alert->ends_at);
            for (size_t k = 0; k < ca.alert->nlabels; k++)
                fprintf(f, " %s=%s", ca.alert->labels[k].name, ca.alert->labels[k].value);
            fprintf(f, "\n");
        }
    }
    ch = correlate_changes(c, &n, &lost);
    fprintf(f, "changes lost %d:", lost);
    for (size_t i = 0; i < n; i++)
        fprintf(f, " %u", ch[i]);
    {
        const struct correlate_move *mv = correlate_moves(c, &n);
        fprintf(f, " moves:");
        for (size_t i = 0; i < n; i++)
            fprintf(f, " %u<%s", mv[i].alert, mv[i].from);
    }
    assert_int_equal(correlate_dump(c, &d), 0);
    dump = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    fprintf(f, "\n%s\n", dump);
    free(dump);
    json_decref(d);
    fclose(f);
    return buf;
}

static char *delta_text(const struct correlate *c)
{
    const struct correlate_delta *d = correlate_delta(c);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    fprintf(f, "u");
    for (size_t i = 0; i < d->nupdated; i++)
        fprintf(f, " %u", d->updated[i]);
    fprintf(f, " m");
    for (size_t i = 0; i < d->nmerged; i++)
        fprintf(f, " %u", d->merged[i]);
    fprintf(f, " c");
    for (size_t i = 0; i < d->nclosed; i++)
        fprintf(f, " %u", d->closed[i]);
    fprintf(f, " v");
    for (size_t i = 0; i < d->nmoved; i++)
        fprintf(f, " %u", d->moved[i]);
    fclose(f);
    return buf;
}

/* Name of the incident holding the alert of SPEC. */
static const char *incident_of(struct fixture *f, const char *spec)
{
    return incident_holding(f, spec).id;
}

/* A weak member leaves its guessed incident for the one the graph places
 * its entity in: positions stay dense where it left, the move is logged
 * for the store (correlate_moves) and in the delta, it is no longer weak
 * (its record says so, and its entity is indexed: a later alert of the
 * node joins through it), and a restore of the dump gives the same. */
static void test_weak_member_follows_the_graph(void **state)
{
    (void)state;
    static const char *N = "alertname=N,node=n9", *P = "alertname=P,pod=x-0,service=far4,node=n9";
    struct fixture f, g;
    struct correlate_alert ca;
    struct correlate_incident ci;
    const struct correlate_delta *d;
    const struct correlate_move *mv;
    char from[CORRELATE_ID_SIZE], got[512], states[16];
    json_t *dump = NULL, *rec;
    struct qerr err;
    size_t n;
    int64_t mn;

    fixture_init(&f, NULL);
    assert_int_equal(ingest(&f, "alertname=A,service=far1", 'f', 0, NULL, 0), CORRELATE_OPENED);
    assert_int_equal(ingest(&f, N, 'f', 5, NULL, 5), CORRELATE_JOINED);
    assert_int_equal(ingest(&f, "alertname=B,service=far1", 'f', 7, NULL, 7), CORRELATE_JOINED);
    snprintf(from, sizeof from, "%s", incident_of(&f, N));
    mn = slot_of(&f, N);
    rec = correlate_alert_dump(f.c, (uint32_t)mn);
    assert_true(json_is_true(json_object_get(rec, "weak")));
    json_decref(rec);
    correlate_track_changes(f.c, 1);

    assert_int_equal(ingest(&f, P, 'f', 10, NULL, 10), CORRELATE_OPENED);
    check_consistent(f.c, "after the move", 0);
    render(f.c, got, sizeof got, states, sizeof states);
    assert_string_equal(got, "A B|N P");
    assert_string_not_equal(incident_of(&f, N), from);
    /* B took N's place in A's incident */
    assert_int_equal(correlate_alert(f.c, (uint32_t)slot_of(&f, "alertname=B,service=far1"), &ca), 0);
    assert_int_equal(ca.position, 1);
    assert_true(logged(f.c, (uint32_t)slot_of(&f, "alertname=B,service=far1")));
    assert_true(logged(f.c, (uint32_t)mn));
    mv = correlate_moves(f.c, &n);
    assert_int_equal(n, 1);
    assert_int_equal(mv[0].alert, (uint32_t)mn);
    assert_string_equal(mv[0].from, from);
    d = correlate_delta(f.c);
    assert_int_equal(d->nmoved, 1);
    assert_int_equal(d->moved[0], (uint32_t)mn);
    assert_int_equal(d->nupdated, 2);
    rec = correlate_alert_dump(f.c, (uint32_t)mn);
    assert_null(json_object_get(rec, "weak"));
    json_decref(rec);
    /* n9 is gone from A's incident's entities, and indexed in N's */
    assert_int_equal(correlate_alert(f.c, (uint32_t)slot_of(&f, "alertname=A,service=far1"), &ca), 0);
    assert_int_equal(correlate_incident(f.c, ca.incident, &ci), 0);
    assert_int_equal(ci.nentities, 1);
    correlate_changes_clear(f.c);
    assert_int_equal(correlate_moves(f.c, &n), correlate_moves(f.c, &n));
    assert_int_equal(n, 0);

    /* restored, it is the same, and goes on the same */
    assert_int_equal(correlate_dump(f.c, &dump), 0);
    fixture_init(&g, NULL);
    if (correlate_restore(g.c, dump, &err) != 0)
        fail_msg("restore: %s: %s", err.source, err.msg);
    check_consistent(g.c, "restored", 0);
    assert_int_equal(ingest(&f, "alertname=C,node=n9", 'f', 20, NULL, 20), CORRELATE_JOINED);
    assert_int_equal(ingest(&g, "alertname=C,node=n9", 'f', 20, NULL, 20), CORRELATE_JOINED);
    render(f.c, got, sizeof got, states, sizeof states);
    assert_string_equal(got, "A B|C N P");
    /* the same incidents and alerts (slots and entity ids may differ) */
    json_decref(dump);
    assert_null(alike(&f, &g));
    fixture_cleanup(&g);
    fixture_cleanup(&f);
}

/* Run STEPS on F (outcomes checked, correlate_check after each). */
static void run_checked(struct fixture *f, const struct step *st, size_t n,
                        const char *what)
{
    for (size_t i = 0; i < n; i++) {
        char oc;
        if (st[i].labels == NULL) {
            correlate_tick(f->c, (int64_t)st[i].at * 1000);
            continue;
        }
        oc = outcome_char(ingest(f, st[i].labels, st[i].status, st[i].starts,
                                 st[i].group, st[i].at));
        if (oc != st[i].want)
            fail_msg("%s: step %zu (%s): outcome %c, want %c", what, i, st[i].labels,
                     oc, st[i].want);
        check_consistent(f->c, what, 0);
    }
}

/* PREFIX, then a dump restored into a second correlator; AFTER on both:
 * the dumps agree, and the incidents are WANT. */
static void restore_agrees(const char *what, const struct step *prefix, size_t np,
                           const struct step *after, size_t na, const char *want)
{
    struct fixture f, g;
    json_t *d = NULL;
    struct qerr err;
    char got[512], states[16];
    const char *why;

    fixture_init(&f, NULL);
    run_checked(&f, prefix, np, what);
    assert_int_equal(correlate_dump(f.c, &d), 0);
    fixture_init(&g, NULL);
    if (correlate_restore(g.c, d, &err) != 0)
        fail_msg("%s: restore: %s", what, err.msg);
    json_decref(d);
    check_consistent(g.c, what, 0);
    run_checked(&f, after, na, what);
    run_checked(&g, after, na, what);
    render(f.c, got, sizeof got, states, sizeof states);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got '%s', want '%s'", what, got, want);
    if ((why = alike(&f, &g)) != NULL)
        fail_msg("%s: restored and straight: %s", what, why);
    fixture_cleanup(&f);
    fixture_cleanup(&g);
}

/* Found by a second review: a weak member's entity is listed, not
 * indexed, so indexing it later (a guess right, a join through the graph
 * of another alert of that node, a merge bringing it indexed) listed it
 * twice. correlate_check now fails on an entity listed twice. */
static void test_entity_listed_once(void **state)
{
    (void)state;
    static const struct step right[] = {
        { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' },
        { 10, "alertname=P,pod=far1-0,service=far1,node=n9", 'f', 10, NULL, 'J' },
    }, join[] = {
        { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' },
        { 300, "alertname=A2,service=far1", 'f', 300, NULL, 'J' },
        { 620, "alertname=A3,service=far1", 'f', 620, NULL, 'J' },
        { 700, "alertname=P,pod=far1-0,service=far1,node=n9", 'f', 700, NULL, 'J' },
        { 705, "alertname=N2,node=n9", 'f', 705, NULL, 'J' },
    }, merge[] = {
        { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' },
        { 300, "alertname=A2,service=far1", 'f', 300, NULL, 'J' },
        { 620, "alertname=A3,service=far1", 'f', 620, NULL, 'J' },
        { 700, "alertname=P,pod=cart-0,service=cart,node=n9", 'f', 700, NULL, 'O' },
        { 705, "alertname=N2,node=n9", 'f', 705, NULL, 'J' },
        { 710, "alertname=Q,pod=far2-0,service=far2,node=n9", 'f', 710, NULL, 'M' },
    };
    static const struct { const struct step *st; size_t n; const char *want; } runs[] = {
        { right, 3, "A N P" }, { join, 6, "A A2 A3 N N2 P" },
        { merge, 7, "A A2 A3 N N2 P Q" },
    };

    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++)
        restore_agrees("listed once", runs[k].st, runs[k].n, NULL, 0, runs[k].want);
}

/* Found by review: a node's weak members in two incidents (the largest
 * changed between its alerts) both follow its pods' alerts, whichever
 * incident a restore lists last; and moves happen in an order the dump
 * keeps (join time), not in an order swap-removals left behind. Also:
 * an incident whose last firing alert left closes resolve_quiet after
 * that, not after its older resolves. */
static void test_guesses_restore_alike(void **state)
{
    (void)state;
    static const struct step two[] = {
        { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 5, "alertname=N1,node=n9", 'f', 5, NULL, 'J' },
        { 6, "alertname=B1,service=cart", 'f', 6, NULL, 'O' },
        { 7, "alertname=B2,service=cart", 'f', 7, NULL, 'J' },
        { 8, "alertname=B3,service=cart", 'f', 8, NULL, 'J' },
        { 9, "alertname=N2,node=n9", 'f', 9, NULL, 'J' },
        { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 10, NULL, 'O' },
    }, two_after[] = {
        { 20, "alertname=Q,pod=x-1,service=far4,node=n9", 'f', 20, NULL, 'J' },
    }, order[] = {
        { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 2, "alertname=Ny,node=n8", 'f', 2, NULL, 'J' },
        { 3, "alertname=N1,node=n9", 'f', 3, NULL, 'J' },
        { 4, "alertname=N2,node=n9", 'f', 4, NULL, 'J' },
        { 10, "alertname=P,pod=y-0,service=cart,node=n8", 'f', 10, NULL, 'O' },
    }, order_after[] = {
        { 20, "alertname=Q,pod=x-1,service=far4,node=n9", 'f', 20, NULL, 'O' },
    };
    struct fixture f;
    struct correlate_alert ca;
    struct correlate_incident ci;

    restore_agrees("weak members in two incidents", two, 7, two_after, 1,
                   "A|B1 B2 B3|N1 N2 P Q");
    restore_agrees("order of moves", order, 5, order_after, 1, "A|Ny P|N1 N2 Q");

    fixture_init(&f, NULL);
    ingest(&f, "alertname=A,service=far1", 'r', 0, NULL, 0);
    ingest(&f, "alertname=N,node=n9", 'f', 5, NULL, 5);
    ingest(&f, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 400, NULL, 400);
    assert_int_equal(correlate_next_deadline(f.c), (400 + 300) * 1000);
    correlate_tick(f.c, 700 * 1000);
    assert_int_equal(correlate_alert(f.c, (uint32_t)slot_of(&f, "alertname=A,service=far1"), &ca), 0);
    assert_int_equal(correlate_incident(f.c, ca.incident, &ci), 0);
    assert_int_equal(ci.state, CORRELATE_CLOSED);
    assert_int_equal(ci.closed_at, 700 * 1000);
    fixture_cleanup(&f);
}

struct oom_case {
    const char *name;
    const char *rules;
    int track;                  /* change log on: 1 from the start, 2 from
                                 * the op on (its vector still unmade) */
    struct step prefix[10];
    struct step op;             /* an ingest, or a tick (labels NULL) */
    struct step after[4];
};

static void run_steps(struct fixture *f, const struct step *st, size_t n)
{
    for (size_t i = 0; i < n && (st[i].labels != NULL || st[i].at != 0); i++) {
        if (st[i].labels == NULL)
            correlate_tick(f->c, (int64_t)st[i].at * 1000);
        else
            ingest(f, st[i].labels, st[i].status, st[i].starts, st[i].group, st[i].at);
    }
}

/* The fixture just before the operation. The graph learns the op's
 * entities first (an ingest into a scratch state on the same graph), as
 * the op itself would before its first allocation in C: a graph that
 * cannot grow gives an alert no entity, a degraded answer, not a failure,
 * and not what is tested here. Due closes run first (a failed ingest may
 * close incidents). */
static void oom_prepare(struct fixture *f, const struct oom_case *oc)
{
    fixture_init(f, oc->rules);
    correlate_track_changes(f->c, oc->track == 1);
    run_steps(f, oc->prefix, sizeof oc->prefix / sizeof oc->prefix[0]);
    correlate_track_changes(f->c, oc->track != 0);
    if (oc->op.labels != NULL) {
        struct correlate *tmp;
        struct alert a = make_alert(correlate_pool(f->c), oc->op.labels,
                                    oc->op.status, oc->op.starts);
        struct qerr err;
        assert_int_equal(correlate_new(&tmp, f->t, f->r), 0);
        assert_true(correlate_ingest(tmp, &a, oc->op.group,
                                     (int64_t)oc->op.at * 1000, &err) >= 0);
        correlate_free(tmp);
        alert_cleanup(&a);
        correlate_tick(f->c, (int64_t)oc->op.at * 1000);
    }
    correlate_changes_clear(f->c);
}

/* Run the op with allocation K failing (0: none); *FIRED whether one did. */
static int oom_op(struct fixture *f, const struct oom_case *oc, unsigned long k,
                  int sticky, int *fired)
{
    struct qerr err;
    int rc;

    if (oc->op.labels == NULL) {
        if (k > 0)
            failalloc_arm(k, sticky);
        rc = (int)correlate_tick(f->c, (int64_t)oc->op.at * 1000);
    } else {
        struct alert a = make_alert(correlate_pool(f->c), oc->op.labels,
                                    oc->op.status, oc->op.starts);
        if (k > 0)
            failalloc_arm(k, sticky);
        rc = correlate_ingest(f->c, &a, oc->op.group, (int64_t)oc->op.at * 1000,
                              &err);
        *fired = failalloc_disarm();
        alert_cleanup(&a);
        return rc;
    }
    *fired = failalloc_disarm();
    return rc;
}

static void oom_run(const struct oom_case *oc)
{
    struct fixture f;
    char *after_ref, *final_ref, *delta_ref, *before, *got;
    int rc_ref, fired, failures = 0;
    int tick = oc->op.labels == NULL;

    oom_prepare(&f, oc);
    rc_ref = oom_op(&f, oc, 0, 0, &fired);
    assert_true(rc_ref >= 0);
    if (!tick && outcome_char(rc_ref) != oc->op.want)
        fail_msg("%s: outcome %c, want %c", oc->name, outcome_char(rc_ref), oc->op.want);
    check_consistent(f.c, oc->name, 0);
    after_ref = state_text(f.c);
    delta_ref = delta_text(f.c);
    run_steps(&f, oc->after, sizeof oc->after / sizeof oc->after[0]);
    check_consistent(f.c, oc->name, 0);
    final_ref = state_text(f.c);
    fixture_cleanup(&f);

    for (int sticky = 0; sticky < 2; sticky++) {
        for (unsigned long k = 1;; k++) {
            int rc, again = 0;
            oom_prepare(&f, oc);
            before = state_text(f.c);
            rc = oom_op(&f, oc, k, sticky, &fired);
            check_consistent(f.c, oc->name, k);
            if (fired && (tick ? rc < rc_ref : rc < 0)) {
                failures++;
                if (!tick) {
                    const struct correlate_delta *d = correlate_delta(f.c);
                    got = state_text(f.c);
                    if (strcmp(got, before) != 0)
                        fail_msg("%s: allocation %lu%s failed and changed C:\n"
                                 "--- before\n%s--- after\n%s", oc->name, k,
                                 sticky ? " on" : "", before, got);
                    free(got);
                    assert_true(d->nupdated == 0 && d->nmerged == 0 && d->nclosed == 0);
                } else {
                    /* what is not closed stays due */
                    assert_true(correlate_next_deadline(f.c) <= (int64_t)oc->op.at * 1000);
                }
                again = oom_op(&f, oc, 0, 0, &fired);
                rc = tick ? rc + again : again;
                check_consistent(f.c, oc->name, k);
            }
            if (rc != rc_ref)
                fail_msg("%s: allocation %lu%s: rc %d, want %d", oc->name, k,
                         sticky ? " on" : "", rc, rc_ref);
            got = state_text(f.c);
            if (strcmp(got, after_ref) != 0)
                fail_msg("%s: allocation %lu%s: state differs:\n--- want\n%s--- got\n%s",
                         oc->name, k, sticky ? " on" : "", after_ref, got);
            free(got);
            if (!tick) {
                got = delta_text(f.c);
                assert_string_equal(got, delta_ref);
                free(got);
            }
            run_steps(&f, oc->after, sizeof oc->after / sizeof oc->after[0]);
            check_consistent(f.c, oc->name, k);
            got = state_text(f.c);
            if (strcmp(got, final_ref) != 0)
                fail_msg("%s: allocation %lu%s: steps after differ:\n--- want\n%s--- got\n%s",
                         oc->name, k, sticky ? " on" : "", final_ref, got);
            free(got);
            free(before);
            fixture_cleanup(&f);
            if (!fired)
                break;
        }
    }
    /* the op allocates, or the case tests nothing */
    assert_true(failures > 0);
    free(after_ref);
    free(final_ref);
    free(delta_ref);
}

static const struct oom_case oom_cases[] = {
    { "opens an incident", NULL, 0, { { 0 } },
      { 10, "alertname=A,service=cart,namespace=shop", 'f', 5, "g1", 'O' },
      { { 20, "alertname=B,service=cart,namespace=shop", 'f', 15, NULL, 'J' },
        { 30, "alertname=C,namespace=shop", 'f', 25, "g1", 'J' } } },
    { "joins, with a new group", NULL, 1,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' } },
      { 10, "alertname=B,service=cart", 'f', 5, "g", 'J' },
      { { 20, "alertname=C,cluster_wide=yes", 'f', 15, "g", 'J' },
        { 30, "alertname=D,service=payment", 'f', 25, NULL, 'J' } } },
    { "merges three incidents", "topology_hops: 1\n", 1,
      { { 0, "alertname=A,service=frontend", 'f', 0, "g1", 'O' },
        { 5, "alertname=B,service=payment", 'f', 5, "g2", 'O' },
        { 8, "alertname=D,pod=cart-0,service=cart,node=n1", 'f', 8, NULL, 'O' } },
      { 20, "alertname=C,service=checkout", 'f', 15, NULL, 'M' },
      { { 30, "alertname=E,cluster_wide=yes", 'f', 25, "g2", 'J' },
        { 40, "alertname=F,service=redis", 'f', 35, NULL, 'J' },
        { 50, "alertname=G,node=n1", 'f', 45, NULL, 'J' } } },
    /* The op logs its four moved members and itself into a log that has
     * no room yet: one reservation must cover all five. */
    { "a merge moves four members into an empty change log", "topology_hops: 1\n", 2,
      { { 0, "alertname=A,service=frontend", 'f', 0, NULL, 'O' },
        { 2, "alertname=B1,service=payment", 'f', 2, NULL, 'O' },
        { 4, "alertname=B2,service=payment", 'f', 4, NULL, 'J' },
        { 6, "alertname=D1,service=cart", 'f', 6, NULL, 'O' },
        { 8, "alertname=D2,service=cart", 'f', 8, NULL, 'J' } },
      { 20, "alertname=C,service=checkout", 'f', 15, NULL, 'M' },
      { { 30, "alertname=E,service=payment", 'f', 25, NULL, 'J' } } },
    { "a resolved alert merges resolved incidents", "topology_hops: 1\n", 0,
      { { 0, "alertname=A,service=frontend", 'f', 0, NULL, 'O' },
        { 5, "alertname=A,service=frontend", 'r', 0, NULL, 'U' },
        { 10, "alertname=B,service=payment", 'r', 10, NULL, 'O' } },
      { 20, "alertname=C,service=checkout", 'r', 20, NULL, 'M' },
      { TICK(2000), { 2100, "alertname=C,service=checkout", 'f', 2100, NULL, 'O' } } },
    { "a pod's alert moves a node's incident to its namespace", NULL, 0,
      { { 0, "alertname=N,node=n1", 'f', 0, NULL, 'O' } },
      { 10, "alertname=P,pod=cart-0,service=cart,node=n1,namespace=shop", 'f', 5, NULL, 'J' },
      { { 20, "alertname=Q,pod=pay-0,service=payment,node=n1,namespace=billing", 'f', 15, NULL, 'O' },
        { 30, "alertname=R,node=n1", 'f', 25, NULL, 'J' } } },
    { "merge and move namespace", NULL, 0,
      { { 0, "alertname=N,node=n1", 'f', 0, "g", 'O' },
        { 5, "alertname=X,service=far1,namespace=shop", 'f', 5, "g", 'O' } },
      { 10, "alertname=P,pod=far1-0,service=far1,node=n1,namespace=shop", 'f', 10, NULL, 'M' },
      { { 20, "alertname=R,node=n1", 'f', 15, NULL, 'J' },
        { 30, "alertname=S,service=far2,namespace=shop", 'f', 25, NULL, 'J' } } },
    /* three namespaces agree with a node alert: it asks `across` */
    { "a node alert finds its pods' namespaces across scopes", NULL, 0,
      { { 0, "alertname=A,pod=cart-0,service=cart,node=n1,namespace=shop", 'f', 0, NULL, 'O' },
        { 5, "alertname=B,pod=pay-0,service=payment,node=n1,namespace=billing", 'f', 5, NULL, 'O' },
        { 8, "alertname=C,pod=cart-1,service=cart,node=n1,namespace=shop2", 'f', 8, NULL, 'O' } },
      { 10, "alertname=N,node=n1", 'f', 10, NULL, 'J' },
      { { 20, "alertname=T,service=cart", 'f', 15, NULL, 'O' },
        { 30, "alertname=A,pod=cart-0,service=cart,node=n1,namespace=shop", 'r', 0, NULL, 'U' } } },
    { "a weak member joins", NULL, 0,
      { { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' } },
      { 10, "alertname=N,node=n9", 'f', 5, NULL, 'J' },
      { { 20, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 15, NULL, 'O' } } },
    { "a weak member stays weak when its incident moves", NULL, 0,
      { { 0, "alertname=N1,node=n1", 'f', 0, NULL, 'O' },
        { 5, "alertname=N2,node=n2", 'f', 5, NULL, 'J' } },
      { 10, "alertname=P1,pod=a-0,service=far4,node=n1,namespace=shop", 'f', 10, NULL, 'J' },
      { { 15, "alertname=P2,pod=b-0,service=far1,node=n2,namespace=shop", 'f', 15, NULL, 'O' } } },
    /* the guess replaced (find_guesses): N leaves A's incident for P's */
    { "a pod's alert takes its node's weak member along", NULL, 1,
      { { 0, "alertname=A,service=far1", 'f', 0, NULL, 'O' },
        { 3, "alertname=B,service=far1", 'f', 3, NULL, 'J' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' },
        { 6, "alertname=M,node=n9", 'r', 6, NULL, 'J' } },
      { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 10, NULL, 'O' },
      { { 20, "alertname=Q,pod=x-1,service=far4,node=n9", 'f', 15, NULL, 'J' },
        TICK(1000) } },
    { "a weak member guessed right stops being weak", NULL, 2,
      { { 0, "alertname=A,service=far4", 'f', 0, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' } },
      { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 10, NULL, 'J' },
      { { 20, "alertname=Q,pod=y-0,service=far4,node=n9", 'f', 15, NULL, 'J' } } },
    /* a second review's: n9 weak in four namespaces' incidents, so its
     * wmap list is full when a merge re-lists it under the survivor */
    { "a merge re-lists a weak member under the survivor", NULL, 1,
      { { 0, "alertname=A,service=payment,namespace=ns1", 'f', 0, NULL, 'O' },
        { 1, "alertname=B,service=redis,namespace=ns1", 'f', 1, NULL, 'O' },
        { 2, "alertname=B2,service=redis,namespace=ns1", 'f', 2, NULL, 'J' },
        { 3, "alertname=N1,node=n9,namespace=ns1", 'f', 3, NULL, 'J' },
        { 4, "alertname=C,service=far1,namespace=ns2", 'f', 4, NULL, 'O' },
        { 5, "alertname=N2,node=n9,namespace=ns2", 'f', 5, NULL, 'J' },
        { 6, "alertname=D,service=far1,namespace=ns3", 'f', 6, NULL, 'O' },
        { 7, "alertname=N3,node=n9,namespace=ns3", 'f', 7, NULL, 'J' },
        { 8, "alertname=E,service=far1,namespace=ns4", 'f', 8, NULL, 'O' },
        { 9, "alertname=N4,node=n9,namespace=ns4", 'f', 9, NULL, 'J' } },
      { 10, "alertname=X,service=cart,namespace=ns1", 'f', 10, NULL, 'M' },
      { { 20, "alertname=Q,pod=far1-0,service=far1,node=n9,namespace=ns2", 'f', 20, NULL, 'J' } } },
    /* a review's: guesses from two incidents into a fresh, a joined and a
     * merged-and-rescoped target, the log on from the start or the op */
    { "guesses from two incidents into a fresh one", NULL, 1,
      { { 0, "alertname=A,service=far1", 'f', 0, "g1", 'O' },
        { 1, "alertname=W,pod=x-0", 'f', 1, "g1", 'J' },
        { 2, "alertname=B1,service=cart", 'f', 2, NULL, 'O' },
        { 3, "alertname=B2,service=cart", 'f', 3, NULL, 'J' },
        { 4, "alertname=B3,service=cart", 'f', 4, NULL, 'J' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' } },
      { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 10, NULL, 'O' },
      { { 20, "alertname=Q,pod=x-1,service=far4,node=n9", 'f', 15, NULL, 'J' },
        TICK(2000) } },
    { "guesses from two incidents, the log on from the op", NULL, 2,
      { { 0, "alertname=A,service=far1", 'f', 0, "g1", 'O' },
        { 1, "alertname=W,pod=x-0", 'f', 1, "g1", 'J' },
        { 2, "alertname=B1,service=cart", 'f', 2, NULL, 'O' },
        { 3, "alertname=B2,service=cart", 'f', 3, NULL, 'J' },
        { 4, "alertname=B3,service=cart", 'f', 4, NULL, 'J' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' } },
      { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 10, NULL, 'O' },
      { { 20, "alertname=Q,pod=x-1,service=far4,node=n9", 'f', 15, NULL, 'J' },
        TICK(2000) } },
    { "guesses from two incidents into a joined one", NULL, 1,
      { { 0, "alertname=A,service=far1", 'f', 0, "g1", 'O' },
        { 1, "alertname=W,pod=x-0", 'f', 1, "g1", 'J' },
        { 2, "alertname=B1,service=cart", 'f', 2, NULL, 'O' },
        { 3, "alertname=B2,service=cart", 'f', 3, NULL, 'J' },
        { 4, "alertname=C,service=far4", 'f', 4, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' } },
      { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'f', 10, NULL, 'J' },
      { { 20, "alertname=Q,pod=x-1,service=far4,node=n9", 'f', 15, NULL, 'J' },
        TICK(2000) } },
    { "a guess in a merged source, rescoped", NULL, 1,
      { { 0, "alertname=B,service=far4", 'f', 0, NULL, 'O' },
        { 1, "alertname=A1,service=far1", 'f', 1, NULL, 'O' },
        { 2, "alertname=A2,service=far1", 'f', 2, NULL, 'J' },
        { 3, "alertname=N,node=n9", 'f', 3, NULL, 'J' },
        { 4, "alertname=N2,node=n9", 'r', 4, NULL, 'J' } },
      { 10, "alertname=P,pod=x-0,service=far3,node=n9,namespace=shop", 'f', 10, NULL, 'M' },
      { { 20, "alertname=Q,pod=x-1,service=far4,node=n9", 'f', 15, NULL, 'J' },
        TICK(2000) } },
    { "a resolved alert's guess leaves nothing firing", NULL, 1,
      { { 0, "alertname=A,service=far1", 'r', 0, NULL, 'O' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' } },
      { 10, "alertname=P,pod=x-0,service=far4,node=n9", 'r', 10, NULL, 'O' },
      { { 20, "alertname=Q,pod=x-1,service=far4,node=n9", 'f', 15, NULL, 'J' },
        TICK(2000) } },
    { "merge, rescope and a guess from a third incident", NULL, 2,
      { { 0, "alertname=B,service=far4", 'f', 0, NULL, 'O' },
        { 1, "alertname=A1,service=far1", 'f', 1, NULL, 'O' },
        { 2, "alertname=C1,service=cart", 'f', 2, NULL, 'O' },
        { 3, "alertname=C2,service=cart", 'f', 3, NULL, 'J' },
        { 4, "alertname=C3,service=cart", 'f', 4, NULL, 'J' },
        { 5, "alertname=N,node=n9", 'f', 5, NULL, 'J' } },
      { 10, "alertname=P,pod=x-0,service=far3,node=n9,namespace=shop", 'f', 10, NULL, 'M' },
      { { 20, "alertname=Q,pod=x-1,service=far4,node=n9,namespace=shop", 'f', 15, NULL, 'J' },
        TICK(2000) } },
    { "a lone pod's guess into a merged, rescoped incident", NULL, 1,
      { { 0, "alertname=C1,service=cart", 'f', 0, "g1", 'O' },
        { 1, "alertname=C2,service=cart", 'f', 1, NULL, 'J' },
        { 2, "alertname=W,pod=lonely-0", 'f', 2, "g1", 'J' },
        { 3, "alertname=A,service=far1", 'f', 3, NULL, 'O' },
        { 4, "alertname=B,service=far4", 'f', 4, NULL, 'O' } },
      { 10, "alertname=P,pod=lonely-0,service=far3,namespace=shop", 'f', 10, NULL, 'M' },
      { { 20, "alertname=Q,pod=lonely-1,service=far3,namespace=shop", 'f', 15, NULL, 'J' },
        TICK(2000) } },
    { "a node no known pod runs on joins any namespace", NULL, 0,
      { { 0, "alertname=A,pod=cart-0,service=cart,namespace=shop", 'f', 0, NULL, 'O' },
        { 8, "alertname=D,pod=pay-0,service=payment,namespace=billing", 'f', 0, NULL, 'O' } },
      { 10, "alertname=B,node=n9", 'f', 5, NULL, 'J' },
      { { 20, "alertname=C,pod=cart-1,service=cart,namespace=shop", 'f', 15, NULL, 'J' } } },
    { "a node-exporter alert joins its node's pods", NULL, 0,
      { { 0, CART_POD_OOM, 'f', 0, NULL, 'O' } },
      { 10, NODE_EXPORTER_FS, 'f', 5, NULL, 'J' },
      { { 20, "alertname=B,node=10.0.0.33", 'f', 15, NULL, 'J' } } },
    { "a resolve schedules the close", NULL, 1,
      { { 0, "alertname=A,service=cart", 'f', 0, "g", 'O' } },
      { 60, "alertname=A,service=cart", 'r', 0, "g2", 'U' },
      { TICK(400), { 500, "alertname=A,service=cart", 'f', 500, NULL, 'O' } } },
    { "a new episode while open", "flap: {count: 2, within: 1h}\n", 0,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 10, "alertname=A,service=cart", 'r', 0, NULL, 'U' } },
      { 20, "alertname=A,service=cart", 'f', 20, NULL, 'U' },
      { { 30, "alertname=A,service=cart", 'r', 20, NULL, 'U' },
        { 40, "alertname=A,service=cart", 'f', 40, NULL, 'U' } } },
    { "a refire after the close", "flap: {count: 2, within: 1h}\n", 0,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 60, "alertname=A,service=cart", 'r', 0, NULL, 'U' },
        TICK(400) },
      { 500, "alertname=A,service=cart", 'f', 500, NULL, 'O' },
      { { 510, "alertname=B,service=cart", 'f', 505, NULL, 'J' } } },
    { "a tick closes two incidents", NULL, 0,
      { { 0, "alertname=A,service=cart", 'f', 0, NULL, 'O' },
        { 60, "alertname=A,service=cart", 'r', 0, NULL, 'U' },
        { 65, "alertname=B,service=far1", 'f', 65, NULL, 'O' },
        { 70, "alertname=B,service=far1", 'r', 65, NULL, 'U' } },
      TICK(400),
      { { 500, "alertname=A,service=cart", 'f', 500, NULL, 'O' },
        { 510, "alertname=C,service=far2", 'f', 505, NULL, 'O' } } },
};

static void test_oom_ingest_and_tick(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof oom_cases / sizeof oom_cases[0]; i++)
        oom_run(&oom_cases[i]);
}

/* correlate_incident_restore, each incident of a dump in turn, onto the
 * ones before it; then the rest and new alerts. */
static void test_oom_restore(void **state)
{
    (void)state;
    struct fixture src;
    json_t *dump = NULL, *incs;
    struct qerr err;

    fixture_init(&src, "topology_hops: 1\nflap: {count: 2, within: 1h}\n");
    feed_sequence(&src);
    ingest(&src, "alertname=C,service=far1,namespace=shop", 'f', 60, NULL, 60);
    ingest(&src, "alertname=N,node=n9,namespace=shop", 'f', 61, NULL, 61);
    correlate_tick(src.c, 2000000);
    ingest(&src, "alertname=C,service=far1,namespace=shop", 'f', 2100, NULL, 2100);
    /* an open incident with a weak member: its wmap entry is planned too */
    assert_int_equal(ingest(&src, "alertname=N2,node=n8,namespace=shop", 'f', 2101, NULL, 2101),
                     CORRELATE_JOINED);
    assert_int_equal(correlate_dump(src.c, &dump), 0);
    fixture_cleanup(&src);
    incs = json_object_get(dump, "incidents");
    assert_true(json_array_size(incs) >= 3);

    for (size_t i = 0; i < json_array_size(incs); i++) {
        struct fixture f;
        char *after_ref = NULL, *final_ref = NULL, *before, *got;
        int failures = 0;
        for (int pass = 0; pass < 3; pass++) {
            for (unsigned long k = pass == 0 ? 0 : 1;; k++) {
                struct correlate *tmp;
                int rc, fired = 0;
                fixture_init(&f, "topology_hops: 1\nflap: {count: 2, within: 1h}\n");
                /* the graph learns the entities first (see oom_prepare) */
                assert_int_equal(correlate_new(&tmp, f.t, f.r), 0);
                assert_int_equal(correlate_restore(tmp, dump, &err), 0);
                correlate_free(tmp);
                for (size_t j = 0; j < i; j++)
                    assert_int_equal(correlate_incident_restore(
                                         f.c, json_array_get(incs, j), &err), 0);
                before = state_text(f.c);
                if (k > 0)
                    failalloc_arm(k, pass == 2);
                rc = correlate_incident_restore(f.c, json_array_get(incs, i), &err);
                fired = failalloc_disarm();
                check_consistent(f.c, "restore", k);
                if (rc < 0) {
                    assert_true(fired);
                    failures++;
                    got = state_text(f.c);
                    if (strcmp(got, before) != 0)
                        fail_msg("restore %zu: allocation %lu failed and changed C:\n"
                                 "--- before\n%s--- after\n%s", i, k, before, got);
                    free(got);
                    rc = correlate_incident_restore(f.c, json_array_get(incs, i), &err);
                }
                assert_int_equal(rc, 0);
                got = state_text(f.c);
                if (after_ref == NULL)
                    after_ref = got;
                else if (strcmp(got, after_ref) != 0)
                    fail_msg("restore %zu: allocation %lu: state differs:\n--- want\n%s"
                             "--- got\n%s", i, k, after_ref, got);
                if (got != after_ref)
                    free(got);
                for (size_t j = i + 1; j < json_array_size(incs); j++)
                    assert_int_equal(correlate_incident_restore(
                                         f.c, json_array_get(incs, j), &err), 0);
                ingest(&f, "alertname=F,service=checkout,namespace=shop", 'f', 2200, NULL, 2200);
                ingest(&f, "alertname=C,service=far1,namespace=shop", 'r', 2100, NULL, 2210);
                ingest(&f, "alertname=P,pod=x-0,service=far4,node=n9,namespace=shop", 'f', 2220, NULL, 2220);
                correlate_tick(f.c, 9000000);
                check_consistent(f.c, "restore, after", k);
                got = state_text(f.c);
                if (final_ref == NULL)
                    final_ref = got;
                else if (strcmp(got, final_ref) != 0)
                    fail_msg("restore %zu: allocation %lu: steps after differ:\n"
                             "--- want\n%s--- got\n%s", i, k, final_ref, got);
                if (got != final_ref)
                    free(got);
                free(before);
                fixture_cleanup(&f);
                if (k == 0 || !fired)
                    break;
            }
        }
        assert_true(failures > 0);
        free(after_ref);
        free(final_ref);
    }
    json_decref(dump);
}

/* A restore refused at its second alert (the first read and copied
 * already) leaves C as it was: what reading registers (strings, scope
 * tuples, group keys) is invisible. */
static void test_restore_bad_alert_changes_nothing(void **state)
{
    (void)state;
    struct fixture src, f;
    json_t *dump = NULL, *inc = NULL;
    struct qerr err;
    char *before, *after;

    fixture_init(&src, NULL);
    feed_sequence(&src);
    assert_int_equal(correlate_dump(src.c, &dump), 0);
    fixture_cleanup(&src);
    /* incident 0 holds A, B and E */
    inc = json_deep_copy(json_array_get(json_object_get(dump, "incidents"), 0));
    assert_true(json_array_size(json_object_get(inc, "alerts")) >= 2);

    fixture_init(&f, NULL);
    correlate_track_changes(f.c, 1);
    ingest(&f, "alertname=X,service=frontend,namespace=shop", 'f', 1, "g", 1);
    correlate_changes_clear(f.c);
    before = state_text(f.c);
    assert_int_equal(json_object_del(json_array_get(json_object_get(inc, "alerts"), 1),
                                     "status"), 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(correlate_incident_restore(f.c, inc, &err), -1);
    assert_string_equal(err.source, "$.alerts[1]");
    check_consistent(f.c, "bad restore", 0);
    after = state_text(f.c);
    assert_string_equal(after, before);
    assert_int_equal(correlate_delta(f.c)->nupdated, 0);
    free(after);
    /* and the intact incident still restores */
    assert_int_equal(correlate_incident_restore(
                         f.c, json_array_get(json_object_get(dump, "incidents"), 0),
                         &err), 0);
    check_consistent(f.c, "restore", 0);
    free(before);
    json_decref(inc);
    json_decref(dump);
    fixture_cleanup(&f);
}

/* Restoring an incident makes room in the indexes for the keys it has:
 * none when it is closed (a closed incident is not indexed), each
 * distinct entity, service and group once when open - not one per
 * alert, which would stay as capacity for good. Its state then costs
 * what the same incident costs ingested here. The incident's 20000
 * alerts sit on 10 pods of one service, in two groups, so what the
 * ingested one holds for its index is small; room made per alert (two or
 * three map slots, three list slots and spare buffers each) was 1.4x
 * (closed) and 1.5x (open) the ingested size. 1.2x leaves room for
 * capacities rounding to another power of two. */
static void test_restore_makes_index_room_per_key(void **state)
{
    (void)state;
    const int n = 20000;

    for (int open = 0; open < 2; open++) {
        struct fixture f, g;
        json_t *dump = NULL;
        struct qerr err;
        size_t ingested, restored, empty;

        fixture_init(&f, NULL);
        for (int i = 0; i < n; i++) {
            char labels[128];
            snprintf(labels, sizeof labels,
                     "alertname=A%d,pod=cart-%d,service=cart", i, i % 10);
            ingest(&f, labels, open ? 'f' : 'r', 1 + i / 100, i % 2 ? "g" : "h",
                   1 + i / 100);
        }
        if (!open)
            correlate_tick(f.c, 9000000);
        assert_int_equal(correlate_incident_slots(f.c), 1);
        ingested = correlate_bytes(f.c);
        assert_int_equal(correlate_dump(f.c, &dump), 0);

        fixture_init(&g, NULL);
        empty = correlate_bytes(g.c);
        assert_int_equal(correlate_restore(g.c, dump, &err), 0);
        check_consistent(g.c, "restore", 0);
        restored = correlate_bytes(g.c);
        print_message("%s %d-alert incident: %zu bytes ingested, %zu restored "
                      "(empty %zu)\n", open ? "open" : "closed", n, ingested,
                      restored, empty);
        assert_true((restored - empty) * 10 <= (ingested - empty) * 12);
        json_decref(dump);
        fixture_cleanup(&g);
        fixture_cleanup(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouping_table),
        cmocka_unit_test(test_merge_keeps_older_id),
        cmocka_unit_test(test_close_time_and_deadline),
        cmocka_unit_test(test_flapping),
        cmocka_unit_test(test_ids_deterministic),
        cmocka_unit_test(test_marks_entities_seen),
        cmocka_unit_test(test_weak_member_follows_the_graph),
        cmocka_unit_test(test_guesses_restore_alike),
        cmocka_unit_test(test_entity_listed_once),
        cmocka_unit_test(test_dump_restore),
        cmocka_unit_test(test_rescoped_incident_restores),
        cmocka_unit_test(test_weak_member_restores_weak),
        cmocka_unit_test(test_change_log_and_parts),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_lacking_scope_skips_closed_scopes),
        cmocka_unit_test(test_node_across_many_namespaces),
        cmocka_unit_test(test_node_of_one_cluster_among_many),
        cmocka_unit_test(test_pod_service_learnt_late),
        cmocka_unit_test(test_restore_learns_pod_service),
        cmocka_unit_test(test_random_sequences_stay_consistent),
        cmocka_unit_test(test_random_restores_agree),
        cmocka_unit_test(test_oom_ingest_and_tick),
        cmocka_unit_test(test_oom_restore),
        cmocka_unit_test(test_restore_bad_alert_changes_nothing),
        cmocka_unit_test(test_restore_makes_index_room_per_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
