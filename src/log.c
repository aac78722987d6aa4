/* log.c - JSON lines on stderr. The one module that prints.
 *
 * Each line is built whole in a stack buffer and handed to a single
 * write(2) on fd 2, so lines from this process and from children sharing
 * the descriptor never interleave mid-line (pipes guarantee that up to
 * PIPE_BUF; files opened O_APPEND, as container runtimes do, in practice
 * for any size). stdio is not used: its buffer would split long lines
 * into several writes and would need flushing before fork.
 *
 * The message is escaped as JSON: quotes, backslash and control characters
 * are escaped, valid UTF-8 passes through, and every byte that is not part
 * of a valid UTF-8 sequence becomes \ufffd, so a hostile label value cannot
 * break the line or a log shipper's JSON parser. errno is preserved. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "limits.h"

enum log_level log_current_level = LOG_INFO;

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
    [LOG_OFF] = "off",
};

int log_level_parse(const char *s, enum log_level *out)
{
    int i;

    if (s == NULL)
        return -1;
    for (i = LOG_DEBUG; i <= LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_set_level(enum log_level l)
{
    if (l >= LOG_DEBUG && l <= LOG_OFF)
        log_current_level = l;
}

/* Length of the valid UTF-8 sequence at S (1..4), or 0 if S[0] does not
 * start one within N bytes. Overlong forms, surrogates and code points
 * past U+10FFFF are invalid (RFC 3629). */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len, i;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

/* Escape S[0..n) into OUT (room for 6 bytes per input byte). Returns the
 * bytes written. */
static size_t json_escape(char *out, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t len;

        switch (c) {
        case '"':  *o++ = '\\'; *o++ = '"';  i++; continue;
        case '\\': *o++ = '\\'; *o++ = '\\'; i++; continue;
        case '\b': *o++ = '\\'; *o++ = 'b';  i++; continue;
        case '\f': *o++ = '\\'; *o++ = 'f';  i++; continue;
        case '\n': *o++ = '\\'; *o++ = 'n';  i++; continue;
        case '\r': *o++ = '\\'; *o++ = 'r';  i++; continue;
        case '\t': *o++ = '\\'; *o++ = 't';  i++; continue;
        default:   break;
        }
        if (c < 0x20 || c == 0x7f) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 0xf];
            o += 6;
            i++;
            continue;
        }
        len = utf8_valid(s + i, n - i);
        if (len == 0) {
            memcpy(o, "\\ufffd", 6);
            o += 6;
            i++;
            continue;
        }
        memcpy(o, s + i, len);
        o += len;
        i += len;
    }
    return (size_t)(o - out);
}

/* When vsnprintf cut the message, drop a UTF-8 sequence split by the cut
 * so truncation alone never produces \ufffd. */
static size_t utf8_trim_partial(const unsigned char *s, size_t n)
{
    size_t back;

    for (back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = s[n - back];
        if ((c & 0xc0) == 0x80)
            continue;               /* continuation: keep looking for the lead */
        if (c >= 0xc0 && utf8_valid(s + n - back, back) == 0)
            return n - back;        /* lead byte of an incomplete sequence */
        break;
    }
    return n;
}

void log_write(enum log_level l, const char *fmt, ...)
{
    char msg[QUENCH_MAX_LOG_MSG];
    static const char cut[] = " [truncated]";
    /* ts + level + keys are < 96 bytes; the message escapes to at most 6x. */
    char line[96 + 6 * (sizeof msg + sizeof cut)];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t n, len;
    int saved_errno = errno;
    int r;

    if (l < LOG_DEBUG || l >= LOG_OFF || l < log_current_level)
        return;
    va_start(ap, fmt);
    r = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r < 0) {
        r = 0;
        msg[0] = '\0';
    }
    n = (size_t)r;
    if (n >= sizeof msg)
        n = utf8_trim_partial((const unsigned char *)msg, sizeof msg - 1);

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = strftime(line, 64, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t)snprintf(line + len, sizeof line - len,
                            ".%03ldZ\",\"level\":\"%s\",\"msg\":\"",
                            ts.tv_nsec / 1000000L, level_names[l]);
    len += json_escape(line + len, (const unsigned char *)msg, n);
    if ((size_t)r >= sizeof msg) {
        memcpy(line + len, cut, sizeof cut - 1);
        len += sizeof cut - 1;
    }
    memcpy(line + len, "\"}\n", 3);
    len += 3;

    /* Retry on EINTR and finish a short write; the line is still one
     * write(2) unless the kernel splits it, which it does not for pipes
     * under PIPE_BUF or regular files. Nothing to do on error: the logger
     * has nowhere to report its own failure. */
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(STDERR_FILENO, line + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        off += (size_t)w;
    }
    errno = saved_errno;
}
