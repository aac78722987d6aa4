/* test_alert.c - the alert model: fingerprints (PROTOCOLS.md 1.3 vectors and
 * every fixture alert), RFC 3339 times, the intern pool, label arrays,
 * entity kinds, and the memory budget per alert. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alert.h"

static int setup_pool(void **state)
{
    struct intern *p;

    if (intern_new(&p) != 0)
        return -1;
    *state = p;
    return 0;
}

static int teardown_pool(void **state)
{
    intern_free(*state);
    return 0;
}

/* Interned, sorted label array from "name=value" strings. */
static struct label *mk_labels(struct intern *p, size_t n, const char *const *kv)
{
    struct label *l = calloc(n ? n : 1, sizeof *l);

    assert_non_null(l);
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        assert_non_null(eq);
        l[i].name = intern_str(p, kv[i], (size_t)(eq - kv[i]));
        l[i].value = intern_str(p, eq + 1, strlen(eq + 1));
        assert_non_null(l[i].name);
        assert_non_null(l[i].value);
    }
    alert_labels_sort(l, n);
    return l;
}

static void expect_fp(struct intern *p, size_t n, const char *const *kv, const char *hex)
{
    struct label *l = mk_labels(p, n, kv);
    char out[17];

    alert_fingerprint_format(alert_fingerprint(l, n), out);
    assert_string_equal(out, hex);
    free(l);
}

/* ---- fingerprints ------------------------------------------------------ */

static void test_fingerprint_vectors(void **state)
{
    struct intern *p = *state;
    /* Deliberately unsorted: alert_labels_sort must order them. */
    const char *checkout[] = {"severity=warning", "service=checkout", "alertname=CheckoutLatencyHigh",
                              "namespace=shop"};
    const char *cart[] = {"pod=cart-0", "alertname=PodMemoryHigh", "severity=critical",
                          "namespace=shop", "service=cart"};
    const char *with_empty[] = {"b=x", "a="};
    const char *without[] = {"b=x"};

    expect_fp(p, 4, checkout, "c91c1b132f50a137");
    expect_fp(p, 5, cart, "9a4b4c97d48336b2");
    expect_fp(p, 0, NULL, "cbf29ce484222325");
    /* An empty value is skipped, as Alertmanager drops it. */
    expect_fp(p, 2, with_empty, "019d71999ffa1e47");
    expect_fp(p, 1, without, "019d71999ffa1e47");
}

static const char *source_dir(void)
{
    const char *d = getenv("QUENCH_SOURCE_DIR");
    return d && *d ? d : ".";
}

static void test_fingerprint_fixtures(void **state)
{
    struct intern *p = *state;
    char dir[1024], path[2048];
    DIR *dh;
    struct dirent *de;
    int checked = 0;

    snprintf(dir, sizeof dir, "%s/tests/data/alertmanager", source_dir());
    dh = opendir(dir);
    assert_non_null(dh);
    while ((de = readdir(dh)) != NULL) {
        json_error_t jerr;
        json_t *root, *alerts, *a;
        size_t i;

        if (strstr(de->d_name, ".json") == NULL)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        root = json_load_file(path, 0, &jerr);
        assert_non_null(root);
        alerts = json_object_get(root, "alerts");
        json_array_foreach(alerts, i, a) {
            json_t *labels = json_object_get(a, "labels"), *v;
            const char *k;
            size_t n = json_object_size(labels), j = 0;
            struct label *l = calloc(n ? n : 1, sizeof *l);
            char out[17];

            assert_non_null(l);
            json_object_foreach(labels, k, v) {
                l[j].name = intern_str(p, k, strlen(k));
                l[j].value = intern_str(p, json_string_value(v), json_string_length(v));
                j++;
            }
            alert_labels_sort(l, n);
            alert_fingerprint_format(alert_fingerprint(l, n), out);
            assert_string_equal(out, json_string_value(json_object_get(a, "fingerprint")));
            free(l);
            checked++;
        }
        json_decref(root);
    }
    closedir(dh);
    assert_int_equal(checked, 4);   /* 2 + 1 + 1 alerts in the three fixtures */
}

static void test_fingerprint_format_parse(void **state)
{
    uint64_t v = 0;
    char out[17];

    (void)state;
    alert_fingerprint_format(0xc91c1b132f50a137ULL, out);
    assert_string_equal(out, "c91c1b132f50a137");
    alert_fingerprint_format(0x1ULL, out);
    assert_string_equal(out, "0000000000000001");
    assert_int_equal(alert_fingerprint_parse("c91c1b132f50a137", &v), 0);
    assert_true(v == 0xc91c1b132f50a137ULL);
    assert_int_equal(alert_fingerprint_parse("C91C1B132F50A137", &v), 0);
    assert_true(v == 0xc91c1b132f50a137ULL);
    assert_int_equal(alert_fingerprint_parse("ffffffffffffffff", &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(alert_fingerprint_parse("c91c1b132f50a13", &v), -1);
    assert_int_equal(alert_fingerprint_parse("c91c1b132f50a1370", &v), -1);
    assert_int_equal(alert_fingerprint_parse("c91c1b132f50a13g", &v), -1);
    assert_int_equal(alert_fingerprint_parse("0x1c1b132f50a137", &v), -1);
    assert_int_equal(alert_fingerprint_parse(" 91c1b132f50a137", &v), -1);
    assert_int_equal(alert_fingerprint_parse("", &v), -1);
}

/* ---- times ------------------------------------------------------------- */

static void test_time_parse_valid(void **state)
{
    static const struct { const char *s; int64_t ms; } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.999Z", -1},
        {"2026-11-21T23:03:31Z", 1795302211000},                 /* 0 fraction digits */
        {"2026-11-21T23:03:28.871819715Z", 1795302208871},       /* 9, truncated */
        {"2026-11-21T23:03:28.8Z", 1795302208800},
        {"2026-11-21T23:03:28.87Z", 1795302208870},
        {"2026-11-21T23:03:28.999999999Z", 1795302208999},
        {"2026-11-22T00:03:31+01:00", 1795302211000},
        {"2026-11-21T22:33:31-00:30", 1795302211000},
        {"2026-11-21T23:03:31+00:00", 1795302211000},
        {"2026-11-21T23:03:31-00:00", 1795302211000},
        {"2026-11-22T22:02:31+22:59", 1795302211000},
        {"2026-11-21t23:03:31z", 1795302211000},
        {"2024-02-29T12:00:00Z", 1709208000000},                 /* leap day */
        {"2000-02-29T00:00:00Z", 951782400000},                  /* 400-year leap */
        {"0001-01-01T00:00:00.001Z", -62135596799999},
        {"0001-01-01T00:00:01Z", -62135596799000},
        {"9999-12-31T23:59:59.999Z", 253402300799999},
        {"9999-12-31T23:59:59.999999999Z", 253402300799999},
        {"0000-01-01T00:00:00Z", -62167219200000},
        {"0000-01-01T00:30:00+00:30", -62167219200000},
        {"9999-12-31T23:59:59+00:00", 253402300799000},
        {"0001-01-01T00:00:00Z", ALERT_NO_END},                  /* Go's zero time */
        {"0001-01-01T00:00:00.000000000Z", ALERT_NO_END},
        {"0001-01-01T01:30:00+01:30", ALERT_NO_END},             /* same instant */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 42;
        if (alert_time_parse(cases[i].s, strlen(cases[i].s), &ms) != 0)
            fail_msg("rejected %s", cases[i].s);
        if (ms != cases[i].ms)
            fail_msg("%s: got %" PRId64 ", want %" PRId64, cases[i].s, ms, cases[i].ms);
    }
}

static void test_time_parse_invalid(void **state)
{
    static const char *const bad[] = {
        "", "yesterday", "2026", "2026-11-21", "2026-11-21T23:03",
        "2026-11-21T23:03:31",               /* no zone */
        "2026-11-21 23:03:31Z",              /* space for T */
        "2026-11-21T23:03:31.Z",             /* '.' without digits */
        "2026-11-21T23:03:31.1234567890Z",   /* 10 fraction digits */
        "2026-11-21T23:03:31,5Z",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z",
        "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+01:60",
        "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00+01", "2026-01-01T00:00:00+1:00",
        "2026-01-01T00:00:00+01:00x", "2026-01-01T00:00:00ZZ", "2026-01-01T00:00:00Z ",
        " 2026-01-01T00:00:00Z", "2026-1-01T00:00:00Z", "+2026-01-01T00:00:00Z",
        "-026-01-01T00:00:00Z", "2026-01-01T00:00:00UTC", "2026/01/01T00:00:00Z",
        "2026-01-01T0a:00:00Z", "2026-01-01T00:00:00.12a4Z",
        /* Instants outside years 0..9999 once the offset is applied. */
        "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        if (alert_time_parse(bad[i], strlen(bad[i]), &ms) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_time_parse_len(void **state)
{
    const char *s = "2026-11-21T23:03:31Zjunk";
    int64_t ms = 0;

    (void)state;
    /* LEN bounds the input: S need not be NUL-terminated at the end. */
    assert_int_equal(alert_time_parse(s, 20, &ms), 0);
    assert_true(ms == 1795302211000);
    assert_int_equal(alert_time_parse(s, 19, &ms), -1);
    assert_int_equal(alert_time_parse(s, 21, &ms), -1);
    assert_int_equal(alert_time_parse(s, 0, &ms), -1);
}

static void test_time_format(void **state)
{
    static const struct { int64_t ms; const char *s; } cases[] = {
        {0, "1970-01-01T00:00:00Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {1795302208871, "2026-11-21T23:03:28.871Z"},
        {1795302211000, "2026-11-21T23:03:31Z"},
        {1709208000000, "2024-02-29T12:00:00Z"},
        {253402300799999, "9999-12-31T23:59:59.999Z"},
        {-62135596799999, "0001-01-01T00:00:00.001Z"},
        {ALERT_NO_END, "0001-01-01T00:00:00Z"},
    };
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = alert_time_format(cases[i].ms, buf, sizeof buf);
        assert_string_equal(buf, cases[i].s);
        assert_int_equal(n, (int)strlen(cases[i].s));
    }
    /* Truncated into a small buffer, still NUL-terminated. */
    assert_int_equal(alert_time_format(0, buf, 5), 20);
    assert_string_equal(buf, "1970");
}

/* format then parse is the identity over the whole range Go and we accept,
 * stepping by a prime so every month, leap day and ms digit gets hit. */
static void test_time_roundtrip(void **state)
{
    const int64_t lo = -62167219200000, hi = 253402300799999, step = 86399997ULL * 7 + 13;
    char buf[64];
    int64_t back;

    (void)state;
    for (int64_t ms = lo; ms <= hi; ms += step) {
        int n = alert_time_format(ms, buf, sizeof buf);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        if (alert_time_parse(buf, (size_t)n, &back) != 0 || back != ms)
            fail_msg("%" PRId64 " -> %s -> %" PRId64, ms, buf, back);
    }
}

/* ---- intern pool ------------------------------------------------------- */

static void test_intern_identity(void **state)
{
    struct intern *p = *state;
    const char *a = intern_str(p, "checkout", 8);
    const char *b = intern_str(p, "checkout-and-more", 8);   /* not NUL-terminated at 8 */
    const char *c = intern_str(p, "cart", 4);
    const char *e1 = intern_str(p, "", 0);
    const char *e2 = intern_str(p, "xyz", 0);

    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_string_equal(a, "checkout");
    assert_ptr_not_equal(a, c);
    assert_string_equal(c, "cart");
    assert_non_null(e1);
    assert_ptr_equal(e1, e2);
    assert_string_equal(e1, "");
    /* A prefix is a different string. */
    assert_ptr_not_equal(intern_str(p, "check", 5), a);
}

static void test_intern_growth(void **state)
{
    struct intern *p = *state;
    enum { N = 100000 };
    const char **ptrs = calloc(N, sizeof *ptrs);
    char buf[32];
    size_t before = intern_bytes(p);

    assert_non_null(ptrs);
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "pod-%d", i);
        ptrs[i] = intern_str(p, buf, (size_t)n);
        assert_non_null(ptrs[i]);
    }
    /* Table growth moved slots, never strings: every pointer still holds
     * its string and is still what the pool returns. */
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "pod-%d", i);
        assert_string_equal(ptrs[i], buf);
        assert_ptr_equal(intern_str(p, buf, (size_t)n), ptrs[i]);
    }
    assert_true(intern_bytes(p) > before + (size_t)N * 6);
    free(ptrs);
}

static void test_intern_big(void **state)
{
    struct intern *p = *state;
    size_t n = 100 * 1024;
    char *big = malloc(n);
    const char *a, *b, *small;

    assert_non_null(big);
    memset(big, 'x', n);
    small = intern_str(p, "before", 6);
    a = intern_str(p, big, n);
    assert_non_null(a);
    assert_int_equal(strlen(a), n);
    big[n - 1] = 'y';
    b = intern_str(p, big, n);
    assert_ptr_not_equal(a, b);
    assert_int_equal(b[n - 1], 'y');
    big[n - 1] = 'x';
    assert_ptr_equal(intern_str(p, big, n), a);
    /* A big string has its own chunk; small ones keep filling the shared one. */
    assert_ptr_equal(intern_str(p, "before", 6), small);
    assert_true(intern_bytes(p) >= 2 * n);
    free(big);
}

/* ---- alerts ------------------------------------------------------------ */

static void test_label_lookup_and_sort(void **state)
{
    struct intern *p = *state;
    const char *kv[] = {"severity=critical", "alertname=PodMemoryHigh", "pod=cart-0",
                        "namespace=shop", "service=cart", "_z=1", "Zz=2", "\xc3\xa9t\xc3\xa9=3"};
    struct alert a = {0};

    a.labels = mk_labels(p, 8, kv);
    a.nlabels = 8;
    /* Bytewise order, as Go sorts: 'Z' < '_' < 'a' < 0xC3. */
    assert_string_equal(a.labels[0].name, "Zz");
    assert_string_equal(a.labels[1].name, "_z");
    assert_string_equal(a.labels[2].name, "alertname");
    assert_string_equal(a.labels[7].name, "\xc3\xa9t\xc3\xa9");
    for (size_t i = 0; i < 8; i++) {
        const char *eq = strchr(kv[i], '=');
        char name[32];
        memcpy(name, kv[i], (size_t)(eq - kv[i]));
        name[eq - kv[i]] = '\0';
        assert_string_equal(alert_label(&a, name), eq + 1);
    }
    assert_null(alert_label(&a, "node"));
    assert_null(alert_label(&a, ""));
    assert_null(alert_label(&a, "zzz"));
    assert_null(alert_annotation(&a, "summary"));
    alert_cleanup(&a);
    assert_null(a.labels);
    assert_int_equal(a.nlabels, 0);
    alert_cleanup(&a);      /* idempotent */
    alert_cleanup(NULL);
}

static void test_alert_copy(void **state)
{
    struct intern *p = *state;
    const char *kv[] = {"alertname=X", "service=checkout"};
    const char *an[] = {"summary=p99 > 2s"};
    struct alert a = {0}, b, empty = {0}, c;

    a.labels = mk_labels(p, 2, kv);
    a.nlabels = 2;
    a.annotations = mk_labels(p, 1, an);
    a.nannotations = 1;
    a.fingerprint = 0x1234;
    a.starts_at = 1795302208871;
    a.ends_at = ALERT_NO_END;
    a.status = ALERT_FIRING;
    a.generator_url = intern_str(p, "", 0);

    assert_int_equal(alert_copy(&b, &a), 0);
    assert_ptr_not_equal(b.labels, a.labels);
    assert_ptr_not_equal(b.annotations, a.annotations);
    assert_ptr_equal(b.labels[1].value, a.labels[1].value);   /* strings shared */
    assert_true(b.fingerprint == 0x1234 && b.starts_at == a.starts_at
                && b.ends_at == ALERT_NO_END && b.status == ALERT_FIRING);
    assert_ptr_equal(b.generator_url, a.generator_url);
    assert_string_equal(alert_annotation(&b, "summary"), "p99 > 2s");
    alert_cleanup(&a);
    /* The copy survives the original. */
    assert_string_equal(alert_label(&b, "service"), "checkout");
    alert_cleanup(&b);

    assert_int_equal(alert_copy(&c, &empty), 0);
    assert_null(c.labels);
    assert_null(c.annotations);
    alert_cleanup(&c);
}

/* The goal in alert.c: <= 1 KiB per active alert, labels included. 5,000
 * pods each firing 4 alerts with realistic labels and a per-alert summary. */
static void test_memory_per_alert(void **state)
{
    struct intern *p = *state;
    enum { PODS = 5000, NAMES = 4 };
    static const char *const names[NAMES] = {"ContainerCpuHigh", "PodMemoryHigh",
                                             "TraceLatencyHigh", "TraceErrors5xx"};
    size_t n = 0, bytes = 0;
    struct alert *alerts = calloc((size_t)PODS * NAMES, sizeof *alerts);

    assert_non_null(alerts);
    for (int pod = 0; pod < PODS; pod++) {
        for (int k = 0; k < NAMES; k++) {
            char kv[8][160];
            const char *kvp[8];
            struct alert *a = &alerts[n++];

            snprintf(kv[0], sizeof kv[0], "alertname=%s", names[k]);
            snprintf(kv[1], sizeof kv[1], "namespace=boutique");
            snprintf(kv[2], sizeof kv[2], "service=svc-%d", pod / 40);
            snprintf(kv[3], sizeof kv[3], "pod=svc-%d-%d", pod / 40, pod % 40);
            snprintf(kv[4], sizeof kv[4], "node=node-%d", pod % 60);
            snprintf(kv[5], sizeof kv[5], "severity=%s", k % 2 ? "warning" : "critical");
            snprintf(kv[6], sizeof kv[6], "summary=%s on svc-%d-%d is above its threshold "
                     "for 5 minutes", names[k], pod / 40, pod % 40);
            snprintf(kv[7], sizeof kv[7], "runbook_url=https://runbooks.example/%s", names[k]);
            for (int i = 0; i < 8; i++)
                kvp[i] = kv[i];
            a->labels = mk_labels(p, 6, kvp);
            a->nlabels = 6;
            a->annotations = mk_labels(p, 2, kvp + 6);
            a->nannotations = 2;
            bytes += sizeof *a + (a->nlabels + a->nannotations) * sizeof(struct label);
        }
    }
    bytes += intern_bytes(p);
    if (bytes / n > 1024)
        fail_msg("%zu bytes per alert", bytes / n);
    for (size_t i = 0; i < n; i++)
        alert_cleanup(&alerts[i]);
    free(alerts);
}

/* ---- entities ---------------------------------------------------------- */

static void test_entity_kinds(void **state)
{
    static const char *const names[ENTITY_KIND_COUNT] = {"service", "database", "cache", "queue",
                                                         "external", "pod", "node"};
    enum entity_kind k;

    (void)state;
    for (int i = 0; i < ENTITY_KIND_COUNT; i++) {
        assert_string_equal(entity_kind_name((enum entity_kind)i), names[i]);
        assert_int_equal(entity_kind_parse(names[i], &k), 0);
        assert_int_equal(k, i);
        assert_int_equal(entity_kind_is_service_like((enum entity_kind)i), i <= ENTITY_EXTERNAL);
    }
    assert_string_equal(entity_kind_name(ENTITY_KIND_COUNT), "unknown");
    assert_string_equal(entity_kind_name((enum entity_kind)-1), "unknown");
    assert_false(entity_kind_is_service_like(ENTITY_KIND_COUNT));
    assert_int_equal(entity_kind_parse("Service", &k), -1);
    assert_int_equal(entity_kind_parse("", &k), -1);
    assert_int_equal(entity_kind_parse("unknown", &k), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fingerprint_vectors, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_fingerprint_fixtures, setup_pool, teardown_pool),
        cmocka_unit_test(test_fingerprint_format_parse),
        cmocka_unit_test(test_time_parse_valid),
        cmocka_unit_test(test_time_parse_invalid),
        cmocka_unit_test(test_time_parse_len),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test_setup_teardown(test_intern_identity, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_intern_growth, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_intern_big, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_label_lookup_and_sort, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_alert_copy, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_memory_per_alert, setup_pool, teardown_pool),
        cmocka_unit_test(test_entity_kinds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
