/* http_client.h - the raw HTTP/1.1 client the HTTP-facing unit tests run
 * in a thread of their own (test_http.c, test_api.c, test_ingest.c): bytes
 * out exactly as written, one response read back without reading past it.
 * Static inline: each test uses what it needs. The client never asserts
 * (cmocka is not thread-safe); it returns what it saw.
 *
 * Every call retries on EINTR: a socket with SO_RCVTIMEO is never
 * restarted after a signal (signal(7)), and a test that SIGSTOPs its
 * redis-server gets a SIGCHLD that the kernel may hand to this thread
 * while the main thread has every signal blocked (inside pthread_create);
 * recv then returned -1 with no byte read (test_free_while_pending, about
 * 1 in 1,000 runs under load). */
#ifndef QUENCH_TEST_HTTP_CLIENT_H
#define QUENCH_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* strcasestr without _GNU_SOURCE. */
static inline const char *ci_find(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Receives on FD give up after MS. */
static inline void cl_timeout(int fd, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* A connection to loopback PORT (FAMILY AF_INET or AF_INET6), 5 s receive
 * timeout, no Nagle; -1 if it cannot be made. */
static inline int cl_connect_to(int family, unsigned port)
{
    int fd = socket(family, SOCK_STREAM, 0), one = 1, rc;

    if (fd < 0)
        return -1;
    cl_timeout(fd, 5000);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (family == AF_INET6) {
        struct sockaddr_in6 a;
        memset(&a, 0, sizeof a);
        a.sin6_family = AF_INET6;
        a.sin6_port = htons((uint16_t)port);
        a.sin6_addr = in6addr_loopback;
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* All of S[0..n) to FD, or as much as the peer takes before it closes. */
static inline void cl_send(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* One response into BUF (NUL-terminated): the header block, then
 * Content-Length bytes of body unless HEAD (a HEAD request's answer has
 * none). Length, 0 on EOF before any byte, -1 on error or timeout. */
static inline ssize_t cl_read_response_head(int fd, char *buf, size_t cap, bool head)
{
    size_t len = 0, body = 0;
    const char *cl;

    buf[0] = '\0';
    while (strstr(buf, "\r\n\r\n") == NULL) {
        ssize_t n;

        if (len + 1 >= cap)
            return -1;
        n = recv(fd, buf + len, 1, 0);   /* byte by byte: no overread */
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return len == 0 ? 0 : -1;
        if (n < 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
    }
    cl = ci_find(buf, "\r\nContent-Length:");
    if (cl != NULL && !head)
        body = strtoul(cl + 17, NULL, 10);
    while (body > 0) {
        ssize_t n;

        if (len + 1 >= cap)
            return -1;
        n = recv(fd, buf + len, body < cap - len - 1 ? body : cap - len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        body -= (size_t)n;
        buf[len] = '\0';
    }
    return (ssize_t)len;
}

static inline ssize_t cl_read_response(int fd, char *buf, size_t cap)
{
    return cl_read_response_head(fd, buf, cap, false);
}

#endif
