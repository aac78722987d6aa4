/* qerr.h - the caller's error struct. Library code never prints: it fills
 * a struct qerr (which may be NULL) and returns a negative int. Loaders set
 * source and line so `quench check` can say file:line:column. */
#ifndef QUENCH_QERR_H
#define QUENCH_QERR_H

struct qerr {
    char msg[512];      /* one readable sentence, no trailing newline */
    char source[256];   /* file name, JSON path or "" */
    int line;           /* 1-based, 0 when not applicable */
    int column;         /* 1-based, 0 when not applicable */
};

/* Fill E (no-op when E is NULL). SOURCE may be NULL. Always returns -1 so
 * callers can write `return qerr_set(err, ...);`. */
int qerr_set(struct qerr *e, const char *source, int line, int column,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Write "source:line:column: msg" (parts that are unset left out) into OUT. */
void qerr_format(const struct qerr *e, char *out, unsigned long cap);

#endif
