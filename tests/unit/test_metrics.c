/* test_metrics.c - the registry's exposition output, byte for byte, its
 * refusals, and (when promtool is installed) Prometheus's own checker. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "limits.h"
#include "metrics.h"

static int setup(void **state)
{
    struct metrics *m = metrics_new();
    if (m == NULL)
        return -1;
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    metrics_free(*state);
    return 0;
}

static void assert_render(const struct metrics *m, const char *want)
{
    size_t len = 0;
    char *got = metrics_render_alloc(m, &len);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(got);
}

static void test_counter(void **state)
{
    struct metrics *m = *state;
    struct qerr err;
    struct metric *plain = metrics_counter(m, "quench_alerts_total",
                                           "Alerts received.", NULL, &err);
    const char *const lab[] = { "route", "code", NULL };
    struct metric *c = metrics_counter(m, "quench_webhooks_total",
                                       "Webhook requests by status.", lab, &err);
    assert_non_null(plain);
    assert_non_null(c);
    /* Labelled family with no series yet: not rendered at all. */
    assert_render(m, "# HELP quench_alerts_total Alerts received.\n"
                     "# TYPE quench_alerts_total counter\n"
                     "quench_alerts_total 0\n");
    assert_int_equal(metrics_counter_add(plain, NULL, 3), 0);
    assert_int_equal(metrics_counter_add(c, (const char *[]){ "/w", "200" }, 1), 0);
    assert_int_equal(metrics_counter_add(c, (const char *[]){ "/w", "503" }, 1), 0);
    assert_int_equal(metrics_counter_add(c, (const char *[]){ "/w", "200" }, 2), 0);
    assert_int_equal(metrics_counter_add(c, (const char *[]){ "/w", "200" }, 0.5), 0);
    assert_render(m, "# HELP quench_alerts_total Alerts received.\n"
                     "# TYPE quench_alerts_total counter\n"
                     "quench_alerts_total 3\n"
                     "# HELP quench_webhooks_total Webhook requests by status.\n"
                     "# TYPE quench_webhooks_total counter\n"
                     "quench_webhooks_total{route=\"/w\",code=\"200\"} 3.5\n"
                     "quench_webhooks_total{route=\"/w\",code=\"503\"} 1\n");
    /* Counters only go up; NaN is refused; nothing changes. */
    assert_int_equal(metrics_counter_add(plain, NULL, -1), -1);
    assert_int_equal(metrics_counter_add(plain, NULL, NAN), -1);
    /* Missing label values are refused, not dereferenced. */
    assert_int_equal(metrics_counter_add(c, NULL, 1), -1);
    assert_int_equal(metrics_counter_add(c, (const char *[]){ "/w", NULL }, 1), -1);
    assert_int_equal(metrics_gauge_set(plain, NULL, 1), -1);
    assert_int_equal(metrics_histogram_observe(plain, NULL, 1), -1);
}

static void test_gauge_and_info(void **state)
{
    struct metrics *m = *state;
    struct qerr err;
    struct metric *g = metrics_gauge(m, "quench_incidents_open",
                                     "Open incidents.", NULL, &err);
    assert_non_null(g);
    assert_int_equal(metrics_gauge_set(g, NULL, 7), 0);
    assert_int_equal(metrics_gauge_add(g, NULL, -2.25), 0);
    assert_int_equal(metrics_info(m, "quench_build_info", "Build information.",
                                  (const char *[]){ "version", NULL },
                                  (const char *[]){ "0.1.0" }, &err),
                     0);
    struct metric *t = metrics_gauge(m, "quench_temp", "Odd values.",
                                     (const char *[]){ "k", NULL }, &err);
    assert_non_null(t);
    metrics_gauge_set(t, (const char *[]){ "inf" }, INFINITY);
    metrics_gauge_set(t, (const char *[]){ "ninf" }, -INFINITY);
    metrics_gauge_set(t, (const char *[]){ "nan" }, NAN);
    metrics_gauge_set(t, (const char *[]){ "tenth" }, 0.1);
    metrics_gauge_set(t, (const char *[]){ "big" }, 1e20);
    metrics_gauge_set(t, (const char *[]){ "small" }, 2.5e-7);
    assert_render(m, "# HELP quench_incidents_open Open incidents.\n"
                     "# TYPE quench_incidents_open gauge\n"
                     "quench_incidents_open 4.75\n"
                     "# HELP quench_build_info Build information.\n"
                     "# TYPE quench_build_info gauge\n"
                     "quench_build_info{version=\"0.1.0\"} 1\n"
                     "# HELP quench_temp Odd values.\n"
                     "# TYPE quench_temp gauge\n"
                     "quench_temp{k=\"inf\"} +Inf\n"
                     "quench_temp{k=\"ninf\"} -Inf\n"
                     "quench_temp{k=\"nan\"} NaN\n"
                     "quench_temp{k=\"tenth\"} 0.1\n"
                     "quench_temp{k=\"big\"} 1e+20\n"
                     "quench_temp{k=\"small\"} 2.5e-07\n");
}

static void test_histogram(void **state)
{
    struct metrics *m = *state;
    struct qerr err;
    const double b[] = { 0.005, 0.1, 1, 2.5 };
    struct metric *h = metrics_histogram(m, "quench_http_request_duration_seconds",
                                         "Request latency.",
                                         (const char *[]){ "route", NULL }, b, 4,
                                         &err);
    assert_non_null(h);
    const char *const w[] = { "/webhook" };
    assert_int_equal(metrics_histogram_observe(h, w, 0.005), 0);  /* on a bound: le */
    assert_int_equal(metrics_histogram_observe(h, w, 0.05), 0);
    assert_int_equal(metrics_histogram_observe(h, w, 0.5), 0);
    assert_int_equal(metrics_histogram_observe(h, w, 7), 0);
    assert_int_equal(metrics_histogram_observe(h, w, NAN), -1);
    struct metric *p = metrics_histogram(m, "quench_batch_alerts", "Alerts per webhook.",
                                         NULL, (const double[]){ 10 }, 1, &err);
    assert_non_null(p);
    assert_render(m,
        "# HELP quench_http_request_duration_seconds Request latency.\n"
        "# TYPE quench_http_request_duration_seconds histogram\n"
        "quench_http_request_duration_seconds_bucket{route=\"/webhook\",le=\"0.005\"} 1\n"
        "quench_http_request_duration_seconds_bucket{route=\"/webhook\",le=\"0.1\"} 2\n"
        "quench_http_request_duration_seconds_bucket{route=\"/webhook\",le=\"1\"} 3\n"
        "quench_http_request_duration_seconds_bucket{route=\"/webhook\",le=\"2.5\"} 3\n"
        "quench_http_request_duration_seconds_bucket{route=\"/webhook\",le=\"+Inf\"} 4\n"
        "quench_http_request_duration_seconds_sum{route=\"/webhook\"} 7.555\n"
        "quench_http_request_duration_seconds_count{route=\"/webhook\"} 4\n"
        "# HELP quench_batch_alerts Alerts per webhook.\n"
        "# TYPE quench_batch_alerts histogram\n"
        "quench_batch_alerts_bucket{le=\"10\"} 0\n"
        "quench_batch_alerts_bucket{le=\"+Inf\"} 0\n"
        "quench_batch_alerts_sum 0\n"
        "quench_batch_alerts_count 0\n");
}

static void test_escaping(void **state)
{
    struct metrics *m = *state;
    struct qerr err;
    struct metric *c = metrics_counter(m, "quench_x_total",
                                       "Back\\slash and\nnewline \"quoted\".",
                                       (const char *[]){ "v", NULL }, &err);
    assert_non_null(c);
    metrics_counter_add(c, (const char *[]){ "a\\b\"c\nd" }, 1);
    metrics_counter_add(c, (const char *[]){ "" }, 1);
    metrics_counter_add(c, (const char *[]){ "\xc3\xa9t\xc3\xa9" }, 1);
    assert_render(m, "# HELP quench_x_total Back\\\\slash and\\nnewline \"quoted\".\n"
                     "# TYPE quench_x_total counter\n"
                     "quench_x_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"
                     "quench_x_total{v=\"\"} 1\n"
                     "quench_x_total{v=\"\xc3\xa9t\xc3\xa9\"} 1\n");
}

static void test_refusals(void **state)
{
    struct metrics *m = *state;
    struct qerr err;
    const double ok[] = { 1, 2 };
    assert_null(metrics_counter(m, "9lives", "", NULL, &err));
    assert_null(metrics_counter(m, "has-dash", "", NULL, &err));
    assert_null(metrics_counter(m, "", "", NULL, &err));
    assert_non_null(metrics_counter(m, "ns:sub_total", "", NULL, &err));
    assert_null(metrics_gauge(m, "ns:sub_total", "", NULL, &err));
    assert_non_null(strstr(err.msg, "twice"));
    assert_null(metrics_counter(m, "a_total", "", (const char *[]){ "a:b", NULL }, &err));
    assert_null(metrics_counter(m, "a_total", "", (const char *[]){ "__x", NULL }, &err));
    assert_null(metrics_counter(m, "a_total", "", (const char *[]){ "x", "x", NULL }, &err));
    assert_null(metrics_histogram(m, "h", "", (const char *[]){ "le", NULL }, ok, 2, &err));
    assert_null(metrics_histogram(m, "h", "", NULL, (const double[]){ 2, 1 }, 2, &err));
    assert_null(metrics_histogram(m, "h", "", NULL, (const double[]){ 1, 1 }, 2, &err));
    assert_null(metrics_histogram(m, "h", "", NULL, (const double[]){ 1, INFINITY }, 2, &err));
    assert_null(metrics_histogram(m, "h", "", NULL, ok, 0, &err));
    double many[QUENCH_MAX_HISTOGRAM_BUCKETS + 1];
    for (size_t i = 0; i < QUENCH_MAX_HISTOGRAM_BUCKETS + 1; i++)
        many[i] = (double)i;
    assert_null(metrics_histogram(m, "h", "", NULL, many, QUENCH_MAX_HISTOGRAM_BUCKETS + 1, &err));
    assert_non_null(metrics_histogram(m, "h", "", NULL, many, QUENCH_MAX_HISTOGRAM_BUCKETS, &err));
    /* A NULL error struct is fine. */
    assert_null(metrics_counter(m, "bad name", "", NULL, NULL));
}

static void test_series_cap(void **state)
{
    struct metrics *m = *state;
    struct metric *c = metrics_counter(m, "quench_c_total", "c",
                                       (const char *[]){ "k", NULL }, NULL);
    assert_non_null(c);
    char v[32];
    for (int i = 0; i < QUENCH_MAX_METRIC_SERIES; i++) {
        snprintf(v, sizeof v, "%d", i);
        assert_int_equal(metrics_counter_add(c, (const char *[]){ v }, 1), 0);
    }
    assert_int_equal(metrics_counter_add(c, (const char *[]){ "one-more" }, 1), -1);
    /* Existing series still update. */
    assert_int_equal(metrics_counter_add(c, (const char *[]){ "0" }, 1), 0);
    char *out = metrics_render_alloc(m, NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "quench_c_total{k=\"0\"} 2\n"));
    assert_null(strstr(out, "one-more"));
    free(out);
}

static void test_render_truncates(void **state)
{
    struct metrics *m = *state;
    assert_non_null(metrics_gauge(m, "g", "h", NULL, NULL));
    const char *full = "# HELP g h\n# TYPE g gauge\ng 0\n";
    char buf[64];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(metrics_render(m, buf, 10), strlen(full));
    assert_memory_equal(buf, full, 9);
    assert_int_equal(buf[9], '\0');
    assert_int_equal(buf[10], 'x');
    assert_int_equal(metrics_render(m, NULL, 0), strlen(full));
    assert_int_equal(metrics_render(m, buf, sizeof buf), strlen(full));
    assert_string_equal(buf, full);
}

static void test_promtool(void **state)
{
    struct metrics *m = *state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        skip();
    struct qerr err;
    const char *const lab[] = { "route", "code", NULL };
    struct metric *c = metrics_counter(m, "quench_http_requests_total",
                                       "HTTP requests by route and \"status\".\nSecond line \\.",
                                       lab, &err);
    metrics_counter_add(c, (const char *[]){ "/webhook/alertmanager", "200" }, 5);
    metrics_counter_add(c, (const char *[]){ "we\"ird\\\nroute", "404" }, 1);
    struct metric *g = metrics_gauge(m, "quench_inflight_writes", "Writes waiting.", NULL, &err);
    metrics_gauge_set(g, NULL, 3);
    metrics_info(m, "quench_build_info", "Build information.",
                 (const char *[]){ "version", NULL }, (const char *[]){ "0.1.0" }, &err);
    struct metric *h = metrics_histogram(m, "quench_http_request_duration_seconds",
                                         "Latency.", (const char *[]){ "route", NULL },
                                         (const double[]){ 0.001, 0.01, 0.1, 1 }, 4, &err);
    metrics_histogram_observe(h, (const char *[]){ "/metrics" }, 0.003);
    metrics_histogram_observe(h, (const char *[]){ "/metrics" }, 2);
    size_t len;
    char *text = metrics_render_alloc(m, &len);
    assert_non_null(text);

    char path[] = "/tmp/quench-promtool-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    free(text);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int st = system(cmd);
    unlink(path);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The checker must be able to fail: a broken exposition is refused. */
static void test_promtool_rejects(void **state)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        skip();
    int st = system("printf 'x{a=\"b} 1\\n' | promtool check metrics >/dev/null 2>&1");
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauge_and_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_truncates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promtool, setup, teardown),
        cmocka_unit_test(test_promtool_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
