/* test_webhook.c - the Alertmanager v4 webhook parser: exact field values
 * of every fixture, every file of the malformed corpus rejected with the
 * code its name carries, wrong types at every field, every cap at and past
 * its limit, computed fingerprints, the replay entry point over the shared
 * RCA dataset, the demo samples, and every allocation failed in turn. */
#define _GNU_SOURCE   /* RTLD_NEXT, for the failing allocator below */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alert.h"
#include "limits.h"
#include "webhook.h"

/* ---- an allocator that fails the Nth call ------------------------------
 * Interposes malloc/calloc/realloc for the whole process (jansson included)
 * and forwards to the next definition: libc's, or ASan's under
 * sanitizers, so leaks on the ENOMEM paths are still caught. dlsym may
 * allocate while resolving; those few bytes come from a static buffer. */

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static _Alignas(max_align_t) char boot[8192];
static size_t boot_used;
static int resolving;
static long fail_countdown;     /* 0: off; N: fail the Nth allocation from now */
static long failures;

static void resolve(void)
{
    if (next_free != NULL || resolving)
        return;
    resolving = 1;
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    resolving = 0;
}

static void *boot_alloc(size_t n)
{
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (n > sizeof boot - boot_used)
        return NULL;
    p = boot + boot_used;
    boot_used += n;
    return p;
}

static int in_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static int should_fail(void)
{
    if (fail_countdown > 0 && --fail_countdown == 0) {
        failures++;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    resolve();
    if (next_malloc == NULL)
        return boot_alloc(n);
    return should_fail() ? NULL : next_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    resolve();
    if (next_calloc == NULL)
        return boot_alloc(n * size);   /* static storage is zeroed */
    return should_fail() ? NULL : next_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    resolve();
    if (in_boot(p) || next_realloc == NULL) {
        void *q = malloc(n);
        if (q != NULL && p != NULL) {
            size_t room = (size_t)(boot + sizeof boot - (char *)p);
            memcpy(q, p, n < room ? n : room);
        }
        return q;
    }
    return should_fail() ? NULL : next_realloc(p, n);
}

void free(void *p)
{
    if (p == NULL || in_boot(p))
        return;
    resolve();
    next_free(p);
}

/* ---- helpers ----------------------------------------------------------- */

static const char *source_dir(void)
{
    const char *d = getenv("QUENCH_SOURCE_DIR");
    return d && *d ? d : ".";
}

/* Whole file PATH into a malloc'd buffer (not NUL-terminated: the parser
 * must not need it), length in *len. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static char *fixture(const char *name, size_t *len)
{
    char path[1024];

    snprintf(path, sizeof path, "%s/tests/data/alertmanager/%s", source_dir(), name);
    return slurp(path, len);
}

/* Sorted "name=value" list KV of N pairs equals L. */
static void assert_labels(const struct label *l, size_t nl, const char *const *kv, size_t n)
{
    assert_int_equal(nl, n);
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        if (strlen(l[i].name) != (size_t)(eq - kv[i]) || strncmp(l[i].name, kv[i], (size_t)(eq - kv[i]))
            || strcmp(l[i].value, eq + 1))
            fail_msg("pair %zu: got %s=%s, want %s", i, l[i].name, l[i].value, kv[i]);
    }
}

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

static int parse_str(struct intern *p, const char *body, struct webhook **w, struct qerr *err)
{
    memset(err, 0, sizeof *err);
    return webhook_parse(w, body, strlen(body), p, err);
}

/* ---- fixtures ---------------------------------------------------------- */

static void test_fixture_truncated_firing(void **state)
{
    struct intern *p = *state;
    struct webhook *w = NULL;
    struct qerr err = {0};
    size_t len;
    char *body = fixture("01-truncated-firing-PodMemoryHigh.json", &len);
    static const char *const group[] = {"alertname=PodMemoryHigh", "service=cart"};
    static const char *const common[] = {"alertname=PodMemoryHigh", "namespace=shop", "service=cart",
                                         "severity=critical"};
    static const char *const common_ann[] = {"runbook_url=https://runbooks.example/memory"};
    static const char *const l0[] = {"alertname=PodMemoryHigh", "namespace=shop", "pod=cart-0",
                                     "service=cart", "severity=critical"};
    static const char *const a0[] = {"runbook_url=https://runbooks.example/memory",
                                     "summary=memory above 90% on cart-0"};
    static const char *const l1[] = {"alertname=PodMemoryHigh", "namespace=shop", "pod=cart-1",
                                     "service=cart", "severity=critical"};
    static const char *const a1[] = {"runbook_url=https://runbooks.example/memory",
                                     "summary=memory above 90% on cart-1"};

    assert_int_equal(webhook_parse(&w, body, len, p, &err), 0);
    assert_non_null(w);
    assert_string_equal(w->receiver, "ops\\.quench");
    assert_int_equal(w->status, ALERT_FIRING);
    assert_string_equal(w->group_key, "{}:{alertname=\"PodMemoryHigh\", service=\"cart\"}");
    assert_string_equal(w->external_url, "http://vm:19093");
    assert_string_equal(w->notification_reason, "");
    assert_true(w->truncated_alerts == 1);
    assert_labels(w->group_labels, w->ngroup_labels, group, 2);
    assert_labels(w->common_labels, w->ncommon_labels, common, 4);
    assert_labels(w->common_annotations, w->ncommon_annotations, common_ann, 1);
    assert_int_equal(w->nroute_labels, 0);
    assert_null(w->route_labels);
    assert_int_equal(w->nalerts, 2);

    assert_labels(w->alerts[0].labels, w->alerts[0].nlabels, l0, 5);
    assert_labels(w->alerts[0].annotations, w->alerts[0].nannotations, a0, 2);
    assert_int_equal(w->alerts[0].status, ALERT_FIRING);
    assert_true(w->alerts[0].starts_at == 1795302208829);   /* .829306791 truncated */
    assert_true(w->alerts[0].ends_at == ALERT_NO_END);
    assert_string_equal(w->alerts[0].generator_url, "");
    assert_true(w->alerts[0].fingerprint == 0x9a4b4c97d48336b2ULL);

    assert_labels(w->alerts[1].labels, w->alerts[1].nlabels, l1, 5);
    assert_labels(w->alerts[1].annotations, w->alerts[1].nannotations, a1, 2);
    assert_true(w->alerts[1].starts_at == 1795302208843);
    assert_true(w->alerts[1].ends_at == ALERT_NO_END);
    assert_true(w->alerts[1].fingerprint == 0x5edb1e53958dd89dULL);

    /* Interned: equal strings share a pointer across alerts and sections. */
    assert_ptr_equal(w->alerts[0].labels[0].value, w->alerts[1].labels[0].value);
    assert_ptr_equal(w->alerts[0].labels[0].value, w->common_labels[0].value);
    assert_ptr_equal(alert_label(&w->alerts[0], "service"), alert_label(&w->alerts[1], "service"));
    webhook_free(w);
    free(body);
}

static void test_fixture_firing_then_resolved(void **state)
{
    struct intern *p = *state;
    struct webhook *f = NULL, *r = NULL;
    struct qerr err = {0};
    size_t len1, len2;
    char *b1 = fixture("02-firing-CheckoutLatencyHigh.json", &len1);
    char *b2 = fixture("03-resolved-CheckoutLatencyHigh.json", &len2);
    static const char *const labels[] = {"alertname=CheckoutLatencyHigh", "namespace=shop",
                                         "service=checkout", "severity=warning"};
    static const char *const ann[] = {"summary=p99 > 2s"};   /* \u003e decoded */
    static const char *const group[] = {"alertname=CheckoutLatencyHigh", "service=checkout"};

    assert_int_equal(webhook_parse(&f, b1, len1, p, &err), 0);
    assert_int_equal(webhook_parse(&r, b2, len2, p, &err), 0);
    assert_string_equal(f->receiver, "ops\\.quench");
    assert_string_equal(f->group_key,
                        "{}:{alertname=\"CheckoutLatencyHigh\", service=\"checkout\"}");
    assert_true(f->truncated_alerts == 0);
    assert_int_equal(f->status, ALERT_FIRING);
    assert_int_equal(r->status, ALERT_RESOLVED);
    assert_labels(f->group_labels, f->ngroup_labels, group, 2);
    assert_labels(f->common_labels, f->ncommon_labels, labels, 4);
    assert_labels(f->common_annotations, f->ncommon_annotations, ann, 1);
    assert_int_equal(f->nalerts, 1);
    assert_int_equal(r->nalerts, 1);
    assert_labels(f->alerts[0].labels, f->alerts[0].nlabels, labels, 4);
    assert_labels(f->alerts[0].annotations, f->alerts[0].nannotations, ann, 1);
    assert_labels(r->alerts[0].labels, r->alerts[0].nlabels, labels, 4);
    assert_int_equal(f->alerts[0].status, ALERT_FIRING);
    assert_int_equal(r->alerts[0].status, ALERT_RESOLVED);
    assert_true(f->alerts[0].starts_at == 1795302208871);
    assert_true(r->alerts[0].starts_at == 1795302208871);
    assert_true(f->alerts[0].ends_at == ALERT_NO_END);
    assert_true(r->alerts[0].ends_at == 1795302211000);
    assert_true(f->alerts[0].fingerprint == 0xc91c1b132f50a137ULL);
    assert_true(r->alerts[0].fingerprint == 0xc91c1b132f50a137ULL);
    /* Same pool, two webhooks: the same label set is the same pointers. */
    for (size_t i = 0; i < 4; i++) {
        assert_ptr_equal(f->alerts[0].labels[i].name, r->alerts[0].labels[i].name);
        assert_ptr_equal(f->alerts[0].labels[i].value, r->alerts[0].labels[i].value);
    }
    webhook_free(f);
    webhook_free(r);
    free(b1);
    free(b2);
}

/* ---- the malformed corpus ---------------------------------------------- */

static void test_bad_corpus(void **state)
{
    struct intern *p = *state;
    char dir[1024], path[2048];
    DIR *dh;
    struct dirent *de;
    int checked = 0;
    size_t before = intern_bytes(p);

    struct jdoc *doc;

    assert_int_equal(jdoc_new(&doc), 0);
    snprintf(dir, sizeof dir, "%s/tests/data/webhook-bad", source_dir());
    dh = opendir(dir);
    assert_non_null(dh);
    while ((de = readdir(dh)) != NULL) {
        struct webhook *w = (struct webhook *)&w;   /* must be reset to NULL */
        struct qerr err;
        size_t len;
        char *body;
        int want = 0, rc;

        if (de->d_name[0] == '.')
            continue;
        if (strncmp(de->d_name, "400-", 4) == 0)
            want = WEBHOOK_EJSON;
        else if (strncmp(de->d_name, "422-", 4) == 0)
            want = WEBHOOK_ESCHEMA;
        else
            fail_msg("%s: name must start with 400- or 422-", de->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        body = slurp(path, &len);
        memset(&err, 0, sizeof err);
        rc = webhook_parse(&w, body, len, p, &err);
        if (rc != want)
            fail_msg("%s: got %d, want %d (%s: %s)", de->d_name, rc, want, err.source, err.msg);
        assert_null(w);
        {
            /* ingest's webhook_check must say exactly the same, through a
             * jdoc reused across the whole corpus */
            struct qerr cerr;
            size_t nalerts = 99;

            memset(&cerr, 0, sizeof cerr);
            if (webhook_check(doc, body, len, &nalerts, &cerr) != rc ||
                strcmp(cerr.source, err.source) != 0 || strcmp(cerr.msg, err.msg) != 0 ||
                cerr.line != err.line || cerr.column != err.column || nalerts != 0)
                fail_msg("%s: webhook_check said %s: %s (%d:%d), parse %s: %s (%d:%d)",
                         de->d_name, cerr.source, cerr.msg, cerr.line, cerr.column,
                         err.source, err.msg, err.line, err.column);
        }
        if (err.source[0] != '$' || err.msg[0] == '\0')
            fail_msg("%s: empty error (%s: %s)", de->d_name, err.source, err.msg);
        if (want == WEBHOOK_EJSON && err.line < 1)
            fail_msg("%s: JSON error without a line", de->d_name);
        /* Printable ASCII only: the HTTP layer embeds it in JSON and logs. */
        for (const char *s = err.msg; *s; s++)
            if (*s < 0x20 || *s > 0x7e)
                fail_msg("%s: non-printable byte in message", de->d_name);
        for (const char *s = err.source; *s; s++)
            if (*s < 0x20 || *s > 0x7e)
                fail_msg("%s: non-printable byte in path", de->d_name);
        free(body);
        checked++;
    }
    closedir(dh);
    jdoc_free(doc);
    assert_true(checked >= 50);
    /* Nothing rejected reached the pool. */
    assert_int_equal(intern_bytes(p), before);
}

/* ---- inline malformed bodies, with exact paths and messages ------------ */

#define ALERT_OK "{\"labels\":{\"alertname\":\"X\"},\"status\":\"firing\"," \
                 "\"startsAt\":\"2026-11-21T23:03:28Z\"}"
#define HEAD "{\"version\":\"4\",\"receiver\":\"r\",\"status\":\"firing\",\"groupKey\":\"k\","

struct bad_case {
    const char *body;
    int code;
    const char *path;     /* exact */
    const char *msg;      /* substring */
};

static const struct bad_case bad_cases[] = {
    {"", WEBHOOK_EJSON, "$", "invalid JSON"},
    {"{", WEBHOOK_EJSON, "$", "invalid JSON"},
    {"{\"version\":\"4\",\"version\":\"4\"}", WEBHOOK_EJSON, "$", "duplicate"},
    {HEAD "\"alerts\":[{\"labels\":{\"a\":\"x\\u0000y\"}}]}", WEBHOOK_EJSON, "$", "invalid JSON"},
    {"[]", WEBHOOK_ESCHEMA, "$", "expected a webhook object, got an array"},
    {"17", WEBHOOK_ESCHEMA, "$", "got an integer"},
    {"\"4\"", WEBHOOK_ESCHEMA, "$", "got a string"},
    {"{}", WEBHOOK_ESCHEMA, "$.version", "required key \"version\" is missing"},
    {"{\"version\":\"3\"}", WEBHOOK_ESCHEMA, "$.version",
     "unsupported webhook version \"3\", expected \"4\""},
    {"{\"version\":\"4\"}", WEBHOOK_ESCHEMA, "$.receiver", "missing"},
    {HEAD "\"status\":\"firing\"}", WEBHOOK_EJSON, "$", "duplicate"},
    {HEAD "\"alerts\":{}}", WEBHOOK_ESCHEMA, "$.alerts", "expected an array of alerts, got an object"},
    {HEAD "\"alerts\":[" ALERT_OK "," ALERT_OK ",{\"labels\":{\"alertname\":\"X\"},\"status\":\"firing\","
          "\"startsAt\":\"yesterday\"}]}",
     WEBHOOK_ESCHEMA, "$.alerts[2].startsAt", "expected an RFC 3339 time, got \"yesterday\""},
    {HEAD "\"alerts\":[{\"labels\":{\"alertname\":\"X\"},\"status\":\"firing\","
          "\"startsAt\":\"\xc3\xa9t\xc3\xa9\"}]}",
     WEBHOOK_ESCHEMA, "$.alerts[0].startsAt", "got \"\\xc3\\xa9t\\xc3\\xa9\""},
    {HEAD "\"alerts\":[{\"labels\":{\"alertname\":\"X\"},\"status\":\"pending\","
          "\"startsAt\":\"2026-11-21T23:03:28Z\"}]}",
     WEBHOOK_ESCHEMA, "$.alerts[0].status", "expected \"firing\" or \"resolved\", got \"pending\""},
    {HEAD "\"alerts\":[{\"labels\":{\"a.b \\\"c\\\"\":1},\"status\":\"firing\","
          "\"startsAt\":\"2026-11-21T23:03:28Z\"}]}",
     WEBHOOK_ESCHEMA, "$.alerts[0].labels[\"a.b \\\"c\\\"\"]", "expected a string label value, got an integer"},
    {HEAD "\"alerts\":[{\"labels\":{\"alertname\":\"X\"},\"status\":\"firing\","
          "\"startsAt\":\"2026-11-21T23:03:28Z\",\"fingerprint\":\"C91C1B132F50A13\"}]}",
     WEBHOOK_ESCHEMA, "$.alerts[0].fingerprint", "expected 16 hex digits, got \"C91C1B132F50A13\""},
    {HEAD "\"alerts\":[{\"labels\":{\"alertname\":\"X\"},\"status\":\"firing\","
          "\"startsAt\":\"0001-01-01T00:00:00Z\"}]}",
     WEBHOOK_ESCHEMA, "$.alerts[0].startsAt", "zero time"},
    {HEAD "\"alerts\":[{\"labels\":{\"alertname\":\"X\"},\"status\":\"firing\","
          "\"startsAt\":\"2026-11-21T23:03:28Z\",\"endsAt\":\"2026-11-21T23:03:28\"}]}",
     WEBHOOK_ESCHEMA, "$.alerts[0].endsAt", "RFC 3339"},
    {HEAD "\"alerts\":[{\"labels\":{\"\":\"x\"},\"status\":\"firing\","
          "\"startsAt\":\"2026-11-21T23:03:28Z\"}]}",
     WEBHOOK_ESCHEMA, "$.alerts[0].labels[\"\"]", "empty label name"},
    {HEAD "\"alerts\":[" ALERT_OK "],\"truncatedAlerts\":-3}", WEBHOOK_ESCHEMA, "$.truncatedAlerts",
     "got -3"},
    {HEAD "\"alerts\":[" ALERT_OK "],\"truncatedAlerts\":\"1\"}", WEBHOOK_ESCHEMA, "$.truncatedAlerts",
     "got a string"},
    {HEAD "\"alerts\":[" ALERT_OK "],\"truncatedAlerts\":1e3}", WEBHOOK_ESCHEMA, "$.truncatedAlerts",
     "got a real number"},
    {HEAD "\"alerts\":[7]}", WEBHOOK_ESCHEMA, "$.alerts[0]", "expected an alert object, got an integer"},
    {HEAD "\"alerts\":[{\"status\":\"firing\"}]}", WEBHOOK_ESCHEMA, "$.alerts[0].labels",
     "required key \"labels\" is missing"},
};

static void test_bad_inline(void **state)
{
    struct intern *p = *state;

    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        struct webhook *w = NULL;
        struct qerr err;
        int rc = parse_str(p, c->body, &w, &err);

        if (rc != c->code || strcmp(err.source, c->path) != 0 || strstr(err.msg, c->msg) == NULL)
            fail_msg("case %zu: got %d %s: %s; want %d %s: ...%s...", i, rc, err.source, err.msg,
                     c->code, c->path, c->msg);
        assert_null(w);
    }
}

/* A long bad value is quoted short in the message. */
static void test_bad_value_quoted_short(void **state)
{
    struct intern *p = *state;
    char *body = malloc(4096), *x = malloc(1001);
    struct webhook *w = NULL;
    struct qerr err;

    assert_non_null(body);
    assert_non_null(x);
    memset(x, 'y', 1000);
    x[1000] = '\0';
    snprintf(body, 4096, HEAD "\"alerts\":[{\"labels\":{\"a\":\"b\"},\"status\":\"firing\","
             "\"startsAt\":\"%s\"}]}", x);
    assert_int_equal(parse_str(p, body, &w, &err), WEBHOOK_ESCHEMA);
    assert_string_equal(err.source, "$.alerts[0].startsAt");
    assert_non_null(strstr(err.msg, "yyyy...\""));
    assert_true(strlen(err.msg) < 160);
    free(body);
    free(x);
}

/* ---- wrong types at every field ---------------------------------------- */

enum shape { S_STRING, S_ENUM, S_INT, S_LABELS, S_ARRAY, S_LABEL_VALUE };

struct field {
    const char *path;     /* as reported */
    json_t *(*where)(json_t *root);   /* object holding KEY */
    const char *key;
    enum shape shape;
    int required;
};

static json_t *at_root(json_t *r) { return r; }
static json_t *at_alert(json_t *r) { return json_array_get(json_object_get(r, "alerts"), 0); }
static json_t *at_labels(json_t *r) { return json_object_get(at_alert(r), "labels"); }
static json_t *at_annotations(json_t *r) { return json_object_get(at_alert(r), "annotations"); }
static json_t *at_group(json_t *r) { return json_object_get(r, "groupLabels"); }
static json_t *at_common(json_t *r) { return json_object_get(r, "commonLabels"); }
static json_t *at_common_ann(json_t *r) { return json_object_get(r, "commonAnnotations"); }

static const struct field fields[] = {
    {"$.version", at_root, "version", S_ENUM, 1},
    {"$.receiver", at_root, "receiver", S_STRING, 1},
    {"$.status", at_root, "status", S_ENUM, 1},
    {"$.groupKey", at_root, "groupKey", S_STRING, 1},
    {"$.externalURL", at_root, "externalURL", S_STRING, 0},
    {"$.notification_reason", at_root, "notification_reason", S_STRING, 0},
    {"$.truncatedAlerts", at_root, "truncatedAlerts", S_INT, 0},
    {"$.groupLabels", at_root, "groupLabels", S_LABELS, 0},
    {"$.commonLabels", at_root, "commonLabels", S_LABELS, 0},
    {"$.commonAnnotations", at_root, "commonAnnotations", S_LABELS, 0},
    {"$.routeLabels", at_root, "routeLabels", S_LABELS, 0},
    {"$.alerts", at_root, "alerts", S_ARRAY, 1},
    {"$.alerts[0].labels", at_alert, "labels", S_LABELS, 1},
    {"$.alerts[0].annotations", at_alert, "annotations", S_LABELS, 0},
    {"$.alerts[0].status", at_alert, "status", S_ENUM, 1},
    {"$.alerts[0].startsAt", at_alert, "startsAt", S_ENUM, 1},
    {"$.alerts[0].endsAt", at_alert, "endsAt", S_ENUM, 0},
    {"$.alerts[0].generatorURL", at_alert, "generatorURL", S_STRING, 0},
    {"$.alerts[0].fingerprint", at_alert, "fingerprint", S_ENUM, 0},
    {"$.alerts[0].labels.alertname", at_labels, "alertname", S_LABEL_VALUE, 1},
    {"$.alerts[0].annotations.summary", at_annotations, "summary", S_LABEL_VALUE, 1},
    {"$.groupLabels.alertname", at_group, "alertname", S_LABEL_VALUE, 1},
    {"$.commonLabels.service", at_common, "service", S_LABEL_VALUE, 1},
    {"$.commonAnnotations.summary", at_common_ann, "summary", S_LABEL_VALUE, 1},
};

/* Is V a wrong value for SHAPE? (S_ENUM strings are all wrong: "x" is no
 * version, status, time or fingerprint.) */
static int wrong_for(enum shape s, const json_t *v, int required)
{
    if (json_is_null(v))
        return required;
    switch (s) {
    case S_STRING:
    case S_LABEL_VALUE: return !json_is_string(v);
    case S_ENUM:        return 1;
    case S_INT:         return !json_is_integer(v) || json_integer_value(v) < 0;
    case S_LABELS:      return !json_is_object(v);
    case S_ARRAY:       return !json_is_array(v);
    }
    return 1;
}

static void test_wrong_types_everywhere(void **state)
{
    struct intern *p = *state;
    size_t len;
    char *body = fixture("02-firing-CheckoutLatencyHigh.json", &len);
    json_error_t jerr;
    json_t *base = json_loadb(body, len, 0, &jerr);
    int tried = 0;

    assert_non_null(base);
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        json_t *values[] = {json_integer(1), json_real(1.5), json_true(), json_false(),
                            json_null(), json_string("x"), json_array(), json_object(),
                            json_integer(-1)};
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            json_t *doc = json_deep_copy(base);
            struct webhook *w = NULL;
            struct qerr err = {0};
            char *text;
            int rc;

            assert_non_null(doc);
            assert_int_equal(json_object_set(fields[f].where(doc), fields[f].key, values[v]), 0);
            text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
            assert_non_null(text);
            rc = webhook_parse(&w, text, strlen(text), p, &err);
            if (wrong_for(fields[f].shape, values[v], fields[f].required)) {
                if (rc != WEBHOOK_ESCHEMA || strcmp(err.source, fields[f].path) != 0)
                    fail_msg("%s = %s: got %d at %s (%s)", fields[f].path, text, rc, err.source,
                             err.msg);
                assert_null(w);
                tried++;
            } else if (rc != 0) {
                fail_msg("%s: valid value rejected: %s: %s", fields[f].path, err.source, err.msg);
            }
            webhook_free(w);
            free(text);
            json_decref(doc);
        }
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++)
            json_decref(values[v]);
    }
    assert_true(tried > 100);
    json_decref(base);
    free(body);
}

/* Optional keys may be absent or null; required ones may not. */
static void test_optional_fields(void **state)
{
    struct intern *p = *state;
    struct webhook *w = NULL;
    struct qerr err;
    const char *minimal = HEAD "\"alerts\":[" ALERT_OK "]}";
    const char *nulls = HEAD "\"externalURL\":null,\"truncatedAlerts\":null,\"groupLabels\":null,"
                        "\"alerts\":[{\"labels\":{\"alertname\":\"X\"},\"status\":\"resolved\","
                        "\"startsAt\":\"2026-11-21T23:03:28Z\",\"endsAt\":null,\"annotations\":null,"
                        "\"generatorURL\":null,\"fingerprint\":null}],\"unknown\":{\"x\":[1,2]}}";
    const char *empty = HEAD "\"alerts\":[]}";

    assert_int_equal(parse_str(p, minimal, &w, &err), 0);
    assert_string_equal(w->external_url, "");
    assert_string_equal(w->notification_reason, "");
    assert_true(w->truncated_alerts == 0);
    assert_int_equal(w->ngroup_labels + w->ncommon_labels + w->ncommon_annotations + w->nroute_labels, 0);
    assert_int_equal(w->nalerts, 1);
    assert_int_equal(w->alerts[0].nannotations, 0);
    assert_null(w->alerts[0].annotations);
    assert_non_null(w->alerts[0].generator_url);
    assert_string_equal(w->alerts[0].generator_url, "");
    assert_true(w->alerts[0].ends_at == ALERT_NO_END);
    assert_true(w->alerts[0].starts_at == 1795302208000);
    webhook_free(w);

    assert_int_equal(parse_str(p, nulls, &w, &err), 0);
    assert_int_equal(w->alerts[0].status, ALERT_RESOLVED);
    assert_true(w->alerts[0].ends_at == ALERT_NO_END);
    webhook_free(w);

    assert_int_equal(parse_str(p, empty, &w, &err), 0);
    assert_int_equal(w->nalerts, 0);
    assert_null(w->alerts);
    webhook_free(w);

    /* 0.32+ fields, and a trailing newline as Go's json.Encoder writes. */
    assert_int_equal(parse_str(p, HEAD "\"alerts\":[],\"notification_reason\":\"first notification\","
                               "\"routeLabels\":{\"team\":\"shop\"}}\n", &w, &err), 0);
    assert_string_equal(w->notification_reason, "first notification");
    assert_int_equal(w->nroute_labels, 1);
    assert_string_equal(w->route_labels[0].value, "shop");
    webhook_free(w);
}

static void test_fingerprint_computed_or_kept(void **state)
{
    struct intern *p = *state;
    struct webhook *w = NULL;
    struct qerr err;
    const char *body =
        HEAD "\"alerts\":["
        "{\"labels\":{\"severity\":\"warning\",\"service\":\"checkout\",\"namespace\":\"shop\","
        "\"alertname\":\"CheckoutLatencyHigh\",\"empty\":\"\"},\"status\":\"firing\","
        "\"startsAt\":\"2026-11-21T23:03:28Z\"},"
        "{\"labels\":{\"alertname\":\"X\"},\"status\":\"firing\","
        "\"startsAt\":\"2026-11-21T23:03:28Z\",\"fingerprint\":\"00000000000000AB\"},"
        "{\"labels\":{},\"status\":\"firing\",\"startsAt\":\"2026-11-21T23:03:28Z\"}]}";

    assert_int_equal(parse_str(p, body, &w, &err), 0);
    /* Absent: computed (labels sorted, the empty value skipped). */
    assert_true(w->alerts[0].fingerprint == 0xc91c1b132f50a137ULL);
    assert_string_equal(w->alerts[0].labels[0].name, "alertname");
    assert_string_equal(w->alerts[0].labels[1].name, "empty");
    assert_string_equal(w->alerts[0].labels[4].name, "severity");
    /* Present: the sender's value, even when it is not the computed one. */
    assert_true(w->alerts[1].fingerprint == 0xabULL);
    assert_true(w->alerts[2].fingerprint == 0xcbf29ce484222325ULL);
    webhook_free(w);
}

/* ---- caps: at the limit accepted, one past rejected naming the cap ----- */

/* A webhook with NALERTS copies of ALERT (a JSON object text). */
static char *many_alerts(size_t nalerts, const char *alert)
{
    size_t cap = strlen(HEAD) + 32 + nalerts * (strlen(alert) + 1);
    char *b = malloc(cap), *q;

    assert_non_null(b);
    q = b + sprintf(b, HEAD "\"alerts\":[");
    for (size_t i = 0; i < nalerts; i++)
        q += sprintf(q, "%s%s", i ? "," : "", alert);
    strcpy(q, "]}");
    return b;
}

static void expect_cap(struct intern *p, const char *body, int ok, const char *path, const char *cap)
{
    struct webhook *w = NULL;
    struct qerr err;
    int rc = parse_str(p, body, &w, &err);

    if (ok) {
        if (rc != 0)
            fail_msg("at the limit rejected: %s: %s", err.source, err.msg);
        webhook_free(w);
        return;
    }
    if (rc != WEBHOOK_ESCHEMA || strncmp(err.source, path, strlen(path)) != 0
        || strstr(err.msg, cap) == NULL)
        fail_msg("past the limit: got %d %s: %s, want %s: %s", rc, err.source, err.msg, path, cap);
    assert_null(w);
}

static void test_cap_alerts(void **state)
{
    char *b = many_alerts(QUENCH_MAX_ALERTS_PER_WEBHOOK, ALERT_OK);

    expect_cap(*state, b, 1, NULL, NULL);
    free(b);
    b = many_alerts(QUENCH_MAX_ALERTS_PER_WEBHOOK + 1, ALERT_OK);
    expect_cap(*state, b, 0, "$.alerts", "QUENCH_MAX_ALERTS_PER_WEBHOOK");
    free(b);
}

/* An alert whose labels (or annotations, ANN) hold N pairs. */
static char *alert_with_pairs(int n, int ann)
{
    char *a = malloc((size_t)n * 32 + 256), *q;

    assert_non_null(a);
    q = a + sprintf(a, "{\"status\":\"firing\",\"startsAt\":\"2026-11-21T23:03:28Z\",");
    if (ann)
        q += sprintf(q, "\"labels\":{\"a\":\"b\"},");
    q += sprintf(q, "\"%s\":{", ann ? "annotations" : "labels");
    for (int i = 0; i < n; i++)
        q += sprintf(q, "%s\"k%03d\":\"v\"", i ? "," : "", i);
    strcpy(q, "}}");
    return a;
}

static void test_cap_labels(void **state)
{
    for (int ann = 0; ann <= 1; ann++) {
        for (int extra = 0; extra <= 1; extra++) {
            char *a = alert_with_pairs(QUENCH_MAX_LABELS + extra, ann);
            char *b = many_alerts(1, a);
            expect_cap(*state, b, !extra, ann ? "$.alerts[0].annotations" : "$.alerts[0].labels",
                       "QUENCH_MAX_LABELS");
            free(a);
            free(b);
        }
    }
}

/* One label NAME=VALUE on one alert, lengths NL and VL. */
static char *alert_with_label(size_t nl, size_t vl)
{
    char *a = malloc(nl + vl + 256), *q;

    assert_non_null(a);
    q = a + sprintf(a, "{\"status\":\"firing\",\"startsAt\":\"2026-11-21T23:03:28Z\",\"labels\":{\"");
    memset(q, 'n', nl);
    q += nl;
    q += sprintf(q, "\":\"");
    memset(q, 'v', vl);
    q += vl;
    strcpy(q, "\"}}");
    return a;
}

static void test_cap_label_sizes(void **state)
{
    static const struct { size_t nl, vl; int ok; const char *cap; } cases[] = {
        {QUENCH_MAX_LABEL_NAME, 1, 1, NULL},
        {QUENCH_MAX_LABEL_NAME + 1, 1, 0, "QUENCH_MAX_LABEL_NAME"},
        {1, QUENCH_MAX_LABEL_VALUE, 1, NULL},
        {1, QUENCH_MAX_LABEL_VALUE + 1, 0, "QUENCH_MAX_LABEL_VALUE"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *a = alert_with_label(cases[i].nl, cases[i].vl);
        char *b = many_alerts(1, a);
        expect_cap(*state, b, cases[i].ok, "$.alerts[0].labels.n", cases[i].cap);
        free(a);
        free(b);
    }
}

static void test_cap_strings(void **state)
{
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = QUENCH_MAX_WEBHOOK_STRING + (size_t)extra;
        char *b = malloc(n + 512), *q;

        assert_non_null(b);
        q = b + sprintf(b, HEAD "\"alerts\":[{\"labels\":{\"a\":\"b\"},\"status\":\"firing\","
                        "\"startsAt\":\"2026-11-21T23:03:28Z\",\"generatorURL\":\"");
        memset(q, 'u', n);
        strcpy(q + n, "\"}]}");
        expect_cap(*state, b, !extra, "$.alerts[0].generatorURL", "QUENCH_MAX_WEBHOOK_STRING");
        free(b);
    }
}

/* Nesting: an unknown key holding DEPTH-1 arrays puts the innermost
 * container at DEPTH (the root object is 1). */
static void test_cap_depth(void **state)
{
    for (int extra = 0; extra <= 1; extra++) {
        int depth = QUENCH_MAX_JSON_DEPTH + extra;
        char *b = malloc(512 + 2 * (size_t)depth), *q;

        assert_non_null(b);
        q = b + sprintf(b, HEAD "\"alerts\":[],\"x\":");
        for (int i = 1; i < depth; i++)
            *q++ = '[';
        for (int i = 1; i < depth; i++)
            *q++ = ']';
        strcpy(q, "}");
        expect_cap(*state, b, !extra, "$.x[0][0]", "QUENCH_MAX_JSON_DEPTH");
        free(b);
    }
    /* Beyond jansson's own limit the decoder stops; still the same cap. */
    {
        char *b = malloc(20000);
        struct webhook *w = NULL;
        struct qerr err;

        assert_non_null(b);
        memset(b, '[', 9999);
        b[9999] = '\0';
        assert_int_equal(parse_str(*state, b, &w, &err), WEBHOOK_ESCHEMA);
        assert_non_null(strstr(err.msg, "QUENCH_MAX_JSON_DEPTH"));
        free(b);
    }
}

/* ---- entry points ------------------------------------------------------ */

static void test_parse_json_entry(void **state)
{
    struct intern *p = *state;
    json_error_t jerr;
    json_t *rec = json_loads("{\"received_at\":\"2026-11-21T23:03:30Z\",\"payload\":"
                             HEAD "\"alerts\":[" ALERT_OK "]}}", 0, &jerr);
    struct webhook *w = NULL;
    struct qerr err = {0};

    assert_non_null(rec);
    assert_int_equal(webhook_parse_json(&w, json_object_get(rec, "payload"), p, &err), 0);
    assert_int_equal(w->nalerts, 1);
    assert_string_equal(alert_label(&w->alerts[0], "alertname"), "X");
    webhook_free(w);
    /* The record itself is not a webhook. */
    assert_int_equal(webhook_parse_json(&w, rec, p, &err), WEBHOOK_ESCHEMA);
    assert_string_equal(err.source, "$.version");
    assert_null(w);
    assert_int_equal(webhook_parse_json(&w, NULL, p, &err), WEBHOOK_ESCHEMA);
    json_decref(rec);
    /* A NULL error struct is allowed. */
    assert_int_equal(webhook_parse(&w, "{", 1, p, NULL), WEBHOOK_EJSON);
    assert_int_equal(webhook_parse(&w, "[]", 2, p, NULL), WEBHOOK_ESCHEMA);
    webhook_free(NULL);
}

/* Every webhook of the shared RCA dataset (real Alertmanager shapes, 70
 * cases) parses through the replay entry point, and every sender's
 * fingerprint equals the computed one. */
static void test_rca_dataset(void **state)
{
    const char *shared = getenv("QUENCH_SHARED_DIR");
    char dir[1024], path[2048];
    DIR *dh;
    struct dirent *de;
    size_t nalerts = 0, nhooks = 0;

    if (shared == NULL || *shared == '\0')
        skip();
    snprintf(dir, sizeof dir, "%s/data/rca/ob-cloudbed-1/cases", shared);
    dh = opendir(dir);
    assert_non_null(dh);
    while ((de = readdir(dh)) != NULL) {
        struct intern *p;
        FILE *f;
        char *line = NULL;
        size_t cap = 0;

        if (strstr(de->d_name, ".jsonl") == NULL)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        f = fopen(path, "r");
        assert_non_null(f);
        assert_int_equal(intern_new(&p), 0);
        while (getline(&line, &cap, f) > 0) {
            json_error_t jerr;
            json_t *rec = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
            struct webhook *w = NULL;
            struct qerr err = {0};

            assert_non_null(rec);
            if (webhook_parse_json(&w, json_object_get(rec, "payload"), p, &err) != 0)
                fail_msg("%s: %s: %s", de->d_name, err.source, err.msg);
            for (size_t i = 0; i < w->nalerts; i++)
                assert_true(w->alerts[i].fingerprint
                            == alert_fingerprint(w->alerts[i].labels, w->alerts[i].nlabels));
            nalerts += w->nalerts;
            nhooks++;
            webhook_free(w);
            json_decref(rec);
        }
        free(line);
        fclose(f);
        intern_free(p);
    }
    closedir(dh);
    assert_true(nhooks > 70);
    assert_true(nalerts > 1000);
    (void)state;
}

/* The demo's sample webhooks: all valid, in send order, fingerprints
 * exactly what Alertmanager would send. */
static void test_samples(void **state)
{
    struct intern *p = *state;
    char dir[1024], path[2048];
    struct dirent **names;
    int n, firing = 0, resolved = 0;

    snprintf(dir, sizeof dir, "%s/tests/data/samples", source_dir());
    n = scandir(dir, &names, NULL, alphasort);
    assert_true(n > 0);
    for (int i = 0, seen = 0; i < n; i++) {
        struct webhook *w = NULL;
        struct qerr err = {0};
        size_t len;
        char *body;

        if (strstr(names[i]->d_name, ".json") == NULL) {
            free(names[i]);
            continue;
        }
        seen++;
        assert_int_equal(atoi(names[i]->d_name), seen);   /* 01-..., 02-..., in order */
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        body = slurp(path, &len);
        if (webhook_parse(&w, body, len, p, &err) != 0)
            fail_msg("%s: %s: %s", names[i]->d_name, err.source, err.msg);
        for (size_t j = 0; j < w->nalerts; j++) {
            const struct alert *a = &w->alerts[j];
            assert_true(a->fingerprint == alert_fingerprint(a->labels, a->nlabels));
            assert_non_null(alert_label(a, "alertname"));
            assert_non_null(alert_label(a, "namespace"));
            assert_non_null(alert_label(a, "severity"));
            if (a->status == ALERT_FIRING) {
                assert_true(a->ends_at == ALERT_NO_END);
                firing++;
            } else {
                assert_true(a->ends_at != ALERT_NO_END && a->ends_at > a->starts_at);
                resolved++;
            }
        }
        webhook_free(w);
        free(body);
        free(names[i]);
        if (i == n - 1)
            assert_true(seen >= 6 && seen <= 10);
    }
    free(names);
    assert_true(firing >= 6);
    assert_true(resolved >= 1);
}

/* ---- out of memory ----------------------------------------------------- */

/* Fail each allocation of a parse in turn (jdoc's and the walk's; jdoc
 * declining for lack of memory falls back to jansson): the result is
 * ENOMEM with nothing leaked (ASan checks), or a complete webhook when the
 * failure hit something with a fallback. */
static void test_every_allocation_fails(void **state)
{
    size_t len;
    char *body = fixture("01-truncated-firing-PodMemoryHigh.json", &len);
    long n, enomem = 0, ejson = 0;

    (void)state;
    for (n = 1; n < 100000; n++) {
        struct intern *p;
        struct webhook *w = NULL;
        struct qerr err = {0};
        int rc;

        assert_int_equal(intern_new(&p), 0);
        failures = 0;
        fail_countdown = n;
        rc = webhook_parse(&w, body, len, p, &err);
        fail_countdown = 0;
        if (failures == 0) {
            assert_int_equal(rc, 0);   /* ran past the last allocation */
            webhook_free(w);
            intern_free(p);
            break;
        }
        if (rc == 0) {
            assert_int_equal(w->nalerts, 2);
            assert_true(w->alerts[1].fingerprint == 0x5edb1e53958dd89dULL);
            assert_string_equal(alert_label(&w->alerts[1], "pod"), "cart-1");
        } else if (rc == WEBHOOK_EJSON) {
            /* jansson reports some failed allocations (a key's buffer) as
             * a syntax error; nothing to do here but not leak. */
            assert_null(w);
            ejson++;
        } else if (rc != WEBHOOK_ENOMEM) {
            fail_msg("allocation %ld: got %d (%s: %s)", n, rc, err.source, err.msg);
        } else {
            enomem++;
            assert_null(w);
            assert_string_equal(err.msg, "out of memory");
        }
        webhook_free(w);
        intern_free(p);
    }
    /* The loop really walked through the allocations, and most failures
     * (every one of ours) came back as ENOMEM. */
    assert_true(n > 10);   /* jdoc decodes in a handful (14 here) */
    assert_true(enomem > 10 && enomem > ejson);
    /* webhook_check and webhook_parse_with on a jdoc reused across the
     * failures: every failure is ENOMEM (or jansson's disguised one), no
     * leak, and the jdoc still works afterwards. */
    for (int mode = 0; mode < 2; mode++) {
        struct jdoc *d;
        long m, seen = 0;

        assert_int_equal(jdoc_new(&d), 0);
        for (m = 1; m < 100000; m++) {
            struct intern *p = NULL;
            struct webhook *w = NULL;
            struct qerr err = {0};
            size_t nalerts = 0;
            int rc;

            if (mode == 1)
                assert_int_equal(intern_new(&p), 0);
            failures = 0;
            fail_countdown = m;
            rc = mode == 0 ? webhook_check(d, body, len, &nalerts, &err)
                           : webhook_parse_with(d, &w, body, len, p, &err);
            fail_countdown = 0;
            if (rc != 0 && rc != WEBHOOK_ENOMEM && rc != WEBHOOK_EJSON)
                fail_msg("mode %d allocation %ld: got %d (%s: %s)", mode, m, rc,
                         err.source, err.msg);
            if (rc == 0)
                assert_true(mode == 1 ? w->nalerts == 2 : nalerts == 2);
            else
                assert_null(w);
            webhook_free(w);
            intern_free(p);
            seen += failures > 0;
            if (failures == 0)
                break;
        }
        assert_true(seen > 0);
        assert_int_equal(webhook_check(d, body, len, &(size_t){0}, &(struct qerr){0}), 0);
        jdoc_free(d);
    }
    /* intern_new itself. */
    {
        struct intern *p = (struct intern *)&p;
        fail_countdown = 1;
        assert_int_equal(intern_new(&p), -1);
        assert_null(p);
        fail_countdown = 2;
        assert_int_equal(intern_new(&p), -1);
        fail_countdown = 0;
    }
    free(body);
}

/* One jdoc reused across bodies (the correlator's way) parses each exactly
 * as a fresh webhook_parse does, errors included, whatever came before. */
static void test_parse_with_reuse(void **state)
{
    static const char *const names[] = {
        "02-firing-CheckoutLatencyHigh.json", "01-truncated-firing-PodMemoryHigh.json",
        "03-resolved-CheckoutLatencyHigh.json", NULL, "02-firing-CheckoutLatencyHigh.json",
    };
    struct intern *pool = *state;
    struct jdoc *d;

    assert_int_equal(jdoc_new(&d), 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct webhook *a = NULL, *b = NULL;
        struct qerr ea, eb;
        size_t len;
        char *body = names[i] ? fixture(names[i], &len) : strdup("{\"version\":\"3\"}");
        int ra, rb;

        if (names[i] == NULL)
            len = strlen(body);
        memset(&ea, 0, sizeof ea);
        memset(&eb, 0, sizeof eb);
        ra = webhook_parse_with(d, &a, body, len, pool, &ea);
        rb = webhook_parse(&b, body, len, pool, &eb);
        assert_int_equal(ra, rb);
        assert_string_equal(ea.source, eb.source);
        assert_string_equal(ea.msg, eb.msg);
        if (ra == 0) {
            assert_int_equal(a->nalerts, b->nalerts);
            for (size_t k = 0; k < a->nalerts; k++) {
                assert_true(a->alerts[k].fingerprint == b->alerts[k].fingerprint);
                assert_true(a->alerts[k].starts_at == b->alerts[k].starts_at);
                /* interned: equal strings are the same pointer */
                assert_ptr_equal(a->alerts[k].labels[0].value, b->alerts[k].labels[0].value);
            }
        } else {
            assert_null(a);
            assert_int_equal(ra, WEBHOOK_ESCHEMA);
        }
        webhook_free(a);
        webhook_free(b);
        free(body);
    }
    jdoc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fixture_truncated_firing, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_fixture_firing_then_resolved, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_bad_corpus, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_parse_with_reuse, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_bad_inline, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_bad_value_quoted_short, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_wrong_types_everywhere, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_optional_fields, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_fingerprint_computed_or_kept, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_cap_alerts, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_cap_labels, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_cap_label_sizes, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_cap_strings, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_cap_depth, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_parse_json_entry, setup_pool, teardown_pool),
        cmocka_unit_test(test_rca_dataset),
        cmocka_unit_test_setup_teardown(test_samples, setup_pool, teardown_pool),
        cmocka_unit_test(test_every_allocation_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
