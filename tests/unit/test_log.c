/* test_log.c - the JSON-lines logger: exact bytes on fd 2, escaping,
 * level filtering without evaluating arguments, whole-line writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "limits.h"
#include "log.h"

/* fd 2 is redirected to a temporary file around each capture. */
struct capture {
    int saved;
    FILE *f;
};

static void cap_begin(struct capture *c)
{
    fflush(stderr);
    c->f = tmpfile();
    assert_non_null(c->f);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->f), STDERR_FILENO) >= 0);
}

/* Restore fd 2; return what was written (caller frees). */
static char *cap_end(struct capture *c, size_t *lenp)
{
    long len;
    char *buf;

    assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
    close(c->saved);
    assert_int_equal(fseek(c->f, 0, SEEK_END), 0);
    len = ftell(c->f);
    rewind(c->f);
    buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, c->f), (size_t)len);
    buf[len] = '\0';
    fclose(c->f);
    if (lenp)
        *lenp = (size_t)len;
    return buf;
}

/* Check the {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ", prefix, that the time is now
 * (UTC), and return a pointer just past it. */
static const char *check_ts(const char *line)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    const char *p = line;
    struct tm tm;
    size_t i;

    assert_memory_equal(p, "{\"ts\":\"", 7);
    p += 7;
    for (i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd')
            assert_true(p[i] >= '0' && p[i] <= '9');
        else
            assert_int_equal(p[i], shape[i]);
    }
    memset(&tm, 0, sizeof tm);
    assert_int_equal(sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    /* now from the clock log.c reads: time(2) is the coarse clock on
     * Linux, up to a tick behind CLOCK_REALTIME, so a line stamped just
     * after a second began could look a second in the future (seen
     * under load: "t <= now" failed) */
    struct timespec ts;
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
    time_t t = timegm(&tm), now = ts.tv_sec;
    assert_true(t <= now && now - t <= 5);
    p += sizeof shape - 1;
    assert_int_equal(*p, '"');
    return p + 1;
}

/* Log MSG (as "%s") at LEVEL and compare everything after ts exactly. */
static void expect_line(enum log_level level, const char *msg, const char *want_rest)
{
    struct capture c;
    size_t len;

    cap_begin(&c);
    log_at(level, "%s", msg);
    char *out = cap_end(&c, &len);
    const char *rest = check_ts(out);
    if (strcmp(rest, want_rest) != 0)
        fail_msg("got %s\nwant %s", rest, want_rest);
    free(out);
}

static int setup(void **state)
{
    (void)state;
    log_set_level(LOG_INFO);
    return 0;
}

static void test_default_level_is_info(void **state)
{
    (void)state;
    /* Runs first, before any test sets a level. */
    assert_int_equal(log_current_level, LOG_INFO);
}

static void test_basic_line(void **state)
{
    (void)state;
    expect_line(LOG_INFO, "listening on 127.0.0.1:9095",
                ",\"level\":\"info\",\"msg\":\"listening on 127.0.0.1:9095\"}\n");
    expect_line(LOG_WARN, "w", ",\"level\":\"warn\",\"msg\":\"w\"}\n");
    expect_line(LOG_ERROR, "", ",\"level\":\"error\",\"msg\":\"\"}\n");
    log_set_level(LOG_DEBUG);
    expect_line(LOG_DEBUG, "d", ",\"level\":\"debug\",\"msg\":\"d\"}\n");
}

static void test_format_arguments(void **state)
{
    (void)state;
    struct capture c;

    cap_begin(&c);
    log_info("%d alerts from %s in %.1fs", 3, "am-0", 1.5);
    char *out = cap_end(&c, NULL);
    assert_string_equal(check_ts(out),
                        ",\"level\":\"info\",\"msg\":\"3 alerts from am-0 in 1.5s\"}\n");
    free(out);
}

static void test_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } rows[] = {
        { "say \"hi\"", "say \\\"hi\\\"" },
        { "C:\\path", "C:\\\\path" },
        { "a\nb\rc\td", "a\\nb\\rc\\td" },
        { "\b\f", "\\b\\f" },
        { "\x01\x1f\x7f", "\\u0001\\u001f\\u007f" },
        { "/</script>", "/</script>" },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
        { "bad \xff byte", "bad \\ufffd byte" },
        { "cut \xc3", "cut \\ufffd" },                   /* truncated sequence */
        { "\xe2\x82", "\\ufffd\\ufffd" },
        { "over \xc0\xaf", "over \\ufffd\\ufffd" },      /* overlong '/' */
        { "\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd" },     /* overlong, 3 bytes */
        { "sur \xed\xa0\x80", "sur \\ufffd\\ufffd\\ufffd" }, /* U+D800 */
        { "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" }, /* > U+10FFFF */
        { "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },      /* U+10FFFF itself */
        { "\x80x", "\\ufffdx" },                          /* lone continuation */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char want[256];
        snprintf(want, sizeof want, ",\"level\":\"info\",\"msg\":\"%s\"}\n", rows[i].out);
        expect_line(LOG_INFO, rows[i].in, want);
    }
}

static int evaluated;

static const char *side_effect(void)
{
    evaluated++;
    return "x";
}

static void test_filtering_skips_evaluation(void **state)
{
    (void)state;
    struct capture c;
    size_t len;

    evaluated = 0;
    log_set_level(LOG_WARN);
    cap_begin(&c);
    log_debug("%s", side_effect());
    log_info("%s", side_effect());
    char *out = cap_end(&c, &len);
    assert_int_equal(evaluated, 0);
    assert_int_equal(len, 0);
    free(out);

    cap_begin(&c);
    log_warn("%s", side_effect());
    log_error("%s", side_effect());
    out = cap_end(&c, &len);
    assert_int_equal(evaluated, 2);
    assert_int_equal(strlen(out), len);
    assert_non_null(strstr(out, "\"level\":\"warn\""));
    assert_non_null(strstr(out, "\"level\":\"error\""));
    free(out);

    log_set_level(LOG_OFF);
    cap_begin(&c);
    log_error("%s", side_effect());
    log_write(LOG_ERROR, "direct %d", 1);   /* log_write filters too */
    out = cap_end(&c, &len);
    assert_int_equal(evaluated, 2);
    assert_int_equal(len, 0);
    free(out);
}

static void test_level_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        enum log_level l;
    } rows[] = {
        { "debug", 1, LOG_DEBUG }, { "info", 1, LOG_INFO }, { "warn", 1, LOG_WARN },
        { "error", 1, LOG_ERROR }, { "off", 1, LOG_OFF },   { "INFO", 0, 0 },
        { "warning", 0, 0 },       { "", 0, 0 },             { "infox", 0, 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        enum log_level l = (enum log_level)99;
        int rc = log_level_parse(rows[i].s, &l);
        if (rows[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(l, rows[i].l);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(l, 99);
        }
    }
    assert_int_equal(log_level_parse(NULL, &(enum log_level){0}), -1);
    log_set_level((enum log_level)42);      /* ignored */
    assert_int_equal(log_current_level, LOG_INFO);
}

static void test_truncation(void **state)
{
    (void)state;
    const size_t cap = QUENCH_MAX_LOG_MSG;
    char *big = malloc(cap + 100);
    char *want = malloc(cap + 200);
    assert_non_null(big);
    assert_non_null(want);

    /* Plain ASCII: the first cap-1 bytes survive, then the marker. */
    memset(big, 'a', cap + 99);
    big[cap + 99] = '\0';
    int n = snprintf(want, cap + 200, ",\"level\":\"info\",\"msg\":\"%.*s [truncated]\"}\n",
                     (int)cap - 1, big);
    assert_true(n > 0);
    expect_line(LOG_INFO, big, want);

    /* A two-byte character split by the cut is dropped, not turned into
     * \ufffd. */
    memset(big, 'a', cap - 2);
    memcpy(big + cap - 2, "\xc3\xa9tail", 7);
    snprintf(want, cap + 200, ",\"level\":\"info\",\"msg\":\"%.*s [truncated]\"}\n",
             (int)cap - 2, big);
    expect_line(LOG_INFO, big, want);

    /* Exactly cap-1 bytes fit without a marker. */
    memset(big, 'b', cap - 1);
    big[cap - 1] = '\0';
    snprintf(want, cap + 200, ",\"level\":\"info\",\"msg\":\"%s\"}\n", big);
    expect_line(LOG_INFO, big, want);
    free(big);
    free(want);
}

static void test_errno_preserved(void **state)
{
    (void)state;
    struct capture c;

    cap_begin(&c);
    errno = ENOENT;
    log_info("x");
    assert_int_equal(errno, ENOENT);
    free(cap_end(&c, NULL));
}

/* Four processes log long lines into one pipe at once: every line read
 * back is whole, which holds only if each line is one write(2). */
static void test_lines_do_not_interleave(void **state)
{
    (void)state;
    enum { KIDS = 4, LINES = 200 };
    int fds[2];
    pid_t pids[KIDS];
    char payload[3000];

    assert_int_equal(pipe(fds), 0);
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            dup2(fds[1], STDERR_FILENO);
            close(fds[0]);
            memset(payload, 'A' + k, sizeof payload - 1);
            payload[sizeof payload - 1] = '\0';
            for (int i = 0; i < LINES; i++)
                log_info("%d %s", k, payload);
            _exit(0);
        }
    }
    close(fds[1]);

    size_t cap = (size_t)KIDS * LINES * (sizeof payload + 100), len = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    for (;;) {
        ssize_t r = read(fds[0], buf + len, cap - len);
        assert_true(r >= 0);
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fds[0]);
    buf[len] = '\0';
    for (int k = 0; k < KIDS; k++) {
        int status;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    int lines = 0;
    char *p = buf;
    while (*p != '\0') {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        const char *rest = check_ts(p);
        static const char head[] = ",\"level\":\"info\",\"msg\":\"";
        assert_memory_equal(rest, head, sizeof head - 1);
        int k = rest[sizeof head - 1] - '0';
        assert_true(k >= 0 && k < KIDS);
        assert_int_equal(rest[sizeof head], ' ');
        const char *body = rest + sizeof head + 1;
        for (size_t i = 0; i < sizeof payload - 1; i++)
            assert_int_equal(body[i], 'A' + k);
        assert_string_equal(body + sizeof payload - 1, "\"}");
        lines++;
        p = nl + 1;
    }
    assert_int_equal(lines, KIDS * LINES);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_level_is_info),
        cmocka_unit_test_setup(test_basic_line, setup),
        cmocka_unit_test_setup(test_format_arguments, setup),
        cmocka_unit_test_setup(test_escaping, setup),
        cmocka_unit_test_setup(test_filtering_skips_evaluation, setup),
        cmocka_unit_test_setup(test_level_parse, setup),
        cmocka_unit_test_setup(test_truncation, setup),
        cmocka_unit_test_setup(test_errno_preserved, setup),
        cmocka_unit_test_setup(test_lines_do_not_interleave, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
