/* metrics.h - a small Prometheus registry: counters, gauges and histograms
 * with fixed label names, rendered in the text exposition format 0.0.4.
 * Pure: no I/O, no clock, no globals; main.c owns the registry and serves
 * the rendering on GET /metrics. Single-threaded, like the loop. */
#ifndef QUENCH_METRICS_H
#define QUENCH_METRICS_H

#include <stddef.h>

#include "qerr.h"

struct metrics;   /* opaque registry */
struct metric;    /* one family; owned by its registry */

/* Content-Type for the rendering. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* New empty registry, or NULL when out of memory. */
struct metrics *metrics_new(void);
/* Free M and every family in it. M may be NULL. */
void metrics_free(struct metrics *m);

/* Register a family, rendered in registration order. NAME matches
 * [a-zA-Z_:][a-zA-Z0-9_:]* and is unique in M (counters should end in
 * _total); HELP is any text; LABELS is a NULL-terminated list of label
 * names ([a-zA-Z_][a-zA-Z0-9_]*, not starting "__", no repeats, no "le" in
 * a histogram) or NULL. All copied. A family without labels starts with
 * its one series at zero; others render once a series is touched.
 * Returns the family, borrowed until metrics_free(M), or NULL with ERR. */
struct metric *metrics_counter(struct metrics *m, const char *name,
                               const char *help, const char *const *labels,
                               struct qerr *err);
struct metric *metrics_gauge(struct metrics *m, const char *name,
                             const char *help, const char *const *labels,
                             struct qerr *err);
/* BOUNDS: NBOUNDS finite upper bounds, strictly increasing, at most
 * QUENCH_MAX_HISTOGRAM_BUCKETS; the +Inf bucket is implicit. Copied. */
struct metric *metrics_histogram(struct metrics *m, const char *name,
                                 const char *help, const char *const *labels,
                                 const double *bounds, size_t nbounds,
                                 struct qerr *err);
/* An info-style gauge: NAME{LABELS=VALUES} 1, e.g. quench_build_info
 * {version="0.1.0"}. VALUES has one entry per label. 0, or -1 with ERR. */
int metrics_info(struct metrics *m, const char *name, const char *help,
                 const char *const *labels, const char *const *values,
                 struct qerr *err);

/* Updates. VALUES holds one label value per label name, in order (NULL
 * for a family without labels); any bytes, copied on a series' first use.
 * 0, or -1 and nothing changed when: the call does not fit the family's
 * type, a counter delta is negative or NaN, an observation is NaN, or the
 * family already holds QUENCH_MAX_METRIC_SERIES series. */
int metrics_counter_add(struct metric *c, const char *const *values,
                        double delta);
int metrics_gauge_set(struct metric *g, const char *const *values, double v);
int metrics_gauge_add(struct metric *g, const char *const *values,
                      double delta);
int metrics_histogram_observe(struct metric *h, const char *const *values,
                              double v);

/* Render M into BUF (CAP bytes, always NUL-terminated when CAP > 0).
 * Returns the length of the whole rendering, without the NUL, as snprintf
 * does: the output was cut when the result is >= CAP. */
size_t metrics_render(const struct metrics *m, char *buf, size_t cap);
/* The rendering in a malloc'd NUL-terminated string the caller frees,
 * length in *LEN (may be NULL); NULL when out of memory. */
char *metrics_render_alloc(const struct metrics *m, size_t *len);

#endif
