/* redis_ev.c - hiredis 0.14.1 async on libev, with what 0.14.1 lacks:
 * connect and command watchdogs, reconnect with backoff, script loading.
 *
 * Invariants (PROTOCOLS.md section 4.6):
 * - r->ac is the live context or NULL. Before we free a context ourselves
 *   we unhook it (r->ac = NULL, callbacks and ac->data cleared), so the
 *   NULL replies hiredis then delivers find nothing to act on except each
 *   command's own struct, which is freed there.
 * - A command struct lives until hiredis calls back (with a reply or NULL):
 *   hiredis owns the privdata pointer until then, even after our watchdog
 *   has answered the caller. `answered` says the caller has been told.
 * - hiredis frees a context right after a failed connect callback and
 *   after the disconnect callback; we never free it there, and never from
 *   the connect callback (hiredis still uses it when that returns).
 * - User callbacks run with r->in_callback raised; redis_ev_free from there
 *   only marks `closing` and the free happens from a zero-delay timer. */
#include "redis_ev.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libev.h>
#include <openssl/sha.h>

#define container_of(p, type, member) \
    ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* Backoff between connection attempts: 100 ms x 2^n, capped at 5 s, each
 * delay scaled by a random factor in [0.5, 1) so replicas that lost the
 * same Redis do not reconnect in lockstep. */
#define BACKOFF_BASE_S 0.1
#define BACKOFF_CAP_S 5.0
/* Consecutive command watchdogs with no reply at all in between after
 * which the connection is declared hung, freed and re-established: one
 * slow command is Redis being busy, three with nothing answered is a
 * stopped or partitioned server whose TCP connection still looks fine. */
#define STALL_LIMIT 3

struct redis_script {
    struct redis_script *next;
    char sha[41];
    size_t len;
    char text[];
};

struct redis_ev {
    struct ev_loop *loop;
    char *host, *unix_path, *username, *password;
    int port, db;
    double connect_timeout_s;

    redisAsyncContext *ac;      /* live context or NULL */
    int connected;              /* handshake done on ac */
    unsigned handshake_left;    /* handshake replies still awaited */
    unsigned attempt;           /* failed attempts since the last success */
    unsigned stalls;            /* watchdogs fired since the last reply */
    unsigned pending;           /* commands hiredis still holds */
    uint64_t rng;

    ev_timer connect_wd;        /* connect + handshake deadline */
    ev_timer backoff;           /* next connection attempt */
    ev_timer defer;             /* deferred kill / free, outside callbacks */
    int want_kill;
    int closing;                /* redis_ev_free was called */
    int in_callback;            /* depth of user callbacks running */

    redis_ev_state_fn state_fn;
    void *state_ud;
    struct redis_script *scripts;
};

struct cmd {
    struct redis_ev *r;
    ev_timer wd;
    redis_ev_reply_fn fn;
    void *ud;
    int answered;               /* the caller has been told */
    const struct redis_script *script;   /* EVALSHA: fallback text */
    int fell_back;
    int argc;
    const char **argv;          /* only kept for EVALSHA (fallback) */
    size_t *lens;
};

static void conn_start(struct redis_ev *r);
static void real_free(struct redis_ev *r);

/* ---- small helpers ----------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static double rand_unit(struct redis_ev *r)
{
    /* xorshift64: jitter needs spread, not quality. */
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (double)(r->rng >> 11) / 9007199254740992.0;
}

static void notify(struct redis_ev *r, int connected, const char *why)
{
    if (r->state_fn == NULL || r->closing)
        return;
    r->in_callback++;
    r->state_fn(connected, why, r->state_ud);
    r->in_callback--;
}

static void defer_kick(struct redis_ev *r)
{
    ev_timer_stop(r->loop, &r->defer);
    ev_timer_set(&r->defer, 0., 0.);
    ev_timer_start(r->loop, &r->defer);
}

static void schedule_reconnect(struct redis_ev *r)
{
    double d = BACKOFF_BASE_S;

    if (r->closing)
        return;
    for (unsigned i = 0; i < r->attempt && d < BACKOFF_CAP_S; i++)
        d *= 2;
    if (d > BACKOFF_CAP_S)
        d = BACKOFF_CAP_S;
    d *= 0.5 + 0.5 * rand_unit(r);
    if (r->attempt < 64)
        r->attempt++;
    ev_timer_stop(r->loop, &r->backoff);
    ev_timer_set(&r->backoff, d, 0.);
    ev_timer_start(r->loop, &r->backoff);
}

/* Unhook and free the live context (if any). Its pending commands get
 * REDIS_EV_DISCONNECTED through cmd_reply. Safe inside a hiredis reply
 * callback (hiredis defers the free until it returns), never inside the
 * connect or disconnect callback. */
static void conn_drop(struct redis_ev *r, const char *why)
{
    redisAsyncContext *ac = r->ac;

    if (ac == NULL)
        return;
    r->ac = NULL;
    r->connected = 0;
    ev_timer_stop(r->loop, &r->connect_wd);
    ac->onConnect = NULL;
    ac->onDisconnect = NULL;
    ac->data = NULL;
    redisAsyncFree(ac);
    if (r->closing)
        return;
    notify(r, 0, why);
    schedule_reconnect(r);
}

/* ---- hiredis callbacks ------------------------------------------------- */

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_ev *r = ac->data;
    char why[160];

    if (r == NULL || status == REDIS_OK)
        return;   /* the handshake replies decide when we are connected */
    /* hiredis frees AC when this returns; pending handshake replies get
     * NULL and find r->ac != ac. */
    snprintf(why, sizeof why, "connect failed: %s",
             ac->errstr[0] ? ac->errstr : "unknown error");
    r->ac = NULL;
    r->connected = 0;
    ev_timer_stop(r->loop, &r->connect_wd);
    notify(r, 0, why);
    schedule_reconnect(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_ev *r = ac->data;
    char why[160];

    if (r == NULL)
        return;
    snprintf(why, sizeof why, "connection lost: %s",
             status == REDIS_OK ? "closed" :
             ac->errstr[0] ? ac->errstr : "error");
    r->ac = NULL;
    r->connected = 0;
    ev_timer_stop(r->loop, &r->connect_wd);
    notify(r, 0, why);
    schedule_reconnect(r);
}

static void handshake_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_ev *r = privdata;
    const redisReply *rep = reply;
    char why[200];

    if (ac != r->ac || rep == NULL)
        return;   /* stale context, or it is going away (handled there) */
    if (rep->type == REDIS_REPLY_ERROR) {
        /* Wrong password, bad db, -LOADING while Redis reads its AOF: the
         * same remedy, drop and retry later. */
        snprintf(why, sizeof why, "handshake failed: %.*s",
                 (int)(rep->len > 150 ? 150 : rep->len), rep->str);
        conn_drop(r, why);
        return;
    }
    if (--r->handshake_left > 0)
        return;
    ev_timer_stop(r->loop, &r->connect_wd);
    r->connected = 1;
    r->attempt = 0;
    r->stalls = 0;
    notify(r, 1, NULL);
}

static void cmd_free(struct cmd *c)
{
    ev_timer_stop(c->r->loop, &c->wd);
    free(c);
}

static void cmd_answer(struct cmd *c, enum redis_ev_result res,
                       const redisReply *reply)
{
    struct redis_ev *r = c->r;

    ev_timer_stop(r->loop, &c->wd);
    c->answered = 1;
    r->in_callback++;
    c->fn(res, (const struct redisReply *)reply, c->ud);
    r->in_callback--;
}

static int is_noscript(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ERROR && rep->len >= 8 &&
           memcmp(rep->str, "NOSCRIPT", 8) == 0;
}

static void cmd_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct cmd *c = privdata;
    struct redis_ev *r = c->r;
    const redisReply *rep = reply;

    r->pending--;
    if (rep != NULL)
        r->stalls = 0;
    if (rep != NULL && !c->answered && c->script && !c->fell_back &&
        is_noscript(rep)) {
        /* The script cache was lost (restart, failover, SCRIPT FLUSH):
         * resend this call as EVAL, which also re-caches the script. The
         * watchdog keeps running against the original deadline. */
        c->fell_back = 1;
        c->argv[0] = "EVAL";
        c->argv[1] = c->script->text;
        c->lens[0] = 4;
        c->lens[1] = c->script->len;
        if (redisAsyncCommandArgv(ac, cmd_reply, c, c->argc, c->argv,
                                  c->lens) == REDIS_OK) {
            r->pending++;
            return;
        }
        rep = NULL;
    }
    if (!c->answered)
        cmd_answer(c, rep ? REDIS_EV_REPLY : REDIS_EV_DISCONNECTED, rep);
    cmd_free(c);
    if (r->closing && r->in_callback == 0 && !ev_is_active(&r->defer))
        defer_kick(r);
}

/* ---- timers ------------------------------------------------------------ */

static void cmd_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cmd *c = container_of(w, struct cmd, wd);
    struct redis_ev *r = c->r;

    (void)loop;
    (void)revents;
    /* hiredis cannot cancel a command: answer "unknown outcome" now and
     * keep C until hiredis hands the privdata back. */
    cmd_answer(c, REDIS_EV_TIMEOUT, NULL);
    if (++r->stalls >= STALL_LIMIT && r->ac != NULL && !r->closing) {
        r->want_kill = 1;
        defer_kick(r);
    }
}

static void connect_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_ev *r = container_of(w, struct redis_ev, connect_wd);

    (void)loop;
    (void)revents;
    conn_drop(r, "connect timeout: no handshake reply in time");
}

static void backoff_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_ev *r = container_of(w, struct redis_ev, backoff);

    (void)loop;
    (void)revents;
    conn_start(r);
}

static void defer_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_ev *r = container_of(w, struct redis_ev, defer);

    (void)loop;
    (void)revents;
    if (r->closing) {
        if (r->in_callback == 0)
            real_free(r);
        return;
    }
    if (r->want_kill) {
        r->want_kill = 0;
        conn_drop(r, "no reply from Redis within the command timeout");
    }
}

/* ---- connecting -------------------------------------------------------- */

static int hs_send(struct redis_ev *r, int argc, const char **argv,
                   const size_t *lens)
{
    if (redisAsyncCommandArgv(r->ac, handshake_reply, r, argc, argv,
                              lens) != REDIS_OK)
        return -1;
    r->handshake_left++;
    return 0;
}

static void conn_start(struct redis_ev *r)
{
    redisAsyncContext *ac;
    char why[200];
    char dbs[16];
    const char *argv[3];
    size_t lens[3];
    int rc = 0;

    if (r->closing || r->ac != NULL)
        return;
    if (r->unix_path)
        ac = redisAsyncConnectUnix(r->unix_path);
    else
        ac = redisAsyncConnect(r->host, r->port);
    if (ac == NULL) {
        notify(r, 0, "connect failed: out of memory");
        schedule_reconnect(r);
        return;
    }
    if (ac->err) {
        snprintf(why, sizeof why, "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        notify(r, 0, why);
        schedule_reconnect(r);
        return;
    }
    ac->data = r;
    if (redisLibevAttach(r->loop, ac) != REDIS_OK) {
        ac->data = NULL;
        redisAsyncFree(ac);
        notify(r, 0, "connect failed: cannot attach to the loop");
        schedule_reconnect(r);
        return;
    }
    r->ac = ac;
    r->handshake_left = 0;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);

    /* Pipelined ahead of everything else; each reply is checked, the last
     * (PING) marks the connection usable. */
    if (r->password) {
        int n = 0;
        argv[n] = "AUTH"; lens[n++] = 4;
        if (r->username) {
            argv[n] = r->username; lens[n++] = strlen(r->username);
        }
        argv[n] = r->password; lens[n++] = strlen(r->password);
        rc |= hs_send(r, n, argv, lens);
    }
    if (r->db > 0) {
        snprintf(dbs, sizeof dbs, "%d", r->db);
        argv[0] = "SELECT"; lens[0] = 6;
        argv[1] = dbs; lens[1] = strlen(dbs);
        rc |= hs_send(r, 2, argv, lens);
    }
    for (struct redis_script *s = r->scripts; s; s = s->next) {
        argv[0] = "SCRIPT"; lens[0] = 6;
        argv[1] = "LOAD"; lens[1] = 4;
        argv[2] = s->text; lens[2] = s->len;
        rc |= hs_send(r, 3, argv, lens);
    }
    argv[0] = "PING"; lens[0] = 4;
    rc |= hs_send(r, 1, argv, lens);
    ev_timer_set(&r->connect_wd, r->connect_timeout_s, 0.);
    ev_timer_start(r->loop, &r->connect_wd);
    if (rc != 0)
        conn_drop(r, "connect failed: cannot queue the handshake");
}

/* ---- public ------------------------------------------------------------ */

int redis_ev_new(struct redis_ev **out, struct ev_loop *loop,
                 const struct redis_ev_options *o, struct qerr *err)
{
    struct redis_ev *r;

    *out = NULL;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return qerr_set(err, "redis", 0, 0, "out of memory");
    r->loop = loop;
    r->host = dup_or_null(o->host ? o->host : "127.0.0.1");
    r->unix_path = dup_or_null(o->unix_path);
    r->username = dup_or_null(o->username);
    r->password = dup_or_null(o->password);
    r->port = o->port > 0 ? o->port : 6379;
    r->db = o->db;
    r->connect_timeout_s =
        (o->connect_timeout_ms ? o->connect_timeout_ms : 2000) / 1000.0;
    r->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^
             (uint64_t)(uintptr_t)r;
    if (r->rng == 0)
        r->rng = 88172645463325252ULL;
    if (r->host == NULL || (o->unix_path && !r->unix_path) ||
        (o->username && !r->username) || (o->password && !r->password)) {
        real_free(r);
        return qerr_set(err, "redis", 0, 0, "out of memory");
    }
    ev_timer_init(&r->connect_wd, connect_watchdog, 0., 0.);
    ev_timer_init(&r->backoff, backoff_fire, 0., 0.);
    ev_timer_init(&r->defer, defer_fire, 0., 0.);
    *out = r;
    return 0;
}

int redis_ev_script_add(struct redis_ev *r, const char *text,
                        const struct redis_script **out)
{
    size_t len = strlen(text);
    unsigned char md[SHA_DIGEST_LENGTH];
    struct redis_script *s = malloc(sizeof *s + len + 1);

    if (s == NULL)
        return -1;
    memcpy(s->text, text, len + 1);
    s->len = len;
    SHA1((const unsigned char *)text, len, md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
    s->next = r->scripts;
    r->scripts = s;
    *out = s;
    return 0;
}

const char *redis_script_sha(const struct redis_script *s)
{
    return s->sha;
}

void redis_ev_on_state(struct redis_ev *r, redis_ev_state_fn fn, void *ud)
{
    r->state_fn = fn;
    r->state_ud = ud;
}

void redis_ev_start(struct redis_ev *r)
{
    conn_start(r);
}

int redis_ev_connected(const struct redis_ev *r)
{
    return r->connected && r->ac != NULL && !r->closing;
}

unsigned redis_ev_pending(const struct redis_ev *r)
{
    return r->pending;
}

static int send_cmd(struct redis_ev *r, struct cmd *c, int argc,
                    const char **argv, const size_t *lens, unsigned timeout_ms)
{
    if (redisAsyncCommandArgv(r->ac, cmd_reply, c, argc, argv, lens) !=
        REDIS_OK) {
        free(c);
        return -1;
    }
    r->pending++;
    ev_timer_init(&c->wd, cmd_watchdog, timeout_ms / 1000.0, 0.);
    ev_timer_start(r->loop, &c->wd);
    return 0;
}

int redis_ev_command(struct redis_ev *r, int argc, const char *const *argv,
                     const size_t *lens, unsigned timeout_ms,
                     redis_ev_reply_fn fn, void *ud)
{
    struct cmd *c;

    if (!redis_ev_connected(r) || argc < 1)
        return -1;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->r = r;
    c->fn = fn;
    c->ud = ud;
    /* hiredis copies the arguments into its output buffer right away. */
    return send_cmd(r, c, argc, (const char **)argv, lens, timeout_ms);
}

int redis_ev_evalsha(struct redis_ev *r, const struct redis_script *s,
                     int nkeys, int argc, const char *const *argv,
                     const size_t *lens, unsigned timeout_ms,
                     redis_ev_reply_fn fn, void *ud)
{
    struct cmd *c;
    size_t total = 0;
    int n = argc + 3;
    char *p;
    char nk[16];
    int nklen;

    if (!redis_ev_connected(r) || argc < 0 || nkeys < 0 || nkeys > argc)
        return -1;
    nklen = snprintf(nk, sizeof nk, "%d", nkeys);
    for (int i = 0; i < argc; i++)
        total += lens[i];
    /* One block: the struct, argv, lens, the nkeys text and a copy of the
     * arguments, kept for a possible EVAL fallback after the caller has
     * moved on. */
    c = calloc(1, sizeof *c + (size_t)n * (sizeof(char *) + sizeof(size_t)) +
                      (size_t)nklen + 1 + total);
    if (c == NULL)
        return -1;
    c->r = r;
    c->fn = fn;
    c->ud = ud;
    c->script = s;
    c->argc = n;
    c->argv = (const char **)(void *)(c + 1);
    c->lens = (size_t *)(void *)(c->argv + n);
    p = (char *)(c->lens + n);
    c->argv[0] = "EVALSHA";
    c->lens[0] = 7;
    c->argv[1] = s->sha;
    c->lens[1] = 40;
    memcpy(p, nk, (size_t)nklen + 1);
    c->argv[2] = p;
    c->lens[2] = (size_t)nklen;
    p += nklen + 1;
    for (int i = 0; i < argc; i++) {
        if (lens[i])
            memcpy(p, argv[i], lens[i]);
        c->argv[3 + i] = p;
        c->lens[3 + i] = lens[i];
        p += lens[i];
    }
    return send_cmd(r, c, n, c->argv, c->lens, timeout_ms);
}

static void real_free(struct redis_ev *r)
{
    struct redis_script *s, *next;

    r->closing = 1;
    ev_timer_stop(r->loop, &r->connect_wd);
    ev_timer_stop(r->loop, &r->backoff);
    ev_timer_stop(r->loop, &r->defer);
    /* Pending commands get REDIS_EV_DISCONNECTED from inside this call;
     * their callbacks may call redis_ev_free again, a no-op now. */
    r->in_callback++;
    conn_drop(r, "closing");
    r->in_callback--;
    ev_timer_stop(r->loop, &r->defer);
    for (s = r->scripts; s; s = next) {
        next = s->next;
        free(s);
    }
    free(r->host);
    free(r->unix_path);
    free(r->username);
    free(r->password);
    free(r);
}

void redis_ev_free(struct redis_ev *r)
{
    if (r == NULL || r->closing)
        return;
    r->closing = 1;
    if (r->in_callback > 0) {
        defer_kick(r);
        return;
    }
    real_free(r);
}
