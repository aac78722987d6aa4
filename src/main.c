/* main.c - the quench command line and the serve loop's wiring.
 *
 * Commands are a table; each returns an exit code: 0 success, 1 the work
 * failed, 2 usage error (DESIGN.md, command line). CLI errors are one line
 * "quench: ..." on stderr; serve logs JSON lines through log.h.
 *
 * serve: one libev loop (the default one, for ev_child) carrying the HTTP
 * server, the Redis connection and three timers. Shutdown on SIGINT or
 * SIGTERM: readiness drops, new webhooks get 503, webhooks already waiting
 * for Redis get their real answer (bounded by the archive write timeout),
 * then the server answers anything left 503, Redis is disconnected and a
 * private Redis stopped. A second signal skips the wait.
 *
 * With no config file and no QUENCH_REDIS_URL, serve starts a private
 * redis-server on a unix socket in a fresh temp dir (AOF, appendfsync
 * always, see private_redis_start) and removes it on exit. */
#include <errno.h>
#include <dirent.h>
#include <stdarg.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "alert.h"
#include "archive.h"
#include "config.h"
#include "correlator.h"   /* correlation wiring (helper "serve") */
#include "http.h"
#include "ingest.h"
#include "cli.h"
#include "limits.h"
#include "log.h"
#include "metrics.h"
#include "qerr.h"
#include "redis_ev.h"
#include "replay.h"
#include "rules.h"
#include "topology.h"
#include "ytree.h"

#define container_of(p, type, member) \
    ((type *)(void *)((char *)(p) - offsetof(type, member)))

#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2

#define WEBHOOK_PATH "/webhook/alertmanager"
/* Housekeeping period. */
#define HOUSEKEEPING_S 60.0

static const char usage_text[] =
    "usage: quench <command> [options]\n"
    "\n"
    "  serve   [--config F]                      run the engine\n"
    "  archive export [--config F] [--since T] [--until T]\n"
    "                                            write the archive as replay JSONL\n"
    "                                            to stdout; T is RFC 3339 or a\n"
    "                                            duration ago (30m, 2h, 7d);\n"
    "                                            since inclusive, until exclusive\n"
    "  replay  [--config F] [--rules DIR] [--playbooks DIR] --input FILE.jsonl\n"
    "          [--format json|text|html] [--baseline REPORT.json] [--out FILE]\n"
    "                                            dry-run an exported archive\n"
    "  check   [--config F] [--rules DIR]        validate the configuration and the\n"
    "                                            rules; each problem as file:line\n"
    "  approvals                                 not available yet\n"
    "  version | --version                       print the version\n"
    "  --help                                    this text\n"
    "\n"
    "Without --config, serve uses built-in defaults; with neither a config\n"
    "file nor QUENCH_REDIS_URL it starts a private redis-server.\n"
    "Exit codes: 0 success, 1 the work failed, 2 usage error.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("quench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (quench --help)\n", stderr);
    return EXIT_USAGE;
}

static int fail(const struct qerr *err)
{
    char line[1024];

    qerr_format(err, line, sizeof line);
    fprintf(stderr, "quench: %s\n", line);
    return EXIT_FAILED;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void redis_opts_from_config(const struct config_redis *c,
                                   struct redis_ev_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = c->host;
    o->port = c->port;
    o->unix_path = c->unix_path;
    o->username = c->username;
    o->password = c->password;
    o->db = c->db;
}

/* ---- private Redis ------------------------------------------------------ */

struct private_redis {
    pid_t pid;
    char dir[QUENCH_PATH_MAX];
    char sock[108];        /* sun_path */
};

/* Remove DIR and what Redis puts in it (files, and appendonlydir/ with
 * the AOF parts since Redis 7): two levels, no symlinks followed. */
static void rm_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[QUENCH_PATH_MAX];
    struct stat st;

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && depth > 0)
                rm_tree(path, depth - 1);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Why appendfsync always: quench answers 200 only after Redis confirms the
 * write, and PROTOCOLS.md 4.5 measures the cost as small with pipelining;
 * everysec would let a crash lose about a second of acknowledged webhooks,
 * which Alertmanager would never resend. */
static int private_redis_start(struct private_redis *pr, struct qerr *err)
{
    const char *tmp = getenv("TMPDIR");
    char logf[QUENCH_PATH_MAX + 16];

    memset(pr, 0, sizeof *pr);
    snprintf(pr->dir, sizeof pr->dir, "%s/quench-redis-XXXXXX",
             tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(pr->dir) == NULL) {
        qerr_set(err, pr->dir, 0, 0, "cannot make the private Redis directory: %s",
                 strerror(errno));
        pr->dir[0] = 0;
        return -1;
    }
    if (strlen(pr->dir) + sizeof "/redis.sock" > sizeof pr->sock) {
        qerr_set(err, pr->dir, 0, 0, "path too long for a unix socket (set TMPDIR)");
        rmdir(pr->dir);
        pr->dir[0] = 0;
        return -1;
    }
    memcpy(pr->sock, pr->dir, strlen(pr->dir));
    memcpy(pr->sock + strlen(pr->dir), "/redis.sock", sizeof "/redis.sock");
    snprintf(logf, sizeof logf, "%s/redis.log", pr->dir);
    pr->pid = fork();
    if (pr->pid < 0) {
        pr->pid = 0;
        return qerr_set(err, "redis-server", 0, 0, "fork: %s", strerror(errno));
    }
    if (pr->pid == 0) {
        const char *argv[] = {
            "redis-server", "--port", "0", "--unixsocket", pr->sock,
            "--unixsocketperm", "700", "--dir", pr->dir,
            "--appendonly", "yes", "--appendfsync", "always",
            "--no-appendfsync-on-rewrite", "no", "--aof-use-rdb-preamble", "yes",
            "--save", "", "--logfile", logf, "--daemonize", "no", NULL};

        /* Own process group: a terminal's ^C goes to quench, which stops
         * Redis after draining. PDEATHSIG: never outlive a killed quench. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        int st;
        redisContext *c;
        struct timespec ts = {0, 10 * 1000000L};

        if (waitpid(pr->pid, &st, WNOHANG) == pr->pid) {
            pr->pid = 0;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
                return qerr_set(err, "redis-server", 0, 0,
                                "not found in PATH (apt-get install "
                                "redis-server, or set QUENCH_REDIS_URL)");
            return qerr_set(err, "redis-server", 0, 0,
                            "exited at startup (see %s)", logf);
        }
        c = redisConnectUnix(pr->sock);
        if (c != NULL && c->err == 0) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r != NULL && r->type == REDIS_REPLY_STATUS;

            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        } else {
            redisFree(c);
        }
        nanosleep(&ts, NULL);
    }
    return qerr_set(err, "redis-server", 0, 0, "did not answer within 10 s (see %s)",
                    logf);
}

static void private_redis_stop(struct private_redis *pr)
{
    if (pr->pid > 0) {
        int i;

        /* SIGTERM: Redis fsyncs the AOF and exits. */
        kill(pr->pid, SIGTERM);
        for (i = 0; i < 500; i++) {
            struct timespec ts = {0, 10 * 1000000L};

            if (waitpid(pr->pid, NULL, WNOHANG) == pr->pid)
                break;
            nanosleep(&ts, NULL);
        }
        if (i == 500) {
            kill(pr->pid, SIGKILL);
            waitpid(pr->pid, NULL, 0);
        }
        pr->pid = 0;
    }
    if (pr->dir[0]) {
        rm_tree(pr->dir, 1);
        pr->dir[0] = 0;
    }
}

/* ---- serve ------------------------------------------------------------- */

struct quench {
    struct ev_loop *loop;
    struct config *cfg;
    struct private_redis pr;
    struct redis_ev *redis;
    struct archive *archive;
    struct ingest *ingest;
    struct metrics *metrics;
    struct metric *m_redis_up;      /* quench_redis_connected */
    struct metric *m_http;          /* quench_http_requests_total */
    struct metric *m_webhooks;      /* quench_webhooks_total */
    /* Mirrors of the correlator's and the HTTP server's own counters,
     * brought up to date on each scrape (refresh_metrics). */
    struct metric *m_corr_entries, *m_corr_acked, *m_corr_parse_failures,
        *m_corr_dead_letters, *m_corr_persist_failures, *m_corr_pruned,
        *m_corr_persist_rounds, *m_corr_persisted_alerts;
    struct metric *m_corr_connected, *m_corr_caught_up, *m_corr_lag;
    struct metric *m_entities;
    struct metric *m_incidents;     /* quench_incidents{state} */
    struct metric *m_http_suspended, *m_http_bad_headers, *m_http_body_deadline,
        *m_http_deferred_timeouts, *m_http_clients_gone;
    struct correlator_status corr_seen;   /* counters as last exported */
    struct http_stats http_seen;
    struct http_server *http;
    struct http_auth webhook_auth;
    struct http_route routes[4 + CORRELATOR_SERVE_NROUTES];
    struct correlator_serve *corr;  /* rules, engine, correlator, API */
    ev_signal sigint, sigterm;
    ev_timer housekeeping;
    ev_timer drain;
    ev_child child;
    int stopping;
    ev_tstamp stop_deadline;
    int exit_code;
    int redis_failures;             /* failed attempts since last connect */
    char redis_where[QUENCH_PATH_MAX + 16];
};

static void respond_json(struct http_req *req, unsigned status,
                         const char *body)
{
    http_req_respond(req, status, "application/json", body, strlen(body), NULL);
}

static void h_healthz(struct http_req *req, void *ud)
{
    (void)ud;
    respond_json(req, 200, "{\"status\":\"ok\"}");
}

/* Ready means "send me webhooks": Redis (ingest's connection) is up and we
 * are not stopping. The correlator's state is reported, not required: a
 * long catch-up must not take the pod out of service, or Alertmanager's
 * webhooks would stop flowing while the backlog is worked off. */
static void h_readyz(struct http_req *req, void *ud)
{
    struct quench *q = ud;
    struct correlator_status st;
    json_t *o;
    char *text = NULL;

    if (q->stopping) {
        http_req_respond_error(req, 503, "unavailable", "shutting down");
        return;
    }
    if (!redis_ev_connected(q->redis)) {
        http_req_respond_error(req, 503, "unavailable", "Redis is not connected");
        return;
    }
    correlator_serve_status(q->corr, &st);
    o = json_pack("{s:s, s:{s:b, s:b, s:o}}", "status", "ready", "correlator",
                  "connected", st.connected, "caught_up", st.caught_up, "lag",
                  st.lag >= 0 ? json_integer(st.lag) : json_null());
    if (o != NULL)
        text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text == NULL) {
        http_req_respond_error(req, 500, "internal", "out of memory");
        return;
    }
    respond_json(req, 200, text);
    free(text);
}

/* Add what counter NOW gained since *SEEN to M. The sources only count up;
 * a smaller NOW (never expected) is taken as the new base. */
static void mirror_counter(struct metric *m, unsigned long *seen,
                           unsigned long now)
{
    if (now > *seen)
        metrics_counter_add(m, NULL, (double)(now - *seen));
    *seen = now;
}

static void refresh_metrics(struct quench *q)
{
    struct correlator_status st;
    struct http_stats hs;
    static const char *const open_v[] = {"open"}, *const closed_v[] = {"closed"};

    correlator_serve_status(q->corr, &st);
    mirror_counter(q->m_corr_entries, &q->corr_seen.entries, st.entries);
    mirror_counter(q->m_corr_acked, &q->corr_seen.acked, st.acked);
    mirror_counter(q->m_corr_parse_failures, &q->corr_seen.parse_failures,
                   st.parse_failures);
    mirror_counter(q->m_corr_dead_letters, &q->corr_seen.dead_letters,
                   st.dead_letters);
    mirror_counter(q->m_corr_persist_failures, &q->corr_seen.persist_failures,
                   st.persist_failures);
    mirror_counter(q->m_corr_pruned, &q->corr_seen.pruned, st.pruned);
    mirror_counter(q->m_corr_persist_rounds, &q->corr_seen.persist_rounds,
                   st.persist_rounds);
    mirror_counter(q->m_corr_persisted_alerts, &q->corr_seen.persisted_alerts,
                   st.persisted_alerts);
    metrics_gauge_set(q->m_corr_connected, NULL, st.connected ? 1 : 0);
    metrics_gauge_set(q->m_corr_caught_up, NULL, st.caught_up ? 1 : 0);
    metrics_gauge_set(q->m_corr_lag, NULL, (double)st.lag);
    metrics_gauge_set(q->m_entities, NULL, (double)st.entities);
    metrics_gauge_set(q->m_incidents, open_v, (double)st.incidents_open);
    metrics_gauge_set(q->m_incidents, closed_v, (double)st.incidents_closed);

    http_server_stats(q->http, &hs);
    metrics_gauge_set(q->m_http_suspended, NULL, (double)hs.suspended);
    mirror_counter(q->m_http_bad_headers, &q->http_seen.bad_headers, hs.bad_headers);
    mirror_counter(q->m_http_body_deadline, &q->http_seen.body_deadline,
                   hs.body_deadline);
    mirror_counter(q->m_http_deferred_timeouts, &q->http_seen.deferred_timeouts,
                   hs.deferred_timeouts);
    mirror_counter(q->m_http_clients_gone, &q->http_seen.clients_gone,
                   hs.clients_gone);
}

static void h_metrics(struct http_req *req, void *ud)
{
    struct quench *q = ud;
    size_t len;
    char *text;

    refresh_metrics(q);
    text = metrics_render_alloc(q->metrics, &len);
    if (text == NULL) {
        http_req_respond_error(req, 500, "internal", "cannot render metrics: "
                               "out of memory");
        return;
    }
    http_req_respond(req, 200, METRICS_CONTENT_TYPE, text, len, NULL);
    free(text);
}

static void on_request_done(const char *route, unsigned status, double s,
                            void *ud)
{
    struct quench *q = ud;
    char code[8];
    const char *v2[2] = {route ? route : "unmatched", code};
    const char *v1[1] = {code};

    (void)s;
    snprintf(code, sizeof code, "%u", status);
    metrics_counter_add(q->m_http, v2, 1);
    if (route && strcmp(route, WEBHOOK_PATH) == 0)
        metrics_counter_add(q->m_webhooks, v1, 1);
}

static void on_redis_state(int connected, const char *why, void *ud)
{
    struct quench *q = ud;

    metrics_gauge_set(q->m_redis_up, NULL, connected ? 1 : 0);
    if (connected) {
        log_info("redis connected: %s", q->redis_where);
        q->redis_failures = 0;
        return;
    }
    /* The first failure is news; the rest repeat every <= 5 s. */
    if (q->redis_failures++ == 0)
        log_warn("redis unavailable (%s): %s; retrying, webhooks get 503 "
                 "meanwhile", q->redis_where, why ? why : "");
    else
        log_debug("redis still unavailable: %s", why ? why : "");
}

static void begin_stop(struct quench *q, const char *why)
{
    if (q->stopping) {
        log_warn("second stop request: not waiting for Redis");
        ev_break(q->loop, EVBREAK_ALL);
        return;
    }
    q->stopping = 1;
    log_info("stopping (%s): draining %u webhook(s) waiting for Redis", why,
             ingest_pending(q->ingest));
    ingest_drain(q->ingest);
    q->stop_deadline = ev_now(q->loop) +
                       (double)q->cfg->archive.write_timeout_ms / 1000.0 + 0.5;
    ev_timer_start(q->loop, &q->drain);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct quench *q = w->data;

    (void)loop;
    (void)revents;
    begin_stop(q, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_drain_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct quench *q = container_of(w, struct quench, drain);

    (void)revents;
    if (ingest_pending(q->ingest) == 0 || ev_now(loop) >= q->stop_deadline)
        ev_break(loop, EVBREAK_ALL);
}

static void on_private_redis_exit(struct ev_loop *loop, ev_child *w,
                                  int revents)
{
    struct quench *q = container_of(w, struct quench, child);

    (void)revents;
    ev_child_stop(loop, w);
    q->pr.pid = 0;
    log_error("private redis-server exited (status %d); stopping. Its log "
              "is in %s", w->rstatus, q->pr.dir);
    q->exit_code = EXIT_FAILED;
    q->stopping = 1;
    ev_break(loop, EVBREAK_ALL);
}

/* Housekeeping, every HOUSEKEEPING_S (add jobs here, each non-blocking):
 * - archive trim: XTRIM MINID ~ <now - retention>, for a stream that no
 *   XADD has trimmed because nothing arrived.
 * The correlator keeps its own (correlator.c, on its connection): pruning
 * closed incidents past the API's horizon, and the consumer group's lag. */
static void on_housekeeping(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct quench *q = container_of(w, struct quench, housekeeping);

    (void)loop;
    (void)revents;
    if (redis_ev_connected(q->redis))
        archive_trim(q->archive, wall_ms());
}

/* The correlator's and HTTP server's counters (refresh_metrics). */
static int serve_setup_corr_metrics(struct quench *q, struct qerr *err)
{
    static const char *const state[] = {"state", NULL};
    struct metrics *m = q->metrics;

    q->m_corr_entries = metrics_counter(m, "quench_correlator_entries_total",
        "Archive stream entries the correlator took (correlated, skipped or "
        "dead-lettered).", NULL, err);
    q->m_corr_acked = metrics_counter(m, "quench_correlator_acked_total",
        "Archive entries acknowledged (XACK) after their incidents were "
        "persisted.", NULL, err);
    q->m_corr_parse_failures = metrics_counter(m,
        "quench_correlator_parse_failures_total",
        "Archive entries acknowledged without correlating: not a valid "
        "webhook, or no received_at or body.", NULL, err);
    q->m_corr_dead_letters = metrics_counter(m,
        "quench_correlator_dead_letters_total",
        "Archive entries moved to quench:deadletter after too many "
        "deliveries without an acknowledgement.", NULL, err);
    q->m_corr_persist_failures = metrics_counter(m,
        "quench_correlator_persist_failures_total",
        "Rounds of incident writes to Redis that failed (retried).", NULL, err);
    q->m_corr_persist_rounds = metrics_counter(m,
        "quench_correlator_persist_rounds_total",
        "Rounds of incident writes started; a burst coalesces many entries "
        "into one.", NULL, err);
    q->m_corr_persisted_alerts = metrics_counter(m,
        "quench_correlator_persisted_alerts_total",
        "Alert records written to quench:incident:<id> hashes by confirmed "
        "rounds (only alerts that changed are written).", NULL, err);
    q->m_corr_pruned = metrics_counter(m, "quench_correlator_pruned_total",
        "Closed incidents dropped from memory and Redis past the retention.",
        NULL, err);
    q->m_corr_connected = metrics_gauge(m, "quench_correlator_connected",
        "1 while the correlator's own Redis connection is up.", NULL, err);
    q->m_corr_caught_up = metrics_gauge(m, "quench_correlator_caught_up",
        "1 once the correlator has worked off its pending and claimable "
        "entries and reads new ones.", NULL, err);
    q->m_corr_lag = metrics_gauge(m, "quench_correlator_lag_entries",
        "Archive entries not yet delivered to the correlator group (XINFO "
        "GROUPS lag, every 5 s); -1 while unknown.", NULL, err);
    q->m_entities = metrics_gauge(m, "quench_topology_entities",
        "Entities in the service graph: services.yaml's plus every pod, node "
        "and service alerts have named since the start (never dropped; "
        "past 1048576 new ones get none).", NULL, err);
    q->m_incidents = metrics_gauge(m, "quench_incidents",
        "Incidents held in memory, by state (closed ones until the "
        "retention).", state, err);
    q->m_http_suspended = metrics_gauge(m, "quench_http_suspended_requests",
        "Requests waiting for a deferred answer (webhooks waiting for Redis).",
        NULL, err);
    q->m_http_bad_headers = metrics_counter(m, "quench_http_bad_headers_total",
        "Requests refused 400 by header hygiene.", NULL, err);
    q->m_http_body_deadline = metrics_counter(m,
        "quench_http_body_deadline_total",
        "Connections dropped because the body did not arrive in time.", NULL,
        err);
    q->m_http_deferred_timeouts = metrics_counter(m,
        "quench_http_deferred_timeouts_total",
        "Deferred requests answered 503 at the deferred deadline.", NULL, err);
    q->m_http_clients_gone = metrics_counter(m, "quench_http_clients_gone_total",
        "Clients that disconnected while their request was deferred.", NULL,
        err);
    if (!q->m_corr_entries || !q->m_corr_acked || !q->m_corr_parse_failures ||
        !q->m_corr_dead_letters || !q->m_corr_persist_failures ||
        !q->m_corr_persist_rounds || !q->m_corr_persisted_alerts ||
        !q->m_corr_pruned || !q->m_corr_connected || !q->m_corr_caught_up ||
        !q->m_corr_lag || !q->m_entities || !q->m_incidents || !q->m_http_suspended ||
        !q->m_http_bad_headers || !q->m_http_body_deadline ||
        !q->m_http_deferred_timeouts || !q->m_http_clients_gone)
        return -1;
    metrics_gauge_set(q->m_corr_lag, NULL, -1);
    return 0;
}

static int serve_setup_metrics(struct quench *q, struct qerr *err)
{
    static const char *const route_code[] = {"route", "code", NULL};
    static const char *const code[] = {"code", NULL};
    static const char *const version[] = {"version", NULL};
    static const char *const version_v[] = {QUENCH_VERSION, NULL};

    q->metrics = metrics_new();
    if (q->metrics == NULL)
        return qerr_set(err, "metrics", 0, 0, "out of memory");
    if (metrics_info(q->metrics, "quench_build_info",
                     "quench build; the value is always 1.", version, version_v,
                     err) != 0)
        return -1;
    q->m_redis_up = metrics_gauge(q->metrics, "quench_redis_connected",
                                  "1 while the Redis connection is up and "
                                  "ready, else 0.", NULL, err);
    q->m_webhooks = metrics_counter(q->metrics, "quench_webhooks_total",
                                    "Alertmanager webhooks answered, by HTTP "
                                    "status code.", code, err);
    q->m_http = metrics_counter(q->metrics, "quench_http_requests_total",
                                "HTTP requests answered, by route and status "
                                "code.", route_code, err);
    if (!q->m_redis_up || !q->m_webhooks || !q->m_http)
        return -1;
    return serve_setup_corr_metrics(q, err);
}

static void serve_cleanup(struct quench *q)
{
    if (q->loop) {
        ev_timer_stop(q->loop, &q->housekeeping);
        ev_timer_stop(q->loop, &q->drain);
        ev_signal_stop(q->loop, &q->sigint);
        ev_signal_stop(q->loop, &q->sigterm);
        ev_child_stop(q->loop, &q->child);
    }
    /* Order: the server first (it answers what is left 503 and tells
     * ingest to forget those requests), then Redis (pending writes get
     * their callbacks), then what those callbacks touched. */
    http_server_free(q->http);
    correlator_serve_free(q->corr);   /* after the server: routes point in */
    redis_ev_free(q->redis);
    archive_free(q->archive);
    ingest_free(q->ingest);
    private_redis_stop(&q->pr);
    metrics_free(q->metrics);
    config_free(q->cfg);
    if (q->loop)
        ev_loop_destroy(q->loop);
}

static int cmd_serve(int argc, char **argv)
{
    struct quench q;
    struct qerr err;
    struct redis_ev_options ro;
    struct http_options ho;
    const char *config_path = NULL;
    int rc = EXIT_FAILED;

    for (int i = 0; i < argc; i++) {
        int m;

        if (cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }
        m = cli_opt_value(argc, argv, &i, "--config", &config_path);
        if (m < 0)
            return usage_error("--config needs a value");
        if (m == 0)
            return usage_error("serve: unknown argument '%s'", argv[i]);
    }

    memset(&q, 0, sizeof q);
    memset(&err, 0, sizeof err);
    signal(SIGPIPE, SIG_IGN);
    if (config_load(&q.cfg, config_path, &err) != 0)
        return fail(&err);
    log_set_level(q.cfg->log_level);

    q.loop = ev_default_loop(EVFLAG_AUTO);
    if (q.loop == NULL) {
        qerr_set(&err, "libev", 0, 0, "cannot create the event loop");
        goto out;
    }
    ev_timer_init(&q.drain, on_drain_tick, 0.01, 0.01);
    ev_timer_init(&q.housekeeping, on_housekeeping, HOUSEKEEPING_S, HOUSEKEEPING_S);
    ev_child_init(&q.child, on_private_redis_exit, 0, 0);

    if (config_path == NULL && getenv("QUENCH_REDIS_URL") == NULL) {
        if (private_redis_start(&q.pr, &err) != 0)
            goto out;
        memset(&ro, 0, sizeof ro);
        ro.unix_path = q.pr.sock;
        snprintf(q.redis_where, sizeof q.redis_where, "unix://%s", q.pr.sock);
        log_info("no Redis configured: started a private redis-server (pid %d, "
                 "AOF, appendfsync always) at unix://%s, data in %s; it stops "
                 "and its directory is removed when quench exits",
                 (int)q.pr.pid, q.pr.sock, q.pr.dir);
        ev_child_set(&q.child, q.pr.pid, 0);
        ev_child_start(q.loop, &q.child);
    } else {
        redis_opts_from_config(&q.cfg->redis, &ro);
        snprintf(q.redis_where, sizeof q.redis_where, "%s",
                 q.cfg->redis.url_redacted ? q.cfg->redis.url_redacted : "redis");
    }
    ro.connect_timeout_ms = 2000;

    if (serve_setup_metrics(&q, &err) != 0 ||
        redis_ev_new(&q.redis, q.loop, &ro, &err) != 0)
        goto out;
    {
        struct archive_options ao = {
            .retention_ms = q.cfg->archive.retention_ms,
            .dedup_window_ms = q.cfg->archive.dedup_window_ms,
            .write_timeout_ms = (unsigned)q.cfg->archive.write_timeout_ms,
            .max_inflight = QUENCH_MAX_INFLIGHT_WRITES,
        };
        if (archive_new(&q.archive, q.redis, &ao, &err) != 0 ||
            ingest_new(&q.ingest, q.archive, q.metrics, &err) != 0)
            goto out;
    }
    if (correlator_serve_new(&q.corr, q.cfg, &ro, &err) != 0)
        goto out;
    metrics_gauge_set(q.m_redis_up, NULL, 0);
    redis_ev_on_state(q.redis, on_redis_state, &q);

    q.webhook_auth.bearer_token = q.cfg->auth.webhook_bearer_token;
    q.webhook_auth.basic_user = q.cfg->auth.webhook_basic_user;
    q.webhook_auth.basic_password = q.cfg->auth.webhook_basic_password;
    q.routes[0] = (struct http_route){
        .method = "POST", .path = WEBHOOK_PATH, .content_type = "application/json",
        .max_body = q.cfg->http.max_body ? q.cfg->http.max_body
                                         : QUENCH_MAX_WEBHOOK_BODY,
        .auth = (q.webhook_auth.bearer_token || q.webhook_auth.basic_user)
                    ? &q.webhook_auth : NULL,
        .fn = ingest_handle, .ud = q.ingest};
    q.routes[1] = (struct http_route){.method = "GET", .path = "/healthz",
                                      .fn = h_healthz, .ud = &q};
    q.routes[2] = (struct http_route){.method = "GET", .path = "/readyz",
                                      .fn = h_readyz, .ud = &q};
    q.routes[3] = (struct http_route){.method = "GET", .path = "/metrics",
                                      .fn = h_metrics, .ud = &q};
    memset(&ho, 0, sizeof ho);
    ho.listen = q.cfg->listen;
    ho.max_connections = q.cfg->http.max_connections;
    ho.idle_timeout_s = q.cfg->http.idle_timeout_s;
    if (http_server_new(&q.http, q.loop, &ho, q.routes,
                        4 + (size_t)correlator_serve_routes(q.corr, q.routes + 4,
                                                            CORRELATOR_SERVE_NROUTES),
                        &err) != 0)
        goto out;
    http_server_set_observer(q.http, on_request_done, &q);

    ev_signal_init(&q.sigint, on_signal, SIGINT);
    ev_signal_init(&q.sigterm, on_signal, SIGTERM);
    q.sigint.data = q.sigterm.data = &q;
    ev_signal_start(q.loop, &q.sigint);
    ev_signal_start(q.loop, &q.sigterm);
    ev_timer_start(q.loop, &q.housekeeping);

    redis_ev_start(q.redis);
    if (correlator_serve_start(q.corr, &err) != 0)
        goto out;
    {
        char host[256];
        unsigned port = 0;

        if (config_parse_listen(q.cfg->listen, host, sizeof host, &port) != 0)
            snprintf(host, sizeof host, "%s", q.cfg->listen);
        log_info("quench %s listening on %s:%u (webhook %s, auth %s)",
                 QUENCH_VERSION, host, http_server_port(q.http), WEBHOOK_PATH,
                 q.routes[0].auth ? "on" : "off");
    }
    ev_run(q.loop, 0);
    rc = q.exit_code;
    log_info("stopped (%u webhook(s) still unconfirmed answered 503)",
             ingest_pending(q.ingest));
    serve_cleanup(&q);
    return rc;
out:
    serve_cleanup(&q);
    return fail(&err);
}

/* ---- archive export ---------------------------------------------------- */

/* T as RFC 3339, or a duration meaning "that long ago". */
static int parse_when(const char *s, int64_t now, int64_t *out)
{
    int64_t d;

    if (alert_time_parse(s, strlen(s), out) == 0 && *out != ALERT_NO_END)
        return 0;
    if (ytree_parse_duration(s, &d) == 0) {
        *out = now - d;
        return 0;
    }
    return -1;
}

static int cmd_archive(int argc, char **argv)
{
    const char *config_path = NULL, *since = NULL, *until = NULL;
    int64_t since_ms = INT64_MIN, until_ms = INT64_MAX, now = wall_ms();
    struct config *cfg = NULL;
    struct redis_ev_options ro;
    struct archive_export_stats st;
    struct qerr err;
    int rc;

    if (argc < 1)
        return usage_error("archive: missing subcommand (export)");
    if (cli_is_help(argv[0])) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[0], "export") != 0)
        return usage_error("archive: unknown subcommand '%s'", argv[0]);
    for (int i = 1; i < argc; i++) {
        int m;

        if (cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--config", &config_path)) == 0 &&
            (m = cli_opt_value(argc, argv, &i, "--since", &since)) == 0 &&
            (m = cli_opt_value(argc, argv, &i, "--until", &until)) == 0)
            return usage_error("archive export: unknown argument '%s'", argv[i]);
        if (m < 0)
            return usage_error("archive export: %s needs a value", argv[i]);
    }
    if (since && parse_when(since, now, &since_ms) != 0)
        return usage_error("--since: '%s' is neither RFC 3339 nor a duration",
                           since);
    if (until && parse_when(until, now, &until_ms) != 0)
        return usage_error("--until: '%s' is neither RFC 3339 nor a duration",
                           until);
    memset(&err, 0, sizeof err);
    if (config_load(&cfg, config_path, &err) != 0)
        return fail(&err);
    redis_opts_from_config(&cfg->redis, &ro);
    rc = archive_export(stdout, &ro, since_ms, until_ms, &st, &err);
    config_free(cfg);
    if (rc != 0)
        return fail(&err);
    if (st.skipped > 0)
        fprintf(stderr, "quench: skipped %lu archive entr%s without a valid "
                "received_at and JSON body\n", st.skipped,
                st.skipped == 1 ? "y" : "ies");
    return EXIT_OK;
}

/* ---- the rest ---------------------------------------------------------- */

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("quench %s\n", QUENCH_VERSION);
    return EXIT_OK;
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs(usage_text, stdout);
    return EXIT_OK;
}

/* replay_main wants argv[0] = "replay", options after it. */
static int cmd_replay(int argc, char **argv)
{
    return replay_main(argc + 1, argv - 1);
}

/* Commands whose modules have not landed yet: say so, as a usage error. */
/* quench check: every file serve would load, each problem on its own line
 * as file:line:column, exit 1 if there was one. A broken config does not
 * stop the rules from being checked (with the default rules_dir). */
static int cmd_check(int argc, char **argv)
{
    const char *config_path = NULL, *rules_dir = NULL;
    struct config *cfg = NULL;
    struct rules *r = NULL;
    struct topology *t = NULL;
    struct qerr err;
    int problems = 0;

    for (int i = 0; i < argc; i++) {
        int m;

        if (cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }
        if ((m = cli_opt_value(argc, argv, &i, "--config", &config_path)) == 0 &&
            (m = cli_opt_value(argc, argv, &i, "--rules", &rules_dir)) == 0)
            return usage_error("check: unknown argument '%s'", argv[i]);
        if (m < 0)
            return usage_error("check: %s needs a value", argv[i]);
    }
    memset(&err, 0, sizeof err);
    if (config_load(&cfg, config_path, &err) != 0) {
        fail(&err);
        problems++;
    }
    if (rules_dir == NULL)
        rules_dir = cfg != NULL && cfg->rules_dir != NULL ? cfg->rules_dir : "rules";
    memset(&err, 0, sizeof err);
    if (rules_load_dir(rules_dir, &r, &t, &err) != 0) {
        fail(&err);
        problems++;
    }
    if (problems == 0)
        printf("quench check: ok (%s, rules in %s: %u entities, %zu alert kinds, "
               "%zu rule_for entries)\n",
               config_path ? config_path : "built-in configuration", rules_dir,
               (unsigned)topology_count(t), r->nkinds, r->nfors);
    topology_free(t);
    rules_free(r);
    config_free(cfg);
    return problems ? EXIT_FAILED : EXIT_OK;
}

static int cmd_not_yet(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "quench: '%s' is not available yet in this build\n",
            argv[-1]);
    return EXIT_USAGE;
}

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv);   /* argv: after the command name */
} commands[] = {
    {"serve", cmd_serve},
    {"archive", cmd_archive},
    {"replay", cmd_replay},
    {"check", cmd_check},
    {"approvals", cmd_not_yet},
    {"version", cmd_version},
    {"--version", cmd_version},
    {"help", cmd_help},
    {"--help", cmd_help},
    {"-h", cmd_help},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", argv[1]);
}
