/* alert.h - the alert model. An alert is a compact struct whose label and
 * annotation strings are interned in a pool, so a label set costs 16 bytes
 * per pair and equal strings compare by pointer. Also: the fingerprint
 * exactly as Alertmanager computes it, RFC 3339 times as int64 ms, and the
 * entity kinds shared by topology, correlate and rank. Pure: no I/O. */
#ifndef QUENCH_ALERT_H
#define QUENCH_ALERT_H

#include <stddef.h>
#include <stdint.h>

/* ---- interned strings -------------------------------------------------- */

struct intern;   /* opaque string pool */

/* New empty pool into *out. 0, or -1 on OOM. */
int intern_new(struct intern **out);
/* Free P and every string it holds. P may be NULL. */
void intern_free(struct intern *p);
/* The pooled copy of S[0..len) (NUL-terminated; S need not be), or NULL on
 * OOM. Equal strings get the same pointer. Borrowed until intern_free(P). */
const char *intern_str(struct intern *p, const char *s, size_t len);
/* Bytes the pool holds (strings plus table), for memory accounting. */
size_t intern_bytes(const struct intern *p);

/* ---- alerts ------------------------------------------------------------ */

enum alert_status { ALERT_FIRING = 0, ALERT_RESOLVED = 1 };

/* ends_at of a firing alert: Go's zero time 0001-01-01T00:00:00Z, or absent. */
#define ALERT_NO_END INT64_MIN

struct label {
    const char *name;    /* interned */
    const char *value;   /* interned */
};

struct alert {
    uint64_t fingerprint;
    int64_t starts_at;            /* ms since the Unix epoch */
    int64_t ends_at;              /* ms, or ALERT_NO_END */
    enum alert_status status;
    uint16_t nlabels;
    uint16_t nannotations;
    struct label *labels;         /* owned array, sorted by name (strcmp) */
    struct label *annotations;    /* owned array, sorted by name */
    const char *generator_url;    /* interned, "" when absent */
};

/* Free the arrays A owns (not the interned strings). A may be NULL. */
void alert_cleanup(struct alert *a);
/* Deep copy SRC into DST (arrays duplicated, strings shared). 0 or -1 OOM. */
int alert_copy(struct alert *dst, const struct alert *src);
/* Value of label NAME, or NULL. Borrowed from the pool. */
const char *alert_label(const struct alert *a, const char *name);
/* Value of annotation NAME, or NULL. */
const char *alert_annotation(const struct alert *a, const char *name);

/* Sort L[0..n) by name in place (bytewise, as Go's sort.Strings). */
void alert_labels_sort(struct label *l, size_t n);
/* Alertmanager's fingerprint of a label set (prometheus/common
 * model.LabelsToSignature: FNV-1a 64 over name 0xFF value 0xFF, names
 * sorted, empty values skipped). L must be sorted. */
uint64_t alert_fingerprint(const struct label *l, size_t n);
/* "%016x" of FP into OUT. */
void alert_fingerprint_format(uint64_t fp, char out[17]);
/* Parse exactly 16 hex digits. 0, or -1 if malformed. */
int alert_fingerprint_parse(const char *s, uint64_t *out);

/* Parse an RFC 3339 time (0-9 fraction digits, 'Z' or +-hh:mm, 'T' or 't')
 * of LEN bytes into ms since the epoch (fraction truncated to ms). Go's zero
 * time (year 1) gives ALERT_NO_END. 0, or -1 if malformed or out of range. */
int alert_time_parse(const char *s, size_t len, int64_t *ms);
/* Format MS as "YYYY-MM-DDTHH:MM:SS.mmmZ" (".mmm" left out when 0) into
 * OUT; ALERT_NO_END formats as "0001-01-01T00:00:00Z". Returns the length. */
int alert_time_format(int64_t ms, char *out, size_t cap);

/* ---- entities ---------------------------------------------------------- */

/* What an alert is about. The first five come from rules/services.yaml;
 * pods and nodes are resolved from alert labels. */
enum entity_kind {
    ENTITY_SERVICE = 0,
    ENTITY_DATABASE,
    ENTITY_CACHE,
    ENTITY_QUEUE,
    ENTITY_EXTERNAL,
    ENTITY_POD,
    ENTITY_NODE,
    ENTITY_KIND_COUNT
};

/* "service", "database", ... ; "unknown" out of range. */
const char *entity_kind_name(enum entity_kind k);
/* Parse a kind name. 0, or -1 if unknown. */
int entity_kind_parse(const char *s, enum entity_kind *out);
/* True for the kinds services.yaml declares (service .. external). */
int entity_kind_is_service_like(enum entity_kind k);

#endif
