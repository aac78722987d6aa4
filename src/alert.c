/* alert.c - the alert model: an intern pool for label strings, alert
 * arrays, the Alertmanager fingerprint, RFC 3339 times and entity kinds.
 *
 * Invariants. The intern pool is an open-addressing hash set (linear
 * probing, load <= 3/4) of {pointer, length, hash tag} slots; the strings
 * themselves sit NUL-terminated in big arena chunks that are never moved or
 * freed before intern_free, which is what lets every caller hold a bare
 * `const char *` and compare interned strings by pointer. An alert's label
 * and annotation arrays are sorted by name, so lookups are binary searches
 * and the fingerprint needs no sort. Times are int64 ms since the epoch,
 * computed from the civil date by arithmetic alone (no mktime, no TZ). */
#include "alert.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <inttypes.h>

/* ---- interned strings -------------------------------------------------- */

/* Strings live in chunks of this many bytes. A label set of ~6 pairs uses
 * ~100 B of new strings, so one chunk serves hundreds of alerts and the
 * unused tail of the current chunk is noise next to the goal of 1 KiB per
 * alert. Strings above a quarter chunk get a chunk of their own so a large
 * annotation cannot waste most of a shared chunk. */
#define INTERN_CHUNK (64u * 1024)
#define INTERN_BIG (INTERN_CHUNK / 4)
#define INTERN_MIN_SLOTS 256u

struct intern_chunk {
    struct intern_chunk *next;
    size_t used;
    size_t cap;
    char data[];
};

struct intern_slot {
    const char *s;       /* NULL = empty slot */
    uint32_t len;
    uint32_t tag;        /* high 32 bits of the hash: cheap reject */
};

struct intern {
    uint64_t key[2];             /* SipHash key, random per pool */
    struct intern_slot *slots;
    size_t mask;                 /* slot count - 1, a power of two */
    size_t count;
    struct intern_chunk *chunks; /* head is the chunk being filled */
    size_t chunk_bytes;          /* every chunk allocation, headers included */
};

/* SipHash-1-3 keyed with a random per-pool key. Label values come from
 * whoever can reach the webhook; with an unkeyed hash they could pick
 * strings that all land in one probe run and make every insert linear in
 * the pool size. The key never affects output: the pool is never iterated,
 * so replay stays byte-identical. */
#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                            \
    do {                                                                    \
        v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);      \
        v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                           \
        v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                           \
        v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);      \
    } while (0)

static uint64_t siphash13(const uint64_t key[2], const char *s, size_t len)
{
    const unsigned char *m = (const unsigned char *)s;
    uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
    uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
    uint64_t v3 = 0x7465646279746573ULL ^ key[1];
    uint64_t b = (uint64_t)len << 56;
    size_t end = len - len % 8;

    for (size_t i = 0; i < end; i += 8) {
        uint64_t w = 0;
        for (int j = 7; j >= 0; j--)
            w = (w << 8) | m[i + (size_t)j];
        v3 ^= w;
        SIPROUND;
        v0 ^= w;
    }
    for (size_t j = 0; j < len % 8; j++)
        b |= (uint64_t)m[end + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

int intern_new(struct intern **out)
{
    struct intern *p = calloc(1, sizeof *p);

    *out = NULL;
    if (p == NULL)
        return -1;
    p->slots = calloc(INTERN_MIN_SLOTS, sizeof *p->slots);
    if (p->slots == NULL) {
        free(p);
        return -1;
    }
    p->mask = INTERN_MIN_SLOTS - 1;
    arc4random_buf(p->key, sizeof p->key);
    *out = p;
    return 0;
}

void intern_free(struct intern *p)
{
    struct intern_chunk *c, *next;

    if (p == NULL)
        return;
    for (c = p->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(p->slots);
    free(p);
}

size_t intern_bytes(const struct intern *p)
{
    return sizeof *p + (p->mask + 1) * sizeof *p->slots + p->chunk_bytes;
}

static int intern_grow(struct intern *p)
{
    size_t n = (p->mask + 1) * 2;
    struct intern_slot *slots = calloc(n, sizeof *slots);

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i <= p->mask; i++) {
        const struct intern_slot *o = &p->slots[i];
        if (o->s == NULL)
            continue;
        /* Rehash from the string: the slot keeps only the high half. */
        size_t j = (size_t)siphash13(p->key, o->s, o->len) & (n - 1);
        while (slots[j].s != NULL)
            j = (j + 1) & (n - 1);
        slots[j] = *o;
    }
    free(p->slots);
    p->slots = slots;
    p->mask = n - 1;
    return 0;
}

/* Room for LEN+1 bytes in the arena, or NULL on OOM. */
static char *intern_alloc(struct intern *p, size_t len)
{
    struct intern_chunk *c = p->chunks;
    size_t need = len + 1;

    if (need > INTERN_BIG) {
        struct intern_chunk *big = malloc(sizeof *big + need);
        if (big == NULL)
            return NULL;
        big->used = big->cap = need;
        /* Behind the head, so the chunk being filled stays the head. */
        if (c != NULL) {
            big->next = c->next;
            c->next = big;
        } else {
            big->next = NULL;
            p->chunks = big;
        }
        p->chunk_bytes += sizeof *big + need;
        return big->data;
    }
    if (c == NULL || c->cap - c->used < need) {
        c = malloc(sizeof *c + INTERN_CHUNK);
        if (c == NULL)
            return NULL;
        c->used = 0;
        c->cap = INTERN_CHUNK;
        c->next = p->chunks;
        p->chunks = c;
        p->chunk_bytes += sizeof *c + INTERN_CHUNK;
    }
    c->used += need;
    return c->data + c->used - need;
}

const char *intern_str(struct intern *p, const char *s, size_t len)
{
    uint64_t h;
    uint32_t tag;
    size_t i;
    char *copy;

    if (len >= UINT32_MAX)
        return NULL;
    h = siphash13(p->key, s, len);
    tag = (uint32_t)(h >> 32);
    for (i = (size_t)h & p->mask; p->slots[i].s != NULL; i = (i + 1) & p->mask) {
        const struct intern_slot *sl = &p->slots[i];
        if (sl->tag == tag && sl->len == len && memcmp(sl->s, s, len) == 0)
            return sl->s;
    }
    /* Grow before inserting so load stays <= 3/4 and probes stay short. */
    if ((p->count + 1) * 4 > (p->mask + 1) * 3) {
        if (intern_grow(p) != 0)
            return NULL;
        for (i = (size_t)h & p->mask; p->slots[i].s != NULL; i = (i + 1) & p->mask)
            ;
    }
    copy = intern_alloc(p, len);
    if (copy == NULL)
        return NULL;
    if (len > 0)
        memcpy(copy, s, len);
    copy[len] = '\0';
    p->slots[i].s = copy;
    p->slots[i].len = (uint32_t)len;
    p->slots[i].tag = tag;
    p->count++;
    return copy;
}

/* ---- alerts ------------------------------------------------------------ */

void alert_cleanup(struct alert *a)
{
    if (a == NULL)
        return;
    free(a->labels);
    free(a->annotations);
    a->labels = NULL;
    a->annotations = NULL;
    a->nlabels = 0;
    a->nannotations = 0;
}

static struct label *labels_dup(const struct label *l, size_t n, int *rc)
{
    struct label *d;

    *rc = 0;
    if (n == 0)
        return NULL;
    d = malloc(n * sizeof *d);
    if (d == NULL) {
        *rc = -1;
        return NULL;
    }
    memcpy(d, l, n * sizeof *d);
    return d;
}

int alert_copy(struct alert *dst, const struct alert *src)
{
    struct alert tmp = *src;
    int rc;

    tmp.labels = labels_dup(src->labels, src->nlabels, &rc);
    if (rc != 0)
        return -1;
    tmp.annotations = labels_dup(src->annotations, src->nannotations, &rc);
    if (rc != 0) {
        free(tmp.labels);
        return -1;
    }
    *dst = tmp;
    return 0;
}

static const char *labels_find(const struct label *l, size_t n, const char *name)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, l[mid].name);
        if (c == 0)
            return l[mid].value;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *alert_label(const struct alert *a, const char *name)
{
    return labels_find(a->labels, a->nlabels, name);
}

const char *alert_annotation(const struct alert *a, const char *name)
{
    return labels_find(a->annotations, a->nannotations, name);
}

static int label_cmp(const void *x, const void *y)
{
    /* strcmp compares as unsigned char, i.e. bytewise like Go. */
    return strcmp(((const struct label *)x)->name, ((const struct label *)y)->name);
}

void alert_labels_sort(struct label *l, size_t n)
{
    if (n > 1)
        qsort(l, n, sizeof *l, label_cmp);
}

#define FNV_BASIS 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv_str(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t alert_fingerprint(const struct label *l, size_t n)
{
    uint64_t h = FNV_BASIS;

    for (size_t i = 0; i < n; i++) {
        /* Alertmanager drops empty-valued labels before hashing. */
        if (l[i].value[0] == '\0')
            continue;
        h = fnv_str(h, l[i].name);
        h ^= 0xFF;
        h *= FNV_PRIME;
        h = fnv_str(h, l[i].value);
        h ^= 0xFF;
        h *= FNV_PRIME;
    }
    return h;
}

void alert_fingerprint_format(uint64_t fp, char out[17])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 15; i >= 0; i--) {
        out[i] = hex[fp & 0xF];
        fp >>= 4;
    }
    out[16] = '\0';
}

int alert_fingerprint_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 16; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;   /* also stops at a NUL before 16 digits */
        v = (v << 4) | d;
    }
    if (s[16] != '\0')
        return -1;
    *out = v;
    return 0;
}

/* ---- times ------------------------------------------------------------- */

#define MS_PER_DAY 86400000LL
/* 0001-01-01T00:00:00Z, Go's zero time, in ms since the epoch. */
#define GO_ZERO_TIME_MS (-62135596800000LL)
/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: RFC 3339's range. */
#define MIN_TIME_MS (-62167219200000LL)
#define MAX_TIME_MS 253402300799999LL

/* Days since 1970-01-01 of the proleptic Gregorian date Y-M-D (H. Hinnant,
 * "chrono-compatible low-level date algorithms"). Exact for any year that
 * fits, with no time_t and no time zone involved. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* N decimal digits at S into *OUT. 0, or -1 if any is not a digit. */
static int parse_digits(const char *s, int n, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int alert_time_parse(const char *s, size_t len, int64_t *ms)
{
    unsigned year, mon, day, hour, min, sec, oh, om, frac_ms = 0;
    size_t i = 19;
    int64_t secs, offset = 0;

    /* YYYY-MM-DDTHH:MM:SS is fixed width: check separators, then fields. */
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't')
        || s[13] != ':' || s[16] != ':')
        return -1;
    if (parse_digits(s, 4, &year) || parse_digits(s + 5, 2, &mon)
        || parse_digits(s + 8, 2, &day) || parse_digits(s + 11, 2, &hour)
        || parse_digits(s + 14, 2, &min) || parse_digits(s + 17, 2, &sec))
        return -1;
    /* Go refuses second 60, so Alertmanager never sends a leap second. */
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon)
        || hour > 23 || min > 59 || sec > 59)
        return -1;
    if (s[i] == '.') {
        size_t start = ++i;
        unsigned scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_ms += (unsigned)(s[i] - '0') * scale;   /* truncate to ms */
            scale /= 10;
            i++;
        }
        if (i == start || i - start > 9)
            return -1;
    }
    if (i >= len)
        return -1;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (len - i < 6 || s[i + 3] != ':' || parse_digits(s + i + 1, 2, &oh)
            || parse_digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset = ((int64_t)oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -1;
    }
    if (i != len)
        return -1;
    /* Local time minus its offset is UTC. */
    secs = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - offset;
    /* An offset can push the instant out of years 0..9999, which Go
     * refuses to encode and alert_time_format could not write back. */
    if (secs * 1000 + frac_ms < MIN_TIME_MS || secs * 1000 + frac_ms > MAX_TIME_MS)
        return -1;
    *ms = secs * 1000 + frac_ms;
    if (*ms == GO_ZERO_TIME_MS)
        *ms = ALERT_NO_END;
    return 0;
}

int alert_time_format(int64_t ms, char *out, size_t cap)
{
    int64_t days, rem, y;
    unsigned m, d, msec, s;

    if (ms == ALERT_NO_END)
        return snprintf(out, cap, "0001-01-01T00:00:00Z");
    days = ms / MS_PER_DAY;
    rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    msec = (unsigned)(rem % 1000);
    s = (unsigned)(rem / 1000);
    if (msec == 0)
        return snprintf(out, cap, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02uZ",
                        y, m, d, s / 3600, s / 60 % 60, s % 60);
    return snprintf(out, cap, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ",
                    y, m, d, s / 3600, s / 60 % 60, s % 60, msec);
}

/* ---- entities ---------------------------------------------------------- */

static const char *const entity_names[ENTITY_KIND_COUNT] = {
    [ENTITY_SERVICE] = "service",
    [ENTITY_DATABASE] = "database",
    [ENTITY_CACHE] = "cache",
    [ENTITY_QUEUE] = "queue",
    [ENTITY_EXTERNAL] = "external",
    [ENTITY_POD] = "pod",
    [ENTITY_NODE] = "node",
};

const char *entity_kind_name(enum entity_kind k)
{
    if ((unsigned)k >= ENTITY_KIND_COUNT)
        return "unknown";
    return entity_names[k];
}

int entity_kind_parse(const char *s, enum entity_kind *out)
{
    for (unsigned k = 0; k < ENTITY_KIND_COUNT; k++) {
        if (strcmp(s, entity_names[k]) == 0) {
            *out = (enum entity_kind)k;
            return 0;
        }
    }
    return -1;
}

int entity_kind_is_service_like(enum entity_kind k)
{
    /* The service-like kinds come first in the enum. */
    return (unsigned)k <= ENTITY_EXTERNAL;
}
