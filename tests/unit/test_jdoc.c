/* test_jdoc.c - the fast JSON decoder: values as jansson decodes them,
 * nothing accepted that jansson rejects, depth and duplicate rules, buffer
 * reuse from document to document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jdoc.h"
#include "limits.h"

static int setup(void **state)
{
    struct jdoc *d;

    if (jdoc_new(&d) != 0)
        return -1;
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    jdoc_free(*state);
    return 0;
}

static const struct jval *parse(struct jdoc *d, const char *s)
{
    return jdoc_parse(d, s, strlen(s));
}

/* A and B hold the same value, member names and order included. */
static int same(const struct jval *a, const struct jval *b)
{
    if (a->type != b->type || a->n != b->n || a->klen != b->klen ||
        (a->key == NULL) != (b->key == NULL) ||
        (a->key != NULL && memcmp(a->key, b->key, a->klen) != 0))
        return 0;
    switch ((enum jdoc_type)a->type) {
    case JDOC_STRING:
        return memcmp(a->u.str, b->u.str, a->n + 1) == 0;
    case JDOC_INTEGER:
        return a->u.integer == b->u.integer;
    case JDOC_REAL:
        return a->u.real == b->u.real;
    case JDOC_OBJECT:
    case JDOC_ARRAY:
        for (uint32_t i = 0; i < a->n; i++)
            if (!same(&a->u.kids[i], &b->u.kids[i]))
                return 0;
        return 1;
    default:
        return 1;
    }
}

static void test_values(void **state)
{
    struct jdoc *d = *state;
    const struct jval *v = parse(d, " {\"s\":\"a\\\"b\\u00e9\\ud83d\\ude00\\/\", \"i\":-42,"
                                    "\"r\":1.5e2,\"t\":true,\"f\":false,\"n\":null,"
                                    "\"a\":[1,[],{}],\"z\":\"\"}\n");

    assert_non_null(v);
    assert_int_equal(v->type, JDOC_OBJECT);
    assert_int_equal(v->n, 8);
    assert_string_equal(v->u.kids[0].key, "s");
    assert_int_equal(v->u.kids[0].type, JDOC_STRING);
    assert_string_equal(v->u.kids[0].u.str, "a\"b\xc3\xa9\xf0\x9f\x98\x80/");
    assert_int_equal(v->u.kids[0].n, strlen("a\"b\xc3\xa9\xf0\x9f\x98\x80/"));
    assert_int_equal(jdoc_get(v, "i", 1)->type, JDOC_INTEGER);
    assert_true(jdoc_get(v, "i", 1)->u.integer == -42);
    assert_int_equal(jdoc_get(v, "r", 1)->type, JDOC_REAL);
    assert_true(jdoc_get(v, "r", 1)->u.real == 150.0);
    assert_int_equal(jdoc_get(v, "t", 1)->type, JDOC_TRUE);
    assert_int_equal(jdoc_get(v, "f", 1)->type, JDOC_FALSE);
    assert_int_equal(jdoc_get(v, "n", 1)->type, JDOC_NULL);
    assert_int_equal(jdoc_get(v, "a", 1)->n, 3);
    assert_null(jdoc_get(v, "a", 1)->u.kids[0].key);
    assert_int_equal(jdoc_get(v, "z", 1)->n, 0);
    assert_null(jdoc_get(v, "x", 1));
    assert_int_equal(jdoc_depth(d), 3);
    /* Scalars at the root (jansson's JSON_DECODE_ANY); "1.0" stays real. */
    assert_int_equal(parse(d, "1.0")->type, JDOC_REAL);
    assert_int_equal(parse(d, "-0")->type, JDOC_INTEGER);
    assert_int_equal(jdoc_depth(d), 0);
    assert_true(parse(d, "-9223372036854775808")->u.integer == (-9223372036854775807LL - 1));
}

/* Each must be declined by jdoc, and is rejected by jansson too. */
static void test_declines_what_jansson_rejects(void **state)
{
    static const char *const bad[] = {
        "", " ", "{", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "'a'",
        "[1 2]", "01", "-", "1.", ".5", "1e", "1e+", "+1", "NaN", "Infinity", "tru",
        "truex", "nul", "[true false]", "1 2", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"\\uzzzz\"", "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\x01\"", "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
        "\"\xff\"", "\"\xc3\"", "\xef\xbb\xbf{}", "{\"a\":1,\"a\":2}",
        "9223372036854775808", "-9223372036854775809", "1e309", "\x0b" "1",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_error_t jerr;
        json_t *j = json_loads(bad[i], JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

        if (j != NULL)
            fail_msg("jansson accepts bad[%zu]", i);
        if (parse(*state, bad[i]) != NULL)
            fail_msg("jdoc accepts bad[%zu]", i);
    }
    /* A raw NUL byte, which strlen would hide. */
    assert_null(jdoc_parse(*state, "\"a\0b\"", 5));
}

/* Valid documents decode to what jansson's tree holds. */
static void test_agrees_with_jansson(void **state)
{
    static const char *const good[] = {
        "{\"labels\":{\"b\":\"2\",\"a\":\"1\"},\"x\":[1,-1,0.25,1e-400,true,null]}",
        "\"\\b\\f\\n\\r\\t\\\\\\/\\u20ac\\uFFFF\\u0041\"",
        "\"\xc3\xa9\xe2\x82\xac\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\x7f\"",
        "[[[[{\"\":{\"\":[]}}]]]]",
        " \t\r\n[ 1 , { \"k\" : \"v\" } ] \n",
        "9223372036854775807",
    };
    struct jdoc *ref;

    assert_int_equal(jdoc_new(&ref), 0);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        json_t *j = json_loads(good[i], JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
        const struct jval *a = parse(*state, good[i]), *b = jdoc_from_json(ref, j);

        assert_non_null(j);
        assert_non_null(a);
        assert_non_null(b);
        if (!same(a, b))
            fail_msg("good[%zu] differs from jansson's tree", i);
        assert_int_equal(jdoc_depth(*state), jdoc_depth(ref));
        json_decref(j);
    }
    jdoc_free(ref);
}

static char *nested(int levels)
{
    char *s = malloc((size_t)levels * 2 + 1);

    memset(s, '[', (size_t)levels);
    memset(s + levels, ']', (size_t)levels);
    s[levels * 2] = '\0';
    return s;
}

/* Past QUENCH_MAX_JDOC_DEPTH jdoc declines; jansson (to 2048) decodes it
 * and jdoc_from_json copies it, depth included. */
static void test_depth(void **state)
{
    char *ok = nested(QUENCH_MAX_JDOC_DEPTH), *deep = nested(QUENCH_MAX_JDOC_DEPTH + 1);
    json_t *j = json_loads(deep, 0, NULL);

    assert_non_null(parse(*state, ok));
    assert_int_equal(jdoc_depth(*state), QUENCH_MAX_JDOC_DEPTH);
    assert_null(parse(*state, deep));
    assert_non_null(j);
    assert_non_null(jdoc_from_json(*state, j));
    assert_int_equal(jdoc_depth(*state), QUENCH_MAX_JDOC_DEPTH + 1);
    assert_null(jdoc_from_json(*state, NULL));
    json_decref(j);
    free(ok);
    free(deep);
}

/* Objects past the pairwise duplicate check go through the hash set. */
static void test_big_object_duplicates(void **state)
{
    char buf[8192];
    size_t pos = 0;
    const struct jval *v;

    pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "{");
    for (int i = 0; i < 300; i++)
        pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%s\"k%d\":%d", i ? "," : "", i, i);
    snprintf(buf + pos, sizeof buf - pos, "}");
    v = parse(*state, buf);
    assert_non_null(v);
    assert_int_equal(v->n, 300);
    assert_true(jdoc_get(v, "k299", 4)->u.integer == 299);
    snprintf(buf + pos, sizeof buf - pos, ",\"k17\":0}");
    assert_null(parse(*state, buf));
}

/* One struct jdoc, document after document: each parse replaces the last,
 * a huge one's memory is not kept (ASan and LSan check the frees). */
static void test_reuse(void **state)
{
    size_t big = 3u * QUENCH_JDOC_KEEP_BYTES;
    char *s = malloc(big + 3);

    s[0] = '"';
    memset(s + 1, 'x', big);
    s[big + 1] = '"';
    s[big + 2] = '\0';
    for (int round = 0; round < 3; round++) {
        const struct jval *v = parse(*state, "[\"a\",{\"b\":[1,2,3]}]");
        assert_non_null(v);
        assert_int_equal(v->n, 2);
        assert_string_equal(v->u.kids[0].u.str, "a");
        v = jdoc_parse(*state, s, big + 2);
        assert_non_null(v);
        assert_int_equal(v->n, big);
    }
    free(s);
}

/* jdoc_decode, the one way in from bytes: jansson's verdict where jdoc
 * declines, a raw NUL refused even where jansson lets it through, scalars
 * only with JSON_DECODE_ANY, numbers too long for jdoc copied from
 * jansson's tree. */
static void test_decode(void **state)
{
    struct jdoc *d = *state;
    json_error_t jerr;
    const struct jval *v;
    char longnum[128];

    v = jdoc_decode(d, "[1\0]", 4, JSON_REJECT_DUPLICATES, &jerr);
    assert_null(v);
    assert_string_equal(jerr.text, "NUL byte at offset 2");
    assert_int_equal(jerr.line, 1);
    assert_int_equal(jerr.column, 3);
    v = jdoc_decode(d, "{\"a\":\n true\0}", 13, JSON_REJECT_DUPLICATES, &jerr);
    assert_null(v);
    assert_int_equal(jerr.line, 2);
    assert_int_equal(jerr.column, 6);

    assert_null(jdoc_decode(d, "17", 2, JSON_REJECT_DUPLICATES, &jerr));
    assert_true(jerr.text[0] != '\0');      /* jansson's "'[' or '{' expected" */
    v = jdoc_decode(d, "17", 2, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    assert_non_null(v);
    assert_int_equal(v->type, JDOC_INTEGER);

    assert_null(jdoc_decode(d, "[1,]", 4, JSON_REJECT_DUPLICATES, &jerr));
    assert_non_null(strstr(jerr.text, "unexpected token"));

    snprintf(longnum, sizeof longnum, "[0.%0100d1]", 0);
    assert_null(jdoc_parse(d, longnum, strlen(longnum)));   /* past jdoc's numbers */
    v = jdoc_decode(d, longnum, strlen(longnum), JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(v);
    assert_int_equal(v->type, JDOC_ARRAY);
    assert_int_equal(v->u.kids[0].type, JDOC_REAL);
}

/* FNV-1a, as jdoc's duplicate check hashes names. */
static uint32_t fnv(const char *k)
{
    uint32_t h = 2166136261u;

    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h;
}

/* Names chosen to share one probe chain (the hash is unseeded): jdoc
 * declines the object, so the caller's jansson fallback decides in its
 * own (seeded) time, instead of jdoc going quadratic. The same number of
 * ordinary names decodes. */
static void test_colliding_names_decline(void **state)
{
    enum { N = 3000 };
    const uint32_t mask = 8191;     /* the table jdoc sizes for N members */
    size_t cap = (size_t)N * 24 + 16, len = 0;
    char *body = malloc(cap), *plain = malloc(cap);
    char key[16];
    unsigned found = 0, plen = 0;

    assert_non_null(body);
    assert_non_null(plain);
    body[len++] = '{';
    plain[plen++] = '{';
    for (uint32_t i = 0; found < N; i++) {
        snprintf(key, sizeof key, "k%08x", i);
        if ((fnv(key) & mask) >= 64)
            continue;
        len += (size_t)snprintf(body + len, cap - len, "%s\"%s\":0", found ? "," : "", key);
        plen += (unsigned)snprintf(plain + plen, cap - plen, "%s\"p%u\":0", found ? "," : "",
                                   found);
        found++;
    }
    body[len++] = '}';
    plain[plen++] = '}';
    assert_null(jdoc_parse(*state, body, len));
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);                 /* valid: jansson takes it */
    assert_int_equal(json_object_size(j), N);
    json_decref(j);
    const struct jval *v = jdoc_parse(*state, plain, plen);
    assert_non_null(v);
    assert_int_equal(v->n, N);
    free(body);
    free(plain);
}

/* Empty containers as the very first document of a fresh holder (found
 * by tests/fuzz/fuzz_jdoc.c: the duplicate check indexed a stack that did
 * not exist yet: &NULL[0], undefined behaviour that clang's UBSan reports
 * and gcc's, which CI builds with, does not; run it in the clang fuzz
 * build, docs/testing.md). */
static void test_empty_first(void **state)
{
    static const char *const docs[] = {"{}", "[]", "{\"a\":{}}", "[[],{}]"};
    (void)state;

    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        struct jdoc *d;
        const struct jval *v;

        assert_int_equal(jdoc_new(&d), 0);
        v = parse(d, docs[i]);
        assert_non_null(v);
        assert_true(v->type == JDOC_OBJECT || v->type == JDOC_ARRAY);
        jdoc_free(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declines_what_jansson_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agrees_with_jansson, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_object_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
        cmocka_unit_test(test_empty_first),
        cmocka_unit_test_setup_teardown(test_colliding_names_decline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
