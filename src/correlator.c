/* correlator.c - the archive stream's consumer in serve: XREADGROUP ->
 * engine -> persist changed incidents -> XACK.
 *
 * The invariant: an entry is acknowledged only after every incident it
 * changed (and everything else dirty at that moment) has been written to
 * Redis and Redis confirmed it. Re-ingesting an entry is a no-op in
 * correlate (a notification seen before changes nothing), so after a crash
 * the pending entries are simply read again: if their effects were
 * persisted they change nothing, if not they are applied now.
 *
 * The history of closed incidents (engine_history) rides on the same
 * rounds: a close dirties it, and the round that writes the closed
 * incident rewrites quench:history (history_dump) inside the same
 * MULTI/EXEC. Redis applies a transaction whole (and logs it whole in the
 * AOF), so what it holds is always one moment of the engine: an incident
 * stored closed is in the stored history, an incident stored open is not.
 * After a crash the tick closes the incidents stored open again, at the
 * same closed_at (it derives from their alerts, not from the clock), and
 * records them then, once: the history equals an uninterrupted run's. Two
 * writes without a transaction could leave a close stored without its
 * history record (lost from recurrence for good: a restored closed
 * incident never closes again) or the reverse (recorded twice).
 *
 * One chain of commands at a time, strictly sequential, on a connection of
 * our own (a blocking XREADGROUP would stall anyone sharing it):
 *
 *   connect -> XGROUP CREATE -> (first time) restore: GET quench:history,
 *     then the incidents -> pending (XPENDING
 *     for delivery counts, then id <last>...) -> XAUTOCLAIM sweep -> new
 *     (">", BLOCK) -> new -> ... (a sweep again every claim_idle_ms)
 *
 * and after every read: ingest the batch, persist the dirty incidents,
 * XACK the batch. Any failure (error reply, watchdog, disconnect) drops
 * the chain; it restarts from XGROUP CREATE after a backoff once every
 * command of the old chain has had its callback, so a late reply can
 * never advance a new chain. Incidents stay dirty until a write of them is
 * confirmed, so a failed persist is retried by the next chain.
 *
 * Dead letters. Every re-delivery of an entry goes through the pending
 * read: a failed chain, a crash, a claim from a dead consumer all leave it
 * in our PEL. So the pending read asks XPENDING first for the delivery
 * counts: an entry already delivered CORRELATOR_MAX_DELIVERIES times is
 * copied to quench:deadletter (in the persist round, before the XACK)
 * instead of being correlated again. And when any pending entry has been
 * delivered twice already, the pending entries are read one at a time, so
 * a poison entry cannot drag the rest of its batch past the limit with it.
 *
 * Dirty incidents are tracked by engine slot. engine_prune (housekeeping)
 * may release a dirty slot; persisting a released slot writes nothing, and
 * a slot reused meanwhile holds a new incident that is dirty anyway.
 *
 * Incremental writes. quench:incident:<id> is a hash: field state holds
 * the incident's header (correlate_incident_dump_header plus nalerts),
 * and field a:<fingerprint> each alert's record (correlate_alert_dump
 * plus seq, its position: a hash has no order). correlate logs which
 * alert slots changed (correlate_track_changes); each round takes that
 * log into the dirty alerts, and writes the header of every dirty
 * incident and the records of its dirty alerts, nothing else, so a storm
 * that grows one incident to 10^5 alerts costs each round what changed,
 * not the incident. Dirty alerts follow the dirty incidents' rules: in
 * flight until the EXEC is confirmed, dirty again when it fails. A merged
 * incident's key is replaced by merged_into (UNLINK first: its alerts are
 * the survivor's fields now, logged as changed by the merge). An incident
 * is written whole (UNLINK, header, every alert) when its stored form
 * cannot be patched: restored from the old format (state holding the
 * whole incident, still read), found damaged, or when a change could not
 * be logged (OOM).
 *
 * The loop is shared with webhook acknowledgements, so the correlator
 * works in slices of about QUENCH_LOOP_SLICE_MS: reads are sized by the
 * measured cost of an entry (read_count), and a round is sent slice by
 * slice inside its open MULTI (round_pump) while nothing else changes
 * what it reads. */
#include "correlator.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "api.h"
#include "archive.h"
#include "config.h"
#include "log.h"
#include "webhook.h"

#define container_of(p, type, member) \
    ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* Watchdog for ordinary commands; a blocking read gets block_ms on top. */
#define CMD_TIMEOUT_MS 5000u
/* Longest stream id: two 20-digit numbers, '-' and NUL. */
#define STREAM_ID_SIZE 48
/* Merge chains longer than this are treated as broken (a cycle). */
#define MAX_ALIAS_HOPS 32
/* How often the group's lag is asked for (XINFO GROUPS). */
#define LAG_EVERY_S 5.0

enum phase {
    PH_IDLE = 0,    /* no chain: waiting for a connection or the backoff */
    PH_CREATE,      /* XGROUP CREATE */
    PH_HISTORY,     /* GET quench:history */
    PH_INDEX,       /* SMEMBERS quench:incidents */
    PH_LOAD,        /* HGETALL of each indexed incident, in parallel */
    PH_PCOUNT,      /* XPENDING ... <consumer>: delivery counts */
    PH_PENDING,     /* XREADGROUP ... <last id>: our own unacked entries */
    PH_CLAIM,       /* XAUTOCLAIM sweep */
    PH_NEW,         /* XREADGROUP ... BLOCK ... > */
    PH_PERSIST,     /* MULTI, writes of the dirty incidents and the
                     * history, EXEC */
    PH_ACK,         /* XACK of the batch */
};

struct alias {
    char id[CORRELATE_ID_SIZE];
    char into[CORRELATE_ID_SIZE];
};

/* An alert record of the round being written. */
struct aflight {
    uint32_t m;                 /* correlate alert slot */
    uint32_t inc;               /* its incident slot (UINT32_MAX: gone) */
    uint32_t pos;               /* its position there */
};

/* An alert record to delete: its alert left incident FROM other than by
 * a merge (correlate_moves), and its record is written under its new
 * incident in the same round. */
struct gone {
    char from[CORRELATE_ID_SIZE];
    uint64_t fp;
};

/* Delivery count of one pending entry, before the read that follows. */
struct pcount {
    char id[STREAM_ID_SIZE];
    long long deliveries;
};

/* An entry of the current batch to dead-letter (copies: the reply it came
 * from is freed before the write is sent). */
struct dead {
    char id[STREAM_ID_SIZE];
    long long deliveries;
    char *received_at, *body;       /* NULL when absent */
    size_t received_at_len, body_len;
};

struct correlator {
    struct ev_loop *loop;
    struct redis_ev *r;
    struct engine *e;
    struct jdoc *doc;              /* scratch for every entry's body */
    char *consumer;
    int64_t claim_idle_ms, closed_ttl_ms, prune_every_ms;
    unsigned block_ms, batch;
    double last_persist;        /* ev_now of the last persist round */
    double persist_cost;        /* seconds the last round's dumps took */
    double entry_cost;          /* seconds one entry takes to correlate
                                 * (smoothed; 0 unknown): read_count */
    int64_t (*clock_ms)(void);

    enum phase phase;
    enum phase read_phase;      /* the read to go back to after a batch */
    unsigned outstanding;       /* our commands without their callback yet */
    unsigned group_left;        /* of a parallel group (load, persist) */
    int group_failed;
    int closing;                /* correlator_free running */
    int connected, restored, caught_up, caught_up_once;
    unsigned failures;          /* chain failures since the last success */
    ev_tstamp last_claim;
    char cursor[STREAM_ID_SIZE];    /* XAUTOCLAIM cursor */
    char last_id[STREAM_ID_SIZE];   /* pending read position */

    /* The batch being processed: ids to XACK. */
    char (*acks)[STREAM_ID_SIZE];
    size_t nacks, acks_cap;

    /* Dirty slots (flag per slot + list) and the ones being written;
     * rewrite: the slot's key must be written whole (restored from the
     * old format or damaged, or a change could not be logged), and ffull
     * says which of the flight are written whole. A new incident needs
     * no rewrite: each of its alerts is logged as a change. */
    uint8_t *dflag, *rewrite;
    uint32_t dflag_cap;
    uint32_t *dlist, *flist;
    uint8_t *ffull;
    size_t ndirty, dirty_cap, nflight, flight_cap;
    /* Dirty alerts (correlate alert slots whose record is to be written:
     * flag per slot + list) and the ones being written, sorted by
     * incident then position when the round is sent. */
    uint8_t *aflag;
    uint32_t aflag_cap;
    uint32_t *alist;
    struct aflight *aflight;
    size_t nadirty, adirty_cap, naflight, aflight_cap;
    /* Records to delete (struct gone): the first ngflight are the round's,
     * the rest came since. */
    struct gone *gone;
    size_t ngone, gone_cap, ngflight;
    unsigned long round_alerts; /* alert fields in the round being written */
    /* The round being sent, slice by slice (round_pump): flight slot
     * send_i, its stage (slot_step) and its alerts send_j..send_hi. */
    int sending;
    size_t send_i, send_j, send_hi;
    int send_stage;
    double round_cost;          /* seconds spent sending it */
    ev_timer pump;
    json_t *rewrite_ids;        /* restore: ids to write whole afterwards */
    int hist_dirty;             /* an incident closed since the history was
                                 * last written */
    int hist_flight;            /* the history is in the round being written */
    int multi_open;             /* MULTI sent on this connection without its
                                 * EXEC or DISCARD: the next chain discards */

    json_t *loaded;             /* restore: incident states read so far */

    struct alias *aliases;      /* merged ids whose slot is gone (before a
                                 * restart, or pruned) -> their survivor */
    size_t naliases, aliases_cap;

    struct pcount *pcounts;     /* of the pending read in progress */
    size_t npcounts, pcounts_cap;
    struct dead *dead;          /* dead letters of the batch */
    size_t ndead, dead_cap;
    char last_failure[160];     /* why the last chain failed, for reasons */

    ev_timer tick;              /* 1 s: engine_tick on the wall clock */
    ev_timer retry;             /* backoff before a new chain */
    ev_timer housekeeping;      /* prune_every_ms: engine_prune */
    ev_tstamp last_lag;

    struct correlator_status st;
};

static void chain_begin(struct correlator *c);
static void next_read(struct correlator *c);
static unsigned read_count(const struct correlator *c);
static void dead_clear(struct correlator *c);
static const redisReply *field(const redisReply *fields, const char *name);
static int add_alias(struct correlator *c, const char *id, const char *into);
static void request_lag(struct correlator *c);
static void flight_back(struct correlator *c);

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- commands ------------------------------------------------------------ */

/* Send ARGV (NUL-terminated strings). 0, or -1 if not connected (FN will
 * not be called). */
static int send_cmd(struct correlator *c, redis_ev_reply_fn fn,
                    unsigned timeout_ms, int argc, const char *const *argv)
{
    size_t lens[16] = {0};
    size_t *lp = lens;
    int rc;

    if (argc > (int)(sizeof lens / sizeof lens[0])) {
        lp = malloc((size_t)argc * sizeof *lp);
        if (lp == NULL)
            return -1;
    }
    for (int i = 0; i < argc; i++)
        lp[i] = strlen(argv[i]);
    rc = redis_ev_command(c->r, argc, argv, lp, timeout_ms, fn, c);
    if (lp != lens)
        free(lp);
    if (rc == 0)
        c->outstanding++;
    return rc;
}

static int is_error(enum redis_ev_result res, const redisReply *rep)
{
    return res != REDIS_EV_REPLY || rep == NULL || rep->type == REDIS_REPLY_ERROR;
}

static const char *why(enum redis_ev_result res, const redisReply *rep)
{
    if (res == REDIS_EV_TIMEOUT)
        return "timeout";
    if (res == REDIS_EV_DISCONNECTED || rep == NULL)
        return "disconnected";
    if (rep->type == REDIS_REPLY_ERROR)
        return rep->str;
    return "unexpected reply";
}

/* Common head of every reply callback: count the callback, and tell
 * whether the chain it belonged to is still the live one. */
static int reply_live(struct correlator *c)
{
    c->outstanding--;
    return !c->closing && c->phase != PH_IDLE;
}

/* Drop the chain; a new one starts after a backoff (or on reconnect). */
static void chain_fail(struct correlator *c, const char *what, const char *reason)
{
    double delay;

    snprintf(c->last_failure, sizeof c->last_failure, "%s: %s", what, reason);
    if (c->failures++ == 0)
        log_warn("correlator: %s failed: %s; retrying", what, reason);
    else
        log_debug("correlator: %s failed again: %s", what, reason);
    c->phase = PH_IDLE;
    c->caught_up = 0;
    /* The batch is not acknowledged: its entries stay pending and are read
     * again by the next chain. What it was writing is dirty again. */
    c->nacks = 0;
    flight_back(c);
    c->group_left = 0;
    dead_clear(c);
    /* 250 ms x 2^n, capped at 5 s. */
    delay = 0.25;
    for (unsigned i = 1; i < c->failures && delay < 5.0; i++)
        delay *= 2;
    if (delay > 5.0)
        delay = 5.0;
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_set(&c->retry, delay, 0.0);
    ev_timer_start(c->loop, &c->retry);
}

/* The chain can start only once every old callback has run. */
static void maybe_begin(struct correlator *c)
{
    if (c->closing || c->phase != PH_IDLE || !c->connected)
        return;
    if (c->outstanding > 0) {
        ev_timer_stop(c->loop, &c->retry);
        ev_timer_set(&c->retry, 0.05, 0.0);
        ev_timer_start(c->loop, &c->retry);
        return;
    }
    chain_begin(c);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct correlator *c = container_of(w, struct correlator, retry);

    (void)loop;
    (void)revents;
    maybe_begin(c);
}

static void on_state(int connected, const char *reason, void *ud)
{
    struct correlator *c = ud;

    c->connected = connected;
    c->st.connected = connected;
    if (connected) {
        maybe_begin(c);
        return;
    }
    /* Callbacks of the lost connection still arrive (DISCONNECTED); the
     * chain is already dead, so they only count down. */
    /* A MULTI left open died with its connection. */
    c->multi_open = 0;
    if (c->phase != PH_IDLE) {
        log_warn("correlator: Redis connection lost (%s); resuming after "
                 "reconnect", reason ? reason : "");
        c->phase = PH_IDLE;
        c->caught_up = 0;
        c->nacks = 0;
        c->group_left = 0;
        /* The round's callbacks may come after this (a drop from inside a
         * reply callback) and then only count down: whatever it was
         * writing must be dirty again here, or the re-read entries, which
         * change nothing, would leave it unwritten. */
        flight_back(c);
        dead_clear(c);
    }
}

/* ---- dirty incidents ----------------------------------------------------- */

static int mark_dirty(struct correlator *c, uint32_t slot)
{
    if (slot >= c->dflag_cap) {
        uint32_t cap = c->dflag_cap ? c->dflag_cap : 64;
        uint8_t *f;

        while (cap <= slot)
            cap *= 2;
        f = realloc(c->rewrite, cap);
        if (f == NULL)
            return -1;
        memset(f + c->dflag_cap, 0, cap - c->dflag_cap);
        c->rewrite = f;
        f = realloc(c->dflag, cap);
        if (f == NULL)
            return -1;
        memset(f + c->dflag_cap, 0, cap - c->dflag_cap);
        c->dflag = f;
        c->dflag_cap = cap;
    }
    if (c->dflag[slot])
        return 0;
    if (c->ndirty == c->dirty_cap) {
        size_t cap = c->dirty_cap ? c->dirty_cap * 2 : 64;
        uint32_t *l = realloc(c->dlist, cap * sizeof *l);

        if (l == NULL)
            return -1;
        c->dlist = l;
        c->dirty_cap = cap;
    }
    c->dlist[c->ndirty++] = slot;
    c->dflag[slot] = 1;
    return 0;
}

/* Incident SLOT is to be written whole at its next write. */
static int mark_rewrite(struct correlator *c, uint32_t slot)
{
    if (mark_dirty(c, slot) < 0)
        return -1;
    c->rewrite[slot] = 1;
    return 0;
}

/* Alert slot M's record is to be written. -1 OOM. */
static int mark_alert(struct correlator *c, uint32_t m)
{
    if (m >= c->aflag_cap) {
        uint32_t cap = c->aflag_cap ? c->aflag_cap : 256;
        uint8_t *f;

        while (cap <= m)
            cap *= 2;
        f = realloc(c->aflag, cap);
        if (f == NULL)
            return -1;
        memset(f + c->aflag_cap, 0, cap - c->aflag_cap);
        c->aflag = f;
        c->aflag_cap = cap;
    }
    if (c->aflag[m])
        return 0;
    if (c->nadirty == c->adirty_cap) {
        size_t cap = c->adirty_cap ? c->adirty_cap * 2 : 256;
        uint32_t *l = realloc(c->alist, cap * sizeof *l);

        if (l == NULL)
            return -1;
        c->alist = l;
        c->adirty_cap = cap;
    }
    c->alist[c->nadirty++] = m;
    c->aflag[m] = 1;
    return 0;
}

/* Every live incident is to be written whole: what changed is no longer
 * known (a change could not be recorded). */
static void rewrite_all(struct correlator *c)
{
    const struct correlate *cr = engine_correlate(c->e);
    uint32_t n = correlate_incident_slots(cr);
    struct correlate_incident ci;

    for (uint32_t s = 0; s < n; s++)
        if (correlate_incident(cr, s, &ci) == 0 && mark_rewrite(c, s) < 0)
            log_error("correlator: out of memory: incident slot %u will not "
                      "be persisted until it changes again", s);
}

/* Take what correlate logged since the last call into the dirty alerts.
 * Nothing is lost on OOM: correlate's log stays for the next call, and a
 * lost entry (its own OOM) makes every incident a whole rewrite. */
static int pull_changes(struct correlator *c)
{
    struct correlate *cr = engine_correlate_mut(c->e);
    size_t n;
    int lost;
    const uint32_t *ch = correlate_changes(cr, &n, &lost);
    size_t nmv;
    const struct correlate_move *mv = correlate_moves(cr, &nmv);

    for (size_t i = 0; i < n; i++)
        if (mark_alert(c, ch[i]) < 0)
            return -1;
    /* A moved alert is among the changes, so its new record goes out in
     * the same round as the deletion of its old one. */
    if (c->ngone + nmv > c->gone_cap) {
        size_t cap = c->gone_cap ? c->gone_cap : 16;
        struct gone *g;

        while (cap < c->ngone + nmv)
            cap *= 2;
        if ((g = realloc(c->gone, cap * sizeof *g)) == NULL)
            return -1;
        c->gone = g;
        c->gone_cap = cap;
    }
    for (size_t i = 0; i < nmv; i++) {
        memcpy(c->gone[c->ngone].from, mv[i].from, CORRELATE_ID_SIZE);
        c->gone[c->ngone].fp = mv[i].fingerprint;
        c->ngone++;
    }
    if (lost)
        rewrite_all(c);
    correlate_changes_clear(cr);
    return 0;
}

/* The round being written failed or was abandoned: its slots, its alerts
 * and the history are dirty again (rewriting them is idempotent), and
 * what it was writing whole is to be written whole again. */
static void flight_back(struct correlator *c)
{
    int oom = 0;

    for (size_t i = 0; i < c->nflight; i++) {
        if (mark_dirty(c, c->flist[i]) < 0)
            oom = 1;
        else if (c->ffull[i])
            c->rewrite[c->flist[i]] = 1;
    }
    c->nflight = 0;
    for (size_t i = 0; i < c->naflight; i++)
        if (mark_alert(c, c->aflight[i].m) < 0)
            oom = 1;
    c->naflight = 0;
    c->ngflight = 0;            /* the deletions stay pending */
    /* A round still being sent stops here (on_pump). */
    c->sending = 0;
    ev_timer_stop(c->loop, &c->pump);
    if (oom) {
        /* Which alerts changed is lost: write everything whole. */
        log_error("correlator: out of memory while keeping a failed write "
                  "dirty; rewriting every incident whole");
        rewrite_all(c);
    }
    if (c->hist_flight)
        c->hist_dirty = 1;
    c->hist_flight = 0;
}

static void on_engine(void *ctx, struct engine *e, uint32_t slot,
                      enum engine_event ev)
{
    struct correlator *c = ctx;

    (void)e;
    /* A close is what changes the history (engine.c, record_closed): it is
     * written in the same transaction as this slot. */
    if (ev == ENGINE_INCIDENT_CLOSED)
        c->hist_dirty = 1;
    /* Whatever the event, the slot's current state is what gets written:
     * persisting reads the incident when the write is sent. */
    if (mark_dirty(c, slot) < 0)
        log_error("correlator: out of memory: incident slot %u will not be "
                  "persisted until it changes again", slot);
}

/* ---- dead letters -------------------------------------------------------- */

static void dead_clear(struct correlator *c)
{
    for (size_t i = 0; i < c->ndead; i++) {
        free(c->dead[i].received_at);
        free(c->dead[i].body);
    }
    c->ndead = 0;
}

static char *dup_bytes(const redisReply *v, size_t *len)
{
    char *p;

    *len = 0;
    if (v == NULL || v->type != REDIS_REPLY_STRING)
        return NULL;
    p = malloc(v->len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, v->str, v->len);
    p[v->len] = 0;
    *len = v->len;
    return p;
}

/* Delivery count of ID before the current read, or 0 if unknown. */
static long long deliveries_of(const struct correlator *c, const char *id,
                               size_t len)
{
    for (size_t i = 0; i < c->npcounts; i++)
        if (strlen(c->pcounts[i].id) == len && memcmp(c->pcounts[i].id, id, len) == 0)
            return c->pcounts[i].deliveries;
    return 0;
}

/* Queue entry ID (FIELDS may be nil) for the dead letter stream. -1 OOM. */
static int dead_push(struct correlator *c, const redisReply *id,
                     const redisReply *fields, long long deliveries)
{
    struct dead *d;

    if (c->ndead == c->dead_cap) {
        size_t cap = c->dead_cap ? c->dead_cap * 2 : 8;
        struct dead *n = realloc(c->dead, cap * sizeof *n);

        if (n == NULL)
            return -1;
        c->dead = n;
        c->dead_cap = cap;
    }
    d = &c->dead[c->ndead];
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%.*s", (int)id->len, id->str);
    d->deliveries = deliveries;
    if (fields->type == REDIS_REPLY_ARRAY) {
        const redisReply *ra = field(fields, "received_at"), *b = field(fields, "body");

        d->received_at = dup_bytes(ra, &d->received_at_len);
        d->body = dup_bytes(b, &d->body_len);
        if ((ra && ra->type == REDIS_REPLY_STRING && d->received_at == NULL) ||
            (b && b->type == REDIS_REPLY_STRING && d->body == NULL)) {
            free(d->received_at);
            free(d->body);
            return -1;
        }
    }
    c->ndead++;
    return 0;
}

static void on_persist_reply(enum redis_ev_result res,
                             const struct redisReply *rep, void *ud);

/* XADD dead letter I. 0 sent (on_persist_reply will be called), -1 not. */
static int dead_send(struct correlator *c, size_t i)
{
    const struct dead *d = &c->dead[i];
    char reason[300], n[24];
    const char *argv[13];
    size_t lens[13];
    int argc = 0;

    snprintf(reason, sizeof reason,
             "delivered %lld times without being acknowledged: correlating it "
             "failed or the process died on it (last failure seen here: %s)",
             d->deliveries, c->last_failure[0] ? c->last_failure : "none");
    snprintf(n, sizeof n, "%lld", d->deliveries);
#define ARG(s_, l_) do { argv[argc] = (s_); lens[argc] = (l_); argc++; } while (0)
    ARG("XADD", 4);
    ARG(CORRELATOR_DEADLETTER, strlen(CORRELATOR_DEADLETTER));
    ARG("*", 1);
    ARG("id", 2);
    ARG(d->id, strlen(d->id));
    ARG("reason", 6);
    ARG(reason, strlen(reason));
    ARG("deliveries", 10);
    ARG(n, strlen(n));
    if (d->received_at) {
        ARG("received_at", 11);
        ARG(d->received_at, d->received_at_len);
    }
    if (d->body) {
        ARG("body", 4);
        ARG(d->body, d->body_len);
    }
#undef ARG
    if (redis_ev_command(c->r, argc, argv, lens, CMD_TIMEOUT_MS, on_persist_reply,
                         c) < 0)
        return -1;
    c->outstanding++;
    return 0;
}

/* The dead letters of a round are stored: say so once each. */
static void dead_done(struct correlator *c)
{
    for (size_t i = 0; i < c->ndead; i++) {
        log_error("correlator: archive entry %s moved to " CORRELATOR_DEADLETTER
                  " after %lld deliveries without an acknowledgement (last "
                  "failure seen here: %s)", c->dead[i].id, c->dead[i].deliveries,
                  c->last_failure[0] ? c->last_failure : "none");
        c->st.dead_letters++;
    }
    dead_clear(c);
}

/* ---- persist ------------------------------------------------------------- */

static void send_acks(struct correlator *c);

static void on_persist_reply(enum redis_ev_result res,
                             const struct redisReply *rep, void *ud)
{
    struct correlator *c = ud;

    if (!reply_live(c) || c->phase != PH_PERSIST)
        return;
    if (!c->group_failed) {
        const char *bad = NULL;

        if (is_error(res, rep))
            bad = why(res, rep);
        else if (rep->type == REDIS_REPLY_NIL)
            bad = "transaction aborted";    /* EXEC: nothing applied */
        else if (rep->type == REDIS_REPLY_ARRAY)
            /* EXEC: one reply per queued command. Redis does not roll
             * back a command that failed inside (WRONGTYPE on a key
             * someone else wrote): the round is then written again. */
            for (size_t i = 0; i < rep->elements && bad == NULL; i++)
                if (rep->element[i]->type == REDIS_REPLY_ERROR)
                    bad = rep->element[i]->str;
        if (bad != NULL) {
            c->group_failed = 1;
            log_warn("correlator: incident write failed: %s", bad);
        }
    }
    /* Still sending: the round ends with the reply to its EXEC. */
    if (--c->group_left > 0 || c->sending)
        return;
    if (c->group_failed) {
        /* Nothing of this round is known to be stored: dirty again. */
        flight_back(c);
        c->st.persist_failures++;
        chain_fail(c, "persisting incidents", "a write was not confirmed");
        return;
    }
    c->nflight = 0;
    c->naflight = 0;
    if (c->ngflight > 0) {
        memmove(c->gone, c->gone + c->ngflight,
                (c->ngone - c->ngflight) * sizeof *c->gone);
        c->ngone -= c->ngflight;
        c->ngflight = 0;
    }
    c->hist_flight = 0;
    c->st.persisted_alerts += c->round_alerts;
    dead_done(c);
    send_acks(c);
}

/* Send one command of the round. 0, or -1 (not sent; group_failed set). */
static int round_send(struct correlator *c, int argc, const char *const *argv)
{
    if (send_cmd(c, on_persist_reply, CMD_TIMEOUT_MS, argc, argv) < 0) {
        c->group_failed = 1;
        return -1;
    }
    c->group_left++;
    return 0;
}

/* The hash field of the alert with fingerprint FP: "a:" and 16 hex
 * digits. */
#define FIELD_SIZE (sizeof CORRELATOR_ALERT_FIELD + 16)
static void field_name(char out[FIELD_SIZE], uint64_t fp)
{
    char hex[17];

    alert_fingerprint_format(fp, hex);
    snprintf(out, FIELD_SIZE, CORRELATOR_ALERT_FIELD "%s", hex);
}

/* One HSET KEY of the records of those alert slots M[0..n) that are
 * members of incident CI: at most QUENCH_PERSIST_FIELDS_PER_CMD of them,
 * and fewer once ev_time() passes DEADLINE, so neither one command nor
 * one slice of the loop grows with the incident. Entries of M taken (at
 * least one when n > 0), or -1 (group_failed set). */
static long send_fields(struct correlator *c, const char *key,
                        const struct correlate_incident *ci, const uint32_t *m,
                        size_t n, double deadline)
{
    const struct correlate *cr = engine_correlate(c->e);
    const char **argv = malloc((2 + 2 * (size_t)QUENCH_PERSIST_FIELDS_PER_CMD) *
                               sizeof *argv);
    char (*names)[FIELD_SIZE] = malloc(QUENCH_PERSIST_FIELDS_PER_CMD * sizeof *names);
    char **texts = calloc(QUENCH_PERSIST_FIELDS_PER_CMD, sizeof *texts);
    size_t i = 0, k = 0;
    int argc = 2;
    long rc = -1;

    if (argv == NULL || names == NULL || texts == NULL)
        goto out;
    argv[0] = "HSET";
    argv[1] = key;
    for (; i < n && k < QUENCH_PERSIST_FIELDS_PER_CMD; i++) {
        struct correlate_alert ca;
        json_t *x;

        if (k > 0 && k % 16 == 0 && ev_time() > deadline)
            break;
        /* Members of this incident only: a slot released and reused since
         * it was logged belongs to another incident. */
        if (correlate_alert(cr, m[i], &ca) < 0 || ca.position >= ci->nalerts ||
            ci->alerts[ca.position] != m[i])
            continue;
        x = correlate_alert_dump(cr, m[i]);
        /* Its position: a hash has no order, and the restore must give
         * the alerts back in join order. */
        if (x == NULL ||
            json_object_set_new(x, "seq", json_integer((json_int_t)ca.position)) < 0) {
            json_decref(x);
            goto out;
        }
        texts[k] = json_dumps(x, JSON_COMPACT);
        json_decref(x);
        if (texts[k] == NULL)
            goto out;
        field_name(names[k], ca.alert->fingerprint);
        argv[argc++] = names[k];
        argv[argc++] = texts[k];
        k++;
    }
    if (argc > 2 && round_send(c, argc, argv) < 0)
        goto out;
    c->round_alerts += k;
    rc = (long)i;
out:
    for (size_t j = 0; texts != NULL && j < k; j++)
        free(texts[j]);
    free(texts);
    free(names);
    free(argv);
    if (rc < 0)
        c->group_failed = 1;
    return rc;
}

/* SET quench:history to the engine's history. 0 sent, -1 not. */
static int history_send(struct correlator *c)
{
    json_t *d = history_dump(engine_history(c->e));
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    const char *argv[] = {"SET", CORRELATOR_HISTORY, text};
    int rc = -1;

    json_decref(d);
    if (text == NULL)
        c->group_failed = 1;
    else
        rc = round_send(c, 3, argv);
    free(text);
    return rc;
}

static int cmp_aflight(const void *x, const void *y)
{
    const struct aflight *a = x, *b = y;

    if (a->inc != b->inc)
        return a->inc < b->inc ? -1 : 1;
    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    return a->m < b->m ? -1 : a->m > b->m;
}

/* Move the dirty alerts and incidents into flight: what is dirtied while
 * the writes are out is written by the next round. Every dirty alert's
 * incident is in the flight (its header says how many alerts it holds).
 * 0, or -1 on OOM with nothing moved. */
static int flight_take(struct correlator *c)
{
    const struct correlate *cr = engine_correlate(c->e);
    struct correlate_alert ca;

    for (size_t i = 0; i < c->nadirty; i++)
        if (correlate_alert(cr, c->alist[i], &ca) == 0 &&
            mark_dirty(c, ca.incident) < 0)
            return -1;
    if (c->aflight_cap < c->nadirty) {
        struct aflight *l = realloc(c->aflight, c->nadirty * sizeof *l);

        if (l == NULL)
            return -1;
        c->aflight = l;
        c->aflight_cap = c->nadirty;
    }
    if (c->flight_cap < c->ndirty) {
        uint32_t *l = realloc(c->flist, c->ndirty * sizeof *l);
        uint8_t *f;

        if (l == NULL)
            return -1;
        c->flist = l;
        f = realloc(c->ffull, c->ndirty * sizeof *f);
        if (f == NULL)
            return -1;
        c->ffull = f;
        c->flight_cap = c->ndirty;
    }
    for (size_t i = 0; i < c->nadirty; i++) {
        struct aflight *f = &c->aflight[i];

        f->m = c->alist[i];
        f->inc = UINT32_MAX;    /* released since: nothing to write */
        f->pos = 0;
        if (correlate_alert(cr, f->m, &ca) == 0) {
            f->inc = ca.incident;
            f->pos = ca.position;
        }
        c->aflag[f->m] = 0;
    }
    c->naflight = c->nadirty;
    c->nadirty = 0;
    if (c->naflight > 1)
        qsort(c->aflight, c->naflight, sizeof *c->aflight, cmp_aflight);
    for (size_t i = 0; i < c->ndirty; i++) {
        uint32_t s = c->dlist[i];

        c->flist[i] = s;
        c->ffull[i] = c->rewrite[s];
        c->rewrite[s] = 0;
        c->dflag[s] = 0;
    }
    c->nflight = c->ndirty;
    c->ndirty = 0;
    return 0;
}

/* The range of flight alerts of incident SLOT in the sorted aflight. */
static void aflight_range(const struct correlator *c, uint32_t slot, size_t *lo,
                          size_t *hi)
{
    size_t a = 0, b = c->naflight;

    while (a < b) {
        size_t mid = a + (b - a) / 2;

        if (c->aflight[mid].inc < slot)
            a = mid + 1;
        else
            b = mid;
    }
    *lo = a;
    for (b = a; b < c->naflight && c->aflight[b].inc == slot; b++)
        ;
    *hi = b;
}

/* The next piece of flight slot send_i (see round_pump): stage 0 its
 * head (a merged slot: all of it; else the header, after an UNLINK when
 * it is written whole), stage 1 a command of its alert records, stage 2
 * its index entry and expiry. 1 when the slot is done, 0 when more is to
 * come, -1 on failure (group_failed set). */
static int slot_step(struct correlator *c, double deadline)
{
    const struct correlate *cr = engine_correlate(c->e);
    uint32_t slot = c->flist[c->send_i];
    int full = c->ffull[c->send_i];
    struct correlate_incident ci, si;
    char key[sizeof CORRELATOR_INCIDENT_PREFIX + CORRELATE_ID_SIZE];
    char ttl[32];
    const char *unlink_[] = {"UNLINK", key};
    const char *sadd[] = {"SADD", CORRELATOR_INDEX, NULL};
    const char *pexpire[] = {"PEXPIRE", key, ttl};
    const char *persist[] = {"PERSIST", key};

    /* Nothing changes C while a round is sent (no ingest, no tick, no
     * prune: see round_pump), so the view is the same at every step. */
    if (correlate_incident(cr, slot, &ci) < 0)
        return 1;   /* released before the round: nothing to write */
    snprintf(key, sizeof key, "%s%s", CORRELATOR_INCIDENT_PREFIX, ci.id);
    snprintf(ttl, sizeof ttl, "%lld", (long long)c->closed_ttl_ms);
    sadd[2] = ci.id;
    if (ci.state == CORRELATE_MERGED) {
        /* Kept as an alias so the id still resolves after a restart. Its
         * alerts are the survivor's now (and written there), so the key
         * is replaced, not patched; UNLINK frees a big hash off Redis's
         * main thread. */
        int64_t into = engine_find(c->e, ci.id);
        const char *hset[] = {"HSET", key, "merged_into", NULL};

        if (into < 0 || correlate_incident(cr, (uint32_t)into, &si) < 0)
            return 1;
        hset[3] = si.id;
        if (round_send(c, 2, unlink_) < 0 || round_send(c, 4, hset) < 0 ||
            round_send(c, 3, sadd) < 0 || round_send(c, 3, pexpire) < 0)
            return -1;
        return 1;
    }
    if (c->send_stage == 0) {
        json_t *hdr = correlate_incident_dump_header(cr, slot);
        char *text = NULL;
        int rc = -1;

        /* How many alert fields the key holds, for the restore to check. */
        if (hdr != NULL &&
            json_object_set_new(hdr, "nalerts", json_integer((json_int_t)ci.nalerts)) == 0)
            text = json_dumps(hdr, JSON_COMPACT);
        json_decref(hdr);
        if (text != NULL) {
            const char *hset[] = {"HSET", key, "state", text};

            /* Whole: first drop what the key held (the old format's
             * alert list in state; fields a lost change left unreliable). */
            rc = full && round_send(c, 2, unlink_) < 0 ? -1 : round_send(c, 4, hset);
            free(text);
        }
        if (rc < 0) {
            c->group_failed = 1;
            return -1;
        }
        if (full) {
            c->send_j = 0;
            c->send_hi = ci.nalerts;
        } else {
            aflight_range(c, slot, &c->send_j, &c->send_hi);
        }
        c->send_stage = 1;
        return 0;
    }
    if (c->send_stage == 1 && c->send_j < c->send_hi) {
        uint32_t buf[QUENCH_PERSIST_FIELDS_PER_CMD];
        const uint32_t *m = buf;
        size_t n = c->send_hi - c->send_j;
        long took;

        if (n > QUENCH_PERSIST_FIELDS_PER_CMD)
            n = QUENCH_PERSIST_FIELDS_PER_CMD;
        if (full)
            m = ci.alerts + c->send_j;
        else
            for (size_t i = 0; i < n; i++)
                buf[i] = c->aflight[c->send_j + i].m;
        took = send_fields(c, key, &ci, m, n, deadline);
        if (took < 0)
            return -1;
        c->send_j += (size_t)took;
        return 0;
    }
    if (round_send(c, 3, sadd) < 0)
        return -1;
    /* Open incidents live until they close; closed ones expire. */
    if (round_send(c, ci.state == CORRELATE_CLOSED ? 3 : 2,
                   ci.state == CORRELATE_CLOSED ? pexpire : persist) < 0)
        return -1;
    return 1;
}

/* Send the rest of the round, a slice of at most QUENCH_LOOP_SLICE_MS at
 * a time: a round can hold thousands of alert records (a storm) or a
 * whole big incident (a rewrite), and encoding them in one go would hold
 * up every webhook waiting on the same loop for as long. Between slices
 * the loop runs, and nothing changes what the round reads: the correlator
 * takes no entries until the round is confirmed, the tick waits (on_tick)
 * and so does the prune (on_housekeeping). Ends with EXEC, or DISCARD
 * after a failure. */
static void round_pump(struct correlator *c)
{
    const char *exec[] = {"EXEC"}, *discard[] = {"DISCARD"};
    double t0 = ev_time(), deadline = t0 + QUENCH_LOOP_SLICE_MS / 1000.0;
    int sent_all = 0;

    if (c->group_failed)
        goto sent;
    while (c->send_i < c->nflight) {
        int rc = slot_step(c, deadline);

        if (rc < 0)
            goto sent;
        if (rc > 0) {
            c->send_i++;
            c->send_stage = 0;
        }
        if (c->send_i < c->nflight && ev_time() > deadline) {
            c->round_cost += ev_time() - t0;
            ev_timer_stop(c->loop, &c->pump);
            ev_timer_set(&c->pump, 0.0, 0.0);
            ev_timer_start(c->loop, &c->pump);
            return;
        }
    }
    if (c->hist_flight && history_send(c) < 0)
        goto sent;
    sent_all = 1;
sent:
    /* A partial transaction must not be executed: DISCARD it. Should that
     * not go out either (not connected: Redis drops the transaction with
     * the connection; out of memory), multi_open makes the next chain
     * begin with a DISCARD, so no later command is queued into it. */
    if (round_send(c, 1, sent_all ? exec : discard) == 0)
        c->multi_open = 0;
    else
        c->group_failed = 1;
    c->sending = 0;
    c->round_cost += ev_time() - t0;
    /* The next round is spaced by what this one cost (defer_persist). */
    c->persist_cost = c->round_cost;
    c->last_persist = ev_time();
    /* Callbacks of what was sent find group_failed and put the round back
     * (flight_back); MULTI was sent, so group_left > 0 and they will come. */
}

static void on_pump(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct correlator *c = container_of(w, struct correlator, pump);

    (void)loop;
    (void)revents;
    /* A drop or a failure in between ended the round (flight_back). */
    if (c->sending && c->phase == PH_PERSIST)
        round_pump(c);
}

/* Write the batch's dead letters, every dirty incident (its header and
 * its changed alerts) and, after a close, the history, in one MULTI/EXEC
 * (see the top of this file), then XACK the batch. */
static void persist_then_ack(struct correlator *c)
{
    const char *multi[] = {"MULTI"};

    if (pull_changes(c) < 0) {
        chain_fail(c, "persisting incidents", "out of memory");
        return;
    }
    if (c->ndirty == 0 && c->nadirty == 0 && c->ndead == 0 && c->ngone == 0 &&
        !c->hist_dirty) {
        send_acks(c);
        return;
    }
    if (flight_take(c) < 0) {
        chain_fail(c, "persisting incidents", "out of memory");
        return;
    }
    /* The history is dumped when the round's last slice is sent: nothing
     * closes in between (on_tick waits), so it holds exactly the closes
     * of the slots in this flight and before. */
    c->hist_flight = c->hist_dirty;
    c->hist_dirty = 0;
    c->ngflight = c->ngone;

    c->phase = PH_PERSIST;
    c->group_left = 0;
    c->group_failed = 0;
    c->round_alerts = 0;
    c->round_cost = 0;
    c->send_i = 0;
    c->send_stage = 0;
    if (round_send(c, 1, multi) < 0) {
        chain_fail(c, "persisting incidents", "not connected");
        return;
    }
    c->multi_open = 1;
    c->sending = 1;
    for (size_t i = 0; i < c->ndead; i++)
        if (dead_send(c, i) < 0) {
            c->group_failed = 1;
            break;
        } else {
            c->group_left++;
        }
    /* Deletions first: should the alert have come back to the incident
     * it left within this round, its new record is written after. */
    for (size_t i = 0; i < c->ngflight && !c->group_failed; i++) {
        char key[sizeof CORRELATOR_INCIDENT_PREFIX + CORRELATE_ID_SIZE];
        char field[FIELD_SIZE];
        const char *hdel[] = {"HDEL", key, field};

        snprintf(key, sizeof key, "%s%s", CORRELATOR_INCIDENT_PREFIX, c->gone[i].from);
        field_name(field, c->gone[i].fp);
        (void)round_send(c, 3, hdel);
    }
    round_pump(c);
}

/* ---- acknowledge --------------------------------------------------------- */

static void on_ack_reply(enum redis_ev_result res, const struct redisReply *rep,
                         void *ud)
{
    struct correlator *c = ud;

    if (!reply_live(c) || c->phase != PH_ACK)
        return;
    if (is_error(res, rep)) {
        chain_fail(c, "XACK", why(res, rep));
        return;
    }
    c->st.acked += c->nacks;
    c->nacks = 0;
    c->failures = 0;
    next_read(c);
}

static void send_acks(struct correlator *c)
{
    const char **argv;
    int argc = 0;

    if (c->nacks == 0) {
        next_read(c);
        return;
    }
    argv = malloc((c->nacks + 3) * sizeof *argv);
    if (argv == NULL) {
        chain_fail(c, "XACK", "out of memory");
        return;
    }
    argv[argc++] = "XACK";
    argv[argc++] = ARCHIVE_STREAM;
    argv[argc++] = CORRELATOR_GROUP;
    for (size_t i = 0; i < c->nacks; i++)
        argv[argc++] = c->acks[i];
    c->phase = PH_ACK;
    if (send_cmd(c, on_ack_reply, CMD_TIMEOUT_MS, argc, argv) < 0)
        chain_fail(c, "XACK", "not connected");
    free(argv);
}

/* ---- entries ------------------------------------------------------------- */

static int push_ack(struct correlator *c, const char *id, size_t len)
{
    if (len == 0 || len >= STREAM_ID_SIZE)
        return -1;
    if (c->nacks == c->acks_cap) {
        size_t cap = c->acks_cap ? c->acks_cap * 2 : 128;
        char(*a)[STREAM_ID_SIZE] = realloc(c->acks, cap * sizeof *a);

        if (a == NULL)
            return -1;
        c->acks = a;
        c->acks_cap = cap;
    }
    memcpy(c->acks[c->nacks], id, len);
    c->acks[c->nacks][len] = 0;
    c->nacks++;
    return 0;
}

static const redisReply *field(const redisReply *fields, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == n &&
            memcmp(k->str, name, n) == 0)
            return fields->element[i + 1];
    }
    return NULL;
}

/* Take one stream entry [id, [field, value, ...]] or [id, nil] (deleted
 * while pending). -1 only when the batch must not be acknowledged (OOM). */
static int take_entry(struct correlator *c, const redisReply *ent)
{
    const redisReply *id, *fields, *ra, *body;
    struct webhook *wh = NULL;
    struct qerr err;
    char num[32];
    char *end;
    long long received_at;
    int rc;

    if (ent == NULL || ent->type != REDIS_REPLY_ARRAY || ent->elements != 2 ||
        ent->element[0]->type != REDIS_REPLY_STRING)
        return 0;   /* no id to acknowledge: nothing we can do */
    id = ent->element[0];
    fields = ent->element[1];
    if (push_ack(c, id->str, id->len) < 0)
        return -1;
    memcpy(c->last_id, id->str, id->len < STREAM_ID_SIZE ? id->len : 0);
    c->last_id[id->len < STREAM_ID_SIZE ? id->len : 0] = 0;
    c->st.entries++;
    if (deliveries_of(c, id->str, id->len) >= CORRELATOR_MAX_DELIVERIES &&
        fields->type == REDIS_REPLY_ARRAY) {
        /* Not correlated again: this delivery is past the limit. */
        return dead_push(c, id, fields, deliveries_of(c, id->str, id->len) + 1);
    }
    if (fields->type != REDIS_REPLY_ARRAY) {
        log_info("correlator: archive entry %.*s was deleted while pending; "
                 "acknowledged", (int)id->len, id->str);
        c->st.skipped++;
        return 0;
    }
    ra = field(fields, "received_at");
    body = field(fields, "body");
    if (ra == NULL || body == NULL || ra->type != REDIS_REPLY_STRING ||
        body->type != REDIS_REPLY_STRING || ra->len == 0 || ra->len >= sizeof num) {
        log_warn("correlator: archive entry %.*s lacks received_at or body; "
                 "acknowledged without correlating", (int)id->len, id->str);
        c->st.skipped++;
        c->st.parse_failures++;
        return 0;
    }
    memcpy(num, ra->str, ra->len);
    num[ra->len] = 0;
    errno = 0;
    received_at = strtoll(num, &end, 10);
    if (errno != 0 || *end != 0) {
        log_warn("correlator: archive entry %.*s has a bad received_at; "
                 "acknowledged without correlating", (int)id->len, id->str);
        c->st.skipped++;
        c->st.parse_failures++;
        return 0;
    }
    memset(&err, 0, sizeof err);
    /* Validated at ingest, so this fails only for entries written by
     * something else: skipping one must not wedge the stream. */
    rc = webhook_parse_with(c->doc, &wh, body->str, body->len, engine_pool(c->e), &err);
    if (rc == WEBHOOK_ENOMEM)
        return -1;
    if (rc != 0) {
        char line[600];

        qerr_format(&err, line, sizeof line);
        log_warn("correlator: archive entry %.*s is not a valid webhook (%s); "
                 "acknowledged without correlating", (int)id->len, id->str, line);
        c->st.skipped++;
        c->st.parse_failures++;
        return 0;
    }
    if (engine_ingest_webhook(c->e, wh, (int64_t)received_at, &err) < 0) {
        char line[600];

        /* The other alerts were taken; the failed one hit a cap. */
        qerr_format(&err, line, sizeof line);
        log_warn("correlator: archive entry %.*s: %s", (int)id->len, id->str, line);
    }
    webhook_free(wh);
    return 0;
}

/* Take every entry of ENTRIES (an array), then persist and acknowledge. */
/* Taking new entries faster than PERSIST_INTERVAL_S, the writes (and the
 * acks, which wait for them) are put off and coalesced: an alert storm
 * grows one big incident, and rewriting it after every batch of 100 entries
 * made persistence O(n^2) and starved ingest on the same loop. Deferred
 * entries stay pending, so a crash re-reads them; correlation is
 * idempotent. At most QUENCH_MAX_DEFERRED_ACKS entries wait. */
#define PERSIST_INTERVAL_S 0.5
/* Rounds are also spaced by this many times what the last one cost, so
 * dumping a huge incident takes at most ~1/(1+PERSIST_COST_SPACING) of the
 * loop, and ingest, on the same loop, keeps the rest. */
#define PERSIST_COST_SPACING 4.0

static int defer_persist(const struct correlator *c, const redisReply *entries)
{
    double gap = PERSIST_COST_SPACING * c->persist_cost;
    size_t logged;
    int lost;

    if (gap < PERSIST_INTERVAL_S)
        gap = PERSIST_INTERVAL_S;
    /* Alert records waiting (with repeats): Redis runs a round's EXEC in
     * one go, ~4 us per record, and every webhook's XADD waits behind it,
     * so a round does not wait for more than QUENCH_MAX_ROUND_ALERTS. */
    (void)correlate_changes(engine_correlate(c->e), &logged, &lost);
    return c->phase == PH_NEW && entries != NULL && entries->elements > 0 &&
           c->ndead == 0 && c->nacks < QUENCH_MAX_DEFERRED_ACKS &&
           c->nadirty + logged < QUENCH_MAX_ROUND_ALERTS &&
           ev_now(c->loop) - c->last_persist < gap;
}

static void take_batch(struct correlator *c, const redisReply *entries)
{
    double t0 = ev_time();

    /* nacks is 0 here unless earlier batches were deferred. */
    dead_clear(c);
    for (size_t i = 0; entries != NULL && i < entries->elements; i++) {
        if (take_entry(c, entries->element[i]) < 0) {
            chain_fail(c, "correlating", "out of memory");
            return;
        }
    }
    if (entries != NULL && entries->elements > 0) {
        /* What one entry costs, smoothed: read_count sizes the next read
         * by it. */
        double per = (ev_time() - t0) / (double)entries->elements;

        c->entry_cost = c->entry_cost > 0 ? 0.7 * c->entry_cost + 0.3 * per : per;
    }
    c->st.persist_rounds += !defer_persist(c, entries);
    if (defer_persist(c, entries)) {
        next_read(c);
        return;
    }
    persist_then_ack(c);
}

/* ---- reads --------------------------------------------------------------- */

/* The entries array of an XREADGROUP reply for our one stream, or NULL
 * (nil: BLOCK timed out). *bad set when the shape is wrong. */
static const redisReply *stream_entries(const redisReply *rep, int *bad)
{
    const redisReply *s;

    *bad = 0;
    if (rep->type == REDIS_REPLY_NIL)
        return NULL;
    if (rep->type != REDIS_REPLY_ARRAY) {
        *bad = 1;
        return NULL;
    }
    if (rep->elements == 0)
        return NULL;
    s = rep->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
        s->element[1]->type != REDIS_REPLY_ARRAY) {
        *bad = 1;
        return NULL;
    }
    return s->element[1];
}

static void on_read_reply(enum redis_ev_result res, const struct redisReply *rep,
                          void *ud)
{
    struct correlator *c = ud;
    const redisReply *entries;
    int bad;

    if (!reply_live(c) || (c->phase != PH_PENDING && c->phase != PH_NEW))
        return;
    if (is_error(res, rep)) {
        chain_fail(c, "XREADGROUP", why(res, rep));
        return;
    }
    entries = stream_entries(rep, &bad);
    if (bad) {
        chain_fail(c, "XREADGROUP", "unexpected reply shape");
        return;
    }
    c->failures = 0;
    log_debug("correlator: %s read: %zu entr%s", c->phase == PH_PENDING ? "pending" : "new",
              entries ? entries->elements : 0,
              entries && entries->elements == 1 ? "y" : "ies");
    if (c->phase == PH_PENDING && (entries == NULL || entries->elements == 0)) {
        /* Our backlog is done; now what dead consumers left behind. */
        c->read_phase = PH_CLAIM;
        snprintf(c->cursor, sizeof c->cursor, "0-0");
    }
    take_batch(c, entries);
}

static void on_claim_reply(enum redis_ev_result res, const struct redisReply *rep,
                           void *ud)
{
    struct correlator *c = ud;
    const redisReply *cur, *entries;

    if (!reply_live(c) || c->phase != PH_CLAIM)
        return;
    if (is_error(res, rep)) {
        chain_fail(c, "XAUTOCLAIM", why(res, rep));
        return;
    }
    /* 6.2: [cursor, entries]; 7.0+: [cursor, entries, deleted ids] (those
     * are already out of the PEL: nothing to acknowledge). */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_ARRAY ||
        rep->element[0]->len >= sizeof c->cursor) {
        chain_fail(c, "XAUTOCLAIM", "unexpected reply shape");
        return;
    }
    c->failures = 0;
    cur = rep->element[0];
    entries = rep->element[1];
    memcpy(c->cursor, cur->str, cur->len);
    c->cursor[cur->len] = 0;
    if (entries->elements > 0)
        log_info("correlator: claimed %zu archive entr%s idle for over %lld ms",
                 entries->elements, entries->elements == 1 ? "y" : "ies",
                 (long long)c->claim_idle_ms);
    if (strcmp(c->cursor, "0-0") == 0) {
        c->read_phase = PH_NEW;
        c->last_claim = ev_now(c->loop);
    }
    take_batch(c, entries);
}

/* XPENDING extended form: [[id, consumer, idle, deliveries], ...] of our
 * pending entries after last_id. Then the pending read itself, one entry
 * at a time when any of them has been delivered twice: one of them may be
 * what failed (or killed us) last time. */
static void on_pcount_reply(enum redis_ev_result res, const struct redisReply *rep,
                            void *ud)
{
    struct correlator *c = ud;
    char count[16];
    int narrow = 0;

    if (!reply_live(c) || c->phase != PH_PCOUNT)
        return;
    if (is_error(res, rep) || rep->type != REDIS_REPLY_ARRAY) {
        chain_fail(c, "XPENDING", why(res, rep));
        return;
    }
    c->npcounts = 0;
    if (rep->elements > c->pcounts_cap) {
        struct pcount *p = realloc(c->pcounts, rep->elements * sizeof *p);

        if (p == NULL) {
            chain_fail(c, "XPENDING", "out of memory");
            return;
        }
        c->pcounts = p;
        c->pcounts_cap = rep->elements;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 ||
            e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[0]->len >= STREAM_ID_SIZE ||
            e->element[3]->type != REDIS_REPLY_INTEGER)
            continue;
        memcpy(c->pcounts[c->npcounts].id, e->element[0]->str, e->element[0]->len);
        c->pcounts[c->npcounts].id[e->element[0]->len] = 0;
        c->pcounts[c->npcounts].deliveries = e->element[3]->integer;
        if (e->element[3]->integer >= 2)
            narrow = 1;
        c->npcounts++;
    }
    if (rep->elements == 0) {
        /* Our backlog is done; now what dead consumers left behind. The
         * round still runs: incidents dirtied meanwhile are written. */
        c->read_phase = PH_CLAIM;
        snprintf(c->cursor, sizeof c->cursor, "0-0");
        take_batch(c, NULL);
        return;
    }
    snprintf(count, sizeof count, "%u", narrow ? 1u : read_count(c));
    {
        const char *argv[] = {"XREADGROUP", "GROUP", CORRELATOR_GROUP, c->consumer,
                              "COUNT", count, "STREAMS", ARCHIVE_STREAM, c->last_id};

        c->phase = PH_PENDING;
        if (send_cmd(c, on_read_reply, CMD_TIMEOUT_MS, 9, argv) < 0)
            chain_fail(c, "reading the archive", "not connected");
    }
}

/* Entries to read at once: as many as take about QUENCH_LOOP_SLICE_MS to
 * correlate (a batch is taken in one go, on the loop that acknowledges
 * webhooks: 100 storm webhooks of 10 alerts each held it up for tens of
 * ms), between 1 and the configured batch. */
static unsigned read_count(const struct correlator *c)
{
    double n;

    if (c->entry_cost <= 0)
        return c->batch;
    n = QUENCH_LOOP_SLICE_MS / 1000.0 / c->entry_cost;
    if (n < 1)
        return 1;
    return n < (double)c->batch ? (unsigned)n : c->batch;
}

/* Issue the read the chain is at. */
static void next_read(struct correlator *c)
{
    char count[16], block[16], idle[32];
    int rc;

    snprintf(count, sizeof count, "%u", read_count(c));
    snprintf(block, sizeof block, "%u", c->block_ms);
    snprintf(idle, sizeof idle, "%lld", (long long)c->claim_idle_ms);
    if (c->read_phase == PH_NEW &&
        ev_now(c->loop) - c->last_claim >= (double)c->claim_idle_ms / 1000.0) {
        c->read_phase = PH_CLAIM;
        snprintf(c->cursor, sizeof c->cursor, "0-0");
    }
    c->phase = c->read_phase;
    if (c->read_phase != PH_PENDING)
        c->npcounts = 0;   /* counts are of the pending read only */
    switch (c->read_phase) {
    case PH_PENDING: {
        /* Exclusive start after the last entry taken ("(" since 6.2). */
        char start[STREAM_ID_SIZE + 1];
        const char *argv[] = {"XPENDING", ARCHIVE_STREAM, CORRELATOR_GROUP,
                              start, "+", count, c->consumer};

        if (strcmp(c->last_id, "0") == 0)
            snprintf(start, sizeof start, "-");
        else
            snprintf(start, sizeof start, "(%s", c->last_id);
        c->phase = PH_PCOUNT;
        rc = send_cmd(c, on_pcount_reply, CMD_TIMEOUT_MS, 7, argv);
        break;
    }
    case PH_CLAIM: {
        const char *argv[] = {"XAUTOCLAIM", ARCHIVE_STREAM, CORRELATOR_GROUP,
                              c->consumer, idle, c->cursor, "COUNT", count};
        rc = send_cmd(c, on_claim_reply, CMD_TIMEOUT_MS, 8, argv);
        break;
    }
    default: {
        const char *argv[] = {"XREADGROUP", "GROUP", CORRELATOR_GROUP, c->consumer,
                              "COUNT", count, "BLOCK", block,
                              "STREAMS", ARCHIVE_STREAM, ">"};
        /* With deferred writes, do not block past the persist interval:
         * an empty read then writes them. */
        if (c->nacks > 0)
            snprintf(block, sizeof block, "%u", (unsigned)(1000 *
                     (PERSIST_INTERVAL_S > PERSIST_COST_SPACING * c->persist_cost
                          ? PERSIST_INTERVAL_S
                          : PERSIST_COST_SPACING * c->persist_cost)));
        if (!c->caught_up) {
            c->caught_up = 1;
            c->caught_up_once = 1;
            log_info("correlator: caught up (%lu entries taken, %lu skipped); "
                     "reading new entries as %s", c->st.entries, c->st.skipped,
                     c->consumer);
        }
        rc = send_cmd(c, on_read_reply, c->block_ms + CMD_TIMEOUT_MS, 11, argv);
        break;
    }
    }
    if (rc < 0)
        chain_fail(c, "reading the archive", "not connected");
}

/* ---- restore ------------------------------------------------------------- */

static const char *str_or(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

static int cmp_opened(const void *x, const void *y)
{
    json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    json_int_t oa = json_integer_value(json_object_get(a, "opened_at"));
    json_int_t ob = json_integer_value(json_object_get(b, "opened_at"));

    if (oa != ob)
        return oa < ob ? -1 : 1;
    return strcmp(str_or(json_object_get(a, "id")), str_or(json_object_get(b, "id")));
}

static int add_alias(struct correlator *c, const char *id, const char *into)
{
    if (strlen(id) >= CORRELATE_ID_SIZE || strlen(into) >= CORRELATE_ID_SIZE)
        return 0;
    /* Keep chains one hop long: what led to ID now leads to INTO. */
    for (size_t i = 0; i < c->naliases; i++) {
        if (strcmp(c->aliases[i].id, id) == 0)
            return 0;
        if (strcmp(c->aliases[i].into, id) == 0)
            snprintf(c->aliases[i].into, CORRELATE_ID_SIZE, "%s", into);
    }
    if (c->naliases == c->aliases_cap) {
        size_t cap = c->aliases_cap ? c->aliases_cap * 2 : 16;
        struct alias *a = realloc(c->aliases, cap * sizeof *a);

        if (a == NULL)
            return -1;
        c->aliases = a;
        c->aliases_cap = cap;
    }
    snprintf(c->aliases[c->naliases].id, CORRELATE_ID_SIZE, "%s", id);
    snprintf(c->aliases[c->naliases].into, CORRELATE_ID_SIZE, "%s", into);
    c->naliases++;
    return 0;
}

/* Load the collected states into the engine, oldest first (the same order
 * the incidents were opened in, so slots come out as they were). */
static void restore_apply(struct correlator *c)
{
    size_t n = json_array_size(c->loaded);
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    unsigned long ok = 0;

    if (v == NULL) {
        chain_fail(c, "restoring incidents", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(c->loaded, i);
    qsort(v, n, sizeof *v, cmp_opened);
    for (size_t i = 0; i < n; i++) {
        struct qerr err;

        memset(&err, 0, sizeof err);
        if (correlate_incident_restore(engine_correlate_mut(c->e), v[i], &err) < 0) {
            char line[600];

            /* Written by us, so this is corruption or OOM: log it and go on
             * rather than refuse to correlate anything. */
            qerr_format(&err, line, sizeof line);
            log_error("correlator: cannot restore incident %s: %s",
                      str_or(json_object_get(v[i], "id")), line);
            continue;
        }
        ok++;
    }
    free(v);
    json_decref(c->loaded);
    c->loaded = NULL;
    /* What was restored is what Redis holds: nothing to write, except the
     * incidents stored in the old format or found damaged, which the
     * first round writes whole. */
    correlate_changes_clear(engine_correlate_mut(c->e));
    for (size_t i = 0; i < json_array_size(c->rewrite_ids); i++) {
        int64_t s = engine_find(c->e, json_string_value(json_array_get(c->rewrite_ids, i)));

        if (s >= 0 && mark_rewrite(c, (uint32_t)s) < 0)
            log_error("correlator: out of memory: incident %s stays in its "
                      "old format until it changes",
                      json_string_value(json_array_get(c->rewrite_ids, i)));
        else if (s >= 0)
            c->st.rewritten_old_format++;
    }
    json_decref(c->rewrite_ids);
    c->rewrite_ids = NULL;
    c->restored = 1;
    c->st.restored = 1;
    c->st.restored_incidents = ok;
    log_info("correlator: restored %lu incident(s), %zu merged id(s) and a "
             "history of %lu closed incident(s) from Redis", ok, c->naliases,
             c->st.restored_history);
}

/* A fire-and-forget command of no consequence to the chain. */
static void on_ignore(enum redis_ev_result res, const struct redisReply *rep,
                      void *ud)
{
    (void)res;
    (void)rep;
    (void)reply_live(ud);
}

struct load_req {
    struct correlator *c;
    char id[CORRELATE_ID_SIZE];
};

static int cmp_seq(const void *x, const void *y)
{
    json_int_t a = json_integer_value(json_object_get(*(json_t *const *)x, "seq"));
    json_int_t b = json_integer_value(json_object_get(*(json_t *const *)y, "seq"));

    return a < b ? -1 : a > b;
}

/* Incident ID's stored hash (HGETALL reply REP) into the restore: the
 * state as correlate_incident_restore takes it (header plus its alert
 * fields in seq order, as "alerts"), an alias, or nothing (expired). The
 * old format (state holding the whole incident) is taken as it is and
 * marked to be written whole, in the new format, by the first round.
 * -1 OOM. */
static int load_hash(struct correlator *c, const char *id, const redisReply *rep)
{
    const redisReply *st = NULL, *mi = NULL;
    json_t *s, *alerts = NULL, **v = NULL;
    json_error_t je;
    size_t nv = 0, nfields = 0;
    int whole = 0, rc = -1;

    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *k = rep->element[i];

        if (k->type != REDIS_REPLY_STRING)
            continue;
        if (k->len == 5 && memcmp(k->str, "state", 5) == 0)
            st = rep->element[i + 1];
        else if (k->len == 11 && memcmp(k->str, "merged_into", 11) == 0)
            mi = rep->element[i + 1];
        else if (k->len > 2 && memcmp(k->str, CORRELATOR_ALERT_FIELD, 2) == 0)
            nfields++;
    }
    if (st == NULL || st->type != REDIS_REPLY_STRING) {
        if (mi != NULL && mi->type == REDIS_REPLY_STRING) {
            char into[CORRELATE_ID_SIZE];

            snprintf(into, sizeof into, "%.*s", (int)mi->len, mi->str);
            return add_alias(c, id, into);
        }
        if (nfields > 0)
            log_error("correlator: stored incident %s has %zu alert fields "
                      "but no state; not restored", id, nfields);
        /* Expired (closed long ago): drop it from the index. */
        const char *argv[] = {"SREM", CORRELATOR_INDEX, id};
        (void)send_cmd(c, on_ignore, CMD_TIMEOUT_MS, 3, argv);
        return 0;
    }
    s = json_loadb(st->str, st->len, 0, &je);
    if (s == NULL || !json_is_object(s)) {
        log_error("correlator: stored state of incident %s is not a JSON "
                  "object: %s", id, s ? "" : je.text);
        json_decref(s);
        return 0;
    }
    if (json_object_get(s, "alerts") != NULL) {
        /* The old format: the whole incident in state. Alert fields next
         * to it would be left over from something else: the rewrite
         * drops them. */
        whole = 1;
    } else {
        json_int_t want = json_integer_value(json_object_get(s, "nalerts"));

        v = malloc((nfields ? nfields : 1) * sizeof *v);
        alerts = json_array();
        if (v == NULL || alerts == NULL)
            goto out;
        for (size_t i = 0; i + 1 < rep->elements; i += 2) {
            const redisReply *k = rep->element[i], *x = rep->element[i + 1];
            json_t *a;

            if (k->type != REDIS_REPLY_STRING || k->len <= 2 ||
                memcmp(k->str, CORRELATOR_ALERT_FIELD, 2) != 0)
                continue;
            a = x->type == REDIS_REPLY_STRING ? json_loadb(x->str, x->len, 0, &je)
                                              : NULL;
            if (a == NULL || !json_is_integer(json_object_get(a, "seq"))) {
                log_error("correlator: stored alert %.*s of incident %s is "
                          "malformed; left out", (int)k->len, k->str, id);
                json_decref(a);
                whole = 1;
                continue;
            }
            v[nv++] = a;
        }
        qsort(v, nv, sizeof *v, cmp_seq);
        for (size_t i = 0; i < nv; i++) {
            /* Positions 0..n-1 when every write was whole; otherwise the
             * order is kept, and the rewrite makes them so again. */
            if (json_integer_value(json_object_get(v[i], "seq")) != (json_int_t)i)
                whole = 1;
            json_object_del(v[i], "seq");
            if (json_array_append(alerts, v[i]) < 0)
                goto out;
        }
        if ((json_int_t)nv != want) {
            log_error("correlator: stored incident %s holds %zu alert "
                      "field(s), its header says %lld; restoring what is "
                      "there", id, nv, (long long)want);
            whole = 1;
        }
        json_object_del(s, "nalerts");
        if (json_object_set(s, "alerts", alerts) < 0)
            goto out;
    }
    if (json_array_append(c->loaded, s) < 0 ||
        (whole && json_array_append_new(c->rewrite_ids, json_string(id)) < 0))
        goto out;
    rc = 0;
out:
    for (size_t i = 0; i < nv; i++)
        json_decref(v[i]);
    free(v);
    json_decref(alerts);
    json_decref(s);
    return rc;
}

static void on_load_reply(enum redis_ev_result res, const struct redisReply *rep,
                          void *ud)
{
    struct load_req *lr = ud;
    struct correlator *c = lr->c;

    if (!reply_live(c) || c->phase != PH_LOAD) {
        free(lr);
        return;
    }
    if (is_error(res, rep) || rep->type != REDIS_REPLY_ARRAY) {
        if (!c->group_failed)
            log_warn("correlator: loading incident %s failed: %s", lr->id,
                     why(res, rep));
        c->group_failed = 1;
    } else if (load_hash(c, lr->id, rep) < 0) {
        c->group_failed = 1;
    }
    free(lr);
    if (--c->group_left > 0)
        return;
    if (c->group_failed) {
        json_array_clear(c->loaded);
        json_array_clear(c->rewrite_ids);
        c->naliases = 0;
        chain_fail(c, "restoring incidents", "a read failed");
        return;
    }
    restore_apply(c);
    if (c->restored) {
        c->read_phase = PH_PENDING;
        snprintf(c->last_id, sizeof c->last_id, "0");
        next_read(c);
    }
}

static void on_index_reply(enum redis_ev_result res, const struct redisReply *rep,
                           void *ud)
{
    struct correlator *c = ud;

    if (!reply_live(c) || c->phase != PH_INDEX)
        return;
    if (is_error(res, rep) || rep->type != REDIS_REPLY_ARRAY) {
        chain_fail(c, "SMEMBERS " CORRELATOR_INDEX, why(res, rep));
        return;
    }
    json_decref(c->loaded);
    json_decref(c->rewrite_ids);
    c->loaded = json_array();
    c->rewrite_ids = json_array();
    c->naliases = 0;
    if (c->loaded == NULL || c->rewrite_ids == NULL) {
        chain_fail(c, "restoring incidents", "out of memory");
        return;
    }
    c->phase = PH_LOAD;
    c->group_left = 0;
    c->group_failed = 0;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *id = rep->element[i];
        char key[sizeof CORRELATOR_INCIDENT_PREFIX + CORRELATE_ID_SIZE];
        const char *argv[] = {"HGETALL", key};
        size_t lens[2];
        struct load_req *lr;

        if (id->type != REDIS_REPLY_STRING || id->len >= CORRELATE_ID_SIZE)
            continue;
        lr = calloc(1, sizeof *lr);
        if (lr == NULL) {
            c->group_failed = 1;
            break;
        }
        lr->c = c;
        memcpy(lr->id, id->str, id->len);
        snprintf(key, sizeof key, "%s%s", CORRELATOR_INCIDENT_PREFIX, lr->id);
        for (int k = 0; k < 2; k++)
            lens[k] = strlen(argv[k]);
        if (redis_ev_command(c->r, 2, argv, lens, CMD_TIMEOUT_MS, on_load_reply,
                             lr) < 0) {
            free(lr);
            c->group_failed = 1;
            break;
        }
        c->outstanding++;
        c->group_left++;
    }
    if (c->group_left == 0) {
        if (c->group_failed) {
            chain_fail(c, "restoring incidents", "not connected or out of memory");
            return;
        }
        restore_apply(c);
        if (c->restored) {
            c->read_phase = PH_PENDING;
            snprintf(c->last_id, sizeof c->last_id, "0");
            next_read(c);
        }
    }
}

/* The stored history into the engine, before any incident and entry (the
 * ranking of every incident looks it up). A malformed value (not JSON,
 * not a history dump, not a string) is logged and ignored: the history
 * then starts empty, which costs damping, never correctness, and the next
 * close overwrites the key. Then the incidents. */
static void on_history_reply(enum redis_ev_result res, const struct redisReply *rep,
                             void *ud)
{
    struct correlator *c = ud;
    struct history *h = engine_history(c->e);
    const char *argv[] = {"SMEMBERS", CORRELATOR_INDEX};
    char line[600];

    if (!reply_live(c) || c->phase != PH_HISTORY)
        return;
    line[0] = 0;
    if (res == REDIS_EV_REPLY && rep != NULL && rep->type == REDIS_REPLY_ERROR &&
        strncmp(rep->str, "WRONGTYPE", 9) == 0) {
        snprintf(line, sizeof line, "not a string");
    } else if (is_error(res, rep)) {
        chain_fail(c, "GET " CORRELATOR_HISTORY, why(res, rep));
        return;
    } else if (rep->type == REDIS_REPLY_STRING) {
        json_error_t je;
        json_t *j = json_loadb(rep->str, rep->len, 0, &je);
        struct qerr err;

        memset(&err, 0, sizeof err);
        if (j == NULL)
            snprintf(line, sizeof line, "not JSON: %s", je.text);
        else if (history_restore(h, j, &err) < 0)
            /* H is unchanged: empty, since nothing was ingested yet (a
             * retried restore read the same key). */
            qerr_format(&err, line, sizeof line);
        json_decref(j);
    } else if (rep->type != REDIS_REPLY_NIL) {   /* nil: never written */
        snprintf(line, sizeof line, "unexpected reply type %d", rep->type);
    }
    if (line[0])
        log_error("correlator: ignoring the stored history (" CORRELATOR_HISTORY
                  "): %s; recurrence starts empty", line);
    c->st.restored_history = history_incidents(h);
    c->phase = PH_INDEX;
    if (send_cmd(c, on_index_reply, CMD_TIMEOUT_MS, 2, argv) < 0)
        chain_fail(c, "SMEMBERS", "not connected");
}

/* ---- the chain ----------------------------------------------------------- */

static void on_create_reply(enum redis_ev_result res, const struct redisReply *rep,
                            void *ud)
{
    struct correlator *c = ud;

    if (!reply_live(c) || c->phase != PH_CREATE)
        return;
    /* BUSYGROUP: created by an earlier run, which is the normal case. */
    if (is_error(res, rep) &&
        !(res == REDIS_EV_REPLY && rep != NULL && rep->type == REDIS_REPLY_ERROR &&
          strncmp(rep->str, "BUSYGROUP", 9) == 0)) {
        chain_fail(c, "XGROUP CREATE", why(res, rep));
        return;
    }
    if (!c->restored) {
        const char *argv[] = {"GET", CORRELATOR_HISTORY};

        c->phase = PH_HISTORY;
        if (send_cmd(c, on_history_reply, CMD_TIMEOUT_MS, 2, argv) < 0)
            chain_fail(c, "GET " CORRELATOR_HISTORY, "not connected");
        return;
    }
    c->read_phase = PH_PENDING;
    snprintf(c->last_id, sizeof c->last_id, "0");
    /* Incidents left dirty by a failed round are written first. */
    c->nacks = 0;
    persist_then_ack(c);
}

static void chain_begin(struct correlator *c)
{
    /* Id 0, not $: see correlator.h. */
    const char *argv[] = {"XGROUP", "CREATE", ARCHIVE_STREAM, CORRELATOR_GROUP,
                          "0", "MKSTREAM"};

    ev_timer_stop(c->loop, &c->retry);
    if (c->multi_open) {
        /* A round could send neither its EXEC nor its DISCARD: close the
         * transaction, or every command below would be queued in it. An
         * error reply (no MULTI open after all) is as good. */
        const char *discard[] = {"DISCARD"};

        if (send_cmd(c, on_ignore, CMD_TIMEOUT_MS, 1, discard) == 0)
            c->multi_open = 0;
    }
    c->phase = PH_CREATE;
    c->caught_up = 0;
    if (send_cmd(c, on_create_reply, CMD_TIMEOUT_MS, 6, argv) < 0)
        chain_fail(c, "XGROUP CREATE", "not connected");
}

/* ---- tick ---------------------------------------------------------------- */

/* Every second: close the incidents whose resolve_quiet has passed, on the
 * wall clock. Only after the first catch-up: before that, entries older
 * than now are still to come, and closing first would let them open new
 * incidents where replay would have joined them. The closes are written
 * with the next batch (at the latest when the blocking read returns). */
static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct correlator *c = container_of(w, struct correlator, tick);
    size_t n;

    (void)loop;
    (void)revents;
    if (ev_now(c->loop) - c->last_lag >= LAG_EVERY_S) {
        c->last_lag = ev_now(c->loop);
        request_lag(c);
    }
    /* Not while a round is sent between slices: it reads the incidents
     * and dumps the history last, so a close in between would be stored
     * in the history without its incident (see the top of this file).
     * It waits a second. */
    if (!c->caught_up_once || c->sending)
        return;
    n = engine_tick(c->e, c->clock_ms());
    if (n > 0)
        log_info("correlator: %zu incident(s) closed", n);
}

/* ---- housekeeping -------------------------------------------------------- */

/* Fire-and-forget: a failure only delays what it tidies (an index entry
 * whose key expires anyway, a lag reading). */
static void send_tidy(struct correlator *c, int argc, const char *const *argv)
{
    (void)send_cmd(c, on_ignore, CMD_TIMEOUT_MS, argc, argv);
}

/* Forget incident ID in Redis too: the index entry and the key (which
 * would expire on its own; dropping it now keeps a restart from restoring
 * what memory no longer holds). */
static void forget_in_redis(struct correlator *c, const char *id)
{
    char key[sizeof CORRELATOR_INCIDENT_PREFIX + CORRELATE_ID_SIZE];
    const char *srem[] = {"SREM", CORRELATOR_INDEX, id};
    const char *unlink_[] = {"UNLINK", key};

    snprintf(key, sizeof key, "%s%s", CORRELATOR_INCIDENT_PREFIX, id);
    send_tidy(c, 3, srem);
    send_tidy(c, 2, unlink_);
}

static void on_lag_reply(enum redis_ev_result res, const struct redisReply *rep,
                         void *ud)
{
    struct correlator *c = ud;

    c->outstanding--;
    if (c->closing || is_error(res, rep) || rep->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *g = rep->element[i], *name, *lag;

        if (g->type != REDIS_REPLY_ARRAY)
            continue;
        name = field(g, "name");
        if (name == NULL || name->type != REDIS_REPLY_STRING ||
            strcmp(name->str, CORRELATOR_GROUP) != 0)
            continue;
        lag = field(g, "lag");
        /* nil when Redis cannot tell (entries deleted mid-stream). */
        c->st.lag = lag && lag->type == REDIS_REPLY_INTEGER ? lag->integer : -1;
    }
}

/* Drop closed incidents older than the TTL from the engine, in step with
 * the API (which stops listing them at the same age) and with Redis
 * (where their keys expire at about the same age). A merged-away slot is
 * released by every prune; its id keeps resolving through an alias for as
 * long as its survivor lives, as it does after a restart. */
static void prune(struct correlator *c, int64_t now)
{
    const struct correlate *cr = engine_correlate(c->e);
    uint32_t nslots = correlate_incident_slots(cr);
    int64_t before = now - c->closed_ttl_ms;
    char (*gone)[CORRELATE_ID_SIZE] = NULL;
    size_t ngone = 0, released, k = 0;

    gone = malloc((nslots ? nslots : 1) * sizeof *gone);
    if (gone == NULL)
        return;   /* next time */
    for (uint32_t s = 0; s < nslots; s++) {
        struct correlate_incident ci, si;
        int64_t into;

        if (correlate_incident(cr, s, &ci) < 0)
            continue;
        if (ci.state == CORRELATE_CLOSED && ci.closed_at < before) {
            snprintf(gone[ngone++], CORRELATE_ID_SIZE, "%s", ci.id);
        } else if (ci.state == CORRELATE_MERGED) {
            into = engine_find(c->e, ci.id);
            if (into >= 0 && correlate_incident(cr, (uint32_t)into, &si) == 0 &&
                add_alias(c, ci.id, si.id) < 0) {
                free(gone);
                return;   /* keep the slot (and its id) until memory allows */
            }
        }
    }
    released = engine_prune(c->e, before);
    c->st.pruned += released;
    for (size_t i = 0; i < ngone; i++)
        if (correlate_find(cr, gone[i]) < 0)
            forget_in_redis(c, gone[i]);
    free(gone);
    /* Aliases whose survivor went too lead nowhere now. */
    for (size_t i = 0; i < c->naliases; i++) {
        if (correlator_find(c, c->aliases[i].id) >= 0) {
            c->aliases[k++] = c->aliases[i];
            continue;
        }
        forget_in_redis(c, c->aliases[i].id);
    }
    c->naliases = k;
    if (released > 0)
        log_info("correlator: pruned %zu incident(s) closed before the "
                 "%lld ms horizon", released, (long long)c->closed_ttl_ms);
}

/* Housekeeping, every prune_every_ms (each job non-blocking):
 * - prune: closed incidents past closed_ttl_ms leave memory and Redis, so
 *   memory follows the live incidents (once restored: pruning before the
 *   restore would miss what it loads);
 * - lag: XINFO GROUPS for /metrics and /readyz (queued behind a blocking
 *   read at worst: block_ms late). */
static void on_housekeeping(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct correlator *c = container_of(w, struct correlator, housekeeping);

    (void)loop;
    (void)revents;
    /* Not while writes are owed: a merged slot released before its
     * merged_into was written would leave its id unresolvable after a
     * restart. Those wait for Redis; the prune waits for them. */
    if (c->restored && c->ndirty == 0 && c->nflight == 0 && c->nadirty == 0 &&
        c->naflight == 0 && c->ngone == 0)
        prune(c, c->clock_ms());
}

static void request_lag(struct correlator *c)
{
    const char *argv[] = {"XINFO", "GROUPS", ARCHIVE_STREAM};

    /* Not into an open MULTI (a round sent slice by slice). */
    if (!c->connected || c->multi_open)
        return;
    (void)send_cmd(c, on_lag_reply, CMD_TIMEOUT_MS, 3, argv);
}

/* ---- public -------------------------------------------------------------- */

int correlator_new(struct correlator **out, struct ev_loop *loop,
                   const struct redis_ev_options *conn, struct engine *e,
                   const struct correlator_options *o, struct qerr *err)
{
    struct correlator *c = calloc(1, sizeof *c);
    struct correlator_options d;

    *out = NULL;
    memset(&d, 0, sizeof d);
    if (o == NULL)
        o = &d;
    if (c == NULL)
        return qerr_set(err, "correlator", 0, 0, "out of memory");
    c->loop = loop;
    c->e = e;
    c->consumer = strdup(o->consumer && o->consumer[0] ? o->consumer : "quench");
    c->claim_idle_ms = o->claim_idle_ms > 0 ? o->claim_idle_ms : 60000;
    c->closed_ttl_ms = o->closed_ttl_ms > 0 ? o->closed_ttl_ms
                                            : CORRELATOR_CLOSED_TTL_MS;
    c->prune_every_ms = o->prune_every_ms > 0 ? o->prune_every_ms : 60000;
    c->st.lag = -1;
    c->block_ms = o->block_ms ? o->block_ms : 2000;
    c->batch = o->batch ? o->batch : 100;
    c->clock_ms = o->clock_ms ? o->clock_ms : wall_ms;
    snprintf(c->last_id, sizeof c->last_id, "0");
    snprintf(c->cursor, sizeof c->cursor, "0-0");
    if (c->consumer == NULL || jdoc_new(&c->doc) != 0) {
        free(c->consumer);
        free(c);
        return qerr_set(err, "correlator", 0, 0, "out of memory");
    }
    if (redis_ev_new(&c->r, loop, conn, err) < 0) {
        jdoc_free(c->doc);
        free(c->consumer);
        free(c);
        return -1;
    }
    redis_ev_on_state(c->r, on_state, c);
    ev_timer_init(&c->tick, on_tick, 1.0, 1.0);
    ev_timer_init(&c->retry, on_retry, 0.25, 0.0);
    ev_timer_init(&c->pump, on_pump, 0.0, 0.0);
    ev_timer_init(&c->housekeeping, on_housekeeping,
                  (double)c->prune_every_ms / 1000.0,
                  (double)c->prune_every_ms / 1000.0);
    engine_set_hook(e, on_engine, c);
    /* Which alerts changed, for writing those alone (persist_then_ack). */
    correlate_track_changes(engine_correlate_mut(e), 1);
    *out = c;
    return 0;
}

void correlator_start(struct correlator *c)
{
    c->last_claim = ev_now(c->loop);
    c->last_lag = ev_now(c->loop) - LAG_EVERY_S;
    ev_timer_start(c->loop, &c->tick);
    ev_timer_start(c->loop, &c->housekeeping);
    redis_ev_start(c->r);
}

void correlator_free(struct correlator *c)
{
    if (c == NULL)
        return;
    c->closing = 1;
    ev_timer_stop(c->loop, &c->tick);
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_stop(c->loop, &c->housekeeping);
    ev_timer_stop(c->loop, &c->pump);
    engine_set_hook(c->e, NULL, NULL);
    correlate_track_changes(engine_correlate_mut(c->e), 0);
    /* Runs our callbacks with DISCONNECTED; `closing` makes them count
     * down only. */
    redis_ev_free(c->r);
    json_decref(c->loaded);
    json_decref(c->rewrite_ids);
    free(c->acks);
    free(c->dflag);
    free(c->rewrite);
    free(c->ffull);
    free(c->aflag);
    free(c->alist);
    free(c->aflight);
    free(c->gone);
    free(c->dlist);
    free(c->flist);
    free(c->aliases);
    dead_clear(c);
    free(c->dead);
    free(c->pcounts);
    jdoc_free(c->doc);
    free(c->consumer);
    free(c);
}

void correlator_status(const struct correlator *c, struct correlator_status *out)
{
    const struct correlate *cr = engine_correlate(c->e);
    uint32_t n = correlate_incident_slots(cr);

    *out = c->st;
    out->entities = topology_count(engine_topology(c->e));
    out->connected = c->connected;
    out->restored = c->restored;
    out->caught_up = c->caught_up;
    out->incidents_open = out->incidents_closed = 0;
    for (uint32_t s = 0; s < n; s++) {
        struct correlate_incident ci;

        if (correlate_incident(cr, s, &ci) < 0)
            continue;
        if (ci.state == CORRELATE_OPEN)
            out->incidents_open++;
        else if (ci.state == CORRELATE_CLOSED)
            out->incidents_closed++;
    }
}

int correlator_ready(const struct correlator *c)
{
    return c->connected && c->restored && c->caught_up;
}

int64_t correlator_find(const struct correlator *c, const char *id)
{
    const char *cur = id;

    for (int hop = 0; hop < MAX_ALIAS_HOPS; hop++) {
        int64_t s = engine_find(c->e, cur);
        const char *next = NULL;

        if (s >= 0)
            return s;
        for (size_t i = 0; i < c->naliases; i++)
            if (strcmp(c->aliases[i].id, cur) == 0) {
                next = c->aliases[i].into;
                break;
            }
        if (next == NULL)
            return -1;
        cur = next;
    }
    return -1;
}

/* ---- serve wiring -------------------------------------------------------- *
 *
 * The correlator runs on a thread and an ev loop of its own, so that its
 * work (parsing archived bodies, correlating, encoding rounds of writes)
 * never sits between a webhook and its acknowledgement on the main loop:
 * ingest's latency does not depend on how big the incidents are or how
 * far behind the correlator is. One mutex, s->lock, guards everything the
 * thread owns (correlator, engine, topology): the thread holds it except
 * while its loop blocks in the kernel (ev_set_loop_release_cb), and the
 * main thread takes it for the API handlers and the status it exports.
 * Nothing else is shared: the correlator has its own Redis connection,
 * the rules are read-only, logging is one write(2) per line.
 *
 * The mutex is not fair, and a busy correlator loop would re-take it the
 * moment it let go; s->wanted counts main-thread waiters, and the thread
 * yields to them before taking the lock again. */
struct serve_route {
    struct correlator_serve *s;
    http_handler_fn fn;
    void *ud;
};

struct correlator_serve {
    struct rules *rules;
    struct topology *topo;
    struct engine *engine;
    struct correlator *corr;
    struct api *api;
    struct ev_loop *loop;          /* the thread's */
    ev_async stop;
    pthread_t thread;
    int running;
    pthread_mutex_t lock;
    atomic_int wanted;             /* main-thread waiters for lock */
    struct serve_route routes[CORRELATOR_SERVE_NROUTES];
};

static void serve_lock(struct correlator_serve *s)
{
    atomic_fetch_add(&s->wanted, 1);
    pthread_mutex_lock(&s->lock);
    atomic_fetch_sub(&s->wanted, 1);
}

static void serve_unlock(struct correlator_serve *s)
{
    pthread_mutex_unlock(&s->lock);
}

static void loop_release(struct ev_loop *loop)
{
    struct correlator_serve *s = ev_userdata(loop);
    pthread_mutex_unlock(&s->lock);
}

static void loop_acquire(struct ev_loop *loop)
{
    struct correlator_serve *s = ev_userdata(loop);
    while (atomic_load(&s->wanted) > 0)
        sched_yield();
    pthread_mutex_lock(&s->lock);
}

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *serve_thread(void *arg)
{
    struct correlator_serve *s = arg;
    sigset_t all;
    int base;

    /* signals are the main loop's (SIGTERM, SIGCHLD of a private Redis) */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    /* When the CPUs are short (a storm), acknowledging webhooks comes
     * first: an unacknowledged webhook is retried by Alertmanager and
     * adds load, a correlator behind the archive only catches up later
     * (quench_correlator_lag_entries). Linux applies nice per thread,
     * given its tid; a failure only loses the preference. */
    errno = 0;
    base = getpriority(PRIO_PROCESS, 0);
    if (errno == 0)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
                          base + QUENCH_CORRELATOR_NICE);
    pthread_mutex_lock(&s->lock);
    ev_run(s->loop, 0);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* An API handler, called on the main thread with the thread's state
 * locked; it answers before returning (api.c never defers). */
static void locked_handler(struct http_req *req, void *ud)
{
    struct serve_route *r = ud;
    serve_lock(r->s);
    r->fn(req, r->ud);
    serve_unlock(r->s);
}

int correlator_serve_new(struct correlator_serve **out,
                         const struct config *cfg,
                         const struct redis_ev_options *conn, struct qerr *err)
{
    struct correlator_serve *s = calloc(1, sizeof *s);
    struct correlator_options co;
    struct api_options ao;

    *out = NULL;
    if (s == NULL)
        return qerr_set(err, "correlator", 0, 0, "out of memory");
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return qerr_set(err, "correlator", 0, 0, "cannot create a mutex");
    }
    atomic_init(&s->wanted, 0);
    memset(&co, 0, sizeof co);
    memset(&ao, 0, sizeof ao);
    co.consumer = cfg->consumer_name;
    /* One horizon for the API, memory and Redis (correlator.h). */
    co.closed_ttl_ms = ao.closed_ttl_ms = CORRELATOR_CLOSED_TTL_MS;
    ao.bearer_token = cfg->auth.api_bearer_token;
    /* The same files, defaults and errors as `quench replay --rules DIR`,
     * so a live incident and its replay come from the same rules. */
    if (rules_load_dir(cfg->rules_dir ? cfg->rules_dir : "rules", &s->rules,
                       &s->topo, err) < 0)
        goto fail;
    s->loop = ev_loop_new(EVFLAG_AUTO);
    if (s->loop == NULL) {
        qerr_set(err, "correlator", 0, 0, "cannot create an event loop");
        goto fail;
    }
    if (engine_new(&s->engine, s->topo, s->rules) < 0) {
        qerr_set(err, "engine", 0, 0, "out of memory");
        goto fail;
    }
    if (correlator_new(&s->corr, s->loop, conn, s->engine, &co, err) < 0 ||
        api_new(&s->api, s->engine, s->corr, &ao, err) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    correlator_serve_free(s);
    return -1;
}

int correlator_serve_routes(struct correlator_serve *s, struct http_route *out,
                            size_t cap)
{
    int n = api_routes(s->api, out, cap);

    if (n < 0 || (size_t)n > CORRELATOR_SERVE_NROUTES)
        return -1;
    for (int i = 0; i < n; i++) {
        s->routes[i] = (struct serve_route){s, out[i].fn, out[i].ud};
        out[i].fn = locked_handler;
        out[i].ud = &s->routes[i];
    }
    return n;
}

int correlator_serve_start(struct correlator_serve *s, struct qerr *err)
{
    /* Watchers are set up before the thread exists (pthread_create orders
     * these writes before anything the thread does). */
    correlator_start(s->corr);
    ev_async_init(&s->stop, on_stop);
    ev_async_start(s->loop, &s->stop);
    ev_set_userdata(s->loop, s);
    ev_set_loop_release_cb(s->loop, loop_release, loop_acquire);
    if (pthread_create(&s->thread, NULL, serve_thread, s) != 0)
        return qerr_set(err, "correlator", 0, 0, "cannot start its thread");
    s->running = 1;
    return 0;
}

void correlator_serve_status(struct correlator_serve *s,
                             struct correlator_status *out)
{
    serve_lock(s);
    correlator_status(s->corr, out);
    serve_unlock(s);
}

void correlator_serve_free(struct correlator_serve *s)
{
    if (s == NULL)
        return;
    if (s->running) {
        ev_async_send(s->loop, &s->stop);
        pthread_join(s->thread, NULL);
        s->running = 0;
    }
    /* Users before what they use: the correlator drives the engine, the
     * engine reads the rules and grows the topology. */
    api_free(s->api);
    correlator_free(s->corr);
    engine_free(s->engine);
    topology_free(s->topo);
    rules_free(s->rules);
    if (s->loop != NULL)
        ev_loop_destroy(s->loop);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
