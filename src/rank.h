/* rank.h - causal root-cause ranking for one incident.
 *
 * A struct rank is the ranking state of one incident. The engine feeds it
 * the incident's alerts as they arrive or change (rank_update), then asks
 * for a ranking (rank_compute) and reads the causes back (rank_cause).
 * The state keeps per-entity aggregates only, so an update is O(1) and a
 * compute costs time proportional to the incident (its entities and their
 * direct neighbours), never to the whole graph. Computing after every
 * update gives exactly what one compute after all updates gives.
 *
 * Candidates are every entity with an alert in the incident plus their
 * direct dependencies (topology_out), alerting or silent, so a database
 * without an exporter can still be named. The method and its weights are
 * in docs/ranking.md. Pure: no I/O, no clock, deterministic. */
#ifndef QUENCH_RANK_H
#define QUENCH_RANK_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"      /* enum entity_kind */
#include "qerr.h"
#include "topology.h"

struct rank;    /* opaque, one per incident */

/* The class an alert's alertname has in correlation.yaml `alert_kinds`:
 * a cause-type alert (resource, saturation, crash) tends to sit on the
 * faulty entity, a symptom-type one (latency, errors) on its dependents. */
enum rank_class { RANK_NEUTRAL = 0, RANK_CAUSE, RANK_SYMPTOM };

enum rank_severity { RANK_SEV_INFO = 0, RANK_SEV_WARNING, RANK_SEV_CRITICAL };

/* One alert as the ranker sees it. Copied by rank_update: nothing here is
 * kept after the call returns. */
struct rank_alert {
    uint64_t key;               /* identity, e.g. the fingerprint */
    uint32_t entity;            /* topology id of what the alert is about */
    int64_t starts_at;          /* ms since the epoch (startsAt, not receipt) */
    int firing;                 /* 1 firing, 0 resolved */
    enum rank_class cls;        /* from alert_kinds; RANK_NEUTRAL if none */
    double weight;              /* from alert_kinds, >= 0; 1.0 if none */
    enum rank_severity severity;
    const char *alertname;      /* for evidence; may be NULL */
    /* How much of an "it always fires" background the alert's (entity,
     * alertname) pair is, from history_recurrence: 0 = new (the default:
     * rankings are then exactly what they are without history), 1 = held
     * by every recent incident. The group's surprise is scaled by
     * 1 - weight * recurrence (rank_set_recurrence_weight; weight 0, the
     * default, ignores this field). */
    double recurrence;
    uint32_t recur_seen, recur_of;  /* for evidence: fired in SEEN of the
                                     * last OF incidents (history_hits) */
    /* The alerting rule's `for` (rules_rule_for), ms: Prometheus sets
     * startsAt when the alert fires, this long after its condition began,
     * so the onset rank reasons with is starts_at - for_ms. 0: startsAt
     * is the onset. */
    int64_t for_ms;
};

/* One ranked cause. Strings and arrays are owned by the rank state and
 * valid until the next rank_compute, rank_update or rank_free. */
struct rank_cause {
    uint32_t entity;            /* topology id */
    enum entity_kind kind;
    const char *name;           /* entity name */
    const char *service;        /* service a pod belongs to; else the
                                 * entity's own name if service-like, else
                                 * NULL (nodes) */
    double score;               /* > 0; comparable within one ranking */
    double confidence;          /* calibrated 0..1: the observed share of
                                 * rankings whose top cause with this
                                 * confidence was right (docs/ranking.md) */
    size_t nevidence;
    const char *const *evidence; /* human sentences, most telling first */
    size_t npath;
    const uint32_t *path;       /* topology ids from this cause towards the
                                 * symptoms it explains, cause first */
};

/* New empty state for an incident on T into *out. T is borrowed and must
 * outlive the state; entities and edges may be added to T between calls.
 * 0, or -1 on OOM. */
int rank_new(struct rank **out, const struct topology *t);

/* Free R. R may be NULL. */
void rank_free(struct rank *r);

/* How strongly recurrence damps a group's surprise: the share removed
 * from a group that recurs in every recent incident (correlation.yaml
 * history.weight; the engine passes it). Clamped to [0, 1]; 0 until set,
 * so a caller that never sets it ranks exactly as without history, and
 * rank_alert.recurrence is then not used at all. Takes effect at the next
 * rank_compute. */
void rank_set_recurrence_weight(struct rank *r, double weight);

/* Add alert A, or replace the alert with the same key (status change,
 * re-fire). 0; -1 with ERR if A->entity is not in the topology or the
 * incident holds QUENCH_MAX_RANK_ALERTS alerts (the alert is then left
 * out of the ranking; the state stays usable). */
int rank_update(struct rank *r, const struct rank_alert *a,
                struct qerr *err);

/* Number of alerts the state holds. */
size_t rank_alert_count(const struct rank *r);

/* Rank the candidates. Afterwards rank_count/rank_cause read the result,
 * best first; ties break by topology id. 0, or -1 on OOM (with ERR; the
 * previous result is then gone and rank_count is 0). */
int rank_compute(struct rank *r, struct qerr *err);

/* Causes of the last rank_compute: at most QUENCH_RANK_MAX_CAUSES. */
size_t rank_count(const struct rank *r);

/* Cause I (0 = best), borrowed as described above; NULL if out of range. */
const struct rank_cause *rank_cause(const struct rank *r, size_t i);

/* Parse a severity label ("critical", "error", "page" -> critical;
 * "info", "none" -> info; anything else or NULL -> warning). */
enum rank_severity rank_severity_parse(const char *s);

#endif
