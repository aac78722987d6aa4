/* http.c - libmicrohttpd 0.9.75 on a libev loop, with the hardening of
 * PROTOCOLS.md section 6.
 *
 * MHD runs with MHD_USE_EPOLL and no thread of its own. An ev_io on MHD's
 * epoll fd and an ev_timer both call MHD_run; an ev_prepare re-arms the
 * timer from MHD_get_timeout just before the loop blocks, so connection
 * timeouts fire and connections MHD left ready (its epoll is
 * edge-triggered) are served without a new event. Two state changes in
 * 0.9.75 raise no event on that fd and are not in MHD_get_timeout: a
 * resumed connection, and a closed one freeing a slot at the connection
 * limit (the listen socket is re-armed only inside MHD_run). For both the
 * prepare arms the timer at zero (run_again).
 *
 * Invariant (the lifetime of a struct http_req): it is made on the first
 * access-handler call and has up to two holders. MHD holds it until
 * NOTIFY_COMPLETED (conn != NULL); the owner of a deferred request holds it
 * from the handler's return until http_req_respond* or on_abort
 * (owner_holds). req_release() frees it only when neither holds it, and is
 * the only free site. A suspended connection cannot complete in MHD, so
 * while the owner may still respond, MHD cannot free the request under it;
 * once the server answers on its own (shutdown, client gone, deadline) and
 * MHD completes, a request whose owner never set on_abort lives on, detached,
 * until the owner responds and is told -1.
 *
 * Nothing here logs: what happens is counted in struct http_stats and
 * reported per request through the observer. */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "limits.h"
#include "utf8.h"

#define container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct http_server {
    struct ev_loop *loop;
    struct MHD_Daemon *mhd;
    const struct http_route *routes;   /* borrowed */
    size_t nroutes;
    unsigned port;
    unsigned body_deadline_s;
    unsigned deferred_deadline_s;
    ev_io io;                  /* MHD's epoll fd is readable */
    ev_timer timer;            /* MHD's next connection timeout */
    ev_prepare prepare;        /* re-arms timer before the loop blocks */
    struct http_req *suspended;        /* deferred requests, linked */
    unsigned long flushing;    /* abandoned at shutdown, not yet completed */
    unsigned nconn;            /* connections after the last MHD_run */
    bool run_again;            /* MHD has work no fd event will report */
    void (*observer)(const char *, unsigned, double, void *);
    void *observer_ud;
    struct http_stats stats;
};

struct http_req {
    struct http_server *srv;         /* NULL once MHD is done with it */
    struct MHD_Connection *conn;     /* NULL once MHD is done with it */
    const struct http_route *route;  /* NULL until matched */
    const char *method, *path, *subpath;   /* MHD's, valid while conn */
    char *body;                      /* NUL-terminated, body_len bytes */
    size_t body_len, body_cap;
    double t_start;                  /* monotonic, first handler call */
    unsigned status;                 /* of resp / of what was queued */
    struct MHD_Response *resp;       /* made, not yet queued */
    bool answered;                   /* a response exists (by anyone) */
    bool queued;                     /* handed to MHD */
    bool handled;                    /* route handler has run */
    bool too_large;                  /* chunked past the cap: discarding */
    bool suspended;
    bool owner_holds;                /* deferred and the owner has R */
    bool in_abort;                   /* inside on_abort */
    bool flushing;                   /* counted in srv->flushing */
    void (*on_abort)(struct http_req *, void *);
    void *abort_ud;
    ev_io gone;                      /* client socket, while suspended */
    ev_timer deadline;               /* deferred deadline, while suspended */
    struct http_req *prev, *next;    /* srv->suspended */
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- small helpers ----------------------------------------------------- */

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

static bool ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    /* The length check leaks only the length, which PROTOCOLS 1.7 accepts. */
    return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}

/* Append S JSON-escaped at P; P has room for 6 bytes per input byte.
 * Bytes that are not UTF-8 (a percent-decoded path echoed in a detail)
 * become U+FFFD each, so the body stays valid JSON. */
static char *json_escape(char *p, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *end = (const unsigned char *)s + strlen(s);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        size_t n = c < 0x80 ? 1 : utf8_seq_len((const unsigned char *)s, end);
        if (n == 0) {
            memcpy(p, "\\ufffd", 6);
            p += 6;
        } else if (n > 1) {
            memcpy(p, s, n);
            p += n;
            s += n - 1;
        } else if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            *p++ = '\\';
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        } else {
            *p++ = (char)c;
        }
    }
    return p;
}

/* {"error":E,"detail":D}, malloc'd, or NULL. */
static char *error_json(const char *error, const char *detail, size_t *len)
{
    if (error == NULL)
        error = "";
    if (detail == NULL)
        detail = "";
    size_t cap = 6 * (strlen(error) + strlen(detail)) + 32;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    char *p = buf;
    memcpy(p, "{\"error\":\"", 10);
    p = json_escape(p + 10, error);
    memcpy(p, "\",\"detail\":\"", 12);
    p = json_escape(p + 12, detail);
    memcpy(p, "\"}", 3);
    *len = (size_t)(p + 2 - buf);
    return buf;
}

static bool header_ok(const char *name, const char *value)
{
    if (name == NULL || value == NULL || *name == '\0')
        return false;
    for (const char *c = name; *c; c++)
        if (!is_tchar((unsigned char)*c))
            return false;
    return strpbrk(value, "\r\n") == NULL;
}

/* A response with BODY copied; NULL on bad headers or no memory. */
static struct MHD_Response *resp_make(const char *ctype, const char *body,
                                      size_t len,
                                      const char *const *extra, bool close)
{
    if (ctype != NULL && strpbrk(ctype, "\r\n") != NULL)
        return NULL;
    for (const char *const *h = extra; h != NULL && h[0] != NULL; h += 2)
        if (!header_ok(h[0], h[1]))
            return NULL;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)(body != NULL ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return NULL;
    bool ok = true;
    if (ctype != NULL)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                     ctype) == MHD_YES;
    for (const char *const *h = extra; ok && h != NULL && h[0] != NULL; h += 2)
        ok = MHD_add_response_header(resp, h[0], h[1]) == MHD_YES;
    if (ok && close)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
                                     "close") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

static struct MHD_Response *error_resp(const char *error, const char *detail,
                                       const char *const *extra, bool close)
{
    size_t len = 0;
    char *body = error_json(error, detail, &len);
    if (body == NULL)
        return NULL;
    struct MHD_Response *resp =
        resp_make("application/json", body, len, extra, close);
    free(body);
    return resp;
}

/* ---- request lifetime -------------------------------------------------- */

/* Free R if neither MHD nor the owner holds it: the only free site. */
static void req_release(struct http_req *r)
{
    if (r->conn != NULL || r->owner_holds)
        return;
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    free(r->body);
    free(r);
}

static void on_client_gone(struct ev_loop *loop, ev_io *w, int revents);
static void on_deferred_deadline(struct ev_loop *loop, ev_timer *w,
                                 int revents);

static void req_suspend(struct http_req *r)
{
    struct http_server *s = r->srv;
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    r->prev = NULL;
    r->next = s->suspended;
    if (s->suspended != NULL)
        s->suspended->prev = r;
    s->suspended = r;
    s->stats.suspended++;
    /* MHD stops watching a suspended socket, so it would miss the client
     * leaving; watch it ourselves, and bound the wait. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci != NULL) {
        ev_io_init(&r->gone, on_client_gone, ci->connect_fd, EV_READ);
        ev_io_start(s->loop, &r->gone);
    }
    ev_timer_init(&r->deadline, on_deferred_deadline,
                  (ev_tstamp)s->deferred_deadline_s, 0.);
    ev_timer_start(s->loop, &r->deadline);
}

/* Stop watching R and hand it back to MHD; the access handler, called
 * again, queues the stored response. */
static void req_resume(struct http_req *r)
{
    struct http_server *s = r->srv;
    ev_io_stop(s->loop, &r->gone);
    ev_timer_stop(s->loop, &r->deadline);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        s->suspended = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->suspended = false;
    s->stats.suspended--;
    MHD_resume_connection(r->conn);
    s->run_again = true;
}

static void req_store(struct http_req *r, unsigned status,
                      struct MHD_Response *resp)
{
    r->resp = resp;
    r->status = status;
    r->answered = true;
}

/* The server gives up on suspended R: tell the owner (who must forget R),
 * answer 503 and resume. */
static void req_abandon(struct http_req *r, const char *detail)
{
    struct http_server *s = r->srv;
    if (r->on_abort != NULL) {
        r->in_abort = true;
        r->on_abort(r, r->abort_ud);
        r->in_abort = false;
        r->owner_holds = false;
        s->stats.aborted++;
    }
    /* Every 503 of quench says when to retry, these too (the owner's own
     * answer would have). NULL resp (no memory): MHD then closes the
     * connection, which is the best left to do. */
    static const char *const retry[] = {"Retry-After", "1", NULL};
    req_store(r, MHD_HTTP_SERVICE_UNAVAILABLE,
              error_resp("unavailable", detail, retry, true));
    req_resume(r);
}

static void on_client_gone(struct ev_loop *loop, ev_io *w, int revents)
{
    struct http_req *r = container_of(w, struct http_req, gone);
    char c;
    ssize_t n = recv(w->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        /* A pipelined request, not a goodbye: nothing more to learn. */
        ev_io_stop(loop, w);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    /* EOF or reset. A client that half-closes after its request is taken
     * for gone too; HTTP clients (Alertmanager, Slack) do not. */
    r->srv->stats.clients_gone++;
    req_abandon(r, "client disconnected");
}

static void on_deferred_deadline(struct ev_loop *loop, ev_timer *w,
                                 int revents)
{
    struct http_req *r = container_of(w, struct http_req, deadline);
    r->srv->stats.deferred_timeouts++;
    req_abandon(r, "no answer in time");
}

static enum MHD_Result queue_stored(struct http_req *r)
{
    if (r->resp == NULL)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    r->queued = rc == MHD_YES;
    return rc;
}

static enum MHD_Result reject(struct http_req *r, unsigned status,
                              const char *error, const char *detail,
                              const char *const *extra, bool close)
{
    req_store(r, status, error_resp(error, detail, extra, close));
    return queue_stored(r);
}

/* ---- checks on the first handler call ---------------------------------- */

struct hygiene {
    const char *why;       /* first problem, or NULL */
    unsigned ncl, nte;
    const char *cl, *te;
};

static enum MHD_Result hygiene_each(void *cls, enum MHD_ValueKind kind,
                                    const char *key, size_t key_size,
                                    const char *value, size_t value_size)
{
    struct hygiene *h = cls;
    if (key == NULL || key_size == 0) {
        h->why = "empty header name";
        return MHD_NO;
    }
    for (size_t i = 0; i < key_size; i++)
        if (!is_tchar((unsigned char)key[i])) {
            h->why = "header name with a non-token byte";
            return MHD_NO;
        }
    if (value == NULL)
        value = "";
    /* MHD keeps a bare CR in a value; a NUL would truncate it silently. */
    for (size_t i = 0; i < value_size; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') {
            h->why = "header value with CR, LF or NUL";
            return MHD_NO;
        }
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        h->ncl++;
        h->cl = value;
        if (value_size == 0 || strspn(value, "0123456789") != value_size) {
            h->why = "Content-Length is not a number";
            return MHD_NO;
        }
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        h->nte++;
        h->te = value;
    }
    return MHD_YES;
}

/* NULL if the header block is acceptable, else why not. */
static const char *check_hygiene(struct MHD_Connection *conn,
                                 const char *version)
{
    struct hygiene h = { 0 };
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, hygiene_each, &h);
    if (h.why != NULL)
        return h.why;
    if (h.ncl > 1)
        return "repeated Content-Length";
    if (h.nte > 1)
        return "repeated Transfer-Encoding";
    if (h.nte == 1 && h.ncl == 1)
        return "Transfer-Encoding with Content-Length";
    /* Exactly "chunked": a spelling MHD might not take for chunked would
     * leave the chunks to be parsed as the next request. */
    if (h.nte == 1 && strcmp(h.te, "chunked") != 0)
        return "Transfer-Encoding other than chunked";
    if (h.nte == 1 && strcmp(version, MHD_HTTP_VERSION_1_1) != 0)
        return "Transfer-Encoding before HTTP/1.1";
    return NULL;
}

static bool route_path_matches(const struct http_route *rt, const char *path,
                               size_t *prefix_len)
{
    if (strcmp(rt->path, path) == 0) {
        *prefix_len = 0;
        return true;
    }
    size_t n = strlen(rt->path);
    if ((rt->flags & HTTP_ROUTE_PREFIX) && n > 0 && rt->path[n - 1] == '/' &&
        strncmp(rt->path, path, n) == 0) {
        *prefix_len = n;
        return true;
    }
    return false;
}

static bool route_method_matches(const struct http_route *rt,
                                 const char *method)
{
    return strcmp(rt->method, method) == 0 ||
           (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 &&
            strcmp(rt->method, MHD_HTTP_METHOD_GET) == 0);
}

/* The route for METHOD and PATH: an exact path beats a prefix, a longer
 * prefix a shorter one. NULL: *path_known tells 405 from 404, and ALLOW
 * gets the methods the path has. */
static const struct http_route *route_find(const struct http_server *s,
                                           const char *method,
                                           const char *path, bool *path_known,
                                           char *allow, size_t allow_cap)
{
    const struct http_route *best = NULL;
    size_t best_rank = 0;
    *path_known = false;
    allow[0] = '\0';
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct http_route *rt = &s->routes[i];
        size_t plen;
        if (!route_path_matches(rt, path, &plen))
            continue;
        *path_known = true;
        /* exact: SIZE_MAX; prefix: its length */
        size_t rank = plen == 0 ? SIZE_MAX : plen;
        if (route_method_matches(rt, method)) {
            if (best == NULL || rank > best_rank) {
                best = rt;
                best_rank = rank;
            }
        }
        const char *m[2] = { rt->method, NULL };
        if (strcmp(rt->method, MHD_HTTP_METHOD_GET) == 0)
            m[1] = MHD_HTTP_METHOD_HEAD;
        for (int k = 0; k < 2 && m[k] != NULL; k++) {
            size_t ml = strlen(m[k]), al = strlen(allow);
            bool dup = false;
            for (const char *p = allow; (p = strstr(p, m[k])) != NULL; p++)
                if ((p == allow || p[-1] == ' ') &&
                    (p[ml] == ',' || p[ml] == '\0'))
                    dup = true;
            if (!dup && al + ml + 3 < allow_cap)
                snprintf(allow + al, allow_cap - al, "%s%s",
                         al ? ", " : "", m[k]);
        }
    }
    return best;
}

static bool basic_ok(const struct http_auth *a, const char *b64, size_t len)
{
    unsigned char buf[QUENCH_MAX_AUTH_HEADER / 4 * 3 + 1];
    if (len == 0 || len % 4 != 0 || len > QUENCH_MAX_AUTH_HEADER)
        return false;
    /* EVP_DecodeBlock skips whitespace and counts padding as data: accept
     * only the strict alphabet, with '=' only as the last one or two. */
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)b64[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (alpha && pad == 0)
            continue;
        if (c == '=' && i + 2 >= len) {
            pad++;
            continue;
        }
        return false;
    }
    int n = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)len);
    if (n < (int)pad)
        return false;
    size_t dlen = (size_t)n - pad;
    bool ok = false;
    const unsigned char *colon = memchr(buf, ':', dlen);
    if (colon != NULL) {
        size_t ulen = (size_t)(colon - buf);
        const char *pw = a->basic_password != NULL ? a->basic_password : "";
        /* Both compared, whatever the first gives. */
        bool u = ct_equal(buf, ulen, a->basic_user, strlen(a->basic_user));
        bool p = ct_equal(colon + 1, dlen - ulen - 1, pw, strlen(pw));
        ok = u & p;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return ok;
}

/* Does HDR (an Authorization value, or NULL) satisfy A? Never logged. */
static bool auth_ok(const struct http_auth *a, const char *hdr)
{
    if (hdr == NULL)
        return false;
    size_t hlen = strlen(hdr);
    if (hlen > QUENCH_MAX_AUTH_HEADER)
        return false;
    size_t slen = strcspn(hdr, " \t");
    const char *cred = hdr + slen;
    while (*cred == ' ' || *cred == '\t')
        cred++;
    size_t clen = strlen(cred);
    while (clen > 0 && (cred[clen - 1] == ' ' || cred[clen - 1] == '\t'))
        clen--;
    if (clen == 0)
        return false;
    /* An empty configured secret never matches: fail closed. */
    if (a->bearer_token != NULL && a->bearer_token[0] != '\0' && slen == 6 &&
        strncasecmp(hdr, "Bearer", 6) == 0)
        return ct_equal(cred, clen, a->bearer_token, strlen(a->bearer_token));
    if (a->basic_user != NULL && a->basic_user[0] != '\0' && slen == 5 &&
        strncasecmp(hdr, "Basic", 5) == 0)
        return basic_ok(a, cred, clen);
    return false;
}

/* Media type of HDR (parameters and case ignored) equals that of WANT. */
static bool media_type_is(const char *hdr, const char *want)
{
    if (hdr == NULL)
        return false;
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    size_t n = strcspn(hdr, ";");
    while (n > 0 && (hdr[n - 1] == ' ' || hdr[n - 1] == '\t'))
        n--;
    size_t wn = strcspn(want, ";");
    while (wn > 0 && (want[wn - 1] == ' ' || want[wn - 1] == '\t'))
        wn--;
    return n == wn && strncasecmp(hdr, want, n) == 0;
}

/* Content-Length already checked as all digits; SIZE_MAX past size_t. */
static size_t parse_length(const char *s)
{
    size_t v = 0;
    for (; *s; s++) {
        size_t d = (size_t)(*s - '0');
        if (v > (SIZE_MAX - d) / 10)
            return SIZE_MAX;
        v = v * 10 + d;
    }
    return v;
}

static enum MHD_Result first_call(struct http_req *r, const char *version)
{
    struct http_server *s = r->srv;
    struct MHD_Connection *conn = r->conn;

    const char *why = check_hygiene(conn, version);
    if (why != NULL) {
        s->stats.bad_headers++;
        return reject(r, MHD_HTTP_BAD_REQUEST, "bad_request", why, NULL, true);
    }

    bool path_known;
    char allow[128];
    r->route = route_find(s, r->method, r->path, &path_known, allow,
                          sizeof allow);
    if (r->route == NULL && !path_known)
        return reject(r, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint",
                      NULL, false);
    if (r->route == NULL) {
        const char *extra[] = { MHD_HTTP_HEADER_ALLOW, allow, NULL };
        return reject(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                      "method not allowed on this endpoint", extra, false);
    }
    const struct http_route *rt = r->route;
    r->subpath = r->path + ((rt->flags & HTTP_ROUTE_PREFIX) &&
                                    strcmp(rt->path, r->path) != 0
                                ? strlen(rt->path)
                                : strlen(r->path));

    const struct http_auth *a = rt->auth;
    if (a != NULL && (a->bearer_token != NULL || a->basic_user != NULL) &&
        !auth_ok(a, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION))) {
        const char *extra[5] = { NULL };
        int k = 0;
        if (a->bearer_token != NULL) {
            extra[k++] = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
            extra[k++] = "Bearer realm=\"quench\"";
        }
        if (a->basic_user != NULL) {
            extra[k++] = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
            extra[k++] = "Basic realm=\"quench\", charset=\"UTF-8\"";
        }
        return reject(r, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                      "missing or wrong credentials", extra, false);
    }

    if (rt->content_type != NULL &&
        !media_type_is(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_TYPE),
                       rt->content_type))
        return reject(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                      "unsupported_media_type", rt->content_type, NULL, false);

    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL) {
        size_t n = parse_length(cl);
        /* Queued before any body byte: MHD sends no 100 Continue and
         * closes instead of reading the body. */
        if (n > rt->max_body)
            return reject(r, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                          "body over the limit for this endpoint", NULL, true);
        if (n > 0) {
            r->body = malloc(n + 1);
            if (r->body == NULL)
                return MHD_NO;
            r->body_cap = n + 1;
            r->body[0] = '\0';
        }
    }
    return MHD_YES;
}

/* ---- body and handler -------------------------------------------------- */

static enum MHD_Result body_data(struct http_req *r, const char *data,
                                 size_t *size)
{
    struct http_server *s = r->srv;
    if (mono_now() - r->t_start > (double)s->body_deadline_s) {
        s->stats.body_deadline++;
        return MHD_NO;
    }
    size_t n = *size;
    *size = 0;
    if (r->too_large)
        return MHD_YES;
    size_t cap = r->route->max_body;
    if (n > cap || r->body_len > cap - n) {
        /* MHD refuses a response mid-body: discard the rest and answer
         * 413 on the final call. */
        r->too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return MHD_YES;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t want = r->body_cap < 4096 ? 4096 : r->body_cap * 2;
        if (want < r->body_len + n + 1)
            want = r->body_len + n + 1;
        if (want > cap + 1)
            want = cap + 1;
        char *nb = realloc(r->body, want);
        if (nb == NULL)
            return MHD_NO;
        r->body = nb;
        r->body_cap = want;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return MHD_YES;
}

static enum MHD_Result run_handler(struct http_req *r)
{
    r->handled = true;
    r->route->fn(r, r->route->ud);
    if (r->answered)
        return queue_stored(r);
    r->owner_holds = true;
    req_suspend(r);
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *data,
                                 size_t *data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct http_req *r = *con_cls;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->t_start = mono_now();
        *con_cls = r;
        return first_call(r, version);
    }
    if (r->queued)
        return MHD_NO;             /* not expected: MHD has its answer */
    if (r->resp != NULL || (r->answered && r->handled))
        return queue_stored(r);    /* resumed after a deferred answer */
    if (*data_size > 0)
        return body_data(r, data, data_size);
    if (r->too_large)
        return reject(r, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                      "body over the limit for this endpoint", NULL, true);
    if (r->handled)
        return MHD_NO;             /* resumed with nothing to say */
    return run_handler(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct http_req *r = *con_cls;
    if (r == NULL)
        return;
    *con_cls = NULL;
    if (r->suspended) {
        /* Only MHD_stop_daemon with a request we failed to resume. */
        ev_io_stop(s->loop, &r->gone);
        ev_timer_stop(s->loop, &r->deadline);
        r->suspended = false;
        s->stats.suspended--;
        if (r->prev != NULL)
            r->prev->next = r->next;
        else
            s->suspended = r->next;
        if (r->next != NULL)
            r->next->prev = r->prev;
    }
    if (r->flushing) {
        r->flushing = false;
        s->flushing--;
    }
    if (s->observer != NULL)
        s->observer(r->route != NULL ? r->route->path : NULL,
                    r->queued && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK
                        ? r->status
                        : 0,
                    mono_now() - r->t_start, s->observer_ud);
    r->conn = NULL;
    r->srv = NULL;
    r->route = NULL;
    r->method = r->path = r->subpath = NULL;
    free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
    req_release(r);
}

/* ---- loop glue --------------------------------------------------------- */

static void mhd_run(struct http_server *s)
{
    s->run_again = false;
    MHD_run(s->mhd);
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (di != NULL) {
        if (di->num_connections < s->nconn)
            s->run_again = true;   /* a slot freed: re-arm accepting */
        s->nconn = di->num_connections;
    }
}

static void on_mhd_io(struct ev_loop *loop, ev_io *w, int revents)
{
    mhd_run(container_of(w, struct http_server, io));
}

static void on_mhd_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    mhd_run(container_of(w, struct http_server, timer));
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct http_server *s = container_of(w, struct http_server, prepare);
    MHD_UNSIGNED_LONG_LONG ms = 0;
    ev_timer_stop(loop, &s->timer);
    if (s->run_again) {
        ev_timer_set(&s->timer, 0., 0.);
        ev_timer_start(loop, &s->timer);
        return;
    }
    /* 0 when MHD left connections ready: run again before blocking. */
    if (MHD_get_timeout(s->mhd, &ms) == MHD_YES) {
        ev_timer_set(&s->timer, (ev_tstamp)ms / 1000.0, 0.);
        ev_timer_start(loop, &s->timer);
    }
}

/* "host:port", "[v6]:port" or ":port" into a listening socket. */
static int listen_on(const char *spec, bool *v6, unsigned *port,
                     struct qerr *err)
{
    char host[256], serv[8];
    const char *colon;
    if (spec == NULL)
        return qerr_set(err, NULL, 0, 0, "no listen address");
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (end == NULL || end[1] != ':')
            return qerr_set(err, NULL, 0, 0,
                            "listen address '%s': want [v6]:port", spec);
        if ((size_t)(end - spec - 1) >= sizeof host)
            return qerr_set(err, NULL, 0, 0, "listen address too long");
        memcpy(host, spec + 1, (size_t)(end - spec - 1));
        host[end - spec - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL || memchr(spec, ':', (size_t)(colon - spec)))
            return qerr_set(err, NULL, 0, 0,
                            "listen address '%s': want host:port", spec);
        if ((size_t)(colon - spec) >= sizeof host)
            return qerr_set(err, NULL, 0, 0, "listen address too long");
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        if (host[0] == '\0')
            strcpy(host, "0.0.0.0");
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (pl == 0 || pl > 5 || strspn(p, "0123456789") != pl ||
        strtoul(p, NULL, 10) > 65535)
        return qerr_set(err, NULL, 0, 0, "listen address '%s': bad port",
                        spec);
    memcpy(serv, p, pl + 1);

    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, serv, &hints, &ai);
    if (gai != 0)
        return qerr_set(err, NULL, 0, 0, "listen address '%s': %s", spec,
                        gai_strerror(gai));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(ai);
        return qerr_set(err, NULL, 0, 0, "socket: %s", strerror(e));
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    *v6 = ai->ai_family == AF_INET6;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        freeaddrinfo(ai);
        close(fd);
        return qerr_set(err, NULL, 0, 0, "cannot listen on %s: %s", spec,
                        strerror(e));
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        int e = errno;
        close(fd);
        return qerr_set(err, NULL, 0, 0, "getsockname: %s", strerror(e));
    }
    *port = ss.ss_family == AF_INET6
                ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int http_server_new(struct http_server **out, struct ev_loop *loop,
                    const struct http_options *opt,
                    const struct http_route *routes, size_t nroutes,
                    struct qerr *err)
{
    *out = NULL;
    bool v6 = false;
    unsigned port = 0;
    int fd = listen_on(opt->listen, &v6, &port, err);
    if (fd < 0)
        return -1;
    struct http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        close(fd);
        return qerr_set(err, NULL, 0, 0, "out of memory");
    }
    s->loop = loop;
    s->routes = routes;
    s->nroutes = nroutes;
    s->port = port;
    s->body_deadline_s =
        opt->body_deadline_s ? opt->body_deadline_s : QUENCH_BODY_DEADLINE_S;
    s->deferred_deadline_s = opt->deferred_deadline_s
                                 ? opt->deferred_deadline_s
                                 : QUENCH_DEFERRED_DEADLINE_S;
    unsigned maxc = opt->max_connections ? opt->max_connections
                                         : QUENCH_MAX_CONNECTIONS;
    unsigned idle = opt->idle_timeout_s ? opt->idle_timeout_s
                                        : QUENCH_CONNECTION_IDLE_S;
    size_t mem = opt->connection_memory ? opt->connection_memory
                                        : QUENCH_MAX_CONNECTION_MEMORY;

    struct MHD_OptionItem ops[] = {
        { MHD_OPTION_LISTEN_SOCKET, fd, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)maxc, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)idle, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)mem, NULL },
        { MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL },
        { opt->per_ip_limit ? MHD_OPTION_PER_IP_CONNECTION_LIMIT
                            : MHD_OPTION_END,
          (intptr_t)opt->per_ip_limit, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
    if (v6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_access,
                              s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (s->mhd == NULL) {
        close(fd);
        free(s);
        return qerr_set(err, NULL, 0, 0,
                        "cannot start the HTTP server on %s", opt->listen);
    }
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (di == NULL) {
        MHD_stop_daemon(s->mhd);   /* closes fd */
        free(s);
        return qerr_set(err, NULL, 0, 0, "MHD gave no epoll fd");
    }
    ev_io_init(&s->io, on_mhd_io, di->epoll_fd, EV_READ);
    ev_io_start(loop, &s->io);
    ev_timer_init(&s->timer, on_mhd_timer, 0., 0.);
    ev_prepare_init(&s->prepare, on_prepare);
    ev_prepare_start(loop, &s->prepare);
    *out = s;
    return 0;
}

unsigned http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_set_observer(struct http_server *s,
                              void (*fn)(const char *, unsigned, double,
                                         void *),
                              void *ud)
{
    s->observer = fn;
    s->observer_ud = ud;
}

void http_server_stats(const struct http_server *s, struct http_stats *out)
{
    *out = s->stats;
}

void http_server_free(struct http_server *s)
{
    if (s == NULL)
        return;
    ev_io_stop(s->loop, &s->io);
    ev_timer_stop(s->loop, &s->timer);
    ev_prepare_stop(s->loop, &s->prepare);
    /* Stop accepting; the listen socket is ours again. */
    MHD_socket ls = MHD_quiesce_daemon(s->mhd);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    /* Suspended connections must all be resumed before MHD_stop_daemon;
     * each gets a 503 so Alertmanager retries elsewhere or later. */
    while (s->suspended != NULL) {
        struct http_req *r = s->suspended;
        r->flushing = true;
        s->flushing++;
        req_abandon(r, "shutting down");
    }
    /* A time budget, not a count of rounds: MHD_run_wait returns at every
     * event, so 50 rounds could pass in a few ms on a busy machine and the
     * 503s be cut off (a client then saw a reset, not an answer). */
    for (double end = mono_now() + QUENCH_HTTP_FLUSH_MS / 1000.0;
         s->flushing > 0 && mono_now() < end;)
        MHD_run_wait(s->mhd, 10);
    MHD_stop_daemon(s->mhd);
    free(s);
}

/* ---- request API ------------------------------------------------------- */

const char *http_req_method(const struct http_req *r)
{
    return r->conn != NULL ? r->method : NULL;
}

const char *http_req_path(const struct http_req *r)
{
    return r->conn != NULL ? r->path : NULL;
}

const char *http_req_subpath(const struct http_req *r)
{
    return r->conn != NULL ? r->subpath : NULL;
}

const char *http_req_header(const struct http_req *r, const char *name)
{
    if (r->conn == NULL)
        return NULL;
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_body(const struct http_req *r, size_t *len)
{
    if (len != NULL)
        *len = r->body_len;
    return r->body != NULL ? r->body : "";
}

void http_req_on_abort(struct http_req *r,
                       void (*fn)(struct http_req *, void *), void *ud)
{
    r->on_abort = fn;
    r->abort_ud = ud;
}

int http_req_respond(struct http_req *r, unsigned status,
                     const char *content_type, const char *body, size_t len,
                     const char *const *extra_headers)
{
    if (r == NULL || r->in_abort)
        return -1;
    if (r->answered) {
        /* The server answered already (client gone, deadline, shutdown)
         * and the owner, who set no on_abort, lets go only now. */
        if (r->owner_holds) {
            r->owner_holds = false;
            req_release(r);
        }
        return -1;
    }
    int rc = 0;
    struct MHD_Response *resp =
        resp_make(content_type, body, len, extra_headers, false);
    if (resp == NULL) {
        rc = -1;
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        resp = error_resp("internal", "response could not be built", NULL,
                          true);
    }
    req_store(r, status, resp);
    if (r->suspended) {
        r->owner_holds = false;
        req_resume(r);
    }
    return rc;
}

int http_req_respond_error(struct http_req *r, unsigned status,
                           const char *error, const char *detail)
{
    size_t len = 0;
    char *body = error_json(error, detail, &len);
    if (body == NULL) {
        /* Still answer: the request must not hang for want of a body. */
        static const char fallback[] = "{\"error\":\"internal\",\"detail\":\"\"}";
        return http_req_respond(r, status, "application/json", fallback,
                                sizeof fallback - 1, NULL);
    }
    int rc = http_req_respond(r, status, "application/json", body, len, NULL);
    free(body);
    return rc;
}
