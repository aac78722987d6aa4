/* redis_ev.h - one asynchronous Redis connection on a libev loop (hiredis
 * 0.14.1, PROTOCOLS.md section 4.6): connect over TCP or a unix socket,
 * AUTH/SELECT and script loading first, a connect watchdog, reconnect with
 * backoff (100 ms x 2^n, cap 5 s, jitter), a watchdog per command, and
 * EVALSHA with a NOSCRIPT fallback to EVAL.
 *
 * Commands are accepted only while connected; every accepted command gets
 * its callback exactly once, never from inside the call that queued it.
 * Only redis_ev.c includes hiredis's libev adapter. */
#ifndef QUENCH_REDIS_EV_H
#define QUENCH_REDIS_EV_H

#include <stddef.h>

#include "qerr.h"

struct ev_loop;
struct redisReply;    /* <hiredis/hiredis.h> to read one */
struct redis_ev;      /* opaque */
struct redis_script;  /* opaque; owned by its redis_ev */

struct redis_ev_options {
    const char *host;          /* TCP host; ignored when unix_path is set */
    int port;                  /* 0: 6379 */
    const char *unix_path;     /* unix socket, or NULL for TCP */
    const char *username;      /* ACL user, or NULL for "AUTH <password>" */
    const char *password;      /* NULL: no AUTH */
    int db;                    /* SELECT when > 0 */
    unsigned connect_timeout_ms;   /* connect + handshake; 0: 2000 */
};

/* How a command ended. Only REDIS_EV_REPLY carries a reply; with the other
 * two a write may or may not have happened ("unknown outcome"). */
enum redis_ev_result {
    REDIS_EV_REPLY = 0,        /* REPLY is valid (it may be an error reply) */
    REDIS_EV_TIMEOUT,          /* the watchdog fired first */
    REDIS_EV_DISCONNECTED,     /* the connection went away, or redis_ev_free */
};

/* REPLY is borrowed for the duration of the call (NULL unless
 * REDIS_EV_REPLY). May queue new commands; may call redis_ev_free. */
typedef void (*redis_ev_reply_fn)(enum redis_ev_result res,
                                  const struct redisReply *reply, void *ud);

/* Called with CONNECTED 1 when the handshake succeeds, and with 0 when the
 * connection is lost or an attempt fails (so a failure to connect at all
 * is visible too). WHY is a short reason, borrowed for the call; NULL on
 * connect. Never names the password. May call redis_ev_free. */
typedef void (*redis_ev_state_fn)(int connected, const char *why, void *ud);

/* New connection object on LOOP; strings in O are copied. Does not connect
 * until redis_ev_start. 0, or -1 with ERR (OOM). */
int redis_ev_new(struct redis_ev **out, struct ev_loop *loop,
                 const struct redis_ev_options *o, struct qerr *err);

/* Register TEXT as a script loaded (SCRIPT LOAD) on every (re)connect and
 * callable with redis_ev_evalsha. *out is valid until redis_ev_free. Call
 * before redis_ev_start. 0, or -1 on OOM. */
int redis_ev_script_add(struct redis_ev *r, const char *text,
                        const struct redis_script **out);
/* Lowercase hex SHA-1 of the script text, as SCRIPT LOAD returns it. */
const char *redis_script_sha(const struct redis_script *s);

/* FN (may be NULL) is told about every connect and disconnect. */
void redis_ev_on_state(struct redis_ev *r, redis_ev_state_fn fn, void *ud);

/* Start connecting; keeps reconnecting until redis_ev_free. */
void redis_ev_start(struct redis_ev *r);

/* 1 once the handshake (AUTH, SELECT, scripts, PING) has succeeded and
 * until the connection is lost, else 0. */
int redis_ev_connected(const struct redis_ev *r);

/* Send ARGV (binary-safe, copied). After TIMEOUT_MS without a reply FN gets
 * REDIS_EV_TIMEOUT; the late reply is then dropped. 0: FN will be called
 * once; -1: not connected (FN will not be called). */
int redis_ev_command(struct redis_ev *r, int argc, const char *const *argv,
                     const size_t *lens, unsigned timeout_ms,
                     redis_ev_reply_fn fn, void *ud);

/* EVALSHA S with NKEYS keys followed by the other arguments in ARGV; on a
 * NOSCRIPT error it is resent once as EVAL with the text. Otherwise as
 * redis_ev_command. */
int redis_ev_evalsha(struct redis_ev *r, const struct redis_script *s,
                     int nkeys, int argc, const char *const *argv,
                     const size_t *lens, unsigned timeout_ms,
                     redis_ev_reply_fn fn, void *ud);

/* Commands sent and not yet answered by Redis (timed-out ones included,
 * until their late reply arrives). */
unsigned redis_ev_pending(const struct redis_ev *r);

/* Disconnect, give every unanswered command REDIS_EV_DISCONNECTED (the
 * state callback is not called), free. From inside one of R's callbacks
 * the free is deferred to the loop's next iteration (R must not be used
 * after the call either way). R may be NULL. */
void redis_ev_free(struct redis_ev *r);

#endif
