/* correlate.h - active alerts and incidents: open, join, merge, resolve,
 * flap, close. Semantics in docs/correlation.md.
 *
 * Alerts are keyed by fingerprint. A notification (fingerprint, startsAt,
 * status) seen before is a no-op; an older startsAt than the one held is
 * stale and ignored; a firing that arrives after the resolved of the same
 * startsAt does not reopen. A new alert joins an open incident with the same
 * scope label values (a value one side lacks does not separate: a node's
 * or a trace alert's missing namespace) when, within `window` of the
 * incident's last activity, its entity is within `topology_hops` of one of the incident's
 * entities, or - for an alert no label places on the graph - it came in
 * the same Alertmanager group (groupKey) as one of the incident's alerts.
 * (Groups such as {alertname} span unrelated systems; where the graph can
 * speak it decides: docs/correlation.md has the measurement.) When it
 * could join several, they merge into the oldest (earliest opened_at, then
 * smallest id). An incident closes `resolve_quiet` after its last firing
 * alert resolved; closed_at is that deadline, so it does not depend on how
 * often the caller ticks.
 *
 * Pure: no I/O, no clock. Time is passed in (ms since the epoch) and never
 * goes back: an earlier `now` than one already seen counts as the latest.
 * Incident ids are "inc-" + 16 hex digits of a hash of the scope values,
 * the first alert's fingerprint and its startsAt: the same input gives the
 * same ids. Incidents and alerts are addressed by slot numbers that stay
 * valid until correlate_prune releases them. */
#ifndef QUENCH_CORRELATE_H
#define QUENCH_CORRELATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "qerr.h"
#include "rules.h"
#include "topology.h"

struct correlate;   /* opaque */

/* "inc-" + 16 hex digits + NUL. */
#define CORRELATE_ID_SIZE 21
/* closed_at of an open incident. */
#define CORRELATE_NO_TIME INT64_MIN

enum correlate_state { CORRELATE_OPEN = 0, CORRELATE_CLOSED, CORRELATE_MERGED };

/* What one correlate_ingest did with the notification. */
enum correlate_outcome {
    CORRELATE_IGNORED = 0,  /* duplicate or stale: nothing changed */
    CORRELATE_OPENED,       /* new alert, opened a new incident */
    CORRELATE_JOINED,       /* new alert (or new episode), joined one */
    CORRELATE_MERGED_INTO,  /* new alert that linked incidents: merged */
    CORRELATE_UPDATED       /* known alert changed status or refired */
};

/* New state on T and R into *out. T gains the pods, nodes and services
 * alerts name (T and R are borrowed and must outlive the state). Strings of
 * ingested alerts are copied into the state's own pool. 0 or -1 OOM. */
int correlate_new(struct correlate **out, struct topology *t,
                  const struct rules *r);
/* Free C and all it owns. C may be NULL. */
void correlate_free(struct correlate *c);
/* The string pool alerts are copied into; parsing webhooks into it makes
 * that copy a lookup. Borrowed until correlate_free. */
struct intern *correlate_pool(struct correlate *c);

/* Take one alert notification A received at NOW, from the Alertmanager
 * group GROUP_KEY (may be NULL). A is only read. Closes due incidents
 * first (as correlate_tick(NOW)). The outcome, or -1 with ERR when a cap
 * of limits.h is reached or memory runs out (nothing changed then, apart
 * from incidents closed and the clock: every view, dump, deadline and the
 * change log are as before; T may have learnt the alert's entities and
 * the pool its strings). */
int correlate_ingest(struct correlate *c, const struct alert *a,
                     const char *group_key, int64_t now, struct qerr *err);
/* Close the incidents due at NOW. Number closed. Each close is whole; if
 * memory runs out, the rest stay due (correlate_next_deadline <= NOW) for
 * the next call. */
size_t correlate_tick(struct correlate *c, int64_t now);
/* Earliest pending close deadline, or CORRELATE_NO_TIME if none. */
int64_t correlate_next_deadline(const struct correlate *c);

/* Incidents the last correlate_ingest/correlate_tick/correlate_restore*
 * touched. Arrays borrowed until the next of those calls. */
struct correlate_delta {
    const uint32_t *updated;   /* opened or content changed (the survivor
                                * of a merge included), no repeats */
    size_t nupdated;
    const uint32_t *merged;    /* merged away into an updated one */
    size_t nmerged;
    const uint32_t *closed;    /* closed */
    size_t nclosed;
    const uint32_t *moved;     /* alert slots that left another incident
                                * for an updated one (a guess replaced:
                                * correlation.md, weak members); both
                                * incidents are in updated */
    size_t nmoved;
};
const struct correlate_delta *correlate_delta(const struct correlate *c);

/* ---- reading ------------------------------------------------------------ */

/* A read-only view of one incident. Pointers borrowed until the next call
 * that changes C. */
struct correlate_incident {
    const char *id;
    enum correlate_state state;
    uint32_t merged_into;          /* CORRELATE_MERGED: the survivor's slot */
    int64_t opened_at;             /* `now` of the alert that opened it */
    int64_t closed_at;             /* or CORRELATE_NO_TIME */
    int64_t last_activity;         /* last join, status change or refire */
    uint32_t nfiring;
    size_t nalerts;
    const uint32_t *alerts;        /* alert slots, in join order */
    size_t nentities;
    const uint32_t *entities;      /* topology ids, in join order */
    size_t nscope;
    const char *const *scope;      /* values of rules->scope ("" if absent) */
};

/* A read-only view of one alert in an incident. */
struct correlate_alert {
    const struct alert *alert;     /* the latest notification (labels,
                                    * annotations, startsAt, status) */
    int32_t entity;                /* topology id, -1 if none */
    uint32_t incident;             /* slot of its incident */
    int64_t joined_at;             /* `now` when it joined */
    int64_t changed_at;            /* `now` of its last change */
    uint32_t refires;              /* episodes after the first */
    int flapping;                  /* per rules->flap */
    uint32_t position;             /* index in its incident's alerts; fixed
                                    * until it moves (merge) */
};

/* Number of incident slots (0..n-1; some may be free after a prune). */
uint32_t correlate_incident_slots(const struct correlate *c);
/* View of incident SLOT into *out. 0, or -1 if SLOT is free or out of range. */
int correlate_incident(const struct correlate *c, uint32_t slot,
                       struct correlate_incident *out);
/* Slot of the incident with ID (a merged id gives its own slot), or -1. */
int64_t correlate_find(const struct correlate *c, const char *id);
/* View of alert SLOT into *out. 0 or -1. */
int correlate_alert(const struct correlate *c, uint32_t slot,
                    struct correlate_alert *out);
/* Slot of the newest alert with fingerprint FP, or -1. */
int64_t correlate_alert_find(const struct correlate *c, uint64_t fp);
/* Alerts held (all incidents, closed ones included). */
size_t correlate_alert_count(const struct correlate *c);
/* Bytes C holds (tables, alert copies, incidents; the pool included). */
size_t correlate_bytes(const struct correlate *c);

/* Release closed incidents whose closed_at < BEFORE, and merged slots,
 * with their alerts (serve's housekeeping; replay never prunes). Their
 * slots and ids become free. Number of incidents released. */
size_t correlate_prune(struct correlate *c, int64_t before);

/* ---- persistence -------------------------------------------------------- */

/* The state of incident SLOT as a JSON object (new reference; NULL if the
 * slot is free or merged, or on OOM). Compact enough for a Redis hash
 * field: json_dumps(x, JSON_COMPACT). */
json_t *correlate_incident_dump(const struct correlate *c, uint32_t slot);
/* The same without "alerts": what correlate_incident_dump holds besides
 * them (new reference; NULL as above). */
json_t *correlate_incident_dump_header(const struct correlate *c, uint32_t slot);
/* Alert SLOT's record exactly as it appears in its incident's dump
 * ("alerts"[position]); new reference, NULL if the slot is free or OOM.
 * The header plus every alert of the incident, in position order, as
 * "alerts" is a correlate_incident_dump. */
json_t *correlate_alert_dump(const struct correlate *c, uint32_t slot);
/* Re-create one incident from correlate_incident_dump output into C, which
 * must not hold its id or alerts with a newer startsAt. Entities are
 * resolved again from the alert labels. 0, or -1 with ERR (source = JSON
 * path) on malformed state, a cap of limits.h or OOM: nothing changed then
 * (as for correlate_ingest, T and the pool aside). */
int correlate_incident_restore(struct correlate *c, const json_t *state,
                               struct qerr *err);
/* Every open and closed incident: {"version":1,"clock":ms,"incidents":[..]}
 * into *out (new reference). 0 or -1 OOM. */
int correlate_dump(const struct correlate *c, json_t **out);
/* Load correlate_dump output into an empty C. 0 or -1 with ERR; C then
 * holds the incidents before the one ERR names, each whole. */
int correlate_restore(struct correlate *c, const json_t *state,
                      struct qerr *err);

/* ---- change log (incremental persistence) --------------------------------
 * Off by default (replay never reads it). With ON, C remembers every alert
 * slot whose correlate_alert_dump changes or that moves to another incident
 * (joined, updated, moved by a merge, restored), so a store can rewrite
 * those alone. Slots may repeat, and may have been released or reused
 * since (look them up again). *LOST is 1 when an entry could not be
 * recorded (OOM) since the last clear: then rewrite everything. The array
 * is borrowed until the next call that changes C. */
void correlate_track_changes(struct correlate *c, int on);
const uint32_t *correlate_changes(const struct correlate *c, size_t *n,
                                  int *lost);
/* Alerts that left an incident other than by a merge (a weak member that
 * went where the graph placed its entity), logged with the changes and
 * cleared with them: the store deletes ALERT's record under FROM (an
 * incident id) before it writes the changes. A lost entry sets *LOST of
 * correlate_changes. Borrowed like the changes. */
struct correlate_move {
    uint32_t alert;                /* its alert slot now */
    uint64_t fingerprint;          /* its record's key there */
    char from[CORRELATE_ID_SIZE];  /* the incident it left */
};
const struct correlate_move *correlate_moves(const struct correlate *c,
                                             size_t *n);
void correlate_changes_clear(struct correlate *c);

#ifdef QUENCH_UNITTESTS
/* Test builds only: 0 if C's indexes agree with its incidents and alerts
 * (emap, pmap, gmap and their dense arrays, fpmap, idmap, positions,
 * nfiring, close deadlines), else -1 with ERR naming the first thing
 * wrong. Cost is linear in everything C holds. */
int correlate_check(const struct correlate *c, struct qerr *err);
/* Test builds only: the work alerts lacking a scope value made so far
 * (cross_scope_candidates, and the scope-wide join of a node no known pod
 * runs on): scopes looked at (those with an open incident, never the
 * closed ones), and index look-ups plus the incidents read under
 * `across`. */
void correlate_cross_work(const struct correlate *c, uint64_t *scopes,
                          uint64_t *lookups);
#endif

#endif
