/* webhook.h - an Alertmanager v4 webhook body (PROTOCOLS.md section 1.2)
 * as a compact struct: strings interned in a caller's pool, label arrays
 * sorted by name, times in ms, no JSON tree kept. Pure: no I/O, no clock,
 * no globals, so it can be fuzzed and replayed. */
#ifndef QUENCH_WEBHOOK_H
#define QUENCH_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "alert.h"
#include "jdoc.h"
#include "qerr.h"

/* Return codes. The HTTP layer maps them to status codes. */
#define WEBHOOK_EJSON   (-1)   /* not JSON at all (syntax, duplicate key, \u0000, bad UTF-8) */
#define WEBHOOK_ESCHEMA (-2)   /* JSON, but not a v4 webhook, or past a cap of limits.h */
#define WEBHOOK_ENOMEM  (-3)   /* out of memory */

struct webhook {
    const char *receiver;            /* interned; as sent, e.g. "ops\.quench" */
    enum alert_status status;        /* the group's; drive logic from alerts[] */
    const char *group_key;           /* interned */
    const char *external_url;        /* interned, "" when absent */
    const char *notification_reason; /* interned, "" when absent (before 0.32) */
    int64_t truncated_alerts;        /* >= 0; 0 when absent (before 0.22) */
    struct label *group_labels;      /* owned arrays, sorted by name; NULL when empty */
    struct label *common_labels;
    struct label *common_annotations;
    struct label *route_labels;      /* 0.34+, usually empty */
    uint16_t ngroup_labels;
    uint16_t ncommon_labels;
    uint16_t ncommon_annotations;
    uint16_t nroute_labels;
    size_t nalerts;
    struct alert *alerts;            /* owned array of nalerts; each alert
                                      * owns its label arrays. A caller may
                                      * move alerts[i] out by copying the
                                      * struct and zeroing the slot. */
};

/* Parse the body BUF[0..len) into *out, interning every string in POOL
 * (which must outlive every use of the strings). 0, or WEBHOOK_EJSON,
 * WEBHOOK_ESCHEMA or WEBHOOK_ENOMEM with *out NULL and ERR (may be NULL)
 * filled: for EJSON, source "$" and jansson's line, column and text; for
 * ESCHEMA, source the JSON path of the offending value (e.g.
 * "$.alerts[3].startsAt") and msg what was wrong. POOL only grows when 0 is
 * returned: the body is fully validated before anything is interned. */
int webhook_parse(struct webhook **out, const char *buf, size_t len,
                  struct intern *pool, struct qerr *err);

/* webhook_parse with D as scratch for the decoded document, reused from
 * call to call by one thread (the correlator parses every archive entry:
 * a kept jdoc allocates nothing in the steady state). */
int webhook_parse_with(struct jdoc *d, struct webhook **out, const char *buf,
                       size_t len, struct intern *pool, struct qerr *err);

/* The same from an already-decoded value (replay's embedded "payload").
 * ROOT is only read; never WEBHOOK_EJSON. */
int webhook_parse_json(struct webhook **out, const json_t *root,
                       struct intern *pool, struct qerr *err);

/* The same from ROOT, a value of document D (replay decodes each record
 * with jdoc and passes its "payload"). Neither is kept. */
int webhook_parse_doc(struct webhook **out, const struct jdoc *d,
                      const struct jval *root, struct intern *pool,
                      struct qerr *err);

/* Validate BUF[0..len) exactly as webhook_parse does (the same return
 * codes and ERR), building nothing: for ingest, which stores the raw body.
 * D is scratch, reused from call to call by one thread. 0 with *nalerts
 * the number of alerts, or an error code. */
int webhook_check(struct jdoc *d, const char *buf, size_t len,
                  size_t *nalerts, struct qerr *err);

/* Free W, its arrays and its alerts' arrays (not the interned strings).
 * W may be NULL. */
void webhook_free(struct webhook *w);

#endif
