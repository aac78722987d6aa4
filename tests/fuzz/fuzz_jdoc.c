/* fuzz_jdoc.c - libFuzzer target: jdoc against jansson, differentially.
 *
 * jdoc is a hand-written decoder on the webhook hot path; its contract
 * (jdoc.h) is that whatever it accepts, jansson accepts with the same
 * flags and decodes to the same values. So for any bytes: if jdoc returns
 * a root, jansson must return a tree, and the two must agree value by
 * value (types, strings byte for byte, integers, reals bit for bit, object
 * members in order, array order, sizes). jdoc may decline what jansson
 * accepts (depth, long numbers), never the reverse. Seed with
 * tests/data/alertmanager, tests/data/webhook-bad and tests/data/samples. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jdoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void agree(const struct jval *a, const json_t *j)
{
    switch ((enum jdoc_type)a->type) {
    case JDOC_OBJECT: {
        /* member by member in document order, which both keep */
        void *it = json_object_iter((json_t *)j);
        if (!json_is_object(j) || json_object_size(j) != a->n)
            abort();
        for (uint32_t i = 0; i < a->n; i++, it = json_object_iter_next((json_t *)j, it)) {
            const struct jval *k = &a->u.kids[i];
            if (it == NULL || json_object_iter_key_len(it) != k->klen ||
                memcmp(json_object_iter_key(it), k->key, k->klen) != 0)
                abort();
            agree(k, json_object_iter_value(it));
        }
        return;
    }
    case JDOC_ARRAY:
        if (!json_is_array(j) || json_array_size(j) != a->n)
            abort();
        for (uint32_t i = 0; i < a->n; i++)
            agree(&a->u.kids[i], json_array_get(j, i));
        return;
    case JDOC_STRING:
        if (!json_is_string(j) || json_string_length(j) != a->n ||
            memcmp(json_string_value(j), a->u.str, a->n) != 0 || a->u.str[a->n] != '\0')
            abort();
        return;
    case JDOC_INTEGER:
        if (!json_is_integer(j) || json_integer_value(j) != a->u.integer)
            abort();
        return;
    case JDOC_REAL:
        if (!json_is_real(j) || memcmp(&(double){json_real_value(j)}, &a->u.real,
                                       sizeof a->u.real) != 0)
            abort();
        return;
    case JDOC_TRUE:
        if (!json_is_true(j))
            abort();
        return;
    case JDOC_FALSE:
        if (!json_is_false(j))
            abort();
        return;
    case JDOC_NULL:
        if (!json_is_null(j))
            abort();
        return;
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct jdoc *d;
    const struct jval *root;
    json_error_t jerr;
    json_t *j;

    /* one holder for the whole run, as a parsing thread keeps one: reuse
     * across documents is part of what is tested */
    if (d == NULL && jdoc_new(&d) != 0)
        return 0;
    root = jdoc_parse(d, (const char *)data, size);
    j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                   &jerr);
    if (root != NULL) {
        if (j == NULL)
            abort();        /* jdoc accepted what jansson rejects */
        agree(root, j);
    }
    json_decref(j);
    return 0;
}
