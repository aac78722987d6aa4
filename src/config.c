/* config.c - quench.yaml into struct config, one table row per key.
 *
 * Order of a load: every row's default is applied first (text defaults go
 * through the same parser as file values, so a bad default fails the unit
 * tests, not production); then the document is walked in document order,
 * so the first problem reported is the first one in the file; then checks
 * that span keys (slack needs all its parts, mode url needs a url); then
 * the environment overrides. Nothing is half-applied on error: the caller
 * gets -1 and no config.
 *
 * Secrets: only *_file (a path, read now, trailing newlines stripped) or
 * *_env (a variable name, read now). The inline spelling of a secret key
 * is refused with a pointer to the _file form. No value is ever copied
 * into an error message: file names and key names only. Secret buffers
 * are wiped before they are freed. The Kubernetes token file is kept as a
 * path because projected tokens rotate and k8s.c re-reads it. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "limits.h"
#include "ytree.h"

enum row_type {
    R_STRING,       /* char *, non-empty */
    R_PATH,         /* char *, relative to the config file's directory */
    R_BOOL,         /* int, true/false */
    R_UINT,         /* unsigned in [min, max] */
    R_SIZE,         /* size_t bytes in [min, max] */
    R_DURATION_MS,  /* int64_t ms in [min, max] */
    R_DURATION_S,   /* unsigned seconds; whole seconds in [min, max] ms */
    R_LOG_LEVEL,    /* enum log_level */
    R_LISTEN,       /* char *, checked by config_parse_listen */
    R_REDIS_URL,    /* struct config_redis */
    R_K8S_MODE,     /* enum config_k8s_mode */
    R_HTTP_URL,     /* char *, http:// or https://, trailing '/' dropped */
    R_NAME,         /* char *, a Redis consumer name */
    R_SECRET_FILE,  /* char * SECRET, read from the file named */
    R_SECRET_ENV,   /* char * SECRET, read from the variable named */
};

/* A path holding a secret that is not read at load (the Kubernetes token
 * rotates): its inline spelling is refused like R_SECRET_FILE's. */
#define ROW_SECRET_PATH 1u

struct row {
    const char *path;       /* dotted key path */
    enum row_type type;
    size_t offset;          /* into struct config */
    int64_t min, max;       /* R_UINT, R_SIZE, durations (ms) */
    const char *def;        /* default as YAML text, parsed like file text */
    int64_t def_num;        /* default of numeric rows when def is NULL */
    unsigned flags;
};

#define OFF(field) offsetof(struct config, field)
#define DAY_MS (86400000LL)

static const struct row rows[] = {
    { "listen", R_LISTEN, OFF(listen), 0, 0, "127.0.0.1:9095", 0, 0 },
    { "redis.url", R_REDIS_URL, OFF(redis), 0, 0, "redis://127.0.0.1:6379/0", 0, 0 },
    { "redis.password_file", R_SECRET_FILE, OFF(redis.password), 0, 0, NULL, 0, 0 },
    { "redis.password_env", R_SECRET_ENV, OFF(redis.password), 0, 0, NULL, 0, 0 },
    { "rules_dir", R_PATH, OFF(rules_dir), 0, 0, "rules", 0, 0 },
    { "playbooks_dir", R_PATH, OFF(playbooks_dir), 0, 0, "playbooks", 0, 0 },
    { "lua_dir", R_PATH, OFF(lua_dir), 0, 0, "lua", 0, 0 },
    { "log_level", R_LOG_LEVEL, OFF(log_level), 0, 0, "info", 0, 0 },
    { "auth.webhook_bearer_token_file", R_SECRET_FILE,
      OFF(auth.webhook_bearer_token), 0, 0, NULL, 0, 0 },
    { "auth.webhook_bearer_token_env", R_SECRET_ENV,
      OFF(auth.webhook_bearer_token), 0, 0, NULL, 0, 0 },
    { "auth.webhook_basic_user", R_STRING, OFF(auth.webhook_basic_user), 0, 0, NULL, 0, 0 },
    { "auth.webhook_basic_password_file", R_SECRET_FILE,
      OFF(auth.webhook_basic_password), 0, 0, NULL, 0, 0 },
    { "auth.webhook_basic_password_env", R_SECRET_ENV,
      OFF(auth.webhook_basic_password), 0, 0, NULL, 0, 0 },
    { "auth.api_bearer_token_file", R_SECRET_FILE, OFF(auth.api_bearer_token), 0, 0, NULL, 0, 0 },
    { "auth.api_bearer_token_env", R_SECRET_ENV, OFF(auth.api_bearer_token), 0, 0, NULL, 0, 0 },
    { "kubernetes.mode", R_K8S_MODE, OFF(kubernetes.mode), 0, 0, "in-cluster", 0, 0 },
    { "kubernetes.url", R_HTTP_URL, OFF(kubernetes.url), 0, 0, NULL, 0, 0 },
    { "kubernetes.token_file", R_PATH, OFF(kubernetes.token_file), 0, 0, NULL, 0,
      ROW_SECRET_PATH },
    { "kubernetes.ca_file", R_PATH, OFF(kubernetes.ca_file), 0, 0, NULL, 0, 0 },
    { "kubernetes.kubeconfig", R_PATH, OFF(kubernetes.kubeconfig), 0, 0, NULL, 0, 0 },
    { "kubernetes.dry_run", R_BOOL, OFF(kubernetes.dry_run), 0, 0, "false", 0, 0 },
    { "slack.bot_token_file", R_SECRET_FILE, OFF(slack.bot_token), 0, 0, NULL, 0, 0 },
    { "slack.bot_token_env", R_SECRET_ENV, OFF(slack.bot_token), 0, 0, NULL, 0, 0 },
    { "slack.signing_secret_file", R_SECRET_FILE, OFF(slack.signing_secret), 0, 0, NULL, 0, 0 },
    { "slack.signing_secret_env", R_SECRET_ENV, OFF(slack.signing_secret), 0, 0, NULL, 0, 0 },
    { "slack.channel", R_STRING, OFF(slack.channel), 0, 0, NULL, 0, 0 },
    { "slack.api_url", R_HTTP_URL, OFF(slack.api_url), 0, 0, "https://slack.com/api", 0, 0 },
    { "slack.team_id", R_STRING, OFF(slack.team_id), 0, 0, NULL, 0, 0 },
    { "slack.app_id", R_STRING, OFF(slack.app_id), 0, 0, NULL, 0, 0 },
    /* Retention below an hour would trim alerts before an incident closes;
     * ten years is a typo guard. */
    { "archive.retention", R_DURATION_MS, OFF(archive.retention_ms),
      3600000LL, 3650 * DAY_MS, NULL, 14 * DAY_MS, 0 },
    /* Must cover Alertmanager's retry and HA gossip delays: >= 1s; a day
     * of dedup keys is already a lot of Redis memory. */
    { "archive.dedup_window", R_DURATION_MS, OFF(archive.dedup_window_ms),
      1000, DAY_MS, NULL, QUENCH_DEDUP_WINDOW_MS, 0 },
    /* Alertmanager's own webhook timeout is 10s by default: waiting longer
     * than that for Redis only turns a 503 into a client timeout. */
    { "archive.write_timeout", R_DURATION_MS, OFF(archive.write_timeout_ms),
      10, 10000, NULL, QUENCH_ARCHIVE_WRITE_TIMEOUT_MS, 0 },
    /* MHD takes the connection limit from here; 64k is the fd ceiling of
     * a typical container. */
    { "http.max_connections", R_UINT, OFF(http.max_connections),
      1, 65536, NULL, QUENCH_MAX_CONNECTIONS, 0 },
    { "http.idle_timeout", R_DURATION_S, OFF(http.idle_timeout_s),
      1000, 3600000, NULL, QUENCH_CONNECTION_IDLE_S * 1000LL, 0 },
    /* One webhook of a few alerts is ~1 KiB; above 64 MiB one request
     * could hold a worrying share of the pod's memory. */
    { "http.max_body", R_SIZE, OFF(http.max_body),
      1024, 64LL * 1024 * 1024, NULL, QUENCH_MAX_WEBHOOK_BODY, 0 },
    { "consumer.name", R_NAME, OFF(consumer_name), 0, 0, NULL, 0, 0 },
};

#define NROWS (sizeof rows / sizeof rows[0])

static const struct {
    const char *name;
    enum config_k8s_mode mode;
} k8s_modes[] = {
    { "in-cluster", CONFIG_K8S_IN_CLUSTER },
    { "kubeconfig", CONFIG_K8S_KUBECONFIG },
    { "url", CONFIG_K8S_URL },
};

/* Environment overrides, applied after the file. */
static const struct {
    const char *var;
    const char *row;
} env_overrides[] = {
    { "QUENCH_LISTEN", "listen" },
    { "QUENCH_REDIS_URL", "redis.url" },
};

struct loader {
    struct config *c;
    const struct ytree_doc *doc;        /* NULL for defaults and env */
    char *base_dir;                     /* NULL: paths kept as written */
    config_getenv_fn env;
    unsigned flags;                     /* CONFIG_* of config_load_opts */
    const struct ytree_node *seen[NROWS];   /* where each row was set */
};

/* ---- small helpers -------------------------------------------------------- */

static void *field(struct config *c, const struct row *r)
{
    return (char *)c + r->offset;
}

static void free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static const struct row *find_row(const char *path)
{
    size_t i;

    for (i = 0; i < NROWS; i++)
        if (strcmp(rows[i].path, path) == 0)
            return &rows[i];
    return NULL;
}

/* True when PATH names a section: some row lives under "PATH.". */
static int is_section(const char *path)
{
    size_t i, n = strlen(path);

    for (i = 0; i < NROWS; i++)
        if (strncmp(rows[i].path, path, n) == 0 && rows[i].path[n] == '.')
            return 1;
    return 0;
}

static char *join_path(const char *base, const char *rel)
{
    size_t bl = strlen(base), rl = strlen(rel);
    int slash = bl > 0 && base[bl - 1] != '/';
    char *p = malloc(bl + (size_t)slash + rl + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, base, bl);
    if (slash)
        p[bl] = '/';
    memcpy(p + bl + (size_t)slash, rel, rl + 1);
    return p;
}

/* Directory of PATH, or NULL (and *oom = 0) when PATH has no '/': then
 * relative values are relative to the working directory already. */
static char *dir_of(const char *path, int *oom)
{
    const char *slash = strrchr(path, '/');
    size_t n;
    char *d;

    *oom = 0;
    if (slash == NULL)
        return NULL;
    n = slash == path ? 1 : (size_t)(slash - path);
    d = strndup(path, n);
    if (d == NULL)
        *oom = 1;
    return d;
}

static int set_string(char **slot, const char *v)
{
    char *s = strdup(v);

    if (s == NULL)
        return -1;
    free(*slot);
    *slot = s;
    return 0;
}

static int valid_hostname(const char *h, size_t n)
{
    size_t i, label = 0;

    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i < n; i++) {
        char ch = h[i];
        if (ch == '.') {
            if (label == 0 || h[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return 0;
        if (ch == '-' && label == 0)
            return 0;
        if (++label > 63)
            return 0;
    }
    return h[n - 1] != '-';
}

/* A host that is all digits and dots must be a real IPv4 address:
 * "10.0.0.300" is a typo, not a name. */
static int valid_host(const char *h, size_t n)
{
    char buf[256];
    struct in_addr a4;
    size_t i;

    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, h, n);
    buf[n] = '\0';
    for (i = 0; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
            return valid_hostname(h, n);
    return inet_pton(AF_INET, buf, &a4) == 1;
}

static int valid_ipv6(const char *h, size_t n)
{
    char buf[64];
    struct in6_addr a6;

    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, &a6) == 1;
}

/* Decimal S[0..n) in [lo, hi], no sign, no leading zero. */
static int parse_uint(const char *s, size_t n, long lo, long hi, long *out)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* ---- public parsers --------------------------------------------------------- */

int config_parse_listen(const char *s, char *host, size_t hostcap, unsigned *port)
{
    const char *h, *colon;
    size_t hl;
    long p;

    if (s == NULL)
        return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
        if (!valid_ipv6(h, hl))
            return -1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        h = s;
        hl = (size_t)(colon - s);
        if (memchr(h, ':', hl) != NULL)     /* bare IPv6 needs brackets */
            return -1;
        if (hl == 0) {
            h = "0.0.0.0";
            hl = 7;
        } else if (!valid_host(h, hl)) {
            return -1;
        }
    }
    if (parse_uint(colon + 1, strlen(colon + 1), 0, 65535, &p) < 0)
        return -1;
    if (hl >= hostcap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned)p;
    return 0;
}

static const struct {
    const char *suffix;
    int64_t ms;
} fmt_units[] = {
    { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
};

int config_format_duration(int64_t ms, char *out, size_t cap)
{
    size_t i, len = 0;

    if (ms <= 0 || cap == 0)
        return -1;
    out[0] = '\0';
    for (i = 0; i < sizeof fmt_units / sizeof fmt_units[0]; i++) {
        int64_t q = ms / fmt_units[i].ms;
        int n;
        if (q == 0)
            continue;
        ms -= q * fmt_units[i].ms;
        n = snprintf(out + len, cap - len, "%lld%s", (long long)q, fmt_units[i].suffix);
        if (n < 0 || (size_t)n >= cap - len)
            return -1;
        len += (size_t)n;
    }
    return 0;
}

/* ---- Redis URL -------------------------------------------------------------- */

static void redis_clear(struct config_redis *r)
{
    free(r->host);
    free(r->unix_path);
    free(r->username);
    free_secret(r->password);
    free(r->url_redacted);
    memset(r, 0, sizeof *r);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode S[0..n) into a new string; NULL on a bad escape, a NUL
 * byte or OOM (*oom set). */
static char *pct_decode(const char *s, size_t n, int *oom)
{
    char *o = malloc(n + 1);
    size_t i, j = 0;

    *oom = o == NULL;
    if (o == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (s[i] != '%') {
            o[j++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            explicit_bzero(o, j);
            free(o);
            return NULL;
        }
        o[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    o[j] = '\0';
    return o;
}

#define REDIS_URL_FORMS \
    "expected redis://[user:password@]host[:port][/db] or " \
    "unix://[user:password@]/path/to/socket[?db=N]"

/* Parse URL into *R (cleared first). 0, or -1 with a reason in WHY that
 * never contains the URL (it may hold a password). */
static int redis_url_parse(const char *url, struct config_redis *r, char *why,
                           size_t whycap)
{
    const char *p, *auth_end, *at, *hostpart;
    int is_unix;
    int oom = 0;
    char buf[512];

    memset(r, 0, sizeof *r);
    r->port = 6379;
    if (strncmp(url, "rediss://", 9) == 0) {
        snprintf(why, whycap, "TLS (rediss://) is not supported by hiredis 0.14: "
                 "use a unix socket, a private network or a TLS sidecar");
        return -1;
    }
    if (strncmp(url, "redis://", 8) == 0) {
        is_unix = 0;
        p = url + 8;
    } else if (strncmp(url, "unix://", 7) == 0) {
        is_unix = 1;
        p = url + 7;
    } else {
        snprintf(why, whycap, "not a Redis URL: %s", REDIS_URL_FORMS);
        return -1;
    }
    if (strlen(url) > 1024) {
        snprintf(why, whycap, "Redis URL longer than 1024 bytes");
        return -1;
    }
    for (const char *q = url; *q != '\0'; q++) {
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) {
            snprintf(why, whycap, "Redis URL contains whitespace or a control character");
            return -1;
        }
    }

    /* Userinfo ends at the last '@' before the path ('/' for unix, where
     * the path starts right after it; '/' or '?' for TCP). Reserved
     * characters in a password must be percent-encoded. */
    auth_end = is_unix ? strchr(p, '/') : p + strcspn(p, "/?");
    if (auth_end == NULL)
        auth_end = p + strlen(p);
    at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (uend > p) {
            r->username = pct_decode(p, (size_t)(uend - p), &oom);
            if (r->username == NULL)
                goto bad_escape;
        }
        if (colon != NULL && at > colon + 1) {
            r->password = pct_decode(colon + 1, (size_t)(at - colon - 1), &oom);
            if (r->password == NULL)
                goto bad_escape;
            r->password_from_url = 1;
        }
        if (r->username != NULL && r->password == NULL) {
            snprintf(why, whycap, "a Redis username needs a password");
            goto fail;
        }
        hostpart = at + 1;
    } else {
        hostpart = p;
    }

    if (is_unix) {
        const char *q = strchr(hostpart, '?');
        size_t pl = q ? (size_t)(q - hostpart) : strlen(hostpart);
        long db = 0;
        if (pl < 2 || hostpart[0] != '/') {
            snprintf(why, whycap, "unix socket path must be absolute: %s", REDIS_URL_FORMS);
            goto fail;
        }
        /* sun_path is 108 bytes including the NUL on Linux. */
        if (pl > 107) {
            snprintf(why, whycap, "unix socket path longer than 107 bytes");
            goto fail;
        }
        if (q != NULL && (strncmp(q, "?db=", 4) != 0 ||
                          parse_uint(q + 4, strlen(q + 4), 0, 65535, &db) < 0)) {
            snprintf(why, whycap, "the only query parameter is db=N (0-65535)");
            goto fail;
        }
        r->unix_path = strndup(hostpart, pl);
        if (r->unix_path == NULL)
            goto oom;
        r->db = (int)db;
    } else {
        const char *hend = hostpart + strcspn(hostpart, "/?");
        const char *h = hostpart, *portp = NULL;
        size_t hl;
        long port = 6379, db = 0;

        if (*hend == '?') {
            snprintf(why, whycap, "query parameters are not supported in redis:// URLs");
            goto fail;
        }
        if (h[0] == '[') {
            const char *close = memchr(h, ']', (size_t)(hend - h));
            if (close == NULL || !valid_ipv6(h + 1, (size_t)(close - h - 1)) ||
                (close + 1 != hend && close[1] != ':')) {
                snprintf(why, whycap, "bad IPv6 host: %s", REDIS_URL_FORMS);
                goto fail;
            }
            hl = (size_t)(close - h - 1);
            h = h + 1;
            if (close + 1 != hend)
                portp = close + 2;
        } else {
            const char *colon = memchr(h, ':', (size_t)(hend - h));
            hl = colon ? (size_t)(colon - h) : (size_t)(hend - h);
            if (!valid_host(h, hl)) {
                snprintf(why, whycap, "missing or invalid host: %s", REDIS_URL_FORMS);
                goto fail;
            }
            if (colon != NULL)
                portp = colon + 1;
        }
        if (portp != NULL &&
            parse_uint(portp, (size_t)(hend - portp), 1, 65535, &port) < 0) {
            snprintf(why, whycap, "port must be 1-65535");
            goto fail;
        }
        if (*hend == '/' && hend[1] != '\0' &&
            parse_uint(hend + 1, strlen(hend + 1), 0, 65535, &db) < 0) {
            snprintf(why, whycap, "database must be a number 0-65535 after the '/'");
            goto fail;
        }
        r->host = strndup(h, hl);
        if (r->host == NULL)
            goto oom;
        r->port = (int)port;
        r->db = (int)db;
    }

    /* The loggable form: the password never, the rest normalised. */
    if (is_unix)
        snprintf(buf, sizeof buf, "unix://%s%s%s%s%s",
                 r->username ? r->username : "", r->password ? ":***" : "",
                 (r->username || r->password) ? "@" : "", r->unix_path,
                 r->db ? "?db=" : "");
    else
        snprintf(buf, sizeof buf, "redis://%s%s%s%s%s%s:%d/",
                 r->username ? r->username : "", r->password ? ":***" : "",
                 (r->username || r->password) ? "@" : "",
                 strchr(r->host, ':') ? "[" : "", r->host,
                 strchr(r->host, ':') ? "]" : "", r->port);
    if (r->db || !is_unix) {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, "%d", r->db);
    }
    r->url_redacted = strdup(buf);
    if (r->url_redacted == NULL)
        goto oom;
    return 0;

bad_escape:
    if (oom)
        goto oom;
    snprintf(why, whycap, "bad percent-escape in the user or password of the Redis URL");
    goto fail;
oom:
    snprintf(why, whycap, "out of memory");
fail:
    redis_clear(r);
    return -1;
}

/* ---- secrets ------------------------------------------------------------------ */

/* Read the secret file PATH into *out (trailing CR/LF stripped). 0, or -1
 * with WHY naming the file, never its content. */
static int read_secret_file(const char *path, char **out, char *why, size_t whycap)
{
    char buf[QUENCH_MAX_SECRET_BYTES + 1];
    struct stat st;
    size_t len = 0;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whycap, "cannot read secret file '%s': %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whycap, "secret file '%s' is not a regular file", path);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, whycap, "cannot read secret file '%s': %s", path,
                     strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > QUENCH_MAX_SECRET_BYTES) {
            snprintf(why, whycap, "secret file '%s' is larger than %d bytes", path,
                     QUENCH_MAX_SECRET_BYTES);
            goto out;
        }
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0) {
        snprintf(why, whycap, "secret file '%s' is empty", path);
        goto out;
    }
    if (memchr(buf, '\0', len) != NULL) {
        snprintf(why, whycap, "secret file '%s' contains a NUL byte", path);
        goto out;
    }
    *out = strndup(buf, len);
    if (*out == NULL) {
        snprintf(why, whycap, "out of memory");
        goto out;
    }
    rc = 0;
out:
    explicit_bzero(buf, sizeof buf);
    close(fd);
    return rc;
}

static int valid_env_name(const char *s)
{
    size_t i;

    if (s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return i <= 128;
}

/* ---- one value ------------------------------------------------------------------ */

static int lerr(struct loader *L, const struct ytree_node *n, struct qerr *err,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int lerr(struct loader *L, const struct ytree_node *n, struct qerr *err,
                const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ytree_error(L->doc, n, err, "%s", msg);
}

static int oom(struct loader *L, const struct ytree_node *n, struct qerr *err)
{
    return lerr(L, n, err, "out of memory");
}

static int in_duration_range(struct loader *L, const struct row *r,
                             const struct ytree_node *n, int64_t ms, struct qerr *err)
{
    char lo[32], hi[32];

    if (ms >= r->min && ms <= r->max)
        return 0;
    config_format_duration(r->min, lo, sizeof lo);
    config_format_duration(r->max, hi, sizeof hi);
    return lerr(L, n, err, "%s must be between %s and %s", r->path, lo, hi);
}

static int apply_secret(struct loader *L, const struct row *r,
                        const struct ytree_node *n, const char *v, struct qerr *err)
{
    char **slot = field(L->c, r);
    char why[sizeof err->msg - 64];
    char *secret = NULL;
    size_t i;

    /* One source per secret: a _file and an _env for the same secret, or
     * a Redis password both in the URL and in a file, is ambiguous. */
    for (i = 0; i < NROWS; i++) {
        if (&rows[i] != r && rows[i].offset == r->offset && L->seen[i] != NULL)
            return lerr(L, n, err, "%s and %s set the same secret: keep one",
                        rows[i].path, r->path);
    }
    if (r->offset == OFF(redis.password) && L->c->redis.password_from_url)
        return lerr(L, n, err, "the Redis password is already in redis.url: "
                    "remove it from the URL and keep %s", r->path);

    if (r->type == R_SECRET_ENV && !valid_env_name(v))
        return lerr(L, n, err, "%s must name an environment variable", r->path);
    if (L->flags & CONFIG_NO_SECRETS) {
        secret = strdup("");
        if (secret == NULL)
            return oom(L, n, err);
    } else if (r->type == R_SECRET_FILE) {
        char *path = (L->base_dir && v[0] != '/') ? join_path(L->base_dir, v) : strdup(v);
        if (path == NULL)
            return oom(L, n, err);
        int rc = read_secret_file(path, &secret, why, sizeof why);
        free(path);
        if (rc < 0)
            return lerr(L, n, err, "%s", why);
    } else {
        const char *e;
        size_t len;
        e = L->env ? L->env(v) : NULL;
        len = e ? strlen(e) : 0;
        while (len > 0 && (e[len - 1] == '\n' || e[len - 1] == '\r'))
            len--;
        if (len == 0)
            return lerr(L, n, err, "environment variable '%s' (from %s) is not set "
                        "or empty", v, r->path);
        secret = strndup(e, len);
        if (secret == NULL)
            return oom(L, n, err);
    }
    free_secret(*slot);
    *slot = secret;
    return 0;
}

/* Apply text or node N to row R. N is a real node from L->doc, or a
 * synthetic plain scalar for defaults and environment values. */
static int apply_row(struct loader *L, const struct row *r,
                     const struct ytree_node *n, struct qerr *err)
{
    void *f = field(L->c, r);
    const char *v = NULL;
    int64_t i64;
    int b;
    size_t k;

    if (n->type == YTREE_SCALAR && ytree_is_null(n))
        return lerr(L, n, err, "%s needs a value (leave the key out for the default)",
                    r->path);

    switch (r->type) {
    case R_BOOL:
        if (ytree_bool(L->doc, n, &b, err) < 0)
            return -1;
        *(int *)f = b;
        return 0;
    case R_UINT:
        if (ytree_int(L->doc, n, r->min, r->max, &i64, err) < 0)
            return -1;
        *(unsigned *)f = (unsigned)i64;
        return 0;
    case R_SIZE:
        if (ytree_int(L->doc, n, r->min, r->max, &i64, err) < 0)
            return -1;
        *(size_t *)f = (size_t)i64;
        return 0;
    case R_DURATION_MS:
    case R_DURATION_S:
        if (ytree_duration(L->doc, n, &i64, err) < 0 ||
            in_duration_range(L, r, n, i64, err) < 0)
            return -1;
        if (r->type == R_DURATION_MS) {
            *(int64_t *)f = i64;
        } else {
            if (i64 % 1000 != 0)
                return lerr(L, n, err, "%s must be whole seconds", r->path);
            *(unsigned *)f = (unsigned)(i64 / 1000);
        }
        return 0;
    default:
        break;
    }

    /* Everything else is text. */
    if (ytree_string(L->doc, n, &v, err) < 0)
        return -1;
    if (v[0] == '\0')
        return lerr(L, n, err, "%s must not be empty", r->path);

    switch (r->type) {
    case R_STRING:
        if (strlen(v) > 1024)
            return lerr(L, n, err, "%s is longer than 1024 bytes", r->path);
        return set_string(f, v) < 0 ? oom(L, n, err) : 0;
    case R_PATH: {
        char *p = (L->base_dir && v[0] != '/') ? join_path(L->base_dir, v) : strdup(v);
        if (p == NULL)
            return oom(L, n, err);
        free(*(char **)f);
        *(char **)f = p;
        return 0;
    }
    case R_LOG_LEVEL: {
        enum log_level l;
        if (log_level_parse(v, &l) < 0)
            return lerr(L, n, err, "log_level must be debug, info, warn, error or off");
        *(enum log_level *)f = l;
        return 0;
    }
    case R_LISTEN: {
        char host[256];
        unsigned port;
        if (config_parse_listen(v, host, sizeof host, &port) < 0)
            return lerr(L, n, err, "%s: expected host:port, [ipv6]:port or :port "
                        "with a port 0-65535", r->path);
        return set_string(f, v) < 0 ? oom(L, n, err) : 0;
    }
    case R_REDIS_URL: {
        struct config_redis nr, *cur = f;
        char why[256];
        if (redis_url_parse(v, &nr, why, sizeof why) < 0)
            return lerr(L, n, err, "%s: %s", r->path, why);
        /* A password from redis.password_file/_env stays; the URL may not
         * bring a second one. */
        if (cur->password != NULL && !cur->password_from_url) {
            if (nr.password != NULL) {
                redis_clear(&nr);
                return lerr(L, n, err, "%s carries a password but redis.password_file "
                            "or redis.password_env already sets it: keep one", r->path);
            }
            nr.password = cur->password;
            cur->password = NULL;
        }
        redis_clear(cur);
        *cur = nr;
        return 0;
    }
    case R_K8S_MODE:
        for (k = 0; k < sizeof k8s_modes / sizeof k8s_modes[0]; k++) {
            if (strcmp(v, k8s_modes[k].name) == 0) {
                *(enum config_k8s_mode *)f = k8s_modes[k].mode;
                return 0;
            }
        }
        return lerr(L, n, err, "%s must be in-cluster, kubeconfig or url", r->path);
    case R_HTTP_URL: {
        size_t len = strlen(v);
        const char *host = strncmp(v, "https://", 8) == 0 ? v + 8
                         : strncmp(v, "http://", 7) == 0 ? v + 7 : NULL;
        if (host == NULL || *host == '\0' || *host == '/' || len > 2048)
            return lerr(L, n, err, "%s must be an http:// or https:// URL", r->path);
        for (k = 0; k < len; k++)
            if ((unsigned char)v[k] <= 0x20 || v[k] == 0x7f)
                return lerr(L, n, err, "%s must not contain spaces or control "
                            "characters", r->path);
        while (len > 0 && v[len - 1] == '/')
            len--;
        char *s = strndup(v, len);
        if (s == NULL)
            return oom(L, n, err);
        free(*(char **)f);
        *(char **)f = s;
        return 0;
    }
    case R_NAME:
        for (k = 0; v[k] != '\0'; k++) {
            char ch = v[k];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || strchr("._:@-", ch) != NULL))
                return lerr(L, n, err, "%s may hold only letters, digits and . _ : @ -",
                            r->path);
        }
        if (k > 128)
            return lerr(L, n, err, "%s is longer than 128 bytes", r->path);
        return set_string(f, v) < 0 ? oom(L, n, err) : 0;
    case R_SECRET_FILE:
    case R_SECRET_ENV:
        return apply_secret(L, r, n, v, err);
    default:
        return lerr(L, n, err, "%s: unhandled row type", r->path);
    }
}

static void synthetic(struct ytree_node *n, const char *text)
{
    memset(n, 0, sizeof *n);
    n->type = YTREE_SCALAR;
    n->value = text;
    n->value_len = strlen(text);
    n->plain = 1;
}

static int apply_defaults(struct loader *L, struct qerr *err)
{
    size_t i;

    for (i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        void *f = field(L->c, r);
        struct ytree_node n;

        if (r->def != NULL) {
            char dir[QUENCH_PATH_MAX];
            synthetic(&n, r->type == R_PATH ? config_data_dir(r->def, dir, sizeof dir)
                                             : r->def);
            if (apply_row(L, r, &n, err) < 0)
                return -1;
            continue;
        }
        switch (r->type) {
        case R_UINT:        *(unsigned *)f = (unsigned)r->def_num; break;
        case R_SIZE:        *(size_t *)f = (size_t)r->def_num; break;
        case R_DURATION_MS: *(int64_t *)f = r->def_num; break;
        case R_DURATION_S:  *(unsigned *)f = (unsigned)(r->def_num / 1000); break;
        default:            break;  /* NULL / 0 */
        }
    }
    return 0;
}

/* ---- the document ------------------------------------------------------------------ */

/* If PATH is the inline spelling of a secret ("auth.webhook_bearer_token"
 * for "auth.webhook_bearer_token_file"), the _file row. */
static const struct row *inline_secret(const char *path)
{
    size_t i, n = strlen(path);

    for (i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        if ((r->type == R_SECRET_FILE || (r->flags & ROW_SECRET_PATH)) &&
            strncmp(r->path, path, n) == 0 && strcmp(r->path + n, "_file") == 0)
            return r;
    }
    return NULL;
}

static int walk(struct loader *L, const struct ytree_node *map, const char *prefix,
                struct qerr *err)
{
    size_t i;

    for (i = 0; i < map->len; i++) {
        const struct ytree_node *k = map->pairs[i].key, *v = map->pairs[i].value;
        char full[128];
        const struct row *r;
        int n;

        n = snprintf(full, sizeof full, "%s%s", prefix, k->value);
        if (n < 0 || (size_t)n >= sizeof full || strlen(k->value) != k->value_len ||
            strchr(k->value, '.') != NULL)
            return lerr(L, k, err, "unknown key '%.64s'", k->value);

        r = find_row(full);
        if (r != NULL) {
            if (apply_row(L, r, v, err) < 0)
                return -1;
            L->seen[r - rows] = v;
            continue;
        }
        if (is_section(full)) {
            char sub[130];
            if (ytree_is_null(v))
                continue;               /* "auth:" with everything commented out */
            if (v->type != YTREE_MAP)
                return lerr(L, v, err, "%s must be a map", full);
            snprintf(sub, sizeof sub, "%s.", full);
            if (walk(L, v, sub, err) < 0)
                return -1;
            continue;
        }
        r = inline_secret(full);
        if (r != NULL) {
            const char *leaf = strrchr(r->path, '.');
            leaf = leaf ? leaf + 1 : r->path;
            char env_path[128];
            snprintf(env_path, sizeof env_path, "%.*s_env",
                     (int)(strlen(r->path) - 5), r->path);
            if (find_row(env_path) != NULL)
                return lerr(L, k, err, "secrets are not written in the config: "
                            "use '%s' (a file) or '%.*s_env' (a variable)",
                            leaf, (int)(strlen(leaf) - 5), leaf);
            return lerr(L, k, err, "secrets are not written in the config: use '%s'",
                        leaf);
        }
        return lerr(L, k, err, "unknown key '%s'", full);
    }
    return 0;
}

static const struct ytree_node *seen(const struct loader *L, const char *path)
{
    const struct row *r = find_row(path);
    return r ? L->seen[r - rows] : NULL;
}

static const struct ytree_node *first_seen(const struct loader *L, const char *const *paths)
{
    for (; *paths != NULL; paths++)
        if (seen(L, *paths) != NULL)
            return seen(L, *paths);
    return NULL;
}

/* Checks across keys, after the whole document is in. */
static int cross_check(struct loader *L, struct qerr *err)
{
    const struct config *c = L->c;
    const struct ytree_node *n;

    if (c->kubernetes.mode == CONFIG_K8S_URL && c->kubernetes.url == NULL)
        return lerr(L, seen(L, "kubernetes.mode"), err,
                    "kubernetes.mode url needs kubernetes.url");
    if (c->kubernetes.mode != CONFIG_K8S_URL && (n = seen(L, "kubernetes.url")) != NULL)
        return lerr(L, n, err, "kubernetes.url is used only with mode: url");
    if (c->kubernetes.mode != CONFIG_K8S_KUBECONFIG &&
        (n = seen(L, "kubernetes.kubeconfig")) != NULL)
        return lerr(L, n, err, "kubernetes.kubeconfig is used only with mode: kubeconfig");

    if ((c->auth.webhook_basic_user == NULL) != (c->auth.webhook_basic_password == NULL)) {
        static const char *const basic[] = { "auth.webhook_basic_user",
            "auth.webhook_basic_password_file", "auth.webhook_basic_password_env", NULL };
        return lerr(L, first_seen(L, basic), err,
                    "auth.webhook_basic_user and auth.webhook_basic_password_file "
                    "(or _env) go together");
    }

    int parts = (c->slack.bot_token != NULL) + (c->slack.signing_secret != NULL) +
                (c->slack.channel != NULL);
    if (parts != 0 && parts != 3) {
        static const char *const slack[] = { "slack.bot_token_file", "slack.bot_token_env",
            "slack.signing_secret_file", "slack.signing_secret_env", "slack.channel", NULL };
        return lerr(L, first_seen(L, slack), err,
                    "slack needs bot_token_file (or _env), signing_secret_file "
                    "(or _env) and channel together");
    }
    return 0;
}

/* ---- public ------------------------------------------------------------------------- */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *config_data_dir(const char *name, char *buf, size_t n)
{
    char exe[QUENCH_PATH_MAX];
    ssize_t len;
    char *slash;

    if (is_dir(name))
        return name;
    len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0 || (size_t)len >= sizeof exe - 1)    /* none, or cut */
        return name;
    exe[len] = '\0';
    if ((slash = strrchr(exe, '/')) == NULL)
        return name;
    *slash = '\0';     /* <prefix>/bin */
    if ((size_t)snprintf(buf, n, "%s/../share/quench/%s", exe, name) >= n ||
        !is_dir(buf))
        return name;
    return buf;
}

void config_free(struct config *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        switch (r->type) {
        case R_REDIS_URL:
            redis_clear(field(c, r));
            break;
        case R_SECRET_FILE:
        case R_SECRET_ENV: {
            char **slot = field(c, r);
            free_secret(*slot);       /* both rows of a pair share the slot */
            *slot = NULL;
            break;
        }
        case R_STRING: case R_PATH: case R_LISTEN: case R_HTTP_URL: case R_NAME: {
            char **slot = field(c, r);
            free(*slot);
            *slot = NULL;
            break;
        }
        default:
            break;
        }
    }
    free(c->path);
    free(c);
}

int config_apply_env(struct config *c, config_getenv_fn env, struct qerr *err)
{
    struct loader L;
    size_t i;

    memset(&L, 0, sizeof L);
    L.c = c;
    L.env = env;
    for (i = 0; i < sizeof env_overrides / sizeof env_overrides[0]; i++) {
        const char *v = env ? env(env_overrides[i].var) : NULL;
        struct ytree_node n;
        struct qerr e;

        if (v == NULL)
            continue;
        synthetic(&n, v);
        memset(&e, 0, sizeof e);
        if (apply_row(&L, find_row(env_overrides[i].row), &n, &e) < 0)
            return qerr_set(err, "environment", 0, 0, "%s: %s", env_overrides[i].var,
                            e.msg);
    }
    return 0;
}

int config_load_env(struct config **out, const char *path, config_getenv_fn env,
                    struct qerr *err)
{
    return config_load_opts(out, path, env, 0, err);
}

int config_load_opts(struct config **out, const char *path, config_getenv_fn env,
                     unsigned flags, struct qerr *err)
{
    struct loader L;
    struct ytree_doc *doc = NULL;
    struct config *c;
    int rc = -1, dir_oom;

    *out = NULL;
    memset(&L, 0, sizeof L);
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return qerr_set(err, path, 0, 0, "out of memory");
    L.c = c;
    L.env = env;
    L.flags = flags;
    if (apply_defaults(&L, err) < 0)
        goto out;

    if (path != NULL) {
        const struct ytree_node *root;

        c->path = strdup(path);
        L.base_dir = dir_of(path, &dir_oom);
        if (c->path == NULL || dir_oom) {
            qerr_set(err, path, 0, 0, "out of memory");
            goto out;
        }
        if (ytree_load_file(&doc, path, err) < 0)
            goto out;
        L.doc = doc;
        root = ytree_root(doc);
        if (root != NULL) {
            if (root->type != YTREE_MAP) {
                ytree_error(doc, root, err, "the configuration must be a map of keys");
                goto out;
            }
            if (walk(&L, root, "", err) < 0 || cross_check(&L, err) < 0)
                goto out;
        }
    }

    if (c->consumer_name == NULL) {
        /* Each replica needs its own consumer in the group; the pod name
         * (= hostname in Kubernetes) is unique and stable across restarts
         * of the same pod, so pending entries are reclaimed by it. */
        char host[256];
        struct ytree_node n;
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "quench");
        host[sizeof host - 1] = '\0';
        synthetic(&n, host);
        L.doc = NULL;
        if (apply_row(&L, find_row("consumer.name"), &n, NULL) < 0 &&
            set_string(&c->consumer_name, "quench") < 0) {
            qerr_set(err, path, 0, 0, "out of memory");
            goto out;
        }
    }
    if (config_apply_env(c, env, err) < 0)
        goto out;
    *out = c;
    c = NULL;
    rc = 0;
out:
    ytree_free(doc);
    free(L.base_dir);
    config_free(c);
    return rc;
}

int config_load(struct config **out, const char *path, struct qerr *err)
{
    return config_load_env(out, path, getenv, err);
}

int config_key_info(size_t i, struct config_key_info *out)
{
    const struct row *r;

    if (i >= NROWS)
        return -1;
    r = &rows[i];
    out->path = r->path;
    out->def[0] = '\0';
    switch (r->type) {
    case R_BOOL:
        out->json_type = "boolean";
        break;
    case R_UINT:
    case R_SIZE:
        out->json_type = "integer";
        snprintf(out->def, sizeof out->def, "%lld", (long long)r->def_num);
        break;
    case R_DURATION_MS:
    case R_DURATION_S:
        out->json_type = "string";
        config_format_duration(r->def_num, out->def, sizeof out->def);
        break;
    default:
        out->json_type = "string";
        break;
    }
    if (r->def != NULL)
        snprintf(out->def, sizeof out->def, "%s", r->def);
    return 0;
}
