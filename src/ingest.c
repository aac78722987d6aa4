/* ingest.c - the webhook route: validate, store, then acknowledge.
 *
 * The order is the safety argument (DESIGN.md invariant 1): a 2xx leaves
 * only from archive_done, after Redis confirmed the script that appended
 * the body (or found it already stored). Everything that is not a
 * confirmation - timeout, disconnect, an error reply, back-pressure,
 * shutdown - is a 503, which Alertmanager retries; bad input is a 4xx,
 * which it does not.
 *
 * A deferred request has two owners in turn: the http server until the
 * handler returns, then a struct pending until archive_done. If the server
 * abandons the request first (client gone, shutdown), on_abort clears
 * p->req and archive_done only counts. */
#include "ingest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jdoc.h"
#include "webhook.h"

/* Seconds Alertmanager is told to wait. It ignores Retry-After (it backs
 * off on its own, PROTOCOLS.md 1.5) but other senders and proxies read it. */
#define RETRY_AFTER_BUSY "1"
#define RETRY_AFTER_DOWN "5"

struct ingest {
    struct archive *a;
    struct jdoc *doc;             /* scratch for validating bodies, reused */
    struct metric *alerts;        /* quench_alerts_received_total */
    struct metric *outcomes;      /* quench_archive_writes_total{outcome} */
    struct metric *latency;       /* quench_archive_write_seconds */
    unsigned pending;
    int draining;
    int freed;                    /* ingest_free called, pending > 0 */
};

struct pending {
    struct ingest *in;
    struct http_req *req;         /* NULL once the server abandoned it */
    size_t nalerts;
};

int ingest_new(struct ingest **out, struct archive *a, struct metrics *m,
               struct qerr *err)
{
    static const char *const outcome[] = {"outcome", NULL};
    static const double bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01,
                                    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    struct ingest *in = calloc(1, sizeof *in);

    *out = NULL;
    if (in == NULL)
        return qerr_set(err, "ingest", 0, 0, "out of memory");
    in->a = a;
    if (jdoc_new(&in->doc) != 0) {
        free(in);
        return qerr_set(err, "ingest", 0, 0, "out of memory");
    }
    if (m != NULL) {
        in->alerts = metrics_counter(m, "quench_alerts_received_total",
                                     "Alerts in webhooks stored in the archive.",
                                     NULL, err);
        in->outcomes = metrics_counter(m, "quench_archive_writes_total",
                                       "Archive writes by outcome (stored, "
                                       "duplicate, failed, unknown, busy, down).",
                                       outcome, err);
        in->latency = metrics_histogram(m, "quench_archive_write_seconds",
                                        "Time from a webhook's archive write "
                                        "to Redis's confirmation.",
                                        NULL, bounds,
                                        sizeof bounds / sizeof bounds[0], err);
        if (!in->alerts || !in->outcomes || !in->latency) {
            jdoc_free(in->doc);
            free(in);
            return -1;
        }
    }
    *out = in;
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count(struct ingest *in, const char *outcome)
{
    const char *v[1] = {outcome};

    if (in->outcomes)
        metrics_counter_add(in->outcomes, v, 1);
}

/* A JSON error with Retry-After: http_req_respond_error takes no headers. */
static void respond_unavailable(struct http_req *req, const char *error,
                                const char *detail, const char *retry_after)
{
    const char *hdr[] = {"Retry-After", retry_after, NULL};
    json_t *o = json_pack("{s:s,s:s}", "error", error, "detail", detail);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;

    if (body != NULL)
        http_req_respond(req, 503, "application/json", body, strlen(body), hdr);
    else
        http_req_respond(req, 503, "application/json", "{}", 2, hdr);
    free(body);
    json_decref(o);
}

static void pending_release(struct pending *p)
{
    struct ingest *in = p->in;

    free(p);
    in->pending--;
    if (in->freed && in->pending == 0) {
        jdoc_free(in->doc);
        free(in);
    }
}

static void on_abort(struct http_req *req, void *ud)
{
    struct pending *p = ud;

    (void)req;
    p->req = NULL;
}

static void archive_done(enum archive_outcome o, const char *id,
                         double seconds, void *ud)
{
    struct pending *p = ud;
    struct ingest *in = p->in;
    static const char ok[] = "{\"status\":\"ok\"}";

    (void)id;
    if (in->latency && !in->freed)
        metrics_histogram_observe(in->latency, NULL, seconds);
    switch (o) {
    case ARCHIVE_STORED:
    case ARCHIVE_DUPLICATE:
        if (!in->freed) {
            count(in, o == ARCHIVE_STORED ? "stored" : "duplicate");
            if (o == ARCHIVE_STORED && in->alerts)
                metrics_counter_add(in->alerts, NULL, (double)p->nalerts);
        }
        if (p->req)
            http_req_respond(p->req, 200, "application/json", ok,
                             sizeof ok - 1, NULL);
        break;
    case ARCHIVE_FAILED:
        if (!in->freed)
            count(in, "failed");
        if (p->req)
            respond_unavailable(p->req, "archive write failed",
                                "Redis refused the write; retry later",
                                RETRY_AFTER_DOWN);
        break;
    case ARCHIVE_UNKNOWN:
    default:
        if (!in->freed)
            count(in, "unknown");
        if (p->req)
            respond_unavailable(p->req, "archive write not confirmed",
                                "Redis did not confirm the write in time; "
                                "retry (duplicates are harmless)",
                                RETRY_AFTER_BUSY);
        break;
    }
    pending_release(p);
}

void ingest_handle(struct http_req *req, void *ud)
{
    struct ingest *in = ud;
    struct pending *p = NULL;
    struct qerr err;
    char detail[sizeof err.msg + sizeof err.source + 32];
    const char *body;
    size_t len, nalerts;
    int rc;

    if (in->draining) {
        respond_unavailable(req, "shutting down", "quench is stopping; retry",
                            RETRY_AFTER_BUSY);
        return;
    }
    body = http_req_body(req, &len);
    memset(&err, 0, sizeof err);
    /* Correlation reads the archive stream, not this parse: here the body
     * is only validated (and its alerts counted), nothing is built. */
    rc = webhook_check(in->doc, body ? body : "", body ? len : 0, &nalerts, &err);
    if (rc != 0) {
        qerr_format(&err, detail, sizeof detail);
        if (rc == WEBHOOK_EJSON)
            http_req_respond_error(req, 400, "invalid JSON", detail);
        else if (rc == WEBHOOK_ESCHEMA)
            http_req_respond_error(req, 422,
                                   "not an Alertmanager v4 webhook", detail);
        else
            respond_unavailable(req, "out of memory", "retry later",
                                RETRY_AFTER_BUSY);
        return;
    }

    p = malloc(sizeof *p);
    if (p == NULL) {
        respond_unavailable(req, "out of memory", "retry later",
                            RETRY_AFTER_BUSY);
        return;
    }
    p->in = in;
    p->req = req;
    p->nalerts = nalerts;
    rc = archive_write(in->a, body, len, wall_ms(), archive_done, p);
    if (rc != 0) {
        free(p);
        count(in, rc == ARCHIVE_EBUSY ? "busy" : "down");
        if (rc == ARCHIVE_EBUSY)
            respond_unavailable(req, "archive busy",
                                "too many webhooks waiting for Redis; retry",
                                RETRY_AFTER_BUSY);
        else
            respond_unavailable(req, "archive unavailable",
                                "Redis is not connected; retry",
                                RETRY_AFTER_DOWN);
        return;
    }
    in->pending++;
    http_req_on_abort(req, on_abort, p);
    /* Return without responding: the request stays suspended until
     * archive_done answers it. */
}

void ingest_drain(struct ingest *in)
{
    in->draining = 1;
}

unsigned ingest_pending(const struct ingest *in)
{
    return in->pending;
}

void ingest_free(struct ingest *in)
{
    if (in == NULL)
        return;
    if (in->pending > 0) {
        in->freed = 1;
        return;
    }
    jdoc_free(in->doc);
    free(in);
}
