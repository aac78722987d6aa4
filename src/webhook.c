/* webhook.c - Alertmanager v4 webhook body -> struct webhook.
 *
 * jansson decodes the body; this file walks the tree twice with the same
 * code. The first walk (ctx.pool == NULL) checks everything (types, caps,
 * times, fingerprints) and allocates nothing; the second interns strings
 * and fills the struct, and can only fail for lack of memory. So a rejected
 * body never grows the caller's intern pool, and every schema error comes
 * from one place. The tree is dropped as soon as the struct is built: a
 * jansson tree costs ~3 KB per alert, the struct ~100 B plus its labels.
 *
 * Errors carry the JSON path of the offending value ("$.alerts[3].startsAt")
 * in qerr.source. Paths and messages are plain printable ASCII: anything
 * else from the input is escaped, so the HTTP layer can put them in a JSON
 * error body and a log line as they are. */
#include "webhook.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

/* Bytes of an offending input value quoted in an error message. */
#define QUOTE_MAX 64

struct ctx {
    struct intern *pool;     /* NULL during the validation walk */
    struct qerr *err;
    char path[sizeof ((struct qerr *)0)->source];
    size_t plen;
};

/* ---- error text -------------------------------------------------------- */

/* Append S[0..len) to BUF (capacity CAP, *POS used) as printable ASCII:
 * '"' and '\\' escaped, other bytes outside 0x20..0x7e as \xNN. Stops at the
 * first byte that does not fit whole, so an escape is never cut. Returns
 * how many input bytes were consumed. */
static size_t esc_append(char *buf, size_t cap, size_t *pos, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char tmp[4];
        size_t n;

        if (ch == '"' || ch == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)ch;
            n = 2;
        } else if (ch < 0x20 || ch > 0x7e) {
            tmp[0] = '\\';
            tmp[1] = 'x';
            tmp[2] = hex[ch >> 4];
            tmp[3] = hex[ch & 0xF];
            n = 4;
        } else {
            tmp[0] = (char)ch;
            n = 1;
        }
        if (*pos + n >= cap)
            break;
        memcpy(buf + *pos, tmp, n);
        *pos += n;
    }
    buf[*pos] = '\0';
    return i;
}

/* "\"value\"" (escaped, cut at QUOTE_MAX bytes with "...") into OUT. */
static const char *quote(char *out, size_t cap, const char *s, size_t len)
{
    size_t pos = 0, take = len > QUOTE_MAX ? QUOTE_MAX : len;

    out[pos++] = '"';
    esc_append(out, cap - 4, &pos, s, take);
    if (take < len)
        esc_append(out, cap - 1, &pos, "...", 3);
    out[pos++] = '"';
    out[pos] = '\0';
    return out;
}

static const char *jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "an object";
    case JSON_ARRAY:   return "an array";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL:    return "a real number";
    case JSON_TRUE:    return "true";
    case JSON_FALSE:   return "false";
    case JSON_NULL:    return "null";
    }
    return "an unknown value";
}

static int schema(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int schema(struct ctx *c, const char *fmt, ...)
{
    va_list ap;

    if (c->err != NULL) {
        memcpy(c->err->source, c->path, c->plen + 1);
        c->err->line = 0;
        c->err->column = 0;
        va_start(ap, fmt);
        vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
        va_end(ap);
    }
    return WEBHOOK_ESCHEMA;
}

static int nomem(struct ctx *c)
{
    qerr_set(c->err, c->path, 0, 0, "out of memory");
    return WEBHOOK_ENOMEM;
}

/* ---- JSON path --------------------------------------------------------- */

static int is_ident(const char *k)
{
    if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
        return 0;
    for (k++; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'
              || (*k >= '0' && *k <= '9')))
            return 0;
    return 1;
}

/* Append S to the path as is, only if it fits whole. */
static void path_raw(struct ctx *c, const char *s)
{
    size_t n = strlen(s);

    if (c->plen + n < sizeof c->path) {
        memcpy(c->path + c->plen, s, n + 1);
        c->plen += n;
    }
}

/* Append ".key" or "[\"key\"]" to the path; returns the length to pop back
 * to. A path past sizeof path is cut short, never overflowed. */
static size_t path_key(struct ctx *c, const char *key)
{
    size_t old = c->plen;

    if (is_ident(key)) {
        path_raw(c, ".");
        esc_append(c->path, sizeof c->path, &c->plen, key, strlen(key));
    } else {
        path_raw(c, "[\"");
        esc_append(c->path, sizeof c->path - 2, &c->plen, key, strlen(key));
        path_raw(c, "\"]");
    }
    return old;
}

static size_t path_index(struct ctx *c, size_t i)
{
    size_t old = c->plen;
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "[%zu]", i);

    esc_append(c->path, sizeof c->path, &c->plen, tmp, (size_t)n);
    return old;
}

static void path_pop(struct ctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

/* ---- fields ------------------------------------------------------------ */

/* Member KEY of object OBJ into *out: NULL when absent, or when null and
 * OPTIONAL (Go encodes a nil map or pointer as null). A missing required
 * key is an error naming the key's path. */
static int member(struct ctx *c, const json_t *obj, const char *key, int required,
                  const json_t **out)
{
    const json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || (json_is_null(v) && !required)) {
        if (required) {
            size_t old = path_key(c, key);
            int rc = schema(c, "required key \"%s\" is missing", key);
            path_pop(c, old);
            return rc;
        }
        return 0;
    }
    *out = v;
    return 0;
}

/* Intern S[0..n) into *out (build walk only). */
static int put(struct ctx *c, const char *s, size_t n, const char **out)
{
    if (c->pool == NULL)
        return 0;
    *out = intern_str(c->pool, s, n);
    return *out == NULL ? nomem(c) : 0;
}

/* String member KEY of at most MAX bytes into *s and *n; *s is NULL when an
 * optional key is absent. */
static int get_string(struct ctx *c, const json_t *obj, const char *key, int required,
                      size_t max, const char **s, size_t *n)
{
    const json_t *v;
    size_t old;
    int rc = member(c, obj, key, required, &v);

    *s = NULL;
    *n = 0;
    if (rc != 0 || v == NULL)
        return rc;
    old = path_key(c, key);
    if (!json_is_string(v)) {
        rc = schema(c, "expected a string, got %s", jtype(v));
    } else if (json_string_length(v) > max) {
        rc = schema(c, "string of %zu bytes exceeds %s (%zu)", json_string_length(v),
                    max == QUENCH_MAX_LABEL_VALUE ? "QUENCH_MAX_LABEL_VALUE"
                                                  : "QUENCH_MAX_WEBHOOK_STRING", max);
    } else {
        *s = json_string_value(v);
        *n = json_string_length(v);
    }
    path_pop(c, old);
    return rc;
}

/* Interned string member; "" when an optional key is absent. */
static int get_interned(struct ctx *c, const json_t *obj, const char *key, int required,
                        const char **out)
{
    const char *s;
    size_t n;
    int rc = get_string(c, obj, key, required, QUENCH_MAX_WEBHOOK_STRING, &s, &n);

    if (rc != 0)
        return rc;
    return put(c, s ? s : "", n, out);
}

static int get_status(struct ctx *c, const json_t *obj, enum alert_status *out)
{
    const char *s;
    size_t n;
    char q[QUOTE_MAX * 4 + 8];
    int rc = get_string(c, obj, "status", 1, QUENCH_MAX_WEBHOOK_STRING, &s, &n);

    if (rc != 0)
        return rc;
    if (n == 6 && memcmp(s, "firing", 6) == 0) {
        *out = ALERT_FIRING;
    } else if (n == 8 && memcmp(s, "resolved", 8) == 0) {
        *out = ALERT_RESOLVED;
    } else {
        size_t old = path_key(c, "status");
        rc = schema(c, "expected \"firing\" or \"resolved\", got %s", quote(q, sizeof q, s, n));
        path_pop(c, old);
    }
    return rc;
}

/* RFC 3339 time member into *ms; ALERT_NO_END when an optional key is
 * absent or Go's zero time. A required time (startsAt) must be a real one. */
static int get_time(struct ctx *c, const json_t *obj, const char *key, int required,
                    int64_t *ms)
{
    const char *s;
    size_t n, old;
    char q[QUOTE_MAX * 4 + 8];
    int rc = get_string(c, obj, key, required, QUENCH_MAX_WEBHOOK_STRING, &s, &n);

    *ms = ALERT_NO_END;
    if (rc != 0 || s == NULL)
        return rc;
    old = path_key(c, key);
    if (alert_time_parse(s, n, ms) != 0)
        rc = schema(c, "expected an RFC 3339 time, got %s", quote(q, sizeof q, s, n));
    else if (required && *ms == ALERT_NO_END)
        rc = schema(c, "expected a real time, got Go's zero time %s", quote(q, sizeof q, s, n));
    path_pop(c, old);
    return rc;
}

/* Object-of-strings member KEY into a sorted label array. KIND ("label",
 * "annotation") names the pairs in error messages. */
static int get_labels(struct ctx *c, const json_t *obj, const char *key, int required,
                      const char *kind, struct label **out, uint16_t *nout)
{
    const json_t *v;
    struct label *arr = NULL;
    size_t n = 0, old, i = 0;
    void *it;
    int rc = member(c, obj, key, required, &v);

    *out = NULL;
    *nout = 0;
    if (rc != 0 || v == NULL)
        return rc;
    old = path_key(c, key);
    if (!json_is_object(v)) {
        rc = schema(c, "expected an object of %ss, got %s", kind, jtype(v));
        goto out;
    }
    n = json_object_size(v);
    if (n > QUENCH_MAX_LABELS) {
        rc = schema(c, "%zu %ss exceed QUENCH_MAX_LABELS (%d)", n, kind, QUENCH_MAX_LABELS);
        goto out;
    }
    if (n == 0)
        goto out;
    if (c->pool != NULL) {
        arr = malloc(n * sizeof *arr);
        if (arr == NULL) {
            rc = nomem(c);
            goto out;
        }
    }
    /* jansson iterates a non-const object; the walk only reads it. */
    for (it = json_object_iter((json_t *)v); it != NULL;
         it = json_object_iter_next((json_t *)v, it), i++) {
        const char *name = json_object_iter_key(it);
        const json_t *val = json_object_iter_value(it);
        size_t nlen = strlen(name), kold = path_key(c, name);

        if (nlen == 0)
            rc = schema(c, "empty %s name", kind);
        else if (nlen > QUENCH_MAX_LABEL_NAME)
            rc = schema(c, "%s name of %zu bytes exceeds QUENCH_MAX_LABEL_NAME (%d)", kind,
                        nlen, QUENCH_MAX_LABEL_NAME);
        else if (!json_is_string(val))
            rc = schema(c, "expected a string %s value, got %s", kind, jtype(val));
        else if (json_string_length(val) > QUENCH_MAX_LABEL_VALUE)
            rc = schema(c, "%s value of %zu bytes exceeds QUENCH_MAX_LABEL_VALUE (%u)", kind,
                        json_string_length(val), QUENCH_MAX_LABEL_VALUE);
        if (rc == 0 && arr != NULL) {
            rc = put(c, name, nlen, &arr[i].name);
            if (rc == 0)
                rc = put(c, json_string_value(val), json_string_length(val), &arr[i].value);
        }
        if (rc != 0)
            goto out;
        path_pop(c, kold);
    }
    if (arr != NULL) {
        alert_labels_sort(arr, n);
        *out = arr;
        *nout = (uint16_t)n;
        arr = NULL;
    }
out:
    free(arr);
    path_pop(c, old);
    return rc;
}

/* ---- the document ------------------------------------------------------ */

/* Reject containers nested deeper than QUENCH_MAX_JSON_DEPTH anywhere, read
 * or not. DEPTH is V's level (root = 1); recursion stops at the cap. */
static int check_depth(struct ctx *c, const json_t *v, int depth)
{
    size_t old;
    int rc = 0;

    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (depth > QUENCH_MAX_JSON_DEPTH)
        return schema(c, "JSON nested deeper than QUENCH_MAX_JSON_DEPTH (%d)",
                      QUENCH_MAX_JSON_DEPTH);
    if (json_is_array(v)) {
        for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
            old = path_index(c, i);
            rc = check_depth(c, json_array_get(v, i), depth + 1);
            path_pop(c, old);
        }
        return rc;
    }
    for (void *it = json_object_iter((json_t *)v); rc == 0 && it != NULL;
         it = json_object_iter_next((json_t *)v, it)) {
        old = path_key(c, json_object_iter_key(it));
        rc = check_depth(c, json_object_iter_value(it), depth + 1);
        path_pop(c, old);
    }
    return rc;
}

static int parse_alert(struct ctx *c, const json_t *v, struct alert *a)
{
    const char *fp;
    size_t fplen;
    char q[QUOTE_MAX * 4 + 8];
    int rc;

    if (!json_is_object(v))
        return schema(c, "expected an alert object, got %s", jtype(v));
    rc = get_labels(c, v, "labels", 1, "label", &a->labels, &a->nlabels);
    if (rc == 0)
        rc = get_labels(c, v, "annotations", 0, "annotation", &a->annotations,
                        &a->nannotations);
    if (rc == 0)
        rc = get_status(c, v, &a->status);
    if (rc == 0)
        rc = get_time(c, v, "startsAt", 1, &a->starts_at);
    if (rc == 0)
        rc = get_time(c, v, "endsAt", 0, &a->ends_at);
    if (rc == 0)
        rc = get_interned(c, v, "generatorURL", 0, &a->generator_url);
    if (rc == 0)
        rc = get_string(c, v, "fingerprint", 0, QUENCH_MAX_WEBHOOK_STRING, &fp, &fplen);
    if (rc != 0)
        return rc;
    if (fp == NULL) {
        /* Absent (e.g. hand-written tests): compute it as Alertmanager does. */
        a->fingerprint = alert_fingerprint(a->labels, a->nlabels);
    } else if (fplen != 16 || alert_fingerprint_parse(fp, &a->fingerprint) != 0) {
        size_t old = path_key(c, "fingerprint");
        rc = schema(c, "expected 16 hex digits, got %s", quote(q, sizeof q, fp, fplen));
        path_pop(c, old);
    }
    return rc;
}

static int parse_alerts(struct ctx *c, const json_t *root, struct webhook *w)
{
    const json_t *v;
    size_t n, old;
    int rc = member(c, root, "alerts", 1, &v);

    if (rc != 0)
        return rc;
    old = path_key(c, "alerts");
    if (!json_is_array(v)) {
        rc = schema(c, "expected an array of alerts, got %s", jtype(v));
        goto out;
    }
    n = json_array_size(v);
    if (n > QUENCH_MAX_ALERTS_PER_WEBHOOK) {
        rc = schema(c, "%zu alerts exceed QUENCH_MAX_ALERTS_PER_WEBHOOK (%d)", n,
                    QUENCH_MAX_ALERTS_PER_WEBHOOK);
        goto out;
    }
    if (c->pool != NULL && n > 0) {
        w->alerts = calloc(n, sizeof *w->alerts);
        if (w->alerts == NULL) {
            rc = nomem(c);
            goto out;
        }
        w->nalerts = n;   /* zeroed alerts clean up as no-ops */
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct alert scratch = {0};
        size_t iold = path_index(c, i);

        rc = parse_alert(c, json_array_get(v, i), c->pool != NULL ? &w->alerts[i] : &scratch);
        path_pop(c, iold);
    }
out:
    path_pop(c, old);
    return rc;
}

static int parse_version(struct ctx *c, const json_t *root)
{
    const char *s;
    size_t n, old;
    char q[QUOTE_MAX * 4 + 8];
    int rc = get_string(c, root, "version", 1, QUENCH_MAX_WEBHOOK_STRING, &s, &n);

    if (rc != 0)
        return rc;
    if (n == 1 && s[0] == '4')
        return 0;
    old = path_key(c, "version");
    rc = schema(c, "unsupported webhook version %s, expected \"4\"", quote(q, sizeof q, s, n));
    path_pop(c, old);
    return rc;
}

static int parse_truncated(struct ctx *c, const json_t *root, int64_t *out)
{
    const json_t *v;
    size_t old;
    int rc = member(c, root, "truncatedAlerts", 0, &v);

    *out = 0;
    if (rc != 0 || v == NULL)
        return rc;
    old = path_key(c, "truncatedAlerts");
    if (!json_is_integer(v))
        rc = schema(c, "expected a non-negative integer, got %s", jtype(v));
    else if (json_integer_value(v) < 0)
        rc = schema(c, "expected a non-negative integer, got %" JSON_INTEGER_FORMAT,
                    json_integer_value(v));
    else
        *out = json_integer_value(v);
    path_pop(c, old);
    return rc;
}

/* One walk over ROOT. With c->pool NULL it only validates and W may be a
 * scratch struct; otherwise it fills W, whose arrays webhook_free frees. */
static int walk(struct ctx *c, const json_t *root, struct webhook *w)
{
    int rc;

    if (!json_is_object(root))
        return schema(c, "expected a webhook object, got %s", jtype(root));
    /* Version first: a v3 body should be told so, not about some field. */
    rc = parse_version(c, root);
    if (rc == 0)
        rc = get_interned(c, root, "receiver", 1, &w->receiver);
    if (rc == 0)
        rc = get_status(c, root, &w->status);
    if (rc == 0)
        rc = get_interned(c, root, "groupKey", 1, &w->group_key);
    if (rc == 0)
        rc = get_interned(c, root, "externalURL", 0, &w->external_url);
    if (rc == 0)
        rc = get_interned(c, root, "notification_reason", 0, &w->notification_reason);
    if (rc == 0)
        rc = parse_truncated(c, root, &w->truncated_alerts);
    if (rc == 0)
        rc = get_labels(c, root, "groupLabels", 0, "label", &w->group_labels,
                        &w->ngroup_labels);
    if (rc == 0)
        rc = get_labels(c, root, "commonLabels", 0, "label", &w->common_labels,
                        &w->ncommon_labels);
    if (rc == 0)
        rc = get_labels(c, root, "commonAnnotations", 0, "annotation",
                        &w->common_annotations, &w->ncommon_annotations);
    if (rc == 0)
        rc = get_labels(c, root, "routeLabels", 0, "label", &w->route_labels,
                        &w->nroute_labels);
    if (rc == 0)
        rc = parse_alerts(c, root, w);
    return rc;
}

int webhook_parse_json(struct webhook **out, const json_t *root, struct intern *pool,
                       struct qerr *err)
{
    struct ctx c = {.pool = NULL, .err = err, .path = "$", .plen = 1};
    struct webhook scratch = {0};
    struct webhook *w = NULL;
    int rc;

    *out = NULL;
    if (root == NULL)
        return schema(&c, "no JSON value");
    rc = json_is_object(root) ? check_depth(&c, root, 1) : 0;
    if (rc == 0)
        rc = walk(&c, root, &scratch);
    if (rc != 0)
        return rc;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return nomem(&c);
    c.pool = pool;
    rc = walk(&c, root, w);
    if (rc != 0) {
        webhook_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int webhook_parse(struct webhook **out, const char *buf, size_t len, struct intern *pool,
                  struct qerr *err)
{
    json_error_t jerr;
    json_t *root;
    char text[sizeof jerr.text * 4];
    size_t pos = 0;
    int rc;

    *out = NULL;
    /* JSON_DECODE_ANY: a bare "4" or 17 is valid JSON that is not a
     * webhook (422), not a syntax error (400). */
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        /* jansson's text may quote input bytes; keep the message ASCII. */
        esc_append(text, sizeof text, &pos, jerr.text, strlen(jerr.text));
        /* jansson returns with its error untouched (empty text) only when
         * setting up the lexer failed, which is an allocation. */
        switch (jerr.text[0] == '\0' ? json_error_out_of_memory : json_error_code(&jerr)) {
        case json_error_out_of_memory:
            qerr_set(err, "$", 0, 0, "out of memory");
            return WEBHOOK_ENOMEM;
        case json_error_stack_overflow:
            /* Past jansson's own depth (2048), hence past ours. */
            qerr_set(err, "$", jerr.line, jerr.column,
                     "JSON nested deeper than QUENCH_MAX_JSON_DEPTH (%d)",
                     QUENCH_MAX_JSON_DEPTH);
            return WEBHOOK_ESCHEMA;
        default:
            qerr_set(err, "$", jerr.line, jerr.column, "invalid JSON: %s", text);
            return WEBHOOK_EJSON;
        }
    }
    rc = webhook_parse_json(out, root, pool, err);
    json_decref(root);
    return rc;
}

void webhook_free(struct webhook *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->nalerts; i++)
        alert_cleanup(&w->alerts[i]);
    free(w->alerts);
    free(w->group_labels);
    free(w->common_labels);
    free(w->common_annotations);
    free(w->route_labels);
    free(w);
}
