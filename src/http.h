/* http.h - the HTTP server: libmicrohttpd driven from a libev loop through
 * its epoll fd (no MHD threads), a routing table, hardened input handling
 * (PROTOCOLS.md section 6), body caps, auth, and deferred responses.
 *
 * A handler is called once per request, when the whole body is in. It
 * either responds at once with http_req_respond*, or returns without
 * responding: the connection is then suspended until http_req_respond* is
 * called later from a loop callback (e.g. when Redis confirms a write).
 * Only http.c includes <microhttpd.h>. */
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

struct http_options {
    const char *listen;        /* "host:port"; port 0 picks a free port */
    unsigned max_connections;
    unsigned idle_timeout_s;
};

/* Bind and start serving on LOOP. ROUTES is borrowed for the server's life.
 * 0, or -1 with ERR (bind failure, bad address). */
int http_server_new(struct http_server **out, struct ev_loop *loop,
                    const struct http_options *opt,
                    const struct http_route *routes, size_t nroutes,
                    struct qerr *err);
/* Port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *s);
/* Stop accepting, answer every suspended request 503, close, free.
 * S may be NULL. */
void http_server_free(struct http_server *s);

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
 * answered or the client is gone (the request is then freed anyway). */
int http_req_respond(struct http_req *r, unsigned status,
                     const char *content_type, const char *body, size_t len,
                     const char *const *extra_headers);
/* {"error": ERROR, "detail": DETAIL} with the given status. */
int http_req_respond_error(struct http_req *r, unsigned status,
                           const char *error, const char *detail);

/* Set a callback run if a deferred request is abandoned (server shutting
 * down): the server answers 503 itself; the owner must forget R. */
void http_req_on_abort(struct http_req *r, void (*fn)(struct http_req *, void *),
                       void *ud);

#endif
