/* api.c - GET handlers for incidents, rendered from the engine in memory.
 *
 * The engine is the live state (the correlator keeps Redis in step with
 * it), so a read never waits on Redis and stays available while Redis is
 * down. Handlers answer at once; nothing is deferred. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/* Dump flags: compact, and the report's number precision so values match
 * replay's. */
#define API_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(6))
/* Longest id echoed back in a 404 detail. */
#define API_MAX_ECHO 64

struct api {
    struct engine *e;
    const struct correlator *cr;
    char *token;
    struct http_auth auth;
    int64_t closed_ttl_ms;
    int64_t (*clock_ms)(void);
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void respond_json(struct http_req *req, json_t *v)
{
    char *text = v ? json_dumps(v, API_JSON_FLAGS) : NULL;

    if (text == NULL) {
        http_req_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    http_req_respond(req, 200, "application/json", text, strlen(text), NULL);
    free(text);
}

static void h_list(struct http_req *req, void *ud)
{
    struct api *a = ud;
    const struct correlate *c = engine_correlate(a->e);
    int64_t horizon = a->clock_ms() - a->closed_ttl_ms;
    uint32_t *slots = NULL;
    size_t n = 0;
    json_t *root = json_object(), *arr = json_array();

    if (root == NULL || arr == NULL || json_object_set(root, "incidents", arr) < 0 ||
        engine_list(a->e, &slots, &n) < 0)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        struct correlate_incident ci;

        /* The same window after which the correlator lets Redis expire a
         * closed incident: the list shows what a restart would show. */
        if (correlate_incident(c, slots[i], &ci) < 0 ||
            (ci.state == CORRELATE_CLOSED && ci.closed_at < horizon))
            continue;
        if (json_array_append_new(arr, engine_incident_json(a->e, slots[i])) < 0)
            goto oom;
    }
    respond_json(req, root);
    free(slots);
    json_decref(arr);
    json_decref(root);
    return;
oom:
    free(slots);
    json_decref(arr);
    json_decref(root);
    http_req_respond_error(req, 500, "internal", "out of memory");
}

static void h_one(struct http_req *req, void *ud)
{
    struct api *a = ud;
    const char *id = http_req_subpath(req);
    int64_t slot;
    char detail[API_MAX_ECHO + 32];
    struct correlate_incident ci;
    json_t *v;

    if (id == NULL)
        id = "";
    slot = a->cr ? correlator_find(a->cr, id) : engine_find(a->e, id);
    /* Past the horizon an incident is as good as pruned (housekeeping
     * drops it within a minute): answer as the list and a restart would. */
    if (slot >= 0 && correlate_incident(engine_correlate(a->e), (uint32_t)slot, &ci) == 0 &&
        ci.state == CORRELATE_CLOSED &&
        ci.closed_at < a->clock_ms() - a->closed_ttl_ms)
        slot = -1;
    if (slot < 0) {
        size_t n = strlen(id);

        /* Cut at a character boundary, never inside a UTF-8 sequence: a
         * torn one would make the body invalid JSON. */
        if (n > API_MAX_ECHO) {
            n = API_MAX_ECHO;
            while (n > 0 && ((unsigned char)id[n] & 0xC0) == 0x80)
                n--;
        }
        snprintf(detail, sizeof detail, "no incident %.*s", (int)n, id);
        http_req_respond_error(req, 404, "not_found", detail);
        return;
    }
    v = engine_incident_json(a->e, (uint32_t)slot);
    respond_json(req, v);
    json_decref(v);
}

int api_new(struct api **out, struct engine *e, const struct correlator *cr,
            const struct api_options *o, struct qerr *err)
{
    struct api *a = calloc(1, sizeof *a);

    *out = NULL;
    if (a == NULL)
        return qerr_set(err, "api", 0, 0, "out of memory");
    a->e = e;
    a->cr = cr;
    a->closed_ttl_ms = o && o->closed_ttl_ms > 0 ? o->closed_ttl_ms
                                                 : CORRELATOR_CLOSED_TTL_MS;
    a->clock_ms = o && o->clock_ms ? o->clock_ms : wall_ms;
    if (o && o->bearer_token) {
        a->token = strdup(o->bearer_token);
        if (a->token == NULL) {
            free(a);
            return qerr_set(err, "api", 0, 0, "out of memory");
        }
        a->auth.bearer_token = a->token;
    }
    *out = a;
    return 0;
}

int api_routes(struct api *a, struct http_route *out, size_t cap)
{
    const struct http_auth *auth = a->token ? &a->auth : NULL;

    if (cap < API_NROUTES)
        return -1;
    out[0] = (struct http_route){.method = "GET", .path = API_INCIDENTS_PATH,
                                 .auth = auth, .fn = h_list, .ud = a};
    out[1] = (struct http_route){.method = "GET", .path = API_INCIDENTS_PATH "/",
                                 .flags = HTTP_ROUTE_PREFIX, .auth = auth,
                                 .fn = h_one, .ud = a};
    return API_NROUTES;
}

void api_free(struct api *a)
{
    if (a == NULL)
        return;
    if (a->token) {
        explicit_bzero(a->token, strlen(a->token));
        free(a->token);
    }
    free(a);
}
