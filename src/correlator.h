/* correlator.h - serve's correlation edge: consumes the archive stream
 * quench:archive with the consumer group "correlator" (PROTOCOLS.md 4.1)
 * on a Redis connection of its own, feeds each entry to the engine with
 * the entry's received_at, persists every incident the engine changes to
 * quench:incident:<id> (index set quench:incidents) and acknowledges the
 * entries only after those writes are confirmed: a crash re-reads, never
 * loses. The hash holds the incident's header in field state and one
 * field per alert (CORRELATOR_ALERT_FIELD + fingerprint); a round writes
 * the headers of the changed incidents and the alerts that changed, not
 * whole incidents (correlator.c, incremental writes). An incident stored
 * whole in state (the earlier format) is restored and rewritten. A 1 s
 * timer advances the engine on the wall clock so incidents close on time;
 * a housekeeping timer (prune_every_ms) drops incidents closed more than
 * closed_ttl_ms ago from memory and Redis (engine_prune).
 * An entry delivered CORRELATOR_MAX_DELIVERIES times without an XACK is
 * moved to CORRELATOR_DEADLETTER instead of being correlated again.
 *
 * The engine's history of closed incidents (history.h, behind recurrence
 * in the ranking) is persisted too: quench:history holds history_dump's
 * JSON, rewritten in the same MULTI/EXEC as the incident writes of every
 * round that follows a close, so Redis never holds an incident as closed
 * without the history holding its close, nor the reverse.
 *
 * On start it restores the history and the incidents held in Redis into
 * the engine, then re-reads this consumer's pending entries, claims
 * entries other consumers left idle, and finally reads new ones. After a
 * disconnect it resumes the same way (the engine in memory stays
 * authoritative; no second restore).
 *
 * The group is created at id 0, not $: an archive written before the first
 * correlator ran (or while a new deployment started: ingest and correlator
 * connect independently, so an XADD can win the race against XGROUP
 * CREATE) is correlated rather than silently skipped. That costs at most
 * one pass over the retained archive on the very first start. */
#ifndef QUENCH_CORRELATOR_H
#define QUENCH_CORRELATOR_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "qerr.h"
#include "redis_ev.h"

#define CORRELATOR_GROUP "correlator"
#define CORRELATOR_INCIDENT_PREFIX "quench:incident:"
#define CORRELATOR_INDEX "quench:incidents"
/* Field of quench:incident:<id> holding one alert's record: this prefix
 * and the fingerprint (16 hex digits). */
#define CORRELATOR_ALERT_FIELD "a:"
/* history_dump JSON of the engine's history; no expiry (bounded by
 * QUENCH_HISTORY_* in limits.h). A malformed value is logged and ignored
 * at start. */
#define CORRELATOR_HISTORY "quench:history"
/* Archive entries delivered this often without an XACK (processing failed,
 * or the process died on them) are moved here instead of a further
 * delivery: fields id, reason, deliveries, then the entry's own. */
#define CORRELATOR_DEADLETTER "quench:deadletter"
#define CORRELATOR_MAX_DELIVERIES 5
/* How long a closed incident stays: listed by the API, kept in memory,
 * kept in Redis (PEXPIRE). One value for all three, so what a restart
 * restores is what the API showed before it. */
#define CORRELATOR_CLOSED_TTL_MS (7LL * 24 * 3600 * 1000)

struct ev_loop;
struct correlator;   /* opaque */

/* Zero fields take the default shown. */
struct correlator_options {
    const char *consumer;       /* group member name (copied); "quench" */
    int64_t claim_idle_ms;      /* XAUTOCLAIM entries idle this long; 60 s */
    int64_t closed_ttl_ms;      /* PEXPIRE of closed and merged incidents,
                                 * and how long after closing they are
                                 * pruned from memory;
                                 * CORRELATOR_CLOSED_TTL_MS */
    int64_t prune_every_ms;     /* housekeeping period (engine_prune, lag);
                                 * 60 s */
    unsigned block_ms;          /* XREADGROUP BLOCK; 2000 */
    unsigned batch;             /* XREADGROUP / XAUTOCLAIM COUNT; 100 */
    int64_t (*clock_ms)(void);  /* wall clock for the tick; CLOCK_REALTIME */
};

/* New correlator driving E (borrowed; must outlive it; its hook is taken
 * over) with a connection of its own to CONN (strings copied) on LOOP.
 * Does nothing until correlator_start. 0, or -1 with ERR (OOM). */
int correlator_new(struct correlator **out, struct ev_loop *loop,
                   const struct redis_ev_options *conn, struct engine *e,
                   const struct correlator_options *o, struct qerr *err);

/* Connect and run until correlator_free. */
void correlator_start(struct correlator *c);

/* Stop timers, drop the connection (writes in flight are abandoned; their
 * entries stay pending and are re-read by the next start), free. Not from
 * inside a loop callback of C's own. C may be NULL. */
void correlator_free(struct correlator *c);

struct correlator_status {
    int connected;              /* its Redis connection is up */
    int restored;               /* incident state loaded from Redis */
    int caught_up;              /* pending and claimable entries done; now
                                 * reading new ones */
    unsigned long entries;      /* stream entries taken */
    unsigned long skipped;      /* of those, unparsable or deleted: acked */
    unsigned long parse_failures;     /* of the skipped, not a valid webhook
                                       * or lacking received_at/body */
    unsigned long acked;        /* entries acknowledged (XACK confirmed) */
    unsigned long dead_letters; /* entries moved to CORRELATOR_DEADLETTER */
    unsigned long restored_incidents;
    unsigned long restored_history;   /* closed incidents in the history
                                       * restored from Redis */
    unsigned long persist_failures;   /* batches whose writes failed */
    unsigned long persist_rounds;     /* write-then-ack rounds started (a
                                       * burst coalesces many batches into
                                       * one) */
    unsigned long persisted_alerts;   /* alert records written by confirmed
                                       * rounds (only the changed ones) */
    unsigned long rewritten_old_format; /* restored incidents (old format
                                         * or damaged) queued to be
                                         * written whole */
    unsigned long pruned;       /* closed incidents dropped from memory */
    unsigned long incidents_open;     /* now, in the engine */
    unsigned long incidents_closed;   /* now, in the engine (within the TTL) */
    long long lag;              /* archive entries not yet delivered to the
                                 * group (XINFO GROUPS, refreshed by the
                                 * housekeeping); -1 unknown */
    unsigned long entities;     /* in the service graph: services.yaml's and
                                 * every pod, node and service alerts named
                                 * since the start (never dropped; past
                                 * QUENCH_MAX_ENTITIES new ones get none) */
};
void correlator_status(const struct correlator *c, struct correlator_status *out);

/* 1 when connected, restored and caught up, else 0. */
int correlator_ready(const struct correlator *c);

/* Slot of incident ID in the engine, following merges, including merges
 * recorded before a restart; -1 if unknown. */
int64_t correlator_find(const struct correlator *c, const char *id);

/* ---- serve wiring ---------------------------------------------------------
 * One call site for main.c: the rules, the engine, the correlator and the
 * incidents API, built and freed together. */

struct config;
struct http_route;
struct correlator_serve;   /* opaque */

/* Routes correlator_serve_routes writes. */
#define CORRELATOR_SERVE_NROUTES 2

/* Load CFG->rules_dir/correlation.yaml (absent: defaults) and
 * services.yaml (absent: empty graph), make the engine, a correlator on
 * CONN (consumer CFG->consumer_name) on an event loop of its own, and the
 * API (bearer CFG->auth.api_bearer_token). CFG must outlive *out. 0, or
 * -1 with ERR (file:line:column for a broken rules file). */
int correlator_serve_new(struct correlator_serve **out,
                         const struct config *cfg,
                         const struct redis_ev_options *conn, struct qerr *err);
/* The API routes into OUT[0..cap), wrapped so they run with the
 * correlator's thread locked out. Number written, or -1 if CAP is too
 * small. They point into S: free the HTTP server before S. */
int correlator_serve_routes(struct correlator_serve *s, struct http_route *out,
                            size_t cap);
/* Start consuming on a thread of its own (it connects). 0, or -1 with
 * ERR. From here on, S's correlator, engine and topology belong to that
 * thread: read them only through the routes and correlator_serve_status. */
int correlator_serve_start(struct correlator_serve *s, struct qerr *err);
/* The correlator's status (correlator_status), taken under its lock. */
void correlator_serve_status(struct correlator_serve *s,
                             struct correlator_status *out);
/* Stop the thread (an unfinished round of writes is dropped: its entries
 * stay pending and are read again at the next start), then free all of
 * it. S may be NULL. */
void correlator_serve_free(struct correlator_serve *s);

#endif
