/* test_redis_ev.c - redis_ev against a real redis-server on a unix socket:
 * handshake, binary-safe commands, watchdogs and late replies, NOSCRIPT
 * fallback, reconnect with backoff, AUTH/SELECT, hung-server detection,
 * and freeing from inside a callback (run under ASan to mean anything). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "redis_ev.h"
#include "redis_server.h"

struct fx {
    struct test_redis srv;
    struct ev_loop *loop;
    struct redis_ev *r;
    int connects, disconnects;
    char why[256];
};

struct call {
    int called;
    enum redis_ev_result res;
    int type;
    char str[256];
    size_t len;
    long long integer;
    struct redis_ev **free_me;   /* redis_ev_free this from the callback */
    struct call *then;           /* ... after queueing a PING for this one */
};

static void on_reply(enum redis_ev_result res, const struct redisReply *r,
                     void *ud);

static void on_state(int connected, const char *why, void *ud)
{
    struct fx *f = ud;

    if (connected)
        f->connects++;
    else {
        f->disconnects++;
        snprintf(f->why, sizeof f->why, "%s", why ? why : "");
    }
}

static void on_reply(enum redis_ev_result res, const struct redisReply *r,
                     void *ud)
{
    struct call *c = ud;
    const redisReply *rep = (const redisReply *)r;

    c->called++;
    c->res = res;
    if (rep) {
        c->type = rep->type;
        c->integer = rep->integer;
        if (rep->str) {
            c->len = rep->len < sizeof c->str ? rep->len : sizeof c->str;
            memcpy(c->str, rep->str, c->len);
        }
    }
    if (c->free_me && *c->free_me) {
        if (c->then) {
            const char *argv[1] = {"PING"};
            size_t lens[1] = {4};

            assert_int_equal(redis_ev_command(*c->free_me, 1, argv, lens, 1000,
                                              on_reply, c->then), 0);
        }
        redis_ev_free(*c->free_me);
        *c->free_me = NULL;
    }
}

static void run_until(struct fx *f, const int *flag, int want, double ms)
{
    test_loop_until(f->loop, flag, want, ms);
}

static int open_fx(struct fx *f, const char *password, int db)
{
    struct redis_ev_options o = {0};

    if (test_redis_spawn(&f->srv) != 0)
        return -1;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    o.unix_path = f->srv.sock;
    o.password = password;
    o.db = db;
    o.connect_timeout_ms = 500;
    if (redis_ev_new(&f->r, f->loop, &o, NULL) != 0)
        return -1;
    redis_ev_on_state(f->r, on_state, f);
    return 0;
}

static int setup(void **state)
{
    struct fx *f;

    if (!test_redis_available())
        return 0;
    f = calloc(1, sizeof *f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (f == NULL)
        return 0;
    redis_ev_free(f->r);
    if (f->loop) {
        run_until(f, NULL, 0, 20);   /* let deferred frees run */
        ev_loop_destroy(f->loop);
    }
    test_redis_stop(&f->srv);
    free(f);
    return 0;
}

#define NEED_REDIS(state) do { if (*(state) == NULL) { skip(); } } while (0)

static void start_connected(struct fx *f)
{
    assert_int_equal(open_fx(f, NULL, 0), 0);
    redis_ev_start(f->r);
    run_until(f, &f->connects, 1, 3000);
    assert_int_equal(f->connects, 1);
    assert_true(redis_ev_connected(f->r));
}

static int cmd(struct fx *f, struct call *c, unsigned timeout_ms, int argc, ...)
{
    const char *argv[8];
    size_t lens[8];
    va_list ap;

    va_start(ap, argc);
    for (int i = 0; i < argc; i++) {
        argv[i] = va_arg(ap, const char *);
        lens[i] = strlen(argv[i]);
    }
    va_end(ap);
    return redis_ev_command(f->r, argc, argv, lens, timeout_ms, on_reply, c);
}

static void test_binary_roundtrip(void **state)
{
    struct fx *f = *state;
    struct call set = {0}, get = {0};
    const char *argv[3] = {"SET", "k", "a\0b\r\nc"};
    size_t lens[3] = {3, 1, 6};

    NEED_REDIS(state);
    start_connected(f);
    assert_int_equal(redis_ev_command(f->r, 3, argv, lens, 1000, on_reply, &set), 0);
    assert_int_equal(set.called, 0);   /* never from inside the call */
    assert_int_equal(cmd(f, &get, 1000, 2, "GET", "k"), 0);
    run_until(f, &get.called, 1, 2000);
    assert_int_equal(set.called, 1);
    assert_int_equal(set.res, REDIS_EV_REPLY);
    assert_int_equal(get.res, REDIS_EV_REPLY);
    assert_int_equal(get.type, REDIS_REPLY_STRING);
    assert_int_equal(get.len, 6);
    assert_memory_equal(get.str, "a\0b\r\nc", 6);
    assert_int_equal(redis_ev_pending(f->r), 0);
}

static void test_watchdog_then_late_reply(void **state)
{
    struct fx *f = *state;
    struct call slow = {0}, after = {0};

    NEED_REDIS(state);
    start_connected(f);
    assert_int_equal(cmd(f, &slow, 50, 3, "DEBUG", "SLEEP", "0.3"), 0);
    run_until(f, &slow.called, 1, 1000);
    assert_int_equal(slow.called, 1);
    assert_int_equal(slow.res, REDIS_EV_TIMEOUT);
    /* hiredis still holds the command until Redis answers. */
    assert_int_equal(redis_ev_pending(f->r), 1);
    assert_int_equal(cmd(f, &after, 2000, 1, "PING"), 0);
    run_until(f, &after.called, 1, 2000);
    assert_int_equal(after.res, REDIS_EV_REPLY);
    assert_int_equal(slow.called, 1);   /* the late reply is dropped */
    assert_int_equal(redis_ev_pending(f->r), 0);
    assert_true(redis_ev_connected(f->r));   /* one stall is no outage */
}

static void test_evalsha_noscript_fallback(void **state)
{
    struct fx *f = *state;
    const struct redis_script *s;
    struct call load = {0}, flush = {0}, ev = {0}, exists = {0};
    const char *argv[2] = {"key", "hello"};
    size_t lens[2] = {3, 5};
    const char *text = "return ARGV[1] .. KEYS[1]";

    NEED_REDIS(state);
    assert_int_equal(open_fx(f, NULL, 0), 0);
    assert_int_equal(redis_ev_script_add(f->r, text, &s), 0);
    redis_ev_start(f->r);
    run_until(f, &f->connects, 1, 3000);
    /* Our SHA-1 is the one Redis computes. */
    assert_int_equal(cmd(f, &load, 1000, 3, "SCRIPT", "LOAD", text), 0);
    run_until(f, &load.called, 1, 2000);
    assert_int_equal(load.len, 40);
    assert_memory_equal(load.str, redis_script_sha(s), 40);

    assert_int_equal(cmd(f, &flush, 1000, 2, "SCRIPT", "FLUSH"), 0);
    assert_int_equal(redis_ev_evalsha(f->r, s, 1, 2, argv, lens, 1000,
                                      on_reply, &ev), 0);
    run_until(f, &ev.called, 1, 2000);
    assert_int_equal(ev.res, REDIS_EV_REPLY);
    assert_int_equal(ev.type, REDIS_REPLY_STRING);
    assert_int_equal(ev.len, 8);
    assert_memory_equal(ev.str, "hellokey", 8);
    /* EVAL re-cached it. */
    assert_int_equal(cmd(f, &exists, 1000, 3, "SCRIPT", "EXISTS",
                         redis_script_sha(s)), 0);
    run_until(f, &exists.called, 1, 2000);
    assert_int_equal(exists.type, REDIS_REPLY_ARRAY);
}

static void test_refuses_when_disconnected_and_backs_off(void **state)
{
    struct fx *f = *state;
    struct redis_ev_options o = {0};
    struct call c = {0};
    int never = 0;

    NEED_REDIS(state);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    o.unix_path = "/nonexistent/quench-test.sock";
    assert_int_equal(redis_ev_new(&f->r, f->loop, &o, NULL), 0);
    redis_ev_on_state(f->r, on_state, f);
    redis_ev_start(f->r);
    assert_int_equal(cmd(f, &c, 1000, 1, "PING"), -1);
    run_until(f, &never, 1, 1000);
    /* 100, 200, 400 ms ... each x[0.5,1): between 3 and 8 tries in 1 s. */
    assert_in_range(f->disconnects, 3, 8);
    assert_non_null(strstr(f->why, "connect failed"));
    assert_int_equal(f->connects, 0);
    assert_int_equal(c.called, 0);
}

static void test_reconnects_after_restart(void **state)
{
    struct fx *f = *state;
    struct call sleepy = {0}, c = {0};

    NEED_REDIS(state);
    start_connected(f);
    assert_int_equal(cmd(f, &sleepy, 5000, 3, "DEBUG", "SLEEP", "2"), 0);
    run_until(f, NULL, 0, 50);
    test_redis_kill(&f->srv, 1);
    run_until(f, &sleepy.called, 1, 2000);
    /* The write's fate is unknown: not a reply, not a timeout. */
    assert_int_equal(sleepy.res, REDIS_EV_DISCONNECTED);
    assert_int_equal(f->disconnects >= 1, 1);
    assert_false(redis_ev_connected(f->r));
    assert_int_equal(test_redis_spawn(&f->srv), 0);
    run_until(f, &f->connects, 2, 8000);
    assert_int_equal(f->connects, 2);
    assert_int_equal(cmd(f, &c, 1000, 1, "PING"), 0);
    run_until(f, &c.called, 1, 2000);
    assert_int_equal(c.res, REDIS_EV_REPLY);
}

static void test_auth_and_select(void **state)
{
    struct fx *f = *state;
    struct call c = {0};
    redisReply *r;

    NEED_REDIS(state);
    snprintf(f->srv.pass, sizeof f->srv.pass, "s3cret");
    assert_int_equal(open_fx(f, f->srv.pass, 3), 0);
    redis_ev_start(f->r);
    run_until(f, &f->connects, 1, 3000);
    assert_int_equal(f->connects, 1);
    assert_int_equal(cmd(f, &c, 1000, 3, "SET", "in3", "yes"), 0);
    run_until(f, &c.called, 1, 2000);
    assert_int_equal(c.res, REDIS_EV_REPLY);
    assert_int_equal(c.type, REDIS_REPLY_STATUS);
    /* A fresh connection starts in db 0: a script selects db 3 to look. */
    r = test_redis_cmd(&f->srv, "EVAL %s 0",
                       "redis.call('SELECT', 3) return redis.call('GET', 'in3')");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "yes");
    freeReplyObject(r);
}

static void test_wrong_password_never_connects(void **state)
{
    struct fx *f = *state;
    int never = 0;

    NEED_REDIS(state);
    snprintf(f->srv.pass, sizeof f->srv.pass, "right");
    assert_int_equal(open_fx(f, "wrong", 0), 0);
    redis_ev_start(f->r);
    run_until(f, &never, 1, 500);
    assert_int_equal(f->connects, 0);
    assert_true(f->disconnects >= 1);
    assert_non_null(strstr(f->why, "handshake failed"));
    assert_null(strstr(f->why, "wrong"));   /* never the password */
}

static void test_hung_server_is_dropped(void **state)
{
    struct fx *f = *state;
    struct call c[3];

    NEED_REDIS(state);
    memset(c, 0, sizeof c);
    start_connected(f);
    kill(f->srv.pid, SIGSTOP);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cmd(f, &c[i], 50, 1, "PING"), 0);
    run_until(f, &f->disconnects, 1, 2000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c[i].called, 1);
        assert_int_equal(c[i].res, REDIS_EV_TIMEOUT);
    }
    assert_int_equal(f->disconnects, 1);
    assert_false(redis_ev_connected(f->r));
    assert_int_equal(redis_ev_pending(f->r), 0);   /* hiredis gave them back */
    kill(f->srv.pid, SIGCONT);
    run_until(f, &f->connects, 2, 8000);
    assert_int_equal(f->connects, 2);
}

static void test_free_inside_callback(void **state)
{
    struct fx *f = *state;
    struct call first = {0}, second = {0};

    NEED_REDIS(state);
    start_connected(f);
    first.free_me = &f->r;
    first.then = &second;
    assert_int_equal(cmd(f, &first, 1000, 1, "PING"), 0);
    run_until(f, &second.called, 1, 2000);
    assert_null(f->r);
    assert_int_equal(first.res, REDIS_EV_REPLY);
    assert_int_equal(second.called, 1);
    assert_int_equal(second.res, REDIS_EV_DISCONNECTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_binary_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_then_late_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evalsha_noscript_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_when_disconnected_and_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnects_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_and_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_never_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hung_server_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_inside_callback, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
