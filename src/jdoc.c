/* jdoc.c - strict JSON decoding into a compact read-only tree.
 *
 * One recursive-descent pass over the bytes. A container's children are
 * parsed onto a shared stack of pending values; when it closes they move
 * to the arena as one contiguous array, so a value is copied once and a
 * document costs one arena, not one malloc per value. Strings are decoded
 * into one block of len + 1 bytes taken up front: a string's decoded bytes
 * plus its NUL never exceed its quoted form, so the block cannot overflow.
 *
 * Invariant (see jdoc.h): accept only what jansson accepts, with the same
 * values. Every rule below is jansson 2.14's (load.c, utf.c) for
 * json_loadb with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY: whitespace is
 * space, tab, CR, LF; strings are strict UTF-8 with no raw byte below 0x20,
 * the eight short escapes and \uXXXX with surrogates paired and no \u0000;
 * numbers per RFC 8259, integers within long long, reals not overflowing;
 * no duplicate member names; nothing but whitespace after the value.
 * Whenever in doubt, decline: the caller then asks jansson. */
#include "jdoc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "utf8.h"

/* First arena chunk when nothing is known about the documents yet. */
#define CHUNK_MIN (64u * 1024)
/* Objects up to this many members are checked for duplicates pairwise;
 * bigger ones through a hash set (a 4 MiB object of tiny members must not
 * cost n^2 compares). */
#define DUP_PAIRWISE 16

struct chunk {
    struct chunk *next;
    size_t cap, used;
    max_align_t data[];
};

struct jdoc {
    struct chunk *chunks;      /* newest first */
    size_t arena_hint;         /* size for the next first chunk */
    struct jval *stack;        /* pending children of open containers */
    size_t stack_cap, top;
    uint32_t *set;             /* duplicate check of big objects */
    size_t set_cap;
    const char *p, *end;       /* the input being parsed */
    char *s;                   /* next free byte of the string block */
    int depth;                 /* deepest container level seen */
};

/* ---- memory --------------------------------------------------------------- */

/* Drop every value, keeping one chunk's worth of capacity (at most
 * QUENCH_JDOC_KEEP_BYTES) as the next first chunk's size. */
static void arena_reset(struct jdoc *d)
{
    size_t total = 0;
    struct chunk *c = d->chunks, *next;

    if (c != NULL && c->next == NULL && c->cap <= QUENCH_JDOC_KEEP_BYTES) {
        c->used = 0;
        return;
    }
    for (; c != NULL; c = next) {
        next = c->next;
        total += c->cap;
        free(c);
    }
    d->chunks = NULL;
    if (total > 0)
        d->arena_hint = total < QUENCH_JDOC_KEEP_BYTES ? total : QUENCH_JDOC_KEEP_BYTES;
}

/* SIZE bytes, aligned for any value, valid until the next reset. */
static void *arena_alloc(struct jdoc *d, size_t size)
{
    struct chunk *c = d->chunks;
    size_t need = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t), cap;
    void *p;

    if (c == NULL || c->cap - c->used < need * sizeof(max_align_t)) {
        cap = c != NULL ? c->cap * 2 : d->arena_hint;
        if (cap < need * sizeof(max_align_t))
            cap = need * sizeof(max_align_t);
        c = malloc(sizeof *c + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = d->chunks;
        d->chunks = c;
    }
    p = (char *)c->data + c->used;
    c->used += need * sizeof(max_align_t);
    return p;
}

/* Room for one more pending value. 0, or -1 (out of memory). */
static int stack_reserve(struct jdoc *d)
{
    size_t cap;
    struct jval *s;

    if (d->top < d->stack_cap)
        return 0;
    cap = d->stack_cap != 0 ? d->stack_cap * 2 : 256;
    s = realloc(d->stack, cap * sizeof *s);
    if (s == NULL)
        return -1;
    d->stack = s;
    d->stack_cap = cap;
    return 0;
}

/* Ready D for a new document. */
static void doc_reset(struct jdoc *d)
{
    arena_reset(d);
    d->top = 0;
    d->depth = 0;
    /* The stack and the set only grow with one document's shape; a huge
     * one's are not kept. */
    if (d->stack_cap * sizeof *d->stack > QUENCH_JDOC_KEEP_BYTES) {
        free(d->stack);
        d->stack = NULL;
        d->stack_cap = 0;
    }
    if (d->set_cap * sizeof *d->set > QUENCH_JDOC_KEEP_BYTES) {
        free(d->set);
        d->set = NULL;
        d->set_cap = 0;
    }
}

int jdoc_new(struct jdoc **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return -1;
    (*out)->arena_hint = CHUNK_MIN;
    return 0;
}

void jdoc_free(struct jdoc *d)
{
    if (d == NULL)
        return;
    for (struct chunk *c = d->chunks, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(d->stack);
    free(d->set);
    free(d);
}

int jdoc_depth(const struct jdoc *d)
{
    return d->depth;
}

const struct jval *jdoc_get(const struct jval *obj, const char *key, size_t klen)
{
    for (uint32_t i = 0; i < obj->n; i++) {
        const struct jval *m = &obj->u.kids[i];
        if (m->klen == klen && memcmp(m->key, key, klen) == 0)
            return m;
    }
    return NULL;
}

/* ---- lexing --------------------------------------------------------------- */

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void skip_ws(struct jdoc *d)
{
    const char *p = d->p;

    while (p < d->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    d->p = p;
}

/* True if some byte of W is below 0x20, 0x80 or above, '"' or '\\': the
 * bytes a string scan must stop at. The zero-byte tricks ("Bit Twiddling
 * Hacks": haszero, hasless) may misplace a hit but never miss one, and
 * only whether there is one matters here. */
static int word_special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');
    uint64_t hit = ((w - ones * 0x20) & ~w)           /* < 0x20 */
                   | ((quote - ones) & ~quote)       /* == '"' */
                   | ((bslash - ones) & ~bslash)     /* == '\\' */
                   | w;                              /* >= 0x80 */

    return (hit & high) != 0;
}

/* The four hex digits at P as a code unit, or -1. */
static long hex4(const char *p, const char *end)
{
    long v = 0;

    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* The \u escape at d->p (just past the backslash and 'u') as UTF-8 at
 * *dst. 0, or -1 (jansson's "invalid Unicode", "\u0000 is not allowed"). */
static int unicode_escape(struct jdoc *d, char **dst)
{
    long cp = hex4(d->p, d->end), lo;
    unsigned char *o = (unsigned char *)*dst;

    if (cp < 0 || cp == 0)
        return -1;
    d->p += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (d->end - d->p < 2 || d->p[0] != '\\' || d->p[1] != 'u')
            return -1;
        lo = hex4(d->p + 2, d->end);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return -1;
        d->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp < 0x80) {
        *o++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char)(0xC0 | (cp >> 6));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char)(0xE0 | (cp >> 12));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (unsigned char)(0xF0 | (cp >> 18));
        *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *dst = (char *)o;
    return 0;
}

/* The escape at d->p (just past the backslash) decoded at *dst. */
static int escape(struct jdoc *d, char **dst)
{
    char c;

    if (d->p >= d->end)
        return -1;
    c = *d->p++;
    switch (c) {
    case '"': case '\\': case '/': *(*dst)++ = c; return 0;
    case 'b': *(*dst)++ = '\b'; return 0;
    case 'f': *(*dst)++ = '\f'; return 0;
    case 'n': *(*dst)++ = '\n'; return 0;
    case 'r': *(*dst)++ = '\r'; return 0;
    case 't': *(*dst)++ = '\t'; return 0;
    case 'u': return unicode_escape(d, dst);
    default: return -1;
    }
}

/* The string at d->p (just past the opening quote), decoded into the
 * string block: *out (NUL-terminated) and *n. */
static int parse_string(struct jdoc *d, const char **out, uint32_t *n)
{
    const unsigned char *p = (const unsigned char *)d->p;
    const unsigned char *end = (const unsigned char *)d->end;
    char *start = d->s, *dst = d->s;

    for (;;) {
        const unsigned char *run;
        size_t k;

        /* Printable ASCII is the bulk: move it eight bytes at a time, then
         * byte by byte up to the byte that needs a look. */
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (word_special(w))
                break;
            memcpy(dst, p, 8);
            dst += 8;
            p += 8;
        }
        run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        memcpy(dst, run, (size_t)(p - run));
        dst += p - run;
        if (p >= end || *p < 0x20)
            return -1;
        if (*p == '"')
            break;
        if (*p == '\\') {
            d->p = (const char *)p + 1;
            if (escape(d, &dst) != 0)
                return -1;
            p = (const unsigned char *)d->p;
            continue;
        }
        k = utf8_seq_len(p, end);
        if (k == 0)
            return -1;
        memcpy(dst, p, k);
        dst += k;
        p += k;
    }
    *dst++ = '\0';
    d->p = (const char *)p + 1;
    d->s = dst;
    *out = start;
    *n = (uint32_t)(dst - 1 - start);
    return 0;
}

/* The number at d->p into V: an integer when it has neither fraction nor
 * exponent (jansson's rule, so "1.0" stays a real). */
static int parse_number(struct jdoc *d, struct jval *v)
{
    const char *s = d->p, *p = s, *end = d->end;
    char buf[QUENCH_MAX_JDOC_NUMBER + 1], *e;
    int real = 0;

    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && is_digit(*p)) {
        while (p < end && is_digit(*p))
            p++;
    } else {
        return -1;
    }
    if (p < end && *p == '.') {
        real = 1;
        if (++p >= end || !is_digit(*p))
            return -1;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = 1;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return -1;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p - s > QUENCH_MAX_JDOC_NUMBER)
        return -1;
    memcpy(buf, s, (size_t)(p - s));
    buf[p - s] = '\0';
    errno = 0;
    if (!real) {
        v->type = JDOC_INTEGER;
        v->u.integer = strtoll(buf, &e, 10);
        if (errno == ERANGE)
            return -1;   /* jansson: "too big integer" */
    } else {
        v->type = JDOC_REAL;
        v->u.real = strtod(buf, &e);
        if (errno == ERANGE && (v->u.real == HUGE_VAL || v->u.real == -HUGE_VAL))
            return -1;   /* jansson: "real number overflow" */
    }
    if (*e != '\0')
        return -1;       /* a locale with another decimal point */
    d->p = p;
    return 0;
}

static int literal(struct jdoc *d, const char *word, size_t n, enum jdoc_type t,
                   struct jval *v)
{
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
        return -1;
    d->p += n;
    v->type = (uint8_t)t;
    return 0;
}

/* ---- containers ----------------------------------------------------------- */

static uint32_t key_hash(const struct jval *m)
{
    uint32_t h = 2166136261u;

    for (uint32_t i = 0; i < m->klen; i++)
        h = (h ^ (unsigned char)m->key[i]) * 16777619u;
    return h;
}

static int same_key(const struct jval *a, const struct jval *b)
{
    return a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
}

/* True if two of the N members at M share a name (jansson's
 * JSON_REJECT_DUPLICATES), or memory ran out, or a probe chain grew past
 * QUENCH_JDOC_MAX_PROBES: declined each time. The hash is unseeded (so
 * replay stays deterministic), which lets a sender pick names that all
 * land in one chain and make this quadratic; declining hands such a body
 * to jansson, whose hash is seeded, at jansson's speed. */
static int has_duplicate(struct jdoc *d, const struct jval *m, size_t n)
{
    size_t cap = 64, mask;

    if (n <= DUP_PAIRWISE) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (same_key(&m[i], &m[j]))
                    return 1;
        return 0;
    }
    while (cap < 2 * n)
        cap *= 2;
    if (cap > d->set_cap) {
        uint32_t *s = realloc(d->set, cap * sizeof *s);
        if (s == NULL)
            return 1;
        d->set = s;
        d->set_cap = cap;
    }
    mask = cap - 1;
    memset(d->set, 0xFF, cap * sizeof *d->set);
    for (size_t i = 0; i < n; i++) {
        size_t h = key_hash(&m[i]) & mask;
        unsigned probes = 0;
        for (; d->set[h] != UINT32_MAX; h = (h + 1) & mask)
            if (same_key(&m[i], &m[d->set[h]]) || ++probes > QUENCH_JDOC_MAX_PROBES)
                return 1;
        d->set[h] = (uint32_t)i;
    }
    return 0;
}

/* Move the pending values from BASE up into the arena as V's children. */
static int close_container(struct jdoc *d, size_t base, struct jval *v)
{
    size_t n = d->top - base;
    struct jval *kids = NULL;

    /* n > 1: fewer members cannot repeat one, and with none the stack may
     * not exist yet (&NULL[0] is undefined) */
    if (v->type == JDOC_OBJECT && n > 1 && has_duplicate(d, &d->stack[base], n))
        return -1;
    if (n > 0) {
        kids = arena_alloc(d, n * sizeof *kids);
        if (kids == NULL)
            return -1;
        memcpy(kids, &d->stack[base], n * sizeof *kids);
    }
    d->top = base;
    v->u.kids = kids;
    v->n = (uint32_t)n;
    return 0;
}

static int parse_value(struct jdoc *d, struct jval *v, int level);

/* The array or object at d->p (just past its bracket) at LEVEL into V. */
static int parse_container(struct jdoc *d, struct jval *v, int level)
{
    int obj = v->type == JDOC_OBJECT;
    char close = obj ? '}' : ']';
    size_t base = d->top;

    if (level > QUENCH_MAX_JDOC_DEPTH)
        return -1;
    if (level > d->depth)
        d->depth = level;
    skip_ws(d);
    if (d->p < d->end && *d->p == close) {
        d->p++;
        return close_container(d, base, v);
    }
    for (;;) {
        struct jval kid = {0};

        if (obj) {
            if (d->p >= d->end || *d->p != '"')
                return -1;
            d->p++;
            if (parse_string(d, &kid.key, &kid.klen) != 0)
                return -1;
            skip_ws(d);
            if (d->p >= d->end || *d->p != ':')
                return -1;
            d->p++;
            skip_ws(d);
        }
        if (parse_value(d, &kid, level) != 0 || stack_reserve(d) != 0)
            return -1;
        d->stack[d->top++] = kid;
        skip_ws(d);
        if (d->p >= d->end)
            return -1;
        if (*d->p == close) {
            d->p++;
            return close_container(d, base, v);
        }
        if (*d->p != ',')
            return -1;
        d->p++;
        skip_ws(d);
    }
}

/* The value at d->p (no whitespace before it) into V, whose key the
 * caller set. LEVEL is the level of the container holding it. */
static int parse_value(struct jdoc *d, struct jval *v, int level)
{
    if (d->p >= d->end)
        return -1;
    switch (*d->p) {
    case '{':
    case '[':
        v->type = *d->p == '{' ? JDOC_OBJECT : JDOC_ARRAY;
        d->p++;
        return parse_container(d, v, level + 1);
    case '"':
        v->type = JDOC_STRING;
        d->p++;
        return parse_string(d, &v->u.str, &v->n);
    case 't':
        return literal(d, "true", 4, JDOC_TRUE, v);
    case 'f':
        return literal(d, "false", 5, JDOC_FALSE, v);
    case 'n':
        return literal(d, "null", 4, JDOC_NULL, v);
    default:
        return parse_number(d, v);
    }
}

static struct jval *parse_doc(struct jdoc *d, const char *buf, size_t len)
{
    struct jval *root;

    if (len >= UINT32_MAX)
        return NULL;
    root = arena_alloc(d, sizeof *root);
    d->s = arena_alloc(d, len + 1);
    if (root == NULL || d->s == NULL)
        return NULL;
    memset(root, 0, sizeof *root);
    d->p = buf;
    d->end = buf + len;
    skip_ws(d);
    if (parse_value(d, root, 0) != 0)
        return NULL;
    skip_ws(d);
    if (d->p != d->end)
        return NULL;
    return root;
}

const struct jval *jdoc_parse(struct jdoc *d, const char *buf, size_t len)
{
    struct jval *root;

    doc_reset(d);
    root = parse_doc(d, buf, len);
    /* Declined: the caller's next step is jansson on the same bytes, so
     * what a huge document took here is given back first (else both
     * decoders' peaks add up: 149 MB for 4 MiB of zeros and a long
     * number at the end). */
    if (root == NULL)
        doc_reset(d);
    return root;
}

/* A raw NUL at BUF[0..len) as jansson would report an error there. */
static int nul_error(const char *buf, size_t len, json_error_t *jerr)
{
    const char *nul = memchr(buf, '\0', len), *bol = buf;
    int line = 1;

    if (nul == NULL)
        return 0;
    for (const char *q = buf; q < nul; q++)
        if (*q == '\n') {
            line++;
            bol = q + 1;
        }
    memset(jerr, 0, sizeof *jerr);
    jerr->line = line;
    jerr->column = (int)(nul - bol) + 1;
    jerr->position = (int)(nul - buf);
    snprintf(jerr->text, sizeof jerr->text, "NUL byte at offset %zu", (size_t)(nul - buf));
    return 1;
}

const struct jval *jdoc_decode(struct jdoc *d, const char *buf, size_t len,
                               size_t flags, json_error_t *jerr)
{
    const struct jval *root = jdoc_parse(d, buf, len);
    json_t *j;

    if (root != NULL && ((flags & JSON_DECODE_ANY) || root->type == JDOC_OBJECT ||
                         root->type == JDOC_ARRAY))
        return root;
    /* Declined (or a scalar jansson would refuse): jansson decides, and
     * says why in its own words. */
    memset(jerr, 0, sizeof *jerr);
    j = json_loadb(buf, len, flags | JSON_REJECT_DUPLICATES, jerr);
    if (j == NULL)
        return NULL;
    if (nul_error(buf, len, jerr)) {
        json_decref(j);
        return NULL;
    }
    /* Valid, but past what jdoc decodes itself (deep, long numbers). */
    root = jdoc_from_json(d, j);
    json_decref(j);
    if (root == NULL)
        jerr->text[0] = '\0';
    return root;
}

/* ---- from jansson --------------------------------------------------------- */

static const char *copy_str(struct jdoc *d, const char *s, size_t n)
{
    char *p = arena_alloc(d, n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* V (at LEVEL, the root's container level being 1) into OUT. */
static int from_json(struct jdoc *d, const json_t *v, struct jval *out, int level)
{
    size_t n = 0, i = 0;
    struct jval *kids;

    switch (json_typeof(v)) {
    case JSON_STRING:
        out->type = JDOC_STRING;
        out->n = (uint32_t)json_string_length(v);
        out->u.str = copy_str(d, json_string_value(v), out->n);
        return out->u.str == NULL ? -1 : 0;
    case JSON_INTEGER:
        out->type = JDOC_INTEGER;
        out->u.integer = json_integer_value(v);
        return 0;
    case JSON_REAL:
        out->type = JDOC_REAL;
        out->u.real = json_real_value(v);
        return 0;
    case JSON_TRUE: out->type = JDOC_TRUE; return 0;
    case JSON_FALSE: out->type = JDOC_FALSE; return 0;
    case JSON_NULL: out->type = JDOC_NULL; return 0;
    case JSON_ARRAY: out->type = JDOC_ARRAY; n = json_array_size(v); break;
    case JSON_OBJECT: out->type = JDOC_OBJECT; n = json_object_size(v); break;
    }
    if (level > d->depth)
        d->depth = level;
    kids = n > 0 ? arena_alloc(d, n * sizeof *kids) : NULL;
    if (n > 0 && kids == NULL)
        return -1;
    if (n > 0)
        memset(kids, 0, n * sizeof *kids);
    out->u.kids = kids;
    out->n = (uint32_t)n;
    if (out->type == JDOC_ARRAY) {
        for (i = 0; i < n; i++)
            if (from_json(d, json_array_get(v, i), &kids[i], level + 1) != 0)
                return -1;
        return 0;
    }
    /* jansson iterates a non-const object; this only reads it. Its order
     * is insertion order, which is document order. */
    for (void *it = json_object_iter((json_t *)v); it != NULL && i < n;
         it = json_object_iter_next((json_t *)v, it), i++) {
        kids[i].klen = (uint32_t)json_object_iter_key_len(it);
        kids[i].key = copy_str(d, json_object_iter_key(it), kids[i].klen);
        if (kids[i].key == NULL ||
            from_json(d, json_object_iter_value(it), &kids[i], level + 1) != 0)
            return -1;
    }
    return 0;
}

const struct jval *jdoc_from_json(struct jdoc *d, const json_t *v)
{
    struct jval *root;

    doc_reset(d);
    if (v == NULL)
        return NULL;
    root = arena_alloc(d, sizeof *root);
    if (root == NULL)
        return NULL;
    memset(root, 0, sizeof *root);
    return from_json(d, v, root, 1) == 0 ? root : NULL;
}
