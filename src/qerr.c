/* qerr.c - filling and printing the caller's error struct. */
#include "qerr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int qerr_set(struct qerr *e, const char *source, int line, int column,
             const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return -1;
    snprintf(e->source, sizeof e->source, "%s", source ? source : "");
    e->line = line;
    e->column = column;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void qerr_format(const struct qerr *e, char *out, unsigned long cap)
{
    if (cap == 0)
        return;
    if (e->source[0] && e->line > 0 && e->column > 0)
        snprintf(out, cap, "%s:%d:%d: %s", e->source, e->line, e->column, e->msg);
    else if (e->source[0] && e->line > 0)
        snprintf(out, cap, "%s:%d: %s", e->source, e->line, e->msg);
    else if (e->source[0])
        snprintf(out, cap, "%s: %s", e->source, e->msg);
    else
        snprintf(out, cap, "%s", e->msg);
}
