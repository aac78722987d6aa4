/* test_api.c - the incidents API through real HTTP: an engine fed with
 * webhook bodies, api_routes on an http server bound to 127.0.0.1 port 0
 * inside the test's own ev loop, and a client thread sending raw HTTP/1.1.
 * The client never asserts (cmocka is not thread-safe): it records each
 * raw response, and the main thread checks them after joining it. The
 * API's clock is a variable the main thread sets between client runs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <jansson.h>

#include "api.h"
#include "http_client.h"
#include "spec_webhook.h"
#include "engine.h"
#include "http.h"

#define NREQ 8
#define REQCAP 1024
#define OUTCAP 32768

#define T0 1647736800000LL   /* 2022-03-20T00:40:00Z */
/* Resolved at T0 + 1 min, closed resolve_quiet (5 min) later. */
#define CLOSES (T0 + 60000 + 300000)
#define TTL 3600000LL

static const char graph[] =
    "services:\n"
    "  frontend: {calls: [checkout]}\n"
    "  checkout: {calls: [payment]}\n"
    "  payment:\n"
    "  search: {calls: [index]}\n"
    "  index:\n";

/* What api_options.clock_ms reads; only the main thread touches it (the
 * handlers run in the loop, on the main thread). */
static int64_t now_ms;

static int64_t fake_clock(void)
{
    return now_ms;
}

struct fx {
    struct topology *t;
    struct rules *r;
    struct engine *e;
    struct api *api;
    struct http_route routes[API_NROUTES];
    struct ev_loop *loop;
    struct http_server *srv;
    unsigned port;
    ev_async done;
    ev_timer watchdog;
    bool timed_out;
    pthread_t th;
    /* client side: requests in, raw responses out (-1: none) */
    int nreq;
    char req[NREQ][REQCAP];
    char out[NREQ][OUTCAP];
    ssize_t outlen[NREQ];
};

/* ---- client side (runs in the thread; http_client.h) ------------------ */

static int cl_connect(const struct fx *f)
{
    return cl_connect_to(AF_INET, f->port);
}

static void *client_main(void *arg)
{
    struct fx *f = arg;

    for (int i = 0; i < f->nreq; i++) {
        int fd = cl_connect(f);
        const char *p = f->req[i];
        size_t n = strlen(p);

        f->outlen[i] = -1;
        if (fd < 0)
            continue;
        cl_send(fd, p, n);
        f->outlen[i] = cl_read_response(fd, f->out[i], OUTCAP);
        close(fd);
    }
    ev_async_send(f->loop, &f->done);
    return NULL;
}

/* ---- fixture ----------------------------------------------------------- */

static void on_done(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct fx *f = w->data;

    (void)revents;
    f->timed_out = true;
    ev_break(loop, EVBREAK_ALL);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct qerr err;

    if (f == NULL)
        return -1;
    *state = f;
    if (topology_load_buf(&f->t, graph, strlen(graph), "g", NULL, &err) != 0 ||
        rules_load_buf(&f->r, "topology_hops: 1\n", 17, "c", &err) != 0 ||
        engine_new(&f->e, f->t, f->r) != 0)
        return -1;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    if (f->loop == NULL)
        return -1;
    ev_async_init(&f->done, on_done);
    ev_async_start(f->loop, &f->done);
    ev_timer_init(&f->watchdog, on_watchdog, 20., 0.);
    f->watchdog.data = f;
    ev_timer_start(f->loop, &f->watchdog);
    now_ms = T0;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    /* The server first: its routes point into the API, the API into E. */
    http_server_free(f->srv);
    api_free(f->api);
    engine_free(f->e);
    rules_free(f->r);
    topology_free(f->t);
    if (f->loop != NULL) {
        ev_timer_stop(f->loop, &f->watchdog);
        ev_async_stop(f->loop, &f->done);
        ev_loop_destroy(f->loop);
    }
    free(f);
    return 0;
}

/* The API over f->e with O (correlator NULL), served on port 0. */
static void serve(struct fx *f, const struct api_options *o)
{
    struct http_options ho = { .listen = "127.0.0.1:0", .idle_timeout_s = 5 };
    struct qerr err = { 0 };

    assert_int_equal(api_new(&f->api, f->e, NULL, o, &err), 0);
    assert_int_equal(api_routes(f->api, f->routes, API_NROUTES), API_NROUTES);
    if (http_server_new(&f->srv, f->loop, &ho, f->routes, API_NROUTES, &err) != 0)
        fail_msg("http_server_new: %s", err.msg);
    f->port = http_server_port(f->srv);
    assert_true(f->port > 0);
}

static void serve_ttl(struct fx *f)
{
    struct api_options o = { .closed_ttl_ms = TTL, .clock_ms = fake_clock };

    serve(f, &o);
}

/* Queue a GET of PATH with the extra header lines EXTRA ("" for none). */
static void req_get(struct fx *f, const char *path, const char *extra)
{
    assert_true(f->nreq < NREQ);
    snprintf(f->req[f->nreq++], REQCAP, "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path,
             extra);
}

/* Send the queued requests from a client thread while the loop serves. */
static void run(struct fx *f)
{
    memset(f->out, 0, sizeof f->out);
    assert_int_equal(pthread_create(&f->th, NULL, client_main, f), 0);
    ev_run(f->loop, 0);
    assert_int_equal(pthread_join(f->th, NULL), 0);
    assert_false(f->timed_out);
}

/* Response I: its status, a JSON Content-Type, and its body parsed (new
 * reference; fails the test if it is not JSON). */
static json_t *response(const struct fx *f, int i, int status)
{
    const char *body;
    json_error_t jerr;
    json_t *v;

    if (f->outlen[i] <= 0)
        fail_msg("response %d: none", i);
    if (strncmp(f->out[i], "HTTP/1.1 ", 9) != 0 || atoi(f->out[i] + 9) != status)
        fail_msg("response %d: want %d, got:\n%s", i, status, f->out[i]);
    if (ci_find(f->out[i], "\r\nContent-Type: application/json\r\n") == NULL)
        fail_msg("response %d: not application/json:\n%s", i, f->out[i]);
    body = strstr(f->out[i], "\r\n\r\n") + 4;
    v = json_loads(body, 0, &jerr);
    if (v == NULL)
        fail_msg("response %d: bad JSON (%s):\n%s", i, jerr.text, body);
    return v;
}

/* The raw body of response I (borrowed). */
static const char *body_of(const struct fx *f, int i)
{
    const char *p = strstr(f->out[i], "\r\n\r\n");

    assert_non_null(p);
    return p + 4;
}

/* Response I is a 404 {"error":"not_found","detail":"no incident ECHO"}. */
static void assert_not_found(const struct fx *f, int i, const char *echo)
{
    json_t *v = response(f, i, 404), *want;
    char detail[256];

    snprintf(detail, sizeof detail, "no incident %s", echo);
    want = json_pack("{s:s, s:s}", "error", "not_found", "detail", detail);
    assert_non_null(want);
    if (!json_equal(v, want))
        fail_msg("response %d: want 404 body detail '%s', got %s", i, detail,
                 body_of(f, i));
    json_decref(want);
    json_decref(v);
}

/* The "incidents" array of list response I, checked to be exactly that
 * object. New reference to the whole body in *root. */
static json_t *incidents(const struct fx *f, int i, json_t **root)
{
    json_t *arr;

    *root = response(f, i, 200);
    assert_true(json_is_object(*root));
    assert_int_equal(json_object_size(*root), 1);
    arr = json_object_get(*root, "incidents");
    assert_true(json_is_array(arr));
    return arr;
}

static const char *id_of(const json_t *inc)
{
    const char *id = json_string_value(json_object_get(inc, "id"));

    assert_non_null(id);
    return id;
}

/* ---- engine input ------------------------------------------------------ */

/* Ids of the live incidents in engine_list order into IDS; the count. */
static size_t live_ids(struct engine *e, char ids[][CORRELATE_ID_SIZE], size_t cap)
{
    uint32_t *slots = NULL;
    size_t n = 0;

    assert_int_equal(engine_list(e, &slots, &n), 0);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        struct correlate_incident ci;

        assert_int_equal(correlate_incident(engine_correlate(e), slots[i], &ci), 0);
        snprintf(ids[i], CORRELATE_ID_SIZE, "%s", ci.id);
    }
    free(slots);
    return n;
}

/* payment (T0 + 1 s), then search/index (T0 + 4 s): two incidents, in
 * that order. */
static void two_incidents(struct fx *f, char ids[2][CORRELATE_ID_SIZE])
{
    spec_ingest(f->e, "g1", "CpuHigh:payment:firing:2022-03-20T00_40_00Z", T0 + 1000);
    spec_ingest(f->e, "g4", "DiskFull:index:firing:2022-03-20T00_40_30Z "
                       "LatencyHigh:search:firing:2022-03-20T00_40_31Z", T0 + 4000);
    assert_int_equal(live_ids(f->e, ids, 2), 2);
    assert_string_not_equal(ids[0], ids[1]);
}

/* ---- tests ------------------------------------------------------------- */

/* No incident yet: an empty list, not a 404 or null. */
static void test_list_empty(void **state)
{
    struct fx *f = *state;
    json_t *root;

    serve_ttl(f);
    req_get(f, API_INCIDENTS_PATH, "");
    run(f);
    assert_int_equal(json_array_size(incidents(f, 0, &root)), 0);
    assert_string_equal(body_of(f, 0), "{\"incidents\":[]}");
    json_decref(root);
}

/* The open incidents, in opened_at order, each as engine_incident_json. */
static void test_list_open(void **state)
{
    struct fx *f = *state;
    char ids[2][CORRELATE_ID_SIZE];
    json_t *root, *arr;

    two_incidents(f, ids);
    serve_ttl(f);
    now_ms = T0 + 5000;
    req_get(f, API_INCIDENTS_PATH, "");
    run(f);
    arr = incidents(f, 0, &root);
    assert_int_equal(json_array_size(arr), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *inc = json_array_get(arr, i), *want;
        char *got_text, *want_text;

        assert_string_equal(id_of(inc), ids[i]);
        assert_true(json_is_null(json_object_get(inc, "closed_at")));
        /* As text: reals went through the report's 6-digit precision. */
        want = engine_incident_json(f->e, (uint32_t)engine_find(f->e, ids[i]));
        assert_non_null(want);
        want_text = json_dumps(want, JSON_COMPACT | JSON_REAL_PRECISION(6));
        got_text = json_dumps(inc, JSON_COMPACT | JSON_REAL_PRECISION(6));
        assert_non_null(want_text);
        assert_non_null(got_text);
        assert_string_equal(got_text, want_text);
        free(want_text);
        free(got_text);
        json_decref(want);
    }
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1),
                                                        "alert_count")), 2);
    json_decref(root);
}

/* One incident per id: the same object as its list entry, byte for byte;
 * unknown ids 404; a long id echoed cut at 64 bytes. */
static void test_by_id(void **state)
{
    struct fx *f = *state;
    char ids[2][CORRELATE_ID_SIZE], path[512], longid[201], echo[65];
    json_t *root, *arr;

    two_incidents(f, ids);
    serve_ttl(f);
    now_ms = T0 + 5000;
    req_get(f, API_INCIDENTS_PATH, "");
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, API_INCIDENTS_PATH "/%s", ids[i]);
        req_get(f, path, "");
    }
    req_get(f, API_INCIDENTS_PATH "/inc-0000000000000000", "");
    memset(longid, 'x', 200);
    longid[200] = '\0';
    for (int i = 0; i < 200; i += 10)
        longid[i] = (char)('a' + i / 10);   /* where the cut falls shows */
    snprintf(path, sizeof path, API_INCIDENTS_PATH "/%s", longid);
    req_get(f, path, "");
    req_get(f, API_INCIDENTS_PATH "/", "");
    run(f);

    arr = incidents(f, 0, &root);
    assert_int_equal(json_array_size(arr), 2);
    for (int i = 0; i < 2; i++) {
        json_t *one = response(f, 1 + i, 200);
        char *entry = json_dumps(json_array_get(arr, (size_t)i),
                                 JSON_COMPACT | JSON_REAL_PRECISION(6));

        assert_string_equal(id_of(one), ids[i]);
        assert_true(json_equal(one, json_array_get(arr, (size_t)i)));
        /* The same text, too: the list is the objects side by side. */
        assert_non_null(entry);
        assert_string_equal(body_of(f, 1 + i), entry);
        assert_non_null(strstr(body_of(f, 0), entry));
        free(entry);
        json_decref(one);
    }
    json_decref(root);
    assert_not_found(f, 3, "inc-0000000000000000");
    memcpy(echo, longid, 64);
    echo[64] = '\0';
    assert_not_found(f, 4, echo);
    assert_not_found(f, 5, "");
}

/* A cut that would fall inside a UTF-8 sequence must not leave half of it:
 * the 404 body stays valid JSON (jansson rejects invalid UTF-8). */
static void test_echo_utf8(void **state)
{
    struct fx *f = *state;
    char id[128], path[512];

    serve_ttl(f);
    memset(id, 'y', 63);
    id[63] = '\0';
    /* 63 bytes, then U+00E9 (2 bytes) straddles the 64-byte cut. */
    snprintf(path, sizeof path, API_INCIDENTS_PATH "/%s%%C3%%A9tail", id);
    req_get(f, path, "");
    run(f);
    assert_not_found(f, 0, id);
}

/* Bytes that are not UTF-8 in an echoed id become U+FFFD, so the 404 is
 * still JSON; well-formed characters pass through. */
static void test_echo_invalid_utf8(void **state)
{
    struct fx *f = *state;

    serve_ttl(f);
    /* a lone 0xFF, an overlong '/', a UTF-16 surrogate, a truncated
     * sequence, then a good U+00E9 */
    req_get(f, API_INCIDENTS_PATH "/a%FFb%C0%AFc%ED%A0%80d%E2%82e%C3%A9", "");
    run(f);
    assert_not_found(f, 0, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"
                           "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                           "d\xef\xbf\xbd\xef\xbf\xbd" "e\xc3\xa9");
}

/* A closed incident is listed (closed_at set) and served by id through
 * closed_at + closed_ttl_ms, and neither a millisecond later. */
static void test_closed_ttl(void **state)
{
    struct fx *f = *state;
    char ids[2][CORRELATE_ID_SIZE], path[2][128];
    json_t *root, *arr, *one;

    two_incidents(f, ids);
    spec_ingest(f->e, "g1", "CpuHigh:payment:resolved:2022-03-20T00_40_00Z", T0 + 60000);
    assert_int_equal(engine_tick(f->e, CLOSES - 1), 0);
    assert_int_equal(engine_tick(f->e, CLOSES), 1);
    serve_ttl(f);
    for (int i = 0; i < 2; i++)
        snprintf(path[i], sizeof path[i], API_INCIDENTS_PATH "/%s", ids[i]);

    /* At the edge of the window: still there. */
    now_ms = CLOSES + TTL;
    req_get(f, API_INCIDENTS_PATH, "");
    req_get(f, path[0], "");
    run(f);
    arr = incidents(f, 0, &root);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(id_of(json_array_get(arr, 0)), ids[0]);
    assert_string_equal(id_of(json_array_get(arr, 1)), ids[1]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0),
                                                          "closed_at")),
                        "2022-03-20T00:46:00Z");
    assert_true(json_is_null(json_object_get(json_array_get(arr, 1), "closed_at")));
    one = response(f, 1, 200);
    assert_string_equal(id_of(one), ids[0]);
    assert_true(json_equal(one, json_array_get(arr, 0)));
    json_decref(one);
    json_decref(root);

    /* Past it: gone from the list and by id; the open one stays. */
    now_ms = CLOSES + TTL + 1;
    f->nreq = 0;
    req_get(f, API_INCIDENTS_PATH, "");
    req_get(f, path[0], "");
    req_get(f, path[1], "");
    run(f);
    arr = incidents(f, 0, &root);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(id_of(json_array_get(arr, 0)), ids[1]);
    json_decref(root);
    assert_not_found(f, 1, ids[0]);
    one = response(f, 2, 200);
    assert_string_equal(id_of(one), ids[1]);
    json_decref(one);
    /* Only the view hides it: the engine still holds it (no prune). */
    assert_true(engine_find(f->e, ids[0]) >= 0);
}

/* closed_ttl_ms 0 means the correlator's retention, a week. */
static void test_default_ttl(void **state)
{
    struct fx *f = *state;
    char ids[2][CORRELATE_ID_SIZE];
    struct api_options o = { .clock_ms = fake_clock };
    json_t *root;

    two_incidents(f, ids);
    spec_ingest(f->e, "g1", "CpuHigh:payment:resolved:2022-03-20T00_40_00Z", T0 + 60000);
    assert_int_equal(engine_tick(f->e, CLOSES), 1);
    serve(f, &o);
    now_ms = CLOSES + CORRELATOR_CLOSED_TTL_MS;
    req_get(f, API_INCIDENTS_PATH, "");
    run(f);
    assert_int_equal(json_array_size(incidents(f, 0, &root)), 2);
    json_decref(root);

    now_ms = CLOSES + CORRELATOR_CLOSED_TTL_MS + 1;
    run(f);
    assert_int_equal(json_array_size(incidents(f, 0, &root)), 1);
    json_decref(root);
}

/* checkout links payment's incident and frontend's: frontend's merges
 * into the older one, and its id then serves the survivor (engine_find,
 * no correlator). */
static void test_merged_id(void **state)
{
    struct fx *f = *state;
    char ids[2][CORRELATE_ID_SIZE], survivor[1][CORRELATE_ID_SIZE], path[2][128];
    json_t *root, *arr, *a, *b;

    spec_ingest(f->e, "g1", "CpuHigh:payment:firing:2022-03-20T00_40_00Z", T0 + 1000);
    spec_ingest(f->e, "g2", "ErrorsHigh:frontend:firing:2022-03-20T00_40_10Z", T0 + 2000);
    assert_int_equal(live_ids(f->e, ids, 2), 2);
    spec_ingest(f->e, "g3", "LatencyHigh:checkout:firing:2022-03-20T00_40_20Z", T0 + 3000);
    assert_int_equal(live_ids(f->e, survivor, 1), 1);
    assert_string_equal(survivor[0], ids[0]);
    serve_ttl(f);
    now_ms = T0 + 5000;
    for (int i = 0; i < 2; i++) {
        snprintf(path[i], sizeof path[i], API_INCIDENTS_PATH "/%s", ids[i]);
        req_get(f, path[i], "");
    }
    req_get(f, API_INCIDENTS_PATH, "");
    run(f);
    a = response(f, 0, 200);
    b = response(f, 1, 200);
    assert_string_equal(id_of(b), ids[0]);
    assert_int_equal(json_integer_value(json_object_get(b, "alert_count")), 3);
    assert_true(json_equal(a, b));
    assert_string_equal(body_of(f, 0), body_of(f, 1));
    /* The merged-away incident is not listed on its own. */
    arr = incidents(f, 2, &root);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(id_of(json_array_get(arr, 0)), ids[0]);
    json_decref(root);
    json_decref(a);
    json_decref(b);
}

/* With a token both routes want it; it is copied at api_new. */
static void test_bearer(void **state)
{
    struct fx *f = *state;
    char ids[2][CORRELATE_ID_SIZE], token[16], path[128];
    struct api_options o = { .closed_ttl_ms = TTL, .clock_ms = fake_clock };
    json_t *v, *root;

    two_incidents(f, ids);
    snprintf(token, sizeof token, "s3cret");
    o.bearer_token = token;
    serve(f, &o);
    memset(token, 'z', sizeof token - 1);   /* the API holds its own copy */
    now_ms = T0 + 5000;
    snprintf(path, sizeof path, API_INCIDENTS_PATH "/%s", ids[0]);
    req_get(f, API_INCIDENTS_PATH, "");
    req_get(f, API_INCIDENTS_PATH, "Authorization: Bearer s3creT\r\n");
    req_get(f, path, "");
    req_get(f, path, "Authorization: Bearer zzzzzzzzzzzzzzz\r\n");
    req_get(f, API_INCIDENTS_PATH, "Authorization: Bearer s3cret\r\n");
    req_get(f, path, "Authorization: Bearer s3cret\r\n");
    run(f);
    for (int i = 0; i < 4; i++) {
        v = response(f, i, 401);
        assert_string_equal(json_string_value(json_object_get(v, "error")),
                            "unauthorized");
        assert_null(json_object_get(v, "incidents"));
        assert_null(json_object_get(v, "id"));
        json_decref(v);
    }
    assert_int_equal(json_array_size(incidents(f, 4, &root)), 2);
    json_decref(root);
    v = response(f, 5, 200);
    assert_string_equal(id_of(v), ids[0]);
    json_decref(v);
}

/* Without a token no Authorization is needed (and one is ignored). */
static void test_no_auth(void **state)
{
    struct fx *f = *state;
    char ids[2][CORRELATE_ID_SIZE];
    json_t *root;

    two_incidents(f, ids);
    serve_ttl(f);
    now_ms = T0 + 5000;
    req_get(f, API_INCIDENTS_PATH, "Authorization: Bearer anything\r\n");
    run(f);
    assert_int_equal(json_array_size(incidents(f, 0, &root)), 2);
    json_decref(root);
}

static void test_routes_cap(void **state)
{
    struct fx *f = *state;
    struct http_route r[API_NROUTES];
    struct qerr err;

    assert_int_equal(api_new(&f->api, f->e, NULL, NULL, &err), 0);
    assert_int_equal(api_routes(f->api, r, API_NROUTES - 1), -1);
    assert_int_equal(api_routes(f->api, r, API_NROUTES), API_NROUTES);
    assert_string_equal(r[0].path, API_INCIDENTS_PATH);
    assert_null(r[0].auth);
    api_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_by_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merged_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bearer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_cap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
