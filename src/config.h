/* config.h - quench.yaml (DESIGN.md "quench.yaml") loaded into a plain
 * struct, with built-in defaults, environment overrides (QUENCH_LISTEN,
 * QUENCH_REDIS_URL) and secrets read from files or named environment
 * variables. Every key is one row of a table in config.c; errors carry
 * file:line:column. Immutable once loaded; every string is owned by the
 * struct config and valid until config_free. */
#ifndef QUENCH_CONFIG_H
#define QUENCH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "qerr.h"

enum config_k8s_mode {
    CONFIG_K8S_IN_CLUSTER = 0,  /* service-account token and CA (default) */
    CONFIG_K8S_KUBECONFIG,      /* kubeconfig file (kubernetes.kubeconfig,
                                   else $KUBECONFIG / ~/.kube/config) */
    CONFIG_K8S_URL,             /* kubernetes.url, token_file, ca_file */
};

struct config_redis {
    /* Exactly one of host and unix_path is set. */
    char *host;             /* TCP host (IPv6 without brackets), or NULL */
    int port;               /* TCP port, 6379 unless given */
    char *unix_path;        /* absolute socket path, or NULL */
    int db;                 /* SELECT index, 0 unless given */
    char *username;         /* ACL user from the URL, or NULL */
    char *password;         /* SECRET. redis.password_file/_env, else the URL's;
                               NULL: no AUTH */
    int password_from_url;  /* informational: password came from the URL */
    char *url_redacted;     /* the URL with any password as "***": safe to log */
};

struct config_auth {        /* NULL: not configured */
    char *webhook_bearer_token;     /* SECRET */
    char *webhook_basic_user;       /* not secret; set iff basic_password */
    char *webhook_basic_password;   /* SECRET */
    char *api_bearer_token;         /* SECRET */
};

struct config_kubernetes {
    enum config_k8s_mode mode;
    char *url;              /* mode url: API server base URL, else NULL */
    char *token_file;       /* path, re-read by k8s.c (tokens rotate); NULL:
                               the service-account default in-cluster */
    char *ca_file;          /* path or NULL */
    char *kubeconfig;       /* mode kubeconfig: path or NULL (k8s.c looks up
                               $KUBECONFIG, then ~/.kube/config) */
    int dry_run;            /* every mutating call carries dryRun=All */
};

struct config_slack {       /* enabled iff bot_token != NULL; then
                               signing_secret and channel are set too */
    char *bot_token;        /* SECRET */
    char *signing_secret;   /* SECRET */
    char *channel;          /* "#incidents" or a channel id */
    char *api_url;          /* default https://slack.com/api */
    char *team_id;          /* expected team.id of interactions, or NULL */
    char *app_id;           /* expected api_app_id, or NULL */
};

struct config_archive {
    int64_t retention_ms;       /* stream trimmed by age; default 14d */
    int64_t dedup_window_ms;    /* QUENCH_DEDUP_WINDOW_MS */
    int64_t write_timeout_ms;   /* QUENCH_ARCHIVE_WRITE_TIMEOUT_MS */
};

struct config_http {
    unsigned max_connections;   /* QUENCH_MAX_CONNECTIONS */
    unsigned idle_timeout_s;    /* QUENCH_CONNECTION_IDLE_S */
    size_t max_body;            /* webhook body cap, QUENCH_MAX_WEBHOOK_BODY */
};

struct config {
    char *path;             /* the file loaded, or NULL for built-in defaults */
    char *listen;           /* "host:port", "[v6]:port" or ":port"; see
                               config_parse_listen */
    struct config_redis redis;
    char *rules_dir;        /* relative ones resolved against the config */
    char *playbooks_dir;    /* file's directory; defaults from */
    char *lua_dir;          /* config_data_dir */
    enum log_level log_level;
    struct config_auth auth;
    struct config_kubernetes kubernetes;
    struct config_slack slack;
    struct config_archive archive;
    struct config_http http;
    char *consumer_name;    /* Redis consumer-group member; default: hostname */
};

/* getenv(3)'s shape, so tests can pass a fake and leave environ alone. */
typedef char *(*config_getenv_fn)(const char *name);

/* Load PATH (NULL: built-in defaults only), read secrets, then apply the
 * environment overrides, all through getenv. 0 with *out owned by the
 * caller, or -1 with *out NULL and ERR: file:line:column for file
 * problems, source "environment" for a bad override. Never puts a secret
 * into ERR. */
int config_load(struct config **out, const char *path, struct qerr *err);
/* config_load with ENV in place of getenv (secrets' *_env and overrides). */
int config_load_env(struct config **out, const char *path, config_getenv_fn env,
                    struct qerr *err);

/* Flags of config_load_opts. */
#define CONFIG_NO_SECRETS 1u    /* check each secret key's form (one source,
                                 * a valid variable name) but read no file
                                 * or variable: its slot holds "". For
                                 * commands that never talk to anything,
                                 * like replay, on a machine without the
                                 * production secrets. */

/* config_load_env with FLAGS (CONFIG_*). */
int config_load_opts(struct config **out, const char *path, config_getenv_fn env,
                     unsigned flags, struct qerr *err);
/* Apply QUENCH_LISTEN and QUENCH_REDIS_URL from ENV to C, validated like
 * the file's values. 0, or -1 with ERR naming the variable (C unchanged
 * for that key). config_load already calls this. */
int config_apply_env(struct config *c, config_getenv_fn env, struct qerr *err);
/* Where the default data folder NAME ("rules", "playbooks", "lua") is:
 * NAME itself if it is a directory under the working directory (a
 * checkout), else <dir of the executable>/../share/quench/NAME if that is
 * a directory (an install, wherever its prefix), else NAME (so an error
 * names what was looked for). Written to BUF (N bytes) when it is the
 * install's; the return value is what to use. The defaults of
 * rules_dir, playbooks_dir and lua_dir come from here. */
const char *config_data_dir(const char *name, char *buf, size_t n);

/* Free C, wiping secrets first. C may be NULL. */
void config_free(struct config *c);

/* Split a listen address: "a.b.c.d:port", "[v6]:port", "name:port", or
 * ":port" (host "0.0.0.0"). Port 0..65535 (0: any free port). HOST gets
 * the address without brackets. 0, or -1 if malformed or HOSTCAP is too
 * small. */
int config_parse_listen(const char *s, char *host, size_t hostcap, unsigned *port);

/* Format MS as the shortest duration text ytree accepts ("15m", "1h30m",
 * "500ms"). 0, or -1 if MS <= 0 or CAP is too small. */
int config_format_duration(int64_t ms, char *out, size_t cap);

/* The key table, for tools and the schema test: row I's dotted path
 * ("archive.retention"), its JSON Schema type ("string", "integer",
 * "boolean") and its default as YAML text in DEF (empty when the default
 * is computed or absent). 0, or -1 past the last row. */
struct config_key_info {
    const char *path;
    const char *json_type;
    char def[64];
};
int config_key_info(size_t i, struct config_key_info *out);

#endif
