/* test_archive.c - the archive against a real redis-server: stored once per
 * dedup window, the dedup key only with a successful XADD, back-pressure,
 * unknown outcomes and their retry, NOSCRIPT, trimming by age, and export
 * writing the stored bytes into replay JSONL with --since/--until. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "alert.h"
#include "archive.h"
#include "redis_ev.h"
#include "redis_server.h"

struct fx {
    struct test_redis srv;
    struct ev_loop *loop;
    struct redis_ev *r;
    struct archive *a;
    int connects;
};

struct done {
    int called;
    enum archive_outcome o;
    char id[64];
};

static void on_state(int connected, const char *why, void *ud)
{
    struct fx *f = ud;

    (void)why;
    if (connected)
        f->connects++;
}

static void on_done(enum archive_outcome o, const char *id, double s, void *ud)
{
    struct done *d = ud;

    assert_true(s >= 0);
    d->called++;
    d->o = o;
    snprintf(d->id, sizeof d->id, "%s", id);
}

static void on_sleep(enum redis_ev_result res, const struct redisReply *r,
                     void *ud)
{
    (void)res;
    (void)r;
    (*(int *)ud)++;
}

static void run_until(struct fx *f, const int *flag, int want, double ms)
{
    test_loop_until(f->loop, flag, want, ms);
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void open_archive(struct fx *f, const struct archive_options *o)
{
    struct redis_ev_options ro = {0};

    assert_int_equal(test_redis_spawn(&f->srv), 0);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    ro.unix_path = f->srv.sock;
    assert_int_equal(redis_ev_new(&f->r, f->loop, &ro, NULL), 0);
    redis_ev_on_state(f->r, on_state, f);
    assert_int_equal(archive_new(&f->a, f->r, o, NULL), 0);
    redis_ev_start(f->r);
    run_until(f, &f->connects, 1, 3000);
    assert_int_equal(f->connects, 1);
}

static int setup(void **state)
{
    if (!test_redis_available())
        return 0;
    *state = calloc(1, sizeof(struct fx));
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (f == NULL)
        return 0;
    redis_ev_free(f->r);
    archive_free(f->a);
    if (f->loop)
        ev_loop_destroy(f->loop);
    test_redis_stop(&f->srv);
    free(f);
    return 0;
}

#define NEED_REDIS(state) do { if (*(state) == NULL) { skip(); } } while (0)

static long long xlen(struct fx *f)
{
    redisReply *r = test_redis_cmd(&f->srv, "XLEN " ARCHIVE_STREAM, NULL);
    long long n;

    assert_non_null(r);
    n = r->integer;
    freeReplyObject(r);
    return n;
}

static void write_sync(struct fx *f, const char *body, size_t len,
                       int64_t now, struct done *d)
{
    memset(d, 0, sizeof *d);
    assert_int_equal(archive_write(f->a, body, len, now, on_done, d), 0);
    assert_int_equal(d->called, 0);
    run_until(f, &d->called, 1, 3000);
    assert_int_equal(d->called, 1);
}

static void test_stored_once_per_window(void **state)
{
    struct fx *f = *state;
    const char body[] = "{\"version\":\"4\",\"x\":\"a\\u0000\"}\n";
    struct done d1, d2, d3;
    redisReply *r;
    int64_t now = wall_ms();
    char ra[32];

    NEED_REDIS(state);
    open_archive(f, NULL);
    write_sync(f, body, sizeof body - 1, now, &d1);
    assert_int_equal(d1.o, ARCHIVE_STORED);
    assert_true(d1.id[0] != 0);
    write_sync(f, body, sizeof body - 1, now + 5, &d2);
    assert_int_equal(d2.o, ARCHIVE_DUPLICATE);
    assert_string_equal(d2.id, d1.id);     /* names the first copy */
    write_sync(f, body, sizeof body - 2, now, &d3);   /* other bytes */
    assert_int_equal(d3.o, ARCHIVE_STORED);
    assert_int_equal(xlen(f), 2);

    r = test_redis_cmd(&f->srv, "XRANGE " ARCHIVE_STREAM " %s +", d1.id);
    assert_non_null(r);
    assert_int_equal(r->elements, 2);
    {
        redisReply *fields = r->element[0]->element[1];

        assert_int_equal(fields->elements, 4);
        assert_string_equal(fields->element[0]->str, "received_at");
        snprintf(ra, sizeof ra, "%lld", (long long)now);
        assert_string_equal(fields->element[1]->str, ra);
        assert_string_equal(fields->element[2]->str, "body");
        assert_int_equal(fields->element[3]->len, sizeof body - 1);
        assert_memory_equal(fields->element[3]->str, body, sizeof body - 1);
    }
    freeReplyObject(r);
    /* The dedup key expires within the default window. */
    r = test_redis_cmd(&f->srv, "EVAL %s 0",
                       "local k = redis.call('KEYS', 'quench:dedup:*')"
                       " return redis.call('PTTL', k[1])");
    assert_non_null(r);
    assert_in_range(r->integer, 1, 15 * 60 * 1000);
    freeReplyObject(r);
}

static void test_no_dedup_key_when_xadd_fails(void **state)
{
    struct fx *f = *state;
    const char body[] = "{\"version\":\"4\"}";
    struct done d;
    redisReply *r;

    NEED_REDIS(state);
    open_archive(f, NULL);
    /* A stream key of the wrong type makes XADD fail inside the script. */
    r = test_redis_cmd(&f->srv, "SET " ARCHIVE_STREAM " oops", NULL);
    freeReplyObject(r);
    write_sync(f, body, sizeof body - 1, wall_ms(), &d);
    assert_int_equal(d.o, ARCHIVE_FAILED);
    r = test_redis_cmd(&f->srv, "KEYS quench:dedup:*", NULL);
    assert_non_null(r);
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
    /* Once the key is fixed, the retry is stored, not a "duplicate". */
    r = test_redis_cmd(&f->srv, "DEL " ARCHIVE_STREAM, NULL);
    freeReplyObject(r);
    write_sync(f, body, sizeof body - 1, wall_ms(), &d);
    assert_int_equal(d.o, ARCHIVE_STORED);
}

static void test_backpressure_and_down(void **state)
{
    struct fx *f = *state;
    struct archive_options o = {.max_inflight = 1};
    struct done d1 = {0}, d2 = {0};

    NEED_REDIS(state);
    open_archive(f, &o);
    assert_int_equal(archive_write(f->a, "{}", 2, wall_ms(), on_done, &d1), 0);
    assert_int_equal(archive_inflight(f->a), 1);
    assert_int_equal(archive_write(f->a, "[]", 2, wall_ms(), on_done, &d2),
                     ARCHIVE_EBUSY);
    run_until(f, &d1.called, 1, 3000);
    assert_int_equal(archive_inflight(f->a), 0);
    test_redis_kill(&f->srv, 1);
    run_until(f, NULL, 0, 100);
    assert_int_equal(archive_write(f->a, "[]", 2, wall_ms(), on_done, &d2),
                     ARCHIVE_EDOWN);
    run_until(f, NULL, 0, 50);
    assert_int_equal(d2.called, 0);
}

static void test_timeout_is_unknown_and_retry_dedups(void **state)
{
    struct fx *f = *state;
    struct archive_options o = {.write_timeout_ms = 50};
    struct done slow = {0}, d;
    int sleeping = 0;
    const char body[] = "{\"version\":\"4\",\"n\":1}\n";
    const char *argv[3] = {"DEBUG", "SLEEP", "0.3"};
    size_t lens[3] = {5, 5, 3};

    NEED_REDIS(state);
    open_archive(f, &o);
    assert_int_equal(redis_ev_command(f->r, 3, argv, lens, 2000, on_sleep,
                                      &sleeping), 0);
    assert_int_equal(archive_write(f->a, body, sizeof body - 1, wall_ms(),
                                   on_done, &slow), 0);
    run_until(f, &slow.called, 1, 2000);
    assert_int_equal(slow.o, ARCHIVE_UNKNOWN);
    /* The write did happen after all; Alertmanager's retry is harmless. */
    run_until(f, &sleeping, 1, 2000);
    run_until(f, NULL, 0, 50);
    assert_int_equal(xlen(f), 1);
    write_sync(f, body, sizeof body - 1, wall_ms(), &d);
    assert_int_equal(d.o, ARCHIVE_DUPLICATE);
    assert_int_equal(xlen(f), 1);
}

static void test_survives_script_flush(void **state)
{
    struct fx *f = *state;
    struct done d;
    redisReply *r;

    NEED_REDIS(state);
    open_archive(f, NULL);
    r = test_redis_cmd(&f->srv, "SCRIPT FLUSH", NULL);
    freeReplyObject(r);
    write_sync(f, "{\"a\":1}", 7, wall_ms(), &d);
    assert_int_equal(d.o, ARCHIVE_STORED);
    assert_int_equal(xlen(f), 1);
}

static void test_trims_by_age(void **state)
{
    struct fx *f = *state;
    struct archive_options o = {.retention_ms = 300};
    struct done d;
    char body[32];
    redisReply *r;

    NEED_REDIS(state);
    open_archive(f, &o);
    /* One entry per node, so approximate (~) trimming is exact here. */
    r = test_redis_cmd(&f->srv, "CONFIG SET stream-node-max-entries 1", NULL);
    freeReplyObject(r);
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        write_sync(f, body, strlen(body), wall_ms(), &d);
    }
    assert_int_equal(xlen(f), 5);
    /* Past the retention, the next XADD trims all but itself. */
    run_until(f, NULL, 0, 400);
    write_sync(f, "{\"late\":1}", 10, wall_ms(), &d);
    assert_int_equal(d.o, ARCHIVE_STORED);
    assert_int_equal(xlen(f), 1);
    /* And the periodic trim empties an idle stream. */
    run_until(f, NULL, 0, 400);
    assert_int_equal(archive_trim(f->a, wall_ms()), 0);
    run_until(f, NULL, 0, 100);
    assert_int_equal(xlen(f), 0);
}

static void test_free_with_writes_in_flight(void **state)
{
    struct fx *f = *state;
    struct done d = {0};

    NEED_REDIS(state);
    open_archive(f, NULL);
    assert_int_equal(archive_write(f->a, "{}", 2, wall_ms(), on_done, &d), 0);
    archive_free(f->a);
    f->a = NULL;
    run_until(f, &d.called, 1, 2000);
    assert_int_equal(d.called, 1);
    assert_int_equal(d.o, ARCHIVE_STORED);
}

static char *export_str(struct fx *f, int64_t since, int64_t until,
                        struct archive_export_stats *st)
{
    struct redis_ev_options ro = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct qerr err;

    ro.unix_path = f->srv.sock;
    assert_int_equal(archive_export(out, &ro, since, until, st, &err), 0);
    fclose(out);
    return buf;
}

static void test_export_bytes_and_window(void **state)
{
    struct fx *f = *state;
    static const char *bodies[3] = {
        "{\"version\":\"4\",\"s\":\"p99 \\u003e 2s\"}\n",
        "{\n  \"version\": \"4\",\r\n  \"n\": 2\n}\n",
        "{\"version\":\"4\",\"n\":3}",
    };
    static const char *payloads[3] = {
        "{\"version\":\"4\",\"s\":\"p99 \\u003e 2s\"}",
        "{   \"version\": \"4\",    \"n\": 2 }",
        "{\"version\":\"4\",\"n\":3}",
    };
    int64_t t0 = wall_ms() - 10000;
    struct done d;
    struct archive_export_stats st;
    char expect[1024], ts[40];
    char *got;
    redisReply *r;

    NEED_REDIS(state);
    open_archive(f, NULL);
    for (int i = 0; i < 3; i++)
        write_sync(f, bodies[i], strlen(bodies[i]), t0 + 1000 * i, &d);
    /* Someone else's junk in the stream is skipped, not exported. */
    r = test_redis_cmd(&f->srv, "XADD " ARCHIVE_STREAM " * received_at 5 body %s",
                       "not json");
    freeReplyObject(r);

    got = export_str(f, INT64_MIN, INT64_MAX, &st);
    expect[0] = 0;
    for (int i = 0; i < 3; i++) {
        alert_time_format(t0 + 1000 * i, ts, sizeof ts);
        snprintf(expect + strlen(expect), sizeof expect - strlen(expect),
                 "{\"received_at\":\"%s\",\"payload\":%s}\n", ts, payloads[i]);
    }
    assert_string_equal(got, expect);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.skipped, 1);
    free(got);

    /* [since, until): only the middle one. */
    got = export_str(f, t0 + 500, t0 + 2000, &st);
    alert_time_format(t0 + 1000, ts, sizeof ts);
    snprintf(expect, sizeof expect, "{\"received_at\":\"%s\",\"payload\":%s}\n",
             ts, payloads[1]);
    assert_string_equal(got, expect);
    assert_int_equal(st.records, 1);
    free(got);
}

static void test_export_pages(void **state)
{
    struct fx *f = *state;
    struct done d;
    struct archive_export_stats st;
    char body[32];
    char *got;
    int64_t now = wall_ms();
    int lines = 0;

    NEED_REDIS(state);
    open_archive(f, NULL);
    for (int i = 0; i < 450; i++) {   /* past two pages of 200 */
        snprintf(body, sizeof body, "{\"i\":%d}", i);
        write_sync(f, body, strlen(body), now, &d);
    }
    got = export_str(f, INT64_MIN, INT64_MAX, &st);
    assert_int_equal(st.records, 450);
    for (char *p = got; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 450);
    assert_non_null(strstr(got, "\"payload\":{\"i\":0}}\n"));
    assert_non_null(strstr(got, "\"payload\":{\"i\":449}}\n"));
    free(got);
}

static void test_export_connect_error(void **state)
{
    struct redis_ev_options ro = {0};
    struct qerr err;
    FILE *out = tmpfile();

    (void)state;
    ro.unix_path = "/nonexistent/quench.sock";
    assert_int_equal(archive_export(out, &ro, INT64_MIN, INT64_MAX, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/quench.sock"));
    fclose(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stored_once_per_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_dedup_key_when_xadd_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure_and_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_is_unknown_and_retry_dedups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_script_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trims_by_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_writes_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_bytes_and_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_pages, setup, teardown),
        cmocka_unit_test(test_export_connect_error),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
