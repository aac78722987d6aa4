/* fuzz_webhook.c - libFuzzer target: any bytes through webhook_parse.
 * Seed with tests/data/alertmanager and tests/data/webhook-bad. Beyond "no
 * crash, no leak, no UB" (the sanitizers) it checks the contract: a result
 * code from the header, *out set iff 0, an error path and message on
 * failure, labels sorted and every time either a real one or ALERT_NO_END
 * that formats and parses back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sorted(const struct label *l, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(l[i - 1].name, l[i].name) >= 0)
            abort();
}

static void check_time(int64_t ms)
{
    char buf[64];
    int64_t back;
    int n = alert_time_format(ms, buf, sizeof buf);

    if (n <= 0 || (size_t)n >= sizeof buf || alert_time_parse(buf, (size_t)n, &back) != 0
        || back != ms)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct intern *pool;
    struct webhook *w = (struct webhook *)&pool;   /* must come back NULL on error */
    struct qerr err;
    int rc;

    if (intern_new(&pool) != 0)
        return 0;
    memset(&err, 0, sizeof err);
    rc = webhook_parse(&w, (const char *)data, size, pool, &err);
    if (rc == 0) {
        if (w == NULL)
            abort();
        check_sorted(w->group_labels, w->ngroup_labels);
        check_sorted(w->common_labels, w->ncommon_labels);
        check_sorted(w->common_annotations, w->ncommon_annotations);
        check_sorted(w->route_labels, w->nroute_labels);
        for (size_t i = 0; i < w->nalerts; i++) {
            const struct alert *a = &w->alerts[i];
            check_sorted(a->labels, a->nlabels);
            check_sorted(a->annotations, a->nannotations);
            if (a->starts_at == ALERT_NO_END || a->generator_url == NULL)
                abort();
            check_time(a->starts_at);
            check_time(a->ends_at);
            for (size_t j = 0; j < a->nlabels; j++)
                if (alert_label(a, a->labels[j].name) != a->labels[j].value)
                    abort();
        }
    } else {
        if (w != NULL || err.source[0] != '$' || err.msg[0] == '\0')
            abort();
        if (rc != WEBHOOK_EJSON && rc != WEBHOOK_ESCHEMA && rc != WEBHOOK_ENOMEM)
            abort();
    }
    webhook_free(w);
    intern_free(pool);
    return 0;
}
