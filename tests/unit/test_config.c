/* test_config.c - quench.yaml: defaults, a full file, every error with its
 * exact file:line:column, secrets, environment overrides, path resolution,
 * and the key table against schemas/config.schema.json and the example
 * deploy/quench.yaml so the three cannot drift. The process environment is
 * never touched: a fake getenv reads a table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "limits.h"

/* ---- fixtures ------------------------------------------------------------- */

static char tmpdir[64];

static struct {
    const char *name, *value;
} fake_env[8];

static char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < sizeof fake_env / sizeof fake_env[0]; i++)
        if (fake_env[i].name != NULL && strcmp(fake_env[i].name, name) == 0)
            return (char *)fake_env[i].value;
    return NULL;
}

static void env_set(const char *name, const char *value)
{
    for (size_t i = 0; i < sizeof fake_env / sizeof fake_env[0]; i++) {
        if (fake_env[i].name == NULL || strcmp(fake_env[i].name, name) == 0) {
            fake_env[i].name = name;
            fake_env[i].value = value;
            return;
        }
    }
    fail_msg("fake env full");
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        assert_non_null(d);
        while ((e = readdir(d)) != NULL) {
            char sub[512];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_config_XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    memset(fake_env, 0, sizeof fake_env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(tmpdir);
    return 0;
}

/* Write CONTENT to tmpdir/NAME (subdirectories made); return the path in
 * a static buffer. */
static const char *write_file(const char *name, const char *content)
{
    static char path[512];
    char *slash;
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    for (slash = strchr(path + strlen(tmpdir) + 1, '/'); slash != NULL;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    fclose(f);
    return path;
}

static struct config *load_ok(const char *path)
{
    struct config *c = NULL;
    struct qerr err;

    memset(&err, 0, sizeof err);
    if (config_load_env(&c, path, fake_getenv, &err) != 0) {
        char line[900];
        qerr_format(&err, line, sizeof line);
        fail_msg("unexpected error: %s", line);
    }
    assert_non_null(c);
    return c;
}

/* Load YAML as tmpdir/quench.yaml; expect an error at LINE:COL whose
 * message contains NEEDLE ("%d" in NEEDLE is replaced by tmpdir). */
static void expect_err(const char *yaml, int line, int col, const char *needle)
{
    char path[512], want[512];
    struct config *c = (struct config *)1;
    struct qerr err;
    const char *pct = strstr(needle, "%s");

    snprintf(path, sizeof path, "%s", write_file("quench.yaml", yaml));
    if (pct != NULL)
        snprintf(want, sizeof want, "%.*s%s%s", (int)(pct - needle), needle, tmpdir,
                 pct + 2);
    else
        snprintf(want, sizeof want, "%s", needle);
    memset(&err, 0, sizeof err);
    assert_int_equal(config_load_env(&c, path, fake_getenv, &err), -1);
    assert_null(c);
    if (strcmp(err.source, path) != 0 || err.line != line || err.column != col ||
        strstr(err.msg, want) == NULL)
        fail_msg("yaml:\n%s\nwant %d:%d '%s'\ngot  %s:%d:%d '%s'", yaml, line, col, want,
                 err.source, err.line, err.column, err.msg);
}

/* ---- defaults -------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct config *c = load_ok(NULL);
    char host[256];

    assert_null(c->path);
    assert_string_equal(c->listen, "127.0.0.1:9095");
    assert_string_equal(c->redis.host, "127.0.0.1");
    assert_int_equal(c->redis.port, 6379);
    assert_null(c->redis.unix_path);
    assert_int_equal(c->redis.db, 0);
    assert_null(c->redis.username);
    assert_null(c->redis.password);
    assert_string_equal(c->redis.url_redacted, "redis://127.0.0.1:6379/0");
    assert_string_equal(c->rules_dir, "rules");
    assert_string_equal(c->playbooks_dir, "playbooks");
    assert_string_equal(c->lua_dir, "lua");
    assert_int_equal(c->log_level, LOG_INFO);
    assert_null(c->auth.webhook_bearer_token);
    assert_null(c->auth.webhook_basic_user);
    assert_null(c->auth.webhook_basic_password);
    assert_null(c->auth.api_bearer_token);
    assert_int_equal(c->kubernetes.mode, CONFIG_K8S_IN_CLUSTER);
    assert_null(c->kubernetes.url);
    assert_null(c->kubernetes.token_file);
    assert_null(c->kubernetes.ca_file);
    assert_null(c->kubernetes.kubeconfig);
    assert_false(c->kubernetes.dry_run);
    assert_null(c->slack.bot_token);
    assert_null(c->slack.signing_secret);
    assert_null(c->slack.channel);
    assert_string_equal(c->slack.api_url, "https://slack.com/api");
    assert_null(c->slack.team_id);
    assert_null(c->slack.app_id);
    assert_int_equal(c->archive.retention_ms, 14LL * 86400000);
    assert_int_equal(c->archive.dedup_window_ms, QUENCH_DEDUP_WINDOW_MS);
    assert_int_equal(c->archive.write_timeout_ms, QUENCH_ARCHIVE_WRITE_TIMEOUT_MS);
    assert_int_equal(c->http.max_connections, QUENCH_MAX_CONNECTIONS);
    assert_int_equal(c->http.idle_timeout_s, QUENCH_CONNECTION_IDLE_S);
    assert_int_equal(c->http.max_body, QUENCH_MAX_WEBHOOK_BODY);
    assert_int_equal(gethostname(host, sizeof host), 0);
    assert_string_equal(c->consumer_name, host);
    config_free(c);
    config_free(NULL);
}

static void test_empty_file_is_defaults(void **state)
{
    (void)state;
    const char *p = write_file("quench.yaml", "# nothing set\n");
    struct config *c = load_ok(p);
    assert_string_equal(c->path, p);
    assert_string_equal(c->listen, "127.0.0.1:9095");
    assert_string_equal(c->rules_dir, "rules");     /* defaults stay cwd-relative */
    config_free(c);

    /* Sections with everything commented out. */
    p = write_file("quench.yaml", "auth:\nslack:\n");
    c = load_ok(p);
    assert_null(c->auth.webhook_bearer_token);
    config_free(c);
}

/* ---- a full file ---------------------------------------------------------------- */

static void test_full_file(void **state)
{
    (void)state;
    write_file("etc/secrets/redis", "redispw\n");
    write_file("etc/secrets/webhook", "wh-token\r\n");
    write_file("etc/secrets/basic", "basic-pw");
    write_file("etc/secrets/bot", "xoxb-1\n\n");
    env_set("API_TOKEN", "api-token\n");
    env_set("SLACK_SIGNING", "sign");
    const char *p = write_file("etc/quench.yaml",
        "listen: \"[::1]:0\"\n"
        "redis:\n"
        "  url: redis://cache.internal:6380/3\n"
        "  password_file: secrets/redis\n"
        "rules_dir: rules.d\n"
        "playbooks_dir: /abs/playbooks\n"
        "lua_dir: ../lua\n"
        "log_level: debug\n"
        "auth:\n"
        "  webhook_bearer_token_file: secrets/webhook\n"
        "  webhook_basic_user: am\n"
        "  webhook_basic_password_file: secrets/basic\n"
        "  api_bearer_token_env: API_TOKEN\n"
        "kubernetes:\n"
        "  mode: url\n"
        "  url: http://127.0.0.1:8001/\n"
        "  token_file: k8s/token\n"
        "  ca_file: /etc/ca.crt\n"
        "  dry_run: true\n"
        "slack:\n"
        "  bot_token_file: secrets/bot\n"
        "  signing_secret_env: SLACK_SIGNING\n"
        "  channel: \"#ops\"\n"
        "  api_url: http://127.0.0.1:9999/api\n"
        "  team_id: T1\n"
        "  app_id: A1\n"
        "archive: {retention: 7d, dedup_window: 10m, write_timeout: 250ms}\n"
        "http: {max_connections: 32, idle_timeout: 1m, max_body: 65536}\n"
        "consumer: {name: quench-0}\n");
    char want[512];
    struct config *c = load_ok(p);

    assert_string_equal(c->path, p);
    assert_string_equal(c->listen, "[::1]:0");
    assert_string_equal(c->redis.host, "cache.internal");
    assert_int_equal(c->redis.port, 6380);
    assert_int_equal(c->redis.db, 3);
    assert_string_equal(c->redis.password, "redispw");
    assert_false(c->redis.password_from_url);
    assert_string_equal(c->redis.url_redacted, "redis://cache.internal:6380/3");
    snprintf(want, sizeof want, "%s/etc/rules.d", tmpdir);
    assert_string_equal(c->rules_dir, want);
    assert_string_equal(c->playbooks_dir, "/abs/playbooks");
    snprintf(want, sizeof want, "%s/etc/../lua", tmpdir);
    assert_string_equal(c->lua_dir, want);
    assert_int_equal(c->log_level, LOG_DEBUG);
    assert_string_equal(c->auth.webhook_bearer_token, "wh-token");
    assert_string_equal(c->auth.webhook_basic_user, "am");
    assert_string_equal(c->auth.webhook_basic_password, "basic-pw");
    assert_string_equal(c->auth.api_bearer_token, "api-token");
    assert_int_equal(c->kubernetes.mode, CONFIG_K8S_URL);
    assert_string_equal(c->kubernetes.url, "http://127.0.0.1:8001");
    snprintf(want, sizeof want, "%s/etc/k8s/token", tmpdir);
    assert_string_equal(c->kubernetes.token_file, want);
    assert_string_equal(c->kubernetes.ca_file, "/etc/ca.crt");
    assert_null(c->kubernetes.kubeconfig);
    assert_true(c->kubernetes.dry_run);
    assert_string_equal(c->slack.bot_token, "xoxb-1");
    assert_string_equal(c->slack.signing_secret, "sign");
    assert_string_equal(c->slack.channel, "#ops");
    assert_string_equal(c->slack.api_url, "http://127.0.0.1:9999/api");
    assert_string_equal(c->slack.team_id, "T1");
    assert_string_equal(c->slack.app_id, "A1");
    assert_int_equal(c->archive.retention_ms, 7LL * 86400000);
    assert_int_equal(c->archive.dedup_window_ms, 600000);
    assert_int_equal(c->archive.write_timeout_ms, 250);
    assert_int_equal(c->http.max_connections, 32);
    assert_int_equal(c->http.idle_timeout_s, 60);
    assert_int_equal(c->http.max_body, 65536);
    assert_string_equal(c->consumer_name, "quench-0");
    config_free(c);
}

static void test_kubeconfig_and_config_in_cwd(void **state)
{
    (void)state;
    const char *p = write_file("q.yaml", "kubernetes: {mode: kubeconfig, kubeconfig: kc}\n"
                                         "rules_dir: r\n");
    char cwd[512], want[600];
    assert_non_null(getcwd(cwd, sizeof cwd));
    struct config *c = load_ok(p);
    snprintf(want, sizeof want, "%s/kc", tmpdir);
    assert_string_equal(c->kubernetes.kubeconfig, want);
    assert_int_equal(c->kubernetes.mode, CONFIG_K8S_KUBECONFIG);
    config_free(c);

    /* A config named without a directory: relative values stay as written
     * (they are already relative to the same directory). */
    assert_int_equal(chdir(tmpdir), 0);
    c = load_ok("q.yaml");
    assert_string_equal(c->rules_dir, "r");
    assert_string_equal(c->kubernetes.kubeconfig, "kc");
    config_free(c);
    assert_int_equal(chdir(cwd), 0);
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_errors_keys_and_types(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        int line, col;
        const char *msg;
    } rows[] = {
        { "listen: 127.0.0.1:1\nlistn: x\n", 2, 1, "unknown key 'listn'" },
        { "auth:\n  webhook_token_file: x\n", 2, 3, "unknown key 'auth.webhook_token_file'" },
        { "auth.api_bearer_token_file: x\n", 1, 1, "unknown key 'auth.api_bearer_token_file'" },
        { "redis: {url: redis://h, db: 1}\n", 1, 25, "unknown key 'redis.db'" },
        { "- a\n", 1, 1, "must be a map" },
        { "auth: [x]\n", 1, 7, "auth must be a map" },
        { "archive: 14d\n", 1, 10, "archive must be a map" },
        { "listen:\n", 1, 8, "listen needs a value" },
        { "listen: [a]\n", 1, 9, "expected a string, got a list" },
        { "rules_dir: \"\"\n", 1, 12, "rules_dir must not be empty" },
        { "http:\n  max_connections: many\n", 2, 20, "expected an integer" },
        { "http:\n  max_connections: 0\n", 2, 20, "integer out of range [1, 65536]" },
        { "http:\n  max_body: 67108865\n", 2, 13, "integer out of range" },
        { "http:\n  max_body: \"1024\"\n", 2, 13, "expected an integer" },
        { "http:\n  idle_timeout: 1500ms\n", 2, 17, "http.idle_timeout must be whole seconds" },
        { "http:\n  idle_timeout: 2h\n", 2, 17, "must be between 1s and 1h" },
        { "archive:\n  retention: 14\n", 2, 14, "with a unit" },
        { "archive:\n  retention: 14days\n", 2, 14, "with a unit" },
        { "archive:\n  retention: 30m\n", 2, 14, "archive.retention must be between 1h and 3650d" },
        { "archive: {dedup_window: 0s}\n", 1, 25, "positive duration" },
        { "archive: {write_timeout: 11s}\n", 1, 26, "between 10ms and 10s" },
        { "log_level: verbose\n", 1, 12, "log_level must be debug, info, warn, error or off" },
        { "kubernetes:\n  mode: local\n", 2, 9, "in-cluster, kubeconfig or url" },
        { "kubernetes:\n  dry_run: yes\n", 2, 12, "expected true or false" },
        { "kubernetes:\n  mode: url\n", 2, 9, "kubernetes.mode url needs kubernetes.url" },
        { "kubernetes:\n  url: https://k\n", 2, 8, "used only with mode: url" },
        { "kubernetes:\n  kubeconfig: kc\n", 2, 15, "used only with mode: kubeconfig" },
        { "kubernetes: {mode: url, url: ftp://k}\n", 1, 30, "http:// or https:// URL" },
        { "kubernetes: {mode: url, url: \"https://\"}\n", 1, 30, "http:// or https:// URL" },
        { "slack:\n  api_url: \"https://a b\"\n", 2, 12, "spaces or control" },
        { "slack:\n  channel: \"#x\"\n", 2, 12, "slack needs bot_token_file" },
        { "auth:\n  webhook_basic_user: am\n", 2, 23, "go together" },
        { "consumer:\n  name: \"a b\"\n", 2, 9, "consumer.name may hold only" },
        { "listen: 1\nlisten: 2\n", 2, 1, "duplicate key 'listen'" },
        { "listen: [1\n", 2, 1, "YAML syntax error" },
        { "listen: &a x\n", 1, 9, "anchors" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect_err(rows[i].yaml, rows[i].line, rows[i].col, rows[i].msg);
}

static void test_errors_listen(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1.2.3.4", "\"1.2.3.4:\"", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:08",
        "300.1.1.1:80", "::1:80", "\"[::1\"", "\"[::1]\"", "\"[1.2.3.4]:80\"",
        "\"[::1]80\"", "\"bad host:80\"", "-host:80", "host-:80", "a..b:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[64];
        snprintf(yaml, sizeof yaml, "listen: %s\n", bad[i]);
        expect_err(yaml, 1, 9, "listen: expected host:port");
    }
}

static void test_errors_redis_url(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *msg;
    } rows[] = {
        { "http://h:6379", "not a Redis URL" },
        { "rediss://h:6380", "TLS (rediss://) is not supported" },
        { "redis://", "missing or invalid host" },
        { "redis://:6379", "missing or invalid host" },
        { "redis://h:0", "port must be 1-65535" },
        { "redis://h:70000", "port must be 1-65535" },
        { "redis://h:x", "port must be 1-65535" },
        { "redis://h/x", "database must be a number" },
        { "redis://h/1/2", "database must be a number" },
        { "redis://h?db=1", "query parameters are not supported" },
        { "redis://[::1", "bad IPv6 host" },
        { "redis://user@h", "a Redis username needs a password" },
        { "redis://:p%zzw@h", "bad percent-escape" },
        { "redis://:p%00@h", "bad percent-escape" },
        { "unix://run/redis.sock", "must be absolute" },
        { "unix:///run/redis.sock?database=1", "the only query parameter is db=N" },
        { "unix:///", "must be absolute" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "redis:\n  url: \"%s\"\n", rows[i].url);
        expect_err(yaml, 2, 8, rows[i].msg);
    }
    char yaml[512];
    char longpath[200];
    memset(longpath, 'a', 120);
    longpath[120] = '\0';
    snprintf(yaml, sizeof yaml, "redis: {url: \"unix:///%s\"}\n", longpath);
    expect_err(yaml, 1, 14, "longer than 107 bytes");
}

static void test_errors_secrets(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        int line, col;
        const char *msg;
    } rows[] = {
        /* Inline spellings point to the _file form and never echo. */
        { "auth:\n  webhook_bearer_token: s3cr3t-value\n", 2, 3,
          "use 'webhook_bearer_token_file' (a file) or 'webhook_bearer_token_env'" },
        { "auth: {api_bearer_token: s3cr3t-value}\n", 1, 8, "use 'api_bearer_token_file'" },
        { "auth: {webhook_basic_password: s3cr3t-value}\n", 1, 8,
          "use 'webhook_basic_password_file'" },
        { "redis:\n  password: s3cr3t-value\n", 2, 3, "use 'password_file' (a file) or 'password_env'" },
        { "slack:\n  signing_secret: s3cr3t-value\n", 2, 3, "use 'signing_secret_file'" },
        { "slack:\n  bot_token: s3cr3t-value\n", 2, 3, "use 'bot_token_file'" },
        { "kubernetes:\n  token: s3cr3t-value\n", 2, 3, "use 'token_file'" },
        /* Files. */
        { "auth:\n  api_bearer_token_file: nope\n", 2, 26,
          "cannot read secret file '%s/nope': No such file or directory" },
        { "auth:\n  api_bearer_token_file: /nonexistent/x\n", 2, 26,
          "cannot read secret file '/nonexistent/x'" },
        { "auth:\n  api_bearer_token_file: empty\n", 2, 26, "secret file '%s/empty' is empty" },
        { "auth:\n  api_bearer_token_file: newline\n", 2, 26, "secret file '%s/newline' is empty" },
        { "auth:\n  api_bearer_token_file: big\n", 2, 26, "secret file '%s/big' is larger than" },
        { "auth:\n  api_bearer_token_file: dir\n", 2, 26, "is not a regular file" },
        /* Environment. */
        { "auth:\n  api_bearer_token_env: UNSET_VAR\n", 2, 25,
          "environment variable 'UNSET_VAR' (from auth.api_bearer_token_env) is not set or empty" },
        { "auth:\n  api_bearer_token_env: EMPTY_VAR\n", 2, 25, "is not set or empty" },
        { "auth:\n  api_bearer_token_env: \"1BAD\"\n", 2, 25, "must name an environment variable" },
        { "auth:\n  api_bearer_token_env: \"A-B\"\n", 2, 25, "must name an environment variable" },
        /* One source per secret. */
        { "auth:\n  api_bearer_token_file: ok\n  api_bearer_token_env: SET_VAR\n", 3, 25,
          "auth.api_bearer_token_file and auth.api_bearer_token_env set the same secret" },
        { "redis:\n  url: \"redis://:pw@h\"\n  password_file: ok\n", 3, 18,
          "already in redis.url" },
        { "redis:\n  password_file: ok\n  url: \"redis://:pw@h\"\n", 3, 8,
          "carries a password but redis.password_file" },
    };
    char big[QUENCH_MAX_SECRET_BYTES + 2];

    write_file("empty", "");
    write_file("newline", "\n\r\n");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    write_file("big", big);
    write_file("dir/x", "x");
    write_file("ok", "fine");
    env_set("EMPTY_VAR", "");
    env_set("SET_VAR", "value");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        expect_err(rows[i].yaml, rows[i].line, rows[i].col, rows[i].msg);
}

/* CONFIG_NO_SECRETS (replay on a laptop with the production config):
 * missing secret files and unset variables are not read, their slots are
 * "", and the shape of the secrets is still checked. */
static void test_no_secrets(void **state)
{
    (void)state;
    struct config *c = NULL;
    struct qerr err;
    const char *path = write_file("q.yaml",
        "auth:\n  webhook_bearer_token_file: /nonexistent/token\n"
        "  api_bearer_token_env: UNSET_VAR\n"
        "slack:\n  bot_token_file: /nonexistent/bot\n"
        "  signing_secret_file: /nonexistent/sign\n  channel: \"#ops\"\n");

    memset(&err, 0, sizeof err);
    assert_int_equal(config_load_env(&c, path, fake_getenv, &err), -1);
    assert_null(c);
    assert_int_equal(config_load_opts(&c, path, fake_getenv, CONFIG_NO_SECRETS, &err), 0);
    assert_non_null(c);
    assert_string_equal(c->auth.webhook_bearer_token, "");
    assert_string_equal(c->auth.api_bearer_token, "");
    assert_string_equal(c->slack.bot_token, "");
    assert_string_equal(c->slack.channel, "#ops");
    config_free(c);
    c = NULL;

    /* still one source per secret, and a valid variable name */
    path = write_file("q.yaml", "auth:\n  api_bearer_token_file: a\n  api_bearer_token_env: B\n");
    assert_int_equal(config_load_opts(&c, path, fake_getenv, CONFIG_NO_SECRETS, &err), -1);
    assert_non_null(strstr(err.msg, "set the same secret"));
    path = write_file("q.yaml", "auth:\n  api_bearer_token_env: \"1BAD\"\n");
    assert_int_equal(config_load_opts(&c, path, fake_getenv, CONFIG_NO_SECRETS, &err), -1);
    assert_non_null(strstr(err.msg, "must name an environment variable"));
    assert_null(c);
}

/* Whatever goes wrong, no secret value reaches the error. */
static void test_errors_never_hold_secrets(void **state)
{
    (void)state;
    static const char *const yamls[] = {
        "auth:\n  webhook_bearer_token: TOPSECRET\n",
        "listen: TOPSECRET\n",
        "redis: {url: \"redis://:TOPSECRET@\"}\n",
        "redis: {url: \"redis://:TOPSECRET@h:99999\"}\n",
        "redis: {url: \"rediss://:TOPSECRET@h\"}\n",
        "http: {max_body: TOPSECRET}\n",
        "archive: {retention: TOPSECRET}\n",
        "auth: {api_bearer_token_file: secretfile, api_bearer_token_env: SET_VAR}\n",
        "auth: {api_bearer_token_file: secretfile}\nslack: {channel: x}\n",
    };
    write_file("secretfile", "TOPSECRET\n");
    env_set("SET_VAR", "TOPSECRET");
    for (size_t i = 0; i < sizeof yamls / sizeof yamls[0]; i++) {
        const char *p = write_file("quench.yaml", yamls[i]);
        struct config *c = NULL;
        struct qerr err;
        char line[900];
        memset(&err, 0, sizeof err);
        assert_int_equal(config_load_env(&c, p, fake_getenv, &err), -1);
        qerr_format(&err, line, sizeof line);
        if (strstr(line, "TOPSECRET") != NULL)
            fail_msg("secret in error: %s", line);
    }
}

/* ---- environment overrides --------------------------------------------------------- */

static void test_env_overrides(void **state)
{
    (void)state;
    const char *p = write_file("quench.yaml", "listen: 127.0.0.1:1\n"
                                              "redis: {url: \"redis://:filepw@h:1/1\"}\n");
    env_set("QUENCH_LISTEN", ":8080");
    env_set("QUENCH_REDIS_URL", "unix:///run/redis.sock?db=2");
    struct config *c = load_ok(p);
    assert_string_equal(c->listen, ":8080");
    assert_null(c->redis.host);
    assert_string_equal(c->redis.unix_path, "/run/redis.sock");
    assert_int_equal(c->redis.db, 2);
    assert_null(c->redis.password);     /* the file URL's password went with it */
    assert_string_equal(c->redis.url_redacted, "unix:///run/redis.sock?db=2");

    /* config_apply_env on a loaded config: a bad value leaves C alone. */
    memset(fake_env, 0, sizeof fake_env);
    env_set("QUENCH_LISTEN", "nope");
    struct qerr err;
    memset(&err, 0, sizeof err);
    assert_int_equal(config_apply_env(c, fake_getenv, &err), -1);
    assert_string_equal(err.source, "environment");
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.msg, "QUENCH_LISTEN: listen: expected host:port"));
    assert_string_equal(c->listen, ":8080");

    memset(fake_env, 0, sizeof fake_env);
    env_set("QUENCH_REDIS_URL", "redis://:envpw@10.0.0.1:7000/5");
    assert_int_equal(config_apply_env(c, fake_getenv, &err), 0);
    assert_string_equal(c->redis.host, "10.0.0.1");
    assert_null(c->redis.unix_path);
    assert_int_equal(c->redis.port, 7000);
    assert_string_equal(c->redis.password, "envpw");
    assert_true(c->redis.password_from_url);

    env_set("QUENCH_REDIS_URL", "rediss://:envpw@h");
    assert_int_equal(config_apply_env(c, fake_getenv, &err), -1);
    assert_non_null(strstr(err.msg, "QUENCH_REDIS_URL: redis.url: TLS"));
    assert_null(strstr(err.msg, "envpw"));
    assert_string_equal(c->redis.host, "10.0.0.1");
    assert_string_equal(c->redis.password, "envpw");
    config_free(c);

    /* Through config_load: errors name the variable. */
    memset(fake_env, 0, sizeof fake_env);
    env_set("QUENCH_LISTEN", "");
    c = (struct config *)1;
    assert_int_equal(config_load_env(&c, NULL, fake_getenv, &err), -1);
    assert_null(c);
    assert_string_equal(err.source, "environment");
    assert_non_null(strstr(err.msg, "QUENCH_LISTEN: listen needs a value"));

    /* An env URL with a password when the file gives password_file. */
    memset(fake_env, 0, sizeof fake_env);
    write_file("pw", "filepw\n");
    p = write_file("quench.yaml", "redis: {password_file: pw}\n");
    env_set("QUENCH_REDIS_URL", "redis://:envpw@h");
    assert_int_equal(config_load_env(&c, p, fake_getenv, &err), -1);
    assert_string_equal(err.source, "environment");
    assert_non_null(strstr(err.msg, "QUENCH_REDIS_URL: redis.url carries a password"));
    assert_null(strstr(err.msg, "envpw"));

    /* Without a password the file's password_file stays. */
    env_set("QUENCH_REDIS_URL", "redis://h:1");
    c = load_ok(p);
    assert_string_equal(c->redis.password, "filepw");
    assert_false(c->redis.password_from_url);
    assert_string_equal(c->redis.host, "h");
    config_free(c);
}

/* ---- Redis URLs ---------------------------------------------------------------------- */

static void test_redis_urls(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *host, *unix_path, *user, *pass;
        int port, db;
        const char *redacted;
    } rows[] = {
        { "redis://127.0.0.1:6379/0", "127.0.0.1", NULL, NULL, NULL, 6379, 0,
          "redis://127.0.0.1:6379/0" },
        { "redis://redis", "redis", NULL, NULL, NULL, 6379, 0, "redis://redis:6379/0" },
        { "redis://redis/", "redis", NULL, NULL, NULL, 6379, 0, "redis://redis:6379/0" },
        { "redis://[::1]:7000/2", "::1", NULL, NULL, NULL, 7000, 2, "redis://[::1]:7000/2" },
        { "redis://[fe80::1]", "fe80::1", NULL, NULL, NULL, 6379, 0, "redis://[fe80::1]:6379/0" },
        { "redis://:pa%40ss@h:1/15", "h", NULL, NULL, "pa@ss", 1, 15, "redis://:***@h:1/15" },
        { "redis://bob:pw@h", "h", NULL, "bob", "pw", 6379, 0, "redis://bob:***@h:6379/0" },
        { "redis://:@h", "h", NULL, NULL, NULL, 6379, 0, "redis://h:6379/0" },
        { "unix:///run/redis.sock", NULL, "/run/redis.sock", NULL, NULL, 6379, 0,
          "unix:///run/redis.sock" },
        { "unix://:pw@/run/r.sock?db=3", NULL, "/run/r.sock", NULL, "pw", 6379, 3,
          "unix://:***@/run/r.sock?db=3" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct config *c = load_ok(NULL);
        struct qerr err;
        memset(fake_env, 0, sizeof fake_env);
        env_set("QUENCH_REDIS_URL", rows[i].url);
        if (config_apply_env(c, fake_getenv, &err) != 0)
            fail_msg("%s: %s", rows[i].url, err.msg);
#define STR_EQ(a, b) do { if ((a) == NULL || (b) == NULL) assert_ptr_equal(a, b); \
                          else assert_string_equal(a, b); } while (0)
        STR_EQ(c->redis.host, rows[i].host);
        STR_EQ(c->redis.unix_path, rows[i].unix_path);
        STR_EQ(c->redis.username, rows[i].user);
        STR_EQ(c->redis.password, rows[i].pass);
        assert_int_equal(c->redis.password_from_url, rows[i].pass != NULL);
        assert_int_equal(c->redis.port, rows[i].port);
        assert_int_equal(c->redis.db, rows[i].db);
        assert_string_equal(c->redis.url_redacted, rows[i].redacted);
        config_free(c);
    }
}

/* ---- pure helpers --------------------------------------------------------------------- */

static void test_parse_listen(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *host;   /* NULL: refused */
        unsigned port;
    } rows[] = {
        { "127.0.0.1:9095", "127.0.0.1", 9095 }, { "0.0.0.0:0", "0.0.0.0", 0 },
        { ":8080", "0.0.0.0", 8080 },             { "[::1]:80", "::1", 80 },
        { "[::]:65535", "::", 65535 },            { "localhost:1", "localhost", 1 },
        { "quench.ops.svc:9095", "quench.ops.svc", 9095 },
        { "a_b:1", "a_b", 1 },
        { "", NULL, 0 },            { ":", NULL, 0 },          { "h", NULL, 0 },
        { "h:65536", NULL, 0 },     { "h:+1", NULL, 0 },       { "h:01", NULL, 0 },
        { "::1:80", NULL, 0 },      { "[::1]", NULL, 0 },      { "[::1]:", NULL, 0 },
        { "[zz]:1", NULL, 0 },      { "[1.2.3.4]:1", NULL, 0 }, { "1.2.3:1", NULL, 0 },
        { "256.0.0.1:1", NULL, 0 }, { "h h:1", NULL, 0 },      { ".h:1", NULL, 0 },
        { "fqdn.:1", "fqdn.", 1 },
        { "1234567890:1", NULL, 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char host[64] = "unchanged";
        unsigned port = 4242;
        int rc = config_parse_listen(rows[i].in, host, sizeof host, &port);
        if (rows[i].host == NULL) {
            if (rc != -1)
                fail_msg("'%s' accepted", rows[i].in);
            assert_int_equal(port, 4242);
        } else {
            if (rc != 0)
                fail_msg("'%s' refused", rows[i].in);
            assert_string_equal(host, rows[i].host);
            assert_int_equal(port, rows[i].port);
        }
    }
    char small[4];
    unsigned port;
    assert_int_equal(config_parse_listen("abc:1", small, sizeof small, &port), 0);
    assert_int_equal(config_parse_listen("abcd:1", small, sizeof small, &port), -1);
    assert_int_equal(config_parse_listen(NULL, small, sizeof small, &port), -1);
}

static void test_format_duration(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *text;
    } rows[] = {
        { 1, "1ms" }, { 1000, "1s" }, { 1500, "1s500ms" }, { 60000, "1m" },
        { 900000, "15m" }, { 5400000, "1h30m" }, { 1209600000, "14d" },
        { 93784005, "1d2h3m4s5ms" },
    };
    char buf[64];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(config_format_duration(rows[i].ms, buf, sizeof buf), 0);
        assert_string_equal(buf, rows[i].text);
    }
    assert_int_equal(config_format_duration(0, buf, sizeof buf), -1);
    assert_int_equal(config_format_duration(-5, buf, sizeof buf), -1);
    assert_int_equal(config_format_duration(93784005, buf, 5), -1);
}

/* ---- drift: C table vs schema vs example ----------------------------------------------- */

static char *read_source_file(const char *rel)
{
    const char *root = getenv("QUENCH_SOURCE_DIR");
    char path[1024];
    FILE *f;
    long n;
    char *buf;

    snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
    f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The schema node for dotted PATH, following properties. */
static json_t *schema_at(json_t *schema, const char *path)
{
    char buf[128], *save = NULL, *part;
    json_t *n = schema;

    snprintf(buf, sizeof buf, "%s", path);
    for (part = strtok_r(buf, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
        n = json_object_get(json_object_get(n, "properties"), part);
        if (n == NULL)
            return NULL;
    }
    return n;
}

/* "type", following one local $ref. */
static const char *schema_type(json_t *schema, json_t *n)
{
    json_t *t = json_object_get(n, "type");
    const char *ref = json_string_value(json_object_get(n, "$ref"));
    if (t == NULL && ref != NULL && strncmp(ref, "#/$defs/", 8) == 0)
        t = json_object_get(json_object_get(json_object_get(schema, "$defs"), ref + 8), "type");
    return json_string_value(t);
}

static int count_leaves(json_t *n)
{
    json_t *props = json_object_get(n, "properties");
    const char *k;
    json_t *v;
    int count = 0;

    if (props == NULL)
        return 1;
    json_object_foreach(props, k, v)
        count += count_leaves(v);
    return count;
}

static void test_schema_matches_table(void **state)
{
    (void)state;
    char *text = read_source_file("schemas/config.schema.json");
    json_error_t jerr;
    json_t *schema = json_loads(text, 0, &jerr);
    struct config_key_info ki;
    size_t i;

    if (schema == NULL)
        fail_msg("schema: %d: %s", jerr.line, jerr.text);
    assert_string_equal(json_string_value(json_object_get(schema, "$schema")),
                        "https://json-schema.org/draft/2020-12/schema");
    for (i = 0; config_key_info(i, &ki) == 0; i++) {
        json_t *n = schema_at(schema, ki.path);
        if (n == NULL)
            fail_msg("%s is in the C table but not in the schema", ki.path);
        const char *t = schema_type(schema, n);
        if (t == NULL || strcmp(t, ki.json_type) != 0)
            fail_msg("%s: schema type %s, table %s", ki.path, t ? t : "?", ki.json_type);
        json_t *def = json_object_get(n, "default");
        char got[64] = "";
        if (json_is_string(def))
            snprintf(got, sizeof got, "%s", json_string_value(def));
        else if (json_is_integer(def))
            snprintf(got, sizeof got, "%lld", (long long)json_integer_value(def));
        else if (json_is_boolean(def))
            snprintf(got, sizeof got, "%s", json_is_true(def) ? "true" : "false");
        if (strcmp(got, ki.def) != 0)
            fail_msg("%s: schema default '%s', table default '%s'", ki.path, got, ki.def);
    }
    /* And the other way: no schema key the table lacks. */
    assert_int_equal(count_leaves(schema), (int)i);
    json_decref(schema);
    free(text);
}

static void test_example_config(void **state)
{
    (void)state;
    char *text = read_source_file("deploy/quench.yaml");
    struct config_key_info ki;
    char *fixed, *o;
    const char *s;
    size_t n = 0;

    /* Every key is in the example, set or commented. */
    for (size_t i = 0; config_key_info(i, &ki) == 0; i++) {
        const char *leaf = strrchr(ki.path, '.');
        char needle[80];
        snprintf(needle, sizeof needle, " %s:", leaf ? leaf + 1 : ki.path);
        if (strstr(text, needle) == NULL && strncmp(text, needle + 1, strlen(needle + 1)) != 0) {
            char line_start[82];
            snprintf(line_start, sizeof line_start, "\n%s", needle + 1);
            if (strstr(text, line_start) == NULL)
                fail_msg("deploy/quench.yaml does not mention %s", ki.path);
        }
    }

    /* And it loads, with /etc/quench/ pointed at a scratch copy. */
    for (s = text; (s = strstr(s, "/etc/quench/")) != NULL; s++)
        n++;
    fixed = malloc(strlen(text) + n * strlen(tmpdir) + 1);
    assert_non_null(fixed);
    for (s = text, o = fixed; *s != '\0';) {
        if (strncmp(s, "/etc/quench/", 12) == 0) {
            o += sprintf(o, "%s/", tmpdir);
            s += 12;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    static const char *const secrets[] = { "redis-password", "webhook-token",
        "webhook-password", "api-token", "slack-bot-token", "slack-signing-secret" };
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "secrets/%s", secrets[i]);
        write_file(name, "x\n");
    }
    struct config *c = load_ok(write_file("quench.yaml", fixed));
    assert_string_equal(c->listen, "0.0.0.0:9095");
    assert_string_equal(c->auth.webhook_bearer_token, "x");
    assert_string_equal(c->slack.channel, "#incidents");
    config_free(c);
    free(fixed);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file_is_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_and_config_in_cwd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_keys_and_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_redis_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_never_hold_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_matches_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
