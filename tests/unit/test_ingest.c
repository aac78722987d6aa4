/* test_ingest.c - the webhook route end to end inside the test's own ev
 * loop: a real http server on 127.0.0.1 port 0 with ingest's route, a real
 * archive on a real redis-server (unix socket in a temp dir). The client is
 * a second thread sending raw HTTP; it never asserts (cmocka is not
 * thread-safe) but records each response, what Redis held the moment the
 * response arrived, and whether anything came back early. The main thread
 * checks after joining it, and drives Redis (kill, restart, SIGSTOP) and
 * ingest (drain, free) between client phases.
 *
 * The property under test is DESIGN.md invariant 1: a 200 leaves only after
 * Redis confirmed the write. To make "before" observable, the client stops
 * redis-server (SIGSTOP) before posting, so a premature answer would arrive
 * while Redis cannot possibly have stored anything. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "archive.h"
#include "http.h"
#include "ingest.h"
#include "http_client.h"
#include "limits.h"
#include "metrics.h"
#include "redis_ev.h"
#include "redis_server.h"

#define NOUT 6
#define OUTCAP 8192
#define FIXTURE "tests/data/alertmanager/02-firing-CheckoutLatencyHigh.json"
#define PATH "/webhook/alertmanager"

struct fx {
    struct test_redis srv;
    struct ev_loop *loop;
    struct redis_ev *r;
    struct archive *a;
    struct metrics *m;
    struct ingest *in;
    struct http_server *http;
    struct http_route route;
    unsigned port;
    int connects, disconnects;
    char *body;                     /* the fixture's bytes */
    size_t body_len;
    /* loop control while a client runs */
    ev_async done;
    ev_timer watchdog;
    bool client_done, timed_out;
    /* client side */
    void (*client)(struct fx *);
    pthread_t th;
    char out[NOUT][OUTCAP];
    ssize_t outlen[NOUT];
    int outerr[NOUT];           /* errno when outlen < 0 */
    long long xlen_at[NOUT];        /* XLEN once response I was read */
    ssize_t early[NOUT];            /* bytes seen while Redis was stopped */
};

/* ---- helpers usable from either thread (no cmocka) --------------------- */

static const char *source_dir(void)
{
    const char *d = getenv("QUENCH_SOURCE_DIR");
    return d && *d ? d : ".";
}

/* XLEN of the archive stream over a fresh blocking connection, or -1 when
 * Redis is gone or does not answer within 3 s (it may be stopped). */
static long long redis_xlen(const struct test_redis *t)
{
    struct timeval tv = {3, 0};
    redisContext *c = redisConnectUnixWithTimeout(t->sock, tv);
    redisReply *r = NULL;
    long long n = -1;

    if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK)
        r = redisCommand(c, "XLEN " ARCHIVE_STREAM);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        n = r->integer;
    if (r != NULL)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

/* ---- client side (runs in the thread; http_client.h) ------------------ */

static int cl_connect(const struct fx *f)
{
    return cl_connect_to(AF_INET, f->port);
}

/* Send a POST of BODY[0..len) to the webhook route on a new connection. */
static int cl_post(const struct fx *f, const char *body, size_t len)
{
    char head[256];
    int fd = cl_connect(f);
    int n;

    if (fd < 0)
        return -1;
    n = snprintf(head, sizeof head,
                 "POST " PATH " HTTP/1.1\r\nHost: t\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
    cl_send(fd, head, (size_t)n);
    cl_send(fd, body, len);
    return fd;
}

/* Bytes the server sent on FD within MS (peeked, not consumed): 0 or -1
 * when nothing came. */
static ssize_t cl_peek(int fd, long ms)
{
    char c;
    ssize_t n;

    cl_timeout(fd, ms);
    do
        n = recv(fd, &c, 1, MSG_PEEK);
    while (n < 0 && errno == EINTR);   /* see http_client.h */
    cl_timeout(fd, 5000);
    return n;
}

/* Post BODY, read the answer into out[I] and note XLEN right after. */
static void cl_exchange(struct fx *f, int i, const char *body, size_t len)
{
    int fd = cl_post(f, body, len);

    if (fd < 0) {
        f->outlen[i] = -2;
        return;
    }
    errno = 0;
    f->outlen[i] = cl_read_response(fd, f->out[i], OUTCAP);
    f->outerr[i] = f->outlen[i] < 0 ? errno : 0;
    f->xlen_at[i] = redis_xlen(&f->srv);
    close(fd);
}

/* Post BODY while redis-server is stopped: anything answered before it
 * resumes (out[I] early) cannot have been confirmed. Then resume it and
 * read the real answer. */
static void cl_exchange_stopped(struct fx *f, int i, const char *body,
                                size_t len)
{
    int fd;

    kill(f->srv.pid, SIGSTOP);
    fd = cl_post(f, body, len);
    if (fd < 0) {
        kill(f->srv.pid, SIGCONT);
        f->outlen[i] = -2;
        return;
    }
    f->early[i] = cl_peek(fd, 300);
    kill(f->srv.pid, SIGCONT);
    errno = 0;
    f->outlen[i] = cl_read_response(fd, f->out[i], OUTCAP);
    f->outerr[i] = f->outlen[i] < 0 ? errno : 0;
    f->xlen_at[i] = redis_xlen(&f->srv);
    close(fd);
}

static void *client_main(void *arg)
{
    struct fx *f = arg;

    f->client(f);
    ev_async_send(f->loop, &f->done);
    return NULL;
}

/* ---- main thread -------------------------------------------------------- */

static void on_state(int connected, const char *why, void *ud)
{
    struct fx *f = ud;

    (void)why;
    if (connected)
        f->connects++;
    else
        f->disconnects++;
}

static void on_client_done(struct ev_loop *loop, ev_async *w, int revents)
{
    struct fx *f = w->data;

    (void)revents;
    f->client_done = true;
    ev_break(loop, EVBREAK_ALL);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct fx *f = w->data;

    (void)revents;
    f->timed_out = true;
    ev_break(loop, EVBREAK_ALL);
}

static char *read_fixture(size_t *len)
{
    char path[1024];
    FILE *fp;
    char *buf;
    long n;

    snprintf(path, sizeof path, "%s/%s", source_dir(), FIXTURE);
    fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

/* Redis, archive (with O), ingest (counting into a registry unless
 * NO_METRICS) and the http server with ingest's route, connected. */
static void open_all(struct fx *f, const struct archive_options *o,
                     bool no_metrics)
{
    struct redis_ev_options ro = {0};
    struct archive_options ao = {.write_timeout_ms = 3000};
    struct http_options ho = {.listen = "127.0.0.1:0", .idle_timeout_s = 5};
    struct qerr err = {0};

    if (o != NULL)
        ao = *o;
    assert_int_equal(test_redis_spawn(&f->srv), 0);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(f->loop);
    ro.unix_path = f->srv.sock;
    assert_int_equal(redis_ev_new(&f->r, f->loop, &ro, NULL), 0);
    redis_ev_on_state(f->r, on_state, f);
    assert_int_equal(archive_new(&f->a, f->r, &ao, NULL), 0);
    if (!no_metrics) {
        f->m = metrics_new();
        assert_non_null(f->m);
    }
    if (ingest_new(&f->in, f->a, f->m, &err) != 0)
        fail_msg("ingest_new: %s", err.msg);
    f->route = (struct http_route){
        .method = "POST", .path = PATH, .content_type = "application/json",
        .max_body = QUENCH_MAX_WEBHOOK_BODY, .fn = ingest_handle, .ud = f->in};
    if (http_server_new(&f->http, f->loop, &ho, &f->route, 1, &err) != 0)
        fail_msg("http_server_new: %s", err.msg);
    f->port = http_server_port(f->http);
    redis_ev_start(f->r);
    test_loop_until(f->loop, &f->connects, 1, 3000);
    assert_int_equal(f->connects, 1);

    ev_async_init(&f->done, on_client_done);
    f->done.data = f;
    ev_async_start(f->loop, &f->done);
    ev_timer_init(&f->watchdog, on_watchdog, 10., 0.);
    f->watchdog.data = f;
}

static int setup(void **state)
{
    struct fx *f;

    if (!test_redis_available())
        return 0;   /* each test skips */
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->body = read_fixture(&f->body_len);
    if (f->body == NULL) {
        free(f);
        return -1;
    }
    for (int i = 0; i < NOUT; i++) {
        f->outlen[i] = -3;
        f->xlen_at[i] = -3;
        f->early[i] = -3;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (f == NULL)
        return 0;
    if (f->srv.pid > 0)
        kill(f->srv.pid, SIGCONT);   /* never leave it stopped */
    /* The server first: it answers suspended requests and runs ingest's
     * on_abort, as ingest.h asks. */
    http_server_free(f->http);
    ingest_free(f->in);
    redis_ev_free(f->r);
    archive_free(f->a);
    metrics_free(f->m);
    if (f->loop != NULL) {
        ev_async_stop(f->loop, &f->done);
        ev_timer_stop(f->loop, &f->watchdog);
        ev_loop_destroy(f->loop);
    }
    test_redis_stop(&f->srv);
    free(f->body);
    free(f);
    return 0;
}

#define NEED_REDIS(state) do { if (*(state) == NULL) { skip(); } } while (0)

/* Run CLIENT in a thread while the loop serves, until it is done. */
static void run(struct fx *f, void (*client)(struct fx *))
{
    f->client = client;
    f->client_done = false;
    ev_timer_stop(f->loop, &f->watchdog);
    ev_timer_set(&f->watchdog, 10., 0.);
    ev_timer_start(f->loop, &f->watchdog);
    assert_int_equal(pthread_create(&f->th, NULL, client_main, f), 0);
    while (!f->client_done && !f->timed_out)
        ev_run(f->loop, 0);
    assert_int_equal(pthread_join(f->th, NULL), 0);
    ev_timer_stop(f->loop, &f->watchdog);
    assert_false(f->timed_out);
}

static void assert_status(const struct fx *f, int i, const char *status)
{
    char want[32];

    /* errno and what did arrive tell a reset from a timeout or a cut */
    if (f->outlen[i] <= 0)
        fail_msg("response %d: none (%zd, %s; read before: '%s')", i,
                 f->outlen[i], f->outerr[i] ? strerror(f->outerr[i]) : "EOF",
                 f->out[i]);
    snprintf(want, sizeof want, "HTTP/1.1 %s ", status);
    if (strncmp(f->out[i], want, strlen(want)) != 0)
        fail_msg("response %d: want %s, got:\n%s", i, want, f->out[i]);
}

static void assert_has(const struct fx *f, int i, const char *needle)
{
    if (ci_find(f->out[i], needle) == NULL)
        fail_msg("response %d lacks '%s':\n%s", i, needle, f->out[i]);
}

static void assert_lacks(const struct fx *f, int i, const char *needle)
{
    if (ci_find(f->out[i], needle) != NULL)
        fail_msg("response %d has '%s':\n%s", i, needle, f->out[i]);
}

static const char *resp_body(const struct fx *f, int i)
{
    const char *p = strstr(f->out[i], "\r\n\r\n");

    return p != NULL ? p + 4 : "";
}

/* Response I is 200 with exactly {"status":"ok"} as JSON. */
static void assert_ok(const struct fx *f, int i)
{
    assert_status(f, i, "200");
    assert_has(f, i, "\r\nContent-Type: application/json\r\n");
    assert_string_equal(resp_body(f, i), "{\"status\":\"ok\"}");
}

/* Response I carries a JSON object {"error": ERROR, "detail": <string>}
 * and nothing else; the detail is copied into DETAIL (may be NULL). */
static void assert_json_error(const struct fx *f, int i, const char *error,
                              char *detail, size_t cap)
{
    json_error_t je;
    json_t *o;
    const char *e, *d;

    assert_has(f, i, "\r\nContent-Type: application/json\r\n");
    o = json_loads(resp_body(f, i), 0, &je);
    if (o == NULL)
        fail_msg("response %d: body not JSON (%s):\n%s", i, je.text, f->out[i]);
    assert_true(json_is_object(o));
    assert_int_equal(json_object_size(o), 2);
    e = json_string_value(json_object_get(o, "error"));
    d = json_string_value(json_object_get(o, "detail"));
    assert_non_null(e);
    assert_non_null(d);
    assert_string_equal(e, error);
    assert_true(d[0] != '\0');
    if (detail != NULL)
        snprintf(detail, cap, "%s", d);
    json_decref(o);
}

/* 503 + Retry-After: SECONDS + a JSON error ERROR. */
static void assert_unavailable(const struct fx *f, int i, const char *error,
                               const char *seconds)
{
    char want[48];

    assert_status(f, i, "503");
    snprintf(want, sizeof want, "\r\nRetry-After: %s\r\n", seconds);
    assert_has(f, i, want);
    assert_json_error(f, i, error, NULL, 0);
}

/* The value of the sample SERIES (e.g. name{l="v"}) in the rendering, or
 * -1 when it is not rendered. */
static double metric(const struct fx *f, const char *series)
{
    char *text = metrics_render_alloc(f->m, NULL);
    size_t n = strlen(series);
    double v = -1;

    assert_non_null(text);
    for (const char *line = text; *line; ) {
        const char *nl = strchr(line, '\n');

        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    free(text);
    return v;
}

/* Run the loop until ingest has nothing waiting for Redis, at most MS. */
static void settle(struct fx *f, double ms)
{
    ev_tstamp end;

    ev_now_update(f->loop);
    end = ev_now(f->loop) + ms / 1000.0;
    while ((ingest_pending(f->in) > 0 || archive_inflight(f->a) > 0) &&
           ev_now(f->loop) < end)
        test_loop_until(f->loop, NULL, 0, 10);
}

/* The stream holds exactly one entry, whose body is BODY[0..len). */
static void assert_stored_once(const struct fx *f, const char *body,
                               size_t len, int64_t t0, int64_t t1)
{
    redisReply *r = test_redis_cmd(&f->srv, "XRANGE " ARCHIVE_STREAM " - +",
                                   NULL);
    redisReply *fields;
    bool seen_body = false, seen_at = false;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    fields = r->element[0]->element[1];
    for (size_t k = 0; k + 1 < fields->elements; k += 2) {
        const redisReply *name = fields->element[k];
        const redisReply *val = fields->element[k + 1];

        if (strcmp(name->str, "body") == 0) {
            assert_int_equal(val->len, len);
            assert_memory_equal(val->str, body, len);
            seen_body = true;
        } else if (strcmp(name->str, "received_at") == 0) {
            long long at = strtoll(val->str, NULL, 10);

            assert_in_range(at, t0, t1);
            seen_at = true;
        }
    }
    assert_true(seen_body);
    assert_true(seen_at);
    freeReplyObject(r);
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- tests ------------------------------------------------------------- */

static void c_store_then_dup(struct fx *f)
{
    cl_exchange_stopped(f, 0, f->body, f->body_len);
    cl_exchange_stopped(f, 1, f->body, f->body_len);
}

/* 200 only once Redis holds the bytes; the same body again is a duplicate:
 * 200, nothing added. */
static void test_ack_after_store_and_dedup(void **state)
{
    struct fx *f = *state;
    int64_t t0, t1;

    NEED_REDIS(state);
    open_all(f, NULL, false);
    t0 = wall_ms();
    run(f, c_store_then_dup);
    t1 = wall_ms();

    /* Nothing came back while Redis was stopped, for either request. */
    assert_true(f->early[0] <= 0);
    assert_true(f->early[1] <= 0);
    assert_ok(f, 0);
    assert_int_equal(f->xlen_at[0], 1);   /* stored when the 200 arrived */
    assert_ok(f, 1);
    assert_int_equal(f->xlen_at[1], 1);   /* dedup: still one entry */
    assert_stored_once(f, f->body, f->body_len, t0, t1);
    assert_int_equal(ingest_pending(f->in), 0);

    /* The fixture has one alert; it is counted once, when stored. */
    assert_true(metric(f, "quench_alerts_received_total") == 1);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"stored\"}") == 1);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"duplicate\"}") == 1);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"down\"}") < 0);
    /* Each confirmed write is timed; the 300 ms stop is in the sum. */
    assert_true(metric(f, "quench_archive_write_seconds_count") == 2);
    assert_true(metric(f, "quench_archive_write_seconds_sum") >= 0.5);
    assert_true(metric(f, "quench_archive_write_seconds_bucket{le=\"0.25\"}") == 0);
}

static const char bad_json[] = "{\"version\":\"4\",";
static const char wrong_version[] = "{\"version\":\"3\"}";

static void c_bad_input(struct fx *f)
{
    cl_exchange(f, 0, bad_json, sizeof bad_json - 1);
    cl_exchange(f, 1, wrong_version, sizeof wrong_version - 1);
    /* v4 in shape, one alert's startsAt not a time. */
    {
        char *b = strdup(f->body);
        char *at = b != NULL ? strstr(b, "2026-11-21T23:03:28") : NULL;

        if (at != NULL) {
            memcpy(at, "yesterday", 9);
            cl_exchange(f, 2, b, strlen(b));
        }
        free(b);
    }
}

/* Not JSON: 400; JSON but not a v4 webhook: 422 naming the JSON path.
 * Nothing reaches Redis and nothing is counted as a write. */
static void test_bad_input(void **state)
{
    struct fx *f = *state;
    char detail[512];

    NEED_REDIS(state);
    open_all(f, NULL, false);
    run(f, c_bad_input);

    assert_status(f, 0, "400");
    assert_json_error(f, 0, "invalid JSON", detail, sizeof detail);
    assert_true(strncmp(detail, "$:1:", 4) == 0);   /* where jansson stopped */
    assert_int_equal(f->xlen_at[0], 0);

    assert_status(f, 1, "422");
    assert_json_error(f, 1, "not an Alertmanager v4 webhook", detail,
                      sizeof detail);
    if (strncmp(detail, "$.version: ", 11) != 0)
        fail_msg("detail does not name $.version: %s", detail);
    assert_int_equal(f->xlen_at[1], 0);

    assert_status(f, 2, "422");
    assert_json_error(f, 2, "not an Alertmanager v4 webhook", detail,
                      sizeof detail);
    if (strncmp(detail, "$.alerts[0].startsAt: ", 22) != 0)
        fail_msg("detail does not name $.alerts[0].startsAt: %s", detail);
    assert_int_equal(f->xlen_at[2], 0);

    assert_int_equal(redis_xlen(&f->srv), 0);
    assert_int_equal(ingest_pending(f->in), 0);
    assert_true(metric(f, "quench_alerts_received_total") == 0);
    assert_true(metric(f, "quench_archive_write_seconds_count") == 0);
    for (int i = 0; i < 3; i++)
        assert_lacks(f, i, "Retry-After");   /* Alertmanager must not retry */
}

static void c_one(struct fx *f)
{
    cl_exchange(f, 0, f->body, f->body_len);
}

/* Redis gone: 503 + Retry-After, nothing stored, no dedup key left behind;
 * once Redis is back the retried webhook is stored. */
static void test_redis_down_then_back(void **state)
{
    struct fx *f = *state;
    int64_t t0, t1;

    NEED_REDIS(state);
    open_all(f, NULL, false);
    test_redis_kill(&f->srv, 1);
    test_loop_until(f->loop, &f->disconnects, 1, 3000);
    assert_int_equal(f->disconnects, 1);

    run(f, c_one);
    assert_unavailable(f, 0, "archive unavailable", "5");
    assert_int_equal(f->xlen_at[0], -1);   /* no Redis to ask */
    assert_int_equal(ingest_pending(f->in), 0);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"down\"}") == 1);
    assert_true(metric(f, "quench_alerts_received_total") == 0);

    /* Back (empty: no persistence); the redis_ev reconnects by itself. */
    assert_int_equal(test_redis_spawn(&f->srv), 0);
    test_loop_until(f->loop, &f->connects, 2, 8000);
    assert_int_equal(f->connects, 2);
    t0 = wall_ms();
    run(f, c_one);
    t1 = wall_ms();
    assert_ok(f, 0);
    assert_int_equal(f->xlen_at[0], 1);
    assert_stored_once(f, f->body, f->body_len, t0, t1);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"stored\"}") == 1);
    assert_true(metric(f, "quench_alerts_received_total") == 1);
}

static void c_one_stopped(struct fx *f)
{
    cl_exchange_stopped(f, 0, f->body, f->body_len);
}

/* Redis answers with an error (the stream key has the wrong type): 503,
 * not stored, no dedup key, so the retry after the fix is stored. */
static void test_write_refused(void **state)
{
    struct fx *f = *state;
    redisReply *r;

    NEED_REDIS(state);
    open_all(f, NULL, false);
    r = test_redis_cmd(&f->srv, "SET " ARCHIVE_STREAM " oops", NULL);
    assert_non_null(r);
    freeReplyObject(r);
    run(f, c_one_stopped);
    assert_true(f->early[0] <= 0);
    assert_unavailable(f, 0, "archive write failed", "5");
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"failed\"}") == 1);
    assert_true(metric(f, "quench_alerts_received_total") == 0);

    r = test_redis_cmd(&f->srv, "DEL " ARCHIVE_STREAM, NULL);
    assert_non_null(r);
    freeReplyObject(r);
    run(f, c_one);
    assert_ok(f, 0);
    assert_int_equal(f->xlen_at[0], 1);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"stored\"}") == 1);
}

/* Redis too slow to confirm: 503 (retry soon). The write lands later, so
 * the retry is a duplicate: 200, still one entry. */
static void test_unconfirmed_then_retry(void **state)
{
    struct fx *f = *state;
    struct archive_options o = {.write_timeout_ms = 100};

    NEED_REDIS(state);
    open_all(f, &o, false);
    run(f, c_one_stopped);
    assert_unavailable(f, 0, "archive write not confirmed", "1");
    settle(f, 2000);
    assert_int_equal(ingest_pending(f->in), 0);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"unknown\"}") == 1);
    assert_true(metric(f, "quench_alerts_received_total") == 0);

    run(f, c_one);
    assert_ok(f, 0);
    assert_int_equal(f->xlen_at[0], 1);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"duplicate\"}") == 1);
}

static void c_busy(struct fx *f)
{
    int a, b;

    kill(f->srv.pid, SIGSTOP);
    a = cl_post(f, f->body, f->body_len);
    /* A is now waiting for Redis (nothing answered in 300 ms)... */
    f->early[0] = a >= 0 ? cl_peek(a, 300) : -2;
    /* ...so B (the same bytes; dedup is Redis's business) finds the
     * archive's one slot taken. */
    b = cl_post(f, f->body, f->body_len);
    if (b >= 0) {
        f->outlen[1] = cl_read_response(b, f->out[1], OUTCAP);
        close(b);
    }
    kill(f->srv.pid, SIGCONT);
    if (a >= 0) {
        f->outlen[0] = cl_read_response(a, f->out[0], OUTCAP);
        f->xlen_at[0] = redis_xlen(&f->srv);
        close(a);
    }
}

/* Back-pressure: with max_inflight writes waiting, the next webhook is 503
 * at once; the waiting one still gets its 200. */
static void test_busy(void **state)
{
    struct fx *f = *state;
    struct archive_options o = {.write_timeout_ms = 3000, .max_inflight = 1};

    NEED_REDIS(state);
    open_all(f, &o, false);
    run(f, c_busy);
    assert_true(f->early[0] <= 0);
    assert_unavailable(f, 1, "archive busy", "1");
    assert_ok(f, 0);
    assert_int_equal(f->xlen_at[0], 1);
    assert_stored_once(f, f->body, f->body_len, 0, INT64_MAX);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"busy\"}") == 1);
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"stored\"}") == 1);
}

/* Draining: every new webhook 503 "shutting down", nothing stored. Also
 * ingest without a metrics registry. */
static void test_drain(void **state)
{
    struct fx *f = *state;

    NEED_REDIS(state);
    open_all(f, NULL, true);
    ingest_drain(f->in);
    run(f, c_one);
    assert_unavailable(f, 0, "shutting down", "1");
    assert_int_equal(f->xlen_at[0], 0);
    assert_int_equal(ingest_pending(f->in), 0);
    assert_int_equal(archive_inflight(f->a), 0);
}

static void c_abandoned(struct fx *f)
{
    /* Redis is stopped by the main thread; the answer comes from the
     * server being freed. */
    cl_exchange(f, 0, f->body, f->body_len);
}

/* Server freed, then ingest freed, while a webhook waits for Redis: the
 * client gets the server's 503, ingest's memory goes with the late
 * confirmation (ASan checks both halves). */
static void test_free_while_pending(void **state)
{
    struct fx *f = *state;
    ev_tstamp end;

    NEED_REDIS(state);
    open_all(f, NULL, false);
    kill(f->srv.pid, SIGSTOP);
    f->client = c_abandoned;
    assert_int_equal(pthread_create(&f->th, NULL, client_main, f), 0);
    ev_now_update(f->loop);
    end = ev_now(f->loop) + 5.0;
    while (ingest_pending(f->in) == 0 && ev_now(f->loop) < end)
        test_loop_until(f->loop, NULL, 0, 10);
    assert_int_equal(ingest_pending(f->in), 1);

    http_server_free(f->http);    /* answers 503, runs on_abort */
    f->http = NULL;
    ingest_free(f->in);           /* deferred: one write still waiting */
    f->in = NULL;
    kill(f->srv.pid, SIGCONT);
    end = ev_now(f->loop) + 5.0;
    while (archive_inflight(f->a) > 0 && ev_now(f->loop) < end)
        test_loop_until(f->loop, NULL, 0, 10);
    assert_int_equal(archive_inflight(f->a), 0);
    /* client_main's ev_async_send needs the loop only to be alive. */
    assert_int_equal(pthread_join(f->th, NULL), 0);

    /* The server's own 503 (http.h), not ingest's, with its Retry-After. */
    assert_unavailable(f, 0, "unavailable", "1");
    assert_int_equal(redis_xlen(&f->srv), 1);   /* stored anyway: a retry dedups */
    /* Not counted after ingest_free: the registry may be gone by then. */
    assert_true(metric(f, "quench_archive_writes_total{outcome=\"stored\"}") < 0);
}

/* A registry that already has ingest's families: ingest_new fails cleanly. */
static void test_new_metric_clash(void **state)
{
    struct fx *f = *state;
    struct ingest *in2 = (struct ingest *)&in2;   /* not NULL: must be cleared */
    struct qerr err = {0};

    NEED_REDIS(state);
    open_all(f, NULL, false);
    assert_int_equal(ingest_new(&in2, f->a, f->m, &err), -1);
    assert_null(in2);
    assert_true(err.msg[0] != '\0');
    ingest_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ack_after_store_and_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_down_then_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unconfirmed_then_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_while_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_metric_clash, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    /* Stopping and continuing redis-server (SIGSTOP) sends no SIGCHLD, so
     * the client thread's blocking calls are not interrupted; the client
     * retries on EINTR as well (http_client.h). Default action, not
     * SIG_IGN: test_redis_stop still reaps the child. */
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sa.sa_flags = SA_NOCLDSTOP;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGCHLD, &sa, NULL);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
