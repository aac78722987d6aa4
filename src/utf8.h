/* utf8.h - the one check for well-formed UTF-8 (RFC 3629), for the places
 * that handle bytes before or without jansson: jdoc's strings and the
 * HTTP layer's error bodies. */
#ifndef QUENCH_UTF8_H
#define QUENCH_UTF8_H

#include <stddef.h>

/* Bytes of the well-formed multi-byte sequence at P (lead byte >= 0x80),
 * or 0 when it is not one: a stray continuation byte, an overlong form, a
 * UTF-16 surrogate, past U+10FFFF, or cut short by END. */
static inline size_t utf8_seq_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;

    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;          /* overlong */
    else if (c == 0xED)
        hi = 0x9F;          /* surrogates */
    else if (c == 0xF0)
        lo = 0x90;          /* overlong */
    else if (c == 0xF4)
        hi = 0x8F;          /* past U+10FFFF */
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

#endif
