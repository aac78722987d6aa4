/* webhook.c - Alertmanager v4 webhook body -> struct webhook.
 *
 * jdoc decodes the body (jansson only when jdoc declines: for its error
 * text, or a tree jdoc would not build); one walk over the tree checks everything
 * (types, caps, times, fingerprints) and fills the struct with strings
 * borrowed from the tree; only when the whole body is valid are those
 * strings interned, so a rejected body never grows the caller's intern
 * pool. An allocation that fails during the walk is remembered, not
 * returned: the walk goes on validating, so a body with a schema error is
 * always reported as such, whatever the memory. The tree is dropped as soon
 * as the struct is built: a jansson tree costs ~3 KB per alert, the struct
 * ~100 B plus its labels.
 *
 * Each object is read in one pass over its members (no hash lookup per
 * field); the fields are then checked in a fixed order, so the first error
 * reported does not depend on the order of keys in the body.
 *
 * Errors carry the JSON path of the offending value ("$.alerts[3].startsAt")
 * in qerr.source. The walk keeps the path as a chain of `struct seg` on the
 * C stack and formats it only when it reports an error. Paths and messages
 * are plain printable ASCII: anything else from the input is escaped, so
 * the HTTP layer can put them in a JSON error body and a log line as they
 * are.
 *
 * Depth: containers nested deeper than QUENCH_MAX_JSON_DEPTH anywhere are
 * an error that wins over every other. The decoder knows how deep the
 * document goes, so a document within the cap (every real webhook) is never
 * walked for depth. Otherwise the walk depth-checks the members it does not
 * read (what it reads is shallow by construction); on any error, the whole
 * tree is checked again in document order so the report is the same as if
 * depth had been checked first.
 *
 * Validation only (webhook_check, for ingest) is the same walk with no
 * array allocated and nothing interned. */
#include "webhook.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jdoc.h"
#include "limits.h"

/* Bytes of an offending input value quoted in an error message. */
#define QUOTE_MAX 64

#define SOURCE_CAP sizeof ((struct qerr *)0)->source

/* The walk found a container nested too deep but formatted no error: the
 * caller re-checks the whole tree for the first such container. */
#define TOO_DEEP (-100)

/* One step of a JSON path, on the C stack; the chain up to NULL (the root,
 * "$") is the path of a value. */
struct seg {
    const struct seg *up;
    const char *key;        /* member name (klen bytes), NULL for an index */
    size_t klen;
    size_t idx;
};

struct ctx {
    struct qerr *err;
    int noalloc;             /* validating only, or out of memory: allocate no more */
    int oom;                 /* an allocation failed */
    int deep;                /* the document may nest past QUENCH_MAX_JSON_DEPTH */
    char oom_path[SOURCE_CAP];
};

/* A member the walk reads: its name and the name's length. */
struct field {
    const char *name;
    size_t len;
};

#define FIELD(s) {s, sizeof s - 1}

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

static const char *jtype(const struct jval *v)
{
    switch ((enum jdoc_type)v->type) {
    case JDOC_OBJECT:  return "an object";
    case JDOC_ARRAY:   return "an array";
    case JDOC_STRING:  return "a string";
    case JDOC_INTEGER: return "an integer";
    case JDOC_REAL:    return "a real number";
    case JDOC_TRUE:    return "true";
    case JDOC_FALSE:   return "false";
    case JDOC_NULL:    return "null";
    }
    return "an unknown value";
}

/* ---- JSON path --------------------------------------------------------- */

static int is_ident(const char *k, size_t n)
{
    if (n == 0 || !((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') || k[i] == '_'
              || (k[i] >= '0' && k[i] <= '9')))
            return 0;
    return 1;
}

/* Append S to BUF as is, only if it fits whole. */
static void path_raw(char *buf, size_t *pos, const char *s, size_t n)
{
    if (*pos + n < SOURCE_CAP) {
        memcpy(buf + *pos, s, n + 1);
        *pos += n;
    }
}

/* The path of S into BUF (SOURCE_CAP bytes): "$", then ".key",
 * "[\"key\"]" or "[i]" per step from the root. A path past SOURCE_CAP is
 * cut short, never overflowed; an escape is never cut. */
static void path_fmt(const struct seg *s, char *buf, size_t *pos)
{
    char tmp[32];
    int n;

    if (s == NULL) {
        buf[0] = '$';
        buf[1] = '\0';
        *pos = 1;
        return;
    }
    path_fmt(s->up, buf, pos);
    if (s->key == NULL) {
        n = snprintf(tmp, sizeof tmp, "[%zu]", s->idx);
        esc_append(buf, SOURCE_CAP, pos, tmp, (size_t)n);
    } else if (is_ident(s->key, s->klen)) {
        path_raw(buf, pos, ".", 1);
        esc_append(buf, SOURCE_CAP, pos, s->key, s->klen);
    } else {
        path_raw(buf, pos, "[\"", 2);
        esc_append(buf, SOURCE_CAP - 2, pos, s->key, s->klen);
        path_raw(buf, pos, "\"]", 2);
    }
}

static int schema(struct ctx *c, const struct seg *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int schema(struct ctx *c, const struct seg *at, const char *fmt, ...)
{
    va_list ap;
    size_t pos;

    if (c->err != NULL) {
        path_fmt(at, c->err->source, &pos);
        c->err->line = 0;
        c->err->column = 0;
        va_start(ap, fmt);
        vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
        va_end(ap);
    }
    return WEBHOOK_ESCHEMA;
}

/* An allocation for the value at AT failed: note where (the first time)
 * and allocate nothing more; the walk goes on validating. */
static void oom_at(struct ctx *c, const struct seg *at)
{
    size_t pos;

    if (!c->oom)
        path_fmt(at, c->oom_path, &pos);
    c->oom = 1;
    c->noalloc = 1;
}

static int nomem(struct qerr *err, const struct seg *at)
{
    char path[SOURCE_CAP];
    size_t pos;

    path_fmt(at, path, &pos);
    qerr_set(err, path, 0, 0, "out of memory");
    return WEBHOOK_ENOMEM;
}

/* ---- depth ------------------------------------------------------------- */

/* True if V, at level DEPTH (root = 1), is or holds a container past
 * QUENCH_MAX_JSON_DEPTH. Recursion stops at the cap. */
static int is_container(const struct jval *v)
{
    return v->type == JDOC_OBJECT || v->type == JDOC_ARRAY;
}

static int too_deep(const struct jval *v, int depth)
{
    if (!is_container(v))
        return 0;
    if (depth > QUENCH_MAX_JSON_DEPTH)
        return 1;
    for (uint32_t i = 0; i < v->n; i++)
        if (too_deep(&v->u.kids[i], depth + 1))
            return 1;
    return 0;
}

/* The first container past the cap in document order, as an error at its
 * path; 0 if there is none. */
static int check_depth(struct ctx *c, const struct seg *at, const struct jval *v, int depth)
{
    int rc = 0;

    if (!is_container(v))
        return 0;
    if (depth > QUENCH_MAX_JSON_DEPTH)
        return schema(c, at, "JSON nested deeper than QUENCH_MAX_JSON_DEPTH (%d)",
                      QUENCH_MAX_JSON_DEPTH);
    for (uint32_t i = 0; rc == 0 && i < v->n; i++) {
        const struct jval *k = &v->u.kids[i];
        /* An array's children have no key: the step is then the index. */
        struct seg s = {at, k->key, k->klen, i};

        rc = check_depth(c, &s, k, depth + 1);
    }
    return rc;
}

/* ---- fields ------------------------------------------------------------ */

/* OBJ's members named in F[0..nf) into SLOT[0..nf) (NULL when absent), in
 * one pass. The others are not read, only depth-checked at DEPTH + 1
 * (OBJ's level is DEPTH) when the document may be too deep: 0, or
 * TOO_DEEP. */
static int members(const struct ctx *c, const struct jval *obj, int depth,
                   const struct field *f, size_t nf, const struct jval **slot)
{
    for (size_t j = 0; j < nf; j++)
        slot[j] = NULL;
    for (uint32_t i = 0; i < obj->n; i++) {
        const struct jval *v = &obj->u.kids[i];
        size_t j;

        for (j = 0; j < nf; j++)
            if (f[j].len == v->klen && memcmp(f[j].name, v->key, v->klen) == 0)
                break;
        if (j < nf)
            slot[j] = v;
        else if (c->deep && too_deep(v, depth + 1))
            return TOO_DEEP;
    }
    return 0;
}

/* Member F of the object at AT, found as V, into *out: NULL when absent, or
 * when null and optional (Go encodes a nil map or pointer as null). A
 * missing required key is an error naming the key's path. */
static int member(struct ctx *c, const struct seg *at, const struct field *f,
                  const struct jval *v, int required, const struct jval **out)
{
    *out = NULL;
    if (v == NULL || (v->type == JDOC_NULL && !required)) {
        if (required) {
            struct seg s = {at, f->name, f->len, 0};
            return schema(c, &s, "required key \"%s\" is missing", f->name);
        }
        return 0;
    }
    *out = v;
    return 0;
}

/* String member F (found as V) of at most MAX bytes into *s and *n; *s is
 * NULL when an optional key is absent. */
static int get_string(struct ctx *c, const struct seg *at, const struct field *f,
                      const struct jval *v, int required, size_t max, const char **s, size_t *n)
{
    struct seg here = {at, f->name, f->len, 0};
    int rc = member(c, at, f, v, required, &v);

    *s = NULL;
    *n = 0;
    if (rc != 0 || v == NULL)
        return rc;
    if (v->type != JDOC_STRING)
        return schema(c, &here, "expected a string, got %s", jtype(v));
    *n = v->n;
    if (*n > max) {
        rc = schema(c, &here, "string of %zu bytes exceeds %s (%zu)", *n,
                    max == QUENCH_MAX_LABEL_VALUE ? "QUENCH_MAX_LABEL_VALUE"
                                                  : "QUENCH_MAX_WEBHOOK_STRING", max);
        *n = 0;
        return rc;
    }
    *s = v->u.str;
    return 0;
}

/* String member into *out, borrowed from the tree until interned; "" when
 * an optional key is absent. */
static int get_text(struct ctx *c, const struct seg *at, const struct field *f,
                    const struct jval *v, int required, const char **out)
{
    const char *s;
    size_t n;
    int rc = get_string(c, at, f, v, required, QUENCH_MAX_WEBHOOK_STRING, &s, &n);

    if (rc == 0)
        *out = s != NULL ? s : "";
    return rc;
}

static int get_status(struct ctx *c, const struct seg *at, const struct jval *v,
                      enum alert_status *out)
{
    static const struct field f = FIELD("status");
    struct seg here = {at, f.name, f.len, 0};
    const char *s;
    size_t n;
    char q[QUOTE_MAX * 4 + 8];
    int rc = get_string(c, at, &f, v, 1, QUENCH_MAX_WEBHOOK_STRING, &s, &n);

    if (rc != 0)
        return rc;
    if (n == 6 && memcmp(s, "firing", 6) == 0)
        *out = ALERT_FIRING;
    else if (n == 8 && memcmp(s, "resolved", 8) == 0)
        *out = ALERT_RESOLVED;
    else
        rc = schema(c, &here, "expected \"firing\" or \"resolved\", got %s",
                    quote(q, sizeof q, s, n));
    return rc;
}

/* RFC 3339 time member into *ms; ALERT_NO_END when an optional key is
 * absent or Go's zero time. A required time (startsAt) must be a real one. */
static int get_time(struct ctx *c, const struct seg *at, const struct field *f,
                    const struct jval *v, int required, int64_t *ms)
{
    struct seg here = {at, f->name, f->len, 0};
    const char *s;
    size_t n;
    char q[QUOTE_MAX * 4 + 8];
    int rc = get_string(c, at, f, v, required, QUENCH_MAX_WEBHOOK_STRING, &s, &n);

    *ms = ALERT_NO_END;
    if (rc != 0 || s == NULL)
        return rc;
    if (alert_time_parse(s, n, ms) != 0)
        rc = schema(c, &here, "expected an RFC 3339 time, got %s", quote(q, sizeof q, s, n));
    else if (required && *ms == ALERT_NO_END)
        rc = schema(c, &here, "expected a real time, got Go's zero time %s",
                    quote(q, sizeof q, s, n));
    return rc;
}

/* Object-of-strings member F (found as V) into a label array sorted by
 * name, strings borrowed from the tree. KIND ("label", "annotation") names
 * the pairs in error messages. No array is allocated once c->oom is set. */
static int get_labels(struct ctx *c, const struct seg *at, const struct field *f,
                      const struct jval *v, int required, const char *kind,
                      struct label **out, uint16_t *nout)
{
    struct seg here = {at, f->name, f->len, 0};
    struct label *arr = NULL;
    size_t n, i = 0;
    int rc = member(c, at, f, v, required, &v);

    *out = NULL;
    *nout = 0;
    if (rc != 0 || v == NULL)
        return rc;
    if (v->type != JDOC_OBJECT)
        return schema(c, &here, "expected an object of %ss, got %s", kind, jtype(v));
    n = v->n;
    if (n > QUENCH_MAX_LABELS)
        return schema(c, &here, "%zu %ss exceed QUENCH_MAX_LABELS (%d)", n, kind,
                      QUENCH_MAX_LABELS);
    if (n == 0)
        return 0;
    if (!c->noalloc) {
        arr = malloc(n * sizeof *arr);
        if (arr == NULL)
            oom_at(c, &here);
    }
    for (i = 0; i < n; i++) {
        const struct jval *val = &v->u.kids[i];
        const char *name = val->key;
        size_t nlen = val->klen;
        struct seg ks = {&here, name, nlen, 0};

        if (nlen == 0)
            rc = schema(c, &ks, "empty %s name", kind);
        else if (nlen > QUENCH_MAX_LABEL_NAME)
            rc = schema(c, &ks, "%s name of %zu bytes exceeds QUENCH_MAX_LABEL_NAME (%d)",
                        kind, nlen, QUENCH_MAX_LABEL_NAME);
        else if (val->type != JDOC_STRING)
            rc = schema(c, &ks, "expected a string %s value, got %s", kind, jtype(val));
        else if (val->n > QUENCH_MAX_LABEL_VALUE)
            rc = schema(c, &ks, "%s value of %zu bytes exceeds QUENCH_MAX_LABEL_VALUE (%u)",
                        kind, (size_t)val->n, QUENCH_MAX_LABEL_VALUE);
        if (rc != 0) {
            free(arr);
            return rc;
        }
        if (arr != NULL) {
            arr[i].name = name;
            arr[i].value = val->u.str;
        }
    }
    if (arr != NULL) {
        alert_labels_sort(arr, n);
        *out = arr;
        *nout = (uint16_t)n;
    }
    return 0;
}

/* ---- the document ------------------------------------------------------ */

enum { A_LABELS, A_ANNOTATIONS, A_STATUS, A_STARTS_AT, A_ENDS_AT, A_GENERATOR_URL,
       A_FINGERPRINT, A_COUNT };

static const struct field alert_fields[A_COUNT] = {
    [A_LABELS] = FIELD("labels"),
    [A_ANNOTATIONS] = FIELD("annotations"),
    [A_STATUS] = FIELD("status"),
    [A_STARTS_AT] = FIELD("startsAt"),
    [A_ENDS_AT] = FIELD("endsAt"),
    [A_GENERATOR_URL] = FIELD("generatorURL"),
    [A_FINGERPRINT] = FIELD("fingerprint"),
};

/* Alert V (at AT, level DEPTH) into *A. */
static int parse_alert(struct ctx *c, const struct seg *at, int depth, const struct jval *v,
                       struct alert *a)
{
    const struct field *f = alert_fields;
    const struct jval *m[A_COUNT];
    const char *fp;
    size_t fplen;
    char q[QUOTE_MAX * 4 + 8];
    int rc;

    if (v->type != JDOC_OBJECT)
        return schema(c, at, "expected an alert object, got %s", jtype(v));
    rc = members(c, v, depth, f, A_COUNT, m);
    if (rc == 0)
        rc = get_labels(c, at, &f[A_LABELS], m[A_LABELS], 1, "label", &a->labels,
                        &a->nlabels);
    if (rc == 0)
        rc = get_labels(c, at, &f[A_ANNOTATIONS], m[A_ANNOTATIONS], 0, "annotation",
                        &a->annotations, &a->nannotations);
    if (rc == 0)
        rc = get_status(c, at, m[A_STATUS], &a->status);
    if (rc == 0)
        rc = get_time(c, at, &f[A_STARTS_AT], m[A_STARTS_AT], 1, &a->starts_at);
    if (rc == 0)
        rc = get_time(c, at, &f[A_ENDS_AT], m[A_ENDS_AT], 0, &a->ends_at);
    if (rc == 0)
        rc = get_text(c, at, &f[A_GENERATOR_URL], m[A_GENERATOR_URL], 0, &a->generator_url);
    if (rc == 0)
        rc = get_string(c, at, &f[A_FINGERPRINT], m[A_FINGERPRINT], 0,
                        QUENCH_MAX_WEBHOOK_STRING, &fp, &fplen);
    if (rc != 0)
        return rc;
    if (fp == NULL) {
        /* Absent (e.g. hand-written tests): compute it as Alertmanager does.
         * The labels are sorted and, borrowed or interned, the same bytes. */
        a->fingerprint = alert_fingerprint(a->labels, a->nlabels);
    } else if (fplen != 16 || alert_fingerprint_parse(fp, &a->fingerprint) != 0) {
        struct seg here = {at, f[A_FINGERPRINT].name, f[A_FINGERPRINT].len, 0};
        rc = schema(c, &here, "expected 16 hex digits, got %s", quote(q, sizeof q, fp, fplen));
    }
    return rc;
}

static int parse_alerts(struct ctx *c, const struct field *f, const struct jval *v,
                        struct webhook *w)
{
    struct seg here = {NULL, f->name, f->len, 0};
    size_t n;
    int rc = member(c, NULL, f, v, 1, &v);

    if (rc != 0)
        return rc;
    if (v->type != JDOC_ARRAY)
        return schema(c, &here, "expected an array of alerts, got %s", jtype(v));
    n = v->n;
    if (n > QUENCH_MAX_ALERTS_PER_WEBHOOK)
        return schema(c, &here, "%zu alerts exceed QUENCH_MAX_ALERTS_PER_WEBHOOK (%d)", n,
                      QUENCH_MAX_ALERTS_PER_WEBHOOK);
    if (!c->noalloc && n > 0) {
        w->alerts = calloc(n, sizeof *w->alerts);
        if (w->alerts == NULL)
            oom_at(c, &here);
        else
            w->nalerts = n;   /* zeroed alerts clean up as no-ops */
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct alert scratch = {0};
        struct seg s = {&here, NULL, 0, i};

        /* Without the array (validating, or out of memory) the alert is
         * only validated; c->noalloc is set, so scratch gets no arrays to
         * leak. */
        rc = parse_alert(c, &s, 3, &v->u.kids[i],
                         w->alerts != NULL ? &w->alerts[i] : &scratch);
    }
    return rc;
}

static int parse_version(struct ctx *c, const struct field *f, const struct jval *v)
{
    struct seg here = {NULL, f->name, f->len, 0};
    const char *s;
    size_t n;
    char q[QUOTE_MAX * 4 + 8];
    int rc = get_string(c, NULL, f, v, 1, QUENCH_MAX_WEBHOOK_STRING, &s, &n);

    if (rc != 0)
        return rc;
    if (n == 1 && s[0] == '4')
        return 0;
    return schema(c, &here, "unsupported webhook version %s, expected \"4\"",
                  quote(q, sizeof q, s, n));
}

static int parse_truncated(struct ctx *c, const struct field *f, const struct jval *v,
                           int64_t *out)
{
    struct seg here = {NULL, f->name, f->len, 0};
    int rc = member(c, NULL, f, v, 0, &v);

    *out = 0;
    if (rc != 0 || v == NULL)
        return rc;
    if (v->type != JDOC_INTEGER)
        return schema(c, &here, "expected a non-negative integer, got %s", jtype(v));
    if (v->u.integer < 0)
        return schema(c, &here, "expected a non-negative integer, got %lld", v->u.integer);
    *out = v->u.integer;
    return 0;
}

enum { R_VERSION, R_RECEIVER, R_STATUS, R_GROUP_KEY, R_EXTERNAL_URL, R_REASON, R_TRUNCATED,
       R_GROUP_LABELS, R_COMMON_LABELS, R_COMMON_ANNOTATIONS, R_ROUTE_LABELS, R_ALERTS,
       R_COUNT };

static const struct field root_fields[R_COUNT] = {
    [R_VERSION] = FIELD("version"),
    [R_RECEIVER] = FIELD("receiver"),
    [R_STATUS] = FIELD("status"),
    [R_GROUP_KEY] = FIELD("groupKey"),
    [R_EXTERNAL_URL] = FIELD("externalURL"),
    [R_REASON] = FIELD("notification_reason"),
    [R_TRUNCATED] = FIELD("truncatedAlerts"),
    [R_GROUP_LABELS] = FIELD("groupLabels"),
    [R_COMMON_LABELS] = FIELD("commonLabels"),
    [R_COMMON_ANNOTATIONS] = FIELD("commonAnnotations"),
    [R_ROUTE_LABELS] = FIELD("routeLabels"),
    [R_ALERTS] = FIELD("alerts"),
};

/* The one walk over ROOT (an object), filling W with borrowed strings. */
static int walk(struct ctx *c, const struct jval *root, struct webhook *w)
{
    const struct field *f = root_fields;
    const struct jval *m[R_COUNT];
    int rc = members(c, root, 1, f, R_COUNT, m);

    /* Version first: a v3 body should be told so, not about some field. */
    if (rc == 0)
        rc = parse_version(c, &f[R_VERSION], m[R_VERSION]);
    if (rc == 0)
        rc = get_text(c, NULL, &f[R_RECEIVER], m[R_RECEIVER], 1, &w->receiver);
    if (rc == 0)
        rc = get_status(c, NULL, m[R_STATUS], &w->status);
    if (rc == 0)
        rc = get_text(c, NULL, &f[R_GROUP_KEY], m[R_GROUP_KEY], 1, &w->group_key);
    if (rc == 0)
        rc = get_text(c, NULL, &f[R_EXTERNAL_URL], m[R_EXTERNAL_URL], 0, &w->external_url);
    if (rc == 0)
        rc = get_text(c, NULL, &f[R_REASON], m[R_REASON], 0, &w->notification_reason);
    if (rc == 0)
        rc = parse_truncated(c, &f[R_TRUNCATED], m[R_TRUNCATED], &w->truncated_alerts);
    if (rc == 0)
        rc = get_labels(c, NULL, &f[R_GROUP_LABELS], m[R_GROUP_LABELS], 0, "label",
                        &w->group_labels, &w->ngroup_labels);
    if (rc == 0)
        rc = get_labels(c, NULL, &f[R_COMMON_LABELS], m[R_COMMON_LABELS], 0, "label",
                        &w->common_labels, &w->ncommon_labels);
    if (rc == 0)
        rc = get_labels(c, NULL, &f[R_COMMON_ANNOTATIONS], m[R_COMMON_ANNOTATIONS], 0,
                        "annotation", &w->common_annotations, &w->ncommon_annotations);
    if (rc == 0)
        rc = get_labels(c, NULL, &f[R_ROUTE_LABELS], m[R_ROUTE_LABELS], 0, "label",
                        &w->route_labels, &w->nroute_labels);
    if (rc == 0)
        rc = parse_alerts(c, &f[R_ALERTS], m[R_ALERTS], w);
    return rc;
}

/* ---- interning --------------------------------------------------------- */

/* Label names, and many values, repeat from alert to alert of a webhook:
 * a small direct-mapped cache of what this webhook already interned saves
 * intern_str's keyed hash for them. A collision only costs a miss. */
#define ICACHE_SLOTS 64

struct icache {
    struct {
        const char *s;       /* pooled copy, NULL when empty */
        size_t len;
    } e[ICACHE_SLOTS];
};

/* The pooled copy of S[0..len), or NULL on OOM. */
static const char *cached(struct intern *pool, struct icache *ic, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t h = len == 0 ? 0 : (len * 7 + u[0] + u[len - 1] * 3u + u[len / 2] * 5u)
                                   % ICACHE_SLOTS;
    const char *p;

    if (ic->e[h].s != NULL && ic->e[h].len == len && memcmp(ic->e[h].s, s, len) == 0)
        return ic->e[h].s;
    p = intern_str(pool, s, len);
    if (p != NULL) {
        ic->e[h].s = p;
        ic->e[h].len = len;
    }
    return p;
}

/* Replace the borrowed *S by its pooled copy. AT names it for an error. */
static int put(struct intern *pool, struct icache *ic, const char **s, struct qerr *err,
               const struct seg *at)
{
    const char *p = cached(pool, ic, *s, strlen(*s));

    if (p == NULL)
        return nomem(err, at);
    *s = p;
    return 0;
}

static int put_labels(struct intern *pool, struct icache *ic, struct label *l, size_t n,
                      struct qerr *err, const struct seg *at)
{
    for (size_t i = 0; i < n; i++) {
        struct seg s = {at, l[i].name, strlen(l[i].name), 0};
        const char *name = cached(pool, ic, l[i].name, s.klen);
        const char *value = name == NULL ? NULL : cached(pool, ic, l[i].value,
                                                         strlen(l[i].value));

        if (value == NULL)
            return nomem(err, &s);
        l[i].name = name;
        l[i].value = value;
    }
    return 0;
}

/* Intern every string of W, which the walk borrowed from the tree. */
static int put_all(struct intern *pool, struct webhook *w, struct qerr *err)
{
    const struct field *f = root_fields;
    struct seg rs[R_COUNT];
    struct icache cache = {0}, *ic = &cache;
    int rc;

    for (size_t i = 0; i < R_COUNT; i++)
        rs[i] = (struct seg){NULL, f[i].name, f[i].len, 0};
    rc = put(pool, ic, &w->receiver, err, &rs[R_RECEIVER]);
    if (rc == 0)
        rc = put(pool, ic, &w->group_key, err, &rs[R_GROUP_KEY]);
    if (rc == 0)
        rc = put(pool, ic, &w->external_url, err, &rs[R_EXTERNAL_URL]);
    if (rc == 0)
        rc = put(pool, ic, &w->notification_reason, err, &rs[R_REASON]);
    if (rc == 0)
        rc = put_labels(pool, ic, w->group_labels, w->ngroup_labels, err, &rs[R_GROUP_LABELS]);
    if (rc == 0)
        rc = put_labels(pool, ic, w->common_labels, w->ncommon_labels, err,
                        &rs[R_COMMON_LABELS]);
    if (rc == 0)
        rc = put_labels(pool, ic, w->common_annotations, w->ncommon_annotations, err,
                        &rs[R_COMMON_ANNOTATIONS]);
    if (rc == 0)
        rc = put_labels(pool, ic, w->route_labels, w->nroute_labels, err, &rs[R_ROUTE_LABELS]);
    for (size_t i = 0; rc == 0 && i < w->nalerts; i++) {
        struct alert *a = &w->alerts[i];
        struct seg as = {&rs[R_ALERTS], NULL, 0, i};
        struct seg ls = {&as, alert_fields[A_LABELS].name, alert_fields[A_LABELS].len, 0};
        struct seg ns = {&as, alert_fields[A_ANNOTATIONS].name,
                         alert_fields[A_ANNOTATIONS].len, 0};
        struct seg gs = {&as, alert_fields[A_GENERATOR_URL].name,
                         alert_fields[A_GENERATOR_URL].len, 0};

        rc = put_labels(pool, ic, a->labels, a->nlabels, err, &ls);
        if (rc == 0)
            rc = put_labels(pool, ic, a->annotations, a->nannotations, err, &ns);
        if (rc == 0)
            rc = put(pool, ic, &a->generator_url, err, &gs);
    }
    return rc;
}

/* The walk over ROOT (held by D, or NULL), then the interning into POOL.
 * With OUT NULL, validation only: nothing is allocated or interned. */
static int parse_root(struct webhook **out, const struct jdoc *d, const struct jval *root,
                      struct intern *pool, struct qerr *err)
{
    struct ctx c = {.err = err, .noalloc = out == NULL,
                    .deep = d == NULL || jdoc_depth(d) > QUENCH_MAX_JSON_DEPTH};
    struct webhook scratch = {0};
    struct webhook *w = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (root == NULL)
        return schema(&c, NULL, "no JSON value");
    if (root->type != JDOC_OBJECT)
        return schema(&c, NULL, "expected a webhook object, got %s", jtype(root));
    if (!c.noalloc) {
        w = calloc(1, sizeof *w);
        if (w == NULL)
            oom_at(&c, NULL);
    }
    /* Without W (validating, or out of memory) the body is only validated. */
    rc = walk(&c, root, w != NULL ? w : &scratch);
    if (rc != 0) {
        /* Too deep anywhere wins over any other error, as if checked first.
         * A document the decoder saw within the cap cannot be. */
        int drc = c.deep ? check_depth(&c, NULL, root, 1) : 0;
        if (drc != 0)
            rc = drc;
        /* The walk saw a container past the cap, so the full check must. */
        if (rc == TOO_DEEP)
            rc = schema(&c, NULL, "JSON nested deeper than QUENCH_MAX_JSON_DEPTH (%d)",
                        QUENCH_MAX_JSON_DEPTH);
        goto out;
    }
    if (c.oom) {
        qerr_set(err, c.oom_path, 0, 0, "out of memory");
        rc = WEBHOOK_ENOMEM;
        goto out;
    }
    if (w != NULL)
        rc = put_all(pool, w, err);
out:
    if (rc != 0) {
        webhook_free(w);
        return rc;
    }
    if (out != NULL)
        *out = w;
    return 0;
}

int webhook_parse_doc(struct webhook **out, const struct jdoc *d, const struct jval *root,
                      struct intern *pool, struct qerr *err)
{
    return parse_root(out, d, root, pool, err);
}

int webhook_parse_json(struct webhook **out, const json_t *root, struct intern *pool,
                       struct qerr *err)
{
    struct jdoc *d = NULL;
    const struct jval *v;
    int rc;

    *out = NULL;
    if (root == NULL)
        return parse_root(out, NULL, NULL, pool, err);
    if (jdoc_new(&d) != 0) {
        qerr_set(err, "$", 0, 0, "out of memory");
        return WEBHOOK_ENOMEM;
    }
    v = jdoc_from_json(d, root);
    if (v == NULL) {
        qerr_set(err, "$", 0, 0, "out of memory");
        rc = WEBHOOK_ENOMEM;
    } else {
        rc = webhook_parse_doc(out, d, v, pool, err);
    }
    jdoc_free(d);
    return rc;
}

/* BUF[0..len) decoded into D: jdoc's fast path, else jansson's verdict
 * (its error, or its tree copied into D). 0 with *root set, or an error
 * as webhook_parse reports it. */
static int decode(struct jdoc *d, const char *buf, size_t len, const struct jval **root,
                  struct qerr *err)
{
    json_error_t jerr;
    char text[sizeof jerr.text * 4];
    size_t pos = 0;

    /* JSON_DECODE_ANY: a bare "4" or 17 is valid JSON that is not a
     * webhook (422), not a syntax error (400). */
    *root = jdoc_decode(d, buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (*root != NULL)
        return 0;
    /* jansson's text may quote input bytes; keep the message ASCII. */
    esc_append(text, sizeof text, &pos, jerr.text, strlen(jerr.text));
    /* An empty text is out of memory: jansson leaves its error untouched
     * only when setting up the lexer failed, jdoc_decode clears it when
     * the copy did. */
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

int webhook_parse_with(struct jdoc *d, struct webhook **out, const char *buf,
                       size_t len, struct intern *pool, struct qerr *err)
{
    const struct jval *root;
    int rc;

    *out = NULL;
    rc = decode(d, buf, len, &root, err);
    if (rc == 0)
        rc = webhook_parse_doc(out, d, root, pool, err);
    return rc;
}

int webhook_parse(struct webhook **out, const char *buf, size_t len, struct intern *pool,
                  struct qerr *err)
{
    struct jdoc *d = NULL;
    int rc;

    *out = NULL;
    if (jdoc_new(&d) != 0) {
        qerr_set(err, "$", 0, 0, "out of memory");
        return WEBHOOK_ENOMEM;
    }
    rc = webhook_parse_with(d, out, buf, len, pool, err);
    jdoc_free(d);
    return rc;
}

int webhook_check(struct jdoc *d, const char *buf, size_t len, size_t *nalerts,
                  struct qerr *err)
{
    const struct jval *root, *alerts;
    int rc = decode(d, buf, len, &root, err);

    *nalerts = 0;
    if (rc == 0)
        rc = parse_root(NULL, d, root, NULL, err);
    if (rc != 0)
        return rc;
    alerts = jdoc_get(root, "alerts", 6);
    *nalerts = alerts->n;      /* the walk checked it is an array */
    return 0;
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
