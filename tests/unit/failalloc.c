/* failalloc.c - the --wrap allocation functions of failalloc.h. */
#include "failalloc.h"

#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static int armed, sticky, fired;
static unsigned long target, count;

void failalloc_arm(unsigned long n, int stick)
{
    target = n;
    sticky = stick;
    count = 0;
    fired = 0;
    armed = 1;
}

int failalloc_disarm(void)
{
    armed = 0;
    return fired;
}

static int fail_now(void)
{
    if (!armed)
        return 0;
    count++;
    if (count == target || (sticky && count > target)) {
        fired = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : __real_strdup(s);
}
