/* ytree.c - libyaml events folded into a positioned tree.
 *
 * Invariant: a struct ytree_doc owns every node, pair array, item array and
 * scalar string through one bump arena, so ytree_free is a walk over arena
 * blocks and a half-built tree (error mid-parse) needs no special cleanup.
 * Growable vectors used while a map or sequence is being read are plain
 * malloc and are copied into the arena once the collection ends.
 *
 * Refused on purpose: anchors and aliases (a billion-laughs document is a
 * few lines of aliases), tags (our formats are untyped YAML), a second
 * document (a stray `---` usually means two files were concatenated),
 * non-scalar keys and duplicate keys (libyaml keeps both; the last would
 * silently win). Errors never echo scalar values: a misplaced secret must
 * not reach a log through an error message. */
#include "ytree.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "limits.h"

#define ARENA_BLOCK (16u * 1024)

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

struct ytree_doc {
    struct arena_block *blocks;
    struct ytree_node *root;
    char *source;
};

static void *arena_alloc(struct ytree_doc *d, size_t n)
{
    const size_t align = alignof(max_align_t);
    struct arena_block *b = d->blocks;
    size_t need = (n + align - 1) / align * align;

    if (need < n)
        return NULL;
    if (b == NULL || b->cap - b->used < need) {
        size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        if (cap > SIZE_MAX - sizeof *b)
            return NULL;
        b = malloc(sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = d->blocks;
        d->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

void ytree_free(struct ytree_doc *d)
{
    if (d == NULL)
        return;
    struct arena_block *b = d->blocks;
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(d->source);
    free(d);
}

const struct ytree_node *ytree_root(const struct ytree_doc *d)
{
    return d ? d->root : NULL;
}

const char *ytree_source(const struct ytree_doc *d)
{
    return d ? d->source : "";
}

/* ---- building ----------------------------------------------------------- */

struct builder {
    struct ytree_doc *d;
    yaml_parser_t parser;
    const char *buf;        /* for turning reader-error offsets into lines */
    size_t len;
    struct qerr *err;
};

static int at_mark(struct builder *b, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int at_mark(struct builder *b, yaml_mark_t m, const char *fmt, ...)
{
    char msg[sizeof b->err->msg];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qerr_set(b->err, b->d->source, (int)m.line + 1, (int)m.column + 1,
                    "%s", msg);
}

/* libyaml's reader errors carry a byte offset, not a mark. */
static void offset_to_pos(const char *buf, size_t len, size_t off, int *line,
                          int *col)
{
    size_t i, bol = 0;

    *line = 1;
    if (off > len)
        off = len;
    for (i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            (*line)++;
            bol = i + 1;
        }
    }
    *col = (int)(off - bol) + 1;
}

static int parser_error(struct builder *b)
{
    yaml_parser_t *p = &b->parser;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    int line, col;

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return qerr_set(b->err, b->d->source, 0, 0, "out of memory parsing YAML");
    case YAML_READER_ERROR:
        offset_to_pos(b->buf, b->len, p->problem_offset, &line, &col);
        return qerr_set(b->err, b->d->source, line, col,
                        "YAML encoding error: %s", problem);
    default:
        if (p->context)
            return at_mark(b, p->problem_mark, "YAML syntax error: %s %s",
                           problem, p->context);
        return at_mark(b, p->problem_mark, "YAML syntax error: %s", problem);
    }
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev))
        return parser_error(b);
    return 0;
}

static struct ytree_node *new_node(struct builder *b, enum ytree_type t,
                                   yaml_mark_t m)
{
    struct ytree_node *n = arena_alloc(b->d, sizeof *n);

    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof *n);
    n->type = t;
    n->line = (int)m.line + 1;
    n->column = (int)m.column + 1;
    return n;
}

static int oom(struct builder *b)
{
    return qerr_set(b->err, b->d->source, 0, 0, "out of memory building YAML tree");
}

/* Refuse anchors and tags on the event that starts a node. */
static int check_plain_node(struct builder *b, const yaml_event_t *ev,
                            const yaml_char_t *anchor, const yaml_char_t *tag)
{
    if (anchor != NULL)
        return at_mark(b, ev->start_mark,
                       "anchors and aliases are not supported; write the value out");
    if (tag != NULL)
        return at_mark(b, ev->start_mark, "tags are not supported");
    return 0;
}

static int parse_node(struct builder *b, yaml_event_t *ev, unsigned depth,
                      struct ytree_node **out);

static int key_cmp_idx(const struct ytree_pair *pairs, size_t i, size_t j)
{
    const struct ytree_node *a = pairs[i].key, *k = pairs[j].key;
    size_t n = a->value_len < k->value_len ? a->value_len : k->value_len;
    int c = memcmp(a->value, k->value, n);

    if (c != 0)
        return c;
    if (a->value_len != k->value_len)
        return a->value_len < k->value_len ? -1 : 1;
    return i < j ? -1 : (i > j);
}

/* qsort has no context argument: sort indices with the pairs in a static
 * would not be reentrant, so sort (pointer, index) records instead. */
struct key_ref {
    const struct ytree_pair *pairs;
    size_t idx;
};

static int key_ref_cmp(const void *x, const void *y)
{
    const struct key_ref *a = x, *b = y;
    return key_cmp_idx(a->pairs, a->idx, b->idx);
}

/* Duplicate keys in O(n log n): maps in services.yaml can be large. The
 * error points at the later occurrence and names the earlier line. */
static int check_duplicates(struct builder *b, const struct ytree_pair *pairs,
                            size_t n)
{
    struct key_ref *refs;
    size_t i;
    int rc = 0;

    if (n < 2)
        return 0;
    refs = malloc(n * sizeof *refs);
    if (refs == NULL)
        return oom(b);
    for (i = 0; i < n; i++) {
        refs[i].pairs = pairs;
        refs[i].idx = i;
    }
    qsort(refs, n, sizeof *refs, key_ref_cmp);
    /* Within a run of equal keys the sort is by document order, so each
     * refs[i] that equals refs[i - 1] is a repeat; report the repeat that
     * comes first in the document, and the occurrence just before it. */
    size_t best = n;
    for (i = 1; i < n; i++) {
        const struct ytree_node *p = pairs[refs[i - 1].idx].key;
        const struct ytree_node *k = pairs[refs[i].idx].key;
        if (p->value_len == k->value_len &&
            memcmp(p->value, k->value, k->value_len) == 0 &&
            (best == n || refs[i].idx < refs[best].idx))
            best = i;
    }
    const struct ytree_node *dup = NULL, *orig = NULL;
    if (best < n) {
        dup = pairs[refs[best].idx].key;
        orig = pairs[refs[best - 1].idx].key;
    }
    if (dup != NULL)
        rc = qerr_set(b->err, b->d->source, dup->line, dup->column,
                      "duplicate key '%.*s' (first at line %d)",
                      dup->value_len > 64 ? 64 : (int)dup->value_len,
                      dup->value, orig->line);
    free(refs);
    return rc;
}

static int parse_map(struct builder *b, yaml_event_t *start, unsigned depth,
                     struct ytree_node **out)
{
    struct ytree_pair *pairs = NULL;
    size_t n = 0, cap = 0;
    struct ytree_node *node;
    yaml_event_t ev;
    int have_ev = 0;
    int rc = -1;

    node = new_node(b, YTREE_MAP, start->start_mark);
    if (node == NULL) {
        oom(b);
        goto out;
    }
    for (;;) {
        struct ytree_node *key = NULL, *value = NULL;

        if (next_event(b, &ev) < 0)
            goto out;
        have_ev = 1;
        if (ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (ev.type != YAML_SCALAR_EVENT &&
            ev.type != YAML_ALIAS_EVENT) {
            at_mark(b, ev.start_mark, "map keys must be scalars");
            goto out;
        }
        if (parse_node(b, &ev, depth + 1, &key) < 0)
            goto out;
        yaml_event_delete(&ev);
        have_ev = 0;

        if (next_event(b, &ev) < 0)
            goto out;
        have_ev = 1;
        if (parse_node(b, &ev, depth + 1, &value) < 0)
            goto out;
        yaml_event_delete(&ev);
        have_ev = 0;

        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct ytree_pair *np = realloc(pairs, ncap * sizeof *np);
            if (np == NULL) {
                oom(b);
                goto out;
            }
            pairs = np;
            cap = ncap;
        }
        pairs[n].key = key;
        pairs[n].value = value;
        n++;
    }
    if (check_duplicates(b, pairs, n) < 0)
        goto out;
    if (n > 0) {
        node->pairs = arena_alloc(b->d, n * sizeof *pairs);
        if (node->pairs == NULL) {
            oom(b);
            goto out;
        }
        memcpy(node->pairs, pairs, n * sizeof *pairs);
    }
    node->len = n;
    *out = node;
    rc = 0;
out:
    if (have_ev)
        yaml_event_delete(&ev);
    free(pairs);
    return rc;
}

static int parse_seq(struct builder *b, yaml_event_t *start, unsigned depth,
                     struct ytree_node **out)
{
    struct ytree_node **items = NULL;
    size_t n = 0, cap = 0;
    struct ytree_node *node;
    yaml_event_t ev;
    int have_ev = 0;
    int rc = -1;

    node = new_node(b, YTREE_SEQ, start->start_mark);
    if (node == NULL) {
        oom(b);
        goto out;
    }
    for (;;) {
        struct ytree_node *item = NULL;

        if (next_event(b, &ev) < 0)
            goto out;
        have_ev = 1;
        if (ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        if (parse_node(b, &ev, depth + 1, &item) < 0)
            goto out;
        yaml_event_delete(&ev);
        have_ev = 0;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct ytree_node **ni = realloc(items, ncap * sizeof *ni);
            if (ni == NULL) {
                oom(b);
                goto out;
            }
            items = ni;
            cap = ncap;
        }
        items[n++] = item;
    }
    if (n > 0) {
        node->items = arena_alloc(b->d, n * sizeof *items);
        if (node->items == NULL) {
            oom(b);
            goto out;
        }
        memcpy(node->items, items, n * sizeof *items);
    }
    node->len = n;
    *out = node;
    rc = 0;
out:
    if (have_ev)
        yaml_event_delete(&ev);
    free(items);
    return rc;
}

/* EV is the node's first event, owned by the caller. */
static int parse_node(struct builder *b, yaml_event_t *ev, unsigned depth,
                      struct ytree_node **out)
{
    struct ytree_node *n;
    char *s;

    if (depth > QUENCH_MAX_YAML_DEPTH)
        return at_mark(b, ev->start_mark, "nesting deeper than %d levels",
                       QUENCH_MAX_YAML_DEPTH);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return at_mark(b, ev->start_mark,
                       "anchors and aliases are not supported; write the value out");
    case YAML_MAPPING_START_EVENT:
        if (check_plain_node(b, ev, ev->data.mapping_start.anchor,
                             ev->data.mapping_start.tag) < 0)
            return -1;
        return parse_map(b, ev, depth, out);
    case YAML_SEQUENCE_START_EVENT:
        if (check_plain_node(b, ev, ev->data.sequence_start.anchor,
                             ev->data.sequence_start.tag) < 0)
            return -1;
        return parse_seq(b, ev, depth, out);
    case YAML_SCALAR_EVENT:
        if (check_plain_node(b, ev, ev->data.scalar.anchor,
                             ev->data.scalar.tag) < 0)
            return -1;
        n = new_node(b, YTREE_SCALAR, ev->start_mark);
        if (n == NULL)
            return oom(b);
        if (ev->data.scalar.length == SIZE_MAX)
            return oom(b);
        s = arena_alloc(b->d, ev->data.scalar.length + 1);
        if (s == NULL)
            return oom(b);
        memcpy(s, ev->data.scalar.value, ev->data.scalar.length);
        s[ev->data.scalar.length] = '\0';
        n->value = s;
        n->value_len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        *out = n;
        return 0;
    default:
        return at_mark(b, ev->start_mark, "unexpected YAML event");
    }
}

static int build(struct builder *b)
{
    yaml_event_t ev;
    int have_ev = 0, rc = -1;

    if (next_event(b, &ev) < 0)             /* STREAM-START */
        goto out;
    yaml_event_delete(&ev);
    if (next_event(b, &ev) < 0)
        goto out;
    have_ev = 1;
    if (ev.type == YAML_STREAM_END_EVENT) { /* empty file or only comments */
        rc = 0;
        goto out;
    }
    /* DOCUMENT-START, then the root node. */
    yaml_event_delete(&ev);
    have_ev = 0;
    if (next_event(b, &ev) < 0)
        goto out;
    have_ev = 1;
    if (parse_node(b, &ev, 1, &b->d->root) < 0)
        goto out;
    yaml_event_delete(&ev);
    have_ev = 0;
    if (next_event(b, &ev) < 0)             /* DOCUMENT-END */
        goto out;
    yaml_event_delete(&ev);
    if (next_event(b, &ev) < 0)
        goto out;
    have_ev = 1;
    if (ev.type == YAML_DOCUMENT_START_EVENT) {
        at_mark(b, ev.start_mark, "only one YAML document per file is allowed");
        goto out;
    }
    /* A lone `---` is a document holding an empty plain scalar: empty. */
    if (b->d->root->type == YTREE_SCALAR && b->d->root->plain &&
        b->d->root->value_len == 0)
        b->d->root = NULL;
    rc = 0;
out:
    if (have_ev)
        yaml_event_delete(&ev);
    return rc;
}

int ytree_load_buf(struct ytree_doc **out, const char *buf, size_t len,
                   const char *source, struct qerr *err)
{
    struct builder b;
    struct ytree_doc *d;

    *out = NULL;
    if (source == NULL)
        source = "";
    d = calloc(1, sizeof *d);
    if (d == NULL)
        return qerr_set(err, source, 0, 0, "out of memory");
    d->source = strdup(source);
    if (d->source == NULL) {
        free(d);
        return qerr_set(err, source, 0, 0, "out of memory");
    }
    if (len > QUENCH_MAX_YAML_BYTES) {
        qerr_set(err, source, 0, 0, "file larger than %u bytes",
                 (unsigned)QUENCH_MAX_YAML_BYTES);
        ytree_free(d);
        return -1;
    }
    memset(&b, 0, sizeof b);
    b.d = d;
    b.buf = buf;
    b.len = len;
    b.err = err;
    if (!yaml_parser_initialize(&b.parser)) {
        qerr_set(err, source, 0, 0, "out of memory");
        ytree_free(d);
        return -1;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)buf, len);
    int rc = build(&b);
    yaml_parser_delete(&b.parser);
    if (rc < 0) {
        ytree_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

int ytree_load_file(struct ytree_doc **out, const char *path, struct qerr *err)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int fd = -1, rc = -1;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        qerr_set(err, path, 0, 0, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        qerr_set(err, path, 0, 0, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        qerr_set(err, path, 0, 0, "not a regular file");
        goto out;
    }
    if ((unsigned long long)st.st_size > QUENCH_MAX_YAML_BYTES) {
        qerr_set(err, path, 0, 0, "file larger than %u bytes",
                 (unsigned)QUENCH_MAX_YAML_BYTES);
        goto out;
    }
    /* Read to EOF rather than trusting st_size: the file may be growing or
     * be a ConfigMap symlink swap in progress. One spare byte detects a
     * file that grew past the cap. */
    buf = malloc((size_t)QUENCH_MAX_YAML_BYTES + 1);
    if (buf == NULL) {
        qerr_set(err, path, 0, 0, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, (size_t)QUENCH_MAX_YAML_BYTES + 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            qerr_set(err, path, 0, 0, "cannot read: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > QUENCH_MAX_YAML_BYTES) {
            qerr_set(err, path, 0, 0, "file larger than %u bytes",
                     (unsigned)QUENCH_MAX_YAML_BYTES);
            goto out;
        }
    }
    rc = ytree_load_buf(out, buf, len, path, err);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* ---- reading -------------------------------------------------------------- */

const struct ytree_node *ytree_get(const struct ytree_node *map, const char *key)
{
    size_t i, klen;

    if (map == NULL || map->type != YTREE_MAP || key == NULL)
        return NULL;
    klen = strlen(key);
    for (i = 0; i < map->len; i++) {
        const struct ytree_node *k = map->pairs[i].key;
        if (k->value_len == klen && memcmp(k->value, key, klen) == 0)
            return map->pairs[i].value;
    }
    return NULL;
}

int ytree_is_null(const struct ytree_node *n)
{
    static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
    size_t i;

    if (n == NULL || n->type != YTREE_SCALAR || !n->plain)
        return 0;
    for (i = 0; nulls[i] != NULL; i++)
        if (strcmp(n->value, nulls[i]) == 0 && n->value_len == strlen(nulls[i]))
            return 1;
    return 0;
}

int ytree_error(const struct ytree_doc *d, const struct ytree_node *n,
                struct qerr *err, const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;

    if (err == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qerr_set(err, ytree_source(d), n ? n->line : 0, n ? n->column : 0,
                    "%s", msg);
}

static const char *type_name(const struct ytree_node *n)
{
    switch (n->type) {
    case YTREE_MAP: return "a map";
    case YTREE_SEQ: return "a list";
    default:        return "a scalar";
    }
}

int ytree_string(const struct ytree_doc *d, const struct ytree_node *n,
                 const char **out, struct qerr *err)
{
    if (n == NULL || n->type != YTREE_SCALAR)
        return ytree_error(d, n, err, "expected a string, got %s",
                           n ? type_name(n) : "nothing");
    if (memchr(n->value, '\0', n->value_len) != NULL)
        return ytree_error(d, n, err, "string contains a NUL character");
    *out = n->value;
    return 0;
}

int ytree_bool(const struct ytree_doc *d, const struct ytree_node *n,
               int *out, struct qerr *err)
{
    if (n != NULL && n->type == YTREE_SCALAR && n->plain) {
        if (strcmp(n->value, "true") == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(n->value, "false") == 0) {
            *out = 0;
            return 0;
        }
    }
    return ytree_error(d, n, err, "expected true or false");
}

/* A plain scalar, decimal, optional sign, nothing else: "010", "0x10",
 * " 5" and "5.0" are all refused rather than guessed at. */
int ytree_int(const struct ytree_doc *d, const struct ytree_node *n,
              int64_t min, int64_t max, int64_t *out, struct qerr *err)
{
    const char *s;
    char *end;
    long long v;

    if (n == NULL || n->type != YTREE_SCALAR || !n->plain || n->value_len == 0)
        goto bad;
    s = n->value;
    if (s[0] == '+' || s[0] == '-')
        s++;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
        goto bad;
    errno = 0;
    v = strtoll(n->value, &end, 10);
    if (*end != '\0' || end != n->value + n->value_len)
        goto bad;
    if (errno == ERANGE || v < min || v > max)
        return ytree_error(d, n, err, "integer out of range [%lld, %lld]",
                           (long long)min, (long long)max);
    *out = v;
    return 0;
bad:
    return ytree_error(d, n, err, "expected an integer");
}

int ytree_double(const struct ytree_doc *d, const struct ytree_node *n,
                 double min, double max, double *out, struct qerr *err)
{
    const char *s;
    char *end;
    double v;

    if (n == NULL || n->type != YTREE_SCALAR || !n->plain || n->value_len == 0)
        goto bad;
    s = n->value;
    if (s[0] == '+' || s[0] == '-')
        s++;
    /* strtod would take "nan", "inf", hex floats and leading spaces. */
    if (!((*s >= '0' && *s <= '9') || (*s == '.' && s[1] >= '0' && s[1] <= '9')))
        goto bad;
    if (strpbrk(s, "xX") != NULL)
        goto bad;
    errno = 0;
    v = strtod(n->value, &end);
    if (*end != '\0' || end != n->value + n->value_len)
        goto bad;
    if (errno == ERANGE || !isfinite(v) || v < min || v > max)
        return ytree_error(d, n, err, "number out of range [%g, %g]", min, max);
    *out = v;
    return 0;
bad:
    return ytree_error(d, n, err, "expected a number");
}

/* ---- durations -------------------------------------------------------- */

/* Units largest first; "ms" before "m" so the longer suffix wins. Parts
 * must come in strictly decreasing unit order ("1h30m", not "30m1h" or
 * "1m1m"), which catches most typos in hand-written sums. */
static const struct {
    const char *suffix;
    int64_t ms;
    int rank;
} duration_units[] = {
    { "d",  86400000, 5 },
    { "h",  3600000,  4 },
    { "ms", 1,        1 },
    { "m",  60000,    3 },
    { "s",  1000,     2 },
};

int ytree_parse_duration(const char *s, int64_t *ms)
{
    int64_t total = 0;
    int last_rank = 6;

    if (s == NULL || *s == '\0')
        return -1;
    while (*s != '\0') {
        int64_t v = 0;
        size_t u;
        int digits = 0;

        while (*s >= '0' && *s <= '9') {
            int dgt = *s - '0';
            if (v > (INT64_MAX - dgt) / 10)
                return -1;
            v = v * 10 + dgt;
            s++;
            digits++;
        }
        if (digits == 0)
            return -1;
        for (u = 0; u < sizeof duration_units / sizeof duration_units[0]; u++) {
            size_t sl = strlen(duration_units[u].suffix);
            if (strncmp(s, duration_units[u].suffix, sl) == 0 &&
                !(sl == 1 && s[0] == 'm' && s[1] == 's'))
                break;
        }
        if (u == sizeof duration_units / sizeof duration_units[0])
            return -1;
        if (duration_units[u].rank >= last_rank)
            return -1;
        last_rank = duration_units[u].rank;
        if (v > (INT64_MAX - total) / duration_units[u].ms)
            return -1;
        total += v * duration_units[u].ms;
        s += strlen(duration_units[u].suffix);
    }
    if (total <= 0)
        return -1;
    *ms = total;
    return 0;
}

int ytree_duration(const struct ytree_doc *d, const struct ytree_node *n,
                   int64_t *ms, struct qerr *err)
{
    if (n == NULL || n->type != YTREE_SCALAR ||
        memchr(n->value, '\0', n->value_len) != NULL ||
        ytree_parse_duration(n->value, ms) < 0)
        return ytree_error(d, n, err,
                           "expected a positive duration with a unit, like 500ms, "
                           "30s, 10m, 2h, 14d or 1h30m");
    return 0;
}

int ytree_check_keys(const struct ytree_doc *d, const struct ytree_node *map,
                     const char *const *allowed, struct qerr *err)
{
    size_t i, j;

    if (map == NULL || map->type != YTREE_MAP)
        return ytree_error(d, map, err, "expected a map, got %s",
                           map ? type_name(map) : "nothing");
    for (i = 0; i < map->len; i++) {
        const struct ytree_node *k = map->pairs[i].key;
        int found = 0;
        for (j = 0; allowed[j] != NULL && !found; j++)
            found = strlen(allowed[j]) == k->value_len &&
                    memcmp(allowed[j], k->value, k->value_len) == 0;
        if (!found)
            return ytree_error(d, k, err, "unknown key '%.*s'",
                               k->value_len > 64 ? 64 : (int)k->value_len,
                               k->value);
    }
    return 0;
}
