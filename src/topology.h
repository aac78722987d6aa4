/* topology.h - the service graph from rules/services.yaml plus the pods,
 * nodes and unknown services met in alerts.
 *
 * Edges point from dependent to dependency ("caller -> callee"): a service
 * to what it calls and uses, a service to each of its pods, a pod to the
 * node it runs on. Faults travel against the edges (node -> pod ->
 * service -> callers). Entities are numbered 0..count-1 in the order they
 * were added, so the same inputs give the same ids (replay relies on it).
 * Adjacency is stored in compact arrays, both directions. */
#ifndef QUENCH_TOPOLOGY_H
#define QUENCH_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"   /* enum entity_kind */
#include "qerr.h"

struct topology;     /* opaque */

enum criticality { CRIT_LOW = 0, CRIT_MEDIUM, CRIT_HIGH };

/* What services.yaml says about a service-like entity (defaults for pods,
 * nodes and services seen only in alerts). Strings borrowed until
 * topology_free. */
struct topology_entity {
    enum entity_kind kind;
    const char *name;
    enum criticality criticality;
    const char *namespace_;       /* "" when none */
    const char *workload_kind;    /* e.g. "Deployment"; "" for pods, nodes */
    const char *workload_name;    /* "" for pods, nodes */
    int declared;                 /* 1 if from services.yaml */
};

/* Load and validate PATH into *out. DEFAULT_NS fills namespace when a
 * service has none (may be NULL). 0, or -1 with *out NULL and ERR naming
 * file:line:column. Unknown keys, bad kinds, edges to undeclared services
 * and duplicate names are errors. */
int topology_load(struct topology **out, const char *path,
                  const char *default_ns, struct qerr *err);
/* Same from a buffer; SOURCE names it in errors. */
int topology_load_buf(struct topology **out, const char *buf, size_t len,
                      const char *source, const char *default_ns,
                      struct qerr *err);
/* An empty graph (replay without services.yaml). 0 or -1 OOM. */
int topology_new_empty(struct topology **out);
/* Free T and all it owns. T may be NULL. */
void topology_free(struct topology *t);

/* Number of entities. */
uint32_t topology_count(const struct topology *t);

/* When alerts named an entity: the earliest and latest times recorded by
 * topology_seen; {INT64_MAX, INT64_MIN} if never (declared entities that
 * never alerted). Pods get new names at every rollout and the graph keeps
 * the old ones, so rank counts a service's or node's pods only if their
 * span reaches the incident (rank.c, LIVE_MS). */
struct topology_span {
    int64_t first, last;    /* ms since the epoch */
};
/* Widen ID's span to cover [FROM_MS, TO_MS] (an alert's startsAt and the
 * time it was received). Out of range ids are ignored. */
void topology_seen(struct topology *t, uint32_t id, int64_t from_ms, int64_t to_ms);
/* ID's span; the "never" span for out-of-range ids. */
struct topology_span topology_seen_span(const struct topology *t, uint32_t id);
/* A counter that moves whenever an entity or edge is added, or a span
 * changes in a way that can change a ranking (a first sighting, or a last
 * one QUENCH_RANK_LIVE_MS or more after the previous): the engine
 * recomputes a cached ranking of an open incident when it moved. */
uint64_t topology_version(const struct topology *t);
/* Id of KIND/NAME, or -1. Service-like kinds share one name space: looking
 * up ENTITY_SERVICE finds a database of that name too. */
int32_t topology_find(const struct topology *t, enum entity_kind kind,
                      const char *name);
/* Find KIND/NAME or add it as an isolated entity. Id, or -1 on OOM or past
 * QUENCH_MAX_ENTITIES. NAME is copied. */
int32_t topology_intern(struct topology *t, enum entity_kind kind,
                        const char *name);
/* Add edge FROM -> TO (dependent -> dependency) if absent. 0, or -1. */
int topology_link(struct topology *t, uint32_t from, uint32_t to);

/* Kind of entity ID, ENTITY_KIND_COUNT if out of range. Cheaper than
 * topology_entity(t, id)->kind: one byte from a dense array, which stays
 * in cache where the entities do not (rank reads the kind of every pod it
 * scans). */
enum entity_kind topology_kind(const struct topology *t, uint32_t id);
/* Entity ID, borrowed until topology_free; NULL if out of range. */
const struct topology_entity *topology_entity(const struct topology *t,
                                              uint32_t id);
/* Dependencies of ID (edges ID -> x) into *ids; count returned. Borrowed
 * until the next topology_intern/topology_link. */
size_t topology_out(const struct topology *t, uint32_t id, const uint32_t **ids);
/* Dependents of ID (edges x -> ID). Same lifetime. */
size_t topology_in(const struct topology *t, uint32_t id, const uint32_t **ids);

/* The service POD belongs to (its first service-like dependent), or -1 if
 * POD is not a pod or has none. */
int32_t topology_pod_service(const struct topology *t, uint32_t pod);

/* Up to CAP ids within HOPS of ID (edges taken in both directions) into
 * OUT, nearest first, ID itself first. Count written, or -1 if ID is out of
 * range. Does not allocate. */
int topology_neighbours(const struct topology *t, uint32_t id, unsigned hops,
                        uint32_t *out, size_t cap);

/* Flags for topology_neighbours_ex. */
#define TOPOLOGY_SKIP_SERVICE_PODS 1u   /* do not step from a service to its
                                           pods: a service of 30k pods would
                                           fill OUT with them */
/* topology_neighbours with FLAGS. */
int topology_neighbours_ex(const struct topology *t, uint32_t id,
                           unsigned hops, unsigned flags, uint32_t *out,
                           size_t cap);

#endif
