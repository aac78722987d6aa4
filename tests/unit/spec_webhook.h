/* spec_webhook.h - webhooks from one-line specs for the engine's unit
 * tests (test_engine.c, test_api.c): no JSON written by hand per test.
 * Static inline: a binary that uses one of them does not warn about the
 * other. */
#ifndef QUENCH_TEST_SPEC_WEBHOOK_H
#define QUENCH_TEST_SPEC_WEBHOOK_H

#include <stdio.h>
#include <string.h>
/* needs <cmocka.h> (fail_msg) included first, as cmocka requires */

#include "alert.h"
#include "engine.h"
#include "webhook.h"

/* A webhook body with one alert per "alertname:service:status:startsAt";
 * "service/pod" in the second field adds a pod label, "service/pod@node"
 * a node label too, and "@node" alone makes a node's alert (no service). */
static inline struct webhook *spec_webhook(struct engine *e, const char *group, const char *specs)
{
    char body[8192], spec[512], *save = NULL, *tok;
    size_t len = 0;
    int first = 1;
    struct webhook *wh = NULL;
    struct qerr err;

    len += (size_t)snprintf(body + len, sizeof body - len,
                            "{\"version\":\"4\",\"groupKey\":\"%s\",\"status\":\"firing\","
                            "\"receiver\":\"q\",\"groupLabels\":{},\"commonLabels\":{},"
                            "\"commonAnnotations\":{},\"externalURL\":\"\",\"alerts\":[",
                            group);
    snprintf(spec, sizeof spec, "%s", specs);
    for (tok = strtok_r(spec, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char name[64], svc[64], st[16], at[64], pod[80] = "", node[80] = "";
        char svcl[96] = "";
        char *slash, *atsign;
        if (sscanf(tok, "%63[^:]:%63[^:]:%15[^:]:%63s", name, svc, st, at) != 4)
            fail_msg("bad spec %s", tok);
        if ((atsign = strchr(svc, '@')) != NULL) {
            *atsign = '\0';
            snprintf(node, sizeof node, "\"node\":\"%s\",", atsign + 1);
        }
        if ((slash = strchr(svc, '/')) != NULL) {
            *slash = '\0';
            snprintf(pod, sizeof pod, "\"pod\":\"%s\",", slash + 1);
        }
        if (svc[0] != '\0')
            snprintf(svcl, sizeof svcl, "\"service\":\"%s\",", svc);
        for (char *p = at; *p; p++)
            if (*p == '_')
                *p = ':';
        len += (size_t)snprintf(body + len, sizeof body - len,
                                "%s{\"status\":\"%s\",\"labels\":{\"alertname\":\"%s\","
                                "%s%s%s\"severity\":\"critical\"},"
                                "\"annotations\":{},\"startsAt\":\"%s\",\"endsAt\":\"%s\","
                                "\"generatorURL\":\"\"}",
                                first ? "" : ",", st, name, pod, node, svcl, at,
                                strcmp(st, "resolved") == 0 ? at : "0001-01-01T00:00:00Z");
        first = 0;
    }
    snprintf(body + len, sizeof body - len, "]}");
    if (webhook_parse(&wh, body, strlen(body), engine_pool(e), &err) != 0)
        fail_msg("webhook: %s: %s", err.source, err.msg);
    return wh;
}

/* T as the specs' startsAt: RFC 3339 with ':' written '_'. */
static inline void spec_time(int64_t t, char *at, size_t n)
{
    alert_time_format(t, at, n);
    for (char *p = at; *p; p++)
        if (*p == ':')
            *p = '_';
}

/* Take SPECS as one webhook of GROUP into E at NOW; it must be taken. */
static inline void spec_ingest(struct engine *e, const char *group, const char *specs,
                               int64_t now)
{
    struct webhook *wh = spec_webhook(e, group, specs);
    struct qerr err;

    assert_true(engine_ingest_webhook(e, wh, now, &err) >= 0);
    webhook_free(wh);
}

#endif
