/* test_ytree.c - the YAML tree: positions, refusals, typed readers,
 * durations. Every error test asserts the exact line:column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limits.h"
#include "ytree.h"

static struct ytree_doc *load_ok(const char *yaml)
{
    struct ytree_doc *d = NULL;
    struct qerr err;

    memset(&err, 0, sizeof err);
    if (ytree_load_buf(&d, yaml, strlen(yaml), "t.yaml", &err) != 0)
        fail_msg("unexpected error: %d:%d: %s", err.line, err.column, err.msg);
    return d;
}

static void expect_load_err(const char *yaml, int line, int col, const char *needle)
{
    struct ytree_doc *d = (struct ytree_doc *)1;
    struct qerr err;

    memset(&err, 0, sizeof err);
    assert_int_equal(ytree_load_buf(&d, yaml, strlen(yaml), "t.yaml", &err), -1);
    assert_null(d);
    assert_string_equal(err.source, "t.yaml");
    if (err.line != line || err.column != col || strstr(err.msg, needle) == NULL)
        fail_msg("want %d:%d '%s', got %d:%d '%s'", line, col, needle,
                 err.line, err.column, err.msg);
}

static void test_positions(void **state)
{
    (void)state;
    struct ytree_doc *d = load_ok("# comment\n"
                                  "a: 1\n"
                                  "b:\n"
                                  "  c: [x, \"y\"]\n"
                                  "  d:\n"
                                  "    - 'q'\n"
                                  "    - {e: f}\n");
    const struct ytree_node *root = ytree_root(d);
    assert_non_null(root);
    assert_int_equal(root->type, YTREE_MAP);
    assert_int_equal(root->line, 2);
    assert_int_equal(root->column, 1);
    assert_int_equal(root->len, 2);
    assert_string_equal(root->pairs[0].key->value, "a");
    assert_int_equal(root->pairs[0].value->line, 2);
    assert_int_equal(root->pairs[0].value->column, 4);
    assert_true(root->pairs[0].value->plain);

    const struct ytree_node *b = ytree_get(root, "b");
    assert_non_null(b);
    assert_int_equal(b->type, YTREE_MAP);
    assert_int_equal(b->line, 4);
    assert_int_equal(b->column, 3);

    const struct ytree_node *c = ytree_get(b, "c");
    assert_int_equal(c->type, YTREE_SEQ);
    assert_int_equal(c->len, 2);
    assert_int_equal(c->line, 4);
    assert_int_equal(c->column, 6);
    assert_string_equal(c->items[0]->value, "x");
    assert_int_equal(c->items[1]->column, 10);
    assert_false(c->items[1]->plain);

    const struct ytree_node *dd = ytree_get(b, "d");
    assert_int_equal(dd->type, YTREE_SEQ);
    assert_int_equal(dd->line, 6);
    assert_int_equal(dd->column, 5);
    assert_int_equal(dd->items[0]->line, 6);
    assert_int_equal(dd->items[0]->column, 7);
    assert_string_equal(dd->items[0]->value, "q");
    const struct ytree_node *e = ytree_get(dd->items[1], "e");
    assert_string_equal(e->value, "f");
    assert_int_equal(e->line, 7);
    assert_int_equal(e->column, 11);

    assert_null(ytree_get(root, "zz"));
    assert_null(ytree_get(c, "x"));     /* not a map */
    assert_string_equal(ytree_source(d), "t.yaml");
    ytree_free(d);
}

static void test_empty_documents(void **state)
{
    (void)state;
    const char *empties[] = { "", "# only a comment\n", "---\n", "--- \n...\n" };
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        struct ytree_doc *d = load_ok(empties[i]);
        assert_non_null(d);
        assert_null(ytree_root(d));
        ytree_free(d);
    }
    ytree_free(NULL);
}

static void test_scalar_root_and_nul(void **state)
{
    (void)state;
    struct ytree_doc *d = load_ok("\"a\\0b\"\n");
    const struct ytree_node *r = ytree_root(d);
    const char *s = NULL;
    struct qerr err;

    assert_int_equal(r->type, YTREE_SCALAR);
    assert_int_equal(r->value_len, 3);
    assert_int_equal(ytree_string(d, r, &s, &err), -1);
    assert_non_null(strstr(err.msg, "NUL"));
    assert_int_equal(err.line, 1);
    assert_int_equal(err.column, 1);
    ytree_free(d);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_load_err("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first at line 1)");
    expect_load_err("x:\n  k: 1\n  j: 2\n  k: 3\n  j: 4\n", 4, 3, "duplicate key 'k'");
    expect_load_err("a: &x 1\n", 1, 4, "anchors");
    expect_load_err("a: 1\nb: *x\n", 2, 4, "anchors and aliases");
    expect_load_err("a: !!str 1\n", 1, 4, "tags are not supported");
    expect_load_err("a: !custom {b: 1}\n", 1, 4, "tags are not supported");
    expect_load_err("- !!seq []\n", 1, 3, "tags");
    expect_load_err("a: 1\n---\nb: 2\n", 2, 1, "only one YAML document");
    expect_load_err("? [a, b]\n: 1\n", 1, 3, "map keys must be scalars");
    expect_load_err("? {a: 1}\n: 1\n", 1, 3, "map keys must be scalars");
}

static void test_syntax_errors(void **state)
{
    (void)state;
    /* libyaml reports where it noticed; these are the positions it gives. */
    expect_load_err("a: [1, 2\nb: 3\n", 2, 2, "YAML syntax error");
    expect_load_err("a: 1\n  b: 2\n", 2, 4, "YAML syntax error");
    expect_load_err("a: \"unterminated\n", 2, 1, "YAML syntax error");
    expect_load_err("a:\tb\nc:\n\t- x\n", 3, 1, "YAML syntax error");
    /* Invalid UTF-8 (0xff) on line 2, byte 4. */
    expect_load_err("a: 1\nb: \xff\n", 2, 4, "YAML encoding error");
}

static void test_depth_cap(void **state)
{
    (void)state;
    char buf[4 * (QUENCH_MAX_YAML_DEPTH + 4)];
    size_t n = 0, i;

    /* Exactly at the cap: fine. */
    for (i = 0; i + 1 < QUENCH_MAX_YAML_DEPTH; i++)
        buf[n++] = '[';
    buf[n++] = '1';
    for (i = 0; i + 1 < QUENCH_MAX_YAML_DEPTH; i++)
        buf[n++] = ']';
    buf[n] = '\0';
    ytree_free(load_ok(buf));

    /* One deeper: the innermost scalar is refused at its column. */
    n = 0;
    for (i = 0; i < QUENCH_MAX_YAML_DEPTH; i++)
        buf[n++] = '[';
    buf[n++] = '1';
    for (i = 0; i < QUENCH_MAX_YAML_DEPTH; i++)
        buf[n++] = ']';
    buf[n] = '\0';
    expect_load_err(buf, 1, QUENCH_MAX_YAML_DEPTH + 1, "nesting deeper than");
}

static void test_size_cap(void **state)
{
    (void)state;
    size_t len = (size_t)QUENCH_MAX_YAML_BYTES + 1;
    char *big = malloc(len);
    struct ytree_doc *d = NULL;
    struct qerr err;

    assert_non_null(big);
    memset(big, ' ', len);
    assert_int_equal(ytree_load_buf(&d, big, len, "big.yaml", &err), -1);
    assert_null(d);
    assert_non_null(strstr(err.msg, "larger than"));
    free(big);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_ytree_XXXXXX";
    int fd = mkstemp(path);
    struct ytree_doc *d = NULL;
    struct qerr err;
    const char *text = "k: v\nbad: [\n";

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, 5), 5);     /* "k: v\n" */
    assert_int_equal(ytree_load_file(&d, path, &err), 0);
    assert_string_equal(ytree_get(ytree_root(d), "k")->value, "v");
    assert_string_equal(ytree_source(d), path);
    ytree_free(d);

    assert_int_equal(write(fd, text + 5, strlen(text) - 5), (ssize_t)strlen(text) - 5);
    close(fd);
    assert_int_equal(ytree_load_file(&d, path, &err), -1);
    assert_null(d);
    assert_string_equal(err.source, path);
    assert_int_equal(err.line, 3);

    unlink(path);
    assert_int_equal(ytree_load_file(&d, path, &err), -1);
    assert_string_equal(err.source, path);
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.msg, "cannot open"));

    assert_int_equal(ytree_load_file(&d, "/tmp", &err), -1);
    assert_string_equal(err.source, "/tmp");
    assert_non_null(strstr(err.msg, "not a regular file"));
}

static void test_null_and_string(void **state)
{
    (void)state;
    struct ytree_doc *d = load_ok("a:\nb: ~\nc: null\nd: NULL\ne: Null\n"
                                  "f: \"\"\ng: 'null'\nh: nil\ni: [x]\n");
    const struct ytree_node *r = ytree_root(d);
    const char *s = NULL;
    struct qerr err;

    assert_true(ytree_is_null(ytree_get(r, "a")));
    assert_true(ytree_is_null(ytree_get(r, "b")));
    assert_true(ytree_is_null(ytree_get(r, "c")));
    assert_true(ytree_is_null(ytree_get(r, "d")));
    assert_true(ytree_is_null(ytree_get(r, "e")));
    assert_false(ytree_is_null(ytree_get(r, "f")));   /* quoted */
    assert_false(ytree_is_null(ytree_get(r, "g")));
    assert_false(ytree_is_null(ytree_get(r, "h")));
    assert_false(ytree_is_null(ytree_get(r, "i")));
    assert_false(ytree_is_null(NULL));

    assert_int_equal(ytree_string(d, ytree_get(r, "g"), &s, &err), 0);
    assert_string_equal(s, "null");
    assert_int_equal(ytree_string(d, ytree_get(r, "i"), &s, &err), -1);
    assert_int_equal(err.line, 9);
    assert_int_equal(err.column, 4);
    assert_non_null(strstr(err.msg, "expected a string, got a list"));
    ytree_free(d);
}

static void test_bool(void **state)
{
    (void)state;
    struct ytree_doc *d = load_ok("t: true\nf: false\ny: yes\nq: \"true\"\nT: True\n");
    const struct ytree_node *r = ytree_root(d);
    int v = -1;
    struct qerr err;

    assert_int_equal(ytree_bool(d, ytree_get(r, "t"), &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(ytree_bool(d, ytree_get(r, "f"), &v, &err), 0);
    assert_int_equal(v, 0);
    const char *bad[] = { "y", "q", "T" };
    for (int i = 0; i < 3; i++) {
        const struct ytree_node *n = ytree_get(r, bad[i]);
        assert_int_equal(ytree_bool(d, n, &v, &err), -1);
        assert_int_equal(err.line, n->line);
        assert_int_equal(err.column, 4);
        assert_non_null(strstr(err.msg, "true or false"));
    }
    ytree_free(d);
}

static void test_int(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        int64_t want;
    } rows[] = {
        { "0", 1, 0 },           { "42", 1, 42 },        { "-7", 1, -7 },
        { "+5", 1, 5 },          { "100", 1, 100 },      { "101", 0, 0 },
        { "-11", 0, 0 },         { "010", 0, 0 },        { "0x10", 0, 0 },
        { "5.0", 0, 0 },         { "\"5\"", 0, 0 },      { "abc", 0, 0 },
        { "1e3", 0, 0 },         { "[1]", 0, 0 },        { "-x", 0, 0 },
        { "99999999999999999999", 0, 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char yaml[64];
        struct ytree_doc *d;
        struct qerr err;
        int64_t v = 12345;

        snprintf(yaml, sizeof yaml, "\nk: %s\n", rows[i].text);
        d = load_ok(yaml);
        int rc = ytree_int(d, ytree_get(ytree_root(d), "k"), -10, 100, &v, &err);
        if (rows[i].ok) {
            if (rc != 0 || v != rows[i].want)
                fail_msg("'%s': rc %d v %lld", rows[i].text, rc, (long long)v);
        } else {
            if (rc != -1 || err.line != 2 || err.column != 4)
                fail_msg("'%s' accepted or wrong position", rows[i].text);
            assert_int_equal(v, 12345);
        }
        ytree_free(d);
    }
    struct ytree_doc *d = load_ok("k: 200\n");
    struct qerr err;
    int64_t v;
    assert_int_equal(ytree_int(d, ytree_get(ytree_root(d), "k"), 0, 100, &v, &err), -1);
    assert_string_equal(err.msg, "integer out of range [0, 100]");
    assert_int_equal(ytree_int(d, ytree_get(ytree_root(d), "k"), INT64_MIN, INT64_MAX,
                               &v, &err), 0);
    assert_int_equal(v, 200);
    ytree_free(d);
}

static void test_double(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        double want;
    } rows[] = {
        { "0.5", 1, 0.5 },   { "1", 1, 1.0 },   { "-0.25", 1, -0.25 },
        { ".5", 1, 0.5 },    { "1e-1", 1, 0.1 }, { "2", 0, 0 },
        { "nan", 0, 0 },     { "inf", 0, 0 },   { ".inf", 0, 0 },
        { "0x1p-1", 0, 0 },  { "\"0.5\"", 0, 0 }, { "1.5x", 0, 0 },
        { "1e999", 0, 0 },   { "", 0, 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char yaml[64];
        struct ytree_doc *d;
        struct qerr err;
        double v = 123;

        snprintf(yaml, sizeof yaml, "k: %s\n", rows[i].text);
        d = load_ok(yaml);
        int rc = ytree_double(d, ytree_get(ytree_root(d), "k"), -1.0, 1.5, &v, &err);
        if (rows[i].ok) {
            if (rc != 0 || v != rows[i].want)
                fail_msg("'%s': rc %d v %g", rows[i].text, rc, v);
        } else {
            if (rc != -1 || err.line != 1)
                fail_msg("'%s' accepted", rows[i].text);
        }
        ytree_free(d);
    }
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;     /* -1: refused */
    } rows[] = {
        { "500ms", 500 },            { "30s", 30000 },
        { "10m", 600000 },           { "2h", 7200000 },
        { "14d", 1209600000 },       { "1h30m", 5400000 },
        { "1d2h3m4s5ms", 93784005 }, { "1m500ms", 60500 },
        { "0s", -1 },                { "0ms", -1 },
        { "30", -1 },                { "", -1 },
        { "s", -1 },                 { "1x", -1 },
        { "1.5h", -1 },              { "-1s", -1 },
        { "+1s", -1 },               { " 1s", -1 },
        { "1s ", -1 },               { "30m1h", -1 },
        { "1m1m", -1 },              { "1h 30m", -1 },
        { "1S", -1 },                { "1mss", -1 },
        /* INT64_MAX ms is 106751991167d 7h 12m 55.807s. */
        { "106751991168d", -1 },
        { "106751991167d8h", -1 },
        { "106751991167300d", -1 },
        { "99999999999999999999ms", -1 },
        { "9223372036854775807ms", INT64_MAX },
        { "106751991167d7h12m55s807ms", INT64_MAX },
        { "106751991167d7h12m55s808ms", -1 },
        { "106751991167d", 106751991167LL * 86400000LL },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t ms = 7;
        int rc = ytree_parse_duration(rows[i].text, &ms);
        if (rows[i].ms < 0) {
            if (rc != -1 || ms != 7)
                fail_msg("'%s' accepted as %lld", rows[i].text, (long long)ms);
        } else if (rc != 0 || ms != rows[i].ms) {
            fail_msg("'%s': rc %d, %lld != %lld", rows[i].text, rc,
                     (long long)ms, (long long)rows[i].ms);
        }
    }
    assert_int_equal(ytree_parse_duration(NULL, &(int64_t){0}), -1);

    struct ytree_doc *d = load_ok("a: \"1h30m\"\nb: 90\nc: {x: 1}\n");
    const struct ytree_node *r = ytree_root(d);
    struct qerr err;
    int64_t ms;
    assert_int_equal(ytree_duration(d, ytree_get(r, "a"), &ms, &err), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(ytree_duration(d, ytree_get(r, "b"), &ms, &err), -1);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 4);
    assert_non_null(strstr(err.msg, "with a unit"));
    assert_int_equal(ytree_duration(d, ytree_get(r, "c"), &ms, &err), -1);
    assert_int_equal(err.line, 3);
    ytree_free(d);
}

static void test_check_keys(void **state)
{
    (void)state;
    static const char *const allowed[] = { "a", "bb", NULL };
    struct ytree_doc *d = load_ok("x:\n  a: 1\n  bb: 2\ny:\n  a: 1\n  b: 2\nz: [1]\n");
    const struct ytree_node *r = ytree_root(d);
    struct qerr err;

    assert_int_equal(ytree_check_keys(d, ytree_get(r, "x"), allowed, &err), 0);
    assert_int_equal(ytree_check_keys(d, ytree_get(r, "y"), allowed, &err), -1);
    assert_string_equal(err.msg, "unknown key 'b'");
    assert_string_equal(err.source, "t.yaml");
    assert_int_equal(err.line, 6);
    assert_int_equal(err.column, 3);
    assert_int_equal(ytree_check_keys(d, ytree_get(r, "z"), allowed, &err), -1);
    assert_string_equal(err.msg, "expected a map, got a list");
    assert_int_equal(err.line, 7);
    assert_int_equal(err.column, 4);
    /* A NULL err is allowed everywhere. */
    assert_int_equal(ytree_check_keys(d, ytree_get(r, "y"), allowed, NULL), -1);
    ytree_free(d);
}

static void test_error_formatting(void **state)
{
    (void)state;
    struct ytree_doc *d = load_ok("k: v\n");
    struct qerr err;
    char line[600];

    assert_int_equal(ytree_error(d, ytree_get(ytree_root(d), "k"), &err,
                                 "bad %s %d", "thing", 3), -1);
    qerr_format(&err, line, sizeof line);
    assert_string_equal(line, "t.yaml:1:4: bad thing 3");
    assert_int_equal(ytree_error(d, NULL, &err, "whole file"), -1);
    qerr_format(&err, line, sizeof line);
    assert_string_equal(line, "t.yaml: whole file");
    ytree_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_scalar_root_and_nul),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_null_and_string),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_double),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_error_formatting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
