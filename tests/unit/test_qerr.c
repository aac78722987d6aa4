/* test_qerr.c - the error struct every module fills: what qerr_set keeps
 * (NULL struct, NULL source, long texts cut, never overflowed) and the
 * "source:line:column: msg" shapes quench check and the CLI print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "qerr.h"

static void test_set(void **state)
{
    struct qerr e;
    char big[2048];

    (void)state;
    assert_int_equal(qerr_set(NULL, "x", 1, 2, "ignored %d", 3), -1);
    memset(&e, 0x55, sizeof e);
    assert_int_equal(qerr_set(&e, NULL, 0, 0, "no %s", "source"), -1);
    assert_string_equal(e.source, "");
    assert_string_equal(e.msg, "no source");
    assert_int_equal(e.line, 0);
    assert_int_equal(e.column, 0);

    /* cut at the array, NUL-terminated */
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    qerr_set(&e, big, 7, 9, "%s", big);
    assert_int_equal(strlen(e.source), sizeof e.source - 1);
    assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
    assert_int_equal(e.line, 7);
    assert_int_equal(e.column, 9);
}

static void test_format(void **state)
{
    static const struct {
        const char *source;
        int line, column;
        const char *want;
    } rows[] = {
        { "rules/services.yaml", 3, 14, "rules/services.yaml:3:14: bad" },
        { "rules/services.yaml", 3, 0, "rules/services.yaml:3: bad" },
        { "$.alerts[2].startsAt", 0, 0, "$.alerts[2].startsAt: bad" },
        /* a column without a line says nothing useful: left out */
        { "f", 0, 5, "f: bad" },
        { NULL, 4, 2, "bad" },
    };
    char out[128];
    struct qerr e;

    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        qerr_set(&e, rows[i].source, rows[i].line, rows[i].column, "bad");
        qerr_format(&e, out, sizeof out);
        assert_string_equal(out, rows[i].want);
    }
    /* a short buffer is cut, never overrun; cap 0 writes nothing */
    qerr_set(&e, "file.yaml", 12, 3, "something long went wrong");
    memset(out, 'Z', sizeof out);
    qerr_format(&e, out, 8);
    assert_string_equal(out, "file.ya");
    assert_int_equal(out[8], 'Z');
    qerr_format(&e, out, 0);
    assert_int_equal(out[0], 'f');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
