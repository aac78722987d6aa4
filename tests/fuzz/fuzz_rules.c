/* fuzz_rules.c - libFuzzer target: any bytes as correlation.yaml through
 * rules_load_buf and as services.yaml through topology_load_buf (what
 * `quench check` reads). Seed with the files under rules/.
 * Beyond "no crash, no leak, no UB" (the sanitizers) it checks the
 * contract: 0 with *out set, or -1 with *out NULL and an error that names
 * its source, a line and a message; and a loaded rules set classifies an
 * alert, and its memo agrees (rules_memo_get against the rules). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "rules.h"
#include "topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const struct qerr *err)
{
    if (strcmp(err->source, "f.yaml") != 0 || err->line <= 0 || err->msg[0] == '\0')
        abort();
}

/* The memo gives what the rules give, for an alert of interned strings. */
static void check_memo(const struct rules *r)
{
    static const char *const kv[][2] = {
        {"alertname", "KubePodCrashLooping"}, {"severity", "critical"},
        {"service", "cart"}, {"pod", "cart-0"},
    };
    struct intern *pool;
    struct label l[4];
    struct alert a;
    struct rules_memo *m;
    double w1, w2;
    int64_t f1, f2;

    if (intern_new(&pool) < 0)
        return;
    memset(&a, 0, sizeof a);
    for (size_t i = 0; i < 4; i++) {
        l[i].name = intern_str(pool, kv[i][0], strlen(kv[i][0]));
        l[i].value = intern_str(pool, kv[i][1], strlen(kv[i][1]));
    }
    a.labels = l;
    a.nlabels = 4;
    alert_labels_sort(l, 4);
    m = rules_memo_new(r);
    for (int round = 0; round < 2; round++)
        if (rules_memo_get(m, r, &a, &w1, &f1) != rules_classify(r, &a, &w2) ||
            w1 != w2 || f1 != (f2 = rules_rule_for(r, &a)))
            abort();
    rules_memo_free(m);
    intern_free(pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rules *r = (struct rules *)&size;        /* must come back NULL */
    struct topology *t = (struct topology *)&size;
    struct qerr err;

    memset(&err, 0, sizeof err);
    if (rules_load_buf(&r, (const char *)data, size, "f.yaml", &err) == 0) {
        if (r == NULL)
            abort();
        check_memo(r);
        rules_free(r);
    } else {
        if (r != NULL)
            abort();
        check_error(&err);
    }
    memset(&err, 0, sizeof err);
    if (topology_load_buf(&t, (const char *)data, size, "f.yaml", "", &err) == 0) {
        if (t == NULL)
            abort();
        topology_free(t);
    } else {
        if (t != NULL)
            abort();
        check_error(&err);
    }
    return 0;
}
