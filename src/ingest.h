/* ingest.h - the POST /webhook/alertmanager handler: parse and validate
 * the body (webhook.h), store it (archive.h), and answer only once Redis
 * has confirmed: 200 {"status":"ok"} when stored or a duplicate, 400/422
 * with a JSON error naming the JSON path for bad input, 503 with
 * Retry-After when Redis is down, slow or saturated, or while draining
 * (PROTOCOLS.md section 1.5). Counts what it sees in a metrics registry. */
#ifndef QUENCH_INGEST_H
#define QUENCH_INGEST_H

#include "archive.h"
#include "http.h"
#include "metrics.h"
#include "qerr.h"

struct ingest;   /* opaque */

/* New handler storing through A and counting into M (both borrowed; M may
 * be NULL). Registers its metric families in M. 0, or -1 with ERR. */
int ingest_new(struct ingest **out, struct archive *a, struct metrics *m,
               struct qerr *err);

/* The route handler: http_route.fn, with ud = the struct ingest. */
void ingest_handle(struct http_req *req, void *ud);

/* From now on answer every new webhook 503 (shutting down). */
void ingest_drain(struct ingest *in);

/* Webhooks waiting for Redis now. */
unsigned ingest_pending(const struct ingest *in);

/* Free IN. Requests still waiting are forgotten (their archive callbacks
 * find no request to answer); free the HTTP server first, which answers
 * them 503. IN may be NULL. */
void ingest_free(struct ingest *in);

#endif
