/* metrics.c - the registry behind metrics.h and its text rendering.
 *
 * A registry is a list of families in registration order; a family holds
 * its label names and an array of series in creation order, each with its
 * label values, so the rendering is deterministic for a given sequence of
 * calls (tests compare it byte for byte). Lookup is linear: families have
 * a few dozen series at most, and QUENCH_MAX_METRIC_SERIES bounds a
 * mistake. Histogram buckets are stored per bucket and summed on render,
 * so observing costs one increment. */
#include "metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct series {
    char **values;          /* nlabels strings */
    double value;           /* counter, gauge */
    double sum;             /* histogram */
    uint64_t count;         /* histogram */
    uint64_t *buckets;      /* histogram: nbounds + 1, not cumulative */
};

struct metric {
    struct metric *next;
    enum metric_type type;
    char *name, *help;
    char **labels;
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    struct series *series;
    size_t nseries, cap;
};

struct metrics {
    struct metric *head, *tail;
};

struct metrics *metrics_new(void)
{
    return calloc(1, sizeof(struct metrics));
}

static void series_cleanup(struct series *se, size_t nlabels)
{
    if (se->values != NULL)
        for (size_t i = 0; i < nlabels; i++)
            free(se->values[i]);
    free(se->values);
    free(se->buckets);
}

static void family_free(struct metric *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->nseries; i++)
        series_cleanup(&f->series[i], f->nlabels);
    free(f->series);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->labels);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    struct metric *f = m->head;
    while (f != NULL) {
        struct metric *next = f->next;
        family_free(f);
        f = next;
    }
    free(m);
}

/* ---- registration ------------------------------------------------------ */

static bool name_ok(const char *s, bool colon)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_' || (colon && c == ':');
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static struct series *series_find(struct metric *f, const char *const *values)
{
    for (size_t k = 0; k < f->nlabels; k++)
        if (values == NULL || values[k] == NULL)
            return NULL;
    for (size_t i = 0; i < f->nseries; i++) {
        struct series *se = &f->series[i];
        size_t k = 0;
        while (k < f->nlabels && strcmp(se->values[k], values[k]) == 0)
            k++;
        if (k == f->nlabels)
            return se;
    }
    if (f->nseries >= QUENCH_MAX_METRIC_SERIES)
        return NULL;
    if (f->nseries == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 4;
        if (ncap > QUENCH_MAX_METRIC_SERIES)
            ncap = QUENCH_MAX_METRIC_SERIES;
        struct series *ns = realloc(f->series, ncap * sizeof *ns);
        if (ns == NULL)
            return NULL;
        f->series = ns;
        f->cap = ncap;
    }
    struct series se = { 0 };
    se.values = calloc(f->nlabels ? f->nlabels : 1, sizeof(char *));
    if (se.values == NULL)
        return NULL;
    for (size_t k = 0; k < f->nlabels; k++) {
        se.values[k] = strdup(values[k]);
        if (se.values[k] == NULL) {
            series_cleanup(&se, f->nlabels);
            return NULL;
        }
    }
    if (f->type == METRIC_HISTOGRAM) {
        se.buckets = calloc(f->nbounds + 1, sizeof(uint64_t));
        if (se.buckets == NULL) {
            series_cleanup(&se, f->nlabels);
            return NULL;
        }
    }
    f->series[f->nseries] = se;
    return &f->series[f->nseries++];
}

static struct metric *family_new(struct metrics *m, enum metric_type type,
                                 const char *name, const char *help,
                                 const char *const *labels,
                                 const double *bounds, size_t nbounds,
                                 struct qerr *err)
{
    if (!name_ok(name, true)) {
        qerr_set(err, NULL, 0, 0, "metric name '%s' is not valid",
                 name != NULL ? name : "");
        return NULL;
    }
    for (struct metric *f = m->head; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0) {
            qerr_set(err, NULL, 0, 0, "metric '%s' registered twice", name);
            return NULL;
        }
    size_t nl = 0;
    while (labels != NULL && labels[nl] != NULL) {
        const char *l = labels[nl];
        if (!name_ok(l, false) || strncmp(l, "__", 2) == 0 ||
            (type == METRIC_HISTOGRAM && strcmp(l, "le") == 0)) {
            qerr_set(err, NULL, 0, 0, "metric '%s': label name '%s' is not valid",
                     name, l);
            return NULL;
        }
        for (size_t k = 0; k < nl; k++)
            if (strcmp(labels[k], l) == 0) {
                qerr_set(err, NULL, 0, 0, "metric '%s': label '%s' repeated",
                         name, l);
                return NULL;
            }
        nl++;
    }
    if (type == METRIC_HISTOGRAM) {
        if (nbounds == 0 || nbounds > QUENCH_MAX_HISTOGRAM_BUCKETS ||
            bounds == NULL) {
            qerr_set(err, NULL, 0, 0, "histogram '%s': 1 to %d buckets", name,
                     QUENCH_MAX_HISTOGRAM_BUCKETS);
            return NULL;
        }
        for (size_t i = 0; i < nbounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                qerr_set(err, NULL, 0, 0,
                         "histogram '%s': bounds must be finite and increasing",
                         name);
                return NULL;
            }
    }

    struct metric *f = calloc(1, sizeof *f);
    if (f == NULL)
        goto oom;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help != NULL ? help : "");
    f->labels = calloc(nl ? nl : 1, sizeof(char *));
    if (f->name == NULL || f->help == NULL || f->labels == NULL)
        goto oom;
    for (; f->nlabels < nl; f->nlabels++) {
        f->labels[f->nlabels] = strdup(labels[f->nlabels]);
        if (f->labels[f->nlabels] == NULL)
            goto oom;
    }
    if (type == METRIC_HISTOGRAM) {
        f->bounds = malloc(nbounds * sizeof(double));
        if (f->bounds == NULL)
            goto oom;
        memcpy(f->bounds, bounds, nbounds * sizeof(double));
        f->nbounds = nbounds;
    }
    /* Without labels the one series exists from the start, so a scrape
     * shows 0 rather than nothing. */
    if (nl == 0 && series_find(f, NULL) == NULL)
        goto oom;
    if (m->tail != NULL)
        m->tail->next = f;
    else
        m->head = f;
    m->tail = f;
    return f;
oom:
    family_free(f);
    qerr_set(err, NULL, 0, 0, "out of memory");
    return NULL;
}

struct metric *metrics_counter(struct metrics *m, const char *name,
                               const char *help, const char *const *labels,
                               struct qerr *err)
{
    return family_new(m, METRIC_COUNTER, name, help, labels, NULL, 0, err);
}

struct metric *metrics_gauge(struct metrics *m, const char *name,
                             const char *help, const char *const *labels,
                             struct qerr *err)
{
    return family_new(m, METRIC_GAUGE, name, help, labels, NULL, 0, err);
}

struct metric *metrics_histogram(struct metrics *m, const char *name,
                                 const char *help, const char *const *labels,
                                 const double *bounds, size_t nbounds,
                                 struct qerr *err)
{
    return family_new(m, METRIC_HISTOGRAM, name, help, labels, bounds,
                      nbounds, err);
}

int metrics_info(struct metrics *m, const char *name, const char *help,
                 const char *const *labels, const char *const *values,
                 struct qerr *err)
{
    struct metric *g = metrics_gauge(m, name, help, labels, err);
    if (g == NULL)
        return -1;
    if (metrics_gauge_set(g, values, 1) != 0)
        return qerr_set(err, NULL, 0, 0, "out of memory");
    return 0;
}

/* ---- updates ----------------------------------------------------------- */

int metrics_counter_add(struct metric *c, const char *const *values,
                        double delta)
{
    if (c == NULL || c->type != METRIC_COUNTER || !(delta >= 0))
        return -1;
    struct series *se = series_find(c, values);
    if (se == NULL)
        return -1;
    se->value += delta;
    return 0;
}

int metrics_gauge_set(struct metric *g, const char *const *values, double v)
{
    if (g == NULL || g->type != METRIC_GAUGE)
        return -1;
    struct series *se = series_find(g, values);
    if (se == NULL)
        return -1;
    se->value = v;
    return 0;
}

int metrics_gauge_add(struct metric *g, const char *const *values,
                      double delta)
{
    if (g == NULL || g->type != METRIC_GAUGE)
        return -1;
    struct series *se = series_find(g, values);
    if (se == NULL)
        return -1;
    se->value += delta;
    return 0;
}

int metrics_histogram_observe(struct metric *h, const char *const *values,
                              double v)
{
    if (h == NULL || h->type != METRIC_HISTOGRAM || isnan(v))
        return -1;
    struct series *se = series_find(h, values);
    if (se == NULL)
        return -1;
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    se->buckets[i]++;
    se->count++;
    se->sum += v;
    return 0;
}

/* ---- rendering --------------------------------------------------------- */

/* Appends up to CAP, counts everything: snprintf semantics. */
struct out {
    char *buf;
    size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* HELP escapes \ and newline; label values also ". */
static void put_escaped(struct out *o, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(o, "\\\\", 2);
        else if (*s == '\n')
            put(o, "\\n", 2);
        else if (quote && *s == '"')
            put(o, "\\\"", 2);
        else
            put(o, s, 1);
    }
}

/* Shortest text that reads back as V, in the spelling Prometheus parses. */
static void put_double(struct out *o, double v)
{
    char tmp[40];
    if (isnan(v)) {
        puts_(o, "NaN");
        return;
    }
    if (isinf(v)) {
        puts_(o, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(tmp, sizeof tmp, "%.0f", v);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
    }
    puts_(o, tmp);
}

static void put_u64(struct out *o, uint64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    puts_(o, tmp);
}

/* name{a="x",b="y"[,le="B"]} */
static void put_sample_name(struct out *o, const struct metric *f,
                            const struct series *se, const char *suffix,
                            const char *le)
{
    puts_(o, f->name);
    puts_(o, suffix);
    if (f->nlabels == 0 && le == NULL)
        return;
    put(o, "{", 1);
    for (size_t k = 0; k < f->nlabels; k++) {
        if (k > 0)
            put(o, ",", 1);
        puts_(o, f->labels[k]);
        put(o, "=\"", 2);
        put_escaped(o, se->values[k], true);
        put(o, "\"", 1);
    }
    if (le != NULL) {
        if (f->nlabels > 0)
            put(o, ",", 1);
        put(o, "le=\"", 4);
        puts_(o, le);
        put(o, "\"", 1);
    }
    put(o, "}", 1);
}

static void render_family(struct out *o, const struct metric *f)
{
    static const char *const type_names[] = { "counter", "gauge",
                                              "histogram" };
    if (f->nseries == 0)
        return;
    puts_(o, "# HELP ");
    puts_(o, f->name);
    put(o, " ", 1);
    put_escaped(o, f->help, false);
    puts_(o, "\n# TYPE ");
    puts_(o, f->name);
    put(o, " ", 1);
    puts_(o, type_names[f->type]);
    put(o, "\n", 1);
    for (size_t i = 0; i < f->nseries; i++) {
        const struct series *se = &f->series[i];
        if (f->type != METRIC_HISTOGRAM) {
            put_sample_name(o, f, se, "", NULL);
            put(o, " ", 1);
            put_double(o, se->value);
            put(o, "\n", 1);
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; b <= f->nbounds; b++) {
            char le[40];
            if (b < f->nbounds) {
                struct out lo = { le, sizeof le - 1, 0 };
                put_double(&lo, f->bounds[b]);
                le[lo.len < sizeof le - 1 ? lo.len : sizeof le - 1] = '\0';
            } else {
                strcpy(le, "+Inf");
            }
            cum += se->buckets[b];
            put_sample_name(o, f, se, "_bucket", le);
            put(o, " ", 1);
            put_u64(o, cum);
            put(o, "\n", 1);
        }
        put_sample_name(o, f, se, "_sum", NULL);
        put(o, " ", 1);
        put_double(o, se->sum);
        put(o, "\n", 1);
        put_sample_name(o, f, se, "_count", NULL);
        put(o, " ", 1);
        put_u64(o, se->count);
        put(o, "\n", 1);
    }
}

size_t metrics_render(const struct metrics *m, char *buf, size_t cap)
{
    struct out o = { buf, cap > 0 ? cap - 1 : 0, 0 };
    for (const struct metric *f = m->head; f != NULL; f = f->next)
        render_family(&o, f);
    if (cap > 0)
        buf[o.len < cap - 1 ? o.len : cap - 1] = '\0';
    return o.len;
}

char *metrics_render_alloc(const struct metrics *m, size_t *len)
{
    size_t n = metrics_render(m, NULL, 0);
    char *buf = malloc(n + 1);
    if (buf == NULL)
        return NULL;
    metrics_render(m, buf, n + 1);
    if (len != NULL)
        *len = n;
    return buf;
}
