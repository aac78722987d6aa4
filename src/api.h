/* api.h - the read-only incidents API (DESIGN.md, HTTP endpoints):
 *
 *   GET /api/v1/incidents        {"incidents":[...]}: open incidents and
 *                                those closed within the retention, in
 *                                engine_list order (opened_at, then id)
 *   GET /api/v1/incidents/<id>   one incident; a merged id gives its
 *                                survivor; 404 {"error":"not_found",...},
 *                                also for one closed past the retention
 *
 * Each incident is engine_incident_json (the replay report's format), so a
 * live incident and its replay compare field by field. Bearer auth when a
 * token is given. */
#ifndef QUENCH_API_H
#define QUENCH_API_H

#include <stddef.h>
#include <stdint.h>

#include "correlator.h"
#include "engine.h"
#include "http.h"
#include "qerr.h"

#define API_INCIDENTS_PATH "/api/v1/incidents"
/* Routes api_routes writes. */
#define API_NROUTES 2

struct api;   /* opaque */

struct api_options {
    const char *bearer_token;   /* copied; NULL: no auth */
    int64_t closed_ttl_ms;      /* closed incidents shown this long (list and
                                 * by id); CORRELATOR_CLOSED_TTL_MS */
    int64_t (*clock_ms)(void);  /* for that window; CLOCK_REALTIME */
};

/* New API over E and CR (borrowed: both must outlive the HTTP server the
 * routes go into; CR may be NULL, then merged ids resolve only through E).
 * 0, or -1 with ERR (OOM). */
int api_new(struct api **out, struct engine *e, const struct correlator *cr,
            const struct api_options *o, struct qerr *err);

/* Write the API's routes into OUT[0..API_NROUTES); they point into A, so
 * A must outlive the server. Number written, or -1 if CAP is too small. */
int api_routes(struct api *a, struct http_route *out, size_t cap);

/* Free A (wiping the token). A may be NULL. Free the server first. */
void api_free(struct api *a);

#endif
