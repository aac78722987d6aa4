/* history.h - which (entity, alertname) pairs recent incidents held, so the
 * ranking can tell an entity that alerts at every incident's onset ("that
 * always fires") from a new anomaly.
 *
 * When an incident closes, the engine records the set of pairs it held
 * with the close time. A lookup answers in how many distinct incidents
 * closed within the horizon before `now` the pair appeared, and how many
 * incidents closed in that horizon at all. Pairs are by name only (scope,
 * namespace and kind are not part of the key): a name is what a person
 * recognises as "the same thing again".
 *
 * Bounded (QUENCH_HISTORY_* in limits.h: the oldest incidents are forgotten
 * first), deterministic; a lookup is a hash of the pair and two binary
 * searches over its close times, exact for any `now`, past or present.
 * Pods are remembered by their owner: history_entity_name gives the name a
 * caller records and looks up, so a background that lives on "the pods of
 * cartservice" survives a rollout that renames every pod.
 *
 * Pure: no I/O, no clock; every time is an argument (ms since the epoch).
 * The store is a timeline: a record older than the newest one is placed
 * at the newest time. */
#ifndef QUENCH_HISTORY_H
#define QUENCH_HISTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "qerr.h"
#include "topology.h"

struct history;     /* opaque */

struct history_config {
    int64_t window_ms;          /* horizon: incidents closed in
                                 * (now - window_ms, now] count; > 0 */
    unsigned min_incidents;     /* a pair seen in fewer of them is new */
};

struct history_pair {
    const char *entity;         /* entity name; not kept after the call */
    const char *alertname;      /* may be NULL (counts as "") */
};

struct history_hits {
    uint32_t seen;              /* incidents within the horizon holding the
                                 * pair */
    uint32_t of;                /* incidents closed within the horizon */
};

/* New empty store with CFG (copied) into *out. 0, or -1 on OOM or a
 * window_ms <= 0 (*out NULL). */
int history_new(struct history **out, const struct history_config *cfg);
/* The name entity ID of T is remembered under: its own name, or for a pod
 * of a service "pods of <service>". Pod names churn (a Deployment's pods
 * get new suffixes on every restart and rollout), so a pair keyed by the
 * pod would be forgotten at each one; by the owner it is not, and one
 * replica's background is its siblings' too (docs/ranking.md, History).
 * The name is written to BUF (N bytes, truncated) when it is built, else
 * the entity's own name is returned; NULL if ID is not in T. */
const char *history_entity_name(const struct topology *t, uint32_t id,
                                char *buf, size_t n);

/* Free H. H may be NULL. */
void history_free(struct history *h);

/* Record one closed incident: the distinct pairs of PAIRS[0..n) (repeats
 * count once) at CLOSED_AT (raised to the newest recorded close time if
 * older). Forgets the oldest incidents as the caps require. 0; -1 with ERR
 * on OOM or more than QUENCH_HISTORY_MAX_INCIDENT_PAIRS distinct pairs
 * (nothing recorded; the store is unchanged and usable). */
int history_record(struct history *h, int64_t closed_at,
                   const struct history_pair *pairs, size_t n,
                   struct qerr *err);

/* How often ENTITY/ALERTNAME appeared in incidents closed within the
 * horizon before NOW, into *out. Never fails; an unknown pair is 0. */
void history_lookup(const struct history *h, const char *entity,
                    const char *alertname, int64_t now,
                    struct history_hits *out);

/* Recurrence of the pair at NOW in [0, 1): seen / (seen + 1) once seen
 * reaches min_incidents, else 0. 0 = new; towards 1 the more recent
 * incidents held it (docs/ranking.md has why a count and not seen / of).
 * HITS (may be NULL) receives the lookup behind it. */
double history_recurrence(const struct history *h, const char *entity,
                          const char *alertname, int64_t now,
                          struct history_hits *hits);

/* Incidents and distinct pairs currently remembered. */
size_t history_incidents(const struct history *h);
size_t history_pairs(const struct history *h);

/* The store as JSON, oldest incident first:
 *   {"version": 1, "incidents": [{"closed_at": MS,
 *                                 "pairs": [[entity, alertname], ...]}]}
 * New reference, or NULL on OOM. Restoring it into a store with the same
 * caps reproduces every lookup exactly. */
json_t *history_dump(const struct history *h);

/* Replace H's contents with dump J (H's config stays). 0; -1 with ERR on
 * a malformed dump or OOM, H unchanged. Records past the caps are
 * forgotten oldest first, as if recorded live. */
int history_restore(struct history *h, const json_t *j, struct qerr *err);

#endif
