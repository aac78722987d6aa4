/* archive.c - the webhook archive in Redis.
 *
 * Write path: one EVALSHA per webhook. The script checks the dedup key and,
 * only if it is absent, appends the body to the stream and sets the key in
 * the same atomic step: a key set before a failed write would make
 * Alertmanager's retry look like a duplicate and lose the webhook
 * (PROTOCOLS.md section 1.6). Every XADD carries MINID ~ so the stream
 * trims itself by age as it grows; archive_trim covers an idle stream.
 *
 * A write holds a copy of nothing: redis_ev copies the arguments. Its small
 * struct lives until redis_ev calls back, which it always does.
 *
 * Export reads the stream with blocking hiredis in pages of XRANGE and
 * splices the stored bytes into each JSONL record, so what replay reads is
 * exactly what Alertmanager sent. */
#include "archive.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "alert.h"
#include "limits.h"

#define DEFAULT_RETENTION_MS ((int64_t)14 * 24 * 3600 * 1000)
/* Export pages: big enough to amortise round trips, small enough that a
 * page of 4 MiB bodies stays bounded (hiredis holds one page). */
#define EXPORT_PAGE 200
/* Stream ids carry Redis's clock, received_at carries ours: read this much
 * wider than asked and filter on received_at, so a skew between the two
 * clocks cannot drop a record at the edges. */
#define EXPORT_SKEW_MS ((int64_t)5 * 60 * 1000)

/* KEYS[1] stream, KEYS[2] dedup key; ARGV[1] received_at (ms), ARGV[2]
 * body, ARGV[3] MINID (ms), ARGV[4] dedup window (ms).
 * Reply {1, id} stored, {0, id} duplicate (id of the first copy). */
static const char write_script[] =
    "local seen = redis.call('GET', KEYS[2])\n"
    "if seen then return {0, seen} end\n"
    "local id = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[3], '*',\n"
    "                      'received_at', ARGV[1], 'body', ARGV[2])\n"
    "redis.call('SET', KEYS[2], id, 'NX', 'PX', ARGV[4])\n"
    "return {1, id}\n";

struct archive {
    struct redis_ev *r;
    const struct redis_script *script;
    int64_t retention_ms, dedup_window_ms;
    unsigned write_timeout_ms, max_inflight;
    unsigned inflight;
    int freed;          /* archive_free called; free with the last write */
};

struct write {
    struct archive *a;
    archive_done_fn fn;
    void *ud;
    double started;     /* CLOCK_MONOTONIC seconds */
};

int archive_new(struct archive **out, struct redis_ev *r,
                const struct archive_options *o, struct qerr *err)
{
    struct archive *a;

    *out = NULL;
    a = calloc(1, sizeof *a);
    if (a == NULL)
        return qerr_set(err, "archive", 0, 0, "out of memory");
    a->r = r;
    a->retention_ms = o && o->retention_ms > 0 ? o->retention_ms
                                                : DEFAULT_RETENTION_MS;
    a->dedup_window_ms = o && o->dedup_window_ms > 0 ? o->dedup_window_ms
                                                      : QUENCH_DEDUP_WINDOW_MS;
    a->write_timeout_ms = o && o->write_timeout_ms
                              ? o->write_timeout_ms
                              : QUENCH_ARCHIVE_WRITE_TIMEOUT_MS;
    a->max_inflight = o && o->max_inflight ? o->max_inflight
                                           : QUENCH_MAX_INFLIGHT_WRITES;
    if (redis_ev_script_add(r, write_script, &a->script) != 0) {
        free(a);
        return qerr_set(err, "archive", 0, 0, "out of memory");
    }
    *out = a;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_done(enum redis_ev_result res, const struct redisReply *r,
                       void *ud)
{
    struct write *w = ud;
    struct archive *a = w->a;
    const redisReply *rep = (const redisReply *)r;
    enum archive_outcome o = ARCHIVE_UNKNOWN;
    char id[64] = "";

    if (res == REDIS_EV_REPLY) {
        o = ARCHIVE_FAILED;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[0]->type == REDIS_REPLY_INTEGER &&
            rep->element[1]->type == REDIS_REPLY_STRING) {
            o = rep->element[0]->integer == 1 ? ARCHIVE_STORED
                                              : ARCHIVE_DUPLICATE;
            snprintf(id, sizeof id, "%.*s",
                     (int)(rep->element[1]->len < 63 ? rep->element[1]->len
                                                      : 63),
                     rep->element[1]->str);
        }
    }
    a->inflight--;
    w->fn(o, id, now_s() - w->started, w->ud);
    free(w);
    if (a->freed && a->inflight == 0)
        free(a);
}

int archive_write(struct archive *a, const char *body, size_t len,
                  int64_t now_ms, archive_done_fn fn, void *ud)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char key[sizeof ARCHIVE_DEDUP_PREFIX + 2 * SHA256_DIGEST_LENGTH];
    char ra[24], minid[24], win[24];
    const char *argv[6];
    size_t lens[6];
    int64_t min = now_ms - a->retention_ms;
    struct write *w;
    size_t p;

    if (a->inflight >= a->max_inflight)
        return ARCHIVE_EBUSY;
    if (!redis_ev_connected(a->r))
        return ARCHIVE_EDOWN;
    w = malloc(sizeof *w);
    if (w == NULL)
        return ARCHIVE_EDOWN;
    w->a = a;
    w->fn = fn;
    w->ud = ud;
    w->started = now_s();

    SHA256((const unsigned char *)body, len, md);
    p = (size_t)snprintf(key, sizeof key, "%s", ARCHIVE_DEDUP_PREFIX);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++, p += 2)
        snprintf(key + p, 3, "%02x", md[i]);
    snprintf(ra, sizeof ra, "%" PRId64, now_ms);
    snprintf(minid, sizeof minid, "%" PRId64, min > 0 ? min : 0);
    snprintf(win, sizeof win, "%" PRId64, a->dedup_window_ms);

    argv[0] = ARCHIVE_STREAM; lens[0] = strlen(ARCHIVE_STREAM);
    argv[1] = key;            lens[1] = p;
    argv[2] = ra;             lens[2] = strlen(ra);
    argv[3] = body;           lens[3] = len;
    argv[4] = minid;          lens[4] = strlen(minid);
    argv[5] = win;            lens[5] = strlen(win);
    if (redis_ev_evalsha(a->r, a->script, 2, 6, argv, lens,
                         a->write_timeout_ms, write_done, w) != 0) {
        free(w);
        return ARCHIVE_EDOWN;
    }
    a->inflight++;
    return 0;
}

unsigned archive_inflight(const struct archive *a)
{
    return a->inflight;
}

static void trim_done(enum redis_ev_result res, const struct redisReply *r,
                      void *ud)
{
    (void)res;
    (void)r;
    (void)ud;   /* best effort: the next trim or XADD does it again */
}

int archive_trim(struct archive *a, int64_t now_ms)
{
    char minid[24];
    int64_t min = now_ms - a->retention_ms;
    const char *argv[5];
    size_t lens[5];

    snprintf(minid, sizeof minid, "%" PRId64, min > 0 ? min : 0);
    argv[0] = "XTRIM";        lens[0] = 5;
    argv[1] = ARCHIVE_STREAM; lens[1] = strlen(ARCHIVE_STREAM);
    argv[2] = "MINID";        lens[2] = 5;
    argv[3] = "~";            lens[3] = 1;
    argv[4] = minid;          lens[4] = strlen(minid);
    return redis_ev_command(a->r, 5, argv, lens, 10000, trim_done, NULL);
}

void archive_free(struct archive *a)
{
    if (a == NULL)
        return;
    if (a->inflight > 0) {
        a->freed = 1;
        return;
    }
    free(a);
}

/* ---- export ------------------------------------------------------------ */

static int reply_ok(redisReply *rep, const char *what, struct qerr *err)
{
    if (rep == NULL)
        return qerr_set(err, "redis", 0, 0, "%s: connection error", what);
    if (rep->type == REDIS_REPLY_ERROR) {
        qerr_set(err, "redis", 0, 0, "%s: %.*s", what,
                 (int)(rep->len > 200 ? 200 : rep->len), rep->str);
        freeReplyObject(rep);
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

static redisContext *export_connect(const struct redis_ev_options *o,
                                    struct qerr *err)
{
    struct timeval tv = {5, 0};
    redisContext *c;
    const char *argv[3];
    size_t lens[3];

    if (o->unix_path)
        c = redisConnectUnixWithTimeout(o->unix_path, tv);
    else
        c = redisConnectWithTimeout(o->host ? o->host : "127.0.0.1",
                                    o->port > 0 ? o->port : 6379, tv);
    if (c == NULL) {
        qerr_set(err, "redis", 0, 0, "connect: out of memory");
        return NULL;
    }
    if (c->err) {
        qerr_set(err, "redis", 0, 0, "cannot connect to %s%s%d: %s",
                 o->unix_path ? o->unix_path : o->host ? o->host : "127.0.0.1",
                 o->unix_path ? "" : ":",
                 o->unix_path ? 0 : o->port > 0 ? o->port : 6379, c->errstr);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){30, 0});
    if (o->password) {
        int n = 0;
        argv[n] = "AUTH"; lens[n++] = 4;
        if (o->username) {
            argv[n] = o->username; lens[n++] = strlen(o->username);
        }
        argv[n] = o->password; lens[n++] = strlen(o->password);
        if (reply_ok(redisCommandArgv(c, n, argv, lens), "AUTH", err)) {
            redisFree(c);
            return NULL;
        }
    }
    if (o->db > 0 &&
        reply_ok(redisCommand(c, "SELECT %d", o->db), "SELECT", err)) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Parse a non-negative decimal of LEN bytes. */
static int parse_ms(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;

    if (len == 0 || len > 18)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* The stored body is JSON (ingest parsed it before storing), but the
 * stream is shared: check again rather than write a broken line. */
static int body_is_json(const char *s, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(s, len, JSON_DECODE_ANY, &e);

    if (j == NULL)
        return 0;
    json_decref(j);
    return 1;
}

static int write_record(FILE *out, int64_t ra, const char *body, size_t len)
{
    char ts[40];

    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r' ||
                       body[len - 1] == ' ' || body[len - 1] == '\t'))
        len--;
    alert_time_format(ra, ts, sizeof ts);
    fprintf(out, "{\"received_at\":\"%s\",\"payload\":", ts);
    for (size_t i = 0; i < len;) {
        const char *nl = NULL;
        size_t n;

        for (size_t j = i; j < len; j++)
            if (body[j] == '\n' || body[j] == '\r') {
                nl = body + j;
                break;
            }
        n = nl ? (size_t)(nl - body) - i : len - i;
        if (n > 0)
            fwrite(body + i, 1, n, out);
        i += n;
        if (nl) {
            fputc(' ', out);
            i++;
        }
    }
    fputs("}\n", out);
    return ferror(out) ? -1 : 0;
}

int archive_export(FILE *out, const struct redis_ev_options *conn,
                   int64_t since_ms, int64_t until_ms,
                   struct archive_export_stats *stats, struct qerr *err)
{
    redisContext *c = NULL;
    redisReply *rep = NULL;
    char start[48], end[48], count[16];
    const char *argv[6];
    size_t lens[6];
    int rc = -1;
    struct archive_export_stats st = {0, 0};

    c = export_connect(conn, err);
    if (c == NULL)
        goto out;
    if (since_ms == INT64_MIN || since_ms - EXPORT_SKEW_MS <= 0)
        snprintf(start, sizeof start, "-");
    else
        snprintf(start, sizeof start, "%" PRId64, since_ms - EXPORT_SKEW_MS);
    if (until_ms == INT64_MAX || until_ms > INT64_MAX - EXPORT_SKEW_MS)
        snprintf(end, sizeof end, "+");
    else if (until_ms + EXPORT_SKEW_MS < 0)
        snprintf(end, sizeof end, "0");
    else
        snprintf(end, sizeof end, "%" PRId64, until_ms + EXPORT_SKEW_MS);
    snprintf(count, sizeof count, "%d", EXPORT_PAGE);

    for (;;) {
        size_t n;

        argv[0] = "XRANGE";       lens[0] = 6;
        argv[1] = ARCHIVE_STREAM; lens[1] = strlen(ARCHIVE_STREAM);
        argv[2] = start;          lens[2] = strlen(start);
        argv[3] = end;            lens[3] = strlen(end);
        argv[4] = "COUNT";        lens[4] = 5;
        argv[5] = count;          lens[5] = strlen(count);
        rep = redisCommandArgv(c, 6, argv, lens);
        if (rep == NULL) {
            qerr_set(err, "redis", 0, 0, "XRANGE: %s",
                     c->errstr[0] ? c->errstr : "connection error");
            goto out;
        }
        if (rep->type != REDIS_REPLY_ARRAY) {
            qerr_set(err, "redis", 0, 0, "XRANGE: %.*s",
                     rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 14,
                     rep->type == REDIS_REPLY_ERROR ? rep->str
                                                    : "unexpected reply");
            goto out;
        }
        n = rep->elements;
        for (size_t i = 0; i < n; i++) {
            const redisReply *e = rep->element[i], *f;
            const char *body = NULL;
            size_t blen = 0;
            int64_t ra = -1;

            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING) {
                st.skipped++;
                continue;
            }
            if (i + 1 == n)   /* next page starts after the last id */
                snprintf(start, sizeof start, "(%.*s",
                         (int)(e->element[0]->len < 45 ? e->element[0]->len
                                                        : 45),
                         e->element[0]->str);
            f = e->element[1];
            if (f->type != REDIS_REPLY_ARRAY) {
                st.skipped++;
                continue;
            }
            for (size_t k = 0; k + 1 < f->elements; k += 2) {
                const redisReply *name = f->element[k], *val = f->element[k + 1];

                if (name->type != REDIS_REPLY_STRING ||
                    val->type != REDIS_REPLY_STRING)
                    continue;
                if (name->len == 11 && memcmp(name->str, "received_at", 11) == 0) {
                    if (parse_ms(val->str, val->len, &ra) != 0)
                        ra = -1;
                } else if (name->len == 4 && memcmp(name->str, "body", 4) == 0) {
                    body = val->str;
                    blen = val->len;
                }
            }
            if (ra < 0 || body == NULL || !body_is_json(body, blen)) {
                st.skipped++;
                continue;
            }
            if (ra < since_ms || ra >= until_ms)
                continue;
            if (write_record(out, ra, body, blen) != 0) {
                qerr_set(err, "export", 0, 0, "write error");
                goto out;
            }
            st.records++;
        }
        freeReplyObject(rep);
        rep = NULL;
        if (n < EXPORT_PAGE)
            break;
    }
    if (fflush(out) != 0 || ferror(out)) {
        qerr_set(err, "export", 0, 0, "write error");
        goto out;
    }
    rc = 0;
out:
    if (rep)
        freeReplyObject(rep);
    if (c)
        redisFree(c);
    if (stats)
        *stats = st;
    return rc;
}
