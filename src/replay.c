/* replay.c - the replay consumer and `quench replay`.
 *
 * Virtual clock: each record's received_at is `now`. Before a record is
 * ingested the engine ticks to it, so incidents close exactly when they
 * would have live; at the end of input replay_finish ticks to the end of
 * time (see replay.h for what that means for closed_at). Nothing here reads
 * the wall clock, so two runs on the same input and rules give the same
 * bytes.
 *
 * An invalid record is reported with its line number and skipped; the
 * command then exits 1 without a report, after listing every problem, so a
 * broken archive is fixed in one pass. */
#include "replay.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "jdoc.h"
#include "limits.h"
#include "webhook.h"

#ifndef QUENCH_VERSION
#define QUENCH_VERSION "0.0.0"
#endif

/* stdio buffer for the input. An archive runs to gigabytes; stdio's
 * default (st_blksize, 4 KiB here) costs a read(2) per few records. */
#define REPLAY_READ_BUF (1u << 20)

struct replay {
    struct topology *t;
    struct engine *e;
    struct jdoc *doc;             /* the current record, reused */
    uint64_t records, alerts;
};

int replay_new(struct replay **out, struct topology *t, const struct rules *r)
{
    struct replay *rp = calloc(1, sizeof *rp);

    *out = NULL;
    if (rp == NULL)
        return -1;
    rp->t = t;
    if (jdoc_new(&rp->doc) < 0) {
        free(rp);
        return -1;
    }
    if (engine_new(&rp->e, t, r) < 0) {
        jdoc_free(rp->doc);
        free(rp);
        return -1;
    }
    *out = rp;
    return 0;
}

void replay_free(struct replay *rp)
{
    if (rp == NULL)
        return;
    engine_free(rp->e);
    jdoc_free(rp->doc);
    free(rp);
}

struct engine *replay_engine(struct replay *rp)
{
    return rp->e;
}

uint64_t replay_records(const struct replay *rp)
{
    return rp->records;
}

uint64_t replay_alerts(const struct replay *rp)
{
    return rp->alerts;
}

/* LINE decoded into rp->doc (jdoc_decode, replay's flags: no
 * JSON_DECODE_ANY, a scalar record is "not JSON"). The record, or NULL
 * with ERR set. */
static const struct jval *decode_record(struct replay *rp, const char *line, size_t len,
                                        struct qerr *err)
{
    json_error_t jerr;
    const struct jval *root = jdoc_decode(rp->doc, line, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL && jerr.text[0] == '\0')
        qerr_set(err, NULL, 0, 0, "out of memory");
    else if (root == NULL)
        qerr_set(err, NULL, 0, 0, "not JSON: %s (column %d)", jerr.text, jerr.column);
    return root;
}

int replay_record(struct replay *rp, const char *line, size_t len,
                  struct qerr *err)
{
    const struct jval *root, *ra, *payload;
    struct webhook *wh = NULL;
    struct qerr werr;
    int64_t now;
    int rc = -1;

    if (len > QUENCH_MAX_REPLAY_LINE) {
        qerr_set(err, NULL, 0, 0, "record longer than %u bytes",
                 (unsigned)QUENCH_MAX_REPLAY_LINE);
        goto out;
    }
    root = decode_record(rp, line, len, err);
    if (root == NULL)
        goto out;
    if (root->type != JDOC_OBJECT) {
        qerr_set(err, NULL, 0, 0, "record is not a JSON object");
        goto out;
    }
    ra = jdoc_get(root, "received_at", 11);
    if (ra == NULL || ra->type != JDOC_STRING ||
        alert_time_parse(ra->u.str, ra->n, &now) < 0 || now == ALERT_NO_END) {
        qerr_set(err, NULL, 0, 0,
                 "received_at missing or not an RFC 3339 time");
        goto out;
    }
    payload = jdoc_get(root, "payload", 7);
    if (payload == NULL) {
        qerr_set(err, NULL, 0, 0, "payload missing");
        goto out;
    }
    if (webhook_parse_doc(&wh, rp->doc, payload, engine_pool(rp->e), &werr) < 0) {
        qerr_set(err, NULL, 0, 0, "payload: %s%s%s", werr.source,
                 werr.source[0] ? ": " : "", werr.msg);
        goto out;
    }
    engine_tick(rp->e, now);
    if (engine_ingest_webhook(rp->e, wh, now, &werr) < 0) {
        qerr_set(err, NULL, 0, 0, "%s", werr.msg);
        goto out;
    }
    rp->records++;
    rp->alerts += wh->nalerts;
    rc = 0;
out:
    webhook_free(wh);
    return rc;
}

void replay_finish(struct replay *rp)
{
    engine_tick(rp->e, INT64_MAX);
}

json_t *replay_report_json(struct replay *rp)
{
    json_t *o = json_object(), *in = json_object(), *arr = json_array();
    uint32_t *slots = NULL;
    size_t n = 0;

    if (o == NULL || in == NULL || arr == NULL) {
        json_decref(in);
        json_decref(arr);
        goto fail;
    }
    if (json_object_set_new(o, "quench_version", json_string(QUENCH_VERSION)) < 0 ||
        json_object_set_new(o, "input", in) < 0 ||
        json_object_set_new(in, "records", json_integer((json_int_t)rp->records)) < 0 ||
        json_object_set_new(in, "alerts", json_integer((json_int_t)rp->alerts)) < 0 ||
        json_object_set_new(o, "incidents", arr) < 0)
        goto fail;
    if (engine_list(rp->e, &slots, &n) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        json_t *inc = engine_incident_json(rp->e, slots[i]);
        if (inc == NULL || json_array_append_new(arr, inc) < 0)
            goto fail;
    }
    free(slots);
    return o;
fail:
    free(slots);
    json_decref(o);
    return NULL;
}

/* ---- text and html ------------------------------------------------------- */

static const char *str_or(const json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static void write_text(FILE *f, const json_t *report)
{
    const json_t *in = json_object_get(report, "input");
    const json_t *incs = json_object_get(report, "incidents"), *inc;
    size_t i;

    fprintf(f, "quench %s replay: %lld records, %lld alerts, %zu incidents\n",
            str_or(json_object_get(report, "quench_version"), "?"),
            (long long)json_integer_value(json_object_get(in, "records")),
            (long long)json_integer_value(json_object_get(in, "alerts")),
            json_array_size(incs));
    json_array_foreach(incs, i, inc) {
        const json_t *ents = json_object_get(inc, "entities");
        const json_t *rcs = json_object_get(inc, "root_causes"), *x;
        size_t j;

        fprintf(f, "\n%s  opened %s, %s%s\n",
                str_or(json_object_get(inc, "id"), "?"),
                str_or(json_object_get(inc, "opened_at"), "?"),
                json_is_string(json_object_get(inc, "closed_at")) ? "closed " : "still open",
                str_or(json_object_get(inc, "closed_at"), ""));
        fprintf(f, "  %lld alerts on %zu entities:",
                (long long)json_integer_value(json_object_get(inc, "alert_count")),
                json_array_size(ents));
        json_array_foreach(ents, j, x) {
            if (j == 12) {
                fprintf(f, " (+%zu more)", json_array_size(ents) - j);
                break;
            }
            fprintf(f, "%s %s %s", j ? "," : "",
                    str_or(json_object_get(x, "kind"), "?"),
                    str_or(json_object_get(x, "name"), "?"));
        }
        fputc('\n', f);
        if (json_array_size(rcs) == 0) {
            fprintf(f, "  no ranked cause\n");
            continue;
        }
        fprintf(f, "  likely causes:\n");
        json_array_foreach(rcs, j, x) {
            const json_t *ev = json_object_get(x, "evidence"), *p = json_object_get(x, "path"), *y;
            const json_t *ent = json_object_get(x, "entity");
            size_t k;
            if (j == 5)
                break;
            fprintf(f, "   %zu. %s %s  score %.2f  confidence %.2f\n", j + 1,
                    str_or(json_object_get(ent, "kind"), "?"),
                    str_or(json_object_get(ent, "name"), "?"),
                    json_number_value(json_object_get(x, "score")),
                    json_number_value(json_object_get(x, "confidence")));
            json_array_foreach(ev, k, y)
                fprintf(f, "      - %s\n", str_or(y, ""));
            if (json_array_size(p) > 1) {
                fprintf(f, "      path:");
                json_array_foreach(p, k, y)
                    fprintf(f, "%s %s", k ? " ->" : "", str_or(y, ""));
                fputc('\n', f);
            }
        }
    }
}

static void html_escape(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* The incident's entities on a circle, with the graph's edges between them
 * (arrows point caller -> callee) and the top cause in red. */
static void html_graph(FILE *f, const struct topology *t, const json_t *inc)
{
    const json_t *ents = json_object_get(inc, "entities"), *x;
    const json_t *rc0 = json_array_get(json_object_get(inc, "root_causes"), 0);
    const char *top = str_or(json_object_get(json_object_get(rc0, "entity"), "name"), "");
    size_t n = json_array_size(ents), i;
    int32_t *ids;
    const double cx = 300, cy = 220, rad = 170, pi = 3.14159265358979;

    if (n == 0 || n > 80)
        return;   /* a picture of more is noise; the table lists them */
    ids = malloc(n * sizeof *ids);
    if (ids == NULL)
        return;
    fputs("<svg width=\"600\" height=\"440\" xmlns=\"http://www.w3.org/2000/svg\">\n"
          "<defs><marker id=\"a\" markerWidth=\"8\" markerHeight=\"8\" refX=\"8\" "
          "refY=\"4\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#888\"/>"
          "</marker></defs>\n", f);
    json_array_foreach(ents, i, x) {
        enum entity_kind k = ENTITY_SERVICE;
        (void)entity_kind_parse(str_or(json_object_get(x, "kind"), ""), &k);
        ids[i] = topology_find(t, k, str_or(json_object_get(x, "name"), ""));
    }
    for (i = 0; i < n; i++) {
        const uint32_t *out;
        size_t no;
        if (ids[i] < 0)
            continue;
        no = topology_out(t, (uint32_t)ids[i], &out);
        for (size_t j = 0; j < n; j++) {
            if (ids[j] < 0 || i == j)
                continue;
            for (size_t k = 0; k < no; k++) {
                if (out[k] != (uint32_t)ids[j])
                    continue;
                double a1 = 2 * pi * (double)i / (double)n, a2 = 2 * pi * (double)j / (double)n;
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                           "stroke=\"#888\" marker-end=\"url(#a)\"/>\n",
                        cx + rad * cos(a1), cy + rad * sin(a1),
                        cx + rad * 0.95 * cos(a2), cy + rad * 0.95 * sin(a2));
            }
        }
    }
    json_array_foreach(ents, i, x) {
        const char *name = str_or(json_object_get(x, "name"), "");
        double a = 2 * pi * (double)i / (double)n;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">",
                cx + rad * cos(a), cy + rad * sin(a),
                strcmp(name, top) == 0 ? "#d33" : "#36c",
                cx + rad * cos(a) + 8, cy + rad * sin(a) + 3);
        html_escape(f, name);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    free(ids);
}

static void write_html(FILE *f, const json_t *report, const struct topology *t)
{
    const json_t *in = json_object_get(report, "input");
    const json_t *incs = json_object_get(report, "incidents"), *inc;
    size_t i;

    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
          "<title>quench replay</title><style>"
          "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left}"
          "h2{font-family:monospace}</style></head><body>\n", f);
    fprintf(f, "<h1>quench replay</h1><p>%lld records, %lld alerts, %zu incidents</p>\n",
            (long long)json_integer_value(json_object_get(in, "records")),
            (long long)json_integer_value(json_object_get(in, "alerts")),
            json_array_size(incs));
    json_array_foreach(incs, i, inc) {
        const json_t *rcs = json_object_get(inc, "root_causes"), *x;
        size_t j;
        fputs("<h2>", f);
        html_escape(f, str_or(json_object_get(inc, "id"), ""));
        fputs("</h2><p>opened ", f);
        html_escape(f, str_or(json_object_get(inc, "opened_at"), ""));
        fputs(", ", f);
        html_escape(f, json_is_string(json_object_get(inc, "closed_at"))
                           ? str_or(json_object_get(inc, "closed_at"), "")
                           : "still open");
        fprintf(f, "; %lld alerts, %zu entities</p>\n",
                (long long)json_integer_value(json_object_get(inc, "alert_count")),
                json_array_size(json_object_get(inc, "entities")));
        html_graph(f, t, inc);
        fputs("<table><tr><th>#</th><th>cause</th><th>score</th><th>confidence</th>"
              "<th>evidence</th></tr>\n", f);
        json_array_foreach(rcs, j, x) {
            const json_t *ent = json_object_get(x, "entity"), *ev = json_object_get(x, "evidence"), *y;
            size_t k;
            fprintf(f, "<tr><td>%zu</td><td>", j + 1);
            html_escape(f, str_or(json_object_get(ent, "kind"), ""));
            fputc(' ', f);
            html_escape(f, str_or(json_object_get(ent, "name"), ""));
            fprintf(f, "</td><td>%.3f</td><td>%.2f</td><td>",
                    json_number_value(json_object_get(x, "score")),
                    json_number_value(json_object_get(x, "confidence")));
            json_array_foreach(ev, k, y) {
                html_escape(f, str_or(y, ""));
                fputs("<br>", f);
            }
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    fputs("</body></html>\n", f);
}

/* ---- baseline diff --------------------------------------------------------- */

static const char *top_cause(const json_t *inc)
{
    const json_t *rc0 = json_array_get(json_object_get(inc, "root_causes"), 0);
    return str_or(json_object_get(json_object_get(rc0, "entity"), "name"), "-");
}

static const char *closed_str(const json_t *inc)
{
    return str_or(json_object_get(inc, "closed_at"), "open");
}

/* What changed from BASE to CUR, one line each; returns the count. */
static size_t write_diff(FILE *f, const json_t *base, const json_t *cur)
{
    const json_t *bi = json_object_get(base, "incidents");
    const json_t *ci = json_object_get(cur, "incidents"), *x, *y;
    size_t i, j, changes = 0;

    json_array_foreach(ci, i, x) {
        const char *id = str_or(json_object_get(x, "id"), "");
        const json_t *match = NULL;
        json_array_foreach(bi, j, y)
            if (strcmp(str_or(json_object_get(y, "id"), ""), id) == 0) {
                match = y;
                break;
            }
        if (match == NULL) {
            fprintf(f, "+ %s new: %lld alerts, top cause %s\n", id,
                    (long long)json_integer_value(json_object_get(x, "alert_count")),
                    top_cause(x));
            changes++;
            continue;
        }
        if (json_integer_value(json_object_get(x, "alert_count")) !=
            json_integer_value(json_object_get(match, "alert_count"))) {
            fprintf(f, "~ %s alert_count %lld -> %lld\n", id,
                    (long long)json_integer_value(json_object_get(match, "alert_count")),
                    (long long)json_integer_value(json_object_get(x, "alert_count")));
            changes++;
        }
        if (strcmp(closed_str(x), closed_str(match)) != 0) {
            fprintf(f, "~ %s closed_at %s -> %s\n", id, closed_str(match), closed_str(x));
            changes++;
        }
        if (strcmp(top_cause(x), top_cause(match)) != 0) {
            fprintf(f, "~ %s top cause %s -> %s\n", id, top_cause(match), top_cause(x));
            changes++;
        }
        if (json_array_size(json_object_get(x, "proposals")) !=
            json_array_size(json_object_get(match, "proposals"))) {
            fprintf(f, "~ %s proposals %zu -> %zu\n", id,
                    json_array_size(json_object_get(match, "proposals")),
                    json_array_size(json_object_get(x, "proposals")));
            changes++;
        }
    }
    json_array_foreach(bi, j, y) {
        const char *id = str_or(json_object_get(y, "id"), "");
        int found = 0;
        json_array_foreach(ci, i, x)
            if (strcmp(str_or(json_object_get(x, "id"), ""), id) == 0) {
                found = 1;
                break;
            }
        if (!found) {
            fprintf(f, "- %s gone (had %lld alerts, top cause %s)\n", id,
                    (long long)json_integer_value(json_object_get(y, "alert_count")),
                    top_cause(y));
            changes++;
        }
    }
    return changes;
}

/* ---- the command ----------------------------------------------------------- */

static const char replay_usage[] =
    "usage: quench replay [--config F] [--rules DIR] [--playbooks DIR] "
    "--input FILE.jsonl\n"
    "                     [--format json|text|html] [--baseline REPORT.json] "
    "[--out FILE]\n";

/* A usage error: one line, as every quench command reports them. */
static int usage(const char *msg)
{
    fprintf(stderr, "quench replay: %s (quench replay --help)\n", msg);
    return 2;
}

static void print_qerr(const struct qerr *e)
{
    char buf[1024];
    qerr_format(e, buf, sizeof buf);
    fprintf(stderr, "%s\n", buf);
}

int replay_main(int argc, char **argv)
{
    const char *config = NULL, *rules_dir = NULL, *input = NULL;
    const char *format = "json", *baseline = NULL, *outpath = NULL;
    /* Accepted now so scripts are stable; read once playbooks land. */
    const char *playbooks = NULL;
    struct config *cfg = NULL;
    struct rules *r = NULL;
    struct topology *t = NULL;
    struct replay *rp = NULL;
    json_t *report = NULL, *base = NULL;
    FILE *in = NULL, *out = NULL;
    char *line = NULL, *inbuf = NULL;
    size_t cap = 0, lineno = 0, bad = 0;
    ssize_t len;
    int rc = 1;
    char rules_buf[QUENCH_PATH_MAX];

    /* argv[0] is "replay" (or the program name): options follow. */
    for (int i = 1; i < argc; i++) {
        static const char *const names[] = {"--config", "--rules", "--playbooks",
                                            "--input", "--format", "--baseline", "--out"};
        const char **dst[] = {&config, &rules_dir, &playbooks, &input, &format,
                              &baseline, &outpath};
        int m = 0;

        if (cli_is_help(argv[i])) {
            fputs("quench replay: run an exported archive through the engine "
                  "on a virtual clock (no Redis, no cluster, no network)\n", stdout);
            fputs(replay_usage, stdout);
            return 0;
        }
        for (size_t k = 0; m == 0 && k < sizeof names / sizeof names[0]; k++)
            m = cli_opt_value(argc, argv, &i, names[k], dst[k]);
        if (m <= 0) {
            char msg[300];
            snprintf(msg, sizeof msg, m < 0 ? "%.200s needs a value"
                                            : "unknown argument '%.200s'", argv[i]);
            return usage(msg);
        }
    }
    if (input == NULL)
        return usage("--input is required");
    (void)playbooks;
    if (strcmp(format, "json") != 0 && strcmp(format, "text") != 0 &&
        strcmp(format, "html") != 0)
        return usage("--format must be json, text or html");

    if (config != NULL) {
        struct qerr err;
        /* replay talks to nothing, so it reads no secret: the
         * production config works on a laptop without them */
        if (config_load_opts(&cfg, config, getenv, CONFIG_NO_SECRETS, &err) < 0) {
            print_qerr(&err);
            goto out;
        }
        if (rules_dir == NULL)
            rules_dir = cfg->rules_dir;
    }
    if (rules_dir == NULL)
        rules_dir = config_data_dir("rules", rules_buf, sizeof rules_buf);
    {
        struct qerr err;
        if (rules_load_dir(rules_dir, &r, &t, &err) < 0) {
            print_qerr(&err);
            goto out;
        }
    }
    if (baseline != NULL) {
        json_error_t jerr;
        base = json_load_file(baseline, 0, &jerr);
        if (base == NULL) {
            fprintf(stderr, "%s:%d: %s\n", baseline, jerr.line, jerr.text);
            goto out;
        }
    }
    in = fopen(input, "r");
    if (in == NULL) {
        fprintf(stderr, "%s: %s\n", input, strerror(errno));
        goto out;
    }
    /* Without the buffer stdio's own default does, only slower. */
    inbuf = malloc(REPLAY_READ_BUF);
    if (inbuf != NULL && setvbuf(in, inbuf, _IOFBF, REPLAY_READ_BUF) != 0) {
        free(inbuf);
        inbuf = NULL;
    }
    if (replay_new(&rp, t, r) < 0) {
        fprintf(stderr, "quench replay: out of memory\n");
        goto out;
    }
    while ((len = getline(&line, &cap, in)) >= 0) {
        struct qerr err;
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (strspn(line, " \t") == (size_t)len)
            continue;           /* blank lines carry no record */
        if (replay_record(rp, line, (size_t)len, &err) < 0) {
            fprintf(stderr, "%s:%zu: %s\n", input, lineno, err.msg);
            bad++;
        }
    }
    if (ferror(in)) {
        fprintf(stderr, "%s: %s\n", input, strerror(errno));
        goto out;
    }
    if (bad > 0)
        goto out;
    replay_finish(rp);
    report = replay_report_json(rp);
    if (report == NULL) {
        fprintf(stderr, "quench replay: out of memory\n");
        goto out;
    }
    out = outpath ? fopen(outpath, "w") : stdout;
    if (out == NULL) {
        fprintf(stderr, "%s: %s\n", outpath, strerror(errno));
        goto out;
    }
    if (strcmp(format, "json") == 0) {
        if (json_dumpf(report, out, REPLAY_JSON_FLAGS) < 0)
            goto write_error;
        fputc('\n', out);
    } else if (strcmp(format, "text") == 0) {
        write_text(out, report);
    } else {
        write_html(out, report, t);
    }
    if (base != NULL) {
        size_t n;
        fprintf(stderr, "baseline %s:\n", baseline);
        n = write_diff(stderr, base, report);
        fprintf(stderr, "%zu change%s\n", n, n == 1 ? "" : "s");
    }
    if (fflush(out) != 0 || ferror(out))
        goto write_error;
    rc = 0;
    goto out;
write_error:
    fprintf(stderr, "%s: write failed: %s\n", outpath ? outpath : "stdout",
            strerror(errno));
out:
    if (out != NULL && out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "%s: %s\n", outpath, strerror(errno));
        rc = 1;
    }
    if (in != NULL)
        fclose(in);
    free(inbuf);   /* after fclose: stdio uses it until then */
    free(line);
    json_decref(report);
    json_decref(base);
    replay_free(rp);
    topology_free(t);
    rules_free(r);
    config_free(cfg);
    return rc;
}
