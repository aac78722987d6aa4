/* test_correlator.c - the archive consumer against a real redis-server:
 * persist then acknowledge, closes expire, restore + pending re-read after
 * a restart, entries claimed from a dead consumer, unparsable and deleted
 * entries acknowledged, resume after Redis restarts, the history of closed
 * incidents persisted with the closes (one transaction) and restored;
 * incidents written incrementally (header + one field per alert: only
 * what changed, merges, failed rounds, the old whole-JSON format). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "correlator.h"
#include "engine.h"
#include "history.h"
#include "log.h"
#include "redis_server.h"
#include "rules.h"
#include "topology.h"

#define CONSUMER "ut"

struct fx {
    struct test_redis srv;
    struct ev_loop *loop;
    struct topology *t;
    struct rules *r;
    struct engine *e;
    struct correlator *c;
};

static int64_t fake_now;

static int64_t fake_clock(void)
{
    return fake_now;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)w; (void)revents;
}

/* Run the loop until PRED(f) or MS pass; PRED's result. */
static int run_until(struct fx *f, int (*pred)(struct fx *), double ms)
{
    ev_timer t;
    ev_tstamp end;
    int ok = 0;

    ev_timer_init(&t, idle_cb, 0.01, 0.01);
    ev_timer_start(f->loop, &t);
    ev_now_update(f->loop);
    end = ev_now(f->loop) + ms / 1000.0;
    while (!(ok = pred(f)) && ev_now(f->loop) < end)
        ev_run(f->loop, EVRUN_ONCE);
    ev_timer_stop(f->loop, &t);
    return ok;
}

static redisReply *cmd(struct fx *f, const char *fmt, ...)
{
    redisContext *c = test_redis_connect(&f->srv);
    redisReply *r;
    va_list ap;

    assert_non_null(c);
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(r);
    return r;
}

static long long cmd_int(struct fx *f, const char *fmt, const char *arg)
{
    redisReply *r = cmd(f, fmt, arg);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -999;

    freeReplyObject(r);
    return v;
}

/* A one-alert webhook body; its namespace (a scope label) is SERVICE, so
 * bodies of different services never join one incident. */
static char *body(const char *service, const char *fp, const char *status)
{
    char *s = malloc(2048);

    assert_non_null(s);
    assert_true(snprintf(s, 2048,
        "{\"version\":\"4\",\"groupKey\":\"{}:{service=\\\"%s\\\"}\","
        "\"truncatedAlerts\":0,\"status\":\"%s\",\"receiver\":\"q\","
        "\"groupLabels\":{},\"commonLabels\":{},\"commonAnnotations\":{},"
        "\"externalURL\":\"\",\"alerts\":[{\"status\":\"%s\",\"labels\":"
        "{\"alertname\":\"CpuHigh\",\"namespace\":\"%s\",\"service\":\"%s\"},"
        "\"annotations\":{},"
        "\"startsAt\":\"2024-01-01T00:00:00Z\",\"endsAt\":\"%s\","
        "\"generatorURL\":\"\",\"fingerprint\":\"%s\"}]}",
        service, status, status, service, service,
        strcmp(status, "resolved") == 0 ? "2024-01-01T00:05:00Z"
                                        : "0001-01-01T00:00:00Z",
        fp) < 2048);
    return s;
}

/* XADD an entry; its id into ID. */
static void xadd(struct fx *f, const char *b, int64_t received_at, char *id,
                 size_t cap)
{
    char ra[32];
    redisReply *r;

    snprintf(ra, sizeof ra, "%lld", (long long)received_at);
    r = cmd(f, "XADD quench:archive * received_at %s body %s", ra, b);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    if (id)
        snprintf(id, cap, "%s", r->str);
    freeReplyObject(r);
}

/* Called on the new topology by make_engine when set (a test's graph). */
static void (*make_engine_hook)(struct fx *f);

static void make_engine(struct fx *f)
{
    assert_int_equal(topology_new_empty(&f->t), 0);
    if (make_engine_hook)
        make_engine_hook(f);
    assert_int_equal(rules_new_default(&f->r), 0);
    assert_int_equal(engine_new(&f->e, f->t, f->r), 0);
}

static void drop_engine(struct fx *f)
{
    correlator_free(f->c);
    f->c = NULL;
    engine_free(f->e);
    topology_free(f->t);
    rules_free(f->r);
    f->e = NULL;
    f->t = NULL;
    f->r = NULL;
}

static void start_with(struct fx *f, int64_t claim_idle_ms, int64_t (*clock)(void),
                       int64_t closed_ttl_ms, int64_t prune_every_ms)
{
    struct redis_ev_options ro = {0};
    struct correlator_options o = {0};

    ro.unix_path = f->srv.sock;
    o.consumer = CONSUMER;
    o.claim_idle_ms = claim_idle_ms;
    o.block_ms = 200;
    o.clock_ms = clock;
    o.closed_ttl_ms = closed_ttl_ms;
    o.prune_every_ms = prune_every_ms;
    make_engine(f);
    assert_int_equal(correlator_new(&f->c, f->loop, &ro, f->e, &o, NULL), 0);
    correlator_start(f->c);
}

static void start(struct fx *f, int64_t claim_idle_ms, int64_t (*clock)(void))
{
    start_with(f, claim_idle_ms, clock, 0, 0);
}

static long long pending(struct fx *f)
{
    redisReply *r = cmd(f, "XPENDING quench:archive correlator");
    long long n = -1;

    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1)
        n = r->element[0]->integer;
    freeReplyObject(r);
    return n;
}

static int never(struct fx *f)
{
    (void)f;
    return 0;
}

/* Field NAME of a flat [name, value, ...] reply, or NULL. */
static const redisReply *info_field(const redisReply *r, const char *name)
{
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
}

/* Caught up: the last stream entry delivered to the group, none pending. */
static int settled(struct fx *f)
{
    struct correlator_status st;
    redisReply *s, *g;
    const redisReply *last, *del;
    int ok;

    correlator_status(f->c, &st);
    if (!st.caught_up || pending(f) != 0)
        return 0;
    s = cmd(f, "XINFO STREAM quench:archive");
    g = cmd(f, "XINFO GROUPS quench:archive");
    last = info_field(s, "last-generated-id");
    del = g->type == REDIS_REPLY_ARRAY && g->elements == 1
              ? info_field(g->element[0], "last-delivered-id") : NULL;
    ok = last && del && strcmp(last->str, del->str) == 0;
    freeReplyObject(s);
    freeReplyObject(g);
    return ok;
}

static int n_incidents(struct fx *f)
{
    uint32_t *slots;
    size_t n;

    assert_int_equal(engine_list(f->e, &slots, &n), 0);
    free(slots);
    return (int)n;
}

/* Id of the only incident into ID. */
static void only_id(struct fx *f, char *id)
{
    uint32_t *slots;
    size_t n;
    struct correlate_incident ci;

    assert_int_equal(engine_list(f->e, &slots, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(correlate_incident(engine_correlate(f->e), slots[0], &ci), 0);
    snprintf(id, CORRELATE_ID_SIZE, "%s", ci.id);
    free(slots);
}

static int setup(void **state)
{
    struct fx *f;

    if (!test_redis_available())
        return 0;
    f = calloc(1, sizeof *f);
    assert_int_equal(test_redis_spawn(&f->srv), 0);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (f == NULL)
        return 0;
    drop_engine(f);
    ev_loop_destroy(f->loop);
    test_redis_stop(&f->srv);
    free(f);
    return 0;
}

#define NEED_REDIS(f) do { if ((f) == NULL) skip(); } while (0)

static void test_persists_then_acks(void **state)
{
    struct fx *f = *state;
    char id[CORRELATE_ID_SIZE], key[64];
    char *b;
    redisReply *r;
    json_t *st;

    NEED_REDIS(f);
    b = body("cart", "00000000000000a1", "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    assert_true(correlator_ready(f->c));
    only_id(f, id);
    snprintf(key, sizeof key, "quench:incident:%s", id);
    r = cmd(f, "HGET %s state", key);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    st = json_loads(r->str, 0, NULL);
    freeReplyObject(r);
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(st, "id")), id);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "open");
    json_decref(st);
    assert_int_equal(cmd_int(f, "SISMEMBER quench:incidents %s", id), 1);
    assert_int_equal(cmd_int(f, "PTTL %s", key), -1);   /* open: no expiry */
}

static int acked_twelve(struct fx *f)
{
    struct correlator_status st;

    correlator_status(f->c, &st);
    return st.acked == 12;
}

/* Entries arriving one by one faster than the persist interval are
 * written in fewer rounds than reads, and every one is still persisted and
 * acknowledged once the burst stops (the deferred acks are not lost). */
static void test_burst_coalesces_writes(void **state)
{
    struct fx *f = *state;
    struct correlator_status st;
    char fp[17], *b;
    const int n = 12;

    NEED_REDIS(f);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    for (int i = 0; i < n; i++) {
        snprintf(fp, sizeof fp, "%016x", 0xb00 + i);
        b = body("cart", fp, "firing");
        xadd(f, b, wall_ms(), NULL, 0);
        free(b);
        (void)run_until(f, never, 15);     /* one read per entry */
    }
    assert_true(run_until(f, settled, 5000));
    assert_true(run_until(f, acked_twelve, 5000));   /* the XACK reply */
    correlator_status(f->c, &st);
    assert_int_equal(st.entries, n);
    assert_int_equal(st.acked, n);
    assert_int_equal(pending(f), 0);
    assert_true(st.persist_rounds < (unsigned long)n);
    assert_int_equal(n_incidents(f), 1);
}

static void test_close_expires(void **state)
{
    struct fx *f = *state;
    char id[CORRELATE_ID_SIZE], key[64];
    char *b;
    long long ttl;
    int64_t t0 = wall_ms();

    NEED_REDIS(f);
    b = body("cart", "00000000000000a2", "firing");
    xadd(f, b, t0, NULL, 0);
    free(b);
    b = body("cart", "00000000000000a2", "resolved");
    xadd(f, b, t0 + 1, NULL, 0);
    free(b);
    fake_now = t0;   /* the tick cannot close it yet */
    start(f, 0, fake_clock);
    assert_true(run_until(f, settled, 5000));
    only_id(f, id);
    snprintf(key, sizeof key, "quench:incident:%s", id);
    assert_int_equal(cmd_int(f, "PTTL %s", key), -1);
    /* Past resolve_quiet (5 m): the next tick closes it, the next round
     * writes the close with its expiry. */
    fake_now = t0 + 6 * 60 * 1000;
    for (int i = 0; i < 60; i++) {
        run_until(f, never, 100);
        if (cmd_int(f, "PTTL %s", key) > 0)
            break;
    }
    ttl = cmd_int(f, "PTTL %s", key);
    assert_true(ttl > 0 && ttl <= 7LL * 24 * 3600 * 1000);
    {
        redisReply *r = cmd(f, "HGET %s state", key);
        assert_non_null(strstr(r->str, "\"state\":\"closed\""));
        freeReplyObject(r);
    }
}

static void test_restore_and_pending(void **state)
{
    struct fx *f = *state;
    char id[CORRELATE_ID_SIZE], id2[CORRELATE_ID_SIZE];
    char *b;
    struct correlator_status st;
    struct correlate_incident ci;
    int64_t slot;

    NEED_REDIS(f);
    b = body("cart", "00000000000000b1", "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    only_id(f, id);
    drop_engine(f);   /* a stop: the state now lives only in Redis */

    /* Delivered to us and never acknowledged: a crash before XACK. */
    b = body("cart", "00000000000000b2", "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    freeReplyObject(cmd(f, "XREADGROUP GROUP correlator " CONSUMER
                           " COUNT 10 STREAMS quench:archive >"));
    assert_int_equal(pending(f), 1);

    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    correlator_status(f->c, &st);
    assert_int_equal(st.restored_incidents, 1);
    only_id(f, id2);
    assert_string_equal(id, id2);           /* same incident, same id */
    slot = correlator_find(f->c, id);
    assert_true(slot >= 0);
    assert_int_equal(correlate_incident(engine_correlate(f->e), (uint32_t)slot, &ci), 0);
    assert_int_equal(ci.nalerts, 2);        /* the pending one joined it */
}

static void test_claims_from_dead_consumer(void **state)
{
    struct fx *f = *state;
    char *b;
    redisReply *r;

    NEED_REDIS(f);
    freeReplyObject(cmd(f, "XGROUP CREATE quench:archive correlator 0 MKSTREAM"));
    b = body("cart", "00000000000000c1", "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    freeReplyObject(cmd(f, "XREADGROUP GROUP correlator dead COUNT 10 "
                           "STREAMS quench:archive >"));
    assert_int_equal(pending(f), 1);
    test_sleep_ms(120);
    start(f, 100, NULL);
    assert_true(run_until(f, settled, 5000));
    assert_int_equal(n_incidents(f), 1);
    r = cmd(f, "XPENDING quench:archive correlator - + 10 dead");
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
}

static void test_bad_and_deleted_entries_acked(void **state)
{
    struct fx *f = *state;
    char del[64], *b;
    struct correlator_status st;

    NEED_REDIS(f);
    freeReplyObject(cmd(f, "XGROUP CREATE quench:archive correlator 0 MKSTREAM"));
    xadd(f, "{not json", wall_ms(), NULL, 0);
    b = body("cart", "00000000000000d1", "firing");
    xadd(f, b, wall_ms(), del, sizeof del);
    free(b);
    freeReplyObject(cmd(f, "XREADGROUP GROUP correlator " CONSUMER
                           " COUNT 10 STREAMS quench:archive >"));
    freeReplyObject(cmd(f, "XDEL quench:archive %s", del));  /* [id, nil] */
    b = body("shop", "00000000000000d2", "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    correlator_status(f->c, &st);
    assert_int_equal(st.skipped, 2);
    assert_int_equal(n_incidents(f), 1);   /* only the good, live one */
    assert_int_equal(pending(f), 0);
}

static int has_two(struct fx *f)
{
    return n_incidents(f) == 2 && settled(f);
}

static void test_resumes_after_redis_restart(void **state)
{
    struct fx *f = *state;
    char *b;

    NEED_REDIS(f);
    b = body("cart", "00000000000000e1", "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    test_redis_kill(&f->srv, 1);
    run_until(f, never, 300);     /* let it notice */
    assert_false(correlator_ready(f->c));
    /* A fresh, empty server: the group is made again and reading goes on. */
    assert_int_equal(test_redis_spawn(&f->srv), 0);
    b = body("shop", "00000000000000e2", "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    assert_true(run_until(f, has_two, 10000));
    assert_true(correlator_ready(f->c));
}

/* Settled, and our XACK callbacks have run (Redis may answer the test's
 * connection before the correlator has read its own reply). */
static int settled_all_acked(struct fx *f)
{
    struct correlator_status st;

    correlator_status(f->c, &st);
    return st.acked == 3 && settled(f);
}

/* An entry delivered 5 times without an XACK (each time the process died
 * on it, say) is not correlated a sixth time: it goes to quench:deadletter
 * with its id, the reason, the count and its fields, and is acknowledged.
 * One delivered 4 times is still correlated; so is one never delivered. */
static void test_dead_letter(void **state)
{
    struct fx *f = *state;
    char poison[64], fourth[64], *pb, *b;
    struct correlator_status st;
    redisReply *r;
    const redisReply *fl;

    NEED_REDIS(f);
    freeReplyObject(cmd(f, "XGROUP CREATE quench:archive correlator 0 MKSTREAM"));
    pb = body("cart", "00000000000000f1", "firing");
    xadd(f, pb, wall_ms(), poison, sizeof poison);
    b = body("shop", "00000000000000f2", "firing");
    xadd(f, b, wall_ms(), fourth, sizeof fourth);
    free(b);
    /* Deliveries 1..4 of both, then a 5th of the first only. */
    freeReplyObject(cmd(f, "XREADGROUP GROUP correlator " CONSUMER
                           " COUNT 2 STREAMS quench:archive >"));
    for (int i = 0; i < 3; i++)
        freeReplyObject(cmd(f, "XREADGROUP GROUP correlator " CONSUMER
                               " COUNT 2 STREAMS quench:archive 0"));
    freeReplyObject(cmd(f, "XREADGROUP GROUP correlator " CONSUMER
                           " COUNT 1 STREAMS quench:archive 0"));
    b = body("web", "00000000000000f3", "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);

    start(f, 0, NULL);
    assert_true(run_until(f, settled_all_acked, 5000));
    correlator_status(f->c, &st);
    assert_int_equal(st.dead_letters, 1);
    assert_int_equal(st.acked, 3);
    assert_int_equal(n_incidents(f), 2);   /* shop and web, not cart */
    r = cmd(f, "XRANGE quench:deadletter - +");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    fl = r->element[0]->element[1];
    assert_string_equal(info_field(fl, "id")->str, poison);
    assert_string_equal(info_field(fl, "deliveries")->str, "6");
    assert_non_null(strstr(info_field(fl, "reason")->str, "without being acknowledged"));
    assert_string_equal(info_field(fl, "body")->str, pb);
    assert_non_null(info_field(fl, "received_at"));
    freeReplyObject(r);
    free(pb);
}

static int pruned_one(struct fx *f)
{
    struct correlator_status st;

    correlator_status(f->c, &st);
    return st.pruned == 1;
}

/* Housekeeping prunes a closed incident once it is closed_ttl_ms old:
 * gone from the engine, from the index and its key, while the open one
 * stays; the status counts what is held. */
static void test_prune_closed(void **state)
{
    struct fx *f = *state;
    char id[CORRELATE_ID_SIZE], key[64], *b;
    struct correlator_status st;
    int64_t t0 = wall_ms();
    uint32_t *slots;
    size_t n;
    struct correlate_incident ci;

    NEED_REDIS(f);
    b = body("cart", "0000000000000101", "firing");
    xadd(f, b, t0, NULL, 0);
    free(b);
    b = body("cart", "0000000000000101", "resolved");
    xadd(f, b, t0 + 1, NULL, 0);
    free(b);
    b = body("shop", "0000000000000102", "firing");
    xadd(f, b, t0 + 2, NULL, 0);
    free(b);
    fake_now = t0;
    start_with(f, 0, fake_clock, 60000, 100);
    assert_true(run_until(f, settled, 5000));
    assert_int_equal(n_incidents(f), 2);
    /* Find the cart incident's id (the one resolved). */
    assert_int_equal(engine_list(f->e, &slots, &n), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(correlate_incident(engine_correlate(f->e), slots[i], &ci), 0);
        if (ci.nfiring == 0)
            snprintf(id, sizeof id, "%s", ci.id);
    }
    free(slots);
    snprintf(key, sizeof key, "quench:incident:%s", id);

    fake_now = t0 + 6 * 60 * 1000;      /* past resolve_quiet: closes */
    run_until(f, never, 1500);
    correlator_status(f->c, &st);
    assert_int_equal(st.incidents_closed, 1);
    assert_int_equal(st.incidents_open, 1);
    assert_int_equal(st.pruned, 0);     /* closed, but within the TTL */
    assert_int_equal(cmd_int(f, "SISMEMBER quench:incidents %s", id), 1);

    fake_now = t0 + 8 * 60 * 1000;      /* closed at ~5 min, TTL 1 min */
    assert_true(run_until(f, pruned_one, 3000));
    assert_int_equal(n_incidents(f), 1);
    assert_true(correlator_find(f->c, id) < 0);
    correlator_status(f->c, &st);
    assert_int_equal(st.incidents_closed, 0);
    assert_int_equal(st.incidents_open, 1);
    run_until(f, never, 300);          /* the tidy-up commands land */
    assert_int_equal(cmd_int(f, "SISMEMBER quench:incidents %s", id), 0);
    assert_int_equal(cmd_int(f, "EXISTS %s", key), 0);
    assert_int_equal(cmd_int(f, "SCARD %s", "quench:incidents"), 1);
}

/* ---- history ------------------------------------------------------------- */

/* Incidents in the stored quench:history, -1 if absent or not a dump. */
static long stored_history(struct fx *f)
{
    redisReply *r = cmd(f, "GET quench:history");
    json_t *j = r->type == REDIS_REPLY_STRING ? json_loads(r->str, 0, NULL) : NULL;
    long n = json_is_array(json_object_get(j, "incidents"))
                 ? (long)json_array_size(json_object_get(j, "incidents")) : -1;

    json_decref(j);
    freeReplyObject(r);
    return n;
}

static long want_stored;

static int history_stored(struct fx *f)
{
    return stored_history(f) == want_stored;
}

/* One "cart" CpuHigh incident: FP fires at AT, resolves at AT + 1 (both
 * archived); the fake clock then passes resolve_quiet so the tick closes
 * it; wait until the close and the history are stored. */
static void cart_episode(struct fx *f, const char *fp, int64_t at, long nth)
{
    char *b = body("cart", fp, "firing");

    xadd(f, b, at, NULL, 0);
    free(b);
    b = body("cart", fp, "resolved");
    xadd(f, b, at + 1, NULL, 0);
    free(b);
    assert_true(run_until(f, settled, 5000));
    fake_now = at + 6 * 60 * 1000;
    want_stored = nth;
    assert_true(run_until(f, history_stored, 5000));
    assert_int_equal(history_incidents(engine_history(f->e)), (size_t)nth);
}

/* The root causes of the incident holding fingerprint FP, as text. */
static char *causes_of(struct engine *e, const char *fp)
{
    uint64_t key = strtoull(fp, NULL, 16);
    int64_t m = correlate_alert_find(engine_correlate(e), key);
    struct correlate_alert ca;
    json_t *j;
    char *text;

    assert_true(m >= 0);
    assert_int_equal(correlate_alert(engine_correlate(e), (uint32_t)m, &ca), 0);
    j = engine_incident_json(e, ca.incident);
    assert_non_null(j);
    text = json_dumps(json_object_get(j, "root_causes"),
                      JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    assert_non_null(text);
    return text;
}

/* The same webhooks through a plain engine, no Redis, no restart. */
static char *uninterrupted(const char *const *fps, int n, const int64_t *at,
                           const char *last_fp, int64_t last_at)
{
    struct topology *t;
    struct rules *r;
    struct engine *e;
    struct webhook *wh;
    char *b, *text;

    assert_int_equal(topology_new_empty(&t), 0);
    assert_int_equal(rules_new_default(&r), 0);
    assert_int_equal(engine_new(&e, t, r), 0);
    for (int i = 0; i <= n; i++) {
        for (int k = 0; k < (i < n ? 2 : 1); k++) {
            b = body("cart", i < n ? fps[i] : last_fp, k ? "resolved" : "firing");
            assert_int_equal(webhook_parse(&wh, b, strlen(b), engine_pool(e), NULL), 0);
            assert_true(engine_ingest_webhook(e, wh, (i < n ? at[i] : last_at) + k,
                                              NULL) >= 0);
            webhook_free(wh);
            free(b);
        }
        if (i < n)
            assert_int_equal(engine_tick(e, at[i] + 6 * 60 * 1000), 1);
    }
    text = causes_of(e, last_fp);
    engine_free(e);
    topology_free(t);
    rules_free(r);
    return text;
}

/* Two cart incidents close (default history: min_incidents 2, weight
 * 0.5); quench restarts on the same Redis; a third cart incident is damped
 * as background exactly as it is without the restart. Without the
 * persisted history the restarted engine would rank it as new. */
static void test_history_survives_restart(void **state)
{
    struct fx *f = *state;
    const char *fps[] = {"0000000000000201", "0000000000000202"};
    const char *last = "0000000000000203";
    int64_t t0 = wall_ms(), at[2] = {t0, t0 + 10 * 60 * 1000};
    int64_t last_at = t0 + 30 * 60 * 1000;
    struct correlator_status st;
    char *mine, *theirs;
    struct history_hits hh;

    NEED_REDIS(f);
    fake_now = t0;
    start(f, 0, fake_clock);
    cart_episode(f, fps[0], at[0], 1);
    cart_episode(f, fps[1], at[1], 2);
    drop_engine(f);

    fake_now = t0 + 20 * 60 * 1000;
    start(f, 0, fake_clock);
    assert_true(run_until(f, settled, 5000));
    correlator_status(f->c, &st);
    assert_int_equal(st.restored_history, 2);
    assert_int_equal(history_incidents(engine_history(f->e)), 2);
    history_lookup(engine_history(f->e), "cart", "CpuHigh", last_at, &hh);
    assert_int_equal(hh.seen, 2);
    {
        char *b = body("cart", last, "firing");
        xadd(f, b, last_at, NULL, 0);
        free(b);
    }
    assert_true(run_until(f, settled, 5000));
    mine = causes_of(f->e, last);
    theirs = uninterrupted(fps, 2, at, last, last_at);
    assert_non_null(strstr(mine, "also fired in 2 of the last 2 incidents"));
    assert_string_equal(mine, theirs);
    free(mine);
    free(theirs);
}

/* A stored history that is not JSON, or not a history dump, is logged and
 * ignored: the correlator starts with an empty history and correlates. */
static void test_malformed_history_ignored(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {"{not json", "{\"version\": 99, \"incidents\": []}"};
    struct correlator_status st;
    char *b;

    NEED_REDIS(f);
    b = body("cart", "0000000000000301", "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    for (size_t i = 0; i < 3; i++) {
        if (i < 2)
            freeReplyObject(cmd(f, "SET quench:history %s", bad[i]));
        else   /* the wrong type altogether */
            freeReplyObject(cmd(f, "HSET quench:history a b"));
        start(f, 0, NULL);
        assert_true(run_until(f, settled, 5000));
        assert_true(correlator_ready(f->c));
        correlator_status(f->c, &st);
        assert_int_equal(st.restored_history, 0);
        assert_int_equal(history_incidents(engine_history(f->e)), 0);
        assert_int_equal(n_incidents(f), 1);
        drop_engine(f);
        freeReplyObject(cmd(f, "DEL quench:history"));
    }
}

static int persist_failed(struct fx *f)
{
    struct correlator_status st;

    correlator_status(f->c, &st);
    return st.persist_failures > 0;
}

/* The close and the history are one transaction: while Redis refuses the
 * history write (an ACL without that key), the close is not stored either
 * (a crash then re-closes it and records it once); once allowed, both
 * land. Written as two plain commands, the close would be stored without
 * its history record, which no restart could recover. */
static void test_close_and_history_atomic(void **state)
{
    struct fx *f = *state;
    char id[CORRELATE_ID_SIZE], *b;
    redisReply *r;
    int64_t t0 = wall_ms();

    NEED_REDIS(f);
    b = body("cart", "0000000000000401", "firing");
    xadd(f, b, t0, NULL, 0);
    free(b);
    b = body("cart", "0000000000000401", "resolved");
    xadd(f, b, t0 + 1, NULL, 0);
    free(b);
    fake_now = t0;
    start(f, 0, fake_clock);
    assert_true(run_until(f, settled, 5000));
    only_id(f, id);
    freeReplyObject(cmd(f, "ACL SETUSER default resetkeys ~quench:incident* "
                           "~quench:archive ~quench:deadletter"));
    fake_now = t0 + 6 * 60 * 1000;
    assert_true(run_until(f, persist_failed, 5000));
    assert_int_equal(history_incidents(engine_history(f->e)), 1);
    r = cmd(f, "HGET quench:incident:%s state", id);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_non_null(strstr(r->str, "\"state\":\"open\""));
    freeReplyObject(r);

    freeReplyObject(cmd(f, "ACL SETUSER default allkeys"));
    want_stored = 1;
    assert_true(run_until(f, history_stored, 10000));
    r = cmd(f, "HGET quench:incident:%s state", id);
    assert_non_null(strstr(r->str, "\"state\":\"closed\""));
    freeReplyObject(r);
}

/* ---- incremental persistence --------------------------------------------- */

/* A webhook of N firing alerts in namespace NS, alert i on service
 * SVC[i % nsvc] with fingerprint FP0 + i (STATUS for all). */
static char *body_many(const char *ns, const char *const *svc, int nsvc,
                       unsigned long long fp0, int n, const char *status)
{
    json_t *alerts = json_array(), *o;
    char fp[17], *text;

    for (int i = 0; i < n; i++) {
        snprintf(fp, sizeof fp, "%016llx", fp0 + (unsigned long long)i);
        assert_int_equal(json_array_append_new(alerts, json_pack(
            "{s:s, s:{s:s, s:s, s:s}, s:{s:s}, s:s, s:s, s:s, s:s}",
            "status", status, "labels", "alertname", "CpuHigh", "namespace", ns,
            "service", svc[i % nsvc], "annotations", "summary", "cpu above 90%",
            "startsAt", "2024-01-01T00:00:00Z", "endsAt",
            strcmp(status, "resolved") == 0 ? "2024-01-01T00:05:00Z"
                                            : "0001-01-01T00:00:00Z",
            "generatorURL", "", "fingerprint", fp)), 0);
    }
    o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:{}, s:{}, s:{}, s:s, s:o}",
                  "version", "4", "groupKey", "{}:{alertname=\"CpuHigh\"}",
                  "truncatedAlerts", 0, "status", status, "receiver", "q",
                  "groupLabels", "commonLabels", "commonAnnotations",
                  "externalURL", "", "alerts", alerts);
    assert_non_null(o);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(text);
    return text;
}

static long long hlen(struct fx *f, const char *id)
{
    char key[64];

    snprintf(key, sizeof key, "quench:incident:%s", id);
    return cmd_int(f, "HLEN %s", key);
}

/* Field NAME of incident ID's hash as JSON (NULL if absent). */
static json_t *stored_field(struct fx *f, const char *id, const char *name)
{
    redisReply *r = cmd(f, "HGET quench:incident:%s %s", id, name);
    json_t *j = r->type == REDIS_REPLY_STRING ? json_loads(r->str, 0, NULL) : NULL;

    freeReplyObject(r);
    return j;
}

static unsigned long persisted_alerts(struct fx *f)
{
    struct correlator_status st;

    correlator_status(f->c, &st);
    return st.persisted_alerts;
}

/* correlate_incident_dump of incident ID, as compact text. */
static char *dump_of(struct fx *f, const char *id)
{
    int64_t s = correlator_find(f->c, id);
    json_t *j;
    char *text;

    assert_true(s >= 0);
    j = correlate_incident_dump(engine_correlate(f->e), (uint32_t)s);
    assert_non_null(j);
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return text;
}

static const char *const CART[] = {"cart"};

/* A big incident's later rounds write its header and the alerts that
 * changed, not the incident: the count of records written says so, and a
 * record no round should touch keeps what the test put there. */
static void test_writes_only_changed_alerts(void **state)
{
    struct fx *f = *state;
    char id[CORRELATE_ID_SIZE], *b;
    unsigned long before;
    redisReply *r;
    json_t *hdr, *a;
    const int n = 200;

    NEED_REDIS(f);
    b = body_many("shop", CART, 1, 0x1000, n, "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    only_id(f, id);
    assert_int_equal(persisted_alerts(f), n);
    assert_int_equal(hlen(f, id), n + 1);       /* state + one per alert */
    hdr = stored_field(f, id, "state");
    assert_non_null(hdr);
    assert_null(json_object_get(hdr, "alerts"));
    assert_int_equal(json_integer_value(json_object_get(hdr, "nalerts")), n);
    json_decref(hdr);
    a = stored_field(f, id, "a:0000000000001005");
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "fingerprint")),
                        "0000000000001005");
    assert_int_equal(json_integer_value(json_object_get(a, "seq")), 5);
    json_decref(a);
    /* A record that only a (wrong) rewrite of everything would restore. */
    freeReplyObject(cmd(f, "HSET quench:incident:%s a:0000000000001000 untouched", id));

    /* One more alert joins; another one resolves. */
    before = persisted_alerts(f);
    b = body_many("shop", CART, 1, 0x2000, 1, "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    b = body_many("shop", CART, 1, 0x1007, 1, "resolved");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    assert_true(run_until(f, settled, 5000));
    assert_int_equal(persisted_alerts(f) - before, 2);
    assert_int_equal(hlen(f, id), n + 2);
    hdr = stored_field(f, id, "state");
    assert_int_equal(json_integer_value(json_object_get(hdr, "nalerts")), n + 1);
    json_decref(hdr);
    a = stored_field(f, id, "a:0000000000001007");
    assert_string_equal(json_string_value(json_object_get(a, "status")), "resolved");
    json_decref(a);
    a = stored_field(f, id, "a:0000000000002000");
    assert_int_equal(json_integer_value(json_object_get(a, "seq")), n);
    json_decref(a);
    r = cmd(f, "HGET quench:incident:%s a:0000000000001000", id);
    assert_string_equal(r->str, "untouched");
    freeReplyObject(r);
}

/* A restart gives back the incident written incrementally: same id, same
 * alerts in the same order, same everything correlate_incident_dump
 * shows; and restoring writes nothing. */
static void test_restart_restores_incremental(void **state)
{
    struct fx *f = *state;
    char id[CORRELATE_ID_SIZE], id2[CORRELATE_ID_SIZE], *b, *d1, *d2;
    struct correlator_status st;

    NEED_REDIS(f);
    b = body_many("shop", CART, 1, 0x3000, 30, "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    /* Changes after the first write: a join and a resolve. */
    b = body_many("shop", CART, 1, 0x3100, 3, "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    b = body_many("shop", CART, 1, 0x3002, 1, "resolved");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    assert_true(run_until(f, settled, 5000));
    only_id(f, id);
    d1 = dump_of(f, id);
    drop_engine(f);

    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    correlator_status(f->c, &st);
    assert_int_equal(st.restored_incidents, 1);
    assert_int_equal(st.rewritten_old_format, 0);
    only_id(f, id2);
    assert_string_equal(id, id2);
    d2 = dump_of(f, id);
    assert_string_equal(d1, d2);
    run_until(f, never, 100);
    assert_int_equal(persisted_alerts(f), 0);   /* nothing was dirty */
    free(d1);
    free(d2);
}

/* An incident stored by an earlier quench (the whole incident as JSON in
 * state) is restored as it was, then written once in the new format, which
 * restores the same again. */
static void test_restore_old_format(void **state)
{
    struct fx *f = *state;
    struct topology *t;
    struct rules *r;
    struct engine *e;
    struct webhook *wh;
    struct correlate_incident ci;
    struct correlator_status st;
    char id[CORRELATE_ID_SIZE], *b, *old, *d1, *d2;
    json_t *j, *hdr;
    uint32_t *slots;
    size_t n;

    NEED_REDIS(f);
    /* What the old correlator stored: correlate_incident_dump, whole. */
    assert_int_equal(topology_new_empty(&t), 0);
    assert_int_equal(rules_new_default(&r), 0);
    assert_int_equal(engine_new(&e, t, r), 0);
    b = body_many("shop", CART, 1, 0x4000, 5, "firing");
    assert_int_equal(webhook_parse(&wh, b, strlen(b), engine_pool(e), NULL), 0);
    assert_true(engine_ingest_webhook(e, wh, wall_ms(), NULL) >= 0);
    webhook_free(wh);
    free(b);
    b = body_many("shop", CART, 1, 0x4001, 1, "resolved");
    assert_int_equal(webhook_parse(&wh, b, strlen(b), engine_pool(e), NULL), 0);
    assert_true(engine_ingest_webhook(e, wh, wall_ms(), NULL) >= 0);
    webhook_free(wh);
    free(b);
    assert_int_equal(engine_list(e, &slots, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(correlate_incident(engine_correlate(e), slots[0], &ci), 0);
    snprintf(id, sizeof id, "%s", ci.id);
    j = correlate_incident_dump(engine_correlate(e), slots[0]);
    free(slots);
    old = json_dumps(j, JSON_COMPACT);
    d1 = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    engine_free(e);
    topology_free(t);
    rules_free(r);
    freeReplyObject(cmd(f, "HSET quench:incident:%s state %s", id, old));
    freeReplyObject(cmd(f, "SADD quench:incidents %s", id));
    free(old);

    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    correlator_status(f->c, &st);
    assert_int_equal(st.restored_incidents, 1);
    assert_int_equal(st.rewritten_old_format, 1);
    d2 = dump_of(f, id);
    assert_string_equal(d1, d2);
    free(d2);
    /* Written whole in the new format by the first round. */
    for (int i = 0; i < 50 && hlen(f, id) != 6; i++)
        run_until(f, never, 20);
    assert_int_equal(hlen(f, id), 6);
    hdr = stored_field(f, id, "state");
    assert_null(json_object_get(hdr, "alerts"));
    assert_int_equal(json_integer_value(json_object_get(hdr, "nalerts")), 5);
    json_decref(hdr);
    assert_int_equal(persisted_alerts(f), 5);
    drop_engine(f);

    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    correlator_status(f->c, &st);
    assert_int_equal(st.restored_incidents, 1);
    assert_int_equal(st.rewritten_old_format, 0);
    d2 = dump_of(f, id);
    assert_string_equal(d1, d2);
    free(d1);
    free(d2);
}

/* Services a -> b -> c -> d -> e: alerts on a and e are 4 hops apart (two
 * incidents, default topology_hops 2), one on c is near both and merges
 * the younger into the older. */
static void chain_topology(struct fx *f)
{
    static const char *const names[] = {"a", "b", "c", "d", "e"};
    int32_t id[5];

    for (int i = 0; i < 5; i++) {
        id[i] = topology_intern(f->t, ENTITY_SERVICE, names[i]);
        assert_true(id[i] >= 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(topology_link(f->t, (uint32_t)id[i], (uint32_t)id[i + 1]), 0);
}

/* A merge leaves the loser's key holding merged_into only (its alert
 * records go; the survivor's hash gets them), and a restart resolves the
 * loser's id to the survivor with every alert. */
static void test_merge_moves_alert_fields(void **state)
{
    struct fx *f = *state;
    static const char *const A[] = {"a"}, *const C[] = {"c"}, *const E[] = {"e"};
    char ida[CORRELATE_ID_SIZE] = "", ide[CORRELATE_ID_SIZE] = "", *b;
    uint32_t *slots;
    size_t n;
    redisReply *r;
    json_t *hdr;
    int64_t t0 = wall_ms();

    NEED_REDIS(f);
    b = body_many("shop", A, 1, 0x5000, 3, "firing");
    xadd(f, b, t0, NULL, 0);
    free(b);
    b = body_many("shop", E, 1, 0x5100, 4, "firing");
    xadd(f, b, t0 + 1, NULL, 0);
    free(b);
    make_engine_hook = chain_topology;
    start(f, 0, NULL);
    make_engine_hook = NULL;
    assert_true(run_until(f, settled, 5000));
    assert_int_equal(engine_list(f->e, &slots, &n), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        struct correlate_incident ci;

        assert_int_equal(correlate_incident(engine_correlate(f->e), slots[i], &ci), 0);
        snprintf(ci.nalerts == 3 ? ida : ide, CORRELATE_ID_SIZE, "%s", ci.id);
    }
    free(slots);
    assert_int_equal(hlen(f, ida), 4);
    assert_int_equal(hlen(f, ide), 5);

    b = body_many("shop", C, 1, 0x5200, 1, "firing");
    xadd(f, b, t0 + 2, NULL, 0);
    free(b);
    assert_true(run_until(f, settled, 5000));
    assert_int_equal(n_incidents(f), 1);
    r = cmd(f, "HGETALL quench:incident:%s", ide);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, "merged_into");
    assert_string_equal(r->element[1]->str, ida);
    freeReplyObject(r);
    assert_int_equal(hlen(f, ida), 1 + 3 + 4 + 1);
    hdr = stored_field(f, ida, "state");
    assert_int_equal(json_integer_value(json_object_get(hdr, "nalerts")), 8);
    json_decref(hdr);
    hdr = stored_field(f, ida, "a:0000000000005103");
    assert_int_equal(json_integer_value(json_object_get(hdr, "seq")), 3 + 3);
    json_decref(hdr);

    drop_engine(f);
    make_engine_hook = chain_topology;
    start(f, 0, NULL);
    make_engine_hook = NULL;
    assert_true(run_until(f, settled, 5000));
    assert_int_equal(n_incidents(f), 1);
    assert_int_equal(correlator_find(f->c, ide), correlator_find(f->c, ida));
    {
        struct correlate_incident ci;

        assert_int_equal(correlate_incident(engine_correlate(f->e),
                                            (uint32_t)correlator_find(f->c, ida), &ci), 0);
        assert_int_equal(ci.nalerts, 8);
    }
}

/* One firing alert per entry of LABELS (JSON objects of labels), with
 * fingerprints FP0, FP0 + 1, ... */
static char *body_labels(const char *const *labels, int n, unsigned long long fp0)
{
    json_t *alerts = json_array(), *o;
    char fp[17], *text;

    for (int i = 0; i < n; i++) {
        json_t *l = json_loads(labels[i], 0, NULL);

        assert_non_null(l);
        snprintf(fp, sizeof fp, "%016llx", fp0 + (unsigned long long)i);
        assert_int_equal(json_array_append_new(alerts, json_pack(
            "{s:s, s:o, s:{}, s:s, s:s, s:s, s:s}", "status", "firing", "labels", l,
            "annotations", "startsAt", "2024-01-01T00:00:00Z",
            "endsAt", "0001-01-01T00:00:00Z", "generatorURL", "", "fingerprint", fp)), 0);
    }
    o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:{}, s:{}, s:{}, s:s, s:o}",
                  "version", "4", "groupKey", "{}:{}", "truncatedAlerts", 0,
                  "status", "firing", "receiver", "q", "groupLabels", "commonLabels",
                  "commonAnnotations", "externalURL", "", "alerts", alerts);
    assert_non_null(o);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(text);
    return text;
}

/* A node alert that joined an incident on a guess (no pod known on the
 * node) moves to the incident of the first pod alert naming that node
 * (correlate's find_guesses): its record leaves the first incident's hash
 * in the same round as it is written into the second's, and a restart
 * restores both incidents as they were. */
static void test_moved_alert_leaves_its_record(void **state)
{
    struct fx *f = *state;
    static const char *const first[] = {
        "{\"alertname\":\"CpuHigh\",\"service\":\"a\",\"namespace\":\"shop\"}",
        "{\"alertname\":\"MemHigh\",\"service\":\"a\",\"namespace\":\"shop\"}",
        "{\"alertname\":\"NodeDiskFull\",\"node\":\"n9\"}",
        "{\"alertname\":\"ThreadsHigh\",\"service\":\"a\",\"namespace\":\"shop\"}",
    };
    static const char *const pod[] = {
        "{\"alertname\":\"PodEvicted\",\"pod\":\"x-0\",\"service\":\"b\","
        "\"node\":\"n9\",\"namespace\":\"shop\"}",
    };
    char ida[CORRELATE_ID_SIZE] = "", idb[CORRELATE_ID_SIZE] = "", *b, *da, *db, *d;
    uint32_t *slots;
    size_t n;
    json_t *x;
    int64_t t0 = wall_ms();

    NEED_REDIS(f);
    b = body_labels(first, 4, 0x7000);
    xadd(f, b, t0, NULL, 0);
    free(b);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    only_id(f, ida);
    assert_int_equal(hlen(f, ida), 1 + 4);
    x = stored_field(f, ida, "a:0000000000007002");
    assert_true(json_is_true(json_object_get(x, "weak")));
    json_decref(x);

    b = body_labels(pod, 1, 0x7100);
    xadd(f, b, t0 + 1000, NULL, 0);
    free(b);
    assert_true(run_until(f, settled, 5000));
    assert_int_equal(n_incidents(f), 2);
    assert_int_equal(engine_list(f->e, &slots, &n), 0);
    for (size_t i = 0; i < n; i++) {
        struct correlate_incident ci;

        assert_int_equal(correlate_incident(engine_correlate(f->e), slots[i], &ci), 0);
        if (strcmp(ci.id, ida) != 0)
            snprintf(idb, sizeof idb, "%s", ci.id);
    }
    free(slots);
    /* the node's record left: three alerts, positions 0..2 */
    assert_int_equal(hlen(f, ida), 1 + 3);
    assert_null(stored_field(f, ida, "a:0000000000007002"));
    x = stored_field(f, ida, "state");
    assert_int_equal(json_integer_value(json_object_get(x, "nalerts")), 3);
    json_decref(x);
    x = stored_field(f, ida, "a:0000000000007003");    /* took its place */
    assert_int_equal(json_integer_value(json_object_get(x, "seq")), 2);
    json_decref(x);
    /* and is written under the pod's incident, no longer weak */
    assert_int_equal(hlen(f, idb), 1 + 2);
    x = stored_field(f, idb, "a:0000000000007002");
    assert_int_equal(json_integer_value(json_object_get(x, "seq")), 1);
    assert_null(json_object_get(x, "weak"));
    json_decref(x);
    da = dump_of(f, ida);
    db = dump_of(f, idb);

    drop_engine(f);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    assert_int_equal(n_incidents(f), 2);
    d = dump_of(f, ida);
    assert_string_equal(d, da);
    free(d);
    d = dump_of(f, idb);
    assert_string_equal(d, db);
    free(d);
    free(da);
    free(db);
}

static int persist_failed_twice(struct fx *f)
{
    struct correlator_status st;

    correlator_status(f->c, &st);
    return st.persist_failures >= 2;
}

/* Rounds that fail (Redis refuses the incident keys) leave their alerts
 * dirty: once Redis takes writes again, the alerts that joined meanwhile
 * are stored, though no new change comes to dirty them again. */
static void test_failed_round_keeps_alerts_dirty(void **state)
{
    struct fx *f = *state;
    char id[CORRELATE_ID_SIZE], *b;
    json_t *hdr, *a;

    NEED_REDIS(f);
    b = body_many("shop", CART, 1, 0x6000, 2, "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 5000));
    only_id(f, id);
    assert_int_equal(hlen(f, id), 3);

    /* The same user as the test's reads: refuse the command, not keys. */
    freeReplyObject(cmd(f, "ACL SETUSER default -hset"));
    b = body_many("shop", CART, 1, 0x6100, 3, "firing");
    xadd(f, b, wall_ms(), NULL, 0);
    free(b);
    assert_true(run_until(f, persist_failed_twice, 10000));
    assert_int_equal(hlen(f, id), 3);           /* nothing of it landed */
    assert_int_equal(persisted_alerts(f), 2);

    freeReplyObject(cmd(f, "ACL SETUSER default +hset"));
    assert_true(run_until(f, settled, 10000));
    assert_int_equal(hlen(f, id), 6);
    assert_int_equal(persisted_alerts(f), 5);
    hdr = stored_field(f, id, "state");
    assert_int_equal(json_integer_value(json_object_get(hdr, "nalerts")), 5);
    json_decref(hdr);
    a = stored_field(f, id, "a:0000000000006102");
    assert_non_null(a);
    assert_int_equal(json_integer_value(json_object_get(a, "seq")), 4);
    json_decref(a);
}

/* A round bigger than one slice of the loop (QUENCH_LOOP_SLICE_MS) and
 * than one command (QUENCH_PERSIST_FIELDS_PER_CMD) is still one
 * transaction that stores every record, and a restart gives the same
 * incident back. */
static void test_big_round_in_slices(void **state)
{
    struct fx *f = *state;
    char id[CORRELATE_ID_SIZE], *b, *d1, *d2;
    struct correlator_status st;
    json_t *hdr;
    const int per = 1000, n = 4;

    NEED_REDIS(f);
    for (int i = 0; i < n; i++) {
        b = body_many("shop", CART, 1, 0x100000ull * (unsigned)(i + 1), per, "firing");
        xadd(f, b, wall_ms(), NULL, 0);
        free(b);
    }
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 20000));
    only_id(f, id);
    correlator_status(f->c, &st);
    assert_int_equal(st.persisted_alerts, per * n);
    assert_int_equal(hlen(f, id), per * n + 1);
    hdr = stored_field(f, id, "state");
    assert_int_equal(json_integer_value(json_object_get(hdr, "nalerts")), per * n);
    json_decref(hdr);
    d1 = dump_of(f, id);
    drop_engine(f);
    start(f, 0, NULL);
    assert_true(run_until(f, settled, 20000));
    d2 = dump_of(f, id);
    assert_string_equal(d1, d2);
    free(d1);
    free(d2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_persists_then_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_and_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims_from_dead_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_coalesces_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_and_deleted_entries_acked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resumes_after_redis_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_survives_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_history_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_and_history_atomic, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writes_only_changed_alerts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_restores_incremental, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore_old_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_moves_alert_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_moved_alert_leaves_its_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_round_keeps_alerts_dirty,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_round_in_slices, setup, teardown),
    };

    if (getenv("UT_DEBUG"))
        log_set_level(LOG_DEBUG);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
