/* engine.h - the pipeline shared by serve and replay: webhook alerts in,
 * correlate into incidents, rank each updated incident, render incidents as
 * report JSON. Playbooks and risk plug in after the rank step.
 *
 * Pure: no I/O, no clock. Every entry point takes the time (ms since the
 * epoch): serve passes the wall clock at receipt, replay the record's
 * received_at. The same calls in the same order give the same incidents,
 * ids, rankings and JSON. A closed incident is ranked as of its close and
 * keeps it; an open one as of the last read (re-ranked when its alerts
 * or the graph changed), so when a reader looks never changes what a
 * closed incident says. */
#ifndef QUENCH_ENGINE_H
#define QUENCH_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "correlate.h"
#include "history.h"
#include "qerr.h"
#include "rules.h"
#include "topology.h"
#include "webhook.h"

struct engine;   /* opaque */

enum engine_event {
    ENGINE_INCIDENT_UPDATED = 0,  /* opened or changed (re-ranked first when
                                   * eager ranking is on) */
    ENGINE_INCIDENT_CLOSED,       /* closed (resolve_quiet passed) */
    ENGINE_INCIDENT_MERGED        /* merged into another; slot now dead */
};

/* Called once per incident and event after each engine_ingest_webhook or
 * engine_tick (serve: persist to quench:incident:<id>, run playbooks).
 * SLOT is valid for correlate_incident/engine_incident_json during the
 * call. The hook must not call back into E's ingest or tick. */
typedef void (*engine_hook)(void *ctx, struct engine *e, uint32_t slot,
                            enum engine_event ev);

/* New engine on T and R (borrowed; T gains run-time entities and must
 * outlive E, as must R). 0 or -1 OOM. */
int engine_new(struct engine **out, struct topology *t, const struct rules *r);
/* Free E. E may be NULL. */
void engine_free(struct engine *e);
/* Set the incident hook (NULL to clear). */
void engine_set_hook(struct engine *e, engine_hook fn, void *ctx);
/* EAGER 1: rank every updated incident before its hook runs (what a
 * consumer that acts on every change, such as playbooks, needs); 0 (the
 * default): rank only when an incident is rendered. Ranking is O(incident),
 * so ranking eagerly after every webhook makes an alert storm's one big
 * incident cost O(n^2); the result is the same either way. */
void engine_set_eager_ranking(struct engine *e, int eager);

/* The string pool to parse webhooks into (the correlation state copies
 * alert strings into it, so sharing it makes that copy free). Borrowed. */
struct intern *engine_pool(struct engine *e);
/* The correlation state, for reading incidents and alerts. Borrowed. */
const struct correlate *engine_correlate(const struct engine *e);
/* The service graph E runs on (engine_new's T). */
const struct topology *engine_topology(const struct engine *e);
struct correlate *engine_correlate_mut(struct engine *e);
/* The history of closed incidents behind recurrence (history.h), for serve
 * to persist (history_dump) and restore at start (history_restore, before
 * the first ingest). Borrowed, valid until engine_free. */
struct history *engine_history(struct engine *e);

/* Take every alert of WH, received at RECEIVED_AT. WH is only read. The
 * number of alerts that changed something, or -1 with ERR describing the
 * first alert that could not be taken (a cap of limits.h, OOM); the others
 * are still taken, and incidents that came due close (and fire the hook)
 * even when the alert that closed them failed. */
int engine_ingest_webhook(struct engine *e, const struct webhook *wh,
                          int64_t received_at, struct qerr *err);
/* Advance to NOW: close due incidents. Number closed. */
size_t engine_tick(struct engine *e, int64_t now);

/* Serve's housekeeping (replay never prunes): release the incidents that
 * closed before CLOSED_BEFORE, every merged-away slot, the alerts they
 * held, and the engine's rank and class state for them, so memory follows
 * the live incidents rather than everything ever seen. Released ids no
 * longer resolve (engine_find -1) and their slots are reused; a later
 * alert with a released fingerprint opens a fresh incident. Rankings of
 * the incidents kept are unchanged. The string pool is not shrunk (see
 * docs/operations.md, memory). Not from inside the hook. Number of closed
 * incidents released (merged slots not counted). */
size_t engine_prune(struct engine *e, int64_t closed_before);

/* Live incidents (open and closed, not merged) sorted by opened_at, then
 * id, into a new array *slots of *n (caller frees). 0 or -1 OOM. */
int engine_list(const struct engine *e, uint32_t **slots, size_t *n);
/* Slot of incident ID (a merged id leads to its survivor), or -1. */
int64_t engine_find(const struct engine *e, const char *id);

/* Incident SLOT in the replay report format (DESIGN.md, contract): id,
 * opened_at, closed_at, alert_count, fingerprints (sorted), entities
 * (sorted by kind, then name), root_causes (best first), proposals. Keys
 * in that order. New reference, or NULL if SLOT is not live or on OOM.
 * Dump with JSON_REAL_PRECISION(6) for stable, short numbers. */
json_t *engine_incident_json(const struct engine *e, uint32_t slot);

#endif
