/* http.h - the HTTP server: libmicrohttpd driven from a libev loop through
 * its epoll fd (no MHD threads), a routing table, hardened input handling
 * (PROTOCOLS.md section 6), body caps, auth, and deferred responses.
 *
 * A handler is called once per request, when the whole body is in. It
 * either responds at once with http_req_respond*, or returns without
 * responding: the connection is then suspended until http_req_respond* is
 * called later from a loop callback (e.g. when Redis confirms a write).
 * Only http.c includes <microhttpd.h>.
 *
 * Order of checks before a handler runs, each answering with a JSON error
 * {"error": ..., "detail": ...}: header hygiene (400 + Connection: close),
 * route (404, or 405 with Allow), auth (401 with WWW-Authenticate),
 * Content-Type (415), body cap (413; by Content-Length before any body
 * byte is read, or while counting a chunked body), body deadline (the
 * connection is dropped). HEAD is served by GET routes without the body.
 *
 * Lifetime of a deferred request: R stays valid until the owner calls
 * http_req_respond* or its on_abort callback runs, whichever is first,
 * even if the client has gone or the server has been freed meanwhile.
 * All functions here are called from the loop's thread only. */
#ifndef QUENCH_HTTP_H
#define QUENCH_HTTP_H

#include <stddef.h>

#include "qerr.h"

struct ev_loop;
struct http_server;   /* opaque */
struct http_req;      /* opaque; owned by the server */

/* Credentials a route requires. Both NULL: no auth. Either may be set;
 * when both are, either scheme is accepted. Compared in constant time. */
struct http_auth {
    const char *bearer_token;     /* "Authorization: Bearer <token>" */
    const char *basic_user;       /* "Authorization: Basic b64(user:pass)" */
    const char *basic_password;
};

typedef void (*http_handler_fn)(struct http_req *req, void *ud);

struct http_route {
    const char *method;        /* "GET", "POST" */
    const char *path;          /* exact, or a prefix when it ends in '/' and
                                  HTTP_ROUTE_PREFIX is set */
    unsigned flags;
    const char *content_type;  /* required media type (parameters allowed),
                                  NULL: any */
    size_t max_body;           /* cap; past it 413 */
    const struct http_auth *auth;   /* NULL: none */
    http_handler_fn fn;
    void *ud;
};
#define HTTP_ROUTE_PREFIX 1u

/* Zero fields take the default from limits.h. */
struct http_options {
    const char *listen;        /* "host:port", "[v6]:port" or ":port" (all
                                  IPv4); port 0 picks a free port */
    unsigned max_connections;  /* QUENCH_MAX_CONNECTIONS */
    unsigned idle_timeout_s;   /* QUENCH_CONNECTION_IDLE_S */
    unsigned per_ip_limit;     /* connections per client IP; 0: no limit
                                  (behind a single proxy) */
    size_t connection_memory;  /* QUENCH_MAX_CONNECTION_MEMORY */
    unsigned body_deadline_s;  /* QUENCH_BODY_DEADLINE_S */
    unsigned deferred_deadline_s; /* QUENCH_DEFERRED_DEADLINE_S */
};

/* Bind and start serving on LOOP. ROUTES is borrowed for the server's life.
 * 0, or -1 with ERR (bind failure, bad address). */
int http_server_new(struct http_server **out, struct ev_loop *loop,
                    const struct http_options *opt,
                    const struct http_route *routes, size_t nroutes,
                    struct qerr *err);
/* Port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *s);
/* Stop accepting, answer every suspended request 503 (running its
 * on_abort first), close, free. S may be NULL. Not from inside a handler
 * or an on_abort callback. */
void http_server_free(struct http_server *s);

/* Called once per finished request, when MHD is done with it: ROUTE_PATH is
 * the matched route's path (borrowed), or NULL when no route matched;
 * STATUS the status sent, 0 if the connection ended without a response
 * (client gone, body deadline); SECONDS from headers complete to done.
 * For metrics; must not call back into the server. Also runs inside
 * http_server_free, so free the server before what FN touches. FN NULL:
 * none. */
void http_server_set_observer(struct http_server *s,
                              void (*fn)(const char *route_path,
                                         unsigned status, double seconds,
                                         void *ud),
                              void *ud);

/* Counters for /metrics; events the server handles without a log line. */
struct http_stats {
    unsigned long suspended;        /* deferred requests waiting now */
    unsigned long bad_headers;      /* 400 from header hygiene */
    unsigned long body_deadline;    /* connections dropped mid-body */
    unsigned long deferred_timeouts;/* 503 at deferred_deadline_s */
    unsigned long clients_gone;     /* disconnected while suspended */
    unsigned long aborted;          /* on_abort callbacks run */
};
void http_server_stats(const struct http_server *s, struct http_stats *out);

/* Request accessors; strings borrowed until the response is queued. */
const char *http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
const char *http_req_header(const struct http_req *r, const char *name);
const char *http_req_body(const struct http_req *r, size_t *len);
/* The part of the path after a HTTP_ROUTE_PREFIX route's prefix. */
const char *http_req_subpath(const struct http_req *r);

/* Respond with STATUS, CONTENT_TYPE and BODY (copied). EXTRA_HEADERS is a
 * NULL-terminated name, value, name, value... list or NULL. Callable once,
 * either from the handler or later (deferred). 0, or -1 if already
 * answered or the client is gone (the request is then freed anyway: R is
 * invalid after this call either way). A header with CR or LF is refused:
 * the client then gets 500 and -1 is returned. */
int http_req_respond(struct http_req *r, unsigned status,
                     const char *content_type, const char *body, size_t len,
                     const char *const *extra_headers);
/* {"error": ERROR, "detail": DETAIL} with the given status. */
int http_req_respond_error(struct http_req *r, unsigned status,
                           const char *error, const char *detail);

/* Set a callback run if a deferred request is abandoned: the server is
 * shutting down, the client disconnected, or deferred_deadline_s passed.
 * The server answers 503 itself (if anyone listens); the owner must forget
 * R, which is invalid once FN returns. FN must not call http_req_respond*.
 * Without one, R stays allocated until the owner calls http_req_respond*,
 * which then returns -1. */
void http_req_on_abort(struct http_req *r, void (*fn)(struct http_req *, void *),
                       void *ud);

#endif
