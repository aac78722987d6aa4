/* redis_server.h - a throwaway redis-server for unit tests: a private temp
 * dir, a unix socket, no persistence, DEBUG enabled (for DEBUG SLEEP).
 * Header-only (static inline) so test_redis_ev.c and test_archive.c share
 * it without a library. */
#ifndef QUENCH_TEST_REDIS_SERVER_H
#define QUENCH_TEST_REDIS_SERVER_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>

struct test_redis {
    pid_t pid;
    char dir[64];
    char sock[128];
    char pass[32];          /* requirepass, "" for none */
};

static inline int test_redis_available(void)
{
    return access("/usr/bin/redis-server", X_OK) == 0;
}

static inline void test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* A blocking connection to T (authenticated), or NULL. */
static inline redisContext *test_redis_connect(const struct test_redis *t)
{
    redisContext *c = redisConnectUnix(t->sock);
    redisReply *r;

    if (c == NULL || c->err) {
        redisFree(c);
        return NULL;
    }
    if (t->pass[0]) {
        r = redisCommand(c, "AUTH %s", t->pass);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    return c;
}

/* (Re)start the server for T; T->dir is made on the first call. 0 once it
 * answers PING, -1 otherwise. */
static inline int test_redis_spawn(struct test_redis *t)
{
    redisContext *c;

    if (t->dir[0] == 0) {
        snprintf(t->dir, sizeof t->dir, "/tmp/quench-ut-XXXXXX");
        if (mkdtemp(t->dir) == NULL)
            return -1;
        snprintf(t->sock, sizeof t->sock, "%s/redis.sock", t->dir);
    }
    t->pid = fork();
    if (t->pid < 0)
        return -1;
    if (t->pid == 0) {
        char log[128];
        const char *argv[32];
        int n = 0;

        snprintf(log, sizeof log, "%s/redis.log", t->dir);
        argv[n++] = "redis-server";
        argv[n++] = "--port"; argv[n++] = "0";
        argv[n++] = "--unixsocket"; argv[n++] = t->sock;
        argv[n++] = "--unixsocketperm"; argv[n++] = "700";
        argv[n++] = "--dir"; argv[n++] = t->dir;
        argv[n++] = "--save"; argv[n++] = "";
        argv[n++] = "--appendonly"; argv[n++] = "no";
        argv[n++] = "--enable-debug-command"; argv[n++] = "yes";
        argv[n++] = "--logfile"; argv[n++] = log;
        if (t->pass[0]) {
            argv[n++] = "--requirepass"; argv[n++] = t->pass;
        }
        argv[n] = NULL;
        execv("/usr/bin/redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        c = test_redis_connect(t);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;

            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        }
        test_sleep_ms(10);
    }
    return -1;
}

/* Stop the server (SIGKILL when HARD, else SIGTERM) and wait for it. */
static inline void test_redis_kill(struct test_redis *t, int hard)
{
    if (t->pid > 0) {
        kill(t->pid, hard ? SIGKILL : SIGTERM);
        waitpid(t->pid, NULL, 0);
        t->pid = 0;
    }
    unlink(t->sock);
}

/* Stop the server and remove its directory. */
static inline void test_redis_stop(struct test_redis *t)
{
    char path[192];

    test_redis_kill(t, 1);
    if (t->dir[0]) {
        snprintf(path, sizeof path, "%s/redis.log", t->dir);
        unlink(path);
        rmdir(t->dir);
        t->dir[0] = 0;
    }
}

/* Run a blocking command against T; the reply (caller frees) or NULL. */
static inline redisReply *test_redis_cmd(const struct test_redis *t,
                                         const char *fmt, const char *arg)
{
    redisContext *c = test_redis_connect(t);
    redisReply *r;

    if (c == NULL)
        return NULL;
    r = arg ? redisCommand(c, fmt, arg) : redisCommand(c, fmt);
    redisFree(c);
    return r;
}

static inline void test_loop_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop; (void)w; (void)revents;
}

/* Run LOOP until *FLAG >= WANT (FLAG NULL: never) or MS pass. A 5 ms timer
 * keeps EVRUN_ONCE from blocking past the deadline. */
static inline void test_loop_until(struct ev_loop *loop, const int *flag,
                                   int want, double ms)
{
    ev_timer t;
    ev_tstamp end;

    ev_timer_init(&t, test_loop_tick, 0.005, 0.005);
    ev_timer_start(loop, &t);
    ev_now_update(loop);
    end = ev_now(loop) + ms / 1000.0;
    while ((flag == NULL || *flag < want) && ev_now(loop) < end)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
}

#endif
