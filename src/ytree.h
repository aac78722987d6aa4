/* ytree.h - a YAML document (libyaml) as a small tree with positions, so
 * every loader (config, services, correlation, policy) validates with
 * file:line:column errors and none of them walks libyaml events itself.
 * One document per file; anchors, aliases and tags are refused; duplicate
 * map keys are errors. Pure apart from reading the file. */
#ifndef QUENCH_YTREE_H
#define QUENCH_YTREE_H

#include <stddef.h>
#include <stdint.h>

#include "qerr.h"

enum ytree_type { YTREE_SCALAR = 0, YTREE_MAP, YTREE_SEQ };

struct ytree_node;

struct ytree_pair {
    struct ytree_node *key;     /* always a scalar */
    struct ytree_node *value;
};

struct ytree_node {
    enum ytree_type type;
    int line, column;           /* 1-based position of the node's start */
    const char *value;          /* YTREE_SCALAR: the text, NUL-terminated */
    size_t value_len;
    int plain;                  /* scalar was unquoted (plain style) */
    size_t len;                 /* YTREE_MAP: pairs; YTREE_SEQ: items */
    struct ytree_pair *pairs;   /* YTREE_MAP, in document order */
    struct ytree_node **items;  /* YTREE_SEQ */
};

struct ytree_doc;   /* opaque; owns every node */

/* Parse PATH into *out. 0, or -1 with *out NULL and ERR at file:line:col
 * (I/O errors name the file). An empty document gives a NULL root. */
int ytree_load_file(struct ytree_doc **out, const char *path, struct qerr *err);
/* Same from BUF[0..len); SOURCE names it in errors. */
int ytree_load_buf(struct ytree_doc **out, const char *buf, size_t len,
                   const char *source, struct qerr *err);
/* Free D and all nodes. D may be NULL. */
void ytree_free(struct ytree_doc *d);

/* Root node, NULL for an empty document. Borrowed until ytree_free. */
const struct ytree_node *ytree_root(const struct ytree_doc *d);
/* Source name given at load (file path). Borrowed. */
const char *ytree_source(const struct ytree_doc *d);

/* Value for KEY in MAP, or NULL (also when MAP is not a map). */
const struct ytree_node *ytree_get(const struct ytree_node *map, const char *key);
/* True for a plain scalar "", "~", "null", "Null", "NULL". */
int ytree_is_null(const struct ytree_node *n);

/* Set ERR at N's position in D, formatted; returns -1. */
int ytree_error(const struct ytree_doc *d, const struct ytree_node *n,
                struct qerr *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Typed scalar readers: 0, or -1 with ERR at N's position naming the
 * expected type. */
int ytree_string(const struct ytree_doc *d, const struct ytree_node *n,
                 const char **out, struct qerr *err);
int ytree_bool(const struct ytree_doc *d, const struct ytree_node *n,
               int *out, struct qerr *err);           /* true/false only */
int ytree_int(const struct ytree_doc *d, const struct ytree_node *n,
              int64_t min, int64_t max, int64_t *out, struct qerr *err);
int ytree_double(const struct ytree_doc *d, const struct ytree_node *n,
                 double min, double max, double *out, struct qerr *err);
/* Durations "500ms", "30s", "10m", "2h", "14d", and sums like "1h30m";
 * a bare number is refused (unit required). Result in ms, > 0. */
int ytree_duration(const struct ytree_doc *d, const struct ytree_node *n,
                   int64_t *ms, struct qerr *err);
/* Parse a duration string outside YAML (CLI flags). 0 or -1. */
int ytree_parse_duration(const char *s, int64_t *ms);

/* Check that every key of MAP is in the NULL-terminated ALLOWED list;
 * an unknown key is an error at its position ("unknown key 'x'"). */
int ytree_check_keys(const struct ytree_doc *d, const struct ytree_node *map,
                     const char *const *allowed, struct qerr *err);

#endif
