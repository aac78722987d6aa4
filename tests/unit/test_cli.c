/* test_cli.c - the option forms every command takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli.h"

static void test_opt_value(void **state)
{
    char *argv[] = {"x", "--rules", "r1", "--rules=r2", "--rulesX", "--rules=", "--rules"};
    const int argc = (int)(sizeof argv / sizeof argv[0]);
    const char *v = NULL;
    int i = 1;

    (void)state;
    assert_int_equal(cli_opt_value(argc, argv, &i, "--rules", &v), 1);
    assert_string_equal(v, "r1");
    assert_int_equal(i, 2);                 /* past the separate value */
    i = 3;
    assert_int_equal(cli_opt_value(argc, argv, &i, "--rules", &v), 1);
    assert_string_equal(v, "r2");
    assert_int_equal(i, 3);
    i = 4;
    assert_int_equal(cli_opt_value(argc, argv, &i, "--rules", &v), 0);
    i = 5;
    assert_int_equal(cli_opt_value(argc, argv, &i, "--rules", &v), 1);
    assert_string_equal(v, "");             /* given, empty: the caller judges */
    i = 6;
    assert_int_equal(cli_opt_value(argc, argv, &i, "--rules", &v), -1);
    assert_int_equal(i, 6);
    i = 1;
    assert_int_equal(cli_opt_value(argc, argv, &i, "--input", &v), 0);
}

static void test_is_help(void **state)
{
    (void)state;
    assert_true(cli_is_help("-h"));
    assert_true(cli_is_help("--help"));
    assert_false(cli_is_help("--helpme"));
    assert_false(cli_is_help("help"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opt_value),
        cmocka_unit_test(test_is_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
