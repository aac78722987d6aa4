/* jdoc.h - a strict, read-only JSON decoder for the hot paths: webhook
 * bodies (ingest, the correlator) and replay records. jansson costs ~160
 * instructions per input byte there (a byte-at-a-time lexer, a malloc per
 * value, key and string, then a free each); this costs a small fraction.
 *
 * Contract with jansson: a document jdoc_parse accepts is one that
 * json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY) accepts,
 * with the same values (types, decoded strings, integers, member order).
 * jdoc_parse may decline a document jansson accepts (nesting past
 * QUENCH_MAX_JDOC_DEPTH, numbers longer than QUENCH_MAX_JDOC_NUMBER): it
 * never says why. So a caller that gets NULL asks jansson, for its error
 * text (the message users see stays jansson's) or, rarely, for its tree,
 * which jdoc_from_json copies. Out of memory also returns NULL: jansson then
 * gets the same chance to fail.
 *
 * A document lives in a struct jdoc, which keeps its buffers from parse
 * to parse (trimmed to QUENCH_JDOC_KEEP_BYTES), so a thread parsing body
 * after body allocates nothing in the steady state. Not thread-safe: one
 * struct jdoc per thread. */
#ifndef QUENCH_JDOC_H
#define QUENCH_JDOC_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum jdoc_type {
    JDOC_OBJECT,
    JDOC_ARRAY,
    JDOC_STRING,
    JDOC_INTEGER,
    JDOC_REAL,
    JDOC_TRUE,
    JDOC_FALSE,
    JDOC_NULL
};

/* One value. Children of a container are contiguous, in document order;
 * an object's children carry their member names. Everything is borrowed
 * from the struct jdoc until its next parse, copy or free. */
struct jval {
    const char *key;          /* member name, NUL-terminated; NULL outside an object */
    union {
        const char *str;      /* JDOC_STRING: n bytes, NUL-terminated, no NUL inside */
        long long integer;    /* JDOC_INTEGER (json_int_t) */
        double real;          /* JDOC_REAL */
        const struct jval *kids; /* JDOC_ARRAY, JDOC_OBJECT: n children */
    } u;
    uint32_t klen;            /* bytes of key */
    uint32_t n;               /* string bytes, or number of children */
    uint8_t type;             /* enum jdoc_type */
};

struct jdoc;

/* A new, empty document holder into *out. 0, or -1 (out of memory). */
int jdoc_new(struct jdoc **out);

/* Free D and every value it holds. D may be NULL. */
void jdoc_free(struct jdoc *d);

/* Decode BUF[0..len) into D, dropping what D held. The root value, or NULL
 * when declined: not JSON as jansson defines it (see above), beyond this
 * decoder, or out of memory. */
const struct jval *jdoc_parse(struct jdoc *d, const char *buf, size_t len);

/* BUF[0..len) decoded into D as json_loadb(BUF, LEN, FLAGS) would decode
 * it: jdoc's fast path, else jansson's verdict, its tree copied into D.
 * FLAGS are jansson's (JSON_REJECT_DUPLICATES is assumed; without
 * JSON_DECODE_ANY a scalar document is jansson's error, as it would be).
 * The root, or NULL with *JERR filled: jansson's error; a raw NUL byte
 * (which jansson lets through after a number or a literal, and JSON never
 * allows) as an error of its own; JERR->text "" when memory ran out. The
 * one way into a document from bytes for webhooks and replay records. */
const struct jval *jdoc_decode(struct jdoc *d, const char *buf, size_t len,
                               size_t flags, json_error_t *jerr);

/* Copy jansson's tree V (only read) into D, dropping what D held. The
 * root, or NULL when V is NULL or memory ran out. */
const struct jval *jdoc_from_json(struct jdoc *d, const json_t *v);

/* Deepest container level of D's document (a root container is 1, a
 * scalar root 0), so a reader with a depth cap can skip its own check. */
int jdoc_depth(const struct jdoc *d);

/* OBJ's member named KEY (KLEN bytes), or NULL. OBJ must be an object.
 * Linear: for the few members a caller looks up once. */
const struct jval *jdoc_get(const struct jval *obj, const char *key, size_t klen);

#endif
